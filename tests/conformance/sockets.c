/*
 * sockets.c — AF_UNIX sockets: socket/socketpair arguments, stream, datagram
 * and seqpacket data paths, path, abstract and automatic names, listen and
 * accept (backlog, blocking, non-blocking), shutdown and close, SIGPIPE,
 * MSG_* flags, SCM_RIGHTS and SCM_CREDENTIALS, socket options, ioctls,
 * readiness through poll, select and epoll, and the errors of each.
 *
 * Names are made per run (pid in the path or abstract name) and never
 * printed; children report through exit statuses.
 */
#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/sockios.h>
#include <time.h>
#include <unistd.h>

/* An unmapped address, hidden from the compiler's checks. */
static void *volatile bad_ptr = (void *)8;

static char dir[64];
static char ovl[64];

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static volatile sig_atomic_t pipes, alarms;
static void on_pipe(int s) { (void)s; pipes++; }
static void on_alarm(int s) { (void)s; alarms++; }

static void handle(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa = {0};
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/* A path address and its length (family + path + NUL). */
static socklen_t path_addr(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	strncpy(a->sun_path, path, sizeof a->sun_path - 1);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
}

/* An abstract address "\0sockets-<pid>-<tag>" and its exact length. */
static socklen_t abs_addr(struct sockaddr_un *a, const char *tag)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "sockets-%d-%s", getpid(), tag);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static int listener_at(const char *path, int backlog)
{
	struct sockaddr_un a;
	socklen_t l = path_addr(&a, path);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (bind(s, (struct sockaddr *)&a, l) != 0 || listen(s, backlog) != 0)
		return -1;
	return s;
}

static int connect_to(const char *path, int type)
{
	struct sockaddr_un a;
	socklen_t l = path_addr(&a, path);
	int s = socket(AF_UNIX, type, 0);
	if (connect(s, (struct sockaddr *)&a, l) != 0) {
		int e = errno;
		close(s);
		errno = e;
		return -1;
	}
	return s;
}

/* Waits for a child; returns its exit code, or 100 + signal. */
static int reap(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

static int send_fds(int s, const char *data, const int *fds, int n)
{
	char buf[CMSG_SPACE(sizeof(int) * 8)];
	memset(buf, 0, sizeof buf);
	struct iovec iov = {(void *)data, strlen(data)};
	struct msghdr m = {0};
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	if (n > 0) {
		m.msg_control = buf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	}
	return (int)sendmsg(s, &m, 0);
}

/* Receives up to `max` fds with a control buffer of `ctl` bytes. */
static char rbuf[64];
static struct msghdr rmsg;
static char rctl[256];
static int recv_fds(int s, int *fds, int max, size_t ctl, int flags)
{
	static struct iovec iov;
	memset(rbuf, 0, sizeof rbuf);
	memset(rctl, 0, sizeof rctl);
	iov.iov_base = rbuf;
	iov.iov_len = sizeof rbuf - 1;
	memset(&rmsg, 0, sizeof rmsg);
	rmsg.msg_iov = &iov;
	rmsg.msg_iovlen = 1;
	rmsg.msg_control = ctl ? rctl : NULL;
	rmsg.msg_controllen = ctl;
	int n = (int)recvmsg(s, &rmsg, flags);
	int k = 0;
	for (struct cmsghdr *c = ctl ? CMSG_FIRSTHDR(&rmsg) : NULL; c; c = CMSG_NXTHDR(&rmsg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) && k < max; i++)
				memcpy(&fds[k++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	return n < 0 ? -1 : k;
}

static void test_create(void)
{
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK("socket_stream", s >= 0);
	struct stat st;
	CHECK("fstat_is_socket", fstat(s, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0777);
	CHECK("socket_rdwr", fcntl(s, F_GETFL) == O_RDWR);
	CHECK_ERRNO("lseek_espipe", ESPIPE, lseek(s, 0, SEEK_SET));
	char link[64], proc[64];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", s);
	ssize_t n = readlink(proc, link, sizeof link - 1);
	CHECK("proc_fd_link", n > 8 && strncmp(link, "socket:[", 8) == 0 && link[n - 1] == ']');
	close(s);

	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	CHECK("socket_flags", s >= 0 && (fcntl(s, F_GETFL) & O_NONBLOCK) && (fcntl(s, F_GETFD) & FD_CLOEXEC));
	close(s);
	s = socket(AF_UNIX, SOCK_SEQPACKET, PF_UNIX);
	CHECK("socket_seqpacket_pf_unix", s >= 0);
	close(s);
	s = socket(AF_UNIX, SOCK_RAW, 0);
	int v = 0;
	socklen_t l = sizeof v;
	CHECK("socket_raw_is_dgram", s >= 0 && getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l) == 0 && v == SOCK_DGRAM);
	close(s);
	CHECK_ERRNO("socket_bad_flags", EINVAL, socket(AF_UNIX, SOCK_STREAM | 0x10000, 0));
	CHECK_ERRNO("socket_type0", ESOCKTNOSUPPORT, socket(AF_UNIX, 0, 0));
	CHECK_ERRNO("socket_rdm", ESOCKTNOSUPPORT, socket(AF_UNIX, SOCK_RDM, 0));
	CHECK_ERRNO("socket_type12", EINVAL, socket(AF_UNIX, 12, 0));
	CHECK_ERRNO("socket_protocol", EPROTONOSUPPORT, socket(AF_UNIX, SOCK_STREAM, 7));
	CHECK_ERRNO("socket_family", EAFNOSUPPORT, socket(1000, SOCK_STREAM, 0));
	CHECK_ERRNO("socketpair_efault", EFAULT, socketpair(AF_UNIX, SOCK_STREAM, 0, bad_ptr));

	int p[2];
	pipe(p);
	struct sockaddr_un a;
	socklen_t al = abs_addr(&a, "notsock");
	CHECK_ERRNO("bind_enotsock", ENOTSOCK, bind(p[0], (struct sockaddr *)&a, al));
	CHECK_ERRNO("getsockopt_enotsock", ENOTSOCK, getsockopt(p[0], SOL_SOCKET, SO_TYPE, &v, &l));
	CHECK_ERRNO("sendto_enotsock", ENOTSOCK, send(p[1], "x", 1, 0));
	CHECK_ERRNO("bind_ebadf", EBADF, bind(-1, (struct sockaddr *)&a, al));
	CHECK_ERRNO("listen_ebadf", EBADF, listen(9999, 1));
	CHECK_ERRNO("shutdown_enotsock", ENOTSOCK, shutdown(p[0], SHUT_RD));
	close(p[0]);
	close(p[1]);
}

static void test_stream_pair(void)
{
	int sv[2];
	CHECK("socketpair_stream", socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	char buf[64] = {0};
	CHECK("stream_order", write(sv[0], "abc", 3) == 3 && write(sv[0], "def", 3) == 3 && read(sv[1], buf, sizeof buf) == 6 && memcmp(buf, "abcdef", 6) == 0);
	struct sockaddr_un a;
	socklen_t l = sizeof a;
	CHECK("pair_getsockname", getsockname(sv[0], (struct sockaddr *)&a, &l) == 0 && l == 2 && a.sun_family == AF_UNIX);
	l = sizeof a;
	CHECK("pair_getpeername", getpeername(sv[0], (struct sockaddr *)&a, &l) == 0 && l == 2);
	struct ucred uc;
	l = sizeof uc;
	CHECK("pair_peercred", getsockopt(sv[1], SOL_SOCKET, SO_PEERCRED, &uc, &l) == 0 && l == sizeof uc && uc.pid == getpid() && uc.uid == geteuid() && uc.gid == getegid());

	/* MSG_PEEK leaves the data; MSG_DONTWAIT does not wait. */
	send(sv[0], "peek", 4, 0);
	memset(buf, 0, sizeof buf);
	CHECK("msg_peek", recv(sv[1], buf, 2, MSG_PEEK) == 2 && recv(sv[1], buf, sizeof buf, 0) == 4 && memcmp(buf, "peek", 4) == 0);
	CHECK_ERRNO("msg_dontwait", EAGAIN, recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));

	/* FIONREAD/SIOCINQ and SIOCOUTQ. */
	int n = -1, out = -1;
	send(sv[0], "12345", 5, 0);
	CHECK("fionread", ioctl(sv[1], FIONREAD, &n) == 0 && n == 5);
	CHECK("siocoutq_pending", ioctl(sv[0], SIOCOUTQ, &out) == 0 && out >= 5);
	read(sv[1], buf, sizeof buf);
	CHECK("siocoutq_drained", ioctl(sv[0], SIOCOUTQ, &out) == 0 && out == 0);

	/* readv and writev. */
	struct iovec wv[2] = {{"hel", 3}, {"lo", 2}};
	char r1[2], r2[8] = {0};
	struct iovec rv[2] = {{r1, 2}, {r2, sizeof r2}};
	CHECK("writev_readv", writev(sv[0], wv, 2) == 5 && readv(sv[1], rv, 2) == 5 && memcmp(r1, "he", 2) == 0 && memcmp(r2, "llo", 3) == 0);

	/* poll of a connected pair. */
	struct pollfd pf = {sv[1], POLLIN | POLLOUT, 0};
	CHECK("poll_pair_idle", poll(&pf, 1, 0) == 1 && pf.revents == POLLOUT);
	write(sv[0], "x", 1);
	CHECK("poll_pair_readable", poll(&pf, 1, 0) == 1 && pf.revents == (POLLIN | POLLOUT));
	read(sv[1], buf, 1);

	/* MSG_WAITALL gathers several writes of a child. */
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 3; i++) {
			sleep_ms(30);
			write(sv[0], "abc", 3);
		}
		_exit(0);
	}
	memset(buf, 0, sizeof buf);
	CHECK("msg_waitall", recv(sv[1], buf, 9, MSG_WAITALL) == 9 && memcmp(buf, "abcabcabc", 9) == 0);
	reap(pid);

	/* A full socket: EAGAIN when non-blocking, no POLLOUT; a blocked writer goes on. */
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	static char big[65536];
	long total = 0;
	for (;;) {
		ssize_t w = write(sv[0], big, sizeof big);
		if (w < 0)
			break;
		total += w;
	}
	int werr = errno;
	CHECK("full_eagain", werr == EAGAIN && total > 0);
	pf.fd = sv[0];
	pf.events = POLLOUT;
	CHECK("full_no_pollout", poll(&pf, 1, 0) == 0);
	long drained = 0;
	ssize_t r;
	while ((r = recv(sv[1], big, sizeof big, MSG_DONTWAIT)) > 0)
		drained += r;
	CHECK("full_drained", drained == total);
	fcntl(sv[0], F_SETFL, 0);
	pid = fork();
	if (pid == 0) {
		long got = 0;
		while (got < 1 << 20) {
			ssize_t k = read(sv[1], big, sizeof big);
			if (k <= 0)
				_exit(1);
			got += k;
		}
		_exit(got == 1 << 20 ? 0 : 2);
	}
	char *mb = calloc(1, 1 << 20);
	CHECK("blocking_write_1mb", write(sv[0], mb, 1 << 20) == 1 << 20 && reap(pid) == 0);
	free(mb);

	/* SHUT_WR: the peer reads EOF; writing gives EPIPE and SIGPIPE. */
	handle(SIGPIPE, on_pipe, 0);
	pipes = 0;
	CHECK("shutdown_wr", shutdown(sv[0], SHUT_WR) == 0 && read(sv[1], buf, sizeof buf) == 0);
	CHECK_ERRNO("write_after_shut_wr", EPIPE, write(sv[0], "x", 1));
	CHECK("sigpipe_raised", pipes == 1);
	CHECK("peer_still_writes", write(sv[1], "back", 4) == 4 && read(sv[0], buf, sizeof buf) == 4);
	CHECK_ERRNO("shutdown_einval", EINVAL, shutdown(sv[0], 7));
	close(sv[0]);
	close(sv[1]);

	/* SHUT_RD on one side: the other's writes fail. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	shutdown(sv[1], SHUT_RD);
	pipes = 0;
	CHECK_ERRNO("write_to_shut_rd", EPIPE, send(sv[0], "x", 1, MSG_NOSIGNAL));
	CHECK("msg_nosignal", pipes == 0);
	CHECK("read_after_shut_rd", read(sv[1], buf, sizeof buf) == 0);
	struct pollfd p2 = {sv[1], POLLIN | POLLOUT | POLLRDHUP, 0};
	CHECK("poll_shut_rd", poll(&p2, 1, 0) == 1 && p2.revents == (POLLIN | POLLOUT | POLLRDHUP));
	close(sv[0]);
	close(sv[1]);

	/* Close: EOF, POLLHUP, EPIPE. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	close(sv[0]);
	pf.fd = sv[1];
	pf.events = POLLIN | POLLOUT | POLLRDHUP;
	CHECK("poll_peer_closed", poll(&pf, 1, 0) == 1 && pf.revents == (POLLIN | POLLOUT | POLLHUP | POLLRDHUP));
	CHECK("eof_after_close", read(sv[1], buf, sizeof buf) == 0);
	pipes = 0;
	CHECK_ERRNO("epipe_after_close", EPIPE, write(sv[1], "x", 1));
	CHECK("sigpipe_after_close", pipes == 1);
	close(sv[1]);

	/* Closing with unread data resets the peer, after its own queued data. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	write(sv[0], "ab", 2);
	write(sv[1], "cd", 2);
	close(sv[1]);
	int e = -1;
	l = sizeof e;
	pf.fd = sv[0];
	pf.events = POLLIN;
	CHECK("poll_reset", poll(&pf, 1, 0) == 1 && (pf.revents & POLLERR));
	CHECK("reset_data_first", read(sv[0], buf, sizeof buf) == 2);
	CHECK_ERRNO("reset_econnreset", ECONNRESET, read(sv[0], buf, sizeof buf));
	CHECK("reset_then_eof", read(sv[0], buf, sizeof buf) == 0 && getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &e, &l) == 0 && e == 0);
	close(sv[0]);

	/* SO_ERROR reports and clears the reset. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	write(sv[0], "zz", 2);
	close(sv[1]);
	l = sizeof e;
	CHECK("so_error_reset", getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &e, &l) == 0 && e == ECONNRESET);
	CHECK("so_error_cleared", getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &e, &l) == 0 && e == 0);
	close(sv[0]);

	/* The default SIGPIPE action kills. */
	pid = fork();
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		int s2[2];
		socketpair(AF_UNIX, SOCK_STREAM, 0, s2);
		close(s2[1]);
		write(s2[0], "x", 1);
		_exit(0);
	}
	CHECK("sigpipe_kills", reap(pid) == 100 + SIGPIPE);
}

static void test_unconnected(void)
{
	char buf[8];
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_ERRNO("stream_read_unconnected", EINVAL, read(s, buf, sizeof buf));
	CHECK_ERRNO("stream_write_unconnected", ENOTCONN, write(s, "x", 1));
	struct sockaddr_un a;
	socklen_t l = sizeof a;
	CHECK_ERRNO("getpeername_enotconn", ENOTCONN, getpeername(s, (struct sockaddr *)&a, &l));
	struct pollfd pf = {s, POLLIN | POLLOUT | POLLRDHUP, 0};
	CHECK("poll_fresh_stream", poll(&pf, 1, 0) == 1 && pf.revents == (POLLOUT | POLLHUP));
	CHECK("shutdown_unconnected", shutdown(s, SHUT_RDWR) == 0);
	CHECK("poll_shut_unconnected", poll(&pf, 1, 0) == 1 && pf.revents == (POLLIN | POLLOUT | POLLHUP | POLLRDHUP));
	struct ucred uc;
	l = sizeof uc;
	CHECK("peercred_none", getsockopt(s, SOL_SOCKET, SO_PEERCRED, &uc, &l) == 0 && uc.pid == 0 && uc.uid == (uid_t)-1 && uc.gid == (gid_t)-1);
	CHECK_ERRNO("accept_not_listening", EINVAL, accept(s, NULL, NULL));
	CHECK_ERRNO("listen_unbound", EINVAL, listen(s, 1));
	socklen_t al = abs_addr(&a, "sendto-stream");
	CHECK_ERRNO("stream_sendto_unconnected", EOPNOTSUPP, sendto(s, "x", 1, 0, (struct sockaddr *)&a, al));
	close(s);

	s = socket(AF_UNIX, SOCK_DGRAM, 0);
	pf.fd = s;
	CHECK("poll_fresh_dgram", poll(&pf, 1, 0) == 1 && pf.revents == POLLOUT);
	CHECK_ERRNO("dgram_send_unconnected", ENOTCONN, send(s, "x", 1, 0));
	CHECK_ERRNO("dgram_listen", EOPNOTSUPP, listen(s, 1));
	CHECK_ERRNO("dgram_accept", EOPNOTSUPP, accept(s, NULL, NULL));
	CHECK_ERRNO("dgram_recv_empty", EAGAIN, recv(s, buf, sizeof buf, MSG_DONTWAIT));
	close(s);

	s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	CHECK_ERRNO("seqpacket_recv_unconnected", ENOTCONN, recv(s, buf, sizeof buf, MSG_DONTWAIT));
	CHECK_ERRNO("seqpacket_send_unconnected", ENOTCONN, send(s, "x", 1, 0));
	pf.fd = s;
	CHECK("poll_fresh_seqpacket", poll(&pf, 1, 0) == 1 && pf.revents == (POLLOUT | POLLHUP));
	close(s);
}

static void test_dgram_pair(void)
{
	int sv[2];
	char buf[16] = {0};
	CHECK("socketpair_dgram", socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
	send(sv[0], "one", 3, 0);
	send(sv[0], "", 0, 0);
	send(sv[0], "hello", 5, 0);
	send(sv[0], "world", 5, 0);
	int n = -1;
	CHECK("dgram_fionread_first", ioctl(sv[1], FIONREAD, &n) == 0 && n == 3);
	CHECK("dgram_boundary", recv(sv[1], buf, sizeof buf, 0) == 3);
	CHECK("dgram_empty", recv(sv[1], buf, sizeof buf, 0) == 0);
	CHECK("dgram_truncated", recv(sv[1], buf, 2, 0) == 2 && memcmp(buf, "he", 2) == 0);
	CHECK("dgram_msg_trunc", recv(sv[1], buf, 2, MSG_TRUNC) == 5);
	send(sv[0], "abcdef", 6, 0);
	struct iovec iov = {buf, 3};
	struct msghdr m = {0};
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_namelen = 77;
	CHECK("recvmsg_flag_trunc", recvmsg(sv[1], &m, 0) == 3 && (m.msg_flags & MSG_TRUNC));
	CHECK("recvmsg_no_name_keeps_len", m.msg_namelen == 77);
	static char huge[300000];
	CHECK_ERRNO("dgram_emsgsize", EMSGSIZE, send(sv[0], huge, sizeof huge, 0));
	/* A pair's ends take any number of datagrams until the send buffer fills. */
	int sent = 0;
	while (send(sv[0], "q", 1, MSG_DONTWAIT) == 1 && sent < 100)
		sent++;
	CHECK("dgram_pair_no_qlen", sent == 100);
	while (recv(sv[1], buf, sizeof buf, MSG_DONTWAIT) >= 0)
		;
	close(sv[1]);
	CHECK_ERRNO("dgram_peer_closed", ECONNREFUSED, send(sv[0], "x", 1, 0));
	CHECK_ERRNO("dgram_peer_forgotten", ENOTCONN, send(sv[0], "x", 1, 0));
	close(sv[0]);

	/* Seqpacket: boundaries, truncation, EOF, EPIPE without SIGPIPE. */
	CHECK("socketpair_seqpacket", socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
	send(sv[0], "first", 5, 0);
	send(sv[0], "second", 6, 0);
	n = -1;
	CHECK("seqpacket_fionread_all", ioctl(sv[1], FIONREAD, &n) == 0 && n == 11);
	CHECK("seqpacket_boundary", recv(sv[1], buf, sizeof buf, 0) == 5);
	m.msg_flags = 0;
	iov.iov_len = 2;
	CHECK("seqpacket_trunc", recvmsg(sv[1], &m, 0) == 2 && (m.msg_flags & MSG_TRUNC));
	close(sv[0]);
	CHECK("seqpacket_eof", recv(sv[1], buf, sizeof buf, 0) == 0);
	pipes = 0;
	CHECK_ERRNO("seqpacket_epipe", EPIPE, write(sv[1], "x", 1));
	CHECK("seqpacket_no_sigpipe", pipes == 0);
	close(sv[1]);
}

static void test_paths(void)
{
	char path[128], path2[128], file[128];
	snprintf(path, sizeof path, "%s/s", dir);
	snprintf(path2, sizeof path2, "%s/renamed", dir);
	snprintf(file, sizeof file, "%s/file", dir);
	close(open(file, O_CREAT | O_WRONLY, 0600));
	struct sockaddr_un a, b;
	socklen_t al = path_addr(&a, path);

	mode_t old = umask(022);
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK("bind_path", bind(l, (struct sockaddr *)&a, al) == 0);
	umask(old);
	struct stat st;
	CHECK("bind_makes_socket_file", stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0755);
	socklen_t bl = sizeof b;
	CHECK("getsockname_path", getsockname(l, (struct sockaddr *)&b, &bl) == 0 && bl == al && strcmp(b.sun_path, path) == 0);
	bl = 4;
	memset(&b, 0, sizeof b);
	CHECK("getsockname_short_buffer", getsockname(l, (struct sockaddr *)&b, &bl) == 0 && bl == al && b.sun_path[0] == path[0] && b.sun_path[2] == 0);
	int l2 = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_ERRNO("bind_eaddrinuse", EADDRINUSE, bind(l2, (struct sockaddr *)&a, al));
	socklen_t fl = path_addr(&b, file);
	CHECK_ERRNO("bind_over_file", EADDRINUSE, bind(l2, (struct sockaddr *)&b, fl));
	socklen_t l2l = path_addr(&b, path2);
	CHECK_ERRNO("bind_twice", EINVAL, bind(l, (struct sockaddr *)&b, l2l));
	CHECK_ERRNO("bind_twice_makes_nothing", ENOENT, stat(path2, &st));
	CHECK_ERRNO("connect_not_listening", ECONNREFUSED, connect(l2, (struct sockaddr *)&a, al));
	close(l2);
	CHECK("listen", listen(l, 4) == 0);
	int v = -1;
	socklen_t vl = sizeof v;
	CHECK("so_acceptconn", getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl) == 0 && v == 1);
	CHECK("listen_again", listen(l, 8) == 0);

	/* Connect, accept, names on both sides, data before accept. */
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK("connect_path", connect(c, (struct sockaddr *)&a, al) == 0);
	CHECK_ERRNO("connect_eisconn", EISCONN, connect(c, (struct sockaddr *)&a, al));
	CHECK("write_before_accept", write(c, "early", 5) == 5);
	struct pollfd pf = {l, POLLIN | POLLOUT, 0};
	CHECK("poll_listener_pending", poll(&pf, 1, 0) == 1 && pf.revents == POLLIN);
	bl = sizeof b;
	int s = accept(c >= 0 ? l : -1, (struct sockaddr *)&b, &bl);
	CHECK("accept_unnamed_peer", s >= 0 && bl == 2);
	char buf[16] = {0};
	CHECK("read_after_accept", read(s, buf, sizeof buf) == 5 && memcmp(buf, "early", 5) == 0);
	bl = sizeof b;
	CHECK("accepted_getsockname", getsockname(s, (struct sockaddr *)&b, &bl) == 0 && bl == al && strcmp(b.sun_path, path) == 0);
	bl = sizeof b;
	CHECK("client_getpeername", getpeername(c, (struct sockaddr *)&b, &bl) == 0 && bl == al && strcmp(b.sun_path, path) == 0);
	bl = sizeof b;
	CHECK("accepted_getpeername_unnamed", getpeername(s, (struct sockaddr *)&b, &bl) == 0 && bl == 2);
	struct ucred uc;
	socklen_t ul = sizeof uc;
	CHECK("accepted_peercred", getsockopt(s, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0 && uc.pid == getpid());
	ul = sizeof uc;
	CHECK("listener_peercred_own", getsockopt(l, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0 && uc.pid == getpid());
	close(s);
	close(c);

	/* Non-blocking accept, accept4 flags and argument errors. */
	fcntl(l, F_SETFL, O_NONBLOCK);
	CHECK_ERRNO("accept_eagain", EAGAIN, accept(l, NULL, NULL));
	CHECK_ERRNO("accept4_bad_flags", EINVAL, accept4(l, NULL, NULL, 1));
	fcntl(l, F_SETFL, 0);
	c = connect_to(path, SOCK_STREAM);
	s = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	CHECK("accept4_flags", s >= 0 && (fcntl(s, F_GETFL) & O_NONBLOCK) && (fcntl(s, F_GETFD) & FD_CLOEXEC));
	close(s);
	close(c);
	c = connect_to(path, SOCK_STREAM);
	bl = (socklen_t)-1;
	CHECK_ERRNO("accept_negative_len", EINVAL, accept(l, (struct sockaddr *)&b, &bl));
	close(c);

	/* A bound client is named to the server. */
	char cpath[128];
	snprintf(cpath, sizeof cpath, "%s/client", dir);
	socklen_t cl = path_addr(&b, cpath);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	bind(c, (struct sockaddr *)&b, cl);
	connect(c, (struct sockaddr *)&a, al);
	struct sockaddr_un got;
	bl = sizeof got;
	s = accept(l, (struct sockaddr *)&got, &bl);
	CHECK("accept_named_peer", s >= 0 && bl == cl && strcmp(got.sun_path, cpath) == 0);
	close(s);
	close(c);

	/* Errors of connect. */
	int d = socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK_ERRNO("connect_eprototype", EPROTOTYPE, connect(d, (struct sockaddr *)&a, al));
	close(d);
	char missing[128];
	snprintf(missing, sizeof missing, "%s/missing", dir);
	CHECK("connect_enoent", connect_to(missing, SOCK_STREAM) == -1 && errno == ENOENT);
	CHECK("connect_regular_file", connect_to(file, SOCK_STREAM) == -1 && errno == ECONNREFUSED);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_ERRNO("connect_short_len", EINVAL, connect(c, (struct sockaddr *)&a, 2));
	CHECK_ERRNO("connect_long_len", EINVAL, connect(c, (struct sockaddr *)&a, sizeof a + 1));
	CHECK_ERRNO("connect_efault", EFAULT, connect(c, bad_ptr, al));
	struct sockaddr_un inet = a;
	inet.sun_family = AF_INET;
	CHECK_ERRNO("connect_wrong_family", EINVAL, connect(c, (struct sockaddr *)&inet, al));
	CHECK_ERRNO("bind_wrong_family", EINVAL, bind(c, (struct sockaddr *)&inet, al));
	CHECK_ERRNO("bind_len_1", EINVAL, bind(c, (struct sockaddr *)&a, 1));
	CHECK_ERRNO("bind_len_huge", EINVAL, bind(c, (struct sockaddr *)&a, 200));
	close(c);

	/* A rename keeps the binding; an unlink ends it. */
	CHECK("rename_socket", rename(path, path2) == 0);
	c = connect_to(path2, SOCK_STREAM);
	CHECK("connect_after_rename", c >= 0);
	close(c);
	close(accept(l, NULL, NULL));
	CHECK("connect_old_name", connect_to(path, SOCK_STREAM) == -1 && errno == ENOENT);
	CHECK("unlink_socket", unlink(path2) == 0);
	CHECK("connect_after_unlink", connect_to(path2, SOCK_STREAM) == -1 && errno == ENOENT);
	int l3 = listener_at(path2, 1);
	CHECK("rebind_after_unlink", l3 >= 0);
	c = connect_to(path2, SOCK_STREAM);
	s = accept(l3, NULL, NULL);
	CHECK("new_listener_gets_it", c >= 0 && s >= 0);
	close(s);
	close(c);
	close(l3);
	CHECK("closed_listener_refuses", connect_to(path2, SOCK_STREAM) == -1 && errno == ECONNREFUSED);
	close(l);

	/* Relative names, from the working directory. */
	char cwd[256];
	getcwd(cwd, sizeof cwd);
	chdir(dir);
	l = listener_at("rel.sock", 1);
	bl = sizeof b;
	CHECK("bind_relative", l >= 0 && getsockname(l, (struct sockaddr *)&b, &bl) == 0 && strcmp(b.sun_path, "rel.sock") == 0 && bl == 2 + 9);
	c = connect_to("rel.sock", SOCK_STREAM);
	CHECK("connect_relative", c >= 0);
	close(c);
	close(l);
	unlink("rel.sock");
	chdir(cwd);

	/* The longest path: 108 bytes without a NUL, reported with one. */
	char longp[200];
	snprintf(longp, sizeof longp, "%s/", dir);
	while (strlen(longp) < sizeof a.sun_path)
		strcat(longp, "x");
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path, longp, sizeof a.sun_path);
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK("bind_108_bytes", bind(l, (struct sockaddr *)&a, sizeof a) == 0);
	bl = sizeof got + 8;
	char wide[sizeof got + 8];
	CHECK("getsockname_108_bytes", getsockname(l, (struct sockaddr *)wide, &bl) == 0 && bl == sizeof a + 1);
	close(l);
	longp[sizeof a.sun_path] = 0;
	unlink(longp);

	/* The root filesystem (an overlay under the sandbox) takes sockets too. */
	snprintf(path, sizeof path, "%s/ovl.sock", ovl);
	l = listener_at(path, 1);
	CHECK("overlay_bind", l >= 0 && stat(path, &st) == 0 && S_ISSOCK(st.st_mode));
	c = connect_to(path, SOCK_STREAM);
	s = accept(l, NULL, NULL);
	CHECK("overlay_connect", c >= 0 && s >= 0 && write(c, "o", 1) == 1 && read(s, buf, 1) == 1);
	close(s);
	close(c);
	close(l);
	unlink(path);
	unlink(file);
	snprintf(path, sizeof path, "%s/client", dir);
	unlink(path);
}

static void test_backlog(void)
{
	struct sockaddr_un a;
	socklen_t al = abs_addr(&a, "backlog");
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	bind(l, (struct sockaddr *)&a, al);
	listen(l, 1);
	int c[4];
	for (int i = 0; i < 3; i++)
		c[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK("backlog_first", connect(c[0], (struct sockaddr *)&a, al) == 0);
	CHECK("backlog_second", connect(c[1], (struct sockaddr *)&a, al) == 0);
	CHECK_ERRNO("backlog_full_eagain", EAGAIN, connect(c[2], (struct sockaddr *)&a, al));
	close(accept(l, NULL, NULL));
	CHECK("backlog_room_again", connect(c[2], (struct sockaddr *)&a, al) == 0);
	close(accept(l, NULL, NULL));
	close(accept(l, NULL, NULL));

	/* A blocking connect waits for room. */
	c[3] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	connect(c[3], (struct sockaddr *)&a, al);
	int c4 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	connect(c4, (struct sockaddr *)&a, al);
	pid_t pid = fork();
	if (pid == 0) {
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		long long t0 = now_ms();
		if (connect(s, (struct sockaddr *)&a, al) != 0)
			_exit(1);
		_exit(now_ms() - t0 >= 50 ? 0 : 2);
	}
	sleep_ms(150);
	close(accept(l, NULL, NULL));
	CHECK("blocking_connect_waits", reap(pid) == 0);
	close(accept(l, NULL, NULL));
	close(accept(l, NULL, NULL));

	/* select sees a pending connection. */
	int k = socket(AF_UNIX, SOCK_STREAM, 0);
	connect(k, (struct sockaddr *)&a, al);
	fd_set rs;
	FD_ZERO(&rs);
	FD_SET(l, &rs);
	struct timeval tv = {0, 0};
	CHECK("select_listener", select(l + 1, &rs, NULL, NULL, &tv) == 1 && FD_ISSET(l, &rs));

	/* Closing the listener resets connections it never accepted. */
	close(l);
	char buf[4];
	CHECK_ERRNO("unaccepted_reset", ECONNRESET, read(k, buf, sizeof buf));
	CHECK("unaccepted_then_eof", read(k, buf, sizeof buf) == 0);
	CHECK("listener_name_freed", socket(AF_UNIX, SOCK_STREAM, 0) >= 0);
	for (int i = 0; i < 4; i++)
		close(c[i]);
	close(c4);
	close(k);
}

static void test_abstract(void)
{
	struct sockaddr_un a, b;
	socklen_t al = abs_addr(&a, "abstract");
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK("bind_abstract", bind(l, (struct sockaddr *)&a, al) == 0);
	socklen_t bl = sizeof b;
	CHECK("getsockname_abstract", getsockname(l, (struct sockaddr *)&b, &bl) == 0 && bl == al && memcmp(&a, &b, al) == 0);
	int l2 = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_ERRNO("abstract_eaddrinuse", EADDRINUSE, bind(l2, (struct sockaddr *)&a, al));
	/* The bytes after the name count: one more NUL is another name. */
	CHECK("abstract_length_matters", bind(l2, (struct sockaddr *)&a, al + 1) == 0);
	listen(l, 1);
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK("connect_abstract", connect(c, (struct sockaddr *)&a, al) == 0);
	CHECK_ERRNO("connect_unlistened_abstract", ECONNREFUSED, connect(socket(AF_UNIX, SOCK_STREAM, 0), (struct sockaddr *)&a, al + 1));
	close(c);
	close(l);
	close(l2);
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK("abstract_freed_on_close", bind(l, (struct sockaddr *)&a, al) == 0);
	close(l);
	socklen_t ml = abs_addr(&b, "missing");
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_ERRNO("connect_missing_abstract", ECONNREFUSED, connect(c, (struct sockaddr *)&b, ml));
	close(c);

	/* Autobind: five hex digits after a NUL; binding again is a no-op. */
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	sa_family_t fam = AF_UNIX;
	CHECK("autobind", bind(s, (struct sockaddr *)&fam, sizeof fam) == 0);
	bl = sizeof b;
	memset(&b, 0x55, sizeof b);
	int hex = 1;
	getsockname(s, (struct sockaddr *)&b, &bl);
	for (int i = 1; i <= 5; i++)
		hex &= (b.sun_path[i] >= '0' && b.sun_path[i] <= '9') || (b.sun_path[i] >= 'a' && b.sun_path[i] <= 'f');
	CHECK("autobind_name", bl == 8 && b.sun_path[0] == 0 && hex);
	struct sockaddr_un b2;
	socklen_t b2l = sizeof b2;
	CHECK("autobind_again", bind(s, (struct sockaddr *)&fam, sizeof fam) == 0 && getsockname(s, (struct sockaddr *)&b2, &b2l) == 0 && memcmp(&b, &b2, 8) == 0);
	CHECK_ERRNO("bind_after_autobind", EINVAL, bind(s, (struct sockaddr *)&a, al));
	close(s);
}

static void test_dgram_names(void)
{
	char rpath[128], spath[128];
	snprintf(rpath, sizeof rpath, "%s/dg-recv", dir);
	snprintf(spath, sizeof spath, "%s/dg-send", dir);
	struct sockaddr_un ra, sa, from;
	socklen_t ral = path_addr(&ra, rpath), sal = path_addr(&sa, spath), fl;
	int r = socket(AF_UNIX, SOCK_DGRAM, 0);
	bind(r, (struct sockaddr *)&ra, ral);
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	char buf[16] = {0};
	CHECK("sendto_path", sendto(s, "anon", 4, 0, (struct sockaddr *)&ra, ral) == 4);
	fl = sizeof from;
	CHECK("recvfrom_unnamed_sender", recvfrom(r, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl) == 4 && fl == 0);
	bind(s, (struct sockaddr *)&sa, sal);
	sendto(s, "named", 5, 0, (struct sockaddr *)&ra, ral);
	fl = sizeof from;
	CHECK("recvfrom_named_sender", recvfrom(r, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl) == 5 && fl == sal && strcmp(from.sun_path, spath) == 0);

	/* connect sets the default destination; AF_UNSPEC clears it. */
	CHECK("dgram_connect", connect(s, (struct sockaddr *)&ra, ral) == 0 && send(s, "def", 3, 0) == 3 && recv(r, buf, sizeof buf, 0) == 3);
	socklen_t pl = sizeof from;
	CHECK("dgram_getpeername", getpeername(s, (struct sockaddr *)&from, &pl) == 0 && pl == ral);
	/* r connected to s: others may not send to r. */
	connect(r, (struct sockaddr *)&sa, sal);
	int o = socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK_ERRNO("dgram_eperm", EPERM, sendto(o, "x", 1, 0, (struct sockaddr *)&ra, ral));
	CHECK_ERRNO("dgram_connect_eperm", EPERM, connect(o, (struct sockaddr *)&ra, ral));
	struct sockaddr unspec = {.sa_family = AF_UNSPEC};
	CHECK("dgram_disconnect", connect(s, &unspec, sizeof unspec) == 0);
	CHECK_ERRNO("dgram_disconnected", ENOTCONN, send(s, "x", 1, 0));
	connect(r, &unspec, sizeof unspec);

	/* A receiver not connected back holds max_dgram_qlen + 1 messages. */
	int q = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	int count = 0;
	while (count < 50 && sendto(q, "m", 1, 0, (struct sockaddr *)&ra, ral) == 1)
		count++;
	int qerr = errno;
	CHECK("dgram_qlen", count == 11 && qerr == EAGAIN);
	struct pollfd pf = {q, POLLOUT, 0};
	connect(q, (struct sockaddr *)&ra, ral);
	CHECK("dgram_poll_peer_full", poll(&pf, 1, 0) == 0);
	while (recv(r, buf, sizeof buf, MSG_DONTWAIT) > 0)
		;
	CHECK("dgram_poll_peer_drained", poll(&pf, 1, 0) == 1);
	close(q);

	char missing[128];
	snprintf(missing, sizeof missing, "%s/nothing", dir);
	struct sockaddr_un ma;
	socklen_t mal = path_addr(&ma, missing);
	CHECK_ERRNO("sendto_enoent", ENOENT, sendto(o, "x", 1, 0, (struct sockaddr *)&ma, mal));
	socklen_t aal = abs_addr(&ma, "nobody");
	CHECK_ERRNO("sendto_abstract_refused", ECONNREFUSED, sendto(o, "x", 1, 0, (struct sockaddr *)&ma, aal));
	int st = socket(AF_UNIX, SOCK_STREAM, 0);
	socklen_t stl = abs_addr(&ma, "stream-target");
	bind(st, (struct sockaddr *)&ma, stl);
	/* Abstract names are per socket type. */
	CHECK_ERRNO("sendto_abstract_other_type", ECONNREFUSED, sendto(o, "x", 1, 0, (struct sockaddr *)&ma, stl));
	int same = socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK("abstract_name_per_type", bind(same, (struct sockaddr *)&ma, stl) == 0);
	close(same);
	close(st);
	CHECK_ERRNO("sendto_efault_buffer", EFAULT, sendto(o, bad_ptr, 4, 0, (struct sockaddr *)&ra, ral));
	close(r);
	CHECK_ERRNO("sendto_closed_receiver", ECONNREFUSED, sendto(o, "x", 1, 0, (struct sockaddr *)&ra, ral));

	/* With SO_PASSCRED an unnamed sender is given a name. */
	int pr = socket(AF_UNIX, SOCK_DGRAM, 0);
	socklen_t prl = abs_addr(&ma, "passcred-recv");
	bind(pr, (struct sockaddr *)&ma, prl);
	int one = 1;
	setsockopt(o, SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
	sendto(o, "c", 1, 0, (struct sockaddr *)&ma, prl);
	fl = sizeof from;
	CHECK("passcred_autobinds", recvfrom(pr, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl) == 1 && fl == 8 && from.sun_path[0] == 0);
	close(pr);
	close(o);
	close(s);
	unlink(rpath);
	unlink(spath);
}

static void test_rights(void)
{
	int sv[2], p[2];
	char buf[16];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid_t pid = fork();
	if (pid == 0) {
		/* The child gets a pipe it never had, reads through it and answers. */
		int fds[2] = {-1, -1};
		if (recv_fds(sv[1], fds, 2, sizeof rctl, 0) != 1 || strcmp(rbuf, "pipe") != 0)
			_exit(1);
		char b[16] = {0};
		if (read(fds[0], b, sizeof b) != 6 || strcmp(b, "inside") != 0)
			_exit(2);
		write(sv[1], "ok", 2);
		_exit(0);
	}
	pipe(p);
	CHECK("send_rights", send_fds(sv[0], "pipe", &p[0], 1) == 4);
	close(p[0]);
	write(p[1], "inside", 6);
	CHECK("rights_across_fork", read(sv[0], buf, 2) == 2 && reap(pid) == 0);
	close(p[1]);

	/* Descriptors arrive as new ones, close-on-exec only when asked. */
	pipe(p);
	int fds[4] = {-1, -1, -1, -1};
	send_fds(sv[0], "two", p, 2);
	CHECK("recv_two", recv_fds(sv[1], fds, 4, sizeof rctl, 0) == 2 && fds[0] != p[0] && fds[1] != p[1] && rmsg.msg_controllen == CMSG_SPACE(2 * sizeof(int)) && rmsg.msg_flags == 0);
	CHECK("received_usable", write(fds[1], "z", 1) == 1 && read(p[0], buf, 1) == 1 && buf[0] == 'z');
	CHECK("received_no_cloexec", fcntl(fds[0], F_GETFD) == 0);
	close(fds[0]);
	close(fds[1]);
	send_fds(sv[0], "cx", p, 1);
	CHECK("cmsg_cloexec", recv_fds(sv[1], fds, 4, sizeof rctl, MSG_CMSG_CLOEXEC) == 1 && fcntl(fds[0], F_GETFD) == FD_CLOEXEC);
	close(fds[0]);

	/* A short control buffer: MSG_CTRUNC, and what fits. */
	send_fds(sv[0], "tr", p, 2);
	CHECK("ctrunc_partial", recv_fds(sv[1], fds, 4, CMSG_LEN(sizeof(int)), 0) == 1 && (rmsg.msg_flags & MSG_CTRUNC));
	close(fds[0]);
	send_fds(sv[0], "no", p, 2);
	CHECK("ctrunc_none", recv_fds(sv[1], fds, 4, 0, 0) == 0 && (rmsg.msg_flags & MSG_CTRUNC) && strcmp(rbuf, "no") == 0);

	/* MSG_PEEK gives copies of the descriptors too. */
	send_fds(sv[0], "pk", p, 1);
	CHECK("peek_rights", recv_fds(sv[1], fds, 4, sizeof rctl, MSG_PEEK) == 1);
	close(fds[0]);
	CHECK("peek_rights_again", recv_fds(sv[1], fds, 4, sizeof rctl, 0) == 1);
	close(fds[0]);

	/* Rights end a stream read: data before them joins, data after waits. */
	write(sv[0], "xy", 2);
	send_fds(sv[0], "ab", p, 1);
	write(sv[0], "cd", 2);
	CHECK("rights_end_read", recv_fds(sv[1], fds, 4, sizeof rctl, 0) == 1 && strcmp(rbuf, "xyab") == 0);
	close(fds[0]);
	CHECK("after_rights", read(sv[1], buf, sizeof buf) == 2);

	/* A read without a control buffer closes the descriptors. */
	send_fds(sv[0], "rd", p, 1);
	CHECK("read_drops_rights", read(sv[1], buf, sizeof buf) == 2);

	/* Errors of the control data. */
	int bad = 9999;
	CHECK_ERRNO("rights_ebadf", EBADF, send_fds(sv[0], "b", &bad, 1));
	char cbuf[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec iov = {"c", 1};
	struct msghdr m = {0};
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf;
	m.msg_controllen = sizeof cbuf;
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = 99;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	CHECK_ERRNO("cmsg_bad_type", EINVAL, sendmsg(sv[0], &m, 0));
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = sizeof cbuf + 8;
	CHECK_ERRNO("cmsg_bad_len", EINVAL, sendmsg(sv[0], &m, 0));
	c->cmsg_level = 6;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	CHECK("cmsg_other_level_ignored", sendmsg(sv[0], &m, 0) == 1 && read(sv[1], buf, sizeof buf) == 1);
	CHECK_ERRNO("sendmsg_efault", EFAULT, sendmsg(sv[0], bad_ptr, 0));
	CHECK_ERRNO("recvmsg_efault", EFAULT, recvmsg(sv[1], bad_ptr, MSG_DONTWAIT));
	struct iovec many[1025];
	for (int i = 0; i < 1025; i++)
		many[i] = iov;
	m.msg_iov = many;
	m.msg_iovlen = 1025;
	m.msg_control = NULL;
	m.msg_controllen = 0;
	CHECK_ERRNO("sendmsg_emsgsize_iov", EMSGSIZE, sendmsg(sv[0], &m, 0));

	/* A socket passed over a socket, over datagrams. */
	int inner[2], dg[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, inner);
	socketpair(AF_UNIX, SOCK_DGRAM, 0, dg);
	send_fds(dg[0], "sock", &inner[1], 1);
	close(inner[1]);
	CHECK("socket_over_dgram", recv_fds(dg[1], fds, 4, sizeof rctl, 0) == 1 && write(fds[0], "via", 3) == 3 && read(inner[0], buf, sizeof buf) == 3);
	close(fds[0]);
	CHECK("passed_socket_closed", read(inner[0], buf, sizeof buf) == 0);
	close(inner[0]);
	close(dg[0]);
	close(dg[1]);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_credentials(void)
{
	int sv[2], one = 1;
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	int v = -1;
	socklen_t l = sizeof v;
	CHECK("passcred_default", getsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &v, &l) == 0 && v == 0);
	setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
	CHECK("passcred_set", getsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &v, &l) == 0 && v == 1);
	send(sv[0], "cred", 4, 0);
	char ctl[CMSG_SPACE(sizeof(struct ucred))];
	char buf[8];
	struct iovec iov = {buf, sizeof buf};
	struct msghdr m = {0};
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = ctl;
	m.msg_controllen = sizeof ctl;
	struct ucred uc = {0};
	int n = (int)recvmsg(sv[1], &m, 0);
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	if (c)
		memcpy(&uc, CMSG_DATA(c), sizeof uc);
	CHECK("scm_credentials", n == 4 && c && c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len == CMSG_LEN(sizeof uc) && uc.pid == getpid() && uc.uid == getuid() && uc.gid == getgid());

	/* Explicit credentials of one's own are accepted. */
	char sctl[CMSG_SPACE(sizeof(struct ucred))] = {0};
	struct iovec siov = {"own", 3};
	struct msghdr sm = {0};
	sm.msg_iov = &siov;
	sm.msg_iovlen = 1;
	sm.msg_control = sctl;
	sm.msg_controllen = sizeof sctl;
	c = CMSG_FIRSTHDR(&sm);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_CREDENTIALS;
	c->cmsg_len = CMSG_LEN(sizeof uc);
	struct ucred mine = {getpid(), getuid(), getgid()};
	memcpy(CMSG_DATA(c), &mine, sizeof mine);
	CHECK("send_own_credentials", sendmsg(sv[0], &sm, 0) == 3);
	c->cmsg_len = CMSG_LEN(sizeof uc) - 1;
	CHECK_ERRNO("credentials_bad_len", EINVAL, sendmsg(sv[0], &sm, 0));
	m.msg_controllen = sizeof ctl;
	CHECK("recv_own_credentials", recvmsg(sv[1], &m, 0) == 3 && CMSG_FIRSTHDR(&m) && CMSG_FIRSTHDR(&m)->cmsg_type == SCM_CREDENTIALS);
	/* No room for them: MSG_CTRUNC. */
	send(sv[0], "x", 1, 0);
	m.msg_controllen = 4;
	CHECK("credentials_ctrunc", recvmsg(sv[1], &m, 0) == 1 && (m.msg_flags & MSG_CTRUNC) && m.msg_controllen == 0);
	close(sv[0]);
	close(sv[1]);

	/* On a stream from a child: its pid. */
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
	pid_t pid = fork();
	if (pid == 0) {
		write(sv[0], "child", 5);
		_exit(0);
	}
	m.msg_controllen = sizeof ctl;
	n = (int)recvmsg(sv[1], &m, 0);
	c = CMSG_FIRSTHDR(&m);
	memset(&uc, 0, sizeof uc);
	if (c)
		memcpy(&uc, CMSG_DATA(c), sizeof uc);
	CHECK("stream_credentials_child", n == 5 && c && uc.pid == pid);
	reap(pid);
	close(sv[0]);
	close(sv[1]);

	/* SO_PEERCRED names the connecting process and the listener. */
	struct sockaddr_un a;
	socklen_t al = abs_addr(&a, "peercred");
	int lst = socket(AF_UNIX, SOCK_STREAM, 0);
	bind(lst, (struct sockaddr *)&a, al);
	listen(lst, 1);
	pid = fork();
	if (pid == 0) {
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(s, (struct sockaddr *)&a, al) != 0)
			_exit(1);
		struct ucred p;
		socklen_t pl = sizeof p;
		getsockopt(s, SOL_SOCKET, SO_PEERCRED, &p, &pl);
		char b;
		read(s, &b, 1);
		_exit(p.pid == getppid() ? 0 : 2);
	}
	int s = accept(lst, NULL, NULL);
	struct ucred p;
	l = sizeof p;
	CHECK("peercred_of_child", getsockopt(s, SOL_SOCKET, SO_PEERCRED, &p, &l) == 0 && p.pid == pid);
	l = 4;
	CHECK("peercred_short_len", getsockopt(s, SOL_SOCKET, SO_PEERCRED, &p, &l) == 0 && l == 4);
	write(s, "k", 1);
	CHECK("child_peercred_is_listener", reap(pid) == 0);
	close(s);
	close(lst);
}

static void test_options(void)
{
	int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	int v = -1;
	socklen_t l = sizeof v;
	CHECK("so_type", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l) == 0 && v == SOCK_SEQPACKET && l == sizeof v);
	CHECK("so_domain", getsockopt(s, SOL_SOCKET, SO_DOMAIN, &v, &l) == 0 && v == AF_UNIX);
	CHECK("so_protocol", getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &v, &l) == 0 && v == 0);
	CHECK("so_error_none", getsockopt(s, SOL_SOCKET, SO_ERROR, &v, &l) == 0 && v == 0);
	CHECK("so_acceptconn_0", getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) == 0 && v == 0);
	CHECK("so_sndbuf_default", getsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, &l) == 0 && v == 212992);
	v = 1000;
	setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
	CHECK("so_sndbuf_min", getsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, &l) == 0 && v == 4608);
	v = 100000;
	setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
	CHECK("so_sndbuf_doubled", getsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, &l) == 0 && v == 200000);
	v = 1000;
	setsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
	CHECK("so_rcvbuf_min", getsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, &l) == 0 && v == 2304);
	v = 1;
	CHECK("so_reuseaddr", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, sizeof v) == 0 && getsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, &l) == 0 && v == 1);
	v = 1;
	CHECK("so_keepalive", setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v) == 0);
	struct linger lg = {1, 5}, lg2 = {0, 0};
	socklen_t ll = sizeof lg2;
	CHECK("so_linger", setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0 && getsockopt(s, SOL_SOCKET, SO_LINGER, &lg2, &ll) == 0 && lg2.l_onoff == 1 && lg2.l_linger == 5);
	struct timeval tv = {1, 500000}, tv2 = {0, 0};
	socklen_t tl = sizeof tv2;
	CHECK("so_sndtimeo", setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0 && getsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv2, &tl) == 0 && tv2.tv_sec == 1 && tv2.tv_usec == 500000 && tl == sizeof tv2);
	tl = sizeof tv2;
	CHECK("so_rcvtimeo_default", getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv2, &tl) == 0 && tv2.tv_sec == 0 && tv2.tv_usec == 0);
	tv.tv_usec = 1000000;
	CHECK_ERRNO("so_rcvtimeo_edom", EDOM, setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
	CHECK_ERRNO("so_rcvtimeo_short", EINVAL, setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, 8));
	CHECK_ERRNO("setsockopt_short_int", EINVAL, setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, 2));
	CHECK_ERRNO("setsockopt_so_type", ENOPROTOOPT, setsockopt(s, SOL_SOCKET, SO_TYPE, &v, sizeof v));
	CHECK_ERRNO("setsockopt_unknown", ENOPROTOOPT, setsockopt(s, SOL_SOCKET, 9999, &v, sizeof v));
	CHECK_ERRNO("getsockopt_unknown", ENOPROTOOPT, getsockopt(s, SOL_SOCKET, 9999, &v, &l));
	CHECK_ERRNO("setsockopt_other_level", EOPNOTSUPP, setsockopt(s, 6, 1, &v, sizeof v));
	CHECK_ERRNO("getsockopt_other_level", EOPNOTSUPP, getsockopt(s, 6, 1, &v, &l));
	l = (socklen_t)-1;
	CHECK_ERRNO("getsockopt_negative_len", EINVAL, getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l));
	l = 2;
	v = 0;
	CHECK("getsockopt_short_len", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l) == 0 && l == 2 && v == SOCK_SEQPACKET);
	l = sizeof v;
	CHECK_ERRNO("getsockopt_efault", EFAULT, getsockopt(s, SOL_SOCKET, SO_TYPE, bad_ptr, &l));
	CHECK_ERRNO("getsockopt_len_efault", EFAULT, getsockopt(s, SOL_SOCKET, SO_TYPE, &v, bad_ptr));
	close(s);

	/* SO_RCVTIMEO: a blocking receive gives up with EAGAIN. */
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	struct timeval t100 = {0, 100000};
	setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &t100, sizeof t100);
	char buf[4];
	long long t0 = now_ms();
	CHECK_ERRNO("rcvtimeo_eagain", EAGAIN, recv(sv[1], buf, sizeof buf, 0));
	CHECK("rcvtimeo_waited", now_ms() - t0 >= 90);
	close(sv[0]);
	close(sv[1]);
}

static void test_blocking(void)
{
	int sv[2];
	char buf[8];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	/* A signal without SA_RESTART interrupts a blocked receive. */
	handle(SIGALRM, on_alarm, 0);
	struct itimerval it = {{0, 0}, {0, 50000}};
	setitimer(ITIMER_REAL, &it, NULL);
	CHECK_ERRNO("recv_eintr", EINTR, recv(sv[1], buf, sizeof buf, 0));
	/* With SA_RESTART the receive goes on and gets the data. */
	handle(SIGALRM, on_alarm, SA_RESTART);
	alarms = 0;
	pid_t pid = fork();
	if (pid == 0) {
		sleep_ms(200);
		write(sv[0], "late", 4);
		_exit(0);
	}
	setitimer(ITIMER_REAL, &it, NULL);
	CHECK("recv_restarted", recv(sv[1], buf, sizeof buf, 0) == 4 && alarms == 1);
	reap(pid);
	/* accept is interrupted too. */
	struct sockaddr_un a;
	socklen_t al = abs_addr(&a, "eintr");
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	bind(l, (struct sockaddr *)&a, al);
	listen(l, 1);
	handle(SIGALRM, on_alarm, 0);
	setitimer(ITIMER_REAL, &it, NULL);
	CHECK_ERRNO("accept_eintr", EINTR, accept(l, NULL, NULL));
	close(l);

	/* epoll wakes for data from another process. */
	int ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = sv[1]};
	epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev);
	pid = fork();
	if (pid == 0) {
		sleep_ms(50);
		write(sv[0], "e", 1);
		_exit(0);
	}
	struct epoll_event out;
	CHECK("epoll_socket", epoll_wait(ep, &out, 1, 5000) == 1 && out.data.fd == sv[1] && (out.events & EPOLLIN));
	reap(pid);
	read(sv[1], buf, 1);
	close(ep);
	close(sv[0]);
	close(sv[1]);
}

static void test_mmsg(void)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	struct mmsghdr mm[5];
	struct iovec iov[5];
	char bufs[5][8];
	const char *words[3] = {"a", "bb", "ccc"};
	memset(mm, 0, sizeof mm);
	for (int i = 0; i < 3; i++) {
		iov[i].iov_base = (void *)words[i];
		iov[i].iov_len = strlen(words[i]);
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	CHECK("sendmmsg", sendmmsg(sv[0], mm, 3, 0) == 3 && mm[2].msg_len == 3);
	memset(mm, 0, sizeof mm);
	for (int i = 0; i < 5; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof bufs[i];
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	CHECK("recvmmsg", recvmmsg(sv[1], mm, 5, MSG_DONTWAIT, NULL) == 3 && mm[0].msg_len == 1 && mm[1].msg_len == 2 && mm[2].msg_len == 3);
	CHECK_ERRNO("recvmmsg_empty", EAGAIN, recvmmsg(sv[1], mm, 5, MSG_DONTWAIT, NULL));
	send(sv[0], "w", 1, 0);
	CHECK("recvmmsg_waitforone", recvmmsg(sv[1], mm, 5, MSG_WAITFORONE, NULL) == 1);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof dir, "/tmp/sockets-%d", getpid());
	snprintf(ovl, sizeof ovl, "/var/tmp/sockets-%d", getpid());
	if (mkdir(dir, 0700) != 0 || mkdir(ovl, 0700) != 0) {
		printf("FAIL setup: mkdir: %s\n", strerror(errno));
		return 1;
	}
	test_create();
	test_stream_pair();
	test_unconnected();
	test_dgram_pair();
	test_paths();
	test_backlog();
	test_abstract();
	test_dgram_names();
	test_rights();
	test_credentials();
	test_options();
	test_blocking();
	test_mmsg();
	rmdir(dir);
	rmdir(ovl);
	return check_exit();
}
