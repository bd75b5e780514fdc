//! The sentry's side: blocking calls, one request in flight at a time.
//!
//! A `Mutex` covers the socket and the receive buffer for exactly one request and its reply, so
//! replies can never be matched to the wrong request. Anything that does not decode as the
//! expected reply (or a transport failure) is `EIO`.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Mutex, MutexGuard};

use crate::proto::{self, Reply, Request, MAX_MSG, MAX_WALK_NAMES, VERSION};
use crate::{transport, Attr, Dirent, Errno, Fid, WalkReply};

const EIO: Errno = Errno(libc::EIO);

/// A connection to a gofer. `Send + Sync`; concurrent calls are serialised.
pub struct Client {
    inner: Mutex<Inner>,
}

struct Inner {
    sock: OwnedFd,
    buf: Vec<u8>,
}

impl Client {
    /// Wraps a connected `SOCK_SEQPACKET` socket.
    pub fn new(sock: OwnedFd) -> Client {
        Client {
            inner: Mutex::new(Inner {
                sock,
                buf: vec![0; MAX_MSG],
            }),
        }
    }

    /// Root of the served tree.
    pub fn attach(&self) -> Result<(Fid, Attr), Errno> {
        match self.call(&Request::Attach {
            version: VERSION,
            aname: Vec::new(),
        })? {
            (
                Reply::Attach {
                    version: VERSION,
                    fid,
                    attr,
                },
                _,
            ) => Ok((fid, attr)),
            _ => Err(EIO),
        }
    }

    /// Walks names one by one from `dir`. Stops after a name that is a symlink (the client
    /// resolves links itself), after a name that is not a directory when more names follow
    /// (error `ENOTDIR`), or at the first failure (its errno in `error`). Err only if the request
    /// itself is bad (e.g. `EBADF` unknown fid, `EINVAL` bad name).
    ///
    /// More than [`MAX_WALK_NAMES`] names are walked in several requests, each continuing from
    /// the last fid of the one before.
    pub fn walk(&self, dir: Fid, names: &[&[u8]]) -> Result<WalkReply, Errno> {
        // Check every name first so that a bad name late in a long walk fails before any fid is
        // made.
        names.iter().try_for_each(|n| proto::check_name(n))?;
        let mut steps: Vec<(Fid, Attr)> = Vec::new();
        let mut from = dir;
        for (i, chunk) in names.chunks(MAX_WALK_NAMES).enumerate() {
            let (part, error) = match self.walk_once(from, chunk) {
                Ok(r) => r,
                Err(e) => {
                    // Only a transport failure can make a later part fail: do not leak the fids
                    // already made.
                    for (fid, _) in &steps {
                        self.clunk(*fid);
                    }
                    return Err(if i == 0 { e } else { EIO });
                }
            };
            let full = part.len() == chunk.len();
            steps.extend(part);
            if error != 0 {
                return Ok(WalkReply {
                    steps,
                    error: Some(error),
                });
            }
            match steps.last() {
                Some((fid, attr)) if full && !attr.is_symlink() => from = *fid,
                _ => break,
            }
        }
        if names.is_empty() {
            // Still check `dir` exists, so that an unknown fid is EBADF as for any other walk.
            self.walk_once(dir, &[])?;
        }
        Ok(WalkReply { steps, error: None })
    }

    fn walk_once(&self, dir: Fid, names: &[&[u8]]) -> Result<(Vec<(Fid, Attr)>, i32), Errno> {
        let names = names.iter().map(|n| n.to_vec()).collect();
        match self.call(&Request::Walk { dir, names })? {
            (Reply::Walk { steps, error }, _) => Ok((steps, error)),
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
    /// only `O_RDONLY` (+`O_DIRECTORY`, `O_NONBLOCK`, and the no-ops `O_CLOEXEC`, `O_NOFOLLOW`,
    /// `O_NOCTTY`) accepted; any write access (`O_WRONLY`, `O_RDWR`, `O_CREAT`, `O_TRUNC`,
    /// `O_APPEND`, `O_EXCL`, `O_TMPFILE`) → `EROFS`; other flags → `EINVAL`. Only regular files
    /// can be opened: a directory → `EISDIR` (list it with `getdents`), a symlink → `ELOOP`,
    /// anything else (devices, fifos, sockets) → `EACCES`.
    pub fn open(&self, fid: Fid, flags: i32) -> Result<OwnedFd, Errno> {
        match self.call(&Request::Open { fid, flags })? {
            (Reply::Open, mut fds) if fds.len() == 1 => fds.pop().ok_or(EIO),
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
    /// of names); empty = end. Includes "." and ".." as the host returns them.
    pub fn getdents(&self, fid: Fid, off: u64) -> Result<Vec<Dirent>, Errno> {
        match self.call(&Request::Getdents { fid, off })? {
            (Reply::Getdents { entries }, _) => Ok(entries),
            _ => Err(EIO),
        }
    }

    /// Releases a fid; errors ignored.
    pub fn clunk(&self, fid: Fid) {
        if let Err(e) = self.call(&Request::Clunk { fid }) {
            tracing::debug!(fid, errno = e.0, "gofer clunk failed");
        }
    }

    /// Sends one request and waits for its reply, under the lock.
    fn call(&self, req: &Request) -> Result<(Reply, Vec<OwnedFd>), Errno> {
        let msg = req.encode()?;
        let mut guard = self.lock();
        let Inner { sock, buf } = &mut *guard;
        transport::send(sock.as_fd(), &msg, None).map_err(|e| {
            tracing::warn!(error = %e, "gofer: send failed");
            EIO
        })?;
        let got = transport::recv(sock.as_fd(), buf).map_err(|e| {
            tracing::warn!(error = %e, "gofer: receive failed");
            EIO
        })?;
        if got.len == 0 || got.truncated {
            return Err(EIO);
        }
        let reply = Reply::decode(req.op(), buf.get(..got.len).ok_or(EIO)?, got.fds.len())?;
        Ok((reply, got.fds))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a request half-sent in a way we could
        // repair; carry on with the socket as it is.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
