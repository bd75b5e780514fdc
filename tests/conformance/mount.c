/*
 * mount.c — mount(2) and umount2(2) as root: tmpfs with options, read-only
 * mounts and remounts, bind mounts (plain, recursive, read-only, of a file),
 * name changes seen through both sides of a bind mount, proc, unknown types,
 * busy mounts and MNT_DETACH, errors, the mount table in /proc/self/mounts
 * and mountinfo, and EPERM without CAP_SYS_ADMIN.
 *
 * Natively it first moves into a mount namespace of its own (the harness
 * runs it as root), so nothing leaks into the host's mount table.
 */
#include "check.h"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

static char top[64];

/* `top/rel` (in one of 8 rotating buffers). */
static const char *at(const char *rel)
{
	static char bufs[8][PATH_MAX];
	static int next;
	char *b = bufs[next++ % 8];
	snprintf(b, PATH_MAX, "%s/%.200s", top, rel);
	return b;
}

static int put(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

static int exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Whether the mount table `file` has a line for `point` of type `fstype`
 * whose options start with `opt` ("rw" or "ro"). */
static int in_mounts(const char *point, const char *fstype, const char *opt)
{
	FILE *f = fopen("/proc/self/mounts", "r");
	char line[4096], src[1024], mp[1024], type[64], opts[1024];
	int found = 0;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "%1023s %1023s %63s %1023s", src, mp, type, opts) == 4 && strcmp(mp, point) == 0)
			found = strcmp(type, fstype) == 0 && strncmp(opts, opt, 2) == 0;
	if (f)
		fclose(f);
	return found;
}

static int in_mountinfo(const char *point, const char *fstype)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096], want[PATH_MAX + 64];
	int found = 0;
	snprintf(want, sizeof want, " - %s ", fstype);
	while (f && fgets(line, sizeof line, f)) {
		char mp[1024];
		if (sscanf(line, "%*d %*d %*s %*s %1023s", mp) == 1 && strcmp(mp, point) == 0)
			found = strstr(line, want) != NULL;
	}
	if (f)
		fclose(f);
	return found;
}

int main(void)
{
	if (unshare(CLONE_NEWNS) == 0) {
		mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
	} else if (errno != ENOSYS) {
		printf("FAIL unshare: %s\n", strerror(errno));
		return 1;
	}
	snprintf(top, sizeof top, "/tmp/mount-XXXXXX");
	if (!mkdtemp(top))
		return 1;
	const char *t = strdup(at("t")), *a = strdup(at("a")), *b = strdup(at("b")), *c = strdup(at("c"));
	const char *f1 = strdup(at("f1")), *f2 = strdup(at("f2"));
	mkdir(t, 0755);
	mkdir(a, 0755);
	mkdir(b, 0755);
	mkdir(c, 0755);

	/* tmpfs with options. */
	CHECK("mount_tmpfs", mount("mytmp", t, "tmpfs", 0, "size=1m,mode=0750") == 0);
	struct statfs sfs;
	CHECK("tmpfs_type", statfs(t, &sfs) == 0 && sfs.f_type == 0x01021994);
	CHECK("tmpfs_size", sfs.f_blocks * sfs.f_bsize == 1 << 20);
	struct stat st, pst;
	CHECK("tmpfs_root_mode", stat(t, &st) == 0 && (st.st_mode & 07777) == 0750);
	CHECK("tmpfs_own_dev", stat(top, &pst) == 0 && st.st_dev != pst.st_dev);
	CHECK("tmpfs_write", put(at("t/x"), "hello") == 0 && exists(at("t/x")));
	CHECK("tmpfs_in_mounts", in_mounts(t, "tmpfs", "rw"));
	CHECK("tmpfs_in_mountinfo", in_mountinfo(t, "tmpfs"));
	CHECK_ERRNO("tmpfs_bad_option", EINVAL, mount("x", a, "tmpfs", 0, "bogus=1"));

	/* Busy, lazy and plain unmounts. */
	int fd = open(at("t/x"), O_RDONLY);
	CHECK_ERRNO("umount_busy", EBUSY, umount(t));
	CHECK("umount_detach", umount2(t, MNT_DETACH) == 0);
	char buf[16] = { 0 };
	CHECK("detached_file_still_open", read(fd, buf, 5) == 5 && strcmp(buf, "hello") == 0);
	close(fd);
	CHECK("detached_gone_from_tree", !exists(at("t/x")));
	CHECK("detached_gone_from_mounts", !in_mounts(t, "tmpfs", "rw"));
	CHECK_ERRNO("umount_not_mountpoint", EINVAL, umount(t));
	CHECK_ERRNO("umount_missing", ENOENT, umount(at("nope")));
	CHECK_ERRNO("umount_bad_flags", EINVAL, umount2(t, 0x100));
	CHECK_ERRNO("umount_expire_detach", EINVAL, umount2(t, MNT_EXPIRE | MNT_DETACH));

	/* Nested mounts keep the outer one busy. */
	mount("outer", t, "tmpfs", 0, NULL);
	mkdir(at("t/in"), 0755);
	CHECK("mount_nested", mount("inner", at("t/in"), "tmpfs", 0, NULL) == 0);
	CHECK_ERRNO("umount_with_child", EBUSY, umount(t));
	CHECK("umount_child", umount(at("t/in")) == 0);
	CHECK("umount_parent", umount(t) == 0);

	/* Read-only tmpfs and remounts. */
	CHECK("mount_ro", mount("ro", t, "tmpfs", MS_RDONLY, NULL) == 0);
	CHECK_ERRNO("ro_create", EROFS, open(at("t/y"), O_WRONLY | O_CREAT, 0644));
	CHECK_ERRNO("ro_mkdir", EROFS, mkdir(at("t/d"), 0755));
	struct statvfs vfs;
	CHECK("ro_statvfs_flag", statvfs(t, &vfs) == 0 && (vfs.f_flag & ST_RDONLY));
	CHECK("ro_in_mounts", in_mounts(t, "tmpfs", "ro"));
	CHECK("remount_rw", mount(NULL, t, NULL, MS_REMOUNT, NULL) == 0);
	CHECK("rw_create", put(at("t/y"), "y") == 0);
	CHECK("remount_ro", mount(NULL, t, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0);
	CHECK_ERRNO("remounted_ro_unlink", EROFS, unlink(at("t/y")));
	CHECK_ERRNO("remount_not_mountpoint", EINVAL, mount(NULL, a, NULL, MS_REMOUNT, NULL));
	CHECK("umount_ro", umount(t) == 0);

	/* Bind mounts: one directory, two names; changes show through both. */
	put(at("a/one"), "1");
	CHECK("bind", mount(a, b, NULL, MS_BIND, NULL) == 0);
	CHECK("bind_sees_file", exists(at("b/one")));
	CHECK("bind_same_inode", stat(a, &st) == 0 && stat(b, &pst) == 0 && st.st_ino == pst.st_ino && st.st_dev == pst.st_dev);
	CHECK("bind_negative_first", !exists(at("b/two")));
	put(at("a/two"), "2");
	CHECK("bind_sees_new_name", exists(at("b/two")));
	CHECK("bind_unlink_through", unlink(at("b/one")) == 0 && !exists(at("a/one")));
	CHECK("bind_rename_through", rename(at("a/two"), at("a/three")) == 0 && !exists(at("b/two")) && exists(at("b/three")));
	CHECK_ERRNO("bind_cross_rename", EXDEV, rename(at("b/three"), at("a/four")));

	/* ... remounted read-only: the other side stays writable. */
	CHECK("bind_remount_ro", mount(NULL, b, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) == 0);
	CHECK_ERRNO("bind_ro_create", EROFS, open(at("b/new"), O_WRONLY | O_CREAT, 0644));
	CHECK_ERRNO("bind_ro_write_open", EROFS, open(at("b/three"), O_WRONLY));
	CHECK("bind_ro_read_open", (fd = open(at("b/three"), O_RDONLY)) >= 0 && close(fd) == 0);
	CHECK("bind_ro_statvfs", statvfs(b, &vfs) == 0 && (vfs.f_flag & ST_RDONLY));
	CHECK("bind_source_writable", put(at("a/new"), "n") == 0 && exists(at("b/new")));
	CHECK("bind_ro_in_mounts", in_mounts(b, "tmpfs", "ro") || in_mounts(b, "ext4", "ro") || in_mounts(b, "xfs", "ro") || in_mounts(b, "btrfs", "ro") || in_mounts(b, "overlay", "ro"));
	CHECK("umount_bind", umount(b) == 0 && !exists(at("b/three")));

	/* Recursive and plain binds of a tree with a mount inside. */
	mkdir(at("a/sub"), 0755);
	mount("sub", at("a/sub"), "tmpfs", 0, NULL);
	put(at("a/sub/deep"), "d");
	CHECK("bind_plain_no_submount", mount(a, b, NULL, MS_BIND, NULL) == 0 && exists(at("b/sub")) && !exists(at("b/sub/deep")));
	CHECK("bind_rec_submount", mount(a, c, NULL, MS_BIND | MS_REC, NULL) == 0 && exists(at("c/sub/deep")));
	umount2(c, MNT_DETACH);
	umount(b);
	umount(at("a/sub"));

	/* A file bound onto a file. */
	put(f1, "first");
	put(f2, "second");
	CHECK("bind_file", mount(f1, f2, NULL, MS_BIND, NULL) == 0);
	fd = open(f2, O_RDONLY);
	memset(buf, 0, sizeof buf);
	CHECK("bind_file_content", fd >= 0 && read(fd, buf, sizeof buf - 1) == 5 && strcmp(buf, "first") == 0);
	close(fd);
	CHECK_ERRNO("bind_dir_on_file", ENOTDIR, mount(a, f1, NULL, MS_BIND, NULL));
	CHECK("umount_file", umount(f2) == 0);

	/* proc, propagation flags, unknown types. */
	CHECK("mount_proc", mount("proc", t, "proc", 0, NULL) == 0 && exists(at("t/self/status")));
	CHECK("make_private", mount(NULL, t, NULL, MS_PRIVATE, NULL) == 0);
	CHECK_ERRNO("make_private_not_mountpoint", EINVAL, mount(NULL, a, NULL, MS_PRIVATE, NULL));
	CHECK("umount_proc", umount(t) == 0);
	CHECK_ERRNO("unknown_type", ENODEV, mount("x", t, "nosuchfs", 0, NULL));
	CHECK_ERRNO("missing_target", ENOENT, mount("x", at("nope"), "tmpfs", 0, NULL));
	CHECK_ERRNO("bind_missing_source", ENOENT, mount(at("nope"), b, NULL, MS_BIND, NULL));

	/* Without CAP_SYS_ADMIN. */
	pid_t child = fork();
	if (child == 0) {
		if (setuid(65534) != 0)
			_exit(2);
		int e1 = mount("x", "/tmp", "tmpfs", 0, NULL) == -1 && errno == EPERM;
		int e2 = umount("/tmp") == -1 && errno == EPERM;
		_exit(e1 && e2 ? 0 : 1);
	}
	int status = 0;
	waitpid(child, &status, 0);
	CHECK("eperm_without_cap", WIFEXITED(status) && WEXITSTATUS(status) == 0);

	unlink(f1);
	unlink(f2);
	unlink(at("a/new"));
	unlink(at("a/three"));
	rmdir(at("a/sub"));
	rmdir(t);
	rmdir(a);
	rmdir(b);
	rmdir(c);
	rmdir(top);
	return check_exit();
}
