//! File system calls: open/close, read/write and their vector forms, seek, stat, directories,
//! links, access checks, the working directory, descriptor duplication and control.
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use syscall_tables::nr;

use super::{Args, Support, Table};
use crate::abi::{Iovec, Stat, Statx, StatxTimestamp};
use crate::errno::{Errno, SysResult};
use crate::kernel::signal::{SigInfo, ERESTARTSYS};
use crate::kernel::task::{cap, secbit, Task};
use crate::fs::pipe::{Pipe, PipeEnd};
use crate::vfs::walk::Walker;
use crate::mm::{PROT_READ, PROT_WRITE};
use crate::vfs::{read_full, Dentry, File, FileOps, Owner, NAME_MAX, PATH_MAX, S_IFDIR, S_IFLNK, S_IFMT};

const XATTR: Support = Support::Partial("user., trusted. and security. attributes on tmpfs and the root overlay; host files (volumes, the image) keep none");

pub static HANDLERS: Table = &[
    (nr::READ, sys_read, Support::Full),
    (nr::WRITE, sys_write, Support::Full),
    (nr::OPEN, sys_open, Support::Full),
    (nr::OPENAT, sys_openat, Support::Full),
    (nr::OPENAT2, sys_openat2, Support::Partial("RESOLVE_* flags are checked, not enforced")),
    (nr::CREAT, sys_creat, Support::Full),
    (nr::CLOSE, sys_close, Support::Full),
    (nr::CLOSE_RANGE, sys_close_range, Support::Full),
    (nr::PREAD64, sys_pread64, Support::Full),
    (nr::PWRITE64, sys_pwrite64, Support::Full),
    (nr::READV, sys_readv, Support::Full),
    (nr::WRITEV, sys_writev, Support::Full),
    (nr::PREADV, sys_preadv, Support::Full),
    (nr::PWRITEV, sys_pwritev, Support::Full),
    (nr::LSEEK, sys_lseek, Support::Full),
    (nr::FSTAT, sys_fstat, Support::Full),
    (nr::STAT, sys_stat, Support::Full),
    (nr::LSTAT, sys_lstat, Support::Full),
    (nr::NEWFSTATAT, sys_newfstatat, Support::Full),
    (nr::STATX, sys_statx, Support::Full),
    (nr::GETDENTS64, sys_getdents64, Support::Full),
    (nr::READLINK, sys_readlink, Support::Full),
    (nr::READLINKAT, sys_readlinkat, Support::Full),
    (nr::ACCESS, sys_access, Support::Full),
    (nr::FACCESSAT, sys_faccessat, Support::Full),
    (nr::FACCESSAT2, sys_faccessat2, Support::Full),
    (nr::GETCWD, sys_getcwd, Support::Full),
    (nr::CHDIR, sys_chdir, Support::Full),
    (nr::FCHDIR, sys_fchdir, Support::Full),
    (nr::IOCTL, sys_ioctl, Support::Partial("terminal queries on host streams, FIONBIO, FIOCLEX")),
    (nr::FCNTL, sys_fcntl, Support::Partial("seals on tmpfs files and memfds; F_NOTIFY (dnotify) is accepted and never signals")),
    (nr::DUP, sys_dup, Support::Full),
    (nr::DUP2, sys_dup2, Support::Full),
    (nr::DUP3, sys_dup3, Support::Full),
    (nr::UMASK, sys_umask, Support::Full),
    (nr::GETXATTR, sys_getxattr, XATTR),
    (nr::LGETXATTR, sys_lgetxattr, XATTR),
    (nr::FGETXATTR, sys_fgetxattr, XATTR),
    (nr::LISTXATTR, sys_listxattr, XATTR),
    (nr::LLISTXATTR, sys_llistxattr, XATTR),
    (nr::FLISTXATTR, sys_flistxattr, XATTR),
    (nr::SETXATTR, sys_setxattr, XATTR),
    (nr::LSETXATTR, sys_lsetxattr, XATTR),
    (nr::FSETXATTR, sys_fsetxattr, XATTR),
    (nr::REMOVEXATTR, sys_removexattr, XATTR),
    (nr::LREMOVEXATTR, sys_lremovexattr, XATTR),
    (nr::FREMOVEXATTR, sys_fremovexattr, XATTR),
    (nr::STATFS, sys_statfs, Support::Full),
    (nr::FSTATFS, sys_fstatfs, Support::Full),
    (nr::FADVISE64, sys_fadvise64, Support::Partial("advice is validated and ignored")),
    (nr::PIPE, sys_pipe, Support::Full),
    (nr::PIPE2, sys_pipe2, Support::Partial("O_DIRECT (packet mode) is accepted as a byte stream")),
    (nr::FSYNC, sys_fsync, Support::Full),
    (nr::FDATASYNC, sys_fsync, Support::Full),
    (nr::SYNC, sys_sync, Support::Full),
];

/// Linux caps one read or write at this many bytes.
pub(super) const MAX_RW_COUNT: usize = 0x7fff_f000;
/// Largest sentry-side buffer for one step of a read or write.
pub(super) const CHUNK: usize = 1 << 20;
/// Most iovecs one call accepts (`UIO_MAXIOV`).
const UIO_MAXIOV: usize = 1024;

/// Permission bits asked of a file (`MAY_READ`…).
pub(super) const MAY_READ: u32 = 4;
pub(super) const MAY_WRITE: u32 = 2;
pub(super) const MAY_EXEC: u32 = 1;

/// Whether a caller with filesystem ids `uid`/`gid` (and supplementary `groups`) and the
/// effective capabilities `caps` may access a file with attributes `st` for `want` (`MAY_*`
/// bits). Past the mode bits, `CAP_DAC_OVERRIDE` reads and writes anything, searches any
/// directory and executes what has an execute bit; `CAP_DAC_READ_SEARCH` reads any file and
/// reads and searches any directory.
pub(super) fn permits(uid: u32, gid: u32, groups: &[u32], caps: u64, st: &Stat, want: u32) -> bool {
    let perm = if st.uid == uid {
        st.mode >> 6
    } else if st.gid == gid || groups.contains(&st.gid) {
        st.mode >> 3
    } else {
        st.mode
    } & 7;
    if want & !perm == 0 {
        return true;
    }
    let has = |c| caps & cap::bit(c) != 0;
    if st.mode & S_IFMT == S_IFDIR {
        return (want & MAY_WRITE == 0 && has(cap::DAC_READ_SEARCH)) || has(cap::DAC_OVERRIDE);
    }
    if (want & MAY_EXEC == 0 || st.mode & 0o111 != 0) && has(cap::DAC_OVERRIDE) {
        return true;
    }
    want == MAY_READ && has(cap::DAC_READ_SEARCH)
}

/// The last component of a path whose directory was looked up ([`Task::lookup_parent`]).
pub(super) enum Last {
    Name(Vec<u8>),
    /// `.`
    Dot,
    /// `..`
    DotDot,
    /// The path is `/` (or only slashes).
    Root,
}

/// A path split at its last component.
pub(super) struct Parent {
    pub dir: Arc<Dentry>,
    pub last: Last,
    /// The path ended with a slash.
    pub trailing_slash: bool,
}

impl Parent {
    /// The name, or `err` for `.`, `..` and `/`.
    pub fn name(&self, err: Errno) -> SysResult<&[u8]> {
        match &self.last {
            Last::Name(n) => Ok(n),
            _ => Err(err),
        }
    }
}

impl Task {
    /// Reads a path argument: `ENOENT` when empty, `ENAMETOOLONG` past `PATH_MAX`.
    pub(super) fn read_path(&self, addr: u64) -> SysResult<Vec<u8>> {
        let p = self.mm.read_cstring(addr, PATH_MAX - 1)?;
        Ok(p)
    }

    /// The directory a relative path is resolved from.
    fn start_dir(&self, dirfd: i32, path: &[u8]) -> SysResult<Arc<Dentry>> {
        if path.first() == Some(&b'/') || dirfd == libc::AT_FDCWD {
            return Ok(self.fs().cwd.clone());
        }
        let file = self.file(dirfd)?;
        let d = file.dentry.clone().ok_or(Errno::ENOTDIR)?;
        if !d.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(d)
    }

    /// The caller's filesystem ids: who owns what it creates.
    pub(super) fn owner(&self) -> Owner {
        Owner { uid: self.creds.fsuid, gid: self.creds.fsgid }
    }

    /// `EACCES` unless the caller may access a file with attributes `st` for `want`.
    pub(super) fn may(&self, st: &Stat, want: u32) -> SysResult<()> {
        let c = &self.creds;
        if permits(c.fsuid, c.fsgid, &c.groups, c.caps.effective, st, want) {
            Ok(())
        } else {
            Err(Errno::EACCES)
        }
    }

    /// Whether the caller owns a file with attributes `st`, or has `CAP_FOWNER` (and may do
    /// what an owner may: chmod, utimes, ignore sticky bits).
    pub(super) fn owns(&self, st: &Stat) -> bool {
        self.creds.fsuid == st.uid || self.creds.capable(cap::FOWNER)
    }

    /// Whether the caller may search every directory (`CAP_DAC_READ_SEARCH` or
    /// `CAP_DAC_OVERRIDE`), so that walks need not check.
    fn searches_all(&self) -> bool {
        self.creds.caps.effective & (cap::bit(cap::DAC_READ_SEARCH) | cap::bit(cap::DAC_OVERRIDE)) != 0
    }

    /// Before a write or truncation of the file `d` by a caller without `CAP_FSETID`: clears
    /// set-user-ID, and set-group-ID when it comes with group execute, as Linux does. `mode`
    /// is the file's (`None`: look it up).
    pub(super) fn drop_setid_bits(&self, d: &Dentry, mode: Option<u32>) -> SysResult<()> {
        if self.creds.capable(cap::FSETID) {
            return Ok(());
        }
        let mode = match mode {
            Some(m) => m,
            None => d.inode.stat()?.mode,
        };
        if mode & S_IFMT != libc::S_IFREG {
            return Ok(());
        }
        let mut kept = mode & 0o7777 & !libc::S_ISUID;
        if kept & libc::S_IXGRP != 0 {
            kept &= !libc::S_ISGID;
        }
        if kept != mode & 0o7777 {
            d.setattr(&crate::vfs::SetAttr { mode: Some(kept), ..crate::vfs::SetAttr::default() })?;
        }
        Ok(())
    }

    pub(super) fn umask(&self) -> u32 {
        self.fs().umask
    }

    /// Resolves `path` from `start`, with search permission checked on every directory
    /// (unless the caller may search them all).
    fn walk(&self, start: &Arc<Dentry>, path: &[u8], follow: bool) -> SysResult<Arc<Dentry>> {
        let root = self.fs().root.clone();
        let walker = Walker { root: &root };
        if self.searches_all() {
            return walker.resolve(start, path, follow);
        }
        walker.resolve_checked(start, path, follow, &|d: &Dentry| self.may(&d.inode.stat()?, MAY_EXEC))
    }

    /// Resolves `path` relative to `dirfd`.
    pub fn lookup(&self, dirfd: i32, path: &[u8], follow: bool) -> SysResult<Arc<Dentry>> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        let start = self.start_dir(dirfd, path)?;
        self.walk(&start, path, follow)
    }

    /// Looks up the directory of `path` (relative to `dirfd`) and splits off the last
    /// component, as the calls that create, remove or rename a name do.
    pub(super) fn lookup_parent(&self, dirfd: i32, path: &[u8]) -> SysResult<Parent> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        let start = self.start_dir(dirfd, path)?;
        self.lookup_parent_from(&start, path)
    }

    fn lookup_parent_from(&self, start: &Arc<Dentry>, path: &[u8]) -> SysResult<Parent> {
        let end = path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
        let trailing_slash = end < path.len();
        let trimmed = &path[..end];
        if trimmed.is_empty() {
            let root = self.fs().root.clone();
            return Ok(Parent { dir: root, last: Last::Root, trailing_slash });
        }
        let (dir_path, name) = match trimmed.iter().rposition(|&b| b == b'/') {
            Some(i) => (&trimmed[..=i], &trimmed[i + 1..]),
            None => (&b""[..], trimmed),
        };
        let dir = if dir_path.is_empty() { start.clone() } else { self.walk(start, dir_path, true)? };
        if !dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if !self.searches_all() {
            self.may(&dir.inode.stat()?, MAY_EXEC)?;
        }
        let last = match name {
            b"." => Last::Dot,
            b".." => Last::DotDot,
            _ if name.len() > NAME_MAX => return Err(Errno::ENAMETOOLONG),
            _ => Last::Name(name.to_vec()),
        };
        Ok(Parent { dir, last, trailing_slash })
    }

    /// The dentry an `*at` call with `AT_EMPTY_PATH` and an empty path names: `dirfd`'s.
    pub(super) fn fd_dentry(&self, dirfd: i32) -> SysResult<Arc<Dentry>> {
        if dirfd == libc::AT_FDCWD {
            return Ok(self.fs().cwd.clone());
        }
        self.file(dirfd)?.dentry.clone().ok_or(Errno::EBADF)
    }

    /// Resolves the `(dirfd, path, flags)` of the `*at` calls: `AT_SYMLINK_NOFOLLOW` and
    /// `AT_EMPTY_PATH` (which names `dirfd` itself).
    pub(super) fn lookup_at(&self, dirfd: i32, path_addr: u64, flags: i32) -> SysResult<Arc<Dentry>> {
        let path = self.read_path(path_addr)?;
        if path.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
            return self.fd_dentry(dirfd);
        }
        self.lookup(dirfd, &path, flags & libc::AT_SYMLINK_NOFOLLOW == 0)
    }

    pub(super) fn nofile(&self) -> u64 {
        self.rlimit(libc::RLIMIT_NOFILE).cur
    }

    /// The stat of what `(dirfd, path, flags)` names; with `AT_EMPTY_PATH` and an fd that has
    /// no dentry (a host stream), the open file's own stat.
    fn stat_at(&self, dirfd: i32, path_addr: u64, flags: i32) -> SysResult<Stat> {
        let path = self.read_path(path_addr)?;
        if path.is_empty() && flags & libc::AT_EMPTY_PATH != 0 && dirfd != libc::AT_FDCWD {
            return self.file(dirfd)?.ops.stat();
        }
        self.lookup_at(dirfd, path_addr, flags)?.inode.stat()
    }
}

fn sys_read(t: &mut Task, a: &Args) -> SysResult {
    let file = t.file(a.fd(0))?;
    if let Some(r) = super::events::read_hook(t, &file, a.u64(1), a.usize(2)) {
        return r;
    }
    if let Some(r) = super::socket::read_hook(t, &file, a.u64(1), a.usize(2)) {
        return r;
    }
    read_to_user(t, &file, None, a.u64(1), a.usize(2))
}

fn sys_write(t: &mut Task, a: &Args) -> SysResult {
    let file = t.file(a.fd(0))?;
    if let Some(r) = super::socket::write_hook(t, &file, a.u64(1), a.usize(2)) {
        return r;
    }
    write_from_user(t, &file, None, a.u64(1), a.usize(2))
}

fn sys_pread64(t: &mut Task, a: &Args) -> SysResult {
    let file = t.file(a.fd(0))?;
    let offset = positional(&file, a.i64(3))?;
    read_to_user(t, &file, Some(offset), a.u64(1), a.usize(2))
}

fn sys_pwrite64(t: &mut Task, a: &Args) -> SysResult {
    let file = t.file(a.fd(0))?;
    let offset = positional(&file, a.i64(3))?;
    write_from_user(t, &file, Some(offset), a.u64(1), a.usize(2))
}

fn positional(file: &File, offset: i64) -> SysResult<u64> {
    if !file.ops.seekable() {
        return Err(Errno::ESPIPE);
    }
    u64::try_from(offset).map_err(|_| Errno::EINVAL)
}

/// Runs `op` until it stops answering `EAGAIN`, sleeping in between unless the file is
/// non-blocking. A signal ends the wait with `ERESTARTSYS`.
pub(super) fn blocking<T>(t: &Task, file: &File, mut op: impl FnMut() -> SysResult<T>) -> SysResult<T> {
    loop {
        let seen = t.kernel.events.generation();
        match op() {
            Err(Errno::EAGAIN) if file.flags() & libc::O_NONBLOCK == 0 => {
                if t.signal_pending() {
                    return Err(ERESTARTSYS);
                }
                // Host descriptors change without telling the sentry: look again soon.
                let deadline = file.ops.polls_host().then(|| Instant::now() + HOST_POLL_INTERVAL);
                t.kernel.events.wait(seen, deadline);
            }
            r => return r,
        }
    }
}

/// How often a task blocked on a host descriptor looks at it again.
const HOST_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Reads into application memory at `addr`; `at` is an explicit offset (pread) or None for
/// the file position. A fault after some bytes returns the count done.
fn read_to_user(t: &Task, file: &File, at: Option<u64>, addr: u64, count: usize) -> SysResult {
    if !file.readable() {
        return Err(Errno::EBADF);
    }
    let count = count.min(MAX_RW_COUNT);
    if file.ops.io_in_place() {
        return read_in_place(t, file, at, addr, count);
    }
    let seekable = file.ops.seekable();
    // Streams have no position to protect, and their reads may sleep: no lock for them.
    let mut pos = seekable.then(|| file.offset.lock().unwrap());
    let start = at.or(pos.as_deref().copied()).unwrap_or(0);
    let mut buf = vec![0u8; count.min(CHUNK)];
    let mut done = 0usize;
    while done < count {
        let want = (count - done).min(CHUNK);
        let offset = start + done as u64;
        let r = if done == 0 { blocking(t, file, || file.ops.read(offset, &mut buf[..want])) } else { file.ops.read(offset, &mut buf[..want]) };
        let n = match r {
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        let copied = t.mm.copy_out_partial(addr + done as u64, &buf[..n]);
        done += copied;
        if copied < n {
            if done == 0 {
                return Err(Errno::EFAULT);
            }
            break;
        }
        // Streams return what they have; only regular reads continue to fill the buffer.
        if n < want || !seekable {
            break;
        }
    }
    if let (None, Some(pos)) = (at, pos.as_deref_mut()) {
        *pos = start + done as u64;
    }
    Ok(done as u64)
}

/// `read_to_user` for files that read straight into application memory: one copy, as
/// natively, instead of two through a sentry buffer.
fn read_in_place(t: &Task, file: &File, at: Option<u64>, addr: u64, count: usize) -> SysResult {
    let mut pos = file.offset.lock().unwrap();
    let start = at.unwrap_or(*pos);
    let mut offset = start;
    let (done, r) = t.mm.in_place(addr, count, PROT_WRITE, |dst| {
        let n = read_full(file.ops.as_ref(), offset, dst)?;
        offset += n as u64;
        Ok(n)
    });
    if done == 0 {
        r?;
    }
    if at.is_none() {
        *pos = start + done as u64;
    }
    Ok(done as u64)
}

fn write_from_user(t: &Task, file: &File, at: Option<u64>, addr: u64, count: usize) -> SysResult {
    if !file.writable() {
        return Err(Errno::EBADF);
    }
    let count = count.min(MAX_RW_COUNT);
    if file.ops.io_in_place() {
        // Straight from application memory, piece by piece; `write_buf` keeps the position.
        let mut done = 0u64;
        let (n, r) = t.mm.in_place(addr, count, PROT_READ, |src| {
            let n = write_buf(t, file, at.map(|o| o + done), src)?;
            done += n as u64;
            Ok(n)
        });
        if n == 0 {
            r?;
        }
        return Ok(n as u64);
    }
    let mut buf = vec![0u8; count.min(CHUNK)];
    let mut done = 0usize;
    while done < count {
        let want = (count - done).min(CHUNK);
        let got = t.mm.copy_in_partial(addr + done as u64, &mut buf[..want]);
        if got == 0 {
            if done == 0 {
                return Err(Errno::EFAULT);
            }
            break;
        }
        let sent = match write_buf(t, file, at.map(|o| o + done as u64), &buf[..got]) {
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        done += sent;
        if sent < got || got < want {
            break;
        }
    }
    Ok(done as u64)
}

/// Writes a sentry buffer at `at` or the file position (which it advances), blocking while a
/// stream is full. `EPIPE` also raises `SIGPIPE`, as Linux does.
pub(super) fn write_buf(t: &Task, file: &File, at: Option<u64>, buf: &[u8]) -> SysResult<usize> {
    if !file.writable() {
        return Err(Errno::EBADF);
    }
    if !buf.is_empty() && !t.creds.capable(cap::FSETID) && file.ops.seekable() {
        // The open file's attributes: current, and cheaper than the inode's to get.
        if let (Some(d), Ok(st)) = (&file.dentry, file.ops.stat()) {
            t.drop_setid_bits(d, Some(st.mode))?;
        }
    }
    let seekable = file.ops.seekable();
    let mut pos = seekable.then(|| file.offset.lock().unwrap());
    if seekable && file.flags() & libc::O_APPEND != 0 {
        // At the end, wherever the position (or a pwrite's offset) is; the position follows.
        let (n, end) = file.ops.append(buf)?;
        if let (None, Some(pos)) = (at, pos.as_deref_mut()) {
            *pos = end;
        }
        if n > 0 {
            file.modified();
        }
        return Ok(n);
    }
    let start = at.or(pos.as_deref().copied()).unwrap_or(0);
    let mut sent = 0;
    // A stream may take part of the buffer; keep offering the rest.
    while sent < buf.len() {
        let offset = start + sent as u64;
        match blocking(t, file, || file.ops.write(offset, &buf[sent..])) {
            Ok(0) => break,
            Ok(n) => sent += n,
            Err(e) => {
                if e == Errno::EPIPE {
                    t.thread.send(SigInfo::user(libc::SIGPIPE, t.pid(), t.creds.uid));
                }
                if sent == 0 {
                    return Err(e);
                }
                break;
            }
        }
        if seekable {
            break;
        }
    }
    if let (None, Some(pos)) = (at, pos.as_deref_mut()) {
        *pos = start + sent as u64;
    }
    if sent > 0 {
        file.modified();
    }
    Ok(sent)
}

fn read_iovecs(t: &Task, addr: u64, count: i32) -> SysResult<Vec<Iovec>> {
    let count = usize::try_from(count).map_err(|_| Errno::EINVAL)?;
    if count > UIO_MAXIOV {
        return Err(Errno::EINVAL);
    }
    let mut iovs = Vec::with_capacity(count);
    let mut total: u64 = 0;
    for i in 0..count {
        let iov: Iovec = t.mm.read_val(addr + (i * std::mem::size_of::<Iovec>()) as u64)?;
        total = total.checked_add(iov.len).filter(|&n| n <= i64::MAX as u64).ok_or(Errno::EINVAL)?;
        iovs.push(iov);
    }
    Ok(iovs)
}

/// readv/preadv: fills each iovec in turn, stopping at the first short transfer.
fn readv_common(t: &Task, a: &Args, at: Option<u64>) -> SysResult {
    let file = t.file(a.fd(0))?;
    if at.is_none() {
        if let Some(r) = super::socket::vector_hook(t, &file, a.u64(1), a.i32(2), false) {
            return r;
        }
    }
    let iovs = read_iovecs(t, a.u64(1), a.i32(2))?;
    let mut done = 0u64;
    for iov in iovs.iter().filter(|v| v.len > 0) {
        let len = usize::try_from(iov.len).unwrap_or(usize::MAX);
        let r = read_to_user(t, &file, at.map(|o| o + done), iov.base, len);
        match r {
            Ok(n) => {
                done += n;
                if n < iov.len {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

fn writev_common(t: &Task, a: &Args, at: Option<u64>) -> SysResult {
    let file = t.file(a.fd(0))?;
    if at.is_none() {
        if let Some(r) = super::socket::vector_hook(t, &file, a.u64(1), a.i32(2), true) {
            return r;
        }
    }
    let iovs = read_iovecs(t, a.u64(1), a.i32(2))?;
    // Gather into one buffer so a stream sees one write, as writev guarantees.
    let total: u64 = iovs.iter().map(|v| v.len).sum();
    if total as usize <= CHUNK {
        let mut buf = Vec::with_capacity(total as usize);
        for iov in &iovs {
            let start = buf.len();
            buf.resize(start + iov.len as usize, 0);
            let got = t.mm.copy_in_partial(iov.base, &mut buf[start..]);
            if got < iov.len as usize {
                buf.truncate(start + got);
                if buf.is_empty() {
                    return Err(Errno::EFAULT);
                }
                break;
            }
        }
        if buf.is_empty() {
            return if file.writable() { Ok(0) } else { Err(Errno::EBADF) };
        }
        return write_buf(t, &file, at, &buf).map(|n| n as u64);
    }
    let mut done = 0u64;
    for iov in iovs.iter().filter(|v| v.len > 0) {
        let len = usize::try_from(iov.len).unwrap_or(usize::MAX);
        match write_from_user(t, &file, at.map(|o| o + done), iov.base, len) {
            Ok(n) => {
                done += n;
                if n < iov.len {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

fn sys_readv(t: &mut Task, a: &Args) -> SysResult {
    readv_common(t, a, None)
}

fn sys_writev(t: &mut Task, a: &Args) -> SysResult {
    writev_common(t, a, None)
}

fn sys_preadv(t: &mut Task, a: &Args) -> SysResult {
    let file = t.file(a.fd(0))?;
    let offset = positional(&file, a.i64(3))?;
    readv_common(t, a, Some(offset))
}

fn sys_pwritev(t: &mut Task, a: &Args) -> SysResult {
    let file = t.file(a.fd(0))?;
    let offset = positional(&file, a.i64(3))?;
    writev_common(t, a, Some(offset))
}

fn sys_lseek(t: &mut Task, a: &Args) -> SysResult {
    let file = t.file(a.fd(0))?;
    if !file.ops.seekable() {
        return Err(Errno::ESPIPE);
    }
    let offset = a.i64(1);
    let mut pos = file.offset.lock().unwrap();
    let size = || file.ops.stat().map(|s| s.size);
    let new = match a.i32(2) {
        libc::SEEK_SET => Some(offset),
        libc::SEEK_CUR => i64::try_from(*pos).ok().and_then(|p| p.checked_add(offset)),
        libc::SEEK_END => size()?.checked_add(offset),
        libc::SEEK_DATA => (offset < size()?).then_some(offset).or(Some(-1)),
        libc::SEEK_HOLE => (offset < size()?).then(size).transpose()?.or(Some(-1)),
        _ => return Err(Errno::EINVAL),
    };
    let new = new.ok_or(Errno::EOVERFLOW)?;
    if matches!(a.i32(2), libc::SEEK_DATA | libc::SEEK_HOLE) && new < 0 {
        return Err(Errno::ENXIO);
    }
    *pos = u64::try_from(new).map_err(|_| Errno::EINVAL)?;
    Ok(*pos)
}

/// Symlinks an `O_CREAT` open follows to a missing target before `ELOOP`.
const MAX_CREATE_LINKS: u32 = 40;

/// open(2) and its relatives: `flags` as open takes them (unknown bits ignored, as Linux
/// does), `mode` the permission bits for a file it creates.
fn open_common(t: &mut Task, dirfd: i32, path_addr: u64, flags: i32, mode: u32) -> SysResult {
    let path = t.read_path(path_addr)?;
    let (dentry, ops) = if flags & libc::O_PATH != 0 {
        let dentry = t.lookup(dirfd, &path, flags & libc::O_NOFOLLOW == 0)?;
        if flags & libc::O_DIRECTORY != 0 && !dentry.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let ops: Arc<dyn FileOps> = Arc::new(PathOnly(dentry.inode.stat()?));
        (dentry, ops)
    } else if flags & O_TMPFILE_BIT != 0 {
        open_tmpfile(t, dirfd, &path, flags, mode)?
    } else if flags & libc::O_CREAT != 0 {
        if flags & libc::O_DIRECTORY != 0 {
            return Err(Errno::EINVAL);
        }
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        let start = t.start_dir(dirfd, &path)?;
        open_create(t, &start, &path, flags, mode, 0)?
    } else {
        let dentry = t.lookup(dirfd, &path, flags & libc::O_NOFOLLOW == 0)?;
        let ops = open_dentry(t, &dentry, flags, false)?;
        (dentry, ops)
    };
    install_open(t, ops, dentry, flags)
}

/// `__O_TMPFILE` alone (libc's `O_TMPFILE` includes `O_DIRECTORY`).
const O_TMPFILE_BIT: i32 = libc::O_TMPFILE & !libc::O_DIRECTORY;

fn install_open(t: &mut Task, ops: Arc<dyn FileOps>, dentry: Arc<Dentry>, flags: i32) -> SysResult {
    let file = File::new(ops, Some(dentry), flags);
    let limit = t.nofile();
    let fd = t.files().install(file, flags & libc::O_CLOEXEC != 0, 0, limit)?;
    Ok(fd as u64)
}

/// `O_TMPFILE`: an unnamed regular file in the directory `path` names.
fn open_tmpfile(t: &Task, dirfd: i32, path: &[u8], flags: i32, mode: u32) -> SysResult<(Arc<Dentry>, Arc<dyn FileOps>)> {
    if flags & (libc::O_TMPFILE | libc::O_CREAT) != libc::O_TMPFILE || flags & libc::O_ACCMODE == libc::O_RDONLY {
        return Err(Errno::EINVAL);
    }
    let dir = t.lookup(dirfd, path, true)?;
    if !dir.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    t.may(&dir.inode.stat()?, MAY_WRITE | MAY_EXEC)?;
    let mode = mode & 0o7777 & !t.umask();
    let inode = dir.inode.tmpfile(mode, t.owner(), flags & libc::O_EXCL == 0)?;
    let name = format!("#{}", inode.stat()?.ino).into_bytes();
    let dentry = Dentry::detached(&dir, &name, inode);
    let ops = dentry.inode.open(flags & !(libc::O_TMPFILE | libc::O_TRUNC | libc::O_EXCL))?;
    Ok((dentry, ops))
}

/// An `O_CREAT` open of `path` from `start`: opens the file if it exists (`EEXIST` with
/// `O_EXCL`), else creates it, with the umask applied. A symlink at the last component is
/// followed, and a dangling one creates its target (not with `O_EXCL` or `O_NOFOLLOW`).
fn open_create(t: &Task, start: &Arc<Dentry>, path: &[u8], flags: i32, mode: u32, links: u32) -> SysResult<(Arc<Dentry>, Arc<dyn FileOps>)> {
    let p = t.lookup_parent_from(start, path)?;
    let name = p.name(Errno::EISDIR)?.to_vec();
    if p.trailing_slash {
        return Err(Errno::EISDIR);
    }
    let mut raced = false;
    loop {
        let existing = match p.dir.child(&name) {
            Ok(d) => Some(d),
            Err(Errno::ENOENT) => None,
            Err(e) => return Err(e),
        };
        if let Some(d) = existing {
            if flags & libc::O_EXCL != 0 {
                return Err(Errno::EEXIST);
            }
            if d.inode.file_type() == S_IFLNK {
                if flags & libc::O_NOFOLLOW != 0 {
                    return Err(Errno::ELOOP);
                }
                if links >= MAX_CREATE_LINKS {
                    return Err(Errno::ELOOP);
                }
                let target = d.inode.readlink()?;
                return match t.walk(&p.dir, &target, true) {
                    Ok(d) => {
                        let ops = open_dentry(t, &d, flags, false)?;
                        Ok((d, ops))
                    }
                    Err(Errno::ENOENT) => open_create(t, &p.dir, &target, flags, mode, links + 1),
                    Err(e) => Err(e),
                };
            }
            if d.is_dir() {
                return Err(Errno::EISDIR);
            }
            let ops = open_dentry(t, &d, flags, false)?;
            return Ok((d, ops));
        }
        t.may(&p.dir.inode.stat()?, MAY_WRITE | MAY_EXEC)?;
        let inode = match p.dir.inode.create(&name, mode & 0o7777 & !t.umask(), t.owner()) {
            Ok(i) => i,
            // Made by somebody else meanwhile: open that one (look once more, not forever).
            Err(Errno::EEXIST) if flags & libc::O_EXCL == 0 && !raced => {
                raced = true;
                p.dir.invalidate(&name);
                continue;
            }
            Err(e) => return Err(e),
        };
        let d = p.dir.insert(&name, inode);
        // The creator gets the access it asked for, whatever the new file's mode says.
        let ops = open_dentry(t, &d, flags & !libc::O_TRUNC, true)?;
        return Ok((d, ops));
    }
}

/// Opens the file `dentry` names for `flags`, after the checks Linux's `may_open` makes
/// (skipped for a file the caller just created).
fn open_dentry(t: &Task, dentry: &Arc<Dentry>, flags: i32, created: bool) -> SysResult<Arc<dyn FileOps>> {
    let st = dentry.inode.stat()?;
    let kind = st.mode & S_IFMT;
    if kind == S_IFLNK {
        return Err(Errno::ELOOP);
    }
    if flags & libc::O_DIRECTORY != 0 && kind != S_IFDIR {
        return Err(Errno::ENOTDIR);
    }
    let acc = flags & libc::O_ACCMODE;
    let mut want = match acc {
        libc::O_RDONLY => MAY_READ,
        libc::O_WRONLY => MAY_WRITE,
        _ => MAY_READ | MAY_WRITE,
    };
    if flags & libc::O_TRUNC != 0 {
        want |= MAY_WRITE;
    }
    if kind == S_IFDIR && want & MAY_WRITE != 0 {
        return Err(Errno::EISDIR);
    }
    if !created {
        t.may(&st, want)?;
    }
    // O_NOATIME is for the owner (or CAP_FOWNER).
    if flags & libc::O_NOATIME != 0 && !t.owns(&st) {
        return Err(Errno::EPERM);
    }
    match kind {
        libc::S_IFIFO => open_fifo(t, dentry, &st, flags),
        libc::S_IFSOCK => Err(Errno::ENXIO),
        libc::S_IFREG if flags & libc::O_TRUNC != 0 => {
            let ops = dentry.inode.open(flags)?;
            t.drop_setid_bits(dentry, Some(st.mode))?;
            Ok(ops)
        }
        _ => dentry.inode.open(flags),
    }
}

/// A FIFO's `(st_dev, st_ino)` and its pipe.
type FifoEntry = ((u64, u64), std::sync::Weak<Pipe>);

/// Named FIFOs: the pipe behind each, alive while any end is open.
static FIFOS: std::sync::Mutex<Vec<FifoEntry>> = std::sync::Mutex::new(Vec::new());

/// Opens a FIFO: an end of the pipe its inode shares with every other open of it. Like
/// Linux, a read-only open waits for a writer and a write-only one for a reader (unless
/// `O_NONBLOCK`: then a write-only open without readers is `ENXIO`); `O_RDWR` never waits.
fn open_fifo(t: &Task, dentry: &Arc<Dentry>, st: &Stat, flags: i32) -> SysResult<Arc<dyn FileOps>> {
    let pipe = {
        let mut fifos = FIFOS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        fifos.retain(|(_, w)| w.strong_count() > 0);
        let key = (st.dev, st.ino);
        match fifos.iter().find(|(k, _)| *k == key).and_then(|(_, w)| w.upgrade()) {
            Some(p) => p,
            None => {
                let p = Pipe::fifo(t.kernel.events.clone(), st.ino);
                fifos.push((key, Arc::downgrade(&p)));
                p
            }
        }
    };
    let nonblock = flags & libc::O_NONBLOCK != 0;
    let (read, write) = match flags & libc::O_ACCMODE {
        libc::O_RDONLY => (true, false),
        libc::O_WRONLY => (false, true),
        libc::O_RDWR => (true, true),
        _ => return Err(Errno::EINVAL),
    };
    let ((readers, _), opened) = pipe.ends();
    if write && !read && nonblock && readers == 0 {
        return Err(Errno::ENXIO);
    }
    let file = FifoFile {
        read: read.then(|| pipe.open_end(false)),
        write: write.then(|| pipe.open_end(true)),
        inode: dentry.inode.clone(),
    };
    if read != write && !nonblock {
        // Wait for the other side to open (or to have opened since we started).
        let other = usize::from(read);
        loop {
            let seen = t.kernel.events.generation();
            let ((r, w), now) = pipe.ends();
            if (if read { w } else { r }) > 0 || now[other] > opened[other] {
                break;
            }
            if t.signal_pending() {
                return Err(ERESTARTSYS);
            }
            t.kernel.events.wait(seen, None);
        }
    }
    Ok(Arc::new(file))
}

/// An open FIFO: its ends of the shared pipe, with the FIFO inode's attributes.
struct FifoFile {
    read: Option<PipeEnd>,
    write: Option<PipeEnd>,
    inode: Arc<dyn crate::vfs::Inode>,
}

impl FileOps for FifoFile {
    fn read(&self, offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        self.read.as_ref().ok_or(Errno::EBADF)?.read(offset, buf)
    }

    fn write(&self, offset: u64, buf: &[u8]) -> SysResult<usize> {
        self.write.as_ref().ok_or(Errno::EBADF)?.write(offset, buf)
    }

    fn stat(&self) -> SysResult<Stat> {
        self.inode.stat()
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self) -> u32 {
        let r = self.read.as_ref().map_or(0, FileOps::poll);
        let w = self.write.as_ref().map_or(0, FileOps::poll);
        if self.read.is_some() && self.write.is_some() {
            // Both ends are ours: never a hang-up.
            return (r | w) & !(libc::POLLHUP as u32);
        }
        r | w
    }

    fn ioctl(&self, mm: &crate::mm::MemoryManager, request: u32, arg: u64) -> SysResult<u64> {
        match (&self.read, &self.write) {
            (Some(r), _) => r.ioctl(mm, request, arg),
            (None, Some(w)) => w.ioctl(mm, request, arg),
            (None, None) => Err(Errno::ENOTTY),
        }
    }

    /// The pipe end, so `F_GETPIPE_SZ` and friends find it.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        match (&self.read, &self.write) {
            (Some(r), _) => Some(r),
            (None, Some(w)) => Some(w),
            (None, None) => None,
        }
    }
}

/// An `O_PATH` descriptor: names a file, allows no I/O.
struct PathOnly(Stat);

impl FileOps for PathOnly {
    fn read(&self, _: u64, _: &mut [u8]) -> SysResult<usize> {
        Err(Errno::EBADF)
    }
    fn write(&self, _: u64, _: &[u8]) -> SysResult<usize> {
        Err(Errno::EBADF)
    }
    fn stat(&self) -> SysResult<Stat> {
        Ok(self.0)
    }
    fn readdir(&self, _: u64) -> SysResult<Vec<crate::vfs::DirEntry>> {
        Err(Errno::EBADF)
    }
    fn ioctl(&self, _: &crate::mm::MemoryManager, _: u32, _: u64) -> SysResult<u64> {
        Err(Errno::EBADF)
    }
}

fn sys_open(t: &mut Task, a: &Args) -> SysResult {
    open_common(t, libc::AT_FDCWD, a.u64(0), a.i32(1), a.u32(2))
}

fn sys_openat(t: &mut Task, a: &Args) -> SysResult {
    open_common(t, a.fd(0), a.u64(1), a.i32(2), a.u32(3))
}

fn sys_creat(t: &mut Task, a: &Args) -> SysResult {
    open_common(t, libc::AT_FDCWD, a.u64(0), libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC, a.u32(1))
}

/// openat2(2): `struct open_how { u64 flags, mode, resolve }`.
fn sys_openat2(t: &mut Task, a: &Args) -> SysResult {
    const RESOLVE_ALL: u64 = 0x3f;
    let size = a.usize(3);
    if size < 24 {
        return Err(Errno::EINVAL);
    }
    if size > 4096 {
        return Err(Errno::E2BIG);
    }
    let flags: u64 = t.mm.read_val(a.u64(2))?;
    let mode: u64 = t.mm.read_val(a.u64(2) + 8)?;
    let resolve: u64 = t.mm.read_val(a.u64(2) + 16)?;
    let known = (libc::O_ACCMODE | libc::O_CREAT | libc::O_EXCL | libc::O_NOCTTY | libc::O_TRUNC | libc::O_APPEND | libc::O_NONBLOCK | libc::O_DSYNC | libc::O_ASYNC | libc::O_DIRECT | libc::O_LARGEFILE | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_NOATIME | libc::O_CLOEXEC | libc::O_PATH | libc::O_TMPFILE | libc::O_SYNC) as u64;
    if flags & !known != 0 || resolve & !RESOLVE_ALL != 0 || mode & !0o7777 != 0 {
        return Err(Errno::EINVAL);
    }
    if mode != 0 && flags & (libc::O_CREAT | O_TMPFILE_BIT) as u64 == 0 {
        return Err(Errno::EINVAL);
    }
    open_common(t, a.fd(0), a.u64(1), flags as i32, mode as u32)
}

fn sys_close(t: &mut Task, a: &Args) -> SysResult {
    t.files().remove(a.fd(0))?;
    Ok(0)
}

fn sys_close_range(t: &mut Task, a: &Args) -> SysResult {
    const CLOSE_RANGE_UNSHARE: u32 = 2;
    const CLOSE_RANGE_CLOEXEC: u32 = 4;
    let (first, last, flags) = (a.u32(0), a.u32(1), a.u32(2));
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return Err(Errno::EINVAL);
    }
    // One lock for the whole range; the files themselves close after it is released.
    let mut closed = Vec::new();
    {
        let mut files = t.files();
        for fd in files.fds() {
            let n = fd.unsigned_abs();
            if n >= first && n <= last {
                if flags & CLOSE_RANGE_CLOEXEC != 0 {
                    files.set_cloexec(fd, true)?;
                } else {
                    closed.push(files.remove(fd)?);
                }
            }
        }
    }
    drop(closed);
    Ok(0)
}

fn sys_fstat(t: &mut Task, a: &Args) -> SysResult {
    let st = t.file(a.fd(0))?.ops.stat()?;
    t.mm.write_val(a.u64(1), &st)?;
    Ok(0)
}

fn sys_stat(t: &mut Task, a: &Args) -> SysResult {
    let st = t.stat_at(libc::AT_FDCWD, a.u64(0), 0)?;
    t.mm.write_val(a.u64(1), &st)?;
    Ok(0)
}

fn sys_lstat(t: &mut Task, a: &Args) -> SysResult {
    let st = t.stat_at(libc::AT_FDCWD, a.u64(0), libc::AT_SYMLINK_NOFOLLOW)?;
    t.mm.write_val(a.u64(1), &st)?;
    Ok(0)
}

fn sys_newfstatat(t: &mut Task, a: &Args) -> SysResult {
    let flags = a.i32(3);
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH | libc::AT_NO_AUTOMOUNT) != 0 {
        return Err(Errno::EINVAL);
    }
    let st = t.stat_at(a.fd(0), a.u64(1), flags)?;
    t.mm.write_val(a.u64(2), &st)?;
    Ok(0)
}

fn sys_statx(t: &mut Task, a: &Args) -> SysResult {
    const STATX_BASIC_STATS: u32 = 0x7ff;
    const STATX__RESERVED: u32 = 0x8000_0000;
    let flags = a.i32(2);
    let known = libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH | libc::AT_NO_AUTOMOUNT | libc::AT_STATX_SYNC_TYPE;
    if flags & !known != 0 || flags & libc::AT_STATX_SYNC_TYPE == libc::AT_STATX_SYNC_TYPE || a.u32(3) & STATX__RESERVED != 0 {
        return Err(Errno::EINVAL);
    }
    let st = t.stat_at(a.fd(0), a.u64(1), flags)?;
    let ts = |sec: i64, nsec: i64| StatxTimestamp { sec, nsec: u32::try_from(nsec).unwrap_or(0), reserved: 0 };
    let sx = Statx {
        mask: STATX_BASIC_STATS,
        blksize: u32::try_from(st.blksize).unwrap_or(4096),
        nlink: u32::try_from(st.nlink).unwrap_or(u32::MAX),
        uid: st.uid,
        gid: st.gid,
        mode: (st.mode & 0xffff) as u16,
        ino: st.ino,
        size: u64::try_from(st.size).unwrap_or(0),
        blocks: u64::try_from(st.blocks).unwrap_or(0),
        atime: ts(st.atime, st.atime_nsec),
        ctime: ts(st.ctime, st.ctime_nsec),
        mtime: ts(st.mtime, st.mtime_nsec),
        rdev_major: libc::major(st.rdev),
        rdev_minor: libc::minor(st.rdev),
        dev_major: libc::major(st.dev),
        dev_minor: libc::minor(st.dev),
        ..Statx::default()
    };
    t.mm.write_val(a.u64(4), &sx)?;
    Ok(0)
}

fn sys_getdents64(t: &mut Task, a: &Args) -> SysResult {
    let file = t.file(a.fd(0))?;
    if file.flags() & libc::O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    let count = a.usize(2).min(MAX_RW_COUNT);
    let mut pos = file.offset.lock().unwrap();
    let entries = file.ops.readdir(*pos)?;
    let any = !entries.is_empty();
    let mut out = Vec::with_capacity(count.min(CHUNK));
    let mut next = *pos;
    for e in entries {
        // struct linux_dirent64: ino, off, reclen, type, name + NUL, padded to 8.
        let reclen = (19 + e.name.len() + 1 + 7) & !7;
        if out.len() + reclen > count {
            break;
        }
        out.extend_from_slice(&e.ino.to_le_bytes());
        out.extend_from_slice(&e.next.to_le_bytes());
        out.extend_from_slice(&u16::try_from(reclen).unwrap_or(0).to_le_bytes());
        out.push(e.kind);
        out.extend_from_slice(&e.name);
        out.resize(out.len() + reclen - 19 - e.name.len(), 0);
        next = e.next;
    }
    if out.is_empty() && any {
        // Not even one entry fits the buffer.
        return Err(Errno::EINVAL);
    }
    t.mm.copy_out(a.u64(1), &out)?;
    *pos = next;
    Ok(out.len() as u64)
}

fn readlink_common(t: &mut Task, dirfd: i32, path_addr: u64, buf: u64, size: i32) -> SysResult {
    let size = usize::try_from(size).ok().filter(|&s| s > 0).ok_or(Errno::EINVAL)?;
    let path = t.read_path(path_addr)?;
    let d = if path.is_empty() {
        t.file(dirfd)?.dentry.clone().ok_or(Errno::ENOENT)?
    } else {
        t.lookup(dirfd, &path, false)?
    };
    let target = d.inode.readlink()?;
    let n = target.len().min(size);
    t.mm.copy_out(buf, &target[..n])?;
    Ok(n as u64)
}

fn sys_readlink(t: &mut Task, a: &Args) -> SysResult {
    readlink_common(t, libc::AT_FDCWD, a.u64(0), a.u64(1), a.i32(2))
}

fn sys_readlinkat(t: &mut Task, a: &Args) -> SysResult {
    readlink_common(t, a.fd(0), a.u64(1), a.u64(2), a.i32(3))
}

fn access_common(t: &mut Task, dirfd: i32, path_addr: u64, mode: i32, flags: i32) -> SysResult {
    if mode & !(libc::R_OK | libc::W_OK | libc::X_OK) != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & !(libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let d = t.lookup_at(dirfd, path_addr, flags)?;
    let st = d.inode.stat()?;
    if mode == libc::F_OK {
        return Ok(0);
    }
    let c = &t.creds;
    // Without AT_EACCESS the check is made as the real user: with the permitted
    // capabilities for a real uid 0, none for another user (unless SECBIT_NO_SETUID_FIXUP).
    let (uid, gid, caps) = if flags & libc::AT_EACCESS != 0 {
        (c.fsuid, c.fsgid, c.caps.effective)
    } else if c.securebits & secbit::NO_SETUID_FIXUP != 0 {
        (c.uid, c.gid, c.caps.effective)
    } else {
        (c.uid, c.gid, if c.uid == 0 { c.caps.permitted } else { 0 })
    };
    if mode & libc::W_OK != 0 && matches!(st.mode & S_IFMT, libc::S_IFREG | libc::S_IFDIR | libc::S_IFLNK) && d.inode.statfs()?.read_only() {
        return Err(Errno::EROFS);
    }
    if !permits(uid, gid, &c.groups, caps, &st, mode.unsigned_abs()) {
        return Err(Errno::EACCES);
    }
    Ok(0)
}

fn sys_access(t: &mut Task, a: &Args) -> SysResult {
    access_common(t, libc::AT_FDCWD, a.u64(0), a.i32(1), 0)
}

fn sys_faccessat(t: &mut Task, a: &Args) -> SysResult {
    access_common(t, a.fd(0), a.u64(1), a.i32(2), 0)
}

fn sys_faccessat2(t: &mut Task, a: &Args) -> SysResult {
    access_common(t, a.fd(0), a.u64(1), a.i32(2), a.i32(3))
}

fn sys_getcwd(t: &mut Task, a: &Args) -> SysResult {
    let mut path = {
        let fs = t.fs();
        if fs.cwd.is_removed() {
            return Err(Errno::ENOENT);
        }
        fs.cwd.path_from(&fs.root)
    };
    path.push(0);
    if a.usize(1) < path.len() {
        return Err(Errno::ERANGE);
    }
    t.mm.copy_out(a.u64(0), &path)?;
    Ok(path.len() as u64)
}

fn sys_chdir(t: &mut Task, a: &Args) -> SysResult {
    let path = t.read_path(a.u64(0))?;
    let d = t.lookup(libc::AT_FDCWD, &path, true)?;
    if !d.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    t.may(&d.inode.stat()?, MAY_EXEC)?;
    t.fs().cwd = d;
    Ok(0)
}

fn sys_fchdir(t: &mut Task, a: &Args) -> SysResult {
    let d = t.file(a.fd(0))?.dentry.clone().ok_or(Errno::ENOTDIR)?;
    if !d.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    t.fs().cwd = d;
    Ok(0)
}

fn sys_ioctl(t: &mut Task, a: &Args) -> SysResult {
    let fd = a.fd(0);
    let file = t.file(fd)?;
    let request = a.u32(1);
    if let Some(r) = super::tty::job_control_ioctl(t, &file, request, a.u64(2)) {
        return r;
    }
    match u64::from(request) {
        libc::FIOCLEX => t.files().set_cloexec(fd, true).map(|_| 0),
        libc::FIONCLEX => t.files().set_cloexec(fd, false).map(|_| 0),
        libc::FIONBIO => {
            let on: i32 = t.mm.read_val(a.u64(2))?;
            let flags = file.flags();
            file.set_status_flags(if on != 0 { flags | libc::O_NONBLOCK } else { flags & !libc::O_NONBLOCK });
            Ok(0)
        }
        _ => file.ops.ioctl(&t.mm, request, a.u64(2)),
    }
}

/// `fcntl` commands the libc crate does not name.
const F_NOTIFY: i32 = 1026;
const DN_MULTISHOT: u32 = 0x8000_0000;

fn sys_fcntl(t: &mut Task, a: &Args) -> SysResult {
    let fd = a.fd(0);
    let file = t.file(fd)?;
    let limit = t.nofile();
    match a.i32(1) {
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
            let min = a.i32(2);
            if min < 0 || u64::from(min.unsigned_abs()) >= limit {
                return Err(Errno::EINVAL);
            }
            let cloexec = a.i32(1) == libc::F_DUPFD_CLOEXEC;
            Ok(t.files().install(file, cloexec, min, limit)? as u64)
        }
        libc::F_GETFD => Ok(u64::from(t.files().cloexec(fd)?)),
        libc::F_SETFD => t.files().set_cloexec(fd, a.i32(2) & libc::FD_CLOEXEC != 0).map(|_| 0),
        libc::F_GETFL => Ok(file.flags() as u32 as u64),
        libc::F_SETFL => {
            file.set_status_flags(a.i32(2));
            Ok(0)
        }
        cmd @ (libc::F_GETLK | libc::F_SETLK | libc::F_SETLKW | libc::F_OFD_GETLK | libc::F_OFD_SETLK | libc::F_OFD_SETLKW) => {
            super::lock::fcntl_lock(t, &file, cmd, a.u64(2))
        }
        F_NOTIFY => {
            // dnotify: accepted on directories (clearing is accepted anywhere); no event is
            // ever sent.
            if a.u32(2) & !DN_MULTISHOT != 0 && file.ops.stat()?.mode & S_IFMT != S_IFDIR {
                return Err(Errno::ENOTDIR);
            }
            Ok(0)
        }
        libc::F_GETOWN => Ok(0),
        libc::F_ADD_SEALS => super::memfd::add_seals(&file, a.u32(2)),
        libc::F_GET_SEALS => super::memfd::get_seals(&file),
        libc::F_GETPIPE_SZ => pipe_end(&file).map(|p| p.capacity() as u64),
        libc::F_SETPIPE_SZ => pipe_end(&file)?.set_capacity(usize::try_from(a.u64(2)).map_err(|_| Errno::EINVAL)?).map(|n| n as u64),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_dup(t: &mut Task, a: &Args) -> SysResult {
    let file = t.file(a.fd(0))?;
    let limit = t.nofile();
    Ok(t.files().install(file, false, 0, limit)? as u64)
}

fn sys_dup2(t: &mut Task, a: &Args) -> SysResult {
    let (old, new) = (a.fd(0), a.fd(1));
    let file = t.file(old)?;
    if old == new {
        return Ok(new as u64);
    }
    let limit = t.nofile();
    t.files().install_at(new, file, false, limit)?;
    Ok(new as u64)
}

fn sys_dup3(t: &mut Task, a: &Args) -> SysResult {
    let (old, new, flags) = (a.fd(0), a.fd(1), a.i32(2));
    if flags & !libc::O_CLOEXEC != 0 || old == new {
        return Err(Errno::EINVAL);
    }
    let file = t.file(old)?;
    let limit = t.nofile();
    t.files().install_at(new, file, flags & libc::O_CLOEXEC != 0, limit)?;
    Ok(new as u64)
}

fn sys_umask(t: &mut Task, a: &Args) -> SysResult {
    let mut fs = t.fs();
    let old = fs.umask;
    fs.umask = a.u32(0) & 0o777;
    Ok(u64::from(old))
}

fn sys_fsync(t: &mut Task, a: &Args) -> SysResult {
    t.file(a.fd(0))?;
    Ok(0)
}

fn sys_sync(_t: &mut Task, _a: &Args) -> SysResult {
    Ok(0)
}

/// The file an xattr call names: by path (following links or not) or by descriptor (whose
/// file must have a name: pipes and sockets keep no attributes, `EOPNOTSUPP`).
fn xattr_target(t: &Task, a: &Args, how: XattrTarget) -> SysResult<Arc<Dentry>> {
    match how {
        XattrTarget::Path { follow } => {
            let path = t.read_path(a.u64(0))?;
            t.lookup(libc::AT_FDCWD, &path, follow)
        }
        XattrTarget::Fd => t.file(a.fd(0))?.dentry.clone().ok_or(Errno::EOPNOTSUPP),
    }
}

/// Longest attribute value (`XATTR_SIZE_MAX`) and list (`XATTR_LIST_MAX`).
const XATTR_SIZE_MAX: usize = 65536;

/// The namespaces of attribute names the sentry keeps: `user.`, `trusted.` and `security.`;
/// other names (`system.` ACLs, no namespace) are `EOPNOTSUPP`.
fn xattr_namespace_ok(name: &[u8]) -> bool {
    [&b"user."[..], b"trusted.", b"security."].iter().any(|p| name.starts_with(p) && name.len() > p.len())
}

/// The target and the attribute name (argument 1) of a named-attribute call, after Linux's
/// `xattr_permission` checks: `ERANGE` for an empty or overlong name, `EOPNOTSUPP` outside the
/// known namespaces, `trusted.` only with `CAP_SYS_ADMIN` (`EPERM` to write, hidden to
/// read), `user.` only on regular files and directories, and read or write permission.
fn xattr_named(t: &Task, a: &Args, how: XattrTarget, write: bool) -> SysResult<(Arc<Dentry>, Vec<u8>)> {
    let d = xattr_target(t, a, how)?;
    let name = t.mm.read_cstring(a.u64(1), 255).map_err(|e| if e == Errno::ENAMETOOLONG { Errno::ERANGE } else { e })?;
    if name.is_empty() {
        return Err(Errno::ERANGE);
    }
    if !xattr_namespace_ok(&name) {
        return Err(Errno::EOPNOTSUPP);
    }
    let st = d.inode.stat()?;
    if name.starts_with(b"trusted.") && !t.creds.capable(cap::SYS_ADMIN) {
        return Err(if write { Errno::EPERM } else { Errno::ENODATA });
    }
    if name.starts_with(b"user.") {
        let kind = st.mode & S_IFMT;
        if kind != libc::S_IFREG && kind != S_IFDIR {
            return Err(if write { Errno::EPERM } else { Errno::ENODATA });
        }
        t.may(&st, if write { MAY_WRITE } else { MAY_READ })?;
    }
    if write && d.inode.statfs()?.read_only() {
        return Err(Errno::EROFS);
    }
    Ok((d, name))
}

/// setxattr family: `flags` `XATTR_CREATE` or `XATTR_REPLACE`; values up to 64 KiB.
fn setxattr_common(t: &Task, a: &Args, how: XattrTarget) -> SysResult {
    let flags = a.i32(4);
    if flags & !(libc::XATTR_CREATE | libc::XATTR_REPLACE) != 0 {
        return Err(Errno::EINVAL);
    }
    let size = a.usize(3);
    if size > XATTR_SIZE_MAX {
        return Err(Errno::E2BIG);
    }
    let (d, name) = xattr_named(t, a, how, true)?;
    let mut value = vec![0u8; size];
    t.mm.copy_in(a.u64(2), &mut value)?;
    d.inode.setxattr(&name, &value, flags)?;
    crate::fs::inotify::file_event(&d, crate::fs::inotify::IN_ATTRIB);
    Ok(0)
}

fn removexattr_common(t: &Task, a: &Args, how: XattrTarget) -> SysResult {
    let (d, name) = xattr_named(t, a, how, true)?;
    d.inode.removexattr(&name)?;
    crate::fs::inotify::file_event(&d, crate::fs::inotify::IN_ATTRIB);
    Ok(0)
}

fn sys_setxattr(t: &mut Task, a: &Args) -> SysResult {
    setxattr_common(t, a, XattrTarget::Path { follow: true })
}

fn sys_lsetxattr(t: &mut Task, a: &Args) -> SysResult {
    setxattr_common(t, a, XattrTarget::Path { follow: false })
}

fn sys_fsetxattr(t: &mut Task, a: &Args) -> SysResult {
    setxattr_common(t, a, XattrTarget::Fd)
}

fn sys_removexattr(t: &mut Task, a: &Args) -> SysResult {
    removexattr_common(t, a, XattrTarget::Path { follow: true })
}

fn sys_lremovexattr(t: &mut Task, a: &Args) -> SysResult {
    removexattr_common(t, a, XattrTarget::Path { follow: false })
}

fn sys_fremovexattr(t: &mut Task, a: &Args) -> SysResult {
    removexattr_common(t, a, XattrTarget::Fd)
}

#[derive(Clone, Copy)]
enum XattrTarget {
    Path { follow: bool },
    Fd,
}

/// Copies `data` to the buffer of arguments 2 (address) and 3 (size), as getxattr and
/// listxattr do: size 0 asks for the length, a short buffer is `ERANGE`.
fn xattr_out(t: &Task, addr: u64, size: usize, data: &[u8]) -> SysResult {
    if size == 0 {
        return Ok(data.len() as u64);
    }
    if data.len() > size {
        return Err(Errno::ERANGE);
    }
    t.mm.copy_out(addr, data)?;
    Ok(data.len() as u64)
}

/// getxattr family.
fn getxattr_common(t: &Task, a: &Args, how: XattrTarget) -> SysResult {
    let (d, name) = xattr_named(t, a, how, false)?;
    let value = d.inode.getxattr(&name)?;
    xattr_out(t, a.u64(2), a.usize(3), &value)
}

fn sys_getxattr(t: &mut Task, a: &Args) -> SysResult {
    getxattr_common(t, a, XattrTarget::Path { follow: true })
}

fn sys_lgetxattr(t: &mut Task, a: &Args) -> SysResult {
    getxattr_common(t, a, XattrTarget::Path { follow: false })
}

fn sys_fgetxattr(t: &mut Task, a: &Args) -> SysResult {
    getxattr_common(t, a, XattrTarget::Fd)
}

/// listxattr family: the names, each with its NUL; `trusted.` ones only for
/// `CAP_SYS_ADMIN`.
fn listxattr_common(t: &Task, a: &Args, how: XattrTarget) -> SysResult {
    let d = match xattr_target(t, a, how) {
        Err(Errno::EOPNOTSUPP) => return Ok(0),
        r => r?,
    };
    let admin = t.creds.capable(cap::SYS_ADMIN);
    let mut out = Vec::new();
    for name in d.inode.listxattr()? {
        if name.starts_with(b"trusted.") && !admin {
            continue;
        }
        out.extend_from_slice(&name);
        out.push(0);
    }
    xattr_out(t, a.u64(1), a.usize(2), &out)
}

fn sys_listxattr(t: &mut Task, a: &Args) -> SysResult {
    listxattr_common(t, a, XattrTarget::Path { follow: true })
}

fn sys_llistxattr(t: &mut Task, a: &Args) -> SysResult {
    listxattr_common(t, a, XattrTarget::Path { follow: false })
}

fn sys_flistxattr(t: &mut Task, a: &Args) -> SysResult {
    listxattr_common(t, a, XattrTarget::Fd)
}

/// `struct statfs` for a file: its filesystem's figures; a file without a name (a pipe, a
/// host stream) reports the sentry's synthetic filesystem.
fn statfs_of(d: Option<&Arc<Dentry>>) -> SysResult<[u64; 15]> {
    /// Set in every `f_flags` since Linux 2.6.36.
    const ST_VALID: u64 = 0x20;
    let mut fs = match d {
        Some(d) => d.inode.statfs()?,
        None => crate::vfs::StatFs::synthetic(),
    };
    fs.flags |= ST_VALID;
    Ok(fs.to_abi())
}

fn sys_statfs(t: &mut Task, a: &Args) -> SysResult {
    let path = t.read_path(a.u64(0))?;
    let d = t.lookup(libc::AT_FDCWD, &path, true)?;
    t.mm.write_val(a.u64(1), &statfs_of(Some(&d))?)?;
    Ok(0)
}

fn sys_fstatfs(t: &mut Task, a: &Args) -> SysResult {
    let file = t.file(a.fd(0))?;
    t.mm.write_val(a.u64(1), &statfs_of(file.dentry.as_ref())?)?;
    Ok(0)
}

fn sys_fadvise64(t: &mut Task, a: &Args) -> SysResult {
    let file = t.file(a.fd(0))?;
    if !file.ops.seekable() {
        return Err(Errno::ESPIPE);
    }
    if a.i64(2) < 0 || !(0..=5).contains(&a.i32(3)) {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

fn pipe_end(file: &File) -> SysResult<&PipeEnd> {
    file.ops.as_any().and_then(|a| a.downcast_ref::<PipeEnd>()).ok_or(Errno::EBADF)
}

fn pipe_common(t: &mut Task, addr: u64, flags: i32) -> SysResult {
    if flags & !(libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    let ino = t.kernel.next_ino();
    let (r, w) = Pipe::new(t.kernel.events.clone(), ino);
    let status = flags & libc::O_NONBLOCK;
    let reader = File::new(Arc::new(r), None, libc::O_RDONLY | status);
    let writer = File::new(Arc::new(w), None, libc::O_WRONLY | status);
    let cloexec = flags & libc::O_CLOEXEC != 0;
    let limit = t.nofile();
    let mut files = t.files();
    let rfd = files.install(reader, cloexec, 0, limit)?;
    let wfd = match files.install(writer, cloexec, 0, limit) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = files.remove(rfd);
            return Err(e);
        }
    };
    drop(files);
    if let Err(e) = t.mm.write_val(addr, &[rfd, wfd]) {
        let mut files = t.files();
        let _ = files.remove(rfd);
        let _ = files.remove(wfd);
        return Err(e);
    }
    Ok(0)
}

fn sys_pipe(t: &mut Task, a: &Args) -> SysResult {
    pipe_common(t, a.u64(0), 0)
}

fn sys_pipe2(t: &mut Task, a: &Args) -> SysResult {
    pipe_common(t, a.u64(0), a.i32(1))
}

