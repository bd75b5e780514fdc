//! [`crate::confine`] in a forked child: the test process itself must keep its root.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use super::TempDir;
use crate::confine;

const KEPT: &[u8] = b"reachable through a held fd";

/// Why the child failed, by exit code.
const FAILURES: [&str; 10] = [
    "ok",
    "confine returned an error",
    "confinement incomplete although root",
    "no_new_privs not set",
    "/etc/passwd still opens by path",
    "the new root is not empty",
    "the new root is writable",
    "a file no longer reads through the held directory fd",
    "/etc/passwd no longer opens through the held /etc fd",
    "PR_GET_NO_NEW_PRIVS is not 1",
];

fn open_path(path: &std::path::Path) -> OwnedFd {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid C string path.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    assert!(fd >= 0, "open {}", path.display());
    // SAFETY: open just returned this fd.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Reads `name` under `dir` into `buf`; the byte count, or -1. No allocation.
fn read_at(dir: BorrowedFd<'_>, name: &std::ffi::CStr, buf: &mut [u8]) -> isize {
    // SAFETY: a valid C string name relative to a held fd.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return -1;
    }
    // SAFETY: `buf` is writable for its length; the fd is closed right after.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    // SAFETY: closes the fd opened above.
    unsafe { libc::close(fd) };
    n
}

/// Runs in the forked child: only async-signal-safe work (no allocation, no locks) on the way to
/// the verdict, an index into [`FAILURES`].
fn child(dir: BorrowedFd<'_>, etc: BorrowedFd<'_>) -> i32 {
    let Ok(done) = confine(&[dir, etc]) else {
        return 1;
    };
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root && !done.is_complete() {
        return 2;
    }
    if !done.no_new_privs {
        return 3;
    }
    if root {
        // SAFETY: a valid C string path.
        let fd = unsafe { libc::open(c"/etc/passwd".as_ptr(), libc::O_RDONLY) };
        if fd >= 0 || errno() != libc::ENOENT {
            return 4;
        }
        // The root is empty: not even /proc or /tmp.
        for path in [c"/proc/self", c"/tmp", c"/etc", c"/.."] {
            let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
            // SAFETY: a valid C string path and a writable stat buffer.
            let r = unsafe { libc::stat(path.as_ptr(), st.as_mut_ptr()) };
            if r == 0 && path != c"/.." {
                return 5;
            }
        }
        // SAFETY: a valid C string path.
        let r = unsafe { libc::mkdir(c"/x".as_ptr(), 0o755) };
        if r == 0 || errno() != libc::EROFS {
            return 6;
        }
    }
    let mut buf = [0u8; 64];
    let n = read_at(dir, c"kept", &mut buf);
    if usize::try_from(n).ok() != Some(KEPT.len()) || &buf[..KEPT.len()] != KEPT {
        return 7;
    }
    if read_at(etc, c"passwd", &mut buf) <= 0 {
        return 8;
    }
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) } != 1 {
        return 9;
    }
    0
}

#[test]
fn confine_hides_host_paths_but_keeps_held_fds() {
    let tmp = TempDir::new();
    std::fs::write(tmp.0.join("kept"), KEPT).unwrap();
    let dir = open_path(&tmp.0);
    let etc = open_path(std::path::Path::new("/etc"));
    // SAFETY: the child runs only `child` (no allocation, no locks other threads might hold)
    // and leaves with _exit, never returning into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = child(dir.as_fd(), etc.as_fd());
        // SAFETY: ends the child at once, running no destructors or atexit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child into a valid int.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid);
    assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
    let code = libc::WEXITSTATUS(status);
    let why = usize::try_from(code)
        .ok()
        .and_then(|i| FAILURES.get(i))
        .unwrap_or(&"unknown");
    assert_eq!(code, 0, "confined child: {why}");
    // The parent is untouched.
    assert!(std::path::Path::new("/etc/passwd").exists());
}
