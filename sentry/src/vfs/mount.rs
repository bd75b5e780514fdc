//! The mount table: every filesystem mounted on a dentry ([`super::Dentry::mount`]) is
//! recorded here, so that `umount2` can find the dentry it covers and `/proc/PID/mounts` can
//! list mounts made at run time; and [`ReadOnly`], the view a read-only bind mount gives.
//!
//! Mounts made by `mount(2)` carry a [`Label`] (type, source, options) for the mount table;
//! those the sentry makes at boot are described by procfs from their filesystems.
//!
//! Bind mounts show one directory under two dentry trees, each with its own cache. Once one
//! exists, [`super::Dentry::child`] checks cached names against the inode before trusting them
//! ([`shared_trees`]), so a name made or removed through one tree is seen through the other.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Dentry, FileOps, Inode, Owner, SetAttr, StatFs, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, ST_RDONLY};
use crate::abi::Stat;
use crate::errno::{Errno, SysResult};

/// How the mount table shows a mount made by `mount(2)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label {
    pub fstype: &'static str,
    pub source: &'static str,
    pub read_only: bool,
}

/// One mounted filesystem.
pub struct Mount {
    pub id: u32,
    /// The dentry it is mounted on (itself the root of another mount when stacked).
    pub covered: Arc<Dentry>,
    /// Its root, which the walk finds in place of `covered`.
    pub root: Arc<Dentry>,
    pub label: Option<Label>,
}

static MOUNTS: Mutex<Vec<Arc<Mount>>> = Mutex::new(Vec::new());
/// Mount ids after the boot mounts procfs numbers itself.
static NEXT_ID: AtomicU32 = AtomicU32::new(100);
static SHARED_TREES: AtomicBool = AtomicBool::new(false);

fn mounts() -> MutexGuard<'static, Vec<Arc<Mount>>> {
    MOUNTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(super) fn record(covered: &Arc<Dentry>, root: &Arc<Dentry>) {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    mounts().push(Arc::new(Mount { id, covered: covered.clone(), root: root.clone(), label: None }));
}

/// Gives the mount whose root is `root` its label (after `mount(2)` made it).
pub fn set_label(root: &Arc<Dentry>, label: Label) {
    let mut m = mounts();
    if let Some(i) = m.iter().position(|x| Arc::ptr_eq(&x.root, root)) {
        let old = &m[i];
        m[i] = Arc::new(Mount { id: old.id, covered: old.covered.clone(), root: old.root.clone(), label: Some(label) });
    }
}

/// The mount whose root is `root`.
pub fn find(root: &Arc<Dentry>) -> Option<Arc<Mount>> {
    mounts().iter().find(|m| Arc::ptr_eq(&m.root, root)).cloned()
}

/// Whether `d` is `anc` or lies below it (through parents, across mounts).
pub fn is_within(d: &Arc<Dentry>, anc: &Arc<Dentry>) -> bool {
    let mut cur = d.clone();
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

/// The mounts below `m`'s root (mounted on dentries of its tree), deepest first not
/// guaranteed.
pub fn submounts(root: &Arc<Dentry>) -> Vec<Arc<Mount>> {
    mounts().iter().filter(|x| !Arc::ptr_eq(&x.root, root) && is_within(&x.covered, root)).cloned().collect()
}

/// Every mount of the tree whose root is `tree_root`, in mount order.
pub fn of_tree(tree_root: &Arc<Dentry>) -> Vec<Arc<Mount>> {
    mounts().iter().filter(|m| is_within(&m.covered, tree_root)).cloned().collect()
}

/// Takes the mount whose root is `root` (and every mount below it) off the tree. Open files
/// and working directories in it keep working (`MNT_DETACH`).
pub fn detach(root: &Arc<Dentry>) -> SysResult<()> {
    let m = find(root).ok_or(Errno::EINVAL)?;
    let below = submounts(root);
    {
        let mut slot = m.covered.mounted_slot();
        match slot.as_ref() {
            Some(r) if Arc::ptr_eq(r, root) => *slot = None,
            _ => return Err(Errno::EINVAL),
        }
    }
    let mut list = mounts();
    list.retain(|x| !Arc::ptr_eq(&x.root, root) && !below.iter().any(|b| Arc::ptr_eq(&b.root, &x.root)));
    Ok(())
}

/// Replaces the mount whose root is `old` by a filesystem rooted at `inode` (a remount that
/// changes the view, such as a bind mount turned read-only). Dentries already looked up keep
/// the old view.
pub fn replace_root(old: &Arc<Dentry>, inode: Arc<dyn Inode>, label: Label) -> SysResult<Arc<Dentry>> {
    let m = find(old).ok_or(Errno::EINVAL)?;
    let (parent, name) = old.place().clone();
    let root = Dentry::new(parent, &name, inode, true);
    {
        let mut slot = m.covered.mounted_slot();
        match slot.as_ref() {
            Some(r) if Arc::ptr_eq(r, old) => *slot = Some(root.clone()),
            _ => return Err(Errno::EINVAL),
        }
    }
    // What was mounted on top of the old root moves to the new one.
    if let Some(top) = old.mounted_slot().take() {
        *root.mounted_slot() = Some(top.clone());
        let mut list = mounts();
        for x in list.iter_mut() {
            if Arc::ptr_eq(&x.covered, old) {
                *x = Arc::new(Mount { id: x.id, covered: root.clone(), root: x.root.clone(), label: x.label });
            }
        }
    }
    let mut list = mounts();
    if let Some(i) = list.iter().position(|x| Arc::ptr_eq(&x.root, old)) {
        list[i] = Arc::new(Mount { id: m.id, covered: m.covered.clone(), root: root.clone(), label: Some(label) });
    }
    Ok(root)
}

/// Records that one directory is now reachable through two dentry trees (a bind mount).
pub fn note_shared_trees() {
    SHARED_TREES.store(true, Ordering::Relaxed);
}

/// Whether cached names must be checked against their directory (see the module docs).
pub fn shared_trees() -> bool {
    SHARED_TREES.load(Ordering::Relaxed)
}

/// Whether two inode objects serve one file: the same object, or the same `(dev, ino)`.
pub fn same_inode(a: &Arc<dyn Inode>, b: &Arc<dyn Inode>) -> bool {
    if std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b)) {
        return true;
    }
    match (a.stat(), b.stat()) {
        (Ok(x), Ok(y)) => x.dev == y.dev && x.ino == y.ino,
        _ => false,
    }
}

/// A read-only view of a filesystem (a bind mount remounted `ro`): the files are the same, but
/// every change of a regular file, directory or symlink is `EROFS`. Devices and FIFOs keep
/// working, as on Linux.
pub struct ReadOnly(pub Arc<dyn Inode>);

impl ReadOnly {
    fn refuse(&self) -> Errno {
        if self.0.file_type() == S_IFDIR {
            Errno::EROFS
        } else {
            Errno::ENOTDIR
        }
    }
}

impl Inode for ReadOnly {
    fn stat(&self) -> SysResult<Stat> {
        self.0.stat()
    }

    fn file_type(&self) -> u32 {
        self.0.file_type()
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        Ok(Arc::new(ReadOnly(self.0.lookup(name)?)))
    }

    fn readlink(&self) -> SysResult<Vec<u8>> {
        self.0.readlink()
    }

    fn open(&self, flags: i32) -> SysResult<Arc<dyn FileOps>> {
        let kind = self.0.file_type() & S_IFMT;
        let writes = flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
        if writes && matches!(kind, S_IFREG | S_IFDIR | S_IFLNK) {
            return Err(Errno::EROFS);
        }
        self.0.open(flags)
    }

    fn create(&self, _: &[u8], _: u32, _: Owner) -> SysResult<Arc<dyn Inode>> {
        Err(self.refuse())
    }

    fn mkdir(&self, _: &[u8], _: u32, _: Owner) -> SysResult<Arc<dyn Inode>> {
        Err(self.refuse())
    }

    fn mknod(&self, _: &[u8], _: u32, _: u64, _: Owner) -> SysResult<Arc<dyn Inode>> {
        Err(self.refuse())
    }

    fn symlink(&self, _: &[u8], _: &[u8], _: Owner) -> SysResult<Arc<dyn Inode>> {
        Err(self.refuse())
    }

    fn link(&self, _: &[u8], _: &Arc<dyn Inode>) -> SysResult<Arc<dyn Inode>> {
        Err(self.refuse())
    }

    fn unlink(&self, _: &[u8]) -> SysResult<()> {
        Err(self.refuse())
    }

    fn rmdir(&self, _: &[u8]) -> SysResult<()> {
        Err(self.refuse())
    }

    fn rename(&self, _: &[u8], _: &Arc<dyn Inode>, _: &[u8], _: u32) -> SysResult<()> {
        Err(self.refuse())
    }

    fn setattr(&self, _: &SetAttr) -> SysResult<()> {
        Err(Errno::EROFS)
    }

    fn getxattr(&self, name: &[u8]) -> SysResult<Vec<u8>> {
        self.0.getxattr(name)
    }

    fn listxattr(&self) -> SysResult<Vec<Vec<u8>>> {
        self.0.listxattr()
    }

    fn setxattr(&self, _: &[u8], _: &[u8], _: i32) -> SysResult<()> {
        Err(Errno::EROFS)
    }

    fn removexattr(&self, _: &[u8]) -> SysResult<()> {
        Err(Errno::EROFS)
    }

    fn tmpfile(&self, _: u32, _: Owner, _: bool) -> SysResult<Arc<dyn Inode>> {
        Err(self.refuse())
    }

    fn statfs(&self) -> SysResult<StatFs> {
        let mut s = self.0.statfs()?;
        s.flags |= ST_RDONLY;
        Ok(s)
    }

    /// Itself: the mount code finds the inode under the view.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::tmpfs::{Tmpfs, TmpfsOptions};
    use crate::mm::MemoryFile;

    fn tmpfs_tree() -> Arc<Dentry> {
        let mf = Arc::new(MemoryFile::new().unwrap());
        let fs = Tmpfs::new(mf, TmpfsOptions::default());
        let root = Dentry::root(fs.root());
        for d in [&b"a"[..], b"b"] {
            let i = root.inode.mkdir(d, 0o755, Owner::default()).unwrap();
            root.insert(d, i);
        }
        root
    }

    #[test]
    fn names_made_through_one_side_of_a_bind_mount_show_through_the_other() {
        let root = tmpfs_tree();
        let a = root.child(b"a").unwrap();
        let bound = root.child(b"b").unwrap().mount(a.inode.clone()).unwrap();
        note_shared_trees();
        assert_eq!(bound.child(b"x").err(), Some(Errno::ENOENT), "a negative entry is cached");
        let i = a.inode.create(b"x", 0o644, Owner::default()).unwrap();
        a.insert(b"x", i);
        assert!(bound.child(b"x").is_ok(), "the stale negative entry was checked");
        bound.inode.unlink(b"x").unwrap();
        bound.invalidate(b"x");
        assert_eq!(a.child(b"x").err(), Some(Errno::ENOENT), "the stale positive entry was checked");
    }

    #[test]
    fn detach_uncovers_the_mount_point_and_forgets_mounts_below() {
        let root = tmpfs_tree();
        let b = root.child(b"b").unwrap();
        let fs = Tmpfs::new(Arc::new(MemoryFile::new().unwrap()), TmpfsOptions::default());
        let top = b.mount(fs.root()).unwrap();
        let inner = top.inode.mkdir(b"in", 0o755, Owner::default()).unwrap();
        let inner = top.insert(b"in", inner);
        let deep = inner.mount(Tmpfs::new(Arc::new(MemoryFile::new().unwrap()), TmpfsOptions::default()).root()).unwrap();
        assert!(Arc::ptr_eq(&root.child(b"b").unwrap(), &top));
        assert_eq!(submounts(&top).len(), 1);
        assert_eq!(detach(&inner).err(), Some(Errno::EINVAL), "not a mount's root");
        detach(&top).unwrap();
        assert!(!Arc::ptr_eq(&root.child(b"b").unwrap(), &top), "the walk finds the directory again");
        assert!(find(&top).is_none() && find(&deep).is_none());
    }

    #[test]
    fn a_read_only_view_refuses_changes_but_reads() {
        let root = tmpfs_tree();
        let ro: Arc<dyn Inode> = Arc::new(ReadOnly(root.inode.clone()));
        assert_eq!(ro.mkdir(b"c", 0o755, Owner::default()).err(), Some(Errno::EROFS));
        assert!(ro.lookup(b"a").is_ok());
        assert_eq!(ro.lookup(b"a").unwrap().create(b"f", 0o644, Owner::default()).err(), Some(Errno::EROFS));
        assert!(ro.statfs().unwrap().read_only());
        assert_eq!(ro.open(libc::O_RDWR).err(), Some(Errno::EROFS));
    }
}
