/*
 * pidfd.c — process file descriptors: pidfd_open, CLONE_PIDFD (clone and
 * clone3), pidfd_send_signal, pidfd_getfd, waitid(P_PIDFD), poll and epoll
 * readiness when the process ends, and what /proc and fcntl show of them;
 * pidfd_send_signal through a /proc/PID directory.
 *
 * Children report through exit statuses and pipes only; pids and fd numbers
 * are compared, never printed.
 */
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x1000
#endif

struct clone_args_v0 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static int pidfd_open(pid_t pid, unsigned flags)
{
	return (int)syscall(SYS_pidfd_open, pid, flags);
}

static int pidfd_send_signal(int fd, int sig, siginfo_t *info, unsigned flags)
{
	return (int)syscall(SYS_pidfd_send_signal, fd, sig, info, flags);
}

static int pidfd_getfd(int fd, int target, unsigned flags)
{
	return (int)syscall(SYS_pidfd_getfd, fd, target, flags);
}

/* A child that waits until `release` is closed (or written), then exits 0. */
static pid_t waiting_child(int release[2])
{
	if (pipe(release) != 0)
		return -1;
	pid_t c = fork();
	if (c == 0) {
		char b;
		close(release[1]);
		_exit(read(release[0], &b, 1) >= 0 ? 0 : 1);
	}
	close(release[0]);
	return c;
}

/* A child that has already exited (a zombie until waited for). */
static pid_t zombie_child(int code)
{
	pid_t c = fork();
	if (c == 0)
		_exit(code);
	/* Wait until it is gone without reaping it. */
	siginfo_t si;
	waitid(P_PID, c, &si, WEXITED | WNOWAIT);
	return c;
}

/* Whether /proc/self/fdinfo/FD holds `line`. */
static int fdinfo_has(int fd, const char *line)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	int f = open(path, O_RDONLY);
	if (f < 0)
		return 0;
	ssize_t n = read(f, buf, sizeof buf - 1);
	close(f);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return strstr(buf, line) != NULL;
}

static pid_t thread_tid;
static int thread_release[2], thread_ready[2];

/* A second thread: says its id, then waits to be released. */
static void *waiting_thread(void *arg)
{
	char b;
	(void)arg;
	thread_tid = gettid();
	write(thread_ready[1], "r", 1);
	read(thread_release[0], &b, 1);
	return NULL;
}

static void opening(void)
{
	CHECK_ERRNO("open_pid_0_einval", EINVAL, pidfd_open(0, 0));
	CHECK_ERRNO("open_negative_pid_einval", EINVAL, pidfd_open(-1, 0));
	CHECK_ERRNO("open_bad_flags_einval", EINVAL, pidfd_open(getpid(), 1));

	/* A thread other than the first is no process. */
	pipe(thread_release);
	pipe(thread_ready);
	pthread_t th;
	char r;
	pthread_create(&th, NULL, waiting_thread, NULL);
	read(thread_ready[0], &r, 1);
	/* EINVAL until Linux 6.9, ENOENT since. */
	errno = 0;
	int t = pidfd_open(thread_tid, 0), e = errno;
	CHECK("open_thread_fails", t == -1 && (e == EINVAL || e == ENOENT));
	write(thread_release[1], "g", 1);
	pthread_join(th, NULL);

	int release[2];
	pid_t c = waiting_child(release);
	int fd = pidfd_open(c, 0);
	CHECK("open_child", fd >= 0);
	CHECK("open_is_cloexec", fcntl(fd, F_GETFD) == FD_CLOEXEC);
	CHECK("open_is_rdwr", fcntl(fd, F_GETFL) == O_RDWR);
	int nb = pidfd_open(c, PIDFD_NONBLOCK);
	CHECK("open_nonblock_flag", fcntl(nb, F_GETFL) == (O_RDWR | O_NONBLOCK));

	char path[64], link[64] = {0};
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	CHECK("proc_fd_link", readlink(path, link, sizeof link - 1) > 0 &&
				      strcmp(link, "anon_inode:[pidfd]") == 0);
	char line[64];
	snprintf(line, sizeof line, "\nPid:\t%d\n", c);
	CHECK("fdinfo_pid", fdinfo_has(fd, line));
	snprintf(line, sizeof line, "\nNSpid:\t%d\n", c);
	CHECK("fdinfo_nspid", fdinfo_has(fd, line));
	CHECK("fdinfo_flags", fdinfo_has(fd, "flags:\t02000002\n"));

	char b[8];
	CHECK_ERRNO("read_einval", EINVAL, read(fd, b, sizeof b));
	CHECK_ERRNO("write_einval", EINVAL, write(fd, b, sizeof b));
	CHECK_ERRNO("lseek_espipe", ESPIPE, lseek(fd, 0, SEEK_CUR));

	/* Not readable while the process runs; readable once it has exited. */
	struct pollfd pf = {.fd = fd, .events = POLLIN};
	CHECK("poll_running_not_ready", poll(&pf, 1, 0) == 0);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 77};
	CHECK("epoll_add_pidfd", epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
	CHECK("epoll_running_not_ready", epoll_wait(ep, &ev, 1, 0) == 0);
	close(release[1]);
	pf.revents = 0;
	CHECK("poll_exited_ready", poll(&pf, 1, 10000) == 1 && (pf.revents & POLLIN));
	memset(&ev, 0, sizeof ev);
	CHECK("epoll_exited_ready", epoll_wait(ep, &ev, 1, 10000) == 1 &&
					    (ev.events & EPOLLIN) && ev.data.u64 == 77);
	close(ep);
	CHECK("fdinfo_zombie_pid", fdinfo_has(fd, line));

	siginfo_t si = {0};
	CHECK("waitid_pidfd", waitid(P_PIDFD, fd, &si, WEXITED) == 0 && si.si_pid == c &&
				      si.si_code == CLD_EXITED && si.si_status == 0);
	CHECK("fdinfo_reaped_pid", fdinfo_has(fd, "\nPid:\t-1\n") && fdinfo_has(fd, "\nNSpid:\t-1\n"));
	pf.revents = 0;
	CHECK("poll_reaped_ready", poll(&pf, 1, 0) == 1 && (pf.revents & POLLIN));
	CHECK_ERRNO("waitid_reaped_echild", ECHILD, waitid(P_PIDFD, fd, &si, WEXITED));
	CHECK_ERRNO("open_reaped_esrch", ESRCH, pidfd_open(c, 0));
	CHECK("close_pidfd", close(fd) == 0 && close(nb) == 0);

	/* A zombie can still be opened. */
	c = zombie_child(3);
	fd = pidfd_open(c, 0);
	CHECK("open_zombie", fd >= 0);
	pf.fd = fd;
	pf.revents = 0;
	CHECK("poll_zombie_ready", poll(&pf, 1, 0) == 1 && (pf.revents & POLLIN));
	si.si_pid = 0;
	CHECK("waitid_zombie_status", waitid(P_PIDFD, fd, &si, WEXITED) == 0 && si.si_pid == c &&
					      si.si_status == 3);
	close(fd);
}

static void waiting(void)
{
	siginfo_t si;
	CHECK_ERRNO("waitid_not_a_pidfd_ebadf", EBADF, waitid(P_PIDFD, 0, &si, WEXITED));
	CHECK_ERRNO("waitid_closed_fd_ebadf", EBADF, waitid(P_PIDFD, 999, &si, WEXITED));
	CHECK_ERRNO("waitid_negative_fd_einval", EINVAL, waitid(P_PIDFD, -1, &si, WEXITED));
	int self = pidfd_open(getpid(), 0);
	CHECK_ERRNO("waitid_self_echild", ECHILD, waitid(P_PIDFD, self, &si, WEXITED));

	int release[2];
	pid_t c = waiting_child(release);
	int nb = pidfd_open(c, PIDFD_NONBLOCK);
	CHECK_ERRNO("waitid_no_options_einval", EINVAL, waitid(P_PIDFD, nb, &si, 0));
	CHECK_ERRNO("waitid_nonblock_eagain", EAGAIN, waitid(P_PIDFD, nb, &si, WEXITED));
	si.si_pid = 123;
	CHECK("waitid_nonblock_wnohang", waitid(P_PIDFD, nb, &si, WEXITED | WNOHANG) == 0 && si.si_pid == 0);
	/* A duplicate works like the original. */
	int dup = fcntl(nb, F_DUPFD_CLOEXEC, 0);
	CHECK("dup_is_pidfd", dup >= 0 && fcntl(dup, F_GETFD) == FD_CLOEXEC);
	CHECK("dup_sig0", pidfd_send_signal(dup, 0, NULL, 0) == 0);
	close(release[1]);
	struct pollfd pf = {.fd = dup, .events = POLLIN};
	poll(&pf, 1, 10000);
	CHECK("waitid_nonblock_after_exit", waitid(P_PIDFD, nb, &si, WEXITED) == 0 && si.si_pid == c);
	close(dup);
	close(nb);
	close(self);
}

static volatile sig_atomic_t usr1_code, usr1_value;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	usr1_code = si->si_code;
	usr1_value = si->si_value.sival_int;
}

/* In the child: SIGUSR1 says what siginfo it carried. */
static volatile sig_atomic_t child_got;

static void child_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	child_got = si->si_code == SI_QUEUE && si->si_value.sival_int == 99 ? 1 : 2;
}

static void signalling(void)
{
	CHECK_ERRNO("send_not_a_pidfd_ebadf", EBADF, pidfd_send_signal(0, SIGUSR1, NULL, 0));
	CHECK_ERRNO("send_closed_fd_ebadf", EBADF, pidfd_send_signal(999, SIGUSR1, NULL, 0));

	int ready[2];
	pipe(ready);
	pid_t c = fork();
	if (c == 0) {
		struct sigaction sa = {0};
		sa.sa_sigaction = child_usr1;
		sa.sa_flags = SA_SIGINFO;
		sigaction(SIGUSR1, &sa, NULL);
		close(ready[0]);
		write(ready[1], "r", 1);
		while (!child_got)
			pause();
		_exit(child_got == 1 ? 9 : 8);
	}
	close(ready[1]);
	char b;
	read(ready[0], &b, 1);
	close(ready[0]);
	int fd = pidfd_open(c, 0);
	CHECK_ERRNO("send_bad_flags_einval", EINVAL, pidfd_send_signal(fd, SIGUSR1, NULL, 1 << 20));
	CHECK_ERRNO("send_bad_signal_einval", EINVAL, pidfd_send_signal(fd, 100, NULL, 0));
	CHECK("send_signal_0", pidfd_send_signal(fd, 0, NULL, 0) == 0);
	siginfo_t info;
	memset(&info, 0, sizeof info);
	info.si_signo = SIGUSR2;
	info.si_code = SI_QUEUE;
	CHECK_ERRNO("send_info_other_signal_einval", EINVAL, pidfd_send_signal(fd, SIGUSR1, &info, 0));
	info.si_signo = SIGUSR1;
	info.si_code = SI_USER;
	CHECK_ERRNO("send_kernel_code_to_other_eperm", EPERM, pidfd_send_signal(fd, SIGUSR1, &info, 0));
	CHECK_ERRNO("send_bad_info_efault", EFAULT, pidfd_send_signal(fd, SIGUSR1, (siginfo_t *)8, 0));
	info.si_code = SI_QUEUE;
	info.si_pid = getpid();
	info.si_uid = getuid();
	info.si_value.sival_int = 99;
	CHECK("send_queued_info", pidfd_send_signal(fd, SIGUSR1, &info, 0) == 0);
	int st = 0;
	CHECK("child_saw_queued_info", waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 9);
	CHECK_ERRNO("send_reaped_esrch", ESRCH, pidfd_send_signal(fd, SIGUSR1, NULL, 0));
	CHECK_ERRNO("send_reaped_sig0_esrch", ESRCH, pidfd_send_signal(fd, 0, NULL, 0));
	close(fd);

	/* SIGKILL through a pidfd. */
	int release[2];
	c = waiting_child(release);
	fd = pidfd_open(c, 0);
	CHECK("send_sigkill", pidfd_send_signal(fd, SIGKILL, NULL, 0) == 0);
	siginfo_t si = {0};
	CHECK("sigkill_seen_by_waitid", waitid(P_PIDFD, fd, &si, WEXITED) == 0 &&
						si.si_code == CLD_KILLED && si.si_status == SIGKILL);
	close(release[1]);
	close(fd);

	/* A zombie takes signals (to no effect). */
	c = zombie_child(0);
	fd = pidfd_open(c, 0);
	CHECK("send_zombie", pidfd_send_signal(fd, SIGUSR1, NULL, 0) == 0);
	waitpid(c, NULL, 0);
	close(fd);

	/* To itself, any code goes. */
	struct sigaction sa = {0};
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, NULL);
	int self = pidfd_open(getpid(), 0);
	info.si_code = SI_QUEUE;
	info.si_value.sival_int = 5;
	CHECK("send_self_queued", pidfd_send_signal(self, SIGUSR1, &info, 0) == 0 &&
					  usr1_code == SI_QUEUE && usr1_value == 5);
	info.si_code = SI_USER;
	CHECK("send_self_kernel_code", pidfd_send_signal(self, SIGUSR1, &info, 0) == 0 && usr1_code == SI_USER);
	usr1_code = 1234;
	CHECK("send_self_plain", pidfd_send_signal(self, SIGUSR1, NULL, 0) == 0 && usr1_code == SI_USER);
	signal(SIGUSR1, SIG_DFL);
	close(self);
}

static void getting_fds(void)
{
	CHECK_ERRNO("getfd_not_a_pidfd_ebadf", EBADF, pidfd_getfd(0, 0, 0));
	int data[2], ready[2], release[2];
	pipe(data);
	pipe(ready);
	pipe(release);
	pid_t c = fork();
	if (c == 0) {
		char b;
		dup2(data[1], 50);
		close(data[0]);
		close(data[1]);
		close(ready[0]);
		close(release[1]);
		write(ready[1], "r", 1);
		_exit(read(release[0], &b, 1) >= 0 ? 0 : 1);
	}
	close(data[1]);
	close(ready[1]);
	close(release[0]);
	char b;
	read(ready[0], &b, 1);
	close(ready[0]);
	int fd = pidfd_open(c, 0);
	CHECK_ERRNO("getfd_bad_flags_einval", EINVAL, pidfd_getfd(fd, 50, 1));
	CHECK_ERRNO("getfd_no_such_fd_ebadf", EBADF, pidfd_getfd(fd, 49, 0));
	CHECK_ERRNO("getfd_negative_fd_ebadf", EBADF, pidfd_getfd(fd, -1, 0));
	int got = pidfd_getfd(fd, 50, 0);
	CHECK("getfd_child_fd", got >= 0);
	CHECK("getfd_is_cloexec", fcntl(got, F_GETFD) == FD_CLOEXEC);
	CHECK("getfd_same_pipe", write(got, "z", 1) == 1 && read(data[0], &b, 1) == 1 && b == 'z');
	close(got);
	close(release[1]);
	siginfo_t si;
	waitid(P_PID, c, &si, WEXITED | WNOWAIT);
	CHECK_ERRNO("getfd_zombie_esrch", ESRCH, pidfd_getfd(fd, 50, 0));
	waitpid(c, NULL, 0);
	CHECK_ERRNO("getfd_reaped_esrch", ESRCH, pidfd_getfd(fd, 50, 0));
	close(fd);
	close(data[0]);

	int self = pidfd_open(getpid(), 0);
	got = pidfd_getfd(self, 1, 0);
	CHECK("getfd_own_fd", got >= 0 && got != 1 && fcntl(got, F_GETFD) == FD_CLOEXEC);
	close(got);

	/* Another user without CAP_SYS_PTRACE may not take root's descriptors. Needs root to
	 * set up; passes without. */
	int privileged = getuid() == 0 && geteuid() == 0;
	c = fork();
	if (c == 0) {
		if (!privileged)
			_exit(0);
		if (setresgid(1000, 1000, 1000) != 0 || setresuid(1000, 1000, 1000) != 0)
			_exit(2);
		errno = 0;
		int r = pidfd_getfd(self, 1, 0);
		_exit(r == -1 && errno == EPERM ? 0 : 1);
	}
	int st = -1;
	CHECK("getfd_other_user_eperm", waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(self);
}

static void cloning(void)
{
	int pidfd = -1;
	long c = syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, &pidfd, 0, 0);
	if (c == 0)
		_exit(7);
	CHECK("clone_pidfd", c > 0 && pidfd >= 0 && fcntl(pidfd, F_GETFD) == FD_CLOEXEC);
	siginfo_t si = {0};
	CHECK("clone_pidfd_waitid", waitid(P_PIDFD, pidfd, &si, WEXITED) == 0 && si.si_pid == c &&
					    si.si_status == 7);
	close(pidfd);

	int tid = 0;
	CHECK_ERRNO("clone_pidfd_with_parent_settid_einval", EINVAL,
		    syscall(SYS_clone, CLONE_PIDFD | CLONE_PARENT_SETTID | SIGCHLD, 0, &tid, 0, 0));
	CHECK_ERRNO("clone_pidfd_bad_address_efault", EFAULT,
		    syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, (void *)8, 0, 0));
	CHECK_ERRNO("clone_pidfd_efault_made_no_child", ECHILD, waitpid(-1, NULL, WNOHANG));

	struct clone_args_v0 ca;
	memset(&ca, 0, sizeof ca);
	pidfd = -1;
	ca.flags = CLONE_PIDFD | CLONE_PARENT_SETTID;
	ca.pidfd = (uintptr_t)&pidfd;
	ca.parent_tid = (uintptr_t)&tid;
	ca.exit_signal = SIGCHLD;
	c = syscall(SYS_clone3, &ca, sizeof ca);
	if (c == 0)
		_exit(4);
	CHECK("clone3_pidfd_and_parent_tid", c > 0 && pidfd >= 0 && tid == c);
	CHECK("clone3_pidfd_waitid", waitid(P_PIDFD, pidfd, &si, WEXITED) == 0 && si.si_pid == c &&
					     si.si_status == 4);
	close(pidfd);
	ca.parent_tid = ca.pidfd;
	CHECK_ERRNO("clone3_pidfd_same_address_einval", EINVAL, syscall(SYS_clone3, &ca, sizeof ca));
}

/* Linux takes a descriptor of a /proc/PID directory (not of a thread's, nor of anything
 * else in /proc) as a pidfd for pidfd_send_signal. */
static void proc_directories(void)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d", getpid());
	int self = open(path, O_RDONLY | O_DIRECTORY);
	struct sigaction sa = {0};
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, NULL);
	usr1_code = 1234;
	CHECK("procdir_send_self", pidfd_send_signal(self, SIGUSR1, NULL, 0) == 0 && usr1_code == SI_USER);
	signal(SIGUSR1, SIG_DFL);
	CHECK("procdir_sig0", pidfd_send_signal(self, 0, NULL, 0) == 0);
	CHECK_ERRNO("procdir_bad_flags_einval", EINVAL, pidfd_send_signal(self, 0, NULL, 1 << 20));
	close(self);

	int root = open("/proc", O_RDONLY | O_DIRECTORY);
	CHECK_ERRNO("procroot_ebadf", EBADF, pidfd_send_signal(root, 0, NULL, 0));
	close(root);
	snprintf(path, sizeof path, "/proc/%d/task/%d", getpid(), getpid());
	int task = open(path, O_RDONLY | O_DIRECTORY);
	CHECK_ERRNO("proc_task_dir_ebadf", EBADF, pidfd_send_signal(task, 0, NULL, 0));
	close(task);
	snprintf(path, sizeof path, "/proc/%d/stat", getpid());
	int stat = open(path, O_RDONLY);
	CHECK_ERRNO("proc_stat_file_ebadf", EBADF, pidfd_send_signal(stat, 0, NULL, 0));
	close(stat);

	int release[2];
	pid_t c = waiting_child(release);
	snprintf(path, sizeof path, "/proc/%d", c);
	int dir = open(path, O_RDONLY | O_DIRECTORY);
	CHECK("procdir_sigkill_child", pidfd_send_signal(dir, SIGKILL, NULL, 0) == 0);
	int st = 0;
	CHECK("procdir_child_killed", waitpid(c, &st, 0) == c && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	CHECK_ERRNO("procdir_reaped_esrch", ESRCH, pidfd_send_signal(dir, 0, NULL, 0));
	close(release[1]);
	close(dir);
}

int main(void)
{
	opening();
	waiting();
	signalling();
	proc_directories();
	getting_fds();
	cloning();
	return check_exit();
}
