/*
 * pty.c — pseudo-terminals: posix_openpt/grantpt/unlockpt/ptsname, the slave
 * node, the line discipline (canonical editing and echo, output processing,
 * raw mode, VMIN/VTIME), window size and SIGWINCH, keyboard signals to the
 * foreground process group of a controlling terminal taken with setsid and
 * TIOCSCTTY, hang-ups both ways, /dev/tty, and poll readiness.
 *
 * Linux runs the line discipline asynchronously, so every read of a reply
 * waits (with a timeout) for the bytes expected. Children report through exit
 * statuses and pipes; the pty's index is never printed.
 */
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 5000

/* Reads exactly n bytes (or fewer when the timeout passes or the fd ends):
 * the count read, or -1 with errno when the first read fails. */
static ssize_t read_n(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, TIMEOUT_MS) <= 0)
			break;
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r < 0)
			return got ? (ssize_t)got : -1;
		if (r == 0)
			break;
		got += r;
	}
	return got;
}

/* Reads exactly the bytes of want from fd; true when they came. */
static int expect(int fd, const char *want, size_t n)
{
	char buf[512];
	if (n > sizeof buf)
		return 0;
	return read_n(fd, buf, n) == (ssize_t)n && memcmp(buf, want, n) == 0;
}
#define EXPECT(fd, lit) expect(fd, lit, sizeof lit - 1)

static int put(int fd, const char *s)
{
	size_t n = strlen(s);
	return write(fd, s, n) == (ssize_t)n;
}

/* A new pseudo-terminal: its master (non-controlling), unlocked, and the
 * slave opened with O_NOCTTY. */
static int open_pair(int *master, int *slave)
{
	*master = posix_openpt(O_RDWR | O_NOCTTY);
	if (*master < 0 || grantpt(*master) != 0 || unlockpt(*master) != 0)
		return 0;
	*slave = open(ptsname(*master), O_RDWR | O_NOCTTY);
	return *slave >= 0;
}

static void close_pair(int master, int slave)
{
	close(slave);
	close(master);
}

/* Polls one fd without waiting; the revents. */
static int revents(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};
	return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

/* Waits up to the timeout for events on fd. */
static int wait_for(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};
	return poll(&p, 1, TIMEOUT_MS) == 1 ? p.revents : 0;
}

static void test_allocation(void)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	CHECK("posix_openpt", m >= 0);
	CHECK("grantpt", grantpt(m) == 0);
	const char *name = ptsname(m);
	CHECK("ptsname_in_dev_pts", name && strncmp(name, "/dev/pts/", 9) == 0);
	char path[64];
	snprintf(path, sizeof path, "%s", name ? name : "");
	unsigned int n = ~0u;
	CHECK("tiocgptn_matches_ptsname", ioctl(m, TIOCGPTN, &n) == 0 && atoi(path + 9) == (int)n);

	struct stat st;
	CHECK("slave_node", stat(path, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) >= 136 &&
				    major(st.st_rdev) <= 143 && (major(st.st_rdev) - 136) * 256 + minor(st.st_rdev) == n);
	CHECK("slave_owner_is_opener", st.st_uid == getuid());
	CHECK("slave_mode", (st.st_mode & 07777) == 0620 || (st.st_mode & 07777) == 0600);
	CHECK_ERRNO("locked_until_unlockpt", EIO, open(path, O_RDWR | O_NOCTTY));
	int locked = 0;
	CHECK("tiocgptlck_locked", ioctl(m, TIOCGPTLCK, &locked) == 0 && locked == 1);
	CHECK("unlockpt", unlockpt(m) == 0);
	CHECK("tiocgptlck_unlocked", ioctl(m, TIOCGPTLCK, &locked) == 0 && locked == 0);
	int s = open(path, O_RDWR | O_NOCTTY);
	CHECK("open_slave", s >= 0);
	CHECK("isatty_both", isatty(m) && isatty(s));
	const char *tn = ttyname(s);
	CHECK("ttyname_is_ptsname", tn && strcmp(tn, path) == 0);
	struct stat fst;
	CHECK("fstat_slave_is_node", fstat(s, &fst) == 0 && fst.st_rdev == st.st_rdev && fst.st_ino == st.st_ino);
	struct stat mst;
	CHECK("fstat_master_is_ptmx", fstat(m, &mst) == 0 && S_ISCHR(mst.st_mode) && mst.st_rdev == makedev(5, 2));
	CHECK_ERRNO("tiocgptn_on_slave", ENOTTY, ioctl(s, TIOCGPTN, &n));

	int peer = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	CHECK("tiocgptpeer", peer >= 0 && fstat(peer, &fst) == 0 && fst.st_rdev == st.st_rdev);
	CHECK_ERRNO("tiocgptpeer_on_slave", EIO, ioctl(s, TIOCGPTPEER, O_RDWR));
	close(peer);

	struct stat pst;
	CHECK("dev_pts_ptmx", stat("/dev/pts/ptmx", &pst) == 0 && S_ISCHR(pst.st_mode) && pst.st_rdev == makedev(5, 2));
	CHECK("dev_ptmx", stat("/dev/ptmx", &pst) == 0 && S_ISCHR(pst.st_mode) && pst.st_rdev == makedev(5, 2));

	close(s);
	close(m);
	CHECK_ERRNO("node_gone_after_close", ENOENT, stat(path, &st));
}

static void test_default_termios(void)
{
	int m, s;
	if (!open_pair(&m, &s)) {
		CHECK("default_termios_pair", 0);
		return;
	}
	struct termios t;
	CHECK("tcgetattr_slave", tcgetattr(s, &t) == 0);
	CHECK("default_iflag", (t.c_iflag & (ICRNL | IXON)) == (ICRNL | IXON) && !(t.c_iflag & (INLCR | IGNCR)));
	CHECK("default_oflag", (t.c_oflag & (OPOST | ONLCR)) == (OPOST | ONLCR));
	CHECK("default_lflag", (t.c_lflag & (ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN)) ==
				       (ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN));
	CHECK("default_cc", t.c_cc[VINTR] == 3 && t.c_cc[VQUIT] == 034 && t.c_cc[VERASE] == 0177 && t.c_cc[VKILL] == 025 &&
				    t.c_cc[VEOF] == 4 && t.c_cc[VSUSP] == 032 && t.c_cc[VMIN] == 1 && t.c_cc[VTIME] == 0);
	CHECK("default_speed", cfgetospeed(&t) == B38400);
	struct termios mt;
	CHECK("master_termios_is_slaves", tcgetattr(m, &mt) == 0 && mt.c_lflag == t.c_lflag && mt.c_iflag == t.c_iflag);
	struct winsize ws = {1, 1, 1, 1};
	CHECK("default_winsize", ioctl(s, TIOCGWINSZ, &ws) == 0 && ws.ws_row == 0 && ws.ws_col == 0);
	close_pair(m, s);
}

static void test_canonical(void)
{
	int m, s;
	if (!open_pair(&m, &s)) {
		CHECK("canonical_pair", 0);
		return;
	}
	char buf[64];
	CHECK("write_master", put(m, "hello\r"));
	ssize_t n = read(s, buf, sizeof buf);
	CHECK("slave_reads_line_icrnl", n == 6 && memcmp(buf, "hello\n", 6) == 0);
	CHECK("echo_to_master", EXPECT(m, "hello\r\n"));

	put(m, "ab\177c\n");
	n = read(s, buf, sizeof buf);
	CHECK("erase", n == 3 && memcmp(buf, "ac\n", 3) == 0);
	CHECK("erase_echo", EXPECT(m, "ab\b \bc\r\n"));

	put(m, "junk\025ok\n");
	n = read(s, buf, sizeof buf);
	CHECK("kill", n == 3 && memcmp(buf, "ok\n", 3) == 0);
	CHECK("kill_echo", EXPECT(m, "junk\b \b\b \b\b \b\b \bok\r\n"));

	put(m, "one two\027three\n");
	n = read(s, buf, sizeof buf);
	CHECK("werase", n == 10 && memcmp(buf, "one three\n", 10) == 0);
	CHECK("werase_echo", EXPECT(m, "one two\b \b\b \b\b \bthree\r\n"));

	put(m, "ab\004");
	n = read(s, buf, sizeof buf);
	CHECK("eof_ends_line", n == 2 && memcmp(buf, "ab", 2) == 0);
	put(m, "\004");
	CHECK("eof_alone_reads_0", read(s, buf, sizeof buf) == 0);
	CHECK("eof_not_echoed", EXPECT(m, "ab"));

	put(m, "x\001\n");
	n = read(s, buf, sizeof buf);
	CHECK("control_char_kept", n == 3 && memcmp(buf, "x\001\n", 3) == 0);
	CHECK("echoctl", EXPECT(m, "x^A\r\n"));

	put(m, "l1\nl2\n");
	int avail = 0;
	for (int i = 0; i < 500 && avail != 6; i++) {
		ioctl(s, FIONREAD, &avail);
		if (avail != 6)
			usleep(1000);
	}
	CHECK("fionread_lines", avail == 6);
	n = read(s, buf, 2);
	CHECK("short_read_of_line", n == 2 && memcmp(buf, "l1", 2) == 0);
	n = read(s, buf, sizeof buf);
	CHECK("rest_of_line_only", n == 1 && buf[0] == '\n');
	n = read(s, buf, sizeof buf);
	CHECK("second_line", n == 3 && memcmp(buf, "l2\n", 3) == 0);
	EXPECT(m, "l1\r\nl2\r\n");

	CHECK("slave_write", put(s, "out\n\tx\r\n"));
	CHECK("onlcr", EXPECT(m, "out\r\n\tx\r\r\n"));
	int outq = -1;
	CHECK("tiocoutq", ioctl(s, TIOCOUTQ, &outq) == 0 && outq == 0);
	CHECK("fionread_master", put(s, "zz") && wait_for(m, POLLIN) && ioctl(m, FIONREAD, &avail) == 0 && avail == 2);
	CHECK("tcflush_master_input", tcflush(m, TCIFLUSH) == 0 && (revents(m, POLLIN) & POLLIN) == 0);

	struct termios t;
	tcgetattr(s, &t);
	t.c_lflag &= ~ECHO;
	t.c_lflag |= ECHONL;
	CHECK("tcsetattr_echonl", tcsetattr(s, TCSANOW, &t) == 0);
	put(m, "pw\n");
	n = read(s, buf, sizeof buf);
	CHECK("noecho_input", n == 3 && memcmp(buf, "pw\n", 3) == 0);
	CHECK("echonl", EXPECT(m, "\r\n"));

	put(m, "partial");
	for (int i = 0; i < 500 && !(revents(m, POLLIN) & POLLIN); i++)
		usleep(1000);
	tcflush(s, TCIFLUSH);
	put(m, "\n");
	n = read(s, buf, sizeof buf);
	CHECK("tcflush_drops_partial_line", n == 1 && buf[0] == '\n');
	CHECK("echo_after_flush", EXPECT(m, "\r\n"));
	close_pair(m, s);
}

static void test_raw(void)
{
	int m, s;
	if (!open_pair(&m, &s)) {
		CHECK("raw_pair", 0);
		return;
	}
	struct termios t;
	tcgetattr(s, &t);
	cfmakeraw(&t);
	CHECK("cfmakeraw", tcsetattr(s, TCSANOW, &t) == 0);
	unsigned char all[256], got[256];
	for (int i = 0; i < 256; i++)
		all[i] = i;
	CHECK("raw_write_master", write(m, all, sizeof all) == sizeof all);
	CHECK("raw_input_unchanged", read_n(s, got, sizeof got) == sizeof got && memcmp(all, got, sizeof all) == 0);
	CHECK("raw_no_echo", (revents(m, POLLIN) & POLLIN) == 0);
	CHECK("raw_write_slave", write(s, all, sizeof all) == sizeof all);
	CHECK("raw_output_unchanged", read_n(m, got, sizeof got) == sizeof got && memcmp(all, got, sizeof all) == 0);

	/* VMIN 0, VTIME 0: a read returns at once, with nothing. */
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	tcsetattr(s, TCSANOW, &t);
	CHECK("vmin0_vtime0_empty", read(s, got, sizeof got) == 0);
	/* VMIN 3: poll waits for three bytes; the read gets them all. */
	t.c_cc[VMIN] = 3;
	tcsetattr(s, TCSANOW, &t);
	put(m, "ab");
	usleep(20000);
	CHECK("vmin3_not_ready_at_2", (revents(s, POLLIN) & POLLIN) == 0);
	put(m, "c");
	CHECK("vmin3_ready_at_3", wait_for(s, POLLIN) & POLLIN);
	ssize_t n = read(s, got, sizeof got);
	CHECK("vmin3_read", n == 3 && memcmp(got, "abc", 3) == 0);
	/* VMIN 0, VTIME 2: a read waits up to 0.2 s and returns 0. */
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 2;
	tcsetattr(s, TCSANOW, &t);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	n = read(s, got, sizeof got);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	CHECK("vtime_timeout", n == 0 && ms >= 150 && ms < 3000);
	close_pair(m, s);
}

static volatile sig_atomic_t got_winch;
static void on_winch(int sig)
{
	(void)sig;
	got_winch++;
}

/* The child side of the job-control test: a new session that takes the slave
 * as its controlling terminal, then waits for SIGINT and SIGWINCH. Reports
 * each step as one byte on the pipe. */
static void ctty_child(int m, int s, int report)
{
	close(m);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGWINCH);
	sigprocmask(SIG_BLOCK, &set, NULL);
	char ok = setsid() == getpid() ? 'S' : 's';
	write(report, &ok, 1);
	ok = open("/dev/tty", O_RDWR) < 0 && errno == ENXIO ? 'N' : 'n';
	write(report, &ok, 1);
	ok = ioctl(s, TIOCSCTTY, 0) == 0 ? 'C' : 'c';
	write(report, &ok, 1);
	ok = tcgetpgrp(s) == getpid() && tcgetsid(s) == getpid() ? 'P' : 'p';
	write(report, &ok, 1);
	int tty = open("/dev/tty", O_RDWR);
	struct stat st;
	ok = tty >= 0 && fstat(tty, &st) == 0 && st.st_rdev == makedev(5, 0) && isatty(tty) ? 'T' : 't';
	write(report, &ok, 1);
	/* tty_nr of /proc/self/stat: field 7. */
	char text[512] = "";
	int fd = open("/proc/self/stat", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
	close(fd);
	struct stat sst;
	fstat(s, &sst);
	char *p = n > 0 ? strrchr(text, ')') : NULL;
	int tty_nr = -1, tpgid = 0;
	if (p)
		sscanf(p + 2, "%*c %*d %*d %*d %d %d", &tty_nr, &tpgid);
	unsigned dev = (minor(sst.st_rdev) & 0xff) | (major(sst.st_rdev) << 8) | ((minor(sst.st_rdev) & ~0xffu) << 12);
	ok = tty_nr == (int)dev && tpgid == getpid() ? 'R' : 'r';
	write(report, &ok, 1);
	ok = 'W';
	write(report, &ok, 1); /* ready */
	struct timespec limit = {5, 0};
	int sig = sigtimedwait(&set, NULL, &limit);
	ok = sig == SIGINT ? 'I' : 'i';
	write(report, &ok, 1);
	sig = sigtimedwait(&set, NULL, &limit);
	ok = sig == SIGWINCH ? 'Z' : 'z';
	write(report, &ok, 1);
	struct winsize ws;
	ok = ioctl(s, TIOCGWINSZ, &ws) == 0 && ws.ws_row == 30 && ws.ws_col == 100 ? 'V' : 'v';
	write(report, &ok, 1);
	/* Hang-up: the parent closes the master; the session leader gets SIGHUP. */
	sigset_t hup;
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	sigprocmask(SIG_BLOCK, &hup, NULL);
	ok = 'H';
	write(report, &ok, 1);
	sig = sigtimedwait(&hup, NULL, &limit);
	ok = sig == SIGHUP ? 'U' : 'u';
	write(report, &ok, 1);
	char c;
	ok = read(s, &c, 1) == 0 ? 'E' : 'e';
	write(report, &ok, 1);
	ok = write(s, "x", 1) < 0 && errno == EIO ? 'O' : 'o';
	write(report, &ok, 1);
	ok = open("/dev/tty", O_RDWR) < 0 && errno == ENXIO ? 'X' : 'x';
	write(report, &ok, 1);
	_exit(0);
}

static char next_report(int fd)
{
	char c = '?';
	if (read_n(fd, &c, 1) != 1)
		return '?';
	return c;
}

static void test_job_control(void)
{
	int m, s;
	if (!open_pair(&m, &s)) {
		CHECK("job_control_pair", 0);
		return;
	}
	int pipefd[2];
	pipe(pipefd);
	pid_t pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		ctty_child(m, s, pipefd[1]);
	}
	close(pipefd[1]);
	int r = pipefd[0];
	CHECK("child_setsid", next_report(r) == 'S');
	CHECK("dev_tty_without_ctty_enxio", next_report(r) == 'N');
	CHECK("tiocsctty", next_report(r) == 'C');
	CHECK("child_is_foreground", next_report(r) == 'P');
	CHECK("dev_tty_is_ctty", next_report(r) == 'T');
	CHECK("proc_stat_tty_nr", next_report(r) == 'R');
	CHECK("child_ready", next_report(r) == 'W');
	pid_t fg = 0;
	CHECK("master_tiocgpgrp", ioctl(m, TIOCGPGRP, &fg) == 0 && fg == pid);
	CHECK_ERRNO("parent_tiocgpgrp_not_its_tty", ENOTTY, ioctl(s, TIOCGPGRP, &fg));
	CHECK_ERRNO("parent_tiocsctty_not_leader", EPERM, ioctl(s, TIOCSCTTY, 0));
	CHECK("intr_char", put(m, "\003"));
	CHECK("sigint_to_foreground", next_report(r) == 'I');
	CHECK("intr_echo", EXPECT(m, "^C"));
	struct winsize ws = {30, 100, 0, 0};
	CHECK("tiocswinsz_master", ioctl(m, TIOCSWINSZ, &ws) == 0);
	CHECK("sigwinch_to_foreground", next_report(r) == 'Z');
	CHECK("winsize_seen_by_slave", next_report(r) == 'V');
	CHECK("child_waits_for_hangup", next_report(r) == 'H');
	close(s);
	close(m);
	CHECK("sighup_on_master_close", next_report(r) == 'U');
	CHECK("hung_up_read_0", next_report(r) == 'E');
	CHECK("hung_up_write_eio", next_report(r) == 'O');
	CHECK("hung_up_no_ctty", next_report(r) == 'X');
	int status;
	CHECK("child_exit", waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(r);
}

/* A background process group of the session: reading the terminal with
 * SIGTTIN ignored is EIO; settings changes with SIGTTOU ignored go ahead. */
static int bg_child(int s)
{
	if (setsid() < 0 || ioctl(s, TIOCSCTTY, 0) != 0)
		return 1;
	pid_t g = fork();
	if (g == 0) {
		setpgid(0, 0);
		signal(SIGTTIN, SIG_IGN);
		signal(SIGTTOU, SIG_IGN);
		char c;
		if (!(read(s, &c, 1) < 0 && errno == EIO))
			_exit(2);
		struct termios t;
		tcgetattr(s, &t);
		if (tcsetattr(s, TCSANOW, &t) != 0)
			_exit(3);
		signal(SIGTTOU, SIG_DFL);
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGTTOU);
		sigprocmask(SIG_BLOCK, &set, NULL);
		if (tcsetattr(s, TCSANOW, &t) != 0)
			_exit(4);
		_exit(0);
	}
	int st;
	if (waitpid(g, &st, 0) != g || !WIFEXITED(st))
		return 5;
	return WEXITSTATUS(st);
}

static void test_background(void)
{
	int m, s;
	if (!open_pair(&m, &s)) {
		CHECK("background_pair", 0);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(m);
		_exit(bg_child(s));
	}
	int status;
	CHECK("background_read_eio_and_tcsetattr", waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close_pair(m, s);
}

static void test_hangups_and_poll(void)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
	grantpt(m);
	unlockpt(m);
	CHECK("fresh_master_pollout_only", (revents(m, POLLIN | POLLOUT) & (POLLIN | POLLOUT | POLLHUP)) == POLLOUT);
	char c;
	CHECK_ERRNO("fresh_master_read_eagain", EAGAIN, read(m, &c, 1));
	int s = open(ptsname(m), O_RDWR | O_NOCTTY);
	CHECK("slave_pollout", (revents(s, POLLIN | POLLOUT) & (POLLIN | POLLOUT)) == POLLOUT);
	put(m, "x");
	usleep(20000);
	CHECK("partial_line_not_readable", (revents(s, POLLIN) & POLLIN) == 0);
	put(m, "\n");
	CHECK("line_readable", wait_for(s, POLLIN) & POLLIN);
	CHECK("echo_readable", wait_for(m, POLLIN) & POLLIN);
	char buf[16];
	read(s, buf, sizeof buf);
	EXPECT(m, "x\r\n");
	put(s, "bye");
	wait_for(m, POLLIN);
	close(s);
	for (int i = 0; i < 500 && !(revents(m, POLLIN) & POLLHUP); i++)
		usleep(1000);
	CHECK("master_pollhup_after_slave_close", (revents(m, POLLIN) & (POLLIN | POLLHUP)) == (POLLIN | POLLHUP));
	CHECK("master_reads_data_first", read(m, buf, sizeof buf) == 3 && memcmp(buf, "bye", 3) == 0);
	CHECK_ERRNO("master_read_eio", EIO, read(m, buf, sizeof buf));
	close(m);
}

int main(void)
{
	signal(SIGWINCH, on_winch);
	test_allocation();
	test_default_termios();
	test_canonical();
	test_raw();
	test_job_control();
	test_background();
	test_hangups_and_poll();
	return check_exit();
}
