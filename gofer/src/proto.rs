//! Wire format of the gofer protocol: message header, op codes, and the hand-written
//! little-endian encoding of every request and reply.
//!
//! A message is one `SOCK_SEQPACKET` record of at most [`MAX_MSG`] bytes:
//!
//! ```text
//! header (16 bytes): op u32 | len u32 | status u32 | nfds u32      all little-endian
//! payload (len bytes): the fields of the message, in order
//! ```
//!
//! `op` is one of the `OP_*` codes; a reply carries the request's op with [`REPLY`] set. `status`
//! is 0 in successful replies and the errno in an error reply (whose payload is empty); in a
//! request it is the client thread's CPU plus one, or 0 (see [`request_cpu`]). `nfds` is the
//! number of descriptors passed with the record as `SCM_RIGHTS`; only the replies to `Open`,
//! `OpenAt` and `Create` carry one. Integers are fixed-width; a byte string is `u32 length + bytes`;
//! a list is `u32 count + items`. A decoder accepts a message only if it is consumed exactly.
//!
//! Nothing here does I/O: [`Request`] and [`Reply`] encode to and decode from byte slices, and
//! every decoding failure is a value, never a panic.

use crate::{Attr, Dirent, Errno, Fid, SetAttr, Statfs, Timespec};

/// Protocol version sent in `Attach`. Bumped whenever the meaning of an existing message changes;
/// new operations get new op codes instead. Version 2: `Attach` names a mount and its reply says
/// whether the mount is read-only; `Open` may ask for write access on a writable mount.
/// Version 3: a request's `status` names the client's CPU. Version 4: `Walk` takes flags and its
/// reply carries the target of a final symlink; the `Getdents` reply says whether the listing
/// ended.
pub const VERSION: u32 = 4;
/// Highest CPU number a request may name (the last of a `cpu_set_t`).
pub const MAX_CPU: u32 = 1023;
/// Largest message, header included.
pub const MAX_MSG: usize = 64 * 1024;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 16;
/// Most names in one `Walk` request; [`crate::Client::walk`] splits longer walks.
pub const MAX_WALK_NAMES: usize = 128;
/// Longest name of one path component.
pub const MAX_NAME: usize = 255;

/// Bit set in the op of a reply.
pub const REPLY: u32 = 0x8000_0000;
/// Start a session: gives the root of the served tree.
pub const OP_ATTACH: u32 = 1;
/// Walk names one by one from a directory fid.
pub const OP_WALK: u32 = 2;
/// Attributes of a fid.
pub const OP_STAT: u32 = 3;
/// Open a fid for I/O; the reply donates the host fd.
pub const OP_OPEN: u32 = 4;
/// Target of a symlink fid.
pub const OP_READLINK: u32 = 5;
/// Directory entries from a cookie.
pub const OP_GETDENTS: u32 = 6;
/// Release a fid.
pub const OP_CLUNK: u32 = 7;
/// Create and open a regular file; the reply donates the host fd.
pub const OP_CREATE: u32 = 8;
/// Make a directory.
pub const OP_MKDIR: u32 = 9;
/// Make a symlink.
pub const OP_SYMLINK: u32 = 10;
/// Make a hard link to a fid.
pub const OP_LINK: u32 = 11;
/// Remove a name (`unlinkat`).
pub const OP_UNLINK: u32 = 12;
/// Rename a name (`renameat2`).
pub const OP_RENAME: u32 = 13;
/// Change attributes of a fid.
pub const OP_SETATTR: u32 = 14;
/// File-system statistics of a fid.
pub const OP_STATFS: u32 = 15;
/// Walk one name and open it for I/O, if it is still a given inode; the reply donates the host
/// fd. Saves the walk (and clunk) of a file whose fid the client gave back.
pub const OP_OPEN_AT: u32 = 16;
/// The highest op code.
pub const OP_MAX: u32 = OP_OPEN_AT;

/// `Walk` flag: make no fid for a regular file or symlink (its step's fid is 0). A client that
/// only needs their attributes (and a symlink's target, which the reply carries) then has no
/// fid to clunk.
pub const WALK_NO_FILE_FIDS: u32 = 1;
/// Every defined `Walk` flag.
pub const WALK_ALL: u32 = WALK_NO_FILE_FIDS;

/// `Getdents` reply flag: the listing ended after these entries (the server found the end in
/// the same request, so the client need not ask again from the last cookie).
pub const GETDENTS_END: u32 = 1;

/// `Setattr` mask bits: which fields of the request apply.
pub const SETATTR_MODE: u32 = 1 << 0;
pub const SETATTR_UID: u32 = 1 << 1;
pub const SETATTR_GID: u32 = 1 << 2;
pub const SETATTR_SIZE: u32 = 1 << 3;
pub const SETATTR_ATIME: u32 = 1 << 4;
pub const SETATTR_MTIME: u32 = 1 << 5;
/// Every defined `Setattr` mask bit.
pub const SETATTR_ALL: u32 = (1 << 6) - 1;

/// `Attach` reply flag: the mount is read-only (every change is `EROFS`).
pub const ATTACH_READ_ONLY: u32 = 1;

/// Encoded size of an [`Attr`].
pub const ATTR_LEN: usize = 3 * 4 + 7 * 8 + 3 * 16;

/// The fixed header of every message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Op code (with [`REPLY`] in replies).
    pub op: u32,
    /// Payload length in bytes.
    pub len: u32,
    /// In a reply: 0, or the errno of an error reply. In a request: the client's CPU plus one,
    /// or 0.
    pub status: u32,
    /// Number of fds passed with the message.
    pub nfds: u32,
}

impl Header {
    /// Parses the header at the start of `msg`; `None` if `msg` is too short.
    pub fn parse(msg: &[u8]) -> Option<Header> {
        let mut r = Reader::new(msg);
        Some(Header {
            op: r.u32()?,
            len: r.u32()?,
            status: r.u32()?,
            nfds: r.u32()?,
        })
    }

    fn put(&self, w: &mut Writer) {
        w.u32(self.op);
        w.u32(self.len);
        w.u32(self.status);
        w.u32(self.nfds);
    }
}

/// A request from the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `version u32, aname bytes`. `aname` picks the mount: empty is the root, otherwise the
    /// guest path of a bind mount (e.g. `/data`).
    Attach { version: u32, aname: Vec<u8> },
    /// `dir u64, flags u32 (WALK_*), names list<bytes>`.
    Walk {
        dir: Fid,
        flags: u32,
        names: Vec<Vec<u8>>,
    },
    /// `fid u64`.
    Stat { fid: Fid },
    /// `fid u64, flags i32`.
    Open { fid: Fid, flags: i32 },
    /// `fid u64`.
    Readlink { fid: Fid },
    /// `fid u64, off u64`.
    Getdents { fid: Fid, off: u64 },
    /// `fid u64`.
    Clunk { fid: Fid },
    /// `dir u64, name bytes, flags i32, mode u32`.
    Create {
        dir: Fid,
        name: Vec<u8>,
        flags: i32,
        mode: u32,
    },
    /// `dir u64, name bytes, mode u32`.
    Mkdir { dir: Fid, name: Vec<u8>, mode: u32 },
    /// `dir u64, name bytes, target bytes`.
    Symlink {
        dir: Fid,
        name: Vec<u8>,
        target: Vec<u8>,
    },
    /// `dir u64, name bytes, target u64`: a new name in `dir` for the file `target`.
    Link {
        dir: Fid,
        name: Vec<u8>,
        target: Fid,
    },
    /// `dir u64, name bytes, flags i32` (0 or `AT_REMOVEDIR`).
    Unlink { dir: Fid, name: Vec<u8>, flags: i32 },
    /// `old_dir u64, old_name bytes, new_dir u64, new_name bytes, flags u32` (`RENAME_NOREPLACE`
    /// or `RENAME_EXCHANGE`).
    Rename {
        old_dir: Fid,
        old_name: Vec<u8>,
        new_dir: Fid,
        new_name: Vec<u8>,
        flags: u32,
    },
    /// `fid u64, mask u32 (SETATTR_*), mode u32, uid u32, gid u32, size u64, atime ts,
    /// mtime ts`; a field whose mask bit is clear is ignored (and encoded as zero).
    Setattr { fid: Fid, attr: SetAttr },
    /// `fid u64`.
    Statfs { fid: Fid },
    /// `dir u64, name bytes, dev u64, ino u64, flags i32`: opens `name` in `dir` as `Open` would
    /// its fid, if it is still the inode (`dev`, `ino`) (`ESTALE` otherwise); makes no fid.
    OpenAt {
        dir: Fid,
        name: Vec<u8>,
        dev: u64,
        ino: u64,
        flags: i32,
    },
}

/// A successful reply from the server (error replies decode to `Err(Errno)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `version u32, fid u64, attr, flags u32` (`ATTACH_READ_ONLY`).
    Attach {
        version: u32,
        fid: Fid,
        attr: Attr,
        read_only: bool,
    },
    /// `error i32 (0 = none), steps list<(fid u64, attr)>, target bytes`. A step's fid is 0 when
    /// `WALK_NO_FILE_FIDS` kept none. `target` is the target of the last step if it is a symlink
    /// (never empty then), else empty.
    Walk {
        steps: Vec<(Fid, Attr)>,
        error: i32,
        target: Vec<u8>,
    },
    /// `attr`.
    Stat { attr: Attr },
    /// Empty payload, one fd.
    Open,
    /// `target bytes`.
    Readlink { target: Vec<u8> },
    /// `flags u32 (GETDENTS_END), entries list<(ino u64, off u64, kind u8, name bytes)>`.
    Getdents { entries: Vec<Dirent>, end: bool },
    /// Empty payload.
    Clunk,
    /// `fid u64, attr`, one fd (the file opened with the request's flags).
    Create { fid: Fid, attr: Attr },
    /// `fid u64, attr`.
    Mkdir { fid: Fid, attr: Attr },
    /// `fid u64, attr`.
    Symlink { fid: Fid, attr: Attr },
    /// `fid u64, attr` (a new fid for the new name; `nlink` counts it).
    Link { fid: Fid, attr: Attr },
    /// Empty payload.
    Unlink,
    /// Empty payload.
    Rename,
    /// `attr` after the change.
    Setattr { attr: Attr },
    /// `fs_type, bsize, blocks, bfree, bavail, files, ffree, namelen, frsize, flags`, all u64.
    Statfs { statfs: Statfs },
    /// Empty payload, one fd.
    OpenAt,
}

impl Request {
    /// The op code of this request.
    pub fn op(&self) -> u32 {
        match self {
            Request::Attach { .. } => OP_ATTACH,
            Request::Walk { .. } => OP_WALK,
            Request::Stat { .. } => OP_STAT,
            Request::Open { .. } => OP_OPEN,
            Request::Readlink { .. } => OP_READLINK,
            Request::Getdents { .. } => OP_GETDENTS,
            Request::Clunk { .. } => OP_CLUNK,
            Request::Create { .. } => OP_CREATE,
            Request::Mkdir { .. } => OP_MKDIR,
            Request::Symlink { .. } => OP_SYMLINK,
            Request::Link { .. } => OP_LINK,
            Request::Unlink { .. } => OP_UNLINK,
            Request::Rename { .. } => OP_RENAME,
            Request::Setattr { .. } => OP_SETATTR,
            Request::Statfs { .. } => OP_STATFS,
            Request::OpenAt { .. } => OP_OPEN_AT,
        }
    }

    /// Encodes the whole message; `EINVAL` if it would exceed [`MAX_MSG`].
    pub fn encode(&self) -> Result<Vec<u8>, Errno> {
        let mut w = Writer::new();
        match self {
            Request::Attach { version, aname } => {
                w.u32(*version);
                w.bytes(aname);
            }
            Request::Walk { dir, flags, names } => {
                w.u64(*dir);
                w.u32(*flags);
                w.count(names.len());
                for n in names {
                    w.bytes(n);
                }
            }
            Request::Stat { fid }
            | Request::Readlink { fid }
            | Request::Clunk { fid }
            | Request::Statfs { fid } => w.u64(*fid),
            Request::Open { fid, flags } => {
                w.u64(*fid);
                w.i32(*flags);
            }
            Request::Getdents { fid, off } => {
                w.u64(*fid);
                w.u64(*off);
            }
            Request::Create {
                dir,
                name,
                flags,
                mode,
            } => {
                w.u64(*dir);
                w.bytes(name);
                w.i32(*flags);
                w.u32(*mode);
            }
            Request::Mkdir { dir, name, mode } => {
                w.u64(*dir);
                w.bytes(name);
                w.u32(*mode);
            }
            Request::Symlink { dir, name, target } => {
                w.u64(*dir);
                w.bytes(name);
                w.bytes(target);
            }
            Request::Link { dir, name, target } => {
                w.u64(*dir);
                w.bytes(name);
                w.u64(*target);
            }
            Request::Unlink { dir, name, flags } => {
                w.u64(*dir);
                w.bytes(name);
                w.i32(*flags);
            }
            Request::Rename {
                old_dir,
                old_name,
                new_dir,
                new_name,
                flags,
            } => {
                w.u64(*old_dir);
                w.bytes(old_name);
                w.u64(*new_dir);
                w.bytes(new_name);
                w.u32(*flags);
            }
            Request::Setattr { fid, attr } => {
                w.u64(*fid);
                w.setattr(attr);
            }
            Request::OpenAt {
                dir,
                name,
                dev,
                ino,
                flags,
            } => {
                w.u64(*dir);
                w.bytes(name);
                w.u64(*dev);
                w.u64(*ino);
                w.i32(*flags);
            }
        }
        w.finish(self.op(), 0, 0)
    }

    /// Decodes a whole message that arrived with `nfds` descriptors. The error is the errno the
    /// server answers with: `EINVAL` for anything malformed.
    pub fn decode(msg: &[u8], nfds: usize) -> Result<Request, Errno> {
        let (h, mut r) = split(msg).ok_or(Errno(libc::EINVAL))?;
        if h.status > MAX_CPU + 1 || h.nfds != 0 || nfds != 0 {
            return Err(Errno(libc::EINVAL));
        }
        let req = match h.op {
            OP_ATTACH => (|| {
                Some(Request::Attach {
                    version: r.u32()?,
                    aname: r.bytes()?.to_vec(),
                })
            })(),
            OP_WALK => (|| {
                let dir = r.u64()?;
                let flags = r.u32().filter(|f| f & !WALK_ALL == 0)?;
                let n = r.u32()?;
                let mut names = Vec::new();
                for _ in 0..n {
                    names.push(r.bytes()?.to_vec());
                }
                Some(Request::Walk { dir, flags, names })
            })(),
            OP_STAT => r.u64().map(|fid| Request::Stat { fid }),
            OP_OPEN => (|| {
                Some(Request::Open {
                    fid: r.u64()?,
                    flags: r.i32()?,
                })
            })(),
            OP_READLINK => r.u64().map(|fid| Request::Readlink { fid }),
            OP_GETDENTS => (|| {
                Some(Request::Getdents {
                    fid: r.u64()?,
                    off: r.u64()?,
                })
            })(),
            OP_CLUNK => r.u64().map(|fid| Request::Clunk { fid }),
            OP_CREATE => (|| {
                Some(Request::Create {
                    dir: r.u64()?,
                    name: r.bytes()?.to_vec(),
                    flags: r.i32()?,
                    mode: r.u32()?,
                })
            })(),
            OP_MKDIR => (|| {
                Some(Request::Mkdir {
                    dir: r.u64()?,
                    name: r.bytes()?.to_vec(),
                    mode: r.u32()?,
                })
            })(),
            OP_SYMLINK => (|| {
                Some(Request::Symlink {
                    dir: r.u64()?,
                    name: r.bytes()?.to_vec(),
                    target: r.bytes()?.to_vec(),
                })
            })(),
            OP_LINK => (|| {
                Some(Request::Link {
                    dir: r.u64()?,
                    name: r.bytes()?.to_vec(),
                    target: r.u64()?,
                })
            })(),
            OP_UNLINK => (|| {
                Some(Request::Unlink {
                    dir: r.u64()?,
                    name: r.bytes()?.to_vec(),
                    flags: r.i32()?,
                })
            })(),
            OP_RENAME => (|| {
                Some(Request::Rename {
                    old_dir: r.u64()?,
                    old_name: r.bytes()?.to_vec(),
                    new_dir: r.u64()?,
                    new_name: r.bytes()?.to_vec(),
                    flags: r.u32()?,
                })
            })(),
            OP_SETATTR => (|| {
                Some(Request::Setattr {
                    fid: r.u64()?,
                    attr: r.setattr()?,
                })
            })(),
            OP_STATFS => r.u64().map(|fid| Request::Statfs { fid }),
            OP_OPEN_AT => (|| {
                Some(Request::OpenAt {
                    dir: r.u64()?,
                    name: r.bytes()?.to_vec(),
                    dev: r.u64()?,
                    ino: r.u64()?,
                    flags: r.i32()?,
                })
            })(),
            _ => None,
        };
        match req {
            Some(req) if r.is_empty() => Ok(req),
            _ => Err(Errno(libc::EINVAL)),
        }
    }
}

impl Reply {
    /// The op code of the request this reply answers (without [`REPLY`]).
    pub fn op(&self) -> u32 {
        match self {
            Reply::Attach { .. } => OP_ATTACH,
            Reply::Walk { .. } => OP_WALK,
            Reply::Stat { .. } => OP_STAT,
            Reply::Open => OP_OPEN,
            Reply::Readlink { .. } => OP_READLINK,
            Reply::Getdents { .. } => OP_GETDENTS,
            Reply::Clunk => OP_CLUNK,
            Reply::Create { .. } => OP_CREATE,
            Reply::Mkdir { .. } => OP_MKDIR,
            Reply::Symlink { .. } => OP_SYMLINK,
            Reply::Link { .. } => OP_LINK,
            Reply::Unlink => OP_UNLINK,
            Reply::Rename => OP_RENAME,
            Reply::Setattr { .. } => OP_SETATTR,
            Reply::Statfs { .. } => OP_STATFS,
            Reply::OpenAt => OP_OPEN_AT,
        }
    }

    /// Number of fds that travel with this reply.
    pub fn nfds(&self) -> u32 {
        u32::from(matches!(
            self,
            Reply::Open | Reply::OpenAt | Reply::Create { .. }
        ))
    }

    /// Encodes the whole message; `EINVAL` if it would exceed [`MAX_MSG`].
    pub fn encode(&self) -> Result<Vec<u8>, Errno> {
        let mut w = Writer::new();
        match self {
            Reply::Attach {
                version,
                fid,
                attr,
                read_only,
            } => {
                w.u32(*version);
                w.u64(*fid);
                w.attr(attr);
                w.u32(if *read_only { ATTACH_READ_ONLY } else { 0 });
            }
            Reply::Walk {
                steps,
                error,
                target,
            } => {
                w.i32(*error);
                w.count(steps.len());
                for (fid, attr) in steps {
                    w.u64(*fid);
                    w.attr(attr);
                }
                w.bytes(target);
            }
            Reply::Stat { attr } => w.attr(attr),
            Reply::Open | Reply::OpenAt | Reply::Clunk | Reply::Unlink | Reply::Rename => {}
            Reply::Create { fid, attr }
            | Reply::Mkdir { fid, attr }
            | Reply::Symlink { fid, attr }
            | Reply::Link { fid, attr } => {
                w.u64(*fid);
                w.attr(attr);
            }
            Reply::Setattr { attr } => w.attr(attr),
            Reply::Statfs { statfs: s } => {
                for v in [
                    s.fs_type, s.bsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.namelen,
                    s.frsize, s.flags,
                ] {
                    w.u64(v);
                }
            }
            Reply::Readlink { target } => w.bytes(target),
            Reply::Getdents { entries, end } => {
                w.u32(if *end { GETDENTS_END } else { 0 });
                w.count(entries.len());
                for d in entries {
                    w.u64(d.ino);
                    w.u64(d.off);
                    w.u8(d.kind);
                    w.bytes(&d.name);
                }
            }
        }
        w.finish(self.op() | REPLY, 0, self.nfds())
    }

    /// Encodes an error reply to a request with op `op` (echoed back, whatever it was).
    pub fn encode_error(op: u32, errno: Errno) -> Vec<u8> {
        let status = if errno.0 > 0 { errno.0 } else { libc::EIO }.unsigned_abs();
        let mut w = Writer::new();
        Header {
            op: op | REPLY,
            len: 0,
            status,
            nfds: 0,
        }
        .put(&mut w);
        w.buf
    }

    /// Decodes the reply to a request with op `op` that arrived with `nfds` descriptors. An error
    /// reply gives its errno; anything malformed or unexpected gives `EIO`.
    pub fn decode(op: u32, msg: &[u8], nfds: usize) -> Result<Reply, Errno> {
        let eio = Errno(libc::EIO);
        let (h, mut r) = split(msg).ok_or(eio)?;
        if h.op != op | REPLY || usize::try_from(h.nfds).ok() != Some(nfds) {
            return Err(eio);
        }
        if h.status != 0 {
            return match i32::try_from(h.status) {
                Ok(e) if r.is_empty() && nfds == 0 => Err(Errno(e)),
                _ => Err(eio),
            };
        }
        let reply = match op {
            OP_ATTACH => (|| {
                Some(Reply::Attach {
                    version: r.u32()?,
                    fid: r.u64()?,
                    attr: r.attr()?,
                    read_only: match r.u32()? {
                        0 => false,
                        ATTACH_READ_ONLY => true,
                        _ => return None,
                    },
                })
            })(),
            OP_WALK => (|| {
                let error = r.i32()?;
                let n = r.u32()?;
                let mut steps = Vec::new();
                for _ in 0..n {
                    steps.push((r.u64()?, r.attr()?));
                }
                let target = r.bytes()?.to_vec();
                // A target belongs to a final symlink, and a final symlink has one.
                let last_is_link = steps.last().is_some_and(|(_, a)| a.is_symlink());
                (last_is_link != target.is_empty()).then_some(Reply::Walk {
                    steps,
                    error,
                    target,
                })
            })(),
            OP_STAT => r.attr().map(|attr| Reply::Stat { attr }),
            OP_OPEN => Some(Reply::Open),
            OP_OPEN_AT => Some(Reply::OpenAt),
            OP_READLINK => r.bytes().map(|t| Reply::Readlink { target: t.to_vec() }),
            OP_GETDENTS => (|| {
                let end = match r.u32()? {
                    0 => false,
                    GETDENTS_END => true,
                    _ => return None,
                };
                let n = r.u32()?;
                let mut entries = Vec::new();
                for _ in 0..n {
                    entries.push(Dirent {
                        ino: r.u64()?,
                        off: r.u64()?,
                        kind: r.u8()?,
                        name: r.bytes()?.to_vec(),
                    });
                }
                Some(Reply::Getdents { entries, end })
            })(),
            OP_CLUNK => Some(Reply::Clunk),
            OP_CREATE => (|| {
                Some(Reply::Create {
                    fid: r.u64()?,
                    attr: r.attr()?,
                })
            })(),
            OP_MKDIR => (|| {
                Some(Reply::Mkdir {
                    fid: r.u64()?,
                    attr: r.attr()?,
                })
            })(),
            OP_SYMLINK => (|| {
                Some(Reply::Symlink {
                    fid: r.u64()?,
                    attr: r.attr()?,
                })
            })(),
            OP_LINK => (|| {
                Some(Reply::Link {
                    fid: r.u64()?,
                    attr: r.attr()?,
                })
            })(),
            OP_UNLINK => Some(Reply::Unlink),
            OP_RENAME => Some(Reply::Rename),
            OP_SETATTR => r.attr().map(|attr| Reply::Setattr { attr }),
            OP_STATFS => (|| {
                Some(Reply::Statfs {
                    statfs: Statfs {
                        fs_type: r.u64()?,
                        bsize: r.u64()?,
                        blocks: r.u64()?,
                        bfree: r.u64()?,
                        bavail: r.u64()?,
                        files: r.u64()?,
                        ffree: r.u64()?,
                        namelen: r.u64()?,
                        frsize: r.u64()?,
                        flags: r.u64()?,
                    },
                })
            })(),
            _ => None,
        };
        match reply {
            Some(reply) if r.is_empty() && usize::try_from(reply.nfds()).ok() == Some(nfds) => {
                Ok(reply)
            }
            _ => Err(eio),
        }
    }
}

/// Checks one path component: not empty, at most [`MAX_NAME`] bytes, no `/` or NUL, not `.` or
/// `..`. This is what keeps every walk inside the served tree.
pub fn check_name(name: &[u8]) -> Result<(), Errno> {
    let bad = name.is_empty()
        || name.len() > MAX_NAME
        || name == b"."
        || name == b".."
        || name.iter().any(|&b| b == b'/' || b == 0);
    if bad {
        Err(Errno(libc::EINVAL))
    } else {
        Ok(())
    }
}

/// Marks an encoded request as sent from CPU `cpu`. The gofer moves to the CPU its requests
/// come from: the client then wakes it, and it wakes the client, on the same CPU, a plain
/// context switch instead of a cross-CPU wake-up (a VM exit under virtualisation), which makes
/// a round trip about three times as fast.
pub fn set_request_cpu(msg: &mut [u8], cpu: u32) {
    if let (Some(word), true) = (msg.get_mut(8..12), cpu <= MAX_CPU) {
        word.copy_from_slice(&(cpu + 1).to_le_bytes());
    }
}

/// The CPU a request was sent from, if it says.
pub fn request_cpu(msg: &[u8]) -> Option<u32> {
    Header::parse(msg)?.status.checked_sub(1).filter(|&c| c <= MAX_CPU)
}

/// Splits a message into its header and a reader over exactly `len` payload bytes.
fn split(msg: &[u8]) -> Option<(Header, Reader<'_>)> {
    let h = Header::parse(msg)?;
    let payload = &msg[HEADER_LEN..];
    (usize::try_from(h.len).ok()? == payload.len()).then_some((h, Reader::new(payload)))
}

/// Appends little-endian fields to a message under construction (header space reserved).
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn new() -> Writer {
        Writer {
            buf: Vec::with_capacity(256),
        }
    }
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// A count or length; anything over `u32::MAX` cannot fit a message anyway, and `finish`
    /// rejects the oversized result.
    fn count(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn bytes(&mut self, b: &[u8]) {
        self.count(b.len());
        self.buf.extend_from_slice(b);
    }
    fn ts(&mut self, t: &Timespec) {
        self.i64(t.sec);
        self.i64(t.nsec);
    }
    fn attr(&mut self, a: &Attr) {
        self.u32(a.mode);
        self.u32(a.uid);
        self.u32(a.gid);
        for v in [a.ino, a.dev, a.nlink, a.rdev, a.size, a.blksize, a.blocks] {
            self.u64(v);
        }
        self.ts(&a.atime);
        self.ts(&a.mtime);
        self.ts(&a.ctime);
    }
    fn setattr(&mut self, a: &SetAttr) {
        let mut mask = 0;
        for (bit, set) in [
            (SETATTR_MODE, a.mode.is_some()),
            (SETATTR_UID, a.uid.is_some()),
            (SETATTR_GID, a.gid.is_some()),
            (SETATTR_SIZE, a.size.is_some()),
            (SETATTR_ATIME, a.atime.is_some()),
            (SETATTR_MTIME, a.mtime.is_some()),
        ] {
            if set {
                mask |= bit;
            }
        }
        self.u32(mask);
        self.u32(a.mode.unwrap_or(0));
        self.u32(a.uid.unwrap_or(0));
        self.u32(a.gid.unwrap_or(0));
        self.u64(a.size.unwrap_or(0));
        self.ts(&a.atime.unwrap_or_default());
        self.ts(&a.mtime.unwrap_or_default());
    }
    /// Prepends the header and checks the size limit.
    fn finish(self, op: u32, status: u32, nfds: u32) -> Result<Vec<u8>, Errno> {
        let len = self.buf.len();
        if len > MAX_MSG - HEADER_LEN {
            return Err(Errno(libc::EINVAL));
        }
        let mut w = Writer {
            buf: Vec::with_capacity(HEADER_LEN + len),
        };
        let len = u32::try_from(len).map_err(|_| Errno(libc::EINVAL))?;
        Header {
            op,
            len,
            status,
            nfds,
        }
        .put(&mut w);
        w.buf.extend_from_slice(&self.buf);
        Ok(w.buf)
    }
}

/// Reads little-endian fields; every read is bounds-checked and gives `None` past the end.
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Reader<'a> {
        Reader { b }
    }
    fn is_empty(&self) -> bool {
        self.b.is_empty()
    }
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.b.split_first_chunk::<N>()?;
        self.b = rest;
        Some(*head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn i32(&mut self) -> Option<i32> {
        self.take().map(i32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_le_bytes)
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u32()?).ok()?;
        if n > self.b.len() {
            return None;
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Some(head)
    }
    fn ts(&mut self) -> Option<Timespec> {
        Some(Timespec {
            sec: self.i64()?,
            nsec: self.i64()?,
        })
    }
    /// A `Setattr` body; `None` for unknown mask bits.
    fn setattr(&mut self) -> Option<SetAttr> {
        let mask = self.u32()?;
        if mask & !SETATTR_ALL != 0 {
            return None;
        }
        let (mode, uid, gid, size) = (self.u32()?, self.u32()?, self.u32()?, self.u64()?);
        let (atime, mtime) = (self.ts()?, self.ts()?);
        let has = |bit: u32| mask & bit != 0;
        Some(SetAttr {
            mode: has(SETATTR_MODE).then_some(mode),
            uid: has(SETATTR_UID).then_some(uid),
            gid: has(SETATTR_GID).then_some(gid),
            size: has(SETATTR_SIZE).then_some(size),
            atime: has(SETATTR_ATIME).then_some(atime),
            mtime: has(SETATTR_MTIME).then_some(mtime),
        })
    }
    fn attr(&mut self) -> Option<Attr> {
        Some(Attr {
            mode: self.u32()?,
            uid: self.u32()?,
            gid: self.u32()?,
            ino: self.u64()?,
            dev: self.u64()?,
            nlink: self.u64()?,
            rdev: self.u64()?,
            size: self.u64()?,
            blksize: self.u64()?,
            blocks: self.u64()?,
            atime: self.ts()?,
            mtime: self.ts()?,
            ctime: self.ts()?,
        })
    }
}
