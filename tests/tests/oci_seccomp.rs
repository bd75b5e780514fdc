//! config.json's `linux.seccomp` profile, end to end: the container is created and started
//! with the runtime commands an engine uses, and the sentry refuses, traps or kills the
//! workload's calls as the profile says (the host kernel never sees those calls).
//!
//! Each test has its own state root and bundle (a busybox rootfs) and force-deletes its
//! container when it ends, passing or not.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox_tests::{run_with_timeout, sandbox_bin, RunOutput, TempDir};

const TIMEOUT: Duration = Duration::from_secs(30);

/// A state root and a busybox bundle, and the container to force-delete on drop.
struct Container {
    dir: TempDir,
    id: String,
}

impl Container {
    /// A bundle running `sh -c script` under the `seccomp` profile (JSON text).
    fn new(id: &str, script: &str, seccomp: &str) -> Container {
        let dir = TempDir::new("oci-seccomp").unwrap();
        let rootfs = dir.path().join("bundle/rootfs");
        fs::create_dir_all(rootfs.join("bin")).unwrap();
        fs::create_dir_all(rootfs.join("tmp")).unwrap();
        fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("busybox-static is installed (tools/install-deps)");
        for applet in ["sh", "echo", "mkdir", "sync", "hostname", "ls"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        let c = Container { dir, id: id.to_string() };
        c.write_config(script, seccomp);
        c
    }

    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    /// `sandbox spec`'s config.json with the process and the profile put in.
    fn write_config(&self, script: &str, seccomp: &str) {
        let out = run_with_timeout(Command::new(sandbox_bin()).args(["spec", "--bundle"]).arg(self.bundle()), TIMEOUT).unwrap();
        assert_eq!(out.code(), Some(0), "spec: {}", out.describe());
        let config = self.bundle().join("config.json");
        let mut text = fs::read_to_string(&config).unwrap();
        let start = text.find("\"args\"").unwrap();
        let end = start + text[start..].find(']').unwrap() + 1;
        text.replace_range(start..end, &format!("\"args\": [\"sh\", \"-c\", {script:?}]"));
        text = text.replace("\"terminal\": true", "\"terminal\": false");
        assert!(text.contains("\"linux\": {"), "{text}");
        text = text.replacen("\"linux\": {", &format!("\"linux\": {{\n    \"seccomp\": {seccomp},"), 1);
        fs::write(&config, text).unwrap();
    }

    /// `sandbox --root ROOT ARGS`, output captured.
    fn runtime(&self, args: &[&str]) -> RunOutput {
        let mut cmd = Command::new(sandbox_bin());
        cmd.arg("--root").arg(self.dir.path().join("state")).args(args);
        run_with_timeout(&mut cmd, TIMEOUT).unwrap()
    }

    /// `create` with the workload's output going to a file (the sentry keeps its stdio, so it
    /// cannot be a pipe the test waits to see closed). Returns create's exit code and the file.
    fn create(&self) -> (Option<i32>, PathBuf) {
        let out_file = self.dir.path().join("output");
        let log = fs::File::create(&out_file).unwrap();
        let mut cmd = Command::new(sandbox_bin());
        cmd.arg("--root").arg(self.dir.path().join("state")).args(["create", "--bundle"]).arg(self.bundle()).arg(&self.id);
        cmd.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
        (cmd.status().unwrap().code(), out_file)
    }

    fn status(&self) -> String {
        let out = self.runtime(&["state", &self.id]);
        assert_eq!(out.code(), Some(0), "state: {}", out.describe());
        let text = out.stdout_str();
        let at = text.find("\"status\": \"").expect("state has a status") + 11;
        text[at..at + text[at..].find('"').unwrap()].to_string()
    }

    /// Creates and starts the container, waits until it has stopped and returns its output.
    fn run(&self) -> String {
        let (code, output) = self.create();
        assert_eq!(code, Some(0), "create: {}", fs::read_to_string(&output).unwrap_or_default());
        let out = self.runtime(&["start", &self.id]);
        assert_eq!(out.code(), Some(0), "start: {}", out.describe());
        let deadline = Instant::now() + TIMEOUT;
        while self.status() != "stopped" {
            assert!(Instant::now() < deadline, "the container never stopped; output so far: {}", fs::read_to_string(&output).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(20));
        }
        fs::read_to_string(&output).unwrap()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.runtime(&["delete", "--force", &self.id]);
    }
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
    let c = Container::new("rules", script, profile);
    let out = c.run();
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
    let c = Container::new("deny", "echo hello; mkdir /tmp/y || echo refused; ls -d /tmp", &profile);
    let out = c.run();
    assert!(out.starts_with("hello\n"), "{out}");
    assert!(out.contains("Permission denied\nrefused\n"), "mkdir gets defaultErrnoRet 13 (EACCES): {out}");
    assert!(out.ends_with("/tmp\n"), "{out}");
}

#[test]
fn an_invalid_profile_fails_create_naming_the_field() {
    let profile = r#"{ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [ { "names": ["mkdir"], "action": "SCMP_ACT_FOO" } ] }"#;
    let c = Container::new("invalid", "echo never", profile);
    let (code, output) = c.create();
    let text = fs::read_to_string(output).unwrap();
    assert_ne!(code, Some(0), "{text}");
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
    let c = Container::new("trap", "/bin/trap; echo status=$?", profile);
    let scratch = c.dir.path().join("build");
    if !sandbox_tests::static_libc_available(&scratch) {
        eprintln!("skipped: gcc -static cannot link here");
        return;
    }
    sandbox_tests::build_c_source(&scratch, "trap", TRAP_PROGRAM, &["-static", "-pthread"]).unwrap();
    fs::copy(scratch.join("trap"), c.bundle().join("rootfs/bin/trap")).unwrap();
    let out = c.run();
    // si_code SYS_SECCOMP, the call's number (sethostname is 170) in si_syscall and in rax,
    // AUDIT_ARCH_X86_64; the handler's rax is the call's result.
    assert!(out.contains("ret=42 code=1 nr=170 arch=0xc000003e rax=170 addr=set\n"), "{out}");
    assert!(out.contains("main alive\nstatus=0\n"), "{out}");
    assert!(!out.contains("thread survived"), "{out}");
}
