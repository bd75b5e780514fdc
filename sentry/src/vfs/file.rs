//! Open file descriptions and the per-process descriptor table.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{lock, Dentry, FileOps};
use crate::errno::{Errno, SysResult};
use crate::fs::inotify;

/// An open file description: shared by every descriptor `dup`ed from it.
pub struct File {
    pub ops: Arc<dyn FileOps>,
    /// Where it was opened from; None for files without a name (stdio from the host).
    pub dentry: Option<Arc<Dentry>>,
    /// Access mode and status flags (`O_RDONLY`…, `O_APPEND`, `O_NONBLOCK`).
    flags: AtomicU32,
    pub offset: Mutex<u64>,
}

/// Status flags `F_SETFL` may change.
const SETFL_MASK: u32 = (libc::O_APPEND | libc::O_NONBLOCK | libc::O_ASYNC | libc::O_DIRECT | libc::O_NOATIME) as u32;

impl File {
    pub fn new(ops: Arc<dyn FileOps>, dentry: Option<Arc<Dentry>>, flags: i32) -> Arc<File> {
        let keep = libc::O_ACCMODE | libc::O_APPEND | libc::O_NONBLOCK | libc::O_DIRECT | libc::O_NOATIME | libc::O_PATH | libc::O_LARGEFILE;
        let file = Arc::new(File { ops, dentry, flags: AtomicU32::new((flags & keep).cast_unsigned()), offset: Mutex::new(0) });
        if let (Some(d), false) = (&file.dentry, flags & libc::O_PATH != 0) {
            inotify::file_event(d, inotify::IN_OPEN);
        }
        file
    }

    /// Reports a change of the file's data (a write, `fallocate`) to inotify.
    pub fn modified(&self) {
        if let Some(d) = &self.dentry {
            inotify::file_event(d, inotify::IN_MODIFY);
        }
    }

    pub fn flags(&self) -> i32 {
        self.flags.load(Ordering::Relaxed) as i32
    }

    pub fn set_status_flags(&self, flags: i32) {
        let old = self.flags.load(Ordering::Relaxed);
        let new = (old & !SETFL_MASK) | (flags.cast_unsigned() & SETFL_MASK);
        self.flags.store(new, Ordering::Relaxed);
    }

    pub fn readable(&self) -> bool {
        let f = self.flags();
        f & libc::O_PATH == 0 && matches!(f & libc::O_ACCMODE, libc::O_RDONLY | libc::O_RDWR)
    }

    pub fn writable(&self) -> bool {
        let f = self.flags();
        f & libc::O_PATH == 0 && matches!(f & libc::O_ACCMODE, libc::O_WRONLY | libc::O_RDWR)
    }
}

impl Drop for File {
    /// The last descriptor of this open file went: its `flock` and OFD locks go, and
    /// inotify's close event.
    fn drop(&mut self) {
        lock::file_closed(self);
        if let (Some(d), false) = (&self.dentry, self.flags() & libc::O_PATH != 0) {
            let mask = if self.writable() { inotify::IN_CLOSE_WRITE } else { inotify::IN_CLOSE_NOWRITE };
            inotify::file_event(d, mask);
        }
    }
}

#[derive(Clone)]
struct Slot {
    file: Arc<File>,
    cloexec: bool,
}

/// A process's file descriptors.
pub struct FdTable {
    slots: Vec<Option<Slot>>,
    /// The owner of the POSIX record locks taken through this table (Linux's `files_struct`).
    owner: u64,
}

static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

impl Default for FdTable {
    fn default() -> FdTable {
        FdTable { slots: Vec::new(), owner: NEXT_OWNER.fetch_add(1, Ordering::Relaxed) }
    }
}

impl Clone for FdTable {
    /// A copy (`fork`) is a new lock owner: a child inherits no POSIX locks.
    fn clone(&self) -> FdTable {
        FdTable { slots: self.slots.clone(), owner: NEXT_OWNER.fetch_add(1, Ordering::Relaxed) }
    }
}

impl Drop for FdTable {
    fn drop(&mut self) {
        lock::owner_gone(self.owner);
    }
}

/// Default `RLIMIT_NOFILE`.
pub const DEFAULT_NOFILE: u64 = 1024;

impl FdTable {
    /// The owner id of POSIX locks taken through this table.
    pub fn lock_owner(&self) -> u64 {
        self.owner
    }

    /// A descriptor of `file` closed: the table's POSIX locks on the file go.
    fn closed(&self, file: &File) {
        lock::fd_closed(self.owner, file);
    }

    pub fn get(&self, fd: i32) -> SysResult<Arc<File>> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get(i))
            .and_then(|s| s.as_ref())
            .map(|s| s.file.clone())
            .ok_or(Errno::EBADF)
    }

    pub fn cloexec(&self, fd: i32) -> SysResult<bool> {
        usize::try_from(fd).ok().and_then(|i| self.slots.get(i)).and_then(|s| s.as_ref()).map(|s| s.cloexec).ok_or(Errno::EBADF)
    }

    pub fn set_cloexec(&mut self, fd: i32, on: bool) -> SysResult<()> {
        let slot = usize::try_from(fd).ok().and_then(|i| self.slots.get_mut(i)).and_then(|s| s.as_mut()).ok_or(Errno::EBADF)?;
        slot.cloexec = on;
        Ok(())
    }

    /// Installs `file` at the lowest free descriptor ≥ `min` below `limit`.
    pub fn install(&mut self, file: Arc<File>, cloexec: bool, min: i32, limit: u64) -> SysResult<i32> {
        let min = usize::try_from(min).map_err(|_| Errno::EINVAL)?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let fd = (min..).find(|&i| self.slots.get(i).is_none_or(|s| s.is_none())).ok_or(Errno::EMFILE)?;
        if fd >= limit {
            return Err(Errno::EMFILE);
        }
        self.put(fd, Slot { file, cloexec });
        i32::try_from(fd).map_err(|_| Errno::EMFILE)
    }

    /// Installs `file` at exactly `fd`, replacing what was there.
    pub fn install_at(&mut self, fd: i32, file: Arc<File>, cloexec: bool, limit: u64) -> SysResult<Option<Arc<File>>> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        if i as u64 >= limit {
            return Err(Errno::EBADF);
        }
        let old = self.slots.get_mut(i).and_then(|s| s.take()).map(|s| s.file);
        self.put(i, Slot { file, cloexec });
        if let Some(old) = &old {
            self.closed(old);
        }
        Ok(old)
    }

    fn put(&mut self, i: usize, slot: Slot) {
        if self.slots.len() <= i {
            self.slots.resize(i + 1, None);
        }
        self.slots[i] = Some(slot);
    }

    pub fn remove(&mut self, fd: i32) -> SysResult<Arc<File>> {
        let i = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        let file = self.slots.get_mut(i).and_then(|s| s.take()).map(|s| s.file).ok_or(Errno::EBADF)?;
        self.closed(&file);
        Ok(file)
    }

    /// Closes every descriptor marked close-on-exec.
    pub fn close_on_exec(&mut self) {
        for i in 0..self.slots.len() {
            if self.slots[i].as_ref().is_some_and(|s| s.cloexec) {
                if let Some(s) = self.slots[i].take() {
                    self.closed(&s.file);
                }
            }
        }
    }

    /// Descriptors in use, for `/proc/PID/fd` and `close_range`.
    pub fn fds(&self) -> Vec<i32> {
        self.slots.iter().enumerate().filter(|(_, s)| s.is_some()).filter_map(|(i, _)| i32::try_from(i).ok()).collect()
    }
}
