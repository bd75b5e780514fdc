/*
 * events.c — eventfd, epoll (level, edge, one-shot, nesting, errors),
 * timerfd (one-shot, periodic, absolute, with poll and epoll) and signalfd.
 *
 * Times are checked with generous bounds only; children report through
 * exit statuses, so every line stays deterministic.
 */
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static uint64_t rd(int fd, ssize_t *n)
{
	uint64_t v = 0;
	*n = read(fd, &v, sizeof v);
	return v;
}

/* A read of one counter: the byte count or -1. */
static ssize_t rdn(int fd)
{
	uint64_t v;
	return read(fd, &v, sizeof v);
}

static ssize_t wr(int fd, uint64_t v)
{
	return write(fd, &v, sizeof v);
}

static int add(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = {.events = events, .data.u64 = data};
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static int mod(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = {.events = events, .data.u64 = data};
	return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

/* epoll_wait into a small array; returns the count. */
static struct epoll_event got[8];
static int wait_ep(int ep, int max, int timeout)
{
	memset(got, 0, sizeof got);
	return epoll_wait(ep, got, max, timeout);
}

static void test_eventfd(void)
{
	ssize_t n;
	int fd = eventfd(3, EFD_NONBLOCK | EFD_CLOEXEC);
	CHECK("eventfd_create", fd >= 0);
	CHECK("eventfd_cloexec", fcntl(fd, F_GETFD) == FD_CLOEXEC);
	int fl = fcntl(fd, F_GETFL);
	CHECK("eventfd_flags", (fl & O_ACCMODE) == O_RDWR && (fl & O_NONBLOCK));
	struct stat st;
	CHECK("eventfd_fstat", fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == 0);
	CHECK("eventfd_read_initial", rd(fd, &n) == 3 && n == 8);
	CHECK_ERRNO("eventfd_read_empty_eagain", EAGAIN, rdn(fd));
	CHECK("eventfd_write", wr(fd, 5) == 8);
	CHECK("eventfd_write_adds", wr(fd, 2) == 8 && rd(fd, &n) == 7);
	char small[4] = {0};
	CHECK_ERRNO("eventfd_read_short", EINVAL, read(fd, small, sizeof small));
	CHECK_ERRNO("eventfd_write_short", EINVAL, write(fd, small, sizeof small));
	CHECK_ERRNO("eventfd_write_max", EINVAL, wr(fd, UINT64_MAX));
	CHECK("eventfd_write_to_limit", wr(fd, UINT64_MAX - 1) == 8);
	CHECK_ERRNO("eventfd_overflow_eagain", EAGAIN, wr(fd, 1));
	struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
	CHECK("eventfd_full_not_writable", poll(&p, 1, 0) == 1 && p.revents == POLLIN);
	CHECK("eventfd_write_zero_when_full", wr(fd, 0) == 8);
	CHECK("eventfd_read_limit", rd(fd, &n) == UINT64_MAX - 1);
	p.revents = 0;
	CHECK("eventfd_empty_writable", poll(&p, 1, 0) == 1 && p.revents == POLLOUT);
	close(fd);

	fd = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
	uint64_t a = rd(fd, &n), b = rd(fd, &n);
	CHECK("eventfd_semaphore", a == 1 && b == 1);
	CHECK_ERRNO("eventfd_semaphore_empty", EAGAIN, rdn(fd));
	close(fd);

	CHECK_ERRNO("eventfd_bad_flags", EINVAL, eventfd(0, 2));
	CHECK("eventfd_legacy", (fd = syscall(SYS_eventfd, 4)) >= 0 && rd(fd, &n) == 4);
	close(fd);

	/* A blocking read waits for a write from another process. */
	fd = eventfd(0, 0);
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(30);
		_exit(wr(fd, 9) == 8 ? 0 : 1);
	}
	CHECK("eventfd_blocking_read", rd(fd, &n) == 9);
	int status;
	CHECK("eventfd_writer_exit", waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fd);
}

static void test_epoll_errors(void)
{
	int p[2];
	pipe(p);
	CHECK_ERRNO("epoll_create_zero", EINVAL, epoll_create(0));
	CHECK_ERRNO("epoll_create1_bad_flags", EINVAL, epoll_create1(1));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK("epoll_create1_cloexec", ep >= 0 && fcntl(ep, F_GETFD) == FD_CLOEXEC);
	int old = epoll_create(1);
	CHECK("epoll_create_legacy", old >= 0 && fcntl(old, F_GETFD) == 0);
	CHECK("epoll_ctl_add", add(ep, p[0], EPOLLIN, 1) == 0);
	CHECK_ERRNO("epoll_ctl_add_twice", EEXIST, add(ep, p[0], EPOLLIN, 1));
	CHECK_ERRNO("epoll_ctl_mod_missing", ENOENT, mod(ep, p[1], EPOLLOUT, 1));
	CHECK_ERRNO("epoll_ctl_del_missing", ENOENT, epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL));
	CHECK_ERRNO("epoll_ctl_bad_fd", EBADF, add(ep, 999, EPOLLIN, 1));
	CHECK_ERRNO("epoll_ctl_bad_epfd", EBADF, add(999, p[0], EPOLLIN, 1));
	CHECK_ERRNO("epoll_ctl_not_epoll", EINVAL, add(p[1], p[0], EPOLLIN, 1));
	CHECK_ERRNO("epoll_ctl_self", EINVAL, add(ep, ep, EPOLLIN, 1));
	CHECK_ERRNO("epoll_ctl_bad_op", EINVAL, epoll_ctl(ep, 42, p[1], &(struct epoll_event){0}));
	CHECK_ERRNO("epoll_ctl_bad_event_ptr", EFAULT, epoll_ctl(ep, EPOLL_CTL_ADD, p[1], (struct epoll_event *)8));
	int dir = open("/", O_RDONLY | O_DIRECTORY);
	CHECK_ERRNO("epoll_ctl_directory_eperm", EPERM, add(ep, dir, EPOLLIN, 1));
	CHECK_ERRNO("epoll_ctl_eperm_before_einval", EPERM, add(p[0], dir, EPOLLIN, 1));
	close(dir);
	int null = open("/dev/null", O_RDONLY);
	CHECK_ERRNO("epoll_ctl_dev_null_eperm", EPERM, add(ep, null, EPOLLIN, 1));
	close(null);
	CHECK("epoll_ctl_nest", add(ep, old, EPOLLIN, 2) == 0);
	CHECK_ERRNO("epoll_ctl_loop", ELOOP, add(old, ep, EPOLLIN, 3));
	CHECK_ERRNO("epoll_ctl_exclusive_epoll", EINVAL, add(old + 0, ep, EPOLLIN | EPOLLEXCLUSIVE, 3));
	CHECK("epoll_ctl_exclusive", add(ep, p[1], EPOLLOUT | EPOLLEXCLUSIVE, 4) == 0);
	CHECK_ERRNO("epoll_ctl_exclusive_mod", EINVAL, mod(ep, p[1], EPOLLOUT, 4));
	int efd = eventfd(0, 0);
	CHECK_ERRNO("epoll_ctl_exclusive_bad_bits", EINVAL, add(ep, efd, EPOLLIN | EPOLLPRI | EPOLLEXCLUSIVE, 5));
	close(efd);
	struct epoll_event evs[2];
	CHECK_ERRNO("epoll_wait_zero_max", EINVAL, epoll_wait(ep, evs, 0, 0));
	CHECK_ERRNO("epoll_wait_negative_max", EINVAL, syscall(SYS_epoll_wait, ep, evs, -1, 0));
	CHECK_ERRNO("epoll_wait_not_epoll", EINVAL, epoll_wait(p[0], evs, 2, 0));
	CHECK_ERRNO("epoll_wait_bad_fd", EBADF, epoll_wait(999, evs, 2, 0));
	CHECK_ERRNO("epoll_pwait_bad_sigsetsize", EINVAL, syscall(SYS_epoll_pwait, ep, evs, 2, 0, &(sigset_t){{0}}, 4));
	close(ep);
	close(old);
	close(p[0]);
	close(p[1]);
}

static void test_epoll_level_edge(void)
{
	int p[2];
	pipe(p);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	int ep = epoll_create1(0);
	char buf[16];

	add(ep, p[0], EPOLLIN, 11);
	CHECK("epoll_lt_empty", wait_ep(ep, 8, 0) == 0);
	write(p[1], "x", 1);
	CHECK("epoll_lt_ready", wait_ep(ep, 8, 0) == 1 && got[0].events == EPOLLIN && got[0].data.u64 == 11);
	CHECK("epoll_lt_still_ready", wait_ep(ep, 8, 0) == 1 && got[0].data.u64 == 11);
	read(p[0], buf, sizeof buf);
	CHECK("epoll_lt_drained", wait_ep(ep, 8, 0) == 0);

	long long t0 = now_ms();
	int r = wait_ep(ep, 8, 50);
	long long dt = now_ms() - t0;
	CHECK("epoll_wait_timeout", r == 0 && dt >= 40 && dt < 5000);

	CHECK("epoll_mod_et", mod(ep, p[0], EPOLLIN | EPOLLET, 12) == 0);
	write(p[1], "ab", 2);
	CHECK("epoll_et_first", wait_ep(ep, 8, 0) == 1 && got[0].events == EPOLLIN && got[0].data.u64 == 12);
	CHECK("epoll_et_once", wait_ep(ep, 8, 0) == 0);
	write(p[1], "c", 1);
	CHECK("epoll_et_new_data", wait_ep(ep, 8, 0) == 1);
	CHECK("epoll_et_drain", read(p[0], buf, sizeof buf) == 3 && wait_ep(ep, 8, 0) == 0);
	write(p[1], "d", 1);
	CHECK("epoll_et_refill", wait_ep(ep, 8, 0) == 1);
	read(p[0], buf, sizeof buf);

	/* Output readiness of the write end, and hang-up of the read end. */
	add(ep, p[1], EPOLLOUT, 13);
	CHECK("epoll_pipe_writable", wait_ep(ep, 8, 0) == 1 && got[0].events == EPOLLOUT && got[0].data.u64 == 13);
	epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL);
	CHECK("epoll_del", wait_ep(ep, 8, 0) == 0);
	mod(ep, p[0], EPOLLIN, 14);
	close(p[1]);
	CHECK("epoll_pipe_hangup", wait_ep(ep, 8, 0) == 1 && got[0].events == EPOLLHUP && got[0].data.u64 == 14);
	close(p[0]);
	CHECK("epoll_close_removes", wait_ep(ep, 8, 0) == 0);

	/* One-shot and edge-triggered eventfds. */
	int efd = eventfd(1, EFD_NONBLOCK);
	add(ep, efd, EPOLLIN | EPOLLONESHOT, 21);
	CHECK("epoll_oneshot_first", wait_ep(ep, 8, 0) == 1 && got[0].data.u64 == 21);
	CHECK("epoll_oneshot_disabled", wait_ep(ep, 8, 0) == 0);
	wr(efd, 1);
	CHECK("epoll_oneshot_stays_disabled", wait_ep(ep, 8, 0) == 0);
	mod(ep, efd, EPOLLIN | EPOLLONESHOT, 22);
	CHECK("epoll_oneshot_rearmed", wait_ep(ep, 8, 0) == 1 && got[0].data.u64 == 22);
	mod(ep, efd, EPOLLIN | EPOLLET, 23);
	CHECK("epoll_et_eventfd_first", wait_ep(ep, 8, 0) == 1 && got[0].data.u64 == 23);
	CHECK("epoll_et_eventfd_once", wait_ep(ep, 8, 0) == 0);
	wr(efd, 1);
	CHECK("epoll_et_eventfd_write", wait_ep(ep, 8, 0) == 1 && got[0].data.u64 == 23);
	epoll_ctl(ep, EPOLL_CTL_DEL, efd, NULL);

	/* An interest lives as long as its open file description. */
	int dupfd = dup(efd);
	add(ep, efd, EPOLLIN, 24);
	close(efd);
	CHECK("epoll_interest_survives_dup", wait_ep(ep, 8, 0) == 1 && got[0].data.u64 == 24);
	CHECK_ERRNO("epoll_del_closed_fd", EBADF, epoll_ctl(ep, EPOLL_CTL_DEL, efd, NULL));
	close(dupfd);
	CHECK("epoll_interest_gone_with_file", wait_ep(ep, 8, 0) == 0);

	/* maxevents smaller than the ready set: every file gets its turn. */
	int e1 = eventfd(1, 0), e2 = eventfd(1, 0);
	add(ep, e1, EPOLLIN, 31);
	add(ep, e2, EPOLLIN, 32);
	int n1 = wait_ep(ep, 1, 0);
	uint64_t first = got[0].data.u64;
	int n2 = wait_ep(ep, 1, 0);
	CHECK("epoll_maxevents_rotates", n1 == 1 && n2 == 1 && first != got[0].data.u64);
	CHECK("epoll_both_ready", wait_ep(ep, 8, 0) == 2);

	/* Nested: an epoll watching a ready epoll sees it readable. */
	int outer = epoll_create1(0);
	add(outer, ep, EPOLLIN, 41);
	CHECK("epoll_nested_ready", wait_ep(outer, 8, 0) == 1 && got[0].events == EPOLLIN && got[0].data.u64 == 41);
	struct pollfd pf = {.fd = ep, .events = POLLIN};
	CHECK("epoll_fd_pollable", poll(&pf, 1, 0) == 1 && pf.revents == POLLIN);
	close(outer);
	close(e1);
	close(e2);

	/* A blocked epoll_wait wakes when another process writes. */
	int ev = eventfd(0, 0);
	add(ep, ev, EPOLLIN, 51);
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(30);
		_exit(wr(ev, 1) == 8 ? 0 : 1);
	}
	CHECK("epoll_wait_blocks_until_write", wait_ep(ep, 8, 5000) == 1 && got[0].data.u64 == 51);
	int status;
	waitpid(pid, &status, 0);
	ssize_t n;
	rd(ev, &n);
	close(ev);

	/* epoll_pwait2 with a zero timeout. */
	struct timespec zero = {0, 0};
	CHECK("epoll_pwait2_zero", syscall(SYS_epoll_pwait2, ep, got, 8, &zero, NULL, 8) == 0);
	struct timespec bad = {0, 1000000000};
	CHECK_ERRNO("epoll_pwait2_bad_timeout", EINVAL, syscall(SYS_epoll_pwait2, ep, got, 8, &bad, NULL, 8));
	close(ep);
}

static volatile sig_atomic_t got_usr1;
static void on_usr1(int sig)
{
	(void)sig;
	got_usr1++;
}

static void test_epoll_pwait_mask(void)
{
	int ep = epoll_create1(0);
	int efd = eventfd(0, 0);
	add(ep, efd, EPOLLIN, 1);
	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t block, empty, cur;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigemptyset(&empty);
	sigprocmask(SIG_BLOCK, &block, NULL);
	raise(SIGUSR1);
	CHECK("epoll_pwait_blocked_signal_waits", epoll_pwait(ep, got, 8, 0, &block) == 0 && got_usr1 == 0);
	errno = 0;
	int r = epoll_pwait(ep, got, 8, 5000, &empty);
	int e = errno;
	CHECK("epoll_pwait_interrupted", r == -1 && e == EINTR && got_usr1 == 1);
	sigprocmask(SIG_BLOCK, NULL, &cur);
	CHECK("epoll_pwait_mask_restored", sigismember(&cur, SIGUSR1) == 1);
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGUSR1, &sa, NULL);
	close(efd);
	close(ep);
}

static void test_timerfd(void)
{
	ssize_t n;
	CHECK_ERRNO("timerfd_bad_clock", EINVAL, timerfd_create(12345, 0));
	CHECK_ERRNO("timerfd_bad_flags", EINVAL, timerfd_create(CLOCK_MONOTONIC, 1));
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	CHECK("timerfd_create", fd >= 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC);
	CHECK_ERRNO("timerfd_disarmed_eagain", EAGAIN, rdn(fd));
	struct itimerspec its = {0}, old;
	CHECK("timerfd_gettime_disarmed", timerfd_gettime(fd, &old) == 0 && old.it_value.tv_sec == 0 && old.it_value.tv_nsec == 0);

	/* One-shot, 30 ms. */
	its.it_value.tv_nsec = 30 * 1000000;
	long long t0 = now_ms();
	CHECK("timerfd_settime", timerfd_settime(fd, 0, &its, NULL) == 0);
	CHECK_ERRNO("timerfd_not_yet", EAGAIN, rdn(fd));
	struct itimerspec cur;
	timerfd_gettime(fd, &cur);
	CHECK("timerfd_gettime_armed", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 30 * 1000000 && cur.it_interval.tv_nsec == 0);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int pr = poll(&p, 1, 5000);
	CHECK("timerfd_poll_wakes", pr == 1 && p.revents == POLLIN && now_ms() - t0 >= 25);
	CHECK("timerfd_oneshot_count", rd(fd, &n) == 1);
	CHECK_ERRNO("timerfd_oneshot_consumed", EAGAIN, rdn(fd));
	timerfd_gettime(fd, &cur);
	CHECK("timerfd_oneshot_expired_gettime", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0);
	char small[4];
	CHECK_ERRNO("timerfd_read_short", EINVAL, read(fd, small, sizeof small));

	/* Periodic, 10 ms: after 45 ms at least 3 expirations. */
	its.it_value.tv_nsec = 10 * 1000000;
	its.it_interval.tv_nsec = 10 * 1000000;
	timerfd_settime(fd, 0, &its, NULL);
	sleep_ms(45);
	uint64_t count = rd(fd, &n);
	CHECK("timerfd_periodic_count", n == 8 && count >= 3 && count < 1000);
	timerfd_gettime(fd, &cur);
	CHECK("timerfd_periodic_gettime", cur.it_interval.tv_sec == 0 && cur.it_interval.tv_nsec == 10 * 1000000 && cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 10 * 1000000);

	/* Disarm, and the old value comes back. */
	struct itimerspec off = {0};
	CHECK("timerfd_disarm", timerfd_settime(fd, 0, &off, &old) == 0 && old.it_interval.tv_nsec == 10 * 1000000);
	CHECK_ERRNO("timerfd_disarmed_again", EAGAIN, rdn(fd));
	close(fd);

	/* Blocking read of an absolute monotonic deadline. */
	fd = timerfd_create(CLOCK_MONOTONIC, 0);
	struct timespec mono;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	its.it_interval.tv_nsec = 0;
	its.it_value = mono;
	its.it_value.tv_nsec += 30 * 1000000;
	if (its.it_value.tv_nsec >= 1000000000) {
		its.it_value.tv_nsec -= 1000000000;
		its.it_value.tv_sec++;
	}
	t0 = now_ms();
	timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
	uint64_t c = rd(fd, &n);
	CHECK("timerfd_abstime_blocking_read", n == 8 && c == 1 && now_ms() - t0 >= 25);
	close(fd);

	/* A past absolute realtime deadline expires at once. */
	fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
	struct timespec real;
	clock_gettime(CLOCK_REALTIME, &real);
	its.it_value.tv_sec = real.tv_sec - 10;
	its.it_value.tv_nsec = 0;
	timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
	CHECK("timerfd_abstime_past", rd(fd, &n) == 1);
	its.it_value.tv_nsec = 1000000000;
	CHECK_ERRNO("timerfd_settime_bad_nsec", EINVAL, timerfd_settime(fd, 0, &its, NULL));
	its.it_value.tv_nsec = 0;
	CHECK_ERRNO("timerfd_settime_bad_flags", EINVAL, timerfd_settime(fd, 4, &its, NULL));
	close(fd);
	int efd = eventfd(0, 0);
	CHECK_ERRNO("timerfd_settime_not_timerfd", EINVAL, timerfd_settime(efd, 0, &its, NULL));
	CHECK_ERRNO("timerfd_gettime_not_timerfd", EINVAL, timerfd_gettime(efd, &cur));
	CHECK_ERRNO("timerfd_gettime_bad_fd", EBADF, timerfd_gettime(999, &cur));
	close(efd);

	/* epoll wakes for a timer. */
	fd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK);
	int ep = epoll_create1(0);
	add(ep, fd, EPOLLIN, 77);
	its.it_value.tv_sec = 0;
	its.it_value.tv_nsec = 30 * 1000000;
	t0 = now_ms();
	timerfd_settime(fd, 0, &its, NULL);
	int r = wait_ep(ep, 8, 5000);
	CHECK("timerfd_epoll_wakes", r == 1 && got[0].data.u64 == 77 && now_ms() - t0 >= 25);
	CHECK("timerfd_epoll_read", rd(fd, &n) == 1);
	close(ep);
	close(fd);
}

static void test_signalfd(void)
{
	sigset_t mask, old;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigprocmask(SIG_BLOCK, &mask, &old);

	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, SIGUSR1);
	int fd = signalfd(-1, &one, SFD_NONBLOCK | SFD_CLOEXEC);
	CHECK("signalfd_create", fd >= 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC);
	struct signalfd_siginfo si[2];
	CHECK_ERRNO("signalfd_empty_eagain", EAGAIN, read(fd, si, sizeof si));
	struct pollfd p = {.fd = fd, .events = POLLIN};
	CHECK("signalfd_poll_empty", poll(&p, 1, 0) == 0);
	raise(SIGUSR1);
	p.revents = 0;
	CHECK("signalfd_poll_pending", poll(&p, 1, 0) == 1 && p.revents == POLLIN);
	char small[64];
	CHECK_ERRNO("signalfd_read_short", EINVAL, read(fd, small, sizeof small));
	memset(si, 0, sizeof si);
	CHECK("signalfd_read", read(fd, si, sizeof si) == sizeof si[0]);
	CHECK("signalfd_siginfo", si[0].ssi_signo == SIGUSR1 && si[0].ssi_code == SI_TKILL && si[0].ssi_pid == (uint32_t)getpid() && si[0].ssi_uid == getuid());
	CHECK_ERRNO("signalfd_consumed", EAGAIN, read(fd, si, sizeof si));

	/* A new mask on the same descriptor; a process-directed signal. */
	sigset_t two;
	sigemptyset(&two);
	sigaddset(&two, SIGUSR2);
	CHECK("signalfd_update_mask", signalfd(fd, &two, 0) == fd);
	kill(getpid(), SIGUSR2);
	memset(si, 0, sizeof si);
	CHECK("signalfd_read_updated", read(fd, si, sizeof si) == sizeof si[0] && si[0].ssi_signo == SIGUSR2 && si[0].ssi_code == SI_USER);

	/* sigqueue carries a value. */
	sigset_t rt;
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &rt, NULL);
	signalfd(fd, &rt, 0);
	union sigval v = {.sival_int = 42};
	sigqueue(getpid(), SIGRTMIN, v);
	sigqueue(getpid(), SIGRTMIN, v);
	memset(si, 0, sizeof si);
	CHECK("signalfd_read_queued", read(fd, si, sizeof si) == 2 * sizeof si[0] && si[0].ssi_signo == (uint32_t)SIGRTMIN && si[0].ssi_code == SI_QUEUE && si[0].ssi_int == 42 && si[1].ssi_int == 42);
	sigprocmask(SIG_UNBLOCK, &rt, NULL);

	/* epoll sees a pending signal. */
	signalfd(fd, &one, 0);
	int ep = epoll_create1(0);
	add(ep, fd, EPOLLIN, 5);
	CHECK("signalfd_epoll_empty", wait_ep(ep, 8, 0) == 0);
	raise(SIGUSR1);
	CHECK("signalfd_epoll_ready", wait_ep(ep, 8, 0) == 1 && got[0].data.u64 == 5);
	read(fd, si, sizeof si);
	close(ep);
	close(fd);

	/* A blocking read waits for a signal from a child. */
	fd = signalfd(-1, &one, 0);
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(30);
		_exit(kill(getppid(), SIGUSR1) == 0 ? 0 : 1);
	}
	memset(si, 0, sizeof si);
	CHECK("signalfd_blocking_read", read(fd, si, sizeof si) == sizeof si[0] && si[0].ssi_signo == SIGUSR1 && si[0].ssi_pid == (uint32_t)pid && si[0].ssi_code == SI_USER);
	int status;
	waitpid(pid, &status, 0);
	close(fd);

	int efd = eventfd(0, 0);
	CHECK_ERRNO("signalfd_not_signalfd", EINVAL, signalfd(efd, &one, 0));
	close(efd);
	CHECK_ERRNO("signalfd_bad_fd", EBADF, signalfd(999, &one, 0));
	CHECK_ERRNO("signalfd_bad_flags", EINVAL, signalfd(-1, &one, 1));
	CHECK_ERRNO("signalfd_bad_size", EINVAL, syscall(SYS_signalfd4, -1, &one, 4, 0));
	sigprocmask(SIG_SETMASK, &old, NULL);
}

int main(void)
{
	test_eventfd();
	test_epoll_errors();
	test_epoll_level_edge();
	test_epoll_pwait_mask();
	test_timerfd();
	/* In a child: the sandbox's first process is a pid namespace's init,
	 * which gets no signal it has no handler for. */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		test_signalfd();
		_exit(check_exit());
	}
	int status;
	CHECK("signalfd_child", waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return check_exit();
}
