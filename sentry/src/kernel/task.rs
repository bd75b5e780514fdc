//! A task: one application thread, its registers, and the process state it uses.
//!
//! Until threads and fork exist, a task is also its whole process (thread group of one).

use std::sync::Arc;

use platform::{Context, CpuState, Event};

use super::Kernel;
use crate::abi::{Rlimit, SigAction};
use crate::loader::{self, ExecRequest, Image, LoadError};
use crate::mm::MemoryManager;
use crate::syscalls;
use crate::vfs::{Dentry, FdTable};

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled(i32),
}

impl ExitStatus {
    /// The status a shell reports: the code, or 128 + the signal.
    pub fn shell_code(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c & 0xff,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }
}

/// Credentials inside the sandbox (root by default; nothing here maps to host ids).
#[derive(Clone, Debug, Default)]
pub struct Creds {
    pub uid: u32,
    pub euid: u32,
    pub suid: u32,
    pub gid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub groups: Vec<u32>,
}

/// Root, working directory and umask.
pub struct FsContext {
    pub root: Arc<Dentry>,
    pub cwd: Arc<Dentry>,
    pub umask: u32,
}

/// Signal dispositions and mask (delivery arrives with the signals work).
pub struct Signals {
    pub actions: [SigAction; 64],
    pub mask: u64,
    pub altstack: [u64; 3],
}

pub const RLIMIT_COUNT: usize = 16;

pub struct Task {
    pub kernel: Arc<Kernel>,
    pub tid: i32,
    pub tgid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    pub cpu: CpuState,
    pub mm: Arc<MemoryManager>,
    ctx: Box<dyn Context>,
    pub files: FdTable,
    pub fs: FsContext,
    pub creds: Creds,
    pub exe: Arc<Dentry>,
    pub comm: Vec<u8>,
    pub signals: Signals,
    pub rlimits: [Rlimit; RLIMIT_COUNT],
    pub clear_child_tid: u64,
    /// Set when the task has exited; the loop stops.
    pub exit: Option<ExitStatus>,
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

impl Task {
    /// The first process (pid 1): loads `path` with `argv` and `envp`.
    pub fn new_init(kernel: Arc<Kernel>, files: FdTable, cwd: Arc<Dentry>, path: Vec<u8>, argv: Vec<Vec<u8>>, envp: Vec<Vec<u8>>) -> Result<Task, LoadError> {
        let root = kernel.root.clone();
        let creds = Creds::default();
        let image = loader::load(&kernel, ExecRequest { root: &root, cwd: &cwd, path, argv, envp, uid: creds.euid, gid: creds.egid })?;
        let ctx = kernel.platform.new_context();
        let mut task = Task {
            tid: 1,
            tgid: 1,
            ppid: 0,
            pgid: 1,
            sid: 1,
            cpu: CpuState::new(),
            mm: image.mm.clone(),
            ctx,
            files,
            fs: FsContext { root, cwd, umask: 0o022 },
            creds,
            exe: image.exe.clone(),
            comm: Vec::new(),
            signals: Signals { actions: [SigAction::default(); 64], mask: 0, altstack: [0, libc::SS_DISABLE as u64, 0] },
            rlimits: default_rlimits(),
            clear_child_tid: 0,
            exit: None,
            kernel,
        };
        task.start_image(image);
        Ok(task)
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
        self.comm = image.name.into_iter().take(15).collect();
    }

    /// Runs the task until it exits.
    pub fn run(&mut self) -> ExitStatus {
        loop {
            match self.ctx.switch(self.mm.space(), &mut self.cpu) {
                Ok(Event::Syscall) => syscalls::dispatch(self),
                Ok(Event::Fault { signo, code, addr }) => {
                    tracing::debug!(signo, code, addr = format_args!("{addr:#x}"), rip = format_args!("{:#x}", self.cpu.regs.rip), "fault");
                    // Without handlers yet, a fault signal has its default action: terminate.
                    self.exit = Some(ExitStatus::Signaled(signo));
                }
                Err(e) => {
                    tracing::error!("platform failure: {e}");
                    self.exit = Some(ExitStatus::Signaled(libc::SIGKILL));
                }
            }
            if let Some(status) = self.exit {
                return status;
            }
        }
    }
}
