//! The server loop: one thread, blocking `recvmsg`, one reply per request.
//!
//! Every fid is a node holding an `O_PATH|O_NOFOLLOW|O_CLOEXEC` host fd pinned to its inode, the
//! index of the mount it belongs to, plus (except for a directory mount's root) its parent's fd
//! and its own name, so that `Open`, `Getdents` and `Setattr` of the size re-open it with
//! `openat(parent, name, ...|O_NOFOLLOW)` and check the result is the same inode (`ESTALE` if
//! the host renamed something in between); `OpenAt` builds such a node for the one request,
//! without a fid. Parent fds are shared (`Rc`), so clunking a directory never invalidates its
//! children; a `Rename` through the server moves the (parent, name) of the fids it renamed.
//! Every request is validated completely before it changes the fid table or the host, so a
//! failed request changes nothing.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use crate::proto::{
    self, Header, Reply, Request, MAX_MSG, MAX_WALK_NAMES, REPLY, VERSION, WALK_NO_FILE_FIDS,
};
use crate::sys::{self, fstat, last_errno, open_at};
use crate::{transport, Attr, Dirent, Errno, Fid};

/// Bytes of `linux_dirent64` read per `Getdents`; the encoded reply is at most a few percent
/// larger, well under [`MAX_MSG`].
const DIRENT_BUF: usize = 32 * 1024;
/// Longest symlink target Linux stores (`PATH_MAX` including the NUL).
pub(crate) const LINK_MAX: usize = 4096;
/// Open flags a client may pass on any mount besides the access mode.
const OPEN_ALLOWED: i32 = libc::O_DIRECTORY
    | libc::O_NONBLOCK
    | libc::O_CLOEXEC
    | libc::O_NOFOLLOW
    | libc::O_NOCTTY
    | libc::O_TRUNC
    | libc::O_APPEND
    | libc::O_SYNC
    | libc::O_DSYNC;
/// Open flags that ask for a change to the file: refused with `EROFS` on a read-only mount.
/// (`O_CREAT`, `O_EXCL` and `O_TMPFILE` are `EINVAL` on a writable one: `Create` makes files.)
const OPEN_WRITE: i32 = libc::O_CREAT
    | libc::O_EXCL
    | libc::O_TRUNC
    | libc::O_APPEND
    | (libc::O_TMPFILE & !libc::O_DIRECTORY);
/// Longest mount name (a guest path).
const MAX_MOUNT_NAME: usize = 4095;

/// One tree to serve: the root (named `""`) or a bind mount (named by its guest path), with its
/// host root opened before the gofer confines itself.
#[derive(Debug)]
pub struct Mount {
    name: Vec<u8>,
    root: OwnedFd,
    /// For a mount of a regular file: the directory holding it and its name there, through
    /// which it is re-opened for I/O.
    parent: Option<(OwnedFd, CString)>,
    writable: bool,
}

impl Mount {
    /// Opens the host directory (or, for a bind mount, regular file) `host` to serve as the mount
    /// `name`: empty for the root, otherwise an absolute guest path. The host path is the
    /// operator's, opened before anything untrusted runs, so symlinks in it are followed.
    pub fn open(name: &[u8], host: &Path, writable: bool) -> io::Result<Mount> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
        if !(name.is_empty() || name.starts_with(b"/"))
            || name.len() > MAX_MOUNT_NAME
            || name.contains(&0)
        {
            return Err(invalid("a mount name is empty or an absolute path"));
        }
        let path = CString::new(host.as_os_str().as_bytes())
            .map_err(|_| invalid("a host path cannot contain NUL"))?;
        let root = open_at(libc::AT_FDCWD, &path, libc::O_PATH | libc::O_CLOEXEC)?;
        let attr = fstat(root.as_fd())?;
        let parent = match attr.file_type() {
            libc::S_IFDIR => None,
            libc::S_IFREG if !name.is_empty() => {
                let (Some(dir), Some(file)) = (host.parent(), host.file_name()) else {
                    return Err(invalid("a file mount needs a path with a directory"));
                };
                let dir = CString::new(dir.as_os_str().as_bytes())
                    .map_err(|_| invalid("a host path cannot contain NUL"))?;
                let file = CString::new(file.as_bytes())
                    .map_err(|_| invalid("a host path cannot contain NUL"))?;
                let dir = open_at(
                    libc::AT_FDCWD,
                    &dir,
                    libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
                )?;
                let again = sys::lstat_at(dir.as_raw_fd(), &file)?;
                if (again.dev, again.ino) != (attr.dev, attr.ino) {
                    return Err(invalid("the host path of a file mount must be canonical"));
                }
                Some((dir, file))
            }
            libc::S_IFREG => return Err(Errno(libc::ENOTDIR).into()),
            _ => return Err(invalid("a mount is a directory or a regular file")),
        };
        Ok(Mount {
            name: name.to_vec(),
            root,
            parent,
            writable,
        })
    }

    /// The mount's name (`""` for the root).
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// Whether changes are allowed.
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Every host fd this mount holds (for [`crate::confine`] to check they survive).
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        std::iter::once(self.root.as_fd()).chain(self.parent.as_ref().map(|(fd, _)| fd.as_fd()))
    }
}

/// Serves `mounts` on `sock` until the peer closes it. Returns Ok on orderly close.
///
/// Every host file is reached from a mount's root one name at a time. Errors are returned only
/// for mounts with the same name and for socket errors other than the peer going away; bad
/// requests are answered and the loop goes on. Sets the process umask to 0: modes in requests
/// are applied exactly as given (the client applies the application's umask).
pub fn serve(sock: OwnedFd, mounts: Vec<Mount>) -> io::Result<()> {
    for (i, m) in mounts.iter().enumerate() {
        if mounts[..i].iter().any(|o| o.name == m.name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("two mounts named {:?}", String::from_utf8_lossy(&m.name)),
            ));
        }
    }
    // SAFETY: umask only sets the process's file creation mask.
    unsafe { libc::umask(0) };
    let mut server = Server::new(mounts)?;
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
        if let Some(cpu) = proto::request_cpu(msg) {
            sys::move_to_cpu(cpu);
        }
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

/// The directory a file was reached from, and its name there.
#[derive(Clone)]
pub(crate) struct Parent {
    pub fd: Rc<OwnedFd>,
    /// Identity of the directory.
    pub dev: u64,
    pub ino: u64,
    pub name: CString,
}

/// One fid.
pub(crate) struct Node {
    /// `O_PATH` fd pinned to the file.
    pub fd: Rc<OwnedFd>,
    /// Where the file is re-opened from; `None` for a directory mount's root.
    pub parent: Option<Parent>,
    /// Index of its mount in [`Server::mounts`].
    pub mount: usize,
    /// Identity and type of the file at walk time (an inode's type never changes).
    pub dev: u64,
    pub ino: u64,
    pub kind: u32,
    /// Directory opened for reading, kept for later `Getdents` on this fid.
    dir: Option<OwnedFd>,
}

impl Node {
    pub fn new(fd: Rc<OwnedFd>, parent: Option<Parent>, mount: usize, attr: &Attr) -> Node {
        Node {
            fd,
            parent,
            mount,
            dev: attr.dev,
            ino: attr.ino,
            kind: attr.file_type(),
            dir: None,
        }
    }

    /// Opens the file again for I/O, relative to its parent (a directory root: to itself), never
    /// following a symlink and never blocking, and checks it is still the same inode.
    pub fn reopen(&self, flags: i32) -> Result<OwnedFd, Errno> {
        let (dir, name): (RawFd, &CStr) = match &self.parent {
            Some(p) => (p.fd.as_raw_fd(), &p.name),
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

/// A mount being served.
pub(crate) struct Served {
    pub name: Vec<u8>,
    pub root: Rc<OwnedFd>,
    pub parent: Option<Parent>,
    pub writable: bool,
    pub attr: Attr,
}

pub(crate) struct Server {
    pub mounts: Vec<Served>,
    pub fids: HashMap<Fid, Node>,
    /// Next fid to hand out; fids are never reused. 0 is never a fid.
    next_fid: Fid,
    dirent_buf: Vec<u8>,
}

pub(crate) type Handled = Result<(Reply, Option<OwnedFd>), Errno>;

impl Server {
    fn new(mounts: Vec<Mount>) -> io::Result<Server> {
        let mounts = mounts
            .into_iter()
            .map(|m| {
                let attr = fstat(m.root.as_fd())?;
                let parent = match m.parent {
                    Some((fd, name)) => {
                        let dir = fstat(fd.as_fd())?;
                        Some(Parent {
                            fd: Rc::new(fd),
                            dev: dir.dev,
                            ino: dir.ino,
                            name,
                        })
                    }
                    None => None,
                };
                Ok(Served {
                    name: m.name,
                    root: Rc::new(m.root),
                    parent,
                    writable: m.writable,
                    attr,
                })
            })
            .collect::<Result<Vec<_>, Errno>>()?;
        Ok(Server {
            mounts,
            fids: HashMap::new(),
            next_fid: 1,
            dirent_buf: vec![0; DIRENT_BUF],
        })
    }

    pub fn insert(&mut self, node: Node) -> Fid {
        let fid = self.next_fid;
        self.next_fid += 1;
        self.fids.insert(fid, node);
        fid
    }

    pub fn node(&mut self, fid: Fid) -> Result<&mut Node, Errno> {
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
            Request::Walk { dir, flags, names } => self.walk(dir, flags, &names),
            Request::Stat { fid } => Ok((
                Reply::Stat {
                    attr: fstat(self.node(fid)?.fd.as_fd())?,
                },
                None,
            )),
            Request::Open { fid, flags } => {
                let node = self.fids.get(&fid).ok_or(Errno(libc::EBADF))?;
                open_node(node, self.mounts[node.mount].writable, flags)
                    .map(|fd| (Reply::Open, Some(fd)))
            }
            Request::OpenAt {
                dir,
                name,
                dev,
                ino,
                flags,
            } => self.open_at(dir, &name, (dev, ino), flags),
            Request::Readlink { fid } => self.readlink(fid),
            Request::Getdents { fid, off } => self.getdents(fid, off),
            Request::Clunk { fid } => {
                self.fids.remove(&fid).ok_or(Errno(libc::EBADF))?;
                Ok((Reply::Clunk, None))
            }
            Request::Create {
                dir,
                name,
                flags,
                mode,
            } => self.create(dir, &name, flags, mode),
            Request::Mkdir { dir, name, mode } => self.mkdir(dir, &name, mode),
            Request::Symlink { dir, name, target } => self.symlink(dir, &name, &target),
            Request::Link { dir, name, target } => self.link(dir, &name, target),
            Request::Unlink { dir, name, flags } => self.unlink(dir, &name, flags),
            Request::Rename {
                old_dir,
                old_name,
                new_dir,
                new_name,
                flags,
            } => self.rename(old_dir, &old_name, new_dir, &new_name, flags),
            Request::Setattr { fid, attr } => self.setattr(fid, &attr),
            Request::Statfs { fid } => self.statfs(fid),
        }
    }

    fn attach(&mut self, version: u32, aname: &[u8]) -> Handled {
        if version != VERSION {
            return Err(Errno(libc::EPROTONOSUPPORT));
        }
        let index = self
            .mounts
            .iter()
            .position(|m| m.name == aname)
            .ok_or(Errno(libc::ENOENT))?;
        let m = &self.mounts[index];
        let attr = fstat(m.root.as_fd())?;
        let read_only = !m.writable;
        let node = Node::new(m.root.clone(), m.parent.clone(), index, &attr);
        let fid = self.insert(node);
        Ok((
            Reply::Attach {
                version: VERSION,
                fid,
                attr,
                read_only,
            },
            None,
        ))
    }

    fn walk(&mut self, dir: Fid, flags: u32, names: &[Vec<u8>]) -> Handled {
        if names.len() > MAX_WALK_NAMES {
            return Err(Errno(libc::EINVAL));
        }
        let names = names
            .iter()
            .map(|n| c_name(n))
            .collect::<Result<Vec<CString>, Errno>>()?;
        let start = self.node(dir)?;
        let mount = start.mount;
        let (mut cur, mut kind, mut id) = (start.fd.clone(), start.kind, (start.dev, start.ino));
        let mut nodes = Vec::new();
        let mut error = 0;
        let mut target = Vec::new();
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
            if attr.is_symlink() {
                // The walk stops here and the client resolves the link: send its target along.
                match read_link(fd.as_fd()) {
                    Ok(t) => target = t,
                    Err(e) => {
                        error = e.0;
                        break;
                    }
                }
            }
            let fd = Rc::new(fd);
            let parent = Parent {
                fd: cur,
                dev: id.0,
                ino: id.1,
                name,
            };
            nodes.push((Node::new(fd.clone(), Some(parent), mount, &attr), attr));
            (cur, kind, id) = (fd, attr.file_type(), (attr.dev, attr.ino));
            if kind == libc::S_IFLNK {
                break;
            }
        }
        let no_file_fids = flags & WALK_NO_FILE_FIDS != 0;
        let steps = nodes
            .into_iter()
            .map(|(node, attr)| match node.kind {
                libc::S_IFREG | libc::S_IFLNK if no_file_fids => (0, attr),
                _ => (self.insert(node), attr),
            })
            .collect();
        Ok((
            Reply::Walk {
                steps,
                error,
                target,
            },
            None,
        ))
    }

    /// `Open` of the file `name` in `dir`, reached as a walk would and checked to be the inode
    /// `id`; no fid is made.
    fn open_at(&self, dir: Fid, name: &[u8], id: (u64, u64), flags: i32) -> Handled {
        let name = c_name(name)?;
        let start = self.fids.get(&dir).ok_or(Errno(libc::EBADF))?;
        if start.kind != libc::S_IFDIR {
            return Err(Errno(libc::ENOTDIR));
        }
        let writable = self.mounts[start.mount].writable;
        // Refused flags fail before the host is touched, as for `Open`.
        check_open_flags(writable, flags)?;
        let fd = open_at(
            start.fd.as_raw_fd(),
            &name,
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )?;
        let attr = fstat(fd.as_fd())?;
        if (attr.dev, attr.ino) != id {
            return Err(Errno(libc::ESTALE));
        }
        let parent = Parent {
            fd: start.fd.clone(),
            dev: start.dev,
            ino: start.ino,
            name,
        };
        let node = Node::new(Rc::new(fd), Some(parent), start.mount, &attr);
        open_node(&node, writable, flags).map(|fd| (Reply::OpenAt, Some(fd)))
    }

    fn readlink(&mut self, fid: Fid) -> Handled {
        let node = self.node(fid)?;
        if node.kind != libc::S_IFLNK {
            return Err(Errno(libc::EINVAL));
        }
        let target = read_link(node.fd.as_fd())?;
        Ok((Reply::Readlink { target }, None))
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
        // Fill the buffer, reading on past the first batch, so that a small directory's listing
        // and its end come in one reply.
        let mut n = 0;
        let end = loop {
            let room = dirent_buf.get_mut(n..).unwrap_or_default();
            // SAFETY: getdents64 writes at most room.len() bytes into room.
            let got =
                unsafe { libc::syscall(libc::SYS_getdents64, dir, room.as_mut_ptr(), room.len()) };
            match usize::try_from(got) {
                Ok(0) => break true,
                Ok(more) => n += more,
                // No room for the next entry (`EINVAL`), or a failure the next request will
                // meet: send what there is.
                Err(_) if n > 0 => break false,
                Err(_) => return Err(last_errno()),
            }
        };
        let entries =
            parse_dirents(dirent_buf.get(..n).unwrap_or_default()).ok_or(Errno(libc::EIO))?;
        if end {
            // Give the descriptor back (a walk over a large tree would otherwise hold one per
            // directory it listed); it reopens if asked again.
            node.dir = None;
        }
        Ok((Reply::Getdents { entries, end }, None))
    }
}

/// Refuses open flags the mount or the protocol does not allow: `EROFS` for any change on a
/// read-only mount, `EINVAL` for flags `Open` never takes.
fn check_open_flags(writable: bool, flags: i32) -> Result<(), Errno> {
    let access = flags & libc::O_ACCMODE;
    if !writable && (access != libc::O_RDONLY || flags & OPEN_WRITE != 0) {
        return Err(Errno(libc::EROFS));
    }
    if access == libc::O_ACCMODE || flags & !(OPEN_ALLOWED | libc::O_ACCMODE) != 0 {
        return Err(Errno(libc::EINVAL));
    }
    Ok(())
}

/// Opens `node` for I/O as `Open` asks (on a mount that is `writable` or not).
fn open_node(node: &Node, writable: bool, flags: i32) -> Result<OwnedFd, Errno> {
    check_open_flags(writable, flags)?;
    // Directories are listed through Getdents, never donated: a host directory fd would let
    // its holder open `..` on the host.
    match node.kind {
        libc::S_IFREG => {}
        libc::S_IFDIR => return Err(Errno(libc::EISDIR)),
        libc::S_IFLNK => return Err(Errno(libc::ELOOP)),
        _ => return Err(Errno(libc::EACCES)),
    }
    let keep = libc::O_ACCMODE | libc::O_DIRECTORY | libc::O_APPEND | libc::O_SYNC;
    let fd = node.reopen(flags & keep)?;
    // Truncate only once the inode is known to be the right one.
    if flags & libc::O_TRUNC != 0 {
        if flags & libc::O_ACCMODE == libc::O_RDONLY {
            sys::ftruncate(node.reopen(libc::O_WRONLY)?.as_fd(), 0)?;
        } else {
            sys::ftruncate(fd.as_fd(), 0)?;
        }
    }
    if flags & libc::O_NONBLOCK == 0 {
        sys::clear_nonblock(fd.as_fd())?;
    }
    Ok(fd)
}

/// The target of the symlink `fd` (an `O_PATH` fd of the link itself).
fn read_link(fd: BorrowedFd<'_>) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; LINK_MAX];
    // SAFETY: readlinkat writes at most buf.len() bytes into buf; the path is a valid empty C
    // string, which with an O_PATH fd names the link itself.
    let n = unsafe {
        libc::readlinkat(
            fd.as_raw_fd(),
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
    Ok(buf)
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

/// Checks one name of a request and makes it a C string.
pub(crate) fn c_name(name: &[u8]) -> Result<CString, Errno> {
    proto::check_name(name)?;
    CString::new(name).map_err(|_| Errno(libc::EINVAL))
}
