/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The node's own traffic to its enrolled pods, one rule in both capture modes: plaintext from
 * outside the mesh, but for the kubelet's probes, which pass as Istio lets them (istio-cni gives
 * them a link-local source its in-pod rules admit). tc egress on the host side of every pod veth
 * (tc_veth_egress) sees a connection the node's network namespace opens to one of its pods (a
 * node process, a hostNetwork pod), and the sending socket's cgroup (bpf_skb_cgroup_id): the
 * kubelet's (node_cfg) makes it a probe.
 *  - Host capture: such a connection leaves by the pod's veth and never passes tc ingress, so
 *    it reached an enrolled pod in plaintext past STRICT, DENY ipBlocks and ALLOW. Here the
 *    kernel refusals any plaintext from outside the mesh meets (steer_fastdrop) judge a new
 *    flow from an address of the node's own; the reset goes back into the node by the veth's
 *    ingress, as if the pod had sent it, so the client fails at once. What they let by goes
 *    back in by that ingress too (nodeguard_to_ingress), where tc_ingress hands it to the
 *    ztunnel's plaintext inbound (nodeguard_ingress) to be judged by the pod's policies, as
 *    in-pod; so does every later segment of a flow the ztunnel took. A probe passes.
 *  - In-pod capture: tc_pod in the pod's netns judges it as any inbound, and cannot tell the
 *    kubelet (the socket stays behind in the node's netns). So a probe's SYN is written down
 *    here by its 4-tuple (probe_flows, which no pod can write), and tc_pod lets that SYN by to
 *    the application (nodeguard_pod_probe), once.
 * HBONE (15008) is not plaintext, and the ztunnel's own connections to a pod carry
 * AMBIT_PROXY_MARK (SO_MARK; their source is their client's, the node's for a client of the
 * node's): both pass. So does every other packet but a SYN: an open flow is no new connection.
 */
#ifndef AMBIT_BPF_NODEGUARD_H
#define AMBIT_BPF_NODEGUARD_H

#include "lib/steer.h"

#define NODEGUARD_AF_INET 2

/*
 * Whether @p's source is an address of this netns: a FIB look-up of it as a destination finds
 * no unicast route (the helper answers NOT_FWDED for a local route, and for none at all;
 * blackhole, unreachable and prohibit have answers of their own). An address the node cannot
 * route counts as its own: no client of the ztunnel has one, or its answers could not go back.
 */
static __always_inline bool nodeguard_local_source(struct __sk_buff *skb, const struct pkt *p,
						   bool v6)
{
	struct bpf_fib_lookup fib = {};

	fib.ifindex = skb->ifindex;
	if (v6) {
		fib.family = AF_INET6;
		__builtin_memcpy(fib.ipv6_dst, &p->ip6->saddr, sizeof(fib.ipv6_dst));
	} else {
		fib.family = NODEGUARD_AF_INET;
		fib.ipv4_dst = p->ip->saddr;
	}
	return bpf_fib_lookup(skb, &fib, sizeof(fib), 0) == BPF_FIB_LKUP_RET_NOT_FWDED;
}

/* Whether @skb was sent by a socket of the kubelet's cgroup (node_cfg; 0 there: none is). */
static __always_inline bool nodeguard_kubelet(struct __sk_buff *skb)
{
	struct ambit_node_cfg *cfg;
	__u32 zero = 0;

	cfg = bpf_map_lookup_elem(&node_cfg, &zero);
	return cfg && cfg->kubelet_cgroup && bpf_skb_cgroup_id(skb) == cfg->kubelet_cgroup;
}

/* @p's 4-tuple as probe_flows keys it. */
static __always_inline void nodeguard_flow(struct ambit_probe_flow *f, const struct pkt *p, bool v6)
{
	if (v6) {
		__builtin_memcpy(f->saddr, &p->ip6->saddr, sizeof(f->saddr));
		__builtin_memcpy(f->daddr, &p->ip6->daddr, sizeof(f->daddr));
	} else {
		f->saddr[0] = p->ip->saddr;
		f->daddr[0] = p->ip->daddr;
	}
	f->sport = p->tcp->source;
	f->dport = p->tcp->dest;
}

/* Whether @p is a new flow's SYN not to HBONE: what the node's rule judges. */
static __always_inline bool nodeguard_new_plaintext(const struct pkt *p)
{
	return p->tcp && p->tcp->syn && !p->tcp->ack && !p->tcp->rst &&
	       p->tcp->dest != bpf_htons(AMBIT_PORT_HBONE);
}

/*
 * Host capture: @skb back into the node by the ingress of the veth it leaves by, for tc_ingress
 * to assign to the ztunnel (nodeguard_ingress). Its MACs swapped, so that the veth's own is the
 * destination (another's makes it PACKET_OTHERHOST, which IP drops), and AMBIT_NODE_MARK set.
 * Its source is an address of the node's, a martian on input but where the veth accepts local
 * sources (the agent sets accept_local on the veths it attaches to; IPv6 has no such check).
 */
static __always_inline int nodeguard_to_ingress(struct __sk_buff *skb, const struct pkt *p, bool v6)
{
	__u8 macs[2 * ETH_ALEN];

	/* IPv6 extension headers the node's own TCP never sends: nodeguard_ingress wants none. */
	if (v6 && p->l3_len != sizeof(struct ipv6hdr))
		return steer_verdict(AMBIT_DROP_MALFORMED, TC_ACT_SHOT);
	if (bpf_skb_load_bytes(skb, 0, macs, sizeof(macs)))
		return steer_verdict(AMBIT_DROP_MALFORMED, TC_ACT_SHOT);
	if (bpf_skb_store_bytes(skb, 0, macs + ETH_ALEN, ETH_ALEN, 0) ||
	    bpf_skb_store_bytes(skb, ETH_ALEN, macs, ETH_ALEN, 0))
		return steer_verdict(AMBIT_DROP_MALFORMED, TC_ACT_SHOT);
	skb->mark = AMBIT_NODE_MARK;
	return bpf_redirect(skb->ifindex, BPF_F_INGRESS);
}

/* A TCP packet of either family (@v6 a constant at each call, steer_tcp's rule) to @wl. */
static __always_inline int nodeguard_tcp(struct __sk_buff *skb, const struct pkt *p,
					 const struct ambit_workload *wl, bool v6)
{
	const __u32 want = AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL;
	struct ambit_probe_flow flow = {};
	__u32 one = 1;
	int ret;

	if (!p->tcp || !wl || (wl->flags & want) != want)
		return TC_ACT_OK;
	/* The ztunnel's own connection to the pod (SO_MARK): from the node's address too. */
	if (skb->mark == AMBIT_PROXY_MARK)
		return TC_ACT_OK;
	/*
	 * Host capture: a segment from the node whose 4-tuple a socket of the node receives
	 * belongs to a flow the ztunnel took (only its transparent sockets have the pod's address
	 * for their own). From the node's address only: the ztunnel's answers to a pod, from the
	 * address the pod asked for, may mirror the 4-tuple of its own connection on that pod's
	 * behalf, whose port the kernel picked.
	 */
	if (!(wl->flags & AMBIT_WL_INPOD) && p->tcp->dest != bpf_htons(AMBIT_PORT_HBONE) &&
	    steer_owned(skb, p, v6) && nodeguard_local_source(skb, p, v6))
		return nodeguard_to_ingress(skb, p, v6);
	if (!nodeguard_new_plaintext(p))
		return TC_ACT_OK;
	if (!nodeguard_local_source(skb, p, v6))
		return TC_ACT_OK;
	if (nodeguard_kubelet(skb)) {
		if (wl->flags & AMBIT_WL_INPOD) {
			nodeguard_flow(&flow, p, v6);
			if (bpf_map_update_elem(&probe_flows, &flow, &one, BPF_ANY))
				return TC_ACT_OK; /* not written: tc_pod takes it as any inbound */
		}
		return steer_verdict(AMBIT_PASS_PROBE, TC_ACT_OK);
	}
	/* An in-pod pod's own tc_pod judges the rest there. */
	if (wl->flags & AMBIT_WL_INPOD)
		return TC_ACT_OK;
	ret = steer_fastdrop(skb, p, v6);
	/* The reset leaves by where the SYN came in; this one came from the node itself. */
	if (ret == TC_ACT_REDIRECT)
		return bpf_redirect(skb->ifindex, BPF_F_INGRESS);
	if (ret >= 0)
		return ret;
	/* Not refused here: the ztunnel's plaintext inbound judges it, as any client's. */
	return nodeguard_to_ingress(skb, p, v6);
}

static __always_inline int nodeguard_egress(struct __sk_buff *skb)
{
	struct pkt p = {};

	switch (parse_ipv4_tcp(skb, &p)) {
	case PARSE_OK:
		return nodeguard_tcp(skb, &p, bpf_map_lookup_elem(&workloads, &p.ip->daddr), false);
	case PARSE_NOT_IPV4: break;
	default: return TC_ACT_OK;
	}
	if (parse_ipv6(skb, &p) != PARSE_OK || p.proto != IPPROTO_TCP)
		return TC_ACT_OK;
	return nodeguard_tcp(skb, &p, bpf_map_lookup_elem(&workloads6, &p.ip6->daddr), true);
}

/* At tc_pod: whether @p is a probe's SYN nodeguard_tcp wrote down (taken off the map). */
static __always_inline bool nodeguard_probe_seen(const struct pkt *p, bool v6)
{
	struct ambit_probe_flow flow = {};

	if (!nodeguard_new_plaintext(p))
		return false;
	nodeguard_flow(&flow, p, v6);
	return bpf_map_delete_elem(&probe_flows, &flow) == 0;
}

/*
 * Before tc_pod's own logic (steer_pod_ingress): the verdict for a probe's SYN, which goes to
 * the application past the ztunnel, or -1 for the rest. A global function, which the verifier
 * checks once on its own: inlined, its second parse of the packet took tc_pod past the
 * verifier's budget. Only steer.bpf.c includes this header.
 */
__noinline int nodeguard_pod_probe(struct __sk_buff *skb)
{
	struct pkt p = {};
	bool seen;

	switch (parse_ipv4_tcp(skb, &p)) {
	case PARSE_OK: seen = nodeguard_probe_seen(&p, false); break;
	case PARSE_NOT_IPV4:
		seen = parse_ipv6(skb, &p) == PARSE_OK && p.proto == IPPROTO_TCP &&
		       nodeguard_probe_seen(&p, true);
		break;
	default: return -1;
	}
	return seen ? steer_verdict(AMBIT_PASS_PROBE, TC_ACT_OK) : -1;
}

/* A TCP segment nodeguard_to_ingress turned back in, to @wl (@v6 a constant at each call). */
static __always_inline int nodeguard_ingress_tcp(struct __sk_buff *skb, const struct pkt *p,
						 const struct ambit_workload *wl, bool v6)
{
	const __u32 all = AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL | AMBIT_WL_INPOD;
	struct bpf_sock *sk;
	int ret;

	if (!p->tcp || !wl || (wl->flags & all) != (AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL))
		return steer_verdict(AMBIT_DROP_NO_PROXY, TC_ACT_SHOT);
	ret = steer_established(skb, p, v6);
	if (ret >= 0)
		return ret;
	if (!p->tcp->syn || p->tcp->ack)
		return steer_verdict(AMBIT_DROP_NO_PROXY, TC_ACT_SHOT);
	sk = steer_proxy_sock(p, v6);
	if (!sk)
		return steer_verdict(AMBIT_DROP_NO_PROXY, TC_ACT_SHOT);
	ret = steer_assign(skb, sk, AMBIT_ASSIGN_INBOUND);
	bpf_sk_release(sk);
	return ret;
}

/*
 * Host capture, first at tc_ingress: a segment nodeguard_to_ingress turned back into the node
 * (AMBIT_NODE_MARK, which only it sets: a pod's packet crossed netns, which clears the mark, and
 * so did the uplink's). Not a pod's, so the veth's anti-spoofing is not for it: it goes to the
 * socket of the ztunnel's that owns its flow, or a SYN to the plaintext inbound listener (the
 * kernel's refusals judged it at egress), else it is dropped; the rest returns -1. A global
 * function, as nodeguard_pod_probe.
 */
__noinline int nodeguard_ingress(struct __sk_buff *skb)
{
	void *data_end = (void *)(long)skb->data_end;
	void *data = (void *)(long)skb->data;
	struct ethhdr *eth = data;
	struct pkt p = {};

	if (skb->mark != AMBIT_NODE_MARK)
		return -1;
	skb->mark = 0;
	switch (parse_ipv4_tcp(skb, &p)) {
	case PARSE_OK:
		return nodeguard_ingress_tcp(skb, &p, bpf_map_lookup_elem(&workloads, &p.ip->daddr),
					     false);
	case PARSE_NOT_IPV4: break;
	default: return steer_verdict(AMBIT_DROP_MALFORMED, TC_ACT_SHOT);
	}
	/*
	 * IPv6 with TCP right after the fixed header, all nodeguard_to_ingress sends (a walk of
	 * the extension headers, parse_ipv6, took tc_ingress past the verifier's budget).
	 */
	p.ip6 = (void *)(eth + 1);
	p.tcp = (void *)(p.ip6 + 1);
	if ((void *)(p.tcp + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6) ||
	    p.ip6->nexthdr != IPPROTO_TCP)
		return steer_verdict(AMBIT_DROP_MALFORMED, TC_ACT_SHOT);
	p.l3_len = sizeof(*p.ip6);
	p.proto = IPPROTO_TCP;
	return nodeguard_ingress_tcp(skb, &p, bpf_map_lookup_elem(&workloads6, &p.ip6->daddr),
				     true);
}

#endif
