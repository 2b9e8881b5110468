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

/* Counts a drop against @v, a deny_src or deny_src6 entry; whether there was one. */
static __always_inline bool fastdrop_deny_hit(struct ambit_deny_src *v)
{
	if (!v)
		return false;
	/* Shared by every CPU: atomic, unlike the per-CPU reason counters. */
	__sync_fetch_and_add(&v->drops, 1);
	return true;
}

/* True when a DENY ipBlocks entry covers @saddr for destination pod @daddr (network order). */
static __always_inline bool fastdrop_denied_source(__u32 saddr, __u32 daddr)
{
	struct ambit_deny_src_key key = {.prefixlen = 64, .dst_ip = daddr, .src_ip = saddr};

	return fastdrop_deny_hit(bpf_map_lookup_elem(&deny_src, &key));
}

/* The same for IPv6: the destination matched whole, 128 bits, then the source's. */
static __always_inline bool fastdrop_denied_source6(const struct in6_addr *saddr,
						    const struct in6_addr *daddr)
{
	struct ambit_deny_src6_key key = {.prefixlen = 256};

	__builtin_memcpy(key.dst_ip6, daddr, sizeof(key.dst_ip6));
	__builtin_memcpy(key.src_ip6, saddr, sizeof(key.src_ip6));
	return fastdrop_deny_hit(bpf_map_lookup_elem(&deny_src6, &key));
}

/*
 * True when plaintext to the pod and port of @key in @map (strict_ports or strict_ports6) must
 * be dropped: the port's own entry decides (a port-level exception either way), else the pod's
 * default entry (@port, the key's port, set to 0).
 */
static __always_inline bool fastdrop_strict_in(void *map, void *key, __u16 *port)
{
	struct ambit_strict_port *v = bpf_map_lookup_elem(map, key);

	if (!v) {
		*port = 0;
		v = bpf_map_lookup_elem(map, key);
	}
	if (!v || v->mode != AMBIT_PLAINTEXT_DROP)
		return false;
	__sync_fetch_and_add(&v->drops, 1);
	return true;
}

/* fastdrop_strict_in for (@daddr, @dport), network order. */
static __always_inline bool fastdrop_strict(__u32 daddr, __u16 dport)
{
	struct ambit_addr key = {.ip = daddr, .port = dport};

	return fastdrop_strict_in(&strict_ports, &key, &key.port);
}

static __always_inline bool fastdrop_strict6(const struct in6_addr *daddr, __u16 dport)
{
	struct ambit_addr6 key = {.port = dport};

	__builtin_memcpy(key.ip6, daddr, sizeof(key.ip6));
	return fastdrop_strict_in(&strict_ports6, &key, &key.port);
}

#endif
