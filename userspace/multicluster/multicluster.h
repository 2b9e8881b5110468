/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Istio's multicluster as the command line sees it (userspace/multicluster/), without I/O: the
 * remote secret `istioctl create-remote-secret` prints for a local cluster (secret.c), and the
 * rows of `istioctl remote-clusters` from what the nodes' agents report in their status'
 * "remoteClusters" (clusters.c). The commands that read the cluster and ask the agents are
 * cli/remote.c's, ambitctl's and istioctl's alike (docs/multicluster.md, "Remote secrets").
 */
#ifndef AMBIT_MULTICLUSTER_H
#define AMBIT_MULTICLUSTER_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "local/local.h"

/*
 * What istioctl's ISTIOD column names here: ambit has no istiod, each node's agent reads the
 * remote clusters for its node, so the rows name the agents as a whole.
 */
#define REMOTE_ISTIOD "ambit-agent"

/*
 * The remote secret of cluster @name (its id in the mesh) as `istioctl create-remote-secret`
 * prints it: Secret istio-remote-secret-@name in namespace @ns, labelled
 * istio/multiCluster=true, annotated networking.istio.io/cluster=@name, whose stringData key
 * @name holds a kubeconfig naming @server and, unless @ca_pem is NULL, that CA (base64, as
 * certificate-authority-data), with a user whose credential is bearer token @token (`user:
 * {}`, none, when NULL); then "---". *@out is malloc'd (the caller's). 0, -EINVAL when @name
 * is no RFC 1123 label (istioctl's rule: it names the Secret and is the key of its data), @ns
 * no RFC 1123 label, @server empty or holding a control character, or @token so; or -ENOMEM.
 * Borrows every argument.
 */
int remote_secret_render(const char *name, const char *ns, const char *server, const char *ca_pem,
			 const char *token, char **out);

/*
 * Where a remote secret's token comes from on a cluster with an API server: Istio's reader
 * service account, as istioctl takes it (its --service-account default), in the namespace
 * `ambitctl install` puts it in (deploy/ambit.yaml.tmpl), whatever namespace the Secret is for.
 * Its token is asked for this long (a year): the Secret is applied once and read until then,
 * and the API server's TokenRequest takes no "never".
 */
#define REMOTE_READER_NS "istio-system"
#define REMOTE_READER_SA "istio-reader-service-account"
#define REMOTE_READER_TOKEN_SECONDS (365L * 24 * 3600)

/*
 * The server a remote secret of local cluster @c names, into @buf: without --kube its run dir
 * as file:///run/ambit/C (the other cluster's agents read its state/ and runtime/pods.json
 * there); with --kube its API server at its fabric's address on the LoadBalancer network,
 * https://172.30.K.1:6443 (https://[fd00:30::K:1]:6443 in an IPv6 cluster). 0, -ENOENT for a
 * --kube cluster without a place on that network, or -ENAMETOOLONG.
 */
int remote_secret_server(const struct ctl_cluster *c, char *buf, size_t len);

/* One node's agent's answer to the status question: its "result", or NULL when it had none. */
struct remote_view {
	const char *node;
	const cJSON *status;
};

/*
 * The rows of `remote-clusters` from the answers of @n nodes (borrowed): a JSON array (the
 * caller's; NULL when out of memory) of {"name", "secret", "status", "istiod"} and more. First
 * the local cluster itself: its id (the first answer's clusterId, else @local_id), no secret,
 * synced, and its network. Then each remote cluster an agent lists, in the order first seen,
 * with the server, network, gateways and globalServices of the first listing, "nodes" (each
 * node's view: its agent's status for it, "syncing" when its agent lists others but not yet
 * this one) and "status" the worst of them (failed, then syncing, then synced) with "error",
 * the first failing node's, when failed. An agent whose status has no "remoteClusters" (a build
 * before them) has no view.
 */
cJSON *remote_clusters_merge(const char *local_id, const struct remote_view *v, size_t n);

#endif
