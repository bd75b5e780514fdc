/*
 * cputime.c — CPU time as timers and clocks see it: ITIMER_VIRTUAL and
 * ITIMER_PROF (they fire as the process burns CPU, reload, read back what is
 * left, ignore sleeping, kill by default, are not inherited by fork), the
 * CPU clocks named by process and thread id (clock_getcpuclockid,
 * pthread_getcpuclockid), and the argument checks of clock_settime.
 *
 * Only bounds are checked, never exact times. Nothing here sets the clock:
 * natively, as root, a valid clock_settime would succeed.
 */
#include "check.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t fired;
static volatile uint64_t sink;

static void on_signal(int sig)
{
	(void)sig;
	fired++;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Burns CPU in user code until `fired` reaches `count` or `ms` of wall time
 * pass (checked rarely: the clock read must not be most of the work). */
static void burn_until(int count, int ms)
{
	int64_t end = mono_ms() + ms;
	uint64_t x = sink;
	while (fired < count && mono_ms() < end) {
		for (int i = 0; i < 100000 && fired < count; i++)
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		sink = x;
	}
}

static int64_t usec(struct timeval tv)
{
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* One CPU interval timer: fires again and again while CPU burns, then stays quiet once disarmed. */
static void cpu_timer(const char *name, int which, int sig)
{
	char check[64];
	signal(sig, on_signal);
	fired = 0;
	struct itimerval it = {{0, 20000}, {0, 20000}}, cur, old;
	snprintf(check, sizeof check, "%s_set", name);
	CHECK(check, setitimer(which, &it, NULL) == 0);
	snprintf(check, sizeof check, "%s_reads_back", name);
	CHECK(check, getitimer(which, &cur) == 0 && usec(cur.it_interval) == 20000 && usec(cur.it_value) > 0 &&
			     usec(cur.it_value) <= 30000);
	burn_until(3, 20000);
	snprintf(check, sizeof check, "%s_fires_repeatedly", name);
	CHECK(check, fired >= 3);
	memset(&it, 0, sizeof it);
	snprintf(check, sizeof check, "%s_disarm_returns_old", name);
	CHECK(check, setitimer(which, &it, &old) == 0 && usec(old.it_interval) == 20000 && usec(old.it_value) > 0);
	snprintf(check, sizeof check, "%s_disarmed", name);
	CHECK(check, getitimer(which, &cur) == 0 && usec(cur.it_value) == 0 && usec(cur.it_interval) == 0);
	int before = fired;
	burn_until(before + 1, 300);
	snprintf(check, sizeof check, "%s_quiet_once_disarmed", name);
	CHECK(check, fired == before);

	/* A one-shot timer fires once. */
	fired = 0;
	struct itimerval once = {{0, 0}, {0, 10000}};
	setitimer(which, &once, NULL);
	burn_until(1, 20000);
	burn_until(2, 300);
	snprintf(check, sizeof check, "%s_one_shot", name);
	CHECK(check, fired == 1 && getitimer(which, &cur) == 0 && usec(cur.it_value) == 0);
	signal(sig, SIG_DFL);
}

static int child_burns_with_virtual_timer(void)
{
	struct itimerval it = {{0, 0}, {0, 10000}};
	setitimer(ITIMER_VIRTUAL, &it, NULL);
	burn_until(1, 20000);
	return 0;
}

static void itimers(void)
{
	cpu_timer("virtual", ITIMER_VIRTUAL, SIGVTALRM);
	cpu_timer("prof", ITIMER_PROF, SIGPROF);

	struct itimerval it = {{0, 0}, {0, 0}}, cur;
	CHECK_ERRNO("bad_which_einval", EINVAL, setitimer(3, &it, NULL));
	CHECK_ERRNO("getitimer_bad_which_einval", EINVAL, getitimer(3, &cur));
	it.it_value.tv_usec = 1000000;
	CHECK_ERRNO("virtual_bad_usec_einval", EINVAL, setitimer(ITIMER_VIRTUAL, &it, NULL));

	/* Sleeping burns no user time. */
	signal(SIGVTALRM, on_signal);
	fired = 0;
	struct itimerval ten_ms = {{0, 0}, {0, 10000}};
	setitimer(ITIMER_VIRTUAL, &ten_ms, NULL);
	struct timespec nap = {0, 150000000};
	nanosleep(&nap, NULL);
	CHECK("virtual_ignores_sleep", fired == 0 && getitimer(ITIMER_VIRTUAL, &cur) == 0 && usec(cur.it_value) > 0);

	/* Not inherited by a child; the default action of SIGVTALRM kills. */
	struct itimerval long_one = {{0, 0}, {100, 0}};
	setitimer(ITIMER_PROF, &long_one, NULL);
	pid_t c = fork();
	if (c == 0) {
		struct itimerval v, p;
		getitimer(ITIMER_VIRTUAL, &v);
		getitimer(ITIMER_PROF, &p);
		_exit(usec(v.it_value) == 0 && usec(p.it_value) == 0 ? 0 : 1);
	}
	int st = 0;
	CHECK("not_inherited_by_fork", waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	memset(&it, 0, sizeof it);
	setitimer(ITIMER_VIRTUAL, &it, NULL);
	setitimer(ITIMER_PROF, &it, NULL);
	signal(SIGVTALRM, SIG_DFL);
	c = fork();
	if (c == 0)
		_exit(child_burns_with_virtual_timer());
	st = 0;
	CHECK("virtual_default_kills", waitpid(c, &st, 0) == c && WIFSIGNALED(st) && WTERMSIG(st) == SIGVTALRM);
}

static int64_t ns_of(struct timespec ts)
{
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *idle_thread(void *arg)
{
	int *release = arg;
	char b;
	read(release[0], &b, 1);
	return NULL;
}

static void clocks(void)
{
	struct timespec a, b;
	clockid_t own;
	CHECK("thread_clock_id", pthread_getcpuclockid(pthread_self(), &own) == 0 && own != CLOCK_THREAD_CPUTIME_ID);
	CHECK("thread_clock_reads", clock_gettime(own, &a) == 0 && clock_gettime(own, &b) == 0 && ns_of(b) >= ns_of(a) &&
					    ns_of(a) > 0);
	CHECK("thread_clock_res", clock_getres(own, &a) == 0);

	int release[2];
	pipe(release);
	pthread_t th;
	pthread_create(&th, NULL, idle_thread, release);
	clockid_t other;
	CHECK("other_thread_clock_reads", pthread_getcpuclockid(th, &other) == 0 && clock_gettime(other, &a) == 0);
	close(release[1]);
	pthread_join(th, NULL);
	close(release[0]);

	clockid_t proc;
	CHECK("process_clock_id", clock_getcpuclockid(getpid(), &proc) == 0);
	CHECK("process_clock_reads", clock_gettime(proc, &a) == 0 && ns_of(a) > 0);
	CHECK("process_clock_by_pid_0", clock_getcpuclockid(0, &proc) == 0 && clock_gettime(proc, &a) == 0);

	int ready[2], done[2];
	pipe(ready);
	pipe(done);
	pid_t c = fork();
	if (c == 0) {
		char x;
		close(ready[0]);
		close(done[1]);
		write(ready[1], "r", 1);
		read(done[0], &x, 1);
		_exit(0);
	}
	char x;
	close(ready[1]);
	close(done[0]);
	read(ready[0], &x, 1);
	clockid_t child;
	CHECK("child_clock_reads", clock_getcpuclockid(c, &child) == 0 && clock_gettime(child, &a) == 0);
	/* Thread clocks are for the caller's own threads: the child's main thread is another's. */
	clockid_t child_thread = (clockid_t)((~(unsigned)c << 3) | 6);
	CHECK_ERRNO("other_process_thread_clock_einval", EINVAL, clock_gettime(child_thread, &a));
	close(done[1]);
	waitpid(c, NULL, 0);
	close(ready[0]);
	CHECK_ERRNO("reaped_process_clock_einval", EINVAL, clock_gettime(child, &a));
	clockid_t bad_kind = (clockid_t)((~(unsigned)getpid() << 3) | 3);
	CHECK_ERRNO("cpu_clock_kind_3_einval", EINVAL, clock_gettime(bad_kind, &a));

	struct timespec zero = {0, 0}, bad = {0, 2000000000};
	CHECK_ERRNO("settime_monotonic_einval", EINVAL, clock_settime(CLOCK_MONOTONIC, &zero));
	CHECK_ERRNO("settime_boottime_einval", EINVAL, clock_settime(CLOCK_BOOTTIME, &zero));
	CHECK_ERRNO("settime_process_cputime_einval", EINVAL, clock_settime(CLOCK_PROCESS_CPUTIME_ID, &zero));
	/* A CPU clock named by id can never be set, once it names one. */
	CHECK_ERRNO("settime_thread_clock_eperm", EPERM, clock_settime(own, &zero));
	CHECK_ERRNO("settime_thread_clock_bad_pointer_efault", EFAULT, syscall(SYS_clock_settime, own, 8));
	CHECK_ERRNO("settime_reaped_process_clock_einval", EINVAL, clock_settime(child, &zero));
	CHECK_ERRNO("settime_unknown_clock_einval", EINVAL, clock_settime(100, &zero));
	CHECK_ERRNO("settime_bad_nsec_einval", EINVAL, clock_settime(CLOCK_REALTIME, &bad));
	CHECK_ERRNO("settime_bad_pointer_efault", EFAULT, syscall(SYS_clock_settime, CLOCK_REALTIME, 8));
	CHECK_ERRNO("settime_monotonic_bad_pointer_einval", EINVAL, syscall(SYS_clock_settime, CLOCK_MONOTONIC, 8));
	struct timeval tv = {0, 2000000};
	CHECK_ERRNO("settimeofday_bad_usec_einval", EINVAL, settimeofday(&tv, NULL));
}

int main(void)
{
	itimers();
	clocks();
	return check_exit();
}
