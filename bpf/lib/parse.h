/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Bounds-checked Ethernet/IPv4/TCP and Ethernet/IPv6/extension headers/TCP parsing for tc. */
#ifndef AMBIT_BPF_PARSE_H
#define AMBIT_BPF_PARSE_H

#include "vmlinux.h"
#include <bpf/bpf_endian.h>

/* UAPI #defines that vmlinux.h (BTF types only) does not carry. */
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
/* IPv6 Next Header values (linux/in6.h, #defines not in BTF). */
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_ICMPV6 58
#define NEXTHDR_DEST 60
#define IP6_MF 0x0001
#define IP6_OFFSET 0xfff8
/* Extension headers walked before a packet counts as malformed (parse_ipv6). */
#define PARSE_IPV6_MAX_EXT 8
/* A mask above the longest header chain that walk accepts (40 + 8 * 2,048 bytes). */
#define PARSE_IPV6_MAX_L3 0x7fff
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

/* A parsed packet of either family: @ip or @ip6 is set, by which parser filled it. */
struct pkt {
	struct iphdr *ip;
	struct ipv6hdr *ip6;
	struct tcphdr *tcp; /* NULL unless protocol is TCP and this is the first fragment */
	__u16 l3_len;	    /* bytes from the IP header to the transport header */
	__u8 proto;	    /* the transport: IPv4's protocol, IPv6's last Next Header */
	bool fragment;	    /* MF set or non-zero offset */
	bool tail;	    /* a fragment but the first: data, no transport header */
	__u32 frag_id;	    /* a fragment's Identification (IPv4's 16 bits, IPv6's 32) */
};

/* The IP packet's length by its header (what Ethernet padding follows is not in it). */
static __always_inline __u32 pkt_ip_len(const struct pkt *p, bool v6)
{
	if (v6)
		return sizeof(struct ipv6hdr) + bpf_ntohs(p->ip6->payload_len);
	return bpf_ntohs(p->ip->tot_len);
}

/* The TCP header at @l4, or NULL with *@bad set when it is cut short or its doff below 5. */
static __always_inline struct tcphdr *parse_tcp(void *l4, void *data_end, bool *bad)
{
	struct tcphdr *tcp = l4;

	if ((void *)(tcp + 1) > data_end || tcp->doff < 5) {
		*bad = true;
		return NULL;
	}
	return tcp;
}

/* Parses up to and including the IPv4 header (options skipped by ihl) and the TCP header. */
static __always_inline enum parse_result parse_ipv4_tcp(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	__u32 ihl_bytes;
	bool bad = false;

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
	p->ip6 = NULL;
	p->tcp = NULL;
	p->l3_len = ihl_bytes;
	p->proto = ip->protocol;
	p->fragment = (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)) != 0;
	p->tail = (ip->frag_off & bpf_htons(IP_OFFSET)) != 0;
	p->frag_id = ip->id;
	if (ip->protocol != IPPROTO_TCP)
		return PARSE_OK;
	/* A non-first fragment carries no TCP header: the caller decides what that means. */
	if (ip->frag_off & bpf_htons(IP_OFFSET))
		return PARSE_OK;
	p->tcp = parse_tcp((void *)ip + ihl_bytes, data_end, &bad);
	return bad ? PARSE_MALFORMED : PARSE_OK;
}

/*
 * Bytes of the extension header @nh starting at @h (its first two bytes checked by the caller):
 * Authentication Header counts 4-byte units less 2 (RFC 4302 §2.2), a Fragment header is 8
 * (RFC 8200 §4.5), the others 8-byte units less 1 (§4.3, §4.4, §4.6).
 */
static __always_inline __u32 parse_ipv6_ext_len(__u8 nh, const struct ipv6_opt_hdr *h)
{
	if (nh == NEXTHDR_FRAGMENT)
		return sizeof(struct frag_hdr);
	if (nh == NEXTHDR_AUTH)
		return (h->hdrlen + 2) * 4;
	return (h->hdrlen + 1) * 8;
}

/*
 * An IPv6 frame to its transport header: the fixed header, then up to PARSE_IPV6_MAX_EXT
 * Hop-by-Hop, Routing, Fragment, Destination Options and Authentication headers, as the stack
 * walks them (RFC 8200 §4); the first other Next Header (TCP, UDP, ICMPv6, No Next Header,
 * anything unknown) is the transport. A chain longer than the bound, or a header running past
 * the packet, is malformed: the verifier wants the walk bounded, and no sender needs more
 * (RFC 8200 §4.1 names six kinds, each once but Destination Options). A Fragment header with
 * an offset or M set makes @p a fragment; behind a non-first one is no header but data, so the
 * walk stops there with @p->tcp NULL, as for IPv4. Once the fixed header is read @p->ip6 is set,
 * even when the chain behind it is malformed.
 */
static __always_inline bool parse_ipv6_is_ext(__u8 nh)
{
	return nh == NEXTHDR_HOP || nh == NEXTHDR_ROUTING || nh == NEXTHDR_FRAGMENT ||
	       nh == NEXTHDR_AUTH || nh == NEXTHDR_DEST;
}

static __always_inline enum parse_result parse_ipv6(struct __sk_buff *skb, struct pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u32 off = sizeof(struct ipv6hdr);
	struct ipv6hdr *h;
	bool bad = false;
	__u8 nh;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return PARSE_NOT_IPV6;
	h = (void *)(eth + 1);
	if ((void *)(h + 1) > data_end || h->version != 6)
		return PARSE_MALFORMED;
	p->ip = NULL;
	p->ip6 = h;
	p->tcp = NULL;
	p->fragment = false;
	p->tail = false;
	nh = h->nexthdr;
	for (int i = 0; i < PARSE_IPV6_MAX_EXT && parse_ipv6_is_ext(nh); i++) {
		/* At most 2 KiB a header: the verifier bounds @off by the loop's count. */
		struct ipv6_opt_hdr *ext = (void *)h + off;
		struct frag_hdr *frag = (void *)ext;

		if ((void *)(ext + 1) > data_end)
			return PARSE_MALFORMED;
		if (nh == NEXTHDR_FRAGMENT) {
			if ((void *)(frag + 1) > data_end)
				return PARSE_MALFORMED;
			p->fragment |= (frag->frag_off & bpf_htons(IP6_MF | IP6_OFFSET)) != 0;
			p->frag_id = frag->identification;
			if (frag->frag_off & bpf_htons(IP6_OFFSET)) {
				p->tail = true;
				p->l3_len = off + sizeof(*frag);
				p->proto = frag->nexthdr;
				return PARSE_OK;
			}
		}
		off += parse_ipv6_ext_len(nh, ext);
		nh = ext->nexthdr;
		if ((void *)h + off > data_end)
			return PARSE_MALFORMED;
	}
	if (parse_ipv6_is_ext(nh))
		return PARSE_MALFORMED;
	/*
	 * Each count of extension headers leaves @off in a range of its own, and the verifier
	 * would carry each of them apart through all that follows (it did: 9 in 10 of tc_ingress's
	 * budget went to its IPv6 TCP). Read back from the skb's scratch space, @off is one
	 * unknown within the same bounds on every path, which the checks below bound again.
	 */
	skb->cb[0] = off;
	off = skb->cb[0] & PARSE_IPV6_MAX_L3;
	p->l3_len = off;
	p->proto = nh;
	if (nh != IPPROTO_TCP)
		return PARSE_OK;
	p->tcp = parse_tcp((void *)h + off, data_end, &bad);
	return bad ? PARSE_MALFORMED : PARSE_OK;
}

#endif
