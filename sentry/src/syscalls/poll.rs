//! Waiting on many descriptors: poll, ppoll, select, pselect6.
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]

use std::time::{Duration, Instant};

use syscall_tables::nr;

use super::{Args, Support, Table};
use crate::abi::{Timespec, Timeval};
use crate::errno::{Errno, SysResult};
use crate::kernel::signal::ERESTARTNOHAND;
use crate::kernel::task::Task;

pub static HANDLERS: Table = &[
    (nr::POLL, sys_poll, Support::Full),
    (nr::PPOLL, sys_ppoll, Support::Full),
    (nr::SELECT, sys_select, Support::Full),
    (nr::PSELECT6, sys_pselect6, Support::Full),
];

/// How often a task waiting on host descriptors looks at them again.
const HOST_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Events poll always reports, asked for or not.
const ALWAYS: u32 = (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) as u32;

/// Polls `fds` (descriptor, asked events) until one is ready, the deadline passes, or a signal
/// arrives; returns the ready events of each.
fn wait_ready(t: &Task, fds: &[(i32, u32)], deadline: Option<Instant>) -> SysResult<Vec<u32>> {
    loop {
        let seen = t.kernel.events.generation();
        let mut host = false;
        // The earliest instant a file's readiness changes by itself (a timerfd expiring).
        let mut next: Option<Instant> = None;
        let ready: Vec<u32> = fds
            .iter()
            .map(|&(fd, want)| {
                if fd < 0 {
                    return 0;
                }
                match t.file(fd) {
                    Ok(f) => {
                        host |= f.ops.polls_host();
                        if let Some(at) = f.ops.next_change() {
                            next = Some(next.map_or(at, |n| n.min(at)));
                        }
                        f.ops.poll() & (want | ALWAYS)
                    }
                    Err(_) => libc::POLLNVAL as u32,
                }
            })
            .collect();
        if ready.iter().any(|&r| r != 0) {
            return Ok(ready);
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Ok(ready);
        }
        if t.signal_pending() {
            return Err(ERESTARTNOHAND);
        }
        let wake = if host { Some(deadline.map_or(now + HOST_POLL_INTERVAL, |d| d.min(now + HOST_POLL_INTERVAL))) } else { deadline };
        let wake = match (wake, next) {
            (Some(w), Some(n)) => Some(w.min(n)),
            (w, n) => w.or(n),
        };
        t.kernel.events.wait(seen, wake);
    }
}

fn poll_common(t: &mut Task, addr: u64, nfds: u64, deadline: Option<Instant>) -> SysResult {
    let limit = t.rlimit(libc::RLIMIT_NOFILE).cur;
    if nfds > limit.max(1024) {
        return Err(Errno::EINVAL);
    }
    let n = nfds as usize;
    let mut raw = vec![0u8; n * 8];
    t.mm.copy_in(addr, &mut raw)?;
    let fds: Vec<(i32, u32)> = raw
        .chunks(8)
        .map(|c| (i32::from_le_bytes([c[0], c[1], c[2], c[3]]), u32::from(u16::from_le_bytes([c[4], c[5]]))))
        .collect();
    let ready = wait_ready(t, &fds, deadline)?;
    for (i, r) in ready.iter().enumerate() {
        raw[i * 8 + 6..i * 8 + 8].copy_from_slice(&(*r as u16).to_le_bytes());
    }
    t.mm.copy_out(addr, &raw)?;
    Ok(ready.iter().filter(|&&r| r != 0).count() as u64)
}

fn sys_poll(t: &mut Task, a: &Args) -> SysResult {
    let timeout = a.i32(2);
    let deadline = (timeout >= 0).then(|| Instant::now() + Duration::from_millis(timeout as u64));
    poll_common(t, a.u64(0), a.u64(1), deadline)
}

fn read_deadline(t: &Task, addr: u64) -> SysResult<Option<Instant>> {
    if addr == 0 {
        return Ok(None);
    }
    let ts: Timespec = t.mm.read_val(addr)?;
    if ts.sec < 0 || !(0..1_000_000_000).contains(&ts.nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Some(Instant::now() + Duration::new(ts.sec as u64, ts.nsec as u32)))
}

/// Runs `wait` under the signal mask at `addr` (none if null), as ppoll, pselect6 and
/// epoll_pwait do. An interrupted wait gives `EINTR`, and its mask stays until the handler of
/// the interrupting signal has run.
pub(super) fn with_temporary_mask(t: &mut Task, addr: u64, size: u64, wait: impl FnOnce(&mut Task) -> SysResult) -> SysResult {
    if addr != 0 {
        if size != 8 {
            return Err(Errno::EINVAL);
        }
        let mask: u64 = t.mm.read_val(addr)?;
        t.begin_temporary_mask(mask);
    }
    match wait(t) {
        Err(ERESTARTNOHAND | Errno::EINTR) => Err(Errno::EINTR),
        r => {
            t.end_temporary_mask();
            r
        }
    }
}

fn sys_ppoll(t: &mut Task, a: &Args) -> SysResult {
    let deadline = read_deadline(t, a.u64(2))?;
    with_temporary_mask(t, a.u64(3), a.u64(4), |t| poll_common(t, a.u64(0), a.u64(1), deadline))
}

/// select and pselect6 over three fd_set bitmaps.
fn select_common(t: &mut Task, nfds: i32, sets: [u64; 3], deadline: Option<Instant>) -> SysResult {
    let nfds = usize::try_from(nfds).map_err(|_| Errno::EINVAL)?;
    if nfds > t.rlimit(libc::RLIMIT_NOFILE).cur as usize {
        return Err(Errno::EINVAL);
    }
    let bytes = nfds.div_ceil(64) * 8;
    let mut maps = [vec![0u8; bytes], vec![0u8; bytes], vec![0u8; bytes]];
    for (map, &addr) in maps.iter_mut().zip(&sets) {
        if addr != 0 {
            t.mm.copy_in(addr, map)?;
        }
    }
    let bit = |map: &[u8], fd: usize| map[fd / 8] & (1 << (fd % 8)) != 0;
    let masks = [(libc::POLLIN | libc::POLLHUP | libc::POLLERR) as u32, (libc::POLLOUT | libc::POLLERR) as u32, libc::POLLPRI as u32];
    let mut fds = Vec::new();
    for fd in 0..nfds {
        let want = (0..3).filter(|&k| bit(&maps[k], fd)).fold(0, |acc, k| acc | masks[k]);
        if want != 0 {
            if t.file(fd as i32).is_err() {
                return Err(Errno::EBADF);
            }
            fds.push((fd as i32, want));
        }
    }
    let ready = wait_ready(t, &fds, deadline)?;
    let mut out = [vec![0u8; bytes], vec![0u8; bytes], vec![0u8; bytes]];
    let mut count = 0;
    for (&(fd, _), &r) in fds.iter().zip(&ready) {
        let fd = fd as usize;
        for k in 0..3 {
            if bit(&maps[k], fd) && r & masks[k] != 0 {
                out[k][fd / 8] |= 1 << (fd % 8);
                count += 1;
            }
        }
    }
    for (map, &addr) in out.iter().zip(&sets) {
        if addr != 0 {
            t.mm.copy_out(addr, map)?;
        }
    }
    Ok(count)
}

fn sys_select(t: &mut Task, a: &Args) -> SysResult {
    let deadline = if a.u64(4) != 0 {
        let tv: Timeval = t.mm.read_val(a.u64(4))?;
        if tv.sec < 0 || !(0..1_000_000).contains(&tv.usec) {
            return Err(Errno::EINVAL);
        }
        Some(Instant::now() + Duration::new(tv.sec as u64, tv.usec as u32 * 1000))
    } else {
        None
    };
    select_common(t, a.i32(0), [a.u64(1), a.u64(2), a.u64(3)], deadline).map_err(|e| if e == ERESTARTNOHAND { Errno::EINTR } else { e })
}

fn sys_pselect6(t: &mut Task, a: &Args) -> SysResult {
    let deadline = read_deadline(t, a.u64(4))?;
    // The sixth argument points at { const sigset_t *ss; size_t ss_len; }.
    let [mask_addr, size]: [u64; 2] = if a.u64(5) != 0 { t.mm.read_val(a.u64(5))? } else { [0, 0] };
    with_temporary_mask(t, mask_addr, size, |t| select_common(t, a.i32(0), [a.u64(1), a.u64(2), a.u64(3)], deadline))
}
