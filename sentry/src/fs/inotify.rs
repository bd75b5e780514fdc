//! inotify: watches on files and the queue of events an inotify descriptor reads.
//!
//! A watch names a file by its `(st_dev, st_ino)`, the identity the application sees, so it
//! holds whatever inode object serves the file (an overlay file before and after copy-up,
//! the same directory seen through two bind mounts). The VFS reports what happens at its
//! choke points ([`crate::vfs::Dentry::insert`], `mark_removed`, `renamed`, `setattr`,
//! [`crate::vfs::File`] creation and release, and `File::modified` for writes); each report
//! goes to the watches on the file itself and, with the file's name, to those on its parent
//! directory, as Linux does.
//!
//! With no watch anywhere, every report returns after one atomic load.
//!
//! Lock order: `REGISTRY` → one group's `state`. A group never calls out with its lock held
//! except to wake waiters (`Events`, a leaf).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::abi::Stat;
use crate::errno::{Errno, SysResult};
use crate::kernel::Events;
use crate::mm::MemoryManager;
use crate::vfs::{synthetic_stat, Dentry, FileOps, Inode, S_IFDIR};

pub const IN_ACCESS: u32 = 0x1;
pub const IN_MODIFY: u32 = 0x2;
pub const IN_ATTRIB: u32 = 0x4;
pub const IN_CLOSE_WRITE: u32 = 0x8;
pub const IN_CLOSE_NOWRITE: u32 = 0x10;
pub const IN_OPEN: u32 = 0x20;
pub const IN_MOVED_FROM: u32 = 0x40;
pub const IN_MOVED_TO: u32 = 0x80;
pub const IN_CREATE: u32 = 0x100;
pub const IN_DELETE: u32 = 0x200;
pub const IN_DELETE_SELF: u32 = 0x400;
pub const IN_MOVE_SELF: u32 = 0x800;
pub const IN_UNMOUNT: u32 = 0x2000;
pub const IN_Q_OVERFLOW: u32 = 0x4000;
pub const IN_IGNORED: u32 = 0x8000;
pub const IN_ONLYDIR: u32 = 0x0100_0000;
pub const IN_DONT_FOLLOW: u32 = 0x0200_0000;
pub const IN_EXCL_UNLINK: u32 = 0x0400_0000;
pub const IN_MASK_CREATE: u32 = 0x1000_0000;
pub const IN_MASK_ADD: u32 = 0x2000_0000;
pub const IN_ISDIR: u32 = 0x4000_0000;
pub const IN_ONESHOT: u32 = 0x8000_0000;
/// Every event a watch may ask for.
pub const IN_ALL_EVENTS: u32 = 0xfff;
/// Every bit `inotify_add_watch` accepts.
pub const IN_VALID: u32 = IN_ALL_EVENTS | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK | IN_MASK_CREATE | IN_MASK_ADD | IN_ONESHOT;

/// `fs.inotify.max_queued_events`: events held before `IN_Q_OVERFLOW`.
pub const MAX_QUEUED_EVENTS: usize = 16384;
/// `fs.inotify.max_user_watches` (per sandbox here).
pub const MAX_WATCHES: usize = 8192;

/// `struct inotify_event` without its name.
const EVENT_HEADER: usize = 16;

/// A file's identity: `(st_dev, st_ino)`.
type Key = (u64, u64);

/// Watches by file, each as (group, descriptor).
type Watchers = HashMap<Key, Vec<(Weak<Group>, i32)>>;
static REGISTRY: Mutex<Option<Watchers>> = Mutex::new(None);
/// Watches in the registry: zero means reports can stop at once.
static WATCHES: AtomicUsize = AtomicUsize::new(0);
/// Rename cookies.
static NEXT_COOKIE: AtomicU32 = AtomicU32::new(1);

fn registry() -> MutexGuard<'static, Option<Watchers>> {
    REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether any watch exists (the fast path of every report; callers check it before work
/// that only a report needs).
pub fn active() -> bool {
    WATCHES.load(Ordering::Relaxed) != 0
}

fn key_of(inode: &dyn Inode) -> Option<(Key, bool)> {
    let st = inode.stat().ok()?;
    Some(((st.dev, st.ino), st.mode & libc::S_IFMT == S_IFDIR))
}

/// Sends `mask` to every watch on `key` (with `name` when the watch is on the parent).
fn deliver(key: Key, mask: u32, cookie: u32, name: &[u8]) {
    let targets: Vec<(Weak<Group>, i32)> = match registry().as_ref().and_then(|r| r.get(&key)) {
        Some(v) => v.clone(),
        None => return,
    };
    for (g, wd) in targets {
        if let Some(g) = g.upgrade() {
            g.queue_for(wd, mask, cookie, name);
        }
    }
}

/// An event on the file `d` names: to its own watches, and to its directory's with its name
/// (not once the name is gone).
pub fn file_event(d: &Dentry, mask: u32) {
    if !active() {
        return;
    }
    let Some((key, dir)) = key_of(d.inode.as_ref()) else { return };
    let mask = if dir { mask | IN_ISDIR } else { mask };
    deliver(key, mask, 0, b"");
    if d.is_removed() || d.is_mount_root() {
        return;
    }
    if let Some(parent) = d.parent() {
        if let Some((pkey, _)) = key_of(parent.inode.as_ref()) {
            deliver(pkey, mask, 0, &d.current_name());
        }
    }
}

/// An event about the entry `name` of the directory `dir` (create, delete, moves); `child`
/// tells whether the entry is a directory.
pub fn entry_event(dir: &Dentry, name: &[u8], child_is_dir: bool, mask: u32, cookie: u32) {
    if !active() {
        return;
    }
    let Some((key, _)) = key_of(dir.inode.as_ref()) else { return };
    deliver(key, if child_is_dir { mask | IN_ISDIR } else { mask }, cookie, name);
}

/// An event on the file itself only (`IN_MOVE_SELF`, `IN_ATTRIB` for a link count change).
pub fn self_event(inode: &dyn Inode, mask: u32) {
    if !active() {
        return;
    }
    let Some((key, dir)) = key_of(inode) else { return };
    let isdir = if dir && mask & (IN_ATTRIB | IN_OPEN | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_MODIFY | IN_ACCESS) != 0 { IN_ISDIR } else { 0 };
    deliver(key, mask | isdir, 0, b"");
}

/// The file's last link went: `IN_DELETE_SELF`, then every watch on it ends (`IN_IGNORED`).
pub fn inode_gone(inode: &dyn Inode) {
    if !active() {
        return;
    }
    let Some((key, _)) = key_of(inode) else { return };
    deliver(key, IN_DELETE_SELF, 0, b"");
    let watches = registry().as_mut().and_then(|r| r.remove(&key)).unwrap_or_default();
    WATCHES.fetch_sub(watches.len(), Ordering::Relaxed);
    for (g, wd) in watches {
        if let Some(g) = g.upgrade() {
            g.end_watch(wd, false);
        }
    }
}

/// A fresh cookie tying an `IN_MOVED_FROM` to its `IN_MOVED_TO`.
pub fn next_cookie() -> u32 {
    NEXT_COOKIE.fetch_add(1, Ordering::Relaxed)
}

/// Whether `inode` is a directory (for `IN_ISDIR` on entry events).
pub fn is_dir(inode: &dyn Inode) -> bool {
    inode.file_type() == S_IFDIR
}

#[derive(Clone, PartialEq, Eq)]
struct Event {
    wd: i32,
    mask: u32,
    cookie: u32,
    name: Vec<u8>,
}

impl Event {
    /// The name padded with NULs to a multiple of the header size, as Linux pads it.
    fn name_len(&self) -> usize {
        if self.name.is_empty() {
            0
        } else {
            (self.name.len() + 1).div_ceil(EVENT_HEADER) * EVENT_HEADER
        }
    }

    fn size(&self) -> usize {
        EVENT_HEADER + self.name_len()
    }
}

struct WatchEntry {
    key: Key,
    mask: u32,
}

#[derive(Default)]
struct GroupState {
    watches: HashMap<i32, WatchEntry>,
    by_key: HashMap<Key, i32>,
    queue: VecDeque<Event>,
    next_wd: i32,
}

/// What an inotify descriptor shares with the registry.
struct Group {
    state: Mutex<GroupState>,
    events: Arc<Events>,
    wakeups: AtomicU64,
}

impl Group {
    fn lock(&self) -> MutexGuard<'_, GroupState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push(&self, st: &mut GroupState, ev: Event) {
        if st.queue.back() == Some(&ev) {
            // Linux merges an event with an identical last one.
            return;
        }
        if st.queue.len() >= MAX_QUEUED_EVENTS {
            if st.queue.back().is_some_and(|e| e.mask == IN_Q_OVERFLOW) {
                return;
            }
            st.queue.push_back(Event { wd: -1, mask: IN_Q_OVERFLOW, cookie: 0, name: Vec::new() });
        } else {
            st.queue.push_back(ev);
        }
        self.wakeups.fetch_add(1, Ordering::Relaxed);
        self.events.notify();
    }

    /// Queues an event for watch `wd` if it asked for it.
    fn queue_for(&self, wd: i32, mask: u32, cookie: u32, name: &[u8]) {
        let mut st = self.lock();
        let Some(w) = st.watches.get(&wd) else { return };
        let wanted = w.mask & IN_ALL_EVENTS;
        if mask & wanted == 0 {
            return;
        }
        let oneshot = w.mask & IN_ONESHOT != 0;
        let ev = Event { wd, mask: mask & (wanted | IN_ISDIR), cookie, name: name.to_vec() };
        self.push(&mut st, ev);
        if oneshot {
            drop(st);
            self.end_watch(wd, true);
        }
    }

    /// Removes watch `wd` and queues its `IN_IGNORED`; `unregister` also takes it out of the
    /// registry (not when the registry already dropped it).
    fn end_watch(&self, wd: i32, unregister: bool) {
        let key = {
            let mut st = self.lock();
            let Some(w) = st.watches.remove(&wd) else { return };
            st.by_key.remove(&w.key);
            self.push(&mut st, Event { wd, mask: IN_IGNORED, cookie: 0, name: Vec::new() });
            w.key
        };
        if unregister {
            unregister_watch(self, key, wd);
        }
    }
}

fn unregister_watch(g: &Group, key: Key, wd: i32) {
    let mut reg = registry();
    let Some(map) = reg.as_mut() else { return };
    if let Some(v) = map.get_mut(&key) {
        let before = v.len();
        v.retain(|(w, d)| !(*d == wd && std::ptr::eq(w.as_ptr(), g)));
        WATCHES.fetch_sub(before - v.len(), Ordering::Relaxed);
        if v.is_empty() {
            map.remove(&key);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut reg = registry();
        let Some(map) = reg.as_mut() else { return };
        for (wd, w) in st.watches.drain() {
            if let Some(v) = map.get_mut(&w.key) {
                let before = v.len();
                // Our own Weak no longer upgrades; match it by descriptor and a dead pointer.
                v.retain(|(g, d)| !(*d == wd && g.strong_count() == 0));
                WATCHES.fetch_sub(before - v.len(), Ordering::Relaxed);
                if v.is_empty() {
                    map.remove(&w.key);
                }
            }
        }
    }
}

/// An inotify descriptor's open file.
pub struct Inotify {
    group: Arc<Group>,
    stat: Stat,
}

impl Inotify {
    pub fn new(events: Arc<Events>, ino: u64) -> Inotify {
        let group = Arc::new(Group { state: Mutex::new(GroupState { next_wd: 1, ..GroupState::default() }), events, wakeups: AtomicU64::new(0) });
        Inotify { group, stat: synthetic_stat(ino, 0o600, 0) }
    }

    /// `inotify_add_watch` on the file `d` names (already resolved and checked): a new watch
    /// descriptor, or the existing one for that file with its mask replaced (or extended with
    /// `IN_MASK_ADD`; `EEXIST` with `IN_MASK_CREATE`).
    pub fn add_watch(&self, d: &Arc<Dentry>, mask: u32) -> SysResult<i32> {
        let (key, _) = key_of(d.inode.as_ref()).ok_or(Errno::ENOENT)?;
        let keep = mask & (IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK);
        let mut reg = registry();
        let mut st = self.group.lock();
        if let Some(&wd) = st.by_key.get(&key) {
            if mask & IN_MASK_CREATE != 0 {
                return Err(Errno::EEXIST);
            }
            let w = st.watches.get_mut(&wd).ok_or(Errno::EINVAL)?;
            w.mask = if mask & IN_MASK_ADD != 0 { w.mask | keep } else { keep };
            return Ok(wd);
        }
        if WATCHES.load(Ordering::Relaxed) >= MAX_WATCHES {
            return Err(Errno::ENOSPC);
        }
        let wd = st.next_wd;
        st.next_wd = st.next_wd.checked_add(1).ok_or(Errno::ENOSPC)?;
        st.watches.insert(wd, WatchEntry { key, mask: keep });
        st.by_key.insert(key, wd);
        reg.get_or_insert_with(HashMap::new).entry(key).or_default().push((Arc::downgrade(&self.group), wd));
        WATCHES.fetch_add(1, Ordering::Relaxed);
        Ok(wd)
    }

    /// `inotify_rm_watch`: `EINVAL` for a descriptor this instance does not have.
    pub fn rm_watch(&self, wd: i32) -> SysResult<()> {
        if !self.group.lock().watches.contains_key(&wd) {
            return Err(Errno::EINVAL);
        }
        self.group.end_watch(wd, true);
        Ok(())
    }

    /// Bytes of the queued events (`FIONREAD`).
    pub fn pending_bytes(&self) -> usize {
        self.group.lock().queue.iter().map(Event::size).sum()
    }
}

impl FileOps for Inotify {
    /// Whole events, as many as fit; `EINVAL` when not even the first fits, `EAGAIN` when
    /// there is none (the syscall layer then waits).
    fn read(&self, _offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        let mut st = self.group.lock();
        let first = st.queue.front().ok_or(Errno::EAGAIN)?;
        if first.size() > buf.len() {
            return Err(Errno::EINVAL);
        }
        let mut done = 0;
        while let Some(ev) = st.queue.front() {
            let size = ev.size();
            if done + size > buf.len() {
                break;
            }
            let out = &mut buf[done..done + size];
            out[0..4].copy_from_slice(&ev.wd.to_ne_bytes());
            out[4..8].copy_from_slice(&ev.mask.to_ne_bytes());
            out[8..12].copy_from_slice(&ev.cookie.to_ne_bytes());
            out[12..16].copy_from_slice(&u32::try_from(ev.name_len()).unwrap_or(0).to_ne_bytes());
            out[16..].fill(0);
            out[16..16 + ev.name.len()].copy_from_slice(&ev.name);
            done += size;
            st.queue.pop_front();
        }
        Ok(done)
    }

    fn write(&self, _offset: u64, _buf: &[u8]) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self) -> u32 {
        if self.group.lock().queue.is_empty() {
            0
        } else {
            (libc::POLLIN | libc::POLLRDNORM) as u32
        }
    }

    fn wakeups(&self) -> Option<u64> {
        Some(self.group.wakeups.load(Ordering::Relaxed))
    }

    fn ioctl(&self, mm: &MemoryManager, request: u32, arg: u64) -> SysResult<u64> {
        crate::vfs::fionread_only(mm, request, arg, self.pending_bytes())
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_padded_to_the_header_size_with_a_nul() {
        let ev = |n: &[u8]| Event { wd: 1, mask: IN_CREATE, cookie: 0, name: n.to_vec() };
        assert_eq!(ev(b"").size(), 16);
        assert_eq!(ev(b"a").size(), 32);
        assert_eq!(ev(&[b'x'; 15]).size(), 32);
        assert_eq!(ev(&[b'x'; 16]).size(), 48);
    }
}
