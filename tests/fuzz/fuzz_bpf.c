// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the tc ingress program (bpf/steer.bpf.c: packet parser, anti-spoofing,
 * capture, kernel refusals with their reset, DNS answered in the kernel): each input is one
 * frame run through the real
 * program with BPF_PROG_TEST_RUN, loaded once (needs root: exits 77 without, which the fuzz
 * runner reports as a skip). The maps hold the node of tests/bpf/test_steer.c: pod 10.1.0.5 on
 * ifindex 7 (local, not enrolled; fd00:1::5 too), 10.1.0.9 (local, enrolled: STRICT on port 8080,
 * sources 10.9.0.0/16 denied; not known by IPv6), 10.2.0.9 (enrolled, another node), the
 * dual-stack 10.1.0.11 / fd00:1::11 on ifindex 10 (local, enrolled: STRICT on port 8080 and
 * sources 2001:db8:9::/48 denied over IPv6), a listener in each family's HBONE proxy slot and
 * none in the plaintext ones, and the DNS proxy's answer to one query of 10.1.0.5's, and to the
 * same of fd00:1::5's over IPv6 (bpf_dns.h).
 * Whatever the frame, the program must return OK, SHOT or REDIRECT (a refused SYN's reset, a
 * DNS answer), move exactly one reason counter by one, with the action that reason stands for;
 * a reset must be a TCP RST of the SYN's family going back to the sender, an answer that query's
 * answer under the query's id, from the proxy's address and port back to the sender's (over
 * IPv6 with a valid UDP checksum).
 * Input: byte 0 picks the ingress interface (bits 0-2, modulo 5: uplink, the pod's veth, the
 * IPv4-only enrolled pod's, an unknown one, the dual-stack pod's) and with bit 3 the skb's mark
 * AMBIT_NODE_MARK (the node's own segment tc_veth_egress turned back); the rest is the frame
 * from its Ethernet header. The maps and program are
 * unpinned as soon as loaded: a crash leaves nothing in bpffs. The target runs in a network
 * namespace of its own (socket look-ups see only its listeners). libFuzzer's coverage is the
 * harness's plus the verdicts reached (see outcomes below); the program's own branches are not
 * instrumented, so the seeds carry most of the reach.
 * Seeds: tests/fuzz/corpus/fuzz_bpf/ (gen_seeds.c: SYNs, established segments, UDP, ARP, IP
 * options, fragments, spoofed sources, the DNS query of each family (over IPv6 also behind a
 * Hop-by-Hop header); IPv6 from the pods' veths and the uplink, cut short and behind extension
 * headers, to the dual-stack pod through each kind of extension header, fragmented, refused with
 * a reset, spoofed; a pod's Router Advertisement, Redirect and Neighbour Advertisements of its
 * own and of a foreign target; the node's own SYN, ACK and UDP marked, to a captured pod and
 * another, over IPv6 also behind a Hop-by-Hop header). The netns has no routes to the pods, so
 * IPv6 to a pod the mesh does not know by IPv6 is judged as routed nowhere (test_steer routes it).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ambit/datapath.h"
#include "ambit/log.h"
#include "steer.skel.h"
#include "../lib/fuzz_env.h"
#include "bpf_dns.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define TC_ACT_REDIRECT 7
#define UPLINK_IFINDEX 2
#define POD_IFINDEX 7
#define DUAL_IFINDEX 10
#define IFACES 5

/*
 * libFuzzer sees the harness's edges, not the BPF program's: the outcome (reason x action x
 * interface) is handed to it as extra coverage counters, so an input reaching a new verdict is
 * kept in the corpus.
 */
__attribute__((
    section("__libfuzzer_extra_counters"))) static uint8_t outcomes[AMBIT_REASON__COUNT][8][IFACES];

/* The answer the kernel holds for fuzz_bpf_dns_query (its id the proxy's own). */
static struct ambit_dns_answer dns_answer;

static struct steer_bpf *skel;
static struct datapath *dp;
static int prog_fd = -1, listener = -1, listener6 = -1;
static const uint32_t ifindexes[IFACES] = {UPLINK_IFINDEX, POD_IFINDEX, POD_IFINDEX + 1, 99,
					   DUAL_IFINDEX};

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_bpf: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void set_workload(const char *ip, uint32_t flags, int ifindex)
{
	struct ambit_workload wl = {.flags = flags, .ifindex = ifindex};

	if (datapath_set_workload(dp, fuzz_ip4(ip), &wl))
		fail("workloads map");
}

static struct in6_addr ip6(const char *s)
{
	struct in6_addr a;

	if (inet_pton(AF_INET6, s, &a) != 1)
		fail(s);
	return a;
}

static void set_workload6(const char *ip, uint32_t flags, int ifindex)
{
	struct ambit_workload wl = {.flags = flags, .ifindex = ifindex};
	struct in6_addr a = ip6(ip);

	if (datapath_set_workload6(dp, &a, &wl) ||
	    (ifindex && datapath_set_iface6(dp, ifindex, &a)))
		fail("workloads6 map");
}

/* The dual-stack pod's IPv6 fast drops: STRICT on 8080, 2001:db8:9::/48 denied. */
static void policy6(void)
{
	struct in6_addr pod = ip6("fd00:1::11"), block = ip6("2001:db8:9::");

	if (datapath_set_strict_port6(dp, &pod, 8080, AMBIT_PLAINTEXT_DROP) ||
	    datapath_set_deny_src6(dp, &pod, &block, 48))
		fail("policy maps");
}

/* A loopback listener of each family in its HBONE slot (proxy_socks, proxy_socks6). */
static void loopback_listeners(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int fd6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 8) || fd6 < 0 ||
	    bind(fd6, (struct sockaddr *)&a6, sizeof(a6)) || listen(fd6, 8))
		fail("listener");
	if (proxy_sock_publish(datapath_map_fd(dp, "proxy_socks"), AMBIT_SOCK_HBONE, fd) ||
	    proxy_sock_publish(datapath_map_fd(dp, "proxy_socks6"), AMBIT_SOCK_HBONE, fd6))
		fail("proxy_socks maps");
	listener = fd;
	listener6 = fd6;
}

/* The DNS proxy's answer to bpf_dns.h's query (an A record, TTL 30), current generation 1. */
static void dns_entry(void)
{
	static const uint8_t rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 96, 0, 10};
	struct ambit_dns_key key = {.pod_ip = fuzz_ip4(FUZZ_BPF_DNS_POD)};
	struct ambit_dns_key6 key6 = {0};
	struct in6_addr pod6 = ip6(FUZZ_BPF_DNS_POD6);
	size_t qlen = sizeof(fuzz_bpf_dns_query);
	uint32_t zero = 0, gen = 1;

	key.qlen = (uint16_t)(qlen - 2);
	memcpy(key.q, fuzz_bpf_dns_query + 2, qlen - 2);
	memcpy(dns_answer.a, fuzz_bpf_dns_query, qlen);
	dns_answer.a[0] = 0xbe;
	dns_answer.a[1] = 0xef;
	dns_answer.a[2] = 0x85; /* QR AA RD */
	dns_answer.a[3] = 0x80;
	dns_answer.a[7] = 1; /* one answer */
	memcpy(dns_answer.a + qlen, rr, sizeof(rr));
	dns_answer.alen = (uint16_t)(qlen + sizeof(rr));
	dns_answer.gen = gen;
	memcpy(key6.pod_ip6, &pod6, sizeof(key6.pod_ip6));
	key6.qlen = key.qlen;
	memcpy(key6.q, key.q, sizeof(key6.q));
	if (bpf_map_update_elem(datapath_map_fd(dp, "dns_answers"), &key, &dns_answer, BPF_ANY) ||
	    bpf_map_update_elem(datapath_map_fd(dp, "dns_answers6"), &key6, &dns_answer, BPF_ANY) ||
	    bpf_map_update_elem(datapath_map_fd(dp, "dns_gen"), &zero, &gen, BPF_ANY))
		fail("dns maps");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	LIBBPF_OPTS(bpf_object_open_opts, oopts);
	char pin_root[64];

	log_init("fuzz_bpf", LOG_LEVEL_ERROR);
	if (geteuid() != 0) {
		fprintf(stderr, "fuzz_bpf: needs root (loads BPF)\n");
		exit(77);
	}
	if (fuzz_private_netns("fuzz_bpf", true))
		exit(1);
	if (bpffs_ensure_mounted())
		fail("bpffs");
	snprintf(pin_root, sizeof(pin_root), "/sys/fs/bpf/ambit-fuzz-bpf-%d", (int)getpid());
	if (mkdir(pin_root, 0700))
		fail(pin_root);
	oopts.pin_root_path = pin_root;
	skel = steer_bpf__open_opts(&oopts);
	if (skel) {
		struct in6_addr proxy6 = ip6(FUZZ_BPF_DNS_PROXY6);

		skel->rodata->dns_proxy_ip = fuzz_ip4(FUZZ_BPF_DNS_PROXY);
		memcpy((void *)skel->rodata->dns_proxy_ip6, &proxy6, sizeof(proxy6));
	}
	if (!skel || steer_bpf__load(skel)) {
		datapath_remove_pins(pin_root);
		fail("loading steer.bpf.o");
	}
	prog_fd = bpf_program__fd(skel->progs.tc_ingress);
	dp = datapath_open_pinned(pin_root);
	/* The fds hold the maps from here on: nothing is left pinned, even after a crash. */
	if (datapath_remove_pins(pin_root) || !dp)
		fail("maps");
	if (datapath_set_iface(dp, POD_IFINDEX, fuzz_ip4("10.1.0.5")) ||
	    datapath_set_iface(dp, POD_IFINDEX + 1, fuzz_ip4("10.1.0.9")))
		fail("ifaces map");
	set_workload("10.1.0.5", AMBIT_WL_LOCAL, POD_IFINDEX);
	set_workload("10.1.0.9", AMBIT_WL_LOCAL | AMBIT_WL_ENROLLED, POD_IFINDEX + 1);
	set_workload("10.2.0.9", AMBIT_WL_ENROLLED, 0);
	if (datapath_set_strict_port(dp, fuzz_ip4("10.1.0.9"), 8080, AMBIT_PLAINTEXT_DROP) ||
	    datapath_set_deny_src(dp, fuzz_ip4("10.1.0.9"), fuzz_ip4("10.9.0.0"), 16))
		fail("policy maps");
	if (datapath_set_iface(dp, DUAL_IFINDEX, fuzz_ip4("10.1.0.11")))
		fail("ifaces map");
	set_workload("10.1.0.11", AMBIT_WL_LOCAL | AMBIT_WL_ENROLLED, DUAL_IFINDEX);
	set_workload6("fd00:1::5", AMBIT_WL_LOCAL, POD_IFINDEX);
	set_workload6("fd00:1::11", AMBIT_WL_LOCAL | AMBIT_WL_ENROLLED, DUAL_IFINDEX);
	set_workload6("fd00:2::9", AMBIT_WL_ENROLLED, 0);
	policy6();
	loopback_listeners();
	dns_entry();
	return 0;
}

/* The reasons tc counts for a packet it lets through (TC_ACT_OK). */
static bool tc_lets_through(unsigned int reason)
{
	return reason == AMBIT_PASS || reason == AMBIT_ASSIGN_ESTABLISHED ||
	       reason == AMBIT_ASSIGN_HBONE || reason == AMBIT_ASSIGN_INBOUND;
}

/*
 * Where @in's (an IPv6 frame of @len bytes) @proto header (@hlen bytes) starts, by its extension
 * headers as RFC 8200 §4 chains them (AH counting 4-byte units); 0 when it is not there whole.
 */
static size_t l4_offset6(const uint8_t *in, size_t len, uint8_t proto, size_t hlen)
{
	size_t off = ETH_HLEN + sizeof(struct ip6_hdr);
	uint8_t nh;

	if (len < off)
		return 0;
	nh = in[ETH_HLEN + offsetof(struct ip6_hdr, ip6_nxt)];
	while (nh != proto) {
		if (off + 2 > len)
			return 0;
		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS: nh = in[off], off += (in[off + 1] + 1u) * 8; break;
		case IPPROTO_AH: nh = in[off], off += (in[off + 1] + 2u) * 4; break;
		case IPPROTO_FRAGMENT: nh = in[off], off += 8; break;
		default: return 0;
		}
	}
	return off + hlen <= len ? off : 0;
}

/* The IPv6 reset answering @in (a SYN of @in_len bytes): the fixed header alone, swapped. */
/*
 * Whether @out is the reset answering segment @in (RFC 9293 §3.10.7.1): ports swapped, RST set,
 * never for a reset; for a segment with an ACK, <SEQ=SEG.ACK><CTL=RST>, else an ACK of seq 0.
 */
static bool reset_answers(const struct tcphdr *in, const struct tcphdr *out)
{
	if (in->rst || !out->rst || out->syn || out->fin || out->source != in->dest ||
	    out->dest != in->source)
		return false;
	if (in->ack)
		return out->seq == in->ack_seq && !out->ack;
	return out->seq == 0 && out->ack;
}

static void check_reset6(const uint8_t *in, size_t in_len, const uint8_t *out, size_t out_len)
{
	size_t il4 = l4_offset6(in, in_len, IPPROTO_TCP, sizeof(struct tcphdr));
	struct ip6_hdr iip, oip;
	struct tcphdr itcp, otcp;

	if (!il4 || out_len != ETH_HLEN + sizeof(oip) + sizeof(otcp))
		abort();
	memcpy(&iip, in + ETH_HLEN, sizeof(iip));
	memcpy(&oip, out + ETH_HLEN, sizeof(oip));
	memcpy(&itcp, in + il4, sizeof(itcp));
	memcpy(&otcp, out + ETH_HLEN + sizeof(oip), sizeof(otcp));
	if (oip.ip6_nxt != IPPROTO_TCP || ntohs(oip.ip6_plen) != sizeof(otcp) ||
	    memcmp(&oip.ip6_src, &iip.ip6_dst, 16) || memcmp(&oip.ip6_dst, &iip.ip6_src, 16) ||
	    !reset_answers(&itcp, &otcp))
		abort();
}

/* The reset answering @in goes back: addresses swapped, as reset_answers says. */
static void check_reset(const uint8_t *in, size_t in_len, const uint8_t *out, size_t out_len)
{
	struct iphdr iip, oip;
	struct tcphdr itcp, otcp;
	uint16_t proto;
	size_t il4;

	memcpy(&proto, in + offsetof(struct ethhdr, h_proto), sizeof(proto));
	if (proto == htons(ETH_P_IPV6)) {
		check_reset6(in, in_len, out, out_len);
		return;
	}
	memcpy(&iip, in + ETH_HLEN, sizeof(iip));
	il4 = ETH_HLEN + iip.ihl * 4u;
	if (out_len < ETH_HLEN + sizeof(oip) + sizeof(otcp))
		abort();
	memcpy(&oip, out + ETH_HLEN, sizeof(oip));
	memcpy(&otcp, out + ETH_HLEN + oip.ihl * 4u, sizeof(otcp));
	memcpy(&itcp, in + il4, sizeof(itcp));
	if (oip.protocol != IPPROTO_TCP || oip.saddr != iip.daddr || oip.daddr != iip.saddr ||
	    !reset_answers(&itcp, &otcp))
		abort();
}

/* RFC 1071: the folded sum of @len bytes at @p (an odd last byte padded with zero), plus @sum. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/*
 * The kernel's DNS answer over IPv6: a fixed header alone (no extension headers), Linux's hop
 * limit, the addresses and ports swapped, the held answer under the query's id, and a UDP
 * checksum that sums to 0xffff with the RFC 8200 §8.1 pseudo-header.
 */
static void check_dns_answer6(const uint8_t *in, size_t in_len, const uint8_t *out, size_t out_len)
{
	size_t alen = dns_answer.alen, l4 = ETH_HLEN + sizeof(struct ip6_hdr);
	size_t il4 = l4_offset6(in, in_len, IPPROTO_UDP, 8 + 2);
	struct in6_addr proxy6 = ip6(FUZZ_BPF_DNS_PROXY6);
	const uint8_t nh[4] = {0, 0, 0, IPPROTO_UDP};
	struct ip6_hdr iip, oip;
	uint16_t iudp[4], oudp[4];
	uint32_t sum;

	if (!il4 || out_len != l4 + 8 + alen)
		abort();
	memcpy(&iip, in + ETH_HLEN, sizeof(iip));
	memcpy(&oip, out + ETH_HLEN, sizeof(oip));
	memcpy(iudp, in + il4, sizeof(iudp));
	memcpy(oudp, out + l4, sizeof(oudp));
	if (oip.ip6_nxt != IPPROTO_UDP || oip.ip6_hlim != 64 || ntohs(oip.ip6_plen) != 8 + alen ||
	    memcmp(&oip.ip6_src, &iip.ip6_dst, 16) || memcmp(&oip.ip6_dst, &iip.ip6_src, 16) ||
	    memcmp(&oip.ip6_src, &proxy6, 16) || oudp[0] != iudp[1] || oudp[1] != iudp[0] ||
	    ntohs(oudp[2]) != 8 + alen || oudp[3] == 0)
		abort();
	sum = csum_add(0, out + ETH_HLEN + 8, 32) + (uint32_t)(8 + alen);
	sum = csum_add(csum_add(sum, nh, sizeof(nh)), out + l4, 8 + alen);
	if (sum != 0xffff || memcmp(out + l4 + 8, in + il4 + 8, 2) ||
	    memcmp(out + l4 + 10, dns_answer.a + 2, alen - 2))
		abort();
}

/*
 * The kernel's DNS answer to @in (@in_len bytes): UDP from the proxy's address and port back to
 * the sender's, carrying the held answer under the query's id.
 */
static void check_dns_answer(const uint8_t *in, size_t in_len, const uint8_t *out, size_t out_len)
{
	size_t alen = dns_answer.alen, l4 = ETH_HLEN + sizeof(struct iphdr);
	struct iphdr iip, oip;
	uint16_t iudp[4], oudp[4];
	uint16_t proto;
	size_t il4;

	memcpy(&proto, in + offsetof(struct ethhdr, h_proto), sizeof(proto));
	if (proto == htons(ETH_P_IPV6)) {
		check_dns_answer6(in, in_len, out, out_len);
		return;
	}

	memcpy(&iip, in + ETH_HLEN, sizeof(iip));
	il4 = ETH_HLEN + iip.ihl * 4u;
	if (in_len < il4 + 8 + 2 || out_len != l4 + 8 + alen)
		abort();
	memcpy(&oip, out + ETH_HLEN, sizeof(oip));
	memcpy(iudp, in + il4, sizeof(iudp));
	memcpy(oudp, out + l4, sizeof(oudp));
	if (oip.protocol != IPPROTO_UDP || oip.ihl != 5 || oip.saddr != iip.daddr ||
	    oip.daddr != iip.saddr || oip.saddr != fuzz_ip4(FUZZ_BPF_DNS_PROXY) ||
	    oudp[0] != iudp[1] || oudp[1] != iudp[0] || ntohs(oudp[2]) != 8 + alen ||
	    ntohs(oip.tot_len) != sizeof(oip) + 8 + alen)
		abort();
	if (memcmp(out + l4 + 8, in + il4 + 8, 2) ||
	    memcmp(out + l4 + 10, dns_answer.a + 2, alen - 2))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t before[AMBIT_REASON__COUNT], after[AMBIT_REASON__COUNT];
	struct __sk_buff ctx;
	uint8_t out[4096];
	unsigned int moved = 0, reason = 0;
	int err;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_out = out, .data_size_out = sizeof(out),
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .ctx_out = &ctx,
		    .ctx_size_out = sizeof(ctx), .repeat = 1);

	if (size < 1 + ETH_HLEN || size > 1 + 1500)
		return 0;
	memset(&ctx, 0, sizeof(ctx));
	ctx.ingress_ifindex = ifindexes[(data[0] & 7) % IFACES];
	if (data[0] & 8) /* what tc_veth_egress turned back into the node (nodeguard_ingress) */
		ctx.mark = AMBIT_NODE_MARK;
	opts.data_in = data + 1;
	opts.data_size_in = (uint32_t)(size - 1);
	if (datapath_read_counters(dp, before))
		abort();
	err = bpf_prog_test_run_opts(prog_fd, &opts);
	if (datapath_read_counters(dp, after))
		abort();
	for (unsigned int i = 0; i < AMBIT_REASON__COUNT; i++) {
		if (after[i] == before[i])
			continue;
		if (after[i] - before[i] != 1)
			abort();
		moved++;
		reason = i;
	}
	/* test_run refuses some frames itself (an IPv4 header shorter than 20 bytes). */
	if (err) {
		if (err != -EINVAL || moved)
			abort();
		return 0;
	}
	if (moved != 1)
		abort();
	outcomes[reason][opts.retval & 7][(data[0] & 7) % IFACES]++;
	switch (opts.retval) {
	case TC_ACT_OK:
		if (!tc_lets_through(reason))
			abort();
		break;
	case TC_ACT_SHOT:
		if (tc_lets_through(reason) || reason == AMBIT_REDIRECT_OUTBOUND ||
		    reason == AMBIT_SERVICE_LB || reason == AMBIT_DNS_ANSWERED)
			abort(); /* the last two are the cgroup programs', never tc's */
		break;
	case TC_ACT_REDIRECT:
		if (reason == AMBIT_DNS_ANSWERED) {
			check_dns_answer(data + 1, size - 1, out, opts.data_size_out);
			break;
		}
		if (reason != AMBIT_DROP_DENY_SOURCE && reason != AMBIT_DROP_STRICT_PLAINTEXT &&
		    reason != AMBIT_DROP_NO_FLOW)
			abort();
		check_reset(data + 1, size - 1, out, opts.data_size_out);
		break;
	default: abort();
	}
	return 0;
}
