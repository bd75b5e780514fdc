//! The virtual filesystem: inodes, the dentry cache with its mount points, open files and the
//! path walk.
//!
//! Filesystems implement [`Inode`] (namespace operations) and [`FileOps`] (I/O on an open
//! file). Both have default methods that give the errno Linux gives when a kind of file cannot
//! do something. Dentries cache lookups, negative ones included; a dentry with a filesystem
//! mounted on it is replaced by that filesystem's root during the walk.
//!
//! Lock order: a dentry's `children` lock is never held while calling into an inode.

pub mod file;
pub mod walk;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use crate::abi::Stat;
use crate::errno::{Errno, SysResult};
use crate::mm::MemoryManager;

pub use file::{FdTable, File};

pub const S_IFMT: u32 = libc::S_IFMT;
pub const S_IFDIR: u32 = libc::S_IFDIR;
pub const S_IFLNK: u32 = libc::S_IFLNK;
pub const S_IFREG: u32 = libc::S_IFREG;
pub const S_IFCHR: u32 = libc::S_IFCHR;

/// Longest path the kernel accepts, including the NUL.
pub const PATH_MAX: usize = 4096;
/// Longest single name.
pub const NAME_MAX: usize = 255;

/// One directory entry as `getdents64` reports it.
#[derive(Clone, Debug)]
pub struct DirEntry {
    pub ino: u64,
    /// Cookie to continue after this entry.
    pub next: u64,
    pub kind: u8,
    pub name: Vec<u8>,
}

/// A file in some filesystem.
pub trait Inode: Send + Sync {
    fn stat(&self) -> SysResult<Stat>;

    /// The file type bits of the mode (`S_IFDIR`, …).
    fn file_type(&self) -> u32 {
        self.stat().map(|s| s.mode & S_IFMT).unwrap_or(0)
    }

    /// Looks up one name in a directory.
    fn lookup(&self, _name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        Err(Errno::ENOTDIR)
    }

    fn readlink(&self) -> SysResult<Vec<u8>> {
        Err(Errno::EINVAL)
    }

    /// Opens the file; `flags` are the open(2) flags.
    fn open(&self, flags: i32) -> SysResult<Arc<dyn FileOps>>;
}

/// I/O on an open file. `offset` is ignored by files that are not seekable.
pub trait FileOps: Send + Sync {
    fn read(&self, _offset: u64, _buf: &mut [u8]) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }

    fn write(&self, _offset: u64, _buf: &[u8]) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }

    fn stat(&self) -> SysResult<Stat>;

    /// False for pipes, terminals and other streams: `lseek` gives `ESPIPE`.
    fn seekable(&self) -> bool {
        true
    }

    /// Directory entries from `cookie` on (0 = start); an empty result is the end.
    fn readdir(&self, _cookie: u64) -> SysResult<Vec<DirEntry>> {
        Err(Errno::ENOTDIR)
    }

    fn ioctl(&self, _mm: &MemoryManager, _request: u32, _arg: u64) -> SysResult<u64> {
        Err(Errno::ENOTTY)
    }
}

/// A name in the file tree, with its inode and cached children.
pub struct Dentry {
    pub name: Vec<u8>,
    /// None only for the root of the whole tree.
    parent: Option<Arc<Dentry>>,
    pub inode: Arc<dyn Inode>,
    /// Cached lookups; `None` remembers that a name does not exist.
    children: Mutex<HashMap<Vec<u8>, Option<Arc<Dentry>>>>,
    /// The root of a filesystem mounted here, if any.
    mounted: OnceLock<Arc<Dentry>>,
}

impl Dentry {
    /// The root of a tree.
    pub fn root(inode: Arc<dyn Inode>) -> Arc<Dentry> {
        Arc::new(Dentry { name: b"/".to_vec(), parent: None, inode, children: Mutex::default(), mounted: OnceLock::new() })
    }

    /// The parent, or `None` at the root of the tree.
    pub fn parent(&self) -> Option<&Arc<Dentry>> {
        self.parent.as_ref()
    }

    /// What the walk sees at this dentry: the root of whatever is mounted on it.
    pub fn mounted_root(self: &Arc<Dentry>) -> Arc<Dentry> {
        let mut d = self.clone();
        while let Some(m) = d.mounted.get() {
            d = m.clone();
        }
        d
    }

    /// Mounts the filesystem whose root is `inode` on this dentry.
    pub fn mount(self: &Arc<Dentry>, inode: Arc<dyn Inode>) -> SysResult<Arc<Dentry>> {
        let at = self.mounted_root();
        let root = Arc::new(Dentry {
            name: at.name.clone(),
            parent: at.parent.clone(),
            inode,
            children: Mutex::default(),
            mounted: OnceLock::new(),
        });
        at.mounted.set(root.clone()).map_err(|_| Errno::EBUSY)?;
        Ok(root)
    }

    /// Looks `name` up, through the cache.
    pub fn child(self: &Arc<Dentry>, name: &[u8]) -> SysResult<Arc<Dentry>> {
        if let Some(hit) = self.children.lock().unwrap().get(name) {
            return hit.clone().map(|d| d.mounted_root()).ok_or(Errno::ENOENT);
        }
        let found = match self.inode.lookup(name) {
            Ok(inode) => Some(Arc::new(Dentry {
                name: name.to_vec(),
                parent: Some(self.clone()),
                inode,
                children: Mutex::default(),
                mounted: OnceLock::new(),
            })),
            Err(Errno::ENOENT) => None,
            Err(e) => return Err(e),
        };
        let mut children = self.children.lock().unwrap();
        let entry = children.entry(name.to_vec()).or_insert(found);
        entry.clone().map(|d| d.mounted_root()).ok_or(Errno::ENOENT)
    }

    pub fn is_dir(&self) -> bool {
        self.inode.file_type() == S_IFDIR
    }

    /// The absolute path of this dentry as seen from `root`.
    pub fn path_from(self: &Arc<Dentry>, root: &Arc<Dentry>) -> Vec<u8> {
        let mut names = Vec::new();
        let mut d = self.clone();
        while !Arc::ptr_eq(&d, root) {
            let Some(p) = d.parent.clone() else { break };
            names.push(d.name.clone());
            d = p.mounted_root();
        }
        if names.is_empty() {
            return b"/".to_vec();
        }
        let mut out = Vec::new();
        for n in names.iter().rev() {
            out.push(b'/');
            out.extend_from_slice(n);
        }
        out
    }
}

/// Fills a `Stat` for synthetic files.
pub fn synthetic_stat(ino: u64, mode: u32, rdev: u64) -> Stat {
    Stat { dev: SYNTHETIC_DEV, ino, nlink: 1, mode, blksize: 4096, rdev, ..Stat::default() }
}

/// Device number reported by the sentry's own filesystems.
pub const SYNTHETIC_DEV: u64 = 0x1f;

#[cfg(test)]
mod tests;
