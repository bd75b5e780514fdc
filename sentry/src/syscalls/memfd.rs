//! memfd_create and file sealing (`fcntl(F_ADD_SEALS)`, `F_GET_SEALS`).
//!
//! A memfd is a regular file of an internal tmpfs mount that no directory names: its pages
//! are memory-file pages like any tmpfs file's, so `mmap` shares them the same way. Its
//! dentry hangs under that mount's root as `memfd:NAME`, removed, so `/proc/PID/fd` and
//! `/proc/PID/maps` show `/memfd:NAME (deleted)` as Linux does.

use std::sync::{Arc, Mutex};

use syscall_tables::nr;

use super::{Args, Support, Table};
use crate::errno::{Errno, SysResult};
use crate::fs::tmpfs::{Tmpfs, TmpfsOptions};
use crate::kernel::task::Task;
use crate::mm::MemoryFile;
use crate::vfs::{Dentry, File};

pub static HANDLERS: Table = &[(nr::MEMFD_CREATE, sys_memfd_create, Support::Partial("MFD_HUGETLB gives EINVAL"))];

const MFD_CLOEXEC: u32 = 0x1;
const MFD_ALLOW_SEALING: u32 = 0x2;
const MFD_HUGETLB: u32 = 0x4;
const MFD_NOEXEC_SEAL: u32 = 0x8;
const MFD_EXEC: u32 = 0x10;
/// Longest name: `NAME_MAX` less the `memfd:` prefix.
const MFD_NAME_MAX: usize = 249;

/// The internal mount memfds live in, one per memory file, and its root dentry.
type MemfdMount = (std::sync::Weak<MemoryFile>, Arc<Tmpfs>, Arc<Dentry>);
static MOUNTS: Mutex<Vec<MemfdMount>> = Mutex::new(Vec::new());

fn memfd_mount(mf: &Arc<MemoryFile>) -> (Arc<Tmpfs>, Arc<Dentry>) {
    let mut mounts = MOUNTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    mounts.retain(|(w, _, _)| w.strong_count() > 0);
    if let Some((_, fs, root)) = mounts.iter().find(|(w, _, _)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(mf))) {
        return (fs.clone(), root.clone());
    }
    // Linux's internal shm mount has no size limit of its own: memory bounds it.
    let fs = Tmpfs::new(mf.clone(), TmpfsOptions::default());
    let root = Dentry::root(fs.root());
    mounts.push((Arc::downgrade(mf), fs.clone(), root.clone()));
    (fs, root)
}

fn sys_memfd_create(t: &mut Task, a: &Args) -> SysResult {
    let flags = a.u32(1);
    // Bits 26..31 carry a huge page size with MFD_HUGETLB.
    if flags & !(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MFD_HUGETLB != 0 || flags & (MFD_NOEXEC_SEAL | MFD_EXEC) == MFD_NOEXEC_SEAL | MFD_EXEC {
        return Err(Errno::EINVAL);
    }
    let name = match t.mm.read_cstring(a.u64(0), MFD_NAME_MAX) {
        Ok(n) => n,
        Err(Errno::ENAMETOOLONG) => return Err(Errno::EINVAL),
        Err(e) => return Err(e),
    };
    let noexec = flags & MFD_NOEXEC_SEAL != 0;
    let (fs, root) = memfd_mount(&t.kernel.memfile);
    let inode = fs.root().new_memfd(flags & MFD_ALLOW_SEALING != 0 || noexec, noexec, t.owner());
    let dentry = Dentry::detached(&root, &[b"memfd:", &name[..]].concat(), inode);
    dentry.mark_removed();
    let ops = dentry.inode.open(libc::O_RDWR)?;
    let file = File::new(ops, Some(dentry), libc::O_RDWR | libc::O_LARGEFILE);
    let limit = t.nofile();
    let fd = t.files().install(file, flags & MFD_CLOEXEC != 0, 0, limit)?;
    Ok(u64::from(fd.unsigned_abs()))
}

/// `fcntl(F_GET_SEALS)`: `EINVAL` for a file that cannot be sealed (not tmpfs).
pub(super) fn get_seals(file: &File) -> SysResult {
    let node = super::mm::tmpfs_inode(file)?.ok_or(Errno::EINVAL)?;
    Ok(u64::from(node.seals()?))
}

/// `fcntl(F_ADD_SEALS)`: the file must be open for writing (`EPERM`).
pub(super) fn add_seals(file: &File, seals: u32) -> SysResult {
    let node = super::mm::tmpfs_inode(file)?.ok_or(Errno::EINVAL)?;
    if !file.writable() {
        return Err(Errno::EPERM);
    }
    node.add_seals(seals)?;
    Ok(0)
}
