/*
 * xattr.c — extended attributes (set/get/list/remove, by path, without
 * following links and by descriptor: flags, sizes, namespaces and their
 * errors) and splice(2) between files and pipes.
 *
 * Runs in a fresh directory under /tmp (a tmpfs in the sandbox), as root.
 */
#include "check.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* Whether the NUL-separated list `buf` of `n` bytes holds `name`. */
static int listed(const char *buf, ssize_t n, const char *name)
{
	for (const char *p = buf; n > 0 && p < buf + n; p += strlen(p) + 1)
		if (strcmp(p, name) == 0)
			return 1;
	return 0;
}

int main(void)
{
	char top[] = "/tmp/xattr-XXXXXX";
	if (!mkdtemp(top))
		return 1;
	char f[64], l[64], big[70000];
	snprintf(f, sizeof f, "%s/f", top);
	snprintf(l, sizeof l, "%s/l", top);
	int fd = open(f, O_RDWR | O_CREAT, 0644);
	symlink(f, l);

	CHECK("set", setxattr(f, "user.one", "1", 1, 0) == 0);
	char buf[256] = { 0 };
	CHECK("get", getxattr(f, "user.one", buf, sizeof buf) == 1 && buf[0] == '1');
	CHECK("get_size_only", getxattr(f, "user.one", NULL, 0) == 1);
	CHECK_ERRNO("get_short_buffer", ERANGE, fsetxattr(fd, "user.two", "22", 2, 0) == 0 ? getxattr(f, "user.two", buf, 1) : -2);
	CHECK_ERRNO("get_missing", ENODATA, getxattr(f, "user.none", buf, sizeof buf));
	CHECK_ERRNO("create_existing", EEXIST, setxattr(f, "user.one", "x", 1, XATTR_CREATE));
	CHECK_ERRNO("replace_missing", ENODATA, setxattr(f, "user.three", "x", 1, XATTR_REPLACE));
	CHECK("replace", setxattr(f, "user.one", "111", 3, XATTR_REPLACE) == 0 && getxattr(f, "user.one", buf, sizeof buf) == 3);
	CHECK_ERRNO("bad_flags", EINVAL, setxattr(f, "user.one", "1", 1, 0x10));
	CHECK("empty_value", setxattr(f, "user.empty", "", 0, 0) == 0 && getxattr(f, "user.empty", buf, sizeof buf) == 0);
	CHECK_ERRNO("no_namespace", EOPNOTSUPP, setxattr(f, "plain", "1", 1, 0));
	CHECK_ERRNO("unknown_namespace", EOPNOTSUPP, setxattr(f, "bogus.x", "1", 1, 0));
	CHECK_ERRNO("empty_name", ERANGE, setxattr(f, "", "1", 1, 0));
	char longname[300];
	memset(longname, 'a', sizeof longname);
	memcpy(longname, "user.", 5);
	longname[299] = 0;
	CHECK_ERRNO("long_name", ERANGE, setxattr(f, longname, "1", 1, 0));
	memset(big, 'v', sizeof big);
	CHECK_ERRNO("value_too_big", E2BIG, setxattr(f, "user.big", big, 65537, 0));
	CHECK("trusted_as_root", setxattr(f, "trusted.t", "t", 1, 0) == 0);

	ssize_t n = listxattr(f, buf, sizeof buf);
	CHECK("list", n > 0 && listed(buf, n, "user.one") && listed(buf, n, "user.two") && listed(buf, n, "user.empty") &&
			      listed(buf, n, "trusted.t"));
	CHECK("list_size_only", listxattr(f, NULL, 0) == n);
	CHECK_ERRNO("list_short_buffer", ERANGE, listxattr(f, buf, 3));
	CHECK("flist", flistxattr(fd, buf, sizeof buf) == n);
	CHECK("fget", fgetxattr(fd, "user.two", buf, sizeof buf) == 2 && memcmp(buf, "22", 2) == 0);

	/* Through a symlink: followed, or the link itself (user. is refused on links). */
	CHECK("get_follows_link", getxattr(l, "user.one", buf, sizeof buf) == 3);
	CHECK_ERRNO("lset_user_on_link", EPERM, lsetxattr(l, "user.x", "1", 1, 0));
	CHECK_ERRNO("lget_user_on_link", ENODATA, lgetxattr(l, "user.one", buf, sizeof buf));

	CHECK("remove", removexattr(f, "user.one") == 0);
	CHECK_ERRNO("remove_again", ENODATA, removexattr(f, "user.one"));
	CHECK("fremove", fremovexattr(fd, "user.two") == 0);
	n = listxattr(f, buf, sizeof buf);
	CHECK("list_after_remove", n > 0 && !listed(buf, n, "user.one") && !listed(buf, n, "user.two"));
	CHECK_ERRNO("missing_file", ENOENT, getxattr("/nonexistent", "user.x", buf, sizeof buf));

	/* splice: file to pipe, pipe to file, and the errors. */
	int p[2];
	pipe(p);
	pwrite(fd, "0123456789", 10, 0);
	loff_t off = 2;
	CHECK("splice_file_to_pipe", splice(fd, &off, p[1], NULL, 5, 0) == 5 && off == 7);
	memset(buf, 0, sizeof buf);
	CHECK("splice_data", read(p[0], buf, sizeof buf) == 5 && strcmp(buf, "23456") == 0);
	lseek(fd, 0, SEEK_SET);
	CHECK("splice_file_position", splice(fd, NULL, p[1], NULL, 3, 0) == 3 && lseek(fd, 0, SEEK_CUR) == 3);
	off = 20;
	CHECK("splice_pipe_to_file", splice(p[0], NULL, fd, &off, 100, 0) == 3 && off == 23);
	memset(buf, 0, sizeof buf);
	CHECK("splice_written", pread(fd, buf, 3, 20) == 3 && strcmp(buf, "012") == 0);
	CHECK_ERRNO("splice_two_files", EINVAL, splice(fd, NULL, fd, NULL, 1, 0));
	CHECK_ERRNO("splice_offset_on_pipe", ESPIPE, splice(p[0], &off, fd, NULL, 1, 0));
	CHECK_ERRNO("splice_bad_flags", EINVAL, splice(fd, NULL, p[1], NULL, 1, 0x100));
	CHECK_ERRNO("splice_empty_pipe_nonblock", EAGAIN, splice(p[0], NULL, fd, NULL, 1, SPLICE_F_NONBLOCK));
	CHECK("splice_zero", splice(fd, NULL, p[1], NULL, 0, 0) == 0);

	close(fd);
	unlink(l);
	unlink(f);
	rmdir(top);
	return check_exit();
}
