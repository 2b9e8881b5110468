/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Ports a pod leaves out of capture (excl_ports, bpf_abi.h), as Istio's sidecar annotations
 * traffic.sidecar.istio.io/excludeOutboundPorts and excludeInboundPorts leave them out of its
 * iptables: what goes there is the pod's own, plaintext, as if it were not in the mesh. connect
 * asks by the pod's cgroup (its TCP is not steered to the ztunnel), tc by its veth (its UDP is
 * not; plaintext to such a port of the pod passes STRICT and the mesh's policy; and the answers
 * to its own TCP, which no socket of the node owns, reach it: excl_replies, written at its SYN).
 */
#ifndef AMBIT_BPF_EXCL_H
#define AMBIT_BPF_EXCL_H

#include "lib/maps.h"
#include "lib/parse.h"

/*
 * @p's TCP flow, its addresses and ports as it goes (struct ambit_flow, ambit_flow6), looked up
 * in @map, or @map6 for IPv6 (@v6 a constant at each call): the value, or NULL.
 */
static __always_inline void *excl_tcp_flow(const struct pkt *p, bool v6, void *map, void *map6)
{
	if (v6) {
		struct ambit_flow6 k = {.sport = p->tcp->source, .dport = p->tcp->dest};

		__builtin_memcpy(k.saddr, &p->ip6->saddr, sizeof(k.saddr));
		__builtin_memcpy(k.daddr, &p->ip6->daddr, sizeof(k.daddr));
		return bpf_map_lookup_elem(map6, &k);
	} else {
		struct ambit_flow k = {.saddr = p->ip->saddr,
				       .daddr = p->ip->daddr,
				       .sport = p->tcp->source,
				       .dport = p->tcp->dest};

		return bpf_map_lookup_elem(map, &k);
	}
}

/* Whether the pod @id (a cgroup id or a veth's ifindex, as @dir says) leaves out @port/@proto. */
static __always_inline bool excl_port(__u64 id, __be16 port, __u8 proto, __u8 dir)
{
	struct ambit_excl_key k = {.id = id, .port = port, .proto = proto, .dir = dir};

	return bpf_map_lookup_elem(&excl_ports, &k) != NULL;
}

/*
 * Whether @wl, a workload captured on this node, on its veth or (@inpod) in its own netns, leaves
 * out @port/@proto going @dir. Its entries are keyed by its veth's ifindex either way: an in-pod
 * pod's eth0 programs (steer_pod_udp, steer_pod_udp_in, steer_pod_tcp) ask by the same key.
 */
static __always_inline bool excl_wl_port(const struct ambit_workload *wl, __be16 port, __u8 proto,
					 __u8 dir, bool inpod)
{
	const __u32 want = AMBIT_WL_EXCL | AMBIT_WL_LOCAL | (inpod ? AMBIT_WL_INPOD : 0);

	return wl && (wl->flags & (AMBIT_WL_EXCL | AMBIT_WL_LOCAL | AMBIT_WL_INPOD)) == want &&
	       excl_port(wl->ifindex, port, proto, dir);
}

/*
 * @p, a SYN leaving a pod by its veth: when the pod leaves its destination port out of capture,
 * its answers are written down, keyed as they will come (the peer, the pod, their ports).
 */
static __always_inline void excl_note_syn(const struct pkt *p, bool v6)
{
	struct ambit_workload *src;
	struct ambit_flow6 r6 = {};
	struct ambit_flow r = {};
	__u32 one = 1;

	src = v6 ? bpf_map_lookup_elem(&workloads6, &p->ip6->saddr)
		 : bpf_map_lookup_elem(&workloads, &p->ip->saddr);
	if (!excl_wl_port(src, p->tcp->dest, IPPROTO_TCP, AMBIT_EXCL_OUT_IFACE, false))
		return;
	if (v6) {
		__builtin_memcpy(r6.saddr, &p->ip6->daddr, sizeof(r6.saddr));
		__builtin_memcpy(r6.daddr, &p->ip6->saddr, sizeof(r6.daddr));
		r6.sport = p->tcp->dest;
		r6.dport = p->tcp->source;
		bpf_map_update_elem(&excl_replies6, &r6, &one, BPF_ANY);
		return;
	}
	r.saddr = p->ip->daddr;
	r.daddr = p->ip->saddr;
	r.sport = p->tcp->dest;
	r.dport = p->tcp->source;
	bpf_map_update_elem(&excl_replies, &r, &one, BPF_ANY);
}

/* Whether @p, TCP to a captured pod, answers a connection the pod opened past the mesh. */
static __always_inline bool excl_reply(const struct pkt *p, bool v6)
{
	return excl_tcp_flow(p, v6, &excl_replies, &excl_replies6) != NULL;
}

#endif
