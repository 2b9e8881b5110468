// SPDX-License-Identifier: Apache-2.0
/*
 * BPF_PROG_TEST_RUN tests of tc_ingress (bpf/steer.bpf.c) for IPv6 of pods the mesh knows by
 * IPv6 (pod_ifaces6, workloads6): the extension header walk (lib/parse.h, parse_ipv6), the
 * anti-spoofing of a pod's veth, capture of TCP to an enrolled local pod and the kernel's
 * refusals with their IPv6 reset, on the fixture of tests/lib/steer_fixture.h. As in
 * test_steer.c, a socket found shows as DROP_ASSIGN_FAILED (test_run is no tc ingress hook);
 * test_tc assigns for real. Pods without an IPv6 entry are test_steer.c's. The in-pod programs
 * (tc_pod, tc_pod_egress) over a dual-stack in-pod pod's IPv6 are here too; test_steer_pod
 * runs them on real hooks.
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
#include <netinet/ip6.h>
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

/* The pods of the fixture with their IPv6 twins; 10.1.0.10 is an enrolled IPv4-only pod. */
#define POD6 "fd00:1::5"      /* 10.1.0.5: local, not enrolled, on POD_IFINDEX */
#define CAPTURED6 "fd00:1::9" /* 10.1.0.9: enrolled, local, on ENROLLED_POD_IFINDEX */
#define REMOTE6 "fd00:2::9"   /* 10.2.0.9: enrolled, on another node */
#define INPOD6 "fd00:1::20"   /* in-pod: captured in its own netns */
#define CLIENT6 "2001:db8::1" /* outside the cluster, by the uplink */
#define V4ONLY_IFINDEX 9
#define V4ONLY_IP "10.1.0.10"
/* A pod of the node outside the mesh the node knows by IPv4 alone (pod_ifaces, no workload). */
#define V4PLAIN_IFINDEX 10
#define V4PLAIN_IP "10.1.0.11"

#define ICMP6_ECHO 128
#define ND_RS 133
#define ND_RA 134
#define ND_NS 135
#define ND_NA 136
#define ND_REDIRECT 137
#define MLD2_REPORT 143
#define NEXTHDR_NONE 59

static struct in6_addr in6(const char *s)
{
	struct in6_addr a;

	assert_int_equal(inet_pton(AF_INET6, s, &a), 1);
	return a;
}

static int group_setup(void **state)
{
	struct ambit_workload wl = {.flags = AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL,
				    .ifindex = V4ONLY_IFINDEX};

	if (steer_fixture_setup("steer6") == 0 &&
	    steer_fixture_add_pod6(POD6, AMBIT_WL_LOCAL, POD_IFINDEX) == 0 &&
	    steer_fixture_add_pod6(CAPTURED6, AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL,
				   ENROLLED_POD_IFINDEX) == 0 &&
	    steer_fixture_add_pod6(REMOTE6, AMBIT_WL_ENROLLED, 0) == 0 &&
	    steer_fixture_add_pod6(INPOD6, INPOD_FLAGS, 0) == 0 &&
	    datapath_set_iface(steer_fx.dp, V4ONLY_IFINDEX, harness_ip4(V4ONLY_IP)) == 0 &&
	    datapath_set_iface(steer_fx.dp, V4PLAIN_IFINDEX, harness_ip4(V4PLAIN_IP)) == 0 &&
	    datapath_set_workload(steer_fx.dp, harness_ip4(V4ONLY_IP), &wl) == 0)
		return 0;
	return steer_fixture_setup_failed("test_steer6");
}

/*
 * An IPv6 frame: the fixed header, extension headers @ext[0..n_ext) (their Next Header values;
 * Hop-by-Hop and Routing 8 bytes, Destination Options 16, Fragment 8 with @frag_off, AH 24),
 * then @proto: TCP (@flags, 0 = SYN; @doff words, 0 = 5; @payload bytes), 8 bytes of UDP, 24 of
 * ICMPv6 (@icmp_type, and @icmp_target at byte 8 as a neighbour message's target, when set),
 * or nothing (No Next Header).
 */
struct pkt6 {
	const char *saddr, *daddr;
	uint8_t ext[12];
	unsigned int n_ext;
	uint16_t frag_off; /* host order: offset in 8-byte units << 3, M in bit 0 */
	bool long_ext;	   /* the last extension header claims 200 8-byte units more */
	uint8_t proto;
	uint8_t flags;
	uint8_t doff;
	uint16_t sport, dport;
	size_t payload;
	uint8_t icmp_type;
	const char *icmp_target;
	uint8_t tclass;
	size_t truncate; /* bytes kept from the start, 0 = whole frame */
};

static struct pkt6 tcp6(const char *saddr, const char *daddr)
{
	return (struct pkt6){
	    .saddr = saddr, .daddr = daddr, .proto = IPPROTO_TCP, .sport = 40000, .dport = 80};
}

static size_t ext_len(uint8_t type)
{
	return type == IPPROTO_DSTOPTS ? 16 : type == IPPROTO_AH ? 24 : 8;
}

static size_t build6(uint8_t *buf, size_t cap, const struct pkt6 *s)
{
	struct ethhdr eth = {.h_dest = {0x02, 0, 0, 0, 0, 0xd0},
			     .h_source = {0x02, 0, 0, 0, 0, 0x5c},
			     .h_proto = htons(ETH_P_IPV6)};
	struct ip6_hdr ip6 = {.ip6_hlim = 64};
	size_t off = ETH_HLEN + sizeof(ip6), l4_len;

	memset(buf, 0, cap);
	for (unsigned int i = 0; i < s->n_ext; i++) {
		uint8_t type = s->ext[i], next = i + 1 < s->n_ext ? s->ext[i + 1] : s->proto;
		size_t len = ext_len(type);

		assert_true(off + len <= cap);
		buf[off] = next;
		if (type == IPPROTO_FRAGMENT) {
			uint16_t fo = htons(s->frag_off);

			memcpy(buf + off + 2, &fo, 2);
			memcpy(buf + off + 4, "\x12\x34\x56\x78", 4);
		} else if (type == IPPROTO_AH) {
			buf[off + 1] = (uint8_t)(len / 4 - 2);
		} else {
			buf[off + 1] = (uint8_t)(len / 8 - 1);
			buf[off + 2] = 1; /* PadN over the rest */
			buf[off + 3] = (uint8_t)(len - 4);
		}
		if (s->long_ext && i + 1 == s->n_ext)
			buf[off + 1] += 200;
		off += len;
	}
	if (s->proto == IPPROTO_TCP) {
		struct tcphdr tcp = {.source = htons(s->sport),
				     .dest = htons(s->dport),
				     .seq = htonl(0x01020304),
				     .ack_seq = htonl(0x0a0b0c0d),
				     .doff = s->doff ? s->doff : 5,
				     .window = htons(64240)};

		tcp.th_flags = s->flags ? s->flags : TH_SYN;
		l4_len = sizeof(tcp) + s->payload;
		assert_true(off + l4_len <= cap);
		memcpy(buf + off, &tcp, sizeof(tcp));
		memset(buf + off + sizeof(tcp), 'x', s->payload);
	} else if (s->proto == IPPROTO_UDP) {
		uint16_t udp[4] = {htons(s->sport), htons(s->dport), htons(8), 0};

		l4_len = sizeof(udp);
		memcpy(buf + off, udp, sizeof(udp));
	} else if (s->proto == IPPROTO_ICMPV6) {
		struct in6_addr target =
		    s->icmp_target ? in6(s->icmp_target) : (struct in6_addr){0};

		l4_len = 24;
		buf[off] = s->icmp_type;
		memcpy(buf + off + 8, &target, sizeof(target));
	} else {
		l4_len = 0;
	}
	ip6.ip6_flow = htonl(6u << 28 | (uint32_t)s->tclass << 20 | 0xbeef);
	ip6.ip6_plen = htons((uint16_t)(off + l4_len - ETH_HLEN - sizeof(ip6)));
	ip6.ip6_nxt = s->n_ext ? s->ext[0] : s->proto;
	ip6.ip6_src = in6(s->saddr);
	ip6.ip6_dst = in6(s->daddr);
	memcpy(buf, &eth, sizeof(eth));
	memcpy(buf + ETH_HLEN, &ip6, sizeof(ip6));
	return s->truncate ? s->truncate : off + l4_len;
}

static void expect_prog(int prog_fd, const struct pkt6 *s, uint32_t ifindex, int action,
			enum ambit_reason reason)
{
	uint8_t buf[256];
	size_t len = build6(buf, sizeof(buf), s);

	steer_fixture_expect_raw(prog_fd, buf, len, ifindex, action, reason, NULL);
}

static void expect6(const struct pkt6 *s, uint32_t ifindex, int action, enum ambit_reason reason)
{
	expect_prog(steer_fx.prog_fd, s, ifindex, action, reason);
}

/* ---- the extension header walk: each path, judged as a SYN to the captured pod ---- */

static void test_parse_paths(void **state)
{
	struct pkt6 s = tcp6(CLIENT6, CAPTURED6);

	/* TCP found (no proxy here: the capture fails closed), whatever headers lead to it. */
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	s.n_ext = 2;
	s.ext[0] = IPPROTO_HOPOPTS;
	s.ext[1] = IPPROTO_DSTOPTS;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	s.n_ext = 3;
	s.ext[1] = IPPROTO_ROUTING;
	s.ext[2] = IPPROTO_DSTOPTS;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* AH counts 4-byte units less 2: read as 8-byte units the TCP header would be missed. */
	s.n_ext = 1;
	s.ext[0] = IPPROTO_AH;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* An atomic fragment (offset 0, M clear, RFC 6946) is a whole packet. */
	s.ext[0] = IPPROTO_FRAGMENT;
	s.frag_off = 0;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* Eight headers is the bound, and is walked. */
	s.n_ext = 8;
	memset(s.ext, IPPROTO_DSTOPTS, sizeof(s.ext));
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);

	/* Past the walk: UDP, ICMPv6 and No Next Header to the captured pod pass. */
	s.n_ext = 1;
	s.ext[0] = IPPROTO_HOPOPTS;
	s.proto = IPPROTO_UDP;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.proto = IPPROTO_ICMPV6;
	s.icmp_type = ICMP6_ECHO;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.proto = NEXTHDR_NONE;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
}

static void test_parse_fragments(void **state)
{
	struct pkt6 s = tcp6(CLIENT6, CAPTURED6);

	/* First fragment (offset 0, M): a TCP header, but the rest could not be matched. */
	s.n_ext = 2;
	s.ext[0] = IPPROTO_HOPOPTS;
	s.ext[1] = IPPROTO_FRAGMENT;
	s.frag_off = 1;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	/* A later one: what follows is data, even when it looks like a TCP header. */
	s.frag_off = 185 << 3;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	s.doff = 1; /* not read: no TCP header is there */
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	s.doff = 0;
	/* To pods that are not captured, fragments pass either way. */
	s.daddr = POD6;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.frag_off = 1;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.daddr = "2001:db8:9::1";
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	/* A non-first fragment of UDP to the captured pod: not TCP, passes as IPv4's does. */
	s.daddr = CAPTURED6;
	s.frag_off = 185 << 3;
	s.proto = IPPROTO_UDP;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
}

static void test_parse_malformed(void **state)
{
	struct pkt6 s = tcp6(CLIENT6, POD6);
	uint8_t buf[256];
	size_t len;

	/* Broken for every destination, even a pod outside the mesh (the stack would drop it). */
	s.n_ext = 9; /* one past the bound */
	memset(s.ext, IPPROTO_HOPOPTS, sizeof(s.ext));
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	s.proto = IPPROTO_UDP;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	/* A header whose length runs past the packet, before UDP and before TCP. */
	s.n_ext = 2;
	s.long_ext = true;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	s.proto = IPPROTO_TCP;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	s.long_ext = false;
	/* An extension header cut inside its first two bytes, and a Fragment header cut short. */
	s.truncate = ETH_HLEN + 40 + 8 + 1;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	s.ext[1] = IPPROTO_FRAGMENT;
	s.truncate = ETH_HLEN + 40 + 8 + 6;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	/* TCP cut short, behind headers and right after the fixed one. */
	s.ext[1] = IPPROTO_DSTOPTS;
	s.truncate = ETH_HLEN + 40 + 8 + 16 + 19;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	s.n_ext = 0;
	s.truncate = ETH_HLEN + 40 + 12;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	/* A TCP data offset below its own header. */
	s.truncate = 0;
	s.doff = 4;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	s.doff = 5;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	/* The fixed header: another version; cut short, which test_run itself refuses. */
	len = build6(buf, sizeof(buf), &s);
	buf[ETH_HLEN] = 0x40;
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, UPLINK_IFINDEX, TC_ACT_SHOT,
				 AMBIT_DROP_MALFORMED, NULL);
	assert_int_equal(bpf_prog_test_run_opts(
			     steer_fx.prog_fd,
			     &(struct bpf_test_run_opts){.sz = sizeof(struct bpf_test_run_opts),
							 .data_in = buf,
							 .data_size_in = ETH_HLEN + 39}),
			 -EINVAL);
}

/* ---- anti-spoofing of a pod's veth ---- */

static void test_spoofing(void **state)
{
	static const uint32_t veths[] = {POD_IFINDEX, ENROLLED_POD_IFINDEX};
	static const char *const own[] = {POD6, CAPTURED6};

	for (size_t i = 0; i < 2; i++) {
		struct pkt6 s = tcp6(own[i], CLIENT6);

		/* Its own address: anything. */
		expect6(&s, veths[i], TC_ACT_OK, AMBIT_PASS);
		s.proto = IPPROTO_UDP;
		expect6(&s, veths[i], TC_ACT_OK, AMBIT_PASS);
		s.proto = IPPROTO_ICMPV6;
		s.icmp_type = ICMP6_ECHO;
		expect6(&s, veths[i], TC_ACT_OK, AMBIT_PASS);
		/* Any other global address: nothing, ICMPv6 included. */
		s.saddr = "fd00:1::7";
		expect6(&s, veths[i], TC_ACT_SHOT, AMBIT_DROP_SPOOFED_SOURCE);
		s.proto = IPPROTO_TCP;
		expect6(&s, veths[i], TC_ACT_SHOT, AMBIT_DROP_SPOOFED_SOURCE);
		s.saddr = own[i == 0 ? 1 : 0]; /* another pod's */
		expect6(&s, veths[i], TC_ACT_SHOT, AMBIT_DROP_SPOOFED_SOURCE);
		/* Link-local and ::: ICMPv6 only (ND, DAD, MLD behind its Hop-by-Hop header). */
		s.saddr = "fe80::9";
		expect6(&s, veths[i], TC_ACT_SHOT, AMBIT_DROP_SPOOFED_SOURCE);
		s.proto = IPPROTO_UDP;
		expect6(&s, veths[i], TC_ACT_SHOT, AMBIT_DROP_SPOOFED_SOURCE);
		s.saddr = "::";
		expect6(&s, veths[i], TC_ACT_SHOT, AMBIT_DROP_SPOOFED_SOURCE);
		s.proto = IPPROTO_ICMPV6;
		s.icmp_type = ND_NS;
		s.daddr = "ff02::1:ff00:9";
		expect6(&s, veths[i], TC_ACT_OK, AMBIT_PASS);
		s.saddr = "fe80::9";
		expect6(&s, veths[i], TC_ACT_OK, AMBIT_PASS);
		s.n_ext = 1;
		s.ext[0] = IPPROTO_HOPOPTS;
		s.icmp_type = MLD2_REPORT;
		s.daddr = "ff02::16";
		expect6(&s, veths[i], TC_ACT_OK, AMBIT_PASS);
		/* The transport decides, not the first Next Header. */
		s.proto = IPPROTO_TCP;
		expect6(&s, veths[i], TC_ACT_SHOT, AMBIT_DROP_SPOOFED_SOURCE);
		s.saddr = "fec0::1"; /* just past fe80::/10 */
		s.proto = IPPROTO_ICMPV6;
		expect6(&s, veths[i], TC_ACT_SHOT, AMBIT_DROP_SPOOFED_SOURCE);
	}
}

/*
 * An enrolled pod the mesh does not know by IPv6 keeps the refusal of all but ICMPv6 (right
 * after the fixed header), which must come from link-local or ::.
 */
static void test_ipv4_only_pod(void **state)
{
	struct pkt6 s = tcp6("fd00:1::10", CLIENT6);

	expect6(&s, V4ONLY_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_IPV6_UNSUPPORTED);
	s.saddr = "fe80::10";
	expect6(&s, V4ONLY_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_IPV6_UNSUPPORTED);
	s.proto = IPPROTO_ICMPV6;
	s.icmp_type = ND_NS;
	expect6(&s, V4ONLY_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.n_ext = 1;
	s.ext[0] = IPPROTO_HOPOPTS;
	expect6(&s, V4ONLY_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_IPV6_UNSUPPORTED);
	s.n_ext = 0;
	s.saddr = "fd00:1::10";
	expect6(&s, V4ONLY_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_SPOOFED_SOURCE);
}

/*
 * What ICMPv6 a pod may send (lib/ndguard.h): never a Router Advertisement or a Redirect (the
 * CVE-2020-10749 class: an RA gave pods of a bridge an address and a default route through the
 * sender), a Neighbour Advertisement only for its own address, whatever the node knows of the
 * pod; the rest of neighbour discovery and ICMPv6 passes. From the uplink nothing changes.
 */
static void test_pod_nd_guard(void **state)
{
	static const uint32_t veths[] = {POD_IFINDEX, ENROLLED_POD_IFINDEX, V4ONLY_IFINDEX,
					 V4PLAIN_IFINDEX};
	static const char *const own[] = {POD6, CAPTURED6, NULL, NULL};
	struct pkt6 ra = {
	    .saddr = "fe80::1", .daddr = "ff02::1", .proto = IPPROTO_ICMPV6, .icmp_type = ND_RA};

	for (size_t i = 0; i < sizeof(veths) / sizeof(veths[0]); i++) {
		struct pkt6 s = {.saddr = "fe80::9", .daddr = "ff02::1", .proto = IPPROTO_ICMPV6};

		s.icmp_type = ND_RA;
		expect6(&s, veths[i], TC_ACT_SHOT, AMBIT_DROP_POD_ND);
		s.icmp_type = ND_REDIRECT;
		s.daddr = "fe80::5";
		s.icmp_target = "fe80::1";
		expect6(&s, veths[i], TC_ACT_SHOT, AMBIT_DROP_POD_ND);
		/* Behind a Hop-by-Hop header too: the transport decides. */
		s.n_ext = 1;
		s.ext[0] = IPPROTO_HOPOPTS;
		s.icmp_type = ND_RA;
		s.daddr = "ff02::1";
		/* (An enrolled pod the mesh knows by IPv4 alone sends no ICMPv6 behind one.) */
		expect6(&s, veths[i], TC_ACT_SHOT,
			veths[i] == V4ONLY_IFINDEX ? AMBIT_DROP_IPV6_UNSUPPORTED
						   : AMBIT_DROP_POD_ND);
		s.n_ext = 0;
		/* Router and neighbour solicitations, and echo, pass. */
		s.icmp_type = ND_RS;
		s.daddr = "ff02::2";
		s.icmp_target = NULL;
		expect6(&s, veths[i], TC_ACT_OK, AMBIT_PASS);
		s.icmp_type = ND_NS;
		s.daddr = "ff02::1:ff00:7";
		s.icmp_target = "fd00:1::7";
		expect6(&s, veths[i], TC_ACT_OK, AMBIT_PASS);
		s.icmp_type = ICMP6_ECHO;
		s.icmp_target = NULL;
		s.daddr = "fe80::1";
		expect6(&s, veths[i], TC_ACT_OK, AMBIT_PASS);
		/* An advertisement of its own link-local address, from it. */
		s.icmp_type = ND_NA;
		s.icmp_target = "fe80::9";
		expect6(&s, veths[i], TC_ACT_OK, AMBIT_PASS);
		/* Of another's, link-local or global (its neighbours' entries poisoned). */
		s.icmp_target = "fe80::7";
		expect6(&s, veths[i], TC_ACT_SHOT, AMBIT_DROP_POD_ND);
		s.icmp_target = "fd00:1::7";
		expect6(&s, veths[i], TC_ACT_SHOT, AMBIT_DROP_POD_ND);
		s.icmp_target = own[i == 0 ? 1 : 0];
		expect6(&s, veths[i], TC_ACT_SHOT, AMBIT_DROP_POD_ND);
		if (!own[i])
			continue;
		/* Of its own global address, from it or from its link-local address. */
		s.icmp_target = own[i];
		expect6(&s, veths[i], TC_ACT_OK, AMBIT_PASS);
		s.saddr = own[i];
		expect6(&s, veths[i], TC_ACT_OK, AMBIT_PASS);
		s.icmp_type = ND_RA;
		expect6(&s, veths[i], TC_ACT_SHOT, AMBIT_DROP_POD_ND);
	}
	/* A router's advertisement by the uplink is none of this. */
	expect6(&ra, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	ra.icmp_type = ND_NA;
	ra.icmp_target = "fd00:1::7";
	expect6(&ra, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
}

/* ---- capture of TCP to an enrolled local pod ---- */

static void expect_reset6(const struct pkt6 *s, uint32_t ifindex, enum ambit_reason reason);

static void test_capture_targets(void **state)
{
	struct pkt6 s = tcp6(CLIENT6, CAPTURED6);

	/* From outside and from another pod of the node, plaintext and HBONE. */
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	s.saddr = POD6;
	expect6(&s, POD_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	s.dport = AMBIT_PORT_HBONE;
	expect6(&s, POD_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* Only a SYN opens a flow: the rest has no socket here and is refused (test_no_flow6). */
	s.flags = TH_ACK;
	expect_reset6(&s, POD_IFINDEX, AMBIT_DROP_NO_FLOW);
	s.flags = TH_SYN | TH_ACK;
	expect_reset6(&s, POD_IFINDEX, AMBIT_DROP_NO_FLOW);
	/* Not captured: not enrolled, on another node, in-pod, no workload. */
	s = tcp6(CLIENT6, POD6);
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.daddr = REMOTE6;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.daddr = INPOD6;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.daddr = "2001:db8:9::1";
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
}

/* An IPv6 listener on ::1, a port the kernel picks (*@port). */
static int listener6(uint16_t *port)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	*port = ntohs(a.sin6_port);
	return fd;
}

static void test_proxy_slots6(void **state)
{
	int socks_fd = bpf_map__fd(steer_fx.skel->maps.proxy_socks6);
	int v4_fd = bpf_map__fd(steer_fx.skel->maps.proxy_socks);
	struct pkt6 s = tcp6(CLIENT6, CAPTURED6);
	uint16_t port;
	int lfd = listener6(&port);

	/* IPv4's slots do not serve IPv6. */
	assert_int_equal(proxy_sock_publish(v4_fd, AMBIT_SOCK_INBOUND, lfd), 0);
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* HBONE's slot for 15008, the plaintext one for the rest; found, then assigned. */
	assert_int_equal(proxy_sock_publish(socks_fd, AMBIT_SOCK_HBONE, lfd), 0);
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	s.dport = AMBIT_PORT_HBONE;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	assert_int_equal(proxy_sock_publish(socks_fd, AMBIT_SOCK_INBOUND, lfd), 0);
	s.dport = 80;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	/* A pure ACK whose cookie the listener never sent is of no flow: refused. */
	s.flags = TH_ACK;
	expect_reset6(&s, UPLINK_IFINDEX, AMBIT_DROP_NO_FLOW);

	for (uint32_t slot = 0; slot < AMBIT_SOCK__COUNT; slot++)
		bpf_map_delete_elem(socks_fd, &slot);
	bpf_map_delete_elem(v4_fd, &(uint32_t){AMBIT_SOCK_INBOUND});
	close(lfd);
}

/* A socket that owns the 4-tuple takes the packet: a flow of ::1, made a captured pod. */
static void test_established_socket_wins6(void **state)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
	struct ambit_workload wl = {.flags = AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL};
	struct pkt6 s = tcp6("::1", "::1");
	struct sockaddr_in6 local;
	socklen_t alen = sizeof(local);
	uint16_t port;
	int lfd = listener6(&port);
	int cfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int afd;

	assert_true(cfd >= 0);
	a.sin6_port = htons(port);
	assert_int_equal(connect(cfd, (struct sockaddr *)&a, sizeof(a)), 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(getsockname(cfd, (struct sockaddr *)&local, &alen), 0);
	assert_int_equal(datapath_set_workload6(steer_fx.dp, &in6addr_loopback, &wl), 0);
	assert_int_equal(
	    datapath_set_strict_port6(steer_fx.dp, &in6addr_loopback, 0, AMBIT_PLAINTEXT_DROP), 0);

	s.sport = ntohs(local.sin6_port);
	s.dport = port;
	s.flags = TH_ACK;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	/* Even a SYN of it: a flow open before a policy change is the proxy's to judge. */
	s.flags = TH_SYN;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	/* A new flow to the same port only matches the listener, which is skipped. */
	s.sport = (uint16_t)(s.sport == 65535 ? 1024 : s.sport + 1);
	assert_int_equal(datapath_del_strict_port6(steer_fx.dp, &in6addr_loopback, 0), 0);
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);

	assert_int_equal(datapath_del_workload6(steer_fx.dp, &in6addr_loopback), 0);
	close(afd);
	close(cfd);
	close(lfd);
}

/* ---- the kernel's refusals and their reset ---- */

/*
 * Runs @s (a SYN) from @ifindex and checks it came back as the reset a closed port sends over
 * IPv6 (tcp_v6_send_reset): no extension headers, addresses and ports swapped, traffic class
 * echoed, flow label 0, hop limit 64, RST|ACK, seq 0, ack = seq + SYN + FIN + payload, no options,
 * window 0, the checksum right over the RFC 8200 §8.1 pseudo-header. Counter @reason moves alone.
 * @s may be any segment without RST: one with an ACK gets RST alone, its seq the segment's ack.
 */
static void expect_reset6_prog(int prog_fd, const struct pkt6 *s, uint32_t ifindex,
			       enum ambit_reason reason)
{
	uint8_t in[256], pseudo[40] = {0};
	struct ethhdr in_eth, eth;
	struct ip6_hdr in_ip6, ip6;
	struct tcphdr tcp;
	struct steer_out out;
	size_t len = build6(in, sizeof(in), s);
	uint32_t in_seq = 0x01020304;

	steer_fixture_expect_raw(prog_fd, in, len, ifindex, TC_ACT_REDIRECT, reason, &out);
	memcpy(&in_eth, in, sizeof(in_eth));
	memcpy(&in_ip6, in + ETH_HLEN, sizeof(in_ip6));
	assert_int_equal(out.len, ETH_HLEN + sizeof(ip6) + sizeof(tcp));
	memcpy(&eth, out.data, sizeof(eth));
	memcpy(&ip6, out.data + ETH_HLEN, sizeof(ip6));
	memcpy(&tcp, out.data + ETH_HLEN + sizeof(ip6), sizeof(tcp));
	assert_int_equal(out.mark, 0);
	assert_memory_equal(eth.h_dest, in_eth.h_source, ETH_ALEN);
	assert_memory_equal(eth.h_source, in_eth.h_dest, ETH_ALEN);
	assert_int_equal(eth.h_proto, htons(ETH_P_IPV6));

	assert_int_equal(ntohl(ip6.ip6_flow), 6u << 28 | (uint32_t)s->tclass << 20);
	assert_int_equal(ntohs(ip6.ip6_plen), sizeof(tcp));
	assert_int_equal(ip6.ip6_nxt, IPPROTO_TCP);
	assert_int_equal(ip6.ip6_hlim, 64);
	assert_memory_equal(&ip6.ip6_src, &in_ip6.ip6_dst, 16);
	assert_memory_equal(&ip6.ip6_dst, &in_ip6.ip6_src, 16);

	assert_int_equal(ntohs(tcp.source), s->dport);
	assert_int_equal(ntohs(tcp.dest), s->sport);
	if (s->flags & TH_ACK) {
		/* RFC 9293 §3.10.7.1: <SEQ=SEG.ACK><CTL=RST>. */
		assert_int_equal(ntohl(tcp.seq), 0x0a0b0c0d);
		assert_int_equal(tcp.ack_seq, 0);
		assert_int_equal(tcp.th_flags, TH_RST);
	} else {
		assert_int_equal(ntohl(tcp.seq), 0);
		assert_int_equal(ntohl(tcp.ack_seq),
				 (uint32_t)(in_seq + (!s->flags || (s->flags & TH_SYN)) +
					    ((s->flags & TH_FIN) ? 1 : 0) + s->payload));
		assert_int_equal(tcp.th_flags, TH_RST | TH_ACK);
	}
	assert_int_equal(tcp.doff, 5);
	assert_int_equal(tcp.window, 0);
	assert_int_equal(tcp.urg_ptr, 0);
	memcpy(pseudo, &ip6.ip6_src, 16);
	memcpy(pseudo + 16, &ip6.ip6_dst, 16);
	pseudo[35] = sizeof(tcp);
	pseudo[39] = IPPROTO_TCP;
	assert_int_equal(
	    steer_fixture_csum(steer_fixture_csum(0, pseudo, sizeof(pseudo)), &tcp, sizeof(tcp)),
	    0xffff);
}

static void expect_reset6(const struct pkt6 *s, uint32_t ifindex, enum ambit_reason reason)
{
	expect_reset6_prog(steer_fx.prog_fd, s, ifindex, reason);
}

/*
 * To a captured pod, a segment that is not a SYN and that no socket owns is refused (a reset:
 * drop_no_flow), unless its flow predates the pod's enrolment (preflows6) or it is a reset.
 */
static void test_no_flow6(void **state)
{
	static const uint8_t flags[] = {
	    TH_ACK, TH_ACK | TH_PUSH, TH_FIN | TH_ACK, TH_SYN | TH_ACK, TH_FIN, TH_PUSH, TH_URG,
	};
	int fd = bpf_map__fd(steer_fx.skel->maps.preflows6);
	struct pkt6 s = tcp6(CLIENT6, CAPTURED6), h;
	struct in6_addr pod = in6(CAPTURED6), client = in6(CLIENT6);
	struct ambit_flow6 f = {.sport = htons(40000), .dport = htons(80)};
	struct ambit_preflow v;
	uint64_t n = 0;

	memcpy(f.saddr, &client, sizeof(f.saddr));
	memcpy(f.daddr, &pod, sizeof(f.daddr));
	for (size_t i = 0; i < sizeof(flags); i++) {
		s.flags = flags[i];
		s.payload = (flags[i] & TH_PUSH) ? 10 : 0;
		expect_reset6(&s, UPLINK_IFINDEX, AMBIT_DROP_NO_FLOW);
		h = s;
		h.saddr = POD6;
		expect_reset6(&h, POD_IFINDEX, AMBIT_DROP_NO_FLOW);
	}
	/* A reset passes: it opens nothing. */
	s.payload = 0;
	s.flags = TH_RST;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.flags = TH_RST | TH_ACK;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	/* Behind extension headers alike. */
	s.flags = TH_ACK;
	s.n_ext = 1;
	s.ext[0] = IPPROTO_DSTOPTS;
	expect_reset6(&s, UPLINK_IFINDEX, AMBIT_DROP_NO_FLOW);
	s.n_ext = 0;

	/* A flow the pod had before its enrolment passes. */
	assert_int_equal(datapath_set_preflow6(steer_fx.dp, &f), 0);
	for (size_t i = 0; i < sizeof(flags); i++) {
		s.flags = flags[i];
		expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
		n++;
	}
	assert_int_equal(bpf_map_lookup_elem(fd, &f, &v), 0);
	assert_int_equal(v.packets, n);
	/* Its SYN is a new flow, the proxy's (none published: fail closed). */
	s.flags = 0;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* That flow only. */
	s.flags = TH_ACK;
	s.sport = 40001;
	expect_reset6(&s, UPLINK_IFINDEX, AMBIT_DROP_NO_FLOW);
	s.sport = 40000;
	/* IPv4's map holds no IPv6 flow; the pod leaving forgets its flows. */
	assert_int_equal(datapath_forget_preflows(steer_fx.dp, harness_ip4("10.1.0.9"), NULL), 0);
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	assert_int_equal(datapath_forget_preflows(steer_fx.dp, 0, &pod), 1);
	expect_reset6(&s, UPLINK_IFINDEX, AMBIT_DROP_NO_FLOW);
	/* Not captured: passes. */
	s.daddr = POD6;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.daddr = INPOD6;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
}

static uint64_t strict_drops6(const char *ip6, uint16_t port)
{
	struct ambit_addr6 key = {.port = htons(port)};
	struct ambit_strict_port v;
	struct in6_addr a = in6(ip6);

	memcpy(key.ip6, &a, sizeof(key.ip6));
	assert_int_equal(
	    bpf_map_lookup_elem(bpf_map__fd(steer_fx.skel->maps.strict_ports6), &key, &v), 0);
	return v.drops;
}

static uint64_t deny_drops6(const char *dst, const char *src, unsigned int prefix)
{
	struct ambit_deny_src6_key key = {.prefixlen = 128 + prefix};
	struct in6_addr d = in6(dst), s = in6(src);
	struct ambit_deny_src v;

	memcpy(key.dst_ip6, &d, sizeof(key.dst_ip6));
	memcpy(key.src_ip6, &s, sizeof(key.src_ip6));
	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(steer_fx.skel->maps.deny_src6), &key, &v),
			 0);
	return v.drops;
}

/*
 * The node's own IPv6 plaintext to a pod captured the host way (tc_veth_egress,
 * lib/nodeguard.h): refused with a reset back into the node under STRICT, as IPv4's
 * (test_steer.c); a client's address, HBONE and an in-pod pod are none of its business.
 */
static void test_node_traffic_refused6(void **state)
{
	struct in6_addr pod = in6(CAPTURED6), inpod = in6(INPOD6);
	struct pkt6 s = tcp6(NODE_IP6, CAPTURED6);
	int fd = steer_fx.veth_egress_prog_fd;

	steer_fixture_net6();
	assert_int_equal(harness_sh("ip -6 addr add %s/128 dev lo nodad && "
				    "ip -6 route add default dev ambit-up",
				    NODE_IP6),
			 0);
	/* PERMISSIVE: to the ztunnel (test_node_traffic_to_ztunnel6). */
	expect_prog(fd, &s, 0, TC_ACT_REDIRECT, AMBIT_REASON__COUNT);
	assert_int_equal(datapath_set_strict_port6(steer_fx.dp, &pod, 0, AMBIT_PLAINTEXT_DROP), 0);
	assert_int_equal(datapath_set_strict_port6(steer_fx.dp, &inpod, 0, AMBIT_PLAINTEXT_DROP),
			 0);
	expect_reset6_prog(fd, &s, 0, AMBIT_DROP_STRICT_PLAINTEXT);
	assert_int_equal(strict_drops6(CAPTURED6, 0), 1);
	s.saddr = CLIENT6;
	expect_prog(fd, &s, 0, TC_ACT_OK, AMBIT_REASON__COUNT);
	s.saddr = NODE_IP6;
	s.dport = AMBIT_PORT_HBONE;
	expect_prog(fd, &s, 0, TC_ACT_OK, AMBIT_REASON__COUNT);
	s.dport = 80;
	s.flags = TH_ACK;
	expect_prog(fd, &s, 0, TC_ACT_OK, AMBIT_REASON__COUNT);
	s.flags = 0;
	s.daddr = INPOD6;
	expect_prog(fd, &s, 0, TC_ACT_OK, AMBIT_REASON__COUNT);
	/* The kubelet's probe passes, to the application in-pod too (once: probe_flows). */
	assert_int_equal(datapath_set_kubelet_cgroup(steer_fx.dp, steer_fixture_own_cgroup()), 0);
	expect_prog(fd, &s, 0, TC_ACT_OK, AMBIT_PASS_PROBE);
	expect_prog(steer_fx.pod_prog_fd, &s, POD_ETH0_IFINDEX, TC_ACT_OK, AMBIT_PASS_PROBE);
	expect_reset6_prog(steer_fx.pod_prog_fd, &s, POD_ETH0_IFINDEX, AMBIT_DROP_STRICT_PLAINTEXT);
	s.daddr = CAPTURED6;
	expect_prog(fd, &s, 0, TC_ACT_OK, AMBIT_PASS_PROBE);
	assert_int_equal(datapath_set_kubelet_cgroup(steer_fx.dp, 0), 0);
	expect_reset6_prog(fd, &s, 0, AMBIT_DROP_STRICT_PLAINTEXT);
	assert_int_equal(datapath_del_strict_port6(steer_fx.dp, &inpod, 0), 0);
	assert_int_equal(datapath_del_strict_port6(steer_fx.dp, &pod, 0), 0);
	assert_int_equal(
	    harness_sh("ip -6 addr del %s/128 dev lo && ip -6 route del default", NODE_IP6), 0);
}

/*
 * test_node_traffic_to_ztunnel over IPv6: the node's SYN back into the node, marked, its MACs
 * swapped; at tc_ingress by the pod's veth, to the plaintext listener marked (none here), as a
 * spoofed source unmarked; the ztunnel's own connection leaves. An extension header the node's
 * TCP never sends is refused rather than sent on past the ztunnel.
 */
static void test_node_traffic_to_ztunnel6(void **state)
{
	struct pkt6 s = tcp6(NODE_IP6, CAPTURED6);
	int fd = steer_fx.veth_egress_prog_fd;
	struct steer_out out;
	uint8_t buf[256];
	size_t len;

	steer_fixture_net6();
	assert_int_equal(harness_sh("ip -6 addr add %s/128 dev lo nodad && "
				    "ip -6 route add default dev ambit-up",
				    NODE_IP6),
			 0);
	len = build6(buf, sizeof(buf), &s);
	steer_fixture_expect_raw(fd, buf, len, 0, TC_ACT_REDIRECT, AMBIT_REASON__COUNT, &out);
	assert_int_equal(out.mark, AMBIT_NODE_MARK);
	assert_memory_equal(out.data, buf + ETH_ALEN, ETH_ALEN);
	assert_memory_equal(out.data + ETH_ALEN, buf, ETH_ALEN);
	assert_memory_equal(out.data + 2 * ETH_ALEN, buf + 2 * ETH_ALEN, len - 2 * ETH_ALEN);
	steer_fixture_expect_marked(fd, buf, len, 0, AMBIT_PROXY_MARK, TC_ACT_OK,
				    AMBIT_REASON__COUNT, NULL);
	steer_fixture_expect_marked(steer_fx.prog_fd, buf, len, ENROLLED_POD_IFINDEX,
				    AMBIT_NODE_MARK, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY, NULL);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, ENROLLED_POD_IFINDEX, TC_ACT_SHOT,
				 AMBIT_DROP_SPOOFED_SOURCE, NULL);
	s.ext[0] = IPPROTO_DSTOPTS;
	s.n_ext = 1;
	expect_prog(fd, &s, 0, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	len = build6(buf, sizeof(buf), &s);
	steer_fixture_expect_marked(steer_fx.prog_fd, buf, len, ENROLLED_POD_IFINDEX,
				    AMBIT_NODE_MARK, TC_ACT_SHOT, AMBIT_DROP_MALFORMED, NULL);
	assert_int_equal(
	    harness_sh("ip -6 addr del %s/128 dev lo && ip -6 route del default", NODE_IP6), 0);
}

static void test_strict_ports6(void **state)
{
	struct in6_addr pod = in6(CAPTURED6);
	struct pkt6 s = tcp6(CLIENT6, CAPTURED6);

	/* Pod-wide STRICT: plaintext refused with a reset, HBONE still to the proxy. */
	assert_int_equal(datapath_set_strict_port6(steer_fx.dp, &pod, 0, AMBIT_PLAINTEXT_DROP), 0);
	s.tclass = 0x2e;
	expect_reset6(&s, UPLINK_IFINDEX, AMBIT_DROP_STRICT_PLAINTEXT);
	/* Headers, a FIN and data on the SYN: none echoed, all acknowledged. */
	s.n_ext = 2;
	s.ext[0] = IPPROTO_HOPOPTS;
	s.ext[1] = IPPROTO_DSTOPTS;
	s.flags = TH_SYN | TH_FIN;
	s.payload = 100;
	expect_reset6(&s, UPLINK_IFINDEX, AMBIT_DROP_STRICT_PLAINTEXT);
	assert_int_equal(strict_drops6(CAPTURED6, 0), 2);
	s = tcp6(CLIENT6, CAPTURED6);
	s.dport = AMBIT_PORT_HBONE;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* A port-level PERMISSIVE exception; a segment with RST is counted, never answered. */
	assert_int_equal(datapath_set_strict_port6(steer_fx.dp, &pod, 8080, AMBIT_PLAINTEXT_ALLOW),
			 0);
	s.dport = 8080;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	s.dport = 80;
	s.flags = TH_SYN | TH_RST;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_STRICT_PLAINTEXT);
	assert_int_equal(strict_drops6(CAPTURED6, 0), 3);
	/* Port-level STRICT under a PERMISSIVE pod. */
	assert_int_equal(datapath_del_strict_port6(steer_fx.dp, &pod, 0), 0);
	assert_int_equal(datapath_set_strict_port6(steer_fx.dp, &pod, 8080, AMBIT_PLAINTEXT_DROP),
			 0);
	s.flags = 0;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	s.dport = 8080;
	s.saddr = POD6;
	expect_reset6(&s, POD_IFINDEX, AMBIT_DROP_STRICT_PLAINTEXT);
	assert_int_equal(strict_drops6(CAPTURED6, 8080), 1);
	/* IPv4's entry for the pod's IPv4 address judges no IPv6. */
	assert_int_equal(datapath_del_strict_port6(steer_fx.dp, &pod, 8080), 0);
	assert_int_equal(
	    datapath_set_strict_port(steer_fx.dp, harness_ip4("10.1.0.9"), 0, AMBIT_PLAINTEXT_DROP),
	    0);
	expect6(&s, POD_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	assert_int_equal(datapath_del_strict_port(steer_fx.dp, harness_ip4("10.1.0.9"), 0), 0);
}

/*
 * Ports the captured pod leaves out (lib/excl.h), over IPv6: inbound TCP to 8081 passes as the
 * pod's own, behind extension headers too; its own SYN to 5432 has its answers let back.
 */
static void test_excluded_ports6(void **state)
{
	struct ambit_excl_key in = {.id = ENROLLED_POD_IFINDEX,
				    .port = htons(8081),
				    .proto = IPPROTO_TCP,
				    .dir = AMBIT_EXCL_IN_IFACE};
	struct ambit_excl_key out = {.id = ENROLLED_POD_IFINDEX,
				     .port = htons(5432),
				     .proto = IPPROTO_TCP,
				     .dir = AMBIT_EXCL_OUT_IFACE};
	struct pkt6 s = tcp6(CLIENT6, CAPTURED6), o = tcp6(CAPTURED6, CLIENT6);

	assert_int_equal(datapath_set_excl(steer_fx.dp, &in), 0);
	assert_int_equal(datapath_set_excl(steer_fx.dp, &out), 0);
	assert_int_equal(steer_fixture_add_pod6(CAPTURED6,
						AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL | AMBIT_WL_EXCL,
						ENROLLED_POD_IFINDEX),
			 0);
	s.dport = 8081;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS_EXCLUDED);
	s.n_ext = 2;
	s.ext[0] = IPPROTO_HOPOPTS;
	s.ext[1] = IPPROTO_DSTOPTS;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS_EXCLUDED);
	s.flags = TH_ACK;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS_EXCLUDED);
	s.n_ext = 0;
	s.flags = 0;
	s.dport = 80;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* Out: the SYN passes and writes its answers down; the SYN-ACK back passes. */
	o.sport = 41000;
	o.dport = 5432;
	expect6(&o, ENROLLED_POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s = tcp6(CLIENT6, CAPTURED6);
	s.sport = 5432;
	s.dport = 41000;
	s.flags = TH_SYN | TH_ACK;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.dport = 41001;
	expect_reset6(&s, UPLINK_IFINDEX, AMBIT_DROP_NO_FLOW);
	assert_int_equal(steer_fixture_add_pod6(CAPTURED6, AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL,
						ENROLLED_POD_IFINDEX),
			 0);
	assert_int_equal(datapath_del_excl(steer_fx.dp, &in), 0);
	assert_int_equal(datapath_del_excl(steer_fx.dp, &out), 0);
	/* What the SYN wrote down, checked and taken: keyed as the answer came. */
	struct ambit_flow6 r = {.sport = htons(5432), .dport = htons(41000)};
	struct in6_addr pod = in6(CAPTURED6), client = in6(CLIENT6);

	memcpy(r.saddr, &client, sizeof(r.saddr));
	memcpy(r.daddr, &pod, sizeof(r.daddr));
	assert_int_equal(bpf_map_delete_elem(bpf_map__fd(steer_fx.skel->maps.excl_replies6), &r),
			 0);
}

static void test_deny_src6(void **state)
{
	struct in6_addr pod = in6(CAPTURED6), block = in6("2001:db8:7::"), any = in6("::");
	struct pkt6 s = tcp6("2001:db8:7::42", CAPTURED6);

	assert_int_equal(datapath_set_deny_src6(steer_fx.dp, &pod, &block, 48), 0);
	expect_reset6(&s, UPLINK_IFINDEX, AMBIT_DROP_DENY_SOURCE);
	s.n_ext = 1;
	s.ext[0] = IPPROTO_AH;
	s.payload = 7;
	expect_reset6(&s, UPLINK_IFINDEX, AMBIT_DROP_DENY_SOURCE);
	assert_int_equal(deny_drops6(CAPTURED6, "2001:db8:7::", 48), 2);
	s = tcp6("2001:db8:8::1", CAPTURED6); /* just outside */
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* HBONE's source is the peer node, never judged; another pod is not affected. */
	s.saddr = "2001:db8:7::42";
	s.dport = AMBIT_PORT_HBONE;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	s.dport = 80;
	s.daddr = POD6;
	expect6(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	/* ::/0 denies every source, before a STRICT entry would. */
	s.daddr = CAPTURED6;
	s.saddr = POD6;
	assert_int_equal(datapath_set_deny_src6(steer_fx.dp, &pod, &any, 0), 0);
	assert_int_equal(datapath_set_strict_port6(steer_fx.dp, &pod, 0, AMBIT_PLAINTEXT_DROP), 0);
	expect_reset6(&s, POD_IFINDEX, AMBIT_DROP_DENY_SOURCE);
	assert_int_equal(datapath_del_strict_port6(steer_fx.dp, &pod, 0), 0);
	assert_int_equal(datapath_del_deny_src6(steer_fx.dp, &pod, &any, 0), 0);
	assert_int_equal(datapath_del_deny_src6(steer_fx.dp, &pod, &block, 48), 0);
	expect6(&s, POD_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
}

/* ---- the in-pod programs (tc_pod, tc_pod_egress on an in-pod pod's own eth0) ---- */

/*
 * IPv6 of an address the mesh does not know as an in-pod pod's (none here, nor in workloads6
 * without the in-pod flags, but for a pod of the node out of the mesh: see the next case) is
 * refused but for ICMPv6 right after the fixed header, whatever the header chain hides; a chain
 * too long or running past the packet is refused whatever the address.
 */
#define UNKNOWN6 "fd00:1::77"

static void test_pod_programs_refuse_unknown(void **state)
{
	static const int *const fds[] = {&steer_fx.pod_prog_fd, &steer_fx.pod_egress_prog_fd};
	static const char *const unknown[] = {UNKNOWN6, CAPTURED6, REMOTE6};

	for (size_t i = 0; i < 2; i++) {
		bool in = i == 0;
		struct pkt6 s;

		for (size_t j = 0; j < sizeof(unknown) / sizeof(unknown[0]); j++) {
			s = in ? tcp6(CLIENT6, unknown[j]) : tcp6(unknown[j], CLIENT6);
			expect_prog(*fds[i], &s, POD_ETH0_IFINDEX, TC_ACT_SHOT,
				    AMBIT_DROP_IPV6_UNSUPPORTED);
			s.proto = IPPROTO_UDP;
			expect_prog(*fds[i], &s, POD_ETH0_IFINDEX, TC_ACT_SHOT,
				    AMBIT_DROP_IPV6_UNSUPPORTED);
		}
		s = in ? tcp6(CLIENT6, UNKNOWN6) : tcp6(UNKNOWN6, CLIENT6);
		s.n_ext = 1;
		s.ext[0] = IPPROTO_HOPOPTS;
		expect_prog(*fds[i], &s, POD_ETH0_IFINDEX, TC_ACT_SHOT,
			    AMBIT_DROP_IPV6_UNSUPPORTED);
		/* A chain too long or running past the packet, hiding what it carries. */
		for (size_t k = 0; k < 2; k++) {
			s = in ? tcp6(CLIENT6, k ? INPOD6 : UNKNOWN6)
			       : tcp6(k ? INPOD6 : UNKNOWN6, CLIENT6);
			s.n_ext = 9;
			memset(s.ext, IPPROTO_DSTOPTS, sizeof(s.ext));
			expect_prog(*fds[i], &s, POD_ETH0_IFINDEX, TC_ACT_SHOT,
				    AMBIT_DROP_IPV6_UNSUPPORTED);
			s.n_ext = 1;
			s.long_ext = true;
			s.proto = IPPROTO_ICMPV6;
			expect_prog(*fds[i], &s, POD_ETH0_IFINDEX, TC_ACT_SHOT,
				    AMBIT_DROP_IPV6_UNSUPPORTED);
		}
		s = in ? tcp6(CLIENT6, UNKNOWN6) : tcp6(UNKNOWN6, CLIENT6);
		s.proto = IPPROTO_ICMPV6;
		s.icmp_type = ICMP6_ECHO;
		expect_prog(*fds[i], &s, POD_ETH0_IFINDEX, TC_ACT_OK,
			    in ? AMBIT_PASS : AMBIT_REASON__COUNT);
	}
}

/*
 * A pod of the node out of the mesh (POD6): one that left keeps the in-pod programs while the
 * ztunnel's connections to it end, and its IPv6 passes both ways meanwhile (counted at ingress,
 * as any pass there), ICMPv6 and header chains too.
 */
static void test_pod_programs_pass_left_pod(void **state)
{
	struct pkt6 s;

	(void)state;
	for (int proto = 0; proto < 3; proto++) {
		static const uint8_t protos[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6};

		s = tcp6(CLIENT6, POD6);
		s.proto = protos[proto];
		s.icmp_type = ICMP6_ECHO;
		expect_prog(steer_fx.pod_prog_fd, &s, POD_ETH0_IFINDEX, TC_ACT_OK, AMBIT_PASS);
		s = tcp6(POD6, CLIENT6);
		s.proto = protos[proto];
		s.icmp_type = ICMP6_ECHO;
		expect_prog(steer_fx.pod_egress_prog_fd, &s, POD_ETH0_IFINDEX, TC_ACT_OK,
			    AMBIT_REASON__COUNT);
	}
	s = tcp6(CLIENT6, POD6);
	s.flags = TH_SYN;
	s.n_ext = 1;
	s.ext[0] = IPPROTO_HOPOPTS;
	expect_prog(steer_fx.pod_prog_fd, &s, POD_ETH0_IFINDEX, TC_ACT_OK, AMBIT_PASS);
}

static void expect_pod6(const struct pkt6 *s, int action, enum ambit_reason reason)
{
	expect_prog(steer_fx.pod_prog_fd, s, POD_ETH0_IFINDEX, action, reason);
}

/* The in-pod cases' listener on [::], transparent as the ztunnel's 15006 in a pod. */
static int pod_listener6(void)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6};
	int one = 1;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)), 0);
	assert_int_equal(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

static void inpod6_publish(const char *ip6, int fd)
{
	struct in6_addr key = in6(ip6);
	uint64_t val = (uint64_t)fd;

	assert_int_equal(
	    bpf_map_update_elem(bpf_map__fd(steer_fx.skel->maps.inpod_socks6), &key, &val, BPF_ANY),
	    0);
}

static void inpod6_unpublish(const char *ip6)
{
	struct in6_addr key = in6(ip6);

	assert_int_equal(bpf_map_delete_elem(bpf_map__fd(steer_fx.skel->maps.inpod_socks6), &key),
			 0);
}

/*
 * TCP to the in-pod pod's IPv6, as over IPv4 (test_steer_pod): a new plaintext flow to the
 * listener published under its own IPv6 in inpod_socks6 (tried: DROP_ASSIGN_FAILED under
 * test_run), none without it; not the IPv4 one, nor the node's proxy_socks6; HBONE by the
 * ordinary look-up; the proxy's own ports refused; segments of no flow refused; UDP and ICMPv6
 * pass; fragments dropped. The transport is found behind extension headers.
 */
static void test_pod6_capture(void **state)
{
	struct pkt6 s = tcp6(CLIENT6, INPOD6);
	int lfd = pod_listener6();
	uint32_t v4key = harness_ip4(INPOD_IP);
	uint64_t v4val = (uint64_t)lfd;

	expect_pod6(&s, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	assert_int_equal(bpf_map_update_elem(bpf_map__fd(steer_fx.skel->maps.inpod_socks), &v4key,
					     &v4val, BPF_ANY),
			 0);
	assert_int_equal(proxy_sock_publish(bpf_map__fd(steer_fx.skel->maps.proxy_socks6),
					    AMBIT_SOCK_INBOUND, lfd),
			 0);
	inpod6_publish(UNKNOWN6, lfd);
	expect_pod6(&s, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	inpod6_publish(INPOD6, lfd);
	expect_pod6(&s, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	s.n_ext = 2;
	s.ext[0] = IPPROTO_HOPOPTS;
	s.ext[1] = IPPROTO_DSTOPTS;
	expect_pod6(&s, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	s.ext[1] = IPPROTO_FRAGMENT;
	s.frag_off = 1; /* M: a first fragment */
	expect_pod6(&s, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	s.frag_off = 185 << 3; /* a later one: no TCP header */
	expect_pod6(&s, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);

	s = tcp6(CLIENT6, INPOD6);
	s.dport = AMBIT_PORT_HBONE;
	expect_pod6(&s, TC_ACT_OK, AMBIT_ASSIGN_HBONE);
	s.dport = AMBIT_PORT_OUTBOUND;
	expect_pod6(&s, TC_ACT_SHOT, AMBIT_DROP_PROXY_PORT);
	s.dport = AMBIT_PORT_INBOUND;
	expect_pod6(&s, TC_ACT_SHOT, AMBIT_DROP_PROXY_PORT);
	/*
	 * Segments of no socket here (any port), a pure ACK whose cookie the listener never sent
	 * among them: refused (test_steer_pod's test_pod_no_flow has those of open flows); to
	 * 15008, the ztunnel's own listener's, they pass.
	 */
	for (uint8_t f = 0; f < 3; f++) {
		static const uint8_t flags[] = {TH_ACK, TH_SYN | TH_ACK, TH_ACK | TH_PUSH};

		s.flags = flags[f];
		s.dport = 80;
		expect_reset6_prog(steer_fx.pod_prog_fd, &s, POD_ETH0_IFINDEX, AMBIT_DROP_NO_FLOW);
		s.dport = AMBIT_PORT_INBOUND;
		expect_reset6_prog(steer_fx.pod_prog_fd, &s, POD_ETH0_IFINDEX, AMBIT_DROP_NO_FLOW);
		s.dport = AMBIT_PORT_HBONE;
		expect_pod6(&s, TC_ACT_OK, AMBIT_PASS);
	}
	s.dport = 80;
	s.flags = TH_RST;
	expect_pod6(&s, TC_ACT_OK, AMBIT_PASS);
	s = tcp6(CLIENT6, INPOD6);
	s.proto = IPPROTO_UDP;
	expect_pod6(&s, TC_ACT_OK, AMBIT_PASS);
	s.proto = IPPROTO_ICMPV6;
	s.icmp_type = ICMP6_ECHO;
	expect_pod6(&s, TC_ACT_OK, AMBIT_PASS);

	inpod6_unpublish(INPOD6);
	s = tcp6(CLIENT6, INPOD6);
	expect_pod6(&s, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* A listener that closes leaves the map with it. */
	inpod6_publish(INPOD6, lfd);
	inpod6_unpublish(UNKNOWN6);
	assert_int_equal(bpf_map_delete_elem(bpf_map__fd(steer_fx.skel->maps.inpod_socks), &v4key),
			 0);
	bpf_map_delete_elem(bpf_map__fd(steer_fx.skel->maps.proxy_socks6),
			    &(uint32_t){AMBIT_SOCK_INBOUND});
	close(lfd);
	expect_pod6(&s, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
}

/* The fast drops of the in-pod pod's IPv6, before the listener, with the IPv6 reset. */
static void test_pod6_refusals(void **state)
{
	struct in6_addr pod = in6(INPOD6), block = in6("2001:db8:7::");
	struct pkt6 s = tcp6("2001:db8:7::42", INPOD6);
	int lfd = pod_listener6();

	inpod6_publish(INPOD6, lfd);
	expect_pod6(&s, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	assert_int_equal(datapath_set_deny_src6(steer_fx.dp, &pod, &block, 48), 0);
	expect_reset6_prog(steer_fx.pod_prog_fd, &s, POD_ETH0_IFINDEX, AMBIT_DROP_DENY_SOURCE);
	assert_int_equal(deny_drops6(INPOD6, "2001:db8:7::", 48), 1);
	/* HBONE is never judged by plaintext policy. */
	s.dport = AMBIT_PORT_HBONE;
	expect_pod6(&s, TC_ACT_OK, AMBIT_ASSIGN_HBONE);
	assert_int_equal(datapath_del_deny_src6(steer_fx.dp, &pod, &block, 48), 0);
	s = tcp6(CLIENT6, INPOD6);
	assert_int_equal(datapath_set_strict_port6(steer_fx.dp, &pod, 0, AMBIT_PLAINTEXT_DROP), 0);
	s.tclass = 0x2e;
	expect_reset6_prog(steer_fx.pod_prog_fd, &s, POD_ETH0_IFINDEX, AMBIT_DROP_STRICT_PLAINTEXT);
	assert_int_equal(strict_drops6(INPOD6, 0), 1);
	/* The IPv4 address's entry judges no IPv6. */
	assert_int_equal(datapath_del_strict_port6(steer_fx.dp, &pod, 0), 0);
	assert_int_equal(
	    datapath_set_strict_port(steer_fx.dp, harness_ip4(INPOD_IP), 0, AMBIT_PLAINTEXT_DROP),
	    0);
	expect_pod6(&s, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	assert_int_equal(datapath_del_strict_port(steer_fx.dp, harness_ip4(INPOD_IP), 0), 0);
	inpod6_unpublish(INPOD6);
	close(lfd);
}

/*
 * tc_pod_egress over IPv6: the pod's answer to a transparent socket of the netns (the ztunnel's
 * connection to the pod from the client's IPv6) is turned back to lo, its MACs zeroed and
 * marked; the pod's other IPv6 leaves uncounted. ::1 stands for the in-pod pod here (its app
 * listens there), CLIENT6 for the client the ztunnel's socket is bound to.
 */
static void expect_egress6(const struct pkt6 *s, bool to_proxy)
{
	uint8_t in[256];
	size_t len = build6(in, sizeof(in), s);
	struct steer_out out;

	steer_fixture_expect_raw(steer_fx.pod_egress_prog_fd, in, len, POD_ETH0_IFINDEX,
				 to_proxy ? TC_ACT_REDIRECT : TC_ACT_OK,
				 to_proxy ? AMBIT_RETURN_TO_PROXY : AMBIT_REASON__COUNT, &out);
	assert_int_equal(out.len, len);
	assert_int_equal(out.mark, to_proxy ? AMBIT_SKB_MARK : 0);
	if (to_proxy)
		memset(in, 0, 2 * ETH_ALEN);
	assert_memory_equal(out.data, in, len);
}

static void test_pod6_egress_return(void **state)
{
	struct ambit_workload wl = {.flags = INPOD_FLAGS};
	struct sockaddr_in6 from = {.sin6_family = AF_INET6, .sin6_addr = in6(CLIENT6)};
	struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_addr = in6addr_loopback};
	struct sockaddr_in6 local;
	socklen_t alen = sizeof(local);
	uint16_t port;
	int lfd = listener6(&port);
	int one = 1;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct pkt6 s = tcp6("::1", CLIENT6);
	uint8_t buf[256];
	size_t len;

	/* No route leads to CLIENT6 here: the socket stays in SYN-SENT, as tc sees it. */
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
	to.sin6_port = htons(port);
	assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), -1);
	assert_int_equal(errno, EINPROGRESS);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&local, &alen), 0);
	assert_int_equal(datapath_set_workload6(steer_fx.dp, &in6addr_loopback, &wl), 0);

	s.sport = port;
	s.dport = ntohs(local.sin6_port);
	s.flags = TH_SYN | TH_ACK;
	expect_egress6(&s, true);
	s.flags = TH_ACK | TH_PUSH;
	s.payload = 10;
	expect_egress6(&s, true);
	s.n_ext = 1;
	s.ext[0] = IPPROTO_DSTOPTS;
	expect_egress6(&s, true);
	/* No socket has these: another port on either side; UDP with the same ports. */
	s = tcp6("::1", CLIENT6);
	s.sport = port;
	s.dport = (uint16_t)(ntohs(local.sin6_port) + 1);
	expect_egress6(&s, false);
	s.sport = (uint16_t)(port + 1);
	s.dport = ntohs(local.sin6_port);
	expect_egress6(&s, false);
	s.sport = port;
	s.proto = IPPROTO_UDP;
	expect_egress6(&s, false);
	/* A source the mesh knows not as an in-pod pod's: refused, even with the flow's ports. */
	assert_int_equal(datapath_del_workload6(steer_fx.dp, &in6addr_loopback), 0);
	s.proto = IPPROTO_TCP;
	s.flags = TH_SYN | TH_ACK;
	len = build6(buf, sizeof(buf), &s);
	steer_fixture_expect_raw(steer_fx.pod_egress_prog_fd, buf, len, POD_ETH0_IFINDEX,
				 TC_ACT_SHOT, AMBIT_DROP_IPV6_UNSUPPORTED, NULL);
	/*
	 * A pod that left the mesh, its programs kept while the ztunnel's connections to it end:
	 * their answers still go back to the ztunnel.
	 */
	wl.flags = AMBIT_WL_LOCAL;
	assert_int_equal(datapath_set_workload6(steer_fx.dp, &in6addr_loopback, &wl), 0);
	expect_egress6(&s, true);
	wl.flags = INPOD_FLAGS;
	assert_int_equal(datapath_set_workload6(steer_fx.dp, &in6addr_loopback, &wl), 0);
	expect_egress6(&s, true);
	/* The socket gone, the same packet leaves. */
	close(fd);
	expect_egress6(&s, false);
	assert_int_equal(datapath_del_workload6(steer_fx.dp, &in6addr_loopback), 0);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_paths),
	    cmocka_unit_test(test_parse_fragments),
	    cmocka_unit_test(test_parse_malformed),
	    cmocka_unit_test(test_spoofing),
	    cmocka_unit_test(test_ipv4_only_pod),
	    cmocka_unit_test(test_pod_nd_guard),
	    cmocka_unit_test(test_capture_targets),
	    cmocka_unit_test(test_proxy_slots6),
	    cmocka_unit_test(test_established_socket_wins6),
	    cmocka_unit_test(test_strict_ports6),
	    cmocka_unit_test(test_no_flow6),
	    cmocka_unit_test(test_node_traffic_refused6),
	    cmocka_unit_test(test_node_traffic_to_ztunnel6),
	    cmocka_unit_test(test_deny_src6),
	    cmocka_unit_test(test_excluded_ports6),
	    cmocka_unit_test(test_pod_programs_refuse_unknown),
	    cmocka_unit_test(test_pod_programs_pass_left_pod),
	    cmocka_unit_test(test_pod6_capture),
	    cmocka_unit_test(test_pod6_refusals),
	    cmocka_unit_test(test_pod6_egress_return),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_steer6: needs root (BPF, netns), skipping\n");
		return 77;
	}
	log_init("test_steer6", LOG_LEVEL_INFO);
	log_libbpf_setup();
	return cmocka_run_group_tests(tests, group_setup, steer_fixture_group_teardown);
}
