//! The gofer: the only process that touches host files, its protocol and its client.
//!
//! The sentry ([`Client`]) and the gofer ([`serve`]) talk over a unix `SOCK_SEQPACKET` socket,
//! one record per message, strictly one request then one reply. A message is a 16-byte
//! little-endian header (op, payload length, status, fd count) and a hand-encoded payload, at most
//! 64 KiB in all; host fds travel only as `SCM_RIGHTS` (see [`proto`] for the byte layout).
//! Operations act on *fids*: ids the server hands out and never reuses.
//!
//! # Mounts
//!
//! One gofer serves several [`Mount`]s, each from a host root opened once, before the gofer
//! [`confine`]s itself: the root (named `""`, a directory, always read-only for now: the sentry's
//! overlay keeps writes in memory) and any bind mounts (named by their guest path, e.g. `/data`;
//! a directory or a regular file; read-write, or read-only with `:ro`). `Attach` (which carries
//! the protocol version) names a mount and gives a fid for its root and whether it is read-only.
//! Every fid belongs to the mount it was reached from; nothing crosses from one to another
//! (`Rename` and `Link` between mounts are `EXDEV`, even on one host file system).
//!
//! # Operations
//!
//! - Reading, on any mount: `Walk` gives new fids for names under a directory (or, if asked,
//!   none for regular files and symlinks; the reply carries a final symlink's target); `Stat`,
//!   `Open` (donates a host fd), `Readlink`, `Getdents`, `Statfs` act on a fid; `Clunk` releases
//!   it. `OpenAt` opens one name under a directory fid, if it is still a given inode, without
//!   making a fid: a client that gave a file's fid back opens it in one round trip.
//! - Changing, on a writable mount only (a read-only one answers `EROFS` to every one, and to an
//!   `Open` asking for anything but `O_RDONLY`): `Create` (a new regular file, opened and donated),
//!   `Mkdir`, `Symlink`, `Link`, `Unlink`, `Rename`, `Setattr`, and `Open` for writing
//!   (`O_WRONLY`/`O_RDWR`/`O_TRUNC`/`O_APPEND`). They name their file as (directory fid, one
//!   name), except `Setattr`, which acts on a fid.
//!
//! # Security invariants of the server
//!
//! - It is fd-based, never path-based: each mount's root is opened once, every other file is
//!   reached with `openat(parent_fd, name, O_PATH|O_NOFOLLOW)` one component at a time, and
//!   `Open` (and `OpenAt`) re-opens the same (parent, name) and checks the result is the same
//!   inode. Nothing
//!   goes through `/proc/self/fd` or an absolute path (after [`confine`] there is none: the
//!   process's root is an empty tmpfs).
//! - A name is one component: empty, `.`, `..`, containing `/` or NUL, or longer than 255 bytes is
//!   `EINVAL`, in every request that carries one. The server never follows a symlink: a walk
//!   stops at one (the client resolves it); `Create` is always `O_CREAT|O_EXCL|O_NOFOLLOW`;
//!   `Mkdir`, `Symlink`, `Link` fail with `EEXIST` on any existing name; `Link` links a symlink
//!   itself; `Unlink` and `Rename` act on the name; `Setattr` changes a symlink's owner or times
//!   (never its mode: `EOPNOTSUPP`) through its own `O_PATH` fd with `AT_EMPTY_PATH`; a size is
//!   set through an fd re-opened `O_WRONLY|O_NOFOLLOW` and checked to be the same inode. So no
//!   request can name, read or change a file outside its mount.
//! - Only regular files are opened (directories give `EISDIR` and are listed with `Getdents`,
//!   because a donated directory fd would let its holder `openat(fd, "..")` on the host), with
//!   `O_NONBLOCK` while opening so a file swapped for a fifo cannot hang the server. `O_TRUNC`
//!   truncates only after the inode check.
//! - The root of a mount has no (parent, name) in its own mount; where another writable mount
//!   overlaps it on the host, removing, moving or replacing it through that mount is `EBUSY`.
//! - Modes are applied exactly (the server runs with umask 0); files are created as the gofer's
//!   user, and the client sets owners with `Setattr`. The server does no permission checks of its
//!   own: the sentry checks the application's credentials.
//! - A malformed request gets an errno reply (`EINVAL`, `EBADF` for an unknown fid), never a
//!   panic, and the loop goes on. A failed request changes nothing: every check runs before the
//!   host is touched (and an entry made by a request that then fails is removed again). The
//!   exceptions: host processes racing with the server (which give `ESTALE`), and a `Setattr` of
//!   several fields whose later step the host refuses after an earlier one succeeded (e.g. a
//!   chown when the gofer is not root): the earlier ones stay, as with separate syscalls.

mod client;
mod confine;
pub mod proto;
mod server;
mod sys;
mod transport;
mod write;

pub use client::{Attached, Client};
pub use confine::{confine, confine_as, Confinement};
pub use server::{serve, Mount};
pub use transport::socket_pair;

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
    /// A new fid and the attributes for each name walked, in order. The fid is 0 (none) for a
    /// regular file or symlink walked with [`proto::WALK_NO_FILE_FIDS`].
    pub steps: Vec<(Fid, Attr)>,
    /// Errno of the first name that failed (`steps.len()` is its index), if any.
    pub error: Option<i32>,
    /// The target of the last step, if it is a symlink.
    pub target: Option<Vec<u8>>,
}

/// Result of [`Client::getdents`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dirents {
    pub entries: Vec<Dirent>,
    /// The listing ends after `entries`: asking again from the last cookie would give nothing.
    pub end: bool,
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
