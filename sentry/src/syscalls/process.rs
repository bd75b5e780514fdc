//! Processes: creation (`fork`, `vfork`, `clone`, `clone3`), `execve`, exit, waiting for
//! children, and the process-group and session calls.
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]

use std::sync::{Arc, Mutex};

use syscall_tables::nr;

use super::{Args, Support, Table};
use crate::abi::SigAction;
use crate::errno::{Errno, SysResult};
use crate::kernel::process::{ExitStatus, Process, Thread};
use crate::kernel::signal::{SigInfo, CLD_CONTINUED, CLD_STOPPED, ERESTARTSYS};
use crate::fs::pidfd::{as_pidfd, PidFd};
use crate::kernel::process::Usage;
use crate::kernel::task::{cap, Creds, FsContext, NewMemory, NewTask, Task};
use crate::loader::{self, ExecRequest};
use crate::vfs::{FdTable, File};

pub static HANDLERS: Table = &[
    (nr::EXIT, sys_exit, Support::Full),
    (nr::EXIT_GROUP, sys_exit_group, Support::Full),
    (nr::EXECVE, sys_execve, Support::Partial("from a thread other than the first, the thread keeps its id")),
    (nr::EXECVEAT, sys_execveat, Support::Partial("from a thread other than the first, the thread keeps its id")),
    (nr::FORK, sys_fork, Support::Partial("memory is copied eagerly, not copy-on-write")),
    (nr::VFORK, sys_vfork, Support::Full),
    (nr::CLONE, sys_clone, Support::Partial("no namespaces")),
    (nr::CLONE3, sys_clone3, Support::Partial("no namespaces")),
    (nr::WAIT4, sys_wait4, Support::Partial(RUSAGE_NOTE)),
    (nr::WAITID, sys_waitid, Support::Partial(RUSAGE_NOTE)),
    (nr::PIDFD_OPEN, sys_pidfd_open, Support::Full),
    (nr::PIDFD_GETFD, sys_pidfd_getfd, Support::Full),
    (nr::GETPID, sys_getpid, Support::Full),
    (nr::GETPPID, sys_getppid, Support::Full),
    (nr::GETTID, sys_gettid, Support::Full),
    (nr::GETPGRP, sys_getpgrp, Support::Full),
    (nr::GETPGID, sys_getpgid, Support::Full),
    (nr::SETPGID, sys_setpgid, Support::Full),
    (nr::GETSID, sys_getsid, Support::Full),
    (nr::SETSID, sys_setsid, Support::Full),
];

/// What resource usage reports leave out.
pub const RUSAGE_NOTE: &str =
    "system time includes the sentry's; a thread's user time is its process's shared out by wall time in application code; maxrss counts every accessible mapped page; fault, I/O and context-switch counters are 0";

fn sys_exit(t: &mut Task, a: &Args) -> SysResult {
    t.exiting = Some(ExitStatus::Exited(a.i32(0) & 0xff));
    Ok(0)
}

fn sys_exit_group(t: &mut Task, a: &Args) -> SysResult {
    t.process.exit_group(ExitStatus::Exited(a.i32(0) & 0xff));
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
    let (root, cwd) = {
        let fs = t.fs();
        (fs.root.clone(), fs.cwd.clone())
    };
    let start = if path.first() == Some(&b'/') || dirfd == libc::AT_FDCWD {
        cwd
    } else {
        let d = t.file(dirfd)?.dentry.clone().ok_or(Errno::ENOTDIR)?;
        if path.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
            path = d.path_from(&root);
            root.clone()
        } else {
            d
        }
    };
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    let req = ExecRequest { root: &root, cwd: &start, path, argv, envp, uid: t.creds.euid, gid: t.creds.egid };
    let image = loader::load(&t.kernel, req).map_err(|e| e.errno)?;
    leave_alone(t)?;
    t.files().close_on_exec();
    let posix_timers = std::mem::take(&mut t.process.timers.lock().unwrap().posix);
    for id in posix_timers.into_values() {
        t.kernel.timers.delete(id);
    }
    for act in t.process.actions.lock().unwrap().iter_mut() {
        if act.handler != libc::SIG_IGN as u64 {
            *act = SigAction::default();
        }
    }
    t.altstack = Default::default();
    t.clear_child_tid = 0;
    t.robust_list = 0;
    t.creds.exec();
    // This sentry thread stops running in the old address space.
    t.mm.space().release_thread();
    let old = t.mm.clone();
    t.start_image(image);
    // The old address space's time is final (every other thread has left it).
    let (cpu, maxrss) = (old.space().cpu_time(), old.peak_rss());
    drop(old);
    {
        let mut st = t.process.state.lock().unwrap();
        st.usage.leave_space(cpu, maxrss);
        st.usage.close_space();
        st.usage.borrowed_space = false;
    }
    t.process.state.lock().unwrap().vfork_done = true;
    t.kernel.events.notify();
    Ok(0)
}

/// execve in a multi-threaded process: every other thread leaves first.
fn leave_alone(t: &Task) -> SysResult<()> {
    let others: Vec<Arc<Thread>> = {
        let mut st = t.process.state.lock().unwrap();
        if st.threads.len() <= 1 {
            return Ok(());
        }
        if st.exec_by.is_some() || st.group_exit.is_some() {
            return Err(Errno::EAGAIN);
        }
        st.exec_by = Some(t.tid);
        st.threads.iter().filter(|th| th.tid != t.tid).cloned().collect()
    };
    for th in &others {
        th.interrupter.interrupt();
    }
    t.kernel.events.notify();
    loop {
        let seen = t.kernel.events.generation();
        if t.process.state.lock().unwrap().threads.len() <= 1 {
            break;
        }
        t.kernel.events.wait(seen, Some(std::time::Instant::now() + std::time::Duration::from_millis(50)));
    }
    t.process.state.lock().unwrap().exec_by = None;
    Ok(())
}

fn sys_execve(t: &mut Task, a: &Args) -> SysResult {
    execve_common(t, libc::AT_FDCWD, a.u64(0), a.u64(1), a.u64(2), 0)
}

fn sys_execveat(t: &mut Task, a: &Args) -> SysResult {
    execve_common(t, a.fd(0), a.u64(1), a.u64(2), a.u64(3), a.i32(4))
}

const CLONE_VM: u64 = libc::CLONE_VM as u64;
const CLONE_FS: u64 = libc::CLONE_FS as u64;
const CLONE_FILES: u64 = libc::CLONE_FILES as u64;
const CLONE_SIGHAND: u64 = libc::CLONE_SIGHAND as u64;
const CLONE_PIDFD: u64 = libc::CLONE_PIDFD as u64;
const CLONE_PTRACE: u64 = libc::CLONE_PTRACE as u64;
const CLONE_VFORK: u64 = libc::CLONE_VFORK as u64;
const CLONE_PARENT: u64 = libc::CLONE_PARENT as u64;
const CLONE_THREAD: u64 = libc::CLONE_THREAD as u64;
const CLONE_SYSVSEM: u64 = libc::CLONE_SYSVSEM as u64;
const CLONE_SETTLS: u64 = libc::CLONE_SETTLS as u64;
const CLONE_PARENT_SETTID: u64 = libc::CLONE_PARENT_SETTID as u64;
const CLONE_CHILD_CLEARTID: u64 = libc::CLONE_CHILD_CLEARTID as u64;
const CLONE_CHILD_SETTID: u64 = libc::CLONE_CHILD_SETTID as u64;
const CLONE_NAMESPACES: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u64;
const CLONE_KNOWN: u64 = CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_SIGHAND
    | CLONE_PIDFD
    | CLONE_PTRACE
    | CLONE_VFORK
    | CLONE_PARENT
    | CLONE_THREAD
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_CHILD_SETTID
    | CLONE_NAMESPACES
    | libc::CLONE_UNTRACED as u64
    | libc::CLONE_IO as u64;

/// What `clone` and its relatives were asked for.
struct CloneArgs {
    flags: u64,
    exit_signal: i32,
    stack: u64,
    parent_tid: u64,
    child_tid: u64,
    tls: u64,
    /// Where `CLONE_PIDFD` writes the new pidfd.
    pidfd: u64,
}

fn do_clone(t: &mut Task, c: CloneArgs) -> SysResult {
    let f = c.flags;
    if f & !CLONE_KNOWN != 0 || !(0..=64).contains(&c.exit_signal) {
        return Err(Errno::EINVAL);
    }
    if (f & CLONE_SIGHAND != 0 && f & CLONE_VM == 0) || (f & CLONE_THREAD != 0 && f & CLONE_SIGHAND == 0) {
        return Err(Errno::EINVAL);
    }
    if f & CLONE_NAMESPACES != 0 {
        return Err(Errno::EPERM);
    }
    // A pidfd stands for a process; clone() returns it where CLONE_PARENT_SETTID would write.
    if f & CLONE_PIDFD != 0 && (f & CLONE_THREAD != 0 || (f & CLONE_PARENT_SETTID != 0 && c.pidfd == c.parent_tid)) {
        return Err(Errno::EINVAL);
    }
    if f & CLONE_THREAD != 0 {
        return clone_thread(t, c);
    }
    let kernel = t.kernel.clone();
    let fpu = t.ctx.fpu(t.mm.space()).map_err(|_| Errno::ENOMEM)?;
    // With CLONE_VM (vfork, posix_spawn) the child shares the creator's memory: it runs on a
    // new thread of the creator's stub until it execs, instead of in a copy.
    let (memory, stub_thread) = if f & CLONE_VM != 0 {
        let token = t.mm.space().new_thread().map_err(|e| {
            tracing::error!("creating a stub thread: {e}");
            Errno::EAGAIN
        })?;
        (NewMemory::Shared(t.mm.clone()), Some(token))
    } else {
        let others: Vec<_> = t.process.state.lock().unwrap().threads.iter().filter(|th| th.tid != t.tid).map(|th| th.interrupter.clone()).collect();
        let _quiet = (!others.is_empty()).then(|| t.process.app_gate.hold(|| others.iter().for_each(|i| i.interrupt())));
        (NewMemory::Copy(t.mm.fork_copy()?), None)
    };
    let (files, fs) = files_and_fs(t, f);
    let (ppid, pgid, sid, comm) = {
        let st = t.process.state.lock().unwrap();
        let ppid = if f & CLONE_PARENT != 0 { st.ppid } else { t.pid() };
        (ppid, st.pgid, st.sid, st.comm.clone())
    };
    let actions = *t.process.actions.lock().unwrap();
    let rlimits = *t.process.rlimits.lock().unwrap();
    let pid = kernel.table.lock().unwrap().allocate().ok_or(Errno::EAGAIN)?;
    let process = Process::new(pid, ppid, pgid, sid, actions, rlimits);
    let ctx = kernel.platform.new_context();
    let mask = t.thread.signals.lock().unwrap().mask;
    let thread = Thread::new(pid, mask, ctx.interrupter());
    *thread.sched.lock().unwrap() = t.thread.sched.lock().unwrap().for_child();
    {
        let mut st = process.state.lock().unwrap();
        st.threads.push(thread.clone());
        st.comm = comm;
        st.exit_signal = c.exit_signal;
        st.usage.borrowed_space = f & CLONE_VM != 0;
        st.starting_creds = Some(t.creds.clone());
    }
    let cpu = child_registers(t, &c);
    if f & CLONE_PIDFD != 0 {
        if let Err(e) = install_clone_pidfd(t, &process, c.pidfd) {
            t.kernel.table.lock().unwrap().tids.remove(&pid);
            return Err(e);
        }
    }
    if f & CLONE_PARENT_SETTID != 0 {
        // Linux does not fail the clone for a bad address here.
        let _ = t.mm.write_val(c.parent_tid, &pid);
    }
    {
        let mut table = kernel.table.lock().unwrap();
        table.processes.insert(pid, process.clone());
        if let Some(parent) = table.processes.get(&ppid) {
            parent.state.lock().unwrap().children.insert(pid);
        }
    }
    let new = NewTask {
        kernel: kernel.clone(),
        process: process.clone(),
        thread,
        cpu,
        fpu: Some(fpu),
        stub_thread,
        memory,
        ctx,
        files,
        fs,
        creds: t.creds.clone(),
        exe: t.exe.clone(),
        altstack: t.altstack,
        clear_child_tid: if f & CLONE_CHILD_CLEARTID != 0 { c.child_tid } else { 0 },
        child_settid: if f & CLONE_CHILD_SETTID != 0 { c.child_tid } else { 0 },
        args: t.args.clone(),
        env: t.env.clone(),
    };
    if let Err(e) = new.spawn() {
        tracing::error!("starting a task thread: {e}");
        forget_process(t, pid);
        return Err(Errno::EAGAIN);
    }
    if f & CLONE_VFORK != 0 {
        // The parent sleeps until the child execs or exits (killable only, as on Linux).
        loop {
            let seen = kernel.events.generation();
            if process.state.lock().unwrap().vfork_done || t.process.state.lock().unwrap().group_exit.is_some() {
                break;
            }
            kernel.events.wait(seen, None);
        }
    }
    Ok(pid as u64)
}

/// The fd table and filesystem context of a new task: its creator's with `CLONE_FILES` and
/// `CLONE_FS`, else copies.
fn files_and_fs(t: &Task, f: u64) -> (Arc<Mutex<FdTable>>, Arc<Mutex<FsContext>>) {
    let files = if f & CLONE_FILES != 0 { t.files.clone() } else { Arc::new(Mutex::new(t.files().clone())) };
    let fs = if f & CLONE_FS != 0 {
        t.fs.clone()
    } else {
        let fs = t.fs();
        Arc::new(Mutex::new(FsContext { root: fs.root.clone(), cwd: fs.cwd.clone(), umask: fs.umask }))
    };
    (files, fs)
}

/// The registers a new task starts with: its creator's, returning 0 from clone.
fn child_registers(t: &Task, c: &CloneArgs) -> platform::CpuState {
    let mut cpu = t.cpu;
    cpu.regs.rax = 0;
    cpu.regs.orig_rax = u64::MAX;
    if c.stack != 0 {
        cpu.regs.rsp = c.stack;
    }
    if c.flags & CLONE_SETTLS != 0 {
        cpu.regs.fs_base = c.tls;
    }
    cpu
}

/// clone with CLONE_THREAD: a new thread of the caller's process, in its address space.
fn clone_thread(t: &mut Task, c: CloneArgs) -> SysResult {
    let f = c.flags;
    if f & CLONE_VM == 0 {
        return Err(Errno::EINVAL);
    }
    let kernel = t.kernel.clone();
    let fpu = t.ctx.fpu(t.mm.space()).map_err(|_| Errno::ENOMEM)?;
    let token = t.mm.space().new_thread().map_err(|e| {
        tracing::error!("creating a stub thread: {e}");
        Errno::EAGAIN
    })?;
    let tid = kernel.table.lock().unwrap().allocate().ok_or(Errno::EAGAIN)?;
    let ctx = kernel.platform.new_context();
    let mask = t.thread.signals.lock().unwrap().mask;
    let thread = Thread::new(tid, mask, ctx.interrupter());
    *thread.sched.lock().unwrap() = t.thread.sched.lock().unwrap().for_child();
    t.process.state.lock().unwrap().threads.push(thread.clone());
    if f & CLONE_PARENT_SETTID != 0 {
        let _ = t.mm.write_val(c.parent_tid, &tid);
    }
    let (files, fs) = files_and_fs(t, f);
    let new = NewTask {
        kernel: kernel.clone(),
        process: t.process.clone(),
        thread: thread.clone(),
        cpu: child_registers(t, &c),
        fpu: Some(fpu),
        stub_thread: Some(token),
        memory: NewMemory::Shared(t.mm.clone()),
        ctx,
        files,
        fs,
        creds: t.creds.clone(),
        exe: t.exe.clone(),
        altstack: Default::default(),
        clear_child_tid: if f & CLONE_CHILD_CLEARTID != 0 { c.child_tid } else { 0 },
        child_settid: if f & CLONE_CHILD_SETTID != 0 { c.child_tid } else { 0 },
        args: t.args.clone(),
        env: t.env.clone(),
    };
    if let Err(e) = new.spawn() {
        tracing::error!("starting a task thread: {e}");
        t.process.state.lock().unwrap().threads.retain(|th| !Arc::ptr_eq(th, &thread));
        kernel.table.lock().unwrap().tids.remove(&tid);
        return Err(Errno::EAGAIN);
    }
    Ok(tid as u64)
}

/// `CLONE_PIDFD`: a pidfd of the new child in the caller's table (close-on-exec), its number
/// written at `addr`. Nothing stays installed if the address is bad.
fn install_clone_pidfd(t: &Task, child: &Arc<Process>, addr: u64) -> SysResult<()> {
    let fd = install_pidfd(t, child, 0)?;
    if let Err(e) = t.mm.write_val(addr, &fd) {
        let _ = t.files().remove(fd);
        return Err(e);
    }
    Ok(())
}

/// A new pidfd of `p` in the caller's table: read-write, close-on-exec, non-blocking with
/// `PIDFD_NONBLOCK`.
fn install_pidfd(t: &Task, p: &Arc<Process>, flags: i32) -> SysResult<i32> {
    let ops = Arc::new(PidFd::new(p.clone(), t.kernel.next_ino()));
    let file = File::new(ops, None, libc::O_RDWR | (flags & libc::O_NONBLOCK));
    let limit = t.rlimit(libc::RLIMIT_NOFILE).cur;
    t.files().install(file, true, 0, limit)
}

/// pidfd_open(pid, flags).
fn sys_pidfd_open(t: &mut Task, a: &Args) -> SysResult {
    let (pid, flags) = (a.i32(0), a.u32(1));
    if flags & !(libc::O_NONBLOCK as u32) != 0 || pid <= 0 {
        return Err(Errno::EINVAL);
    }
    let p = {
        let table = t.kernel.table.lock().unwrap();
        match table.processes.get(&pid) {
            Some(p) => p.clone(),
            // A thread, not a thread-group leader.
            None if table.tids.contains(&pid) => return Err(Errno::EINVAL),
            None => return Err(Errno::ESRCH),
        }
    };
    Ok(install_pidfd(t, &p, flags as i32)? as u64)
}

/// The process behind pidfd `fd`: `EBADF` if `fd` is not a pidfd.
pub(super) fn pidfd_process(t: &Task, fd: i32) -> SysResult<(Arc<Process>, Arc<File>)> {
    let file = t.file(fd)?;
    let p = as_pidfd(&file).ok_or(Errno::EBADF)?.process().clone();
    Ok((p, file))
}

/// Whether the caller may take another process's descriptors (ptrace's "attach" check on real
/// ids): the same real, effective and saved user and group ids as the caller's real ones, or
/// `CAP_SYS_PTRACE`.
fn may_access(caller: &Creds, target: &Creds) -> bool {
    let same_user = [target.uid, target.euid, target.suid].iter().all(|&u| u == caller.uid);
    let same_group = [target.gid, target.egid, target.sgid].iter().all(|&g| g == caller.gid);
    (same_user && same_group) || caller.capable(cap::SYS_PTRACE)
}

/// pidfd_getfd(pidfd, targetfd, flags): a duplicate (close-on-exec) of another process's
/// descriptor.
fn sys_pidfd_getfd(t: &mut Task, a: &Args) -> SysResult {
    let (pidfd, target_fd, flags) = (a.fd(0), a.fd(1), a.u32(2));
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let (p, _) = pidfd_process(t, pidfd)?;
    // Gone, or on its way out (its descriptors already closed): ESRCH.
    let res = {
        let st = p.state.lock().unwrap();
        if st.zombie.is_some() || st.group_exit.is_some() {
            None
        } else {
            st.resources.clone()
        }
    };
    let res = res.ok_or(Errno::ESRCH)?;
    if !may_access(&t.creds, &res.creds) {
        return Err(Errno::EPERM);
    }
    let file = res.files.lock().unwrap().get(target_fd)?;
    let limit = t.rlimit(libc::RLIMIT_NOFILE).cur;
    Ok(t.files().install(file, true, 0, limit)? as u64)
}

/// Undoes the table entries of a child that never started.
fn forget_process(t: &Task, pid: i32) {
    let mut table = t.kernel.table.lock().unwrap();
    table.processes.remove(&pid);
    table.tids.remove(&pid);
    t.process.state.lock().unwrap().children.remove(&pid);
}

fn sys_fork(t: &mut Task, _a: &Args) -> SysResult {
    do_clone(t, CloneArgs { flags: 0, exit_signal: libc::SIGCHLD, stack: 0, parent_tid: 0, child_tid: 0, tls: 0, pidfd: 0 })
}

fn sys_vfork(t: &mut Task, _a: &Args) -> SysResult {
    let flags = CLONE_VM | CLONE_VFORK;
    do_clone(t, CloneArgs { flags, exit_signal: libc::SIGCHLD, stack: 0, parent_tid: 0, child_tid: 0, tls: 0, pidfd: 0 })
}

/// clone(flags, stack, parent_tid, child_tid, tls) — the x86_64 argument order.
fn sys_clone(t: &mut Task, a: &Args) -> SysResult {
    let flags = a.u64(0);
    do_clone(
        t,
        CloneArgs {
            flags: flags & !0xff,
            exit_signal: (flags & 0xff) as i32,
            stack: a.u64(1),
            parent_tid: a.u64(2),
            child_tid: a.u64(3),
            tls: a.u64(4),
            pidfd: a.u64(2),
        },
    )
}

/// clone3(struct clone_args *, size).
fn sys_clone3(t: &mut Task, a: &Args) -> SysResult {
    const CLONE_ARGS_SIZE_VER0: usize = 64;
    let size = a.usize(1);
    if !(CLONE_ARGS_SIZE_VER0..=4096).contains(&size) {
        return Err(Errno::EINVAL);
    }
    let mut words = [0u64; 11];
    let n = (size / 8).min(11);
    for (i, w) in words.iter_mut().enumerate().take(n) {
        *w = t.mm.read_u64(a.u64(0) + i as u64 * 8)?;
    }
    let [flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, _cgroup] = words;
    if flags & 0xff != 0 || set_tid != 0 || set_tid_size != 0 || exit_signal > 64 {
        return Err(Errno::EINVAL);
    }
    if (stack == 0) != (stack_size == 0) {
        return Err(Errno::EINVAL);
    }
    let stack = if stack != 0 { stack + stack_size } else { 0 };
    do_clone(t, CloneArgs { flags, exit_signal: exit_signal as i32, stack, parent_tid, child_tid, tls, pidfd })
}

/// Which children a wait call may report.
#[derive(Clone, Copy)]
enum Selector {
    Any,
    Pid(i32),
    Group(i32),
}

const WNOHANG: i32 = libc::WNOHANG;
const WNOWAIT: i32 = libc::WNOWAIT;
const WALL: i32 = libc::__WALL;
const WCLONE: i32 = libc::__WCLONE;
/// Internal: report exits (wait4 always does; waitid only with WEXITED).
const WEXITED: i32 = libc::WEXITED;

/// What `wait` reports about a child.
#[derive(Clone, Copy, Debug)]
enum ChildEvent {
    Exit(ExitStatus),
    Stop(i32),
    Continue,
}

impl ChildEvent {
    /// The `wait` status word.
    fn wait_status(self) -> i32 {
        match self {
            ChildEvent::Exit(s) => s.wait_status(),
            ChildEvent::Stop(sig) => (sig << 8) | 0x7f,
            ChildEvent::Continue => 0xffff,
        }
    }

    fn siginfo(self, pid: i32) -> SigInfo {
        match self {
            ChildEvent::Exit(s) => SigInfo::child(pid, s),
            ChildEvent::Stop(sig) => SigInfo { signo: libc::SIGCHLD, code: CLD_STOPPED, pid, status: sig, ..SigInfo::default() },
            ChildEvent::Continue => SigInfo { signo: libc::SIGCHLD, code: CLD_CONTINUED, pid, status: libc::SIGCONT, ..SigInfo::default() },
        }
    }
}

/// Waits for a child matching `sel` to have exited (or, as `options` ask, stopped or
/// continued); returns its pid, what happened and what it has used (with its own waited-for
/// children), or None with `WNOHANG` when nothing has yet. Reaping a child adds its usage to
/// the caller's children's.
fn wait_child(t: &Task, sel: Selector, options: i32) -> SysResult<Option<(i32, ChildEvent, Usage)>> {
    let kernel = &t.kernel;
    loop {
        let seen = kernel.events.generation();
        let mut found_any = false;
        {
            let mut table = kernel.table.lock().unwrap();
            let children: Vec<i32> = t.process.state.lock().unwrap().children.iter().copied().collect();
            for pid in children {
                let Some(child) = table.processes.get(&pid).cloned() else { continue };
                let (pgid, zombie, exit_signal) = {
                    let st = child.state.lock().unwrap();
                    (st.pgid, st.zombie, st.exit_signal)
                };
                let matches = match sel {
                    Selector::Any => true,
                    Selector::Pid(p) => p == pid,
                    Selector::Group(g) => g == pgid,
                };
                // "Clone" children (not reporting with SIGCHLD) only answer __WCLONE or __WALL.
                let clone_child = exit_signal != libc::SIGCHLD;
                if !matches || (options & WALL == 0 && clone_child != (options & WCLONE != 0)) {
                    continue;
                }
                found_any = true;
                if let Some(status) = zombie {
                    if options & WEXITED != 0 {
                        let usage = child.usage_with_children();
                        if options & WNOWAIT == 0 {
                            table.processes.remove(&pid);
                            table.tids.remove(&pid);
                            let mut st = t.process.state.lock().unwrap();
                            st.children.remove(&pid);
                            st.usage.children.gather(usage);
                        }
                        return Ok(Some((pid, ChildEvent::Exit(status), usage)));
                    }
                    continue;
                }
                let event = {
                    let mut cs = child.state.lock().unwrap();
                    if options & libc::WUNTRACED != 0 && cs.stop_report.is_some() {
                        let sig = cs.stop_report.unwrap_or(0);
                        if options & WNOWAIT == 0 {
                            cs.stop_report = None;
                        }
                        Some(ChildEvent::Stop(sig))
                    } else if options & libc::WCONTINUED != 0 && cs.continue_report {
                        if options & WNOWAIT == 0 {
                            cs.continue_report = false;
                        }
                        Some(ChildEvent::Continue)
                    } else {
                        None
                    }
                };
                if let Some(event) = event {
                    return Ok(Some((pid, event, child.usage_with_children())));
                }
            }
        }
        if !found_any {
            return Err(Errno::ECHILD);
        }
        if options & WNOHANG != 0 {
            return Ok(None);
        }
        if t.signal_pending() {
            return Err(ERESTARTSYS);
        }
        kernel.events.wait(seen, None);
    }
}

fn sys_wait4(t: &mut Task, a: &Args) -> SysResult {
    let (pid, status_addr, options, rusage) = (a.i32(0), a.u64(1), a.i32(2), a.u64(3));
    if options & !(WNOHANG | libc::WUNTRACED | libc::WCONTINUED | WALL | WCLONE | libc::__WNOTHREAD) != 0 {
        return Err(Errno::EINVAL);
    }
    let sel = match pid {
        -1 => Selector::Any,
        0 => Selector::Group(t.process.state.lock().unwrap().pgid),
        p if p < -1 => Selector::Group(-p),
        p => Selector::Pid(p),
    };
    let Some((child, event, usage)) = wait_child(t, sel, options | WEXITED)? else { return Ok(0) };
    if status_addr != 0 {
        t.mm.write_val(status_addr, &event.wait_status())?;
    }
    if rusage != 0 {
        t.mm.write_val(rusage, &usage.to_rusage())?;
    }
    Ok(child as u64)
}

fn sys_waitid(t: &mut Task, a: &Args) -> SysResult {
    const P_ALL: i32 = 0;
    const P_PID: i32 = 1;
    const P_PGID: i32 = 2;
    const P_PIDFD: i32 = 3;
    let (idtype, id, infop, mut options) = (a.i32(0), a.i32(1), a.u64(2), a.i32(3));
    let known = WNOHANG | libc::WEXITED | libc::WSTOPPED | libc::WCONTINUED | WNOWAIT | WALL | WCLONE | libc::__WNOTHREAD;
    if options & !known != 0 || options & (libc::WEXITED | libc::WSTOPPED | libc::WCONTINUED) == 0 {
        return Err(Errno::EINVAL);
    }
    let mut nonblocking = false;
    let sel = match idtype {
        P_ALL => Selector::Any,
        P_PID if id > 0 => Selector::Pid(id),
        P_PGID if id > 0 => Selector::Group(id),
        P_PGID if id == 0 => Selector::Group(t.process.state.lock().unwrap().pgid),
        P_PIDFD if id >= 0 => {
            let (p, file) = pidfd_process(t, id)?;
            // A non-blocking pidfd never waits: EAGAIN instead, unless WNOHANG was asked.
            if file.flags() & libc::O_NONBLOCK != 0 {
                nonblocking = true;
                options |= WNOHANG;
            }
            // Reaped already (the pid may be another process's by now): not a child any more.
            if t.kernel.process(p.pid).is_none_or(|q| !Arc::ptr_eq(&q, &p)) {
                return Err(Errno::ECHILD);
            }
            Selector::Pid(p.pid)
        }
        _ => return Err(Errno::EINVAL),
    };
    // waitid's WSTOPPED is wait4's WUNTRACED.
    let options = if options & libc::WSTOPPED != 0 { options | libc::WUNTRACED } else { options };
    let found = wait_child(t, sel, options)?;
    if found.is_none() && nonblocking && a.i32(3) & WNOHANG == 0 {
        return Err(Errno::EAGAIN);
    }
    if infop != 0 {
        let bytes = match found {
            Some((pid, event, _)) => event.siginfo(pid).to_bytes(),
            None => [0u8; 128],
        };
        t.mm.copy_out(infop, &bytes)?;
    }
    if a.u64(4) != 0 {
        let usage = found.map_or(Usage::default(), |(_, _, u)| u);
        t.mm.write_val(a.u64(4), &usage.to_rusage())?;
    }
    Ok(0)
}

fn sys_getpid(t: &mut Task, _a: &Args) -> SysResult {
    Ok(t.pid() as u64)
}

fn sys_getppid(t: &mut Task, _a: &Args) -> SysResult {
    Ok(t.process.state.lock().unwrap().ppid as u64)
}

fn sys_gettid(t: &mut Task, _a: &Args) -> SysResult {
    Ok(t.tid as u64)
}

fn sys_getpgrp(t: &mut Task, _a: &Args) -> SysResult {
    Ok(t.process.state.lock().unwrap().pgid as u64)
}

/// The process `pid` names: the caller for 0, else a live process in the table.
fn target(t: &Task, pid: i32) -> SysResult<Arc<Process>> {
    match pid {
        0 => Ok(t.process.clone()),
        p if p < 0 => Err(Errno::EINVAL),
        p => t.kernel.process(p).ok_or(Errno::ESRCH),
    }
}

fn sys_getpgid(t: &mut Task, a: &Args) -> SysResult {
    let p = target(t, a.i32(0))?;
    let pgid = p.state.lock().unwrap().pgid;
    Ok(pgid as u64)
}

fn sys_getsid(t: &mut Task, a: &Args) -> SysResult {
    let p = target(t, a.i32(0))?;
    let sid = p.state.lock().unwrap().sid;
    Ok(sid as u64)
}

/// setpgid(2): the caller or one of its children (before it execs, which is not tracked),
/// into a group of the same session.
fn sys_setpgid(t: &mut Task, a: &Args) -> SysResult {
    let (pid, pgid) = (a.i32(0), a.i32(1));
    if pgid < 0 {
        return Err(Errno::EINVAL);
    }
    let p = target(t, pid)?;
    let my_sid = t.process.state.lock().unwrap().sid;
    if p.pid != t.pid() && !t.process.state.lock().unwrap().children.contains(&p.pid) {
        return Err(Errno::ESRCH);
    }
    let pgid = if pgid == 0 { p.pid } else { pgid };
    if pgid != p.pid {
        let exists = t.kernel.processes().iter().any(|q| {
            let st = q.state.lock().unwrap();
            st.pgid == pgid && st.sid == my_sid && st.zombie.is_none()
        });
        if !exists {
            return Err(Errno::EPERM);
        }
    }
    let mut st = p.state.lock().unwrap();
    if st.sid == p.pid {
        return Err(Errno::EPERM);
    }
    if st.sid != my_sid {
        return Err(Errno::EPERM);
    }
    st.pgid = pgid;
    Ok(0)
}

fn sys_setsid(t: &mut Task, _a: &Args) -> SysResult {
    let pid = t.pid();
    let leads_a_group = t.kernel.processes().iter().any(|q| q.pid != pid && q.state.lock().unwrap().pgid == pid);
    let mut st = t.process.state.lock().unwrap();
    if st.pgid == pid || leads_a_group {
        return Err(Errno::EPERM);
    }
    st.sid = pid;
    st.pgid = pid;
    Ok(pid as u64)
}

// ---- resource usage (getrusage, times, CPU clocks; registered with the clock calls) ----

/// What `getrusage(who)` reports: the caller's process, its waited-for children, or the
/// calling thread. The caller has checked `who`.
pub(super) fn rusage(t: &Task, who: i32) -> Usage {
    match who {
        libc::RUSAGE_CHILDREN => t.process.state.lock().unwrap().usage.children,
        libc::RUSAGE_THREAD => t.process.thread_usage(&t.thread),
        _ => t.process.usage(),
    }
}

/// The `struct tms` of `times`: user and system time of the process and of its waited-for
/// children, in clock ticks.
pub(super) fn tms(t: &Task) -> [i64; 4] {
    crate::kernel::process::cpu_ticks(&t.process, None)
}

/// `CLOCK_PROCESS_CPUTIME_ID` (the process's user and system time) or
/// `CLOCK_THREAD_CPUTIME_ID` (the calling thread's).
pub(super) fn cpu_clock(t: &Task, clock: i32) -> crate::abi::Timespec {
    let u = if clock == libc::CLOCK_THREAD_CPUTIME_ID { t.process.thread_usage(&t.thread) } else { t.process.usage() };
    let d = u.user + u.system;
    crate::abi::Timespec { sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX), nsec: i64::from(d.subsec_nanos()) }
}
