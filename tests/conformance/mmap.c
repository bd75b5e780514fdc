/*
 * mmap.c — anonymous and file mappings, mprotect, mremap, brk, madvise.
 *
 * Not tested yet: faults on PROT_NONE or read-only memory (they need signal
 * delivery), shared mappings across fork.
 */
#include "check.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static long page;

/* True when n bytes at p all equal c. */
static int all_bytes(const unsigned char *p, size_t n, unsigned char c)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

/* Fills page i of p with byte 'A' + i, so moved pages can be told apart. */
static void fill_pages(unsigned char *p, int pages)
{
	for (int i = 0; i < pages; i++)
		memset(p + i * page, 'A' + i, page);
}

static int pages_intact(const unsigned char *p, int pages)
{
	for (int i = 0; i < pages; i++)
		if (!all_bytes(p + i * page, page, 'A' + i))
			return 0;
	return 1;
}

static void anonymous(void)
{
	const int prot = PROT_READ | PROT_WRITE;
	const int flags = MAP_PRIVATE | MAP_ANONYMOUS;

	unsigned char *p = mmap(NULL, 4 * page, prot, flags, -1, 0);
	CHECK("mmap_anon", p != MAP_FAILED && ((uintptr_t)p % page) == 0);
	if (p == MAP_FAILED)
		return;
	CHECK("mmap_anon_zeroed", all_bytes(p, 4 * page, 0));
	fill_pages(p, 4);
	CHECK("mmap_anon_write_read", pages_intact(p, 4));

	CHECK("mprotect_read_only", mprotect(p, 4 * page, PROT_READ) == 0 &&
					     pages_intact(p, 4));
	CHECK("mprotect_read_write", mprotect(p, 4 * page, prot) == 0);
	p[0] = 'A'; /* writable again: a fault here kills the program */

	/* A hole in the middle, then MAP_FIXED refills it with fresh zeroes
	 * and leaves the neighbours alone. */
	CHECK("munmap_middle_page", munmap(p + page, page) == 0);
	CHECK("munmap_unmapped_range_ok", munmap(p + page, page) == 0);
	CHECK_ERRNO("mprotect_unmapped_enomem", ENOMEM,
		    mprotect(p + page, page, PROT_READ));
	unsigned char *q = mmap(p + page, page, prot, flags | MAP_FIXED, -1, 0);
	CHECK("map_fixed_at_address", q == p + page);
	CHECK("map_fixed_zeroed_neighbours_kept",
	      all_bytes(p + page, page, 0) && all_bytes(p, page, 'A') &&
		      all_bytes(p + 2 * page, page, 'C'));
	CHECK_ERRNO("map_fixed_noreplace_eexist", EEXIST,
		    mmap(p, page, prot, flags | MAP_FIXED_NOREPLACE, -1, 0));

	/* mremap: grow (may move), move to a chosen address, shrink in place. */
	fill_pages(p, 4);
	unsigned char *g = mremap(p, 4 * page, 8 * page, MREMAP_MAYMOVE);
	CHECK("mremap_grow_keeps_contents",
	      g != MAP_FAILED && pages_intact(g, 4) &&
		      all_bytes(g + 4 * page, 4 * page, 0));
	if (g == MAP_FAILED)
		return;
	/* Reserve a target, then move onto it. */
	unsigned char *t = mmap(NULL, 8 * page, PROT_NONE, flags, -1, 0);
	unsigned char *m = mremap(g, 8 * page, 8 * page,
				  MREMAP_MAYMOVE | MREMAP_FIXED, t);
	CHECK("mremap_fixed_moves", m == t && pages_intact(m, 4));
	CHECK_ERRNO("mremap_old_range_gone", ENOMEM, mprotect(g, page, prot));
	unsigned char *s = mremap(m, 8 * page, 2 * page, 0);
	CHECK("mremap_shrink_in_place", s == m && pages_intact(s, 2));
	munmap(s, 2 * page);

	/* madvise(MADV_DONTNEED) drops private anonymous pages: they read back
	 * as zeroes. */
	p = mmap(NULL, 2 * page, prot, flags, -1, 0);
	fill_pages(p, 2);
	CHECK("madvise_dontneed_zeroes",
	      madvise(p, 2 * page, MADV_DONTNEED) == 0 &&
		      all_bytes(p, 2 * page, 0));
	munmap(p, 2 * page);

	/* PROT_NONE memory can be made accessible later (no fault tested). */
	p = mmap(NULL, page, PROT_NONE, flags, -1, 0);
	CHECK("mmap_prot_none_then_rw",
	      p != MAP_FAILED && mprotect(p, page, prot) == 0 &&
		      all_bytes(p, page, 0));
	munmap(p, page);
}

static void invalid_arguments(void)
{
	const int prot = PROT_READ | PROT_WRITE;
	const int flags = MAP_PRIVATE | MAP_ANONYMOUS;

	CHECK_ERRNO("mmap_len0_einval", EINVAL, mmap(NULL, 0, prot, flags, -1, 0));
	CHECK_ERRNO("mmap_fixed_unaligned_einval", EINVAL,
		    mmap((void *)(page * 4096 + 1), page, prot,
			 flags | MAP_FIXED, -1, 0));
	CHECK_ERRNO("mmap_bad_fd_ebadf", EBADF,
		    mmap(NULL, page, PROT_READ, MAP_PRIVATE, 999, 0));
}

/* brk through the raw syscall: glibc's brk()/sbrk() cache the break. */
static void program_break(void)
{
	long cur = syscall(SYS_brk, 0);
	long grown = syscall(SYS_brk, cur + 16 * page);
	CHECK("brk_grow", grown == cur + 16 * page);
	if (grown == cur + 16 * page) {
		memset((void *)cur, 0x5a, 16 * page);
		CHECK("brk_grown_memory_usable",
		      all_bytes((void *)cur, 16 * page, 0x5a));
	}
	CHECK("brk_shrink",
	      syscall(SYS_brk, cur) == cur && syscall(SYS_brk, 0) == cur);
}

/* A read-only private map of a host file shows the same bytes as read(). */
static void file_mapping(void)
{
	char buf[64];
	int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
	ssize_t n = read(fd, buf, sizeof buf);
	void *p = mmap(NULL, page, PROT_READ, MAP_PRIVATE, fd, 0);
	CHECK("mmap_file_matches_read", fd >= 0 && n == sizeof buf &&
						p != MAP_FAILED &&
						memcmp(p, buf, sizeof buf) == 0);
	CHECK_ERRNO("mmap_file_unaligned_offset_einval", EINVAL,
		    mmap(NULL, page, PROT_READ, MAP_PRIVATE, fd, 1));
	if (p != MAP_FAILED)
		munmap(p, page);
	if (fd >= 0)
		close(fd);
}

int main(void)
{
	page = sysconf(_SC_PAGESIZE);
	anonymous();
	invalid_arguments();
	program_break();
	file_mapping();
	return check_exit();
}
