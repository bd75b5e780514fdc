//! Process, identity, signal-disposition and resource system calls.
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]

use syscall_tables::nr;

use super::{Args, Support, Table};
use crate::abi::{Rlimit, SigAction, Sysinfo, Utsname};
use crate::errno::{Errno, SysResult};
use crate::fs::host::{fill_random, host_cpus};
use crate::kernel::task::{ExitStatus, Task, RLIMIT_COUNT};
use crate::kernel::{RELEASE, VERSION};
use crate::loader::{self, ExecRequest};

pub static HANDLERS: Table = &[
    (nr::EXIT, sys_exit, Support::Full),
    (nr::EXIT_GROUP, sys_exit, Support::Full),
    (nr::EXECVE, sys_execve, Support::Partial("single-threaded processes")),
    (nr::EXECVEAT, sys_execveat, Support::Partial("single-threaded processes")),
    (nr::GETPID, sys_getpid, Support::Full),
    (nr::GETPPID, sys_getppid, Support::Full),
    (nr::GETTID, sys_gettid, Support::Full),
    (nr::GETPGRP, sys_getpgrp, Support::Full),
    (nr::GETPGID, sys_getpgid, Support::Full),
    (nr::SETPGID, sys_setpgid, Support::Partial("one process")),
    (nr::GETSID, sys_getsid, Support::Full),
    (nr::SETSID, sys_setsid, Support::Partial("one process")),
    (nr::SET_TID_ADDRESS, sys_set_tid_address, Support::Full),
    (nr::SET_ROBUST_LIST, sys_set_robust_list, Support::Partial("list recorded, walked with threads")),
    (nr::RSEQ, sys_rseq, Support::Partial("ENOSYS, as kernels without rseq answer")),
    (nr::ARCH_PRCTL, sys_arch_prctl, Support::Partial("FS and GS bases, CPUID faulting queries")),
    (nr::PRLIMIT64, sys_prlimit64, Support::Partial("limits recorded, enforced for RLIMIT_NOFILE")),
    (nr::GETRLIMIT, sys_getrlimit, Support::Full),
    (nr::SETRLIMIT, sys_setrlimit, Support::Full),
    (nr::UNAME, sys_uname, Support::Full),
    (nr::SETHOSTNAME, sys_sethostname, Support::Full),
    (nr::GETUID, sys_getuid, Support::Full),
    (nr::GETEUID, sys_geteuid, Support::Full),
    (nr::GETGID, sys_getgid, Support::Full),
    (nr::GETEGID, sys_getegid, Support::Full),
    (nr::GETRESUID, sys_getresuid, Support::Full),
    (nr::GETRESGID, sys_getresgid, Support::Full),
    (nr::GETGROUPS, sys_getgroups, Support::Full),
    (nr::GETRANDOM, sys_getrandom, Support::Full),
    (nr::SCHED_GETAFFINITY, sys_sched_getaffinity, Support::Full),
    (nr::SCHED_SETAFFINITY, sys_sched_setaffinity, Support::Partial("accepted, not applied")),
    (nr::SCHED_YIELD, sys_zero, Support::Full),
    (nr::SCHED_GETSCHEDULER, sys_zero, Support::Partial("always SCHED_OTHER")),
    (nr::SCHED_GETPARAM, sys_sched_getparam, Support::Partial("always SCHED_OTHER")),
    (nr::GETPRIORITY, sys_getpriority, Support::Partial("always nice 0")),
    (nr::PRCTL, sys_prctl, Support::Partial("names, dumpable, no_new_privs, pdeathsig, subreaper")),
    (nr::RT_SIGACTION, sys_rt_sigaction, Support::Partial("dispositions recorded; delivery comes with signals")),
    (nr::RT_SIGPROCMASK, sys_rt_sigprocmask, Support::Full),
    (nr::SIGALTSTACK, sys_sigaltstack, Support::Full),
    (nr::KILL, sys_kill, Support::Partial("signals to itself: default actions only")),
    (nr::TGKILL, sys_tgkill, Support::Partial("signals to itself: default actions only")),
    (nr::TKILL, sys_tkill, Support::Partial("signals to itself: default actions only")),
    (nr::WAIT4, sys_wait4, Support::Partial("no children yet")),
    (nr::SYSINFO, sys_sysinfo, Support::Partial("memory figures are the sandbox's own")),
    (nr::FUTEX, sys_futex, Support::Partial("single thread: wake finds no waiter")),
];

fn sys_zero(_t: &mut Task, _a: &Args) -> SysResult {
    Ok(0)
}

fn sys_exit(t: &mut Task, a: &Args) -> SysResult {
    t.exit = Some(ExitStatus::Exited(a.i32(0) & 0xff));
    Ok(0)
}

/// Reads a NULL-terminated array of string pointers (argv, envp), giving `E2BIG` as soon as
/// the strings outgrow what the new program's stack could hold.
fn read_string_vec(t: &Task, addr: u64) -> SysResult<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut total = 0usize;
    if addr == 0 {
        return Ok(out);
    }
    loop {
        let p = t.mm.read_u64(addr.checked_add(out.len() as u64 * 8).ok_or(Errno::EFAULT)?)?;
        if p == 0 {
            return Ok(out);
        }
        let s = t.mm.read_cstring(p, loader::MAX_ARG_STRLEN - 1).map_err(|e| if e == Errno::ENAMETOOLONG { Errno::E2BIG } else { e })?;
        total += s.len() + 1 + 8;
        if total > loader::MAX_ARG_BYTES {
            return Err(Errno::E2BIG);
        }
        out.push(s);
    }
}

fn execve_common(t: &mut Task, dirfd: i32, path_addr: u64, argv: u64, envp: u64, flags: i32) -> SysResult {
    if flags & !(libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(Errno::EINVAL);
    }
    let mut path = t.mm.read_cstring(path_addr, crate::vfs::PATH_MAX - 1)?;
    let argv = read_string_vec(t, argv)?;
    let envp = read_string_vec(t, envp)?;
    let cwd = if path.first() == Some(&b'/') || dirfd == libc::AT_FDCWD {
        t.fs.cwd.clone()
    } else {
        let d = t.files.get(dirfd)?.dentry.clone().ok_or(Errno::ENOTDIR)?;
        if path.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
            path = d.path_from(&t.fs.root);
            t.fs.root.clone()
        } else {
            d
        }
    };
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    let req = ExecRequest { root: &t.fs.root, cwd: &cwd, path, argv, envp, uid: t.creds.euid, gid: t.creds.egid };
    let image = loader::load(&t.kernel, req).map_err(|e| e.errno)?;
    t.files.close_on_exec();
    for act in t.signals.actions.iter_mut() {
        if act.handler != libc::SIG_IGN as u64 {
            *act = SigAction::default();
        }
    }
    t.signals.altstack = [0, libc::SS_DISABLE as u64, 0];
    t.clear_child_tid = 0;
    t.start_image(image);
    Ok(0)
}

fn sys_execve(t: &mut Task, a: &Args) -> SysResult {
    execve_common(t, libc::AT_FDCWD, a.u64(0), a.u64(1), a.u64(2), 0)
}

fn sys_execveat(t: &mut Task, a: &Args) -> SysResult {
    execve_common(t, a.fd(0), a.u64(1), a.u64(2), a.u64(3), a.i32(4))
}

fn sys_getpid(t: &mut Task, _a: &Args) -> SysResult {
    Ok(t.tgid as u64)
}

fn sys_getppid(t: &mut Task, _a: &Args) -> SysResult {
    Ok(t.ppid as u64)
}

fn sys_gettid(t: &mut Task, _a: &Args) -> SysResult {
    Ok(t.tid as u64)
}

fn sys_getpgrp(t: &mut Task, _a: &Args) -> SysResult {
    Ok(t.pgid as u64)
}

/// The only process is the caller: `pid` must be 0 or its own.
fn own_pid(t: &Task, pid: i32) -> SysResult<()> {
    if pid == 0 || pid == t.tgid {
        Ok(())
    } else if pid < 0 {
        Err(Errno::EINVAL)
    } else {
        Err(Errno::ESRCH)
    }
}

fn sys_getpgid(t: &mut Task, a: &Args) -> SysResult {
    own_pid(t, a.i32(0))?;
    Ok(t.pgid as u64)
}

fn sys_setpgid(t: &mut Task, a: &Args) -> SysResult {
    own_pid(t, a.i32(0))?;
    let pgid = a.i32(1);
    if pgid < 0 {
        return Err(Errno::EINVAL);
    }
    if t.sid == t.tgid {
        // A session leader cannot change its group.
        return if pgid == 0 || pgid == t.pgid { Ok(0) } else { Err(Errno::EPERM) };
    }
    t.pgid = if pgid == 0 { t.tgid } else { pgid };
    Ok(0)
}

fn sys_getsid(t: &mut Task, a: &Args) -> SysResult {
    own_pid(t, a.i32(0))?;
    Ok(t.sid as u64)
}

fn sys_setsid(t: &mut Task, _a: &Args) -> SysResult {
    if t.pgid == t.tgid {
        return Err(Errno::EPERM);
    }
    t.sid = t.tgid;
    t.pgid = t.tgid;
    Ok(t.sid as u64)
}

fn sys_set_tid_address(t: &mut Task, a: &Args) -> SysResult {
    t.clear_child_tid = a.u64(0);
    Ok(t.tid as u64)
}

fn sys_set_robust_list(_t: &mut Task, a: &Args) -> SysResult {
    // struct robust_list_head is 24 bytes on x86_64.
    if a.usize(1) != 24 {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

fn sys_rseq(_t: &mut Task, _a: &Args) -> SysResult {
    Err(Errno::ENOSYS)
}

fn sys_arch_prctl(t: &mut Task, a: &Args) -> SysResult {
    const ARCH_SET_GS: i32 = 0x1001;
    const ARCH_SET_FS: i32 = 0x1002;
    const ARCH_GET_FS: i32 = 0x1003;
    const ARCH_GET_GS: i32 = 0x1004;
    const ARCH_GET_CPUID: i32 = 0x1011;
    const ARCH_SET_CPUID: i32 = 0x1012;
    let addr = a.u64(1);
    let canonical = addr < t.mm.max_addr();
    match a.i32(0) {
        ARCH_SET_FS if canonical => t.cpu.regs.fs_base = addr,
        ARCH_SET_GS if canonical => t.cpu.regs.gs_base = addr,
        ARCH_SET_FS | ARCH_SET_GS => return Err(Errno::EPERM),
        ARCH_GET_FS => t.mm.write_val(addr, &t.cpu.regs.fs_base)?,
        ARCH_GET_GS => t.mm.write_val(addr, &t.cpu.regs.gs_base)?,
        ARCH_GET_CPUID => return Ok(1),
        ARCH_SET_CPUID => return Err(Errno::ENODEV),
        _ => return Err(Errno::EINVAL),
    }
    Ok(0)
}

fn resource(r: u32) -> SysResult<usize> {
    usize::try_from(r).ok().filter(|&r| r < RLIMIT_COUNT).ok_or(Errno::EINVAL)
}

fn set_rlimit(t: &mut Task, r: usize, new: Rlimit) -> SysResult<()> {
    if new.cur > new.max {
        return Err(Errno::EINVAL);
    }
    if r == libc::RLIMIT_NOFILE as usize && new.max > 1 << 20 {
        return Err(Errno::EPERM);
    }
    t.rlimits[r] = new;
    Ok(())
}

fn sys_prlimit64(t: &mut Task, a: &Args) -> SysResult {
    own_pid(t, a.i32(0))?;
    let r = resource(a.u32(1))?;
    let old = t.rlimits[r];
    if a.u64(2) != 0 {
        let new: Rlimit = t.mm.read_val(a.u64(2))?;
        set_rlimit(t, r, new)?;
    }
    if a.u64(3) != 0 {
        t.mm.write_val(a.u64(3), &old)?;
    }
    Ok(0)
}

fn sys_getrlimit(t: &mut Task, a: &Args) -> SysResult {
    let r = resource(a.u32(0))?;
    t.mm.write_val(a.u64(1), &t.rlimits[r])?;
    Ok(0)
}

fn sys_setrlimit(t: &mut Task, a: &Args) -> SysResult {
    let r = resource(a.u32(0))?;
    let new: Rlimit = t.mm.read_val(a.u64(1))?;
    set_rlimit(t, r, new).map(|_| 0)
}

fn sys_uname(t: &mut Task, a: &Args) -> SysResult {
    let mut u = Utsname { fields: [[0; 65]; 6] };
    let hostname = t.kernel.hostname.lock().unwrap().clone();
    let values: [&[u8]; 6] = [b"Linux", &hostname, RELEASE.as_bytes(), VERSION.as_bytes(), b"x86_64", b"(none)"];
    for (field, value) in u.fields.iter_mut().zip(values) {
        let n = value.len().min(64);
        field[..n].copy_from_slice(&value[..n]);
    }
    t.mm.write_val(a.u64(0), &u)?;
    Ok(0)
}

fn sys_sethostname(t: &mut Task, a: &Args) -> SysResult {
    let len = usize::try_from(a.i32(1)).map_err(|_| Errno::EINVAL)?;
    if len > 64 {
        return Err(Errno::EINVAL);
    }
    if t.creds.euid != 0 {
        return Err(Errno::EPERM);
    }
    let mut name = vec![0u8; len];
    t.mm.copy_in(a.u64(0), &mut name)?;
    *t.kernel.hostname.lock().unwrap() = name;
    Ok(0)
}

fn sys_getuid(t: &mut Task, _a: &Args) -> SysResult {
    Ok(u64::from(t.creds.uid))
}

fn sys_geteuid(t: &mut Task, _a: &Args) -> SysResult {
    Ok(u64::from(t.creds.euid))
}

fn sys_getgid(t: &mut Task, _a: &Args) -> SysResult {
    Ok(u64::from(t.creds.gid))
}

fn sys_getegid(t: &mut Task, _a: &Args) -> SysResult {
    Ok(u64::from(t.creds.egid))
}

fn sys_getresuid(t: &mut Task, a: &Args) -> SysResult {
    let c = &t.creds;
    for (i, v) in [c.uid, c.euid, c.suid].into_iter().enumerate() {
        t.mm.write_val(a.u64(i), &v)?;
    }
    Ok(0)
}

fn sys_getresgid(t: &mut Task, a: &Args) -> SysResult {
    let c = &t.creds;
    for (i, v) in [c.gid, c.egid, c.sgid].into_iter().enumerate() {
        t.mm.write_val(a.u64(i), &v)?;
    }
    Ok(0)
}

fn sys_getgroups(t: &mut Task, a: &Args) -> SysResult {
    let size = usize::try_from(a.i32(0)).map_err(|_| Errno::EINVAL)?;
    let groups = &t.creds.groups;
    if size == 0 {
        return Ok(groups.len() as u64);
    }
    if size < groups.len() {
        return Err(Errno::EINVAL);
    }
    let bytes: Vec<u8> = groups.iter().flat_map(|g| g.to_le_bytes()).collect();
    t.mm.copy_out(a.u64(1), &bytes)?;
    Ok(groups.len() as u64)
}

fn sys_getrandom(t: &mut Task, a: &Args) -> SysResult {
    const KNOWN: u32 = libc::GRND_NONBLOCK | libc::GRND_RANDOM | libc::GRND_INSECURE;
    let flags = a.u32(2);
    if flags & !KNOWN != 0 || flags & (libc::GRND_RANDOM | libc::GRND_INSECURE) == libc::GRND_RANDOM | libc::GRND_INSECURE {
        return Err(Errno::EINVAL);
    }
    let len = a.usize(1).min(32 << 20);
    let mut buf = vec![0u8; len];
    fill_random(&mut buf);
    let n = t.mm.copy_out_partial(a.u64(0), &buf);
    if n == 0 && len > 0 {
        return Err(Errno::EFAULT);
    }
    Ok(n as u64)
}

fn sys_sched_getaffinity(t: &mut Task, a: &Args) -> SysResult {
    own_pid(t, a.i32(0))?;
    let size = a.usize(1);
    if size < 8 || !size.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    let cpus = host_cpus().min(64);
    let mask: u64 = if cpus == 64 { u64::MAX } else { (1 << cpus) - 1 };
    t.mm.write_val(a.u64(2), &mask)?;
    Ok(8)
}

fn sys_sched_setaffinity(t: &mut Task, a: &Args) -> SysResult {
    own_pid(t, a.i32(0))?;
    let _mask: u64 = t.mm.read_val(a.u64(2))?;
    Ok(0)
}

fn sys_sched_getparam(t: &mut Task, a: &Args) -> SysResult {
    own_pid(t, a.i32(0))?;
    t.mm.write_val(a.u64(1), &0i32)?;
    Ok(0)
}

fn sys_getpriority(t: &mut Task, a: &Args) -> SysResult {
    if a.i32(0) != libc::PRIO_PROCESS as i32 {
        return Err(Errno::EINVAL);
    }
    own_pid(t, a.i32(1))?;
    // The kernel returns 20 - nice.
    Ok(20)
}

fn sys_prctl(t: &mut Task, a: &Args) -> SysResult {
    match a.i32(0) {
        libc::PR_SET_NAME => {
            let name = t.mm.read_cstring(a.u64(1), 4096)?;
            t.comm = name.into_iter().take(15).collect();
            Ok(0)
        }
        libc::PR_GET_NAME => {
            let mut buf = [0u8; 16];
            buf[..t.comm.len()].copy_from_slice(&t.comm);
            t.mm.copy_out(a.u64(1), &buf)?;
            Ok(0)
        }
        libc::PR_GET_DUMPABLE => Ok(1),
        libc::PR_SET_DUMPABLE | libc::PR_SET_PDEATHSIG | libc::PR_SET_CHILD_SUBREAPER | libc::PR_SET_NO_NEW_PRIVS => Ok(0),
        libc::PR_GET_PDEATHSIG | libc::PR_GET_CHILD_SUBREAPER => {
            t.mm.write_val(a.u64(1), &0i32)?;
            Ok(0)
        }
        libc::PR_GET_NO_NEW_PRIVS => Ok(0),
        libc::PR_CAPBSET_READ => Ok(u64::from(a.u32(1) <= 40)),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_rt_sigaction(t: &mut Task, a: &Args) -> SysResult {
    let sig = a.i32(0);
    if a.usize(3) != 8 || !(1..=64).contains(&sig) {
        return Err(Errno::EINVAL);
    }
    let idx = (sig - 1).unsigned_abs() as usize;
    let new = if a.u64(1) != 0 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            return Err(Errno::EINVAL);
        }
        Some(t.mm.read_val::<SigAction>(a.u64(1))?)
    } else {
        None
    };
    if a.u64(2) != 0 {
        t.mm.write_val(a.u64(2), &t.signals.actions[idx])?;
    }
    if let Some(mut act) = new {
        act.mask &= !((1 << (libc::SIGKILL - 1)) | (1 << (libc::SIGSTOP - 1)));
        t.signals.actions[idx] = act;
    }
    Ok(0)
}

fn sys_rt_sigprocmask(t: &mut Task, a: &Args) -> SysResult {
    if a.usize(3) != 8 {
        return Err(Errno::EINVAL);
    }
    let old = t.signals.mask;
    if a.u64(1) != 0 {
        let set: u64 = t.mm.read_val(a.u64(1))?;
        let set = set & !((1 << (libc::SIGKILL - 1)) | (1 << (libc::SIGSTOP - 1)));
        t.signals.mask = match a.i32(0) {
            libc::SIG_BLOCK => old | set,
            libc::SIG_UNBLOCK => old & !set,
            libc::SIG_SETMASK => set,
            _ => return Err(Errno::EINVAL),
        };
    }
    if a.u64(2) != 0 {
        t.mm.write_val(a.u64(2), &old)?;
    }
    Ok(0)
}

fn sys_sigaltstack(t: &mut Task, a: &Args) -> SysResult {
    // stack_t: sp, flags (int, padded), size.
    let old = t.signals.altstack;
    if a.u64(1) != 0 {
        t.mm.write_val(a.u64(1), &old)?;
    }
    if a.u64(0) != 0 {
        let new: [u64; 3] = t.mm.read_val(a.u64(0))?;
        let flags = new[1] as i32;
        if flags & !(libc::SS_DISABLE | (1 << 31)) != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & libc::SS_DISABLE == 0 && new[2] < host_min_sigstksz() {
            return Err(Errno::ENOMEM);
        }
        t.signals.altstack = new;
    }
    Ok(0)
}

fn host_min_sigstksz() -> u64 {
    2048
}

/// Signals the caller sends itself: ignored ones vanish, default ones act, handled ones wait
/// for signal delivery.
fn signal_self(t: &mut Task, sig: i32) -> SysResult {
    if sig == 0 {
        return Ok(0);
    }
    if !(1..=64).contains(&sig) {
        return Err(Errno::EINVAL);
    }
    let act = t.signals.actions[(sig - 1).unsigned_abs() as usize];
    let ignored_by_default = matches!(sig, libc::SIGCHLD | libc::SIGURG | libc::SIGWINCH | libc::SIGCONT);
    let blocked = t.signals.mask & (1 << (sig - 1)) != 0 && sig != libc::SIGKILL && sig != libc::SIGSTOP;
    if act.handler == libc::SIG_IGN as u64 || (act.handler == libc::SIG_DFL as u64 && ignored_by_default) || blocked {
        return Ok(0);
    }
    if act.handler == libc::SIG_DFL as u64 && !matches!(sig, libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU) {
        t.exit = Some(ExitStatus::Signaled(sig));
    }
    Ok(0)
}

fn sys_kill(t: &mut Task, a: &Args) -> SysResult {
    let pid = a.i32(0);
    if pid == 0 || pid == -1 || pid == t.tgid || pid == -t.pgid {
        return signal_self(t, a.i32(1));
    }
    if !(1..=64).contains(&a.i32(1)) && a.i32(1) != 0 {
        return Err(Errno::EINVAL);
    }
    Err(Errno::ESRCH)
}

fn sys_tgkill(t: &mut Task, a: &Args) -> SysResult {
    if a.i32(0) <= 0 || a.i32(1) <= 0 {
        return Err(Errno::EINVAL);
    }
    if a.i32(0) != t.tgid || a.i32(1) != t.tid {
        return Err(Errno::ESRCH);
    }
    signal_self(t, a.i32(2))
}

fn sys_tkill(t: &mut Task, a: &Args) -> SysResult {
    if a.i32(0) <= 0 {
        return Err(Errno::EINVAL);
    }
    if a.i32(0) != t.tid {
        return Err(Errno::ESRCH);
    }
    signal_self(t, a.i32(1))
}

fn sys_wait4(_t: &mut Task, _a: &Args) -> SysResult {
    Err(Errno::ECHILD)
}

fn sys_sysinfo(t: &mut Task, a: &Args) -> SysResult {
    let uptime = t.kernel.boot_time.elapsed().as_secs();
    let info = Sysinfo {
        uptime: i64::try_from(uptime).unwrap_or(i64::MAX),
        totalram: 4 << 30,
        freeram: 3 << 30,
        procs: 1,
        mem_unit: 1,
        ..Sysinfo::default()
    };
    t.mm.write_val(a.u64(0), &info)?;
    Ok(0)
}

fn sys_futex(t: &mut Task, a: &Args) -> SysResult {
    const FUTEX_CMD_MASK: i32 = !(128 | 256);
    match a.i32(1) & FUTEX_CMD_MASK {
        libc::FUTEX_WAKE | libc::FUTEX_WAKE_BITSET | libc::FUTEX_WAKE_OP | libc::FUTEX_REQUEUE | libc::FUTEX_CMP_REQUEUE => {
            let _word: u32 = t.mm.read_val(a.u64(0))?;
            Ok(0)
        }
        libc::FUTEX_WAIT | libc::FUTEX_WAIT_BITSET => {
            let word: u32 = t.mm.read_val(a.u64(0))?;
            if word != a.u32(2) {
                return Err(Errno::EAGAIN);
            }
            // No other thread could ever wake a lone thread: like Linux, it would sleep until its
            // timeout, which the single-threaded case reports at once.
            Err(Errno::ETIMEDOUT)
        }
        _ => Err(Errno::ENOSYS),
    }
}
