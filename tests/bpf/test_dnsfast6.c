// SPDX-License-Identifier: Apache-2.0
/*
 * BPF_PROG_TEST_RUN tests of DNS in the kernel over IPv6 (bpf/lib/dnsfast.h, dns_answers6) on
 * the fixture of tests/lib/steer_fixture.h: a pod's query to [NODE_IP6]:15053 that the proxy
 * answered for it under the current generation becomes the answer at tc_ingress on its veth and,
 * for an in-pod pod, at tc_pod_egress on its eth0: addresses, ports and MACs swapped, the
 * query's id, a fixed IPv6 header of Linux's hop limit and a UDP checksum that user space
 * verifies over the RFC 8200 §8.1 pseudo-header, at every answer length modulo 4, at the
 * largest, and where the sum comes to zero. Everything else goes on to the proxy as before.
 * The IPv4 cases are test_steer.c's; the ztunnel's side is tests/unit/ztunnel/test_dns_kernel.c's.
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
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <cmocka.h>

#include "ambit/datapath.h"
#include "../lib/harness.h"
#include "../lib/steer_fixture.h"

#define POD6 "fd00:1::5"      /* 10.1.0.5: local, not enrolled, on POD_IFINDEX */
#define CAPTURED6 "fd00:1::9" /* 10.1.0.9: enrolled, local, on ENROLLED_POD_IFINDEX */
#define INPOD6 "fd00:1::20"   /* in-pod: captured in its own netns */
#define OTHER6 "fd00:3::1"    /* not the proxy */

#define HDRS6 (ETH_HLEN + 40 + 8)
/* The query's traffic class and flow label: the first is echoed, the second not (reset.h). */
#define QUERY_TCLASS 0x28
#define QUERY_FLOW 0x12345

static int afd = -1;

static int group_setup(void **state)
{
	if (steer_fixture_setup("dnsfast6") == 0 &&
	    steer_fixture_add_pod6(POD6, AMBIT_WL_LOCAL, POD_IFINDEX) == 0 &&
	    steer_fixture_add_pod6(CAPTURED6, AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL,
				   ENROLLED_POD_IFINDEX) == 0 &&
	    steer_fixture_add_pod6(INPOD6, INPOD_FLAGS, 0) == 0 &&
	    (afd = datapath_map_fd(steer_fx.dp, "dns_answers6")) >= 0)
		return 0;
	return steer_fixture_setup_failed("test_dnsfast6");
}

/* Each case starts with no answers and no generation. */
static int case_setup(void **state)
{
	struct ambit_dns_key6 k, next;

	while (bpf_map_get_next_key(afd, NULL, &next) == 0) {
		k = next;
		if (bpf_map_delete_elem(afd, &k))
			return -1;
	}
	steer_fixture_dns_gen(0);
	return 0;
}

/*
 * A UDP query frame @src:40000 -> [@dst]:@dport carrying @q (@qlen bytes), behind a Hop-by-Hop
 * header when @hbh (PadN only), into @buf (@cap bytes); its length. The query's UDP checksum is
 * left 0: the kernel's answer never reads it.
 */
static size_t frame6(uint8_t *buf, size_t cap, const char *src, const char *dst, uint16_t dport,
		     const uint8_t *q, size_t qlen, bool hbh)
{
	struct ethhdr eth = {.h_dest = {0x02, 0, 0, 0, 0, 0xd0},
			     .h_source = {0x02, 0, 0, 0, 0, 0x5c},
			     .h_proto = htons(ETH_P_IPV6)};
	size_t ext = hbh ? 8 : 0, l4 = ETH_HLEN + 40 + ext;
	struct ip6_hdr ip6 = {.ip6_hlim = 1};
	uint16_t udp[4] = {htons(40000), htons(dport), htons((uint16_t)(8 + qlen)), 0};

	assert_true(l4 + 8 + qlen <= cap);
	ip6.ip6_flow = htonl(6u << 28 | QUERY_TCLASS << 20 | QUERY_FLOW);
	ip6.ip6_plen = htons((uint16_t)(ext + 8 + qlen));
	ip6.ip6_nxt = hbh ? IPPROTO_HOPOPTS : IPPROTO_UDP;
	assert_int_equal(inet_pton(AF_INET6, src, &ip6.ip6_src), 1);
	assert_int_equal(inet_pton(AF_INET6, dst, &ip6.ip6_dst), 1);
	memcpy(buf, &eth, sizeof(eth));
	memcpy(buf + ETH_HLEN, &ip6, sizeof(ip6));
	if (hbh) {
		const uint8_t padn[8] = {IPPROTO_UDP, 0, 1, 4, 0, 0, 0, 0};

		memcpy(buf + ETH_HLEN + 40, padn, sizeof(padn));
	}
	memcpy(buf + l4, udp, sizeof(udp));
	memcpy(buf + l4 + 8, q, qlen);
	return l4 + 8 + qlen;
}

/* The query @q (@qlen bytes) of pod @pod as dns_answers6 keys it. */
static struct ambit_dns_key6 key6(const char *pod, const uint8_t *q, size_t qlen)
{
	struct ambit_dns_key6 k = {.qlen = (uint16_t)(qlen - 2)};

	assert_int_equal(inet_pton(AF_INET6, pod, k.pod_ip6), 1);
	memcpy(k.q, q + 2, qlen - 2);
	return k;
}

/*
 * The proxy's answer to the fixture's query (its own id 0xdead): AAAA fd00:96::a, TTL 30, as
 * the proxy makes it; 71 bytes, so its last word is a byte alone.
 */
static void answer_of(struct ambit_dns_answer *v, uint32_t gen)
{
	size_t n = steer_fixture_dns_query(v->a, 0xdead);

	v->a[n - 3] = 28; /* AAAA */
	v->a[2] = 0x81;
	v->a[3] = 0x80;
	v->a[7] = 1;
	memcpy(v->a + n, "\xc0\x0c\0\x1c\0\1\0\0\0\x1e\0\x10\xfd\0\0\x96\0\0\0\0\0\0\0\0\0\0\0\x0a",
	       28);
	v->alen = (uint16_t)(n + 28);
	v->gen = gen;
	v->hits = 0;
}

/* The fixture's query with id @id, made AAAA as answer_of's: its length. */
static size_t query_of(uint8_t *q, uint16_t id)
{
	size_t n = steer_fixture_dns_query(q, id);

	q[n - 3] = 28;
	return n;
}

/* RFC 8200 §8.1: the sum of @out's pseudo-header and its UDP header and payload as they are. */
static uint32_t udp6_sum(const struct steer_out *out)
{
	const uint8_t *ip6 = out->data + ETH_HLEN;
	uint8_t tail[4] = {0, 0, 0, IPPROTO_UDP};
	uint16_t ulen = (uint16_t)(ip6[4] << 8 | ip6[5]);
	uint32_t sum;

	assert_int_equal(out->len, ETH_HLEN + 40 + ulen);
	sum = steer_fixture_csum(0, ip6 + 8, 32); /* both addresses */
	sum += ulen; /* the 32-bit upper-layer length, its high half zero */
	sum = steer_fixture_csum(sum, tail, sizeof(tail));
	return steer_fixture_csum(sum, ip6 + 40, ulen);
}

/*
 * Checks that @out is the answer @v (of generation's entry, its id replaced by @id) to a query
 * from @pod:40000 to [NODE_IP6]:15053 as frame6 built it: MACs, addresses and ports swapped,
 * IPv6 without extension headers, traffic class echoed, flow label 0, hop limit 64, UDP length
 * and a valid, non-zero checksum.
 */
static void expect_answer(const struct steer_out *out, const uint8_t *query,
			  const struct ambit_dns_answer *v, const char *pod, uint16_t id)
{
	struct in6_addr src, dst, node, client;
	struct ip6_hdr ip6;
	uint16_t udp[4];

	assert_int_equal(out->len, HDRS6 + v->alen);
	assert_memory_equal(out->data, query + ETH_ALEN, ETH_ALEN);
	assert_memory_equal(out->data + ETH_ALEN, query, ETH_ALEN);
	assert_int_equal(out->data[12] << 8 | out->data[13], ETH_P_IPV6);
	memcpy(&ip6, out->data + ETH_HLEN, sizeof(ip6));
	assert_int_equal(ntohl(ip6.ip6_flow), 6u << 28 | QUERY_TCLASS << 20);
	assert_int_equal(ntohs(ip6.ip6_plen), 8 + v->alen);
	assert_int_equal(ip6.ip6_nxt, IPPROTO_UDP);
	assert_int_equal(ip6.ip6_hlim, 64);
	src = ip6.ip6_src;
	dst = ip6.ip6_dst;
	assert_int_equal(inet_pton(AF_INET6, NODE_IP6, &node), 1);
	assert_int_equal(inet_pton(AF_INET6, pod, &client), 1);
	assert_memory_equal(&src, &node, sizeof(node));
	assert_memory_equal(&dst, &client, sizeof(client));
	memcpy(udp, out->data + ETH_HLEN + 40, sizeof(udp));
	assert_int_equal(ntohs(udp[0]), AMBIT_PORT_DNS);
	assert_int_equal(ntohs(udp[1]), 40000);
	assert_int_equal(ntohs(udp[2]), 8 + v->alen);
	assert_int_not_equal(udp[3], 0);
	assert_int_equal(udp6_sum(out), 0xffff);
	assert_int_equal(out->data[HDRS6] << 8 | out->data[HDRS6 + 1], id);
	assert_memory_equal(out->data + HDRS6 + 2, v->a + 2, v->alen - 2);
}

static void test_dns6_answered(void **state)
{
	struct ambit_dns_answer val = {0}, got;
	struct ambit_dns_key6 key;
	struct steer_out out;
	uint8_t q[128], buf[256], longq[2 + AMBIT_DNS_QMAX];
	size_t qlen = query_of(q, 0x1234), len;

	answer_of(&val, 5);
	key = key6(POD6, q, qlen);
	len = frame6(buf, sizeof(buf), POD6, NODE_IP6, AMBIT_PORT_DNS, q, qlen, false);

	/* Nothing published, then published under another generation (none yet, then 4). */
	steer_fixture_expect_dns_gens(afd, &key, &val, buf, len, &out);
	expect_answer(&out, buf, &val, POD6, 0x1234);
	assert_int_equal(out.mark, 0);
	assert_int_equal(bpf_map_lookup_elem(afd, &key, &got), 0);
	assert_int_equal(got.hits, 1);

	/* Another id: the same answer under it, its checksum another. */
	qlen = query_of(q, 0xfe01);
	len = frame6(buf, sizeof(buf), POD6, NODE_IP6, AMBIT_PORT_DNS, q, qlen, false);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_REDIRECT,
				 AMBIT_DNS_ANSWERED, &out);
	expect_answer(&out, buf, &val, POD6, 0xfe01);

	/* A Hop-by-Hop header before the UDP one: the answer goes without it. */
	len = frame6(buf, sizeof(buf), POD6, NODE_IP6, AMBIT_PORT_DNS, q, qlen, true);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_REDIRECT,
				 AMBIT_DNS_ANSWERED, &out);
	expect_answer(&out, buf, &val, POD6, 0xfe01);
	assert_int_equal(bpf_map_lookup_elem(afd, &key, &got), 0);
	assert_int_equal(got.hits, 3);

	/* The longest query the kernel keeps. */
	memset(longq, 0x61, sizeof(longq));
	memcpy(longq, q, 12);
	key = key6(POD6, longq, sizeof(longq));
	assert_int_equal(bpf_map_update_elem(afd, &key, &val, BPF_ANY), 0);
	len = frame6(buf, sizeof(buf), POD6, NODE_IP6, AMBIT_PORT_DNS, longq, sizeof(longq), false);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_REDIRECT,
				 AMBIT_DNS_ANSWERED, &out);
	expect_answer(&out, buf, &val, POD6, 0xfe01);

	/* A new generation (a snapshot installed): the entry stops counting. */
	steer_fixture_dns_gen(6);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);
}

/*
 * The checksum at every length of the answer's last word (12 to 15 bytes), a longer one, the
 * largest the map holds, and where the sum comes to zero: sent as 0xffff (RFC 8200 §8.1).
 */
static void test_dns6_checksum(void **state)
{
	static const uint16_t lens[] = {
	    12, 13, 14, 15, 64, 101, AMBIT_DNS_AMAX - 1, AMBIT_DNS_AMAX};
	struct ambit_dns_answer val = {0};
	struct ambit_dns_key6 key;
	struct steer_out out;
	uint8_t q[128], buf[256];
	size_t qlen = query_of(q, 0x0bad), len;
	uint32_t s;

	key = key6(POD6, q, qlen);
	len = frame6(buf, sizeof(buf), POD6, NODE_IP6, AMBIT_PORT_DNS, q, qlen, false);
	steer_fixture_dns_gen(7);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		/* Bytes that differ, and past the length bytes the sum must leave out. */
		memset(val.a, 0xa5, sizeof(val.a));
		for (size_t j = 0; j < lens[i]; j++)
			val.a[j] = (uint8_t)(j * 37 + 11 + i);
		val.alen = lens[i];
		val.gen = 7;
		assert_int_equal(bpf_map_update_elem(afd, &key, &val, BPF_ANY), 0);
		steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_REDIRECT,
					 AMBIT_DNS_ANSWERED, &out);
		expect_answer(&out, buf, &val, POD6, 0x0bad);
	}

	/*
	 * The answer's last word set so that the packet sums to 0xffff with its checksum field
	 * zero (whose complement, 0, means "none" in UDP): the field must then say 0xffff.
	 */
	val.alen = 64;
	memset(val.a + 62, 0, 2);
	assert_int_equal(bpf_map_update_elem(afd, &key, &val, BPF_ANY), 0);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_REDIRECT,
				 AMBIT_DNS_ANSWERED, &out);
	memset(out.data + ETH_HLEN + 40 + 6, 0, 2);
	s = udp6_sum(&out);
	val.a[62] = (uint8_t)((0xffff - s) >> 8);
	val.a[63] = (uint8_t)(0xffff - s);
	assert_int_equal(bpf_map_update_elem(afd, &key, &val, BPF_ANY), 0);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_REDIRECT,
				 AMBIT_DNS_ANSWERED, &out);
	expect_answer(&out, buf, &val, POD6, 0x0bad);
	assert_int_equal(out.data[ETH_HLEN + 46] << 8 | out.data[ETH_HLEN + 47], 0xffff);
}

/* Queries the kernel leaves to the proxy: each goes on as it came. */
static void test_dns6_not_answered(void **state)
{
	struct ambit_dns_answer val = {0};
	struct ambit_dns_key key;
	struct ambit_dns_key6 key6v;
	struct steer_out out;
	uint8_t q[128], buf[512], other[128], longq[2 + AMBIT_DNS_QMAX + 1] = {0};
	size_t qlen = query_of(q, 0x7777), len;
	int afd4 = datapath_map_fd(steer_fx.dp, "dns_answers");

	answer_of(&val, 8);
	key6v = key6(POD6, q, qlen);
	assert_int_equal(bpf_map_update_elem(afd, &key6v, &val, BPF_ANY), 0);
	steer_fixture_dns_gen(8);

	/* Not the proxy's IPv6, not its port. */
	len = frame6(buf, sizeof(buf), POD6, OTHER6, AMBIT_PORT_DNS, q, qlen, false);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);
	len = frame6(buf, sizeof(buf), POD6, NODE_IP6, 53, q, qlen, false);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);
	/* Another pod (its own veth), not the same bytes. */
	len = frame6(buf, sizeof(buf), CAPTURED6, NODE_IP6, AMBIT_PORT_DNS, q, qlen, false);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, ENROLLED_POD_IFINDEX, TC_ACT_OK,
				 AMBIT_PASS, NULL);
	memcpy(other, q, qlen);
	other[qlen - 3] = 1; /* A */
	len = frame6(buf, sizeof(buf), POD6, NODE_IP6, AMBIT_PORT_DNS, other, qlen, false);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);
	/* Another pod's address from this pod's veth: refused before anything is answered. */
	len = frame6(buf, sizeof(buf), CAPTURED6, NODE_IP6, AMBIT_PORT_DNS, q, qlen, false);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_SHOT,
				 AMBIT_DROP_SPOOFED_SOURCE, NULL);
	/* Shorter than a header, longer than the kernel keeps. */
	len = frame6(buf, sizeof(buf), POD6, NODE_IP6, AMBIT_PORT_DNS, q, 11, false);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);
	memcpy(longq, q, qlen);
	len = frame6(buf, sizeof(buf), POD6, NODE_IP6, AMBIT_PORT_DNS, longq, sizeof(longq), false);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);

	/* Cut short: a UDP length past the packet, the packet cut in the UDP header or query. */
	len = frame6(buf, sizeof(buf), POD6, NODE_IP6, AMBIT_PORT_DNS, q, qlen, false);
	buf[ETH_HLEN + 40 + 5] += 20;
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);
	buf[ETH_HLEN + 40 + 5] -= 20;
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, ETH_HLEN + 40 + 6, POD_IFINDEX, TC_ACT_OK,
				 AMBIT_PASS, NULL);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len - 1, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);
	/* A fixed header cut short test_run refuses to run at all (test_steer.c's IPv6 cases). */

	/* A first fragment (M set): the answer's bytes may not all be in it. */
	len = frame6(buf, sizeof(buf), POD6, NODE_IP6, AMBIT_PORT_DNS, q, qlen, true);
	buf[ETH_HLEN + 6] = IPPROTO_FRAGMENT;
	memcpy(buf + ETH_HLEN + 40, "\x11\0\0\x01\0\0\x12\x34", 8);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);

	/*
	 * The families' maps apart: the pod's IPv4 entry for the same bytes does not answer its
	 * query over IPv6, nor its IPv6 entry the same query over IPv4.
	 */
	assert_int_equal(bpf_map_delete_elem(afd, &key6v), 0);
	memset(&key, 0, sizeof(key));
	key.pod_ip = harness_ip4("10.1.0.5");
	key.qlen = (uint16_t)(qlen - 2);
	memcpy(key.q, q + 2, qlen - 2);
	assert_int_equal(bpf_map_update_elem(afd4, &key, &val, BPF_ANY), 0);
	len = frame6(buf, sizeof(buf), POD6, NODE_IP6, AMBIT_PORT_DNS, q, qlen, false);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);
	assert_int_equal(bpf_map_delete_elem(afd4, &key), 0);
	assert_int_equal(bpf_map_update_elem(afd, &key6v, &val, BPF_ANY), 0);
	len =
	    steer_fixture_dns_frame(buf, sizeof(buf), "10.1.0.5", NODE_IP, AMBIT_PORT_DNS, q, qlen);
	steer_fixture_expect_raw(steer_fx.prog_fd, buf, len, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 &out);
	assert_int_equal(out.len, len);
	assert_memory_equal(out.data, buf, len);
}

/*
 * An in-pod pod's query over IPv6 that the proxy answered before is answered as it leaves the
 * pod's eth0, turned back in; another query leaves, uncounted.
 */
static void test_dns6_pod_egress(void **state)
{
	struct ambit_dns_answer val = {0};
	struct ambit_dns_key6 key;
	struct steer_out out;
	uint8_t q[128], buf[256];
	size_t qlen = query_of(q, 0x4242), len;

	answer_of(&val, 9);
	key = key6(INPOD6, q, qlen);
	assert_int_equal(bpf_map_update_elem(afd, &key, &val, BPF_ANY), 0);
	steer_fixture_dns_gen(9);

	len = frame6(buf, sizeof(buf), INPOD6, NODE_IP6, AMBIT_PORT_DNS, q, qlen, false);
	steer_fixture_expect_raw(steer_fx.pod_egress_prog_fd, buf, len, 0, TC_ACT_REDIRECT,
				 AMBIT_DNS_ANSWERED, &out);
	expect_answer(&out, buf, &val, INPOD6, 0x4242);
	/* Not published under this generation, or not to the proxy: it leaves as it was. */
	steer_fixture_dns_gen(10);
	steer_fixture_expect_raw(steer_fx.pod_egress_prog_fd, buf, len, 0, TC_ACT_OK,
				 AMBIT_REASON__COUNT, &out);
	assert_memory_equal(out.data, buf, len);
	steer_fixture_dns_gen(9);
	len = frame6(buf, sizeof(buf), INPOD6, OTHER6, AMBIT_PORT_DNS, q, qlen, false);
	steer_fixture_expect_raw(steer_fx.pod_egress_prog_fd, buf, len, 0, TC_ACT_OK,
				 AMBIT_REASON__COUNT, NULL);
	q[qlen - 3] = 1; /* A: not what was asked before */
	len = frame6(buf, sizeof(buf), INPOD6, NODE_IP6, AMBIT_PORT_DNS, q, qlen, false);
	steer_fixture_expect_raw(steer_fx.pod_egress_prog_fd, buf, len, 0, TC_ACT_OK,
				 AMBIT_REASON__COUNT, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_dns6_answered, case_setup),
	    cmocka_unit_test_setup(test_dns6_checksum, case_setup),
	    cmocka_unit_test_setup(test_dns6_not_answered, case_setup),
	    cmocka_unit_test_setup(test_dns6_pod_egress, case_setup),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_dnsfast6: needs root (BPF, netns), skipping\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, group_setup, steer_fixture_group_teardown);
}
