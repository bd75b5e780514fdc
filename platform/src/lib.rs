//! The platform runs application code and reports back whenever the application needs the
//! kernel: a system call, a fault, or an interruption requested by the sentry.
//!
//! The sentry sees three objects:
//! - [`Platform`]: creates address spaces and contexts; one per sandbox.
//! - [`AddressSpace`]: a host process (the *stub*) into which ranges of the sentry's memory file
//!   are mapped. Application memory exists only as such mappings.
//! - [`Context`]: runs one application thread's registers in an address space until the next
//!   [`Event`]. A context is used by one sentry thread.
//!
//! Nothing here knows about Linux semantics beyond registers, syscalls and faults: the ptrace
//! implementation ([`ptrace`]) and later ones (seccomp-trap, KVM) share this API, so the sentry
//! does not change when the platform does.

use std::fmt;
use std::sync::Arc;

pub mod ptrace;
mod stub;
pub mod systrap;

/// General-purpose registers of an x86_64 thread, in the kernel's ptrace layout.
pub type Regs = libc::user_regs_struct;

/// The register state of one application thread as the sentry holds it between events.
#[derive(Clone, Copy)]
pub struct CpuState {
    pub regs: Regs,
    /// When set, the platform loads a fresh x87/SSE state (as after `execve`) before running.
    pub reset_fpu: bool,
}

impl CpuState {
    /// A state for a new program: every register zero except what the loader sets.
    pub fn new() -> CpuState {
        // SAFETY: user_regs_struct is plain integers; all-zero is a valid value.
        let regs: Regs = unsafe { std::mem::zeroed() };
        CpuState { regs, reset_fpu: true }
    }
}

impl Default for CpuState {
    fn default() -> Self {
        Self::new()
    }
}

/// Memory protection of a mapping, as `PROT_*` bits.
pub type Prot = i32;

/// Why [`Context::switch`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The thread executed `syscall`. `regs.orig_rax` holds the number, `regs.rip` points after
    /// the instruction; the sentry writes the result to `regs.rax`.
    Syscall,
    /// A synchronous fault: the signal the host kernel would have delivered, with its
    /// `si_code` and `si_addr`.
    Fault { signo: i32, code: i32, addr: u64 },
    /// Another sentry thread asked this context to stop running application code
    /// ([`Interrupt::interrupt`]), for instance to deliver a signal.
    Interrupted,
}

/// The x87/SSE register state in `fxsave` layout, as signal frames hold it.
pub type FpState = [u8; 512];

/// Makes a context return [`Event::Interrupted`] as soon as possible: at once if it is running
/// application code, or from its next `switch` if not.
pub trait Interrupt: Send + Sync {
    fn interrupt(&self);
}

/// A failure of the platform itself (not of the application).
#[derive(Debug)]
pub enum Error {
    /// A host system call the platform needs failed.
    Host { what: &'static str, errno: i32 },
    /// The stub process died or stopped behaving as expected.
    StubLost { pid: i32, detail: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Host { what, errno } => {
                write!(f, "{what}: {}", std::io::Error::from_raw_os_error(*errno))
            }
            Error::StubLost { pid, detail } => write!(f, "stub process {pid} lost: {detail}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Creates address spaces and contexts.
pub trait Platform: Send + Sync {
    /// Short name, as given to `--platform`.
    fn name(&self) -> &'static str;
    /// One past the highest address an application may map.
    fn max_user_address(&self) -> u64;
    /// A new, empty address space.
    fn new_address_space(&self) -> Result<Arc<dyn AddressSpace>>;
    /// A context for the calling sentry thread.
    fn new_context(&self) -> Box<dyn Context>;
    /// The sandbox is over: no address space will be asked for again, and whatever the
    /// platform keeps ready (stub processes) can go.
    fn shutdown(&self) {}
}

/// Application memory: ranges of the memory file mapped at application addresses.
///
/// With the ptrace platform these calls must come from the sentry thread that created the
/// address space (the stub's tracer).
pub trait AddressSpace: Send + Sync {
    /// Maps `len` bytes of the memory file at `offset` to `addr` (shared, fixed).
    fn map(&self, addr: u64, len: u64, prot: Prot, offset: u64) -> Result<()>;
    /// Removes every mapping in `[addr, addr + len)`.
    fn unmap(&self, addr: u64, len: u64) -> Result<()>;
    /// Changes the protection of `[addr, addr + len)`.
    fn protect(&self, addr: u64, len: u64, prot: Prot) -> Result<()>;
    /// Prepares one more application thread in this address space; called by a sentry thread
    /// that runs in it. The token is handed to the sentry thread that will run the new thread,
    /// which passes it to [`AddressSpace::adopt_thread`].
    fn new_thread(&self) -> Result<u64>;
    /// Makes the calling sentry thread the runner of a thread made by `new_thread`.
    fn adopt_thread(&self, token: u64) -> Result<()>;
    /// The calling sentry thread will not run in this address space again.
    fn release_thread(&self);
    /// If the calling sentry thread must outlive its use of the address space (the ptrace
    /// stub's leader is bound to its tracer), a wait to run once the caller is otherwise done:
    /// it returns when the address space has been dropped.
    fn leader_holder(&self) -> Option<Box<dyn FnOnce() + Send>>;
    /// Lets a context find its implementation's own type.
    fn as_any(&self) -> &dyn std::any::Any;
    /// The CPU time the host has given this address space's threads so far, those that have
    /// ended included; zero when the platform cannot tell. Neither part ever goes back.
    fn cpu_time(&self) -> CpuTimes {
        CpuTimes::default()
    }
}

/// CPU time of application threads: running their own code, and in the host kernel on their
/// behalf (system call traps, page faults).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub user: std::time::Duration,
    pub system: std::time::Duration,
}

impl CpuTimes {
    pub fn total(self) -> std::time::Duration {
        self.user + self.system
    }

    /// Each part the larger of the two.
    pub fn max(self, other: CpuTimes) -> CpuTimes {
        CpuTimes { user: self.user.max(other.user), system: self.system.max(other.system) }
    }
}

impl std::ops::Add for CpuTimes {
    type Output = CpuTimes;
    fn add(self, other: CpuTimes) -> CpuTimes {
        CpuTimes { user: self.user + other.user, system: self.system + other.system }
    }
}

impl std::ops::AddAssign for CpuTimes {
    fn add_assign(&mut self, other: CpuTimes) {
        *self = *self + other;
    }
}

/// Runs application threads.
pub trait Context: Send {
    /// Runs `state` in `space` until the next event, then returns with `state` updated.
    fn switch(&mut self, space: &Arc<dyn AddressSpace>, state: &mut CpuState) -> Result<Event>;
    /// A handle other threads use to interrupt this context.
    fn interrupter(&self) -> Arc<dyn Interrupt>;
    /// Reads the floating-point state the thread has in `space`.
    fn fpu(&mut self, space: &Arc<dyn AddressSpace>) -> Result<FpState>;
    /// Replaces the floating-point state the thread has in `space`.
    fn set_fpu(&mut self, space: &Arc<dyn AddressSpace>, fpu: &FpState) -> Result<()>;
    /// The host CPU and NUMA node the thread's stub thread runs on, when it need not be the
    /// calling sentry thread's (ptrace keeps the two on one CPU).
    fn host_cpu(&mut self, _space: &Arc<dyn AddressSpace>) -> Result<Option<(u32, u32)>> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
