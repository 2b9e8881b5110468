/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Inbound steering at tc ingress (node uplink and host side of pod veths): anti-spoofing, then
 * bpf_sk_assign of packets for enrolled local pods to the ztunnel (KERNEL_NOTES.md, mechanism 2),
 * IPv4 and IPv6 alike (the IPv6 maps of bpf_abi.h; steer_ingress_v6 below).
 */
#ifndef AMBIT_BPF_STEER_H
#define AMBIT_BPF_STEER_H

#include "lib/maps.h"
#include "lib/counters.h"
#include "lib/dnsfast.h"
#include "lib/excl.h"
#include "lib/fastdrop.h"
#include "lib/ndguard.h"
#include "lib/parse.h"
#include "lib/preflow.h"
#include "lib/reset.h"
#include "lib/sentry.h"

static __always_inline int steer_verdict(enum ambit_reason reason, int action)
{
	counter_inc(reason);
	return action;
}

/* A pod veth may only emit its own address; any protocol, since ARP is not IPv4 it is exempt. */
static __always_inline bool steer_spoofed(struct __sk_buff *skb, const struct iphdr *ip,
					  bool *from_pod)
{
	__u32 ifindex = skb->ingress_ifindex;
	struct ambit_iface *iface = bpf_map_lookup_elem(&pod_ifaces, &ifindex);

	bool found = iface != NULL;

	/* Materialize the bool: otherwise clang ORs the map pointers later, which is refused. */
	barrier_var(found);
	*from_pod = found;
	return iface && iface->pod_ip != ip->saddr;
}

/*
 * Assigns @sk (referenced; released by the caller) and marks the skb for the fwmark policy route
 * that delivers foreign destinations locally.
 */
static __always_inline int steer_assign_mark(struct __sk_buff *skb, struct bpf_sock *sk,
					     enum ambit_reason ok_reason, bool mark)
{
	if (bpf_sk_assign(skb, sk, 0) != 0)
		return steer_verdict(AMBIT_DROP_ASSIGN_FAILED, TC_ACT_SHOT);
	if (mark)
		skb->mark = AMBIT_SKB_MARK;
	return steer_verdict(ok_reason, TC_ACT_OK);
}

static __always_inline int steer_assign(struct __sk_buff *skb, struct bpf_sock *sk,
					enum ambit_reason ok_reason)
{
	return steer_assign_mark(skb, sk, ok_reason, true);
}

/*
 * The code below serves both families: @v6 says which parser filled @p, always a constant where
 * a program calls in, so each family's copy keeps only its own branches.
 */

/* @p's addresses and the ports @sport, @dport into @t, for a socket look-up: its length. */
static __always_inline __u32 steer_tuple(const struct pkt *p, bool v6, __be16 sport, __be16 dport,
					 struct bpf_sock_tuple *t)
{
	if (v6) {
		__builtin_memcpy(t->ipv6.saddr, &p->ip6->saddr, sizeof(t->ipv6.saddr));
		__builtin_memcpy(t->ipv6.daddr, &p->ip6->daddr, sizeof(t->ipv6.daddr));
		t->ipv6.sport = sport;
		t->ipv6.dport = dport;
		return sizeof(t->ipv6);
	}
	t->ipv4.saddr = p->ip->saddr;
	t->ipv4.daddr = p->ip->daddr;
	t->ipv4.sport = sport;
	t->ipv4.dport = dport;
	return sizeof(t->ipv4);
}

/* The socket of this netns that owns @p's 4-tuple (referenced), or NULL; never a listener. */
static __always_inline struct bpf_sock *steer_owner(struct __sk_buff *skb, const struct pkt *p,
						    bool v6)
{
	struct bpf_sock_tuple tuple = {};
	__u32 len = steer_tuple(p, v6, p->tcp->source, p->tcp->dest, &tuple);
	struct bpf_sock *sk;

	sk = bpf_skc_lookup_tcp(skb, &tuple, len, BPF_F_CURRENT_NETNS, 0);
	/* Listeners only take new flows, and only the ztunnel's (via proxy_socks) may. */
	if (sk && sk->state == BPF_TCP_LISTEN) {
		bpf_sk_release(sk);
		return NULL;
	}
	return sk;
}

/* @sk (referenced, released here; may be NULL) takes the packet as its flow's: -1 for NULL. */
static __always_inline int steer_to_owner(struct __sk_buff *skb, struct bpf_sock *sk)
{
	int ret;

	if (!sk)
		return -1;
	ret = steer_assign(skb, sk, AMBIT_ASSIGN_ESTABLISHED);
	bpf_sk_release(sk);
	return ret;
}

/*
 * A socket of this netns already owns the 4-tuple (an accepted proxied flow, a request socket
 * mid-handshake, or the ztunnel's own spoofed-source connection): hand the packet to it. Returns
 * -1 when there is no such socket and the caller must continue.
 */
static __always_inline int steer_established(struct __sk_buff *skb, const struct pkt *p, bool v6)
{
	return steer_to_owner(skb, steer_owner(skb, p, v6));
}

/*
 * A pod's UDP that answers one of the ztunnel's flows into it (ztunnel/udp.h): the socket of
 * this netns connected to exactly the packet's source and bound to its destination (the client's
 * address, with IP_TRANSPARENT), referenced; or NULL. A socket only bound to the port, not
 * connected back to the sender, must not take a pod's datagrams meant for another host. The
 * first piece of a fragmented datagram is looked up as a whole one; the later pieces carry no
 * ports and go on unmatched (docs/udp.md).
 */
static __always_inline struct bpf_sock *steer_udp_owner(struct __sk_buff *skb, const struct pkt *p,
							bool v6)
{
	struct bpf_sock_tuple tuple = {};
	struct bpf_sock *sk;
	struct udphdr udp;
	__u32 len;

	if (p->proto != IPPROTO_UDP || p->tail ||
	    bpf_skb_load_bytes(skb, sizeof(struct ethhdr) + p->l3_len, &udp, sizeof(udp)))
		return NULL;
	len = steer_tuple(p, v6, udp.source, udp.dest, &tuple);
	sk = bpf_sk_lookup_udp(skb, &tuple, len, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return NULL;
	if (sk->dst_port != udp.source ||
	    (v6 ? sk->dst_ip6[0] != tuple.ipv6.saddr[0] || sk->dst_ip6[1] != tuple.ipv6.saddr[1] ||
		      sk->dst_ip6[2] != tuple.ipv6.saddr[2] || sk->dst_ip6[3] != tuple.ipv6.saddr[3]
		: sk->dst_ip4 != tuple.ipv4.saddr)) {
		bpf_sk_release(sk);
		return NULL;
	}
	return sk;
}

/* A pod's answer to a ztunnel UDP flow: to its socket (steer_udp_owner), or -1 to go on. */
static __always_inline int steer_udp_return(struct __sk_buff *skb, const struct pkt *p, bool v6)
{
	return steer_to_owner(skb, steer_udp_owner(skb, p, v6));
}

/* @p's source (@src) or destination workload, of its family (@v6: a constant at each call). */
static __always_inline struct ambit_workload *steer_pkt_wl(const struct pkt *p, bool v6, bool src)
{
	if (v6)
		return bpf_map_lookup_elem(&workloads6, src ? &p->ip6->saddr : &p->ip6->daddr);
	return bpf_map_lookup_elem(&workloads, src ? &p->ip->saddr : &p->ip->daddr);
}

/* @p's UDP header into @udp: 0, or -1 when cut short. */
static __always_inline int steer_udp_hdr(struct __sk_buff *skb, const struct pkt *p,
					 struct udphdr *udp)
{
	return bpf_skb_load_bytes(skb, sizeof(struct ethhdr) + p->l3_len, udp, sizeof(*udp)) ? -1
											     : 0;
}

static __always_inline bool steer_node_ip6_set(void)
{
	return dns_proxy_ip6[0] | dns_proxy_ip6[1] | dns_proxy_ip6[2] | dns_proxy_ip6[3];
}

/* udp_frags at @p's datagram (a fragment), for steer_udp_frag_note and steer_udp_frag_of. */
static __always_inline struct ambit_frag_key steer_frag_key(const struct pkt *p, bool v6)
{
	struct ambit_frag_key k = {.id = p->frag_id};

	if (v6) {
		__builtin_memcpy(k.saddr, &p->ip6->saddr, sizeof(k.saddr));
		__builtin_memcpy(k.daddr, &p->ip6->daddr, sizeof(k.daddr));
	} else {
		k.saddr[0] = p->ip->saddr;
		k.daddr[0] = p->ip->daddr;
	}
	return k;
}

/*
 * Writes @p's datagram (a fragment) down in udp_frags as @what: AMBIT_FRAG_FOLLOW when its first
 * piece went to a socket of the ztunnel's, AMBIT_FRAG_DROP when it was dropped (in-pod), for
 * its later pieces to do the same (steer_udp_frag_of).
 */
static __always_inline void steer_udp_frag_note(const struct pkt *p, bool v6, __u32 what)
{
	struct ambit_frag_key k = steer_frag_key(p, v6);

	bpf_map_update_elem(&udp_frags, &k, &what, BPF_ANY);
}

/* What udp_frags says of @p's datagram: AMBIT_FRAG_FOLLOW, AMBIT_FRAG_DROP, or 0 (nothing). */
static __always_inline __u32 steer_udp_frag_of(const struct pkt *p, bool v6)
{
	struct ambit_frag_key k = steer_frag_key(p, v6);
	__u32 *v = bpf_map_lookup_elem(&udp_frags, &k);

	return v ? *v : 0;
}

/* @p, the first piece of a new flow's first datagram (@udp's ports): udp_pending, as it goes. */
static __always_inline void steer_udp_pending(const struct pkt *p, bool v6,
					      const struct udphdr *udp)
{
	struct ambit_flow6 f6 = {.sport = udp->source, .dport = udp->dest};
	struct ambit_flow f = {.sport = udp->source, .dport = udp->dest};
	__u32 one = 1;

	if (v6) {
		__builtin_memcpy(f6.saddr, &p->ip6->saddr, sizeof(f6.saddr));
		__builtin_memcpy(f6.daddr, &p->ip6->daddr, sizeof(f6.daddr));
		bpf_map_update_elem(&udp_pending6, &f6, &one, BPF_ANY);
		return;
	}
	f.saddr = p->ip->saddr;
	f.daddr = p->ip->daddr;
	bpf_map_update_elem(&udp_pending, &f, &one, BPF_ANY);
}

/*
 * udp_replies (udp_replies6) at @p's flow, @udp's ports: keyed as it goes, or as its answer
 * comes back (@rev); written (@write) or looked up. Whether the entry is there (or was written).
 */
static __always_inline bool steer_udp_replies(const struct pkt *p, bool v6,
					      const struct udphdr *udp, bool rev, bool write)
{
	void *map = v6 ? (void *)&udp_replies6 : (void *)&udp_replies;
	struct ambit_flow6 f6 = {};
	struct ambit_flow f = {};
	void *key = v6 ? (void *)&f6 : (void *)&f;
	__u32 one = 1;

	if (v6) {
		__builtin_memcpy(f6.saddr, rev ? &p->ip6->daddr : &p->ip6->saddr, sizeof(f6.saddr));
		__builtin_memcpy(f6.daddr, rev ? &p->ip6->saddr : &p->ip6->daddr, sizeof(f6.daddr));
		f6.sport = rev ? udp->dest : udp->source;
		f6.dport = rev ? udp->source : udp->dest;
	} else {
		f.saddr = rev ? p->ip->daddr : p->ip->saddr;
		f.daddr = rev ? p->ip->saddr : p->ip->daddr;
		f.sport = rev ? udp->dest : udp->source;
		f.dport = rev ? udp->source : udp->dest;
	}
	if (write)
		return bpf_map_update_elem(map, key, &one, BPF_ANY) == 0;
	return bpf_map_lookup_elem(map, key) != NULL;
}

/*
 * A new UDP flow's datagram to the ztunnel's 15001/udp listener that @tuple (@len bytes) finds:
 * assigned to it, else dropped, counted either way. A connected socket is no listener; with
 * @marked, neither is one without AMBIT_PROXY_MARK (in a pod's netns, a socket of the pod's own).
 */
static __always_inline int
steer_udp_to_listener(struct __sk_buff *skb, struct bpf_sock_tuple *tuple, __u32 len, bool marked)
{
	struct bpf_sock *sk = bpf_sk_lookup_udp(skb, tuple, len, BPF_F_CURRENT_NETNS, 0);
	int ret;

	if (sk && (sk->dst_port || (marked && sk->mark != AMBIT_PROXY_MARK))) {
		bpf_sk_release(sk);
		sk = NULL;
	}
	if (!sk)
		return steer_verdict(AMBIT_DROP_NO_UDP_PROXY, TC_ACT_SHOT);
	ret = steer_assign(skb, sk, AMBIT_ASSIGN_UDP_OUTBOUND);
	bpf_sk_release(sk);
	return ret;
}

/*
 * UDP capture (ztunnel/udp.h): an enrolled pod of this node (captured on the node, not in-pod)
 * sending to an enrolled workload goes to the ztunnel, DNS excepted (its proxy has it, by the
 * cgroup hooks), over either family; so does what it sends to a ServiceEntry's UDP port at the
 * entry's address (lib/sentry.h), port 53 included. A datagram of a flow the ztunnel holds was
 * already handed to that flow's socket by steer_udp_return; a new flow's goes to the ztunnel's UDP
 * listener on the node's 15001/udp (its IPv4, or its IPv6 for IPv6), found by a lookup of that
 * address (it is bound to every address, not connected), which reads the pod's destination with
 * IP(V6)_RECVORIGDSTADDR. The later pieces of a fragmented datagram carry no ports: those whose
 * first piece went to the ztunnel (udp_frags) are only marked, so the node reassembles the
 * datagram for the flow's socket; the others go on as they came. -1: not captured, go on
 * (*@excluded set when the pod leaves the port out of capture, lib/excl.h).
 */
static __always_inline int steer_udp_capture(struct __sk_buff *skb, const struct pkt *p, bool v6,
					     bool *excluded)
{
	struct bpf_sock_tuple tuple = {};
	struct ambit_workload *src, *dst;
	struct udphdr udp;
	bool mesh;
	__u32 len;
	int ret;

	src = steer_pkt_wl(p, v6, true);
	if (!src || (src->flags & (AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL | AMBIT_WL_INPOD)) !=
			(AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL))
		return -1;
	if (v6 ? !steer_node_ip6_set() : !dns_proxy_ip)
		return -1;
	dst = steer_pkt_wl(p, v6, false);
	mesh = dst && (dst->flags & AMBIT_WL_ENROLLED);
	/* A later piece follows its first (udp_frags), or goes on as it came. */
	if (p->tail) {
		if (!steer_udp_frag_of(p, v6))
			return -1;
		skb->mark = AMBIT_SKB_MARK;
		return steer_verdict(AMBIT_ASSIGN_ESTABLISHED, TC_ACT_OK);
	}
	if (steer_udp_hdr(skb, p, &udp))
		return mesh ? steer_verdict(AMBIT_DROP_MALFORMED, TC_ACT_SHOT) : -1;
	if (!mesh &&
	    !(v6 ? sentry_udp6(&p->ip6->daddr, udp.dest) : sentry_udp(p->ip->daddr, udp.dest)))
		return -1;
	/* DNS is the proxy's; an answer to plaintext the pod took goes back as it came. */
	if ((mesh && udp.dest == bpf_htons(53)) || steer_udp_replies(p, v6, &udp, false, false))
		return -1;
	if (excl_wl_port(src, udp.dest, IPPROTO_UDP, AMBIT_EXCL_OUT_IFACE, false)) {
		*excluded = true;
		return -1;
	}
	len = steer_tuple(p, v6, udp.source, bpf_htons(AMBIT_PORT_OUTBOUND), &tuple);
	if (v6)
		__builtin_memcpy(tuple.ipv6.daddr, (const void *)dns_proxy_ip6,
				 sizeof(tuple.ipv6.daddr));
	else
		tuple.ipv4.daddr = dns_proxy_ip;
	ret = steer_udp_to_listener(skb, &tuple, len, false);
	/* A first piece: the whole datagram reaches the listener by sk_lookup_udp instead. */
	if (ret == TC_ACT_OK && p->fragment)
		steer_udp_pending(p, v6, &udp);
	return ret;
}

/*
 * An enrolled pod's UDP that no rule above took (to a destination outside the mesh, DNS): its
 * answer, keyed as it will come (udp_replies, udp_replies6), so steer_udp_plaintext lets it by a
 * STRICT port (conntrack's "reply" direction). Not for fragments' later pieces: no ports.
 */
static __always_inline void steer_udp_note(struct __sk_buff *skb, const struct pkt *p, bool v6)
{
	struct ambit_workload *src = steer_pkt_wl(p, v6, true);
	struct udphdr udp;

	if (!src || !(src->flags & AMBIT_WL_ENROLLED) || p->tail || steer_udp_hdr(skb, p, &udp))
		return;
	steer_udp_replies(p, v6, &udp, true, true);
}

/*
 * Plaintext UDP to an enrolled pod of this node (captured on the node; or with @inpod, captured
 * in-pod, at its own eth0, where the mesh's UDP never comes either), of either family: what
 * PeerAuthentication STRICT or a DENY ipBlocks policy refuses is dropped here, counted by why,
 * as for TCP's first segment (lib/fastdrop.h); an answer to the pod's own UDP past the mesh
 * (udp_replies) is not new traffic and passes, as does a port the pod leaves out of capture
 * (*@excluded set). The mesh's own UDP never comes here: it reaches the pod from the ztunnel's
 * sockets. -1: go on.
 */
static __always_inline int steer_udp_plaintext(struct __sk_buff *skb, const struct pkt *p, bool v6,
					       bool inpod, bool *excluded)
{
	struct ambit_workload *dst = steer_pkt_wl(p, v6, false), *src;
	const __u32 all = AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL | AMBIT_WL_INPOD;
	struct udphdr udp;

	if (!dst || (dst->flags & all) != (inpod ? all : AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL))
		return -1;
	/* A later piece of a datagram: without its first, which is judged, it is nothing. */
	if (p->tail)
		return -1;
	if (steer_udp_hdr(skb, p, &udp))
		return steer_verdict(AMBIT_DROP_MALFORMED, TC_ACT_SHOT);
	if (steer_udp_replies(p, v6, &udp, false, false))
		return -1;
	/* A port the pod leaves out of capture: the mesh's policy is not asked (lib/excl.h). */
	*excluded = excl_wl_port(dst, udp.dest, IPPROTO_UDP, AMBIT_EXCL_IN_IFACE, inpod);
	if (!*excluded) {
		if (v6 ? fastdrop_denied_source6(&p->ip6->saddr, &p->ip6->daddr)
		       : fastdrop_denied_source(p->ip->saddr, p->ip->daddr))
			return steer_verdict(AMBIT_DROP_DENY_SOURCE, TC_ACT_SHOT);
		if (v6 ? fastdrop_strict6(&p->ip6->daddr, udp.dest)
		       : fastdrop_strict(p->ip->daddr, udp.dest))
			return steer_verdict(AMBIT_DROP_STRICT_PLAINTEXT, TC_ACT_SHOT);
	}
	/*
	 * Taken in plaintext from an enrolled workload (one that leaves this port out of
	 * capture): the pod's answer goes back as the datagram came, not into the mesh as a flow
	 * of the pod's own (steer_udp_capture), which the sender's policy might refuse.
	 */
	src = steer_pkt_wl(p, v6, true);
	if (src && (src->flags & AMBIT_WL_ENROLLED))
		steer_udp_replies(p, v6, &udp, true, true);
	return -1;
}

/*
 * UDP at tc_ingress, of either family: a pod's answer to a ztunnel flow or its next datagram to
 * that flow's socket, a new flow into the mesh to the ztunnel, the rest of an enrolled pod's
 * written down for its answers; plaintext to an enrolled pod judged. -1: go on.
 */
static __always_inline int steer_udp(struct __sk_buff *skb, const struct pkt *p, bool from_pod,
				     bool v6)
{
	bool excluded = false;
	int ret;

	if (from_pod) {
		ret = steer_udp_return(skb, p, v6);
		if (ret < 0)
			ret = steer_udp_capture(skb, p, v6, &excluded);
		if (ret >= 0) {
			/* A first piece handed to the ztunnel: its later pieces will follow it. */
			if (ret == TC_ACT_OK && p->fragment && !p->tail)
				steer_udp_frag_note(p, v6, AMBIT_FRAG_FOLLOW);
			return ret;
		}
		steer_udp_note(skb, p, v6);
	}
	ret = steer_udp_plaintext(skb, p, v6, false, &excluded);
	if (ret >= 0 || !excluded)
		return ret;
	return steer_verdict(AMBIT_PASS_EXCLUDED, TC_ACT_OK);
}

#define STEER_UDP_FROM_POD 1u
#define STEER_UDP_V6 2u

/*
 * steer_udp for tc_ingress, verified on its own (a global function, as nodeguard_ingress: inlined,
 * both families' UDP paths took the ingress program past the verifier's budget); the packet is
 * parsed again here. @flags: STEER_UDP_FROM_POD, STEER_UDP_V6.
 */
__noinline int steer_udp_ingress(struct __sk_buff *skb, __u32 flags)
{
	struct pkt p = {};

	if (flags & STEER_UDP_V6) {
		if (parse_ipv6(skb, &p) != PARSE_OK || p.proto != IPPROTO_UDP)
			return -1;
		return steer_udp(skb, &p, flags & STEER_UDP_FROM_POD, true);
	}
	if (parse_ipv4_tcp(skb, &p) != PARSE_OK || p.ip->protocol != IPPROTO_UDP)
		return -1;
	return steer_udp(skb, &p, flags & STEER_UDP_FROM_POD, false);
}

/*
 * A new flow policy refuses in the kernel: counted by @reason, and a SYN is answered with a reset
 * (a segment with RST set never is, RFC 9293 §3.10.7.1); the packet never goes further.
 */
static __always_inline int steer_refuse(struct __sk_buff *skb, const struct pkt *p,
					enum ambit_reason reason, bool v6)
{
	int ret;

	counter_inc(reason);
	if (!p->tcp->syn || p->tcp->ack || p->tcp->rst)
		return TC_ACT_SHOT;
	ret = reset_reply(skb, p, v6);
	return ret < 0 ? TC_ACT_SHOT : ret;
}

/*
 * The kernel fast drops of a new plaintext flow (lib/fastdrop.h): the verdict when policy
 * refuses it before any byte reaches the proxy, -1 when it may go on.
 */
static __always_inline int steer_fastdrop(struct __sk_buff *skb, const struct pkt *p, bool v6)
{
	bool denied = v6 ? fastdrop_denied_source6(&p->ip6->saddr, &p->ip6->daddr)
			 : fastdrop_denied_source(p->ip->saddr, p->ip->daddr);

	if (denied)
		return steer_refuse(skb, p, AMBIT_DROP_DENY_SOURCE, v6);
	if (v6 ? fastdrop_strict6(&p->ip6->daddr, p->tcp->dest)
	       : fastdrop_strict(p->ip->daddr, p->tcp->dest))
		return steer_refuse(skb, p, AMBIT_DROP_STRICT_PLAINTEXT, v6);
	return -1;
}

/*
 * Whether @p is the ACK that ends a SYN-cookie handshake @listener answered (its SYN queue
 * overflowed: a flood). Such an ACK matches no socket, and left alone it reaches the pod's own
 * listener, which saw no overflow and answers the cookie with a reset. Only a pure ACK (no
 * payload) is looked at: the handshake's last segment, not every data packet.
 */
static __always_inline bool steer_pure_ack(const struct pkt *p, bool v6)
{
	return p->tcp->ack && !p->tcp->syn && !p->tcp->rst && !p->tcp->fin &&
	       pkt_ip_len(p, v6) == p->l3_len + p->tcp->doff * 4;
}

static __always_inline bool steer_cookie_ack(struct __sk_buff *skb, const struct pkt *p,
					     struct bpf_sock *listener, bool v6)
{
	void *data_end = (void *)(long)skb->data_end;
	struct ipv6hdr *ip6 = p->ip6;
	struct iphdr *ip = p->ip;
	struct tcphdr *tcp = p->tcp;

	if (!steer_pure_ack(p, v6))
		return false;
	/* The cookie is in the fixed headers: the helper wants no more (options need not be). */
	if ((void *)(tcp + 1) > data_end)
		return false;
	if (v6)
		return (void *)(ip6 + 1) <= data_end &&
		       bpf_tcp_check_syncookie(listener, ip6, sizeof(*ip6), tcp, sizeof(*tcp)) == 0;
	return (void *)(ip + 1) <= data_end &&
	       bpf_tcp_check_syncookie(listener, ip, sizeof(*ip), tcp, sizeof(*tcp)) == 0;
}

/*
 * A packet to a captured pod that no socket here owns: if it is the ACK completing a SYN-cookie
 * handshake of @listener (referenced, released here; may be NULL), it goes to that listener;
 * -1 for anything else.
 */
static __always_inline int steer_cookie(struct __sk_buff *skb, const struct pkt *p,
					struct bpf_sock *listener, bool mark, bool v6)
{
	int ret;

	if (!listener)
		return -1;
	ret = steer_cookie_ack(skb, p, listener, v6)
		  ? steer_assign_mark(skb, listener, AMBIT_ASSIGN_SYNCOOKIE, mark)
		  : -1;
	bpf_sk_release(listener);
	return ret;
}

/* The ztunnel's listener for @p's destination port, of @p's family (referenced), or NULL. */
static __always_inline struct bpf_sock *steer_proxy_sock(const struct pkt *p, bool v6)
{
	__u32 slot =
	    p->tcp->dest == bpf_htons(AMBIT_PORT_HBONE) ? AMBIT_SOCK_HBONE : AMBIT_SOCK_INBOUND;

	/* A SOCKMAP lookup from BPF returns a referenced socket. */
	if (v6)
		return bpf_map_lookup_elem(&proxy_socks6, &slot);
	return bpf_map_lookup_elem(&proxy_socks, &slot);
}

/* New flow to an enrolled pod of this node: only the ztunnel may see it (fail closed). */
static __always_inline int steer_to_proxy(struct __sk_buff *skb, const struct pkt *p, bool v6)
{
	bool hbone = p->tcp->dest == bpf_htons(AMBIT_PORT_HBONE);
	struct bpf_sock *sk;
	int ret;

	/* Plaintext only: HBONE's source is the peer node, its client known after the handshake. */
	if (!hbone) {
		ret = steer_fastdrop(skb, p, v6);
		if (ret >= 0)
			return ret;
	}
	sk = steer_proxy_sock(p, v6);
	if (!sk)
		return steer_verdict(AMBIT_DROP_NO_PROXY, TC_ACT_SHOT);
	ret = steer_assign(skb, sk, hbone ? AMBIT_ASSIGN_HBONE : AMBIT_ASSIGN_INBOUND);
	bpf_sk_release(sk);
	return ret;
}

/*
 * TCP at tc_ingress, of either family, once its source was judged: @wl is the destination's
 * workload (NULL when none), @from_pod whether it came in by a pod's veth.
 */
static __always_inline int steer_tcp(struct __sk_buff *skb, const struct pkt *p,
				     const struct ambit_workload *wl, bool from_pod, bool v6)
{
	bool known = wl != NULL;
	bool captured;
	int ret;

	barrier_var(known);
	/* An in-pod pod is its own netns' business (steer_pod_ingress): left alone here. */
	captured = wl && (wl->flags & (AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL | AMBIT_WL_INPOD)) ==
			     (AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL);
	/*
	 * Fragments cannot all be matched to a socket; letting one through to an enrolled pod would
	 * bypass the proxy, so fail closed there (TCP stacks set DF, or size segments to the path
	 * MTU over IPv6: this costs nothing real).
	 */
	if (captured && p->fragment)
		return steer_verdict(AMBIT_DROP_MALFORMED, TC_ACT_SHOT);
	if (!p->tcp)
		return steer_verdict(AMBIT_PASS, TC_ACT_OK);
	/* A pod's SYN to a port it leaves out of capture: its answers are let back (lib/excl.h). */
	if (from_pod && p->tcp->syn && !p->tcp->ack)
		excl_note_syn(p, v6);
	/*
	 * Packets from a pod veth are also looked up when the destination is no workload: they may
	 * be replies to a ztunnel connection whose spoofed source is a client outside the mesh.
	 */
	if (known || from_pod) {
		ret = steer_established(skb, p, v6);
		if (ret >= 0)
			return ret;
	}
	if (!captured)
		return steer_verdict(AMBIT_PASS, TC_ACT_OK);
	/* To a port the pod leaves out of capture: the pod's, plaintext, past the mesh. */
	if (excl_wl_port(wl, p->tcp->dest, IPPROTO_TCP, AMBIT_EXCL_IN_IFACE, false))
		return steer_verdict(AMBIT_PASS_EXCLUDED, TC_ACT_OK);
	/*
	 * Only a SYN opens a flow the proxy can take. Any other segment with no socket here is the
	 * ACK of a cookie of the ztunnel's, or of a connection the pod had before it was enrolled
	 * (it stays direct, as Istio ambient leaves existing connections alone at enrollment), or
	 * refused (lib/preflow.h): a cookie for the pod's own listener would open a connection to
	 * it past the proxy.
	 */
	if (p->tcp->syn && !p->tcp->ack)
		return steer_to_proxy(skb, p, v6);
	if (p->tcp->ack && !p->tcp->syn) {
		ret = steer_cookie(skb, p, steer_proxy_sock(p, v6), true, v6);
		if (ret >= 0)
			return ret;
	}
	return preflow_verdict(skb, p, true, v6);
}

/*
 * IPv6 at tc_ingress. A pod the mesh knows by IPv6 (its veth in pod_ifaces6, its address in
 * workloads6) is carried as over IPv4: its veth may only emit that address, besides link-local
 * and :: for ICMPv6 alone (neighbour discovery, DAD, router solicitation and MLD send from
 * those), and TCP to it is captured by steer_tcp. The transport is the last Next Header of the
 * extension header chain (parse_ipv6), so none hides a transport header from these rules. An
 * in-pod pod known by IPv6 is left to its own eth0's programs, as over IPv4 (steer_pod_v6 captures
 * its IPv6 there).
 *
 * A pod the mesh does not know by IPv6 (an IPv4-only pod of a dual-stack cluster, an agent that
 * wrote no IPv6 entry) fails closed if enrolled: its IPv6 would reach or leave it past the
 * ztunnel, in plaintext and past policy. Of it only ICMPv6 passes, which neighbour discovery,
 * router solicitation and path MTU discovery need, judged by the first Next Header alone: a
 * transport header behind a Hop-by-Hop, Routing, Fragment or Destination Options header is as
 * much a bypass as one right after the fixed header, so whatever is not ICMPv6 right there is
 * refused. That costs such a pod MLD reports (ICMPv6 behind a Hop-by-Hop Router Alert, RFC 3810
 * §5), which neither a routed veth nor a bridge needs for the pod's unicast or its all-nodes and
 * solicited-node groups (a snooping bridge floods groups nobody reported). Its ICMPv6 must come
 * from a link-local address or :: (the data path knows no other address of it), else it is
 * spoofed. Such a pod is found by interface: the host-side veth a packet comes in by
 * (pod_ifaces), or the one its destination is routed out of. IPv4 never comes here: only frames
 * parse_ipv4_tcp found not to be IPv4 do. A broken IPv6 header or header chain is dropped as a
 * broken IPv4 header is (the stack would drop it too), for every pod.
 */

/*
 * Whether host-side veth @ifindex is an enrolled local pod's: in-pod ones included, whose eth0
 * programs refuse the same IPv6 of a pod the mesh does not know by IPv6 (steer_pod_v6) before
 * the node's see it.
 */
static __always_inline bool steer_iface_enrolled(__u32 ifindex)
{
	const __u32 want = AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL;
	struct ambit_iface *iface = bpf_map_lookup_elem(&pod_ifaces, &ifindex);
	struct ambit_workload *wl;
	__u32 ip;

	if (!iface)
		return false;
	ip = iface->pod_ip;
	wl = bpf_map_lookup_elem(&workloads, &ip);
	return wl && (wl->flags & want) == want;
}

/*
 * Whether @ip6's destination is routed out of an enrolled local pod's veth (a pod route, as the
 * CNI sets one per pod). tot_len stays 0: the route is wanted, not an MTU verdict. Since 5.10
 * the helper fills in the egress ifindex once a route is found, with or without a neighbour
 * entry; any other outcome (local, unreachable, forwarding off) reaches no pod's veth.
 */
static __always_inline bool steer_routed_to_enrolled(struct __sk_buff *skb,
						     const struct ipv6hdr *ip6)
{
	struct bpf_fib_lookup fib = {};
	long rc;

	fib.family = AF_INET6;
	fib.l4_protocol = ip6->nexthdr;
	fib.ifindex = skb->ingress_ifindex;
	__builtin_memcpy(fib.ipv6_src, &ip6->saddr, sizeof(fib.ipv6_src));
	__builtin_memcpy(fib.ipv6_dst, &ip6->daddr, sizeof(fib.ipv6_dst));
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH &&
	    rc != BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return false;
	return steer_iface_enrolled(fib.ifindex);
}

/* fe80::/10 (RFC 4291 §2.5.6) or :: (§2.5.2, a DAD probe's source). */
static __always_inline bool steer_v6_local_source(const struct in6_addr *a)
{
	if (a->in6_u.u6_addr8[0] == 0xfe && (a->in6_u.u6_addr8[1] & 0xc0) == 0x80)
		return true;
	return (a->in6_u.u6_addr32[0] | a->in6_u.u6_addr32[1] | a->in6_u.u6_addr32[2] |
		a->in6_u.u6_addr32[3]) == 0;
}

/* From the veth of a pod whose IPv6 address is @own: whether @p's source is another one. */
static __always_inline bool steer_v6_spoofed(const struct pkt *p, const struct ambit_ip6 *own)
{
	const struct in6_addr *s = &p->ip6->saddr;

	if (((s->in6_u.u6_addr32[0] ^ own->a[0]) | (s->in6_u.u6_addr32[1] ^ own->a[1]) |
	     (s->in6_u.u6_addr32[2] ^ own->a[2]) | (s->in6_u.u6_addr32[3] ^ own->a[3])) == 0)
		return false;
	return p->proto != NEXTHDR_ICMPV6 || !steer_v6_local_source(s);
}

/*
 * From the veth of an enrolled pod the mesh does not know by IPv6 (see above): whether it is
 * refused, its verdict in *@ret; what is not then passes, once ndguard_pod has judged it.
 */
static __always_inline bool steer_v6_unknown_pod(const struct pkt *p, int *ret)
{
	if (p->ip6->nexthdr != NEXTHDR_ICMPV6)
		*ret = steer_verdict(AMBIT_DROP_IPV6_UNSUPPORTED, TC_ACT_SHOT);
	else if (!steer_v6_local_source(&p->ip6->saddr))
		*ret = steer_verdict(AMBIT_DROP_SPOOFED_SOURCE, TC_ACT_SHOT);
	else
		return false;
	return true;
}

static __always_inline int steer_ingress_v6(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ingress_ifindex;
	struct ambit_workload *wl;
	struct ambit_ip6 *own;
	struct pkt p = {};
	bool from_pod, unknown;
	int ret;

	switch (parse_ipv6(skb, &p)) {
	case PARSE_OK: break;
	case PARSE_NOT_IPV6: return steer_verdict(AMBIT_PASS, TC_ACT_OK);
	default: return steer_verdict(AMBIT_DROP_MALFORMED, TC_ACT_SHOT);
	}
	own = bpf_map_lookup_elem(&pod_ifaces6, &ifindex);
	from_pod = own != NULL;
	/* Materialize the bool, as steer_spoofed does. */
	barrier_var(from_pod);
	if (own && steer_v6_spoofed(&p, own))
		return steer_verdict(AMBIT_DROP_SPOOFED_SOURCE, TC_ACT_SHOT);
	/* A DNS query the proxy answered before: answered here (lib/dnsfast.h). */
	if (from_pod && p.proto == IPPROTO_UDP && !p.fragment) {
		ret = dnsfast_answer(skb, &p, true, false);
		if (ret >= 0)
			return ret;
	}
	if (p.proto == IPPROTO_UDP) {
		ret = steer_udp_ingress(skb, STEER_UDP_V6 | (from_pod ? STEER_UDP_FROM_POD : 0));
		if (ret >= 0)
			return ret;
	}
	unknown = !from_pod && steer_iface_enrolled(ifindex);
	if (unknown && steer_v6_unknown_pod(&p, &ret))
		return ret;
	/* No pod is a router: its RA and Redirect, and NA for another's address (lib/ndguard.h). */
	ret = ndguard_pod(skb, &p, ifindex, own);
	if (ret >= 0)
		return ret;
	if (unknown)
		return steer_verdict(AMBIT_PASS, TC_ACT_OK);
	wl = bpf_map_lookup_elem(&workloads6, &p.ip6->daddr);
	if (!wl && p.ip6->nexthdr != NEXTHDR_ICMPV6 && steer_routed_to_enrolled(skb, p.ip6))
		return steer_verdict(AMBIT_DROP_IPV6_UNSUPPORTED, TC_ACT_SHOT);
	if (p.proto != IPPROTO_TCP)
		return steer_verdict(AMBIT_PASS, TC_ACT_OK);
	return steer_tcp(skb, &p, wl, from_pod, true);
}

static __always_inline int steer_ingress(struct __sk_buff *skb)
{
	struct pkt p = {};
	bool from_pod;
	int ret;

	switch (parse_ipv4_tcp(skb, &p)) {
	case PARSE_OK: break;
	case PARSE_NOT_IPV4: return steer_ingress_v6(skb);
	default: return steer_verdict(AMBIT_DROP_MALFORMED, TC_ACT_SHOT);
	}
	if (steer_spoofed(skb, p.ip, &from_pod))
		return steer_verdict(AMBIT_DROP_SPOOFED_SOURCE, TC_ACT_SHOT);
	/* A DNS query the proxy answered before: answered here (lib/dnsfast.h). */
	if (from_pod && p.ip->protocol == IPPROTO_UDP && !p.fragment) {
		ret = dnsfast_answer(skb, &p, false, false);
		if (ret >= 0)
			return ret;
	}
	if (p.ip->protocol == IPPROTO_UDP) {
		ret = steer_udp_ingress(skb, from_pod ? STEER_UDP_FROM_POD : 0);
		if (ret >= 0)
			return ret;
	}
	if (p.ip->protocol != IPPROTO_TCP)
		return steer_verdict(AMBIT_PASS, TC_ACT_OK);
	return steer_tcp(skb, &p, bpf_map_lookup_elem(&workloads, &p.ip->daddr), from_pod, false);
}

/*
 * In-pod capture (bridge CNIs): tc ingress on an enrolled pod's own eth0, inside its netns, where
 * the ztunnel listens on the pod's behalf. Frames between pods of one bridge never pass the node's
 * IP stack, so only here can every flow to the pod be seen. HBONE (15008) reaches the ztunnel's
 * listener there by the ordinary socket lookup, and so does every packet of an open flow (its
 * destination is the pod's own address); a new plaintext flow is assigned to the pod's 15006
 * listener (inpod_socks, or inpod_socks6 by the pod's IPv6), after the same fast drops as on the
 * node, without the node's mark. New flows from outside to 15001 or 15006 themselves are dropped:
 * the proxy would only hand them back to itself. Both families take the same path: @v6 says which
 * parser filled @p, a constant where a program calls in (steer_tcp's rule).
 */

/* Whether @wl is an enrolled pod of this node captured in its own netns. */
static __always_inline bool steer_inpod(const struct ambit_workload *wl)
{
	const __u32 all = AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL | AMBIT_WL_INPOD;

	return wl && (wl->flags & all) == all;
}

/*
 * A pod of this node out of the mesh whose in-pod programs are still on: it left, and its netns
 * keeps them while the ztunnel's connections to it end (the agent's inpod.h).
 */
static __always_inline bool steer_left(const struct ambit_workload *wl)
{
	return wl && (wl->flags & (AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL)) == AMBIT_WL_LOCAL;
}

/* Whether a socket of this netns (any state but a listener) owns @p's 4-tuple. */
static __always_inline bool steer_owned(struct __sk_buff *skb, const struct pkt *p, bool v6)
{
	struct bpf_sock *sk = steer_owner(skb, p, v6);

	if (!sk)
		return false;
	bpf_sk_release(sk);
	return true;
}

/* The pod's 15006 listener, by @p's destination (referenced; a SOCKHASH lookup), or NULL. */
static __always_inline struct bpf_sock *steer_pod_listener(const struct pkt *p, bool v6)
{
	if (v6)
		return bpf_map_lookup_elem(&inpod_socks6, &p->ip6->daddr);
	return bpf_map_lookup_elem(&inpod_socks, &p->ip->daddr);
}

/* TCP to an in-pod pod of this node (steer_inpod), of either family. */
static __always_inline int steer_pod_tcp(struct __sk_buff *skb, const struct pkt *p, bool v6)
{
	struct bpf_sock *sk;
	__u16 dport;
	int ret;

	if (p->fragment)
		return steer_verdict(AMBIT_DROP_MALFORMED, TC_ACT_SHOT);
	if (!p->tcp)
		return steer_verdict(AMBIT_PASS, TC_ACT_OK);
	dport = bpf_ntohs(p->tcp->dest);
	/*
	 * A port the pod leaves out of capture (lib/excl.h): every segment its own listener's and
	 * its connections', plaintext, past STRICT and the mesh's policy, as on a host-captured
	 * pod's veth (a SYN-cookie ACK too: the cookie was the pod's). Not the proxy's ports.
	 */
	if (dport != AMBIT_PORT_HBONE && dport != AMBIT_PORT_OUTBOUND &&
	    dport != AMBIT_PORT_INBOUND &&
	    excl_wl_port(steer_pkt_wl(p, v6, false), p->tcp->dest, IPPROTO_TCP, AMBIT_EXCL_IN_IFACE,
			 true))
		return steer_verdict(p->tcp->syn && !p->tcp->ack ? AMBIT_PASS_EXCLUDED : AMBIT_PASS,
				     TC_ACT_OK);
	/*
	 * Only a SYN opens a flow: the rest must belong to a socket of this netns (the pod's own,
	 * those it had before it was enrolled among them, or the ztunnel's), or be the ACK ending a
	 * SYN-cookie handshake of the 15006 listener (no socket holds it yet). Anything else would
	 * reach the pod's own listener, which takes a cookie it never sent as its own
	 * (lib/preflow.h): refused, but for a reset. 15008 is the ztunnel's own listener, which its
	 * SYNs reach too.
	 */
	if (!p->tcp->syn || p->tcp->ack) {
		if (dport == AMBIT_PORT_HBONE || steer_owned(skb, p, v6))
			return steer_verdict(AMBIT_PASS, TC_ACT_OK);
		if (steer_pure_ack(p, v6)) {
			ret = steer_cookie(skb, p, steer_pod_listener(p, v6), false, v6);
			if (ret >= 0)
				return ret;
		}
		return preflow_verdict(skb, p, false, v6);
	}
	if (dport == AMBIT_PORT_HBONE)
		return steer_verdict(AMBIT_ASSIGN_HBONE, TC_ACT_OK);
	if (dport == AMBIT_PORT_OUTBOUND || dport == AMBIT_PORT_INBOUND)
		return steer_verdict(AMBIT_DROP_PROXY_PORT, TC_ACT_SHOT);
	ret = steer_fastdrop(skb, p, v6);
	if (ret >= 0)
		return ret;
	sk = steer_pod_listener(p, v6);
	if (!sk)
		return steer_verdict(AMBIT_DROP_NO_PROXY, TC_ACT_SHOT);
	/*
	 * No mark: the destination is this netns' own address, local without the fwmark route
	 * (and where tcp_fwmark_accept is on, a marked SYN would send the answer to lo).
	 */
	ret = steer_assign_mark(skb, sk, AMBIT_ASSIGN_INBOUND, false);
	bpf_sk_release(sk);
	return ret;
}

#define LOOPBACK_IFINDEX 1 /* lo is interface 1 in every netns */

/*
 * In-pod, tc egress on the pod's eth0: the return path of the ztunnel's connections to the pod.
 * The ztunnel connects from inside the pod's netns with the client's address (IP_TRANSPARENT,
 * IPV6_TRANSPARENT), so the pod's answers are addressed to a foreign IP and routed out of eth0,
 * away from that socket. A packet whose 4-tuple a socket of this netns receives (a local address
 * that is not the pod's: only the ztunnel's transparent sockets have one) is turned back into
 * lo's ingress, its MACs zeroed (lo's own) and marked, where the mark's policy route (`local
 * 0.0.0.0/0 dev lo`, `local ::/0 dev lo`, set in the pod's netns by the agent) delivers it to
 * that socket. Everything else leaves (TC_ACT_OK, uncounted). As Istio's in-pod rules do with a
 * connmark, without iptables and without a sysctl.
 */
/* @p, marked for the fwmark route, into lo's ingress (its MACs zeroed, lo's own); counted. */
static __always_inline int steer_pod_to_lo(struct __sk_buff *skb, enum ambit_reason reason)
{
	static const __u8 zero_macs[2 * ETH_ALEN] = {};

	if (bpf_skb_store_bytes(skb, 0, zero_macs, sizeof(zero_macs), 0))
		return steer_verdict(AMBIT_DROP_MALFORMED, TC_ACT_SHOT);
	skb->mark = AMBIT_SKB_MARK;
	counter_inc(reason);
	return bpf_redirect(LOOPBACK_IFINDEX, BPF_F_INGRESS);
}

static __always_inline int steer_pod_return(struct __sk_buff *skb, const struct pkt *p, bool v6)
{
	struct bpf_sock *sk = p->tcp ? steer_owner(skb, p, v6) : NULL;

	if (!sk)
		return TC_ACT_OK;
	bpf_sk_release(sk);
	return steer_pod_to_lo(skb, AMBIT_RETURN_TO_PROXY);
}

/*
 * UDP leaving an in-pod pod's eth0 (tc_pod_egress), of either family. An answer to one of the
 * ztunnel's flows into the pod, or the pod's next datagram of a flow the ztunnel holds for it,
 * belongs to a socket of this netns (steer_udp_owner): turned back to lo as steer_pod_return
 * does with TCP. A new flow of an enrolled in-pod pod into the mesh (to an enrolled workload,
 * DNS excepted, or to a ServiceEntry's UDP port, as steer_udp_capture takes a host-captured
 * pod's) goes to lo too, where tc_pod_lo hands it to the ztunnel's UDP listener in the pod
 * (15001/udp). A datagram in pieces of a flow a socket owns: its first piece goes there, and its
 * later pieces follow it (udp_frags), for the pod's netns to reassemble; a new flow's is dropped.
 * The rest leaves as it came (a port the pod leaves out of capture counted as such).
 */
static __always_inline int steer_pod_udp(struct __sk_buff *skb, const struct pkt *p, bool v6)
{
	struct ambit_workload *src, *dst;
	struct bpf_sock *sk;
	struct udphdr udp;
	bool mesh;

	if (p->tail) {
		__u32 was = steer_udp_frag_of(p, v6);

		if (was == AMBIT_FRAG_DROP)
			return steer_verdict(AMBIT_DROP_UDP_INPOD_FRAG, TC_ACT_SHOT);
		return was ? steer_pod_to_lo(skb, AMBIT_RETURN_TO_PROXY) : TC_ACT_OK;
	}
	sk = steer_udp_owner(skb, p, v6);
	if (sk) {
		bpf_sk_release(sk);
		if (p->fragment)
			steer_udp_frag_note(p, v6, AMBIT_FRAG_FOLLOW);
		return steer_pod_to_lo(skb, AMBIT_RETURN_TO_PROXY);
	}
	src = steer_pkt_wl(p, v6, true);
	if (!steer_inpod(src) || steer_udp_hdr(skb, p, &udp))
		return TC_ACT_OK;
	dst = steer_pkt_wl(p, v6, false);
	mesh = dst && (dst->flags & AMBIT_WL_ENROLLED);
	if (steer_udp_replies(p, v6, &udp, false, false))
		return TC_ACT_OK;
	if ((!mesh &&
	     !(v6 ? sentry_udp6(&p->ip6->daddr, udp.dest) : sentry_udp(p->ip->daddr, udp.dest))) ||
	    (mesh && udp.dest == bpf_htons(53))) {
		/* Past the mesh: its answer is written down, to pass STRICT (tc_pod). */
		steer_udp_replies(p, v6, &udp, true, true);
		return TC_ACT_OK;
	}
	if (excl_wl_port(src, udp.dest, IPPROTO_UDP, AMBIT_EXCL_OUT_IFACE, true)) {
		steer_udp_replies(p, v6, &udp, true, true);
		return steer_verdict(AMBIT_PASS_EXCLUDED, TC_ACT_OK);
	}
	/*
	 * A new flow's first datagram in pieces: the pod's netns would reassemble it past every
	 * program, and no socket there would take it. Dropped with its later pieces, counted, never
	 * let out in plaintext (docs/udp.md).
	 */
	if (p->fragment) {
		steer_udp_frag_note(p, v6, AMBIT_FRAG_DROP);
		return steer_verdict(AMBIT_DROP_UDP_INPOD_FRAG, TC_ACT_SHOT);
	}
	return steer_pod_to_lo(skb, AMBIT_REDIRECT_UDP_INPOD);
}

/*
 * tc ingress on an in-pod pod's lo (tc_pod_lo), of either family: what tc_pod_egress turned back
 * (marked). A new UDP flow of the pod's, which no socket of the netns owns, goes to the ztunnel's
 * UDP listener in the pod (bound to 15001/udp on every address, carrying AMBIT_PROXY_MARK, found
 * by a look-up of the pod's own address), which reads the destination with
 * IP(V6)_RECVORIGDSTADDR as the node's listener does; without that listener it is dropped,
 * never let out in plaintext. Everything else (the answers and next datagrams a socket owns, the
 * pieces of a datagram, which the netns reassembles for the flow's socket, lo's own traffic)
 * goes on as it came.
 */
static __always_inline int steer_pod_lo_udp(struct __sk_buff *skb, const struct pkt *p, bool v6)
{
	struct bpf_sock_tuple tuple = {};
	struct bpf_sock *sk;
	struct udphdr udp;
	__u32 len;

	if (p->proto != IPPROTO_UDP || p->fragment || !steer_inpod(steer_pkt_wl(p, v6, true)) ||
	    steer_udp_hdr(skb, p, &udp))
		return TC_ACT_OK;
	sk = steer_udp_owner(skb, p, v6);
	if (sk) {
		bpf_sk_release(sk);
		return TC_ACT_OK;
	}
	len = steer_tuple(p, v6, udp.source, bpf_htons(AMBIT_PORT_OUTBOUND), &tuple);
	if (v6)
		__builtin_memcpy(tuple.ipv6.daddr, &p->ip6->saddr, sizeof(tuple.ipv6.daddr));
	else
		tuple.ipv4.daddr = p->ip->saddr;
	return steer_udp_to_listener(skb, &tuple, len, true);
}

static __always_inline int steer_pod_lo(struct __sk_buff *skb)
{
	struct pkt p = {};

	if (skb->mark != AMBIT_SKB_MARK)
		return TC_ACT_OK;
	switch (parse_ipv4_tcp(skb, &p)) {
	case PARSE_OK:
		return p.ip->protocol == IPPROTO_UDP ? steer_pod_lo_udp(skb, &p, false) : TC_ACT_OK;
	case PARSE_NOT_IPV4: break;
	default: return TC_ACT_OK;
	}
	p = (struct pkt){};
	if (parse_ipv6(skb, &p) != PARSE_OK)
		return TC_ACT_OK;
	return steer_pod_lo_udp(skb, &p, true);
}

/*
 * UDP into an enrolled in-pod pod at its eth0 (tc_pod), of either family: plaintext, as the mesh's
 * UDP reaches the pod from the ztunnel's sockets in its netns; refused by STRICT or a DENY
 * ipBlocks policy (steer_udp_plaintext), else it passes (an answer to the pod's own UDP past the
 * mesh, a port it leaves out of capture, PERMISSIVE). The DNS proxy's answers pass first, those
 * tc_pod_egress writes from the kernel's table (lib/dnsfast.h) among them.
 */
static __always_inline int steer_pod_udp_in(struct __sk_buff *skb, const struct pkt *p, bool v6)
{
	bool excluded = false;
	struct udphdr udp;
	int ret;

	if (!p->tail && dnsfast_from_proxy(p, v6) && !steer_udp_hdr(skb, p, &udp) &&
	    udp.source == bpf_htons(AMBIT_PORT_DNS))
		return steer_verdict(AMBIT_PASS, TC_ACT_OK);
	ret = steer_udp_plaintext(skb, p, v6, true, &excluded);

	if (ret >= 0)
		return ret;
	return steer_verdict(excluded ? AMBIT_PASS_EXCLUDED : AMBIT_PASS, TC_ACT_OK);
}

/* IPv6 leaving an in-pod pod's eth0 from its own address (steer_pod_v6 below). */
static __always_inline int steer_pod_egress_v6(struct __sk_buff *skb, const struct pkt *p)
{
	/* The pod's DNS query the proxy answered before: answered here (lib/dnsfast.h). */
	if (p->proto == IPPROTO_UDP && !p->fragment) {
		int ret = dnsfast_answer(skb, p, true, true);

		if (ret >= 0)
			return ret;
	}
	if (p->proto == IPPROTO_UDP)
		return steer_pod_udp(skb, p, true);
	return p->proto == IPPROTO_TCP ? steer_pod_return(skb, p, true) : TC_ACT_OK;
}

/*
 * IPv6 on an enrolled in-pod pod's own eth0 (tc_pod at @ingress, tc_pod_egress). The agent
 * attaches these programs to enrolled pods only and takes them off once a pod that left the
 * mesh has no connection of the ztunnel's left: until then (steer_left) its IPv6 passes, but for
 * the answers on those connections, which go back to the ztunnel. To or from the pod's own IPv6 as
 * the mesh knows it (workloads6, with the in-pod flags) it is carried as IPv4 is: TCP to it by
 * steer_pod_tcp, the answers to the ztunnel's transparent sockets by steer_pod_return, its DNS
 * queries the proxy answered before by dnsfast_answer, the rest passes. Any other IPv6 (the
 * pod's IPv6 not written yet, an address the mesh does not know) is refused but for ICMPv6 right
 * after the fixed header, as for a pod the node does not know by IPv6 (steer_ingress_v6); so is
 * a header chain the parser finds broken (it has read the fixed header), whatever the address. A
 * broken fixed header is dropped at ingress, as a broken IPv4 one. At egress only a refusal is
 * counted, as for IPv4 there; what is not IPv6 passes.
 */
static __always_inline int steer_pod_v6(struct __sk_buff *skb, bool ingress)
{
	struct ambit_workload *wl;
	struct pkt p = {};

	switch (parse_ipv6(skb, &p)) {
	case PARSE_OK:
		wl = bpf_map_lookup_elem(&workloads6, ingress ? &p.ip6->daddr : &p.ip6->saddr);
		if (steer_left(wl)) {
			if (ingress)
				return steer_verdict(AMBIT_PASS, TC_ACT_OK);
			if (p.proto == IPPROTO_UDP)
				return steer_pod_udp(skb, &p, true);
			return p.proto == IPPROTO_TCP ? steer_pod_return(skb, &p, true) : TC_ACT_OK;
		}
		if (!steer_inpod(wl))
			break;
		if (!ingress)
			return steer_pod_egress_v6(skb, &p);
		if (p.proto == IPPROTO_UDP)
			return steer_pod_udp_in(skb, &p, true);
		if (p.proto != IPPROTO_TCP)
			return steer_verdict(AMBIT_PASS, TC_ACT_OK);
		return steer_pod_tcp(skb, &p, true);
	case PARSE_NOT_IPV6: return ingress ? steer_verdict(AMBIT_PASS, TC_ACT_OK) : TC_ACT_OK;
	default:
		if (p.ip6)
			break;
		return ingress ? steer_verdict(AMBIT_DROP_MALFORMED, TC_ACT_SHOT) : TC_ACT_OK;
	}
	if (p.ip6->nexthdr != NEXTHDR_ICMPV6)
		return steer_verdict(AMBIT_DROP_IPV6_UNSUPPORTED, TC_ACT_SHOT);
	return ingress ? steer_verdict(AMBIT_PASS, TC_ACT_OK) : TC_ACT_OK;
}

static __always_inline int steer_pod_ingress(struct __sk_buff *skb)
{
	struct pkt p = {};

	switch (parse_ipv4_tcp(skb, &p)) {
	case PARSE_OK: break;
	case PARSE_NOT_IPV4: return steer_pod_v6(skb, true);
	default: return steer_verdict(AMBIT_DROP_MALFORMED, TC_ACT_SHOT);
	}
	if (p.ip->protocol != IPPROTO_TCP && p.ip->protocol != IPPROTO_UDP)
		return steer_verdict(AMBIT_PASS, TC_ACT_OK);
	if (!steer_inpod(bpf_map_lookup_elem(&workloads, &p.ip->daddr)))
		return steer_verdict(AMBIT_PASS, TC_ACT_OK);
	if (p.ip->protocol == IPPROTO_UDP)
		return steer_pod_udp_in(skb, &p, false);
	return steer_pod_tcp(skb, &p, false);
}

static __always_inline int steer_pod_egress(struct __sk_buff *skb)
{
	struct pkt p = {};

	switch (parse_ipv4_tcp(skb, &p)) {
	case PARSE_OK: break;
	case PARSE_NOT_IPV4: return steer_pod_v6(skb, false);
	default: return TC_ACT_OK;
	}
	/* The pod's DNS query the proxy answered before: answered here (lib/dnsfast.h). */
	if (p.ip->protocol == IPPROTO_UDP && !p.fragment) {
		int ret = dnsfast_answer(skb, &p, false, true);

		if (ret >= 0)
			return ret;
	}
	if (p.ip->protocol == IPPROTO_UDP)
		return steer_pod_udp(skb, &p, false);
	return p.ip->protocol == IPPROTO_TCP ? steer_pod_return(skb, &p, false) : TC_ACT_OK;
}

/*
 * sk_lookup in the node's netns (SEC("sk_lookup") in steer.bpf.c): the socket look-up of a new
 * UDP flow's first datagram that came in pieces (udp_pending), once the node reassembled it,
 * goes to the ztunnel's UDP listener of its family (udp_socks), which reads the destination with
 * IP(V6)_RECVORIGDSTADDR as for any first datagram. Every other look-up is the kernel's own.
 */
static __always_inline int steer_sk_lookup(struct bpf_sk_lookup *ctx)
{
	struct ambit_flow6 f6 = {.sport = (__u16)ctx->remote_port,
				 .dport = bpf_htons((__u16)ctx->local_port)};
	struct ambit_flow f = {.saddr = ctx->remote_ip4,
			       .daddr = ctx->local_ip4,
			       .sport = (__u16)ctx->remote_port,
			       .dport = bpf_htons((__u16)ctx->local_port)};
	bool v6 = ctx->family == AF_INET6;
	struct bpf_sock *sk;
	__u32 slot = v6;

	if (ctx->protocol != IPPROTO_UDP)
		return SK_PASS;
	if (v6) {
		/* The context's fields are read one by one, at fixed offsets. */
		f6.saddr[0] = ctx->remote_ip6[0];
		f6.saddr[1] = ctx->remote_ip6[1];
		f6.saddr[2] = ctx->remote_ip6[2];
		f6.saddr[3] = ctx->remote_ip6[3];
		f6.daddr[0] = ctx->local_ip6[0];
		f6.daddr[1] = ctx->local_ip6[1];
		f6.daddr[2] = ctx->local_ip6[2];
		f6.daddr[3] = ctx->local_ip6[3];
		if (bpf_map_delete_elem(&udp_pending6, &f6))
			return SK_PASS;
	} else if (bpf_map_delete_elem(&udp_pending, &f)) {
		return SK_PASS;
	}
	sk = bpf_map_lookup_elem(&udp_socks, &slot);
	if (!sk)
		return SK_PASS;
	bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	return SK_PASS;
}

#endif
