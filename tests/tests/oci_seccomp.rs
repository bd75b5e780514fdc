//! config.json's `linux.seccomp` profile, end to end: the container is created and started
//! with the runtime commands an engine uses, and the sentry refuses, traps or kills the
//! workload's calls as the profile says (the host kernel never sees those calls).
//!
//! Each test has its own state root and bundle (a busybox rootfs) and force-deletes its
//! container when it ends, passing or not.

use std::fs;
use std::process::Command;

use sandbox_tests::oci::{Fixture, TIMEOUT};
use sandbox_tests::{run_with_timeout, sandbox_bin};

/// A fixture whose container runs `sh -c script` under the `seccomp` profile (JSON text).
fn fixture(script: &str, seccomp: &str) -> Fixture {
    let f = Fixture::new("oci-seccomp");
    f.set_args(&["sh", "-c", script]);
    let profile: serde_json::Value = serde_json::from_str(seccomp).unwrap_or_else(|e| panic!("profile: {e}: {seccomp}"));
    f.edit_config(|c| c["linux"]["seccomp"] = profile);
    f
}

#[test]
fn rules_refuse_trap_and_kill_calls_of_an_allowing_profile() {
    // busybox sh calls uname as it starts, so the kills aim at calls only the commands make;
    // each runs in a child shell (`sh -c`), since busybox may run an applet in the shell itself.
    let profile = r#"{
      "defaultAction": "SCMP_ACT_ALLOW",
      "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
      "syscalls": [
        { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1 },
        { "names": ["sync"], "action": "SCMP_ACT_KILL_PROCESS" },
        { "names": ["chdir"], "action": "SCMP_ACT_KILL" },
        { "names": ["sethostname"], "action": "SCMP_ACT_TRAP" }
      ]
    }"#;
    let script = "echo before; mkdir /tmp/x; echo mkdir=$?; [ -d /tmp/x ] && echo made || echo absent; \
                  sh -c sync; echo sync=$?; sh -c 'cd /tmp; echo moved'; echo cd=$?; \
                  sh -c 'hostname other'; echo hostname=$?; echo after";
    let f = fixture(script, profile);
    let out = f.run("rules");
    assert!(out.starts_with("before\n"), "{out}");
    assert!(out.contains("Operation not permitted"), "mkdir fails with EPERM: {out}");
    assert!(out.contains("mkdir=1\nabsent\n"), "{out}");
    assert!(out.contains("sync=159\n"), "KILL_PROCESS: death by SIGSYS (128 + 31): {out}");
    assert!(out.contains("cd=159\n") && !out.contains("moved"), "KILL of a lone thread: its process dies of SIGSYS: {out}");
    assert!(out.contains("hostname=159\n"), "an unhandled TRAP kills with SIGSYS: {out}");
    assert!(out.ends_with("after\n"), "{out}");
}

#[test]
fn refusing_default_with_an_allow_list() {
    // Every call the sentry knows is allowed by name except mkdir and mkdirat, which get the
    // default action: a profile the size of Docker's, with the default doing the refusing.
    let list = run_with_timeout(Command::new(sandbox_bin()).arg("syscalls"), TIMEOUT).unwrap();
    assert_eq!(list.code(), Some(0), "{}", list.describe());
    let names: Vec<String> = list
        .stdout_str()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .filter(|n| n != "mkdir" && n != "mkdirat")
        .map(|n| format!("{n:?}"))
        .collect();
    assert!(names.len() > 300, "{}", list.describe());
    let profile = format!(
        r#"{{ "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 13,
             "syscalls": [ {{ "names": [{}], "action": "SCMP_ACT_ALLOW" }} ] }}"#,
        names.join(", ")
    );
    let f = fixture("echo hello; mkdir /tmp/y || echo refused; ls -d /tmp", &profile);
    let out = f.run("deny");
    assert!(out.starts_with("hello\n"), "{out}");
    assert!(out.contains("Permission denied\nrefused\n"), "mkdir gets defaultErrnoRet 13 (EACCES): {out}");
    assert!(out.ends_with("/tmp\n"), "{out}");
}

#[test]
fn an_invalid_profile_fails_create_naming_the_field() {
    let profile = r#"{ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [ { "names": ["mkdir"], "action": "SCMP_ACT_FOO" } ] }"#;
    let f = fixture("echo never", profile);
    let (out, output) = f.create("invalid", &[]);
    let text = fs::read_to_string(output).unwrap();
    assert_ne!(out.code(), Some(0), "{text}");
    assert!(text.contains("linux.seccomp.syscalls[0].action: unknown action SCMP_ACT_FOO"), "{text}");
    assert!(!text.contains("never"), "{text}");
}

/// Traps one call into a `SIGSYS` handler that emulates it, and kills one thread of two.
const TRAP_PROGRAM: &str = r#"
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static volatile int code, nr, rax;
static volatile unsigned arch;
static void *volatile addr;

static void on_sigsys(int sig, siginfo_t *si, void *context)
{
	ucontext_t *uc = context;
	(void)sig;
	code = si->si_code;
	nr = si->si_syscall;
	arch = si->si_arch;
	addr = si->si_call_addr;
	rax = (int)uc->uc_mcontext.gregs[REG_RAX];
	uc->uc_mcontext.gregs[REG_RAX] = 42;
}

static void *doomed(void *arg)
{
	(void)arg;
	syscall(SYS_sync);
	printf("thread survived\n");
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSYS, &sa, NULL);
	long r = syscall(SYS_sethostname, "x", 1);
	printf("ret=%ld code=%d nr=%d arch=%#x rax=%d addr=%s\n", r, code, nr, arch, rax, addr ? "set" : "null");
	pthread_t t;
	pthread_create(&t, NULL, doomed, NULL);
	pthread_join(t, NULL);
	printf("main alive\n");
	return 0;
}
"#;

#[test]
fn trap_reaches_a_handler_and_kill_thread_spares_the_others() {
    let profile = r#"{
      "defaultAction": "SCMP_ACT_ALLOW",
      "syscalls": [
        { "names": ["sethostname"], "action": "SCMP_ACT_TRAP" },
        { "names": ["sync"], "action": "SCMP_ACT_KILL_THREAD" }
      ]
    }"#;
    let f = fixture("/bin/trap; echo status=$?", profile);
    let scratch = f.path().join("build");
    if !sandbox_tests::static_libc_available(&scratch) {
        eprintln!("skipped: gcc -static cannot link here");
        return;
    }
    sandbox_tests::build_c_source(&scratch, "trap", TRAP_PROGRAM, &["-static", "-pthread"]).unwrap();
    fs::copy(scratch.join("trap"), f.bundle().join("rootfs/bin/trap")).unwrap();
    let out = f.run("trap");
    // si_code SYS_SECCOMP, the call's number (sethostname is 170) in si_syscall and in rax,
    // AUDIT_ARCH_X86_64; the handler's rax is the call's result.
    assert!(out.contains("ret=42 code=1 nr=170 arch=0xc000003e rax=170 addr=set\n"), "{out}");
    assert!(out.contains("main alive\nstatus=0\n"), "{out}");
    assert!(!out.contains("thread survived"), "{out}");
}
