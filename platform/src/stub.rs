//! Stub processes: the host processes in which application code runs.
//!
//! A stub starts as a fork of the sentry that does nothing but raw system calls (it must be
//! async-signal-safe, since the sentry may be multi-threaded), asks to be traced and stops. Its
//! tracer then unmaps everything in it but the stub code page, so no byte of the sentry stays
//! reachable from application code.
//!
//! The stub code page sits at [`STUB_BASE`], above every application address. It holds two
//! routines:
//! - at [`STUB_BASE`], `syscall; int3`: the tracer injects a host system call by pointing `rip`
//!   at it, and the `int3` hands control back once the call returns;
//! - at [`SPAWN_ENTRY`], the same for `clone`, except that the new thread does not reach the
//!   `int3`: it parks in a `pause` loop, untraced, until the sentry thread that will run it
//!   attaches.

use crate::{Error, Result};

/// Address of the stub code page, in the sentry and in every stub.
///
/// With address-space randomisation, Linux puts the stack within 16 GiB below the top of the
/// user half and starts mappings at least 16 GiB + 129 MiB below it, so this band between the
/// two is never used by the sentry's own mappings. Applications get everything below it.
pub const STUB_BASE: u64 = 0x7ffb_fc00_0000;
/// Size of the stub code page.
pub const STUB_SIZE: u64 = 0x1000;
/// The stub page size as a length for host calls.
const STUB_LEN: usize = 0x1000;
/// Top of the user half of the x86_64 address space (47 bits, minus the guard page).
pub const USER_TOP: u64 = 0x7fff_ffff_f000;
/// Where `rip` stands after an injected call: just past the `int3`.
pub const STUB_RETURN: u64 = STUB_BASE + 3;
/// Entry of the thread-spawning routine.
pub const SPAWN_ENTRY: u64 = STUB_BASE + 0x10;
/// Where `rip` stands in the parent after the spawning routine.
pub const SPAWN_RETURN: u64 = STUB_BASE + 0x21;

/// Offset in the stub page of the systrap platform's code.
pub const SYSTRAP_CODE: u64 = 0x100;

/// The code page's contents.
const STUB_CODE: [u8; 0x21] = [
    0x0f, 0x05, // 0x00: syscall
    0xcc, // 0x02: int3
    0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, // nop padding
    0x0f, 0x05, // 0x10: syscall (clone)
    0x48, 0x85, 0xc0, // 0x12: test rax, rax
    0x75, 0x09, // 0x15: jnz 0x20 (the parent)
    0xb8, 0x22, 0x00, 0x00, 0x00, // 0x17: mov eax, 34 (pause) — the new thread
    0x0f, 0x05, // 0x1c: syscall
    0xeb, 0xf7, // 0x1e: jmp 0x17
    0xcc, // 0x20: int3 (the parent)
];

/// At most this many descriptors stay open in a new stub.
const MAX_KEPT: usize = 4;

fn host_err(what: &'static str) -> Error {
    Error::Host { what, errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(0) }
}

/// Maps the stub code page at [`STUB_BASE`] in the sentry, so that every stub forked later
/// inherits it. Called once, early.
pub fn install_stub_page() -> Result<()> {
    let addr = STUB_BASE as *mut libc::c_void;
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping; the page is private to us.
    let got = unsafe {
        libc::mmap(
            addr,
            STUB_LEN,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if got == libc::MAP_FAILED {
        return Err(host_err("mapping the stub page"));
    }
    if got != addr {
        return Err(Error::Host { what: "mapping the stub page at its fixed address", errno: libc::EEXIST });
    }
    // SAFETY: the page was just mapped writable and is STUB_SIZE bytes long.
    unsafe {
        std::ptr::copy_nonoverlapping(STUB_CODE.as_ptr(), got.cast::<u8>(), STUB_CODE.len());
    }
    let systrap = crate::systrap::stub_code_bytes();
    let at = usize::try_from(SYSTRAP_CODE).expect("a small offset");
    assert!(at + systrap.len() <= STUB_LEN, "the systrap code fits the stub page");
    // SAFETY: as above; the assertion keeps the copy inside the page, after the ptrace code.
    unsafe {
        std::ptr::copy_nonoverlapping(systrap.as_ptr(), got.cast::<u8>().add(at), systrap.len());
    }
    // SAFETY: changes the protection of the page mapped above only.
    if unsafe { libc::mprotect(got, STUB_LEN, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
        return Err(host_err("protecting the stub page"));
    }
    Ok(())
}

/// Forks a new stub that keeps only the descriptors in `keep` open (in increasing order), has
/// asked to be traced by the calling thread and stopped itself with SIGSTOP (not yet waited
/// for). Returns its pid.
pub fn fork_stub(keep: &[i32]) -> Result<i32> {
    debug_assert!(keep.windows(2).all(|w| w[0] < w[1]) && keep.iter().all(|&fd| fd >= 0));
    let mut kept = [u32::MAX; MAX_KEPT];
    for (slot, &fd) in kept.iter_mut().zip(keep) {
        *slot = fd.unsigned_abs();
    }
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: a raw fork; the child below only makes raw system calls and never returns.
    let pid = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_ulong, 0, 0, 0, 0) };
    if pid < 0 {
        return Err(host_err("forking a stub process"));
    }
    if pid == 0 {
        // SAFETY: in the child: only async-signal-safe raw system calls, then stop forever.
        unsafe { stub_child(parent, &kept[..keep.len().min(MAX_KEPT)]) }
    }
    Ok(i32::try_from(pid).expect("pid fits in i32"))
}

/// The first moments of a stub, before its tracer strips it.
///
/// # Safety
/// Must run only in a freshly forked child. It never returns.
unsafe fn stub_child(parent: i32, keep: &[u32]) -> ! {
    // Die with the thread that created us, and never see terminal signals meant for the
    // sandbox's own process group.
    libc::syscall(libc::SYS_prctl, libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
    if libc::syscall(libc::SYS_getppid) != i64::from(parent) {
        libc::syscall(libc::SYS_exit_group, 1);
    }
    libc::syscall(libc::SYS_setsid);
    // Close every descriptor but the kept ones: the gaps below, between and above them.
    let mut first: u32 = 0;
    for &fd in keep {
        if fd > first {
            libc::syscall(libc::SYS_close_range, first, fd - 1, 0);
        }
        first = fd + 1;
    }
    libc::syscall(libc::SYS_close_range, first, libc::c_uint::MAX, 0);
    libc::syscall(libc::SYS_ptrace, libc::PTRACE_TRACEME, 0, 0, 0);
    loop {
        libc::syscall(libc::SYS_kill, libc::syscall(libc::SYS_getpid), libc::SIGSTOP);
    }
}
