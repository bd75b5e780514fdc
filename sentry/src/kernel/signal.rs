//! Signals: queues, default actions, delivery onto the application stack and `rt_sigreturn`.
//!
//! A signal is pending on a thread or on its process. Before a task returns to application code
//! it takes the lowest pending signal it does not block: ignored ones vanish, default actions
//! run here (terminate, core, stop, continue), and a handler gets an `rt_sigframe` built on the
//! stack (or the alternate stack) exactly as Linux lays it out, so that `rt_sigreturn` — or
//! debuggers and unwinders reading the frame — find what they expect.
// Only x86_64 is supported: `usize` is 64 bits, so frame offsets convert losslessly.
#![allow(clippy::cast_possible_truncation)]


use platform::FpState;

use super::process::{sig_index, ExitStatus};
use super::task::Task;
use crate::abi::SigAction;
use crate::errno::{Errno, SysResult};

pub const SIGRTMIN: i32 = 32;
pub const NSIG: i32 = 64;

pub const SA_SIGINFO: u64 = 0x4;
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_NOCLDWAIT: u64 = 0x2;

pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_QUEUE: i32 = -1;
pub const SI_TKILL: i32 = -6;
pub const CLD_EXITED: i32 = 1;
pub const CLD_KILLED: i32 = 2;
pub const CLD_DUMPED: i32 = 3;
pub const CLD_STOPPED: i32 = 5;
pub const CLD_CONTINUED: i32 = 6;
pub const SA_NOCLDSTOP: u64 = 0x1;

/// Restart codes a blocking handler returns when a signal interrupts it.
pub const ERESTARTSYS: Errno = Errno(512);
pub const ERESTARTNOINTR: Errno = Errno(513);
pub const ERESTARTNOHAND: Errno = Errno(514);
pub const ERESTART_RESTARTBLOCK: Errno = Errno(516);

pub fn bit(sig: i32) -> u64 {
    1u64 << sig_index(sig)
}

/// Signals that can never be blocked or caught.
pub const UNBLOCKABLE: u64 = (1 << (libc::SIGKILL - 1)) | (1 << (libc::SIGSTOP - 1));

/// What a signal does when its disposition is `SIG_DFL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    Terminate,
    Core,
    Stop,
    Continue,
    Ignore,
}

pub fn default_action(sig: i32) -> DefaultAction {
    match sig {
        libc::SIGQUIT | libc::SIGILL | libc::SIGTRAP | libc::SIGABRT | libc::SIGBUS | libc::SIGFPE | libc::SIGSEGV
        | libc::SIGXCPU | libc::SIGXFSZ | libc::SIGSYS => DefaultAction::Core,
        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => DefaultAction::Stop,
        libc::SIGCONT => DefaultAction::Continue,
        libc::SIGCHLD | libc::SIGURG | libc::SIGWINCH => DefaultAction::Ignore,
        _ => DefaultAction::Terminate,
    }
}

/// Whether a signal with this disposition is discarded on arrival.
pub fn ignored(act: SigAction, sig: i32) -> bool {
    act.handler == libc::SIG_IGN as u64 || (act.handler == libc::SIG_DFL as u64 && default_action(sig) == DefaultAction::Ignore)
}

/// One queued signal and what `siginfo_t` says about it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigInfo {
    pub signo: i32,
    pub code: i32,
    pub errno: i32,
    pub pid: i32,
    pub uid: u32,
    pub addr: u64,
    pub status: i32,
    pub value: u64,
}

impl SigInfo {
    pub fn user(signo: i32, pid: i32, uid: u32) -> SigInfo {
        SigInfo { signo, code: SI_USER, pid, uid, ..SigInfo::default() }
    }

    pub fn kernel(signo: i32) -> SigInfo {
        SigInfo { signo, code: SI_KERNEL, ..SigInfo::default() }
    }

    pub fn fault(signo: i32, code: i32, addr: u64) -> SigInfo {
        SigInfo { signo, code, addr, ..SigInfo::default() }
    }

    pub fn child(pid: i32, status: ExitStatus) -> SigInfo {
        let (code, status) = match status {
            ExitStatus::Exited(c) => (CLD_EXITED, c),
            ExitStatus::Signaled(s) if default_action(s) == DefaultAction::Core => (CLD_DUMPED, s),
            ExitStatus::Signaled(s) => (CLD_KILLED, s),
        };
        SigInfo { signo: libc::SIGCHLD, code, pid, status, ..SigInfo::default() }
    }

    /// The 128-byte `siginfo_t`.
    pub fn to_bytes(&self) -> [u8; 128] {
        let mut b = [0u8; 128];
        b[0..4].copy_from_slice(&self.signo.to_le_bytes());
        b[4..8].copy_from_slice(&self.errno.to_le_bytes());
        b[8..12].copy_from_slice(&self.code.to_le_bytes());
        match self.signo {
            libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP if self.code > 0 => {
                b[16..24].copy_from_slice(&self.addr.to_le_bytes());
            }
            _ => {
                b[16..20].copy_from_slice(&self.pid.to_le_bytes());
                b[20..24].copy_from_slice(&self.uid.to_le_bytes());
                if self.signo == libc::SIGCHLD {
                    b[24..28].copy_from_slice(&self.status.to_le_bytes());
                } else {
                    b[24..32].copy_from_slice(&self.value.to_le_bytes());
                }
            }
        }
        b
    }
}

/// Pending signals: standard ones coalesce, real-time ones queue.
#[derive(Clone, Default)]
pub struct SigQueue {
    pub mask: u64,
    infos: Vec<SigInfo>,
}

impl SigQueue {
    pub fn push(&mut self, info: SigInfo) {
        if info.signo < SIGRTMIN && self.mask & bit(info.signo) != 0 {
            return;
        }
        self.mask |= bit(info.signo);
        self.infos.push(info);
    }

    /// Takes the lowest-numbered pending signal not in `blocked`.
    pub fn take(&mut self, blocked: u64) -> Option<SigInfo> {
        let ready = self.mask & !(blocked & !UNBLOCKABLE);
        if ready == 0 {
            return None;
        }
        let sig = i32::try_from(ready.trailing_zeros()).unwrap_or(0) + 1;
        let at = self.infos.iter().position(|i| i.signo == sig)?;
        let info = self.infos.remove(at);
        if !self.infos.iter().any(|i| i.signo == sig) {
            self.mask &= !bit(sig);
        }
        Some(info)
    }

    /// Drops every pending instance of `sig`.
    pub fn discard(&mut self, sig: i32) {
        self.infos.retain(|i| i.signo != sig);
        self.mask &= !bit(sig);
    }
}

// Layout of the x86_64 rt_sigframe: return address, ucontext, siginfo; the fxsave area
// follows separately, 64-byte aligned.
const UC_FLAGS: u64 = 0;
const UC_STACK: u64 = 16;
const UC_MCONTEXT: u64 = 40;
const UC_SIGMASK: u64 = UC_MCONTEXT + 256;
const FRAME_UCONTEXT: u64 = 8;
const FRAME_INFO: u64 = FRAME_UCONTEXT + UC_SIGMASK + 8;
const FRAME_SIZE: u64 = FRAME_INFO + 128;
const FP_SIZE: u64 = 512;
/// Bytes below the stack pointer that the ABI lets functions use without moving it.
const RED_ZONE: u64 = 128;

/// The alternate signal stack (`sigaltstack`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AltStack {
    pub sp: u64,
    pub flags: i32,
    pub size: u64,
}

impl Default for AltStack {
    fn default() -> Self {
        AltStack { sp: 0, flags: libc::SS_DISABLE, size: 0 }
    }
}

impl AltStack {
    pub fn contains(&self, sp: u64) -> bool {
        self.flags & libc::SS_DISABLE == 0 && sp > self.sp && sp - self.sp <= self.size
    }
}

impl Task {
    /// Takes the next deliverable signal, thread-directed ones first.
    fn next_signal(&self) -> Option<SigInfo> {
        let mask = {
            let mut own = self.thread.signals.lock().unwrap();
            let mask = own.mask;
            if let Some(info) = own.pending.take(mask) {
                return Some(info);
            }
            mask
        };
        self.process.state.lock().unwrap().pending.take(mask)
    }

    /// Whether a signal is waiting that would interrupt a blocking call.
    pub fn signal_pending(&self) -> bool {
        let (own, mask) = {
            let s = self.thread.signals.lock().unwrap();
            (s.pending.mask, s.mask & !UNBLOCKABLE)
        };
        let st = self.process.state.lock().unwrap();
        (own | st.pending.mask) & !mask != 0 || st.group_exit.is_some()
    }

    /// Handles pending signals before returning to the application: runs default actions,
    /// or sets up one handler frame. Also settles a system call interrupted with a restart code.
    pub fn deliver_signals(&mut self) {
        let restart = self.restart.take();
        while let Some(info) = self.next_signal() {
            let sig = info.signo;
            let act = self.process.action(sig);
            if act.handler == libc::SIG_IGN as u64 {
                continue;
            }
            if act.handler == libc::SIG_DFL as u64 {
                match default_action(sig) {
                    DefaultAction::Ignore | DefaultAction::Continue => continue,
                    DefaultAction::Stop => {
                        self.stop_process(sig);
                        continue;
                    }
                    DefaultAction::Terminate | DefaultAction::Core => {
                        // The first process of a pid namespace ignores signals it has no handler
                        // for, unless the kernel itself sends them.
                        if self.process.pid == 1 && info.code != SI_KERNEL && sig != libc::SIGKILL && !is_fault(info) {
                            continue;
                        }
                        self.process.exit_group(ExitStatus::Signaled(sig));
                        return;
                    }
                }
            }
            if let Some(errno) = restart {
                self.settle_restart(errno, Some(act));
            }
            if let Err(e) = self.setup_frame(info, act) {
                tracing::debug!(sig, "cannot build a signal frame ({e:?}): killing with SIGSEGV");
                self.process.exit_group(ExitStatus::Signaled(libc::SIGSEGV));
            }
            return;
        }
        if let Some(errno) = restart {
            self.settle_restart(errno, None);
        }
        // No handler ran: a mask set for the duration of a call (sigsuspend, ppoll) ends here.
        if let Some(old) = self.saved_mask.take() {
            self.thread.signals.lock().unwrap().mask = old;
        }
    }

    /// Job control: the whole process stops until a SIGCONT; the parent hears of it.
    fn stop_process(&self, sig: i32) {
        let (ppid, threads) = {
            let mut st = self.process.state.lock().unwrap();
            st.stopped = Some(sig);
            st.stop_report = Some(sig);
            st.continue_report = false;
            (st.ppid, st.threads.clone())
        };
        for t in threads.iter().filter(|t| t.tid != self.tid) {
            t.interrupter.interrupt();
        }
        self.tell_parent(ppid, CLD_STOPPED, sig);
    }

    /// Sends SIGCHLD with `code` to the parent, unless it asked not to hear of stops and
    /// continues (`SA_NOCLDSTOP`).
    fn tell_parent(&self, ppid: i32, code: i32, status: i32) {
        if let Some(parent) = self.kernel.process(ppid) {
            if parent.action(libc::SIGCHLD).flags & SA_NOCLDSTOP == 0 {
                parent.send(SigInfo { signo: libc::SIGCHLD, code, pid: self.process.pid, status, ..SigInfo::default() });
            }
        }
        self.kernel.events.notify();
    }

    /// Sleeps while the process is stopped; SIGKILL and exits still get through. The first
    /// thread to wake after a SIGCONT tells the parent.
    pub fn wait_while_stopped(&self) {
        loop {
            let seen = self.kernel.events.generation();
            let (stopped, ppid, tell, leaving) = {
                let mut st = self.process.state.lock().unwrap();
                let tell = st.continue_report && !st.continue_signalled;
                st.continue_signalled = true;
                let killed = st.pending.mask & bit(libc::SIGKILL) != 0;
                (st.stopped.is_some(), st.ppid, tell, killed || st.group_exit.is_some())
            };
            if tell {
                self.tell_parent(ppid, CLD_CONTINUED, libc::SIGCONT);
            }
            // The common case, on every return to the application: not stopped.
            if !stopped || leaving || self.thread.signals.lock().unwrap().pending.mask & bit(libc::SIGKILL) != 0 {
                return;
            }
            self.kernel.events.wait(seen, None);
        }
    }

    /// What an interrupted system call returns: restarted, or `EINTR`.
    fn settle_restart(&mut self, errno: Errno, handler: Option<SigAction>) {
        let restart = match (errno, handler) {
            (ERESTARTNOINTR, _) | (_, None) => true,
            (ERESTARTSYS, Some(act)) => act.flags & SA_RESTART != 0,
            _ => false,
        };
        if restart {
            self.cpu.regs.rax = self.cpu.regs.orig_rax;
            self.cpu.regs.rip -= 2;
        } else {
            self.cpu.regs.rax = Errno::EINTR.as_return();
        }
    }

    fn setup_frame(&mut self, info: SigInfo, act: SigAction) -> SysResult<()> {
        let sig = info.signo;
        let regs = self.cpu.regs;
        let on_alt = act.flags & SA_ONSTACK != 0 && self.altstack.flags & libc::SS_DISABLE == 0 && !self.altstack.contains(regs.rsp);
        let top = if on_alt { self.altstack.sp + self.altstack.size } else { regs.rsp - RED_ZONE };
        let fp_addr = (top - FP_SIZE) & !63;
        let frame = ((fp_addr - FRAME_SIZE) & !15) - 8;
        let fpu: FpState = self.ctx.fpu(self.mm.space()).map_err(|_| Errno::EFAULT)?;
        let old_mask = self.saved_mask.take().unwrap_or_else(|| self.thread.signals.lock().unwrap().mask);

        let mut mcontext = [0u64; 32];
        let gregs = [
            regs.r8, regs.r9, regs.r10, regs.r11, regs.r12, regs.r13, regs.r14, regs.r15, regs.rdi, regs.rsi, regs.rbp,
            regs.rbx, regs.rdx, regs.rax, regs.rcx, regs.rsp, regs.rip, regs.eflags,
        ];
        mcontext[..18].copy_from_slice(&gregs);
        // cs, gs, fs, ss as four u16 in one word.
        mcontext[18] = (regs.cs & 0xffff) | (regs.ss & 0xffff) << 48;
        mcontext[19] = 0; // err
        mcontext[20] = if is_fault(info) { 14 } else { 0 }; // trapno
        mcontext[21] = old_mask; // oldmask
        mcontext[22] = if is_fault(info) { info.addr } else { 0 }; // cr2
        mcontext[23] = fp_addr;

        let mut bytes = vec![0u8; FRAME_SIZE as usize];
        bytes[..8].copy_from_slice(&act.restorer.to_le_bytes());
        let uc = FRAME_UCONTEXT as usize;
        bytes[uc + UC_FLAGS as usize..][..8].copy_from_slice(&0x6u64.to_le_bytes()); // UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS
        let stack = [self.altstack.sp, u64::from(self.altstack_flags(regs.rsp).unsigned_abs()), self.altstack.size];
        for (i, w) in stack.iter().enumerate() {
            bytes[uc + UC_STACK as usize + i * 8..][..8].copy_from_slice(&w.to_le_bytes());
        }
        for (i, w) in mcontext.iter().enumerate() {
            bytes[uc + UC_MCONTEXT as usize + i * 8..][..8].copy_from_slice(&w.to_le_bytes());
        }
        bytes[uc + UC_SIGMASK as usize..][..8].copy_from_slice(&old_mask.to_le_bytes());
        bytes[FRAME_INFO as usize..][..128].copy_from_slice(&info.to_bytes());
        self.mm.copy_out(fp_addr, &fpu)?;
        self.mm.copy_out(frame, &bytes)?;

        let mut new_mask = old_mask | act.mask;
        if act.flags & SA_NODEFER == 0 {
            new_mask |= bit(sig);
        }
        self.thread.signals.lock().unwrap().mask = new_mask & !UNBLOCKABLE;
        if act.flags & SA_RESETHAND != 0 {
            self.process.actions.lock().unwrap()[sig_index(sig)] = SigAction::default();
        }
        let r = &mut self.cpu.regs;
        r.rip = act.handler;
        r.rsp = frame;
        r.rdi = u64::from(sig.unsigned_abs());
        r.rsi = frame + FRAME_INFO;
        r.rdx = frame + FRAME_UCONTEXT;
        r.rax = 0;
        r.eflags &= !0x400; // direction flag clear, as the ABI requires on function entry
        self.cpu.reset_fpu = true;
        Ok(())
    }

    /// Replaces the signal mask for the duration of a call (sigsuspend, ppoll, pselect6,
    /// epoll_pwait). The old mask comes back with [`Task::end_temporary_mask`] when the call
    /// returns normally, or after the handler of the signal that ended it.
    pub fn begin_temporary_mask(&mut self, mask: u64) {
        let old = std::mem::replace(&mut self.thread.signals.lock().unwrap().mask, mask & !UNBLOCKABLE);
        self.saved_mask = Some(old);
    }

    pub fn end_temporary_mask(&mut self) {
        if let Some(old) = self.saved_mask.take() {
            self.thread.signals.lock().unwrap().mask = old;
        }
    }

    /// `ss_flags` as a handler sees them: `SS_ONSTACK` when running on the alternate stack.
    pub fn altstack_flags(&self, sp: u64) -> i32 {
        if self.altstack.contains(sp) {
            libc::SS_ONSTACK
        } else {
            self.altstack.flags
        }
    }

    /// rt_sigreturn(2): restores what `setup_frame` saved.
    pub fn sigreturn(&mut self) -> SysResult<()> {
        // The handler returned into the restorer, which popped the return address.
        let frame = self.cpu.regs.rsp - 8;
        let mut bytes = vec![0u8; FRAME_SIZE as usize];
        self.mm.copy_in(frame, &mut bytes)?;
        let word = |off: u64| u64::from_le_bytes(bytes[off as usize..][..8].try_into().unwrap_or_default());
        let mc = FRAME_UCONTEXT + UC_MCONTEXT;
        let g: Vec<u64> = (0..24).map(|i| word(mc + i * 8)).collect();
        let r = &mut self.cpu.regs;
        (r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15) = (g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]);
        (r.rdi, r.rsi, r.rbp, r.rbx, r.rdx, r.rax, r.rcx, r.rsp, r.rip) = (g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15], g[16]);
        // Only the flags an application may change (as Linux's FIX_EFLAGS).
        const USER_FLAGS: u64 = 0x0004_0dd5;
        r.eflags = (r.eflags & !USER_FLAGS) | (g[17] & USER_FLAGS);
        r.orig_rax = u64::MAX;
        let fp_addr = g[23];
        let mask = word(FRAME_UCONTEXT + UC_SIGMASK) & !UNBLOCKABLE;
        self.thread.signals.lock().unwrap().mask = mask;
        if fp_addr != 0 {
            let mut fpu: FpState = [0; 512];
            self.mm.copy_in(fp_addr, &mut fpu)?;
            self.ctx.set_fpu(self.mm.space(), &fpu).map_err(|_| Errno::EFAULT)?;
            self.cpu.reset_fpu = false;
        }
        Ok(())
    }
}

fn is_fault(info: SigInfo) -> bool {
    matches!(info.signo, libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP) && info.code > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_signals_coalesce_and_rt_signals_queue() {
        let mut q = SigQueue::default();
        q.push(SigInfo::kernel(libc::SIGUSR1));
        q.push(SigInfo::kernel(libc::SIGUSR1));
        q.push(SigInfo::kernel(SIGRTMIN + 1));
        q.push(SigInfo::kernel(SIGRTMIN + 1));
        assert_eq!(q.take(0).unwrap().signo, libc::SIGUSR1);
        assert!(q.take(bit(SIGRTMIN + 1)).is_none(), "blocked");
        assert_eq!(q.take(0).unwrap().signo, SIGRTMIN + 1);
        assert_eq!(q.take(0).unwrap().signo, SIGRTMIN + 1);
        assert!(q.take(0).is_none());
        q.push(SigInfo::kernel(libc::SIGKILL));
        assert_eq!(q.take(u64::MAX).unwrap().signo, libc::SIGKILL, "SIGKILL cannot be blocked");
    }

    #[test]
    fn default_actions_follow_signal_7() {
        assert_eq!(default_action(libc::SIGSEGV), DefaultAction::Core);
        assert_eq!(default_action(libc::SIGTERM), DefaultAction::Terminate);
        assert_eq!(default_action(libc::SIGCHLD), DefaultAction::Ignore);
        assert_eq!(default_action(libc::SIGTSTP), DefaultAction::Stop);
        assert_eq!(default_action(SIGRTMIN + 3), DefaultAction::Terminate);
        assert_eq!(SigInfo::child(7, ExitStatus::Exited(3)).to_bytes()[24], 3);
    }

    #[test]
    fn frame_layout_matches_the_kernel() {
        assert_eq!(FRAME_UCONTEXT + UC_MCONTEXT, 48);
        assert_eq!(FRAME_INFO, 8 + 304);
    }
}
