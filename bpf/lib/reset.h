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
#define RESET_TTL 64 /* Linux's default ip_default_ttl, as the stack's own resets carry */
#define RESET_TCP_RST_ACK 0x5014 /* data offset 5 words, flags RST|ACK (host order) */
#define RESET_FRAME_LEN (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct tcphdr))

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
 * Turns the SYN (no ACK, no RST: the caller checks) in @skb, parsed as @ip/@tcp, into its reset
 * and redirects it. Returns TC_ACT_REDIRECT, or -1 when the skb cannot be cut to the reset's size
 * or rewritten (the caller drops it then, as before resets existed).
 *
 * No ACK was received, so the reset has sequence number 0 and acknowledges everything the
 * segment occupied: SYN, FIN and payload (RFC 9293 §3.10.7.1, as tcp_v4_send_reset does); no
 * options, no payload, window 0. The checksums are complete: a SYN from a pod's own stack may
 * carry CHECKSUM_PARTIAL, which the peer veth's receiver trusts without reading the field, and
 * anything from a real NIC is no longer partial, so no device is left to finish one.
 */
static __always_inline int reset_reply(struct __sk_buff *skb, const struct iphdr *ip,
				       const struct tcphdr *tcp)
{
	__u32 hdrs = ip->ihl * 4 + tcp->doff * 4, tot = bpf_ntohs(ip->tot_len);
	__u32 seg_len = (tot > hdrs ? tot - hdrs : 0) + tcp->syn + tcp->fin;
	struct ethhdr eth = {.h_proto = bpf_htons(ETH_P_IP)};
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

	reset_reply_ip(&rip, ip, IPPROTO_TCP, sizeof(struct tcphdr));

	rtcp.source = tcp->dest;
	rtcp.dest = tcp->source;
	rtcp.ack_seq = bpf_htonl(bpf_ntohl(tcp->seq) + seg_len);
	((__u16 *)&rtcp)[6] = bpf_htons(RESET_TCP_RST_ACK);
	/* Pseudo-header: addresses, zero + protocol, TCP length; then the header itself. */
	sum = (rip.saddr & 0xffff) + (rip.saddr >> 16) + (rip.daddr & 0xffff) + (rip.daddr >> 16) +
	      bpf_htons(IPPROTO_TCP) + bpf_htons(sizeof(struct tcphdr));
	rtcp.check = reset_csum_fold(reset_csum_add(sum, &rtcp, sizeof(rtcp) / 2));

	/* Options and payload go; every packet pointer is stale after this. */
	if (bpf_skb_change_tail(skb, RESET_FRAME_LEN, 0))
		return -1;
	if (bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0) ||
	    bpf_skb_store_bytes(skb, sizeof(eth), &rip, sizeof(rip), 0) ||
	    bpf_skb_store_bytes(skb, sizeof(eth) + sizeof(rip), &rtcp, sizeof(rtcp), 0))
		return -1;
	skb->mark = 0;
	return bpf_redirect(skb->ingress_ifindex, 0);
}

#endif
