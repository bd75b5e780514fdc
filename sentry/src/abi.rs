//! Kernel-ABI structures copied to and from application memory, as the x86_64 kernel lays them
//! out (which is not always libc's layout).
#![allow(unsafe_code)]

/// Plain data: any byte pattern is a valid value and there is no padding to leak.
///
/// # Safety
/// Implement only for `#[repr(C)]` types made of integers, with no implicit padding.
pub unsafe trait Pod: Sized + Copy {
    fn zeroed() -> Self {
        // SAFETY: Pod types accept any byte pattern, including all zeros.
        unsafe { std::mem::zeroed() }
    }
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: Pod types have no padding, so every byte is initialised.
        unsafe { std::slice::from_raw_parts((self as *const Self).cast(), std::mem::size_of::<Self>()) }
    }
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: Pod types accept any byte pattern.
        unsafe { std::slice::from_raw_parts_mut((self as *mut Self).cast(), std::mem::size_of::<Self>()) }
    }
}

macro_rules! pod {
    ($($t:ty),*) => { $(
        // SAFETY: an integer type or a repr(C) struct whose size assertion below proves it has
        // no padding.
        unsafe impl Pod for $t {}
    )* };
}

pod!(u8, u16, u32, u64, i32, i64);

// SAFETY: an array of Pod elements has no padding between them.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

/// `struct stat` of x86_64.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub pad0: u32,
    pub rdev: u64,
    pub size: i64,
    pub blksize: i64,
    pub blocks: i64,
    pub atime: i64,
    pub atime_nsec: i64,
    pub mtime: i64,
    pub mtime_nsec: i64,
    pub ctime: i64,
    pub ctime_nsec: i64,
    pub reserved: [i64; 3],
}
const _: () = assert!(std::mem::size_of::<Stat>() == 144);

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct StatxTimestamp {
    pub sec: i64,
    pub nsec: u32,
    pub reserved: i32,
}

/// `struct statx`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Statx {
    pub mask: u32,
    pub blksize: u32,
    pub attributes: u64,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub mode: u16,
    pub spare0: u16,
    pub ino: u64,
    pub size: u64,
    pub blocks: u64,
    pub attributes_mask: u64,
    pub atime: StatxTimestamp,
    pub btime: StatxTimestamp,
    pub ctime: StatxTimestamp,
    pub mtime: StatxTimestamp,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub mnt_id: u64,
    pub dio_mem_align: u32,
    pub dio_offset_align: u32,
    pub spare: [u64; 12],
}
const _: () = assert!(std::mem::size_of::<Statx>() == 256);

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: i64,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Timeval {
    pub sec: i64,
    pub usec: i64,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Iovec {
    pub base: u64,
    pub len: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Rlimit {
    pub cur: u64,
    pub max: u64,
}

/// `struct new_utsname`: six fields of 65 bytes.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Utsname {
    pub fields: [[u8; 65]; 6],
}
const _: () = assert!(std::mem::size_of::<Utsname>() == 390);

/// `struct winsize`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Winsize {
    pub row: u16,
    pub col: u16,
    pub xpixel: u16,
    pub ypixel: u16,
}

/// The kernel's `struct termios` (no speed fields, unlike glibc's).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Termios {
    pub iflag: u32,
    pub oflag: u32,
    pub cflag: u32,
    pub lflag: u32,
    pub line: u8,
    pub cc: [u8; 19],
}
const _: () = assert!(std::mem::size_of::<Termios>() == 36);

/// The kernel's `struct sigaction` for x86_64.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

/// `struct sysinfo`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Sysinfo {
    pub uptime: i64,
    pub loads: [u64; 3],
    pub totalram: u64,
    pub freeram: u64,
    pub sharedram: u64,
    pub bufferram: u64,
    pub totalswap: u64,
    pub freeswap: u64,
    pub procs: u16,
    pub pad: [u16; 3],
    pub totalhigh: u64,
    pub freehigh: u64,
    pub mem_unit: u32,
    pub pad2: u32,
}
const _: () = assert!(std::mem::size_of::<Sysinfo>() == 112);

pod!(Stat, StatxTimestamp, Statx, Timespec, Timeval, Iovec, Rlimit, Utsname, Winsize, Termios, SigAction, Sysinfo);

/// `struct flock` of x86_64 (`fcntl` record locks), its padding made explicit.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Flock {
    pub l_type: i16,
    pub l_whence: i16,
    pub pad0: i32,
    pub l_start: i64,
    pub l_len: i64,
    pub l_pid: i32,
    pub pad1: i32,
}
const _: () = assert!(std::mem::size_of::<Flock>() == 32);

pod!(Flock);
