//! Thin, safe wrappers over the host calls the server makes. Each takes fds and single-component
//! C strings (the callers never pass a path with `/`), returns `Errno` on failure and retries
//! `EINTR`.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::{Attr, Errno, Statfs, Timespec};

pub(crate) fn last_errno() -> Errno {
    Errno(
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}

/// Runs a call that returns a negative value on failure until it does not fail with `EINTR`.
fn retry<T: Copy + Default + PartialOrd>(mut f: impl FnMut() -> T) -> Result<T, Errno> {
    loop {
        let r = f();
        if r >= T::default() {
            return Ok(r);
        }
        let e = last_errno();
        if e.0 != libc::EINTR {
            return Err(e);
        }
    }
}

/// Runs the calling thread on CPU `cpu` from now on, unless it is there already. Best effort:
/// a CPU outside the thread's allowed set is left alone.
pub(crate) fn move_to_cpu(cpu: u32) {
    // SAFETY: sched_getcpu has no preconditions.
    if u32::try_from(unsafe { libc::sched_getcpu() }) == Ok(cpu) {
        return;
    }
    let Ok(cpu) = usize::try_from(cpu) else { return };
    // SAFETY: cpu_set_t is a plain bit mask; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes one bit of `set`; the protocol keeps cpu below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the given size; 0 names the calling thread.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
}

/// `openat(2)` without `O_CREAT`.
pub(crate) fn open_at(dir: RawFd, name: &CStr, flags: i32) -> Result<OwnedFd, Errno> {
    open_at_mode(dir, name, flags, 0)
}

/// `openat(2)` with a mode (used with `O_CREAT`).
pub(crate) fn open_at_mode(
    dir: RawFd,
    name: &CStr,
    flags: i32,
    mode: u32,
) -> Result<OwnedFd, Errno> {
    // SAFETY: `name` is a valid C string; openat does not retain it.
    let fd = retry(|| unsafe { libc::openat(dir, name.as_ptr(), flags, mode) })?;
    // SAFETY: openat just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fstat(2)` (works on `O_PATH` fds) as an [`Attr`].
pub(crate) fn fstat(fd: BorrowedFd<'_>) -> Result<Attr, Errno> {
    // SAFETY: libc::stat is plain data; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable stat buffer.
    retry(|| unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(attr_of(&st))
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`: the name itself, never what a symlink points to.
pub(crate) fn lstat_at(dir: RawFd, name: &CStr) -> Result<Attr, Errno> {
    // SAFETY: libc::stat is plain data; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `name` is a valid C string and `st` a writable stat buffer.
    retry(|| unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(attr_of(&st))
}

pub(crate) fn mkdir_at(dir: RawFd, name: &CStr, mode: u32) -> Result<(), Errno> {
    // SAFETY: `name` is a valid C string.
    retry(|| unsafe { libc::mkdirat(dir, name.as_ptr(), mode) }).map(drop)
}

pub(crate) fn symlink_at(target: &CStr, dir: RawFd, name: &CStr) -> Result<(), Errno> {
    // SAFETY: both are valid C strings.
    retry(|| unsafe { libc::symlinkat(target.as_ptr(), dir, name.as_ptr()) }).map(drop)
}

/// `linkat(2)` with no flags: an old name that is a symlink links the symlink itself.
pub(crate) fn link_at(
    old_dir: RawFd,
    old_name: &CStr,
    new_dir: RawFd,
    new_name: &CStr,
) -> Result<(), Errno> {
    // SAFETY: both names are valid C strings.
    retry(|| unsafe { libc::linkat(old_dir, old_name.as_ptr(), new_dir, new_name.as_ptr(), 0) })
        .map(drop)
}

pub(crate) fn unlink_at(dir: RawFd, name: &CStr, flags: i32) -> Result<(), Errno> {
    // SAFETY: `name` is a valid C string.
    retry(|| unsafe { libc::unlinkat(dir, name.as_ptr(), flags) }).map(drop)
}

pub(crate) fn rename_at2(
    old_dir: RawFd,
    old_name: &CStr,
    new_dir: RawFd,
    new_name: &CStr,
    flags: u32,
) -> Result<(), Errno> {
    // SAFETY: both names are valid C strings. The raw call, so that an old C library is no
    // obstacle; renameat2 never follows a symlink in either name's last component.
    retry(|| unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            old_dir,
            old_name.as_ptr(),
            new_dir,
            new_name.as_ptr(),
            flags,
        )
    })
    .map(drop)
}

/// `fchmodat2(fd, "", mode, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)`: changes the file `fd` (an
/// `O_PATH` fd will do) itself. `ENOSYS` before Linux 6.6.
pub(crate) fn chmod_fd(fd: BorrowedFd<'_>, mode: u32) -> Result<(), Errno> {
    let flags = libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW;
    // SAFETY: the empty path is a valid C string; the call reads nothing else.
    retry(|| unsafe {
        libc::syscall(
            libc::SYS_fchmodat2,
            fd.as_raw_fd(),
            c"".as_ptr(),
            mode,
            flags,
        )
    })
    .map(drop)
}

/// `fchmod(2)` on an fd opened for I/O (the fallback for kernels without `fchmodat2`).
pub(crate) fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> Result<(), Errno> {
    // SAFETY: plain call on an fd we hold.
    retry(|| unsafe { libc::fchmod(fd.as_raw_fd(), mode) }).map(drop)
}

/// `fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)`; `u32::MAX` (-1) leaves an
/// id as it is. Changes a symlink itself, never its target.
pub(crate) fn chown_fd(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> Result<(), Errno> {
    let flags = libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW;
    // SAFETY: the empty path is a valid C string.
    retry(|| unsafe { libc::fchownat(fd.as_raw_fd(), c"".as_ptr(), uid, gid, flags) }).map(drop)
}

/// `utimensat(fd, "", times, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)`: a symlink's own times.
pub(crate) fn utimens_fd(
    fd: BorrowedFd<'_>,
    atime: Timespec,
    mtime: Timespec,
) -> Result<(), Errno> {
    let ts = |t: Timespec| libc::timespec {
        tv_sec: t.sec,
        tv_nsec: t.nsec,
    };
    let times = [ts(atime), ts(mtime)];
    let flags = libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW;
    // SAFETY: the empty path is a valid C string and `times` two valid timespecs.
    retry(|| unsafe { libc::utimensat(fd.as_raw_fd(), c"".as_ptr(), times.as_ptr(), flags) })
        .map(drop)
}

pub(crate) fn ftruncate(fd: BorrowedFd<'_>, len: i64) -> Result<(), Errno> {
    // SAFETY: plain call on an fd we hold.
    retry(|| unsafe { libc::ftruncate(fd.as_raw_fd(), len) }).map(drop)
}

/// Clears `O_NONBLOCK` on an open file.
pub(crate) fn clear_nonblock(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: fcntl on an fd we own; F_GETFL/F_SETFL take and return plain ints.
    let fl = retry(|| unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: as above.
    retry(|| unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK) })
        .map(drop)
}

/// The kernel's `struct statfs` on 64-bit Linux. libc's hides `f_flags` among its spare words.
#[repr(C)]
#[derive(Default)]
struct KernelStatfs {
    f_type: i64,
    f_bsize: i64,
    f_blocks: u64,
    f_bfree: u64,
    f_bavail: u64,
    f_files: u64,
    f_ffree: u64,
    f_fsid: [i32; 2],
    f_namelen: i64,
    f_frsize: i64,
    f_flags: i64,
    f_spare: [i64; 4],
}

/// `fstatfs(2)` (works on `O_PATH` fds).
pub(crate) fn fstatfs(fd: BorrowedFd<'_>) -> Result<Statfs, Errno> {
    let mut st = KernelStatfs::default();
    // SAFETY: `st` is a writable buffer of the kernel's struct statfs layout and size.
    retry(|| unsafe {
        libc::syscall(
            libc::SYS_fstatfs,
            fd.as_raw_fd(),
            std::ptr::from_mut(&mut st),
        )
    })?;
    // f_type and friends are signed words holding unsigned values: keep the bits.
    let u = |v: i64| u64::from_ne_bytes(v.to_ne_bytes());
    Ok(Statfs {
        fs_type: u(st.f_type),
        bsize: u(st.f_bsize),
        blocks: st.f_blocks,
        bfree: st.f_bfree,
        bavail: st.f_bavail,
        files: st.f_files,
        ffree: st.f_ffree,
        namelen: u(st.f_namelen),
        frsize: u(st.f_frsize),
        flags: u(st.f_flags),
    })
}

// Field types of `stat` differ between architectures: conversions that are identities on one are
// widenings on another.
#[allow(clippy::useless_conversion)]
pub(crate) fn attr_of(st: &libc::stat) -> Attr {
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
