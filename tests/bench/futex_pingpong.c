/*
 * futex_pingpong N — two threads hand a turn back and forth N times through
 * one shared int with raw futex(2) FUTEX_WAIT / FUTEX_WAKE (not the private
 * variants, no libc locks). Each round trip is one hand-off each way; every
 * hand-off makes a FUTEX_WAKE, and the waiting side sleeps in FUTEX_WAIT
 * unless the turn already came back. Timed with CLOCK_MONOTONIC around the
 * loop. Prints the microseconds per round trip, one number on one line.
 */
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int turn; /* 0: main thread's turn, 1: partner's turn */
static long rounds;

static void futex_wait(int *addr, int val)
{
	syscall(SYS_futex, addr, FUTEX_WAIT, val, NULL, NULL, 0);
}

static void futex_wake(int *addr)
{
	syscall(SYS_futex, addr, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static void pass_to(int who)
{
	__atomic_store_n(&turn, who, __ATOMIC_RELEASE);
	futex_wake(&turn);
}

static void wait_for(int who)
{
	int v;
	while ((v = __atomic_load_n(&turn, __ATOMIC_ACQUIRE)) != who)
		futex_wait(&turn, v);
}

static void *partner(void *arg)
{
	(void)arg;
	for (long i = 0; i < rounds; i++) {
		wait_for(1);
		pass_to(0);
	}
	return NULL;
}

static void run(long n)
{
	for (long i = 0; i < n; i++) {
		pass_to(1);
		wait_for(0);
	}
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 0;
	if (n <= 0) {
		fprintf(stderr, "usage: futex_pingpong N>0\n");
		return 2;
	}
	long warm = 100;
	rounds = warm + n;
	pthread_t t;
	if (pthread_create(&t, NULL, partner, NULL)) {
		fprintf(stderr, "pthread_create failed\n");
		return 1;
	}
	run(warm);

	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	run(n);
	clock_gettime(CLOCK_MONOTONIC, &b);
	pthread_join(t, NULL);

	double us = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
	printf("%.2f\n", us / n);
	return 0;
}
