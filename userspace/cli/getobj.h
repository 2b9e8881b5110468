/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ambitctl get`'s objects as the API would serve them (getobj.c): the store's as applied, with
 * the metadata the store recorded and a status; Pods from pods.json and their kubelets.
 */
#ifndef AMBIT_CLI_GETOBJ_H
#define AMBIT_CLI_GETOBJ_H

#include <time.h>

#include <cjson/cJSON.h>

#include "ctl.h"
#include "local/objstore.h"

/* What one `get` reads of the cluster, once. */
struct get_ctx {
	struct ctl_cluster c;
	struct config cfg;
	struct store_objs objs;
	struct wp_view v;		/* the waypoints and gateways as they run (wpview.c) */
	cJSON *pods_json;		/* runtime/pods.json */
	cJSON *kubelets[CTL_MAX_NODES]; /* each node's kubelet status, NULL when it is down */
	cJSON *pods;			/* the Pods, built once (the Deployments count them) */
	time_t now;
};

/* What @x holds (its view, pods, kubelets' answers, objects and config); not @x itself. */
void getobj_ctx_free(struct get_ctx *x);
/* Every Pod of pods.json as served, its status what its node's kubelet says (read once). */
const cJSON *getobj_pods(struct get_ctx *x);
/* Store object @o as the API would serve it, or NULL (told on stderr). */
cJSON *getobj_store(struct get_ctx *x, const struct store_obj *o);
/*
 * The namespaces the cluster has without a Namespace object, appended to @found (@n of @max
 * used); the new count.
 */
size_t getobj_namespaces(struct get_ctx *x, cJSON **found, size_t n, size_t max);
/*
 * kstatus.c: the status of @c's Gateway API Gateways and routes and of its AuthorizationPolicies
 * as `ambitctl get` computes it, written on the API server's objects where it differs (and a
 * Warning Event on a policy the ztunnel cannot enforce as written), for `local kube-controller`
 * (local_kube_controller). 0 or -errno.
 */
int kube_status_sync(const struct ctl_cluster *c);

#endif
