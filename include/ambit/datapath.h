/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The BPF data path of one node, from user space: load and pin (or reuse pinned) programs and
 * maps, attach them, and edit the maps. Used by the agent (owner), ambitctl (read-only) and the
 * ztunnel (orig_dst look-ups, proxy_socks). Pins live under <pin_root>/, e.g.
 * /sys/fs/bpf/ambit/ on Kubernetes or /sys/fs/bpf/ambit/<cluster>-<node>/ in the local cluster:
 *   maps:     workloads enrolled_cgrp pod_ifaces services backends sock_orig orig_dst
 *             proxy_socks counters strict_ports deny_src inpod_socks dns_answers dns_gen,
 *             and the IPv6 twins workloads6 pod_ifaces6 services6 backends6 sock_orig6
 *             orig_dst6 dns_orig6 proxy_socks6 strict_ports6 deny_src6 dns_answers6, and
 *             in-pod's enrolled_ip6 inpod_socks6, ServiceEntries' UDP blocks sentry_cidrs
 *             sentry_cidrs6
 *   programs: prog_connect4 prog_getpeer4 prog_connect6 prog_getpeer6 prog_sockops prog_tc_ingress
 *   links:    link_connect4 link_getpeer4 link_connect6 link_getpeer6 link_sockops (cgroup
 *             attachments survive the agent), link_sk_lookup (the node's netns)
 * Everything below returns 0 or -errno unless it says otherwise.
 */
#ifndef AMBIT_DATAPATH_H
#define AMBIT_DATAPATH_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/types.h>
#include <netinet/in.h>

#include "ambit/bpf_abi.h"

#define AMBIT_PIN_ROOT_DEFAULT "/sys/fs/bpf/ambit"

struct datapath;

struct datapath_opts {
	const char *pin_root;	 /* directory for pins; created if missing */
	const char *cgroup_path; /* cgroup v2 dir whose descendants are this node's pods */
	uint32_t ztunnel_ip;	 /* network order: where connect4 steers enrolled pods */
	/* Where connect6 steers them (the node's IPv6); :: on a node without IPv6. */
	struct in6_addr ztunnel_ip6;
	/*
	 * At most this many entries in each of the connection-tracking (LRU) maps, whose memory
	 * the kernel allocates whole at creation (original destinations, UDP answers, flows that
	 * predate an enrolment...); 0: their built-in sizes (bpf/lib/maps.h). A local cluster's
	 * nodes, many on one machine, take fewer.
	 */
	uint32_t conntrack_max;
};

/*
 * Implemented by the agent's loader (userspace/agent/loader.c), the only user of skeletons:
 * Loads the programs (reusing maps already pinned under pin_root so state survives an agent
 * restart), pins them, and attaches the cgroup programs to cgroup_path — replacing the program
 * behind an existing pinned link instead of attaching twice. Returns NULL with errno set.
 */
struct datapath *datapath_open(const struct datapath_opts *opts);
/* Lib (userspace/l4/datapath.c): opens the pinned maps of a running node, for ambitctl.
 * Map edits below work on either kind of handle. NULL with errno set. */
struct datapath *datapath_open_pinned(const char *pin_root);
/* Closes fds; pinned programs, links, maps and tc filters stay in force. Accepts NULL. */
void datapath_close(struct datapath *dp);
/* Attaches (or replaces) the tc ingress program on @ifindex in the caller's current netns. */
int datapath_attach_tc(struct datapath *dp, int ifindex);
int datapath_detach_tc(struct datapath *dp, int ifindex);
/*
 * A pod's host-side veth: the tc ingress program, and at egress tc_veth_egress, which judges
 * the node's own plaintext to the pod (bpf/lib/nodeguard.h); and both off it again.
 */
int datapath_attach_tc_veth(struct datapath *dp, int ifindex);
int datapath_detach_tc_veth(struct datapath *dp, int ifindex);
/*
 * In-pod capture: the pod programs (tc_pod at ingress, tc_pod_egress at egress) on interface
 * @ifindex of the calling thread's netns (a pod's own eth0), and off it again.
 */
int datapath_attach_tc_pod(struct datapath *dp, int ifindex);
int datapath_detach_tc_pod(struct datapath *dp, int ifindex);

/* Map edits. IPs network order, ports host order. */
int datapath_set_workload(struct datapath *dp, uint32_t ip, const struct ambit_workload *wl);
int datapath_del_workload(struct datapath *dp, uint32_t ip);
int datapath_set_enrolled(struct datapath *dp, uint64_t cgroup_id, uint32_t pod_ip);
/* The same with the whole value (its in-pod flag). */
int datapath_set_enrolled_entry(struct datapath *dp, uint64_t cgroup_id,
				const struct ambit_enrolled *val);
int datapath_del_enrolled(struct datapath *dp, uint64_t cgroup_id);
int datapath_set_iface(struct datapath *dp, int ifindex, uint32_t pod_ip);
/* The cgroup v2 id of the kubelet's sockets, whose probes pass (node_cfg); 0: none known. */
int datapath_set_kubelet_cgroup(struct datapath *dp, uint64_t cgroup_id);
int datapath_del_iface(struct datapath *dp, int ifindex);
/*
 * Replaces the backends of (vip, port) for @proto (0: TCP, IPPROTO_UDP); @n == 0 keeps the VIP
 * with no backend (connect fails).
 */
int datapath_set_service(struct datapath *dp, uint32_t vip, uint16_t port, uint8_t proto,
			 const struct ambit_backend *backends, uint32_t n);
int datapath_del_service(struct datapath *dp, uint32_t vip, uint16_t port, uint8_t proto);
/*
 * Kernel fast drops (bpf_abi.h): @port host order, 0 = the pod's default; @mode
 * AMBIT_PLAINTEXT_*. Writing an entry that is already there keeps its drop count.
 */
int datapath_set_strict_port(struct datapath *dp, uint32_t ip, uint16_t port, uint32_t mode);
int datapath_del_strict_port(struct datapath *dp, uint32_t ip, uint16_t port);
/* DENY ipBlocks entry: sources in @src_ip/@prefix (0..32) to local pod @dst_ip. */
int datapath_set_deny_src(struct datapath *dp, uint32_t dst_ip, uint32_t src_ip,
			  unsigned int prefix);
int datapath_del_deny_src(struct datapath *dp, uint32_t dst_ip, uint32_t src_ip,
			  unsigned int prefix);
/* The IPv6 twins (bpf_abi.h): the same, by an IPv6 address. */
int datapath_set_workload6(struct datapath *dp, const struct in6_addr *ip,
			   const struct ambit_workload *wl);
int datapath_del_workload6(struct datapath *dp, const struct in6_addr *ip);
int datapath_set_iface6(struct datapath *dp, int ifindex, const struct in6_addr *pod_ip6);
/* A port a pod leaves out of capture (excl_ports, struct ambit_excl_key of bpf_abi.h). */
int datapath_set_excl(struct datapath *dp, const struct ambit_excl_key *key);
int datapath_del_excl(struct datapath *dp, const struct ambit_excl_key *key);
/* In-pod capture: the IPv6 of the in-pod pod enrolled by @cgroup_id (enrolled_ip6). */
int datapath_set_enrolled_ip6(struct datapath *dp, uint64_t cgroup_id,
			      const struct in6_addr *pod_ip6);
int datapath_del_enrolled_ip6(struct datapath *dp, uint64_t cgroup_id);
int datapath_del_iface6(struct datapath *dp, int ifindex);
int datapath_set_service6(struct datapath *dp, const struct in6_addr *vip, uint16_t port,
			  uint8_t proto, const struct ambit_addr6 *backends, uint32_t n);
int datapath_del_service6(struct datapath *dp, const struct in6_addr *vip, uint16_t port,
			  uint8_t proto);
int datapath_set_strict_port6(struct datapath *dp, const struct in6_addr *ip, uint16_t port,
			      uint32_t mode);
int datapath_del_strict_port6(struct datapath *dp, const struct in6_addr *ip, uint16_t port);
/* @prefix 0..128. */
int datapath_set_deny_src6(struct datapath *dp, const struct in6_addr *dst,
			   const struct in6_addr *src, unsigned int prefix);
int datapath_del_deny_src6(struct datapath *dp, const struct in6_addr *dst,
			   const struct in6_addr *src, unsigned int prefix);
/*
 * A ServiceEntry's UDP @port (host order) over a CIDR block of either family (sentry_cidrs,
 * sentry_cidrs6; bpf_abi.h): @ip (IPv4: 4 bytes, IPv6: 16, network order) / @prefix. Host bits
 * are cleared. datapath_sentry_cidr_of reads a key of either map back (@v6: of sentry_cidrs6).
 */
int datapath_set_sentry_cidr(struct datapath *dp, bool v6, const void *ip, unsigned int prefix,
			     uint16_t port);
int datapath_del_sentry_cidr(struct datapath *dp, bool v6, const void *ip, unsigned int prefix,
			     uint16_t port);
void datapath_sentry_cidr_of(const void *key, bool v6, uint8_t ip[16], unsigned int *prefix,
			     uint16_t *port);
/*
 * Records flow @f (peer to pod) as predating its pod's enrolment (preflows, preflows6: host
 * capture lets its segments through); one already there is kept. 0 or -errno.
 */
int datapath_set_preflow(struct datapath *dp, const struct ambit_flow *f);
int datapath_set_preflow6(struct datapath *dp, const struct ambit_flow6 *f);
/*
 * Deletes the recorded flows to pod @ip (network order; 0: none) and @ip6 (NULL: none). How
 * many, or -errno.
 */
int datapath_forget_preflows(struct datapath *dp, uint32_t ip, const struct in6_addr *ip6);
/* Sums the per-CPU counters into @out[AMBIT_REASON__COUNT]. */
int datapath_read_counters(struct datapath *dp, uint64_t *out);
/*
 * The same from the pinned `counters` map of @pin_root (borrowed), opened for this read only,
 * so a map the loader recreated is never read stale.
 */
int datapath_read_counters_pinned(const char *pin_root, uint64_t *out);
/* Map fd by pinned name for iteration (borrowed), or -ENOENT. */
int datapath_map_fd(struct datapath *dp, const char *name);
/*
 * Every entry of map @fd as it is in the kernel now: *@keys and *@vals (malloc'd, *@n entries of
 * the map's key and value size, given in *@ksz and *@vsz). A few batched look-ups where the
 * kernel has them for the map's type, else key by key. 0 or -errno.
 */
int datapath_map_dump(int fd, void **keys, void **vals, size_t *n, uint32_t *ksz, uint32_t *vsz);

/* Printed name of a reason ("drop_spoofed_source"), or "unknown". */
const char *ambit_reason_name(unsigned int reason);
/* True for the reasons that count refusals (DROP_*, "drop_*"). */
bool ambit_reason_is_drop(unsigned int reason);

/* cgroup v2 id of @path (as bpf_get_current_cgroup_id returns), or 0 with errno set. */
uint64_t cgroup_id_of(const char *path);
/* The cgroup2 mount point from /proc/mounts, into @buf. */
int cgroup2_mount(char *buf, size_t len);
/* Ensures bpffs is mounted at /sys/fs/bpf. */
int bpffs_ensure_mounted(void);
/* Removes every pin under @pin_root and the directory (links unpinned detach their programs). */
int datapath_remove_pins(const char *pin_root);

/* ztunnel side: opens a pinned map of @pin_root by name (fd or -errno). */
int pinned_map_open(const char *pin_root, const char *name);
/* Looks up orig_dst for the pod socket (ip, port) that connected to 15001, then deletes it. */
int orig_dst_take(int orig_dst_fd, uint32_t ip, uint16_t port, struct ambit_orig_dst *out);
/* The same in orig_dst6, for a pod socket of IPv6 address @ip. */
int orig_dst6_take(int orig_dst6_fd, const struct in6_addr *ip, uint16_t port,
		   struct ambit_orig_dst6 *out);
/* The ztunnel's UDP listener of its family into udp_socks ([0] IPv4, [1] IPv6), for sk_lookup. */
int udp_sock_publish(int udp_socks_fd, bool v6, int sock_fd);
/*
 * Publishes a listening socket in proxy_socks[@slot] (an IPv4 one) or proxy_socks6[@slot] (an
 * IPv6 one: pass that map's fd) for the tc program to assign to.
 */
int proxy_sock_publish(int proxy_socks_fd, enum ambit_proxy_sock slot, int sock_fd);

#endif
