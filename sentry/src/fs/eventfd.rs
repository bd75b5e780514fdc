//! eventfd: a 64-bit counter that writes add to and reads take (all of it, or one with
//! `EFD_SEMAPHORE`).
//!
//! Like pipes, operations never block here: a read of a zero counter, or a write that would
//! take the counter past `u64::MAX - 1`, answers `EAGAIN` and the system call layer sleeps on
//! the kernel's wake-up channel. Every change notifies that channel.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::abi::Stat;
use crate::errno::{Errno, SysResult};
use crate::kernel::Events;
use crate::vfs::{synthetic_stat, FileOps};

/// The largest value the counter may hold.
pub const MAX_COUNT: u64 = u64::MAX - 1;

pub struct EventFd {
    count: Mutex<u64>,
    semaphore: bool,
    /// Moves on every read and write (edge-triggered epoll looks at it).
    wakeups: AtomicU64,
    events: Arc<Events>,
    stat: Stat,
}

impl EventFd {
    pub fn new(events: Arc<Events>, ino: u64, initval: u64, semaphore: bool) -> EventFd {
        EventFd {
            count: Mutex::new(initval),
            semaphore,
            wakeups: AtomicU64::new(0),
            events,
            // Anonymous inodes have no file type bits, only rw for the owner.
            stat: synthetic_stat(ino, 0o600, 0),
        }
    }

    /// The current counter (`/proc/PID/fdinfo`).
    pub fn count(&self) -> u64 {
        *self.count.lock().unwrap()
    }

    fn changed(&self) {
        self.wakeups.fetch_add(1, Ordering::Relaxed);
        self.events.notify();
    }
}

impl FileOps for EventFd {
    fn read(&self, _offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let mut count = self.count.lock().unwrap();
        if *count == 0 {
            return Err(Errno::EAGAIN);
        }
        let value = if self.semaphore { 1 } else { *count };
        *count -= value;
        drop(count);
        buf[..8].copy_from_slice(&value.to_ne_bytes());
        self.changed();
        Ok(8)
    }

    /// Adds the first 8 bytes. A longer buffer is taken whole (Linux answers 8 for it; the
    /// stream-write loop above would otherwise offer the rest as a second value).
    fn write(&self, _offset: u64, buf: &[u8]) -> SysResult<usize> {
        let Some(bytes) = buf.get(..8) else { return Err(Errno::EINVAL) };
        let value = u64::from_ne_bytes(bytes.try_into().map_err(|_| Errno::EINVAL)?);
        if value == u64::MAX {
            return Err(Errno::EINVAL);
        }
        let mut count = self.count.lock().unwrap();
        if MAX_COUNT - *count < value {
            return Err(Errno::EAGAIN);
        }
        *count += value;
        drop(count);
        self.changed();
        Ok(buf.len())
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self) -> u32 {
        let count = *self.count.lock().unwrap();
        let mut events = 0;
        if count > 0 {
            events |= libc::POLLIN | libc::POLLRDNORM;
        }
        if count < MAX_COUNT {
            events |= libc::POLLOUT | libc::POLLWRNORM;
        }
        if count == u64::MAX {
            events |= libc::POLLERR;
        }
        u32::try_from(events).unwrap_or(0)
    }

    fn wakeups(&self) -> Option<u64> {
        Some(self.wakeups.load(Ordering::Relaxed))
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IN: u32 = libc::POLLIN as u32;
    const OUT: u32 = libc::POLLOUT as u32;

    fn read(e: &EventFd) -> SysResult<u64> {
        let mut b = [0u8; 8];
        e.read(0, &mut b).map(|_| u64::from_ne_bytes(b))
    }

    fn write(e: &EventFd, v: u64) -> SysResult<usize> {
        e.write(0, &v.to_ne_bytes())
    }

    #[test]
    fn reads_take_the_whole_counter() {
        let events = Arc::new(Events::default());
        let e = EventFd::new(events.clone(), 1, 3, false);
        assert_eq!(e.poll() & (IN | OUT), IN | OUT);
        let g = events.generation();
        assert_eq!(write(&e, 4), Ok(8));
        assert_ne!(events.generation(), g, "writes notify");
        assert_eq!(read(&e), Ok(7));
        assert_eq!(read(&e), Err(Errno::EAGAIN));
        assert_eq!(e.poll() & IN, 0);
        assert_eq!(write(&e, 0), Ok(8), "adding zero is allowed");
        assert_eq!(read(&e), Err(Errno::EAGAIN));
    }

    #[test]
    fn semaphores_count_down_by_one() {
        let e = EventFd::new(Arc::new(Events::default()), 1, 2, true);
        assert_eq!(read(&e), Ok(1));
        assert_eq!(read(&e), Ok(1));
        assert_eq!(read(&e), Err(Errno::EAGAIN));
    }

    #[test]
    fn short_buffers_and_overflow() {
        let e = EventFd::new(Arc::new(Events::default()), 1, 0, false);
        let mut small = [0u8; 7];
        assert_eq!(e.read(0, &mut small), Err(Errno::EINVAL));
        assert_eq!(e.write(0, &[1u8; 4]), Err(Errno::EINVAL));
        assert_eq!(write(&e, u64::MAX), Err(Errno::EINVAL));
        assert_eq!(write(&e, MAX_COUNT), Ok(8));
        assert_eq!(e.poll() & (IN | OUT), IN, "full: not writable");
        assert_eq!(write(&e, 1), Err(Errno::EAGAIN));
        assert_eq!(write(&e, 0), Ok(8));
        assert_eq!(read(&e), Ok(MAX_COUNT));
        let w = e.wakeups();
        assert_eq!(write(&e, 1), Ok(8));
        assert_ne!(e.wakeups(), w);
    }
}
