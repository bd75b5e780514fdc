//! Advisory file locks: `flock(2)` and `fcntl`'s record-lock commands (`F_GETLK`, `F_SETLK`,
//! `F_SETLKW` and their `F_OFD_*` forms), over the sentry's lock table ([`crate::vfs::lock`]).

use std::sync::Arc;

use syscall_tables::nr;

use super::{Args, Support, Table};
use crate::abi::Flock;
use crate::errno::{Errno, SysResult};
use crate::kernel::signal::ERESTARTSYS;
use crate::kernel::task::Task;
use crate::vfs::lock::{self, Blocked, Kind, Owner, OFFSET_MAX};
use crate::vfs::File;

pub static HANDLERS: Table = &[(nr::FLOCK, sys_flock, Support::Full)];

const EDEADLK: Errno = Errno(libc::EDEADLK);

/// `l_type` values.
const F_RDLCK: i16 = 0;
const F_WRLCK: i16 = 1;
const F_UNLCK: i16 = 2;

/// flock(2).
fn sys_flock(t: &mut Task, a: &Args) -> SysResult {
    let file = t.file(a.fd(0))?;
    if file.flags() & libc::O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    let op = a.i32(1);
    let kind = match op & !libc::LOCK_NB {
        libc::LOCK_SH => Some(Kind::Read),
        libc::LOCK_EX => Some(Kind::Write),
        libc::LOCK_UN => None,
        _ => return Err(Errno::EINVAL),
    };
    if kind.is_some() && !file.readable() && !file.writable() {
        return Err(Errno::EBADF);
    }
    let key = lock::key_of(&file)?;
    let wait = op & libc::LOCK_NB == 0;
    let pid = t.pid();
    loop {
        let seen = t.kernel.events.generation();
        match lock::flock(&file, key, kind, pid, wait.then_some(&t.kernel.events)) {
            Ok(()) => return Ok(0),
            Err(_) if !wait => return Err(Errno::EAGAIN),
            Err(_) => {
                if t.signal_pending() {
                    return Err(ERESTARTSYS);
                }
                t.kernel.events.wait(seen, None);
            }
        }
    }
}

/// The byte range `start..=end` a `struct flock` names (`l_whence`, `l_start`, `l_len`, where a
/// negative length reaches back and 0 runs to the end of any file).
fn lock_range(file: &File, fl: &Flock) -> SysResult<(i64, i64)> {
    let base = match i32::from(fl.l_whence) {
        libc::SEEK_SET => 0,
        libc::SEEK_CUR => i64::try_from(*file.offset.lock().unwrap()).map_err(|_| Errno::EOVERFLOW)?,
        libc::SEEK_END => file.ops.stat()?.size,
        _ => return Err(Errno::EINVAL),
    };
    let start = base.checked_add(fl.l_start).ok_or(Errno::EOVERFLOW)?;
    if start < 0 {
        return Err(Errno::EINVAL);
    }
    match fl.l_len {
        0 => Ok((start, OFFSET_MAX)),
        len if len > 0 => Ok((start, start.checked_add(len - 1).ok_or(Errno::EOVERFLOW)?)),
        len => {
            let from = start + len;
            if from < 0 {
                return Err(Errno::EINVAL);
            }
            Ok((from, start - 1))
        }
    }
}

/// `fcntl`'s record-lock commands on `file`, with the `struct flock` at `addr`.
pub(super) fn fcntl_lock(t: &Task, file: &Arc<File>, cmd: i32, addr: u64) -> SysResult {
    if file.flags() & libc::O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    let mut fl: Flock = t.mm.read_val(addr)?;
    let ofd = matches!(cmd, libc::F_OFD_GETLK | libc::F_OFD_SETLK | libc::F_OFD_SETLKW);
    if ofd && fl.l_pid != 0 {
        return Err(Errno::EINVAL);
    }
    let kind = match fl.l_type {
        F_RDLCK => Some(Kind::Read),
        F_WRLCK => Some(Kind::Write),
        F_UNLCK => None,
        _ => return Err(Errno::EINVAL),
    };
    let (start, end) = lock_range(file, &fl)?;
    let owner = if ofd { lock::ofd_owner(file) } else { Owner::Posix(t.files().lock_owner()) };
    if matches!(cmd, libc::F_GETLK | libc::F_OFD_GETLK) {
        let kind = kind.ok_or(Errno::EINVAL)?;
        match lock::test_record(lock::key_of(file)?, owner, kind, start, end) {
            Some(r) => {
                fl.l_type = if r.kind == Kind::Write { F_WRLCK } else { F_RDLCK };
                fl.l_whence = 0;
                fl.l_start = r.start;
                fl.l_len = if r.end == OFFSET_MAX { 0 } else { r.end - r.start + 1 };
                fl.l_pid = r.pid;
            }
            None => fl.l_type = F_UNLCK,
        }
        t.mm.write_val(addr, &fl)?;
        return Ok(0);
    }
    match kind {
        Some(Kind::Read) if !file.readable() => return Err(Errno::EBADF),
        Some(Kind::Write) if !file.writable() => return Err(Errno::EBADF),
        _ => {}
    }
    let key = lock::key_of(file)?;
    let wait = matches!(cmd, libc::F_SETLKW | libc::F_OFD_SETLKW);
    let pid = if ofd { -1 } else { t.pid() };
    loop {
        let seen = t.kernel.events.generation();
        match lock::set_record(file, key, owner, pid, kind, start, end, wait.then_some(&t.kernel.events)) {
            Ok(()) => return Ok(0),
            Err(Blocked::Deadlock) => return Err(EDEADLK),
            Err(Blocked::Conflict) if !wait => return Err(Errno::EAGAIN),
            Err(Blocked::Conflict) => {
                if t.signal_pending() {
                    lock::done_waiting(owner);
                    return Err(ERESTARTSYS);
                }
                t.kernel.events.wait(seen, None);
            }
        }
    }
}
