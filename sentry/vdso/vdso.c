/*
 * vdso.c — the sandbox's vDSO: clock_gettime, gettimeofday, time, clock_getres
 * and getcpu answered in the application's own address space, without a trap
 * to the sentry.
 *
 * The sentry maps this image into every address space, with its data page
 * (shown as [vvar]) in the page just before the image. The page holds the
 * words listed below, which the sentry rewrites under a sequence counter
 * (odd while it writes). They must match sentry/src/vdso/mod.rs.
 *
 * Every clock is the monotonic clock plus an offset; the monotonic clock is
 *
 *     MONO_BASE + ((tsc - TSC_BASE) * MULT) >> 32      (tsc >= TSC_BASE)
 *     MONO_BASE                                        (tsc <  TSC_BASE)
 *
 * Whatever this file does not answer (other clocks, or a page that says the
 * TSC is not to be trusted) is passed to the sentry through the real system
 * call, exactly as if there were no vDSO.
 *
 * Built by sentry/build.rs: -shared -fPIC -nostdlib, linked with vdso.lds.
 * No relocations, no writable data, no library calls.
 */

typedef unsigned long long u64;
typedef long long i64;
typedef unsigned int u32;

struct vdso_timespec {
	i64 tv_sec;
	i64 tv_nsec;
};

struct vdso_timeval {
	i64 tv_sec;
	i64 tv_usec;
};

struct vdso_timezone {
	int tz_minuteswest;
	int tz_dsttime;
};

/* Words of the data page. */
enum {
	W_SEQ = 0,
	W_FLAGS = 1,
	W_TSC_BASE = 2,
	W_MULT = 3,
	W_MONO_BASE = 4,
	W_REAL_OFFSET = 5,
	W_BOOT_OFFSET = 6,
};

/* W_FLAGS bits. */
#define F_CLOCK 1ULL  /* the clock words are valid: read the TSC */
#define F_GETCPU 2ULL /* RDTSCP's TSC_AUX holds cpu | node << 12 */

#define MULT_SHIFT 32
#define MAX_SPINS 1000
#define NSEC_PER_SEC 1000000000LL
#define PAGE_SIZE 4096UL

/* Clock ids (linux/time.h). */
#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1
#define CLOCK_MONOTONIC_RAW 4
#define CLOCK_REALTIME_COARSE 5
#define CLOCK_MONOTONIC_COARSE 6
#define CLOCK_BOOTTIME 7
#define CLOCK_TAI 11

/* System call numbers (x86_64). */
#define NR_gettimeofday 96
#define NR_time 201
#define NR_clock_gettime 228
#define NR_clock_getres 229
#define NR_getcpu 309

#define HIDDEN __attribute__((visibility("hidden")))

/* The linker's symbol for the image's own ELF header, its first byte. */
extern const char __ehdr_start[] HIDDEN;

static inline const volatile u64 *data_page(void)
{
	return (const volatile u64 *)((unsigned long)__ehdr_start - PAGE_SIZE);
}

static inline long syscall2(long nr, long a, long b)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b)
			 : "rcx", "r11", "memory");
	return ret;
}

static inline long syscall3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

/* The TSC, read after every earlier load and before every later one. */
static inline u64 tsc_ordered(void)
{
	u32 lo, hi;
	__asm__ volatile("lfence\n\trdtsc\n\tlfence"
			 : "=a"(lo), "=d"(hi)
			 :
			 : "memory");
	return ((u64)hi << 32) | lo;
}

enum which { MONO, REAL, BOOT };

/* Nanoseconds on clock `which` into *out; 0 when the page says to ask the
 * sentry instead. */
static int read_ns(enum which which, i64 *out)
{
	const volatile u64 *page = data_page();
	unsigned spins = 0;
	for (;;) {
		u64 seq = page[W_SEQ];
		if (seq & 1) {
			/* The sentry is rewriting the page. Should its thread be
			 * preempted there, stop spinning: the system call waits
			 * for it without burning this CPU. */
			if (++spins > MAX_SPINS)
				return 0;
			__builtin_ia32_pause();
			continue;
		}
		if (!(page[W_FLAGS] & F_CLOCK))
			return 0;
		u64 base = page[W_TSC_BASE];
		u64 mult = page[W_MULT];
		i64 ns = (i64)page[W_MONO_BASE];
		if (which == REAL)
			ns += (i64)page[W_REAL_OFFSET];
		else if (which == BOOT)
			ns += (i64)page[W_BOOT_OFFSET];
		u64 tsc = tsc_ordered();
		if (page[W_SEQ] != seq)
			continue;
		i64 delta = (i64)(tsc - base);
		if (delta > 0)
			ns += (i64)(((unsigned __int128)(u64)delta * mult) >> MULT_SHIFT);
		*out = ns;
		return 1;
	}
}

/* The clock `clock` reads, or -1 for clocks left to the sentry. */
static int clock_which(int clock)
{
	switch (clock) {
	case CLOCK_REALTIME:
	case CLOCK_REALTIME_COARSE:
	case CLOCK_TAI:
		return REAL;
	case CLOCK_MONOTONIC:
	case CLOCK_MONOTONIC_COARSE:
	case CLOCK_MONOTONIC_RAW:
		return MONO;
	case CLOCK_BOOTTIME:
		return BOOT;
	default:
		return -1;
	}
}

int __vdso_clock_gettime(int clock, struct vdso_timespec *ts)
{
	int which = clock_which(clock);
	i64 ns;
	if (which < 0 || !read_ns((enum which)which, &ns))
		return (int)syscall2(NR_clock_gettime, clock, (long)ts);
	ts->tv_sec = ns / NSEC_PER_SEC;
	ts->tv_nsec = ns % NSEC_PER_SEC;
	return 0;
}

int __vdso_gettimeofday(struct vdso_timeval *tv, struct vdso_timezone *tz)
{
	i64 ns;
	if (!read_ns(REAL, &ns))
		return (int)syscall2(NR_gettimeofday, (long)tv, (long)tz);
	if (tv) {
		tv->tv_sec = ns / NSEC_PER_SEC;
		tv->tv_usec = ns % NSEC_PER_SEC / 1000;
	}
	if (tz) {
		tz->tz_minuteswest = 0;
		tz->tz_dsttime = 0;
	}
	return 0;
}

i64 __vdso_time(i64 *t)
{
	i64 ns;
	if (!read_ns(REAL, &ns))
		return syscall2(NR_time, (long)t, 0);
	i64 sec = ns / NSEC_PER_SEC;
	if (t)
		*t = sec;
	return sec;
}

/* The resolutions the sentry's clock_getres reports. */
int __vdso_clock_getres(int clock, struct vdso_timespec *res)
{
	if (clock_which(clock) < 0)
		return (int)syscall2(NR_clock_getres, clock, (long)res);
	if (res) {
		int coarse = clock == CLOCK_REALTIME_COARSE ||
			     clock == CLOCK_MONOTONIC_COARSE;
		res->tv_sec = 0;
		res->tv_nsec = coarse ? 4000000 : 1;
	}
	return 0;
}

/* The CPU the thread runs on: the host's, from TSC_AUX, which the sentry
 * checked against its own getcpu (the answer of the system call). */
int __vdso_getcpu(u32 *cpu, u32 *node, void *unused)
{
	if (!(data_page()[W_FLAGS] & F_GETCPU))
		return (int)syscall3(NR_getcpu, (long)cpu, (long)node, (long)unused);
	u32 lo, hi, aux;
	__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
	(void)lo;
	(void)hi;
	if (cpu)
		*cpu = aux & 0xfff;
	if (node)
		*node = aux >> 12;
	return 0;
}

int clock_gettime(int, struct vdso_timespec *)
	__attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct vdso_timeval *, struct vdso_timezone *)
	__attribute__((weak, alias("__vdso_gettimeofday")));
i64 time(i64 *) __attribute__((weak, alias("__vdso_time")));
int clock_getres(int, struct vdso_timespec *)
	__attribute__((weak, alias("__vdso_clock_getres")));
int getcpu(u32 *, u32 *, void *) __attribute__((weak, alias("__vdso_getcpu")));
