/*
 * identity.c — who am I, what am I running on, what time is it.
 *
 * The values differ between the host and the sandbox (the sandbox's first
 * process is pid 1, its kernel release is emulated), so only relations that
 * hold in both are checked and no value is printed.
 */
#include "check.h"

#include <libgen.h>
#include <sched.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* True when field (of a utsname) holds a NUL before its end. */
static int nul_terminated(const char *field, size_t size)
{
	return memchr(field, '\0', size) != NULL;
}

static int64_t ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static void ids(void)
{
	pid_t pid = getpid();
	CHECK("getpid_matches_raw_syscall", pid == syscall(SYS_getpid) && pid > 0);
	CHECK("gettid_is_pid_in_main_thread", gettid() == pid);
	/* The sandbox's init has parent 0; natively the parent is someone. */
	CHECK("getppid_not_self", getppid() >= 0 && getppid() != pid);
	CHECK("getpgid_matches_getpgrp", getpgid(0) == getpgrp() && getpgrp() > 0);
	/* 0 when the session leader lives outside our pid namespace (CI runners). */
	CHECK("getsid_self_matches_zero", getsid(0) == getsid(pid) && getsid(0) >= 0);

	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	CHECK("getresuid_agrees", getresuid(&ru, &eu, &su) == 0 &&
					  ru == getuid() && eu == geteuid());
	CHECK("getresgid_agrees", getresgid(&rg, &eg, &sg) == 0 &&
					  rg == getgid() && eg == getegid());
	CHECK("getgroups_count", getgroups(0, NULL) >= 0);
}

static void system_name(void)
{
	struct utsname u;
	CHECK("uname_fields_nul_terminated",
	      uname(&u) == 0 && nul_terminated(u.sysname, sizeof u.sysname) &&
		      nul_terminated(u.nodename, sizeof u.nodename) &&
		      nul_terminated(u.release, sizeof u.release) &&
		      nul_terminated(u.version, sizeof u.version) &&
		      nul_terminated(u.machine, sizeof u.machine) &&
		      nul_terminated(u.domainname, sizeof u.domainname));
	CHECK("uname_sysname_linux", strcmp(u.sysname, "Linux") == 0);
	CHECK("uname_machine_x86_64", strcmp(u.machine, "x86_64") == 0);
	CHECK("uname_release_nonempty", u.release[0] != '\0');
}

static void randomness(void)
{
	unsigned char a[32] = {0}, b[32] = {0}, zero[32] = {0};
	CHECK("getrandom_fills", getrandom(a, sizeof a, 0) == sizeof a &&
					 getrandom(b, sizeof b, GRND_NONBLOCK) == sizeof b);
	/* 2^-256 chance of a false failure. */
	CHECK("getrandom_differs", memcmp(a, b, sizeof a) != 0 &&
					   memcmp(a, zero, sizeof a) != 0);
	CHECK_ERRNO("getrandom_bad_flags_einval", EINVAL,
		    getrandom(a, sizeof a, 0x8000));
}

static void clocks(void)
{
	struct timespec prev, now, res;
	int monotonic = clock_gettime(CLOCK_MONOTONIC, &prev) == 0;
	for (int i = 0; i < 1000 && monotonic; i++) {
		monotonic = clock_gettime(CLOCK_MONOTONIC, &now) == 0 &&
			    ns(&now) >= ns(&prev);
		prev = now;
	}
	CHECK("clock_monotonic_non_decreasing", monotonic);
	/* 2020-01-01T00:00:00Z: the realtime clock is not at the epoch. */
	CHECK("clock_realtime_plausible",
	      clock_gettime(CLOCK_REALTIME, &now) == 0 && now.tv_sec > 1577836800);
	CHECK("clock_getres_monotonic",
	      clock_getres(CLOCK_MONOTONIC, &res) == 0 && ns(&res) > 0 &&
		      ns(&res) <= 1000000);
	/* Raw syscall: glibc's vDSO path may not reach the kernel. */
	CHECK_ERRNO("clock_gettime_bad_clock_einval", EINVAL,
		    syscall(SYS_clock_gettime, 12345, &now));
}

static void limits_and_cpus(const char *argv0)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CHECK("sched_getaffinity_has_cpu",
	      sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) >= 1);

	struct rlimit rl, old;
	CHECK("getrlimit_stack",
	      getrlimit(RLIMIT_STACK, &rl) == 0 &&
		      (rl.rlim_max == RLIM_INFINITY || rl.rlim_cur <= rl.rlim_max));
	CHECK("prlimit64_stack_matches_getrlimit",
	      prlimit(0, RLIMIT_STACK, NULL, &old) == 0 &&
		      old.rlim_cur == rl.rlim_cur && old.rlim_max == rl.rlim_max);
	CHECK_ERRNO("prlimit64_bad_resource_einval", EINVAL,
		    syscall(SYS_prlimit64, 0, 999, NULL, &old));

	mode_t prev = umask(027);
	CHECK("umask_round_trip", umask(prev) == 027);

	/* The task name is the executable's file name, cut to 15 bytes. */
	char name[16] = {0}, expected[16] = {0};
	char copy[256];
	snprintf(copy, sizeof copy, "%s", argv0);
	snprintf(expected, sizeof expected, "%s", basename(copy));
	CHECK("prctl_get_name_is_exe_name",
	      prctl(PR_GET_NAME, name) == 0 && strcmp(name, expected) == 0);
}

int main(int argc, char **argv)
{
	(void)argc;
	ids();
	system_name();
	randomness();
	clocks();
	limits_and_cpus(argv[0]);
	return check_exit();
}
