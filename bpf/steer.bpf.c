// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tc ingress on the node uplink and on the host side of every pod veth (tc_ingress), and on the
 * pod's own eth0 in in-pod mode (tc_pod, and tc_pod_egress at egress; tc_pod_lo at the ingress of
 * its lo, where tc_pod_egress turns what is the ztunnel's); logic in lib/steer.h.
 * At egress on the host side of every pod veth, the node's own plaintext to a pod and the
 * kubelet's probes (tc_veth_egress, lib/nodeguard.h, which tc_pod asks first). In the node's
 * netns, the socket look-up of a new UDP flow's first datagram reassembled there (sk_lookup_udp).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "lib/steer.h"
#include "lib/nodeguard.h"

SEC("tc")
int tc_ingress(struct __sk_buff *skb)
{
	int ret = nodeguard_ingress(skb);

	return ret >= 0 ? ret : steer_ingress(skb);
}

SEC("tc")
int tc_pod(struct __sk_buff *skb)
{
	int ret = nodeguard_pod_probe(skb);

	return ret >= 0 ? ret : steer_pod_ingress(skb);
}

SEC("tc")
int tc_pod_egress(struct __sk_buff *skb)
{
	return steer_pod_egress(skb);
}

SEC("tc")
int tc_pod_lo(struct __sk_buff *skb)
{
	return steer_pod_lo(skb);
}

SEC("tc")
int tc_veth_egress(struct __sk_buff *skb)
{
	return nodeguard_egress(skb);
}

SEC("sk_lookup")
int sk_lookup_udp(struct bpf_sk_lookup *ctx)
{
	return steer_sk_lookup(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
