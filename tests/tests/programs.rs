//! Real Debian programs under `sandbox run`, with exact expected behaviour:
//! output, exit status, error messages for bad input, and isolation (the
//! workload never runs as a host process, writes never reach the host, and
//! nothing of the sandbox outlives `sandbox run`).
//!
//! Tests that look at host processes take [`exclusive`] so that no other
//! test of this file has a sandbox running meanwhile; all others take
//! [`shared`].

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sandbox_tests::{
    build_c_source, children_of, cmdline, describe_status, pids_with_exe, run_with_input,
    run_with_timeout, sandbox_bin, sandbox_command, write_executable, RunOutput, TempDir,
    workspace_volume, DEFAULT_TIMEOUT,
};

static PROCESS_LOCK: RwLock<()> = RwLock::new(());

/// Held by tests that only run sandboxes.
fn shared() -> RwLockReadGuard<'static, ()> {
    PROCESS_LOCK.read().unwrap_or_else(|e| e.into_inner())
}

/// Held by tests that scan host processes: no other sandbox runs meanwhile.
fn exclusive() -> RwLockWriteGuard<'static, ()> {
    PROCESS_LOCK.write().unwrap_or_else(|e| e.into_inner())
}

/// `sandbox run -- ARGS`, stdin from /dev/null.
fn sandboxed(args: &[&str]) -> RunOutput {
    sandboxed_with_input(args, None)
}

fn sandboxed_with_input(args: &[&str], input: Option<&[u8]>) -> RunOutput {
    let _guard = shared();
    run_with_input(&mut sandbox_command(None, args), input, DEFAULT_TIMEOUT)
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", sandbox_bin().display()))
}

/// ARGS run directly on the host.
fn native(args: &[&str]) -> RunOutput {
    let mut cmd = Command::new(args[0]);
    cmd.args(&args[1..]);
    run_with_timeout(&mut cmd, DEFAULT_TIMEOUT)
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"))
}

/// Asserts an exit code (not a signal) and the exact stdout.
#[track_caller]
fn assert_exit(out: &RunOutput, code: i32, stdout: &str) {
    assert!(
        out.code() == Some(code) && out.stdout_str() == stdout,
        "expected exit {code} and stdout {stdout:?}\n{}",
        out.describe()
    );
}

/// Asserts that the sandbox gives the same exit status and stdout as the host.
#[track_caller]
fn assert_same_as_native(args: &[&str]) {
    let host = native(args);
    let sand = sandboxed(args);
    assert!(
        host.status == sand.status && host.stdout == sand.stdout,
        "{args:?} differs under the sandbox\n--- native\n{}\n--- sandbox\n{}",
        host.describe(),
        sand.describe()
    );
}

/// Asserts a clean refusal: a non-zero exit (not a signal), nothing on
/// stdout, exactly one line on stderr, and no Rust panic.
#[track_caller]
fn assert_one_line_error(what: &str, out: &RunOutput) {
    let err = out.stderr_str();
    assert!(
        out.code().is_some_and(|c| c != 0)
            && out.stdout.is_empty()
            && err.ends_with('\n')
            && err.lines().count() == 1
            && !err.contains("panicked"),
        "{what}: expected a non-zero exit and one line on stderr\n{}",
        out.describe()
    );
}

/// Where this file's C programs are built.
fn build_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("programs")
}

/// A name no other run of the tests uses.
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{nanos}", std::process::id())
}

// ---- output and exit status ----

#[test]
fn echo_hello() {
    assert_exit(&sandboxed(&["/bin/echo", "hello"]), 0, "hello\n");
}

#[test]
fn busybox_shell_arithmetic() {
    assert_exit(
        &sandboxed(&["/bin/busybox", "sh", "-c", "echo $((6*7))"]),
        0,
        "42\n",
    );
}

#[test]
fn ls_la_usr_same_as_native() {
    assert_same_as_native(&["/bin/ls", "-la", "/usr"]);
}

#[test]
fn head_os_release_same_as_native() {
    assert_same_as_native(&["/usr/bin/head", "-c", "12", "/etc/os-release"]);
}

#[test]
fn first_process_is_pid_1() {
    assert_exit(&sandboxed(&["/bin/sh", "-c", "echo $$"]), 0, "1\n");
}

#[test]
fn kernel_release_is_emulated() {
    let host = native(&["/bin/uname", "-r"]);
    let sand = sandboxed(&["/bin/uname", "-r"]);
    assert!(
        sand.code() == Some(0) && !sand.stdout.is_empty() && sand.stdout != host.stdout,
        "uname -r under the sandbox must succeed and differ from the host's {:?}\n{}",
        host.stdout_str(),
        sand.describe()
    );
}

#[test]
fn false_exits_1() {
    assert_exit(&sandboxed(&["/bin/false"]), 1, "");
}

#[test]
fn shell_exit_status_passes_through() {
    assert_exit(&sandboxed(&["/bin/sh", "-c", "exit 7"]), 7, "");
}

#[test]
fn death_by_signal_is_128_plus_n() {
    // A child shell killed by a signal: its parent sees 128 + N, as on Linux.
    assert_exit(&sandboxed(&["/bin/sh", "-c", "sh -c 'kill -KILL $$'; echo $?"]), 0, "137\n");
    // The first process dying of a fault: the sandbox itself exits with the shell's convention.
    let bin = build_c_source(&build_dir(), "null-deref", "int main(void) { return *(volatile int *)0; }\n", &[]).unwrap();
    assert_exit(&sandboxed(&[bin.to_str().unwrap()]), 128 + 11, "");
}

#[test]
fn first_process_ignores_signals_it_has_no_handler_for() {
    // As the init of a pid namespace: its own `kill -9 $$` does nothing.
    assert_exit(&sandboxed(&["/bin/sh", "-c", "kill -9 $$; echo alive"]), 0, "alive\n");
}

#[test]
fn program_found_via_path() {
    assert_exit(&sandboxed(&["echo", "found"]), 0, "found\n");
}

#[test]
fn stdin_and_stderr_pass_through() {
    let out = sandboxed_with_input(&["/bin/cat"], Some(b"abc\n"));
    assert!(out.code() == Some(0) && out.stdout_str() == "abc\n", "stdin should reach cat\n{}", out.describe());
    let out = sandboxed_with_input(&["/bin/sh", "-c", "echo err >&2"], None);
    assert!(out.code() == Some(0) && out.stderr_str() == "err\n", "stderr should reach the caller\n{}", out.describe());
}

// ---- bad input: one line of error, no panic ----

#[test]
fn missing_program_exits_127() {
    let out = sandboxed(&["/nonexistent"]);
    assert!(
        out.code() == Some(127)
            && out.stdout.is_empty()
            && out.stderr_str() == "sandbox: /nonexistent: No such file or directory\n",
        "{}",
        out.describe()
    );
}

#[test]
fn non_elf_executable_is_refused() {
    let dir = TempDir::new("sandbox-tests-nonelf").unwrap();
    let path = dir.path().join("not-a-program");
    write_executable(&path, b"this is text, not an ELF file\n").unwrap();
    assert_one_line_error(
        "non-ELF file with the exec bit",
        &sandboxed(&[path.to_str().unwrap()]),
    );
}

#[test]
fn truncated_elf_is_refused() {
    let dir = TempDir::new("sandbox-tests-truncated").unwrap();
    let path = dir.path().join("truncated");
    let head = fs::read("/bin/true").unwrap()[..100].to_vec();
    write_executable(&path, &head).unwrap();
    assert_one_line_error(
        "first 100 bytes of /bin/true",
        &sandboxed(&[path.to_str().unwrap()]),
    );
}

#[test]
fn directory_is_refused() {
    assert_one_line_error("a directory as the program", &sandboxed(&["/usr"]));
}

#[test]
fn missing_interpreter_is_refused() {
    let bin = build_c_source(
        &build_dir(),
        "missing-interp",
        "int main(void) { return 0; }\n",
        &["-Wl,--dynamic-linker=/nonexistent/ld.so"],
    )
    .unwrap();
    assert_one_line_error(
        "an ELF whose PT_INTERP does not exist",
        &sandboxed(&[bin.to_str().unwrap()]),
    );
}

#[test]
fn wild_pointer_write_fails_like_native() {
    let bin = build_c_source(
        &build_dir(),
        "wild-write",
        r#"#include <errno.h>
#include <stdio.h>
#include <unistd.h>
/* Volatile: the compiler must not see the constant and warn. */
static void *volatile wild = (void *)1;
int main(void)
{
	ssize_t r = write(1, wild, 10);
	printf("write returned %zd, errno %s\n", r, errno == EFAULT ? "EFAULT" : "other");
	return 0;
}
"#,
        &[],
    )
    .unwrap();
    let bin = bin.to_str().unwrap();
    assert_exit(&native(&[bin]), 0, "write returned -1, errno EFAULT\n");
    let out = sandboxed(&[bin]);
    assert_exit(&out, 0, "write returned -1, errno EFAULT\n");
    assert!(
        out.stderr.is_empty(),
        "nothing on stderr\n{}",
        out.describe()
    );
}

// ---- isolation ----

#[test]
fn writes_do_not_reach_the_host() {
    let path = format!("/tmp/{}", unique("sandbox-probe"));
    let out = sandboxed(&["/bin/sh", "-c", &format!("echo x > {path}; echo ran")]);
    let leaked = Path::new(&path).exists();
    let _ = fs::remove_file(&path);
    // Whether the write succeeds in memory or fails with EROFS is the
    // sandbox's choice; the host must not see it either way.
    assert!(!leaked, "{path} appeared on the host\n{}", out.describe());
    // Otherwise a sandbox that cannot start a shell would pass.
    assert_eq!(
        out.stdout_str(),
        "ran\n",
        "the shell did not run\n{}",
        out.describe()
    );
}

/// `sandbox run OPTIONS -- ARGS`, stdin from /dev/null.
fn sandboxed_with(options: &[&str], args: &[&str]) -> RunOutput {
    let _guard = shared();
    let mut cmd = Command::new(sandbox_bin());
    cmd.arg("run").args(workspace_volume()).args(options).arg("--").args(args);
    run_with_input(&mut cmd, None, DEFAULT_TIMEOUT)
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", sandbox_bin().display()))
}

#[test]
fn root_is_writable_in_memory_only() {
    let probe = Path::new("/etc/probe");
    assert!(!probe.exists(), "/etc/probe exists on the host before the test");
    let out = sandboxed(&["/bin/sh", "-c", "echo data > /etc/probe && cat /etc/probe"]);
    let leaked = probe.exists();
    assert!(!leaked, "/etc/probe appeared on the host\n{}", out.describe());
    assert_exit(&out, 0, "data\n");
}

#[test]
fn tmp_run_and_dev_shm_are_fresh_tmpfs() {
    let out = sandboxed(&[
        "/bin/sh",
        "-c",
        "stat -c '%n %a %F' /tmp /dev/shm /run && ls -A /dev/shm | wc -l && stat -f -c %T /tmp",
    ]);
    assert_exit(&out, 0, "/tmp 1777 directory\n/dev/shm 1777 directory\n/run 755 directory\n0\ntmpfs\n");
}

#[test]
fn volume_writes_reach_the_host() {
    let dir = TempDir::new("sandbox-volume").unwrap();
    let spec = format!("{}:/mnt", dir.path().display());
    let out = sandboxed_with(
        &["-v", &spec],
        &["/bin/sh", "-c", "echo x > /mnt/f && echo y >> /mnt/f && mkdir /mnt/d && mv /mnt/f /mnt/d/g && cat /mnt/d/g"],
    );
    assert_exit(&out, 0, "x\ny\n");
    assert_eq!(fs::read_to_string(dir.path().join("d/g")).ok().as_deref(), Some("x\ny\n"), "{}", out.describe());
}

#[test]
fn read_only_volume_refuses_writes() {
    let dir = TempDir::new("sandbox-volume-ro").unwrap();
    fs::write(dir.path().join("kept"), "kept\n").unwrap();
    let spec = format!("{}:/mnt:ro", dir.path().display());
    let out = sandboxed_with(&["-v", &spec], &["/bin/sh", "-c", "cat /mnt/kept; echo x > /mnt/f"]);
    assert!(
        out.code().is_some_and(|c| c != 0)
            && out.stdout_str() == "kept\n"
            && out.stderr_str().contains("Read-only file system"),
        "expected a refusal with EROFS\n{}",
        out.describe()
    );
    assert!(!dir.path().join("f").exists(), "the write reached the host");
}

#[test]
fn file_volume_on_a_new_mount_point() {
    let dir = TempDir::new("sandbox-volume-file").unwrap();
    let file = dir.path().join("conf");
    fs::write(&file, "setting=1\n").unwrap();
    let spec = format!("{}:/opt/new/dir/app.conf", file.display());
    let out = sandboxed_with(&["-v", &spec], &["/bin/sh", "-c", "cat /opt/new/dir/app.conf && echo more >> /opt/new/dir/app.conf"]);
    assert_exit(&out, 0, "setting=1\n");
    assert_eq!(fs::read_to_string(&file).unwrap(), "setting=1\nmore\n");
    assert!(!Path::new("/opt/new").exists(), "the mount point was made on the host");
}

#[test]
fn python_sqlite_database_in_tmp() {
    let python = "/usr/bin/python3";
    let script = "import sqlite3\n\
        c = sqlite3.connect('/tmp/t.db')\n\
        c.execute('create table t(x integer, s text)')\n\
        c.executemany('insert into t values (?, ?)', [(i, str(i)) for i in range(1000)])\n\
        c.commit()\n\
        c.close()\n\
        c = sqlite3.connect('/tmp/t.db')\n\
        print(c.execute('select count(*), sum(x), max(s) from t').fetchone())\n";
    if native(&[python, "-c", "import sqlite3"]).code() != Some(0) {
        eprintln!("skipped: no {python} with the sqlite3 module");
        return;
    }
    assert_exit(&sandboxed(&[python, "-c", script]), 0, "(1000, 499500, '999')\n");
}

#[test]
fn tar_creates_lists_and_extracts() {
    let hostname = fs::read_to_string("/etc/hostname").unwrap_or_default();
    let out = sandboxed(&[
        "/bin/sh",
        "-c",
        "tar -C /tmp -cf /tmp/a.tar /etc/hostname 2>/dev/null && tar -tf /tmp/a.tar && mkdir /tmp/x && tar -C /tmp/x -xf /tmp/a.tar && cat /tmp/x/etc/hostname",
    ]);
    assert_exit(&out, 0, &format!("etc/hostname\n{hostname}"));
}

#[test]
fn coreutils_change_files() {
    let out = sandboxed(&[
        "/bin/sh",
        "-c",
        "mkdir /tmp/cu && cd /tmp/cu && mkdir -p a/b && echo hi > a/b/f && chmod 640 a/b/f && cp -a a c && mv c d && ln -s d/b/f link && cat link \
         && stat -c %a d/b/f && touch -d 2020-01-01 old && touch new && find . -newer old -name new \
         && du -s a | cut -f2 && rm -r a d && ls",
    ]);
    assert_exit(&out, 0, "hi\n640\n./new\na\nlink\nnew\nold\n");
}

/// Processes with the sandbox binary as their exe.
fn sandbox_pids() -> BTreeSet<i32> {
    pids_with_exe(&sandbox_bin()).into_iter().collect()
}

/// "PID: cmdline" lines, for messages.
fn describe_pids(pids: &BTreeSet<i32>) -> String {
    pids.iter()
        .map(|&p| format!("  {p}: {}", cmdline(p).unwrap_or_default()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn kill_all(pids: &BTreeSet<i32>) {
    for &pid in pids {
        // SAFETY: kill(2) with plain integers; these are leftovers of our run.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// Waits up to `limit` for every process in `after() - before` to go away;
/// returns the ones left (and kills them, so they do not outlive the test).
fn leftovers(before: &BTreeSet<i32>, limit: Duration) -> BTreeSet<i32> {
    let deadline = Instant::now() + limit;
    loop {
        let left: BTreeSet<i32> = sandbox_pids().difference(before).copied().collect();
        if left.is_empty() || Instant::now() >= deadline {
            let described = left.clone();
            kill_all(&left);
            return described;
        }
        sleep(Duration::from_millis(20));
    }
}

#[test]
fn nothing_survives_sandbox_run() {
    // A plain exit, and an exec that replaces the first address space.
    assert_nothing_survives(&[&["/bin/true"], &["/bin/sh", "-c", "exec /bin/true"]]);
}

#[test]
fn init_leaving_a_background_child_leaves_nothing() {
    assert_nothing_survives(&[&["/bin/sh", "-c", "/usr/bin/sleep 5 >/dev/null 2>&1 & exit 0"]]);
}

fn assert_nothing_survives(cases: &[&[&str]]) {
    let _guard = exclusive();
    let before = sandbox_pids();
    for &args in cases {
        let out = run_with_timeout(&mut sandbox_command(None, args), DEFAULT_TIMEOUT).unwrap();
        assert_eq!(out.code(), Some(0), "{args:?}\n{}", out.describe());
        // 200 ms: time for the host to finish tearing down what already exited.
        let left = leftovers(&before, Duration::from_millis(200));
        assert!(
            left.is_empty(),
            "sandbox processes still running after `sandbox run {args:?}` exited:\n{}",
            describe_pids(&left)
        );
    }
}

/// Host processes running /usr/bin/sleep with `marker` in their command line
/// (the marker keeps unrelated sleeps on the machine out of it).
fn host_sleeps(marker: &str) -> Vec<i32> {
    pids_with_exe(Path::new("/usr/bin/sleep"))
        .into_iter()
        .filter(|&p| cmdline(p).is_some_and(|c| c.contains(marker)))
        .collect()
}

#[test]
fn workload_is_not_a_host_process() {
    let _guard = exclusive();
    let marker = "3.0417"; // seconds, and a string to recognise
    let start = Instant::now();
    let mut child = sandbox_command(None, &["/usr/bin/sleep", marker])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut seen = BTreeSet::new();
    while start.elapsed() < Duration::from_millis(2500) && child.try_wait().unwrap().is_none() {
        seen.extend(host_sleeps(marker));
        sleep(Duration::from_millis(50));
    }
    let status = child.wait().unwrap();
    let elapsed = start.elapsed();
    assert!(
        seen.is_empty(),
        "the host ran /usr/bin/sleep itself: pids {seen:?}"
    );
    // Otherwise a sandbox that failed to start would pass.
    assert!(
        status.code() == Some(0) && elapsed >= Duration::from_secs(3),
        "sleep {marker} under the sandbox: {} after {elapsed:?}",
        describe_status(status)
    );
}

#[test]
fn kill_9_of_sandbox_run_kills_everything() {
    let _guard = exclusive();
    let before = sandbox_pids();
    let marker = "30.0417";
    let mut child = sandbox_command(None, &["/usr/bin/sleep", marker])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    // Let it get going: wait until it has started a child (sentry, gofer or
    // stub) or 5 s, then a little more for the workload to start.
    let start = Instant::now();
    while children_of(pid).is_empty() && start.elapsed() < Duration::from_secs(5) {
        sleep(Duration::from_millis(20));
    }
    sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "sandbox run exited before it was killed"
    );

    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));

    let left = leftovers(&before, Duration::from_secs(2));
    let sleeps = host_sleeps(marker);
    for &p in &sleeps {
        // SAFETY: kill(2) with plain integers; a leftover of our run.
        unsafe {
            libc::kill(p, libc::SIGKILL);
        }
    }
    assert!(
        left.is_empty(),
        "2 s after kill -9 of `sandbox run`, these sandbox processes remain:\n{}",
        describe_pids(&left)
    );
    assert!(
        sleeps.is_empty(),
        "the workload survived as host processes {sleeps:?}"
    );
}

// ---- /proc, /sys and /dev, built by the sandbox ----

#[test]
fn proc_self_status_says_pid_1() {
    assert_exit(&sandboxed(&["/bin/grep", "-c", "^Pid:[[:space:]]*1$", "/proc/self/status"]), 0, "1\n");
}

#[test]
fn ps_shows_only_the_sandboxs_processes() {
    assert_exit(&sandboxed(&["/bin/sh", "-c", "ps -eo comm="]), 0, "sh\nps\n");
    let out = sandboxed(&["/bin/sh", "-c", "ps aux"]);
    let text = out.stdout_str();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        out.code() == Some(0) && lines.len() == 3 && lines[0].starts_with("USER") && lines[1].contains(" 1 ") && lines[2].ends_with("ps aux"),
        "ps aux should list the shell (pid 1) and itself\n{}",
        out.describe()
    );
}

#[test]
fn proc_self_cmdline_holds_the_arguments() {
    assert_exit(&sandboxed(&["/bin/sh", "-c", "cat /proc/self/cmdline | tr '\\0' ' '"]), 0, "cat /proc/self/cmdline ");
}

#[test]
fn proc_self_exe_names_the_program() {
    assert_same_as_native(&["/usr/bin/readlink", "/proc/self/exe"]);
}

#[test]
fn proc_self_fd_lists_the_open_descriptors() {
    // (Not compared with a native run: the test harness leaks descriptors of its own.)
    assert_exit(&sandboxed(&["/bin/ls", "/proc/self/fd"]), 0, "0\n1\n2\n3\n");
    assert_exit(&sandboxed(&["/bin/sh", "-c", "readlink /proc/self/fd/0 </dev/null"]), 0, "/dev/null\n");
}

#[test]
fn free_df_and_mount_work() {
    let out = sandboxed(&["/usr/bin/free"]);
    let mem = out.stdout_str().lines().find(|l| l.starts_with("Mem:")).map(|l| l.split_whitespace().count());
    assert!(out.code() == Some(0) && mem == Some(7), "free: a Mem: line with 6 numbers\n{}", out.describe());
    let out = sandboxed(&["/bin/df", "/"]);
    let text = out.stdout_str();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        out.code() == Some(0) && lines.len() == 2 && lines[0].starts_with("Filesystem") && lines[1].ends_with(" /"),
        "df /: a header and the root\n{}",
        out.describe()
    );
    let out = sandboxed(&["/bin/mount"]);
    let text = out.stdout_str();
    assert!(
        out.code() == Some(0) && text.contains(" on / type ") && text.contains("proc on /proc type proc (") && text.contains("sysfs on /sys type sysfs ("),
        "mount: the root, /proc and /sys\n{}",
        out.describe()
    );
}

#[test]
fn top_pgrep_and_pidof_see_the_sandbox() {
    let out = sandboxed(&["/bin/sh", "-c", "top -bn1 | head -1"]);
    assert!(out.code() == Some(0) && out.stdout_str().starts_with("top - "), "top -bn1\n{}", out.describe());
    assert_exit(&sandboxed(&["/bin/sh", "-c", "pgrep -x sh; pidof sh"]), 0, "1\n1\n");
}

#[test]
fn cpuinfo_has_a_processor_per_cpu() {
    assert_exit(&sandboxed(&["/bin/sh", "-c", "[ \"$(grep -c ^processor /proc/cpuinfo)\" = \"$(nproc)\" ] && echo same"]), 0, "same\n");
    assert_exit(&sandboxed(&["/bin/sh", "-c", "[ \"$(getconf _NPROCESSORS_ONLN)\" = \"$(nproc)\" ] && echo same"]), 0, "same\n");
}

#[test]
fn hostname_is_writable_through_proc() {
    assert_exit(&sandboxed(&["/bin/sh", "-c", "echo newname > /proc/sys/kernel/hostname && uname -n"]), 0, "newname\n");
}

#[test]
fn dev_std_links_reach_the_standard_streams() {
    let out = sandboxed_with_input(&["/bin/sh", "-c", "cat /dev/stdin; echo out > /dev/stdout; echo err > /dev/stderr"], Some(b"in\n"));
    assert!(
        out.code() == Some(0) && out.stdout_str() == "in\nout\n" && out.stderr_str() == "err\n",
        "/dev/stdin, /dev/stdout and /dev/stderr\n{}",
        out.describe()
    );
    // No terminal: /dev/tty cannot be opened.
    let out = sandboxed(&["/bin/sh", "-c", "echo x > /dev/tty"]);
    assert!(out.code() == Some(2) && out.stderr_str().contains("No such device or address"), "/dev/tty without a terminal\n{}", out.describe());
}

#[test]
fn proc_never_shows_the_hosts_processes() {
    let out = sandboxed(&["/bin/sh", "-c", "echo /proc/[0-9]*; sleep 1 & ls -d /proc/[0-9]*"]);
    assert!(
        out.code() == Some(0) && out.stdout_str() == "/proc/1\n/proc/1\n/proc/2\n",
        "only the shell and its children\n{}",
        out.describe()
    );
}

#[test]
fn a_fork_bomb_stops_at_the_task_limit() {
    let src = r#"#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void) {
    int n = 0;
    for (;;) {
        pid_t p = fork();
        if (p == 0) { pause(); _exit(0); }
        if (p < 0) {
            char b[100];
            int l = snprintf(b, sizeof b, "stopped after %d children: %s\n", n, errno == EAGAIN ? "EAGAIN" : strerror(errno));
            write(1, b, l);
            return 0;
        }
        n++;
    }
}
"#;
    let bin = build_c_source(&build_dir(), "fork-bomb", src, &["-static"]).unwrap();
    // 1024 tasks in all: the bomb itself and 1023 children; everything ends with it.
    assert_exit(&sandboxed(&[bin.to_str().unwrap()]), 0, "stopped after 1023 children: EAGAIN\n");
}

#[test]
fn python_threads_pool_and_subprocess() {
    let script = r#"
import threading, subprocess, multiprocessing
res = []
ts = [threading.Thread(target=lambda i=i: res.append(i * i)) for i in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
print('threads', sorted(res))
def sq(x): return x * x
if __name__ == '__main__':
    with multiprocessing.Pool(2) as p:
        print('pool', p.map(sq, range(6)))
    print('sub', subprocess.run(['echo', 'hi'], capture_output=True, text=True).stdout.strip())
"#;
    let expected = "threads [0, 1, 4, 9, 16, 25, 36, 49]\npool [0, 1, 4, 9, 16, 25]\nsub hi\n";
    assert_exit(&sandboxed(&["/usr/bin/python3", "-c", script]), 0, expected);
}

#[test]
fn shell_pipelines_traps_and_perl_fork() {
    assert_exit(&sandboxed(&["/bin/bash", "--norc", "-c", "for i in $(seq 1 50); do echo $i; done | sort -n | tail -1"]), 0, "50\n");
    assert_exit(&sandboxed(&["/bin/sh", "-c", "sh -c 'kill -KILL $$'; echo $?"]), 0, "137\n");
    assert_exit(&sandboxed(&["/usr/bin/timeout", "1", "/usr/bin/sleep", "10"]), 124, "");
    let trap = "trap 'echo got USR1' USR1; (sleep 0.2; kill -USR1 $$) & wait; echo after";
    assert_exit(&sandboxed(&["/bin/bash", "--norc", "-c", trap]), 0, "got USR1\nafter\n");
    let perl = r#"pipe(R, W); if (my $p = fork) { close W; my $l = <R>; waitpid($p, 0); print "parent got: $l"; } else { close R; print W "hello\n"; exit 0 }"#;
    assert_exit(&sandboxed(&["/usr/bin/perl", "-e", perl]), 0, "parent got: hello\n");
}

#[test]
fn make_drives_gcc_inside() {
    // Sources written with printf: `%%d` keeps the C format out of the shell's hands.
    let script = r#"set -e
mkdir -p /tmp/proj && cd /tmp/proj
printf 'int add(int a, int b) { return a + b; }\n' > add.c
printf '#include <stdio.h>\nint add(int, int);\nint main(void) { printf("sum=%%d\\n", add(20, 22)); return 0; }\n' > main.c
printf 'prog: main.o add.o\n\tgcc -O2 -o prog main.o add.o\n%%.o: %%.c\n\tgcc -O2 -c $< -o $@\n' > Makefile
make -s
./prog"#;
    assert_exit(&sandboxed(&["/bin/sh", "-c", script]), 0, "sum=42\n");
}

#[test]
fn credentials_can_be_dropped() {
    let script = "import os\nos.setgroups([]); os.setgid(65534); os.setuid(65534)\nprint(os.getuid(), os.geteuid(), os.getgid())\ntry:\n    open('/etc/shadow')\nexcept PermissionError:\n    print('denied')\n";
    assert_exit(&sandboxed(&["/usr/bin/python3", "-c", script]), 0, "65534 65534 65534\ndenied\n");
}

#[test]
fn find_sees_the_same_tree_as_the_host() {
    let args = ["/usr/bin/find", "/usr/lib/x86_64-linux-gnu", "-maxdepth", "2"];
    let native = native(&args);
    let sandboxed = sandboxed(&args);
    assert_eq!(sandboxed.code(), Some(0), "{}", sandboxed.describe());
    assert_eq!(
        sandboxed.stdout_str().lines().count(),
        native.stdout_str().lines().count(),
        "find lists a different number of entries inside"
    );
}

#[test]
fn du_walks_a_large_read_only_tree() {
    // More files than the gofer may hold descriptors for at once: each lookup gives its fid back.
    let native = native(&["/usr/bin/du", "-s", "/usr/lib"]);
    assert_exit(&sandboxed(&["/usr/bin/du", "-s", "/usr/lib"]), 0, &native.stdout_str());
}

#[test]
fn pseudo_terminals_for_python_pty_and_script() {
    // pty.spawn: the child's output comes back through the master, with the terminal's ONLCR.
    let spawn = r#"import pty, sys; sys.exit(pty.spawn(["/bin/sh", "-c", "echo inside-pty; tty"]))"#;
    assert_exit(&sandboxed(&["/usr/bin/python3", "-c", spawn]), 0, "inside-pty\r\n/dev/pts/0\r\n");
    // pty.fork: the child leads a session whose controlling terminal is the slave; a line
    // typed into the master is echoed and read; the master reads EIO once the child is gone.
    let fork = r#"
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    print(os.ttyname(0), os.getsid(0) == os.getpid(), os.tcgetpgrp(0) == os.getpid(), flush=True)
    print('got', sys.stdin.readline().strip(), flush=True)
    os._exit(3)
out = b''
while b'\n' not in out:
    out += os.read(fd, 1024)
os.write(fd, b'typed\n')
while True:
    try:
        data = os.read(fd, 1024)
    except OSError:
        break
    if not data:
        break
    out += data
_, status = os.waitpid(pid, 0)
print(repr(out), os.waitstatus_to_exitcode(status))
"#;
    let expected = "b'/dev/pts/0 True True\\r\\ntyped\\r\\ngot typed\\r\\n' 3\n";
    assert_exit(&sandboxed(&["/usr/bin/python3", "-c", fork]), 0, expected);
    // util-linux script, when installed: the command runs on /dev/pts/0, which ps shows.
    if Path::new("/usr/bin/script").exists() {
        assert_exit(&sandboxed(&["/usr/bin/script", "-qc", "tty", "/dev/null"]), 0, "/dev/pts/0\r\n");
        let out = sandboxed(&["/usr/bin/script", "-qc", "ps -o tty= -p $$", "/dev/null"]);
        assert_exit(&out, 0, "pts/0\r\n");
    }
}

// ---- AF_UNIX sockets, all inside the sentry ----

#[test]
fn python_socketpair_passes_descriptors_and_multiprocessing_pipes() {
    // A socketpair round trip, a pipe passed with send_fds and used through the received
    // descriptor, a multiprocessing.Pipe to a forked Process, and asyncio's event loop (its
    // self-pipe is a socketpair) serving a unix stream server.
    let script = r#"
import asyncio, multiprocessing, os, socket
a, b = socket.socketpair()
a.sendall(b'ping')
print(b.recv(16), a.family == socket.AF_UNIX, a.type == socket.SOCK_STREAM)
r, w = os.pipe()
socket.send_fds(a, [b'fds'], [r, w])
msg, fds, flags, _ = socket.recv_fds(b, 16, 4)
os.write(fds[1], b'through the passed pipe')
print(msg, len(fds), flags, os.read(r, 64), sorted(fds) != sorted([r, w]))

def child(conn):
    conn.send(('from child', os.getpid() != os.getppid()))
    conn.send(conn.recv() * 2)
    conn.close()

parent, kid = multiprocessing.Pipe()
p = multiprocessing.Process(target=child, args=(kid,))
p.start()
print(parent.recv())
parent.send(21)
print(parent.recv())
p.join()
print('exit', p.exitcode)

async def main():
    async def echo(reader, writer):
        writer.write((await reader.readline()).upper())
        await writer.drain()
        writer.close()
    server = await asyncio.start_unix_server(echo, '/tmp/echo.sock')
    reader, writer = await asyncio.open_unix_connection('/tmp/echo.sock')
    writer.write(b'asyncio over a unix socket\n')
    line = await reader.readline()
    writer.close()
    server.close()
    await server.wait_closed()
    return line
print(asyncio.run(main()))
try:
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
except OSError as e:
    print('AF_PACKET:', e.strerror)
"#;
    let expected = "b'ping' True True\n\
        b'fds' 2 0 b'through the passed pipe' True\n\
        ('from child', True)\n42\nexit 0\n\
        b'ASYNCIO OVER A UNIX SOCKET\\n'\n\
        AF_PACKET: Address family not supported by protocol\n";
    assert_exit(&sandboxed(&["/usr/bin/python3", "-c", script]), 0, expected);
}

// ---- Loopback AF_INET and AF_INET6, inside the sentry ----

#[test]
fn python_http_server_and_asyncio_over_loopback_tcp() {
    // An http.server on 127.0.0.1 port 0 answering urllib in the same process (the server runs
    // in a thread), a forked raw-socket client of a TCP server on ::1, UDP datagrams with
    // their sender's address, and asyncio TCP echo servers on 0.0.0.0 and ::.
    let script = r#"
import asyncio, http.server, os, socket, threading, urllib.request
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ('hello ' + self.path).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
httpd = http.server.HTTPServer(('127.0.0.1', 0), Hello)
threading.Thread(target=httpd.serve_forever, daemon=True).start()
with urllib.request.urlopen('http://127.0.0.1:%d/index' % httpd.server_address[1]) as r:
    print(r.status, r.read(), flush=True)
httpd.shutdown()
httpd.server_close()

srv = socket.create_server(('::1', 0), family=socket.AF_INET6)
port = srv.getsockname()[1]
pid = os.fork()
if pid == 0:
    c = socket.create_connection(('::1', port))
    c.sendall(b'from the child')
    c.shutdown(socket.SHUT_WR)
    print('child got', c.recv(64), flush=True)
    os._exit(0)
conn, addr = srv.accept()
data = b''
while chunk := conn.recv(64):
    data += chunk
conn.sendall(data.upper())
conn.close()
print('parent got', data, addr[0], os.waitpid(pid, 0)[1])
try:
    socket.create_connection(('127.0.0.1', port), timeout=5)
except ConnectionRefusedError as e:
    print('refused:', e.strerror)

a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
a.bind(('127.0.0.1', 0))
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b.sendto(b'one', a.getsockname())
b.sendto(b'two', a.getsockname())
m1, frm = a.recvfrom(64)
print(m1, a.recv(64), frm == ('127.0.0.1', b.getsockname()[1]))

async def main():
    async def echo(reader, writer):
        writer.write((await reader.readline()).upper())
        await writer.drain()
        writer.close()
    # One listener per family (the IPv6 one v6-only), each on its own port.
    server = await asyncio.start_server(echo, host=None, port=0)
    out = []
    for s in sorted(server.sockets, key=lambda s: s.family):
        host = '::1' if s.family == socket.AF_INET6 else '127.0.0.1'
        reader, writer = await asyncio.open_connection(host, s.getsockname()[1])
        writer.write(b'asyncio over tcp\n')
        out.append(await reader.readline())
        writer.close()
        await writer.wait_closed()
    server.close()
    await server.wait_closed()
    return out
print(asyncio.run(main()))
"#;
    let expected = "200 b'hello /index'\n\
        child got b'FROM THE CHILD'\n\
        parent got b'from the child' ::1 0\n\
        refused: Connection refused\n\
        b'one' b'two' True\n\
        [b'ASYNCIO OVER TCP\\n', b'ASYNCIO OVER TCP\\n']\n";
    assert_exit(&sandboxed(&["/usr/bin/python3", "-c", script]), 0, expected);
}

#[test]
fn python_unix_server_and_client_across_fork() {
    // A server bound to a path in /tmp, a forked client, SO_PEERCRED naming the client,
    // datagrams to an abstract name, and the name gone after unlink.
    let script = r#"
import os, socket, struct
path = '/tmp/server.sock'
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
print(oct(os.stat(path).st_mode))
pid = os.fork()
if pid == 0:
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(path)
    c.sendall(b'hello from the child')
    c.shutdown(socket.SHUT_WR)
    ok = c.recv(64) == b'HELLO FROM THE CHILD'
    os._exit(0 if ok else 1)
conn, addr = srv.accept()
data = b''
while True:
    chunk = conn.recv(5)
    if not chunk:
        break
    data += chunk
peer_pid = struct.unpack('3i', conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
conn.sendall(data.upper())
_, status = os.waitpid(pid, 0)
print(data, repr(addr), conn.getsockname(), peer_pid == pid, os.waitstatus_to_exitcode(status))
conn.close()
srv.close()
os.unlink(path)
try:
    socket.socket(socket.AF_UNIX).connect(path)
except FileNotFoundError:
    print('gone after unlink')
d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
d.bind('\0sandbox-abstract')
e = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
e.bind('')
e.sendto(b'datagram', '\0sandbox-abstract')
msg, frm = d.recvfrom(64)
print(msg, d.getsockname(), len(frm) == 6 and frm[0] == 0)
"#;
    let expected = "0o140755\n\
        b'hello from the child' '' /tmp/server.sock True 0\n\
        gone after unlink\n\
        b'datagram' b'\\x00sandbox-abstract' True\n";
    assert_exit(&sandboxed(&["/usr/bin/python3", "-c", script]), 0, expected);
}

// ---- file-system features: memfd, statfs, mount, rootfs confinement ----

#[test]
fn python_memfd_and_disk_usage() {
    let script = "import os, shutil\n\
        fd = os.memfd_create('buf', os.MFD_CLOEXEC)\n\
        os.write(fd, b'abc')\n\
        print(os.readlink(f'/proc/self/fd/{fd}'), os.get_inheritable(fd), os.pread(fd, 3, 0))\n\
        before = shutil.disk_usage('/tmp').used\n\
        open('/tmp/f', 'wb').write(b'x' * 100000)\n\
        u = shutil.disk_usage('/tmp')\n\
        print(u.used - before >= 100000, u.total >= u.used + u.free)\n\
        r = shutil.disk_usage('/usr')\n\
        print(r.used > 0, r.total > r.free)\n";
    let out = sandboxed(&["/usr/bin/python3", "-c", script]);
    assert_exit(&out, 0, "/memfd:buf (deleted) False b'abc'\nTrue True\nTrue True\n");
}

#[test]
fn busybox_mounts_a_tmpfs_and_a_bind_mount() {
    let script = "mkdir /run/t /run/b && mount -t tmpfs -o size=1m none /run/t && echo hi > /run/t/f \
        && grep ' /run/t ' /proc/mounts && df -k /run/t | tail -n 1 | awk '{print $2}' \
        && mount --bind /run/t /run/b && cat /run/b/f && umount /run/b && umount /run/t && ls /run/t | wc -l \
        && mount -t ext4 /dev/sda /run/t; echo $?";
    let out = sandboxed(&["/bin/busybox", "sh", "-c", script]);
    assert_exit(&out, 0, "none /run/t tmpfs rw,relatime 0 0\n1024\nhi\n0\n1\n");
}

#[test]
fn rootfs_symlinks_cannot_reach_outside() {
    let dir = TempDir::new("sandbox-rootfs-escape").unwrap();
    let secret = dir.path().join("secret");
    fs::write(&secret, "TOPSECRET\n").unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("a/b/c")).unwrap();
    fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    let host_dir = dir.path().to_string_lossy().into_owned();
    let links: [(&str, String); 9] = [
        ("up", "..".into()),
        ("up3", "../../..".into()),
        ("a/b/c/deep", "../../../../..".into()),
        ("abs", "/".into()),
        ("host_dir", host_dir.clone()),
        ("host_secret", secret.to_string_lossy().into_owned()),
        ("selfroot", "/proc/self/root".into()),
        ("procup", "/proc/self/root/..".into()),
        ("cwdup", "/proc/1/cwd/../..".into()),
    ];
    for (name, target) in &links {
        std::os::unix::fs::symlink(target, root.join(name)).unwrap();
    }
    let tries = [
        "/up/secret".to_string(),
        "/up3/secret".into(),
        "/a/b/c/deep/secret".into(),
        "/abs/../secret".into(),
        "/host_dir/secret".into(),
        "/host_secret".into(),
        "/selfroot/../secret".into(),
        "/procup/secret".into(),
        "/cwdup/secret".into(),
        "/../secret".into(),
        "/proc/self/root/../secret".into(),
        "/proc/1/root/../../secret".into(),
        "/proc/self/cwd/../secret".into(),
        format!("{host_dir}/secret"),
        format!("/up{host_dir}/secret"),
        format!("/abs/..{host_dir}/secret"),
    ];
    let mut script = String::from("cd /a/b/c; exec 3</; ");
    for p in &tries {
        script.push_str(&format!("/bin/busybox cat '{p}' 2>/dev/null; /bin/busybox cat '/proc/self/fd/3/..{p}' 2>/dev/null; "));
    }
    script.push_str("/bin/busybox ls / | /bin/busybox grep -cx secret; echo done");
    let rootfs = root.to_string_lossy().into_owned();
    let out = sandboxed_with(&["--rootfs", &rootfs], &["/bin/busybox", "sh", "-c", &script]);
    assert!(
        !out.stdout_str().contains("TOPSECRET") && out.stdout_str().ends_with("0\ndone\n"),
        "a file outside the rootfs was read, or the shell did not run\n{}",
        out.describe()
    );
}
