/*
 * rusage.c — resource usage: getrusage (self, children, thread), the rusage
 * of wait4 and waitid, times(), the CPU-time clocks and /proc/PID/stat's
 * utime/stime/cutime/cstime.
 *
 * Only bounds are checked, never values: work burns ~60 ms of CPU (measured
 * with the process's own CPU clock, few clock reads so that nearly all of it
 * is user time), and the figures must show at least half of it, and no more
 * than the wall time that passed.
 */
#include "check.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BURN_MS 60
#define SEEN_MS 30

static int64_t ns_of(struct timespec ts)
{
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return ns_of(ts);
}

static int64_t ms_of(struct timeval tv)
{
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static volatile uint64_t sink;

/* Burns `ms` of CPU time as `clock` counts it, reading the clock about once a millisecond. */
static void burn(clockid_t clock, int ms)
{
	int64_t end = clock_ns(clock) + (int64_t)ms * 1000000;
	uint64_t x = sink;
	while (clock_ns(clock) < end) {
		for (int i = 0; i < 200000; i++)
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		sink = x;
	}
}

/* Clock ticks in a time value, as times() counts them. */
static long ticks_of(struct timeval tv)
{
	return tv.tv_sec * sysconf(_SC_CLK_TCK) + tv.tv_usec / (1000000 / sysconf(_SC_CLK_TCK));
}

/* Fields 14 to 17 of /proc/self/stat: utime, stime, cutime, cstime. */
static int proc_times(long out[4])
{
	char buf[1024];
	int fd = open("/proc/self/stat", O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	/* After ") ": state is field 3; utime is field 14, eleven fields later. */
	p += 2;
	for (int field = 3; field < 14; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	return sscanf(p, "%ld %ld %ld %ld", &out[0], &out[1], &out[2], &out[3]) == 4 ? 0 : -1;
}

static void errors(void)
{
	struct rusage ru;
	CHECK_ERRNO("getrusage_bad_who_einval", EINVAL, getrusage(7, &ru));
	CHECK_ERRNO("getrusage_bad_address_efault", EFAULT, syscall(SYS_getrusage, RUSAGE_SELF, (void *)8));
	CHECK("getrusage_self", getrusage(RUSAGE_SELF, &ru) == 0);
	CHECK("getrusage_thread", getrusage(RUSAGE_THREAD, &ru) == 0);
	struct rusage none;
	CHECK("no_children_yet", getrusage(RUSAGE_CHILDREN, &none) == 0 && none.ru_utime.tv_sec == 0 &&
					  none.ru_utime.tv_usec == 0 && none.ru_stime.tv_sec == 0 &&
					  none.ru_stime.tv_usec == 0 && none.ru_maxrss == 0);
	struct tms t;
	CHECK("times_no_children", times(&t) != (clock_t)-1 && t.tms_cutime == 0 && t.tms_cstime == 0);
	CHECK("times_null_buffer", times(NULL) != (clock_t)-1);
}

static void self_usage(void)
{
	struct rusage before, after, thread;
	struct tms t0, t1;
	getrusage(RUSAGE_SELF, &before);
	times(&t0);
	int64_t cpu0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	int64_t thr0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	int64_t wall0 = clock_ns(CLOCK_MONOTONIC);
	burn(CLOCK_PROCESS_CPUTIME_ID, BURN_MS);
	int64_t wall = (clock_ns(CLOCK_MONOTONIC) - wall0) / 1000000;
	int64_t cpu = (clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0) / 1000000;
	int64_t thr = (clock_ns(CLOCK_THREAD_CPUTIME_ID) - thr0) / 1000000;
	getrusage(RUSAGE_SELF, &after);
	getrusage(RUSAGE_THREAD, &thread);
	times(&t1);
	int64_t user = ms_of(after.ru_utime) - ms_of(before.ru_utime);
	int64_t sys = ms_of(after.ru_stime) - ms_of(before.ru_stime);
	CHECK("process_clock_advances", cpu >= BURN_MS && cpu <= wall + 5);
	CHECK("thread_clock_advances", thr >= SEEN_MS && thr <= wall + 5);
	CHECK("self_user_time", user >= SEEN_MS && user <= wall + 5);
	CHECK("self_user_and_system_within_wall", user + sys <= wall + 10);
	CHECK("thread_user_time", ms_of(thread.ru_utime) >= SEEN_MS && ms_of(thread.ru_utime) <= ms_of(after.ru_utime) + 10);
	CHECK("times_user_ticks", (t1.tms_utime - t0.tms_utime) * 1000 / sysconf(_SC_CLK_TCK) >= SEEN_MS - 10);
	CHECK("self_maxrss", after.ru_maxrss > 0 && thread.ru_maxrss == after.ru_maxrss);

	long pt[4];
	CHECK("proc_stat_utime", proc_times(pt) == 0 && pt[0] * 1000 / sysconf(_SC_CLK_TCK) >= SEEN_MS - 10);

	/* The clocks never go back. */
	int64_t a = clock_ns(CLOCK_PROCESS_CPUTIME_ID), b = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	int64_t c = clock_ns(CLOCK_THREAD_CPUTIME_ID), d = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	CHECK("cpu_clocks_monotonic", b >= a && d >= c);
}

static int touch_mb;

/* In a child: burns CPU, touches `touch_mb` megabytes (then unmaps them), exits 0. */
static void child_work(void)
{
	burn(CLOCK_PROCESS_CPUTIME_ID, BURN_MS);
	if (touch_mb) {
		size_t len = (size_t)touch_mb << 20;
		char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			_exit(2);
		memset(m, 1, len);
		munmap(m, len);
	}
}

static void child_usage(void)
{
	int64_t wall0 = clock_ns(CLOCK_MONOTONIC);
	touch_mb = 32;
	pid_t c = fork();
	if (c == 0) {
		child_work();
		_exit(0);
	}
	struct rusage ru;
	int st;
	CHECK("wait4_reaps", wait4(c, &st, 0, &ru) == c && WIFEXITED(st));
	int64_t wall = (clock_ns(CLOCK_MONOTONIC) - wall0) / 1000000;
	CHECK("wait4_user_time", ms_of(ru.ru_utime) >= SEEN_MS && ms_of(ru.ru_utime) <= wall + 5);
	CHECK("wait4_user_and_system_within_wall", ms_of(ru.ru_utime) + ms_of(ru.ru_stime) <= wall + 10);
	CHECK("wait4_maxrss_counts_unmapped_peak", ru.ru_maxrss >= 32 * 1024);

	struct rusage ch;
	getrusage(RUSAGE_CHILDREN, &ch);
	CHECK("children_user_time", ms_of(ch.ru_utime) >= SEEN_MS && ms_of(ch.ru_utime) <= wall + 5);
	CHECK("children_match_the_waited_child", ms_of(ch.ru_utime) == ms_of(ru.ru_utime) &&
							  ms_of(ch.ru_stime) == ms_of(ru.ru_stime));
	CHECK("children_maxrss", ch.ru_maxrss >= 32 * 1024);

	struct tms t;
	times(&t);
	CHECK("times_children_match_getrusage", t.tms_cutime == ticks_of(ch.ru_utime) &&
							t.tms_cstime == ticks_of(ch.ru_stime));
	long pt[4];
	CHECK("proc_stat_children_match", proc_times(pt) == 0 && pt[2] == t.tms_cutime && pt[3] == t.tms_cstime);

	/* wait4 of a running child with WNOHANG reports nothing (and fills nothing). */
	int release[2];
	pipe(release);
	c = fork();
	if (c == 0) {
		char b;
		close(release[1]);
		_exit(read(release[0], &b, 1) >= 0 ? 0 : 1);
	}
	close(release[0]);
	memset(&ru, 0x55, sizeof ru);
	CHECK("wait4_wnohang_running", wait4(c, &st, WNOHANG, &ru) == 0);
	close(release[1]);

	/* waitid's fifth argument: the raw system call. */
	siginfo_t si;
	memset(&ru, 0, sizeof ru);
	CHECK("waitid_rusage", syscall(SYS_waitid, P_PID, c, &si, WEXITED, &ru) == 0 && si.si_pid == c &&
				       ru.ru_utime.tv_usec >= 0 && ms_of(ru.ru_utime) < SEEN_MS);

	/* Children waited for by a child count in its own usage as its parent sees it. */
	touch_mb = 0;
	struct rusage base;
	getrusage(RUSAGE_CHILDREN, &base);
	c = fork();
	if (c == 0) {
		pid_t g = fork();
		if (g == 0) {
			child_work();
			_exit(0);
		}
		waitpid(g, NULL, 0);
		_exit(0);
	}
	CHECK("wait4_grandchild", wait4(c, &st, 0, &ru) == c);
	CHECK("wait4_includes_grandchild", ms_of(ru.ru_utime) >= SEEN_MS);
	getrusage(RUSAGE_CHILDREN, &ch);
	CHECK("children_include_grandchild", ms_of(ch.ru_utime) - ms_of(base.ru_utime) >= SEEN_MS);

	/* A child nobody waits for (SIGCHLD ignored) is not counted. */
	getrusage(RUSAGE_CHILDREN, &base);
	signal(SIGCHLD, SIG_IGN);
	c = fork();
	if (c == 0) {
		child_work();
		_exit(0);
	}
	CHECK_ERRNO("ignored_child_reaped_by_itself", ECHILD, waitpid(c, NULL, 0));
	signal(SIGCHLD, SIG_DFL);
	getrusage(RUSAGE_CHILDREN, &ch);
	CHECK("unwaited_child_not_counted", ms_of(ch.ru_utime) == ms_of(base.ru_utime));

	/* A stopped child: WUNTRACED reports it with its usage so far. */
	c = fork();
	if (c == 0) {
		child_work();
		raise(SIGSTOP);
		_exit(0);
	}
	memset(&ru, 0, sizeof ru);
	CHECK("wait4_stopped", wait4(c, &st, WUNTRACED, &ru) == c && WIFSTOPPED(st));
	CHECK("wait4_stopped_usage", ms_of(ru.ru_utime) >= SEEN_MS);
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
}

static void *burning_thread(void *arg)
{
	struct rusage *out = arg;
	burn(CLOCK_THREAD_CPUTIME_ID, BURN_MS);
	getrusage(RUSAGE_THREAD, out);
	return NULL;
}

static void thread_usage(void)
{
	struct rusage mine0, mine1, self0, self1, theirs;
	getrusage(RUSAGE_THREAD, &mine0);
	getrusage(RUSAGE_SELF, &self0);
	pthread_t th;
	pthread_create(&th, NULL, burning_thread, &theirs);
	pthread_join(th, NULL);
	getrusage(RUSAGE_THREAD, &mine1);
	getrusage(RUSAGE_SELF, &self1);
	CHECK("other_thread_user_time", ms_of(theirs.ru_utime) >= SEEN_MS);
	CHECK("own_thread_did_not_burn", ms_of(mine1.ru_utime) - ms_of(mine0.ru_utime) < SEEN_MS);
	CHECK("process_counts_every_thread", ms_of(self1.ru_utime) - ms_of(self0.ru_utime) >= SEEN_MS);
}

int main(void)
{
	errors();
	self_usage();
	child_usage();
	thread_usage();
	return check_exit();
}
