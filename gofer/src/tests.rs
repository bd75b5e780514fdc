//! Protocol round trips, and a client/server pair over a socketpair serving a temp tree; the
//! write operations and several mounts are in [`write`], confinement in [`confine`], the
//! messages that save round trips in [`lookup`].

mod confine;
mod lookup;
mod write;

use std::collections::HashSet;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use crate::proto::{
    self, Header, Reply, Request, HEADER_LEN, MAX_CPU, MAX_MSG, OP_ATTACH, OP_MAX, OP_WALK, REPLY, VERSION,
};
use crate::{serve, transport, Attr, Client, Dirent, Errno, Mount, SetAttr, Statfs, Timespec};

// ---------------------------------------------------------------------------------------------
// Encoding.

fn sample_attr(seed: u64) -> Attr {
    Attr {
        mode: 0o100644,
        ino: seed,
        dev: seed + 1,
        nlink: 2,
        uid: 1000,
        gid: 1001,
        rdev: 0x0102,
        size: u64::MAX - seed,
        blksize: 4096,
        blocks: 8,
        atime: Timespec {
            sec: -1,
            nsec: 999_999_999,
        },
        mtime: Timespec {
            sec: 1_700_000_000,
            nsec: 5,
        },
        ctime: Timespec {
            sec: i64::MAX,
            nsec: 0,
        },
    }
}

fn request_roundtrip(req: Request) {
    let msg = req.encode().unwrap();
    let h = Header::parse(&msg).unwrap();
    assert_eq!(
        h,
        Header {
            op: req.op(),
            len: u32::try_from(msg.len() - HEADER_LEN).unwrap(),
            status: 0,
            nfds: 0
        }
    );
    assert_eq!(Request::decode(&msg, 0), Ok(req.clone()));
    // Any truncation, any extra byte, and any attached fd is rejected.
    for cut in 0..msg.len() {
        assert_eq!(
            Request::decode(&msg[..cut], 0),
            Err(Errno(libc::EINVAL)),
            "{req:?} cut at {cut}"
        );
    }
    let mut long = msg.clone();
    long.push(0);
    assert_eq!(Request::decode(&long, 0), Err(Errno(libc::EINVAL)));
    assert_eq!(Request::decode(&msg, 1), Err(Errno(libc::EINVAL)));
}

fn reply_roundtrip(reply: Reply) {
    let msg = reply.encode().unwrap();
    let nfds = usize::try_from(reply.nfds()).unwrap();
    let h = Header::parse(&msg).unwrap();
    assert_eq!(h.op, reply.op() | REPLY);
    assert_eq!(Reply::decode(reply.op(), &msg, nfds), Ok(reply.clone()));
    let eio = Err(Errno(libc::EIO));
    for cut in 0..msg.len() {
        assert_eq!(
            Reply::decode(reply.op(), &msg[..cut], nfds),
            eio,
            "{reply:?} cut at {cut}"
        );
    }
    let mut long = msg.clone();
    long.push(0);
    assert_eq!(Reply::decode(reply.op(), &long, nfds), eio);
    // The reply to another op, or with the wrong fd count, is not this reply.
    assert_eq!(Reply::decode(reply.op() % OP_MAX + 1, &msg, nfds), eio);
    assert_eq!(Reply::decode(reply.op(), &msg, nfds + 1), eio);
}

#[test]
fn proto_requests_roundtrip() {
    request_roundtrip(Request::Attach {
        version: VERSION,
        aname: Vec::new(),
    });
    request_roundtrip(Request::Attach {
        version: 7,
        aname: b"/data".to_vec(),
    });
    request_roundtrip(Request::Walk {
        dir: 3,
        flags: 0,
        names: Vec::new(),
    });
    request_roundtrip(Request::Walk {
        dir: u64::MAX,
        flags: 0,
        names: vec![b"a".to_vec(), vec![0xff; 255], b"c d".to_vec()],
    });
    request_roundtrip(Request::Stat { fid: 42 });
    request_roundtrip(Request::Open {
        fid: 1,
        flags: libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NONBLOCK,
    });
    request_roundtrip(Request::Open { fid: 1, flags: -1 });
    request_roundtrip(Request::Readlink { fid: 9 });
    request_roundtrip(Request::Getdents {
        fid: 5,
        off: 0x7fff_ffff_ffff_ffff,
    });
    request_roundtrip(Request::Clunk { fid: 77 });
    request_roundtrip(Request::Create {
        dir: 3,
        name: b"new.txt".to_vec(),
        flags: libc::O_RDWR | libc::O_APPEND,
        mode: 0o640,
    });
    request_roundtrip(Request::Mkdir {
        dir: 4,
        name: vec![0xff; 255],
        mode: 0o7777,
    });
    request_roundtrip(Request::Symlink {
        dir: 5,
        name: b"l".to_vec(),
        target: b"../../etc/passwd".to_vec(),
    });
    request_roundtrip(Request::Link {
        dir: 6,
        name: b"hard".to_vec(),
        target: u64::MAX,
    });
    request_roundtrip(Request::Unlink {
        dir: 7,
        name: b"gone".to_vec(),
        flags: libc::AT_REMOVEDIR,
    });
    request_roundtrip(Request::Rename {
        old_dir: 8,
        old_name: b"a".to_vec(),
        new_dir: 9,
        new_name: b"b".to_vec(),
        flags: libc::RENAME_EXCHANGE,
    });
    request_roundtrip(Request::Setattr {
        fid: 10,
        attr: SetAttr::default(),
    });
    request_roundtrip(Request::Setattr {
        fid: 11,
        attr: SetAttr {
            mode: Some(0o4755),
            uid: Some(0),
            gid: Some(u32::MAX),
            size: Some(u64::MAX),
            atime: Some(Timespec::NOW),
            mtime: Some(Timespec {
                sec: -5,
                nsec: 999_999_999,
            }),
        },
    });
    request_roundtrip(Request::Setattr {
        fid: 12,
        attr: SetAttr {
            size: Some(0),
            mtime: Some(Timespec::OMIT),
            ..SetAttr::default()
        },
    });
    request_roundtrip(Request::Statfs { fid: 13 });
}

#[test]
fn proto_setattr_mask() {
    // A field whose bit is clear is ignored; an unknown bit is malformed.
    let msg = Request::Setattr {
        fid: 1,
        attr: SetAttr {
            uid: Some(7),
            ..SetAttr::default()
        },
    }
    .encode()
    .unwrap();
    let mask_at = HEADER_LEN + 8;
    assert_eq!(
        u32::from_le_bytes(msg[mask_at..mask_at + 4].try_into().unwrap()),
        proto::SETATTR_UID
    );
    let mut junk = msg.clone();
    junk[mask_at + 4] = 0xff; // the mode, whose bit is clear
    assert_eq!(
        Request::decode(&junk, 0),
        Ok(Request::Setattr {
            fid: 1,
            attr: SetAttr {
                uid: Some(7),
                ..SetAttr::default()
            }
        })
    );
    for bad in [1u32 << 6, 1 << 31, u32::MAX] {
        let mut m = msg.clone();
        m[mask_at..mask_at + 4].copy_from_slice(&(proto::SETATTR_UID | bad).to_le_bytes());
        assert_eq!(Request::decode(&m, 0), Err(Errno(libc::EINVAL)), "{bad:#x}");
    }
    // An Attach reply's flags: only ATTACH_READ_ONLY is defined.
    let mut attach = Reply::Attach {
        version: VERSION,
        fid: 1,
        attr: Attr::default(),
        read_only: true,
    }
    .encode()
    .unwrap();
    let n = attach.len();
    attach[n - 4] = 2;
    assert_eq!(Reply::decode(OP_ATTACH, &attach, 0), Err(Errno(libc::EIO)));
}

#[test]
fn proto_replies_roundtrip() {
    for read_only in [false, true] {
        reply_roundtrip(Reply::Attach {
            version: VERSION,
            fid: 1,
            attr: sample_attr(1),
            read_only,
        });
    }
    reply_roundtrip(Reply::Walk {
        steps: Vec::new(),
        error: libc::ENOENT,
        target: Vec::new(),
    });
    reply_roundtrip(Reply::Walk {
        steps: vec![(2, sample_attr(2)), (3, sample_attr(3))],
        error: 0,
        target: Vec::new(),
    });
    let link = Attr {
        mode: libc::S_IFLNK | 0o777,
        ..sample_attr(5)
    };
    reply_roundtrip(Reply::Walk {
        steps: vec![(2, sample_attr(2)), (0, link)],
        error: 0,
        target: b"../x".to_vec(),
    });
    reply_roundtrip(Reply::Stat {
        attr: sample_attr(4),
    });
    reply_roundtrip(Reply::Open);
    reply_roundtrip(Reply::Readlink {
        target: b"../../etc/passwd".to_vec(),
    });
    reply_roundtrip(Reply::Getdents {
        entries: Vec::new(),
        end: false,
    });
    reply_roundtrip(Reply::Getdents {
        entries: vec![
            Dirent {
                ino: 1,
                off: 10,
                kind: libc::DT_DIR,
                name: b".".to_vec(),
            },
            Dirent {
                ino: 2,
                off: u64::MAX,
                kind: libc::DT_REG,
                name: vec![b'x'; 255],
            },
        ],
        end: true,
    });
    reply_roundtrip(Reply::Clunk);
    reply_roundtrip(Reply::Create {
        fid: 20,
        attr: sample_attr(20),
    });
    reply_roundtrip(Reply::Mkdir {
        fid: 21,
        attr: sample_attr(21),
    });
    reply_roundtrip(Reply::Symlink {
        fid: 22,
        attr: sample_attr(22),
    });
    reply_roundtrip(Reply::Link {
        fid: 23,
        attr: sample_attr(23),
    });
    reply_roundtrip(Reply::Unlink);
    reply_roundtrip(Reply::Rename);
    reply_roundtrip(Reply::Setattr {
        attr: sample_attr(24),
    });
    reply_roundtrip(Reply::Statfs {
        statfs: Statfs {
            fs_type: 0x0102_1994,
            bsize: 4096,
            blocks: u64::MAX,
            bfree: 1,
            bavail: 2,
            files: 3,
            ffree: 4,
            namelen: 255,
            frsize: 4096,
            flags: libc::ST_RDONLY | libc::ST_NOSUID,
        },
    });
}

#[test]
fn proto_error_reply() {
    let msg = Reply::encode_error(OP_WALK, Errno(libc::ENOENT));
    assert_eq!(msg.len(), HEADER_LEN);
    assert_eq!(Reply::decode(OP_WALK, &msg, 0), Err(Errno(libc::ENOENT)));
    assert_eq!(Reply::decode(OP_ATTACH, &msg, 0), Err(Errno(libc::EIO)));
    // An error reply must have no payload and no fd; a nonsense errno is never 0 on the wire.
    let mut long = msg.clone();
    long[4] = 1;
    long.push(0);
    assert_eq!(Reply::decode(OP_WALK, &long, 0), Err(Errno(libc::EIO)));
    assert_eq!(Reply::decode(OP_WALK, &msg, 1), Err(Errno(libc::EIO)));
    let zero = Reply::encode_error(OP_WALK, Errno(0));
    assert_eq!(Reply::decode(OP_WALK, &zero, 0), Err(Errno(libc::EIO)));
}

#[test]
fn proto_limits() {
    for bad in [&b""[..], b".", b"..", b"a/b", b"/", b"a\0b", &[b'x'; 256]] {
        assert_eq!(proto::check_name(bad), Err(Errno(libc::EINVAL)), "{bad:?}");
    }
    for good in [
        &b"a"[..],
        b"...",
        b".hidden",
        b"a b",
        &[b'x'; 255],
        &[0xff, 0xfe],
    ] {
        assert_eq!(proto::check_name(good), Ok(()));
    }
    let huge = Request::Walk {
        dir: 1,
        flags: 0,
        names: vec![vec![b'a'; 255]; 300],
    };
    assert_eq!(huge.encode(), Err(Errno(libc::EINVAL)));
    assert_eq!(
        proto::ATTR_LEN,
        Reply::Stat {
            attr: Attr::default()
        }
        .encode()
        .unwrap()
        .len()
            - HEADER_LEN
    );
    // A count larger than the payload can hold fails without a huge allocation.
    let mut msg = Request::Walk {
        dir: 1,
        flags: 0,
        names: Vec::new(),
    }
    .encode()
    .unwrap();
    let n = msg.len();
    msg[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(Request::decode(&msg, 0), Err(Errno(libc::EINVAL)));
}

// ---------------------------------------------------------------------------------------------
// A served tree.

/// A temp dir removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "gofer-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const BIG: usize = 3000;
const DEEP: usize = 300;

/// Builds the test tree under `root/tree` (so that `root` itself is outside what is served).
fn build_tree(top: &Path) -> PathBuf {
    let root = top.join("tree");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(top.join("secret"), "outside").unwrap();
    std::fs::write(root.join("hello.txt"), "hello world\n").unwrap();
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::write(root.join("sub/inner.txt"), "inner").unwrap();
    std::os::unix::fs::symlink("../../etc/passwd", root.join("link_rel")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("link_abs")).unwrap();
    std::os::unix::fs::symlink("../secret", root.join("link_up")).unwrap();
    std::os::unix::fs::symlink("sub", root.join("link_dir")).unwrap();
    let fifo = std::ffi::CString::new(root.join("fifo").as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid C string path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    root
}

/// Adds `big/` with [`BIG`] empty files (the server sees the live tree).
fn add_big_dir(root: &Path) {
    std::fs::create_dir(root.join("big")).unwrap();
    for i in 0..BIG {
        std::fs::write(root.join(format!("big/entry-{i:05}")), "").unwrap();
    }
}

/// Adds `deep/d/d/...` [`DEEP`] levels down; returns the deepest path.
fn add_deep_dir(root: &Path) -> PathBuf {
    let mut d = root.join("deep");
    for _ in 0..DEEP {
        d.push("d");
    }
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
    crate::socket_pair().unwrap()
}

/// Builds the trees of the bind mounts beside the root's: `rw/` (writable, with `inner/`, which
/// is a mount of its own), `rw2/` (writable) and `ro/` (read-only).
fn build_mount_trees(top: &Path) {
    let rw = top.join("rw");
    std::fs::create_dir_all(rw.join("d")).unwrap();
    std::fs::create_dir_all(rw.join("empty")).unwrap();
    std::fs::create_dir_all(rw.join("inner")).unwrap();
    std::fs::write(rw.join("data.txt"), "data\n").unwrap();
    std::fs::write(rw.join("d/f"), "f").unwrap();
    std::fs::write(rw.join("inner/x"), "x").unwrap();
    std::os::unix::fs::symlink("../../etc/passwd", rw.join("link_rel")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", rw.join("link_abs")).unwrap();
    std::os::unix::fs::symlink("../secret", rw.join("link_up")).unwrap();
    std::os::unix::fs::symlink("../created-outside", rw.join("dangling")).unwrap();
    std::fs::create_dir(top.join("rw2")).unwrap();
    std::fs::write(top.join("rw2/other.txt"), "other").unwrap();
    std::fs::create_dir_all(top.join("ro/sub")).unwrap();
    std::fs::write(top.join("ro/keep.txt"), "keep").unwrap();
    std::fs::write(top.join("ro/sub/s.txt"), "s").unwrap();
    std::os::unix::fs::symlink("../secret", top.join("ro/link_up")).unwrap();
}

/// The mounts every fixture serves: name, directory under the fixture's top, writable.
const MOUNTS: [(&str, &str, bool); 5] = [
    ("", "tree", false),
    ("/rw", "rw", true),
    ("/rw2", "rw2", true),
    ("/ro", "ro", false),
    ("/rw/inner", "rw/inner", true),
];

fn open_mounts(top: &Path) -> Vec<Mount> {
    MOUNTS
        .iter()
        .map(|(name, dir, writable)| {
            Mount::open(name.as_bytes(), &top.join(dir), *writable).unwrap()
        })
        .collect()
}

/// A server on a thread serving a fresh tree as the root, plus the bind mounts of [`MOUNTS`].
/// Dropping it closes the client's socket and checks the server returned Ok.
struct Fixture {
    client: Option<Client>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    /// The directory holding every tree (and `secret`, outside all of them).
    top: PathBuf,
    /// The root mount's tree.
    root: PathBuf,
    _dir: TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = TempDir::new();
        let root = build_tree(&dir.0);
        build_mount_trees(&dir.0);
        let (a, b) = seqpacket_pair();
        let mounts = open_mounts(&dir.0);
        let server = std::thread::spawn(move || serve(b, mounts));
        Fixture {
            client: Some(Client::new(a)),
            server: Some(server),
            top: dir.0.clone(),
            root,
            _dir: dir,
        }
    }

    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    /// Host path of `rel` under the fixture's top.
    fn host(&self, rel: &str) -> PathBuf {
        self.top.join(rel)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        drop(self.client.take());
        let res = self.server.take().unwrap().join();
        if !std::thread::panicking() {
            res.expect("server panicked")
                .expect("server returned an error");
        }
    }
}

fn names<'a>(v: &[&'a str]) -> Vec<&'a [u8]> {
    v.iter().map(|s| s.as_bytes()).collect()
}

fn ino_of(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(p).unwrap().ino()
}

#[test]
fn attach_and_stat() {
    let f = Fixture::new();
    let (root, attr) = f.c().attach().unwrap();
    assert!(attr.is_dir());
    assert_eq!(attr.ino, ino_of(&f.root));
    assert_eq!(f.c().stat(root).unwrap(), attr);
    // Each attach is a new fid.
    let (root2, _) = f.c().attach().unwrap();
    assert_ne!(root, root2);

    let w = f.c().walk(root, &names(&["hello.txt"])).unwrap();
    let (file, fattr) = w.steps[0];
    assert!(fattr.is_file());
    assert_eq!(fattr.size, 12);
    assert_eq!(fattr.ino, ino_of(&f.root.join("hello.txt")));
    let st = f.c().stat(file).unwrap();
    assert_eq!(st.size, 12);
    assert_eq!(st.mode & 0o777, fattr.mode & 0o777);
    assert_eq!(st.mtime, fattr.mtime);
}

#[test]
fn walk_multi_and_stops() {
    let f = Fixture::new();
    let c = f.c();
    let (root, _) = c.attach().unwrap();

    let w = c.walk(root, &names(&["sub", "deeper"])).unwrap();
    assert_eq!(w.error, None);
    assert_eq!(w.steps.len(), 2);
    assert!(w.steps.iter().all(|(_, a)| a.is_dir()));
    assert_eq!(w.steps[1].1.ino, ino_of(&f.root.join("sub/deeper")));
    assert_ne!(w.steps[0].0, w.steps[1].0);

    // Walking from a walked fid.
    let w2 = c.walk(w.steps[0].0, &names(&["inner.txt"])).unwrap();
    assert_eq!(w2.steps[0].1.ino, ino_of(&f.root.join("sub/inner.txt")));

    // Stops after a symlink, with no error: the client resolves it.
    for link in ["link_rel", "link_abs", "link_dir"] {
        let w = c.walk(root, &names(&[link, "inner.txt"])).unwrap();
        assert_eq!(w.error, None, "{link}");
        assert_eq!(w.steps.len(), 1, "{link}");
        assert!(w.steps[0].1.is_symlink(), "{link}");
    }

    // Missing name: the steps before it, and ENOENT.
    let w = c.walk(root, &names(&["sub", "nope", "x"])).unwrap();
    assert_eq!(w.steps.len(), 1);
    assert_eq!(w.error, Some(libc::ENOENT));

    // A file with names after it.
    let w = c.walk(root, &names(&["hello.txt", "x"])).unwrap();
    assert_eq!(w.steps.len(), 1);
    assert!(w.steps[0].1.is_file());
    assert_eq!(w.error, Some(libc::ENOTDIR));
    let w = c.walk(w.steps[0].0, &names(&["x"])).unwrap();
    assert_eq!((w.steps.len(), w.error), (0, Some(libc::ENOTDIR)));

    // Empty walk: nothing, but the fid must exist.
    assert_eq!(
        c.walk(root, &[]).unwrap(),
        crate::WalkReply {
            steps: Vec::new(),
            error: None,
            target: None,
        }
    );
    assert_eq!(c.walk(9999, &[]), Err(Errno(libc::EBADF)));
    assert_eq!(c.walk(9999, &names(&["sub"])), Err(Errno(libc::EBADF)));
}

#[test]
fn walk_longer_than_one_request() {
    let f = Fixture::new();
    let c = f.c();
    let deepest = add_deep_dir(&f.root);
    let (root, _) = c.attach().unwrap();
    let mut path = vec!["deep"];
    path.extend(std::iter::repeat_n("d", DEEP));
    let w = c.walk(root, &names(&path)).unwrap();
    assert_eq!(w.error, None);
    assert_eq!(w.steps.len(), DEEP + 1);
    let fids: HashSet<_> = w.steps.iter().map(|s| s.0).collect();
    assert_eq!(fids.len(), DEEP + 1);
    assert_eq!(w.steps[DEEP].1.ino, ino_of(&deepest));

    // Fails in the second request: steps up to the failing name.
    path[200] = "missing";
    let w = c.walk(root, &names(&path)).unwrap();
    assert_eq!((w.steps.len(), w.error), (200, Some(libc::ENOENT)));
}

#[test]
fn bad_names_are_einval_and_change_nothing() {
    let f = Fixture::new();
    let c = f.c();
    let (root, _) = c.attach().unwrap();
    let long = "x".repeat(256);
    for bad in ["..", ".", "a/b", "", "/etc", "a\0b", long.as_str()] {
        assert_eq!(
            c.walk(root, &names(&["sub", bad])),
            Err(Errno(libc::EINVAL)),
            "{bad:?}"
        );
    }
    // The server checks too, whatever the client does; a rejected walk makes no fid.
    let (sock, server) = raw_server(&f);
    let attach = raw_call(
        &sock,
        &Request::Attach {
            version: VERSION,
            aname: Vec::new(),
        },
    );
    let Ok(Reply::Attach { fid: root, .. }) = attach else {
        panic!("{attach:?}")
    };
    for bad in ["..", ".", "a/b", "", "a\0b", long.as_str()] {
        let req = Request::Walk {
            dir: root,
            flags: 0,
            names: vec![b"sub".to_vec(), bad.as_bytes().to_vec()],
        };
        assert_eq!(raw_call(&sock, &req), Err(Errno(libc::EINVAL)), "{bad:?}");
    }
    let too_many = Request::Walk {
        dir: root,
        flags: 0,
        names: vec![b"d".to_vec(); proto::MAX_WALK_NAMES + 1],
    };
    assert_eq!(raw_call(&sock, &too_many), Err(Errno(libc::EINVAL)));
    let ok = raw_call(
        &sock,
        &Request::Walk {
            dir: root,
            flags: 0,
            names: vec![b"sub".to_vec()],
        },
    );
    let Ok(Reply::Walk {
        steps, error: 0, ..
    }) = ok
    else {
        panic!("{ok:?}")
    };
    assert_eq!(steps[0].0, root + 1, "a failed request used up a fid");
    drop(sock);
    server.join().unwrap().unwrap();
}

#[test]
fn open_and_read() {
    let f = Fixture::new();
    let c = f.c();
    let (root, _) = c.attach().unwrap();
    let file = c.walk(root, &names(&["hello.txt"])).unwrap().steps[0].0;
    let fd = c.open(file, libc::O_RDONLY).unwrap();
    // SAFETY: F_GETFD/F_GETFL on an fd we own.
    let (fdflags, flflags) = unsafe {
        (
            libc::fcntl(fd.as_raw_fd(), libc::F_GETFD),
            libc::fcntl(fd.as_raw_fd(), libc::F_GETFL),
        )
    };
    assert_ne!(
        fdflags & libc::FD_CLOEXEC,
        0,
        "received fds are close-on-exec"
    );
    assert_eq!(
        flflags & libc::O_NONBLOCK,
        0,
        "O_NONBLOCK only when asked for"
    );
    assert_eq!(flflags & libc::O_ACCMODE, libc::O_RDONLY);
    let mut s = String::new();
    std::fs::File::from(fd).read_to_string(&mut s).unwrap();
    assert_eq!(s, "hello world\n");

    let fd = c
        .open(file, libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .unwrap();
    // SAFETY: F_GETFL on an fd we own.
    let fl = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    assert_ne!(fl & libc::O_NONBLOCK, 0);

    // Directories are never donated (the root neither); files with O_DIRECTORY do not open.
    let sub = c.walk(root, &names(&["sub"])).unwrap().steps[0].0;
    assert_eq!(
        c.open(sub, libc::O_RDONLY | libc::O_DIRECTORY).err(),
        Some(Errno(libc::EISDIR))
    );
    assert_eq!(
        c.open(root, libc::O_RDONLY).err(),
        Some(Errno(libc::EISDIR))
    );
    assert_eq!(
        c.open(file, libc::O_RDONLY | libc::O_DIRECTORY).err(),
        Some(Errno(libc::ENOTDIR))
    );

    // Write access of any kind: EROFS, and the file is untouched.
    for flags in [
        libc::O_WRONLY,
        libc::O_RDWR,
        libc::O_RDONLY | libc::O_TRUNC,
        libc::O_RDONLY | libc::O_CREAT,
        libc::O_WRONLY | libc::O_APPEND,
        libc::O_TMPFILE | libc::O_RDWR,
    ] {
        assert_eq!(
            c.open(file, flags).err(),
            Some(Errno(libc::EROFS)),
            "{flags:#o}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(f.root.join("hello.txt")).unwrap(),
        "hello world\n"
    );
    assert_eq!(
        c.open(file, libc::O_RDONLY | libc::O_PATH).err(),
        Some(Errno(libc::EINVAL))
    );
    assert_eq!(
        c.open(file, libc::O_RDONLY | libc::O_DIRECT).err(),
        Some(Errno(libc::EINVAL))
    );

    // Special files: EACCES (and the fifo must not block the server); symlinks: ELOOP.
    let fifo = c.walk(root, &names(&["fifo"])).unwrap().steps[0];
    assert_eq!(fifo.1.file_type(), libc::S_IFIFO);
    assert_eq!(
        c.open(fifo.0, libc::O_RDONLY).err(),
        Some(Errno(libc::EACCES))
    );
    assert_eq!(
        c.open(fifo.0, libc::O_RDONLY | libc::O_NONBLOCK).err(),
        Some(Errno(libc::EACCES))
    );
    let link = c.walk(root, &names(&["link_up"])).unwrap().steps[0].0;
    assert_eq!(c.open(link, libc::O_RDONLY).err(), Some(Errno(libc::ELOOP)));
    assert_eq!(c.getdents(link, 0).err(), Some(Errno(libc::ENOTDIR)));
}

#[test]
fn open_detects_replaced_file() {
    let f = Fixture::new();
    let c = f.c();
    let (root, _) = c.attach().unwrap();
    let file = c.walk(root, &names(&["hello.txt"])).unwrap().steps[0].0;
    // Another host process swaps the name for a different file (here: a fifo, which would block
    // an open without O_NONBLOCK).
    std::fs::rename(f.root.join("hello.txt"), f.root.join("moved.txt")).unwrap();
    let fifo = std::ffi::CString::new(f.root.join("hello.txt").as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid C string path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    assert_eq!(
        c.open(file, libc::O_RDONLY).err(),
        Some(Errno(libc::ESTALE))
    );
    // The fid still stats the file it was walked to.
    assert_eq!(c.stat(file).unwrap().size, 12);
}

#[test]
fn readlink_returns_target_verbatim() {
    let f = Fixture::new();
    let c = f.c();
    let (root, _) = c.attach().unwrap();
    for (name, target) in [
        ("link_rel", "../../etc/passwd"),
        ("link_abs", "/etc/passwd"),
        ("link_dir", "sub"),
    ] {
        let w = c.walk(root, &names(&[name])).unwrap();
        assert_eq!(c.readlink(w.steps[0].0).unwrap(), target.as_bytes());
        // The walk brought the same target along.
        assert_eq!(w.target.as_deref(), Some(target.as_bytes()), "{name}");
    }
    let file = c.walk(root, &names(&["hello.txt"])).unwrap().steps[0].0;
    assert_eq!(c.readlink(file), Err(Errno(libc::EINVAL)));
    assert_eq!(c.readlink(root), Err(Errno(libc::EINVAL)));
}

#[test]
fn getdents_pages_through_big_dir() {
    let f = Fixture::new();
    let c = f.c();
    let (root, _) = c.attach().unwrap();
    add_big_dir(&f.root);
    let big = c.walk(root, &names(&["big"])).unwrap().steps[0].0;
    let mut seen = Vec::new();
    let mut cookies = Vec::new();
    let mut off = 0;
    let mut pages = 0;
    loop {
        let page = c.getdents(big, off).unwrap();
        if page.entries.is_empty() {
            assert!(page.end);
            break;
        }
        pages += 1;
        for d in &page.entries {
            seen.push(d.name.clone());
            cookies.push(d.off);
        }
        off = page.entries.last().unwrap().off;
        if page.end {
            // The end came with the last page: nothing after it.
            assert_eq!(c.getdents(big, off).unwrap().entries, Vec::new());
            break;
        }
    }
    assert!(
        pages > 1,
        "3000 entries should take several replies, took {pages}"
    );
    let set: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(set.len(), seen.len(), "a name was returned twice");
    let mut want: HashSet<Vec<u8>> = (0..BIG)
        .map(|i| format!("entry-{i:05}").into_bytes())
        .collect();
    want.insert(b".".to_vec());
    want.insert(b"..".to_vec());
    assert_eq!(set, want);

    // A cookie from the middle resumes right after its entry.
    let mid = BIG / 2;
    let page = c.getdents(big, cookies[mid]).unwrap();
    assert_eq!(page.entries[0].name, seen[mid + 1]);
    // Starting over gives the same first entries, and a page of a big directory is no end.
    let again = c.getdents(big, 0).unwrap();
    assert_eq!(again.entries[0].name, seen[0]);
    assert!(!again.end);

    // Kinds and inodes are the host's; a small directory comes whole, with its end.
    let sub = c.walk(root, &names(&["sub"])).unwrap().steps[0].0;
    let page = c.getdents(sub, 0).unwrap();
    assert!(page.end);
    let ents = page.entries;
    let inner = ents.iter().find(|d| d.name == b"inner.txt").unwrap();
    assert_eq!(inner.kind, libc::DT_REG);
    assert_eq!(inner.ino, ino_of(&f.root.join("sub/inner.txt")));
    assert_eq!(
        ents.iter().find(|d| d.name == b"deeper").unwrap().kind,
        libc::DT_DIR
    );
    assert_eq!(ents.len(), 4);
    // Asked again from its end, or from the start, it reads again.
    let last = ents.last().unwrap().off;
    assert_eq!(
        c.getdents(sub, last).unwrap(),
        crate::Dirents {
            entries: Vec::new(),
            end: true
        }
    );
    assert_eq!(c.getdents(sub, 0).unwrap().entries, ents);

    let file = c.walk(root, &names(&["hello.txt"])).unwrap().steps[0].0;
    assert_eq!(c.getdents(file, 0), Err(Errno(libc::ENOTDIR)));
}

#[test]
fn clunk_then_use_is_ebadf() {
    let f = Fixture::new();
    let c = f.c();
    let (root, _) = c.attach().unwrap();
    let w = c.walk(root, &names(&["sub", "inner.txt"])).unwrap();
    let (sub, inner) = (w.steps[0].0, w.steps[1].0);
    c.clunk(sub);
    let ebadf = Some(Errno(libc::EBADF));
    assert_eq!(c.stat(sub).err(), ebadf);
    assert_eq!(c.walk(sub, &names(&["inner.txt"])).err(), ebadf);
    assert_eq!(c.open(sub, libc::O_RDONLY).err(), ebadf);
    assert_eq!(c.readlink(sub).err(), ebadf);
    assert_eq!(c.getdents(sub, 0).err(), ebadf);
    c.clunk(sub); // twice: ignored
                  // A child outlives its clunked parent.
    let mut s = String::new();
    std::fs::File::from(c.open(inner, libc::O_RDONLY).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, "inner");
    // Fids are never reused.
    let again = c.walk(root, &names(&["sub"])).unwrap().steps[0].0;
    assert!(again > inner);
    // Clunking a root fid leaves other roots working.
    let (root2, _) = c.attach().unwrap();
    c.clunk(root);
    assert!(c.stat(root2).unwrap().is_dir());
    assert_eq!(c.stat(root).err(), ebadf);
}

#[test]
fn attach_checks_version_and_name() {
    let f = Fixture::new();
    let (sock, server) = raw_server(&f);
    assert_eq!(
        raw_call(
            &sock,
            &Request::Attach {
                version: 99,
                aname: Vec::new()
            }
        ),
        Err(Errno(libc::EPROTONOSUPPORT))
    );
    assert_eq!(
        raw_call(
            &sock,
            &Request::Attach {
                version: VERSION,
                aname: b"other".to_vec()
            }
        ),
        Err(Errno(libc::ENOENT))
    );
    assert!(matches!(
        raw_call(
            &sock,
            &Request::Attach {
                version: VERSION,
                aname: Vec::new()
            }
        ),
        Ok(Reply::Attach {
            version: VERSION,
            ..
        })
    ));
    drop(sock);
    server.join().unwrap().unwrap();
}

#[test]
fn mounts_fail_on_bad_roots_and_names() {
    let dir = TempDir::new();
    let err = |r: std::io::Result<Mount>| r.unwrap_err().raw_os_error();
    assert_eq!(
        err(Mount::open(b"", &dir.0.join("missing"), false)),
        Some(libc::ENOENT)
    );
    std::fs::write(dir.0.join("file"), "").unwrap();
    // The root is a directory; a bind mount may be a regular file, but nothing else.
    assert_eq!(
        err(Mount::open(b"", &dir.0.join("file"), false)),
        Some(libc::ENOTDIR)
    );
    assert!(Mount::open(b"/file", &dir.0.join("file"), true).is_ok());
    let fifo = std::ffi::CString::new(dir.0.join("fifo").as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid C string path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    assert!(Mount::open(b"/fifo", &dir.0.join("fifo"), true).is_err());
    // Names: empty or absolute, no NUL.
    for bad in [&b"rel"[..], b"a/b", b"/a\0b"] {
        assert!(Mount::open(bad, &dir.0, false).is_err(), "{bad:?}");
    }
    let m = Mount::open(b"/data", &dir.0, true).unwrap();
    assert_eq!(
        (m.name(), m.writable(), m.fds().count()),
        (&b"/data"[..], true, 1)
    );
    // Two mounts with one name.
    let (_a, b) = seqpacket_pair();
    let twice = vec![
        Mount::open(b"/x", &dir.0, true).unwrap(),
        Mount::open(b"/x", &dir.0, false).unwrap(),
    ];
    assert!(serve(b, twice).is_err());
}

#[test]
fn client_concurrent_use() {
    let f = Fixture::new();
    let c = f.c();
    let (root, _) = c.attach().unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..200 {
                    let w = c.walk(root, &names(&["sub", "inner.txt"])).unwrap();
                    assert_eq!(c.stat(w.steps[1].0).unwrap().size, 5);
                    c.clunk(w.steps[0].0);
                    c.clunk(w.steps[1].0);
                }
            });
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Raw access to a server, for requests the client would not send and for garbage.

fn raw_server(f: &Fixture) -> (OwnedFd, JoinHandle<std::io::Result<()>>) {
    let (a, b) = seqpacket_pair();
    let mounts = open_mounts(&f.top);
    (a, std::thread::spawn(move || serve(b, mounts)))
}

/// Sends raw bytes (with an optional fd) and returns the raw reply.
fn raw_exchange(sock: &OwnedFd, msg: &[u8], fd: Option<&OwnedFd>) -> Vec<u8> {
    transport::send(sock.as_fd(), msg, fd.map(AsFd::as_fd)).unwrap();
    let mut buf = vec![0; MAX_MSG];
    let got = transport::recv(sock.as_fd(), &mut buf).unwrap();
    assert!(got.fds.is_empty() && !got.truncated && got.len > 0);
    buf.truncate(got.len);
    buf
}

fn raw_call(sock: &OwnedFd, req: &Request) -> Result<Reply, Errno> {
    let reply = raw_exchange(sock, &req.encode().unwrap(), None);
    Reply::decode(req.op(), &reply, 0)
}

/// Checks `msg` gets an error reply with one of `errnos`.
fn expect_error(sock: &OwnedFd, msg: &[u8], fd: Option<&OwnedFd>, errnos: &[i32]) {
    let reply = raw_exchange(sock, msg, fd);
    let h = Header::parse(&reply).unwrap();
    assert_eq!(reply.len(), HEADER_LEN, "error replies have no payload");
    assert_ne!(h.op & REPLY, 0);
    let status = i32::try_from(h.status).unwrap();
    assert!(
        errnos.contains(&status),
        "errno {status} for {:02x?}",
        &msg[..msg.len().min(32)]
    );
}

fn header(op: u32, len: u32, status: u32, nfds: u32) -> Vec<u8> {
    [op, len, status, nfds]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

#[test]
fn garbage_gets_errors_and_server_keeps_serving() {
    let f = Fixture::new();
    let (sock, server) = raw_server(&f);
    let inval = &[libc::EINVAL][..];

    // Truncated headers, including the empty record.
    for n in 0..HEADER_LEN {
        expect_error(&sock, &header(OP_ATTACH, 0, 0, 0)[..n], None, inval);
    }
    // Unknown ops, reply ops, a status or fd count in a request.
    for op in [0, OP_MAX + 1, 1000, u32::MAX, OP_ATTACH | REPLY] {
        expect_error(&sock, &header(op, 0, 0, 0), None, inval);
    }
    expect_error(&sock, &header(OP_ATTACH, 0, MAX_CPU + 2, 0), None, inval);
    expect_error(&sock, &header(OP_ATTACH, 0, 0, 1), None, inval);
    // Lengths that disagree with the record, huge ones included.
    let mut attach = Request::Attach {
        version: VERSION,
        aname: Vec::new(),
    }
    .encode()
    .unwrap();
    for len in [0, 3, 9, 0xffff, 0x10000, u32::MAX] {
        attach[4..8].copy_from_slice(&len.to_le_bytes());
        expect_error(&sock, &attach, None, inval);
    }
    // A byte string whose length runs past the end.
    let mut walk = Request::Walk {
        dir: 1,
        flags: 0,
        names: vec![b"sub".to_vec()],
    }
    .encode()
    .unwrap();
    let at = HEADER_LEN + 16;
    walk[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    expect_error(&sock, &walk, None, inval);
    // Larger than any message.
    let mut huge = header(OP_WALK, 100_000, 0, 0);
    huge.resize(HEADER_LEN + 100_000, 0xaa);
    expect_error(&sock, &huge, None, inval);
    // An fd with a request: refused (and closed by the server).
    let file = std::fs::File::open(f.root.join("hello.txt")).unwrap();
    let fd = OwnedFd::from(file);
    expect_error(
        &sock,
        &Request::Stat { fid: 1 }.encode().unwrap(),
        Some(&fd),
        inval,
    );
    // Unknown fids.
    for req in [
        Request::Stat { fid: 0 },
        Request::Readlink { fid: 12345 },
        Request::Getdents {
            fid: u64::MAX,
            off: 0,
        },
        Request::Clunk { fid: 7 },
    ] {
        expect_error(&sock, &req.encode().unwrap(), None, &[libc::EBADF]);
    }
    // Random records, some with a plausible header in front.
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for i in 0..500 {
        let len = usize::try_from(next() % 300).unwrap();
        let mut msg: Vec<u8> = (0..len).map(|_| next().to_le_bytes()[0]).collect();
        if i % 2 == 0 && msg.len() >= HEADER_LEN {
            let op = u32::try_from(next() % u64::from(OP_MAX + 2)).unwrap();
            let plen = u32::try_from(msg.len() - HEADER_LEN).unwrap();
            msg[..HEADER_LEN].copy_from_slice(&header(op, plen, 0, 0));
        }
        // Whatever it decodes as, the server answers and stays up; a random request may even be
        // valid (e.g. a clunk of a fid that happens to exist), so just check the reply shape.
        let reply = raw_exchange(&sock, &msg, None);
        let h = Header::parse(&reply).unwrap();
        assert_ne!(h.op & REPLY, 0);
    }

    // Still serving: a valid attach over the same connection, and over a fresh client.
    let attach = Request::Attach {
        version: VERSION,
        aname: Vec::new(),
    };
    assert!(matches!(raw_call(&sock, &attach), Ok(Reply::Attach { .. })));
    let client = Client::new(sock);
    let (root, attr) = client.attach().unwrap();
    assert!(attr.is_dir());
    assert_eq!(client.walk(root, &names(&["sub"])).unwrap().steps.len(), 1);
    drop(client);
    server.join().unwrap().unwrap();
}

#[test]
fn client_reports_eio_when_server_gone() {
    let (a, b) = seqpacket_pair();
    drop(b);
    let c = Client::new(a);
    assert_eq!(c.attach(), Err(Errno(libc::EIO)));
    c.clunk(1);

    // A peer that answers with nonsense.
    let (a, b) = seqpacket_pair();
    let peer = std::thread::spawn(move || {
        let mut buf = vec![0; MAX_MSG];
        for reply in [
            &b"short"[..],
            &header(OP_ATTACH | REPLY, 0, 0, 0),
            &header(OP_WALK | REPLY, 0, 0, 0),
        ] {
            transport::recv(b.as_fd(), &mut buf).unwrap();
            transport::send(b.as_fd(), reply, None).unwrap();
        }
    });
    let c = Client::new(a);
    assert_eq!(c.attach(), Err(Errno(libc::EIO)));
    assert_eq!(c.attach(), Err(Errno(libc::EIO)));
    assert_eq!(c.attach(), Err(Errno(libc::EIO)));
    peer.join().unwrap();
}

#[test]
fn a_request_names_the_cpu_it_was_sent_from() {
    let req = Request::Stat { fid: 7 };
    let mut msg = req.encode().unwrap();
    assert_eq!(proto::request_cpu(&msg), None);
    proto::set_request_cpu(&mut msg, 3);
    assert_eq!(proto::request_cpu(&msg), Some(3));
    assert_eq!(Request::decode(&msg, 0), Ok(req));
    // A CPU past the limit is not written.
    proto::set_request_cpu(&mut msg, MAX_CPU + 1);
    assert_eq!(proto::request_cpu(&msg), Some(3));
}
