//! The container's system call policy: the OCI `linux.seccomp` profile, enforced by the sentry.
//!
//! Why here and not in the host kernel: the workload's system calls never reach the host; the
//! ptrace platform stops them and [`crate::syscalls::dispatch`] answers them. A host seccomp
//! filter would only ever see the sentry's own calls. So `dispatch` asks the [`Policy`] about
//! every call the workload makes before running its handler, and the sentry's own work
//! (memory, files, the platform) is never checked.
//!
//! The profile is compiled once into a table indexed by system call number, so that a call
//! whose fate does not depend on its arguments costs one load; without a profile the cost is
//! one branch in `dispatch`. Calls beyond the table (x32 numbers, garbage) get the default
//! action, as an unknown number gets it from a real filter.
//!
//! Matching, where the OCI specification leaves it open (the runtime converting the profile,
//! `runsc-cli/src/oci/seccomp.rs`, follows runc for what happens before this point):
//! - a call matches a rule when every one of the rule's conditions holds;
//! - a rule without conditions settles its system call: the first such rule applies to every
//!   call of it and the conditional rules for it are ignored, which is what libseccomp's rule
//!   database does when an unconditional rule meets conditional ones, in either order;
//! - conditional rules are otherwise tried in profile order and the first that matches
//!   applies (libseccomp promises no order between conflicting conditional rules; the
//!   runtime-spec's discussion of the question settled on "first entry wins");
//! - no rule matches: the default action.

use std::sync::atomic::{AtomicBool, Ordering};

use syscall_tables::TABLE_SIZE;

use crate::kernel::process::ExitStatus;
use crate::kernel::signal::SigInfo;
use crate::kernel::task::Task;

/// What happens to a call (the OCI `SCMP_ACT_*` actions, as the sentry can carry them out:
/// without a tracer or a notification listener, `TRACE` and `NOTIFY` become [`Action::Errno`]
/// with `ENOSYS` in the runtime's conversion).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The call runs.
    Allow,
    /// The call runs; its name is logged the first time.
    Log,
    /// The call does not run and returns `-errno` (0 returns 0, as on Linux).
    Errno(u16),
    /// The call does not run; the thread gets `SIGSYS` (`si_code` `SYS_SECCOMP`).
    Trap,
    /// The thread dies (the process, of `SIGSYS`, if it was its last thread).
    KillThread,
    /// The whole process dies of `SIGSYS`.
    KillProcess,
}

/// How an argument register is compared with a rule's value; all comparisons are unsigned and
/// on the full 64-bit register, as a seccomp filter built by libseccomp does on x86_64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `(arg & mask) == value`.
    MaskedEq(u64),
}

/// One condition on one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cond {
    arg: usize,
    op: Op,
    value: u64,
}

impl Cond {
    /// A condition on argument `arg` (0 to 5); None for a higher index.
    pub fn new(arg: usize, op: Op, value: u64) -> Option<Cond> {
        (arg < 6).then_some(Cond { arg, op, value })
    }

    fn holds(&self, args: &[u64; 6]) -> bool {
        let a = args[self.arg];
        match self.op {
            Op::Eq => a == self.value,
            Op::Ne => a != self.value,
            Op::Lt => a < self.value,
            Op::Le => a <= self.value,
            Op::Gt => a > self.value,
            Op::Ge => a >= self.value,
            Op::MaskedEq(mask) => a & mask == self.value,
        }
    }
}

/// One rule of a profile, for one system call number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub nr: u32,
    /// All must hold (none: the rule applies to every call).
    pub conds: Vec<Cond>,
    pub action: Action,
}

/// What the table says about one system call number.
enum Slot {
    /// The same action whatever the arguments.
    Fixed(Action),
    /// Conditional rules, tried in order, then `otherwise`.
    Conditional { rules: Box<[(Box<[Cond]>, Action)]>, otherwise: Action },
}

/// A compiled profile, shared by every task of the sandbox.
pub struct Policy {
    slots: Box<[Slot]>,
    default: Action,
    /// Calls already logged by [`Action::Log`], by number (the last slot for numbers beyond).
    logged: Box<[AtomicBool]>,
}

impl Policy {
    /// Compiles `rules` (in profile order) over `default`. Rules for numbers beyond the
    /// system call table are dropped: no call can have them.
    pub fn new(default: Action, rules: Vec<Rule>) -> Policy {
        let mut per_nr: Vec<Vec<Rule>> = vec![Vec::new(); TABLE_SIZE];
        for rule in rules {
            if let Some(list) = usize::try_from(rule.nr).ok().and_then(|n| per_nr.get_mut(n)) {
                list.push(rule);
            }
        }
        let slots = per_nr.into_iter().map(|rules| compile_slot(default, rules)).collect();
        let logged = (0..=TABLE_SIZE).map(|_| AtomicBool::new(false)).collect();
        Policy { slots, default, logged }
    }

    /// The action for call `nr` with argument registers `args`.
    #[inline]
    pub fn check(&self, nr: u64, args: &[u64; 6]) -> Action {
        let slot = usize::try_from(nr).ok().and_then(|n| self.slots.get(n));
        match slot {
            Some(Slot::Fixed(action)) => *action,
            Some(Slot::Conditional { rules, otherwise }) => {
                rules.iter().find(|(conds, _)| conds.iter().all(|c| c.holds(args))).map_or(*otherwise, |(_, a)| *a)
            }
            None => self.default,
        }
    }

    /// The action for calls no rule matches.
    pub fn default_action(&self) -> Action {
        self.default
    }

    /// Whether this is the first [`Action::Log`] of call `nr` (later ones are not logged).
    fn first_log(&self, nr: u64) -> bool {
        let slot = usize::try_from(nr).unwrap_or(TABLE_SIZE).min(TABLE_SIZE);
        !self.logged[slot].swap(true, Ordering::Relaxed)
    }
}

/// One number's rules, in profile order, as a table slot (see the module comment).
fn compile_slot(default: Action, rules: Vec<Rule>) -> Slot {
    if let Some(plain) = rules.iter().find(|r| r.conds.is_empty()) {
        return Slot::Fixed(plain.action);
    }
    if rules.is_empty() {
        return Slot::Fixed(default);
    }
    let rules = rules.into_iter().map(|r| (r.conds.into_boxed_slice(), r.action)).collect();
    Slot::Conditional { rules, otherwise: default }
}

/// `si_code` of a `SIGSYS` sent by a seccomp filter.
const SYS_SECCOMP: i32 = 1;
/// `si_arch` for x86_64 calls (`AUDIT_ARCH_X86_64`).
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// Applies the kernel's policy to the call `t` stopped at. Returns true when the call was
/// settled here (refused, trapped, or its thread killed) and must not run; false when it runs.
/// Called by `dispatch` only when the kernel has a policy.
pub fn refuse(t: &mut Task) -> bool {
    let Some(policy) = t.kernel.policy.as_deref() else { return false };
    let r = &t.cpu.regs;
    let nr = r.orig_rax;
    let action = policy.check(nr, &[r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9]);
    match action {
        Action::Allow => return false,
        Action::Log => {
            if policy.first_log(nr) {
                tracing::info!(pid = t.process.pid, "seccomp: logged system call {}", call_name(nr));
            }
            return false;
        }
        Action::Errno(errno) => t.cpu.regs.rax = (-i64::from(errno)).cast_unsigned(),
        Action::Trap => trap(t, nr),
        Action::KillThread => {
            tracing::info!(pid = t.process.pid, tid = t.tid, "seccomp: system call {} kills the thread (SIGSYS)", call_name(nr));
            // A lone thread's status becomes its process's: killed by SIGSYS, as on Linux.
            t.exiting = Some(ExitStatus::Signaled(libc::SIGSYS));
        }
        Action::KillProcess => {
            tracing::info!(pid = t.process.pid, "seccomp: system call {} kills the process (SIGSYS)", call_name(nr));
            t.process.exit_group(ExitStatus::Signaled(libc::SIGSYS));
        }
    }
    if t.kernel.strace {
        let ret = match action {
            Action::Errno(0) => "0".to_string(),
            Action::Errno(e) => format!("-1 errno {e}"),
            _ => "?".to_string(),
        };
        eprintln!("[{:>4}] {}(...) = {ret} (seccomp: {action:?})", t.tid, call_name(nr));
    }
    true
}

/// `SCMP_ACT_TRAP`: a forced `SIGSYS` to the thread. Like Linux's forced signals, a blocked,
/// ignored or default-handled `SIGSYS` kills the process (the first process included); only
/// a handler gets it. `rax` holds the call number again, as Linux leaves it for the handler.
fn trap(t: &mut Task, nr: u64) {
    let info = sigsys_info(nr, t.cpu.regs.rip);
    t.cpu.regs.rax = nr;
    let handler = t.process.action(libc::SIGSYS).handler;
    if t.thread.blocks(libc::SIGSYS) || handler == libc::SIG_DFL as u64 || handler == libc::SIG_IGN as u64 {
        tracing::info!(pid = t.process.pid, "seccomp: system call {} traps, unhandled: the process dies (SIGSYS)", call_name(nr));
        t.process.exit_group(ExitStatus::Signaled(libc::SIGSYS));
        return;
    }
    t.thread.signals.lock().unwrap().pending.push(info);
}

/// The `siginfo_t` of a seccomp `SIGSYS`. Its `_sigsys` fields (`call_addr` at offset 16,
/// `syscall` at 24, `arch` at 28) overlay the ones [`SigInfo::to_bytes`] writes for other
/// signals: `pid` and `uid` carry the low and high halves of the call address, `value` the
/// number in its low half and the architecture in its high half.
fn sigsys_info(nr: u64, call_addr: u64) -> SigInfo {
    let low = u32::try_from(call_addr & 0xffff_ffff).unwrap_or_default();
    let high = u32::try_from(call_addr >> 32).unwrap_or_default();
    let value = (nr & 0xffff_ffff) | (u64::from(AUDIT_ARCH_X86_64) << 32);
    SigInfo { signo: libc::SIGSYS, code: SYS_SECCOMP, pid: low.cast_signed(), uid: high, value, ..SigInfo::default() }
}

/// The x86_64 number of the system call `name`, for building rules from a profile.
pub fn syscall_number(name: &str) -> Option<u32> {
    syscall_tables::by_name(name).map(|s| s.nr)
}

fn call_name(nr: u64) -> String {
    syscall_tables::by_nr(nr).map_or_else(|| format!("#{nr}"), |s| s.name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use syscall_tables::nr;

    const EPERM: u16 = 1;

    fn cond(arg: usize, op: Op, value: u64) -> Cond {
        Cond::new(arg, op, value).unwrap()
    }

    fn rule(nr: u32, conds: Vec<Cond>, action: Action) -> Rule {
        Rule { nr, conds, action }
    }

    fn args0(a0: u64) -> [u64; 6] {
        [a0, 0, 0, 0, 0, 0]
    }

    #[test]
    fn unlisted_calls_get_the_default_action() {
        let p = Policy::new(Action::Errno(EPERM), vec![rule(nr::GETPID, vec![], Action::Allow)]);
        assert_eq!(p.check(nr::GETPID.into(), &[0; 6]), Action::Allow);
        assert_eq!(p.check(nr::MKDIR.into(), &[0; 6]), Action::Errno(EPERM));
        assert_eq!(p.default_action(), Action::Errno(EPERM));
    }

    #[test]
    fn numbers_beyond_the_table_get_the_default_action() {
        let p = Policy::new(Action::KillProcess, vec![]);
        assert_eq!(p.check(TABLE_SIZE as u64, &[0; 6]), Action::KillProcess);
        assert_eq!(p.check(0x4000_0000 | 39, &[0; 6]), Action::KillProcess);
        assert_eq!(p.check(u64::MAX, &[0; 6]), Action::KillProcess);
        let dropped = Policy::new(Action::Allow, vec![rule(100_000, vec![], Action::KillProcess)]);
        assert_eq!(dropped.check(100_000, &[0; 6]), Action::Allow);
    }

    #[test]
    fn errno_values_are_kept() {
        let p = Policy::new(Action::Allow, vec![rule(nr::MKDIR, vec![], Action::Errno(13)), rule(nr::UNAME, vec![], Action::Errno(0))]);
        assert_eq!(p.check(nr::MKDIR.into(), &[0; 6]), Action::Errno(13));
        assert_eq!(p.check(nr::UNAME.into(), &[0; 6]), Action::Errno(0));
    }

    #[test]
    fn comparisons_are_unsigned_on_64_bits() {
        let cases = [
            (Op::Eq, 5, 5, true),
            (Op::Eq, 5, 6, false),
            (Op::Ne, 5, 6, true),
            (Op::Ne, 5, 5, false),
            (Op::Lt, 4, 5, true),
            (Op::Lt, 5, 5, false),
            (Op::Le, 5, 5, true),
            (Op::Le, 6, 5, false),
            (Op::Gt, 6, 5, true),
            (Op::Gt, 5, 5, false),
            (Op::Ge, 5, 5, true),
            (Op::Ge, 4, 5, false),
            // -1 is the largest value, not the smallest.
            (Op::Gt, u64::MAX, 5, true),
            (Op::Lt, u64::MAX, 5, false),
            // An `int` -1 passed zero-extended is not the 64-bit -1.
            (Op::Eq, 0xffff_ffff, u64::MAX, false),
            (Op::Eq, 1 << 32, 0, false),
        ];
        for (op, arg, value, want) in cases {
            assert_eq!(cond(0, op, value).holds(&args0(arg)), want, "{arg:#x} {op:?} {value:#x}");
        }
    }

    #[test]
    fn masked_eq_compares_the_masked_bits() {
        // Docker's clone rule: allowed when no namespace flag is set.
        let ns_flags = 0x7e02_0000;
        let p = Policy::new(Action::Errno(EPERM), vec![rule(nr::CLONE, vec![cond(0, Op::MaskedEq(ns_flags), 0)], Action::Allow)]);
        let sigchld = 17;
        assert_eq!(p.check(nr::CLONE.into(), &args0(sigchld)), Action::Allow);
        assert_eq!(p.check(nr::CLONE.into(), &args0(sigchld | 0x2000_0000)), Action::Errno(EPERM));
        assert!(cond(0, Op::MaskedEq(0xf0), 0x30).holds(&args0(0x1234_5637)));
        assert!(!cond(0, Op::MaskedEq(0xf0), 0x30).holds(&args0(0x1234_5647)));
    }

    #[test]
    fn conditions_of_a_rule_all_hold_and_look_at_their_own_argument() {
        let both = vec![cond(1, Op::Eq, 7), cond(4, Op::Ge, 100)];
        let p = Policy::new(Action::Errno(EPERM), vec![rule(nr::SOCKET, both, Action::Allow)]);
        let call = |a1, a4| p.check(nr::SOCKET.into(), &[0, a1, 0, 0, a4, 0]);
        assert_eq!(call(7, 100), Action::Allow);
        assert_eq!(call(7, 99), Action::Errno(EPERM));
        assert_eq!(call(8, 100), Action::Errno(EPERM));
        // Two conditions on one argument: both must hold.
        let range = vec![cond(0, Op::Ge, 10), cond(0, Op::Le, 20)];
        let p = Policy::new(Action::KillThread, vec![rule(nr::PERSONALITY, range, Action::Allow)]);
        assert_eq!(p.check(nr::PERSONALITY.into(), &args0(15)), Action::Allow);
        assert_eq!(p.check(nr::PERSONALITY.into(), &args0(21)), Action::KillThread);
    }

    #[test]
    fn several_rules_for_one_call_any_may_match() {
        // Docker's personality rules: a few values allowed, the rest refused by default.
        let values = [0, 8, 0x20000, 0x20008, 0xffff_ffff];
        let rules = values.iter().map(|&v| rule(nr::PERSONALITY, vec![cond(0, Op::Eq, v)], Action::Allow)).collect();
        let p = Policy::new(Action::Errno(EPERM), rules);
        for v in values {
            assert_eq!(p.check(nr::PERSONALITY.into(), &args0(v)), Action::Allow, "{v:#x}");
        }
        assert_eq!(p.check(nr::PERSONALITY.into(), &args0(1)), Action::Errno(EPERM));
    }

    #[test]
    fn first_matching_conditional_rule_wins() {
        let rules = vec![
            rule(nr::KILL, vec![cond(1, Op::Eq, 9)], Action::Errno(1)),
            rule(nr::KILL, vec![cond(0, Op::Eq, 1)], Action::Errno(2)),
        ];
        let p = Policy::new(Action::Allow, rules);
        assert_eq!(p.check(nr::KILL.into(), &[1, 9, 0, 0, 0, 0]), Action::Errno(1));
        assert_eq!(p.check(nr::KILL.into(), &[1, 15, 0, 0, 0, 0]), Action::Errno(2));
        assert_eq!(p.check(nr::KILL.into(), &[2, 15, 0, 0, 0, 0]), Action::Allow);
    }

    #[test]
    fn an_unconditional_rule_settles_its_call_in_either_order() {
        for plain_first in [true, false] {
            let plain = rule(nr::IOCTL, vec![], Action::Errno(25));
            let conditional = rule(nr::IOCTL, vec![cond(1, Op::Eq, 0x5401)], Action::Allow);
            let rules = if plain_first { vec![plain, conditional] } else { vec![conditional, plain] };
            let p = Policy::new(Action::KillProcess, rules);
            assert_eq!(p.check(nr::IOCTL.into(), &[0, 0x5401, 0, 0, 0, 0]), Action::Errno(25));
            assert_eq!(p.check(nr::IOCTL.into(), &[0, 0x5402, 0, 0, 0, 0]), Action::Errno(25));
        }
        let twice = vec![rule(nr::UNAME, vec![], Action::Trap), rule(nr::UNAME, vec![], Action::Allow)];
        assert_eq!(Policy::new(Action::Allow, twice).check(nr::UNAME.into(), &[0; 6]), Action::Trap);
    }

    #[test]
    fn conditions_on_missing_arguments_are_refused() {
        assert!(Cond::new(6, Op::Eq, 0).is_none());
        assert!(Cond::new(5, Op::Eq, 0).is_some());
    }

    #[test]
    fn log_reports_each_call_once() {
        let p = Policy::new(Action::Log, vec![]);
        assert!(p.first_log(nr::GETPID.into()));
        assert!(!p.first_log(nr::GETPID.into()));
        assert!(p.first_log(nr::GETPPID.into()));
        assert!(p.first_log(u64::MAX));
        assert!(!p.first_log(u64::MAX - 1));
    }

    #[test]
    fn sigsys_info_lays_out_sigsys_fields() {
        let b = sigsys_info(u64::from(nr::UNAME), 0x7fff_1234_5678).to_bytes();
        let word = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        assert_eq!(word(0).cast_signed(), libc::SIGSYS);
        assert_eq!(word(8).cast_signed(), SYS_SECCOMP);
        assert_eq!(u64::from_le_bytes(b[16..24].try_into().unwrap()), 0x7fff_1234_5678);
        assert_eq!(word(24), nr::UNAME);
        assert_eq!(word(28), AUDIT_ARCH_X86_64);
    }
}
