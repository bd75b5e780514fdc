//! Unit tests of the `/proc` formats (checked against Linux's) and of the tree without a task.

use std::sync::Arc;

use super::fmt::{self, Map, MemSummary, Mount, TaskView};
use super::*;
use crate::abi::Rlimit;
use crate::mm::{VmaKind, PROT_EXEC, PROT_READ, PROT_WRITE};
use crate::fs::synthetic::Dir;
use crate::testing::{NoInterrupt, NoPlatform};
use crate::vfs::FileOps;

fn file(name: &str) -> VmaKind {
    VmaKind::File(Arc::from(name.as_bytes()))
}

fn sample_maps() -> Vec<Map> {
    let m = |start: u64, end: u64, prot: i32, kind: VmaKind| Map::new(start, end, prot, false, kind);
    vec![
        m(0x5555_5555_4000, 0x5555_5555_6000, PROT_READ, file("/usr/bin/cat")),
        m(0x5555_5555_6000, 0x5555_5555_b000, PROT_READ | PROT_EXEC, file("/usr/bin/cat")),
        m(0x5555_5555_b000, 0x5555_5555_c000, PROT_READ | PROT_WRITE, file("/usr/bin/cat")),
        m(0x5555_5555_c000, 0x5555_5557_d000, PROT_READ | PROT_WRITE, VmaKind::Heap),
        m(0x7f00_0000_0000, 0x7f00_0000_2000, 0, VmaKind::Anon),
        m(0x7f00_0000_2000, 0x7f00_0001_0000, PROT_READ | PROT_EXEC, file("/usr/lib/libc.so.6")),
        m(0x7ffc_0000_0000, 0x7ffc_0002_1000, PROT_READ | PROT_WRITE, VmaKind::Stack),
    ]
}

fn sample_view() -> TaskView {
    let maps = sample_maps();
    TaskView {
        pid: 7,
        tid: 7,
        comm: b"a (b) c".to_vec(),
        state: 'S',
        ppid: 1,
        pgid: 7,
        sid: 1,
        threads: 2,
        start_ticks: 123,
        exit_signal: 17,
        uids: [1000, 1000, 1000, 1000],
        gids: [100, 100, 100, 100],
        groups: vec![100, 27],
        umask: Some(0o22),
        fd_size: 64,
        mem: Some(fmt::summarize(&maps, b"/usr/bin/cat")),
        args: 0x7ffc_0002_0000..0x7ffc_0002_0010,
        env: 0x7ffc_0002_0010..0x7ffc_0002_0100,
        sig_blocked: 1 << 1,
        sig_caught: 1 << 16,
        sigpending_limit: 65536,
        rss_limit: u64::MAX,
        cpus: 2,
        ..TaskView::default()
    }
}

/// Splits a stat line the way procps does: the name is between the first `(` and the last `)`.
fn stat_fields(line: &str) -> (String, Vec<String>) {
    let open = line.find('(').unwrap();
    let close = line.rfind(')').unwrap();
    let mut fields = vec![line[..open].trim().to_string()];
    fields.extend(line[close + 1..].split_whitespace().map(str::to_string));
    (line[open + 1..close].to_string(), fields)
}

#[test]
fn stat_has_linux_field_count_and_order() {
    let v = sample_view();
    let text = String::from_utf8(fmt::stat(&v)).unwrap();
    assert!(text.ends_with('\n') && text.matches('\n').count() == 1);
    let (comm, f) = stat_fields(text.trim_end());
    assert_eq!(comm, "a (b) c");
    assert_eq!(f.len() + 1, 52, "52 fields counting the name");
    let field = |n: usize| f[if n == 1 { 0 } else { n - 2 }].as_str();
    assert_eq!(field(1), "7");
    assert_eq!(field(3), "S");
    assert_eq!((field(4), field(5), field(6)), ("1", "7", "1"));
    assert_eq!(field(20), "2", "num_threads");
    assert_eq!(field(22), "123", "starttime");
    let mem = v.mem.as_ref().unwrap();
    assert_eq!(field(23), mem.vsize.to_string());
    assert_eq!(field(24), (mem.rss / 4096).to_string());
    assert_eq!(field(25), "18446744073709551615");
    assert_eq!(field(26), 0x5555_5555_6000u64.to_string(), "startcode is the executable's code");
    assert_eq!(field(31), "0", "signal");
    assert_eq!(field(32), "2", "blocked: SIGINT's bit in decimal");
    assert_eq!(field(34), (1u64 << 16).to_string());
    assert_eq!(field(38), "17", "exit_signal");
    assert_eq!(field(48), 0x7ffc_0002_0000u64.to_string(), "arg_start");
    assert_eq!(field(52), "0");
    let zombie = TaskView { state: 'Z', mem: None, exit_code: 256, ..sample_view() };
    let (_, z) = stat_fields(std::str::from_utf8(&fmt::stat(&zombie)).unwrap().trim_end());
    assert_eq!((z.len() + 1, z[1].as_str(), z[50].as_str()), (52, "Z", "256"));
}

#[test]
fn status_lines_match_linux() {
    let text = String::from_utf8(fmt::status(&sample_view())).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Name:\ta (b) c");
    for want in [
        "Umask:\t0022",
        "State:\tS (sleeping)",
        "Tgid:\t7",
        "Pid:\t7",
        "PPid:\t1",
        "Uid:\t1000\t1000\t1000\t1000",
        "Gid:\t100\t100\t100\t100",
        "Groups:\t100 27 ",
        "FDSize:\t64",
        "VmExe:\t      20 kB",
        "VmStk:\t     132 kB",
        "Threads:\t2",
        "SigBlk:\t0000000000000002",
        "CapEff:\t0000000000000000",
        "Cpus_allowed:\t3",
        "Cpus_allowed_list:\t0-1",
    ] {
        assert!(lines.contains(&want), "{want:?} missing from\n{text}");
    }
    let names: Vec<&str> = lines.iter().map(|l| l.split(':').next().unwrap()).collect();
    let pos = |n: &str| names.iter().position(|x| *x == n).unwrap_or_else(|| panic!("{n} missing"));
    assert!(pos("Name") < pos("State") && pos("State") < pos("Pid") && pos("Pid") < pos("VmRSS") && pos("VmRSS") < pos("Threads"));
    assert!(lines.iter().all(|l| l.contains(":\t")), "every line is `Key:\\tvalue`");
    let root = TaskView { uids: [0; 4], caps: crate::kernel::task::CapSets::FULL, ..sample_view() };
    let text = String::from_utf8(fmt::status(&root)).unwrap();
    assert!(text.contains("CapEff:\t000001ffffffffff\n") && text.contains("CapBnd:\t000001ffffffffff\n"), "{text}");
    let caps = crate::kernel::task::CapSets { effective: 1, permitted: 3, inheritable: 2, bounding: 7, ambient: 2 };
    let text = String::from_utf8(fmt::status(&TaskView { caps, ..sample_view() })).unwrap();
    for want in ["CapInh:\t0000000000000002", "CapPrm:\t0000000000000003", "CapEff:\t0000000000000001", "CapBnd:\t0000000000000007", "CapAmb:\t0000000000000002"] {
        assert!(text.lines().any(|l| l == want), "{want:?} missing from\n{text}");
    }
    let zombie = TaskView { state: 'Z', mem: None, umask: None, ..sample_view() };
    let z = String::from_utf8(fmt::status(&zombie)).unwrap();
    assert!(z.contains("State:\tZ (zombie)\n") && !z.contains("VmRSS") && !z.contains("Umask"));
    let odd = TaskView { comm: b"new\nline\\".to_vec(), ..sample_view() };
    assert!(String::from_utf8(fmt::status(&odd)).unwrap().starts_with("Name:\tnew\\nline\\\\\n"));
}

#[test]
fn summary_adds_up_the_mappings() {
    let m = fmt::summarize(&sample_maps(), b"/usr/bin/cat");
    assert_eq!(m.vsize, 0x2000 + 0x5000 + 0x1000 + 0x21000 + 0x2000 + 0xe000 + 0x21000);
    assert_eq!(m.rss, m.vsize - 0x2000, "the inaccessible reservation is not resident");
    assert_eq!(m.exe, 0x5000);
    assert_eq!(m.lib, 0xe000);
    assert_eq!(m.stack, 0x21000);
    assert_eq!(m.data, 0x1000 + 0x21000, "private writable, not the stack");
    assert_eq!(m.rss_file, 0x2000 + 0x5000 + 0x1000 + 0xe000);
    assert_eq!((m.start_code, m.end_code), (0x5555_5555_6000, 0x5555_5555_b000));
    assert_eq!((m.start_data, m.end_data), (0x5555_5555_b000, 0x5555_5555_c000));
    assert_eq!(m.start_brk, 0x5555_5555_c000);
    assert_eq!(fmt::statm(Some(&m)), format!("{} {} {} 5 0 {} 0\n", m.vsize / 4096, m.rss / 4096, m.rss_file / 4096, (m.data + m.stack) / 4096));
    assert_eq!(fmt::statm(None), "0 0 0 0 0 0 0\n");
    let touched = Map { resident: 0x3000, ..Map::new(0x10000, 0x20000, PROT_READ | PROT_WRITE, false, VmaKind::Anon) };
    let t = fmt::summarize(std::slice::from_ref(&touched), b"x");
    assert_eq!((t.vsize, t.rss, t.rss_anon), (0x10000, 0x3000, 0x3000), "resident bytes as the mapping reports them");
    assert!(String::from_utf8(fmt::smaps(&[touched])).unwrap().contains("\nRss:                  12 kB\n"));
    assert_eq!(fmt::summarize(&[], b"x"), MemSummary::default());
}

#[test]
fn maps_put_names_in_column_74_like_seq_pad() {
    let text = String::from_utf8(fmt::maps(&sample_maps())).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7);
    assert_eq!(lines[0], format!("555555554000-555555556000 r--p 00000000 00:00 0{}/usr/bin/cat", " ".repeat(26)));
    assert_eq!(lines[0].find('/'), Some(73));
    assert!(lines[1].starts_with("555555556000-55555555b000 r-xp "));
    assert!(lines[3].ends_with(" [heap]") && lines[3].find('[') == Some(73));
    assert_eq!(lines[4], "7f0000000000-7f0000002000 ---p 00000000 00:00 0 ", "anonymous: a trailing space");
    assert!(lines[6].ends_with("[stack]"));
    // glibc's pthread_getattr_np parses "%lx-%lx": every line must start that way.
    for l in &lines {
        let (range, _) = l.split_once(' ').unwrap();
        let (a, b) = range.split_once('-').unwrap();
        assert!(u64::from_str_radix(a, 16).unwrap() < u64::from_str_radix(b, 16).unwrap());
    }
    let shared = Map::new(0x1000, 0x2000, PROT_READ | PROT_WRITE, true, VmaKind::Anon);
    assert!(String::from_utf8(fmt::maps(&[shared])).unwrap().starts_with("00001000-00002000 rw-s "));
}

#[test]
fn smaps_give_each_mapping_its_fields() {
    let text = String::from_utf8(fmt::smaps(&sample_maps()[..1])).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].ends_with("/usr/bin/cat"));
    assert_eq!(lines[1], "Size:                  8 kB");
    assert_eq!(lines[2], "KernelPageSize:        4 kB");
    assert!(lines.contains(&"Rss:                   8 kB"));
    assert!(lines.contains(&"THPeligible:           0"));
    assert_eq!(*lines.last().unwrap(), "VmFlags: rd mr mw me ");
}

#[test]
fn limits_table_matches_linux() {
    let mut r = [Rlimit { cur: u64::MAX, max: u64::MAX }; crate::kernel::process::RLIMIT_COUNT];
    r[libc::RLIMIT_NOFILE as usize] = Rlimit { cur: 1024, max: 1_048_576 };
    let text = fmt::limits(&r);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 17);
    assert_eq!(lines[0], "Limit                     Soft Limit           Hard Limit           Units     ");
    assert_eq!(lines[1], "Max cpu time              unlimited            unlimited            seconds   ");
    assert_eq!(lines[8], "Max open files            1024                 1048576              files     ");
    assert_eq!(lines[14], "Max nice priority         unlimited            unlimited            ");
}

#[test]
fn meminfo_lines_are_aligned_like_linux() {
    let text = fmt::meminfo(4 << 30, 3 << 30);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "MemTotal:        4194304 kB");
    assert_eq!(lines[1], "MemFree:         3145728 kB");
    assert_eq!(lines[2], "MemAvailable:    3145728 kB");
    assert!(lines.contains(&"HugePages_Total:       0"));
    assert!(lines.contains(&"VmallocTotal:   34359738367 kB"));
    assert!(lines.contains(&"SwapTotal:             0 kB"));
    for key in ["Buffers:", "Cached:", "SReclaimable:", "Shmem:", "SwapFree:"] {
        assert!(lines.iter().any(|l| l.starts_with(key)), "free(1) reads {key}");
    }
}

#[test]
fn cpu_masks_and_lists_print_like_the_kernel() {
    assert_eq!(fmt::cpu_mask(1), "1");
    assert_eq!(fmt::cpu_mask(2), "3");
    assert_eq!(fmt::cpu_mask(4), "f");
    assert_eq!(fmt::cpu_mask(6), "3f");
    assert_eq!(fmt::cpu_mask(33), "1,ffffffff");
    assert_eq!(fmt::cpu_mask(64), "ffffffff,ffffffff");
    assert_eq!(fmt::cpu_list(1), "0");
    assert_eq!(fmt::cpu_list(8), "0-7");
}

#[test]
fn system_wide_files_have_linux_shapes() {
    assert_eq!(fmt::uptime(12345, 2), "123.45 246.90\n");
    assert_eq!(fmt::loadavg(1, 3, 42), "0.00 0.00 0.00 1/3 42\n");
    let stat = fmt::kernel_stat(500, 2, 1_700_000_000, 9, 1);
    let lines: Vec<&str> = stat.lines().collect();
    assert_eq!(lines[0], "cpu  0 0 0 1000 0 0 0 0 0 0");
    assert_eq!(lines[1], "cpu0 0 0 0 500 0 0 0 0 0 0");
    assert_eq!(lines[2], "cpu1 0 0 0 500 0 0 0 0 0 0");
    assert!(lines.contains(&"btime 1700000000") && lines.contains(&"processes 9"));
}

#[test]
fn mount_tables_escape_and_link_parents() {
    let list = vec![
        Mount { id: 1, parent: 0, dev: libc::makedev(0, 70), point: b"/".to_vec(), fstype: "overlay", source: "overlay", options: "rw,relatime", super_options: "rw" },
        Mount { id: 2, parent: 1, dev: libc::makedev(0, 71), point: b"/my dir".to_vec(), fstype: "tmpfs", source: "tmpfs", options: "rw", super_options: "rw,mode=755" },
    ];
    assert_eq!(String::from_utf8(fmt::mounts(&list)).unwrap(), "overlay / overlay rw,relatime 0 0\ntmpfs /my\\040dir tmpfs rw 0 0\n");
    assert_eq!(
        String::from_utf8(fmt::mountinfo(&list)).unwrap(),
        "1 0 0:70 / / rw,relatime - overlay overlay rw\n2 1 0:71 / /my\\040dir rw - tmpfs tmpfs rw,mode=755\n"
    );
}

#[test]
fn fdinfo_and_uuids_have_linux_shapes() {
    assert_eq!(fmt::fdinfo(5, libc::O_RDONLY | 0o100_000, 3, 99), "pos:\t5\nflags:\t0100000\nmnt_id:\t3\nino:\t99\n");
    let u = fmt::uuid([0xff; 16]);
    assert_eq!(u.len(), 37);
    assert_eq!(u, "ffffffff-ffff-4fff-bfff-ffffffffffff\n");
}

#[test]
fn pid_names_are_strict_decimal() {
    assert_eq!(parse_number(b"1"), Some(1));
    assert_eq!(parse_number(b"0"), Some(0));
    assert_eq!(parse_number(b"4194303"), Some(4_194_303));
    for bad in [&b""[..], b"01", b"-1", b"1a", b"self", b" 1", b"99999999999"] {
        assert_eq!(parse_number(bad), None, "{:?}", String::from_utf8_lossy(bad));
    }
    assert_ne!(pid::ino(1, 0, 1), pid::ino(0, 1, 1));
    assert_ne!(pid::ino(1, 0, 1), pid::ino(1, 0, 2));
    assert!(pid::ino(1, 0, 1) > 1 << 40, "clear of the small static numbers");
}

#[test]
fn hostname_writes_take_the_first_line() {
    assert_eq!(sysctl::parse_hostname(b"newname\n").unwrap(), b"newname");
    assert_eq!(sysctl::parse_hostname(b"a\nb").unwrap(), b"a");
    assert_eq!(sysctl::parse_hostname(&[b'x'; 65]).err(), Some(Errno::EINVAL));
}

#[test]
fn cpuinfo_has_one_block_per_processor_and_real_flags() {
    let info = cpu::probe();
    let text = cpu::cpuinfo(&info, 3);
    assert_eq!(text.lines().filter(|l| l.starts_with("processor\t: ")).count(), 3);
    assert_eq!(text.matches("\n\n").count(), 3, "each block ends with an empty line");
    let flags = text.lines().find(|l| l.starts_with("flags\t\t: ")).unwrap();
    for f in ["fpu", "sse2", "syscall", "lm"] {
        assert!(flags.split_whitespace().any(|x| x == f), "x86_64 always has {f}: {flags}");
    }
    assert!(!info.vendor.is_empty() && !info.model_name.is_empty());
    assert!(text.contains("\nsiblings\t: 3\n") && text.contains("\ncpu cores\t: 3\n"));
}

fn read(inode: &Arc<dyn Inode>) -> SysResult<Vec<u8>> {
    let f: Arc<dyn FileOps> = inode.open(libc::O_RDONLY)?;
    let mut buf = vec![0u8; 1 << 16];
    let n = f.read(0, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

#[test]
fn without_a_task_the_tree_still_answers() {
    // On a thread that is no task (and no fallback kernel for this thread's name).
    clear_current();
    let proc = procfs();
    assert_eq!(caller().err(), Some(Errno::ENOENT));
    assert_eq!(proc.lookup(b"self").unwrap().readlink().err(), Some(Errno::ENOENT));
    let pid = proc.lookup(b"42").unwrap();
    assert_eq!(pid.stat().err(), Some(Errno::ENOENT), "a node for a pid that does not exist says so at use");
    assert_eq!(proc.lookup(b"042").err(), Some(Errno::ENOENT));
    assert_eq!(proc.lookup(b"nothing").err(), Some(Errno::ENOENT));
    assert_eq!(read(&proc.lookup(b"filesystems").unwrap()).unwrap().split(|&b| b == b'\n').filter(|l| l.ends_with(b"\tproc")).count(), 1);
    let sys = proc.lookup(b"sys").unwrap();
    let kernel = sys.lookup(b"kernel").unwrap();
    assert_eq!(read(&kernel.lookup(b"pid_max").unwrap()).unwrap(), b"4194304\n");
    assert_eq!(read(&kernel.lookup(b"cap_last_cap").unwrap()).unwrap(), b"40\n");
    assert_eq!(read(&kernel.lookup(b"osrelease").unwrap()).unwrap(), format!("{}\n", crate::kernel::RELEASE).as_bytes());
    let random = kernel.lookup(b"random").unwrap();
    let boot_id = read(&random.lookup(b"boot_id").unwrap()).unwrap();
    assert_eq!(boot_id, read(&random.lookup(b"boot_id").unwrap()).unwrap(), "boot_id is fixed");
    assert_ne!(read(&random.lookup(b"uuid").unwrap()).unwrap(), read(&random.lookup(b"uuid").unwrap()).unwrap());
    assert_eq!(kernel.lookup(b"pid_max").unwrap().open(libc::O_WRONLY).err(), Some(Errno::EACCES));
    assert_eq!(kernel.lookup(b"hostname").unwrap().stat().unwrap().mode, libc::S_IFREG | 0o644);
    assert_eq!(read(&sys.lookup(b"vm").unwrap().lookup(b"overcommit_memory").unwrap()).unwrap(), b"0\n");
    assert_eq!(read(&sys.lookup(b"net").unwrap().lookup(b"core").unwrap().lookup(b"somaxconn").unwrap()).unwrap(), b"4096\n");
    assert_eq!(proc.lookup(b"mounts").unwrap().readlink().unwrap(), b"self/mounts");
    let st = proc.stat().unwrap();
    assert_eq!(st.mode, libc::S_IFDIR | 0o555);
    assert_eq!(proc.statfs().unwrap().fs_type, 0x9fa0);
    assert_eq!(proc.lookup(b"version").unwrap().stat().unwrap().dev, st.dev, "one device for the whole mount");
}

// ---- with a kernel: processes in its table, the calling task set by `set_current` ----

/// A kernel whose tree is `/` with `/proc` mounted (and an empty `/vol`).
fn kernel_with_proc() -> (Arc<Kernel>, Arc<Dentry>) {
    let root = Dentry::root(Dir::new(vec![("proc", Dir::new(vec![])), ("vol", Dir::new(vec![]))]));
    root.child(b"proc").unwrap().mount(procfs()).unwrap();
    let memfile = Arc::new(crate::mm::MemoryFile::new().unwrap());
    let kernel = Arc::new(Kernel::new(Arc::new(NoPlatform), memfile, root.clone(), b"box".to_vec(), false));
    (kernel, root)
}

fn add_process(k: &Kernel, pid: i32, ppid: i32, tids: &[i32]) -> Arc<Process> {
    use crate::kernel::process::{Thread, RLIMIT_COUNT};
    let limits = [Rlimit { cur: u64::MAX, max: u64::MAX }; RLIMIT_COUNT];
    let p = Process::new(pid, ppid, pid, 1, [crate::abi::SigAction::default(); 64], limits);
    {
        let mut st = p.state.lock().unwrap();
        st.comm = b"prog".to_vec();
        for &tid in tids {
            st.threads.push(Thread::new(tid, 0, Arc::new(NoInterrupt)));
        }
    }
    k.table.lock().unwrap().processes.insert(pid, p.clone());
    p
}

#[test]
fn the_calling_task_sees_itself_and_the_table() {
    let (k, root) = kernel_with_proc();
    add_process(&k, 1, 0, &[1]);
    add_process(&k, 5, 1, &[5, 6]);
    set_current(&k, 5, 6);
    let w = Walker { root: &root };
    let node = |path: &str, follow: bool| w.resolve(&root, path.as_bytes(), follow).map(|d| d.inode.clone());
    let text = |path: &str| String::from_utf8(read(&node(path, true)?)?).map_err(|_| Errno::EIO);
    let names = |path: &str| -> Vec<String> {
        let f = node(path, true).unwrap().open(libc::O_RDONLY).unwrap();
        f.readdir(0).unwrap().into_iter().map(|e| String::from_utf8(e.name).unwrap()).collect()
    };

    assert_eq!(node("/proc/self", false).unwrap().readlink().unwrap(), b"5");
    assert_eq!(node("/proc/thread-self", false).unwrap().readlink().unwrap(), b"5/task/6");
    let status = text("/proc/self/status").unwrap();
    assert!(status.starts_with("Name:\tprog\n"), "{status}");
    for line in ["\nPid:\t5\n", "\nPPid:\t1\n", "\nThreads:\t2\n", "\nState:\tR (running)\n"] {
        assert!(status.contains(line), "{line:?} in\n{status}");
    }
    assert!(text("/proc/thread-self/stat").unwrap().starts_with("6 (prog) R 1 5 1 0 -1 "));
    assert!(text("/proc/1/stat").unwrap().starts_with("1 (prog) S 0 1 1 0 -1 "), "another process is asleep");
    assert_eq!(text("/proc/5/task/6/status").unwrap().lines().find(|l| l.starts_with("Pid:")), Some("Pid:\t6"));
    assert_eq!(text("/proc/5/task/7/stat").err(), Some(Errno::ENOENT), "no such thread");

    let listed = names("/proc");
    assert!(["1", "5", "self", "meminfo"].iter().all(|n| listed.iter().any(|l| l == n)), "{listed:?}");
    assert!(!listed.iter().any(|l| l == "6"), "threads are not listed at the top");
    assert_eq!(names("/proc/5/task"), [".", "..", "5", "6"]);
    assert!(names("/proc/self").iter().any(|n| n == "task") && !names("/proc/5/task/6").iter().any(|n| n == "task"));

    // Writable things act on the kernel and the process.
    let hostname = node("/proc/sys/kernel/hostname", true).unwrap();
    hostname.open(libc::O_WRONLY).unwrap().write(0, b"newname\n").unwrap();
    assert_eq!(*k.hostname.lock().unwrap(), b"newname");
    assert_eq!(text("/proc/sys/kernel/hostname").unwrap(), "newname\n");
    node("/proc/self/comm", true).unwrap().open(libc::O_WRONLY).unwrap().write(0, b"renamed").unwrap();
    assert_eq!(text("/proc/5/comm").unwrap(), "renamed\n");
    assert_eq!(node("/proc/1/comm", true).unwrap().open(libc::O_WRONLY).unwrap().write(0, b"x").err(), Some(Errno::EINVAL));

    // The mount table: the root, /proc, and a noted mount point (a volume).
    let vol = root.child(b"vol").unwrap();
    vol.mount(Dir::with(crate::fs::synthetic::Attr::new(libc::S_IFDIR | 0o755, libc::makedev(0, 4000)), vec![])).unwrap();
    note_mount_point(b"/vol");
    let mounts = text("/proc/self/mounts").unwrap();
    assert!(mounts.contains("proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"), "{mounts}");
    assert!(mounts.contains(" /vol 9p "), "{mounts}");
    let info = text("/proc/5/mountinfo").unwrap();
    assert!(info.starts_with("1 0 0:31 / / ") && info.contains(" 1 0:4000 / /vol "), "{info}");

    // A zombie, then a reaped process: the cached nodes answer for what is there now.
    let one = k.process(1).unwrap();
    one.state.lock().unwrap().zombie = Some(crate::kernel::process::ExitStatus::Exited(3));
    let stat = text("/proc/1/stat").unwrap();
    assert!(stat.starts_with("1 (prog) Z ") && stat.ends_with(" 768\n"), "{stat}");
    k.table.lock().unwrap().processes.remove(&1);
    assert_eq!(node("/proc/1", true).unwrap().stat().err(), Some(Errno::ENOENT));
    assert_eq!(text("/proc/1/stat").err(), Some(Errno::ENOENT));
    assert!(!names("/proc").iter().any(|n| n == "1"));

    // /dev/tty: the caller has no standard input here.
    let tty = crate::fs::synthetic::DeviceInode::new(crate::fs::synthetic::Device::Tty);
    assert_eq!(tty.open(libc::O_RDWR).err(), Some(Errno::ENXIO));

    // Another task on the same thread.
    set_current(&k, 5, 5);
    assert_eq!(node("/proc/thread-self", false).unwrap().readlink().unwrap(), b"5/task/5");
    clear_current();
    assert_eq!(caller().err(), Some(Errno::ENOENT));
}
