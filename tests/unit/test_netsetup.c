// SPDX-License-Identifier: Apache-2.0
/*
 * netsetup_neigh_forget in a netns of its own (unshare: the process leaves the host's network for
 * the test's): a pod's neighbour entries go, of both families, an unresolved one with the packet
 * it held, and what is not there is no error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

#include "netsetup.h"
#include "../lib/harness.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forgets_both_families),
	    cmocka_unit_test(test_forgets_unresolved),
	    cmocka_unit_test(test_no_device),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
