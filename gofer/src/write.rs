//! The operations that change host files: `Create`, `Mkdir`, `Symlink`, `Link`, `Unlink`,
//! `Rename`, `Setattr`, and `Statfs` (read-only, but it belongs with `Setattr`).
//!
//! Each acts on (directory fid, one checked name) with the `*at` call that never follows a
//! symlink in that name: `O_CREAT|O_EXCL|O_NOFOLLOW`, `mkdirat`, `symlinkat`, `linkat` without
//! `AT_SYMLINK_FOLLOW`, `unlinkat`, `renameat2`. `Setattr` acts on the fid's own `O_PATH` fd with
//! `AT_EMPTY_PATH` (pinned to the inode, so a rename on the host cannot redirect it, and a mount
//! root needs no parent), except for the size, which needs a writable fd: that is re-opened
//! `O_WRONLY|O_NOFOLLOW` from (parent, name) and checked to be the same inode.
//!
//! Checks run in a fixed order before the host is touched: the names (`EINVAL`), the fids
//! (`EBADF`), that a directory fid is a directory (`ENOTDIR`), that its mount is writable
//! (`EROFS`), that two fids share a mount (`EXDEV`), then the arguments. The root of any mount
//! cannot be removed or renamed, nor replaced by a rename, through another mount that overlaps
//! it on the host (`EBUSY`, as for a mount point).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::rc::Rc;

use crate::proto::Reply;
use crate::server::{c_name, Handled, Node, Parent, Server, LINK_MAX};
use crate::sys::{self, fstat, open_at, open_at_mode};
use crate::{Attr, Errno, Fid, SetAttr, Timespec};

/// Flags a client may give `Create` besides the access mode (`O_CREAT|O_EXCL` are implied).
const CREATE_ALLOWED: i32 = libc::O_CREAT
    | libc::O_EXCL
    | libc::O_TRUNC
    | libc::O_APPEND
    | libc::O_NONBLOCK
    | libc::O_CLOEXEC
    | libc::O_NOFOLLOW
    | libc::O_NOCTTY
    | libc::O_SYNC
    | libc::O_DSYNC;
/// Permission bits: all a mode in a request may hold.
const PERMS: u32 = 0o7777;
/// Flags `Rename` accepts (`RENAME_WHITEOUT` is for overlay file systems, not clients).
const RENAME_ALLOWED: u32 = libc::RENAME_NOREPLACE | libc::RENAME_EXCHANGE;

/// A directory to change, resolved from its fid (cloned out so the fid table is free).
struct Dir {
    fd: Rc<OwnedFd>,
    dev: u64,
    ino: u64,
    mount: usize,
}

impl Dir {
    /// The `Parent` of a new entry `name` in this directory.
    fn parent_of(&self, name: CString) -> Parent {
        Parent {
            fd: self.fd.clone(),
            dev: self.dev,
            ino: self.ino,
            name,
        }
    }
}

/// What a request just made: its type and, when known, its identity.
struct Made {
    kind: u32,
    id: Option<(u64, u64)>,
}

impl Made {
    fn kind(kind: u32) -> Made {
        Made { kind, id: None }
    }
    fn is(&self, attr: &Attr) -> bool {
        let same = match self.id {
            Some(id) => id == (attr.dev, attr.ino),
            None => true,
        };
        attr.file_type() == self.kind && same
    }
}

impl Server {
    /// The directory fid `dir`, checked to be a directory on a writable mount.
    fn dir_for_write(&self, dir: Fid) -> Result<Dir, Errno> {
        let node = self.fids.get(&dir).ok_or(Errno(libc::EBADF))?;
        if node.kind != libc::S_IFDIR {
            return Err(Errno(libc::ENOTDIR));
        }
        if !self.mounts[node.mount].writable {
            return Err(Errno(libc::EROFS));
        }
        Ok(Dir {
            fd: node.fd.clone(),
            dev: node.dev,
            ino: node.ino,
            mount: node.mount,
        })
    }

    /// True if `attr` is the root of any mount.
    fn is_mount_root(&self, attr: &Attr) -> bool {
        self.mounts
            .iter()
            .any(|m| (m.attr.dev, m.attr.ino) == (attr.dev, attr.ino))
    }

    /// A node for the entry `name` just made in `dir`, checked to be `made` (its type, and its
    /// inode if known). If that fails, the entry is removed again (unless the host has already
    /// put something else there), so that the failed request leaves nothing behind.
    fn new_entry(&mut self, dir: &Dir, name: CString, made: Made) -> Result<(Fid, Attr), Errno> {
        let step = open_at(
            dir.fd.as_raw_fd(),
            &name,
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
        .and_then(|fd| Ok((fstat(fd.as_fd())?, fd)));
        let (attr, fd) = match step {
            Ok((attr, fd)) if made.is(&attr) => (attr, fd),
            // Only a host process racing with us can have swapped the name.
            Ok(_) => return Err(Errno(libc::ESTALE)),
            Err(e) => {
                if sys::lstat_at(dir.fd.as_raw_fd(), &name).is_ok_and(|a| made.is(&a)) {
                    let flags = if made.kind == libc::S_IFDIR {
                        libc::AT_REMOVEDIR
                    } else {
                        0
                    };
                    let _ = sys::unlink_at(dir.fd.as_raw_fd(), &name, flags);
                }
                return Err(e);
            }
        };
        let node = Node::new(Rc::new(fd), Some(dir.parent_of(name)), dir.mount, &attr);
        Ok((self.insert(node), attr))
    }

    pub(crate) fn create(&mut self, dir: Fid, name: &[u8], flags: i32, mode: u32) -> Handled {
        let name = c_name(name)?;
        let d = self.dir_for_write(dir)?;
        let access = flags & libc::O_ACCMODE;
        if access == libc::O_ACCMODE || flags & !(CREATE_ALLOWED | libc::O_ACCMODE) != 0 {
            return Err(Errno(libc::EINVAL));
        }
        if mode & !PERMS != 0 {
            return Err(Errno(libc::EINVAL));
        }
        // O_EXCL: a new file or EEXIST, so an existing name (a symlink above all, even a dangling
        // one) is never opened or followed.
        let keep = libc::O_ACCMODE | libc::O_APPEND | libc::O_NONBLOCK | libc::O_SYNC;
        let open_flags = (flags & keep)
            | libc::O_CREAT
            | libc::O_EXCL
            | libc::O_NOFOLLOW
            | libc::O_CLOEXEC
            | libc::O_NOCTTY;
        let file = open_at_mode(d.fd.as_raw_fd(), &name, open_flags, mode)?;
        let made = match fstat(file.as_fd()) {
            Ok(attr) => Made {
                kind: libc::S_IFREG,
                id: Some((attr.dev, attr.ino)),
            },
            Err(e) => {
                let _ = sys::unlink_at(d.fd.as_raw_fd(), &name, 0);
                return Err(e);
            }
        };
        let (fid, attr) = self.new_entry(&d, name, made)?;
        Ok((Reply::Create { fid, attr }, Some(file)))
    }

    pub(crate) fn mkdir(&mut self, dir: Fid, name: &[u8], mode: u32) -> Handled {
        let name = c_name(name)?;
        let d = self.dir_for_write(dir)?;
        if mode & !PERMS != 0 {
            return Err(Errno(libc::EINVAL));
        }
        sys::mkdir_at(d.fd.as_raw_fd(), &name, mode)?;
        let (fid, attr) = self.new_entry(&d, name, Made::kind(libc::S_IFDIR))?;
        Ok((Reply::Mkdir { fid, attr }, None))
    }

    pub(crate) fn symlink(&mut self, dir: Fid, name: &[u8], target: &[u8]) -> Handled {
        let name = c_name(name)?;
        let d = self.dir_for_write(dir)?;
        // The target is stored verbatim and never resolved here; the client resolves links.
        if target.is_empty() {
            return Err(Errno(libc::ENOENT));
        }
        if target.len() >= LINK_MAX {
            return Err(Errno(libc::ENAMETOOLONG));
        }
        let target = CString::new(target).map_err(|_| Errno(libc::EINVAL))?;
        sys::symlink_at(&target, d.fd.as_raw_fd(), &name)?;
        let (fid, attr) = self.new_entry(&d, name, Made::kind(libc::S_IFLNK))?;
        Ok((Reply::Symlink { fid, attr }, None))
    }

    pub(crate) fn link(&mut self, dir: Fid, name: &[u8], target: Fid) -> Handled {
        let name = c_name(name)?;
        let d = self.dir_for_write(dir)?;
        let t = self.fids.get(&target).ok_or(Errno(libc::EBADF))?;
        if t.mount != d.mount {
            return Err(Errno(libc::EXDEV));
        }
        if t.kind == libc::S_IFDIR {
            return Err(Errno(libc::EPERM));
        }
        // Only a directory mount's root has no parent, and it is a directory.
        let from = t.parent.clone().ok_or(Errno(libc::EPERM))?;
        let (kind, id) = (t.kind, (t.dev, t.ino));
        sys::link_at(from.fd.as_raw_fd(), &from.name, d.fd.as_raw_fd(), &name)?;
        // (parent, name) may have been renamed on the host since the walk: undo a link to
        // anything but the target's inode.
        match sys::lstat_at(d.fd.as_raw_fd(), &name) {
            Ok(a) if (a.dev, a.ino) == id => {}
            _ => {
                let _ = sys::unlink_at(d.fd.as_raw_fd(), &name, 0);
                return Err(Errno(libc::ESTALE));
            }
        }
        let made = Made { kind, id: Some(id) };
        let (fid, attr) = self.new_entry(&d, name, made)?;
        Ok((Reply::Link { fid, attr }, None))
    }

    pub(crate) fn unlink(&mut self, dir: Fid, name: &[u8], flags: i32) -> Handled {
        let name = c_name(name)?;
        let d = self.dir_for_write(dir)?;
        if flags & !libc::AT_REMOVEDIR != 0 {
            return Err(Errno(libc::EINVAL));
        }
        let victim = sys::lstat_at(d.fd.as_raw_fd(), &name)?;
        if self.is_mount_root(&victim) {
            return Err(Errno(libc::EBUSY));
        }
        sys::unlink_at(d.fd.as_raw_fd(), &name, flags)?;
        Ok((Reply::Unlink, None))
    }

    pub(crate) fn rename(
        &mut self,
        old_dir: Fid,
        old_name: &[u8],
        new_dir: Fid,
        new_name: &[u8],
        flags: u32,
    ) -> Handled {
        let old_name = c_name(old_name)?;
        let new_name = c_name(new_name)?;
        let od = self.dir_for_write(old_dir)?;
        let nd = self.dir_for_write(new_dir)?;
        if od.mount != nd.mount {
            return Err(Errno(libc::EXDEV));
        }
        if flags & !RENAME_ALLOWED != 0 || flags == RENAME_ALLOWED {
            return Err(Errno(libc::EINVAL));
        }
        let moved = sys::lstat_at(od.fd.as_raw_fd(), &old_name)?;
        let replaced = sys::lstat_at(nd.fd.as_raw_fd(), &new_name).ok();
        if self.is_mount_root(&moved) || replaced.is_some_and(|r| self.is_mount_root(&r)) {
            return Err(Errno(libc::EBUSY));
        }
        sys::rename_at2(
            od.fd.as_raw_fd(),
            &old_name,
            nd.fd.as_raw_fd(),
            &new_name,
            flags,
        )?;
        // Fids of the renamed files now re-open through their new (parent, name).
        let exchanged = replaced.filter(|_| flags & libc::RENAME_EXCHANGE != 0);
        for node in self.fids.values_mut() {
            let Some(p) = &node.parent else { continue };
            let id = (node.dev, node.ino);
            let at = |d: &Dir, name: &CString| (p.dev, p.ino) == (d.dev, d.ino) && p.name == *name;
            if at(&od, &old_name) && id == (moved.dev, moved.ino) {
                node.parent = Some(nd.parent_of(new_name.clone()));
            } else if at(&nd, &new_name) && exchanged.is_some_and(|x| id == (x.dev, x.ino)) {
                node.parent = Some(od.parent_of(old_name.clone()));
            }
        }
        Ok((Reply::Rename, None))
    }

    pub(crate) fn setattr(&mut self, fid: Fid, set: &SetAttr) -> Handled {
        let node = self.fids.get(&fid).ok_or(Errno(libc::EBADF))?;
        if set.is_empty() {
            return Ok((
                Reply::Setattr {
                    attr: fstat(node.fd.as_fd())?,
                },
                None,
            ));
        }
        if !self.mounts[node.mount].writable {
            return Err(Errno(libc::EROFS));
        }
        // Every check first, so that a refused request changes nothing.
        if let Some(mode) = set.mode {
            if node.kind == libc::S_IFLNK {
                return Err(Errno(libc::EOPNOTSUPP));
            }
            if mode & !PERMS != 0 {
                return Err(Errno(libc::EINVAL));
            }
        }
        let size = match set.size {
            None => None,
            Some(_) if node.kind == libc::S_IFDIR => return Err(Errno(libc::EISDIR)),
            Some(_) if node.kind != libc::S_IFREG => return Err(Errno(libc::EINVAL)),
            Some(size) => Some(i64::try_from(size).map_err(|_| Errno(libc::EINVAL))?),
        };
        let valid = |t: Option<Timespec>| match t {
            None => true,
            Some(t) => {
                (0..1_000_000_000).contains(&t.nsec)
                    || t.nsec == libc::UTIME_NOW
                    || t.nsec == libc::UTIME_OMIT
            }
        };
        if !valid(set.atime) || !valid(set.mtime) {
            return Err(Errno(libc::EINVAL));
        }
        // The writable fd for the size is the likeliest to fail: open it before changing
        // anything.
        let sized = match size {
            Some(size) => Some((node.reopen(libc::O_WRONLY)?, size)),
            None => None,
        };
        let fd = node.fd.as_fd();
        if let Some((file, size)) = sized {
            sys::ftruncate(file.as_fd(), size)?;
        }
        if set.uid.is_some() || set.gid.is_some() {
            sys::chown_fd(fd, set.uid.unwrap_or(u32::MAX), set.gid.unwrap_or(u32::MAX))?;
        }
        if let Some(mode) = set.mode {
            match sys::chmod_fd(fd, mode) {
                Err(Errno(libc::ENOSYS)) => {
                    // Before Linux 6.6 (no fchmodat2): through a file opened for reading, which
                    // only regular files and directories are opened for.
                    if !matches!(node.kind, libc::S_IFREG | libc::S_IFDIR) {
                        return Err(Errno(libc::EOPNOTSUPP));
                    }
                    sys::fchmod(node.reopen(libc::O_RDONLY)?.as_fd(), mode)?;
                }
                r => r?,
            }
        }
        if set.atime.is_some() || set.mtime.is_some() {
            sys::utimens_fd(
                fd,
                set.atime.unwrap_or(Timespec::OMIT),
                set.mtime.unwrap_or(Timespec::OMIT),
            )?;
        }
        Ok((Reply::Setattr { attr: fstat(fd)? }, None))
    }

    pub(crate) fn statfs(&mut self, fid: Fid) -> Handled {
        let node = self.fids.get(&fid).ok_or(Errno(libc::EBADF))?;
        let mut statfs = sys::fstatfs(node.fd.as_fd())?;
        if !self.mounts[node.mount].writable {
            statfs.flags |= libc::ST_RDONLY;
        }
        Ok((Reply::Statfs { statfs }, None))
    }
}
