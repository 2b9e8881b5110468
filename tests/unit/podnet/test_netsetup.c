// SPDX-License-Identifier: Apache-2.0
/*
 * netsetup_neigh_forget in a netns of its own (unshare: the process leaves the host's network for
 * the test's): a pod's neighbour entries go, of both families, an unresolved one with the packet
 * it held, and what is not there is no error. netsetup_foreign_conns there too: the connections
 * of a netns from an address that is not its pod's (the ztunnel's transparent ones) are counted
 * and reset, of both families, and nothing else is; netsetup_pod_conns, the connections a pod
 * has from its own addresses; netsetup_accept_local on a pod's veth.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

#include "podnet/netsetup.h"
#include "../../lib/harness.h"

/* Whether `ip neigh` lists @ip on dev h0. */
static bool neigh_listed(const char *ip)
{
	char cmd[256], line[256];
	bool found = false;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ip neigh show dev h0 to %s 2>/dev/null", ip);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		found |= strncmp(line, ip, strlen(ip)) == 0;
	pclose(f);
	return found;
}

/*
 * The node's side of a pod: h0 (10.77.0.1, fd00:77::1) with its peer p0 in the same netns but
 * down, as a pod's interface the node resolves before it answers.
 */
static int group_setup(void **state)
{
	(void)state;
	if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
		fprintf(stderr, "test_netsetup needs root (unshare CLONE_NEWNET)\n");
		return -1;
	}
	return harness_sh(
	    "ip link set lo up && ip link add h0 type veth peer name p0 && "
	    "ip addr add 10.77.0.1/24 dev h0 && ip -6 addr add fd00:77::1/64 dev h0 nodad && "
	    "ip link set h0 up");
}

static int ifindex(void)
{
	int i = (int)if_nametoindex("h0");

	assert_true(i > 0);
	return i;
}

static void test_forgets_both_families(void **state)
{
	struct ipaddr ip6;
	uint32_t ip;

	(void)state;
	assert_int_equal(
	    harness_sh("ip neigh replace 10.77.0.2 lladdr 02:00:00:00:00:02 dev h0 && "
		       "ip -6 neigh replace fd00:77::2 lladdr 02:00:00:00:00:02 dev h0"),
	    0);
	assert_true(neigh_listed("10.77.0.2"));
	assert_true(neigh_listed("fd00:77::2"));
	assert_int_equal(inet_pton(AF_INET, "10.77.0.2", &ip), 1);
	assert_int_equal(ipaddr_parse_addr("fd00:77::2", &ip6), 0);
	assert_int_equal(netsetup_neigh_forget(ifindex(), ip, &ip6), 0);
	assert_false(neigh_listed("10.77.0.2"));
	assert_false(neigh_listed("fd00:77::2"));
	/* Gone already, and a pod of one family: no error. */
	assert_int_equal(netsetup_neigh_forget(ifindex(), ip, &ip6), 0);
	assert_int_equal(netsetup_neigh_forget(ifindex(), 0, &ip6), 0);
	assert_int_equal(netsetup_neigh_forget(ifindex(), ip, NULL), 0);
}

/* An unresolved entry holding a datagram (the peer is down): it goes, its packet with it. */
static void test_forgets_unresolved(void **state)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, "10.77.0.3", &to.sin_addr), 1);
	assert_int_equal(sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
	close(fd);
	assert_true(neigh_listed("10.77.0.3"));
	assert_int_equal(netsetup_neigh_forget(ifindex(), to.sin_addr.s_addr, NULL), 0);
	assert_false(neigh_listed("10.77.0.3"));
}

/* A device that is not there is the kernel's error, told. */
static void test_no_device(void **state)
{
	(void)state;
	assert_int_equal(netsetup_neigh_forget(999999, htonl(0x0a4d0002), NULL), -ENODEV);
}

/* h0's accept_local as /proc/sys shows it for this netns. */
static int h0_accept_local(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/conf/h0/accept_local", "r");
	int v = -1;

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &v), 1);
	fclose(f);
	return v;
}

/*
 * accept_local on a pod's host-side veth, which the node's own connections to the pod come back
 * in by to the ztunnel (bpf/lib/nodeguard.h), and off again; no device is an error.
 */
static void test_accept_local(void **state)
{
	(void)state;
	assert_int_equal(h0_accept_local(), 0);
	assert_int_equal(netsetup_accept_local(ifindex(), true), 0);
	assert_int_equal(h0_accept_local(), 1);
	assert_int_equal(netsetup_accept_local(ifindex(), false), 0);
	assert_int_equal(h0_accept_local(), 0);
	assert_int_equal(netsetup_accept_local(999999, true), -ENODEV);
	assert_int_equal(netsetup_accept_local(0, true), -EINVAL);
}

/* A transparent connection from @from (not an address of the netns) to @to:@port, or -1. */
static int transparent_conn(int family, const char *from, const char *to, uint16_t port)
{
	struct sockaddr_storage a = {0}, b = {0};
	socklen_t len =
	    family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;

	assert_true(fd >= 0);
	if (family == AF_INET) {
		struct sockaddr_in *f = (struct sockaddr_in *)&a, *t = (struct sockaddr_in *)&b;

		f->sin_family = t->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, from, &f->sin_addr), 1);
		assert_int_equal(inet_pton(AF_INET, to, &t->sin_addr), 1);
		t->sin_port = htons(port);
		assert_int_equal(setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)), 0);
	} else {
		struct sockaddr_in6 *f = (struct sockaddr_in6 *)&a, *t = (struct sockaddr_in6 *)&b;

		f->sin6_family = t->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, from, &f->sin6_addr), 1);
		assert_int_equal(inet_pton(AF_INET6, to, &t->sin6_addr), 1);
		t->sin6_port = htons(port);
		assert_int_equal(setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)), 0);
	}
	assert_int_equal(bind(fd, (struct sockaddr *)&a, len), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&b, len), -1);
	assert_int_equal(errno, EINPROGRESS);
	return fd;
}

static int so_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), 0);
	return err;
}

/*
 * The pod's app listens at 10.77.0.1:8080 and [fd00:77::1]:8080; the ztunnel's transparent
 * connections to it from a client's address (its answers go to h0, whose peer never answers: the
 * connections stay in SYN-SENT) are the ones counted; the pod's own connection to itself, one
 * from a second address of its own (10.77.0.9), a loopback one, and a transparent listener are
 * not. Reset, they fail, and none is left; the others go on.
 */
static void test_foreign_conns(void **state)
{
	struct sockaddr_in6 any = {.sin6_family = AF_INET6, .sin6_port = htons(8080)};
	uint32_t ip = htonl(0x0a4d0001);
	struct in6_addr ip6;
	int lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, zero = 0;
	int own, second, loop, tl, c4, c6;

	(void)state;
	assert_int_equal(harness_sh("ip addr add 127.0.0.1/8 dev lo 2>/dev/null; true"), 0);
	assert_int_equal(inet_pton(AF_INET6, "fd00:77::1", &ip6), 1);
	assert_true(lfd >= 0);
	assert_int_equal(setsockopt(lfd, SOL_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)), 0);
	assert_int_equal(setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&any, sizeof(any)), 0);
	assert_int_equal(listen(lfd, 16), 0);
	assert_int_equal(netsetup_foreign_conns(ip, &ip6, false), 0);

	own = transparent_conn(AF_INET, "10.77.0.1", "10.77.0.1", 8080);
	assert_int_equal(harness_sh("ip addr add 10.77.0.9/32 dev h0"), 0);
	second = transparent_conn(AF_INET, "10.77.0.9", "10.77.0.1", 8080);
	loop = transparent_conn(AF_INET, "127.0.0.1", "127.0.0.1", 8080);
	tl = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	{
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(15006)};

		assert_int_equal(inet_pton(AF_INET, "10.77.0.60", &a.sin_addr), 1);
		assert_int_equal(setsockopt(tl, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)), 0);
		assert_int_equal(bind(tl, (struct sockaddr *)&a, sizeof(a)), 0);
		assert_int_equal(listen(tl, 4), 0);
	}
	assert_int_equal(netsetup_foreign_conns(ip, &ip6, false), 0);

	c4 = transparent_conn(AF_INET, "10.77.0.50", "10.77.0.1", 8080);
	c6 = transparent_conn(AF_INET6, "fd00:77::50", "fd00:77::1", 8080);
	assert_int_equal(netsetup_foreign_conns(ip, &ip6, false), 2);
	/* The pod's addresses not named: still the netns' own (h0's), not counted. */
	assert_int_equal(netsetup_foreign_conns(0, NULL, false), 2);
	assert_int_equal(netsetup_foreign_conns(ip, &ip6, true), 2);
	assert_int_equal(so_error(c4), ECONNABORTED);
	assert_int_equal(so_error(c6), ECONNABORTED);
	assert_int_equal(netsetup_foreign_conns(ip, &ip6, false), 0);
	assert_int_equal(so_error(own), 0);
	assert_int_equal(so_error(second), 0);
	close(second);
	assert_int_equal(harness_sh("ip addr del 10.77.0.9/32 dev h0"), 0);
	close(c4);
	close(c6);
	close(own);
	close(loop);
	close(tl);
	close(lfd);
}

/* What netsetup_pod_conns reported: family, then local and remote port (host order). */
struct seen {
	unsigned int n4, n6;
	uint16_t ports[16][2];
	uint8_t families[16];
};

static int seen_add(uint8_t family, const struct inet_diag_sockid *id, void *ctx)
{
	struct seen *s = ctx;
	unsigned int i = s->n4 + s->n6;
	uint16_t sport = ntohs(id->idiag_sport), dport = ntohs(id->idiag_dport);

	/* test_foreign_conns' connections may linger in FIN-WAIT: this case's ports only. */
	if (sport != 9090 && sport != 9091 && dport != 9090 && dport != 9091)
		return 0;
	if (family == AF_INET)
		s->n4++;
	else
		s->n6++;
	if (i < 16) {
		s->families[i] = family;
		s->ports[i][0] = sport;
		s->ports[i][1] = dport;
	}
	return 0;
}

static bool seen_has(const struct seen *s, uint8_t family, uint16_t local, uint16_t remote)
{
	for (unsigned int i = 0; i < s->n4 + s->n6 && i < 16; i++)
		if (s->families[i] == family && s->ports[i][0] == local && s->ports[i][1] == remote)
			return true;
	return false;
}

static uint16_t local_port(int fd)
{
	struct sockaddr_storage a;
	socklen_t len = sizeof(a);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	return ntohs(a.ss_family == AF_INET ? ((struct sockaddr_in *)&a)->sin_port
					    : ((struct sockaddr_in6 *)&a)->sin6_port);
}

/* A connection from @from to @to:@port of @family, established; its accepted end in *@afd. */
static int pod_conn(int family, const char *to, uint16_t port, int lfd, int *afd)
{
	struct sockaddr_storage b = {0};
	socklen_t len =
	    family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (family == AF_INET) {
		struct sockaddr_in *t = (struct sockaddr_in *)&b;

		t->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, to, &t->sin_addr), 1);
		t->sin_port = htons(port);
	} else {
		struct sockaddr_in6 *t = (struct sockaddr_in6 *)&b;

		t->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, to, &t->sin6_addr), 1);
		t->sin6_port = htons(port);
	}
	assert_int_equal(connect(fd, (struct sockaddr *)&b, len), 0);
	*afd = accept(lfd, NULL, NULL);
	assert_true(*afd >= 0);
	return fd;
}

/*
 * netsetup_pod_conns, what a pod had open when it was enrolled: both ends of its connections
 * from its own addresses, of both families (a dual-stack socket's IPv4 one as IPv4), and a
 * request socket mid-handshake; not its listeners, nor a connection from another address.
 */
static void test_pod_conns(void **state)
{
	struct sockaddr_in6 any = {.sin6_family = AF_INET6, .sin6_port = htons(9091)};
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(9090)};
	uint32_t ip = htonl(0x0a4d0001);
	int l4 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int l6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1, zero = 0, c[3], s[3], half;
	struct in6_addr ip6;
	struct seen seen = {0};

	(void)state;
	assert_int_equal(inet_pton(AF_INET6, "fd00:77::1", &ip6), 1);
	assert_int_equal(inet_pton(AF_INET, "10.77.0.1", &a4.sin_addr), 1);
	assert_true(l4 >= 0 && l6 >= 0);
	assert_int_equal(setsockopt(l4, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	assert_int_equal(bind(l4, (struct sockaddr *)&a4, sizeof(a4)), 0);
	assert_int_equal(listen(l4, 16), 0);
	assert_int_equal(setsockopt(l6, SOL_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)), 0);
	assert_int_equal(setsockopt(l6, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	assert_int_equal(bind(l6, (struct sockaddr *)&any, sizeof(any)), 0);
	assert_int_equal(listen(l6, 16), 0);
	assert_int_equal(netsetup_pod_conns(ip, &ip6, seen_add, &seen), 0);
	assert_int_equal(seen.n4 + seen.n6, 0);

	c[0] = pod_conn(AF_INET, "10.77.0.1", 9090, l4, &s[0]);
	c[1] = pod_conn(AF_INET6, "::ffff:10.77.0.1", 9091, l6, &s[1]);
	c[2] = pod_conn(AF_INET6, "fd00:77::1", 9091, l6, &s[2]);
	/* From an address that is not the pod's: a request socket of the pod's listener only. */
	half = transparent_conn(AF_INET, "10.77.0.50", "10.77.0.1", 9090);
	assert_int_equal(netsetup_pod_conns(ip, &ip6, seen_add, &seen), 0);
	assert_int_equal(seen.n4, 5);
	assert_int_equal(seen.n6, 2);
	assert_true(seen_has(&seen, AF_INET, local_port(c[0]), 9090));
	assert_true(seen_has(&seen, AF_INET, 9090, local_port(c[0])));
	assert_true(seen_has(&seen, AF_INET, local_port(c[1]), 9091));
	assert_true(seen_has(&seen, AF_INET, 9091, local_port(c[1])));
	assert_true(seen_has(&seen, AF_INET6, local_port(c[2]), 9091));
	assert_true(seen_has(&seen, AF_INET6, 9091, local_port(c[2])));
	assert_true(seen_has(&seen, AF_INET, 9090, local_port(half)));
	/* Only the addresses named. */
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(netsetup_pod_conns(0, &ip6, seen_add, &seen), 0);
	assert_int_equal(seen.n4 + seen.n6, 2);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(netsetup_pod_conns(ip, NULL, seen_add, &seen), 0);
	assert_int_equal(seen.n4 + seen.n6, 5);
	for (int i = 0; i < 3; i++) {
		close(c[i]);
		close(s[i]);
	}
	close(half);
	close(l4);
	close(l6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forgets_both_families),
	    cmocka_unit_test(test_forgets_unresolved),
	    cmocka_unit_test(test_no_device),
	    cmocka_unit_test(test_accept_local),
	    cmocka_unit_test(test_foreign_conns),
	    cmocka_unit_test(test_pod_conns),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
