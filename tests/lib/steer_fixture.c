// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>

#include "ambit/datapath.h"
#include "harness.h"
#include "steer.skel.h"
#include "steer_fixture.h"

struct steer_fixture steer_fx = {
    .prog_fd = -1, .pod_prog_fd = -1, .pod_egress_prog_fd = -1, .pod_lo_prog_fd = -1};

/* As the agent's loader pins them: datapath_open_pinned picks them up for datapath_attach_tc_pod.
 */
static int pin_prog(struct bpf_program *prog, const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", steer_fx.pin_root, name);
	return bpf_program__pin(prog, path);
}

int steer_fixture_setup(const char *tag)
{
	LIBBPF_OPTS(bpf_object_open_opts, oopts);
	struct ambit_workload wl = {0};

	/* A private netns: socket look-ups and test sockets never see the host's. */
	if (unshare(CLONE_NEWNET))
		return -1;
	harness_link_up_lo();
	if (bpffs_ensure_mounted())
		return -1;
	snprintf(steer_fx.pin_root, sizeof(steer_fx.pin_root), "/sys/fs/bpf/ambit-test-%s-%d", tag,
		 (int)getpid());
	if (mkdir(steer_fx.pin_root, 0700))
		return -1;
	oopts.pin_root_path = steer_fx.pin_root;
	steer_fx.skel = steer_bpf__open_opts(&oopts);
	if (!steer_fx.skel)
		return -1;
	steer_fx.skel->rodata->dns_proxy_ip = harness_ip4(NODE_IP);
	if (inet_pton(AF_INET6, NODE_IP6, (void *)steer_fx.skel->rodata->dns_proxy_ip6) != 1)
		return -1;
	if (steer_bpf__load(steer_fx.skel))
		return -1;
	steer_fx.prog_fd = bpf_program__fd(steer_fx.skel->progs.tc_ingress);
	steer_fx.pod_prog_fd = bpf_program__fd(steer_fx.skel->progs.tc_pod);
	steer_fx.pod_egress_prog_fd = bpf_program__fd(steer_fx.skel->progs.tc_pod_egress);
	steer_fx.pod_lo_prog_fd = bpf_program__fd(steer_fx.skel->progs.tc_pod_lo);
	steer_fx.veth_egress_prog_fd = bpf_program__fd(steer_fx.skel->progs.tc_veth_egress);
	if (pin_prog(steer_fx.skel->progs.tc_pod, "prog_tc_pod") ||
	    pin_prog(steer_fx.skel->progs.tc_pod_egress, "prog_tc_pod_egress") ||
	    pin_prog(steer_fx.skel->progs.tc_pod_lo, "prog_tc_pod_lo"))
		return -1;
	steer_fx.dp = datapath_open_pinned(steer_fx.pin_root);
	if (!steer_fx.dp)
		return -1;

	if (datapath_set_iface(steer_fx.dp, POD_IFINDEX, harness_ip4("10.1.0.5")) ||
	    datapath_set_iface(steer_fx.dp, ENROLLED_POD_IFINDEX, harness_ip4("10.1.0.9")))
		return -1;
	wl.flags = AMBIT_WL_LOCAL;
	wl.ifindex = POD_IFINDEX;
	if (datapath_set_workload(steer_fx.dp, harness_ip4("10.1.0.5"), &wl))
		return -1;
	wl.flags = AMBIT_WL_LOCAL | AMBIT_WL_ENROLLED;
	wl.ifindex = ENROLLED_POD_IFINDEX;
	if (datapath_set_workload(steer_fx.dp, harness_ip4("10.1.0.9"), &wl))
		return -1;
	wl.flags = INPOD_FLAGS;
	if (datapath_set_workload(steer_fx.dp, harness_ip4(INPOD_IP), &wl))
		return -1;
	wl.flags = AMBIT_WL_LOCAL | AMBIT_WL_INPOD;
	if (datapath_set_workload(steer_fx.dp, harness_ip4(INPOD_NOT_ENROLLED_IP), &wl))
		return -1;
	wl.flags = AMBIT_WL_ENROLLED;
	wl.ifindex = 0;
	if (datapath_set_workload(steer_fx.dp, harness_ip4("10.2.0.9"), &wl))
		return -1;
	wl.flags = AMBIT_WL_ENROLLED | AMBIT_WL_INPOD;
	return datapath_set_workload(steer_fx.dp, harness_ip4(INPOD_REMOTE_IP), &wl);
}

int steer_fixture_teardown(void)
{
	datapath_close(steer_fx.dp);
	steer_fx.dp = NULL;
	steer_bpf__destroy(steer_fx.skel);
	steer_fx.skel = NULL;
	steer_fx.prog_fd = steer_fx.pod_prog_fd = steer_fx.pod_egress_prog_fd = -1;
	steer_fx.pod_lo_prog_fd = -1;
	return steer_fx.pin_root[0] && datapath_remove_pins(steer_fx.pin_root) ? -1 : 0;
}

int steer_fixture_setup_failed(const char *test)
{
	fprintf(stderr, "%s: setup failed: %s\n", test, strerror(errno));
	steer_fixture_teardown();
	return -1;
}

int steer_fixture_group_teardown(void **state)
{
	return steer_fixture_teardown();
}

int steer_fixture_add_pod6(const char *ip6, uint32_t flags, int ifindex)
{
	struct ambit_workload wl = {.flags = flags, .ifindex = (uint32_t)ifindex};
	struct in6_addr a;

	if (inet_pton(AF_INET6, ip6, &a) != 1 || datapath_set_workload6(steer_fx.dp, &a, &wl))
		return -1;
	return ifindex ? datapath_set_iface6(steer_fx.dp, ifindex, &a) : 0;
}

struct steer_pkt steer_fixture_flow(const char *saddr, const char *daddr)
{
	return (struct steer_pkt){
	    .protocol = IPPROTO_TCP, .saddr = saddr, .daddr = daddr, .sport = 40000, .dport = 80};
}

/* Headers are filled in aligned locals and copied: at offset 14 they are misaligned in @buf. */
size_t steer_fixture_build(uint8_t *buf, size_t cap, const struct steer_pkt *s)
{
	uint8_t ihl = s->ihl ? s->ihl : 5;
	size_t l3 = sizeof(struct ethhdr);
	size_t l4 = l3 + ihl * 4u;
	size_t len = l4 + (s->protocol == IPPROTO_TCP ? sizeof(struct tcphdr) : 8);
	struct ethhdr eth = {.h_dest = {0x02, 0, 0, 0, 0, 0xd0},
			     .h_source = {0x02, 0, 0, 0, 0, 0x5c},
			     .h_proto = htons(s->eth_proto ? s->eth_proto : ETH_P_IP)};
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

size_t steer_fixture_build6(uint8_t *buf, size_t cap, const struct steer_pkt6 *s)
{
	size_t l3 = sizeof(struct ethhdr), ext = s->ext ? 8 : 0,
	       l4 = l3 + sizeof(struct ip6_hdr) + ext;
	size_t l4_len = s->nexthdr == IPPROTO_TCP   ? sizeof(struct tcphdr)
			: s->nexthdr == IPPROTO_UDP ? 8
						    : 24;
	struct ethhdr eth = {.h_dest = {0x02, 0, 0, 0, 0, 0xd0},
			     .h_source = {0x02, 0, 0, 0, 0, 0x5c},
			     .h_proto = htons(ETH_P_IPV6)};
	struct ip6_hdr ip6 = {.ip6_hlim = 64};

	assert_true(l4 + l4_len <= cap);
	memset(buf, 0, cap);
	ip6.ip6_flow = htonl((uint32_t)(s->version ? s->version : 6) << 28);
	ip6.ip6_plen = htons((uint16_t)(ext + l4_len));
	ip6.ip6_nxt = s->ext ? (uint8_t)(s->ext - 1) : s->nexthdr;
	assert_int_equal(inet_pton(AF_INET6, s->saddr, &ip6.ip6_src), 1);
	assert_int_equal(inet_pton(AF_INET6, s->daddr, &ip6.ip6_dst), 1);
	memcpy(buf, &eth, sizeof(eth));
	memcpy(buf + l3, &ip6, sizeof(ip6));
	if (s->ext == STEER_EXT_HOPOPTS) {
		/* Router Alert (MLD, RFC 2711), then PadN: as an MLD report carries it. */
		const uint8_t hbh[8] = {s->nexthdr, 0, 5, 2, 0, 0, 1, 0};

		memcpy(buf + l3 + sizeof(ip6), hbh, sizeof(hbh));
	} else if (s->ext) {
		/* A first fragment (offset 0, M set), or any header of this shape. */
		const uint8_t frag[8] = {s->nexthdr, 0, 0, 1, 0, 0, 0x12, 0x34};

		memcpy(buf + l3 + sizeof(ip6), frag, sizeof(frag));
	}
	if (s->nexthdr == IPPROTO_TCP) {
		struct tcphdr tcp = {
		    .source = htons(40000), .dest = htons(80), .doff = 5, .syn = 1};

		memcpy(buf + l4, &tcp, sizeof(tcp));
	} else if (s->nexthdr == IPPROTO_UDP) {
		uint16_t udp[4] = {htons(40000), htons(53), htons(8), 0};

		memcpy(buf + l4, udp, sizeof(udp));
	} else {
		buf[l4] = s->icmp_type;
		/* A solicitation's target: the destination will do, nothing checks it. */
		memcpy(buf + l4 + 8, &ip6.ip6_dst, 16);
	}
	return s->truncate ? s->truncate : l4 + l4_len;
}

void steer_fixture_expect6(int prog_fd, const struct steer_pkt6 *s, uint32_t ifindex, int action,
			   enum ambit_reason reason)
{
	uint8_t buf[128];
	size_t len = steer_fixture_build6(buf, sizeof(buf), s);

	steer_fixture_expect_raw(prog_fd, buf, len, ifindex, action, reason, NULL);
}

void steer_fixture_net6(void)
{
	static bool done;

	if (done)
		return;
	assert_int_equal(harness_sh("echo 1 > /proc/sys/net/ipv6/conf/all/forwarding"), 0);
	/*
	 * veths: the kernel here has no dummy driver. A peer is made first, so it is given an
	 * ifindex of its own (100 + its end's), or it could take the one asked for its end.
	 */
	for (int i = 0; i < 3; i++) {
		static const char *const names[] = {"ambit-up", "ambit-pod5", "ambit-pod9"};
		static const int index[] = {UPLINK_IFINDEX, POD_IFINDEX, ENROLLED_POD_IFINDEX};

		assert_int_equal(harness_sh("ip link add name %s index %d type veth peer name %s-p "
					    "index %d",
					    names[i], index[i], names[i], 100 + index[i]),
				 0);
	}
	assert_int_equal(harness_sh("for l in ambit-up ambit-pod5 ambit-pod9; do "
				    "ip link set $l up && ip link set $l-p up || exit 1; done"),
			 0);
	assert_int_equal(harness_sh("ip -6 route add %s/128 dev ambit-pod5 && "
				    "ip -6 route add %s/128 dev ambit-pod9 && "
				    "ip -6 route add fd00:3::/64 dev ambit-up",
				    POD6_PLAIN, POD6_ENROLLED),
			 0);
	done = true;
}

int steer_fixture_run(int prog_fd, const void *pkt, size_t len, uint32_t ifindex,
		      struct steer_out *out)
{
	return steer_fixture_run_mark(prog_fd, pkt, len, ifindex, 0, out);
}

int steer_fixture_run_mark(int prog_fd, const void *pkt, size_t len, uint32_t ifindex,
			   uint32_t mark, struct steer_out *out)
{
	struct __sk_buff ctx = {.ingress_ifindex = ifindex, .mark = mark};
	uint8_t data[sizeof(out->data)];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = (uint32_t)len,
		    .data_out = data, .data_size_out = sizeof(data), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .ctx_out = &ctx, .ctx_size_out = sizeof(ctx),
		    .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(prog_fd, &opts), 0);
	if (out) {
		assert_true(opts.data_size_out <= sizeof(out->data));
		memcpy(out->data, data, opts.data_size_out);
		out->len = opts.data_size_out;
		out->mark = ctx.mark;
	}
	return (int)opts.retval;
}

void steer_fixture_expect_prog(int prog_fd, const struct steer_pkt *s, uint32_t ifindex, int action,
			       enum ambit_reason reason, struct steer_out *out)
{
	uint8_t buf[128];
	size_t len = steer_fixture_build(buf, sizeof(buf), s);

	steer_fixture_expect_raw(prog_fd, buf, len, ifindex, action, reason, out);
}

void steer_fixture_expect_raw(int prog_fd, const uint8_t *pkt, size_t len, uint32_t ifindex,
			      int action, enum ambit_reason reason, struct steer_out *out)
{
	steer_fixture_expect_marked(prog_fd, pkt, len, ifindex, 0, action, reason, out);
}

void steer_fixture_expect_marked(int prog_fd, const uint8_t *pkt, size_t len, uint32_t ifindex,
				 uint32_t mark, int action, enum ambit_reason reason,
				 struct steer_out *out)
{
	uint64_t before[AMBIT_REASON__COUNT], after[AMBIT_REASON__COUNT];
	unsigned int i;

	assert_int_equal(datapath_read_counters(steer_fx.dp, before), 0);
	assert_int_equal(steer_fixture_run_mark(prog_fd, pkt, len, ifindex, mark, out), action);
	assert_int_equal(datapath_read_counters(steer_fx.dp, after), 0);
	for (i = 0; i < AMBIT_REASON__COUNT; i++) {
		if (after[i] - before[i] != (i == reason ? 1u : 0u))
			fail_msg("counter %s moved by %llu, expected %s", ambit_reason_name(i),
				 (unsigned long long)(after[i] - before[i]),
				 reason == AMBIT_REASON__COUNT ? "no counter to move"
							       : ambit_reason_name(reason));
	}
}

void steer_fixture_expect(const struct steer_pkt *s, uint32_t ifindex, int action,
			  enum ambit_reason reason)
{
	steer_fixture_expect_prog(steer_fx.prog_fd, s, ifindex, action, reason, NULL);
}

void steer_fixture_expect_pod(const struct steer_pkt *s, int action, enum ambit_reason reason)
{
	steer_fixture_expect_prog(steer_fx.pod_prog_fd, s, POD_ETH0_IFINDEX, action, reason, NULL);
}

size_t steer_fixture_syn(uint8_t *buf, size_t cap, uint8_t ihl, const char *saddr,
			 const char *daddr, size_t payload, bool fin)
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

uint32_t steer_fixture_csum(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

void steer_fixture_expect_reset(int prog_fd, const uint8_t *syn, size_t len, uint32_t ifindex,
				size_t payload, bool fin, enum ambit_reason reason)
{
	uint64_t before[AMBIT_REASON__COUNT], after[AMBIT_REASON__COUNT];
	struct ethhdr in_eth, eth;
	struct iphdr in_ip, ip;
	struct tcphdr in_tcp, tcp;
	struct steer_out out;
	uint8_t pseudo[12];
	size_t l4 = sizeof(eth) + (syn[sizeof(eth)] & 0xf) * 4u;

	memcpy(&in_eth, syn, sizeof(in_eth));
	memcpy(&in_ip, syn + sizeof(eth), sizeof(in_ip));
	memcpy(&in_tcp, syn + l4, sizeof(in_tcp));
	assert_int_equal(datapath_read_counters(steer_fx.dp, before), 0);
	assert_int_equal(steer_fixture_run(prog_fd, syn, len, ifindex, &out), TC_ACT_REDIRECT);
	assert_int_equal(datapath_read_counters(steer_fx.dp, after), 0);
	for (unsigned int i = 0; i < AMBIT_REASON__COUNT; i++)
		assert_int_equal(after[i] - before[i], i == reason ? 1u : 0u);

	assert_int_equal(out.len, sizeof(eth) + sizeof(ip) + sizeof(tcp));
	memcpy(&eth, out.data, sizeof(eth));
	memcpy(&ip, out.data + sizeof(eth), sizeof(ip));
	memcpy(&tcp, out.data + sizeof(eth) + sizeof(ip), sizeof(tcp));
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
	assert_int_equal(steer_fixture_csum(0, &ip, sizeof(ip)), 0xffff);

	assert_int_equal(tcp.source, in_tcp.dest);
	assert_int_equal(tcp.dest, in_tcp.source);
	if (in_tcp.ack) {
		/* RFC 9293 §3.10.7.1: <SEQ=SEG.ACK><CTL=RST>. */
		assert_int_equal(tcp.seq, in_tcp.ack_seq);
		assert_int_equal(tcp.ack_seq, 0);
		assert_true(tcp.rst);
		assert_false(tcp.ack);
	} else {
		assert_int_equal(ntohl(tcp.seq), 0);
		assert_int_equal(ntohl(tcp.ack_seq), (uint32_t)(ntohl(in_tcp.seq) + in_tcp.syn +
								(fin ? 1 : 0) + payload));
		assert_true(tcp.rst && tcp.ack);
	}
	assert_int_equal(tcp.doff, 5);
	assert_false(tcp.syn || tcp.fin || tcp.psh || tcp.urg);
	assert_int_equal(tcp.window, 0);
	assert_int_equal(tcp.urg_ptr, 0);
	memcpy(pseudo, &ip.saddr, 4);
	memcpy(pseudo + 4, &ip.daddr, 4);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_TCP;
	pseudo[10] = 0;
	pseudo[11] = sizeof(tcp);
	assert_int_equal(
	    steer_fixture_csum(steer_fixture_csum(0, pseudo, sizeof(pseudo)), &tcp, sizeof(tcp)),
	    0xffff);
}

void steer_fixture_excl(uint16_t port, uint8_t proto, uint8_t dir, bool on)
{
	struct ambit_excl_key k = {
	    .id = ENROLLED_POD_IFINDEX, .port = htons(port), .proto = proto, .dir = dir};

	assert_int_equal(
	    on ? datapath_set_excl(steer_fx.dp, &k) : datapath_del_excl(steer_fx.dp, &k), 0);
}

uint64_t steer_fixture_strict_drops(uint32_t ip, uint16_t port)
{
	struct ambit_addr key = {.ip = ip, .port = htons(port)};
	struct ambit_strict_port v;

	assert_int_equal(
	    bpf_map_lookup_elem(bpf_map__fd(steer_fx.skel->maps.strict_ports), &key, &v), 0);
	return v.drops;
}

uint64_t steer_fixture_deny_drops(uint32_t dst, const char *src, unsigned int prefix)
{
	struct ambit_deny_src_key key = {
	    .prefixlen = 32 + prefix, .dst_ip = dst, .src_ip = harness_ip4(src)};
	struct ambit_deny_src v;

	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(steer_fx.skel->maps.deny_src), &key, &v),
			 0);
	return v.drops;
}

int steer_fixture_listener(uint16_t *port)
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

#define SYNCOOKIES_SYSCTL "/proc/sys/net/ipv4/tcp_syncookies"

int steer_fixture_syncookies(int mode)
{
	char buf[16] = "";
	int fd = open(SYNCOOKIES_SYSCTL, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	int old;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		errno = n < 0 ? errno : EIO;
		return -1;
	}
	old = atoi(buf);
	snprintf(buf, sizeof(buf), "%d", mode);
	fd = open(SYNCOOKIES_SYSCTL, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = write(fd, buf, strlen(buf));
	close(fd);
	if (n != (ssize_t)strlen(buf)) {
		errno = n < 0 ? errno : EIO;
		return -1;
	}
	return old;
}

size_t steer_fixture_seg(uint8_t *buf, size_t cap, const struct steer_seg *g)
{
	/* NOP, NOP, timestamps (TSval 12345, TSecr 0): what a Linux client's ACK carries. */
	static const uint8_t ts[12] = {1, 1, 8, 10, 0, 0, 0x30, 0x39, 0, 0, 0, 0};
	size_t opts = g->timestamp ? sizeof(ts) : 0;
	size_t l3 = sizeof(struct ethhdr), l4 = l3 + sizeof(struct iphdr);
	size_t tcp_len = sizeof(struct tcphdr) + opts + g->payload;
	size_t len = l4 + tcp_len;
	struct ethhdr eth = {.h_dest = {0x02, 0, 0, 0, 0, 0xd0},
			     .h_source = {0x02, 0, 0, 0, 0, 0x5c},
			     .h_proto = htons(ETH_P_IP)};
	struct iphdr ip = {.version = 4, .ihl = 5, .ttl = 64, .protocol = IPPROTO_TCP};
	struct tcphdr tcp = {.source = htons(g->sport),
			     .dest = htons(g->dport),
			     .seq = htonl(g->seq),
			     .ack_seq = htonl(g->ack_seq),
			     .doff = (uint16_t)((sizeof(tcp) + opts) / 4),
			     .window = htons(65535)};
	uint8_t pseudo[12];
	uint16_t check;

	assert_true(len + g->pad <= cap);
	memset(buf, 0, len + g->pad);
	tcp.th_flags = g->flags;
	ip.frag_off = htons(IP_DF);
	ip.saddr = harness_ip4(g->saddr);
	ip.daddr = harness_ip4(g->daddr);
	ip.tot_len = htons((uint16_t)(len - l3));
	ip.check = htons((uint16_t)~steer_fixture_csum(0, &ip, sizeof(ip)));
	memcpy(buf, &eth, sizeof(eth));
	memcpy(buf + l3, &ip, sizeof(ip));
	memcpy(buf + l4, &tcp, sizeof(tcp));
	memcpy(buf + l4 + sizeof(tcp), ts, opts);
	memset(buf + l4 + sizeof(tcp) + opts, 'x', g->payload);
	memcpy(pseudo, &ip.saddr, 4);
	memcpy(pseudo + 4, &ip.daddr, 4);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_TCP;
	pseudo[10] = (uint8_t)(tcp_len >> 8);
	pseudo[11] = (uint8_t)tcp_len;
	check = htons((uint16_t)~steer_fixture_csum(steer_fixture_csum(0, pseudo, sizeof(pseudo)),
						    buf + l4, tcp_len));
	memcpy(buf + l4 + offsetof(struct tcphdr, check), &check, sizeof(check));
	return len + g->pad;
}

void steer_fixture_expect_seg(int prog_fd, const struct steer_seg *g, uint32_t ifindex, int action,
			      enum ambit_reason reason)
{
	struct steer_out out;
	uint8_t buf[128];
	size_t len = steer_fixture_seg(buf, sizeof(buf), g);

	steer_fixture_expect_raw(prog_fd, buf, len, ifindex, action, reason, &out);
	assert_int_equal(out.mark, 0);
	if (action == TC_ACT_OK) {
		assert_int_equal(out.len, len);
		assert_memory_equal(out.data, buf, len);
	}
}

int steer_fixture_raw_socket(void)
{
	int one = 1;
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP);

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof(one)), 0);
	return fd;
}

void steer_fixture_raw_send(int fd, const uint8_t *buf, size_t len)
{
	struct sockaddr_in to = {.sin_family = AF_INET};
	struct iphdr ip;
	size_t n;

	assert_true(len >= ETH_HLEN + sizeof(ip));
	memcpy(&ip, buf + ETH_HLEN, sizeof(ip));
	n = ntohs(ip.tot_len);
	assert_true(ETH_HLEN + n <= len);
	to.sin_addr.s_addr = ip.daddr;
	assert_int_equal(sendto(fd, buf + ETH_HLEN, n, 0, (struct sockaddr *)&to, sizeof(to)),
			 (ssize_t)n);
}

/* Milliseconds from now until @end (CLOCK_MONOTONIC), 0 once it passed. */
static int ms_until(const struct timespec *end)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (end->tv_sec - now.tv_sec) * 1000LL + (end->tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? (int)ms : 0;
}

bool steer_fixture_raw_recv(int fd, const char *saddr, uint16_t sport, const char *daddr,
			    uint16_t dport, uint8_t flags, int ms, struct tcphdr *th)
{
	struct timespec end;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += ms / 1000;
	end.tv_nsec += (ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint8_t pkt[2048];
		struct iphdr ip;
		ssize_t n;

		if (poll(&p, 1, ms_until(&end)) != 1)
			return false;
		n = recv(fd, pkt, sizeof(pkt), 0);
		if (n < (ssize_t)sizeof(ip))
			continue;
		memcpy(&ip, pkt, sizeof(ip));
		if (ip.protocol != IPPROTO_TCP || (size_t)n < ip.ihl * 4u + sizeof(*th))
			continue;
		memcpy(th, pkt + ip.ihl * 4u, sizeof(*th));
		if (ip.saddr == harness_ip4(saddr) && ip.daddr == harness_ip4(daddr) &&
		    th->source == htons(sport) && th->dest == htons(dport) &&
		    (th->th_flags & flags) == flags)
			return true;
	}
}

/* The client's ISN in a cookie handshake: any will do, the cookie covers it. */
#define COOKIE_CLIENT_ISN 0x1badcafeu

void steer_fixture_cookie_handshake(struct steer_seg *g)
{
	struct steer_seg syn = {.saddr = g->saddr,
				.daddr = g->daddr,
				.sport = g->sport,
				.dport = g->dport,
				.seq = COOKIE_CLIENT_ISN,
				.flags = TH_SYN};
	int fd = steer_fixture_raw_socket();
	struct tcphdr th;
	uint8_t buf[128];
	bool answered;

	steer_fixture_raw_send(fd, buf, steer_fixture_seg(buf, sizeof(buf), &syn));
	answered = steer_fixture_raw_recv(fd, g->daddr, g->dport, g->saddr, g->sport,
					  TH_SYN | TH_ACK, 2000, &th);
	close(fd);
	if (!answered)
		fail_msg("no SYN-ACK from %s:%u to %s:%u", g->daddr, g->dport, g->saddr, g->sport);
	assert_int_equal(ntohl(th.ack_seq), COOKIE_CLIENT_ISN + 1);
	*g = (struct steer_seg){.saddr = g->saddr,
				.daddr = g->daddr,
				.sport = g->sport,
				.dport = g->dport,
				.seq = COOKIE_CLIENT_ISN + 1,
				.ack_seq = ntohl(th.seq) + 1,
				.flags = TH_ACK};
}

size_t steer_fixture_dns_query(uint8_t *q, uint16_t id)
{
	static const uint8_t name[] = "\3svc\2ns\3svc\7cluster\5local";
	size_t n = 0;

	q[n++] = (uint8_t)(id >> 8);
	q[n++] = (uint8_t)id;
	memcpy(q + n, "\1\0\0\1\0\0\0\0\0\0", 10); /* RD, one question */
	n += 10;
	memcpy(q + n, name, sizeof(name)); /* the root label is the string's NUL */
	n += sizeof(name);
	memcpy(q + n, "\0\1\0\1", 4);
	return n + 4;
}

size_t steer_fixture_dns_frame(uint8_t *buf, size_t cap, const char *src, const char *dst,
			       uint16_t dport, const uint8_t *payload, size_t plen)
{
	struct steer_pkt s = {
	    .protocol = IPPROTO_UDP, .saddr = src, .daddr = dst, .sport = 40000, .dport = dport};
	size_t l4 = ETH_HLEN + 20, len = steer_fixture_build(buf, cap, &s);
	uint16_t v;

	assert_true(len + plen <= cap);
	memcpy(buf + len, payload, plen);
	v = htons((uint16_t)(20 + 8 + plen));
	memcpy(buf + ETH_HLEN + 2, &v, 2);
	v = htons((uint16_t)(8 + plen));
	memcpy(buf + l4 + 4, &v, 2);
	return len + plen;
}

void steer_fixture_dns_gen(uint32_t gen)
{
	uint32_t zero = 0;

	assert_int_equal(
	    bpf_map_update_elem(datapath_map_fd(steer_fx.dp, "dns_gen"), &zero, &gen, BPF_ANY), 0);
}

void steer_fixture_expect_dns_gens(int map_fd, const void *key, const struct ambit_dns_answer *val,
				   const uint8_t *pkt, size_t len, struct steer_out *out)
{
	steer_fixture_expect_raw(steer_fx.prog_fd, pkt, len, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);
	assert_int_equal(bpf_map_update_elem(map_fd, key, val, BPF_ANY), 0);
	steer_fixture_expect_raw(steer_fx.prog_fd, pkt, len, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);
	steer_fixture_dns_gen(val->gen - 1);
	steer_fixture_expect_raw(steer_fx.prog_fd, pkt, len, POD_IFINDEX, TC_ACT_OK, AMBIT_PASS,
				 NULL);
	steer_fixture_dns_gen(val->gen);
	steer_fixture_expect_raw(steer_fx.prog_fd, pkt, len, POD_IFINDEX, TC_ACT_REDIRECT,
				 AMBIT_DNS_ANSWERED, out);
}

uint64_t steer_fixture_own_cgroup(void)
{
	char mnt[256], line[512], path[1024];
	FILE *f = fopen("/proc/self/cgroup", "r");
	uint64_t id = 0;

	assert_non_null(f);
	assert_int_equal(cgroup2_mount(mnt, sizeof(mnt)), 0);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(path, sizeof(path), "%s%s", mnt, line + 3);
		id = cgroup_id_of(path);
	}
	fclose(f);
	assert_true(id != 0);
	return id;
}
