/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * DNS in the kernel (DESIGN.md §2): a pod's UDP query to the DNS proxy (steered there by the
 * capture's sendmsg hook) that the proxy already answered for this pod, under the current
 * generation, is answered here, at tc ingress on the pod's veth (back out the veth it came in
 * on), or for a pod captured in-pod at tc egress on its own eth0 (back in as received): the
 * packet becomes the answer (the query's id in it), so the proxy's socket, its wake-up and both
 * system calls are skipped. No DNS is parsed: the query's bytes after its id
 * are the key (bpf_abi.h, dns_answers). Everything else goes on to the proxy as before.
 */
#ifndef AMBIT_BPF_DNSFAST_H
#define AMBIT_BPF_DNSFAST_H

#include "lib/maps.h"
#include "lib/counters.h"
#include "lib/parse.h"
#include "lib/reset.h"

#define DNSFAST_HDRS (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr))

/* The address the capture sends DNS to (the node's, the ztunnel's); set by the loader. */
const volatile __u32 dns_proxy_ip = 0;

/*
 * @ip (parsed, not a fragment, UDP) from a pod veth, or leaving an in-pod pod's eth0 (@egress):
 * TC_ACT_REDIRECT when answered here, -1 when
 * the packet must go on (not a query to the proxy, not known, too long). Once the rewrite into
 * the answer begins it is the answer or dropped (TC_ACT_SHOT): the client asks again.
 */
static __always_inline int dnsfast_answer(struct __sk_buff *skb, const struct iphdr *ip,
					  bool egress)
{
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *peth = (void *)(long)skb->data;
	__u32 l4 = sizeof(struct ethhdr) + ip->ihl * 4, zero = 0, qlen, alen;
	struct ambit_dns_key key = {};
	struct ambit_dns_answer *v;
	struct ethhdr eth = {.h_proto = bpf_htons(ETH_P_IP)};
	struct iphdr rip = {};
	struct udphdr rudp = {};
	struct udphdr *udp;
	__u32 *gen;
	__u16 id;
	int ret;

	if (!dns_proxy_ip || ip->daddr != dns_proxy_ip)
		return -1;
	udp = (void *)ip + ip->ihl * 4;
	if ((void *)(udp + 1) > data_end || (void *)(peth + 1) > data_end)
		return -1;
	if (udp->dest != bpf_htons(AMBIT_PORT_DNS))
		return -1;
	qlen = bpf_ntohs(udp->len);
	/* A header (12 bytes) at least, the id aside at most AMBIT_DNS_QMAX. */
	if (qlen < sizeof(struct udphdr) + 12 || qlen > sizeof(struct udphdr) + 2 + AMBIT_DNS_QMAX)
		return -1;
	qlen -= sizeof(struct udphdr) + 2;
	if (bpf_skb_load_bytes(skb, l4 + sizeof(struct udphdr), &id, sizeof(id)) ||
	    bpf_skb_load_bytes(skb, l4 + sizeof(struct udphdr) + 2, key.q, qlen))
		return -1;
	key.pod_ip = ip->saddr;
	key.qlen = qlen;
	gen = bpf_map_lookup_elem(&dns_gen, &zero);
	if (!gen || !*gen)
		return -1;
	v = bpf_map_lookup_elem(&dns_answers, &key);
	if (!v || v->gen != *gen)
		return -1;
	alen = v->alen;
	if (alen < 12 || alen > AMBIT_DNS_AMAX)
		return -1;

	__builtin_memcpy(eth.h_dest, peth->h_source, ETH_ALEN);
	__builtin_memcpy(eth.h_source, peth->h_dest, ETH_ALEN);
	reset_reply_ip(&rip, ip, IPPROTO_UDP, sizeof(struct udphdr) + alen);
	rudp.source = udp->dest;
	rudp.dest = udp->source;
	rudp.len = bpf_htons(sizeof(struct udphdr) + alen);
	/* No UDP checksum (RFC 768 allows it over IPv4; the pod's stack accepts it as such). */

	/* Every packet pointer is stale from here: no more -1 (the caller would read them). */
	if (bpf_skb_change_tail(skb, DNSFAST_HDRS + alen, 0) ||
	    bpf_skb_store_bytes(skb, 0, &eth, sizeof(eth), 0) ||
	    bpf_skb_store_bytes(skb, sizeof(eth), &rip, sizeof(rip), 0) ||
	    bpf_skb_store_bytes(skb, sizeof(eth) + sizeof(rip), &rudp, sizeof(rudp), 0) ||
	    bpf_skb_store_bytes(skb, DNSFAST_HDRS, v->a, alen, 0) ||
	    bpf_skb_store_bytes(skb, DNSFAST_HDRS, &id, sizeof(id), 0)) {
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
