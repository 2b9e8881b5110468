/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Remote clusters (Istio's multi-primary multicluster): the remote secrets in the root namespace
 * (Secrets labelled istio/multiCluster=true, each key a cluster's name and its value a kubeconfig,
 * as `istioctl create-remote-secret` makes them) name the clusters whose global Services this
 * node serves too. Of each remote cluster only a summary is kept, never its pods: its network,
 * its east-west gateways (Gateways of class istio-east-west, at their Service's LoadBalancer
 * address) and, per global Service (label istio.io/global=true), how many ready endpoints it
 * has there, on which ports, running as which identities. That summary is what the snapshot
 * carries (snapshot.h, net_gateways and remote_services).
 *
 * A remote cluster of this cluster's own network (Istio's single network: pods routed between
 * the clusters, no gateway hop) is known further, as a flat network needs: its mesh workloads
 * (what the destination's ztunnel checks a client's claimed address against, and the source
 * a client's ztunnel opens HBONE to) and its global Services' endpoints, which the snapshot
 * adds to this cluster's Service of the same hostname (or the one made for it).
 *
 * A cluster is read where its kubeconfig's server says: a local cluster without an API server
 * (`ambitctl local up` without --kube) is named by its run directory, file:///run/ambit/<name>,
 * of which its manifests (state/) and its pod list (runtime/pods.json) are read, nothing else.
 * A cluster with an API server (https://, a Kubernetes cluster or a `local up --kube` one) is
 * read through it with the secret's credentials, read-only (remote_api.c: a thread LISTs its
 * namespaces, Services, Pods and Gateways every few seconds).
 *
 * A cluster that cannot be read keeps its last good summary (status "failed", the reason kept);
 * a remote secret deleted takes its cluster away at the next sync.
 */
#ifndef AMBIT_AGENT_REMOTE_H
#define AMBIT_AGENT_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "ambit/config.h"
#include "ambit/snapshot.h"
#include "confstore.h"

struct cJSON;
struct remote_api;

#define REMOTE_SECRET_LABEL "istio/multiCluster"
#define REMOTE_GLOBAL_LABEL "istio.io/global"

struct remote_cluster {
	char *name;	 /* the cluster's id: the remote secret's key */
	char *secret;	 /* "namespace/name" of the remote secret */
	char *server;	 /* its kubeconfig's server */
	char *dir;	 /* a file:// server's directory, or NULL */
	bool synced;	 /* read at least once */
	char error[300]; /* why the last read failed, "" when it did not */
	char network[64];
	/* What was last read: the files' change times (a read is repeated when they move). */
	struct timespec gen_mtime, rt_mtime;
	bool read_once;
	size_t n_gateways, n_services;
	struct snap_net_gateway *gateways;    /* owned */
	struct snap_remote_service *services; /* owned */
	/*
	 * Of this cluster's network alone (none otherwise; owned): its workloads in the mesh
	 * (uid "<cluster>/<namespace>/<name>", node "<cluster>/<node>", no node IP: they are no
	 * node's of here) and its global Services with their endpoints, both families, and each
	 * endpoint's port (ep_ports, for every port: a name resolves there).
	 */
	size_t n_peer_workloads, n_peer_services;
	struct snap_workload *peer_workloads;
	struct snap_service *peer_services;
	bool seen;		/* still named by a secret (sync's mark) */
	struct remote_api *api; /* an https server's reader, or NULL */
	uint64_t kc_hash;	/* of the kubeconfig it was read with */
	struct confstore conf;	/* a directory's objects, kept between reads */
};

struct remote_set {
	size_t n;
	struct remote_cluster *items;
	/* Every cluster's summary, for the snapshot (shallow copies: borrowed from @items). */
	size_t n_gateways, n_services;
	struct snap_net_gateway *gateways;
	struct snap_remote_service *services;
	/*
	 * Global Services this cluster does not have (owned): made here so that a client reaches
	 * them by name (beyond Istio, where a global Service must exist in the calling cluster
	 * too): the Service's name, namespace, hostname and ports (the union of the clusters'),
	 * no endpoint of its own, and a VIP of REMOTE_VIP_NET (IPv4) and its IPv6 pair, chosen by
	 * a hash of the hostname, so a client keeps it as long as the Service is there.
	 */
	size_t n_made;
	struct snap_service *made;
	/*
	 * Of the clusters of this network (shallow, borrowed from @items): their mesh workloads,
	 * and their global Services whose endpoints a Service of here takes (not one this cluster
	 * has without the global label): a snapshot's workloads after its own, and
	 * remote_peer_endpoints.
	 */
	size_t n_peer_workloads, n_peer_services;
	struct snap_workload *peer_workloads;
	const struct snap_service **peer_services;
};

/* The VIPs of remote-only global Services: 240.241.0.0/16 (Istio's ServiceEntry range is
 * 240.240.0.0/16), and 2001:2::f1f1:XXYY beside 240.241.XX.YY. */
#define REMOTE_VIP_NET 0xf0f10000u

struct remote_env {
	const char *root_namespace; /* where remote secrets are read, istio-system */
	const char *cluster_id;	    /* this cluster's: a secret naming it is skipped */
	const char *trust_domain;   /* the identities of remote endpoints and gateways */
	const char *network;	    /* this cluster's, or NULL: none (then no cluster shares it) */
};

/*
 * Brings @rs in line with the remote secrets of @local (this cluster's config view) and reads
 * every remote cluster whose files changed since its last read. A global Service of a remote
 * cluster is left out where this cluster has the same Service without the global label (its
 * scope here is local, as Istio's). *@changed is set when the summary may differ. 0 or -ENOMEM.
 */
int remote_sync(struct remote_set *rs, const struct config *local, const struct remote_env *env,
		bool *changed);
/* Whether a remote cluster's files moved since it was last read (a sync is due). */
bool remote_due(const struct remote_set *rs);
void remote_free(struct remote_set *rs);
/*
 * Service @svc (a shallow copy of a snapshot's) with the endpoints of the Services of its
 * hostname in the clusters of this network added after its own: its endpoints, endpoints6,
 * ep_ports and ep_ports6 become new arrays when there are any (else @svc is unchanged). 0 or
 * -ENOMEM (then @svc is unchanged). remote_peer_endpoints_free frees the arrays of @svc that
 * are not @orig's (what it was copied from).
 */
int remote_peer_endpoints(const struct remote_set *rs, struct snap_service *svc);
void remote_peer_endpoints_free(struct snap_service *svc, const struct snap_service *orig);
/* The agent status's "remoteClusters": one object per cluster. NULL on ENOMEM. */
struct cJSON *remote_status(const struct remote_set *rs);

/* ---- the reader of a remote cluster's API server (remote_api.c), for remote.c ---- */

/*
 * Starts reading the cluster kubeconfig @kubeconfig (@len bytes, a remote secret's: it may name
 * no file here) names, as @name, on a thread of its own. NULL with @why.
 */
struct remote_api *remote_api_start(const char *name, const char *kubeconfig, size_t len, char *why,
				    size_t wlen);
/* Whether new lists, or a failed round not told yet, wait for remote_api_take. */
bool remote_api_pending(struct remote_api *ra);
/*
 * The newest lists not taken yet (malloc'd; NULL: none new), and into @err the last round's
 * failure ("" when it succeeded).
 */
char *remote_api_take(struct remote_api *ra, char *err, size_t errlen);
/* Lets the reader go: its thread ends and frees it. Accepts NULL. */
void remote_api_stop(struct remote_api *ra);
/*
 * Lists @text (remote_api_take's) into @cs (an entry per object, validated as every object) and
 * *@pods_json, the pods, Service and balancer addresses in pods.json's shape (malloc'd). 0, or
 * -EINVAL with @err.
 */
int remote_api_convert(const char *text, struct confstore *cs, char **pods_json, char *err,
		       size_t errlen);

#endif
