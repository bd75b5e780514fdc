//! The path walk over a small tree of test inodes.

use std::sync::Arc;

use super::walk::Walker;
use super::*;
use crate::fs::synthetic::Dir;

struct Link(&'static str);

impl Inode for Link {
    fn stat(&self) -> SysResult<Stat> {
        Ok(synthetic_stat(99, S_IFLNK | 0o777, 0))
    }
    fn readlink(&self) -> SysResult<Vec<u8>> {
        Ok(self.0.as_bytes().to_vec())
    }
    fn open(&self, _flags: i32) -> SysResult<Arc<dyn FileOps>> {
        Err(Errno::ELOOP)
    }
}

fn link(target: &'static str) -> Arc<dyn Inode> {
    Arc::new(Link(target))
}

/// / { etc/ { passwd -> ../data/file }, data/ { file (a device stands in for a file) },
///     loop -> loop, up -> .., abs -> /data, dangling -> /nowhere, mnt/ }
fn tree() -> Arc<Dentry> {
    use crate::fs::synthetic::{Device, DeviceInode};
    let file: Arc<dyn Inode> = DeviceInode::new(Device::Null);
    let data: Arc<dyn Inode> = Dir::new(vec![("file", file)]);
    let etc: Arc<dyn Inode> = Dir::new(vec![("passwd", link("../data/file"))]);
    let mnt: Arc<dyn Inode> = Dir::new(vec![]);
    Dentry::root(Dir::new(vec![
        ("abs", link("/data")),
        ("dangling", link("/nowhere")),
        ("data", data),
        ("etc", etc),
        ("loop", link("loop")),
        ("mnt", mnt),
        ("up", link("..")),
    ]))
}

fn path(root: &Arc<Dentry>, p: &str, follow: bool) -> SysResult<Vec<u8>> {
    Walker { root }.resolve(root, p.as_bytes(), follow).map(|d| d.path_from(root))
}

#[test]
fn relative_and_absolute_links_resolve() {
    let root = tree();
    assert_eq!(path(&root, "/etc/passwd", true).unwrap(), b"/data/file");
    assert_eq!(path(&root, "/etc/passwd", false).unwrap(), b"/etc/passwd");
    assert_eq!(path(&root, "abs/file", false).unwrap(), b"/data/file");
    assert_eq!(path(&root, "/up/up/etc", true).unwrap(), b"/etc", "`..` stops at the root");
    assert_eq!(path(&root, "/../../data/./file", true).unwrap(), b"/data/file");
}

#[test]
fn walk_errors_are_linux_errors() {
    let root = tree();
    assert_eq!(path(&root, "/loop", true), Err(Errno::ELOOP));
    assert_eq!(path(&root, "/loop", false).unwrap(), b"/loop");
    assert_eq!(path(&root, "/dangling", true), Err(Errno::ENOENT));
    assert_eq!(path(&root, "/missing/x", true), Err(Errno::ENOENT));
    assert_eq!(path(&root, "/data/file/x", true), Err(Errno::ENOTDIR));
    assert_eq!(path(&root, "/data/file/", true), Err(Errno::ENOTDIR), "trailing slash on a file");
    assert_eq!(path(&root, "/etc/", true).unwrap(), b"/etc");
    assert_eq!(path(&root, "", true), Err(Errno::ENOENT));
    let long = format!("/{}", "x".repeat(256));
    assert_eq!(path(&root, &long, true), Err(Errno::ENAMETOOLONG));
}

#[test]
fn mounts_hide_what_is_below_and_dotdot_leaves_them() {
    let root = tree();
    let mnt = root.child(b"mnt").unwrap();
    mnt.mount(crate::fs::synthetic::devfs()).unwrap();
    assert_eq!(path(&root, "/mnt/null", true).unwrap(), b"/mnt/null");
    assert_eq!(path(&root, "/mnt/../etc", true).unwrap(), b"/etc");
    // A second mount stacks on the first, as on Linux.
    mnt.mount(Dir::new(vec![])).unwrap();
    assert_eq!(path(&root, "/mnt/null", true), Err(Errno::ENOENT));
}

#[test]
fn a_chroot_is_a_root_for_dotdot() {
    let root = tree();
    let data = root.child(b"data").unwrap();
    let walker = Walker { root: &data };
    let d = walker.resolve(&data, b"../../file", true).unwrap();
    assert_eq!(d.path_from(&data), b"/file");
    assert_eq!(walker.resolve(&data, b"/file", true).unwrap().path_from(&data), b"/file");
}

#[test]
fn renamed_dentries_move_with_their_children() {
    use crate::fs::tmpfs::{Tmpfs, TmpfsOptions};
    let mf = Arc::new(crate::mm::MemoryFile::new().unwrap());
    let fs = Tmpfs::new(mf, TmpfsOptions::default());
    let root = Dentry::root(fs.root());
    let owner = Owner::default();
    let a = root.insert(b"a", root.inode.mkdir(b"a", 0o755, owner).unwrap());
    let b = root.insert(b"b", root.inode.mkdir(b"b", 0o755, owner).unwrap());
    let inner = a.insert(b"in", a.inode.mkdir(b"in", 0o755, owner).unwrap());
    // Move a to b/a2, as rename(2) does: the inode first, then the cache.
    root.inode.rename(b"a", &b.inode, b"a2", 0).unwrap();
    Dentry::renamed(&root, b"a", &b, b"a2", false);
    assert_eq!(inner.path_from(&root), b"/b/a2/in", "a held dentry sees its new path");
    assert_eq!(a.current_name(), b"a2");
    assert_eq!(a.name, b"a", "the looked-up name is kept");
    assert!(Arc::ptr_eq(&b.child(b"a2").unwrap(), &a), "the cache has the moved dentry");
    assert_eq!(root.child(b"a").err(), Some(Errno::ENOENT));
    assert_eq!(path(&root, "/b/a2/in/..", true).unwrap(), b"/b/a2");
    // Over an existing name: the replaced dentry is marked removed.
    let c = root.insert(b"c", root.inode.mkdir(b"c", 0o755, owner).unwrap());
    b.inode.rename(b"a2", &root.inode, b"c", 0).unwrap();
    Dentry::renamed(&b, b"a2", &root, b"c", false);
    assert!(c.is_removed() && !a.is_removed());
    assert_eq!(inner.path_from(&root), b"/c/in");
}

#[test]
fn mounts_bound_what_a_dentry_belongs_to() {
    let root = tree();
    let mnt = root.child(b"mnt").unwrap();
    let mounted = mnt.mount(crate::fs::synthetic::devfs()).unwrap();
    let null = root.child(b"mnt").unwrap().child(b"null").unwrap();
    assert!(Arc::ptr_eq(&null.mount_of(), &mounted));
    assert!(mounted.is_mount_root() && !null.is_mount_root());
    let etc = root.child(b"etc").unwrap();
    assert!(Arc::ptr_eq(&etc.mount_of(), &root), "the root mount ends at the tree's root");
}
