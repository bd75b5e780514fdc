//! Gofer-backed inodes against a real gofer server (in a thread) serving a temp tree.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::*;

/// A temp tree served by a gofer thread; the tree is removed on drop.
struct Served {
    root: Arc<GoferInode>,
    host: PathBuf,
}

impl Served {
    /// Serves `build`'s tree as the root mount (read-only) or as the bind mount `/data`.
    fn new(writable: bool, build: impl FnOnce(&std::path::Path)) -> Served {
        static N: AtomicUsize = AtomicUsize::new(0);
        let host = std::env::temp_dir().join(format!(
            "sentry-gofer-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&host).unwrap();
        build(&host);
        let (a, b) = gofer::socket_pair().unwrap();
        let name: &[u8] = if writable { b"/data" } else { b"" };
        let mount = gofer::Mount::open(name, &host, writable).unwrap();
        std::thread::spawn(move || gofer::serve(b, vec![mount]));
        let client = Arc::new(Client::new(a));
        let root = if writable { GoferInode::attach_mount(client, name) } else { GoferInode::attach(client) };
        Served { root: root.unwrap(), host }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.host);
    }
}

fn read_all(f: &Arc<dyn FileOps>) -> Vec<u8> {
    let mut buf = vec![0; 64];
    let n = f.read(0, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn tree(p: &std::path::Path) {
    std::fs::write(p.join("f"), "file").unwrap();
    std::fs::create_dir(p.join("d")).unwrap();
    std::os::unix::fs::symlink("d/../f", p.join("l")).unwrap();
}

#[test]
fn read_only_files_open_by_name_and_check_the_inode() {
    let s = Served::new(false, tree);
    let f = s.root.lookup(b"f").unwrap();
    let never_opened = s.root.lookup(b"f").unwrap();
    assert_eq!(read_all(&f.open(libc::O_RDONLY).unwrap()), b"file");
    assert_eq!(f.open(libc::O_WRONLY).err(), Some(Errno::EROFS));
    // The host replaces the file: an inode opened before keeps the host file it opened (later
    // opens share that fd); one never opened no longer opens.
    std::fs::write(s.host.join("g"), "other").unwrap();
    std::fs::rename(s.host.join("g"), s.host.join("f")).unwrap();
    assert_eq!(read_all(&f.open(libc::O_RDONLY).unwrap()), b"file");
    assert_eq!(never_opened.open(libc::O_RDONLY).err(), Some(Errno(libc::ESTALE)));
    assert_eq!(read_all(&s.root.lookup(b"f").unwrap().open(libc::O_RDONLY).unwrap()), b"other");
}

#[test]
fn read_only_opens_share_one_host_fd_while_cached() {
    let s = Served::new(false, tree);
    let f = s.root.lookup(b"f").unwrap();
    let g = f.as_any().and_then(|a| a.downcast_ref::<GoferInode>()).unwrap();
    let (a, b) = (f.open(libc::O_RDONLY).unwrap(), f.open(libc::O_RDONLY).unwrap());
    assert_eq!(Arc::strong_count(g.shared_fd.get().unwrap()), 3, "the inode and both opens");
    assert_eq!((read_all(&a), read_all(&b)), (b"file".to_vec(), b"file".to_vec()));
    drop((a, b));
    assert_eq!(Arc::strong_count(g.shared_fd.get().unwrap()), 1);
}

#[test]
fn symlink_target_comes_with_the_lookup() {
    for writable in [false, true] {
        let s = Served::new(writable, tree);
        let l = s.root.lookup(b"l").unwrap();
        // Gone from the host afterwards: the target came with the walk.
        std::fs::remove_file(s.host.join("l")).unwrap();
        assert_eq!(l.readlink().unwrap(), b"d/../f", "writable {writable}");
        assert_eq!(s.root.lookup(b"l").err(), Some(Errno::ENOENT));
    }
}

#[test]
fn a_listing_ends_without_asking_again() {
    let s = Served::new(false, tree);
    let dir = s.root.open(libc::O_RDONLY | libc::O_DIRECTORY).unwrap();
    let all = dir.readdir(0).unwrap();
    let mut names: Vec<_> = all.iter().map(|e| e.name.clone()).collect();
    names.sort();
    assert_eq!(names, [&b"."[..], b"..", b"d", b"f", b"l"]);
    // Answered here: a name the host adds now is not seen at this end.
    std::fs::write(s.host.join("new"), "").unwrap();
    let end = all.last().unwrap().next;
    assert_eq!(dir.readdir(end).unwrap().len(), 0);
    // A fresh listing asks again.
    assert_eq!(dir.readdir(0).unwrap().len(), 6);
}

#[test]
fn writable_files_keep_their_fid() {
    let s = Served::new(true, tree);
    let f = s.root.lookup(b"f").unwrap();
    let w = f.open(libc::O_WRONLY | libc::O_TRUNC).unwrap();
    assert_eq!(w.write(0, b"new").unwrap(), 3);
    assert_eq!(std::fs::read(s.host.join("f")).unwrap(), b"new");
    assert_eq!(f.stat().unwrap().size, 3);
}
