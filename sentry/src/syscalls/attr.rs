//! Attribute system calls: the chmod, chown and utime families, truncate/ftruncate and
//! fallocate.
//!
//! Permission rules are Linux's: only the owner (or a holder of `CAP_FOWNER`) changes mode
//! and explicit times; only `CAP_CHOWN` gives a file away; setting the times to "now" also
//! needs just write access; a chmod of a file whose group the caller is not in drops
//! set-group-ID without `CAP_FSETID`, and so do writes and truncations.
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]

use std::sync::Arc;

use syscall_tables::nr;

use super::file::MAY_WRITE;
use super::{Args, Support, Table};
use crate::abi::{Timespec, Timeval};
use crate::errno::{Errno, SysResult};
use crate::kernel::task::{cap, Task};
use crate::vfs::{Dentry, File, SetAttr, SetTime, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG};

pub static HANDLERS: Table = &[
    (nr::CHMOD, sys_chmod, Support::Full),
    (nr::FCHMOD, sys_fchmod, Support::Full),
    (nr::FCHMODAT, sys_fchmodat, Support::Full),
    (nr::FCHMODAT2, sys_fchmodat2, Support::Full),
    (nr::CHOWN, sys_chown, Support::Full),
    (nr::LCHOWN, sys_lchown, Support::Full),
    (nr::FCHOWN, sys_fchown, Support::Full),
    (nr::FCHOWNAT, sys_fchownat, Support::Full),
    (nr::UTIME, sys_utime, Support::Full),
    (nr::UTIMES, sys_utimes, Support::Full),
    (nr::FUTIMESAT, sys_futimesat, Support::Full),
    (nr::UTIMENSAT, sys_utimensat, Support::Full),
    (nr::TRUNCATE, sys_truncate, Support::Full),
    (nr::FTRUNCATE, sys_ftruncate, Support::Full),
    (
        nr::FALLOCATE,
        sys_fallocate,
        Support::Partial("modes 0, KEEP_SIZE and PUNCH_HOLE on tmpfs, the overlay and writable bind mounts; COLLAPSE/INSERT/ZERO/UNSHARE_RANGE give EOPNOTSUPP"),
    ),
];

/// The dentry of an open file for the `f*` calls: `EBADF` for `O_PATH` descriptors; `None`
/// for files without a name (pipes, sockets, the host's streams), which have nothing to
/// change that anyone could see.
fn fd_target(t: &Task, fd: i32) -> SysResult<(Arc<File>, Option<Arc<Dentry>>)> {
    let file = t.file(fd)?;
    if file.flags() & libc::O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    let d = file.dentry.clone();
    Ok((file, d))
}

fn chmod(t: &Task, d: &Dentry, mode: u32) -> SysResult {
    let st = d.inode.stat()?;
    if st.mode & S_IFMT == S_IFLNK {
        return Err(Errno::EOPNOTSUPP);
    }
    if !t.owns(&st) {
        return Err(Errno::EPERM);
    }
    let mut mode = mode & 0o7777;
    if !t.creds.capable(cap::FSETID) && st.mode & S_IFMT != S_IFDIR && !t.creds.in_group(st.gid) {
        mode &= !libc::S_ISGID;
    }
    d.setattr(&SetAttr { mode: Some(mode), ..SetAttr::default() })?;
    Ok(0)
}

fn fchmodat(t: &Task, dirfd: i32, path_addr: u64, mode: u32, flags: i32) -> SysResult {
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let d = t.lookup_at(dirfd, path_addr, flags)?;
    chmod(t, &d, mode)
}

fn sys_chmod(t: &mut Task, a: &Args) -> SysResult {
    fchmodat(t, libc::AT_FDCWD, a.u64(0), a.u32(1), 0)
}

fn sys_fchmodat(t: &mut Task, a: &Args) -> SysResult {
    fchmodat(t, a.fd(0), a.u64(1), a.u32(2), 0)
}

fn sys_fchmodat2(t: &mut Task, a: &Args) -> SysResult {
    fchmodat(t, a.fd(0), a.u64(1), a.u32(2), a.i32(3))
}

fn sys_fchmod(t: &mut Task, a: &Args) -> SysResult {
    match fd_target(t, a.fd(0))? {
        (_, Some(d)) => chmod(t, &d, a.u32(1)),
        (_, None) => Ok(0),
    }
}

fn chown(t: &Task, d: &Dentry, uid: u32, gid: u32) -> SysResult {
    let st = d.inode.stat()?;
    let uid = (uid != u32::MAX).then_some(uid);
    let gid = (gid != u32::MAX).then_some(gid);
    let me = t.creds.fsuid;
    if !t.creds.capable(cap::CHOWN) {
        if uid.is_some_and(|u| u != st.uid || st.uid != me) {
            return Err(Errno::EPERM);
        }
        if let Some(g) = gid {
            if st.uid != me || (g != st.gid && !t.creds.in_group(g)) {
                return Err(Errno::EPERM);
            }
        }
    }
    d.setattr(&SetAttr { uid, gid, ..SetAttr::default() })?;
    Ok(0)
}

fn fchownat(t: &Task, dirfd: i32, path_addr: u64, uid: u32, gid: u32, flags: i32) -> SysResult {
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let d = t.lookup_at(dirfd, path_addr, flags)?;
    chown(t, &d, uid, gid)
}

fn sys_chown(t: &mut Task, a: &Args) -> SysResult {
    fchownat(t, libc::AT_FDCWD, a.u64(0), a.u32(1), a.u32(2), 0)
}

fn sys_lchown(t: &mut Task, a: &Args) -> SysResult {
    fchownat(t, libc::AT_FDCWD, a.u64(0), a.u32(1), a.u32(2), libc::AT_SYMLINK_NOFOLLOW)
}

fn sys_fchownat(t: &mut Task, a: &Args) -> SysResult {
    fchownat(t, a.fd(0), a.u64(1), a.u32(2), a.u32(3), a.i32(4))
}

fn sys_fchown(t: &mut Task, a: &Args) -> SysResult {
    match fd_target(t, a.fd(0))? {
        (_, Some(d)) => chown(t, &d, a.u32(1), a.u32(2)),
        (_, None) => Ok(0),
    }
}

/// Sets access and modification times: `None` is "both now" (a NULL `times`).
fn set_times(t: &Task, d: &Dentry, times: Option<[SetTime; 2]>) -> SysResult {
    let st = d.inode.stat()?;
    let [atime, mtime] = times.unwrap_or([SetTime::Now, SetTime::Now]);
    let to_now = matches!((atime, mtime), (SetTime::Now, SetTime::Now));
    if !t.owns(&st) {
        // "Now" needs only write access; anything else needs ownership.
        if !to_now {
            return Err(Errno::EPERM);
        }
        t.may(&st, MAY_WRITE)?;
    }
    d.setattr(&SetAttr { atime, mtime, ..SetAttr::default() })?;
    Ok(0)
}

/// One `utimensat` timespec: `UTIME_NOW`, `UTIME_OMIT`, or a time with `0 <= nsec < 1e9`.
fn timespec_arg(ts: Timespec) -> SysResult<SetTime> {
    match ts.nsec {
        libc::UTIME_NOW => Ok(SetTime::Now),
        libc::UTIME_OMIT => Ok(SetTime::Omit),
        0..=999_999_999 => Ok(SetTime::At(ts)),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_utimensat(t: &mut Task, a: &Args) -> SysResult {
    let (dirfd, path_addr, times_addr, flags) = (a.fd(0), a.u64(1), a.u64(2), a.i32(3));
    let times = if times_addr == 0 {
        None
    } else {
        let raw: [Timespec; 2] = [t.mm.read_val(times_addr)?, t.mm.read_val(times_addr + 16)?];
        // Nothing to change: not even the path is looked at.
        if raw[0].nsec == libc::UTIME_OMIT && raw[1].nsec == libc::UTIME_OMIT {
            return Ok(0);
        }
        Some([timespec_arg(raw[0])?, timespec_arg(raw[1])?])
    };
    if path_addr == 0 {
        // futimens: the descriptor itself.
        if dirfd == libc::AT_FDCWD {
            return Err(Errno::EFAULT);
        }
        if flags != 0 {
            return Err(Errno::EINVAL);
        }
        return match fd_target(t, dirfd)? {
            (_, Some(d)) => set_times(t, &d, times),
            (_, None) => Ok(0),
        };
    }
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let d = t.lookup_at(dirfd, path_addr, flags)?;
    set_times(t, &d, times)
}

/// `struct timeval[2]` of `utimes`/`futimesat` (NULL: now).
fn timevals(t: &Task, addr: u64) -> SysResult<Option<[SetTime; 2]>> {
    if addr == 0 {
        return Ok(None);
    }
    let tv: [Timeval; 2] = [t.mm.read_val(addr)?, t.mm.read_val(addr + 16)?];
    let mut out = [SetTime::Omit; 2];
    for (o, v) in out.iter_mut().zip(tv) {
        if !(0..1_000_000).contains(&v.usec) {
            return Err(Errno::EINVAL);
        }
        *o = SetTime::At(Timespec { sec: v.sec, nsec: v.usec * 1000 });
    }
    Ok(Some(out))
}

fn futimesat(t: &Task, dirfd: i32, path_addr: u64, times_addr: u64) -> SysResult {
    let times = timevals(t, times_addr)?;
    let path = t.read_path(path_addr)?;
    let d = t.lookup(dirfd, &path, true)?;
    set_times(t, &d, times)
}

fn sys_utimes(t: &mut Task, a: &Args) -> SysResult {
    futimesat(t, libc::AT_FDCWD, a.u64(0), a.u64(1))
}

fn sys_futimesat(t: &mut Task, a: &Args) -> SysResult {
    futimesat(t, a.fd(0), a.u64(1), a.u64(2))
}

/// utime(2): `struct utimbuf { time_t actime, modtime; }` (NULL: now).
fn sys_utime(t: &mut Task, a: &Args) -> SysResult {
    let times = if a.u64(1) == 0 {
        None
    } else {
        let buf: [i64; 2] = t.mm.read_val(a.u64(1))?;
        Some(buf.map(|sec| SetTime::At(Timespec { sec, nsec: 0 })))
    };
    let path = t.read_path(a.u64(0))?;
    let d = t.lookup(libc::AT_FDCWD, &path, true)?;
    set_times(t, &d, times)
}

fn sys_truncate(t: &mut Task, a: &Args) -> SysResult {
    let path = t.read_path(a.u64(0))?;
    let len = u64::try_from(a.i64(1)).map_err(|_| Errno::EINVAL)?;
    let d = t.lookup(libc::AT_FDCWD, &path, true)?;
    let st = d.inode.stat()?;
    match st.mode & S_IFMT {
        S_IFDIR => return Err(Errno::EISDIR),
        S_IFREG => {}
        _ => return Err(Errno::EINVAL),
    }
    t.may(&st, MAY_WRITE)?;
    t.drop_setid_bits(&d, Some(st.mode))?;
    d.setattr(&SetAttr { size: Some(len), ..SetAttr::default() })?;
    Ok(0)
}

fn sys_ftruncate(t: &mut Task, a: &Args) -> SysResult {
    let len = u64::try_from(a.i64(1)).map_err(|_| Errno::EINVAL)?;
    let (file, d) = fd_target(t, a.fd(0))?;
    let Some(d) = d else { return Err(Errno::EINVAL) };
    if d.inode.file_type() != S_IFREG || !file.writable() {
        return Err(Errno::EINVAL);
    }
    t.drop_setid_bits(&d, None)?;
    d.setattr(&SetAttr { size: Some(len), mtime: SetTime::Now, ..SetAttr::default() })?;
    Ok(0)
}

fn sys_fallocate(t: &mut Task, a: &Args) -> SysResult {
    const SUPPORTED: i32 = libc::FALLOC_FL_KEEP_SIZE
        | libc::FALLOC_FL_PUNCH_HOLE
        | libc::FALLOC_FL_COLLAPSE_RANGE
        | libc::FALLOC_FL_ZERO_RANGE
        | libc::FALLOC_FL_INSERT_RANGE
        | libc::FALLOC_FL_UNSHARE_RANGE;
    let file = t.file(a.fd(0))?;
    let (mode, offset, len) = (a.i32(1), a.i64(2), a.i64(3));
    if offset < 0 || len <= 0 {
        return Err(Errno::EINVAL);
    }
    if mode & !SUPPORTED != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if mode & libc::FALLOC_FL_PUNCH_HOLE != 0 && mode & libc::FALLOC_FL_ZERO_RANGE != 0 {
        return Err(Errno::EINVAL);
    }
    if mode & libc::FALLOC_FL_PUNCH_HOLE != 0 && mode & libc::FALLOC_FL_KEEP_SIZE == 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if !file.writable() {
        return Err(Errno::EBADF);
    }
    match file.ops.stat()?.mode & S_IFMT {
        S_IFIFO => return Err(Errno::ESPIPE),
        S_IFDIR => return Err(Errno::EISDIR),
        S_IFREG => {}
        _ => return Err(Errno::ENODEV),
    }
    if offset.checked_add(len).is_none() {
        return Err(Errno::EFBIG);
    }
    if mode & !(libc::FALLOC_FL_KEEP_SIZE | libc::FALLOC_FL_PUNCH_HOLE) != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if let Some(d) = &file.dentry {
        t.drop_setid_bits(d, None)?;
    }
    file.ops.fallocate(mode, offset as u64, len as u64)?;
    file.modified();
    Ok(0)
}
