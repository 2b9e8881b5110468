// SPDX-License-Identifier: Apache-2.0
/*
 * `local up --kube`: the status of ambit's own workloads in the API server, the DaemonSet and
 * the Deployments `ambitctl install` put in ambit's namespace and the nodes' kubelets run from
 * their pod templates (kubelet.c), rolled up from what the kubelets run as the DaemonSet and
 * Deployment controllers roll up their pods' readiness, so that `kubectl get deploy,ds -n
 * ambit-system`, `kubectl rollout status` and `kubectl wait` read it:
 *   - the DaemonSet ambit-node is desired on every node, current on a node whose kubelet runs
 *     its agent and ztunnel, and ready there when both run and each container's readinessProbe
 *     passes (httpGet or tcpSocket at 127.0.0.1 in the node's netns: the pod is hostNetwork);
 *     its install-cni container is not run here (the local cluster installs its CNI itself) and
 *     counts for nothing;
 *   - the Deployment ambit-ca has the one pod the first node's kubelet runs, ready likewise;
 *   - any other Deployment has no pod here: ambit-waypoints, the waypoint controller, is scaled
 *     to 0 when ambit is installed (kube_waypoint_controller_off), since the local cluster deploys
 *     waypoints and gateways itself (plan.c, gwdeploy.c).
 * A status is written only when it differs from the one the server holds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cjson/cJSON.h>

#include "local.h"
#include "k8s/kconn.h"
#include "k8s/kmanifest.h"
#include "kmirror.h"

#define KW_APPS "/apis/apps/v1/namespaces/" CTL_KUBE_NS
#define KW_PROBE_MS 2000 /* a probe's timeout, as the kubelet's default (1 s) and then some */

static const cJSON *get(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* A probe's port: a number, or the name of one of container @ctr's ports. 0 when neither. */
static int probe_port(const cJSON *ctr, const cJSON *port)
{
	const cJSON *p;

	if (cJSON_IsNumber(port))
		return port->valueint > 0 && port->valueint < 65536 ? port->valueint : 0;
	cJSON_ArrayForEach(p, get(ctr, "ports"))
	{
		const char *name = cJSON_GetStringValue(get(p, "name"));

		if (name && cJSON_IsString(port) && !strcmp(name, port->valuestring) &&
		    cJSON_IsNumber(get(p, "containerPort")))
			return get(p, "containerPort")->valueint;
	}
	return 0;
}

/* Whether 127.0.0.1:@port of netns @netns accepts a connection (a tcpSocket probe). */
static bool tcp_probe(const char *netns, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = KW_PROBE_MS / 1000};
	int saved, fd;
	bool ok;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (netns_enter(netns, &saved))
		return false;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	netns_leave(saved);
	if (fd < 0)
		return false;
	/* SO_SNDTIMEO bounds connect() too. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/*
 * Whether container @ctr of a pod run in node @n's netns passes its readinessProbe (none: it is
 * ready once it runs, as Kubernetes has it). Only httpGet and tcpSocket probes are in ambit's
 * manifests; any other kind is not run here, and fails.
 */
static bool probe_ok(const struct ctl_node *n, const cJSON *ctr)
{
	const cJSON *probe = get(ctr, "readinessProbe"), *http = get(probe, "httpGet"),
		    *tcp = get(probe, "tcpSocket");
	const char *path;
	int port, code;

	if (!probe)
		return true;
	if (http) {
		port = probe_port(ctr, get(http, "port"));
		path = cJSON_GetStringValue(get(http, "path"));
		code =
		    port ? http_get_in_netns(n->netns, port, path && *path ? path : "/", NULL) : 0;
		return code >= 200 && code < 400;
	}
	port = tcp ? probe_port(ctr, get(tcp, "port")) : 0;
	return port && tcp_probe(n->netns, port);
}

/* The kubelet's record of what runs container @ctr_name of @workload on a node, or NULL. */
static const char *record_name(bool daemonset, const char *workload, const char *ctr_name)
{
	if (daemonset && !strcmp(workload, "ambit-node") &&
	    (!strcmp(ctr_name, "agent") || !strcmp(ctr_name, "ztunnel")))
		return ctr_name;
	if (!daemonset && !strcmp(workload, "ambit-ca") && !strcmp(ctr_name, "ca"))
		return "ambit-ca";
	return NULL;
}

/*
 * Workload @obj's pod on node @n, from its kubelet's status @kst: *@runs when the kubelet has
 * each container of it the local cluster runs (in whatever state: a scheduled, current pod),
 * *@ready when each of those is Running and passes its readiness probe.
 */
static void pod_on_node(const struct ctl_node *n, const cJSON *kst, const cJSON *obj,
			bool daemonset, bool *runs, bool *ready)
{
	const char *name = kjson_str(obj, "metadata", "name");
	const cJSON *ctrs = get(get(get(get(obj, "spec"), "template"), "spec"), "containers"), *c;
	int run = 0, up = 0, ok = 0;

	cJSON_ArrayForEach(c, ctrs)
	{
		const char *cname = cJSON_GetStringValue(get(c, "name"));
		const char *rec = cname && name ? record_name(daemonset, name, cname) : NULL;
		const cJSON *r = rec && kst ? kubelet_find(kst, rec) : NULL;
		const char *state = cJSON_GetStringValue(get(r, "state"));

		if (!rec)
			continue;
		run++;
		up += !!r;
		if (state && !strcmp(state, "Running"))
			ok += probe_ok(n, c);
	}
	*runs = run && up == run;
	*ready = *runs && ok == run;
}

/* @obj's status as its controller would write it, from the kubelets' @kst. NULL on ENOMEM. */
static cJSON *status_of(const struct ctl_cluster *c, cJSON *const *kst, const cJSON *obj,
			bool daemonset)
{
	const cJSON *gen = get(get(obj, "metadata"), "generation"),
		    *rep = get(get(obj, "spec"), "replicas");
	const double g = cJSON_IsNumber(gen) ? gen->valuedouble : 1;
	int current = 0, ready = 0;

	for (int i = 0; i < c->nnodes; i++) {
		bool runs, ok;

		/* The CA's one pod is the first node's (kubelet.c). */
		if (!daemonset && i > 0)
			break;
		pod_on_node(&c->nodes[i], kst[i], obj, daemonset, &runs, &ok);
		current += runs;
		ready += ok;
	}
	if (daemonset)
		return kmirror_daemonset_status(c->nnodes, current, ready, g);
	return kmirror_replicas_status(CTL_KUBE_NS, kjson_str(obj, "metadata", "name"),
				       cJSON_IsNumber(rep) ? rep->valueint : 1, current, ready, g);
}

/* Writes the status of each of @list's items (of @coll) that differs from the one it holds. */
static int write_changed(const struct ctl_cluster *c, const struct kconn *k, cJSON *const *kst,
			 const char *coll, const cJSON *list, bool daemonset)
{
	const cJSON *it;
	int ret = 0;

	cJSON_ArrayForEach(it, get(list, "items"))
	{
		const char *name = kjson_str(it, "metadata", "name");
		cJSON *st = name ? status_of(c, kst, it, daemonset) : NULL, *body;
		char path[512], *resp = NULL;
		long code;

		if (!name)
			continue;
		if (!st)
			return -ENOMEM;
		if (cJSON_Compare(st, get(it, "status"), true)) {
			cJSON_Delete(st);
			continue;
		}
		body = cJSON_Duplicate(it, true);
		if (!body) {
			cJSON_Delete(st);
			return -ENOMEM;
		}
		/* A LIST's items carry neither: the server wants them on a write. */
		cJSON_DeleteItemFromObjectCaseSensitive(body, "apiVersion");
		cJSON_DeleteItemFromObjectCaseSensitive(body, "kind");
		cJSON_DeleteItemFromObjectCaseSensitive(body, "status");
		cJSON_AddStringToObject(body, "apiVersion", "apps/v1");
		cJSON_AddStringToObject(body, "kind", daemonset ? "DaemonSet" : "Deployment");
		cJSON_AddItemToObject(body, "status", st);
		str_fmt(path, sizeof(path), "%s/%s/%s/status", KW_APPS, coll, name);
		code = kube_call(k, "PUT", path, body, &resp);
		cJSON_Delete(body);
		free(resp);
		/* 409: changed since listed (kubectl scale); the next round has it. */
		if (code != 200 && code != 409 && code != 404) {
			fprintf(stderr, "ambitctl: kube: status of %s/%s/%s: HTTP %ld\n",
				CTL_KUBE_NS, coll, name, code);
			ret = -EIO;
		}
	}
	return ret;
}

int kube_workloads_status(const struct ctl_cluster *c)
{
	static const char *const colls[] = {"daemonsets", "deployments"};
	cJSON *kst[CTL_MAX_NODES] = {0};
	struct kconn k = {0};
	int saved, err, ret;

	for (int i = 0; i < c->nnodes; i++)
		kst[i] = kubelet_call(&c->nodes[i], "{\"op\":\"status\"}", true, &err);
	ret = cluster_kube_enter(c, &k, &saved);
	for (size_t i = 0; !ret && i < sizeof(colls) / sizeof(colls[0]); i++) {
		char path[256], *resp = NULL;
		long code;
		cJSON *list;

		str_fmt(path, sizeof(path), "%s/%s", KW_APPS, colls[i]);
		code = kube_call(&k, "GET", path, NULL, &resp);
		list = code == 200 ? cJSON_Parse(resp) : NULL;
		free(resp);
		if (!list) {
			fprintf(stderr, "ambitctl: kube: listing %s/%s: HTTP %ld\n", CTL_KUBE_NS,
				colls[i], code);
			ret = -EIO;
		} else {
			ret = write_changed(c, &k, kst, colls[i], list, i == 0);
		}
		cJSON_Delete(list);
		if (i + 1 == sizeof(colls) / sizeof(colls[0]) || ret)
			cluster_kube_leave(&k, saved);
	}
	for (int i = 0; i < c->nnodes; i++)
		cJSON_Delete(kst[i]);
	return ret;
}

int kube_waypoint_controller_off(const struct kconn *k)
{
	const char *path = KW_APPS "/deployments/ambit-waypoints";
	char *resp = NULL;
	long code = kube_call(k, "GET", path, NULL, &resp);
	cJSON *d = code == 200 ? cJSON_Parse(resp) : NULL, *spec, *md, *ann;
	int ret = 0;

	free(resp);
	resp = NULL;
	spec = cJSON_GetObjectItemCaseSensitive(d, "spec");
	md = cJSON_GetObjectItemCaseSensitive(d, "metadata");
	if (!cJSON_IsObject(spec) || !cJSON_IsObject(md)) {
		cJSON_Delete(d);
		fprintf(stderr, "ambitctl: kube: %s/ambit-waypoints: HTTP %ld\n", CTL_KUBE_NS,
			code);
		return -EIO;
	}
	/* Unconditional, as `kubectl scale`: a status write in between would make it 409. */
	cJSON_DeleteItemFromObjectCaseSensitive(md, "resourceVersion");
	ann = cJSON_GetObjectItemCaseSensitive(md, "annotations");
	if (!cJSON_IsObject(ann)) {
		cJSON_DeleteItemFromObjectCaseSensitive(md, "annotations");
		ann = cJSON_AddObjectToObject(md, "annotations");
	}
	cJSON_DeleteItemFromObjectCaseSensitive(spec, "replicas");
	cJSON_DeleteItemFromObjectCaseSensitive(ann, "ambit.io/local-cluster");
	if (!ann || !cJSON_AddNumberToObject(spec, "replicas", 0) ||
	    !cJSON_AddStringToObject(ann, "ambit.io/local-cluster",
				     "scaled to 0: ambitctl local deploys the waypoints and "
				     "gateways of this cluster itself")) {
		cJSON_Delete(d);
		return -ENOMEM;
	}
	code = kube_call(k, "PUT", path, d, &resp);
	cJSON_Delete(d);
	free(resp);
	if (code != 200) {
		fprintf(stderr, "ambitctl: kube: scaling %s/ambit-waypoints to 0: HTTP %ld\n",
			CTL_KUBE_NS, code);
		ret = -EIO;
	}
	return ret;
}
