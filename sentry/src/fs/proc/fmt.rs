//! The text of `/proc` files, from plain snapshots of sentry state, in exactly Linux's formats
//! (`fs/proc/array.c`, `task_mmu.c`, `base.c`, `meminfo.c`…), so that procps, util-linux,
//! coreutils and Python parsers read them. No locks are taken here.

use std::fmt::Write as _;
use std::ops::Range;

use crate::abi::Rlimit;
use crate::kernel::process::RLIMIT_COUNT;
use crate::mm::{VmaKind, PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE};

/// Clock ticks per second of the times in `/proc` (`USER_HZ`).
pub const CLK_TCK: u64 = 100;
/// The last capability Linux 6.6 knows (`CAP_CHECKPOINT_RESTORE`).
pub const CAP_LAST_CAP: u32 = crate::kernel::task::cap::LAST;
/// `PF_RANDOMIZE`: the only task flag the sandbox's processes show.
const PF_RANDOMIZE: u64 = 0x0040_0000;

/// One mapping of an address space as `/proc/PID/maps` shows it.
#[derive(Clone, Debug)]
pub struct Map {
    pub start: u64,
    pub end: u64,
    pub prot: i32,
    pub shared: bool,
    pub kind: VmaKind,
    /// Bytes of it in memory.
    pub resident: u64,
}

impl Map {
    /// A mapping whose accessible pages all count as resident (the memory file does not say
    /// yet which pages were touched).
    pub fn new(start: u64, end: u64, prot: i32, shared: bool, kind: VmaKind) -> Map {
        let resident = if prot == 0 { 0 } else { end - start };
        Map { start, end, prot, shared, kind, resident }
    }

    fn len(&self) -> u64 {
        self.end - self.start
    }

    fn rss(&self) -> u64 {
        self.resident
    }

    fn name(&self) -> Option<&[u8]> {
        match &self.kind {
            VmaKind::Anon => None,
            VmaKind::Heap => Some(b"[heap]"),
            VmaKind::Stack => Some(b"[stack]"),
            VmaKind::File(n) if n.is_empty() => None,
            VmaKind::File(n) => Some(n),
            VmaKind::Vdso => Some(b"[vdso]"),
            VmaKind::Vvar => Some(b"[vvar]"),
        }
    }

    fn is_file(&self) -> bool {
        matches!(self.kind, VmaKind::File(_))
    }
}

/// What the memory lines of `status`, `stat` and `statm` report, in bytes or addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemSummary {
    pub vsize: u64,
    pub rss: u64,
    pub rss_anon: u64,
    pub rss_file: u64,
    pub rss_shmem: u64,
    pub data: u64,
    pub stack: u64,
    pub exe: u64,
    pub lib: u64,
    pub start_code: u64,
    pub end_code: u64,
    pub start_data: u64,
    pub end_data: u64,
    pub start_brk: u64,
    pub start_stack: u64,
}

/// Adds up the mappings. `exe` is the name the executable's mappings carry.
pub fn summarize(maps: &[Map], exe: &[u8]) -> MemSummary {
    let mut s = MemSummary::default();
    let of_exe = |m: &Map| matches!(&m.kind, VmaKind::File(n) if &n[..] == exe);
    for m in maps {
        s.vsize += m.len();
        s.rss += m.rss();
        match &m.kind {
            VmaKind::File(_) => s.rss_file += m.rss(),
            _ if m.shared => s.rss_shmem += m.rss(),
            _ => s.rss_anon += m.rss(),
        }
        if m.kind == VmaKind::Stack {
            s.stack += m.len();
        } else if m.prot & PROT_WRITE != 0 && !m.shared {
            s.data += m.len();
        }
        if m.is_file() && m.prot & PROT_EXEC != 0 {
            if of_exe(m) {
                s.exe += m.len();
            } else {
                s.lib += m.len();
            }
        }
    }
    if let Some(code) = maps.iter().find(|m| of_exe(m) && m.prot & PROT_EXEC != 0) {
        (s.start_code, s.end_code) = (code.start, code.end);
    }
    let data: Vec<&Map> = maps.iter().filter(|m| of_exe(m) && m.prot & PROT_WRITE != 0).collect();
    if let (Some(first), Some(last)) = (data.first(), data.last()) {
        (s.start_data, s.end_data) = (first.start, last.end);
    }
    s.start_brk = maps.iter().find(|m| m.kind == VmaKind::Heap).map_or(s.end_data, |m| m.start);
    s
}

/// A process or thread, as its `stat` and `status` show it.
#[derive(Clone, Debug, Default)]
pub struct TaskView {
    /// Thread-group id.
    pub pid: i32,
    /// The thread shown (the pid itself for a process's own files).
    pub tid: i32,
    pub comm: Vec<u8>,
    /// `R`, `S`, `Z`…
    pub state: char,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    /// The controlling terminal (its encoded device number) and its foreground group.
    pub tty: Option<(u32, i32)>,
    pub threads: usize,
    /// User and system time of the task, then of its process's waited-for children, in clock
    /// ticks.
    pub cpu_ticks: [i64; 4],
    /// Start, in clock ticks after boot.
    pub start_ticks: u64,
    pub exit_signal: i32,
    /// The wait status of a zombie.
    pub exit_code: i32,
    /// Real, effective, saved and filesystem ids.
    pub uids: [u32; 4],
    pub gids: [u32; 4],
    pub groups: Vec<u32>,
    /// The capability sets.
    pub caps: crate::kernel::task::CapSets,
    pub umask: Option<u32>,
    /// Slots of the descriptor table.
    pub fd_size: usize,
    /// None for a zombie (it has no memory).
    pub mem: Option<MemSummary>,
    pub args: Range<u64>,
    pub env: Range<u64>,
    /// Pending for the thread, pending for the process, blocked, ignored, caught.
    pub sig_pending: u64,
    pub sig_shared: u64,
    pub sig_blocked: u64,
    pub sig_ignored: u64,
    pub sig_caught: u64,
    pub sigpending_limit: u64,
    pub rss_limit: u64,
    pub cpus: usize,
    /// The thread's scheduling attributes.
    pub sched: crate::kernel::process::Sched,
}

fn state_name(state: char) -> &'static str {
    match state {
        'R' => "R (running)",
        'S' => "S (sleeping)",
        'D' => "D (disk sleep)",
        'T' => "T (stopped)",
        't' => "t (tracing stop)",
        'Z' => "Z (zombie)",
        _ => "X (dead)",
    }
}

fn pages(bytes: u64) -> u64 {
    bytes / PAGE_SIZE
}

fn kb(bytes: u64) -> u64 {
    bytes / 1024
}

/// `/proc/PID/stat`: 52 fields on one line.
pub fn stat(v: &TaskView) -> Vec<u8> {
    let mem = v.mem.clone().unwrap_or_default();
    let low = |s: u64| s & 0x7fff_ffff;
    let mut out = format!("{} (", v.tid).into_bytes();
    out.extend_from_slice(&v.comm);
    let mut rest = format!(
        ") {} {} {} {} {} {} {} 0 0 0 0 {} {} {} {} {} {} {} 0 {} {} {} {} {} {} {} 0 0 {} {} {} {} 0 0 0 {} 0 {} {} 0 0 0",
        v.state,
        v.ppid,
        v.pgid,
        v.sid,
        v.tty.map_or(0, |t| t.0),
        v.tty.map_or(-1, |t| t.1),
        PF_RANDOMIZE,
        v.cpu_ticks[0],
        v.cpu_ticks[1],
        v.cpu_ticks[2],
        v.cpu_ticks[3],
        v.sched.prio(),
        v.sched.nice,
        v.threads,
        v.start_ticks,
        mem.vsize,
        pages(mem.rss),
        v.rss_limit,
        mem.start_code,
        mem.end_code,
        mem.start_stack,
        low(v.sig_pending | v.sig_shared),
        low(v.sig_blocked),
        low(v.sig_ignored),
        low(v.sig_caught),
        v.exit_signal,
        v.sched.rt_priority,
        v.sched.policy,
    );
    if v.mem.is_some() {
        let _ = write!(
            rest,
            " {} {} {} {} {} {} {}",
            mem.start_data, mem.end_data, mem.start_brk, v.args.start, v.args.end, v.env.start, v.env.end
        );
    } else {
        rest.push_str(" 0 0 0 0 0 0 0");
    }
    let _ = writeln!(rest, " {}", v.exit_code);
    out.extend_from_slice(rest.as_bytes());
    out
}

/// `comm` as `status` shows it: backslashes and newlines escaped.
fn escaped_name(comm: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(comm.len());
    for &b in comm {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
    out
}

/// A CPU bitmap as `%*pb` prints it: hex, 32-bit groups separated by commas.
pub fn cpu_mask(n: usize) -> String {
    let n = n.max(1);
    let digits = n.div_ceil(4);
    let mut hex: Vec<char> = (0..digits)
        .map(|i| {
            // Digit i counted from the least significant.
            let bits = (n - 4 * i).min(4);
            char::from_digit((1 << bits) - 1, 16).unwrap_or('f')
        })
        .collect();
    hex.reverse();
    let mut out = String::new();
    for (i, c) in hex.iter().enumerate() {
        if i > 0 && (digits - i).is_multiple_of(8) {
            out.push(',');
        }
        out.push(*c);
    }
    out
}

/// A CPU list as `%*pbl` prints it: `0`, `0-3`.
pub fn cpu_list(n: usize) -> String {
    if n <= 1 {
        "0".into()
    } else {
        format!("0-{}", n - 1)
    }
}

/// `/proc/PID/status`.
pub fn status(v: &TaskView) -> Vec<u8> {
    let mut out = b"Name:\t".to_vec();
    out.extend_from_slice(&escaped_name(&v.comm));
    let mut s = String::from("\n");
    if let Some(umask) = v.umask {
        let _ = writeln!(s, "Umask:\t{umask:04o}");
    }
    let [ru, eu, su, fu] = v.uids;
    let [rg, eg, sg, fg] = v.gids;
    let groups: Vec<String> = v.groups.iter().map(u32::to_string).collect();
    let _ = write!(
        s,
        "State:\t{}\nTgid:\t{}\nNgid:\t0\nPid:\t{}\nPPid:\t{}\nTracerPid:\t0\nUid:\t{ru}\t{eu}\t{su}\t{fu}\nGid:\t{rg}\t{eg}\t{sg}\t{fg}\nFDSize:\t{}\nGroups:\t{} \n",
        state_name(v.state),
        v.pid,
        v.tid,
        v.ppid,
        v.fd_size,
        groups.join(" "),
    );
    let _ = writeln!(s, "NStgid:\t{}\nNSpid:\t{}\nNSpgid:\t{}\nNSsid:\t{}", v.pid, v.tid, v.pgid, v.sid);
    if let Some(m) = &v.mem {
        let pte = kb(m.vsize).div_ceil(512).max(1) * 4;
        for (name, bytes) in [
            ("VmPeak", m.vsize),
            ("VmSize", m.vsize),
            ("VmLck", 0),
            ("VmPin", 0),
            ("VmHWM", m.rss),
            ("VmRSS", m.rss),
            ("RssAnon", m.rss_anon),
            ("RssFile", m.rss_file),
            ("RssShmem", m.rss_shmem),
            ("VmData", m.data),
            ("VmStk", m.stack),
            ("VmExe", m.exe),
            ("VmLib", m.lib),
            ("VmPTE", pte * 1024),
            ("VmSwap", 0),
            ("HugetlbPages", 0),
        ] {
            let _ = writeln!(s, "{name}:\t{:>8} kB", kb(bytes));
        }
        s.push_str("CoreDumping:\t0\nTHP_enabled:\t1\n");
    }
    let _ = write!(
        s,
        "Threads:\t{}\nSigQ:\t0/{}\nSigPnd:\t{:016x}\nShdPnd:\t{:016x}\nSigBlk:\t{:016x}\nSigIgn:\t{:016x}\nSigCgt:\t{:016x}\n",
        v.threads, v.sigpending_limit, v.sig_pending, v.sig_shared, v.sig_blocked, v.sig_ignored, v.sig_caught
    );
    let c = &v.caps;
    let _ = write!(
        s,
        "CapInh:\t{:016x}\nCapPrm:\t{:016x}\nCapEff:\t{:016x}\nCapBnd:\t{:016x}\nCapAmb:\t{:016x}\n",
        c.inheritable, c.permitted, c.effective, c.bounding, c.ambient
    );
    s.push_str("NoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\n");
    s.push_str("Speculation_Store_Bypass:\tthread vulnerable\nSpeculationIndirectBranch:\tconditional enabled\n");
    let _ = write!(s, "Cpus_allowed:\t{}\nCpus_allowed_list:\t{}\n", cpu_mask(v.cpus), cpu_list(v.cpus));
    s.push_str("Mems_allowed:\t1\nMems_allowed_list:\t0\n");
    s.push_str("voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n");
    out.extend_from_slice(s.as_bytes());
    out
}

/// `/proc/PID/statm`, in pages.
pub fn statm(m: Option<&MemSummary>) -> String {
    let Some(m) = m else { return "0 0 0 0 0 0 0\n".into() };
    format!(
        "{} {} {} {} 0 {} 0\n",
        pages(m.vsize),
        pages(m.rss),
        pages(m.rss_file + m.rss_shmem),
        pages(m.exe),
        pages(m.data + m.stack)
    )
}

/// The first line of one mapping in `maps` and `smaps`.
fn map_line(out: &mut Vec<u8>, m: &Map) {
    let flag = |bit: i32, c: char| if m.prot & bit != 0 { c } else { '-' };
    let head = format!(
        "{:08x}-{:08x} {}{}{}{} 00000000 00:00 0 ",
        m.start,
        m.end,
        flag(PROT_READ, 'r'),
        flag(PROT_WRITE, 'w'),
        flag(PROT_EXEC, 'x'),
        if m.shared { 's' } else { 'p' }
    );
    out.extend_from_slice(head.as_bytes());
    if let Some(name) = m.name() {
        // Names start in column 74, as `seq_pad` places them.
        out.resize(out.len() + 72usize.saturating_sub(head.len()), b' ');
        out.push(b' ');
        out.extend_from_slice(name);
    }
    out.push(b'\n');
}

/// `/proc/PID/maps`.
pub fn maps(maps: &[Map]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in maps {
        map_line(&mut out, m);
    }
    out
}

/// `/proc/PID/smaps`: each mapping with its (estimated) memory use.
pub fn smaps(maps: &[Map]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in maps {
        map_line(&mut out, m);
        let rss = kb(m.rss());
        let anon = if m.is_file() { 0 } else { rss };
        let dirty = if m.prot & PROT_WRITE != 0 { rss } else { 0 };
        let (shared_clean, shared_dirty, private_clean, private_dirty) =
            if m.shared { (rss - dirty, dirty, 0, 0) } else { (0, 0, rss - dirty, dirty) };
        let mut s = String::new();
        for (name, v) in [
            ("Size", kb(m.len())),
            ("KernelPageSize", 4),
            ("MMUPageSize", 4),
            ("Rss", rss),
            ("Pss", rss),
            ("Pss_Dirty", dirty),
            ("Shared_Clean", shared_clean),
            ("Shared_Dirty", shared_dirty),
            ("Private_Clean", private_clean),
            ("Private_Dirty", private_dirty),
            ("Referenced", rss),
            ("Anonymous", anon),
            ("LazyFree", 0),
            ("AnonHugePages", 0),
            ("ShmemPmdMapped", 0),
            ("FilePmdMapped", 0),
            ("Shared_Hugetlb", 0),
            ("Private_Hugetlb", 0),
            ("Swap", 0),
            ("SwapPss", 0),
            ("Locked", 0),
        ] {
            let _ = writeln!(s, "{:<16}{v:>8} kB", format!("{name}:"));
        }
        let _ = writeln!(s, "{:<16}{:>8}", "THPeligible:", 0);
        s.push_str("VmFlags: ");
        let mut flags = Vec::new();
        for (bit, f) in [(PROT_READ, "rd"), (PROT_WRITE, "wr"), (PROT_EXEC, "ex")] {
            if m.prot & bit != 0 {
                flags.push(f);
            }
        }
        if m.shared {
            flags.push("sh");
        }
        flags.extend(["mr", "mw", "me"]);
        if m.shared {
            flags.push("ms");
        }
        if m.kind == VmaKind::Stack {
            flags.push("gd");
        }
        if !m.shared && m.prot & PROT_WRITE != 0 {
            flags.push("ac");
        }
        for f in flags {
            s.push_str(f);
            s.push(' ');
        }
        s.push('\n');
        out.extend_from_slice(s.as_bytes());
    }
    out
}

/// `/proc/PID/limits`.
pub fn limits(r: &[Rlimit; RLIMIT_COUNT]) -> String {
    const NAMES: [(&str, &str); RLIMIT_COUNT] = [
        ("Max cpu time", "seconds"),
        ("Max file size", "bytes"),
        ("Max data size", "bytes"),
        ("Max stack size", "bytes"),
        ("Max core file size", "bytes"),
        ("Max resident set", "bytes"),
        ("Max processes", "processes"),
        ("Max open files", "files"),
        ("Max locked memory", "bytes"),
        ("Max address space", "bytes"),
        ("Max file locks", "locks"),
        ("Max pending signals", "signals"),
        ("Max msgqueue size", "bytes"),
        ("Max nice priority", ""),
        ("Max realtime priority", ""),
        ("Max realtime timeout", "us"),
    ];
    let value = |v: u64| if v == u64::MAX { "unlimited".to_string() } else { v.to_string() };
    let mut s = format!("{:<25} {:<20} {:<20} {:<10}\n", "Limit", "Soft Limit", "Hard Limit", "Units");
    for ((name, unit), l) in NAMES.iter().zip(r) {
        let _ = write!(s, "{name:<25} {:<20} {:<20} ", value(l.cur), value(l.max));
        if unit.is_empty() {
            s.push('\n');
        } else {
            let _ = writeln!(s, "{unit:<10}");
        }
    }
    s
}

/// `/proc/meminfo`, from the total and free memory in bytes.
pub fn meminfo(total: u64, free: u64) -> String {
    let (total, free) = (kb(total), kb(free.min(total)));
    let used = total - free;
    let mut s = String::new();
    for (name, v) in [
        ("MemTotal", total),
        ("MemFree", free),
        ("MemAvailable", free),
        ("Buffers", 0),
        ("Cached", 0),
        ("SwapCached", 0),
        ("Active", used),
        ("Inactive", 0),
        ("Active(anon)", used),
        ("Inactive(anon)", 0),
        ("Active(file)", 0),
        ("Inactive(file)", 0),
        ("Unevictable", 0),
        ("Mlocked", 0),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Zswap", 0),
        ("Zswapped", 0),
        ("Dirty", 0),
        ("Writeback", 0),
        ("AnonPages", used),
        ("Mapped", 0),
        ("Shmem", 0),
        ("KReclaimable", 0),
        ("Slab", 0),
        ("SReclaimable", 0),
        ("SUnreclaim", 0),
        ("KernelStack", 0),
        ("PageTables", 0),
        ("SecPageTables", 0),
        ("NFS_Unstable", 0),
        ("Bounce", 0),
        ("WritebackTmp", 0),
        ("CommitLimit", total),
        ("Committed_AS", used),
        ("VmallocTotal", 34_359_738_367),
        ("VmallocUsed", 0),
        ("VmallocChunk", 0),
        ("Percpu", 0),
        ("AnonHugePages", 0),
        ("ShmemHugePages", 0),
        ("ShmemPmdMapped", 0),
        ("FileHugePages", 0),
        ("FilePmdMapped", 0),
    ] {
        let _ = writeln!(s, "{:<16}{v:>8} kB", format!("{name}:"));
    }
    for name in ["HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp"] {
        let _ = writeln!(s, "{:<16}{:>8}", format!("{name}:"), 0);
    }
    for (name, v) in [("Hugepagesize", 2048), ("Hugetlb", 0), ("DirectMap4k", 0), ("DirectMap2M", 0), ("DirectMap1G", 0)] {
        let _ = writeln!(s, "{:<16}{v:>8} kB", format!("{name}:"));
    }
    s
}

/// `/proc/uptime`: seconds since boot, and idle seconds summed over CPUs.
pub fn uptime(up_centis: u64, cpus: usize) -> String {
    let idle = up_centis * cpus as u64;
    format!("{}.{:02} {}.{:02}\n", up_centis / 100, up_centis % 100, idle / 100, idle % 100)
}

/// `/proc/loadavg`.
pub fn loadavg(running: usize, threads: usize, last_pid: i32) -> String {
    format!("0.00 0.00 0.00 {running}/{threads} {last_pid}\n")
}

/// `/proc/stat`: every CPU idle since boot (no per-task accounting yet).
pub fn kernel_stat(up_ticks: u64, cpus: usize, boot_time: i64, processes: i32, running: usize) -> String {
    let mut s = format!("cpu  0 0 0 {} 0 0 0 0 0 0\n", up_ticks * cpus as u64);
    for i in 0..cpus {
        let _ = writeln!(s, "cpu{i} 0 0 0 {up_ticks} 0 0 0 0 0 0");
    }
    let _ = write!(
        s,
        "intr 0\nctxt 0\nbtime {boot_time}\nprocesses {processes}\nprocs_running {running}\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n"
    );
    s
}

/// One mount as `mounts` and `mountinfo` show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub id: u32,
    pub parent: u32,
    pub dev: u64,
    pub point: Vec<u8>,
    pub fstype: &'static str,
    pub source: &'static str,
    /// Per-mount options (`rw,nosuid,relatime`).
    pub options: &'static str,
    /// Filesystem options after the separator (`rw`, `rw,mode=755`).
    pub super_options: &'static str,
}

/// Escapes a path the way `/proc/mounts` does (space, tab, newline, backslash as octal).
fn escape_path(out: &mut Vec<u8>, path: &[u8]) {
    for &b in path {
        match b {
            b' ' | b'\t' | b'\n' | b'\\' => out.extend_from_slice(format!("\\{b:03o}").as_bytes()),
            _ => out.push(b),
        }
    }
}

/// `/proc/PID/mounts` (and `/etc/mtab`'s usual target).
pub fn mounts(list: &[Mount]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in list {
        out.extend_from_slice(m.source.as_bytes());
        out.push(b' ');
        escape_path(&mut out, &m.point);
        out.extend_from_slice(format!(" {} {} 0 0\n", m.fstype, m.options).as_bytes());
    }
    out
}

/// `/proc/PID/mountinfo`.
pub fn mountinfo(list: &[Mount]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in list {
        out.extend_from_slice(format!("{} {} {}:{} / ", m.id, m.parent, libc::major(m.dev), libc::minor(m.dev)).as_bytes());
        escape_path(&mut out, &m.point);
        out.extend_from_slice(format!(" {} - {} {} {}\n", m.options, m.fstype, m.source, m.super_options).as_bytes());
    }
    out
}

/// `/proc/PID/fdinfo/FD`.
pub fn fdinfo(pos: u64, flags: i32, mnt_id: u32, ino: u64) -> String {
    format!("pos:\t{pos}\nflags:\t0{flags:o}\nmnt_id:\t{mnt_id}\nino:\t{ino}\n")
}

/// A random version-4 UUID (`/proc/sys/kernel/random/uuid`).
pub fn uuid(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}\n", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}
