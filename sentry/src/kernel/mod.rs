//! Kernel-wide state: the process table, the wake-up channel blocked tasks sleep on, and the
//! sandbox's identity.
//!
//! Every task runs on its own sentry thread (the ptrace platform binds a stub to the thread that
//! traces it). Blocking follows one shape everywhere: read [`Events::generation`], check the
//! condition, check for signals, then [`Events::wait`] for the generation to move on. Anything
//! that can unblock somebody (a pipe write, a child's exit, a signal) calls [`Events::notify`].
//!
//! Lock order: `Kernel::table` before any `Process::state`, before any `Thread::signals`.

pub mod jobctl;
pub mod process;
pub mod signal;
pub mod task;
pub mod timer;

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use platform::Platform;

use crate::mm::MemoryFile;
use crate::vfs::Dentry;
use process::Process;

/// The kernel release `uname` reports: the sentry's own, never the host's.
pub const RELEASE: &str = "6.6.0-sandbox";
/// The kernel version string `uname -v` reports.
pub const VERSION: &str = "#1 SMP PREEMPT_DYNAMIC sandbox";
/// Largest pid handed out before wrapping (`/proc/sys/kernel/pid_max`).
pub const PID_MAX: i32 = 4_194_304;

/// What every task shares.
pub struct Kernel {
    pub platform: Arc<dyn Platform>,
    pub memfile: Arc<MemoryFile>,
    /// Root of the sandbox's file tree.
    pub root: Arc<Dentry>,
    pub hostname: Mutex<Vec<u8>>,
    pub boot_time: Instant,
    /// Print every system call like strace (`--strace`).
    pub strace: bool,
    pub table: Mutex<PidTable>,
    pub events: Arc<Events>,
    pub timers: Arc<timer::Timers>,
    /// Pages of the read-only root's files, shared by every process that maps them.
    pub page_cache: crate::mm::cache::PageCache,
    /// The sandbox's terminal (the host terminal of its standard streams, if any).
    pub terminal: Mutex<Terminal>,
    /// Tasks blocked in `futex` waits.
    pub futexes: Mutex<Vec<Arc<crate::syscalls::futex::Waiter>>>,
    /// The vDSO mapped into every address space, and the clock it reads (None if it could not
    /// be placed in the memory file).
    pub vdso: Option<crate::vdso::Vdso>,
    /// The container's system call policy (OCI `linux.seccomp`), checked by `dispatch`; set
    /// after [`Kernel::new`], before any task runs.
    pub policy: Option<Arc<crate::policy::Policy>>,
}

/// Processes by pid, and the count of task threads still running.
pub struct PidTable {
    last_pid: i32,
    pub processes: BTreeMap<i32, Arc<Process>>,
    /// Thread ids in use (a thread's id is its process's pid for the first thread).
    pub tids: std::collections::BTreeSet<i32>,
    pub live_threads: usize,
    /// Most tasks (threads, and processes until reaped) the sandbox may hold at once.
    pub limit: usize,
}

/// Default for [`PidTable::limit`]: generous for real workloads, small enough that a fork bomb
/// stops long before the host notices.
pub const DEFAULT_TASK_LIMIT: usize = 1024;

impl Default for PidTable {
    fn default() -> Self {
        PidTable { last_pid: 0, processes: BTreeMap::new(), tids: Default::default(), live_threads: 0, limit: DEFAULT_TASK_LIMIT }
    }
}

impl PidTable {
    /// The next free id, like Linux: increasing, wrapping at `PID_MAX`. None when the sandbox
    /// holds as many tasks as it may (the caller answers `EAGAIN`).
    pub fn allocate(&mut self) -> Option<i32> {
        if self.tids.len() >= self.limit {
            return None;
        }
        for _ in 0..PID_MAX {
            self.last_pid = if self.last_pid >= PID_MAX - 1 { 1 } else { self.last_pid + 1 };
            let id = self.last_pid;
            if !self.tids.contains(&id) && !self.processes.contains_key(&id) {
                self.tids.insert(id);
                return Some(id);
            }
        }
        None
    }
}

impl Kernel {
    pub fn new(platform: Arc<dyn Platform>, memfile: Arc<MemoryFile>, root: Arc<Dentry>, hostname: Vec<u8>, strace: bool) -> Kernel {
        let events = Arc::new(Events::default());
        let vdso = crate::vdso::Vdso::new(&memfile).map_err(|e| tracing::warn!("no vDSO: {e:?}")).ok();
        Kernel {
            platform,
            memfile,
            root,
            hostname: Mutex::new(hostname),
            boot_time: Instant::now(),
            strace,
            table: Mutex::new(PidTable::default()),
            events: events.clone(),
            timers: timer::Timers::new(events),
            futexes: Mutex::new(Vec::new()),
            terminal: Mutex::new(Terminal { foreground: 1, session: 1 }),
            page_cache: Default::default(),
            vdso,
            policy: None,
        }
    }

    pub fn process(&self, pid: i32) -> Option<Arc<Process>> {
        self.table.lock().unwrap().processes.get(&pid).cloned()
    }

    /// A fresh inode number for anonymous files (pipes, and the like).
    pub fn next_ino(&self) -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1 << 32);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Every live process (not yet reaped).
    pub fn processes(&self) -> Vec<Arc<Process>> {
        self.table.lock().unwrap().processes.values().cloned().collect()
    }
}

/// Job-control state of the sandbox's terminal.
pub struct Terminal {
    /// The process group that gets keyboard signals.
    pub foreground: i32,
    pub session: i32,
}

impl Kernel {
    /// Sends a signal from outside the sandbox (the host terminal, or a signal to the sandbox
    /// process) to every process of `pgid`.
    pub fn signal_group(&self, pgid: i32, sig: i32) {
        for p in self.processes() {
            if p.state.lock().unwrap().pgid == pgid {
                p.send(signal::SigInfo::kernel(sig));
            }
        }
        self.events.notify();
    }

    /// Sends a signal from outside the sandbox to one process, the first, or all; returns
    /// whether a process was there to get it.
    pub fn signal_from_outside(&self, target: crate::SignalTarget, sig: i32) -> bool {
        let targets: Vec<_> = match target {
            crate::SignalTarget::Init => self.process(1).into_iter().collect(),
            crate::SignalTarget::Process(pid) => self.process(pid).into_iter().collect(),
            crate::SignalTarget::All => self.processes(),
        };
        let mut found = false;
        for p in targets {
            found |= p.state.lock().unwrap().zombie.is_none();
            if !refuses_from_outside(&p, sig) {
                p.send(signal::SigInfo::kernel(sig));
            }
        }
        self.events.notify();
        found
    }
}

/// Like a pid namespace's init seen from its parent namespace: `SIGKILL` and `SIGSTOP` always
/// reach the first process; other signals only when it handles them.
fn refuses_from_outside(p: &Process, sig: i32) -> bool {
    sig != libc::SIGKILL && sig != libc::SIGSTOP && p.refuses(sig)
}

/// The one wait queue: a generation counter bumped on every change that may unblock a task.
#[derive(Default)]
pub struct Events {
    generation: Mutex<u64>,
    changed: Condvar,
}

impl Events {
    pub fn generation(&self) -> u64 {
        *self.generation.lock().unwrap()
    }

    /// Wakes every blocked task so it re-checks what it waits for.
    pub fn notify(&self) {
        *self.generation.lock().unwrap() += 1;
        self.changed.notify_all();
    }

    /// Sleeps until the generation moves past `seen` or `deadline` passes. Returns false on
    /// timeout.
    pub fn wait(&self, seen: u64, deadline: Option<Instant>) -> bool {
        let mut g = self.generation.lock().unwrap();
        while *g == seen {
            match deadline {
                None => g = self.changed.wait(g).unwrap(),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    g = self.changed.wait_timeout(g, d - now).unwrap().0;
                }
            }
        }
        true
    }
}
