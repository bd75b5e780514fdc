//! Advisory file locks: `flock(2)` locks, POSIX record locks and open-file-description (OFD)
//! record locks, in one table keyed by the file's identity `(st_dev, st_ino)`, so every open of
//! a file, through any mount, meets the same locks.
//!
//! Owners, as in Linux:
//! - a `flock` lock and an OFD lock belong to the open file description ([`File`]): shared by
//!   `dup` and `fork`, gone when the description's last descriptor closes ([`file_closed`]);
//! - a POSIX lock belongs to the descriptor table (Linux's `files_struct`, which is the process
//!   unless `CLONE_FILES` shares it): gone when the table closes *any* descriptor of the file
//!   ([`fd_closed`]) and when the table goes ([`owner_gone`]).
//!
//! `flock` locks and record locks never conflict with each other; POSIX and OFD record locks
//! share one list and conflict across owners.
//!
//! Waiting: a caller that meets a conflict registers its kernel's [`Events`] on the file; every
//! change that may free a range wakes those after the table's lock is released. The syscall
//! layer reads the event generation *before* trying, so no wake-up is lost.
//!
//! Lock order: the table's mutex is a leaf: nothing is called with it held (no `stat`, no
//! notify).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use super::File;
use crate::errno::SysResult;
use crate::kernel::Events;

/// A file's identity: `(st_dev, st_ino)`.
pub type Key = (u64, u64);

/// The last byte offset a lock can cover (Linux's `OFFSET_MAX`); a lock to it runs "to EOF".
pub const OFFSET_MAX: i64 = i64::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

impl Kind {
    fn conflicts(self, other: Kind) -> bool {
        self == Kind::Write || other == Kind::Write
    }
}

/// Who holds a record lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A POSIX lock: the descriptor table's id ([`super::FdTable`]).
    Posix(u64),
    /// An OFD lock: the open file description's address.
    Ofd(usize),
}

/// One record lock over the bytes `start..=end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub owner: Owner,
    /// The sandbox pid that took it (`-1` for OFD locks, as `F_OFD_GETLK` reports).
    pub pid: i32,
    pub kind: Kind,
    pub start: i64,
    pub end: i64,
}

impl Record {
    fn overlaps(&self, start: i64, end: i64) -> bool {
        self.start <= end && start <= self.end
    }
}

/// One `flock` lock.
#[derive(Clone, Copy, Debug)]
struct FlockLock {
    file: usize,
    pid: i32,
    kind: Kind,
}

#[derive(Default)]
struct FileLocks {
    records: Vec<Record>,
    flocks: Vec<FlockLock>,
    /// Kernels with a task waiting for a change here.
    waiters: Vec<Arc<Events>>,
}

impl FileLocks {
    fn is_empty(&self) -> bool {
        self.records.is_empty() && self.flocks.is_empty() && self.waiters.is_empty()
    }

    fn add_waiter(&mut self, events: &Arc<Events>) {
        if !self.waiters.iter().any(|w| Arc::ptr_eq(w, events)) {
            self.waiters.push(events.clone());
        }
    }

    /// Removes `owner`'s locks on `start..=end`, splitting those that reach outside it.
    fn carve(&mut self, owner: Owner, start: i64, end: i64) {
        let mut out = Vec::with_capacity(self.records.len() + 1);
        for r in self.records.drain(..) {
            if r.owner != owner || !r.overlaps(start, end) {
                out.push(r);
                continue;
            }
            if r.start < start {
                out.push(Record { end: start - 1, ..r });
            }
            if r.end > end {
                out.push(Record { start: end + 1, ..r });
            }
        }
        self.records = out;
    }

    fn record_conflict(&self, owner: Owner, kind: Kind, start: i64, end: i64) -> Option<Record> {
        self.records.iter().find(|r| r.owner != owner && r.overlaps(start, end) && r.kind.conflicts(kind)).copied()
    }
}

#[derive(Default)]
struct Table {
    files: HashMap<Key, FileLocks>,
    /// The key of every open file description that was used for locking.
    file_keys: HashMap<usize, Key>,
    /// The files each POSIX owner may hold locks on.
    posix_keys: HashMap<u64, HashSet<Key>>,
    /// POSIX owners sleeping in `F_SETLKW`, and the owner each waits for (deadlock detection).
    blocked_on: HashMap<u64, u64>,
}

static TABLE: LazyLock<Mutex<Table>> = LazyLock::new(Mutex::default);
/// Set by the first lock call: until then closing a file need not look at the table.
static USED: AtomicBool = AtomicBool::new(false);

fn table() -> MutexGuard<'static, Table> {
    TABLE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Table {
    /// Drops the entry of `key` if nothing is left in it, and hands back its waiters to wake.
    fn settle(&mut self, key: Key, wake: bool) -> Vec<Arc<Events>> {
        let Some(f) = self.files.get_mut(&key) else { return Vec::new() };
        let woken = if wake { std::mem::take(&mut f.waiters) } else { Vec::new() };
        if f.is_empty() {
            self.files.remove(&key);
        }
        woken
    }

    fn forget_posix_key(&mut self, owner: u64, key: Key) {
        let holds = self.files.get(&key).is_some_and(|f| f.records.iter().any(|r| r.owner == Owner::Posix(owner)));
        if !holds {
            if let Some(keys) = self.posix_keys.get_mut(&owner) {
                keys.remove(&key);
                if keys.is_empty() {
                    self.posix_keys.remove(&owner);
                }
            }
        }
    }
}

fn wake(waiters: Vec<Arc<Events>>) {
    for w in waiters {
        w.notify();
    }
}

/// The identity under which `file`'s locks are kept.
pub fn key_of(file: &File) -> SysResult<Key> {
    let st = file.ops.stat()?;
    Ok((st.dev, st.ino))
}

fn file_id(file: &File) -> usize {
    std::ptr::from_ref(file) as usize
}

/// The owner of OFD locks taken through `file`.
pub fn ofd_owner(file: &File) -> Owner {
    Owner::Ofd(file_id(file))
}

/// What a lock attempt met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// Someone else holds a conflicting lock; the caller's kernel is registered to be woken.
    Conflict,
    /// Waiting would close a cycle of POSIX owners waiting for each other.
    Deadlock,
}

/// Takes (`Some(kind)`) or drops (`None`) `file`'s `flock` lock. Converting a lock first drops
/// the old one, as Linux does (so a failed conversion leaves none).
/// A caller that will sleep passes `waiter` to be woken on the next change.
pub fn flock(file: &File, key: Key, kind: Option<Kind>, pid: i32, waiter: Option<&Arc<Events>>) -> Result<(), Blocked> {
    USED.store(true, Ordering::Relaxed);
    let id = file_id(file);
    let mut t = table();
    t.file_keys.insert(id, key);
    let f = t.files.entry(key).or_default();
    let mut changed = false;
    if let Some(i) = f.flocks.iter().position(|l| l.file == id) {
        if Some(f.flocks[i].kind) == kind {
            return Ok(());
        }
        f.flocks.swap_remove(i);
        changed = true;
    }
    let r = match kind {
        None => Ok(()),
        Some(kind) if f.flocks.iter().any(|l| l.kind.conflicts(kind)) => {
            if let Some(w) = waiter {
                f.add_waiter(w);
            }
            Err(Blocked::Conflict)
        }
        Some(kind) => {
            f.flocks.push(FlockLock { file: id, pid, kind });
            Ok(())
        }
    };
    let woken = t.settle(key, changed);
    drop(t);
    wake(woken);
    r
}

/// The first record lock on `start..=end` of `key` that conflicts with a `kind` lock of
/// `owner`.
pub fn test_record(key: Key, owner: Owner, kind: Kind, start: i64, end: i64) -> Option<Record> {
    table().files.get(&key).and_then(|f| f.record_conflict(owner, kind, start, end))
}

/// Sets (`Some(kind)`) or clears (`None`) `owner`'s record lock on `start..=end` of `file`.
/// The owner's own locks are replaced, split and merged; they never conflict with it. With
/// `wait`, a POSIX owner that meets a conflict is recorded as waiting for its holder (see
/// [`done_waiting`]) unless that would be a deadlock.
#[allow(clippy::too_many_arguments)]
pub fn set_record(file: &File, key: Key, owner: Owner, pid: i32, kind: Option<Kind>, start: i64, end: i64, waiter: Option<&Arc<Events>>) -> Result<(), Blocked> {
    let wait = waiter.is_some();
    USED.store(true, Ordering::Relaxed);
    let mut t = table();
    t.file_keys.insert(file_id(file), key);
    let f = t.files.entry(key).or_default();
    if let Some(kind) = kind {
        if let Some(holder) = f.record_conflict(owner, kind, start, end) {
            if let (true, Owner::Posix(me), Owner::Posix(them)) = (wait, owner, holder.owner) {
                if would_deadlock(&t.blocked_on, me, them) {
                    t.blocked_on.remove(&me);
                    t.settle(key, false);
                    return Err(Blocked::Deadlock);
                }
                t.blocked_on.insert(me, them);
            } else if !wait {
                t.settle(key, false);
            }
            if let (Some(f), Some(w)) = (t.files.get_mut(&key), waiter) {
                f.add_waiter(w);
            }
            return Err(Blocked::Conflict);
        }
    }
    f.carve(owner, start, end);
    if let Some(kind) = kind {
        let mut new = Record { owner, pid, kind, start, end };
        // Absorb the owner's same-kind locks that touch or overlap the new one.
        f.records.retain(|r| {
            let touches = r.owner == owner && r.kind == kind && r.end >= new.start - 1 && r.start <= new.end.saturating_add(1);
            if touches {
                new.start = new.start.min(r.start);
                new.end = new.end.max(r.end);
            }
            !touches
        });
        f.records.push(new);
    }
    // Kept by start, so F_GETLK reports the lowest conflicting range first, as Linux does.
    f.records.sort_by_key(|r| r.start);
    if let Owner::Posix(me) = owner {
        t.blocked_on.remove(&me);
        if kind.is_some() {
            t.posix_keys.entry(me).or_default().insert(key);
        } else {
            t.forget_posix_key(me, key);
        }
    }
    let woken = t.settle(key, true);
    drop(t);
    wake(woken);
    Ok(())
}

/// Whether `me` waiting for `holder` closes a cycle of waiting POSIX owners.
fn would_deadlock(blocked_on: &HashMap<u64, u64>, me: u64, holder: u64) -> bool {
    let mut next = holder;
    // The chain is acyclic (every edge was checked when added); the bound is a safety net.
    for _ in 0..=blocked_on.len() {
        if next == me {
            return true;
        }
        match blocked_on.get(&next) {
            Some(&n) => next = n,
            None => return false,
        }
    }
    false
}

/// A POSIX owner stopped waiting in `F_SETLKW` (interrupted, or about to retry).
pub fn done_waiting(owner: Owner) {
    if let Owner::Posix(me) = owner {
        table().blocked_on.remove(&me);
    }
}

/// The open file description at `file` is gone: its `flock` and OFD locks go with it.
pub fn file_closed(file: &File) {
    if !USED.load(Ordering::Relaxed) {
        return;
    }
    let id = file_id(file);
    let mut t = table();
    let Some(key) = t.file_keys.remove(&id) else { return };
    let Some(f) = t.files.get_mut(&key) else { return };
    let before = (f.flocks.len(), f.records.len());
    f.flocks.retain(|l| l.file != id);
    f.records.retain(|r| r.owner != Owner::Ofd(id));
    let changed = before != (f.flocks.len(), f.records.len());
    let woken = t.settle(key, changed);
    drop(t);
    wake(woken);
}

/// The descriptor table `owner` closed a descriptor of `file`: all its POSIX locks on the file
/// go (whichever descriptor took them).
pub fn fd_closed(owner: u64, file: &File) {
    if !USED.load(Ordering::Relaxed) {
        return;
    }
    let known = {
        let t = table();
        if !t.posix_keys.contains_key(&owner) {
            return;
        }
        t.file_keys.get(&file_id(file)).copied()
    };
    // A second open of a locked file was never used for locking: find it by identity.
    let Some(key) = known.or_else(|| key_of(file).ok()) else { return };
    let mut t = table();
    if !t.posix_keys.get(&owner).is_some_and(|k| k.contains(&key)) {
        return;
    }
    if let Some(f) = t.files.get_mut(&key) {
        f.records.retain(|r| r.owner != Owner::Posix(owner));
    }
    t.forget_posix_key(owner, key);
    let woken = t.settle(key, true);
    drop(t);
    wake(woken);
}

/// The descriptor table `owner` is gone (its process exited): all its POSIX locks go.
pub fn owner_gone(owner: u64) {
    if !USED.load(Ordering::Relaxed) {
        return;
    }
    let mut t = table();
    t.blocked_on.remove(&owner);
    let Some(keys) = t.posix_keys.remove(&owner) else { return };
    let mut woken = Vec::new();
    for key in keys {
        if let Some(f) = t.files.get_mut(&key) {
            f.records.retain(|r| r.owner != Owner::Posix(owner));
        }
        woken.extend(t.settle(key, true));
    }
    drop(t);
    wake(woken);
}

/// One held lock, as `/proc/locks` lists it.
#[derive(Clone, Debug)]
pub struct Held {
    /// `FLOCK`, `POSIX` or `OFDLCK`.
    pub class: &'static str,
    pub kind: Kind,
    pub pid: i32,
    pub key: Key,
    pub start: i64,
    pub end: i64,
}

/// Every lock held, in a stable order.
pub fn held() -> Vec<Held> {
    let t = table();
    let mut out = Vec::new();
    for (&key, f) in &t.files {
        for l in &f.flocks {
            out.push(Held { class: "FLOCK", kind: l.kind, pid: l.pid, key, start: 0, end: OFFSET_MAX });
        }
        for r in &f.records {
            let class = if matches!(r.owner, Owner::Posix(_)) { "POSIX" } else { "OFDLCK" };
            out.push(Held { class, kind: r.kind, pid: r.pid, key, start: r.start, end: r.end });
        }
    }
    out.sort_by_key(|h| (h.key, h.start, h.end, h.pid));
    out
}

/// `/proc/locks`, in Linux's layout.
pub fn proc_text() -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for (i, h) in held().iter().enumerate() {
        let class = match h.class {
            "POSIX" => "POSIX  ADVISORY ",
            "OFDLCK" => "OFDLCK ADVISORY ",
            _ => "FLOCK  ADVISORY ",
        };
        let kind = if h.kind == Kind::Write { "WRITE" } else { "READ" };
        let end = if h.end == OFFSET_MAX { "EOF".to_string() } else { h.end.to_string() };
        let (dev, ino) = h.key;
        let _ = writeln!(s, "{}: {class} {kind} {} {:02x}:{:02x}:{ino} {} {end}", i + 1, h.pid, libc::major(dev), libc::minor(dev), h.start);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carve_splits_and_merge_joins() {
        let mut f = FileLocks::default();
        let o = Owner::Posix(u64::MAX - 1);
        f.records.push(Record { owner: o, pid: 1, kind: Kind::Write, start: 0, end: 99 });
        f.carve(o, 10, 19);
        let mut got: Vec<_> = f.records.iter().map(|r| (r.start, r.end)).collect();
        got.sort_unstable();
        assert_eq!(got, vec![(0, 9), (20, 99)]);
        f.carve(o, 0, OFFSET_MAX);
        assert!(f.records.is_empty());
    }

    #[test]
    fn deadlock_cycle_is_found() {
        let mut m = HashMap::new();
        m.insert(2, 3);
        m.insert(3, 1);
        assert!(would_deadlock(&m, 1, 2));
        assert!(!would_deadlock(&m, 4, 2));
    }

    #[test]
    fn only_other_owners_conflict() {
        let mut f = FileLocks::default();
        let (a, b) = (Owner::Posix(1), Owner::Ofd(2));
        f.records.push(Record { owner: a, pid: 1, kind: Kind::Write, start: 0, end: 9 });
        assert!(f.record_conflict(b, Kind::Read, 5, 5).is_some());
        assert!(f.record_conflict(a, Kind::Write, 5, 5).is_none());
        assert!(f.record_conflict(b, Kind::Read, 10, 20).is_none());
        f.records[0].kind = Kind::Read;
        assert!(f.record_conflict(b, Kind::Read, 0, OFFSET_MAX).is_none());
        assert!(f.record_conflict(b, Kind::Write, 9, 9).is_some());
    }
}
