// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl get KIND[,KIND...]|all [NAME...] [-n NS | -A] [-o wide|yaml|json|name] [-l SEL]
 * [--show-labels]`, as kubectl's, for every kind ambit loads (getcols.c has their names and
 * columns). The objects are the local cluster's, as the API would serve them: the store's as
 * applied, with the metadata the store recorded (creationTimestamp, uid) and a status —
 * Pods are pods.json's with their kubelets' state, a Service has the plan's VIP, a Deployment
 * its pods' counts, a Namespace its labels as the agents read them, a Gateway API Gateway or
 * route the status Istio's gateway controller would have written (l7_gwstatus.c; a waypoint's
 * Programmed as `waypoint list` says it, wpview.c). In --kube too: these are what the agents
 * are given, under the names the API server has them by.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ambit/l7.h"
#include "ctl.h"
#include "getcols.h"
#include "kmanifest.h"
#include "objstore.h"

#define GET_MAX_KINDS 32
#define GET_MAX_NAMES 32

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

static void usage_get(void)
{
	fprintf(
	    stderr,
	    "usage: ambitctl get KIND[,KIND...]|all [NAME...] [-n NS | -A] [-o "
	    "wide|yaml|json|name]\n"
	    "                    [-l KEY=VALUE,...] [--show-labels]\n"
	    "  KIND as kubectl names it: pods (po), services (svc), deployments (deploy),\n"
	    "  namespaces (ns), serviceaccounts (sa), configmaps (cm), secrets, endpointslices,\n"
	    "  virtualservices (vs), destinationrules (dr), gateways.networking.istio.io (gw),\n"
	    "  serviceentries (se), envoyfilters, authorizationpolicies (ap),\n"
	    "  peerauthentications (pa), requestauthentications (ra), telemetries,\n"
	    "  gateways.gateway.networking.k8s.io (gateway, gtw), httproutes, grpcroutes,\n"
	    "  tlsroutes, tcproutes, referencegrants, localratelimits; all: pods, services,\n"
	    "  deployments\n");
}

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

	snprintf(want, sizeof(want), "%s-istio-0", g->meta.name);
	why = wp_view_instance(&x->v, g->meta.namespace, want);
	if (!why)
		return "the gateway's deployment has no pod yet";
	return *why ? why : NULL;
}

static void condition(cJSON *list, const char *type, bool status, const char *reason,
		      const char *message)
{
	cJSON *c = cJSON_CreateObject();

	cJSON_AddStringToObject(c, "type", type);
	cJSON_AddStringToObject(c, "status", status ? "True" : "False");
	cJSON_AddStringToObject(c, "reason", reason);
	cJSON_AddStringToObject(c, "message", message);
	cJSON_AddItemToArray(list, c);
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
	condition(conds, "Accepted", true, "Accepted", "Resource accepted");
	condition(conds, "Programmed", ok, reason, ok ? "Resource programmed" : msg);
	ls = cJSON_AddArrayToObject(st, "listeners");
	for (size_t i = 0; i < g->n_listeners; i++) {
		const struct config_gw_listener *l = &g->listeners[i];
		bool hbone = l->protocol && !strcmp(l->protocol, "HBONE") && l->port == 15008;
		cJSON *o = cJSON_CreateObject(), *lc;

		cJSON_AddItemToArray(ls, o);
		cJSON_AddStringToObject(o, "name", l->name);
		lc = cJSON_AddArrayToObject(o, "conditions");
		condition(lc, "Accepted", hbone, hbone ? "Accepted" : "UnsupportedProtocol",
			  hbone
			      ? "No errors found"
			      : "Expected a single listener on port 15008 with protocol \"HBONE\"");
		condition(lc, "Programmed", hbone && ok, hbone && ok ? "Programmed" : "Invalid",
			  hbone && ok ? "No errors found"
			  : hbone     ? msg
				      : "not served");
	}
	return st;
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
			if (strcmp(g->class_name, CONFIG_GATEWAY_CLASS))
				continue;
			snprintf(addr, sizeof(addr), "%s-istio.%s.svc.cluster.local", name, ns);
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
	const char *cur = jstr(spec, "clusterIP"), *vip;
	char key[600];

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	vip = jstr(ips, key);
	if (!jstr(spec, "type"))
		cJSON_AddStringToObject(spec, "type", "ClusterIP");
	if (!(cur && !strcmp(cur, "None")) && vip) {
		jset(spec, "clusterIP", cJSON_CreateString(vip));
		jset(spec, "clusterIPs", cJSON_CreateStringArray(&vip, 1));
	}
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(spec, "ports"))
	{
		if (!jstr(p, "protocol"))
			cJSON_AddStringToObject(p, "protocol", "TCP");
	}
	if (!cJSON_GetObjectItemCaseSensitive(obj, "status"))
		cJSON_AddObjectToObject(cJSON_AddObjectToObject(obj, "status"), "loadBalancer");
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
	if (last && fin == fin) {
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
	if (n)
		cJSON_AddStringToObject(st, "hostIP", n->ip);
	/* An address once its kubelet started it, as a real one reports podIP. */
	if (jstr(p, "ip") && strcmp(jstr(st, "phase"), "Pending"))
		cJSON_AddStringToObject(st, "podIP", jstr(p, "ip"));
	cJSON_AddItemToArray(cJSON_AddArrayToObject(st, "containerStatuses"), cs);
	return o;
}

/* Every Pod of pods.json, as served; read once. */
static const cJSON *pods_of(struct get_ctx *x)
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
	const cJSON *served = pods_of(x);
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
static cJSON *obj_as_served(struct get_ctx *x, const struct store_obj *o)
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
	}
	return obj;
}

/* One requirement of a -l selector: key=value, key==value, key!=value, key, !key. */
static bool label_match(const cJSON *labels, const char *req)
{
	char key[512];
	const char *op = req + strcspn(req, "=!"), *v, *have;
	bool neg = *req == '!';

	if (neg) {
		snprintf(key, sizeof(key), "%s", req + 1);
		return !jstr(labels, key);
	}
	snprintf(key, sizeof(key), "%.*s", (int)(op - req), req);
	have = jstr(labels, key);
	if (!*op)
		return have;
	neg = *op == '!';
	v = op + 1 + (op[1] == '=');
	return neg ? !have || strcmp(have, v) : have && !strcmp(have, v);
}

static bool selected(const cJSON *obj, const char *sel)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels");
	char req[512];

	for (const char *p = sel; p && *p;) {
		size_t n = strcspn(p, ",");

		snprintf(req, sizeof(req), "%.*s", (int)n, p);
		if (!label_match(labels, req))
			return false;
		p += n + (p[n] == ',');
	}
	return true;
}

struct get_req {
	const struct get_kind *kinds[GET_MAX_KINDS];
	size_t nkinds;
	const char *names[GET_MAX_NAMES];
	size_t nnames;
	const char *ns, *out, *selector;
	bool all_ns, show_labels;
};

static int obj_cmp(const void *a, const void *b)
{
	const cJSON *ma = cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)a, "metadata");
	const cJSON *mb = cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)b, "metadata");
	int r = strcmp(jstr(ma, "namespace") ?: "", jstr(mb, "namespace") ?: "");

	return r ? r : strcmp(jstr(ma, "name") ?: "", jstr(mb, "name") ?: "");
}

/* Kind @k's objects @r asks for into @list (sorted by namespace and name). 0 or -errno. */
static int collect(struct get_ctx *x, const struct get_kind *k, const struct get_req *r,
		   cJSON *list)
{
	cJSON *found[4096];
	size_t n = 0;
	const cJSON *p;

	if (!strcmp(k->kind, "Pod") && !*k->group) {
		cJSON_ArrayForEach(p, pods_of(x))
		{
			if (n < sizeof(found) / sizeof(found[0]))
				found[n++] = cJSON_Duplicate(p, 1);
		}
	} else {
		for (size_t i = 0; i < x->objs.n && n < sizeof(found) / sizeof(found[0]); i++) {
			const struct store_obj *o = &x->objs.items[i];

			if (strcmp(o->kind, k->kind) || strcmp(o->group, k->group))
				continue;
			if (!(found[n] = obj_as_served(x, o)))
				return -EINVAL;
			n++;
		}
	}
	qsort(found, n, sizeof(found[0]), obj_cmp);
	for (size_t i = 0; i < n; i++) {
		const cJSON *meta = cJSON_GetObjectItemCaseSensitive(found[i], "metadata");
		const char *ns = jstr(meta, "namespace") ?: "", *name = jstr(meta, "name") ?: "";
		bool want = !r->nnames;

		for (size_t j = 0; j < r->nnames; j++)
			want |= !strcmp(r->names[j], name);
		if (want && (r->all_ns || !k->namespaced || !strcmp(ns, r->ns)) &&
		    selected(found[i], r->selector))
			cJSON_AddItemToArray(list, found[i]);
		else
			cJSON_Delete(found[i]);
	}
	return 0;
}

/* kubectl's NotFound for each of @r's names that @k's @list lacks. How many. */
static int not_found(const struct get_kind *k, const struct get_req *r, const cJSON *list)
{
	int missing = 0;

	for (size_t j = 0; j < r->nnames; j++) {
		const cJSON *o;
		bool seen = false;

		cJSON_ArrayForEach(o, list)
		{
			const char *name =
			    jstr(cJSON_GetObjectItemCaseSensitive(o, "metadata"), "name");

			seen |= name && !strcmp(name, r->names[j]);
		}
		if (seen)
			continue;
		fprintf(stderr, "Error from server (NotFound): %s%s%s \"%s\" not found\n",
			k->plural, *k->group ? "." : "", k->group, r->names[j]);
		missing++;
	}
	return missing;
}

/* Prints @lists (one per kind of @r) as -o asks. */
static int print(const struct get_ctx *x, const struct get_req *r, cJSON *const *lists,
		 size_t total)
{
	bool wide = r->out && !strcmp(r->out, "wide");
	bool multi = r->nkinds > 1;
	bool first = true;
	int ret = 0;

	if (r->out && (!strcmp(r->out, "yaml") || !strcmp(r->out, "json"))) {
		cJSON *doc = NULL, *items;
		char *s;

		if (total == 1 && r->nnames == 1 && !multi) {
			doc = cJSON_Duplicate(cJSON_GetArrayItem(lists[0], 0), 1);
		} else {
			doc = cJSON_CreateObject();
			cJSON_AddStringToObject(doc, "apiVersion", "v1");
			items = cJSON_AddArrayToObject(doc, "items");
			for (size_t i = 0; i < r->nkinds; i++)
				for (const cJSON *o = lists[i]->child; o; o = o->next)
					cJSON_AddItemToArray(items, cJSON_Duplicate(o, 1));
			cJSON_AddStringToObject(doc, "kind", "List");
			cJSON_AddStringToObject(cJSON_AddObjectToObject(doc, "metadata"),
						"resourceVersion", "");
		}
		if (!strcmp(r->out, "json")) {
			s = cJSON_Print(doc);
			ret = s ? (puts(s), 0) : -ENOMEM;
			free(s);
		} else {
			cJSON *one = cJSON_CreateArray();

			cJSON_AddItemReferenceToArray(one, doc);
			ret = ctl_print_yaml(one);
			cJSON_Delete(one);
		}
		cJSON_Delete(doc);
		return ret;
	}
	for (size_t i = 0; i < r->nkinds && !ret; i++) {
		const struct get_kind *k = r->kinds[i];
		char prefix[128], label[130];
		struct get_show s = {
		    .wide = wide, .namespace = r->all_ns, .labels = r->show_labels, .label = NULL};
		struct get_table t;
		const cJSON *o;

		if (!cJSON_GetArraySize(lists[i]))
			continue;
		get_kind_prefix(k, prefix, sizeof(prefix));
		snprintf(label, sizeof(label), "%s/", prefix);
		if (r->out && !strcmp(r->out, "name")) {
			cJSON_ArrayForEach(o, lists[i])
			{
				printf(
				    "%s%s\n", label,
				    jstr(cJSON_GetObjectItemCaseSensitive(o, "metadata"), "name"));
			}
			continue;
		}
		s.label = multi ? label : NULL;
		get_table_init(&t, get_ncols(k, &s));
		ret = get_header(k, &s, &t);
		cJSON_ArrayForEach(o, lists[i])
		{
			if (!ret)
				ret = get_row(k, &s, o, x->now, &t);
		}
		if (!ret) {
			if (!first)
				printf("\n");
			get_table_print(&t, stdout);
		}
		first = false;
		get_table_free(&t);
	}
	return ret;
}

static int get_run(struct get_ctx *x, const struct get_req *r)
{
	cJSON *lists[GET_MAX_KINDS] = {0};
	size_t total = 0;
	bool all_namespaced = !r->all_ns;
	int ret = 0, missing = 0;

	for (size_t i = 0; i < r->nkinds && !ret; i++) {
		lists[i] = cJSON_CreateArray();
		ret = lists[i] ? collect(x, r->kinds[i], r, lists[i]) : -ENOMEM;
		if (!ret) {
			total += (size_t)cJSON_GetArraySize(lists[i]);
			missing += not_found(r->kinds[i], r, lists[i]);
		}
		all_namespaced &= r->kinds[i]->namespaced;
	}
	if (!ret && r->nnames && !total)
		; /* each name said NotFound */
	else if (!ret && (total || (r->out && strcmp(r->out, "wide") && strcmp(r->out, "name"))))
		ret = print(x, r, lists, total);
	else if (!ret && all_namespaced)
		fprintf(stderr, "No resources found in %s namespace.\n", r->ns);
	else if (!ret)
		fprintf(stderr, "No resources found\n");
	for (size_t i = 0; i < r->nkinds; i++)
		cJSON_Delete(lists[i]);
	return ret ? ret : missing ? -ENOENT : 0;
}

/* KIND[,KIND...] or all into @r; kubectl's error for a kind it does not know. */
static int parse_kinds(struct get_req *r, const char *words)
{
	char w[128];

	for (const char *p = words; *p;) {
		size_t n = strcspn(p, ","), nk;
		const struct get_kind *all = get_kinds(&nk);

		snprintf(w, sizeof(w), "%.*s", (int)n, p);
		p += n + (p[n] == ',');
		if (!strcmp(w, "all")) {
			/* kubectl's category all: of ambit's kinds, pods, services, deployments */
			for (size_t i = 0; i < 3 && r->nkinds < GET_MAX_KINDS; i++)
				r->kinds[r->nkinds++] = &all[i];
			continue;
		}
		if (!get_kind_find(w)) {
			fprintf(stderr, "error: the server doesn't have a resource type \"%s\"\n",
				w);
			return -EINVAL;
		}
		if (r->nkinds < GET_MAX_KINDS)
			r->kinds[r->nkinds++] = get_kind_find(w);
	}
	return 0;
}

static int parse_args(struct get_req *r, int argc, char **argv)
{
	bool have_kinds = false;
	int ret;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if ((!strcmp(a, "-n") || !strcmp(a, "--namespace")) && v) {
			r->ns = argv[++i];
		} else if (!strncmp(a, "--namespace=", 12)) {
			r->ns = a + 12;
		} else if (!strcmp(a, "-A") || !strcmp(a, "--all-namespaces")) {
			r->all_ns = true;
		} else if (!strcmp(a, "--show-labels")) {
			r->show_labels = true;
		} else if ((!strcmp(a, "-l") || !strcmp(a, "--selector")) && v) {
			r->selector = argv[++i];
		} else if (!strncmp(a, "--selector=", 11)) {
			r->selector = a + 11;
		} else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && v) {
			r->out = argv[++i];
		} else if (!strncmp(a, "-o", 2) && a[2]) {
			r->out = a + 2 + (a[2] == '=');
		} else if (!strncmp(a, "--output=", 9)) {
			r->out = a + 9;
		} else if (a[0] != '-' && !have_kinds) {
			ret = parse_kinds(r, a);
			if (ret)
				return ret;
			have_kinds = true;
		} else if (a[0] != '-' && r->nnames < GET_MAX_NAMES) {
			r->names[r->nnames++] = a;
		} else {
			usage_get();
			return -EINVAL;
		}
	}
	if (r->out && strcmp(r->out, "wide") && strcmp(r->out, "yaml") && strcmp(r->out, "json") &&
	    strcmp(r->out, "name")) {
		fprintf(stderr,
			"error: unable to match a printer suitable for the output format \"%s\", "
			"allowed formats are: json,name,wide,yaml\n",
			r->out);
		return -EINVAL;
	}
	if (!have_kinds) {
		usage_get();
		return -EINVAL;
	}
	return 0;
}

int cmd_get(const struct ctl_opts *opts, int argc, char **argv)
{
	struct config_diags diags = {0};
	struct get_req r = {.ns = "default"};
	struct get_ctx x = {0};
	char state[PATH_MAX];
	int ret;

	ret = parse_args(&r, argc, argv);
	if (ret)
		return ret;
	ret = cluster_open(&x.c, opts);
	if (ret)
		return ret;
	x.now = time(NULL);
	cluster_path(&x.c, state, sizeof(state), "state");
	config_init(&x.cfg);
	ret = load_state_quiet(&x.cfg, state);
	if (!ret)
		ret = store_load(state, &x.objs, &diags);
	x.pods_json = plan_read_pods_json(&x.c);
	for (size_t i = 0; !ret && i < r.nkinds; i++)
		if (!strcmp(r.kinds[i]->kind, "Gateway") &&
		    !strcmp(r.kinds[i]->group, CONFIG_GW_GROUP) && !x.v.pods_json)
			ret = wp_view_load(&x.v, &x.c, &x.cfg);
	if (!ret)
		ret = get_run(&x, &r);
	wp_view_free(&x.v);
	cJSON_Delete(x.pods);
	cJSON_Delete(x.pods_json);
	for (int i = 0; i < CTL_MAX_NODES; i++)
		cJSON_Delete(x.kubelets[i]);
	store_objs_free(&x.objs);
	config_diags_free(&diags);
	config_free(&x.cfg);
	return ret;
}
