/*
 * file_ops stat N PATH   — N stat(2) calls on PATH; prints µs per call.
 * file_ops open N PATH   — N open(2) + read(2) (up to 4 KiB) + close(2) of
 *                          PATH; prints µs per iteration.
 * file_ops read N PATH   — reads the whole of PATH sequentially in 128 KiB
 *                          read(2)s (the size coreutils' cat uses), once to
 *                          warm up and then N times; prints the mean
 *                          throughput of the N timed passes in MB/s
 *                          (10^6 bytes per second).
 * Timed with CLOCK_MONOTONIC around the loop (after 100 warm-up iterations
 * for stat and open); one number on one line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int do_stat(const char *path)
{
	struct stat st;
	if (stat(path, &st)) {
		perror(path);
		return -1;
	}
	return 0;
}

static int do_open(const char *path)
{
	char buf[4096];
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		perror(path);
		return -1;
	}
	if (read(fd, buf, sizeof buf) < 0) {
		perror("read");
		return -1;
	}
	close(fd);
	return 0;
}

/* Bytes read, or -1. */
static long long read_all(const char *path)
{
	static char buf[128 * 1024];
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		perror(path);
		return -1;
	}
	long long total = 0;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			perror("read");
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		total += r;
	}
	close(fd);
	return total;
}

int main(int argc, char **argv)
{
	long n = argc > 3 ? atol(argv[2]) : 0;
	if (n <= 0) {
		fprintf(stderr, "usage: file_ops stat|open|read N>0 PATH\n");
		return 2;
	}
	const char *op = argv[1], *path = argv[3];

	if (strcmp(op, "read") == 0) {
		struct stat st;
		if (stat(path, &st)) {
			perror(path);
			return 1;
		}
		if (read_all(path) != st.st_size) /* warm up */
			return 1;
		double t0 = now();
		for (long i = 0; i < n; i++)
			if (read_all(path) != st.st_size) {
				fprintf(stderr, "short read of %s\n", path);
				return 1;
			}
		double s = now() - t0;
		printf("%.1f\n", (double)st.st_size * n / s / 1e6);
		return 0;
	}

	int (*fn)(const char *);
	if (strcmp(op, "stat") == 0)
		fn = do_stat;
	else if (strcmp(op, "open") == 0)
		fn = do_open;
	else {
		fprintf(stderr, "file_ops: unknown operation %s\n", op);
		return 2;
	}
	for (int i = 0; i < 100; i++)
		if (fn(path))
			return 1;
	double t0 = now();
	for (long i = 0; i < n; i++)
		if (fn(path))
			return 1;
	double us = (now() - t0) * 1e6;
	printf("%.2f\n", us / n);
	return 0;
}
