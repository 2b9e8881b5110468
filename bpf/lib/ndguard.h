/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What ICMPv6 a pod may send, judged at tc ingress on its host-side veth for every pod of the
 * node, in the mesh or not. On a bridge the pods of a node share one link, so a pod's Router
 * Advertisement (RFC 4861 §4.2) gives its neighbours an address and a default route through the
 * sender, and a Redirect (§4.5) moves their next hop to it (the CVE-2020-10749 class); a
 * Neighbour Advertisement for another's address (§4.4) takes that address' traffic. A pod is no
 * router: its RA and Redirect are dropped, and its NA only names its own address (the one the
 * mesh knows it by, or the link-local address it sends from). Router and Neighbour Solicitations,
 * MLD, echo and the error messages (path MTU discovery needs Packet Too Big) pass as before.
 * A non-first fragment shows no ICMPv6 header and is not judged: neighbour discovery is never
 * fragmented (RFC 6980), and the kernel ignores such messages that are (suppress_frag_ndisc).
 */
#ifndef AMBIT_BPF_NDGUARD_H
#define AMBIT_BPF_NDGUARD_H

#include "lib/maps.h"
#include "lib/counters.h"
#include "lib/parse.h"

#define NDGUARD_RA 134
#define NDGUARD_NA 136
#define NDGUARD_REDIRECT 137
/* An NA's target follows type, code, checksum and flags (RFC 4861 §4.4). */
#define NDGUARD_TARGET_OFF 8

static __always_inline bool ndguard_same(const struct in6_addr *a, const __u32 *b)
{
	return ((a->in6_u.u6_addr32[0] ^ b[0]) | (a->in6_u.u6_addr32[1] ^ b[1]) |
		(a->in6_u.u6_addr32[2] ^ b[2]) | (a->in6_u.u6_addr32[3] ^ b[3])) == 0;
}

/* Whether @p, an NA from a pod whose mesh IPv6 is @own (NULL: none known), is for its own. */
static __always_inline bool ndguard_own_target(struct __sk_buff *skb, const struct pkt *p, __u32 l4,
					       const struct ambit_ip6 *own)
{
	struct in6_addr target;

	if (bpf_skb_load_bytes(skb, l4 + NDGUARD_TARGET_OFF, &target, sizeof(target)))
		return false;
	/* Its link-local address, which it sends from (the anti-spoofing allows no other). */
	if (target.in6_u.u6_addr8[0] == 0xfe && (target.in6_u.u6_addr8[1] & 0xc0) == 0x80)
		return ndguard_same(&target, p->ip6->saddr.in6_u.u6_addr32);
	return own && ndguard_same(&target, own->a);
}

/*
 * ICMPv6 @p came in by host-side veth @ifindex, whose pod's IPv6 is @own (pod_ifaces6; NULL when
 * the node knows the pod by IPv4 alone): the verdict when it must be dropped, -1 to go on. Not
 * ICMPv6, or not from a pod's veth: -1.
 */
static __always_inline int ndguard_pod(struct __sk_buff *skb, const struct pkt *p, __u32 ifindex,
				       const struct ambit_ip6 *own)
{
	__u32 l4 = sizeof(struct ethhdr) + p->l3_len;
	__u8 type;

	if (p->proto != NEXTHDR_ICMPV6 || p->fragment)
		return -1;
	if (!own && !bpf_map_lookup_elem(&pod_ifaces, &ifindex))
		return -1;
	if (bpf_skb_load_bytes(skb, l4, &type, sizeof(type)))
		return -1; /* no ICMPv6 header: the stack drops it, as any truncated one */
	if (type == NDGUARD_RA || type == NDGUARD_REDIRECT ||
	    (type == NDGUARD_NA && !ndguard_own_target(skb, p, l4, own))) {
		counter_inc(AMBIT_DROP_POD_ND);
		return TC_ACT_SHOT;
	}
	return -1;
}

#endif
