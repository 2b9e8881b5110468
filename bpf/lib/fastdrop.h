/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Early drops of new plaintext flows that L4 policy already forbids (DESIGN.md §2 "Kernel fast
 * drops"): plaintext to a STRICT pod port, and sources a DENY ipBlocks policy names. Only
 * plaintext is judged here: HBONE arrives from the peer node's address, so its source IP says
 * nothing about the client, and its identity is only known after the handshake.
 */
#ifndef AMBIT_BPF_FASTDROP_H
#define AMBIT_BPF_FASTDROP_H

#include "lib/maps.h"

/* True when a DENY ipBlocks entry covers @saddr for destination pod @daddr (network order). */
static __always_inline bool fastdrop_denied_source(__u32 saddr, __u32 daddr)
{
	struct ambit_deny_src_key key = {.prefixlen = 64, .dst_ip = daddr, .src_ip = saddr};
	struct ambit_deny_src *v = bpf_map_lookup_elem(&deny_src, &key);

	if (!v)
		return false;
	/* Shared by every CPU: atomic, unlike the per-CPU reason counters. */
	__sync_fetch_and_add(&v->drops, 1);
	return true;
}

/*
 * True when plaintext to (@daddr, @dport) must be dropped: the port's own entry decides (a
 * port-level exception either way), else the pod's default entry (port 0).
 */
static __always_inline bool fastdrop_strict(__u32 daddr, __u16 dport)
{
	struct ambit_addr key = {.ip = daddr, .port = dport};
	struct ambit_strict_port *v = bpf_map_lookup_elem(&strict_ports, &key);

	if (!v) {
		key.port = 0;
		v = bpf_map_lookup_elem(&strict_ports, &key);
	}
	if (!v || v->mode != AMBIT_PLAINTEXT_DROP)
		return false;
	__sync_fetch_and_add(&v->drops, 1);
	return true;
}

#endif
