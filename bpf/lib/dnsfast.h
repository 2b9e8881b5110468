/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * DNS in the kernel (DESIGN.md §2): a pod's UDP query to the DNS proxy (steered there by the
 * capture's sendmsg hook) that the proxy already answered for this pod, under the current
 * generation, is answered here, at tc ingress on the pod's veth (back out the veth it came in
 * on), or for a pod captured in-pod at tc egress on its own eth0 (back in as received): the
 * packet becomes the answer (the query's id in it), so the proxy's socket, its wake-up and both
 * system calls are skipped. No DNS is parsed: the query's bytes after its id
 * are the key (bpf_abi.h, dns_answers). Everything else goes on to the proxy as before.
 *
 * Over IPv6 alike, to [dns_proxy_ip6]:15053 and from dns_answers6 by the pod's IPv6: the answer
 * gets a fixed header with no extension headers and a UDP checksum, which IPv6 requires (RFC
 * 8200 §8.1). Over IPv4 the answer goes without one, as RFC 768 allows.
 */
#ifndef AMBIT_BPF_DNSFAST_H
#define AMBIT_BPF_DNSFAST_H

#include "lib/maps.h"
#include "lib/counters.h"
#include "lib/parse.h"
#include "lib/reset.h"

/* The address the capture sends DNS to (the node's, the ztunnel's); set by the loader. */
const volatile __u32 dns_proxy_ip = 0;
/* The same over IPv6 (the ztunnel's IPv6, network order); all zero on a node without one. */
const volatile __u32 dns_proxy_ip6[4] = {};

/* Whether @p (IPv6 when @v6) is addressed to the DNS proxy's address of its family. */
static __always_inline bool dnsfast_to_proxy(const struct pkt *p, bool v6)
{
	const __u32 *d;

	if (!v6)
		return dns_proxy_ip && p->ip->daddr == dns_proxy_ip;
	/* The loader's constant: the verifier folds this away on a node with an IPv6. */
	if (!(dns_proxy_ip6[0] | dns_proxy_ip6[1] | dns_proxy_ip6[2] | dns_proxy_ip6[3]))
		return false;
	d = p->ip6->daddr.in6_u.u6_addr32;
	return d[0] == dns_proxy_ip6[0] && d[1] == dns_proxy_ip6[1] && d[2] == dns_proxy_ip6[2] &&
	       d[3] == dns_proxy_ip6[3];
}

/* Whether @p (IPv6 when @v6) comes from the DNS proxy's address of its family. */
static __always_inline bool dnsfast_from_proxy(const struct pkt *p, bool v6)
{
	const __u32 *s;

	if (!v6)
		return dns_proxy_ip && p->ip->saddr == dns_proxy_ip;
	if (!(dns_proxy_ip6[0] | dns_proxy_ip6[1] | dns_proxy_ip6[2] | dns_proxy_ip6[3]))
		return false;
	s = p->ip6->saddr.in6_u.u6_addr32;
	return s[0] == dns_proxy_ip6[0] && s[1] == dns_proxy_ip6[1] && s[2] == dns_proxy_ip6[2] &&
	       s[3] == dns_proxy_ip6[3];
}

/*
 * The answer published for @p's source and its query's @qlen bytes after the id (10..QMAX, at
 * @off of @skb), from its family's map; NULL when there is none or the bytes cannot be read.
 */
static __always_inline struct ambit_dns_answer *
dnsfast_lookup(struct __sk_buff *skb, const struct pkt *p, __u32 off, __u32 qlen, bool v6)
{
	if (v6) {
		struct ambit_dns_key6 key = {};

		__builtin_memcpy(key.pod_ip6, &p->ip6->saddr, sizeof(key.pod_ip6));
		key.qlen = qlen;
		if (bpf_skb_load_bytes(skb, off, key.q, qlen))
			return NULL;
		return bpf_map_lookup_elem(&dns_answers6, &key);
	} else {
		struct ambit_dns_key key = {};

		key.pod_ip = p->ip->saddr;
		key.qlen = qlen;
		if (bpf_skb_load_bytes(skb, off, key.q, qlen))
			return NULL;
		return bpf_map_lookup_elem(&dns_answers, &key);
	}
}

/*
 * Into *@csum: the UDP checksum of answer @v (@alen bytes, 12..AMBIT_DNS_AMAX) sent under query
 * id @id, @sum being the one's complement sum of the pseudo-header and the UDP header (checksum
 * field zero). bpf_csum_diff sums whole 32-bit words, 512 bytes at most (AMBIT_DNS_AMAX); the
 * 1 to 3 bytes past the last whole word are added as a zero-padded word (RFC 1071 pads an odd
 * length so), and the id the map holds (the proxy's own) is swapped for the query's, in one's
 * complement (adding ~old subtracts it). A sum of 0 goes as 0xffff (RFC 768, RFC 8200 §8.1).
 * -1 when the helper refuses.
 */
static __always_inline int dnsfast_udp_csum(const struct ambit_dns_answer *v, __u32 alen, __u16 id,
					    __u32 sum, __u16 *csum)
{
	__u32 whole = alen & ~3u, tail = 0;
	__u16 old;
	__s64 s;

	__builtin_memcpy(&old, v->a, sizeof(old));
	for (__u32 i = 0; i < 3; i++)
		if (whole + i < alen)
			((__u8 *)&tail)[i] = v->a[(whole + i) & (AMBIT_DNS_AMAX - 1)];
	/* Both halves of @tail as they lie in memory, as every other word here is summed. */
	sum += (__u16)~old + id + (tail & 0xffff) + (tail >> 16);
	s = bpf_csum_diff(NULL, 0, (__be32 *)v->a, whole, sum);
	if (s < 0)
		return -1;
	*csum = reset_csum_fold((__u32)s);
	if (!*csum)
		*csum = 0xffff;
	return 0;
}

/*
 * @p (parsed, not a fragment, UDP; IPv6 when @v6) from a pod veth, or leaving an in-pod pod's
 * eth0 (@egress): TC_ACT_REDIRECT when answered here, -1 when the packet must go on (not a
 * query to the proxy, not known, too long). Once the rewrite into the answer begins it is the
 * answer or dropped (TC_ACT_SHOT): the client asks again.
 */
static __always_inline int dnsfast_answer(struct __sk_buff *skb, const struct pkt *p, bool v6,
					  bool egress)
{
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *peth = (void *)(long)skb->data;
	__u32 l4 = sizeof(struct ethhdr) + p->l3_len, zero = 0, qlen, alen, sum;
	__u32 l3_len = v6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	__u32 hdrs = sizeof(struct ethhdr) + l3_len + sizeof(struct udphdr);
	struct ethhdr eth = {.h_proto = bpf_htons(v6 ? ETH_P_IPV6 : ETH_P_IP)};
	struct ambit_dns_answer *v;
	struct ipv6hdr rip6 = {};
	struct iphdr rip = {};
	struct udphdr udp, rudp = {};
	__u32 *gen;
	__u16 id;
	int ret;

	if (!dnsfast_to_proxy(p, v6) || (void *)(peth + 1) > data_end)
		return -1;
	if (bpf_skb_load_bytes(skb, l4, &udp, sizeof(udp)))
		return -1;
	if (udp.dest != bpf_htons(AMBIT_PORT_DNS))
		return -1;
	qlen = bpf_ntohs(udp.len);
	/* A header (12 bytes) at least, the id aside at most AMBIT_DNS_QMAX. */
	if (qlen < sizeof(struct udphdr) + 12 || qlen > sizeof(struct udphdr) + 2 + AMBIT_DNS_QMAX)
		return -1;
	qlen -= sizeof(struct udphdr) + 2;
	if (bpf_skb_load_bytes(skb, l4 + sizeof(struct udphdr), &id, sizeof(id)))
		return -1;
	gen = bpf_map_lookup_elem(&dns_gen, &zero);
	if (!gen || !*gen)
		return -1;
	v = dnsfast_lookup(skb, p, l4 + sizeof(struct udphdr) + 2, qlen, v6);
	if (!v || v->gen != *gen)
		return -1;
	alen = v->alen;
	if (alen < 12 || alen > AMBIT_DNS_AMAX)
		return -1;

	__builtin_memcpy(eth.h_dest, peth->h_source, ETH_ALEN);
	__builtin_memcpy(eth.h_source, peth->h_dest, ETH_ALEN);
	rudp.source = udp.dest;
	rudp.dest = udp.source;
	rudp.len = bpf_htons(sizeof(struct udphdr) + alen);
	if (v6) {
		reset_reply_ip6(&rip6, p->ip6, IPPROTO_UDP, sizeof(struct udphdr) + alen);
		/* Pseudo-header (addresses, length, Next Header), then the UDP header. */
		sum = reset_csum_add(0, &rip6.saddr, 2 * sizeof(rip6.saddr) / 2);
		sum += bpf_htons(IPPROTO_UDP) + rudp.len;
		sum = reset_csum_add(sum, &rudp, sizeof(rudp) / 2);
		if (dnsfast_udp_csum(v, alen, id, sum, &rudp.check)) {
			counter_inc(AMBIT_DROP_DNS_REWRITE);
			return TC_ACT_SHOT;
		}
	} else {
		reset_reply_ip(&rip, p->ip, IPPROTO_UDP, sizeof(struct udphdr) + alen);
		/* No UDP checksum (RFC 768 allows it over IPv4; the pod's stack accepts it so). */
	}

	/* Every packet pointer is stale from here: no more -1 (the caller would read them). */
	if (bpf_skb_change_tail(skb, hdrs + alen, 0) ||
	    bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0) ||
	    bpf_skb_store_bytes(skb, sizeof(eth), v6 ? (void *)&rip6 : (void *)&rip, l3_len, 0) ||
	    bpf_skb_store_bytes(skb, sizeof(eth) + l3_len, &rudp, sizeof(rudp), 0) ||
	    bpf_skb_store_bytes(skb, hdrs, v->a, alen, 0) ||
	    bpf_skb_store_bytes(skb, hdrs, &id, sizeof(id), 0)) {
		counter_inc(AMBIT_DROP_DNS_REWRITE);
		return TC_ACT_SHOT;
	}
	__sync_fetch_and_add(&v->hits, 1);
	counter_inc(AMBIT_DNS_ANSWERED);
	skb->mark = 0;
	ret = egress ? bpf_redirect(skb->ifindex, BPF_F_INGRESS)
		     : bpf_redirect(skb->ingress_ifindex, 0);
	return ret < 0 ? TC_ACT_SHOT : ret;
}

#endif
