//! Clocks and sleeping. The sentry reads the host's clocks for its own; nothing here is passed
//! through for the workload.
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]

use std::time::{Duration, Instant};

use syscall_tables::nr;

use super::{Args, Support, Table};
use crate::abi::{Timespec, Timeval};
use crate::errno::{Errno, SysResult};
use crate::fs::host::host_clock;
use crate::kernel::signal::ERESTART_RESTARTBLOCK;
use crate::kernel::task::Task;

pub static HANDLERS: Table = &[
    (nr::CLOCK_GETTIME, sys_clock_gettime, Support::Partial("CPU-time clocks count wall time")),
    (nr::CLOCK_GETRES, sys_clock_getres, Support::Full),
    (nr::GETTIMEOFDAY, sys_gettimeofday, Support::Full),
    (nr::TIME, sys_time, Support::Full),
    (nr::NANOSLEEP, sys_nanosleep, Support::Full),
    (nr::CLOCK_NANOSLEEP, sys_clock_nanosleep, Support::Full),
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

fn now(clock: i32, t: &Task) -> SysResult<Timespec> {
    let id = host_clock_id(clock)?;
    if matches!(clock, libc::CLOCK_PROCESS_CPUTIME_ID | libc::CLOCK_THREAD_CPUTIME_ID) {
        let d = t.kernel.boot_time.elapsed();
        return Ok(Timespec { sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX), nsec: i64::from(d.subsec_nanos()) });
    }
    Ok(host_clock(id))
}

fn sys_clock_gettime(t: &mut Task, a: &Args) -> SysResult {
    let ts = now(a.i32(0), t)?;
    t.mm.write_val(a.u64(1), &ts)?;
    Ok(0)
}

fn sys_clock_getres(t: &mut Task, a: &Args) -> SysResult {
    let clock = a.i32(0);
    host_clock_id(clock)?;
    let coarse = matches!(clock, libc::CLOCK_REALTIME_COARSE | libc::CLOCK_MONOTONIC_COARSE);
    let res = Timespec { sec: 0, nsec: if coarse { 4_000_000 } else { 1 } };
    if a.u64(1) != 0 {
        t.mm.write_val(a.u64(1), &res)?;
    }
    Ok(0)
}

fn sys_gettimeofday(t: &mut Task, a: &Args) -> SysResult {
    let ts = host_clock(libc::CLOCK_REALTIME);
    if a.u64(0) != 0 {
        t.mm.write_val(a.u64(0), &Timeval { sec: ts.sec, usec: ts.nsec / 1000 })?;
    }
    if a.u64(1) != 0 {
        t.mm.write_val(a.u64(1), &[0u32; 2])?;
    }
    Ok(0)
}

fn sys_time(t: &mut Task, a: &Args) -> SysResult {
    let sec = host_clock(libc::CLOCK_REALTIME).sec;
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

fn sys_nanosleep(t: &mut Task, a: &Args) -> SysResult {
    let req = read_timespec(t, a.u64(0))?;
    sleep_until(t, Instant::now() + duration(req), a.u64(1))
}

fn sys_clock_nanosleep(t: &mut Task, a: &Args) -> SysResult {
    let (clock, flags) = (a.i32(0), a.i32(1));
    if matches!(clock, libc::CLOCK_THREAD_CPUTIME_ID) {
        return Err(Errno::EINVAL);
    }
    let id = host_clock_id(clock).map_err(|_| Errno::EINVAL)?;
    let req = read_timespec(t, a.u64(2))?;
    let absolute = flags & libc::TIMER_ABSTIME != 0;
    let wait = if absolute {
        let now = host_clock(id);
        let left = i128::from(req.sec - now.sec) * 1_000_000_000 + i128::from(req.nsec - now.nsec);
        Duration::from_nanos(u64::try_from(left.max(0)).unwrap_or(u64::MAX))
    } else {
        duration(req)
    };
    // An absolute sleep leaves nothing to report and restarts with the same deadline.
    sleep_until(t, Instant::now() + wait, if absolute { 0 } else { a.u64(3) })
}
