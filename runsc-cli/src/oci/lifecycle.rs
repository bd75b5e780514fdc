//! The runc-compatible container commands: create, start, state, kill, delete, list, ps,
//! pause, resume, events, spec and features. `exec` is in [`super::exec`].
//!
//! Each command returns `Err(message)` for the caller to report in runc's way (see
//! [`super::report`]).

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::cgroups::{Cgroup, Limits};
use super::spec::{self, Spec};
use super::state::{check_id, start_time, Container, Saved, Status, CONTROL_SOCKET, EXEC_FIFO};
use super::{control, hooks, unix, Global};
use crate::logging::Settings;

/// Create a container: start its sandbox, which waits for `start` before running the process.
#[derive(clap::Args)]
pub struct CreateArgs {
    /// The bundle: the directory holding config.json (default: the current directory).
    #[arg(short, long, value_name = "DIR")]
    bundle: Option<PathBuf>,
    /// Write the container's host pid (the sentry) to this file.
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Unix socket to send the terminal's master to, when process.terminal is true.
    #[arg(long, value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// Accepted for runc compatibility (the sandbox never pivots the host's root).
    #[arg(long)]
    no_pivot: bool,
    /// Accepted for runc compatibility.
    #[arg(long)]
    no_new_keyring: bool,
    /// Accepted for runc compatibility (no descriptors beyond stdio are passed in).
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    id: String,
}

pub fn create(g: &Global, args: CreateArgs) -> Result<(), String> {
    create_container(g, &args, Attach::Detached).map(drop)
}

/// How a container's sentry relates to the command that creates it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Attach {
    /// A session of its own (the terminal, if any, comes through --console-socket).
    Detached,
    /// `run` in the foreground: it stays in the caller's session and uses its terminal.
    Foreground,
}

/// `create`; returns the sentry's pid.
fn create_container(g: &Global, args: &CreateArgs, attach: Attach) -> Result<i32, String> {
    check_id(&args.id)?;
    let bundle = match &args.bundle {
        Some(b) => b.clone(),
        None => std::env::current_dir().map_err(|e| format!("current directory: {e}"))?,
    };
    let bundle = std::fs::canonicalize(&bundle).map_err(|e| format!("bundle {}: {}", bundle.display(), crate::commands::run::strip_os_error(&e)))?;
    let spec = spec::load(&bundle)?;
    spec.validate(&bundle)?;
    let process = spec.process();
    if process.terminal && args.console_socket.is_none() && attach == Attach::Detached {
        return Err("cannot allocate tty if runc will detach without setting console socket".into());
    }
    if !process.terminal && args.console_socket.is_some() {
        return Err("cannot use console socket if runc will not detach or allocate tty".into());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&g.root).map_err(|e| format!("root {}: {e}", g.root.display()))?;
    let dir = g.root.join(&args.id);
    match std::fs::DirBuilder::new().mode(0o711).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(format!("container with id exists: {}", args.id)),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    }
    let mut undo = Undo { dir: Some(dir.clone()), pid: None, cgroup: None };
    let cgroup = Cgroup::create(spec.linux.as_ref().and_then(|l| l.cgroups_path.as_deref()), &args.id, &limits(&spec))?;
    undo.cgroup = Some(cgroup.clone());
    make_fifo(&dir.join(EXEC_FIFO))?;
    let console = match &args.console_socket {
        Some(socket) => {
            let size = process.console_size.as_ref().map(|s| (u16::try_from(s.height).unwrap_or(u16::MAX), u16::try_from(s.width).unwrap_or(u16::MAX)));
            Some(unix::console_to_socket(socket, size)?)
        }
        None => None,
    };
    let (pid, sync) = spawn_sentry(g, &bundle, &dir, &cgroup, console, attach)?;
    undo.pid = Some(pid);
    wait_until_ready(sync, pid)?;
    let container = Container {
        dir: dir.clone(),
        saved: Saved {
            id: args.id.clone(),
            pid,
            pid_start_time: start_time(pid).ok_or("the sandbox exited during create")?,
            bundle: bundle.clone(),
            rootfs: spec.rootfs(&bundle),
            created: crate::logging::rfc3339_now(),
            annotations: spec.annotations.clone(),
            hooks: spec.hooks.clone().unwrap_or_default(),
            cgroup: Some(cgroup),
        },
    };
    container.save()?;
    // The sandbox's namespaces exist now: the runtime's own hooks run, then the container's
    // (which runc runs inside the container; here they run on the host, with the same state).
    let creating = container.state_json(Status::Creating);
    let h = &container.saved.hooks;
    hooks::run("prestart", &h.prestart, &creating)?;
    hooks::run("createRuntime", &h.create_runtime, &creating)?;
    hooks::run("createContainer", &h.create_container, &creating)?;
    if let Some(file) = &args.pid_file {
        write_pid_file(file, pid.unsigned_abs())?;
    }
    undo.disarm();
    Ok(pid)
}

/// What a failed `create` must take back: the sentry, the cgroup, the state directory.
struct Undo {
    dir: Option<PathBuf>,
    pid: Option<i32>,
    cgroup: Option<Cgroup>,
}

impl Undo {
    fn disarm(&mut self) {
        (self.dir, self.pid, self.cgroup) = (None, None, None);
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            kill_and_reap(pid);
        }
        if let Some(cgroup) = &self.cgroup {
            cgroup.destroy();
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn limits(spec: &Spec) -> Limits {
    let Some(r) = spec.linux.as_ref().and_then(|l| l.resources.as_ref()) else { return Limits::default() };
    let mut l = Limits::default();
    if let Some(m) = &r.memory {
        l.memory = m.limit;
        l.memory_swap = m.swap;
    }
    if let Some(c) = &r.cpu {
        l.cpu_shares = c.shares;
        l.cpu_quota = c.quota;
        l.cpu_period = c.period;
        l.cpuset_cpus = c.cpus.clone().filter(|s| !s.is_empty());
    }
    l.pids = r.pids.as_ref().map(|p| p.limit);
    l
}

fn make_fifo(path: &Path) -> Result<(), String> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: mkfifo reads a NUL-terminated path.
    #[allow(unsafe_code)]
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(format!("{}: {}", path.display(), std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Starts `sandbox container-boot` in the container's cgroup, in a session of its own (with
/// the terminal, if any, as its controlling terminal and standard streams). Returns its pid
/// and the read end of its sync pipe.
fn spawn_sentry(g: &Global, bundle: &Path, dir: &Path, cgroup: &Cgroup, console: Option<OwnedFd>, attach: Attach) -> Result<(i32, std::fs::File), String> {
    let (read, write) = std::io::pipe().map_err(|e| format!("sync pipe: {e}"))?;
    let sync = OwnedFd::from(write);
    let raw = sync.as_raw_fd();
    let mut cmd = Command::new("/proc/self/exe");
    let logs = match &g.debug_log {
        Some(logs_dir) => {
            let id = dir.file_name().unwrap_or_default().to_string_lossy();
            Settings { debug: true, log: Some(logs_dir.join(format!("{id}.log"))), format: g.logs.format }
        }
        None => g.logs.clone(),
    };
    cmd.args(logs.to_args()).arg("container-boot").arg("--bundle").arg(bundle).arg("--state-dir").arg(dir).arg("--sync-fd").arg("3");
    if g.strace {
        cmd.arg("--strace");
    }
    cmd.arg("--platform").arg(&g.platform);
    let tty = console.as_ref().map(AsRawFd::as_raw_fd);
    if let Some(t) = &console {
        let f = || t.try_clone().map(Stdio::from).map_err(|e| format!("terminal: {e}"));
        cmd.stdin(f()?).stdout(f()?).stderr(f()?);
    }
    let procs = cgroup.procs_files();
    // SAFETY: between fork and exec only async-signal-safe calls are made (dup2, setsid,
    // ioctl, open, write, close, getpid); the pid text is formatted into a stack buffer.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 3) < 0 || (attach == Attach::Detached && libc::setsid() < 0) {
                return Err(std::io::Error::last_os_error());
            }
            if tty.is_some() {
                unix::make_controlling_terminal(0)?;
            }
            let mut buf = [0u8; 16];
            let text = format_pid(libc::getpid(), &mut buf);
            for file in &procs {
                let fd = libc::open(file.as_ptr(), libc::O_WRONLY);
                if fd < 0 || libc::write(fd, text.as_ptr().cast(), text.len()) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(fd);
            }
            libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| format!("starting the sandbox: {e}"))?;
    drop(sync);
    let pid = i32::try_from(child.id()).map_err(|e| e.to_string())?;
    // Not waited for here: when `create` exits, the sentry passes to the caller's subreaper.
    std::mem::forget(child);
    Ok((pid, std::fs::File::from(OwnedFd::from(read))))
}

/// Decimal digits of `pid` in `buf`, without allocating.
fn format_pid(pid: i32, buf: &mut [u8; 16]) -> &[u8] {
    let mut n = pid.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Reads the sentry's verdict: "ok", or what went wrong.
fn wait_until_ready(mut sync: std::fs::File, pid: i32) -> Result<(), String> {
    let mut text = String::new();
    let _ = sync.read_to_string(&mut text);
    if text == "ok" {
        return Ok(());
    }
    if text.is_empty() {
        let mut status = 0;
        // SAFETY: waits for our own child; `status` is a valid out pointer.
        #[allow(unsafe_code)]
        unsafe {
            libc::waitpid(pid, &mut status, 0)
        };
        return Err(format!("the sandbox exited before it was ready (wait status {status:#x}); see the log for why"));
    }
    Err(text)
}

pub fn write_pid_file(file: &Path, pid: u32) -> Result<(), String> {
    let tmp = file.with_extension("sandbox-tmp");
    std::fs::write(&tmp, pid.to_string()).map_err(|e| format!("pid file {}: {e}", file.display()))?;
    std::fs::rename(&tmp, file).map_err(|e| format!("pid file {}: {e}", file.display()))
}

/// Sends `sig` to a container's sentry (SIGKILL ends the whole sandbox: its gofer and stubs
/// die with it).
fn signal_sentry(pid: i32, sig: i32) -> std::io::Result<()> {
    // SAFETY: kill(2) takes integers only.
    #[allow(unsafe_code)]
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// SIGKILLs the sentry `pid`, our child, and reaps it.
fn kill_and_reap(pid: i32) {
    let _ = signal_sentry(pid, libc::SIGKILL);
    // SAFETY: waits for our own child; a null status pointer is allowed.
    #[allow(unsafe_code)]
    unsafe {
        libc::waitpid(pid, std::ptr::null_mut(), 0)
    };
}

/// Create, start and wait for a container, then delete it (runc's `run`).
#[derive(clap::Args)]
pub struct RunArgs {
    /// Return once the container has started, leaving it running.
    #[arg(short, long)]
    detach: bool,
    #[command(flatten)]
    create: CreateArgs,
}

/// `run` in its OCI form: create, start, and unless detached wait for the container, delete
/// it and give its exit status. Keyboard signals reach the sentry from the shared terminal;
/// others sent to this process are passed on to it.
pub fn run(g: &Global, args: RunArgs) -> Result<i32, String> {
    let id = args.create.id.clone();
    let create_args = args.create;
    let attach = if args.detach { Attach::Detached } else { Attach::Foreground };
    let pid = create_container(g, &create_args, attach)?;
    if let Err(e) = start_container(g, &id) {
        let _ = delete(g, DeleteArgs { force: true, id });
        return Err(e);
    }
    if args.detach {
        return Ok(0);
    }
    let status = wait_passing_signals(pid);
    delete(g, DeleteArgs { force: true, id })?;
    Ok(status)
}

/// Waits for our child `pid` (the sentry) and gives its exit status as a shell would; the
/// signals this process gets meanwhile are passed on to it, except keyboard ones, which the
/// terminal already sent it.
fn wait_passing_signals(pid: i32) -> i32 {
    const PASSED: [i32; 5] = [libc::SIGTERM, libc::SIGHUP, libc::SIGUSR1, libc::SIGUSR2, libc::SIGWINCH];
    // SAFETY: signal-mask and disposition changes of this single-threaded process; sigset_t
    // is plain data set up by sigemptyset; waitpid and kill act on our own child.
    #[allow(unsafe_code)]
    unsafe {
        for sig in [libc::SIGINT, libc::SIGQUIT, libc::SIGTSTP] {
            libc::signal(sig, libc::SIG_IGN);
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in PASSED {
            libc::sigaddset(&mut set, sig);
        }
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        loop {
            let mut status = 0;
            if libc::waitpid(pid, &mut status, libc::WNOHANG) == pid {
                return if libc::WIFSIGNALED(status) { 128 + libc::WTERMSIG(status) } else { libc::WEXITSTATUS(status) };
            }
            let mut sig = 0;
            libc::sigwait(&set, &mut sig);
            if sig != libc::SIGCHLD {
                libc::kill(pid, sig);
            }
        }
    }
}

/// Start a created container's process.
#[derive(clap::Args)]
pub struct IdArgs {
    id: String,
}

pub fn start(g: &Global, args: IdArgs) -> Result<(), String> {
    start_container(g, &args.id)
}

fn start_container(g: &Global, id: &str) -> Result<(), String> {
    let c = Container::load(&g.root, id)?;
    match c.status() {
        Status::Created => {}
        Status::Stopped => return Err("cannot start a container that has stopped".into()),
        Status::Running | Status::Paused => return Err("cannot start an already running container".into()),
        Status::Creating => return Err("cannot start a container that is still being created".into()),
    }
    let fifo = c.dir.join(EXEC_FIFO);
    let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo).map_err(|e| format!("{}: {e}", fifo.display()))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut byte = [0u8; 1];
        match (&f).read(&mut byte) {
            Ok(1) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("{}: {e}", fifo.display())),
        }
        if !c.alive() {
            return Err("the sandbox exited before it could start".into());
        }
        if Instant::now() > deadline {
            return Err("the sandbox did not take the start signal in 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let _ = std::fs::remove_file(&fifo);
    if let Err(e) = hooks::run("startContainer", &c.saved.hooks.start_container, &c.state_json(Status::Running))
        .and_then(|()| hooks::run("poststart", &c.saved.hooks.poststart, &c.state_json(Status::Running)))
    {
        tracing::warn!("{e}");
    }
    Ok(())
}

/// Output the state of a container as JSON.
pub fn state(g: &Global, args: IdArgs) -> Result<(), String> {
    let c = Container::load(&g.root, &args.id)?;
    let doc = c.state_json(c.status());
    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    Ok(())
}

/// Send a signal to the container's init (default SIGTERM), or with --all to every process.
#[derive(clap::Args)]
pub struct KillArgs {
    /// Send the signal to every process of the container.
    #[arg(short, long)]
    all: bool,
    id: String,
    /// A signal name (TERM, SIGTERM) or number.
    #[arg(default_value = "SIGTERM")]
    signal: String,
}

pub fn kill(g: &Global, args: KillArgs) -> Result<(), String> {
    let sig = parse_signal(&args.signal)?;
    let c = Container::load(&g.root, &args.id)?;
    let status = c.status();
    if status == Status::Stopped {
        return Err("container not running".into());
    }
    if sig == libc::SIGKILL || status == Status::Created {
        // Before start there is no workload to signal; SIGKILL ends the whole sandbox at once.
        return signal_sentry(c.saved.pid, sig).map_err(|e| format!("kill {}: {e}", c.saved.pid));
    }
    let conn = unix::connect_seqpacket(&c.dir.join(CONTROL_SOCKET)).map_err(|e| format!("control socket: {e}"))?;
    control::send(&conn, &control::Request::Kill { signal: sig, all: args.all }, &[]).map_err(|e| format!("control socket: {e}"))?;
    match control::recv::<control::Reply>(&conn) {
        Ok(Some((control::Reply::Done { .. }, _))) => Ok(()),
        Ok(_) => Err("control socket: no answer".into()),
        Err(e) => Err(format!("control socket: {e}")),
    }
}

/// A signal by name (`TERM`, `SIGTERM`, any case) or number.
pub fn parse_signal(s: &str) -> Result<i32, String> {
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=64).contains(&n) { Ok(n) } else { Err(format!("invalid signal: {s}")) };
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let standard = (1..32).find(|&n| syscall_tables::signal_name(n).and_then(|full| full.strip_prefix("SIG")) == Some(name));
    if let Some(n) = standard {
        return Ok(n);
    }
    if name == "IOT" {
        return Ok(libc::SIGABRT);
    }
    let rt = |base: i32, off: &str| off.parse::<i32>().ok().map(|o| base + o).filter(|n| (34..=64).contains(n));
    let parsed = match name {
        "RTMIN" => Some(34),
        "RTMAX" => Some(64),
        _ => name.strip_prefix("RTMIN+").and_then(|o| rt(34, o)).or_else(|| name.strip_prefix("RTMAX-").and_then(|o| rt(64, &format!("-{o}")))),
    };
    parsed.ok_or_else(|| format!("unknown signal \"{s}\""))
}

/// Delete a container's resources (the sandbox must have stopped, unless --force).
#[derive(clap::Args)]
pub struct DeleteArgs {
    /// Kill the container first if it still runs.
    #[arg(short, long)]
    force: bool,
    id: String,
}

pub fn delete(g: &Global, args: DeleteArgs) -> Result<(), String> {
    check_id(&args.id)?;
    let c = match Container::load(&g.root, &args.id) {
        Ok(c) => c,
        Err(e) => {
            // A create that was cut off may have left a directory without state.
            let dir = g.root.join(&args.id);
            let existed = dir.exists();
            let _ = std::fs::remove_dir_all(&dir);
            return if args.force || existed { Ok(()) } else { Err(e) };
        }
    };
    let status = c.status();
    match status {
        Status::Stopped | Status::Created => {}
        _ if args.force => {}
        s => return Err(format!("cannot delete container {} that is not stopped: {}", args.id, s.as_str())),
    }
    if status != Status::Stopped {
        if let Some(cg) = &c.saved.cgroup {
            let _ = cg.thaw();
        }
        let _ = signal_sentry(c.saved.pid, libc::SIGKILL);
        wait_gone(&c, Duration::from_secs(10));
    }
    if let Some(cg) = &c.saved.cgroup {
        cg.destroy();
    }
    if let Err(e) = hooks::run("poststop", &c.saved.hooks.poststop, &c.state_json(Status::Stopped)) {
        tracing::warn!("{e}");
    }
    std::fs::remove_dir_all(&c.dir).map_err(|e| format!("{}: {e}", c.dir.display()))
}

/// Waits (bounded) until the sentry has gone.
fn wait_gone(c: &Container, limit: Duration) {
    let deadline = Instant::now() + limit;
    while c.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

/// List the containers under --root.
#[derive(clap::Args)]
pub struct ListArgs {
    #[arg(short, long, value_enum, default_value = "table")]
    format: ListFormat,
    /// Print only the ids.
    #[arg(short, long)]
    quiet: bool,
}

pub fn list(g: &Global, args: ListArgs) -> Result<(), String> {
    let all = Container::list(&g.root);
    if args.quiet {
        for c in &all {
            println!("{}", c.saved.id);
        }
        return Ok(());
    }
    match args.format {
        ListFormat::Json => {
            let docs: Vec<_> = all.iter().map(|c| c.state_json(c.status())).collect();
            println!("{}", serde_json::Value::Array(docs));
        }
        ListFormat::Table => {
            let rows: Vec<[String; 5]> = all
                .iter()
                .map(|c| {
                    let status = c.status();
                    let pid = if status == Status::Stopped { 0 } else { c.saved.pid };
                    [c.saved.id.clone(), pid.to_string(), status.as_str().into(), c.saved.bundle.display().to_string(), c.saved.created.clone()]
                })
                .collect();
            let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED"];
            let width = |i: usize| rows.iter().map(|r| r[i].len()).chain([header[i].len()]).max().unwrap_or(0);
            let widths: Vec<usize> = (0..5).map(width).collect();
            let line = |cells: [&str; 5]| {
                let mut s = String::new();
                for (i, c) in cells.iter().enumerate() {
                    s.push_str(&format!("{c:<w$}   ", w = widths[i]));
                }
                s.push_str("root");
                s
            };
            println!("{}", line(header).replace("   root", "   OWNER"));
            for r in &rows {
                println!("{}", line([&r[0], &r[1], &r[2], &r[3], &r[4]]));
            }
        }
    }
    Ok(())
}

/// Show the container's host processes (the sentry, its gofer and stubs).
#[derive(clap::Args)]
pub struct PsArgs {
    #[arg(short, long, value_enum, default_value = "table")]
    format: ListFormat,
    id: String,
    /// Options passed to ps(1) for the table format (default -ef).
    #[arg(trailing_var_arg = true)]
    ps_args: Vec<String>,
}

pub fn ps(g: &Global, args: PsArgs) -> Result<(), String> {
    let c = Container::load(&g.root, &args.id)?;
    let pids = host_pids(&c);
    if args.format == ListFormat::Json {
        println!("{}", serde_json::to_string(&pids).unwrap_or_default());
        return Ok(());
    }
    let ps_args = if args.ps_args.is_empty() { vec!["-ef".to_string()] } else { args.ps_args };
    let out = Command::new("ps").args(&ps_args).output().map_err(|e| format!("ps: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header.split_whitespace().position(|h| h == "PID").ok_or("ps: no PID column")?;
    println!("{header}");
    for l in lines {
        if l.split_whitespace().nth(col).and_then(|p| p.parse::<i32>().ok()).is_some_and(|p| pids.contains(&p)) {
            println!("{l}");
        }
    }
    Ok(())
}

/// The host processes of a container: its cgroup's, or the sentry and its descendants.
fn host_pids(c: &Container) -> Vec<i32> {
    if !c.alive() {
        return Vec::new();
    }
    if let Some(pids) = c.saved.cgroup.as_ref().map(Cgroup::pids).filter(|p| !p.is_empty()) {
        return pids;
    }
    let mut pids = vec![c.saved.pid];
    let mut i = 0;
    while i < pids.len() {
        let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", pids[i])).unwrap_or_default();
        pids.extend(children.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
        i += 1;
    }
    pids.sort_unstable();
    pids
}

/// Suspend every process of the container.
pub fn pause(g: &Global, args: IdArgs) -> Result<(), String> {
    let c = Container::load(&g.root, &args.id)?;
    match c.status() {
        Status::Running | Status::Created => {}
        s => return Err(format!("container not running: {}", s.as_str())),
    }
    c.saved.cgroup.as_ref().ok_or("the container has no cgroup to freeze")?.freeze()
}

/// Resume a paused container.
pub fn resume(g: &Global, args: IdArgs) -> Result<(), String> {
    let c = Container::load(&g.root, &args.id)?;
    if c.status() != Status::Paused {
        return Err("container not paused".into());
    }
    c.saved.cgroup.as_ref().ok_or("the container has no cgroup")?.thaw()
}

/// Print the container's resource statistics as JSON events.
#[derive(clap::Args)]
pub struct EventsArgs {
    /// Print the statistics once and exit.
    #[arg(long)]
    stats: bool,
    /// Interval between statistics.
    #[arg(long, default_value = "5s", value_parser = parse_interval)]
    interval: Duration,
    id: String,
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let (n, unit) = s.find(|c: char| !c.is_ascii_digit()).map_or((s, "s"), |i| s.split_at(i));
    let n: u64 = n.parse().map_err(|_| format!("invalid interval {s}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("invalid interval {s}")),
    }
}

pub fn events(g: &Global, args: EventsArgs) -> Result<(), String> {
    let c = Container::load(&g.root, &args.id)?;
    loop {
        if c.status() == Status::Stopped {
            return Err("container not running".into());
        }
        let data = c.saved.cgroup.as_ref().map(Cgroup::stats).unwrap_or_default();
        println!("{}", serde_json::json!({ "type": "stats", "id": c.saved.id, "data": data }));
        if args.stats {
            return Ok(());
        }
        std::thread::sleep(args.interval);
    }
}

/// Write a default config.json (a busybox-style shell) into the bundle.
#[derive(clap::Args)]
pub struct SpecArgs {
    /// Bundle directory to write config.json into (default: the current directory).
    #[arg(short, long, value_name = "DIR")]
    bundle: Option<PathBuf>,
    /// A config for running without root (a user namespace with the caller's ids).
    #[arg(long)]
    rootless: bool,
}

pub fn spec_cmd(args: SpecArgs) -> Result<(), String> {
    let dir = args.bundle.unwrap_or_else(|| PathBuf::from("."));
    let path = dir.join("config.json");
    if path.exists() {
        return Err(format!("File {} exists. Remove it first", path.display()));
    }
    let text = serde_json::to_string_pretty(&spec::default_spec(args.rootless)).map_err(|e| e.to_string())?;
    std::fs::write(&path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))
}

/// Print what this runtime supports, as the runtime spec's features document.
pub fn features() -> Result<(), String> {
    println!("{}", serde_json::to_string_pretty(&spec::features()).unwrap_or_default());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_or_number() {
        for (s, n) in [("9", 9), ("KILL", 9), ("SIGTERM", 15), ("term", 15), ("sigusr1", 10), ("RTMIN", 34), ("RTMIN+2", 36), ("RTMAX-1", 63), ("SYS", 31)] {
            assert_eq!(parse_signal(s), Ok(n), "{s}");
        }
        for bad in ["0", "65", "FOO", "RTMIN+40", ""] {
            assert!(parse_signal(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pids_format_without_allocating() {
        let mut buf = [0u8; 16];
        assert_eq!(format_pid(0, &mut buf), b"0");
        assert_eq!(format_pid(4_194_304, &mut buf), b"4194304");
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_interval("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_interval("2"), Ok(Duration::from_secs(2)));
        assert!(parse_interval("x").is_err());
    }
}
