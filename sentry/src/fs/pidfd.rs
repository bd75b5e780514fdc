//! pidfd: a file that stands for one process (`pidfd_open`, `CLONE_PIDFD`).
//!
//! It holds the process itself, not its number, so that a recycled pid can never be reached
//! through it: `pidfd_send_signal`, `pidfd_getfd` and `waitid(P_PIDFD)` act on that process as
//! long as it has not been reaped, and answer `ESRCH` (or `ECHILD`) after. The file becomes
//! readable (`POLLIN`) when the process has ended (is a zombie, or reaped); the exit notifies
//! the kernel's `Events`, which wakes pollers. It cannot be read, written or seeked.

use std::sync::Arc;

use crate::abi::Stat;
use crate::kernel::process::Process;
use crate::kernel::Kernel;
use crate::vfs::{synthetic_stat, File, FileOps};

pub struct PidFd {
    process: Arc<Process>,
    stat: Stat,
}

impl PidFd {
    pub fn new(process: Arc<Process>, ino: u64) -> PidFd {
        // An anonymous inode: no file type bits, read-write for the owner.
        PidFd { process, stat: synthetic_stat(ino, 0o600, 0) }
    }

    /// The process the file stands for (reaped or not).
    pub fn process(&self) -> &Arc<Process> {
        &self.process
    }

    /// The process, if it has not been reaped yet (a zombie still counts).
    pub fn live(&self, kernel: &Kernel) -> Option<Arc<Process>> {
        kernel.process(self.process.pid).filter(|p| Arc::ptr_eq(p, &self.process))
    }

    /// Whether every thread of the process has ended.
    pub fn exited(&self) -> bool {
        self.process.state.lock().unwrap().zombie.is_some()
    }

    /// The lines `/proc/PID/fdinfo/N` adds for a pidfd: the pid, -1 once reaped.
    pub fn fdinfo(&self, kernel: &Kernel) -> String {
        let pid = if self.live(kernel).is_some() { self.process.pid } else { -1 };
        format!("Pid:\t{pid}\nNSpid:\t{pid}\n")
    }
}

/// The pidfd behind an open file, if it is one.
pub fn as_pidfd(file: &File) -> Option<&PidFd> {
    file.ops.as_any().and_then(|a| a.downcast_ref::<PidFd>())
}

impl FileOps for PidFd {
    fn stat(&self) -> crate::errno::SysResult<Stat> {
        Ok(self.stat)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self) -> u32 {
        if self.exited() {
            u32::try_from(libc::POLLIN | libc::POLLRDNORM).unwrap_or(0)
        } else {
            0
        }
    }

    /// Moves once, when the process ends.
    fn wakeups(&self) -> Option<u64> {
        Some(u64::from(self.exited()))
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{Rlimit, SigAction};
    use crate::errno::Errno;
    use crate::kernel::process::{ExitStatus, RLIMIT_COUNT};

    #[test]
    fn readable_once_the_process_has_ended() {
        let p = Process::new(9, 1, 9, 9, [SigAction::default(); 64], [Rlimit { cur: 0, max: 0 }; RLIMIT_COUNT]);
        let f = PidFd::new(p.clone(), 5);
        assert_eq!((f.poll(), f.wakeups()), (0, Some(0)));
        let mut buf = [0u8; 8];
        assert_eq!(f.read(0, &mut buf), Err(Errno::EINVAL));
        assert_eq!(f.write(0, &buf), Err(Errno::EINVAL));
        assert!(!f.seekable());
        p.state.lock().unwrap().zombie = Some(ExitStatus::Exited(0));
        assert_eq!(f.poll(), u32::try_from(libc::POLLIN | libc::POLLRDNORM).unwrap());
        assert_eq!(f.wakeups(), Some(1));
        assert!(Arc::ptr_eq(f.process(), &p));
    }
}
