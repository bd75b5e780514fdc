//! tmpfs against an in-process memory file.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::vfs::{Dentry, Inode, Owner, SetAttr, SetTime, S_IFIFO};

const ROOT: Owner = Owner { uid: 0, gid: 0 };

fn mount() -> Arc<Tmpfs> {
    Tmpfs::new(Arc::new(MemoryFile::new().unwrap()), TmpfsOptions::default())
}

fn dyn_root(fs: &Tmpfs) -> Arc<dyn Inode> {
    fs.root()
}

fn write(i: &Arc<dyn Inode>, off: u64, data: &[u8]) -> usize {
    i.open(libc::O_WRONLY).unwrap().write(off, data).unwrap()
}

fn read(i: &Arc<dyn Inode>, off: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0xaa; len];
    let n = i.open(libc::O_RDONLY).unwrap().read(off, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn names(dir: &Arc<dyn Inode>) -> Vec<String> {
    let f = dir.open(libc::O_RDONLY).unwrap();
    let mut out = Vec::new();
    let mut cookie = 0;
    loop {
        let batch = f.readdir(cookie).unwrap();
        let Some(last) = batch.last() else { break };
        cookie = last.next;
        out.extend(batch.into_iter().map(|e| String::from_utf8(e.name).unwrap()));
    }
    out
}

fn st(i: &Arc<dyn Inode>) -> crate::abi::Stat {
    i.stat().unwrap()
}

fn tick() {
    std::thread::sleep(Duration::from_millis(5));
}

fn mtime(s: &crate::abi::Stat) -> (i64, i64) {
    (s.mtime, s.mtime_nsec)
}

fn ctime(s: &crate::abi::Stat) -> (i64, i64) {
    (s.ctime, s.ctime_nsec)
}

#[test]
fn write_read_back_and_holes_read_as_zeros() {
    let fs = mount();
    let root = dyn_root(&fs);
    let f = root.create(b"f", 0o644, ROOT).unwrap();
    assert_eq!(write(&f, 0, b"hello"), 5);
    assert_eq!(read(&f, 0, 100), b"hello");
    assert_eq!(read(&f, 2, 2), b"ll");
    assert_eq!(read(&f, 5, 10), b"", "at end of file");
    // Far past the end, across pages: the gap is a hole.
    assert_eq!(write(&f, 3 * 4096 + 10, b"xyz"), 3);
    let s = st(&f);
    assert_eq!(s.size, 3 * 4096 + 13);
    assert_eq!(s.blocks, 2 * 8, "two pages allocated, two holes");
    let data = read(&f, 0, 4 * 4096);
    assert_eq!(data.len(), 3 * 4096 + 13);
    assert_eq!(&data[..5], b"hello");
    assert!(data[5..3 * 4096 + 10].iter().all(|&b| b == 0));
    assert_eq!(&data[3 * 4096 + 10..], b"xyz");
    // A write straddling a page boundary.
    let big: Vec<u8> = (0..10000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(write(&f, 4000, &big), big.len());
    assert_eq!(read(&f, 4000, big.len()), big);
    assert_eq!(fs.used_bytes(), 4 * 4096);
}

#[test]
fn truncate_frees_pages_and_zeroes_the_tail() {
    let fs = mount();
    let root = dyn_root(&fs);
    let f = root.create(b"f", 0o644, ROOT).unwrap();
    write(&f, 0, &[7u8; 3 * 4096]);
    assert_eq!(fs.used_bytes(), 3 * 4096);
    f.setattr(&SetAttr { size: Some(100), ..SetAttr::default() }).unwrap();
    assert_eq!(st(&f).size, 100);
    assert_eq!(fs.used_bytes(), 4096);
    // Growing again shows zeros past the old end, not the old bytes.
    f.setattr(&SetAttr { size: Some(8192), ..SetAttr::default() }).unwrap();
    let data = read(&f, 0, 8192);
    assert_eq!(&data[..100], &[7u8; 100][..]);
    assert!(data[100..].iter().all(|&b| b == 0));
    // O_TRUNC empties it.
    f.open(libc::O_WRONLY | libc::O_TRUNC).unwrap();
    assert_eq!(st(&f).size, 0);
    assert_eq!(fs.used_bytes(), 0);
    assert_eq!(root.setattr(&SetAttr { size: Some(0), ..SetAttr::default() }), Err(Errno::EISDIR));
}

#[test]
fn unlinked_open_file_keeps_its_data_until_closed() {
    let fs = mount();
    let root = dyn_root(&fs);
    let f = root.create(b"f", 0o644, ROOT).unwrap();
    let open = f.open(libc::O_RDWR).unwrap();
    open.write(0, b"still here").unwrap();
    drop(f);
    root.unlink(b"f").unwrap();
    assert_eq!(root.lookup(b"f").err(), Some(Errno::ENOENT));
    let mut buf = [0u8; 10];
    assert_eq!(open.read(0, &mut buf).unwrap(), 10);
    assert_eq!(&buf, b"still here");
    assert_eq!(open.stat().unwrap().nlink, 0);
    assert_eq!(fs.used_bytes(), 4096);
    drop(open);
    assert_eq!(fs.used_bytes(), 0, "last reference gone: pages returned");
}

#[test]
fn hard_links_share_data_and_count() {
    let fs = mount();
    let root = dyn_root(&fs);
    let f = root.create(b"a", 0o644, ROOT).unwrap();
    write(&f, 0, b"shared");
    let b = root.link(b"b", &f).unwrap();
    assert_eq!(st(&f).nlink, 2);
    assert_eq!(st(&b).ino, st(&f).ino);
    write(&b, 6, b"!");
    assert_eq!(read(&f, 0, 10), b"shared!");
    assert_eq!(root.link(b"b", &f).err(), Some(Errno::EEXIST));
    let dir = root.mkdir(b"d", 0o755, ROOT).unwrap();
    assert_eq!(root.link(b"d2", &dir).err(), Some(Errno::EPERM), "no links to directories");
    root.unlink(b"a").unwrap();
    assert_eq!(st(&b).nlink, 1);
    assert_eq!(read(&b, 0, 10), b"shared!");
    // A link to an inode of another mount.
    let other = mount();
    let foreign = other.root().create(b"x", 0o644, ROOT).unwrap();
    assert_eq!(root.link(b"x", &foreign).err(), Some(Errno::EXDEV));
    // A link to a file whose last name is gone.
    root.unlink(b"b").unwrap();
    assert_eq!(root.link(b"c", &b).err(), Some(Errno::ENOENT));
}

#[test]
fn namespace_errnos_are_linux_errnos() {
    let fs = mount();
    let root = dyn_root(&fs);
    let f = root.create(b"f", 0o644, ROOT).unwrap();
    let d = root.mkdir(b"d", 0o755, ROOT).unwrap();
    assert_eq!(root.create(b"f", 0o644, ROOT).err(), Some(Errno::EEXIST));
    assert_eq!(root.mkdir(b"f", 0o755, ROOT).err(), Some(Errno::EEXIST));
    assert_eq!(root.mkdir(b".", 0o755, ROOT).err(), Some(Errno::EEXIST));
    assert_eq!(f.create(b"x", 0o644, ROOT).err(), Some(Errno::ENOTDIR));
    assert_eq!(f.lookup(b"x").err(), Some(Errno::ENOTDIR));
    assert_eq!(root.unlink(b"d"), Err(Errno::EISDIR));
    assert_eq!(root.rmdir(b"f"), Err(Errno::ENOTDIR));
    assert_eq!(root.unlink(b"nope"), Err(Errno::ENOENT));
    assert_eq!(root.rmdir(b"."), Err(Errno::EINVAL));
    assert_eq!(root.rmdir(b".."), Err(Errno::ENOTEMPTY));
    assert_eq!(root.create(&[b'x'; 256], 0o644, ROOT).err(), Some(Errno::ENAMETOOLONG));
    d.create(b"inner", 0o644, ROOT).unwrap();
    assert_eq!(root.rmdir(b"d"), Err(Errno::ENOTEMPTY));
    d.unlink(b"inner").unwrap();
    root.rmdir(b"d").unwrap();
    assert_eq!(d.create(b"late", 0o644, ROOT).err(), Some(Errno::ENOENT), "creating in a removed directory");
    assert_eq!(st(&d).nlink, 0);
    assert_eq!(d.open(libc::O_RDONLY).unwrap().readdir(0).err(), Some(Errno::ENOENT));
    assert_eq!(root.mknod(b"dir", S_IFDIR | 0o755, 0, ROOT).err(), Some(Errno::EPERM));
    assert_eq!(root.symlink(b"l", b"", ROOT).err(), Some(Errno::ENOENT));
    assert_eq!(root.open(libc::O_WRONLY).err(), Some(Errno::EISDIR));
}

#[test]
fn directory_link_counts_and_sizes() {
    let fs = mount();
    let root = dyn_root(&fs);
    assert_eq!(st(&root).nlink, 2);
    let a = root.mkdir(b"a", 0o755, ROOT).unwrap();
    root.mkdir(b"b", 0o755, ROOT).unwrap();
    root.create(b"f", 0o644, ROOT).unwrap();
    assert_eq!(st(&root).nlink, 4);
    assert_eq!(st(&root).size, 5 * 20);
    root.rename(b"b", &a, b"b", 0).unwrap();
    assert_eq!(st(&root).nlink, 3);
    assert_eq!(st(&a).nlink, 3);
    a.rmdir(b"b").unwrap();
    assert_eq!(st(&a).nlink, 2);
}

#[test]
fn symlinks_devices_and_fifos() {
    let fs = mount();
    let root = dyn_root(&fs);
    let l = root.symlink(b"l", b"/some/where", ROOT).unwrap();
    assert_eq!(l.readlink().unwrap(), b"/some/where");
    let s = st(&l);
    assert_eq!(s.mode, S_IFLNK | 0o777);
    assert_eq!(s.size, 11);
    assert_eq!(root.lookup(b"l").unwrap().file_type(), S_IFLNK);
    let null = root.mknod(b"null", S_IFCHR | 0o666, libc::makedev(1, 3), ROOT).unwrap();
    assert_eq!(st(&null).rdev, libc::makedev(1, 3));
    let f = null.open(libc::O_RDWR).unwrap();
    assert_eq!(f.write(0, b"gone").unwrap(), 4);
    assert_eq!(f.read(0, &mut [0u8; 4]).unwrap(), 0);
    assert_eq!(f.stat().unwrap().ino, st(&null).ino, "fstat shows the tmpfs node");
    let odd = root.mknod(b"odd", S_IFCHR | 0o600, libc::makedev(42, 1), ROOT).unwrap();
    assert_eq!(odd.open(libc::O_RDONLY).err(), Some(Errno::ENXIO));
    let fifo = root.mknod(b"fifo", S_IFIFO | 0o600, 1234, ROOT).unwrap();
    let s = st(&fifo);
    assert_eq!((s.mode, s.rdev), (S_IFIFO | 0o600, 0));
    let reg = root.mknod(b"reg", 0o600, 0, ROOT).unwrap();
    assert_eq!(reg.file_type(), S_IFREG);
}

#[test]
fn stat_has_unique_inos_per_mount_and_unique_devs() {
    let a = mount();
    let b = mount();
    let ra = dyn_root(&a);
    let x = ra.create(b"x", 0o640, Owner { uid: 5, gid: 6 }).unwrap();
    let y = ra.create(b"y", 0o640, ROOT).unwrap();
    let sx = st(&x);
    assert_eq!((sx.mode, sx.uid, sx.gid, sx.nlink, sx.blksize), (S_IFREG | 0o640, 5, 6, 1, 4096));
    assert_ne!(sx.ino, st(&y).ino);
    assert_ne!(sx.ino, st(&ra).ino);
    assert_eq!(sx.dev, a.dev());
    assert_ne!(a.dev(), b.dev());
    assert_eq!(st(&ra).mode, S_IFDIR | 0o1777);
}

#[test]
fn setgid_directories_pass_their_group_on() {
    let fs = mount();
    let root = dyn_root(&fs);
    let d = root.mkdir(b"d", 0o2775, Owner { uid: 1, gid: 50 }).unwrap();
    let f = d.create(b"f", 0o644, Owner { uid: 2, gid: 60 }).unwrap();
    let sub = d.mkdir(b"sub", 0o755, Owner { uid: 2, gid: 60 }).unwrap();
    assert_eq!(st(&f).gid, 50);
    assert_eq!(st(&sub).gid, 50);
    assert_eq!(st(&sub).mode, S_IFDIR | 0o2755);
}

#[test]
fn setattr_changes_mode_owner_times() {
    let fs = mount();
    let root = dyn_root(&fs);
    let f = root.create(b"f", 0o6755, ROOT).unwrap();
    f.setattr(&SetAttr { mode: Some(S_IFDIR | 0o4711), ..SetAttr::default() }).unwrap();
    assert_eq!(st(&f).mode, S_IFREG | 0o4711, "type bits are kept");
    f.setattr(&SetAttr { mode: Some(0o6755), ..SetAttr::default() }).unwrap();
    f.setattr(&SetAttr { uid: Some(7), ..SetAttr::default() }).unwrap();
    let s = st(&f);
    assert_eq!((s.uid, s.gid), (7, 0));
    assert_eq!(s.mode, S_IFREG | 0o755, "chown drops set-user-ID and group-exec set-group-ID");
    let t = Timespec { sec: 1000, nsec: 5 };
    f.setattr(&SetAttr { atime: SetTime::At(t), mtime: SetTime::At(Timespec { sec: 2000, nsec: 6 }), ..SetAttr::default() })
        .unwrap();
    let s = st(&f);
    assert_eq!((s.atime, s.atime_nsec, s.mtime, s.mtime_nsec), (1000, 5, 2000, 6));
    let before = ctime(&s);
    tick();
    f.setattr(&SetAttr::default()).unwrap();
    assert_eq!(ctime(&st(&f)), before, "an empty setattr changes nothing");
    f.setattr(&SetAttr { atime: SetTime::Now, ..SetAttr::default() }).unwrap();
    let s = st(&f);
    assert!(s.atime > 1000 && s.mtime == 2000 && ctime(&s) > before);
    fs.set_read_only(true);
    assert_eq!(f.setattr(&SetAttr { mode: Some(0o600), ..SetAttr::default() }), Err(Errno::EROFS));
    assert_eq!(root.create(b"g", 0o644, ROOT).err(), Some(Errno::EROFS));
    assert_eq!(f.open(libc::O_WRONLY).err(), Some(Errno::EROFS));
    assert!(f.open(libc::O_RDONLY).is_ok());
}

#[test]
fn times_move_like_linux() {
    let fs = mount();
    let root = dyn_root(&fs);
    let r0 = st(&root);
    tick();
    let f = root.create(b"f", 0o644, ROOT).unwrap();
    let r1 = st(&root);
    assert!(mtime(&r1) > mtime(&r0) && ctime(&r1) > ctime(&r0), "create changes the directory");
    let f0 = st(&f);
    tick();
    write(&f, 0, b"data");
    let f1 = st(&f);
    assert!(mtime(&f1) > mtime(&f0) && ctime(&f1) > ctime(&f0), "write changes mtime and ctime");
    assert_eq!(mtime(&st(&root)), mtime(&r1), "writing a file leaves its directory alone");
    tick();
    read(&f, 0, 4);
    let f2 = st(&f);
    assert!((f2.atime, f2.atime_nsec) > (f1.atime, f1.atime_nsec), "read sets atime (relatime: atime <= mtime)");
    assert_eq!(mtime(&f2), mtime(&f1));
    tick();
    read(&f, 0, 4);
    assert_eq!(st(&f).atime_nsec, f2.atime_nsec, "relatime: a newer atime is left alone");
    tick();
    root.link(b"g", &f).unwrap();
    let f3 = st(&f);
    assert!(ctime(&f3) > ctime(&f2), "link changes the file's ctime");
    assert_eq!(mtime(&f3), mtime(&f2));
    tick();
    let r2 = st(&root);
    root.rename(b"g", &root, b"h", 0).unwrap();
    assert!(mtime(&st(&root)) > mtime(&r2), "rename changes the directory");
    assert!(ctime(&st(&f)) > ctime(&f3), "rename changes the moved file's ctime");
    tick();
    let f4 = st(&f);
    root.unlink(b"h").unwrap();
    assert!(ctime(&st(&f)) > ctime(&f4), "unlink changes the ctime of the file");
    tick();
    let f5 = st(&f);
    f.setattr(&SetAttr { size: Some(2), ..SetAttr::default() }).unwrap();
    let f6 = st(&f);
    assert!(mtime(&f6) > mtime(&f5) && ctime(&f6) > ctime(&f5), "truncate changes mtime and ctime");
}

#[test]
fn rename_variants_and_their_errnos() {
    let fs = mount();
    let root = dyn_root(&fs);
    let a = root.mkdir(b"a", 0o755, ROOT).unwrap();
    let b = root.mkdir(b"b", 0o755, ROOT).unwrap();
    let f = a.create(b"f", 0o644, ROOT).unwrap();
    let g = b.create(b"g", 0o644, ROOT).unwrap();
    write(&f, 0, b"F");
    write(&g, 0, b"G");
    // Plain move across directories.
    a.rename(b"f", &b, b"f2", 0).unwrap();
    assert_eq!(a.lookup(b"f").err(), Some(Errno::ENOENT));
    assert_eq!(read(&b.lookup(b"f2").unwrap(), 0, 1), b"F");
    // Over an existing file: replaced, its link dropped.
    b.rename(b"f2", &b, b"g", 0).unwrap();
    assert_eq!(read(&b.lookup(b"g").unwrap(), 0, 1), b"F");
    assert_eq!(st(&g).nlink, 0);
    // NOREPLACE.
    b.create(b"h", 0o644, ROOT).unwrap();
    assert_eq!(b.rename(b"g", &b, b"h", RENAME_NOREPLACE), Err(Errno::EEXIST));
    // EXCHANGE swaps, even a directory with a file.
    let sub = root.mkdir(b"sub", 0o755, ROOT).unwrap();
    root.rename(b"sub", &b, b"h", RENAME_EXCHANGE).unwrap();
    assert_eq!(b.lookup(b"h").unwrap().file_type(), S_IFDIR);
    assert_eq!(root.lookup(b"sub").unwrap().file_type(), S_IFREG);
    assert_eq!(st(&b).nlink, 3, "b gained a subdirectory");
    assert_eq!(st(&root).nlink, 4, "root: a, b, (sub moved out)");
    assert_eq!(root.rename(b"a", &b, b"absent", RENAME_EXCHANGE), Err(Errno::ENOENT));
    assert_eq!(root.rename(b"a", &b, b"h", RENAME_EXCHANGE | RENAME_NOREPLACE), Err(Errno::EINVAL));
    // Type mismatches and non-empty targets.
    assert_eq!(root.rename(b"a", &b, b"g", 0), Err(Errno::ENOTDIR), "directory over a file");
    assert_eq!(b.rename(b"g", &b, b"h", 0), Err(Errno::EISDIR), "file over a directory");
    sub.create(b"x", 0o644, ROOT).unwrap();
    assert_eq!(root.rename(b"a", &b, b"h", 0), Err(Errno::ENOTEMPTY));
    sub.unlink(b"x").unwrap();
    root.rename(b"a", &b, b"h", 0).unwrap();
    assert_eq!(st(&sub).nlink, 0, "the replaced directory is gone");
    assert_eq!(Arc::as_ptr(&b.lookup(b"h").unwrap()) as *const u8, Arc::as_ptr(&a) as *const u8);
    // Into itself.
    let inner = a.mkdir(b"inner", 0o755, ROOT).unwrap();
    assert_eq!(b.rename(b"h", &inner, b"loop", 0), Err(Errno::EINVAL));
    assert_eq!(b.rename(b"h", &a, b"self", 0), Err(Errno::EINVAL));
    // Same file under two names: nothing happens.
    b.link(b"g2", &b.lookup(b"g").unwrap()).unwrap();
    b.rename(b"g", &b, b"g2", 0).unwrap();
    assert!(b.lookup(b"g").is_ok() && b.lookup(b"g2").is_ok());
    // Across mounts, dots, and a whiteout left behind.
    let other = mount();
    let other_root = dyn_root(&other);
    assert_eq!(b.rename(b"g", &other_root, b"g", 0), Err(Errno::EXDEV));
    assert_eq!(b.rename(b".", &b, b"z", 0), Err(Errno::EBUSY));
    assert_eq!(b.rename(b"missing", &b, b"z", 0), Err(Errno::ENOENT));
    b.rename(b"g", &b, b"w", RENAME_WHITEOUT).unwrap();
    let wh = st(&b.lookup(b"g").unwrap());
    assert_eq!((wh.mode & S_IFMT, wh.rdev), (S_IFCHR, 0));
    assert_eq!(b.rename(b"w", &b, b"q", 0x80), Err(Errno::EINVAL), "unknown flag");
}

#[test]
fn readdir_cookies_are_stable_across_inserts_and_removals() {
    let fs = mount();
    let root = dyn_root(&fs);
    for n in ["a", "b", "c", "d"] {
        root.create(n.as_bytes(), 0o644, ROOT).unwrap();
    }
    let dir = root.open(libc::O_RDONLY).unwrap();
    let first = dir.readdir(0).unwrap();
    let listed: Vec<&[u8]> = first.iter().map(|e| e.name.as_slice()).collect();
    assert_eq!(listed, [&b"."[..], b"..", b"a", b"b", b"c", b"d"]);
    assert_eq!(first[0].ino, st(&root).ino);
    assert_eq!(first[2].kind, libc::DT_REG);
    // Stop after "b", change the directory, continue from the saved cookie.
    let after_b = first[3].next;
    root.unlink(b"a").unwrap();
    root.unlink(b"c").unwrap();
    root.create(b"e", 0o644, ROOT).unwrap();
    let rest: Vec<Vec<u8>> = dir.readdir(after_b).unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(rest, [b"d".to_vec(), b"e".to_vec()]);
    // The cookie of an entry does not change when others come and go.
    let d_cookie = dir.readdir(0).unwrap().iter().find(|e| e.name == b"d").unwrap().next;
    root.create(b"f", 0o644, ROOT).unwrap();
    root.unlink(b"b").unwrap();
    assert_eq!(dir.readdir(0).unwrap().iter().find(|e| e.name == b"d").unwrap().next, d_cookie);
    assert_eq!(names(&root), [".", "..", "d", "e", "f"]);
    // ".." of a subdirectory is its parent.
    let sub = root.mkdir(b"sub", 0o755, ROOT).unwrap();
    let dots = sub.open(libc::O_RDONLY).unwrap().readdir(0).unwrap();
    assert_eq!(dots[1].ino, st(&root).ino);
    assert_eq!(dots.len(), 2);
}

#[test]
fn max_bytes_gives_enospc() {
    let opts = TmpfsOptions { max_bytes: Some(2 * 4096), ..TmpfsOptions::default() };
    let fs = Tmpfs::new(Arc::new(MemoryFile::new().unwrap()), opts);
    let root = dyn_root(&fs);
    let f = root.create(b"f", 0o644, ROOT).unwrap();
    let open = f.open(libc::O_WRONLY).unwrap();
    assert_eq!(open.write(0, &[1u8; 3 * 4096]).unwrap(), 2 * 4096, "a short write up to the limit");
    assert_eq!(open.write(2 * 4096, b"x"), Err(Errno::ENOSPC));
    // Holes cost nothing; rewriting allocated pages is fine.
    f.setattr(&SetAttr { size: Some(1 << 30), ..SetAttr::default() }).unwrap();
    assert_eq!(open.write(0, b"ok").unwrap(), 2);
    f.setattr(&SetAttr { size: Some(0), ..SetAttr::default() }).unwrap();
    assert_eq!(open.write(0, &[1u8; 4096]).unwrap(), 4096, "truncate gave the space back");
    assert_eq!(open.write(i64::MAX as u64, b"x"), Err(Errno::EFBIG));
}

#[test]
fn page_offsets_share_pages_with_read_and_write() {
    let mf = Arc::new(MemoryFile::new().unwrap());
    let fs = Tmpfs::new(mf.clone(), TmpfsOptions::default());
    let root = fs.root();
    let f = root.create(b"f", 0o644, ROOT).unwrap();
    write(&f, 4096, b"second page");
    f.setattr(&SetAttr { size: Some(3 * 4096), ..SetAttr::default() }).unwrap();
    let node = root.child(b"f").unwrap();
    let pages = node.page_offsets(0, 10, false).unwrap();
    assert_eq!(pages.len(), 3, "stops at the end of the file");
    assert!(pages[0].is_none() && pages[1].is_some() && pages[2].is_none());
    let mut buf = [0u8; 11];
    mf.read(pages[1].unwrap(), &mut buf);
    assert_eq!(&buf, b"second page");
    // Writing through the "mapping" is seen by read.
    let pages = node.page_offsets(0, 1, true).unwrap();
    mf.write(pages[0].unwrap() + 10, b"mapped");
    assert_eq!(read(&f, 10, 6), b"mapped");
    // The opened file leads back to the inode.
    let open = f.open(libc::O_RDWR).unwrap();
    let tf = open.as_any().unwrap().downcast_ref::<TmpfsFile>().unwrap();
    assert!(Arc::ptr_eq(tf.inode(), &node));
    // Truncating a mapped file keeps the cut pages out of reuse until the mapping goes.
    let guard = node.map_guard().unwrap();
    let used = fs.used_bytes();
    f.setattr(&SetAttr { size: Some(0), ..SetAttr::default() }).unwrap();
    assert_eq!(fs.used_bytes(), used);
    drop(guard);
    assert_eq!(fs.used_bytes(), 0);
}

#[test]
fn dentry_cache_stays_coherent_with_insert_and_invalidate() {
    let fs = mount();
    let root = Dentry::root(fs.root());
    assert_eq!(root.child(b"f").err(), Some(Errno::ENOENT), "cached as negative");
    let inode = root.inode.create(b"f", 0o644, ROOT).unwrap();
    assert_eq!(root.child(b"f").err(), Some(Errno::ENOENT), "the stale negative entry");
    let d = root.insert(b"f", inode);
    assert!(Arc::ptr_eq(&root.child(b"f").unwrap(), &d));
    root.inode.rename(b"f", &root.inode, b"g", 0).unwrap();
    assert!(root.invalidate(b"f"));
    assert!(root.invalidate(b"g"));
    assert_eq!(root.child(b"f").err(), Some(Errno::ENOENT));
    assert!(root.child(b"g").is_ok());
    let m = root.insert(b"m", root.inode.mkdir(b"m", 0o755, ROOT).unwrap());
    m.mount(mount().root()).unwrap();
    assert!(m.is_mountpoint());
    assert!(!root.invalidate(b"m"), "mount points stay");
}

#[test]
fn concurrent_creates_and_renames_keep_counts_right() {
    let fs = mount();
    let root = dyn_root(&fs);
    let a = root.mkdir(b"a", 0o755, ROOT).unwrap();
    let b = root.mkdir(b"b", 0o755, ROOT).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (a, b) = (a.clone(), b.clone());
            std::thread::spawn(move || {
                for i in 0..50 {
                    let name = format!("t{t}-{i}");
                    if i % 5 == 0 {
                        a.mkdir(name.as_bytes(), 0o755, ROOT).unwrap();
                    } else {
                        let f = a.create(name.as_bytes(), 0o644, ROOT).unwrap();
                        write(&f, 0, name.as_bytes());
                    }
                    if i % 2 == 0 {
                        a.rename(name.as_bytes(), &b, name.as_bytes(), 0).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(names(&a).len(), 2 + 8 * 25);
    assert_eq!(names(&b).len(), 2 + 8 * 25);
    // Directories: i % 5 == 0, half of them (even i) moved to b.
    assert_eq!(st(&a).nlink, 2 + 8 * 5);
    assert_eq!(st(&b).nlink, 2 + 8 * 5);
    let cookies: std::collections::HashSet<u64> = b.open(libc::O_RDONLY).unwrap().readdir(0).unwrap().iter().map(|e| e.next).collect();
    assert_eq!(cookies.len(), 2 + 8 * 25);
    assert_eq!(read(&b.lookup(b"t3-4").unwrap(), 0, 10), b"t3-4");
}

#[test]
fn append_writes_at_the_end_in_one_step() {
    let fs = mount();
    let root = dyn_root(&fs);
    let f = root.create(b"f", 0o644, ROOT).unwrap();
    write(&f, 0, b"abc");
    let file = f.open(libc::O_WRONLY | libc::O_APPEND).unwrap();
    assert_eq!(file.append(b"de").unwrap(), (2, 5));
    assert_eq!(read(&f, 0, 10), b"abcde");
}

#[test]
fn fallocate_extends_keeps_size_and_punches_holes() {
    let fs = mount();
    let root = dyn_root(&fs);
    let f = root.create(b"f", 0o644, ROOT).unwrap();
    let file = f.open(libc::O_RDWR).unwrap();
    file.fallocate(0, 0, 3 * 4096).unwrap();
    assert_eq!(f.stat().unwrap().size, 3 * 4096);
    assert_eq!(fs.used_bytes(), 3 * 4096, "mode 0 allocates the pages");
    file.fallocate(libc::FALLOC_FL_KEEP_SIZE, 0, 10 * 4096).unwrap();
    assert_eq!(f.stat().unwrap().size, 3 * 4096, "KEEP_SIZE keeps the size");
    write(&f, 0, &[7u8; 3 * 4096]);
    file.fallocate(libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE, 100, 2 * 4096).unwrap();
    assert_eq!(fs.used_bytes(), 2 * 4096, "the one whole page in the range is freed");
    let data = read(&f, 0, 3 * 4096);
    assert!(data[..100].iter().all(|&b| b == 7) && data[100..100 + 2 * 4096].iter().all(|&b| b == 0));
    assert!(data[100 + 2 * 4096..].iter().all(|&b| b == 7));
    assert_eq!(f.stat().unwrap().size, 3 * 4096);
}

#[test]
fn tmpfiles_have_no_name_until_linked() {
    let fs = mount();
    let root = dyn_root(&fs);
    let t = root.tmpfile(0o600, ROOT, true).unwrap();
    assert_eq!(t.stat().unwrap().nlink, 0);
    assert!(names(&root).iter().all(|n| n == "." || n == ".."));
    write(&t, 0, b"x");
    root.link(b"named", &t).unwrap();
    assert_eq!(t.stat().unwrap().nlink, 1);
    assert_eq!(read(&root.lookup(b"named").unwrap(), 0, 1), b"x");
    let excl = root.tmpfile(0o600, ROOT, false).unwrap();
    assert_eq!(root.link(b"other", &excl).err(), Some(Errno::ENOENT), "O_EXCL tmpfiles stay unnamed");
    assert!(fs.statfs().files >= fs.statfs().ffree);
}

#[test]
fn seals_refuse_what_they_seal() {
    let fs = Tmpfs::new(Arc::new(crate::mm::MemoryFile::new().unwrap()), TmpfsOptions::default());
    let plain = fs.root().new_memfd(false, false, Owner::default());
    assert_eq!(plain.seals().unwrap(), F_SEAL_SEAL);
    assert_eq!(plain.add_seals(F_SEAL_WRITE).err(), Some(Errno::EPERM));
    let f = fs.root().new_memfd(true, false, Owner::default());
    assert_eq!(f.write_at(0, b"0123456789").unwrap(), 10);
    f.add_seals(F_SEAL_SHRINK | F_SEAL_GROW).unwrap();
    assert_eq!(f.setattr(&SetAttr { size: Some(5), ..SetAttr::default() }).err(), Some(Errno::EPERM));
    assert_eq!(f.setattr(&SetAttr { size: Some(20), ..SetAttr::default() }).err(), Some(Errno::EPERM));
    assert_eq!(f.write_at(8, b"abcd").unwrap(), 2, "a write stops at the sealed end");
    let guard = f.map_guard_shared(true, true).unwrap();
    assert_eq!(f.add_seals(F_SEAL_WRITE).err(), Some(Errno::EBUSY));
    drop(guard);
    f.add_seals(F_SEAL_WRITE).unwrap();
    assert_eq!(f.write_at(0, b"x").err(), Some(Errno::EPERM));
    assert_eq!(f.map_guard_shared(true, true).err(), Some(Errno::EPERM));
    assert!(f.map_guard_shared(false, true).is_ok(), "read-only shared maps are fine");
}
