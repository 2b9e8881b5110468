/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's desired state, computed purely from the config (state dir), the runtime (pods.json)
 * and the node's identity; and the diff of one map's desired entries against its current ones.
 * No BPF, no I/O: everything external comes through struct desired_env callbacks, so this is
 * unit tested on its own.
 */
#ifndef AMBIT_AGENT_DESIRED_H
#define AMBIT_AGENT_DESIRED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include <netinet/in.h>

#include "ambit/bpf_abi.h"
#include "ambit/config.h"
#include "ambit/l7.h"
#include "ambit/snapshot.h"
#include "lib/label_index.h"
#include "config/runtime.h"

/*
 * One entry of a fixed-size map (workloads, enrolled_cgrp, pod_ifaces and the IPv6 twins),
 * value zero-padded. A key of 4 or 8 bytes is @key (@key2 0); a 16-byte one (an IPv6 address)
 * is @key then @key2, as bytes.
 */
struct dp_entry {
	uint64_t key, key2;
	uint8_t val[16];
};

/* @e's key as the 16-byte map key it stands for (an IPv6 address), into @out. */
void dp_entry_key16(const struct dp_entry *e, void *out);

/* One (VIP, port, protocol) of the services map with its backends (owned). */
struct dp_service {
	uint32_t vip;
	uint16_t port;
	uint8_t proto; /* 0: TCP; IPPROTO_UDP: a UDP port (struct ambit_addr's proto) */
	uint32_t n;
	struct ambit_backend *backends;
	bool known; /* false: read back from the map without its backends; always rewritten */
};

/*
 * One ([VIP], port) of services6 (a dual-stack Service's IPv6 cluster IP) with its backends
 * (owned; as stored: addresses and ports in network order).
 */
struct dp_service6 {
	struct in6_addr vip;
	uint16_t port; /* host order */
	uint8_t proto; /* as dp_service's */
	uint32_t n;
	struct ambit_addr6 *backends;
};

/* A ServiceEntry's UDP port over one of its CIDR blocks (sentry_cidrs, sentry_cidrs6). */
struct dp_sentry_cidr {
	struct ipaddr net; /* host bits clear */
	uint16_t port;	   /* host order */
};

/* A pod of this node, as the agent sees it (for tc attachment, certificates and status). */
struct desired_local_pod {
	char *uid;
	char *identity;
	char *cgroup;	  /* NULL when the runtime gave none */
	char *host_iface; /* NULL when the runtime gave none */
	uint64_t cgroup_id;
	int ifindex; /* 0 when unknown or not found */
	uint32_t ip;
	struct ipaddr ip6; /* family 0: none */
	bool enrolled;
	bool inpod; /* captured in its own netns (desired_mark_inpod) */
};

struct desired {
	size_t n_workloads, n_enrolled, n_ifaces, n_services, n_local, n_identities;
	struct dp_entry *workloads; /* key: pod ip; val: struct ambit_workload */
	struct dp_entry *enrolled;  /* key: cgroup id; val: struct ambit_enrolled */
	struct dp_entry *ifaces;    /* key: ifindex; val: struct ambit_iface */
	/* The IPv6 twins: pods with an IPv6 address (dp_entry_key16), their veths' IPv6. */
	size_t n_workloads6, n_ifaces6;
	struct dp_entry *workloads6; /* key: pod IPv6; val: struct ambit_workload */
	struct dp_entry *ifaces6;    /* key: ifindex; val: struct ambit_ip6 */
	/* In-pod pods with an IPv6 address (desired_mark_inpod): enrolled_ip6. */
	size_t n_enrolled6, cap_enrolled6;
	struct dp_entry *enrolled6; /* key: cgroup id; val: struct ambit_ip6 */
	/* Ports local enrolled pods leave out of capture (bpf_abi.h): excl_ports. */
	size_t n_excl, cap_excl;
	struct dp_entry *excl; /* key: struct ambit_excl_key (dp_entry_key16); val: unused */
	size_t n_services6;
	struct dp_service6 *services6; /* sorted by VIP, then port */
	/* ServiceEntries' UDP ports over their CIDR blocks, sorted and unique (both families). */
	size_t n_sentry_cidrs, cap_sentry_cidrs;
	struct dp_sentry_cidr *sentry_cidrs;
	struct dp_service *services;
	struct desired_local_pod *local;
	char **identities; /* sorted, unique: identities of local enrolled pods */
	/* Snapshot parts (owned; a snapshot built from them borrows them). */
	size_t n_snap_workloads, n_snap_services;
	struct snap_workload *snap_workloads;
	struct snap_service *snap_services;
	char *trust_domain; /* the one computed for (identities, workloads borrowed) */
	/* ServiceEntry hosts (entries.c, owned) and the mesh's outboundTrafficPolicy. */
	size_t n_snap_entries;
	struct snap_service *snap_entries;
	bool registry_only;
	/* Human-readable problems found (unresolvable VIP, unknown node IP, ...). */
	size_t n_warnings;
	char **warnings;
};

struct waypoint_view;

struct desired_env {
	const char *node;
	uint32_t node_ip; /* network order */
	/*
	 * The node has an IPv6 address (a dual-stack node): ServiceEntry hosts get an allocated
	 * IPv6 VIP beside the IPv4 one, which an IPv4-only node's pods could not reach.
	 */
	bool ipv6;
	const char *trust_domain;
	const struct rt_cluster *cluster; /* node IPs; may be NULL */
	/* ifindex of @name in the node netns, or 0. */
	int (*ifindex_of)(const char *name, void *ctx);
	/* cgroup v2 id of @path, or 0. */
	uint64_t (*cgroup_id_of)(const char *path, void *ctx);
	void *ctx;
	/* The waypoint bindings of the same config and pods, or NULL: desired_compute's own. */
	const struct waypoint_view *waypoints;
	/*
	 * The desired state in force, or NULL. A workload made from the same Pod object (serial)
	 * with the same identity, node and enrollment borrows its strings from there instead of
	 * copying them; desired_adopt must follow before @prev is freed.
	 */
	const struct desired *prev;
	/*
	 * Multicluster: the global Services other clusters serve (remote shares, of every
	 * network), and the Services made here for those this cluster does not define (their
	 * VIPs), or none. An enrolled pod's UDP to such a Service is balanced by the ztunnel, over
	 * the clusters (desired_remote_udp).
	 */
	const struct snap_remote_service *remote;
	size_t n_remote;
	const struct snap_service *made;
	size_t n_made;
};

/*
 * Look-ups over one config and runtime, built once per computation (sorted arrays: the agent
 * serves 10,000 pods and 5,000 Services, where a scan per pod or per Service is quadratic).
 */
struct desired_index {
	const struct config *cfg;
	bool ipv6; /* desired_env's */
	/* cfg's Pods by namespace, name: sorted when first needed (a named target port). */
	const struct config_pod **pods;
	size_t n_pods;
	bool pods_sorted;
	const struct rt_pod **rt; /* the runtime's pods, in its order */
	size_t n_rt;
	struct label_index by_label; /* positions in @rt, by label */
	/* @rt by namespace, then in its order: sorted when first needed (no label index). */
	const struct rt_pod **by_ns;
	bool by_ns_sorted;
};

/* Borrows @cfg and @rt, which must outlive @ix. 0 or -ENOMEM. */
int desired_index_build(const struct config *cfg, const struct runtime *rt,
			struct desired_index *ix);
void desired_index_free(struct desired_index *ix);
/* The container ports of @p's own spec: its Pod manifest, else its Deployment's template. */
const struct config_pod_spec *desired_pod_spec(struct desired_index *ix, const struct rt_pod *p);
/*
 * The runtime's pods of namespace @ns: *@first and the count that follows it. Without memory
 * to sort them, every pod: the caller checks each one's namespace.
 */
size_t desired_ns_pods(struct desired_index *ix, const char *ns,
		       const struct rt_pod *const **first);

/*
 * Endpoint @ip (0: none) and @ip6 (NULL or family 0: none) take port @port at @tp, not at the
 * snapshot's target port: into @ss's ep_ports and ep_ports6, once each (a Service's slices or
 * pods, an entry's own `ports`). 0 or -ENOMEM.
 */
int desired_ep_port_add(struct snap_service *ss, uint32_t ip, const struct ipaddr *ip6,
			uint16_t port, uint16_t tp);

/* The room of @d->services and @d->services6 (array_grow's capacities). */
struct entry_caps {
	size_t *svc, *svc6;
};

/*
 * The ServiceEntries of @cfg as snapshot entries (entries.c), sorted by namespace and host, with
 * allocated addresses, into @d->snap_entries; their UDP ports at those addresses into
 * @d->services and @d->services6 (@caps: their room), and over their CIDR blocks into
 * @d->sentry_cidrs, unsorted; and @d->registry_only. 0 or -ENOMEM / -ENOSPC.
 */
int desired_entries(const struct config *cfg, struct desired_index *ix, struct desired *d,
		    struct entry_caps *caps);
/*
 * entries.c: UDP to @net (a block, or one address) on @port into @d->sentry_cidrs, unsorted:
 * the ztunnel's, as addressed. 0 or -ENOMEM.
 */
int desired_add_sentry_cidr(struct desired *d, const struct ipaddr *net, uint16_t port);

/*
 * Computes the desired state into @out (zeroed first; free with desired_free, also on error).
 * Borrows @cfg, @rt, @env. Returns 0 or -ENOMEM.
 */
int desired_compute(const struct config *cfg, const struct runtime *rt,
		    const struct desired_env *env, struct desired *out);
/*
 * @next (desired_compute's, with env->prev = @prev) takes over what it borrowed from @prev: @prev
 * lets go of it, and may then be freed. Without it, @next frees only what it owns.
 */
void desired_adopt(struct desired *next, struct desired *prev);
void desired_free(struct desired *d);
/*
 * In-pod capture (inpod.h): @lp, a local pod of @d, is captured in its own netns: its workloads
 * and enrolled_cgrp entries get the in-pod flags, and an enrolled pod with an IPv6 address gets
 * an enrolled_ip6 entry (its IPv6, where connect6 sends it). 0, or -ENOMEM when that entry could
 * not be added (the flags are set all the same: its IPv6 stays refused).
 */
int desired_mark_inpod(struct desired *d, struct desired_local_pod *lp);
/*
 * waypoints.c: attaches to @d's snapshot services and workloads the waypoint that takes their
 * traffic (include/ambit/l7.h). Called by desired_compute; borrows the rest. 0 or -ENOMEM.
 */
int desired_waypoints(const struct config *cfg, const struct runtime *rt,
		      const struct desired_env *env, struct desired *out);

/*
 * waypoints.c: the UDP ports of the Services with endpoints in another cluster (env->remote)
 * and of those made for other clusters' global Services (env->made, every port: their
 * protocols are not known here), at their VIPs, into @d->sentry_cidrs, unsorted: the kernel
 * leaves an enrolled pod's datagrams there unbalanced, for the ztunnel, which balances them over
 * the clusters and carries them as TCP goes (to another network, through its gateway).
 * 0 or -ENOMEM.
 */
int desired_remote_udp(const struct desired_env *env, struct desired *d);

/*
 * waypoints.c: the L7 inputs of a config and pod list, and the waypoint bindings computed from
 * them (include/ambit/l7.h), for the snapshots of the ztunnel and of each waypoint. Borrows
 * @cfg and @rt, which must outlive the view. Without a waypoint Gateway in @cfg nothing is
 * bound and the view is empty (no pass over every pod and Service).
 */
struct waypoint_view {
	struct l7_pod *pods;
	struct l7_inputs in;
	struct l7_bindings b;
};
/* 0 or -ENOMEM; free with waypoint_view_free in either case. */
/*
 * @jwks (may be NULL) gives the RequestAuthentications' jwksUri key sets, with @jwks_arg (the
 * agent's fetcher, jwks_fetcher_get).
 */
int waypoint_view_build(struct waypoint_view *v, const struct config *cfg, const struct runtime *rt,
			const char *trust_domain, const char *(*jwks)(void *arg, const char *uri),
			void *jwks_arg);
void waypoint_view_free(struct waypoint_view *v);

/* Returns the local pod with @uid, or NULL (borrowed). */
const struct desired_local_pod *desired_local_pod(const struct desired *d, const char *uid);

/* What to write and delete to turn @cur into @want. */
struct dp_diff {
	size_t n_set, n_del;
	struct dp_entry *set; /* entries of @want absent from @cur or with another value */
	struct dp_entry *del; /* entries of @cur absent from @want (their keys count) */
};

/* Borrows both inputs (they need not be sorted). 0 or -ENOMEM; free with dp_diff_free. */
int dp_diff_compute(const struct dp_entry *cur, size_t ncur, const struct dp_entry *want,
		    size_t nwant, struct dp_diff *out);
void dp_diff_free(struct dp_diff *d);

struct dp_service_diff {
	size_t n_set, n_del;
	const struct dp_service **set; /* borrowed from @want */
	struct dp_service *del;	       /* vip, port and proto only */
};

/*
 * The order of services: by VIP, port, then protocol (qsort and bsearch), and the key it
 * compares.
 */
uint64_t dp_service_key(const struct dp_service *s);
int dp_service_cmp(const void *a, const void *b);
/* The protocol a Service port is balanced as (0: TCP, IPPROTO_UDP), or -1: not (SCTP). */
int dp_service_proto(const char *protocol);
/* Same for services: a (vip, port, proto) is rewritten when its backends differ or are unknown. */
int dp_service_diff_compute(const struct dp_service *cur, size_t ncur,
			    const struct dp_service *want, size_t nwant,
			    struct dp_service_diff *out);
void dp_service_diff_free(struct dp_service_diff *d);

/* Deep copy of a services array (for remembering what was applied). NULL+errno on failure. */
struct dp_service *dp_services_dup(const struct dp_service *s, size_t n);
void dp_services_free(struct dp_service *s, size_t n);
/* For services6: by VIP, port, then protocol (qsort and bsearch). */
int dp_service6_cmp(const void *a, const void *b);
void dp_services6_free(struct dp_service6 *s, size_t n);
/*
 * The order of sentry_cidrs entries (family, address, length, port; qsort and bsearch), and
 * @v (@n of them) sorted in it with duplicates dropped: the number left.
 */
int dp_sentry_cidr_cmp(const void *a, const void *b);
size_t dp_sentry_cidrs_sort(struct dp_sentry_cidr *v, size_t n);

/*
 * @v, a comma-separated list of ports as Istio's exclude annotations take them ("5432, 6379";
 * blanks around each; "" or blanks: none), into @ports (network order, at most @max, in the
 * order given). 0, or -EINVAL with what is wrong in @why (@len bytes, terminated).
 */
int desired_port_list(const char *v, uint16_t *ports, size_t max, size_t *n, char *why, size_t len);

#endif
