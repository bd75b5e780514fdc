//! The memory file: one memfd holding every page of application memory.
//!
//! The sentry maps the whole file once (shared, no reserve) and copies to and from application
//! memory through that mapping; stubs map ranges of the same file at application addresses. A
//! range is handed out by [`MemoryFile::allocate`] and returned by [`MemoryFile::free`], which
//! punches a hole so its pages go back to the host and read as zeros when reused.
//!
//! Fresh pages are best written through the file rather than through the mapping: the host
//! then allocates each page without zeroing it first and without a page fault in the sentry's
//! mapping (and so without page-table entries to tear down when it is freed). Filling the page
//! cache goes that way: by `splice` from a host file ([`MemoryFile::fill_from_host`]), else by
//! `pwrite` from a bounce buffer ([`MemoryFile::fill`]). Copies to and from application memory
//! and within the file go through the mapping.
//!
//! This module holds all of the sentry's raw memory access (`unsafe`).
#![allow(unsafe_code)]
// Only x86_64 is supported: `usize` is 64 bits, so offsets and lengths convert losslessly.
#![allow(clippy::cast_possible_truncation)]

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::Mutex;

use crate::errno::{Errno, SysResult};

pub const PAGE_SIZE: u64 = 4096;

/// Size of a bounce buffer of [`MemoryFile::fill`]: large enough that the calls it takes cost
/// little per byte, small enough to stay in the CPU's caches between the read and the write.
const BOUNCE: usize = 256 << 10;

/// A page of a bounce buffer. Page-aligned: the host copies into and out of an unaligned
/// buffer several times slower.
#[derive(Clone, Copy)]
#[repr(C, align(4096))]
struct BouncePage([u8; PAGE_SIZE as usize]);

/// A bounce buffer of `BOUNCE` bytes.
struct Bounce(Box<[BouncePage]>);

impl Bounce {
    fn new() -> Bounce {
        Bounce(vec![BouncePage([0; PAGE_SIZE as usize]); BOUNCE / PAGE_SIZE as usize].into_boxed_slice())
    }

    fn bytes(&mut self) -> &mut [u8] {
        let len = self.0.len() * PAGE_SIZE as usize;
        // SAFETY: `BouncePage` is `repr(C)` around a byte array of its whole size (no padding),
        // so the pages are `len` contiguous initialised bytes, borrowed mutably with `self`.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr().cast::<u8>(), len) }
    }
}

/// How many idle bounce buffers (and splice pipes) are kept for reuse (more are made while
/// more fills run at once, and dropped afterwards).
const IDLE_KEPT: usize = 4;

/// Address-space size of the memory file. The file is sparse: only touched pages use memory.
const FILE_SIZE: u64 = 1 << 38;

pub struct MemoryFile {
    fd: i32,
    base: *mut u8,
    /// Free ranges: start offset → length. Adjacent ranges are merged.
    free: Mutex<BTreeMap<u64, u64>>,
    /// Idle bounce buffers of `fill` (their pages already touched, so reusing them is cheap).
    bounce: Mutex<Vec<Bounce>>,
    /// Idle pipes of `fill_from_host`.
    pipes: Mutex<Vec<SplicePipe>>,
}

/// A pipe through which the host moves file pages into the memory file (`splice`).
struct SplicePipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
}

impl SplicePipe {
    fn new() -> SysResult<SplicePipe> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors into `fds`.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(Errno::last());
        }
        // SAFETY: both descriptors were just created and are owned by nothing else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // Larger moves cost fewer calls; the host may cap the size (pipe-max-size).
        // SAFETY: fcntl on our own pipe with integer arguments.
        let capacity = unsafe {
            libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, SPLICE_PIPE);
            libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ)
        };
        let capacity = usize::try_from(capacity).map_err(|_| Errno::last())?;
        Ok(SplicePipe { read, write, capacity })
    }
}

/// The pipe size `fill_from_host` asks for.
const SPLICE_PIPE: i32 = 1 << 20;

// SAFETY: `base` points to a shared mapping that lives as long as the MemoryFile; all access
// through it goes through the copy functions below, which tolerate concurrent use.
unsafe impl Send for MemoryFile {}
// SAFETY: as above.
unsafe impl Sync for MemoryFile {}

impl MemoryFile {
    pub fn new() -> std::io::Result<MemoryFile> {
        // SAFETY: the name is a valid C string; memfd_create has no other preconditions.
        let fd = unsafe { libc::memfd_create(c"sandbox-memory".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd is the memfd just created.
        if unsafe { libc::ftruncate(fd, FILE_SIZE as libc::off_t) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh shared mapping of our own file; nothing else is at the returned range.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                FILE_SIZE as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_NORESERVE,
                fd,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let mut free = BTreeMap::new();
        free.insert(0, FILE_SIZE);
        Ok(MemoryFile { fd, base: base.cast(), free: Mutex::new(free), bounce: Mutex::new(Vec::new()), pipes: Mutex::new(Vec::new()) })
    }

    /// The memfd, for platforms that map it.
    pub fn fd(&self) -> i32 {
        self.fd
    }

    /// Reserves `len` bytes (a multiple of the page size) of zeroed pages; returns the offset.
    pub fn allocate(&self, len: u64) -> Result<u64, Errno> {
        debug_assert!(len.is_multiple_of(PAGE_SIZE) && len > 0);
        let mut free = self.free.lock().unwrap();
        let (&start, &flen) = free.iter().find(|(_, &l)| l >= len).ok_or(Errno::ENOMEM)?;
        free.remove(&start);
        if flen > len {
            free.insert(start + len, flen - len);
        }
        Ok(start)
    }

    /// Returns a range to the free pool and releases its pages.
    pub fn free(&self, offset: u64, len: u64) {
        self.zero(offset, len);
        let mut free = self.free.lock().unwrap();
        let (mut start, mut end) = (offset, offset + len);
        if let Some((&ps, &pl)) = free.range(..start).next_back() {
            if ps + pl == start {
                free.remove(&ps);
                start = ps;
            }
        }
        if let Some(&nl) = free.get(&end) {
            free.remove(&end);
            end += nl;
        }
        free.insert(start, end - start);
    }

    /// Zeroes `[offset, offset + len)` by releasing whole pages.
    pub fn zero(&self, offset: u64, len: u64) {
        // SAFETY: punching a hole in our own memfd within an allocated range.
        unsafe {
            libc::fallocate(
                self.fd,
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                offset as libc::off_t,
                len as libc::off_t,
            );
        }
    }

    fn check(&self, offset: u64, len: usize) {
        assert!(offset.checked_add(len as u64).is_some_and(|end| end <= FILE_SIZE), "memory file range out of bounds");
    }

    /// Copies from the file at `offset` into `dst`.
    pub fn read(&self, offset: u64, dst: &mut [u8]) {
        self.check(offset, dst.len());
        // SAFETY: the range is inside the mapping (checked). The application may write the same
        // bytes concurrently; like a kernel copy, the result is then some interleaving.
        unsafe { std::ptr::copy_nonoverlapping(self.base.add(offset as usize), dst.as_mut_ptr(), dst.len()) }
    }

    /// Copies `src` into the file at `offset`.
    pub fn write(&self, offset: u64, src: &[u8]) {
        self.check(offset, src.len());
        // SAFETY: as in `read`.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.base.add(offset as usize), src.len()) }
    }

    /// Lends the bytes `[offset, offset + len)` to `f`, which reads file data straight into
    /// them or writes them out: one copy instead of two through a sentry buffer.
    pub fn with_bytes<R>(&self, offset: u64, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        self.check(offset, len);
        // SAFETY: the range is inside the mapping (checked), which outlives the call. As with
        // `read` and `write`, an application (or another sentry thread serving one) may touch
        // the same bytes meanwhile; the callers only hand the slice to a host read or write or
        // a plain copy, for which that gives some interleaving, as a kernel copy would.
        f(unsafe { std::slice::from_raw_parts_mut(self.base.add(offset as usize), len) })
    }

    /// Copies `[from, from + len)` to `to`, skipping holes: only pages that were ever touched
    /// are copied (a fresh stack or heap reservation is mostly holes, and holes read as zero).
    /// `to` must be a fresh (all-hole) range.
    pub fn copy_populated(&self, from: u64, to: u64, len: u64) {
        let end = from + len;
        let mut at = from;
        while at < end {
            // SAFETY: lseek on our own memfd; SEEK_DATA/SEEK_HOLE only report extents.
            let data = unsafe { libc::lseek(self.fd, at as libc::off_t, libc::SEEK_DATA) };
            let Ok(data) = u64::try_from(data) else { return };
            if data >= end {
                return;
            }
            // SAFETY: as above.
            let hole = unsafe { libc::lseek(self.fd, data as libc::off_t, libc::SEEK_HOLE) };
            let hole = u64::try_from(hole).unwrap_or(end).min(end);
            self.copy(data, to + (data - from), hole - data);
            at = hole;
        }
    }

    /// `count` 64-bit words of the file from `offset` (8-byte aligned), for data the sentry
    /// shares with running applications word by word (the vDSO's data page).
    pub fn words(&self, offset: u64, count: usize) -> &[std::sync::atomic::AtomicU64] {
        assert!(offset.is_multiple_of(8), "memory file words must be aligned");
        self.check(offset, count * 8);
        // SAFETY: the range is inside the mapping (checked), aligned, and lives as long as
        // `self`; atomics tolerate concurrent access by the sentry and by applications.
        unsafe { std::slice::from_raw_parts(self.base.add(offset as usize).cast::<std::sync::atomic::AtomicU64>(), count) }
    }

    /// Copies `len` bytes inside the file, through the mapping. (Writing the copy through the
    /// file with `pwrite` from the source's mapping was faster, but forked Python children
    /// then found some of their heap pages wrong, under load.)
    pub fn copy(&self, from: u64, to: u64, len: u64) {
        self.check(from, len as usize);
        self.check(to, len as usize);
        // SAFETY: both ranges are inside the mapping; `copy` allows overlap.
        unsafe { std::ptr::copy(self.base.add(from as usize), self.base.add(to as usize), len as usize) }
    }

    /// Writes `src` at `offset` through the file (`pwrite`), or through the mapping if the host
    /// refuses (out of memory: the mapping's page faults then fail as they always could).
    fn write_through(&self, offset: u64, src: &[u8]) {
        let mut done = 0;
        while done < src.len() {
            let rest = &src[done..];
            // SAFETY: `rest` is a valid buffer of rest.len() bytes; the target is our own memfd
            // inside its size (the callers checked the range).
            let n = unsafe { libc::pwrite(self.fd, rest.as_ptr().cast(), rest.len(), (offset + done as u64) as libc::off_t) };
            match usize::try_from(n) {
                Ok(n) if n > 0 => done += n,
                _ if n < 0 && Errno::last() == Errno::EINTR => {}
                _ => {
                    self.write(offset + done as u64, rest);
                    return;
                }
            }
        }
    }

    /// Fills `[offset, offset + len)` with data from `read(position, buffer)`, which reads the
    /// bytes of the range from `position` (relative to `offset`) into `buffer`, as many as fit
    /// unless the data ends sooner (like `read_full`). The data goes through a bounce buffer
    /// and is written through the file (see the module's comment): cheaper than reading
    /// straight into the sentry's mapping when the pages are fresh. Stops at the first short
    /// read; returns how many bytes were filled. An error of the first read is returned; one
    /// after some bytes ends the fill with their count, as a short read.
    pub fn fill(&self, offset: u64, len: u64, mut read: impl FnMut(u64, &mut [u8]) -> SysResult<usize>) -> SysResult<u64> {
        self.check(offset, len as usize);
        let mut bounce = self.bounce.lock().unwrap().pop().unwrap_or_else(Bounce::new);
        let buf = bounce.bytes();
        let mut done = 0u64;
        let result = loop {
            if done >= len {
                break Ok(done);
            }
            let want = (len - done).min(BOUNCE as u64) as usize;
            match read(done, &mut buf[..want]) {
                Ok(got) => {
                    let got = got.min(want);
                    self.write_through(offset + done, &buf[..got]);
                    done += got as u64;
                    if got < want {
                        break Ok(done);
                    }
                }
                Err(e) if done == 0 => break Err(e),
                Err(_) => break Ok(done),
            }
        };
        let mut idle = self.bounce.lock().unwrap();
        if idle.len() < IDLE_KEPT {
            idle.push(bounce);
        }
        result
    }

    /// Fills `[offset, offset + len)` with the bytes of the host file `src` from `src_offset`,
    /// moved by the host (`splice` through a pipe): one copy in the host instead of a read and
    /// a write through a bounce buffer, about twice as fast. Stops at the end of `src`; returns
    /// how many bytes were filled. On an error the range may hold part of the data: a caller
    /// can fill it again another way.
    pub fn fill_from_host(&self, offset: u64, len: u64, src: BorrowedFd<'_>, src_offset: u64) -> SysResult<u64> {
        self.check(offset, len as usize);
        let pipe = self.pipes.lock().unwrap().pop();
        let pipe = match pipe {
            Some(p) => p,
            None => SplicePipe::new()?,
        };
        let splice = |from: i32, from_off: Option<u64>, to: i32, to_off: Option<u64>, n: usize| loop {
            let mut a = from_off.map(|o| o as libc::loff_t);
            let mut b = to_off.map(|o| o as libc::loff_t);
            let pa = a.as_mut().map_or(std::ptr::null_mut(), |a| a as *mut libc::loff_t);
            let pb = b.as_mut().map_or(std::ptr::null_mut(), |b| b as *mut libc::loff_t);
            // SAFETY: splice between descriptors we hold; the offset pointers are null or point
            // at locals that outlive the call.
            let r = unsafe { libc::splice(from, pa, to, pb, n, libc::SPLICE_F_MOVE) };
            match usize::try_from(r) {
                Ok(r) => break Ok(r),
                Err(_) if Errno::last() == Errno::EINTR => {}
                Err(_) => break Err(Errno::last()),
            }
        };
        let mut done = 0u64;
        while done < len {
            let want = (len - done).min(pipe.capacity as u64) as usize;
            // On an error the pipe may hold data: it is dropped, not kept.
            let n = splice(src.as_raw_fd(), Some(src_offset + done), pipe.write.as_raw_fd(), None, want)?;
            if n == 0 {
                break;
            }
            let mut moved = 0;
            while moved < n {
                let to = offset + done + moved as u64;
                match splice(pipe.read.as_raw_fd(), None, self.fd, Some(to), n - moved)? {
                    0 => return Err(Errno::EIO),
                    m => moved += m,
                }
            }
            done += n as u64;
        }
        let mut idle = self.pipes.lock().unwrap();
        if idle.len() < IDLE_KEPT {
            idle.push(pipe);
        }
        Ok(done)
    }
}

impl Drop for MemoryFile {
    fn drop(&mut self) {
        // SAFETY: unmapping and closing what `new` created; no references remain.
        unsafe {
            libc::munmap(self.base.cast(), FILE_SIZE as usize);
            libc::close(self.fd);
        }
    }
}
