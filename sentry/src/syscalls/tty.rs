//! Job control on terminals: the foreground process group and session of the host terminal the
//! workload's standard streams are attached to, and of each pseudo-terminal (`crate::fs::pty`),
//! plus the pseudo-terminal ioctls that need the calling task (`TIOCGPTPEER` installs a
//! descriptor; settings changed from a background process group raise `SIGTTOU`).
//!
//! The host terminal's line discipline stays the host's; keyboard signals reach the sentry
//! process (whose host process group is in the foreground) and are forwarded to the sandbox's
//! foreground process group (see `crate::host_signals`).
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]

use std::sync::Arc;

use crate::errno::{Errno, SysResult};
use crate::fs::host::HostStream;
use crate::fs::pty::{self, Pty};
use crate::kernel::jobctl::Access;
use crate::kernel::task::{cap, Task};
use crate::vfs::File;

/// Handles the job-control ioctls on a terminal, or returns None for the file to handle.
pub fn job_control_ioctl(t: &Task, file: &File, request: u32, arg: u64) -> Option<SysResult> {
    let req = u64::from(request);
    if let Some((pty, master)) = pty::end_of(file.ops.as_ref()) {
        return pty_ioctl(t, file, pty, master, req, arg);
    }
    if !matches!(req, libc::TIOCGPGRP | libc::TIOCSPGRP | libc::TIOCGSID | libc::TIOCSCTTY | libc::TIOCNOTTY) {
        return None;
    }
    // Only a host terminal has a foreground group.
    let is_tty = file.ops.as_any().and_then(|a| a.downcast_ref::<HostStream>()).is_some_and(HostStream::is_terminal);
    if !is_tty {
        return Some(Err(Errno::ENOTTY));
    }
    Some(match req {
        libc::TIOCGPGRP => {
            let pgid = t.kernel.terminal.lock().unwrap().foreground;
            t.mm.write_val(arg, &pgid).map(|_| 0)
        }
        libc::TIOCGSID => {
            let sid = t.kernel.terminal.lock().unwrap().session;
            t.mm.write_val(arg, &sid).map(|_| 0)
        }
        libc::TIOCSPGRP => set_foreground(t, arg),
        // The terminal is the sandbox's one terminal: taking or dropping it changes nothing.
        _ => Ok(0),
    })
}

fn set_foreground(t: &Task, arg: u64) -> SysResult {
    // From a background group: SIGTTOU first (EIO shows as ENOTTY here, as in Linux).
    crate::kernel::jobctl::check_host_terminal(crate::kernel::jobctl::Access::Settings, || false).map_err(|e| if e == Errno::EIO { Errno::ENOTTY } else { e })?;
    let pgid: i32 = t.mm.read_val(arg)?;
    if pgid < 0 {
        return Err(Errno::EINVAL);
    }
    let sid = t.process.state.lock().unwrap().sid;
    let exists = t.kernel.processes().iter().any(|p| {
        let st = p.state.lock().unwrap();
        st.pgid == pgid && st.sid == sid && st.zombie.is_none()
    });
    if !exists {
        return Err(Errno::EPERM);
    }
    t.kernel.terminal.lock().unwrap().foreground = pgid;
    Ok(0)
}

/// The ioctls of a pseudo-terminal end that need the task, or None for the file to handle.
fn pty_ioctl(t: &Task, file: &File, pty: &Arc<Pty>, master: bool, req: u64, arg: u64) -> Option<SysResult> {
    if !master && pty.hung_up() && is_job_control(req) {
        return Some(Err(if req == libc::TIOCSPGRP { Errno::ENOTTY } else { Errno::EIO }));
    }
    Some(match req {
        libc::TIOCGPTPEER if master => open_peer(t, pty, arg),
        libc::TIOCGPTPEER => Err(Errno::EIO),
        libc::TIOCGPGRP => {
            let (session, pgrp) = pty.job_control();
            if !master && !is_controlling(t, session) {
                return Some(Err(Errno::ENOTTY));
            }
            t.mm.write_val(arg, &pgrp).map(|_| 0)
        }
        libc::TIOCGSID => {
            let (session, _) = pty.job_control();
            if !master && !is_controlling(t, session) {
                return Some(Err(Errno::ENOTTY));
            }
            match session {
                Some(sid) => t.mm.write_val(arg, &sid).map(|_| 0),
                None => Err(Errno::ENOTTY),
            }
        }
        libc::TIOCSPGRP => set_pty_foreground(t, pty, master, arg),
        // Faking input: into one's own controlling terminal only, unless privileged.
        libc::TIOCSTI if !t.creds.capable(cap::SYS_ADMIN) && !is_controlling(t, pty.job_control().0) => Err(Errno::EPERM),
        libc::TIOCSCTTY => {
            let admin = t.creds.capable(cap::SYS_ADMIN);
            pty.set_controlling(&t.kernel, &t.process, arg == 1, admin, file.readable()).map(|_| 0)
        }
        libc::TIOCNOTTY => {
            let (session, _) = pty.job_control();
            if master || !is_controlling(t, session) {
                return Some(Err(Errno::ENOTTY));
            }
            // The session leader gives the terminal up for the whole session; another member
            // only for itself, which is not modelled (the session keeps it).
            if session == Some(t.pid()) {
                pty.disassociate();
            }
            Ok(0)
        }
        // Settings changed from a background process group: SIGTTOU first.
        libc::TCSETS | libc::TCSETSW | libc::TCSETSF | libc::TCSETS2 | libc::TCSETSW2 | libc::TCSETSF2 | libc::TCFLSH | libc::TCXONC if !master => {
            let r = pty.background_check(&t.kernel, &t.process, Some(&t.thread), Access::Settings);
            match r {
                Ok(()) => return None,
                Err(e) => Err(e),
            }
        }
        _ => return None,
    })
}

fn is_job_control(req: u64) -> bool {
    matches!(req, libc::TIOCGPGRP | libc::TIOCSPGRP | libc::TIOCGSID | libc::TIOCSCTTY | libc::TIOCNOTTY)
}

/// Whether the pseudo-terminal controlling `session` is the caller's controlling terminal.
fn is_controlling(t: &Task, session: Option<i32>) -> bool {
    session.is_some() && session == Some(t.process.state.lock().unwrap().sid)
}

/// `TIOCSPGRP` on a pseudo-terminal: only by a process it controls, to a group of the
/// caller's session.
fn set_pty_foreground(t: &Task, pty: &Pty, master: bool, arg: u64) -> SysResult {
    if !master {
        match pty.background_check(&t.kernel, &t.process, Some(&t.thread), Access::Settings) {
            Err(Errno::EIO) => return Err(Errno::ENOTTY),
            Err(e) => return Err(e),
            Ok(()) => {}
        }
    }
    let pgid: i32 = t.mm.read_val(arg)?;
    if pgid < 0 {
        return Err(Errno::EINVAL);
    }
    let (session, _) = pty.job_control();
    if !is_controlling(t, session) {
        return Err(Errno::ENOTTY);
    }
    let sid = t.process.state.lock().unwrap().sid;
    let mut exists = false;
    let mut same_session = false;
    for p in t.kernel.processes() {
        let st = p.state.lock().unwrap();
        if st.zombie.is_some() {
            continue;
        }
        if st.pgid == pgid {
            exists = true;
            same_session |= st.sid == sid;
        } else if p.pid == pgid {
            exists = true;
        }
    }
    if !exists {
        return Err(Errno::ESRCH);
    }
    if !same_session {
        return Err(Errno::EPERM);
    }
    pty.set_foreground(pgid);
    Ok(0)
}

/// `TIOCGPTPEER`: opens the slave of the master and installs it, with `arg` as open flags.
fn open_peer(t: &Task, pty: &Arc<Pty>, arg: u64) -> SysResult {
    // Like Linux, other flags are ignored.
    let flags = (arg as i32) & (libc::O_ACCMODE | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC);
    let ops = pty.open_slave(flags, None)?;
    // Through its node, so that /proc/PID/fd and ttyname() find it.
    let path = format!("/dev/pts/{}", pty.index());
    let dentry = t.lookup(libc::AT_FDCWD, path.as_bytes(), true).ok().filter(|d| d.inode.stat().is_ok_and(|s| s.rdev == pty.rdev()));
    let file = File::new(ops, dentry, flags | libc::O_LARGEFILE);
    let limit = t.rlimit(libc::RLIMIT_NOFILE).cur;
    let fd = t.files().install(file, flags & libc::O_CLOEXEC != 0, 0, limit)?;
    Ok(fd as u64)
}
