//! Identity and resources: uname and hostname, credentials, rlimits, randomness, prctl,
//! arch_prctl, thread-library registrations.
// Registers are reinterpreted between signed and unsigned, and narrowed to `int`, exactly as
// the kernel ABI does; the casts below are that reinterpretation.
#![allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]

use syscall_tables::nr;

use super::{Args, Support, Table};
use crate::abi::{Rlimit, Sysinfo, Utsname};
use crate::errno::{Errno, SysResult};
use crate::fs::host::fill_random;
use crate::kernel::process::RLIMIT_COUNT;
use crate::kernel::task::{cap, secbit, Creds, Task};
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
    (nr::SETFSUID, sys_setfsuid, Support::Full),
    (nr::SETFSGID, sys_setfsgid, Support::Full),
    (nr::SETGROUPS, sys_setgroups, Support::Full),
    (nr::CAPGET, sys_capget, Support::Full),
    (nr::CAPSET, sys_capset, Support::Full),
    (nr::GETRANDOM, sys_getrandom, Support::Full),
    (nr::PRCTL, sys_prctl, Support::Partial("names, dumpable, no_new_privs, pdeathsig, subreaper, capabilities, keep-caps, secure bits")),
    (nr::SYSINFO, sys_sysinfo, Support::Partial("memory figures are the sandbox's own")),
];

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
    let mut limits = t.process.rlimits.lock().unwrap();
    // Raising a hard limit takes CAP_SYS_RESOURCE.
    if new.max > limits[r].max && !t.creds.capable(cap::SYS_RESOURCE) {
        return Err(Errno::EPERM);
    }
    limits[r] = new;
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
    if !t.creds.capable(cap::SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let len = usize::try_from(a.i32(1)).map_err(|_| Errno::EINVAL)?;
    if len > 64 {
        return Err(Errno::EINVAL);
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

fn sys_prctl(t: &mut Task, a: &Args) -> SysResult {
    if let Some(r) = prctl_caps(t, a) {
        return r;
    }
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
        libc::PR_GET_NO_NEW_PRIVS => Ok(0),
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

/// Which credential triple a set*id call changes.
#[derive(Clone, Copy)]
enum Ids {
    User,
    Group,
}

impl Ids {
    /// The capability that lets a caller take any id of this kind.
    fn cap(self) -> u32 {
        match self {
            Ids::User => cap::SETUID,
            Ids::Group => cap::SETGID,
        }
    }

    /// The real, effective and saved ids of this kind.
    fn of(self, c: &Creds) -> [u32; 3] {
        match self {
            Ids::User => [c.uid, c.euid, c.suid],
            Ids::Group => [c.gid, c.egid, c.sgid],
        }
    }
}

/// The id after a set*id call: unchanged, or `new` if the caller may take it (with the
/// kind's capability any id; otherwise only one of `allowed`).
fn pick(new: u32, current: u32, allowed: &[u32], privileged: bool) -> SysResult<u32> {
    if new == UNCHANGED {
        return Ok(current);
    }
    if privileged || allowed.contains(&new) {
        Ok(new)
    } else {
        Err(Errno::EPERM)
    }
}

/// Sets the real, effective and saved ids of one kind (the filesystem id follows the
/// effective one), with the capability changes a uid change brings.
fn commit_ids(t: &mut Task, which: Ids, [r, e, s]: [u32; 3]) -> SysResult {
    match which {
        Ids::User => t.creds.set_uids(r, e, s),
        Ids::Group => {
            let c = &mut t.creds;
            (c.gid, c.egid, c.sgid, c.fsgid) = (r, e, s, e);
        }
    }
    t.publish_resources();
    Ok(0)
}

/// setres*id: each of real, effective and saved, unless `UNCHANGED`; without the
/// capability, each must be one of the current three.
fn set_ids(t: &mut Task, which: Ids, new: [u32; 3]) -> SysResult {
    let privileged = t.creds.capable(which.cap());
    let now = which.of(&t.creds);
    let picked = [pick(new[0], now[0], &now, privileged)?, pick(new[1], now[1], &now, privileged)?, pick(new[2], now[2], &now, privileged)?];
    commit_ids(t, which, picked)
}

/// set*id: with the capability, all three; without, only the effective id, to the real or
/// the saved one.
fn set_id(t: &mut Task, which: Ids, id: u32) -> SysResult {
    if id == UNCHANGED {
        return Err(Errno::EINVAL);
    }
    let [r, _, s] = which.of(&t.creds);
    if t.creds.capable(which.cap()) {
        commit_ids(t, which, [id; 3])
    } else if id == r || id == s {
        commit_ids(t, which, [r, id, s])
    } else {
        Err(Errno::EPERM)
    }
}

/// setre*id: without the capability the real id may become the effective one and the
/// effective id any of the three. Setting the real id, or the effective one to something
/// other than the real id, also sets the saved id to the new effective id.
fn set_real_effective(t: &mut Task, which: Ids, r: u32, e: u32) -> SysResult {
    let privileged = t.creds.capable(which.cap());
    let now = which.of(&t.creds);
    let real = pick(r, now[0], &now[..2], privileged)?;
    let effective = pick(e, now[1], &now, privileged)?;
    let saved = if r != UNCHANGED || (e != UNCHANGED && e != now[0]) { effective } else { now[2] };
    commit_ids(t, which, [real, effective, saved])
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

/// setfsuid/setfsgid: return the previous filesystem id, whether or not it changes. The
/// new one must be the real, effective, saved or current filesystem id, or the caller must
/// have the kind's capability; otherwise nothing changes.
fn set_fs_id(t: &mut Task, which: Ids, id: u32) -> SysResult {
    let c = &t.creds;
    let old = match which {
        Ids::User => c.fsuid,
        Ids::Group => c.fsgid,
    };
    let mut allowed = which.of(c).to_vec();
    allowed.push(old);
    if id != UNCHANGED && id != old && (allowed.contains(&id) || c.capable(which.cap())) {
        match which {
            Ids::User => t.creds.set_fsuid(id),
            Ids::Group => t.creds.fsgid = id,
        }
        t.publish_resources();
    }
    Ok(u64::from(old))
}

fn sys_setfsuid(t: &mut Task, a: &Args) -> SysResult {
    set_fs_id(t, Ids::User, a.u32(0))
}

fn sys_setfsgid(t: &mut Task, a: &Args) -> SysResult {
    set_fs_id(t, Ids::Group, a.u32(0))
}

fn sys_setgroups(t: &mut Task, a: &Args) -> SysResult {
    const NGROUPS_MAX: usize = 65536;
    if !t.creds.capable(cap::SETGID) {
        return Err(Errno::EPERM);
    }
    let n = usize::try_from(a.i32(0)).map_err(|_| Errno::EINVAL)?;
    if n > NGROUPS_MAX {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; n * 4];
    t.mm.copy_in(a.u64(1), &mut raw)?;
    t.creds.groups = raw.chunks(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    t.publish_resources();
    Ok(0)
}

/// The `_LINUX_CAPABILITY_VERSION_*` of capget/capset headers.
const CAP_V1: u32 = 0x1998_0330;
const CAP_V2: u32 = 0x2007_1026;
const CAP_V3: u32 = 0x2008_0522;

/// The 32-bit words per set a header's version carries: 1 for version 1, 2 for versions 2
/// and 3. Any other version is answered by writing version 3 into the header and `EINVAL`
/// (`EFAULT` if the header cannot be written).
fn cap_words(t: &Task, header: u64) -> SysResult<usize> {
    let version: u32 = t.mm.read_val(header)?;
    match version {
        CAP_V1 => Ok(1),
        CAP_V2 | CAP_V3 => Ok(2),
        _ => {
            t.mm.write_val(header, &CAP_V3)?;
            Err(Errno::EINVAL)
        }
    }
}

/// The credentials of thread `pid` (0: the caller), for capget.
fn creds_of(t: &Task, pid: i32) -> SysResult<Creds> {
    if pid == 0 || pid == t.tid {
        return Ok(t.creds.clone());
    }
    let process = t.kernel.process(pid).or_else(|| {
        t.kernel.processes().into_iter().find(|p| p.state.lock().unwrap().threads.iter().any(|th| th.tid == pid))
    });
    let process = process.ok_or(Errno::ESRCH)?;
    let st = process.state.lock().unwrap();
    st.resources.as_ref().map(|r| r.creds.clone()).ok_or(Errno::ESRCH)
}

/// capget(2): a header (version, pid), then for each 32-bit word of the sets (one for
/// version 1, two otherwise) the effective, permitted and inheritable words. A NULL data
/// pointer only asks about the version.
fn sys_capget(t: &mut Task, a: &Args) -> SysResult {
    let (header, data) = (a.u64(0), a.u64(1));
    let words = match cap_words(t, header) {
        Err(Errno::EINVAL) if data == 0 => return Ok(0),
        r => r?,
    };
    if data == 0 {
        return Ok(0);
    }
    let pid: i32 = t.mm.read_val(header + 4)?;
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    let caps = creds_of(t, pid)?.caps;
    let mut bytes = Vec::with_capacity(words * 12);
    for word in 0..words {
        for set in [caps.effective, caps.permitted, caps.inheritable] {
            let half = (set >> (32 * word)) as u32;
            bytes.extend_from_slice(&half.to_le_bytes());
        }
    }
    t.mm.copy_out(data, &bytes)?;
    Ok(0)
}

/// capset(2): the caller's own sets only. The new permitted set must be within the old one
/// and the new effective set within the new permitted one; the new inheritable set within
/// the old inheritable set plus the bounding set and, without `CAP_SETPCAP`, plus the old
/// permitted set. The ambient set keeps only what stays permitted and inheritable.
fn sys_capset(t: &mut Task, a: &Args) -> SysResult {
    let (header, data) = (a.u64(0), a.u64(1));
    let words = cap_words(t, header)?;
    let pid: i32 = t.mm.read_val(header + 4)?;
    if pid != 0 && pid != t.tid {
        return Err(Errno::EPERM);
    }
    let mut raw = vec![0u8; words * 12];
    t.mm.copy_in(data, &mut raw)?;
    let mut sets = [0u64; 3];
    for (word, chunk) in raw.chunks(12).enumerate() {
        for (set, v) in sets.iter_mut().zip(chunk.chunks(4)) {
            *set |= u64::from(u32::from_le_bytes([v[0], v[1], v[2], v[3]])) << (32 * word);
        }
    }
    let [effective, permitted, inheritable] = sets.map(|s| s & cap::ALL);
    let old = t.creds.caps;
    let subset = |a: u64, b: u64| a & !b == 0;
    if !t.creds.capable(cap::SETPCAP) && !subset(inheritable, old.inheritable | old.permitted) {
        return Err(Errno::EPERM);
    }
    if !subset(inheritable, old.inheritable | old.bounding) || !subset(permitted, old.permitted) || !subset(effective, permitted) {
        return Err(Errno::EPERM);
    }
    let c = &mut t.creds.caps;
    (c.effective, c.permitted, c.inheritable) = (effective, permitted, inheritable);
    c.ambient &= permitted & inheritable;
    t.publish_resources();
    Ok(0)
}

/// The capability parts of prctl: the bounding set, the ambient set, keep-caps and the
/// secure bits. `None` for other options.
fn prctl_caps(t: &mut Task, a: &Args) -> Option<SysResult> {
    let arg2 = a.u64(1);
    let before = (t.creds.caps, t.creds.securebits);
    let r = match a.i32(0) {
        libc::PR_CAPBSET_READ => match arg2 {
            c if cap::valid(c) => Ok(u64::from(t.creds.caps.bounding & (1 << c) != 0)),
            _ => Err(Errno::EINVAL),
        },
        libc::PR_CAPBSET_DROP => {
            if !t.creds.capable(cap::SETPCAP) {
                Err(Errno::EPERM)
            } else if !cap::valid(arg2) {
                Err(Errno::EINVAL)
            } else {
                t.creds.caps.bounding &= !(1 << arg2);
                Ok(0)
            }
        }
        libc::PR_GET_KEEPCAPS => Ok(u64::from(t.creds.securebits & secbit::KEEP_CAPS != 0)),
        libc::PR_SET_KEEPCAPS => {
            if arg2 > 1 {
                Err(Errno::EINVAL)
            } else if t.creds.securebits & secbit::KEEP_CAPS_LOCKED != 0 {
                Err(Errno::EPERM)
            } else {
                t.creds.securebits = (t.creds.securebits & !secbit::KEEP_CAPS) | if arg2 == 1 { secbit::KEEP_CAPS } else { 0 };
                Ok(0)
            }
        }
        libc::PR_GET_SECUREBITS => Ok(u64::from(t.creds.securebits)),
        libc::PR_SET_SECUREBITS => {
            let old = t.creds.securebits;
            let locks = old & secbit::ALL_LOCKS;
            // A locked flag may not change, a lock may not be undone, and only known bits
            // may be set.
            let changes_locked = u64::from(locks >> 1) & (u64::from(old) ^ arg2) != 0;
            let unlocks = u64::from(locks) & !arg2 != 0;
            let unknown = arg2 & !u64::from(secbit::ALL_BITS | secbit::ALL_LOCKS) != 0;
            if changes_locked || unlocks || unknown || !t.creds.capable(cap::SETPCAP) {
                Err(Errno::EPERM)
            } else {
                t.creds.securebits = arg2 as u32;
                Ok(0)
            }
        }
        libc::PR_CAP_AMBIENT => prctl_ambient(t, a),
        _ => return None,
    };
    if (t.creds.caps, t.creds.securebits) != before {
        t.publish_resources();
    }
    Some(r)
}

/// `PR_CAP_AMBIENT`: raise (only what is permitted and inheritable), lower, ask about, or
/// clear the ambient set.
fn prctl_ambient(t: &mut Task, a: &Args) -> SysResult {
    let (op, c, rest) = (a.i32(1), a.u64(2), a.u64(3) | a.u64(4));
    let caps = &mut t.creds.caps;
    if op == libc::PR_CAP_AMBIENT_CLEAR_ALL {
        if c | rest != 0 {
            return Err(Errno::EINVAL);
        }
        caps.ambient = 0;
        return Ok(0);
    }
    if !cap::valid(c) || rest != 0 {
        return Err(Errno::EINVAL);
    }
    let bit = 1u64 << c;
    match op {
        libc::PR_CAP_AMBIENT_IS_SET => Ok(u64::from(caps.ambient & bit != 0)),
        libc::PR_CAP_AMBIENT_RAISE => {
            if caps.permitted & caps.inheritable & bit == 0 || t.creds.securebits & secbit::NO_CAP_AMBIENT_RAISE != 0 {
                return Err(Errno::EPERM);
            }
            caps.ambient |= bit;
            Ok(0)
        }
        libc::PR_CAP_AMBIENT_LOWER => {
            caps.ambient &= !bit;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}
