//! Several mounts and the operations that change files, against the fixture's temp trees.

use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::{
    build_tree, expect_error, names, raw_call, raw_server, seqpacket_pair, Fixture, TempDir,
};
use crate::proto::{Reply, Request, VERSION};
use crate::{serve, Attr, Client, Errno, Fid, Mount, SetAttr, Timespec};

#[track_caller]
fn err<T: std::fmt::Debug>(r: Result<T, Errno>) -> i32 {
    r.expect_err("expected an error").0
}

fn attach(c: &Client, name: &str) -> Fid {
    c.attach_mount(name.as_bytes()).unwrap().fid
}

/// Walks one name that must exist.
fn walk1(c: &Client, dir: Fid, name: &str) -> (Fid, Attr) {
    let w = c.walk(dir, &names(&[name])).unwrap();
    assert_eq!(w.error, None, "walk {name}");
    w.steps[0]
}

fn read_fd(fd: OwnedFd) -> String {
    let mut f = std::fs::File::from(fd);
    f.rewind().unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    s
}

fn getfl(fd: &OwnedFd) -> i32 {
    // SAFETY: F_GETFL on an fd we own.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) }
}

/// Everything observable about a tree on the host: each path with its type, mode, owner, size,
/// inode, link count, mtime and content (or link target), sorted.
fn snapshot(top: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![top.to_path_buf()];
    while let Some(p) = todo.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        let what = if m.is_symlink() {
            format!("-> {}", std::fs::read_link(&p).unwrap().display())
        } else if m.is_file() {
            std::fs::read_to_string(&p).unwrap_or_else(|_| "<binary>".into())
        } else if m.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                todo.push(e.unwrap().path());
            }
            String::new()
        } else {
            "<special>".into()
        };
        out.push(format!(
            "{} {:o} {}:{} {} {} {} {}.{} {what}",
            p.display(),
            m.mode(),
            m.uid(),
            m.gid(),
            m.size(),
            m.ino(),
            m.nlink(),
            m.mtime(),
            m.mtime_nsec(),
        ));
    }
    out.sort();
    out
}

/// What a test must never change: /etc/passwd, and `secret` outside every mount.
fn outside(f: &Fixture) -> Vec<String> {
    let mut v = snapshot(Path::new("/etc/passwd"));
    v.extend(snapshot(&f.host("secret")));
    assert!(!f.host("created-outside").exists());
    v
}

#[test]
fn attach_names_mounts() {
    let f = Fixture::new();
    let c = f.c();
    for (name, dir, writable) in super::MOUNTS {
        let a = c.attach_mount(name.as_bytes()).unwrap();
        assert!(a.attr.is_dir(), "{name}");
        assert_eq!(a.read_only, !writable, "{name}");
        assert_eq!(a.attr.ino, super::ino_of(&f.host(dir)), "{name}");
        assert_ne!(c.attach_mount(name.as_bytes()).unwrap().fid, a.fid);
    }
    for missing in ["/nope", "rw", "/rw/", "/", "/rw/d"] {
        assert_eq!(
            c.attach_mount(missing.as_bytes()),
            Err(Errno(libc::ENOENT)),
            "{missing}"
        );
    }
}

#[test]
fn create_then_write_and_read_back() {
    let f = Fixture::new();
    let c = f.c();
    let rw = attach(c, "/rw");
    let (fid, attr, fd) = c
        .create(rw, b"new.txt", libc::O_RDWR | libc::O_TRUNC, 0o640)
        .unwrap();
    // The mode exactly as asked (the server has umask 0), the host's inode.
    assert_eq!(attr.mode, libc::S_IFREG | 0o640);
    assert_eq!(attr.ino, super::ino_of(&f.host("rw/new.txt")));
    assert_eq!(getfl(&fd) & libc::O_ACCMODE, libc::O_RDWR);
    let mut file = std::fs::File::from(fd);
    file.write_all(b"written through the fd").unwrap();
    assert_eq!(
        std::fs::read_to_string(f.host("rw/new.txt")).unwrap(),
        "written through the fd"
    );
    assert_eq!(c.stat(fid).unwrap().size, 22);
    assert_eq!(walk1(c, rw, "new.txt").1.ino, attr.ino);
    // The fid re-opens like a walked one.
    assert_eq!(
        read_fd(c.open(fid, libc::O_RDONLY).unwrap()),
        "written through the fd"
    );

    // O_EXCL is implied: an existing name, a symlink above all, is EEXIST and stays as it was.
    let before = outside(&f);
    for name in [
        "new.txt", "d", "link_rel", "link_abs", "link_up", "dangling",
    ] {
        assert_eq!(
            err(c.create(rw, name.as_bytes(), libc::O_WRONLY, 0o644)),
            libc::EEXIST,
            "{name}"
        );
    }
    assert_eq!(outside(&f), before);
    assert_eq!(
        std::fs::read_to_string(f.host("rw/new.txt")).unwrap(),
        "written through the fd"
    );

    // Flags that go on the open file; flags and modes that are not for Create.
    let (_, _, fd) = c
        .create(
            rw,
            b"app",
            libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_EXCL,
            0,
        )
        .unwrap();
    assert_eq!(
        getfl(&fd) & (libc::O_APPEND | libc::O_ACCMODE),
        libc::O_APPEND | libc::O_WRONLY
    );
    assert_eq!(
        std::fs::symlink_metadata(f.host("rw/app")).unwrap().mode(),
        libc::S_IFREG
    );
    for (flags, mode) in [
        (libc::O_RDWR | libc::O_DIRECTORY, 0o644),
        (libc::O_ACCMODE, 0o644),
        (libc::O_RDWR | libc::O_PATH, 0o644),
        (libc::O_TMPFILE | libc::O_RDWR, 0o644),
        (libc::O_RDWR | libc::O_DIRECT, 0o644),
        (libc::O_RDWR, 0o10644),
        (libc::O_RDWR, libc::S_IFREG | 0o644),
    ] {
        assert_eq!(
            err(c.create(rw, b"bad", flags, mode)),
            libc::EINVAL,
            "{flags:#o} {mode:#o}"
        );
    }
    assert!(!f.host("rw/bad").exists());
    // Names as for Walk; the directory must be one.
    for bad in ["", ".", "..", "a/b", "../x", "a\0b"] {
        assert_eq!(
            err(c.create(rw, bad.as_bytes(), libc::O_RDWR, 0o644)),
            libc::EINVAL
        );
    }
    let file = walk1(c, rw, "data.txt").0;
    assert_eq!(
        err(c.create(file, b"x", libc::O_RDWR, 0o644)),
        libc::ENOTDIR
    );
    assert_eq!(err(c.create(9999, b"x", libc::O_RDWR, 0o644)), libc::EBADF);
    // In a subdirectory reached by a walk.
    let d = walk1(c, rw, "d").0;
    c.create(d, b"g", libc::O_WRONLY, 0o600).unwrap();
    assert!(f.host("rw/d/g").is_file());
}

#[test]
fn open_for_write_on_writable_mounts() {
    let f = Fixture::new();
    let c = f.c();
    let rw = attach(c, "/rw");
    let data = walk1(c, rw, "data.txt").0;
    let host = f.host("rw/data.txt");

    let fd = c.open(data, libc::O_WRONLY | libc::O_APPEND).unwrap();
    assert_ne!(getfl(&fd) & libc::O_APPEND, 0);
    std::fs::File::from(fd).write_all(b"more\n").unwrap();
    assert_eq!(std::fs::read_to_string(&host).unwrap(), "data\nmore\n");

    let fd = c.open(data, libc::O_RDWR).unwrap();
    assert_eq!(read_fd(fd), "data\nmore\n");

    // O_TRUNC truncates, whatever the access mode (as Linux does).
    let fd = c.open(data, libc::O_WRONLY | libc::O_TRUNC).unwrap();
    assert_eq!(std::fs::metadata(&host).unwrap().len(), 0);
    std::fs::File::from(fd).write_all(b"abc").unwrap();
    c.open(data, libc::O_RDONLY | libc::O_TRUNC).unwrap();
    assert_eq!(std::fs::metadata(&host).unwrap().len(), 0);

    // Still only regular files, and no creating through Open.
    let d = walk1(c, rw, "d").0;
    assert_eq!(err(c.open(d, libc::O_WRONLY)), libc::EISDIR);
    assert_eq!(err(c.open(rw, libc::O_RDWR)), libc::EISDIR);
    let link = walk1(c, rw, "link_up").0;
    let before = outside(&f);
    assert_eq!(
        err(c.open(link, libc::O_WRONLY | libc::O_TRUNC)),
        libc::ELOOP
    );
    assert_eq!(outside(&f), before);
    for flags in [
        libc::O_RDWR | libc::O_CREAT,
        libc::O_RDWR | libc::O_EXCL,
        libc::O_TMPFILE | libc::O_RDWR,
        libc::O_ACCMODE,
    ] {
        assert_eq!(err(c.open(data, flags)), libc::EINVAL, "{flags:#o}");
    }
    // A file replaced on the host: ESTALE, and the new file is not truncated.
    std::fs::rename(&host, f.host("rw/moved")).unwrap();
    std::fs::write(&host, "replacement").unwrap();
    assert_eq!(
        err(c.open(data, libc::O_WRONLY | libc::O_TRUNC)),
        libc::ESTALE
    );
    assert_eq!(std::fs::read_to_string(&host).unwrap(), "replacement");
}

#[test]
fn mkdir_and_symlink() {
    let f = Fixture::new();
    let c = f.c();
    let rw = attach(c, "/rw");
    let (dir, attr) = c.mkdir(rw, b"newdir", 0o1750).unwrap();
    assert_eq!(attr.mode, libc::S_IFDIR | 0o1750);
    assert_eq!(
        std::fs::metadata(f.host("rw/newdir")).unwrap().mode(),
        libc::S_IFDIR | 0o1750
    );
    // A usable directory fid.
    c.create(dir, b"in", libc::O_WRONLY, 0o644).unwrap();
    assert!(f.host("rw/newdir/in").is_file());
    assert!(c.getdents(dir, 0).unwrap().entries.iter().any(|d| d.name == b"in"));
    let before = outside(&f);
    for name in ["newdir", "data.txt", "dangling", "link_up"] {
        assert_eq!(
            err(c.mkdir(rw, name.as_bytes(), 0o755)),
            libc::EEXIST,
            "{name}"
        );
    }
    assert_eq!(outside(&f), before);
    assert_eq!(err(c.mkdir(rw, b"m", 0o40755)), libc::EINVAL);
    assert_eq!(err(c.mkdir(rw, b"..", 0o755)), libc::EINVAL);

    // Symlinks are stored verbatim and never followed.
    for (name, target) in [
        ("s_rel", "../../etc/passwd"),
        ("s_abs", "/etc/passwd"),
        ("s_dir", "d"),
    ] {
        let (fid, attr) = c.symlink(rw, name.as_bytes(), target.as_bytes()).unwrap();
        assert!(attr.is_symlink());
        assert_eq!(c.readlink(fid).unwrap(), target.as_bytes());
        assert_eq!(
            std::fs::read_link(f.host(&format!("rw/{name}"))).unwrap(),
            Path::new(target)
        );
        assert_eq!(err(c.open(fid, libc::O_RDONLY)), libc::ELOOP);
        let w = c.walk(rw, &names(&[name, "f"])).unwrap();
        assert_eq!((w.steps.len(), w.error), (1, None));
        assert_eq!(err(c.create(fid, b"x", libc::O_RDWR, 0o644)), libc::ENOTDIR);
    }
    assert_eq!(err(c.symlink(rw, b"s_abs", b"x")), libc::EEXIST);
    assert_eq!(err(c.symlink(rw, b"e", b"")), libc::ENOENT);
    assert_eq!(err(c.symlink(rw, b"e", &[b'a'; 4096])), libc::ENAMETOOLONG);
    assert_eq!(err(c.symlink(rw, b"e", b"a\0b")), libc::EINVAL);
    assert!(c.symlink(rw, b"long", &[b'a'; 4095]).is_ok());
    assert!(!f.host("rw/e").exists());
}

#[test]
fn link_names_the_same_file() {
    let f = Fixture::new();
    let c = f.c();
    let rw = attach(c, "/rw");
    let (data, _) = walk1(c, rw, "data.txt");
    let d = walk1(c, rw, "d").0;
    let (fid, attr) = c.link(d, b"hard", data).unwrap();
    assert_eq!(attr.ino, super::ino_of(&f.host("rw/data.txt")));
    assert_eq!(attr.nlink, 2);
    assert_eq!(
        std::fs::read_to_string(f.host("rw/d/hard")).unwrap(),
        "data\n"
    );
    assert_eq!(c.stat(data).unwrap().nlink, 2);
    assert_eq!(read_fd(c.open(fid, libc::O_RDONLY).unwrap()), "data\n");

    // A symlink links itself, not its target.
    let before = outside(&f);
    let link = walk1(c, rw, "link_up").0;
    let (_, attr) = c.link(rw, b"link_up2", link).unwrap();
    assert!(attr.is_symlink());
    assert_eq!(
        std::fs::read_link(f.host("rw/link_up2")).unwrap(),
        Path::new("../secret")
    );
    assert_eq!(outside(&f), before);

    assert_eq!(err(c.link(rw, b"x", d)), libc::EPERM);
    assert_eq!(err(c.link(rw, b"x", rw)), libc::EPERM);
    assert_eq!(err(c.link(rw, b"d", data)), libc::EEXIST);
    assert_eq!(err(c.link(data, b"x", data)), libc::ENOTDIR);
    assert_eq!(err(c.link(rw, b"x", 9999)), libc::EBADF);
    // Across mounts, even when the host could: EXDEV.
    let rw2 = attach(c, "/rw2");
    assert_eq!(err(c.link(rw2, b"x", data)), libc::EXDEV);
    let inner = attach(c, "/rw/inner");
    assert_eq!(err(c.link(inner, b"x", data)), libc::EXDEV);
    assert!(!f.host("rw2/x").exists() && !f.host("rw/x").exists());
}

#[test]
fn unlink_files_and_directories() {
    let f = Fixture::new();
    let c = f.c();
    let rw = attach(c, "/rw");
    let (data, _) = walk1(c, rw, "data.txt");
    let d = walk1(c, rw, "d").0;
    assert_eq!(err(c.unlink(rw, b"d", 0)), libc::EISDIR);
    assert_eq!(
        err(c.unlink(rw, b"data.txt", libc::AT_REMOVEDIR)),
        libc::ENOTDIR
    );
    assert_eq!(err(c.unlink(rw, b"d", libc::AT_REMOVEDIR)), libc::ENOTEMPTY);
    assert_eq!(err(c.unlink(rw, b"nope", 0)), libc::ENOENT);
    assert_eq!(err(c.unlink(rw, b"data.txt", 1)), libc::EINVAL);
    assert_eq!(err(c.unlink(rw, b"..", libc::AT_REMOVEDIR)), libc::EINVAL);
    assert_eq!(err(c.unlink(data, b"x", 0)), libc::ENOTDIR);
    assert!(f.host("rw/data.txt").is_file() && f.host("rw/d/f").is_file());

    c.unlink(rw, b"data.txt", 0).unwrap();
    assert!(!f.host("rw/data.txt").exists());
    // The fid of a removed file still stats.
    assert_eq!(c.stat(data).unwrap().nlink, 0);
    c.unlink(d, b"f", 0).unwrap();
    c.unlink(rw, b"d", libc::AT_REMOVEDIR).unwrap();
    assert!(!f.host("rw/d").exists());
    c.unlink(rw, b"empty", libc::AT_REMOVEDIR).unwrap();

    // A symlink goes, its target stays.
    let before = outside(&f);
    for link in ["link_rel", "link_abs", "link_up", "dangling"] {
        c.unlink(rw, link.as_bytes(), 0).unwrap();
    }
    assert_eq!(outside(&f), before);

    // The root of a mount inside this one is busy, as a mount point is.
    assert_eq!(err(c.unlink(rw, b"inner", libc::AT_REMOVEDIR)), libc::EBUSY);
    assert!(f.host("rw/inner/x").is_file());
}

#[test]
fn rename_plain_noreplace_exchange() {
    let f = Fixture::new();
    let c = f.c();
    let rw = attach(c, "/rw");
    let (data, _) = walk1(c, rw, "data.txt");
    let d = walk1(c, rw, "d").0;
    let (ff, _) = walk1(c, d, "f");

    c.rename(rw, b"data.txt", d, b"moved", 0).unwrap();
    assert!(!f.host("rw/data.txt").exists());
    assert_eq!(
        std::fs::read_to_string(f.host("rw/d/moved")).unwrap(),
        "data\n"
    );
    // The fid follows the file: it re-opens from its new name.
    assert_eq!(read_fd(c.open(data, libc::O_RDONLY).unwrap()), "data\n");

    // NOREPLACE onto an existing name: EEXIST, both as they were.
    assert_eq!(
        err(c.rename(d, b"moved", d, b"f", libc::RENAME_NOREPLACE)),
        libc::EEXIST
    );
    assert_eq!(std::fs::read_to_string(f.host("rw/d/f")).unwrap(), "f");
    c.rename(d, b"moved", rw, b"back", libc::RENAME_NOREPLACE)
        .unwrap();
    assert!(f.host("rw/back").is_file());

    // EXCHANGE swaps the names; both fids follow their files.
    c.rename(rw, b"back", d, b"f", libc::RENAME_EXCHANGE)
        .unwrap();
    assert_eq!(std::fs::read_to_string(f.host("rw/d/f")).unwrap(), "data\n");
    assert_eq!(std::fs::read_to_string(f.host("rw/back")).unwrap(), "f");
    assert_eq!(read_fd(c.open(data, libc::O_RDONLY).unwrap()), "data\n");
    assert_eq!(read_fd(c.open(ff, libc::O_RDONLY).unwrap()), "f");
    assert_eq!(
        err(c.rename(rw, b"back", d, b"nope", libc::RENAME_EXCHANGE)),
        libc::ENOENT
    );

    // A plain rename replaces; the replaced file's fid no longer re-opens.
    c.rename(rw, b"back", d, b"f", 0).unwrap();
    assert_eq!(read_fd(c.open(ff, libc::O_RDONLY).unwrap()), "f");
    assert_eq!(err(c.open(data, libc::O_RDONLY)), libc::ESTALE);

    // Renaming a symlink moves the link, never its target.
    let before = outside(&f);
    c.rename(rw, b"link_up", d, b"link_moved", 0).unwrap();
    c.rename(rw, b"dangling", rw, b"dangling2", 0).unwrap();
    c.rename(rw, b"empty", rw, b"link_abs", 0).unwrap_err();
    assert_eq!(outside(&f), before);
    assert_eq!(
        std::fs::read_link(f.host("rw/d/link_moved")).unwrap(),
        Path::new("../secret")
    );

    // Refused, changing nothing.
    let snap = snapshot(&f.host("rw"));
    let both = libc::RENAME_NOREPLACE | libc::RENAME_EXCHANGE;
    assert_eq!(err(c.rename(rw, b"empty", rw, b"x", both)), libc::EINVAL);
    assert_eq!(
        err(c.rename(rw, b"empty", rw, b"x", libc::RENAME_WHITEOUT)),
        libc::EINVAL
    );
    assert_eq!(err(c.rename(rw, b"empty", rw, b"../x", 0)), libc::EINVAL);
    assert_eq!(err(c.rename(rw, b"d", d, b"sub", 0)), libc::EINVAL);
    assert_eq!(err(c.rename(rw, b"nope", rw, b"x", 0)), libc::ENOENT);
    let rw2 = attach(c, "/rw2");
    assert_eq!(err(c.rename(rw, b"empty", rw2, b"x", 0)), libc::EXDEV);
    assert_eq!(err(c.rename(rw2, b"other.txt", rw, b"x", 0)), libc::EXDEV);
    // The root of another mount can be neither moved nor replaced.
    assert_eq!(err(c.rename(rw, b"inner", rw, b"x", 0)), libc::EBUSY);
    assert_eq!(err(c.rename(rw, b"empty", rw, b"inner", 0)), libc::EBUSY);
    assert_eq!(snapshot(&f.host("rw")), snap);
    assert!(f.host("rw2/other.txt").is_file());
}

#[test]
fn setattr_mode_size_times_owner() {
    let f = Fixture::new();
    let c = f.c();
    let rw = attach(c, "/rw");
    let (data, _) = walk1(c, rw, "data.txt");
    let host = f.host("rw/data.txt");
    let meta = || std::fs::symlink_metadata(&host).unwrap();

    let attr = c
        .setattr(
            data,
            &SetAttr {
                mode: Some(0o4600),
                ..SetAttr::default()
            },
        )
        .unwrap();
    assert_eq!(attr.mode, libc::S_IFREG | 0o4600);
    assert_eq!(meta().permissions().mode(), libc::S_IFREG | 0o4600);

    let size = |n| SetAttr {
        size: Some(n),
        ..SetAttr::default()
    };
    assert_eq!(c.setattr(data, &size(2)).unwrap().size, 2);
    assert_eq!(std::fs::read_to_string(&host).unwrap(), "da");
    assert_eq!(c.setattr(data, &size(10_000)).unwrap().size, 10_000);
    assert_eq!(meta().len(), 10_000);

    let t = |sec, nsec| Timespec { sec, nsec };
    let times = SetAttr {
        atime: Some(t(1_000_000_000, 5)),
        mtime: Some(t(1_500_000_000, 123_456_789)),
        ..SetAttr::default()
    };
    let attr = c.setattr(data, &times).unwrap();
    assert_eq!(
        (attr.atime, attr.mtime),
        (t(1_000_000_000, 5), t(1_500_000_000, 123_456_789))
    );
    assert_eq!(
        (meta().mtime(), meta().mtime_nsec()),
        (1_500_000_000, 123_456_789)
    );
    // OMIT (or None) leaves a time; NOW is the server's clock.
    let attr = c
        .setattr(
            data,
            &SetAttr {
                atime: Some(Timespec::OMIT),
                mtime: Some(Timespec::NOW),
                ..SetAttr::default()
            },
        )
        .unwrap();
    assert_eq!(attr.atime, t(1_000_000_000, 5));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(attr.mtime.sec.abs_diff(i64::try_from(now).unwrap()) < 60);

    // Size, owner, mode and times at once: the times are the ones asked for, after the
    // truncate; the mode after the chown (which would clear set-id bits).
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let (uid, gid) = if root {
        (1234, 5678)
    } else {
        (meta().uid(), meta().gid())
    };
    let all = SetAttr {
        mode: Some(0o2755),
        uid: Some(uid),
        gid: Some(gid),
        size: Some(1),
        atime: Some(t(7, 0)),
        mtime: Some(t(8, 0)),
    };
    let attr = c.setattr(data, &all).unwrap();
    assert_eq!(
        (attr.mode, attr.uid, attr.gid, attr.size, attr.atime, attr.mtime),
        (libc::S_IFREG | 0o2755, uid, gid, 1, t(7, 0), t(8, 0))
    );
    assert_eq!((meta().uid(), meta().gid(), meta().len()), (uid, gid, 1));
    // Only the uid.
    if root {
        let attr = c
            .setattr(
                data,
                &SetAttr {
                    uid: Some(42),
                    ..SetAttr::default()
                },
            )
            .unwrap();
        assert_eq!((attr.uid, attr.gid), (42, gid));
    }

    // Refused, changing nothing.
    let snap = snapshot(&f.host("rw"));
    let d = walk1(c, rw, "d").0;
    let link = walk1(c, rw, "link_up").0;
    for (fid, set, errno) in [
        (
            data,
            SetAttr {
                mode: Some(0o10644),
                ..SetAttr::default()
            },
            libc::EINVAL,
        ),
        (
            data,
            SetAttr {
                size: Some(u64::MAX),
                ..SetAttr::default()
            },
            libc::EINVAL,
        ),
        (
            d,
            SetAttr {
                size: Some(0),
                ..SetAttr::default()
            },
            libc::EISDIR,
        ),
        (
            link,
            SetAttr {
                size: Some(0),
                ..SetAttr::default()
            },
            libc::EINVAL,
        ),
        (
            link,
            SetAttr {
                mode: Some(0o777),
                ..SetAttr::default()
            },
            libc::EOPNOTSUPP,
        ),
        (
            data,
            SetAttr {
                mtime: Some(t(0, 1_000_000_000)),
                ..SetAttr::default()
            },
            libc::EINVAL,
        ),
        (
            data,
            SetAttr {
                atime: Some(t(0, -1)),
                mode: Some(0o600),
                ..SetAttr::default()
            },
            libc::EINVAL,
        ),
        (
            9999,
            SetAttr {
                mode: Some(0o600),
                ..SetAttr::default()
            },
            libc::EBADF,
        ),
    ] {
        assert_eq!(err(c.setattr(fid, &set)), errno, "{set:?}");
    }
    assert_eq!(snapshot(&f.host("rw")), snap);
    // Empty: a stat.
    assert_eq!(
        c.setattr(data, &SetAttr::default()).unwrap(),
        c.stat(data).unwrap()
    );

    // A mount's root has no parent but its attributes still change.
    let attr = c
        .setattr(
            rw,
            &SetAttr {
                mode: Some(0o700),
                ..SetAttr::default()
            },
        )
        .unwrap();
    assert_eq!(attr.mode, libc::S_IFDIR | 0o700);
    assert_eq!(
        std::fs::metadata(f.host("rw")).unwrap().mode(),
        libc::S_IFDIR | 0o700
    );
}

#[test]
fn setattr_on_a_symlink_changes_the_link_only() {
    let f = Fixture::new();
    let c = f.c();
    let rw = attach(c, "/rw");
    let before = outside(&f);
    for name in ["link_rel", "link_abs", "link_up", "dangling"] {
        let link = walk1(c, rw, name).0;
        let set = SetAttr {
            atime: Some(Timespec { sec: 11, nsec: 0 }),
            mtime: Some(Timespec { sec: 12, nsec: 0 }),
            ..SetAttr::default()
        };
        let attr = c.setattr(link, &set).unwrap();
        assert!(attr.is_symlink());
        assert_eq!(attr.mtime.sec, 12);
        let m = std::fs::symlink_metadata(f.host(&format!("rw/{name}"))).unwrap();
        assert_eq!(m.mtime(), 12);
        // The owner of the link itself (lchown) may change; its mode may not.
        let own = SetAttr {
            uid: Some(m.uid()),
            gid: Some(m.gid()),
            ..SetAttr::default()
        };
        assert!(c.setattr(link, &own).unwrap().is_symlink());
        let chmod = SetAttr {
            mode: Some(0o600),
            ..SetAttr::default()
        };
        assert_eq!(err(c.setattr(link, &chmod)), libc::EOPNOTSUPP);
    }
    assert_eq!(outside(&f), before);
}

#[test]
fn statfs_reports_the_host_file_system() {
    let f = Fixture::new();
    let c = f.c();
    let rw = attach(c, "/rw");
    let s = c.statfs(rw).unwrap();
    // SAFETY: libc::statfs is plain data; all-zero is valid.
    let mut host: libc::statfs = unsafe { std::mem::zeroed() };
    let path = std::ffi::CString::new(f.host("rw").as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid path and a writable statfs buffer.
    assert_eq!(unsafe { libc::statfs(path.as_ptr(), &mut host) }, 0);
    assert_eq!(s.fs_type, u64::try_from(host.f_type).unwrap());
    assert_eq!(s.bsize, u64::try_from(host.f_bsize).unwrap());
    assert_eq!(s.blocks, host.f_blocks);
    assert_eq!(s.namelen, u64::try_from(host.f_namelen).unwrap());
    assert!(s.frsize > 0 && s.files > 0);
    assert_eq!(s.flags & libc::ST_RDONLY, 0);
    // A file's too; a read-only mount says so.
    let data = walk1(c, rw, "data.txt").0;
    assert_eq!(c.statfs(data).unwrap().fs_type, s.fs_type);
    let ro = attach(c, "/ro");
    assert_ne!(c.statfs(ro).unwrap().flags & libc::ST_RDONLY, 0);
    let (root, _) = c.attach().unwrap();
    assert_ne!(c.statfs(root).unwrap().flags & libc::ST_RDONLY, 0);
    assert_eq!(err(c.statfs(9999)), libc::EBADF);
}

#[test]
fn read_only_mounts_refuse_every_change() {
    let f = Fixture::new();
    let c = f.c();
    let before = snapshot(&f.top);
    for (mount, file, dir) in [("", "hello.txt", "sub"), ("/ro", "keep.txt", "sub")] {
        let top = c.attach_mount(mount.as_bytes()).unwrap();
        assert!(top.read_only);
        let top = top.fid;
        let (file, _) = walk1(c, top, file);
        let (dir, _) = walk1(c, top, dir);
        let link = walk1(c, top, "link_up").0;
        let erofs = libc::EROFS;
        assert_eq!(err(c.create(top, b"new", libc::O_RDWR, 0o644)), erofs);
        assert_eq!(err(c.create(dir, b"new", libc::O_RDONLY, 0o644)), erofs);
        assert_eq!(err(c.mkdir(top, b"new", 0o755)), erofs);
        assert_eq!(err(c.symlink(top, b"new", b"x")), erofs);
        assert_eq!(err(c.link(top, b"new", file)), erofs);
        assert_eq!(err(c.unlink(top, b"sub", libc::AT_REMOVEDIR)), erofs);
        assert_eq!(err(c.unlink(dir, b"s.txt", 0)), erofs);
        assert_eq!(err(c.rename(top, b"sub", top, b"new", 0)), erofs);
        assert_eq!(
            err(c.rename(dir, b"x", top, b"y", libc::RENAME_EXCHANGE)),
            erofs
        );
        for set in [
            SetAttr {
                mode: Some(0o777),
                ..SetAttr::default()
            },
            SetAttr {
                uid: Some(0),
                ..SetAttr::default()
            },
            SetAttr {
                gid: Some(0),
                ..SetAttr::default()
            },
            SetAttr {
                size: Some(0),
                ..SetAttr::default()
            },
            SetAttr {
                atime: Some(Timespec::NOW),
                ..SetAttr::default()
            },
            SetAttr {
                mtime: Some(Timespec { sec: 1, nsec: 0 }),
                ..SetAttr::default()
            },
        ] {
            for fid in [file, dir, top, link] {
                assert_eq!(err(c.setattr(fid, &set)), erofs, "{set:?}");
            }
        }
        for flags in [
            libc::O_WRONLY,
            libc::O_RDWR,
            libc::O_RDONLY | libc::O_TRUNC,
            libc::O_RDONLY | libc::O_APPEND,
            libc::O_RDONLY | libc::O_CREAT,
        ] {
            assert_eq!(err(c.open(file, flags)), erofs, "{flags:#o}");
        }
        // Reading still works.
        assert!(c.open(file, libc::O_RDONLY).is_ok());
        assert!(c.setattr(file, &SetAttr::default()).is_ok());
    }
    // A writable mount cannot reach into a read-only one either.
    let rw = attach(c, "/rw");
    let ro_file = walk1(c, attach(c, "/ro"), "keep.txt").0;
    assert_eq!(err(c.link(rw, b"x", ro_file)), libc::EXDEV);
    assert_eq!(snapshot(&f.top), before);
}

#[test]
fn mounts_cannot_reach_each_other_or_outside() {
    let f = Fixture::new();
    let c = f.c();
    let before = outside(&f);
    let rw = attach(c, "/rw");
    let rw2 = attach(c, "/rw2");
    // No name leads up or across.
    for bad in ["..", "../rw2", "/", "../../etc"] {
        assert_eq!(
            c.walk(rw, &names(&[bad])),
            Err(Errno(libc::EINVAL)),
            "{bad}"
        );
    }
    // Every symlink pointing outside stops a walk and is never followed by any operation.
    for name in ["link_rel", "link_abs", "link_up", "dangling"] {
        let w = c.walk(rw, &names(&[name, "x"])).unwrap();
        assert_eq!((w.steps.len(), w.error), (1, None), "{name}");
        let link = w.steps[0].0;
        assert_eq!(err(c.open(link, libc::O_RDONLY)), libc::ELOOP);
        assert_eq!(err(c.open(link, libc::O_RDWR | libc::O_TRUNC)), libc::ELOOP);
        assert_eq!(err(c.getdents(link, 0)), libc::ENOTDIR);
        assert_eq!(
            err(c.create(rw, name.as_bytes(), libc::O_RDWR, 0o644)),
            libc::EEXIST
        );
        assert_eq!(err(c.mkdir(rw, name.as_bytes(), 0o755)), libc::EEXIST);
        assert_eq!(err(c.symlink(rw, name.as_bytes(), b"x")), libc::EEXIST);
        assert_eq!(
            err(c.create(link, b"x", libc::O_RDWR, 0o644)),
            libc::ENOTDIR
        );
        assert_eq!(err(c.mkdir(link, b"x", 0o755)), libc::ENOTDIR);
        assert_eq!(err(c.unlink(link, b"passwd", 0)), libc::ENOTDIR);
        let size = SetAttr {
            size: Some(0),
            ..SetAttr::default()
        };
        assert_eq!(err(c.setattr(link, &size)), libc::EINVAL);
        c.setattr(
            link,
            &SetAttr {
                mtime: Some(Timespec::NOW),
                ..SetAttr::default()
            },
        )
        .unwrap();
        let statfs = c.statfs(link).unwrap();
        assert_eq!(statfs.fs_type, c.statfs(rw).unwrap().fs_type);
        c.link(rw, format!("{name}.hard").as_bytes(), link).unwrap();
        c.rename(
            rw,
            name.as_bytes(),
            rw,
            format!("{name}.moved").as_bytes(),
            0,
        )
        .unwrap();
        c.unlink(rw, format!("{name}.moved").as_bytes(), 0).unwrap();
    }
    assert_eq!(outside(&f), before);
    // Two mounts of the same file system still cannot exchange files.
    assert_eq!(err(c.rename(rw, b"data.txt", rw2, b"x", 0)), libc::EXDEV);
    assert_eq!(
        err(c.rename(rw, b"data.txt", rw2, b"other.txt", libc::RENAME_EXCHANGE)),
        libc::EXDEV
    );
    let other = walk1(c, rw2, "other.txt").0;
    assert_eq!(err(c.link(rw, b"x", other)), libc::EXDEV);
    let inner = attach(c, "/rw/inner");
    let x = walk1(c, inner, "x").0;
    assert_eq!(err(c.link(rw, b"x2", x)), libc::EXDEV);
    assert!(f.host("rw/data.txt").is_file() && f.host("rw2/other.txt").is_file());
}

#[test]
fn a_regular_file_can_be_a_mount() {
    let dir = TempDir::new();
    std::fs::write(dir.0.join("conf"), "setting=1\n").unwrap();
    let root = build_tree(&dir.0);
    let (a, b) = seqpacket_pair();
    let mounts = vec![
        Mount::open(b"", &root, false).unwrap(),
        Mount::open(b"/etc/conf", &dir.0.join("conf"), true).unwrap(),
    ];
    assert_eq!(mounts[1].fds().count(), 2);
    let server = std::thread::spawn(move || serve(b, mounts));
    let c = Client::new(a);
    let m = c.attach_mount(b"/etc/conf").unwrap();
    assert!(m.attr.is_file() && !m.read_only);
    assert_eq!(
        read_fd(c.open(m.fid, libc::O_RDONLY).unwrap()),
        "setting=1\n"
    );
    let fd = c.open(m.fid, libc::O_WRONLY | libc::O_APPEND).unwrap();
    std::fs::File::from(fd).write_all(b"more=2\n").unwrap();
    let size = SetAttr {
        size: Some(3),
        ..SetAttr::default()
    };
    assert_eq!(c.setattr(m.fid, &size).unwrap().size, 3);
    assert_eq!(std::fs::read_to_string(dir.0.join("conf")).unwrap(), "set");
    // Nothing else of its directory is reachable.
    assert_eq!(
        c.walk(m.fid, &names(&["x"])).unwrap().error,
        Some(libc::ENOTDIR)
    );
    assert_eq!(err(c.getdents(m.fid, 0)), libc::ENOTDIR);
    assert_eq!(
        err(c.create(m.fid, b"x", libc::O_RDWR, 0o644)),
        libc::ENOTDIR
    );
    assert_eq!(err(c.link(m.fid, b"x", m.fid)), libc::ENOTDIR);
    drop(c);
    server.join().unwrap().unwrap();
}

#[test]
fn write_garbage_changes_nothing_outside() {
    let f = Fixture::new();
    let before = outside(&f);
    let (sock, server) = raw_server(&f);
    let rw = match raw_call(
        &sock,
        &Request::Attach {
            version: VERSION,
            aname: b"/rw".to_vec(),
        },
    ) {
        Ok(Reply::Attach {
            fid,
            read_only: false,
            ..
        }) => fid,
        other => panic!("{other:?}"),
    };
    let inval = &[libc::EINVAL][..];
    // Write requests with bad names, bad flags, unknown fids, or cut short.
    let long = vec![b'x'; 256];
    for req in [
        Request::Create {
            dir: rw,
            name: b"..".to_vec(),
            flags: libc::O_RDWR,
            mode: 0o644,
        },
        Request::Create {
            dir: rw,
            name: long.clone(),
            flags: libc::O_RDWR,
            mode: 0o644,
        },
        Request::Create {
            dir: rw,
            name: b"x".to_vec(),
            flags: -1,
            mode: 0o644,
        },
        Request::Create {
            dir: rw,
            name: b"x".to_vec(),
            flags: libc::O_RDWR,
            mode: u32::MAX,
        },
        Request::Mkdir {
            dir: rw,
            name: b"a/b".to_vec(),
            mode: 0o755,
        },
        Request::Symlink {
            dir: rw,
            name: b"s".to_vec(),
            target: b"a\0b".to_vec(),
        },
        Request::Unlink {
            dir: rw,
            name: b"data.txt".to_vec(),
            flags: -1,
        },
        Request::Rename {
            old_dir: rw,
            old_name: b"data.txt".to_vec(),
            new_dir: rw,
            new_name: b"x".to_vec(),
            flags: u32::MAX,
        },
    ] {
        expect_error(&sock, &req.encode().unwrap(), None, inval);
        let msg = req.encode().unwrap();
        for cut in [msg.len() - 1, msg.len() - 4, crate::proto::HEADER_LEN + 3] {
            let mut short = msg[..cut].to_vec();
            let len = u32::try_from(cut - crate::proto::HEADER_LEN).unwrap();
            short[4..8].copy_from_slice(&len.to_le_bytes());
            expect_error(&sock, &short, None, inval);
        }
    }
    for req in [
        Request::Create {
            dir: 0,
            name: b"x".to_vec(),
            flags: libc::O_RDWR,
            mode: 0o644,
        },
        Request::Mkdir {
            dir: 12345,
            name: b"x".to_vec(),
            mode: 0o755,
        },
        Request::Symlink {
            dir: u64::MAX,
            name: b"x".to_vec(),
            target: b"y".to_vec(),
        },
        Request::Link {
            dir: rw,
            name: b"x".to_vec(),
            target: 777,
        },
        Request::Unlink {
            dir: 7,
            name: b"x".to_vec(),
            flags: 0,
        },
        Request::Rename {
            old_dir: rw,
            old_name: b"data.txt".to_vec(),
            new_dir: 99,
            new_name: b"x".to_vec(),
            flags: 0,
        },
        Request::Setattr {
            fid: 5555,
            attr: SetAttr {
                mode: Some(0o777),
                ..SetAttr::default()
            },
        },
        Request::Statfs { fid: 0 },
    ] {
        expect_error(&sock, &req.encode().unwrap(), None, &[libc::EBADF]);
    }
    assert!(f.host("rw/data.txt").is_file());
    assert!(!f.host("rw/x").exists());
    assert_eq!(outside(&f), before);
    drop(sock);
    server.join().unwrap().unwrap();
}
