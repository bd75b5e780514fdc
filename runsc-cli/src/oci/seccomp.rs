//! config.json's `linux.seccomp` turned into the sentry's system call [`Policy`].
//!
//! Why not a host seccomp filter, as runc installs: the workload's calls never reach the host
//! kernel, the sentry answers them, so the sentry is where they are checked (see
//! `sentry/src/policy.rs`). This module does the part runc does before libseccomp: it reads
//! the profile, resolves names to x86_64 numbers and reports what is wrong with it by field.
//!
//! Choices, all following runc unless said otherwise:
//! - names unknown on x86_64 are skipped (Docker's profile lists other architectures' calls);
//! - the rules apply to x86_64 calls even when `architectures` leaves SCMP_ARCH_X86_64 out:
//!   libseccomp always filters the native architecture, and runc on x86_64 filters its calls
//!   with the rules whatever the list says (ignoring them instead would open a deny-list);
//! - a rule whose action is the default action is dropped (libseccomp refuses such rules);
//! - a rule with several conditions on one argument becomes one rule per condition, any of
//!   which may match (runc's workaround for libseccomp allowing one comparison per argument);
//!   conditions on distinct arguments must all hold;
//! - `errnoRet` (and `defaultErrnoRet`) counts only for SCMP_ACT_ERRNO; absent, it is EPERM;
//!   like the kernel, only its low 16 bits count, capped at 4095;
//! - SCMP_ACT_KILL is SCMP_ACT_KILL_THREAD;
//! - SCMP_ACT_TRACE fails the call with ENOSYS, as Linux does when no tracer is attached,
//!   and SCMP_ACT_NOTIFY does the same (the sandbox has no notification listener), with a
//!   warning when the profile is loaded.

use serde_json::{Map, Value};
use sentry::policy::{Action, Cond, Op, Policy, Rule};

const PATH: &str = "linux.seccomp";
const EPERM: u16 = 1;
const ENOSYS: u16 = 38;
/// The largest errno a filter can return (Linux's `MAX_ERRNO`).
const MAX_ERRNO: u64 = 4095;
/// The `flags` runc knows (`SECCOMP_FILTER_FLAG_*`); they tune the host filter, so here they
/// are checked and otherwise ignored.
const FLAGS: [&str; 4] =
    ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"];

/// Compiles the `linux.seccomp` object of config.json.
pub fn policy(seccomp: &Value) -> Result<Policy, String> {
    let obj = seccomp.as_object().ok_or_else(|| format!("{PATH}: expected an object"))?;
    let mut notes = Notes::default();
    let default_errno = optional_u64(obj, "defaultErrnoRet", PATH)?;
    let default_name = required_str(obj, "defaultAction", PATH)?;
    let default = action(default_name, default_errno, &format!("{PATH}.defaultAction"), &mut notes)?;
    check_architectures(obj)?;
    check_flags(obj)?;
    if obj.get("listenerPath").is_some_and(|v| !v.is_null()) {
        tracing::warn!("{PATH}.listenerPath: the sandbox has no seccomp notification listener; ignored");
    }
    let mut rules = Vec::new();
    for (i, entry) in optional_array(obj, "syscalls", PATH)?.iter().enumerate() {
        rules.extend(syscall_rules(entry, &format!("{PATH}.syscalls[{i}]"), default, &mut notes)?);
    }
    notes.report();
    Ok(Policy::new(default, rules))
}

/// Actions the sandbox cannot carry out as asked, warned about once per profile.
#[derive(Default)]
struct Notes {
    trace: bool,
    notify: bool,
}

impl Notes {
    fn report(&self) {
        if self.trace {
            tracing::warn!("{PATH}: SCMP_ACT_TRACE: no tracer in the sandbox; those calls fail with ENOSYS");
        }
        if self.notify {
            tracing::warn!("{PATH}: SCMP_ACT_NOTIFY: no notification listener in the sandbox; those calls fail with ENOSYS");
        }
    }
}

/// The rules of one `syscalls` entry (`at` names it in errors).
fn syscall_rules(entry: &Value, at: &str, default: Action, notes: &mut Notes) -> Result<Vec<Rule>, String> {
    let obj = entry.as_object().ok_or_else(|| format!("{at}: expected an object"))?;
    let names = names(obj, at)?;
    let errno = optional_u64(obj, "errnoRet", at)?;
    let act = action(required_str(obj, "action", at)?, errno, &format!("{at}.action"), notes)?;
    let conds = optional_array(obj, "args", at)?
        .iter()
        .enumerate()
        .map(|(i, arg)| condition(arg, &format!("{at}.args[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    if act == default {
        return Ok(Vec::new());
    }
    let alternatives = split_conditions(conds);
    let mut rules = Vec::new();
    for name in names {
        let Some(nr) = sentry::policy::syscall_number(name) else {
            tracing::debug!("{at}: no system call {name} on x86_64; skipped");
            continue;
        };
        rules.extend(alternatives.iter().map(|conds| Rule { nr, conds: conds.clone(), action: act }));
    }
    Ok(rules)
}

/// The condition sets a rule stands for: one set of all of them, or one set per condition
/// when some argument is compared more than once (see the module comment).
fn split_conditions(conds: Vec<(usize, Cond)>) -> Vec<Vec<Cond>> {
    let repeats = conds.iter().enumerate().any(|(i, (arg, _))| conds[..i].iter().any(|(a, _)| a == arg));
    if repeats {
        conds.into_iter().map(|(_, c)| vec![c]).collect()
    } else {
        vec![conds.into_iter().map(|(_, c)| c).collect()]
    }
}

fn names<'a>(obj: &'a Map<String, Value>, at: &str) -> Result<Vec<&'a str>, String> {
    let list = obj.get("names").filter(|v| !v.is_null()).ok_or_else(|| format!("{at}.names: missing"))?;
    let list = list.as_array().ok_or_else(|| format!("{at}.names: expected an array of strings"))?;
    if list.is_empty() {
        return Err(format!("{at}.names: empty"));
    }
    list.iter()
        .enumerate()
        .map(|(i, n)| n.as_str().filter(|n| !n.is_empty()).ok_or_else(|| format!("{at}.names[{i}]: expected a system call name")))
        .collect()
}

/// One `args` entry, with the argument index it compares.
fn condition(arg: &Value, at: &str) -> Result<(usize, Cond), String> {
    let obj = arg.as_object().ok_or_else(|| format!("{at}: expected an object"))?;
    let index = required_u64(obj, "index", at)?;
    let value = required_u64(obj, "value", at)?;
    let value_two = optional_u64(obj, "valueTwo", at)?.unwrap_or(0);
    let op = match required_str(obj, "op", at)? {
        "SCMP_CMP_EQ" => Op::Eq,
        "SCMP_CMP_NE" => Op::Ne,
        "SCMP_CMP_LT" => Op::Lt,
        "SCMP_CMP_LE" => Op::Le,
        "SCMP_CMP_GT" => Op::Gt,
        "SCMP_CMP_GE" => Op::Ge,
        "SCMP_CMP_MASKED_EQ" => Op::MaskedEq(value),
        other => return Err(format!("{at}.op: unknown operator {other}")),
    };
    // MASKED_EQ compares (arg & value) with valueTwo; the others compare arg with value.
    let compared = if matches!(op, Op::MaskedEq(_)) { value_two } else { value };
    let index = usize::try_from(index).unwrap_or(usize::MAX);
    let cond = Cond::new(index, op, compared).ok_or_else(|| format!("{at}.index: {index} is not an argument (0 to 5)"))?;
    Ok((index, cond))
}

/// An `SCMP_ACT_*` name as the sentry carries it out (see the module comment).
fn action(name: &str, errno_ret: Option<u64>, at: &str, notes: &mut Notes) -> Result<Action, String> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_ERRNO" => Action::Errno(errno_ret.map_or(EPERM, errno)),
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRACE" => {
            notes.trace = true;
            Action::Errno(ENOSYS)
        }
        "SCMP_ACT_NOTIFY" => {
            notes.notify = true;
            Action::Errno(ENOSYS)
        }
        other => return Err(format!("{at}: unknown action {other}")),
    })
}

/// The errno a filter returns for `errnoRet`: its low 16 bits, at most `MAX_ERRNO`.
fn errno(ret: u64) -> u16 {
    u16::try_from((ret & 0xffff).min(MAX_ERRNO)).unwrap_or(u16::MAX)
}

fn check_architectures(obj: &Map<String, Value>) -> Result<(), String> {
    let at = format!("{PATH}.architectures");
    let list = optional_array(obj, "architectures", PATH)?;
    for (i, arch) in list.iter().enumerate() {
        if !arch.as_str().is_some_and(|a| a.starts_with("SCMP_ARCH_")) {
            return Err(format!("{at}[{i}]: expected an SCMP_ARCH_* name, found {arch}"));
        }
    }
    if !list.is_empty() && !list.iter().any(|a| a == "SCMP_ARCH_X86_64") {
        tracing::warn!("{at} lacks SCMP_ARCH_X86_64: the rules apply to the workload's x86_64 calls all the same, as runc applies them to the native architecture");
    }
    Ok(())
}

fn check_flags(obj: &Map<String, Value>) -> Result<(), String> {
    for (i, flag) in optional_array(obj, "flags", PATH)?.iter().enumerate() {
        if !flag.as_str().is_some_and(|f| FLAGS.contains(&f)) {
            return Err(format!("{PATH}.flags[{i}]: unknown flag {flag}"));
        }
    }
    Ok(())
}

fn required_str<'a>(obj: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a str, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(format!("{at}.{key}: missing")),
        Some(v) => v.as_str().ok_or_else(|| format!("{at}.{key}: expected a string, found {v}")),
    }
}

fn required_u64(obj: &Map<String, Value>, key: &str, at: &str) -> Result<u64, String> {
    optional_u64(obj, key, at)?.ok_or_else(|| format!("{at}.{key}: missing"))
}

fn optional_u64(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Option<u64>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| format!("{at}.{key}: expected an unsigned integer, found {v}")),
    }
}

/// An array member; absent or null is empty.
fn optional_array<'a>(obj: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a [Value], String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(v) => v.as_array().map(Vec::as_slice).ok_or_else(|| format!("{at}.{key}: expected an array")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    fn check(p: &Policy, name: &str, args: [u64; 6]) -> Action {
        p.check(u64::from(sentry::policy::syscall_number(name).unwrap()), &args)
    }

    fn args0(a0: u64) -> [u64; 6] {
        [a0, 0, 0, 0, 0, 0]
    }

    /// An excerpt in the shape of Docker's default profile, as dockerd hands it to the runtime.
    fn docker_like() -> Value {
        json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                { "names": ["accept", "getpid", "read", "write", "rt_sigreturn", "restart_syscall", "arm_fadvise64_64", "_llseek"],
                  "action": "SCMP_ACT_ALLOW" },
                { "names": ["personality"], "action": "SCMP_ACT_ALLOW",
                  "args": [{ "index": 0, "value": 0, "valueTwo": 0, "op": "SCMP_CMP_EQ" }] },
                { "names": ["personality"], "action": "SCMP_ACT_ALLOW",
                  "args": [{ "index": 0, "value": 8, "op": "SCMP_CMP_EQ" }] },
                { "names": ["personality"], "action": "SCMP_ACT_ALLOW",
                  "args": [{ "index": 0, "value": 4294967295u64, "valueTwo": 0, "op": "SCMP_CMP_EQ" }] },
                { "names": ["clone"], "action": "SCMP_ACT_ALLOW",
                  "args": [{ "index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" }],
                  "comment": "s390 parameter ordering for clone is different", "includes": {}, "excludes": { "caps": ["CAP_SYS_ADMIN"] } },
                { "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 },
                { "names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1 }
            ]
        })
    }

    #[test]
    fn docker_like_profile_compiles() {
        let p = policy(&docker_like()).unwrap();
        assert_eq!(p.default_action(), Action::Errno(1));
        for call in ["accept", "getpid", "read", "write", "rt_sigreturn", "restart_syscall"] {
            assert_eq!(check(&p, call, [0; 6]), Action::Allow, "{call}");
        }
        assert_eq!(check(&p, "mkdir", [0; 6]), Action::Errno(1));
        assert_eq!(check(&p, "personality", args0(8)), Action::Allow);
        assert_eq!(check(&p, "personality", args0(0xffff_ffff)), Action::Allow);
        assert_eq!(check(&p, "personality", args0(1)), Action::Errno(1));
        let sigchld = 17;
        assert_eq!(check(&p, "clone", args0(sigchld)), Action::Allow);
        assert_eq!(check(&p, "clone", args0(sigchld | 0x1000_0000)), Action::Errno(1), "CLONE_NEWUSER");
        assert_eq!(check(&p, "clone3", [0; 6]), Action::Errno(38));
    }

    #[test]
    fn rules_with_the_default_action_are_dropped() {
        // socket's rule says what the default says; it must not shadow the later ALLOW.
        let p = policy(&json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                { "names": ["socket"], "action": "SCMP_ACT_ERRNO", "args": [{ "index": 0, "value": 40, "op": "SCMP_CMP_EQ" }] },
                { "names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{ "index": 0, "value": 0, "op": "SCMP_CMP_GE" }] }
            ]
        }))
        .unwrap();
        assert_eq!(check(&p, "socket", args0(40)), Action::Allow);
    }

    #[test]
    fn allow_default_with_refusals() {
        let p = policy(&json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1 },
                { "names": ["uname"], "action": "SCMP_ACT_KILL_PROCESS" },
                { "names": ["getppid"], "action": "SCMP_ACT_KILL" },
                { "names": ["gettid"], "action": "SCMP_ACT_TRAP" },
                { "names": ["sync"], "action": "SCMP_ACT_LOG" },
                { "names": ["chdir"], "action": "SCMP_ACT_ERRNO" },
                { "names": ["fchdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000 },
                { "names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 5 },
                { "names": ["kill"], "action": "SCMP_ACT_NOTIFY" }
            ]
        }))
        .unwrap();
        assert_eq!(check(&p, "mkdir", [0; 6]), Action::Errno(1));
        assert_eq!(check(&p, "mkdirat", [0; 6]), Action::Errno(1));
        assert_eq!(check(&p, "uname", [0; 6]), Action::KillProcess);
        assert_eq!(check(&p, "getppid", [0; 6]), Action::KillThread);
        assert_eq!(check(&p, "gettid", [0; 6]), Action::Trap);
        assert_eq!(check(&p, "sync", [0; 6]), Action::Log);
        assert_eq!(check(&p, "chdir", [0; 6]), Action::Errno(1), "EPERM when errnoRet is absent");
        assert_eq!(check(&p, "fchdir", [0; 6]), Action::Errno(4095), "70000 & 0xffff, capped");
        assert_eq!(check(&p, "ptrace", [0; 6]), Action::Errno(38));
        assert_eq!(check(&p, "kill", [0; 6]), Action::Errno(38));
        assert_eq!(check(&p, "getpid", [0; 6]), Action::Allow);
    }

    #[test]
    fn conditions_on_one_argument_split_like_runc() {
        let p = policy(&json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{ "names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [
                { "index": 1, "value": 9, "op": "SCMP_CMP_EQ" },
                { "index": 1, "value": 15, "op": "SCMP_CMP_EQ" }
            ]}]
        }))
        .unwrap();
        assert_eq!(check(&p, "kill", [1, 9, 0, 0, 0, 0]), Action::Errno(1));
        assert_eq!(check(&p, "kill", [1, 15, 0, 0, 0, 0]), Action::Errno(1));
        assert_eq!(check(&p, "kill", [1, 2, 0, 0, 0, 0]), Action::Allow);
        // On distinct arguments, both must hold.
        let p = policy(&json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{ "names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [
                { "index": 0, "value": 1, "op": "SCMP_CMP_EQ" },
                { "index": 1, "value": 9, "op": "SCMP_CMP_EQ" }
            ]}]
        }))
        .unwrap();
        assert_eq!(check(&p, "kill", [1, 9, 0, 0, 0, 0]), Action::Errno(1));
        assert_eq!(check(&p, "kill", [2, 9, 0, 0, 0, 0]), Action::Allow);
        assert_eq!(check(&p, "kill", [1, 15, 0, 0, 0, 0]), Action::Allow);
    }

    #[test]
    fn architectures_without_x86_64_still_filter() {
        let p = policy(&json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO" }]
        }))
        .unwrap();
        assert_eq!(check(&p, "mkdir", [0; 6]), Action::Errno(1));
    }

    #[test]
    fn nulls_and_missing_lists_are_empty() {
        let p = policy(&json!({ "defaultAction": "SCMP_ACT_KILL_PROCESS", "architectures": null, "syscalls": null, "flags": null })).unwrap();
        assert_eq!(check(&p, "getpid", [0; 6]), Action::KillProcess);
        let p = policy(&json!({ "defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{ "names": ["getpid"], "action": "SCMP_ACT_ALLOW", "args": null }] })).unwrap();
        assert_eq!(check(&p, "getpid", [0; 6]), Action::Allow);
    }

    #[test]
    fn invalid_profiles_name_the_field() {
        let err = |v: Value| policy(&v).err().expect("refused");
        let rule = |r: Value| json!({ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{ "names": ["read"], "action": "SCMP_ACT_ERRNO" }, {}, {}, r] });
        assert_eq!(err(json!([])), "linux.seccomp: expected an object");
        assert_eq!(err(json!({ "syscalls": [] })), "linux.seccomp.defaultAction: missing");
        assert_eq!(err(json!({ "defaultAction": 3 })), "linux.seccomp.defaultAction: expected a string, found 3");
        assert_eq!(err(json!({ "defaultAction": "SCMP_ACT_NOPE" })), "linux.seccomp.defaultAction: unknown action SCMP_ACT_NOPE");
        assert_eq!(err(json!({ "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1 })), "linux.seccomp.defaultErrnoRet: expected an unsigned integer, found -1");
        assert_eq!(err(json!({ "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["x86_64"] })), "linux.seccomp.architectures[0]: expected an SCMP_ARCH_* name, found \"x86_64\"");
        assert_eq!(err(json!({ "defaultAction": "SCMP_ACT_ALLOW", "flags": ["FLAG_X"] })), "linux.seccomp.flags[0]: unknown flag \"FLAG_X\"");
        assert_eq!(err(json!({ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": {} })), "linux.seccomp.syscalls: expected an array");
        // The entry at index 1 is checked before index 3: fill it in.
        let at3 = |r: Value| {
            let mut v = rule(r);
            for i in 1..3 {
                v["syscalls"][i] = json!({ "names": ["read"], "action": "SCMP_ACT_ALLOW" });
            }
            err(v)
        };
        assert_eq!(at3(json!({ "names": ["read"], "action": "SCMP_ACT_FOO" })), "linux.seccomp.syscalls[3].action: unknown action SCMP_ACT_FOO");
        assert_eq!(at3(json!({ "names": ["read"] })), "linux.seccomp.syscalls[3].action: missing");
        assert_eq!(at3(json!({ "action": "SCMP_ACT_ERRNO" })), "linux.seccomp.syscalls[3].names: missing");
        assert_eq!(at3(json!({ "names": [], "action": "SCMP_ACT_ERRNO" })), "linux.seccomp.syscalls[3].names: empty");
        assert_eq!(at3(json!({ "names": ["read", 7], "action": "SCMP_ACT_ERRNO" })), "linux.seccomp.syscalls[3].names[1]: expected a system call name");
        assert_eq!(at3(json!(5)), "linux.seccomp.syscalls[3]: expected an object");
        let with_arg = |a: Value| at3(json!({ "names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{ "index": 0, "value": 1, "op": "SCMP_CMP_EQ" }, a] }));
        assert_eq!(with_arg(json!({ "index": 6, "value": 1, "op": "SCMP_CMP_EQ" })), "linux.seccomp.syscalls[3].args[1].index: 6 is not an argument (0 to 5)");
        assert_eq!(with_arg(json!({ "value": 1, "op": "SCMP_CMP_EQ" })), "linux.seccomp.syscalls[3].args[1].index: missing");
        assert_eq!(with_arg(json!({ "index": 1, "op": "SCMP_CMP_EQ" })), "linux.seccomp.syscalls[3].args[1].value: missing");
        assert_eq!(with_arg(json!({ "index": 1, "value": 1 })), "linux.seccomp.syscalls[3].args[1].op: missing");
        assert_eq!(with_arg(json!({ "index": 1, "value": 1, "op": "SCMP_CMP_SOMETIMES" })), "linux.seccomp.syscalls[3].args[1].op: unknown operator SCMP_CMP_SOMETIMES");
        assert_eq!(with_arg(json!({ "index": 1, "value": 1, "valueTwo": "x", "op": "SCMP_CMP_MASKED_EQ" })), "linux.seccomp.syscalls[3].args[1].valueTwo: expected an unsigned integer, found \"x\"");
    }

    #[test]
    fn unknown_names_are_skipped() {
        let p = policy(&json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{ "names": ["socketcall", "no_such_call", "mkdir"], "action": "SCMP_ACT_ERRNO" }]
        }))
        .unwrap();
        assert_eq!(check(&p, "mkdir", [0; 6]), Action::Errno(1));
    }
}
