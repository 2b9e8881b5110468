// SPDX-License-Identifier: Apache-2.0
/*
 * The tc ingress program on a real veth, for what BPF_PROG_TEST_RUN cannot show: bpf_sk_assign
 * to the ztunnel's transparent listeners (of a SYN, and of the ACK ending a SYN-cookie handshake),
 * the refusal of an ACK ending a handshake of the application's own listener, the
 * established-socket path, the return path of a spoofed-source connection, and anti-spoofing
 * on the wire, over IPv4 and IPv6. Topology, all private:
 *   node netns = this process (unshare), 169.254.1.1 on lo, fwmark 0x539 -> table 133 (local),
 *                for both families; fe80::1 on vh
 *   pod netns  = a helper process (unshare; dies with us), vp 10.201.0.2/32 and fd00:201::2/128
 *                (+ .3 and ::3 for spoofing), default routes via 169.254.1.1 and fe80::1
 *   veth vh (node, tc ingress attached) <-> vp (pod), routed as in the local cluster.
 * 10.201.0.9 and fd00:201::9 are an enrolled pod of this node that does not exist: everything
 * for it must land on the listeners here. DAD is off on the veth (no address waits for it).
 * Nothing global is left behind, even on a crash, except the pins and cgroup that teardown
 * removes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <limits.h>
#include <stdbool.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ambit/datapath.h"
#include "ambit/log.h"
#include "../lib/harness.h"
#include "../lib/steer_fixture.h"

#define POD_IP "10.201.0.2"
#define SPOOF_IP "10.201.0.3"
#define ENROLLED_IP "10.201.0.9"
#define CLIENT_IP "10.201.0.50" /* a client the ztunnel impersonates */
#define POD6_IP "fd00:201::2"
#define SPOOF6_IP "fd00:201::3"
#define ENROLLED6_IP "fd00:201::9"
#define CLIENT6_IP "2001:db8:201::50"

struct fixture {
	char cg[PATH_MAX + 32];
	char pin_root[64];
	char pod_ns[64]; /* /proc/<pid>/ns/net of the pod helper */
	struct datapath *dp;
	pid_t pod_pid;
	int pod_hold; /* write end the pod helper waits on */
	int vh_ifindex;
	int inbound_fd;
	int hbone_fd;
	int inbound6_fd; /* the same listeners over IPv6, in proxy_socks6 */
	int hbone6_fd;
	int syncookies; /* the node netns' tcp_syncookies before a case set it, or -1 */
};

static struct fixture fx = {.pod_hold = -1,
			    .inbound_fd = -1,
			    .hbone_fd = -1,
			    .inbound6_fd = -1,
			    .hbone6_fd = -1,
			    .syncookies = -1};

struct conn_result {
	int err; /* 0 when connect() succeeded */
};

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		abort();
	return a.s_addr;
}

/* @ip (either family) and @port into *@ss; its length. Aborts on a bad literal. */
static socklen_t sockaddr_of(const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, ip, &a6->sin6_addr) != 1)
			abort();
		return sizeof(*a6);
	}
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	a->sin_addr.s_addr = ip4(ip);
	return sizeof(*a);
}

/* Whether @ss holds @ip (either family) and, unless 0, @port. */
static bool sockaddr_is(const struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct sockaddr_storage want;
	socklen_t len = sockaddr_of(ip, port, &want);

	if (ss->ss_family != want.ss_family)
		return false;
	if (!port)
		((struct sockaddr_in *)&want)->sin_port =
		    ((const struct sockaddr_in *)ss)->sin_port;
	if (want.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss, *b = (const void *)&want;

		return a->sin6_port == b->sin6_port &&
		       memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) == 0;
	}
	return memcmp(ss, &want, len) == 0;
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* Makes @fd transparent in its family (IP_TRANSPARENT, IPV6_TRANSPARENT). */
static int set_transparent(int fd, bool v6)
{
	int one = 1;

	if (v6)
		return setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one));
	return setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
}

/*
 * The ztunnel's listener on @port of every address of a family: IPv6 only when @v6, beside the
 * IPv4 one on the same port.
 */
static int transparent_listener(uint16_t port, bool v6)
{
	struct sockaddr_storage a;
	socklen_t len = sockaddr_of(v6 ? "::" : "0.0.0.0", port, &a);
	int one = 1;
	int fd = socket(a.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	if (set_transparent(fd, v6) ||
	    (v6 && setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    bind(fd, (struct sockaddr *)&a, len) || listen(fd, 64)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int accept_one(int lfd, struct sockaddr_storage *local, struct sockaddr_storage *peer)
{
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	socklen_t len = sizeof(*peer);
	int fd;

	if (poll(&p, 1, 3000) != 1)
		return -1;
	fd = accept4(lfd, (struct sockaddr *)peer, &len, SOCK_CLOEXEC);
	len = sizeof(*local);
	if (fd >= 0)
		getsockname(fd, (struct sockaddr *)local, &len);
	return fd;
}

static bool queue_empty(int lfd)
{
	struct pollfd p = {.fd = lfd, .events = POLLIN};

	return poll(&p, 1, 0) == 0;
}

static uint64_t counter(enum ambit_reason r)
{
	uint64_t c[AMBIT_REASON__COUNT];

	assert_int_equal(datapath_read_counters(fx.dp, c), 0);
	return c[r];
}

/*
 * Connects from the pod netns to @dst (either family; optionally from @src) and sends "hi";
 * 1 s connect timeout.
 */
static void pod_connect(const char *src, const char *dst, uint16_t port, struct conn_result *res)
{
	int pipefd[2];
	int status;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_storage a, s;
		socklen_t alen = sockaddr_of(dst, port, &a);
		struct timeval tv = {.tv_sec = 1};
		struct conn_result r = {0};
		int nsfd = open(fx.pod_ns, O_RDONLY | O_CLOEXEC);
		int fd;

		if (nsfd < 0 || setns(nsfd, CLONE_NEWNET))
			_exit(2);
		fd = socket(a.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			_exit(3);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (src && bind(fd, (struct sockaddr *)&s, sockaddr_of(src, 0, &s)))
			_exit(4);
		if (connect(fd, (struct sockaddr *)&a, alen))
			r.err = errno;
		else if (write(fd, "hi", 2) != 2)
			r.err = errno;
		if (write(pipefd[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(5);
		_exit(0);
	}
	close(pipefd[1]);
	assert_int_equal(read(pipefd[0], res, sizeof(*res)), (ssize_t)sizeof(*res));
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The pod helper: owns the pod netns until our end of its pipe closes (or we die). */
static int pod_start(void)
{
	int ready[2], hold[2];
	char c;

	if (pipe2(ready, O_CLOEXEC) || pipe2(hold, O_CLOEXEC))
		return -1;
	fx.pod_pid = fork();
	if (fx.pod_pid < 0)
		return -1;
	if (fx.pod_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(ready[0]);
		close(hold[1]);
		if (unshare(CLONE_NEWNET) || write(ready[1], "x", 1) != 1)
			_exit(1);
		while (read(hold[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	fx.pod_hold = hold[1];
	if (read(ready[0], &c, 1) != 1) {
		close(ready[0]);
		return -1;
	}
	close(ready[0]);
	snprintf(fx.pod_ns, sizeof(fx.pod_ns), "/proc/%d/ns/net", (int)fx.pod_pid);
	return 0;
}

static int topology_up(void)
{
	const char *pod = fx.pod_ns;

	/* DAD off before either end is up: their link-local addresses are usable at once. */
	if (harness_sh("ip link set lo up") ||
	    harness_sh("ip link add vh type veth peer name vp") ||
	    write_file("/proc/sys/net/ipv6/conf/vh/accept_dad", "0") ||
	    harness_sh("ip link set vp netns %d", (int)fx.pod_pid) ||
	    harness_sh("nsenter --net=%s sh -c 'echo 0 > /proc/sys/net/ipv6/conf/vp/accept_dad'",
		       pod) ||
	    harness_sh("ip link set vh up") || harness_sh("ip addr add 169.254.1.1/32 dev lo") ||
	    harness_sh("ip route add %s/32 dev vh", POD_IP) ||
	    harness_sh("ip rule add fwmark %#x lookup %d", AMBIT_SKB_MARK, AMBIT_ROUTE_TABLE) ||
	    harness_sh("ip route add local 0.0.0.0/0 dev lo table %d", AMBIT_ROUTE_TABLE))
		return -1;
	if (harness_sh("ip -6 addr add fe80::1/64 dev vh nodad") ||
	    harness_sh("ip -6 route add %s/128 dev vh", POD6_IP) ||
	    harness_sh("ip -6 rule add fwmark %#x lookup %d", AMBIT_SKB_MARK, AMBIT_ROUTE_TABLE) ||
	    harness_sh("ip -6 route add local ::/0 dev lo table %d", AMBIT_ROUTE_TABLE))
		return -1;
	if (write_file("/proc/sys/net/ipv4/ip_forward", "1") ||
	    write_file("/proc/sys/net/ipv6/conf/all/forwarding", "1") ||
	    write_file("/proc/sys/net/ipv4/conf/all/rp_filter", "0") ||
	    write_file("/proc/sys/net/ipv4/conf/vh/rp_filter", "0") ||
	    write_file("/proc/sys/net/ipv4/conf/vh/proxy_arp", "1"))
		return -1;
	if (harness_sh("nsenter --net=%s ip link set lo up", pod) ||
	    harness_sh("nsenter --net=%s ip addr add %s/32 dev vp", pod, POD_IP) ||
	    harness_sh("nsenter --net=%s ip addr add %s/32 dev vp", pod, SPOOF_IP) ||
	    harness_sh("nsenter --net=%s ip -6 addr add %s/128 dev vp nodad", pod, POD6_IP) ||
	    harness_sh("nsenter --net=%s ip -6 addr add %s/128 dev vp nodad", pod, SPOOF6_IP) ||
	    harness_sh("nsenter --net=%s ip link set vp up", pod) ||
	    harness_sh("nsenter --net=%s ip route add 169.254.1.1 dev vp scope link", pod) ||
	    harness_sh("nsenter --net=%s ip route add default via 169.254.1.1 dev vp src %s", pod,
		       POD_IP) ||
	    harness_sh("nsenter --net=%s ip -6 route add default via fe80::1 dev vp src %s", pod,
		       POD6_IP))
		return -1;
	fx.vh_ifindex = (int)if_nametoindex("vh");
	return fx.vh_ifindex > 0 ? 0 : -1;
}

static struct datapath *open_datapath_again(void)
{
	struct datapath_opts opts = {
	    .pin_root = fx.pin_root, .cgroup_path = fx.cg, .ztunnel_ip = ip4("169.254.1.1")};

	return datapath_open(&opts);
}

/* The pod's and the enrolled pod's IPv6 entries, and the listeners of proxy_socks6. */
static int setup_ipv6(void)
{
	struct ambit_workload wl = {.flags = AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL};
	struct sockaddr_storage pod, enrolled;
	int socks_fd = datapath_map_fd(fx.dp, "proxy_socks6");

	sockaddr_of(POD6_IP, 0, &pod);
	sockaddr_of(ENROLLED6_IP, 0, &enrolled);
	if (datapath_set_iface6(fx.dp, fx.vh_ifindex, &((struct sockaddr_in6 *)&pod)->sin6_addr) ||
	    datapath_set_workload6(fx.dp, &((struct sockaddr_in6 *)&enrolled)->sin6_addr, &wl))
		return -1;
	wl.flags = AMBIT_WL_LOCAL;
	wl.ifindex = (uint32_t)fx.vh_ifindex;
	if (datapath_set_workload6(fx.dp, &((struct sockaddr_in6 *)&pod)->sin6_addr, &wl))
		return -1;
	fx.inbound6_fd = transparent_listener(AMBIT_PORT_INBOUND, true);
	fx.hbone6_fd = transparent_listener(AMBIT_PORT_HBONE, true);
	if (fx.inbound6_fd < 0 || fx.hbone6_fd < 0 ||
	    proxy_sock_publish(socks_fd, AMBIT_SOCK_INBOUND, fx.inbound6_fd) ||
	    proxy_sock_publish(socks_fd, AMBIT_SOCK_HBONE, fx.hbone6_fd))
		return -1;
	return 0;
}

static int setup_all(void)
{
	struct ambit_workload wl = {.flags = AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL};
	int socks_fd;
	char cg2[PATH_MAX];

	if (unshare(CLONE_NEWNET) || pod_start() || topology_up())
		return -1;
	if (cgroup2_mount(cg2, sizeof(cg2)))
		return -1;
	/* datapath_open attaches the cgroup programs too: give them an empty private cgroup. */
	snprintf(fx.cg, sizeof(fx.cg), "%s/ambit-test-tc-%d", cg2, (int)getpid());
	snprintf(fx.pin_root, sizeof(fx.pin_root), "/sys/fs/bpf/ambit-test-tc-%d", (int)getpid());
	if (mkdir(fx.cg, 0755))
		return -1;
	fx.dp = open_datapath_again();
	if (!fx.dp || datapath_attach_tc(fx.dp, fx.vh_ifindex))
		return -1;
	if (datapath_set_iface(fx.dp, fx.vh_ifindex, ip4(POD_IP)) ||
	    datapath_set_workload(fx.dp, ip4(ENROLLED_IP), &wl))
		return -1;
	wl.flags = AMBIT_WL_LOCAL;
	wl.ifindex = (uint32_t)fx.vh_ifindex;
	if (datapath_set_workload(fx.dp, ip4(POD_IP), &wl))
		return -1;
	fx.inbound_fd = transparent_listener(AMBIT_PORT_INBOUND, false);
	fx.hbone_fd = transparent_listener(AMBIT_PORT_HBONE, false);
	socks_fd = datapath_map_fd(fx.dp, "proxy_socks");
	if (fx.inbound_fd < 0 || fx.hbone_fd < 0 ||
	    proxy_sock_publish(socks_fd, AMBIT_SOCK_INBOUND, fx.inbound_fd) ||
	    proxy_sock_publish(socks_fd, AMBIT_SOCK_HBONE, fx.hbone_fd))
		return -1;
	return setup_ipv6();
}

static int group_teardown(void **state)
{
	int err = 0;

	datapath_close(fx.dp);
	fx.dp = NULL;
	if (fx.pin_root[0] && datapath_remove_pins(fx.pin_root))
		err = -1;
	if (fx.inbound_fd >= 0)
		close(fx.inbound_fd);
	if (fx.hbone_fd >= 0)
		close(fx.hbone_fd);
	if (fx.inbound6_fd >= 0)
		close(fx.inbound6_fd);
	if (fx.hbone6_fd >= 0)
		close(fx.hbone6_fd);
	fx.inbound_fd = fx.hbone_fd = fx.inbound6_fd = fx.hbone6_fd = -1;
	/* The pod netns, and with it the veth pair, goes with its only process. */
	if (fx.pod_hold >= 0)
		close(fx.pod_hold);
	fx.pod_hold = -1;
	if (fx.pod_pid > 0) {
		kill(fx.pod_pid, SIGKILL);
		waitpid(fx.pod_pid, NULL, 0);
		fx.pod_pid = 0;
	}
	if (fx.cg[0] && rmdir(fx.cg) && errno != ENOENT)
		err = -1;
	return err;
}

static int group_setup(void **state)
{
	if (setup_all() == 0)
		return 0;
	fprintf(stderr, "test_tc: setup failed: %s\n", strerror(errno));
	group_teardown(state);
	return -1;
}

/*
 * A new flow from the pod (@from) to the enrolled pod (@to, either family) reaches @lfd with the
 * enrolled pod's address as local address.
 */
static void expect_assigned_from(int lfd, const char *from, const char *to, uint16_t port)
{
	struct sockaddr_storage local, peer;
	struct conn_result r;
	char buf[8];
	int afd;

	pod_connect(NULL, to, port, &r);
	assert_int_equal(r.err, 0);
	afd = accept_one(lfd, &local, &peer);
	assert_true(afd >= 0);
	assert_true(sockaddr_is(&local, to, port));
	assert_true(sockaddr_is(&peer, from, 0));
	/* Data after the handshake went through the established-socket path. */
	assert_int_equal(recv(afd, buf, sizeof(buf), MSG_WAITALL), 2);
	assert_memory_equal(buf, "hi", 2);
	close(afd);
}

static void expect_assigned(int lfd, uint16_t port)
{
	expect_assigned_from(lfd, POD_IP, ENROLLED_IP, port);
}

static void expect_assigned6(int lfd, uint16_t port)
{
	expect_assigned_from(lfd, POD6_IP, ENROLLED6_IP, port);
}

static void test_new_flow_assigned_to_inbound(void **state)
{
	uint64_t inbound = counter(AMBIT_ASSIGN_INBOUND);
	uint64_t established = counter(AMBIT_ASSIGN_ESTABLISHED);

	expect_assigned(fx.inbound_fd, 80);
	/* Exactly the SYN took the listener; the final ACK and data found the request/child sock.
	 */
	assert_int_equal(counter(AMBIT_ASSIGN_INBOUND), inbound + 1);
	assert_true(counter(AMBIT_ASSIGN_ESTABLISHED) >= established + 2);
	assert_true(queue_empty(fx.hbone_fd));
}

static void test_hbone_port_assigned_to_hbone(void **state)
{
	uint64_t hbone = counter(AMBIT_ASSIGN_HBONE);

	expect_assigned(fx.hbone_fd, AMBIT_PORT_HBONE);
	assert_int_equal(counter(AMBIT_ASSIGN_HBONE), hbone + 1);
	assert_true(queue_empty(fx.inbound_fd));
}

/* Closes what waits on listener @lfd (nonblocking), so that a failed case leaves it empty. */
static void drain(int lfd)
{
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(fd);
}

static int syncookies_teardown(void **state)
{
	int err = fx.syncookies >= 0 && steer_fixture_syncookies(fx.syncookies) < 0 ? -1 : 0;

	fx.syncookies = -1;
	drain(fx.inbound_fd);
	drain(fx.hbone_fd);
	drain(fx.inbound6_fd);
	drain(fx.hbone6_fd);
	return err;
}

/*
 * Under a SYN flood the ztunnel's listener answers with cookies and keeps no state, so the
 * client's last ACK matches no socket: tc_ingress hands it, with the node's mark, to the listener
 * of its slot (bpf_tcp_check_syncookie). With tcp_syncookies 2 in the node's netns, where the
 * listeners are, every handshake is such a one, and each connection still reaches its listener,
 * data included. Without the mark the ACK would not be delivered (10.201.0.9 is no address here),
 * and without the assignment it would reach no socket: either way nothing would be accepted.
 * With cookies only on overflow (1) the handshake's request socket takes the ACK: the counter
 * stays.
 */
static void test_cookie_ack_assigned_to_listener(void **state)
{
	uint64_t cookie = counter(AMBIT_ASSIGN_SYNCOOKIE);
	uint64_t inbound = counter(AMBIT_ASSIGN_INBOUND);
	uint64_t hbone = counter(AMBIT_ASSIGN_HBONE);
	uint64_t failed = counter(AMBIT_DROP_ASSIGN_FAILED);

	fx.syncookies = steer_fixture_syncookies(2);
	assert_true(fx.syncookies >= 0);
	expect_assigned(fx.inbound_fd, 80);
	assert_int_equal(counter(AMBIT_ASSIGN_SYNCOOKIE), cookie + 1);
	assert_int_equal(counter(AMBIT_ASSIGN_INBOUND), inbound + 1);
	expect_assigned(fx.hbone_fd, AMBIT_PORT_HBONE);
	assert_int_equal(counter(AMBIT_ASSIGN_SYNCOOKIE), cookie + 2);
	assert_int_equal(counter(AMBIT_ASSIGN_HBONE), hbone + 1);
	assert_true(queue_empty(fx.inbound_fd));
	assert_true(queue_empty(fx.hbone_fd));

	assert_int_equal(steer_fixture_syncookies(1), 2);
	expect_assigned(fx.inbound_fd, 80);
	assert_int_equal(counter(AMBIT_ASSIGN_SYNCOOKIE), cookie + 2);
	assert_int_equal(counter(AMBIT_ASSIGN_INBOUND), inbound + 2);
	assert_int_equal(counter(AMBIT_DROP_ASSIGN_FAILED), failed);
}

static int node_ns_fd = -1;

/* Moves this thread into the pod netns (@in) or back to the node's. */
static void enter_pod(bool in)
{
	int fd;

	if (node_ns_fd < 0)
		node_ns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(node_ns_fd >= 0);
	if (!in) {
		assert_int_equal(setns(node_ns_fd, CLONE_NEWNET), 0);
		return;
	}
	fd = open(fx.pod_ns, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(setns(fd, CLONE_NEWNET), 0);
	close(fd);
}

static int app_cookie_teardown(void **state)
{
	struct ambit_workload wl = {.flags = AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL};
	int err = 0;

	if (node_ns_fd >= 0 && setns(node_ns_fd, CLONE_NEWNET))
		err = -1;
	if (harness_sh("ip addr del %s/32 dev lo 2>/dev/null; true", ENROLLED_IP) ||
	    datapath_set_workload(fx.dp, ip4(ENROLLED_IP), &wl))
		err = -1;
	return syncookies_teardown(state) || err ? -1 : 0;
}

/*
 * The SYN-cookie ACK of issue 55 on vh's real hook, host capture. The node's netns stands in for
 * the captured pod's (ENROLLED_IP on lo), with the application's listener on :8081 in cookie mode
 * (tcp_syncookies 2). The pod sends a SYN to it while it is not captured, and gets the cookie:
 * the secret is the kernel's, so a pod can mint the same in a netns of its own. Captured again,
 * the ACK that ends that handshake, with data (not a pure ACK: never a ztunnel's cookie), is
 * answered with a reset (drop_no_flow) and the application accepts nothing. Control: the same
 * ACK to the pod out of the mesh opens the connection, its data with it, as it did to a captured
 * pod before.
 */
static void test_app_cookie_ack_refused(void **state)
{
	struct ambit_workload wl = {.flags = AMBIT_WL_LOCAL};
	struct steer_seg g = {.saddr = POD_IP, .daddr = ENROLLED_IP, .sport = 20041};
	uint64_t refused = counter(AMBIT_DROP_NO_FLOW);
	struct sockaddr_in peer;
	struct pollfd p = {.events = POLLIN};
	struct tcphdr th;
	uint8_t buf[128];
	char got[16];
	size_t len;
	int rawfd, lfd;

	assert_int_equal(harness_sh("ip addr add %s/32 dev lo", ENROLLED_IP), 0);
	lfd = harness_listen(ENROLLED_IP, &g.dport);
	fx.syncookies = steer_fixture_syncookies(2);
	assert_true(fx.syncookies >= 0);
	assert_int_equal(datapath_set_workload(fx.dp, ip4(ENROLLED_IP), &wl), 0);
	enter_pod(true);
	steer_fixture_cookie_handshake(&g);
	rawfd = steer_fixture_raw_socket();
	enter_pod(false);
	g.flags = TH_ACK | TH_PUSH;
	g.payload = 5;
	len = steer_fixture_seg(buf, sizeof(buf), &g);

	wl.flags = AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL;
	assert_int_equal(datapath_set_workload(fx.dp, ip4(ENROLLED_IP), &wl), 0);
	steer_fixture_raw_send(rawfd, buf, len);
	assert_true(steer_fixture_raw_recv(rawfd, ENROLLED_IP, g.dport, POD_IP, g.sport, TH_RST,
					   2000, &th));
	assert_int_equal(ntohl(th.seq), g.ack_seq);
	assert_int_equal(harness_accept_within(lfd, 0, &peer), -1);
	assert_int_equal(counter(AMBIT_DROP_NO_FLOW), refused + 1);

	wl.flags = AMBIT_WL_LOCAL;
	assert_int_equal(datapath_set_workload(fx.dp, ip4(ENROLLED_IP), &wl), 0);
	steer_fixture_raw_send(rawfd, buf, len);
	p.fd = harness_accept_within(lfd, 2000, &peer);
	assert_true(p.fd >= 0);
	assert_int_equal(peer.sin_addr.s_addr, ip4(POD_IP));
	assert_int_equal(poll(&p, 1, 2000), 1);
	assert_int_equal(read(p.fd, got, sizeof(got)), 5);
	close(p.fd);
	close(rawfd);
	close(lfd);
}

/*
 * The plaintext slot of @v6's family emptied: its new flows fail closed, the other family's
 * listener notwithstanding, until the listener is back.
 */
static void no_listener_fails_closed(bool v6)
{
	int socks_fd = datapath_map_fd(fx.dp, v6 ? "proxy_socks6" : "proxy_socks");
	const char *enrolled = v6 ? ENROLLED6_IP : ENROLLED_IP;
	int inbound = v6 ? fx.inbound6_fd : fx.inbound_fd;
	uint64_t drops = counter(AMBIT_DROP_NO_PROXY);
	uint32_t key = AMBIT_SOCK_INBOUND;
	struct conn_result r;

	assert_int_equal(bpf_map_delete_elem(socks_fd, &key), 0);
	pod_connect(NULL, enrolled, 80, &r);
	assert_int_not_equal(r.err, 0);
	assert_true(counter(AMBIT_DROP_NO_PROXY) > drops);
	assert_true(queue_empty(fx.inbound_fd));
	assert_true(queue_empty(fx.inbound6_fd));
	assert_int_equal(proxy_sock_publish(socks_fd, AMBIT_SOCK_INBOUND, inbound), 0);
	expect_assigned_from(inbound, v6 ? POD6_IP : POD_IP, enrolled, 80);
}

static void test_no_listener_fails_closed(void **state)
{
	no_listener_fails_closed(false);
}

/* A source that is not the pod's own (@spoof, of its family): nothing from it gets through. */
static void spoofed_source_dropped(const char *spoof, const char *enrolled)
{
	uint64_t drops = counter(AMBIT_DROP_SPOOFED_SOURCE);
	struct conn_result r;

	pod_connect(spoof, enrolled, 80, &r);
	assert_int_not_equal(r.err, 0);
	assert_true(counter(AMBIT_DROP_SPOOFED_SOURCE) > drops);
	assert_true(queue_empty(fx.inbound_fd));
	assert_true(queue_empty(fx.inbound6_fd));
}

static void test_spoofed_source_dropped(void **state)
{
	spoofed_source_dropped(SPOOF_IP, ENROLLED_IP);
}

/*
 * A client refused in the kernel gets the reset tc sends back out of its veth, from the real
 * stack's point of view: connect() fails with ECONNREFUSED (not a timeout after SYN retries, as
 * when the SYN was dropped), for STRICT and for a DENY ipBlocks source alike, after one SYN.
 */
/* STRICT on the enrolled pod of @v6's family (pod-wide), or its removal. */
static int set_strict(bool v6, bool on)
{
	struct sockaddr_storage e;

	if (!v6)
		return on ? datapath_set_strict_port(fx.dp, ip4(ENROLLED_IP), 0,
						     AMBIT_PLAINTEXT_DROP)
			  : datapath_del_strict_port(fx.dp, ip4(ENROLLED_IP), 0);
	sockaddr_of(ENROLLED6_IP, 0, &e);
	return on ? datapath_set_strict_port6(fx.dp, &((struct sockaddr_in6 *)&e)->sin6_addr, 0,
					      AMBIT_PLAINTEXT_DROP)
		  : datapath_del_strict_port6(fx.dp, &((struct sockaddr_in6 *)&e)->sin6_addr, 0);
}

/* A DENY of the pod's own address to the enrolled pod, of @v6's family, or its removal. */
static int set_deny(bool v6, bool on)
{
	struct sockaddr_storage e, p;
	struct in6_addr *e6 = &((struct sockaddr_in6 *)&e)->sin6_addr;
	struct in6_addr *p6 = &((struct sockaddr_in6 *)&p)->sin6_addr;

	if (!v6)
		return on ? datapath_set_deny_src(fx.dp, ip4(ENROLLED_IP), ip4(POD_IP), 32)
			  : datapath_del_deny_src(fx.dp, ip4(ENROLLED_IP), ip4(POD_IP), 32);
	sockaddr_of(ENROLLED6_IP, 0, &e);
	sockaddr_of(POD6_IP, 0, &p);
	return on ? datapath_set_deny_src6(fx.dp, e6, p6, 128)
		  : datapath_del_deny_src6(fx.dp, e6, p6, 128);
}

static void refused_syn_gets_reset(bool v6)
{
	const char *enrolled = v6 ? ENROLLED6_IP : ENROLLED_IP;
	int inbound = v6 ? fx.inbound6_fd : fx.inbound_fd;
	uint64_t strict = counter(AMBIT_DROP_STRICT_PLAINTEXT);
	uint64_t deny = counter(AMBIT_DROP_DENY_SOURCE);
	struct conn_result r;

	assert_int_equal(set_strict(v6, true), 0);
	pod_connect(NULL, enrolled, 80, &r);
	assert_int_equal(r.err, ECONNREFUSED);
	assert_int_equal(counter(AMBIT_DROP_STRICT_PLAINTEXT), strict + 1);
	/* HBONE is never refused here. */
	expect_assigned_from(v6 ? fx.hbone6_fd : fx.hbone_fd, v6 ? POD6_IP : POD_IP, enrolled,
			     AMBIT_PORT_HBONE);
	assert_int_equal(set_strict(v6, false), 0);

	assert_int_equal(set_deny(v6, true), 0);
	pod_connect(NULL, enrolled, 8080, &r);
	assert_int_equal(r.err, ECONNREFUSED);
	assert_int_equal(counter(AMBIT_DROP_DENY_SOURCE), deny + 1);
	assert_int_equal(set_deny(v6, false), 0);
	assert_true(queue_empty(inbound));
	expect_assigned_from(inbound, v6 ? POD6_IP : POD_IP, enrolled, 80);
}

static void test_refused_syn_gets_reset(void **state)
{
	refused_syn_gets_reset(false);
}

/*
 * The ztunnel's outbound leg to a local pod uses the client's address as source
 * (IP_TRANSPARENT). The pod's replies are addressed to that foreign address and only reach the
 * ztunnel's socket because the tc program finds and assigns it.
 */
/*
 * The node connects to the pod's address @pod from @client (of @pod's family, transparent), as
 * the ztunnel does; checks that the pod saw @client and that the answer reached that socket
 * through tc (established-socket path).
 */
static void transparent_connect(const char *client, const char *pod)
{
	uint64_t established = counter(AMBIT_ASSIGN_ESTABLISHED);
	struct timeval tv = {.tv_sec = 2};
	struct sockaddr_storage src, dst, seen;
	socklen_t src_len = sockaddr_of(client, 0, &src), dst_len = sockaddr_of(pod, 9000, &dst);
	int ready[2];
	int one = 1;
	int status;
	pid_t pid;
	char c;
	int fd;

	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		socklen_t len = sizeof(seen);
		int nsfd = open(fx.pod_ns, O_RDONLY | O_CLOEXEC);
		int lfd, afd;

		if (nsfd < 0 || setns(nsfd, CLONE_NEWNET))
			_exit(2);
		lfd = socket(dst.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
		    bind(lfd, (struct sockaddr *)&dst, dst_len) || listen(lfd, 4))
			_exit(3);
		if (write(ready[1], "x", 1) != 1)
			_exit(4);
		alarm(5);
		afd = accept(lfd, (struct sockaddr *)&seen, &len);
		if (afd < 0)
			_exit(5);
		if (write(ready[1], &seen, sizeof(seen)) != (ssize_t)sizeof(seen))
			_exit(6);
		_exit(0);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);

	fd = socket(dst.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(set_transparent(fd, dst.ss_family == AF_INET6), 0);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	assert_int_equal(bind(fd, (struct sockaddr *)&src, src_len), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&dst, dst_len), 0);
	assert_int_equal(read(ready[0], &seen, sizeof(seen)), (ssize_t)sizeof(seen));
	close(ready[0]);
	close(fd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(sockaddr_is(&seen, client, 0));
	/* The SYN-ACK was assigned to our connecting socket. */
	assert_true(counter(AMBIT_ASSIGN_ESTABLISHED) > established);
}

/* Inbound: the ztunnel delivers to the pod as a client outside the mesh (no workload). */
static void test_spoofed_source_return_path(void **state)
{
	transparent_connect(CLIENT_IP, POD_IP);
}

/*
 * Outbound passthrough: the ztunnel connects for an enrolled pod of this node, from its address,
 * to a pod outside the mesh (an ingress gateway). The answer is addressed to the enrolled pod,
 * which tc would capture; the socket that owns the 4-tuple takes it first, on the destination's
 * veth (same node) and on the uplink (the destination on another node: no pod behind the
 * interface), and the inbound listener gets nothing. The same over IPv6.
 */
static void test_passthrough_as_pod_return_path(void **state)
{
	transparent_connect(ENROLLED_IP, POD_IP);
	transparent_connect(ENROLLED6_IP, POD6_IP);
	assert_true(queue_empty(fx.inbound_fd));
	assert_true(queue_empty(fx.inbound6_fd));
	assert_int_equal(datapath_del_iface(fx.dp, fx.vh_ifindex), 0);
	transparent_connect(ENROLLED_IP, POD_IP);
	transparent_connect(ENROLLED6_IP, POD6_IP);
	assert_true(queue_empty(fx.inbound_fd));
	assert_true(queue_empty(fx.inbound6_fd));
}

/* vh is a pod's veth again, whatever the case left. */
static int iface_teardown(void **state)
{
	struct sockaddr_storage pod6;

	sockaddr_of(POD6_IP, 0, &pod6);
	return datapath_set_iface(fx.dp, fx.vh_ifindex, ip4(POD_IP)) ||
		       datapath_set_iface6(fx.dp, fx.vh_ifindex,
					   &((struct sockaddr_in6 *)&pod6)->sin6_addr)
		   ? -1
		   : 0;
}

/* ---- IPv6: a pod the mesh knows by its IPv6 address, as over IPv4 ---- */

/*
 * A new IPv6 flow to the enrolled pod is assigned to the IPv6 listener of its port's slot
 * (IPV6_TRANSPARENT, proxy_socks6), the SYN alone through the listener, the handshake's end and
 * the data through the established-socket path; the IPv4 listeners see nothing.
 */
static void test_ipv6_new_flows_assigned(void **state)
{
	uint64_t inbound = counter(AMBIT_ASSIGN_INBOUND);
	uint64_t hbone = counter(AMBIT_ASSIGN_HBONE);
	uint64_t established = counter(AMBIT_ASSIGN_ESTABLISHED);

	expect_assigned6(fx.inbound6_fd, 80);
	assert_int_equal(counter(AMBIT_ASSIGN_INBOUND), inbound + 1);
	assert_true(counter(AMBIT_ASSIGN_ESTABLISHED) >= established + 2);
	expect_assigned6(fx.hbone6_fd, AMBIT_PORT_HBONE);
	assert_int_equal(counter(AMBIT_ASSIGN_HBONE), hbone + 1);
	assert_true(queue_empty(fx.inbound_fd));
	assert_true(queue_empty(fx.hbone_fd));
	assert_true(queue_empty(fx.hbone6_fd));
}

/* With SYN cookies for every SYN, the handshake's last ACK finds the IPv6 listener by tc. */
static void test_ipv6_cookie_ack_assigned(void **state)
{
	uint64_t cookie = counter(AMBIT_ASSIGN_SYNCOOKIE);

	fx.syncookies = steer_fixture_syncookies(2);
	assert_true(fx.syncookies >= 0);
	expect_assigned6(fx.inbound6_fd, 80);
	assert_int_equal(counter(AMBIT_ASSIGN_SYNCOOKIE), cookie + 1);
}

static void test_ipv6_no_listener_fails_closed(void **state)
{
	no_listener_fails_closed(true);
}

/* The pod's other IPv6 address is not its own to the mesh. */
static void test_ipv6_spoofed_source_dropped(void **state)
{
	spoofed_source_dropped(SPOOF6_IP, ENROLLED6_IP);
}

/* The kernel's refusal answers with an IPv6 reset the pod's stack takes: ECONNREFUSED. */
static void test_ipv6_refused_syn_gets_reset(void **state)
{
	refused_syn_gets_reset(true);
}

/* The return path of the ztunnel's spoofed-source IPv6 connection to the pod. */
static void test_ipv6_spoofed_source_return_path(void **state)
{
	transparent_connect(CLIENT6_IP, POD6_IP);
}

static void test_reopen_keeps_tc_and_detach(void **state)
{
	struct conn_result r;
	uint64_t before;

	/* An agent restart re-attaches with BPF_TC_F_REPLACE over the same handle. */
	datapath_close(fx.dp);
	fx.dp = open_datapath_again();
	assert_non_null(fx.dp);
	assert_int_equal(datapath_attach_tc(fx.dp, fx.vh_ifindex), 0);
	expect_assigned(fx.inbound_fd, 80);

	assert_int_equal(datapath_detach_tc(fx.dp, fx.vh_ifindex), 0);
	assert_int_equal(datapath_detach_tc(fx.dp, fx.vh_ifindex), -ENOENT);
	/* A pod's veth takes tc_veth_egress too, and loses both. */
	assert_int_equal(datapath_attach_tc_veth(fx.dp, fx.vh_ifindex), 0);
	assert_int_equal(harness_sh("tc filter show dev vh egress | grep -q tc_veth_egress"), 0);
	assert_int_equal(datapath_detach_tc_veth(fx.dp, fx.vh_ifindex), 0);
	assert_int_not_equal(harness_sh("tc filter show dev vh egress | grep -q bpf"), 0);
	assert_int_equal(datapath_detach_tc_veth(fx.dp, fx.vh_ifindex), -ENOENT);
	before = counter(AMBIT_ASSIGN_INBOUND);
	/* Without the program nothing takes 10.201.0.9 here: no route, no listener. */
	pod_connect(NULL, ENROLLED_IP, 80, &r);
	assert_int_not_equal(r.err, 0);
	assert_int_equal(counter(AMBIT_ASSIGN_INBOUND), before);
	assert_true(queue_empty(fx.inbound_fd));
	assert_int_equal(datapath_attach_tc(fx.dp, -1), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_flow_assigned_to_inbound),
	    cmocka_unit_test(test_hbone_port_assigned_to_hbone),
	    cmocka_unit_test_teardown(test_cookie_ack_assigned_to_listener, syncookies_teardown),
	    cmocka_unit_test(test_no_listener_fails_closed),
	    cmocka_unit_test_teardown(test_app_cookie_ack_refused, app_cookie_teardown),
	    cmocka_unit_test(test_spoofed_source_dropped),
	    cmocka_unit_test(test_refused_syn_gets_reset),
	    cmocka_unit_test(test_spoofed_source_return_path),
	    cmocka_unit_test_teardown(test_passthrough_as_pod_return_path, iface_teardown),
	    cmocka_unit_test(test_ipv6_new_flows_assigned),
	    cmocka_unit_test_teardown(test_ipv6_cookie_ack_assigned, syncookies_teardown),
	    cmocka_unit_test(test_ipv6_no_listener_fails_closed),
	    cmocka_unit_test(test_ipv6_spoofed_source_dropped),
	    cmocka_unit_test(test_ipv6_refused_syn_gets_reset),
	    cmocka_unit_test(test_ipv6_spoofed_source_return_path),
	    cmocka_unit_test(test_reopen_keeps_tc_and_detach),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_tc: needs root (BPF, netns, tc), skipping\n");
		return 77;
	}
	if (system("command -v ip >/dev/null && command -v nsenter >/dev/null")) {
		fprintf(stderr, "test_tc: needs ip(8) and nsenter(1), skipping\n");
		return 77;
	}
	log_init("test_tc", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
