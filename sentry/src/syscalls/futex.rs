//! futex(2): wait queues keyed by the memory-file offset of the futex word, so private and
//! shared futexes (even across processes) meet at the same key.
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use syscall_tables::nr;

use super::{Args, Support, Table};
use crate::abi::Timespec;
use crate::errno::{Errno, SysResult};
use crate::fs::host::host_clock;
use crate::kernel::signal::ERESTARTSYS;
use crate::kernel::task::Task;

pub static HANDLERS: Table = &[(nr::FUTEX, sys_futex, Support::Partial("no FUTEX_WAKE_OP or priority-inheritance operations"))];

/// One blocked waiter.
pub struct Waiter {
    /// Changes when the waiter is requeued.
    key: AtomicU64,
    bitset: u32,
    woken: AtomicBool,
}

const FUTEX_WAIT: i32 = 0;
const FUTEX_WAKE: i32 = 1;
const FUTEX_REQUEUE: i32 = 3;
const FUTEX_CMP_REQUEUE: i32 = 4;
const FUTEX_WAIT_BITSET: i32 = 9;
const FUTEX_WAKE_BITSET: i32 = 10;
const FUTEX_PRIVATE_FLAG: i32 = 128;
const FUTEX_CLOCK_REALTIME: i32 = 256;
const BITSET_MATCH_ANY: u32 = u32::MAX;

/// The key of the futex word at `addr`: where it lives in the memory file.
fn key(t: &Task, addr: u64) -> SysResult<u64> {
    if !addr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    t.mm.translate(addr)
}

/// Wakes up to `n` waiters on the word at `addr`; returns how many woke.
pub fn futex_wake(t: &Task, addr: u64, n: usize) -> usize {
    match key(t, addr) {
        Ok(k) => wake_key(t, k, n, BITSET_MATCH_ANY),
        Err(_) => 0,
    }
}

fn wake_key(t: &Task, key: u64, n: usize, bitset: u32) -> usize {
    let mut woken = 0;
    {
        let mut waiters = t.kernel.futexes.lock().unwrap();
        waiters.retain(|w| {
            if woken < n && w.key.load(Ordering::SeqCst) == key && w.bitset & bitset != 0 {
                w.woken.store(true, Ordering::SeqCst);
                woken += 1;
                false
            } else {
                true
            }
        });
    }
    if woken > 0 {
        t.kernel.events.notify();
    }
    woken
}

fn wait(t: &Task, addr: u64, expected: u32, deadline: Option<Instant>, bitset: u32) -> SysResult {
    if bitset == 0 {
        return Err(Errno::EINVAL);
    }
    let k = key(t, addr)?;
    let waiter = Arc::new(Waiter { key: AtomicU64::new(k), bitset, woken: AtomicBool::new(false) });
    {
        // Check the word and queue under the table lock, so a waker that changes the word and
        // then wakes cannot slip in between.
        let mut waiters = t.kernel.futexes.lock().unwrap();
        let word: u32 = t.mm.read_val(addr)?;
        if word != expected {
            return Err(Errno::EAGAIN);
        }
        waiters.push(waiter.clone());
    }
    let dequeue = || t.kernel.futexes.lock().unwrap().retain(|w| !Arc::ptr_eq(w, &waiter));
    loop {
        let seen = t.kernel.events.generation();
        if waiter.woken.load(Ordering::SeqCst) {
            return Ok(0);
        }
        if t.signal_pending() {
            dequeue();
            return Err(ERESTARTSYS);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            dequeue();
            return Err(Errno::ETIMEDOUT);
        }
        t.kernel.events.wait(seen, deadline);
    }
}

fn requeue(t: &Task, from: u64, to: u64, wake: usize, requeue: usize) -> SysResult {
    let (kf, kt) = (key(t, from)?, key(t, to)?);
    let woken = wake_key(t, kf, wake, BITSET_MATCH_ANY);
    let mut moved = 0;
    for w in t.kernel.futexes.lock().unwrap().iter() {
        if moved < requeue && w.key.load(Ordering::SeqCst) == kf {
            w.key.store(kt, Ordering::SeqCst);
            moved += 1;
        }
    }
    Ok((woken + moved) as u64)
}

fn timeout(t: &Task, addr: u64, absolute: bool, realtime: bool) -> SysResult<Option<Instant>> {
    if addr == 0 {
        return Ok(None);
    }
    let ts: Timespec = t.mm.read_val(addr)?;
    if ts.sec < 0 || !(0..1_000_000_000).contains(&ts.nsec) {
        return Err(Errno::EINVAL);
    }
    let d = Duration::new(ts.sec as u64, ts.nsec as u32);
    if !absolute {
        return Ok(Some(Instant::now() + d));
    }
    let now = host_clock(if realtime { libc::CLOCK_REALTIME } else { libc::CLOCK_MONOTONIC });
    let now = Duration::new(now.sec as u64, now.nsec as u32);
    Ok(Some(Instant::now() + d.saturating_sub(now)))
}

fn sys_futex(t: &mut Task, a: &Args) -> SysResult {
    let (addr, op, val) = (a.u64(0), a.i32(1), a.u32(2));
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    if realtime && !matches!(cmd, FUTEX_WAIT_BITSET | FUTEX_WAIT) {
        return Err(Errno::ENOSYS);
    }
    let n = |v: u32| usize::try_from(v.min(i32::MAX as u32)).unwrap_or(0);
    match cmd {
        FUTEX_WAIT => {
            let deadline = timeout(t, a.u64(3), false, realtime)?;
            wait(t, addr, val, deadline, BITSET_MATCH_ANY)
        }
        FUTEX_WAIT_BITSET => {
            let deadline = timeout(t, a.u64(3), true, realtime)?;
            wait(t, addr, val, deadline, a.u32(5))
        }
        FUTEX_WAKE => {
            key(t, addr)?;
            Ok(futex_wake(t, addr, n(val)) as u64)
        }
        FUTEX_WAKE_BITSET => {
            let k = key(t, addr)?;
            if a.u32(5) == 0 {
                return Err(Errno::EINVAL);
            }
            Ok(wake_key(t, k, n(val), a.u32(5)) as u64)
        }
        FUTEX_REQUEUE => requeue(t, addr, a.u64(4), n(val), n(a.u32(3))),
        FUTEX_CMP_REQUEUE => {
            let word: u32 = t.mm.read_val(addr)?;
            if word != a.u32(5) {
                return Err(Errno::EAGAIN);
            }
            requeue(t, addr, a.u64(4), n(val), n(a.u32(3)))
        }
        _ => Err(Errno::ENOSYS),
    }
}
