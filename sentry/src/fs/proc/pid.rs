//! `/proc/PID` and `/proc/PID/task/TID`: one directory per process or thread, its files made
//! from the process's state when they are opened.
//!
//! A node names its subject by number and looks it up at every use, so that the dentry cache
//! may keep it: once the process is reaped the node answers `ENOENT`.

use std::sync::Arc;

use super::fmt::{self, Map, TaskView};
use super::{caller, mount_table, start_of, Caller, Shared};
use crate::abi::Stat;
use crate::errno::{Errno, SysResult};
use crate::fs::synthetic::{dtype, statfs_of, Attr, DirSource, DynDir, GenFile, OwnerFn, Symlink};
use crate::kernel::process::{sig_index, Process, Resources};
use crate::mm::VmaKind;
use crate::vfs::{DirEntry, File, FileOps, Inode, Owner, StatFs, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};

/// A decimal number as `/proc` accepts it in names: digits only, no leading zero.
pub fn parse_number(name: &[u8]) -> Option<i32> {
    if name.is_empty() || name.len() > 10 || (name[0] == b'0' && name.len() > 1) || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse().ok()
}

/// The inode number of node `slot` of process `pid` (thread `tid`, 0 for the process).
/// Computed, so that `readdir` and `stat` agree without keeping anything.
pub(super) fn ino(pid: i32, tid: i32, slot: u64) -> u64 {
    let n = |v: i32| u64::from(v.unsigned_abs()) & 0x3f_ffff;
    (n(pid) << 42) | (n(tid) << 20) | (slot & 0xf_ffff)
}

/// Slots of the nodes of a process directory; descriptors come after `FD_SLOT`.
const DIR_SLOT: u64 = 1;
const FD_SLOT: u64 = 0x100;
const FDINFO_SLOT: u64 = 0x8_0000;

/// The kernel's `O_LARGEFILE`, set on every file of a 64-bit process (libc's is 0).
const O_LARGEFILE: i32 = 0o100_000;

/// Entries of a process directory: name, mode (type and permissions).
const ENTRIES: &[(&str, u32)] = &[
    ("cgroup", S_IFREG | 0o444),
    ("cmdline", S_IFREG | 0o444),
    ("comm", S_IFREG | 0o644),
    ("cwd", S_IFLNK | 0o777),
    ("environ", S_IFREG | 0o400),
    ("exe", S_IFLNK | 0o777),
    ("fd", S_IFDIR | 0o500),
    ("fdinfo", S_IFDIR | 0o555),
    ("io", S_IFREG | 0o400),
    ("limits", S_IFREG | 0o444),
    ("maps", S_IFREG | 0o444),
    ("mountinfo", S_IFREG | 0o444),
    ("mounts", S_IFREG | 0o444),
    ("net", S_IFDIR | 0o555),
    ("oom_score", S_IFREG | 0o444),
    ("oom_score_adj", S_IFREG | 0o644),
    ("root", S_IFLNK | 0o777),
    ("smaps", S_IFREG | 0o444),
    ("stat", S_IFREG | 0o444),
    ("statm", S_IFREG | 0o444),
    ("status", S_IFREG | 0o444),
    ("task", S_IFDIR | 0o555),
];

/// A process, or one of its threads, named by number.
#[derive(Clone)]
struct Subject {
    fs: Arc<Shared>,
    pid: i32,
    tid: Option<i32>,
}

/// What a node needs of its subject at one moment.
struct Found {
    caller: Caller,
    process: Arc<Process>,
}

impl Subject {
    fn find(&self) -> SysResult<Found> {
        let caller = caller()?;
        let process = caller.kernel.process(self.pid).ok_or(Errno::ENOENT)?;
        if let Some(tid) = self.tid {
            let st = process.state.lock().unwrap();
            let alive = st.threads.iter().any(|t| t.tid == tid) || (tid == self.pid && st.zombie.is_some());
            if !alive {
                return Err(Errno::ENOENT);
            }
        }
        Ok(Found { caller, process })
    }

    fn ino(&self, slot: u64) -> u64 {
        ino(self.pid, self.tid.unwrap_or(0), slot)
    }

    fn owner_now(&self) -> SysResult<Owner> {
        let f = self.find()?;
        let st = f.process.state.lock().unwrap();
        Ok(st.resources.as_ref().map_or(Owner::default(), |r| Owner { uid: r.creds.euid, gid: r.creds.egid }))
    }

    fn owner_fn(&self) -> OwnerFn {
        let s = self.clone();
        Arc::new(move || s.owner_now())
    }

    fn attr(&self, slot: u64, mode: u32) -> Attr {
        Attr::with_ino(self.ino(slot), mode, self.fs.dev)
    }

    /// A file whose content `content` makes from the subject when it is opened.
    fn file(&self, slot: u64, mode: u32, content: fn(&Subject, &Found) -> SysResult<Vec<u8>>) -> GenFile {
        let s = self.clone();
        let gen = Arc::new(move || {
            let f = s.find()?;
            content(&s, &f)
        });
        GenFile::with(self.attr(slot, mode), gen).owned_by(self.owner_fn())
    }

    fn link(&self, slot: u64, target: fn(&Found, &Resources) -> SysResult<Vec<u8>>) -> Arc<dyn Inode> {
        let s = self.clone();
        let target = Arc::new(move || {
            let f = s.find()?;
            let r = resources(&f.process).ok_or(Errno::ENOENT)?;
            target(&f, &r)
        });
        Symlink::with(self.attr(slot, S_IFLNK | 0o777), target).owned_by(self.owner_fn()).build()
    }

    fn node(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        let (i, &(_, mode)) = ENTRIES.iter().enumerate().find(|(_, (n, _))| n.as_bytes() == name).ok_or(Errno::ENOENT)?;
        let slot = DIR_SLOT + 1 + i as u64;
        Ok(match name {
            b"cgroup" => self.file(slot, mode, |_, _| Ok(b"0::/\n".to_vec())).build(),
            b"cmdline" => self.file(slot, mode, |_, f| Ok(read_range(&f.process, |r| r.args.clone()))).build(),
            b"environ" => self.file(slot, mode, |_, f| Ok(read_range(&f.process, |r| r.env.clone()))).build(),
            b"comm" => self
                .file(slot, mode, |_, f| {
                    let mut comm = f.process.state.lock().unwrap().comm.clone();
                    comm.push(b'\n');
                    Ok(comm)
                })
                .writable(write_comm(self.clone()))
                .build(),
            b"cwd" => self.link(slot, |f, r| {
                let cwd = r.fs.lock().unwrap().cwd.clone();
                Ok(cwd.path_from(&f.caller.root()))
            }),
            b"root" => self.link(slot, |f, r| {
                let root = r.fs.lock().unwrap().root.clone();
                Ok(root.path_from(&f.caller.root()))
            }),
            b"exe" => self.link(slot, |f, r| Ok(r.exe.path_from(&f.caller.root()))),
            b"fd" => DynDir::new(self.attr(slot, mode), Fds { s: self.clone(), info: false }),
            b"fdinfo" => DynDir::new(self.attr(slot, mode), Fds { s: self.clone(), info: true }),
            // No I/O accounting yet.
            b"io" => self
                .file(slot, mode, |_, _| {
                    Ok(b"rchar: 0\nwchar: 0\nsyscr: 0\nsyscw: 0\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n".to_vec())
                })
                .build(),
            b"limits" => self.file(slot, mode, |_, f| Ok(fmt::limits(&f.process.rlimits.lock().unwrap()).into_bytes())).build(),
            b"maps" => self.file(slot, mode, |_, f| Ok(fmt::maps(&maps_of(&f.process)))).build(),
            b"smaps" => self.file(slot, mode, |_, f| Ok(fmt::smaps(&maps_of(&f.process)))).build(),
            b"mounts" => self.file(slot, mode, |_, f| Ok(fmt::mounts(&mount_table(&f.caller.kernel)))).build(),
            b"mountinfo" => self.file(slot, mode, |_, f| Ok(fmt::mountinfo(&mount_table(&f.caller.kernel)))).build(),
            b"net" => self.fs.net.clone(),
            b"oom_score" => self.file(slot, mode, |_, _| Ok(b"0\n".to_vec())).build(),
            b"oom_score_adj" => self
                .file(slot, mode, |_, _| Ok(b"0\n".to_vec()))
                .writable(|buf| {
                    // Accepted and not applied: the sandbox has no OOM killer of its own.
                    let v: i32 = std::str::from_utf8(buf).ok().and_then(|s| s.trim().parse().ok()).ok_or(Errno::EINVAL)?;
                    if !(-1000..=1000).contains(&v) {
                        return Err(Errno::EINVAL);
                    }
                    Ok(())
                })
                .build(),
            b"stat" => self.file(slot, mode, |s, f| Ok(fmt::stat(&s.view(f)))).build(),
            b"status" => self.file(slot, mode, |s, f| Ok(fmt::status(&s.view(f)))).build(),
            b"statm" => self.file(slot, mode, |s, f| Ok(fmt::statm(s.view(f).mem.as_ref()).into_bytes())).build(),
            b"task" if self.tid.is_none() => DynDir::new(self.attr(slot, mode), Tasks(self.clone())),
            _ => return Err(Errno::ENOENT),
        })
    }

    /// The process or thread as `stat` and `status` show it.
    fn view(&self, f: &Found) -> TaskView {
        let p = &f.process;
        let tid = self.tid.unwrap_or(self.pid);
        let (mut v, threads, res, shared_pending) = {
            let st = p.state.lock().unwrap();
            let v = TaskView {
                pid: p.pid,
                tid,
                comm: st.comm.clone(),
                ppid: st.ppid,
                pgid: st.pgid,
                sid: st.sid,
                threads: st.threads.len().max(1),
                exit_signal: st.exit_signal,
                exit_code: st.zombie.map_or(0, |z| z.wait_status()),
                state: if st.zombie.is_some() {
                    'Z'
                } else if f.caller.pid() == p.pid && self.tid.is_none_or(|t| t == f.caller.tid) {
                    'R'
                } else {
                    'S'
                },
                ..TaskView::default()
            };
            (v, st.threads.clone(), st.resources.clone(), st.pending.mask)
        };
        v.sig_shared = shared_pending;
        v.cpu_ticks = crate::kernel::process::cpu_ticks(p, self.tid.and_then(|t| threads.iter().find(|th| th.tid == t)));
        v.tty = crate::fs::pty::stat_fields(&f.caller.kernel, v.sid);
        if let Some(t) = threads.iter().find(|t| t.tid == tid).or(threads.first()) {
            let sig = t.signals.lock().unwrap();
            v.sig_blocked = sig.mask;
            v.sig_pending = sig.pending.mask;
            v.sched = *t.sched.lock().unwrap();
        }
        for (sig, act) in (1..=64).zip(p.actions.lock().unwrap().iter()) {
            let bit = 1u64 << sig_index(sig);
            if act.handler == libc::SIG_IGN as u64 {
                v.sig_ignored |= bit;
            } else if act.handler != libc::SIG_DFL as u64 {
                v.sig_caught |= bit;
            }
        }
        v.sigpending_limit = p.rlimit(libc::RLIMIT_SIGPENDING).cur;
        v.rss_limit = p.rlimit(libc::RLIMIT_RSS).cur;
        v.start_ticks = u64::try_from(start_of(p).saturating_duration_since(f.caller.kernel.boot_time).as_millis() / 10).unwrap_or(0);
        v.cpus = crate::fs::host::host_cpus();
        if let Some(r) = res {
            let c = &r.creds;
            v.uids = [c.uid, c.euid, c.suid, c.fsuid];
            v.gids = [c.gid, c.egid, c.sgid, c.fsgid];
            v.groups = c.groups.clone();
            v.caps = c.caps;
            v.umask = Some(r.fs.lock().unwrap().umask);
            let top = r.files.lock().unwrap().fds().last().map_or(0, |&fd| fd.unsigned_abs() as usize + 1);
            v.fd_size = top.div_ceil(64).max(1) * 64;
            let maps = maps_from(&r);
            // The loader names the executable's mappings by its file name, mmap by path.
            let path = r.exe.path_from(&f.caller.kernel.root);
            let exe = maps.iter().find_map(|m| match &m.kind {
                VmaKind::File(n) if **n == *path || **n == *r.exe.name => Some(n.to_vec()),
                _ => None,
            });
            let mut mem = fmt::summarize(&maps, &exe.unwrap_or(path));
            mem.start_stack = r.args.start & !7;
            v.mem = Some(mem);
            v.args = r.args.clone();
            v.env = r.env.clone();
        }
        v
    }
}

fn resources(p: &Process) -> Option<Resources> {
    p.state.lock().unwrap().resources.clone()
}

fn maps_from(r: &Resources) -> Vec<Map> {
    // The vDSO's data page is shared by every process, but Linux shows it as private.
    r.mm.vmas().into_iter().map(|(start, v)| Map::new(start, v.end, v.prot, v.shared && v.kind != VmaKind::Vvar, v.kind)).collect()
}

fn maps_of(p: &Process) -> Vec<Map> {
    resources(p).map(|r| maps_from(&r)).unwrap_or_default()
}

/// The bytes of the process's memory in `range` (argument or environment strings); what can
/// be read of it, nothing for a zombie.
fn read_range(p: &Process, range: impl Fn(&Resources) -> std::ops::Range<u64>) -> Vec<u8> {
    const MAX: u64 = 1 << 20;
    let Some(r) = resources(p) else { return Vec::new() };
    let span = range(&r);
    let len = span.end.saturating_sub(span.start).min(MAX);
    let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
    let n = r.mm.copy_in_partial(span.start, &mut buf);
    buf.truncate(n);
    buf
}

/// Writing `comm`: only a process's own threads may rename it.
fn write_comm(s: Subject) -> impl Fn(&[u8]) -> SysResult<()> + Send + Sync {
    move |buf| {
        let f = s.find()?;
        if f.caller.pid() != f.process.pid {
            return Err(Errno::EINVAL);
        }
        // Like Linux: the first 15 bytes as they are, a newline included.
        let name = buf.split(|&b| b == 0).next().unwrap_or(b"");
        f.process.state.lock().unwrap().comm = name.iter().copied().take(15).collect();
        Ok(())
    }
}

/// A process (or thread) directory.
impl DirSource for Subject {
    fn list(&self) -> SysResult<Vec<DirEntry>> {
        self.find()?;
        let entries = ENTRIES.iter().enumerate().filter(|(_, (n, _))| self.tid.is_none() || *n != "task");
        Ok(entries
            .map(|(i, (name, mode))| DirEntry { ino: self.ino(DIR_SLOT + 1 + i as u64), next: 0, kind: dtype(*mode), name: name.as_bytes().to_vec() })
            .collect())
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        self.node(name)
    }

    fn owner(&self) -> SysResult<Owner> {
        self.owner_now()
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// The pid a `/proc/PID` directory stands for (not a thread's `/proc/PID/task/TID`): Linux
/// takes a descriptor of one as a pidfd.
pub fn process_dir_pid(inode: &dyn Inode) -> Option<i32> {
    let dir = inode.as_any()?.downcast_ref::<DynDir>()?;
    let s = dir.source().as_any()?.downcast_ref::<Subject>()?;
    s.tid.is_none().then_some(s.pid)
}

/// `/proc/PID`.
pub(super) fn process_dir(fs: &Arc<Shared>, pid: i32) -> Arc<dyn Inode> {
    let s = Subject { fs: fs.clone(), pid, tid: None };
    DynDir::new(s.attr(DIR_SLOT, S_IFDIR | 0o555), s)
}

/// `/proc/PID/task`: one directory per thread.
struct Tasks(Subject);

impl DirSource for Tasks {
    fn list(&self) -> SysResult<Vec<DirEntry>> {
        let f = self.0.find()?;
        let tids: Vec<i32> = f.process.state.lock().unwrap().threads.iter().map(|t| t.tid).collect();
        Ok(tids.into_iter().map(|tid| DirEntry { ino: ino(self.0.pid, tid, DIR_SLOT), next: 0, kind: libc::DT_DIR, name: tid.to_string().into_bytes() }).collect())
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        let tid = parse_number(name).filter(|&t| t > 0).ok_or(Errno::ENOENT)?;
        let s = Subject { fs: self.0.fs.clone(), pid: self.0.pid, tid: Some(tid) };
        Ok(DynDir::new(s.attr(DIR_SLOT, S_IFDIR | 0o555), s))
    }

    fn owner(&self) -> SysResult<Owner> {
        self.0.owner_now()
    }
}

/// `/proc/PID/fd` (links) and `/proc/PID/fdinfo` (files).
struct Fds {
    s: Subject,
    info: bool,
}

/// The open file behind descriptor `fd` of the subject, with its close-on-exec flag.
fn open_file(s: &Subject, fd: i32) -> SysResult<(Found, Arc<File>, bool)> {
    let f = s.find()?;
    let r = resources(&f.process).ok_or(Errno::ENOENT)?;
    let files = r.files.lock().unwrap();
    let file = files.get(fd).map_err(|_| Errno::ENOENT)?;
    let cloexec = files.cloexec(fd).unwrap_or(false);
    drop(files);
    Ok((f, file, cloexec))
}

impl DirSource for Fds {
    fn list(&self) -> SysResult<Vec<DirEntry>> {
        let f = self.s.find()?;
        let Some(r) = resources(&f.process) else { return Ok(Vec::new()) };
        let fds = r.files.lock().unwrap().fds();
        let (base, kind) = if self.info { (FDINFO_SLOT, libc::DT_REG) } else { (FD_SLOT, libc::DT_LNK) };
        Ok(fds
            .into_iter()
            .map(|fd| DirEntry { ino: self.s.ino(base + u64::from(fd.unsigned_abs())), next: 0, kind, name: fd.to_string().into_bytes() })
            .collect())
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        let fd = parse_number(name).ok_or(Errno::ENOENT)?;
        let slot = u64::from(fd.unsigned_abs());
        if !self.info {
            return Ok(Arc::new(FdLink { s: self.s.clone(), fd, attr: self.s.attr(FD_SLOT + slot, S_IFLNK) }));
        }
        let s = self.s.clone();
        let owner: OwnerFn = Arc::new(move || {
            open_file(&s, fd)?;
            s.owner_now()
        });
        let s = self.s.clone();
        let content = Arc::new(move || {
            let (f, file, cloexec) = open_file(&s, fd)?;
            let st = file.ops.stat()?;
            let mnt_id = mount_table(&f.caller.kernel).iter().find(|m| m.dev == st.dev).map_or(1, |m| m.id);
            // Files opened by path are large-file opens; anonymous ones (pipes, event files)
            // are not, and a host stream's flags are the host's.
            let mut flags = if file.dentry.is_some() { file.flags() | O_LARGEFILE } else { file.flags() };
            if cloexec {
                flags |= libc::O_CLOEXEC;
            }
            let pos = *file.offset.lock().unwrap();
            let mut info = fmt::fdinfo(pos, flags, mnt_id, st.ino);
            if let Some(p) = crate::fs::pidfd::as_pidfd(&file) {
                info.push_str(&p.fdinfo(&f.caller.kernel));
            }
            Ok(info.into_bytes())
        });
        Ok(GenFile::with(self.s.attr(FDINFO_SLOT + slot, S_IFREG | 0o444), content).owned_by(owner).build())
    }

    fn owner(&self) -> SysResult<Owner> {
        self.s.owner_now()
    }
}

/// `/proc/PID/fd/N`: a link to the open file's path.
///
/// A file without a path (a pipe, the host's standard streams, a removed file) cannot be reached by following
/// a link, and the path walk has no "magic link" hook yet. Until it does, such a node presents
/// itself as the open file: `stat` shows the file's own attributes and opening the node opens
/// the same file (so `/dev/stdin`, `/dev/stderr` work on pipes), while `readlink` still gives
/// `pipe:[INO]` and the like. Pipes and sockets are shown as character devices, because the
/// syscall layer opens anything that says `S_IFIFO` as a named FIFO of its own.
struct FdLink {
    s: Subject,
    fd: i32,
    attr: Attr,
}

impl FdLink {
    /// The open file's attributes, when the node stands for a file without a path.
    fn as_file(&self, file: &File) -> Option<SysResult<Stat>> {
        // A removed name cannot be followed either (a memfd, an unlinked temporary file).
        if file.dentry.as_ref().is_some_and(|d| !d.is_removed()) {
            return None;
        }
        Some(file.ops.stat().map(|mut st| {
            if matches!(st.mode & S_IFMT, libc::S_IFIFO | libc::S_IFSOCK) {
                st.mode = (st.mode & !S_IFMT) | libc::S_IFCHR;
            }
            st
        }))
    }
}

/// What `readlink` shows for a file without a path: a pipe, a socket, an event file, or one of
/// the host's standard streams (a device by its usual name, a host file as `host:[INO]`).
fn anonymous_name(file: &dyn FileOps) -> Vec<u8> {
    let Ok(st) = file.stat() else { return b"anon_inode:[unknown]".to_vec() };
    let (major, minor) = (libc::major(st.rdev), libc::minor(st.rdev));
    let name = match st.mode & S_IFMT {
        libc::S_IFIFO => format!("pipe:[{}]", st.ino),
        libc::S_IFSOCK => format!("socket:[{}]", st.ino),
        libc::S_IFCHR => match (major, minor) {
            (1, 3) => "/dev/null".into(),
            (1, 5) => "/dev/zero".into(),
            (1, 7) => "/dev/full".into(),
            (1, 8) => "/dev/random".into(),
            (1, 9) => "/dev/urandom".into(),
            (5, 0) => "/dev/tty".into(),
            (5, 1) => "/dev/console".into(),
            (5, 2) => "/dev/ptmx".into(),
            (4, n) => format!("/dev/tty{n}"),
            (136..=143, _) => format!("/dev/pts/{}", (major - 136) * 256 + minor),
            _ => format!("/dev/char/{major}:{minor}"),
        },
        libc::S_IFREG | S_IFDIR => format!("host:[{}]", st.ino),
        _ => {
            use crate::fs::{epoll::Epoll, eventfd::EventFd, signalfd::SignalFd, timerfd::TimerFd};
            let any = file.as_any();
            let is = |f: fn(&dyn std::any::Any) -> bool| any.is_some_and(f);
            let kind = if is(|a| a.is::<Epoll>()) {
                "eventpoll"
            } else if is(|a| a.is::<EventFd>()) {
                "eventfd"
            } else if is(|a| a.is::<TimerFd>()) {
                "timerfd"
            } else if is(|a| a.is::<SignalFd>()) {
                "signalfd"
            } else if is(|a| a.is::<crate::fs::pidfd::PidFd>()) {
                "pidfd"
            } else if is(|a| a.is::<crate::fs::inotify::Inotify>()) {
                "inotify"
            } else {
                "unknown"
            };
            // Linux names inotify's anonymous inode without brackets.
            if kind == "inotify" { "anon_inode:inotify".into() } else { format!("anon_inode:[{kind}]") }
        }
    };
    name.into_bytes()
}

impl Inode for FdLink {
    fn stat(&self) -> SysResult<Stat> {
        let (_, file, _) = open_file(&self.s, self.fd)?;
        if let Some(st) = self.as_file(&file) {
            return st;
        }
        let mut perm = 0;
        if file.readable() {
            perm |= 0o500;
        }
        if file.writable() {
            perm |= 0o300;
        }
        let mut st = Attr { mode: S_IFLNK | perm, ..self.attr }.stat(self.s.owner_now()?, 1, 0);
        st.size = 64;
        Ok(st)
    }

    fn file_type(&self) -> u32 {
        self.stat().map_or(S_IFLNK, |st| st.mode & S_IFMT)
    }

    fn readlink(&self) -> SysResult<Vec<u8>> {
        let (f, file, _) = open_file(&self.s, self.fd)?;
        Ok(match &file.dentry {
            Some(d) if d.is_removed() => [d.path_from(&f.caller.root()), b" (deleted)".to_vec()].concat(),
            Some(d) => d.path_from(&f.caller.root()),
            None => anonymous_name(file.ops.as_ref()),
        })
    }

    fn statfs(&self) -> SysResult<StatFs> {
        statfs_of(self.attr.dev)
    }

    fn open(&self, flags: i32) -> SysResult<Arc<dyn FileOps>> {
        let (_, file, _) = open_file(&self.s, self.fd)?;
        match &file.dentry {
            Some(d) => d.inode.open(flags),
            None => Ok(file.ops.clone()),
        }
    }
}
