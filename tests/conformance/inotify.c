/*
 * inotify.c — inotify_init1 flags, inotify_add_watch/inotify_rm_watch and
 * their errors, the events of namespace changes (create, delete, moves with
 * their cookie), of opens, writes, closes and attribute changes, of a
 * watched file or directory going away (IN_DELETE_SELF, IN_IGNORED),
 * IN_ONESHOT, IN_MASK_ADD, FIONREAD, short buffers, poll/epoll readiness, a
 * blocking read woken by another process, and queue overflow.
 *
 * Runs in fresh directories under /tmp (a tmpfs in the sandbox) and under
 * /var/tmp (the root overlay in the sandbox), and removes them at the end.
 * Reads of watched files are avoided: the sandbox does not report IN_ACCESS.
 */
#include "check.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Everything but IN_ACCESS. */
#define MASK (IN_ALL_EVENTS & ~IN_ACCESS)

struct ev {
	int wd;
	unsigned mask, cookie;
	char name[64];
};

static struct ev evs[20000];
static int nevs;

/* Reads every queued event of the non-blocking instance `fd` into evs. */
static int drain(int fd)
{
	static char buf[65536] __attribute__((aligned(8)));
	nevs = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0)
			return n < 0 && errno == EAGAIN ? nevs : -1;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)p;
			if (nevs < (int)(sizeof evs / sizeof evs[0])) {
				struct ev *v = &evs[nevs++];
				v->wd = e->wd;
				v->mask = e->mask;
				v->cookie = e->cookie;
				snprintf(v->name, sizeof v->name, "%s", e->len ? e->name : "");
			}
			p += sizeof *e + e->len;
		}
	}
}

/* Whether evs[i] is (wd, mask, name). */
static int is(int i, int wd, unsigned mask, const char *name)
{
	return i < nevs && evs[i].wd == wd && evs[i].mask == mask && strcmp(evs[i].name, name) == 0;
}

static char detail[512];

/* The drained events, for a failure message. */
static const char *dump(void)
{
	int off = 0;
	detail[0] = 0;
	for (int i = 0; i < nevs && i < 12 && off < 400; i++)
		off += snprintf(detail + off, sizeof detail - off, "[%d %#x %s] ", evs[i].wd, evs[i].mask, evs[i].name);
	return detail;
}

#define EXPECT(name, fd, cond)                                                     \
	do {                                                                       \
		drain(fd);                                                         \
		int expect_ok_ = (cond);                                           \
		check_report_(name, expect_ok_, expect_ok_ ? "" : dump());          \
	} while (0)

static void touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	if (fd >= 0)
		close(fd);
}

/* The events of one directory tree at `top` (tmpfs or the overlay). */
static void namespace_events(const char *top, const char *tag)
{
	/* Room for a suffix past any directory name, so that -Wformat-truncation holds. */
	char dir[PATH_MAX], a[PATH_MAX + 8], b[PATH_MAX + 8], d[PATH_MAX + 8], name[64];
	snprintf(dir, sizeof dir, "%s/w", top);
	snprintf(a, sizeof a, "%s/a", dir);
	snprintf(b, sizeof b, "%s/b", dir);
	snprintf(d, sizeof d, "%s/d", dir);
	mkdir(dir, 0755);
	int in = inotify_init1(IN_NONBLOCK);
	int wd = inotify_add_watch(in, dir, MASK);
#define N(s) (snprintf(name, sizeof name, "%s_%s", tag, s), name)
	CHECK(N("add_watch"), wd >= 1);
	CHECK(N("add_again_same_wd"), inotify_add_watch(in, dir, MASK) == wd);

	int fd = open(a, O_WRONLY | O_CREAT | O_EXCL, 0644);
	CHECK(N("write"), write(fd, "x", 1) == 1);
	close(fd);
	EXPECT(N("create_open_modify_close"), in,
	       nevs == 4 && is(0, wd, IN_CREATE, "a") && is(1, wd, IN_OPEN, "a") && is(2, wd, IN_MODIFY, "a") &&
		       is(3, wd, IN_CLOSE_WRITE, "a"));

	fd = open(a, O_RDONLY);
	close(fd);
	EXPECT(N("open_close_nowrite"), in, nevs == 2 && is(0, wd, IN_OPEN, "a") && is(1, wd, IN_CLOSE_NOWRITE, "a"));

	chmod(a, 0600);
	EXPECT(N("chmod_attrib"), in, nevs == 1 && is(0, wd, IN_ATTRIB, "a"));

	CHECK(N("truncate"), truncate(a, 0) == 0);
	EXPECT(N("truncate_modify"), in, nevs == 1 && is(0, wd, IN_MODIFY, "a"));

	mkdir(d, 0755);
	EXPECT(N("mkdir_create_isdir"), in, nevs == 1 && is(0, wd, IN_CREATE | IN_ISDIR, "d"));

	rename(a, b);
	EXPECT(N("rename_moved"), in,
	       nevs == 2 && is(0, wd, IN_MOVED_FROM, "a") && is(1, wd, IN_MOVED_TO, "b") && evs[0].cookie != 0 &&
		       evs[0].cookie == evs[1].cookie);

	/* A watch on the file itself. */
	int fin = inotify_init1(IN_NONBLOCK);
	int fwd = inotify_add_watch(fin, b, MASK);
	CHECK(N("file_watch"), fwd >= 1);
	char d2[PATH_MAX + 16];
	snprintf(d2, sizeof d2, "%s/b", d);
	rename(b, d2);
	EXPECT(N("move_self"), fin, nevs == 1 && is(0, fwd, IN_MOVE_SELF, ""));
	EXPECT(N("moved_out"), in, nevs == 1 && is(0, wd, IN_MOVED_FROM, "b"));
	unlink(d2);
	EXPECT(N("unlink_self_events"), fin,
	       nevs == 3 && is(0, fwd, IN_ATTRIB, "") && is(1, fwd, IN_DELETE_SELF, "") && is(2, fwd, IN_IGNORED, ""));
	CHECK_ERRNO(N("rm_watch_gone"), EINVAL, inotify_rm_watch(fin, fwd));
	close(fin);

	touch(a);
	drain(in);
	unlink(a);
	EXPECT(N("unlink_delete"), in, nevs == 1 && is(0, wd, IN_DELETE, "a"));

	/* A watched directory removed. */
	int din = inotify_init1(IN_NONBLOCK);
	int dwd = inotify_add_watch(din, d, MASK);
	rmdir(d);
	EXPECT(N("rmdir_delete_isdir"), in, nevs == 1 && is(0, wd, IN_DELETE | IN_ISDIR, "d"));
	EXPECT(N("rmdir_self"), din, nevs == 2 && is(0, dwd, IN_DELETE_SELF, "") && is(1, dwd, IN_IGNORED, ""));
	close(din);

	/* Opening the watched directory itself. */
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	close(fd);
	EXPECT(N("open_dir_self"), in,
	       nevs == 2 && is(0, wd, IN_OPEN | IN_ISDIR, "") && is(1, wd, IN_CLOSE_NOWRITE | IN_ISDIR, ""));

	CHECK(N("rm_watch"), inotify_rm_watch(in, wd) == 0);
	EXPECT(N("rm_watch_ignored"), in, nevs == 1 && is(0, wd, IN_IGNORED, ""));
	touch(a);
	EXPECT(N("no_events_after_rm"), in, nevs == 0);
	unlink(a);
	rmdir(dir);
	close(in);
#undef N
}

int main(void)
{
	CHECK_ERRNO("init1_bad_flags", EINVAL, inotify_init1(0x10));
	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	CHECK("init1", in >= 0);
	CHECK("init1_nonblock", fcntl(in, F_GETFL) & O_NONBLOCK);
	CHECK("init1_cloexec", fcntl(in, F_GETFD) == FD_CLOEXEC);
	int plain = inotify_init();
	CHECK("init_blocking", plain >= 0 && !(fcntl(plain, F_GETFL) & O_NONBLOCK));
	char buf[256];
	CHECK_ERRNO("read_empty", EAGAIN, read(in, buf, sizeof buf));
	char link[64], target[64];
	snprintf(link, sizeof link, "/proc/self/fd/%d", in);
	ssize_t n = readlink(link, target, sizeof target - 1);
	target[n > 0 ? n : 0] = 0;
	CHECK("proc_fd_name", strcmp(target, "anon_inode:inotify") == 0);

	char top[] = "/tmp/inotify-XXXXXX";
	CHECK("mkdtemp", mkdtemp(top) != NULL);
	char f[PATH_MAX];
	snprintf(f, sizeof f, "%s/f", top);
	touch(f);

	/* Argument errors. */
	CHECK_ERRNO("add_zero_mask", EINVAL, inotify_add_watch(in, top, 0));
	CHECK_ERRNO("add_mask_add_and_create", EINVAL, inotify_add_watch(in, top, IN_MODIFY | IN_MASK_ADD | IN_MASK_CREATE));
	CHECK_ERRNO("add_bad_fd", EBADF, inotify_add_watch(-1, top, IN_MODIFY));
	CHECK_ERRNO("add_not_inotify", EINVAL, inotify_add_watch(0, top, IN_MODIFY));
	CHECK_ERRNO("add_missing", ENOENT, inotify_add_watch(in, "/nonexistent/x", IN_MODIFY));
	CHECK_ERRNO("add_onlydir_file", ENOTDIR, inotify_add_watch(in, f, IN_MODIFY | IN_ONLYDIR));
	CHECK_ERRNO("rm_bad_wd", EINVAL, inotify_rm_watch(in, 12345));
	CHECK_ERRNO("rm_not_inotify", EINVAL, inotify_rm_watch(0, 1));
	int fwd = inotify_add_watch(in, f, IN_MODIFY);
	CHECK_ERRNO("add_mask_create_existing", EEXIST, inotify_add_watch(in, f, IN_ATTRIB | IN_MASK_CREATE));

	/* IN_MASK_ADD extends the mask; a plain add replaces it. */
	CHECK("mask_add_same_wd", inotify_add_watch(in, f, IN_ATTRIB | IN_MASK_ADD) == fwd);
	chmod(f, 0600);
	EXPECT("mask_add_attrib", in, nevs == 1 && is(0, fwd, IN_ATTRIB, ""));
	CHECK("mask_replace", inotify_add_watch(in, f, IN_CLOSE_WRITE) == fwd);
	chmod(f, 0644);
	EXPECT("mask_replaced_no_attrib", in, nevs == 0);

	/* IN_ONESHOT: one event, then the watch ends. */
	CHECK("oneshot_add", inotify_add_watch(in, f, IN_ATTRIB | IN_ONESHOT) == fwd);
	chmod(f, 0600);
	chmod(f, 0644);
	EXPECT("oneshot_events", in, nevs == 2 && is(0, fwd, IN_ATTRIB, "") && is(1, fwd, IN_IGNORED, ""));

	/* Identical consecutive events are merged. */
	int mwd = inotify_add_watch(in, f, IN_MODIFY);
	int fd = open(f, O_WRONLY);
	write(fd, "a", 1);
	write(fd, "b", 1);
	close(fd);
	EXPECT("merged_modify", in, nevs == 1 && is(0, mwd, IN_MODIFY, ""));
	inotify_rm_watch(in, mwd);
	drain(in);

	/* FIONREAD, short buffers, poll and epoll. */
	CHECK("watch_top", inotify_add_watch(in, top, IN_CREATE) >= 1);
	char g[PATH_MAX];
	snprintf(g, sizeof g, "%s/g", top);
	struct pollfd pfd = { .fd = in, .events = POLLIN };
	CHECK("poll_empty", poll(&pfd, 1, 0) == 0);
	int ep = epoll_create1(0);
	struct epoll_event ee = { .events = EPOLLIN }, got;
	epoll_ctl(ep, EPOLL_CTL_ADD, in, &ee);
	CHECK("epoll_empty", epoll_wait(ep, &got, 1, 0) == 0);
	touch(g);
	int avail = -1;
	CHECK("fionread", ioctl(in, FIONREAD, &avail) == 0 && avail == 32);
	CHECK("poll_ready", poll(&pfd, 1, 0) == 1 && pfd.revents == POLLIN);
	CHECK("epoll_ready", epoll_wait(ep, &got, 1, 0) == 1 && got.events == EPOLLIN);
	CHECK_ERRNO("read_short_buffer", EINVAL, read(in, buf, 16));
	CHECK("read_whole_event", read(in, buf, 32) == 32 && ((struct inotify_event *)buf)->len == 16 &&
					  strcmp(((struct inotify_event *)buf)->name, "g") == 0);
	close(ep);
	unlink(g);

	/* A blocking read waits for another process's change. */
	int bwd = inotify_add_watch(plain, top, IN_CREATE);
	pid_t child = fork();
	if (child == 0) {
		usleep(100000);
		touch(g);
		_exit(0);
	}
	n = read(plain, buf, sizeof buf);
	CHECK("blocking_read_woken", n == 32 && ((struct inotify_event *)buf)->wd == bwd &&
					     ((struct inotify_event *)buf)->mask == IN_CREATE);
	waitpid(child, NULL, 0);
	unlink(g);
	close(plain);
	drain(in);

	/* Overflow: the queue holds 16384 events, then one IN_Q_OVERFLOW. */
	char many[PATH_MAX];
	snprintf(many, sizeof many, "%s/m", top);
	mkdir(many, 0755);
	int oin = inotify_init1(IN_NONBLOCK);
	inotify_add_watch(oin, many, IN_CREATE);
	for (int i = 0; i < 16400; i++) {
		char p[PATH_MAX + 16];
		snprintf(p, sizeof p, "%s/%d", many, i);
		mkdir(p, 0755);
	}
	drain(oin);
	CHECK("overflow_count", nevs == 16385);
	CHECK("overflow_last", nevs > 0 && evs[nevs - 1].wd == -1 && evs[nevs - 1].mask == IN_Q_OVERFLOW);
	close(oin);
	for (int i = 0; i < 16400; i++) {
		char p[PATH_MAX + 16];
		snprintf(p, sizeof p, "%s/%d", many, i);
		rmdir(p);
	}
	rmdir(many);

	namespace_events(top, "tmp");
	char vtop[] = "/var/tmp/inotify-XXXXXX";
	if (mkdtemp(vtop) != NULL) {
		namespace_events(vtop, "root");
		/* A file of the image itself (read-only lower layer in the sandbox). */
		int rin = inotify_init1(IN_NONBLOCK);
		int rwd = inotify_add_watch(rin, "/etc/passwd", MASK);
		fd = open("/etc/passwd", O_RDONLY);
		close(fd);
		EXPECT("root_image_file_open_close", rin,
		       nevs == 2 && is(0, rwd, IN_OPEN, "") && is(1, rwd, IN_CLOSE_NOWRITE, ""));
		close(rin);
		rmdir(vtop);
	}
	unlink(f);
	rmdir(top);
	close(in);
	return check_exit();
}
