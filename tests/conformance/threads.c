/*
 * threads.c — pthreads over clone(CLONE_THREAD): create/join, mutexes and
 * condition variables, raw futex waits and wakes, thread-directed signals,
 * thread ids, and exec/exit from a multi-threaded process.
 */
#include "check.h"

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static atomic_int counter;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int arrived;

static void *adder(void *arg)
{
	for (int i = 0; i < 20000; i++)
		atomic_fetch_add(&counter, 1);
	pthread_mutex_lock(&lock);
	arrived++;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	return (void *)((intptr_t)arg * 3);
}

static long futex(uint32_t *addr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

static uint32_t word;
static atomic_int waiter_ready;

static void *futex_waiter(void *arg)
{
	(void)arg;
	atomic_store(&waiter_ready, 1);
	while (atomic_load((atomic_uint *)&word) == 0)
		futex(&word, FUTEX_WAIT_PRIVATE, 0, NULL);
	return (void *)1;
}

static volatile pid_t handler_tid;

static void on_usr1(int sig)
{
	(void)sig;
	handler_tid = (pid_t)syscall(SYS_gettid);
}

static atomic_int target_tid;
static atomic_int stop_target;

static void *signal_target(void *arg)
{
	(void)arg;
	atomic_store(&target_tid, (int)syscall(SYS_gettid));
	while (!atomic_load(&stop_target))
		sched_yield();
	return NULL;
}

static void *tid_of(void *arg)
{
	*(pid_t *)arg = (pid_t)syscall(SYS_gettid);
	return NULL;
}

static int exec_from_threaded(void)
{
	pthread_t t;
	pthread_create(&t, NULL, signal_target, NULL);
	char *argv[] = {"true", NULL};
	execv("/bin/true", argv);
	return 9;
}

static void *exits_process(void *arg)
{
	(void)arg;
	exit(6);
}

static int exit_from_thread(void)
{
	pthread_t t;
	pthread_create(&t, NULL, exits_process, NULL);
	for (;;)
		pause();
	return 0;
}

int main(void)
{
	pthread_t t[8];
	intptr_t sum = 0;
	int created = 1;
	for (intptr_t i = 0; i < 8; i++)
		created &= pthread_create(&t[i], NULL, adder, (void *)i) == 0;
	CHECK("pthread_create", created);
	pthread_mutex_lock(&lock);
	while (arrived < 8)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < 8; i++) {
		void *r;
		pthread_join(t[i], &r);
		sum += (intptr_t)r;
	}
	CHECK("threads_share_memory", atomic_load(&counter) == 8 * 20000);
	CHECK("join_returns_values", sum == 3 * 28);

	pid_t child_tid = 0;
	pthread_create(&t[0], NULL, tid_of, &child_tid);
	pthread_join(t[0], NULL);
	CHECK("thread_has_own_tid", child_tid != 0 && child_tid != getpid());
	CHECK("main_tid_is_pid", syscall(SYS_gettid) == getpid());

	uint32_t w = 5;
	CHECK_ERRNO("futex_wait_value_mismatch", EAGAIN, futex(&w, FUTEX_WAIT_PRIVATE, 4, NULL));
	struct timespec short_wait = {0, 20 * 1000 * 1000};
	CHECK_ERRNO("futex_wait_timeout", ETIMEDOUT, futex(&w, FUTEX_WAIT_PRIVATE, 5, &short_wait));
	CHECK("futex_wake_no_waiter", futex(&w, FUTEX_WAKE_PRIVATE, 1, NULL) == 0);

	pthread_create(&t[0], NULL, futex_waiter, NULL);
	while (!atomic_load(&waiter_ready))
		sched_yield();
	struct timespec pause_ms = {0, 30 * 1000 * 1000};
	nanosleep(&pause_ms, NULL);
	atomic_store((atomic_uint *)&word, 1);
	long woken = futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL);
	void *r = NULL;
	pthread_join(t[0], &r);
	CHECK("futex_wake_wakes_waiter", woken == 1 && r == (void *)1);

	signal(SIGUSR1, on_usr1);
	pthread_create(&t[0], NULL, signal_target, NULL);
	while (!atomic_load(&target_tid))
		sched_yield();
	syscall(SYS_tgkill, getpid(), atomic_load(&target_tid), SIGUSR1);
	while (!handler_tid)
		sched_yield();
	CHECK("tgkill_reaches_that_thread", handler_tid == atomic_load(&target_tid));
	atomic_store(&stop_target, 1);
	pthread_join(t[0], NULL);
	CHECK_ERRNO("tgkill_wrong_group", ESRCH, syscall(SYS_tgkill, getpid(), child_tid, SIGUSR1));

	pid_t c = fork();
	if (c == 0)
		_exit(exec_from_threaded());
	int st = -1;
	waitpid(c, &st, 0);
	CHECK("exec_from_threaded_process", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	c = fork();
	if (c == 0)
		_exit(exit_from_thread());
	waitpid(c, &st, 0);
	CHECK("exit_from_a_thread_ends_process", WIFEXITED(st) && WEXITSTATUS(st) == 6);
	return check_exit();
}
