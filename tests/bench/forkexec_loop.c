/*
 * forkexec_loop N PROGRAM — process creation: N times fork(2), execve(2) of
 * PROGRAM (no arguments, empty environment) in the child and waitpid(2) in
 * the parent, timed with CLOCK_MONOTONIC around the loop. Prints the
 * microseconds per iteration, one number on one line. Fails (exit 1) if a
 * child does not exit 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int once(char *prog)
{
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		char *argv[] = { prog, NULL };
		char *envp[] = { NULL };
		execve(prog, argv, envp);
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid) {
		perror("waitpid");
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "child status %#x\n", status);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[1]) : 0;
	if (n <= 0) {
		fprintf(stderr, "usage: forkexec_loop N>0 PROGRAM\n");
		return 2;
	}
	char *prog = argv[2];
	if (once(prog)) /* warm up */
		return 1;

	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		if (once(prog))
			return 1;
	clock_gettime(CLOCK_MONOTONIC, &b);

	double us = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
	printf("%.1f\n", us / n);
	return 0;
}
