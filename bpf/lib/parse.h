/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Bounds-checked Ethernet/IPv4/TCP (and fixed IPv6 header) parsing for tc programs. */
#ifndef AMBIT_BPF_PARSE_H
#define AMBIT_BPF_PARSE_H

#include "vmlinux.h"
#include <bpf/bpf_endian.h>

/* UAPI #defines that vmlinux.h (BTF types only) does not carry. */
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define NEXTHDR_ICMPV6 58 /* IPPROTO_ICMPV6: a #define of linux/in6.h, not in BTF */
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define ETH_ALEN 6
#define AF_INET6 10

enum parse_result {
	PARSE_OK = 0,
	PARSE_NOT_IPV4, /* not ours to judge: let the stack handle it */
	PARSE_MALFORMED,
	PARSE_NOT_IPV6, /* parse_ipv6: not an IPv6 frame */
};

struct pkt {
	struct iphdr *ip;
	struct tcphdr *tcp; /* NULL unless protocol is TCP and this is the first fragment */
	bool fragment;	    /* MF set or non-zero offset */
};

/* Parses up to and including the IPv4 header (options skipped by ihl) and the TCP header. */
static __always_inline enum parse_result parse_ipv4_tcp(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct tcphdr *tcp;
	__u32 ihl_bytes;

	if ((void *)(eth + 1) > data_end)
		return PARSE_NOT_IPV4; /* not even Ethernet: nothing we can say it is */
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return PARSE_NOT_IPV4;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return PARSE_MALFORMED;
	if (ip->version != 4 || ip->ihl < 5)
		return PARSE_MALFORMED;
	/* ihl is a 4-bit field, so the verifier knows this offset is at most 60. */
	ihl_bytes = ip->ihl * 4;
	if ((void *)ip + ihl_bytes > data_end)
		return PARSE_MALFORMED;
	p->ip = ip;
	p->tcp = NULL;
	p->fragment = (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)) != 0;
	if (ip->protocol != IPPROTO_TCP)
		return PARSE_OK;
	/* A non-first fragment carries no TCP header: the caller decides what that means. */
	if (ip->frag_off & bpf_htons(IP_OFFSET))
		return PARSE_OK;
	tcp = (void *)ip + ihl_bytes;
	if ((void *)(tcp + 1) > data_end)
		return PARSE_MALFORMED;
	if (tcp->doff < 5)
		return PARSE_MALFORMED;
	p->tcp = tcp;
	return PARSE_OK;
}

/*
 * The fixed IPv6 header of an IPv6 frame, and nothing past it. While the mesh carries IPv4 only,
 * the tc programs judge an IPv6 packet by its first Next Header alone (lib/steer.h, steer_v6):
 * extension headers are not walked, so a transport header behind one counts as "not ICMPv6".
 */
static __always_inline enum parse_result parse_ipv6(struct __sk_buff *skb, struct ipv6hdr **ip6)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *h;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return PARSE_NOT_IPV6;
	h = (void *)(eth + 1);
	if ((void *)(h + 1) > data_end || h->version != 6)
		return PARSE_MALFORMED;
	*ip6 = h;
	return PARSE_OK;
}

#endif
