//! Job control at a controlling terminal: what happens when a process of a background process
//! group reads from its terminal, writes to it, or changes its settings.
//!
//! Linux's rules (termios(3), credentials(7)): a background group that reads gets `SIGTTIN`;
//! one that writes while the terminal has `TOSTOP` set, or changes the terminal's settings
//! (`tcsetattr`, `tcsetpgrp`…), gets `SIGTTOU`. The signal goes to the whole group and the
//! call restarts once the group is continued. Exceptions: if the caller ignores or blocks the
//! signal, a read fails with `EIO` and any other access goes ahead; if the group is orphaned
//! (nobody outside it in the session could continue it), the access fails with `EIO`.
//!
//! [`decide`] is the rule alone; [`check_terminal_access`] applies it to a task and a
//! terminal's session and foreground group; [`check_host_terminal`] to the caller of a host
//! terminal's file operation (the sandbox's terminal, `Kernel::terminal`).

use super::process::{Process, Thread};
use super::signal::ERESTARTSYS;
use super::Kernel;
use crate::errno::{Errno, SysResult};

/// What a process does with its controlling terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    /// Changes its settings or foreground group.
    Settings,
}

impl Access {
    /// The signal a background process group gets for it.
    pub fn signal(self) -> i32 {
        match self {
            Access::Read => libc::SIGTTIN,
            Access::Write | Access::Settings => libc::SIGTTOU,
        }
    }
}

/// The outcome of an access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Fails with `EIO`.
    Fail,
    /// The caller's process group gets this signal, and the call restarts after it.
    Signal(i32),
}

/// The rule: `background` (the caller's group is not the terminal's foreground group),
/// `tostop` (the terminal's `TOSTOP` flag), `ignored` (the caller ignores or blocks the
/// signal), `orphaned` (the caller's group is orphaned).
pub fn decide(access: Access, background: bool, tostop: bool, ignored: bool, orphaned: bool) -> Verdict {
    if !background || (access == Access::Write && !tostop) {
        return Verdict::Allow;
    }
    if ignored {
        return if access == Access::Read { Verdict::Fail } else { Verdict::Allow };
    }
    if orphaned {
        return Verdict::Fail;
    }
    Verdict::Signal(access.signal())
}

/// A process group is orphaned when no live member has a parent in another group of the same
/// session: nobody is left to continue it after a stop.
pub fn orphaned(kernel: &Kernel, pgid: i32, sid: i32) -> bool {
    let parents: Vec<i32> = kernel
        .processes()
        .iter()
        .filter_map(|p| {
            let st = p.state.lock().unwrap();
            (st.pgid == pgid && st.zombie.is_none()).then_some(st.ppid)
        })
        .collect();
    !parents.iter().any(|&ppid| {
        kernel.process(ppid).is_some_and(|parent| {
            let st = parent.state.lock().unwrap();
            st.pgid != pgid && st.sid == sid && st.zombie.is_none()
        })
    })
}

/// The check before `process` (calling from `thread`) accesses a terminal that is the
/// controlling terminal of `session` with foreground group `foreground`. `tostop` is asked
/// only when it matters (a write from the background). `Err(ERESTARTSYS)` once the signal has
/// been sent to the caller's group.
pub fn check_terminal_access(
    kernel: &Kernel,
    process: &Process,
    thread: Option<&Thread>,
    session: i32,
    foreground: i32,
    access: Access,
    tostop: impl FnOnce() -> bool,
) -> SysResult<()> {
    let (sid, pgid) = {
        let st = process.state.lock().unwrap();
        (st.sid, st.pgid)
    };
    // Not the caller's controlling terminal, or no foreground group: nothing to check.
    if sid != session || foreground <= 0 || pgid == foreground {
        return Ok(());
    }
    if access == Access::Write && !tostop() {
        return Ok(());
    }
    let sig = access.signal();
    let ignored = process.action(sig).handler == libc::SIG_IGN as u64 || thread.is_some_and(|t| t.blocks(sig));
    let lonely = !ignored && orphaned(kernel, pgid, sid);
    match decide(access, true, true, ignored, lonely) {
        Verdict::Allow => Ok(()),
        Verdict::Fail => Err(Errno::EIO),
        Verdict::Signal(sig) => {
            kernel.signal_group(pgid, sig);
            Err(ERESTARTSYS)
        }
    }
}

/// The check for the task calling a host terminal's file operation: the host terminal is the
/// controlling terminal of the sandbox's terminal session (`Kernel::terminal`). Calls from
/// outside a task (none is current on this thread) are let through.
pub fn check_host_terminal(access: Access, tostop: impl FnOnce() -> bool) -> SysResult<()> {
    let Ok(c) = crate::fs::proc::caller() else { return Ok(()) };
    let (session, foreground) = {
        let term = c.kernel.terminal.lock().unwrap();
        (term.session, term.foreground)
    };
    let thread = c.process.state.lock().unwrap().threads.iter().find(|t| t.tid == c.tid).cloned();
    check_terminal_access(&c.kernel, &c.process, thread.as_deref(), session, foreground, access, tostop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_foreground_group_is_never_stopped() {
        for access in [Access::Read, Access::Write, Access::Settings] {
            assert_eq!(decide(access, false, true, false, false), Verdict::Allow);
        }
    }

    #[test]
    fn background_reads_stop_with_sigttin_unless_ignored_or_orphaned() {
        assert_eq!(decide(Access::Read, true, false, false, false), Verdict::Signal(libc::SIGTTIN));
        assert_eq!(decide(Access::Read, true, false, true, false), Verdict::Fail, "ignored or blocked: EIO");
        assert_eq!(decide(Access::Read, true, false, false, true), Verdict::Fail, "orphaned: EIO");
    }

    #[test]
    fn background_writes_stop_only_with_tostop() {
        assert_eq!(decide(Access::Write, true, false, false, false), Verdict::Allow);
        assert_eq!(decide(Access::Write, true, true, false, false), Verdict::Signal(libc::SIGTTOU));
        assert_eq!(decide(Access::Write, true, true, true, false), Verdict::Allow, "ignored: the write proceeds");
        assert_eq!(decide(Access::Write, true, true, false, true), Verdict::Fail);
    }

    #[test]
    fn background_settings_changes_stop_with_sigttou() {
        assert_eq!(decide(Access::Settings, true, false, false, false), Verdict::Signal(libc::SIGTTOU));
        assert_eq!(decide(Access::Settings, true, false, true, true), Verdict::Allow, "ignored wins over orphaned");
        assert_eq!(decide(Access::Settings, true, false, false, true), Verdict::Fail);
    }

    // ---- with a kernel's process table ----

    use std::sync::Arc;

    use crate::abi::{Rlimit, SigAction};
    use crate::kernel::process::RLIMIT_COUNT;
    use crate::kernel::signal::bit;
    use crate::testing::{NoInterrupt, NoPlatform};

    fn kernel() -> Kernel {
        let root = crate::vfs::Dentry::root(crate::fs::synthetic::Dir::new(vec![]));
        let memfile = Arc::new(crate::mm::MemoryFile::new().unwrap());
        Kernel::new(Arc::new(NoPlatform), memfile, root, b"box".to_vec(), false)
    }

    /// Process `pid` with one thread, in group `pgid` of session 1.
    fn add(k: &Kernel, pid: i32, ppid: i32, pgid: i32) -> (Arc<Process>, Arc<Thread>) {
        let p = Process::new(pid, ppid, pgid, 1, [SigAction::default(); 64], [Rlimit { cur: 0, max: 0 }; RLIMIT_COUNT]);
        let t = Thread::new(pid, 0, Arc::new(NoInterrupt));
        p.state.lock().unwrap().threads.push(t.clone());
        k.table.lock().unwrap().processes.insert(pid, p.clone());
        (p, t)
    }

    fn pending(p: &Process) -> u64 {
        p.state.lock().unwrap().pending.mask
    }

    #[test]
    fn a_background_group_is_signalled_as_a_whole() {
        let k = kernel();
        add(&k, 1, 0, 1);
        let (job, thread) = add(&k, 2, 1, 2);
        let (mate, _) = add(&k, 3, 2, 2);
        assert!(!orphaned(&k, 2, 1), "pid 1, in another group of the session, can continue it");
        let check = |access| check_terminal_access(&k, &job, Some(&thread), 1, 1, access, || false);
        assert_eq!(check(Access::Write), Ok(()), "no TOSTOP");
        assert_eq!(check(Access::Read), Err(ERESTARTSYS));
        assert_eq!(pending(&job) & pending(&mate), bit(libc::SIGTTIN), "both members got SIGTTIN");
        assert_eq!(check_terminal_access(&k, &job, Some(&thread), 7, 1, Access::Read, || true), Ok(()), "another session's terminal");
        assert_eq!(check_terminal_access(&k, &job, Some(&thread), 1, 2, Access::Read, || true), Ok(()), "in the foreground");
        thread.signals.lock().unwrap().mask = bit(libc::SIGTTIN) | bit(libc::SIGTTOU);
        assert_eq!(check(Access::Read), Err(Errno::EIO), "blocked SIGTTIN");
        assert_eq!(check_terminal_access(&k, &job, Some(&thread), 1, 1, Access::Write, || true), Ok(()), "blocked SIGTTOU");
    }

    #[test]
    fn a_group_whose_parents_are_inside_it_or_elsewhere_is_orphaned() {
        let k = kernel();
        let (init, _) = add(&k, 1, 0, 1);
        let (job, thread) = add(&k, 2, 1, 2);
        add(&k, 3, 2, 2);
        init.state.lock().unwrap().sid = 9;
        assert!(orphaned(&k, 2, 1), "the only outside parent is in another session");
        let check = check_terminal_access(&k, &job, Some(&thread), 1, 1, Access::Settings, || false);
        assert_eq!(check, Err(Errno::EIO));
        assert_eq!(pending(&job), 0, "no signal for an orphaned group");
    }
}
