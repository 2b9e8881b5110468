/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tc programs of bpf/steer.bpf.c loaded for the BPF tests (tests/bpf/test_steer*.c): the
 * skeleton in a private netns with its maps pinned in a private bpffs directory, a node's
 * workloads (below), hand-built packets run with BPF_PROG_TEST_RUN, and each verdict checked
 * together with the one counter it must move, read through datapath_read_counters. The helpers
 * fail the running test (cmocka assertions) instead of returning errors: test code only.
 */
#ifndef AMBIT_TESTS_STEER_FIXTURE_H
#define AMBIT_TESTS_STEER_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/pkt_cls.h>
#include <netinet/tcp.h>

#include "ambit/datapath.h"
#include "ambit/reasons.h"

/*
 * The ifindexes packets are run "from": a pod veth (its pod is 10.1.0.5), the uplink, and eth0
 * inside an in-pod pod's netns, where tc_pod and tc_pod_egress run.
 */
#define POD_IFINDEX 7
#define UPLINK_IFINDEX 2
#define POD_ETH0_IFINDEX 3
/* The veth of the enrolled local pod 10.1.0.9. */
#define ENROLLED_POD_IFINDEX 8
/* The node's address: where the capture sends DNS (the DNS fast path's dns_proxy_ip). */
#define NODE_IP "192.168.50.2"
/* Its IPv6, where the capture sends a pod's DNS over IPv6 (dns_proxy_ip6). */
#define NODE_IP6 "fd00:50::2"

/* In-pod workloads: captured in the pod's netns; the partial ones are not captured there. */
#define INPOD_IP "10.1.0.20"
#define INPOD_FLAGS (AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL | AMBIT_WL_INPOD)
#define INPOD_NOT_ENROLLED_IP "10.1.0.21"
#define INPOD_REMOTE_IP "10.1.0.22"

struct steer_bpf;

/*
 * The one fixture of a test binary, filled by steer_fixture_setup. Workloads: 10.1.0.5 local on
 * POD_IFINDEX (its iface), 10.1.0.9 enrolled and local on ENROLLED_POD_IFINDEX (its iface),
 * 10.2.0.9 enrolled on another node, and the three in-pod ones above.
 */
struct steer_fixture {
	char pin_root[64];
	struct steer_bpf *skel;
	struct datapath *dp;
	int prog_fd;		 /* tc_ingress */
	int pod_prog_fd;	 /* tc_pod */
	int pod_egress_prog_fd;	 /* tc_pod_egress */
	int pod_lo_prog_fd;	 /* tc_pod_lo */
	int veth_egress_prog_fd; /* tc_veth_egress */
};

extern struct steer_fixture steer_fx;

/*
 * Moves the process into a new netns (lo up), loads the skeleton with its maps pinned under
 * /sys/fs/bpf/ambit-test-@tag-<pid>, pins the in-pod programs there as the agent's loader does
 * (so datapath_attach_tc_pod finds them) and adds the workloads. 0, or -1 with errno set; what
 * was done is undone by steer_fixture_teardown either way.
 */
int steer_fixture_setup(const char *tag);
/* Closes everything and removes the pins. 0, or -1 when the pins could not be removed. */
int steer_fixture_teardown(void);
/*
 * A group setup that failed half-way, told on stderr under @test's name and torn down here:
 * cmocka skips the group teardown when the setup fails. -1, for the setup to return.
 */
int steer_fixture_setup_failed(const char *test);
/* The group teardown of a test binary over the fixture: steer_fixture_teardown. */
int steer_fixture_group_teardown(void **state);
/*
 * Adds the IPv6 workload @ip6 with AMBIT_WL_* @flags to workloads6 and, when @ifindex is not 0,
 * as the only IPv6 source of that pod veth (pod_ifaces6). 0, or -1 with errno set.
 */
int steer_fixture_add_pod6(const char *ip6, uint32_t flags, int ifindex);

struct steer_pkt {
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
struct steer_pkt steer_fixture_flow(const char *saddr, const char *daddr);

/*
 * Builds Ethernet (both MACs set) + IPv4 (+ options) + TCP (or 8 bytes of UDP) of @s into @buf
 * (@cap bytes); returns its length.
 */
size_t steer_fixture_build(uint8_t *buf, size_t cap, const struct steer_pkt *s);

/*
 * IPv6 addresses of the node's pods, which the fixture puts in no map (pods the mesh does not
 * know by IPv6; test_steer6.c adds the entries): steer_fixture_net6 routes each to its pod's
 * iface, as a CNI routes a pod.
 */
#define POD6_PLAIN "fd00:1::5"	  /* 10.1.0.5's, behind POD_IFINDEX */
#define POD6_ENROLLED "fd00:1::9" /* 10.1.0.9's, behind ENROLLED_POD_IFINDEX */
#define OUTSIDE6 "fd00:3::1"	  /* routed out of the uplink */

/*
 * An IPv6 packet: Ethernet, the fixed header, an optional 8-byte extension header, then 20 bytes
 * of TCP (a SYN), 8 of UDP, or 24 of ICMPv6 (@icmp_type, a neighbour solicitation's length).
 */
struct steer_pkt6 {
	uint8_t version;   /* 0 = 6 */
	uint8_t nexthdr;   /* of the last header: IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6 */
	uint8_t ext;	   /* 0, or an extension header before it: IPPROTO_HOPOPTS is 0, so +1 */
	uint8_t icmp_type; /* ICMPv6 only */
	const char *saddr, *daddr;
	size_t truncate; /* bytes kept from the start, 0 = whole packet */
};

/* Extension headers for steer_pkt6.ext: its Next Header value plus one. */
#define STEER_EXT_HOPOPTS (0 + 1)
#define STEER_EXT_FRAGMENT (44 + 1)

/* Builds @s into @buf (@cap bytes); its length. */
size_t steer_fixture_build6(uint8_t *buf, size_t cap, const struct steer_pkt6 *s);
/* steer_fixture_expect_raw for @s. */
void steer_fixture_expect6(int prog_fd, const struct steer_pkt6 *s, uint32_t ifindex, int action,
			   enum ambit_reason reason);

/*
 * Makes the fixture's ifindexes real for bpf_fib_lookup: veths at UPLINK_IFINDEX,
 * POD_IFINDEX and ENROLLED_POD_IFINDEX in the fixture's netns, IPv6 forwarding on, POD6_PLAIN and
 * POD6_ENROLLED routed (/128) to their pods' ifaces and OUTSIDE6's /64 to the uplink. Once per
 * process; they go with the netns.
 */
void steer_fixture_net6(void);

/* What a run gave back: the packet as the program left it, and the skb's mark. */
struct steer_out {
	uint8_t data[640]; /* the largest: a DNS answer of AMBIT_DNS_AMAX bytes over IPv6 */
	uint32_t len;
	uint32_t mark;
};

/* Runs @pkt (@len bytes) through @prog_fd from @ifindex; its return value. @out may be NULL. */
int steer_fixture_run(int prog_fd, const void *pkt, size_t len, uint32_t ifindex,
		      struct steer_out *out);
/* The same with the skb's mark @mark on the way in. */
int steer_fixture_run_mark(int prog_fd, const void *pkt, size_t len, uint32_t ifindex,
			   uint32_t mark, struct steer_out *out);

/*
 * Runs @s through @prog_fd and checks the action and that exactly counter @reason moved, by one
 * (AMBIT_REASON__COUNT: that none did). @out as for steer_fixture_run.
 */
void steer_fixture_expect_prog(int prog_fd, const struct steer_pkt *s, uint32_t ifindex, int action,
			       enum ambit_reason reason, struct steer_out *out);
/* The same with packet @pkt of @len bytes as given. */
void steer_fixture_expect_raw(int prog_fd, const uint8_t *pkt, size_t len, uint32_t ifindex,
			      int action, enum ambit_reason reason, struct steer_out *out);
/* The same with the skb's mark @mark on the way in. */
void steer_fixture_expect_marked(int prog_fd, const uint8_t *pkt, size_t len, uint32_t ifindex,
				 uint32_t mark, int action, enum ambit_reason reason,
				 struct steer_out *out);
/* The same for the node program (tc_ingress) and the in-pod one (tc_pod, on POD_ETH0_IFINDEX). */
void steer_fixture_expect(const struct steer_pkt *s, uint32_t ifindex, int action,
			  enum ambit_reason reason);
void steer_fixture_expect_pod(const struct steer_pkt *s, int action, enum ambit_reason reason);

/*
 * A SYN as a client stack sends it, with what a reset must not echo: IP options (@ihl words),
 * TCP options (MSS, SACK-permitted, timestamps, window scale), a TFO-style @payload and @fin.
 * Its length.
 */
size_t steer_fixture_syn(uint8_t *buf, size_t cap, uint8_t ihl, const char *saddr,
			 const char *daddr, size_t payload, bool fin);

/*
 * Runs @syn (of @len) from @ifindex through @prog_fd and checks that the program answered with
 * exactly the reset a closed port would send (RFC 9293 §3.10.7.1; Linux's tcp_v4_send_reset):
 * addresses and ports swapped, RST|ACK, seq 0, ack = seq + SYN + FIN + payload, no options or
 * payload, both checksums right. Counter @reason moves by one, no other. @syn may be any
 * segment without RST: one with an ACK gets RST alone, its seq the segment's ack.
 */
void steer_fixture_expect_reset(int prog_fd, const uint8_t *syn, size_t len, uint32_t ifindex,
				size_t payload, bool fin, enum ambit_reason reason);

/*
 * RFC 1071 sum of @len bytes at @p (an odd last byte padded with zero), plus @sum; 0xffff over a
 * whole header means valid.
 */
uint32_t steer_fixture_csum(uint32_t sum, const void *p, size_t len);

/* The drop counts of a strict_ports entry (@port host order) and of a deny_src one. */
uint64_t steer_fixture_strict_drops(uint32_t ip, uint16_t port);
/*
 * Sets (@on) or deletes the excl_ports entry of the pod on ENROLLED_POD_IFINDEX (10.1.0.9, and
 * INPOD_IP, whose entry names the same veth): @port (host order), @proto, @dir (AMBIT_EXCL_*).
 */
void steer_fixture_excl(uint16_t port, uint8_t proto, uint8_t dir, bool on);
uint64_t steer_fixture_deny_drops(uint32_t dst, const char *src, unsigned int prefix);

/*
 * The cgroup v2 id of this process' cgroup: BPF_PROG_TEST_RUN's skb has a socket of it, as the
 * kubelet's probe has one of the kubelet's (node_cfg).
 */
uint64_t steer_fixture_own_cgroup(void);

/* A TCP listener on 127.0.0.1, on a port the kernel picks (*@port, host order). */
int steer_fixture_listener(uint16_t *port);

/*
 * Sets net.ipv4.tcp_syncookies of the current netns (a per-netns sysctl; 2: every SYN is answered
 * with a cookie, as under a flood). The value it had, for the caller to put back, or -1 with errno
 * set.
 */
int steer_fixture_syncookies(int mode);

/*
 * A TCP segment of the SYN-cookie cases, built whole: Ethernet (as steer_fixture_build), IPv4
 * without options, TCP, both checksums right.
 */
struct steer_seg {
	const char *saddr, *daddr;
	uint16_t sport, dport; /* host order */
	uint32_t seq, ack_seq; /* host order */
	uint8_t flags;	       /* TH_* bits */
	bool timestamp;	       /* NOP, NOP, timestamps: 12 bytes of TCP options */
	size_t payload;	       /* bytes of data after the TCP header */
	size_t pad;	       /* bytes past the IP packet, as Ethernet pads a short frame */
};

/* Builds @g into @buf (@cap bytes); the frame's length. */
size_t steer_fixture_seg(uint8_t *buf, size_t cap, const struct steer_seg *g);

/*
 * Runs @g through @prog_fd from @ifindex as steer_fixture_expect_raw does, and checks that the
 * skb came back unmarked, and unchanged when it passes (TC_ACT_OK).
 */
void steer_fixture_expect_seg(int prog_fd, const struct steer_seg *g, uint32_t ifindex, int action,
			      enum ambit_reason reason);

/*
 * A raw TCP socket of the current netns: it sends whole IPv4 packets (steer_fixture_raw_send) and
 * reads a copy of every TCP segment delivered in the netns (steer_fixture_raw_recv). The caller
 * owns it.
 */
int steer_fixture_raw_socket(void);
/* Sends the IPv4 packet of frame @buf (@len bytes, as steer_fixture_seg built it) from @fd. */
void steer_fixture_raw_send(int fd, const uint8_t *buf, size_t len);
/*
 * Whether a segment @saddr:@sport -> @daddr:@dport with all of TH_* @flags came to raw socket
 * @fd within @ms; its TCP header (without options) into *@th.
 */
bool steer_fixture_raw_recv(int fd, const char *saddr, uint16_t sport, const char *daddr,
			    uint16_t dport, uint8_t flags, int ms, struct tcphdr *th);

/*
 * The SYN-cookie handshake of the client @g->saddr:@g->sport with @g->daddr:@g->dport, whose
 * listener must answer with a cookie (tcp_syncookies 2, set by the caller): a SYN without options
 * is sent from a raw socket, whichever listener receives it (directly, or through a hook that
 * assigns it) answers, and @g becomes the ACK that ends the handshake: pure (ACK only, no options
 * or payload), seq the client's ISN + 1, ack_seq the SYN-ACK's seq + 1. The kernel's cookie holds
 * about two minutes, and bpf_tcp_check_syncookie takes it only with a listener that sent a cookie
 * in that time. The kernel answers the SYN-ACK, which no socket of the client's owns, with a reset
 * (harmless: a cookie listener keeps no state).
 */
void steer_fixture_cookie_handshake(struct steer_seg *g);

/* A DNS query for svc.ns.svc.cluster.local A IN with id @id: its bytes into @q; its length. */
size_t steer_fixture_dns_query(uint8_t *q, uint16_t id);
/*
 * A UDP frame @src:40000 -> @dst:@dport carrying @payload (@plen bytes) into @buf (@cap bytes);
 * its length.
 */
size_t steer_fixture_dns_frame(uint8_t *buf, size_t cap, const char *src, const char *dst,
			       uint16_t dport, const uint8_t *payload, size_t plen);
/* Sets dns_gen[0], the generation dns_answers' entries must carry to count. */
void steer_fixture_dns_gen(uint32_t gen);
/*
 * The DNS fast path answers the query @pkt (@len bytes, from POD_IFINDEX) with @val, which the
 * caller publishes in map @map_fd under @key, only while @val->gen is the current generation:
 * before it is published, and then with dns_gen as it was and at @val->gen - 1, the query goes
 * on to the proxy; at @val->gen it is answered, into @out.
 */
void steer_fixture_expect_dns_gens(int map_fd, const void *key, const struct ambit_dns_answer *val,
				   const uint8_t *pkt, size_t len, struct steer_out *out);

#endif
