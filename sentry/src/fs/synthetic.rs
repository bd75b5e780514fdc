//! The small framework every synthetic filesystem (`/proc`, `/sys`, `/dev`) is built from, and
//! `/dev` itself.
//!
//! - [`Dir`]: a fixed directory.
//! - [`DynDir`]: a directory whose entries are computed at each lookup and `readdir` by a
//!   [`DirSource`] (`/proc` lists the live pids).
//! - [`GenFile`]: a read-only file whose content a closure generates when it is opened (the
//!   open file reads that snapshot); optionally writable through a second closure.
//! - [`Symlink`]: a link whose target a closure computes at each `readlink`.
//!
//! Every node may have an owner closure, asked at each `stat` and `open`: it gives the uid and
//! gid to report (a process's files belong to its user), or `ENOENT` once what the node shows
//! has gone (a process that was reaped). Sizes are 0, as procfs reports them.
//!
//! Nodes never cache what they show, because the dentry cache keeps them for ever: a dentry
//! for `/proc/42` stays valid and simply answers `ENOENT` while no process 42 exists.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::host::fill_random;
use crate::abi::{Stat, Timespec};
use crate::errno::{Errno, SysResult};
use crate::vfs::{DirEntry, FileOps, Inode, Owner, StatFs, SYNTHETIC_DEV, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};

static NEXT_INO: AtomicU64 = AtomicU64::new(1);

/// A fresh inode number for a synthetic node (small numbers; `/proc`'s per-process nodes use
/// numbers computed from the pid, far above these).
pub fn next_ino() -> u64 {
    NEXT_INO.fetch_add(1, Ordering::Relaxed)
}

static MAGICS: Mutex<BTreeMap<u64, u64>> = Mutex::new(BTreeMap::new());

/// Makes `statfs` of the nodes with device number `dev` report the filesystem type `magic`
/// (`PROC_SUPER_MAGIC`…); others report a tmpfs, as `/dev` does on Linux.
pub fn register_magic(dev: u64, magic: u64) {
    MAGICS.lock().unwrap().insert(dev, magic);
}

pub fn statfs_of(dev: u64) -> SysResult<StatFs> {
    let mut s = StatFs::synthetic();
    if let Some(&m) = MAGICS.lock().unwrap().get(&dev) {
        s.fs_type = m;
    }
    Ok(s)
}

/// The `d_type` of a file mode.
pub fn dtype(mode: u32) -> u8 {
    match mode & S_IFMT {
        S_IFDIR => libc::DT_DIR,
        S_IFLNK => libc::DT_LNK,
        S_IFREG => libc::DT_REG,
        S_IFCHR => libc::DT_CHR,
        libc::S_IFBLK => libc::DT_BLK,
        libc::S_IFIFO => libc::DT_FIFO,
        libc::S_IFSOCK => libc::DT_SOCK,
        _ => libc::DT_UNKNOWN,
    }
}

/// What every synthetic node has: inode number, mode (type and permissions), device, and a
/// time for all three timestamps.
#[derive(Clone, Copy, Debug)]
pub struct Attr {
    pub ino: u64,
    pub mode: u32,
    pub dev: u64,
    pub time: Timespec,
}

impl Attr {
    /// A node with a fresh inode number, stamped now.
    pub fn new(mode: u32, dev: u64) -> Attr {
        Attr::with_ino(next_ino(), mode, dev)
    }

    pub fn with_ino(ino: u64, mode: u32, dev: u64) -> Attr {
        Attr { ino, mode, dev, time: super::host::host_clock(libc::CLOCK_REALTIME) }
    }

    pub fn stat(&self, owner: Owner, nlink: u64, rdev: u64) -> Stat {
        let t = self.time;
        Stat {
            dev: self.dev,
            ino: self.ino,
            nlink,
            mode: self.mode,
            uid: owner.uid,
            gid: owner.gid,
            rdev,
            blksize: 1024,
            atime: t.sec,
            atime_nsec: t.nsec,
            mtime: t.sec,
            mtime_nsec: t.nsec,
            ctime: t.sec,
            ctime_nsec: t.nsec,
            ..Stat::default()
        }
    }
}

/// Says who owns a node, or `ENOENT` once what it shows is gone.
pub type OwnerFn = Arc<dyn Fn() -> SysResult<Owner> + Send + Sync>;
/// Generates a file's content.
pub type ContentFn = Arc<dyn Fn() -> SysResult<Vec<u8>> + Send + Sync>;
/// Takes what one `write` call wrote to a file.
pub type WriteFn = Arc<dyn Fn(&[u8]) -> SysResult<()> + Send + Sync>;
/// Computes a link's target.
pub type TargetFn = Arc<dyn Fn() -> SysResult<Vec<u8>> + Send + Sync>;

fn owner_of(owner: &Option<OwnerFn>) -> SysResult<Owner> {
    owner.as_ref().map_or(Ok(Owner::default()), |f| f())
}

fn wants_write(flags: i32) -> bool {
    matches!(flags & libc::O_ACCMODE, libc::O_WRONLY | libc::O_RDWR)
}

fn wants_read(flags: i32) -> bool {
    matches!(flags & libc::O_ACCMODE, libc::O_RDONLY | libc::O_RDWR)
}

// ---------------------------------------------------------------------------------------------
// Directories

/// A fixed directory of synthetic inodes.
pub struct Dir {
    attr: Attr,
    entries: BTreeMap<Vec<u8>, Arc<dyn Inode>>,
}

impl Dir {
    /// A directory (mode 0755) on the sentry's generic synthetic device.
    pub fn new(entries: Vec<(&str, Arc<dyn Inode>)>) -> Arc<Dir> {
        Dir::with(Attr::new(S_IFDIR | 0o755, SYNTHETIC_DEV), entries)
    }

    /// A directory with the given attributes (the mode's type bits should be `S_IFDIR`).
    pub fn with(attr: Attr, entries: Vec<(&str, Arc<dyn Inode>)>) -> Arc<Dir> {
        let entries = entries.into_iter().map(|(n, i)| (n.as_bytes().to_vec(), i)).collect();
        Arc::new(Dir { attr, entries })
    }
}

impl Inode for Dir {
    fn stat(&self) -> SysResult<Stat> {
        let subdirs = self.entries.values().filter(|i| i.file_type() == S_IFDIR).count();
        Ok(self.attr.stat(Owner::default(), 2 + subdirs as u64, 0))
    }

    fn file_type(&self) -> u32 {
        S_IFDIR
    }

    fn statfs(&self) -> SysResult<StatFs> {
        statfs_of(self.attr.dev)
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        self.entries.get(name).cloned().ok_or(Errno::ENOENT)
    }

    fn open(&self, flags: i32) -> SysResult<Arc<dyn FileOps>> {
        if wants_write(flags) {
            return Err(Errno::EISDIR);
        }
        let mut list = Vec::new();
        for (name, inode) in &self.entries {
            // A node whose subject has gone (a process) is left out.
            if let Ok(st) = inode.stat() {
                list.push(DirEntry { ino: st.ino, next: 0, kind: dtype(st.mode), name: name.clone() });
            }
        }
        Ok(DirFile::fixed(self.stat()?, list))
    }
}

/// Computes the entries of a [`DynDir`].
pub trait DirSource: Send + Sync {
    /// The entries now, without `.` and `..` (`next` is filled in by the directory).
    fn list(&self) -> SysResult<Vec<DirEntry>>;

    /// The node called `name`. Sources whose names come and go should hand out a node that
    /// checks, at each use, whether its subject still exists (its owner closure), rather than
    /// `ENOENT`: the dentry cache remembers a negative answer for ever.
    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>>;

    /// Owner of the directory; `ENOENT` once its subject has gone.
    fn owner(&self) -> SysResult<Owner> {
        Ok(Owner::default())
    }

    /// The concrete source, for a filesystem to recognise its own directories.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

/// A directory whose entries are computed at every lookup and `readdir`.
pub struct DynDir {
    attr: Attr,
    source: Arc<dyn DirSource>,
}

impl DynDir {
    pub fn new(attr: Attr, source: impl DirSource + 'static) -> Arc<DynDir> {
        Arc::new(DynDir { attr, source: Arc::new(source) })
    }

    /// What computes the entries.
    pub fn source(&self) -> &dyn DirSource {
        &*self.source
    }
}

impl Inode for DynDir {
    fn stat(&self) -> SysResult<Stat> {
        Ok(self.attr.stat(self.source.owner()?, 2, 0))
    }

    fn file_type(&self) -> u32 {
        S_IFDIR
    }

    fn statfs(&self) -> SysResult<StatFs> {
        statfs_of(self.attr.dev)
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        self.source.lookup(name)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn open(&self, flags: i32) -> SysResult<Arc<dyn FileOps>> {
        if wants_write(flags) {
            return Err(Errno::EISDIR);
        }
        let stat = self.stat()?;
        Ok(Arc::new(DirFile { stat, source: Some(self.source.clone()), list: Mutex::new(None) }))
    }
}

/// An open synthetic directory. A dynamic one lists its entries when reading starts (cookie
/// 0), as Linux does: `/proc/self/fd` then shows the descriptor it is read through.
struct DirFile {
    stat: Stat,
    source: Option<Arc<dyn DirSource>>,
    list: Mutex<Option<Vec<DirEntry>>>,
}

impl DirFile {
    fn fixed(stat: Stat, entries: Vec<DirEntry>) -> Arc<DirFile> {
        Arc::new(DirFile { stat, source: None, list: Mutex::new(Some(Self::numbered(stat.ino, entries))) })
    }

    /// `.` and `..`, then `entries`, each with the cookie that continues after it.
    fn numbered(ino: u64, entries: Vec<DirEntry>) -> Vec<DirEntry> {
        let dots = [b".".to_vec(), b"..".to_vec()].map(|name| DirEntry { ino, next: 0, kind: libc::DT_DIR, name });
        let mut list: Vec<DirEntry> = dots.into_iter().chain(entries).collect();
        for (i, e) in list.iter_mut().enumerate() {
            e.next = i as u64 + 1;
        }
        list
    }
}

impl FileOps for DirFile {
    fn read(&self, _offset: u64, _buf: &mut [u8]) -> SysResult<usize> {
        Err(Errno::EISDIR)
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }

    fn readdir(&self, cookie: u64) -> SysResult<Vec<DirEntry>> {
        let mut list = self.list.lock().unwrap();
        if let Some(source) = &self.source {
            if cookie == 0 || list.is_none() {
                *list = Some(Self::numbered(self.stat.ino, source.list()?));
            }
        }
        let entries = list.as_deref().unwrap_or_default();
        Ok(entries.iter().skip(usize::try_from(cookie).unwrap_or(usize::MAX)).cloned().collect())
    }
}

// ---------------------------------------------------------------------------------------------
// Generated files

/// A file whose content is generated when it is opened; writable only with a write closure.
pub struct GenFile {
    attr: Attr,
    owner: Option<OwnerFn>,
    content: ContentFn,
    write: Option<WriteFn>,
}

impl GenFile {
    /// A read-only regular file with permissions `perm` (e.g. `0o444`).
    pub fn new(perm: u32, dev: u64, content: impl Fn() -> SysResult<Vec<u8>> + Send + Sync + 'static) -> GenFile {
        GenFile::with(Attr::new(S_IFREG | perm, dev), Arc::new(content))
    }

    pub fn with(attr: Attr, content: ContentFn) -> GenFile {
        GenFile { attr, owner: None, content, write: None }
    }

    /// Accepts writes: each `write` call hands its bytes to `write`.
    pub fn writable(mut self, write: impl Fn(&[u8]) -> SysResult<()> + Send + Sync + 'static) -> GenFile {
        self.write = Some(Arc::new(write));
        self
    }

    pub fn owned_by(mut self, owner: OwnerFn) -> GenFile {
        self.owner = Some(owner);
        self
    }

    pub fn build(self) -> Arc<GenFile> {
        Arc::new(self)
    }
}

impl Inode for GenFile {
    fn stat(&self) -> SysResult<Stat> {
        Ok(self.attr.stat(owner_of(&self.owner)?, 1, 0))
    }

    fn file_type(&self) -> u32 {
        S_IFREG
    }

    fn statfs(&self) -> SysResult<StatFs> {
        statfs_of(self.attr.dev)
    }

    fn open(&self, flags: i32) -> SysResult<Arc<dyn FileOps>> {
        let stat = self.stat()?;
        if wants_write(flags) && self.write.is_none() {
            return Err(Errno::EACCES);
        }
        // A write-only open does not need (and must not fail on) the content.
        let data = if wants_read(flags) { (self.content)()? } else { Vec::new() };
        Ok(Arc::new(Snapshot { stat, data, write: self.write.clone() }))
    }
}

/// An open [`GenFile`]: reads come from the content generated at open.
struct Snapshot {
    stat: Stat,
    data: Vec<u8>,
    write: Option<WriteFn>,
}

impl FileOps for Snapshot {
    fn read(&self, offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.data.len());
        let n = buf.len().min(self.data.len() - start);
        buf[..n].copy_from_slice(&self.data[start..start + n]);
        Ok(n)
    }

    fn write(&self, _offset: u64, buf: &[u8]) -> SysResult<usize> {
        let write = self.write.as_ref().ok_or(Errno::EBADF)?;
        write(buf)?;
        Ok(buf.len())
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }
}

// ---------------------------------------------------------------------------------------------
// Symbolic links

/// A symbolic link whose target is computed at every `readlink`.
pub struct Symlink {
    attr: Attr,
    owner: Option<OwnerFn>,
    target: TargetFn,
}

impl Symlink {
    pub fn new(dev: u64, target: impl Fn() -> SysResult<Vec<u8>> + Send + Sync + 'static) -> Symlink {
        Symlink::with(Attr::new(S_IFLNK | 0o777, dev), Arc::new(target))
    }

    pub fn with(attr: Attr, target: TargetFn) -> Symlink {
        Symlink { attr, owner: None, target }
    }

    /// A link to a fixed target.
    pub fn fixed(dev: u64, target: &str) -> Arc<Symlink> {
        let t = target.as_bytes().to_vec();
        Arc::new(Symlink::new(dev, move || Ok(t.clone())))
    }

    pub fn owned_by(mut self, owner: OwnerFn) -> Symlink {
        self.owner = Some(owner);
        self
    }

    pub fn build(self) -> Arc<Symlink> {
        Arc::new(self)
    }
}

impl Inode for Symlink {
    fn stat(&self) -> SysResult<Stat> {
        Ok(self.attr.stat(owner_of(&self.owner)?, 1, 0))
    }

    fn file_type(&self) -> u32 {
        S_IFLNK
    }

    fn statfs(&self) -> SysResult<StatFs> {
        statfs_of(self.attr.dev)
    }

    fn readlink(&self) -> SysResult<Vec<u8>> {
        owner_of(&self.owner)?;
        (self.target)()
    }

    fn open(&self, _flags: i32) -> SysResult<Arc<dyn FileOps>> {
        Err(Errno::ELOOP)
    }
}

// ---------------------------------------------------------------------------------------------
// Devices

/// The character devices of `/dev`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Null,
    Zero,
    Full,
    Random,
    Urandom,
    /// The caller's controlling terminal: a pseudo-terminal, or the host terminal (the
    /// caller's standard input) in a session started from outside the sandbox.
    Tty,
    /// The console: the caller's standard input if that is a terminal.
    Console,
    /// The pseudo-terminal multiplexer: each open makes a pseudo-terminal (`super::pty`).
    Ptmx,
}

impl Device {
    fn numbers(self) -> (u32, u32) {
        match self {
            Device::Null => (1, 3),
            Device::Zero => (1, 5),
            Device::Full => (1, 7),
            Device::Random => (1, 8),
            Device::Urandom => (1, 9),
            Device::Tty => (5, 0),
            Device::Console => (5, 1),
            Device::Ptmx => (5, 2),
        }
    }

    pub fn rdev(self) -> u64 {
        let (major, minor) = self.numbers();
        libc::makedev(major, minor)
    }

    /// The device a device number names, if the sentry has it (for `mknod`ed nodes).
    pub fn from_rdev(rdev: u64) -> Option<Device> {
        const ALL: [Device; 8] =
            [Device::Null, Device::Zero, Device::Full, Device::Random, Device::Urandom, Device::Tty, Device::Console, Device::Ptmx];
        ALL.into_iter().find(|d| d.numbers() == (libc::major(rdev), libc::minor(rdev)))
    }

    fn perm(self) -> u32 {
        match self {
            Device::Console => 0o600,
            _ => 0o666,
        }
    }
}

/// Whether an open file is a terminal: a character device with a terminal's major number
/// (virtual consoles 4, `/dev/tty` and friends 5, pseudo-terminal slaves 136–143).
pub fn is_terminal(file: &dyn FileOps) -> bool {
    file.stat().is_ok_and(|st| st.mode & S_IFMT == S_IFCHR && matches!(libc::major(st.rdev), 4 | 5 | 136..=143))
}

pub struct DeviceInode {
    device: Device,
    stat: Stat,
}

impl DeviceInode {
    pub fn new(device: Device) -> Arc<DeviceInode> {
        let attr = Attr::new(S_IFCHR | device.perm(), SYNTHETIC_DEV);
        Arc::new(DeviceInode { device, stat: attr.stat(Owner::default(), 1, device.rdev()) })
    }
}

impl Inode for DeviceInode {
    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }

    fn file_type(&self) -> u32 {
        S_IFCHR
    }

    fn statfs(&self) -> SysResult<StatFs> {
        statfs_of(self.stat.dev)
    }

    fn open(&self, flags: i32) -> SysResult<Arc<dyn FileOps>> {
        match self.device {
            Device::Tty | Device::Console => {
                let caller = super::proc::caller()?;
                if self.device == Device::Tty {
                    let sid = caller.process.state.lock().unwrap().sid;
                    if let Some(pty) = super::pty::controlling(&caller.kernel, sid) {
                        return pty.open_slave(flags, Some(self.stat));
                    }
                    if !super::pty::on_host_terminal(&caller.kernel, &caller.process) {
                        return Err(Errno::ENXIO);
                    }
                }
                // The host terminal: the caller's standard input stands for it.
                let files = caller.process.state.lock().unwrap().resources.as_ref().map(|r| r.files.clone()).ok_or(Errno::ENXIO)?;
                let stdin = files.lock().unwrap().get(0).map_err(|_| Errno::ENXIO)?;
                if is_terminal(stdin.ops.as_ref()) {
                    Ok(stdin.ops.clone())
                } else {
                    Err(Errno::ENXIO)
                }
            }
            Device::Ptmx => super::pty::Devpts::global().open_master(self.stat),
            device => Ok(Arc::new(DeviceFile { device, stat: self.stat })),
        }
    }
}

struct DeviceFile {
    device: Device,
    stat: Stat,
}

impl FileOps for DeviceFile {
    fn read(&self, _offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        match self.device {
            Device::Zero | Device::Full => {
                buf.fill(0);
                Ok(buf.len())
            }
            Device::Random | Device::Urandom => {
                fill_random(buf);
                Ok(buf.len())
            }
            _ => Ok(0),
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

/// The sentry's `/dev`. `shm` is an empty directory for a tmpfs to be mounted on; `pts` is the
/// pseudo-terminal filesystem (a filesystem of its own, as if mounted there).
pub fn devfs() -> Arc<Dir> {
    super::proc::register_fs(SYNTHETIC_DEV, ("tmpfs", "tmpfs", "rw,nosuid,relatime", "rw,size=65536k,mode=755"));
    let dev = |d| -> Arc<dyn Inode> { DeviceInode::new(d) };
    let link = |t: &str| -> Arc<dyn Inode> { Symlink::fixed(SYNTHETIC_DEV, t) };
    let empty = || -> Arc<dyn Inode> { Dir::new(vec![]) };
    Dir::new(vec![
        ("console", dev(Device::Console)),
        ("fd", link("/proc/self/fd")),
        ("full", dev(Device::Full)),
        ("null", dev(Device::Null)),
        ("ptmx", dev(Device::Ptmx)),
        ("pts", super::pty::Devpts::global().root()),
        ("random", dev(Device::Random)),
        ("shm", empty()),
        ("stderr", link("/proc/self/fd/2")),
        ("stdin", link("/proc/self/fd/0")),
        ("stdout", link("/proc/self/fd/1")),
        ("tty", dev(Device::Tty)),
        ("urandom", dev(Device::Urandom)),
        ("zero", dev(Device::Zero)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(f: &Arc<dyn FileOps>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            let n = f.read(out.len() as u64, &mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    fn names(f: &Arc<dyn FileOps>) -> Vec<String> {
        f.readdir(0).unwrap().into_iter().map(|e| String::from_utf8(e.name).unwrap()).collect()
    }

    #[test]
    fn generated_files_snapshot_their_content_at_open() {
        let n = Arc::new(AtomicU64::new(0));
        let c = n.clone();
        let file = GenFile::new(0o444, 7, move || Ok(format!("count {}\n", c.fetch_add(1, Ordering::Relaxed)).into_bytes())).build();
        let a = file.open(libc::O_RDONLY).unwrap();
        let b = file.open(libc::O_RDONLY).unwrap();
        assert_eq!(read_all(&a), b"count 0\n", "read in small pieces at increasing offsets");
        assert_eq!(read_all(&a), b"count 0\n", "the snapshot does not change");
        assert_eq!(read_all(&b), b"count 1\n");
        let st = file.stat().unwrap();
        assert_eq!((st.mode, st.size, st.nlink, st.dev), (S_IFREG | 0o444, 0, 1, 7));
        assert_eq!(file.open(libc::O_WRONLY).err(), Some(Errno::EACCES));
        assert_eq!(a.write(0, b"x").err(), Some(Errno::EBADF));
    }

    #[test]
    fn writable_files_hand_each_write_to_their_closure() {
        let got = Arc::new(std::sync::Mutex::new(Vec::new()));
        let g = got.clone();
        let file = GenFile::new(0o644, 7, || Ok(b"old\n".to_vec()))
            .writable(move |b| {
                g.lock().unwrap().push(b.to_vec());
                Ok(())
            })
            .build();
        let w = file.open(libc::O_WRONLY | libc::O_TRUNC).unwrap();
        assert_eq!(w.write(0, b"new\n").unwrap(), 4);
        assert_eq!(*got.lock().unwrap(), vec![b"new\n".to_vec()]);
    }

    #[test]
    fn owners_are_asked_at_every_use_and_can_say_gone() {
        let alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let a = alive.clone();
        let owner: OwnerFn = Arc::new(move || if a.load(Ordering::Relaxed) { Ok(Owner { uid: 5, gid: 6 }) } else { Err(Errno::ENOENT) });
        let file = GenFile::new(0o444, 7, || Ok(Vec::new())).owned_by(owner.clone()).build();
        let link = Symlink::new(7, || Ok(b"target".to_vec())).owned_by(owner).build();
        assert_eq!((file.stat().unwrap().uid, file.stat().unwrap().gid), (5, 6));
        assert_eq!(link.readlink().unwrap(), b"target");
        assert_eq!(link.stat().unwrap().mode, S_IFLNK | 0o777);
        alive.store(false, Ordering::Relaxed);
        assert_eq!(file.stat().err(), Some(Errno::ENOENT));
        assert_eq!(file.open(libc::O_RDONLY).err(), Some(Errno::ENOENT));
        assert_eq!(link.readlink().err(), Some(Errno::ENOENT));
    }

    struct Counting(Arc<AtomicU64>);

    impl DirSource for Counting {
        fn list(&self) -> SysResult<Vec<DirEntry>> {
            let n = self.0.load(Ordering::Relaxed);
            Ok((0..n).map(|i| DirEntry { ino: 100 + i, next: 0, kind: libc::DT_REG, name: i.to_string().into_bytes() }).collect())
        }
        fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
            let i: u64 = std::str::from_utf8(name).ok().and_then(|s| s.parse().ok()).ok_or(Errno::ENOENT)?;
            if i >= self.0.load(Ordering::Relaxed) {
                return Err(Errno::ENOENT);
            }
            Ok(GenFile::new(0o444, 7, move || Ok(i.to_string().into_bytes())).build())
        }
    }

    #[test]
    fn dynamic_directories_list_what_is_there_when_reading_starts() {
        let n = Arc::new(AtomicU64::new(2));
        let dir = DynDir::new(Attr::new(S_IFDIR | 0o555, 7), Counting(n.clone()));
        let f = dir.open(libc::O_RDONLY).unwrap();
        n.store(3, Ordering::Relaxed);
        assert_eq!(names(&f), [".", "..", "0", "1", "2"], "listed at the first readdir, not at open");
        n.store(4, Ordering::Relaxed);
        let rest: Vec<u64> = f.readdir(3).unwrap().iter().map(|e| e.next).collect();
        assert_eq!(rest, [4, 5], "a continued listing keeps its snapshot; cookies follow the entry");
        assert_eq!(names(&f).len(), 6, "rewinding lists again");
        assert!(dir.lookup(b"3").is_ok());
        assert_eq!(dir.lookup(b"4").err(), Some(Errno::ENOENT));
        assert_eq!(dir.open(libc::O_RDWR).err(), Some(Errno::EISDIR));
        assert_eq!(dir.stat().unwrap().mode, S_IFDIR | 0o555);
    }

    #[test]
    fn devfs_has_the_usual_nodes_with_linux_numbers() {
        let dev = devfs();
        let d = dev.open(libc::O_RDONLY).unwrap();
        let listed: Vec<(String, u8)> = d.readdir(0).unwrap().into_iter().map(|e| (String::from_utf8(e.name).unwrap(), e.kind)).collect();
        for (name, kind) in [("null", libc::DT_CHR), ("tty", libc::DT_CHR), ("pts", libc::DT_DIR), ("stdin", libc::DT_LNK), ("shm", libc::DT_DIR)] {
            assert!(listed.contains(&(name.to_string(), kind)), "{name} missing from {listed:?}");
        }
        let rdev = |n: &[u8]| dev.lookup(n).unwrap().stat().unwrap().rdev;
        assert_eq!(rdev(b"tty"), libc::makedev(5, 0));
        assert_eq!(rdev(b"ptmx"), libc::makedev(5, 2));
        assert_eq!(dev.lookup(b"stdout").unwrap().readlink().unwrap(), b"/proc/self/fd/1");
        assert_eq!(dev.lookup(b"fd").unwrap().readlink().unwrap(), b"/proc/self/fd");
        assert_eq!(dev.lookup(b"ptmx").unwrap().open(libc::O_RDWR).err(), Some(Errno::ENODEV), "outside a task");
        assert_eq!(dev.lookup(b"pts").unwrap().lookup(b"ptmx").unwrap().stat().unwrap().mode, S_IFCHR);
        assert_eq!(Device::from_rdev(libc::makedev(1, 9)), Some(Device::Urandom));
        assert_eq!(Device::from_rdev(libc::makedev(9, 9)), None);
    }
}
