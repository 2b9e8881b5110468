// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl get KIND [NAME] [-n NS | -A] [-o yaml|json]`, as kubectl's, for the Gateway API
 * objects whose status users read: gateway (gtw), httproute, grpcroute; and namespace (ns,
 * `--show-labels`), with the labels the agents read (the API server's among them). The object is
 * the store's as applied, with the `status` Istio's gateway controller would have written
 * (l7_gwstatus.c): for a Gateway of class istio its conditions, address (its Service) and
 * listeners; for a waypoint's (class istio-waypoint) the same, Programmed as `waypoint list`
 * says it (wpview.c); for a route its parents. Without NAME a table as kubectl prints it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ambit/l7.h"
#include "ctl.h"
#include "kmanifest.h"
#include "objstore.h"

enum get_kind {
	GET_GATEWAY,
	GET_HTTPROUTE,
	GET_GRPCROUTE,
	GET_TLSROUTE,
	GET_TCPROUTE,
	GET_NAMESPACE
};

static const struct {
	const char *const names[4];
	const char *kind, *group; /* group "": the core group, a cluster-scoped kind here */
} kinds[] = {
    [GET_GATEWAY] = {{"gateway", "gateways", "gtw", NULL}, "Gateway", CONFIG_GW_GROUP},
    [GET_HTTPROUTE] = {{"httproute", "httproutes", NULL, NULL}, "HTTPRoute", CONFIG_GW_GROUP},
    [GET_GRPCROUTE] = {{"grpcroute", "grpcroutes", NULL, NULL}, "GRPCRoute", CONFIG_GW_GROUP},
    [GET_TLSROUTE] = {{"tlsroute", "tlsroutes", NULL, NULL}, "TLSRoute", CONFIG_GW_GROUP},
    [GET_TCPROUTE] = {{"tcproute", "tcproutes", NULL, NULL}, "TCPRoute", CONFIG_GW_GROUP},
    [GET_NAMESPACE] = {{"namespace", "namespaces", "ns", NULL}, "Namespace", ""},
};

static void usage_get(void)
{
	fprintf(stderr,
		"usage: ambitctl get gateway|httproute|grpcroute|tlsroute|tcproute [NAME] [-n NS | "
		"-A] [-o yaml|json]\n"
		"       ambitctl get namespace [NAME] [--show-labels] [-o yaml|json]\n");
}

static int kind_of(const char *w)
{
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		for (size_t i = 0; kinds[k].names[i]; i++)
			if (!strcasecmp(w, kinds[k].names[i]))
				return (int)k;
	return -1;
}

struct get_ctx {
	struct ctl_cluster c;
	struct config cfg;
	struct store_objs objs;
	struct wp_view v; /* the waypoints and gateways as they run (wpview.c) */
	bool show_labels; /* --show-labels */
};

/*
 * A Namespace as the agents read it: its labels the loaded model's, which has those the API
 * server sets (kubernetes.io/metadata.name), and, as kubectl shows it, status.phase Active.
 */
static void namespace_as_read(const struct get_ctx *x, cJSON *obj, const char *name)
{
	const struct config_namespace *n = config_find_namespace(&x->cfg, name);
	cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata"), *l;

	if (n && meta) {
		cJSON_DeleteItemFromObjectCaseSensitive(meta, "labels");
		l = cJSON_AddObjectToObject(meta, "labels");
		for (size_t i = 0; l && i < n->meta.labels.n; i++)
			cJSON_AddStringToObject(l, n->meta.labels.items[i].key,
						n->meta.labels.items[i].value);
	}
	cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(obj, "status"), "phase", "Active");
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

/* The status of object @ns/@name of @kind, or NULL when none is written for it. */
static cJSON *status_of(const struct get_ctx *x, enum get_kind kind, const char *ns,
			const char *name)
{
	const struct config *cfg = &x->cfg;
	const struct config_gw_route *routes = kind == GET_GRPCROUTE  ? cfg->grpc_routes
					       : kind == GET_TLSROUTE ? cfg->tls_routes
					       : kind == GET_TCPROUTE ? cfg->tcp_routes
								      : cfg->http_routes;
	size_t n = kind == GET_GRPCROUTE  ? cfg->n_grpc_routes
		   : kind == GET_TLSROUTE ? cfg->n_tls_routes
		   : kind == GET_TCPROUTE ? cfg->n_tcp_routes
					  : cfg->n_http_routes;
	char addr[600];

	if (kind == GET_GATEWAY) {
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
	for (size_t i = 0; i < n; i++)
		if (!strcmp(routes[i].meta.namespace, ns) && !strcmp(routes[i].meta.name, name))
			return l7_gwapi_route_status(cfg, &routes[i]);
	return NULL;
}

/* The condition @type's status ("True", "False") in @st's conditions, or "Unknown". */
static const char *cond(const cJSON *st, const char *type)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(st, "conditions"))
	{
		const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "type"));

		if (t && !strcmp(t, type))
			return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "status"));
	}
	return "Unknown";
}

static void table_row(const struct get_ctx *x, enum get_kind kind, const cJSON *o, bool all_ns)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(o, "metadata");
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(o, "spec");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "status"), *h;
	const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "namespace"));
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(meta, "name"));
	char hosts[512] = "";
	size_t len = 0;

	if (kind == GET_NAMESPACE) {
		const cJSON *l;
		size_t n = 0;

		printf("%-32s %-8s", name ? name : "", "Active");
		if (x->show_labels) {
			printf(" ");
			cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(meta, "labels"))
			{
				if (cJSON_IsString(l))
					printf("%s%s=%s", n++ ? "," : "", l->string,
					       l->valuestring);
			}
			printf("%s", n ? "" : "<none>");
		}
		printf("\n");
		return;
	}
	if (all_ns)
		printf("%-20s ", ns ? ns : "");
	if (kind == GET_GATEWAY) {
		const cJSON *a =
		    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(st, "addresses"), 0);
		const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "value"));

		printf(
		    "%-24s %-16s %-48s %s\n", name ? name : "",
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "gatewayClassName"))
			?: "",
		    v ? v : "", st ? cond(st, "Programmed") : "Unknown");
		return;
	}
	cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(spec, "hostnames"))
	{
		if (cJSON_IsString(h) && len + strlen(h->valuestring) + 4 < sizeof(hosts))
			len += (size_t)snprintf(hosts + len, sizeof(hosts) - len, "%s\"%s\"",
						len ? "," : "[", h->valuestring);
	}
	if (len)
		snprintf(hosts + len, sizeof(hosts) - len, "]");
	printf("%-24s %s\n", name ? name : "", hosts);
}

static int get_run(struct get_ctx *x, enum get_kind kind, const char *name, const char *ns,
		   bool all_ns, const char *out)
{
	cJSON *list = cJSON_CreateArray();
	size_t found = 0;
	int ret = 0;

	if (!list)
		return -ENOMEM;
	for (size_t i = 0; i < x->objs.n && !ret; i++) {
		const struct store_obj *o = &x->objs.items[i];
		char err[256];
		cJSON *docs, *obj, *st;

		if (strcmp(o->kind, kinds[kind].kind) || strcmp(o->group, kinds[kind].group) ||
		    (!all_ns && kind != GET_NAMESPACE &&
		     strcmp(o->namespace ? o->namespace : "", ns)) ||
		    (name && strcmp(o->name, name)))
			continue;
		docs = kmanifest_documents(o->yaml, err, sizeof(err));
		obj = docs ? cJSON_DetachItemFromArray(docs, 0) : NULL;
		cJSON_Delete(docs);
		if (!obj) {
			fprintf(stderr, "ambitctl get: %s: %s\n", o->path ? o->path : o->name, err);
			ret = -EINVAL;
			break;
		}
		if (kind == GET_NAMESPACE) {
			namespace_as_read(x, obj, o->name);
		} else {
			st = status_of(x, kind, o->namespace ? o->namespace : "", o->name);
			cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
			if (st)
				cJSON_AddItemToObject(obj, "status", st);
		}
		cJSON_AddItemToArray(list, obj);
		found++;
	}
	if (!ret && !found && name) {
		fprintf(stderr, "Error from server (NotFound): %ss \"%s\" not found\n",
			kinds[kind].names[0], name);
		ret = -ENOENT;
	} else if (!ret && !found && kind == GET_NAMESPACE) {
		fprintf(stderr, "No resources found\n");
	} else if (!ret && !found) {
		fprintf(stderr, "No resources found in %s namespace.\n", all_ns ? "any" : ns);
	} else if (!ret && out && !strcmp(out, "json")) {
		char *s = cJSON_Print(name ? cJSON_GetArrayItem(list, 0) : list);

		ret = s ? (puts(s), 0) : -ENOMEM;
		free(s);
	} else if (!ret && out) {
		ret = ctl_print_yaml(list);
	} else if (!ret) {
		const cJSON *o;

		if (all_ns && kind != GET_NAMESPACE)
			printf("%-20s ", "NAMESPACE");
		if (kind == GET_NAMESPACE)
			printf("%-32s %-8s%s\n", "NAME", "STATUS", x->show_labels ? " LABELS" : "");
		else if (kind == GET_GATEWAY)
			printf("%-24s %-16s %-48s %s\n", "NAME", "CLASS", "ADDRESS", "PROGRAMMED");
		else
			printf("%-24s %s\n", "NAME", "HOSTNAMES");
		cJSON_ArrayForEach(o, list) table_row(x, kind, o, all_ns);
	}
	cJSON_Delete(list);
	return ret;
}

int cmd_get(const struct ctl_opts *opts, int argc, char **argv)
{
	const char *name = NULL, *ns = "default", *out = NULL;
	struct config_diags diags = {0};
	struct get_ctx x = {0};
	char state[PATH_MAX];
	bool all_ns = false;
	int kind = -1, ret;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if ((!strcmp(a, "-n") || !strcmp(a, "--namespace")) && v) {
			ns = v;
			i++;
		} else if (!strncmp(a, "--namespace=", 12)) {
			ns = a + 12;
		} else if (!strcmp(a, "-A") || !strcmp(a, "--all-namespaces")) {
			all_ns = true;
		} else if ((!strcmp(a, "--cluster") || !strcmp(a, "--name")) && v) {
			i++; /* the cluster: pick_cluster (main.c) read it */
		} else if (!strcmp(a, "--show-labels")) {
			x.show_labels = true;
		} else if (!strcmp(a, "-o") && v && (!strcmp(v, "yaml") || !strcmp(v, "json"))) {
			out = v;
			i++;
		} else if (!strcmp(a, "-oyaml") || !strcmp(a, "-ojson")) {
			out = a + 2;
		} else if (a[0] != '-' && kind < 0) {
			if ((kind = kind_of(a)) < 0) {
				fprintf(stderr,
					"ambitctl get: \"%s\": not a kind this command shows "
					"(gateway, httproute, grpcroute, tlsroute, tcproute, "
					"namespace)\n",
					a);
				return -EINVAL;
			}
		} else if (a[0] != '-' && !name) {
			name = a;
		} else {
			usage_get();
			return -EINVAL;
		}
	}
	if (kind < 0) {
		usage_get();
		return -EINVAL;
	}
	ret = cluster_open(&x.c, opts);
	if (ret)
		return ret;
	cluster_path(&x.c, state, sizeof(state), "state");
	config_init(&x.cfg);
	ret = load_state_quiet(&x.cfg, state);
	if (!ret)
		ret = store_load(state, &x.objs, &diags);
	if (!ret && kind == GET_GATEWAY)
		ret = wp_view_load(&x.v, &x.c, &x.cfg);
	if (!ret)
		ret = get_run(&x, (enum get_kind)kind, name, ns, all_ns, out);
	wp_view_free(&x.v);
	store_objs_free(&x.objs);
	config_diags_free(&diags);
	config_free(&x.cfg);
	return ret;
}
