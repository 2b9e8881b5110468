// SPDX-License-Identifier: Apache-2.0
/*
 * The local cluster's waypoints and gateway proxies as they run (ctl.h, wp_view): the store's
 * bindings computed as the agents compute them, over the pods of pods.json, where an instance
 * (a pod labelled gateway.networking.k8s.io/gateway-name) counts only once it serves: its
 * kubelet says Running, its node's agent has published it a configuration, and it runs that
 * one (its admin's /snapshot_version, on 15020, is at least the version published). A process
 * that started but has not had its configuration yet listens nowhere, or answers 404 (no
 * route) for what it does not know yet: its waypoint is not Programmed until it serves. One
 * rule for `waypoint list|status` and `get gateway`, so they always agree.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/ipc.h"
#include "ctl.h"

/* The node of pods.json entry @p, or NULL. */
static const struct ctl_node *node_of(const struct ctl_cluster *c, const cJSON *p)
{
	const char *node = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "node"));

	return cluster_node(c, node ? node : "");
}

/* The version @n's agent published to instance @key ("ns/pod"): 0 when none, -1 unknown. */
static int64_t published(const struct ctl_cluster *c, const struct ctl_node *n, cJSON **agents,
			 const char *key)
{
	cJSON **st = &agents[n - c->nodes];
	const cJSON *w, *res;
	char *reply = NULL;

	if (!*st) {
		if (ipc_request(n->socket, CTL_AGENT_STATUS_REQ, &reply) == 0)
			*st = cJSON_Parse(reply);
		free(reply);
		if (!*st)
			*st = cJSON_CreateNull(); /* asked once: it does not answer */
	}
	res = cJSON_GetObjectItemCaseSensitive(*st, "result");
	if (!res)
		return -1;
	cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(res, "waypoints"))
	{
		const char *pod = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "pod"));
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(w, "version");

		if (pod && !strcmp(pod, key) && cJSON_IsNumber(v) && v->valuedouble >= 0)
			return (int64_t)v->valuedouble;
	}
	return 0;
}

/*
 * Whether instance @p (a pods.json entry) serves; why not into @why. @kubelets and @agents
 * cache each node's kubelet and agent status (CTL_MAX_NODES entries, deleted by the caller).
 */
static bool instance_serves(const struct ctl_cluster *c, const cJSON *p, cJSON **kubelets,
			    cJSON **agents, char *why, size_t len)
{
	const struct ctl_node *n = node_of(c, p);
	const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "namespace"));
	const char *pod = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "name"));
	char key[600], netns[CTL_NAME_MAX * 2], err[300] = "", *body = NULL;
	const cJSON *rec;
	uint64_t have = 0;
	int64_t want;
	int ret, e;

	str_fmt(key, sizeof(key), "%s/%s", ns ? ns : "", pod ? pod : "");
	if (!n || !ns || !pod) {
		str_fmt(why, len, "instance %s is on no node of the cluster", key);
		return false;
	}
	if (!kubelets[n - c->nodes])
		kubelets[n - c->nodes] = kubelet_call(n, "{\"op\":\"status\"}", true, &e);
	rec = kubelet_find(kubelets[n - c->nodes], key);
	if (!rec ||
	    strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "state")) ?: "",
		   "Running")) {
		str_fmt(why, len,
			"no instance of it runs (see its pod %s in `ambitctl local status`)", key);
		return false;
	}
	want = published(c, n, agents, key);
	if (want <= 0) {
		str_fmt(why, len,
			want ? "instance %s: its node's agent does not answer"
			     : "instance %s runs, but its node's agent has published it no "
			       "configuration yet",
			key);
		return false;
	}
	cluster_pod_netns(c, ns, pod, netns, sizeof(netns));
	ret = http_get_in_netns_err(netns, 15020, "/snapshot_version", &body, err, sizeof(err));
	if (ret != 200 || !body || sscanf(body, "%" SCNu64, &have) != 1) {
		str_fmt(why, len,
			"instance %s runs, but has not taken its configuration yet (it answers no "
			"/snapshot_version on 15020%s%s)",
			key, err[0] ? ": " : "", err);
		free(body);
		return false;
	}
	free(body);
	if (have < (uint64_t)want) {
		str_fmt(why, len,
			"instance %s runs snapshot %" PRIu64 ", its agent published %" PRId64, key,
			have, want);
		return false;
	}
	return true;
}

static uint32_t vip_of(void *arg, const char *ns, const char *name)
{
	const cJSON *ips = cJSON_GetObjectItemCaseSensitive(arg, "serviceIPs");
	char key[512];
	struct in_addr a;
	const char *s;

	if (str_fmt(key, sizeof(key), "%s/%s", ns, name))
		return 0;
	s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ips, key));
	return s && inet_pton(AF_INET, s, &a) == 1 ? a.s_addr : 0;
}

/* The pods of pods.json as l7_pod into @v, instances only once they serve. */
static int view_pods(struct wp_view *v, const struct ctl_cluster *c)
{
	cJSON *kubelets[CTL_MAX_NODES] = {NULL}, *agents[CTL_MAX_NODES] = {NULL};
	const cJSON *arr, *p;
	size_t i = 0;
	int ret = 0;

	v->pods_json = plan_read_pods_json(c);
	arr = v->pods_json ? cJSON_GetObjectItemCaseSensitive(v->pods_json, "pods") : NULL;
	if (!cJSON_IsArray(arr))
		return 0; /* no pods yet */
	v->pods = calloc(cJSON_GetArraySize(arr) + 1, sizeof(*v->pods));
	v->labels = calloc(cJSON_GetArraySize(arr) + 1, sizeof(*v->labels));
	if (!v->pods || !v->labels)
		return -ENOMEM;
	cJSON_ArrayForEach(p, arr)
	{
		const cJSON *l, *lab = cJSON_GetObjectItemCaseSensitive(p, "labels");
		const char *gw = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(lab, CONFIG_LABEL_GATEWAY_NAME));
		struct l7_pod *o = &v->pods[i];
		struct in_addr ip = {0};
		const char *ip4 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "ip"));
		const char *ip6 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "ip6"));
		char key[600], why[700] = "";

		o->namespace =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "namespace"));
		o->name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "name"));
		o->node = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "node"));
		o->service_account =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "serviceAccount"));
		/* Of either family: a pod of IPv6 alone (an IPv6-only cluster's) has "ip6" only. */
		memset(&o->ip6, 0, sizeof(o->ip6));
		if (ip6 && (ipaddr_parse_addr(ip6, &o->ip6) || o->ip6.family != AF_INET6))
			memset(&o->ip6, 0, sizeof(o->ip6));
		if (!o->namespace || !o->name || !o->service_account ||
		    (ip4 ? inet_pton(AF_INET, ip4, &ip) != 1 : !o->ip6.family))
			continue;
		o->ip = ip.s_addr;
		if (gw) {
			bool serves = instance_serves(c, p, kubelets, agents, why, sizeof(why));
			cJSON *rec = cJSON_CreateObject();

			str_fmt(key, sizeof(key), "%s/%s", o->namespace, o->name);
			if (!rec || !cJSON_AddItemToObject(v->instances, key, rec) ||
			    !cJSON_AddStringToObject(rec, "namespace", o->namespace) ||
			    !cJSON_AddStringToObject(rec, "gateway", gw) ||
			    !cJSON_AddStringToObject(rec, "why", serves ? "" : why)) {
				ret = -ENOMEM;
				break;
			}
			if (!serves)
				continue;
		}
		cJSON_ArrayForEach(l, lab)
		{
			if (cJSON_IsString(l) &&
			    config_labels_add(&v->labels[i], l->string, l->valuestring))
				ret = -ENOMEM;
		}
		o->labels = &v->labels[i];
		i++;
	}
	for (size_t k = 0; k < CTL_MAX_NODES; k++) {
		cJSON_Delete(kubelets[k]);
		cJSON_Delete(agents[k]);
	}
	v->n_pods = i;
	return ret;
}

int wp_view_load(struct wp_view *v, const struct ctl_cluster *c, const struct config *cfg)
{
	struct l7_inputs in = {.cfg = cfg, .service_vip = vip_of};
	int ret;

	memset(v, 0, sizeof(*v));
	v->instances = cJSON_CreateObject();
	if (!v->instances)
		return -ENOMEM;
	ret = view_pods(v, c);
	if (ret)
		return ret;
	in.pods = v->pods;
	in.n_pods = v->n_pods;
	in.arg = v->pods_json;
	return l7_bindings_compute(&in, &v->b);
}

void wp_view_free(struct wp_view *v)
{
	l7_bindings_free(&v->b);
	for (size_t i = 0; v->labels && i < v->n_pods; i++)
		config_labels_free(&v->labels[i]);
	free(v->labels);
	free(v->pods);
	cJSON_Delete(v->pods_json);
	cJSON_Delete(v->instances);
	memset(v, 0, sizeof(*v));
}

const char *wp_view_instance(const struct wp_view *v, const char *ns, const char *pod)
{
	char key[600];

	str_fmt(key, sizeof(key), "%s/%s", ns, pod);
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(v->instances, key), "why"));
}

const char *wp_view_programmed(const struct wp_view *v, const struct l7_waypoint *w,
			       const char **message)
{
	const cJSON *i;

	if (!w->has_hbone) {
		*message = "no listener of protocol HBONE on port 15008";
		return "Invalid";
	}
	if (l7_waypoint_instances(w)) {
		*message = "resource programmed";
		return "Programmed";
	}
	/*
	 * Why its first instance does not serve: one that runs but has not taken its
	 * configuration is Pending, as Gateway API says of a Gateway not ready yet.
	 */
	cJSON_ArrayForEach(i, v->instances)
	{
		const char *ns =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(i, "namespace"));
		const char *gw =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(i, "gateway"));
		const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(i, "why"));

		if (!ns || !gw || !why || !*why || strcmp(ns, w->namespace) || strcmp(gw, w->name))
			continue;
		*message = why;
		return strstr(why, "no instance of it runs") ? "NoInstances" : "Pending";
	}
	*message = "no instance of it runs (see its pod <name>-0 in `ambitctl local status`)";
	return "NoInstances";
}
