/*
 * fswrite.c — changing files: open with O_CREAT/O_EXCL/O_TRUNC/O_APPEND/
 * O_TMPFILE, mkdir/rmdir, unlink, rename(at2), link(at), symlink, mknod and
 * FIFOs, chmod/chown/utimes, truncate, fallocate, statfs, sendfile,
 * copy_file_range, shared file mappings, and the dentry cache (getcwd and
 * `..` after a rename, names seen through different directory fds).
 *
 * Runs in a fresh directory under /tmp (a tmpfs in the sandbox), as root,
 * and removes it at the end.
 */
#include "check.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

static char top[PATH_MAX];

/* Writes `s` to a new file `path` (replacing it). */
static int put(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* The content of `path` (up to 255 bytes), or "" if it cannot be read. */
static const char *get(const char *path)
{
	static char buf[256];
	buf[0] = 0;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return buf;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
	return buf;
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 ? st.st_mode : 0;
}

static int exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static void creating(void)
{
	umask(022);
	int fd = open("f", O_CREAT | O_WRONLY | O_TRUNC, 0666);
	CHECK("creat_write_read", fd >= 0 && write(fd, "hello", 5) == 5 && close(fd) == 0 &&
					  strcmp(get("f"), "hello") == 0);
	CHECK("umask_applied_on_create", (mode_of("f") & 07777) == 0644);
	CHECK_ERRNO("o_excl_on_existing_is_eexist", EEXIST, open("f", O_CREAT | O_EXCL | O_WRONLY, 0644));
	fd = open("f", O_WRONLY | O_TRUNC);
	struct stat st;
	CHECK("o_trunc_empties", fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 0);
	close(fd);

	put("f", "ab");
	fd = open("f", O_WRONLY | O_APPEND);
	CHECK("o_append_writes_at_the_end",
	      fd >= 0 && lseek(fd, 0, SEEK_SET) == 0 && write(fd, "cd", 2) == 2 &&
		      lseek(fd, 0, SEEK_CUR) == 4 && strcmp(get("f"), "abcd") == 0);
	CHECK("pwrite_with_o_append_appends", pwrite(fd, "ef", 2, 0) == 2 && strcmp(get("f"), "abcdef") == 0);
	close(fd);
	fd = open("f", O_RDONLY | O_TRUNC);
	CHECK("o_trunc_with_o_rdonly_truncates", fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 0);
	close(fd);

	CHECK_ERRNO("create_in_missing_dir_is_enoent", ENOENT, open("nodir/f", O_CREAT | O_WRONLY, 0644));
	CHECK_ERRNO("create_with_trailing_slash_is_eisdir", EISDIR, open("newf/", O_CREAT | O_WRONLY, 0644));
	CHECK_ERRNO("o_creat_with_o_directory_is_einval", EINVAL, open("newd", O_CREAT | O_DIRECTORY | O_RDONLY, 0644));
	CHECK_ERRNO("open_dir_for_writing_is_eisdir", EISDIR, open(".", O_WRONLY));
	CHECK_ERRNO("openat_relative_to_a_file_is_enotdir", ENOTDIR,
		    openat(fd = open("f", O_RDONLY), "x", O_RDONLY));
	close(fd);
	CHECK("creat_makes_a_write_only_file", (fd = creat("c", 0600)) >= 0 && read(fd, (char[1]){0}, 1) == -1 &&
							errno == EBADF && (mode_of("c") & 0777) == 0600);
	close(fd);

	symlink("made", "dang");
	fd = open("dang", O_CREAT | O_WRONLY, 0600);
	CHECK("o_creat_through_dangling_symlink_makes_the_target", fd >= 0 && S_ISREG(mode_of("made")));
	close(fd);
	CHECK_ERRNO("o_creat_o_excl_on_symlink_is_eexist", EEXIST, open("dang", O_CREAT | O_EXCL | O_WRONLY, 0600));
	CHECK_ERRNO("o_nofollow_on_symlink_is_eloop", ELOOP, open("dang", O_RDONLY | O_NOFOLLOW));
	unlink("dang");
	unlink("made");
	unlink("c");
}

static void directories(void)
{
	CHECK("mkdir_applies_umask", mkdir("d", 0777) == 0 && (mode_of("d") & 07777) == 0755);
	CHECK_ERRNO("mkdir_existing_is_eexist", EEXIST, mkdir("d", 0777));
	CHECK_ERRNO("mkdir_dot_is_eexist", EEXIST, mkdir(".", 0777));
	CHECK_ERRNO("mkdir_missing_parent_is_enoent", ENOENT, mkdir("no/d", 0777));
	CHECK("mkdir_with_trailing_slash", mkdir("td/", 0700) == 0 && S_ISDIR(mode_of("td")) && rmdir("td/") == 0);
	put("d/x", "x");
	CHECK_ERRNO("rmdir_non_empty_is_enotempty", ENOTEMPTY, rmdir("d"));
	CHECK_ERRNO("rmdir_dot_is_einval", EINVAL, rmdir("d/."));
	CHECK_ERRNO("rmdir_file_is_enotdir", ENOTDIR, rmdir("f"));
	CHECK_ERRNO("unlink_dir_is_eisdir", EISDIR, unlink("d"));
	CHECK_ERRNO("unlink_file_with_slash_is_enotdir", ENOTDIR, unlink("f/"));
	CHECK_ERRNO("unlinkat_bad_flag_is_einval", EINVAL, unlinkat(AT_FDCWD, "f", 0x1000));
	CHECK("unlinkat_removedir", mkdir("e", 0700) == 0 && unlinkat(AT_FDCWD, "e", AT_REMOVEDIR) == 0 && !exists("e"));

	DIR *dir = opendir("d");
	int names = 0;
	struct dirent *de;
	while (dir && (de = readdir(dir)) != NULL)
		names += strcmp(de->d_name, "x") == 0;
	CHECK("readdir_lists_a_new_file", dir != NULL && names == 1);
	if (dir)
		closedir(dir);
	CHECK("unlink_then_rmdir", unlink("d/x") == 0 && rmdir("d") == 0 && !exists("d"));
}

static void renames(void)
{
	put("a", "A");
	put("b", "B");
	CHECK("rename_replaces_the_target", rename("a", "b") == 0 && !exists("a") && strcmp(get("b"), "A") == 0);
	put("a", "a2");
	CHECK_ERRNO("renameat2_noreplace_is_eexist", EEXIST, syscall(SYS_renameat2, AT_FDCWD, "a", AT_FDCWD, "b", RENAME_NOREPLACE));
	CHECK("renameat2_exchange_swaps",
	      syscall(SYS_renameat2, AT_FDCWD, "a", AT_FDCWD, "b", RENAME_EXCHANGE) == 0 &&
		      strcmp(get("a"), "A") == 0 && strcmp(get("b"), "a2") == 0);
	CHECK_ERRNO("renameat2_exchange_noreplace_is_einval", EINVAL,
		    syscall(SYS_renameat2, AT_FDCWD, "a", AT_FDCWD, "b", RENAME_EXCHANGE | RENAME_NOREPLACE));
	CHECK_ERRNO("renameat2_exchange_missing_is_enoent", ENOENT,
		    syscall(SYS_renameat2, AT_FDCWD, "a", AT_FDCWD, "zz", RENAME_EXCHANGE));
	mkdir("rd", 0755);
	mkdir("rd2", 0755);
	put("rd2/x", "x");
	CHECK_ERRNO("rename_dir_over_file_is_enotdir", ENOTDIR, rename("rd", "a"));
	CHECK_ERRNO("rename_file_over_dir_is_eisdir", EISDIR, rename("a", "rd"));
	CHECK_ERRNO("rename_dir_over_non_empty_dir_is_enotempty", ENOTEMPTY, rename("rd", "rd2"));
	CHECK_ERRNO("rename_dir_into_itself_is_einval", EINVAL, rename("rd", "rd/sub"));
	CHECK_ERRNO("rename_file_with_trailing_slash_is_enotdir", ENOTDIR, rename("a", "a2/"));
	CHECK_ERRNO("rename_dot_is_ebusy", EBUSY, rename(".", "x"));
	CHECK("rename_dir_over_empty_dir", rename("rd", "rd3") == 0 && mkdir("rd", 0755) == 0 &&
						   rename("rd3", "rd") == 0 && S_ISDIR(mode_of("rd")) && !exists("rd3"));
	CHECK("rename_into_another_dir", rename("a", "rd/a") == 0 && strcmp(get("rd/a"), "A") == 0 &&
						 rename("rd/a", "a") == 0);
	link("a", "ha");
	CHECK("rename_over_own_hard_link_does_nothing", rename("a", "ha") == 0 && exists("a") && exists("ha"));
	unlink("ha");
	unlink("a");
	unlink("rd2/x");
	rmdir("rd2");
	rmdir("rd");
	unlink("b");
}

static void links(void)
{
	struct stat st;
	put("l", "L");
	CHECK("link_adds_a_name", link("l", "l2") == 0 && stat("l", &st) == 0 && st.st_nlink == 2 &&
					   strcmp(get("l2"), "L") == 0);
	put("l2", "M");
	CHECK("hard_links_share_data", strcmp(get("l"), "M") == 0);
	CHECK_ERRNO("link_existing_is_eexist", EEXIST, link("l", "l2"));
	mkdir("ld", 0755);
	CHECK_ERRNO("link_dir_is_eperm", EPERM, link("ld", "ld2"));
	CHECK_ERRNO("linkat_bad_flags_is_einval", EINVAL, linkat(AT_FDCWD, "l", AT_FDCWD, "l3", 0x1));
	rmdir("ld");
	CHECK("unlink_drops_a_link", unlink("l2") == 0 && stat("l", &st) == 0 && st.st_nlink == 1);

	char buf[64];
	CHECK("symlink_and_readlink", symlink("target-xyz", "s") == 0 && S_ISLNK(mode_of("s")) &&
					     readlink("s", buf, sizeof buf) == 10 && memcmp(buf, "target-xyz", 10) == 0);
	CHECK_ERRNO("symlink_empty_target_is_enoent", ENOENT, symlink("", "s2"));
	CHECK_ERRNO("symlink_trailing_slash_is_enoent", ENOENT, symlink("x", "s3/"));
	CHECK_ERRNO("symlink_existing_is_eexist", EEXIST, symlink("x", "s"));
	unlink("s");
	symlink("l", "s");
	CHECK("linkat_links_the_symlink_itself", linkat(AT_FDCWD, "s", AT_FDCWD, "sl", 0) == 0 && S_ISLNK(mode_of("sl")));
	CHECK("linkat_symlink_follow_links_the_target",
	      linkat(AT_FDCWD, "s", AT_FDCWD, "sf", AT_SYMLINK_FOLLOW) == 0 && S_ISREG(mode_of("sf")) &&
		      stat("l", &st) == 0 && st.st_nlink == 2);
	unlink("sl");
	unlink("sf");
	unlink("s");

	int fd = open("l", O_RDWR);
	CHECK("unlinked_open_file_keeps_its_data", fd >= 0 && unlink("l") == 0 && !exists("l") &&
							  fstat(fd, &st) == 0 && st.st_nlink == 0 &&
							  pread(fd, buf, 1, 0) == 1 && buf[0] == 'M');
	close(fd);
}

static void tmpfiles(void)
{
	int fd = open(".", O_TMPFILE | O_RDWR, 0600);
	struct stat st;
	CHECK("o_tmpfile_is_unnamed", fd >= 0 && write(fd, "tmp", 3) == 3 && fstat(fd, &st) == 0 &&
					      st.st_nlink == 0 && S_ISREG(st.st_mode));
	CHECK("o_tmpfile_linkat_gives_it_a_name",
	      linkat(fd, "", AT_FDCWD, "named", AT_EMPTY_PATH) == 0 && strcmp(get("named"), "tmp") == 0 &&
		      fstat(fd, &st) == 0 && st.st_nlink == 1);
	close(fd);
	unlink("named");
	fd = open(".", O_TMPFILE | O_RDWR | O_EXCL, 0600);
	CHECK_ERRNO("o_tmpfile_o_excl_cannot_be_linked", ENOENT, linkat(fd, "", AT_FDCWD, "named2", AT_EMPTY_PATH));
	close(fd);
	CHECK_ERRNO("o_tmpfile_read_only_is_einval", EINVAL, open(".", O_TMPFILE | O_RDONLY, 0600));
}

static void attributes(void)
{
	struct stat st;
	put("m", "mmm");
	CHECK("chmod_sets_the_mode", chmod("m", 0640) == 0 && (mode_of("m") & 07777) == 0640);
	int fd = open("m", O_RDONLY);
	CHECK("fchmod_sets_the_mode", fchmod(fd, 0604) == 0 && (mode_of("m") & 07777) == 0604);
	close(fd);
	symlink("m", "ms");
	CHECK_ERRNO("fchmodat2_nofollow_on_symlink_is_eopnotsupp", EOPNOTSUPP,
		    syscall(SYS_fchmodat2, AT_FDCWD, "ms", 0600, AT_SYMLINK_NOFOLLOW));
	CHECK("chown_sets_owner_and_group", chown("m", 1234, 5678) == 0 && stat("m", &st) == 0 &&
						   st.st_uid == 1234 && st.st_gid == 5678);
	CHECK("chown_minus_one_changes_nothing", chown("m", -1, -1) == 0 && stat("m", &st) == 0 &&
							st.st_uid == 1234 && st.st_gid == 5678);
	CHECK("lchown_changes_the_link", lchown("ms", 42, 43) == 0 && lstat("ms", &st) == 0 && st.st_uid == 42 &&
						stat("m", &st) == 0 && st.st_uid == 1234);
	chmod("m", 04755);
	CHECK("chown_clears_set_user_id", chown("m", 0, 0) == 0 && (mode_of("m") & 07777) == 0755);
	unlink("ms");

	struct timespec ts[2] = {{1000, 500}, {2000, 600}};
	CHECK("utimensat_sets_both_times", utimensat(AT_FDCWD, "m", ts, 0) == 0 && stat("m", &st) == 0 &&
						  st.st_atim.tv_sec == 1000 && st.st_atim.tv_nsec == 500 &&
						  st.st_mtim.tv_sec == 2000 && st.st_mtim.tv_nsec == 600);
	struct timespec omit[2] = {{0, UTIME_OMIT}, {3000, 0}};
	CHECK("utimensat_omit_keeps_a_time", utimensat(AT_FDCWD, "m", omit, 0) == 0 && stat("m", &st) == 0 &&
						    st.st_atim.tv_sec == 1000 && st.st_mtim.tv_sec == 3000);
	time_t before = time(NULL);
	CHECK("utimensat_null_is_now", utimensat(AT_FDCWD, "m", NULL, 0) == 0 && stat("m", &st) == 0 &&
					      st.st_mtim.tv_sec >= before);
	struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
	CHECK_ERRNO("utimensat_bad_nsec_is_einval", EINVAL, utimensat(AT_FDCWD, "m", bad, 0));
	struct timespec both_omit[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
	CHECK("utimensat_all_omit_ignores_the_path", utimensat(AT_FDCWD, "missing", both_omit, 0) == 0);
	fd = open("m", O_RDONLY);
	CHECK("futimens_sets_times", futimens(fd, ts) == 0 && stat("m", &st) == 0 && st.st_mtim.tv_sec == 2000);
	close(fd);
	struct timeval tv[2] = {{4000, 7}, {5000, 8}};
	CHECK("utimes_uses_microseconds", utimes("m", tv) == 0 && stat("m", &st) == 0 &&
						 st.st_mtim.tv_sec == 5000 && st.st_mtim.tv_nsec == 8000);
	struct timeval badtv[2] = {{0, 1000000}, {0, 0}};
	CHECK_ERRNO("utimes_bad_usec_is_einval", EINVAL, utimes("m", badtv));
	struct utimbuf ub = {6000, 7000};
	CHECK("utime_sets_seconds", utime("m", &ub) == 0 && stat("m", &st) == 0 && st.st_atim.tv_sec == 6000 &&
					   st.st_mtim.tv_sec == 7000);
	CHECK("futimesat_sets_times", syscall(SYS_futimesat, AT_FDCWD, "m", tv) == 0 && stat("m", &st) == 0 &&
					     st.st_mtim.tv_sec == 5000);

	CHECK("access_root_reads_and_writes", chmod("m", 0) == 0 && access("m", R_OK | W_OK) == 0);
	CHECK_ERRNO("access_exec_needs_an_x_bit", EACCES, access("m", X_OK));
	CHECK_ERRNO("access_bad_mode_is_einval", EINVAL, access("m", 0100));
	CHECK("faccessat2_eaccess", syscall(SYS_faccessat2, AT_FDCWD, "m", R_OK, AT_EACCESS) == 0);
	chmod("m", 0644);
	unlink("m");
}

static void sizes(void)
{
	struct stat st;
	put("t", "0123456789");
	char buf[16];
	CHECK("truncate_shrinks", truncate("t", 4) == 0 && strcmp(get("t"), "0123") == 0);
	int fd = open("t", O_RDONLY);
	CHECK("truncate_extends_with_zeros", truncate("t", 8) == 0 && stat("t", &st) == 0 && st.st_size == 8 &&
						    pread(fd, buf, 8, 0) == 8 && memcmp(buf, "0123\0\0\0\0", 8) == 0);
	CHECK_ERRNO("truncate_negative_is_einval", EINVAL, truncate("t", -1));
	CHECK_ERRNO("truncate_dir_is_eisdir", EISDIR, truncate(".", 0));
	CHECK_ERRNO("ftruncate_read_only_fd_is_einval", EINVAL, ftruncate(fd, 0));
	CHECK_ERRNO("fallocate_read_only_fd_is_ebadf", EBADF, fallocate(fd, 0, 0, 10));
	close(fd);
	fd = open("t", O_RDWR);
	CHECK("ftruncate_sets_the_size", ftruncate(fd, 2) == 0 && fstat(fd, &st) == 0 && st.st_size == 2);
	CHECK("fallocate_extends", fallocate(fd, 0, 0, 8192) == 0 && fstat(fd, &st) == 0 && st.st_size == 8192);
	CHECK("fallocate_keep_size", fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 20000) == 0 && fstat(fd, &st) == 0 &&
					     st.st_size == 8192);
	char page[4096];
	memset(page, 'x', sizeof page);
	pwrite(fd, page, sizeof page, 4096);
	CHECK("fallocate_punch_hole_zeroes",
	      fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 4096) == 0 && fstat(fd, &st) == 0 &&
		      st.st_size == 8192 && pread(fd, page, 4096, 4096) == 4096 && page[0] == 0 && page[4095] == 0);
	CHECK_ERRNO("fallocate_punch_without_keep_size_is_eopnotsupp", EOPNOTSUPP,
		    fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 10));
	CHECK_ERRNO("fallocate_zero_length_is_einval", EINVAL, fallocate(fd, 0, 0, 0));
	close(fd);
	unlink("t");

	struct statfs sf, sf2;
	fd = open(".", O_RDONLY | O_DIRECTORY);
	CHECK("statfs_and_fstatfs_agree", statfs(".", &sf) == 0 && fstatfs(fd, &sf2) == 0 &&
						 sf.f_type == sf2.f_type && sf.f_bsize > 0 && sf.f_namelen == 255 &&
						 sf.f_blocks >= sf.f_bfree);
	close(fd);
}

static void nodes(void)
{
	struct stat st;
	CHECK("mknod_regular_file", mknod("nr", S_IFREG | 0600, 0) == 0 && S_ISREG(mode_of("nr")));
	CHECK("mknod_dev_null", mknod("nn", S_IFCHR | 0666, makedev(1, 3)) == 0 && stat("nn", &st) == 0 &&
				       S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
	int fd = open("nn", O_WRONLY);
	CHECK("mknod_dev_null_opens_as_null", fd >= 0 && write(fd, "xyz", 3) == 3);
	close(fd);
	CHECK_ERRNO("mknod_directory_is_eperm", EPERM, mknod("nd", S_IFDIR | 0700, 0));
	CHECK_ERRNO("mknod_bad_type_is_einval", EINVAL, mknod("nb", 0170000 | 0600, 0));
	unlink("nr");
	unlink("nn");

	CHECK("mkfifo_makes_a_fifo", mkfifo("fifo", 0644) == 0 && S_ISFIFO(mode_of("fifo")));
	CHECK_ERRNO("fifo_nonblocking_writer_without_reader_is_enxio", ENXIO, open("fifo", O_WRONLY | O_NONBLOCK));
	int r = open("fifo", O_RDONLY | O_NONBLOCK);
	int w = open("fifo", O_WRONLY | O_NONBLOCK);
	char buf[8] = {0};
	CHECK("fifo_carries_bytes", r >= 0 && w >= 0 && write(w, "pipe", 4) == 4 && read(r, buf, 8) == 4 &&
					   memcmp(buf, "pipe", 4) == 0 && fstat(r, &st) == 0 && S_ISFIFO(st.st_mode));
	close(w);
	CHECK("fifo_end_of_file_when_writers_go", read(r, buf, 8) == 0);
	close(r);
	pid_t child = fork();
	if (child == 0) {
		int cw = open("fifo", O_WRONLY);
		_exit(cw >= 0 && write(cw, "hi", 2) == 2 ? 0 : 1);
	}
	r = open("fifo", O_RDONLY);
	int status = -1;
	CHECK("fifo_blocking_open_meets_its_writer", r >= 0 && read(r, buf, 2) == 2 && memcmp(buf, "hi", 2) == 0 &&
							    waitpid(child, &status, 0) == child && status == 0);
	close(r);
	unlink("fifo");
}

static void copies(void)
{
	put("src", "0123456789");
	int in = open("src", O_RDONLY);
	int out = open("dst", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	off_t off = 2;
	CHECK("sendfile_with_offset", sendfile(out, in, &off, 5) == 5 && off == 7 && lseek(in, 0, SEEK_CUR) == 0 &&
					      strcmp(get("dst"), "23456") == 0);
	CHECK("sendfile_from_position", sendfile(out, in, NULL, 3) == 3 && lseek(in, 0, SEEK_CUR) == 3 &&
						strcmp(get("dst"), "23456012") == 0);
	int p[2];
	char buf[8] = {0};
	CHECK("sendfile_to_a_pipe", pipe(p) == 0 && sendfile(p[1], in, NULL, 4) == 4 && read(p[0], buf, 8) == 4 &&
					    memcmp(buf, "3456", 4) == 0);
	close(p[0]);
	close(p[1]);
	close(out);
	out = open("dst", O_RDWR);
	off_t oin = 0, oout = 1;
	CHECK("copy_file_range_copies", copy_file_range(in, &oin, out, &oout, 4, 0) == 4 && oin == 4 && oout == 5 &&
						strcmp(get("dst"), "20123012") == 0);
	CHECK_ERRNO("copy_file_range_flags_is_einval", EINVAL, copy_file_range(in, NULL, out, NULL, 4, 1));
	oin = 0;
	oout = 2;
	CHECK_ERRNO("copy_file_range_overlap_is_einval", EINVAL, copy_file_range(out, &oin, out, &oout, 4, 0));
	CHECK_ERRNO("copy_file_range_from_write_only_is_ebadf", EBADF,
		    copy_file_range(open("dst", O_WRONLY), NULL, out, NULL, 4, 0));
	close(in);
	close(out);
	unlink("src");
	unlink("dst");
}

static void mappings(void)
{
	int fd = open("map", O_RDWR | O_CREAT | O_TRUNC, 0644);
	ftruncate(fd, 8192);
	char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char buf[4] = {0};
	CHECK("shared_mapping_write_is_seen_by_read",
	      m != MAP_FAILED && (memcpy(m + 4096, "map", 3), pread(fd, buf, 3, 4096) == 3) && memcmp(buf, "map", 3) == 0);
	CHECK("write_is_seen_by_shared_mapping", m != MAP_FAILED && pwrite(fd, "abc", 3, 10) == 3 && memcmp(m + 10, "abc", 3) == 0);
	char *m2 = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 4096);
	CHECK("two_shared_mappings_share_pages", m2 != MAP_FAILED && memcmp(m2, "map", 3) == 0);
	char *priv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK("private_mapping_is_a_copy",
	      priv != MAP_FAILED && (priv[10] = 'X', pread(fd, buf, 1, 10) == 1) && buf[0] == 'a');
	munmap(m, 8192);
	munmap(m2, 4096);
	munmap(priv, 4096);
	close(fd);
	unlink("map");
}

static void cache(void)
{
	char cwd[PATH_MAX], want[PATH_MAX + 16];
	mkdir("cw", 0755);
	mkdir("cw/in", 0755);
	CHECK("getcwd_after_rename_of_cwd", chdir("cw/in") == 0 && rename("../../cw", "../../cw2") == 0 &&
						    getcwd(cwd, sizeof cwd) != NULL &&
						    (snprintf(want, sizeof want, "%s/cw2/in", top), strcmp(cwd, want) == 0));
	struct stat a, b;
	CHECK("dotdot_after_rename", stat("..", &a) == 0 && stat(want, &b) == 0 && stat("../in", &b) == 0 &&
					     a.st_ino != b.st_ino && chdir("..") == 0 && getcwd(cwd, sizeof cwd) &&
					     strcmp(cwd + strlen(top), "/cw2") == 0);
	chdir(top);
	CHECK("getcwd_in_removed_dir_is_enoent",
	      chdir("cw2/in") == 0 && rmdir(want) == 0 && getcwd(cwd, sizeof cwd) == NULL && errno == ENOENT);
	chdir(top);
	int dfd = open("cw2", O_RDONLY | O_DIRECTORY);
	int fd = openat(dfd, "x", O_CREAT | O_WRONLY, 0644);
	CHECK("name_made_through_a_dirfd_is_seen_by_path", fd >= 0 && exists("cw2/x"));
	close(fd);
	CHECK("name_removed_by_path_is_gone_for_the_dirfd",
	      unlink("cw2/x") == 0 && openat(dfd, "x", O_RDONLY) == -1 && errno == ENOENT);
	close(dfd);
	rmdir("cw2");
}

/* An optional argument names another directory to work in (to try the
 * overlay root or a bind mount by hand); the harness gives none. */
int main(int argc, char **argv)
{
	snprintf(top, sizeof top, "%s/fswrite.XXXXXX", argc > 1 ? argv[1] : "/tmp");
	if (mkdtemp(top) == NULL || chdir(top) != 0) {
		printf("FAIL setup: cannot make a directory in /tmp: %s\n", strerror(errno));
		return 1;
	}
	creating();
	directories();
	renames();
	links();
	tmpfiles();
	attributes();
	sizes();
	nodes();
	copies();
	mappings();
	cache();
	unlink("f");
	chdir("/");
	CHECK("cleanup_leaves_nothing", rmdir(top) == 0);
	return check_exit();
}
