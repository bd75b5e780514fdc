/*
 * sched.c — scheduling attributes: nice values (getpriority, setpriority
 * for a thread, a process group and a user), policies and real-time
 * priorities (sched_setscheduler, sched_setparam, SCHED_RESET_ON_FORK), the
 * priority ranges, sched_rr_get_interval, CPU affinity, and the priority and
 * nice fields of /proc/PID/stat.
 *
 * Runs as root (it needs CAP_SYS_NICE to lower nice values), in a process
 * group of its own so that PRIO_PGRP reaches nobody else. Real-time policies
 * are only checked for their errors: a real-time busy thread on the host
 * would be unkind. Children report through exit statuses.
 */
#include "check.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

/* The system call's own return value: 20 - nice. */
static long raw_getpriority(int which, int who)
{
	return syscall(SYS_getpriority, which, who);
}

/* Runs `fn` in a child and returns its exit code (-1 if it did not exit). */
static int in_child(int (*fn)(void))
{
	pid_t c = fork();
	if (c == 0)
		_exit(fn());
	int st = 0;
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Fields 18 and 19 of /proc/self/stat (priority, nice); 0 when read. */
static int stat_prio_nice(long *prio, long *nice)
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
	if (p == NULL)
		return -1;
	/* After ") " come fields 3 (state) onwards: skip to field 18. */
	p += 2;
	for (int field = 3; field < 18; field++) {
		p = strchr(p, ' ');
		if (p == NULL)
			return -1;
		p++;
	}
	return sscanf(p, "%ld %ld", prio, nice) == 2 ? 0 : -1;
}

static int thread_nice_seen = 99;

static void *renice_self_thread(void *arg)
{
	(void)arg;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	setpriority(PRIO_PROCESS, (id_t)tid, 11);
	errno = 0;
	thread_nice_seen = getpriority(PRIO_PROCESS, (id_t)tid);
	return NULL;
}

/* A child of uid 1000 with no capabilities and RLIMIT_NICE 0. */
static int become_user(void)
{
	struct rlimit r = {0, 0};
	if (setrlimit(RLIMIT_NICE, &r) != 0 || setresuid(1000, 1000, 1000) != 0)
		return -1;
	return 0;
}

static int user_renices(void)
{
	pid_t parent = getppid();
	if (become_user() != 0)
		return 10;
	if (setpriority(PRIO_PROCESS, 0, 3) != 0)
		return 11; /* raising one's own nice needs nothing */
	if (setpriority(PRIO_PROCESS, 0, 1) != -1 || errno != EACCES)
		return 12; /* lowering it needs RLIMIT_NICE room */
	if (setpriority(PRIO_PROCESS, 0, 3) != 0)
		return 13; /* the same value is no lowering */
	if (setpriority(PRIO_PROCESS, (id_t)parent, 5) != -1 || errno != EPERM)
		return 14; /* another user's process */
	struct sched_param sp = {0};
	if (sched_setscheduler((pid_t)parent, SCHED_OTHER, &sp) != -1 || errno != EPERM)
		return 15;
	sp.sched_priority = 1;
	if (sched_setscheduler(0, SCHED_FIFO, &sp) != -1 || errno != EPERM)
		return 16; /* RLIMIT_RTPRIO is 0 */
	sp.sched_priority = 0;
	if (sched_setscheduler(0, SCHED_BATCH, &sp) != 0)
		return 17; /* its own, non-real-time */
	return 0;
}

static int child_reports_nice(void)
{
	return getpriority(PRIO_PROCESS, 0) + 20;
}

static int child_reports_scheduler(void)
{
	/* The policy survives the reset (it is not real-time); the flag and a negative nice do not. */
	int policy = sched_getscheduler(0);
	int nice = getpriority(PRIO_PROCESS, 0);
	return (policy == SCHED_BATCH ? 1 : 0) | (nice == 0 ? 2 : 0);
}

static void nice_values(void)
{
	CHECK("setpriority_zero", setpriority(PRIO_PROCESS, 0, 0) == 0);
	CHECK("raw_getpriority_is_20_minus_nice", raw_getpriority(PRIO_PROCESS, 0) == 20);
	CHECK("setpriority_5", setpriority(PRIO_PROCESS, 0, 5) == 0);
	errno = 0;
	CHECK("getpriority_5", getpriority(PRIO_PROCESS, 0) == 5 && errno == 0);
	CHECK("getpriority_by_pid", getpriority(PRIO_PROCESS, (id_t)getpid()) == 5);
	CHECK("raw_getpriority_15", raw_getpriority(PRIO_PROCESS, 0) == 15);
	long prio = 0, nice = 0;
	CHECK("proc_stat_prio_nice", stat_prio_nice(&prio, &nice) == 0 && prio == 25 && nice == 5);
	CHECK("child_inherits_nice", in_child(child_reports_nice) == 25);

	CHECK("setpriority_clamps_high", setpriority(PRIO_PROCESS, 0, 100) == 0 && getpriority(PRIO_PROCESS, 0) == 19);
	CHECK("setpriority_clamps_low", setpriority(PRIO_PROCESS, 0, -100) == 0 && getpriority(PRIO_PROCESS, 0) == -20);
	CHECK("raw_getpriority_40", raw_getpriority(PRIO_PROCESS, 0) == 40);
	CHECK("proc_stat_prio_nice_negative", stat_prio_nice(&prio, &nice) == 0 && prio == 0 && nice == -20);
	setpriority(PRIO_PROCESS, 0, 0);

	CHECK_ERRNO("getpriority_bad_which", EINVAL, raw_getpriority(3, 0));
	CHECK_ERRNO("setpriority_bad_which", EINVAL, setpriority(3, 0, 0));
	CHECK_ERRNO("getpriority_negative_pid", ESRCH, raw_getpriority(PRIO_PROCESS, -5));
	pid_t gone = fork();
	if (gone == 0)
		_exit(0);
	waitpid(gone, NULL, 0);
	CHECK_ERRNO("getpriority_reaped_esrch", ESRCH, raw_getpriority(PRIO_PROCESS, gone));
	CHECK_ERRNO("setpriority_reaped_esrch", ESRCH, setpriority(PRIO_PROCESS, (id_t)gone, 1));
	CHECK_ERRNO("getpriority_unused_user_esrch", ESRCH, raw_getpriority(PRIO_USER, 54321));
	CHECK_ERRNO("setpriority_unused_user_esrch", ESRCH, setpriority(PRIO_USER, 54321, 1));

	/* Nice values belong to threads. */
	pthread_t th;
	pthread_create(&th, NULL, renice_self_thread, NULL);
	pthread_join(th, NULL);
	CHECK("thread_has_its_own_nice", thread_nice_seen == 11 && getpriority(PRIO_PROCESS, 0) == 0);

	/* A process group: every member, and the best value of them. */
	int ready[2], release[2];
	pipe(ready);
	pipe(release);
	pid_t member = fork();
	if (member == 0) {
		char b;
		close(ready[0]);
		close(release[1]);
		write(ready[1], "r", 1);
		read(release[0], &b, 1);
		_exit(getpriority(PRIO_PROCESS, 0) + 20);
	}
	char b;
	close(ready[1]);
	close(release[0]);
	read(ready[0], &b, 1);
	CHECK("setpriority_pgrp", setpriority(PRIO_PGRP, 0, 7) == 0);
	CHECK("getpriority_pgrp", getpriority(PRIO_PGRP, 0) == 7 && getpriority(PRIO_PROCESS, 0) == 7);
	setpriority(PRIO_PROCESS, 0, 2);
	CHECK("getpriority_pgrp_best", getpriority(PRIO_PGRP, (id_t)getpgrp()) == 2);
	close(release[1]);
	int st = 0;
	waitpid(member, &st, 0);
	CHECK("pgrp_member_reniced", WIFEXITED(st) && WEXITSTATUS(st) == 27);
	close(ready[0]);
	setpriority(PRIO_PROCESS, 0, 0);

	CHECK("user_rules", in_child(user_renices) == 0);
}

static void policies(void)
{
	struct sched_param sp = {0};
	CHECK("getscheduler_other", sched_getscheduler(0) == SCHED_OTHER);
	CHECK_ERRNO("getscheduler_negative_einval", EINVAL, sched_getscheduler(-1));
	CHECK_ERRNO("getparam_negative_einval", EINVAL, sched_getparam(-1, &sp));
	CHECK_ERRNO("getparam_null_einval", EINVAL, syscall(SYS_sched_getparam, 0, NULL));
	sp.sched_priority = 42;
	CHECK("getparam_other_zero", sched_getparam(0, &sp) == 0 && sp.sched_priority == 0);
	pid_t gone = fork();
	if (gone == 0)
		_exit(0);
	waitpid(gone, NULL, 0);
	CHECK_ERRNO("getscheduler_reaped_esrch", ESRCH, sched_getscheduler(gone));

	sp.sched_priority = 0;
	CHECK("setscheduler_other", sched_setscheduler(0, SCHED_OTHER, &sp) == 0);
	CHECK("setparam_other", sched_setparam(0, &sp) == 0);
	sp.sched_priority = 1;
	CHECK_ERRNO("setscheduler_other_priority_einval", EINVAL, sched_setscheduler(0, SCHED_OTHER, &sp));
	CHECK_ERRNO("setparam_other_priority_einval", EINVAL, sched_setparam(0, &sp));
	sp.sched_priority = 0;
	CHECK_ERRNO("setscheduler_fifo_priority_0_einval", EINVAL, sched_setscheduler(0, SCHED_FIFO, &sp));
	sp.sched_priority = 100;
	CHECK_ERRNO("setscheduler_rr_priority_100_einval", EINVAL, sched_setscheduler(0, SCHED_RR, &sp));
	sp.sched_priority = -1;
	CHECK_ERRNO("setscheduler_negative_priority_einval", EINVAL, sched_setscheduler(0, SCHED_RR, &sp));
	sp.sched_priority = 0;
	CHECK_ERRNO("setscheduler_unknown_policy_einval", EINVAL, sched_setscheduler(0, 42, &sp));
	CHECK_ERRNO("setscheduler_negative_policy_einval", EINVAL, sched_setscheduler(0, -1, &sp));
	CHECK_ERRNO("setscheduler_null_param_einval", EINVAL, syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, NULL));
	CHECK_ERRNO("setscheduler_bad_param_efault", EFAULT, syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, 8));
	CHECK_ERRNO("setscheduler_negative_pid_einval", EINVAL, sched_setscheduler(-1, SCHED_OTHER, &sp));
	CHECK_ERRNO("setscheduler_reaped_esrch", ESRCH, sched_setscheduler(gone, SCHED_OTHER, &sp));

	CHECK("setscheduler_batch", sched_setscheduler(0, SCHED_BATCH, &sp) == 0 && sched_getscheduler(0) == SCHED_BATCH);
	CHECK("setparam_keeps_policy", sched_setparam(0, &sp) == 0 && sched_getscheduler(0) == SCHED_BATCH);
	CHECK("setscheduler_idle", sched_setscheduler(0, SCHED_IDLE, &sp) == 0 && sched_getscheduler(0) == SCHED_IDLE);
	CHECK("setscheduler_reset_on_fork",
	      sched_setscheduler(0, SCHED_BATCH | SCHED_RESET_ON_FORK, &sp) == 0 &&
		      sched_getscheduler(0) == (SCHED_BATCH | SCHED_RESET_ON_FORK));
	setpriority(PRIO_PROCESS, 0, -5);
	CHECK("reset_on_fork_child", in_child(child_reports_scheduler) == 3);
	CHECK("root_clears_reset_on_fork", sched_setscheduler(0, SCHED_OTHER, &sp) == 0 && sched_getscheduler(0) == SCHED_OTHER);
	setpriority(PRIO_PROCESS, 0, 0);

	CHECK("priority_max_fifo", sched_get_priority_max(SCHED_FIFO) == 99);
	CHECK("priority_min_fifo", sched_get_priority_min(SCHED_FIFO) == 1);
	CHECK("priority_max_rr", sched_get_priority_max(SCHED_RR) == 99);
	CHECK("priority_range_other", sched_get_priority_max(SCHED_OTHER) == 0 && sched_get_priority_min(SCHED_OTHER) == 0);
	CHECK("priority_range_batch", sched_get_priority_max(SCHED_BATCH) == 0 && sched_get_priority_min(SCHED_IDLE) == 0);
	CHECK_ERRNO("priority_max_unknown_einval", EINVAL, sched_get_priority_max(-23));
	CHECK_ERRNO("priority_min_unknown_einval", EINVAL, sched_get_priority_min(42));

	struct timespec ts = {5, 5};
	CHECK("rr_get_interval", sched_rr_get_interval(0, &ts) == 0 && ts.tv_sec == 0);
	CHECK_ERRNO("rr_get_interval_negative_einval", EINVAL, sched_rr_get_interval(-1, &ts));
	CHECK_ERRNO("rr_get_interval_reaped_esrch", ESRCH, sched_rr_get_interval(gone, &ts));
}

static void affinity(void)
{
	uint64_t mask = 0, all = 0;
	CHECK("getaffinity_returns_mask_size", syscall(SYS_sched_getaffinity, 0, 8, &all) == 8 && all != 0);
	CHECK_ERRNO("getaffinity_short_einval", EINVAL, syscall(SYS_sched_getaffinity, 0, 4, &mask));
	CHECK_ERRNO("getaffinity_odd_size_einval", EINVAL, syscall(SYS_sched_getaffinity, 0, 12, &mask));
	CHECK_ERRNO("getaffinity_negative_esrch", ESRCH, syscall(SYS_sched_getaffinity, -1, 8, &mask));
	CHECK_ERRNO("getaffinity_bad_buffer_efault", EFAULT, syscall(SYS_sched_getaffinity, 0, 8, 8));
	uint64_t lowest = all & -all;
	CHECK("setaffinity_one_cpu", syscall(SYS_sched_setaffinity, 0, 8, &lowest) == 0);
	CHECK("getaffinity_sees_it", syscall(SYS_sched_getaffinity, 0, 8, &mask) == 8 && mask == lowest);
	uint64_t none = 0;
	CHECK_ERRNO("setaffinity_empty_einval", EINVAL, syscall(SYS_sched_setaffinity, 0, 8, &none));
	uint64_t absent = 1ULL << 63;
	CHECK_ERRNO("setaffinity_no_such_cpu_einval", EINVAL, syscall(SYS_sched_setaffinity, 0, 8, &absent));
	CHECK_ERRNO("setaffinity_negative_esrch", ESRCH, syscall(SYS_sched_setaffinity, -1, 8, &all));
	CHECK_ERRNO("setaffinity_bad_buffer_efault", EFAULT, syscall(SYS_sched_setaffinity, 0, 8, 8));
	CHECK("setaffinity_all", syscall(SYS_sched_setaffinity, 0, 8, &all) == 0);
	CHECK("getaffinity_restored", syscall(SYS_sched_getaffinity, 0, 8, &mask) == 8 && mask == all);
}

int main(void)
{
	/* A group of its own: PRIO_PGRP must reach nobody else. */
	setpgid(0, 0);
	nice_values();
	policies();
	affinity();
	return check_exit();
}
