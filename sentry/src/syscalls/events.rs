//! Descriptors that wait for events: eventfd, epoll, timerfd and signalfd.
//!
//! The files live in `fs/` and never block; the waits are here. epoll_wait collects ready
//! interests and otherwise sleeps on the kernel's wake-up channel, until its timeout, the
//! earliest self-changing readiness of a watched file (a timerfd's next expiry), or a short
//! host re-check interval when a watched file is backed by a host descriptor.
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use syscall_tables::nr;

use super::{Args, Support, Table};
use crate::abi::Timespec;
use crate::errno::{Errno, SysResult};
use crate::fs::epoll::{as_epoll, Epoll, EPOLL_CTL_DEL};
use crate::fs::eventfd::EventFd;
use crate::fs::signalfd::{SignalFd, RECORD_SIZE};
use crate::fs::timerfd::{valid_clock, TimerFd};
use crate::kernel::signal::ERESTARTSYS;
use crate::kernel::task::Task;
use crate::vfs::{File, FileOps};

pub static HANDLERS: Table = &[
    (nr::EVENTFD, sys_eventfd, Support::Partial("a write of more than 8 bytes returns its length (Linux: 8)")),
    (nr::EVENTFD2, sys_eventfd2, Support::Partial("a write of more than 8 bytes returns its length (Linux: 8)")),
    (nr::EPOLL_CREATE, sys_epoll_create, Support::Full),
    (nr::EPOLL_CREATE1, sys_epoll_create1, Support::Full),
    (nr::EPOLL_CTL, sys_epoll_ctl, Support::Partial("nesting depth is checked below the added epoll only")),
    (nr::EPOLL_WAIT, sys_epoll_wait, Support::Partial(EPOLL_WAIT_NOTE)),
    (nr::EPOLL_PWAIT, sys_epoll_pwait, Support::Partial(EPOLL_WAIT_NOTE)),
    (nr::EPOLL_PWAIT2, sys_epoll_pwait2, Support::Partial(EPOLL_WAIT_NOTE)),
    (nr::TIMERFD_CREATE, sys_timerfd_create, Support::Full),
    (nr::TIMERFD_SETTIME, sys_timerfd_settime, Support::Partial("TFD_TIMER_CANCEL_ON_SET never cancels: the sandbox's clock is never set")),
    (nr::TIMERFD_GETTIME, sys_timerfd_gettime, Support::Full),
    (nr::SIGNALFD, sys_signalfd, Support::Partial(SIGNALFD_NOTE)),
    (nr::SIGNALFD4, sys_signalfd4, Support::Partial(SIGNALFD_NOTE)),
];

const EPOLL_WAIT_NOTE: &str =
    "EPOLLET on files without a wake-up count (pipes, host files) may report again after unrelated wake-ups; EPOLLEXCLUSIVE wakes every waiter";
const SIGNALFD_NOTE: &str = "poll and epoll readiness is the creating thread's pending signals, not the poller's";

/// How often a task waiting on host descriptors looks at them again.
const HOST_POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Size of `struct epoll_event` (packed on x86_64).
const EPOLL_EVENT_SIZE: usize = 12;
/// Most events one `epoll_wait` may ask for.
const EP_MAX_EVENTS: i32 = i32::MAX / EPOLL_EVENT_SIZE as i32;

/// Installs a new anonymous file: read-write, with `O_NONBLOCK` and `O_CLOEXEC` from `flags`.
fn install(t: &Task, ops: Arc<dyn FileOps>, flags: i32) -> SysResult {
    let file = File::new(ops, None, libc::O_RDWR | (flags & libc::O_NONBLOCK));
    let limit = t.rlimit(libc::RLIMIT_NOFILE).cur;
    Ok(t.files().install(file, flags & libc::O_CLOEXEC != 0, 0, limit)? as u64)
}

// ---- eventfd ----

fn eventfd_common(t: &mut Task, initval: u32, flags: i32) -> SysResult {
    if flags & !(libc::EFD_SEMAPHORE | libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let ops = EventFd::new(t.kernel.events.clone(), t.kernel.next_ino(), u64::from(initval), flags & libc::EFD_SEMAPHORE != 0);
    install(t, Arc::new(ops), flags)
}

fn sys_eventfd(t: &mut Task, a: &Args) -> SysResult {
    eventfd_common(t, a.u32(0), 0)
}

fn sys_eventfd2(t: &mut Task, a: &Args) -> SysResult {
    eventfd_common(t, a.u32(0), a.i32(1))
}

// ---- epoll ----

fn epoll_new(t: &mut Task, flags: i32) -> SysResult {
    let ops = Epoll::new(t.kernel.events.clone(), t.kernel.next_ino());
    install(t, Arc::new(ops), flags)
}

fn sys_epoll_create(t: &mut Task, a: &Args) -> SysResult {
    if a.i32(0) <= 0 {
        return Err(Errno::EINVAL);
    }
    epoll_new(t, 0)
}

fn sys_epoll_create1(t: &mut Task, a: &Args) -> SysResult {
    let flags = a.i32(0);
    if flags & !libc::EPOLL_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    epoll_new(t, flags)
}

fn sys_epoll_ctl(t: &mut Task, a: &Args) -> SysResult {
    let (epfd, op, fd) = (a.fd(0), a.i32(1), a.fd(2));
    let event = if op == EPOLL_CTL_DEL {
        (0, 0)
    } else {
        let mut raw = [0u8; EPOLL_EVENT_SIZE];
        t.mm.copy_in(a.u64(3), &mut raw)?;
        let events = u32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let mut data = [0u8; 8];
        data.copy_from_slice(&raw[4..12]);
        (events, u64::from_ne_bytes(data))
    };
    let ep = t.file(epfd)?;
    let target = t.file(fd)?;
    Epoll::ctl(&ep, op, fd, &target, event)?;
    Ok(0)
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Waits until an interest is ready, the deadline passes (0 events) or a signal arrives
/// (`EINTR`: epoll waits are never restarted); writes the events to `addr`.
fn epoll_wait_common(t: &Task, epfd: i32, addr: u64, maxevents: i32, deadline: Option<Instant>) -> SysResult {
    if maxevents <= 0 || maxevents > EP_MAX_EVENTS {
        return Err(Errno::EINVAL);
    }
    let file = t.file(epfd)?;
    let ep = as_epoll(&file).ok_or(Errno::EINVAL)?;
    loop {
        let seen = t.kernel.events.generation();
        let found = ep.collect(maxevents as usize, seen);
        if !found.events.is_empty() {
            let mut out = Vec::with_capacity(found.events.len() * EPOLL_EVENT_SIZE);
            for (events, data) in &found.events {
                out.extend_from_slice(&events.to_ne_bytes());
                out.extend_from_slice(&data.to_ne_bytes());
            }
            t.mm.copy_out(addr, &out)?;
            return Ok(found.events.len() as u64);
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Ok(0);
        }
        if t.signal_pending() {
            return Err(Errno::EINTR);
        }
        let mut wake = earliest(deadline, found.next);
        if found.host {
            wake = earliest(wake, Some(now + HOST_POLL_INTERVAL));
        }
        t.kernel.events.wait(seen, wake);
    }
}

fn ms_deadline(timeout: i32) -> Option<Instant> {
    (timeout >= 0).then(|| Instant::now() + Duration::from_millis(timeout as u64))
}

fn sys_epoll_wait(t: &mut Task, a: &Args) -> SysResult {
    epoll_wait_common(t, a.fd(0), a.u64(1), a.i32(2), ms_deadline(a.i32(3)))
}

fn sys_epoll_pwait(t: &mut Task, a: &Args) -> SysResult {
    let deadline = ms_deadline(a.i32(3));
    super::poll::with_temporary_mask(t, a.u64(4), a.u64(5), |t| epoll_wait_common(t, a.fd(0), a.u64(1), a.i32(2), deadline))
}

fn read_timespec(t: &Task, addr: u64) -> SysResult<Timespec> {
    let ts: Timespec = t.mm.read_val(addr)?;
    if ts.sec < 0 || !(0..1_000_000_000).contains(&ts.nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(ts)
}

fn sys_epoll_pwait2(t: &mut Task, a: &Args) -> SysResult {
    let deadline = if a.u64(3) == 0 {
        None
    } else {
        let ts = read_timespec(t, a.u64(3))?;
        Some(Instant::now() + Duration::new(ts.sec as u64, ts.nsec as u32))
    };
    super::poll::with_temporary_mask(t, a.u64(4), a.u64(5), |t| epoll_wait_common(t, a.fd(0), a.u64(1), a.i32(2), deadline))
}

// ---- timerfd ----

const TFD_TIMER_ABSTIME: i32 = 1;
const TFD_TIMER_CANCEL_ON_SET: i32 = 2;

fn sys_timerfd_create(t: &mut Task, a: &Args) -> SysResult {
    let (clock, flags) = (a.i32(0), a.i32(1));
    if flags & !(libc::TFD_CLOEXEC | libc::TFD_NONBLOCK) != 0 || !valid_clock(clock) {
        return Err(Errno::EINVAL);
    }
    let ops = TimerFd::new(t.kernel.events.clone(), t.kernel.next_ino(), clock, Some(&t.kernel.timers));
    install(t, Arc::new(ops), flags)
}

fn timerfd_of(file: &File) -> SysResult<&TimerFd> {
    file.ops.as_any().and_then(|a| a.downcast_ref::<TimerFd>()).ok_or(Errno::EINVAL)
}

fn sys_timerfd_settime(t: &mut Task, a: &Args) -> SysResult {
    let (fd, flags) = (a.fd(0), a.i32(1));
    let new: [Timespec; 2] = t.mm.read_val(a.u64(2))?;
    if flags & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(Errno::EINVAL);
    }
    if new.iter().any(|ts| ts.sec < 0 || !(0..1_000_000_000).contains(&ts.nsec)) {
        return Err(Errno::EINVAL);
    }
    let file = t.file(fd)?;
    let old = timerfd_of(&file)?.set(new[0], new[1], flags & TFD_TIMER_ABSTIME != 0);
    if a.u64(3) != 0 {
        t.mm.write_val(a.u64(3), &old)?;
    }
    Ok(0)
}

fn sys_timerfd_gettime(t: &mut Task, a: &Args) -> SysResult {
    let file = t.file(a.fd(0))?;
    let cur = timerfd_of(&file)?.get();
    t.mm.write_val(a.u64(1), &cur)?;
    Ok(0)
}

// ---- signalfd ----

fn signalfd_common(t: &mut Task, fd: i32, mask_addr: u64, size: u64, flags: i32) -> SysResult {
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let mask: u64 = t.mm.read_val(mask_addr)?;
    if flags & !(libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    if fd == -1 {
        let ops = SignalFd::new(t.kernel.events.clone(), t.kernel.next_ino(), mask, &t.process, &t.thread);
        return install(t, Arc::new(ops), flags);
    }
    let file = t.file(fd)?;
    let sfd = file.ops.as_any().and_then(|a| a.downcast_ref::<SignalFd>()).ok_or(Errno::EINVAL)?;
    sfd.set_mask(mask);
    Ok(fd as u64)
}

fn sys_signalfd(t: &mut Task, a: &Args) -> SysResult {
    signalfd_common(t, a.fd(0), a.u64(1), a.u64(2), 0)
}

fn sys_signalfd4(t: &mut Task, a: &Args) -> SysResult {
    signalfd_common(t, a.fd(0), a.u64(1), a.u64(2), a.i32(3))
}

/// For `read(2)` (and its vector forms) before the generic path: a signalfd reads the signals
/// of the *calling* task, which the file operations cannot see. `None` for other files.
pub fn read_hook(t: &Task, file: &File, addr: u64, count: usize) -> Option<SysResult> {
    let sfd = file.ops.as_any()?.downcast_ref::<SignalFd>()?;
    Some(read_signalfd(t, file, sfd, addr, count))
}

fn read_signalfd(t: &Task, file: &File, sfd: &SignalFd, addr: u64, count: usize) -> SysResult {
    if !file.readable() {
        return Err(Errno::EBADF);
    }
    if count < RECORD_SIZE {
        return Err(Errno::EINVAL);
    }
    let mut buf = vec![0u8; (count / RECORD_SIZE).min(64) * RECORD_SIZE];
    loop {
        let seen = t.kernel.events.generation();
        match sfd.read_for(Some(&t.thread), Some(&t.process), &mut buf) {
            Ok(n) => {
                t.mm.copy_out(addr, &buf[..n])?;
                return Ok(n as u64);
            }
            Err(Errno::EAGAIN) if file.flags() & libc::O_NONBLOCK == 0 => {
                if t.signal_pending() {
                    return Err(ERESTARTSYS);
                }
                t.kernel.events.wait(seen, None);
            }
            Err(e) => return Err(e),
        }
    }
}
