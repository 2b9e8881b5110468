/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's Kubernetes source (DESIGN.md §5, issue 10 §1): the kinds the agent reads, kept in
 * sync with the API server (kwatch.h) and put into the config store as entries named
 * "k8s:<resource>/<namespace>/<name>", so that each object is validated, rejected with its
 * namespace/name/field and kept at its last good version exactly as a file is; and the pod list
 * the data path needs, derived from the Pods in force:
 *  - every running pod of the cluster (each node's ztunnel checks the identity of the pod it
 *    connects to): IP, node and that node's address (status.hostIP), service account, labels,
 *    and its workload (a Deployment's name for a ReplicaSet's pod, as Istio names workloads).
 *    The agent watches its own node's Pods only (fieldSelector=spec.nodeName); the other nodes'
 *    come from the workload directory the CA service publishes (wdir.h), merged in by kdir.h
 *    under the same entry names "k8s:pods/<namespace>/<name>";
 *  - for this node's pods, their cgroup and the node-side end of their veth, found from the pod's
 *    UID under the cgroup2 mount and /proc (podns.h), cached while the cgroup stays.
 * Pods without an IP yet, in the node's namespace (hostNetwork) or finished (Succeeded, Failed)
 * are not workloads. The API server being away changes nothing: the store keeps what it had.
 */
#ifndef AMBIT_AGENT_KSOURCE_H
#define AMBIT_AGENT_KSOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include "ambit/config.h"
#include "confstore.h"
#include "config/runtime.h"

struct kconn;
struct ksource;

/*
 * Starts watching every kind through @conn for node @node; @cg_root is where pods' cgroups are
 * searched (the cgroup2 mount on a real node). WATCH requests last @watch_s seconds. NULL+errno.
 */
struct ksource *ksource_start(const struct kconn *conn, const char *node, const char *cg_root,
			      unsigned int watch_s);
/* Readable while changes wait (for the agent's epoll loop). */
int ksource_fd(const struct ksource *ks);
/* Takes every waiting change into @cs; *@changed is set when the config may differ. */
void ksource_take(struct ksource *ks, struct confstore *cs, bool *changed);
/* Whether every kind's first LIST is complete (before, the data path is left as it is). */
bool ksource_synced(const struct ksource *ks);
/* kwatch_resource_version of its watches. */
uint64_t ksource_resource_version(struct ksource *ks, bool *pending);
/*
 * The pods of the cluster from the Pods of @view (and the Services' clusterIPs), into @rt and
 * the nodes' addresses into @cl (both zeroed first; free them also on error). Pods of this node
 * whose namespace is not found yet are listed without cgroup and interface, the reason logged
 * once. 0 or -ENOMEM.
 */
int ksource_runtime(struct ksource *ks, const struct config *view, struct runtime *rt,
		    struct rt_cluster *cl);
/*
 * ksource_runtime, where a Pod of the same load (config_meta.serial) as one of @prev (the
 * runtime in force, borrowed) borrows that pod's fields made from the object alone (rt_pod's
 * shared) instead of making them again. Once @rt is taken, runtime_adopt(@rt, @prev) before
 * @prev is freed; if it is not, runtime_free(@rt) leaves @prev whole.
 */
/*
 * Pods of this node with no IP yet take the one @hint gives in *ip (false: none), ambit-cni's
 * (cnireq.c): their IPv4 address, or an IPv6-only pod's IPv6 one; a pod whose sandbox has no
 * process yet is found in the netns @hint names. Borrows @ctx.
 */
void ksource_set_ip_hint(struct ksource *ks,
			 bool (*hint)(void *ctx, const char *ns, const char *name,
				      struct ipaddr *ip, const char **netns),
			 void *ctx);
int ksource_runtime_from(struct ksource *ks, const struct config *view, const struct runtime *prev,
			 struct runtime *rt, struct rt_cluster *cl);
/* The status of each kind, as a JSON array (name, synced, objects, last error). NULL on ENOMEM. */
struct cJSON *ksource_status(struct ksource *ks);
void ksource_stop(struct ksource *ks);

/* The workload a pod belongs to: a Deployment for a ReplicaSet's pod, else its controller. */
const char *ksource_workload(const struct config_pod *p, char *buf, size_t len);

#endif
