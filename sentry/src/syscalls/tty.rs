//! Job control on the sandbox's terminal: the foreground process group and session of the
//! host terminal the workload's standard streams are attached to.
//!
//! The host terminal's line discipline stays the host's; keyboard signals reach the sentry
//! process (whose host process group is in the foreground) and are forwarded to the sandbox's
//! foreground process group (see `crate::host_signals`).
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]

use crate::errno::{Errno, SysResult};
use crate::fs::host::HostStream;
use crate::kernel::task::Task;
use crate::vfs::File;

/// Handles the job-control ioctls on a terminal, or returns None for the file to handle.
pub fn job_control_ioctl(t: &Task, file: &File, request: u32, arg: u64) -> Option<SysResult> {
    let req = u64::from(request);
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
