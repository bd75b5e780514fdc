/*
 * locks.c — advisory file locks between processes: flock(2), POSIX record
 * locks (F_SETLK, F_SETLKW, F_GETLK) and open-file-description locks
 * (F_OFD_*), their owners, conflicts, splitting and merging, release on
 * close and exit, blocking waits, EDEADLK, EINTR and errors.
 *
 * Files live in fresh directories under /tmp (a tmpfs in the sandbox) and
 * /var/tmp (the root overlay). Children report through exit statuses, so
 * every line stays deterministic.
 */
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static const char *path;

static int open_rw(void)
{
	return open(path, O_RDWR);
}

/* fcntl record lock command on [start, start+len) from whence. */
static int lk(int fd, int cmd, short type, short whence, off_t start, off_t len)
{
	struct flock fl = {.l_type = type, .l_whence = whence, .l_start = start, .l_len = len};
	return fcntl(fd, cmd, &fl);
}

/* F_GETLK (or F_OFD_GETLK) of a `type` lock on [start, start+len). */
static struct flock getlk(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
	if (fcntl(fd, cmd, &fl) != 0)
		fl.l_type = -1;
	return fl;
}

static int is_lock(struct flock fl, short type, off_t start, off_t len)
{
	return fl.l_type == type && fl.l_whence == SEEK_SET && fl.l_start == start && fl.l_len == len;
}

/* Runs fn in a child (with its own opens of the file) and returns its exit code. */
static int in_child(int (*fn)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(fn());
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* ---- children: 0 means what the parent expects ---- */

static int child_flock_ex_nb_blocked(void)
{
	int fd = open_rw();
	int a = flock(fd, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK;
	int b = flock(fd, LOCK_SH | LOCK_NB) == -1 && errno == EWOULDBLOCK;
	return a && b ? 0 : 1;
}

static int child_flock_ex_nb_free(void)
{
	int fd = open_rw();
	return flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : 1;
}

static int child_flock_sh_ok_ex_blocked(void)
{
	int fd = open_rw();
	if (flock(fd, LOCK_SH | LOCK_NB) != 0)
		return 1;
	/* Converting to exclusive meets the parent's shared lock. */
	return flock(fd, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK ? 0 : 2;
}

static int child_posix_wrlck_free(void)
{
	int fd = open_rw();
	return lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0) == 0 ? 0 : 1;
}

static int shared_fd;

static int child_flock_inherited(void)
{
	/* The same open file description: already ours. */
	return flock(shared_fd, LOCK_EX | LOCK_NB) == 0 ? 0 : 1;
}

static int child_posix_conflict(void)
{
	int fd = open_rw();
	if (!(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 15, 1) == -1 && (errno == EAGAIN || errno == EACCES)))
		return 1;
	if (!(lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 19, 5) == -1 && (errno == EAGAIN || errno == EACCES)))
		return 2;
	if (lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 20, 5) != 0)
		return 3;
	struct flock fl = getlk(fd, F_GETLK, F_RDLCK, 0, 0);
	if (!is_lock(fl, F_WRLCK, 10, 10))
		return 4;
	if (fl.l_pid != getppid())
		return 5;
	return 0;
}

static int child_posix_inherits_nothing(void)
{
	/* The parent's lock through the inherited descriptor is not the child's. */
	return lk(shared_fd, F_SETLK, F_WRLCK, SEEK_SET, 10, 1) == -1 && (errno == EAGAIN || errno == EACCES) ? 0 : 1;
}

static int child_split(void)
{
	int fd = open_rw();
	if (!is_lock(getlk(fd, F_GETLK, F_WRLCK, 0, 0), F_WRLCK, 0, 40))
		return 1;
	if (getlk(fd, F_GETLK, F_WRLCK, 40, 20).l_type != F_UNLCK)
		return 2;
	if (!is_lock(getlk(fd, F_GETLK, F_RDLCK, 50, 0), F_WRLCK, 60, 40))
		return 3;
	return 0;
}

static int child_merge(void)
{
	int fd = open_rw();
	/* [0,5) W, [5,10) R, [10,20) W after the parent's changes. */
	if (!is_lock(getlk(fd, F_GETLK, F_RDLCK, 0, 0), F_WRLCK, 0, 5))
		return 1;
	if (getlk(fd, F_GETLK, F_RDLCK, 5, 5).l_type != F_UNLCK)
		return 2;
	if (!is_lock(getlk(fd, F_GETLK, F_WRLCK, 5, 5), F_RDLCK, 5, 5))
		return 3;
	if (!is_lock(getlk(fd, F_GETLK, F_RDLCK, 6, 0), F_WRLCK, 10, 10))
		return 4;
	return 0;
}

static int child_whence(void)
{
	int fd = open_rw();
	/* Parent: [10,20) via a negative length, [35,40) via SEEK_CUR, [90,100) via SEEK_END. */
	if (!is_lock(getlk(fd, F_GETLK, F_RDLCK, 0, 30), F_WRLCK, 10, 10))
		return 1;
	if (!is_lock(getlk(fd, F_GETLK, F_RDLCK, 30, 30), F_WRLCK, 35, 5))
		return 2;
	if (!is_lock(getlk(fd, F_GETLK, F_RDLCK, 60, 0), F_WRLCK, 90, 10))
		return 3;
	return 0;
}

static int child_ofd_conflict(void)
{
	int fd = open_rw();
	if (!(lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 5, 1) == -1 && (errno == EAGAIN || errno == EACCES)))
		return 1;
	struct flock fl = getlk(fd, F_GETLK, F_RDLCK, 0, 0);
	if (!is_lock(fl, F_WRLCK, 0, 10) || fl.l_pid != -1)
		return 2;
	return 0;
}

static void on_alarm(int sig)
{
	(void)sig;
}

static void arm_alarm(void)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_alarm; /* no SA_RESTART: the wait ends with EINTR */
	sigaction(SIGALRM, &sa, NULL);
	/* Repeating, in case the first tick comes before the call blocks. */
	struct itimerval it = {{0, 100000}, {0, 100000}};
	setitimer(ITIMER_REAL, &it, NULL);
}

static int child_setlkw_eintr(void)
{
	int fd = open_rw();
	arm_alarm();
	return lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1) == -1 && errno == EINTR ? 0 : 1;
}

static int child_flock_eintr(void)
{
	int fd = open_rw();
	arm_alarm();
	return flock(fd, LOCK_EX) == -1 && errno == EINTR ? 0 : 1;
}

/* ---- blocking waits ---- */

/* A child that blocks in `how` (0: flock, 1: F_SETLKW, 2: F_OFD_SETLKW) on the
 * parent's lock and writes a byte once it has the lock. */
static pid_t start_waiter(int how, int *done_fd)
{
	int p[2];
	if (pipe(p) != 0)
		return -1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		int fd = open_rw();
		int r = how == 0 ? flock(fd, LOCK_EX) : lk(fd, how == 1 ? F_SETLKW : F_OFD_SETLKW, F_WRLCK, SEEK_SET, 0, 0);
		char c = r == 0 ? 'y' : 'n';
		_exit(write(p[1], &c, 1) == 1 ? 0 : 1);
	}
	close(p[1]);
	*done_fd = p[0];
	return pid;
}

static int readable_within(int fd, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	return poll(&pfd, 1, ms) == 1;
}

/* Checks that the waiter is still blocked, then runs `release` and checks it got the lock. */
static void check_wait(const char *blocked_name, const char *woken_name, int how, int fd, int (*release)(int))
{
	int done = -1;
	pid_t pid = start_waiter(how, &done);
	sleep_ms(150);
	CHECK(blocked_name, !readable_within(done, 0));
	release(fd);
	char c = 0;
	int got = readable_within(done, 5000) && read(done, &c, 1) == 1 && c == 'y';
	int status;
	waitpid(pid, &status, 0);
	CHECK(woken_name, got && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(done);
}

static int release_flock(int fd)
{
	return flock(fd, LOCK_UN);
}

static int release_posix(int fd)
{
	return lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
}

static int release_ofd(int fd)
{
	return lk(fd, F_OFD_SETLK, F_UNLCK, SEEK_SET, 0, 0);
}

/* ---- the groups of checks ---- */

static void flock_checks(void)
{
	int fd = open(path, O_RDWR);
	CHECK("flock_ex", flock(fd, LOCK_EX) == 0);
	CHECK("flock_ex_again", flock(fd, LOCK_EX | LOCK_NB) == 0);
	CHECK("flock_other_process_ewouldblock", in_child(child_flock_ex_nb_blocked) == 0);
	shared_fd = fd;
	CHECK("flock_inherited_across_fork", in_child(child_flock_inherited) == 0);
	CHECK("flock_kept_after_child_exit", in_child(child_flock_ex_nb_blocked) == 0);
	int other = open(path, O_RDWR);
	CHECK("flock_same_process_other_open_conflicts", flock(other, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK);
	CHECK("flock_fcntl_independent", in_child(child_posix_wrlck_free) == 0);
	int dupfd = dup(fd);
	close(fd);
	CHECK("flock_kept_while_dup_open", in_child(child_flock_ex_nb_blocked) == 0);
	close(dupfd);
	CHECK("flock_released_on_last_close", in_child(child_flock_ex_nb_free) == 0);

	CHECK("flock_sh", flock(other, LOCK_SH) == 0);
	CHECK("flock_sh_shared_with_other", in_child(child_flock_sh_ok_ex_blocked) == 0);
	CHECK("flock_convert_to_ex", flock(other, LOCK_EX | LOCK_NB) == 0);
	CHECK("flock_converted_blocks_shared", in_child(child_flock_ex_nb_blocked) == 0);
	CHECK("flock_convert_to_sh", flock(other, LOCK_SH) == 0);
	CHECK("flock_unlock", flock(other, LOCK_UN) == 0);
	CHECK("flock_unlock_unlocked", flock(other, LOCK_UN) == 0);
	CHECK("flock_free_after_unlock", in_child(child_flock_ex_nb_free) == 0);

	CHECK("flock_hold_for_wait", flock(other, LOCK_EX) == 0);
	check_wait("flock_waiter_blocked", "flock_waiter_woken_by_unlock", 0, other, release_flock);

	CHECK("flock_hold_for_eintr", flock(other, LOCK_EX) == 0);
	CHECK("flock_eintr", in_child(child_flock_eintr) == 0);
	flock(other, LOCK_UN);

	CHECK_ERRNO("flock_ebadf", EBADF, flock(-1, LOCK_SH));
	CHECK_ERRNO("flock_einval_zero", EINVAL, flock(other, 0));
	CHECK_ERRNO("flock_einval_sh_ex", EINVAL, flock(other, LOCK_SH | LOCK_EX));
	CHECK_ERRNO("flock_einval_nb_only", EINVAL, flock(other, LOCK_NB));
	int opath = open(path, O_PATH);
	CHECK_ERRNO("flock_o_path_ebadf", EBADF, flock(opath, LOCK_SH));
	close(opath);
	close(other);
}

static void posix_checks(void)
{
	int fd = open(path, O_RDWR);
	char buf[100] = {0};
	CHECK("posix_file_written", pwrite(fd, buf, sizeof buf, 0) == (ssize_t)sizeof buf);
	CHECK("posix_setlk", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 10, 10) == 0);
	CHECK("posix_own_lock_no_conflict", getlk(fd, F_GETLK, F_WRLCK, 0, 0).l_type == F_UNLCK);
	CHECK("posix_relock_own", lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 12, 2) == 0 && lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 10, 10) == 0);
	CHECK("posix_child_conflicts_and_getlk", in_child(child_posix_conflict) == 0);
	shared_fd = fd;
	CHECK("posix_not_inherited", in_child(child_posix_inherits_nothing) == 0);

	/* F_GETLK names a child's lock with the child's pid. */
	int ready[2], go[2];
	pipe(ready);
	pipe(go);
	CHECK("posix_unlock_all", lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0) == 0);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		int cfd = open_rw();
		char c = lk(cfd, F_SETLK, F_RDLCK, SEEK_SET, 50, 0) == 0 ? 'y' : 'n';
		write(ready[1], &c, 1);
		read(go[0], &c, 1);
		_exit(0);
	}
	char c = 0;
	read(ready[0], &c, 1);
	struct flock fl = getlk(fd, F_GETLK, F_WRLCK, 0, 0);
	CHECK("posix_getlk_child_lock", c == 'y' && is_lock(fl, F_RDLCK, 50, 0));
	CHECK("posix_getlk_pid_is_child", fl.l_pid == pid);
	CHECK("posix_read_lock_shared", lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 60, 5) == 0);
	CHECK_ERRNO("posix_write_over_child_read", EAGAIN, lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 60, 5));
	write(go[1], "x", 1);
	waitpid(pid, NULL, 0);
	CHECK("posix_released_at_child_exit", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0) == 0);
	close(ready[0]), close(ready[1]), close(go[0]), close(go[1]);

	/* Splitting: [0,100) minus [40,60). */
	lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
	CHECK("posix_split", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 100) == 0 && lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 40, 20) == 0);
	CHECK("posix_split_seen_by_child", in_child(child_split) == 0);

	/* Merging adjacent ranges, then replacing a middle part with a read lock. */
	lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
	CHECK("posix_merge", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10) == 0 && lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 10, 10) == 0 && lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 5, 5) == 0);
	CHECK("posix_merge_seen_by_child", in_child(child_merge) == 0);

	/* l_whence and negative lengths. */
	lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
	lseek(fd, 30, SEEK_SET);
	CHECK("posix_negative_len", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 20, -10) == 0);
	CHECK("posix_seek_cur", lk(fd, F_SETLK, F_WRLCK, SEEK_CUR, 5, 5) == 0);
	CHECK("posix_seek_end", lk(fd, F_SETLK, F_WRLCK, SEEK_END, -10, 10) == 0);
	CHECK("posix_whence_seen_by_child", in_child(child_whence) == 0);

	/* Closing any descriptor of the file drops all the process's locks on it. */
	int other = open(path, O_RDONLY);
	close(other);
	CHECK("posix_released_on_other_close", in_child(child_posix_wrlck_free) == 0);
	CHECK("posix_relock", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0) == 0);
	int dupfd = dup(fd);
	close(dupfd);
	CHECK("posix_released_on_dup_close", in_child(child_posix_wrlck_free) == 0);

	/* F_SETLKW waits for the holder; a signal interrupts it. */
	CHECK("posix_hold_for_wait", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0) == 0);
	check_wait("posix_waiter_blocked", "posix_waiter_woken_by_unlock", 1, fd, release_posix);
	CHECK("posix_hold_for_eintr", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0) == 0);
	CHECK("posix_setlkw_eintr", in_child(child_setlkw_eintr) == 0);
	lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);

	/* Errors. */
	CHECK_ERRNO("posix_bad_type", EINVAL, lk(fd, F_SETLK, 7, SEEK_SET, 0, 1));
	CHECK_ERRNO("posix_bad_whence", EINVAL, lk(fd, F_SETLK, F_WRLCK, 5, 0, 1));
	CHECK_ERRNO("posix_negative_start", EINVAL, lk(fd, F_SETLK, F_WRLCK, SEEK_SET, -1, 1));
	CHECK_ERRNO("posix_len_before_zero", EINVAL, lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 5, -10));
	CHECK_ERRNO("posix_getlk_unlck", EINVAL, lk(fd, F_GETLK, F_UNLCK, SEEK_SET, 0, 1));
	CHECK_ERRNO("posix_efault", EFAULT, fcntl(fd, F_SETLK, (struct flock *)1));
	CHECK_ERRNO("posix_getlk_efault", EFAULT, fcntl(fd, F_GETLK, (struct flock *)1));
	CHECK_ERRNO("posix_ebadf_fd", EBADF, lk(-1, F_SETLK, F_RDLCK, SEEK_SET, 0, 1));
	int ro = open(path, O_RDONLY), wo = open(path, O_WRONLY);
	CHECK_ERRNO("posix_wrlck_on_rdonly", EBADF, lk(ro, F_SETLK, F_WRLCK, SEEK_SET, 0, 1));
	CHECK_ERRNO("posix_rdlck_on_wronly", EBADF, lk(wo, F_SETLK, F_RDLCK, SEEK_SET, 0, 1));
	CHECK("posix_unlck_on_rdonly", lk(ro, F_SETLK, F_UNLCK, SEEK_SET, 0, 1) == 0);
	CHECK("posix_getlk_wrlck_on_rdonly", getlk(ro, F_GETLK, F_WRLCK, 0, 1).l_type == F_UNLCK);
	close(ro), close(wo), close(fd);
}

/* Two processes each holding one byte and waiting for the other's: one of
 * them gets EDEADLK. */
static void deadlock_checks(void)
{
	int fd = open(path, O_RDWR);
	lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1);
	int ready[2];
	pipe(ready);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		int cfd = open_rw();
		lk(cfd, F_SETLK, F_WRLCK, SEEK_SET, 1, 1);
		write(ready[1], "x", 1);
		int r = lk(cfd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1);
		_exit(r == 0 ? 0 : errno == EDEADLK ? 2 : 3);
	}
	char c;
	read(ready[0], &c, 1);
	sleep_ms(100);
	int r = lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 1, 1);
	int e = errno;
	if (r != 0)
		lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
	int status;
	waitpid(pid, &status, 0);
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	CHECK("posix_edeadlk_one_side", (r == -1 && e == EDEADLK && code == 0) || (r == 0 && code == 2));
	close(ready[0]), close(ready[1]);
	close(fd);
}

static void ofd_checks(void)
{
	int fd = open(path, O_RDWR);
	CHECK("ofd_setlk", lk(fd, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 10) == 0);
	CHECK("ofd_conflicts_with_posix_in_child", in_child(child_ofd_conflict) == 0);
	int other = open(path, O_RDWR);
	CHECK_ERRNO("ofd_other_description_conflicts", EAGAIN, lk(other, F_OFD_SETLK, F_WRLCK, SEEK_SET, 5, 1));
	CHECK_ERRNO("ofd_posix_same_process_conflicts", EAGAIN, lk(other, F_SETLK, F_WRLCK, SEEK_SET, 5, 1));
	struct flock fl = getlk(other, F_OFD_GETLK, F_RDLCK, 0, 0);
	CHECK("ofd_getlk", is_lock(fl, F_WRLCK, 0, 10) && fl.l_pid == -1);
	CHECK("ofd_own_description_no_conflict", getlk(fd, F_OFD_GETLK, F_WRLCK, 0, 0).l_type == F_UNLCK);
	struct flock bad = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1, .l_pid = 1};
	CHECK_ERRNO("ofd_pid_nonzero_einval", EINVAL, fcntl(other, F_OFD_SETLK, &bad));
	/* A POSIX lock blocks OFD locks too. */
	CHECK("ofd_posix_lock_elsewhere", lk(other, F_SETLK, F_WRLCK, SEEK_SET, 50, 10) == 0);
	CHECK_ERRNO("ofd_blocked_by_posix", EAGAIN, lk(fd, F_OFD_SETLK, F_RDLCK, SEEK_SET, 55, 1));
	lk(other, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
	/* Closing another descriptor does not drop OFD locks; the last one of the description does. */
	int dupfd = dup(fd);
	close(dupfd);
	CHECK_ERRNO("ofd_kept_after_dup_close", EAGAIN, lk(other, F_OFD_SETLK, F_WRLCK, SEEK_SET, 5, 1));
	check_wait("ofd_waiter_blocked", "ofd_waiter_woken_by_unlock", 2, fd, release_ofd);
	CHECK("ofd_relock", lk(fd, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 10) == 0);
	close(fd);
	CHECK("ofd_released_on_last_close", lk(other, F_OFD_SETLK, F_WRLCK, SEEK_SET, 5, 1) == 0);
	close(other);
}

/* A tmpfs file: two opens meet the same locks. */
static void tmpfs_checks(void)
{
	int fd = open(path, O_RDWR);
	CHECK("tmpfs_flock", flock(fd, LOCK_EX) == 0);
	CHECK("tmpfs_flock_conflict", in_child(child_flock_ex_nb_blocked) == 0);
	CHECK("tmpfs_posix", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 10, 10) == 0);
	CHECK("tmpfs_posix_conflict", in_child(child_posix_conflict) == 0);
	close(fd);
	CHECK("tmpfs_released", in_child(child_flock_ex_nb_free) == 0 && in_child(child_posix_wrlck_free) == 0);
}

/* Runs `checks` on a new file in a new directory made from `dir_template`. */
static void run_in(const char *dir_template, const char *tag, void (*checks)(void))
{
	char dir[64], file[96];
	snprintf(dir, sizeof dir, "%s", dir_template);
	if (mkdtemp(dir) == NULL) {
		printf("FAIL %s_mkdtemp: %s\n", tag, strerror(errno));
		return;
	}
	snprintf(file, sizeof file, "%s/f", dir);
	int fd = open(file, O_RDWR | O_CREAT | O_EXCL, 0644);
	close(fd);
	path = file;
	checks();
	unlink(file);
	rmdir(dir);
}

static void all_checks(void)
{
	flock_checks();
	posix_checks();
	deadlock_checks();
	ofd_checks();
}

int main(void)
{
	/* The root overlay in the sandbox; then a tmpfs. */
	run_in("/var/tmp/locks-XXXXXX", "overlay", all_checks);
	run_in("/tmp/locks-XXXXXX", "tmpfs", tmpfs_checks);
	return check_exit();
}
