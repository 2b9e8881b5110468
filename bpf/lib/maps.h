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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIT_MAX_WORKLOADS);
	__type(key, __u32); /* pod IPv4, network order */
	__type(value, struct ambit_workload);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} workloads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIT_MAX_WORKLOADS);
	__type(key, __u64); /* cgroup v2 id */
	__type(value, struct ambit_enrolled);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enrolled_cgrp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIT_MAX_IFACES);
	__type(key, __u32); /* ifindex of the host-side veth */
	__type(value, struct ambit_iface);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pod_ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIT_MAX_SERVICES);
	__type(key, struct ambit_addr);
	__type(value, struct ambit_service);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIT_MAX_BACKENDS);
	__type(key, struct ambit_backend_key);
	__type(value, struct ambit_backend);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} backends SEC(".maps");

/*
 * Deleted by sockops when the socket reaches TCP_CLOSE; LRU so that the records of connects that
 * failed before their SYN (no callback ever ran) are reclaimed under pressure, never refused.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AMBIT_MAX_TRACKED_SOCKS);
	__type(key, __u64); /* socket cookie */
	__type(value, struct ambit_orig_dst);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sock_orig SEC(".maps");

/*
 * A pod's UDP socket whose port-53 traffic the capture steered to the DNS proxy: the server it
 * addressed, so recvmsg shows the answers as coming from there (a resolver drops any other).
 * Lives and dies with the socket.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ambit_addr);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dns_orig SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AMBIT_MAX_TRACKED_SOCKS);
	__type(key, struct ambit_addr); /* pod socket's local address */
	__type(value, struct ambit_orig_dst);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} orig_dst SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, AMBIT_SOCK__COUNT);
	__type(key, __u32);   /* enum ambit_proxy_sock */
	__type(value, __u64); /* fd on update, socket cookie on user-space lookup */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} proxy_socks SEC(".maps");

/*
 * In-pod capture: each enrolled pod's 15006 listener, which the ztunnel opened inside that pod's
 * netns; the tc program on the pod's own eth0 assigns new plaintext flows to it (a socket can
 * only be assigned to a packet of its own netns, so the node's proxy_socks cannot serve).
 */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, AMBIT_MAX_WORKLOADS);
	__type(key, __u32);   /* pod IPv4, network order */
	__type(value, __u64); /* fd on update, socket cookie on user-space lookup */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} inpod_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIT_MAX_STRICT_PORTS);
	__type(key, struct ambit_addr); /* pod IPv4, workload port (0: the pod's default) */
	__type(value, struct ambit_strict_port);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strict_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, AMBIT_MAX_DENY_SRC);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* required for LPM tries */
	__type(key, struct ambit_deny_src_key);
	__type(value, struct ambit_deny_src);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} deny_src SEC(".maps");

/* The DNS proxy's answers, given again by tc (bpf_abi.h); written by the ztunnel only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIT_MAX_DNS_ANSWERS);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* memory as used: most nodes ask few names */
	__type(key, struct ambit_dns_key);
	__type(value, struct ambit_dns_answer);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dns_answers SEC(".maps");

/* [0]: the generation dns_answers' and dns_answers6' entries must carry to count; 0: none does. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dns_gen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AMBIT_REASON__COUNT);
	__type(key, __u32); /* enum ambit_reason */
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} counters SEC(".maps");

/* IPv6 twins of the maps above (bpf_abi.h): allocated as used, nothing on an IPv4-only node. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIT_MAX_WORKLOADS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ambit_ip6);
	__type(value, struct ambit_workload);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} workloads6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIT_MAX_IFACES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32); /* ifindex of the host-side veth */
	__type(value, struct ambit_ip6);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pod_ifaces6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIT_MAX_SERVICES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ambit_addr6);
	__type(value, struct ambit_service);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} services6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIT_MAX_BACKENDS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ambit_backend_key);
	__type(value, struct ambit_addr6);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} backends6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ambit_orig_dst6);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sock_orig6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AMBIT_MAX_PENDING6);
	__type(key, struct ambit_addr6); /* pod socket's local address */
	__type(value, struct ambit_orig_dst6);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} orig_dst6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ambit_addr6);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dns_orig6 SEC(".maps");

/* dns_answers for queries over IPv6 (bpf_abi.h); written by the ztunnel only. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIT_MAX_DNS_ANSWERS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ambit_dns_key6);
	__type(value, struct ambit_dns_answer);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} dns_answers6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, AMBIT_SOCK__COUNT);
	__type(key, __u32);   /* enum ambit_proxy_sock */
	__type(value, __u64); /* fd on update, socket cookie on user-space lookup */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} proxy_socks6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIT_MAX_STRICT_PORTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ambit_addr6); /* pod IPv6, workload port (0: the pod's default) */
	__type(value, struct ambit_strict_port);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} strict_ports6 SEC(".maps");

/*
 * In-pod capture of a dual-stack pod (bpf_abi.h): its IPv6 by the enrolled cgroup, beside
 * enrolled_cgrp (whose value stays as it was, so an upgrade keeps that map), and its 15006
 * listener on [::] by that IPv6, as inpod_socks by the IPv4.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIT_MAX_WORKLOADS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64); /* cgroup v2 id */
	__type(value, struct ambit_ip6);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} enrolled_ip6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, AMBIT_MAX_WORKLOADS);
	__type(key, struct ambit_ip6);
	__type(value, __u64); /* fd on update, socket cookie on user-space lookup */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} inpod_socks6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, AMBIT_MAX_DENY_SRC);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* required for LPM tries */
	__type(key, struct ambit_deny_src6_key);
	__type(value, struct ambit_deny_src);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} deny_src6 SEC(".maps");

/* Flows that predate a host-captured pod's enrolment (bpf_abi.h); written by the agent only. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AMBIT_MAX_PREFLOWS);
	__type(key, struct ambit_flow);
	__type(value, struct ambit_preflow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} preflows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AMBIT_MAX_PREFLOWS);
	__type(key, struct ambit_flow6);
	__type(value, struct ambit_preflow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} preflows6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ambit_node_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} node_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AMBIT_MAX_PROBE_FLOWS);
	__type(key, struct ambit_probe_flow);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} probe_flows SEC(".maps");

#endif
