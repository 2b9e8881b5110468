// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tc ingress on the node uplink and on the host side of every pod veth; logic in lib/steer.h. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "lib/steer.h"

SEC("tc")
int tc_ingress(struct __sk_buff *skb)
{
	return steer_ingress(skb);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
