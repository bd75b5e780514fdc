//! Pseudo-terminals: `/dev/ptmx` and the `devpts` filesystem at `/dev/pts`.
//!
//! Each open of `/dev/ptmx` (or `/dev/pts/ptmx`) makes a [`Pty`] with the lowest free index
//! N and returns its master; `/dev/pts/N` (character device 136:N) then names its slave,
//! locked until `TIOCSPTLCK 0` (`unlockpt`). The node goes away when the master is closed; N
//! is free again once the slave's files are closed too.
//!
//! Between the two ends sits the line discipline ([`ldisc`]): what the master writes is the
//! slave's input (edited, echoed, turned into keyboard signals), what the slave writes is
//! post-processed for the master's reader. Reads and writes never sleep here: they answer
//! `EAGAIN` and the system call layer waits on the kernel's wake-up channel, which every
//! change notifies, so poll, select and epoll work as they do for pipes.
//!
//! **Controlling terminals.** A pty records the session it controls and that session's
//! foreground process group. A session leader without a controlling terminal gets the slave
//! as its own by opening it without `O_NOCTTY` or with `TIOCSCTTY`; the session keeps it until
//! its leader is gone (checked when asked, so nothing needs to hook process exit) or the master
//! is closed (which hangs the slave up: `SIGHUP` and `SIGCONT` to the session leader, reads
//! give 0, writes and ioctls `EIO`). The host terminal of `sandbox run -t` is modelled apart
//! (`Kernel::terminal`, `syscalls::tty`). Background process groups reading the terminal get
//! `SIGTTIN`, writing it with `TOSTOP` or changing its settings `SIGTTOU`, as on Linux.
//!
//! Lock order: a pty's `state` is never held while taking a process's `state` or the kernel's
//! process table, nor the reverse.

pub mod ldisc;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::synthetic::{statfs_of, Attr, DirSource, DynDir};
use crate::abi::{Stat, Termios, Timespec, Winsize};
use crate::errno::{Errno, SysResult};
use crate::kernel::process::{Process, Thread};
use crate::kernel::jobctl::{check_terminal_access, Access};
use crate::kernel::signal::SigInfo;
use crate::kernel::{Events, Kernel};
use crate::mm::MemoryManager;
use crate::vfs::{DirEntry, FileOps, Inode, Owner, SetAttr, StatFs, S_IFCHR, S_IFDIR};
use ldisc::Ldisc;

/// Major number of the first 256 slaves (Linux's `UNIX98_PTY_SLAVE_MAJOR`); later ones take
/// the next majors, 256 minors each.
pub const SLAVE_MAJOR: u32 = 136;
/// How many pseudo-terminals may exist at once (`/proc/sys/kernel/pty/max`).
pub const MAX_PTYS: u32 = 4096;
/// `statfs` type of `/dev/pts`.
const DEVPTS_SUPER_MAGIC: u64 = 0x1cd1;
/// Permissions of a new slave (`mode=620` of a usual devpts mount).
const SLAVE_MODE: u32 = 0o620;

/// `TIOCPKT` status bytes.
const TIOCPKT_FLUSHREAD: u8 = 1;
const TIOCPKT_FLUSHWRITE: u8 = 2;
const TIOCPKT_STOP: u8 = 4;
const TIOCPKT_START: u8 = 8;

fn poll_bits(bits: i16) -> u32 {
    u32::from(bits.cast_unsigned())
}

// ---------------------------------------------------------------------------------------------
// The filesystem and its index

/// The devpts instance: its device number and the pseudo-terminals by index.
pub struct Devpts {
    dev: u64,
    ptys: Mutex<BTreeMap<u32, Weak<Pty>>>,
    root: Attr,
    ptmx: Attr,
    /// The group that owns new slaves: `tty` when the root's `/etc/group` has one.
    tty_gid: OnceLock<Option<u32>>,
}

impl Devpts {
    pub fn new() -> Arc<Devpts> {
        let dev = super::tmpfs::anon_dev();
        super::proc::register_fs(dev, ("devpts", "devpts", "rw,nosuid,noexec,relatime", "rw,gid=5,mode=620,ptmxmode=000"));
        super::synthetic::register_magic(dev, DEVPTS_SUPER_MAGIC);
        Arc::new(Devpts {
            dev,
            ptys: Mutex::new(BTreeMap::new()),
            root: Attr::with_ino(1, S_IFDIR | 0o755, dev),
            ptmx: Attr::with_ino(2, S_IFCHR, dev),
            tty_gid: OnceLock::new(),
        })
    }

    /// The sentry's one instance (one sandbox per sentry process).
    pub fn global() -> Arc<Devpts> {
        static GLOBAL: OnceLock<Arc<Devpts>> = OnceLock::new();
        GLOBAL.get_or_init(Devpts::new).clone()
    }

    /// The root directory, to be `/dev/pts`.
    pub fn root(self: &Arc<Devpts>) -> Arc<dyn Inode> {
        DynDir::new(self.root, PtsDir(self.clone()))
    }

    fn ptys(&self) -> MutexGuard<'_, BTreeMap<u32, Weak<Pty>>> {
        self.ptys.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The pseudo-terminal with index `index`, while it exists.
    pub fn get(&self, index: u32) -> Option<Arc<Pty>> {
        self.ptys().get(&index).and_then(Weak::upgrade)
    }

    /// Every pseudo-terminal that exists.
    pub fn all(&self) -> Vec<Arc<Pty>> {
        self.ptys().values().filter_map(Weak::upgrade).collect()
    }

    /// A new pseudo-terminal at the lowest free index; `ENOSPC` when all are taken.
    fn allocate(self: &Arc<Devpts>, make: impl FnOnce(u32) -> Pty) -> SysResult<Arc<Pty>> {
        let mut ptys = self.ptys();
        let index = (0..MAX_PTYS).find(|i| !ptys.contains_key(i)).ok_or(Errno::ENOSPC)?;
        let pty = Arc::new(make(index));
        ptys.insert(index, Arc::downgrade(&pty));
        Ok(pty)
    }

    fn free(&self, index: u32, pty: *const Pty) {
        let mut ptys = self.ptys();
        if ptys.get(&index).is_some_and(|w| std::ptr::eq(w.as_ptr(), pty)) {
            ptys.remove(&index);
        }
    }

    /// The group new slaves get, looked up once in the sandbox's `/etc/group`.
    fn tty_gid(&self, kernel: &Kernel) -> Option<u32> {
        *self.tty_gid.get_or_init(|| tty_group(kernel))
    }

    /// The master of a new pseudo-terminal, for the caller; `stat` is what `fstat` of the
    /// master shows (the node it was opened from).
    pub fn open_master(self: &Arc<Devpts>, stat: Stat) -> SysResult<Arc<dyn FileOps>> {
        let caller = super::proc::caller().map_err(|_| Errno::ENODEV)?;
        let creds = caller.process.state.lock().unwrap().resources.as_ref().map(|r| r.creds.clone()).unwrap_or_default();
        let gid = self.tty_gid(&caller.kernel).unwrap_or(creds.fsgid);
        let owner = Owner { uid: creds.fsuid, gid };
        let pty = self.allocate(|index| Pty::new(self.clone(), index, Arc::downgrade(&caller.kernel), caller.kernel.events.clone(), owner))?;
        Ok(Arc::new(Master { pty, stat }))
    }
}

/// The gid of the group named `tty` in `/etc/group` of the sandbox's root, if any.
fn tty_group(kernel: &Kernel) -> Option<u32> {
    let root = kernel.root.mounted_root();
    let d = crate::vfs::walk::Walker { root: &root }.resolve(&root, b"/etc/group", true).ok()?;
    let f = d.inode.open(libc::O_RDONLY).ok()?;
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    while text.len() < 1 << 20 {
        let n = f.read(text.len() as u64, &mut buf).ok()?;
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
    }
    text.split(|&b| b == b'\n').find_map(|line| {
        let mut fields = line.split(|&b| b == b':');
        if fields.next()? != b"tty" {
            return None;
        }
        std::str::from_utf8(fields.nth(1)?).ok()?.parse().ok()
    })
}

/// `/dev/pts`: `ptmx` and the slaves whose master is open.
struct PtsDir(Arc<Devpts>);

impl DirSource for PtsDir {
    fn list(&self) -> SysResult<Vec<DirEntry>> {
        let mut out = vec![DirEntry { ino: 2, next: 0, kind: libc::DT_CHR, name: b"ptmx".to_vec() }];
        for pty in self.0.all() {
            if pty.lock().master_open {
                out.push(DirEntry { ino: pty.ino(), next: 0, kind: libc::DT_CHR, name: pty.index.to_string().into_bytes() });
            }
        }
        Ok(out)
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        if name == b"ptmx" {
            return Ok(Arc::new(PtmxNode(self.0.clone())));
        }
        // Every number gets a node that looks its pseudo-terminal up at each use: the dentry
        // cache keeps what this returns for ever.
        let text = std::str::from_utf8(name).map_err(|_| Errno::ENOENT)?;
        let index: u32 = text.parse().map_err(|_| Errno::ENOENT)?;
        if index.to_string() != text || index >= MAX_PTYS {
            return Err(Errno::ENOENT);
        }
        Ok(Arc::new(PtsNode { devpts: self.0.clone(), index }))
    }
}

/// `/dev/pts/ptmx`: another way to `/dev/ptmx` (mode 0000, as Linux's default `ptmxmode`).
struct PtmxNode(Arc<Devpts>);

impl Inode for PtmxNode {
    fn stat(&self) -> SysResult<Stat> {
        Ok(self.0.ptmx.stat(Owner::default(), 1, libc::makedev(5, 2)))
    }

    fn file_type(&self) -> u32 {
        S_IFCHR
    }

    fn statfs(&self) -> SysResult<StatFs> {
        statfs_of(self.0.dev)
    }

    fn open(&self, _flags: i32) -> SysResult<Arc<dyn FileOps>> {
        self.0.open_master(self.stat()?)
    }
}

/// `/dev/pts/N`.
struct PtsNode {
    devpts: Arc<Devpts>,
    index: u32,
}

impl PtsNode {
    /// The pseudo-terminal, while its master is open.
    fn pty(&self) -> SysResult<Arc<Pty>> {
        self.devpts.get(self.index).filter(|p| p.lock().master_open).ok_or(Errno::ENOENT)
    }
}

impl Inode for PtsNode {
    fn stat(&self) -> SysResult<Stat> {
        Ok(self.pty()?.node_stat())
    }

    fn file_type(&self) -> u32 {
        S_IFCHR
    }

    fn statfs(&self) -> SysResult<StatFs> {
        statfs_of(self.devpts.dev)
    }

    fn open(&self, flags: i32) -> SysResult<Arc<dyn FileOps>> {
        self.pty()?.open_slave(flags, None)
    }

    fn setattr(&self, attr: &SetAttr) -> SysResult<()> {
        let pty = self.pty()?;
        let mut st = pty.lock();
        if let Some(mode) = attr.mode {
            st.node.perm = mode & 0o7777;
        }
        if let Some(uid) = attr.uid {
            st.node.owner.uid = uid;
        }
        if let Some(gid) = attr.gid {
            st.node.owner.gid = gid;
        }
        st.node.ctime = super::host::host_clock(libc::CLOCK_REALTIME);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// A pseudo-terminal

/// The slave node's attributes.
struct NodeAttr {
    perm: u32,
    owner: Owner,
    created: Timespec,
    ctime: Timespec,
}

struct State {
    ld: Ldisc,
    winsize: Winsize,
    /// Slave opens refused until `unlockpt`.
    locked: bool,
    master_open: bool,
    /// Open slave files.
    slaves: usize,
    /// A slave was ever opened: from then on the master sees its closing as a hang-up.
    slave_opened: bool,
    /// The session this is the controlling terminal of (valid while its leader lives).
    session: Option<i32>,
    /// The foreground process group.
    pgrp: i32,
    /// `TIOCPKT`: master reads start with a status byte.
    packet: bool,
    packet_status: u8,
    /// `TIOCEXCL`.
    exclusive: bool,
    /// Speeds set with `BOTHER` through `TCSETS2` (others are encoded in `c_cflag`).
    speeds: Option<(u32, u32)>,
    /// When input last arrived (the `VTIME` inter-byte timer).
    last_input: Instant,
    /// Non-canonical reads with `VMIN` 0 and a `VTIME`, by thread: (start, last look).
    timed_reads: HashMap<i32, (Instant, Instant)>,
    node: NodeAttr,
}

/// A pseudo-terminal: the line discipline, window size and job-control state shared by its
/// master and slave files.
pub struct Pty {
    index: u32,
    devpts: Arc<Devpts>,
    kernel: Weak<Kernel>,
    events: Arc<Events>,
    state: Mutex<State>,
    wakeups: AtomicU64,
}

impl Drop for Pty {
    fn drop(&mut self) {
        self.devpts.free(self.index, self);
    }
}

impl Pty {
    fn new(devpts: Arc<Devpts>, index: u32, kernel: Weak<Kernel>, events: Arc<Events>, owner: Owner) -> Pty {
        let now = super::host::host_clock(libc::CLOCK_REALTIME);
        Pty {
            index,
            devpts,
            kernel,
            events,
            state: Mutex::new(State {
                ld: Ldisc::new(),
                winsize: Winsize::default(),
                locked: true,
                master_open: true,
                slaves: 0,
                slave_opened: false,
                session: None,
                pgrp: 0,
                packet: false,
                packet_status: 0,
                exclusive: false,
                speeds: None,
                last_input: Instant::now(),
                timed_reads: HashMap::new(),
                node: NodeAttr { perm: SLAVE_MODE, owner, created: now, ctime: now },
            }),
            wakeups: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    fn ino(&self) -> u64 {
        u64::from(self.index) + 3
    }

    /// The slave's device number.
    pub fn rdev(&self) -> u64 {
        libc::makedev(SLAVE_MAJOR + self.index / 256, self.index % 256)
    }

    /// The device number as `/proc/PID/stat` and `TIOCGDEV` encode it.
    pub fn encoded_dev(&self) -> u32 {
        let (major, minor) = (SLAVE_MAJOR + self.index / 256, self.index % 256);
        (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
    }

    /// What `stat` of `/dev/pts/N` (and `fstat` of the slave) shows.
    fn node_stat(&self) -> Stat {
        let st = self.lock();
        let a = &st.node;
        Stat {
            dev: self.devpts.dev,
            ino: self.ino(),
            nlink: 1,
            mode: S_IFCHR | a.perm,
            uid: a.owner.uid,
            gid: a.owner.gid,
            rdev: self.rdev(),
            blksize: 1024,
            atime: a.created.sec,
            atime_nsec: a.created.nsec,
            mtime: a.created.sec,
            mtime_nsec: a.created.nsec,
            ctime: a.ctime.sec,
            ctime_nsec: a.ctime.nsec,
            ..Stat::default()
        }
    }

    /// Wakes whoever waits on either end.
    fn changed(&self) {
        self.wakeups.fetch_add(1, Ordering::Relaxed);
        self.events.notify();
    }

    /// A new slave file: refused while locked (`EIO`) or exclusive (`EBUSY`). `tty_stat` is
    /// given for an open of `/dev/tty`, whose file shows that node and takes no controlling
    /// terminal; other opens without `O_NOCTTY` make the slave the caller's controlling
    /// terminal when it is a session leader without one.
    pub fn open_slave(self: &Arc<Pty>, flags: i32, tty_stat: Option<Stat>) -> SysResult<Arc<dyn FileOps>> {
        let caller = super::proc::caller().ok();
        let admin = caller.as_ref().is_some_and(|c| caller_capable(c, crate::kernel::task::cap::SYS_ADMIN));
        {
            let mut st = self.lock();
            if !st.master_open || (st.locked && tty_stat.is_none()) {
                return Err(Errno::EIO);
            }
            if st.exclusive && !admin {
                return Err(Errno::EBUSY);
            }
            st.slaves += 1;
            st.slave_opened = true;
        }
        let slave = Arc::new(Slave { pty: self.clone(), tty_stat });
        let readable = matches!(flags & libc::O_ACCMODE, libc::O_RDONLY | libc::O_RDWR);
        if let (None, true, 0, Some(c)) = (tty_stat, readable, flags & libc::O_NOCTTY, &caller) {
            let (pid, sid, pgid) = {
                let s = c.process.state.lock().unwrap();
                (c.process.pid, s.sid, s.pgid)
            };
            if pid == sid && !has_controlling_terminal(&c.kernel, &c.process) && self.job_control().0.is_none() {
                let mut st = self.lock();
                st.session = Some(sid);
                st.pgrp = pgid;
            }
        }
        self.changed();
        Ok(slave)
    }

    /// The session this controls, and its foreground process group (0 for none).
    pub fn job_control(&self) -> (Option<i32>, i32) {
        let (sid, pgrp) = {
            let st = self.lock();
            (st.session, st.pgrp)
        };
        match (sid, self.kernel.upgrade()) {
            (Some(sid), Some(k)) if session_alive(&k, sid) => (Some(sid), pgrp),
            _ => (None, 0),
        }
    }

    /// Sends `sig` to the foreground process group.
    fn signal_foreground(&self, sig: i32) {
        let (_, pgrp) = self.job_control();
        if let (true, Some(k)) = (pgrp > 0, self.kernel.upgrade()) {
            k.signal_group(pgrp, sig);
        }
    }

    /// Whether the slave was hung up (its master closed).
    pub fn hung_up(&self) -> bool {
        !self.lock().master_open
    }

    /// `TIOCSCTTY` by `process` (the caller) with the argument `force`: makes this the
    /// controlling terminal of the caller's session.
    pub fn set_controlling(&self, kernel: &Arc<Kernel>, process: &Arc<Process>, force: bool, admin: bool, readable: bool) -> SysResult<()> {
        let (pid, sid, pgid) = {
            let s = process.state.lock().unwrap();
            (process.pid, s.sid, s.pgid)
        };
        let (current, _) = self.job_control();
        if pid == sid && current == Some(sid) {
            return Ok(());
        }
        if pid != sid || has_controlling_terminal(kernel, process) {
            return Err(Errno::EPERM);
        }
        if current.is_some() && !(force && admin) {
            return Err(Errno::EPERM);
        }
        if !readable && !admin {
            return Err(Errno::EPERM);
        }
        let mut st = self.lock();
        st.session = Some(sid);
        st.pgrp = pgid;
        Ok(())
    }

    /// `TIOCNOTTY` by the session leader: the session loses its controlling terminal, and the
    /// foreground process group gets `SIGHUP` and `SIGCONT`.
    pub fn disassociate(&self) {
        let (_, pgrp) = self.job_control();
        {
            let mut st = self.lock();
            st.session = None;
            st.pgrp = 0;
        }
        if let (true, Some(k)) = (pgrp > 0, self.kernel.upgrade()) {
            k.signal_group(pgrp, libc::SIGHUP);
            k.signal_group(pgrp, libc::SIGCONT);
        }
    }

    /// `TIOCSPGRP`: the foreground process group becomes `pgrp` (checked by the caller).
    pub fn set_foreground(&self, pgrp: i32) {
        self.lock().pgrp = pgrp;
    }

    /// Job control before `process` (calling from `thread`) touches this terminal: a
    /// background process group of the session it controls gets `SIGTTIN` for a read,
    /// `SIGTTOU` for a write with `TOSTOP` or a change of settings (see `kernel::jobctl`).
    pub fn background_check(&self, kernel: &Kernel, process: &Process, thread: Option<&Thread>, access: Access) -> SysResult<()> {
        let (session, foreground) = self.job_control();
        let Some(session) = session else { return Ok(()) };
        let tostop = || self.lock().ld.termios().lflag & libc::TOSTOP != 0;
        check_terminal_access(kernel, process, thread, session, foreground, access, tostop)
    }

    /// The same check for the calling task, found through the current thread.
    fn background_check_caller(&self, access: Access) -> SysResult<()> {
        if self.lock().session.is_none() {
            return Ok(());
        }
        let Ok(c) = super::proc::caller() else { return Ok(()) };
        let thread = c.process.state.lock().unwrap().threads.iter().find(|t| t.tid == c.tid).cloned();
        self.background_check(&c.kernel, &c.process, thread.as_deref(), access)
    }

    fn set_termios(&self, t: Termios, speeds: Option<(u32, u32)>, flush: bool) {
        let mut st = self.lock();
        if flush {
            st.ld.flush_input();
        }
        let was_stopped = st.ld.stopped;
        st.ld.set_termios(t);
        st.speeds = speeds.filter(|_| t.cflag & libc::CBAUD == libc::BOTHER);
        if was_stopped && !st.ld.stopped {
            st.packet_status |= TIOCPKT_START;
        }
        drop(st);
        self.changed();
    }

    /// The ioctls both ends answer. `master` tells which end asks.
    fn ioctl(&self, master: bool, mm: &MemoryManager, request: u32, arg: u64) -> SysResult<u64> {
        match u64::from(request) {
            libc::TCGETS => {
                let t = self.lock().ld.termios();
                mm.write_val(arg, &t)?;
            }
            r @ (libc::TCSETS | libc::TCSETSW | libc::TCSETSF) => {
                let t: Termios = mm.read_val(arg)?;
                self.set_termios(t, None, r == libc::TCSETSF);
            }
            libc::TCGETS2 => {
                let (t, speeds) = {
                    let st = self.lock();
                    (st.ld.termios(), st.speeds)
                };
                let (i, o) = speeds.unwrap_or_else(|| speeds_of(t.cflag));
                mm.write_val(arg, &t)?;
                mm.write_val(arg + 36, &[i, o])?;
            }
            r @ (libc::TCSETS2 | libc::TCSETSW2 | libc::TCSETSF2) => {
                let t: Termios = mm.read_val(arg)?;
                let speeds: [u32; 2] = mm.read_val(arg + 36)?;
                self.set_termios(t, Some((speeds[0], speeds[1])), r == libc::TCSETSF2);
            }
            libc::TIOCGWINSZ => {
                let w = self.lock().winsize;
                mm.write_val(arg, &w)?;
            }
            libc::TIOCSWINSZ => {
                let w: Winsize = mm.read_val(arg)?;
                let changed = {
                    let mut st = self.lock();
                    let old = st.winsize;
                    st.winsize = w;
                    (old.row, old.col, old.xpixel, old.ypixel) != (w.row, w.col, w.xpixel, w.ypixel)
                };
                if changed {
                    self.signal_foreground(libc::SIGWINCH);
                }
            }
            libc::FIONREAD => {
                let st = self.lock();
                let n = if master { st.ld.output_len() } else { st.ld.readable_len() };
                mm.write_val(arg, &i32::try_from(n).unwrap_or(i32::MAX))?;
            }
            // The pseudo-terminal driver holds no output of its own: what is written is in the
            // other end's input at once.
            libc::TIOCOUTQ => mm.write_val(arg, &0i32)?,
            libc::TCFLSH => {
                let queue = i32::try_from(arg).map_err(|_| Errno::EINVAL)?;
                let (input, output) = match queue {
                    libc::TCIFLUSH => (true, false),
                    libc::TCOFLUSH => (false, true),
                    libc::TCIOFLUSH => (true, true),
                    _ => return Err(Errno::EINVAL),
                };
                let mut st = self.lock();
                if master {
                    // The master's input is the slave's output; its own output is in the
                    // slave's queue already and stays.
                    if input {
                        st.ld.flush_output();
                    }
                } else {
                    if input {
                        st.ld.flush_input();
                        st.packet_status |= TIOCPKT_FLUSHREAD;
                    }
                    if output {
                        st.ld.flush_output();
                        st.packet_status |= TIOCPKT_FLUSHWRITE;
                    }
                }
                drop(st);
                self.changed();
            }
            libc::TCXONC => {
                let action = i32::try_from(arg).map_err(|_| Errno::EINVAL)?;
                let mut st = self.lock();
                match action {
                    libc::TCOOFF => {
                        st.ld.stopped = true;
                        st.packet_status |= TIOCPKT_STOP;
                    }
                    libc::TCOON => {
                        st.ld.stopped = false;
                        st.packet_status |= TIOCPKT_START;
                    }
                    libc::TCIOFF | libc::TCION => {}
                    _ => return Err(Errno::EINVAL),
                }
                drop(st);
                self.changed();
            }
            libc::TCSBRK | libc::TCSBRKP | libc::TIOCSBRK | libc::TIOCCBRK => {}
            libc::TIOCGETD => mm.write_val(arg, &0i32)?,
            libc::TIOCSETD => {
                let disc: i32 = mm.read_val(arg)?;
                if disc != 0 {
                    return Err(Errno::EINVAL);
                }
            }
            libc::TIOCEXCL => self.lock().exclusive = true,
            libc::TIOCNXCL => self.lock().exclusive = false,
            libc::TIOCGEXCL => {
                let on = i32::from(self.lock().exclusive);
                mm.write_val(arg, &on)?;
            }
            libc::TIOCSTI => {
                let c: u8 = mm.read_val(arg)?;
                let (_, signals) = self.lock().ld.receive(&[c]);
                for sig in signals {
                    self.signal_foreground(sig);
                }
                self.changed();
            }
            libc::TIOCGDEV => mm.write_val(arg, &self.encoded_dev())?,
            req if master => return self.master_ioctl(mm, req, arg),
            _ => return Err(Errno::ENOTTY),
        }
        Ok(0)
    }

    fn master_ioctl(&self, mm: &MemoryManager, request: u64, arg: u64) -> SysResult<u64> {
        match request {
            libc::TIOCGPTN => mm.write_val(arg, &self.index)?,
            libc::TIOCSPTLCK => {
                let lock: i32 = mm.read_val(arg)?;
                self.lock().locked = lock != 0;
            }
            libc::TIOCGPTLCK => {
                let locked = i32::from(self.lock().locked);
                mm.write_val(arg, &locked)?;
            }
            libc::TIOCPKT => {
                let on: i32 = mm.read_val(arg)?;
                let mut st = self.lock();
                st.packet = on != 0;
                st.packet_status = 0;
            }
            libc::TIOCGPKT => {
                let on = i32::from(self.lock().packet);
                mm.write_val(arg, &on)?;
            }
            libc::TIOCSIG => {
                let sig = i32::try_from(arg).ok().filter(|s| (1..=64).contains(s)).ok_or(Errno::EINVAL)?;
                self.signal_foreground(sig);
            }
            _ => return Err(Errno::ENOTTY),
        }
        Ok(0)
    }
}

/// The input and output speeds a `c_cflag` encodes (`CBAUD`, and `CIBAUD` for input; input
/// follows output when it has none).
fn speeds_of(cflag: u32) -> (u32, u32) {
    const RATES: [u32; 16] = [0, 50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400];
    const HIGH: [u32; 15] = [57600, 115_200, 230_400, 460_800, 500_000, 576_000, 921_600, 1_000_000, 1_152_000, 1_500_000, 2_000_000, 2_500_000, 3_000_000, 3_500_000, 4_000_000];
    let rate = |code: u32| -> u32 {
        if code & libc::CBAUDEX == 0 {
            RATES[(code & 0xf) as usize]
        } else {
            let i = (code & 0xf) as usize;
            if i == 0 {
                0
            } else {
                HIGH.get(i - 1).copied().unwrap_or(0)
            }
        }
    };
    let out = rate(cflag & libc::CBAUD);
    let input = (cflag >> 16) & libc::CBAUD;
    (if input == 0 { out } else { rate(input) }, out)
}

/// Whether `pid` leads a live session `sid`.
fn session_alive(kernel: &Kernel, sid: i32) -> bool {
    kernel.process(sid).is_some_and(|p| {
        let st = p.state.lock().unwrap();
        st.zombie.is_none() && st.sid == sid
    })
}

fn caller_capable(c: &super::proc::Caller, cap: u32) -> bool {
    c.process.state.lock().unwrap().resources.as_ref().is_some_and(|r| r.creds.capable(cap))
}

/// The pseudo-terminal that is the controlling terminal of session `sid`, if any.
pub fn controlling(kernel: &Kernel, sid: i32) -> Option<Arc<Pty>> {
    Devpts::global().all().into_iter().find(|p| {
        let recorded = p.lock().session;
        recorded == Some(sid) && std::ptr::eq(p.kernel.as_ptr(), kernel) && session_alive(kernel, sid)
    })
}

/// `tty_nr` and `tpgid` of `/proc/PID/stat` for a process of session `sid`.
pub fn stat_fields(kernel: &Kernel, sid: i32) -> Option<(u32, i32)> {
    let pty = controlling(kernel, sid)?;
    let (_, pgrp) = pty.job_control();
    Some((pty.encoded_dev(), if pgrp > 0 { pgrp } else { -1 }))
}

/// Whether the session of `process` has a controlling terminal: a pseudo-terminal, or the
/// host terminal, which sessions started from outside the sandbox have when one of the
/// caller's standard streams is a host terminal.
pub fn has_controlling_terminal(kernel: &Kernel, process: &Process) -> bool {
    let sid = process.state.lock().unwrap().sid;
    controlling(kernel, sid).is_some() || on_host_terminal(kernel, process)
}

/// Whether `process` belongs to a session started from outside the sandbox (whose leader has
/// no parent inside) and has the host terminal on one of its standard streams.
pub fn on_host_terminal(kernel: &Kernel, process: &Process) -> bool {
    let (sid, files) = {
        let st = process.state.lock().unwrap();
        (st.sid, st.resources.as_ref().map(|r| r.files.clone()))
    };
    let launched = kernel.process(sid).is_some_and(|p| {
        let st = p.state.lock().unwrap();
        st.ppid == 0 && st.zombie.is_none()
    });
    if !launched {
        return false;
    }
    let Some(files) = files else { return false };
    let stdio: Vec<_> = {
        let f = files.lock().unwrap();
        (0..3).filter_map(|fd| f.get(fd).ok()).collect()
    };
    stdio.iter().any(|f| f.ops.as_any().and_then(|a| a.downcast_ref::<super::host::HostStream>()).is_some_and(super::host::HostStream::is_terminal))
}

// ---------------------------------------------------------------------------------------------
// The two ends

/// The master: what a terminal emulator (or `script`, `expect`) holds.
pub struct Master {
    pty: Arc<Pty>,
    /// The node it was opened from, for `fstat`.
    stat: Stat,
}

impl Master {
    pub fn pty(&self) -> &Arc<Pty> {
        &self.pty
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        // The slave hangs up: the session loses its terminal, its leader gets SIGHUP.
        let session = {
            let (session, _) = self.pty.job_control();
            let mut st = self.pty.lock();
            st.master_open = false;
            st.session = None;
            st.pgrp = 0;
            session
        };
        if let (Some(sid), Some(k)) = (session, self.pty.kernel.upgrade()) {
            if let Some(leader) = k.process(sid) {
                leader.send(SigInfo::kernel(libc::SIGHUP));
                leader.send(SigInfo::kernel(libc::SIGCONT));
            }
        }
        self.pty.changed();
    }
}

impl FileOps for Master {
    fn read(&self, _offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut st = self.pty.lock();
        let n = if st.packet {
            if st.packet_status != 0 {
                buf[0] = std::mem::take(&mut st.packet_status);
                1
            } else if st.ld.output_len() > 0 {
                buf[0] = 0;
                1 + st.ld.take_output(&mut buf[1..])
            } else {
                0
            }
        } else {
            st.ld.take_output(buf)
        };
        if n > 0 {
            drop(st);
            self.pty.changed();
            return Ok(n);
        }
        if st.slaves == 0 && st.slave_opened {
            return Err(Errno::EIO);
        }
        Err(Errno::EAGAIN)
    }

    fn write(&self, _offset: u64, buf: &[u8]) -> SysResult<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let (n, signals) = {
            let mut st = self.pty.lock();
            let r = st.ld.receive(buf);
            if r.0 > 0 {
                st.last_input = Instant::now();
            }
            r
        };
        for sig in &signals {
            self.pty.signal_foreground(*sig);
        }
        if n == 0 {
            return Err(Errno::EAGAIN);
        }
        self.pty.changed();
        Ok(n)
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self) -> u32 {
        let st = self.pty.lock();
        let mut ev = 0;
        if st.packet && st.packet_status != 0 {
            ev |= libc::POLLPRI | libc::POLLIN | libc::POLLRDNORM;
        }
        if st.ld.output_len() > 0 {
            ev |= libc::POLLIN | libc::POLLRDNORM;
        }
        if st.ld.input_room() {
            ev |= libc::POLLOUT | libc::POLLWRNORM;
        }
        if st.slaves == 0 && st.slave_opened {
            ev |= libc::POLLHUP;
        }
        poll_bits(ev)
    }

    fn wakeups(&self) -> Option<u64> {
        Some(self.pty.wakeups.load(Ordering::Relaxed))
    }

    fn ioctl(&self, mm: &MemoryManager, request: u32, arg: u64) -> SysResult<u64> {
        self.pty.ioctl(true, mm, request, arg)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// The slave: the terminal the program inside sees.
pub struct Slave {
    pty: Arc<Pty>,
    /// Set when opened as `/dev/tty`: `fstat` shows that node.
    tty_stat: Option<Stat>,
}

impl Slave {
    pub fn pty(&self) -> &Arc<Pty> {
        &self.pty
    }
}

impl Drop for Slave {
    fn drop(&mut self) {
        self.pty.lock().slaves -= 1;
        self.pty.changed();
    }
}

/// A `VTIME` in tenths of a second.
fn tenths(t: u8) -> Duration {
    Duration::from_millis(u64::from(t) * 100)
}

/// A timed read not looked at for this long is a new read (the old one was interrupted).
const STALE_READ: Duration = Duration::from_millis(100);

impl FileOps for Slave {
    fn read(&self, _offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        if self.pty.hung_up() {
            return Ok(0);
        }
        self.pty.background_check_caller(Access::Read)?;
        if buf.is_empty() {
            return Ok(0);
        }
        // Who reads, for a read timed by VTIME alone (looked up before the lock: it takes others).
        let timed = {
            let st = self.pty.lock();
            let (vmin, vtime) = st.ld.min_time();
            !st.ld.canonical() && vmin == 0 && vtime > 0
        };
        let tid = if timed { super::proc::caller().map_or(0, |c| c.tid) } else { 0 };
        let mut st = self.pty.lock();
        if !st.master_open {
            return Ok(0);
        }
        let n = if st.ld.canonical() {
            st.ld.read_line(buf).ok_or(Errno::EAGAIN)?
        } else {
            let (vmin, vtime) = st.ld.min_time();
            let avail = st.ld.raw_len();
            let now = Instant::now();
            if vmin > 0 {
                let want = usize::from(vmin).min(buf.len());
                let timed_out = vtime > 0 && avail > 0 && now.duration_since(st.last_input) >= tenths(vtime);
                if avail < want && !timed_out {
                    return Err(Errno::EAGAIN);
                }
                st.ld.read_raw(buf)
            } else {
                if avail > 0 || vtime == 0 {
                    st.timed_reads.remove(&tid);
                    st.ld.read_raw(buf)
                } else {
                    let entry = st.timed_reads.entry(tid).or_insert((now, now));
                    if now.duration_since(entry.1) > STALE_READ {
                        *entry = (now, now);
                    }
                    entry.1 = now;
                    if now.duration_since(entry.0) < tenths(vtime) {
                        return Err(Errno::EAGAIN);
                    }
                    st.timed_reads.remove(&tid);
                    0
                }
            }
        };
        drop(st);
        if n > 0 {
            self.pty.changed();
        }
        Ok(n)
    }

    fn write(&self, _offset: u64, buf: &[u8]) -> SysResult<usize> {
        if self.pty.hung_up() {
            return Err(Errno::EIO);
        }
        self.pty.background_check_caller(Access::Write)?;
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.pty.lock().ld.write(buf);
        if n == 0 {
            return Err(Errno::EAGAIN);
        }
        self.pty.changed();
        Ok(n)
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(self.tty_stat.unwrap_or_else(|| self.pty.node_stat()))
    }

    fn seekable(&self) -> bool {
        false
    }

    fn poll(&self) -> u32 {
        let st = self.pty.lock();
        if !st.master_open {
            return poll_bits(libc::POLLIN | libc::POLLOUT | libc::POLLERR | libc::POLLHUP | libc::POLLRDNORM | libc::POLLWRNORM);
        }
        let mut ev = 0;
        let readable = if st.ld.canonical() {
            st.ld.line_ready()
        } else {
            let (vmin, vtime) = st.ld.min_time();
            let need = if vtime == 0 && vmin > 0 { usize::from(vmin) } else { 1 };
            st.ld.raw_len() >= need
        };
        if readable {
            ev |= libc::POLLIN | libc::POLLRDNORM;
        }
        if st.ld.output_room() {
            ev |= libc::POLLOUT | libc::POLLWRNORM;
        }
        poll_bits(ev)
    }

    /// Reads with a `VTIME` end by the clock: waiters look again on a short timer.
    fn polls_host(&self) -> bool {
        let st = self.pty.lock();
        !st.ld.canonical() && st.ld.min_time().1 > 0
    }

    fn next_change(&self) -> Option<Instant> {
        let st = self.pty.lock();
        let (vmin, vtime) = st.ld.min_time();
        (!st.ld.canonical() && vmin > 0 && vtime > 0 && st.ld.raw_len() > 0).then(|| st.last_input + tenths(vtime))
    }

    fn wakeups(&self) -> Option<u64> {
        Some(self.pty.wakeups.load(Ordering::Relaxed))
    }

    fn ioctl(&self, mm: &MemoryManager, request: u32, arg: u64) -> SysResult<u64> {
        if self.pty.hung_up() {
            return Err(if u64::from(request) == libc::TIOCSPGRP { Errno::ENOTTY } else { Errno::EIO });
        }
        self.pty.ioctl(false, mm, request, arg)
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// The pseudo-terminal behind an open file, and whether it is the master.
pub fn end_of(file: &dyn FileOps) -> Option<(&Arc<Pty>, bool)> {
    let any = file.as_any()?;
    if let Some(m) = any.downcast_ref::<Master>() {
        return Some((&m.pty, true));
    }
    any.downcast_ref::<Slave>().map(|s| (&s.pty, false))
}

#[cfg(test)]
mod tests;
