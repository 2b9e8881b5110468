/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps shared by capture.bpf.o and steer.bpf.o. Every map is pinned by name under the
 * loader's pin_root_path, so both objects (and an agent restart) reuse the same instances, and
 * carries BTF so `bpftool map dump` prints field names. Key/value types come from bpf_abi.h.
 */
#ifndef AMBIT_BPF_MAPS_H
#define AMBIT_BPF_MAPS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "ambit/bpf_abi.h"

/*
 * One map a line: pinned by name, with BTF for its key and value. AMBIT_MAP_F adds map_flags (an
 * LPM trie needs BPF_F_NO_PREALLOC; the maps only the agent writes take it, so that a node holds
 * memory for the pods and Services it has rather than for the most it could have, and the IPv6
 * twins so that an IPv4-only node allocates nothing for them; an LRU map cannot: the kernel
 * allocates it whole, and the agent may size it down, datapath_opts.conntrack_max);
 * AMBIT_MAP_STORAGE is a socket's local storage (no size: it lives with the socket). An IPv4 map
 * and its IPv6 twin read alike.
 */
#define AMBIT_MAP_F(_name, _type, _max, _flags, _key, _value)                                      \
	struct {                                                                                   \
		__uint(type, _type);                                                               \
		__uint(max_entries, _max);                                                         \
		__uint(map_flags, _flags);                                                         \
		__type(key, _key);                                                                 \
		__type(value, _value);                                                             \
		__uint(pinning, LIBBPF_PIN_BY_NAME);                                               \
	} _name SEC(".maps")
#define AMBIT_MAP(_name, _type, _max, _key, _value)                                                \
	struct {                                                                                   \
		__uint(type, _type);                                                               \
		__uint(max_entries, _max);                                                         \
		__type(key, _key);                                                                 \
		__type(value, _value);                                                             \
		__uint(pinning, LIBBPF_PIN_BY_NAME);                                               \
	} _name SEC(".maps")
#define AMBIT_MAP_STORAGE(_name, _value)                                                           \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_SK_STORAGE);                                             \
		__uint(map_flags, BPF_F_NO_PREALLOC);                                              \
		__type(key, int);                                                                  \
		__type(value, _value);                                                             \
		__uint(pinning, LIBBPF_PIN_BY_NAME);                                               \
	} _name SEC(".maps")

/* workloads: key: pod IPv4, network order. */
AMBIT_MAP_F(workloads, BPF_MAP_TYPE_HASH, AMBIT_MAX_WORKLOADS, BPF_F_NO_PREALLOC, __u32,
	    struct ambit_workload);
/* enrolled_cgrp: key: cgroup v2 id. */
AMBIT_MAP_F(enrolled_cgrp, BPF_MAP_TYPE_HASH, AMBIT_MAX_WORKLOADS, BPF_F_NO_PREALLOC, __u64,
	    struct ambit_enrolled);
/* pod_ifaces: key: ifindex of the host-side veth. */
AMBIT_MAP_F(pod_ifaces, BPF_MAP_TYPE_HASH, AMBIT_MAX_IFACES, BPF_F_NO_PREALLOC, __u32,
	    struct ambit_iface);
AMBIT_MAP_F(services, BPF_MAP_TYPE_HASH, AMBIT_MAX_SERVICES, BPF_F_NO_PREALLOC, struct ambit_addr,
	    struct ambit_service);
AMBIT_MAP_F(backends, BPF_MAP_TYPE_HASH, AMBIT_MAX_BACKENDS, BPF_F_NO_PREALLOC,
	    struct ambit_backend_key, struct ambit_backend);
/*
 * Deleted by sockops when the socket reaches TCP_CLOSE; LRU so that the records of connects that
 * failed before their SYN (no callback ever ran) are reclaimed under pressure, never refused.
 * Keyed by the socket cookie.
 */
AMBIT_MAP(sock_orig, BPF_MAP_TYPE_LRU_HASH, AMBIT_MAX_TRACKED_SOCKS, __u64, struct ambit_orig_dst);
/*
 * A pod's UDP socket whose port-53 traffic the capture steered to the DNS proxy: the server it
 * addressed, so recvmsg shows the answers as coming from there (a resolver drops any other).
 * Lives and dies with the socket.
 */
AMBIT_MAP_STORAGE(dns_orig, struct ambit_addr);
/* A UDP socket's flows to Service VIPs and the backend each was given (bpf_abi.h). */
AMBIT_MAP_STORAGE(udp_lb, struct ambit_udp_lb);
AMBIT_MAP_STORAGE(udp_lb6, struct ambit_udp_lb6);
/* orig_dst: key: pod socket's local address. */
AMBIT_MAP(orig_dst, BPF_MAP_TYPE_LRU_HASH, AMBIT_MAX_TRACKED_SOCKS, struct ambit_addr,
	  struct ambit_orig_dst);
/* proxy_socks: by enum ambit_proxy_sock; an fd on update, a socket cookie on lookup. */
AMBIT_MAP(proxy_socks, BPF_MAP_TYPE_SOCKMAP, AMBIT_SOCK__COUNT, __u32, __u64);
/*
 * In-pod capture: each enrolled pod's 15006 listener, which the ztunnel opened inside that pod's
 * netns; the tc program on the pod's own eth0 assigns new plaintext flows to it (a socket can
 * only be assigned to a packet of its own netns, so the node's proxy_socks cannot serve). Keyed
 * by the pod's IPv4 (network order); the value is an fd on update, a socket cookie on lookup.
 */
AMBIT_MAP(inpod_socks, BPF_MAP_TYPE_SOCKHASH, AMBIT_MAX_WORKLOADS, __u32, __u64);
/* strict_ports: key: pod IPv4, workload port (0: the pod's default). */
AMBIT_MAP_F(strict_ports, BPF_MAP_TYPE_HASH, AMBIT_MAX_STRICT_PORTS, BPF_F_NO_PREALLOC,
	    struct ambit_addr, struct ambit_strict_port);
AMBIT_MAP_F(deny_src, BPF_MAP_TYPE_LPM_TRIE, AMBIT_MAX_DENY_SRC, BPF_F_NO_PREALLOC,
	    struct ambit_deny_src_key, struct ambit_deny_src);
/* The DNS proxy's answers, given again by tc (bpf_abi.h); written by the ztunnel only. */
/* (No preallocation: memory as used, most nodes ask few names.) */
AMBIT_MAP_F(dns_answers, BPF_MAP_TYPE_HASH, AMBIT_MAX_DNS_ANSWERS, BPF_F_NO_PREALLOC,
	    struct ambit_dns_key, struct ambit_dns_answer);
/* [0]: the generation dns_answers' and dns_answers6' entries must carry to count; 0: none does. */
AMBIT_MAP(dns_gen, BPF_MAP_TYPE_ARRAY, 1, __u32, __u32);
/* counters: key: enum ambit_reason. */
AMBIT_MAP(counters, BPF_MAP_TYPE_PERCPU_ARRAY, AMBIT_REASON__COUNT, __u32, __u64);
/* IPv6 twins of the maps above (bpf_abi.h): allocated as used, nothing on an IPv4-only node. */
AMBIT_MAP_F(workloads6, BPF_MAP_TYPE_HASH, AMBIT_MAX_WORKLOADS, BPF_F_NO_PREALLOC, struct ambit_ip6,
	    struct ambit_workload);
/* pod_ifaces6: key: ifindex of the host-side veth. */
AMBIT_MAP_F(pod_ifaces6, BPF_MAP_TYPE_HASH, AMBIT_MAX_IFACES, BPF_F_NO_PREALLOC, __u32,
	    struct ambit_ip6);
AMBIT_MAP_F(services6, BPF_MAP_TYPE_HASH, AMBIT_MAX_SERVICES, BPF_F_NO_PREALLOC, struct ambit_addr6,
	    struct ambit_service);
AMBIT_MAP_F(backends6, BPF_MAP_TYPE_HASH, AMBIT_MAX_BACKENDS, BPF_F_NO_PREALLOC,
	    struct ambit_backend_key, struct ambit_addr6);
AMBIT_MAP_STORAGE(sock_orig6, struct ambit_orig_dst6);
/* orig_dst6: key: pod socket's local address. */
AMBIT_MAP(orig_dst6, BPF_MAP_TYPE_LRU_HASH, AMBIT_MAX_PENDING6, struct ambit_addr6,
	  struct ambit_orig_dst6);
AMBIT_MAP_STORAGE(dns_orig6, struct ambit_addr6);
/* dns_answers for queries over IPv6 (bpf_abi.h); written by the ztunnel only. */
AMBIT_MAP_F(dns_answers6, BPF_MAP_TYPE_HASH, AMBIT_MAX_DNS_ANSWERS, BPF_F_NO_PREALLOC,
	    struct ambit_dns_key6, struct ambit_dns_answer);
/* proxy_socks6: by enum ambit_proxy_sock; an fd on update, a socket cookie on lookup. */
AMBIT_MAP(proxy_socks6, BPF_MAP_TYPE_SOCKMAP, AMBIT_SOCK__COUNT, __u32, __u64);
/* strict_ports6: key: pod IPv6, workload port (0: the pod's default). */
AMBIT_MAP_F(strict_ports6, BPF_MAP_TYPE_HASH, AMBIT_MAX_STRICT_PORTS, BPF_F_NO_PREALLOC,
	    struct ambit_addr6, struct ambit_strict_port);
/*
 * In-pod capture of a dual-stack pod (bpf_abi.h): its IPv6 by the enrolled cgroup, beside
 * enrolled_cgrp (whose value stays as it was, so an upgrade keeps that map), and its 15006
 * listener on [::] by that IPv6, as inpod_socks by the IPv4.
 */
/* (enrolled_ip6 is keyed by the cgroup v2 id.) */
AMBIT_MAP_F(enrolled_ip6, BPF_MAP_TYPE_HASH, AMBIT_MAX_WORKLOADS, BPF_F_NO_PREALLOC, __u64,
	    struct ambit_ip6);
/* inpod_socks6: value: fd on update, socket cookie on user-space lookup. */
AMBIT_MAP(inpod_socks6, BPF_MAP_TYPE_SOCKHASH, AMBIT_MAX_WORKLOADS, struct ambit_ip6, __u64);
AMBIT_MAP_F(deny_src6, BPF_MAP_TYPE_LPM_TRIE, AMBIT_MAX_DENY_SRC, BPF_F_NO_PREALLOC,
	    struct ambit_deny_src6_key, struct ambit_deny_src);
/* ServiceEntries' UDP ports over their CIDR blocks (bpf_abi.h, lib/sentry.h); by the agent. */
AMBIT_MAP_F(sentry_cidrs, BPF_MAP_TYPE_LPM_TRIE, AMBIT_MAX_SENTRY_CIDRS, BPF_F_NO_PREALLOC,
	    struct ambit_sentry_cidr_key, __u32);
AMBIT_MAP_F(sentry_cidrs6, BPF_MAP_TYPE_LPM_TRIE, AMBIT_MAX_SENTRY_CIDRS, BPF_F_NO_PREALLOC,
	    struct ambit_sentry_cidr6_key, __u32);
/* Flows that predate a host-captured pod's enrolment (bpf_abi.h); written by the agent only. */
AMBIT_MAP(preflows, BPF_MAP_TYPE_LRU_HASH, AMBIT_MAX_PREFLOWS, struct ambit_flow,
	  struct ambit_preflow);
AMBIT_MAP(preflows6, BPF_MAP_TYPE_LRU_HASH, AMBIT_MAX_PREFLOWS, struct ambit_flow6,
	  struct ambit_preflow);
AMBIT_MAP(node_cfg, BPF_MAP_TYPE_ARRAY, 1, __u32, struct ambit_node_cfg);
AMBIT_MAP(probe_flows, BPF_MAP_TYPE_LRU_HASH, AMBIT_MAX_PROBE_FLOWS, struct ambit_probe_flow,
	  __u32);
/* An enrolled pod's UDP past the mesh, keyed as its answer comes (AMBIT_MAX_UDP_REPLIES). */
AMBIT_MAP(udp_replies, BPF_MAP_TYPE_LRU_HASH, AMBIT_MAX_UDP_REPLIES, struct ambit_flow, __u32);
AMBIT_MAP(udp_replies6, BPF_MAP_TYPE_LRU_HASH, AMBIT_MAX_UDP_REPLIES, struct ambit_flow6, __u32);
/* New UDP flows whose first datagram came in pieces, and the listeners (bpf_abi.h). */
AMBIT_MAP(udp_pending, BPF_MAP_TYPE_LRU_HASH, AMBIT_MAX_UDP_PENDING, struct ambit_flow, __u32);
AMBIT_MAP(udp_pending6, BPF_MAP_TYPE_LRU_HASH, AMBIT_MAX_UDP_PENDING, struct ambit_flow6, __u32);
/* udp_socks: value: fd on update, socket cookie on lookup. */
AMBIT_MAP(udp_socks, BPF_MAP_TYPE_SOCKMAP, 2, __u32, __u64);
/* Fragmented datagrams whose first piece went to the ztunnel (AMBIT_MAX_UDP_FRAGS). */
AMBIT_MAP(udp_frags, BPF_MAP_TYPE_LRU_HASH, AMBIT_MAX_UDP_FRAGS, struct ambit_frag_key, __u32);
/* Ports a pod leaves out of capture (bpf_abi.h); written by the agent only. */
AMBIT_MAP_F(excl_ports, BPF_MAP_TYPE_HASH, AMBIT_MAX_EXCL_PORTS, BPF_F_NO_PREALLOC,
	    struct ambit_excl_key, __u32);
/* Answers to a pod's TCP on such a port, written at its SYN (AMBIT_MAX_EXCL_REPLIES). */
AMBIT_MAP(excl_replies, BPF_MAP_TYPE_LRU_HASH, AMBIT_MAX_EXCL_REPLIES, struct ambit_flow, __u32);
AMBIT_MAP(excl_replies6, BPF_MAP_TYPE_LRU_HASH, AMBIT_MAX_EXCL_REPLIES, struct ambit_flow6, __u32);

#endif
