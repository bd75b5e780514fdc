//! inotify_init, inotify_init1, inotify_add_watch and inotify_rm_watch. The watches and the
//! event queue are in [`crate::fs::inotify`]; events come from the VFS.

use std::sync::Arc;

use syscall_tables::nr;

use super::file::MAY_READ;
use super::{Args, Support, Table};
use crate::errno::{Errno, SysResult};
use crate::fs::inotify::{Inotify, IN_ALL_EVENTS, IN_DONT_FOLLOW, IN_MASK_ADD, IN_MASK_CREATE, IN_ONLYDIR, IN_VALID};
use crate::kernel::task::Task;
use crate::vfs::File;

const WATCH: Support = Support::Partial("no IN_ACCESS on reads, no IN_UNMOUNT; events of files changed outside the sandbox are not seen");

pub static HANDLERS: Table = &[
    (nr::INOTIFY_INIT, sys_inotify_init, Support::Full),
    (nr::INOTIFY_INIT1, sys_inotify_init1, Support::Full),
    (nr::INOTIFY_ADD_WATCH, sys_inotify_add_watch, WATCH),
    (nr::INOTIFY_RM_WATCH, sys_inotify_rm_watch, Support::Full),
];

fn init(t: &mut Task, flags: i32) -> SysResult {
    if flags & !(libc::IN_NONBLOCK | libc::IN_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let ops = Arc::new(Inotify::new(t.kernel.events.clone(), t.kernel.next_ino()));
    let file = File::new(ops, None, libc::O_RDONLY | (flags & libc::O_NONBLOCK));
    let limit = t.nofile();
    let fd = t.files().install(file, flags & libc::IN_CLOEXEC != 0, 0, limit)?;
    Ok(u64::from(fd.unsigned_abs()))
}

fn sys_inotify_init(t: &mut Task, _a: &Args) -> SysResult {
    init(t, 0)
}

fn sys_inotify_init1(t: &mut Task, a: &Args) -> SysResult {
    init(t, a.i32(0))
}

/// The inotify instance behind `fd`: `EBADF` for no descriptor, `EINVAL` for another file.
fn instance(t: &Task, fd: i32) -> SysResult<Arc<File>> {
    let file = t.file(fd)?;
    if file.ops.as_any().and_then(|a| a.downcast_ref::<Inotify>()).is_none() {
        return Err(Errno::EINVAL);
    }
    Ok(file)
}

fn sys_inotify_add_watch(t: &mut Task, a: &Args) -> SysResult {
    let mask = a.u32(2);
    // Linux checks the mask before the descriptor.
    if mask & IN_VALID & IN_ALL_EVENTS == 0 || mask & (IN_MASK_ADD | IN_MASK_CREATE) == IN_MASK_ADD | IN_MASK_CREATE {
        return Err(Errno::EINVAL);
    }
    let file = instance(t, a.fd(0))?;
    let path = t.read_path(a.u64(1))?;
    let d = t.lookup(libc::AT_FDCWD, &path, mask & IN_DONT_FOLLOW == 0)?;
    if mask & IN_ONLYDIR != 0 && !d.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    // Watching needs read permission on the file.
    t.may(&d.inode.stat()?, MAY_READ)?;
    let ino = file.ops.as_any().and_then(|a| a.downcast_ref::<Inotify>()).ok_or(Errno::EINVAL)?;
    Ok(u64::from(ino.add_watch(&d, mask)?.unsigned_abs()))
}

fn sys_inotify_rm_watch(t: &mut Task, a: &Args) -> SysResult {
    let file = instance(t, a.fd(0))?;
    let ino = file.ops.as_any().and_then(|a| a.downcast_ref::<Inotify>()).ok_or(Errno::EINVAL)?;
    ino.rm_watch(a.i32(1))?;
    Ok(0)
}
