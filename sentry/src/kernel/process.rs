//! Processes (thread groups) and the part of each thread that other threads may touch.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use platform::Interrupt;

use super::signal::{SigInfo, SigQueue};
use crate::abi::{Rlimit, SigAction};

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled(i32),
}

impl ExitStatus {
    /// The status a shell reports: the code, or 128 + the signal.
    pub fn shell_code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c & 0xff,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }

    /// The `wait` status word.
    pub fn wait_status(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => (c & 0xff) << 8,
            ExitStatus::Signaled(s) => s & 0x7f,
        }
    }
}

pub const RLIMIT_COUNT: usize = 16;

/// A thread group.
pub struct Process {
    pub pid: i32,
    pub state: Mutex<ProcessState>,
    /// Signal dispositions, shared by the threads.
    pub actions: Mutex<[SigAction; 64]>,
    pub rlimits: Mutex<[Rlimit; RLIMIT_COUNT]>,
    pub timers: Mutex<ProcessTimers>,
}

/// The process's timers, as ids in the kernel's timer service.
#[derive(Default)]
pub struct ProcessTimers {
    /// `ITIMER_REAL` (also `alarm`).
    pub real: Option<u64>,
    /// `timer_create` timers by the id the application sees.
    pub posix: std::collections::BTreeMap<i32, u64>,
}

pub struct ProcessState {
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    pub threads: Vec<Arc<Thread>>,
    pub children: BTreeSet<i32>,
    /// Signals sent to the process as a whole.
    pub pending: SigQueue,
    /// Set once the whole group must exit (exit_group, a fatal signal): every thread leaves.
    pub group_exit: Option<ExitStatus>,
    /// Set when the last thread has gone: the process is a zombie until its parent reaps it.
    pub zombie: Option<ExitStatus>,
    /// The signal the parent gets when this process ends (usually SIGCHLD; 0 for none).
    pub exit_signal: i32,
    /// `comm`, the name `ps` shows.
    pub comm: Vec<u8>,
    /// Parents blocked in `vfork` wait until this is set (exec or exit).
    pub vfork_done: bool,
    /// `PR_SET_CHILD_SUBREAPER`.
    pub subreaper: bool,
    /// What the process uses, for `/proc`; None once it is a zombie.
    pub resources: Option<Resources>,
    /// The thread running `execve` while the others leave.
    pub exec_by: Option<i32>,
    /// Stopped by this signal (job control) until a SIGCONT.
    pub stopped: Option<i32>,
    /// A stop or a continue the parent has not collected with `wait` yet.
    pub stop_report: Option<i32>,
    pub continue_report: bool,
    /// Whether the parent got its SIGCHLD for the last continue.
    pub continue_signalled: bool,
}

/// The memory, files and names of a live process, as `/proc` shows them. Updated at exec and
/// clone; the first thread's view stands for the process.
#[derive(Clone)]
pub struct Resources {
    pub mm: Arc<crate::mm::MemoryManager>,
    pub files: Arc<Mutex<crate::vfs::FdTable>>,
    pub fs: Arc<Mutex<super::task::FsContext>>,
    pub exe: Arc<crate::vfs::Dentry>,
    /// Where the argument and environment strings are in `mm`.
    pub args: std::ops::Range<u64>,
    pub env: std::ops::Range<u64>,
    /// Credentials of the first thread.
    pub creds: super::task::Creds,
}

impl Process {
    pub fn new(pid: i32, ppid: i32, pgid: i32, sid: i32, actions: [SigAction; 64], rlimits: [Rlimit; RLIMIT_COUNT]) -> Arc<Process> {
        Arc::new(Process {
            pid,
            state: Mutex::new(ProcessState {
                ppid,
                pgid,
                sid,
                threads: Vec::new(),
                children: BTreeSet::new(),
                pending: SigQueue::default(),
                group_exit: None,
                zombie: None,
                exit_signal: libc::SIGCHLD,
                comm: Vec::new(),
                vfork_done: false,
                subreaper: false,
                resources: None,
                exec_by: None,
                stopped: None,
                stop_report: None,
                continue_report: false,
                continue_signalled: true,
            }),
            actions: Mutex::new(actions),
            rlimits: Mutex::new(rlimits),
            timers: Mutex::new(ProcessTimers::default()),
        })
    }

    pub fn action(&self, sig: i32) -> SigAction {
        self.actions.lock().unwrap()[sig_index(sig)]
    }

    pub fn rlimit(&self, resource: u32) -> Rlimit {
        self.rlimits.lock().unwrap()[resource as usize]
    }

    /// Queues a process-directed signal and kicks a thread that can take it. Returns false if
    /// it was discarded (ignored).
    pub fn send(&self, info: SigInfo) -> bool {
        let mut st = self.state.lock().unwrap();
        if st.zombie.is_some() {
            return false;
        }
        // An ignored signal is dropped on arrival, unless some thread blocks it (it may then
        // be taken with sigwait or a signalfd).
        if super::signal::ignored(self.action(info.signo), info.signo) && info.signo != libc::SIGKILL && !st.threads.iter().any(|t| t.blocks(info.signo)) {
            return false;
        }
        if info.signo == libc::SIGCONT {
            // SIGCONT resumes a stopped process as it arrives, and cancels pending stops.
            for sig in [libc::SIGSTOP, libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
                st.pending.discard(sig);
                for t in &st.threads {
                    t.signals.lock().unwrap().pending.discard(sig);
                }
            }
            if st.stopped.take().is_some() {
                st.stop_report = None;
                st.continue_report = true;
                st.continue_signalled = false;
            }
        }
        st.pending.push(info);
        let target = st.threads.iter().find(|t| !t.blocks(info.signo)).or_else(|| st.threads.first()).cloned();
        drop(st);
        if let Some(t) = target {
            t.interrupter.interrupt();
        }
        true
    }

    /// Makes every thread leave with `status` (unless an exit is already under way).
    pub fn exit_group(&self, status: ExitStatus) {
        let threads = {
            let mut st = self.state.lock().unwrap();
            if st.group_exit.is_none() {
                st.group_exit = Some(status);
            }
            st.threads.clone()
        };
        for t in threads {
            t.interrupter.interrupt();
        }
    }
}

impl Process {
    /// The protection of a pid namespace's init: the first process only gets the signals it
    /// handles (or blocks, to take them with sigwait or a signalfd).
    pub fn refuses(&self, sig: i32) -> bool {
        self.pid == 1
            && self.action(sig).handler == libc::SIG_DFL as u64
            && !self.state.lock().unwrap().threads.iter().any(|t| t.blocks(sig))
    }
}

pub fn sig_index(sig: i32) -> usize {
    usize::try_from(sig - 1).unwrap_or(0).min(63)
}

/// What other threads see of a task: its id, its own pending signals and mask, and how to kick it.
pub struct Thread {
    pub tid: i32,
    pub signals: Mutex<ThreadSignals>,
    pub interrupter: Arc<dyn Interrupt>,
}

#[derive(Default)]
pub struct ThreadSignals {
    pub pending: SigQueue,
    pub mask: u64,
}

impl Thread {
    pub fn new(tid: i32, mask: u64, interrupter: Arc<dyn Interrupt>) -> Arc<Thread> {
        Arc::new(Thread { tid, signals: Mutex::new(ThreadSignals { pending: SigQueue::default(), mask }), interrupter })
    }

    pub fn blocks(&self, sig: i32) -> bool {
        sig != libc::SIGKILL && sig != libc::SIGSTOP && self.signals.lock().unwrap().mask & super::signal::bit(sig) != 0
    }

    /// Queues a thread-directed signal and kicks the thread.
    pub fn send(&self, info: SigInfo) {
        self.signals.lock().unwrap().pending.push(info);
        self.interrupter.interrupt();
    }
}
