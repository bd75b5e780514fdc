/*
 * clonevm.c — children that share their creator's memory without being its
 * threads: vfork, clone(CLONE_VM) and clone3(CLONE_VM | CLONE_VFORK), and
 * posix_spawn (which glibc builds on the latter). Each writes to memory the
 * creator then reads, maps memory the creator then sees, and is a process of
 * its own (own pid, own exit status, reaped with wait).
 */
#include "check.h"

#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static volatile int shared_word;
static void *volatile mapped_by_child;

static int child_fn(void *arg)
{
	shared_word = (int)(intptr_t)arg;
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED)
		*(int *)p = 77;
	mapped_by_child = p;
	return 5;
}

static int exit_code(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

int main(void)
{
	pid_t self = getpid();

	/* vfork: the child runs in our memory until it exits; we wait meanwhile. */
	shared_word = 0;
	pid_t pid = vfork();
	if (pid == 0) {
		shared_word = getpid() != self ? 1 : 2;
		_exit(3);
	}
	CHECK("vfork_child_wrote_our_memory", shared_word == 1);
	CHECK("vfork_child_exit_status", exit_code(pid) == 3);

	/* vfork then exec: the child gets a memory of its own; ours is untouched. */
	shared_word = 9;
	pid = vfork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", "exit 4", (char *)NULL);
		_exit(127);
	}
	CHECK("vfork_exec_status", exit_code(pid) == 4);
	CHECK("vfork_exec_left_memory_alone", shared_word == 9);

	/* vfork whose exec fails: the child still runs in our memory. */
	pid = vfork();
	if (pid == 0) {
		execl("/nonexistent/program", "x", (char *)NULL);
		shared_word = 10;
		_exit(126);
	}
	CHECK("vfork_failed_exec_status", exit_code(pid) == 126);
	CHECK("vfork_failed_exec_wrote_our_memory", shared_word == 10);

	/* clone(CLONE_VM) without CLONE_THREAD or CLONE_VFORK: a process running
	 * beside us in our memory, with a stack of its own. */
	size_t stack_size = 256 * 1024;
	char *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	shared_word = 0;
	mapped_by_child = NULL;
	pid = clone(child_fn, stack + stack_size, CLONE_VM | SIGCHLD, (void *)(intptr_t)42);
	CHECK("clone_vm_started", pid > 0 && pid != self);
	CHECK("clone_vm_exit_status", exit_code(pid) == 5);
	CHECK("clone_vm_child_wrote_our_memory", shared_word == 42);
	void *p = mapped_by_child;
	CHECK("clone_vm_child_mapping_is_ours", p != NULL && p != MAP_FAILED && *(int *)p == 77);
	if (p != NULL && p != MAP_FAILED)
		munmap(p, 4096);

	/* clone(CLONE_VM | CLONE_VFORK): we sleep until the child exits. */
	shared_word = 0;
	pid = clone(child_fn, stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, (void *)(intptr_t)43);
	CHECK("clone_vfork_wrote_before_we_resumed", shared_word == 43);
	CHECK("clone_vfork_exit_status", exit_code(pid) == 5);
	munmap(stack, stack_size);

	/* posix_spawn: glibc's clone(CLONE_VM | CLONE_VFORK) and exec. */
	char *argv[] = {"sh", "-c", "exit 6", NULL};
	pid_t spawned;
	CHECK("posix_spawn_succeeds", posix_spawn(&spawned, "/bin/sh", NULL, NULL, argv, environ) == 0);
	CHECK("posix_spawn_exit_status", exit_code(spawned) == 6);
	char *missing[] = {"x", NULL};
	CHECK("posix_spawn_reports_enoent", posix_spawn(&spawned, "/nonexistent/program", NULL, NULL, missing, environ) == ENOENT);

	/* Many in a row: nothing leaks. */
	int all = 1;
	for (int i = 0; i < 200 && all; i++) {
		pid = vfork();
		if (pid == 0)
			_exit(i & 0x7f);
		all = exit_code(pid) == (i & 0x7f);
	}
	CHECK("vfork_200_times", all);
	return check_exit();
}
