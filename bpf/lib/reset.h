/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The TCP reset a refused SYN gets (DESIGN.md §2 "Kernel fast drops"). The SYN itself becomes
 * the reset a closed port answers with (RFC 9293 §3.10.7.1) and leaves by the interface it came
 * in on, so the client sees "connection refused" at once, as a reset from Istio's ztunnel, rather
 * than retrying its SYN until it times out. On the node uplink that is back to the node that
 * forwarded it; on a pod veth, back to the pod.
 */
#ifndef AMBIT_BPF_RESET_H
#define AMBIT_BPF_RESET_H

#include "lib/parse.h"

#define TC_ACT_REDIRECT 7
#define ETH_ALEN 6
#define IP_DF 0x4000
#define RESET_TTL 64 /* Linux's default TTL and hop limit, as the stack's own resets carry */
#define RESET_TCP_RST_ACK 0x5014 /* data offset 5 words, flags RST|ACK (host order) */
#define RESET_TCP_RST 0x5004	 /* data offset 5 words, flags RST (host order) */

/* One's complement sum of @words 16-bit words at @p (aligned stack memory), added to @sum. */
static __always_inline __u32 reset_csum_add(__u32 sum, const void *p, int words)
{
	const __u16 *w = p;

#pragma unroll
	for (int i = 0; i < words; i++)
		sum += w[i];
	return sum;
}

static __always_inline __u16 reset_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/*
 * Into @rip: the IPv4 header of a reply to @ip (addresses swapped, its TOS echoed, no options,
 * DF, Linux's default TTL) carrying @l4_len bytes of protocol @proto, its checksum complete.
 */
static __always_inline void reset_reply_ip(struct iphdr *rip, const struct iphdr *ip, __u8 proto,
					   __u32 l4_len)
{
	rip->version = 4;
	rip->ihl = 5;
	rip->tos = ip->tos; /* as the stack's own resets echo it */
	rip->tot_len = bpf_htons(sizeof(struct iphdr) + l4_len);
	rip->frag_off = bpf_htons(IP_DF);
	rip->ttl = RESET_TTL;
	rip->protocol = proto;
	rip->saddr = ip->daddr;
	rip->daddr = ip->saddr;
	rip->check = reset_csum_fold(reset_csum_add(0, rip, sizeof(*rip) / 2));
}

/*
 * Into @rip6: the IPv6 header of a reply to @ip6 (addresses swapped, its traffic class echoed as
 * tcp_v6_send_reset does, flow label 0, no extension headers, Linux's default hop limit)
 * carrying @l4_len bytes of protocol @proto.
 */
static __always_inline void reset_reply_ip6(struct ipv6hdr *rip6, const struct ipv6hdr *ip6,
					    __u8 proto, __u32 l4_len)
{
	rip6->version = 6;
	rip6->priority = ip6->priority;
	rip6->flow_lbl[0] = ip6->flow_lbl[0] & 0xf0;
	rip6->payload_len = bpf_htons(l4_len);
	rip6->nexthdr = proto;
	rip6->hop_limit = RESET_TTL;
	rip6->saddr = ip6->daddr;
	rip6->daddr = ip6->saddr;
}

/*
 * Turns the segment in @skb (no RST: the caller checks), parsed into @p (IPv6 when @v6), into
 * the reset a closed port answers it with, and redirects it. Returns TC_ACT_REDIRECT, or -1 when
 * the skb cannot be cut to the reset's size or rewritten (the caller drops it then, as before
 * resets existed).
 *
 * As RFC 9293 §3.10.7.1 says and tcp_v4_send_reset and tcp_v6_send_reset do: a segment with no
 * ACK (a SYN) gets a reset with sequence number 0 that acknowledges everything the segment
 * occupied (SYN, FIN and payload); one with an ACK gets a reset whose sequence number is that
 * acknowledgment, and no ACK of its own. No options, no payload, window 0. The checksums are
 * complete: a SYN from a pod's own stack may carry CHECKSUM_PARTIAL, which the peer veth's receiver
 * trusts without reading the field, and anything from a real NIC is no longer partial, so no device
 * is left to finish one. IPv6 has no header checksum; its TCP one covers the RFC 8200 §8.1
 * pseudo-header (addresses, upper-layer length, Next Header).
 */
static __always_inline int reset_reply(struct __sk_buff *skb, const struct pkt *p, bool v6)
{
	const struct tcphdr *tcp = p->tcp;
	__u32 hdrs = p->l3_len + tcp->doff * 4, tot = pkt_ip_len(p, v6);
	__u32 seg_len = (tot > hdrs ? tot - hdrs : 0) + tcp->syn + tcp->fin;
	__u32 l3_len = v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	struct ethhdr eth = {.h_proto = bpf_htons(v6 ? ETH_P_IPV6 : ETH_P_IP)};
	struct ipv6hdr rip6 = {};
	struct iphdr rip = {};
	struct tcphdr rtcp = {};
	void *data, *data_end;
	struct ethhdr *peth;
	__u32 sum;

	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	peth = data;
	if ((void *)(peth + 1) > data_end)
		return -1;
	__builtin_memcpy(eth.h_dest, peth->h_source, ETH_ALEN);
	__builtin_memcpy(eth.h_source, peth->h_dest, ETH_ALEN);

	/* Pseudo-header: addresses, then protocol and TCP length (their order is the sum's). */
	sum = bpf_htons(IPPROTO_TCP) + bpf_htons(sizeof(struct tcphdr));
	if (v6) {
		reset_reply_ip6(&rip6, p->ip6, IPPROTO_TCP, sizeof(struct tcphdr));
		sum = reset_csum_add(sum, &rip6.saddr, 2 * sizeof(rip6.saddr) / 2);
	} else {
		reset_reply_ip(&rip, p->ip, IPPROTO_TCP, sizeof(struct tcphdr));
		sum += (rip.saddr & 0xffff) + (rip.saddr >> 16) + (rip.daddr & 0xffff) +
		       (rip.daddr >> 16);
	}

	rtcp.source = tcp->dest;
	rtcp.dest = tcp->source;
	if (tcp->ack) {
		rtcp.seq = tcp->ack_seq;
		((__u16 *)&rtcp)[6] = bpf_htons(RESET_TCP_RST);
	} else {
		rtcp.ack_seq = bpf_htonl(bpf_ntohl(tcp->seq) + seg_len);
		((__u16 *)&rtcp)[6] = bpf_htons(RESET_TCP_RST_ACK);
	}
	rtcp.check = reset_csum_fold(reset_csum_add(sum, &rtcp, sizeof(rtcp) / 2));

	/* Options, extension headers and payload go; every packet pointer is stale after this. */
	if (bpf_skb_change_tail(skb, sizeof(eth) + l3_len + sizeof(rtcp), 0))
		return -1;
	if (bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0) ||
	    bpf_skb_store_bytes(skb, sizeof(eth), v6 ? (void *)&rip6 : (void *)&rip, l3_len, 0) ||
	    bpf_skb_store_bytes(skb, sizeof(eth) + l3_len, &rtcp, sizeof(rtcp), 0))
		return -1;
	skb->mark = 0;
	return bpf_redirect(skb->ingress_ifindex, 0);
}

#endif
