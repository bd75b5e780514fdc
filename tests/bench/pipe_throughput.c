/*
 * pipe_throughput MIB — a parent writes MIB MiB through a pipe, in 64 KiB
 * write(2)s, to a forked child that reads them (64 KiB read(2)s) and checks
 * the byte count. Timed with CLOCK_MONOTONIC from before the fork until the
 * child has been reaped. Prints the throughput in MB/s (10^6 bytes per
 * second), one number on one line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024)

int main(int argc, char **argv)
{
	long mib = argc > 1 ? atol(argv[1]) : 0;
	if (mib <= 0) {
		fprintf(stderr, "usage: pipe_throughput MIB>0\n");
		return 2;
	}
	long long total = (long long)mib << 20;
	static char buf[CHUNK];
	memset(buf, 'x', sizeof buf);

	int fds[2];
	if (pipe(fds)) {
		perror("pipe");
		return 1;
	}
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		close(fds[1]);
		long long got = 0;
		for (;;) {
			ssize_t r = read(fds[0], buf, sizeof buf);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				perror("read");
				_exit(1);
			}
			if (r == 0)
				break;
			got += r;
		}
		_exit(got == total ? 0 : 3);
	}
	close(fds[0]);
	for (long long sent = 0; sent < total;) {
		ssize_t w = write(fds[1], buf, CHUNK);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			perror("write");
			return 1;
		}
		sent += w;
	}
	close(fds[1]);
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "reader failed (status %#x)\n", status);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);

	double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	printf("%.1f\n", total / s / 1e6);
	return 0;
}
