/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The node's own traffic to its pods in host capture: tc egress on the host side of every pod
 * veth (tc_veth_egress). A connection the node's network namespace opens to one of its pods
 * (a node process, a hostNetwork pod) leaves by the pod's veth and never passes tc ingress, so
 * in host capture it reached an enrolled pod in plaintext past STRICT and DENY ipBlocks, where
 * in-pod capture (tc_pod, in the pod's netns) refuses it as any plaintext from outside the
 * mesh. Here the same kernel refusals (steer_fastdrop) judge a new plaintext flow from an
 * address of the node's own to a pod captured the host way; the reset goes back into the node
 * by the veth's ingress, as if the pod had sent it, so the client fails at once. HBONE (15008)
 * is not plaintext, and the ztunnel's own connections to the pod leave from their client's
 * address (IP_TRANSPARENT), which is not the node's: both pass. So does every packet but a SYN:
 * an open flow is no new connection.
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

/* A TCP packet of either family (@v6 a constant at each call, steer_tcp's rule) to @wl. */
static __always_inline int nodeguard_tcp(struct __sk_buff *skb, const struct pkt *p,
					 const struct ambit_workload *wl, bool v6)
{
	int ret;

	if (!p->tcp || !p->tcp->syn || p->tcp->ack || p->tcp->rst ||
	    p->tcp->dest == bpf_htons(AMBIT_PORT_HBONE))
		return TC_ACT_OK;
	/* Captured the host way: an in-pod pod's own tc_pod judges its traffic. */
	if (!wl || (wl->flags & (AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL | AMBIT_WL_INPOD)) !=
		       (AMBIT_WL_ENROLLED | AMBIT_WL_LOCAL))
		return TC_ACT_OK;
	if (!nodeguard_local_source(skb, p, v6))
		return TC_ACT_OK;
	ret = steer_fastdrop(skb, p, v6);
	if (ret < 0)
		return TC_ACT_OK;
	/* The reset leaves by where the SYN came in; this one came from the node itself. */
	if (ret == TC_ACT_REDIRECT)
		return bpf_redirect(skb->ifindex, BPF_F_INGRESS);
	return ret;
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

#endif
