//! Pipes: a bounded byte queue with a read end and a write end.
//!
//! Operations never block here: an empty pipe with writers, or a full one with readers, answers
//! `EAGAIN`, and the system call layer sleeps on the kernel's wake-up channel (unless the file
//! is non-blocking) and retries. Every change that may unblock somebody notifies that channel.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::abi::Stat;
use crate::errno::{Errno, SysResult};
use crate::kernel::Events;
use crate::vfs::{synthetic_stat, FileOps};

/// Default capacity, like Linux's 16 pages.
pub const PIPE_SIZE: usize = 65536;
/// Writes up to this size are atomic.
pub const PIPE_BUF: usize = 4096;
/// Largest capacity F_SETPIPE_SZ may ask for (`/proc/sys/fs/pipe-max-size`).
pub const PIPE_MAX_SIZE: usize = 1 << 20;

struct State {
    buf: VecDeque<u8>,
    capacity: usize,
    readers: usize,
    writers: usize,
    /// Ends ever opened, readers and writers: a FIFO's open waits for the other side's count to
    /// move.
    opened: [u64; 2],
}

pub struct Pipe {
    state: Mutex<State>,
    events: Arc<Events>,
    stat: Stat,
}

/// One end of a pipe; closing the last of a kind wakes the other side.
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    write: bool,
}

impl Pipe {
    /// A new pipe: its read end and its write end.
    // A pipe exists only through its ends (`Pipe::fifo` makes one for a named FIFO).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(events: Arc<Events>, ino: u64) -> (PipeEnd, PipeEnd) {
        let pipe = Arc::new(Pipe {
            state: Mutex::new(State { buf: VecDeque::new(), capacity: PIPE_SIZE, readers: 1, writers: 1, opened: [1, 1] }),
            events,
            stat: synthetic_stat(ino, libc::S_IFIFO | 0o600, 0),
        });
        (PipeEnd { pipe: pipe.clone(), write: false }, PipeEnd { pipe, write: true })
    }

    /// The pipe of a named FIFO, with no ends yet: each open of the FIFO adds one with
    /// [`Pipe::open_end`].
    pub fn fifo(events: Arc<Events>, ino: u64) -> Arc<Pipe> {
        Arc::new(Pipe {
            state: Mutex::new(State { buf: VecDeque::new(), capacity: PIPE_SIZE, readers: 0, writers: 0, opened: [0, 0] }),
            events,
            stat: synthetic_stat(ino, libc::S_IFIFO | 0o600, 0),
        })
    }

    /// A new read or write end (an open of a FIFO); wakes whoever waits for one.
    pub fn open_end(self: &Arc<Pipe>, write: bool) -> PipeEnd {
        {
            let mut st = self.state.lock().unwrap();
            if write {
                st.writers += 1;
            } else {
                st.readers += 1;
            }
            st.opened[usize::from(write)] += 1;
        }
        self.events.notify();
        PipeEnd { pipe: self.clone(), write }
    }

    /// Ends open now, `(readers, writers)`, and ends ever opened, `[readers, writers]`.
    pub fn ends(&self) -> ((usize, usize), [u64; 2]) {
        let st = self.state.lock().unwrap();
        ((st.readers, st.writers), st.opened)
    }
}

impl PipeEnd {
    pub fn capacity(&self) -> usize {
        self.pipe.state.lock().unwrap().capacity
    }

    /// F_SETPIPE_SZ: rounds up to a power of two pages; never below what is buffered.
    pub fn set_capacity(&self, size: usize) -> SysResult<usize> {
        if size > PIPE_MAX_SIZE {
            return Err(Errno::EPERM);
        }
        let size = size.max(4096).next_power_of_two();
        let mut st = self.pipe.state.lock().unwrap();
        if st.buf.len() > size {
            return Err(Errno::EBUSY);
        }
        st.capacity = size;
        Ok(size)
    }

    /// Bytes ready to read (FIONREAD).
    pub fn available(&self) -> usize {
        self.pipe.state.lock().unwrap().buf.len()
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        {
            let mut st = self.pipe.state.lock().unwrap();
            if self.write {
                st.writers -= 1;
            } else {
                st.readers -= 1;
            }
        }
        self.pipe.events.notify();
    }
}

impl FileOps for PipeEnd {
    fn read(&self, _offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        if self.write {
            return Err(Errno::EBADF);
        }
        let mut st = self.pipe.state.lock().unwrap();
        if st.buf.is_empty() {
            return if st.writers == 0 || buf.is_empty() { Ok(0) } else { Err(Errno::EAGAIN) };
        }
        let n = buf.len().min(st.buf.len());
        for (dst, src) in buf.iter_mut().zip(st.buf.drain(..n)) {
            *dst = src;
        }
        drop(st);
        self.pipe.events.notify();
        Ok(n)
    }

    fn write(&self, _offset: u64, buf: &[u8]) -> SysResult<usize> {
        if !self.write {
            return Err(Errno::EBADF);
        }
        let mut st = self.pipe.state.lock().unwrap();
        if st.readers == 0 {
            return Err(Errno::EPIPE);
        }
        let room = st.capacity - st.buf.len();
        // Small writes go in whole or not at all.
        if room == 0 || (buf.len() <= PIPE_BUF && room < buf.len()) {
            return Err(Errno::EAGAIN);
        }
        let n = buf.len().min(room);
        st.buf.extend(&buf[..n]);
        drop(st);
        self.pipe.events.notify();
        Ok(n)
    }

    fn stat(&self) -> SysResult<Stat> {
        let mut st = self.pipe.stat;
        st.size = 0;
        Ok(st)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self) -> u32 {
        let st = self.pipe.state.lock().unwrap();
        let mut events = 0;
        if self.write {
            if st.readers == 0 {
                events |= libc::POLLERR;
            } else if st.capacity - st.buf.len() >= PIPE_BUF {
                events |= libc::POLLOUT | libc::POLLWRNORM;
            }
        } else {
            if !st.buf.is_empty() {
                events |= libc::POLLIN | libc::POLLRDNORM;
            }
            if st.writers == 0 {
                events |= libc::POLLHUP;
            }
        }
        u32::try_from(events).unwrap_or(0)
    }

    fn ioctl(&self, mm: &crate::mm::MemoryManager, request: u32, arg: u64) -> SysResult<u64> {
        crate::vfs::fionread_only(mm, request, arg, self.available())
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_flow_and_ends_report_closure() {
        let (r, w) = Pipe::new(Arc::new(Events::default()), 1);
        let mut buf = [0u8; 8];
        assert_eq!(r.read(0, &mut buf), Err(Errno::EAGAIN), "empty with a writer");
        assert_eq!(w.write(0, b"abc").unwrap(), 3);
        assert_eq!(r.read(0, &mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"abc");
        drop(w);
        assert_eq!(r.read(0, &mut buf).unwrap(), 0, "end of file once writers are gone");
        assert_ne!(r.poll() & u32::try_from(libc::POLLHUP).unwrap(), 0);
    }

    #[test]
    fn full_pipes_refuse_and_small_writes_are_atomic() {
        let (r, w) = Pipe::new(Arc::new(Events::default()), 1);
        let big = vec![7u8; PIPE_SIZE + 10];
        assert_eq!(w.write(0, &big).unwrap(), PIPE_SIZE);
        assert_eq!(w.write(0, b"x"), Err(Errno::EAGAIN));
        let mut buf = vec![0u8; 100];
        assert_eq!(r.read(0, &mut buf).unwrap(), 100);
        assert_eq!(w.write(0, &[1u8; 200]), Err(Errno::EAGAIN), "200 bytes fit only partly: all or nothing");
        assert_eq!(w.write(0, &[1u8; 50]).unwrap(), 50);
        drop(r);
        assert_eq!(w.write(0, b"x"), Err(Errno::EPIPE));
    }
}
