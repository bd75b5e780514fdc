//! The messages that save round trips: walks that make no fids for files and carry a symlink's
//! target, `OpenAt`, and `Getdents` replies that say the listing ended.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;

use super::{
    add_deep_dir, expect_error, ino_of, names, raw_call, raw_server, reply_roundtrip,
    request_roundtrip, sample_attr, Fixture, DEEP,
};
use crate::proto::{
    Reply, Request, GETDENTS_END, HEADER_LEN, MAX_WALK_NAMES, OP_GETDENTS, OP_WALK, VERSION,
    WALK_NO_FILE_FIDS,
};
use crate::{Attr, Client, Errno, Fid};

fn read_fd(fd: OwnedFd) -> String {
    let mut s = String::new();
    std::fs::File::from(fd).read_to_string(&mut s).unwrap();
    s
}

/// `(dev, ino)` of a walked name.
fn id_of(c: &Client, dir: Fid, name: &str) -> (u64, u64) {
    let a = c
        .walk_flags(dir, &names(&[name]), WALK_NO_FILE_FIDS)
        .unwrap()
        .steps[0]
        .1;
    (a.dev, a.ino)
}

#[test]
fn proto_new_messages_roundtrip() {
    request_roundtrip(Request::Walk {
        dir: 1,
        flags: WALK_NO_FILE_FIDS,
        names: vec![b"a".to_vec()],
    });
    request_roundtrip(Request::OpenAt {
        dir: 7,
        name: b"file.so".to_vec(),
        dev: u64::MAX,
        ino: 1,
        flags: libc::O_RDONLY | libc::O_NONBLOCK,
    });
    request_roundtrip(Request::OpenAt {
        dir: 0,
        name: Vec::new(),
        dev: 0,
        ino: 0,
        flags: -1,
    });
    reply_roundtrip(Reply::OpenAt);
}

#[test]
fn proto_new_messages_reject_malformed_input() {
    // Unknown walk flags.
    let mut walk = Request::Walk {
        dir: 1,
        flags: 0,
        names: Vec::new(),
    }
    .encode()
    .unwrap();
    walk[HEADER_LEN + 8..HEADER_LEN + 12].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(Request::decode(&walk, 0), Err(Errno(libc::EINVAL)));

    // A target only with a final symlink, and always with one.
    let eio = Err(Errno(libc::EIO));
    let link = Attr {
        mode: libc::S_IFLNK | 0o777,
        ..sample_attr(1)
    };
    for (steps, target) in [
        (vec![(1, sample_attr(1))], b"t".to_vec()),
        (Vec::new(), b"t".to_vec()),
        (vec![(0, link)], Vec::new()),
        (vec![(0, link), (2, sample_attr(2))], b"t".to_vec()),
    ] {
        let msg = Reply::Walk {
            steps,
            error: 0,
            target,
        }
        .encode()
        .unwrap();
        assert_eq!(Reply::decode(OP_WALK, &msg, 0), eio);
    }

    // Unknown getdents flags.
    let mut page = Reply::Getdents {
        entries: Vec::new(),
        end: true,
    }
    .encode()
    .unwrap();
    assert_eq!(page[HEADER_LEN..HEADER_LEN + 4], GETDENTS_END.to_le_bytes());
    page[HEADER_LEN] = 3;
    assert_eq!(Reply::decode(OP_GETDENTS, &page, 0), eio);

    // An open-at reply without its fd.
    let open = Reply::OpenAt.encode().unwrap();
    assert_eq!(Reply::decode(Reply::OpenAt.op(), &open, 0), eio);
}

#[test]
fn walk_without_file_fids() {
    let f = Fixture::new();
    let c = f.c();
    let (root, _) = c.attach().unwrap();
    let w = c
        .walk_flags(root, &names(&["hello.txt"]), WALK_NO_FILE_FIDS)
        .unwrap();
    assert_eq!(w.steps.len(), 1);
    assert_eq!(w.steps[0].0, 0, "a regular file gets no fid");
    assert_eq!(w.steps[0].1.ino, ino_of(&f.root.join("hello.txt")));
    assert_eq!((w.error, w.target), (None, None));

    // A directory still gets one; a symlink none, but its target.
    let w = c
        .walk_flags(root, &names(&["sub", "deeper"]), WALK_NO_FILE_FIDS)
        .unwrap();
    assert!(w.steps.iter().all(|(fid, a)| *fid != 0 && a.is_dir()));
    let w = c
        .walk_flags(root, &names(&["link_rel", "x"]), WALK_NO_FILE_FIDS)
        .unwrap();
    assert_eq!(w.steps.len(), 1);
    assert_eq!(w.steps[0].0, 0);
    assert_eq!(w.target.as_deref(), Some(&b"../../etc/passwd"[..]));

    // Other kinds keep theirs; so do files without the flag.
    let fifo = c
        .walk_flags(root, &names(&["fifo"]), WALK_NO_FILE_FIDS)
        .unwrap()
        .steps[0]
        .0;
    assert_ne!(fifo, 0);
    let file = c.walk(root, &names(&["hello.txt"])).unwrap().steps[0].0;
    assert_eq!(file, fifo + 1, "walks without fids used some up");
    assert_eq!(c.stat(file).unwrap().size, 12);
}

#[test]
fn walk_reply_carries_symlink_target() {
    let f = Fixture::new();
    let c = f.c();
    let (root, _) = c.attach().unwrap();
    // (The walks of `readlink_returns_target_verbatim` check the target of other links.)
    let w = c.walk(root, &names(&["link_up"])).unwrap();
    assert_eq!(w.target.as_deref(), Some(&b"../secret"[..]));
    assert_eq!(c.readlink(w.steps[0].0).unwrap(), b"../secret");
    // Through a directory, stopping at the link.
    let w = c.walk(root, &names(&["link_dir", "inner.txt"])).unwrap();
    assert_eq!((w.steps.len(), w.target.as_deref()), (1, Some(&b"sub"[..])));
    // Nothing for a walk that ends elsewhere, or fails.
    assert_eq!(c.walk(root, &names(&["sub"])).unwrap().target, None);
    let w = c.walk(root, &names(&["sub", "nope"])).unwrap();
    assert_eq!((w.error, w.target), (Some(libc::ENOENT), None));
}

#[test]
fn walk_without_file_fids_across_requests() {
    // A file as the last name of a full request, with names after it: ENOTDIR, as in one.
    let f = Fixture::new();
    let c = f.c();
    add_deep_dir(&f.root);
    let mut path = vec!["deep"];
    path.extend(std::iter::repeat_n("d", MAX_WALK_NAMES - 2));
    let dir = path.iter().fold(f.root.clone(), |p, n| p.join(n));
    std::fs::write(dir.join("f"), "").unwrap();
    path.extend(["f", "x"]);
    assert!(path.len() == MAX_WALK_NAMES + 1 && path.len() < DEEP);
    let (root, _) = c.attach().unwrap();
    for flags in [0, WALK_NO_FILE_FIDS] {
        let w = c.walk_flags(root, &names(&path), flags).unwrap();
        assert_eq!(w.steps.len(), MAX_WALK_NAMES, "flags {flags}");
        assert_eq!(w.error, Some(libc::ENOTDIR), "flags {flags}");
        assert!(w.steps[MAX_WALK_NAMES - 1].1.is_file());
        assert_eq!(w.steps[MAX_WALK_NAMES - 1].0 == 0, flags != 0);
    }
}

#[test]
fn open_at_opens_the_walked_file() {
    let f = Fixture::new();
    let c = f.c();
    let (root, _) = c.attach().unwrap();
    let id = id_of(c, root, "hello.txt");
    let fd = c.open_at(root, b"hello.txt", id, libc::O_RDONLY).unwrap();
    assert_eq!(read_fd(fd), "hello world\n");
    let sub = c.walk(root, &names(&["sub"])).unwrap().steps[0].0;
    let id = id_of(c, sub, "inner.txt");
    assert_eq!(
        read_fd(c.open_at(sub, b"inner.txt", id, libc::O_RDONLY).unwrap()),
        "inner"
    );

    // Another inode than the one walked to: ESTALE, also once the host swapped the name.
    let hello = id_of(c, root, "hello.txt");
    let estale = Err(Errno(libc::ESTALE));
    assert_eq!(
        c.open_at(root, b"hello.txt", (hello.0, hello.1 + 1), 0)
            .map(drop),
        estale
    );
    std::fs::rename(f.root.join("hello.txt"), f.root.join("moved.txt")).unwrap();
    let fifo = std::ffi::CString::new(f.root.join("hello.txt").as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid C string path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    assert_eq!(c.open_at(root, b"hello.txt", hello, 0).map(drop), estale);
    assert!(c.open_at(root, b"moved.txt", hello, 0).is_ok());

    // The rules of Open: no directories, symlinks (never followed) or special files.
    let err = |dir: Fid, name: &str, flags: i32| {
        let id = id_of(c, dir, name);
        c.open_at(dir, name.as_bytes(), id, flags).unwrap_err().0
    };
    assert_eq!(err(root, "sub", libc::O_RDONLY), libc::EISDIR);
    assert_eq!(err(root, "link_up", libc::O_RDONLY), libc::ELOOP);
    assert_eq!(err(root, "link_dir", libc::O_RDONLY), libc::ELOOP);
    assert_eq!(
        err(root, "hello.txt", libc::O_RDONLY),
        libc::EACCES,
        "the fifo"
    );
    // Read-only mount: no change of any kind; other flags are never taken.
    for flags in [libc::O_WRONLY, libc::O_RDWR, libc::O_RDONLY | libc::O_TRUNC] {
        assert_eq!(err(root, "moved.txt", flags), libc::EROFS, "{flags:#o}");
    }
    assert_eq!(
        err(root, "moved.txt", libc::O_RDONLY | libc::O_PATH),
        libc::EINVAL
    );
    assert_eq!(
        std::fs::read_to_string(f.root.join("moved.txt")).unwrap(),
        "hello world\n"
    );

    // Names are one component; the directory must be a known directory fid.
    for bad in ["..", ".", "a/b", "", "/etc"] {
        assert_eq!(
            c.open_at(root, bad.as_bytes(), hello, 0).map(drop),
            Err(Errno(libc::EINVAL)),
            "{bad:?}"
        );
    }
    assert_eq!(
        c.open_at(9999, b"moved.txt", hello, 0).map(drop),
        Err(Errno(libc::EBADF))
    );
    let file = c.walk(root, &names(&["moved.txt"])).unwrap().steps[0].0;
    assert_eq!(
        c.open_at(file, b"x", hello, 0).map(drop),
        Err(Errno(libc::ENOTDIR))
    );
    assert_eq!(
        c.open_at(root, b"nope", hello, 0).map(drop),
        Err(Errno(libc::ENOENT))
    );
}

#[test]
fn open_at_writes_only_on_writable_mounts() {
    let f = Fixture::new();
    let c = f.c();
    let rw = c.attach_mount(b"/rw").unwrap().fid;
    let id = id_of(c, rw, "data.txt");
    let fd = c
        .open_at(rw, b"data.txt", id, libc::O_WRONLY | libc::O_TRUNC)
        .unwrap();
    drop(fd);
    assert_eq!(std::fs::read(f.host("rw/data.txt")).unwrap(), b"");
    assert_eq!(
        c.open_at(rw, b"data.txt", id, libc::O_RDWR | libc::O_CREAT)
            .map(drop),
        Err(Errno(libc::EINVAL))
    );
    let ro = c.attach_mount(b"/ro").unwrap().fid;
    let id = id_of(c, ro, "keep.txt");
    assert_eq!(
        c.open_at(ro, b"keep.txt", id, libc::O_WRONLY).map(drop),
        Err(Errno(libc::EROFS))
    );
    assert_eq!(
        read_fd(c.open_at(ro, b"keep.txt", id, libc::O_RDONLY).unwrap()),
        "keep"
    );
    // A symlink out of the mount is never followed.
    let id = id_of(c, ro, "link_up");
    assert_eq!(
        c.open_at(ro, b"link_up", id, libc::O_RDONLY).map(drop),
        Err(Errno(libc::ELOOP))
    );
}

#[test]
fn open_at_garbage_gets_errors() {
    let f = Fixture::new();
    let (sock, server) = raw_server(&f);
    let Ok(Reply::Attach { fid: root, .. }) = raw_call(
        &sock,
        &Request::Attach {
            version: VERSION,
            aname: Vec::new(),
        },
    ) else {
        panic!("attach")
    };
    let msg = Request::OpenAt {
        dir: root,
        name: b"hello.txt".to_vec(),
        dev: 0,
        ino: 0,
        flags: 0,
    }
    .encode()
    .unwrap();
    // Truncated anywhere, or with a name length past the end.
    for cut in HEADER_LEN..msg.len() {
        let mut m = msg[..cut].to_vec();
        m[4..8].copy_from_slice(&u32::try_from(cut - HEADER_LEN).unwrap().to_le_bytes());
        expect_error(&sock, &m, None, &[libc::EINVAL]);
    }
    let mut m = msg.clone();
    m[HEADER_LEN + 8..HEADER_LEN + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    expect_error(&sock, &m, None, &[libc::EINVAL]);
    // Well-formed but wrong: the inode, a NUL in the name.
    expect_error(&sock, &msg, None, &[libc::ESTALE]);
    let bad = Request::OpenAt {
        dir: root,
        name: b"a\0b".to_vec(),
        dev: 0,
        ino: 0,
        flags: 0,
    };
    expect_error(&sock, &bad.encode().unwrap(), None, &[libc::EINVAL]);
    drop(sock);
    server.join().unwrap().unwrap();
}
