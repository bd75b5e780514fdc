//! Lifecycle tests of the OCI runtime commands, driven as container engines drive runc:
//! `--root`, `create --bundle --pid-file`, `start`, `state`, `exec`, `kill`, `pause`, `delete`.
//!
//! Each test has its own state root and bundle (a busybox rootfs) and deletes its containers
//! with `--force` when it ends, passing or not.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sandbox_tests::oci::{Fixture, TIMEOUT};
use sandbox_tests::{run_with_timeout, sandbox_bin};

/// A fixture whose container runs `args`.
fn fixture(args: &[&str]) -> Fixture {
    let f = Fixture::new("oci");
    f.set_args(args);
    f
}

fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists() && !fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z")
}

#[test]
fn create_start_exit_delete() {
    let f = fixture(&["sh", "-c", "echo hello from $(hostname) in $(pwd); exit 3"]);
    let (out, output) = f.create("life", &[]);
    assert_eq!(out.code(), Some(0), "create: {}", out.describe());
    assert_eq!(f.status("life"), "created");
    let pid: i32 = fs::read_to_string(f.pid_file("life")).unwrap().trim().parse().unwrap();
    assert!(pid_alive(pid), "the pid file names the waiting sandbox");
    assert_eq!(fs::read_to_string(&output).unwrap(), "", "nothing runs before start");
    let state = f.runtime(&["state", "life"]).stdout_str();
    assert!(state.contains(&format!("\"pid\": {pid}")) && state.contains("\"id\": \"life\""), "{state}");
    let out = f.runtime(&["start", "life"]);
    assert_eq!(out.code(), Some(0), "start: {}", out.describe());
    f.wait_status("life", "stopped");
    assert_eq!(fs::read_to_string(&output).unwrap(), "hello from sandbox in /\n");
    let again = f.runtime(&["start", "life"]);
    assert_eq!(again.code(), Some(1));
    assert!(again.stderr_str().contains("cannot start a container that has stopped"), "{}", again.describe());
    let out = f.runtime(&["delete", "life"]);
    assert_eq!(out.code(), Some(0), "delete: {}", out.describe());
    assert!(!f.root().join("life").exists(), "delete removes the state directory");
}

#[test]
fn config_json_is_honoured() {
    let f = fixture(&["true"]);
    let shared = f.path().join("shared");
    fs::create_dir_all(&shared).unwrap();
    fs::write(shared.join("note"), "from the host\n").unwrap();
    let script = "echo $(hostname) $(id -u):$(id -g) $(pwd) $GREETING; ulimit -n; cat /data/note; \
                  touch /data/x 2>/dev/null || echo data-ro; touch /etc/x 2>/dev/null || echo root-ro; \
                  touch /scratch/x && echo scratch-rw";
    f.edit_config(|c| {
        c["process"]["args"] = serde_json::json!(["sh", "-c", script]);
        c["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 100});
        c["process"]["cwd"] = "/bin".into();
        c["process"]["env"].as_array_mut().unwrap().push("GREETING=hi".into());
        c["process"]["rlimits"] = serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 4096}]);
        c["hostname"] = "oci-test".into();
        c["root"]["readonly"] = true.into();
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.push(serde_json::json!({"destination": "/data", "type": "bind", "source": shared, "options": ["rbind", "ro"]}));
        mounts.push(serde_json::json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777", "size=1m"]}));
    });
    let (out, output) = f.create("conf", &[]);
    assert_eq!(out.code(), Some(0), "create: {}", out.describe());
    assert_eq!(f.runtime(&["start", "conf"]).code(), Some(0));
    f.wait_status("conf", "stopped");
    assert_eq!(fs::read_to_string(output).unwrap(), "oci-test 1000:100 /bin hi\n321\nfrom the host\ndata-ro\nroot-ro\nscratch-rw\n");
}

#[test]
fn exec_kill_and_pause() {
    let f = fixture(&["sh", "-c", "trap 'echo got TERM; exit 0' TERM; while :; do sleep 0.1; done"]);
    let (out, output) = f.create("busy", &[]);
    assert_eq!(out.code(), Some(0), "create: {}", out.describe());
    assert_eq!(f.runtime(&["start", "busy"]).code(), Some(0));
    assert_eq!(f.status("busy"), "running");
    let out = f.runtime(&["exec", "busy", "sh", "-c", "echo inside as $(id -u) in $(pwd); exit 5"]);
    assert_eq!((out.code(), out.stdout_str().as_str()), (Some(5), "inside as 0 in /\n"), "{}", out.describe());
    let out = f.runtime(&["exec", "--cwd", "/bin", "--env", "X=42", "busy", "sh", "-c", "echo $X $(pwd)"]);
    assert_eq!(out.stdout_str(), "42 /bin\n", "{}", out.describe());
    let out = f.runtime(&["exec", "busy", "/bin/missing"]);
    assert_eq!(out.code(), Some(1));
    assert!(out.stderr_str().contains("/bin/missing"), "{}", out.describe());
    // The workload's processes are the sandbox's, not the host's.
    let out = f.runtime(&["exec", "busy", "ps"]);
    assert!(out.stdout_str().lines().any(|l| l.trim_start().starts_with("1 ") && l.contains("trap")), "{}", out.describe());
    let out = f.runtime(&["ps", "--format", "json", "busy"]);
    let pid = fs::read_to_string(f.pid_file("busy")).unwrap();
    assert!(out.stdout_str().contains(pid.trim()), "ps lists the sentry: {}", out.describe());

    let out = f.runtime(&["pause", "busy"]);
    assert_eq!(out.code(), Some(0), "pause: {}", out.describe());
    assert_eq!(f.status("busy"), "paused");
    let out = f.runtime(&["exec", "busy", "true"]);
    assert!(out.stderr_str().contains("paused"), "{}", out.describe());
    assert_eq!(f.runtime(&["resume", "busy"]).code(), Some(0));
    assert_eq!(f.status("busy"), "running");

    let out = f.runtime(&["delete", "busy"]);
    assert_eq!(out.code(), Some(1));
    assert!(out.stderr_str().contains("cannot delete container busy that is not stopped: running"), "{}", out.describe());
    let out = f.runtime(&["kill", "busy", "TERM"]);
    assert_eq!(out.code(), Some(0), "kill: {}", out.describe());
    f.wait_status("busy", "stopped");
    assert!(fs::read_to_string(&output).unwrap().contains("got TERM"));
    assert_eq!(f.runtime(&["kill", "busy", "KILL"]).code(), Some(1), "a stopped container cannot be signalled");
    assert_eq!(f.runtime(&["delete", "busy"]).code(), Some(0));
}

#[test]
fn init_ignores_unhandled_signals_but_not_sigkill() {
    let f = fixture(&["sleep", "1000"]);
    assert_eq!(f.create("sleeper", &[]).0.code(), Some(0));
    assert_eq!(f.runtime(&["start", "sleeper"]).code(), Some(0));
    // Like a pid namespace's init: SIGTERM without a handler is ignored.
    assert_eq!(f.runtime(&["kill", "sleeper", "15"]).code(), Some(0));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(f.status("sleeper"), "running");
    assert_eq!(f.runtime(&["kill", "sleeper", "SIGKILL"]).code(), Some(0));
    f.wait_status("sleeper", "stopped");
}

#[test]
fn detached_exec_has_a_waiter_with_its_status() {
    // SAFETY: prctl with integer arguments.
    #[allow(unsafe_code)]
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1)
    };
    let f = fixture(&["sleep", "1000"]);
    assert_eq!(f.create("host", &[]).0.code(), Some(0));
    assert_eq!(f.runtime(&["start", "host"]).code(), Some(0));
    let pid_file = f.path().join("exec.pid");
    let mut cmd = f.command();
    cmd.args(["exec", "--detach", "--pid-file"]).arg(&pid_file).args(["host", "sh", "-c", "sleep 1; exit 9"]);
    // The caller's output is shared with the exec'd process (as with runc): null here, so that
    // returning does not wait for the process.
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let start = Instant::now();
    let status = cmd.status().unwrap();
    assert!(status.success(), "exec --detach: {status}");
    assert!(start.elapsed() < Duration::from_millis(900), "exec --detach returned in {:?}", start.elapsed());
    let waiter: i32 = fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert!(pid_alive(waiter));
    let mut status = 0;
    // SAFETY: waits for the waiter, which became our child when `exec` exited (we are a
    // subreaper, as containerd's shim is); `status` is a valid out pointer.
    #[allow(unsafe_code)]
    let reaped = unsafe { libc::waitpid(waiter, &mut status, 0) };
    assert_eq!(reaped, waiter);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 9, "the waiter exits with the process's status, not {status:#x}");
}

#[test]
fn bad_input_is_refused_and_leaves_nothing() {
    let f = fixture(&["true"]);
    let missing = f.runtime(&["create", "--bundle", "/nonexistent/bundle", "x1"]);
    assert_eq!(missing.code(), Some(1));
    assert!(missing.stderr_str().contains("bundle /nonexistent/bundle: No such file or directory"), "{}", missing.describe());

    fs::write(f.bundle().join("config.json"), "{\"ociVersion\": \"1.0.2\",\n \"process\": {").unwrap();
    let (out, _) = f.create("x2", &[]);
    assert_eq!(out.code(), Some(1));
    assert!(out.stderr_str().contains("config.json: line 2"), "{}", out.describe());

    f.reset_config();
    f.set_args(&["true"]);
    f.edit_config(|c| c["process"]["cwd"] = "relative".into());
    let (out, _) = f.create("x3", &[]);
    assert!(out.stderr_str().contains("process.cwd"), "{}", out.describe());

    f.reset_config();
    f.set_args(&["/bin/not-there"]);
    let log = f.path().join("log.json");
    let mut cmd = f.command();
    cmd.arg("--log").arg(&log).args(["--log-format", "json", "create", "--bundle"]).arg(f.bundle()).arg("x4");
    let out = run_with_timeout(&mut cmd, TIMEOUT).unwrap();
    assert_eq!(out.code(), Some(1));
    let last = fs::read_to_string(&log).unwrap().lines().last().unwrap_or_default().to_string();
    assert!(last.contains("\"level\":\"error\"") && last.contains("\"msg\":\"/bin/not-there: No such file or directory\""), "{last}");

    f.reset_config();
    f.set_args(&["true"]);
    f.edit_config(|c| c["process"]["terminal"] = true.into());
    let (out, _) = f.create("x5", &[]);
    assert!(out.stderr_str().contains("console socket"), "{}", out.describe());

    // None of the failures left a state directory or a process behind.
    let left: Vec<_> = fs::read_dir(f.root()).map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(sandbox_tests::pids_with_exe(&sandbox_bin()).iter().all(|&p| !sandbox_tests::cmdline(p).unwrap_or_default().contains(&f.root().display().to_string())));

    f.reset_config();
    f.set_args(&["sleep", "1000"]);
    assert_eq!(f.create("dup", &[]).0.code(), Some(0));
    let (out, _) = f.create("dup", &[]);
    assert!(out.stderr_str().contains("container with id exists: dup"), "{}", out.describe());
    let out = f.runtime(&["state", "nope"]);
    assert!(out.stderr_str().contains("container nope does not exist"), "{}", out.describe());
    let out = f.runtime(&["delete", "--force", "nope"]);
    assert_eq!(out.code(), Some(0), "delete --force of an unknown id succeeds");
    let out = f.runtime(&["create", "--bundle", "/", "bad/id"]);
    assert!(out.stderr_str().contains("invalid container id format"), "{}", out.describe());
}

#[test]
fn delete_force_cleans_up_after_a_killed_sentry() {
    let f = fixture(&["sleep", "1000"]);
    assert_eq!(f.create("victim", &[]).0.code(), Some(0));
    assert_eq!(f.runtime(&["start", "victim"]).code(), Some(0));
    let pid: i32 = fs::read_to_string(f.pid_file("victim")).unwrap().trim().parse().unwrap();
    let children = sandbox_tests::children_of(pid);
    assert!(!children.is_empty(), "the sentry has its gofer and stubs");
    // SAFETY: kill(2) on a process this test started.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, libc::SIGKILL)
    };
    f.wait_status("victim", "stopped");
    let out = f.runtime(&["delete", "--force", "victim"]);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    assert!(!f.root().join("victim").exists());
    let deadline = Instant::now() + Duration::from_secs(5);
    while children.iter().any(|&c| pid_alive(c)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(children.iter().all(|&c| !pid_alive(c)), "nothing of the sandbox outlives its sentry");
}

#[test]
fn spec_and_features_documents() {
    let f = fixture(&["true"]);
    let out = f.runtime(&["spec", "--bundle", f.bundle().to_str().unwrap()]);
    assert!(out.stderr_str().contains("exists"), "spec does not overwrite: {}", out.describe());
    let out = f.runtime(&["features"]);
    assert_eq!(out.code(), Some(0));
    for key in ["ociVersionMin", "ociVersionMax", "hooks", "mountOptions", "linux"] {
        assert!(out.stdout_str().contains(key), "features lacks {key}: {}", out.describe());
    }
    let out = f.runtime(&["list", "--format", "json"]);
    assert_eq!((out.code(), out.stdout_str().trim()), (Some(0), "[]"));
}

/// Receives one descriptor sent with `SCM_RIGHTS` on `conn`.
fn receive_fd(conn: &std::os::unix::net::UnixStream) -> std::os::fd::OwnedFd {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut data = [0u8; 64];
    let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
    let mut control = [0u64; 8];
    // SAFETY: the msghdr points at live buffers; the descriptor read from the control message
    // is new and owned by nobody else.
    #[allow(unsafe_code)]
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        assert!(libc::recvmsg(conn.as_raw_fd(), &mut msg, 0) > 0, "recvmsg on the console socket");
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        assert!(!cmsg.is_null() && (*cmsg).cmsg_type == libc::SCM_RIGHTS, "the console socket got a descriptor");
        std::os::fd::OwnedFd::from_raw_fd(libc::CMSG_DATA(cmsg).cast::<i32>().read_unaligned())
    }
}

#[test]
fn console_socket_gets_the_terminal() {
    use std::io::{Read, Write};
    let f = fixture(&["sh"]);
    f.edit_config(|c| c["process"]["terminal"] = true.into());
    let socket_path = f.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
    let (out, _) = f.create("tty", &["--console-socket", socket_path.to_str().unwrap()]);
    assert_eq!(out.code(), Some(0), "create: {}", out.describe());
    let (conn, _) = listener.accept().unwrap();
    let mut master = fs::File::from(receive_fd(&conn));
    assert_eq!(f.runtime(&["start", "tty"]).code(), Some(0));
    master.write_all(b"[ -t 0 ] && [ -t 1 ] && echo TTY-$((6*7)); exit 4\n").unwrap();
    // Read until the shell has gone (EIO on the master once the slave is closed everywhere).
    let mut text = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.extend_from_slice(&buf[..n]),
        }
        if String::from_utf8_lossy(&text).contains("TTY-42") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("TTY-42"), "the workload sees a terminal: {text:?}");
    f.wait_status("tty", "stopped");
}

#[test]
fn run_in_runc_form_waits_and_deletes() {
    let f = fixture(&["sh", "-c", "echo ran; exit 6"]);
    let out_file = f.path().join("run.out");
    let out = fs::File::create(&out_file).unwrap();
    let status = f
        .command()
        .args(["run", "--bundle"])
        .arg(f.bundle())
        .arg("fg")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(6), "run gives the container's status: {}", fs::read_to_string(&out_file).unwrap());
    assert_eq!(fs::read_to_string(&out_file).unwrap(), "ran\n");
    assert!(!f.root().join("fg").exists(), "run deletes the container");
    // `run -- PROGRAM` keeps meaning our own form.
    let out = run_with_timeout(Command::new(sandbox_bin()).args(["run", "--", "/bin/sh", "-c", "exit 3"]), TIMEOUT).unwrap();
    assert_eq!(out.code(), Some(3), "{}", out.describe());
}
