//! The sentry's side: blocking calls, one request in flight at a time.
//!
//! A `Mutex` covers the socket and the receive buffer for exactly one request and its reply, so
//! replies can never be matched to the wrong request. Anything that does not decode as the
//! expected reply (or a transport failure) is `EIO`.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};

use crate::proto::{self, Header, Reply, Request, MAX_MSG, MAX_WALK_NAMES, OP_CLUNK, REPLY, VERSION};
use crate::{transport, Attr, Dirents, Errno, Fid, SetAttr, Statfs, WalkReply};

const EIO: Errno = Errno(libc::EIO);

/// A mount as [`Client::attach_mount`] gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attached {
    /// Fid of the mount's root.
    pub fid: Fid,
    pub attr: Attr,
    /// Every change on this mount is refused with `EROFS`.
    pub read_only: bool,
}

/// A connection to a gofer. `Send + Sync`; concurrent calls are serialised.
pub struct Client {
    inner: Mutex<Inner>,
}

struct Inner {
    sock: OwnedFd,
    buf: Vec<u8>,
    /// Clunks sent whose replies have not been read yet (see [`Client::clunk`]).
    unanswered_clunks: usize,
}

/// Most clunk replies left unread at once: the replies wait in the socket's receive queue,
/// which must never fill up while the gofer still has requests to answer.
const MAX_UNANSWERED_CLUNKS: usize = 32;

impl Client {
    /// Wraps a connected `SOCK_SEQPACKET` socket.
    pub fn new(sock: OwnedFd) -> Client {
        Client {
            inner: Mutex::new(Inner {
                sock,
                buf: vec![0; MAX_MSG],
                unanswered_clunks: 0,
            }),
        }
    }

    /// Root of the root mount (always read-only so far); `attach_mount(b"")`.
    pub fn attach(&self) -> Result<(Fid, Attr), Errno> {
        self.attach_mount(b"").map(|a| (a.fid, a.attr))
    }

    /// Root of the mount `name`: `b""` for the root, otherwise a bind mount's guest path as the
    /// gofer was started with it (`ENOENT` if there is none). Each call gives a new fid.
    pub fn attach_mount(&self, name: &[u8]) -> Result<Attached, Errno> {
        match self.call(&Request::Attach {
            version: VERSION,
            aname: name.to_vec(),
        })? {
            (
                Reply::Attach {
                    version: VERSION,
                    fid,
                    attr,
                    read_only,
                },
                _,
            ) => Ok(Attached {
                fid,
                attr,
                read_only,
            }),
            _ => Err(EIO),
        }
    }

    /// Walks names one by one from `dir`. Stops after a name that is a symlink (the client
    /// resolves links itself; the reply has its target), after a name that is not a directory
    /// when more names follow (error `ENOTDIR`), or at the first failure (its errno in `error`).
    /// Err only if the request itself is bad (e.g. `EBADF` unknown fid, `EINVAL` bad name).
    ///
    /// More than [`MAX_WALK_NAMES`] names are walked in several requests, each continuing from
    /// the last fid of the one before.
    pub fn walk(&self, dir: Fid, names: &[&[u8]]) -> Result<WalkReply, Errno> {
        self.walk_flags(dir, names, 0)
    }

    /// [`Client::walk`] with `WALK_*` flags: with [`proto::WALK_NO_FILE_FIDS`], a regular file
    /// or symlink gets no fid (0 in its step), so there is nothing to clunk.
    pub fn walk_flags(&self, dir: Fid, names: &[&[u8]], flags: u32) -> Result<WalkReply, Errno> {
        // Check every name first so that a bad name late in a long walk fails before any fid is
        // made.
        names.iter().try_for_each(|n| proto::check_name(n))?;
        let mut steps: Vec<(Fid, Attr)> = Vec::new();
        let mut target = None;
        let mut from = dir;
        let mut chunks = names.chunks(MAX_WALK_NAMES).enumerate().peekable();
        while let Some((i, chunk)) = chunks.next() {
            let (part, error, link) = match self.walk_once(from, chunk, flags) {
                Ok(r) => r,
                Err(e) => {
                    // Only a transport failure can make a later part fail: do not leak the fids
                    // already made.
                    for (fid, _) in steps.iter().filter(|(fid, _)| *fid != 0) {
                        self.clunk(*fid);
                    }
                    return Err(if i == 0 { e } else { EIO });
                }
            };
            let full = part.len() == chunk.len();
            steps.extend(part);
            target = link;
            if error != 0 {
                return Ok(WalkReply {
                    steps,
                    error: Some(error),
                    target,
                });
            }
            match steps.last() {
                Some((fid, attr)) if full && attr.is_dir() => from = *fid,
                // A file with names after it, as the server would say.
                Some((_, attr)) if full && !attr.is_symlink() && chunks.peek().is_some() => {
                    return Ok(WalkReply {
                        steps,
                        error: Some(libc::ENOTDIR),
                        target: None,
                    });
                }
                _ => break,
            }
        }
        if names.is_empty() {
            // Still check `dir` exists, so that an unknown fid is EBADF as for any other walk.
            self.walk_once(dir, &[], flags)?;
        }
        Ok(WalkReply {
            steps,
            error: None,
            target,
        })
    }

    /// One `Walk` request: its steps, error (0 = none) and symlink target (if any).
    #[allow(clippy::type_complexity)]
    fn walk_once(
        &self,
        dir: Fid,
        names: &[&[u8]],
        flags: u32,
    ) -> Result<(Vec<(Fid, Attr)>, i32, Option<Vec<u8>>), Errno> {
        let names = names.iter().map(|n| n.to_vec()).collect();
        match self.call(&Request::Walk { dir, flags, names })? {
            (
                Reply::Walk {
                    steps,
                    error,
                    target,
                },
                _,
            ) => Ok((steps, error, (!target.is_empty()).then_some(target))),
            _ => Err(EIO),
        }
    }

    /// Attributes of `fid`.
    pub fn stat(&self, fid: Fid) -> Result<Attr, Errno> {
        match self.call(&Request::Stat { fid })? {
            (Reply::Stat { attr }, _) => Ok(attr),
            _ => Err(EIO),
        }
    }

    /// Opens the file for I/O and donates the host fd (`SCM_RIGHTS`, close-on-exec here). flags:
    /// an access mode, `O_TRUNC`, `O_APPEND`, `O_SYNC`, `O_DSYNC`, `O_DIRECTORY`, `O_NONBLOCK`,
    /// and the no-ops `O_CLOEXEC`, `O_NOFOLLOW`, `O_NOCTTY`; other flags (`O_CREAT`, `O_EXCL`,
    /// `O_TMPFILE` included: use [`Client::create`]) → `EINVAL`. On a read-only mount anything
    /// but `O_RDONLY` (write access, `O_TRUNC`, `O_APPEND`, `O_CREAT`, `O_EXCL`, `O_TMPFILE`) →
    /// `EROFS`. `O_TRUNC` truncates once the file is known to be the fid's inode. Only regular
    /// files can be opened: a directory → `EISDIR` (list it with `getdents`), a symlink →
    /// `ELOOP`, anything else (devices, fifos, sockets) → `EACCES`.
    pub fn open(&self, fid: Fid, flags: i32) -> Result<OwnedFd, Errno> {
        match self.call(&Request::Open { fid, flags })? {
            (Reply::Open, mut fds) if fds.len() == 1 => fds.pop().ok_or(EIO),
            _ => Err(EIO),
        }
    }

    /// [`Client::open`] of the file `name` in the directory `dir`, without a fid for it: the
    /// gofer walks to it again, and opens it only if it is still the inode `(dev, ino)` (else
    /// `ESTALE`). For a file walked with [`proto::WALK_NO_FILE_FIDS`]: one round trip instead of
    /// a walk, an open and a clunk.
    pub fn open_at(
        &self,
        dir: Fid,
        name: &[u8],
        id: (u64, u64),
        flags: i32,
    ) -> Result<OwnedFd, Errno> {
        proto::check_name(name)?;
        let req = Request::OpenAt {
            dir,
            name: name.to_vec(),
            dev: id.0,
            ino: id.1,
            flags,
        };
        match self.call(&req)? {
            (Reply::OpenAt, mut fds) if fds.len() == 1 => fds.pop().ok_or(EIO),
            _ => Err(EIO),
        }
    }

    /// Target of the symlink `fid` (`EINVAL` if it is not one).
    pub fn readlink(&self, fid: Fid) -> Result<Vec<u8>, Errno> {
        match self.call(&Request::Readlink { fid })? {
            (Reply::Readlink { target }, _) => Ok(target),
            _ => Err(EIO),
        }
    }

    /// Entries of a directory from cookie `off` (0 = start), as many as fit one reply (~32 KiB
    /// of names); empty = end, and `end` says when the end came after these entries already.
    /// Includes "." and ".." as the host returns them.
    pub fn getdents(&self, fid: Fid, off: u64) -> Result<Dirents, Errno> {
        match self.call(&Request::Getdents { fid, off })? {
            (Reply::Getdents { entries, end }, _) => Ok(Dirents { entries, end }),
            _ => Err(EIO),
        }
    }

    /// Creates the regular file `name` in `dir` with permission bits `mode` (exactly: the gofer
    /// runs with umask 0) and opens it with `flags` (an access mode, `O_APPEND`, `O_NONBLOCK`,
    /// `O_SYNC`, `O_DSYNC`; `O_CREAT`, `O_EXCL`, `O_TRUNC` and the no-ops accepted; `O_EXCL` is
    /// always implied, so an existing name, a symlink included, is `EEXIST`). Gives the new fid,
    /// its attributes and the open host fd. The file belongs to the gofer's user: set its
    /// owner with [`Client::setattr`].
    pub fn create(
        &self,
        dir: Fid,
        name: &[u8],
        flags: i32,
        mode: u32,
    ) -> Result<(Fid, Attr, OwnedFd), Errno> {
        let req = Request::Create {
            dir,
            name: name.to_vec(),
            flags,
            mode,
        };
        match self.call(&req)? {
            (Reply::Create { fid, attr }, mut fds) if fds.len() == 1 => {
                Ok((fid, attr, fds.pop().ok_or(EIO)?))
            }
            _ => Err(EIO),
        }
    }

    /// Makes the directory `name` in `dir` with permission bits `mode`.
    pub fn mkdir(&self, dir: Fid, name: &[u8], mode: u32) -> Result<(Fid, Attr), Errno> {
        let req = Request::Mkdir {
            dir,
            name: name.to_vec(),
            mode,
        };
        match self.call(&req)? {
            (Reply::Mkdir { fid, attr }, _) => Ok((fid, attr)),
            _ => Err(EIO),
        }
    }

    /// Makes the symlink `name` in `dir` pointing at `target` (stored verbatim, never resolved
    /// by the gofer; empty → `ENOENT`, 4096 bytes or more → `ENAMETOOLONG`).
    pub fn symlink(&self, dir: Fid, name: &[u8], target: &[u8]) -> Result<(Fid, Attr), Errno> {
        let req = Request::Symlink {
            dir,
            name: name.to_vec(),
            target: target.to_vec(),
        };
        match self.call(&req)? {
            (Reply::Symlink { fid, attr }, _) => Ok((fid, attr)),
            _ => Err(EIO),
        }
    }

    /// Makes `name` in `dir` a new hard link to the file `target` (a symlink links itself);
    /// gives a fid for the new name. A directory → `EPERM`; another mount → `EXDEV`.
    pub fn link(&self, dir: Fid, name: &[u8], target: Fid) -> Result<(Fid, Attr), Errno> {
        let req = Request::Link {
            dir,
            name: name.to_vec(),
            target,
        };
        match self.call(&req)? {
            (Reply::Link { fid, attr }, _) => Ok((fid, attr)),
            _ => Err(EIO),
        }
    }

    /// Removes `name` from `dir`: `flags` 0 for a non-directory (a directory → `EISDIR`),
    /// `AT_REMOVEDIR` for an empty directory (`ENOTDIR`, `ENOTEMPTY` as Linux says). Fids of the
    /// removed file stay valid for `stat`.
    pub fn unlink(&self, dir: Fid, name: &[u8], flags: i32) -> Result<(), Errno> {
        let req = Request::Unlink {
            dir,
            name: name.to_vec(),
            flags,
        };
        match self.call(&req)? {
            (Reply::Unlink, _) => Ok(()),
            _ => Err(EIO),
        }
    }

    /// `renameat2` of `old_name` in `old_dir` to `new_name` in `new_dir` (same mount, else
    /// `EXDEV`); `flags` 0, `RENAME_NOREPLACE` (`EEXIST` if the new name exists) or
    /// `RENAME_EXCHANGE`. Fids of the renamed files follow them.
    pub fn rename(
        &self,
        old_dir: Fid,
        old_name: &[u8],
        new_dir: Fid,
        new_name: &[u8],
        flags: u32,
    ) -> Result<(), Errno> {
        let req = Request::Rename {
            old_dir,
            old_name: old_name.to_vec(),
            new_dir,
            new_name: new_name.to_vec(),
            flags,
        };
        match self.call(&req)? {
            (Reply::Rename, _) => Ok(()),
            _ => Err(EIO),
        }
    }

    /// Changes the attributes of `fid` (see [`SetAttr`]) and gives them as they are after. On a
    /// symlink only the owner and the times can change (a mode → `EOPNOTSUPP`); a size on a
    /// directory → `EISDIR`, on other non-regular files → `EINVAL`. An empty `SetAttr` is a
    /// `stat`, on any mount.
    pub fn setattr(&self, fid: Fid, attr: &SetAttr) -> Result<Attr, Errno> {
        match self.call(&Request::Setattr { fid, attr: *attr })? {
            (Reply::Setattr { attr }, _) => Ok(attr),
            _ => Err(EIO),
        }
    }

    /// Statistics of the file system holding `fid` (any mount; `ST_RDONLY` set on a read-only
    /// one).
    pub fn statfs(&self, fid: Fid) -> Result<Statfs, Errno> {
        match self.call(&Request::Statfs { fid })? {
            (Reply::Statfs { statfs }, _) => Ok(statfs),
            _ => Err(EIO),
        }
    }

    /// Releases a fid; errors ignored.
    ///
    /// Nothing waits for the reply: it is read, and dropped, before the reply of the next
    /// request (the gofer answers in order), so releasing a fid costs a send, not a round trip.
    pub fn clunk(&self, fid: Fid) {
        let Ok(msg) = encode(&Request::Clunk { fid }) else { return };
        let mut inner = self.lock();
        if inner.unanswered_clunks >= MAX_UNANSWERED_CLUNKS {
            if let Err(e) = inner.drain_clunk_replies() {
                tracing::debug!(errno = e.0, "gofer: reading clunk replies failed");
            }
        }
        if inner.send(&msg).is_ok() {
            inner.unanswered_clunks += 1;
        }
    }

    /// Sends one request and waits for its reply, under the lock.
    fn call(&self, req: &Request) -> Result<(Reply, Vec<OwnedFd>), Errno> {
        let msg = encode(req)?;
        let mut inner = self.lock();
        inner.send(&msg)?;
        inner.drain_clunk_replies()?;
        let (len, fds) = inner.recv()?;
        let reply = Reply::decode(req.op(), inner.buf.get(..len).ok_or(EIO)?, fds.len())?;
        Ok((reply, fds))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a request half-sent in a way we could
        // repair; carry on with the socket as it is.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A request's record, marked with the CPU of the calling thread.
fn encode(req: &Request) -> Result<Vec<u8>, Errno> {
    let mut msg = req.encode()?;
    // SAFETY: sched_getcpu has no preconditions.
    if let Ok(cpu) = u32::try_from(unsafe { libc::sched_getcpu() }) {
        proto::set_request_cpu(&mut msg, cpu);
    }
    Ok(msg)
}

impl Inner {
    fn send(&mut self, msg: &[u8]) -> Result<(), Errno> {
        transport::send(self.sock.as_fd(), msg, None).map_err(|e| {
            tracing::warn!(error = %e, "gofer: send failed");
            EIO
        })
    }

    /// Receives one reply into `buf`: its length and the fds it carried.
    fn recv(&mut self) -> Result<(usize, Vec<OwnedFd>), Errno> {
        let got = transport::recv(self.sock.as_fd(), &mut self.buf).map_err(|e| {
            tracing::warn!(error = %e, "gofer: receive failed");
            EIO
        })?;
        if got.len == 0 || got.truncated {
            return Err(EIO);
        }
        Ok((got.len, got.fds))
    }

    /// Reads the replies of the clunks sent so far. A failed clunk only means the fid was
    /// already gone; anything but a clunk reply means the stream is out of step.
    fn drain_clunk_replies(&mut self) -> Result<(), Errno> {
        while self.unanswered_clunks > 0 {
            self.unanswered_clunks -= 1;
            let (len, fds) = self.recv()?;
            let header = Header::parse(self.buf.get(..len).ok_or(EIO)?).ok_or(EIO)?;
            if header.op != OP_CLUNK | REPLY || !fds.is_empty() {
                return Err(EIO);
            }
        }
        Ok(())
    }
}
