//! The gofer: the only process that touches host files, its protocol and its client.
//!
//! The sentry ([`Client`]) and the gofer ([`serve`]) talk over a unix `SOCK_SEQPACKET` socket,
//! one record per message, strictly one request then one reply. A message is a 16-byte
//! little-endian header (op, payload length, status, fd count) and a hand-encoded payload, at most
//! 64 KiB in all; host fds travel only as `SCM_RIGHTS` (see [`proto`] for the byte layout).
//! Operations act on *fids*: ids the server hands out and never reuses. `Attach` (which carries
//! the protocol version) gives the root; `Walk` gives new fids for names under a directory;
//! `Stat`, `Open` (donates a host fd), `Readlink`, `Getdents` act on a fid; `Clunk` releases it.
//! This version serves one tree, read-only.
//!
//! Security invariants of the server:
//! - It is fd-based, never path-based: the root is opened once, every other file is reached with
//!   `openat(parent_fd, name, O_PATH|O_NOFOLLOW)` one component at a time, and `Open` re-opens
//!   the same (parent, name) and checks the result is the same inode. Nothing goes through
//!   `/proc/self/fd` or an absolute path.
//! - A name is one component: empty, `.`, `..`, containing `/` or NUL, or longer than 255 bytes is
//!   `EINVAL`. The server never follows a symlink (a walk stops at one; the client resolves it),
//!   so no request can name a file outside the tree.
//! - Only regular files are opened (directories give `EISDIR` and are listed with `Getdents`,
//!   because a donated directory fd would let its holder `openat(fd, "..")` on the host),
//!   read-only, with `O_NONBLOCK` while opening so a file swapped for a fifo cannot hang the
//!   server.
//! - A malformed request gets an errno reply (`EINVAL`, `EBADF` for an unknown fid), never a
//!   panic, and the loop goes on; a failed request changes no state.

mod client;
mod confine;
pub mod proto;
mod server;
mod sys;
mod transport;
mod write;

pub use client::{Attached, Client};
pub use confine::{confine, Confinement};
pub use server::{serve, Mount};

/// Identifies a file on the server. Chosen by the server, never reused during a session.
pub type Fid = u64;

/// Attributes of a host file, as `fstat` reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attr {
    /// File type and permission bits (`S_IF*` | mode).
    pub mode: u32,
    pub ino: u64,
    pub dev: u64,
    pub nlink: u64,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: u64,
    pub blksize: u64,
    /// 512-byte blocks allocated.
    pub blocks: u64,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
}

impl Attr {
    /// The `S_IFMT` bits.
    pub fn file_type(&self) -> u32 {
        self.mode & libc::S_IFMT
    }
    pub fn is_dir(&self) -> bool {
        self.file_type() == libc::S_IFDIR
    }
    pub fn is_symlink(&self) -> bool {
        self.file_type() == libc::S_IFLNK
    }
    pub fn is_file(&self) -> bool {
        self.file_type() == libc::S_IFREG
    }
}

/// A point in time (seconds and nanoseconds since the epoch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: i64,
}

impl Timespec {
    /// In a [`SetAttr`]: the server's current time (`UTIME_NOW`).
    pub const NOW: Timespec = Timespec {
        sec: 0,
        nsec: libc::UTIME_NOW,
    };
    /// In a [`SetAttr`]: leave the time as it is (`UTIME_OMIT`, the same as `None`).
    pub const OMIT: Timespec = Timespec {
        sec: 0,
        nsec: libc::UTIME_OMIT,
    };
}

/// Changes asked of [`Client::setattr`]; `None` leaves a field as it is. Applied in the order
/// Linux's `notify_change` implies: size, owner, mode (after the owner, since a chown clears
/// set-id bits), then times (last, since a truncate sets mtime).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    /// Permission bits only (`0o7777`); not allowed on a symlink (`EOPNOTSUPP`).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// New length of a regular file.
    pub size: Option<u64>,
    /// `nsec` may be `UTIME_NOW` or `UTIME_OMIT` ([`Timespec::NOW`], [`Timespec::OMIT`]).
    pub atime: Option<Timespec>,
    pub mtime: Option<Timespec>,
}

impl SetAttr {
    /// True if nothing is to change.
    pub fn is_empty(&self) -> bool {
        *self == SetAttr::default()
    }
}

/// File-system statistics, as `fstatfs` reports them (`flags` has `ST_RDONLY` set for a
/// read-only mount even when the host file system is writable).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statfs {
    /// `f_type`: the file system's magic number.
    pub fs_type: u64,
    pub bsize: u64,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub namelen: u64,
    pub frsize: u64,
    /// `ST_*` mount flags.
    pub flags: u64,
}

/// One directory entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dirent {
    pub ino: u64,
    /// Cookie of the *next* entry: pass it to `getdents` to continue after this one.
    pub off: u64,
    /// `DT_*` type.
    pub kind: u8,
    pub name: Vec<u8>,
}

/// Result of [`Client::walk`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalkReply {
    /// A new fid and the attributes for each name walked, in order.
    pub steps: Vec<(Fid, Attr)>,
    /// Errno of the first name that failed (`steps.len()` is its index), if any.
    pub error: Option<i32>,
}

/// Error from the client: the errno the server (or the transport) reports; transport failures
/// map to `EIO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (errno {})",
            std::io::Error::from_raw_os_error(self.0),
            self.0
        )
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for std::io::Error {
    fn from(e: Errno) -> std::io::Error {
        std::io::Error::from_raw_os_error(e.0)
    }
}

#[cfg(test)]
mod tests;
