//! Files served by the gofer: the sentry's view of a host directory tree, read-only.
//!
//! Each inode holds a gofer fid and the attributes the walk returned. The tree is read-only, so
//! attributes never go stale; the dentry cache above keeps lookups to one round trip per name.

use std::sync::Arc;

use gofer::{Attr, Client, Fid};

use super::host::HostRegular;
use crate::abi::Stat;
use crate::errno::{Errno, SysResult};
use crate::vfs::{DirEntry, FileOps, Inode, S_IFDIR, S_IFREG};

pub struct GoferInode {
    client: Arc<Client>,
    fid: Fid,
    attr: Attr,
}

impl GoferInode {
    /// The root of the tree the gofer serves.
    pub fn attach(client: Arc<Client>) -> SysResult<Arc<GoferInode>> {
        let (fid, attr) = client.attach()?;
        Ok(Arc::new(GoferInode { client, fid, attr }))
    }
}

fn to_stat(a: &Attr) -> Stat {
    Stat {
        dev: a.dev,
        ino: a.ino,
        nlink: a.nlink,
        mode: a.mode,
        uid: a.uid,
        gid: a.gid,
        rdev: a.rdev,
        size: i64::try_from(a.size).unwrap_or(i64::MAX),
        blksize: i64::try_from(a.blksize).unwrap_or(4096),
        blocks: i64::try_from(a.blocks).unwrap_or(0),
        atime: a.atime.sec,
        atime_nsec: a.atime.nsec,
        mtime: a.mtime.sec,
        mtime_nsec: a.mtime.nsec,
        ctime: a.ctime.sec,
        ctime_nsec: a.ctime.nsec,
        ..Stat::default()
    }
}

impl Drop for GoferInode {
    fn drop(&mut self) {
        self.client.clunk(self.fid);
    }
}

impl Inode for GoferInode {
    fn stat(&self) -> SysResult<Stat> {
        Ok(to_stat(&self.attr))
    }

    fn file_type(&self) -> u32 {
        self.attr.file_type()
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        if !self.attr.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let reply = self.client.walk(self.fid, &[name])?;
        match (reply.steps.into_iter().next(), reply.error) {
            (Some((fid, attr)), _) => Ok(Arc::new(GoferInode { client: self.client.clone(), fid, attr })),
            (None, Some(e)) => Err(Errno(e)),
            (None, None) => Err(Errno::EIO),
        }
    }

    fn readlink(&self) -> SysResult<Vec<u8>> {
        if !self.attr.is_symlink() {
            return Err(Errno::EINVAL);
        }
        Ok(self.client.readlink(self.fid)?)
    }

    fn open(&self, flags: i32) -> SysResult<Arc<dyn FileOps>> {
        if flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0 {
            return Err(Errno::EROFS);
        }
        match self.attr.file_type() {
            S_IFDIR => Ok(Arc::new(GoferDir { client: self.client.clone(), fid: self.fid, stat: to_stat(&self.attr) })),
            S_IFREG => {
                let fd = self.client.open(self.fid, libc::O_RDONLY)?;
                Ok(Arc::new(HostRegular { fd, stat: to_stat(&self.attr) }))
            }
            // Host devices, fifos and sockets are never opened for the workload.
            _ => Err(Errno::EACCES),
        }
    }
}

/// An open directory of the gofer tree. Holds the client so the fid's inode may go away first;
/// the dentry that opened it keeps the fid alive.
struct GoferDir {
    client: Arc<Client>,
    fid: Fid,
    stat: Stat,
}

impl FileOps for GoferDir {
    fn read(&self, _offset: u64, _buf: &mut [u8]) -> SysResult<usize> {
        Err(Errno::EISDIR)
    }

    fn write(&self, _offset: u64, _buf: &[u8]) -> SysResult<usize> {
        Err(Errno::EBADF)
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }

    fn readdir(&self, cookie: u64) -> SysResult<Vec<DirEntry>> {
        let entries = self.client.getdents(self.fid, cookie)?;
        Ok(entries.into_iter().map(|d| DirEntry { ino: d.ino, next: d.off, kind: d.kind, name: d.name }).collect())
    }
}
