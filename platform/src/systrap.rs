//! The systrap platform: application threads run in stub processes under a seccomp filter
//! that turns every system call made outside the stub page into a `SIGSYS`.
//!
//! No ptrace stop is on the fast path. Each stub thread owns a *slot* in a context file
//! shared with the sentry. The stub's handler for `SIGSYS`, the fault signals and the
//! interrupt signal runs on the slot's alternate stack. It records where the kernel put the
//! signal frame, marks the slot [`STATE_STUB`] and sleeps on a futex in it. The sentry reads
//! and writes the application's registers in that frame, then marks the slot [`STATE_RUN`];
//! the handler returns and `rt_sigreturn` resumes the application with the new registers. A
//! slot marked [`STATE_CALL`] makes the parked handler run one host system call for the
//! sentry instead (mapping memory, making a thread) and park again.
//!
//! A stub is made as for ptrace, stripped of the sentry by injected calls, then given its
//! handlers and filter and let go. The filter lets the stub page make only the calls the
//! handler needs; an application that jumps into the page can make those calls and no other,
//! and the slots, like the rest of its address space, are its own to corrupt: the sentry
//! checks every address it takes from a slot.

// The casts here take known-small layout constants to usize (this file is x86_64 only),
// syscall numbers and addresses to the 32-bit halves the filter compares, and negative errnos
// to register values.
#![allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use crate::ptrace::{self, errno, host, prot_arg, sentry_tid, SignalInterrupt, INTERRUPT_SIGNAL};
use crate::stub::{STUB_BASE, STUB_SIZE, SYSTRAP_CODE};
use crate::{AddressSpace, Context, CpuState, CpuTimes, Error, Event, FpState, Interrupt, Platform, Prot, Regs, Result};

/// Size and alignment of one stub thread's slot: the handler finds its slot by rounding its
/// stack pointer down to this.
const SLOT_SIZE: u64 = 0x1_0000;
/// Slots per address space: one per stub thread, more than the sandbox's task limit.
const MAX_SLOTS: usize = 2048;
/// Where the context file is mapped in every stub, above the stub page.
const CONTEXT_BASE: u64 = STUB_BASE + 0x10_0000;
const CONTEXT_LEN: u64 = SLOT_SIZE * MAX_SLOTS as u64;
/// Top of the stack a new stub thread starts on (offset in its slot).
const ENTRY_STACK_TOP: u64 = 0x2000;
/// The alternate signal stack: the rest of the slot.
const ALT_STACK: u64 = 0x2000;

// Offsets in a slot's header, shared with the stub code.
const OFF_STATE: u64 = 0x00; // u32 futex word
const OFF_SIGNO: u64 = 0x04; // u32: the signal that entered the handler
const OFF_SIGINFO: u64 = 0x08; // stub address of its siginfo
const OFF_UCONTEXT: u64 = 0x10; // stub address of its ucontext
const OFF_NR: u64 = 0x18; // a call for the handler to make: number, six arguments, result
const OFF_ARGS: u64 = 0x20;
const OFF_RESULT: u64 = 0x50;
const OFF_FS_BASE: u64 = 0x58;
const OFF_GS_BASE: u64 = 0x60;
const OFF_TID: u64 = 0x68; // u32: the thread's tid, cleared by the kernel when it exits
const OFF_ALTSTACK: u64 = 0x70; // stack_t for sigaltstack
const OFF_NO_SIGNALS: u64 = 0x88; // an empty signal mask
const OFF_SPIN: u64 = 0x90; // u32: how long the handler polls before sleeping
const OFF_CPU: u64 = 0x98; // two u32, where getcpu answers
/// Scratch space for the structures of the set-up calls (slot 0 only).
const OFF_SETUP: u64 = 0x100;

/// The stub thread is parked in its handler: the sentry may look at it.
const STATE_STUB: u32 = 1;
/// The sentry lets the application run.
const STATE_RUN: u32 = 2;
/// The sentry asks the parked handler to make the call in the slot.
const STATE_CALL: u32 = 3;

/// Added to a state by the side that waits for it to change once it goes to sleep on the
/// futex: the other side then has to wake it.
const SLEEPER: u32 = 0x100;
const STATE_MASK: u32 = 0xff;
/// How long each side polls the slot before sleeping, in `pause` instructions (tens of
/// nanoseconds each). A wake-up costs microseconds, more across CPUs under virtualisation.
/// The stub waits out the sentry's work on a call (up to ~50 µs: a 128 KiB read's copy fits);
/// the sentry waits out the application's code between calls (up to ~25 µs).
const STUB_SPIN: u32 = 2000;
const SENTRY_SPIN: u32 = 1000;

/// `si_code` of a `SIGSYS` raised by a seccomp filter.
const SYS_SECCOMP: i32 = 1;

// The stub code, copied to the stub page at SYSTRAP_CODE. It is position-independent: it
// finds its slot from the stack pointer and jumps only within itself.
std::arch::global_asm!(
    ".pushsection .text.sandbox_systrap, \"ax\", @progbits",
    ".globl sandbox_systrap_begin",
    "sandbox_systrap_begin:",
    // The handler: rdi = signal, rsi = siginfo, rdx = ucontext, on the slot's alternate stack.
    ".globl sandbox_systrap_handler",
    "sandbox_systrap_handler:",
    "mov rbx, rsp",
    "and rbx, {slot_mask}",
    "mov dword ptr [rbx + {signo}], edi",
    "mov qword ptr [rbx + {siginfo}], rsi",
    "mov qword ptr [rbx + {ucontext}], rdx",
    "rdfsbase rax",
    "mov qword ptr [rbx + {fs_base}], rax",
    "rdgsbase rax",
    "mov qword ptr [rbx + {gs_base}], rax",
    // Park: tell the sentry (waking it if it sleeps), then wait while the slot says so:
    // spinning a little, since the answer often comes within microseconds, then asleep.
    "2:",
    "mov eax, {stub}",
    "xchg dword ptr [rbx + {state}], eax",
    "test eax, {sleeper}",
    "jz 3f",
    "mov rdi, rbx",
    "mov esi, 1", // FUTEX_WAKE (shared: the sentry is another process)
    "mov edx, 1",
    "mov eax, 202",
    "syscall",
    "3:",
    "mov ecx, dword ptr [rbx + {spin}]",
    "7:",
    "mov eax, dword ptr [rbx + {state}]",
    "and eax, {state_mask}",
    "cmp eax, {stub}",
    "jne 4f",
    "test ecx, ecx",
    "jz 9f",
    "pause",
    "dec ecx",
    "jmp 7b",
    "9:",
    "mov eax, {stub}",
    "mov edx, {stub} | {sleeper}",
    "lock cmpxchg dword ptr [rbx + {state}], edx",
    "jne 3b",
    "8:",
    "mov rdi, rbx",
    "xor esi, esi", // FUTEX_WAIT
    "mov edx, {stub} | {sleeper}",
    "xor r10d, r10d",
    "mov eax, 202",
    "syscall",
    "mov eax, dword ptr [rbx + {state}]",
    "cmp eax, {stub} | {sleeper}",
    "je 8b",
    "and eax, {state_mask}",
    "4:",
    "cmp eax, {call}",
    "jne 5f",
    "mov rax, qword ptr [rbx + {nr}]",
    "mov rdi, qword ptr [rbx + {args}]",
    "mov rsi, qword ptr [rbx + {args} + 8]",
    "mov rdx, qword ptr [rbx + {args} + 16]",
    "mov r10, qword ptr [rbx + {args} + 24]",
    "mov r8, qword ptr [rbx + {args} + 32]",
    "mov r9, qword ptr [rbx + {args} + 40]",
    "syscall",
    // A thread made by clone comes back on its own slot's entry stack.
    "mov rcx, rsp",
    "and rcx, {slot_mask}",
    "cmp rcx, rbx",
    "jne sandbox_systrap_thread_entry",
    "mov qword ptr [rbx + {result}], rax",
    "jmp 2b",
    // Run: the sentry has written the application's registers into the frame.
    "5:",
    "mov rax, qword ptr [rbx + {fs_base}]",
    "wrfsbase rax",
    "mov rax, qword ptr [rbx + {gs_base}]",
    "wrgsbase rax",
    "ret",
    ".globl sandbox_systrap_restorer",
    "sandbox_systrap_restorer:",
    "mov eax, 15", // rt_sigreturn
    "syscall",
    "ud2",
    // A new stub thread, on its slot's entry stack: take the slot's alternate stack, unblock
    // every signal, and enter the handler to park.
    ".globl sandbox_systrap_thread_entry",
    "sandbox_systrap_thread_entry:",
    "mov rbx, rsp",
    "and rbx, {slot_mask}",
    "lea rdi, [rbx + {altstack}]",
    "xor esi, esi",
    "mov eax, 131", // sigaltstack
    "syscall",
    "mov edi, 2", // SIG_SETMASK
    "lea rsi, [rbx + {no_signals}]",
    "xor edx, edx",
    "mov r10d, 8",
    "mov eax, 14", // rt_sigprocmask
    "syscall",
    "6:",
    "mov eax, 39", // getpid
    "syscall",
    "mov r12, rax",
    "mov eax, 186", // gettid
    "syscall",
    "mov rsi, rax",
    "mov rdi, r12",
    "mov edx, {enter_signal}",
    "mov eax, 234", // tgkill
    "syscall",
    "jmp 6b",
    // Set-up, run by ptrace in a new stub: makes the calls of the list at rdi (rsi entries of
    // nr, six arguments and a result each) in order, storing each result, and stops at the
    // first failure or at the end with an int3.
    ".globl sandbox_systrap_batch",
    "sandbox_systrap_batch:",
    "mov r12, rdi",
    "mov r13, rsi",
    "10:",
    "test r13, r13",
    "jz 11f",
    "mov rax, qword ptr [r12]",
    "mov rdi, qword ptr [r12 + 8]",
    "mov rsi, qword ptr [r12 + 16]",
    "mov rdx, qword ptr [r12 + 24]",
    "mov r10, qword ptr [r12 + 32]",
    "mov r8, qword ptr [r12 + 40]",
    "mov r9, qword ptr [r12 + 48]",
    "syscall",
    "mov qword ptr [r12 + 56], rax",
    "cmp rax, -4095",
    "jae 11f",
    "add r12, 64",
    "dec r13",
    "jmp 10b",
    "11:",
    "int3",
    ".globl sandbox_systrap_batch_return",
    "sandbox_systrap_batch_return:",
    ".globl sandbox_systrap_end",
    "sandbox_systrap_end:",
    ".popsection",
    slot_mask = const -(SLOT_SIZE as i64),
    state = const OFF_STATE,
    signo = const OFF_SIGNO,
    siginfo = const OFF_SIGINFO,
    ucontext = const OFF_UCONTEXT,
    nr = const OFF_NR,
    args = const OFF_ARGS,
    result = const OFF_RESULT,
    fs_base = const OFF_FS_BASE,
    gs_base = const OFF_GS_BASE,
    altstack = const OFF_ALTSTACK,
    no_signals = const OFF_NO_SIGNALS,
    stub = const STATE_STUB,
    call = const STATE_CALL,
    sleeper = const SLEEPER,
    state_mask = const STATE_MASK,
    spin = const OFF_SPIN,
    enter_signal = const INTERRUPT_SIGNAL,
);

unsafe extern "C" {
    static sandbox_systrap_begin: u8;
    static sandbox_systrap_handler: u8;
    static sandbox_systrap_restorer: u8;
    static sandbox_systrap_thread_entry: u8;
    static sandbox_systrap_batch: u8;
    static sandbox_systrap_batch_return: u8;
    static sandbox_systrap_end: u8;
}

/// The stub code's bytes and the offsets of its entry points in it.
struct StubCode {
    bytes: &'static [u8],
    handler: u64,
    restorer: u64,
    thread_entry: u64,
    batch: u64,
    batch_return: u64,
}

fn stub_code() -> StubCode {
    let begin = &raw const sandbox_systrap_begin as usize;
    let end = &raw const sandbox_systrap_end as usize;
    let offset = |p: *const u8| (p as usize - begin) as u64;
    // SAFETY: the two symbols bound one block of code in this binary's text.
    let bytes = unsafe { std::slice::from_raw_parts(begin as *const u8, end - begin) };
    StubCode {
        bytes,
        handler: offset(&raw const sandbox_systrap_handler),
        restorer: offset(&raw const sandbox_systrap_restorer),
        thread_entry: offset(&raw const sandbox_systrap_thread_entry),
        batch: offset(&raw const sandbox_systrap_batch),
        batch_return: offset(&raw const sandbox_systrap_batch_return),
    }
}

/// The bytes to copy into the stub page at [`SYSTRAP_CODE`].
pub(crate) fn stub_code_bytes() -> &'static [u8] {
    stub_code().bytes
}

fn entry(offset: u64) -> u64 {
    STUB_BASE + SYSTRAP_CODE + offset
}

/// The systrap platform. `memfd` is the sentry's memory file, as for ptrace.
pub struct Systrap {
    memfd: i32,
    activity: Arc<Activity>,
    pool: Arc<StubPool>,
}

/// Stubs made ahead of need by one long-lived thread, so that `fork` and `execve` usually find
/// one ready instead of paying for a fork of the sentry and its set-up. Their parent-death
/// signal binds them to that thread, which lives as long as the sentry.
#[derive(Default)]
struct StubPool {
    state: Mutex<PoolState>,
    /// Wakes the maker thread: a stub was taken or is waited for, or the pool closed.
    to_maker: Condvar,
    /// Wakes one taker per stub made (a fork bomb leaves a thousand waiting, and waking them
    /// all for each stub costs more than making it), or all of them when the pool closes.
    to_takers: Condvar,
}

#[derive(Default)]
struct PoolState {
    ready: std::collections::VecDeque<Result<TrapStub>>,
    maker_started: bool,
    /// Set by [`Platform::shutdown`]: nothing more is made.
    closed: bool,
    /// The maker thread is making a stub (and waiting for its stops as its tracer).
    making: bool,
    /// Stubs handed out so far, and callers waiting for one.
    taken: usize,
    waiting: usize,
}

impl PoolState {
    /// How many stubs to have ready: those waited for, plus [`POOL_SIZE`] spares once the
    /// sandbox has shown it makes processes (the first stub is the first program's, and a
    /// sandbox that runs one program needs no spares).
    fn wanted(&self) -> usize {
        self.waiting + if self.taken >= 2 { POOL_SIZE } else { 0 }
    }
}

/// Spare stubs kept ready.
const POOL_SIZE: usize = 2;

impl StubPool {
    /// The maker thread's loop: keeps [`POOL_SIZE`] stubs ready. After a failure it waits until
    /// the failure has been handed out before trying again.
    fn make(&self, memfd: i32, activity: &Arc<Activity>) -> ! {
        loop {
            let mut state = self.state.lock().unwrap();
            while state.closed || state.ready.len() >= state.wanted() || state.ready.back().is_some_and(Result::is_err) {
                state = self.to_maker.wait(state).unwrap();
            }
            state.making = true;
            drop(state);
            let stub = TrapStub::new(memfd, activity.clone());
            let mut state = self.state.lock().unwrap();
            state.making = false;
            state.ready.push_back(stub);
            if state.closed {
                // Shutdown waits for the end of this stub.
                self.to_takers.notify_all();
            } else {
                self.to_takers.notify_one();
            }
        }
    }
}

/// How busy the sandbox's threads keep the host's CPUs.
struct Activity {
    /// Contexts running application code (inside [`Context::switch`]).
    running: AtomicUsize,
    cpus: usize,
}

impl Systrap {
    /// Checks that the host supports what the stubs need; prepares the stub page.
    pub fn new(memfd: i32) -> Result<Systrap> {
        // The handler saves and restores the thread pointer with rdfsbase/wrfsbase.
        const HWCAP2_FSGSBASE: u64 = 1 << 1;
        // SAFETY: getauxval has no preconditions.
        if unsafe { libc::getauxval(libc::AT_HWCAP2) } & HWCAP2_FSGSBASE == 0 {
            return Err(Error::Host { what: "systrap needs the FSGSBASE instructions", errno: libc::ENOSYS });
        }
        ptrace::Ptrace::prepare()?;
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Systrap { memfd, activity: Arc::new(Activity { running: AtomicUsize::new(0), cpus }), pool: Arc::default() })
    }

    /// A stub from the pool, starting its maker thread on first use.
    fn take_stub(&self) -> Result<TrapStub> {
        let mut state = self.pool.state.lock().unwrap();
        if !state.maker_started {
            let (pool, memfd, activity) = (self.pool.clone(), self.memfd, self.activity.clone());
            std::thread::Builder::new()
                .name("stub-maker".into())
                .spawn(move || pool.make(memfd, &activity))
                .map_err(|e| Error::Host { what: "starting the stub maker thread", errno: e.raw_os_error().unwrap_or(libc::EAGAIN) })?;
            state.maker_started = true;
        }
        loop {
            if state.closed {
                return Err(Error::Host { what: "creating an address space after shutdown", errno: libc::ESHUTDOWN });
            }
            if let Some(stub) = state.ready.pop_front() {
                state.taken += 1;
                self.pool.to_maker.notify_one();
                return stub;
            }
            state.waiting += 1;
            self.pool.to_maker.notify_one();
            state = self.pool.to_takers.wait(state).unwrap();
            state.waiting -= 1;
        }
    }
}

impl Platform for Systrap {
    fn name(&self) -> &'static str {
        "systrap"
    }

    fn max_user_address(&self) -> u64 {
        STUB_BASE
    }

    fn new_address_space(&self) -> Result<Arc<dyn AddressSpace>> {
        let stub = self.take_stub()?;
        stub.slots.lock().unwrap().by_sentry_thread.insert(sentry_tid(), 0);
        Ok(Arc::new(stub))
    }

    /// Also waits for a stub being made: until its set-up ends, its stops are reported to
    /// whichever sentry thread waits for any child, which would steal them from the maker.
    fn shutdown(&self) {
        let spare = {
            let mut state = self.pool.state.lock().unwrap();
            state.closed = true;
            while state.making {
                state = self.pool.to_takers.wait(state).unwrap();
            }
            std::mem::take(&mut state.ready)
        };
        // Dropping them kills and reaps them.
        drop(spare);
        self.pool.to_takers.notify_all();
    }

    fn new_context(&self) -> Box<dyn Context> {
        Box::new(SystrapContext { interrupt: Arc::new(SignalInterrupt::default()), activity: self.activity.clone(), spinning: Spinning::default() })
    }
}

/// The sentry's mapping of a stub's context file.
struct ContextFile {
    base: *mut u8,
}

// SAFETY: the mapping lives as long as the ContextFile; every access goes through atomics or
// volatile reads and writes, since the stub shares the memory.
unsafe impl Send for ContextFile {}
// SAFETY: as above.
unsafe impl Sync for ContextFile {}

impl ContextFile {
    fn new() -> Result<(ContextFile, OwnedFd)> {
        // SAFETY: creates a new descriptor, owned below.
        let fd = unsafe { libc::memfd_create(c"sandbox-stub-context".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(host("creating a stub context file"));
        }
        // SAFETY: fd is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let len = libc::off_t::try_from(CONTEXT_LEN).unwrap_or(libc::off_t::MAX);
        // SAFETY: sizes the file behind our own descriptor.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), len) } != 0 {
            return Err(host("sizing a stub context file"));
        }
        // SAFETY: a new shared mapping of the whole file, at an address of the kernel's choice.
        let base = unsafe {
            libc::mmap(std::ptr::null_mut(), CONTEXT_LEN as usize, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd.as_raw_fd(), 0)
        };
        if base == libc::MAP_FAILED {
            return Err(host("mapping a stub context file"));
        }
        Ok((ContextFile { base: base.cast() }, fd))
    }

    /// The sentry's pointer to `len` bytes at `offset` in `slot`.
    fn at(&self, slot: usize, offset: u64, len: u64) -> *mut u8 {
        assert!(slot < MAX_SLOTS && offset + len <= SLOT_SIZE);
        // SAFETY: the offset lies within the mapping, by the assertion.
        unsafe { self.base.add(slot * SLOT_SIZE as usize + offset as usize) }
    }

    fn state(&self, slot: usize) -> &AtomicU32 {
        // SAFETY: the word is 4-aligned, inside the mapping, and lives as long as self.
        unsafe { AtomicU32::from_ptr(self.at(slot, OFF_STATE, 4).cast()) }
    }

    fn get(&self, slot: usize, offset: u64) -> u64 {
        // SAFETY: an aligned in-bounds word; volatile since the stub may write it.
        unsafe { self.at(slot, offset, 8).cast::<u64>().read_volatile() }
    }

    fn set(&self, slot: usize, offset: u64, value: u64) {
        // SAFETY: an aligned in-bounds word; volatile since the stub may read it.
        unsafe { self.at(slot, offset, 8).cast::<u64>().write_volatile(value) }
    }

    fn get_u32(&self, slot: usize, offset: u64) -> u32 {
        // SAFETY: an aligned in-bounds word; volatile since the stub may write it.
        unsafe { self.at(slot, offset, 4).cast::<u32>().read_volatile() }
    }

    /// The sentry's pointer to `len` bytes at stub address `addr`, if they lie in the alternate
    /// stack of `slot` (where the kernel puts signal frames). The address comes from memory the
    /// application can write.
    fn frame(&self, slot: usize, addr: u64, len: u64) -> Option<*mut u8> {
        let start = slot_address(slot) + ALT_STACK;
        let end = slot_address(slot) + SLOT_SIZE;
        let offset = addr.checked_sub(slot_address(slot))?;
        (addr >= start && addr.checked_add(len)? <= end && addr.is_multiple_of(8)).then(|| self.at(slot, offset, len))
    }

    fn write_bytes(&self, slot: usize, offset: u64, bytes: &[u8]) {
        let dst = self.at(slot, offset, bytes.len() as u64);
        // SAFETY: dst has room for bytes (checked by `at`); the stub is not using this area.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
    }

    /// Prepares the header of a slot for a new thread.
    fn init_slot(&self, slot: usize) {
        self.state(slot).store(0, Ordering::SeqCst);
        for offset in (OFF_SIGNO..OFF_SETUP).step_by(8) {
            self.set(slot, offset, 0);
        }
        self.set(slot, OFF_ALTSTACK, slot_address(slot) + ALT_STACK);
        self.set(slot, OFF_ALTSTACK + 16, SLOT_SIZE - ALT_STACK);
    }
}

impl Drop for ContextFile {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in new.
        unsafe { libc::munmap(self.base.cast(), CONTEXT_LEN as usize) };
    }
}

/// The stub address of slot `slot`.
fn slot_address(slot: usize) -> u64 {
    CONTEXT_BASE + slot as u64 * SLOT_SIZE
}

/// Which slot each sentry thread runs, and which are free.
#[derive(Default)]
struct Slots {
    by_sentry_thread: HashMap<i32, usize>,
    /// Host tid of each slot's stub thread.
    tids: HashMap<usize, i32>,
    free: Vec<usize>,
    next: usize,
}

/// A stub process run by the systrap platform.
pub struct TrapStub {
    pid: i32,
    pidfd: Option<OwnedFd>,
    memfd: i32,
    context: ContextFile,
    dead: AtomicBool,
    slots: Mutex<Slots>,
    cpu: Mutex<CpuTimes>,
    activity: Arc<Activity>,
}

/// One classic BPF instruction.
#[repr(C)]
#[derive(Clone, Copy)]
struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

/// The stub's seccomp filter: every call from outside the stub page traps; from the page,
/// only the calls the stub code makes pass, and anything else kills the stub.
fn stub_filter() -> Vec<SockFilter> {
    const LD_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JGE: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
    const RET: u16 = 0x06; // BPF_RET | BPF_K
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    const ALLOWED: [libc::c_long; 12] = [
        libc::SYS_futex,
        libc::SYS_rt_sigreturn,
        libc::SYS_mmap,
        libc::SYS_munmap,
        libc::SYS_mprotect,
        libc::SYS_clone,
        libc::SYS_exit,
        libc::SYS_getpid,
        libc::SYS_gettid,
        libc::SYS_sigaltstack,
        libc::SYS_rt_sigprocmask,
        libc::SYS_getcpu,
    ];
    let ld = |k: u32| SockFilter { code: LD_ABS, jt: 0, jf: 0, k };
    let ret = |k: u32| SockFilter { code: RET, jt: 0, jf: 0, k };
    let start = STUB_BASE as u32;
    let end = (STUB_BASE + STUB_SIZE) as u32;
    // Jumps are relative; the three returns end the program: KILL, TRAP, ALLOW.
    let mut p = Vec::new();
    let to_end = |p: &Vec<SockFilter>, back: usize, len: usize| u8::try_from(len - p.len() - 1 - back).expect("short filter");
    let len = 8 + ALLOWED.len() + 3 + 3;
    let (kill, trap, allow) = (3, 2, 1);
    p.push(ld(4)); // arch
    let jf = to_end(&p, trap, len);
    p.push(SockFilter { code: JEQ, jt: 0, jf, k: AUDIT_ARCH_X86_64 });
    p.push(ld(12)); // instruction pointer, high half
    let jf = to_end(&p, trap, len);
    p.push(SockFilter { code: JEQ, jt: 0, jf, k: (STUB_BASE >> 32) as u32 });
    p.push(ld(8)); // instruction pointer, low half
    let jf = to_end(&p, trap, len);
    p.push(SockFilter { code: JGE, jt: 0, jf, k: start });
    let jt = to_end(&p, trap, len);
    p.push(SockFilter { code: JGE, jt, jf: 0, k: end });
    p.push(ld(0)); // number
    for nr in ALLOWED {
        let jt = to_end(&p, allow, len);
        p.push(SockFilter { code: JEQ, jt, jf: 0, k: nr as u32 });
    }
    // tgkill only with the signal that enters the handler.
    let jf = to_end(&p, kill, len);
    p.push(SockFilter { code: JEQ, jt: 0, jf, k: libc::SYS_tgkill as u32 });
    p.push(ld(16 + 2 * 8)); // args[2], low half
    let jt = to_end(&p, allow, len);
    p.push(SockFilter { code: JEQ, jt, jf: 0, k: INTERRUPT_SIGNAL as u32 });
    p.push(ret(libc::SECCOMP_RET_KILL_PROCESS));
    p.push(ret(libc::SECCOMP_RET_TRAP));
    p.push(ret(libc::SECCOMP_RET_ALLOW));
    assert_eq!(p.len(), len);
    p
}

/// A host call for [`run_batch`]: number, arguments, and what it does (for errors).
type SetupCall = (libc::c_long, [u64; 6], &'static str);

/// Where [`run_batch`] lays out its list, in slot 0 after the set-up structures.
const OFF_BATCH: u64 = 0x800;

/// Makes `calls` in the stopped, traced new stub, in order, in one ptrace round; stops at the
/// first that fails and tells its index and errno.
fn run_batch(traced: &ptrace::Stub, context: &ContextFile, calls: &[SetupCall]) -> Result<Option<(usize, i32)>> {
    const ENTRY: u64 = 64;
    for (i, (nr, args, _)) in calls.iter().enumerate() {
        let mut entry = [0u64; 8];
        entry[0] = nr.cast_unsigned();
        entry[1..7].copy_from_slice(args);
        context.write_bytes(0, OFF_BATCH + i as u64 * ENTRY, as_bytes(&entry));
    }
    let code = stub_code();
    let list = slot_address(0) + OFF_BATCH;
    traced.call(traced.pid(), entry(code.batch), entry(code.batch_return), 0, [list, calls.len() as u64, 0, 0, 0, 0])?;
    for i in 0..calls.len() {
        let r = context.get(0, OFF_BATCH + i as u64 * ENTRY + 56).cast_signed();
        if (-4095..0).contains(&r) {
            return Ok(Some((i, i32::try_from(-r).unwrap_or(libc::EIO))));
        }
    }
    Ok(None)
}

fn as_bytes<T: Copy>(items: &[T]) -> &[u8] {
    // SAFETY: plain-data values viewed as their bytes, for copying into the context file.
    unsafe { std::slice::from_raw_parts(items.as_ptr().cast(), std::mem::size_of_val(items)) }
}

impl TrapStub {
    fn new(memfd: i32, activity: Arc<Activity>) -> Result<TrapStub> {
        let (context, context_fd) = ContextFile::new()?;
        context.init_slot(0);
        let mut keep = [memfd, context_fd.as_raw_fd()];
        keep.sort_unstable();
        // Not pinned to the sentry thread's CPU, unlike ptrace stubs: each side polls while the
        // other works, which only pays when they run on different CPUs.
        let traced = ptrace::Stub::fork(memfd, &keep, false)?;
        let pid = traced.pid();
        let fd = u64::from(context_fd.as_raw_fd().unsigned_abs());
        let shared = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
        let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
        traced.inject_checked(pid, "mapping the context file in a stub", libc::SYS_mmap, [CONTEXT_BASE, CONTEXT_LEN, rw, shared, fd, 0])?;

        // The rest of the set-up runs as one batch of calls: each injected call costs a round
        // of ptrace stops.
        let code = stub_code();
        let setup = slot_address(0) + OFF_SETUP;
        // struct kernel_sigaction: handler, flags, restorer, mask (the interrupt signal waits).
        const SA_RESTORER: u64 = 0x0400_0000;
        let flags = (libc::SA_SIGINFO | libc::SA_ONSTACK) as u64 | SA_RESTORER;
        let mask = 1u64 << (INTERRUPT_SIGNAL - 1);
        context.write_bytes(0, OFF_SETUP, as_bytes(&[entry(code.handler), flags, entry(code.restorer), mask]));
        let filter = stub_filter();
        debug_assert!(OFF_SETUP + 0x50 + 8 * filter.len() as u64 <= OFF_BATCH, "the filter runs into the batch list");
        let program_at = setup + 0x40;
        context.write_bytes(0, OFF_SETUP + 0x40, as_bytes(&[filter.len() as u64, program_at + 16]));
        context.write_bytes(0, OFF_SETUP + 0x50, as_bytes(&filter));
        // Without SPEC_ALLOW the kernel would force speculative-store-bypass mitigation on the
        // application's code, which native programs do not pay for.
        const SECCOMP_FILTER_FLAG_SPEC_ALLOW: u64 = 1 << 2;
        let seccomp = |flags| (libc::SYS_seccomp, [1, flags, program_at, 0, 0, 0], "installing the stub's seccomp filter");
        // First strip the stub of its copy of the sentry (the context file stays).
        let mut calls = Vec::new();
        if let Some(args) = traced.rseq_unregistration(pid) {
            calls.push((libc::SYS_rseq, args, "unregistering rseq in a new stub"));
        }
        for (addr, len) in ptrace::strip_ranges(&[(CONTEXT_BASE, CONTEXT_LEN)]) {
            calls.push((libc::SYS_munmap, [addr, len, 0, 0, 0, 0], "stripping a new stub"));
        }
        calls.push((libc::SYS_close, [fd, 0, 0, 0, 0, 0], "closing the context file in a stub"));
        for signo in [libc::SIGSYS, libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL, libc::SIGTRAP, INTERRUPT_SIGNAL] {
            calls.push((libc::SYS_rt_sigaction, [signo as u64, setup, 0, 8, 0, 0], "installing a stub signal handler"));
        }
        calls.push((libc::SYS_prctl, [libc::PR_SET_NO_NEW_PRIVS as u64, 1, 0, 0, 0, 0], "setting no_new_privs in a stub"));
        calls.push(seccomp(SECCOMP_FILTER_FLAG_SPEC_ALLOW));
        let failed = match run_batch(&traced, &context, &calls)? {
            // Older kernels refuse SPEC_ALLOW: the filter without it.
            Some((i, _)) if i == calls.len() - 1 => run_batch(&traced, &context, &[seccomp(0)])?.map(|(_, e)| (i, e)),
            failed => failed,
        };
        if let Some((i, errno)) = failed {
            return Err(Error::Host { what: calls[i].2, errno });
        }

        let mut regs = unsafe_zeroed_regs();
        traced.get_regs(pid, &mut regs)?;
        regs.rip = entry(code.thread_entry);
        regs.rsp = slot_address(0) + ENTRY_STACK_TOP;
        regs.orig_rax = u64::MAX;
        let (pid, pidfd) = traced.detach(&regs)?;
        let mut slots = Slots { next: 1, ..Slots::default() };
        slots.tids.insert(0, pid);
        let stub = TrapStub {
            pid,
            pidfd,
            memfd,
            context,
            dead: AtomicBool::new(false),
            slots: Mutex::new(slots),
            cpu: Mutex::default(),
            activity,
        };
        stub.wait_parked(0, 0)?;
        Ok(stub)
    }

    /// The host pid of the stub process.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    fn lost(&self, detail: String) -> Error {
        self.dead.store(true, Ordering::Relaxed);
        Error::StubLost { pid: self.pid, detail }
    }

    /// The slot of the stub thread the calling sentry thread runs.
    fn current(&self) -> Result<usize> {
        self.slots
            .lock()
            .unwrap()
            .by_sentry_thread
            .get(&sentry_tid())
            .copied()
            .ok_or_else(|| Error::StubLost { pid: self.pid, detail: "no stub thread for this sentry thread".into() })
    }

    fn tid_of(&self, slot: usize) -> i32 {
        self.slots.lock().unwrap().tids.get(&slot).copied().unwrap_or(0)
    }

    /// Whether the stub process has ended.
    fn exited(&self) -> bool {
        let Some(fd) = &self.pidfd else {
            // SAFETY: kill with signal 0 only checks for existence.
            return unsafe { libc::kill(self.pid, 0) } != 0;
        };
        let mut poll = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, no wait.
        unsafe { libc::poll(&mut poll, 1, 0) == 1 }
    }

    /// Sleeps until `word` no longer holds `value`, checking now and then that the stub lives.
    fn wait_while(&self, word: &AtomicU32, value: u32) -> Result<()> {
        let timeout = libc::timespec { tv_sec: 0, tv_nsec: 100_000_000 };
        while word.load(Ordering::Acquire) == value {
            // SAFETY: a shared futex wait on a word of our mapping; the timeout is valid.
            let r = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, value, &timeout as *const libc::timespec, 0, 0) };
            if r != 0 && errno() == libc::ETIMEDOUT && self.exited() {
                return Err(self.lost("the stub process ended".into()));
            }
        }
        Ok(())
    }

    /// Waits until the stub thread of `slot` is parked in its handler: polls `spin` times,
    /// then marks the state as having a sleeper and sleeps. Tells whether polling was enough.
    fn wait_parked(&self, slot: usize, spin: u32) -> Result<bool> {
        let state = self.context.state(slot);
        let parked = |s: u32| s & STATE_MASK == STATE_STUB;
        for _ in 0..spin {
            if parked(state.load(Ordering::Acquire)) {
                return Ok(true);
            }
            std::hint::spin_loop();
        }
        loop {
            let now = state.load(Ordering::Acquire);
            if parked(now) {
                return Ok(false);
            }
            if now & SLEEPER == 0 && state.compare_exchange(now, now | SLEEPER, Ordering::AcqRel, Ordering::Acquire).is_err() {
                continue;
            }
            self.wait_while(state, now | SLEEPER)?;
        }
    }

    /// Gives the state `to` to the parked stub thread of `slot`, waking it if it sleeps.
    /// Tells whether the stub thread had gone to sleep (rather than still polling).
    fn release(&self, slot: usize, to: u32, spin: u32) -> bool {
        self.context.set(slot, OFF_SPIN, u64::from(spin));
        let state = self.context.state(slot);
        let slept = state.swap(to, Ordering::AcqRel) & SLEEPER != 0;
        if slept {
            // SAFETY: a shared futex wake on a word of our mapping.
            unsafe { libc::syscall(libc::SYS_futex, state.as_ptr(), libc::FUTEX_WAKE, 1, 0, 0, 0) };
        }
        slept
    }

    /// Whether polling may pay: only while the sandbox has few threads running application
    /// code. With more, polling takes CPU time from the threads that would make progress.
    fn few_running(&self) -> bool {
        self.activity.running.load(Ordering::Relaxed) * 2 <= self.activity.cpus
    }

    /// Lets the parked stub thread of `slot` run the application until its next event, polling
    /// on each side as `spinning` advises.
    fn run_application(&self, slot: usize, spinning: &mut Spinning) -> Result<()> {
        let few = self.few_running();
        let stub_spin = if few && spinning.stub.advises() { STUB_SPIN } else { 0 };
        let stub_slept = self.release(slot, STATE_RUN, stub_spin);
        spinning.stub.learn(spinning.last_stub_spin > 0, !stub_slept);
        spinning.last_stub_spin = stub_spin;
        let polled = few && spinning.sentry.advises();
        let caught = self.wait_parked(slot, if polled { SENTRY_SPIN } else { 0 })?;
        spinning.sentry.learn(polled, caught);
        Ok(())
    }

    /// Makes the parked stub thread of `slot` run one host system call; gives back its result.
    fn call(&self, slot: usize, nr: libc::c_long, args: [u64; 6]) -> Result<i64> {
        self.context.set(slot, OFF_NR, nr.cast_unsigned());
        for (i, arg) in args.iter().enumerate() {
            self.context.set(slot, OFF_ARGS + 8 * i as u64, *arg);
        }
        self.release(slot, STATE_CALL, 0);
        self.wait_parked(slot, if self.few_running() { SENTRY_SPIN } else { 0 })?;
        Ok(self.context.get(slot, OFF_RESULT).cast_signed())
    }

    fn call_checked(&self, what: &'static str, nr: libc::c_long, args: [u64; 6]) -> Result<i64> {
        let r = self.call(self.current()?, nr, args)?;
        if (-4095..0).contains(&r) {
            return Err(Error::Host { what, errno: i32::try_from(-r).unwrap_or(libc::EIO) });
        }
        Ok(r)
    }

    /// The signal frame of the parked thread of `slot`: its ucontext, in the sentry.
    fn ucontext(&self, slot: usize) -> Result<*mut u8> {
        let addr = self.context.get(slot, OFF_UCONTEXT);
        self.context.frame(slot, addr, UC_SIZE).ok_or_else(|| self.lost(format!("bad signal frame address {addr:#x}")))
    }

    /// The x87/SSE area of the parked thread of `slot`.
    fn fpstate(&self, slot: usize) -> Result<*mut u8> {
        let uc = self.ucontext(slot)?;
        // SAFETY: uc points at a whole ucontext (checked by `ucontext`).
        let addr = unsafe { uc.add(UC_FPSTATE).cast::<u64>().read_volatile() };
        self.context.frame(slot, addr, XSAVE_HEADER_END).ok_or_else(|| self.lost(format!("bad FPU state address {addr:#x}")))
    }
}

fn unsafe_zeroed_regs() -> Regs {
    // SAFETY: user_regs_struct is plain integers; all-zero is valid.
    unsafe { std::mem::zeroed() }
}

// The kernel's ucontext on x86_64: flags, link, stack_t, then the sigcontext (general
// registers in the order below, then the FPU state pointer), then the signal mask.
const UC_GREGS: usize = 40;
const UC_FPSTATE: usize = UC_GREGS + 23 * 8;
const UC_SIGMASK: usize = UC_GREGS + 256;
const UC_SIZE: u64 = UC_SIGMASK as u64 + 8;
/// The legacy area and the XSAVE header after it.
const XSAVE_HEADER_END: u64 = 512 + 64;
/// Where the kernel's software bytes begin in the legacy area: they must stay as they are.
const FP_SW_BYTES: usize = 464;
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;

// Indices of the sigcontext's general registers.
const GREG_EFL: usize = 17;
const GREG_CSGSFS: usize = 18;

/// The registers of `regs` in sigcontext order (r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx,
/// rsp, rip).
fn gregs_of(regs: &mut Regs) -> [&mut u64; 17] {
    [
        &mut regs.r8,
        &mut regs.r9,
        &mut regs.r10,
        &mut regs.r11,
        &mut regs.r12,
        &mut regs.r13,
        &mut regs.r14,
        &mut regs.r15,
        &mut regs.rdi,
        &mut regs.rsi,
        &mut regs.rbp,
        &mut regs.rbx,
        &mut regs.rdx,
        &mut regs.rax,
        &mut regs.rcx,
        &mut regs.rsp,
        &mut regs.rip,
    ]
}

/// Reads the registers saved in the signal frame at `uc`.
///
/// # Safety
/// `uc` must point at a whole ucontext in the context file.
unsafe fn read_frame(uc: *const u8, regs: &mut Regs) {
    let greg = |i: usize| uc.add(UC_GREGS + 8 * i).cast::<u64>().read_volatile();
    for (i, r) in gregs_of(regs).into_iter().enumerate() {
        *r = greg(i);
    }
    regs.eflags = greg(GREG_EFL);
    let segments = greg(GREG_CSGSFS);
    regs.cs = segments & 0xffff;
    regs.ss = segments >> 48;
}

/// Writes `regs` into the signal frame at `uc`, with every signal unblocked on return.
///
/// # Safety
/// As for [`read_frame`].
unsafe fn write_frame(uc: *mut u8, regs: &Regs) {
    let mut regs = *regs;
    let set = |i: usize, v: u64| uc.add(UC_GREGS + 8 * i).cast::<u64>().write_volatile(v);
    for (i, r) in gregs_of(&mut regs).into_iter().enumerate() {
        set(i, *r);
    }
    set(GREG_EFL, regs.eflags);
    uc.add(UC_SIGMASK).cast::<u64>().write_volatile(0);
}

impl Drop for TrapStub {
    fn drop(&mut self) {
        match &self.pidfd {
            // SAFETY: signals our own stub through its pidfd; no memory is involved.
            Some(fd) => unsafe {
                libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), libc::SIGKILL, std::ptr::null::<libc::siginfo_t>(), 0);
            },
            // SAFETY: as above, by pid.
            None => unsafe {
                libc::kill(self.pid, libc::SIGKILL);
            },
        }
        // SAFETY: reaps our own child (no longer traced); a null status pointer is allowed.
        unsafe { libc::waitpid(self.pid, std::ptr::null_mut(), libc::__WALL) };
    }
}

impl AddressSpace for TrapStub {
    fn map(&self, addr: u64, len: u64, prot: Prot, offset: u64) -> Result<()> {
        let flags = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
        let fd = u64::from(self.memfd.unsigned_abs());
        self.call_checked("mapping memory in a stub", libc::SYS_mmap, [addr, len, prot_arg(prot), flags, fd, offset]).map(drop)
    }

    fn unmap(&self, addr: u64, len: u64) -> Result<()> {
        self.call_checked("unmapping memory in a stub", libc::SYS_munmap, [addr, len, 0, 0, 0, 0]).map(drop)
    }

    fn protect(&self, addr: u64, len: u64, prot: Prot) -> Result<()> {
        self.call_checked("protecting memory in a stub", libc::SYS_mprotect, [addr, len, prot_arg(prot), 0, 0, 0]).map(drop)
    }

    fn new_thread(&self) -> Result<u64> {
        let current = self.current()?;
        let slot = {
            let mut slots = self.slots.lock().unwrap();
            match slots.free.pop() {
                Some(slot) => slot,
                None if slots.next < MAX_SLOTS => {
                    slots.next += 1;
                    slots.next - 1
                }
                None => return Err(Error::Host { what: "creating a stub thread", errno: libc::EAGAIN }),
            }
        };
        self.context.init_slot(slot);
        let flags = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM
            | libc::CLONE_CHILD_SETTID
            | libc::CLONE_CHILD_CLEARTID) as u64;
        let stack = slot_address(slot) + ENTRY_STACK_TOP;
        let tid_word = slot_address(slot) + OFF_TID;
        let r = self.call(current, libc::SYS_clone, [flags, stack, 0, tid_word, 0, 0])?;
        let mut slots = self.slots.lock().unwrap();
        match i32::try_from(r) {
            Ok(tid) if tid > 0 => {
                slots.tids.insert(slot, tid);
                Ok(slot as u64)
            }
            _ => {
                slots.free.push(slot);
                Err(Error::Host { what: "creating a stub thread", errno: i32::try_from(-r).unwrap_or(libc::EIO) })
            }
        }
    }

    fn adopt_thread(&self, token: u64) -> Result<()> {
        let slot = usize::try_from(token).ok().filter(|&s| s < MAX_SLOTS).ok_or_else(|| self.lost(format!("bad thread token {token}")))?;
        self.wait_parked(slot, 0)?;
        self.slots.lock().unwrap().by_sentry_thread.insert(sentry_tid(), slot);
        Ok(())
    }

    fn release_thread(&self) {
        let Ok(slot) = self.current() else { return };
        if slot == 0 {
            return;
        }
        self.slots.lock().unwrap().by_sentry_thread.remove(&sentry_tid());
        self.context.set(slot, OFF_NR, libc::SYS_exit.cast_unsigned());
        self.context.set(slot, OFF_ARGS, 0);
        self.release(slot, STATE_CALL, 0);
        // The kernel clears the tid word when the thread is gone; only then may the slot and
        // its stacks serve another thread.
        // SAFETY: the word is 4-aligned, inside the mapping, and lives as long as self.
        let tid_word = unsafe { AtomicU32::from_ptr(self.context.at(slot, OFF_TID, 4).cast()) };
        loop {
            let tid = self.context.get_u32(slot, OFF_TID);
            if tid == 0 {
                break;
            }
            if self.wait_while(tid_word, tid).is_err() {
                return;
            }
        }
        let mut slots = self.slots.lock().unwrap();
        slots.tids.remove(&slot);
        slots.free.push(slot);
    }

    /// Stubs are bound to the pool's maker thread, not to a task's.
    fn leader_holder(&self) -> Option<Box<dyn FnOnce() + Send>> {
        None
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn cpu_time(&self) -> CpuTimes {
        ptrace::stub_cpu_time(self.pid, &self.cpu)
    }
}

/// Runs application threads in [`TrapStub`]s.
struct SystrapContext {
    interrupt: Arc<SignalInterrupt>,
    activity: Arc<Activity>,
    spinning: Spinning,
}

/// When the two sides of a context's thread should poll rather than sleep, learnt from how
/// polling went: it pays for threads that make quick system calls, and wastes CPU time for
/// those that block in them or compute between them.
#[derive(Default)]
struct Spinning {
    sentry: Backoff,
    stub: Backoff,
    /// What the stub was last told.
    last_stub_spin: u32,
}

/// After polling fails, no polling for a number of rounds that doubles with each further
/// failure (up to 64); one success restores it.
#[derive(Default)]
struct Backoff {
    skip: u32,
    penalty: u32,
}

impl Backoff {
    fn advises(&mut self) -> bool {
        if self.skip == 0 {
            return true;
        }
        self.skip -= 1;
        false
    }

    fn learn(&mut self, polled: bool, caught: bool) {
        if !polled {
            return;
        }
        if caught {
            self.penalty = 0;
        } else {
            self.penalty = (self.penalty * 2).clamp(1, 64);
            self.skip = self.penalty;
        }
    }
}

fn stub_of(space: &Arc<dyn AddressSpace>) -> &TrapStub {
    space.as_any().downcast_ref::<TrapStub>().expect("systrap context in a systrap address space")
}

impl SystrapContext {
    fn run(&mut self, stub: &TrapStub, slot: usize, state: &mut CpuState) -> Result<Event> {
        loop {
            if self.interrupt.requested.swap(false, Ordering::SeqCst) {
                return Ok(Event::Interrupted);
            }
            stub.run_application(slot, &mut self.spinning)?;
            let uc = stub.ucontext(slot)?;
            // SAFETY: uc points at a whole ucontext in the context file.
            unsafe { read_frame(uc, &mut state.regs) };
            state.regs.fs_base = stub.context.get(slot, OFF_FS_BASE);
            state.regs.gs_base = stub.context.get(slot, OFF_GS_BASE);
            let signo = stub.context.get_u32(slot, OFF_SIGNO) as i32;
            let info_addr = stub.context.get(slot, OFF_SIGINFO);
            let info = stub.context.frame(slot, info_addr, 32).ok_or_else(|| stub.lost(format!("bad siginfo address {info_addr:#x}")))?;
            // SAFETY: info points at 32 bytes of a siginfo: signo, errno, code, then the
            // fault address or the system call's address.
            let (code, addr) = unsafe { (info.add(8).cast::<i32>().read_volatile(), info.add(16).cast::<u64>().read_volatile()) };
            match signo {
                libc::SIGSYS if code == SYS_SECCOMP => {
                    state.regs.orig_rax = state.regs.rax;
                    state.regs.rax = (-libc::ENOSYS) as u64;
                    return Ok(Event::Syscall);
                }
                libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL | libc::SIGTRAP => {
                    return Ok(Event::Fault { signo, code, addr });
                }
                // The interrupt kick, or a signal from outside: the flag above decides.
                _ => continue,
            }
        }
    }
}

/// The x87/SSE state of a thread after `execve`.
fn reset_fpu(fp: *mut u8) {
    // SAFETY: fp points at an XSAVE legacy area and header (checked by `fpstate`).
    unsafe {
        std::ptr::write_bytes(fp, 0, 32);
        std::ptr::write_bytes(fp.add(32), 0, FP_SW_BYTES - 32 - 48);
        fp.cast::<u16>().write_volatile(0x37f); // x87 control word
        fp.add(24).cast::<u32>().write_volatile(0x1f80); // MXCSR
        fp.add(28).cast::<u32>().write_volatile(0xffff); // MXCSR mask
        // In XSAVE format, the header says which components to load; leaving only x87 and
        // SSE makes the others (AVX...) start in their initial state.
        if fp.add(FP_SW_BYTES).cast::<u32>().read_volatile() == FP_XSTATE_MAGIC1 {
            fp.add(512).cast::<u64>().write_volatile(0x3);
        }
    }
}

impl Context for SystrapContext {
    fn switch(&mut self, space: &Arc<dyn AddressSpace>, state: &mut CpuState) -> Result<Event> {
        let stub = stub_of(space);
        if stub.dead.load(Ordering::Relaxed) {
            return Err(Error::StubLost { pid: stub.pid, detail: "already lost".into() });
        }
        let slot = stub.current()?;
        if state.reset_fpu {
            reset_fpu(stub.fpstate(slot)?);
            state.reset_fpu = false;
        }
        let uc = stub.ucontext(slot)?;
        // SAFETY: uc points at a whole ucontext in the context file.
        unsafe { write_frame(uc, &state.regs) };
        stub.context.set(slot, OFF_FS_BASE, state.regs.fs_base);
        stub.context.set(slot, OFF_GS_BASE, state.regs.gs_base);
        self.interrupt.running_pid.store(stub.pid, Ordering::SeqCst);
        self.interrupt.running_tid.store(stub.tid_of(slot), Ordering::SeqCst);
        self.activity.running.fetch_add(1, Ordering::Relaxed);
        let event = self.run(stub, slot, state);
        self.activity.running.fetch_sub(1, Ordering::Relaxed);
        self.interrupt.running_tid.store(0, Ordering::SeqCst);
        event
    }

    fn interrupter(&self) -> Arc<dyn Interrupt> {
        self.interrupt.clone()
    }

    fn fpu(&mut self, space: &Arc<dyn AddressSpace>) -> Result<FpState> {
        let stub = stub_of(space);
        let fp = stub.fpstate(stub.current()?)?;
        let mut out: FpState = [0; 512];
        // SAFETY: fp points at a 512-byte legacy area (checked by `fpstate`).
        unsafe { std::ptr::copy_nonoverlapping(fp, out.as_mut_ptr(), out.len()) };
        Ok(out)
    }

    fn set_fpu(&mut self, space: &Arc<dyn AddressSpace>, fpu: &FpState) -> Result<()> {
        let stub = stub_of(space);
        let fp = stub.fpstate(stub.current()?)?;
        // SAFETY: as above; the kernel's software bytes at the end stay as they are.
        unsafe { std::ptr::copy_nonoverlapping(fpu.as_ptr(), fp, FP_SW_BYTES) };
        Ok(())
    }

    /// Asks the stub thread itself: it runs on whatever CPU the host scheduler picks.
    fn host_cpu(&mut self, space: &Arc<dyn AddressSpace>) -> Result<Option<(u32, u32)>> {
        let stub = stub_of(space);
        let slot = stub.current()?;
        let at = slot_address(slot) + OFF_CPU;
        let r = stub.call(slot, libc::SYS_getcpu, [at, at + 4, 0, 0, 0, 0])?;
        if r != 0 {
            return Ok(None);
        }
        let both = stub.context.get(slot, OFF_CPU);
        Ok(Some((both as u32, (both >> 32) as u32)))
    }
}
