//! Clocks and sleeping. The sentry reads the host's clocks for its own; nothing here is passed
//! through for the workload.
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use syscall_tables::nr;

use super::{Args, Support, Table};
use crate::abi::{Timespec, Timeval};
use crate::errno::{Errno, SysResult};
use crate::kernel::signal::{SigInfo, ERESTART_RESTARTBLOCK};
use crate::kernel::process::{CpuTimer, CPU_ITIMER_PROF, CPU_ITIMER_VIRTUAL};
use crate::kernel::timer::{Setting, Target};
use crate::kernel::task::Task;
use crate::vdso::clock_now;

pub static HANDLERS: Table = &[
    (nr::CLOCK_GETTIME, sys_clock_gettime, Support::Partial("a thread's user time is its process's shared out by wall time in application code")),
    (nr::CLOCK_GETRES, sys_clock_getres, Support::Full),
    (nr::CLOCK_SETTIME, sys_clock_settime, Support::Partial("the sandbox may not set the clock: EPERM")),
    (nr::SETTIMEOFDAY, sys_settimeofday, Support::Partial("the sandbox may not set the clock: EPERM")),
    (nr::GETTIMEOFDAY, sys_gettimeofday, Support::Full),
    (nr::TIME, sys_time, Support::Full),
    (nr::NANOSLEEP, sys_nanosleep, Support::Full),
    (nr::ALARM, sys_alarm, Support::Full),
    (nr::SETITIMER, sys_setitimer, Support::Partial("ITIMER_VIRTUAL and ITIMER_PROF fire within a few milliseconds of CPU time of their expiry")),
    (nr::GETITIMER, sys_getitimer, Support::Full),
    (nr::TIMER_CREATE, sys_timer_create, Support::Partial("CPU-time clocks count wall time")),
    (nr::TIMER_SETTIME, sys_timer_settime, Support::Full),
    (nr::TIMER_GETTIME, sys_timer_gettime, Support::Full),
    (nr::TIMER_GETOVERRUN, sys_timer_getoverrun, Support::Full),
    (nr::TIMER_DELETE, sys_timer_delete, Support::Full),
    (nr::TIMES, sys_times, Support::Partial("system time includes the sentry's time for the process")),
    (nr::GETRUSAGE, sys_getrusage, Support::Partial(super::process::RUSAGE_NOTE)),
    (nr::CLOCK_NANOSLEEP, sys_clock_nanosleep, Support::Full),
    (nr::GETCPU, sys_getcpu, Support::Full),
];

/// The host clock that answers for `clock`, or `EINVAL`.
fn host_clock_id(clock: i32) -> SysResult<libc::clockid_t> {
    match clock {
        libc::CLOCK_REALTIME | libc::CLOCK_REALTIME_COARSE | libc::CLOCK_TAI | libc::CLOCK_REALTIME_ALARM => Ok(libc::CLOCK_REALTIME),
        libc::CLOCK_MONOTONIC | libc::CLOCK_MONOTONIC_COARSE | libc::CLOCK_MONOTONIC_RAW => Ok(libc::CLOCK_MONOTONIC),
        libc::CLOCK_BOOTTIME | libc::CLOCK_BOOTTIME_ALARM => Ok(libc::CLOCK_BOOTTIME),
        libc::CLOCK_PROCESS_CPUTIME_ID | libc::CLOCK_THREAD_CPUTIME_ID => Ok(libc::CLOCK_MONOTONIC),
        _ => Err(Errno::EINVAL),
    }
}

/// The sandbox's time on host clock `id`: what the vDSO reads, so that both ways to ask agree.
fn read_clock(t: &Task, id: libc::clockid_t) -> Timespec {
    clock_now(t.kernel.vdso.as_ref(), id)
}

/// The reading of a CPU clock named by a process or thread id (`clock_getcpuclockid`,
/// `pthread_getcpuclockid`): the id complemented above three bits, the per-thread bit, and
/// the kind: 0 user and system time, 1 user time, 2 the precise total. A thread's clock is
/// readable only within its own process; a process's by anyone. `EINVAL` otherwise.
fn dynamic_cpu_clock(t: &Task, clock: i32) -> SysResult<Timespec> {
    const PER_THREAD: i32 = 4;
    let (id, kind) = (!(clock >> 3), clock & 3);
    if kind == 3 {
        return Err(Errno::EINVAL);
    }
    let usage = if clock & PER_THREAD != 0 {
        let thread = if id == 0 {
            t.thread.clone()
        } else {
            t.process.state.lock().unwrap().threads.iter().find(|th| th.tid == id).cloned().ok_or(Errno::EINVAL)?
        };
        t.process.thread_usage(&thread)
    } else if id == 0 || id == t.pid() || id == t.tid {
        t.process.usage()
    } else {
        let p = t.kernel.process(id).ok_or(Errno::EINVAL)?;
        if p.state.lock().unwrap().zombie.is_some() {
            return Err(Errno::EINVAL);
        }
        p.usage()
    };
    let d = if kind == 1 { usage.user } else { usage.user + usage.system };
    Ok(to_timespec(Some(d)))
}

fn now(clock: i32, t: &Task) -> SysResult<Timespec> {
    if clock < 0 {
        return dynamic_cpu_clock(t, clock);
    }
    let id = host_clock_id(clock)?;
    if matches!(clock, libc::CLOCK_PROCESS_CPUTIME_ID | libc::CLOCK_THREAD_CPUTIME_ID) {
        return Ok(super::process::cpu_clock(t, clock));
    }
    Ok(read_clock(t, id))
}

fn sys_clock_gettime(t: &mut Task, a: &Args) -> SysResult {
    let ts = now(a.i32(0), t)?;
    t.mm.write_val(a.u64(1), &ts)?;
    Ok(0)
}

fn sys_clock_getres(t: &mut Task, a: &Args) -> SysResult {
    let clock = a.i32(0);
    if clock < 0 {
        dynamic_cpu_clock(t, clock)?;
    } else {
        host_clock_id(clock)?;
    }
    let coarse = matches!(clock, libc::CLOCK_REALTIME_COARSE | libc::CLOCK_MONOTONIC_COARSE);
    let res = Timespec { sec: 0, nsec: if coarse { 4_000_000 } else { 1 } };
    if a.u64(1) != 0 {
        t.mm.write_val(a.u64(1), &res)?;
    }
    Ok(0)
}

/// clock_settime(2): the clocks are the host's, which the sandbox never sets. Linux's checks
/// come first (only the real-time clock can be set, with a valid time; a CPU clock named by
/// id exists but never can), then `EPERM`, as for a caller without `CAP_SYS_TIME`.
fn sys_clock_settime(t: &mut Task, a: &Args) -> SysResult {
    let clock = a.i32(0);
    if clock >= 0 && clock != libc::CLOCK_REALTIME {
        return Err(Errno::EINVAL);
    }
    let ts: Timespec = t.mm.read_val(a.u64(1))?;
    if clock < 0 {
        dynamic_cpu_clock(t, clock)?;
    } else if ts.sec < 0 || !(0..1_000_000_000).contains(&ts.nsec) {
        return Err(Errno::EINVAL);
    }
    Err(Errno::EPERM)
}

/// settimeofday(2): like `clock_settime`, nothing is ever set: `EPERM` once the time given
/// is valid (setting only the time zone takes the capability too).
fn sys_settimeofday(t: &mut Task, a: &Args) -> SysResult {
    if a.u64(0) != 0 {
        let tv: Timeval = t.mm.read_val(a.u64(0))?;
        if tv.sec < 0 || !(0..1_000_000).contains(&tv.usec) {
            return Err(Errno::EINVAL);
        }
    }
    if a.u64(1) != 0 {
        let _tz: [i32; 2] = t.mm.read_val(a.u64(1))?;
    }
    Err(Errno::EPERM)
}

fn sys_gettimeofday(t: &mut Task, a: &Args) -> SysResult {
    let ts = read_clock(t, libc::CLOCK_REALTIME);
    if a.u64(0) != 0 {
        t.mm.write_val(a.u64(0), &Timeval { sec: ts.sec, usec: ts.nsec / 1000 })?;
    }
    if a.u64(1) != 0 {
        t.mm.write_val(a.u64(1), &[0u32; 2])?;
    }
    Ok(0)
}

fn sys_time(t: &mut Task, a: &Args) -> SysResult {
    let sec = read_clock(t, libc::CLOCK_REALTIME).sec;
    if a.u64(0) != 0 {
        t.mm.write_val(a.u64(0), &sec)?;
    }
    Ok(sec as u64)
}

fn read_timespec(t: &Task, addr: u64) -> SysResult<Timespec> {
    let ts: Timespec = t.mm.read_val(addr)?;
    if ts.sec < 0 || !(0..1_000_000_000).contains(&ts.nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(ts)
}

fn duration(ts: Timespec) -> Duration {
    Duration::new(u64::try_from(ts.sec).unwrap_or(0), u32::try_from(ts.nsec).unwrap_or(0))
}

/// Sleeps until `deadline` unless a signal comes first; then writes what was left to `rem`
/// (if given) and asks for a restart, which becomes `EINTR` when a handler runs.
fn sleep_until(t: &Task, deadline: Instant, rem: u64) -> SysResult {
    loop {
        let seen = t.kernel.events.generation();
        let now = Instant::now();
        if now >= deadline {
            return Ok(0);
        }
        if t.signal_pending() {
            if rem != 0 {
                let left = deadline - now;
                let ts = Timespec { sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX), nsec: i64::from(left.subsec_nanos()) };
                t.mm.write_val(rem, &ts)?;
            }
            return Err(ERESTART_RESTARTBLOCK);
        }
        t.kernel.events.wait(seen, Some(deadline));
    }
}

/// `a - b` in nanoseconds.
fn ns_between(a: Timespec, b: Timespec) -> i128 {
    i128::from(a.sec - b.sec) * 1_000_000_000 + i128::from(a.nsec - b.nsec)
}

/// Sleeps until the sandbox's clock `id` reads `target` (the host's clock, which the sentry
/// waits with, may be a little behind or ahead of it), with `sleep_until`'s handling of signals.
fn sleep_on_clock(t: &Task, id: libc::clockid_t, target: Timespec, rem: u64) -> SysResult {
    loop {
        let left = ns_between(target, read_clock(t, id));
        if left <= 0 {
            return Ok(0);
        }
        let wait = Duration::from_nanos(u64::try_from(left).unwrap_or(u64::MAX));
        sleep_until(t, Instant::now() + wait, rem)?;
    }
}

/// `ts + d`.
fn add(ts: Timespec, d: Timespec) -> Timespec {
    let ns = ts.nsec + d.nsec;
    Timespec { sec: ts.sec.saturating_add(d.sec).saturating_add(ns / 1_000_000_000), nsec: ns % 1_000_000_000 }
}

fn sys_nanosleep(t: &mut Task, a: &Args) -> SysResult {
    let req = read_timespec(t, a.u64(0))?;
    let target = add(read_clock(t, libc::CLOCK_MONOTONIC), req);
    sleep_on_clock(t, libc::CLOCK_MONOTONIC, target, a.u64(1))
}

fn sys_clock_nanosleep(t: &mut Task, a: &Args) -> SysResult {
    let (clock, flags) = (a.i32(0), a.i32(1));
    if matches!(clock, libc::CLOCK_THREAD_CPUTIME_ID) {
        return Err(Errno::EINVAL);
    }
    let id = host_clock_id(clock).map_err(|_| Errno::EINVAL)?;
    let req = read_timespec(t, a.u64(2))?;
    let absolute = flags & libc::TIMER_ABSTIME != 0;
    // An absolute sleep leaves nothing to report and restarts with the same deadline.
    match absolute {
        true => sleep_on_clock(t, id, req, 0),
        false => sleep_on_clock(t, id, add(read_clock(t, id), req), a.u64(3)),
    }
}

fn to_timeval(d: Option<Duration>) -> Timeval {
    d.map_or(Timeval::default(), |d| Timeval { sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX), usec: i64::from(d.subsec_micros()) })
}

fn to_timespec(d: Option<Duration>) -> Timespec {
    d.map_or(Timespec::default(), |d| Timespec { sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX), nsec: i64::from(d.subsec_nanos()) })
}

fn from_timeval(tv: Timeval) -> SysResult<Option<Duration>> {
    if tv.sec < 0 || !(0..1_000_000).contains(&tv.usec) {
        return Err(Errno::EINVAL);
    }
    let d = Duration::new(tv.sec as u64, tv.usec as u32 * 1000);
    Ok((!d.is_zero()).then_some(d))
}

fn from_timespec(ts: Timespec) -> SysResult<Option<Duration>> {
    if ts.sec < 0 || !(0..1_000_000_000).contains(&ts.nsec) {
        return Err(Errno::EINVAL);
    }
    let d = duration(ts);
    Ok((!d.is_zero()).then_some(d))
}

/// The process's `ITIMER_REAL`, created on first use; it sends SIGALRM to the process.
fn real_timer(t: &Task) -> u64 {
    let mut timers = t.process.timers.lock().unwrap();
    *timers.real.get_or_insert_with(|| t.kernel.timers.create(Target::Process(Arc::downgrade(&t.process)), SigInfo::kernel(libc::SIGALRM)))
}

fn sys_alarm(t: &mut Task, a: &Args) -> SysResult {
    let secs = u64::from(a.u32(0));
    let id = real_timer(t);
    let old = t.kernel.timers.set(id, Setting { value: (secs > 0).then(|| Duration::from_secs(secs)), interval: None });
    // Whole seconds left, rounded up as Linux does (a pending alarm never reads as 0).
    Ok(old.value.map_or(0, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0)))
}

fn sys_setitimer(t: &mut Task, a: &Args) -> SysResult {
    let which = a.i32(0);
    if !matches!(which, libc::ITIMER_REAL | libc::ITIMER_VIRTUAL | libc::ITIMER_PROF) {
        return Err(Errno::EINVAL);
    }
    let new = if a.u64(1) != 0 {
        let [interval, value]: [Timeval; 2] = t.mm.read_val(a.u64(1))?;
        Some(Setting { value: from_timeval(value)?, interval: from_timeval(interval)? })
    } else {
        None
    };
    let old = if which == libc::ITIMER_REAL {
        let id = real_timer(t);
        match new {
            Some(n) => t.kernel.timers.set(id, n),
            None => t.kernel.timers.get(id),
        }
    } else {
        set_cpu_itimer(t, cpu_itimer_index(which), new)
    };
    if a.u64(2) != 0 {
        t.mm.write_val(a.u64(2), &[to_timeval(old.interval), to_timeval(old.value)])?;
    }
    Ok(0)
}

/// The slot of `ITIMER_VIRTUAL` or `ITIMER_PROF` in the process's CPU timers.
fn cpu_itimer_index(which: i32) -> usize {
    if which == libc::ITIMER_VIRTUAL {
        CPU_ITIMER_VIRTUAL
    } else {
        CPU_ITIMER_PROF
    }
}

/// Reads (and with `new`, re-arms) one of the process's CPU interval timers; returns the
/// setting it had. Its value is CPU time left: one that is already due reads as a sliver.
fn set_cpu_itimer(t: &Task, i: usize, new: Option<Setting>) -> Setting {
    let now = t.process.itimer_clocks()[i];
    let old = {
        let mut timers = t.process.timers.lock().unwrap();
        let timer = &mut timers.cpu[i];
        let old = Setting { value: timer.expiry.map(|e| e.saturating_sub(now).max(Duration::from_micros(1))), interval: timer.interval };
        if let Some(n) = new {
            *timer = CpuTimer { expiry: n.value.map(|v| now + v), interval: n.interval.filter(|_| n.value.is_some()) };
        }
        old
    };
    if new.is_some_and(|n| n.value.is_some()) {
        t.kernel.timers.watch_cpu(&t.process);
    }
    old
}

fn sys_getitimer(t: &mut Task, a: &Args) -> SysResult {
    let which = a.i32(0);
    let cur = match which {
        libc::ITIMER_REAL => t.kernel.timers.get(real_timer(t)),
        libc::ITIMER_VIRTUAL | libc::ITIMER_PROF => set_cpu_itimer(t, cpu_itimer_index(which), None),
        _ => return Err(Errno::EINVAL),
    };
    t.mm.write_val(a.u64(1), &[to_timeval(cur.interval), to_timeval(cur.value)])?;
    Ok(0)
}

const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD_ID: i32 = 4;
const SI_TIMER: i32 = -2;

fn sys_timer_create(t: &mut Task, a: &Args) -> SysResult {
    host_clock_id(a.i32(0))?;
    let (target, info) = if a.u64(1) == 0 {
        (Target::Process(Arc::downgrade(&t.process)), SigInfo { signo: libc::SIGALRM, code: SI_TIMER, ..SigInfo::default() })
    } else {
        let ev: [u64; 3] = t.mm.read_val(a.u64(1))?;
        let (value, signo, notify, tid) = (ev[0], ev[1] as u32 as i32, (ev[1] >> 32) as u32 as i32, ev[2] as u32 as i32);
        let info = SigInfo { signo, code: SI_TIMER, value, ..SigInfo::default() };
        match notify {
            SIGEV_NONE => (Target::Nothing, info),
            SIGEV_SIGNAL | SIGEV_THREAD_ID if !(1..=64).contains(&signo) => return Err(Errno::EINVAL),
            SIGEV_SIGNAL => (Target::Process(Arc::downgrade(&t.process)), info),
            SIGEV_THREAD_ID => {
                let thread = t.process.state.lock().unwrap().threads.iter().find(|th| th.tid == tid).cloned().ok_or(Errno::EINVAL)?;
                (Target::Thread(Arc::downgrade(&t.process), Arc::downgrade(&thread)), info)
            }
            _ => return Err(Errno::EINVAL),
        }
    };
    let mut timers = t.process.timers.lock().unwrap();
    let user_id = (0..i32::MAX).find(|i| !timers.posix.contains_key(i)).ok_or(Errno::EAGAIN)?;
    let mut info = info;
    if a.u64(1) == 0 {
        info.value = user_id as u64;
    }
    let id = t.kernel.timers.create(target, info);
    timers.posix.insert(user_id, id);
    drop(timers);
    if let Err(e) = t.mm.write_val(a.u64(2), &user_id) {
        if let Some(id) = t.process.timers.lock().unwrap().posix.remove(&user_id) {
            t.kernel.timers.delete(id);
        }
        return Err(e);
    }
    Ok(0)
}

fn posix_timer(t: &Task, user_id: i32) -> SysResult<u64> {
    t.process.timers.lock().unwrap().posix.get(&user_id).copied().ok_or(Errno::EINVAL)
}

fn sys_timer_settime(t: &mut Task, a: &Args) -> SysResult {
    let id = posix_timer(t, a.i32(0))?;
    let flags = a.i32(1);
    if flags & !libc::TIMER_ABSTIME != 0 {
        return Err(Errno::EINVAL);
    }
    let [interval, value]: [Timespec; 2] = t.mm.read_val(a.u64(2))?;
    let mut value = from_timespec(value)?;
    if flags & libc::TIMER_ABSTIME != 0 {
        // Absolute times are on the timer's clock; the service counts from now.
        let now = read_clock(t, libc::CLOCK_MONOTONIC);
        value = value.map(|v| v.saturating_sub(duration(now)).max(Duration::from_nanos(1)));
    }
    let old = t.kernel.timers.set(id, Setting { value, interval: from_timespec(interval)? });
    if a.u64(3) != 0 {
        t.mm.write_val(a.u64(3), &[to_timespec(old.interval), to_timespec(old.value)])?;
    }
    Ok(0)
}

fn sys_timer_gettime(t: &mut Task, a: &Args) -> SysResult {
    let cur = t.kernel.timers.get(posix_timer(t, a.i32(0))?);
    t.mm.write_val(a.u64(1), &[to_timespec(cur.interval), to_timespec(cur.value)])?;
    Ok(0)
}

fn sys_timer_getoverrun(t: &mut Task, a: &Args) -> SysResult {
    Ok(t.kernel.timers.overruns(posix_timer(t, a.i32(0))?).min(i32::MAX as u64))
}

fn sys_timer_delete(t: &mut Task, a: &Args) -> SysResult {
    let id = t.process.timers.lock().unwrap().posix.remove(&a.i32(0)).ok_or(Errno::EINVAL)?;
    t.kernel.timers.delete(id);
    Ok(0)
}

fn sys_times(t: &mut Task, a: &Args) -> SysResult {
    if a.u64(0) != 0 {
        t.mm.write_val(a.u64(0), &super::process::tms(t))?;
    }
    // Clock ticks (100 Hz) since boot.
    let ts = read_clock(t, libc::CLOCK_BOOTTIME);
    Ok((ts.sec as u64) * 100 + (ts.nsec as u64) / 10_000_000)
}

fn sys_getrusage(t: &mut Task, a: &Args) -> SysResult {
    if !matches!(a.i32(0), libc::RUSAGE_SELF | libc::RUSAGE_CHILDREN | libc::RUSAGE_THREAD) {
        return Err(Errno::EINVAL);
    }
    let usage = super::process::rusage(t, a.i32(0));
    t.mm.write_val(a.u64(1), &usage.to_rusage())?;
    Ok(0)
}

/// getcpu(2): the host CPU and node the thread runs on (where the platform does not run it on
/// its sentry thread's CPU, it tells), which the vDSO reads from TSC_AUX too.
fn sys_getcpu(t: &mut Task, a: &Args) -> SysResult {
    let (cpu, node) = match t.ctx.host_cpu(t.mm.space()) {
        Ok(Some(both)) => both,
        _ => crate::vdso::host_getcpu(),
    };
    if a.u64(0) != 0 {
        t.mm.write_val(a.u64(0), &cpu)?;
    }
    if a.u64(1) != 0 {
        t.mm.write_val(a.u64(1), &node)?;
    }
    Ok(0)
}
