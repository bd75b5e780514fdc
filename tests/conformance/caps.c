/*
 * caps.c — Linux capabilities: capget/capset, the bounding and ambient sets,
 * keep-caps and the secure bits, what uid changes and execve do to the sets,
 * and the permission checks that root passes only with the right capability
 * (file access, ownership, set*id, kill, sethostname, mknod, rlimits).
 *
 * Every scenario runs in a child of its own, which gives up capabilities and
 * then checks what it can no longer do; the parent stays privileged. Only
 * relations are checked (the host's root may lack some capability that the
 * sandbox's root has), never a set's absolute value. No check changes the
 * host: files are made in a fresh directory under /tmp, the hostname is only
 * set where that must fail.
 *
 * The checks need a privileged root (uid 0 with the capabilities below
 * effective). Natively without that they cannot be made and are reported as
 * passing; in the sandbox, whose first process is such a root, they always
 * run.
 */
#include "check.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>
#include <sys/fsuid.h>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_IS_SET 1
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_LOWER 3
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef SYS_faccessat2
#define SYS_faccessat2 439
#endif

/* The secure bits (linux/securebits.h), by number. */
#define SECBIT_KEEP_CAPS_ (1UL << 4)
#define SECBIT_KEEP_CAPS_LOCKED_ (1UL << 5)
#define SECBIT_NO_CAP_AMBIENT_RAISE_ (1UL << 6)

/* Capabilities 0 to 40 (CAP_CHECKPOINT_RESTORE). */
#define LAST_CAP 40
#define ALL_CAPS ((1ULL << (LAST_CAP + 1)) - 1)

static int skipping;
static const char *self;

/* CHECK and CHECK_ERRNO, or a pass when the checks cannot be made. */
#define CK(name, expr)                                                       \
	do {                                                                 \
		if (skipping)                                                \
			check_report_(name, 1, "");                          \
		else                                                         \
			CHECK(name, expr);                                   \
	} while (0)
#define CK_ERRNO(name, ERRNO, call)                                          \
	do {                                                                 \
		if (skipping)                                                \
			check_report_(name, 1, "");                          \
		else                                                         \
			CHECK_ERRNO(name, ERRNO, call);                      \
	} while (0)

static uint64_t bit(int cap)
{
	return 1ULL << cap;
}

struct caps {
	uint64_t eff, prm, inh;
};

static int get_caps(pid_t pid, struct caps *c)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, pid};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) != 0)
		return -1;
	c->eff = (d[0].effective | (uint64_t)d[1].effective << 32) & ALL_CAPS;
	c->prm = (d[0].permitted | (uint64_t)d[1].permitted << 32) & ALL_CAPS;
	c->inh = (d[0].inheritable | (uint64_t)d[1].inheritable << 32) & ALL_CAPS;
	return 0;
}

static int set_caps(uint64_t eff, uint64_t prm, uint64_t inh)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2] = {
		{(uint32_t)eff, (uint32_t)prm, (uint32_t)inh},
		{(uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32)},
	};
	return syscall(SYS_capset, &h, d);
}

/* Takes `mask` out of the effective set only. */
static int drop_effective(uint64_t mask)
{
	struct caps c;
	return get_caps(0, &c) == 0 ? set_caps(c.eff & ~mask, c.prm, c.inh) : -1;
}

/* Puts `mask` (from the permitted set) back into the effective set. */
static int raise_effective(uint64_t mask)
{
	struct caps c;
	return get_caps(0, &c) == 0 ? set_caps(c.eff | (mask & c.prm), c.prm, c.inh) : -1;
}

/* Takes `mask` out of the effective, permitted and inheritable sets. */
static int drop_all(uint64_t mask)
{
	struct caps c;
	return get_caps(0, &c) == 0 ? set_caps(c.eff & ~mask, c.prm & ~mask, c.inh & ~mask) : -1;
}

static uint64_t bounding(void)
{
	uint64_t b = 0;
	for (int c = 0; c <= LAST_CAP; c++)
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
			b |= bit(c);
	return b;
}

static int ambient_is_set(int cap)
{
	return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0);
}

/* The hexadecimal value of `key` ("CapEff") in /proc/self/status, or ~0. */
static uint64_t status_field(const char *key)
{
	char line[256];
	uint64_t v = ~0ULL;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return v;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, key, n) == 0 && line[n] == ':')
			v = strtoull(line + n + 1, NULL, 16) & ALL_CAPS;
	fclose(f);
	return v;
}

/* Runs fn in a child and waits for it; a failing child fails the program. */
static void in_child(const char *name, void (*fn)(void))
{
	int status;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		fn();
		_exit(check_exit());
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid) {
		check_report_(name, 0, "fork or wait failed");
	} else if (!WIFEXITED(status)) {
		char detail[64];
		snprintf(detail, sizeof detail, "child killed by signal %d", WTERMSIG(status));
		check_report_(name, 0, detail);
	} else if (WEXITSTATUS(status) != 0) {
		check_failures_++;
	}
}

/* Executes this program again, to check the sets it starts with. */
static void exec_self(const char *scenario)
{
	char *argv[] = {(char *)self, "--after-exec", (char *)scenario, skipping ? "skip" : NULL, NULL};
	fflush(stdout);
	execv(self, argv);
	check_report_(scenario, 0, "execv failed");
}

static void capget_capset(void)
{
	struct __user_cap_header_struct h = {0x12345678, 0};
	struct __user_cap_data_struct d[2];
	struct caps c, parent;

	CK_ERRNO("capget_bad_version_einval", EINVAL, syscall(SYS_capget, &h, d));
	CK("capget_bad_version_writes_v3", h.version == _LINUX_CAPABILITY_VERSION_3);
	h.version = 0x12345678;
	CK("capget_bad_version_null_data_ok",
	   syscall(SYS_capget, &h, NULL) == 0 && h.version == _LINUX_CAPABILITY_VERSION_3);
	h.version = _LINUX_CAPABILITY_VERSION_1;
	CK("capget_v1_null_data_ok", syscall(SYS_capget, &h, NULL) == 0);
	memset(d, 0xa5, sizeof d);
	CK("capget_v1_fills_one_word",
	   get_caps(0, &c) == 0 && syscall(SYS_capget, &h, d) == 0 &&
		   d[0].effective == (uint32_t)c.eff && d[0].permitted == (uint32_t)c.prm &&
		   d[1].effective == 0xa5a5a5a5);
	h.version = _LINUX_CAPABILITY_VERSION_2;
	CK("capget_v2_two_words", syscall(SYS_capget, &h, d) == 0 &&
					  d[1].permitted == (uint32_t)(c.prm >> 32));
	h.version = _LINUX_CAPABILITY_VERSION_3;
	CK_ERRNO("capget_bad_data_efault", EFAULT, syscall(SYS_capget, &h, (void *)8));
	CK_ERRNO("capget_bad_header_efault", EFAULT, syscall(SYS_capget, (void *)8, d));
	h.pid = -1;
	CK_ERRNO("capget_negative_pid_einval", EINVAL, syscall(SYS_capget, &h, d));
	h.pid = 0x3fffffff;
	CK_ERRNO("capget_missing_pid_esrch", ESRCH, syscall(SYS_capget, &h, d));
	CK("capget_own_pid", get_caps(getpid(), &parent) == 0 && parent.eff == c.eff);
	CK("capget_other_process", get_caps(getppid(), &parent) == 0 && parent.prm == c.prm);

	h.pid = getppid();
	CK_ERRNO("capset_other_pid_eperm", EPERM, syscall(SYS_capset, &h, d));
	h.pid = 0;
	h.version = 0x12345678;
	CK_ERRNO("capset_bad_version_einval", EINVAL, syscall(SYS_capset, &h, d));
	CK("capset_bad_version_writes_v3", h.version == _LINUX_CAPABILITY_VERSION_3);
	CK_ERRNO("capset_bad_data_efault", EFAULT, syscall(SYS_capset, &h, (void *)8));

	uint64_t gone = bit(CAP_CHOWN) | bit(CAP_FOWNER);
	CK_ERRNO("capset_effective_beyond_permitted_eperm", EPERM,
		 set_caps(c.prm, c.prm & ~bit(CAP_CHOWN), 0));
	CK("capset_drop_permitted", set_caps(c.eff & ~gone, c.prm & ~gone, 0) == 0);
	CK_ERRNO("capset_raise_permitted_eperm", EPERM, set_caps(c.eff & ~gone, c.prm, 0));
	CK("capset_capget_agree", get_caps(0, &c) == 0 && (c.prm & gone) == 0 && (c.eff & gone) == 0);
	/* With CAP_SETPCAP the inheritable set may take from the bounding set. */
	CK("capset_inheritable_from_bounding", set_caps(c.eff, c.prm, bit(CAP_CHOWN)) == 0);
	CK("capset_drop_setpcap", set_caps(c.eff & ~bit(CAP_SETPCAP), c.prm, bit(CAP_CHOWN)) == 0);
	CK_ERRNO("capset_inheritable_beyond_permitted_eperm", EPERM,
		 set_caps(c.eff & ~bit(CAP_SETPCAP), c.prm, gone));
	CK_ERRNO("capbset_drop_without_setpcap_eperm", EPERM,
		 prctl(PR_CAPBSET_DROP, CAP_FOWNER, 0, 0, 0));
	CK("capset_raise_setpcap", set_caps(c.eff, c.prm, bit(CAP_CHOWN)) == 0);
	CK("capbset_drop_fowner", prctl(PR_CAPBSET_DROP, CAP_FOWNER, 0, 0, 0) == 0);
	CK_ERRNO("capset_inheritable_beyond_bounding_eperm", EPERM, set_caps(c.eff, c.prm, gone));

	uint64_t eff = bit(CAP_KILL), prm = bit(CAP_KILL) | bit(CAP_SETPCAP), inh = bit(CAP_CHOWN);
	CK("capset_exact_sets", set_caps(eff, prm, inh) == 0 && get_caps(0, &c) == 0 &&
				      c.eff == eff && c.prm == prm && c.inh == inh);
	CK("status_matches_capget", status_field("CapEff") == eff &&
					    status_field("CapPrm") == prm &&
					    status_field("CapInh") == inh &&
					    status_field("CapAmb") == 0);
	CK("status_bounding_matches_prctl", status_field("CapBnd") == bounding());
}

static void capset_v1(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_1, 0};
	struct __user_cap_data_struct d[2];
	struct caps c;
	CK("capget_has_upper_caps", get_caps(0, &c) == 0 && (c.prm >> 32) != 0);
	d[0].effective = (uint32_t)c.eff;
	d[0].permitted = (uint32_t)c.prm;
	d[0].inheritable = 0;
	CK("capset_v1_clears_upper_words", syscall(SYS_capset, &h, d) == 0 && get_caps(0, &c) == 0 &&
						   (c.prm >> 32) == 0 && (c.eff >> 32) == 0 &&
						   (c.prm & bit(CAP_KILL)));
}

static void ambient_and_securebits(void)
{
	struct caps c;
	CK("ambient_initially_clear", ambient_is_set(CAP_KILL) == 0);
	CK_ERRNO("ambient_raise_not_inheritable_eperm", EPERM,
		 prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0));
	CK("ambient_inheritable",
	   get_caps(0, &c) == 0 && set_caps(c.eff, c.prm, bit(CAP_KILL) | bit(CAP_NET_BIND_SERVICE)) == 0);
	CK("ambient_raise", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0) == 0 &&
				    ambient_is_set(CAP_KILL) == 1);
	CK("ambient_status", status_field("CapAmb") == bit(CAP_KILL));
	CK_ERRNO("ambient_is_set_bad_cap_einval", EINVAL, prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, 99, 0, 0));
	CK_ERRNO("ambient_bad_op_einval", EINVAL, prctl(PR_CAP_AMBIENT, 99, CAP_KILL, 0, 0));
	CK_ERRNO("ambient_clear_all_extra_arg_einval", EINVAL,
		 prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 1, 0, 0));
	CK("ambient_lower", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, CAP_KILL, 0, 0) == 0 &&
				    ambient_is_set(CAP_KILL) == 0);
	CK("ambient_raise_two",
	   prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0) == 0 &&
		   prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0) == 0);
	CK("ambient_follows_inheritable",
	   set_caps(c.eff, c.prm, bit(CAP_NET_BIND_SERVICE)) == 0 && ambient_is_set(CAP_KILL) == 0 &&
		   ambient_is_set(CAP_NET_BIND_SERVICE) == 1);
	CK("ambient_clear_all", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == 0 &&
					ambient_is_set(CAP_NET_BIND_SERVICE) == 0);

	CK("securebits_initially_zero", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0) == 0);
	CK_ERRNO("securebits_unknown_bit_eperm", EPERM, prctl(PR_SET_SECUREBITS, 1UL << 20, 0, 0, 0));
	CK("securebits_no_ambient_raise",
	   prctl(PR_SET_SECUREBITS, SECBIT_NO_CAP_AMBIENT_RAISE_, 0, 0, 0) == 0 &&
		   prctl(PR_GET_SECUREBITS, 0, 0, 0, 0) == (int)SECBIT_NO_CAP_AMBIENT_RAISE_);
	CK_ERRNO("ambient_raise_forbidden_eperm", EPERM,
		 prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0));
	unsigned long locked = SECBIT_NO_CAP_AMBIENT_RAISE_ | SECBIT_KEEP_CAPS_ | SECBIT_KEEP_CAPS_LOCKED_;
	CK("securebits_keep_caps_is_keepcaps",
	   prctl(PR_SET_SECUREBITS, locked, 0, 0, 0) == 0 && prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) == 1);
	CK_ERRNO("keepcaps_locked_eperm", EPERM, prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0));
	CK_ERRNO("securebits_unlock_eperm", EPERM,
		 prctl(PR_SET_SECUREBITS, SECBIT_NO_CAP_AMBIENT_RAISE_ | SECBIT_KEEP_CAPS_, 0, 0, 0));
	CK_ERRNO("securebits_change_locked_eperm", EPERM,
		 prctl(PR_SET_SECUREBITS, SECBIT_NO_CAP_AMBIENT_RAISE_ | SECBIT_KEEP_CAPS_LOCKED_, 0, 0, 0));
	CK("securebits_drop_setpcap", drop_effective(bit(CAP_SETPCAP)) == 0);
	CK_ERRNO("securebits_without_setpcap_eperm", EPERM, prctl(PR_SET_SECUREBITS, locked, 0, 0, 0));
}

static void uid_changes(void)
{
	struct caps c;
	uint64_t fs = bit(CAP_CHOWN) | bit(CAP_DAC_OVERRIDE) | bit(CAP_DAC_READ_SEARCH) |
		      bit(CAP_FOWNER) | bit(CAP_FSETID) | bit(CAP_MKNOD);
	CK("seteuid_clears_effective",
	   seteuid(1000) == 0 && get_caps(0, &c) == 0 && c.eff == 0 && (c.prm & bit(CAP_SETUID)));
	CK("seteuid_root_restores_effective", seteuid(0) == 0 && get_caps(0, &c) == 0 && c.eff == c.prm);
	CK("setfsuid_returns_old", setfsuid(1000) == 0);
	CK("setfsuid_drops_fs_caps", get_caps(0, &c) == 0 && (c.eff & fs) == 0 &&
					     (c.eff & bit(CAP_KILL)) && (c.prm & fs) == fs);
	CK("setfsuid_back_restores_fs_caps", setfsuid(0) == 1000 && get_caps(0, &c) == 0 && c.eff == c.prm);
	CK("keepcaps_initially_off", prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) == 0);
	CK_ERRNO("keepcaps_bad_arg_einval", EINVAL, prctl(PR_SET_KEEPCAPS, 2, 0, 0, 0));
	CK("keepcaps_on", prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == 0 && prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) == 1);
	uint64_t before = c.prm;
	CK("setresuid_keepcaps_keeps_permitted",
	   setresuid(1000, 1000, 1000) == 0 && get_caps(0, &c) == 0 && c.prm == before && c.eff == 0);
	CK("status_after_setresuid", status_field("CapPrm") == before && status_field("CapEff") == 0);
	CK_ERRNO("kill_needs_effective_cap", EPERM, kill(getppid(), 0));
	CK("effective_raised_from_permitted", raise_effective(bit(CAP_KILL)) == 0 && kill(getppid(), 0) == 0);
	CK("setuid_back_with_cap", raise_effective(bit(CAP_SETUID)) == 0 && setuid(0) == 0 && getuid() == 0);
}

static void setuid_drops_everything(void)
{
	struct caps c;
	CK("setuid_user_clears_caps", setuid(1000) == 0 && get_caps(0, &c) == 0 && c.eff == 0 && c.prm == 0);
	CK("setuid_user_all_ids", getuid() == 1000 && geteuid() == 1000);
	CK_ERRNO("setuid_back_to_root_eperm", EPERM, setuid(0));
	CK_ERRNO("capset_after_setuid_eperm", EPERM, set_caps(bit(CAP_KILL), bit(CAP_KILL), 0));
	CK("bounding_kept_after_setuid", prctl(PR_CAPBSET_READ, CAP_KILL, 0, 0, 0) == 1);
	CK("status_after_setuid", status_field("CapPrm") == 0 && status_field("CapEff") == 0);
}

static void ids_without_caps(void)
{
	CK("drop_setuid_setgid", drop_all(bit(CAP_SETUID) | bit(CAP_SETGID)) == 0);
	CK_ERRNO("setuid_without_cap_eperm", EPERM, setuid(1000));
	CK_ERRNO("setresuid_without_cap_eperm", EPERM, setresuid(-1, 1000, -1));
	CK_ERRNO("setreuid_without_cap_eperm", EPERM, setreuid(1000, -1));
	CK_ERRNO("setgid_without_cap_eperm", EPERM, setgid(1000));
	CK_ERRNO("setresgid_without_cap_eperm", EPERM, setresgid(1000, -1, -1));
	CK_ERRNO("setgroups_without_cap_eperm", EPERM, setgroups(0, NULL));
	CK("setuid_to_own_id_ok", setuid(0) == 0 && setgid(0) == 0);
	CK("setfsuid_without_cap_unchanged", setfsuid(1000) == 0 && setfsuid(-1) == 0);
	CK("setfsgid_without_cap_unchanged", setfsgid(1000) == 0 && setfsgid(-1) == 0);
}

static void system_calls(void)
{
	struct rlimit rl = {64, 128};
	CK("drop_sys_admin_and_resource", drop_effective(bit(CAP_SYS_ADMIN) | bit(CAP_SYS_RESOURCE)) == 0);
	CK_ERRNO("sethostname_without_sys_admin_eperm", EPERM, sethostname("caps", 4));
	CK("setrlimit_lower_hard_ok", setrlimit(RLIMIT_NOFILE, &rl) == 0);
	rl.rlim_max = 256;
	CK_ERRNO("setrlimit_raise_hard_eperm", EPERM, setrlimit(RLIMIT_NOFILE, &rl));
	rl.rlim_cur = rl.rlim_max = 128;
	CK("setrlimit_raise_soft_ok", setrlimit(RLIMIT_NOFILE, &rl) == 0);
}

static void bounding_set(void)
{
	struct caps c;
	CK("capbset_read_chown", prctl(PR_CAPBSET_READ, CAP_CHOWN, 0, 0, 0) == 1);
	CK_ERRNO("capbset_read_bad_einval", EINVAL, prctl(PR_CAPBSET_READ, 64, 0, 0, 0));
	CK_ERRNO("capbset_drop_bad_einval", EINVAL, prctl(PR_CAPBSET_DROP, 64, 0, 0, 0));
	CK("capbset_drop_sys_admin", prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0) == 0 &&
					     prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) == 0);
	CK("capbset_status", (status_field("CapBnd") & bit(CAP_SYS_ADMIN)) == 0 &&
				     (status_field("CapBnd") & bit(CAP_CHOWN)));
	CK("capbset_drop_leaves_effective", get_caps(0, &c) == 0 && (c.eff & bit(CAP_SYS_ADMIN)));
	exec_self("root-bounded");
}

static void real_root_exec(void)
{
	/* Real and saved uid 0, effective 1000: the permitted set survives. */
	CK("real_root_setresuid", setresuid(0, 1000, 0) == 0);
	CK("real_root_search_caps", raise_effective(bit(CAP_DAC_READ_SEARCH) | bit(CAP_DAC_OVERRIDE)) == 0);
	exec_self("real-root");
}

static void user_exec(int with_ambient)
{
	uint64_t keep = bit(CAP_KILL) | bit(CAP_DAC_READ_SEARCH);
	struct caps c;
	CK(with_ambient ? "ambient_user_keepcaps" : "plain_user_keepcaps",
	   prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == 0 && setresuid(1000, 1000, 1000) == 0 && get_caps(0, &c) == 0);
	CK(with_ambient ? "ambient_user_sets" : "plain_user_sets",
	   set_caps(keep | bit(CAP_DAC_OVERRIDE), c.prm, with_ambient ? keep : 0) == 0);
	if (with_ambient)
		CK("ambient_user_raise",
		   prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0) == 0 &&
			   prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_DAC_READ_SEARCH, 0, 0) == 0);
	exec_self(with_ambient ? "user-ambient" : "user-plain");
}

static void ambient_user_exec(void)
{
	user_exec(1);
}

static void plain_user_exec(void)
{
	user_exec(0);
}

/* The checks of the program executed by exec_self. */
static int after_exec(const char *scenario)
{
	struct caps c;
	int got = get_caps(0, &c) == 0;
	if (strcmp(scenario, "root-bounded") == 0) {
		CK("exec_root_permitted_is_bounding", got && c.prm == bounding() && c.inh == 0);
		CK("exec_root_effective_is_permitted", got && c.eff == c.prm);
		CK("exec_root_lacks_dropped_cap", got && (c.prm & bit(CAP_SYS_ADMIN)) == 0);
		CK_ERRNO("exec_root_sethostname_eperm", EPERM, sethostname("caps", 4));
	} else if (strcmp(scenario, "real-root") == 0) {
		CK("exec_real_root_permitted_is_bounding", got && c.prm == bounding());
		CK("exec_real_root_no_effective", got && c.eff == 0);
	} else if (strcmp(scenario, "user-ambient") == 0) {
		uint64_t keep = bit(CAP_KILL) | bit(CAP_DAC_READ_SEARCH);
		CK("exec_ambient_uid", getuid() == 1000 && geteuid() == 1000);
		CK("exec_ambient_permitted", got && c.prm == keep);
		CK("exec_ambient_effective", got && c.eff == keep);
		CK("exec_ambient_kept", ambient_is_set(CAP_KILL) == 1 && ambient_is_set(CAP_DAC_READ_SEARCH) == 1 &&
						ambient_is_set(CAP_DAC_OVERRIDE) == 0);
		CK("exec_resets_keepcaps", prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) == 0);
		CK("exec_ambient_status", status_field("CapAmb") == keep && status_field("CapEff") == keep);
	} else if (strcmp(scenario, "user-plain") == 0) {
		CK("exec_user_no_caps", got && c.prm == 0 && c.eff == 0);
	} else {
		check_report_(scenario, 0, "unknown scenario");
	}
	return check_exit();
}

static void kill_across_users(void)
{
	fflush(stdout);
	pid_t target = fork();
	if (target == 0) {
		for (;;)
			pause();
	}
	CK("kill_target_started", target > 0);
	pid_t sender = fork();
	if (sender == 0) {
		CK("kill_sender_keeps_caps",
		   prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == 0 && setresuid(1000, 1000, 1000) == 0);
		CK_ERRNO("kill_other_user_eperm", EPERM, kill(target, 0));
		CK_ERRNO("kill_other_user_signal_eperm", EPERM, kill(target, SIGTERM));
		CK("kill_self_ok", kill(getpid(), 0) == 0);
		CK("kill_with_cap_kill", raise_effective(bit(CAP_KILL)) == 0 && kill(target, 0) == 0);
		_exit(check_exit());
	}
	int status, sent, killed;
	sent = sender > 0 && waitpid(sender, &status, 0) == sender && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
	CK("kill_sender_passed", sent);
	killed = target > 0 && kill(target, SIGKILL) == 0 && waitpid(target, &status, 0) == target &&
		 WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
	CK("kill_target_alive", killed);
}

static char dir[64];

static const char *in_dir(char *buf, const char *name)
{
	snprintf(buf, 128, "%s/%s", dir, name);
	return buf;
}

static int make_file(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	return chown(path, uid, gid) == 0 && chmod(path, mode) == 0 ? 0 : -1;
}

static void files(void)
{
	char other[128], closed[128], inner[128], sticky[128], victim[128], node[128], suid[128], sgid[128];
	struct stat st;
	struct timeval tv[2] = {{1000, 0}, {1000, 0}};
	int fd;
	uint64_t fs = bit(CAP_CHOWN) | bit(CAP_DAC_OVERRIDE) | bit(CAP_DAC_READ_SEARCH) |
		      bit(CAP_FOWNER) | bit(CAP_FSETID) | bit(CAP_MKNOD);

	in_dir(other, "other");
	in_dir(closed, "closed");
	in_dir(inner, "closed/inner");
	in_dir(sticky, "sticky");
	in_dir(victim, "sticky/victim");
	in_dir(node, "node");
	in_dir(suid, "suid");
	in_dir(sgid, "sgid");
	CK("files_setup",
	   make_file(other, 0600, 1000, 1000) == 0 && mkdir(closed, 0700) == 0 &&
		   make_file(inner, 0644, 1000, 1000) == 0 && chown(closed, 1000, 1000) == 0 &&
		   mkdir(sticky, 0700) == 0 && chmod(sticky, 01777) == 0 && chown(sticky, 2000, 2000) == 0 &&
		   make_file(victim, 0644, 1000, 1000) == 0 && make_file(suid, 04755, 0, 0) == 0 &&
		   make_file(sgid, 0644, 0, 54321) == 0);

	/* The permitted set keeps them: access() as the real root still passes. */
	CK("files_drop_effective", drop_effective(fs) == 0);
	CK_ERRNO("open_other_read_eacces", EACCES, open(other, O_RDONLY));
	CK_ERRNO("open_other_write_eacces", EACCES, open(other, O_WRONLY));
	CK("access_real_root_uses_permitted", access(other, R_OK | W_OK) == 0);
	CK_ERRNO("faccessat2_eaccess_uses_effective", EACCES,
		 syscall(SYS_faccessat2, AT_FDCWD, other, R_OK, AT_EACCESS));
	CK_ERRNO("stat_in_closed_dir_eacces", EACCES, stat(inner, &st));
	CK_ERRNO("chmod_other_eperm", EPERM, chmod(other, 0644));
	CK_ERRNO("utimes_other_eperm", EPERM, utimes(other, tv));
	CK_ERRNO("chown_other_eperm", EPERM, chown(other, 2000, -1));
	CK_ERRNO("chown_give_away_own_eperm", EPERM, chown(suid, 2000, -1));
	CK_ERRNO("chgrp_own_to_foreign_group_eperm", EPERM, chown(suid, -1, 2000));
	CK("chown_own_same_owner_ok", chown(sgid, 0, -1) == 0);
	CK_ERRNO("open_noatime_other_eperm", EPERM, open(victim, O_RDONLY | O_NOATIME));
	CK_ERRNO("mknod_chr_eperm", EPERM, mknod(node, S_IFCHR | 0600, makedev(1, 3)));
	CK_ERRNO("unlink_sticky_other_eperm", EPERM, unlink(victim));
	CK("chmod_drops_setgid_without_fsetid",
	   chmod(sgid, 02755) == 0 && stat(sgid, &st) == 0 && (st.st_mode & 07777) == 0755);
	fd = open(suid, O_WRONLY);
	CK("write_clears_setuid_without_fsetid", fd >= 0 && write(fd, "x", 1) == 1 && fstat(fd, &st) == 0 &&
							 (st.st_mode & 07777) == 0755);
	close(fd);

	CK("raise_dac_read_search", raise_effective(bit(CAP_DAC_READ_SEARCH)) == 0);
	fd = open(other, O_RDONLY);
	CK("open_other_read_with_dac_read_search", fd >= 0);
	close(fd);
	CK_ERRNO("open_other_write_still_eacces", EACCES, open(other, O_WRONLY));
	CK("stat_in_closed_dir_with_dac_read_search", stat(inner, &st) == 0);
	CK("raise_dac_override", raise_effective(bit(CAP_DAC_OVERRIDE)) == 0);
	fd = open(other, O_RDWR);
	CK("open_other_rdwr_with_dac_override", fd >= 0);
	close(fd);
	CK("raise_fowner", raise_effective(bit(CAP_FOWNER)) == 0);
	CK("chmod_other_with_fowner", chmod(other, 0640) == 0);
	CK("utimes_other_with_fowner", utimes(other, tv) == 0);
	fd = open(victim, O_RDONLY | O_NOATIME);
	CK("open_noatime_with_fowner", fd >= 0);
	close(fd);
	CK("unlink_sticky_with_fowner", unlink(victim) == 0);
	CK("raise_chown", raise_effective(bit(CAP_CHOWN)) == 0);
	CK("chown_other_with_chown", chown(other, 2000, 2000) == 0 && stat(other, &st) == 0 && st.st_uid == 2000);
	CK("raise_mknod", raise_effective(bit(CAP_MKNOD)) == 0);
	CK("mknod_chr_with_mknod", mknod(node, S_IFCHR | 0600, makedev(1, 3)) == 0);
	CK("raise_fsetid", raise_effective(bit(CAP_FSETID)) == 0);
	CK("chmod_keeps_setgid_with_fsetid",
	   chmod(sgid, 02755) == 0 && stat(sgid, &st) == 0 && (st.st_mode & 07777) == 02755);
	fd = open(suid, O_WRONLY);
	CK("write_keeps_setuid_with_fsetid", fd >= 0 && fchmod(fd, 04755) == 0 && write(fd, "x", 1) == 1 &&
						     fstat(fd, &st) == 0 && (st.st_mode & 07777) == 04755);
	close(fd);
}

static void remove_files(void)
{
	const char *names[] = {"closed/inner", "closed", "sticky/victim", "sticky", "other", "node", "suid", "sgid"};
	char buf[128];
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		in_dir(buf, names[i]);
		if (unlink(buf) != 0)
			rmdir(buf);
	}
	rmdir(dir);
}

/* Whether this process can make the checks: uid 0 with these capabilities effective. */
static int privileged(void)
{
	uint64_t need = bit(CAP_CHOWN) | bit(CAP_DAC_OVERRIDE) | bit(CAP_DAC_READ_SEARCH) |
			bit(CAP_FOWNER) | bit(CAP_FSETID) | bit(CAP_KILL) | bit(CAP_SETGID) |
			bit(CAP_SETUID) | bit(CAP_SETPCAP) | bit(CAP_MKNOD) | bit(CAP_SYS_ADMIN);
	struct caps c;
	return getuid() == 0 && geteuid() == 0 && get_caps(0, &c) == 0 && (c.eff & need) == need;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "--after-exec") == 0) {
		skipping = argc >= 4 && strcmp(argv[3], "skip") == 0;
		return after_exec(argv[2]);
	}
	self = argv[0][0] == '/' ? argv[0] : "/proc/self/exe";
	skipping = !privileged();
	strcpy(dir, "/tmp/sandbox-caps-XXXXXX");
	int have_dir = !skipping && mkdtemp(dir) != NULL;

	in_child("capget_capset", capget_capset);
	in_child("capset_v1", capset_v1);
	in_child("ambient_and_securebits", ambient_and_securebits);
	in_child("uid_changes", uid_changes);
	in_child("setuid_drops_everything", setuid_drops_everything);
	in_child("ids_without_caps", ids_without_caps);
	in_child("system_calls", system_calls);
	in_child("bounding_set", bounding_set);
	in_child("real_root_exec", real_root_exec);
	in_child("ambient_user_exec", ambient_user_exec);
	in_child("plain_user_exec", plain_user_exec);
	in_child("kill_across_users", kill_across_users);
	if (have_dir || skipping)
		in_child("files", files);
	else
		check_report_("files_dir", 0, "mkdtemp failed");
	if (have_dir)
		remove_files();
	return check_exit();
}
