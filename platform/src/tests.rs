//! The ptrace platform against real stubs: what a stub contains, how events come back.

use std::sync::Arc;

use crate::ptrace::Ptrace;
use crate::stub::{STUB_BASE, STUB_SIZE};
use crate::systrap::Systrap;
use crate::{AddressSpace, CpuState, Event, Platform};

const CODE_AT: u64 = 0x40_0000;
const SEGV_MAPERR: i32 = 1;
const SEGV_ACCERR: i32 = 2;

/// A memfd of one page holding `code`.
fn memfd_with(code: &[u8]) -> i32 {
    // SAFETY: test-only host calls on a descriptor we create and own.
    unsafe {
        let fd = libc::memfd_create(c"platform-test".as_ptr(), libc::MFD_CLOEXEC);
        assert!(fd >= 0);
        assert_eq!(libc::ftruncate(fd, 4096), 0);
        assert_eq!(libc::pwrite(fd, code.as_ptr().cast(), code.len(), 0), code.len() as isize);
        fd
    }
}

fn pid_of(space: &Arc<dyn AddressSpace>) -> i32 {
    let any = space.as_any();
    any.downcast_ref::<crate::ptrace::Stub>().map(|s| s.pid()).or_else(|| any.downcast_ref::<crate::systrap::TrapStub>().map(|s| s.pid())).unwrap()
}

/// Each platform, over a memory file holding `code`.
fn platforms(code: &[u8]) -> Vec<Box<dyn Platform>> {
    vec![Box::new(Ptrace::new(memfd_with(code)).unwrap()), Box::new(Systrap::new(memfd_with(code)).unwrap())]
}

fn start_at(rip: u64) -> CpuState {
    let mut state = CpuState::new();
    state.regs.rip = rip;
    state.regs.cs = 0x33;
    state.regs.ss = 0x2b;
    state.regs.eflags = 0x202;
    state
}

#[test]
fn a_new_stub_holds_only_the_stub_page() {
    for platform in platforms(&[]) {
        let space = platform.new_address_space().unwrap();
        let maps = std::fs::read_to_string(format!("/proc/{}/maps", pid_of(&space))).unwrap();
        // systrap's per-thread slots sit above the stub page, out of the application's reach.
        let mut ranges: Vec<&str> = maps.lines().filter(|l| !l.contains("[vsyscall]")).collect();
        if platform.name() == "systrap" {
            let slots = ranges.pop().unwrap();
            assert!(slots.ends_with("/memfd:sandbox-stub-context (deleted)"), "{maps}");
            let start = u64::from_str_radix(slots.split('-').next().unwrap(), 16).unwrap();
            assert!(start >= STUB_BASE + STUB_SIZE, "{maps}");
        }
        let stub = format!("{:x}-{:x} r-xp", STUB_BASE, STUB_BASE + STUB_SIZE);
        assert_eq!(ranges.len(), 1, "{maps}");
        assert!(ranges[0].starts_with(&stub), "{maps}");
        assert_eq!(platform.max_user_address(), STUB_BASE);
    }
}

#[test]
fn syscalls_and_faults_come_back_as_events() {
    // mov eax, 39 (getpid); syscall; mov edi, eax; mov eax, 60 (exit); syscall; jmp to 0x10
    let code = [
        0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0x89, 0xc7, 0xb8, 60, 0, 0, 0, 0x0f, 0x05, //
        0x48, 0xc7, 0xc0, 0x10, 0, 0, 0, 0xff, 0xe0, // mov rax, 0x10; jmp rax
    ];
    for platform in platforms(&code) {
        let space = platform.new_address_space().unwrap();
        space.map(CODE_AT, 4096, libc::PROT_READ | libc::PROT_EXEC, 0).unwrap();
        let mut ctx = platform.new_context();
        let mut state = start_at(CODE_AT);

        assert_eq!(ctx.switch(&space, &mut state).unwrap(), Event::Syscall);
        assert_eq!(state.regs.orig_rax, 39);
        state.regs.rax = 1234;
        assert_eq!(ctx.switch(&space, &mut state).unwrap(), Event::Syscall);
        assert_eq!((state.regs.orig_rax, state.regs.rdi), (60, 1234), "the answer reached the application");
        // The host never ran exit: the stub keeps going, into a jump to an unmapped page.
        let event = ctx.switch(&space, &mut state).unwrap();
        assert_eq!(event, Event::Fault { signo: libc::SIGSEGV, code: SEGV_MAPERR, addr: 0x10 });
    }
}

#[test]
fn protection_changes_reach_the_stub() {
    // mov eax, 39; syscall
    for platform in platforms(&[0xb8, 39, 0, 0, 0, 0x0f, 0x05]) {
        let space = platform.new_address_space().unwrap();
        space.map(CODE_AT, 4096, libc::PROT_READ, 0).unwrap();
        let mut ctx = platform.new_context();
        let mut state = start_at(CODE_AT);
        let event = ctx.switch(&space, &mut state).unwrap();
        assert!(matches!(event, Event::Fault { signo: libc::SIGSEGV, code: SEGV_ACCERR, .. }), "{event:?}");
        space.protect(CODE_AT, 4096, libc::PROT_READ | libc::PROT_EXEC).unwrap();
        let mut state = start_at(CODE_AT);
        assert_eq!(ctx.switch(&space, &mut state).unwrap(), Event::Syscall);
        space.unmap(CODE_AT, 4096).unwrap();
        let mut state = start_at(CODE_AT);
        let event = ctx.switch(&space, &mut state).unwrap();
        assert!(matches!(event, Event::Fault { signo: libc::SIGSEGV, code: SEGV_MAPERR, .. }), "{event:?}");
    }
}

#[test]
fn dropping_an_address_space_kills_its_stub() {
    for platform in platforms(&[]) {
        let space = platform.new_address_space().unwrap();
        let pid = pid_of(&space);
        drop(space);
        // SAFETY: kill with signal 0 only checks for existence.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        assert!(!alive, "stub {pid} outlived its address space");
    }
}

#[test]
fn an_address_space_counts_the_cpu_time_its_code_uses() {
    // A loop of 2^27 decrements, then getpid: tens of milliseconds of user time.
    // mov ecx, 0x8000000; dec ecx; jnz -4; mov eax, 39; syscall
    let code = [0xb9, 0, 0, 0, 8, 0xff, 0xc9, 0x75, 0xfc, 0xb8, 39, 0, 0, 0, 0x0f, 0x05];
    for platform in platforms(&code) {
        let space = platform.new_address_space().unwrap();
        space.map(CODE_AT, 4096, libc::PROT_READ | libc::PROT_EXEC, 0).unwrap();
        let before = space.cpu_time();
        let mut ctx = platform.new_context();
        let mut state = start_at(CODE_AT);
        let start = std::time::Instant::now();
        assert_eq!(ctx.switch(&space, &mut state).unwrap(), Event::Syscall);
        let wall = start.elapsed();
        let used = space.cpu_time().total() - before.total();
        assert!(used >= std::time::Duration::from_millis(5), "the loop used {used:?}");
        assert!(used <= wall + std::time::Duration::from_millis(5), "{used:?} of CPU in {wall:?}");
    }
}

#[test]
fn cpu_time_is_split_like_getrusage_and_never_goes_back() {
    use crate::ptrace::split_cpu_time;
    use crate::CpuTimes;
    use std::time::Duration;
    let ms = Duration::from_millis;
    let none = CpuTimes::default();
    assert_eq!(split_cpu_time(ms(100), ms(12), ms(16), none), CpuTimes { user: ms(75), system: ms(25) });
    assert_eq!(split_cpu_time(ms(10), ms(0), ms(0), none), CpuTimes { user: ms(10), system: ms(0) }, "no ticks yet: all user");
    let prev = CpuTimes { user: ms(80), system: ms(20) };
    let next = split_cpu_time(ms(110), ms(4), ms(8), prev);
    assert_eq!(next, CpuTimes { user: ms(80), system: ms(30) }, "user does not fall back");
    let next = split_cpu_time(ms(120), ms(8), ms(8), prev);
    assert_eq!(next, CpuTimes { user: ms(100), system: ms(20) }, "system does not fall back");
    assert_eq!(split_cpu_time(ms(90), ms(1), ms(1), prev), prev, "a late sample changes nothing");
}
