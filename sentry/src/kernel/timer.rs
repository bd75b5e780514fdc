//! Interval and POSIX timers: one sentry thread sleeps until the earliest deadline and sends
//! the timer's signal when it passes, re-arming periodic timers.
//!
//! A timer is owned by its process (`alarm`/`setitimer` use the process's real timer; each
//! `timer_create` adds one). Targets are held weakly: a timer never keeps a dead process alive.
//!
//! The CPU-time interval timers (`ITIMER_VIRTUAL`, `ITIMER_PROF`) live in their process; a
//! second thread samples the CPU clocks of the processes that arm one, often enough to fire
//! them within a few milliseconds of CPU time.
//!
//! Lock order: the watch list before a process's timers.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use super::process::{Process, Thread};
use super::signal::SigInfo;
use super::Events;

/// Where an expiring timer's signal goes.
#[derive(Clone)]
pub enum Target {
    Process(Weak<Process>),
    Thread(Weak<Process>, Weak<Thread>),
    /// `SIGEV_NONE`: the timer only counts.
    Nothing,
}

struct Timer {
    deadline: Option<Instant>,
    interval: Option<Duration>,
    target: Target,
    info: SigInfo,
    overruns: u64,
}

#[derive(Default)]
struct State {
    next_id: u64,
    timers: BTreeMap<u64, Timer>,
    service_started: bool,
}

/// All timers of the sandbox.
pub struct Timers {
    state: Mutex<State>,
    changed: Condvar,
    events: Arc<Events>,
    /// Processes with a CPU interval timer armed.
    cpu_watch: Mutex<CpuWatch>,
    cpu_changed: Condvar,
}

#[derive(Default)]
struct CpuWatch {
    processes: Vec<Weak<Process>>,
    started: bool,
}

/// Longest pause between two samples of the CPU clocks of a process with a CPU timer armed.
const CPU_SAMPLE_MAX: Duration = Duration::from_millis(10);
/// Shortest pause, however close an expiry is.
const CPU_SAMPLE_MIN: Duration = Duration::from_millis(1);

/// A timer's setting: time to the next expiry (None: disarmed) and its period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Setting {
    pub value: Option<Duration>,
    pub interval: Option<Duration>,
}

impl Timers {
    pub fn new(events: Arc<Events>) -> Arc<Timers> {
        Arc::new(Timers {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            events,
            cpu_watch: Mutex::new(CpuWatch::default()),
            cpu_changed: Condvar::new(),
        })
    }

    /// Starts sampling `p`'s CPU clocks for its CPU interval timers (call after arming one).
    pub fn watch_cpu(self: &Arc<Timers>, p: &Arc<Process>) {
        let mut w = self.cpu_watch.lock().unwrap();
        if !w.processes.iter().any(|q| std::ptr::eq(q.as_ptr(), Arc::as_ptr(p))) {
            w.processes.push(Arc::downgrade(p));
        }
        let timers = self.clone();
        start_once(&mut w.started, "cpu-timers", move || timers.serve_cpu());
        drop(w);
        self.cpu_changed.notify_all();
    }

    /// The CPU timer thread: samples the watched processes, fires what is due, and sleeps for
    /// less than the least CPU time left could take to pass.
    fn serve_cpu(self: Arc<Timers>) {
        let mut w = self.cpu_watch.lock().unwrap();
        loop {
            // Forget the dead and the disarmed (under the list's lock: arming adds after).
            w.processes.retain(|q| q.upgrade().is_some_and(|p| p.cpu_timers_armed()));
            if w.processes.is_empty() {
                w = self.cpu_changed.wait(w).unwrap();
                continue;
            }
            let list = w.processes.clone();
            drop(w);
            let mut nap = CPU_SAMPLE_MAX;
            let mut fired = false;
            for p in list.iter().filter_map(Weak::upgrade) {
                let (any, left) = p.check_cpu_timers();
                fired |= any;
                if let Some(left) = left {
                    // Each thread burns at most two CPU clocks at once: its application
                    // code's and its sentry thread's.
                    let threads = u32::try_from(p.state.lock().unwrap().threads.len().max(1)).unwrap_or(u32::MAX);
                    nap = nap.min(left / threads.saturating_mul(2));
                }
            }
            if fired {
                self.events.notify();
            }
            w = self.cpu_watch.lock().unwrap();
            w = self.cpu_changed.wait_timeout(w, nap.max(CPU_SAMPLE_MIN)).unwrap().0;
        }
    }

    /// A new, disarmed timer.
    pub fn create(self: &Arc<Timers>, target: Target, info: SigInfo) -> u64 {
        let mut st = self.state.lock().unwrap();
        st.next_id += 1;
        let id = st.next_id;
        st.timers.insert(id, Timer { deadline: None, interval: None, target, info, overruns: 0 });
        id
    }

    pub fn delete(&self, id: u64) {
        self.state.lock().unwrap().timers.remove(&id);
        self.changed.notify_all();
    }

    /// The current setting.
    pub fn get(&self, id: u64) -> Setting {
        let st = self.state.lock().unwrap();
        let Some(t) = st.timers.get(&id) else { return Setting::default() };
        let now = Instant::now();
        Setting { value: t.deadline.map(|d| d.saturating_duration_since(now).max(Duration::from_nanos(1))), interval: t.interval }
    }

    /// Arms (or with `value: None` disarms) a timer; returns the old setting.
    pub fn set(self: &Arc<Timers>, id: u64, new: Setting) -> Setting {
        let old = self.get(id);
        let mut st = self.state.lock().unwrap();
        if let Some(t) = st.timers.get_mut(&id) {
            t.deadline = new.value.filter(|v| !v.is_zero()).map(|v| Instant::now() + v);
            t.interval = new.interval.filter(|i| !i.is_zero());
            t.overruns = 0;
        }
        let timers = self.clone();
        start_once(&mut st.service_started, "timers", move || timers.serve());
        drop(st);
        self.changed.notify_all();
        old
    }

    pub fn overruns(&self, id: u64) -> u64 {
        self.state.lock().unwrap().timers.get(&id).map_or(0, |t| t.overruns)
    }

    /// The timer thread: fires what is due, sleeps until the next deadline.
    fn serve(self: Arc<Timers>) {
        let mut st = self.state.lock().unwrap();
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            for t in st.timers.values_mut() {
                let Some(deadline) = t.deadline else { continue };
                if deadline > now {
                    continue;
                }
                due.push((t.target.clone(), t.info));
                t.deadline = match t.interval {
                    Some(i) => {
                        // Periods missed while late count as overruns, as Linux reports them.
                        let late = now - deadline;
                        let missed = u64::try_from(late.as_nanos() / i.as_nanos().max(1)).unwrap_or(u64::MAX);
                        t.overruns = missed;
                        Some(deadline + i * u32::try_from(missed + 1).unwrap_or(u32::MAX))
                    }
                    None => None,
                };
            }
            if !due.is_empty() {
                drop(st);
                for (target, info) in due {
                    fire(&target, info);
                }
                self.events.notify();
                st = self.state.lock().unwrap();
                continue;
            }
            let next = st.timers.values().filter_map(|t| t.deadline).min();
            st = match next {
                Some(d) => self.changed.wait_timeout(st, d.saturating_duration_since(now)).unwrap().0,
                None => self.changed.wait(st).unwrap(),
            };
        }
    }
}

fn fire(target: &Target, info: SigInfo) {
    match target {
        Target::Process(p) => {
            if let Some(p) = p.upgrade() {
                if !p.refuses(info.signo) {
                    p.send(info);
                }
            }
        }
        Target::Thread(p, t) => {
            if let (Some(p), Some(t)) = (p.upgrade(), t.upgrade()) {
                if !super::signal::ignored(p.action(info.signo), info.signo) || t.blocks(info.signo) {
                    t.send(info);
                }
            }
        }
        Target::Nothing => {}
    }
}

/// Starts the service thread `name` running `body`, unless `started` says it runs already.
fn start_once(started: &mut bool, name: &str, body: impl FnOnce() + Send + 'static) {
    if *started {
        return;
    }
    *started = std::thread::Builder::new().name(name.into()).spawn(body).is_ok();
    if !*started {
        tracing::error!("cannot start the {name} thread");
    }
}
