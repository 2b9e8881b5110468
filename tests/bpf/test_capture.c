// SPDX-License-Identifier: Apache-2.0
/*
 * The cgroup programs (bpf/capture.bpf.c) for real: datapath_open() loads and attaches them to a
 * private cgroup, and forked children placed in its sub-cgroups connect. Everything runs in a
 * private netns (it dies with the process) where 10.200.0.0/24 is local on lo, so listeners can
 * stand in for the ztunnel (10.200.0.1:15001), for an in-pod ztunnel's listener at the enrolled
 * pod's own address (10.200.0.10:15001) and for service backends. Native IPv6 destinations are
 * test_capture6.c's. Pins live in /sys/fs/bpf/ambit-test-<pid>, cgroups in
 * <cg2>/ambit-test-<pid>; both are removed in teardown, also when setup fails half way.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <limits.h>
#include <stdbool.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ambit/datapath.h"
#include "../lib/capture_fixture.h"
#include "../lib/harness.h"
#include "ambit/log.h"

#define ZTUNNEL_IP "10.200.0.1"
#define POD_IP "10.200.0.10" /* the enrolled pod's */
#define BACKEND1_IP "10.200.0.2"
#define BACKEND2_IP "10.200.0.3"
#define BACKEND_PORT 8080

static struct capture_fixture cf;

struct fixture {
	int ztunnel_fd;
	int backend1_fd;
	int backend2_fd;
	int pod_fd; /* POD_IP:15001, during the in-pod cases */
};

static struct fixture fx = {.ztunnel_fd = -1, .backend1_fd = -1, .backend2_fd = -1, .pod_fd = -1};

struct child_result {
	int connect_errno; /* 0 when connect() succeeded */
	struct sockaddr_in local;
	struct sockaddr_in peer; /* what getpeername() told the application */
};

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		abort();
	return a.s_addr;
}

static int listen_on(const char *ip, uint16_t port)
{
	struct sockaddr_in a = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = ip4(ip)};
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 64)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Accepts one connection within 2 s; returns its fd and the peer address, or -1. */
static int accept_one(int lfd, struct sockaddr_in *peer)
{
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	socklen_t len = sizeof(*peer);

	if (poll(&p, 1, 2000) != 1)
		return -1;
	return accept4(lfd, (struct sockaddr *)peer, &len, SOCK_CLOEXEC);
}

/* Forks a child that joins @cgroup, connects to @ip:@port and reports what it saw. */
/* The child connects from a dual-stack IPv6 socket to ::ffff:ip (gRPC's, Java's way). */
static bool child_v6;
/* The child's socket's protocol: 0 (TCP), or IPPROTO_MPTCP. */
static int child_proto;
/* run_child's socket type (IPv4): SOCK_STREAM, or SOCK_DGRAM for a UDP connect. */
static int child_type = SOCK_STREAM;

/* A v4-mapped IPv6 socket address as the IPv4 one it stands for. */
static void unmap(const struct sockaddr_in6 *a6, struct sockaddr_in *a)
{
	a->sin_family = AF_INET;
	a->sin_port = a6->sin6_port;
	memcpy(&a->sin_addr, &a6->sin6_addr.s6_addr[12], 4);
}

static int child_connect(const char *ip, uint16_t port, struct child_result *r)
{
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)}, l6, p6;
	uint32_t v4 = ip4(ip);
	socklen_t len;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, child_proto);

	if (fd < 0)
		return -1;
	a6.sin6_addr.s6_addr[10] = 0xff;
	a6.sin6_addr.s6_addr[11] = 0xff;
	memcpy(&a6.sin6_addr.s6_addr[12], &v4, 4);
	if (connect(fd, (struct sockaddr *)&a6, sizeof(a6))) {
		r->connect_errno = errno;
		return fd;
	}
	len = sizeof(l6);
	getsockname(fd, (struct sockaddr *)&l6, &len);
	unmap(&l6, &r->local);
	len = sizeof(p6);
	getpeername(fd, (struct sockaddr *)&p6, &len);
	unmap(&p6, &r->peer);
	return fd;
}

static void run_child(const char *cgroup, const char *ip, uint16_t port, struct child_result *res)
{
	int pipefd[2];
	int status;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_in a = {
		    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = ip4(ip)};
		struct child_result r = {0};
		socklen_t len;
		int fd;

		close(pipefd[0]);
		/* The socket must be created after the move: it records its cgroup at birth. */
		if (capture_fixture_join(cgroup))
			_exit(2);
		if (child_v6) {
			if (child_connect(ip, port, &r) < 0)
				_exit(3);
			if (write(pipefd[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
				_exit(4);
			_exit(0);
		}
		fd = socket(AF_INET, child_type | SOCK_CLOEXEC, child_proto);
		if (fd < 0)
			_exit(3);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
			r.connect_errno = errno;
		} else {
			len = sizeof(r.local);
			getsockname(fd, (struct sockaddr *)&r.local, &len);
			len = sizeof(r.peer);
			getpeername(fd, (struct sockaddr *)&r.peer, &len);
		}
		if (write(pipefd[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(4);
		_exit(0);
	}
	close(pipefd[1]);
	assert_int_equal(read(pipefd[0], res, sizeof(*res)), (ssize_t)sizeof(*res));
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static uint64_t counter(enum ambit_reason r)
{
	return capture_fixture_counter(&cf, r);
}

static void assert_addr(const struct sockaddr_in *a, const char *ip, uint16_t port)
{
	assert_int_equal(a->sin_addr.s_addr, ip4(ip));
	assert_int_equal(ntohs(a->sin_port), port);
}

static int setup_all(void)
{
	if (unshare(CLONE_NEWNET))
		return -1;
	harness_link_up_lo();
	/* The whole /24 becomes local, so any address in it can be bound and connected. */
	if (system("ip route add local 10.200.0.0/24 dev lo"))
		return -1;
	cf.opts.ztunnel_ip = ip4(ZTUNNEL_IP);
	if (capture_fixture_make(&cf, "test", ip4(POD_IP)))
		return -1;
	fx.ztunnel_fd = listen_on(ZTUNNEL_IP, AMBIT_PORT_OUTBOUND);
	fx.backend1_fd = listen_on(BACKEND1_IP, BACKEND_PORT);
	fx.backend2_fd = listen_on(BACKEND2_IP, BACKEND_PORT);
	return fx.ztunnel_fd < 0 || fx.backend1_fd < 0 || fx.backend2_fd < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
	int err = capture_fixture_destroy(&cf);

	if (fx.ztunnel_fd >= 0)
		close(fx.ztunnel_fd);
	if (fx.backend1_fd >= 0)
		close(fx.backend1_fd);
	if (fx.backend2_fd >= 0)
		close(fx.backend2_fd);
	fx.ztunnel_fd = fx.backend1_fd = fx.backend2_fd = -1;
	return err;
}

static int group_setup(void **state)
{
	if (setup_all() == 0)
		return 0;
	fprintf(stderr, "test_capture: setup failed: %s\n", strerror(errno));
	group_teardown(state);
	return -1;
}

/*
 * Checks that a redirected connection reached the listener @lfd (a ztunnel's 15001) with its
 * original destination.
 */
static void expect_redirected_to(int lfd, const struct child_result *r, const char *ip,
				 uint16_t port)
{
	struct ambit_orig_dst orig;
	struct sockaddr_in peer;
	int orig_fd = datapath_map_fd(cf.dp, "orig_dst");
	int afd;

	assert_int_equal(r->connect_errno, 0);
	assert_addr(&r->peer, ip, port); /* getpeername4 hid the rewrite */
	afd = accept_one(lfd, &peer);
	assert_true(afd >= 0);
	close(afd);
	assert_int_equal(peer.sin_addr.s_addr, r->local.sin_addr.s_addr);
	assert_int_equal(peer.sin_port, r->local.sin_port);
	assert_int_equal(orig_dst_take(orig_fd, peer.sin_addr.s_addr, ntohs(peer.sin_port), &orig),
			 0);
	assert_int_equal(orig.ip, ip4(ip));
	assert_int_equal(orig.port, htons(port));
	assert_int_equal(orig.flags, AMBIT_ORIG_REDIRECTED);
	assert_int_equal(orig.cgroup, cf.enrolled_id);
	/* Taken means gone: a second ztunnel look-up must not find it. */
	assert_int_equal(orig_dst_take(orig_fd, peer.sin_addr.s_addr, ntohs(peer.sin_port), &orig),
			 -ENOENT);
}

/* ... to the node's ztunnel. */
static void expect_redirected(const struct child_result *r, const char *ip, uint16_t port)
{
	expect_redirected_to(fx.ztunnel_fd, r, ip, port);
}

static void test_enrolled_redirected_to_ztunnel(void **state)
{
	uint64_t before = counter(AMBIT_REDIRECT_OUTBOUND);
	struct child_result r;

	run_child(cf.cg_enrolled, "10.200.0.99", 80, &r);
	expect_redirected(&r, "10.200.0.99", 80);
	assert_int_equal(counter(AMBIT_REDIRECT_OUTBOUND), before + 1);
}

/*
 * A process in a cgroup below the enrolled one (a container below its pod's cgroup, as the
 * kubelet lays them out) is captured as the pod, and the record names the pod's cgroup.
 */
static void test_enrolled_descendant_redirected(void **state)
{
	uint64_t before = counter(AMBIT_REDIRECT_OUTBOUND);
	struct child_result r;

	run_child(cf.cg_container, "10.200.0.97", 81, &r);
	expect_redirected(&r, "10.200.0.97", 81);
	assert_int_equal(counter(AMBIT_REDIRECT_OUTBOUND), before + 1);
}

/* A dual-stack socket naming the destination ::ffff:a.b.c.d is captured the same way. */
static void test_enrolled_v4_mapped_redirected(void **state)
{
	uint64_t before = counter(AMBIT_REDIRECT_OUTBOUND);
	struct child_result r;

	child_v6 = true;
	run_child(cf.cg_enrolled, "10.200.0.98", 8080, &r);
	child_v6 = false;
	expect_redirected(&r, "10.200.0.98", 8080);
	assert_int_equal(counter(AMBIT_REDIRECT_OUTBOUND), before + 1);
}

/*
 * MPTCP (socket(..., IPPROTO_MPTCP)): connect() runs the hook on the first subflow, a TCP
 * socket of its own, getpeername() on the MPTCP socket the application holds. Captured as TCP,
 * and the application still sees where it meant to go, from an IPv4 socket and a dual-stack
 * one.
 */
static void test_enrolled_mptcp_redirected(void **state)
{
	uint64_t before = counter(AMBIT_REDIRECT_OUTBOUND);
	struct child_result r;

	child_proto = IPPROTO_MPTCP;
	run_child(cf.cg_enrolled, "10.200.0.96", 8081, &r);
	expect_redirected(&r, "10.200.0.96", 8081);
	child_v6 = true;
	run_child(cf.cg_enrolled, "10.200.0.95", 8082, &r);
	child_v6 = false;
	child_proto = 0;
	expect_redirected(&r, "10.200.0.95", 8082);
	assert_int_equal(counter(AMBIT_REDIRECT_OUTBOUND), before + 2);
}

/* The in-pod cases listen at the pod's own 15001, as the ztunnel does inside the pod's netns. */
static int inpod_setup(void **state)
{
	fx.pod_fd = listen_on(POD_IP, AMBIT_PORT_OUTBOUND);
	return fx.pod_fd < 0 ? -1 : 0;
}

/*
 * Back to host mode (flags 0), with nothing left waiting at the node's ztunnel, so a failed case
 * leaves the next ones their fixture.
 */
static int inpod_teardown(void **state)
{
	int fd;

	capture_fixture_set_flags(&cf, 0);

	/* The listener is non-blocking: this stops at an empty queue. */
	while ((fd = accept4(fx.ztunnel_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(fd);
	child_v6 = false;
	if (fx.pod_fd >= 0)
		close(fx.pod_fd);
	fx.pod_fd = -1;
	return 0;
}

/*
 * In-pod: connect4/connect6 send an enrolled pod to pod_ip:15001, where the ztunnel listens in
 * the pod's own netns, with the same records as in host mode; the node's ztunnel sees nothing.
 */
static void test_inpod_redirected_to_pod_ip(void **state)
{
	uint64_t before = counter(AMBIT_REDIRECT_OUTBOUND);
	struct child_result r;

	capture_fixture_set_flags(&cf, AMBIT_ENROLLED_INPOD);
	run_child(cf.cg_enrolled, "10.200.0.99", 80, &r);
	expect_redirected_to(fx.pod_fd, &r, "10.200.0.99", 80);
	/* A container below the pod's cgroup, and a dual-stack socket, alike. */
	run_child(cf.cg_container, "10.200.0.97", 81, &r);
	expect_redirected_to(fx.pod_fd, &r, "10.200.0.97", 81);
	child_v6 = true;
	run_child(cf.cg_enrolled, "10.200.0.98", 8080, &r);
	child_v6 = false;
	expect_redirected_to(fx.pod_fd, &r, "10.200.0.98", 8080);
	assert_true(capture_fixture_idle(fx.ztunnel_fd));
	assert_int_equal(counter(AMBIT_REDIRECT_OUTBOUND), before + 3);
}

/* Without the in-pod flag (whatever other bits say) the connect goes to the node's ztunnel. */
static void test_not_inpod_redirected_to_ztunnel(void **state)
{
	uint64_t before = counter(AMBIT_REDIRECT_OUTBOUND);
	struct child_result r;

	capture_fixture_set_flags(&cf, 0);
	run_child(cf.cg_enrolled, "10.200.0.99", 80, &r);
	expect_redirected(&r, "10.200.0.99", 80);
	capture_fixture_set_flags(&cf, ~AMBIT_ENROLLED_INPOD);
	child_v6 = true;
	run_child(cf.cg_container, "10.200.0.98", 8080, &r);
	child_v6 = false;
	expect_redirected(&r, "10.200.0.98", 8080);
	assert_true(capture_fixture_idle(fx.pod_fd));
	assert_int_equal(counter(AMBIT_REDIRECT_OUTBOUND), before + 2);
}

static void test_enrolled_loopback_untouched(void **state)
{
	uint64_t before = counter(AMBIT_REDIRECT_OUTBOUND);
	struct sockaddr_in peer;
	struct child_result r;
	int lfd = listen_on("127.0.0.1", 18080);
	int afd;

	assert_true(lfd >= 0);
	run_child(cf.cg_enrolled, "127.0.0.1", 18080, &r);
	assert_int_equal(r.connect_errno, 0);
	assert_addr(&r.peer, "127.0.0.1", 18080);
	afd = accept_one(lfd, &peer);
	assert_true(afd >= 0);
	close(afd);
	close(lfd);
	assert_true(capture_fixture_idle(fx.ztunnel_fd));
	assert_int_equal(counter(AMBIT_REDIRECT_OUTBOUND), before);
}

static void test_not_enrolled_untouched(void **state)
{
	struct child_result r;

	/* Nothing listens on 10.200.0.99:80 and no program may send it to the ztunnel. */
	run_child(cf.cg_plain, "10.200.0.99", 80, &r);
	assert_int_equal(r.connect_errno, ECONNREFUSED);
	assert_true(capture_fixture_idle(fx.ztunnel_fd));
}

/*
 * A port the pod leaves out of capture (Istio's excludeOutboundPorts, lib/excl.h): its TCP there
 * goes as a pod's out of the mesh would, to the address it named; its other ports stay captured.
 */
static void test_enrolled_excluded_port_untouched(void **state)
{
	struct ambit_excl_key k = {
	    .id = cf.enrolled_id, .port = htons(5432), .proto = IPPROTO_TCP, .dir = AMBIT_EXCL_OUT};
	struct ambit_enrolled en = {.pod_ip = ip4(POD_IP), .flags = AMBIT_ENROLLED_EXCL_OUT};
	uint64_t before = counter(AMBIT_PASS_EXCLUDED);
	struct child_result r;

	assert_int_equal(datapath_set_excl(cf.dp, &k), 0);
	/* Without its entry's flag the port is not looked up: captured. */
	run_child(cf.cg_enrolled, "10.200.0.99", 5432, &r);
	expect_redirected(&r, "10.200.0.99", 5432);
	assert_int_equal(datapath_set_enrolled_entry(cf.dp, cf.enrolled_id, &en), 0);
	/* Nothing listens on 10.200.0.99:5432: refused there, never at the ztunnel. */
	run_child(cf.cg_enrolled, "10.200.0.99", 5432, &r);
	assert_int_equal(r.connect_errno, ECONNREFUSED);
	assert_true(capture_fixture_idle(fx.ztunnel_fd));
	assert_int_equal(counter(AMBIT_PASS_EXCLUDED), before + 1);
	/* From a container of the pod alike; another port still the ztunnel's. */
	run_child(cf.cg_container, "10.200.0.99", 5432, &r);
	assert_int_equal(r.connect_errno, ECONNREFUSED);
	run_child(cf.cg_enrolled, "10.200.0.99", 80, &r);
	expect_redirected(&r, "10.200.0.99", 80);
	/* By a dual-stack socket (::ffff:a.b.c.d) alike. */
	child_v6 = true;
	run_child(cf.cg_enrolled, "10.200.0.99", 5432, &r);
	child_v6 = false;
	assert_int_equal(r.connect_errno, ECONNREFUSED);
	assert_true(capture_fixture_idle(fx.ztunnel_fd));
	en.flags = 0;
	assert_int_equal(datapath_set_enrolled_entry(cf.dp, cf.enrolled_id, &en), 0);
	assert_int_equal(datapath_del_excl(cf.dp, &k), 0);
}

static void expect_backend(const struct child_result *r, const char *vip, uint16_t port)
{
	struct sockaddr_in peer;
	int afd;

	assert_int_equal(r->connect_errno, 0);
	assert_addr(&r->peer, vip, port);
	afd = accept_one(fx.backend1_fd, &peer);
	if (afd < 0)
		afd = accept_one(fx.backend2_fd, &peer);
	assert_true(afd >= 0);
	close(afd);
	assert_int_equal(peer.sin_port, r->local.sin_port);
	assert_true(capture_fixture_idle(fx.ztunnel_fd));
}

static void test_service_vip_load_balanced(void **state)
{
	struct ambit_backend be[2] = {
	    {.ip = ip4(BACKEND1_IP), .port = htons(BACKEND_PORT)},
	    {.ip = ip4(BACKEND2_IP), .port = htons(BACKEND_PORT)},
	};
	struct ambit_backend_key key = {0};
	struct ambit_service svc;
	struct ambit_addr vip = {.ip = ip4("10.200.0.50"), .port = htons(80)};
	struct ambit_backend got;
	uint64_t before = counter(AMBIT_SERVICE_LB);
	struct child_result r;
	int i;

	assert_int_equal(datapath_set_service(cf.dp, vip.ip, 80, 0, be, 1), 0);
	run_child(cf.cg_plain, "10.200.0.50", 80, &r);
	expect_backend(&r, "10.200.0.50", 80);
	assert_int_equal(counter(AMBIT_SERVICE_LB), before + 1);
	/* The VIP named ::ffff:10.200.0.50 by a dual-stack socket is balanced too. */
	child_v6 = true;
	run_child(cf.cg_plain, "10.200.0.50", 80, &r);
	child_v6 = false;
	expect_backend(&r, "10.200.0.50", 80);
	assert_int_equal(counter(AMBIT_SERVICE_LB), before + 2);
	before++;

	/* Grow to two backends: every connect lands on one of them. */
	assert_int_equal(datapath_set_service(cf.dp, vip.ip, 80, 0, be, 2), 0);
	for (i = 0; i < 6; i++) {
		run_child(cf.cg_plain, "10.200.0.50", 80, &r);
		expect_backend(&r, "10.200.0.50", 80);
	}
	assert_int_equal(counter(AMBIT_SERVICE_LB), before + 7);

	/* Shrink: same id, count 1, the stale index gone. */
	assert_int_equal(bpf_map_lookup_elem(datapath_map_fd(cf.dp, "services"), &vip, &svc), 0);
	assert_int_equal(svc.backend_count, 2);
	assert_int_equal(datapath_set_service(cf.dp, vip.ip, 80, 0, &be[1], 1), 0);
	key.service_id = svc.id;
	assert_int_equal(bpf_map_lookup_elem(datapath_map_fd(cf.dp, "services"), &vip, &svc), 0);
	assert_int_equal(svc.id, key.service_id);
	assert_int_equal(svc.backend_count, 1);
	assert_int_equal(bpf_map_lookup_elem(datapath_map_fd(cf.dp, "backends"), &key, &got), 0);
	assert_int_equal(got.ip, ip4(BACKEND2_IP));
	key.index = 1;
	assert_int_not_equal(bpf_map_lookup_elem(datapath_map_fd(cf.dp, "backends"), &key, &got),
			     0);
	run_child(cf.cg_plain, "10.200.0.50", 80, &r);
	assert_int_equal(r.connect_errno, 0);
	assert_true(accept_one(fx.backend1_fd, &(struct sockaddr_in){0}) < 0);
	i = accept_one(fx.backend2_fd, &(struct sockaddr_in){0});
	assert_true(i >= 0);
	close(i);

	/* An enrolled pod's VIP connect goes to the ztunnel, which does its own balancing. */
	run_child(cf.cg_enrolled, "10.200.0.50", 80, &r);
	expect_redirected(&r, "10.200.0.50", 80);

	assert_int_equal(datapath_del_service(cf.dp, vip.ip, 80, 0), 0);
	key.index = 0;
	assert_int_not_equal(bpf_map_lookup_elem(datapath_map_fd(cf.dp, "backends"), &key, &got),
			     0);
	run_child(cf.cg_plain, "10.200.0.50", 80, &r);
	assert_int_equal(r.connect_errno, ECONNREFUSED); /* VIP is a plain address again */
}

static void test_service_without_backends_refused(void **state)
{
	uint64_t before = counter(AMBIT_DROP_NO_BACKEND);
	struct child_result r;

	assert_int_equal(datapath_set_service(cf.dp, ip4("10.200.0.51"), 80, 0, NULL, 0), 0);
	run_child(cf.cg_plain, "10.200.0.51", 80, &r);
	assert_int_equal(r.connect_errno, EPERM);
	assert_int_equal(counter(AMBIT_DROP_NO_BACKEND), before + 1);
	assert_int_equal(datapath_set_service(cf.dp, ip4("10.200.0.51"), 80, 0, NULL, 1), -EINVAL);
	assert_int_equal(datapath_del_service(cf.dp, ip4("10.200.0.51"), 80, 0), 0);
	assert_int_equal(datapath_del_service(cf.dp, ip4("10.200.0.51"), 80, 0), 0);
}

/* ---- UDP Services, as kube-proxy balances them (capture_udp_lb) ---- */

#define UDP_PORT 9053
#define UDP_VIP "10.200.0.60"

/* A UDP socket bound to @ip:UDP_PORT (nonblocking). */
static int udp_bound(const char *ip)
{
	struct sockaddr_in a = {
	    .sin_family = AF_INET, .sin_port = htons(UDP_PORT), .sin_addr.s_addr = ip4(ip)};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)))
		return -1;
	return fd;
}

/*
 * Which of backends @be[2] got the datagram the client sent (0 or 1; -1: none within 2 s), and
 * its answer sent back to where it came from.
 */
static int udp_serve(const int be[2])
{
	struct pollfd p[2] = {{.fd = be[0], .events = POLLIN}, {.fd = be[1], .events = POLLIN}};
	struct sockaddr_in from;
	socklen_t len = sizeof(from);
	char buf[64];
	ssize_t n;

	if (poll(p, 2, 2000) < 1)
		return -1;
	for (int i = 0; i < 2; i++) {
		if (!(p[i].revents & POLLIN))
			continue;
		n = recvfrom(be[i], buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
		if (n <= 0 || sendto(be[i], buf, (size_t)n, 0, (struct sockaddr *)&from, len) != n)
			return -1;
		return i;
	}
	return -1;
}

/* The answer on @fd (within 2 s): 0 with where it came from into @from (@len bytes), or -1. */
static int udp_answer(int fd, void *from, socklen_t len)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buf[64];

	if (poll(&p, 1, 2000) != 1)
		return -1;
	return recvfrom(fd, buf, sizeof(buf), 0, from, &len) > 0 ? 0 : -1;
}

static bool is_vip(const struct sockaddr_in *a)
{
	return a->sin_addr.s_addr == ip4(UDP_VIP) && a->sin_port == htons(UDP_PORT);
}

/*
 * The client's side, in a child in @cgroup: what each step saw, or the step that failed as the
 * exit code. The backends are its own sockets, made before it joined the pods' cgroup (so their
 * answers are not the hook's), and it edits the Service itself (the maps' fds are inherited).
 */
static int udp_client(const char *cgroup, bool plain)
{
	struct sockaddr_in vip = {.sin_family = AF_INET, .sin_port = htons(UDP_PORT)}, from;
	struct sockaddr_in6 vip6 = {.sin6_family = AF_INET6, .sin6_port = htons(UDP_PORT)}, from6;
	struct ambit_backend one;
	int be[2], fd, first, k;
	socklen_t len;

	vip.sin_addr.s_addr = ip4(UDP_VIP);
	be[0] = udp_bound(BACKEND1_IP);
	be[1] = udp_bound(BACKEND2_IP);
	if (be[0] < 0 || be[1] < 0 || capture_fixture_join(cgroup))
		return 2;
	/* Unconnected: each sendto names the VIP; its flow stays on one backend. */
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sendto(fd, "a", 1, 0, (struct sockaddr *)&vip, sizeof(vip)) != 1)
		return 3;
	first = udp_serve(be);
	if (first < 0 || udp_answer(fd, &from, sizeof(from)) || !is_vip(&from))
		return 4;
	for (int i = 0; i < 8; i++)
		if (sendto(fd, "b", 1, 0, (struct sockaddr *)&vip, sizeof(vip)) != 1 ||
		    udp_serve(be) != first || udp_answer(fd, &from, sizeof(from)) || !is_vip(&from))
			return 5;
	/* Its backend gone from the Service: the next datagram goes to the other. */
	one = (struct ambit_backend){.ip = ip4(first ? BACKEND1_IP : BACKEND2_IP),
				     .port = htons(UDP_PORT)};
	if (datapath_set_service(cf.dp, ip4(UDP_VIP), UDP_PORT, IPPROTO_UDP, &one, 1) ||
	    sendto(fd, "c", 1, 0, (struct sockaddr *)&vip, sizeof(vip)) != 1 ||
	    udp_serve(be) != !first || udp_answer(fd, &from, sizeof(from)) || !is_vip(&from))
		return 6;
	close(fd);
	/* Connected: the peer is the VIP (getpeername), and so is every answer's source. */
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	len = sizeof(from);
	if (connect(fd, (struct sockaddr *)&vip, sizeof(vip)) ||
	    getpeername(fd, (struct sockaddr *)&from, &len) || !is_vip(&from))
		return 7;
	if (send(fd, "d", 1, 0) != 1 || udp_serve(be) != !first ||
	    udp_answer(fd, &from, sizeof(from)) || !is_vip(&from))
		return 8;
	close(fd);
	/* A dual-stack socket naming ::ffff:VIP, as for TCP. */
	vip6.sin6_addr.s6_addr[10] = vip6.sin6_addr.s6_addr[11] = 0xff;
	memcpy(&vip6.sin6_addr.s6_addr[12], &vip.sin_addr, 4);
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sendto(fd, "e", 1, 0, (struct sockaddr *)&vip6, sizeof(vip6)) != 1 ||
	    udp_serve(be) != !first || udp_answer(fd, &from6, sizeof(from6)))
		return 9;
	if (memcmp(&from6.sin6_addr, &vip6.sin6_addr, 16) || from6.sin6_port != vip6.sin6_port)
		return 10;
	close(fd);
	/* No backend: refused (EPERM) rather than sent to the VIP. */
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (datapath_set_service(cf.dp, ip4(UDP_VIP), UDP_PORT, IPPROTO_UDP, NULL, 0) ||
	    sendto(fd, "f", 1, 0, (struct sockaddr *)&vip, sizeof(vip)) != -1 || errno != EPERM)
		return 11;
	close(fd);
	/*
	 * The TCP port of the same number is not the UDP one's: a TCP connect is not balanced
	 * (from a pod outside the mesh: an enrolled one's goes to the ztunnel, as any).
	 */
	if (!plain)
		return 0;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	k = connect(fd, (struct sockaddr *)&vip, sizeof(vip));
	if (k == 0 || errno != ECONNREFUSED)
		return 12;
	return 0;
}

static void udp_case(const char *cgroup, bool plain)
{
	struct ambit_backend be[2] = {
	    {.ip = ip4(BACKEND1_IP), .port = htons(UDP_PORT)},
	    {.ip = ip4(BACKEND2_IP), .port = htons(UDP_PORT)},
	};
	uint64_t before = counter(AMBIT_SERVICE_LB);
	int status;
	pid_t pid;

	assert_int_equal(datapath_set_service(cf.dp, ip4(UDP_VIP), UDP_PORT, IPPROTO_UDP, be, 2),
			 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(udp_client(cgroup, plain));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status))
		fail_msg("UDP client in %s: step %d failed", cgroup, WEXITSTATUS(status));
	/* Flows, not datagrams: the first pin, its re-pick, the connected socket's, the mapped. */
	assert_int_equal(counter(AMBIT_SERVICE_LB), before + 4);
	assert_int_equal(datapath_del_service(cf.dp, ip4(UDP_VIP), UDP_PORT, IPPROTO_UDP), 0);
}

/* A pod outside the mesh and an enrolled one alike: the mesh does not carry UDP yet. */
static void test_udp_service_load_balanced(void **state)
{
	udp_case(cf.cg_plain, true);
	udp_case(cf.cg_enrolled, false);
}

/*
 * A ServiceEntry's UDP ports (bpf/lib/sentry.h: one all-zero backend): not balanced, the
 * address left as written for tc to take to the ztunnel, and port 53 there is the resolver the
 * entry names, not the DNS proxy's; port 53 of another address still is the proxy's.
 */
static void test_service_entry_udp_ports(void **state)
{
	const struct ambit_backend marker = {0};
	uint64_t lb = counter(AMBIT_SERVICE_LB), dns = counter(AMBIT_REDIRECT_DNS);
	struct child_result r;

	assert_int_equal(datapath_set_service(cf.dp, ip4("10.200.0.70"), 53, IPPROTO_UDP, &marker,
					      AMBIT_SERVICE_ENTRY_UDP_BACKENDS),
			 0);
	assert_int_equal(datapath_set_service(cf.dp, ip4("10.200.0.70"), 8125, IPPROTO_UDP, &marker,
					      AMBIT_SERVICE_ENTRY_UDP_BACKENDS),
			 0);
	child_type = SOCK_DGRAM;
	for (int plain = 0; plain < 2; plain++) {
		const char *cg = plain ? cf.cg_plain : cf.cg_enrolled;

		run_child(cg, "10.200.0.70", 8125, &r);
		assert_int_equal(r.connect_errno, 0);
		assert_addr(&r.peer, "10.200.0.70", 8125);
		run_child(cg, "10.200.0.70", 53, &r);
		assert_int_equal(r.connect_errno, 0);
		assert_addr(&r.peer, "10.200.0.70", 53);
	}
	assert_int_equal(counter(AMBIT_SERVICE_LB), lb);
	assert_int_equal(counter(AMBIT_REDIRECT_DNS), dns);
	/* Another resolver's port 53, from the enrolled pod: the proxy's. */
	run_child(cf.cg_enrolled, "10.200.0.71", 53, &r);
	assert_int_equal(counter(AMBIT_REDIRECT_DNS), dns + 1);
	assert_int_equal(datapath_del_service(cf.dp, ip4("10.200.0.70"), 53, IPPROTO_UDP), 0);
	assert_int_equal(datapath_del_service(cf.dp, ip4("10.200.0.70"), 8125, IPPROTO_UDP), 0);
	/* Without the entry, the enrolled pod's port 53 there is the proxy's again. */
	run_child(cf.cg_enrolled, "10.200.0.70", 53, &r);
	assert_int_equal(counter(AMBIT_REDIRECT_DNS), dns + 2);
	/* An entry's block (sentry_cidrs): its port 53 is the resolver the pod named, too. */
	uint32_t net = ip4("10.200.0.128");

	assert_int_equal(datapath_set_sentry_cidr(cf.dp, false, &net, 25, 53), 0);
	run_child(cf.cg_enrolled, "10.200.0.129", 53, &r);
	assert_int_equal(r.connect_errno, 0);
	assert_addr(&r.peer, "10.200.0.129", 53);
	assert_int_equal(counter(AMBIT_REDIRECT_DNS), dns + 2);
	run_child(cf.cg_enrolled, "10.200.0.71", 53, &r);
	assert_int_equal(counter(AMBIT_REDIRECT_DNS), dns + 3);
	assert_int_equal(datapath_del_sentry_cidr(cf.dp, false, &net, 25, 53), 0);
	assert_int_equal(counter(AMBIT_SERVICE_LB), lb);
	child_type = SOCK_STREAM;
}

/*
 * A Service a waypoint serves (its VIP's /32 on its UDP port in sentry_cidrs): an enrolled pod's
 * flow is left as addressed, for tc to take to the ztunnel and it to the waypoint; a pod outside
 * the mesh is balanced as kube-proxy would; another port of the VIP is balanced for both.
 */
static void test_waypoint_udp_service(void **state)
{
	const struct ambit_backend be = {.ip = ip4(BACKEND1_IP), .port = htons(UDP_PORT)};
	uint32_t vip = ip4("10.200.0.72");
	uint64_t lb = counter(AMBIT_SERVICE_LB);
	struct child_result r;

	assert_int_equal(datapath_set_service(cf.dp, vip, 8125, IPPROTO_UDP, &be, 1), 0);
	assert_int_equal(datapath_set_service(cf.dp, vip, 8126, IPPROTO_UDP, &be, 1), 0);
	assert_int_equal(datapath_set_sentry_cidr(cf.dp, false, &vip, 32, 8125), 0);
	child_type = SOCK_DGRAM;
	run_child(cf.cg_enrolled, "10.200.0.72", 8125, &r);
	assert_int_equal(r.connect_errno, 0);
	assert_addr(&r.peer, "10.200.0.72", 8125);
	assert_int_equal(counter(AMBIT_SERVICE_LB), lb);
	run_child(cf.cg_plain, "10.200.0.72", 8125, &r);
	assert_int_equal(r.connect_errno, 0);
	assert_int_equal(counter(AMBIT_SERVICE_LB), lb + 1);
	run_child(cf.cg_enrolled, "10.200.0.72", 8126, &r);
	assert_int_equal(r.connect_errno, 0);
	assert_int_equal(counter(AMBIT_SERVICE_LB), lb + 2);
	/* Without the waypoint, the enrolled pod's flow is balanced too. */
	assert_int_equal(datapath_del_sentry_cidr(cf.dp, false, &vip, 32, 8125), 0);
	run_child(cf.cg_enrolled, "10.200.0.72", 8125, &r);
	assert_int_equal(counter(AMBIT_SERVICE_LB), lb + 3);
	assert_int_equal(datapath_del_service(cf.dp, vip, 8125, IPPROTO_UDP), 0);
	assert_int_equal(datapath_del_service(cf.dp, vip, 8126, IPPROTO_UDP), 0);
	child_type = SOCK_STREAM;
}

/* sock_orig entries made from @cgroup (0: any). */
static unsigned int sock_orig_entries(uint64_t cgroup)
{
	int fd = datapath_map_fd(cf.dp, "sock_orig");
	uint64_t key, next;
	struct ambit_orig_dst v;
	unsigned int n = 0;
	bool first = true;

	while (bpf_map_get_next_key(fd, first ? NULL : &key, &next) == 0) {
		if (bpf_map_lookup_elem(fd, &next, &v) == 0 && (!cgroup || v.cgroup == cgroup))
			n++;
		key = next;
		first = false;
	}
	return n;
}

/*
 * A child of @cgroup opens @n connections to @ip:@port, one by one, and holds them until told
 * (a byte on *@go) to close them all. *@ready is readable once they are all up. The parent
 * accepts them from @lfd meanwhile (the listener's backlog is smaller than @n).
 */
static pid_t hold_connections(const char *cgroup, const char *ip, uint16_t port, int n, int lfd,
			      int *accepted, int *ready, int *go)
{
	int up[2], down[2];
	pid_t pid;

	assert_int_equal(pipe2(up, O_CLOEXEC), 0);
	assert_int_equal(pipe2(down, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_in a = {
		    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = ip4(ip)};
		int *fds = calloc((size_t)n, sizeof(int));
		char c = 'r';

		if (!fds || capture_fixture_join(cgroup))
			_exit(2);
		for (int i = 0; i < n; i++) {
			fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&a, sizeof(a)))
				_exit(3);
		}
		if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(4);
		for (int i = 0; i < n; i++)
			close(fds[i]);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	for (int i = 0; i < n; i++) {
		accepted[i] = accept_one(lfd, &(struct sockaddr_in){0});
		assert_true(accepted[i] >= 0);
	}
	*ready = up[0];
	*go = down[1];
	return pid;
}

/*
 * Many connections opened and closed must leave nothing in sock_orig (it filled to 252,465 of
 * 262,144 entries in a day of tests when only the LRU reclaimed them): redirected ones and
 * Service-balanced ones alike, whichever side closes first.
 */
static void test_sock_orig_freed_on_close(void **state)
{
	struct ambit_backend be = {.ip = ip4(BACKEND1_IP), .port = htons(BACKEND_PORT)};
	enum { N_REDIR = 200, N_LB = 20 };
	int acc_redir[N_REDIR], acc_lb[N_LB], ready[2], go[2], status, left = -1;
	pid_t pid[2];
	char c;

	assert_int_equal(datapath_set_service(cf.dp, ip4("10.200.0.52"), 80, 0, &be, 1), 0);
	pid[0] = hold_connections(cf.cg_enrolled, "10.200.0.97", 80, N_REDIR, fx.ztunnel_fd,
				  acc_redir, &ready[0], &go[0]);
	pid[1] = hold_connections(cf.cg_plain, "10.200.0.52", 80, N_LB, fx.backend1_fd, acc_lb,
				  &ready[1], &go[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(read(ready[1], &c, 1), 1);
	/* Open sockets keep their records: getpeername4 still needs them. */
	assert_true(sock_orig_entries(cf.enrolled_id) >= N_REDIR);
	assert_true(sock_orig_entries(0) >= N_REDIR + N_LB);

	/* The server closes first here, the client first there. */
	for (int i = 0; i < N_REDIR; i++)
		close(acc_redir[i]);
	for (int k = 0; k < 2; k++) {
		assert_int_equal(write(go[k], "x", 1), 1);
		assert_int_equal(waitpid(pid[k], &status, 0), pid[k]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		close(ready[k]);
		close(go[k]);
	}
	for (int i = 0; i < N_LB; i++)
		close(acc_lb[i]);
	/* Closing is asynchronous (FINs cross loopback in softirq): wait for it, bounded. */
	for (int tries = 0; tries < 100 && left; tries++) {
		left = (int)sock_orig_entries(0);
		if (left)
			usleep(50 * 1000);
	}
	assert_int_equal(left, 0);
	assert_int_equal(datapath_del_service(cf.dp, ip4("10.200.0.52"), 80, 0), 0);
}

static uint32_t link_id(const char *name)
{
	struct bpf_link_info info = {0};
	uint32_t len = sizeof(info);
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", cf.pin_root, name);
	fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	return info.id;
}

static void test_reopen_updates_links_in_place(void **state)
{
	uint32_t ids[3] = {link_id("link_connect4"), link_id("link_getpeer4"),
			   link_id("link_sockops")};
	struct child_result r;
	struct ambit_enrolled en;

	/* An agent restart: close everything, open again over the same pins. */
	assert_int_equal(capture_fixture_reopen(&cf), 0);
	assert_int_equal(link_id("link_connect4"), ids[0]);
	assert_int_equal(link_id("link_getpeer4"), ids[1]);
	assert_int_equal(link_id("link_sockops"), ids[2]);
	/* Map state survived, and the new programs behind the old links work. */
	assert_int_equal(
	    bpf_map_lookup_elem(datapath_map_fd(cf.dp, "enrolled_cgrp"), &cf.enrolled_id, &en), 0);
	assert_int_equal(en.pod_ip, ip4(POD_IP));
	run_child(cf.cg_enrolled, "10.200.0.98", 443, &r);
	expect_redirected(&r, "10.200.0.98", 443);
}

static void test_pinned_handle(void **state)
{
	struct datapath *ro = datapath_open_pinned(cf.pin_root);
	uint64_t c[AMBIT_REASON__COUNT];

	assert_non_null(ro);
	assert_int_equal(datapath_read_counters(ro, c), 0);
	assert_true(c[AMBIT_REDIRECT_OUTBOUND] >= 1);
	datapath_close(ro);
	assert_null(datapath_open_pinned("/sys/fs/bpf/ambit-test-nonexistent"));
	assert_int_equal(errno, ENOENT);
	datapath_close(NULL);
}

static void test_remove_pins_detaches(void **state)
{
	struct child_result r;

	datapath_close(cf.dp);
	cf.dp = NULL;
	assert_int_equal(datapath_remove_pins(cf.pin_root), 0);
	assert_int_equal(access(cf.pin_root, F_OK), -1);
	/*
	 * The kernel lets go of a cgroup link when it releases the last reference, which it may do
	 * a moment after the close (a deferred release): a connect meanwhile still goes to the
	 * ztunnel, whose listener is emptied again. Waited for, up to 5 s.
	 */
	for (int i = 0; i < 50; i++) {
		run_child(cf.cg_enrolled, "10.200.0.99", 80, &r);
		if (r.connect_errno == ECONNREFUSED)
			break;
		for (struct pollfd p = {.fd = fx.ztunnel_fd, .events = POLLIN};
		     poll(&p, 1, 0) > 0 && (p.revents & POLLIN);) {
			int fd = accept(fx.ztunnel_fd, NULL, NULL);

			if (fd < 0)
				break;
			close(fd);
		}
		usleep(100 * 1000);
	}
	assert_int_equal(r.connect_errno, ECONNREFUSED);
	assert_true(capture_fixture_idle(fx.ztunnel_fd));
	assert_int_equal(datapath_remove_pins(cf.pin_root), 0); /* safe twice */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_enrolled_redirected_to_ztunnel),
	    cmocka_unit_test(test_enrolled_descendant_redirected),
	    cmocka_unit_test(test_enrolled_v4_mapped_redirected),
	    cmocka_unit_test(test_enrolled_mptcp_redirected),
	    cmocka_unit_test_setup_teardown(test_inpod_redirected_to_pod_ip, inpod_setup,
					    inpod_teardown),
	    cmocka_unit_test_setup_teardown(test_not_inpod_redirected_to_ztunnel, inpod_setup,
					    inpod_teardown),
	    cmocka_unit_test(test_enrolled_loopback_untouched),
	    cmocka_unit_test(test_not_enrolled_untouched),
	    cmocka_unit_test(test_enrolled_excluded_port_untouched),
	    cmocka_unit_test(test_service_vip_load_balanced),
	    cmocka_unit_test(test_service_without_backends_refused),
	    cmocka_unit_test(test_udp_service_load_balanced),
	    cmocka_unit_test(test_service_entry_udp_ports),
	    cmocka_unit_test(test_waypoint_udp_service),
	    cmocka_unit_test(test_sock_orig_freed_on_close),
	    cmocka_unit_test(test_reopen_updates_links_in_place),
	    cmocka_unit_test(test_pinned_handle),
	    cmocka_unit_test(test_remove_pins_detaches),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_capture: needs root (BPF, cgroups, netns), skipping\n");
		return 77;
	}
	log_init("test_capture", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
