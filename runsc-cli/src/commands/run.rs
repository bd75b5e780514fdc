//! `sandbox run`: runs one program in a new sandbox, with the host's root (or `--rootfs`) as a
//! read-only root, and exits with its status.
//!
//! It starts the gofer on one end of a socket pair, then re-executes itself as the sentry
//! (`sandbox boot`) on the other end, keeping its pid: whoever waits for `sandbox run` waits
//! for the sentry, and killing it kills the sandbox (the gofer and the stubs die with it).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::logging::Settings;

/// Run a program in a new sandbox.
///
/// The host's root filesystem (or --rootfs) is visible read-only; the program gets a clean
/// environment (PATH, HOME, TERM, plus --env), sees itself as pid 1 of its own sandbox, and
/// its exit status becomes sandbox's (128+N when killed by signal N; 127 when the program
/// is not found, 126 when it cannot be executed, 125 when the sandbox fails).
#[derive(clap::Args)]
pub struct RunArgs {
    /// Platform that runs the program's threads. Only `ptrace` exists so far.
    #[arg(long, default_value = "ptrace", value_parser = ["ptrace"])]
    platform: String,
    /// Directory to use as the root filesystem (read-only).
    #[arg(long, default_value = "/", value_name = "DIR")]
    rootfs: PathBuf,
    /// Set an environment variable in the sandbox (repeatable).
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Hostname inside the sandbox.
    #[arg(long, default_value = "sandbox")]
    hostname: String,
    /// Print every system call of the program to stderr, like strace.
    #[arg(long)]
    strace: bool,
    /// The program (a path, or a name looked up in PATH inside the sandbox) and its arguments.
    #[arg(last = true, required = true, value_name = "PROGRAM")]
    command: Vec<String>,
}

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The program's environment: defaults, then `--env` entries replacing same-named ones.
fn environment(extra: &[String]) -> Vec<String> {
    let mut env = vec![DEFAULT_PATH.to_string(), "HOME=/root".to_string()];
    if let Ok(term) = std::env::var("TERM") {
        env.push(format!("TERM={term}"));
    }
    for e in extra {
        let key = e.split('=').next().unwrap_or(e);
        env.retain(|old| old.split('=').next() != Some(key));
        env.push(e.clone());
    }
    env
}

fn socket_pair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints for the kernel to fill.
    #[allow(unsafe_code)]
    let r = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    #[allow(unsafe_code)]
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Starts `sandbox gofer` serving `root` on `sock` (as its fd 3); it dies with this process.
fn spawn_gofer(root: &std::path::Path, sock: OwnedFd, logs: &Settings) -> std::io::Result<()> {
    let raw = sock.as_raw_fd();
    let mut cmd = Command::new("/proc/self/exe");
    cmd.args(logs.to_args()).arg("gofer").arg("--root").arg(root).arg("--fd").arg("3");
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    // SAFETY: between fork and exec only async-signal-safe calls (dup2, prctl) are made.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 3) < 0 || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()?;
    Ok(())
}

pub fn main(args: RunArgs, logs: &Settings) -> i32 {
    match std::fs::metadata(&args.rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return fail(&format!("rootfs {}: Not a directory", args.rootfs.display())),
        Err(e) => return fail(&format!("rootfs {}: {}", args.rootfs.display(), strip_os_error(&e))),
    }
    let (sentry_end, gofer_end) = match socket_pair() {
        Ok(p) => p,
        Err(e) => return fail(&format!("creating the gofer socket: {e}")),
    };
    if let Err(e) = spawn_gofer(&args.rootfs, gofer_end, logs) {
        return fail(&format!("starting the gofer: {e}"));
    }
    // The sentry inherits its end of the socket across the exec below.
    let fd = sentry_end.as_raw_fd();
    // SAFETY: clears close-on-exec on a descriptor we own.
    #[allow(unsafe_code)]
    unsafe {
        libc::fcntl(fd, libc::F_SETFD, 0);
    }
    let mut boot = Command::new("/proc/self/exe");
    boot.args(logs.to_args()).arg("boot").arg("--gofer-fd").arg(fd.to_string()).arg("--hostname").arg(&args.hostname);
    if args.strace {
        boot.arg("--strace");
    }
    for e in environment(&args.env) {
        boot.arg("--env").arg(e);
    }
    boot.arg("--").args(&args.command);
    let err = boot.exec();
    fail(&format!("starting the sentry: {err}"))
}

fn strip_os_error(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn fail(msg: &str) -> i32 {
    eprintln!("sandbox: {msg}");
    125
}
