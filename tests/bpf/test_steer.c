// SPDX-License-Identifier: Apache-2.0
/*
 * BPF_PROG_TEST_RUN tests of the node's tc ingress program (tc_ingress, bpf/steer.bpf.c) with
 * hand-built packets, on the fixture of tests/lib/steer_fixture.h (a private netns, maps pinned
 * in a private bpffs directory; every verdict checked together with the one counter it must bump,
 * and no other). bpf_sk_assign needs a real tc ingress hook, which test_run does not provide:
 * where a socket is found, the program's attempt shows as DROP_ASSIGN_FAILED, which is what these
 * tests assert; the successful assignment is covered by test_tc and the integration tests. The
 * in-pod programs are tested in test_steer_pod.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>

#include "ambit/datapath.h"
#include "ambit/log.h"
#include "steer.skel.h"
#include "../lib/harness.h"
#include "../lib/steer_fixture.h"

/* A half-done setup is torn down here: cmocka skips the group teardown when setup fails. */
static int group_setup(void **state)
{
	if (steer_fixture_setup("steer") == 0)
		return 0;
	return steer_fixture_setup_failed("test_steer");
}

static void test_arp_passes(void **state)
{
	struct steer_pkt arp = {.eth_proto = ETH_P_ARP,
				.protocol = IPPROTO_TCP,
				.saddr = "10.1.0.6",
				.daddr = "10.1.0.9"};

	/* Even from a pod iface with a "wrong" address: ARP is not IP. */
	steer_fixture_expect(&arp, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	steer_fixture_expect(&arp, ENROLLED_POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
}

/*
 * ---- IPv6 fails closed for enrolled pods the mesh does not know by IPv6 ----
 * No pod here has an IPv6 entry (pod_ifaces6, workloads6): test_steer6.c has those.
 */

#define ICMP6_ECHO 128
#define ND_RS 133
#define ND_NS 135
#define ND_NA 136
#define MLD2_REPORT 143

/*
 * From an enrolled pod's veth: all but ICMPv6 is refused as unsupported, whatever the source;
 * ICMPv6 passes from a link-local address or :: only.
 */
static void test_ipv6_from_enrolled_pod(void **state)
{
	struct steer_pkt6 s = {.nexthdr = IPPROTO_TCP, .saddr = POD6_ENROLLED, .daddr = OUTSIDE6};

	steer_fixture_expect6(steer_fx.prog_fd, &s, ENROLLED_POD_IFINDEX, TC_ACT_SHOT,
			      AMBIT_DROP_IPV6_UNSUPPORTED);
	s.saddr = "fe80::9";
	steer_fixture_expect6(steer_fx.prog_fd, &s, ENROLLED_POD_IFINDEX, TC_ACT_SHOT,
			      AMBIT_DROP_IPV6_UNSUPPORTED);
	s.nexthdr = IPPROTO_UDP;
	steer_fixture_expect6(steer_fx.prog_fd, &s, ENROLLED_POD_IFINDEX, TC_ACT_SHOT,
			      AMBIT_DROP_IPV6_UNSUPPORTED);
	s.saddr = "fd00:1::7"; /* spoofed, but refused for being IPv6 first */
	steer_fixture_expect6(steer_fx.prog_fd, &s, ENROLLED_POD_IFINDEX, TC_ACT_SHOT,
			      AMBIT_DROP_IPV6_UNSUPPORTED);
	/* Behind an extension header: not ICMPv6 right after the fixed header. */
	s.saddr = "fe80::9";
	s.nexthdr = IPPROTO_TCP;
	s.ext = STEER_EXT_FRAGMENT;
	steer_fixture_expect6(steer_fx.prog_fd, &s, ENROLLED_POD_IFINDEX, TC_ACT_SHOT,
			      AMBIT_DROP_IPV6_UNSUPPORTED);
	s.nexthdr = IPPROTO_ICMPV6;
	s.icmp_type = MLD2_REPORT;
	s.ext = STEER_EXT_HOPOPTS;
	s.daddr = "ff02::16";
	steer_fixture_expect6(steer_fx.prog_fd, &s, ENROLLED_POD_IFINDEX, TC_ACT_SHOT,
			      AMBIT_DROP_IPV6_UNSUPPORTED);
	/* Neighbour discovery, DAD and router solicitation pass. */
	s.ext = 0;
	s.icmp_type = ND_NS;
	s.daddr = "ff02::1:ff00:9";
	steer_fixture_expect6(steer_fx.prog_fd, &s, ENROLLED_POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.saddr = "::";
	steer_fixture_expect6(steer_fx.prog_fd, &s, ENROLLED_POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.saddr = "febf:ffff::1"; /* the end of fe80::/10 */
	s.icmp_type = ND_RS;
	s.daddr = "ff02::2";
	steer_fixture_expect6(steer_fx.prog_fd, &s, ENROLLED_POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	/* Any other source: the data path cannot tell the pod's own, so it is spoofed. */
	s.icmp_type = ICMP6_ECHO;
	s.daddr = OUTSIDE6;
	s.saddr = POD6_ENROLLED;
	steer_fixture_expect6(steer_fx.prog_fd, &s, ENROLLED_POD_IFINDEX, TC_ACT_SHOT,
			      AMBIT_DROP_SPOOFED_SOURCE);
	s.saddr = "fec0::1"; /* just past fe80::/10 */
	s.icmp_type = ND_NA;
	s.daddr = "fe80::1";
	steer_fixture_expect6(steer_fx.prog_fd, &s, ENROLLED_POD_IFINDEX, TC_ACT_SHOT,
			      AMBIT_DROP_SPOOFED_SOURCE);
	s.saddr = "::1";
	steer_fixture_expect6(steer_fx.prog_fd, &s, ENROLLED_POD_IFINDEX, TC_ACT_SHOT,
			      AMBIT_DROP_SPOOFED_SOURCE);
}

/* A pod that is not enrolled keeps its IPv6, whatever it sends. */
static void test_ipv6_not_enrolled_untouched(void **state)
{
	struct steer_pkt6 s = {.nexthdr = IPPROTO_TCP, .saddr = POD6_PLAIN, .daddr = OUTSIDE6};

	steer_fixture_net6();
	steer_fixture_expect6(steer_fx.prog_fd, &s, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.nexthdr = IPPROTO_UDP;
	steer_fixture_expect6(steer_fx.prog_fd, &s, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.ext = STEER_EXT_HOPOPTS;
	steer_fixture_expect6(steer_fx.prog_fd, &s, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.ext = 0;
	s.nexthdr = IPPROTO_ICMPV6;
	s.icmp_type = ICMP6_ECHO;
	steer_fixture_expect6(steer_fx.prog_fd, &s, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	/* To it, from outside and from the other pod. */
	s.nexthdr = IPPROTO_TCP;
	s.saddr = OUTSIDE6;
	s.daddr = POD6_PLAIN;
	steer_fixture_expect6(steer_fx.prog_fd, &s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.nexthdr = IPPROTO_UDP;
	steer_fixture_expect6(steer_fx.prog_fd, &s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.saddr = "fe80::9";
	steer_fixture_expect6(steer_fx.prog_fd, &s, ENROLLED_POD_IFINDEX, TC_ACT_SHOT,
			      AMBIT_DROP_IPV6_UNSUPPORTED); /* the sender is enrolled */
}

/*
 * To an enrolled pod, found by the route to its address leaving by its veth: all but ICMPv6 is
 * refused, from outside and from another pod; elsewhere IPv6 passes.
 */
static void test_ipv6_to_enrolled_pod(void **state)
{
	struct steer_pkt6 s = {.nexthdr = IPPROTO_TCP, .saddr = OUTSIDE6, .daddr = POD6_ENROLLED};
	struct ambit_workload wl = {.flags = AMBIT_WL_LOCAL | AMBIT_WL_ENROLLED,
				    .ifindex = ENROLLED_POD_IFINDEX};
	uint32_t pod = harness_ip4("10.1.0.9");

	steer_fixture_net6();
	steer_fixture_expect6(steer_fx.prog_fd, &s, UPLINK_IFINDEX, TC_ACT_SHOT,
			      AMBIT_DROP_IPV6_UNSUPPORTED);
	s.nexthdr = IPPROTO_UDP;
	steer_fixture_expect6(steer_fx.prog_fd, &s, UPLINK_IFINDEX, TC_ACT_SHOT,
			      AMBIT_DROP_IPV6_UNSUPPORTED);
	s.nexthdr = IPPROTO_TCP;
	s.ext = STEER_EXT_HOPOPTS;
	steer_fixture_expect6(steer_fx.prog_fd, &s, UPLINK_IFINDEX, TC_ACT_SHOT,
			      AMBIT_DROP_IPV6_UNSUPPORTED);
	s.ext = 0;
	s.saddr = POD6_PLAIN; /* a pod of this node that is not enrolled */
	steer_fixture_expect6(steer_fx.prog_fd, &s, POD_IFINDEX, TC_ACT_SHOT,
			      AMBIT_DROP_IPV6_UNSUPPORTED);
	s.nexthdr = IPPROTO_ICMPV6;
	s.icmp_type = ICMP6_ECHO;
	steer_fixture_expect6(steer_fx.prog_fd, &s, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.saddr = "fe80::1";
	s.icmp_type = ND_NS;
	steer_fixture_expect6(steer_fx.prog_fd, &s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	/* Routed elsewhere, or nowhere. */
	s.nexthdr = IPPROTO_TCP;
	s.saddr = POD6_PLAIN;
	s.daddr = OUTSIDE6;
	steer_fixture_expect6(steer_fx.prog_fd, &s, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.daddr = "fd00:99::1";
	steer_fixture_expect6(steer_fx.prog_fd, &s, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	/* The same pod once it leaves the mesh, or when it is captured in its netns (in-pod). */
	s.daddr = POD6_ENROLLED;
	wl.flags = AMBIT_WL_LOCAL;
	assert_int_equal(datapath_set_workload(steer_fx.dp, pod, &wl), 0);
	steer_fixture_expect6(steer_fx.prog_fd, &s, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	wl.flags = AMBIT_WL_LOCAL | AMBIT_WL_ENROLLED | AMBIT_WL_INPOD;
	assert_int_equal(datapath_set_workload(steer_fx.dp, pod, &wl), 0);
	steer_fixture_expect6(steer_fx.prog_fd, &s, POD_IFINDEX, TC_ACT_SHOT,
			      AMBIT_DROP_IPV6_UNSUPPORTED);
	wl.flags = AMBIT_WL_LOCAL | AMBIT_WL_ENROLLED;
	assert_int_equal(datapath_set_workload(steer_fx.dp, pod, &wl), 0);
}

/*
 * A mislabelled IPv6 header is dropped as a broken IPv4 one is, for any pod. test_run itself
 * refuses an IPv6 frame shorter than its 40-byte fixed header (-EINVAL), so the program's bounds
 * check of it can only be shown not to misfire; fuzz_bpf feeds the rest.
 */
static void test_ipv6_truncated(void **state)
{
	struct steer_pkt6 s = {.nexthdr = IPPROTO_TCP, .saddr = OUTSIDE6, .daddr = POD6_PLAIN};
	static const uint32_t ifaces[] = {UPLINK_IFINDEX, POD_IFINDEX, ENROLLED_POD_IFINDEX};
	uint8_t buf[128];

	steer_fixture_net6();
	for (size_t i = 0; i < sizeof(ifaces) / sizeof(ifaces[0]); i++) {
		s.version = 4; /* an IPv4 header behind ETH_P_IPV6 */
		steer_fixture_expect6(steer_fx.prog_fd, &s, ifaces[i], TC_ACT_SHOT,
				      AMBIT_DROP_MALFORMED);
		s.version = 0;
	}
	s.truncate = ETH_HLEN + 39;
	assert_int_equal(bpf_prog_test_run_opts(steer_fx.prog_fd,
						&(struct bpf_test_run_opts){
						    .sz = sizeof(struct bpf_test_run_opts),
						    .data_in = buf,
						    .data_size_in = (uint32_t)steer_fixture_build6(
							buf, sizeof(buf), &s)}),
			 -EINVAL);
	/* The fixed header whole, its TCP header cut: broken, as an IPv4 one would be. */
	s.truncate = ETH_HLEN + 40;
	steer_fixture_expect6(steer_fx.prog_fd, &s, UPLINK_IFINDEX, TC_ACT_SHOT,
			      AMBIT_DROP_MALFORMED);
	steer_fixture_expect6(steer_fx.prog_fd, &s, ENROLLED_POD_IFINDEX, TC_ACT_SHOT,
			      AMBIT_DROP_MALFORMED);
}

static void test_truncated_dropped(void **state)
{
	struct steer_pkt s = steer_fixture_flow("10.9.0.1", "10.1.0.9");

	/*
	 * test_run itself refuses an IPv4 frame shorter than 20 bytes of header (-EINVAL), so the
	 * shortest truncation it can feed us is a header whose ihl reaches past the data.
	 */
	s.ihl = 8;
	s.truncate = ETH_HLEN + 20 + 8;
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	s.ihl = 5;
	s.truncate = ETH_HLEN + 20 + 8; /* half a TCP header */
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	s.truncate = 0;
	s.ihl = 4; /* shorter than the fixed header */
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
}

static void test_ip_options(void **state)
{
	struct steer_pkt s = steer_fixture_flow("10.9.0.1", "10.1.0.9");

	s.ihl = 6;
	/* TCP is found past the options: the flow reaches the enrolled-pod decision. */
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* Options claimed longer than the packet. */
	s.ihl = 15;
	s.truncate = ETH_HLEN + 20 + 20;
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	/* Options present, TCP header cut. */
	s.ihl = 6;
	s.truncate = ETH_HLEN + 24 + 12;
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
}

static void test_spoofed_source_dropped(void **state)
{
	struct steer_pkt s = steer_fixture_flow("10.1.0.6", "10.3.0.1");

	steer_fixture_expect(&s, POD_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_SPOOFED_SOURCE);
	s.protocol = IPPROTO_UDP; /* any protocol */
	steer_fixture_expect(&s, POD_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_SPOOFED_SOURCE);
	/* The same source is fine where no pod is bound to the ingress iface. */
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
}

static void test_legit_source_passes(void **state)
{
	struct steer_pkt s = steer_fixture_flow("10.1.0.5", "10.3.0.1");

	steer_fixture_expect(&s, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.protocol = IPPROTO_UDP;
	steer_fixture_expect(&s, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
}

static void test_enrolled_without_proxy_fails_closed(void **state)
{
	struct steer_pkt s = steer_fixture_flow("10.1.0.5", "10.1.0.9");

	steer_fixture_expect(&s, POD_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	s.dport = AMBIT_PORT_HBONE;
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* UDP to an enrolled pod is not captured by this program. */
	s.protocol = IPPROTO_UDP;
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
}

static void test_not_captured_passes(void **state)
{
	struct steer_pkt s = steer_fixture_flow("10.9.0.1", "10.1.0.5");

	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS); /* local, not enrolled */
	s.daddr = "10.2.0.9";
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS); /* enrolled, other node */
	s.daddr = "10.3.0.1";
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS); /* not a workload */
}

static void test_fragments(void **state)
{
	struct steer_pkt s = steer_fixture_flow("10.9.0.1", "10.1.0.9");

	s.frag_off = 0x2000; /* MF */
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	s.frag_off = 185; /* a later fragment: its payload is no TCP header */
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	s.daddr = "10.1.0.5";
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
}

static void test_listener_slot_selected(void **state)
{
	int socks_fd = datapath_map_fd(steer_fx.dp, "proxy_socks");
	struct steer_pkt s = steer_fixture_flow("10.9.0.1", "10.1.0.9");
	uint32_t key = AMBIT_SOCK_HBONE;
	uint16_t port;
	int lfd = steer_fixture_listener(&port);

	s.dport = AMBIT_PORT_HBONE;
	assert_true(socks_fd >= 0);
	assert_int_equal(proxy_sock_publish(socks_fd, AMBIT_SOCK_HBONE, lfd), 0);
	/* 15008 finds the HBONE listener and tries to assign it (refused outside tc ingress). */
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	/* Any other port wants the plaintext slot, which is empty. */
	s.dport = 80;
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	assert_int_equal(proxy_sock_publish(socks_fd, AMBIT_SOCK_INBOUND, lfd), 0);
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	assert_int_equal(proxy_sock_publish(socks_fd, AMBIT_SOCK__COUNT, lfd), -EINVAL);

	assert_int_equal(bpf_map_delete_elem(socks_fd, &key), 0);
	key = AMBIT_SOCK_INBOUND;
	assert_int_equal(bpf_map_delete_elem(socks_fd, &key), 0);
	close(lfd);
}

static void test_established_socket_wins(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in local;
	socklen_t alen = sizeof(local);
	struct ambit_workload wl = {.flags = AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL};
	struct steer_pkt s = {.protocol = IPPROTO_TCP, .saddr = "127.0.0.1", .daddr = "127.0.0.1"};
	uint16_t port;
	int lfd = steer_fixture_listener(&port);
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int afd;

	assert_true(cfd >= 0);
	a.sin_port = htons(port);
	assert_int_equal(connect(cfd, (struct sockaddr *)&a, sizeof(a)), 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(getsockname(cfd, (struct sockaddr *)&local, &alen), 0);
	/* Pretend 127.0.0.1 is an enrolled local pod, so the listener path would otherwise run. */
	assert_int_equal(datapath_set_workload(steer_fx.dp, htonl(INADDR_LOOPBACK), &wl), 0);

	/* client -> server: the accepted socket owns the 4-tuple, not the (absent) proxy. */
	s.sport = ntohs(local.sin_port);
	s.dport = port;
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	/* A new flow to the same port only matches the listener, which is skipped. */
	s.sport = (uint16_t)(s.sport == 65535 ? 1024 : s.sport + 1);
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);

	assert_int_equal(datapath_del_workload(steer_fx.dp, htonl(INADDR_LOOPBACK)), 0);
	close(afd);
	close(cfd);
	close(lfd);
}

/* A UDP socket bound to @ip:@port, connected to @peer:@peer_port when @peer: its fd. */
static int udp_sock(const char *ip, uint16_t *port, const char *peer, uint16_t peer_port)
{
	struct sockaddr_in a = harness_sin(ip, 0), p;
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	*port = ntohs(a.sin_port);
	if (peer) {
		p = harness_sin(peer, peer_port);
		assert_int_equal(connect(fd, (struct sockaddr *)&p, sizeof(p)), 0);
	}
	return fd;
}

/*
 * A pod's UDP answer to one of the ztunnel's flows into it (ztunnel/udp.h): the socket connected
 * back to exactly the pod's address and port takes it (the assignment tried: refused outside tc
 * ingress). A socket merely bound to the port, another source port, or the same from the uplink
 * is left alone.
 */
static void test_udp_answer_to_flow(void **state)
{
	struct steer_pkt s = steer_fixture_flow("10.1.0.5", "10.9.0.1");
	uint16_t port, any_port;
	int flow, any;

	/* The pod and the client are addresses of this netns, so a socket can stand for a flow. */
	assert_int_equal(harness_sh("ip addr add 10.1.0.5/32 dev lo && "
				    "ip addr add 10.9.0.1/32 dev lo"),
			 0);
	flow = udp_sock("10.9.0.1", &port, "10.1.0.5", 5353);
	any = udp_sock("0.0.0.0", &any_port, NULL, 0);
	s.protocol = IPPROTO_UDP;
	s.sport = 5353;
	s.dport = port;
	steer_fixture_expect(&s, POD_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	/* Not from a pod's veth: not looked up. */
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	/* Another source port is another flow: the connected socket is not its. */
	s.sport = 5354;
	steer_fixture_expect(&s, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	/* A socket only bound to the port does not take a pod's datagram to another host. */
	s.daddr = "10.3.0.1";
	s.dport = any_port;
	steer_fixture_expect(&s, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	/* Nor to this host: what is local is the kernel's to deliver as it would. */
	s.daddr = "10.9.0.1";
	steer_fixture_expect(&s, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	close(flow);
	close(any);
	assert_int_equal(harness_sh("ip addr del 10.1.0.5/32 dev lo && "
				    "ip addr del 10.9.0.1/32 dev lo"),
			 0);
}

static void test_strict_plaintext_dropped(void **state)
{
	struct steer_pkt s = steer_fixture_flow("10.9.0.1", "10.1.0.9");
	uint32_t pod = harness_ip4("10.1.0.9");

	/* Pod-wide STRICT: plaintext to any port is dropped, HBONE still reaches the proxy. */
	assert_int_equal(datapath_set_strict_port(steer_fx.dp, pod, 0, AMBIT_PLAINTEXT_DROP), 0);
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_REDIRECT, AMBIT_DROP_STRICT_PLAINTEXT);
	steer_fixture_expect(&s, POD_IFINDEX - 1, TC_ACT_REDIRECT, AMBIT_DROP_STRICT_PLAINTEXT);
	assert_int_equal(steer_fixture_strict_drops(pod, 0), 2);
	s.dport = AMBIT_PORT_HBONE;
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* A port-level PERMISSIVE exception under STRICT. */
	assert_int_equal(datapath_set_strict_port(steer_fx.dp, pod, 8080, AMBIT_PLAINTEXT_ALLOW),
			 0);
	s.dport = 8080;
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	s.dport = 80;
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_REDIRECT, AMBIT_DROP_STRICT_PLAINTEXT);
	/* Rewriting the same mode keeps the count; the pod default can be removed alone. */
	assert_int_equal(datapath_set_strict_port(steer_fx.dp, pod, 0, AMBIT_PLAINTEXT_DROP), 0);
	assert_int_equal(steer_fixture_strict_drops(pod, 0), 3);
	assert_int_equal(datapath_del_strict_port(steer_fx.dp, pod, 0), 0);
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* Port-level STRICT under a PERMISSIVE pod: only that port. */
	assert_int_equal(datapath_set_strict_port(steer_fx.dp, pod, 8080, AMBIT_PLAINTEXT_DROP), 0);
	assert_int_equal(steer_fixture_strict_drops(pod, 8080), 0);
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	s.dport = 8080;
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_REDIRECT, AMBIT_DROP_STRICT_PLAINTEXT);
	/* A pod that is not a captured local workload is never judged. */
	assert_int_equal(
	    datapath_set_strict_port(steer_fx.dp, harness_ip4("10.1.0.5"), 0, AMBIT_PLAINTEXT_DROP),
	    0);
	s.daddr = "10.1.0.5";
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	assert_int_equal(datapath_set_strict_port(steer_fx.dp, pod, 80, 7), -EINVAL);
	assert_int_equal(datapath_del_strict_port(steer_fx.dp, harness_ip4("10.1.0.5"), 0), 0);
	assert_int_equal(datapath_del_strict_port(steer_fx.dp, pod, 8080), 0);
	assert_int_equal(datapath_del_strict_port(steer_fx.dp, pod, 8080), 0); /* absent: fine */
}

/*
 * Plaintext UDP to an enrolled pod (the mesh's own reaches it from the ztunnel's sockets, never
 * through here): STRICT drops it as it does TCP's first segment, a port-level exception lets it
 * by, and so does the answer to the pod's own UDP past the mesh (udp_replies), for that peer and
 * port alone. A datagram's later pieces carry no ports: without the first they are nothing.
 */
static void test_udp_strict_plaintext(void **state)
{
	struct steer_pkt s = steer_fixture_flow("10.9.0.1", "10.1.0.9");
	struct steer_pkt out = steer_fixture_flow("10.1.0.9", "10.9.0.1");
	struct ambit_flow reply = {.saddr = harness_ip4("10.9.0.1"),
				   .daddr = harness_ip4("10.1.0.9"),
				   .sport = htons(5353),
				   .dport = htons(7007)};
	uint32_t pod = harness_ip4("10.1.0.9");
	int replies = datapath_map_fd(steer_fx.dp, "udp_replies");

	assert_true(replies >= 0);
	s.protocol = out.protocol = IPPROTO_UDP;
	s.sport = out.dport = 5353;
	s.dport = out.sport = 7007;
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS); /* PERMISSIVE */
	assert_int_equal(datapath_set_strict_port(steer_fx.dp, pod, 0, AMBIT_PLAINTEXT_DROP), 0);
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_STRICT_PLAINTEXT);
	steer_fixture_expect(&s, POD_IFINDEX - 1, TC_ACT_SHOT, AMBIT_DROP_STRICT_PLAINTEXT);
	assert_int_equal(steer_fixture_strict_drops(pod, 0), 2);
	assert_int_equal(datapath_set_strict_port(steer_fx.dp, pod, 7007, AMBIT_PLAINTEXT_ALLOW),
			 0);
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	assert_int_equal(datapath_del_strict_port(steer_fx.dp, pod, 7007), 0);
	s.frag_off = 185;
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.frag_off = 0;
	/* The pod asks 10.9.0.1 (outside the mesh) from 7007: the answer is no new traffic. */
	steer_fixture_expect(&out, ENROLLED_POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.sport = 5354;
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_STRICT_PLAINTEXT);
	assert_int_equal(bpf_map_delete_elem(replies, &reply), 0);
	assert_int_equal(datapath_del_strict_port(steer_fx.dp, pod, 0), 0);
}

static void test_deny_source_dropped(void **state)
{
	struct steer_pkt s = steer_fixture_flow("10.9.3.4", "10.1.0.9");
	uint32_t pod = harness_ip4("10.1.0.9");

	/* Host bits of the block are ignored (stored canonical). */
	assert_int_equal(datapath_set_deny_src(steer_fx.dp, pod, harness_ip4("10.9.77.1"), 16), 0);
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_REDIRECT, AMBIT_DROP_DENY_SOURCE);
	assert_int_equal(steer_fixture_deny_drops(pod, "10.9.0.0", 16), 1);
	s.saddr = "10.8.255.255"; /* just outside */
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* The source IP of HBONE is the peer node, not the client: never judged here. */
	s.saddr = "10.9.0.1";
	s.dport = AMBIT_PORT_HBONE;
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* Scoped to the destination pod: another workload is not affected. */
	s.dport = 80;
	s.daddr = "10.1.0.5";
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	/* A DENY of a single address, alongside a STRICT entry: the source decides first. */
	s.daddr = "10.1.0.9";
	s.saddr = "10.7.0.1";
	assert_int_equal(datapath_set_deny_src(steer_fx.dp, pod, harness_ip4("10.7.0.1"), 32), 0);
	assert_int_equal(datapath_set_strict_port(steer_fx.dp, pod, 0, AMBIT_PLAINTEXT_DROP), 0);
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_REDIRECT, AMBIT_DROP_DENY_SOURCE);
	assert_int_equal(datapath_del_strict_port(steer_fx.dp, pod, 0), 0);
	/* 0.0.0.0/0 denies every source. */
	assert_int_equal(datapath_set_deny_src(steer_fx.dp, pod, 0, 0), 0);
	s.saddr = "192.0.2.1";
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_REDIRECT, AMBIT_DROP_DENY_SOURCE);
	assert_int_equal(datapath_set_deny_src(steer_fx.dp, pod, 0, 33), -EINVAL);
	assert_int_equal(datapath_del_deny_src(steer_fx.dp, pod, 0, 0), 0);
	assert_int_equal(datapath_del_deny_src(steer_fx.dp, pod, harness_ip4("10.7.0.1"), 32), 0);
	assert_int_equal(datapath_del_deny_src(steer_fx.dp, pod, harness_ip4("10.9.0.0"), 16), 0);
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
}

/* RFC 1071 sum of @len bytes (even) at @p, plus @sum; 0xffff over a whole header means valid. */
/* A SYN refused in the kernel gets a reset; nothing else does (RFC 9293: never answer a RST). */
static void test_refused_syn_answered_with_reset(void **state)
{
	uint32_t pod = harness_ip4("10.1.0.9");
	struct steer_pkt s = steer_fixture_flow("10.9.3.4", "10.1.0.9");
	uint8_t buf[256];
	size_t len;

	/* STRICT, a client on another node (uplink): plain SYN, then SYN + FIN + 100 bytes. */
	assert_int_equal(datapath_set_strict_port(steer_fx.dp, pod, 0, AMBIT_PLAINTEXT_DROP), 0);
	len = steer_fixture_syn(buf, sizeof(buf), 5, "10.9.3.4", "10.1.0.9", 0, false);
	steer_fixture_expect_reset(steer_fx.prog_fd, buf, len, UPLINK_IFINDEX, 0, false,
				   AMBIT_DROP_STRICT_PLAINTEXT);
	len = steer_fixture_syn(buf, sizeof(buf), 5, "10.9.3.4", "10.1.0.9", 100, true);
	steer_fixture_expect_reset(steer_fx.prog_fd, buf, len, UPLINK_IFINDEX, 100, true,
				   AMBIT_DROP_STRICT_PLAINTEXT);
	assert_int_equal(steer_fixture_strict_drops(pod, 0), 2);
	assert_int_equal(datapath_del_strict_port(steer_fx.dp, pod, 0), 0);

	/* DENY ipBlocks, a client pod of this node (its veth), IP options on the SYN. */
	assert_int_equal(datapath_set_deny_src(steer_fx.dp, pod, harness_ip4("10.1.0.5"), 32), 0);
	len = steer_fixture_syn(buf, sizeof(buf), 8, "10.1.0.5", "10.1.0.9", 7, false);
	steer_fixture_expect_reset(steer_fx.prog_fd, buf, len, POD_IFINDEX, 7, false,
				   AMBIT_DROP_DENY_SOURCE);
	assert_int_equal(steer_fixture_deny_drops(pod, "10.1.0.5", 32), 1);

	/* A SYN that also carries RST is refused and counted, never answered. */
	len = steer_fixture_syn(buf, sizeof(buf), 5, "10.1.0.5", "10.1.0.9", 0, false);
	buf[sizeof(struct ethhdr) + sizeof(struct iphdr) + 13] |= 0x04;
	assert_int_equal(steer_fixture_run(steer_fx.prog_fd, buf, len, POD_IFINDEX, NULL),
			 TC_ACT_SHOT);
	assert_int_equal(steer_fixture_deny_drops(pod, "10.1.0.5", 32), 2);
	assert_int_equal(datapath_del_deny_src(steer_fx.dp, pod, harness_ip4("10.1.0.5"), 32), 0);
	/* Without the entry the same SYN goes on to the (absent) proxy. */
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
}

/*
 * The node's own plaintext to a pod captured the host way (tc_veth_egress at the pod veth's
 * egress, lib/nodeguard.h) meets the kernel refusals any plaintext from outside the mesh meets,
 * as in in-pod capture: a SYN from an address of the node to a STRICT port or from a DENY
 * ipBlocks source is answered with a reset, sent back into the node. The ztunnel's connections
 * (from their client's address), HBONE, open flows, in-pod pods and PERMISSIVE ports pass.
 */
static void test_node_traffic_refused(void **state)
{
	uint32_t pod = harness_ip4("10.1.0.9");
	struct steer_pkt s = steer_fixture_flow(NODE_IP, "10.1.0.9");
	int fd = steer_fx.veth_egress_prog_fd;
	uint8_t buf[256];
	size_t len;

	/*
	 * The node's address is one of this netns' own, the rest is routed out of the uplink as a
	 * node routes its clients; the FIB helper wants forwarding on.
	 */
	steer_fixture_net6();
	assert_int_equal(harness_sh("ip addr add %s/32 dev lo && ip route add default dev ambit-up "
				    "&& echo 1 > /proc/sys/net/ipv4/ip_forward",
				    NODE_IP),
			 0);
	/* PERMISSIVE: to the ztunnel's plaintext inbound (test_node_traffic_to_ztunnel). */
	steer_fixture_expect_prog(fd, &s, 0, TC_ACT_REDIRECT, AMBIT_REASON__COUNT, NULL);
	assert_int_equal(datapath_set_strict_port(steer_fx.dp, pod, 0, AMBIT_PLAINTEXT_DROP), 0);
	len = steer_fixture_syn(buf, sizeof(buf), 5, NODE_IP, "10.1.0.9", 0, false);
	steer_fixture_expect_reset(fd, buf, len, 0, 0, false, AMBIT_DROP_STRICT_PLAINTEXT);
	assert_int_equal(steer_fixture_strict_drops(pod, 0), 1);
	/* Not the node's: a client's address, which the ztunnel's connection to the pod has. */
	s.saddr = "10.9.3.4";
	steer_fixture_expect_prog(fd, &s, 0, TC_ACT_OK, AMBIT_REASON__COUNT, NULL);
	s.saddr = "10.1.0.5";
	steer_fixture_expect_prog(fd, &s, 0, TC_ACT_OK, AMBIT_REASON__COUNT, NULL);
	/* HBONE, and any segment but a SYN. */
	s.saddr = NODE_IP;
	s.dport = AMBIT_PORT_HBONE;
	steer_fixture_expect_prog(fd, &s, 0, TC_ACT_OK, AMBIT_REASON__COUNT, NULL);
	s.dport = 80;
	s.tcp_flags = TH_ACK;
	steer_fixture_expect_prog(fd, &s, 0, TC_ACT_OK, AMBIT_REASON__COUNT, NULL);
	s.tcp_flags = TH_SYN | TH_ACK;
	steer_fixture_expect_prog(fd, &s, 0, TC_ACT_OK, AMBIT_REASON__COUNT, NULL);
	s.tcp_flags = 0;
	/* Pods captured in their own netns (tc_pod judges there), or not enrolled. */
	assert_int_equal(
	    datapath_set_strict_port(steer_fx.dp, harness_ip4(INPOD_IP), 0, AMBIT_PLAINTEXT_DROP),
	    0);
	s.daddr = INPOD_IP;
	steer_fixture_expect_prog(fd, &s, 0, TC_ACT_OK, AMBIT_REASON__COUNT, NULL);
	assert_int_equal(datapath_del_strict_port(steer_fx.dp, harness_ip4(INPOD_IP), 0), 0);
	s.daddr = "10.1.0.5";
	steer_fixture_expect_prog(fd, &s, 0, TC_ACT_OK, AMBIT_REASON__COUNT, NULL);
	/* A PERMISSIVE port of the STRICT pod. */
	s.daddr = "10.1.0.9";
	assert_int_equal(datapath_set_strict_port(steer_fx.dp, pod, 80, AMBIT_PLAINTEXT_ALLOW), 0);
	steer_fixture_expect_prog(fd, &s, 0, TC_ACT_REDIRECT, AMBIT_REASON__COUNT, NULL);
	assert_int_equal(datapath_del_strict_port(steer_fx.dp, pod, 80), 0);
	assert_int_equal(datapath_del_strict_port(steer_fx.dp, pod, 0), 0);
	/* A DENY ipBlocks policy naming the node. */
	assert_int_equal(datapath_set_deny_src(steer_fx.dp, pod, harness_ip4(NODE_IP), 32), 0);
	len = steer_fixture_syn(buf, sizeof(buf), 5, NODE_IP, "10.1.0.9", 0, false);
	steer_fixture_expect_reset(fd, buf, len, 0, 0, false, AMBIT_DROP_DENY_SOURCE);
	/*
	 * The kubelet's probe (a socket of its cgroup, node_cfg) passes, STRICT or not; only its
	 * socket's: not once node_cfg names another cgroup, or none.
	 */
	assert_int_equal(datapath_set_kubelet_cgroup(steer_fx.dp, steer_fixture_own_cgroup()), 0);
	steer_fixture_expect_raw(fd, buf, len, 0, TC_ACT_OK, AMBIT_PASS_PROBE, NULL);
	assert_int_equal(datapath_set_strict_port(steer_fx.dp, pod, 0, AMBIT_PLAINTEXT_DROP), 0);
	steer_fixture_expect_prog(fd, &s, 0, TC_ACT_OK, AMBIT_PASS_PROBE, NULL);
	/*
	 * To an in-pod pod: tc_veth_egress writes the probe's SYN down (probe_flows) and tc_pod in
	 * the pod's netns lets that one SYN by, to the application; the node's other SYNs, and
	 * the same one again, tc_pod refuses as any plaintext under STRICT.
	 */
	s.daddr = INPOD_IP;
	assert_int_equal(
	    datapath_set_strict_port(steer_fx.dp, harness_ip4(INPOD_IP), 0, AMBIT_PLAINTEXT_DROP),
	    0);
	steer_fixture_expect_prog(fd, &s, 0, TC_ACT_OK, AMBIT_PASS_PROBE, NULL);
	steer_fixture_expect_pod(&s, TC_ACT_OK, AMBIT_PASS_PROBE);
	steer_fixture_expect_pod(&s, TC_ACT_REDIRECT, AMBIT_DROP_STRICT_PLAINTEXT);
	s.sport++;
	steer_fixture_expect_pod(&s, TC_ACT_REDIRECT, AMBIT_DROP_STRICT_PLAINTEXT);
	assert_int_equal(datapath_del_strict_port(steer_fx.dp, harness_ip4(INPOD_IP), 0), 0);
	s.daddr = "10.1.0.9";
	assert_int_equal(datapath_set_kubelet_cgroup(steer_fx.dp, steer_fixture_own_cgroup() + 1),
			 0);
	steer_fixture_expect_reset(fd, buf, len, 0, 0, false, AMBIT_DROP_DENY_SOURCE);
	assert_int_equal(datapath_set_kubelet_cgroup(steer_fx.dp, 0), 0);
	steer_fixture_expect_reset(fd, buf, len, 0, 0, false, AMBIT_DROP_DENY_SOURCE);
	s.daddr = INPOD_IP;
	steer_fixture_expect_prog(fd, &s, 0, TC_ACT_OK, AMBIT_REASON__COUNT, NULL);
	assert_int_equal(datapath_del_strict_port(steer_fx.dp, pod, 0), 0);
	assert_int_equal(datapath_del_deny_src(steer_fx.dp, pod, harness_ip4(NODE_IP), 32), 0);
	assert_int_equal(harness_sh("ip addr del %s/32 dev lo && ip route del default", NODE_IP),
			 0);
}

/*
 * Host capture: what the node's rule does not refuse goes to the ztunnel's plaintext inbound, as
 * in-pod, to be judged by the pod's ALLOW policies. tc_veth_egress turns the node's SYN, and any
 * later segment of a flow a socket of the ztunnel's owns, back into the node by the veth's
 * ingress (its MACs swapped, AMBIT_NODE_MARK), where tc_ingress assigns it to the ztunnel though
 * its source is not the pod's (refused as spoofed without the mark). The ztunnel's own
 * connections to the pod (AMBIT_PROXY_MARK) leave as they are.
 */
static void test_node_traffic_to_ztunnel(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct ambit_workload wl = {.flags = AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL};
	struct steer_pkt s = steer_fixture_flow(NODE_IP, "10.1.0.9");
	int socks_fd = datapath_map_fd(steer_fx.dp, "proxy_socks");
	int fd = steer_fx.veth_egress_prog_fd;
	uint32_t lo = htonl(INADDR_LOOPBACK), key = AMBIT_SOCK_INBOUND;
	struct sockaddr_in local;
	socklen_t alen = sizeof(local);
	struct steer_out out;
	uint8_t buf[128];
	size_t len;
	uint16_t port;
	int lfd, cfd, afd;

	steer_fixture_net6();
	assert_int_equal(harness_sh("ip addr add %s/32 dev lo && ip route add default dev ambit-up "
				    "&& echo 1 > /proc/sys/net/ipv4/ip_forward",
				    NODE_IP),
			 0);
	/* The node's SYN: back in, marked, its MACs swapped; nothing counted yet. */
	len = steer_fixture_build(buf, sizeof(buf), &s);
	steer_fixture_expect_raw(fd, buf, len, 0, TC_ACT_REDIRECT, AMBIT_REASON__COUNT, &out);
	assert_int_equal(out.mark, AMBIT_NODE_MARK);
	assert_int_equal(out.len, len);
	assert_memory_equal(out.data, buf + ETH_ALEN, ETH_ALEN);
	assert_memory_equal(out.data + ETH_ALEN, buf, ETH_ALEN);
	assert_memory_equal(out.data + 2 * ETH_ALEN, buf + 2 * ETH_ALEN, len - 2 * ETH_ALEN);
	/* The ztunnel's own connection from the node's address leaves for the pod. */
	steer_fixture_expect_marked(fd, buf, len, 0, AMBIT_PROXY_MARK, TC_ACT_OK,
				    AMBIT_REASON__COUNT, NULL);
	/*
	 * At tc_ingress, by the pod's veth: marked, the SYN goes to the plaintext listener (its
	 * assignment fails outside tc ingress); unmarked, it is a pod's spoofed source.
	 */
	steer_fixture_expect_marked(steer_fx.prog_fd, buf, len, ENROLLED_POD_IFINDEX,
				    AMBIT_NODE_MARK, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY, NULL);
	lfd = steer_fixture_listener(&port);
	assert_int_equal(proxy_sock_publish(socks_fd, AMBIT_SOCK_INBOUND, lfd), 0);
	steer_fixture_expect_marked(steer_fx.prog_fd, buf, len, ENROLLED_POD_IFINDEX,
				    AMBIT_NODE_MARK, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED, NULL);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, ENROLLED_POD_IFINDEX, TC_ACT_SHOT,
				 AMBIT_DROP_SPOOFED_SOURCE, NULL);
	/* Marked, a segment of no flow of the ztunnel's is dropped: it goes nowhere else. */
	s.tcp_flags = TH_ACK;
	len = steer_fixture_build(buf, sizeof(buf), &s);
	steer_fixture_expect_marked(steer_fx.prog_fd, buf, len, ENROLLED_POD_IFINDEX,
				    AMBIT_NODE_MARK, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY, NULL);
	/* Nor to a pod that is not captured here. */
	s.tcp_flags = 0;
	s.daddr = "10.1.0.5";
	len = steer_fixture_build(buf, sizeof(buf), &s);
	steer_fixture_expect_marked(steer_fx.prog_fd, buf, len, POD_IFINDEX, AMBIT_NODE_MARK,
				    TC_ACT_SHOT, AMBIT_DROP_NO_PROXY, NULL);

	/*
	 * A flow the ztunnel took: a socket of the node receives its 4-tuple (an accepted one,
	 * here on 127.0.0.1, enrolled for the case). Its later segments go back in too, and at
	 * tc_ingress to that socket; those of no such socket leave as before (only a SYN opens).
	 */
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(cfd >= 0);
	a.sin_port = htons(port);
	assert_int_equal(connect(cfd, (struct sockaddr *)&a, sizeof(a)), 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(getsockname(cfd, (struct sockaddr *)&local, &alen), 0);
	assert_int_equal(datapath_set_workload(steer_fx.dp, lo, &wl), 0);
	s = (struct steer_pkt){.protocol = IPPROTO_TCP,
			       .saddr = "127.0.0.1",
			       .daddr = "127.0.0.1",
			       .sport = ntohs(local.sin_port),
			       .dport = port,
			       .tcp_flags = TH_ACK};
	len = steer_fixture_build(buf, sizeof(buf), &s);
	steer_fixture_expect_raw(fd, buf, len, 0, TC_ACT_REDIRECT, AMBIT_REASON__COUNT, &out);
	assert_int_equal(out.mark, AMBIT_NODE_MARK);
	steer_fixture_expect_marked(fd, buf, len, 0, AMBIT_PROXY_MARK, TC_ACT_OK,
				    AMBIT_REASON__COUNT, NULL);
	steer_fixture_expect_marked(steer_fx.prog_fd, buf, len, ENROLLED_POD_IFINDEX,
				    AMBIT_NODE_MARK, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED, NULL);
	s.sport = (uint16_t)(s.sport == 65535 ? 1024 : s.sport + 1);
	len = steer_fixture_build(buf, sizeof(buf), &s);
	steer_fixture_expect_raw(fd, buf, len, 0, TC_ACT_OK, AMBIT_REASON__COUNT, NULL);

	assert_int_equal(datapath_del_workload(steer_fx.dp, lo), 0);
	assert_int_equal(bpf_map_delete_elem(socks_fd, &key), 0);
	close(afd);
	close(cfd);
	close(lfd);
	assert_int_equal(harness_sh("ip addr del %s/32 dev lo && ip route del default", NODE_IP),
			 0);
}

/* A flow that was established before a policy change is the proxy's to judge, not tc's. */
static void test_established_flow_not_fast_dropped(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in local;
	socklen_t alen = sizeof(local);
	struct ambit_workload wl = {.flags = AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL};
	struct steer_pkt s = {.protocol = IPPROTO_TCP, .saddr = "127.0.0.1", .daddr = "127.0.0.1"};
	uint32_t lo = htonl(INADDR_LOOPBACK);
	uint16_t port;
	int lfd = steer_fixture_listener(&port);
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int afd;

	assert_true(cfd >= 0);
	a.sin_port = htons(port);
	assert_int_equal(connect(cfd, (struct sockaddr *)&a, sizeof(a)), 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(getsockname(cfd, (struct sockaddr *)&local, &alen), 0);
	assert_int_equal(datapath_set_workload(steer_fx.dp, lo, &wl), 0);
	assert_int_equal(datapath_set_strict_port(steer_fx.dp, lo, 0, AMBIT_PLAINTEXT_DROP), 0);
	assert_int_equal(datapath_set_deny_src(steer_fx.dp, lo, lo, 32), 0);

	s.sport = ntohs(local.sin_port);
	s.dport = port;
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	s.sport = (uint16_t)(s.sport == 65535 ? 1024 : s.sport + 1);
	steer_fixture_expect(&s, UPLINK_IFINDEX, TC_ACT_REDIRECT, AMBIT_DROP_DENY_SOURCE);

	assert_int_equal(datapath_del_deny_src(steer_fx.dp, lo, lo, 32), 0);
	assert_int_equal(datapath_del_strict_port(steer_fx.dp, lo, 0), 0);
	assert_int_equal(datapath_del_workload(steer_fx.dp, lo), 0);
	close(afd);
	close(cfd);
	close(lfd);
}

/*
 * ---- The ACK ending a SYN-cookie handshake of the ztunnel's listener ----
 * Under a SYN flood a listener answers with cookies and keeps no state, so the client's last ACK
 * matches no socket. To a captured pod, a pure ACK (ACK alone, no payload) that no socket owns goes
 * to the listener of its slot (15008: HBONE, else INBOUND) when bpf_tcp_check_syncookie takes its
 * cookie; anything else is refused (test_no_flow). The cookies are the kernel's: listeners on
 * COOKIE_POD_IP, a captured pod for these cases, answer raw SYNs with them (tcp_syncookies 2), and
 * the ACKs that end those handshakes are run through the program. An assignment shows as
 * DROP_ASSIGN_FAILED (test_run is no tc ingress hook); test_tc sees it succeed, with the node's
 * mark.
 */
#define COOKIE_POD_IP "127.0.0.2"

static struct {
	int syncookies; /* the netns' tcp_syncookies before the case, -1 when untouched */
	int lfd;	/* on COOKIE_POD_IP, a port the kernel picks: the INBOUND slot's listener */
	int hbone_lfd;	/* on COOKIE_POD_IP:15008 */
} ck = {.syncookies = -1, .lfd = -1, .hbone_lfd = -1};

static int cookie_case_teardown(void **state)
{
	int socks_fd = bpf_map__fd(steer_fx.skel->maps.proxy_socks);
	int err = 0;

	/* An array: its keys always exist, and deleting an empty slot fails; only empty it. */
	for (uint32_t slot = 0; slot < AMBIT_SOCK__COUNT; slot++)
		bpf_map_delete_elem(socks_fd, &slot);
	datapath_del_workload(steer_fx.dp, harness_ip4(COOKIE_POD_IP));
	if (ck.syncookies >= 0 && steer_fixture_syncookies(ck.syncookies) < 0)
		err = -1;
	ck.syncookies = -1;
	if (ck.lfd >= 0)
		close(ck.lfd);
	if (ck.hbone_lfd >= 0)
		close(ck.hbone_lfd);
	ck.lfd = ck.hbone_lfd = -1;
	return err;
}

/*
 * What becomes of a segment no socket owns: assigned to the listener; refused as of no flow (a
 * reset: lib/preflow.h); or passed, to a pod that is not captured, or a reset itself.
 */
enum cookie_fate { CK_PASS, CK_ASSIGNED, CK_REFUSED };

static void expect_cookie(const struct steer_seg *g, enum cookie_fate f)
{
	static const enum ambit_reason reasons[] = {
	    [CK_PASS] = AMBIT_PASS,
	    [CK_ASSIGNED] = AMBIT_DROP_ASSIGN_FAILED,
	    [CK_REFUSED] = AMBIT_DROP_NO_FLOW,
	};
	static const int actions[] = {
	    [CK_PASS] = TC_ACT_OK,
	    [CK_ASSIGNED] = TC_ACT_SHOT,
	    [CK_REFUSED] = TC_ACT_REDIRECT,
	};

	steer_fixture_expect_seg(steer_fx.prog_fd, g, UPLINK_IFINDEX, actions[f], reasons[f]);
}

static void test_cookie_ack_to_listener(void **state)
{
	int socks_fd = bpf_map__fd(steer_fx.skel->maps.proxy_socks);
	struct ambit_workload wl = {.flags = AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL};
	struct sockaddr_in hbone = harness_sin(COOKIE_POD_IP, AMBIT_PORT_HBONE);
	struct steer_seg g = {.saddr = "127.0.0.1", .daddr = COOKIE_POD_IP, .sport = 20001};
	struct steer_seg h = {.saddr = "127.0.0.1",
			      .daddr = COOKIE_POD_IP,
			      .sport = 20002,
			      .dport = AMBIT_PORT_HBONE};
	uint32_t pod = harness_ip4(COOKIE_POD_IP);
	uint32_t slot = AMBIT_SOCK_INBOUND;
	struct steer_seg v;

	ck.lfd = harness_listen(COOKIE_POD_IP, &g.dport);
	ck.hbone_lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(ck.hbone_lfd >= 0);
	assert_int_equal(bind(ck.hbone_lfd, (struct sockaddr *)&hbone, sizeof(hbone)), 0);
	assert_int_equal(listen(ck.hbone_lfd, 8), 0);
	assert_int_equal(datapath_set_workload(steer_fx.dp, pod, &wl), 0);
	ck.syncookies = steer_fixture_syncookies(2);
	assert_true(ck.syncookies >= 0);
	steer_fixture_cookie_handshake(&g);
	steer_fixture_cookie_handshake(&h);
	/* The check runs with cookies on overflow only, as on a node under a real flood. */
	assert_int_equal(steer_fixture_syncookies(1), 2);

	/* The slot is empty: the ACK is refused, as of no flow (test_no_flow). */
	expect_cookie(&g, CK_REFUSED);
	/* The INBOUND slot's listener takes it: the look-up finds only a listener, which owns
	 * nothing. */
	assert_int_equal(proxy_sock_publish(socks_fd, AMBIT_SOCK_INBOUND, ck.lfd), 0);
	expect_cookie(&g, CK_ASSIGNED);
	/* Still pure: with TCP options (a Linux client's timestamps); padded as a short Ethernet
	 * frame is, which is no payload (the IP total length says where the packet ends). */
	v = g;
	v.timestamp = true;
	expect_cookie(&v, CK_ASSIGNED);
	v = g;
	v.pad = 60 - (ETH_HLEN + 40);
	expect_cookie(&v, CK_ASSIGNED);
	/* Not the handshake's last segment: data, FIN, RST, SYN (each with the valid cookie). */
	v = g;
	v.payload = 10;
	expect_cookie(&v, CK_REFUSED);
	v.flags = TH_ACK | TH_PUSH;
	expect_cookie(&v, CK_REFUSED);
	v = g;
	v.flags = TH_FIN | TH_ACK;
	expect_cookie(&v, CK_REFUSED);
	v.flags = TH_RST | TH_ACK;
	expect_cookie(&v, CK_PASS);
	v.flags = TH_SYN | TH_ACK;
	expect_cookie(&v, CK_REFUSED);
	/* A pure ACK whose cookie the listener never sent. */
	v = g;
	v.ack_seq ^= 0x80000000u;
	expect_cookie(&v, CK_REFUSED);
	v.ack_seq = 0x5eed5eedu;
	expect_cookie(&v, CK_REFUSED);

	/* The slot follows the port: 15008 wants HBONE's, empty until published. */
	expect_cookie(&h, CK_REFUSED);
	assert_int_equal(proxy_sock_publish(socks_fd, AMBIT_SOCK_HBONE, ck.hbone_lfd), 0);
	expect_cookie(&h, CK_ASSIGNED);
	assert_int_equal(bpf_map_delete_elem(socks_fd, &slot), 0);
	expect_cookie(&g, CK_REFUSED);
	assert_int_equal(proxy_sock_publish(socks_fd, AMBIT_SOCK_INBOUND, ck.lfd), 0);
	expect_cookie(&g, CK_ASSIGNED);

	/* Only to a captured pod: not enrolled, in-pod (its own netns decides), no workload. */
	wl.flags = AMBIT_WL_LOCAL;
	assert_int_equal(datapath_set_workload(steer_fx.dp, pod, &wl), 0);
	expect_cookie(&g, CK_PASS);
	wl.flags = INPOD_FLAGS;
	assert_int_equal(datapath_set_workload(steer_fx.dp, pod, &wl), 0);
	expect_cookie(&g, CK_PASS);
	expect_cookie(&h, CK_PASS);
	assert_int_equal(datapath_del_workload(steer_fx.dp, pod), 0);
	expect_cookie(&g, CK_PASS);
	assert_string_equal(ambit_reason_name(AMBIT_ASSIGN_SYNCOOKIE), "assign_syncookie");
}

/*
 * ---- Segments of no flow ----
 * To a captured pod, a segment that is not a SYN and that no socket owns opens nothing the mesh
 * has seen (an ACK with a SYN cookie minted for the pod's own listener would open a connection
 * past the proxy): it is answered with the reset a closed port sends, counted drop_no_flow. Only
 * a flow the pod had before its enrolment (preflows) passes, and a reset.
 */
static const uint8_t no_flow_flags[] = {
    TH_ACK, TH_ACK | TH_PUSH, TH_FIN | TH_ACK, TH_SYN | TH_ACK, TH_FIN, TH_PUSH, TH_URG,
};

static void expect_no_flow(const struct steer_seg *g, uint32_t ifindex)
{
	uint8_t buf[128];
	size_t len = steer_fixture_seg(buf, sizeof(buf), g);

	steer_fixture_expect_reset(steer_fx.prog_fd, buf, len, ifindex, g->payload,
				   g->flags & TH_FIN, AMBIT_DROP_NO_FLOW);
}

static void test_no_flow(void **state)
{
	struct steer_seg g = {.saddr = "10.9.0.1",
			      .daddr = "10.1.0.9",
			      .sport = 40000,
			      .dport = 80,
			      .seq = 1000,
			      .ack_seq = 0x5eed5eed};
	struct ambit_flow f = {.saddr = harness_ip4("10.9.0.1"),
			       .daddr = harness_ip4("10.1.0.9"),
			       .sport = htons(40000),
			       .dport = htons(80)};
	int fd = bpf_map__fd(steer_fx.skel->maps.preflows);
	struct ambit_preflow v;
	struct steer_seg h;
	uint64_t n = 0;

	for (size_t i = 0; i < sizeof(no_flow_flags); i++) {
		g.flags = no_flow_flags[i];
		g.payload = (g.flags & TH_PUSH) ? 10 : 0;
		expect_no_flow(&g, UPLINK_IFINDEX);
		/* From another pod of the node alike. */
		h = g;
		h.saddr = "10.1.0.5";
		expect_no_flow(&h, POD_IFINDEX);
	}
	/* A reset passes: it opens nothing, and ends a connection of the pod's the mesh lost. */
	g.payload = 0;
	g.flags = TH_RST;
	steer_fixture_expect_seg(steer_fx.prog_fd, &g, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	g.flags = TH_RST | TH_ACK;
	steer_fixture_expect_seg(steer_fx.prog_fd, &g, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	/* The SYN still goes to the proxy (none published: fail closed). */
	g.flags = TH_SYN;
	steer_fixture_expect_seg(steer_fx.prog_fd, &g, UPLINK_IFINDEX, TC_ACT_SHOT,
				 AMBIT_DROP_NO_PROXY);

	/* A flow the pod had before its enrolment passes, whatever the segment. */
	assert_int_equal(datapath_set_preflow(steer_fx.dp, &f), 0);
	for (size_t i = 0; i < sizeof(no_flow_flags); i++) {
		g.flags = no_flow_flags[i];
		steer_fixture_expect_seg(steer_fx.prog_fd, &g, UPLINK_IFINDEX, TC_ACT_OK,
					 AMBIT_PASS);
		n++;
	}
	g.flags = TH_RST | TH_ACK;
	steer_fixture_expect_seg(steer_fx.prog_fd, &g, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	n++;
	assert_int_equal(bpf_map_lookup_elem(fd, &f, &v), 0);
	assert_int_equal(v.packets, n);
	/* Recorded again (the agent's second look): its count is kept. */
	assert_int_equal(datapath_set_preflow(steer_fx.dp, &f), 0);
	assert_int_equal(bpf_map_lookup_elem(fd, &f, &v), 0);
	assert_int_equal(v.packets, n);
	/* A SYN of it is a new flow: the proxy's. */
	g.flags = TH_SYN;
	steer_fixture_expect_seg(steer_fx.prog_fd, &g, UPLINK_IFINDEX, TC_ACT_SHOT,
				 AMBIT_DROP_NO_PROXY);
	/* That flow only: another source port, another source. */
	g.flags = TH_ACK;
	h = g;
	h.sport = 40001;
	expect_no_flow(&h, UPLINK_IFINDEX);
	h = g;
	h.saddr = "10.9.0.2";
	expect_no_flow(&h, UPLINK_IFINDEX);

	/* The pod leaves the mesh: its flows are forgotten, and a new enrolment refuses them. */
	assert_int_equal(datapath_forget_preflows(steer_fx.dp, f.daddr, NULL), 1);
	assert_int_equal(datapath_forget_preflows(steer_fx.dp, f.daddr, NULL), 0);
	expect_no_flow(&g, UPLINK_IFINDEX);

	/* Only to a captured pod: not enrolled, on another node, in-pod, no workload. */
	static const char *const others[] = {"10.1.0.5", "10.2.0.9", INPOD_IP, "10.3.0.1"};

	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		g.daddr = others[i];
		steer_fixture_expect_seg(steer_fx.prog_fd, &g, UPLINK_IFINDEX, TC_ACT_OK,
					 AMBIT_PASS);
	}
	assert_string_equal(ambit_reason_name(AMBIT_DROP_NO_FLOW), "drop_no_flow");
	assert_true(ambit_reason_is_drop(AMBIT_DROP_NO_FLOW));
}

/*
 * ---- Ports a pod leaves out of capture (lib/excl.h) ----
 * 10.1.0.9 leaves out inbound 8081 (TCP and UDP) and outbound TCP 5432 and UDP 5353, as the
 * agent writes Istio's exclude annotations: to its veth, by ifindex, under AMBIT_WL_EXCL.
 */
static void test_excluded_ports(void **state)
{
	struct steer_seg in = {.saddr = "10.9.0.1",
			       .daddr = "10.1.0.9",
			       .sport = 40000,
			       .dport = 8081,
			       .seq = 1,
			       .flags = TH_SYN};
	struct steer_seg out = {.saddr = "10.1.0.9",
				.daddr = "10.9.0.1",
				.sport = 41000,
				.dport = 5432,
				.seq = 1,
				.flags = TH_SYN};
	struct steer_seg back = {.saddr = "10.9.0.1",
				 .daddr = "10.1.0.9",
				 .sport = 5432,
				 .dport = 41000,
				 .seq = 7,
				 .ack_seq = 2,
				 .flags = TH_SYN | TH_ACK};
	struct steer_pkt u = steer_fixture_flow("10.9.0.1", "10.1.0.9");
	struct steer_pkt uo = steer_fixture_flow("10.1.0.9", "10.2.0.9");
	struct ambit_flow reply = {.saddr = harness_ip4("10.9.0.1"),
				   .daddr = harness_ip4("10.1.0.9"),
				   .sport = htons(5432),
				   .dport = htons(41000)};
	uint32_t pod = harness_ip4("10.1.0.9");
	int wl_fd = datapath_map_fd(steer_fx.dp, "workloads");
	int replies = datapath_map_fd(steer_fx.dp, "excl_replies");
	struct ambit_workload wl, saved;
	uint32_t one;

	assert_true(wl_fd >= 0 && replies >= 0);
	assert_int_equal(bpf_map_lookup_elem(wl_fd, &pod, &saved), 0);
	steer_fixture_excl(8081, IPPROTO_TCP, AMBIT_EXCL_IN_IFACE, true);
	steer_fixture_excl(8081, IPPROTO_UDP, AMBIT_EXCL_IN_IFACE, true);
	steer_fixture_excl(5432, IPPROTO_TCP, AMBIT_EXCL_OUT_IFACE, true);
	steer_fixture_excl(5353, IPPROTO_UDP, AMBIT_EXCL_OUT_IFACE, true);
	u.protocol = uo.protocol = IPPROTO_UDP;
	u.dport = 8081;
	uo.sport = 7007;
	uo.dport = 5353;

	/* Entries alone change nothing: the pod's workload flag says to look. */
	steer_fixture_expect_seg(steer_fx.prog_fd, &in, UPLINK_IFINDEX, TC_ACT_SHOT,
				 AMBIT_DROP_NO_PROXY);
	wl = saved;
	wl.flags |= AMBIT_WL_EXCL;
	assert_int_equal(datapath_set_workload(steer_fx.dp, pod, &wl), 0);

	/* Inbound TCP to 8081, every segment: the pod's own, past the proxy. */
	steer_fixture_expect_seg(steer_fx.prog_fd, &in, UPLINK_IFINDEX, TC_ACT_OK,
				 AMBIT_PASS_EXCLUDED);
	in.flags = TH_ACK | TH_PUSH;
	in.payload = 10;
	steer_fixture_expect_seg(steer_fx.prog_fd, &in, UPLINK_IFINDEX, TC_ACT_OK,
				 AMBIT_PASS_EXCLUDED);
	in.saddr = "10.1.0.5"; /* from a pod of the node alike */
	steer_fixture_expect_seg(steer_fx.prog_fd, &in, POD_IFINDEX, TC_ACT_OK,
				 AMBIT_PASS_EXCLUDED);
	/* Another port of the pod stays captured: its SYN the proxy's, an ACK refused. */
	in.dport = 8082;
	in.flags = TH_SYN;
	in.payload = 0;
	steer_fixture_expect_seg(steer_fx.prog_fd, &in, POD_IFINDEX, TC_ACT_SHOT,
				 AMBIT_DROP_NO_PROXY);
	in.flags = TH_ACK;
	expect_no_flow(&in, POD_IFINDEX);

	/* Its own TCP to 5432: the SYN passes and its answers are let back. */
	steer_fixture_expect_seg(steer_fx.prog_fd, &out, ENROLLED_POD_IFINDEX, TC_ACT_OK,
				 AMBIT_PASS);
	assert_int_equal(bpf_map_lookup_elem(replies, &reply, &one), 0);
	steer_fixture_expect_seg(steer_fx.prog_fd, &back, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	back.flags = TH_ACK | TH_PUSH;
	back.payload = 10;
	steer_fixture_expect_seg(steer_fx.prog_fd, &back, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	/* Not to another of its ports, nor from another peer port. */
	back.dport = 41001;
	expect_no_flow(&back, UPLINK_IFINDEX);
	back.dport = 41000;
	back.sport = 5433;
	expect_no_flow(&back, UPLINK_IFINDEX);
	/* A SYN to a port it does not leave out writes nothing down. */
	out.sport = 41002;
	out.dport = 5433;
	steer_fixture_expect_seg(steer_fx.prog_fd, &out, ENROLLED_POD_IFINDEX, TC_ACT_OK,
				 AMBIT_PASS);
	reply.sport = htons(5433);
	reply.dport = htons(41002);
	assert_int_equal(bpf_map_lookup_elem(replies, &reply, &one), -ENOENT);

	/* UDP: to 8081 past STRICT; from it to 5353 of an enrolled pod, not to the ztunnel. */
	assert_int_equal(datapath_set_strict_port(steer_fx.dp, pod, 0, AMBIT_PLAINTEXT_DROP), 0);
	steer_fixture_expect(&u, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS_EXCLUDED);
	u.dport = 8082;
	steer_fixture_expect(&u, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_STRICT_PLAINTEXT);
	assert_int_equal(datapath_del_strict_port(steer_fx.dp, pod, 0), 0);
	steer_fixture_expect(&uo, ENROLLED_POD_IFINDEX, TC_ACT_OK, AMBIT_PASS_EXCLUDED);
	uo.dport = 5354;
	steer_fixture_expect(&uo, ENROLLED_POD_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_UDP_PROXY);

	/*
	 * Plaintext the pod takes from an enrolled workload (which left its port out): the pod's
	 * answer goes back as the datagram came, not to the ztunnel as a flow of its own.
	 */
	struct steer_pkt from_mesh = steer_fixture_flow("10.2.0.9", "10.1.0.9");
	struct steer_pkt answer = steer_fixture_flow("10.1.0.9", "10.2.0.9");
	struct ambit_flow ak = {.saddr = harness_ip4("10.1.0.9"),
				.daddr = harness_ip4("10.2.0.9"),
				.sport = htons(7010),
				.dport = htons(6000)};
	int udp_replies = datapath_map_fd(steer_fx.dp, "udp_replies");

	from_mesh.protocol = answer.protocol = IPPROTO_UDP;
	from_mesh.sport = answer.dport = 6000;
	from_mesh.dport = answer.sport = 7010;
	steer_fixture_expect(&answer, ENROLLED_POD_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_UDP_PROXY);
	steer_fixture_expect(&from_mesh, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	steer_fixture_expect(&answer, ENROLLED_POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	assert_int_equal(bpf_map_delete_elem(udp_replies, &ak), 0);
	/* And what the pod's own datagrams past the mesh wrote down, for the cases after this. */
	while (bpf_map_get_next_key(udp_replies, NULL, &ak) == 0)
		assert_int_equal(bpf_map_delete_elem(udp_replies, &ak), 0);

	assert_int_equal(datapath_set_workload(steer_fx.dp, pod, &saved), 0);
	steer_fixture_excl(8081, IPPROTO_TCP, AMBIT_EXCL_IN_IFACE, false);
	steer_fixture_excl(8081, IPPROTO_UDP, AMBIT_EXCL_IN_IFACE, false);
	steer_fixture_excl(5432, IPPROTO_TCP, AMBIT_EXCL_OUT_IFACE, false);
	steer_fixture_excl(5353, IPPROTO_UDP, AMBIT_EXCL_OUT_IFACE, false);
	reply.sport = htons(5432);
	reply.dport = htons(41000);
	assert_int_equal(bpf_map_delete_elem(replies, &reply), 0);
	assert_string_equal(ambit_reason_name(AMBIT_PASS_EXCLUDED), "pass_excluded");
	assert_false(ambit_reason_is_drop(AMBIT_PASS_EXCLUDED));
}

/*
 * A ServiceEntry's UDP port (bpf/lib/sentry.h): an enrolled pod's datagrams to the entry's
 * address go to the ztunnel (none listens here: dropped as such), port 53's too; another port of
 * that address, or a Service's port with a real backend there, goes on as addressed.
 */
static void test_service_entry_udp(void **state)
{
	struct steer_pkt u = steer_fixture_flow("10.1.0.9", "240.240.0.7");
	const struct ambit_backend marker = {0};
	const struct ambit_backend real = {.ip = harness_ip4("10.1.0.5"), .port = htons(9125)};
	uint32_t vip = harness_ip4("240.240.0.7");
	int udp_replies = datapath_map_fd(steer_fx.dp, "udp_replies");
	struct ambit_flow k;

	u.protocol = IPPROTO_UDP;
	u.sport = 7007;
	u.dport = 53;
	steer_fixture_expect(&u, ENROLLED_POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	assert_int_equal(datapath_set_service(steer_fx.dp, vip, 53, IPPROTO_UDP, &marker,
					      AMBIT_SERVICE_ENTRY_UDP_BACKENDS),
			 0);
	assert_int_equal(datapath_set_service(steer_fx.dp, vip, 9125, IPPROTO_UDP, &marker,
					      AMBIT_SERVICE_ENTRY_UDP_BACKENDS),
			 0);
	steer_fixture_expect(&u, ENROLLED_POD_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_UDP_PROXY);
	u.dport = 9125;
	steer_fixture_expect(&u, ENROLLED_POD_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_UDP_PROXY);
	u.dport = 9126;
	steer_fixture_expect(&u, ENROLLED_POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	/* A Service's port there, balanced at the socket already: tc leaves it. */
	assert_int_equal(datapath_set_service(steer_fx.dp, vip, 9125, IPPROTO_UDP, &real, 1), 0);
	u.dport = 9125;
	steer_fixture_expect(&u, ENROLLED_POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	assert_int_equal(datapath_del_service(steer_fx.dp, vip, 53, IPPROTO_UDP), 0);
	assert_int_equal(datapath_del_service(steer_fx.dp, vip, 9125, IPPROTO_UDP), 0);
	/* What the pod's datagrams past the mesh wrote down, for the cases after this. */
	while (bpf_map_get_next_key(udp_replies, NULL, &k) == 0)
		assert_int_equal(bpf_map_delete_elem(udp_replies, &k), 0);
}

/*
 * A ServiceEntry's UDP port over a CIDR block (sentry_cidrs): an enrolled pod's datagrams to any
 * address of the block on that port go to the ztunnel (no listener in the fixture: dropped as
 * such); another port, an address past the block, or a Service's own port at an address of the
 * block (services is asked first) go on; nothing once the entry is gone.
 */
static void test_service_entry_udp_cidr(void **state)
{
	struct steer_pkt u = steer_fixture_flow("10.1.0.9", "198.51.100.77");
	const struct ambit_backend real = {.ip = harness_ip4("10.1.0.5"), .port = htons(514)};
	int udp_replies = datapath_map_fd(steer_fx.dp, "udp_replies");
	uint32_t net = harness_ip4("198.51.100.0"), any = harness_ip4("198.51.100.99");
	uint32_t vip = harness_ip4("198.51.100.77");
	struct ambit_flow k;

	u.protocol = IPPROTO_UDP;
	u.sport = 7008;
	u.dport = 514;
	steer_fixture_expect(&u, ENROLLED_POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	/* Host bits set in what is written: cleared (the key is the block's). */
	assert_int_equal(datapath_set_sentry_cidr(steer_fx.dp, false, &any, 24, 514), 0);
	steer_fixture_expect(&u, ENROLLED_POD_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_UDP_PROXY);
	u.dport = 515;
	steer_fixture_expect(&u, ENROLLED_POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	u = steer_fixture_flow("10.1.0.9", "198.51.101.1");
	u.protocol = IPPROTO_UDP;
	u.sport = 7008;
	u.dport = 514;
	steer_fixture_expect(&u, ENROLLED_POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	/*
	 * A Service's UDP port at an address the trie holds (in a block, or a waypoint's
	 * Service's VIP, its /32): the cgroup hooks leave an enrolled pod's flow there as
	 * addressed, and tc takes it to the ztunnel like the block's (lib/sentry.h).
	 */
	u = steer_fixture_flow("10.1.0.9", "198.51.100.77");
	u.protocol = IPPROTO_UDP;
	u.sport = 7009;
	u.dport = 514;
	assert_int_equal(datapath_set_service(steer_fx.dp, vip, 514, IPPROTO_UDP, &real, 1), 0);
	steer_fixture_expect(&u, ENROLLED_POD_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_UDP_PROXY);
	/* Out of the trie, the Service's VIP is left to the socket's balancing. */
	assert_int_equal(datapath_del_sentry_cidr(steer_fx.dp, false, &net, 24, 514), 0);
	steer_fixture_expect(&u, ENROLLED_POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	/* Its /32 alone, as the agent writes a waypoint's Service's. */
	assert_int_equal(datapath_set_sentry_cidr(steer_fx.dp, false, &vip, 32, 514), 0);
	steer_fixture_expect(&u, ENROLLED_POD_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_UDP_PROXY);
	u.dport = 515;
	steer_fixture_expect(&u, ENROLLED_POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	u.dport = 514;
	assert_int_equal(datapath_del_service(steer_fx.dp, vip, 514, IPPROTO_UDP), 0);
	assert_int_equal(datapath_del_sentry_cidr(steer_fx.dp, false, &vip, 32, 514), 0);
	steer_fixture_expect(&u, ENROLLED_POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	while (bpf_map_get_next_key(udp_replies, NULL, &k) == 0)
		assert_int_equal(bpf_map_delete_elem(udp_replies, &k), 0);
}

static void test_reason_names(void **state)
{
	assert_string_equal(ambit_reason_name(AMBIT_PASS), "pass");
	assert_string_equal(ambit_reason_name(AMBIT_DROP_SPOOFED_SOURCE), "drop_spoofed_source");
	assert_string_equal(ambit_reason_name(AMBIT_DROP_NO_BACKEND), "drop_no_backend");
	assert_string_equal(ambit_reason_name(AMBIT_DROP_STRICT_PLAINTEXT),
			    "drop_strict_plaintext");
	assert_string_equal(ambit_reason_name(AMBIT_DROP_DENY_SOURCE), "drop_deny_source");
	assert_string_equal(ambit_reason_name(AMBIT_DROP_PROXY_PORT), "drop_proxy_port");
	assert_true(ambit_reason_is_drop(AMBIT_DROP_PROXY_PORT));
	assert_string_equal(ambit_reason_name(AMBIT_DROP_IPV6_UNSUPPORTED),
			    "drop_ipv6_unsupported");
	assert_true(ambit_reason_is_drop(AMBIT_DROP_IPV6_UNSUPPORTED));
	assert_string_equal(ambit_reason_name(AMBIT_REASON__COUNT), "unknown");
	assert_int_equal(datapath_map_fd(steer_fx.dp, "nonexistent"), -ENOENT);
}

/* ---- DNS answered in the kernel (bpf/lib/dnsfast.h) ---- */

static void test_dns_answered_in_kernel(void **state)
{
	int afd = datapath_map_fd(steer_fx.dp, "dns_answers");
	uint8_t q[128], buf[512], other[128], longq[200] = {0};
	struct ambit_dns_answer val = {0}, got;
	struct ambit_dns_key key = {0};
	struct steer_out out;
	struct iphdr ip;
	uint16_t udp[4];
	size_t qlen = steer_fixture_dns_query(q, 0x1234), len, alen;

	assert_true(afd >= 0);
	/* The answer the proxy made (its id is the proxy's first query's: replaced). */
	alen = steer_fixture_dns_query(val.a, 0xdead);
	val.a[2] = 0x81;
	val.a[3] = 0x80;
	val.a[7] = 1; /* one answer record: A 10.96.0.10, TTL 30 */
	memcpy(val.a + alen, "\xc0\x0c\0\1\0\1\0\0\0\x1e\0\4\x0a\x60\0\x0a", 16);
	alen += 16;
	val.alen = (uint16_t)alen;
	val.gen = 5;
	key.pod_ip = harness_ip4("10.1.0.5");
	key.qlen = (uint16_t)(qlen - 2);
	memcpy(key.q, q + 2, qlen - 2);

	len =
	    steer_fixture_dns_frame(buf, sizeof(buf), "10.1.0.5", NODE_IP, AMBIT_PORT_DNS, q, qlen);
	/* Nothing published, then published under another generation (none yet, then 4). */
	steer_fixture_expect_dns_gens(afd, &key, &val, buf, len, &out);
	assert_int_equal(out.len, ETH_HLEN + 20 + 8 + alen);
	assert_memory_equal(out.data, buf + ETH_ALEN, ETH_ALEN); /* MACs swapped */
	assert_memory_equal(out.data + ETH_ALEN, buf, ETH_ALEN);
	memcpy(&ip, out.data + ETH_HLEN, sizeof(ip));
	assert_int_equal(ip.version, 4);
	assert_int_equal(ip.ihl, 5);
	assert_int_equal(ntohs(ip.tot_len), 20 + 8 + alen);
	assert_int_equal(ip.protocol, IPPROTO_UDP);
	assert_int_equal(ip.saddr, harness_ip4(NODE_IP));
	assert_int_equal(ip.daddr, harness_ip4("10.1.0.5"));
	assert_int_equal(steer_fixture_csum(0, &ip, sizeof(ip)), 0xffff);
	memcpy(udp, out.data + ETH_HLEN + 20, sizeof(udp));
	assert_int_equal(ntohs(udp[0]), AMBIT_PORT_DNS);
	assert_int_equal(ntohs(udp[1]), 40000);
	assert_int_equal(ntohs(udp[2]), 8 + alen);
	assert_int_equal(udp[3], 0);
	/* The answer under the query's id. */
	assert_int_equal(out.data[ETH_HLEN + 28], 0x12);
	assert_int_equal(out.data[ETH_HLEN + 29], 0x34);
	assert_memory_equal(out.data + ETH_HLEN + 30, val.a + 2, alen - 2);
	assert_int_equal(bpf_map_lookup_elem(afd, &key, &got), 0);
	assert_int_equal(got.hits, 1);

	/* Another id: the same answer under it. */
	qlen = steer_fixture_dns_query(q, 0x0102);
	len =
	    steer_fixture_dns_frame(buf, sizeof(buf), "10.1.0.5", NODE_IP, AMBIT_PORT_DNS, q, qlen);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_REDIRECT,
				 AMBIT_DNS_ANSWERED, &out);
	assert_int_equal(out.data[ETH_HLEN + 28], 0x01);
	assert_int_equal(out.data[ETH_HLEN + 29], 0x02);

	/* Not the proxy's address, not its port, not this pod's entry, not the same bytes. */
	len = steer_fixture_dns_frame(buf, sizeof(buf), "10.1.0.5", "10.3.0.1", AMBIT_PORT_DNS, q,
				      qlen);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);
	len = steer_fixture_dns_frame(buf, sizeof(buf), "10.1.0.5", NODE_IP, 53, q, qlen);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);
	len =
	    steer_fixture_dns_frame(buf, sizeof(buf), "10.1.0.9", NODE_IP, AMBIT_PORT_DNS, q, qlen);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);
	memcpy(other, q, qlen);
	other[qlen - 1] = 28; /* AAAA */
	len = steer_fixture_dns_frame(buf, sizeof(buf), "10.1.0.5", NODE_IP, AMBIT_PORT_DNS, other,
				      qlen);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);
	/* A query shorter than a header, or longer than the kernel keeps: to the proxy. */
	len = steer_fixture_dns_frame(buf, sizeof(buf), "10.1.0.5", NODE_IP, AMBIT_PORT_DNS, q, 11);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);
	memcpy(longq, q, qlen);
	len = steer_fixture_dns_frame(buf, sizeof(buf), "10.1.0.5", NODE_IP, AMBIT_PORT_DNS, longq,
				      sizeof(longq));
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);
	/* A UDP length past the packet: nothing loaded, nothing answered. */
	len =
	    steer_fixture_dns_frame(buf, sizeof(buf), "10.1.0.5", NODE_IP, AMBIT_PORT_DNS, q, qlen);
	buf[ETH_HLEN + 20 + 5] += 20;
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);
	/* A new generation (a snapshot installed): the entry stops counting. */
	steer_fixture_dns_gen(6);
	len =
	    steer_fixture_dns_frame(buf, sizeof(buf), "10.1.0.5", NODE_IP, AMBIT_PORT_DNS, q, qlen);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);
	assert_int_equal(bpf_map_delete_elem(afd, &key), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_arp_passes),
	    cmocka_unit_test(test_ipv6_from_enrolled_pod),
	    cmocka_unit_test(test_ipv6_not_enrolled_untouched),
	    cmocka_unit_test(test_ipv6_to_enrolled_pod),
	    cmocka_unit_test(test_ipv6_truncated),
	    cmocka_unit_test(test_truncated_dropped),
	    cmocka_unit_test(test_ip_options),
	    cmocka_unit_test(test_spoofed_source_dropped),
	    cmocka_unit_test(test_legit_source_passes),
	    cmocka_unit_test(test_enrolled_without_proxy_fails_closed),
	    cmocka_unit_test(test_no_flow),
	    cmocka_unit_test(test_excluded_ports),
	    cmocka_unit_test(test_not_captured_passes),
	    cmocka_unit_test(test_fragments),
	    cmocka_unit_test(test_listener_slot_selected),
	    cmocka_unit_test(test_established_socket_wins),
	    cmocka_unit_test(test_udp_answer_to_flow),
	    cmocka_unit_test(test_udp_strict_plaintext),
	    cmocka_unit_test(test_strict_plaintext_dropped),
	    cmocka_unit_test(test_deny_source_dropped),
	    cmocka_unit_test(test_refused_syn_answered_with_reset),
	    cmocka_unit_test(test_node_traffic_refused),
	    cmocka_unit_test(test_node_traffic_to_ztunnel),
	    cmocka_unit_test(test_established_flow_not_fast_dropped),
	    cmocka_unit_test_teardown(test_cookie_ack_to_listener, cookie_case_teardown),
	    cmocka_unit_test(test_dns_answered_in_kernel),
	    cmocka_unit_test(test_service_entry_udp),
	    cmocka_unit_test(test_service_entry_udp_cidr),
	    cmocka_unit_test(test_reason_names),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_steer: needs root (BPF, netns), skipping\n");
		return 77;
	}
	log_init("test_steer", LOG_LEVEL_INFO);
	log_libbpf_setup();
	return cmocka_run_group_tests(tests, group_setup, steer_fixture_group_teardown);
}
