//! Processes (thread groups) and the part of each thread that other threads may touch.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use platform::{CpuTimes, Interrupt};

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
    /// Lets one thread hold the others out of application code (see [`AppGate`]).
    pub app_gate: AppGate,
}

/// Counts a process's threads running application code, and can hold them out of it. `fork`
/// copies memory while holding the gate shut: otherwise the other threads would go on writing
/// memory during the copy, and the child would get a torn picture of it (say, a malloc free
/// list half updated by another thread), where Linux's copy-on-write gives each page as it was
/// at one instant.
///
/// Every system call passes the gate twice, so an open gate costs two atomic operations and
/// no lock: `enter` counts itself in, then looks at `shut`; `hold` sets `shut`, then looks at
/// the count. Sequentially consistent, one of the two always sees the other.
#[derive(Default)]
pub struct AppGate {
    in_app: AtomicUsize,
    shut: AtomicBool,
    /// Serialises holders, and is what shut-out threads and a waiting holder sleep on.
    holder: Mutex<()>,
    changed: Condvar,
}

impl AppGate {
    /// Called before running application code: waits while the gate is shut.
    pub fn enter(&self) {
        loop {
            self.in_app.fetch_add(1, Ordering::SeqCst);
            if !self.shut.load(Ordering::SeqCst) {
                return;
            }
            self.leave();
            let mut lock = self.holder_lock();
            while self.shut.load(Ordering::SeqCst) {
                lock = self.changed.wait(lock).unwrap_or_else(PoisonError::into_inner);
            }
        }
    }

    /// Called once application code stopped running.
    pub fn leave(&self) {
        if self.in_app.fetch_sub(1, Ordering::SeqCst) == 1 && self.shut.load(Ordering::SeqCst) {
            let _lock = self.holder_lock();
            self.changed.notify_all();
        }
    }

    /// Shuts the gate (after any other holder opens it), makes `interrupt` stop the threads
    /// running application code, and waits until none does. The gate opens when the guard
    /// goes.
    pub fn hold(&self, interrupt: impl Fn()) -> AppGateGuard<'_> {
        let mut lock = self.holder_lock();
        while self.shut.load(Ordering::SeqCst) {
            lock = self.changed.wait(lock).unwrap_or_else(PoisonError::into_inner);
        }
        self.shut.store(true, Ordering::SeqCst);
        while self.in_app.load(Ordering::SeqCst) > 0 {
            drop(lock);
            interrupt();
            lock = self.holder_lock();
            if self.in_app.load(Ordering::SeqCst) > 0 {
                lock = self.changed.wait_timeout(lock, Duration::from_millis(5)).unwrap_or_else(PoisonError::into_inner).0;
            }
        }
        AppGateGuard { gate: self }
    }

    fn holder_lock(&self) -> MutexGuard<'_, ()> {
        self.holder.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Holds an [`AppGate`] shut.
pub struct AppGateGuard<'a> {
    gate: &'a AppGate,
}

impl Drop for AppGateGuard<'_> {
    fn drop(&mut self) {
        let _lock = self.gate.holder_lock();
        self.gate.shut.store(false, Ordering::SeqCst);
        self.gate.changed.notify_all();
    }
}

/// The process's timers, as ids in the kernel's timer service.
#[derive(Default)]
pub struct ProcessTimers {
    /// `ITIMER_REAL` (also `alarm`).
    pub real: Option<u64>,
    /// `timer_create` timers by the id the application sees.
    pub posix: std::collections::BTreeMap<i32, u64>,
    /// `ITIMER_VIRTUAL` and `ITIMER_PROF`, by [`CPU_ITIMER_VIRTUAL`] and [`CPU_ITIMER_PROF`]:
    /// they count the process's CPU time, checked by the kernel's timer service.
    pub cpu: [CpuTimer; 2],
}

/// Index of `ITIMER_VIRTUAL` (user time) in [`ProcessTimers::cpu`].
pub const CPU_ITIMER_VIRTUAL: usize = 0;
/// Index of `ITIMER_PROF` (user and system time) in [`ProcessTimers::cpu`].
pub const CPU_ITIMER_PROF: usize = 1;

/// An interval timer on the process's CPU time: it expires when the clock it counts reaches
/// `expiry`, then reloads with `interval`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimer {
    pub expiry: Option<Duration>,
    pub interval: Option<Duration>,
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
    /// The credentials of a process whose first thread has not yet published its resources
    /// (it is still building its address space): its creator's.
    pub starting_creds: Option<super::task::Creds>,
    /// The thread running `execve` while the others leave.
    pub exec_by: Option<i32>,
    /// Stopped by this signal (job control) until a SIGCONT.
    pub stopped: Option<i32>,
    /// A stop or a continue the parent has not collected with `wait` yet.
    pub stop_report: Option<i32>,
    pub continue_report: bool,
    /// Whether the parent got its SIGCHLD for the last continue.
    pub continue_signalled: bool,
    /// CPU time and memory used by what is gone: ended threads, left address spaces, and
    /// children waited for.
    pub usage: Accounting,
}

/// CPU time and memory used, as `getrusage` and `wait4` report them.
///
/// User time is the time the host gave the application's own code, in the stub process of
/// each address space the process ran in. System time is the time spent on its behalf: by the
/// host kernel in those stubs (system call traps, page faults), and by the sentry threads
/// running its tasks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub user: Duration,
    pub system: Duration,
    /// The peak resident set, in bytes.
    pub maxrss: u64,
}

impl Usage {
    /// Adds `other` in, as a parent gathers a child it waited for: times add up, the peak is
    /// the larger one.
    pub fn gather(&mut self, other: Usage) {
        self.user += other.user;
        self.system += other.system;
        self.maxrss = self.maxrss.max(other.maxrss);
    }

    /// The `struct rusage` of these figures (the counters the sentry does not keep are 0).
    pub fn to_rusage(self) -> [i64; 18] {
        let timeval = |d: Duration| [i64::try_from(d.as_secs()).unwrap_or(i64::MAX), i64::from(d.subsec_micros())];
        let mut r = [0i64; 18];
        r[0..2].copy_from_slice(&timeval(self.user));
        r[2..4].copy_from_slice(&timeval(self.system));
        r[4] = i64::try_from(self.maxrss / 1024).unwrap_or(i64::MAX);
        r
    }
}

/// What a process has used beyond its live threads and its current address space.
#[derive(Clone, Copy, Debug, Default)]
pub struct Accounting {
    /// CPU time of the address spaces the process has left (`execve`).
    pub space_done: CpuTimes,
    /// The latest reading of the current address space's clocks by a thread leaving it: all
    /// of its time once the process is a zombie.
    pub space_last: CpuTimes,
    /// Sentry time of the threads that have ended.
    pub system_done: Duration,
    /// Wall time the ended threads spent in application code.
    pub app_done: Duration,
    /// Peak resident set of the address spaces the process has left, or has at its exit.
    pub maxrss: u64,
    /// The process runs in its creator's address space (clone with `CLONE_VM` but not
    /// `CLONE_THREAD`: vfork, posix_spawn) until it execs: that space's clocks are the
    /// creator's, not counted here.
    pub borrowed_space: bool,
    /// The children waited for, with what they gathered of their own children.
    pub children: Usage,
}

impl Accounting {
    /// A thread leaves an address space whose clocks read `cpu` and whose resident set
    /// peaked at `maxrss`.
    pub fn leave_space(&mut self, cpu: CpuTimes, maxrss: u64) {
        if self.borrowed_space {
            return;
        }
        self.space_last = self.space_last.max(cpu);
        self.maxrss = self.maxrss.max(maxrss);
    }

    /// The process has moved on to a new address space (`execve`): the old one's time is
    /// final.
    pub fn close_space(&mut self) {
        self.space_done += std::mem::take(&mut self.space_last);
    }
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
                starting_creds: None,
                exec_by: None,
                stopped: None,
                stop_report: None,
                continue_report: false,
                continue_signalled: true,
                usage: Accounting::default(),
            }),
            actions: Mutex::new(actions),
            rlimits: Mutex::new(rlimits),
            timers: Mutex::new(ProcessTimers::default()),
            app_gate: AppGate::default(),
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

    /// The CPU time and memory the process itself has used (`RUSAGE_SELF`).
    pub fn usage(&self) -> Usage {
        let st = self.state.lock().unwrap();
        let a = st.usage;
        // Readings are taken under the lock: an ending thread moves its time to the
        // accounting and leaves the thread list in one step.
        let sentry = st.threads.iter().map(|t| t.system_time()).sum::<Duration>() + a.system_done;
        let (space, maxrss) = match (&st.resources, st.zombie) {
            (Some(r), None) if !a.borrowed_space => (r.mm.space().cpu_time(), r.mm.peak_rss()),
            _ => (CpuTimes::default(), 0),
        };
        let spaces = a.space_done + a.space_last.max(space);
        Usage { user: spaces.user, system: spaces.system + sentry, maxrss: a.maxrss.max(maxrss) }
    }

    /// What one thread of the process has used (`RUSAGE_THREAD`): its own system time, the
    /// process's peak memory, and as user time its share of the process's: the host cannot
    /// tell one stub thread's CPU time from another's, so the process's user time is shared
    /// out in proportion to the wall time each thread spent in application code. It never
    /// goes back.
    pub fn thread_usage(&self, thread: &Thread) -> Usage {
        let whole = self.usage();
        let all = {
            let st = self.state.lock().unwrap();
            st.threads.iter().map(|t| t.app_time()).sum::<Duration>() + st.usage.app_done
        };
        let mine = thread.app_time();
        let share = if all.is_zero() {
            Duration::ZERO
        } else {
            let ns = whole.user.as_nanos() * mine.as_nanos().min(all.as_nanos()) / all.as_nanos();
            Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
        };
        let user = thread.report_user(share.min(mine));
        Usage { user, system: thread.system_time(), maxrss: whole.maxrss }
    }

    /// What the process and the children it waited for have used (what `wait4` reports of
    /// a child).
    pub fn usage_with_children(&self) -> Usage {
        let mut u = self.usage();
        u.gather(self.state.lock().unwrap().usage.children);
        u
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

impl Process {
    /// The clocks the CPU interval timers count: user time, and user plus system time.
    pub fn itimer_clocks(&self) -> [Duration; 2] {
        let u = self.usage();
        [u.user, u.user + u.system]
    }

    /// Whether an `ITIMER_VIRTUAL` or `ITIMER_PROF` is armed.
    pub fn cpu_timers_armed(&self) -> bool {
        self.timers.lock().unwrap().cpu.iter().any(|c| c.expiry.is_some())
    }

    /// Fires the CPU interval timers whose clock has reached their expiry (`SIGVTALRM`,
    /// `SIGPROF` to the process) and reloads the periodic ones. Returns whether one fired,
    /// and the least CPU time left before one expires (None when none is armed).
    pub fn check_cpu_timers(&self) -> (bool, Option<Duration>) {
        if !self.cpu_timers_armed() {
            return (false, None);
        }
        let now = self.itimer_clocks();
        let mut fired = Vec::new();
        let mut left = None::<Duration>;
        {
            let mut timers = self.timers.lock().unwrap();
            for (i, (timer, sig)) in timers.cpu.iter_mut().zip([libc::SIGVTALRM, libc::SIGPROF]).enumerate() {
                let Some(expiry) = timer.expiry else { continue };
                if now[i] >= expiry {
                    fired.push(sig);
                    // Periods already consumed are skipped: one signal stands for them.
                    timer.expiry = timer.interval.map(|iv| {
                        let missed = (now[i] - expiry).as_nanos() / iv.as_nanos().max(1);
                        expiry + iv * u32::try_from(missed + 1).unwrap_or(u32::MAX)
                    });
                }
                if let Some(e) = timer.expiry {
                    let l = e.saturating_sub(now[i]);
                    left = Some(left.map_or(l, |m| m.min(l)));
                }
            }
        }
        let any = !fired.is_empty();
        for sig in fired {
            if !self.refuses(sig) {
                self.send(SigInfo::kernel(sig));
            }
        }
        (any, left)
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
    /// The CPU clock of the sentry thread that runs the task, once it runs.
    clock: OnceLock<libc::clockid_t>,
    /// Nanoseconds of wall time the task spent running application code.
    app_nanos: AtomicU64,
    /// The user time last reported for the thread, in nanoseconds.
    reported_user: AtomicU64,
    /// Nice value, scheduling policy and CPU affinity (recorded; the host schedules stubs as
    /// it likes).
    pub sched: Mutex<Sched>,
}

/// The scheduling attributes of a thread, as `sched_setscheduler`, `setpriority` and
/// `sched_setaffinity` set them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sched {
    /// -20 (most favoured) to 19.
    pub nice: i32,
    /// `SCHED_OTHER`, `SCHED_FIFO`, `SCHED_RR`, `SCHED_BATCH` or `SCHED_IDLE`.
    pub policy: i32,
    /// 1 to 99 for the real-time policies, else 0.
    pub rt_priority: i32,
    /// `SCHED_RESET_ON_FORK`: children start with a normal policy and no negative nice.
    pub reset_on_fork: bool,
    /// The CPUs the thread may run on, one bit each.
    pub affinity: u64,
}

impl Default for Sched {
    fn default() -> Sched {
        let cpus = crate::fs::host::host_cpus().min(64);
        Sched { nice: 0, policy: libc::SCHED_OTHER, rt_priority: 0, reset_on_fork: false, affinity: u64::MAX >> (64 - cpus) }
    }
}

impl Sched {
    /// What a thread created by one with these attributes starts with.
    pub fn for_child(self) -> Sched {
        if !self.reset_on_fork {
            return self;
        }
        let realtime = matches!(self.policy, libc::SCHED_FIFO | libc::SCHED_RR);
        Sched {
            nice: if realtime { 0 } else { self.nice.max(0) },
            policy: if realtime { libc::SCHED_OTHER } else { self.policy },
            rt_priority: if realtime { 0 } else { self.rt_priority },
            reset_on_fork: false,
            affinity: self.affinity,
        }
    }

    /// `task_prio()` as `/proc/PID/stat` shows it: 20 + nice, or -1 - the real-time priority.
    pub fn prio(&self) -> i32 {
        if matches!(self.policy, libc::SCHED_FIFO | libc::SCHED_RR) {
            -1 - self.rt_priority
        } else {
            20 + self.nice
        }
    }
}

#[derive(Default)]
pub struct ThreadSignals {
    pub pending: SigQueue,
    pub mask: u64,
}

impl Thread {
    pub fn new(tid: i32, mask: u64, interrupter: Arc<dyn Interrupt>) -> Arc<Thread> {
        Arc::new(Thread {
            tid,
            signals: Mutex::new(ThreadSignals { pending: SigQueue::default(), mask }),
            interrupter,
            clock: OnceLock::new(),
            app_nanos: AtomicU64::new(0),
            reported_user: AtomicU64::new(0),
            sched: Mutex::new(Sched::default()),
        })
    }

    /// Records that the calling sentry thread runs this task, for [`Thread::system_time`].
    pub fn bind_clock(&self) {
        let _ = self.clock.set(crate::fs::host::own_cpu_clock());
    }

    /// The CPU time of the sentry thread running the task: the task's system time.
    pub fn system_time(&self) -> Duration {
        self.clock.get().map_or(Duration::ZERO, |&c| read_cpu_clock(c))
    }

    /// Counts `d` of wall time spent running application code.
    pub fn add_app_time(&self, d: Duration) {
        self.app_nanos.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The wall time the task has spent running application code.
    pub fn app_time(&self) -> Duration {
        Duration::from_nanos(self.app_nanos.load(Ordering::Relaxed))
    }

    /// `user`, or the user time reported before if that was more.
    fn report_user(&self, user: Duration) -> Duration {
        let ns = u64::try_from(user.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.reported_user.fetch_max(ns, Ordering::Relaxed).max(ns))
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

/// Reads one of the sentry's CPU clocks (zero if it is gone).
pub fn read_cpu_clock(clock: libc::clockid_t) -> Duration {
    let ts = crate::fs::host::host_clock(clock);
    Duration::new(u64::try_from(ts.sec).unwrap_or(0), u32::try_from(ts.nsec).unwrap_or(0))
}

/// The CPU time of the calling sentry thread.
pub fn own_cpu_time() -> Duration {
    read_cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// Clock ticks (`USER_HZ`, 100 a second) in `d`.
pub fn ticks(d: Duration) -> i64 {
    i64::try_from(d.as_millis() / 10).unwrap_or(i64::MAX)
}

/// User and system time of a process (or of one of its threads), then of its waited-for
/// children, in clock ticks: the `utime stime cutime cstime` of `/proc/PID/stat`.
pub fn cpu_ticks(p: &Process, thread: Option<&Arc<Thread>>) -> [i64; 4] {
    let own = match thread {
        Some(t) => p.thread_usage(t),
        None => p.usage(),
    };
    let children = p.state.lock().unwrap().usage.children;
    [ticks(own.user), ticks(own.system), ticks(children.user), ticks(children.system)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_gate_holds_threads_out_while_shut() {
        let gate = Arc::new(AppGate::default());
        let stop = Arc::new(AtomicBool::new(false));
        let entries = Arc::new(AtomicUsize::new(0));
        // Two threads going in and out of "application code" until told to stop.
        let runners: Vec<_> = (0..2)
            .map(|_| {
                let (gate, stop, entries) = (gate.clone(), stop.clone(), entries.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        gate.enter();
                        entries.fetch_add(1, Ordering::SeqCst);
                        std::thread::yield_now();
                        gate.leave();
                    }
                })
            })
            .collect();
        for _ in 0..50 {
            // The runners leave by themselves; nothing to interrupt.
            let guard = gate.hold(|| {});
            assert_eq!(gate.in_app.load(Ordering::SeqCst), 0, "nobody runs while the gate is held");
            let seen = entries.load(Ordering::SeqCst);
            std::thread::sleep(Duration::from_micros(200));
            assert_eq!(entries.load(Ordering::SeqCst), seen, "nobody enters while the gate is held");
            drop(guard);
        }
        stop.store(true, Ordering::SeqCst);
        for r in runners {
            r.join().unwrap();
        }
        assert_eq!(gate.in_app.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn rusage_layout_and_gathering() {
        let mut u = Usage { user: Duration::from_micros(2_500_001), system: Duration::from_millis(30), maxrss: 8 << 20 };
        let r = u.to_rusage();
        assert_eq!((r[0], r[1], r[2], r[3], r[4]), (2, 500_001, 0, 30_000, 8192), "timevals, then maxrss in KiB");
        assert!(r[5..].iter().all(|&x| x == 0));
        u.gather(Usage { user: Duration::from_secs(1), system: Duration::ZERO, maxrss: 1 << 20 });
        assert_eq!((u.user, u.maxrss), (Duration::from_micros(3_500_001), 8 << 20), "times add, peaks do not");
        assert_eq!(ticks(Duration::from_millis(129)), 12);
    }

    #[test]
    fn reset_on_fork_drops_realtime_and_negative_nice() {
        let base = Sched::default();
        let rt = Sched { policy: libc::SCHED_FIFO, rt_priority: 10, nice: 3, reset_on_fork: true, ..base };
        let child = rt.for_child();
        assert_eq!((child.policy, child.rt_priority, child.nice, child.reset_on_fork), (libc::SCHED_OTHER, 0, 0, false));
        let batch = Sched { policy: libc::SCHED_BATCH, nice: -5, reset_on_fork: true, ..base };
        assert_eq!((batch.for_child().policy, batch.for_child().nice), (libc::SCHED_BATCH, 0));
        let kept = Sched { nice: -5, ..base };
        assert_eq!(kept.for_child(), kept, "without the flag a child inherits everything");
        assert_eq!((kept.prio(), rt.prio()), (15, -11), "task_prio as /proc shows it");
    }

    #[test]
    fn cpu_timers_fire_and_reload_on_cpu_time() {
        let p = Process::new(5, 0, 5, 5, [SigAction::default(); 64], [Rlimit { cur: 0, max: 0 }; RLIMIT_COUNT]);
        assert_eq!(p.check_cpu_timers(), (false, None), "nothing armed");
        // A process without threads or memory has used no CPU: an expiry at 0 is due at once.
        let ms = Duration::from_millis;
        p.timers.lock().unwrap().cpu[CPU_ITIMER_PROF] = CpuTimer { expiry: Some(Duration::ZERO), interval: Some(ms(10)) };
        p.timers.lock().unwrap().cpu[CPU_ITIMER_VIRTUAL] = CpuTimer { expiry: Some(ms(50)), interval: None };
        assert_eq!(p.check_cpu_timers(), (true, Some(ms(10))), "fired, reloaded one period on");
        assert!(p.state.lock().unwrap().pending.mask & super::super::signal::bit(libc::SIGPROF) != 0);
        assert_eq!(p.timers.lock().unwrap().cpu[CPU_ITIMER_PROF].expiry, Some(ms(10)));
        assert_eq!(p.check_cpu_timers(), (false, Some(ms(10))));
    }

    #[test]
    fn address_spaces_left_behind_keep_their_time() {
        let ms = Duration::from_millis;
        let mut a = Accounting::default();
        a.leave_space(CpuTimes { user: ms(10), system: ms(1) }, 4096);
        a.leave_space(CpuTimes { user: ms(8), system: ms(2) }, 8192);
        assert_eq!(a.space_last, CpuTimes { user: ms(10), system: ms(2) }, "the latest reading of one space");
        a.close_space();
        a.leave_space(CpuTimes { user: ms(5), system: ms(0) }, 0);
        a.close_space();
        assert_eq!((a.space_done, a.space_last, a.maxrss), (CpuTimes { user: ms(15), system: ms(2) }, CpuTimes::default(), 8192));
    }
}
