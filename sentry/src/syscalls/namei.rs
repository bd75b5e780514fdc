//! Namespace system calls: mkdir, mknod, rmdir, unlink, rename, link and symlink, plain and
//! `*at`.
//!
//! Each splits its path at the last component ([`Task::lookup_parent`]), checks what Linux's
//! VFS checks (the name's state, write and search permission on the directory, the sticky
//! bit, mount points), calls the directory inode, and keeps the dentry cache coherent.
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]

use std::sync::Arc;

use syscall_tables::nr;

use super::file::{Last, MAY_EXEC, MAY_READ, MAY_WRITE};
use super::{Args, Support, Table};
use crate::abi::Stat;
use crate::errno::{Errno, SysResult};
use crate::kernel::task::{cap, Task};
use crate::vfs::{Dentry, RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFMT, S_IFREG, S_IFSOCK};

const MKNOD: Support = Support::Partial("regular files, FIFOs and sockets; character devices 1:3, 1:5, 1:7, 1:8, 1:9 only (EPERM otherwise); FIFOs and sockets not on bind mounts (EPERM)");
const RENAME: Support = Support::Partial("on the root overlay, a directory that is (partly) a host directory gives EXDEV, as overlayfs without redirect_dir (mv copies)");

pub static HANDLERS: Table = &[
    (nr::MKDIR, sys_mkdir, Support::Full),
    (nr::MKDIRAT, sys_mkdirat, Support::Full),
    (nr::MKNOD, sys_mknod, MKNOD),
    (nr::MKNODAT, sys_mknodat, MKNOD),
    (nr::RMDIR, sys_rmdir, Support::Full),
    (nr::UNLINK, sys_unlink, Support::Full),
    (nr::UNLINKAT, sys_unlinkat, Support::Full),
    (nr::RENAME, sys_rename, RENAME),
    (nr::RENAMEAT, sys_renameat, RENAME),
    (nr::RENAMEAT2, sys_renameat2, RENAME),
    (nr::LINK, sys_link, Support::Full),
    (nr::LINKAT, sys_linkat, Support::Full),
    (nr::SYMLINK, sys_symlink, Support::Full),
    (nr::SYMLINKAT, sys_symlinkat, Support::Full),
];

/// `EPERM` when the sticky bit of a directory (`dir`) keeps the caller from removing or
/// replacing a file of another user (`victim`).
pub(super) fn check_sticky(t: &Task, dir: &Stat, victim: &Stat) -> SysResult<()> {
    let uid = t.creds.fsuid;
    if dir.mode & libc::S_ISVTX != 0 && victim.uid != uid && dir.uid != uid && !t.creds.capable(cap::FOWNER) {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// Where a new name goes: the directory and the name, once it is known to be free and the
/// caller may write the directory. A trailing slash is only allowed for a directory
/// (`ENOENT` otherwise, as Linux says).
fn new_entry(t: &Task, dirfd: i32, path: &[u8], want_dir: bool) -> SysResult<(Arc<Dentry>, Vec<u8>)> {
    let p = t.lookup_parent(dirfd, path)?;
    let name = p.name(Errno::EEXIST)?.to_vec();
    match p.dir.child(&name) {
        Ok(_) => return Err(Errno::EEXIST),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    if p.trailing_slash && !want_dir {
        return Err(Errno::ENOENT);
    }
    t.may(&p.dir.inode.stat()?, MAY_WRITE | MAY_EXEC)?;
    Ok((p.dir, name))
}

fn mkdir_at(t: &Task, dirfd: i32, path_addr: u64, mode: u32) -> SysResult {
    let path = t.read_path(path_addr)?;
    let (dir, name) = new_entry(t, dirfd, &path, true)?;
    let mode = mode & 0o1777 & !t.umask();
    let inode = dir.inode.mkdir(&name, mode, t.owner())?;
    dir.insert(&name, inode);
    Ok(0)
}

fn sys_mkdir(t: &mut Task, a: &Args) -> SysResult {
    mkdir_at(t, libc::AT_FDCWD, a.u64(0), a.u32(1))
}

fn sys_mkdirat(t: &mut Task, a: &Args) -> SysResult {
    mkdir_at(t, a.fd(0), a.u64(1), a.u32(2))
}

/// The device number of `mknod`'s 32-bit `dev` (the kernel's `new_decode_dev`).
fn decode_dev(dev: u32) -> u64 {
    let major = (dev & 0xfff00) >> 8;
    let minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
    libc::makedev(major, minor)
}

/// The character devices a node may be made for: the sentry's own `/dev` devices.
fn known_char_device(rdev: u64) -> bool {
    libc::major(rdev) == 1 && matches!(libc::minor(rdev), 3 | 5 | 7 | 8 | 9)
}

fn mknod_at(t: &Task, dirfd: i32, path_addr: u64, mode: u32, dev: u32) -> SysResult {
    let kind = match mode & S_IFMT {
        0 => S_IFREG,
        k @ (S_IFREG | S_IFCHR | S_IFBLK | S_IFIFO | S_IFSOCK) => k,
        S_IFDIR => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    };
    let path = t.read_path(path_addr)?;
    let (dir, name) = new_entry(t, dirfd, &path, false)?;
    let rdev = decode_dev(dev);
    if matches!(kind, S_IFCHR | S_IFBLK) && (!t.creds.capable(cap::MKNOD) || kind == S_IFBLK || !known_char_device(rdev)) {
        return Err(Errno::EPERM);
    }
    let perm = mode & 0o7777 & !t.umask();
    let inode = dir.inode.mknod(&name, kind | perm, rdev, t.owner())?;
    dir.insert(&name, inode);
    Ok(0)
}

fn sys_mknod(t: &mut Task, a: &Args) -> SysResult {
    mknod_at(t, libc::AT_FDCWD, a.u64(0), a.u32(1), a.u32(2))
}

fn sys_mknodat(t: &mut Task, a: &Args) -> SysResult {
    mknod_at(t, a.fd(0), a.u64(1), a.u32(2), a.u32(3))
}

/// unlink (`rmdir` false) and rmdir.
fn remove_at(t: &Task, dirfd: i32, path_addr: u64, rmdir: bool) -> SysResult {
    let path = t.read_path(path_addr)?;
    let p = t.lookup_parent(dirfd, &path)?;
    let name = match &p.last {
        Last::Name(n) => n.clone(),
        Last::Dot if rmdir => return Err(Errno::EINVAL),
        Last::DotDot if rmdir => return Err(Errno::ENOTEMPTY),
        Last::Root if rmdir => return Err(Errno::EBUSY),
        _ => return Err(Errno::EISDIR),
    };
    let victim = p.dir.child(&name)?;
    let vst = victim.inode.stat()?;
    let is_dir = vst.mode & S_IFMT == S_IFDIR;
    if !rmdir && p.trailing_slash {
        return Err(if is_dir { Errno::EISDIR } else { Errno::ENOTDIR });
    }
    let dst = p.dir.inode.stat()?;
    t.may(&dst, MAY_WRITE | MAY_EXEC)?;
    check_sticky(t, &dst, &vst)?;
    match (rmdir, is_dir) {
        (true, false) => return Err(Errno::ENOTDIR),
        (false, true) => return Err(Errno::EISDIR),
        _ => {}
    }
    if victim.is_mount_root() {
        return Err(Errno::EBUSY);
    }
    if rmdir {
        p.dir.inode.rmdir(&name)?;
    } else {
        p.dir.inode.unlink(&name)?;
    }
    p.dir.invalidate(&name);
    victim.mark_removed();
    Ok(0)
}

fn sys_rmdir(t: &mut Task, a: &Args) -> SysResult {
    remove_at(t, libc::AT_FDCWD, a.u64(0), true)
}

fn sys_unlink(t: &mut Task, a: &Args) -> SysResult {
    remove_at(t, libc::AT_FDCWD, a.u64(0), false)
}

fn sys_unlinkat(t: &mut Task, a: &Args) -> SysResult {
    let flags = a.i32(2);
    if flags & !libc::AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    remove_at(t, a.fd(0), a.u64(1), flags & libc::AT_REMOVEDIR != 0)
}

/// Whether two stats describe one file.
fn same_file(a: &Stat, b: &Stat) -> bool {
    a.dev == b.dev && a.ino == b.ino
}

fn rename_at(t: &Task, old_dirfd: i32, old_addr: u64, new_dirfd: i32, new_addr: u64, flags: u32) -> SysResult {
    if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) != 0
        || (flags & RENAME_EXCHANGE != 0 && flags & (RENAME_NOREPLACE | RENAME_WHITEOUT) != 0)
    {
        return Err(Errno::EINVAL);
    }
    // A whiteout is a device node: it needs CAP_MKNOD.
    if flags & RENAME_WHITEOUT != 0 && !t.creds.capable(cap::MKNOD) {
        return Err(Errno::EPERM);
    }
    let exchange = flags & RENAME_EXCHANGE != 0;
    let old_path = t.read_path(old_addr)?;
    let new_path = t.read_path(new_addr)?;
    let op = t.lookup_parent(old_dirfd, &old_path)?;
    let np = t.lookup_parent(new_dirfd, &new_path)?;
    if !Arc::ptr_eq(&op.dir.mount_of(), &np.dir.mount_of()) {
        return Err(Errno::EXDEV);
    }
    let old_name = op.name(Errno::EBUSY)?.to_vec();
    let new_name = np.name(if flags & RENAME_NOREPLACE != 0 { Errno::EEXIST } else { Errno::EBUSY })?.to_vec();
    let src = op.dir.child(&old_name)?;
    let src_st = src.inode.stat()?;
    let src_dir = src_st.mode & S_IFMT == S_IFDIR;
    let dst = match np.dir.child(&new_name) {
        Ok(d) => Some(d),
        Err(Errno::ENOENT) => None,
        Err(e) => return Err(e),
    };
    let dst_st = dst.as_ref().map(|d| d.inode.stat()).transpose()?;
    let dst_dir = dst_st.is_some_and(|s| s.mode & S_IFMT == S_IFDIR);
    if exchange {
        if dst.is_none() {
            return Err(Errno::ENOENT);
        }
        if !dst_dir && np.trailing_slash {
            return Err(Errno::ENOTDIR);
        }
    }
    if !src_dir && (op.trailing_slash || (!exchange && np.trailing_slash)) {
        return Err(Errno::ENOTDIR);
    }
    if flags & RENAME_NOREPLACE != 0 && dst.is_some() {
        return Err(Errno::EEXIST);
    }
    if dst_st.is_some_and(|d| same_file(&d, &src_st)) {
        // Two names of one file (or one name twice): nothing to do.
        return Ok(0);
    }
    let old_dir_st = op.dir.inode.stat()?;
    t.may(&old_dir_st, MAY_WRITE | MAY_EXEC)?;
    check_sticky(t, &old_dir_st, &src_st)?;
    let new_dir_st = np.dir.inode.stat()?;
    t.may(&new_dir_st, MAY_WRITE | MAY_EXEC)?;
    if let Some(d) = &dst_st {
        check_sticky(t, &new_dir_st, d)?;
        if !exchange {
            match (src_dir, dst_dir) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                _ => {}
            }
        }
    }
    // A directory moving to another parent has its ".." rewritten: it must be writable.
    if !Arc::ptr_eq(&op.dir, &np.dir) {
        if src_dir {
            t.may(&src_st, MAY_WRITE)?;
        }
        if let (true, true, Some(d)) = (exchange, dst_dir, &dst_st) {
            t.may(d, MAY_WRITE)?;
        }
    }
    if src.is_mount_root() || dst.as_ref().is_some_and(|d| d.is_mount_root()) {
        return Err(Errno::EBUSY);
    }
    op.dir.inode.rename(&old_name, &np.dir.inode, &new_name, flags)?;
    Dentry::renamed(&op.dir, &old_name, &np.dir, &new_name, exchange);
    Ok(0)
}

fn sys_rename(t: &mut Task, a: &Args) -> SysResult {
    rename_at(t, libc::AT_FDCWD, a.u64(0), libc::AT_FDCWD, a.u64(1), 0)
}

fn sys_renameat(t: &mut Task, a: &Args) -> SysResult {
    rename_at(t, a.fd(0), a.u64(1), a.fd(2), a.u64(3), 0)
}

fn sys_renameat2(t: &mut Task, a: &Args) -> SysResult {
    rename_at(t, a.fd(0), a.u64(1), a.fd(2), a.u64(3), a.u32(4))
}

fn link_at(t: &Task, old_dirfd: i32, old_addr: u64, new_dirfd: i32, new_addr: u64, flags: i32) -> SysResult {
    if flags & !(libc::AT_SYMLINK_FOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let old_path = t.read_path(old_addr)?;
    let src = if old_path.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
        // Linking an open file needs CAP_DAC_READ_SEARCH; without it the path is just empty.
        if !t.creds.capable(cap::DAC_READ_SEARCH) {
            return Err(Errno::ENOENT);
        }
        t.fd_dentry(old_dirfd)?
    } else {
        t.lookup(old_dirfd, &old_path, flags & libc::AT_SYMLINK_FOLLOW != 0)?
    };
    let new_path = t.read_path(new_addr)?;
    let (dir, name) = new_entry(t, new_dirfd, &new_path, false)?;
    if !Arc::ptr_eq(&src.mount_of(), &dir.mount_of()) {
        return Err(Errno::EXDEV);
    }
    let st = src.inode.stat()?;
    if st.mode & S_IFMT == S_IFDIR {
        return Err(Errno::EPERM);
    }
    // fs.protected_hardlinks: only the owner may link a file it could not read and write,
    // or a set-user-ID (or set-group-ID executable) one.
    if !t.owns(&st) {
        let setid = st.mode & libc::S_ISUID != 0 || st.mode & (libc::S_ISGID | libc::S_IXGRP) == libc::S_ISGID | libc::S_IXGRP;
        if st.mode & S_IFMT != S_IFREG || setid || t.may(&st, MAY_READ | MAY_WRITE).is_err() {
            return Err(Errno::EPERM);
        }
    }
    let inode = dir.inode.link(&name, &src.inode)?;
    dir.insert(&name, inode);
    Ok(0)
}

fn sys_link(t: &mut Task, a: &Args) -> SysResult {
    link_at(t, libc::AT_FDCWD, a.u64(0), libc::AT_FDCWD, a.u64(1), 0)
}

fn sys_linkat(t: &mut Task, a: &Args) -> SysResult {
    link_at(t, a.fd(0), a.u64(1), a.fd(2), a.u64(3), a.i32(4))
}

fn symlink_at(t: &Task, target_addr: u64, dirfd: i32, path_addr: u64) -> SysResult {
    let target = t.read_path(target_addr)?;
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    let path = t.read_path(path_addr)?;
    let (dir, name) = new_entry(t, dirfd, &path, false)?;
    let inode = dir.inode.symlink(&name, &target, t.owner())?;
    dir.insert(&name, inode);
    Ok(0)
}

fn sys_symlink(t: &mut Task, a: &Args) -> SysResult {
    symlink_at(t, a.u64(0), libc::AT_FDCWD, a.u64(1))
}

fn sys_symlinkat(t: &mut Task, a: &Args) -> SysResult {
    symlink_at(t, a.u64(0), a.fd(1), a.u64(2))
}

#[cfg(test)]
mod tests {
    use super::super::file::{permits, MAY_EXEC, MAY_READ, MAY_WRITE};
    use crate::abi::Stat;
    use crate::kernel::task::cap;

    /// The permission check of a caller without capabilities.
    fn plain(uid: u32, gid: u32, groups: &[u32], st: &Stat, want: u32) -> bool {
        permits(uid, gid, groups, 0, st, want)
    }

    fn file(mode: u32, uid: u32, gid: u32) -> Stat {
        Stat { mode, uid, gid, ..Stat::default() }
    }

    #[test]
    fn permission_bits_are_chosen_by_owner_then_group_then_others() {
        let f = file(libc::S_IFREG | 0o640, 10, 20);
        assert!(plain(10, 99, &[], &f, MAY_READ | MAY_WRITE));
        assert!(!plain(10, 99, &[], &f, MAY_EXEC));
        assert!(plain(11, 20, &[], &f, MAY_READ));
        assert!(!plain(11, 20, &[], &f, MAY_WRITE));
        assert!(plain(11, 1, &[20], &f, MAY_READ), "supplementary groups count");
        assert!(!plain(11, 1, &[], &f, MAY_READ), "others get nothing");
        // The owner's bits apply even when the group's are wider.
        let g = file(libc::S_IFREG | 0o070, 10, 20);
        assert!(!plain(10, 20, &[], &g, MAY_READ));
    }

    #[test]
    fn root_reads_and_writes_anything_but_executes_only_with_an_x_bit() {
        let f = file(libc::S_IFREG, 10, 20);
        assert!(permits(0, 0, &[], cap::ALL, &f, MAY_READ | MAY_WRITE));
        assert!(!permits(0, 0, &[], cap::ALL, &f, MAY_EXEC));
        assert!(permits(0, 0, &[], cap::ALL, &file(libc::S_IFREG | 0o001, 10, 20), MAY_EXEC));
        assert!(permits(0, 0, &[], cap::ALL, &file(libc::S_IFDIR, 10, 20), MAY_EXEC), "root searches any directory");
    }

    #[test]
    fn dac_capabilities_override_the_mode_bits_and_uid_0_alone_does_not() {
        let f = file(libc::S_IFREG | 0o600, 10, 20);
        let d = file(libc::S_IFDIR | 0o700, 10, 20);
        assert!(!permits(0, 0, &[], 0, &f, MAY_READ), "root without capabilities is an ordinary user");
        assert!(!permits(0, 0, &[], 0, &d, MAY_EXEC));
        let override_ = cap::bit(cap::DAC_OVERRIDE);
        assert!(permits(11, 1, &[], override_, &f, MAY_READ | MAY_WRITE));
        assert!(permits(11, 1, &[], override_, &d, MAY_READ | MAY_WRITE | MAY_EXEC));
        assert!(!permits(11, 1, &[], override_, &f, MAY_EXEC), "no execute bit at all");
        let read_search = cap::bit(cap::DAC_READ_SEARCH);
        assert!(permits(11, 1, &[], read_search, &f, MAY_READ));
        assert!(!permits(11, 1, &[], read_search, &f, MAY_WRITE));
        assert!(!permits(11, 1, &[], read_search, &f, MAY_READ | MAY_WRITE));
        assert!(permits(11, 1, &[], read_search, &d, MAY_READ | MAY_EXEC));
        assert!(!permits(11, 1, &[], read_search, &d, MAY_WRITE));
    }
}
