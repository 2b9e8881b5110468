/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The workload directory (issue 10 §1): node agents watch only the Pods of their node
 * (fieldSelector=spec.nodeName), as Istio's node agent does; what a node's ztunnel needs of the
 * other nodes' pods (IP, node and its address, service account, labels, workload, readiness)
 * comes from the directory, which the CA service (`ambit-agent --ca-server`, the one component
 * that watches every Pod, as istiod does for Istio's ztunnels) publishes as a few ConfigMaps in
 * the mesh's namespace:
 *
 *   ConfigMap ambit-workloads-NN (NN: 00..WDIR_SHARDS-1), label ambit.io/directory=workloads,
 *   data.pods: a JSON array of Pods cut to the fields the mesh reads (wdir_reduce), sorted by
 *   namespace/name; a pod is in shard wdir_shard(namespace/name).
 *
 * The API server fans them out to the agents (a list and watch, labelSelector), as Cilium's
 * CiliumEndpointSlices are: a pod's change rewrites its shard only. Only the CA service's account
 * may write them, so a node cannot misstate another node's pods. When the CA service is away the
 * directory stays as it was: what runs keeps running, pods that start elsewhere meanwhile are
 * known once it is back (as with istiod).
 */
#ifndef AMBIT_AGENT_WDIR_H
#define AMBIT_AGENT_WDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct kconn;

#define WDIR_SHARDS 64
#define WDIR_PREFIX "ambit-workloads-"
#define WDIR_LABEL "ambit.io/directory"
#define WDIR_LABEL_VALUE "workloads"
#define WDIR_SELECTOR WDIR_LABEL "=" WDIR_LABEL_VALUE
/* A ConfigMap holds at most 1 MiB; a shard's text above this is not written (logged). */
#define WDIR_SHARD_MAX (1000 * 1000)

/*
 * Pod @pod as the API serves it, cut to what the mesh reads of it (TypeMeta; metadata's name,
 * namespace, uid, labels, the mesh's annotations, creation and deletion timestamps and the
 * controller's ownerReference; spec's nodeName, serviceAccountName, hostNetwork and the
 * containers' names and ports; status's phase, podIP(s), hostIP and the Ready condition). NULL
 * when it has no name, namespace or node yet (not a workload of any node), or out of memory.
 */
struct cJSON *wdir_reduce(const struct cJSON *pod);
/* The shard of pod "@ns/@name" (FNV-1a of the key). */
unsigned int wdir_shard(const char *key);

/* One pod of a shard: its key ("namespace/name") and its reduced text. */
struct wdir_pod {
	char *key;
	char *text;    /* NULL once a reader let it go (kdir.c keeps the hash) */
	uint64_t hash; /* XXH3 of the text, as wdir_shard_parse read it */
	bool here;     /* spec.nodeName is the reading node */
};

struct wdir_shard_pods {
	size_t n;
	struct wdir_pod *p; /* sorted by key, no key twice */
};

/* The JSON array of @n pods' texts (malloc'd; data.pods of their shard), or NULL (ENOMEM). */
char *wdir_shard_array(const struct wdir_pod *pods, size_t n);
/*
 * The ConfigMap of shard @idx in namespace @ns holding @n pods' texts (sorted by key), as
 * unformatted JSON (malloc'd), or NULL when out of memory.
 */
char *wdir_shard_object(const char *ns, unsigned int idx, const struct wdir_pod *pods, size_t n);
/*
 * Reads a shard's ConfigMap text @json into @out (zeroed first) for node @node. 0, or -EINVAL
 * (not a shard: no data.pods array; items without a name are skipped) or -ENOMEM; @out is empty
 * on error.
 */
int wdir_shard_parse(const char *json, const char *node, struct wdir_shard_pods *out);
void wdir_shard_pods_free(struct wdir_shard_pods *s);
/* The position of @key in @s, or -1. */
long wdir_shard_find(const struct wdir_shard_pods *s, const char *key);

/*
 * The publisher (the CA service): lists and watches every Pod through @conn (copied) and keeps
 * the WDIR_SHARDS ConfigMaps in namespace @ns up to date, on a thread of its own: a shard is
 * written once its pods have been still for a few milliseconds (bounded), with back-off while
 * the API server refuses. Nothing is written before the first LIST is whole. It watches the
 * shards too: one deleted, or changed by another hand, is written again. NULL + errno.
 */
struct wdir_pub;
struct wdir_pub *wdir_pub_start(const struct kconn *conn, const char *ns, unsigned int watch_s);
void wdir_pub_stop(struct wdir_pub *p);

#endif
