// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl get`'s objects as the API would serve them (getobj.h): the store's as applied, with
 * the metadata the store recorded beside them (creationTimestamp, uid) and a status — Pods are
 * pods.json's with their kubelets' state, a Service has the plan's VIP, a Deployment its pods'
 * counts, a Namespace its labels as the agents read them, a Gateway API Gateway or route the
 * status Istio's gateway controller would have written (l7/gwstatus.c; a waypoint's Programmed
 * as `waypoint list` says it, wpview.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ambit/l7.h"
#include "getobj.h"
#include "k8s/kmanifest.h"
#include "local/kmirror.h"

static const char *jstr(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static cJSON *jobj(cJSON *o, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsObject(v) ? v : cJSON_AddObjectToObject(o, key);
}

/* Sets @o's @key to @v, replacing what it had. */
static void jset(cJSON *o, const char *key, cJSON *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, key);
	cJSON_AddItemToObject(o, key, v);
}

/*
 * Why Gateway @g's deployment does not serve, or NULL when its pod runs the configuration its
 * agent published (wpview.c: what `waypoint list` holds of a waypoint's instance too).
 */
static const char *not_running(const struct get_ctx *x, const struct config_k8s_gateway *g)
{
	char want[300];
	const char *why;

	/* Its pod, as plan.c names it: an east-west gateway's takes the Gateway's own name. */
	snprintf(want, sizeof(want), "%s%s-0", g->meta.name,
		 g->class_name && !strcmp(g->class_name, CONFIG_EASTWEST_CLASS) ? "" : "-istio");
	why = wp_view_instance(&x->v, g->meta.namespace, want);
	if (!why)
		return "the gateway's deployment has no pod yet";
	return *why ? why : NULL;
}

/*
 * A waypoint Gateway's status as Istio writes it (Accepted; Programmed, which is what
 * `waypoint list` says: wp_view_programmed; its Service as address; its listeners, the HBONE
 * one on 15008 the only one served), or NULL when @g is no waypoint of @x's bindings.
 */
static cJSON *waypoint_status(const struct get_ctx *x, const struct config_k8s_gateway *g)
{
	const struct l7_waypoint *w = NULL;
	const char *msg, *reason;
	cJSON *st, *conds, *ls, *a;
	char addr[600];
	bool ok;

	for (size_t i = 0; i < x->v.b.n_waypoints && !w; i++)
		if (!strcmp(x->v.b.waypoints[i].namespace, g->meta.namespace) &&
		    !strcmp(x->v.b.waypoints[i].name, g->meta.name))
			w = &x->v.b.waypoints[i];
	if (!w || !(st = cJSON_CreateObject()))
		return NULL;
	reason = wp_view_programmed(&x->v, w, &msg);
	ok = !strcmp(reason, "Programmed");
	snprintf(addr, sizeof(addr), "%s.%s.svc.cluster.local", g->meta.name, g->meta.namespace);
	a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "type", "Hostname");
	cJSON_AddStringToObject(a, "value", addr);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(st, "addresses"), a);
	conds = cJSON_AddArrayToObject(st, "conditions");
	l7_status_condition(conds, "Accepted", true, "Accepted", "Resource accepted");
	l7_status_condition(conds, "Programmed", ok, reason, ok ? "Resource programmed" : msg);
	ls = cJSON_AddArrayToObject(st, "listeners");
	for (size_t i = 0; i < g->n_listeners; i++) {
		const struct config_gw_listener *l = &g->listeners[i];
		bool hbone = l->protocol && !strcmp(l->protocol, "HBONE") && l->port == 15008;
		cJSON *o = cJSON_CreateObject(), *lc;

		cJSON_AddItemToArray(ls, o);
		cJSON_AddStringToObject(o, "name", l->name);
		lc = cJSON_AddArrayToObject(o, "conditions");
		l7_status_condition(
		    lc, "Accepted", hbone, hbone ? "Accepted" : "UnsupportedProtocol",
		    hbone ? "No errors found"
			  : "Expected a single listener on port 15008 with protocol \"HBONE\"");
		l7_status_condition(lc, "Programmed", hbone && ok,
				    hbone && ok ? "Programmed" : "Invalid",
				    hbone && ok ? "No errors found"
				    : hbone	? msg
						: "not served");
	}
	return st;
}

/*
 * Gateway @g's address: its Service's LoadBalancer address on the local cluster (pods.json),
 * the Service being <name>-istio (@suffix "-istio", class istio) or <name> (an east-west
 * gateway's); else what the store's Service says, or its hostname (l7_gwapi_gateway_address).
 */
static void gateway_address(const struct get_ctx *x, const struct config_k8s_gateway *g,
			    const char *suffix, char *addr, size_t len)
{
	const char *lb;
	char key[600];

	snprintf(key, sizeof(key), "%s/%s%s", g->meta.namespace, g->meta.name, suffix);
	lb = jstr(cJSON_GetObjectItemCaseSensitive(x->pods_json, "loadBalancerIPs"), key)
		 ?: jstr(cJSON_GetObjectItemCaseSensitive(x->pods_json, "loadBalancerIPs6"), key);
	if (lb)
		snprintf(addr, len, "%s", lb);
	else
		l7_gwapi_gateway_address(&x->cfg, g, addr, len);
}

/* The Gateway API status of object @ns/@name of @kind, or NULL when none is written for it. */
static cJSON *gwapi_status(const struct get_ctx *x, const char *kind, const char *ns,
			   const char *name)
{
	const struct config *cfg = &x->cfg;
	const struct config_gw_route *routes = !strcmp(kind, "GRPCRoute")  ? cfg->grpc_routes
					       : !strcmp(kind, "TLSRoute") ? cfg->tls_routes
					       : !strcmp(kind, "TCPRoute") ? cfg->tcp_routes
									   : cfg->http_routes;
	size_t n = !strcmp(kind, "GRPCRoute")  ? cfg->n_grpc_routes
		   : !strcmp(kind, "TLSRoute") ? cfg->n_tls_routes
		   : !strcmp(kind, "TCPRoute") ? cfg->n_tcp_routes
					       : cfg->n_http_routes;
	char addr[600];

	if (!strcmp(kind, "Gateway")) {
		for (size_t i = 0; i < cfg->n_k8s_gateways; i++) {
			const struct config_k8s_gateway *g = &cfg->k8s_gateways[i];

			if (strcmp(g->meta.namespace, ns) || strcmp(g->meta.name, name) ||
			    !g->class_name)
				continue;
			if (!strcmp(g->class_name, CONFIG_WAYPOINT_CLASS))
				return waypoint_status(x, g);
			if (!strcmp(g->class_name, CONFIG_EASTWEST_CLASS)) {
				gateway_address(x, g, "", addr, sizeof(addr));
				return l7_gwapi_east_west_status(g, addr, not_running(x, g));
			}
			if (strcmp(g->class_name, CONFIG_GATEWAY_CLASS))
				continue;
			gateway_address(x, g, "-istio", addr, sizeof(addr));
			return l7_gwapi_gateway_status(cfg, g, addr, not_running(x, g));
		}
		return NULL;
	}
	if (strstr(kind, "Route"))
		for (size_t i = 0; i < n; i++)
			if (!strcmp(routes[i].meta.namespace, ns) &&
			    !strcmp(routes[i].meta.name, name))
				return l7_gwapi_route_status(cfg, &routes[i]);
	return NULL;
}

/* A Namespace's labels as the agents read them (the API server's among them); Active. */
static void namespace_as_read(const struct get_ctx *x, cJSON *obj, const char *name)
{
	const struct config_namespace *n = config_find_namespace(&x->cfg, name);
	cJSON *meta = jobj(obj, "metadata"), *l = cJSON_CreateObject();

	for (size_t i = 0; n && l && i < n->meta.labels.n; i++)
		cJSON_AddStringToObject(l, n->meta.labels.items[i].key,
					n->meta.labels.items[i].value);
	if (n)
		jset(meta, "labels", l);
	else
		cJSON_Delete(l);
	jset(obj, "status", cJSON_CreateObject());
	cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(obj, "status"), "phase", "Active");
}

/* A Service as the API server completes it: type, the plan's ClusterIP, ports' protocol. */
static void service_as_served(const struct get_ctx *x, cJSON *obj, const char *ns, const char *name)
{
	const cJSON *ips = cJSON_GetObjectItemCaseSensitive(x->pods_json, "serviceIPs");
	cJSON *spec = jobj(obj, "spec"), *p;
	const char *cur = jstr(spec, "clusterIP"), *vip, *vip6;
	char key[600];

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	vip = jstr(ips, key);
	vip6 = jstr(cJSON_GetObjectItemCaseSensitive(x->pods_json, "serviceIPs6"), key);
	if (!jstr(spec, "type"))
		cJSON_AddStringToObject(spec, "type", "ClusterIP");
	/* Both families in the order its ipFamilies ask; a SingleStack IPv6 Service's alone. */
	if (!(cur && !strcmp(cur, "None")) && (vip || vip6))
		kmirror_service_ips(spec, vip, vip6);
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(spec, "ports"))
	{
		if (!jstr(p, "protocol"))
			cJSON_AddStringToObject(p, "protocol", "TCP");
	}
	/* A LoadBalancer's addresses on the machine's LoadBalancer network (lbnet.c). */
	kmirror_service_lb(
	    obj, jstr(cJSON_GetObjectItemCaseSensitive(x->pods_json, "loadBalancerIPs"), key),
	    jstr(cJSON_GetObjectItemCaseSensitive(x->pods_json, "loadBalancerIPs6"), key));
}

/* A kubelet record's state as a Pod's status (phase, one container's status). */
static void pod_status(cJSON *st, cJSON *cs, const cJSON *rec, bool kubelet_up)
{
	const char *state = jstr(rec, "state");
	const cJSON *last = cJSON_GetObjectItemCaseSensitive(rec, "lastExit");
	double code = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(last, "exitCode"));
	double fin = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(last, "finishedAt"));
	double started = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(rec, "startedAt"));
	bool running = state && !strcmp(state, "Running");
	const char *phase = !kubelet_up ? "Unknown" : !state ? "Pending" : state;
	cJSON *s = cJSON_AddObjectToObject(cs, "state"), *t;
	char ts[32];

	if (state && !strcmp(state, "CrashLoopBackOff"))
		phase = "Running";
	else if (state && (!strcmp(state, "Completed") || (!strcmp(state, "Stopped") && !code)))
		phase = "Succeeded";
	else if (state && !strcmp(state, "Stopped"))
		phase = "Failed";
	cJSON_AddStringToObject(st, "phase", phase);
	cJSON_AddBoolToObject(cs, "ready", running);
	cJSON_AddNumberToObject(
	    cs, "restartCount",
	    cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(rec, "restarts")));
	cJSON_AddBoolToObject(cs, "started", running);
	if (running && started == started) {
		store_timestamp((time_t)started, ts, sizeof(ts));
		cJSON_AddStringToObject(cJSON_AddObjectToObject(s, "running"), "startedAt", ts);
	} else if (!state || !strcmp(state, "Pending") || !strcmp(state, "CrashLoopBackOff")) {
		cJSON_AddStringToObject(cJSON_AddObjectToObject(s, "waiting"), "reason",
					state && *state == 'C' ? "CrashLoopBackOff"
							       : "ContainerCreating");
	} else if (!running) {
		t = cJSON_AddObjectToObject(s, "terminated");
		cJSON_AddStringToObject(
		    t, "reason",
		    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(last, "startError"))
			? "StartError"
		    : code == 0 ? "Completed"
				: "Error");
		cJSON_AddNumberToObject(t, "exitCode", code == code ? code : 0);
	}
	/* A container that exited before the state it is in now (a restart, a back-off). */
	if (last && fin == fin && (running || (state && !strcmp(state, "CrashLoopBackOff")))) {
		store_timestamp((time_t)fin, ts, sizeof(ts));
		t = cJSON_AddObjectToObject(cJSON_AddObjectToObject(cs, "lastState"), "terminated");
		cJSON_AddNumberToObject(t, "exitCode", code == code ? code : 0);
		cJSON_AddStringToObject(t, "reason", code == 0 ? "Completed" : "Error");
		cJSON_AddStringToObject(t, "finishedAt", ts);
	}
}

/* Pod @p of pods.json as the API would serve it, its status what its node's kubelet says. */
static cJSON *pod_as_served(const struct get_ctx *x, const cJSON *p)
{
	const char *ns = jstr(p, "namespace"), *name = jstr(p, "name"), *node = jstr(p, "node");
	const char *ctr = jstr(p, "container") ?: name;
	const struct ctl_node *n = cluster_node(&x->c, node ? node : "");
	const cJSON *kst = n ? x->kubelets[n->index - 1] : NULL;
	cJSON *o = cJSON_CreateObject(), *meta, *spec, *st, *cs, *c;
	char key[600];

	if (!o)
		return NULL;
	snprintf(key, sizeof(key), "%s/%s", ns ? ns : "", name ? name : "");
	cJSON_AddStringToObject(o, "apiVersion", "v1");
	cJSON_AddStringToObject(o, "kind", "Pod");
	meta = cJSON_AddObjectToObject(o, "metadata");
	cJSON_AddStringToObject(meta, "name", name ? name : "");
	cJSON_AddStringToObject(meta, "namespace", ns ? ns : "");
	cJSON_AddItemToObject(meta, "labels",
			      cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(p, "labels"), 1));
	if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(p, "annotations")))
		cJSON_AddItemToObject(
		    meta, "annotations",
		    cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(p, "annotations"), 1));
	if (jstr(p, "creationTimestamp"))
		cJSON_AddStringToObject(meta, "creationTimestamp", jstr(p, "creationTimestamp"));
	if (jstr(p, "podUID"))
		cJSON_AddStringToObject(meta, "uid", jstr(p, "podUID"));
	spec = cJSON_AddObjectToObject(o, "spec");
	c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "name", ctr);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(spec, "containers"), c);
	cJSON_AddStringToObject(spec, "nodeName", node ? node : "");
	if (jstr(p, "serviceAccount"))
		cJSON_AddStringToObject(spec, "serviceAccountName", jstr(p, "serviceAccount"));
	st = cJSON_AddObjectToObject(o, "status");
	cs = cJSON_CreateObject();
	cJSON_AddStringToObject(cs, "name", ctr);
	pod_status(st, cs, kubelet_find(kst, key), kst != NULL);
	/* As its kubelet reports them: an IPv6 cluster's node by its IPv6 alone (local.h). */
	if (n) {
		cJSON_AddStringToObject(st, "hostIP", node_host_ip(n));
		kmirror_add_ips(st, "hostIPs", node_host_ip(n), node_host_ip2(n));
	}
	/* An address once its kubelet started it, as a real one reports podIP. */
	/* An IPv6 cluster's pod: its IPv6 alone. */
	if (!jstr(p, "ip") && jstr(p, "ip6") && strcmp(jstr(st, "phase"), "Pending")) {
		cJSON_AddStringToObject(st, "podIP", jstr(p, "ip6"));
		kmirror_add_ips(st, "podIPs", jstr(p, "ip6"), "");
	}
	if (jstr(p, "ip") && strcmp(jstr(st, "phase"), "Pending")) {
		char ip6[40] = "";

		cJSON_AddStringToObject(st, "podIP", jstr(p, "ip"));
		/* Dual stack: the IPv6 address second (the cluster's first family is IPv4). */
		if (!n || !n->pod_cidr6[0] || cluster_ip6(jstr(p, "ip"), ip6, sizeof(ip6)))
			ip6[0] = '\0';
		kmirror_add_ips(st, "podIPs", jstr(p, "ip"), ip6);
	}
	cJSON_AddItemToArray(cJSON_AddArrayToObject(st, "containerStatuses"), cs);
	return o;
}

/* Every Pod of pods.json, as served; read once. */
void getobj_ctx_free(struct get_ctx *x)
{
	wp_view_free(&x->v);
	cJSON_Delete(x->pods);
	cJSON_Delete(x->pods_json);
	for (int i = 0; i < CTL_MAX_NODES; i++)
		cJSON_Delete(x->kubelets[i]);
	store_objs_free(&x->objs);
	config_free(&x->cfg);
}

const cJSON *getobj_pods(struct get_ctx *x)
{
	const cJSON *p;
	int err;

	if (x->pods)
		return x->pods;
	x->pods = cJSON_CreateArray();
	x->pods_json = x->pods_json ?: plan_read_pods_json(&x->c);
	for (int i = 0; i < x->c.nnodes; i++)
		x->kubelets[i] = kubelet_call(&x->c.nodes[i], "{\"op\":\"status\"}", true, &err);
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(x->pods_json, "pods"))
	{
		cJSON_AddItemToArray(x->pods, pod_as_served(x, p));
	}
	return x->pods;
}

/* A Deployment's status: its pods (pods.json's owner) counted as the controller counts them. */
static void deployment_as_served(struct get_ctx *x, cJSON *obj, const char *ns, const char *name)
{
	const cJSON *p, *pods = cJSON_GetObjectItemCaseSensitive(x->pods_json, "pods");
	const cJSON *served = getobj_pods(x);
	cJSON *st = cJSON_CreateObject(), *spec = jobj(obj, "spec");
	int n = 0, ready = 0, i = 0;

	cJSON_ArrayForEach(p, pods)
	{
		const cJSON *s = cJSON_GetArrayItem(served, i++);
		const cJSON *cs = cJSON_GetArrayItem(
		    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s, "status"),
						     "containerStatuses"),
		    0);

		if (!jstr(p, "owner") || strcmp(jstr(p, "owner"), name) ||
		    strcmp(jstr(p, "namespace") ?: "", ns))
			continue;
		n++;
		ready += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cs, "ready"));
	}
	if (!cJSON_GetObjectItemCaseSensitive(spec, "replicas"))
		cJSON_AddNumberToObject(spec, "replicas", 1);
	cJSON_AddNumberToObject(st, "replicas", n);
	cJSON_AddNumberToObject(st, "updatedReplicas", n);
	cJSON_AddNumberToObject(st, "readyReplicas", ready);
	cJSON_AddNumberToObject(st, "availableReplicas", ready);
	jset(obj, "status", st);
}

/* Store object @o as the API would serve it, or NULL (told on stderr). */
cJSON *getobj_store(struct get_ctx *x, const struct store_obj *o)
{
	const char *ns = o->namespace ? o->namespace : "";
	struct store_meta m;
	char err[256];
	cJSON *docs = kmanifest_documents(o->yaml, err, sizeof(err)), *obj, *meta, *st;

	obj = docs ? cJSON_DetachItemFromArray(docs, 0) : NULL;
	cJSON_Delete(docs);
	if (!obj) {
		fprintf(stderr, "ambitctl get: %s: %s\n", o->path ? o->path : o->name, err);
		return NULL;
	}
	meta = jobj(obj, "metadata");
	store_meta_read(o, &m);
	if (o->namespace && !cJSON_GetObjectItemCaseSensitive(meta, "namespace"))
		cJSON_AddStringToObject(meta, "namespace", ns);
	if (m.created[0])
		jset(meta, "creationTimestamp", cJSON_CreateString(m.created));
	if (m.uid[0])
		jset(meta, "uid", cJSON_CreateString(m.uid));
	if (!strcmp(o->kind, "Namespace") && !*o->group) {
		namespace_as_read(x, obj, o->name);
	} else if (!strcmp(o->kind, "Service") && !*o->group) {
		service_as_served(x, obj, ns, o->name);
	} else if (!strcmp(o->kind, "Deployment")) {
		deployment_as_served(x, obj, ns, o->name);
	} else if (!strcmp(o->group, CONFIG_GW_GROUP)) {
		st = gwapi_status(x, o->kind, ns, o->name);
		cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
		if (st)
			cJSON_AddItemToObject(obj, "status", st);
	} else if (!strcmp(o->group, "security.istio.io") &&
		   !strcmp(o->kind, "AuthorizationPolicy")) {
		st = l7_authz_status(&x->cfg, ns, o->name);
		cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
		if (st)
			cJSON_AddItemToObject(obj, "status", st);
	}
	return obj;
}

/*
 * The namespaces the cluster has without a Namespace object: default, which an API server
 * always has, and each that objects are in (an API server would have refused them otherwise),
 * as old as the oldest of them. Appended to @found (@n of @max); the new count.
 */
size_t getobj_namespaces(struct get_ctx *x, cJSON **found, size_t n, size_t max)
{
	for (size_t i = 0; i <= x->objs.n && n < max; i++) {
		const char *ns = i < x->objs.n ? x->objs.items[i].namespace : "default";
		char oldest[32] = "";
		bool have = false;
		cJSON *o, *meta;

		for (size_t j = 0; ns && j < n && !have; j++)
			have = !strcmp(
			    jstr(cJSON_GetObjectItemCaseSensitive(found[j], "metadata"), "name")
				?: "",
			    ns);
		if (!ns || have)
			continue;
		for (size_t j = 0; j < x->objs.n; j++) {
			struct store_meta m;

			if (!x->objs.items[j].namespace || strcmp(x->objs.items[j].namespace, ns))
				continue;
			store_meta_read(&x->objs.items[j], &m);
			if (m.created[0] && (!oldest[0] || strcmp(m.created, oldest) < 0))
				strcpy(oldest, m.created);
		}
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "apiVersion", "v1");
		cJSON_AddStringToObject(o, "kind", "Namespace");
		meta = cJSON_AddObjectToObject(o, "metadata");
		cJSON_AddStringToObject(meta, "name", ns);
		if (oldest[0])
			cJSON_AddStringToObject(meta, "creationTimestamp", oldest);
		cJSON_AddStringToObject(cJSON_AddObjectToObject(meta, "labels"),
					"kubernetes.io/metadata.name", ns);
		cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "status"), "phase", "Active");
		found[n++] = o;
	}
	return n;
}
