//! `/proc`, built from the sentry's own state; the host's `/proc` is never read.
//!
//! Everything here is made of the framework in [`super::synthetic`]: the root is a dynamic
//! directory listing the live pids beside fixed entries; per-process directories are in
//! [`pid`], `/proc/sys` in [`sysctl`], the text formats in [`fmt`].
//!
//! **Whose `/proc/self`?** Inode methods get no task, so each task records itself, once, on
//! the sentry thread it runs on (every task has a thread of its own) with [`set_current`];
//! [`caller`] gives it back.
//!
//! **Mounts** made at boot are found by probing the usual mount points (and those given to
//! [`note_mount_point`]) for a change of device number; those made by `mount(2)` come from
//! the VFS's mount list ([`crate::vfs::mount`]).
//!
//! Lock order: nothing here holds a process's `state` lock while taking another lock.

mod cpu;
pub mod fmt;
mod pid;
mod sysctl;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Instant;

use super::synthetic::{Attr, Dir, DirSource, DynDir, GenFile, Symlink};
use crate::errno::{Errno, SysResult};
use crate::kernel::process::Process;
use crate::kernel::Kernel;
use crate::vfs::walk::Walker;
use crate::vfs::{Dentry, DirEntry, Inode, S_IFDIR};

pub use pid::{parse_number, process_dir_pid};

/// `statfs` type of `/proc`.
const PROC_SUPER_MAGIC: u64 = 0x9fa0;

/// Memory the sandbox reports as installed (`/proc/meminfo`, and what `sysinfo` should say).
pub const MEM_TOTAL: u64 = 4 << 30;

// ---------------------------------------------------------------------------------------------
// The calling task

thread_local! {
    static CURRENT: RefCell<Option<(Weak<Kernel>, i32, i32)>> = const { RefCell::new(None) };
}

/// Records that the task `tid` of process `pid` is the one running on this sentry thread (and
/// notes the process's start). Cheap when nothing changed, so it may be called at every system
/// call as well as once per thread.
pub fn set_current(kernel: &Arc<Kernel>, pid: i32, tid: i32) {
    let changed = CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        let same = c.as_ref().is_some_and(|(k, p, t)| *p == pid && *t == tid && std::ptr::eq(k.as_ptr(), Arc::as_ptr(kernel)));
        if !same {
            *c = Some((Arc::downgrade(kernel), pid, tid));
        }
        !same
    });
    if changed {
        if let Some(p) = kernel.process(pid) {
            start_of(&p);
        }
    }
}

/// Forgets this thread's task (tests).
pub fn clear_current() {
    CURRENT.with(|c| *c.borrow_mut() = None);
}

/// The task on whose behalf `/proc` is being read.
pub struct Caller {
    pub kernel: Arc<Kernel>,
    pub process: Arc<Process>,
    pub tid: i32,
}

impl Caller {
    pub fn pid(&self) -> i32 {
        self.process.pid
    }

    /// The caller's root directory, from which the paths of links are given.
    fn root(&self) -> Arc<Dentry> {
        let fs = self.process.state.lock().unwrap().resources.as_ref().map(|r| r.fs.clone());
        fs.map_or_else(|| self.kernel.root.clone(), |fs| fs.lock().unwrap().root.clone())
    }
}

/// The task making the current system call on this thread; `ENOENT` outside of one.
pub fn caller() -> SysResult<Caller> {
    let (kernel, pid, tid) = CURRENT.with(|c| c.borrow().clone()).ok_or(Errno::ENOENT)?;
    let kernel = kernel.upgrade().ok_or(Errno::ENOENT)?;
    let process = kernel.process(pid).ok_or(Errno::ENOENT)?;
    Ok(Caller { kernel, process, tid })
}

// ---------------------------------------------------------------------------------------------
// Process start times (the kernel records none yet)

static STARTS: Mutex<BTreeMap<i32, (Weak<Process>, Instant)>> = Mutex::new(BTreeMap::new());

/// When `p` started, as first seen here: when its first task thread started running (see
/// [`set_current`]).
fn start_of(p: &Arc<Process>) -> Instant {
    let mut starts = STARTS.lock().unwrap();
    if let Some((w, t)) = starts.get(&p.pid) {
        if std::ptr::eq(w.as_ptr(), Arc::as_ptr(p)) {
            return *t;
        }
    }
    if starts.len() >= 1024 {
        starts.retain(|_, (w, _)| w.strong_count() > 0);
    }
    let now = Instant::now();
    starts.insert(p.pid, (Arc::downgrade(p), now));
    now
}

// ---------------------------------------------------------------------------------------------
// Mounts

/// Filesystems known by device number: (type, source, mount options, superblock options).
type FsName = (&'static str, &'static str, &'static str, &'static str);
static FS_NAMES: Mutex<BTreeMap<u64, FsName>> = Mutex::new(BTreeMap::new());
static EXTRA_MOUNT_POINTS: Mutex<BTreeSet<Vec<u8>>> = Mutex::new(BTreeSet::new());

/// Names the filesystem whose files carry device number `dev`, for the mount table.
pub fn register_fs(dev: u64, name: FsName) {
    FS_NAMES.lock().unwrap().insert(dev, name);
}

/// Adds a mount point (an absolute path) that the mount table should look at, beyond the usual
/// ones: volumes given with `-v`.
pub fn note_mount_point(path: &[u8]) {
    EXTRA_MOUNT_POINTS.lock().unwrap().insert(path.to_vec());
}

/// Where filesystems are usually mounted.
const USUAL_MOUNT_POINTS: &[&str] = &[
    "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/proc", "/sys", "/sys/fs/cgroup", "/tmp", "/run", "/run/lock", "/var/tmp", "/home",
    "/mnt", "/media", "/opt", "/srv", "/root", "/data", "/workspace",
];

fn fs_name(inode: &dyn Inode, dev: u64) -> FsName {
    if let Some(n) = FS_NAMES.lock().unwrap().get(&dev) {
        return *n;
    }
    let any = inode.as_any();
    if any.is_some_and(|a| a.is::<super::tmpfs::TmpfsInode>()) {
        ("tmpfs", "tmpfs", "rw,nosuid,nodev,relatime", "rw")
    } else if any.is_some_and(|a| a.is::<super::overlay::OverlayInode>()) {
        ("overlay", "overlay", "rw,relatime", "rw")
    } else {
        ("9p", "none", "rw,relatime", "rw")
    }
}

/// The mounts of the sandbox, root first, each before those under it.
pub fn mount_table(kernel: &Kernel) -> Vec<fmt::Mount> {
    let root = kernel.root.mounted_root();
    let walker = Walker { root: &root };
    let noted = EXTRA_MOUNT_POINTS.lock().unwrap().clone();
    let mut points: BTreeSet<Vec<u8>> = USUAL_MOUNT_POINTS.iter().map(|p| p.as_bytes().to_vec()).collect();
    points.extend(noted.iter().cloned());
    let mut found: Vec<(Vec<u8>, Arc<Dentry>)> = vec![(b"/".to_vec(), root.clone())];
    for point in points {
        let Some(slash) = point.iter().rposition(|&b| b == b'/') else { continue };
        let (parent, name) = (&point[..slash.max(1)], &point[slash + 1..]);
        let Ok(dir) = walker.resolve(&root, parent, true) else { continue };
        let Ok(d) = dir.child(name) else { continue };
        let (Ok(st), Ok(pst)) = (d.inode.stat(), dir.inode.stat()) else { continue };
        // A filesystem from another device than its directory's (or a file bind-mounted at a
        // noted point: an overlay may show a plain file with its lower layer's device).
        let kind_ok = st.mode & libc::S_IFMT == S_IFDIR || noted.contains(&point);
        if kind_ok && st.dev != pst.dev {
            found.push((point, d));
        }
    }
    // Mounts made by mount(2), in the order they were made, with what they were made as.
    let made: Vec<_> = crate::vfs::mount::of_tree(&kernel.root).into_iter().filter_map(|m| Some((m.root.path_from(&root), m.root.clone(), m.label?))).collect();
    found.retain(|(p, _)| p == b"/" || !made.iter().any(|(point, _, _)| point == p));
    let mut labels = Vec::new();
    for (point, d, label) in made {
        labels.push((found.len(), label));
        found.push((point, d));
    }
    let mut out: Vec<fmt::Mount> = Vec::new();
    for (i, (point, d)) in found.iter().enumerate() {
        let dev = d.inode.stat().map(|s| s.dev).unwrap_or(0);
        let (fstype, source, options, super_options) = match labels.iter().find(|(at, _)| *at == i) {
            Some((_, l)) if l.read_only => (l.fstype, l.source, "ro,relatime", "ro"),
            Some((_, l)) => (l.fstype, l.source, "rw,relatime", "rw"),
            None => fs_name(d.inode.as_ref(), dev),
        };
        let under = |p: &[u8]| p == b"/" || (point.starts_with(p) && point.get(p.len()) == Some(&b'/'));
        let parent = out.iter().rev().find(|m| m.point != *point && under(&m.point)).map_or(0, |m| m.id);
        out.push(fmt::Mount { id: u32::try_from(i).unwrap_or(0) + 1, parent, dev, point: point.clone(), fstype, source, options, super_options });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The filesystem

/// What every node of one `/proc` shares.
struct Shared {
    dev: u64,
    boot_id: String,
    cpu: OnceLock<cpu::CpuInfo>,
    /// `/proc/PID/net`: the same stub files for every process.
    net: Arc<Dir>,
}

impl Shared {
    /// A read-only text file regenerated at each open for the calling task.
    fn text(&self, content: impl Fn(&Caller) -> SysResult<String> + Send + Sync + 'static) -> Arc<dyn Inode> {
        GenFile::new(0o444, self.dev, move || content(&caller()?).map(String::into_bytes)).build()
    }

    /// A read-only text file that does not depend on the caller.
    fn fixed_text(&self, content: impl Fn() -> String + Send + Sync + 'static) -> Arc<dyn Inode> {
        GenFile::new(0o444, self.dev, move || Ok(content().into_bytes())).build()
    }
}

fn net_dir(dev: u64) -> Arc<Dir> {
    const FILES: [(&str, &str); 6] = [
        ("dev", "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"),
        ("tcp", "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     \n"),
        ("tcp6", "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"),
        ("udp", "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            \n"),
        ("udp6", "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"),
        ("unix", "Num       RefCount Protocol Flags    Type St Inode Path\n"),
    ];
    let files = FILES.iter().map(|&(name, text)| (name, GenFile::new(0o444, dev, move || Ok(text.as_bytes().to_vec())).build() as Arc<dyn Inode>)).collect();
    Dir::with(Attr::new(S_IFDIR | 0o555, dev), files)
}

/// Total and free memory, in bytes: the sandbox's fixed size less what its address spaces map.
pub fn memory_figures(kernel: &Kernel) -> (u64, u64) {
    let mut seen = BTreeSet::new();
    let mut used = 0u64;
    for p in kernel.processes() {
        let Some(r) = p.state.lock().unwrap().resources.clone() else { continue };
        if seen.insert(Arc::as_ptr(&r.mm) as usize) {
            used += r.mm.vmas().iter().filter(|(_, v)| v.prot != 0).map(|(s, v)| v.end - s).sum::<u64>();
        }
    }
    (MEM_TOTAL, MEM_TOTAL.saturating_sub(used))
}

fn cpus() -> usize {
    super::host::host_cpus()
}

/// Centiseconds since the kernel booted.
fn uptime_centis(kernel: &Kernel) -> u64 {
    u64::try_from(kernel.boot_time.elapsed().as_millis() / 10).unwrap_or(u64::MAX)
}

/// The root of `/proc`: fixed entries, then one directory per live pid.
struct Root {
    fs: Arc<Shared>,
    statics: BTreeMap<Vec<u8>, Arc<dyn Inode>>,
}

impl DirSource for Root {
    fn list(&self) -> SysResult<Vec<DirEntry>> {
        let mut out = Vec::new();
        for (name, inode) in &self.statics {
            let st = inode.stat()?;
            out.push(DirEntry { ino: st.ino, next: 0, kind: super::synthetic::dtype(st.mode), name: name.clone() });
        }
        if let Ok(c) = caller() {
            for p in c.kernel.processes() {
                out.push(DirEntry { ino: pid::ino(p.pid, 0, 1), next: 0, kind: libc::DT_DIR, name: p.pid.to_string().into_bytes() });
            }
        }
        Ok(out)
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        if let Some(i) = self.statics.get(name) {
            return Ok(i.clone());
        }
        match parse_number(name) {
            Some(pid) if pid > 0 && pid < crate::kernel::PID_MAX => Ok(pid::process_dir(&self.fs, pid)),
            _ => Err(Errno::ENOENT),
        }
    }
}

const FILESYSTEMS: &str = "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tdevtmpfs\nnodev\tdevpts\nnodev\tcgroup2\nnodev\tmqueue\nnodev\toverlay\nnodev\t9p\n";

/// A new `/proc`.
pub fn procfs() -> Arc<DynDir> {
    let dev = super::tmpfs::anon_dev();
    register_fs(dev, ("proc", "proc", "rw,nosuid,nodev,noexec,relatime", "rw"));
    super::synthetic::register_magic(dev, PROC_SUPER_MAGIC);
    let mut id = [0u8; 16];
    super::host::fill_random(&mut id);
    let fs = Arc::new(Shared { dev, boot_id: fmt::uuid(id), cpu: OnceLock::new(), net: net_dir(dev) });
    let f = fs.clone();
    let cpuinfo = fs.fixed_text(move || cpu::cpuinfo(f.cpu.get_or_init(cpu::probe), cpus()));
    let meminfo = fs.text(|c| {
        let (total, free) = memory_figures(&c.kernel);
        Ok(fmt::meminfo(total, free))
    });
    let uptime = fs.text(|c| Ok(fmt::uptime(uptime_centis(&c.kernel), cpus())));
    let loadavg = fs.text(|c| {
        let table = c.kernel.table.lock().unwrap();
        let last = table.tids.iter().next_back().copied().unwrap_or(0);
        Ok(fmt::loadavg(1, table.live_threads, last))
    });
    let stat = fs.text(|c| {
        let up = uptime_centis(&c.kernel);
        let now = super::host::host_clock(libc::CLOCK_REALTIME).sec;
        let boot = now - i64::try_from(up / 100).unwrap_or(0);
        let last = c.kernel.table.lock().unwrap().tids.iter().next_back().copied().unwrap_or(0);
        Ok(fmt::kernel_stat(up * fmt::CLK_TCK / 100, cpus(), boot, last, 1))
    });
    let version = fs.fixed_text(|| format!("Linux version {} (sandbox@sandbox) (sandbox sentry) {}\n", crate::kernel::RELEASE, crate::kernel::VERSION));
    let filesystems = fs.fixed_text(|| FILESYSTEMS.to_string());
    let locks = fs.text(|_| Ok(crate::vfs::lock::proc_text()));
    let swaps = fs.fixed_text(|| "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n".to_string());
    let self_link = Symlink::new(dev, || Ok(caller()?.pid().to_string().into_bytes())).build();
    let thread_self = Symlink::new(dev, || {
        let c = caller()?;
        Ok(format!("{}/task/{}", c.pid(), c.tid).into_bytes())
    })
    .build();
    let entries: Vec<(&str, Arc<dyn Inode>)> = vec![
        ("cpuinfo", cpuinfo),
        ("filesystems", filesystems),
        ("loadavg", loadavg),
        ("locks", locks),
        ("meminfo", meminfo),
        ("mounts", Symlink::fixed(dev, "self/mounts")),
        ("net", Symlink::fixed(dev, "self/net")),
        ("self", self_link),
        ("stat", stat),
        ("swaps", swaps),
        ("sys", sysctl::tree(&fs)),
        ("thread-self", thread_self),
        ("uptime", uptime),
        ("version", version),
    ];
    let statics = entries.into_iter().map(|(n, i)| (n.as_bytes().to_vec(), i)).collect();
    DynDir::new(Attr::new(S_IFDIR | 0o555, dev), Root { fs, statics })
}
