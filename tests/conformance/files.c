/*
 * files.c — reading host files through the read-only root: open, read,
 * pread, readv, lseek, the stat family, getdents64, readlink, access,
 * getcwd/chdir, and fd-table operations (dup*, fcntl, close).
 *
 * Writes nothing: the sandbox's root is read-only.
 */
#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#define FILE_PATH "/etc/passwd"

/* The whole of FILE_PATH, read once through a plain loop of read(). */
static char *content;
static ssize_t content_len;

static void reading(void)
{
	int fd = open(FILE_PATH, O_RDONLY | O_CLOEXEC);
	struct stat st;
	CHECK("open_fstat_regular",
	      fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0);
	if (fd < 0)
		exit(check_exit());

	content = malloc(st.st_size + 1);
	content_len = 0;
	ssize_t n;
	while ((n = read(fd, content + content_len, st.st_size + 1 - content_len)) > 0)
		content_len += n;
	CHECK("read_whole_file_is_st_size", n == 0 && content_len == st.st_size);

	CHECK("lseek_end_is_size", lseek(fd, 0, SEEK_END) == st.st_size);
	CHECK("lseek_set_and_cur", lseek(fd, 0, SEEK_SET) == 0 &&
					   read(fd, (char[10]){0}, 10) == 10 &&
					   lseek(fd, 0, SEEK_CUR) == 10);

	char buf[16];
	CHECK("pread_reads_at_offset_without_seeking",
	      pread(fd, buf, 10, 5) == 10 && memcmp(buf, content + 5, 10) == 0 &&
		      lseek(fd, 0, SEEK_CUR) == 10);

	char a[7], b[9];
	struct iovec iov[2] = {{a, sizeof a}, {b, sizeof b}};
	CHECK("readv_fills_iovecs_in_order",
	      lseek(fd, 0, SEEK_SET) == 0 && readv(fd, iov, 2) == 16 &&
		      memcmp(a, content, 7) == 0 && memcmp(b, content + 7, 9) == 0);
	close(fd);
}

static void stat_family(void)
{
	struct stat s1, s2, s3, s4;
	struct statx sx;
	int fd = open(FILE_PATH, O_RDONLY | O_CLOEXEC);
	int ok = fd >= 0 && fstat(fd, &s1) == 0 && stat(FILE_PATH, &s2) == 0 &&
		 lstat(FILE_PATH, &s3) == 0 &&
		 fstatat(AT_FDCWD, FILE_PATH, &s4, 0) == 0;
	CHECK("fstat_stat_lstat_fstatat_agree",
	      ok && s1.st_ino == s2.st_ino && s2.st_ino == s3.st_ino &&
		      s3.st_ino == s4.st_ino && s1.st_dev == s4.st_dev &&
		      s1.st_size == s4.st_size && s1.st_mode == s4.st_mode &&
		      s1.st_nlink == s4.st_nlink && s1.st_uid == s4.st_uid);
	CHECK("statx_agrees",
	      statx(AT_FDCWD, FILE_PATH, 0, STATX_BASIC_STATS, &sx) == 0 &&
		      sx.stx_ino == s1.st_ino && sx.stx_size == (uint64_t)s1.st_size &&
		      sx.stx_mode == s1.st_mode &&
		      makedev(sx.stx_dev_major, sx.stx_dev_minor) == s1.st_dev);
	CHECK("fstatat_empty_path_is_fstat",
	      fstatat(fd, "", &s2, AT_EMPTY_PATH) == 0 && s2.st_ino == s1.st_ino);
	close(fd);

	/* /bin is a symlink on a merged-/usr Debian: lstat sees the link,
	 * stat the directory it points to. */
	CHECK("lstat_symlink_stat_target",
	      lstat("/bin", &s1) == 0 && S_ISLNK(s1.st_mode) &&
		      stat("/bin", &s2) == 0 && S_ISDIR(s2.st_mode) &&
		      stat("/usr/bin", &s3) == 0 && s3.st_ino == s2.st_ino);
}

static void links_and_dirs(void)
{
	char buf[256];
	ssize_t n = readlink("/bin", buf, sizeof buf);
	CHECK("readlink_bin", n == 7 && memcmp(buf, "usr/bin", 7) == 0);
	CHECK_ERRNO("readlink_not_a_link_einval", EINVAL,
		    readlink(FILE_PATH, buf, sizeof buf));

	/* getdents64 through the raw syscall, so the buffer walk is ours. */
	int dfd = open("/usr", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int seen_bin = 0, seen_lib = 0, seen_dot = 0, seen_dotdot = 0;
	char dbuf[4096];
	long got;
	while (dfd >= 0 && (got = syscall(SYS_getdents64, dfd, dbuf, sizeof dbuf)) > 0) {
		for (long off = 0; off < got;) {
			struct dirent64 *d = (struct dirent64 *)(dbuf + off);
			seen_bin |= strcmp(d->d_name, "bin") == 0 && d->d_type == DT_DIR;
			seen_lib |= strcmp(d->d_name, "lib") == 0 && d->d_type == DT_DIR;
			seen_dot |= strcmp(d->d_name, ".") == 0;
			seen_dotdot |= strcmp(d->d_name, "..") == 0;
			off += d->d_reclen;
		}
	}
	CHECK("getdents64_usr_lists_bin_lib_dots",
	      seen_bin && seen_lib && seen_dot && seen_dotdot);
	CHECK("access_faccessat",
	      access(FILE_PATH, R_OK) == 0 && faccessat(dfd, "bin", X_OK, 0) == 0);
	CHECK_ERRNO("access_missing_enoent", ENOENT,
		    access("/nonexistent-sandbox-test", F_OK));

	char cwd[256];
	CHECK("getcwd_after_chdir",
	      chdir("/usr") == 0 && getcwd(cwd, sizeof cwd) != NULL &&
		      strcmp(cwd, "/usr") == 0);
	int efd = open("/etc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK("getcwd_after_fchdir_and_relative_open",
	      efd >= 0 && fchdir(efd) == 0 && getcwd(cwd, sizeof cwd) != NULL &&
		      strcmp(cwd, "/etc") == 0 && access("passwd", R_OK) == 0);
	CHECK_ERRNO("chdir_file_enotdir", ENOTDIR, chdir(FILE_PATH));
	close(efd);
	close(dfd);
}

static void fd_table(void)
{
	int fd = open(FILE_PATH, O_RDONLY); /* no O_CLOEXEC */
	int d = dup(fd);
	CHECK("dup_new_fd_without_cloexec",
	      d >= 0 && d != fd && fcntl(d, F_GETFD) == 0);
	CHECK("dup_shares_offset",
	      lseek(fd, 42, SEEK_SET) == 42 && lseek(d, 0, SEEK_CUR) == 42);
	CHECK("dup2_to_chosen_fd", dup2(fd, 100) == 100 && fcntl(100, F_GETFD) == 0);
	CHECK("dup3_cloexec",
	      dup3(fd, 101, O_CLOEXEC) == 101 && fcntl(101, F_GETFD) == FD_CLOEXEC);
	CHECK_ERRNO("dup3_same_fd_einval", EINVAL, dup3(fd, fd, 0));
	int c = fcntl(fd, F_DUPFD_CLOEXEC, 50);
	CHECK("fcntl_dupfd_cloexec_at_least_arg",
	      c >= 50 && fcntl(c, F_GETFD) == FD_CLOEXEC &&
		      (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
	struct stat st;
	CHECK("close_then_fstat_ebadf",
	      close(100) == 0 && fstat(100, &st) == -1 && errno == EBADF &&
		      fstat(101, &st) == 0);
	close(101);
	close(c);
	close(d);
	close(fd);
}

int main(void)
{
	reading();
	stat_family();
	links_and_dirs();
	fd_table();
	return check_exit();
}
