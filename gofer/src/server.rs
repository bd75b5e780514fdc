//! The server loop: one thread, blocking `recvmsg`, one reply per request.
//!
//! Every fid is a node holding an `O_PATH|O_NOFOLLOW|O_CLOEXEC` host fd pinned to its inode, plus
//! (except for the root) its parent's fd and its own name, so that `Open` and `Getdents` re-open
//! it with `openat(parent, name, ...|O_NOFOLLOW)` and check the result is the same inode (`ESTALE`
//! if the host renamed something in between). Parent fds are shared (`Rc`), so clunking a
//! directory never invalidates its children. Every request is validated completely before it
//! changes the fid table, so a failed request changes nothing.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use crate::proto::{self, Header, Reply, Request, MAX_MSG, MAX_WALK_NAMES, REPLY, VERSION};
use crate::{transport, Attr, Dirent, Errno, Fid, Timespec};

/// Bytes of `linux_dirent64` read per `Getdents`; the encoded reply is at most a few percent
/// larger, well under [`MAX_MSG`].
const DIRENT_BUF: usize = 32 * 1024;
/// Longest symlink target Linux stores (`PATH_MAX` including the NUL).
const LINK_MAX: usize = 4096;
/// Open flags a client may pass besides `O_RDONLY`.
const OPEN_ALLOWED: i32 =
    libc::O_DIRECTORY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NOCTTY;
/// Open flags that ask for a change to the file: refused with `EROFS` on this read-only tree.
const OPEN_WRITE: i32 = libc::O_CREAT
    | libc::O_EXCL
    | libc::O_TRUNC
    | libc::O_APPEND
    | (libc::O_TMPFILE & !libc::O_DIRECTORY);

/// Serves `root` on `sock` until the peer closes it. Returns Ok on orderly close.
///
/// `root` is opened once (`O_PATH|O_DIRECTORY`); every other host file is reached from it one
/// name at a time. Errors are returned only for the root failing to open and for socket errors
/// other than the peer going away; bad requests are answered and the loop goes on.
pub fn serve(sock: OwnedFd, root: &Path) -> io::Result<()> {
    let path = CString::new(root.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let root = open_at(
        libc::AT_FDCWD,
        &path,
        libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
    )
    .map_err(|e| io::Error::from_raw_os_error(e.0))?;
    let mut server = Server::new(root);
    let mut buf = vec![0u8; MAX_MSG];
    loop {
        let got = match transport::recv(sock.as_fd(), &mut buf) {
            Ok(got) => got,
            Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => return Ok(()),
            Err(e) => return Err(e),
        };
        if got.len == 0
            && got.fds.is_empty()
            && !got.truncated
            && transport::peer_closed(sock.as_fd())
        {
            tracing::debug!("gofer: peer closed");
            return Ok(());
        }
        let msg = buf.get(..got.len).unwrap_or_default();
        let (reply, fd) = server.handle(msg, got.fds.len(), got.truncated);
        // Fds a client sent (never valid in a request) are closed here.
        drop(got.fds);
        match transport::send(sock.as_fd(), &reply, fd.as_ref().map(AsFd::as_fd)) {
            Ok(()) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET)) => {
                return Ok(())
            }
            Err(e) => return Err(e),
        }
    }
}

/// One fid.
struct Node {
    /// `O_PATH` fd pinned to the file.
    fd: Rc<OwnedFd>,
    /// Parent directory's `O_PATH` fd and this file's name; `None` for the root.
    parent: Option<(Rc<OwnedFd>, CString)>,
    /// Identity and type of the file at walk time (an inode's type never changes).
    dev: u64,
    ino: u64,
    kind: u32,
    /// Directory opened for reading, kept for later `Getdents` on this fid.
    dir: Option<OwnedFd>,
}

impl Node {
    fn new(fd: Rc<OwnedFd>, parent: Option<(Rc<OwnedFd>, CString)>, attr: &Attr) -> Node {
        Node {
            fd,
            parent,
            dev: attr.dev,
            ino: attr.ino,
            kind: attr.file_type(),
            dir: None,
        }
    }

    /// Opens the file again for I/O, relative to its parent (the root: to itself), never
    /// following a symlink and never blocking, and checks it is still the same inode.
    fn reopen(&self, flags: i32) -> Result<OwnedFd, Errno> {
        let (dir, name): (RawFd, &CStr) = match &self.parent {
            Some((parent, name)) => (parent.as_raw_fd(), name),
            None => (self.fd.as_raw_fd(), c"."),
        };
        let fd = open_at(
            dir,
            name,
            flags | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY,
        )?;
        let attr = fstat(fd.as_fd())?;
        if (attr.dev, attr.ino) != (self.dev, self.ino) {
            return Err(Errno(libc::ESTALE));
        }
        Ok(fd)
    }
}

struct Server {
    root: Rc<OwnedFd>,
    fids: HashMap<Fid, Node>,
    /// Next fid to hand out; fids are never reused. 0 is never a fid.
    next_fid: Fid,
    dirent_buf: Vec<u8>,
}

type Handled = Result<(Reply, Option<OwnedFd>), Errno>;

impl Server {
    fn new(root: OwnedFd) -> Server {
        Server {
            root: Rc::new(root),
            fids: HashMap::new(),
            next_fid: 1,
            dirent_buf: vec![0; DIRENT_BUF],
        }
    }

    fn insert(&mut self, node: Node) -> Fid {
        let fid = self.next_fid;
        self.next_fid += 1;
        self.fids.insert(fid, node);
        fid
    }

    fn node(&mut self, fid: Fid) -> Result<&mut Node, Errno> {
        self.fids.get_mut(&fid).ok_or(Errno(libc::EBADF))
    }

    /// Answers one received record: the encoded reply and the fd to donate with it.
    fn handle(&mut self, msg: &[u8], nfds: usize, truncated: bool) -> (Vec<u8>, Option<OwnedFd>) {
        let op = Header::parse(msg).map_or(0, |h| h.op & !REPLY);
        let result = if truncated {
            Err(Errno(libc::EINVAL))
        } else {
            Request::decode(msg, nfds)
        };
        let result = result.and_then(|req| {
            tracing::trace!(?req, "gofer request");
            self.dispatch(req)
        });
        match result.and_then(|(reply, fd)| Ok((reply.encode()?, fd))) {
            Ok(ok) => ok,
            Err(e) => {
                tracing::debug!(op, errno = e.0, "gofer request failed");
                (Reply::encode_error(op, e), None)
            }
        }
    }

    fn dispatch(&mut self, req: Request) -> Handled {
        match req {
            Request::Attach { version, aname } => self.attach(version, &aname),
            Request::Walk { dir, names } => self.walk(dir, &names),
            Request::Stat { fid } => Ok((
                Reply::Stat {
                    attr: fstat(self.node(fid)?.fd.as_fd())?,
                },
                None,
            )),
            Request::Open { fid, flags } => self.open(fid, flags),
            Request::Readlink { fid } => self.readlink(fid),
            Request::Getdents { fid, off } => self.getdents(fid, off),
            Request::Clunk { fid } => {
                self.fids.remove(&fid).ok_or(Errno(libc::EBADF))?;
                Ok((Reply::Clunk, None))
            }
        }
    }

    fn attach(&mut self, version: u32, aname: &[u8]) -> Handled {
        if version != VERSION {
            return Err(Errno(libc::EPROTONOSUPPORT));
        }
        if !aname.is_empty() {
            return Err(Errno(libc::ENOENT));
        }
        let attr = fstat(self.root.as_fd())?;
        let fid = self.insert(Node::new(self.root.clone(), None, &attr));
        Ok((
            Reply::Attach {
                version: VERSION,
                fid,
                attr,
            },
            None,
        ))
    }

    fn walk(&mut self, dir: Fid, names: &[Vec<u8>]) -> Handled {
        if names.len() > MAX_WALK_NAMES {
            return Err(Errno(libc::EINVAL));
        }
        let names = names
            .iter()
            .map(|n| {
                proto::check_name(n)
                    .and_then(|()| CString::new(n.as_slice()).map_err(|_| Errno(libc::EINVAL)))
            })
            .collect::<Result<Vec<CString>, Errno>>()?;
        let start = self.node(dir)?;
        let (mut cur, mut kind) = (start.fd.clone(), start.kind);
        let mut nodes = Vec::new();
        let mut error = 0;
        for name in names {
            if kind != libc::S_IFDIR {
                error = libc::ENOTDIR;
                break;
            }
            let step = open_at(
                cur.as_raw_fd(),
                &name,
                libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
            .and_then(|fd| Ok((fstat(fd.as_fd())?, fd)));
            let (attr, fd) = match step {
                Ok(step) => step,
                Err(e) => {
                    error = e.0;
                    break;
                }
            };
            let fd = Rc::new(fd);
            nodes.push((Node::new(fd.clone(), Some((cur, name)), &attr), attr));
            (cur, kind) = (fd, attr.file_type());
            if kind == libc::S_IFLNK {
                break;
            }
        }
        let steps = nodes
            .into_iter()
            .map(|(node, attr)| (self.insert(node), attr))
            .collect();
        Ok((Reply::Walk { steps, error }, None))
    }

    fn open(&mut self, fid: Fid, flags: i32) -> Handled {
        if flags & libc::O_ACCMODE != libc::O_RDONLY || flags & OPEN_WRITE != 0 {
            return Err(Errno(libc::EROFS));
        }
        if flags & !OPEN_ALLOWED != 0 {
            return Err(Errno(libc::EINVAL));
        }
        let node = self.node(fid)?;
        // Directories are listed through Getdents, never donated: a host directory fd would let
        // its holder open `..` on the host.
        match node.kind {
            libc::S_IFREG => {}
            libc::S_IFDIR => return Err(Errno(libc::EISDIR)),
            libc::S_IFLNK => return Err(Errno(libc::ELOOP)),
            _ => return Err(Errno(libc::EACCES)),
        }
        let fd = node.reopen(libc::O_RDONLY | (flags & libc::O_DIRECTORY))?;
        if flags & libc::O_NONBLOCK == 0 {
            // SAFETY: fcntl on an fd we own; F_GETFL/F_SETFL take and return plain ints.
            let ok = unsafe {
                let fl = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
                fl >= 0 && libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK) >= 0
            };
            if !ok {
                return Err(last_errno());
            }
        }
        Ok((Reply::Open, Some(fd)))
    }

    fn readlink(&mut self, fid: Fid) -> Handled {
        let node = self.node(fid)?;
        if node.kind != libc::S_IFLNK {
            return Err(Errno(libc::EINVAL));
        }
        let mut buf = vec![0u8; LINK_MAX];
        // SAFETY: readlinkat writes at most buf.len() bytes into buf; the path is a valid empty C
        // string, which with an O_PATH fd names the link itself.
        let n = unsafe {
            libc::readlinkat(
                node.fd.as_raw_fd(),
                c"".as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        let n = usize::try_from(n).map_err(|_| last_errno())?;
        if n >= buf.len() {
            return Err(Errno(libc::ENAMETOOLONG));
        }
        buf.truncate(n);
        Ok((Reply::Readlink { target: buf }, None))
    }

    fn getdents(&mut self, fid: Fid, off: u64) -> Handled {
        let Server {
            fids, dirent_buf, ..
        } = self;
        let node = fids.get_mut(&fid).ok_or(Errno(libc::EBADF))?;
        if node.kind != libc::S_IFDIR {
            return Err(Errno(libc::ENOTDIR));
        }
        if node.dir.is_none() {
            node.dir = Some(node.reopen(libc::O_RDONLY | libc::O_DIRECTORY)?);
        }
        let dir = node.dir.as_ref().map_or(-1, AsRawFd::as_raw_fd);
        // Cookies are the kernel's d_off values, passed through bit for bit.
        let off = i64::from_ne_bytes(off.to_ne_bytes());
        // SAFETY: lseek on an fd we own.
        if unsafe { libc::lseek(dir, off, libc::SEEK_SET) } < 0 {
            return Err(last_errno());
        }
        // SAFETY: getdents64 writes at most dirent_buf.len() bytes into dirent_buf.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir,
                dirent_buf.as_mut_ptr(),
                dirent_buf.len(),
            )
        };
        let n = usize::try_from(n).map_err(|_| last_errno())?;
        let entries =
            parse_dirents(dirent_buf.get(..n).unwrap_or_default()).ok_or(Errno(libc::EIO))?;
        Ok((Reply::Getdents { entries }, None))
    }
}

/// Parses `linux_dirent64` records: `d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name[]`
/// (NUL-terminated, padded to `d_reclen`). `None` if a record is malformed.
fn parse_dirents(mut buf: &[u8]) -> Option<Vec<Dirent>> {
    const NAME_AT: usize = 19;
    let mut entries = Vec::new();
    while !buf.is_empty() {
        let ino = u64::from_ne_bytes(*buf.first_chunk::<8>()?);
        let off = u64::from_ne_bytes(*buf.get(8..)?.first_chunk::<8>()?);
        let reclen = usize::from(u16::from_ne_bytes(*buf.get(16..)?.first_chunk::<2>()?));
        let kind = *buf.get(18)?;
        let name = buf.get(NAME_AT..reclen)?;
        let name = name
            .iter()
            .position(|&b| b == 0)
            .map_or(name, |end| &name[..end]);
        entries.push(Dirent {
            ino,
            off,
            kind,
            name: name.to_vec(),
        });
        buf = buf.get(reclen..)?;
    }
    Some(entries)
}

fn last_errno() -> Errno {
    Errno(
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}

/// `openat(2)`, retried on `EINTR`.
fn open_at(dir: RawFd, name: &CStr, flags: i32) -> Result<OwnedFd, Errno> {
    loop {
        // SAFETY: `name` is a valid C string; openat does not retain it.
        let fd = unsafe { libc::openat(dir, name.as_ptr(), flags) };
        if fd >= 0 {
            // SAFETY: openat just returned this fd and nothing else owns it.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let e = last_errno();
        if e.0 != libc::EINTR {
            return Err(e);
        }
    }
}

/// `fstat(2)` (works on `O_PATH` fds) as an [`Attr`].
fn fstat(fd: BorrowedFd<'_>) -> Result<Attr, Errno> {
    // SAFETY: libc::stat is plain data; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable stat buffer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(last_errno());
    }
    Ok(attr_of(&st))
}

// Field types of `stat` differ between architectures: conversions that are identities on one are
// widenings on another.
#[allow(clippy::useless_conversion)]
fn attr_of(st: &libc::stat) -> Attr {
    let ts = |sec, nsec| Timespec {
        sec: i64::from(sec),
        nsec: i64::from(nsec),
    };
    Attr {
        mode: st.st_mode,
        ino: u64::from(st.st_ino),
        dev: u64::from(st.st_dev),
        nlink: u64::from(st.st_nlink),
        uid: st.st_uid,
        gid: st.st_gid,
        rdev: u64::from(st.st_rdev),
        size: u64::try_from(st.st_size).unwrap_or(0),
        blksize: u64::try_from(st.st_blksize).unwrap_or(0),
        blocks: u64::try_from(st.st_blocks).unwrap_or(0),
        atime: ts(st.st_atime, st.st_atime_nsec),
        mtime: ts(st.st_mtime, st.st_mtime_nsec),
        ctime: ts(st.st_ctime, st.st_ctime_nsec),
    }
}
