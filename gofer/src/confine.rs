//! Confinement of the gofer process (and, through [`confine_as`], of the sentry): after it has
//! opened every host file it needs, it gives up every other way to reach host files.
//!
//! [`confine`] enters new mount, IPC, UTS and network namespaces, makes every mount private (so
//! nothing it mounts reaches the host), mounts an empty tmpfs, `pivot_root`s into it and detaches
//! the old root, remounts the new root read-only, and sets `no_new_privs`. After that an absolute
//! path names nothing; host files are reachable only through the fds the process holds, and the
//! server never walks `..` or follows a symlink from them.
//!
//! Without the privilege for a step (not root, or namespaces forbidden), it logs a warning and
//! goes on less confined, so that `sandbox` still works unprivileged; any other failure is an
//! error. The successful path allocates nothing and logs nothing, so it is safe in a child forked
//! from a multi-threaded process (the test does that). The calling process must be
//! single-threaded: unsharing the mount namespace fails with `EINVAL` when threads share it.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// What [`confine`] achieved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Confinement {
    /// In new mount, IPC, UTS and network namespaces.
    pub namespaces: bool,
    /// The root is an empty read-only tmpfs, the host's root detached (or, where `pivot_root`
    /// is impossible, `chroot`ed into).
    pub empty_root: bool,
    /// `PR_SET_NO_NEW_PRIVS` is set.
    pub no_new_privs: bool,
}

impl Confinement {
    /// Everything was done.
    pub fn is_complete(&self) -> bool {
        self.namespaces && self.empty_root && self.no_new_privs
    }
}

/// Confines the calling (single-threaded) process; `keep` are the fds it must still be able to
/// use (every mount's fds), checked afterwards.
pub fn confine(keep: &[BorrowedFd<'_>]) -> io::Result<Confinement> {
    confine_as("gofer", true, keep)
}

/// [`confine`] for any role (the sentry uses it too): `who` names it in messages; without
/// `new_net` the process keeps its network namespace (one it was asked to join).
pub fn confine_as(who: &'static str, new_net: bool, keep: &[BorrowedFd<'_>]) -> io::Result<Confinement> {
    let mut done = Confinement::default();
    let mut flags = libc::CLONE_NEWNS | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
    if new_net {
        flags |= libc::CLONE_NEWNET;
    }
    // SAFETY: unshare takes flags only.
    match check(unsafe { libc::unshare(flags) }) {
        Ok(()) => done.namespaces = true,
        Err(e) if unprivileged(&e) => {
            tracing::warn!("{who}: cannot enter new namespaces ({e}); running unconfined");
        }
        Err(e) => return Err(step(who, "unshare", e)),
    }
    if done.namespaces {
        done.empty_root = enter_empty_root(who)?;
    }
    // SAFETY: prctl with integer arguments.
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
        .map_err(|e| step(who, "PR_SET_NO_NEW_PRIVS", e))?;
    done.no_new_privs = true;
    for fd in keep {
        // SAFETY: libc::stat is plain data; all-zero is valid, and fstat writes only into it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })
            .map_err(|e| step(who, "a held fd after confinement", e))?;
    }
    Ok(done)
}

/// Replaces the root with an empty read-only tmpfs. Ok(false) if not allowed.
fn enter_empty_root(who: &'static str) -> io::Result<bool> {
    // Private first: otherwise the tmpfs below would propagate to the host's mount namespace.
    let private = libc::MS_REC | libc::MS_PRIVATE;
    if let Err(e) = mount(None, c"/", None, private, None) {
        if unprivileged(&e) {
            tracing::warn!("{who}: cannot make mounts private ({e}); keeping the host's root");
            return Ok(false);
        }
        return Err(step(who, "making mounts private", e));
    }
    // /proc exists on every host that can run us; in this namespace it is only a mount point.
    let target = c"/proc";
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    mount(
        Some(c"empty-root"),
        target,
        Some(c"tmpfs"),
        flags,
        Some(c"size=4k,nr_inodes=4,mode=0555"),
    )
    .map_err(|e| step(who, "mounting the empty root", e))?;
    // SAFETY: chdir to a valid C string path.
    check(unsafe { libc::chdir(target.as_ptr()) }).map_err(|e| step(who, "chdir", e))?;
    // pivot_root(".", "."): the old root ends up stacked on "." and is detached right after.
    let dot = c".";
    // SAFETY: pivot_root with two valid C string paths.
    let pivot = unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) };
    let pivot = if pivot < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    };
    match pivot {
        Ok(()) => {
            // SAFETY: umount2 of a valid C string path.
            check(unsafe { libc::umount2(dot.as_ptr(), libc::MNT_DETACH) })
                .map_err(|e| step(who, "detaching the old root", e))?;
        }
        // The current root is not a mount point (an initramfs, a chroot): chroot instead.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            tracing::warn!("{who}: pivot_root impossible ({e}); using chroot");
            // SAFETY: chroot to a valid C string path.
            check(unsafe { libc::chroot(dot.as_ptr()) }).map_err(|e| step(who, "chroot", e))?;
        }
        Err(e) => return Err(step(who, "pivot_root", e)),
    }
    // SAFETY: chdir to a valid C string path.
    check(unsafe { libc::chdir(c"/".as_ptr()) }).map_err(|e| step(who, "chdir /", e))?;
    let ro = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | flags;
    mount(None, c"/", None, ro, None).map_err(|e| step(who, "making the root read-only", e))?;
    Ok(true)
}

/// `mount(2)`; absent strings are null pointers.
fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let ptr = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is null or a valid C string that outlives the call.
    check(unsafe {
        libc::mount(
            ptr(source),
            target.as_ptr(),
            ptr(fstype),
            flags,
            ptr(data).cast(),
        )
    })
}

fn check(r: i32) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Failures that mean "not allowed here" rather than "broken".
fn unprivileged(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES))
}

fn step(who: &str, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{who} confinement: {what}: {e}"))
}
