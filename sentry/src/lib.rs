//! The sentry: a user-space Linux kernel that answers every system call of the workload.
//!
//! [`boot`] builds the kernel (memory file, platform, file tree served by the gofer), loads
//! the first program as pid 1 and runs it to completion.
#![deny(unsafe_code)]

pub mod abi;
pub mod errno;
pub mod fs;
pub mod host_signals;
pub mod kernel;
pub mod loader;
pub mod mm;
pub mod net;
pub mod policy;
pub mod syscalls;
#[cfg(test)]
mod testing;
pub mod vdso;
pub mod vfs;

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

pub use errno::Errno;
pub use kernel::process::ExitStatus;
pub use kernel::task::CapSets;
pub use kernel::Kernel;

use fs::gofer::GoferInode;
use fs::overlay::Overlay;
use fs::tmpfs::{Tmpfs, TmpfsOptions};
use fs::host::HostStream;
use fs::synthetic::devfs;
use kernel::task::Task;
use vfs::walk::Walker;
use vfs::{Dentry, FdTable, File, S_IFREG};

/// Everything the sentry needs to start a sandbox (before any process runs in it).
pub struct SandboxConfig {
    /// Socket to the gofer serving the root.
    pub gofer: OwnedFd,
    pub hostname: String,
    pub strace: bool,
    pub tree: TreeConfig,
    /// The system call policy the workload's calls are checked against (OCI `linux.seccomp`).
    pub policy: Option<Arc<policy::Policy>>,
    /// What runs the workload's threads.
    pub platform: PlatformKind,
}

/// The platforms that can run a sandbox's threads (`--platform`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlatformKind {
    /// Stubs under `PTRACE_SYSEMU`: every system call is a ptrace stop.
    Ptrace,
    /// Stubs under a seccomp filter that traps system calls into a handler in the stub.
    #[default]
    Systrap,
}

impl PlatformKind {
    /// The names `--platform` takes.
    pub const NAMES: [&'static str; 2] = ["systrap", "ptrace"];

    pub fn name(self) -> &'static str {
        match self {
            PlatformKind::Ptrace => "ptrace",
            PlatformKind::Systrap => "systrap",
        }
    }
}

impl std::str::FromStr for PlatformKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ptrace" => Ok(PlatformKind::Ptrace),
            "systrap" => Ok(PlatformKind::Systrap),
            _ => Err(format!("unknown platform {s:?} (known: systrap, ptrace)")),
        }
    }
}

/// What the file tree holds besides the root and the sentry's own `/dev`, `/proc`, `/sys`,
/// `/tmp`, `/run` and `/dev/shm`.
#[derive(Clone, Debug, Default)]
pub struct TreeConfig {
    /// Bind mounts the gofer serves besides the root, mounted in this order.
    pub volumes: Vec<Volume>,
    /// Extra tmpfs mounts, made after the standard ones and before the volumes.
    pub tmpfs: Vec<TmpfsMount>,
    /// The root refuses changes (`EROFS`), as with config.json's `root.readonly`; the mounts
    /// on it keep their own modes.
    pub read_only_root: bool,
}

/// A process to start from outside: the first one, or one `exec`'d into a running sandbox.
pub struct ProcessSpec {
    /// The program as given: a path, or a name looked up in `PATH` inside the sandbox.
    pub program: String,
    /// argv, including argv[0].
    pub args: Vec<String>,
    pub env: Vec<String>,
    /// Absolute working directory in the sandbox.
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub umask: u32,
    /// Resource limits that differ from the defaults: (`RLIMIT_*`, soft, hard).
    pub rlimits: Vec<(u32, u64, u64)>,
    /// The capability sets the process has before its program is executed (executing it
    /// then transforms them as `execve` does). `None`: root gets every capability, any
    /// other user none.
    pub caps: Option<CapSets>,
    /// The host descriptors that become the process's 0, 1 and 2.
    pub stdio: [Option<OwnedFd>; 3],
}

impl ProcessSpec {
    /// A root process in `/` with the default limits.
    pub fn new(args: Vec<String>, env: Vec<String>, stdio: [Option<OwnedFd>; 3]) -> ProcessSpec {
        let program = args.first().cloned().unwrap_or_default();
        ProcessSpec { program, args, env, cwd: "/".into(), uid: 0, gid: 0, groups: Vec::new(), umask: 0o022, rlimits: Vec::new(), caps: None, stdio }
    }
}

/// A tmpfs at `path` (absolute), made in the root if missing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TmpfsMount {
    pub path: String,
    pub mode: u32,
    pub max_bytes: Option<u64>,
}

/// A bind mount (`sandbox run -v HOST:GUEST[:ro]`): the gofer serves it as the mount named
/// `guest`; the sentry mounts it at `guest`, making the mount point in the root overlay if it
/// is missing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    /// Absolute, normalised path in the sandbox.
    pub guest: String,
    /// Asked read-only (the gofer enforces it and says so when attaching).
    pub read_only: bool,
}

/// Why a sandbox could not start its program.
#[derive(Debug)]
pub enum BootError {
    /// The sandbox itself could not be set up.
    Setup(String),
    /// The program could not be executed.
    Exec { program: String, errno: Errno, context: Option<String> },
}

impl std::fmt::Display for BootError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BootError::Setup(s) => write!(f, "{s}"),
            BootError::Exec { program, errno, context: Some(c) } => write!(f, "{program}: {c}: {errno}"),
            BootError::Exec { program, errno, context: None } => write!(f, "{program}: {errno}"),
        }
    }
}

impl BootError {
    /// The exit status a shell gives for this failure: 127 not found, 126 not executable.
    pub fn exit_code(&self) -> i32 {
        match self {
            BootError::Exec { errno, .. } if *errno == Errno::ENOENT || *errno == Errno::ENOTDIR => 127,
            BootError::Exec { .. } => 126,
            BootError::Setup(_) => 125,
        }
    }
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Builds the file tree: an overlay of the gofer's (read-only) root under a tmpfs upper layer
/// in the memory file, so writes never reach the host; the sentry's own `/dev`, `/proc` and
/// `/sys`; fresh tmpfs mounts at `/tmp`, `/dev/shm` (mode 1777) and `/run` (0755); then the
/// volumes. Mount points missing from the root are made in the overlay.
fn build_tree(gofer: OwnedFd, memfile: &Arc<mm::MemoryFile>, cfg: &TreeConfig) -> Result<Arc<Dentry>, BootError> {
    let TreeConfig { volumes, tmpfs: extra, read_only_root } = cfg;
    let client = Arc::new(gofer::Client::new(gofer));
    let lower = GoferInode::attach(client.clone()).map_err(|e| BootError::Setup(format!("attaching to the gofer: {e}")))?;
    let half_ram = fs::host::host_total_ram() / 2;
    let sized = |mode, max: Option<u64>| Tmpfs::new(memfile.clone(), TmpfsOptions { mode, max_bytes: Some(max.unwrap_or(half_ram)), ..TmpfsOptions::default() });
    let tmpfs = |mode| sized(mode, None);
    let upper = tmpfs(0o755);
    let root_inode = Overlay::mount(lower, upper.clone()).map_err(|e| BootError::Setup(format!("making the root overlay: {e}")))?;
    let root = Dentry::root(root_inode);
    // The host's /dev, /proc and /sys must never show through.
    let synthetic: [(&[u8], Arc<dyn vfs::Inode>); 3] = [(b"dev", devfs()), (b"proc", fs::proc::procfs()), (b"sys", fs::sys::sysfs())];
    for (name, dir) in synthetic {
        let name = String::from_utf8_lossy(name);
        let at = mount_point(&root, &name, true)?;
        at.mount(dir).map_err(|e| BootError::Setup(format!("mounting /{name}: {e}")))?;
    }
    for (path, mode) in [("/tmp", 0o1777), ("/dev/shm", 0o1777), ("/run", 0o755)] {
        let at = mount_point(&root, path, true)?;
        at.mount(tmpfs(mode).root()).map_err(|e| BootError::Setup(format!("mounting {path}: {e}")))?;
    }
    for t in extra {
        let at = mount_point(&root, &t.path, true)?;
        at.mount(sized(t.mode, t.max_bytes).root()).map_err(|e| BootError::Setup(format!("mounting {}: {e}", t.path)))?;
        fs::proc::note_mount_point(t.path.as_bytes());
    }
    for v in volumes {
        let inode = GoferInode::attach_mount(client.clone(), v.guest.as_bytes())
            .map_err(|e| BootError::Setup(format!("volume {}: attaching to the gofer: {e}", v.guest)))?;
        if v.read_only && !inode.read_only() {
            return Err(BootError::Setup(format!("volume {}: the gofer serves it writable", v.guest)));
        }
        let at = mount_point(&root, &v.guest, vfs::Inode::file_type(&*inode) == vfs::S_IFDIR)?;
        at.mount(inode).map_err(|e| BootError::Setup(format!("volume {}: {e}", v.guest)))?;
        fs::proc::note_mount_point(v.guest.as_bytes());
    }
    // Mount points are made first; then the root refuses every change.
    upper.set_read_only(*read_only_root);
    Ok(root)
}

/// The dentry at the absolute `path`, for a mount: a directory (or, with `dir` false, a
/// non-directory). Missing components are made (directories, and an empty regular file for a
/// file mount), owned by root; symlinks on the way are followed, inside the tree.
fn mount_point(root: &Arc<Dentry>, path: &str, dir: bool) -> Result<Arc<Dentry>, BootError> {
    let fail = |why: String| BootError::Setup(format!("mount point {path}: {why}"));
    let walker = Walker { root };
    let names: Vec<&str> = path.split('/').filter(|n| !n.is_empty()).collect();
    let mut cur = root.clone();
    for (i, name) in names.iter().enumerate() {
        let want_dir = dir || i + 1 < names.len();
        cur = match walker.resolve(&cur, name.as_bytes(), true) {
            Ok(d) => d,
            Err(Errno::ENOENT) => {
                let made = if want_dir {
                    cur.inode.mkdir(name.as_bytes(), 0o755, vfs::Owner::default())
                } else {
                    cur.inode.create(name.as_bytes(), 0o644, vfs::Owner::default())
                };
                let inode = made.map_err(|e| fail(format!("cannot make {name}: {e}")))?;
                cur.insert(name.as_bytes(), inode)
            }
            Err(e) => return Err(fail(e.to_string())),
        };
        if want_dir && !cur.is_dir() {
            return Err(fail(format!("{name} is not a directory")));
        }
    }
    if !dir && cur.is_dir() {
        return Err(fail("is a directory, the volume is a file".into()));
    }
    Ok(cur)
}

/// Finds `program` the way a shell does: as a path if it has a slash, else in `PATH`.
fn find_program(root: &Arc<Dentry>, program: &str, env: &[String]) -> Result<Vec<u8>, BootError> {
    if program.starts_with('/') {
        // Checked now, so that a container's `create` fails rather than its `start`.
        let walker = Walker { root };
        let found = walker.resolve(root, program.as_bytes(), true);
        let fail = |errno| BootError::Exec { program: program.to_string(), errno, context: None };
        let stat = found.map_err(fail)?.inode.stat().map_err(fail)?;
        if stat.mode & libc::S_IFMT == libc::S_IFDIR {
            return Err(fail(Errno::EACCES));
        }
        return Ok(program.as_bytes().to_vec());
    }
    if program.contains('/') {
        return Ok(program.as_bytes().to_vec());
    }
    let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
    let walker = Walker { root };
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = format!("{dir}/{program}");
        if let Ok(d) = walker.resolve(root, candidate.as_bytes(), true) {
            if d.inode.stat().is_ok_and(|s| s.mode & libc::S_IFMT == S_IFREG && s.mode & 0o111 != 0) {
                return Ok(candidate.into_bytes());
            }
        }
    }
    Err(BootError::Exec { program: program.to_string(), errno: Errno::ENOENT, context: None })
}

fn stdio_table(stdio: [Option<OwnedFd>; 3]) -> FdTable {
    let mut files = FdTable::default();
    for (fd, host) in (0i32..).zip(stdio) {
        let Some(host) = host else { continue };
        let flags = fs::host::status_flags(host.as_raw_fd());
        let file = File::new(Arc::new(HostStream::new(host)), None, flags);
        let _ = files.install_at(fd, file, false, vfs::file::DEFAULT_NOFILE);
    }
    files
}

/// A running sandbox: its kernel, with or without processes.
pub struct Sandbox {
    pub kernel: Arc<Kernel>,
}

/// Who a signal from outside the sandbox goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalTarget {
    /// The first process (as `kill` of a container's init).
    Init,
    /// Every process.
    All,
    /// One process, by pid in the sandbox.
    Process(i32),
}

impl Sandbox {
    /// Builds the kernel and its file tree; no process runs yet. Host signals that are meant
    /// for the sandbox are blocked from here on (see [`Sandbox::forward_host_signals`]).
    pub fn start(cfg: SandboxConfig) -> Result<Sandbox, BootError> {
        host_signals::block();
        let setup = |e: platform::Error| BootError::Setup(format!("starting the {} platform: {e}", cfg.platform.name()));
        // The stub page goes in before the memory file's large mapping can take its place.
        platform::ptrace::Ptrace::prepare().map_err(setup)?;
        let memfile = Arc::new(mm::MemoryFile::new().map_err(|e| BootError::Setup(format!("creating the memory file: {e}")))?);
        let platform: Arc<dyn platform::Platform> = match cfg.platform {
            PlatformKind::Ptrace => Arc::new(platform::ptrace::Ptrace::new(memfile.fd()).map_err(setup)?),
            PlatformKind::Systrap => Arc::new(platform::systrap::Systrap::new(memfile.fd()).map_err(setup)?),
        };
        let root = build_tree(cfg.gofer, &memfile, &cfg.tree)?;
        let mut kernel = Kernel::new(platform, memfile, root, cfg.hostname.into_bytes(), cfg.strace);
        kernel.policy = cfg.policy;
        let kernel = Arc::new(kernel);
        Ok(Sandbox { kernel })
    }

    /// Checks that `spec` can start: its working directory exists and its program is found.
    /// Returns the program's path.
    pub fn resolve(&self, spec: &ProcessSpec) -> Result<(Vec<u8>, Arc<Dentry>), BootError> {
        let root = &self.kernel.root;
        let cwd = Walker { root }.resolve(root, spec.cwd.as_bytes(), true).map_err(|errno| BootError::Exec {
            program: spec.program.clone(),
            errno,
            context: Some(format!("working directory {}", spec.cwd)),
        })?;
        if !cwd.is_dir() {
            return Err(BootError::Exec { program: spec.program.clone(), errno: Errno::ENOTDIR, context: Some(format!("working directory {}", spec.cwd)) });
        }
        Ok((find_program(root, &spec.program, &spec.env)?, cwd))
    }

    /// Starts a process; the first one started becomes pid 1, whose end ends the sandbox.
    pub fn launch(&self, spec: ProcessSpec) -> Result<i32, BootError> {
        let (path, cwd) = self.resolve(&spec)?;
        let creds = kernel::task::Creds::new(spec.uid, spec.gid, spec.groups, spec.caps);
        let rlimits = spec
            .rlimits
            .iter()
            .filter_map(|&(r, cur, max)| Some((usize::try_from(r).ok()?, abi::Rlimit { cur, max })))
            .collect();
        let launch = kernel::task::Launch {
            files: stdio_table(spec.stdio),
            path,
            argv: spec.args.into_iter().map(String::into_bytes).collect(),
            envp: spec.env.into_iter().map(String::into_bytes).collect(),
            cwd,
            creds,
            umask: spec.umask,
            rlimits,
        };
        Task::launch(self.kernel.clone(), launch).map_err(|e| BootError::Exec { program: spec.program, errno: e.errno, context: e.context })
    }

    /// Passes the signals the sentry process receives on to the sandbox's processes.
    pub fn forward_host_signals(&self) {
        host_signals::forward(self.kernel.clone());
    }

    /// Sends `sig` from outside the sandbox. The first process, like a pid namespace's init,
    /// only gets the signals it handles, besides `SIGKILL` and `SIGSTOP`. Returns whether some
    /// process was there to get it.
    pub fn signal(&self, target: SignalTarget, sig: i32) -> bool {
        self.kernel.signal_from_outside(target, sig)
    }

    /// Waits until process `pid`, started with [`Sandbox::launch`] after the first, has ended;
    /// reaps it and returns its status (`None` if there is no such process).
    pub fn wait(&self, pid: i32) -> Option<ExitStatus> {
        let kernel = &self.kernel;
        loop {
            let seen = kernel.events.generation();
            {
                let mut table = kernel.table.lock().unwrap();
                let process = table.processes.get(&pid)?;
                let status = process.state.lock().unwrap().zombie;
                if let Some(status) = status {
                    table.processes.remove(&pid);
                    return Some(status);
                }
            }
            kernel.events.wait(seen, Some(std::time::Instant::now() + std::time::Duration::from_millis(100)));
        }
    }

    /// Ends what the platform keeps ready for processes to come (spare stub processes): call it
    /// once no process runs or will start, before reaping the sentry's children.
    pub fn shutdown(&self) {
        self.kernel.platform.shutdown();
    }

    /// Waits until the first process has exited and every task thread has finished (the
    /// others are killed when init goes); returns init's status.
    pub fn wait_init(&self) -> ExitStatus {
        let kernel = &self.kernel;
        loop {
            let seen = kernel.events.generation();
            let (status, live) = {
                let table = kernel.table.lock().unwrap();
                let status = table.processes.get(&1).and_then(|p| p.state.lock().unwrap().zombie);
                (status, table.live_threads)
            };
            if let (Some(status), 0) = (status, live) {
                return status;
            }
            kernel.events.wait(seen, Some(std::time::Instant::now() + std::time::Duration::from_millis(100)));
        }
    }
}

/// Starts a sandbox and runs its first program to the end (`sandbox run`).
pub fn boot(cfg: SandboxConfig, init: ProcessSpec) -> Result<ExitStatus, BootError> {
    let sandbox = Sandbox::start(cfg)?;
    sandbox.forward_host_signals();
    let status = sandbox.launch(init).map(|_| sandbox.wait_init());
    sandbox.shutdown();
    status
}
