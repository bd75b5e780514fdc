/*
 * getpid_loop [N] — the system-call round trip: N raw getpid calls (through
 * syscall(2), so no libc cache), timed with CLOCK_MONOTONIC around the loop.
 * Prints the nanoseconds per call, one number on one line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	if (n <= 0) {
		fprintf(stderr, "usage: getpid_loop [N > 0]\n");
		return 2;
	}
	for (int i = 0; i < 100; i++) /* warm up */
		syscall(SYS_getpid);

	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		syscall(SYS_getpid);
	clock_gettime(CLOCK_MONOTONIC, &b);

	double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
	printf("%.1f\n", ns / n);
	return 0;
}
