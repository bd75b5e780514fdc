//! The virtual filesystem: inodes, the dentry cache with its mount points, open files and the
//! path walk.
//!
//! Filesystems implement [`Inode`] (namespace operations) and [`FileOps`] (I/O on an open
//! file). Both have default methods that give the errno Linux gives when a kind of file cannot
//! do something. Dentries cache lookups, negative ones included; a dentry with a filesystem
//! mounted on it is replaced by that filesystem's root during the walk.
//!
//! Namespace changes (`create`, `mkdir`, `unlink`, `rename`…) are methods of the *directory*
//! inode and take a single name; the syscall layer splits the path, walks to the parent, calls
//! the method, and then keeps the dentry cache coherent with [`Dentry::insert`] /
//! [`Dentry::invalidate`] (see their docs). Filesystems do no permission checks: the syscall
//! layer checks access against `stat()` and the caller's credentials, applies the umask, and
//! refuses `EBUSY` on mount points before calling in.
//!
//! Lock order: a dentry's `children` lock is never held while calling into an inode.

pub mod file;
pub mod lock;
pub mod mount;
pub mod walk;

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::abi::{Stat, Timespec};
use crate::errno::{Errno, SysResult};
use crate::fs::inotify;
use crate::mm::MemoryManager;

pub use file::{FdTable, File};

pub const S_IFMT: u32 = libc::S_IFMT;
pub const S_IFDIR: u32 = libc::S_IFDIR;
pub const S_IFLNK: u32 = libc::S_IFLNK;
pub const S_IFREG: u32 = libc::S_IFREG;
pub const S_IFCHR: u32 = libc::S_IFCHR;
pub const S_IFBLK: u32 = libc::S_IFBLK;
pub const S_IFIFO: u32 = libc::S_IFIFO;
pub const S_IFSOCK: u32 = libc::S_IFSOCK;

/// `renameat2` flags.
pub const RENAME_NOREPLACE: u32 = libc::RENAME_NOREPLACE;
pub const RENAME_EXCHANGE: u32 = libc::RENAME_EXCHANGE;
pub const RENAME_WHITEOUT: u32 = libc::RENAME_WHITEOUT;

/// Longest path the kernel accepts, including the NUL.
pub const PATH_MAX: usize = 4096;
/// Longest single name.
pub const NAME_MAX: usize = 255;

/// One directory entry as `getdents64` reports it.
#[derive(Clone, Debug)]
pub struct DirEntry {
    pub ino: u64,
    /// Cookie to continue after this entry.
    pub next: u64,
    pub kind: u8,
    pub name: Vec<u8>,
}

/// Who a new file belongs to: the caller's filesystem uid and gid. (A filesystem may still
/// give the file its directory's group when the directory is set-group-ID.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// A new access or modification time for [`Inode::setattr`] (`utimensat`'s `UTIME_OMIT`,
/// `UTIME_NOW`, or a value).
#[derive(Clone, Copy, Debug, Default)]
pub enum SetTime {
    #[default]
    Omit,
    Now,
    At(Timespec),
}

/// Attribute changes for [`Inode::setattr`]; `None`/`Omit` fields are left alone. Any change
/// also sets the change time. Changing `size` of a regular file sets mtime and ctime when the
/// size really changes; `truncate(2)` and `O_TRUNC` also pass `mtime: Now` as Linux does.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetAttr {
    /// Permission bits (`0o7777`); the file type bits are ignored.
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: SetTime,
    pub mtime: SetTime,
}

impl SetAttr {
    /// True when nothing would change (then `setattr` does nothing, ctime included).
    pub fn is_empty(&self) -> bool {
        self.mode.is_none()
            && self.uid.is_none()
            && self.gid.is_none()
            && self.size.is_none()
            && matches!(self.atime, SetTime::Omit)
            && matches!(self.mtime, SetTime::Omit)
    }
}

/// `struct statfs` as `statfs(2)` reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatFs {
    /// `f_type`: the filesystem's magic number.
    pub fs_type: u64,
    pub bsize: u64,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub fsid: u64,
    pub namelen: u64,
    pub frsize: u64,
    /// `ST_*` flags (`ST_RDONLY`…); `ST_VALID` is added by the syscall layer.
    pub flags: u64,
}

/// `TMPFS_MAGIC`.
pub const TMPFS_MAGIC: u64 = 0x0102_1994;
/// `OVERLAYFS_SUPER_MAGIC`.
pub const OVERLAYFS_MAGIC: u64 = 0x794c_7630;
/// `f_flags` bit of a read-only mount.
pub const ST_RDONLY: u64 = 1;

impl StatFs {
    /// The sentry's own small filesystems (`/dev`…): a tmpfs with nothing free.
    pub fn synthetic() -> StatFs {
        StatFs { fs_type: TMPFS_MAGIC, bsize: 4096, namelen: NAME_MAX as u64, frsize: 4096, ..StatFs::default() }
    }

    /// The kernel layout: type, bsize, blocks, bfree, bavail, files, ffree, fsid[2], namelen,
    /// frsize, flags, spare[4].
    pub fn to_abi(self) -> [u64; 15] {
        let f = self;
        [f.fs_type, f.bsize, f.blocks, f.bfree, f.bavail, f.files, f.ffree, f.fsid, f.namelen, f.frsize, f.flags, 0, 0, 0, 0]
    }

    pub fn read_only(&self) -> bool {
        self.flags & ST_RDONLY != 0
    }
}

/// The errno for a namespace change asked of an inode that cannot make it: `ENOTDIR` when it
/// is not a directory, else `EROFS` (a read-only or fixed filesystem).
fn cannot_change(file_type: u32) -> Errno {
    if file_type == S_IFDIR {
        Errno::EROFS
    } else {
        Errno::ENOTDIR
    }
}

/// A file in some filesystem.
pub trait Inode: Send + Sync {
    fn stat(&self) -> SysResult<Stat>;

    /// The file type bits of the mode (`S_IFDIR`, …).
    fn file_type(&self) -> u32 {
        self.stat().map(|s| s.mode & S_IFMT).unwrap_or(0)
    }

    /// Looks up one name in a directory.
    fn lookup(&self, _name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        Err(Errno::ENOTDIR)
    }

    fn readlink(&self) -> SysResult<Vec<u8>> {
        Err(Errno::EINVAL)
    }

    /// Opens the file; `flags` are the open(2) flags.
    fn open(&self, flags: i32) -> SysResult<Arc<dyn FileOps>>;

    /// Creates the regular file `name` in this directory with permission bits `mode` (umask
    /// already applied). `EEXIST` if the name is taken.
    fn create(&self, _name: &[u8], _mode: u32, _owner: Owner) -> SysResult<Arc<dyn Inode>> {
        Err(cannot_change(self.file_type()))
    }

    /// Creates the directory `name`.
    fn mkdir(&self, _name: &[u8], _mode: u32, _owner: Owner) -> SysResult<Arc<dyn Inode>> {
        Err(cannot_change(self.file_type()))
    }

    /// Creates a node: `mode` carries the type (`S_IFIFO`, `S_IFCHR`, `S_IFBLK`, `S_IFSOCK`,
    /// `S_IFREG`); `rdev` is only recorded. `S_IFDIR` gives `EPERM`, other types `EINVAL`.
    fn mknod(&self, _name: &[u8], _mode: u32, _rdev: u64, _owner: Owner) -> SysResult<Arc<dyn Inode>> {
        Err(cannot_change(self.file_type()))
    }

    /// Creates the symbolic link `name` pointing at `target`.
    fn symlink(&self, _name: &[u8], _target: &[u8], _owner: Owner) -> SysResult<Arc<dyn Inode>> {
        Err(cannot_change(self.file_type()))
    }

    /// Adds the name `name` for the existing file `target`; returns the inode now found at
    /// `name` (for the dentry cache). `EXDEV` if `target` is in another filesystem, `EPERM`
    /// for a directory.
    fn link(&self, _name: &[u8], _target: &Arc<dyn Inode>) -> SysResult<Arc<dyn Inode>> {
        Err(cannot_change(self.file_type()))
    }

    /// Removes the non-directory `name` (`EISDIR` for a directory).
    fn unlink(&self, _name: &[u8]) -> SysResult<()> {
        Err(cannot_change(self.file_type()))
    }

    /// Removes the empty directory `name` (`ENOTDIR`, `ENOTEMPTY`).
    fn rmdir(&self, _name: &[u8]) -> SysResult<()> {
        Err(cannot_change(self.file_type()))
    }

    /// Moves `old_name` of this directory to `new_name` of `new_dir` (`renameat2` semantics,
    /// `flags` of `RENAME_*`): `EXDEV` across filesystems, `EEXIST` with `RENAME_NOREPLACE`,
    /// `ENOTDIR`/`EISDIR` for a directory over a file and the reverse, `ENOTEMPTY` over a
    /// non-empty directory, `EINVAL` for a directory into itself.
    fn rename(&self, _old_name: &[u8], _new_dir: &Arc<dyn Inode>, _new_name: &[u8], _flags: u32) -> SysResult<()> {
        Err(cannot_change(self.file_type()))
    }

    /// Changes attributes: `chmod`, `chown`, `truncate`, `utimensat`.
    fn setattr(&self, _attr: &SetAttr) -> SysResult<()> {
        Err(Errno::EROFS)
    }

    /// `O_TMPFILE`: a new regular file in this directory's filesystem that has no name (link
    /// count 0) until `linkat` gives it one; `linkable` false (`O_EXCL`) forbids that.
    /// `EOPNOTSUPP` where the filesystem cannot.
    fn tmpfile(&self, _mode: u32, _owner: Owner, _linkable: bool) -> SysResult<Arc<dyn Inode>> {
        if self.file_type() != S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        Err(Errno::EOPNOTSUPP)
    }

    /// The extended attribute `name` (`getxattr`): `ENODATA` when the file has none of that
    /// name, as for every file of a filesystem that keeps none. The syscall layer has checked
    /// the name's namespace and the caller's right to it.
    fn getxattr(&self, _name: &[u8]) -> SysResult<Vec<u8>> {
        Err(Errno::ENODATA)
    }

    /// Sets an extended attribute; `flags` is `XATTR_CREATE`, `XATTR_REPLACE` or 0.
    /// `EOPNOTSUPP` where the filesystem keeps none.
    fn setxattr(&self, _name: &[u8], _value: &[u8], _flags: i32) -> SysResult<()> {
        Err(Errno::EOPNOTSUPP)
    }

    /// The names of the file's extended attributes.
    fn listxattr(&self) -> SysResult<Vec<Vec<u8>>> {
        Ok(Vec::new())
    }

    /// Removes an extended attribute (`ENODATA` if absent).
    fn removexattr(&self, _name: &[u8]) -> SysResult<()> {
        Err(Errno::EOPNOTSUPP)
    }

    /// Statistics of the filesystem holding this file (`statfs`). The default describes the
    /// sentry's small synthetic filesystems.
    fn statfs(&self) -> SysResult<StatFs> {
        Ok(StatFs::synthetic())
    }

    /// The concrete inode, for a filesystem to recognise its own inodes (`link`, `rename`) and
    /// for mmap to find a tmpfs file's pages. `None` for inodes that need no downcasting.
    fn as_any(&self) -> Option<&dyn Any> {
        None
    }
}

/// I/O on an open file. `offset` is ignored by files that are not seekable.
pub trait FileOps: Send + Sync {
    fn read(&self, _offset: u64, _buf: &mut [u8]) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }

    fn write(&self, _offset: u64, _buf: &[u8]) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }

    fn stat(&self) -> SysResult<Stat>;

    /// False for pipes, terminals and other streams: `lseek` gives `ESPIPE`.
    fn seekable(&self) -> bool {
        true
    }

    /// Directory entries from `cookie` on (0 = start); an empty result is the end.
    fn readdir(&self, _cookie: u64) -> SysResult<Vec<DirEntry>> {
        Err(Errno::ENOTDIR)
    }

    fn ioctl(&self, _mm: &MemoryManager, _request: u32, _arg: u64) -> SysResult<u64> {
        Err(Errno::ENOTTY)
    }

    /// Readiness for poll/select/epoll (`POLLIN`, `POLLOUT`…). Files that never block are
    /// always ready.
    fn poll(&self) -> u32 {
        POLL_ALWAYS
    }

    /// Whether readiness can change without the sentry noticing (host descriptors): waiters
    /// then re-check on a short timer instead of sleeping until a wake-up.
    fn polls_host(&self) -> bool {
        false
    }

    /// The next instant at which this file's readiness changes by itself (a timerfd's next
    /// expiry). Waiters (poll, select, epoll, blocking reads) sleep no later than this. `None`:
    /// only operations that notify the kernel's `Events` change it.
    fn next_change(&self) -> Option<std::time::Instant> {
        None
    }

    /// A count that moves every time this file wakes its waiters (data arrived, a timer
    /// expired). Edge-triggered epoll reports a still-ready file again when it moved; for files
    /// without one (`None`) it falls back to any wake-up in the kernel.
    fn wakeups(&self) -> Option<u64> {
        None
    }

    /// `O_APPEND` writes: writes `buf` at the end of the file, as one step where the
    /// filesystem can; returns the count and the new end (the file position after).
    fn append(&self, buf: &[u8]) -> SysResult<(usize, u64)> {
        let end = u64::try_from(self.stat()?.size).unwrap_or(0);
        let n = self.write(end, buf)?;
        Ok((n, end + n as u64))
    }

    /// fallocate(2) of a regular file: `mode` is 0, `FALLOC_FL_KEEP_SIZE`, or
    /// `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE` (the syscall layer has checked the rest).
    fn fallocate(&self, _mode: i32, _offset: u64, _len: u64) -> SysResult<()> {
        Err(Errno::EOPNOTSUPP)
    }

    /// Whether `read` and `write` may work on application memory in place, with the
    /// address space locked: true only for files whose I/O never blocks and never looks at
    /// any address space (host regular files), unlike procfs files or streams.
    fn io_in_place(&self) -> bool {
        false
    }

    /// The concrete open file, for downcasting: mmap of a tmpfs file looks for
    /// `fs::tmpfs::TmpfsFile`, of an overlay file for `fs::overlay::OverlayFile` (whose
    /// `inner()` is the tmpfs or lower file serving it). `None` for files that need none.
    fn as_any(&self) -> Option<&dyn Any> {
        None
    }
}

/// What a file that never blocks reports to poll.
pub const POLL_ALWAYS: u32 = (libc::POLLIN | libc::POLLOUT | libc::POLLRDNORM | libc::POLLWRNORM) as u32;

/// A name in the file tree, with its inode and cached children.
///
/// A dentry's place (parent and name) changes when it is renamed; `name` keeps the name it
/// was looked up with (what `exec` records as the command name).
pub struct Dentry {
    /// The name it was looked up or created with. [`Dentry::current_name`] follows renames.
    pub name: Vec<u8>,
    /// Parent (None only for the root of the whole tree) and current name.
    place: Mutex<(Option<Arc<Dentry>>, Vec<u8>)>,
    pub inode: Arc<dyn Inode>,
    /// Cached lookups; `None` remembers that a name does not exist.
    children: Mutex<HashMap<Vec<u8>, Option<Arc<Dentry>>>>,
    /// The root of a filesystem mounted here, if any (taken away by `umount`).
    mounted: Mutex<Option<Arc<Dentry>>>,
    /// This dentry is the root of a mounted filesystem (it covers a mount point).
    mount_root: bool,
    /// Its name was removed (`unlink`, `rmdir`, or replaced by a `rename`).
    removed: std::sync::atomic::AtomicBool,
}

impl Dentry {
    fn new(parent: Option<Arc<Dentry>>, name: &[u8], inode: Arc<dyn Inode>, mount_root: bool) -> Arc<Dentry> {
        Arc::new(Dentry {
            name: name.to_vec(),
            place: Mutex::new((parent, name.to_vec())),
            inode,
            children: Mutex::default(),
            mounted: Mutex::new(None),
            mount_root,
            removed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The root of a tree.
    pub fn root(inode: Arc<dyn Inode>) -> Arc<Dentry> {
        Dentry::new(None, b"/", inode, false)
    }

    /// A dentry for a file that has no name in `parent` (an `O_TMPFILE` file): it is never
    /// found by a lookup; its path shows `name`.
    pub fn detached(parent: &Arc<Dentry>, name: &[u8], inode: Arc<dyn Inode>) -> Arc<Dentry> {
        Dentry::new(Some(parent.clone()), name, inode, false)
    }

    fn place(&self) -> std::sync::MutexGuard<'_, (Option<Arc<Dentry>>, Vec<u8>)> {
        self.place.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn children(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Option<Arc<Dentry>>>> {
        self.children.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The parent, or `None` at the root of the tree.
    pub fn parent(&self) -> Option<Arc<Dentry>> {
        self.place().0.clone()
    }

    /// The name in its parent now (after any rename).
    pub fn current_name(&self) -> Vec<u8> {
        self.place().1.clone()
    }

    /// What the walk sees at this dentry: the root of whatever is mounted on it.
    pub fn mounted_root(self: &Arc<Dentry>) -> Arc<Dentry> {
        let mut d = self.clone();
        loop {
            let next = d.mounted_slot().clone();
            match next {
                Some(m) => d = m,
                None => return d,
            }
        }
    }

    fn mounted_slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<Dentry>>> {
        self.mounted.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Mounts the filesystem whose root is `inode` on this dentry.
    pub fn mount(self: &Arc<Dentry>, inode: Arc<dyn Inode>) -> SysResult<Arc<Dentry>> {
        let at = self.mounted_root();
        let (parent, name) = at.place().clone();
        let root = Dentry::new(parent, &name, inode, true);
        {
            let mut slot = at.mounted_slot();
            if slot.is_some() {
                return Err(Errno::EBUSY);
            }
            *slot = Some(root.clone());
        }
        mount::record(&at, &root);
        Ok(root)
    }

    /// Looks `name` up, through the cache.
    pub fn child(self: &Arc<Dentry>, name: &[u8]) -> SysResult<Arc<Dentry>> {
        let cached = self.children().get(name).cloned();
        if let Some(hit) = cached {
            if !mount::shared_trees() || self.still_valid(name, hit.as_ref()) {
                return hit.map(|d| d.mounted_root()).ok_or(Errno::ENOENT);
            }
            self.invalidate(name);
        }
        let found = match self.inode.lookup(name) {
            Ok(inode) => Some(Dentry::new(Some(self.clone()), name, inode, false)),
            Err(Errno::ENOENT) => None,
            Err(e) => return Err(e),
        };
        let mut children = self.children();
        let entry = children.entry(name.to_vec()).or_insert(found);
        entry.clone().map(|d| d.mounted_root()).ok_or(Errno::ENOENT)
    }

    /// Whether a cached lookup of `name` still holds (checked while bind mounts show a
    /// directory through two dentry trees; see [`mount`]). A mount point is always kept.
    fn still_valid(&self, name: &[u8], hit: Option<&Arc<Dentry>>) -> bool {
        match (hit, self.inode.lookup(name)) {
            (Some(d), _) if d.is_mountpoint() => true,
            (Some(d), Ok(now)) => mount::same_inode(&d.inode, &now),
            (None, Err(Errno::ENOENT)) => true,
            (None, Ok(_)) | (Some(_), Err(_)) => false,
            (None, Err(_)) => true,
        }
    }

    pub fn is_dir(&self) -> bool {
        self.inode.file_type() == S_IFDIR
    }

    /// True when a filesystem is mounted here (`unlink`, `rmdir` and `rename` of it give
    /// `EBUSY`).
    pub fn is_mountpoint(&self) -> bool {
        self.mounted_slot().is_some()
    }

    /// True for the root of a mounted filesystem: what the walk gives for a mount point (and
    /// what `unlink`, `rmdir` and `rename` refuse with `EBUSY`), or the root of the tree.
    pub fn is_mount_root(&self) -> bool {
        self.mount_root || self.place().0.is_none()
    }

    /// Records that this dentry's name was removed (`unlink`, `rmdir`): `getcwd` in it gives
    /// `ENOENT`. Reports the removal to inotify.
    pub fn mark_removed(&self) {
        self.removed.store(true, std::sync::atomic::Ordering::Relaxed);
        if !inotify::active() {
            return;
        }
        let (parent, name) = self.place().clone();
        let dir = inotify::is_dir(self.inode.as_ref());
        if let Some(p) = parent {
            inotify::entry_event(&p, &name, dir, inotify::IN_DELETE, 0);
        }
        self.link_dropped(dir);
    }

    /// A name of this file went: a non-directory reports `IN_ATTRIB` (its link count), and
    /// the file `IN_DELETE_SELF` when it was the last.
    fn link_dropped(&self, dir: bool) {
        if !inotify::active() {
            return;
        }
        if !dir {
            inotify::self_event(self.inode.as_ref(), inotify::IN_ATTRIB);
        }
        if dir || self.inode.stat().map_or(true, |st| st.nlink == 0) {
            inotify::inode_gone(self.inode.as_ref());
        }
    }

    /// Changes the file's attributes (chmod, chown, truncate, utimes) and reports the change
    /// as Linux's `fsnotify_change` does: a size or a lone mtime is `IN_MODIFY`, the rest
    /// `IN_ATTRIB`.
    pub fn setattr(&self, attr: &SetAttr) -> SysResult<()> {
        self.inode.setattr(attr)?;
        let set = |t: &SetTime| !matches!(t, SetTime::Omit);
        let mut mask = 0;
        if attr.mode.is_some() || attr.uid.is_some() || attr.gid.is_some() {
            mask |= inotify::IN_ATTRIB;
        }
        match (set(&attr.atime), set(&attr.mtime)) {
            (true, true) => mask |= inotify::IN_ATTRIB,
            (true, false) => mask |= inotify::IN_ACCESS,
            (false, true) => mask |= inotify::IN_MODIFY,
            (false, false) => {}
        }
        if attr.size.is_some() {
            mask |= inotify::IN_MODIFY;
        }
        if mask != 0 {
            inotify::file_event(self, mask);
        }
        Ok(())
    }

    /// Whether the name was removed while the dentry was held.
    pub fn is_removed(&self) -> bool {
        self.removed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The root of the mount this dentry belongs to (the tree's root for the root mount):
    /// `link` and `rename` across two of them are `EXDEV`.
    pub fn mount_of(self: &Arc<Dentry>) -> Arc<Dentry> {
        let mut d = self.clone();
        loop {
            if d.mount_root {
                return d;
            }
            match d.parent() {
                Some(p) => d = p,
                None => return d,
            }
        }
    }

    /// Forgets the cached lookup of `name`, positive or negative, so the next walk asks the
    /// inode. Call it on the parent after `unlink`, `rmdir`, and on both parents after
    /// `rename`. A child that is a mount point is kept (returns false): callers refuse to
    /// remove mount points first.
    ///
    /// A dentry dropped from the cache stays valid for whoever holds it (open files, cwd): it
    /// still names the same inode, but its `parent` and `name` are those it had.
    pub fn invalidate(&self, name: &[u8]) -> bool {
        let mut children = self.children();
        if children.get(name).is_some_and(|c| c.as_ref().is_some_and(|d| d.is_mountpoint())) {
            return false;
        }
        children.remove(name);
        true
    }

    /// Records that `name` now names `inode` (after `create`, `mkdir`, `mknod`, `symlink`,
    /// `link`), replacing a negative entry; returns the new dentry.
    pub fn insert(self: &Arc<Dentry>, name: &[u8], inode: Arc<dyn Inode>) -> Arc<Dentry> {
        let d = Dentry::new(Some(self.clone()), name, inode, false);
        self.children().insert(name.to_vec(), Some(d.clone()));
        if !inotify::active() {
            return d;
        }
        let dir = inotify::is_dir(d.inode.as_ref());
        inotify::entry_event(self, name, dir, inotify::IN_CREATE, 0);
        if !dir && d.inode.stat().is_ok_and(|st| st.nlink > 1) {
            // A hard link: the file's link count changed.
            inotify::self_event(d.inode.as_ref(), inotify::IN_ATTRIB);
        }
        d
    }

    /// Records that `old_parent/old_name` is now `new_parent/new_name` (after a `rename`):
    /// the cached dentry moves, so holders of it (cwd, open directories) and of dentries
    /// below it see the new path; whatever was cached at the new name is dropped. With
    /// `exchange`, the two names swap their dentries.
    pub fn renamed(old_parent: &Arc<Dentry>, old_name: &[u8], new_parent: &Arc<Dentry>, new_name: &[u8], exchange: bool) {
        let (src, dst) = if Arc::ptr_eq(old_parent, new_parent) {
            let mut m = old_parent.children();
            let src = m.remove(old_name).flatten();
            let dst = m.remove(new_name).flatten();
            if let Some(s) = &src {
                m.insert(new_name.to_vec(), Some(s.clone()));
            }
            if let (true, Some(d)) = (exchange, &dst) {
                m.insert(old_name.to_vec(), Some(d.clone()));
            }
            (src, dst)
        } else {
            // Both children locks, taken in address order so that two renames cannot
            // deadlock.
            let (mut om, mut nm) = if Arc::as_ptr(old_parent) < Arc::as_ptr(new_parent) {
                let o = old_parent.children();
                (o, new_parent.children())
            } else {
                let n = new_parent.children();
                (old_parent.children(), n)
            };
            let src = om.remove(old_name).flatten();
            let dst = nm.remove(new_name).flatten();
            if let Some(s) = &src {
                nm.insert(new_name.to_vec(), Some(s.clone()));
            }
            if let (true, Some(d)) = (exchange, &dst) {
                om.insert(old_name.to_vec(), Some(d.clone()));
            }
            (src, dst)
        };
        if let Some(s) = &src {
            *s.place() = (Some(new_parent.clone()), new_name.to_vec());
        }
        match (&dst, exchange) {
            (Some(d), true) => *d.place() = (Some(old_parent.clone()), old_name.to_vec()),
            (Some(d), false) => {
                d.removed.store(true, std::sync::atomic::Ordering::Relaxed);
                if inotify::active() {
                    d.link_dropped(inotify::is_dir(d.inode.as_ref()));
                }
            }
            (None, _) => {}
        }
        if !inotify::active() {
            return;
        }
        let moved = |d: &Option<Arc<Dentry>>, parent: &Arc<Dentry>, name: &[u8]| d.clone().or_else(|| parent.child(name).ok());
        let report = |d: Option<Arc<Dentry>>, from: (&Arc<Dentry>, &[u8]), to: (&Arc<Dentry>, &[u8])| {
            let Some(d) = d else { return };
            let dir = inotify::is_dir(d.inode.as_ref());
            let cookie = inotify::next_cookie();
            inotify::entry_event(from.0, from.1, dir, inotify::IN_MOVED_FROM, cookie);
            inotify::entry_event(to.0, to.1, dir, inotify::IN_MOVED_TO, cookie);
            inotify::self_event(d.inode.as_ref(), inotify::IN_MOVE_SELF);
        };
        report(moved(&src, new_parent, new_name), (old_parent, old_name), (new_parent, new_name));
        if exchange {
            report(moved(&dst, old_parent, old_name), (new_parent, new_name), (old_parent, old_name));
        }
    }

    /// The absolute path of this dentry as seen from `root`.
    pub fn path_from(self: &Arc<Dentry>, root: &Arc<Dentry>) -> Vec<u8> {
        let mut names = Vec::new();
        let mut d = self.clone();
        while !Arc::ptr_eq(&d, root) {
            let (parent, name) = d.place().clone();
            let Some(p) = parent else { break };
            names.push(name);
            d = p.mounted_root();
        }
        if names.is_empty() {
            return b"/".to_vec();
        }
        let mut out = Vec::new();
        for n in names.iter().rev() {
            out.push(b'/');
            out.extend_from_slice(n);
        }
        out
    }
}

/// Fills a `Stat` for synthetic files.
/// `ioctl` of a file whose only request is `FIONREAD` (how many bytes a read would get now,
/// `available`); `ENOTTY` for any other.
pub fn fionread_only(mm: &MemoryManager, request: u32, arg: u64, available: usize) -> SysResult<u64> {
    if u64::from(request) != libc::FIONREAD {
        return Err(Errno::ENOTTY);
    }
    mm.write_val(arg, &i32::try_from(available).unwrap_or(i32::MAX))?;
    Ok(0)
}

/// Reads `buf.len()` bytes of `file` from `offset`, or up to its end. An error after some
/// bytes ends the read with their count, as a short read.
pub fn read_full(file: &dyn FileOps, offset: u64, buf: &mut [u8]) -> SysResult<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read(offset + done as u64, &mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

pub fn synthetic_stat(ino: u64, mode: u32, rdev: u64) -> Stat {
    Stat { dev: SYNTHETIC_DEV, ino, nlink: 1, mode, blksize: 4096, rdev, ..Stat::default() }
}

/// Device number reported by the sentry's own filesystems.
pub const SYNTHETIC_DEV: u64 = 0x1f;

#[cfg(test)]
mod tests;
