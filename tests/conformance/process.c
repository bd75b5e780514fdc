/*
 * process.c — fork, exec, wait, exit statuses, pipes, signals (handlers,
 * masks, frames, restarts, the alternate stack), process groups, poll/select.
 *
 * Children report through exit statuses and pipes only, so every line stays
 * deterministic.
 */
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got_usr1, got_chld, info_ok, on_altstack;
static char altstack[65536];

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1++;
}

static void on_usr1_info(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	info_ok = sig == SIGUSR1 && si->si_signo == SIGUSR1 &&
		  si->si_code == SI_TKILL && si->si_pid == getpid();
}

static void on_chld(int sig)
{
	(void)sig;
	got_chld++;
}

static void on_usr2_alt(int sig)
{
	char local;
	(void)sig;
	on_altstack = (uintptr_t)&local >= (uintptr_t)altstack &&
		      (uintptr_t)&local < (uintptr_t)altstack + sizeof altstack;
}

static void on_term_exit(int sig)
{
	(void)sig;
	_exit(42);
}

/* Forks a child running fn; returns its wait status. */
static int run_child(int (*fn)(void))
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(fn());
	int status = -1;
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

static int exits_7(void) { return 7; }

static int child_sees_parent(void)
{
	return getppid() != getpid() && getpid() > 1 ? 0 : 1;
}

static int dies_of_sigpipe(void)
{
	int p[2];
	if (pipe(p) != 0)
		return 1;
	close(p[0]);
	(void)write(p[1], "x", 1);
	return 2;
}

static int raises_segv(void)
{
	return *(volatile int *)8;
}

static int execs_true(void)
{
	char *argv[] = {"true", NULL};
	execv("/bin/true", argv);
	return 99;
}

static void fork_wait_exit(void)
{
	CHECK("fork_exit_status", WIFEXITED(run_child(exits_7)) &&
				  WEXITSTATUS(run_child(exits_7)) == 7);
	CHECK("child_has_own_pid_and_parent", run_child(child_sees_parent) == 0);
	int st = run_child(dies_of_sigpipe);
	CHECK("sigpipe_kills_writer", WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE);
	st = run_child(raises_segv);
	CHECK("fault_kills_with_sigsegv", WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	st = run_child(execs_true);
	CHECK("exec_in_child", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_ERRNO("wait_without_children_echild", ECHILD, wait(NULL));

	pid_t v = vfork();
	if (v == 0)
		_exit(3);
	st = -1;
	CHECK("vfork_exit_status", waitpid(v, &st, 0) == v && WEXITSTATUS(st) == 3);

	/* WNOHANG while the child waits on a pipe; then it exits. */
	int p[2];
	pipe(p);
	pid_t c = fork();
	if (c == 0) {
		char b;
		close(p[1]);
		_exit(read(p[0], &b, 1) == 1 && b == 'g' ? 5 : 6);
	}
	close(p[0]);
	CHECK("wnohang_running_child", waitpid(c, &st, WNOHANG) == 0);
	write(p[1], "g", 1);
	close(p[1]);
	CHECK("child_read_from_pipe", waitpid(c, &st, 0) == c && WEXITSTATUS(st) == 5);

	/* SIGKILL from the parent. */
	c = fork();
	if (c == 0) {
		for (;;)
			pause();
	}
	kill(c, SIGKILL);
	CHECK("sigkill_child", waitpid(c, &st, 0) == c && WIFSIGNALED(st) &&
				       WTERMSIG(st) == SIGKILL);

	/* SIGTERM caught by the child's handler, which exits 42. */
	pipe(p);
	c = fork();
	if (c == 0) {
		signal(SIGTERM, on_term_exit);
		close(p[0]);
		write(p[1], "r", 1); /* ready */
		for (;;)
			pause();
	}
	close(p[1]);
	char b;
	read(p[0], &b, 1);
	close(p[0]);
	kill(c, SIGTERM);
	CHECK("handler_in_child_exits", waitpid(c, &st, 0) == c &&
						WIFEXITED(st) && WEXITSTATUS(st) == 42);
}

static void pipes(void)
{
	int p[2];
	char buf[8] = {0};
	CHECK("pipe_created", pipe(p) == 0);
	CHECK("pipe_write", write(p[1], "abc", 3) == 3);
	CHECK("pipe_read", read(p[0], buf, sizeof buf) == 3 && memcmp(buf, "abc", 3) == 0);
	struct pollfd pf = {.fd = p[0], .events = POLLIN};
	CHECK("poll_empty_times_out", poll(&pf, 1, 0) == 0);
	write(p[1], "z", 1);
	CHECK("poll_sees_data", poll(&pf, 1, 1000) == 1 && (pf.revents & POLLIN));
	fd_set rd;
	FD_ZERO(&rd);
	FD_SET(p[0], &rd);
	struct timeval tv = {0, 0};
	CHECK("select_sees_data", select(p[0] + 1, &rd, NULL, NULL, &tv) == 1 && FD_ISSET(p[0], &rd));
	read(p[0], buf, 1);
	close(p[1]);
	CHECK("pipe_eof_after_close", read(p[0], buf, 1) == 0);
	close(p[0]);

	signal(SIGPIPE, SIG_IGN);
	pipe(p);
	close(p[0]);
	CHECK_ERRNO("write_without_reader_epipe", EPIPE, write(p[1], "x", 1));
	close(p[1]);
	signal(SIGPIPE, SIG_DFL);

	CHECK("pipe2_nonblock", pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
	CHECK_ERRNO("nonblocking_empty_read_eagain", EAGAIN, read(p[0], buf, 1));
	CHECK("pipe2_cloexec", (fcntl(p[0], F_GETFD) & FD_CLOEXEC) != 0);
	CHECK_ERRNO("pipe2_bad_flags", EINVAL, pipe2(p, 0x12345678));
	close(p[0]);
	close(p[1]);
}

static void signals(void)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	CHECK("handler_runs", got_usr1 == 1);

	sa.sa_sigaction = on_usr1_info;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, NULL);
	raise(SIGUSR1);
	CHECK("siginfo_fields", info_ok);

	sa.sa_handler = on_usr1;
	sa.sa_flags = 0;
	sigaction(SIGUSR1, &sa, NULL);
	got_usr1 = 0;
	sigset_t set, pending;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	raise(SIGUSR1);
	sigpending(&pending);
	CHECK("blocked_signal_waits", got_usr1 == 0 && sigismember(&pending, SIGUSR1));
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	CHECK("unblocked_signal_arrives", got_usr1 == 1);

	/* sigsuspend: the child signals us after we suspend with USR1 unblocked. */
	sigprocmask(SIG_BLOCK, &set, NULL);
	pid_t parent = getpid();
	pid_t c = fork();
	if (c == 0) {
		kill(parent, SIGUSR1);
		_exit(0);
	}
	sigset_t none;
	sigemptyset(&none);
	got_usr1 = 0;
	CHECK_ERRNO("sigsuspend_eintr", EINTR, sigsuspend(&none));
	CHECK("sigsuspend_handler_ran", got_usr1 == 1);
	sigset_t now;
	sigprocmask(SIG_SETMASK, NULL, &now);
	CHECK("sigsuspend_restores_mask", sigismember(&now, SIGUSR1));
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	waitpid(c, NULL, 0);

	/* A sleep interrupted by a handler without SA_RESTART: EINTR. */
	c = fork();
	if (c == 0) {
		struct timespec d = {0, 50 * 1000 * 1000};
		nanosleep(&d, NULL);
		kill(parent, SIGUSR1);
		_exit(0);
	}
	struct timespec long_sleep = {5, 0}, rem = {0, 0};
	CHECK_ERRNO("nanosleep_interrupted", EINTR, nanosleep(&long_sleep, &rem));
	CHECK("nanosleep_reports_remaining", rem.tv_sec > 0 && rem.tv_sec <= 5);
	waitpid(c, NULL, 0);

	/* A pipe read interrupted by a handler with SA_RESTART continues. */
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	int p[2];
	pipe(p);
	c = fork();
	if (c == 0) {
		struct timespec d = {0, 50 * 1000 * 1000};
		nanosleep(&d, NULL);
		kill(parent, SIGUSR1);
		nanosleep(&d, NULL);
		write(p[1], "k", 1);
		_exit(0);
	}
	char b = 0;
	got_usr1 = 0;
	CHECK("read_restarts_after_handler", read(p[0], &b, 1) == 1 && b == 'k' && got_usr1 == 1);
	waitpid(c, NULL, 0);
	close(p[0]);
	close(p[1]);

	/* SIGCHLD reaches the parent. */
	signal(SIGCHLD, on_chld);
	c = fork();
	if (c == 0)
		_exit(0);
	waitpid(c, NULL, 0);
	CHECK("sigchld_delivered", got_chld >= 1);
	signal(SIGCHLD, SIG_DFL);

	/* The alternate stack. */
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
	CHECK("sigaltstack_set", sigaltstack(&ss, NULL) == 0);
	sa.sa_handler = on_usr2_alt;
	sa.sa_flags = SA_ONSTACK;
	sigaction(SIGUSR2, &sa, NULL);
	raise(SIGUSR2);
	CHECK("handler_on_altstack", on_altstack);
	stack_t tiny = {.ss_sp = altstack, .ss_size = 16, .ss_flags = 0};
	CHECK_ERRNO("sigaltstack_too_small", ENOMEM, sigaltstack(&tiny, NULL));

	CHECK_ERRNO("sigaction_sigkill_einval", EINVAL, sigaction(SIGKILL, &sa, NULL));
	CHECK_ERRNO("kill_bad_signal", EINVAL, kill(getpid(), 1000));
	CHECK_ERRNO("kill_missing_process", ESRCH, kill(999999, 0));
	CHECK("kill_zero_checks_existence", kill(getpid(), 0) == 0);
}

static int group_child(void)
{
	return setpgid(0, 0) == 0 && getpgid(0) == getpid() ? 0 : 1;
}

static void stop_and_continue(void)
{
	pid_t c = fork();
	if (c == 0) {
		for (;;)
			pause();
	}
	int st = 0;
	kill(c, SIGSTOP);
	CHECK("wuntraced_reports_stop", waitpid(c, &st, WUNTRACED) == c && WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP);
	CHECK("stop_reported_once", waitpid(c, &st, WUNTRACED | WNOHANG) == 0);
	kill(c, SIGCONT);
	CHECK("wcontinued_reports_continue", waitpid(c, &st, WCONTINUED) == c && WIFCONTINUED(st));
	kill(c, SIGTSTP);
	siginfo_t si;
	memset(&si, 0, sizeof si);
	CHECK("waitid_wstopped", waitid(P_PID, c, &si, WSTOPPED) == 0 && si.si_code == CLD_STOPPED && si.si_status == SIGTSTP);
	kill(c, SIGKILL);
	CHECK("sigkill_ends_a_stopped_child", waitpid(c, &st, 0) == c && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static void groups(void)
{
	CHECK("setpgid_in_child", run_child(group_child) == 0);
	CHECK_ERRNO("getpgid_missing", ESRCH, getpgid(999999));
	CHECK("getsid_self", getsid(0) == getsid(getpid()));
}

int main(void)
{
	fork_wait_exit();
	pipes();
	signals();
	stop_and_continue();
	groups();
	return check_exit();
}
