/*
 * jobctl.c — job control at the controlling terminal, run with a terminal as
 * its standard streams (tests/tests/jobctl.rs runs it under `script`): a
 * background process group that reads gets SIGTTIN; one that writes with
 * TOSTOP set, or changes the terminal's settings or foreground group, gets
 * SIGTTOU; a read with SIGTTIN ignored or blocked fails with EIO while writes
 * and settings then go ahead; an orphaned group gets EIO instead of a signal.
 *
 * Prints `ok NAME` or `FAIL NAME: …` per check (check.h), and stray output of
 * the background writes, which the test ignores.
 */
#include "../conformance/check.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

enum { IGNORE = 1, BLOCK = 2 };

static void treat(int sig, int how)
{
	if (how & IGNORE)
		signal(sig, SIG_IGN);
	if (how & BLOCK) {
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_BLOCK, &set, NULL);
	}
}

/* What a background child does with the terminal; its exit status is 0 when the call
 * succeeded, 5 when it failed with EIO, 6 for any other failure. */
enum action { READ, WRITE, SETATTR, SETPGRP };

static int act(enum action a)
{
	char b;
	struct termios t;
	int r;
	switch (a) {
	case READ:
		r = (int)read(0, &b, 1);
		break;
	case WRITE:
		r = (int)write(1, "background write\n", 17) == 17 ? 0 : -1;
		break;
	case SETATTR:
		r = tcgetattr(0, &t) == 0 ? tcsetattr(0, TCSANOW, &t) : -1;
		break;
	default:
		r = tcsetpgrp(0, getpgrp());
		/* Give the terminal back to the parent's group. */
		if (r == 0)
			r = tcsetpgrp(0, getpgid(getppid()));
		break;
	}
	return r >= 0 ? 0 : errno == EIO ? 5 : 6;
}

/* Runs `a` in a child in a process group of its own (the background), with the job-control
 * signal treated as `how`; returns its wait status (stopped children are killed after). */
static int in_background(enum action a, int sig, int how)
{
	pid_t c = fork();
	if (c == 0) {
		setpgid(0, 0);
		treat(sig, how);
		_exit(act(a));
	}
	setpgid(c, c);
	int st = -1;
	waitpid(c, &st, WUNTRACED);
	if (WIFSTOPPED(st)) {
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
	}
	return st;
}

static int stopped_by(int st, int sig)
{
	return WIFSTOPPED(st) && WSTOPSIG(st) == sig;
}

static int exited(int st, int code)
{
	return WIFEXITED(st) && WEXITSTATUS(st) == code;
}

/* Runs `a` in a grandchild whose process group is orphaned: its parent moves to a session of
 * its own once the grandchild has made its group. Returns the grandchild's exit code. */
static int orphaned(enum action a)
{
	pid_t c = fork();
	if (c == 0) {
		int made[2], left[2];
		pipe(made);
		pipe(left);
		pid_t g = fork();
		if (g == 0) {
			char b;
			setpgid(0, 0);
			write(made[1], "m", 1);
			read(left[0], &b, 1);
			_exit(act(a));
		}
		char b;
		read(made[0], &b, 1);
		setsid();
		write(left[1], "l", 1);
		int st = -1;
		waitpid(g, &st, WUNTRACED);
		if (WIFSTOPPED(st)) {
			kill(g, SIGKILL);
			_exit(7);
		}
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 8);
	}
	int st = -1;
	waitpid(c, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 9;
}

int main(void)
{
	CHECK("in_the_foreground", isatty(0) && tcgetpgrp(0) == getpgrp());
	struct termios saved;
	tcgetattr(0, &saved);

	CHECK("read_stops_with_sigttin", stopped_by(in_background(READ, SIGTTIN, 0), SIGTTIN));
	CHECK("read_sigttin_ignored_eio", exited(in_background(READ, SIGTTIN, IGNORE), 5));
	CHECK("read_sigttin_blocked_eio", exited(in_background(READ, SIGTTIN, BLOCK), 5));

	CHECK("write_without_tostop_goes_ahead", exited(in_background(WRITE, SIGTTOU, 0), 0));
	struct termios t = saved;
	t.c_lflag |= TOSTOP;
	CHECK("set_tostop_in_the_foreground", tcsetattr(0, TCSANOW, &t) == 0);
	CHECK("write_with_tostop_stops_with_sigttou", stopped_by(in_background(WRITE, SIGTTOU, 0), SIGTTOU));
	CHECK("write_with_tostop_sigttou_ignored_goes_ahead", exited(in_background(WRITE, SIGTTOU, IGNORE), 0));
	CHECK("write_with_tostop_sigttou_blocked_goes_ahead", exited(in_background(WRITE, SIGTTOU, BLOCK), 0));
	CHECK("write_with_tostop_orphaned_eio", orphaned(WRITE) == 5);
	tcsetattr(0, TCSANOW, &saved);

	CHECK("tcsetattr_stops_with_sigttou", stopped_by(in_background(SETATTR, SIGTTOU, 0), SIGTTOU));
	CHECK("tcsetattr_sigttou_ignored_goes_ahead", exited(in_background(SETATTR, SIGTTOU, IGNORE), 0));
	CHECK("tcsetattr_sigttou_blocked_goes_ahead", exited(in_background(SETATTR, SIGTTOU, BLOCK), 0));
	CHECK("tcsetpgrp_stops_with_sigttou", stopped_by(in_background(SETPGRP, SIGTTOU, 0), SIGTTOU));
	CHECK("tcsetpgrp_sigttou_ignored_goes_ahead", exited(in_background(SETPGRP, SIGTTOU, IGNORE), 0));
	CHECK("terminal_given_back", tcgetpgrp(0) == getpgrp());

	CHECK("read_orphaned_eio", orphaned(READ) == 5);
	CHECK("tcsetattr_orphaned_eio", orphaned(SETATTR) == 5);
	CHECK("foreground_tcsetattr", tcsetattr(0, TCSANOW, &saved) == 0);
	return check_exit();
}
