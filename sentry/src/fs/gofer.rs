//! Files served by the gofer: the sentry's view of a host directory tree (the read-only lower
//! layer of the root) or of a bind mount (`-v HOST:GUEST[:ro]`), read-write or read-only.
//!
//! Each inode holds a gofer fid and the attributes last seen. On a read-only mount nothing
//! changes them, so they never go stale. On a writable mount every change made through the
//! sentry (a namespace change, `setattr`, a write through an open descriptor) moves the mount's
//! generation, and a `stat` of any of its inodes after that asks the gofer again: one change
//! may touch several inodes (a directory and its entry, every hard link of a file). Changes
//! made on the host by others are not noticed. The dentry cache above keeps lookups to one
//! round trip per name.
//!
//! Round trips are what a gofer file costs, so each lookup asks once and brings what comes
//! next: a symlink's target comes with its walk (a target never changes: a new one is a new
//! inode), a regular file or symlink of a read-only mount gets no fid (nothing to clunk) and is
//! opened by name in one request, checked to be the inode looked up (later opens share the
//! host fd of the first while the inode stays cached), and a directory listing that ends in
//! one reply says so.
//!
//! Namespace changes and `setattr` are forwarded to the gofer, which checks that the mount is
//! writable (`EROFS` otherwise); the sentry has already checked the caller's permissions. New
//! files are made by the gofer's user; their owner is then set to the caller's, when the gofer
//! may (best effort, as a rootless gofer cannot).

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use gofer::{Attr, Client, Fid};

use super::host::HostRegular;
use crate::abi::Stat;
use crate::errno::{Errno, SysResult};
use crate::vfs::{
    DirEntry, FileOps, Inode, Owner, SetAttr, SetTime, StatFs, RENAME_EXCHANGE, RENAME_NOREPLACE, S_IFDIR, S_IFMT,
    S_IFREG, ST_RDONLY,
};

/// Open flags the gofer's `Open` takes (the sentry keeps `O_APPEND` and `O_NONBLOCK` itself).
const OPEN_FLAGS: i32 = libc::O_ACCMODE | libc::O_TRUNC | libc::O_SYNC | libc::O_DSYNC;

/// Host fds kept by inodes for their later opens (`shared_fd`), and how many at most: well
/// below the sentry's own limit, which the application's open files also use.
static SHARED_FDS: AtomicUsize = AtomicUsize::new(0);
const MAX_SHARED_FDS: usize = 4096;

pub struct GoferInode {
    client: Arc<Client>,
    me: Weak<GoferInode>,
    fid: Fid,
    /// The attributes, and the mount generation they were read at.
    attr: Mutex<(Attr, u64)>,
    /// The mount's generation, moved by every change (shared by its inodes and open files).
    generation: Arc<AtomicU64>,
    /// Every change is refused (the root's lower layer, or a `:ro` volume).
    read_only: bool,
    /// The host fd `create` got with the new file, for the open that follows.
    created: Mutex<Option<OwnedFd>>,
    /// For a regular file or symlink of a read-only mount: it has no fid (the gofer holds a host
    /// descriptor per fid, and a walk over a large tree would use them all up); it is opened by
    /// name from its directory, or walked to again when a fid is needed.
    released: Option<(Arc<GoferInode>, Vec<u8>)>,
    /// For a regular file of a read-only mount: the host fd of its first open, shared by every
    /// later open (reads go by offset, so one description serves them all) while the inode
    /// stays cached. Saves a round trip and a host `close` per open.
    shared_fd: OnceLock<Arc<OwnedFd>>,
    /// The target of a symlink, once known (the walk that found it carries it). It never
    /// changes: a new target is a new inode.
    link_target: OnceLock<Vec<u8>>,
}

impl GoferInode {
    fn new(
        client: Arc<Client>,
        fid: Fid,
        attr: Attr,
        generation: Arc<AtomicU64>,
        read_only: bool,
        created: Option<OwnedFd>,
    ) -> Arc<GoferInode> {
        Self::with_origin(client, fid, attr, generation, read_only, created, None)
    }

    #[allow(clippy::too_many_arguments)]
    fn with_origin(
        client: Arc<Client>,
        fid: Fid,
        attr: Attr,
        generation: Arc<AtomicU64>,
        read_only: bool,
        created: Option<OwnedFd>,
        released: Option<(Arc<GoferInode>, Vec<u8>)>,
    ) -> Arc<GoferInode> {
        let seen = generation.load(Ordering::Acquire);
        Arc::new_cyclic(|me| GoferInode {
            client,
            me: me.clone(),
            fid,
            attr: Mutex::new((attr, seen)),
            generation,
            read_only,
            created: Mutex::new(created),
            released,
            shared_fd: OnceLock::new(),
            link_target: OnceLock::new(),
        })
    }

    /// Runs `f` with a fid for this file: its own, or a fresh one walked to from its directory
    /// (checked to be the same file, and given back afterwards).
    fn with_fid<T>(&self, f: impl FnOnce(Fid) -> SysResult<T>) -> SysResult<T> {
        let Some((dir, name)) = &self.released else { return f(self.fid) };
        let reply = self.client.walk(dir.fid, &[name.as_slice()])?;
        let (fid, attr) = first_step(reply)?;
        let known = self.lock_attr().0;
        let r = if (attr.dev, attr.ino) == (known.dev, known.ino) { f(fid) } else { Err(Errno(libc::ESTALE)) };
        self.client.clunk(fid);
        r
    }

    /// The root of the tree the gofer serves as the root mount (read-only).
    pub fn attach(client: Arc<Client>) -> SysResult<Arc<GoferInode>> {
        let (fid, attr) = client.attach()?;
        Ok(GoferInode::new(client, fid, attr, Arc::default(), true, None))
    }

    /// The root of the bind mount the gofer serves as `guest` (a directory or a regular file).
    pub fn attach_mount(client: Arc<Client>, guest: &[u8]) -> SysResult<Arc<GoferInode>> {
        let m = client.attach_mount(guest)?;
        Ok(GoferInode::new(client, m.fid, m.attr, Arc::default(), m.read_only, None))
    }

    /// Whether every change to this mount is refused.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    fn lock_attr(&self) -> MutexGuard<'_, (Attr, u64)> {
        self.attr.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The attributes, asked again of the gofer if the mount changed since they were read.
    fn attr(&self) -> SysResult<Attr> {
        let now = self.generation.load(Ordering::Acquire);
        let (attr, seen) = *self.lock_attr();
        if seen == now {
            return Ok(attr);
        }
        let fresh = self.with_fid(|fid| Ok(self.client.stat(fid)?))?;
        *self.lock_attr() = (fresh, now);
        Ok(fresh)
    }

    /// Records a change on this mount: every inode's attributes may be stale.
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// A host fd of this regular file, opened by the gofer with `flags`.
    fn open_host(&self, flags: i32) -> SysResult<OwnedFd> {
        let fd = match &self.released {
            Some((dir, name)) => {
                let attr = self.lock_attr().0;
                self.client.open_at(dir.fid, name, (attr.dev, attr.ino), flags)?
            }
            None => self.client.open(self.fid, flags)?,
        };
        Ok(fd)
    }

    /// Keeps `fd` for later opens, unless the sentry already holds [`MAX_SHARED_FDS`].
    fn share_fd(&self, fd: Arc<OwnedFd>) -> Arc<OwnedFd> {
        if SHARED_FDS.fetch_add(1, Ordering::Relaxed) >= MAX_SHARED_FDS || self.shared_fd.set(fd.clone()).is_err() {
            SHARED_FDS.fetch_sub(1, Ordering::Relaxed);
        }
        fd
    }

    fn this(&self) -> Arc<GoferInode> {
        self.me.upgrade().expect("gofer inode used outside its Arc")
    }

    fn child(&self, fid: Fid, attr: Attr, created: Option<OwnedFd>) -> Arc<GoferInode> {
        GoferInode::new(self.client.clone(), fid, attr, self.generation.clone(), self.read_only, created)
    }

    fn writable(&self) -> SysResult<()> {
        if self.read_only {
            return Err(Errno::EROFS);
        }
        Ok(())
    }

    /// A directory of this filesystem to change: `ENOTDIR` for others, `EROFS` on a read-only
    /// mount.
    fn dir_for_change(&self) -> SysResult<()> {
        if self.lock_attr().0.file_type() != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        self.writable()
    }

    /// Gives a file just made the caller's owner (best effort: a gofer that is not root
    /// cannot, and the file then stays the gofer's user's).
    fn set_owner(&self, fid: Fid, attr: &mut Attr, owner: Owner) {
        if attr.uid == owner.uid && attr.gid == owner.gid {
            return;
        }
        let set = gofer::SetAttr { uid: Some(owner.uid), gid: Some(owner.gid), ..gofer::SetAttr::default() };
        match self.client.setattr(fid, &set) {
            Ok(a) => *attr = a,
            Err(e) => tracing::debug!(errno = e.0, "gofer: cannot give a new file its owner"),
        }
    }

    /// Another inode of the same gofer mount, else `EXDEV`.
    fn same_fs(&self, other: &Arc<dyn Inode>) -> SysResult<Arc<GoferInode>> {
        let g = other.as_any().and_then(|a| a.downcast_ref::<GoferInode>()).ok_or(Errno::EXDEV)?;
        if !Arc::ptr_eq(&g.client, &self.client) {
            return Err(Errno::EXDEV);
        }
        Ok(g.this())
    }
}

/// The first step of a one-name walk, or its error.
fn first_step(reply: gofer::WalkReply) -> SysResult<(Fid, Attr)> {
    match (reply.steps.into_iter().next(), reply.error) {
        (Some(step), _) => Ok(step),
        (None, Some(e)) => Err(Errno(e)),
        (None, None) => Err(Errno::EIO),
    }
}

fn to_stat(a: &Attr) -> Stat {
    Stat {
        dev: a.dev,
        ino: a.ino,
        nlink: a.nlink,
        mode: a.mode,
        uid: a.uid,
        gid: a.gid,
        rdev: a.rdev,
        size: i64::try_from(a.size).unwrap_or(i64::MAX),
        blksize: i64::try_from(a.blksize).unwrap_or(4096),
        blocks: i64::try_from(a.blocks).unwrap_or(0),
        atime: a.atime.sec,
        atime_nsec: a.atime.nsec,
        mtime: a.mtime.sec,
        mtime_nsec: a.mtime.nsec,
        ctime: a.ctime.sec,
        ctime_nsec: a.ctime.nsec,
        ..Stat::default()
    }
}

fn to_gofer_time(t: SetTime) -> Option<gofer::Timespec> {
    match t {
        SetTime::Omit => None,
        SetTime::Now => Some(gofer::Timespec::NOW),
        SetTime::At(t) => Some(gofer::Timespec { sec: t.sec, nsec: t.nsec }),
    }
}

impl Drop for GoferInode {
    fn drop(&mut self) {
        if self.shared_fd.get().is_some() {
            SHARED_FDS.fetch_sub(1, Ordering::Relaxed);
        }
        if self.released.is_none() {
            self.client.clunk(self.fid);
        }
    }
}

impl Inode for GoferInode {
    fn stat(&self) -> SysResult<Stat> {
        Ok(to_stat(&self.attr()?))
    }

    fn file_type(&self) -> u32 {
        self.lock_attr().0.file_type()
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        if !self.lock_attr().0.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        // On a read-only mount regular files and symlinks get no fid (see `released`).
        let flags = if self.read_only { gofer::proto::WALK_NO_FILE_FIDS } else { 0 };
        let mut reply = self.client.walk_flags(self.fid, &[name], flags)?;
        let target = reply.target.take();
        let (fid, attr) = first_step(reply)?;
        let inode = if fid == 0 {
            let origin = Some((self.this(), name.to_vec()));
            GoferInode::with_origin(self.client.clone(), 0, attr, self.generation.clone(), true, None, origin)
        } else {
            self.child(fid, attr, None)
        };
        if let Some(t) = target.filter(|_| attr.is_symlink()) {
            let _ = inode.link_target.set(t);
        }
        Ok(inode)
    }

    fn readlink(&self) -> SysResult<Vec<u8>> {
        if !self.lock_attr().0.is_symlink() {
            return Err(Errno::EINVAL);
        }
        if let Some(target) = self.link_target.get() {
            return Ok(target.clone());
        }
        let target = self.with_fid(|fid| Ok(self.client.readlink(fid)?))?;
        let _ = self.link_target.set(target.clone());
        Ok(target)
    }

    fn open(&self, flags: i32) -> SysResult<Arc<dyn FileOps>> {
        let write = flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
        let attr = self.attr()?;
        match attr.file_type() {
            S_IFDIR => {
                if write {
                    return Err(Errno::EISDIR);
                }
                Ok(Arc::new(GoferDir { node: self.this(), end_at: Mutex::new(None) }))
            }
            S_IFREG => {
                if write {
                    self.writable()?;
                }
                if self.read_only {
                    // Only O_RDONLY opens get here: every one can share one host fd.
                    let fd = match self.shared_fd.get() {
                        Some(fd) => fd.clone(),
                        None => self.share_fd(Arc::new(self.open_host(0)?)),
                    };
                    return Ok(Arc::new(HostRegular::new(fd, to_stat(&attr), None)));
                }
                let created = self.created.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
                let fd = match created {
                    // The file was just made (empty, opened read-write): no O_TRUNC to apply.
                    Some(fd) => fd,
                    None => self.open_host(flags & OPEN_FLAGS)?,
                };
                if flags & libc::O_TRUNC != 0 {
                    self.changed();
                }
                let fd = Arc::new(fd);
                Ok(Arc::new(HostRegular::new(fd, to_stat(&attr), Some(self.generation.clone()))))
            }
            // Host devices, fifos and sockets are never opened for the workload.
            _ => Err(Errno::EACCES),
        }
    }

    fn create(&self, name: &[u8], mode: u32, owner: Owner) -> SysResult<Arc<dyn Inode>> {
        self.dir_for_change()?;
        let (fid, mut attr, fd) = self.client.create(self.fid, name, libc::O_RDWR, mode & 0o7777)?;
        self.changed();
        self.set_owner(fid, &mut attr, owner);
        Ok(self.child(fid, attr, Some(fd)))
    }

    fn mkdir(&self, name: &[u8], mode: u32, owner: Owner) -> SysResult<Arc<dyn Inode>> {
        self.dir_for_change()?;
        let (fid, mut attr) = self.client.mkdir(self.fid, name, mode & 0o7777)?;
        self.changed();
        self.set_owner(fid, &mut attr, owner);
        Ok(self.child(fid, attr, None))
    }

    /// Only regular files: the protocol has no way to make the other kinds (`EPERM`).
    fn mknod(&self, name: &[u8], mode: u32, _rdev: u64, owner: Owner) -> SysResult<Arc<dyn Inode>> {
        match mode & S_IFMT {
            0 | S_IFREG => {
                let inode = self.create(name, mode, owner)?;
                if let Some(g) = inode.as_any().and_then(|a| a.downcast_ref::<GoferInode>()) {
                    g.created.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
                }
                Ok(inode)
            }
            S_IFDIR => Err(Errno::EPERM),
            libc::S_IFIFO | libc::S_IFSOCK | libc::S_IFCHR | libc::S_IFBLK => {
                self.dir_for_change()?;
                Err(Errno::EPERM)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn symlink(&self, name: &[u8], target: &[u8], owner: Owner) -> SysResult<Arc<dyn Inode>> {
        self.dir_for_change()?;
        let (fid, mut attr) = self.client.symlink(self.fid, name, target)?;
        self.changed();
        self.set_owner(fid, &mut attr, owner);
        let link = self.child(fid, attr, None);
        let _ = link.link_target.set(target.to_vec());
        Ok(link)
    }

    fn link(&self, name: &[u8], target: &Arc<dyn Inode>) -> SysResult<Arc<dyn Inode>> {
        let target = self.same_fs(target)?;
        self.dir_for_change()?;
        let (fid, attr) = self.client.link(self.fid, name, target.fid)?;
        self.changed();
        Ok(self.child(fid, attr, None))
    }

    fn unlink(&self, name: &[u8]) -> SysResult<()> {
        self.dir_for_change()?;
        self.client.unlink(self.fid, name, 0)?;
        self.changed();
        Ok(())
    }

    fn rmdir(&self, name: &[u8]) -> SysResult<()> {
        self.dir_for_change()?;
        self.client.unlink(self.fid, name, libc::AT_REMOVEDIR)?;
        self.changed();
        Ok(())
    }

    fn rename(&self, old_name: &[u8], new_dir: &Arc<dyn Inode>, new_name: &[u8], flags: u32) -> SysResult<()> {
        if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE) != 0 {
            return Err(Errno::EINVAL);
        }
        let new_dir = self.same_fs(new_dir)?;
        self.dir_for_change()?;
        self.client.rename(self.fid, old_name, new_dir.fid, new_name, flags)?;
        self.changed();
        Ok(())
    }

    fn setattr(&self, attr: &SetAttr) -> SysResult<()> {
        if attr.is_empty() {
            return Ok(());
        }
        self.writable()?;
        let set = gofer::SetAttr {
            mode: attr.mode.map(|m| m & 0o7777),
            uid: attr.uid,
            gid: attr.gid,
            size: attr.size,
            atime: to_gofer_time(attr.atime),
            mtime: to_gofer_time(attr.mtime),
        };
        self.changed();
        let now = self.generation.load(Ordering::Acquire);
        let new = self.client.setattr(self.fid, &set)?;
        *self.lock_attr() = (new, now);
        Ok(())
    }

    fn statfs(&self) -> SysResult<StatFs> {
        let s = self.with_fid(|fid| Ok(self.client.statfs(fid)?))?;
        Ok(StatFs {
            fs_type: s.fs_type,
            bsize: s.bsize,
            blocks: s.blocks,
            bfree: s.bfree,
            bavail: s.bavail,
            files: s.files,
            ffree: s.ffree,
            fsid: 0,
            namelen: s.namelen,
            frsize: s.frsize,
            flags: s.flags | if self.read_only { ST_RDONLY } else { 0 },
        })
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// An open directory of the gofer tree.
struct GoferDir {
    node: Arc<GoferInode>,
    /// The cookie after which the gofer said the listing ended: the next `readdir` from it is
    /// answered here, empty, without asking.
    end_at: Mutex<Option<u64>>,
}

impl FileOps for GoferDir {
    fn read(&self, _offset: u64, _buf: &mut [u8]) -> SysResult<usize> {
        Err(Errno::EISDIR)
    }

    fn stat(&self) -> SysResult<Stat> {
        self.node.stat()
    }

    fn readdir(&self, cookie: u64) -> SysResult<Vec<DirEntry>> {
        let mut end_at = self.end_at.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Once only: reading on from the end later asks the gofer again, as a host `getdents`
        // would look again.
        if end_at.take() == Some(cookie) {
            return Ok(Vec::new());
        }
        let page = self.node.client.getdents(self.node.fid, cookie)?;
        if page.end {
            *end_at = page.entries.last().map(|d| d.off);
        }
        Ok(page.entries.into_iter().map(|d| DirEntry { ino: d.ino, next: d.off, kind: d.kind, name: d.name }).collect())
    }
}

#[cfg(test)]
mod tests;
