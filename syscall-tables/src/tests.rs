//! Checks the table against the `libc` crate and itself, and the formatters on known values.

use super::*;

/// Every `SYS_*` the `libc` crate (0.2.191) defines for x86_64; it lacks some of the newest calls.
const LIBC_SYSCALLS: &[(i64, &str)] = &[
    (libc::SYS_read, "read"),
    (libc::SYS_write, "write"),
    (libc::SYS_open, "open"),
    (libc::SYS_close, "close"),
    (libc::SYS_stat, "stat"),
    (libc::SYS_fstat, "fstat"),
    (libc::SYS_lstat, "lstat"),
    (libc::SYS_poll, "poll"),
    (libc::SYS_lseek, "lseek"),
    (libc::SYS_mmap, "mmap"),
    (libc::SYS_mprotect, "mprotect"),
    (libc::SYS_munmap, "munmap"),
    (libc::SYS_brk, "brk"),
    (libc::SYS_rt_sigaction, "rt_sigaction"),
    (libc::SYS_rt_sigprocmask, "rt_sigprocmask"),
    (libc::SYS_rt_sigreturn, "rt_sigreturn"),
    (libc::SYS_ioctl, "ioctl"),
    (libc::SYS_pread64, "pread64"),
    (libc::SYS_pwrite64, "pwrite64"),
    (libc::SYS_readv, "readv"),
    (libc::SYS_writev, "writev"),
    (libc::SYS_access, "access"),
    (libc::SYS_pipe, "pipe"),
    (libc::SYS_select, "select"),
    (libc::SYS_sched_yield, "sched_yield"),
    (libc::SYS_mremap, "mremap"),
    (libc::SYS_msync, "msync"),
    (libc::SYS_mincore, "mincore"),
    (libc::SYS_madvise, "madvise"),
    (libc::SYS_shmget, "shmget"),
    (libc::SYS_shmat, "shmat"),
    (libc::SYS_shmctl, "shmctl"),
    (libc::SYS_dup, "dup"),
    (libc::SYS_dup2, "dup2"),
    (libc::SYS_pause, "pause"),
    (libc::SYS_nanosleep, "nanosleep"),
    (libc::SYS_getitimer, "getitimer"),
    (libc::SYS_alarm, "alarm"),
    (libc::SYS_setitimer, "setitimer"),
    (libc::SYS_getpid, "getpid"),
    (libc::SYS_sendfile, "sendfile"),
    (libc::SYS_socket, "socket"),
    (libc::SYS_connect, "connect"),
    (libc::SYS_accept, "accept"),
    (libc::SYS_sendto, "sendto"),
    (libc::SYS_recvfrom, "recvfrom"),
    (libc::SYS_sendmsg, "sendmsg"),
    (libc::SYS_recvmsg, "recvmsg"),
    (libc::SYS_shutdown, "shutdown"),
    (libc::SYS_bind, "bind"),
    (libc::SYS_listen, "listen"),
    (libc::SYS_getsockname, "getsockname"),
    (libc::SYS_getpeername, "getpeername"),
    (libc::SYS_socketpair, "socketpair"),
    (libc::SYS_setsockopt, "setsockopt"),
    (libc::SYS_getsockopt, "getsockopt"),
    (libc::SYS_clone, "clone"),
    (libc::SYS_fork, "fork"),
    (libc::SYS_vfork, "vfork"),
    (libc::SYS_execve, "execve"),
    (libc::SYS_exit, "exit"),
    (libc::SYS_wait4, "wait4"),
    (libc::SYS_kill, "kill"),
    (libc::SYS_uname, "uname"),
    (libc::SYS_semget, "semget"),
    (libc::SYS_semop, "semop"),
    (libc::SYS_semctl, "semctl"),
    (libc::SYS_shmdt, "shmdt"),
    (libc::SYS_msgget, "msgget"),
    (libc::SYS_msgsnd, "msgsnd"),
    (libc::SYS_msgrcv, "msgrcv"),
    (libc::SYS_msgctl, "msgctl"),
    (libc::SYS_fcntl, "fcntl"),
    (libc::SYS_flock, "flock"),
    (libc::SYS_fsync, "fsync"),
    (libc::SYS_fdatasync, "fdatasync"),
    (libc::SYS_truncate, "truncate"),
    (libc::SYS_ftruncate, "ftruncate"),
    (libc::SYS_getdents, "getdents"),
    (libc::SYS_getcwd, "getcwd"),
    (libc::SYS_chdir, "chdir"),
    (libc::SYS_fchdir, "fchdir"),
    (libc::SYS_rename, "rename"),
    (libc::SYS_mkdir, "mkdir"),
    (libc::SYS_rmdir, "rmdir"),
    (libc::SYS_creat, "creat"),
    (libc::SYS_link, "link"),
    (libc::SYS_unlink, "unlink"),
    (libc::SYS_symlink, "symlink"),
    (libc::SYS_readlink, "readlink"),
    (libc::SYS_chmod, "chmod"),
    (libc::SYS_fchmod, "fchmod"),
    (libc::SYS_chown, "chown"),
    (libc::SYS_fchown, "fchown"),
    (libc::SYS_lchown, "lchown"),
    (libc::SYS_umask, "umask"),
    (libc::SYS_gettimeofday, "gettimeofday"),
    (libc::SYS_getrlimit, "getrlimit"),
    (libc::SYS_getrusage, "getrusage"),
    (libc::SYS_sysinfo, "sysinfo"),
    (libc::SYS_times, "times"),
    (libc::SYS_ptrace, "ptrace"),
    (libc::SYS_getuid, "getuid"),
    (libc::SYS_syslog, "syslog"),
    (libc::SYS_getgid, "getgid"),
    (libc::SYS_setuid, "setuid"),
    (libc::SYS_setgid, "setgid"),
    (libc::SYS_geteuid, "geteuid"),
    (libc::SYS_getegid, "getegid"),
    (libc::SYS_setpgid, "setpgid"),
    (libc::SYS_getppid, "getppid"),
    (libc::SYS_getpgrp, "getpgrp"),
    (libc::SYS_setsid, "setsid"),
    (libc::SYS_setreuid, "setreuid"),
    (libc::SYS_setregid, "setregid"),
    (libc::SYS_getgroups, "getgroups"),
    (libc::SYS_setgroups, "setgroups"),
    (libc::SYS_setresuid, "setresuid"),
    (libc::SYS_getresuid, "getresuid"),
    (libc::SYS_setresgid, "setresgid"),
    (libc::SYS_getresgid, "getresgid"),
    (libc::SYS_getpgid, "getpgid"),
    (libc::SYS_setfsuid, "setfsuid"),
    (libc::SYS_setfsgid, "setfsgid"),
    (libc::SYS_getsid, "getsid"),
    (libc::SYS_capget, "capget"),
    (libc::SYS_capset, "capset"),
    (libc::SYS_rt_sigpending, "rt_sigpending"),
    (libc::SYS_rt_sigtimedwait, "rt_sigtimedwait"),
    (libc::SYS_rt_sigqueueinfo, "rt_sigqueueinfo"),
    (libc::SYS_rt_sigsuspend, "rt_sigsuspend"),
    (libc::SYS_sigaltstack, "sigaltstack"),
    (libc::SYS_utime, "utime"),
    (libc::SYS_mknod, "mknod"),
    (libc::SYS_uselib, "uselib"),
    (libc::SYS_personality, "personality"),
    (libc::SYS_ustat, "ustat"),
    (libc::SYS_statfs, "statfs"),
    (libc::SYS_fstatfs, "fstatfs"),
    (libc::SYS_sysfs, "sysfs"),
    (libc::SYS_getpriority, "getpriority"),
    (libc::SYS_setpriority, "setpriority"),
    (libc::SYS_sched_setparam, "sched_setparam"),
    (libc::SYS_sched_getparam, "sched_getparam"),
    (libc::SYS_sched_setscheduler, "sched_setscheduler"),
    (libc::SYS_sched_getscheduler, "sched_getscheduler"),
    (libc::SYS_sched_get_priority_max, "sched_get_priority_max"),
    (libc::SYS_sched_get_priority_min, "sched_get_priority_min"),
    (libc::SYS_sched_rr_get_interval, "sched_rr_get_interval"),
    (libc::SYS_mlock, "mlock"),
    (libc::SYS_munlock, "munlock"),
    (libc::SYS_mlockall, "mlockall"),
    (libc::SYS_munlockall, "munlockall"),
    (libc::SYS_vhangup, "vhangup"),
    (libc::SYS_modify_ldt, "modify_ldt"),
    (libc::SYS_pivot_root, "pivot_root"),
    (libc::SYS__sysctl, "_sysctl"),
    (libc::SYS_prctl, "prctl"),
    (libc::SYS_arch_prctl, "arch_prctl"),
    (libc::SYS_adjtimex, "adjtimex"),
    (libc::SYS_setrlimit, "setrlimit"),
    (libc::SYS_chroot, "chroot"),
    (libc::SYS_sync, "sync"),
    (libc::SYS_acct, "acct"),
    (libc::SYS_settimeofday, "settimeofday"),
    (libc::SYS_mount, "mount"),
    (libc::SYS_umount2, "umount2"),
    (libc::SYS_swapon, "swapon"),
    (libc::SYS_swapoff, "swapoff"),
    (libc::SYS_reboot, "reboot"),
    (libc::SYS_sethostname, "sethostname"),
    (libc::SYS_setdomainname, "setdomainname"),
    (libc::SYS_iopl, "iopl"),
    (libc::SYS_ioperm, "ioperm"),
    (libc::SYS_init_module, "init_module"),
    (libc::SYS_delete_module, "delete_module"),
    (libc::SYS_quotactl, "quotactl"),
    (libc::SYS_nfsservctl, "nfsservctl"),
    (libc::SYS_getpmsg, "getpmsg"),
    (libc::SYS_putpmsg, "putpmsg"),
    (libc::SYS_afs_syscall, "afs_syscall"),
    (libc::SYS_tuxcall, "tuxcall"),
    (libc::SYS_security, "security"),
    (libc::SYS_gettid, "gettid"),
    (libc::SYS_readahead, "readahead"),
    (libc::SYS_setxattr, "setxattr"),
    (libc::SYS_lsetxattr, "lsetxattr"),
    (libc::SYS_fsetxattr, "fsetxattr"),
    (libc::SYS_getxattr, "getxattr"),
    (libc::SYS_lgetxattr, "lgetxattr"),
    (libc::SYS_fgetxattr, "fgetxattr"),
    (libc::SYS_listxattr, "listxattr"),
    (libc::SYS_llistxattr, "llistxattr"),
    (libc::SYS_flistxattr, "flistxattr"),
    (libc::SYS_removexattr, "removexattr"),
    (libc::SYS_lremovexattr, "lremovexattr"),
    (libc::SYS_fremovexattr, "fremovexattr"),
    (libc::SYS_tkill, "tkill"),
    (libc::SYS_time, "time"),
    (libc::SYS_futex, "futex"),
    (libc::SYS_sched_setaffinity, "sched_setaffinity"),
    (libc::SYS_sched_getaffinity, "sched_getaffinity"),
    (libc::SYS_set_thread_area, "set_thread_area"),
    (libc::SYS_io_setup, "io_setup"),
    (libc::SYS_io_destroy, "io_destroy"),
    (libc::SYS_io_getevents, "io_getevents"),
    (libc::SYS_io_submit, "io_submit"),
    (libc::SYS_io_cancel, "io_cancel"),
    (libc::SYS_get_thread_area, "get_thread_area"),
    (libc::SYS_lookup_dcookie, "lookup_dcookie"),
    (libc::SYS_epoll_create, "epoll_create"),
    (libc::SYS_epoll_ctl_old, "epoll_ctl_old"),
    (libc::SYS_epoll_wait_old, "epoll_wait_old"),
    (libc::SYS_remap_file_pages, "remap_file_pages"),
    (libc::SYS_getdents64, "getdents64"),
    (libc::SYS_set_tid_address, "set_tid_address"),
    (libc::SYS_restart_syscall, "restart_syscall"),
    (libc::SYS_semtimedop, "semtimedop"),
    (libc::SYS_fadvise64, "fadvise64"),
    (libc::SYS_timer_create, "timer_create"),
    (libc::SYS_timer_settime, "timer_settime"),
    (libc::SYS_timer_gettime, "timer_gettime"),
    (libc::SYS_timer_getoverrun, "timer_getoverrun"),
    (libc::SYS_timer_delete, "timer_delete"),
    (libc::SYS_clock_settime, "clock_settime"),
    (libc::SYS_clock_gettime, "clock_gettime"),
    (libc::SYS_clock_getres, "clock_getres"),
    (libc::SYS_clock_nanosleep, "clock_nanosleep"),
    (libc::SYS_exit_group, "exit_group"),
    (libc::SYS_epoll_wait, "epoll_wait"),
    (libc::SYS_epoll_ctl, "epoll_ctl"),
    (libc::SYS_tgkill, "tgkill"),
    (libc::SYS_utimes, "utimes"),
    (libc::SYS_vserver, "vserver"),
    (libc::SYS_mbind, "mbind"),
    (libc::SYS_set_mempolicy, "set_mempolicy"),
    (libc::SYS_get_mempolicy, "get_mempolicy"),
    (libc::SYS_mq_open, "mq_open"),
    (libc::SYS_mq_unlink, "mq_unlink"),
    (libc::SYS_mq_timedsend, "mq_timedsend"),
    (libc::SYS_mq_timedreceive, "mq_timedreceive"),
    (libc::SYS_mq_notify, "mq_notify"),
    (libc::SYS_mq_getsetattr, "mq_getsetattr"),
    (libc::SYS_kexec_load, "kexec_load"),
    (libc::SYS_waitid, "waitid"),
    (libc::SYS_add_key, "add_key"),
    (libc::SYS_request_key, "request_key"),
    (libc::SYS_keyctl, "keyctl"),
    (libc::SYS_ioprio_set, "ioprio_set"),
    (libc::SYS_ioprio_get, "ioprio_get"),
    (libc::SYS_inotify_init, "inotify_init"),
    (libc::SYS_inotify_add_watch, "inotify_add_watch"),
    (libc::SYS_inotify_rm_watch, "inotify_rm_watch"),
    (libc::SYS_migrate_pages, "migrate_pages"),
    (libc::SYS_openat, "openat"),
    (libc::SYS_mkdirat, "mkdirat"),
    (libc::SYS_mknodat, "mknodat"),
    (libc::SYS_fchownat, "fchownat"),
    (libc::SYS_futimesat, "futimesat"),
    (libc::SYS_newfstatat, "newfstatat"),
    (libc::SYS_unlinkat, "unlinkat"),
    (libc::SYS_renameat, "renameat"),
    (libc::SYS_linkat, "linkat"),
    (libc::SYS_symlinkat, "symlinkat"),
    (libc::SYS_readlinkat, "readlinkat"),
    (libc::SYS_fchmodat, "fchmodat"),
    (libc::SYS_faccessat, "faccessat"),
    (libc::SYS_pselect6, "pselect6"),
    (libc::SYS_ppoll, "ppoll"),
    (libc::SYS_unshare, "unshare"),
    (libc::SYS_set_robust_list, "set_robust_list"),
    (libc::SYS_get_robust_list, "get_robust_list"),
    (libc::SYS_splice, "splice"),
    (libc::SYS_tee, "tee"),
    (libc::SYS_sync_file_range, "sync_file_range"),
    (libc::SYS_vmsplice, "vmsplice"),
    (libc::SYS_move_pages, "move_pages"),
    (libc::SYS_utimensat, "utimensat"),
    (libc::SYS_epoll_pwait, "epoll_pwait"),
    (libc::SYS_signalfd, "signalfd"),
    (libc::SYS_timerfd_create, "timerfd_create"),
    (libc::SYS_eventfd, "eventfd"),
    (libc::SYS_fallocate, "fallocate"),
    (libc::SYS_timerfd_settime, "timerfd_settime"),
    (libc::SYS_timerfd_gettime, "timerfd_gettime"),
    (libc::SYS_accept4, "accept4"),
    (libc::SYS_signalfd4, "signalfd4"),
    (libc::SYS_eventfd2, "eventfd2"),
    (libc::SYS_epoll_create1, "epoll_create1"),
    (libc::SYS_dup3, "dup3"),
    (libc::SYS_pipe2, "pipe2"),
    (libc::SYS_inotify_init1, "inotify_init1"),
    (libc::SYS_preadv, "preadv"),
    (libc::SYS_pwritev, "pwritev"),
    (libc::SYS_rt_tgsigqueueinfo, "rt_tgsigqueueinfo"),
    (libc::SYS_perf_event_open, "perf_event_open"),
    (libc::SYS_recvmmsg, "recvmmsg"),
    (libc::SYS_fanotify_init, "fanotify_init"),
    (libc::SYS_fanotify_mark, "fanotify_mark"),
    (libc::SYS_prlimit64, "prlimit64"),
    (libc::SYS_name_to_handle_at, "name_to_handle_at"),
    (libc::SYS_open_by_handle_at, "open_by_handle_at"),
    (libc::SYS_clock_adjtime, "clock_adjtime"),
    (libc::SYS_syncfs, "syncfs"),
    (libc::SYS_sendmmsg, "sendmmsg"),
    (libc::SYS_setns, "setns"),
    (libc::SYS_getcpu, "getcpu"),
    (libc::SYS_process_vm_readv, "process_vm_readv"),
    (libc::SYS_process_vm_writev, "process_vm_writev"),
    (libc::SYS_kcmp, "kcmp"),
    (libc::SYS_finit_module, "finit_module"),
    (libc::SYS_sched_setattr, "sched_setattr"),
    (libc::SYS_sched_getattr, "sched_getattr"),
    (libc::SYS_renameat2, "renameat2"),
    (libc::SYS_seccomp, "seccomp"),
    (libc::SYS_getrandom, "getrandom"),
    (libc::SYS_memfd_create, "memfd_create"),
    (libc::SYS_kexec_file_load, "kexec_file_load"),
    (libc::SYS_bpf, "bpf"),
    (libc::SYS_execveat, "execveat"),
    (libc::SYS_userfaultfd, "userfaultfd"),
    (libc::SYS_membarrier, "membarrier"),
    (libc::SYS_mlock2, "mlock2"),
    (libc::SYS_copy_file_range, "copy_file_range"),
    (libc::SYS_preadv2, "preadv2"),
    (libc::SYS_pwritev2, "pwritev2"),
    (libc::SYS_pkey_mprotect, "pkey_mprotect"),
    (libc::SYS_pkey_alloc, "pkey_alloc"),
    (libc::SYS_pkey_free, "pkey_free"),
    (libc::SYS_statx, "statx"),
    (libc::SYS_rseq, "rseq"),
    (libc::SYS_pidfd_send_signal, "pidfd_send_signal"),
    (libc::SYS_io_uring_setup, "io_uring_setup"),
    (libc::SYS_io_uring_enter, "io_uring_enter"),
    (libc::SYS_io_uring_register, "io_uring_register"),
    (libc::SYS_open_tree, "open_tree"),
    (libc::SYS_move_mount, "move_mount"),
    (libc::SYS_fsopen, "fsopen"),
    (libc::SYS_fsconfig, "fsconfig"),
    (libc::SYS_fsmount, "fsmount"),
    (libc::SYS_fspick, "fspick"),
    (libc::SYS_pidfd_open, "pidfd_open"),
    (libc::SYS_clone3, "clone3"),
    (libc::SYS_close_range, "close_range"),
    (libc::SYS_openat2, "openat2"),
    (libc::SYS_pidfd_getfd, "pidfd_getfd"),
    (libc::SYS_faccessat2, "faccessat2"),
    (libc::SYS_process_madvise, "process_madvise"),
    (libc::SYS_epoll_pwait2, "epoll_pwait2"),
    (libc::SYS_mount_setattr, "mount_setattr"),
    (libc::SYS_quotactl_fd, "quotactl_fd"),
    (libc::SYS_landlock_create_ruleset, "landlock_create_ruleset"),
    (libc::SYS_landlock_add_rule, "landlock_add_rule"),
    (libc::SYS_landlock_restrict_self, "landlock_restrict_self"),
    (libc::SYS_memfd_secret, "memfd_secret"),
    (libc::SYS_process_mrelease, "process_mrelease"),
    (libc::SYS_futex_waitv, "futex_waitv"),
    (libc::SYS_set_mempolicy_home_node, "set_mempolicy_home_node"),
    (libc::SYS_fchmodat2, "fchmodat2"),
    (libc::SYS_mseal, "mseal"),
];

#[test]
fn numbers_match_libc() {
    for &(number, name) in LIBC_SYSCALLS {
        let info = by_name(name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(i64::from(info.nr), number, "{name}");
    }
}

#[test]
fn table_is_sorted_unique_and_well_formed() {
    assert!(
        SYSCALLS.windows(2).all(|w| w[0].nr < w[1].nr),
        "sorted, unique numbers"
    );
    let mut names: Vec<&str> = SYSCALLS.iter().map(|info| info.name).collect();
    names.sort_unstable();
    let count = names.len();
    names.dedup();
    assert_eq!(names.len(), count, "names are unique");
    for info in SYSCALLS {
        assert!(
            info.args.len() <= 6,
            "{} has {} args",
            info.name,
            info.args.len()
        );
        assert!(!info.name.is_empty() && info.nr < 512, "{}", info.name);
        // A buffer's length is the argument after it.
        for (i, kind) in info.args.iter().enumerate() {
            if matches!(kind, ArgKind::InBuf | ArgKind::OutBuf) {
                assert_eq!(
                    info.args.get(i + 1),
                    Some(&ArgKind::Uint),
                    "{} arg {i}",
                    info.name
                );
            }
        }
    }
    assert_eq!(
        TABLE_SIZE,
        SYSCALLS.last().map_or(0, |info| info.nr as usize + 1)
    );
    // 0..=334 and 424..=471 with no holes.
    assert_eq!(SYSCALLS.len(), 335 + 48);
}

#[test]
fn lookups_round_trip() {
    for info in SYSCALLS {
        assert_eq!(
            by_nr(u64::from(info.nr)).map(|found| found.name),
            Some(info.name)
        );
        assert_eq!(by_name(info.name).map(|found| found.nr), Some(info.nr));
    }
    for gap in [
        335,
        387,
        400,
        423,
        472,
        512,
        547,
        10_000,
        u64::from(u32::MAX) + 1,
        u64::MAX,
    ] {
        assert!(by_nr(gap).is_none(), "{gap}");
    }
    assert!(by_name("").is_none());
    assert!(by_name("not_a_syscall").is_none());
    assert!(by_name("READ").is_none());
}

#[test]
fn arg_kinds_spot_checks() {
    use ArgKind::*;
    let args = |name| by_name(name).unwrap().args;
    assert_eq!(args("read"), &[Fd, OutBuf, Uint]);
    assert_eq!(args("write"), &[Fd, InBuf, Uint]);
    assert_eq!(args("openat"), &[Fd, Path, OpenFlags, Mode]);
    assert_eq!(args("mmap"), &[Ptr, Uint, MmapProt, MmapFlags, Fd, Hex]);
    assert_eq!(args("execve"), &[Path, StrVec, StrVec]);
    assert_eq!(args("kill"), &[Pid, Signal]);
    assert_eq!(args("clock_gettime"), &[Clock, Ptr]);
    assert_eq!(args("ioctl"), &[Fd, Ioctl, Hex]);
    assert_eq!(args("fcntl"), &[Fd, Fcntl, Hex]);
    assert!(args("getpid").is_empty());
    assert!(args("rt_sigreturn").is_empty());
}

#[test]
fn nr_constants_agree_with_table() {
    let pairs = [
        (nr::READ, "read"),
        (nr::WRITE, "write"),
        (nr::OPEN, "open"),
        (nr::CLOSE, "close"),
        (nr::FSTAT, "fstat"),
        (nr::MMAP, "mmap"),
        (nr::MPROTECT, "mprotect"),
        (nr::MUNMAP, "munmap"),
        (nr::BRK, "brk"),
        (nr::RT_SIGACTION, "rt_sigaction"),
        (nr::RT_SIGPROCMASK, "rt_sigprocmask"),
        (nr::RT_SIGRETURN, "rt_sigreturn"),
        (nr::IOCTL, "ioctl"),
        (nr::PREAD64, "pread64"),
        (nr::ACCESS, "access"),
        (nr::PIPE, "pipe"),
        (nr::SCHED_YIELD, "sched_yield"),
        (nr::DUP2, "dup2"),
        (nr::GETPID, "getpid"),
        (nr::SOCKET, "socket"),
        (nr::CLONE, "clone"),
        (nr::FORK, "fork"),
        (nr::VFORK, "vfork"),
        (nr::EXECVE, "execve"),
        (nr::EXIT, "exit"),
        (nr::WAIT4, "wait4"),
        (nr::KILL, "kill"),
        (nr::UNAME, "uname"),
        (nr::FCNTL, "fcntl"),
        (nr::GETCWD, "getcwd"),
        (nr::ARCH_PRCTL, "arch_prctl"),
        (nr::_SYSCTL, "_sysctl"),
        (nr::GETTID, "gettid"),
        (nr::FUTEX, "futex"),
        (nr::SET_TID_ADDRESS, "set_tid_address"),
        (nr::RESTART_SYSCALL, "restart_syscall"),
        (nr::CLOCK_GETTIME, "clock_gettime"),
        (nr::EXIT_GROUP, "exit_group"),
        (nr::TGKILL, "tgkill"),
        (nr::OPENAT, "openat"),
        (nr::NEWFSTATAT, "newfstatat"),
        (nr::SET_ROBUST_LIST, "set_robust_list"),
        (nr::PIPE2, "pipe2"),
        (nr::PRLIMIT64, "prlimit64"),
        (nr::GETRANDOM, "getrandom"),
        (nr::STATX, "statx"),
        (nr::RSEQ, "rseq"),
        (nr::PIDFD_SEND_SIGNAL, "pidfd_send_signal"),
        (nr::CLONE3, "clone3"),
        (nr::OPENAT2, "openat2"),
        (nr::FACCESSAT2, "faccessat2"),
        (nr::FUTEX_WAITV, "futex_waitv"),
        (nr::CACHESTAT, "cachestat"),
        (nr::FCHMODAT2, "fchmodat2"),
        (nr::FUTEX_REQUEUE, "futex_requeue"),
        (nr::LSM_LIST_MODULES, "lsm_list_modules"),
        (nr::MSEAL, "mseal"),
        (nr::FILE_SETATTR, "file_setattr"),
        (nr::LISTNS, "listns"),
        (nr::RSEQ_SLICE_YIELD, "rseq_slice_yield"),
    ];
    for (number, name) in pairs {
        assert_eq!(by_nr(u64::from(number)).map(|info| info.name), Some(name));
    }
    assert_eq!(nr::READ, 0);
    assert_eq!(nr::RT_SIGACTION, 13);
    assert_eq!(nr::EXIT_GROUP, 231);
    assert_eq!(nr::NEWFSTATAT, 262);
    assert_eq!(nr::CLONE3, 435);
    assert_eq!(nr::MSEAL, 462);
}

/// Every errno name the `libc` crate defines, except the aliases (EWOULDBLOCK, EDEADLOCK, ENOTSUP).
const LIBC_ERRNOS: &[(i32, &str)] = &[
    (libc::EPERM, "EPERM"),
    (libc::ENOENT, "ENOENT"),
    (libc::ESRCH, "ESRCH"),
    (libc::EINTR, "EINTR"),
    (libc::EIO, "EIO"),
    (libc::ENXIO, "ENXIO"),
    (libc::E2BIG, "E2BIG"),
    (libc::ENOEXEC, "ENOEXEC"),
    (libc::EBADF, "EBADF"),
    (libc::ECHILD, "ECHILD"),
    (libc::EAGAIN, "EAGAIN"),
    (libc::ENOMEM, "ENOMEM"),
    (libc::EACCES, "EACCES"),
    (libc::EFAULT, "EFAULT"),
    (libc::ENOTBLK, "ENOTBLK"),
    (libc::EBUSY, "EBUSY"),
    (libc::EEXIST, "EEXIST"),
    (libc::EXDEV, "EXDEV"),
    (libc::ENODEV, "ENODEV"),
    (libc::ENOTDIR, "ENOTDIR"),
    (libc::EISDIR, "EISDIR"),
    (libc::EINVAL, "EINVAL"),
    (libc::ENFILE, "ENFILE"),
    (libc::EMFILE, "EMFILE"),
    (libc::ENOTTY, "ENOTTY"),
    (libc::ETXTBSY, "ETXTBSY"),
    (libc::EFBIG, "EFBIG"),
    (libc::ENOSPC, "ENOSPC"),
    (libc::ESPIPE, "ESPIPE"),
    (libc::EROFS, "EROFS"),
    (libc::EMLINK, "EMLINK"),
    (libc::EPIPE, "EPIPE"),
    (libc::EDOM, "EDOM"),
    (libc::ERANGE, "ERANGE"),
    (libc::EDEADLK, "EDEADLK"),
    (libc::ENAMETOOLONG, "ENAMETOOLONG"),
    (libc::ENOLCK, "ENOLCK"),
    (libc::ENOSYS, "ENOSYS"),
    (libc::ENOTEMPTY, "ENOTEMPTY"),
    (libc::ELOOP, "ELOOP"),
    (libc::ENOMSG, "ENOMSG"),
    (libc::EIDRM, "EIDRM"),
    (libc::ECHRNG, "ECHRNG"),
    (libc::EL2NSYNC, "EL2NSYNC"),
    (libc::EL3HLT, "EL3HLT"),
    (libc::EL3RST, "EL3RST"),
    (libc::ELNRNG, "ELNRNG"),
    (libc::EUNATCH, "EUNATCH"),
    (libc::ENOCSI, "ENOCSI"),
    (libc::EL2HLT, "EL2HLT"),
    (libc::EBADE, "EBADE"),
    (libc::EBADR, "EBADR"),
    (libc::EXFULL, "EXFULL"),
    (libc::ENOANO, "ENOANO"),
    (libc::EBADRQC, "EBADRQC"),
    (libc::EBADSLT, "EBADSLT"),
    (libc::EBFONT, "EBFONT"),
    (libc::ENOSTR, "ENOSTR"),
    (libc::ENODATA, "ENODATA"),
    (libc::ETIME, "ETIME"),
    (libc::ENOSR, "ENOSR"),
    (libc::ENONET, "ENONET"),
    (libc::ENOPKG, "ENOPKG"),
    (libc::EREMOTE, "EREMOTE"),
    (libc::ENOLINK, "ENOLINK"),
    (libc::EADV, "EADV"),
    (libc::ESRMNT, "ESRMNT"),
    (libc::ECOMM, "ECOMM"),
    (libc::EPROTO, "EPROTO"),
    (libc::EMULTIHOP, "EMULTIHOP"),
    (libc::EDOTDOT, "EDOTDOT"),
    (libc::EBADMSG, "EBADMSG"),
    (libc::EOVERFLOW, "EOVERFLOW"),
    (libc::ENOTUNIQ, "ENOTUNIQ"),
    (libc::EBADFD, "EBADFD"),
    (libc::EREMCHG, "EREMCHG"),
    (libc::ELIBACC, "ELIBACC"),
    (libc::ELIBBAD, "ELIBBAD"),
    (libc::ELIBSCN, "ELIBSCN"),
    (libc::ELIBMAX, "ELIBMAX"),
    (libc::ELIBEXEC, "ELIBEXEC"),
    (libc::EILSEQ, "EILSEQ"),
    (libc::ERESTART, "ERESTART"),
    (libc::ESTRPIPE, "ESTRPIPE"),
    (libc::EUSERS, "EUSERS"),
    (libc::ENOTSOCK, "ENOTSOCK"),
    (libc::EDESTADDRREQ, "EDESTADDRREQ"),
    (libc::EMSGSIZE, "EMSGSIZE"),
    (libc::EPROTOTYPE, "EPROTOTYPE"),
    (libc::ENOPROTOOPT, "ENOPROTOOPT"),
    (libc::EPROTONOSUPPORT, "EPROTONOSUPPORT"),
    (libc::ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT"),
    (libc::EOPNOTSUPP, "EOPNOTSUPP"),
    (libc::EPFNOSUPPORT, "EPFNOSUPPORT"),
    (libc::EAFNOSUPPORT, "EAFNOSUPPORT"),
    (libc::EADDRINUSE, "EADDRINUSE"),
    (libc::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (libc::ENETDOWN, "ENETDOWN"),
    (libc::ENETUNREACH, "ENETUNREACH"),
    (libc::ENETRESET, "ENETRESET"),
    (libc::ECONNABORTED, "ECONNABORTED"),
    (libc::ECONNRESET, "ECONNRESET"),
    (libc::ENOBUFS, "ENOBUFS"),
    (libc::EISCONN, "EISCONN"),
    (libc::ENOTCONN, "ENOTCONN"),
    (libc::ESHUTDOWN, "ESHUTDOWN"),
    (libc::ETOOMANYREFS, "ETOOMANYREFS"),
    (libc::ETIMEDOUT, "ETIMEDOUT"),
    (libc::ECONNREFUSED, "ECONNREFUSED"),
    (libc::EHOSTDOWN, "EHOSTDOWN"),
    (libc::EHOSTUNREACH, "EHOSTUNREACH"),
    (libc::EALREADY, "EALREADY"),
    (libc::EINPROGRESS, "EINPROGRESS"),
    (libc::ESTALE, "ESTALE"),
    (libc::EUCLEAN, "EUCLEAN"),
    (libc::ENOTNAM, "ENOTNAM"),
    (libc::ENAVAIL, "ENAVAIL"),
    (libc::EISNAM, "EISNAM"),
    (libc::EREMOTEIO, "EREMOTEIO"),
    (libc::EDQUOT, "EDQUOT"),
    (libc::ENOMEDIUM, "ENOMEDIUM"),
    (libc::EMEDIUMTYPE, "EMEDIUMTYPE"),
    (libc::ECANCELED, "ECANCELED"),
    (libc::ENOKEY, "ENOKEY"),
    (libc::EKEYEXPIRED, "EKEYEXPIRED"),
    (libc::EKEYREVOKED, "EKEYREVOKED"),
    (libc::EKEYREJECTED, "EKEYREJECTED"),
    (libc::EOWNERDEAD, "EOWNERDEAD"),
    (libc::ENOTRECOVERABLE, "ENOTRECOVERABLE"),
    (libc::ERFKILL, "ERFKILL"),
    (libc::EHWPOISON, "EHWPOISON"),
];

#[test]
fn errno_names() {
    for &(value, name) in LIBC_ERRNOS {
        assert_eq!(errno_name(value), Some(name), "{value}");
    }
    assert_eq!(errno_name(libc::EWOULDBLOCK), Some("EAGAIN"));
    assert_eq!(errno_name(libc::ENOTSUP), Some("EOPNOTSUPP"));
    assert_eq!(errno_name(512), Some("ERESTARTSYS"));
    assert_eq!(errno_name(516), Some("ERESTART_RESTARTBLOCK"));
    assert_eq!(errno_name(519), Some("ENOPARAM"));
    assert_eq!(errno_name(521), Some("EBADHANDLE"));
    assert_eq!(errno_name(531), Some("ENOGRACE"));
    for missing in [i32::MIN, -2, 0, 41, 58, 134, 511, 520, 532, 4095] {
        assert_eq!(errno_name(missing), None, "{missing}");
    }
}

#[test]
fn signal_names() {
    let expected = [
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGQUIT, "SIGQUIT"),
        (libc::SIGILL, "SIGILL"),
        (libc::SIGTRAP, "SIGTRAP"),
        (libc::SIGABRT, "SIGABRT"),
        (libc::SIGBUS, "SIGBUS"),
        (libc::SIGFPE, "SIGFPE"),
        (libc::SIGKILL, "SIGKILL"),
        (libc::SIGUSR1, "SIGUSR1"),
        (libc::SIGSEGV, "SIGSEGV"),
        (libc::SIGUSR2, "SIGUSR2"),
        (libc::SIGPIPE, "SIGPIPE"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGSTKFLT, "SIGSTKFLT"),
        (libc::SIGCHLD, "SIGCHLD"),
        (libc::SIGCONT, "SIGCONT"),
        (libc::SIGSTOP, "SIGSTOP"),
        (libc::SIGTSTP, "SIGTSTP"),
        (libc::SIGTTIN, "SIGTTIN"),
        (libc::SIGTTOU, "SIGTTOU"),
        (libc::SIGURG, "SIGURG"),
        (libc::SIGXCPU, "SIGXCPU"),
        (libc::SIGXFSZ, "SIGXFSZ"),
        (libc::SIGVTALRM, "SIGVTALRM"),
        (libc::SIGPROF, "SIGPROF"),
        (libc::SIGWINCH, "SIGWINCH"),
        (libc::SIGIO, "SIGIO"),
        (libc::SIGPWR, "SIGPWR"),
        (libc::SIGSYS, "SIGSYS"),
    ];
    for (sig, name) in expected {
        assert_eq!(signal_name(sig), Some(name));
    }
    for none in [i32::MIN, -1, 0, 32, 33, 64, 65] {
        assert_eq!(signal_name(none), None, "{none}");
    }
}

/// Widens a libc flag constant for the formatters.
fn bits(flag: i32) -> u64 {
    u64::from(u32::try_from(flag).unwrap())
}

#[test]
fn open_flags() {
    assert_eq!(open_flags_string(0), "O_RDONLY");
    assert_eq!(
        open_flags_string(bits(libc::O_RDONLY | libc::O_CLOEXEC)),
        "O_RDONLY|O_CLOEXEC"
    );
    assert_eq!(
        open_flags_string(bits(libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC)),
        "O_WRONLY|O_CREAT|O_TRUNC"
    );
    assert_eq!(
        open_flags_string(bits(
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_DIRECTORY
        )),
        "O_RDONLY|O_NONBLOCK|O_DIRECTORY|O_CLOEXEC"
    );
    assert_eq!(
        open_flags_string(bits(libc::O_RDWR | libc::O_SYNC)),
        "O_RDWR|O_SYNC"
    );
    assert_eq!(
        open_flags_string(bits(libc::O_RDWR | libc::O_DSYNC)),
        "O_RDWR|O_DSYNC"
    );
    assert_eq!(
        open_flags_string(bits(libc::O_RDWR | libc::O_TMPFILE)),
        "O_RDWR|O_TMPFILE"
    );
    assert_eq!(open_flags_string(bits(libc::O_PATH)), "O_RDONLY|O_PATH");
    assert_eq!(open_flags_string(3), "O_ACCMODE");
    assert_eq!(
        open_flags_string(0o100 | 1 << 40),
        "O_RDONLY|O_CREAT|0x10000000000"
    );
    // Each single flag agrees with libc's value.
    for (flag, name) in [
        (libc::O_CREAT, "O_CREAT"),
        (libc::O_EXCL, "O_EXCL"),
        (libc::O_NOCTTY, "O_NOCTTY"),
        (libc::O_TRUNC, "O_TRUNC"),
        (libc::O_APPEND, "O_APPEND"),
        (libc::O_NONBLOCK, "O_NONBLOCK"),
        (libc::O_ASYNC, "O_ASYNC"),
        (libc::O_DIRECT, "O_DIRECT"),
        (libc::O_DIRECTORY, "O_DIRECTORY"),
        (libc::O_NOFOLLOW, "O_NOFOLLOW"),
        (libc::O_NOATIME, "O_NOATIME"),
        (libc::O_CLOEXEC, "O_CLOEXEC"),
    ] {
        assert_eq!(open_flags_string(bits(flag)), format!("O_RDONLY|{name}"));
    }
}

#[test]
fn mmap_flags() {
    assert_eq!(mmap_prot_string(0), "PROT_NONE");
    assert_eq!(
        mmap_prot_string(bits(libc::PROT_READ | libc::PROT_WRITE)),
        "PROT_READ|PROT_WRITE"
    );
    assert_eq!(
        mmap_prot_string(bits(libc::PROT_READ | libc::PROT_EXEC)),
        "PROT_READ|PROT_EXEC"
    );
    assert_eq!(
        mmap_prot_string(bits(libc::PROT_READ | libc::PROT_GROWSDOWN)),
        "PROT_READ|PROT_GROWSDOWN"
    );
    assert_eq!(mmap_prot_string(0x11), "PROT_READ|0x10");

    assert_eq!(mmap_flags_string(0), "0");
    assert_eq!(
        mmap_flags_string(bits(libc::MAP_PRIVATE | libc::MAP_ANONYMOUS)),
        "MAP_PRIVATE|MAP_ANONYMOUS"
    );
    assert_eq!(
        mmap_flags_string(bits(
            libc::MAP_PRIVATE | libc::MAP_FIXED | libc::MAP_DENYWRITE
        )),
        "MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE"
    );
    assert_eq!(
        mmap_flags_string(bits(libc::MAP_SHARED_VALIDATE | libc::MAP_SYNC)),
        "MAP_SHARED_VALIDATE|MAP_SYNC"
    );
    assert_eq!(
        mmap_flags_string(bits(
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_FIXED_NOREPLACE
        )),
        "MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK|MAP_FIXED_NOREPLACE"
    );
    assert_eq!(
        mmap_flags_string(bits(
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_HUGETLB | libc::MAP_HUGE_2MB
        )),
        "MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|MAP_HUGE_2MB"
    );
    assert_eq!(
        mmap_flags_string(bits(
            libc::MAP_SHARED | libc::MAP_HUGETLB | libc::MAP_HUGE_1GB
        )),
        "MAP_SHARED|MAP_HUGETLB|MAP_HUGE_1GB"
    );
    assert_eq!(mmap_flags_string(0x5 | 1 << 40), "0x5|0x10000000000");
}
