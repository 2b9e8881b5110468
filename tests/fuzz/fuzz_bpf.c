// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the tc ingress program (bpf/steer.bpf.c: packet parser, anti-spoofing,
 * capture, kernel refusals with their reset, DNS answered in the kernel): each input is one
 * frame run through the real
 * program with BPF_PROG_TEST_RUN, loaded once (needs root: exits 77 without, which the fuzz
 * runner reports as a skip). The maps hold the node of tests/bpf/test_steer.c: pod 10.1.0.5 on
 * ifindex 7 (local, not enrolled), 10.1.0.9 (local, enrolled: STRICT on port 8080, sources
 * 10.9.0.0/16 denied), 10.2.0.9 (enrolled, another node), a listener in the HBONE proxy slot and
 * none in the plaintext one, and the DNS proxy's answer to one query of 10.1.0.5's (bpf_dns.h).
 * Whatever the frame, the program must return OK, SHOT or REDIRECT (a refused SYN's reset, a
 * DNS answer), move exactly one reason counter by one, with the action that reason stands for;
 * a reset must be a TCP RST going back to the sender, an answer that query's answer under the
 * query's id, from the proxy's address and port back to the sender's.
 * Input: byte 0 picks the ingress interface (bits 0-1: uplink, the pod's veth, another pod's,
 * an unknown one); the rest is the frame from its Ethernet header. The maps and program are
 * unpinned as soon as loaded: a crash leaves nothing in bpffs. The target runs in a network
 * namespace of its own (socket look-ups see only its listener). libFuzzer's coverage is the
 * harness's plus the verdicts reached (see outcomes below); the program's own branches are not
 * instrumented, so the seeds carry most of the reach.
 * Seeds: tests/fuzz/corpus/fuzz_bpf/ (gen_seeds.c: SYNs, established segments, UDP, ARP, IP
 * options, fragments, spoofed sources, the DNS query; IPv6 from the enrolled pod's veth, the other
 * pod's and the uplink, cut short and behind extension headers). The netns has no routes to the
 * pods, so IPv6 to a pod is judged as routed nowhere (test_steer routes it).
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

/*
 * libFuzzer sees the harness's edges, not the BPF program's: the outcome (reason x action x
 * interface) is handed to it as extra coverage counters, so an input reaching a new verdict is
 * kept in the corpus.
 */
__attribute__((
    section("__libfuzzer_extra_counters"))) static uint8_t outcomes[AMBIT_REASON__COUNT][8][4];

/* The answer the kernel holds for fuzz_bpf_dns_query (its id the proxy's own). */
static struct ambit_dns_answer dns_answer;

static struct steer_bpf *skel;
static struct datapath *dp;
static int prog_fd = -1, listener = -1;
static const uint32_t ifindexes[4] = {UPLINK_IFINDEX, POD_IFINDEX, POD_IFINDEX + 1, 99};

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

static void loopback_listener(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 8))
		fail("listener");
	if (proxy_sock_publish(datapath_map_fd(dp, "proxy_socks"), AMBIT_SOCK_HBONE, fd))
		fail("proxy_socks map");
	listener = fd;
}

/* The DNS proxy's answer to bpf_dns.h's query (an A record, TTL 30), current generation 1. */
static void dns_entry(void)
{
	static const uint8_t rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 96, 0, 10};
	struct ambit_dns_key key = {.pod_ip = fuzz_ip4(FUZZ_BPF_DNS_POD)};
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
	if (bpf_map_update_elem(datapath_map_fd(dp, "dns_answers"), &key, &dns_answer, BPF_ANY) ||
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
	if (skel)
		skel->rodata->dns_proxy_ip = fuzz_ip4(FUZZ_BPF_DNS_PROXY);
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
	loopback_listener();
	dns_entry();
	return 0;
}

/* The reasons tc counts for a packet it lets through (TC_ACT_OK). */
static bool tc_lets_through(unsigned int reason)
{
	return reason == AMBIT_PASS || reason == AMBIT_ASSIGN_ESTABLISHED ||
	       reason == AMBIT_ASSIGN_HBONE || reason == AMBIT_ASSIGN_INBOUND;
}

/* The reset answering @in (a SYN) goes back: addresses and ports swapped, RST set. */
static void check_reset(const uint8_t *in, const uint8_t *out, size_t out_len)
{
	struct iphdr iip, oip;
	struct tcphdr itcp, otcp;
	size_t il4;

	memcpy(&iip, in + ETH_HLEN, sizeof(iip));
	il4 = ETH_HLEN + iip.ihl * 4u;
	if (out_len < ETH_HLEN + sizeof(oip) + sizeof(otcp))
		abort();
	memcpy(&oip, out + ETH_HLEN, sizeof(oip));
	memcpy(&otcp, out + ETH_HLEN + oip.ihl * 4u, sizeof(otcp));
	memcpy(&itcp, in + il4, sizeof(itcp));
	if (oip.protocol != IPPROTO_TCP || oip.saddr != iip.daddr || oip.daddr != iip.saddr ||
	    !otcp.rst || otcp.source != itcp.dest || otcp.dest != itcp.source)
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
	size_t il4;

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
	ctx.ingress_ifindex = ifindexes[data[0] & 3];
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
	outcomes[reason][opts.retval & 7][data[0] & 3]++;
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
		if (reason != AMBIT_DROP_DENY_SOURCE && reason != AMBIT_DROP_STRICT_PLAINTEXT)
			abort();
		check_reset(data + 1, out, opts.data_size_out);
		break;
	default: abort();
	}
	return 0;
}
