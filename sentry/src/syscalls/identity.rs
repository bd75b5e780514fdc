//! Identity and resources: uname and hostname, credentials, rlimits, randomness, scheduling
//! queries, prctl, arch_prctl, thread-library registrations.
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]

use syscall_tables::nr;

use super::{Args, Support, Table};
use crate::abi::{Rlimit, Sysinfo, Utsname};
use crate::errno::{Errno, SysResult};
use crate::fs::host::{fill_random, host_cpus};
use crate::kernel::process::RLIMIT_COUNT;
use crate::kernel::task::{Creds, Task};
use crate::kernel::{RELEASE, VERSION};

pub static HANDLERS: Table = &[
    (nr::SET_TID_ADDRESS, sys_set_tid_address, Support::Full),
    (nr::SET_ROBUST_LIST, sys_set_robust_list, Support::Partial("list recorded; not walked at exit yet")),
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
    (nr::SETUID, sys_setuid, Support::Full),
    (nr::SETGID, sys_setgid, Support::Full),
    (nr::SETREUID, sys_setreuid, Support::Full),
    (nr::SETREGID, sys_setregid, Support::Full),
    (nr::SETRESUID, sys_setresuid, Support::Full),
    (nr::SETRESGID, sys_setresgid, Support::Full),
    (nr::SETFSUID, sys_setfsuid, Support::Partial("the filesystem id follows the effective id")),
    (nr::SETFSGID, sys_setfsgid, Support::Partial("the filesystem id follows the effective id")),
    (nr::SETGROUPS, sys_setgroups, Support::Full),
    (nr::CAPGET, sys_capget, Support::Partial("root has every capability, others none")),
    (nr::CAPSET, sys_capset, Support::Partial("accepted without effect")),
    (nr::GETRANDOM, sys_getrandom, Support::Full),
    (nr::SCHED_GETAFFINITY, sys_sched_getaffinity, Support::Full),
    (nr::SCHED_SETAFFINITY, sys_sched_setaffinity, Support::Partial("accepted, not applied")),
    (nr::SCHED_YIELD, sys_zero, Support::Full),
    (nr::SCHED_GETSCHEDULER, sys_zero, Support::Partial("always SCHED_OTHER")),
    (nr::SCHED_GETPARAM, sys_sched_getparam, Support::Partial("always SCHED_OTHER")),
    (nr::GETPRIORITY, sys_getpriority, Support::Partial("always nice 0")),
    (nr::PRCTL, sys_prctl, Support::Partial("names, dumpable, no_new_privs, pdeathsig, subreaper")),
    (nr::SYSINFO, sys_sysinfo, Support::Partial("memory figures are the sandbox's own")),
];

fn sys_zero(_t: &mut Task, _a: &Args) -> SysResult {
    Ok(0)
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
    t.process.rlimits.lock().unwrap()[r] = new;
    Ok(())
}

fn sys_prlimit64(t: &mut Task, a: &Args) -> SysResult {
    own_pid(t, a.i32(0))?;
    let r = resource(a.u32(1))?;
    let old = t.process.rlimits.lock().unwrap()[r];
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
    let limit = t.process.rlimits.lock().unwrap()[r];
    t.mm.write_val(a.u64(1), &limit)?;
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
            t.process.state.lock().unwrap().comm = name.into_iter().take(15).collect();
            Ok(0)
        }
        libc::PR_GET_NAME => {
            let mut buf = [0u8; 16];
            let comm = t.process.state.lock().unwrap().comm.clone();
            buf[..comm.len()].copy_from_slice(&comm);
            t.mm.copy_out(a.u64(1), &buf)?;
            Ok(0)
        }
        libc::PR_GET_DUMPABLE => Ok(1),
        libc::PR_SET_CHILD_SUBREAPER => {
            t.process.state.lock().unwrap().subreaper = a.u64(1) != 0;
            Ok(0)
        }
        libc::PR_GET_CHILD_SUBREAPER => {
            let on = i32::from(t.process.state.lock().unwrap().subreaper);
            t.mm.write_val(a.u64(1), &on)?;
            Ok(0)
        }
        libc::PR_SET_DUMPABLE | libc::PR_SET_PDEATHSIG | libc::PR_SET_NO_NEW_PRIVS => Ok(0),
        libc::PR_GET_PDEATHSIG => {
            t.mm.write_val(a.u64(1), &0i32)?;
            Ok(0)
        }
        libc::PR_GET_NO_NEW_PRIVS | libc::PR_GET_KEEPCAPS => Ok(0),
        libc::PR_SET_KEEPCAPS | libc::PR_CAPBSET_DROP | libc::PR_CAP_AMBIENT => Ok(0),
        libc::PR_CAPBSET_READ => Ok(u64::from(a.u32(1) <= 40)),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_sysinfo(t: &mut Task, a: &Args) -> SysResult {
    let uptime = t.kernel.boot_time.elapsed().as_secs();
    // The same figures /proc/meminfo shows.
    let (total, free) = crate::fs::proc::memory_figures(&t.kernel);
    let procs = u16::try_from(t.kernel.table.lock().unwrap().tids.len()).unwrap_or(u16::MAX);
    let info = Sysinfo {
        uptime: i64::try_from(uptime).unwrap_or(i64::MAX),
        totalram: total,
        freeram: free,
        procs,
        mem_unit: 1,
        ..Sysinfo::default()
    };
    t.mm.write_val(a.u64(0), &info)?;
    Ok(0)
}

/// The only process is the caller: `pid` must be 0 or its own.
pub(super) fn own_pid(t: &Task, pid: i32) -> SysResult<()> {
    if pid == 0 || pid == t.pid() {
        Ok(())
    } else if pid < 0 {
        Err(Errno::EINVAL)
    } else {
        Err(Errno::ESRCH)
    }
}

/// `-1` (as the 32-bit id argument) means "leave unchanged".
const UNCHANGED: u32 = u32::MAX;

/// The id after a set*id call: unchanged, or `new` if the caller may take it (root may take
/// any id; others only one of their current real, effective or saved ids).
fn pick(new: u32, current: u32, allowed: [u32; 3], privileged: bool) -> SysResult<u32> {
    if new == UNCHANGED {
        return Ok(current);
    }
    if privileged || allowed.contains(&new) {
        Ok(new)
    } else {
        Err(Errno::EPERM)
    }
}

/// Which credential triple a set*id call changes.
#[derive(Clone, Copy)]
enum Ids {
    User,
    Group,
}

/// The real, effective and saved ids of one kind.
fn ids(c: &mut Creds, which: Ids) -> [&mut u32; 3] {
    match which {
        Ids::User => [&mut c.uid, &mut c.euid, &mut c.suid],
        Ids::Group => [&mut c.gid, &mut c.egid, &mut c.sgid],
    }
}

/// setres*id: each of real, effective and saved, unless `UNCHANGED`.
fn set_ids(t: &mut Task, which: Ids, new: [u32; 3]) -> SysResult {
    let root = t.creds.euid == 0;
    let slots = ids(&mut t.creds, which);
    let now = [*slots[0], *slots[1], *slots[2]];
    let picked = [pick(new[0], now[0], now, root)?, pick(new[1], now[1], now, root)?, pick(new[2], now[2], now, root)?];
    for (slot, id) in slots.into_iter().zip(picked) {
        *slot = id;
    }
    t.publish_resources();
    Ok(0)
}

/// set*id: root sets all three; others only the effective id (to the real or saved one).
fn set_id(t: &mut Task, which: Ids, id: u32) -> SysResult {
    if id == UNCHANGED {
        return Err(Errno::EINVAL);
    }
    if t.creds.euid == 0 {
        set_ids(t, which, [id; 3])
    } else {
        set_ids(t, which, [UNCHANGED, id, UNCHANGED])
    }
}

/// setre*id: setting the real id, or the effective one to something other than the real id,
/// also sets the saved id to the new effective id.
fn set_real_effective(t: &mut Task, which: Ids, r: u32, e: u32) -> SysResult {
    let [real, effective, _] = ids(&mut t.creds, which).map(|id| *id);
    let new_effective = if e == UNCHANGED { effective } else { e };
    let s = if r != UNCHANGED || (e != UNCHANGED && e != real) { new_effective } else { UNCHANGED };
    set_ids(t, which, [r, e, s])
}

fn sys_setuid(t: &mut Task, a: &Args) -> SysResult {
    set_id(t, Ids::User, a.u32(0))
}

fn sys_setgid(t: &mut Task, a: &Args) -> SysResult {
    set_id(t, Ids::Group, a.u32(0))
}

fn sys_setreuid(t: &mut Task, a: &Args) -> SysResult {
    set_real_effective(t, Ids::User, a.u32(0), a.u32(1))
}

fn sys_setregid(t: &mut Task, a: &Args) -> SysResult {
    set_real_effective(t, Ids::Group, a.u32(0), a.u32(1))
}

fn sys_setresuid(t: &mut Task, a: &Args) -> SysResult {
    set_ids(t, Ids::User, [a.u32(0), a.u32(1), a.u32(2)])
}

fn sys_setresgid(t: &mut Task, a: &Args) -> SysResult {
    set_ids(t, Ids::Group, [a.u32(0), a.u32(1), a.u32(2)])
}

/// setfsuid/setfsgid: return the previous filesystem id; it always equals the effective id.
fn sys_setfsuid(t: &mut Task, _a: &Args) -> SysResult {
    Ok(u64::from(t.creds.euid))
}

fn sys_setfsgid(t: &mut Task, _a: &Args) -> SysResult {
    Ok(u64::from(t.creds.egid))
}

fn sys_setgroups(t: &mut Task, a: &Args) -> SysResult {
    const NGROUPS_MAX: usize = 65536;
    let n = usize::try_from(a.i32(0)).map_err(|_| Errno::EINVAL)?;
    if n > NGROUPS_MAX {
        return Err(Errno::EINVAL);
    }
    if t.creds.euid != 0 {
        return Err(Errno::EPERM);
    }
    let mut raw = vec![0u8; n * 4];
    t.mm.copy_in(a.u64(1), &mut raw)?;
    t.creds.groups = raw.chunks(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    t.publish_resources();
    Ok(0)
}

/// capget(2): version 3 (or 1/2) header, then one (or two) data words per set.
fn sys_capget(t: &mut Task, a: &Args) -> SysResult {
    const V1: u32 = 0x1998_0330;
    const V2: u32 = 0x2007_1026;
    const V3: u32 = 0x2008_0522;
    let version: u32 = t.mm.read_val(a.u64(0))?;
    let words = match version {
        V1 => 1,
        V2 | V3 => 2,
        _ => {
            t.mm.write_val(a.u64(0), &V3)?;
            return if a.u64(1) == 0 { Ok(0) } else { Err(Errno::EINVAL) };
        }
    };
    if a.u64(1) == 0 {
        return Ok(0);
    }
    // effective, permitted, inheritable for each 32-bit half: all of 0..=40 for root.
    let all = if t.creds.euid == 0 { [u32::MAX, 0x1ff] } else { [0, 0] };
    let mut data = Vec::new();
    for w in all.iter().take(words) {
        data.extend_from_slice(&[*w, *w, 0]);
    }
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    t.mm.copy_out(a.u64(1), &bytes)?;
    Ok(0)
}

fn sys_capset(t: &mut Task, a: &Args) -> SysResult {
    let _version: u32 = t.mm.read_val(a.u64(0))?;
    Ok(0)
}
