/*
 * inet.c — loopback AF_INET and AF_INET6 sockets: TCP and UDP.
 *
 * Natively these run on the host's network, so only 127.0.0.1 (and IPv6
 * sockets reaching it through IPv4-mapped addresses; the host may have no ::1)
 * and ports chosen with port 0 are used, and no port number is ever printed.
 */
#include "check.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in lo(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static uint16_t port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* A listener on 127.0.0.1, port 0. */
static int listener(int backlog)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = lo(0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, backlog) != 0)
		return -1;
	return fd;
}

static int connect_to(int l, int flags)
{
	int fd = socket(AF_INET, SOCK_STREAM | flags, 0);
	struct sockaddr_in a = lo(port_of(l));
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS)
		return -1;
	return fd;
}

/* A port nothing listens on: bound, then closed. */
static uint16_t closed_port(int type)
{
	int fd = socket(AF_INET, type, 0);
	struct sockaddr_in a = lo(0);
	bind(fd, (struct sockaddr *)&a, sizeof a);
	uint16_t p = port_of(fd);
	close(fd);
	return p;
}

static int getint(int fd, int level, int name)
{
	int v = -12345;
	socklen_t len = sizeof v;
	if (getsockopt(fd, level, name, &v, &len) != 0)
		return -12345;
	return v;
}

static short revents(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	if (poll(&p, 1, 0) < 0)
		return -1;
	return p.revents;
}

static volatile sig_atomic_t pipes;
static void on_pipe(int sig)
{
	(void)sig;
	pipes++;
}

static void creation(void)
{
	CHECK_ERRNO("socket_stream_udp_proto", EPROTONOSUPPORT, socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
	CHECK_ERRNO("socket_dgram_tcp_proto", EPROTONOSUPPORT, socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP));
	CHECK_ERRNO("socket_seqpacket", ESOCKTNOSUPPORT, socket(AF_INET, SOCK_SEQPACKET, 0));
	int sv[2];
	CHECK_ERRNO("socketpair_inet", EOPNOTSUPP, socketpair(AF_INET, SOCK_STREAM, 0, sv));
	int t = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP), u = socket(AF_INET6, SOCK_DGRAM, 0);
	CHECK("so_type", getint(t, SOL_SOCKET, SO_TYPE) == SOCK_STREAM && getint(u, SOL_SOCKET, SO_TYPE) == SOCK_DGRAM);
	CHECK("so_domain", getint(t, SOL_SOCKET, SO_DOMAIN) == AF_INET && getint(u, SOL_SOCKET, SO_DOMAIN) == AF_INET6);
	CHECK("so_protocol", getint(t, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_TCP && getint(u, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_UDP);

	struct sockaddr_in6 s6;
	socklen_t len = sizeof s6;
	memset(&s6, 0xff, sizeof s6);
	CHECK("unbound_name6", getsockname(u, (struct sockaddr *)&s6, &len) == 0 && len == sizeof(struct sockaddr_in6) &&
				       s6.sin6_family == AF_INET6 && s6.sin6_port == 0 && IN6_IS_ADDR_UNSPECIFIED(&s6.sin6_addr));
	struct sockaddr_in s4;
	len = sizeof s4;
	CHECK("unbound_name4", getsockname(t, (struct sockaddr *)&s4, &len) == 0 && len == sizeof s4 && s4.sin_port == 0 &&
				       s4.sin_addr.s_addr == 0);
	CHECK_ERRNO("unconnected_peername", ENOTCONN, getpeername(t, (struct sockaddr *)&s4, &len));
	char c;
	CHECK_ERRNO("unconnected_recv", ENOTCONN, recv(t, &c, 1, MSG_DONTWAIT));
	CHECK_ERRNO("unconnected_send_epipe", EPIPE, send(t, "x", 1, MSG_NOSIGNAL));
	CHECK("fresh_tcp_poll", revents(t, POLLIN | POLLOUT) == (POLLOUT | POLLHUP));
	CHECK_ERRNO("unconnected_shutdown", ENOTCONN, shutdown(t, SHUT_RDWR));
	CHECK_ERRNO("accept_not_listening", EINVAL, accept(t, NULL, NULL));
	CHECK("shut_tcp_poll", revents(t, POLLIN | POLLOUT | POLLRDHUP) == (POLLIN | POLLOUT | POLLHUP | POLLRDHUP));
	CHECK_ERRNO("listen_udp", EOPNOTSUPP, listen(u, 1));
	close(t);
	close(u);
}

static void binding(void)
{
	int a = socket(AF_INET, SOCK_STREAM, 0), b = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in s = lo(0);
	CHECK_ERRNO("bind_short", EINVAL, bind(a, (struct sockaddr *)&s, sizeof s - 1));
	struct sockaddr_in6 wrong = { .sin6_family = AF_INET6 };
	CHECK_ERRNO("bind_wrong_family", EAFNOSUPPORT, bind(a, (struct sockaddr *)&wrong, sizeof(struct sockaddr_in)));
	struct sockaddr_in far = { .sin_family = AF_INET };
	far.sin_addr.s_addr = inet_addr("192.0.2.1");
	CHECK_ERRNO("bind_not_local", EADDRNOTAVAIL, bind(a, (struct sockaddr *)&far, sizeof far));
	CHECK("bind_port0", bind(a, (struct sockaddr *)&s, sizeof s) == 0);
	uint16_t p = port_of(a);
	CHECK("ephemeral_range", p >= 32768 && p <= 60999);
	CHECK_ERRNO("bind_twice", EINVAL, bind(a, (struct sockaddr *)&s, sizeof s));
	s = lo(p);
	CHECK_ERRNO("bind_in_use", EADDRINUSE, bind(b, (struct sockaddr *)&s, sizeof s));
	struct sockaddr_in any = { .sin_family = AF_INET, .sin_port = htons(p) };
	CHECK_ERRNO("bind_any_in_use", EADDRINUSE, bind(b, (struct sockaddr *)&any, sizeof any));
	close(a);
	close(b);

	/* SO_REUSEADDR: both may bind while neither listens; only one may listen. */
	int one = 1;
	a = socket(AF_INET, SOCK_STREAM, 0);
	b = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(a, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(b, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	s = lo(0);
	bind(a, (struct sockaddr *)&s, sizeof s);
	s = lo(port_of(a));
	CHECK("reuseaddr_bind", bind(b, (struct sockaddr *)&s, sizeof s) == 0);
	CHECK("reuseaddr_listen_first", listen(a, 1) == 0);
	CHECK_ERRNO("reuseaddr_listen_second", EADDRINUSE, listen(b, 1));
	int c = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(c, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	CHECK_ERRNO("reuseaddr_listener_holds", EADDRINUSE, bind(c, (struct sockaddr *)&s, sizeof s));
	close(a);
	CHECK("rebind_after_close", bind(c, (struct sockaddr *)&s, sizeof s) == 0 && listen(c, 1) == 0);
	close(b);
	close(c);

	/* listen without bind picks a port. */
	a = socket(AF_INET, SOCK_STREAM, 0);
	CHECK("listen_autobinds", listen(a, 1) == 0 && port_of(a) != 0);
	CHECK("so_acceptconn", getint(a, SOL_SOCKET, SO_ACCEPTCONN) == 1);
	close(a);
}

static void streams(void)
{
	int l = listener(4);
	int c = connect_to(l, 0);
	CHECK("connect", c >= 0);
	CHECK("listener_readable", revents(l, POLLIN | POLLOUT) == POLLIN);
	struct sockaddr_in peer;
	socklen_t len = sizeof peer;
	int s = accept(l, (struct sockaddr *)&peer, &len);
	CHECK("accept", s >= 0 && len == sizeof peer && peer.sin_family == AF_INET &&
				peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
	CHECK("accept_peer_is_client", ntohs(peer.sin_port) == port_of(c));
	struct sockaddr_in cp, sn;
	len = sizeof cp;
	getpeername(c, (struct sockaddr *)&cp, &len);
	len = sizeof sn;
	getsockname(s, (struct sockaddr *)&sn, &len);
	CHECK("names_match", memcmp(&cp, &sn, sizeof cp) == 0 && cp.sin_port == htons(port_of(l)));
	CHECK("connected_writable", revents(c, POLLIN | POLLOUT) == POLLOUT);

	char buf[64];
	CHECK_ERRNO("recv_dontwait", EAGAIN, recv(s, buf, sizeof buf, MSG_DONTWAIT));
	CHECK("send", send(c, "hello", 5, 0) == 5 && send(c, "world", 5, 0) == 5);
	int n = -1;
	CHECK("fionread", ioctl(s, FIONREAD, &n) == 0 && n == 10);
	CHECK("readable", revents(s, POLLIN) == POLLIN);
	CHECK("peek", recv(s, buf, 3, MSG_PEEK) == 3 && memcmp(buf, "hel", 3) == 0);
	struct sockaddr_in from = { 0 };
	len = sizeof from;
	CHECK("recvfrom_no_address", recvfrom(s, buf, 4, 0, (struct sockaddr *)&from, &len) == 4 && len == 0);
	CHECK("waitall", recv(s, buf, 6, MSG_WAITALL) == 6 && memcmp(buf, "oworld", 6) == 0);

	/* Half close: the peer reads the end, and may still write back. */
	CHECK("shutdown_wr", shutdown(c, SHUT_WR) == 0);
	CHECK("eof_after_shutdown", recv(s, buf, sizeof buf, 0) == 0);
	CHECK("rdhup", (revents(s, POLLIN | POLLRDHUP) & (POLLIN | POLLRDHUP)) == (POLLIN | POLLRDHUP));
	CHECK_ERRNO("send_after_shutdown", EPIPE, send(c, "x", 1, MSG_NOSIGNAL));
	CHECK("write_back", write(s, "back", 4) == 4 && read(c, buf, sizeof buf) == 4);

	/* A clean close: the first write still goes, the reset then ends the connection. */
	close(c);
	CHECK("eof_after_close", recv(s, buf, sizeof buf, 0) == 0);
	signal(SIGPIPE, on_pipe);
	CHECK("write_to_closed_peer", send(s, "x", 1, 0) == 1);
	usleep(50000);
	CHECK_ERRNO("epipe_after_reset", EPIPE, send(s, "x", 1, 0));
	CHECK("sigpipe", pipes == 1);
	CHECK_ERRNO("epipe_nosignal", EPIPE, send(s, "x", 1, MSG_NOSIGNAL));
	CHECK("no_more_sigpipe", pipes == 1);
	signal(SIGPIPE, SIG_DFL);
	close(s);

	/* Closing with unread data resets the peer. */
	c = connect_to(l, 0);
	s = accept(l, NULL, NULL);
	send(c, "unread", 6, 0);
	close(s);
	usleep(50000);
	CHECK_ERRNO("reset", ECONNRESET, recv(c, buf, sizeof buf, 0));
	CHECK("eof_after_reset", recv(c, buf, sizeof buf, 0) == 0);
	close(c);

	/* Nothing listening. */
	struct sockaddr_in dead = lo(closed_port(SOCK_STREAM));
	c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK_ERRNO("refused", ECONNREFUSED, connect(c, (struct sockaddr *)&dead, sizeof dead));
	close(c);
	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK_ERRNO("refused_nonblock_inprogress", EINPROGRESS, connect(c, (struct sockaddr *)&dead, sizeof dead));
	struct pollfd pf = { .fd = c, .events = POLLOUT };
	CHECK("refused_poll", poll(&pf, 1, 1000) == 1 && (pf.revents & (POLLERR | POLLHUP)) == (POLLERR | POLLHUP));
	CHECK("refused_so_error", getint(c, SOL_SOCKET, SO_ERROR) == ECONNREFUSED && getint(c, SOL_SOCKET, SO_ERROR) == 0);
	close(c);

	/* Non-blocking connect: EINPROGRESS, then writable, then connected. */
	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in to = lo(port_of(l));
	CHECK_ERRNO("nonblock_inprogress", EINPROGRESS, connect(c, (struct sockaddr *)&to, sizeof to));
	pf.fd = c;
	CHECK("nonblock_writable", poll(&pf, 1, 1000) == 1 && pf.revents == POLLOUT);
	CHECK("nonblock_so_error", getint(c, SOL_SOCKET, SO_ERROR) == 0);
	CHECK("nonblock_connect_again", connect(c, (struct sockaddr *)&to, sizeof to) == 0);
	CHECK_ERRNO("nonblock_isconn", EISCONN, connect(c, (struct sockaddr *)&to, sizeof to));
	s = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	CHECK("accept4_flags", s >= 0 && (fcntl(s, F_GETFL) & O_NONBLOCK) && (fcntl(s, F_GETFD) & FD_CLOEXEC));
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP }, got;
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	CHECK("epoll_out", epoll_wait(ep, &got, 1, 0) == 1 && got.events == EPOLLOUT);
	send(c, "x", 1, 0);
	CHECK("epoll_in_out", epoll_wait(ep, &got, 1, 0) == 1 && got.events == (EPOLLIN | EPOLLOUT));
	close(ep);
	close(c);
	close(s);

	/* Shutting a listener for reading stops it. */
	CHECK("listener_shutdown", shutdown(l, SHUT_RD) == 0);
	CHECK_ERRNO("accept_after_shutdown", EINVAL, accept(l, NULL, NULL));
	close(l);
}

static void datagrams(void)
{
	int a = socket(AF_INET, SOCK_DGRAM, 0), b = socket(AF_INET, SOCK_DGRAM, 0), c = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in s = lo(0);
	bind(a, (struct sockaddr *)&s, sizeof s);
	struct sockaddr_in to = lo(port_of(a));
	CHECK_ERRNO("send_no_destination", EDESTADDRREQ, send(b, "x", 1, 0));
	CHECK("sendto", sendto(b, "one", 3, 0, (struct sockaddr *)&to, sizeof to) == 3 &&
				sendto(b, "", 0, 0, (struct sockaddr *)&to, sizeof to) == 0 &&
				sendto(b, "three", 5, 0, (struct sockaddr *)&to, sizeof to) == 5);
	struct sockaddr_in bn;
	socklen_t len = sizeof bn;
	getsockname(b, (struct sockaddr *)&bn, &len);
	CHECK("sender_autobound_any", bn.sin_port != 0 && bn.sin_addr.s_addr == 0);
	char buf[16];
	struct sockaddr_in from;
	len = sizeof from;
	CHECK("recvfrom_truncated", recvfrom(a, buf, 2, 0, (struct sockaddr *)&from, &len) == 2 && len == sizeof from &&
					    from.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && from.sin_port == bn.sin_port);
	CHECK("empty_datagram", recv(a, buf, sizeof buf, 0) == 0);
	CHECK("msg_trunc_length", recv(a, buf, 1, MSG_TRUNC) == 5);
	CHECK_ERRNO("dgram_empty", EAGAIN, recv(a, buf, sizeof buf, MSG_DONTWAIT));
	CHECK_ERRNO("sendto_port0", EINVAL, sendto(b, "x", 1, 0, (struct sockaddr *)&s, sizeof s));

	/* A connected socket takes only its peer's datagrams. */
	struct sockaddr_in bto = lo(ntohs(bn.sin_port));
	CHECK("connect_udp", connect(a, (struct sockaddr *)&bto, sizeof bto) == 0);
	struct sockaddr_in an, ap;
	len = sizeof an;
	getsockname(a, (struct sockaddr *)&an, &len);
	len = sizeof ap;
	CHECK("udp_peername", getpeername(a, (struct sockaddr *)&ap, &len) == 0 && ap.sin_port == bn.sin_port);
	CHECK("udp_send_connected", send(a, "reply", 5, 0) == 5 && recv(b, buf, sizeof buf, 0) == 5);
	CHECK("stranger_sends", sendto(c, "no", 2, 0, (struct sockaddr *)&to, sizeof to) == 2);
	CHECK("friend_sends", sendto(b, "yes", 3, 0, (struct sockaddr *)&to, sizeof to) == 3);
	CHECK("only_peer_received", recv(a, buf, sizeof buf, 0) == 3 && memcmp(buf, "yes", 3) == 0);
	CHECK_ERRNO("stranger_dropped", EAGAIN, recv(a, buf, sizeof buf, MSG_DONTWAIT));
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	CHECK("disconnect_udp", connect(a, &unspec, sizeof unspec) == 0);
	CHECK_ERRNO("disconnected_peername", ENOTCONN, getpeername(a, (struct sockaddr *)&ap, &len));

	/* Connected to a port nobody holds: the next call learns of it. */
	struct sockaddr_in dead = lo(closed_port(SOCK_DGRAM));
	CHECK("connect_dead", connect(c, (struct sockaddr *)&dead, sizeof dead) == 0);
	CHECK("send_dead", send(c, "x", 1, 0) == 1);
	usleep(50000);
	CHECK_ERRNO("send_dead_refused", ECONNREFUSED, send(c, "x", 1, 0));
	close(a);
	close(b);
	close(c);
}

static void ipv6(void)
{
	/* A dual-stack listener takes IPv4 connections, shown as mapped addresses. */
	int l = socket(AF_INET6, SOCK_STREAM, 0);
	CHECK("v6only_default", getint(l, IPPROTO_IPV6, IPV6_V6ONLY) == 0);
	struct sockaddr_in6 any = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	CHECK("bind6_any", bind(l, (struct sockaddr *)&any, sizeof any) == 0 && listen(l, 1) == 0);
	int one = 1;
	CHECK_ERRNO("v6only_after_bind", EINVAL, setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
	int c = connect_to(l, 0);
	struct sockaddr_in6 peer;
	socklen_t len = sizeof peer;
	int s = accept(l, (struct sockaddr *)&peer, &len);
	CHECK("mapped_peer", s >= 0 && len == sizeof peer && peer.sin6_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&peer.sin6_addr) &&
				     ntohs(peer.sin6_port) == port_of(c));
	CHECK("mapped_data", send(c, "v4", 2, 0) == 2 && recv(s, &one, 2, 0) == 2);
	int v4 = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in same = { .sin_family = AF_INET, .sin_port = htons(port_of(l)) };
	CHECK_ERRNO("dual_stack_holds_v4", EADDRINUSE, bind(v4, (struct sockaddr *)&same, sizeof same));
	close(c);
	close(s);
	close(l);

	/* A v6-only socket leaves IPv4 alone. */
	l = socket(AF_INET6, SOCK_STREAM, 0);
	CHECK("set_v6only", setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == 0 && getint(l, IPPROTO_IPV6, IPV6_V6ONLY) == 1);
	bind(l, (struct sockaddr *)&any, sizeof any);
	listen(l, 1);
	same.sin_port = htons(port_of(l));
	CHECK("v6only_port_free_for_v4", bind(v4, (struct sockaddr *)&same, sizeof same) == 0);
	close(v4);
	c = socket(AF_INET, SOCK_STREAM, 0);
	same.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_ERRNO("v6only_refuses_v4", ECONNREFUSED, connect(c, (struct sockaddr *)&same, sizeof same));
	close(c);
	close(l);

	/* An IPv6 socket reaches IPv4 through a mapped address, and gets a mapped name. */
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in ul = lo(0);
	bind(u, (struct sockaddr *)&ul, sizeof ul);
	int u6 = socket(AF_INET6, SOCK_DGRAM, 0);
	struct sockaddr_in6 mapped = { .sin6_family = AF_INET6, .sin6_port = htons(port_of(u)) };
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &mapped.sin6_addr);
	CHECK_ERRNO("connect6_short", EINVAL, connect(u6, (struct sockaddr *)&mapped, 20));
	CHECK("sendto_mapped", sendto(u6, "m", 1, 0, (struct sockaddr *)&mapped, sizeof mapped) == 1);
	struct sockaddr_in from;
	len = sizeof from;
	char ch;
	CHECK("recv_from_mapped", recvfrom(u, &ch, 1, 0, (struct sockaddr *)&from, &len) == 1 && from.sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
					  ntohs(from.sin_port) == port_of(u6));
	struct sockaddr_in6 name;
	len = sizeof name;
	CHECK("name6_after_send", getsockname(u6, (struct sockaddr *)&name, &len) == 0 && len == sizeof name && IN6_IS_ADDR_UNSPECIFIED(&name.sin6_addr));
	close(u);
	close(u6);
}

static void options(void)
{
	int t = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0);
	int v = 5;
	CHECK("nodelay_default", getint(t, IPPROTO_TCP, TCP_NODELAY) == 0);
	CHECK("nodelay_set", setsockopt(t, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) == 0 && getint(t, IPPROTO_TCP, TCP_NODELAY) == 1);
	v = 60;
	CHECK("keepidle", setsockopt(t, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof v) == 0 && getint(t, IPPROTO_TCP, TCP_KEEPIDLE) == 60);
	CHECK("keepintvl_default", getint(t, IPPROTO_TCP, TCP_KEEPINTVL) == 75 && getint(t, IPPROTO_TCP, TCP_KEEPCNT) == 9);
	v = 0;
	CHECK_ERRNO("keepidle_zero", EINVAL, setsockopt(t, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof v));
	CHECK_ERRNO("tcp_unknown", ENOPROTOOPT, setsockopt(t, IPPROTO_TCP, 9999, &v, sizeof v));
	CHECK_ERRNO("tcp_opt_on_udp", ENOPROTOOPT, setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v));
	CHECK_ERRNO("ipv6_opt_on_v4", ENOPROTOOPT, setsockopt(t, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof v));
	v = 0x10;
	CHECK("ip_tos", setsockopt(t, IPPROTO_IP, IP_TOS, &v, sizeof v) == 0 && getint(t, IPPROTO_IP, IP_TOS) == 0x10);
	CHECK("ip_ttl_default", getint(u, IPPROTO_IP, IP_TTL) == 64);
	v = 1;
	CHECK("reuseport", setsockopt(t, SOL_SOCKET, SO_REUSEPORT, &v, sizeof v) == 0 && getint(t, SOL_SOCKET, SO_REUSEPORT) == 1);
	CHECK("keepalive", setsockopt(t, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v) == 0 && getint(t, SOL_SOCKET, SO_KEEPALIVE) == 1);

	/* Accepted sockets inherit TCP options. */
	int l = listener(1);
	setsockopt(l, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v);
	int c = connect_to(l, 0);
	int s = accept(l, NULL, NULL);
	CHECK("accepted_inherits_nodelay", getint(s, IPPROTO_TCP, TCP_NODELAY) == 1);
	close(c);
	close(s);
	close(l);
	close(t);
	close(u);
}

int main(void)
{
	creation();
	binding();
	streams();
	datagrams();
	ipv6();
	options();
	return check_exit();
}
