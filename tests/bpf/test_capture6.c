// SPDX-License-Identifier: Apache-2.0
/*
 * The cgroup programs (bpf/capture.bpf.c) with native IPv6 destinations, for real: datapath_open()
 * loads them with ztunnel_ip6 set and attaches them to a private cgroup, and forked children
 * placed in its sub-cgroups open IPv6 sockets. Everything runs in a private netns (it dies with
 * the process) where lo holds the ULA addresses below: listeners there stand in for the node's
 * ztunnel ([fd00:200::1]:15001 and :15053), for Service backends and for a server outside the
 * mesh; 10.200.0.1 on lo is the ztunnel's IPv4, for the v4-mapped case. Pins and cgroups are
 * the capture fixture's (tag "test6"); both are removed in teardown, also when setup fails half
 * way.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <bpf/bpf.h>

#include "ambit/datapath.h"
#include "../lib/capture_fixture.h"
#include "../lib/harness.h"
#include "ambit/log.h"

#define ZTUNNEL_IP "10.200.0.1"
#define ZTUNNEL6_IP "fd00:200::1"
#define BACKEND1_IP6 "fd00:200::2"
#define BACKEND2_IP6 "fd00:200::3"
#define SERVER6_IP "fd00:200::4"   /* outside the mesh, reached directly */
#define NOWHERE6_IP "fd00:200::99" /* no route: only a rewrite reaches anything from here */
#define VIP6 "fd00:200::50"
#define DNS6_IP "fd00:200::53" /* a resolver the pod names; only the proxy answers */
#define POD_IP "10.200.0.10"
#define POD6_IP "fd00:200::10" /* the enrolled pod's IPv6, on lo: its in-pod listener's */
#define BACKEND_PORT 8080

static struct capture_fixture cf;

struct fixture {
	int ztunnel_fd;	 /* [ZTUNNEL6_IP]:15001 */
	int ztunnel4_fd; /* ZTUNNEL_IP:15001, as ::ffff:10.200.0.1 */
	int dns_tcp_fd;	 /* [ZTUNNEL6_IP]:15053 */
	int dns_udp_fd;
	int backend_fd[2];
	int inpod_fd; /* [POD6_IP]:15001, the ztunnel's in-pod listener */
};

static struct fixture fx = {.ztunnel_fd = -1,
			    .ztunnel4_fd = -1,
			    .dns_tcp_fd = -1,
			    .dns_udp_fd = -1,
			    .backend_fd = {-1, -1},
			    .inpod_fd = -1};

static struct sockaddr_in6 sa6(const char *ip, uint16_t port)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};

	if (inet_pton(AF_INET6, ip, &a.sin6_addr) != 1)
		abort();
	return a;
}

/* A TCP listener (or a bound UDP socket, @type SOCK_DGRAM) on [@ip]:@port, non-blocking. */
static int listen6(const char *ip, uint16_t port, int type)
{
	struct sockaddr_in6 a = sa6(ip, port);
	int one = 1;
	int fd = socket(AF_INET6, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || (type == SOCK_STREAM && listen(fd, 64))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Waits up to 2 s for one of @n sockets to be readable: its index, or -1. */
static int ready_of(const int *fds, int n)
{
	struct pollfd p[2];

	for (int i = 0; i < n; i++)
		p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
	if (poll(p, (nfds_t)n, 2000) < 1)
		return -1;
	for (int i = 0; i < n; i++)
		if (p[i].revents & POLLIN)
			return i;
	return -1;
}

static int accept6(int lfd, struct sockaddr_in6 *peer)
{
	socklen_t len = sizeof(*peer);

	if (ready_of(&lfd, 1) != 0)
		return -1;
	return accept4(lfd, (struct sockaddr *)peer, &len, SOCK_CLOEXEC);
}

static void assert_addr6(const struct sockaddr_in6 *a, const char *ip, uint16_t port)
{
	struct sockaddr_in6 want = sa6(ip, port);

	assert_int_equal(a->sin6_family, AF_INET6);
	assert_memory_equal(&a->sin6_addr, &want.sin6_addr, sizeof(want.sin6_addr));
	assert_int_equal(ntohs(a->sin6_port), port);
}

/* ---- children: one socket operation from a cgroup of the fixture ---- */

enum op_kind { OP_TCP, OP_UDP_SENDTO, OP_UDP_CONNECT, OP_PING, OP_MPTCP };

struct op {
	enum op_kind kind;
	const char *ip;
	uint16_t port;
	bool answer;	     /* UDP: wait (2 s) for one datagram back */
	const char *then_ip; /* UDP: then connect to [then_ip]:then_port (peer_after) */
	uint16_t then_port;
};

struct outcome {
	int err; /* errno of socket(), connect(), send() or sendto(); 0 when they worked */
	struct sockaddr_in6 local;
	struct sockaddr_in6 peer; /* getpeername(): what the application is shown */
	struct sockaddr_in6 from; /* where the answer came from, as recvfrom() shows it */
	char answer[8];
	struct sockaddr_in6 peer_after; /* getpeername() once connected to then_ip */
};

static void op_run(const struct op *op, struct outcome *o)
{
	struct sockaddr_in6 dst = sa6(op->ip, op->port);
	int type = op->kind == OP_TCP || op->kind == OP_MPTCP ? SOCK_STREAM : SOCK_DGRAM;
	int fd = socket(AF_INET6, type | SOCK_CLOEXEC,
			op->kind == OP_PING    ? IPPROTO_ICMPV6
			: op->kind == OP_MPTCP ? IPPROTO_MPTCP
					       : 0);
	socklen_t len;
	ssize_t rc;

	if (fd < 0) {
		o->err = errno;
		return;
	}
	if (op->kind == OP_UDP_SENDTO) {
		rc = sendto(fd, "q", 1, 0, (struct sockaddr *)&dst, sizeof(dst));
	} else {
		rc = connect(fd, (struct sockaddr *)&dst, sizeof(dst));
		if (rc == 0 && op->kind == OP_UDP_CONNECT)
			rc = send(fd, "q", 1, 0);
	}
	if (rc < 0) {
		o->err = errno;
		return;
	}
	len = sizeof(o->local);
	getsockname(fd, (struct sockaddr *)&o->local, &len);
	len = sizeof(o->peer);
	getpeername(fd, (struct sockaddr *)&o->peer, &len);
	if (op->answer && ready_of(&fd, 1) == 0) {
		len = sizeof(o->from);
		recvfrom(fd, o->answer, sizeof(o->answer) - 1, 0, (struct sockaddr *)&o->from,
			 &len);
	}
	if (op->then_ip) {
		dst = sa6(op->then_ip, op->then_port);
		len = sizeof(o->peer_after);
		if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) ||
		    getpeername(fd, (struct sockaddr *)&o->peer_after, &len))
			o->err = errno;
	}
}

/*
 * Forks a child that joins @cgroup and does @op; *@rfd gets what child_end reads. The parent
 * may play the other side meanwhile (answer a query).
 */
static pid_t child_start(const char *cgroup, const struct op *op, int *rfd)
{
	int pipefd[2];
	pid_t pid;

	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct outcome o = {0};

		close(pipefd[0]);
		/* The socket must be created after the move: it records its cgroup at birth. */
		if (capture_fixture_join(cgroup))
			_exit(2);
		op_run(op, &o);
		if (write(pipefd[1], &o, sizeof(o)) != (ssize_t)sizeof(o))
			_exit(4);
		_exit(0);
	}
	close(pipefd[1]);
	*rfd = pipefd[0];
	return pid;
}

static void child_end(pid_t pid, int rfd, struct outcome *o)
{
	int status;

	assert_int_equal(read(rfd, o, sizeof(*o)), (ssize_t)sizeof(*o));
	close(rfd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void child_run(const char *cgroup, const struct op *op, struct outcome *o)
{
	int rfd;
	pid_t pid = child_start(cgroup, op, &rfd);

	child_end(pid, rfd, o);
}

/* The errno of @kind to [@ip]:@port from @cgroup (0: it worked). */
static int child_err(const char *cgroup, enum op_kind kind, const char *ip, uint16_t port)
{
	struct op op = {.kind = kind, .ip = ip, .port = port};
	struct outcome o;

	child_run(cgroup, &op, &o);
	return o.err;
}

/* ---- fixture ---- */

static uint64_t counter(enum ambit_reason r)
{
	return capture_fixture_counter(&cf, r);
}

/* Loads the programs again behind the pinned links; @with_ip6: with ztunnel_ip6 set. */
static int datapath_reopen(bool with_ip6)
{
	memset(&cf.opts.ztunnel_ip6, 0, sizeof(cf.opts.ztunnel_ip6));
	if (with_ip6)
		cf.opts.ztunnel_ip6 = sa6(ZTUNNEL6_IP, 0).sin6_addr;
	return capture_fixture_reopen(&cf);
}

static int setup_all(void)
{
	const char *addrs[] = {ZTUNNEL6_IP, BACKEND1_IP6, BACKEND2_IP6, SERVER6_IP, POD6_IP};
	int fd;

	if (unshare(CLONE_NEWNET))
		return -1;
	harness_link_up_lo();
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++)
		if (harness_sh("ip -6 addr add %s/128 dev lo nodad", addrs[i]))
			return -1;
	if (harness_sh("ip addr add %s/32 dev lo", ZTUNNEL_IP))
		return -1;
	/* Ping sockets for root's group, in this netns only (the ICMPv6 case). */
	fd = open("/proc/sys/net/ipv4/ping_group_range", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0 0", 3) != 3)
		return -1;
	close(fd);
	cf.opts.ztunnel_ip = harness_ip4(ZTUNNEL_IP);
	cf.opts.ztunnel_ip6 = sa6(ZTUNNEL6_IP, 0).sin6_addr;
	if (capture_fixture_make(&cf, "test6", harness_ip4(POD_IP)))
		return -1;
	fx.ztunnel_fd = listen6(ZTUNNEL6_IP, AMBIT_PORT_OUTBOUND, SOCK_STREAM);
	fx.ztunnel4_fd = listen6("::ffff:" ZTUNNEL_IP, AMBIT_PORT_OUTBOUND, SOCK_STREAM);
	fx.dns_tcp_fd = listen6(ZTUNNEL6_IP, AMBIT_PORT_DNS, SOCK_STREAM);
	fx.dns_udp_fd = listen6(ZTUNNEL6_IP, AMBIT_PORT_DNS, SOCK_DGRAM);
	fx.backend_fd[0] = listen6(BACKEND1_IP6, BACKEND_PORT, SOCK_STREAM);
	fx.backend_fd[1] = listen6(BACKEND2_IP6, BACKEND_PORT, SOCK_STREAM);
	fx.inpod_fd = listen6(POD6_IP, AMBIT_PORT_OUTBOUND, SOCK_STREAM);
	return fx.ztunnel_fd < 0 || fx.ztunnel4_fd < 0 || fx.dns_tcp_fd < 0 || fx.dns_udp_fd < 0 ||
		       fx.backend_fd[0] < 0 || fx.backend_fd[1] < 0 || fx.inpod_fd < 0
		   ? -1
		   : 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int group_teardown(void **state)
{
	int err = capture_fixture_destroy(&cf);

	close_fd(&fx.ztunnel_fd);
	close_fd(&fx.ztunnel4_fd);
	close_fd(&fx.dns_tcp_fd);
	close_fd(&fx.dns_udp_fd);
	close_fd(&fx.backend_fd[0]);
	close_fd(&fx.backend_fd[1]);
	close_fd(&fx.inpod_fd);
	return err;
}

static int group_setup(void **state)
{
	if (setup_all() == 0)
		return 0;
	fprintf(stderr, "test_capture6: setup failed: %s\n", strerror(errno));
	group_teardown(state);
	return -1;
}

/*
 * Back to the group's state (the pod in host mode) with nothing left waiting, so a failed case
 * leaves the next ones their fixture.
 */
static int case_teardown(void **state)
{
	int fds[] = {fx.ztunnel_fd,    fx.ztunnel4_fd,	 fx.dns_tcp_fd,
		     fx.backend_fd[0], fx.backend_fd[1], fx.inpod_fd};
	char buf[64];
	int fd;

	capture_fixture_set_flags(&cf, 0);
	assert_int_equal(datapath_del_enrolled_ip6(cf.dp, cf.enrolled_id), 0);
	/* The sockets are non-blocking: these stop at an empty queue. */
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		while ((fd = accept4(fds[i], NULL, NULL, SOCK_CLOEXEC)) >= 0)
			close(fd);
	while (recv(fx.dns_udp_fd, buf, sizeof(buf), 0) >= 0)
		;
	return 0;
}

/* The same, and the programs loaded again with ztunnel_ip6 set. */
static int reopen_teardown(void **state)
{
	return datapath_reopen(true) ?: case_teardown(state);
}

/* ---- TCP ---- */

/*
 * The steered connection reached the listener @lfd from the child's socket, the application
 * still sees [@ip]:@port as its peer, and orig_dst6 held the record (AMBIT_ORIG_*) once.
 */
static void expect_steered6(int lfd, const struct outcome *o, const char *ip, uint16_t port)
{
	int orig_fd = datapath_map_fd(cf.dp, "orig_dst6");
	struct sockaddr_in6 peer, want = sa6(ip, port);
	struct ambit_orig_dst6 orig;
	int afd;

	assert_int_equal(o->err, 0);
	assert_addr6(&o->peer, ip, port); /* getpeername6 hid the rewrite */
	afd = accept6(lfd, &peer);
	assert_true(afd >= 0);
	close(afd);
	assert_memory_equal(&peer.sin6_addr, &o->local.sin6_addr, sizeof(peer.sin6_addr));
	assert_int_equal(peer.sin6_port, o->local.sin6_port);
	assert_int_equal(orig_dst6_take(orig_fd, &peer.sin6_addr, ntohs(peer.sin6_port), &orig), 0);
	assert_memory_equal(orig.ip6, &want.sin6_addr, sizeof(orig.ip6));
	assert_int_equal(orig.port, htons(port));
	assert_int_equal(orig.flags, AMBIT_ORIG_REDIRECTED);
	assert_int_equal(orig.cgroup, cf.enrolled_id);
	/* Taken means gone: a second ztunnel look-up must not find it. */
	assert_int_equal(orig_dst6_take(orig_fd, &peer.sin6_addr, ntohs(peer.sin6_port), &orig),
			 -ENOENT);
}

/* An enrolled pod's IPv6 connect goes to [ztunnel_ip6]:15001, from a container below it too. */
static void test_enrolled_redirected6(void **state)
{
	uint64_t before = counter(AMBIT_REDIRECT_OUTBOUND);
	struct op op = {.kind = OP_TCP, .ip = NOWHERE6_IP, .port = 80};
	struct outcome o;

	child_run(cf.cg_enrolled, &op, &o);
	expect_steered6(fx.ztunnel_fd, &o, NOWHERE6_IP, 80);
	op.port = 443;
	child_run(cf.cg_container, &op, &o);
	expect_steered6(fx.ztunnel_fd, &o, NOWHERE6_IP, 443);
	/* A port-53 connect of a pod opted out of DNS capture is an ordinary one. */
	capture_fixture_set_flags(&cf, AMBIT_ENROLLED_NO_DNS);
	op = (struct op){.kind = OP_TCP, .ip = SERVER6_IP, .port = 53};
	child_run(cf.cg_enrolled, &op, &o);
	expect_steered6(fx.ztunnel_fd, &o, SERVER6_IP, 53);
	assert_int_equal(counter(AMBIT_REDIRECT_OUTBOUND), before + 3);
	assert_true(capture_fixture_idle(fx.ztunnel4_fd) && capture_fixture_idle(fx.dns_tcp_fd));
}

/* ::ffff:a.b.c.d stays on the IPv4 path: the IPv4 ztunnel, orig_dst, nothing in orig_dst6. */
static void test_v4_mapped_stays_ipv4(void **state)
{
	struct op op = {.kind = OP_TCP, .ip = "::ffff:10.200.0.99", .port = 80};
	struct sockaddr_in6 peer;
	struct ambit_orig_dst orig;
	struct ambit_orig_dst6 orig6;
	struct outcome o;
	uint32_t ip;
	int afd;

	child_run(cf.cg_enrolled, &op, &o);
	assert_int_equal(o.err, 0);
	assert_addr6(&o.peer, "::ffff:10.200.0.99", 80);
	afd = accept6(fx.ztunnel4_fd, &peer);
	assert_true(afd >= 0);
	close(afd);
	assert_int_equal(peer.sin6_port, o.local.sin6_port);
	memcpy(&ip, &peer.sin6_addr.s6_addr[12], 4);
	assert_int_equal(
	    orig_dst_take(datapath_map_fd(cf.dp, "orig_dst"), ip, ntohs(peer.sin6_port), &orig), 0);
	assert_int_equal(orig.ip, harness_ip4("10.200.0.99"));
	assert_int_equal(orig_dst6_take(datapath_map_fd(cf.dp, "orig_dst6"), &peer.sin6_addr,
					ntohs(peer.sin6_port), &orig6),
			 -ENOENT);
	assert_true(capture_fixture_idle(fx.ztunnel_fd));
}

/* ::1, :: (which means it) and the ztunnel's own IPv6 are reached as named. */
static void test_loopback_and_ztunnel6_untouched(void **state)
{
	const char *ips[] = {"::1", "::", ZTUNNEL6_IP};
	uint64_t before = counter(AMBIT_REDIRECT_OUTBOUND);
	int lo_fd = listen6("::1", 18082, SOCK_STREAM);
	int zt_fd = listen6(ZTUNNEL6_IP, 18082, SOCK_STREAM);
	struct sockaddr_in6 peer;
	struct outcome o;

	assert_true(lo_fd >= 0 && zt_fd >= 0);
	for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
		struct op op = {.kind = OP_TCP, .ip = ips[i], .port = 18082};
		int afd;

		child_run(cf.cg_enrolled, &op, &o);
		assert_int_equal(o.err, 0);
		afd = accept6(i < 2 ? lo_fd : zt_fd, &peer);
		assert_true(afd >= 0);
		close(afd);
		assert_int_equal(peer.sin6_port, o.local.sin6_port);
	}
	close(lo_fd);
	close(zt_fd);
	assert_true(capture_fixture_idle(fx.ztunnel_fd));
	assert_int_equal(counter(AMBIT_REDIRECT_OUTBOUND), before);
}

/* The connection landed on one of the backends with getpeername6 showing [VIP6]:80. */
static void expect_backend6(const struct outcome *o)
{
	struct ambit_orig_dst6 orig;
	struct sockaddr_in6 peer;
	int i = ready_of(fx.backend_fd, 2);
	int afd;

	assert_int_equal(o->err, 0);
	assert_addr6(&o->peer, VIP6, 80);
	assert_true(i >= 0);
	afd = accept6(fx.backend_fd[i], &peer);
	assert_true(afd >= 0);
	close(afd);
	assert_int_equal(peer.sin6_port, o->local.sin6_port);
	/* Balanced in the kernel: nothing for the ztunnel. */
	assert_int_equal(orig_dst6_take(datapath_map_fd(cf.dp, "orig_dst6"), &peer.sin6_addr,
					ntohs(peer.sin6_port), &orig),
			 -ENOENT);
	assert_true(capture_fixture_idle(fx.ztunnel_fd));
}

static void test_service6_load_balanced(void **state)
{
	struct ambit_addr6 be[2] = {{.port = htons(BACKEND_PORT)}, {.port = htons(BACKEND_PORT)}};
	struct in6_addr vip = sa6(VIP6, 0).sin6_addr;
	struct op op = {.kind = OP_TCP, .ip = VIP6, .port = 80};
	uint64_t before = counter(AMBIT_SERVICE_LB);
	struct outcome o;

	assert_int_equal(inet_pton(AF_INET6, BACKEND1_IP6, be[0].ip6), 1);
	assert_int_equal(inet_pton(AF_INET6, BACKEND2_IP6, be[1].ip6), 1);
	assert_int_equal(datapath_set_service6(cf.dp, &vip, 80, 0, be, 1), 0);
	child_run(cf.cg_plain, &op, &o);
	expect_backend6(&o);
	assert_int_equal(counter(AMBIT_SERVICE_LB), before + 1);

	assert_int_equal(datapath_set_service6(cf.dp, &vip, 80, 0, be, 2), 0);
	for (int i = 0; i < 6; i++) {
		child_run(cf.cg_plain, &op, &o);
		expect_backend6(&o);
	}
	assert_int_equal(counter(AMBIT_SERVICE_LB), before + 7);

	/* An enrolled pod's VIP connect goes to the ztunnel, which does its own balancing. */
	child_run(cf.cg_enrolled, &op, &o);
	expect_steered6(fx.ztunnel_fd, &o, VIP6, 80);

	/* Another port of the VIP is no Service, nor is the VIP once deleted. */
	assert_int_equal(child_err(cf.cg_plain, OP_TCP, VIP6, 81), ENETUNREACH);
	assert_int_equal(datapath_del_service6(cf.dp, &vip, 80, 0), 0);
	assert_int_equal(child_err(cf.cg_plain, OP_TCP, VIP6, 80), ENETUNREACH);
	assert_int_equal(counter(AMBIT_SERVICE_LB), before + 7);
}

/* ---- UDP Services at an IPv6 VIP (capture_udp_lb6), as test_capture's over IPv4 ---- */

#define UDP_PORT 9053

static bool is_vip6(const struct sockaddr_in6 *a)
{
	struct sockaddr_in6 want = sa6(VIP6, UDP_PORT);

	return !memcmp(&a->sin6_addr, &want.sin6_addr, 16) && a->sin6_port == want.sin6_port;
}

/* Which backend got the client's datagram (0 or 1; -1: none in 2 s), answered where it came from.
 */
static int udp6_serve(const int be[2])
{
	struct sockaddr_in6 from;
	socklen_t len = sizeof(from);
	char buf[64];
	int i = ready_of(be, 2);
	ssize_t n;

	if (i < 0)
		return -1;
	n = recvfrom(be[i], buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
	if (n <= 0 || sendto(be[i], buf, (size_t)n, 0, (struct sockaddr *)&from, len) != n)
		return -1;
	return i;
}

/* The answer on @fd within 2 s came from the VIP. */
static bool udp6_answer_from_vip(int fd)
{
	struct sockaddr_in6 from;
	socklen_t len = sizeof(from);
	char buf[64];

	return ready_of(&fd, 1) == 0 &&
	       recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len) > 0 &&
	       is_vip6(&from);
}

/* The client, in a child in @cgroup (the step that failed as its exit code; 0: none). */
static int udp6_client(const char *cgroup)
{
	struct sockaddr_in6 vip = sa6(VIP6, UDP_PORT), peer;
	struct in6_addr vaddr = vip.sin6_addr;
	struct ambit_addr6 one = {.port = htons(UDP_PORT)};
	int be[2], fd, first;
	socklen_t len = sizeof(peer);

	/* Its backends are its own, bound before it joined the pods' cgroup. */
	be[0] = listen6(BACKEND1_IP6, UDP_PORT, SOCK_DGRAM);
	be[1] = listen6(BACKEND2_IP6, UDP_PORT, SOCK_DGRAM);
	if (be[0] < 0 || be[1] < 0 || capture_fixture_join(cgroup))
		return 2;
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sendto(fd, "a", 1, 0, (struct sockaddr *)&vip, sizeof(vip)) != 1)
		return 3;
	first = udp6_serve(be);
	if (first < 0 || !udp6_answer_from_vip(fd))
		return 4;
	for (int i = 0; i < 8; i++)
		if (sendto(fd, "b", 1, 0, (struct sockaddr *)&vip, sizeof(vip)) != 1 ||
		    udp6_serve(be) != first || !udp6_answer_from_vip(fd))
			return 5;
	/* Its backend gone from the Service: the next datagram goes to the other. */
	if (inet_pton(AF_INET6, first ? BACKEND1_IP6 : BACKEND2_IP6, one.ip6) != 1 ||
	    datapath_set_service6(cf.dp, &vaddr, UDP_PORT, IPPROTO_UDP, &one, 1) ||
	    sendto(fd, "c", 1, 0, (struct sockaddr *)&vip, sizeof(vip)) != 1 ||
	    udp6_serve(be) != !first || !udp6_answer_from_vip(fd))
		return 6;
	close(fd);
	/* Connected: its peer is the VIP, and so is the answer's source. */
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (connect(fd, (struct sockaddr *)&vip, sizeof(vip)) ||
	    getpeername(fd, (struct sockaddr *)&peer, &len) || !is_vip6(&peer))
		return 7;
	if (send(fd, "d", 1, 0) != 1 || udp6_serve(be) != !first || !udp6_answer_from_vip(fd))
		return 8;
	close(fd);
	/* No backend: refused. */
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (datapath_set_service6(cf.dp, &vaddr, UDP_PORT, IPPROTO_UDP, NULL, 0) ||
	    sendto(fd, "e", 1, 0, (struct sockaddr *)&vip, sizeof(vip)) != -1 || errno != EPERM)
		return 9;
	return 0;
}

static void udp6_case(const char *cgroup)
{
	struct ambit_addr6 be[2] = {{.port = htons(UDP_PORT)}, {.port = htons(UDP_PORT)}};
	struct in6_addr vip = sa6(VIP6, 0).sin6_addr;
	uint64_t before = counter(AMBIT_SERVICE_LB);
	int status;
	pid_t pid;

	assert_int_equal(inet_pton(AF_INET6, BACKEND1_IP6, be[0].ip6), 1);
	assert_int_equal(inet_pton(AF_INET6, BACKEND2_IP6, be[1].ip6), 1);
	assert_int_equal(datapath_set_service6(cf.dp, &vip, UDP_PORT, IPPROTO_UDP, be, 2), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(udp6_client(cgroup));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status))
		fail_msg("UDP client in %s: step %d failed", cgroup, WEXITSTATUS(status));
	/* Flows: the first pin, its re-pick, the connected socket's. */
	assert_int_equal(counter(AMBIT_SERVICE_LB), before + 3);
	assert_int_equal(datapath_del_service6(cf.dp, &vip, UDP_PORT, IPPROTO_UDP), 0);
}

/* From a pod outside the mesh and from an enrolled one alike. */
static void test_udp_service6_load_balanced(void **state)
{
	udp6_case(cf.cg_plain);
	udp6_case(cf.cg_enrolled);
}

/*
 * MPTCP: connect6 runs on the first subflow (a TCP socket of its own), getpeername6 on the
 * MPTCP socket the application holds: steered as TCP, and the application is still shown where
 * it meant to go; a VIP balanced in the kernel shows as the VIP.
 */
static void test_mptcp6(void **state)
{
	struct ambit_addr6 be = {.port = htons(BACKEND_PORT)};
	struct in6_addr vip = sa6(VIP6, 0).sin6_addr;
	struct op op = {.kind = OP_MPTCP, .ip = NOWHERE6_IP, .port = 8443};
	struct outcome o;

	child_run(cf.cg_enrolled, &op, &o);
	expect_steered6(fx.ztunnel_fd, &o, NOWHERE6_IP, 8443);
	assert_int_equal(inet_pton(AF_INET6, BACKEND1_IP6, be.ip6), 1);
	assert_int_equal(datapath_set_service6(cf.dp, &vip, 80, 0, &be, 1), 0);
	op = (struct op){.kind = OP_MPTCP, .ip = VIP6, .port = 80};
	child_run(cf.cg_plain, &op, &o);
	expect_backend6(&o);
	assert_int_equal(datapath_del_service6(cf.dp, &vip, 80, 0), 0);
}

static void test_service6_without_backends_refused(void **state)
{
	struct in6_addr vip = sa6(VIP6, 0).sin6_addr;
	uint64_t before = counter(AMBIT_DROP_NO_BACKEND);

	assert_int_equal(datapath_set_service6(cf.dp, &vip, 80, 0, NULL, 0), 0);
	assert_int_equal(child_err(cf.cg_plain, OP_TCP, VIP6, 80), EPERM);
	assert_int_equal(counter(AMBIT_DROP_NO_BACKEND), before + 1);
	assert_string_equal(ambit_reason_name(AMBIT_DROP_NO_BACKEND), "drop_no_backend");
	assert_int_equal(datapath_del_service6(cf.dp, &vip, 80, 0), 0);
}

/* ---- DNS ---- */

/*
 * The proxy's side of a UDP query: the child's datagram reached [ZTUNNEL6_IP]:15053 from its own
 * socket, and the answer goes back from there.
 */
static void answer_query(void)
{
	struct sockaddr_in6 src;
	socklen_t len = sizeof(src);
	char q[8];

	assert_int_equal(ready_of(&fx.dns_udp_fd, 1), 0);
	assert_int_equal(recvfrom(fx.dns_udp_fd, q, sizeof(q), 0, (struct sockaddr *)&src, &len),
			 1);
	assert_int_equal(q[0], 'q');
	assert_int_equal(sendto(fx.dns_udp_fd, "a", 1, 0, (struct sockaddr *)&src, len), 1);
}

/*
 * UDP to [DNS6_IP]:53 by sendto and by connect+send: to the proxy, answered "from" the server.
 * The socket connected elsewhere after shows that peer, not the server it asked before.
 */
static void test_dns6_udp_steered(void **state)
{
	enum op_kind kinds[] = {OP_UDP_SENDTO, OP_UDP_CONNECT};
	uint64_t before = counter(AMBIT_REDIRECT_DNS);

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		struct op op = {.kind = kinds[i],
				.ip = DNS6_IP,
				.port = 53,
				.answer = true,
				.then_ip = SERVER6_IP,
				.then_port = 5353};
		struct outcome o;
		int rfd;
		pid_t pid = child_start(cf.cg_enrolled, &op, &rfd);

		answer_query();
		child_end(pid, rfd, &o);
		assert_int_equal(o.err, 0);
		assert_string_equal(o.answer, "a");
		assert_addr6(&o.from, DNS6_IP, 53); /* recvmsg6 */
		if (kinds[i] == OP_UDP_CONNECT)
			assert_addr6(&o.peer, DNS6_IP, 53); /* getpeername6 */
		assert_addr6(&o.peer_after, SERVER6_IP, 5353);
	}
	assert_int_equal(counter(AMBIT_REDIRECT_DNS), before + 2);
}

/* TCP to port 53: to the proxy's 15053, shown as the server, with no record for the 15001 side. */
static void test_dns6_tcp_steered(void **state)
{
	struct op op = {.kind = OP_TCP, .ip = DNS6_IP, .port = 53};
	uint64_t before = counter(AMBIT_REDIRECT_DNS);
	struct ambit_orig_dst6 orig;
	struct sockaddr_in6 peer;
	struct outcome o;
	int afd;

	child_run(cf.cg_enrolled, &op, &o);
	assert_int_equal(o.err, 0);
	assert_addr6(&o.peer, DNS6_IP, 53);
	afd = accept6(fx.dns_tcp_fd, &peer);
	assert_true(afd >= 0);
	close(afd);
	assert_int_equal(peer.sin6_port, o.local.sin6_port);
	assert_int_equal(orig_dst6_take(datapath_map_fd(cf.dp, "orig_dst6"), &peer.sin6_addr,
					ntohs(peer.sin6_port), &orig),
			 -ENOENT);
	assert_true(capture_fixture_idle(fx.ztunnel_fd));
	assert_int_equal(counter(AMBIT_REDIRECT_DNS), before + 1);
}

/*
 * A pod opted out (dns-capture: "false"), and a pod not enrolled, ask the server they name; so
 * does an enrolled pod's UDP to another port.
 */
static void test_dns6_left_alone(void **state)
{
	int srv = listen6(SERVER6_IP, 53, SOCK_DGRAM);
	int other = listen6(SERVER6_IP, 5353, SOCK_DGRAM);
	uint64_t before = counter(AMBIT_REDIRECT_DNS);
	char q;

	assert_true(srv >= 0 && other >= 0);
	capture_fixture_set_flags(&cf, AMBIT_ENROLLED_NO_DNS);
	assert_int_equal(child_err(cf.cg_enrolled, OP_UDP_SENDTO, SERVER6_IP, 53), 0);
	assert_int_equal(ready_of(&srv, 1), 0);
	assert_int_equal(recv(srv, &q, 1, 0), 1);
	assert_int_equal(child_err(cf.cg_plain, OP_UDP_SENDTO, SERVER6_IP, 53), 0);
	assert_int_equal(ready_of(&srv, 1), 0);
	assert_int_equal(recv(srv, &q, 1, 0), 1);
	capture_fixture_set_flags(&cf, 0);
	assert_int_equal(child_err(cf.cg_enrolled, OP_UDP_SENDTO, SERVER6_IP, 5353), 0);
	assert_int_equal(ready_of(&other, 1), 0);
	close(srv);
	close(other);
	assert_true(capture_fixture_idle(fx.dns_udp_fd));
	assert_int_equal(counter(AMBIT_REDIRECT_DNS), before);
}

/* ---- refusals ---- */

/*
 * A node without IPv6 (ztunnel_ip6 all zero) refuses an enrolled pod's native IPv6 (EPERM,
 * counted), DNS included: a happy-eyeballs client falls back to IPv4. Loopback, ICMPv6 and
 * every pod that is not enrolled still work.
 */
static void test_refused_without_ztunnel6(void **state)
{
	uint64_t before;
	int lfd = listen6(SERVER6_IP, 18081, SOCK_STREAM);
	int lo_fd = listen6("::1", 18082, SOCK_STREAM);

	assert_true(lfd >= 0 && lo_fd >= 0);
	assert_int_equal(datapath_reopen(false), 0);
	before = counter(AMBIT_DROP_IPV6_UNSUPPORTED);
	assert_int_equal(child_err(cf.cg_enrolled, OP_TCP, SERVER6_IP, 18081), EPERM);
	assert_int_equal(child_err(cf.cg_container, OP_TCP, SERVER6_IP, 18081), EPERM);
	assert_int_equal(child_err(cf.cg_enrolled, OP_UDP_CONNECT, SERVER6_IP, 18081), EPERM);
	assert_int_equal(child_err(cf.cg_enrolled, OP_UDP_SENDTO, SERVER6_IP, 18081), EPERM);
	assert_int_equal(child_err(cf.cg_enrolled, OP_UDP_SENDTO, DNS6_IP, 53), EPERM);
	assert_int_equal(child_err(cf.cg_enrolled, OP_TCP, DNS6_IP, 53), EPERM);
	assert_int_equal(child_err(cf.cg_enrolled, OP_TCP, "fe80::1", 18081), EPERM);
	assert_int_equal(counter(AMBIT_DROP_IPV6_UNSUPPORTED), before + 7);

	assert_int_equal(child_err(cf.cg_enrolled, OP_TCP, "::1", 18082), 0);
	assert_int_equal(child_err(cf.cg_enrolled, OP_UDP_SENDTO, "::1", 18082), 0);
	assert_int_equal(child_err(cf.cg_enrolled, OP_PING, SERVER6_IP, 0), 0);
	assert_int_equal(child_err(cf.cg_plain, OP_TCP, SERVER6_IP, 18081), 0);
	assert_int_equal(child_err(cf.cg_plain, OP_UDP_SENDTO, SERVER6_IP, 18081), 0);
	assert_int_equal(counter(AMBIT_DROP_IPV6_UNSUPPORTED), before + 7);
	assert_true(capture_fixture_idle(fx.ztunnel_fd));
	assert_true(capture_fixture_idle(fx.dns_udp_fd));
	close(lfd);
	close(lo_fd);
	assert_string_equal(ambit_reason_name(AMBIT_DROP_IPV6_UNSUPPORTED),
			    "drop_ipv6_unsupported");
}

/* ---- in-pod capture (bridge CNIs) ---- */

static void set_inpod6(void)
{
	struct in6_addr own = sa6(POD6_IP, 0).sin6_addr;

	capture_fixture_set_flags(&cf, AMBIT_ENROLLED_INPOD);
	assert_int_equal(datapath_set_enrolled_ip6(cf.dp, cf.enrolled_id, &own), 0);
}

/*
 * A pod captured in-pod with its IPv6 in enrolled_ip6: its IPv6 TCP goes to the ztunnel's
 * listener in its own netns, [its IPv6]:15001, from a container below it too, with the record
 * in orig_dst6 under the client socket's address (the pod's IPv6: where the ztunnel looks it
 * up); never to the node's ztunnel. Its DNS goes to the node's proxy, over IPv6 as over IPv4.
 */
static void test_inpod_redirected6(void **state)
{
	uint64_t before = counter(AMBIT_REDIRECT_OUTBOUND), dns = counter(AMBIT_REDIRECT_DNS);
	struct op op = {.kind = OP_TCP, .ip = NOWHERE6_IP, .port = 80};
	struct outcome o;
	int rfd;
	pid_t pid;

	set_inpod6();
	child_run(cf.cg_enrolled, &op, &o);
	expect_steered6(fx.inpod_fd, &o, NOWHERE6_IP, 80);
	assert_addr6(&o.local, POD6_IP, ntohs(o.local.sin6_port));
	op.port = 443;
	child_run(cf.cg_container, &op, &o);
	expect_steered6(fx.inpod_fd, &o, NOWHERE6_IP, 443);
	/* The pod's own IPv6 as a destination is steered as any other, as over IPv4. */
	op = (struct op){.kind = OP_TCP, .ip = POD6_IP, .port = 8443};
	child_run(cf.cg_enrolled, &op, &o);
	expect_steered6(fx.inpod_fd, &o, POD6_IP, 8443);
	assert_int_equal(counter(AMBIT_REDIRECT_OUTBOUND), before + 3);
	assert_true(capture_fixture_idle(fx.ztunnel_fd));

	/* DNS: UDP and TCP to the node's proxy ([ztunnel_ip6]:15053), shown from the server. */
	op = (struct op){.kind = OP_UDP_SENDTO, .ip = DNS6_IP, .port = 53, .answer = true};
	pid = child_start(cf.cg_enrolled, &op, &rfd);
	answer_query();
	child_end(pid, rfd, &o);
	assert_int_equal(o.err, 0);
	assert_string_equal(o.answer, "a");
	assert_addr6(&o.from, DNS6_IP, 53);
	op = (struct op){.kind = OP_TCP, .ip = DNS6_IP, .port = 53};
	child_run(cf.cg_enrolled, &op, &o);
	assert_int_equal(o.err, 0);
	assert_addr6(&o.peer, DNS6_IP, 53);
	assert_true(!capture_fixture_idle(fx.dns_tcp_fd));
	assert_int_equal(counter(AMBIT_REDIRECT_DNS), dns + 2);
	assert_true(capture_fixture_idle(fx.inpod_fd));
	assert_int_equal(counter(AMBIT_REDIRECT_OUTBOUND), before + 3);
}

/* enrolled_ip6 counts only with the in-pod flag: a pod captured on the node goes there. */
static void test_inpod_ip6_needs_flag(void **state)
{
	struct op op = {.kind = OP_TCP, .ip = NOWHERE6_IP, .port = 80};
	struct outcome o;

	set_inpod6();
	capture_fixture_set_flags(&cf, 0);
	child_run(cf.cg_enrolled, &op, &o);
	expect_steered6(fx.ztunnel_fd, &o, NOWHERE6_IP, 80);
	assert_true(capture_fixture_idle(fx.inpod_fd));
}

/*
 * A pod captured in-pod without its IPv6 in enrolled_ip6 (no in-pod listener of that family to
 * steer to) keeps the refusal; so does one with it on a node without IPv6.
 */
static void test_inpod_refused(void **state)
{
	uint64_t before = counter(AMBIT_DROP_IPV6_UNSUPPORTED);
	struct in6_addr other = sa6(SERVER6_IP, 0).sin6_addr;

	capture_fixture_set_flags(&cf, AMBIT_ENROLLED_INPOD);
	assert_int_equal(child_err(cf.cg_enrolled, OP_TCP, NOWHERE6_IP, 80), EPERM);
	assert_int_equal(child_err(cf.cg_enrolled, OP_UDP_SENDTO, DNS6_IP, 53), EPERM);
	assert_int_equal(child_err(cf.cg_enrolled, OP_PING, SERVER6_IP, 0), 0);
	assert_int_equal(counter(AMBIT_DROP_IPV6_UNSUPPORTED), before + 2);
	/* Another pod's IPv6 is not this one's. */
	assert_int_equal(datapath_set_enrolled_ip6(cf.dp, cf.enrolled_id + 1000, &other), 0);
	assert_int_equal(child_err(cf.cg_enrolled, OP_TCP, NOWHERE6_IP, 80), EPERM);
	assert_int_equal(datapath_del_enrolled_ip6(cf.dp, cf.enrolled_id + 1000), 0);
	assert_int_equal(counter(AMBIT_DROP_IPV6_UNSUPPORTED), before + 3);

	set_inpod6();
	assert_int_equal(datapath_reopen(false), 0);
	assert_int_equal(child_err(cf.cg_enrolled, OP_TCP, NOWHERE6_IP, 80), EPERM);
	assert_int_equal(counter(AMBIT_DROP_IPV6_UNSUPPORTED), before + 4);
	assert_true(capture_fixture_idle(fx.ztunnel_fd));
	assert_true(capture_fixture_idle(fx.inpod_fd));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_enrolled_redirected6, case_teardown),
	    cmocka_unit_test_teardown(test_mptcp6, case_teardown),
	    cmocka_unit_test_teardown(test_v4_mapped_stays_ipv4, case_teardown),
	    cmocka_unit_test_teardown(test_loopback_and_ztunnel6_untouched, case_teardown),
	    cmocka_unit_test_teardown(test_service6_load_balanced, case_teardown),
	    cmocka_unit_test_teardown(test_service6_without_backends_refused, case_teardown),
	    cmocka_unit_test_teardown(test_udp_service6_load_balanced, case_teardown),
	    cmocka_unit_test_teardown(test_dns6_udp_steered, case_teardown),
	    cmocka_unit_test_teardown(test_dns6_tcp_steered, case_teardown),
	    cmocka_unit_test_teardown(test_dns6_left_alone, case_teardown),
	    cmocka_unit_test_teardown(test_refused_without_ztunnel6, reopen_teardown),
	    cmocka_unit_test_teardown(test_inpod_redirected6, case_teardown),
	    cmocka_unit_test_teardown(test_inpod_ip6_needs_flag, case_teardown),
	    cmocka_unit_test_teardown(test_inpod_refused, reopen_teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_capture6: needs root (BPF, cgroups, netns), skipping\n");
		return 77;
	}
	log_init("test_capture6", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
