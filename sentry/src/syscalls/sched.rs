//! Scheduling: nice values (`getpriority`, `setpriority`), policies and real-time priorities
//! (`sched_setscheduler` and friends) and CPU affinity.
//!
//! Every attribute is per thread, as on Linux, and recorded in the thread's
//! [`Sched`](crate::kernel::process::Sched); new threads inherit their creator's. The host
//! schedules the stubs as it likes: nothing here reaches it.
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]

use std::sync::Arc;

use syscall_tables::nr;

use super::{Args, Support, Table};
use crate::errno::{Errno, SysResult};
use crate::kernel::process::{Process, Sched, Thread};
use crate::kernel::task::{cap, Creds, Task};

pub static HANDLERS: Table = &[
    (nr::GETPRIORITY, sys_getpriority, Support::Full),
    (nr::SETPRIORITY, sys_setpriority, Support::Partial("recorded; the host does not schedule by it")),
    (nr::SCHED_YIELD, sys_sched_yield, Support::Full),
    (nr::SCHED_GETSCHEDULER, sys_sched_getscheduler, Support::Full),
    (nr::SCHED_SETSCHEDULER, sys_sched_setscheduler, Support::Partial("recorded, not applied; no SCHED_DEADLINE")),
    (nr::SCHED_GETPARAM, sys_sched_getparam, Support::Full),
    (nr::SCHED_SETPARAM, sys_sched_setparam, Support::Partial("recorded, not applied")),
    (nr::SCHED_GET_PRIORITY_MAX, sys_sched_get_priority_max, Support::Full),
    (nr::SCHED_GET_PRIORITY_MIN, sys_sched_get_priority_min, Support::Full),
    (nr::SCHED_RR_GET_INTERVAL, sys_sched_rr_get_interval, Support::Full),
    (nr::SCHED_GETAFFINITY, sys_sched_getaffinity, Support::Partial("up to 64 CPUs")),
    (nr::SCHED_SETAFFINITY, sys_sched_setaffinity, Support::Partial("recorded, not applied to the host's threads; up to 64 CPUs")),
];

const PRIO_PROCESS: i32 = 0;
const PRIO_PGRP: i32 = 1;
const PRIO_USER: i32 = 2;
const SCHED_DEADLINE: i32 = 6;
const SCHED_RESET_ON_FORK: i32 = 0x4000_0000;
/// Linux's round-robin time slice (`RR_TIMESLICE`).
const RR_INTERVAL_NS: i64 = 100_000_000;

/// A thread and its process.
type Target = (Arc<Process>, Arc<Thread>);

/// The thread `tid` names: the caller for 0, else any live thread of the sandbox (`ESRCH`).
fn thread_by_id(t: &Task, tid: i32) -> SysResult<Target> {
    if tid == 0 || tid == t.tid {
        return Ok((t.process.clone(), t.thread.clone()));
    }
    for p in t.kernel.processes() {
        let found = p.state.lock().unwrap().threads.iter().find(|th| th.tid == tid).cloned();
        if let Some(th) = found {
            return Ok((p, th));
        }
    }
    Err(Errno::ESRCH)
}

/// Like [`thread_by_id`], for the calls that refuse a negative id with `EINVAL`.
fn sched_target(t: &Task, tid: i32) -> SysResult<Target> {
    if tid < 0 {
        return Err(Errno::EINVAL);
    }
    thread_by_id(t, tid)
}

/// The credentials of a thread of `p` (the caller's own, or its process's first thread's).
fn creds_of(t: &Task, p: &Arc<Process>) -> Option<Creds> {
    if Arc::ptr_eq(p, &t.process) {
        return Some(t.creds.clone());
    }
    p.state.lock().unwrap().resources.as_ref().map(|r| r.creds.clone())
}

/// Linux's `check_same_owner` and `set_one_prio_perm`: the caller's effective uid is the
/// target's real or effective uid, or the caller has `CAP_SYS_NICE`.
fn may_reschedule(t: &Task, p: &Arc<Process>) -> bool {
    t.creds.capable(cap::SYS_NICE) || creds_of(t, p).is_some_and(|c| c.uid == t.creds.euid || c.euid == t.creds.euid)
}

/// Whether the caller may lower a thread of `p` to `nice` (`can_nice`): within the target's
/// `RLIMIT_NICE` (20 - nice), or with `CAP_SYS_NICE`.
fn may_nice(t: &Task, p: &Process, nice: i32) -> bool {
    let limit = p.rlimit(libc::RLIMIT_NICE).cur;
    u64::try_from(20 - nice).unwrap_or(0) <= limit || t.creds.capable(cap::SYS_NICE)
}

/// The threads `getpriority` and `setpriority` act on, or `EINVAL` for an unknown `which`.
fn prio_targets(t: &Task, which: i32, who: i32) -> SysResult<Vec<Target>> {
    let all_threads = |p: &Arc<Process>| -> Vec<Target> { p.state.lock().unwrap().threads.iter().map(|th| (p.clone(), th.clone())).collect() };
    Ok(match which {
        PRIO_PROCESS => thread_by_id(t, who).map(|x| vec![x]).unwrap_or_default(),
        PRIO_PGRP => {
            let pgid = if who == 0 { t.process.state.lock().unwrap().pgid } else { who };
            t.kernel.processes().iter().filter(|p| p.state.lock().unwrap().pgid == pgid).flat_map(all_threads).collect()
        }
        PRIO_USER => {
            let uid = if who == 0 { t.creds.uid } else { who as u32 };
            t.kernel.processes().iter().filter(|p| creds_of(t, p).is_some_and(|c| c.uid == uid)).flat_map(all_threads).collect()
        }
        _ => return Err(Errno::EINVAL),
    })
}

/// getpriority(2): the best nice value among the targets, as the system call returns it:
/// 20 - nice (1 to 40), so that it is never negative.
fn sys_getpriority(t: &mut Task, a: &Args) -> SysResult {
    let targets = prio_targets(t, a.i32(0), a.i32(1))?;
    let best = targets.iter().map(|(_, th)| 20 - th.sched.lock().unwrap().nice).max().ok_or(Errno::ESRCH)?;
    Ok(best as u64)
}

/// setpriority(2): every target whose owner the caller is (else `EPERM`) gets the nice value,
/// clamped to -20..19; lowering it needs `RLIMIT_NICE` room or `CAP_SYS_NICE` (else
/// `EACCES`). Like Linux, it goes on past a refused target and reports the refusal.
fn sys_setpriority(t: &mut Task, a: &Args) -> SysResult {
    let nice = a.i32(2).clamp(-20, 19);
    let targets = prio_targets(t, a.i32(0), a.i32(1))?;
    let mut result = Err(Errno::ESRCH);
    for (p, th) in targets {
        if !may_reschedule(t, &p) {
            result = Err(Errno::EPERM);
            continue;
        }
        let mut sched = th.sched.lock().unwrap();
        if nice < sched.nice && !may_nice(t, &p, nice) {
            result = Err(Errno::EACCES);
            continue;
        }
        sched.nice = nice;
        if result == Err(Errno::ESRCH) {
            result = Ok(0);
        }
    }
    result
}

fn sys_sched_yield(_t: &mut Task, _a: &Args) -> SysResult {
    std::thread::yield_now();
    Ok(0)
}

fn realtime(policy: i32) -> bool {
    matches!(policy, libc::SCHED_FIFO | libc::SCHED_RR)
}

fn sys_sched_getscheduler(t: &mut Task, a: &Args) -> SysResult {
    let (_, th) = sched_target(t, a.i32(0))?;
    let s = *th.sched.lock().unwrap();
    Ok((s.policy | if s.reset_on_fork { SCHED_RESET_ON_FORK } else { 0 }) as u64)
}

fn sys_sched_getparam(t: &mut Task, a: &Args) -> SysResult {
    if a.u64(1) == 0 {
        return Err(Errno::EINVAL);
    }
    let (_, th) = sched_target(t, a.i32(0))?;
    let prio = th.sched.lock().unwrap().rt_priority;
    t.mm.write_val(a.u64(1), &prio)?;
    Ok(0)
}

fn sys_sched_setscheduler(t: &mut Task, a: &Args) -> SysResult {
    let policy = a.i32(1);
    if policy < 0 {
        return Err(Errno::EINVAL);
    }
    set_scheduler(t, a.i32(0), Some(policy), a.u64(2))
}

fn sys_sched_setparam(t: &mut Task, a: &Args) -> SysResult {
    set_scheduler(t, a.i32(0), None, a.u64(1))
}

/// `sched_setscheduler` (with a policy, which may carry `SCHED_RESET_ON_FORK`) and
/// `sched_setparam` (keeping the policy), checked in Linux's order: arguments, the target,
/// the policy and priority, then permission.
fn set_scheduler(t: &Task, tid: i32, policy: Option<i32>, param: u64) -> SysResult {
    if param == 0 || tid < 0 {
        return Err(Errno::EINVAL);
    }
    let priority: i32 = t.mm.read_val(param)?;
    let (p, th) = thread_by_id(t, tid)?;
    let old = *th.sched.lock().unwrap();
    let (policy, reset_on_fork) = match policy {
        Some(p) => (p & !SCHED_RESET_ON_FORK, p & SCHED_RESET_ON_FORK != 0),
        None => (old.policy, old.reset_on_fork),
    };
    let known = matches!(policy, libc::SCHED_OTHER | libc::SCHED_FIFO | libc::SCHED_RR | libc::SCHED_BATCH | libc::SCHED_IDLE);
    // The priority is unsigned to the kernel: a negative one is out of range.
    if !known || !(0..=99).contains(&priority) || realtime(policy) != (priority != 0) {
        return Err(Errno::EINVAL);
    }
    if !t.creds.capable(cap::SYS_NICE) {
        let rtprio = p.rlimit(libc::RLIMIT_RTPRIO).cur;
        if realtime(policy) {
            // Without the capability, RLIMIT_RTPRIO bounds real-time policies.
            if (policy != old.policy && rtprio == 0) || (priority > old.rt_priority && u64::try_from(priority).unwrap_or(0) > rtprio) {
                return Err(Errno::EPERM);
            }
        }
        if old.policy == libc::SCHED_IDLE && policy != libc::SCHED_IDLE && !may_nice(t, &p, old.nice) {
            return Err(Errno::EPERM);
        }
        if !may_reschedule(t, &p) || (old.reset_on_fork && !reset_on_fork) {
            return Err(Errno::EPERM);
        }
    }
    let mut s = th.sched.lock().unwrap();
    *s = Sched { policy, rt_priority: priority, reset_on_fork, ..*s };
    Ok(0)
}

fn sys_sched_get_priority_max(_t: &mut Task, a: &Args) -> SysResult {
    match a.i32(0) {
        libc::SCHED_FIFO | libc::SCHED_RR => Ok(99),
        libc::SCHED_OTHER | libc::SCHED_BATCH | libc::SCHED_IDLE | SCHED_DEADLINE => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_sched_get_priority_min(_t: &mut Task, a: &Args) -> SysResult {
    match a.i32(0) {
        libc::SCHED_FIFO | libc::SCHED_RR => Ok(1),
        libc::SCHED_OTHER | libc::SCHED_BATCH | libc::SCHED_IDLE | SCHED_DEADLINE => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

/// sched_rr_get_interval(2): the round-robin slice for `SCHED_RR`, 0 for the others (FIFO
/// has none; an idle host's fair scheduler reports 0 too).
fn sys_sched_rr_get_interval(t: &mut Task, a: &Args) -> SysResult {
    let (_, th) = sched_target(t, a.i32(0))?;
    let nsec = if th.sched.lock().unwrap().policy == libc::SCHED_RR { RR_INTERVAL_NS } else { 0 };
    t.mm.write_val(a.u64(1), &crate::abi::Timespec { sec: 0, nsec })?;
    Ok(0)
}

/// The size of the kernel's CPU mask: a whole number of longs covering the CPUs.
const CPUMASK_SIZE: usize = 8;

fn sys_sched_getaffinity(t: &mut Task, a: &Args) -> SysResult {
    let len = a.usize(1);
    if len.saturating_mul(8) < crate::fs::host::host_cpus().min(64) || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    let (_, th) = thread_by_id(t, a.i32(0))?;
    let mask = th.sched.lock().unwrap().affinity;
    t.mm.write_val(a.u64(2), &mask)?;
    Ok(CPUMASK_SIZE as u64)
}

/// sched_setaffinity(2): the mask (bytes past the kernel's mask size ignored, missing ones
/// zero) limited to the CPUs there are; `EINVAL` if that leaves none.
fn sys_sched_setaffinity(t: &mut Task, a: &Args) -> SysResult {
    let len = a.usize(1).min(CPUMASK_SIZE);
    let mut raw = [0u8; CPUMASK_SIZE];
    t.mm.copy_in(a.u64(2), &mut raw[..len])?;
    let (p, th) = thread_by_id(t, a.i32(0))?;
    if !may_reschedule(t, &p) {
        return Err(Errno::EPERM);
    }
    let mask = u64::from_le_bytes(raw) & Sched::default().affinity;
    if mask == 0 {
        return Err(Errno::EINVAL);
    }
    th.sched.lock().unwrap().affinity = mask;
    Ok(0)
}
