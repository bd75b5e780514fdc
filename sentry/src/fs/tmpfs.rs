//! tmpfs: a filesystem held entirely in sentry memory, with file data in the memory file.
//!
//! A mount is a [`Tmpfs`]; its files are [`TmpfsInode`]s. Directories map names to inodes;
//! regular files map page indexes to pages of the sentry's [`MemoryFile`], allocated on first
//! write and returned on truncate or when the file goes away, so a hole reads as zeros and
//! costs nothing. Symlinks hold their target; FIFOs, sockets and device nodes are inodes with
//! a recorded `rdev` (the syscall layer gives FIFOs their pipe; `/dev/null`-style character
//! devices open as the sentry's own devices).
//!
//! # Invariants
//! - Inode numbers are unique within a mount and never reused; `st_dev` is unique per mount
//!   (an anonymous device number, as Linux gives tmpfs).
//! - A directory entry's readdir cookie comes from a per-directory counter and never changes
//!   while the entry exists, so a `getdents` position stays valid across unrelated inserts
//!   and removals. Cookies 0 and 1 are "." and "..".
//! - A regular file's pages lie below its size, rounded up to a page; the bytes of the last
//!   page past the size are zero (zeroed on truncate and before extension).
//! - A file's pages go back to the memory file when its last `Arc` goes: the last link is
//!   removed *and* no open file, dentry or [`MapGuard`] still holds it. That is Linux's
//!   "unlinked but open files keep their data".
//! - A directory's `nlink` is 2 plus its subdirectories; a removed directory has `nlink` 0
//!   and refuses new entries (`ENOENT`).
//!
//! # Lock order
//! `Shared::ns` (one per mount, held by every namespace change: create, link, unlink, rmdir,
//! rename) → at most one inode's `state` lock at a time. Lookups, reads, writes and `setattr`
//! take only the one inode's lock. Nothing here calls out of the module with a lock held
//! except into the memory file (whose own lock is a leaf).
//!
//! No permission checks are made here; see `vfs`.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::synthetic::{Device, DeviceInode};
use crate::abi::{Stat, Timespec};
use crate::errno::{Errno, SysResult};
use crate::mm::{MemoryFile, MemoryManager, PAGE_SIZE};
use crate::vfs::{
    DirEntry, FileOps, Inode, Owner, SetAttr, SetTime, StatFs, NAME_MAX, PATH_MAX, RENAME_EXCHANGE, RENAME_NOREPLACE,
    RENAME_WHITEOUT, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, ST_RDONLY, TMPFS_MAGIC,
};

/// Largest file size (`MAX_LFS_FILESIZE`).
const MAX_FILE_SIZE: u64 = i64::MAX as u64;
/// What each directory entry adds to a directory's `st_size`, as Linux's tmpfs reports it.
const BOGO_DIRENT_SIZE: i64 = 20;
/// Entries handed out per `readdir` call; the caller asks again from the last cookie.
const READDIR_BATCH: usize = 512;
const ZERO_PAGE: [u8; 4096] = [0; 4096];
const _: () = assert!(PAGE_SIZE == 4096);
/// `F_SEAL_*` (`fcntl(F_ADD_SEALS)`).
pub const F_SEAL_SEAL: u32 = 0x1;
pub const F_SEAL_SHRINK: u32 = 0x2;
pub const F_SEAL_GROW: u32 = 0x4;
pub const F_SEAL_WRITE: u32 = 0x8;
pub const F_SEAL_FUTURE_WRITE: u32 = 0x10;
pub const F_SEAL_EXEC: u32 = 0x20;
const F_ALL_SEALS: u32 = 0x3f;
/// Longest extended attribute value.
const XATTR_SIZE_MAX: usize = 65536;

static NEXT_ANON_MINOR: AtomicU32 = AtomicU32::new(64);

/// A fresh anonymous device number (major 0) for a mount of a memory filesystem. Minors start
/// at 64, clear of [`crate::vfs::SYNTHETIC_DEV`].
pub fn anon_dev() -> u64 {
    libc::makedev(0, NEXT_ANON_MINOR.fetch_add(1, Ordering::Relaxed))
}

/// The wall-clock time for timestamps.
pub(crate) fn now() -> Timespec {
    super::host::host_clock(libc::CLOCK_REALTIME)
}

fn ts_le(a: Timespec, b: Timespec) -> bool {
    (a.sec, a.nsec) <= (b.sec, b.nsec)
}

/// Checks one name for a new or existing entry.
fn check_name(name: &[u8]) -> SysResult<()> {
    if name.is_empty() {
        return Err(Errno::ENOENT);
    }
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if name.contains(&b'/') || name.contains(&0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

pub(crate) fn is_dot(name: &[u8]) -> bool {
    name == b"." || name == b".."
}

/// The `d_type` for a file type.
pub(crate) fn dirent_type(kind: u32) -> u8 {
    match kind {
        S_IFDIR => libc::DT_DIR,
        S_IFREG => libc::DT_REG,
        S_IFLNK => libc::DT_LNK,
        S_IFCHR => libc::DT_CHR,
        S_IFBLK => libc::DT_BLK,
        S_IFIFO => libc::DT_FIFO,
        S_IFSOCK => libc::DT_SOCK,
        _ => libc::DT_UNKNOWN,
    }
}

/// Mount options.
#[derive(Clone, Copy, Debug)]
pub struct TmpfsOptions {
    /// Mode of the root directory (permission bits).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Limit on file data (`size=`); writes past it give `ENOSPC`.
    pub max_bytes: Option<u64>,
}

impl Default for TmpfsOptions {
    fn default() -> Self {
        TmpfsOptions { mode: 0o1777, uid: 0, gid: 0, max_bytes: None }
    }
}

/// State shared by every inode of one mount.
struct Shared {
    mf: Arc<MemoryFile>,
    dev: u64,
    next_ino: AtomicU64,
    /// Page limit from `max_bytes`.
    max_pages: Option<u64>,
    used_pages: AtomicU64,
    /// Inodes alive (for `statfs`).
    inodes: AtomicU64,
    read_only: AtomicBool,
    /// Serialises namespace changes (see the module docs).
    ns: Mutex<()>,
}

impl Shared {
    fn writable(&self) -> SysResult<()> {
        if self.read_only.load(Ordering::Relaxed) {
            return Err(Errno::EROFS);
        }
        Ok(())
    }

    fn alloc_page(&self) -> SysResult<u64> {
        let fits = |used: u64| match self.max_pages {
            Some(max) if used >= max => None,
            _ => Some(used + 1),
        };
        self.used_pages.fetch_update(Ordering::Relaxed, Ordering::Relaxed, fits).map_err(|_| Errno::ENOSPC)?;
        self.mf.allocate(PAGE_SIZE).inspect_err(|_| {
            self.used_pages.fetch_sub(1, Ordering::Relaxed);
        })
        .map_err(|_| Errno::ENOSPC)
    }

    fn free_page(&self, offset: u64) {
        self.mf.free(offset, PAGE_SIZE);
        self.used_pages.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One mounted tmpfs.
pub struct Tmpfs {
    shared: Arc<Shared>,
    root: Arc<TmpfsInode>,
}

impl Tmpfs {
    /// A new, empty tmpfs whose file data lives in `mf`.
    pub fn new(mf: Arc<MemoryFile>, opts: TmpfsOptions) -> Arc<Tmpfs> {
        let shared = Arc::new(Shared {
            mf,
            dev: anon_dev(),
            next_ino: AtomicU64::new(1),
            max_pages: opts.max_bytes.map(|b| b / PAGE_SIZE),
            used_pages: AtomicU64::new(0),
            inodes: AtomicU64::new(0),
            read_only: AtomicBool::new(false),
            ns: Mutex::new(()),
        });
        let owner = Owner { uid: opts.uid, gid: opts.gid };
        let root = TmpfsInode::new_node(&shared, S_IFDIR | (opts.mode & 0o7777), 0, owner, None);
        Arc::new(Tmpfs { shared, root })
    }

    /// The root directory, to mount.
    pub fn root(&self) -> Arc<TmpfsInode> {
        self.root.clone()
    }

    /// The mount's `st_dev`.
    pub fn dev(&self) -> u64 {
        self.shared.dev
    }

    /// Makes the mount read-only (or writable again), like `mount -o remount,ro`: namespace
    /// changes, `setattr` and opens for writing give `EROFS`. Files already open for writing
    /// keep writing.
    pub fn set_read_only(&self, ro: bool) {
        self.shared.read_only.store(ro, Ordering::Relaxed);
    }

    /// Bytes of file data held (whole pages).
    pub fn used_bytes(&self) -> u64 {
        self.shared.used_pages.load(Ordering::Relaxed) * PAGE_SIZE
    }

    /// The mount's `statfs` figures.
    pub fn statfs(&self) -> StatFs {
        self.shared.statfs()
    }
}

impl Shared {
    fn statfs(&self) -> StatFs {
        let used = self.used_pages.load(Ordering::Relaxed);
        let blocks = self.max_pages.unwrap_or_else(|| super::host::host_total_ram() / 2 / PAGE_SIZE).max(used);
        let inodes = self.inodes.load(Ordering::Relaxed);
        // Linux's default inode limit: half the pages of RAM.
        let files = (super::host::host_total_ram() / 2 / PAGE_SIZE).max(inodes);
        StatFs {
            fs_type: TMPFS_MAGIC,
            bsize: PAGE_SIZE,
            blocks,
            bfree: blocks - used,
            bavail: blocks - used,
            files,
            ffree: files - inodes,
            fsid: 0,
            namelen: NAME_MAX as u64,
            frsize: PAGE_SIZE,
            flags: if self.read_only.load(Ordering::Relaxed) { ST_RDONLY } else { 0 },
        }
    }
}

struct Meta {
    /// Type and permission bits.
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
    /// An `O_TMPFILE` file that `linkat` may still give a name (link count 0).
    linkable: bool,
}

impl Meta {
    /// Linux's `relatime`: update atime only if it is not newer than mtime or ctime, or is a
    /// day old.
    fn accessed(&mut self) {
        let now = now();
        if ts_le(self.atime, self.mtime) || ts_le(self.atime, self.ctime) || now.sec - self.atime.sec >= 24 * 3600 {
            self.atime = now;
        }
    }

    fn modified(&mut self) {
        let now = now();
        self.mtime = now;
        self.ctime = now;
    }
}

struct DirData {
    /// Name → cookie.
    names: HashMap<Vec<u8>, u64>,
    /// Cookie → entry, in insertion order.
    entries: BTreeMap<u64, (Vec<u8>, Arc<TmpfsInode>)>,
    next_cookie: u64,
    /// The containing directory; dangling only for the root (whose ".." is itself).
    parent: Weak<TmpfsInode>,
}

impl DirData {
    fn get(&self, name: &[u8]) -> Option<&Arc<TmpfsInode>> {
        self.names.get(name).and_then(|c| self.entries.get(c)).map(|(_, n)| n)
    }

    fn insert(&mut self, name: &[u8], node: Arc<TmpfsInode>) {
        let cookie = self.next_cookie;
        self.next_cookie += 1;
        self.names.insert(name.to_vec(), cookie);
        self.entries.insert(cookie, (name.to_vec(), node));
    }

    fn remove(&mut self, name: &[u8]) -> Option<Arc<TmpfsInode>> {
        let cookie = self.names.remove(name)?;
        self.entries.remove(&cookie).map(|(_, n)| n)
    }
}

#[derive(Default)]
struct RegData {
    size: u64,
    /// Page index → offset in the memory file.
    pages: BTreeMap<u64, u64>,
    /// Pages cut off by a truncate while the file was mapped; freed with the last [`MapGuard`].
    retired: Vec<u64>,
    mappers: usize,
    /// Shared mappings that may write the file (`F_SEAL_WRITE` waits for none).
    writers: usize,
    /// `F_SEAL_*` (a file that is not a memfd starts with `F_SEAL_SEAL`, so none can be
    /// added).
    seals: u32,
}

enum Data {
    Dir(DirData),
    Reg(RegData),
    Symlink(Vec<u8>),
    /// FIFO, socket or device node.
    Special,
}

struct State {
    meta: Meta,
    data: Data,
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// A tmpfs file of any type.
pub struct TmpfsInode {
    fs: Arc<Shared>,
    me: Weak<TmpfsInode>,
    ino: u64,
    /// The file type (`S_IFMT` bits); never changes.
    kind: u32,
    rdev: u64,
    state: Mutex<State>,
}

impl Drop for TmpfsInode {
    fn drop(&mut self) {
        self.fs.inodes.fetch_sub(1, Ordering::Relaxed);
        if let Data::Reg(r) = &mut self.state.get_mut().unwrap_or_else(|e| e.into_inner()).data {
            for &off in r.pages.values().chain(r.retired.iter()) {
                self.fs.free_page(off);
            }
        }
    }
}

impl TmpfsInode {
    fn new_node(fs: &Arc<Shared>, mode: u32, rdev: u64, owner: Owner, data: Option<Data>) -> Arc<TmpfsInode> {
        let kind = mode & S_IFMT;
        let now = now();
        let data = data.unwrap_or_else(|| match kind {
            S_IFDIR => Data::Dir(DirData {
                names: HashMap::new(),
                entries: BTreeMap::new(),
                next_cookie: 2,
                parent: Weak::new(),
            }),
            S_IFREG => Data::Reg(RegData { seals: F_SEAL_SEAL, ..RegData::default() }),
            _ => Data::Special,
        });
        let nlink = if kind == S_IFDIR { 2 } else { 1 };
        fs.inodes.fetch_add(1, Ordering::Relaxed);
        Arc::new_cyclic(|me| TmpfsInode {
            fs: fs.clone(),
            me: me.clone(),
            ino: fs.next_ino.fetch_add(1, Ordering::Relaxed),
            kind,
            rdev,
            state: Mutex::new(State {
                meta: Meta { mode, uid: owner.uid, gid: owner.gid, nlink, atime: now, mtime: now, ctime: now, linkable: false },
                data,
                xattrs: BTreeMap::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This inode's own `Arc`. Every `TmpfsInode` lives in an `Arc` made by `new_node`, so
    /// while `&self` is reachable (outside `drop`) the upgrade succeeds.
    fn this(&self) -> Arc<TmpfsInode> {
        self.me.upgrade().expect("tmpfs inode used outside its Arc")
    }

    /// The inode number (unique in this mount).
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// The file type bits.
    pub fn kind(&self) -> u32 {
        self.kind
    }

    /// The device number recorded by `mknod`.
    pub fn rdev(&self) -> u64 {
        self.rdev
    }

    /// Whether `other` belongs to the same mount.
    pub fn same_fs(&self, other: &TmpfsInode) -> bool {
        Arc::ptr_eq(&self.fs, &other.fs)
    }

    /// Downcasts a VFS inode to a tmpfs inode of this mount, else `EXDEV`.
    fn same_fs_inode(&self, other: &Arc<dyn Inode>) -> SysResult<Arc<TmpfsInode>> {
        let t = other.as_any().and_then(|a| a.downcast_ref::<TmpfsInode>()).ok_or(Errno::EXDEV)?;
        if !self.same_fs(t) {
            return Err(Errno::EXDEV);
        }
        Ok(t.this())
    }

    /// Looks up a child without going through `Arc<dyn Inode>`.
    pub fn child(&self, name: &[u8]) -> SysResult<Arc<TmpfsInode>> {
        let st = self.lock();
        let Data::Dir(d) = &st.data else { return Err(Errno::ENOTDIR) };
        d.get(name).cloned().ok_or(Errno::ENOENT)
    }

    /// The entries of a directory, in cookie order (no "." and "..").
    pub fn children(&self) -> SysResult<Vec<(Vec<u8>, Arc<TmpfsInode>)>> {
        let st = self.lock();
        let Data::Dir(d) = &st.data else { return Err(Errno::ENOTDIR) };
        Ok(d.entries.values().cloned().collect())
    }

    fn lock_ns(&self) -> MutexGuard<'_, ()> {
        self.fs.ns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks that `name` may be added to this directory: a live directory of a writable
    /// mount, a valid name not yet taken.
    fn check_new(&self, name: &[u8]) -> SysResult<()> {
        if self.kind != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        if is_dot(name) {
            return Err(Errno::EEXIST);
        }
        check_name(name)?;
        self.fs.writable()
    }

    /// Adds a new node `name` to this directory, made by `make` from the directory's
    /// metadata. The caller holds `ns` and has called `check_new`. (`make` runs under the
    /// directory's lock; the node it makes is not reachable by anyone else yet.)
    fn add_new(&self, name: &[u8], make: impl FnOnce(&Meta) -> Arc<TmpfsInode>) -> SysResult<Arc<TmpfsInode>> {
        let mut st = self.lock();
        let st = &mut *st;
        let Data::Dir(d) = &mut st.data else { return Err(Errno::ENOTDIR) };
        if st.meta.nlink == 0 {
            return Err(Errno::ENOENT);
        }
        if d.names.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let node = make(&st.meta);
        if node.kind == S_IFDIR {
            // Only fresh directories come here (`link` refuses directories).
            node.set_parent(self.me.clone());
        }
        d.insert(name, node.clone());
        if node.kind == S_IFDIR {
            st.meta.nlink += 1;
        }
        st.meta.modified();
        Ok(node)
    }

    /// Mode and owner of a new file in a directory with metadata `dir`: a set-group-ID
    /// directory passes its group on, and its set-group-ID bit to subdirectories.
    fn inherit(dir: &Meta, mode: u32, owner: Owner) -> (u32, Owner) {
        if dir.mode & libc::S_ISGID == 0 {
            return (mode, owner);
        }
        let mode = if mode & S_IFMT == S_IFDIR { mode | libc::S_ISGID } else { mode };
        (mode, Owner { uid: owner.uid, gid: dir.gid })
    }

    fn make(&self, name: &[u8], mode: u32, rdev: u64, owner: Owner, data: Option<Data>) -> SysResult<Arc<TmpfsInode>> {
        self.check_new(name)?;
        let _ns = self.lock_ns();
        self.add_new(name, |dir| {
            let (mode, owner) = Self::inherit(dir, mode, owner);
            TmpfsInode::new_node(&self.fs, mode, rdev, owner, data)
        })
    }

    /// Removes `name` from this directory (under `ns`), updating the directory's times, size
    /// and link count.
    fn detach(&self, name: &[u8]) -> SysResult<Arc<TmpfsInode>> {
        let mut st = self.lock();
        let st = &mut *st;
        let Data::Dir(d) = &mut st.data else { return Err(Errno::ENOTDIR) };
        let node = d.remove(name).ok_or(Errno::ENOENT)?;
        if node.kind == S_IFDIR {
            st.meta.nlink -= 1;
        }
        st.meta.modified();
        Ok(node)
    }

    /// Adds an existing node as `name` (under `ns`; the name must be free).
    fn attach(&self, name: &[u8], node: Arc<TmpfsInode>) -> SysResult<()> {
        if node.kind == S_IFDIR {
            node.set_parent(self.me.clone());
        }
        let mut st = self.lock();
        let st = &mut *st;
        let Data::Dir(d) = &mut st.data else { return Err(Errno::ENOTDIR) };
        if node.kind == S_IFDIR {
            st.meta.nlink += 1;
        }
        d.insert(name, node);
        st.meta.modified();
        Ok(())
    }

    fn set_parent(&self, parent: Weak<TmpfsInode>) {
        if let Data::Dir(d) = &mut self.lock().data {
            d.parent = parent;
        }
    }

    fn parent(&self) -> Option<Arc<TmpfsInode>> {
        match &self.lock().data {
            Data::Dir(d) => d.parent.upgrade(),
            _ => None,
        }
    }

    /// One link fewer (and the change time), or none at all for a removed directory.
    fn drop_link(&self, all: bool) {
        let mut st = self.lock();
        st.meta.nlink = if all { 0 } else { st.meta.nlink.saturating_sub(1) };
        st.meta.ctime = now();
    }

    /// Whether this is a directory with at least one entry.
    pub fn has_entries(&self) -> bool {
        matches!(&self.lock().data, Data::Dir(d) if !d.names.is_empty())
    }

    fn is_empty_dir(&self) -> bool {
        matches!(&self.lock().data, Data::Dir(d) if d.names.is_empty())
    }

    /// True if `self` is `anc` or lies below it. Under `ns`.
    fn is_within(self: &Arc<Self>, anc: &Arc<TmpfsInode>) -> bool {
        let mut cur = self.clone();
        loop {
            if Arc::ptr_eq(&cur, anc) {
                return true;
            }
            match cur.parent() {
                Some(p) => cur = p,
                None => return false,
            }
        }
    }

    /// Reads file data at `offset` (regular files only).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut st = self.lock();
        let st = &mut *st;
        let r = match &st.data {
            Data::Reg(r) => r,
            Data::Dir(_) => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        };
        let n = usize::try_from(r.size.saturating_sub(offset)).unwrap_or(usize::MAX).min(buf.len());
        let mut done = 0;
        while done < n {
            let pos = offset + done as u64;
            let in_page = pos % PAGE_SIZE;
            let chunk = usize::try_from(PAGE_SIZE - in_page).unwrap_or(usize::MAX).min(n - done);
            let dst = &mut buf[done..done + chunk];
            match r.pages.get(&(pos / PAGE_SIZE)) {
                Some(&off) => self.fs.mf.read(off + in_page, dst),
                None => dst.fill(0),
            }
            done += chunk;
        }
        st.meta.accessed();
        Ok(n)
    }

    /// Writes file data at `offset`, allocating pages as needed. A write that runs out of
    /// space after some progress returns the bytes written.
    pub fn write_at(&self, offset: u64, buf: &[u8]) -> SysResult<usize> {
        let mut st = self.lock();
        self.write_locked(&mut st, Some(offset), buf).map(|(n, _)| n)
    }

    /// Writes `buf` at the end of the file in one step (`O_APPEND`); gives the count and the
    /// new end.
    pub fn append(&self, buf: &[u8]) -> SysResult<(usize, u64)> {
        let mut st = self.lock();
        self.write_locked(&mut st, None, buf)
    }

    /// fallocate(2): mode 0 allocates the range and extends the size over it; with
    /// `FALLOC_FL_KEEP_SIZE` the size stays (only the space is checked: pages past the end
    /// are never held); `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE` frees the whole pages of
    /// the range and zeroes the partial ones (pages of a mapped file are zeroed in place, so
    /// mappings stay coherent).
    pub fn fallocate(&self, mode: i32, offset: u64, len: u64) -> SysResult<()> {
        let end = offset.checked_add(len).filter(|&e| e <= MAX_FILE_SIZE).ok_or(Errno::EFBIG)?;
        let mut st = self.lock();
        let st = &mut *st;
        let Data::Reg(r) = &mut st.data else { return Err(Errno::ENODEV) };
        if mode & libc::FALLOC_FL_PUNCH_HOLE != 0 && r.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0 {
            return Err(Errno::EPERM);
        }
        if mode & libc::FALLOC_FL_KEEP_SIZE == 0 && end > r.size && r.seals & F_SEAL_GROW != 0 {
            return Err(Errno::EPERM);
        }
        if mode & libc::FALLOC_FL_PUNCH_HOLE != 0 {
            let first = offset.div_ceil(PAGE_SIZE);
            let last = end / PAGE_SIZE;
            let zero = |from: u64, to: u64| {
                if from >= to {
                    return;
                }
                if let Some(&off) = r.pages.get(&(from / PAGE_SIZE)) {
                    let at = from % PAGE_SIZE;
                    self.fs.mf.write(off + at, &ZERO_PAGE[..usize::try_from(to - from).unwrap_or(0)]);
                }
            };
            if first > last {
                // Inside one page.
                zero(offset, end);
            } else {
                zero(offset, first * PAGE_SIZE);
                zero(last * PAGE_SIZE, end);
                let whole: Vec<u64> = r.pages.range(first..last).map(|(&p, _)| p).collect();
                for p in whole {
                    if r.mappers > 0 {
                        if let Some(&off) = r.pages.get(&p) {
                            self.fs.mf.write(off, &ZERO_PAGE);
                        }
                    } else if let Some(off) = r.pages.remove(&p) {
                        self.fs.free_page(off);
                    }
                }
            }
            st.meta.modified();
            return Ok(());
        }
        let keep_size = mode & libc::FALLOC_FL_KEEP_SIZE != 0;
        let alloc_end = if keep_size { end.min(r.size) } else { end };
        let first = offset / PAGE_SIZE;
        let last = alloc_end.div_ceil(PAGE_SIZE);
        let missing = (first..last).filter(|p| !r.pages.contains_key(p)).count() as u64;
        if let Some(max) = self.fs.max_pages {
            let wanted = if keep_size { (offset / PAGE_SIZE..end.div_ceil(PAGE_SIZE)).filter(|p| !r.pages.contains_key(p)).count() as u64 } else { missing };
            if self.fs.used_pages.load(Ordering::Relaxed) + wanted > max {
                return Err(Errno::ENOSPC);
            }
        }
        if !keep_size && end > r.size {
            self.zero_tail(r);
        }
        for p in first..last {
            if let std::collections::btree_map::Entry::Vacant(v) = r.pages.entry(p) {
                v.insert(self.fs.alloc_page()?);
            }
        }
        if !keep_size && end > r.size {
            r.size = end;
            st.meta.ctime = now();
        }
        Ok(())
    }

    /// Writes under the inode's lock: at `offset`, or at the end when `None`.
    fn write_locked(&self, st: &mut State, offset: Option<u64>, buf: &[u8]) -> SysResult<(usize, u64)> {
        let size = match &st.data {
            Data::Reg(r) => r.size,
            Data::Dir(_) => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        };
        let offset = offset.unwrap_or(size);
        if buf.is_empty() {
            return Ok((0, offset));
        }
        if offset >= MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        let mut len = usize::try_from(MAX_FILE_SIZE - offset).unwrap_or(usize::MAX).min(buf.len());
        let r = match &mut st.data {
            Data::Reg(r) => r,
            Data::Dir(_) => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        };
        if r.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0 {
            return Err(Errno::EPERM);
        }
        if r.seals & F_SEAL_GROW != 0 && offset + len as u64 > r.size {
            // Up to the end, then no further.
            len = usize::try_from(r.size.saturating_sub(offset)).unwrap_or(0);
            if len == 0 {
                return Err(Errno::EPERM);
            }
        }
        if offset + len as u64 > r.size {
            self.zero_tail(r);
        }
        let mut done = 0;
        let mut err = None;
        while done < len {
            let pos = offset + done as u64;
            let in_page = pos % PAGE_SIZE;
            let chunk = usize::try_from(PAGE_SIZE - in_page).unwrap_or(usize::MAX).min(len - done);
            let page = pos / PAGE_SIZE;
            let off = match r.pages.get(&page) {
                Some(&off) => off,
                None => match self.fs.alloc_page() {
                    Ok(off) => {
                        r.pages.insert(page, off);
                        off
                    }
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                },
            };
            self.fs.mf.write(off + in_page, &buf[done..done + chunk]);
            done += chunk;
        }
        if done == 0 {
            return Err(err.unwrap_or(Errno::ENOSPC));
        }
        r.size = r.size.max(offset + done as u64);
        st.meta.modified();
        Ok((done, offset + done as u64))
    }

    /// Zeroes the last page past the size (before the file grows over it).
    fn zero_tail(&self, r: &RegData) {
        let in_page = r.size % PAGE_SIZE;
        if in_page == 0 {
            return;
        }
        if let Some(&off) = r.pages.get(&(r.size / PAGE_SIZE)) {
            self.fs.mf.write(off + in_page, &ZERO_PAGE[..usize::try_from(PAGE_SIZE - in_page).unwrap_or(0)]);
        }
    }

    /// Sets the size of a regular file (under its lock): cut pages go back to the memory file
    /// (or wait for the last mapping), the new tail is zeroed.
    fn truncate(&self, r: &mut RegData, size: u64) {
        if size < r.size {
            let keep = size.div_ceil(PAGE_SIZE);
            let cut = r.pages.split_off(&keep);
            for off in cut.into_values() {
                if r.mappers > 0 {
                    r.retired.push(off);
                } else {
                    self.fs.free_page(off);
                }
            }
            r.size = size;
            self.zero_tail(r);
        } else if size > r.size {
            self.zero_tail(r);
            r.size = size;
        }
    }

    /// Memory-file offsets of pages `first_page..first_page + count` of this regular file,
    /// for mapping the file `MAP_SHARED` straight into an address space (coherent with
    /// `read`/`write`, which use the same pages). Holes are `None`, or get a fresh zeroed page
    /// when `allocate` (`ENOSPC` past the mount's limit). The result stops at the end of the
    /// file (page-rounded size), so it may be shorter than `count`; an access past it is
    /// `SIGBUS`.
    ///
    /// A mapping must hold a [`MapGuard`] (from [`TmpfsInode::map_guard`]) for as long as it
    /// maps any of these pages: while one exists, pages cut by a truncate are not reused
    /// (the stale mapping keeps seeing the old data, never another file's) until the last
    /// guard goes. The mm should still drop its mappings past the new end on truncate to get
    /// Linux's `SIGBUS`. Writes through a mapping do not update mtime.
    pub fn page_offsets(&self, first_page: u64, count: u64, allocate: bool) -> SysResult<Vec<Option<u64>>> {
        let mut st = self.lock();
        let Data::Reg(r) = &mut st.data else { return Err(Errno::ENODEV) };
        let end = r.size.div_ceil(PAGE_SIZE).min(first_page.saturating_add(count));
        let mut out = Vec::with_capacity(usize::try_from(end.saturating_sub(first_page)).unwrap_or(0));
        for page in first_page..end {
            let off = match r.pages.get(&page) {
                Some(&off) => Some(off),
                None if allocate => {
                    let off = self.fs.alloc_page()?;
                    r.pages.insert(page, off);
                    Some(off)
                }
                None => None,
            };
            out.push(off);
        }
        Ok(out)
    }

    /// `O_TMPFILE` in this directory: a regular file with no name (link count 0); `linkat`
    /// may give it one if `linkable`.
    pub fn new_tmpfile(&self, mode: u32, owner: Owner, linkable: bool) -> SysResult<Arc<TmpfsInode>> {
        if self.kind != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        self.fs.writable()?;
        let st = self.lock();
        if st.meta.nlink == 0 {
            return Err(Errno::ENOENT);
        }
        let (mode, owner) = Self::inherit(&st.meta, S_IFREG | (mode & 0o7777), owner);
        drop(st);
        let node = TmpfsInode::new_node(&self.fs, mode, 0, owner, None);
        let mut st = node.lock();
        st.meta.nlink = 0;
        st.meta.linkable = linkable;
        drop(st);
        Ok(node)
    }

    /// Makes this file's whole mount read-only or writable again (`mount -o remount`).
    pub fn set_fs_read_only(&self, ro: bool) {
        self.fs.read_only.store(ro, Ordering::Relaxed);
    }

    /// An `O_TMPFILE` file that `linkat` may still name.
    pub fn is_linkable(&self) -> bool {
        let st = self.lock();
        st.meta.nlink == 0 && st.meta.linkable
    }

    /// Registers a shared mapping of this file (see [`TmpfsInode::page_offsets`]).
    pub fn map_guard(&self) -> SysResult<MapGuard> {
        self.map_guard_shared(false, false)
    }

    /// [`TmpfsInode::map_guard`] for `mmap(MAP_SHARED)`: `prot_write` maps it writable
    /// (`EPERM` once the file is sealed against writes); `may_write` (the file was opened for
    /// writing) makes it a mapping that keeps `F_SEAL_WRITE` from being added (`EBUSY`).
    pub fn map_guard_shared(&self, prot_write: bool, may_write: bool) -> SysResult<MapGuard> {
        let mut st = self.lock();
        let Data::Reg(r) = &mut st.data else { return Err(Errno::ENODEV) };
        let sealed = r.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0;
        if prot_write && sealed {
            return Err(Errno::EPERM);
        }
        let writer = may_write && !sealed;
        r.mappers += 1;
        if writer {
            r.writers += 1;
        }
        Ok(MapGuard { node: self.this(), writer })
    }

    /// The file's `F_SEAL_*` (`F_GET_SEALS`); `EINVAL` for what is not a regular file.
    pub fn seals(&self) -> SysResult<u32> {
        match &self.lock().data {
            Data::Reg(r) => Ok(r.seals),
            _ => Err(Errno::EINVAL),
        }
    }

    /// `F_ADD_SEALS`, with Linux's rules: `EPERM` once `F_SEAL_SEAL` is set, `EBUSY` for
    /// `F_SEAL_WRITE` while a shared mapping may write, `EINVAL` for unknown bits.
    pub fn add_seals(&self, seals: u32) -> SysResult<()> {
        let mut st = self.lock();
        let Data::Reg(r) = &mut st.data else { return Err(Errno::EINVAL) };
        if seals & !F_ALL_SEALS != 0 {
            return Err(Errno::EINVAL);
        }
        if r.seals & F_SEAL_SEAL != 0 {
            return Err(Errno::EPERM);
        }
        if seals & F_SEAL_WRITE != 0 && r.seals & F_SEAL_WRITE == 0 && r.writers > 0 {
            return Err(Errno::EBUSY);
        }
        r.seals |= seals;
        Ok(())
    }

    /// A memfd (`memfd_create`): a regular file of this mount that no directory names, mode
    /// 0777 (0666 with `noexec`), sealable when `sealing`.
    pub fn new_memfd(&self, sealing: bool, noexec: bool, owner: Owner) -> Arc<TmpfsInode> {
        let mode = S_IFREG | if noexec { 0o666 } else { 0o777 };
        let node = TmpfsInode::new_node(&self.fs, mode, 0, owner, None);
        let mut st = node.lock();
        // No directory names it: Linux reports a link count of 0.
        st.meta.nlink = 0;
        if let Data::Reg(r) = &mut st.data {
            r.seals = if sealing { 0 } else { F_SEAL_SEAL };
            if noexec {
                r.seals |= F_SEAL_EXEC;
            }
        }
        drop(st);
        node
    }

    /// An extended attribute (`ENODATA` if absent). Used by the overlay for its
    /// `trusted.overlay.*` markers.
    pub fn get_xattr(&self, name: &[u8]) -> SysResult<Vec<u8>> {
        self.lock().xattrs.get(name).cloned().ok_or(Errno::ENODATA)
    }

    /// Sets an extended attribute; `flags` is `XATTR_CREATE` (`EEXIST` if present),
    /// `XATTR_REPLACE` (`ENODATA` if absent) or 0.
    pub fn set_xattr(&self, name: &[u8], value: &[u8], flags: i32) -> SysResult<()> {
        if name.is_empty() || name.len() > 255 {
            return Err(Errno::ERANGE);
        }
        if value.len() > XATTR_SIZE_MAX {
            return Err(Errno::E2BIG);
        }
        let mut st = self.lock();
        let exists = st.xattrs.contains_key(name);
        if flags & libc::XATTR_CREATE != 0 && exists {
            return Err(Errno::EEXIST);
        }
        if flags & libc::XATTR_REPLACE != 0 && !exists {
            return Err(Errno::ENODATA);
        }
        st.xattrs.insert(name.to_vec(), value.to_vec());
        st.meta.ctime = now();
        Ok(())
    }

    pub fn remove_xattr(&self, name: &[u8]) -> SysResult<()> {
        let mut st = self.lock();
        st.xattrs.remove(name).ok_or(Errno::ENODATA)?;
        st.meta.ctime = now();
        Ok(())
    }

    pub fn list_xattrs(&self) -> Vec<Vec<u8>> {
        self.lock().xattrs.keys().cloned().collect()
    }
}

/// Keeps pages cut from a shared-mapped file from being reused until the mapping goes.
pub struct MapGuard {
    node: Arc<TmpfsInode>,
    /// Counted in the file's `writers`.
    writer: bool,
}

impl MapGuard {
    pub fn inode(&self) -> &Arc<TmpfsInode> {
        &self.node
    }
}

impl Drop for MapGuard {
    fn drop(&mut self) {
        let mut st = self.node.lock();
        if let Data::Reg(r) = &mut st.data {
            r.mappers -= 1;
            if self.writer {
                r.writers -= 1;
            }
            if r.mappers == 0 {
                for off in r.retired.drain(..) {
                    self.node.fs.free_page(off);
                }
            }
        }
    }
}

/// The character devices a tmpfs device node may open as.
fn device_for(rdev: u64) -> Option<Device> {
    match (libc::major(rdev), libc::minor(rdev)) {
        (1, 3) => Some(Device::Null),
        (1, 5) => Some(Device::Zero),
        (1, 7) => Some(Device::Full),
        (1, 8) => Some(Device::Random),
        (1, 9) => Some(Device::Urandom),
        _ => None,
    }
}

impl Inode for TmpfsInode {
    fn stat(&self) -> SysResult<Stat> {
        let st = self.lock();
        let m = &st.meta;
        let (size, blocks) = match &st.data {
            Data::Reg(r) => (
                i64::try_from(r.size).unwrap_or(i64::MAX),
                i64::try_from(r.pages.len() as u64 * (PAGE_SIZE / 512)).unwrap_or(i64::MAX),
            ),
            Data::Dir(d) => ((2 + i64::try_from(d.names.len()).unwrap_or(0)) * BOGO_DIRENT_SIZE, 0),
            Data::Symlink(t) => (i64::try_from(t.len()).unwrap_or(0), 0),
            Data::Special => (0, 0),
        };
        Ok(Stat {
            dev: self.fs.dev,
            ino: self.ino,
            nlink: m.nlink,
            mode: m.mode,
            uid: m.uid,
            gid: m.gid,
            rdev: self.rdev,
            size,
            blksize: PAGE_SIZE as i64,
            blocks,
            atime: m.atime.sec,
            atime_nsec: m.atime.nsec,
            mtime: m.mtime.sec,
            mtime_nsec: m.mtime.nsec,
            ctime: m.ctime.sec,
            ctime_nsec: m.ctime.nsec,
            ..Stat::default()
        })
    }

    fn file_type(&self) -> u32 {
        self.kind
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        Ok(self.child(name)?)
    }

    fn readlink(&self) -> SysResult<Vec<u8>> {
        let mut st = self.lock();
        let Data::Symlink(t) = &st.data else { return Err(Errno::EINVAL) };
        let t = t.clone();
        st.meta.accessed();
        Ok(t)
    }

    fn open(&self, flags: i32) -> SysResult<Arc<dyn FileOps>> {
        let write = flags & libc::O_ACCMODE != libc::O_RDONLY;
        match self.kind {
            S_IFDIR => {
                if write {
                    return Err(Errno::EISDIR);
                }
                Ok(Arc::new(TmpfsDir { node: self.this() }))
            }
            S_IFREG => {
                if write || flags & libc::O_TRUNC != 0 {
                    self.fs.writable()?;
                }
                if flags & libc::O_TRUNC != 0 {
                    self.setattr(&SetAttr { size: Some(0), mtime: SetTime::Now, ..SetAttr::default() })?;
                }
                Ok(Arc::new(TmpfsFile { node: self.this() }))
            }
            S_IFLNK => Err(Errno::ELOOP),
            S_IFCHR => {
                let dev = device_for(self.rdev).ok_or(Errno::ENXIO)?;
                let inner = DeviceInode::new(dev).open(flags)?;
                Ok(Arc::new(TmpfsDevice { node: self.this(), inner }))
            }
            // FIFOs are opened by the syscall layer (a pipe per inode); sockets and block
            // devices cannot be opened.
            _ => Err(Errno::ENXIO),
        }
    }

    fn create(&self, name: &[u8], mode: u32, owner: Owner) -> SysResult<Arc<dyn Inode>> {
        Ok(self.make(name, S_IFREG | (mode & 0o7777), 0, owner, None)?)
    }

    fn mkdir(&self, name: &[u8], mode: u32, owner: Owner) -> SysResult<Arc<dyn Inode>> {
        Ok(self.make(name, S_IFDIR | (mode & 0o7777), 0, owner, None)?)
    }

    fn mknod(&self, name: &[u8], mode: u32, rdev: u64, owner: Owner) -> SysResult<Arc<dyn Inode>> {
        let kind = match mode & S_IFMT {
            0 => S_IFREG,
            k @ (S_IFREG | S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK) => k,
            S_IFDIR => return Err(Errno::EPERM),
            _ => return Err(Errno::EINVAL),
        };
        let rdev = if matches!(kind, S_IFCHR | S_IFBLK) { rdev } else { 0 };
        Ok(self.make(name, kind | (mode & 0o7777), rdev, owner, None)?)
    }

    fn symlink(&self, name: &[u8], target: &[u8], owner: Owner) -> SysResult<Arc<dyn Inode>> {
        if target.is_empty() {
            return Err(Errno::ENOENT);
        }
        if target.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        Ok(self.make(name, S_IFLNK | 0o777, 0, owner, Some(Data::Symlink(target.to_vec())))?)
    }

    fn link(&self, name: &[u8], target: &Arc<dyn Inode>) -> SysResult<Arc<dyn Inode>> {
        let target = self.same_fs_inode(target)?;
        if target.kind == S_IFDIR {
            return Err(Errno::EPERM);
        }
        self.check_new(name)?;
        let _ns = self.lock_ns();
        // Under `ns`, no unlink can race with this check.
        {
            let st = target.lock();
            if st.meta.nlink == 0 && !st.meta.linkable {
                return Err(Errno::ENOENT);
            }
        }
        self.add_new(name, |_| target.clone())?;
        let mut st = target.lock();
        st.meta.nlink += 1;
        st.meta.linkable = false;
        st.meta.ctime = now();
        drop(st);
        Ok(target)
    }

    fn unlink(&self, name: &[u8]) -> SysResult<()> {
        if self.kind != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        if is_dot(name) {
            return Err(Errno::EISDIR);
        }
        check_name(name)?;
        self.fs.writable()?;
        let _ns = self.lock_ns();
        if self.child(name)?.kind == S_IFDIR {
            return Err(Errno::EISDIR);
        }
        let node = self.detach(name)?;
        node.drop_link(false);
        Ok(())
    }

    fn rmdir(&self, name: &[u8]) -> SysResult<()> {
        if self.kind != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        match name {
            b"." => return Err(Errno::EINVAL),
            b".." => return Err(Errno::ENOTEMPTY),
            _ => check_name(name)?,
        }
        self.fs.writable()?;
        let _ns = self.lock_ns();
        let child = self.child(name)?;
        if child.kind != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        if !child.is_empty_dir() {
            return Err(Errno::ENOTEMPTY);
        }
        self.detach(name)?;
        child.drop_link(true);
        Ok(())
    }

    fn rename(&self, old_name: &[u8], new_dir: &Arc<dyn Inode>, new_name: &[u8], flags: u32) -> SysResult<()> {
        if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) != 0
            || (flags & RENAME_EXCHANGE != 0 && flags & (RENAME_NOREPLACE | RENAME_WHITEOUT) != 0)
        {
            return Err(Errno::EINVAL);
        }
        if self.kind != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        if is_dot(old_name) || is_dot(new_name) {
            return Err(Errno::EBUSY);
        }
        check_name(old_name)?;
        check_name(new_name)?;
        let new_dir = self.same_fs_inode(new_dir)?;
        if new_dir.kind != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        self.fs.writable()?;
        let _ns = self.lock_ns();
        let old_dir = self.this();
        let src = old_dir.child(old_name)?;
        if new_dir.lock().meta.nlink == 0 {
            return Err(Errno::ENOENT);
        }
        let dst = match new_dir.child(new_name) {
            Ok(d) => Some(d),
            Err(Errno::ENOENT) => None,
            Err(e) => return Err(e),
        };
        if flags & RENAME_EXCHANGE != 0 {
            let dst = dst.ok_or(Errno::ENOENT)?;
            if Arc::ptr_eq(&src, &dst) {
                return Ok(());
            }
            if (src.kind == S_IFDIR && new_dir.is_within(&src)) || (dst.kind == S_IFDIR && old_dir.is_within(&dst)) {
                return Err(Errno::EINVAL);
            }
            old_dir.detach(old_name)?;
            new_dir.detach(new_name)?;
            new_dir.attach(new_name, src.clone())?;
            old_dir.attach(old_name, dst.clone())?;
            let now = now();
            src.lock().meta.ctime = now;
            dst.lock().meta.ctime = now;
            return Ok(());
        }
        if let Some(dst) = &dst {
            if Arc::ptr_eq(&src, dst) {
                return Ok(());
            }
            if flags & RENAME_NOREPLACE != 0 {
                return Err(Errno::EEXIST);
            }
            match (src.kind == S_IFDIR, dst.kind == S_IFDIR) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) if !dst.is_empty_dir() => return Err(Errno::ENOTEMPTY),
                _ => {}
            }
        }
        if src.kind == S_IFDIR && new_dir.is_within(&src) {
            return Err(Errno::EINVAL);
        }
        old_dir.detach(old_name)?;
        if let Some(dst) = &dst {
            new_dir.detach(new_name)?;
            dst.drop_link(dst.kind == S_IFDIR);
        }
        new_dir.attach(new_name, src.clone())?;
        src.lock().meta.ctime = now();
        if flags & RENAME_WHITEOUT != 0 {
            let wh = TmpfsInode::new_node(&self.fs, S_IFCHR, 0, Owner::default(), None);
            old_dir.attach(old_name, wh)?;
        }
        Ok(())
    }

    fn tmpfile(&self, mode: u32, owner: Owner, linkable: bool) -> SysResult<Arc<dyn Inode>> {
        Ok(self.new_tmpfile(mode, owner, linkable)?)
    }

    fn statfs(&self) -> SysResult<StatFs> {
        Ok(self.fs.statfs())
    }

    fn getxattr(&self, name: &[u8]) -> SysResult<Vec<u8>> {
        self.get_xattr(name)
    }

    fn setxattr(&self, name: &[u8], value: &[u8], flags: i32) -> SysResult<()> {
        self.fs.writable()?;
        self.set_xattr(name, value, flags)
    }

    fn listxattr(&self) -> SysResult<Vec<Vec<u8>>> {
        Ok(self.list_xattrs())
    }

    fn removexattr(&self, name: &[u8]) -> SysResult<()> {
        self.fs.writable()?;
        self.remove_xattr(name)
    }

    fn setattr(&self, attr: &SetAttr) -> SysResult<()> {
        if attr.is_empty() {
            return Ok(());
        }
        self.fs.writable()?;
        let mut st = self.lock();
        let st = &mut *st;
        let now = now();
        if let Some(size) = attr.size {
            let r = match &mut st.data {
                Data::Reg(r) => r,
                Data::Dir(_) => return Err(Errno::EISDIR),
                _ => return Err(Errno::EINVAL),
            };
            if size > MAX_FILE_SIZE {
                return Err(Errno::EFBIG);
            }
            if (size < r.size && r.seals & F_SEAL_SHRINK != 0) || (size > r.size && r.seals & F_SEAL_GROW != 0) {
                return Err(Errno::EPERM);
            }
            if size != r.size {
                self.truncate(r, size);
                st.meta.mtime = now;
            }
        }
        if let Some(mode) = attr.mode {
            st.meta.mode = (st.meta.mode & S_IFMT) | (mode & 0o7777);
        }
        if attr.uid.is_some() || attr.gid.is_some() {
            st.meta.uid = attr.uid.unwrap_or(st.meta.uid);
            st.meta.gid = attr.gid.unwrap_or(st.meta.gid);
            // chown clears set-user-ID, and set-group-ID when it means "group executable".
            if attr.mode.is_none() && self.kind != S_IFDIR {
                st.meta.mode &= !libc::S_ISUID;
                if st.meta.mode & libc::S_IXGRP != 0 {
                    st.meta.mode &= !libc::S_ISGID;
                }
            }
        }
        match attr.atime {
            SetTime::Omit => {}
            SetTime::Now => st.meta.atime = now,
            SetTime::At(t) => st.meta.atime = t,
        }
        match attr.mtime {
            SetTime::Omit => {}
            SetTime::Now => st.meta.mtime = now,
            SetTime::At(t) => st.meta.mtime = t,
        }
        st.meta.ctime = now;
        Ok(())
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

/// An open regular file.
pub struct TmpfsFile {
    node: Arc<TmpfsInode>,
}

impl TmpfsFile {
    /// The file's inode, for [`TmpfsInode::page_offsets`].
    pub fn inode(&self) -> &Arc<TmpfsInode> {
        &self.node
    }
}

impl FileOps for TmpfsFile {
    fn read(&self, offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        self.node.read_at(offset, buf)
    }

    fn write(&self, offset: u64, buf: &[u8]) -> SysResult<usize> {
        self.node.write_at(offset, buf)
    }

    fn append(&self, buf: &[u8]) -> SysResult<(usize, u64)> {
        self.node.append(buf)
    }

    fn fallocate(&self, mode: i32, offset: u64, len: u64) -> SysResult<()> {
        self.node.fallocate(mode, offset, len)
    }

    fn stat(&self) -> SysResult<Stat> {
        self.node.stat()
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

/// An open directory. Reads the live directory: cookies are stable, so entries added or
/// removed while reading are seen or not, but none is repeated or skipped.
struct TmpfsDir {
    node: Arc<TmpfsInode>,
}

impl FileOps for TmpfsDir {
    fn read(&self, _offset: u64, _buf: &mut [u8]) -> SysResult<usize> {
        Err(Errno::EISDIR)
    }

    fn stat(&self) -> SysResult<Stat> {
        self.node.stat()
    }

    fn readdir(&self, cookie: u64) -> SysResult<Vec<DirEntry>> {
        let parent_ino = self.node.parent().map_or(self.node.ino, |p| p.ino);
        let mut st = self.node.lock();
        let st = &mut *st;
        if st.meta.nlink == 0 {
            return Err(Errno::ENOENT);
        }
        let Data::Dir(d) = &st.data else { return Err(Errno::ENOTDIR) };
        let mut out = Vec::new();
        if cookie == 0 {
            out.push(DirEntry { ino: self.node.ino, next: 1, kind: libc::DT_DIR, name: b".".to_vec() });
        }
        if cookie <= 1 {
            out.push(DirEntry { ino: parent_ino, next: 2, kind: libc::DT_DIR, name: b"..".to_vec() });
        }
        for (&c, (name, node)) in d.entries.range(cookie.max(2)..).take(READDIR_BATCH) {
            out.push(DirEntry { ino: node.ino, next: c + 1, kind: dirent_type(node.kind), name: name.clone() });
        }
        st.meta.accessed();
        Ok(out)
    }
}

/// A tmpfs character-device node opened as one of the sentry's devices.
struct TmpfsDevice {
    node: Arc<TmpfsInode>,
    inner: Arc<dyn FileOps>,
}

impl FileOps for TmpfsDevice {
    fn read(&self, offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        self.inner.read(offset, buf)
    }

    fn write(&self, offset: u64, buf: &[u8]) -> SysResult<usize> {
        self.inner.write(offset, buf)
    }

    fn stat(&self) -> SysResult<Stat> {
        self.node.stat()
    }

    fn seekable(&self) -> bool {
        self.inner.seekable()
    }

    fn ioctl(&self, mm: &MemoryManager, request: u32, arg: u64) -> SysResult<u64> {
        self.inner.ioctl(mm, request, arg)
    }
}

#[cfg(test)]
mod tests;
