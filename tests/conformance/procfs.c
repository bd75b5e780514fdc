/*
 * procfs.c — /proc, /sys and /dev as programs read them: the fields of
 * /proc/self/{stat,status,statm,maps,limits,fdinfo}, the self, exe, cwd and
 * fd links, a child's directory through its life (zombie, then gone), a
 * thread in task/, kernel parameters under /proc/sys, the CPU count in /sys,
 * and the links and devices of /dev.
 *
 * Values differ between the host and the sandbox, so each check compares
 * /proc with what the system calls say, or checks a format.
 */
#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Reads a whole (small) file into buf, NUL-terminated; returns its length or -1. */
static ssize_t slurp(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0) {
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == size - 1)
			break;
	}
	close(fd);
	buf[len] = '\0';
	return (ssize_t)len;
}

/* The value after "Key:" in a status-like text, or NULL. */
static const char *field(const char *text, const char *key)
{
	size_t klen = strlen(key);
	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			const char *v = line + klen + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			return v;
		}
	}
	return NULL;
}

/* Splits /proc/PID/stat after the command name: fields[0] is field 3. */
static int stat_fields(const char *text, char fields[64][32])
{
	const char *p = strrchr(text, ')');
	if (!p)
		return -1;
	int n = 0;
	for (p++; *p && n < 64;) {
		while (*p == ' ' || *p == '\n')
			p++;
		if (!*p)
			break;
		int len = 0;
		while (*p && *p != ' ' && *p != '\n' && len < 31)
			fields[n][len++] = *p++;
		fields[n][len] = '\0';
		n++;
	}
	return n;
}

static char buf[1 << 16];

static void self_stat(void)
{
	char fields[64][32];
	CHECK("stat_readable", slurp("/proc/self/stat", buf, sizeof buf) > 0);
	CHECK("stat_pid_is_getpid", atoi(buf) == getpid());
	int n = stat_fields(buf, fields);
	CHECK("stat_has_52_fields", n + 2 == 52);
	CHECK("stat_state_is_running", strcmp(fields[0], "R") == 0);
	CHECK("stat_ppid", atoi(fields[1]) == getppid());
	CHECK("stat_pgrp", atoi(fields[2]) == getpgrp());
	CHECK("stat_session", atoi(fields[3]) == getsid(0));
	CHECK("stat_num_threads_1", atoi(fields[17]) == 1);
	CHECK("stat_vsize_nonzero", strtoull(fields[20], NULL, 10) > 0);
	char comm[32];
	snprintf(comm, sizeof comm, "(%.15s)", program_invocation_short_name);
	CHECK("stat_comm_in_parens", strstr(buf, comm) == strchr(buf, '('));

	struct timespec up;
	clock_gettime(CLOCK_BOOTTIME, &up);
	unsigned long long start = strtoull(fields[19], NULL, 10);
	CHECK("stat_starttime_not_in_future", start <= (unsigned long long)up.tv_sec * 100 + 100);
}

static void self_status(void)
{
	char want[64];
	CHECK("status_readable", slurp("/proc/self/status", buf, sizeof buf) > 0);
	CHECK("status_starts_with_name", strncmp(buf, "Name:\t", 6) == 0);
	snprintf(want, sizeof want, "Name:\t%.15s\n", program_invocation_short_name);
	CHECK("status_name_is_comm", strncmp(buf, want, strlen(want)) == 0);
	const char *v = field(buf, "Pid");
	CHECK("status_pid", v && atoi(v) == getpid());
	v = field(buf, "Tgid");
	CHECK("status_tgid", v && atoi(v) == getpid());
	v = field(buf, "PPid");
	CHECK("status_ppid", v && atoi(v) == getppid());
	v = field(buf, "State");
	CHECK("status_state_running", v && strncmp(v, "R (running)", 11) == 0);
	unsigned r, e, s, f;
	v = field(buf, "Uid");
	CHECK("status_uid", v && sscanf(v, "%u %u %u %u", &r, &e, &s, &f) == 4 && r == getuid() && e == geteuid());
	v = field(buf, "Gid");
	CHECK("status_gid", v && sscanf(v, "%u %u %u %u", &r, &e, &s, &f) == 4 && r == getgid() && e == getegid());
	v = field(buf, "Threads");
	CHECK("status_threads_1", v && atoi(v) == 1);
	v = field(buf, "VmRSS");
	CHECK("status_vmrss_kb", v && strtoul(v, NULL, 10) > 0 && strstr(v, " kB\n") == strchr(v, '\n') - 3);
	mode_t old = umask(027);
	slurp("/proc/self/status", buf, sizeof buf);
	umask(old);
	v = field(buf, "Umask");
	CHECK("status_umask", v && strncmp(v, "0027\n", 5) == 0);
	sigset_t set, prev;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, &prev);
	slurp("/proc/self/status", buf, sizeof buf);
	sigprocmask(SIG_SETMASK, &prev, NULL);
	v = field(buf, "SigBlk");
	CHECK("status_sigblk_hex", v && strtoull(v, NULL, 16) == 1ULL << (SIGUSR1 - 1));

	slurp("/proc/self/statm", buf, sizeof buf);
	unsigned long m[7];
	CHECK("statm_seven_numbers", sscanf(buf, "%lu %lu %lu %lu %lu %lu %lu", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5], &m[6]) == 7 && m[0] > 0);

	slurp("/proc/self/comm", buf, sizeof buf);
	snprintf(want, sizeof want, "%.15s\n", program_invocation_short_name);
	CHECK("comm_is_program_name", strcmp(buf, want) == 0);
	int fd = open("/proc/self/comm", O_WRONLY);
	CHECK("comm_writable", fd >= 0 && write(fd, "renamed", 7) == 7);
	close(fd);
	slurp("/proc/self/comm", buf, sizeof buf);
	CHECK("comm_renamed", strcmp(buf, "renamed\n") == 0);
	fd = open("/proc/self/comm", O_WRONLY);
	snprintf(want, sizeof want, "%.15s", program_invocation_short_name);
	if (fd >= 0 && write(fd, want, strlen(want)) < 0)
		perror("restore comm");
	close(fd);
}

static void self_links(char **argv)
{
	char target[PATH_MAX], cwd[PATH_MAX], want[64];
	ssize_t n = readlink("/proc/self", target, sizeof target - 1);
	target[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof want, "%d", getpid());
	CHECK("self_is_pid", strcmp(target, want) == 0);
	n = readlink("/proc/thread-self", target, sizeof target - 1);
	target[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof want, "%d/task/%d", getpid(), (int)syscall(SYS_gettid));
	CHECK("thread_self_is_pid_task_tid", strcmp(target, want) == 0);

	n = readlink("/proc/self/exe", target, sizeof target - 1);
	target[n > 0 ? n : 0] = '\0';
	CHECK("exe_is_absolute", n > 1 && target[0] == '/');
	struct stat a, b;
	CHECK("exe_is_this_program", stat("/proc/self/exe", &a) == 0 && stat(target, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	struct stat l;
	CHECK("exe_lstat_is_link", lstat("/proc/self/exe", &l) == 0 && S_ISLNK(l.st_mode));

	n = readlink("/proc/self/cwd", target, sizeof target - 1);
	target[n > 0 ? n : 0] = '\0';
	CHECK("cwd_is_getcwd", getcwd(cwd, sizeof cwd) && strcmp(target, cwd) == 0);
	CHECK("cwd_follows_chdir", chdir("/usr") == 0 && (n = readlink("/proc/self/cwd", target, sizeof target - 1)) == 4 && memcmp(target, "/usr", 4) == 0);
	if (chdir(cwd) != 0)
		perror("chdir back");
	n = readlink("/proc/self/root", target, sizeof target - 1);
	CHECK("root_is_slash", n == 1 && target[0] == '/');

	n = slurp("/proc/self/cmdline", buf, sizeof buf);
	CHECK("cmdline_is_argv", n > 0 && strcmp(buf, argv[0]) == 0 && buf[n - 1] == '\0');
	n = slurp("/proc/self/environ", buf, sizeof buf);
	extern char **environ;
	CHECK("environ_is_initial_env", environ[0] ? n > 0 && strcmp(buf, environ[0]) == 0 : n == 0);
}

static void fds(void)
{
	char path[64], target[PATH_MAX];
	CHECK("fd1_exists", access("/proc/self/fd/1", F_OK) == 0);
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, target, sizeof target - 1);
	target[n > 0 ? n : 0] = '\0';
	CHECK("fd_link_names_path", strcmp(target, "/dev/null") == 0);
	struct stat st;
	CHECK("fd_link_follows_to_file", stat(path, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
	CHECK("fd_link_lstat", lstat(path, &st) == 0 && S_ISLNK(st.st_mode) && (st.st_mode & 0777) == 0700);

	int seen = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (atoi(e->d_name) == fd && e->d_name[0] != '.')
			seen++;
	int dfd = d ? dirfd(d) : -1;
	snprintf(path, sizeof path, "%d", dfd);
	rewinddir(d);
	int self_seen = 0;
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, path) == 0)
			self_seen = 1;
	if (d)
		closedir(d);
	CHECK("fd_dir_lists_open_fd", seen == 1);
	CHECK("fd_dir_lists_its_own_fd", self_seen);

	lseek(fd, 0, SEEK_SET);
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	CHECK("fdinfo_readable", slurp(path, buf, sizeof buf) > 0);
	const char *v = field(buf, "flags");
	unsigned long flags = v ? strtoul(v, NULL, 8) : 0;
	CHECK("fdinfo_flags_rdwr_cloexec", v && v[0] == '0' && (flags & O_ACCMODE) == O_RDWR && (flags & O_CLOEXEC));
	v = field(buf, "pos");
	CHECK("fdinfo_pos", v && atoi(v) == 0);

	close(fd);
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	CHECK_ERRNO("closed_fd_gone", ENOENT, access(path, F_OK));
	int p[2];
	CHECK("pipe", pipe(p) == 0);
	snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
	n = readlink(path, target, sizeof target - 1);
	target[n > 0 ? n : 0] = '\0';
	CHECK("pipe_link_name", strncmp(target, "pipe:[", 6) == 0 && target[n - 1] == ']');
	close(p[0]);
	close(p[1]);
}

static void maps(void)
{
	int local = 0;
	CHECK("maps_readable", slurp("/proc/self/maps", buf, sizeof buf) > 0);
	int stack = 0, code = 0, line_ok = 1;
	for (char *line = buf; *line;) {
		char *end = strchr(line, '\n');
		if (!end)
			break;
		*end = '\0';
		unsigned long lo, hi;
		char perms[5];
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3 || lo >= hi)
			line_ok = 0;
		uintptr_t here = (uintptr_t)&local, fn = (uintptr_t)&maps;
		if (strstr(line, "[stack]") && lo <= here && here < hi)
			stack = 1;
		if (lo <= fn && fn < hi && perms[2] == 'x')
			code = 1;
		line = end + 1;
	}
	CHECK("maps_lines_parse", line_ok);
	CHECK("maps_stack_holds_locals", stack);
	CHECK("maps_code_is_executable", code);
	CHECK("smaps_has_sizes", slurp("/proc/self/smaps", buf, sizeof buf) > 0 && strstr(buf, "\nSize:") && strstr(buf, "\nRss:"));
}

static void limits(void)
{
	struct rlimit r;
	getrlimit(RLIMIT_NOFILE, &r);
	CHECK("limits_readable", slurp("/proc/self/limits", buf, sizeof buf) > 0);
	CHECK("limits_header", strncmp(buf, "Limit                     Soft Limit           Hard Limit           Units     \n", 79) == 0);
	const char *v = strstr(buf, "Max open files");
	CHECK("limits_nofile_soft", v && strtoull(v + 26, NULL, 10) == r.rlim_cur);
}

static void *sleeper(void *arg)
{
	int *p = arg;
	read(p[0], buf, 1);
	return NULL;
}

static void tasks(void)
{
	int p[2];
	pthread_t t;
	if (pipe(p) != 0 || pthread_create(&t, NULL, sleeper, p) != 0) {
		CHECK("thread_started", 0);
		return;
	}
	int n = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	if (d)
		closedir(d);
	CHECK("task_lists_both_threads", n == 2);
	char status[4096];
	slurp("/proc/self/status", status, sizeof status);
	const char *v = field(status, "Threads");
	CHECK("status_threads_2", v && atoi(v) == 2);
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)syscall(SYS_gettid));
	slurp(path, status, sizeof status);
	CHECK("task_stat_is_this_thread", atoi(status) == (int)syscall(SYS_gettid));
	if (write(p[1], "x", 1) != 1)
		perror("write");
	pthread_join(t, NULL);
	close(p[0]);
	close(p[1]);
}

static void child(void)
{
	int p[2];
	if (pipe(p) != 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		char c;
		close(p[1]);
		read(p[0], &c, 1);
		_exit(3);
	}
	close(p[0]);
	char path[64], text[4096];
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	slurp(path, text, sizeof text);
	const char *v = field(text, "PPid");
	CHECK("child_ppid_is_us", v && atoi(v) == getpid());
	int found = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (atoi(e->d_name) == pid)
			found = 1;
	if (d)
		closedir(d);
	CHECK("proc_lists_child", found);
	close(p[1]);
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	char fields[64][32];
	int zombie = 0;
	for (int i = 0; i < 2000 && !zombie; i++) {
		if (slurp(path, text, sizeof text) > 0 && stat_fields(text, fields) > 0 && strcmp(fields[0], "Z") == 0)
			zombie = 1;
		else
			usleep(1000);
	}
	CHECK("exited_child_is_zombie", zombie);
	CHECK("zombie_exit_code", zombie && atoi(fields[49]) == 3 << 8);
	int status;
	waitpid(pid, &status, 0);
	snprintf(path, sizeof path, "/proc/%d", pid);
	CHECK_ERRNO("reaped_child_gone", ENOENT, access(path, F_OK));
	CHECK_ERRNO("no_pid_0", ENOENT, access("/proc/0", F_OK));
	CHECK_ERRNO("no_pid_with_leading_zero", ENOENT, access("/proc/01", F_OK));
}

static void system_files(void)
{
	struct utsname u;
	uname(&u);
	CHECK("meminfo_total", slurp("/proc/meminfo", buf, sizeof buf) > 0 && strncmp(buf, "MemTotal:", 9) == 0 && strtoul(buf + 9, NULL, 10) > 0);
	CHECK("meminfo_available", field(buf, "MemAvailable") != NULL);
	double up, idle;
	CHECK("uptime_two_numbers", slurp("/proc/uptime", buf, sizeof buf) > 0 && sscanf(buf, "%lf %lf", &up, &idle) == 2 && up >= 0);
	double l1, l5, l15;
	int run, total, last;
	CHECK("loadavg_format", slurp("/proc/loadavg", buf, sizeof buf) > 0 && sscanf(buf, "%lf %lf %lf %d/%d %d", &l1, &l5, &l15, &run, &total, &last) == 6 && run >= 1 && total >= run);
	CHECK("stat_has_cpu_and_btime", slurp("/proc/stat", buf, sizeof buf) > 0 && strncmp(buf, "cpu ", 4) == 0 && strstr(buf, "\nbtime "));
	CHECK("version_names_release", slurp("/proc/version", buf, sizeof buf) > 0 && strncmp(buf, "Linux version ", 14) == 0 && strstr(buf, u.release));
	CHECK("filesystems_has_proc", slurp("/proc/filesystems", buf, sizeof buf) > 0 && strstr(buf, "\tproc\n"));
	CHECK("mounts_has_proc", slurp("/proc/mounts", buf, sizeof buf) > 0 && strstr(buf, " /proc proc "));
	CHECK("mounts_has_root", strstr(buf, " / ") != NULL);
	CHECK("mountinfo_has_proc", slurp("/proc/self/mountinfo", buf, sizeof buf) > 0 && strstr(buf, " /proc ") && strstr(buf, " - proc "));
	CHECK("net_dev_header", slurp("/proc/self/net/dev", buf, sizeof buf) > 0 && strncmp(buf, "Inter-|", 7) == 0);
	CHECK("net_unix_header", slurp("/proc/net/unix", buf, sizeof buf) > 0 && strncmp(buf, "Num ", 4) == 0);

	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int count = 0;
	slurp("/proc/cpuinfo", buf, sizeof buf);
	for (char *p = buf; (p = strstr(p, "processor\t: ")); p++)
		count++;
	CHECK("cpuinfo_processors_match_sysconf", count == cpus);
	CHECK("cpuinfo_has_flags", strstr(buf, "\nflags\t\t: ") && strstr(buf, " sse2 "));

	CHECK("hostname_is_nodename", slurp("/proc/sys/kernel/hostname", buf, sizeof buf) > 0 && strncmp(buf, u.nodename, strlen(u.nodename)) == 0 && buf[strlen(u.nodename)] == '\n');
	CHECK("osrelease_is_release", slurp("/proc/sys/kernel/osrelease", buf, sizeof buf) > 0 && strncmp(buf, u.release, strlen(u.release)) == 0);
	CHECK("ostype_linux", slurp("/proc/sys/kernel/ostype", buf, sizeof buf) > 0 && strcmp(buf, "Linux\n") == 0);
	CHECK("pid_max_number", slurp("/proc/sys/kernel/pid_max", buf, sizeof buf) > 0 && atoi(buf) > getpid());
	CHECK("boot_id_uuid", slurp("/proc/sys/kernel/random/boot_id", buf, sizeof buf) == 37 && buf[8] == '-' && buf[14] == '4');
	CHECK("cap_last_cap_number", slurp("/proc/sys/kernel/cap_last_cap", buf, sizeof buf) > 0 && atoi(buf) >= 40);

	/* glibc reads /sys/devices/system/cpu/online for this count. */
	int lo = 0, hi = -1, online = 0;
	if (slurp("/sys/devices/system/cpu/online", buf, sizeof buf) > 0) {
		for (char *p = buf; *p && *p != '\n';) {
			int k = sscanf(p, "%d-%d", &lo, &hi);
			online += k == 2 ? hi - lo + 1 : k == 1 ? 1 : 0;
			p = strchr(p, ',') ? strchr(p, ',') + 1 : p + strlen(p);
		}
	}
	CHECK("sys_cpu_online_matches_sysconf", online == cpus);
	char dir[64];
	snprintf(dir, sizeof dir, "/sys/devices/system/cpu/cpu%ld", cpus - 1);
	CHECK("sys_cpu_dir_per_cpu", access(dir, F_OK) == 0);
}

static void dev(void)
{
	struct stat st;
	char target[64];
	ssize_t n = readlink("/dev/stdin", target, sizeof target - 1);
	CHECK("dev_stdin_link", n == 15 && memcmp(target, "/proc/self/fd/0", 15) == 0);
	n = readlink("/dev/fd", target, sizeof target - 1);
	CHECK("dev_fd_link", n == 13 && memcmp(target, "/proc/self/fd", 13) == 0);
	CHECK("dev_null_chr_1_3", stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
	CHECK("dev_tty_chr_5_0", stat("/dev/tty", &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(5, 0));
	CHECK("dev_ptmx_chr_5_2", stat("/dev/ptmx", &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(5, 2));
	CHECK("dev_pts_dir", stat("/dev/pts", &st) == 0 && S_ISDIR(st.st_mode));
	int fd = open("/dev/stderr", O_WRONLY);
	CHECK("dev_stderr_opens", fd >= 0);
	close(fd);
	unsigned char z[16];
	memset(z, 1, sizeof z);
	fd = open("/dev/zero", O_RDONLY);
	CHECK("dev_zero_zeros", fd >= 0 && read(fd, z, sizeof z) == sizeof z && z[0] == 0 && z[15] == 0);
	close(fd);
}

int main(int argc, char **argv)
{
	(void)argc;
	self_stat();
	self_status();
	self_links(argv);
	fds();
	maps();
	limits();
	tasks();
	child();
	system_files();
	dev();
	return check_exit();
}
