/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the local cluster (or the Kubernetes source) reports about running pods: runtime/pods.json
 * and cluster.json (docs/internals/local-cluster-layout.md). Parsed with cJSON.
 * IPv4 addresses are kept in network byte order.
 */
#ifndef AMBIT_AGENT_RUNTIME_H
#define AMBIT_AGENT_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "ambit/config.h"
#include "ambit/ipaddr.h"

struct rt_pod {
	char *namespace;
	char *name;
	char *uid;   /* "ns/name" */
	char *owner; /* Deployment name, or NULL */
	char *node;
	char *cgroup;	       /* absolute cgroup v2 directory, or NULL */
	char *host_iface;      /* host-side veth in the node netns, or NULL */
	char *service_account; /* "default" when absent */
	/*
	 * A host directory mounted into the pod (JSON "agentDir", or NULL): the agent serves a
	 * waypoint instance its own snapshot on <agentDir>/agent.sock (wpserve.h).
	 */
	char *agent_dir;
	/*
	 * spec.hostname and spec.subdomain (JSON "hostname", "subdomain"), or NULL: the pod's name
	 * under the headless Service @subdomain. Always its own (never shared).
	 */
	char *hostname, *subdomain;
	/*
	 * Not Ready (its readiness probe fails) or being deleted: no Service sends it new
	 * connections, as kube-proxy would not; its own address still reaches it.
	 */
	bool not_ready;
	bool here; /* on this node: set by the Kubernetes source only (kube_waypoint_dirs) */
	/*
	 * Its IPv4 address (JSON "ip"), network order; 0: none, a pod of an IPv6-only cluster,
	 * which has its IPv6 address alone. One of the two is always there.
	 */
	uint32_t ip;
	/* Its IPv6 address (JSON "ip6"; family 0: none): a dual-stack or IPv6-only pod's. */
	struct ipaddr ip6;
	struct config_labels labels;
	uint64_t serial; /* the Pod object's config_meta.serial (Kubernetes source), or 0 */
	/*
	 * 0: the pod owns all its fields. Else 1 + the position of the pod in the runtime in
	 * force whose namespace, name, uid, owner, node, service_account and labels it borrows
	 * (ksource_runtime_from) until runtime_adopt; runtime_free leaves those alone.
	 */
	size_t shared;
};

struct rt_service_ip {
	char *key;	   /* "ns/name" */
	uint32_t ip;	   /* serviceIPs: its IPv4 VIP (0: a SingleStack IPv6 Service) */
	struct ipaddr ip6; /* serviceIPs6: its IPv6 VIP (family 0: none) */
};

struct runtime {
	size_t n_pods, n_service_ips;
	struct rt_pod *pods;
	struct rt_service_ip *service_ips;
};

struct rt_node {
	char *name;
	uint32_t ip;	   /* its IPv4 (0: a node of an IPv6-only cluster reports none) */
	struct ipaddr ip6; /* its IPv6 (family 0: none) */
};

struct rt_cluster {
	size_t n_nodes;
	struct rt_node *nodes;
	bool sorted; /* by name (runtime_cluster_sort): runtime_node_ip searches in halves */
};

/*
 * Parses a pods.json document into @out (zeroed first; caller frees with runtime_free, also on
 * error). A malformed document is rejected as a whole: returns -EINVAL and writes a reason naming
 * the offending field ("pods[3].ip: not an IPv4 address") into @err. Borrows @json.
 */
int runtime_parse(const char *json, size_t len, struct runtime *out, char *err, size_t errlen);
/* Reads and parses @path. A missing file is an empty runtime (no pod started yet): returns 0. */
int runtime_load(const char *path, struct runtime *out, char *err, size_t errlen);
void runtime_free(struct runtime *rt);
/*
 * @rt is taken in place of @prev (about to be freed): what @rt's pods borrow from @prev's
 * becomes theirs, and @prev's pods let go of it.
 */
void runtime_adopt(struct runtime *rt, struct runtime *prev);
/* serviceIPs["ns/name"] in network order, or 0 (none, or IPv6 only: runtime_service_ip6). */
uint32_t runtime_service_ip(const struct runtime *rt, const char *ns, const char *name);
/* Its IPv6 VIP (serviceIPs6), borrowed, or NULL. */
const struct ipaddr *runtime_service_ip6(const struct runtime *rt, const char *ns,
					 const char *name);

/* cluster.json: node names and IPs. Same conventions as runtime_parse/runtime_load. */
int runtime_cluster_parse(const char *json, size_t len, struct rt_cluster *out, char *err,
			  size_t errlen);
int runtime_cluster_load(const char *path, struct rt_cluster *out, char *err, size_t errlen);
void runtime_cluster_free(struct rt_cluster *c);
/* IP of node @name in network order, or 0 when unknown. */
uint32_t runtime_node_ip(const struct rt_cluster *c, const char *name);
/* The node named @name in @c, or NULL (runtime_node_ip's look-up). */
const struct rt_node *runtime_node(const struct rt_cluster *c, const char *name);
/* Sorts @c's nodes by name, for runtime_node_ip's look-ups of every pod. */
void runtime_cluster_sort(struct rt_cluster *c);

/* Reads a whole file into a malloc'd NUL-terminated buffer (caller frees). 0 or -errno. */
int runtime_read_file(const char *path, char **out, size_t *len);

#endif
