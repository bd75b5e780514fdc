//! The ptrace platform: application threads run in stub processes under `PTRACE_SYSEMU`.
//!
//! Every system call the application makes stops the stub before the host kernel acts on it
//! and is reported as [`Event::Syscall`]; the sentry writes the result into the registers and
//! resumes. Host system calls run in a stub only when the sentry injects them, to map, unmap
//! and protect ranges of the memory file ([`AddressSpace`]).
//!
//! ptrace requests are only accepted from the tracing thread, so each stub thread is bound to
//! one sentry thread, which makes every call for it. An address space has one stub thread per
//! sentry thread running application threads in it: more are made with `clone` injected into
//! an existing one (they park in the stub page's `pause` loop) and attached with
//! `PTRACE_SEIZE` by the sentry thread that will run them.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::stub::{self, SPAWN_ENTRY, SPAWN_RETURN, STUB_BASE, STUB_RETURN, STUB_SIZE, USER_TOP};
use std::time::Duration;

use crate::{AddressSpace, Context, CpuState, CpuTimes, Error, Event, FpState, Interrupt, Platform, Prot, Regs, Result};

const SYSCALL_STOP: i32 = libc::SIGTRAP | 0x80;
/// The host signal that kicks a running stub back to its tracer; never generated otherwise.
pub(crate) const INTERRUPT_SIGNAL: i32 = libc::SIGURG;

/// The ptrace platform. `memfd` is the sentry's memory file; every stub keeps it open under
/// the same descriptor number.
pub struct Ptrace {
    memfd: i32,
}

impl Ptrace {
    /// Maps the stub code page in the sentry, to be inherited by stubs. Call it before the
    /// sentry makes large mappings of its own (the memory file), so nothing can take its place.
    pub fn prepare() -> Result<()> {
        static PREPARED: std::sync::OnceLock<std::result::Result<(), (&'static str, i32)>> = std::sync::OnceLock::new();
        let r = PREPARED.get_or_init(|| {
            stub::install_stub_page().map_err(|e| match e {
                Error::Host { what, errno } => (what, errno),
                Error::StubLost { .. } => ("mapping the stub page", libc::EIO),
            })
        });
        r.map_err(|(what, errno)| Error::Host { what, errno })
    }

    pub fn new(memfd: i32) -> Result<Ptrace> {
        Self::prepare()?;
        Ok(Ptrace { memfd })
    }
}

impl Platform for Ptrace {
    fn name(&self) -> &'static str {
        "ptrace"
    }

    fn max_user_address(&self) -> u64 {
        STUB_BASE
    }

    fn new_address_space(&self) -> Result<Arc<dyn AddressSpace>> {
        Ok(Arc::new(Stub::new(self.memfd, &[self.memfd], true)?))
    }

    fn new_context(&self) -> Box<dyn Context> {
        Box::new(PtraceContext { interrupt: Arc::new(SignalInterrupt::default()) })
    }
}

pub(crate) fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

pub(crate) fn host(what: &'static str) -> Error {
    Error::Host { what, errno: errno() }
}

thread_local! {
    /// The host tid of the calling sentry thread (cached: looked up on every switch).
    static SENTRY_TID: i32 = {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() }
    };
}

pub(crate) fn sentry_tid() -> i32 {
    SENTRY_TID.with(|t| *t)
}

/// A stub process: one address space, with one host thread per sentry thread that runs
/// application code in it. Each stub thread is traced by its sentry thread; the first (the
/// process leader) by the sentry thread that created the stub, which must therefore stay until
/// the address space is dropped (see [`AddressSpace::release_thread`]).
pub struct Stub {
    pid: i32,
    /// A pidfd of the stub process: signals through it can never hit a recycled pid.
    pidfd: Option<OwnedFd>,
    memfd: i32,
    dead: AtomicBool,
    /// Set once the stub runs untraced (see [`Stub::detach`]): it is no longer ours to kill.
    detached: bool,
    /// Stub thread tid by the host tid of the sentry thread that traces it.
    threads: Mutex<HashMap<i32, i32>>,
    /// Set when the address space is dropped, for a leader tracer waiting to let go.
    dropped: Arc<(Mutex<bool>, Condvar)>,
    /// The CPU time last reported (the split between user and system never goes back).
    cpu: Mutex<CpuTimes>,
}

impl Stub {
    /// The host pid of the stub process.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// A new stub, stopped and stripped, keeping descriptors `keep` (in increasing order) of
    /// which `memfd` is the memory file; with `pin`, on the calling thread's CPU.
    pub(crate) fn new(memfd: i32, keep: &[i32], pin: bool) -> Result<Stub> {
        let stub = Stub::fork(memfd, keep, pin)?;
        let pid = stub.pid;
        if let Some(args) = stub.rseq_unregistration(pid) {
            stub.inject_checked(pid, "unregistering rseq in a new stub", libc::SYS_rseq, args)?;
        }
        for (addr, len) in strip_ranges(&[]) {
            stub.inject(pid, libc::SYS_munmap, [addr, len, 0, 0, 0, 0])?;
        }
        Ok(stub)
    }

    /// [`Stub::new`] without the stripping: the stub still holds its copy of the sentry's
    /// memory and rseq registration (see [`Stub::rseq_unregistration`], [`strip_ranges`]).
    pub(crate) fn fork(memfd: i32, keep: &[i32], pin: bool) -> Result<Stub> {
        let pid = stub::fork_stub(keep)?;
        let mut threads = HashMap::new();
        threads.insert(sentry_tid(), pid);
        // SAFETY: pidfd_open on our own child; the result is a new descriptor we own.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        // SAFETY: a non-negative result is a fresh descriptor.
        let pidfd = (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(i32::try_from(pidfd).unwrap_or(-1)) });
        let stub = Stub {
            pid,
            pidfd,
            memfd,
            dead: AtomicBool::new(false),
            detached: false,
            threads: Mutex::new(threads),
            dropped: Arc::default(),
            cpu: Mutex::default(),
        };
        let status = stub.wait(pid)?;
        if !libc::WIFSTOPPED(status) || libc::WSTOPSIG(status) != libc::SIGSTOP {
            return Err(stub.lost(format!("unexpected first stop, status {status:#x}")));
        }
        let options = libc::PTRACE_O_EXITKILL | libc::PTRACE_O_TRACESYSGOOD;
        // SAFETY: PTRACE_SETOPTIONS on our stopped tracee; no memory is passed.
        if unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, options) } != 0 {
            return Err(host("PTRACE_SETOPTIONS on a new stub"));
        }
        if pin {
            share_cpu_with_tracer(pid);
        }
        Ok(stub)
    }

    /// The stub thread the calling sentry thread traces in this address space.
    fn current(&self) -> Result<i32> {
        self.threads
            .lock()
            .unwrap()
            .get(&sentry_tid())
            .copied()
            .ok_or_else(|| Error::StubLost { pid: self.pid, detail: "no stub thread for this sentry thread".into() })
    }

    /// The `rseq` arguments that undo the registration inherited from the sentry's libc, if
    /// any: its area is about to be unmapped, and the kernel would then fault the stub on every
    /// return to user space.
    pub(crate) fn rseq_unregistration(&self, tid: i32) -> Option<[u64; 6]> {
        const PTRACE_GET_RSEQ_CONFIGURATION: libc::c_uint = 0x420f;
        const RSEQ_FLAG_UNREGISTER: u64 = 1;
        #[repr(C)]
        #[derive(Default)]
        struct RseqConfig {
            pointer: u64,
            size: u32,
            signature: u32,
            flags: u32,
            pad: u32,
        }
        let mut cfg = RseqConfig::default();
        let size = std::mem::size_of::<RseqConfig>();
        // SAFETY: cfg is a writable buffer of `size` bytes, as the request expects.
        let r = unsafe { libc::ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, size, &mut cfg as *mut RseqConfig) };
        if r <= 0 || cfg.pointer == 0 {
            return None;
        }
        Some([cfg.pointer, u64::from(cfg.size), RSEQ_FLAG_UNREGISTER, u64::from(cfg.signature), 0, 0])
    }

    fn lost(&self, detail: String) -> Error {
        self.dead.store(true, Ordering::Relaxed);
        Error::StubLost { pid: self.pid, detail }
    }

    /// Waits for the next stop of stub thread `tid`; a thread that exited instead is lost.
    fn wait(&self, tid: i32) -> Result<i32> {
        let mut status = 0;
        loop {
            // SAFETY: status is a valid out pointer.
            let r = unsafe { libc::waitpid(tid, &mut status, libc::__WALL) };
            if r == tid {
                break;
            }
            if r < 0 && errno() == libc::EINTR {
                continue;
            }
            return Err(self.lost(format!("waitpid failed: {}", std::io::Error::last_os_error())));
        }
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            return Err(self.lost(format!("thread {tid} exited with status {status:#x}")));
        }
        Ok(status)
    }

    pub(crate) fn get_regs(&self, tid: i32, regs: &mut Regs) -> Result<()> {
        // SAFETY: regs is a valid, writable user_regs_struct.
        if unsafe { libc::ptrace(libc::PTRACE_GETREGS, tid, 0, regs as *mut Regs) } != 0 {
            return Err(self.lost(format!("PTRACE_GETREGS: {}", std::io::Error::last_os_error())));
        }
        Ok(())
    }

    pub(crate) fn set_regs(&self, tid: i32, regs: &Regs) -> Result<()> {
        // SAFETY: regs is a valid user_regs_struct; the kernel only reads it.
        if unsafe { libc::ptrace(libc::PTRACE_SETREGS, tid, 0, regs as *const Regs) } != 0 {
            return Err(self.lost(format!("PTRACE_SETREGS: {}", std::io::Error::last_os_error())));
        }
        Ok(())
    }

    fn reset_fpu(&self, tid: i32) -> Result<()> {
        let mut fp: FpState = [0; 512];
        fp[0..2].copy_from_slice(&0x37fu16.to_le_bytes()); // x87 control word
        fp[24..28].copy_from_slice(&0x1f80u32.to_le_bytes()); // MXCSR
        fp[28..32].copy_from_slice(&0xffffu32.to_le_bytes()); // MXCSR mask
        self.set_fpu(tid, &fp)
    }

    fn get_fpu(&self, tid: i32) -> Result<FpState> {
        let mut fp: FpState = [0; 512];
        // SAFETY: fp is 512 writable bytes, the size of user_fpregs_struct.
        if unsafe { libc::ptrace(libc::PTRACE_GETFPREGS, tid, 0, fp.as_mut_ptr()) } != 0 {
            return Err(self.lost(format!("PTRACE_GETFPREGS: {}", std::io::Error::last_os_error())));
        }
        Ok(fp)
    }

    fn set_fpu(&self, tid: i32, fp: &FpState) -> Result<()> {
        // SAFETY: fp is 512 bytes, the size of user_fpregs_struct; the kernel only reads it.
        if unsafe { libc::ptrace(libc::PTRACE_SETFPREGS, tid, 0, fp.as_ptr()) } != 0 {
            return Err(self.lost(format!("PTRACE_SETFPREGS: {}", std::io::Error::last_os_error())));
        }
        Ok(())
    }

    fn resume(&self, tid: i32, request: libc::c_uint) -> Result<()> {
        // SAFETY: resumes our stopped tracee with no signal.
        if unsafe { libc::ptrace(request, tid, 0, 0) } != 0 {
            return Err(self.lost(format!("resuming: {}", std::io::Error::last_os_error())));
        }
        Ok(())
    }

    /// Runs a routine of the stub page in thread `tid` with `rax = nr` and `args`, until it
    /// traps at `returns`; gives back `rax`.
    pub(crate) fn call(&self, tid: i32, entry: u64, returns: u64, nr: libc::c_long, args: [u64; 6]) -> Result<i64> {
        // SAFETY: user_regs_struct is plain integers; all-zero is valid.
        let mut regs: Regs = unsafe { std::mem::zeroed() };
        self.get_regs(tid, &mut regs)?;
        regs.rip = entry;
        regs.rax = nr.cast_unsigned();
        regs.orig_rax = u64::MAX;
        regs.rdi = args[0];
        regs.rsi = args[1];
        regs.rdx = args[2];
        regs.r10 = args[3];
        regs.r8 = args[4];
        regs.r9 = args[5];
        self.set_regs(tid, &regs)?;
        self.resume(tid, libc::PTRACE_CONT)?;
        let status = self.wait(tid)?;
        self.get_regs(tid, &mut regs)?;
        if !libc::WIFSTOPPED(status) || libc::WSTOPSIG(status) != libc::SIGTRAP || regs.rip != returns {
            return Err(self.lost(format!("injected syscall {nr} stopped with {status:#x} at {:#x}", regs.rip)));
        }
        Ok(regs.rax.cast_signed())
    }

    /// Runs one host system call in stub thread `tid` and returns its raw result.
    fn inject(&self, tid: i32, nr: libc::c_long, args: [u64; 6]) -> Result<i64> {
        self.call(tid, STUB_BASE, STUB_RETURN, nr, args)
    }

    pub(crate) fn inject_checked(&self, tid: i32, what: &'static str, nr: libc::c_long, args: [u64; 6]) -> Result<()> {
        let r = self.inject(tid, nr, args)?;
        if (-4095..0).contains(&r) {
            return Err(Error::Host { what, errno: i32::try_from(-r).unwrap_or(libc::EIO) });
        }
        Ok(())
    }

    /// Lets the stub leader run untraced from `regs`; gives back its pid and pidfd, which the
    /// caller now owns (the leader stays bound to this thread by its parent-death signal).
    pub(crate) fn detach(mut self, regs: &Regs) -> Result<(i32, Option<OwnedFd>)> {
        self.set_regs(self.pid, regs)?;
        // SAFETY: detaches our stopped tracee with no signal; no memory is passed.
        if unsafe { libc::ptrace(libc::PTRACE_DETACH, self.pid, 0, 0) } != 0 {
            return Err(self.lost(format!("PTRACE_DETACH: {}", std::io::Error::last_os_error())));
        }
        self.detached = true;
        Ok((self.pid, self.pidfd.take()))
    }

    /// Ends stub thread `tid` (not the leader) and reaps it.
    fn end_thread(&self, tid: i32) {
        // SAFETY: user_regs_struct is plain integers; all-zero is valid.
        let mut regs: Regs = unsafe { std::mem::zeroed() };
        if self.get_regs(tid, &mut regs).is_err() {
            return;
        }
        regs.rip = STUB_BASE;
        regs.rax = libc::SYS_exit.cast_unsigned();
        regs.orig_rax = u64::MAX;
        regs.rdi = 0;
        if self.set_regs(tid, &regs).is_ok() && self.resume(tid, libc::PTRACE_CONT).is_ok() {
            // SAFETY: reaps our own traced thread; a null status pointer is allowed.
            unsafe { libc::waitpid(tid, std::ptr::null_mut(), libc::__WALL) };
        }
    }
}

/// The ranges to unmap to strip a new stub of its copy of the sentry: everything but the stub
/// page and the ranges `keep` (sorted, above the stub page).
pub(crate) fn strip_ranges(keep: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut ranges = vec![(0, STUB_BASE)];
    let mut from = STUB_BASE + STUB_SIZE;
    for &(addr, len) in keep {
        ranges.push((from, addr - from));
        from = addr + len;
    }
    ranges.push((from, USER_TOP - from));
    ranges
}

/// Pins the calling sentry thread and stub thread `tid` to the CPU the sentry thread runs on.
/// Every event is a hand-off between the two; on one CPU it is a plain context switch, across
/// CPUs it costs a wake-up IPI (a VM exit under virtualisation), which makes the round trip
/// about twice as slow.
pub(crate) fn share_cpu_with_tracer(tid: i32) {
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    let Ok(cpu) = usize::try_from(cpu) else { return };
    // SAFETY: cpu_set_t is a plain bit mask; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes one bit of `set`; cpu is below CPU_SETSIZE on any real host.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a valid cpu_set_t of `size` bytes; 0 names the calling thread.
    unsafe {
        libc::sched_setaffinity(0, size, &set);
        libc::sched_setaffinity(tid, size, &set);
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        match &self.pidfd {
            // SAFETY: signals our own stub through its pidfd; no memory is involved.
            Some(fd) => unsafe {
                libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), libc::SIGKILL, std::ptr::null::<libc::siginfo_t>(), 0);
            },
            // SAFETY: as above, by pid (kernels without pidfds).
            None => unsafe {
                libc::kill(self.pid, libc::SIGKILL);
            },
        }
        let leader_is_ours = self.threads.lock().unwrap().get(&sentry_tid()) == Some(&self.pid);
        if leader_is_ours {
            // SAFETY: reaps our own traced child; a null status pointer is allowed.
            unsafe { libc::waitpid(self.pid, std::ptr::null_mut(), libc::__WALL) };
        }
        // A leader tracer waiting in release_thread reaps it instead.
        let (done, cv) = &*self.dropped;
        *done.lock().unwrap() = true;
        cv.notify_all();
    }
}

pub(crate) fn prot_arg(prot: Prot) -> u64 {
    u64::from(prot.unsigned_abs())
}

impl AddressSpace for Stub {
    fn map(&self, addr: u64, len: u64, prot: Prot, offset: u64) -> Result<()> {
        let flags = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
        let fd = u64::from(self.memfd.unsigned_abs());
        let tid = self.current()?;
        self.inject_checked(tid, "mapping memory in a stub", libc::SYS_mmap, [addr, len, prot_arg(prot), flags, fd, offset])
    }

    fn unmap(&self, addr: u64, len: u64) -> Result<()> {
        let tid = self.current()?;
        self.inject_checked(tid, "unmapping memory in a stub", libc::SYS_munmap, [addr, len, 0, 0, 0, 0])
    }

    fn protect(&self, addr: u64, len: u64, prot: Prot) -> Result<()> {
        let tid = self.current()?;
        self.inject_checked(tid, "protecting memory in a stub", libc::SYS_mprotect, [addr, len, prot_arg(prot), 0, 0, 0])
    }

    fn new_thread(&self) -> Result<u64> {
        let tid = self.current()?;
        let flags = (libc::CLONE_VM | libc::CLONE_FS | libc::CLONE_FILES | libc::CLONE_SIGHAND | libc::CLONE_THREAD | libc::CLONE_SYSVSEM) as u64;
        let r = self.call(tid, SPAWN_ENTRY, SPAWN_RETURN, libc::SYS_clone, [flags, 0, 0, 0, 0, 0])?;
        match u64::try_from(r) {
            Ok(child) if child > 0 => Ok(child),
            _ => Err(Error::Host { what: "creating a stub thread", errno: i32::try_from(-r).unwrap_or(libc::EIO) }),
        }
    }

    fn adopt_thread(&self, token: u64) -> Result<()> {
        let tid = i32::try_from(token).map_err(|_| self.lost(format!("bad thread token {token}")))?;
        let options = (libc::PTRACE_O_EXITKILL | libc::PTRACE_O_TRACESYSGOOD) as usize;
        // SAFETY: attaches to a thread of our own stub; no memory is passed.
        if unsafe { libc::ptrace(libc::PTRACE_SEIZE, tid, 0, options) } != 0 {
            return Err(host("PTRACE_SEIZE of a new stub thread"));
        }
        // SAFETY: stops the thread we just seized; no memory is passed.
        if unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0) } != 0 {
            return Err(host("PTRACE_INTERRUPT of a new stub thread"));
        }
        self.wait(tid)?;
        share_cpu_with_tracer(tid);
        self.threads.lock().unwrap().insert(sentry_tid(), tid);
        Ok(())
    }

    fn release_thread(&self) {
        let Ok(tid) = self.current() else { return };
        if tid != self.pid {
            self.threads.lock().unwrap().remove(&sentry_tid());
            self.end_thread(tid);
        }
    }

    fn leader_holder(&self) -> Option<Box<dyn FnOnce() + Send>> {
        if self.current().ok() != Some(self.pid) {
            return None;
        }
        let (pid, dropped) = (self.pid, self.dropped.clone());
        Some(Box::new(move || {
            let (done, cv) = &*dropped;
            let mut d = done.lock().unwrap();
            while !*d {
                d = cv.wait(d).unwrap();
            }
            drop(d);
            // SAFETY: reaps the stub leader we trace; a null status pointer is allowed.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::__WALL) };
        }))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    /// The stub process's CPU clocks: every stub thread's time, past and present.
    fn cpu_time(&self) -> CpuTimes {
        stub_cpu_time(self.pid, &self.cpu)
    }
}

/// The CPU time of stub process `pid`, never less than `prev`, which it updates.
pub(crate) fn stub_cpu_time(pid: i32, prev: &Mutex<CpuTimes>) -> CpuTimes {
    let sample = [CPUCLOCK_SCHED, CPUCLOCK_VIRT, CPUCLOCK_PROF].map(|kind| process_clock(pid, kind));
    let mut prev = prev.lock().unwrap();
    *prev = split_cpu_time(sample[0], sample[1], sample[2], *prev);
    *prev
}

/// The kinds of a process's CPU clocks: user and system time in scheduler ticks, user time
/// alone in ticks, and the precise total.
const CPUCLOCK_PROF: libc::clockid_t = 0;
const CPUCLOCK_VIRT: libc::clockid_t = 1;
const CPUCLOCK_SCHED: libc::clockid_t = 2;

/// CPU clock `kind` of host process `pid` (a child of ours; any process's clock may be read),
/// or zero once it has gone.
fn process_clock(pid: i32, kind: libc::clockid_t) -> Duration {
    // The kernel's id of a process's clock: the complemented pid above three bits of kind.
    let clock: libc::clockid_t = ((!pid) << 3) | kind;
    // SAFETY: timespec is plain data; all-zero is valid.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: ts is a valid out pointer; an unknown clock only fails with EINVAL.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(u64::try_from(ts.tv_sec).unwrap_or(0), u32::try_from(ts.tv_nsec).unwrap_or(0))
}

/// Splits the precise CPU time `total` between user and system in the proportion of the tick
/// samples (`user_ticks` of `all_ticks`), as Linux's `getrusage` does, and so that neither part
/// falls below what `prev` reported.
pub(crate) fn split_cpu_time(total: Duration, user_ticks: Duration, all_ticks: Duration, prev: CpuTimes) -> CpuTimes {
    if total <= prev.total() {
        return prev;
    }
    let user = if all_ticks.is_zero() {
        total
    } else {
        let scaled = total.as_nanos() * user_ticks.as_nanos().min(all_ticks.as_nanos()) / all_ticks.as_nanos();
        Duration::from_nanos(u64::try_from(scaled).unwrap_or(u64::MAX))
    };
    let mut system = total - user;
    let mut user = user;
    if system < prev.system {
        system = prev.system;
        user = total - system;
    }
    if user < prev.user {
        user = prev.user;
        system = total - user;
    }
    CpuTimes { user, system }
}

/// Interrupts a context: a flag checked before every resume, and a host signal that stops the
/// stub thread if it is running.
#[derive(Default)]
pub(crate) struct SignalInterrupt {
    pub(crate) requested: AtomicBool,
    /// The stub process and thread the context is running, 0 when none.
    pub(crate) running_pid: AtomicI32,
    pub(crate) running_tid: AtomicI32,
}

impl Interrupt for SignalInterrupt {
    fn interrupt(&self) {
        self.requested.store(true, Ordering::SeqCst);
        let tid = self.running_tid.load(Ordering::SeqCst);
        let pid = self.running_pid.load(Ordering::SeqCst);
        if tid != 0 {
            // SAFETY: sends a signal to a thread of our own stub; no memory is involved.
            unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, INTERRUPT_SIGNAL) };
        }
    }
}

/// Runs application threads in [`Stub`]s. The stub thread is the address space's.
struct PtraceContext {
    interrupt: Arc<SignalInterrupt>,
}

fn stub_of(space: &Arc<dyn AddressSpace>) -> &Stub {
    space.as_any().downcast_ref::<Stub>().expect("ptrace context in a ptrace address space")
}

impl PtraceContext {
    fn run(&self, stub: &Stub, tid: i32, state: &mut CpuState) -> Result<Event> {
        let mut ran = false;
        loop {
            if self.interrupt.requested.swap(false, Ordering::SeqCst) {
                if ran {
                    stub.get_regs(tid, &mut state.regs)?;
                }
                return Ok(Event::Interrupted);
            }
            ran = true;
            stub.resume(tid, libc::PTRACE_SYSEMU)?;
            let status = stub.wait(tid)?;
            let sig = libc::WSTOPSIG(status);
            if sig == SYSCALL_STOP {
                stub.get_regs(tid, &mut state.regs)?;
                return Ok(Event::Syscall);
            }
            // A ptrace event stop (PTRACE_INTERRUPT of a seized thread) is no fault.
            if status >> 16 != 0 {
                continue;
            }
            match sig {
                libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL | libc::SIGTRAP => {
                    stub.get_regs(tid, &mut state.regs)?;
                    return Self::fault(stub, tid, sig);
                }
                // Any other signal (the interrupt kick, or one sent to the stub from outside)
                // is not the application's: it is dropped, and the flag above decides.
                _ => continue,
            }
        }
    }

    fn fault(stub: &Stub, tid: i32, signo: i32) -> Result<Event> {
        // SAFETY: siginfo_t is plain data; all-zero is valid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: info is a valid, writable siginfo_t.
        if unsafe { libc::ptrace(libc::PTRACE_GETSIGINFO, tid, 0, &mut info as *mut _) } != 0 {
            return Err(stub.lost(format!("PTRACE_GETSIGINFO: {}", std::io::Error::last_os_error())));
        }
        // SAFETY: si_addr is meaningful for the fault signals this is called for.
        let addr = unsafe { info.si_addr() } as u64;
        Ok(Event::Fault { signo, code: info.si_code, addr })
    }
}

impl Context for PtraceContext {
    fn switch(&mut self, space: &Arc<dyn AddressSpace>, state: &mut CpuState) -> Result<Event> {
        let stub = stub_of(space);
        if stub.dead.load(Ordering::Relaxed) {
            return Err(Error::StubLost { pid: stub.pid, detail: "already lost".into() });
        }
        let tid = stub.current()?;
        if state.reset_fpu {
            stub.reset_fpu(tid)?;
            state.reset_fpu = false;
        }
        stub.set_regs(tid, &state.regs)?;
        self.interrupt.running_pid.store(stub.pid, Ordering::SeqCst);
        self.interrupt.running_tid.store(tid, Ordering::SeqCst);
        let event = self.run(stub, tid, state);
        self.interrupt.running_tid.store(0, Ordering::SeqCst);
        event
    }

    fn interrupter(&self) -> Arc<dyn Interrupt> {
        self.interrupt.clone()
    }

    fn fpu(&mut self, space: &Arc<dyn AddressSpace>) -> Result<FpState> {
        let stub = stub_of(space);
        stub.get_fpu(stub.current()?)
    }

    fn set_fpu(&mut self, space: &Arc<dyn AddressSpace>, fpu: &FpState) -> Result<()> {
        let stub = stub_of(space);
        stub.set_fpu(stub.current()?, fpu)
    }
}
