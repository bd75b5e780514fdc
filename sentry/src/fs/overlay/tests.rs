//! The overlay over a read-only tmpfs lower tree, wrapped so that any attempt to change the
//! lower tree panics.

use std::collections::HashSet;
use std::sync::Arc;

use super::*;
use crate::fs::tmpfs::{TmpfsFile, TmpfsOptions};
use crate::mm::MemoryFile;

const USER: Owner = Owner { uid: 1000, gid: 1000 };

/// A lower-tree inode that answers reads and panics on any change.
struct Probe(Arc<dyn Inode>);

/// An open lower file.
struct ProbeFile(Arc<dyn FileOps>);

impl Inode for Probe {
    fn stat(&self) -> SysResult<Stat> {
        self.0.stat()
    }
    fn file_type(&self) -> u32 {
        self.0.file_type()
    }
    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        Ok(Arc::new(Probe(self.0.lookup(name)?)))
    }
    fn readlink(&self) -> SysResult<Vec<u8>> {
        self.0.readlink()
    }
    fn open(&self, flags: i32) -> SysResult<Arc<dyn FileOps>> {
        assert_eq!(flags & (libc::O_ACCMODE | libc::O_TRUNC | libc::O_CREAT), 0, "lower opened for writing");
        Ok(Arc::new(ProbeFile(self.0.open(flags)?)))
    }
    fn create(&self, _: &[u8], _: u32, _: Owner) -> SysResult<Arc<dyn Inode>> {
        panic!("lower written: create")
    }
    fn mkdir(&self, _: &[u8], _: u32, _: Owner) -> SysResult<Arc<dyn Inode>> {
        panic!("lower written: mkdir")
    }
    fn mknod(&self, _: &[u8], _: u32, _: u64, _: Owner) -> SysResult<Arc<dyn Inode>> {
        panic!("lower written: mknod")
    }
    fn symlink(&self, _: &[u8], _: &[u8], _: Owner) -> SysResult<Arc<dyn Inode>> {
        panic!("lower written: symlink")
    }
    fn link(&self, _: &[u8], _: &Arc<dyn Inode>) -> SysResult<Arc<dyn Inode>> {
        panic!("lower written: link")
    }
    fn unlink(&self, _: &[u8]) -> SysResult<()> {
        panic!("lower written: unlink")
    }
    fn rmdir(&self, _: &[u8]) -> SysResult<()> {
        panic!("lower written: rmdir")
    }
    fn rename(&self, _: &[u8], _: &Arc<dyn Inode>, _: &[u8], _: u32) -> SysResult<()> {
        panic!("lower written: rename")
    }
    fn setattr(&self, _: &SetAttr) -> SysResult<()> {
        panic!("lower written: setattr")
    }
}

impl FileOps for ProbeFile {
    fn read(&self, offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        self.0.read(offset, buf)
    }
    fn write(&self, _: u64, _: &[u8]) -> SysResult<usize> {
        panic!("lower written: write")
    }
    fn stat(&self) -> SysResult<Stat> {
        self.0.stat()
    }
    fn readdir(&self, cookie: u64) -> SysResult<Vec<DirEntry>> {
        self.0.readdir(cookie)
    }
    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

struct Fixture {
    /// The lower tree itself (not through the probe), to check it never changes.
    lower: Arc<dyn Inode>,
    lower_dev: u64,
    upper: Arc<Tmpfs>,
    root: Arc<dyn Inode>,
}

/// A three-page pattern with a hole in the middle page.
fn sparse_data() -> Vec<u8> {
    let mut v: Vec<u8> = (0..3 * 4096u32).map(|i| (i % 253) as u8 + 1).collect();
    v[4096..8192].fill(0);
    v
}

/// lower: /etc/{passwd, hosts}, /d/{a, b, c, sub/x}, /empty/, /data (uid 7, gid 8, 0640,
/// fixed times, sparse), /link -> etc/passwd
fn fixture() -> Fixture {
    let mf = Arc::new(MemoryFile::new().unwrap());
    let lower_fs = Tmpfs::new(mf.clone(), TmpfsOptions { mode: 0o755, ..TmpfsOptions::default() });
    let l: Arc<dyn Inode> = lower_fs.root();
    let file = |dir: &Arc<dyn Inode>, name: &str, data: &[u8]| {
        let f = dir.create(name.as_bytes(), 0o644, ROOT).unwrap();
        f.open(libc::O_WRONLY).unwrap().write(0, data).unwrap();
        f
    };
    let etc = l.mkdir(b"etc", 0o755, ROOT).unwrap();
    file(&etc, "passwd", b"root:x:0:0");
    file(&etc, "hosts", b"127.0.0.1 localhost");
    let d = l.mkdir(b"d", 0o755, ROOT).unwrap();
    file(&d, "a", b"A");
    file(&d, "b", b"B");
    file(&d, "c", b"C");
    let sub = d.mkdir(b"sub", 0o755, ROOT).unwrap();
    file(&sub, "x", b"X");
    l.mkdir(b"empty", 0o755, ROOT).unwrap();
    let data = file(&l, "data", &sparse_data());
    data.setattr(&SetAttr {
        mode: Some(0o640),
        uid: Some(7),
        gid: Some(8),
        atime: at(111, 1),
        mtime: at(222, 2),
        size: None,
    })
    .unwrap();
    l.symlink(b"link", b"etc/passwd", ROOT).unwrap();
    lower_fs.set_read_only(true);
    let upper = Tmpfs::new(mf, TmpfsOptions::default());
    let root = Overlay::mount(Arc::new(Probe(l.clone())), upper.clone()).unwrap();
    Fixture { lower_dev: lower_fs.dev(), lower: l, upper, root }
}

fn walk(root: &Arc<dyn Inode>, path: &str) -> SysResult<Arc<dyn Inode>> {
    let mut cur = root.clone();
    for n in path.split('/').filter(|n| !n.is_empty()) {
        cur = cur.lookup(n.as_bytes())?;
    }
    Ok(cur)
}

fn read_all(i: &Arc<dyn Inode>) -> Vec<u8> {
    let f = i.open(libc::O_RDONLY).unwrap();
    let mut out = vec![0u8; 1 << 16];
    let n = f.read(0, &mut out).unwrap();
    out.truncate(n);
    out
}

fn cat(root: &Arc<dyn Inode>, path: &str) -> Vec<u8> {
    read_all(&walk(root, path).unwrap())
}

fn put(root: &Arc<dyn Inode>, path: &str, off: u64, data: &[u8]) {
    walk(root, path).unwrap().open(libc::O_WRONLY).unwrap().write(off, data).unwrap();
}

fn ls(dir: &Arc<dyn Inode>) -> Vec<String> {
    let f = dir.open(libc::O_RDONLY).unwrap();
    let mut out = Vec::new();
    let mut cookie = 0;
    loop {
        let batch = f.readdir(cookie).unwrap();
        let Some(last) = batch.last() else { break };
        cookie = last.next;
        out.extend(batch.into_iter().map(|e| String::from_utf8(e.name).unwrap()).filter(|n| n != "." && n != ".."));
    }
    out.sort();
    out
}

fn ls_at(root: &Arc<dyn Inode>, path: &str) -> Vec<String> {
    ls(&walk(root, path).unwrap())
}

fn upper_dir(fx: &Fixture) -> Arc<TmpfsInode> {
    fx.upper.root().child(b"upper").unwrap()
}

/// The lower tree is what `fixture` made.
fn assert_lower_untouched(fx: &Fixture) {
    assert_eq!(ls(&fx.lower), ["d", "data", "empty", "etc", "link"]);
    assert_eq!(ls_at(&fx.lower, "d"), ["a", "b", "c", "sub"]);
    assert_eq!(cat(&fx.lower, "etc/passwd"), b"root:x:0:0");
    assert_eq!(cat(&fx.lower, "etc/hosts"), b"127.0.0.1 localhost");
    assert_eq!(cat(&fx.lower, "d/a"), b"A");
    assert_eq!(cat(&fx.lower, "d/sub/x"), b"X");
    assert_eq!(cat(&fx.lower, "data"), sparse_data());
}

fn serves_from_lower(f: &Arc<dyn FileOps>) -> bool {
    let o = f.as_any().unwrap().downcast_ref::<OverlayFile>().unwrap();
    o.inner().unwrap().as_any().unwrap().is::<ProbeFile>()
}

#[test]
fn reads_come_from_the_lower_file_until_a_copy_up() {
    let fx = fixture();
    let passwd = walk(&fx.root, "etc/passwd").unwrap();
    let ro = passwd.open(libc::O_RDONLY).unwrap();
    assert!(serves_from_lower(&ro), "a read-only open of a lower file opens the lower file");
    let mut buf = [0u8; 10];
    ro.read(0, &mut buf).unwrap();
    assert_eq!(&buf, b"root:x:0:0");
    let rw = passwd.open(libc::O_RDWR).unwrap();
    assert!(!serves_from_lower(&rw));
    rw.write(0, b"ROOT").unwrap();
    assert_eq!(cat(&fx.root, "etc/passwd"), b"ROOT:x:0:0");
    ro.read(0, &mut buf).unwrap();
    assert_eq!(&buf, b"ROOT:x:0:0", "an earlier read-only open sees the copy");
    assert!(!serves_from_lower(&ro));
    let inner = ro.as_any().unwrap().downcast_ref::<OverlayFile>().unwrap().inner().unwrap();
    assert!(inner.as_any().unwrap().is::<TmpfsFile>(), "mmap can reach the tmpfs pages");
    // The upper copy sits at the same path in the upper layer.
    let up = upper_dir(&fx).child(b"etc").unwrap().child(b"passwd").unwrap();
    assert_eq!(read_all(&(up as Arc<dyn Inode>)), b"ROOT:x:0:0");
    // A lookup through a fresh path finds the same node.
    assert!(Arc::ptr_eq(&walk(&fx.root, "etc/passwd").unwrap(), &passwd));
    assert_eq!(walk(&fx.root, "link").unwrap().readlink().unwrap(), b"etc/passwd");
    assert_lower_untouched(&fx);
}

#[test]
fn copy_up_keeps_data_and_metadata() {
    let fx = fixture();
    let data = walk(&fx.root, "data").unwrap();
    let root_before = fx.root.stat().unwrap();
    let s0 = data.stat().unwrap();
    let lower_ino = walk(&fx.lower, "data").unwrap().stat().unwrap().ino;
    assert_eq!(s0.ino, lower_ino);
    assert_ne!(s0.dev, fx.lower_dev, "one st_dev for the overlay");
    // Opening for writing copies up, writes nothing.
    drop(data.open(libc::O_WRONLY).unwrap());
    let s1 = data.stat().unwrap();
    assert_eq!((s1.dev, s1.ino, s1.mode, s1.uid, s1.gid, s1.size), (s0.dev, s0.ino, s0.mode, s0.uid, s0.gid, s0.size));
    assert_eq!((s1.atime, s1.atime_nsec, s1.mtime, s1.mtime_nsec), (111, 1, 222, 2));
    assert_eq!(s1.mode, S_IFREG | 0o640);
    assert_eq!(s1.blocks, 2 * 8, "the hole stays a hole");
    assert_eq!(read_all(&data), sparse_data());
    let r = fx.root.stat().unwrap();
    assert_eq!((r.mtime, r.mtime_nsec), (root_before.mtime, root_before.mtime_nsec), "a copy-up is no change of /");
    // Now a real write moves mtime.
    put(&fx.root, "data", 0, b"z");
    assert!(data.stat().unwrap().mtime > 222);
    // setattr copies up too, here a symlink (lchown).
    let link = walk(&fx.root, "link").unwrap();
    let li = link.stat().unwrap().ino;
    link.setattr(&SetAttr { uid: Some(5), ..SetAttr::default() }).unwrap();
    let ls_ = link.stat().unwrap();
    assert_eq!((ls_.uid, ls_.ino, ls_.mode), (5, li, S_IFLNK | 0o777));
    assert_eq!(link.readlink().unwrap(), b"etc/passwd");
    // Truncating copies no data.
    let hosts = walk(&fx.root, "etc/hosts").unwrap();
    hosts.setattr(&SetAttr { size: Some(3), ..SetAttr::default() }).unwrap();
    assert_eq!(read_all(&hosts), b"127");
    let t = hosts.open(libc::O_WRONLY | libc::O_TRUNC).unwrap();
    assert_eq!(t.stat().unwrap().size, 0);
    assert_lower_untouched(&fx);
}

#[test]
fn unlink_leaves_a_whiteout_and_a_name_can_come_back() {
    let fx = fixture();
    let d = walk(&fx.root, "d").unwrap();
    let open_a = walk(&fx.root, "d/a").unwrap().open(libc::O_RDONLY).unwrap();
    d.unlink(b"a").unwrap();
    assert_eq!(d.lookup(b"a").err(), Some(Errno::ENOENT));
    assert_eq!(ls(&d), ["b", "c", "sub"]);
    let wh = upper_dir(&fx).child(b"d").unwrap().child(b"a").unwrap();
    assert!(is_whiteout(&wh));
    let mut buf = [0u8; 1];
    assert_eq!(open_a.read(0, &mut buf).unwrap(), 1, "an open file outlives its name");
    assert_eq!(d.unlink(b"a"), Err(Errno::ENOENT));
    // Back again: a new, empty file.
    let a = d.create(b"a", 0o600, USER).unwrap();
    assert_eq!(read_all(&a), b"");
    put(&fx.root, "d/a", 0, b"new");
    assert_eq!(cat(&fx.root, "d/a"), b"new");
    assert_eq!(ls(&d), ["a", "b", "c", "sub"]);
    let s = a.stat().unwrap();
    assert_eq!((s.uid, s.mode), (1000, S_IFREG | 0o600));
    assert_ne!(s.ino & UPPER_INO, 0, "a file made in the overlay has an upper inode number");
    // And gone again: still a whiteout over the lower file.
    d.unlink(b"a").unwrap();
    assert_eq!(ls(&d), ["b", "c", "sub"]);
    // A copied-up file goes the same way.
    put(&fx.root, "d/b", 0, b"b");
    d.unlink(b"b").unwrap();
    assert_eq!(d.lookup(b"b").err(), Some(Errno::ENOENT));
    // A file only in the upper layer leaves nothing behind.
    d.create(b"tmp", 0o644, USER).unwrap();
    d.unlink(b"tmp").unwrap();
    assert!(upper_dir(&fx).child(b"d").unwrap().child(b"tmp").is_err());
    assert_eq!(d.unlink(b"sub"), Err(Errno::EISDIR));
    assert_eq!(d.mknod(b"w", S_IFCHR | 0o600, 0, USER).err(), Some(Errno::EPERM));
    assert_eq!(fx.upper.root().child(b"work").unwrap().children().unwrap().len(), 0, "work is left clean");
    assert_lower_untouched(&fx);
}

#[test]
fn rmdir_then_mkdir_makes_an_opaque_directory() {
    let fx = fixture();
    let d = walk(&fx.root, "d").unwrap();
    assert_eq!(fx.root.rmdir(b"d"), Err(Errno::ENOTEMPTY));
    for n in ["a", "b", "c"] {
        d.unlink(n.as_bytes()).unwrap();
    }
    let sub = walk(&fx.root, "d/sub").unwrap();
    sub.unlink(b"x").unwrap();
    assert_eq!(ls(&sub), Vec::<String>::new());
    assert_eq!(fx.root.rmdir(b"d"), Err(Errno::ENOTEMPTY), "sub is still there");
    d.rmdir(b"sub").unwrap();
    assert_eq!(ls(&d), Vec::<String>::new());
    fx.root.rmdir(b"d").unwrap();
    assert_eq!(fx.root.lookup(b"d").err(), Some(Errno::ENOENT));
    assert!(!ls(&fx.root).contains(&"d".to_string()));
    assert_eq!(d.create(b"late", 0o644, USER).err(), Some(Errno::ENOENT), "the removed directory takes no new files");
    // Made again: empty, hiding the lower d.
    let d2 = fx.root.mkdir(b"d", 0o700, USER).unwrap();
    assert_eq!(ls(&d2), Vec::<String>::new());
    assert_eq!(d2.lookup(b"b").err(), Some(Errno::ENOENT));
    assert_eq!(d2.stat().unwrap().mode, S_IFDIR | 0o700);
    assert!(is_opaque(&upper_dir(&fx).child(b"d").unwrap()));
    d2.create(b"b", 0o644, USER).unwrap();
    assert_eq!(ls(&d2), ["b"]);
    // An empty lower directory can go at once.
    fx.root.rmdir(b"empty").unwrap();
    assert_eq!(fx.root.lookup(b"empty").err(), Some(Errno::ENOENT));
    assert_lower_untouched(&fx);
}

#[test]
fn rename_semantics() {
    let fx = fixture();
    let d = walk(&fx.root, "d").unwrap();
    let etc = walk(&fx.root, "etc").unwrap();
    let a_ino = walk(&fx.root, "d/a").unwrap().stat().unwrap().ino;
    // A lower file: copied up, moved, a whiteout left behind.
    d.rename(b"a", &d, b"z", 0).unwrap();
    assert_eq!(d.lookup(b"a").err(), Some(Errno::ENOENT));
    assert_eq!(cat(&fx.root, "d/z"), b"A");
    assert_eq!(walk(&fx.root, "d/z").unwrap().stat().unwrap().ino, a_ino, "the inode number moves with the file");
    assert_eq!(ls(&d), ["b", "c", "sub", "z"]);
    // Directories with a lower part: EXDEV.
    assert_eq!(fx.root.rename(b"d", &fx.root, b"d2", 0), Err(Errno::EXDEV));
    assert_eq!(d.rename(b"sub", &fx.root, b"sub", 0), Err(Errno::EXDEV));
    // A directory made in the overlay moves freely, contents and all.
    let new = fx.root.mkdir(b"new", 0o755, USER).unwrap();
    new.create(b"f", 0o644, USER).unwrap();
    fx.root.rename(b"new", &d, b"moved", 0).unwrap();
    assert_eq!(ls_at(&fx.root, "d/moved"), ["f"]);
    assert_eq!(fx.root.lookup(b"new").err(), Some(Errno::ENOENT));
    // Over a lower file, across directories.
    d.rename(b"b", &etc, b"hosts", 0).unwrap();
    assert_eq!(cat(&fx.root, "etc/hosts"), b"B");
    assert_eq!(ls(&d), ["c", "moved", "sub", "z"]);
    // NOREPLACE, EXCHANGE.
    assert_eq!(d.rename(b"c", &etc, b"passwd", RENAME_NOREPLACE), Err(Errno::EEXIST));
    d.rename(b"c", &etc, b"passwd", RENAME_EXCHANGE).unwrap();
    assert_eq!(cat(&fx.root, "etc/passwd"), b"C");
    assert_eq!(cat(&fx.root, "d/c"), b"root:x:0:0");
    assert_eq!(d.rename(b"c", &etc, b"nothing", RENAME_EXCHANGE), Err(Errno::ENOENT));
    assert_eq!(d.rename(b"c", &etc, b"x", RENAME_WHITEOUT), Err(Errno::EINVAL));
    // Type mismatches, non-empty targets, loops, other filesystems.
    assert_eq!(d.rename(b"moved", &etc, b"passwd", 0), Err(Errno::ENOTDIR));
    assert_eq!(d.rename(b"c", &fx.root, b"empty", 0), Err(Errno::EISDIR));
    assert_eq!(d.rename(b"moved", &fx.root, b"etc", 0), Err(Errno::ENOTEMPTY), "a lower directory with files");
    let moved = walk(&fx.root, "d/moved").unwrap();
    assert_eq!(d.rename(b"moved", &moved, b"inner", 0), Err(Errno::EINVAL));
    let other = Tmpfs::new(Arc::new(MemoryFile::new().unwrap()), TmpfsOptions::default());
    let other_root: Arc<dyn Inode> = other.root();
    assert_eq!(d.rename(b"c", &other_root, b"c", 0), Err(Errno::EXDEV));
    assert_eq!(d.rename(b"missing", &d, b"m", 0), Err(Errno::ENOENT));
    // Onto an empty lower directory: the directory replaces it and hides it.
    d.rename(b"moved", &fx.root, b"empty", 0).unwrap();
    assert_eq!(ls_at(&fx.root, "empty"), ["f"]);
    assert!(is_opaque(&upper_dir(&fx).child(b"empty").unwrap()));
    // Onto a whiteout: a directory takes the name.
    d.unlink(b"z").unwrap();
    d.mkdir(b"zz", 0o755, USER).unwrap();
    d.rename(b"zz", &d, b"a", 0).unwrap();
    assert_eq!(walk(&fx.root, "d/a").unwrap().file_type(), S_IFDIR);
    assert_eq!(ls(&d), ["a", "c", "sub"]);
    // Onto an emptied merged directory whose upper copy holds whiteouts.
    let sub = walk(&fx.root, "d/sub").unwrap();
    sub.unlink(b"x").unwrap();
    d.rename(b"a", &d, b"sub", 0).unwrap();
    assert_eq!(ls(&d), ["c", "sub"]);
    assert_eq!(ls_at(&fx.root, "d/sub"), Vec::<String>::new());
    assert_eq!(walk(&fx.root, "d/sub/x").err(), Some(Errno::ENOENT));
    // Same file under two names: nothing happens.
    d.link(b"c2", &walk(&fx.root, "d/c").unwrap()).unwrap();
    d.rename(b"c", &d, b"c2", 0).unwrap();
    assert!(d.lookup(b"c").is_ok() && d.lookup(b"c2").is_ok());
    assert_eq!(fx.upper.root().child(b"work").unwrap().children().unwrap().len(), 0, "work is left clean");
    assert_lower_untouched(&fx);
}

#[test]
fn readdir_merges_layers_without_duplicates() {
    let fx = fixture();
    let d = walk(&fx.root, "d").unwrap();
    put(&fx.root, "d/b", 0, b"bb");
    d.create(b"e", 0o644, USER).unwrap();
    d.unlink(b"c").unwrap();
    let f = d.open(libc::O_RDONLY).unwrap();
    let all = f.readdir(0).unwrap();
    let names: Vec<&[u8]> = all.iter().map(|e| e.name.as_slice()).collect();
    let unique: HashSet<&[u8]> = names.iter().copied().collect();
    assert_eq!(names.len(), unique.len(), "no duplicates: {names:?}");
    assert_eq!(unique, HashSet::from([&b"."[..], b"..", b"a", b"b", b"e", b"sub"]));
    assert_eq!((names[0], names[1]), (&b"."[..], &b".."[..]));
    // Every entry's inode number is the one stat gives.
    for e in all.iter().filter(|e| !is_dot(&e.name)) {
        let i = d.lookup(&e.name).unwrap();
        assert_eq!(e.ino, i.stat().unwrap().ino, "{:?}", String::from_utf8_lossy(&e.name));
        assert_eq!(e.kind, dirent_type(i.file_type()));
    }
    assert_eq!(all[0].ino, d.stat().unwrap().ino);
    assert_eq!(all[1].ino, fx.root.stat().unwrap().ino);
    // Cookies are stable while the directory changes under the reader.
    let first = f.readdir(0).unwrap();
    let cookie = first[3].next;
    d.create(b"f", 0o644, USER).unwrap();
    d.unlink(b"a").unwrap();
    let rest = f.readdir(cookie).unwrap();
    assert_eq!(rest.len(), first.len() - 4);
    for (x, y) in rest.iter().zip(&first[4..]) {
        assert_eq!(x.name, y.name);
    }
    // A rewind sees the changes.
    let again: HashSet<Vec<u8>> = f.readdir(0).unwrap().into_iter().map(|e| e.name).collect();
    assert!(again.contains(&b"f"[..]) && !again.contains(&b"a"[..]));
    assert_eq!(ls_at(&fx.root, "d/sub"), ["x"], "a lower-only directory lists its lower entries");
    assert_lower_untouched(&fx);
}

#[test]
fn hard_links_and_inode_numbers() {
    let fx = fixture();
    let d = walk(&fx.root, "d").unwrap();
    let passwd = walk(&fx.root, "etc/passwd").unwrap();
    let ino = passwd.stat().unwrap().ino;
    let pw = d.link(b"pw", &passwd).unwrap();
    assert_eq!(pw.stat().unwrap().ino, ino);
    assert_eq!(passwd.stat().unwrap().nlink, 2);
    put(&fx.root, "d/pw", 0, b"LINK");
    assert_eq!(cat(&fx.root, "etc/passwd"), b"LINK:x:0:0");
    assert_eq!(d.link(b"b", &passwd).err(), Some(Errno::EEXIST));
    assert_eq!(d.link(b"s", &walk(&fx.root, "d/sub").unwrap()).err(), Some(Errno::EPERM));
    let dev = fx.root.stat().unwrap().dev;
    for p in ["etc", "etc/passwd", "d/pw", "d/sub/x", "link"] {
        assert_eq!(walk(&fx.root, p).unwrap().stat().unwrap().dev, dev, "{p}");
    }
    let lower_x = walk(&fx.lower, "d/sub/x").unwrap().stat().unwrap().ino;
    assert_eq!(walk(&fx.root, "d/sub/x").unwrap().stat().unwrap().ino, lower_x);
    // Over a whiteout.
    d.unlink(b"a").unwrap();
    d.link(b"a", &passwd).unwrap();
    assert_eq!(cat(&fx.root, "d/a"), b"LINK:x:0:0");
    assert_eq!(passwd.stat().unwrap().nlink, 3);
    assert_lower_untouched(&fx);
}

#[test]
fn new_files_of_every_kind() {
    let fx = fixture();
    let d = walk(&fx.root, "d").unwrap();
    let l = d.symlink(b"l", b"../etc", USER).unwrap();
    assert_eq!(l.readlink().unwrap(), b"../etc");
    let fifo = d.mknod(b"p", crate::vfs::S_IFIFO | 0o600, 0, USER).unwrap();
    assert_eq!(fifo.file_type(), crate::vfs::S_IFIFO);
    let sub = d.mkdir(b"new", 0o2775, USER).unwrap();
    let f = sub.create(b"f", 0o644, Owner { uid: 1, gid: 2 }).unwrap();
    assert_eq!(f.stat().unwrap().gid, 1000, "set-group-ID directory");
    assert_eq!(d.create(b"a", 0o644, USER).err(), Some(Errno::EEXIST));
    assert_eq!(d.mkdir(b"sub", 0o755, USER).err(), Some(Errno::EEXIST));
    assert_eq!(walk(&fx.root, "etc/passwd").unwrap().create(b"x", 0o644, USER).err(), Some(Errno::ENOTDIR));
    assert_eq!(ls(&d), ["a", "b", "c", "l", "new", "p", "sub"]);
    assert_eq!(fx.root.open(libc::O_RDWR).err(), Some(Errno::EISDIR));
    assert_lower_untouched(&fx);
}

#[test]
fn concurrent_writers_share_one_copy_up() {
    let fx = fixture();
    let threads: Vec<_> = (0..8u8)
        .map(|i| {
            let root = fx.root.clone();
            std::thread::spawn(move || {
                let f = walk(&root, "etc/passwd").unwrap().open(libc::O_RDWR).unwrap();
                f.write(20 + u64::from(i), &[b'0' + i]).unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let data = cat(&fx.root, "etc/passwd");
    assert_eq!(&data[..10], b"root:x:0:0");
    assert_eq!(&data[20..], b"01234567", "every write landed in the one copy");
    assert_eq!(fx.upper.root().child(b"work").unwrap().children().unwrap().len(), 0);
    assert_lower_untouched(&fx);
}

#[test]
fn listings_stay_consistent_while_a_directory_changes() {
    let fx = fixture();
    let d = walk(&fx.root, "d").unwrap();
    let writer = {
        let d = d.clone();
        std::thread::spawn(move || {
            for round in 0..50 {
                let name = format!("n{round}");
                d.create(name.as_bytes(), 0o644, USER).unwrap();
                if round % 2 == 0 {
                    d.unlink(name.as_bytes()).unwrap();
                }
            }
            for n in ["a", "b", "c"] {
                d.unlink(n.as_bytes()).unwrap();
            }
        })
    };
    for _ in 0..50 {
        let names = ls(&d);
        let unique: HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        for n in &names {
            // Whatever a listing shows either still exists or was removed since.
            match d.lookup(n.as_bytes()) {
                Ok(_) | Err(Errno::ENOENT) => {}
                Err(e) => panic!("{n}: {e:?}"),
            }
        }
    }
    writer.join().unwrap();
    let odd: Vec<String> = (0..50).filter(|r| r % 2 == 1).map(|r| format!("n{r}")).collect();
    let mut want: Vec<String> = odd.into_iter().chain(["sub".to_string()]).collect();
    want.sort();
    assert_eq!(ls(&d), want);
    assert_lower_untouched(&fx);
}
