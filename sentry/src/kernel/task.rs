//! A task: one application thread, its registers, and the process state it shares.
//!
//! Each task runs on its own sentry thread, created by whoever created the task (boot for the
//! first process, `clone` for the others). The platform binds the task's address space to that
//! thread, so a new process's stub is made on the new thread itself.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};

use platform::{Context, CpuState, Event};

use super::process::{ExitStatus, Process, Thread, RLIMIT_COUNT};
use super::signal::{AltStack, SigInfo, SA_NOCLDWAIT};
use super::Kernel;
use crate::abi::{Rlimit, SigAction};
use crate::errno::{Errno, SysResult};
use crate::loader::{self, ExecRequest, Image, LoadError};
use crate::mm::{MemoryManager, MmCopy};
use crate::syscalls;
use crate::vfs::{Dentry, FdTable, File};

pub use super::process::ExitStatus as Status;

/// Capability numbers (capabilities(7)) and masks of them.
pub mod cap {
    pub const CHOWN: u32 = 0;
    pub const DAC_OVERRIDE: u32 = 1;
    pub const DAC_READ_SEARCH: u32 = 2;
    pub const FOWNER: u32 = 3;
    pub const FSETID: u32 = 4;
    pub const KILL: u32 = 5;
    pub const SETGID: u32 = 6;
    pub const SETUID: u32 = 7;
    pub const SETPCAP: u32 = 8;
    pub const LINUX_IMMUTABLE: u32 = 9;
    pub const SYS_CHROOT: u32 = 18;
    pub const SYS_PTRACE: u32 = 19;
    pub const SYS_ADMIN: u32 = 21;
    pub const SYS_NICE: u32 = 23;
    pub const SYS_RESOURCE: u32 = 24;
    pub const MKNOD: u32 = 27;
    pub const MAC_OVERRIDE: u32 = 32;
    /// The highest capability number (`CAP_CHECKPOINT_RESTORE`).
    pub const LAST: u32 = 40;
    /// Every capability.
    pub const ALL: u64 = (1 << (LAST + 1)) - 1;

    /// The mask of one capability.
    pub const fn bit(cap: u32) -> u64 {
        1 << cap
    }

    /// Whether `cap` names a capability.
    pub fn valid(cap: u64) -> bool {
        cap <= u64::from(LAST)
    }

    /// The capabilities that follow the filesystem user id: leaving fsuid 0 drops them from
    /// the effective set, coming back to 0 restores them from the permitted set.
    pub const FS_MASK: u64 = bit(CHOWN)
        | bit(DAC_OVERRIDE)
        | bit(DAC_READ_SEARCH)
        | bit(FOWNER)
        | bit(FSETID)
        | bit(LINUX_IMMUTABLE)
        | bit(MAC_OVERRIDE)
        | bit(MKNOD);
}

/// The `SECBIT_*` flags of `prctl(PR_SET_SECUREBITS)`: each flag, then its lock.
pub mod secbit {
    pub const NOROOT: u32 = 1 << 0;
    pub const NO_SETUID_FIXUP: u32 = 1 << 2;
    pub const KEEP_CAPS: u32 = 1 << 4;
    pub const KEEP_CAPS_LOCKED: u32 = 1 << 5;
    pub const NO_CAP_AMBIENT_RAISE: u32 = 1 << 6;
    /// Every flag (the even bits).
    pub const ALL_BITS: u32 = 0x55;
    /// Every lock (the odd bits): a locked flag can no longer change.
    pub const ALL_LOCKS: u32 = 0xaa;
}

/// A thread's five capability sets, one bit per capability number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub bounding: u64,
    pub ambient: u64,
}

impl CapSets {
    /// Root's: every capability permitted and effective; none inheritable or ambient.
    pub const FULL: CapSets = CapSets { effective: cap::ALL, permitted: cap::ALL, inheritable: 0, bounding: cap::ALL, ambient: 0 };
    /// An ordinary user's: nothing, under a full bounding set.
    pub const NONE: CapSets = CapSets { effective: 0, permitted: 0, inheritable: 0, bounding: cap::ALL, ambient: 0 };

    /// The sets with their invariants restored: only known capabilities, effective within
    /// permitted, ambient within permitted and inheritable.
    pub fn sanitized(self) -> CapSets {
        let permitted = self.permitted & cap::ALL;
        let inheritable = self.inheritable & cap::ALL;
        CapSets {
            effective: self.effective & permitted,
            permitted,
            inheritable,
            bounding: self.bounding & cap::ALL,
            ambient: self.ambient & permitted & inheritable,
        }
    }
}

/// Credentials inside the sandbox (root by default; nothing here maps to host ids).
#[derive(Clone, Debug)]
pub struct Creds {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    /// The filesystem user id: the one file permission checks use.
    pub fsuid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub fsgid: u32,
    pub groups: Vec<u32>,
    pub caps: CapSets,
    /// `SECBIT_*` flags.
    pub securebits: u32,
}

impl Default for Creds {
    /// Root with every capability.
    fn default() -> Creds {
        Creds::new(0, 0, Vec::new(), None)
    }
}

impl Creds {
    /// A process started from outside with these ids and capability sets, as they are just
    /// before it executes its program. Without sets given: root has every capability, any
    /// other user none.
    pub fn new(uid: u32, gid: u32, groups: Vec<u32>, caps: Option<CapSets>) -> Creds {
        let caps = caps.map_or(if uid == 0 { CapSets::FULL } else { CapSets::NONE }, CapSets::sanitized);
        Creds { uid, euid: uid, suid: uid, fsuid: uid, gid, egid: gid, sgid: gid, fsgid: gid, groups, caps, securebits: 0 }
    }

    /// Whether `cap` is in the effective set.
    pub fn capable(&self, cap: u32) -> bool {
        self.caps.effective & cap::bit(cap) != 0
    }

    /// Whether the caller is in group `gid` (its filesystem group or a supplementary one).
    pub fn in_group(&self, gid: u32) -> bool {
        self.fsgid == gid || self.groups.contains(&gid)
    }

    /// Sets real, effective and saved user ids (the filesystem id follows the effective
    /// one) and adjusts the capabilities as capabilities(7) says a uid change does:
    /// leaving uid 0 altogether clears permitted, effective and ambient (permitted stays
    /// with keep-caps); an effective uid leaving 0 clears the effective set, one coming back
    /// to 0 restores it from the permitted set.
    pub fn set_uids(&mut self, uid: u32, euid: u32, suid: u32) {
        let old = [self.uid, self.euid, self.suid];
        (self.uid, self.euid, self.suid, self.fsuid) = (uid, euid, suid, euid);
        if self.securebits & secbit::NO_SETUID_FIXUP != 0 {
            return;
        }
        let c = &mut self.caps;
        if old.contains(&0) && ![uid, euid, suid].contains(&0) {
            if self.securebits & secbit::KEEP_CAPS == 0 {
                c.permitted = 0;
                c.effective = 0;
            }
            c.ambient = 0;
        }
        if old[1] == 0 && euid != 0 {
            c.effective = 0;
        }
        if old[1] != 0 && euid == 0 {
            c.effective = c.permitted;
        }
    }

    /// Sets the filesystem user id; the filesystem capabilities leave the effective set with
    /// uid 0 and come back (if permitted) with it.
    pub fn set_fsuid(&mut self, fsuid: u32) {
        let old = std::mem::replace(&mut self.fsuid, fsuid);
        if self.securebits & secbit::NO_SETUID_FIXUP != 0 {
            return;
        }
        let c = &mut self.caps;
        if old == 0 && fsuid != 0 {
            c.effective &= !cap::FS_MASK;
        }
        if old != 0 && fsuid == 0 {
            c.effective |= c.permitted & cap::FS_MASK;
        }
    }

    /// The capability transformation of `execve` for a file with no capabilities of its
    /// own and no set-user-ID bit: with root special (an effective or real uid 0, without
    /// `SECBIT_NOROOT`) the file counts as having every capability permitted and inheritable,
    /// and with an effective uid 0 as effective:
    /// P' = (P(inheritable) & F(inheritable)) | (F(permitted) & bounding) | P'(ambient);
    /// E' = F(effective) ? P' : P'(ambient). Keep-caps does not survive.
    pub fn exec(&mut self) {
        let root_special = self.securebits & secbit::NOROOT == 0;
        let c = &mut self.caps;
        let (file_permitted, file_inheritable, file_effective) = if root_special && (self.euid == 0 || self.uid == 0) {
            (cap::ALL, cap::ALL, self.euid == 0)
        } else {
            (0, 0, false)
        };
        // Only a privileged file (file capabilities, set-user-ID) clears the ambient set:
        // there are none in the sandbox.
        c.ambient &= c.permitted & c.inheritable;
        c.permitted = (c.inheritable & file_inheritable) | (file_permitted & c.bounding) | c.ambient;
        c.effective = if file_effective { c.permitted } else { c.ambient };
        self.securebits &= !secbit::KEEP_CAPS;
    }
}

/// What a process started from outside the sandbox begins with.
pub struct Launch {
    /// Its descriptor table (usually the host's standard streams).
    pub files: FdTable,
    /// The program, as a path in the sandbox, and its argv and environment.
    pub path: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    pub cwd: Arc<Dentry>,
    /// The credentials as they are before the program is executed (its execution then
    /// transforms the capability sets as `execve` does).
    pub creds: Creds,
    pub umask: u32,
    /// Limits that differ from the defaults, by `RLIMIT_*` index.
    pub rlimits: Vec<(usize, Rlimit)>,
}

/// Root, working directory and umask; shared between tasks created with `CLONE_FS`.
pub struct FsContext {
    pub root: Arc<Dentry>,
    pub cwd: Arc<Dentry>,
    pub umask: u32,
}

pub struct Task {
    pub kernel: Arc<Kernel>,
    pub tid: i32,
    pub process: Arc<Process>,
    pub thread: Arc<Thread>,
    pub cpu: CpuState,
    pub mm: Arc<MemoryManager>,
    pub(crate) ctx: Box<dyn Context>,
    pub files: Arc<Mutex<FdTable>>,
    pub fs: Arc<Mutex<FsContext>>,
    pub creds: Creds,
    pub exe: Arc<Dentry>,
    pub altstack: AltStack,
    pub clear_child_tid: u64,
    pub robust_list: u64,
    /// A system call interrupted with a restart code; settled when signals are delivered.
    pub restart: Option<Errno>,
    /// The mask to restore when the handler that interrupted `rt_sigsuspend` returns.
    pub saved_mask: Option<u64>,
    /// Set by `exit`: this thread leaves (the rest of the process may go on).
    pub exiting: Option<ExitStatus>,
    /// Argument and environment strings of the running program (for `/proc`).
    pub args: std::ops::Range<u64>,
    pub env: std::ops::Range<u64>,
}

fn default_rlimits() -> [Rlimit; RLIMIT_COUNT] {
    const INF: u64 = u64::MAX;
    let mut r = [Rlimit { cur: INF, max: INF }; RLIMIT_COUNT];
    r[libc::RLIMIT_STACK as usize] = Rlimit { cur: loader::STACK_SIZE, max: INF };
    r[libc::RLIMIT_CORE as usize] = Rlimit { cur: 0, max: INF };
    r[libc::RLIMIT_NOFILE as usize] = Rlimit { cur: crate::vfs::file::DEFAULT_NOFILE, max: 1 << 20 };
    r[libc::RLIMIT_NPROC as usize] = Rlimit { cur: 1 << 16, max: 1 << 16 };
    r[libc::RLIMIT_MEMLOCK as usize] = Rlimit { cur: 8 << 20, max: 8 << 20 };
    r[libc::RLIMIT_SIGPENDING as usize] = Rlimit { cur: 1 << 16, max: 1 << 16 };
    r[libc::RLIMIT_MSGQUEUE as usize] = Rlimit { cur: 819_200, max: 819_200 };
    r[libc::RLIMIT_NICE as usize] = Rlimit { cur: 0, max: 0 };
    r[libc::RLIMIT_RTPRIO as usize] = Rlimit { cur: 0, max: 0 };
    r
}

/// The memory a new task starts with.
pub enum NewMemory {
    /// The same address space as its creator (threads).
    Shared(Arc<MemoryManager>),
    /// A copy of its creator's memory, mapped into a new address space on the new thread.
    Copy(MmCopy),
}

/// Everything a task created by `clone` needs, prepared by its creator.
pub struct NewTask {
    pub kernel: Arc<Kernel>,
    pub process: Arc<Process>,
    pub thread: Arc<Thread>,
    pub cpu: CpuState,
    /// The creator's floating-point state (a new thread starts with a copy).
    pub fpu: Option<platform::FpState>,
    /// For a thread in its creator's address space: the platform's token for it.
    pub stub_thread: Option<u64>,
    pub memory: NewMemory,
    pub ctx: Box<dyn Context>,
    pub files: Arc<Mutex<FdTable>>,
    pub fs: Arc<Mutex<FsContext>>,
    pub creds: Creds,
    pub exe: Arc<Dentry>,
    pub altstack: AltStack,
    pub clear_child_tid: u64,
    /// Where to write the child's tid in its own memory (`CLONE_CHILD_SETTID`).
    pub child_settid: u64,
    pub args: std::ops::Range<u64>,
    pub env: std::ops::Range<u64>,
}

impl NewTask {
    /// Starts the task on a thread of its own.
    pub fn spawn(self) -> std::io::Result<()> {
        self.kernel.table.lock().unwrap().live_threads += 1;
        let kernel = self.kernel.clone();
        let tid = self.thread.tid;
        let r = std::thread::Builder::new().name(format!("task-{tid}")).spawn(move || {
            let kernel = self.kernel.clone();
            let process = self.process.clone();
            let thread = self.thread.clone();
            match self.start() {
                Ok(task) => task.run(),
                Err(e) => {
                    // Failing to start is expected when the process is being killed meanwhile.
                    if process.state.lock().unwrap().group_exit.is_some() {
                        tracing::debug!(tid, "task killed while starting: {e:?}");
                    } else {
                        tracing::error!(tid, "starting a task: {e:?}");
                    }
                    process.exit_group(ExitStatus::Signaled(libc::SIGKILL));
                    retire_thread(&kernel, &process, &thread, ExitStatus::Signaled(libc::SIGKILL), None);
                }
            }
        });
        if r.is_err() {
            kernel.table.lock().unwrap().live_threads -= 1;
        }
        r.map(|_| ())
    }

    /// On the task's own thread: builds its address space and becomes a task.
    fn start(self) -> SysResult<Task> {
        let task = self.build()?;
        if task.tid == task.process.pid {
            task.publish_resources();
        }
        Ok(task)
    }

    fn build(self) -> SysResult<Task> {
        let mm = match self.memory {
            NewMemory::Shared(mm) => {
                if let Some(token) = self.stub_thread {
                    mm.space().adopt_thread(token).map_err(|e| {
                        tracing::error!("attaching a new thread: {e}");
                        Errno::EAGAIN
                    })?;
                }
                mm
            }
            NewMemory::Copy(copy) => {
                let space = self.kernel.platform.new_address_space().map_err(|e| {
                    tracing::error!("creating an address space: {e}");
                    Errno::ENOMEM
                })?;
                Arc::new(MemoryManager::from_copy(copy, space, self.kernel.memfile.clone())?)
            }
        };
        if self.child_settid != 0 {
            mm.write_val(self.child_settid, &self.thread.tid)?;
        }
        let mut ctx = self.ctx;
        let mut cpu = self.cpu;
        if let Some(fpu) = self.fpu {
            ctx.set_fpu(mm.space(), &fpu).map_err(|_| Errno::ENOMEM)?;
            cpu.reset_fpu = false;
        }
        Ok(Task {
            tid: self.thread.tid,
            kernel: self.kernel,
            process: self.process,
            thread: self.thread,
            cpu,
            mm,
            ctx,
            files: self.files,
            fs: self.fs,
            creds: self.creds,
            exe: self.exe,
            altstack: self.altstack,
            clear_child_tid: self.clear_child_tid,
            robust_list: 0,
            restart: None,
            saved_mask: None,
            exiting: None,
            args: self.args,
            env: self.env,
        })
    }
}

impl Task {
    /// Starts a process from outside the sandbox (the first one, or one `exec`'d into a
    /// running sandbox): a new session and process group of its own, no parent (ppid 0).
    /// Returns its pid once its program is loaded.
    pub fn launch(kernel: Arc<Kernel>, launch: Launch) -> Result<i32, LoadError> {
        let (tx, rx) = mpsc::channel();
        let pid = {
            let mut table = kernel.table.lock().unwrap();
            let pid = table.allocate().ok_or(LoadError::from(Errno::EAGAIN))?;
            table.live_threads += 1;
            pid
        };
        let k = kernel.clone();
        let thread = std::thread::Builder::new().name(format!("task-{pid}")).spawn(move || {
            let Launch { files, path, argv, envp, cwd, mut creds, umask, rlimits } = launch;
            let root = k.root.clone();
            let request = ExecRequest { root: &root, cwd: &cwd, path, argv, envp, uid: creds.euid, gid: creds.egid };
            let image = match loader::load(&k, request) {
                Ok(image) => image,
                Err(e) => {
                    k.table.lock().unwrap().live_threads -= 1;
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            // The credentials were the process's before it executed its program.
            creds.exec();
            let mut limits = default_rlimits();
            for (resource, limit) in rlimits {
                if let Some(slot) = limits.get_mut(resource) {
                    *slot = limit;
                }
            }
            let process = Process::new(pid, 0, pid, pid, [SigAction::default(); 64], limits);
            let ctx = k.platform.new_context();
            let thread = Thread::new(pid, 0, ctx.interrupter());
            process.state.lock().unwrap().threads.push(thread.clone());
            k.table.lock().unwrap().processes.insert(pid, process.clone());
            let fs = FsContext { root: root.clone(), cwd, umask };
            let mut task = Task {
                kernel: k.clone(),
                tid: pid,
                process,
                thread,
                cpu: CpuState::new(),
                mm: image.mm.clone(),
                ctx,
                files: Arc::new(Mutex::new(files)),
                fs: Arc::new(Mutex::new(fs)),
                creds,
                exe: image.exe.clone(),
                altstack: AltStack::default(),
                clear_child_tid: 0,
                robust_list: 0,
                restart: None,
                saved_mask: None,
                exiting: None,
                args: 0..0,
                env: 0..0,
            };
            task.start_image(image);
            let _ = tx.send(Ok(pid));
            task.run();
        });
        if let Err(e) = thread {
            kernel.table.lock().unwrap().live_threads -= 1;
            tracing::error!("starting a task: {e}");
            return Err(Errno::EAGAIN.into());
        }
        rx.recv().unwrap_or(Err(LoadError::from(Errno::EIO)))
    }

    /// Switches the task to a freshly loaded program.
    pub fn start_image(&mut self, image: Image) {
        self.cpu = CpuState::new();
        self.cpu.regs.rip = image.entry;
        self.cpu.regs.rsp = image.stack_pointer;
        self.cpu.regs.cs = 0x33;
        self.cpu.regs.ss = 0x2b;
        self.cpu.regs.eflags = 0x202;
        self.mm = image.mm;
        self.exe = image.exe;
        self.args = image.args;
        self.env = image.env;
        self.process.state.lock().unwrap().comm = image.name.into_iter().take(15).collect();
        self.publish_resources();
    }

    /// Records what `/proc` shows of this process.
    pub fn publish_resources(&self) {
        let r = super::process::Resources {
            mm: self.mm.clone(),
            files: self.files.clone(),
            fs: self.fs.clone(),
            exe: self.exe.clone(),
            args: self.args.clone(),
            env: self.env.clone(),
            creds: self.creds.clone(),
        };
        // What it replaces is dropped after the lock (it may hold the last reference to files).
        let mut st = self.process.state.lock().unwrap();
        st.starting_creds = None;
        let _old = st.resources.replace(r);
        drop(st);
    }

    pub fn files(&self) -> MutexGuard<'_, FdTable> {
        self.files.lock().unwrap()
    }

    /// The open file behind `fd`, or `EBADF`.
    pub fn file(&self, fd: i32) -> SysResult<Arc<File>> {
        self.files().get(fd)
    }

    pub fn fs(&self) -> MutexGuard<'_, FsContext> {
        self.fs.lock().unwrap()
    }

    pub fn rlimit(&self, resource: u32) -> Rlimit {
        self.process.rlimit(resource)
    }

    pub fn pid(&self) -> i32 {
        self.process.pid
    }

    /// Whether the thread must stop running application code for good: it exits, its process
    /// exits, or another thread of it is executing a new program.
    fn leaving(&self) -> bool {
        let st = self.process.state.lock().unwrap();
        self.exiting.is_some() || st.group_exit.is_some() || st.exec_by.is_some_and(|tid| tid != self.tid)
    }

    /// Runs the task until it exits.
    pub fn run(mut self) {
        // Each task has its own sentry thread: /proc/self is this task's for the thread's life.
        crate::fs::proc::set_current(&self.kernel, self.process.pid, self.tid);
        self.thread.bind_clock();
        loop {
            if self.leaving() {
                break;
            }
            self.deliver_signals();
            self.wait_while_stopped();
            if self.leaving() {
                break;
            }
            self.process.app_gate.enter();
            let started = std::time::Instant::now();
            let event = self.ctx.switch(self.mm.space(), &mut self.cpu);
            self.thread.add_app_time(started.elapsed());
            self.process.app_gate.leave();
            match event {
                Ok(Event::Syscall) => syscalls::dispatch(&mut self),
                Ok(Event::Fault { signo, code, addr }) => self.fault(signo, code, addr),
                Ok(Event::Interrupted) => {}
                Err(e) => {
                    tracing::error!(tid = self.tid, "platform failure: {e}");
                    self.process.exit_group(ExitStatus::Signaled(libc::SIGKILL));
                }
            }
        }
        self.exit_thread();
    }

    /// A synchronous fault: the signal goes to this thread. If it is blocked or ignored, the
    /// process dies of it, as Linux's `force_sig` does.
    fn fault(&mut self, signo: i32, code: i32, addr: u64) {
        tracing::debug!(tid = self.tid, signo, code, addr = format_args!("{addr:#x}"), rip = format_args!("{:#x}", self.cpu.regs.rip), "fault");
        let act = self.process.action(signo);
        if self.thread.blocks(signo) || act.handler == libc::SIG_IGN as u64 {
            self.process.exit_group(ExitStatus::Signaled(signo));
            return;
        }
        self.thread.signals.lock().unwrap().pending.push(SigInfo::fault(signo, code, addr));
    }

    /// Leaves: clears the tid word for joiners, and if this was the process's last thread,
    /// turns the process into a zombie and tells its parent.
    fn exit_thread(mut self) {
        if self.clear_child_tid != 0 && self.mm.write_val(self.clear_child_tid, &0u32).is_ok() {
            crate::syscalls::futex_wake(&self, self.clear_child_tid, 1);
        }
        let status = self
            .process
            .state
            .lock()
            .unwrap()
            .group_exit
            .or(self.exiting)
            .unwrap_or(ExitStatus::Exited(0));
        let kernel = self.kernel.clone();
        let (process, thread) = (self.process.clone(), self.thread.clone());
        // Files close before the parent can see the exit (a reaped child holds no pipe end).
        self.files = Arc::new(Mutex::new(FdTable::default()));
        // The address space's clock, read once this thread runs no more application code:
        // the last thread out reads the whole of it.
        let left = (self.mm.space().cpu_time(), self.mm.peak_rss());
        retire_thread(&kernel, &process, &thread, status, Some(left));
        // Let go of the platform's thread; a thread the platform binds to the address space's
        // lifetime waits, owning nothing else, until the others are done with it.
        let space = self.mm.space().clone();
        space.release_thread();
        let holder = space.leader_holder();
        drop(space);
        drop(self);
        if let Some(wait) = holder {
            wait();
        }
    }
}

/// Removes a thread from its process and the kernel; the last one out ends the process. Runs
/// on the thread's own sentry thread, whose CPU time becomes the process's; `left` is what the
/// thread last saw of its address space: its CPU clock and peak resident set.
fn retire_thread(kernel: &Arc<Kernel>, process: &Arc<Process>, thread: &Arc<Thread>, status: ExitStatus, left: Option<(platform::CpuTimes, u64)>) {
    let mut table = kernel.table.lock().unwrap();
    table.live_threads -= 1;
    if thread.tid != process.pid {
        table.tids.remove(&thread.tid);
    }
    let last = {
        let mut st = process.state.lock().unwrap();
        st.threads.retain(|t| !Arc::ptr_eq(t, thread));
        st.usage.system_done += super::process::own_cpu_time();
        st.usage.app_done += thread.app_time();
        if let Some((cpu, maxrss)) = left {
            st.usage.leave_space(cpu, maxrss);
        }
        st.threads.is_empty() && st.zombie.is_none()
    };
    if last {
        // Its files close before the parent can see the exit (a reaped child holds no pipe
        // end), and with no lock held: closing one may signal other processes (a
        // pseudo-terminal's master hangs up the session it controls).
        let released = process.state.lock().unwrap().resources.take();
        drop(table);
        drop(released);
        table = kernel.table.lock().unwrap();
        end_process(kernel, &mut table, process, status);
    }
    drop(table);
    kernel.events.notify();
}

/// The last thread has gone: reparent the children, become a zombie, tell the parent.
fn end_process(kernel: &Kernel, table: &mut super::PidTable, process: &Arc<Process>, status: ExitStatus) {
    let pid = process.pid;
    let timers = std::mem::take(&mut *process.timers.lock().unwrap());
    for id in timers.real.into_iter().chain(timers.posix.into_values()) {
        kernel.timers.delete(id);
    }
    let (ppid, children, exit_signal) = {
        let mut st = process.state.lock().unwrap();
        st.zombie = Some(status);
        st.resources = None;
        st.vfork_done = true;
        (st.ppid, std::mem::take(&mut st.children), st.exit_signal)
    };
    if pid == 1 {
        // The sandbox's init is gone: like a pid namespace, everything else dies with it.
        for p in table.processes.values().filter(|p| p.pid != 1) {
            p.exit_group(ExitStatus::Signaled(libc::SIGKILL));
        }
    } else if let Some(init) = table.processes.get(&1).cloned() {
        for child in &children {
            if let Some(c) = table.processes.get(child) {
                let zombie = {
                    let mut cs = c.state.lock().unwrap();
                    cs.ppid = 1;
                    cs.zombie.is_some()
                };
                init.state.lock().unwrap().children.insert(*child);
                if zombie {
                    init.send(SigInfo::kernel(libc::SIGCHLD));
                }
            }
        }
    }
    let Some(parent) = table.processes.get(&ppid).cloned() else {
        return;
    };
    let act = parent.action(libc::SIGCHLD);
    if exit_signal == libc::SIGCHLD && (act.handler == libc::SIG_IGN as u64 || act.flags & SA_NOCLDWAIT != 0) {
        // Nobody will wait: reap at once.
        parent.state.lock().unwrap().children.remove(&pid);
        table.processes.remove(&pid);
        table.tids.remove(&pid);
        return;
    }
    if exit_signal > 0 {
        let mut info = SigInfo::child(pid, status);
        info.signo = exit_signal;
        parent.send(info);
    }
    kernel.events.notify();
}

#[cfg(test)]
mod tests {
    use super::{cap, secbit, CapSets, Creds};

    #[test]
    fn root_starts_with_everything_and_others_with_nothing() {
        let mut root = Creds::default();
        root.exec();
        assert_eq!(root.caps, CapSets::FULL);
        let mut user = Creds::new(1000, 100, Vec::new(), None);
        user.exec();
        assert_eq!(user.caps, CapSets::NONE);
        assert!(!user.capable(cap::CHOWN) && root.capable(cap::CHOWN));
    }

    #[test]
    fn exec_as_root_takes_the_bounding_and_inheritable_sets() {
        let chown = cap::bit(cap::CHOWN);
        let kill = cap::bit(cap::KILL);
        let given = CapSets { effective: 0, permitted: chown, inheritable: kill, bounding: chown, ambient: 0 };
        let mut root = Creds::new(0, 0, Vec::new(), Some(given));
        root.exec();
        assert_eq!((root.caps.permitted, root.caps.effective), (chown | kill, chown | kill));
        // A real uid 0 alone: permitted, not effective.
        let mut half = Creds::new(0, 0, Vec::new(), Some(given));
        half.set_uids(0, 5, 0);
        half.exec();
        assert_eq!((half.caps.permitted, half.caps.effective), (chown | kill, 0));
    }

    #[test]
    fn exec_as_a_user_keeps_only_the_ambient_set() {
        let net = cap::bit(10);
        let given = CapSets { effective: net, permitted: net, inheritable: net, bounding: cap::ALL, ambient: net };
        let mut user = Creds::new(1000, 1000, Vec::new(), Some(given));
        user.exec();
        assert_eq!((user.caps.permitted, user.caps.effective, user.caps.ambient), (net, net, net));
        let mut plain = Creds::new(1000, 1000, Vec::new(), Some(CapSets { ambient: 0, ..given }));
        plain.exec();
        assert_eq!((plain.caps.permitted, plain.caps.effective), (0, 0));
    }

    #[test]
    fn leaving_uid_0_clears_capabilities_unless_keep_caps() {
        let mut c = Creds::default();
        c.set_uids(0, 1000, 0);
        assert_eq!((c.caps.permitted, c.caps.effective), (cap::ALL, 0), "euid leaving 0 clears the effective set");
        c.set_uids(0, 0, 0);
        assert_eq!(c.caps.effective, cap::ALL, "and coming back restores it");
        c.set_uids(1000, 1000, 1000);
        assert_eq!((c.caps.permitted, c.caps.effective), (0, 0));
        let mut k = Creds::default();
        k.securebits |= secbit::KEEP_CAPS;
        k.set_uids(1000, 1000, 1000);
        assert_eq!((k.caps.permitted, k.caps.effective), (cap::ALL, 0));
        k.exec();
        assert_eq!(k.securebits & secbit::KEEP_CAPS, 0, "keep-caps does not survive execve");
    }

    #[test]
    fn fsuid_moves_the_filesystem_capabilities() {
        let mut c = Creds::default();
        c.set_fsuid(1000);
        assert_eq!(c.caps.effective, cap::ALL & !cap::FS_MASK);
        assert!(!c.capable(cap::DAC_OVERRIDE) && c.capable(cap::KILL));
        c.set_fsuid(0);
        assert_eq!(c.caps.effective, cap::ALL);
    }

    #[test]
    fn given_sets_are_made_consistent() {
        let s = CapSets { effective: 0b111, permitted: 0b011, inheritable: 0b001, bounding: u64::MAX, ambient: 0b110 }.sanitized();
        assert_eq!((s.effective, s.ambient, s.bounding), (0b011, 0, cap::ALL));
    }
}
