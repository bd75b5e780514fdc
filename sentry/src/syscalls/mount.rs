//! mount, umount2 and pivot_root inside the sandbox.
//!
//! `mount` makes tmpfs (and ramfs, as a tmpfs), proc and sysfs mounts and bind mounts of
//! sandbox paths, and remounts them read-only or writable; every call needs
//! `CAP_SYS_ADMIN`. Filesystems that need a device or the host (ext4, nfs, fuse…) are
//! `EPERM`; names Linux does not know are `ENODEV`. The mount table is [`crate::vfs::mount`].
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_possible_truncation)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use syscall_tables::nr;

use super::{Args, Support, Table};
use crate::errno::{Errno, SysResult};
use crate::fs::overlay::OverlayInode;
use crate::fs::tmpfs::{Tmpfs, TmpfsInode, TmpfsOptions};
use crate::kernel::task::{cap, Task};
use crate::vfs::mount::{self as mnt, Label, ReadOnly};
use crate::vfs::walk::Walker;
use crate::vfs::{Dentry, Inode};

pub static HANDLERS: Table = &[
    (nr::MOUNT, sys_mount, Support::Partial("tmpfs, ramfs, proc, sysfs and bind mounts of sandbox paths; other filesystems EPERM (ENODEV if unknown); MS_MOVE is EINVAL; propagation flags are accepted and ignored")),
    (nr::UMOUNT2, sys_umount2, Support::Partial("a mount is busy for the caller's own descriptors and working directory only")),
    (nr::PIVOT_ROOT, sys_pivot_root, Support::Partial("always EPERM")),
];

const MS_RDONLY: u64 = 1;
const MS_REMOUNT: u64 = 32;
const MS_BIND: u64 = 4096;
const MS_MOVE: u64 = 8192;
const MS_REC: u64 = 16384;
/// MS_UNBINDABLE, MS_PRIVATE, MS_SLAVE, MS_SHARED.
const MS_PROPAGATION: u64 = (1 << 17) | (1 << 18) | (1 << 19) | (1 << 20);
const MS_MGC_MSK: u64 = 0xffff_0000;
const MS_MGC_VAL: u64 = 0xc0ed_0000;

const MNT_FORCE: i32 = 1;
const MNT_DETACH: i32 = 2;
const MNT_EXPIRE: i32 = 4;
const UMOUNT_NOFOLLOW: i32 = 8;

/// Filesystems Linux knows that the sandbox cannot mount (they need a device, the host or a
/// kernel feature it does not emulate).
const REFUSED: &[&str] = &[
    "ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "msdos", "exfat", "ntfs", "ntfs3", "iso9660", "squashfs", "udf", "f2fs",
    "overlay", "nfs", "nfs4", "cifs", "smb3", "9p", "fuse", "fuseblk", "devpts", "devtmpfs", "mqueue", "cgroup", "cgroup2",
    "bpf", "tracefs", "debugfs", "securityfs", "hugetlbfs", "autofs", "binfmt_misc", "configfs", "pstore", "efivarfs",
    "fusectl", "nsfs", "rpc_pipefs", "erofs", "zonefs",
];

/// Strings the mount table shows, kept once each.
fn intern(s: &str) -> &'static str {
    static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
    let mut names = NAMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(n) = names.get(s) {
        return n;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

fn read_string(t: &Task, addr: u64, max: usize) -> SysResult<String> {
    let bytes = t.mm.read_cstring(addr, max)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The filesystem under a view (the inode a read-only bind mount wraps).
fn underlying(inode: &Arc<dyn Inode>) -> Arc<dyn Inode> {
    match inode.as_any().and_then(|a| a.downcast_ref::<ReadOnly>()) {
        Some(ro) => ro.0.clone(),
        None => inode.clone(),
    }
}

/// Type and source a bind mount of `inode` shows.
fn fs_label(inode: &Arc<dyn Inode>, read_only: bool) -> Label {
    let any = underlying(inode);
    let any = any.as_any();
    let (fstype, source) = if any.is_some_and(|a| a.is::<TmpfsInode>()) {
        ("tmpfs", "tmpfs")
    } else if any.is_some_and(|a| a.is::<OverlayInode>()) {
        ("overlay", "overlay")
    } else {
        ("9p", "none")
    };
    Label { fstype, source, read_only }
}

/// Parses tmpfs options (`size=`, `mode=`, `uid=`, `gid=`, `nr_inodes=`…); `EINVAL` for
/// an unknown one, as Linux's tmpfs.
fn tmpfs_options(data: &str) -> SysResult<TmpfsOptions> {
    let mut o = TmpfsOptions { max_bytes: Some(crate::fs::host::host_total_ram() / 2), ..TmpfsOptions::default() };
    for opt in data.split(',').filter(|s| !s.is_empty()) {
        let (key, value) = opt.split_once('=').unwrap_or((opt, ""));
        let num = |v: &str| v.parse::<u32>().map_err(|_| Errno::EINVAL);
        match key {
            "size" => o.max_bytes = Some(parse_size(value)?),
            "mode" => o.mode = u32::from_str_radix(value, 8).map_err(|_| Errno::EINVAL)? & 0o7777,
            "uid" => o.uid = num(value)?,
            "gid" => o.gid = num(value)?,
            "nr_inodes" | "nr_blocks" | "huge" | "mpol" | "inode32" | "inode64" | "noswap" | "quota" | "usrquota" | "grpquota" => {}
            // Per-mount flags that userspace sometimes leaves in the data.
            "rw" | "ro" | "nosuid" | "nodev" | "noexec" | "relatime" | "noatime" | "strictatime" | "defaults" => {}
            _ => return Err(Errno::EINVAL),
        }
    }
    Ok(o)
}

/// `size=`: bytes with an optional `k`, `m`, `g` suffix, or a percentage of memory.
fn parse_size(v: &str) -> SysResult<u64> {
    let ram = crate::fs::host::host_total_ram();
    let (digits, mult) = match v.as_bytes().last() {
        Some(b'k' | b'K') => (&v[..v.len() - 1], 1 << 10),
        Some(b'm' | b'M') => (&v[..v.len() - 1], 1 << 20),
        Some(b'g' | b'G') => (&v[..v.len() - 1], 1 << 30),
        Some(b'%') => {
            let pct: u64 = v[..v.len() - 1].parse().map_err(|_| Errno::EINVAL)?;
            return Ok(ram / 100 * pct);
        }
        _ => (v, 1),
    };
    let n: u64 = digits.parse().map_err(|_| Errno::EINVAL)?;
    n.checked_mul(mult).ok_or(Errno::EINVAL)
}

fn sys_mount(t: &mut Task, a: &Args) -> SysResult {
    let mut flags = a.u64(3);
    if flags & MS_MGC_MSK == MS_MGC_VAL {
        flags &= !MS_MGC_MSK;
    }
    if !t.creds.capable(cap::SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let target_path = t.read_path(a.u64(1))?;
    let target = t.lookup(libc::AT_FDCWD, &target_path, true)?;
    if flags & MS_REMOUNT != 0 {
        return remount(&target, flags);
    }
    if flags & MS_BIND != 0 {
        let source_path = t.read_path(a.u64(0))?;
        let source = t.lookup(libc::AT_FDCWD, &source_path, true)?;
        return bind(&source, &target, flags & MS_REC != 0);
    }
    if flags & MS_PROPAGATION != 0 {
        // Shared, private, slave, unbindable: one namespace has nothing to propagate to.
        return if target.is_mount_root() { Ok(0) } else { Err(Errno::EINVAL) };
    }
    if flags & MS_MOVE != 0 {
        return Err(Errno::EINVAL);
    }
    let fstype = read_string(t, a.u64(2), 255)?;
    let source = if a.u64(0) == 0 { "none".to_string() } else { read_string(t, a.u64(0), 4095)? };
    let data = if a.u64(4) == 0 { String::new() } else { read_string(t, a.u64(4), 4095)? };
    let read_only = flags & MS_RDONLY != 0;
    let inode: Arc<dyn Inode> = match fstype.as_str() {
        "tmpfs" | "ramfs" => {
            let opts = if fstype == "ramfs" { TmpfsOptions { mode: 0o755, ..TmpfsOptions::default() } } else { tmpfs_options(&data)? };
            let fs = Tmpfs::new(t.kernel.memfile.clone(), opts);
            fs.set_read_only(read_only);
            fs.root()
        }
        "proc" => crate::fs::proc::procfs(),
        "sysfs" => crate::fs::sys::sysfs(),
        name if REFUSED.contains(&name) => return Err(Errno::EPERM),
        _ => return Err(Errno::ENODEV),
    };
    if !target.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    let root = target.mount(inode)?;
    mnt::set_label(&root, Label { fstype: intern(&fstype), source: intern(&source), read_only });
    Ok(0)
}

/// `MS_BIND`: `source`'s tree also at `target` (with the mounts below `source` when
/// `recursive`).
fn bind(source: &Arc<Dentry>, target: &Arc<Dentry>, recursive: bool) -> SysResult {
    if source.is_dir() != target.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    let below = if recursive { mnt::of_tree(source).into_iter().filter(|m| !Arc::ptr_eq(&m.root, source)).collect() } else { Vec::new() };
    mnt::note_shared_trees();
    let root = target.mount(source.inode.clone())?;
    mnt::set_label(&root, fs_label(&source.inode, false));
    for m in below {
        // The same place under the new root: the path from `source` to what it covers.
        let rel = m.covered.path_from(source);
        if rel == b"/" {
            continue;
        }
        let walker = Walker { root: &root };
        let Ok(at) = walker.resolve(&root, &rel[1..], false) else { continue };
        if let Ok(r) = at.mount(m.root.inode.clone()) {
            if let Some(label) = m.label {
                mnt::set_label(&r, label);
            }
        }
    }
    Ok(0)
}

/// `MS_REMOUNT`: a tmpfs changes its own read-only state (without `MS_BIND`); otherwise the
/// mount is replaced by a read-only (or writable again) view of the same files.
fn remount(target: &Arc<Dentry>, flags: u64) -> SysResult {
    if !target.is_mount_root() {
        return Err(Errno::EINVAL);
    }
    let read_only = flags & MS_RDONLY != 0;
    let Some(m) = mnt::find(target) else {
        // The root of the tree: accepted, and nothing changes.
        return Ok(0);
    };
    let inner = underlying(&target.inode);
    if flags & MS_BIND == 0 {
        if let Some(node) = inner.as_any().and_then(|a| a.downcast_ref::<TmpfsInode>()) {
            node.set_fs_read_only(read_only);
            let label = m.label.map_or(Label { fstype: "tmpfs", source: "tmpfs", read_only }, |l| Label { read_only, ..l });
            mnt::set_label(target, label);
            return Ok(0);
        }
    }
    let label = m.label.map_or_else(|| fs_label(&inner, read_only), |l| Label { read_only, ..l });
    let view: Arc<dyn Inode> = if read_only { Arc::new(ReadOnly(inner)) } else { inner };
    mnt::replace_root(target, view, label)?;
    Ok(0)
}

fn sys_umount2(t: &mut Task, a: &Args) -> SysResult {
    let flags = a.i32(1);
    if flags & !(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW) != 0 || (flags & MNT_EXPIRE != 0 && flags & (MNT_FORCE | MNT_DETACH) != 0) {
        return Err(Errno::EINVAL);
    }
    if !t.creds.capable(cap::SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let path = t.read_path(a.u64(0))?;
    let d = t.lookup(libc::AT_FDCWD, &path, flags & UMOUNT_NOFOLLOW == 0)?;
    if !d.is_mount_root() {
        return Err(Errno::EINVAL);
    }
    let root = t.fs().root.clone();
    if d.parent().is_none() || Arc::ptr_eq(&d, &root) {
        return Err(if flags & MNT_DETACH != 0 { Errno::EINVAL } else { Errno::EBUSY });
    }
    if mnt::find(&d).is_none() {
        return Err(Errno::EINVAL);
    }
    if flags & MNT_EXPIRE != 0 {
        return Err(Errno::EAGAIN);
    }
    if flags & MNT_DETACH == 0 && busy(t, &d) {
        return Err(Errno::EBUSY);
    }
    mnt::detach(&d)?;
    Ok(0)
}

/// Whether the mount whose root is `root` is in use: mounts below it, or the caller's working
/// directory or open files in it.
fn busy(t: &Task, root: &Arc<Dentry>) -> bool {
    if !mnt::submounts(root).is_empty() {
        return true;
    }
    if mnt::is_within(&t.fs().cwd, root) {
        return true;
    }
    let files = t.files();
    files.fds().into_iter().filter_map(|fd| files.get(fd).ok()).any(|f| f.dentry.as_ref().is_some_and(|d| mnt::is_within(d, root)))
}

fn sys_pivot_root(_t: &mut Task, _a: &Args) -> SysResult {
    Err(Errno::EPERM)
}
