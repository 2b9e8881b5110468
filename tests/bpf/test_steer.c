// SPDX-License-Identifier: Apache-2.0
/*
 * BPF_PROG_TEST_RUN tests of the tc ingress program (bpf/steer.bpf.c) with hand-built packets.
 * Runs in a private netns with maps pinned in a private bpffs directory; every verdict is checked
 * together with the one counter it must bump (and no other), read through datapath_read_counters.
 * bpf_sk_assign needs a real tc ingress hook, which test_run does not provide: where a socket is
 * found, the program's attempt shows as DROP_ASSIGN_FAILED, which is what these tests assert.
 * The in-pod program (tc_pod) is also attached to lo's ingress in the private netns for one case,
 * where its assignment succeeds and a real connection lands on the listener; the node program's
 * successful assignment is covered by the integration tests.
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
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>

#include "ambit/datapath.h"
#include "ambit/log.h"
#include "steer.skel.h"
#include "../lib/harness.h"

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define TC_ACT_REDIRECT 7 /* a refused SYN goes back as a reset */

#define POD_IFINDEX 7
#define UPLINK_IFINDEX 2
/* eth0 inside an in-pod pod's netns, where tc_pod runs. */
#define POD_ETH0_IFINDEX 3

/* In-pod workloads: captured in the pod's netns; the partial ones are not captured there. */
#define INPOD_IP "10.1.0.20"
#define INPOD_FLAGS (AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL | AMBIT_WL_INPOD)
#define INPOD_NOT_ENROLLED_IP "10.1.0.21"
#define INPOD_REMOTE_IP "10.1.0.22"

struct fixture {
	char pin_root[64];
	struct steer_bpf *skel;
	struct datapath *dp;
	int prog_fd;	 /* tc_ingress */
	int pod_prog_fd; /* tc_pod */
	int lo_ifindex;	 /* > 0 while tc_pod is attached to lo's ingress */
	int pod_lfd;	 /* the in-pod cases' listener */
	int hbone_lfd;	 /* the real-hook case's 15008 listener */
};

static struct fixture fx = {.pod_lfd = -1, .hbone_lfd = -1};

struct pkt_spec {
	uint16_t eth_proto;
	uint8_t ihl; /* 32-bit words, options zero-filled */
	uint8_t protocol;
	uint16_t frag_off; /* host order, flags included */
	const char *saddr, *daddr;
	uint16_t sport, dport;
	uint8_t tcp_flags; /* TH_* bits; 0 = a bare SYN */
	size_t truncate;   /* bytes kept from the start, 0 = whole packet */
};

/* A TCP packet @saddr:40000 -> @daddr:80, the flow most cases start from. */
static struct pkt_spec tcp_flow(const char *saddr, const char *daddr)
{
	return (struct pkt_spec){
	    .protocol = IPPROTO_TCP, .saddr = saddr, .daddr = daddr, .sport = 40000, .dport = 80};
}

/*
 * Builds Ethernet + IPv4 (+ options) + TCP (or 8 bytes of UDP) into @buf; returns its length.
 * Headers are filled in aligned locals and copied: at offset 14 they are misaligned in @buf.
 */
static size_t pkt_build(uint8_t *buf, size_t cap, const struct pkt_spec *s)
{
	uint8_t ihl = s->ihl ? s->ihl : 5;
	size_t l3 = sizeof(struct ethhdr);
	size_t l4 = l3 + ihl * 4u;
	size_t len = l4 + (s->protocol == IPPROTO_TCP ? sizeof(struct tcphdr) : 8);
	struct ethhdr eth = {.h_proto = htons(s->eth_proto ? s->eth_proto : ETH_P_IP)};
	struct iphdr ip = {.version = 4, .ihl = ihl, .ttl = 64, .protocol = s->protocol};

	assert_true(len <= cap);
	memset(buf, 0, cap);
	ip.frag_off = htons(s->frag_off);
	ip.saddr = harness_ip4(s->saddr);
	ip.daddr = harness_ip4(s->daddr);
	ip.tot_len = htons((uint16_t)(len - l3));
	memcpy(buf, &eth, sizeof(eth));
	memcpy(buf + l3, &ip, sizeof(ip));
	if (s->protocol == IPPROTO_TCP) {
		struct tcphdr tcp = {
		    .source = htons(s->sport), .dest = htons(s->dport), .doff = 5, .syn = 1};

		if (s->tcp_flags)
			tcp.th_flags = s->tcp_flags;
		memcpy(buf + l4, &tcp, sizeof(tcp));
	} else {
		uint16_t udp[4] = {htons(s->sport), htons(s->dport), htons(8), 0};

		memcpy(buf + l4, udp, sizeof(udp));
	}
	return s->truncate ? s->truncate : len;
}

static int run_prog(int prog_fd, const void *pkt, size_t len, uint32_t ingress_ifindex,
		    uint32_t *mark)
{
	struct __sk_buff ctx = {.ingress_ifindex = ingress_ifindex};
	uint8_t out[256];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .ctx_out = &ctx, .ctx_size_out = sizeof(ctx),
		    .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(prog_fd, &opts), 0);
	if (mark)
		*mark = ctx.mark;
	return (int)opts.retval;
}

/*
 * Runs one packet through @prog_fd and checks the action and that exactly counter @reason moved,
 * by one.
 */
static void expect_prog_verdict(int prog_fd, const struct pkt_spec *s, uint32_t ifindex, int action,
				enum ambit_reason reason)
{
	uint64_t before[AMBIT_REASON__COUNT], after[AMBIT_REASON__COUNT];
	uint8_t buf[128];
	size_t len = pkt_build(buf, sizeof(buf), s);
	unsigned int i;

	assert_int_equal(datapath_read_counters(fx.dp, before), 0);
	assert_int_equal(run_prog(prog_fd, buf, len, ifindex, NULL), action);
	assert_int_equal(datapath_read_counters(fx.dp, after), 0);
	for (i = 0; i < AMBIT_REASON__COUNT; i++) {
		if (after[i] - before[i] != (i == reason ? 1u : 0u))
			fail_msg("counter %s moved by %llu, expected verdict %s",
				 ambit_reason_name(i), (unsigned long long)(after[i] - before[i]),
				 ambit_reason_name(reason));
	}
}

/* The node program (tc_ingress). */
static void expect_verdict(const struct pkt_spec *s, uint32_t ifindex, int action,
			   enum ambit_reason reason)
{
	expect_prog_verdict(fx.prog_fd, s, ifindex, action, reason);
}

/* The in-pod program (tc_pod), on the pod's own eth0. */
static void expect_pod_verdict(const struct pkt_spec *s, int action, enum ambit_reason reason)
{
	expect_prog_verdict(fx.pod_prog_fd, s, POD_ETH0_IFINDEX, action, reason);
}

static int setup_all(void)
{
	LIBBPF_OPTS(bpf_object_open_opts, oopts);
	struct ambit_workload wl = {0};

	/* A private netns: socket look-ups and test sockets never see the host's. */
	if (unshare(CLONE_NEWNET))
		return -1;
	harness_link_up_lo();
	if (bpffs_ensure_mounted())
		return -1;
	snprintf(fx.pin_root, sizeof(fx.pin_root), "/sys/fs/bpf/ambit-test-steer-%d",
		 (int)getpid());
	if (mkdir(fx.pin_root, 0700))
		return -1;
	oopts.pin_root_path = fx.pin_root;
	fx.skel = steer_bpf__open_opts(&oopts);
	if (!fx.skel || steer_bpf__load(fx.skel))
		return -1;
	fx.prog_fd = bpf_program__fd(fx.skel->progs.tc_ingress);
	fx.pod_prog_fd = bpf_program__fd(fx.skel->progs.tc_pod);
	fx.dp = datapath_open_pinned(fx.pin_root);
	if (!fx.dp)
		return -1;

	if (datapath_set_iface(fx.dp, POD_IFINDEX, harness_ip4("10.1.0.5")))
		return -1;
	wl.flags = AMBIT_WL_LOCAL;
	wl.ifindex = POD_IFINDEX;
	if (datapath_set_workload(fx.dp, harness_ip4("10.1.0.5"), &wl))
		return -1;
	wl.flags = AMBIT_WL_LOCAL | AMBIT_WL_ENROLLED;
	wl.ifindex = POD_IFINDEX + 1;
	if (datapath_set_workload(fx.dp, harness_ip4("10.1.0.9"), &wl))
		return -1;
	wl.flags = INPOD_FLAGS;
	if (datapath_set_workload(fx.dp, harness_ip4(INPOD_IP), &wl))
		return -1;
	wl.flags = AMBIT_WL_LOCAL | AMBIT_WL_INPOD;
	if (datapath_set_workload(fx.dp, harness_ip4(INPOD_NOT_ENROLLED_IP), &wl))
		return -1;
	wl.flags = AMBIT_WL_ENROLLED;
	wl.ifindex = 0;
	if (datapath_set_workload(fx.dp, harness_ip4("10.2.0.9"), &wl))
		return -1;
	wl.flags = AMBIT_WL_ENROLLED | AMBIT_WL_INPOD;
	return datapath_set_workload(fx.dp, harness_ip4(INPOD_REMOTE_IP), &wl);
}

static int group_teardown(void **state)
{
	datapath_close(fx.dp);
	fx.dp = NULL;
	steer_bpf__destroy(fx.skel);
	fx.skel = NULL;
	return fx.pin_root[0] && datapath_remove_pins(fx.pin_root) ? -1 : 0;
}

/* A half-done setup is torn down here: cmocka skips the group teardown when setup fails. */
static int group_setup(void **state)
{
	if (setup_all() == 0)
		return 0;
	fprintf(stderr, "test_steer: setup failed: %s\n", strerror(errno));
	group_teardown(state);
	return -1;
}

static void test_non_ipv4_passes(void **state)
{
	struct pkt_spec arp = {.eth_proto = ETH_P_ARP,
			       .protocol = IPPROTO_TCP,
			       .saddr = "10.1.0.6",
			       .daddr = "10.1.0.9"};
	struct pkt_spec v6 = arp;

	v6.eth_proto = ETH_P_IPV6;
	/* Even from a pod iface with a "wrong" address: only IPv4 is judged. */
	expect_verdict(&arp, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	expect_verdict(&v6, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
}

static void test_truncated_dropped(void **state)
{
	struct pkt_spec s = tcp_flow("10.9.0.1", "10.1.0.9");

	/*
	 * test_run itself refuses an IPv4 frame shorter than 20 bytes of header (-EINVAL), so the
	 * shortest truncation it can feed us is a header whose ihl reaches past the data.
	 */
	s.ihl = 8;
	s.truncate = ETH_HLEN + 20 + 8;
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	s.ihl = 5;
	s.truncate = ETH_HLEN + 20 + 8; /* half a TCP header */
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	s.truncate = 0;
	s.ihl = 4; /* shorter than the fixed header */
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
}

static void test_ip_options(void **state)
{
	struct pkt_spec s = tcp_flow("10.9.0.1", "10.1.0.9");

	s.ihl = 6;
	/* TCP is found past the options: the flow reaches the enrolled-pod decision. */
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* Options claimed longer than the packet. */
	s.ihl = 15;
	s.truncate = ETH_HLEN + 20 + 20;
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	/* Options present, TCP header cut. */
	s.ihl = 6;
	s.truncate = ETH_HLEN + 24 + 12;
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
}

static void test_spoofed_source_dropped(void **state)
{
	struct pkt_spec s = tcp_flow("10.1.0.6", "10.3.0.1");

	expect_verdict(&s, POD_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_SPOOFED_SOURCE);
	s.protocol = IPPROTO_UDP; /* any protocol */
	expect_verdict(&s, POD_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_SPOOFED_SOURCE);
	/* The same source is fine where no pod is bound to the ingress iface. */
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
}

static void test_legit_source_passes(void **state)
{
	struct pkt_spec s = tcp_flow("10.1.0.5", "10.3.0.1");

	expect_verdict(&s, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.protocol = IPPROTO_UDP;
	expect_verdict(&s, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
}

static void test_enrolled_without_proxy_fails_closed(void **state)
{
	struct pkt_spec s = tcp_flow("10.1.0.5", "10.1.0.9");

	expect_verdict(&s, POD_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	s.dport = AMBIT_PORT_HBONE;
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* UDP to an enrolled pod is not captured by this program. */
	s.protocol = IPPROTO_UDP;
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
}

static void test_not_captured_passes(void **state)
{
	struct pkt_spec s = tcp_flow("10.9.0.1", "10.1.0.5");

	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS); /* local, not enrolled */
	s.daddr = "10.2.0.9";
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS); /* enrolled, other node */
	s.daddr = "10.3.0.1";
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS); /* not a workload */
}

static void test_fragments(void **state)
{
	struct pkt_spec s = tcp_flow("10.9.0.1", "10.1.0.9");

	s.frag_off = 0x2000; /* MF */
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	s.frag_off = 185; /* a later fragment: its payload is no TCP header */
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	s.daddr = "10.1.0.5";
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
}

static int tcp_listener(uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void test_listener_slot_selected(void **state)
{
	int socks_fd = datapath_map_fd(fx.dp, "proxy_socks");
	struct pkt_spec s = tcp_flow("10.9.0.1", "10.1.0.9");
	uint32_t key = AMBIT_SOCK_HBONE;
	uint16_t port;
	int lfd = tcp_listener(&port);

	s.dport = AMBIT_PORT_HBONE;
	assert_true(socks_fd >= 0);
	assert_int_equal(proxy_sock_publish(socks_fd, AMBIT_SOCK_HBONE, lfd), 0);
	/* 15008 finds the HBONE listener and tries to assign it (refused outside tc ingress). */
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	/* Any other port wants the plaintext slot, which is empty. */
	s.dport = 80;
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	assert_int_equal(proxy_sock_publish(socks_fd, AMBIT_SOCK_INBOUND, lfd), 0);
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
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
	struct pkt_spec s = {.protocol = IPPROTO_TCP, .saddr = "127.0.0.1", .daddr = "127.0.0.1"};
	uint16_t port;
	int lfd = tcp_listener(&port);
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int afd;

	assert_true(cfd >= 0);
	a.sin_port = htons(port);
	assert_int_equal(connect(cfd, (struct sockaddr *)&a, sizeof(a)), 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(getsockname(cfd, (struct sockaddr *)&local, &alen), 0);
	/* Pretend 127.0.0.1 is an enrolled local pod, so the listener path would otherwise run. */
	assert_int_equal(datapath_set_workload(fx.dp, htonl(INADDR_LOOPBACK), &wl), 0);

	/* client -> server: the accepted socket owns the 4-tuple, not the (absent) proxy. */
	s.sport = ntohs(local.sin_port);
	s.dport = port;
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	/* A new flow to the same port only matches the listener, which is skipped. */
	s.sport = (uint16_t)(s.sport == 65535 ? 1024 : s.sport + 1);
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);

	assert_int_equal(datapath_del_workload(fx.dp, htonl(INADDR_LOOPBACK)), 0);
	close(afd);
	close(cfd);
	close(lfd);
}

static uint64_t strict_drops(uint32_t ip, uint16_t port)
{
	struct ambit_addr key = {.ip = ip, .port = htons(port)};
	struct ambit_strict_port v;

	assert_int_equal(bpf_map_lookup_elem(datapath_map_fd(fx.dp, "strict_ports"), &key, &v), 0);
	return v.drops;
}

static void test_strict_plaintext_dropped(void **state)
{
	struct pkt_spec s = tcp_flow("10.9.0.1", "10.1.0.9");
	uint32_t pod = harness_ip4("10.1.0.9");

	/* Pod-wide STRICT: plaintext to any port is dropped, HBONE still reaches the proxy. */
	assert_int_equal(datapath_set_strict_port(fx.dp, pod, 0, AMBIT_PLAINTEXT_DROP), 0);
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_REDIRECT, AMBIT_DROP_STRICT_PLAINTEXT);
	expect_verdict(&s, POD_IFINDEX - 1, TC_ACT_REDIRECT, AMBIT_DROP_STRICT_PLAINTEXT);
	assert_int_equal(strict_drops(pod, 0), 2);
	s.dport = AMBIT_PORT_HBONE;
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* A port-level PERMISSIVE exception under STRICT. */
	assert_int_equal(datapath_set_strict_port(fx.dp, pod, 8080, AMBIT_PLAINTEXT_ALLOW), 0);
	s.dport = 8080;
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	s.dport = 80;
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_REDIRECT, AMBIT_DROP_STRICT_PLAINTEXT);
	/* Rewriting the same mode keeps the count; the pod default can be removed alone. */
	assert_int_equal(datapath_set_strict_port(fx.dp, pod, 0, AMBIT_PLAINTEXT_DROP), 0);
	assert_int_equal(strict_drops(pod, 0), 3);
	assert_int_equal(datapath_del_strict_port(fx.dp, pod, 0), 0);
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* Port-level STRICT under a PERMISSIVE pod: only that port. */
	assert_int_equal(datapath_set_strict_port(fx.dp, pod, 8080, AMBIT_PLAINTEXT_DROP), 0);
	assert_int_equal(strict_drops(pod, 8080), 0);
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	s.dport = 8080;
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_REDIRECT, AMBIT_DROP_STRICT_PLAINTEXT);
	/* A pod that is not a captured local workload is never judged. */
	assert_int_equal(
	    datapath_set_strict_port(fx.dp, harness_ip4("10.1.0.5"), 0, AMBIT_PLAINTEXT_DROP), 0);
	s.daddr = "10.1.0.5";
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	assert_int_equal(datapath_set_strict_port(fx.dp, pod, 80, 7), -EINVAL);
	assert_int_equal(datapath_del_strict_port(fx.dp, harness_ip4("10.1.0.5"), 0), 0);
	assert_int_equal(datapath_del_strict_port(fx.dp, pod, 8080), 0);
	assert_int_equal(datapath_del_strict_port(fx.dp, pod, 8080), 0); /* absent: fine */
}

static uint64_t deny_drops(uint32_t dst, const char *src, unsigned int prefix)
{
	struct ambit_deny_src_key key = {
	    .prefixlen = 32 + prefix, .dst_ip = dst, .src_ip = harness_ip4(src)};
	struct ambit_deny_src v;

	assert_int_equal(bpf_map_lookup_elem(datapath_map_fd(fx.dp, "deny_src"), &key, &v), 0);
	return v.drops;
}

static void test_deny_source_dropped(void **state)
{
	struct pkt_spec s = tcp_flow("10.9.3.4", "10.1.0.9");
	uint32_t pod = harness_ip4("10.1.0.9");

	/* Host bits of the block are ignored (stored canonical). */
	assert_int_equal(datapath_set_deny_src(fx.dp, pod, harness_ip4("10.9.77.1"), 16), 0);
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_REDIRECT, AMBIT_DROP_DENY_SOURCE);
	assert_int_equal(deny_drops(pod, "10.9.0.0", 16), 1);
	s.saddr = "10.8.255.255"; /* just outside */
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* The source IP of HBONE is the peer node, not the client: never judged here. */
	s.saddr = "10.9.0.1";
	s.dport = AMBIT_PORT_HBONE;
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* Scoped to the destination pod: another workload is not affected. */
	s.dport = 80;
	s.daddr = "10.1.0.5";
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	/* A DENY of a single address, alongside a STRICT entry: the source decides first. */
	s.daddr = "10.1.0.9";
	s.saddr = "10.7.0.1";
	assert_int_equal(datapath_set_deny_src(fx.dp, pod, harness_ip4("10.7.0.1"), 32), 0);
	assert_int_equal(datapath_set_strict_port(fx.dp, pod, 0, AMBIT_PLAINTEXT_DROP), 0);
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_REDIRECT, AMBIT_DROP_DENY_SOURCE);
	assert_int_equal(datapath_del_strict_port(fx.dp, pod, 0), 0);
	/* 0.0.0.0/0 denies every source. */
	assert_int_equal(datapath_set_deny_src(fx.dp, pod, 0, 0), 0);
	s.saddr = "192.0.2.1";
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_REDIRECT, AMBIT_DROP_DENY_SOURCE);
	assert_int_equal(datapath_set_deny_src(fx.dp, pod, 0, 33), -EINVAL);
	assert_int_equal(datapath_del_deny_src(fx.dp, pod, 0, 0), 0);
	assert_int_equal(datapath_del_deny_src(fx.dp, pod, harness_ip4("10.7.0.1"), 32), 0);
	assert_int_equal(datapath_del_deny_src(fx.dp, pod, harness_ip4("10.9.0.0"), 16), 0);
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
}

/* RFC 1071 sum of @len bytes (even) at @p, plus @sum; 0xffff over a whole header means valid. */
static uint32_t csum_add(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/*
 * A SYN as a client stack sends it, with what the reset must not echo: IP options (@ihl words),
 * TCP options (MSS, SACK-permitted, timestamps, window scale), a TFO-style payload and FIN.
 */
static size_t syn_build(uint8_t *buf, size_t cap, uint8_t ihl, const char *saddr, const char *daddr,
			size_t payload, bool fin)
{
	static const uint8_t opts[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
					 0, 1, 0,    0,	   0, 0, 1, 3,	3, 7};
	struct ethhdr eth = {.h_dest = {0x02, 0, 0, 0, 0, 0xd0},
			     .h_source = {0x02, 0, 0, 0, 0, 0x5c},
			     .h_proto = htons(ETH_P_IP)};
	struct iphdr ip = {.version = 4,
			   .ihl = ihl,
			   .tos = 0x10,
			   .ttl = 63,
			   .protocol = IPPROTO_TCP,
			   .id = htons(4242)};
	struct tcphdr tcp = {.source = htons(40123),
			     .dest = htons(80),
			     .seq = htonl(0xfffffff0),
			     .doff = 5 + sizeof(opts) / 4,
			     .syn = 1,
			     .fin = fin,
			     .window = htons(64240)};
	size_t l3 = sizeof(eth), l4 = l3 + ihl * 4u, len = l4 + tcp.doff * 4u + payload;

	assert_true(len <= cap);
	memset(buf, 0, cap);
	ip.saddr = harness_ip4(saddr);
	ip.daddr = harness_ip4(daddr);
	ip.tot_len = htons((uint16_t)(len - l3));
	memcpy(buf, &eth, sizeof(eth));
	memcpy(buf + l3, &ip, sizeof(ip));
	memset(buf + l3 + sizeof(ip), 1, l4 - l3 - sizeof(ip)); /* IP NOP options */
	memcpy(buf + l4, &tcp, sizeof(tcp));
	memcpy(buf + l4 + sizeof(tcp), opts, sizeof(opts));
	memset(buf + l4 + tcp.doff * 4u, 'x', payload);
	return len;
}

/*
 * Runs @syn (of @len) from @ifindex through @prog_fd and checks that the program answered with
 * exactly the reset a closed port would send (RFC 9293 §3.10.7.1; Linux's tcp_v4_send_reset):
 * addresses and ports swapped, RST|ACK, seq 0, ack = seq + SYN + FIN + payload, no options or
 * payload, both checksums right. Counter @reason moves by one, no other.
 */
static void expect_reset(int prog_fd, const uint8_t *syn, size_t len, uint32_t ifindex,
			 size_t payload, bool fin, enum ambit_reason reason)
{
	uint64_t before[AMBIT_REASON__COUNT], after[AMBIT_REASON__COUNT];
	struct __sk_buff ctx = {.ingress_ifindex = ifindex};
	struct ethhdr in_eth, eth;
	struct iphdr in_ip, ip;
	struct tcphdr in_tcp, tcp;
	uint8_t out[256], pseudo[12];
	size_t l4 = sizeof(eth) + (syn[sizeof(eth)] & 0xf) * 4u;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = syn, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .ctx_out = &ctx, .ctx_size_out = sizeof(ctx),
		    .repeat = 1);

	memcpy(&in_eth, syn, sizeof(in_eth));
	memcpy(&in_ip, syn + sizeof(eth), sizeof(in_ip));
	memcpy(&in_tcp, syn + l4, sizeof(in_tcp));
	assert_int_equal(datapath_read_counters(fx.dp, before), 0);
	assert_int_equal(bpf_prog_test_run_opts(prog_fd, &opts), 0);
	assert_int_equal(opts.retval, TC_ACT_REDIRECT);
	assert_int_equal(datapath_read_counters(fx.dp, after), 0);
	for (unsigned int i = 0; i < AMBIT_REASON__COUNT; i++)
		assert_int_equal(after[i] - before[i], i == reason ? 1u : 0u);

	assert_int_equal(opts.data_size_out, sizeof(eth) + sizeof(ip) + sizeof(tcp));
	memcpy(&eth, out, sizeof(eth));
	memcpy(&ip, out + sizeof(eth), sizeof(ip));
	memcpy(&tcp, out + sizeof(eth) + sizeof(ip), sizeof(tcp));
	assert_memory_equal(eth.h_dest, in_eth.h_source, ETH_ALEN);
	assert_memory_equal(eth.h_source, in_eth.h_dest, ETH_ALEN);
	assert_int_equal(eth.h_proto, htons(ETH_P_IP));

	assert_int_equal(ip.version, 4);
	assert_int_equal(ip.ihl, 5);
	assert_int_equal(ip.tos, in_ip.tos);
	assert_int_equal(ntohs(ip.tot_len), sizeof(ip) + sizeof(tcp));
	assert_int_equal(ntohs(ip.frag_off), IP_DF);
	assert_int_equal(ip.ttl, 64);
	assert_int_equal(ip.protocol, IPPROTO_TCP);
	assert_int_equal(ip.saddr, in_ip.daddr);
	assert_int_equal(ip.daddr, in_ip.saddr);
	assert_int_equal(csum_add(0, &ip, sizeof(ip)), 0xffff);

	assert_int_equal(tcp.source, in_tcp.dest);
	assert_int_equal(tcp.dest, in_tcp.source);
	assert_int_equal(ntohl(tcp.seq), 0);
	assert_int_equal(ntohl(tcp.ack_seq),
			 (uint32_t)(ntohl(in_tcp.seq) + 1 + (fin ? 1 : 0) + payload));
	assert_int_equal(tcp.doff, 5);
	assert_true(tcp.rst && tcp.ack);
	assert_false(tcp.syn || tcp.fin || tcp.psh || tcp.urg);
	assert_int_equal(tcp.window, 0);
	assert_int_equal(tcp.urg_ptr, 0);
	memcpy(pseudo, &ip.saddr, 4);
	memcpy(pseudo + 4, &ip.daddr, 4);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_TCP;
	pseudo[10] = 0;
	pseudo[11] = sizeof(tcp);
	assert_int_equal(csum_add(csum_add(0, pseudo, sizeof(pseudo)), &tcp, sizeof(tcp)), 0xffff);
}

/* A SYN refused in the kernel gets a reset; nothing else does (RFC 9293: never answer a RST). */
static void test_refused_syn_answered_with_reset(void **state)
{
	uint32_t pod = harness_ip4("10.1.0.9");
	struct pkt_spec s = tcp_flow("10.9.3.4", "10.1.0.9");
	uint8_t buf[256];
	size_t len;

	/* STRICT, a client on another node (uplink): plain SYN, then SYN + FIN + 100 bytes. */
	assert_int_equal(datapath_set_strict_port(fx.dp, pod, 0, AMBIT_PLAINTEXT_DROP), 0);
	len = syn_build(buf, sizeof(buf), 5, "10.9.3.4", "10.1.0.9", 0, false);
	expect_reset(fx.prog_fd, buf, len, UPLINK_IFINDEX, 0, false, AMBIT_DROP_STRICT_PLAINTEXT);
	len = syn_build(buf, sizeof(buf), 5, "10.9.3.4", "10.1.0.9", 100, true);
	expect_reset(fx.prog_fd, buf, len, UPLINK_IFINDEX, 100, true, AMBIT_DROP_STRICT_PLAINTEXT);
	assert_int_equal(strict_drops(pod, 0), 2);
	assert_int_equal(datapath_del_strict_port(fx.dp, pod, 0), 0);

	/* DENY ipBlocks, a client pod of this node (its veth), IP options on the SYN. */
	assert_int_equal(datapath_set_deny_src(fx.dp, pod, harness_ip4("10.1.0.5"), 32), 0);
	len = syn_build(buf, sizeof(buf), 8, "10.1.0.5", "10.1.0.9", 7, false);
	expect_reset(fx.prog_fd, buf, len, POD_IFINDEX, 7, false, AMBIT_DROP_DENY_SOURCE);
	assert_int_equal(deny_drops(pod, "10.1.0.5", 32), 1);

	/* A SYN that also carries RST is refused and counted, never answered. */
	len = syn_build(buf, sizeof(buf), 5, "10.1.0.5", "10.1.0.9", 0, false);
	buf[sizeof(struct ethhdr) + sizeof(struct iphdr) + 13] |= 0x04;
	assert_int_equal(run_prog(fx.prog_fd, buf, len, POD_IFINDEX, NULL), TC_ACT_SHOT);
	assert_int_equal(deny_drops(pod, "10.1.0.5", 32), 2);
	assert_int_equal(datapath_del_deny_src(fx.dp, pod, harness_ip4("10.1.0.5"), 32), 0);
	/* Without the entry the same SYN goes on to the (absent) proxy. */
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
}

/* A flow that was established before a policy change is the proxy's to judge, not tc's. */
static void test_established_flow_not_fast_dropped(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct sockaddr_in local;
	socklen_t alen = sizeof(local);
	struct ambit_workload wl = {.flags = AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL};
	struct pkt_spec s = {.protocol = IPPROTO_TCP, .saddr = "127.0.0.1", .daddr = "127.0.0.1"};
	uint32_t lo = htonl(INADDR_LOOPBACK);
	uint16_t port;
	int lfd = tcp_listener(&port);
	int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int afd;

	assert_true(cfd >= 0);
	a.sin_port = htons(port);
	assert_int_equal(connect(cfd, (struct sockaddr *)&a, sizeof(a)), 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(getsockname(cfd, (struct sockaddr *)&local, &alen), 0);
	assert_int_equal(datapath_set_workload(fx.dp, lo, &wl), 0);
	assert_int_equal(datapath_set_strict_port(fx.dp, lo, 0, AMBIT_PLAINTEXT_DROP), 0);
	assert_int_equal(datapath_set_deny_src(fx.dp, lo, lo, 32), 0);

	s.sport = ntohs(local.sin_port);
	s.dport = port;
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	s.sport = (uint16_t)(s.sport == 65535 ? 1024 : s.sport + 1);
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_REDIRECT, AMBIT_DROP_DENY_SOURCE);

	assert_int_equal(datapath_del_deny_src(fx.dp, lo, lo, 32), 0);
	assert_int_equal(datapath_del_strict_port(fx.dp, lo, 0), 0);
	assert_int_equal(datapath_del_workload(fx.dp, lo), 0);
	close(afd);
	close(cfd);
	close(lfd);
}

/*
 * ---- tc_pod: in-pod capture (bridge CNIs), on an enrolled pod's own eth0 inside its netns ----
 * Each case gets fx.pod_lfd, a listener as the ztunnel opens it in a pod's netns (IP_TRANSPARENT,
 * no SO_REUSEPORT), published nowhere; its teardown empties the policy and socket maps, so a
 * failed case leaves the next one a clean fixture.
 */

static int pod_case_setup(void **state)
{
	uint16_t port;
	int one = 1;

	fx.pod_lfd = tcp_listener(&port);
	return setsockopt(fx.pod_lfd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
}

static void map_clear(int fd)
{
	uint8_t key[64];

	while (bpf_map_get_next_key(fd, NULL, key) == 0)
		assert_int_equal(bpf_map_delete_elem(fd, key), 0);
}

static int pod_case_teardown(void **state)
{
	uint32_t slot;

	map_clear(bpf_map__fd(fx.skel->maps.strict_ports));
	map_clear(bpf_map__fd(fx.skel->maps.deny_src));
	map_clear(bpf_map__fd(fx.skel->maps.inpod_socks));
	/* An array: its keys always exist, and deleting an empty slot fails; only empty it. */
	for (slot = 0; slot < AMBIT_SOCK__COUNT; slot++)
		bpf_map_delete_elem(bpf_map__fd(fx.skel->maps.proxy_socks), &slot);
	if (fx.pod_lfd >= 0)
		close(fx.pod_lfd);
	fx.pod_lfd = -1;
	return 0;
}

#define pod_case(f) cmocka_unit_test_setup_teardown(f, pod_case_setup, pod_case_teardown)

/* inpod_socks, keyed by the pod's address, as the agent fills it. */
static void inpod_publish(const char *pod_ip, int fd)
{
	uint32_t key = harness_ip4(pod_ip);
	uint64_t val = (uint64_t)fd;

	assert_int_equal(
	    bpf_map_update_elem(bpf_map__fd(fx.skel->maps.inpod_socks), &key, &val, BPF_ANY), 0);
}

static void inpod_unpublish(const char *pod_ip)
{
	uint32_t key = harness_ip4(pod_ip);

	assert_int_equal(bpf_map_delete_elem(bpf_map__fd(fx.skel->maps.inpod_socks), &key), 0);
}

static void test_pod_non_tcp_passes(void **state)
{
	struct pkt_spec s = tcp_flow("10.9.0.1", INPOD_IP);

	s.protocol = IPPROTO_UDP;
	expect_pod_verdict(&s, TC_ACT_OK, AMBIT_PASS);
	/* Not TCP, so not judged as a fragment either. */
	s.frag_off = 0x2000;
	expect_pod_verdict(&s, TC_ACT_OK, AMBIT_PASS);
	s.frag_off = 185;
	expect_pod_verdict(&s, TC_ACT_OK, AMBIT_PASS);
	s.frag_off = 0;
	s.protocol = IPPROTO_TCP;
	s.eth_proto = ETH_P_ARP;
	expect_pod_verdict(&s, TC_ACT_OK, AMBIT_PASS);
	s.eth_proto = ETH_P_IPV6;
	expect_pod_verdict(&s, TC_ACT_OK, AMBIT_PASS);
	/* Broken IPv4 is refused before anything else, as on the node. */
	s.eth_proto = 0;
	s.truncate = ETH_HLEN + 20 + 8;
	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
}

static void test_pod_fragments_dropped(void **state)
{
	struct pkt_spec s = tcp_flow("10.9.0.1", INPOD_IP);

	s.frag_off = 0x2000; /* MF */
	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	/* Before the SYN test: a first fragment of a non-SYN is refused too. */
	s.tcp_flags = TH_ACK;
	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	s.frag_off = 185; /* a later fragment: no TCP header */
	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_MALFORMED);
	/* Not an in-pod pod: not this program's to judge. */
	s.daddr = "10.1.0.9";
	expect_pod_verdict(&s, TC_ACT_OK, AMBIT_PASS);
	s.daddr = INPOD_NOT_ENROLLED_IP;
	expect_pod_verdict(&s, TC_ACT_OK, AMBIT_PASS);
}

/* Only a destination with all of ENROLLED, LOCAL and INPOD is captured here. */
static void test_pod_other_destinations_pass(void **state)
{
	static const char *const others[] = {
	    "10.1.0.9",		   /* enrolled and local: captured on the node */
	    "10.1.0.5",		   /* local, not enrolled */
	    INPOD_NOT_ENROLLED_IP, /* in-pod and local, not enrolled */
	    INPOD_REMOTE_IP,	   /* in-pod and enrolled, on another node */
	    "10.2.0.9",		   /* enrolled, on another node */
	    "10.3.0.1",		   /* no workload */
	};
	struct pkt_spec s = tcp_flow("10.9.0.1", INPOD_IP);

	/* The in-pod pod itself: a SYN goes on to its (absent) listener. */
	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		uint32_t ip = harness_ip4(others[i]);

		/* Even with a listener and a STRICT pod-wide entry for it, and to the proxy ports.
		 */
		inpod_publish(others[i], fx.pod_lfd);
		assert_int_equal(datapath_set_strict_port(fx.dp, ip, 0, AMBIT_PLAINTEXT_DROP), 0);
		s.daddr = others[i];
		s.dport = 80;
		expect_pod_verdict(&s, TC_ACT_OK, AMBIT_PASS);
		s.dport = AMBIT_PORT_INBOUND;
		expect_pod_verdict(&s, TC_ACT_OK, AMBIT_PASS);
		s.dport = AMBIT_PORT_HBONE;
		expect_pod_verdict(&s, TC_ACT_OK, AMBIT_PASS);
	}
}

/*
 * Packets of open flows (not a SYN, or a SYN+ACK) are left to the pod's own sockets: not
 * assigned to the listener, not refused by policy, on any port.
 */
static void test_pod_non_syn_passes(void **state)
{
	static const uint8_t flags[] = {
	    TH_ACK, TH_SYN | TH_ACK, TH_ACK | TH_PUSH, TH_FIN | TH_ACK,
	    TH_RST, TH_RST | TH_ACK, TH_FIN,
	};
	static const uint16_t ports[] = {80, AMBIT_PORT_OUTBOUND, AMBIT_PORT_INBOUND};
	struct pkt_spec s = tcp_flow("10.9.0.1", INPOD_IP);
	uint32_t pod = harness_ip4(INPOD_IP);

	inpod_publish(INPOD_IP, fx.pod_lfd);
	assert_int_equal(datapath_set_strict_port(fx.dp, pod, 0, AMBIT_PLAINTEXT_DROP), 0);
	assert_int_equal(datapath_set_deny_src(fx.dp, pod, harness_ip4("10.9.0.1"), 32), 0);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		for (size_t j = 0; j < sizeof(ports) / sizeof(ports[0]); j++) {
			s.tcp_flags = flags[i];
			s.dport = ports[j];
			expect_pod_verdict(&s, TC_ACT_OK, AMBIT_PASS);
		}
	}
	/* The same SYN is refused by the DENY entry, answered with a reset. */
	s.tcp_flags = 0;
	s.dport = 80;
	expect_pod_verdict(&s, TC_ACT_REDIRECT, AMBIT_DROP_DENY_SOURCE);
}

/*
 * HBONE (15008) reaches the ztunnel's listener in the pod by the ordinary look-up: counted, not
 * assigned (an attempt would show as DROP_ASSIGN_FAILED here), and never judged by plaintext
 * policy (its source is the peer node's ztunnel, not the client).
 */
static void test_pod_hbone_not_assigned(void **state)
{
	struct pkt_spec s = tcp_flow("10.9.0.1", INPOD_IP);
	uint32_t pod = harness_ip4(INPOD_IP);

	s.dport = AMBIT_PORT_HBONE;
	expect_pod_verdict(&s, TC_ACT_OK, AMBIT_ASSIGN_HBONE);
	inpod_publish(INPOD_IP, fx.pod_lfd);
	assert_int_equal(datapath_set_strict_port(fx.dp, pod, 0, AMBIT_PLAINTEXT_DROP), 0);
	assert_int_equal(datapath_set_deny_src(fx.dp, pod, harness_ip4("10.9.0.1"), 32), 0);
	expect_pod_verdict(&s, TC_ACT_OK, AMBIT_ASSIGN_HBONE);
	assert_int_equal(strict_drops(pod, 0), 0);
	assert_int_equal(deny_drops(pod, "10.9.0.1", 32), 0);
}

/* A new flow from outside to the proxy's own ports would only be handed back to the proxy. */
static void test_pod_proxy_ports_dropped(void **state)
{
	struct pkt_spec s = tcp_flow("10.9.0.1", INPOD_IP);
	uint32_t pod = harness_ip4(INPOD_IP);

	s.dport = AMBIT_PORT_OUTBOUND;
	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_PROXY_PORT);
	s.dport = AMBIT_PORT_INBOUND;
	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_PROXY_PORT);
	/* With the listener there, still not assigned; their neighbours are ordinary ports. */
	inpod_publish(INPOD_IP, fx.pod_lfd);
	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_PROXY_PORT);
	s.dport = AMBIT_PORT_OUTBOUND;
	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_PROXY_PORT);
	s.dport = AMBIT_PORT_OUTBOUND - 1;
	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	s.dport = AMBIT_PORT_INBOUND + 1;
	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	/* Decided before policy: silently dropped, no reset, policy counters untouched. */
	assert_int_equal(datapath_set_deny_src(fx.dp, pod, harness_ip4("10.9.0.1"), 32), 0);
	s.dport = AMBIT_PORT_INBOUND;
	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_PROXY_PORT);
	assert_int_equal(deny_drops(pod, "10.9.0.1", 32), 0);
}

/* The fast drops refuse a new flow as on the node: a reset to a SYN, nothing else. */
static void test_pod_refused_syn_answered_with_reset(void **state)
{
	struct pkt_spec s = tcp_flow("10.9.3.4", INPOD_IP);
	uint32_t pod = harness_ip4(INPOD_IP);
	uint8_t buf[256];
	size_t len;

	/* The listener is there: without policy these SYNs would be assigned to it. */
	inpod_publish(INPOD_IP, fx.pod_lfd);
	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);

	assert_int_equal(datapath_set_strict_port(fx.dp, pod, 0, AMBIT_PLAINTEXT_DROP), 0);
	len = syn_build(buf, sizeof(buf), 5, "10.9.3.4", INPOD_IP, 0, false);
	expect_reset(fx.pod_prog_fd, buf, len, POD_ETH0_IFINDEX, 0, false,
		     AMBIT_DROP_STRICT_PLAINTEXT);
	len = syn_build(buf, sizeof(buf), 5, "10.9.3.4", INPOD_IP, 100, true);
	expect_reset(fx.pod_prog_fd, buf, len, POD_ETH0_IFINDEX, 100, true,
		     AMBIT_DROP_STRICT_PLAINTEXT);
	assert_int_equal(strict_drops(pod, 0), 2);
	/* A PERMISSIVE port under the STRICT pod goes on to the listener. */
	assert_int_equal(datapath_set_strict_port(fx.dp, pod, 80, AMBIT_PLAINTEXT_ALLOW), 0);
	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	assert_int_equal(datapath_del_strict_port(fx.dp, pod, 80), 0);
	assert_int_equal(datapath_del_strict_port(fx.dp, pod, 0), 0);

	/* DENY ipBlocks, IP options on the SYN. */
	assert_int_equal(datapath_set_deny_src(fx.dp, pod, harness_ip4("10.9.0.0"), 16), 0);
	len = syn_build(buf, sizeof(buf), 8, "10.9.3.4", INPOD_IP, 7, false);
	expect_reset(fx.pod_prog_fd, buf, len, POD_ETH0_IFINDEX, 7, false, AMBIT_DROP_DENY_SOURCE);
	assert_int_equal(deny_drops(pod, "10.9.0.0", 16), 1);
	/* A SYN that also carries RST is refused and counted, never answered. */
	len = syn_build(buf, sizeof(buf), 5, "10.9.3.4", INPOD_IP, 0, false);
	buf[sizeof(struct ethhdr) + sizeof(struct iphdr) + 13] |= TH_RST;
	assert_int_equal(run_prog(fx.pod_prog_fd, buf, len, POD_ETH0_IFINDEX, NULL), TC_ACT_SHOT);
	assert_int_equal(deny_drops(pod, "10.9.0.0", 16), 2);
	/* Just outside the block: to the listener. */
	s.saddr = "10.8.255.255";
	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
}

/*
 * A new plaintext flow takes the listener published under its own destination, and fails closed
 * without one: a listener that closes leaves the map with it.
 */
static void test_pod_listener_by_pod_address(void **state)
{
	struct pkt_spec s = tcp_flow("10.9.0.1", INPOD_IP);

	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* Another pod's listener is not this pod's. */
	inpod_publish(INPOD_NOT_ENROLLED_IP, fx.pod_lfd);
	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	inpod_unpublish(INPOD_NOT_ENROLLED_IP);
	/* The node's proxy_socks are not looked at here. */
	assert_int_equal(proxy_sock_publish(bpf_map__fd(fx.skel->maps.proxy_socks),
					    AMBIT_SOCK_INBOUND, fx.pod_lfd),
			 0);
	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	/* Found and tried (refused outside a tc ingress hook). */
	inpod_publish(INPOD_IP, fx.pod_lfd);
	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	inpod_unpublish(INPOD_IP);
	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
	inpod_publish(INPOD_IP, fx.pod_lfd);
	close(fx.pod_lfd);
	fx.pod_lfd = -1;
	expect_pod_verdict(&s, TC_ACT_SHOT, AMBIT_DROP_NO_PROXY);
}

/* The node program leaves an in-pod pod alone: its pod netns captures it (tc_pod). */
static void test_node_leaves_inpod_alone(void **state)
{
	int socks_fd = bpf_map__fd(fx.skel->maps.proxy_socks);
	struct pkt_spec s = tcp_flow("10.9.0.1", "10.1.0.9");
	uint32_t pod = harness_ip4(INPOD_IP);

	assert_int_equal(proxy_sock_publish(socks_fd, AMBIT_SOCK_INBOUND, fx.pod_lfd), 0);
	assert_int_equal(proxy_sock_publish(socks_fd, AMBIT_SOCK_HBONE, fx.pod_lfd), 0);
	/* A node-captured pod's SYN is taken to the listener. */
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_SHOT, AMBIT_DROP_ASSIGN_FAILED);
	s.daddr = INPOD_IP;
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.saddr = "10.1.0.5"; /* from a pod of this node, through its veth */
	expect_verdict(&s, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	s.saddr = "10.9.0.1";
	s.dport = AMBIT_PORT_HBONE;
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	/* Not judged either: no STRICT refusal, no fragment drop. */
	assert_int_equal(datapath_set_strict_port(fx.dp, pod, 0, AMBIT_PLAINTEXT_DROP), 0);
	s.dport = 80;
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
	assert_int_equal(strict_drops(pod, 0), 0);
	s.frag_off = 0x2000;
	expect_verdict(&s, UPLINK_IFINDEX, TC_ACT_OK, AMBIT_PASS);
}

/* 127.0.0.2 stands for an in-pod pod when tc_pod runs on lo's ingress. */
#define LO_POD_IP "127.0.0.2"

/* A connection to @ip:@port, or -1 when it is not up within @ms. */
static int connect_within(const char *ip, uint16_t port, int ms)
{
	struct sockaddr_in a = harness_sin(ip, port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	socklen_t len = sizeof(int);
	int err = 0;

	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		return fd;
	assert_int_equal(errno, EINPROGRESS);
	if (poll(&p, 1, ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
	    err == 0)
		return fd;
	close(fd);
	return -1;
}

static uint32_t sock_mark(int fd)
{
	uint32_t mark = 0;
	socklen_t len = sizeof(mark);

	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_MARK, &mark, &len), 0);
	return mark;
}

/* Counters moved since @before: exactly @n of @reason, @n2 of @reason2, and no other drop. */
static void expect_moved(const uint64_t *before, enum ambit_reason reason, uint64_t n,
			 enum ambit_reason reason2, uint64_t n2)
{
	uint64_t after[AMBIT_REASON__COUNT];

	assert_int_equal(datapath_read_counters(fx.dp, after), 0);
	assert_int_equal(after[reason] - before[reason], n);
	assert_int_equal(after[reason2] - before[reason2], n2);
	for (unsigned int i = 0; i < AMBIT_REASON__COUNT; i++) {
		if (i != reason && i != reason2 && ambit_reason_is_drop(i) && after[i] != before[i])
			fail_msg("counter %s moved", ambit_reason_name(i));
	}
}

static int pod_hook_teardown(void **state)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = fx.lo_ifindex,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	int err = 0;

	if (fx.lo_ifindex > 0 && bpf_tc_hook_destroy(&hook))
		err = -1;
	fx.lo_ifindex = 0;
	if (fx.hbone_lfd >= 0)
		close(fx.hbone_lfd);
	fx.hbone_lfd = -1;
	datapath_del_workload(fx.dp, harness_ip4(LO_POD_IP));
	return pod_case_teardown(state) || err ? -1 : 0;
}

/*
 * tc_pod on a real ingress hook (lo of the private netns, 127.0.0.2 as the pod): the SYN is
 * assigned to the listener in inpod_socks, the rest of the flow finds its socket by the ordinary
 * look-up, and the accepted socket has the original destination as its local address. The pod
 * netns runs tcp_fwmark_accept (userspace/agent/inpod.h), so the accepted socket carries the
 * SYN's mark: it must be none, or its answers would follow the fwmark route to lo. HBONE reaches
 * its own listener without assignment.
 */
static void test_pod_assigns_on_real_hook(void **state)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, topts, .prog_fd = fx.pod_prog_fd);
	struct ambit_workload wl = {.flags = INPOD_FLAGS};
	struct sockaddr_in hbone = harness_sin(LO_POD_IP, AMBIT_PORT_HBONE);
	uint64_t before[AMBIT_REASON__COUNT];
	struct sockaddr_in peer, local, client;
	socklen_t alen = sizeof(local);
	int fwfd = open("/proc/sys/net/ipv4/tcp_fwmark_accept", O_WRONLY | O_CLOEXEC);
	int cfd, afd;
	char c = 0;

	assert_true(fwfd >= 0);
	assert_int_equal(write(fwfd, "1", 1), 1);
	close(fwfd);
	fx.hbone_lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fx.hbone_lfd >= 0);
	assert_int_equal(bind(fx.hbone_lfd, (struct sockaddr *)&hbone, sizeof(hbone)), 0);
	assert_int_equal(listen(fx.hbone_lfd, 8), 0);
	assert_int_equal(datapath_set_workload(fx.dp, harness_ip4(LO_POD_IP), &wl), 0);
	inpod_publish(LO_POD_IP, fx.pod_lfd);
	fx.lo_ifindex = (int)if_nametoindex("lo");
	assert_true(fx.lo_ifindex > 0);
	hook.ifindex = fx.lo_ifindex;
	assert_int_equal(bpf_tc_hook_create(&hook), 0);
	assert_int_equal(bpf_tc_attach(&hook, &topts), 0);

	/* Nothing listens on 127.0.0.2:80: only the assignment can take this connection. */
	assert_int_equal(datapath_read_counters(fx.dp, before), 0);
	cfd = connect_within(LO_POD_IP, 80, 2000);
	assert_true(cfd >= 0);
	afd = harness_accept_within(fx.pod_lfd, 2000, &peer);
	assert_true(afd >= 0);
	assert_int_equal(getsockname(afd, (struct sockaddr *)&local, &alen), 0);
	assert_int_equal(local.sin_addr.s_addr, harness_ip4(LO_POD_IP));
	assert_int_equal(ntohs(local.sin_port), 80);
	alen = sizeof(client);
	assert_int_equal(getsockname(cfd, (struct sockaddr *)&client, &alen), 0);
	assert_int_equal(peer.sin_addr.s_addr, client.sin_addr.s_addr);
	assert_int_equal(peer.sin_port, client.sin_port);
	assert_int_equal(sock_mark(afd), 0);
	/* The handshake's last ACK and the data went to the flow's own socket. */
	assert_int_equal(write(cfd, "x", 1), 1);
	assert_int_equal(read(afd, &c, 1), 1);
	assert_int_equal(c, 'x');
	expect_moved(before, AMBIT_ASSIGN_INBOUND, 1, AMBIT_ASSIGN_HBONE, 0);
	close(afd);
	close(cfd);

	/* HBONE: the listener on 15008 by the ordinary look-up, not the 15006 one. */
	assert_int_equal(datapath_read_counters(fx.dp, before), 0);
	cfd = connect_within(LO_POD_IP, AMBIT_PORT_HBONE, 2000);
	assert_true(cfd >= 0);
	afd = harness_accept_within(fx.hbone_lfd, 2000, &peer);
	assert_true(afd >= 0);
	assert_int_equal(harness_accept_within(fx.pod_lfd, 0, &peer), -1);
	expect_moved(before, AMBIT_ASSIGN_HBONE, 1, AMBIT_ASSIGN_INBOUND, 0);
	close(afd);
	close(cfd);

	/* Without the listener the SYN is dropped: the connect does not complete. */
	inpod_unpublish(LO_POD_IP);
	assert_int_equal(datapath_read_counters(fx.dp, before), 0);
	assert_int_equal(connect_within(LO_POD_IP, 80, 300), -1);
	expect_moved(before, AMBIT_DROP_NO_PROXY, 1, AMBIT_ASSIGN_INBOUND, 0);
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
	assert_string_equal(ambit_reason_name(AMBIT_REASON__COUNT), "unknown");
	assert_int_equal(datapath_map_fd(fx.dp, "nonexistent"), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_non_ipv4_passes),
	    cmocka_unit_test(test_truncated_dropped),
	    cmocka_unit_test(test_ip_options),
	    cmocka_unit_test(test_spoofed_source_dropped),
	    cmocka_unit_test(test_legit_source_passes),
	    cmocka_unit_test(test_enrolled_without_proxy_fails_closed),
	    cmocka_unit_test(test_not_captured_passes),
	    cmocka_unit_test(test_fragments),
	    cmocka_unit_test(test_listener_slot_selected),
	    cmocka_unit_test(test_established_socket_wins),
	    cmocka_unit_test(test_strict_plaintext_dropped),
	    cmocka_unit_test(test_deny_source_dropped),
	    cmocka_unit_test(test_refused_syn_answered_with_reset),
	    cmocka_unit_test(test_established_flow_not_fast_dropped),
	    pod_case(test_pod_non_tcp_passes),
	    pod_case(test_pod_fragments_dropped),
	    pod_case(test_pod_other_destinations_pass),
	    pod_case(test_pod_non_syn_passes),
	    pod_case(test_pod_hbone_not_assigned),
	    pod_case(test_pod_proxy_ports_dropped),
	    pod_case(test_pod_refused_syn_answered_with_reset),
	    pod_case(test_pod_listener_by_pod_address),
	    pod_case(test_node_leaves_inpod_alone),
	    cmocka_unit_test_setup_teardown(test_pod_assigns_on_real_hook, pod_case_setup,
					    pod_hook_teardown),
	    cmocka_unit_test(test_reason_names),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_steer: needs root (BPF, netns), skipping\n");
		return 77;
	}
	log_init("test_steer", LOG_LEVEL_INFO);
	log_libbpf_setup();
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
