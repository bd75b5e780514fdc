/*
 * vdso.c — the vDSO: found through AT_SYSINFO_EHDR, an ELF image exporting
 * __vdso_clock_gettime and friends, and answering exactly as the system calls
 * do (within the time between the calls).
 *
 * Clocks are compared by order (vDSO, then system call, then vDSO again), never
 * by value, so nothing printed depends on the time.
 */
#include "check.h"

#include <elf.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const unsigned char *vdso_base;
/* The image's load bias: its addresses plus this are where it is mapped. */
static uintptr_t vdso_bias;
static const Elf64_Sym *vdso_symtab;
static const char *vdso_strtab;
static size_t vdso_nsyms;

static int64_t ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* Finds the dynamic symbol table of the vDSO; 0 if it is not a usable ELF. */
static int parse_vdso(void)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)vdso_base;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_type != ET_DYN)
		return 0;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(vdso_base + eh->e_phoff);
	const Elf64_Dyn *dyn = NULL;
	int have_load = 0;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !have_load) {
			vdso_bias = (uintptr_t)vdso_base + ph[i].p_offset - ph[i].p_vaddr;
			have_load = 1;
		}
	}
	for (int i = 0; i < eh->e_phnum && have_load; i++)
		if (ph[i].p_type == PT_DYNAMIC)
			dyn = (const Elf64_Dyn *)(vdso_bias + ph[i].p_vaddr);
	if (dyn == NULL)
		return 0;
	const Elf32_Word *hash = NULL;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		if (dyn->d_tag == DT_SYMTAB)
			vdso_symtab = (const Elf64_Sym *)(vdso_bias + dyn->d_un.d_ptr);
		else if (dyn->d_tag == DT_STRTAB)
			vdso_strtab = (const char *)(vdso_bias + dyn->d_un.d_ptr);
		else if (dyn->d_tag == DT_HASH)
			hash = (const Elf32_Word *)(vdso_bias + dyn->d_un.d_ptr);
	}
	if (vdso_symtab == NULL || vdso_strtab == NULL)
		return 0;
	if (hash != NULL)
		vdso_nsyms = hash[1];
	else if ((const char *)vdso_symtab < vdso_strtab)
		vdso_nsyms = (size_t)(vdso_strtab - (const char *)vdso_symtab) /
			     sizeof(Elf64_Sym);
	return vdso_nsyms > 0;
}

static void *vdso_sym(const char *name)
{
	for (size_t i = 0; i < vdso_nsyms; i++) {
		const Elf64_Sym *s = &vdso_symtab[i];
		if (s->st_shndx != SHN_UNDEF && ELF64_ST_TYPE(s->st_info) == STT_FUNC &&
		    strcmp(vdso_strtab + s->st_name, name) == 0)
			return (void *)(vdso_bias + s->st_value);
	}
	return NULL;
}

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);
typedef int (*getcpu_fn)(unsigned *, unsigned *, void *);

static void image(void)
{
	vdso_base = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
	CHECK("auxv_sysinfo_ehdr_set", vdso_base != NULL);
	if (vdso_base == NULL)
		exit(check_exit());
	CHECK("vdso_is_elf_with_dynamic_symbols", parse_vdso());
	CHECK("vdso_exports_clock_gettime", vdso_sym("__vdso_clock_gettime") != NULL);
	CHECK("vdso_exports_gettimeofday", vdso_sym("__vdso_gettimeofday") != NULL);
	CHECK("vdso_exports_time", vdso_sym("__vdso_time") != NULL);
	CHECK("vdso_exports_getcpu", vdso_sym("__vdso_getcpu") != NULL);
}

/* libc (through the vDSO), the raw system call, libc again: in order. */
static int ordered(clockid_t clock)
{
	struct timespec a, b, c;
	for (int i = 0; i < 1000; i++) {
		if (clock_gettime(clock, &a) != 0 ||
		    syscall(SYS_clock_gettime, clock, &b) != 0 ||
		    clock_gettime(clock, &c) != 0)
			return 0;
		if (ns(&a) > ns(&b) || ns(&b) > ns(&c))
			return 0;
	}
	return 1;
}

/* The same, calling the vDSO's entry point directly. */
static int ordered_direct(clockid_t clock)
{
	clock_gettime_fn vdso_clock = (clock_gettime_fn)vdso_sym("__vdso_clock_gettime");
	struct timespec a, b, c;
	if (vdso_clock == NULL)
		return 0;
	for (int i = 0; i < 1000; i++) {
		if (vdso_clock(clock, &a) != 0 ||
		    syscall(SYS_clock_gettime, clock, &b) != 0 ||
		    vdso_clock(clock, &c) != 0)
			return 0;
		if (ns(&a) > ns(&b) || ns(&b) > ns(&c))
			return 0;
	}
	return 1;
}

static void clocks(void)
{
	CHECK("monotonic_agrees_with_syscall", ordered(CLOCK_MONOTONIC));
	CHECK("realtime_agrees_with_syscall", ordered(CLOCK_REALTIME));
	CHECK("boottime_agrees_with_syscall", ordered(CLOCK_BOOTTIME));
	CHECK("direct_vdso_monotonic_agrees", ordered_direct(CLOCK_MONOTONIC));
	CHECK("direct_vdso_realtime_agrees", ordered_direct(CLOCK_REALTIME));

	/* A million reads, or two seconds' worth where every read traps. */
	struct timespec prev, now, start;
	int monotonic = clock_gettime(CLOCK_MONOTONIC, &start) == 0;
	prev = start;
	for (int i = 0; i < 1000000 && monotonic; i++) {
		monotonic = clock_gettime(CLOCK_MONOTONIC, &now) == 0 &&
			    ns(&now) >= ns(&prev);
		prev = now;
		if ((i & 1023) == 0 && ns(&now) - ns(&start) > 2000000000)
			break;
	}
	CHECK("monotonic_never_decreases", monotonic);

	struct timespec a, c, res, sys_res;
	struct timeval tv;
	int tv_ok = clock_gettime(CLOCK_REALTIME, &a) == 0 &&
		    gettimeofday(&tv, NULL) == 0 &&
		    clock_gettime(CLOCK_REALTIME, &c) == 0;
	int64_t us = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
	CHECK("gettimeofday_agrees_with_realtime",
	      tv_ok && ns(&a) / 1000 <= us && us <= ns(&c) / 1000);
	time_t t = 0;
	int time_ok = clock_gettime(CLOCK_REALTIME, &a) == 0 &&
		      time(&t) != (time_t)-1 &&
		      clock_gettime(CLOCK_REALTIME, &c) == 0;
	/* Linux's time() may lag a tick behind the precise clock. */
	CHECK("time_agrees_with_realtime",
	      time_ok && a.tv_sec - 1 <= t && t <= c.tv_sec);

	int res_ok = 1;
	clockid_t res_clocks[] = {CLOCK_REALTIME, CLOCK_MONOTONIC,
				  CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME};
	for (size_t i = 0; i < sizeof res_clocks / sizeof res_clocks[0]; i++)
		res_ok = res_ok && clock_getres(res_clocks[i], &res) == 0 &&
			 syscall(SYS_clock_getres, res_clocks[i], &sys_res) == 0 &&
			 ns(&res) == ns(&sys_res) && ns(&res) > 0;
	CHECK("clock_getres_agrees_with_syscall", res_ok);
	/* Clocks the vDSO leaves to the kernel still answer. */
	CHECK("cputime_clock_answers",
	      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a) == 0 && ns(&a) >= 0);
	CHECK_ERRNO("bad_clock_einval", EINVAL, clock_gettime(12345, &a));
}

static void cpu(void)
{
	getcpu_fn vdso_getcpu = (getcpu_fn)vdso_sym("__vdso_getcpu");
	int same = 0;
	/* The thread may move between the two calls: a few tries. */
	for (int i = 0; i < 20 && vdso_getcpu != NULL && !same; i++) {
		unsigned c1 = ~0u, n1 = ~0u, c2 = ~0u, n2 = ~0u;
		same = vdso_getcpu(&c1, &n1, NULL) == 0 &&
		       syscall(SYS_getcpu, &c2, &n2, NULL) == 0 && c1 == c2 &&
		       n1 == n2;
	}
	CHECK("getcpu_agrees_with_syscall", same);
	cpu_set_t set;
	int c = sched_getcpu();
	CHECK("sched_getcpu_in_affinity",
	      c >= 0 && sched_getaffinity(0, sizeof set, &set) == 0 &&
		      CPU_ISSET(c, &set));
}

/* The [vdso] and [vvar] lines of /proc/self/maps; the [vdso] one starts at
 * AT_SYSINFO_EHDR. */
static void maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int vdso = 0, vvar = 0, vdso_at_base = 0, vdso_rx = 0, vvar_ro = 0;
	while (f != NULL && fgets(line, sizeof line, f) != NULL) {
		unsigned long start;
		char perms[8];
		if (sscanf(line, "%lx-%*x %7s", &start, perms) != 2)
			continue;
		if (strstr(line, " [vdso]\n") != NULL) {
			vdso = 1;
			vdso_at_base = start == (unsigned long)vdso_base;
			vdso_rx = strcmp(perms, "r-xp") == 0;
		} else if (strstr(line, " [vvar]\n") != NULL) {
			vvar = 1;
			vvar_ro = strcmp(perms, "r--p") == 0;
		}
	}
	if (f != NULL)
		fclose(f);
	CHECK("maps_has_vdso", vdso);
	CHECK("maps_has_vvar", vvar);
	CHECK("maps_vdso_starts_at_auxv", vdso_at_base);
	CHECK("maps_vdso_r_xp", vdso_rx);
	CHECK("maps_vvar_r__p", vvar_ro);
}

/* The mappings behave like Linux's special mappings. */
static void special_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned long vvar_start = 0, vvar_end = 0, vdso_start = 0, vdso_end = 0;
	while (f != NULL && fgets(line, sizeof line, f) != NULL) {
		if (strstr(line, " [vvar]\n") != NULL)
			sscanf(line, "%lx-%lx", &vvar_start, &vvar_end);
		else if (strstr(line, " [vdso]\n") != NULL)
			sscanf(line, "%lx-%lx", &vdso_start, &vdso_end);
	}
	if (f != NULL)
		fclose(f);
	size_t vdso_len = vdso_end - vdso_start;
	/* The data page never becomes writable. */
	CHECK_ERRNO("mprotect_vvar_writable_eacces", EACCES,
		    mprotect((void *)vvar_start, 4096, PROT_READ | PROT_WRITE));
	/* The image cannot grow in place. */
	CHECK_ERRNO("mremap_grow_vdso_efault", EFAULT,
		    mremap((void *)vdso_start, vdso_len, vdso_len + 4096, 0));

	/* A child reads the live page: its clock goes on from the parent's. */
	struct timespec before;
	clock_gettime(CLOCK_MONOTONIC, &before);
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec now;
		usleep(20000);
		int ok = clock_gettime(CLOCK_MONOTONIC, &now) == 0 &&
			 ns(&now) - ns(&before) >= 20000000 &&
			 ns(&now) - ns(&before) < 60000000000LL;
		_exit(ok ? 0 : 1);
	}
	int status = -1;
	CHECK("fork_child_clock_runs",
	      pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		      WEXITSTATUS(status) == 0);

	/* After unmapping the vDSO, a direct system call still tells the time. */
	pid = fork();
	if (pid == 0) {
		struct timespec now;
		munmap((void *)vdso_start, vdso_len);
		munmap((void *)vvar_start, vvar_end - vvar_start);
		_exit(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &now) == 0 &&
			      ns(&now) >= ns(&before)
		      ? 0
		      : 1);
	}
	CHECK("syscall_after_munmap_vdso",
	      pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		      WEXITSTATUS(status) == 0);
}

int main(void)
{
	image();
	clocks();
	cpu();
	maps();
	special_mappings();
	return check_exit();
}
