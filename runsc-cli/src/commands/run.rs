//! `sandbox run`: runs one program in a new sandbox, with the host's root (or `--rootfs`) under
//! an in-memory writable layer, plus any `-v` volumes, and exits with its status.
//!
//! It starts the gofer on one end of a socket pair, then re-executes itself as the sentry
//! (`sandbox boot`) on the other end, keeping its pid: whoever waits for `sandbox run` waits
//! for the sentry, and killing it kills the sandbox (the gofer and the stubs die with it).

use std::ffi::OsString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::logging::Settings;

/// Run a program in a new sandbox.
///
/// The host's root filesystem (or --rootfs) is visible, with every change kept in memory
/// (it never reaches the host); /tmp, /run and /dev/shm are fresh and empty. The program gets a clean
/// environment (PATH, HOME, TERM, plus --env), sees itself as pid 1 of its own sandbox, and
/// its exit status becomes sandbox's (128+N when killed by signal N; 127 when the program
/// is not found, 126 when it cannot be executed, 125 when the sandbox fails).
#[derive(clap::Args)]
pub struct RunArgs {
    /// Platform that runs the program's threads: `systrap` (system calls trap into a handler
    /// in the program's own process, through a seccomp filter) or `ptrace` (every system call
    /// is a ptrace stop; slower, for hosts without seccomp).
    #[arg(long, default_value = "systrap", value_parser = sentry::PlatformKind::NAMES)]
    platform: String,
    /// Directory to use as the root filesystem (never written: changes stay in memory).
    #[arg(long, default_value = "/", value_name = "DIR")]
    rootfs: PathBuf,
    /// Set an environment variable in the sandbox (repeatable).
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Hostname inside the sandbox.
    #[arg(long, default_value = "sandbox")]
    hostname: String,
    /// Bind a host file or directory into the sandbox, read-write unless `:ro` (repeatable).
    /// HOST must be an existing absolute path; GUEST an absolute path other than /.
    #[arg(short = 'v', long = "volume", value_name = "HOST:GUEST[:ro]")]
    volumes: Vec<String>,
    /// Print every system call of the program to stderr, like strace.
    #[arg(long)]
    strace: bool,
    /// Run interactively on this terminal: the program's standard streams are the terminal,
    /// and keyboard signals (Ctrl-C, Ctrl-\) go to the sandbox's foreground process group.
    /// Standard input must be a terminal.
    #[arg(short = 't', long)]
    tty: bool,
    /// The program (a path, or a name looked up in PATH inside the sandbox) and its arguments.
    /// (Without `--`, `run` takes runc's form instead: `sandbox run [-b BUNDLE] [-d] ID`.)
    #[arg(last = true, required = true, value_name = "PROGRAM")]
    command: Vec<String>,
}

/// A bind mount asked for with `-v HOST:GUEST[:ro]`: served by the gofer, mounted by the sentry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    /// The host file or directory: absolute, existing, symlinks resolved (as Docker does).
    pub host: PathBuf,
    /// Where it appears in the sandbox: absolute and normalised (no empty, `.` or `..`
    /// component, no trailing `/`), never `/` itself.
    pub guest: String,
    pub read_only: bool,
}

impl Volume {
    /// Parses one `-v` value and checks the host side exists. The error reads `volume SPEC:
    /// reason`, for `sandbox: ` to go in front.
    pub fn parse(spec: &str) -> Result<Volume, String> {
        let bad = |why: &str| format!("volume {spec}: {why}");
        let parts: Vec<&str> = spec.split(':').collect();
        let (host, guest, read_only) = match parts[..] {
            [host, guest] => (host, guest, false),
            [host, guest, "ro"] => (host, guest, true),
            [host, guest, "rw"] => (host, guest, false),
            [_, _, opt] => return Err(bad(&format!("unknown option '{opt}' (only ro and rw are supported)"))),
            _ => return Err(bad("expected HOST:GUEST[:ro]")),
        };
        if !host.starts_with('/') {
            return Err(bad("the host path must be absolute (named volumes are not supported)"));
        }
        let host = std::fs::canonicalize(host).map_err(|e| bad(&format!("{host}: {}", strip_os_error(&e))))?;
        let meta = std::fs::metadata(&host).map_err(|e| bad(&format!("{}: {}", host.display(), strip_os_error(&e))))?;
        if !meta.is_dir() && !meta.is_file() {
            return Err(bad("the host path is neither a directory nor a regular file"));
        }
        Ok(Volume { host, guest: normalise_guest(guest).map_err(bad)?, read_only })
    }

    /// The gofer's `--mount` value: `GUEST=HOST:ro` or `GUEST=HOST:rw` (the option always
    /// present, so that a host path ending in `:ro` cannot be misread).
    pub fn gofer_arg(&self) -> OsString {
        let mut arg = OsString::from(format!("{}=", self.guest));
        arg.push(&self.host);
        arg.push(if self.read_only { ":ro" } else { ":rw" });
        arg
    }

    /// The value for boot's `--volume GUEST[:ro]`.
    pub fn boot_arg(&self) -> String {
        if self.read_only { format!("{}:ro", self.guest) } else { self.guest.clone() }
    }
}

/// The guest path of a volume made canonical, or why it cannot be one.
pub fn normalise_guest(guest: &str) -> Result<String, &'static str> {
    if !guest.starts_with('/') {
        return Err("the container path must be absolute");
    }
    if guest.contains(['=', '\0']) {
        return Err("the container path must not contain '=' or NUL");
    }
    let mut out = String::new();
    for part in guest.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            return Err("the container path must not contain '..'");
        }
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() {
        return Err("cannot mount a volume on /");
    }
    Ok(out)
}

/// Parses every `-v` value, in order; two volumes on one guest path are an error.
pub fn parse_volumes(specs: &[String]) -> Result<Vec<Volume>, String> {
    let mut volumes: Vec<Volume> = Vec::with_capacity(specs.len());
    for spec in specs {
        let v = Volume::parse(spec)?;
        if volumes.iter().any(|o| o.guest == v.guest) {
            return Err(format!("volume {spec}: duplicate mount point {}", v.guest));
        }
        volumes.push(v);
    }
    Ok(volumes)
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

pub fn socket_pair() -> std::io::Result<(OwnedFd, OwnedFd)> {
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

/// Starts `sandbox gofer` serving `root` and `volumes` on `sock` (as its fd 3); it dies with this
/// process. With `net_isolated`, the caller is in an empty network namespace of its own, which
/// the gofer then shares instead of making one.
pub fn spawn_gofer(root: &Path, volumes: &[Volume], sock: OwnedFd, net_isolated: bool, logs: &Settings) -> std::io::Result<()> {
    let raw = sock.as_raw_fd();
    let mut cmd = Command::new("/proc/self/exe");
    cmd.args(logs.to_args()).arg("gofer").arg("--root").arg(root).arg("--fd").arg("3");
    for v in volumes {
        cmd.arg("--mount").arg(v.gofer_arg());
    }
    if net_isolated {
        cmd.arg("--net-isolated");
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    // SAFETY: between fork and exec only async-signal-safe calls (dup2, prctl, close_range) are
    // made.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 3) < 0 || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Whatever else our caller left open must not reach the gofer: mark it close-on-exec
            // (closing it here would also close the pipe std uses to report a failed exec).
            // Best effort: CLOSE_RANGE_CLOEXEC needs Linux 5.11.
            libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
            // A session of its own: keyboard signals meant for the sandbox never reach it.
            libc::setsid();
            Ok(())
        });
    }
    cmd.spawn()?;
    Ok(())
}

pub fn main(args: RunArgs, logs: &Settings) -> i32 {
    if args.tty && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return fail("--tty: standard input is not a terminal");
    }
    match std::fs::metadata(&args.rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return fail(&format!("rootfs {}: Not a directory", args.rootfs.display())),
        Err(e) => return fail(&format!("rootfs {}: {}", args.rootfs.display(), strip_os_error(&e))),
    }
    let volumes = match parse_volumes(&args.volumes) {
        Ok(v) => v,
        Err(e) => return fail(&e),
    };
    let (sentry_end, gofer_end) = match socket_pair() {
        Ok(p) => p,
        Err(e) => return fail(&format!("creating the gofer socket: {e}")),
    };
    // One empty network namespace for the gofer and the sentry (this process, after the exec
    // below): making one costs about half a millisecond, on the start-up's critical path.
    // Without the privilege, each tries for itself, as it would anyway.
    // SAFETY: unshare takes flags only.
    #[allow(unsafe_code)]
    let net_isolated = unsafe { libc::unshare(libc::CLONE_NEWNET) } == 0;
    if let Err(e) = spawn_gofer(&args.rootfs, &volumes, gofer_end, net_isolated, logs) {
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
    boot.arg("--platform").arg(&args.platform);
    if net_isolated {
        boot.arg("--net-isolated");
    }
    // The gofer serves each volume as the mount named by its guest path.
    for v in &volumes {
        boot.arg("--volume").arg(v.boot_arg());
    }
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

pub fn strip_os_error(e: &std::io::Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(host: &str, guest: &str, read_only: bool) -> Volume {
        Volume { host: PathBuf::from(host), guest: guest.into(), read_only }
    }

    #[test]
    fn volume_specs() {
        assert_eq!(Volume::parse("/tmp:/data"), Ok(vol("/tmp", "/data", false)));
        assert_eq!(Volume::parse("/tmp:/data:ro"), Ok(vol("/tmp", "/data", true)));
        assert_eq!(Volume::parse("/tmp:/data:rw"), Ok(vol("/tmp", "/data", false)));
        // The guest path is normalised; the host path resolved.
        assert_eq!(Volume::parse("/tmp/:/a//b/./c/:ro"), Ok(vol("/tmp", "/a/b/c", true)));
        assert_eq!(Volume::parse("/etc/../etc/passwd:/p"), Ok(vol("/etc/passwd", "/p", false)));
        let dir = std::env::temp_dir().join(format!("volume-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink("/tmp", dir.join("link")).unwrap();
        let spec = format!("{}:/l", dir.join("link").display());
        assert_eq!(Volume::parse(&spec), Ok(vol("/tmp", "/l", false)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn volume_errors_name_the_spec() {
        for (spec, why) in [
            ("/tmp", "expected HOST:GUEST[:ro]"),
            ("/tmp:/a:ro:x", "expected HOST:GUEST[:ro]"),
            ("/tmp:/a:z", "unknown option 'z'"),
            ("tmp:/a", "must be absolute (named volumes"),
            ("myvolume:/a", "must be absolute (named volumes"),
            (":/a", "must be absolute"),
            ("/does/not/exist:/a", "/does/not/exist: No such file or directory"),
            ("/dev/null:/a", "neither a directory nor a regular file"),
            ("/tmp:a", "container path must be absolute"),
            ("/tmp:", "container path must be absolute"),
            ("/tmp:/", "cannot mount a volume on /"),
            ("/tmp://./", "cannot mount a volume on /"),
            ("/tmp:/a/../b", "must not contain '..'"),
            ("/tmp:/a=b", "must not contain '='"),
        ] {
            let err = Volume::parse(spec).unwrap_err();
            assert!(err.starts_with(&format!("volume {spec}: ")), "{err}");
            assert!(err.contains(why), "{spec}: {err}");
        }
    }

    #[test]
    fn volumes_list() {
        let specs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let vs = parse_volumes(&specs(&["/tmp:/a", "/etc:/b:ro"])).unwrap();
        assert_eq!(vs, vec![vol("/tmp", "/a", false), vol("/etc", "/b", true)]);
        assert_eq!(vs[0].gofer_arg(), OsString::from("/a=/tmp:rw"));
        assert_eq!(vs[1].gofer_arg(), OsString::from("/b=/etc:ro"));
        assert_eq!((vs[0].boot_arg(), vs[1].boot_arg()), ("/a".to_string(), "/b:ro".to_string()));
        // Round trip through the gofer's parser.
        let back = super::super::gofer::MountArg::parse(vs[1].gofer_arg().to_str().unwrap()).unwrap();
        assert_eq!((back.guest.as_str(), back.host.as_path(), back.read_only), ("/b", Path::new("/etc"), true));
        assert_eq!(
            parse_volumes(&specs(&["/tmp:/a", "/etc:/a/:ro"])),
            Err("volume /etc:/a/:ro: duplicate mount point /a".to_string())
        );
        assert_eq!(parse_volumes(&[]), Ok(vec![]));
    }
}
