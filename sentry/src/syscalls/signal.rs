//! Signal system calls: dispositions, masks, sending, waiting, the alternate stack and
//! `rt_sigreturn`. Delivery itself is in `kernel::signal`.
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use syscall_tables::nr;

use super::{Args, Support, Table};
use crate::abi::{SigAction, Timespec};
use crate::errno::{Errno, SysResult};
use crate::kernel::process::{sig_index, ExitStatus, Process};
use crate::kernel::signal::{self, AltStack, SigInfo, ERESTARTNOHAND, NSIG, SI_QUEUE, SI_TKILL, UNBLOCKABLE};
use crate::fs::pidfd::as_pidfd;
use crate::kernel::task::{cap, Task};

pub static HANDLERS: Table = &[
    (nr::RT_SIGACTION, sys_rt_sigaction, Support::Full),
    (nr::RT_SIGPROCMASK, sys_rt_sigprocmask, Support::Full),
    (nr::RT_SIGPENDING, sys_rt_sigpending, Support::Full),
    (nr::RT_SIGSUSPEND, sys_rt_sigsuspend, Support::Full),
    (nr::RT_SIGTIMEDWAIT, sys_rt_sigtimedwait, Support::Full),
    (nr::RT_SIGRETURN, sys_rt_sigreturn, Support::Partial("x87/SSE state only; AVX upper halves are not saved")),
    (nr::RT_SIGQUEUEINFO, sys_rt_sigqueueinfo, Support::Full),
    (nr::SIGALTSTACK, sys_sigaltstack, Support::Full),
    (nr::PAUSE, sys_pause, Support::Full),
    (nr::KILL, sys_kill, Support::Full),
    (nr::TKILL, sys_tkill, Support::Full),
    (nr::TGKILL, sys_tgkill, Support::Full),
    (nr::PIDFD_SEND_SIGNAL, sys_pidfd_send_signal, Support::Partial("a /proc/PID directory names its process by number (a recycled pid reaches the new process)")),
];

fn check_sigset_size(a: &Args, i: usize) -> SysResult<()> {
    if a.usize(i) != 8 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn valid_signal(sig: i32) -> SysResult<()> {
    if (0..=NSIG).contains(&sig) {
        Ok(())
    } else {
        Err(Errno::EINVAL)
    }
}

fn sys_rt_sigaction(t: &mut Task, a: &Args) -> SysResult {
    let sig = a.i32(0);
    check_sigset_size(a, 3)?;
    if !(1..=NSIG).contains(&sig) {
        return Err(Errno::EINVAL);
    }
    let new = if a.u64(1) != 0 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            return Err(Errno::EINVAL);
        }
        Some(t.mm.read_val::<SigAction>(a.u64(1))?)
    } else {
        None
    };
    let old = t.process.action(sig);
    if a.u64(2) != 0 {
        t.mm.write_val(a.u64(2), &old)?;
    }
    if let Some(mut act) = new {
        act.mask &= !UNBLOCKABLE;
        t.process.actions.lock().unwrap()[sig_index(sig)] = act;
        // Setting a signal to be ignored discards what is pending of it (POSIX).
        if signal::ignored(act, sig) {
            t.process.state.lock().unwrap().pending.discard(sig);
            t.thread.signals.lock().unwrap().pending.discard(sig);
        }
    }
    Ok(0)
}

fn sys_rt_sigprocmask(t: &mut Task, a: &Args) -> SysResult {
    check_sigset_size(a, 3)?;
    let old = t.thread.signals.lock().unwrap().mask;
    if a.u64(1) != 0 {
        let set: u64 = t.mm.read_val(a.u64(1))?;
        let new = match a.i32(0) {
            libc::SIG_BLOCK => old | set,
            libc::SIG_UNBLOCK => old & !set,
            libc::SIG_SETMASK => set,
            _ => return Err(Errno::EINVAL),
        };
        t.thread.signals.lock().unwrap().mask = new & !UNBLOCKABLE;
    }
    if a.u64(2) != 0 {
        t.mm.write_val(a.u64(2), &old)?;
    }
    Ok(0)
}

fn sys_rt_sigpending(t: &mut Task, a: &Args) -> SysResult {
    check_sigset_size(a, 1)?;
    let (own, mask) = {
        let s = t.thread.signals.lock().unwrap();
        (s.pending.mask, s.mask)
    };
    let shared = t.process.state.lock().unwrap().pending.mask;
    t.mm.write_val(a.u64(0), &((own | shared) & mask))?;
    Ok(0)
}

fn sys_rt_sigsuspend(t: &mut Task, a: &Args) -> SysResult {
    check_sigset_size(a, 1)?;
    let mask: u64 = t.mm.read_val(a.u64(0))?;
    t.begin_temporary_mask(mask);
    wait_for_signal(t, None);
    Err(ERESTARTNOHAND)
}

fn sys_pause(t: &mut Task, _a: &Args) -> SysResult {
    wait_for_signal(t, None);
    Err(ERESTARTNOHAND)
}

/// Sleeps until a signal is pending (or the deadline passes).
fn wait_for_signal(t: &Task, deadline: Option<Instant>) {
    loop {
        let seen = t.kernel.events.generation();
        if t.signal_pending() || deadline.is_some_and(|d| Instant::now() >= d) {
            return;
        }
        t.kernel.events.wait(seen, deadline);
    }
}

fn sys_rt_sigtimedwait(t: &mut Task, a: &Args) -> SysResult {
    check_sigset_size(a, 3)?;
    let set: u64 = t.mm.read_val(a.u64(0))?;
    let set = set & !UNBLOCKABLE;
    let deadline = if a.u64(2) != 0 {
        let ts: Timespec = t.mm.read_val(a.u64(2))?;
        if ts.sec < 0 || !(0..1_000_000_000).contains(&ts.nsec) {
            return Err(Errno::EINVAL);
        }
        Some(Instant::now() + Duration::new(ts.sec as u64, ts.nsec as u32))
    } else {
        None
    };
    loop {
        let seen = t.kernel.events.generation();
        let taken = {
            let own = t.thread.signals.lock().unwrap().pending.take(!set);
            own.or_else(|| t.process.state.lock().unwrap().pending.take(!set))
        };
        if let Some(info) = taken {
            if a.u64(1) != 0 {
                t.mm.copy_out(a.u64(1), &info.to_bytes())?;
            }
            return Ok(info.signo as u64);
        }
        if t.signal_pending() {
            return Err(Errno::EINTR);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Errno::EAGAIN);
        }
        t.kernel.events.wait(seen, deadline);
    }
}

fn sys_rt_sigreturn(t: &mut Task, _a: &Args) -> SysResult {
    if let Err(e) = t.sigreturn() {
        tracing::debug!("bad signal frame ({e:?}): SIGSEGV");
        t.process.exit_group(ExitStatus::Signaled(libc::SIGSEGV));
    }
    Ok(t.cpu.regs.rax)
}

fn sys_sigaltstack(t: &mut Task, a: &Args) -> SysResult {
    const SS_AUTODISARM: i32 = 1 << 31;
    let sp = t.cpu.regs.rsp;
    if a.u64(1) != 0 {
        let old = [t.altstack.sp, u64::from(t.altstack_flags(sp).unsigned_abs()), t.altstack.size];
        t.mm.write_val(a.u64(1), &old)?;
    }
    if a.u64(0) != 0 {
        let new: [u64; 3] = t.mm.read_val(a.u64(0))?;
        let flags = new[1] as i32;
        if t.altstack.contains(sp) {
            return Err(Errno::EPERM);
        }
        if flags & !(libc::SS_DISABLE | libc::SS_ONSTACK | SS_AUTODISARM) != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & libc::SS_DISABLE != 0 {
            t.altstack = AltStack::default();
        } else {
            if new[2] < libc::MINSIGSTKSZ as u64 {
                return Err(Errno::ENOMEM);
            }
            t.altstack = AltStack { sp: new[0], flags: 0, size: new[2] };
        }
    }
    Ok(0)
}

/// Sends `info` to a process, with the protection of a pid namespace's init: it only gets the
/// signals it has a handler for.
fn send_to(t: &Task, p: &Arc<Process>, info: SigInfo) {
    if info.signo == 0 {
        return;
    }
    if p.refuses(info.signo) {
        return;
    }
    p.send(info);
    t.kernel.events.notify();
}

/// `EPERM` unless the caller may signal `p` with `sig`: its own process; a process whose
/// real or saved uid is the caller's real or effective uid; any process with `CAP_KILL`;
/// and for `SIGCONT`, any process of the caller's session.
fn may_signal(t: &Task, p: &Process, sig: i32) -> SysResult<()> {
    if p.pid == t.pid() || t.creds.capable(cap::KILL) {
        return Ok(());
    }
    let my_sid = t.process.state.lock().unwrap().sid;
    let st = p.state.lock().unwrap();
    // A zombie has let go of its credentials; a signal does nothing to it anyway.
    let Some(target) = st.resources.as_ref().map(|r| &r.creds).or(st.starting_creds.as_ref()) else { return Ok(()) };
    let c = &t.creds;
    if [c.uid, c.euid].iter().any(|&u| u == target.uid || u == target.suid) {
        return Ok(());
    }
    if sig == libc::SIGCONT && st.sid == my_sid {
        return Ok(());
    }
    Err(Errno::EPERM)
}

fn sys_kill(t: &mut Task, a: &Args) -> SysResult {
    let (pid, sig) = (a.i32(0), a.i32(1));
    valid_signal(sig)?;
    let info = SigInfo::user(sig, t.pid(), t.creds.uid);
    let targets: Vec<Arc<Process>> = match pid {
        p if p > 0 => vec![t.kernel.process(p).ok_or(Errno::ESRCH)?],
        -1 => t.kernel.processes().into_iter().filter(|p| p.pid != 1 && p.pid != t.pid()).collect(),
        p => {
            let pgid = if p == 0 { t.process.state.lock().unwrap().pgid } else { p.checked_neg().ok_or(Errno::ESRCH)? };
            t.kernel.processes().into_iter().filter(|q| q.state.lock().unwrap().pgid == pgid).collect()
        }
    };
    let targets: Vec<_> = targets.into_iter().filter(|p| p.state.lock().unwrap().zombie.is_none() || pid > 0).collect();
    if targets.is_empty() {
        return Err(Errno::ESRCH);
    }
    let mut refused = None;
    let mut sent = false;
    for p in &targets {
        match may_signal(t, p, sig) {
            Ok(()) => {
                send_to(t, p, info);
                sent = true;
            }
            Err(e) => refused = Some(e),
        }
    }
    // kill(-1) succeeds if there was anyone to try; a group, if one member got the signal.
    match refused {
        Some(e) if !sent && pid != -1 => Err(e),
        _ => Ok(0),
    }
}

/// The process holding thread `tid` (within process `tgid` if given).
fn thread_of(t: &Task, tgid: Option<i32>, tid: i32) -> SysResult<Arc<Process>> {
    if tid <= 0 || tgid.is_some_and(|g| g <= 0) {
        return Err(Errno::EINVAL);
    }
    let candidates = match tgid {
        Some(g) => t.kernel.process(g).into_iter().collect(),
        None => t.kernel.processes(),
    };
    candidates.into_iter().find(|p| p.state.lock().unwrap().threads.iter().any(|th| th.tid == tid)).ok_or(Errno::ESRCH)
}

fn send_to_thread(t: &Task, p: &Arc<Process>, tid: i32, info: SigInfo) {
    if info.signo == 0 || p.refuses(info.signo) {
        return;
    }
    let thread = p.state.lock().unwrap().threads.iter().find(|th| th.tid == tid).cloned();
    if let Some(th) = thread {
        if !signal::ignored(p.action(info.signo), info.signo) || th.blocks(info.signo) {
            th.send(info);
        }
    }
    t.kernel.events.notify();
}

fn sys_tkill(t: &mut Task, a: &Args) -> SysResult {
    let (tid, sig) = (a.i32(0), a.i32(1));
    valid_signal(sig)?;
    let p = thread_of(t, None, tid)?;
    may_signal(t, &p, sig)?;
    let info = SigInfo { code: SI_TKILL, ..SigInfo::user(sig, t.pid(), t.creds.uid) };
    send_to_thread(t, &p, tid, info);
    Ok(0)
}

fn sys_tgkill(t: &mut Task, a: &Args) -> SysResult {
    let (tgid, tid, sig) = (a.i32(0), a.i32(1), a.i32(2));
    valid_signal(sig)?;
    let p = thread_of(t, Some(tgid), tid)?;
    may_signal(t, &p, sig)?;
    let info = SigInfo { code: SI_TKILL, ..SigInfo::user(sig, t.pid(), t.creds.uid) };
    send_to_thread(t, &p, tid, info);
    Ok(0)
}

fn sys_rt_sigqueueinfo(t: &mut Task, a: &Args) -> SysResult {
    let (pid, sig) = (a.i32(0), a.i32(1));
    valid_signal(sig)?;
    let mut raw = [0u8; 128];
    t.mm.copy_in(a.u64(2), &mut raw)?;
    let code = i32::from_le_bytes(raw[8..12].try_into().unwrap_or_default());
    // Only the kernel may claim kernel codes, except a process signalling itself.
    if (code >= 0 || code == SI_TKILL) && pid != t.pid() {
        return Err(Errno::EPERM);
    }
    let p = t.kernel.process(pid).ok_or(Errno::ESRCH)?;
    may_signal(t, &p, sig)?;
    let value = u64::from_le_bytes(raw[24..32].try_into().unwrap_or_default());
    let info = SigInfo { code: if code == 0 { SI_QUEUE } else { code }, value, ..SigInfo::user(sig, t.pid(), t.creds.uid) };
    send_to(t, &p, info);
    Ok(0)
}

/// The process a descriptor stands for in `pidfd_send_signal`: a pidfd's, or the one a
/// `/proc/PID` directory names (looked up by number: a reaped one is `ESRCH`). `EBADF` for
/// any other file.
fn signal_target(t: &Task, fd: i32) -> SysResult<(i32, Option<Arc<Process>>)> {
    let file = t.file(fd)?;
    if let Some(pidfd) = as_pidfd(&file) {
        return Ok((pidfd.process().pid, pidfd.live(&t.kernel)));
    }
    let dentry = file.dentry.as_ref().ok_or(Errno::EBADF)?;
    let pid = crate::fs::proc::process_dir_pid(&*dentry.inode).ok_or(Errno::EBADF)?;
    Ok((pid, t.kernel.process(pid)))
}

/// pidfd_send_signal(pidfd, sig, info, flags): kill(2) of the process a pidfd (or a
/// `/proc/PID` directory) stands for. With `info`, its signal number must be `sig`, and only
/// a process signalling itself may use the codes the kernel reserves (`si_code >= 0`,
/// `SI_TKILL`).
fn sys_pidfd_send_signal(t: &mut Task, a: &Args) -> SysResult {
    let (pidfd, sig, info_addr, flags) = (a.fd(0), a.i32(1), a.u64(2), a.u32(3));
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let (target_pid, target) = signal_target(t, pidfd)?;
    let info = if info_addr != 0 {
        let mut raw = [0u8; 128];
        t.mm.copy_in(info_addr, &mut raw)?;
        let field = |at: usize| i32::from_le_bytes(raw[at..at + 4].try_into().unwrap_or_default());
        if field(0) != sig {
            return Err(Errno::EINVAL);
        }
        let code = field(8);
        if t.tid != target_pid && (code >= 0 || code == SI_TKILL) {
            return Err(Errno::EPERM);
        }
        let value = u64::from_le_bytes(raw[24..32].try_into().unwrap_or_default());
        SigInfo { signo: sig, code, errno: field(4), pid: field(16), uid: field(20) as u32, value, ..SigInfo::default() }
    } else {
        SigInfo::user(sig, t.pid(), t.creds.uid)
    };
    let p = target.ok_or(Errno::ESRCH)?;
    valid_signal(sig)?;
    may_signal(t, &p, sig)?;
    send_to(t, &p, info);
    Ok(0)
}
