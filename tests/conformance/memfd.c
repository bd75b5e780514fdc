/*
 * memfd.c — memfd_create and file seals: flags and name checks, the
 * /proc/self/fd link, close-on-exec, I/O, shared and private mappings, and
 * fcntl(F_ADD_SEALS/F_GET_SEALS) with Linux's EPERM/EBUSY/EINVAL rules.
 */
#include "check.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#define MFD_EXEC 0x0010U
#endif

static int link_is(int fd, const char *want)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, buf, sizeof buf - 1);
	if (n < 0)
		return 0;
	buf[n] = 0;
	return strcmp(buf, want) == 0;
}

int main(void)
{
	/* Creation, flags and names. */
	int fd = memfd_create("first", MFD_CLOEXEC);
	CHECK("create", fd >= 0);
	CHECK("cloexec", fcntl(fd, F_GETFD) == FD_CLOEXEC);
	CHECK("proc_fd_link", link_is(fd, "/memfd:first (deleted)"));
	struct stat st;
	CHECK("fstat_regular", fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0);
	CHECK("fstat_mode_0777", (st.st_mode & 07777) == 0777);
	CHECK("fstat_nlink_0", st.st_nlink == 0);
	CHECK("flags_rdwr", (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR);
	struct statfs sfs;
	CHECK("fstatfs_tmpfs", fstatfs(fd, &sfs) == 0 && sfs.f_type == 0x01021994);
	int plain = memfd_create("plain", 0);
	CHECK("no_cloexec", plain >= 0 && fcntl(plain, F_GETFD) == 0);
	CHECK_ERRNO("bad_flags", EINVAL, memfd_create("x", 0x100));
	CHECK_ERRNO("exec_and_noexec", EINVAL, memfd_create("x", MFD_EXEC | MFD_NOEXEC_SEAL));
	char longname[300];
	memset(longname, 'n', sizeof longname);
	longname[249] = 0;
	int ok249 = memfd_create(longname, 0);
	CHECK("name_249", ok249 >= 0);
	close(ok249);
	longname[249] = 'n';
	longname[250] = 0;
	CHECK_ERRNO("name_250", EINVAL, memfd_create(longname, 0));
	CHECK_ERRNO("name_efault", EFAULT, syscall(SYS_memfd_create, (void *)8, 0));
	CHECK("empty_name", (close(memfd_create("", 0)) == 0));

	/* I/O through the descriptor and through /proc/self/fd. */
	CHECK("write", write(fd, "hello memfd", 11) == 11);
	char buf[64] = { 0 };
	CHECK("pread", pread(fd, buf, sizeof buf, 0) == 11 && memcmp(buf, "hello memfd", 11) == 0);
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	int again = open(path, O_RDONLY);
	memset(buf, 0, sizeof buf);
	CHECK("reopen_reads_same", again >= 0 && read(again, buf, 5) == 5 && memcmp(buf, "hello", 5) == 0);
	close(again);

	/* Mappings: shared ones see each other and the file; private ones do not write back. */
	CHECK("ftruncate", ftruncate(fd, 8192) == 0);
	char *a = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *b = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
	CHECK("mmap_shared", a != MAP_FAILED && b != MAP_FAILED);
	if (a != MAP_FAILED && b != MAP_FAILED) {
		memcpy(a + 4096, "shared", 6);
		CHECK("shared_seen_by_other_map", memcmp(b + 4096, "shared", 6) == 0);
		memset(buf, 0, sizeof buf);
		CHECK("shared_seen_by_read", pread(fd, buf, 6, 4096) == 6 && memcmp(buf, "shared", 6) == 0);
		CHECK("write_seen_by_map", pwrite(fd, "W", 1, 0) == 1 && a[0] == 'W');
	}
	char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK("mmap_private", p != MAP_FAILED);
	if (p != MAP_FAILED) {
		CHECK("private_reads_file", memcmp(p, "Wello", 5) == 0);
		p[0] = 'P';
		memset(buf, 0, sizeof buf);
		CHECK("private_not_written_back", pread(fd, buf, 1, 0) == 1 && buf[0] == 'W');
		munmap(p, 4096);
	}

	/* Seals on a memfd made without MFD_ALLOW_SEALING. */
	CHECK("seals_default", fcntl(fd, F_GET_SEALS) == F_SEAL_SEAL);
	CHECK_ERRNO("add_seal_not_allowed", EPERM, fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));

	/* Sealable memfd. */
	int s = memfd_create("sealed", MFD_ALLOW_SEALING);
	CHECK("sealable", s >= 0 && fcntl(s, F_GET_SEALS) == 0);
	CHECK("grow", write(s, "0123456789", 10) == 10);
	CHECK_ERRNO("bad_seal_bits", EINVAL, fcntl(s, F_ADD_SEALS, 0x1000));
	CHECK("seal_shrink", fcntl(s, F_ADD_SEALS, F_SEAL_SHRINK) == 0);
	CHECK_ERRNO("shrink_refused", EPERM, ftruncate(s, 5));
	CHECK("grow_allowed", ftruncate(s, 20) == 0);
	CHECK("seal_grow", fcntl(s, F_ADD_SEALS, F_SEAL_GROW) == 0);
	CHECK_ERRNO("grow_refused", EPERM, ftruncate(s, 30));
	CHECK_ERRNO("write_past_end_refused", EPERM, pwrite(s, "x", 1, 20));
	CHECK("write_inside_allowed", pwrite(s, "ab", 2, 0) == 2);
	CHECK_ERRNO("fallocate_grow_refused", EPERM, fallocate(s, 0, 0, 4096));
	CHECK("seals_now", fcntl(s, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW));

	/* F_SEAL_WRITE waits for writable shared mappings to go. */
	char *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
	CHECK("map_writable", w != MAP_FAILED);
	CHECK_ERRNO("seal_write_busy", EBUSY, fcntl(s, F_ADD_SEALS, F_SEAL_WRITE));
	if (w != MAP_FAILED)
		munmap(w, 4096);
	CHECK("seal_write", fcntl(s, F_ADD_SEALS, F_SEAL_WRITE) == 0);
	CHECK_ERRNO("write_refused", EPERM, write(s, "x", 1));
	CHECK_ERRNO("punch_refused", EPERM, fallocate(s, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 1));
	CHECK_ERRNO("map_shared_writable_refused", EPERM, mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0));
	char *r = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, s, 0);
	CHECK("map_private_ok", r != MAP_FAILED && memcmp(r, "ab23", 4) == 0);
	char *rw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, s, 0);
	CHECK("map_private_writable_ok", rw != MAP_FAILED);
	memset(buf, 0, sizeof buf);
	CHECK("read_after_seal", pread(s, buf, 4, 0) == 4 && memcmp(buf, "ab23", 4) == 0);
	CHECK("seal_seal", fcntl(s, F_ADD_SEALS, F_SEAL_SEAL) == 0);
	CHECK_ERRNO("sealed_for_good", EPERM, fcntl(s, F_ADD_SEALS, F_SEAL_SHRINK));

	/* A read-only descriptor may not add seals. */
	int s2 = memfd_create("ro", MFD_ALLOW_SEALING);
	snprintf(path, sizeof path, "/proc/self/fd/%d", s2);
	int ro = open(path, O_RDONLY);
	CHECK_ERRNO("add_seals_needs_write", EPERM, fcntl(ro, F_ADD_SEALS, F_SEAL_GROW));
	CHECK("get_seals_readonly_ok", fcntl(ro, F_GET_SEALS) == 0);

	/* Seals of files that are not memfds. */
	CHECK_ERRNO("seals_pipe", EINVAL, ({ int pp[2]; pipe(pp); fcntl(pp[0], F_GET_SEALS); }));
	char tmpl[] = "/dev/shm/memfd-XXXXXX";
	int tf = mkstemp(tmpl);
	CHECK("tmpfs_file_seals", tf >= 0 && fcntl(tf, F_GET_SEALS) == F_SEAL_SEAL);
	unlink(tmpl);

	/* The name shows in /proc/self/maps. */
	char *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	int found = 0;
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[512];
	while (maps && fgets(line, sizeof line, maps))
		if (strstr(line, "/memfd:first"))
			found = 1;
	if (maps)
		fclose(maps);
	CHECK("maps_name", m != MAP_FAILED && found);
	return check_exit();
}
