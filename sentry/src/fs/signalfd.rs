//! signalfd: pending signals read as 128-byte `signalfd_siginfo` records.
//!
//! A read takes signals in the file's mask from the reading task: its own queue first, then
//! its process's. The file operations have no task, so the file remembers (weakly) the thread
//! and process that created it, and [`FileOps::read`] and [`FileOps::poll`] look at those. The
//! system call layer reads for the calling task instead (`syscalls::events::read_hook`), as
//! Linux does. Simplification: poll readiness is always the creator's, so a signalfd inherited
//! over `fork` and polled in the child reports the parent's signals (Linux: the poller's).
//!
//! Readiness changes when a signal is sent; every sender notifies the kernel's `Events`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use crate::abi::Stat;
use crate::errno::{Errno, SysResult};
use crate::kernel::process::{Process, Thread};
use crate::kernel::signal::{SigInfo, SIGRTMIN, SI_QUEUE, UNBLOCKABLE};
use crate::kernel::Events;
use crate::vfs::{synthetic_stat, FileOps};

/// Size of one `struct signalfd_siginfo`.
pub const RECORD_SIZE: usize = 128;

/// `si_code` of signals from POSIX timers and message queues, which carry a value.
const SI_TIMER: i32 = -2;
const SI_MESGQ: i32 = -3;

pub struct SignalFd {
    mask: AtomicU64,
    process: Weak<Process>,
    thread: Weak<Thread>,
    events: Arc<Events>,
    stat: Stat,
}

impl SignalFd {
    pub fn new(events: Arc<Events>, ino: u64, mask: u64, process: &Arc<Process>, thread: &Arc<Thread>) -> SignalFd {
        SignalFd {
            mask: AtomicU64::new(mask & !UNBLOCKABLE),
            process: Arc::downgrade(process),
            thread: Arc::downgrade(thread),
            events,
            stat: synthetic_stat(ino, 0o600, 0),
        }
    }

    /// The signals this file reads (bit `n - 1` for signal `n`).
    pub fn mask(&self) -> u64 {
        self.mask.load(Ordering::Relaxed)
    }

    /// `signalfd` on an existing descriptor: replaces the mask (`SIGKILL` and `SIGSTOP` are
    /// dropped silently).
    pub fn set_mask(&self, mask: u64) {
        self.mask.store(mask & !UNBLOCKABLE, Ordering::Relaxed);
        self.events.notify();
    }

    /// Whether a signal of the mask is pending for `thread` or its `process`.
    pub fn pending_for(&self, thread: Option<&Thread>, process: Option<&Process>) -> bool {
        let mask = self.mask();
        thread.is_some_and(|t| t.signals.lock().unwrap().pending.mask & mask != 0)
            || process.is_some_and(|p| p.state.lock().unwrap().pending.mask & mask != 0)
    }

    /// Takes the lowest signal of the mask pending for `thread`, else for `process`. Nothing
    /// while `SIGKILL` or `SIGSTOP` is pending in a queue: those go to signal delivery.
    pub fn dequeue(&self, thread: Option<&Thread>, process: Option<&Process>) -> Option<SigInfo> {
        let mask = self.mask();
        let take = |q: &mut crate::kernel::signal::SigQueue| {
            if q.mask & mask == 0 || q.mask & UNBLOCKABLE != 0 {
                return None;
            }
            q.take(!mask)
        };
        if let Some(info) = thread.and_then(|t| take(&mut t.signals.lock().unwrap().pending)) {
            return Some(info);
        }
        process.and_then(|p| take(&mut p.state.lock().unwrap().pending))
    }

    /// Fills `buf` with as many records as fit and are pending for `thread` and `process`.
    /// `EINVAL` for a buffer smaller than one record, `EAGAIN` when none is pending.
    pub fn read_for(&self, thread: Option<&Thread>, process: Option<&Process>, buf: &mut [u8]) -> SysResult<usize> {
        if buf.len() < RECORD_SIZE {
            return Err(Errno::EINVAL);
        }
        let mut done = 0;
        while buf.len() - done >= RECORD_SIZE {
            let Some(info) = self.dequeue(thread, process) else { break };
            buf[done..done + RECORD_SIZE].copy_from_slice(&record(&info));
            done += RECORD_SIZE;
        }
        if done == 0 {
            return Err(Errno::EAGAIN);
        }
        Ok(done)
    }
}

/// The `struct signalfd_siginfo` for one signal, with the fields Linux fills for its kind.
pub fn record(info: &SigInfo) -> [u8; RECORD_SIZE] {
    let mut b = [0u8; RECORD_SIZE];
    let mut put = |off: usize, bytes: &[u8]| b[off..off + bytes.len()].copy_from_slice(bytes);
    put(0, &info.signo.to_ne_bytes()); // ssi_signo
    put(4, &info.errno.to_ne_bytes()); // ssi_errno
    put(8, &info.code.to_ne_bytes()); // ssi_code
    let fault = matches!(info.signo, libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP) && info.code > 0;
    if fault {
        put(72, &info.addr.to_ne_bytes()); // ssi_addr
        return b;
    }
    put(12, &info.pid.to_ne_bytes()); // ssi_pid
    put(16, &info.uid.to_ne_bytes()); // ssi_uid
    if info.signo == libc::SIGCHLD && info.code > 0 {
        put(40, &info.status.to_ne_bytes()); // ssi_status
    } else if matches!(info.code, SI_QUEUE | SI_TIMER | SI_MESGQ) || info.signo >= SIGRTMIN {
        // si_int is the low half of the sigval, si_ptr all of it.
        put(44, &info.value.to_ne_bytes()[..4]); // ssi_int
        put(48, &info.value.to_ne_bytes()); // ssi_ptr
    }
    b
}

impl FileOps for SignalFd {
    /// Reads for the thread that created the file (see the module notes).
    fn read(&self, _offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        let (thread, process) = (self.thread.upgrade(), self.process.upgrade());
        self.read_for(thread.as_deref(), process.as_deref(), buf)
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self) -> u32 {
        let (thread, process) = (self.thread.upgrade(), self.process.upgrade());
        if self.pending_for(thread.as_deref(), process.as_deref()) {
            u32::try_from(libc::POLLIN | libc::POLLRDNORM).unwrap_or(0)
        } else {
            0
        }
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{Rlimit, SigAction};
    use crate::kernel::signal::{bit, SI_TKILL};

    struct NoInterrupt;
    impl platform::Interrupt for NoInterrupt {
        fn interrupt(&self) {}
    }

    fn task() -> (Arc<Process>, Arc<Thread>) {
        let p = Process::new(7, 1, 7, 7, [SigAction::default(); 64], [Rlimit { cur: 0, max: 0 }; crate::kernel::process::RLIMIT_COUNT]);
        let t = Thread::new(7, bit(libc::SIGUSR1) | bit(libc::SIGUSR2), Arc::new(NoInterrupt));
        p.state.lock().unwrap().threads.push(t.clone());
        (p, t)
    }

    fn field(rec: &[u8], off: usize) -> i32 {
        i32::from_ne_bytes(rec[off..off + 4].try_into().unwrap())
    }

    #[test]
    fn reads_thread_signals_before_process_signals() {
        let (p, t) = task();
        let events = Arc::new(Events::default());
        let sfd = SignalFd::new(events.clone(), 1, bit(libc::SIGUSR1) | bit(libc::SIGUSR2) | bit(libc::SIGKILL), &p, &t);
        assert_eq!(sfd.mask() & bit(libc::SIGKILL), 0, "SIGKILL is never read");
        let mut buf = [0u8; 3 * RECORD_SIZE];
        assert_eq!(sfd.read(0, &mut buf), Err(Errno::EAGAIN));
        assert_eq!(sfd.poll(), 0);
        p.send(SigInfo::user(libc::SIGUSR1, 3, 1000));
        t.send(SigInfo { signo: libc::SIGUSR2, code: SI_TKILL, pid: 7, ..SigInfo::default() });
        t.send(SigInfo::user(libc::SIGTERM, 3, 0));
        assert_ne!(sfd.poll(), 0);
        assert_eq!(sfd.read(0, &mut buf), Ok(2 * RECORD_SIZE));
        assert_eq!(field(&buf, 0), libc::SIGUSR2, "thread-directed first");
        assert_eq!(field(&buf, 8), SI_TKILL);
        assert_eq!(field(&buf[RECORD_SIZE..], 0), libc::SIGUSR1);
        assert_eq!(field(&buf[RECORD_SIZE..], 12), 3, "ssi_pid");
        assert_eq!(field(&buf[RECORD_SIZE..], 16), 1000, "ssi_uid");
        assert_eq!(sfd.poll(), 0, "SIGTERM is not in the mask");
        assert_eq!(t.signals.lock().unwrap().pending.mask, bit(libc::SIGTERM));
        let mut small = [0u8; RECORD_SIZE - 1];
        assert_eq!(sfd.read(0, &mut small), Err(Errno::EINVAL));
        let g = events.generation();
        sfd.set_mask(bit(libc::SIGTERM));
        assert_ne!(events.generation(), g);
        assert_ne!(sfd.poll(), 0);
    }

    #[test]
    fn a_pending_sigkill_is_left_for_delivery() {
        let (p, t) = task();
        let sfd = SignalFd::new(Arc::new(Events::default()), 1, bit(libc::SIGUSR1), &p, &t);
        t.send(SigInfo::user(libc::SIGUSR1, 1, 0));
        t.send(SigInfo::kernel(libc::SIGKILL));
        assert!(sfd.dequeue(Some(&t), Some(&p)).is_none());
    }

    #[test]
    fn queued_signals_carry_their_value() {
        let info = SigInfo { signo: SIGRTMIN + 2, code: SI_QUEUE, pid: 5, uid: 0, value: 0x1_0000_002a, ..SigInfo::default() };
        let rec = record(&info);
        assert_eq!(field(&rec, 44), 0x2a, "ssi_int");
        assert_eq!(u64::from_ne_bytes(rec[48..56].try_into().unwrap()), 0x1_0000_002a, "ssi_ptr");
        let fault = record(&SigInfo::fault(libc::SIGSEGV, 1, 0xdead));
        assert_eq!(u64::from_ne_bytes(fault[72..80].try_into().unwrap()), 0xdead);
    }
}
