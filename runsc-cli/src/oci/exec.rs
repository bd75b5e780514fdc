//! `sandbox exec`: runs a new process in a running container, through the sentry's control
//! socket. The caller waits for it, and gets its exit status; with `--detach`, a small waiter
//! process does, and its pid goes to `--pid-file`: it exits with the exec'd process's status
//! and passes the signals it gets on to that process, as runc's exec'd process would take them.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use super::boot::exec_spec;
use super::lifecycle::write_pid_file;
use super::control::{self, ExecSpec, Reply, Request};
use super::spec;
use super::state::{Container, Status, CONTROL_SOCKET};
use super::{unix, Global};

/// Run a process in a running container.
#[derive(clap::Args)]
pub struct ExecArgs {
    /// A JSON file with the process (the `process` object of config.json).
    #[arg(short, long, value_name = "FILE")]
    process: Option<PathBuf>,
    /// Do not wait: a waiter process stands for the exec'd one (see --pid-file).
    #[arg(short, long)]
    detach: bool,
    /// Write the pid of the process standing for the exec'd one to this file.
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Give the process a terminal.
    #[arg(short, long)]
    tty: bool,
    /// Unix socket to send the terminal's master to.
    #[arg(long, value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// Working directory in the container.
    #[arg(long, value_name = "DIR")]
    cwd: Option<String>,
    /// Set an environment variable (repeatable).
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// UID[:GID] to run as.
    #[arg(short, long, value_name = "UID[:GID]")]
    user: Option<String>,
    /// Additional group ids (repeatable).
    #[arg(short = 'g', long = "additional-gids", value_name = "GID")]
    additional_gids: Vec<u32>,
    /// Accepted for runc compatibility.
    #[arg(long)]
    no_new_privs: bool,
    /// Accepted for runc compatibility.
    #[arg(long, value_name = "LABEL")]
    process_label: Option<String>,
    /// Accepted for runc compatibility.
    #[arg(long, value_name = "PROFILE")]
    apparmor: Option<String>,
    /// Add a capability (CAP_NAME) to the process's bounding, effective and permitted sets
    /// (repeatable).
    #[arg(short, long = "cap", value_name = "CAP")]
    caps: Vec<String>,
    /// Accepted for runc compatibility.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    id: String,
    /// The command and its arguments (when no --process is given).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Returns the exit code `sandbox exec` should have.
pub fn exec(g: &Global, args: ExecArgs) -> Result<i32, String> {
    let c = Container::load(&g.root, &args.id)?;
    match c.status() {
        Status::Running => {}
        Status::Paused => return Err("cannot exec in a paused container".into()),
        Status::Created => return Err("cannot exec in a container that has not been started".into()),
        _ => return Err("cannot exec in a stopped container".into()),
    }
    let (spec, terminal, size) = process_spec(&c, &args)?;
    if terminal && args.console_socket.is_none() && args.detach {
        return Err("cannot allocate tty if runc will detach without setting console socket".into());
    }
    let tty = match (&args.console_socket, terminal) {
        (Some(socket), true) => Some(unix::console_to_socket(socket, size)?),
        (None, true) => None, // the caller's own terminal, as stdio
        (Some(_), false) => return Err("cannot use console socket if runc will not detach or allocate tty".into()),
        (None, false) => None,
    };
    let stdio: [RawFd; 3] = match &tty {
        Some(t) => [t.as_raw_fd(); 3],
        None => [0, 1, 2],
    };
    let conn = unix::connect_seqpacket(&c.dir.join(CONTROL_SOCKET)).map_err(|e| format!("control socket: {e}"))?;
    control::send(&conn, &Request::Exec(spec), &stdio).map_err(|e| format!("control socket: {e}"))?;
    drop(tty);
    match control::recv::<Reply>(&conn) {
        Ok(Some((Reply::Started { .. }, _))) => {}
        Ok(Some((Reply::Failed { error, .. }, _))) => return Err(format!("exec failed: {error}")),
        Ok(_) => return Err("control socket: the sandbox did not answer".into()),
        Err(e) => return Err(format!("control socket: {e}")),
    }
    if !args.detach {
        if let Some(file) = &args.pid_file {
            write_pid_file(file, std::process::id())?;
        }
        return Ok(wait_for_exit(&conn));
    }
    // SAFETY: this process is single-threaded; the child only runs Rust code that does not
    // depend on other threads, then exits.
    #[allow(unsafe_code)]
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(format!("fork: {}", std::io::Error::last_os_error())),
        0 => {
            detach_stdio();
            std::process::exit(wait_for_exit(&conn));
        }
        child => {
            if let Some(file) = &args.pid_file {
                write_pid_file(file, child.unsigned_abs())?;
            }
            Ok(0)
        }
    }
}

/// The process to start: `--process` or the container's own process with `args`, then the
/// command-line overrides. Also whether it wants a terminal, and the terminal's size.
fn process_spec(c: &Container, args: &ExecArgs) -> Result<(ExecSpec, bool, Option<TerminalSize>), String> {
    let process: spec::Process = match &args.process {
        Some(file) => {
            let text = std::fs::read(file).map_err(|e| format!("process {}: {e}", file.display()))?;
            serde_json::from_slice(&text).map_err(|e| format!("process {}: {e}", file.display()))?
        }
        None => {
            if args.command.is_empty() {
                return Err("exec: no command given (use --process or trailing arguments)".into());
            }
            let bundle = spec::load(&c.saved.bundle)?;
            let mut p = bundle.process.unwrap_or_default();
            p.args = args.command.clone();
            p.terminal = args.tty;
            p
        }
    };
    if process.args.is_empty() {
        return Err("process.args: must not be empty".into());
    }
    let mut process = process;
    if !args.caps.is_empty() {
        // As runc: the named capabilities join the bounding, effective and permitted sets.
        let caps = process.capabilities.get_or_insert_with(Default::default);
        for set in [&mut caps.bounding, &mut caps.effective, &mut caps.permitted] {
            set.extend(args.caps.iter().cloned());
        }
    }
    let mut spec = exec_spec(&process);
    if let Some(cwd) = &args.cwd {
        spec.cwd = cwd.clone();
    }
    for e in &args.env {
        let key = e.split('=').next().unwrap_or(e);
        spec.env.retain(|old| old.split('=').next() != Some(key));
        spec.env.push(e.clone());
    }
    if let Some(user) = &args.user {
        let (uid, gid) = user.split_once(':').map_or((user.as_str(), None), |(u, g)| (u, Some(g)));
        spec.uid = uid.parse().map_err(|_| format!("--user {user}: only numeric UID[:GID] is supported"))?;
        if let Some(g) = gid {
            spec.gid = g.parse().map_err(|_| format!("--user {user}: only numeric UID[:GID] is supported"))?;
        }
    }
    spec.groups.extend(&args.additional_gids);
    let size = process.console_size.as_ref().map(|s| (u16::try_from(s.height).unwrap_or(u16::MAX), u16::try_from(s.width).unwrap_or(u16::MAX)));
    Ok((spec, process.terminal || args.tty, size))
}

/// Rows and columns.
type TerminalSize = (u16, u16);

/// Waits for the exec'd process to end, passing on the signals this process gets; returns
/// its exit code.
fn wait_for_exit(conn: &OwnedFd) -> i32 {
    let signals = Signals::take();
    loop {
        let mut fds = [
            libc::pollfd { fd: conn.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: signals.as_ref().map_or(-1, |s| s.fd.as_raw_fd()), events: libc::POLLIN, revents: 0 },
        ];
        // SAFETY: poll on two valid pollfd entries (a negative fd is ignored).
        #[allow(unsafe_code)]
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            continue;
        }
        if fds[1].revents & libc::POLLIN != 0 {
            if let Some(sig) = signals.as_ref().and_then(Signals::read) {
                let _ = control::send(conn, &Request::Signal(sig), &[]);
            }
        }
        if fds[0].revents != 0 {
            return match control::recv::<Reply>(conn) {
                Ok(Some((Reply::Exited { code }, _))) => code,
                Ok(Some(_)) => continue,
                // The sentry went away (the container was killed).
                _ => 137,
            };
        }
    }
}

/// The signals a waiter passes on, taken through a signalfd.
struct Signals {
    fd: OwnedFd,
}

const PASSED_ON: [i32; 8] = [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM, libc::SIGUSR1, libc::SIGUSR2, libc::SIGWINCH, libc::SIGCONT];

impl Signals {
    fn take() -> Option<Signals> {
        use std::os::fd::FromRawFd;
        // SAFETY: sigset_t is plain data initialised by sigemptyset; the mask change and the
        // signalfd concern this process only; the returned descriptor is new and ours.
        #[allow(unsafe_code)]
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in PASSED_ON {
                libc::sigaddset(&mut set, s);
            }
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC);
            (fd >= 0).then(|| Signals { fd: OwnedFd::from_raw_fd(fd) })
        }
    }

    fn read(&self) -> Option<i32> {
        // SAFETY: signalfd_siginfo is plain data; read fills at most its size.
        #[allow(unsafe_code)]
        unsafe {
            let mut info: libc::signalfd_siginfo = std::mem::zeroed();
            let n = libc::read(self.fd.as_raw_fd(), (&mut info as *mut libc::signalfd_siginfo).cast(), std::mem::size_of_val(&info));
            (n > 0).then(|| i32::try_from(info.ssi_signo).unwrap_or(0)).filter(|&s| s > 0)
        }
    }
}

/// Points a detached waiter's standard streams at /dev/null, so that the caller reading
/// `exec`'s output sees it end, and leaves the caller's session.
fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
        for fd in 0..3 {
            // SAFETY: dup2 onto our own standard descriptors.
            #[allow(unsafe_code)]
            unsafe {
                libc::dup2(null.as_raw_fd(), fd)
            };
        }
    }
    // SAFETY: setsid has no memory effects.
    #[allow(unsafe_code)]
    unsafe {
        libc::setsid()
    };
}
