//! The x86_64 Linux system call table: every number, its name, and the kind of each argument.
//!
//! This crate is data, not logic. The sentry builds its dense dispatch array from [`SYSCALLS`]
//! and names numbers through [`nr`]; `--strace` uses the argument kinds and the small formatters
//! at the bottom (errno, signal and flag names) that need no app memory.
//!
//! Coverage: numbers 0..=334 and 424..=471, as in the kernel's
//! `arch/x86/entry/syscalls/syscall_64.tbl` (Linux 6.18 ends at 470 `listns`; 471
//! `rseq_slice_yield` is from Linux 7.0). The x32-only numbers (512..=547) are left out.
//! Numbers that exist in the table but have no kernel entry point (`tuxcall`, `vserver`, ...)
//! are listed with their historical arity; Linux returns `ENOSYS` for them.

/// How an argument is shown in an strace-like line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// Signed decimal.
    Int,
    /// Unsigned decimal (sizes, counts).
    Uint,
    /// Flags or values shown in hex.
    Hex,
    /// An address, shown in hex or NULL.
    Ptr,
    /// A file descriptor (i32); `AT_FDCWD` shown by name.
    Fd,
    /// A NUL-terminated path in app memory.
    Path,
    /// Another NUL-terminated string in app memory.
    Str,
    /// A buffer the kernel reads (e.g. write's buf); its length is the next `Uint` argument.
    InBuf,
    /// A buffer the kernel fills (e.g. read's buf); its length is the next `Uint` argument.
    OutBuf,
    /// `O_*` flags.
    OpenFlags,
    /// A file mode, shown in octal.
    Mode,
    /// A signal number, shown by name.
    Signal,
    /// A process, thread or process-group id.
    Pid,
    /// A clock id.
    Clock,
    /// `PROT_*` flags.
    MmapProt,
    /// `MAP_*` flags.
    MmapFlags,
    /// An ioctl request.
    Ioctl,
    /// An fcntl command.
    Fcntl,
    /// An argv/envp-style NULL-terminated array of string pointers.
    StrVec,
}

/// One system call: its number, name, and the kinds of its arguments.
#[derive(Clone, Copy, Debug)]
pub struct SyscallInfo {
    /// The x86_64 syscall number (the value of `rax` on entry).
    pub nr: u32,
    /// The name in `syscall_64.tbl`, e.g. `"newfstatat"`.
    pub name: &'static str,
    /// The syscall's real arity, in order.
    pub args: &'static [ArgKind],
}

const fn sc(nr: u32, name: &'static str, args: &'static [ArgKind]) -> SyscallInfo {
    SyscallInfo { nr, name, args }
}

use ArgKind::{
    Clock, Fcntl, Fd, Hex, InBuf, Int, Ioctl, MmapFlags, MmapProt, Mode, OpenFlags, OutBuf, Path,
    Pid, Ptr, Signal, Str, StrVec, Uint,
};

// Argument kinds follow the kernel's SYSCALL_DEFINE prototypes. `InBuf`/`OutBuf` mark only plain
// byte buffers whose length is the next argument; structured buffers (dirents, iovecs, msghdrs)
// are `Ptr`. User and group ids are `Int` so that -1 ("unchanged") reads as -1.
const TABLE: &[SyscallInfo] = &[
    sc(0, "read", &[Fd, OutBuf, Uint]),
    sc(1, "write", &[Fd, InBuf, Uint]),
    sc(2, "open", &[Path, OpenFlags, Mode]),
    sc(3, "close", &[Fd]),
    sc(4, "stat", &[Path, Ptr]),
    sc(5, "fstat", &[Fd, Ptr]),
    sc(6, "lstat", &[Path, Ptr]),
    sc(7, "poll", &[Ptr, Uint, Int]),
    sc(8, "lseek", &[Fd, Int, Int]),
    sc(9, "mmap", &[Ptr, Uint, MmapProt, MmapFlags, Fd, Hex]),
    sc(10, "mprotect", &[Ptr, Uint, MmapProt]),
    sc(11, "munmap", &[Ptr, Uint]),
    sc(12, "brk", &[Ptr]),
    sc(13, "rt_sigaction", &[Signal, Ptr, Ptr, Uint]),
    sc(14, "rt_sigprocmask", &[Int, Ptr, Ptr, Uint]),
    sc(15, "rt_sigreturn", &[]),
    sc(16, "ioctl", &[Fd, Ioctl, Hex]),
    sc(17, "pread64", &[Fd, OutBuf, Uint, Int]),
    sc(18, "pwrite64", &[Fd, InBuf, Uint, Int]),
    sc(19, "readv", &[Fd, Ptr, Uint]),
    sc(20, "writev", &[Fd, Ptr, Uint]),
    sc(21, "access", &[Path, Hex]),
    sc(22, "pipe", &[Ptr]),
    sc(23, "select", &[Int, Ptr, Ptr, Ptr, Ptr]),
    sc(24, "sched_yield", &[]),
    sc(25, "mremap", &[Ptr, Uint, Uint, Hex, Ptr]),
    sc(26, "msync", &[Ptr, Uint, Hex]),
    sc(27, "mincore", &[Ptr, Uint, Ptr]),
    sc(28, "madvise", &[Ptr, Uint, Int]),
    sc(29, "shmget", &[Int, Uint, Hex]),
    sc(30, "shmat", &[Int, Ptr, Hex]),
    sc(31, "shmctl", &[Int, Int, Ptr]),
    sc(32, "dup", &[Fd]),
    sc(33, "dup2", &[Fd, Fd]),
    sc(34, "pause", &[]),
    sc(35, "nanosleep", &[Ptr, Ptr]),
    sc(36, "getitimer", &[Int, Ptr]),
    sc(37, "alarm", &[Uint]),
    sc(38, "setitimer", &[Int, Ptr, Ptr]),
    sc(39, "getpid", &[]),
    sc(40, "sendfile", &[Fd, Fd, Ptr, Uint]),
    sc(41, "socket", &[Int, Hex, Int]),
    sc(42, "connect", &[Fd, Ptr, Uint]),
    sc(43, "accept", &[Fd, Ptr, Ptr]),
    sc(44, "sendto", &[Fd, InBuf, Uint, Hex, Ptr, Uint]),
    sc(45, "recvfrom", &[Fd, OutBuf, Uint, Hex, Ptr, Ptr]),
    sc(46, "sendmsg", &[Fd, Ptr, Hex]),
    sc(47, "recvmsg", &[Fd, Ptr, Hex]),
    sc(48, "shutdown", &[Fd, Int]),
    sc(49, "bind", &[Fd, Ptr, Uint]),
    sc(50, "listen", &[Fd, Int]),
    sc(51, "getsockname", &[Fd, Ptr, Ptr]),
    sc(52, "getpeername", &[Fd, Ptr, Ptr]),
    sc(53, "socketpair", &[Int, Hex, Int, Ptr]),
    sc(54, "setsockopt", &[Fd, Int, Int, InBuf, Uint]),
    sc(55, "getsockopt", &[Fd, Int, Int, Ptr, Ptr]),
    sc(56, "clone", &[Hex, Ptr, Ptr, Ptr, Ptr]),
    sc(57, "fork", &[]),
    sc(58, "vfork", &[]),
    sc(59, "execve", &[Path, StrVec, StrVec]),
    sc(60, "exit", &[Int]),
    sc(61, "wait4", &[Pid, Ptr, Hex, Ptr]),
    sc(62, "kill", &[Pid, Signal]),
    sc(63, "uname", &[Ptr]),
    sc(64, "semget", &[Int, Int, Hex]),
    sc(65, "semop", &[Int, Ptr, Uint]),
    sc(66, "semctl", &[Int, Int, Int, Hex]),
    sc(67, "shmdt", &[Ptr]),
    sc(68, "msgget", &[Int, Hex]),
    sc(69, "msgsnd", &[Int, Ptr, Uint, Hex]),
    sc(70, "msgrcv", &[Int, Ptr, Uint, Int, Hex]),
    sc(71, "msgctl", &[Int, Int, Ptr]),
    sc(72, "fcntl", &[Fd, Fcntl, Hex]),
    sc(73, "flock", &[Fd, Int]),
    sc(74, "fsync", &[Fd]),
    sc(75, "fdatasync", &[Fd]),
    sc(76, "truncate", &[Path, Int]),
    sc(77, "ftruncate", &[Fd, Int]),
    sc(78, "getdents", &[Fd, Ptr, Uint]),
    sc(79, "getcwd", &[OutBuf, Uint]),
    sc(80, "chdir", &[Path]),
    sc(81, "fchdir", &[Fd]),
    sc(82, "rename", &[Path, Path]),
    sc(83, "mkdir", &[Path, Mode]),
    sc(84, "rmdir", &[Path]),
    sc(85, "creat", &[Path, Mode]),
    sc(86, "link", &[Path, Path]),
    sc(87, "unlink", &[Path]),
    sc(88, "symlink", &[Path, Path]),
    sc(89, "readlink", &[Path, OutBuf, Uint]),
    sc(90, "chmod", &[Path, Mode]),
    sc(91, "fchmod", &[Fd, Mode]),
    sc(92, "chown", &[Path, Int, Int]),
    sc(93, "fchown", &[Fd, Int, Int]),
    sc(94, "lchown", &[Path, Int, Int]),
    sc(95, "umask", &[Mode]),
    sc(96, "gettimeofday", &[Ptr, Ptr]),
    sc(97, "getrlimit", &[Int, Ptr]),
    sc(98, "getrusage", &[Int, Ptr]),
    sc(99, "sysinfo", &[Ptr]),
    sc(100, "times", &[Ptr]),
    sc(101, "ptrace", &[Int, Pid, Ptr, Ptr]),
    sc(102, "getuid", &[]),
    sc(103, "syslog", &[Int, OutBuf, Uint]),
    sc(104, "getgid", &[]),
    sc(105, "setuid", &[Int]),
    sc(106, "setgid", &[Int]),
    sc(107, "geteuid", &[]),
    sc(108, "getegid", &[]),
    sc(109, "setpgid", &[Pid, Pid]),
    sc(110, "getppid", &[]),
    sc(111, "getpgrp", &[]),
    sc(112, "setsid", &[]),
    sc(113, "setreuid", &[Int, Int]),
    sc(114, "setregid", &[Int, Int]),
    sc(115, "getgroups", &[Int, Ptr]),
    sc(116, "setgroups", &[Int, Ptr]),
    sc(117, "setresuid", &[Int, Int, Int]),
    sc(118, "getresuid", &[Ptr, Ptr, Ptr]),
    sc(119, "setresgid", &[Int, Int, Int]),
    sc(120, "getresgid", &[Ptr, Ptr, Ptr]),
    sc(121, "getpgid", &[Pid]),
    sc(122, "setfsuid", &[Int]),
    sc(123, "setfsgid", &[Int]),
    sc(124, "getsid", &[Pid]),
    sc(125, "capget", &[Ptr, Ptr]),
    sc(126, "capset", &[Ptr, Ptr]),
    sc(127, "rt_sigpending", &[Ptr, Uint]),
    sc(128, "rt_sigtimedwait", &[Ptr, Ptr, Ptr, Uint]),
    sc(129, "rt_sigqueueinfo", &[Pid, Signal, Ptr]),
    sc(130, "rt_sigsuspend", &[Ptr, Uint]),
    sc(131, "sigaltstack", &[Ptr, Ptr]),
    sc(132, "utime", &[Path, Ptr]),
    sc(133, "mknod", &[Path, Mode, Hex]),
    sc(134, "uselib", &[Path]),
    sc(135, "personality", &[Hex]),
    sc(136, "ustat", &[Hex, Ptr]),
    sc(137, "statfs", &[Path, Ptr]),
    sc(138, "fstatfs", &[Fd, Ptr]),
    sc(139, "sysfs", &[Int, Hex, Hex]),
    sc(140, "getpriority", &[Int, Int]),
    sc(141, "setpriority", &[Int, Int, Int]),
    sc(142, "sched_setparam", &[Pid, Ptr]),
    sc(143, "sched_getparam", &[Pid, Ptr]),
    sc(144, "sched_setscheduler", &[Pid, Int, Ptr]),
    sc(145, "sched_getscheduler", &[Pid]),
    sc(146, "sched_get_priority_max", &[Int]),
    sc(147, "sched_get_priority_min", &[Int]),
    sc(148, "sched_rr_get_interval", &[Pid, Ptr]),
    sc(149, "mlock", &[Ptr, Uint]),
    sc(150, "munlock", &[Ptr, Uint]),
    sc(151, "mlockall", &[Hex]),
    sc(152, "munlockall", &[]),
    sc(153, "vhangup", &[]),
    sc(154, "modify_ldt", &[Int, Ptr, Uint]),
    sc(155, "pivot_root", &[Path, Path]),
    sc(156, "_sysctl", &[Ptr]),
    sc(157, "prctl", &[Int, Hex, Hex, Hex, Hex]),
    sc(158, "arch_prctl", &[Hex, Hex]),
    sc(159, "adjtimex", &[Ptr]),
    sc(160, "setrlimit", &[Int, Ptr]),
    sc(161, "chroot", &[Path]),
    sc(162, "sync", &[]),
    sc(163, "acct", &[Path]),
    sc(164, "settimeofday", &[Ptr, Ptr]),
    sc(165, "mount", &[Str, Path, Str, Hex, Ptr]),
    sc(166, "umount2", &[Path, Hex]),
    sc(167, "swapon", &[Path, Hex]),
    sc(168, "swapoff", &[Path]),
    sc(169, "reboot", &[Hex, Hex, Hex, Ptr]),
    sc(170, "sethostname", &[InBuf, Uint]),
    sc(171, "setdomainname", &[InBuf, Uint]),
    sc(172, "iopl", &[Uint]),
    sc(173, "ioperm", &[Hex, Uint, Int]),
    sc(174, "create_module", &[Str, Uint]),
    sc(175, "init_module", &[Ptr, Uint, Str]),
    sc(176, "delete_module", &[Str, Hex]),
    sc(177, "get_kernel_syms", &[Ptr]),
    sc(178, "query_module", &[Str, Int, Ptr, Uint, Ptr]),
    sc(179, "quotactl", &[Hex, Path, Int, Ptr]),
    sc(180, "nfsservctl", &[Int, Ptr, Ptr]),
    sc(181, "getpmsg", &[Fd, Ptr, Ptr, Ptr, Ptr]),
    sc(182, "putpmsg", &[Fd, Ptr, Ptr, Int, Hex]),
    sc(183, "afs_syscall", &[Hex, Hex, Hex, Hex, Hex]),
    sc(184, "tuxcall", &[Hex, Hex, Hex]),
    sc(185, "security", &[Hex, Hex, Hex]),
    sc(186, "gettid", &[]),
    sc(187, "readahead", &[Fd, Int, Uint]),
    sc(188, "setxattr", &[Path, Str, InBuf, Uint, Hex]),
    sc(189, "lsetxattr", &[Path, Str, InBuf, Uint, Hex]),
    sc(190, "fsetxattr", &[Fd, Str, InBuf, Uint, Hex]),
    sc(191, "getxattr", &[Path, Str, OutBuf, Uint]),
    sc(192, "lgetxattr", &[Path, Str, OutBuf, Uint]),
    sc(193, "fgetxattr", &[Fd, Str, OutBuf, Uint]),
    sc(194, "listxattr", &[Path, OutBuf, Uint]),
    sc(195, "llistxattr", &[Path, OutBuf, Uint]),
    sc(196, "flistxattr", &[Fd, OutBuf, Uint]),
    sc(197, "removexattr", &[Path, Str]),
    sc(198, "lremovexattr", &[Path, Str]),
    sc(199, "fremovexattr", &[Fd, Str]),
    sc(200, "tkill", &[Pid, Signal]),
    sc(201, "time", &[Ptr]),
    sc(202, "futex", &[Ptr, Hex, Int, Ptr, Ptr, Hex]),
    sc(203, "sched_setaffinity", &[Pid, Uint, Ptr]),
    sc(204, "sched_getaffinity", &[Pid, Uint, Ptr]),
    sc(205, "set_thread_area", &[Ptr]),
    sc(206, "io_setup", &[Uint, Ptr]),
    sc(207, "io_destroy", &[Hex]),
    sc(208, "io_getevents", &[Hex, Int, Int, Ptr, Ptr]),
    sc(209, "io_submit", &[Hex, Int, Ptr]),
    sc(210, "io_cancel", &[Hex, Ptr, Ptr]),
    sc(211, "get_thread_area", &[Ptr]),
    sc(212, "lookup_dcookie", &[Hex, OutBuf, Uint]),
    sc(213, "epoll_create", &[Int]),
    sc(214, "epoll_ctl_old", &[Fd, Int, Fd, Ptr]),
    sc(215, "epoll_wait_old", &[Fd, Ptr, Int, Int]),
    sc(
        216,
        "remap_file_pages",
        &[Ptr, Uint, MmapProt, Uint, MmapFlags],
    ),
    sc(217, "getdents64", &[Fd, Ptr, Uint]),
    sc(218, "set_tid_address", &[Ptr]),
    sc(219, "restart_syscall", &[]),
    sc(220, "semtimedop", &[Int, Ptr, Uint, Ptr]),
    sc(221, "fadvise64", &[Fd, Int, Uint, Int]),
    sc(222, "timer_create", &[Clock, Ptr, Ptr]),
    sc(223, "timer_settime", &[Int, Hex, Ptr, Ptr]),
    sc(224, "timer_gettime", &[Int, Ptr]),
    sc(225, "timer_getoverrun", &[Int]),
    sc(226, "timer_delete", &[Int]),
    sc(227, "clock_settime", &[Clock, Ptr]),
    sc(228, "clock_gettime", &[Clock, Ptr]),
    sc(229, "clock_getres", &[Clock, Ptr]),
    sc(230, "clock_nanosleep", &[Clock, Hex, Ptr, Ptr]),
    sc(231, "exit_group", &[Int]),
    sc(232, "epoll_wait", &[Fd, Ptr, Int, Int]),
    sc(233, "epoll_ctl", &[Fd, Int, Fd, Ptr]),
    sc(234, "tgkill", &[Pid, Pid, Signal]),
    sc(235, "utimes", &[Path, Ptr]),
    sc(236, "vserver", &[Hex, Hex, Hex, Hex, Hex]),
    sc(237, "mbind", &[Ptr, Uint, Int, Ptr, Uint, Hex]),
    sc(238, "set_mempolicy", &[Int, Ptr, Uint]),
    sc(239, "get_mempolicy", &[Ptr, Ptr, Uint, Ptr, Hex]),
    sc(240, "mq_open", &[Str, OpenFlags, Mode, Ptr]),
    sc(241, "mq_unlink", &[Str]),
    sc(242, "mq_timedsend", &[Fd, InBuf, Uint, Uint, Ptr]),
    sc(243, "mq_timedreceive", &[Fd, OutBuf, Uint, Ptr, Ptr]),
    sc(244, "mq_notify", &[Fd, Ptr]),
    sc(245, "mq_getsetattr", &[Fd, Ptr, Ptr]),
    sc(246, "kexec_load", &[Ptr, Uint, Ptr, Hex]),
    sc(247, "waitid", &[Int, Pid, Ptr, Hex, Ptr]),
    sc(248, "add_key", &[Str, Str, InBuf, Uint, Int]),
    sc(249, "request_key", &[Str, Str, Str, Int]),
    sc(250, "keyctl", &[Int, Hex, Hex, Hex, Hex]),
    sc(251, "ioprio_set", &[Int, Int, Int]),
    sc(252, "ioprio_get", &[Int, Int]),
    sc(253, "inotify_init", &[]),
    sc(254, "inotify_add_watch", &[Fd, Path, Hex]),
    sc(255, "inotify_rm_watch", &[Fd, Int]),
    sc(256, "migrate_pages", &[Pid, Uint, Ptr, Ptr]),
    sc(257, "openat", &[Fd, Path, OpenFlags, Mode]),
    sc(258, "mkdirat", &[Fd, Path, Mode]),
    sc(259, "mknodat", &[Fd, Path, Mode, Hex]),
    sc(260, "fchownat", &[Fd, Path, Int, Int, Hex]),
    sc(261, "futimesat", &[Fd, Path, Ptr]),
    sc(262, "newfstatat", &[Fd, Path, Ptr, Hex]),
    sc(263, "unlinkat", &[Fd, Path, Hex]),
    sc(264, "renameat", &[Fd, Path, Fd, Path]),
    sc(265, "linkat", &[Fd, Path, Fd, Path, Hex]),
    sc(266, "symlinkat", &[Path, Fd, Path]),
    sc(267, "readlinkat", &[Fd, Path, OutBuf, Uint]),
    sc(268, "fchmodat", &[Fd, Path, Mode]),
    sc(269, "faccessat", &[Fd, Path, Hex]),
    sc(270, "pselect6", &[Int, Ptr, Ptr, Ptr, Ptr, Ptr]),
    sc(271, "ppoll", &[Ptr, Uint, Ptr, Ptr, Uint]),
    sc(272, "unshare", &[Hex]),
    sc(273, "set_robust_list", &[Ptr, Uint]),
    sc(274, "get_robust_list", &[Pid, Ptr, Ptr]),
    sc(275, "splice", &[Fd, Ptr, Fd, Ptr, Uint, Hex]),
    sc(276, "tee", &[Fd, Fd, Uint, Hex]),
    sc(277, "sync_file_range", &[Fd, Int, Int, Hex]),
    sc(278, "vmsplice", &[Fd, Ptr, Uint, Hex]),
    sc(279, "move_pages", &[Pid, Uint, Ptr, Ptr, Ptr, Hex]),
    sc(280, "utimensat", &[Fd, Path, Ptr, Hex]),
    sc(281, "epoll_pwait", &[Fd, Ptr, Int, Int, Ptr, Uint]),
    sc(282, "signalfd", &[Fd, Ptr, Uint]),
    sc(283, "timerfd_create", &[Clock, Hex]),
    sc(284, "eventfd", &[Uint]),
    sc(285, "fallocate", &[Fd, Hex, Int, Int]),
    sc(286, "timerfd_settime", &[Fd, Hex, Ptr, Ptr]),
    sc(287, "timerfd_gettime", &[Fd, Ptr]),
    sc(288, "accept4", &[Fd, Ptr, Ptr, Hex]),
    sc(289, "signalfd4", &[Fd, Ptr, Uint, Hex]),
    sc(290, "eventfd2", &[Uint, Hex]),
    sc(291, "epoll_create1", &[Hex]),
    sc(292, "dup3", &[Fd, Fd, OpenFlags]),
    sc(293, "pipe2", &[Ptr, OpenFlags]),
    sc(294, "inotify_init1", &[Hex]),
    sc(295, "preadv", &[Fd, Ptr, Uint, Int, Int]),
    sc(296, "pwritev", &[Fd, Ptr, Uint, Int, Int]),
    sc(297, "rt_tgsigqueueinfo", &[Pid, Pid, Signal, Ptr]),
    sc(298, "perf_event_open", &[Ptr, Pid, Int, Fd, Hex]),
    sc(299, "recvmmsg", &[Fd, Ptr, Uint, Hex, Ptr]),
    sc(300, "fanotify_init", &[Hex, OpenFlags]),
    sc(301, "fanotify_mark", &[Fd, Hex, Hex, Fd, Path]),
    sc(302, "prlimit64", &[Pid, Int, Ptr, Ptr]),
    sc(303, "name_to_handle_at", &[Fd, Path, Ptr, Ptr, Hex]),
    sc(304, "open_by_handle_at", &[Fd, Ptr, OpenFlags]),
    sc(305, "clock_adjtime", &[Clock, Ptr]),
    sc(306, "syncfs", &[Fd]),
    sc(307, "sendmmsg", &[Fd, Ptr, Uint, Hex]),
    sc(308, "setns", &[Fd, Hex]),
    sc(309, "getcpu", &[Ptr, Ptr, Ptr]),
    sc(310, "process_vm_readv", &[Pid, Ptr, Uint, Ptr, Uint, Hex]),
    sc(311, "process_vm_writev", &[Pid, Ptr, Uint, Ptr, Uint, Hex]),
    sc(312, "kcmp", &[Pid, Pid, Int, Hex, Hex]),
    sc(313, "finit_module", &[Fd, Str, Hex]),
    sc(314, "sched_setattr", &[Pid, Ptr, Hex]),
    sc(315, "sched_getattr", &[Pid, Ptr, Uint, Hex]),
    sc(316, "renameat2", &[Fd, Path, Fd, Path, Hex]),
    sc(317, "seccomp", &[Uint, Hex, Ptr]),
    sc(318, "getrandom", &[OutBuf, Uint, Hex]),
    sc(319, "memfd_create", &[Str, Hex]),
    sc(320, "kexec_file_load", &[Fd, Fd, Uint, Str, Hex]),
    sc(321, "bpf", &[Int, Ptr, Uint]),
    sc(322, "execveat", &[Fd, Path, StrVec, StrVec, Hex]),
    sc(323, "userfaultfd", &[Hex]),
    sc(324, "membarrier", &[Int, Hex, Int]),
    sc(325, "mlock2", &[Ptr, Uint, Hex]),
    sc(326, "copy_file_range", &[Fd, Ptr, Fd, Ptr, Uint, Hex]),
    sc(327, "preadv2", &[Fd, Ptr, Uint, Int, Int, Hex]),
    sc(328, "pwritev2", &[Fd, Ptr, Uint, Int, Int, Hex]),
    sc(329, "pkey_mprotect", &[Ptr, Uint, MmapProt, Int]),
    sc(330, "pkey_alloc", &[Hex, Hex]),
    sc(331, "pkey_free", &[Int]),
    sc(332, "statx", &[Fd, Path, Hex, Hex, Ptr]),
    sc(333, "io_pgetevents", &[Hex, Int, Int, Ptr, Ptr, Ptr]),
    sc(334, "rseq", &[Ptr, Uint, Hex, Hex]),
    // 335..=423 are unused on x86_64 (387..=423 are kept free to line up with 32-bit tables).
    sc(424, "pidfd_send_signal", &[Fd, Signal, Ptr, Hex]),
    sc(425, "io_uring_setup", &[Uint, Ptr]),
    sc(426, "io_uring_enter", &[Fd, Uint, Uint, Hex, Ptr, Uint]),
    sc(427, "io_uring_register", &[Fd, Uint, Ptr, Uint]),
    sc(428, "open_tree", &[Fd, Path, Hex]),
    sc(429, "move_mount", &[Fd, Path, Fd, Path, Hex]),
    sc(430, "fsopen", &[Str, Hex]),
    sc(431, "fsconfig", &[Fd, Uint, Str, Ptr, Int]),
    sc(432, "fsmount", &[Fd, Hex, Hex]),
    sc(433, "fspick", &[Fd, Path, Hex]),
    sc(434, "pidfd_open", &[Pid, Hex]),
    sc(435, "clone3", &[Ptr, Uint]),
    sc(436, "close_range", &[Uint, Uint, Hex]),
    sc(437, "openat2", &[Fd, Path, Ptr, Uint]),
    sc(438, "pidfd_getfd", &[Fd, Int, Hex]),
    sc(439, "faccessat2", &[Fd, Path, Hex, Hex]),
    sc(440, "process_madvise", &[Fd, Ptr, Uint, Int, Hex]),
    sc(441, "epoll_pwait2", &[Fd, Ptr, Int, Ptr, Ptr, Uint]),
    sc(442, "mount_setattr", &[Fd, Path, Hex, Ptr, Uint]),
    sc(443, "quotactl_fd", &[Fd, Hex, Int, Ptr]),
    sc(444, "landlock_create_ruleset", &[Ptr, Uint, Hex]),
    sc(445, "landlock_add_rule", &[Fd, Int, Ptr, Hex]),
    sc(446, "landlock_restrict_self", &[Fd, Hex]),
    sc(447, "memfd_secret", &[Hex]),
    sc(448, "process_mrelease", &[Fd, Hex]),
    sc(449, "futex_waitv", &[Ptr, Uint, Hex, Ptr, Clock]),
    sc(450, "set_mempolicy_home_node", &[Ptr, Uint, Uint, Hex]),
    sc(451, "cachestat", &[Fd, Ptr, Ptr, Hex]),
    sc(452, "fchmodat2", &[Fd, Path, Mode, Hex]),
    sc(453, "map_shadow_stack", &[Ptr, Uint, Hex]),
    sc(454, "futex_wake", &[Ptr, Hex, Int, Hex]),
    sc(455, "futex_wait", &[Ptr, Hex, Hex, Hex, Ptr, Clock]),
    sc(456, "futex_requeue", &[Ptr, Hex, Int, Int]),
    sc(457, "statmount", &[Ptr, Ptr, Uint, Hex]),
    sc(458, "listmount", &[Ptr, Ptr, Uint, Hex]),
    sc(459, "lsm_get_self_attr", &[Uint, Ptr, Ptr, Hex]),
    sc(460, "lsm_set_self_attr", &[Uint, Ptr, Uint, Hex]),
    sc(461, "lsm_list_modules", &[Ptr, Ptr, Hex]),
    sc(462, "mseal", &[Ptr, Uint, Hex]),
    sc(463, "setxattrat", &[Fd, Path, Hex, Str, Ptr, Uint]),
    sc(464, "getxattrat", &[Fd, Path, Hex, Str, Ptr, Uint]),
    sc(465, "listxattrat", &[Fd, Path, Hex, OutBuf, Uint]),
    sc(466, "removexattrat", &[Fd, Path, Hex, Str]),
    sc(467, "open_tree_attr", &[Fd, Path, Hex, Ptr, Uint]),
    sc(468, "file_getattr", &[Fd, Path, Ptr, Uint, Hex]),
    sc(469, "file_setattr", &[Fd, Path, Ptr, Uint, Hex]),
    sc(470, "listns", &[Ptr, Ptr, Uint, Hex]),
    sc(471, "rseq_slice_yield", &[]),
];

/// Every x86_64 syscall, sorted by number.
pub static SYSCALLS: &[SyscallInfo] = TABLE;

/// One more than the largest number in [`SYSCALLS`] (size for dense dispatch arrays).
pub const TABLE_SIZE: usize = TABLE[TABLE.len() - 1].nr as usize + 1;

/// Marks a number with no syscall in [`INDEX`].
const NO_ENTRY: u16 = u16::MAX;

/// `INDEX[nr]` is the position of syscall `nr` in [`TABLE`], or [`NO_ENTRY`].
static INDEX: [u16; TABLE_SIZE] = build_index();

/// Builds [`INDEX`] at compile time; a table that is not strictly sorted fails the build.
const fn build_index() -> [u16; TABLE_SIZE] {
    assert!(
        TABLE.len() < NO_ENTRY as usize,
        "table too long for u16 indices"
    );
    let mut index = [NO_ENTRY; TABLE_SIZE];
    let mut i = 0;
    while i < TABLE.len() {
        assert!(
            i == 0 || TABLE[i - 1].nr < TABLE[i].nr,
            "TABLE must be strictly sorted by number"
        );
        #[allow(clippy::cast_possible_truncation)] // i < TABLE.len() < u16::MAX, asserted above
        let position = i as u16;
        index[TABLE[i].nr as usize] = position;
        i += 1;
    }
    index
}

/// The syscall with number `nr`, in constant time.
pub fn by_nr(nr: u64) -> Option<&'static SyscallInfo> {
    let slot = *INDEX.get(usize::try_from(nr).ok()?)?;
    (slot != NO_ENTRY).then(|| &SYSCALLS[usize::from(slot)])
}

/// The syscall named `name` (as in `syscall_64.tbl`, e.g. `"newfstatat"`, `"_sysctl"`).
///
/// A linear scan: this serves the CLI and tests, not the dispatch path.
pub fn by_name(name: &str) -> Option<&'static SyscallInfo> {
    SYSCALLS.iter().find(|info| info.name == name)
}

/// Syscall numbers by name, so the sentry can name numbers without libc: each constant is the
/// table name in upper case (`nr::NEWFSTATAT`, `nr::EXIT_GROUP`, `nr::_SYSCTL`).
pub mod nr {
    pub const READ: u32 = 0;
    pub const WRITE: u32 = 1;
    pub const OPEN: u32 = 2;
    pub const CLOSE: u32 = 3;
    pub const STAT: u32 = 4;
    pub const FSTAT: u32 = 5;
    pub const LSTAT: u32 = 6;
    pub const POLL: u32 = 7;
    pub const LSEEK: u32 = 8;
    pub const MMAP: u32 = 9;
    pub const MPROTECT: u32 = 10;
    pub const MUNMAP: u32 = 11;
    pub const BRK: u32 = 12;
    pub const RT_SIGACTION: u32 = 13;
    pub const RT_SIGPROCMASK: u32 = 14;
    pub const RT_SIGRETURN: u32 = 15;
    pub const IOCTL: u32 = 16;
    pub const PREAD64: u32 = 17;
    pub const PWRITE64: u32 = 18;
    pub const READV: u32 = 19;
    pub const WRITEV: u32 = 20;
    pub const ACCESS: u32 = 21;
    pub const PIPE: u32 = 22;
    pub const SELECT: u32 = 23;
    pub const SCHED_YIELD: u32 = 24;
    pub const MREMAP: u32 = 25;
    pub const MSYNC: u32 = 26;
    pub const MINCORE: u32 = 27;
    pub const MADVISE: u32 = 28;
    pub const SHMGET: u32 = 29;
    pub const SHMAT: u32 = 30;
    pub const SHMCTL: u32 = 31;
    pub const DUP: u32 = 32;
    pub const DUP2: u32 = 33;
    pub const PAUSE: u32 = 34;
    pub const NANOSLEEP: u32 = 35;
    pub const GETITIMER: u32 = 36;
    pub const ALARM: u32 = 37;
    pub const SETITIMER: u32 = 38;
    pub const GETPID: u32 = 39;
    pub const SENDFILE: u32 = 40;
    pub const SOCKET: u32 = 41;
    pub const CONNECT: u32 = 42;
    pub const ACCEPT: u32 = 43;
    pub const SENDTO: u32 = 44;
    pub const RECVFROM: u32 = 45;
    pub const SENDMSG: u32 = 46;
    pub const RECVMSG: u32 = 47;
    pub const SHUTDOWN: u32 = 48;
    pub const BIND: u32 = 49;
    pub const LISTEN: u32 = 50;
    pub const GETSOCKNAME: u32 = 51;
    pub const GETPEERNAME: u32 = 52;
    pub const SOCKETPAIR: u32 = 53;
    pub const SETSOCKOPT: u32 = 54;
    pub const GETSOCKOPT: u32 = 55;
    pub const CLONE: u32 = 56;
    pub const FORK: u32 = 57;
    pub const VFORK: u32 = 58;
    pub const EXECVE: u32 = 59;
    pub const EXIT: u32 = 60;
    pub const WAIT4: u32 = 61;
    pub const KILL: u32 = 62;
    pub const UNAME: u32 = 63;
    pub const SEMGET: u32 = 64;
    pub const SEMOP: u32 = 65;
    pub const SEMCTL: u32 = 66;
    pub const SHMDT: u32 = 67;
    pub const MSGGET: u32 = 68;
    pub const MSGSND: u32 = 69;
    pub const MSGRCV: u32 = 70;
    pub const MSGCTL: u32 = 71;
    pub const FCNTL: u32 = 72;
    pub const FLOCK: u32 = 73;
    pub const FSYNC: u32 = 74;
    pub const FDATASYNC: u32 = 75;
    pub const TRUNCATE: u32 = 76;
    pub const FTRUNCATE: u32 = 77;
    pub const GETDENTS: u32 = 78;
    pub const GETCWD: u32 = 79;
    pub const CHDIR: u32 = 80;
    pub const FCHDIR: u32 = 81;
    pub const RENAME: u32 = 82;
    pub const MKDIR: u32 = 83;
    pub const RMDIR: u32 = 84;
    pub const CREAT: u32 = 85;
    pub const LINK: u32 = 86;
    pub const UNLINK: u32 = 87;
    pub const SYMLINK: u32 = 88;
    pub const READLINK: u32 = 89;
    pub const CHMOD: u32 = 90;
    pub const FCHMOD: u32 = 91;
    pub const CHOWN: u32 = 92;
    pub const FCHOWN: u32 = 93;
    pub const LCHOWN: u32 = 94;
    pub const UMASK: u32 = 95;
    pub const GETTIMEOFDAY: u32 = 96;
    pub const GETRLIMIT: u32 = 97;
    pub const GETRUSAGE: u32 = 98;
    pub const SYSINFO: u32 = 99;
    pub const TIMES: u32 = 100;
    pub const PTRACE: u32 = 101;
    pub const GETUID: u32 = 102;
    pub const SYSLOG: u32 = 103;
    pub const GETGID: u32 = 104;
    pub const SETUID: u32 = 105;
    pub const SETGID: u32 = 106;
    pub const GETEUID: u32 = 107;
    pub const GETEGID: u32 = 108;
    pub const SETPGID: u32 = 109;
    pub const GETPPID: u32 = 110;
    pub const GETPGRP: u32 = 111;
    pub const SETSID: u32 = 112;
    pub const SETREUID: u32 = 113;
    pub const SETREGID: u32 = 114;
    pub const GETGROUPS: u32 = 115;
    pub const SETGROUPS: u32 = 116;
    pub const SETRESUID: u32 = 117;
    pub const GETRESUID: u32 = 118;
    pub const SETRESGID: u32 = 119;
    pub const GETRESGID: u32 = 120;
    pub const GETPGID: u32 = 121;
    pub const SETFSUID: u32 = 122;
    pub const SETFSGID: u32 = 123;
    pub const GETSID: u32 = 124;
    pub const CAPGET: u32 = 125;
    pub const CAPSET: u32 = 126;
    pub const RT_SIGPENDING: u32 = 127;
    pub const RT_SIGTIMEDWAIT: u32 = 128;
    pub const RT_SIGQUEUEINFO: u32 = 129;
    pub const RT_SIGSUSPEND: u32 = 130;
    pub const SIGALTSTACK: u32 = 131;
    pub const UTIME: u32 = 132;
    pub const MKNOD: u32 = 133;
    pub const USELIB: u32 = 134;
    pub const PERSONALITY: u32 = 135;
    pub const USTAT: u32 = 136;
    pub const STATFS: u32 = 137;
    pub const FSTATFS: u32 = 138;
    pub const SYSFS: u32 = 139;
    pub const GETPRIORITY: u32 = 140;
    pub const SETPRIORITY: u32 = 141;
    pub const SCHED_SETPARAM: u32 = 142;
    pub const SCHED_GETPARAM: u32 = 143;
    pub const SCHED_SETSCHEDULER: u32 = 144;
    pub const SCHED_GETSCHEDULER: u32 = 145;
    pub const SCHED_GET_PRIORITY_MAX: u32 = 146;
    pub const SCHED_GET_PRIORITY_MIN: u32 = 147;
    pub const SCHED_RR_GET_INTERVAL: u32 = 148;
    pub const MLOCK: u32 = 149;
    pub const MUNLOCK: u32 = 150;
    pub const MLOCKALL: u32 = 151;
    pub const MUNLOCKALL: u32 = 152;
    pub const VHANGUP: u32 = 153;
    pub const MODIFY_LDT: u32 = 154;
    pub const PIVOT_ROOT: u32 = 155;
    pub const _SYSCTL: u32 = 156;
    pub const PRCTL: u32 = 157;
    pub const ARCH_PRCTL: u32 = 158;
    pub const ADJTIMEX: u32 = 159;
    pub const SETRLIMIT: u32 = 160;
    pub const CHROOT: u32 = 161;
    pub const SYNC: u32 = 162;
    pub const ACCT: u32 = 163;
    pub const SETTIMEOFDAY: u32 = 164;
    pub const MOUNT: u32 = 165;
    pub const UMOUNT2: u32 = 166;
    pub const SWAPON: u32 = 167;
    pub const SWAPOFF: u32 = 168;
    pub const REBOOT: u32 = 169;
    pub const SETHOSTNAME: u32 = 170;
    pub const SETDOMAINNAME: u32 = 171;
    pub const IOPL: u32 = 172;
    pub const IOPERM: u32 = 173;
    pub const CREATE_MODULE: u32 = 174;
    pub const INIT_MODULE: u32 = 175;
    pub const DELETE_MODULE: u32 = 176;
    pub const GET_KERNEL_SYMS: u32 = 177;
    pub const QUERY_MODULE: u32 = 178;
    pub const QUOTACTL: u32 = 179;
    pub const NFSSERVCTL: u32 = 180;
    pub const GETPMSG: u32 = 181;
    pub const PUTPMSG: u32 = 182;
    pub const AFS_SYSCALL: u32 = 183;
    pub const TUXCALL: u32 = 184;
    pub const SECURITY: u32 = 185;
    pub const GETTID: u32 = 186;
    pub const READAHEAD: u32 = 187;
    pub const SETXATTR: u32 = 188;
    pub const LSETXATTR: u32 = 189;
    pub const FSETXATTR: u32 = 190;
    pub const GETXATTR: u32 = 191;
    pub const LGETXATTR: u32 = 192;
    pub const FGETXATTR: u32 = 193;
    pub const LISTXATTR: u32 = 194;
    pub const LLISTXATTR: u32 = 195;
    pub const FLISTXATTR: u32 = 196;
    pub const REMOVEXATTR: u32 = 197;
    pub const LREMOVEXATTR: u32 = 198;
    pub const FREMOVEXATTR: u32 = 199;
    pub const TKILL: u32 = 200;
    pub const TIME: u32 = 201;
    pub const FUTEX: u32 = 202;
    pub const SCHED_SETAFFINITY: u32 = 203;
    pub const SCHED_GETAFFINITY: u32 = 204;
    pub const SET_THREAD_AREA: u32 = 205;
    pub const IO_SETUP: u32 = 206;
    pub const IO_DESTROY: u32 = 207;
    pub const IO_GETEVENTS: u32 = 208;
    pub const IO_SUBMIT: u32 = 209;
    pub const IO_CANCEL: u32 = 210;
    pub const GET_THREAD_AREA: u32 = 211;
    pub const LOOKUP_DCOOKIE: u32 = 212;
    pub const EPOLL_CREATE: u32 = 213;
    pub const EPOLL_CTL_OLD: u32 = 214;
    pub const EPOLL_WAIT_OLD: u32 = 215;
    pub const REMAP_FILE_PAGES: u32 = 216;
    pub const GETDENTS64: u32 = 217;
    pub const SET_TID_ADDRESS: u32 = 218;
    pub const RESTART_SYSCALL: u32 = 219;
    pub const SEMTIMEDOP: u32 = 220;
    pub const FADVISE64: u32 = 221;
    pub const TIMER_CREATE: u32 = 222;
    pub const TIMER_SETTIME: u32 = 223;
    pub const TIMER_GETTIME: u32 = 224;
    pub const TIMER_GETOVERRUN: u32 = 225;
    pub const TIMER_DELETE: u32 = 226;
    pub const CLOCK_SETTIME: u32 = 227;
    pub const CLOCK_GETTIME: u32 = 228;
    pub const CLOCK_GETRES: u32 = 229;
    pub const CLOCK_NANOSLEEP: u32 = 230;
    pub const EXIT_GROUP: u32 = 231;
    pub const EPOLL_WAIT: u32 = 232;
    pub const EPOLL_CTL: u32 = 233;
    pub const TGKILL: u32 = 234;
    pub const UTIMES: u32 = 235;
    pub const VSERVER: u32 = 236;
    pub const MBIND: u32 = 237;
    pub const SET_MEMPOLICY: u32 = 238;
    pub const GET_MEMPOLICY: u32 = 239;
    pub const MQ_OPEN: u32 = 240;
    pub const MQ_UNLINK: u32 = 241;
    pub const MQ_TIMEDSEND: u32 = 242;
    pub const MQ_TIMEDRECEIVE: u32 = 243;
    pub const MQ_NOTIFY: u32 = 244;
    pub const MQ_GETSETATTR: u32 = 245;
    pub const KEXEC_LOAD: u32 = 246;
    pub const WAITID: u32 = 247;
    pub const ADD_KEY: u32 = 248;
    pub const REQUEST_KEY: u32 = 249;
    pub const KEYCTL: u32 = 250;
    pub const IOPRIO_SET: u32 = 251;
    pub const IOPRIO_GET: u32 = 252;
    pub const INOTIFY_INIT: u32 = 253;
    pub const INOTIFY_ADD_WATCH: u32 = 254;
    pub const INOTIFY_RM_WATCH: u32 = 255;
    pub const MIGRATE_PAGES: u32 = 256;
    pub const OPENAT: u32 = 257;
    pub const MKDIRAT: u32 = 258;
    pub const MKNODAT: u32 = 259;
    pub const FCHOWNAT: u32 = 260;
    pub const FUTIMESAT: u32 = 261;
    pub const NEWFSTATAT: u32 = 262;
    pub const UNLINKAT: u32 = 263;
    pub const RENAMEAT: u32 = 264;
    pub const LINKAT: u32 = 265;
    pub const SYMLINKAT: u32 = 266;
    pub const READLINKAT: u32 = 267;
    pub const FCHMODAT: u32 = 268;
    pub const FACCESSAT: u32 = 269;
    pub const PSELECT6: u32 = 270;
    pub const PPOLL: u32 = 271;
    pub const UNSHARE: u32 = 272;
    pub const SET_ROBUST_LIST: u32 = 273;
    pub const GET_ROBUST_LIST: u32 = 274;
    pub const SPLICE: u32 = 275;
    pub const TEE: u32 = 276;
    pub const SYNC_FILE_RANGE: u32 = 277;
    pub const VMSPLICE: u32 = 278;
    pub const MOVE_PAGES: u32 = 279;
    pub const UTIMENSAT: u32 = 280;
    pub const EPOLL_PWAIT: u32 = 281;
    pub const SIGNALFD: u32 = 282;
    pub const TIMERFD_CREATE: u32 = 283;
    pub const EVENTFD: u32 = 284;
    pub const FALLOCATE: u32 = 285;
    pub const TIMERFD_SETTIME: u32 = 286;
    pub const TIMERFD_GETTIME: u32 = 287;
    pub const ACCEPT4: u32 = 288;
    pub const SIGNALFD4: u32 = 289;
    pub const EVENTFD2: u32 = 290;
    pub const EPOLL_CREATE1: u32 = 291;
    pub const DUP3: u32 = 292;
    pub const PIPE2: u32 = 293;
    pub const INOTIFY_INIT1: u32 = 294;
    pub const PREADV: u32 = 295;
    pub const PWRITEV: u32 = 296;
    pub const RT_TGSIGQUEUEINFO: u32 = 297;
    pub const PERF_EVENT_OPEN: u32 = 298;
    pub const RECVMMSG: u32 = 299;
    pub const FANOTIFY_INIT: u32 = 300;
    pub const FANOTIFY_MARK: u32 = 301;
    pub const PRLIMIT64: u32 = 302;
    pub const NAME_TO_HANDLE_AT: u32 = 303;
    pub const OPEN_BY_HANDLE_AT: u32 = 304;
    pub const CLOCK_ADJTIME: u32 = 305;
    pub const SYNCFS: u32 = 306;
    pub const SENDMMSG: u32 = 307;
    pub const SETNS: u32 = 308;
    pub const GETCPU: u32 = 309;
    pub const PROCESS_VM_READV: u32 = 310;
    pub const PROCESS_VM_WRITEV: u32 = 311;
    pub const KCMP: u32 = 312;
    pub const FINIT_MODULE: u32 = 313;
    pub const SCHED_SETATTR: u32 = 314;
    pub const SCHED_GETATTR: u32 = 315;
    pub const RENAMEAT2: u32 = 316;
    pub const SECCOMP: u32 = 317;
    pub const GETRANDOM: u32 = 318;
    pub const MEMFD_CREATE: u32 = 319;
    pub const KEXEC_FILE_LOAD: u32 = 320;
    pub const BPF: u32 = 321;
    pub const EXECVEAT: u32 = 322;
    pub const USERFAULTFD: u32 = 323;
    pub const MEMBARRIER: u32 = 324;
    pub const MLOCK2: u32 = 325;
    pub const COPY_FILE_RANGE: u32 = 326;
    pub const PREADV2: u32 = 327;
    pub const PWRITEV2: u32 = 328;
    pub const PKEY_MPROTECT: u32 = 329;
    pub const PKEY_ALLOC: u32 = 330;
    pub const PKEY_FREE: u32 = 331;
    pub const STATX: u32 = 332;
    pub const IO_PGETEVENTS: u32 = 333;
    pub const RSEQ: u32 = 334;
    pub const PIDFD_SEND_SIGNAL: u32 = 424;
    pub const IO_URING_SETUP: u32 = 425;
    pub const IO_URING_ENTER: u32 = 426;
    pub const IO_URING_REGISTER: u32 = 427;
    pub const OPEN_TREE: u32 = 428;
    pub const MOVE_MOUNT: u32 = 429;
    pub const FSOPEN: u32 = 430;
    pub const FSCONFIG: u32 = 431;
    pub const FSMOUNT: u32 = 432;
    pub const FSPICK: u32 = 433;
    pub const PIDFD_OPEN: u32 = 434;
    pub const CLONE3: u32 = 435;
    pub const CLOSE_RANGE: u32 = 436;
    pub const OPENAT2: u32 = 437;
    pub const PIDFD_GETFD: u32 = 438;
    pub const FACCESSAT2: u32 = 439;
    pub const PROCESS_MADVISE: u32 = 440;
    pub const EPOLL_PWAIT2: u32 = 441;
    pub const MOUNT_SETATTR: u32 = 442;
    pub const QUOTACTL_FD: u32 = 443;
    pub const LANDLOCK_CREATE_RULESET: u32 = 444;
    pub const LANDLOCK_ADD_RULE: u32 = 445;
    pub const LANDLOCK_RESTRICT_SELF: u32 = 446;
    pub const MEMFD_SECRET: u32 = 447;
    pub const PROCESS_MRELEASE: u32 = 448;
    pub const FUTEX_WAITV: u32 = 449;
    pub const SET_MEMPOLICY_HOME_NODE: u32 = 450;
    pub const CACHESTAT: u32 = 451;
    pub const FCHMODAT2: u32 = 452;
    pub const MAP_SHADOW_STACK: u32 = 453;
    pub const FUTEX_WAKE: u32 = 454;
    pub const FUTEX_WAIT: u32 = 455;
    pub const FUTEX_REQUEUE: u32 = 456;
    pub const STATMOUNT: u32 = 457;
    pub const LISTMOUNT: u32 = 458;
    pub const LSM_GET_SELF_ATTR: u32 = 459;
    pub const LSM_SET_SELF_ATTR: u32 = 460;
    pub const LSM_LIST_MODULES: u32 = 461;
    pub const MSEAL: u32 = 462;
    pub const SETXATTRAT: u32 = 463;
    pub const GETXATTRAT: u32 = 464;
    pub const LISTXATTRAT: u32 = 465;
    pub const REMOVEXATTRAT: u32 = 466;
    pub const OPEN_TREE_ATTR: u32 = 467;
    pub const FILE_GETATTR: u32 = 468;
    pub const FILE_SETATTR: u32 = 469;
    pub const LISTNS: u32 = 470;
    pub const RSEQ_SLICE_YIELD: u32 = 471;
}

/// The name of a positive errno value: `"ENOENT"` for 2, `"ERESTARTSYS"` for 512.
///
/// 1..=133 is the generic numbering x86_64 uses (41 and 58 are unassigned; aliases such as
/// `EWOULDBLOCK` give the primary name). 512..=531 are the kernel-internal codes of
/// `include/linux/errno.h` (520 is unassigned), which ptrace can see at syscall exit.
pub fn errno_name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        1 => "EPERM",
        2 => "ENOENT",
        3 => "ESRCH",
        4 => "EINTR",
        5 => "EIO",
        6 => "ENXIO",
        7 => "E2BIG",
        8 => "ENOEXEC",
        9 => "EBADF",
        10 => "ECHILD",
        11 => "EAGAIN",
        12 => "ENOMEM",
        13 => "EACCES",
        14 => "EFAULT",
        15 => "ENOTBLK",
        16 => "EBUSY",
        17 => "EEXIST",
        18 => "EXDEV",
        19 => "ENODEV",
        20 => "ENOTDIR",
        21 => "EISDIR",
        22 => "EINVAL",
        23 => "ENFILE",
        24 => "EMFILE",
        25 => "ENOTTY",
        26 => "ETXTBSY",
        27 => "EFBIG",
        28 => "ENOSPC",
        29 => "ESPIPE",
        30 => "EROFS",
        31 => "EMLINK",
        32 => "EPIPE",
        33 => "EDOM",
        34 => "ERANGE",
        35 => "EDEADLK",
        36 => "ENAMETOOLONG",
        37 => "ENOLCK",
        38 => "ENOSYS",
        39 => "ENOTEMPTY",
        40 => "ELOOP",
        42 => "ENOMSG",
        43 => "EIDRM",
        44 => "ECHRNG",
        45 => "EL2NSYNC",
        46 => "EL3HLT",
        47 => "EL3RST",
        48 => "ELNRNG",
        49 => "EUNATCH",
        50 => "ENOCSI",
        51 => "EL2HLT",
        52 => "EBADE",
        53 => "EBADR",
        54 => "EXFULL",
        55 => "ENOANO",
        56 => "EBADRQC",
        57 => "EBADSLT",
        59 => "EBFONT",
        60 => "ENOSTR",
        61 => "ENODATA",
        62 => "ETIME",
        63 => "ENOSR",
        64 => "ENONET",
        65 => "ENOPKG",
        66 => "EREMOTE",
        67 => "ENOLINK",
        68 => "EADV",
        69 => "ESRMNT",
        70 => "ECOMM",
        71 => "EPROTO",
        72 => "EMULTIHOP",
        73 => "EDOTDOT",
        74 => "EBADMSG",
        75 => "EOVERFLOW",
        76 => "ENOTUNIQ",
        77 => "EBADFD",
        78 => "EREMCHG",
        79 => "ELIBACC",
        80 => "ELIBBAD",
        81 => "ELIBSCN",
        82 => "ELIBMAX",
        83 => "ELIBEXEC",
        84 => "EILSEQ",
        85 => "ERESTART",
        86 => "ESTRPIPE",
        87 => "EUSERS",
        88 => "ENOTSOCK",
        89 => "EDESTADDRREQ",
        90 => "EMSGSIZE",
        91 => "EPROTOTYPE",
        92 => "ENOPROTOOPT",
        93 => "EPROTONOSUPPORT",
        94 => "ESOCKTNOSUPPORT",
        95 => "EOPNOTSUPP",
        96 => "EPFNOSUPPORT",
        97 => "EAFNOSUPPORT",
        98 => "EADDRINUSE",
        99 => "EADDRNOTAVAIL",
        100 => "ENETDOWN",
        101 => "ENETUNREACH",
        102 => "ENETRESET",
        103 => "ECONNABORTED",
        104 => "ECONNRESET",
        105 => "ENOBUFS",
        106 => "EISCONN",
        107 => "ENOTCONN",
        108 => "ESHUTDOWN",
        109 => "ETOOMANYREFS",
        110 => "ETIMEDOUT",
        111 => "ECONNREFUSED",
        112 => "EHOSTDOWN",
        113 => "EHOSTUNREACH",
        114 => "EALREADY",
        115 => "EINPROGRESS",
        116 => "ESTALE",
        117 => "EUCLEAN",
        118 => "ENOTNAM",
        119 => "ENAVAIL",
        120 => "EISNAM",
        121 => "EREMOTEIO",
        122 => "EDQUOT",
        123 => "ENOMEDIUM",
        124 => "EMEDIUMTYPE",
        125 => "ECANCELED",
        126 => "ENOKEY",
        127 => "EKEYEXPIRED",
        128 => "EKEYREVOKED",
        129 => "EKEYREJECTED",
        130 => "EOWNERDEAD",
        131 => "ENOTRECOVERABLE",
        132 => "ERFKILL",
        133 => "EHWPOISON",
        512 => "ERESTARTSYS",
        513 => "ERESTARTNOINTR",
        514 => "ERESTARTNOHAND",
        515 => "ENOIOCTLCMD",
        516 => "ERESTART_RESTARTBLOCK",
        517 => "EPROBE_DEFER",
        518 => "EOPENSTALE",
        519 => "ENOPARAM",
        521 => "EBADHANDLE",
        522 => "ENOTSYNC",
        523 => "EBADCOOKIE",
        524 => "ENOTSUPP",
        525 => "ETOOSMALL",
        526 => "ESERVERFAULT",
        527 => "EBADTYPE",
        528 => "EJUKEBOX",
        529 => "EIOCBQUEUED",
        530 => "ERECALLCONFLICT",
        531 => "ENOGRACE",
        _ => return None,
    })
}

/// The name of a standard signal 1..=31; `None` for 0 and for real-time signals (32..=64).
pub fn signal_name(sig: i32) -> Option<&'static str> {
    Some(match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        16 => "SIGSTKFLT",
        17 => "SIGCHLD",
        18 => "SIGCONT",
        19 => "SIGSTOP",
        20 => "SIGTSTP",
        21 => "SIGTTIN",
        22 => "SIGTTOU",
        23 => "SIGURG",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        26 => "SIGVTALRM",
        27 => "SIGPROF",
        28 => "SIGWINCH",
        29 => "SIGIO",
        30 => "SIGPWR",
        31 => "SIGSYS",
        _ => return None,
    })
}

/// `O_*` bits other than the access mode, in the order they are printed. A multi-bit entry
/// (`O_SYNC` = `__O_SYNC|O_DSYNC`, `O_TMPFILE` = `__O_TMPFILE|O_DIRECTORY`) comes before its parts.
const OPEN_FLAGS: &[(u64, &str)] = &[
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o4010000, "O_SYNC"),
    (0o10000, "O_DSYNC"),
    (0o20000, "O_ASYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o20200000, "O_TMPFILE"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (0o4000000, "__O_SYNC"),
    (0o10000000, "O_PATH"),
    (0o20000000, "__O_TMPFILE"),
];

const PROT_FLAGS: &[(u64, &str)] = &[
    (0x1, "PROT_READ"),
    (0x2, "PROT_WRITE"),
    (0x4, "PROT_EXEC"),
    (0x8, "PROT_SEM"),
    (0x0100_0000, "PROT_GROWSDOWN"),
    (0x0200_0000, "PROT_GROWSUP"),
];

/// The sharing type in the low four bits of mmap flags.
const MAP_TYPE: u64 = 0xf;
const MAP_TYPES: &[(u64, &str)] = &[
    (0x1, "MAP_SHARED"),
    (0x2, "MAP_PRIVATE"),
    (0x3, "MAP_SHARED_VALIDATE"),
    (0x8, "MAP_DROPPABLE"),
];
const MAP_HUGETLB: u64 = 0x40000;
/// With `MAP_HUGETLB`, bits 26..32 hold log2 of the huge page size (`MAP_HUGE_SHIFT`).
const MAP_HUGE_MASK: u64 = 0x3f << 26;
const MAP_FLAGS: &[(u64, &str)] = &[
    (0x10, "MAP_FIXED"),
    (0x20, "MAP_ANONYMOUS"),
    (0x40, "MAP_32BIT"),
    (0x100, "MAP_GROWSDOWN"),
    (0x800, "MAP_DENYWRITE"),
    (0x1000, "MAP_EXECUTABLE"),
    (0x2000, "MAP_LOCKED"),
    (0x4000, "MAP_NORESERVE"),
    (0x8000, "MAP_POPULATE"),
    (0x10000, "MAP_NONBLOCK"),
    (0x20000, "MAP_STACK"),
    (MAP_HUGETLB, "MAP_HUGETLB"),
    (0x80000, "MAP_SYNC"),
    (0x0010_0000, "MAP_FIXED_NOREPLACE"),
    (0x0400_0000, "MAP_UNINITIALIZED"),
];

/// Appends `part` to an `A|B|C` list.
fn push_part(out: &mut String, part: &str) {
    if !out.is_empty() {
        out.push('|');
    }
    out.push_str(part);
}

/// Appends the names of the `names` entries fully set in `*bits`, clearing them from `*bits`.
fn push_bits(out: &mut String, bits: &mut u64, names: &[(u64, &str)]) {
    for &(mask, name) in names {
        if *bits & mask == mask {
            push_part(out, name);
            *bits &= !mask;
        }
    }
}

/// Appends bits no name covered, in hex.
fn push_unknown(out: &mut String, bits: u64) {
    if bits != 0 {
        push_part(out, &format!("{bits:#x}"));
    }
}

/// `O_*` flags as `"O_RDONLY|O_CLOEXEC"`; unknown bits are appended in hex.
pub fn open_flags_string(flags: u64) -> String {
    let mut out = String::from(match flags & 3 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    });
    let mut bits = flags & !3;
    push_bits(&mut out, &mut bits, OPEN_FLAGS);
    push_unknown(&mut out, bits);
    out
}

/// `PROT_*` flags as `"PROT_READ|PROT_WRITE"`, or `"PROT_NONE"`.
pub fn mmap_prot_string(prot: u64) -> String {
    if prot == 0 {
        return String::from("PROT_NONE");
    }
    let mut out = String::new();
    let mut bits = prot;
    push_bits(&mut out, &mut bits, PROT_FLAGS);
    push_unknown(&mut out, bits);
    out
}

/// `MAP_*` flags as `"MAP_PRIVATE|MAP_ANONYMOUS"`; `"0"` for none.
pub fn mmap_flags_string(flags: u64) -> String {
    let mut out = String::new();
    let kind = flags & MAP_TYPE;
    match MAP_TYPES.iter().find(|&&(value, _)| value == kind) {
        Some(&(_, name)) => push_part(&mut out, name),
        None => push_unknown(&mut out, kind),
    }
    let mut bits = flags & !MAP_TYPE;
    let huge_shift = if bits & MAP_HUGETLB != 0 {
        (bits & MAP_HUGE_MASK) >> 26
    } else {
        0
    };
    if huge_shift != 0 {
        bits &= !MAP_HUGE_MASK;
    }
    push_bits(&mut out, &mut bits, MAP_FLAGS);
    if huge_shift != 0 {
        let (size, unit) = match huge_shift {
            30.. => (1u64 << (huge_shift - 30), "GB"),
            20.. => (1 << (huge_shift - 20), "MB"),
            10.. => (1 << (huge_shift - 10), "KB"),
            _ => (1 << huge_shift, "B"),
        };
        push_part(&mut out, &format!("MAP_HUGE_{size}{unit}"));
    }
    push_unknown(&mut out, bits);
    if out.is_empty() {
        out.push('0');
    }
    out
}

#[cfg(test)]
mod tests;
