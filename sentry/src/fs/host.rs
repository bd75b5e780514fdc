//! Files backed by a host descriptor the sentry holds: regular files donated by the gofer, and
//! the workload's stdin, stdout and stderr inherited from whoever started the sandbox.
//!
//! Only reads, writes and terminal queries reach the host descriptor; the host path is never
//! known here.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::abi::{Pod, Stat, Termios, Winsize};
use crate::errno::{Errno, SysResult};
use crate::kernel::jobctl::{check_host_terminal, Access};
use crate::mm::MemoryManager;
use crate::vfs::FileOps;

fn retry<F: FnMut() -> isize>(mut f: F) -> SysResult<usize> {
    loop {
        let r = f();
        if r >= 0 {
            return Ok(r.unsigned_abs());
        }
        let e = Errno::last();
        if e != Errno::EINTR {
            return Err(e);
        }
    }
}

/// Reads at `offset` from a host descriptor.
pub fn pread(fd: &OwnedFd, offset: u64, buf: &mut [u8]) -> SysResult<usize> {
    let off = libc::off_t::try_from(offset).map_err(|_| Errno::EINVAL)?;
    // SAFETY: buf is a valid writable buffer of buf.len() bytes.
    retry(|| unsafe { libc::pread(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), off) })
}

/// The kernel `stat` of a host descriptor.
pub fn fstat(fd: &OwnedFd) -> SysResult<Stat> {
    // SAFETY: libc::stat is plain data; all-zero is valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is a valid out pointer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(Errno::last());
    }
    Ok(Stat {
        dev: st.st_dev,
        ino: st.st_ino,
        nlink: st.st_nlink,
        mode: st.st_mode,
        uid: st.st_uid,
        gid: st.st_gid,
        rdev: st.st_rdev,
        size: st.st_size,
        blksize: st.st_blksize,
        blocks: st.st_blocks,
        atime: st.st_atime,
        atime_nsec: st.st_atime_nsec,
        mtime: st.st_mtime,
        mtime_nsec: st.st_mtime_nsec,
        ctime: st.st_ctime,
        ctime_nsec: st.st_ctime_nsec,
        ..Stat::default()
    })
}

/// Writes at `offset` to a host descriptor.
pub fn pwrite(fd: &OwnedFd, offset: u64, buf: &[u8]) -> SysResult<usize> {
    let off = libc::off_t::try_from(offset).map_err(|_| Errno::EFBIG)?;
    // SAFETY: buf is a valid buffer of buf.len() bytes.
    retry(|| unsafe { libc::pwrite(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), off) })
}

/// A regular file opened by the gofer. On a read-only mount its attributes are those the
/// gofer's walk gave; on a writable one they are the host descriptor's, and every write moves
/// the mount's generation (`changed`) so that cached attributes are read again.
pub struct HostRegular {
    /// Shared by the opens of a read-only gofer file.
    fd: Arc<OwnedFd>,
    stat: Stat,
    changed: Option<Arc<AtomicU64>>,
}

impl HostRegular {
    pub fn new(fd: Arc<OwnedFd>, stat: Stat, changed: Option<Arc<AtomicU64>>) -> HostRegular {
        HostRegular { fd, stat, changed }
    }

    /// The host descriptor, for the host to move the file's data itself.
    pub fn host_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&*self.fd)
    }

    fn changed(&self) {
        if let Some(c) = &self.changed {
            c.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl FileOps for HostRegular {
    fn read(&self, offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        pread(&self.fd, offset, buf)
    }

    fn io_in_place(&self) -> bool {
        true
    }

    fn write(&self, offset: u64, buf: &[u8]) -> SysResult<usize> {
        if self.changed.is_none() {
            return Err(Errno::EBADF);
        }
        let n = pwrite(&self.fd, offset, buf)?;
        self.changed();
        Ok(n)
    }

    fn append(&self, buf: &[u8]) -> SysResult<(usize, u64)> {
        let end = u64::try_from(fstat(&self.fd)?.size).unwrap_or(0);
        let n = self.write(end, buf)?;
        Ok((n, end + n as u64))
    }

    fn fallocate(&self, mode: i32, offset: u64, len: u64) -> SysResult<()> {
        if self.changed.is_none() {
            return Err(Errno::EBADF);
        }
        let off = libc::off_t::try_from(offset).map_err(|_| Errno::EFBIG)?;
        let len = libc::off_t::try_from(len).map_err(|_| Errno::EFBIG)?;
        // SAFETY: fallocate on a descriptor we own; no memory is involved.
        if unsafe { libc::fallocate(self.fd.as_raw_fd(), mode, off, len) } != 0 {
            return Err(Errno::last());
        }
        self.changed();
        Ok(())
    }

    fn stat(&self) -> SysResult<Stat> {
        if self.changed.is_some() {
            return fstat(&self.fd);
        }
        Ok(self.stat)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// One of the workload's standard streams: a host pipe, file or terminal.
pub struct HostStream {
    fd: OwnedFd,
    seekable: bool,
    /// A terminal: reads, writes and settings are subject to job control.
    tty: bool,
}

impl HostStream {
    pub fn new(fd: OwnedFd) -> HostStream {
        let seekable = fstat(&fd).is_ok_and(|s| s.mode & libc::S_IFMT == libc::S_IFREG);
        let mut stream = HostStream { fd, seekable, tty: false };
        stream.tty = stream.is_terminal();
        stream
    }

    /// Job control before the calling task touches the terminal (see `kernel::jobctl`).
    fn job_control(&self, access: Access) -> SysResult<()> {
        if !self.tty {
            return Ok(());
        }
        let tostop = || {
            let mut t = Termios::default();
            self.host_ioctl(libc::TCGETS, &mut t).is_ok_and(|()| t.lflag & libc::TOSTOP != 0)
        };
        check_host_terminal(access, tostop)
    }

    fn host_ioctl<T: Pod>(&self, request: libc::c_ulong, val: &mut T) -> SysResult<()> {
        // SAFETY: `val` is a valid, writable value of the type the request expects.
        if unsafe { libc::ioctl(self.fd.as_raw_fd(), request, val as *mut T) } != 0 {
            return Err(Errno::last());
        }
        Ok(())
    }
}

impl HostStream {
    fn require_tty(&self) -> SysResult<()> {
        self.host_ioctl(libc::TCGETS, &mut Termios::default())
    }

    /// Whether the host descriptor is a terminal.
    pub fn is_terminal(&self) -> bool {
        self.require_tty().is_ok()
    }
}

impl FileOps for HostStream {
    fn read(&self, offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        if self.seekable {
            return pread(&self.fd, offset, buf);
        }
        self.job_control(Access::Read)?;
        // Never sleep in the host: a read that would block answers EAGAIN, and the task waits
        // where signals can reach it.
        if self.poll() & u32::try_from(libc::POLLIN | libc::POLLHUP | libc::POLLERR).unwrap_or(0) == 0 {
            return Err(Errno::EAGAIN);
        }
        // SAFETY: buf is a valid writable buffer of buf.len() bytes.
        retry(|| unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
    }

    fn write(&self, _offset: u64, buf: &[u8]) -> SysResult<usize> {
        // Host files opened for append or streams: the host keeps the position.
        self.job_control(Access::Write)?;
        // SAFETY: buf is a valid buffer of buf.len() bytes.
        retry(|| unsafe { libc::write(self.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })
    }

    fn stat(&self) -> SysResult<Stat> {
        fstat(&self.fd)
    }

    fn seekable(&self) -> bool {
        self.seekable
    }

    fn poll(&self) -> u32 {
        let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN | libc::POLLOUT, revents: 0 };
        // SAFETY: one valid pollfd; a zero timeout never blocks.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        if n < 0 {
            return 0;
        }
        u32::try_from(pfd.revents).unwrap_or(0)
    }

    fn polls_host(&self) -> bool {
        !self.seekable
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn ioctl(&self, mm: &MemoryManager, request: u32, arg: u64) -> SysResult<u64> {
        match u64::from(request) {
            libc::TCGETS => {
                let mut t = Termios::default();
                self.host_ioctl(libc::TCGETS, &mut t)?;
                mm.write_val(arg, &t)?;
            }
            r @ (libc::TCSETS | libc::TCSETSW | libc::TCSETSF) => {
                self.job_control(Access::Settings)?;
                let mut t: Termios = mm.read_val(arg)?;
                self.host_ioctl(r, &mut t)?;
            }
            libc::TIOCGWINSZ => {
                let mut w = Winsize::default();
                self.host_ioctl(libc::TIOCGWINSZ, &mut w)?;
                mm.write_val(arg, &w)?;
            }
            libc::TIOCSWINSZ => {
                let mut w: Winsize = mm.read_val(arg)?;
                self.host_ioctl(libc::TIOCSWINSZ, &mut w)?;
            }
            // The sandbox's only process group is that of pid 1 until job control exists.
            libc::TIOCGPGRP => {
                self.require_tty()?;
                mm.write_val(arg, &1i32)?;
            }
            libc::TIOCSPGRP => {
                self.require_tty()?;
                let _pgrp: i32 = mm.read_val(arg)?;
            }
            libc::FIONREAD => {
                let mut n = 0i32;
                self.host_ioctl(libc::FIONREAD, &mut n)?;
                mm.write_val(arg, &n)?;
            }
            _ => return Err(Errno::ENOTTY),
        }
        Ok(0)
    }
}

/// Fills `buf` from the host's random source (for `getrandom`, `/dev/urandom`, `AT_RANDOM`).
pub fn fill_random(buf: &mut [u8]) {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: rest is a valid writable buffer of rest.len() bytes.
        let r = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if r > 0 {
            done += r.unsigned_abs();
        }
    }
}

/// The host's auxiliary vector entry `key` (CPU capabilities passed on to the workload).
pub fn host_auxval(key: u64) -> u64 {
    // SAFETY: getauxval only reads the process's auxiliary vector.
    unsafe { libc::getauxval(key) }
}

/// Reads a host clock.
pub fn host_clock(id: libc::clockid_t) -> crate::abi::Timespec {
    // SAFETY: timespec is plain data; all-zero is valid.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: ts is a valid out pointer; id is one of the clocks every kernel has.
    unsafe { libc::clock_gettime(id, &mut ts) };
    crate::abi::Timespec { sec: ts.tv_sec, nsec: ts.tv_nsec }
}

/// The CPU clock of the calling sentry thread, readable by every thread of the sentry (a
/// task's system time).
pub fn own_cpu_clock() -> libc::clockid_t {
    let mut clock: libc::clockid_t = libc::CLOCK_THREAD_CPUTIME_ID;
    // SAFETY: asks for the calling thread's CPU clock; `clock` is a valid out pointer.
    unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    clock
}

/// Number of CPUs online on the host. (Not the sentry's own affinity: the platform pins each
/// sentry thread to the CPU of its stub.) Read once: libc finds it in the host's /sys, which a
/// confined sentry no longer sees.
pub fn host_cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        usize::try_from(n).unwrap_or(1).max(1)
    })
}

/// The access mode and status flags of a host descriptor (`F_GETFL`).
pub fn status_flags(fd: i32) -> i32 {
    // SAFETY: F_GETFL takes no pointer argument.
    let f = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if f < 0 {
        libc::O_RDWR
    } else {
        f
    }
}

/// Bytes of RAM on the host (tmpfs sizes its default limits from it, as Linux does).
pub fn host_total_ram() -> u64 {
    static RAM: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *RAM.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let (pages, size) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
        u64::try_from(pages).unwrap_or(0).saturating_mul(u64::try_from(size).unwrap_or(4096)).max(1 << 30)
    })
}
