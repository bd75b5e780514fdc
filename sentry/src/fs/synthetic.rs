//! Directories and device files made by the sentry itself: `/dev`, and the empty `/proc` and
//! `/sys` that keep the host's from showing through until those filesystems exist.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::host::fill_random;
use crate::abi::Stat;
use crate::errno::{Errno, SysResult};
use crate::vfs::{synthetic_stat, DirEntry, FileOps, Inode, S_IFCHR, S_IFDIR};

static NEXT_INO: AtomicU64 = AtomicU64::new(1);

fn next_ino() -> u64 {
    NEXT_INO.fetch_add(1, Ordering::Relaxed)
}

/// A fixed directory of synthetic inodes.
pub struct Dir {
    stat: Stat,
    entries: BTreeMap<Vec<u8>, Arc<dyn Inode>>,
}

impl Dir {
    pub fn new(entries: Vec<(&str, Arc<dyn Inode>)>) -> Arc<Dir> {
        let entries = entries.into_iter().map(|(n, i)| (n.as_bytes().to_vec(), i)).collect();
        Arc::new(Dir { stat: synthetic_stat(next_ino(), S_IFDIR | 0o755, 0), entries })
    }
}

impl Inode for Dir {
    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        self.entries.get(name).cloned().ok_or(Errno::ENOENT)
    }

    fn open(&self, flags: i32) -> SysResult<Arc<dyn FileOps>> {
        if flags & libc::O_ACCMODE != libc::O_RDONLY {
            return Err(Errno::EISDIR);
        }
        let mut list = vec![
            DirEntry { ino: self.stat.ino, next: 1, kind: libc::DT_DIR, name: b".".to_vec() },
            DirEntry { ino: self.stat.ino, next: 2, kind: libc::DT_DIR, name: b"..".to_vec() },
        ];
        for (i, (name, inode)) in self.entries.iter().enumerate() {
            let st = inode.stat()?;
            let kind = if st.mode & libc::S_IFMT == S_IFDIR { libc::DT_DIR } else { libc::DT_CHR };
            list.push(DirEntry { ino: st.ino, next: i as u64 + 3, kind, name: name.clone() });
        }
        Ok(Arc::new(DirFile { stat: self.stat, list }))
    }
}

struct DirFile {
    stat: Stat,
    list: Vec<DirEntry>,
}

impl FileOps for DirFile {
    fn read(&self, _offset: u64, _buf: &mut [u8]) -> SysResult<usize> {
        Err(Errno::EISDIR)
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }

    fn readdir(&self, cookie: u64) -> SysResult<Vec<DirEntry>> {
        Ok(self.list.iter().skip(usize::try_from(cookie).unwrap_or(usize::MAX)).cloned().collect())
    }
}

/// The character devices of `/dev` that need no state.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Null,
    Zero,
    Full,
    Random,
    Urandom,
}

impl Device {
    fn rdev(self) -> u64 {
        let (major, minor) = match self {
            Device::Null => (1, 3),
            Device::Zero => (1, 5),
            Device::Full => (1, 7),
            Device::Random => (1, 8),
            Device::Urandom => (1, 9),
        };
        libc::makedev(major, minor)
    }
}

pub struct DeviceInode {
    device: Device,
    stat: Stat,
}

impl DeviceInode {
    pub fn new(device: Device) -> Arc<DeviceInode> {
        Arc::new(DeviceInode { device, stat: synthetic_stat(next_ino(), S_IFCHR | 0o666, device.rdev()) })
    }
}

impl Inode for DeviceInode {
    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }

    fn open(&self, _flags: i32) -> SysResult<Arc<dyn FileOps>> {
        Ok(Arc::new(DeviceFile { device: self.device, stat: self.stat }))
    }
}

struct DeviceFile {
    device: Device,
    stat: Stat,
}

impl FileOps for DeviceFile {
    fn read(&self, _offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        match self.device {
            Device::Null => Ok(0),
            Device::Zero | Device::Full => {
                buf.fill(0);
                Ok(buf.len())
            }
            Device::Random | Device::Urandom => {
                fill_random(buf);
                Ok(buf.len())
            }
        }
    }

    fn write(&self, _offset: u64, buf: &[u8]) -> SysResult<usize> {
        match self.device {
            Device::Full => Err(Errno::ENOSPC),
            _ => Ok(buf.len()),
        }
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }
}

/// The sentry's `/dev`.
pub fn devfs() -> Arc<Dir> {
    let dev = |d| -> Arc<dyn Inode> { DeviceInode::new(d) };
    Dir::new(vec![
        ("full", dev(Device::Full)),
        ("null", dev(Device::Null)),
        ("random", dev(Device::Random)),
        ("urandom", dev(Device::Urandom)),
        ("zero", dev(Device::Zero)),
    ])
}
