// SPDX-License-Identifier: Apache-2.0
/*
 * Waypoint bindings (API_SEMANTICS.md §9), as istiod computes them for ambient
 * (pilot/pkg/serviregistry/ambient/waypoints.go): a Gateway of class istio-waypoint is a
 * waypoint; an object's own istio.io/use-waypoint beats its namespace's ("none" opts out at
 * either level), istio.io/use-waypoint-namespace names the waypoint's namespace, the waypoint's
 * HBONE listener decides which namespaces may bind (allowedRoutes, Same by default), and
 * istio.io/waypoint-for which traffic it takes (service by default). A label naming a waypoint
 * that does not exist or refuses the binding leaves the object without one: Istio does not
 * fall back to the namespace's waypoint.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile_priv.h"

#define GATEWAY_MANAGED "gateway.istio.io/managed"
#define MESH_CONTROLLER "istio.io-mesh-controller"

static int inet_pton_v4(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*out = a.s_addr;
	return 0;
}

const char *l7_traffic_name(enum l7_traffic t)
{
	static const char *const n[] = {"service", "workload", "all", "none"};

	return (unsigned int)t < 4 ? n[t] : "?";
}

int l7_pods_from_config(const struct config *cfg, struct l7_pod **out, size_t *n)
{
	*n = 0;
	*out = calloc(cfg->n_pods + 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_pods; i++) {
		const struct config_pod *p = &cfg->pods[i];
		struct l7_pod *o = &(*out)[*n];
		uint32_t ip = 0;

		/* A pod of IPv6 alone (ip 0) is one too; one of neither family is not. */
		if (config_pod_ipv4(p) && inet_pton_v4(config_pod_ipv4(p), &ip))
			continue;
		o->namespace = p->meta.namespace;
		o->name = p->meta.name;
		o->node = p->spec.node_name ? p->spec.node_name : "";
		o->service_account = p->spec.service_account ? p->spec.service_account : "default";
		o->ip = ip;
		o->labels = &p->meta.labels;
		o->spec = &p->spec;
		if (config_pod_ipv6(p) &&
		    (ipaddr_parse_addr(config_pod_ipv6(p), &o->ip6) || o->ip6.family != AF_INET6))
			memset(&o->ip6, 0, sizeof(o->ip6));
		if (ip || o->ip6.family == AF_INET6)
			(*n)++;
	}
	return 0;
}

static char *dup(const char *s)
{
	return strdup(s ? s : "");
}

static const struct config_namespace *find_ns(const struct config *cfg, const char *name)
{
	return config_find_namespace(cfg, name);
}

static enum l7_traffic traffic_of(const struct config_k8s_gateway *gw)
{
	const char *v = config_label_get(&gw->meta.labels, CONFIG_LABEL_WAYPOINT_FOR);

	if (!v || !strcmp(v, "service"))
		return L7_FOR_SERVICE;
	if (!strcmp(v, "workload"))
		return L7_FOR_WORKLOAD;
	if (!strcmp(v, "all"))
		return L7_FOR_ALL;
	return L7_FOR_NONE; /* "none", and what analyze reports as invalid */
}

/*
 * The IPv6 VIP of Service @ns/@name into @w->vip6: its IPv6 clusterIP, else the one allocated
 * to it; none for a headless one.
 */
static void waypoint_vip6(const struct l7_inputs *in, const char *ns, const char *name,
			  struct l7_waypoint *w)
{
	const struct ipaddr *r;

	for (size_t i = 0; i < in->cfg->n_services; i++) {
		const struct config_service *s = &in->cfg->services[i];

		if (strcmp(s->meta.namespace, ns) || strcmp(s->meta.name, name))
			continue;
		if (s->cluster_ip && !strcmp(s->cluster_ip, "None"))
			return;
		for (size_t k = 0; k < s->cluster_ips.n; k++)
			if (!ipaddr_parse_addr(s->cluster_ips.items[k], &w->vip6) &&
			    w->vip6.family == AF_INET6)
				return;
		memset(&w->vip6, 0, sizeof(w->vip6));
	}
	r = in->service_vip6 ? in->service_vip6(in->arg, ns, name) : NULL;
	if (r && r->family == AF_INET6)
		w->vip6 = *r;
}

static int instances_alloc(const struct l7_inputs *in, struct l7_waypoint *w)
{
	w->ips = calloc(in->n_pods + 1, sizeof(*w->ips));
	w->ips6 = calloc(in->n_pods + 1, sizeof(*w->ips6));
	return w->ips && w->ips6 ? 0 : -ENOMEM;
}

/* Pod @p as an instance of @w, by each address it has: ip 0 is no address (IPv6 alone). */
static void add_instance(struct l7_waypoint *w, const struct l7_pod *p)
{
	if (p->ip)
		w->ips[w->n_ips++] = p->ip;
	if (p->ip6.family == AF_INET6)
		w->ips6[w->n_ips6++] = p->ip6;
}

static int add_waypoint(const struct l7_inputs *in, const struct config_k8s_gateway *gw,
			struct l7_waypoint *w)
{
	const char *sa = config_label_get(&gw->meta.annotations, CONFIG_ANNOT_GATEWAY_SA);
	const char *td = in->trust_domain ? in->trust_domain : "cluster.local";

	w->namespace = dup(gw->meta.namespace);
	w->name = dup(gw->meta.name);
	w->traffic = traffic_of(gw);
	w->service_account = dup(sa ? sa : gw->meta.name);
	if (!w->namespace || !w->name || !w->service_account)
		return -ENOMEM;
	if (asprintf(&w->identity, "spiffe://%s/ns/%s/sa/%s", td, w->namespace,
		     w->service_account) < 0 ||
	    asprintf(&w->hostname, "%s.%s.svc.cluster.local", w->name, w->namespace) < 0) {
		w->identity = w->hostname = NULL;
		return -ENOMEM;
	}
	/* Its Service has the Gateway's name (the waypoint class adds no suffix). */
	for (size_t i = 0; i < in->cfg->n_services; i++) {
		const struct config_service *s = &in->cfg->services[i];

		if (strcmp(s->meta.namespace, w->namespace) || strcmp(s->meta.name, w->name))
			continue;
		if (config_service_ipv4(s))
			inet_pton_v4(config_service_ipv4(s), &w->vip);
	}
	if (!w->vip && in->service_vip)
		w->vip = in->service_vip(in->arg, w->namespace, w->name);
	waypoint_vip6(in, w->namespace, w->name, w);
	if (instances_alloc(in, w))
		return -ENOMEM;
	for (size_t i = 0; i < in->n_pods; i++) {
		const struct l7_pod *p = &in->pods[i];
		const char *gn =
		    p->labels ? config_label_get(p->labels, CONFIG_LABEL_GATEWAY_NAME) : NULL;

		if (gn && !strcmp(gn, w->name) && !strcmp(p->namespace, w->namespace))
			add_instance(w, p);
	}
	/* The HBONE listener's allowedRoutes say who may bind; without one, only "Same". */
	for (size_t i = 0; i < gw->n_listeners; i++) {
		const struct config_gw_listener *l = &gw->listeners[i];

		if (!l->protocol || strcmp(l->protocol, "HBONE") || l->port != L7_HBONE_PORT)
			continue;
		w->has_hbone = true;
		w->allowed_from = l->allowed_from;
		for (size_t j = 0; j < l->allowed_selector.n; j++)
			if (config_labels_add(&w->allowed_selector,
					      l->allowed_selector.items[j].key,
					      l->allowed_selector.items[j].value))
				return -ENOMEM;
		break;
	}
	return 0;
}

/* The Service of namespace @ns that selects @p (its first, in config order), or NULL. */
static const struct config_service *service_of(const struct config *cfg, const char *ns,
					       const struct l7_pod *p)
{
	for (size_t i = 0; p->labels && i < cfg->n_services; i++) {
		const struct config_service *s = &cfg->services[i];

		if (!strcmp(s->meta.namespace, ns) && s->selector.n &&
		    config_labels_match(&s->selector, p->labels))
			return s;
	}
	return NULL;
}

/* A new gateway proxy for the workload of @p, named @name. */
static int new_gateway(const struct l7_inputs *in, const struct l7_pod *p, const char *name,
		       struct l7_waypoint *w)
{
	const char *td = in->trust_domain ? in->trust_domain : "cluster.local";
	const struct config_service *s = service_of(in->cfg, p->namespace, p);

	w->gateway = true;
	w->traffic = L7_FOR_NONE;
	w->namespace = dup(p->namespace);
	w->name = dup(name);
	w->service_account = dup(p->service_account ? p->service_account : "default");
	if (!w->namespace || !w->name || !w->service_account)
		return -ENOMEM;
	if (asprintf(&w->identity, "spiffe://%s/ns/%s/sa/%s", td, w->namespace,
		     w->service_account) < 0 ||
	    asprintf(&w->hostname, "%s.%s.svc.cluster.local", s ? s->meta.name : name,
		     w->namespace) < 0) {
		w->identity = w->hostname = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; p->labels && i < p->labels->n; i++)
		if (config_labels_add(&w->labels, p->labels->items[i].key,
				      p->labels->items[i].value))
			return -ENOMEM;
	if (s && config_service_ipv4(s))
		inet_pton_v4(config_service_ipv4(s), &w->vip);
	if (s && !w->vip && in->service_vip)
		w->vip = in->service_vip(in->arg, s->meta.namespace, s->meta.name);
	if (s)
		waypoint_vip6(in, s->meta.namespace, s->meta.name, w);
	return instances_alloc(in, w);
}

/* The gateway proxy of @p's workload @name in @out, made on first use, into *@w. */
static int gateway_of(const struct l7_inputs *in, struct l7_bindings *out, const struct l7_pod *p,
		      const char *name, struct l7_waypoint **w)
{
	for (size_t k = 0; !*w && k < out->n_gateways; k++)
		if (!strcmp(out->gateways[k].namespace, p->namespace) &&
		    !strcmp(out->gateways[k].name, name))
			*w = &out->gateways[k];
	if (*w)
		return 0;
	*w = &out->gateways[out->n_gateways++];
	return new_gateway(in, p, name, *w);
}

/*
 * Ingress gateway proxies (API_SEMANTICS.md §6): a pod that the selector of an Istio Gateway
 * matches, in any namespace (istiod's default, PILOT_SCOPE_GATEWAY_TO_NAMESPACE off), is an
 * instance of the gateway proxy of its workload, which serves every Gateway selecting it. So is
 * a pod labelled gateway.networking.k8s.io/gateway-name with a Gateway API Gateway of class
 * istio of its namespace: that Gateway's deployment (§7), serving it.
 */
static int add_gateways(const struct l7_inputs *in, struct l7_bindings *out)
{
	const struct config *cfg = in->cfg;

	out->gateways = calloc(in->n_pods + 1, sizeof(*out->gateways));
	if (!out->gateways)
		return -ENOMEM;
	for (size_t i = 0; i < in->n_pods; i++) {
		const struct l7_pod *p = &in->pods[i];
		const char *name = p->workload ? p->workload : p->name;
		const char *gn =
		    p->labels ? config_label_get(p->labels, CONFIG_LABEL_GATEWAY_NAME) : NULL;
		const struct config_k8s_gateway *kgw;
		struct l7_waypoint *w = NULL;
		char key[600];
		int err = 0;

		for (size_t g = 0; p->labels && g < cfg->n_gateways && !err; g++) {
			const struct config_gateway *gw = &cfg->gateways[g];

			if (!gw->selector.n || !config_labels_match(&gw->selector, p->labels))
				continue;
			err = gateway_of(in, out, p, name, &w);
			snprintf(key, sizeof(key), "%s/%s", gw->meta.namespace, gw->meta.name);
			err = err ? err : config_strings_add(&w->gateways, key);
		}
		/* The deployment of a Gateway API Gateway of class istio, by its label. */
		kgw = gn ? l7_gwapi_gateway(cfg, p->namespace, gn) : NULL;
		if (!err && l7_gwapi_istio_class(kgw)) {
			err = gateway_of(in, out, p, name, &w);
			snprintf(key, sizeof(key), "%s/%s", kgw->meta.namespace, kgw->meta.name);
			err = err ? err : config_strings_add(&w->k8s_gateways, key);
		}
		/*
		 * A pod labelled as Istio's gateways are (istio: ingressgateway or
		 * egressgateway) is one while no Gateway selects it, as istio-ingressgateway
		 * runs before any Gateway: it listens on nothing yet, and serves its metrics
		 * and readiness.
		 */
		if (!err && !w && config_istio_gateway_labelled(p->labels))
			err = gateway_of(in, out, p, name, &w);
		if (!w || err) {
			if (err)
				return err;
			continue;
		}
		snprintf(key, sizeof(key), "%s/%s", p->namespace, p->name);
		if (config_strings_add(&w->pods, key))
			return -ENOMEM;
		add_instance(w, p);
	}
	return 0;
}

const struct l7_waypoint *l7_bindings_gateway_of(const struct l7_bindings *b, const char *ns,
						 const char *name)
{
	char key[600];

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	for (size_t i = 0; i < b->n_gateways; i++)
		if (config_strings_has(&b->gateways[i].pods, key))
			return &b->gateways[i];
	return NULL;
}

static int find_waypoint(const struct l7_bindings *b, const char *ns, const char *name)
{
	for (size_t i = 0; i < b->n_waypoints; i++)
		if (!strcmp(b->waypoints[i].namespace, ns) && !strcmp(b->waypoints[i].name, name))
			return (int)i;
	return -1;
}

/* @l as "k=v,k2=v2" into @buf (truncated). */
static void labels_str(const struct config_labels *l, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; l && i < l->n && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s=%s", i ? "," : "",
					 l->items[i].key, l->items[i].value);
}

/*
 * Whether a waypoint of namespace @wns whose HBONE listener (@has_hbone) says @from and @sel
 * admits an object of namespace @ns (@n: that Namespace, NULL when none is defined); why not
 * into @why (NULL: not said). As Istio's AllowsAttachmentFromNamespace: All, a Selector matching
 * the namespace's labels (kubernetes.io/metadata.name among them), else only its own namespace.
 */
static bool admits_from(bool has_hbone, enum config_gw_from from, const struct config_labels *sel,
			const char *wns, const char *ns, const struct config_namespace *n,
			char *why, size_t len)
{
	char want[512], have[512];

	if (!has_hbone)
		from = CONFIG_GW_FROM_SAME;
	switch (from) {
	case CONFIG_GW_FROM_ALL: return true;
	case CONFIG_GW_FROM_SELECTOR:
		if (n && config_labels_match(sel, &n->meta.labels))
			return true;
		if (!why)
			return false;
		labels_str(sel, want, sizeof(want));
		if (n) {
			labels_str(&n->meta.labels, have, sizeof(have));
			snprintf(why, len,
				 "its HBONE listener's allowedRoutes admit namespaces labelled %s, "
				 "and namespace %s's labels are %s",
				 *want ? want : "(an empty selector: none)", ns, have);
		} else {
			snprintf(why, len,
				 "its HBONE listener's allowedRoutes admit namespaces labelled %s, "
				 "and no Namespace object defines %s",
				 *want ? want : "(an empty selector: none)", ns);
		}
		return false;
	default:
		if (!strcmp(wns, ns))
			return true;
		if (why)
			snprintf(
			    why, len, "%s",
			    has_hbone
				? "its HBONE listener's allowedRoutes admit only its own "
				  "namespace (from: Same, the default)"
				: "it has no HBONE listener on 15008, so only its own namespace "
				  "may use it");
		return false;
	}
}

bool l7_waypoint_admits(const struct config_k8s_gateway *gw, const char *ns,
			const struct config_namespace *n, char *why, size_t len)
{
	for (size_t i = 0; i < gw->n_listeners; i++) {
		const struct config_gw_listener *l = &gw->listeners[i];

		if (l->protocol && !strcmp(l->protocol, "HBONE") && l->port == L7_HBONE_PORT)
			return admits_from(true, l->allowed_from, &l->allowed_selector,
					   gw->meta.namespace, ns, n, why, len);
	}
	return admits_from(false, CONFIG_GW_FROM_SAME, NULL, gw->meta.namespace, ns, n, why, len);
}

/*
 * The use-waypoint label of @labels, for an object of namespace @ns: 1 and the waypoint's
 * namespace and name, 0 when there is no label, -1 for "none".
 */
static int use_waypoint(const struct config_labels *labels, const char *ns, const char **wns,
			const char **wname)
{
	const char *v = labels ? config_label_get(labels, CONFIG_LABEL_USE_WAYPOINT) : NULL;
	const char *o = labels ? config_label_get(labels, CONFIG_LABEL_USE_WAYPOINT_NS) : NULL;

	if (!v)
		return 0;
	if (!strcmp(v, "none"))
		return -1;
	*wname = v;
	*wns = o ? o : ns;
	return 1;
}

const struct config_k8s_gateway *l7_object_waypoint(const struct config *cfg, const char *ns,
						    const struct config_labels *labels,
						    const char **reason, char *why, size_t len)
{
	const struct config_namespace *n = find_ns(cfg, ns);
	const char *wns = NULL, *wname = NULL, *r = NULL;
	char denied[1000];
	int u = use_waypoint(labels, ns, &wns, &wname);

	if (!u && n)
		u = use_waypoint(&n->meta.labels, ns, &wns, &wname);
	if (u <= 0) {
		r = "MissingUseWaypointLabel";
		if (why)
			snprintf(why, len,
				 "istio.io/use-waypoint label missing from parent and parent "
				 "namespace; in ambient mode, route will not be respected");
		goto none;
	}
	for (size_t i = 0; i < cfg->n_k8s_gateways; i++) {
		const struct config_k8s_gateway *gw = &cfg->k8s_gateways[i];
		enum l7_traffic t = traffic_of(gw);

		if (!gw->class_name || strcmp(gw->class_name, CONFIG_WAYPOINT_CLASS) ||
		    strcmp(gw->meta.namespace, wns) || strcmp(gw->meta.name, wname))
			continue;
		if (!l7_waypoint_admits(gw, ns, n, denied, sizeof(denied))) {
			r = "AttachmentDenied";
			if (why)
				snprintf(why, len, "waypoint %s/%s does not admit namespace %s: %s",
					 wns, wname, ns, denied);
			goto none;
		}
		if (t != L7_FOR_SERVICE && t != L7_FOR_ALL) {
			r = "UnsupportedTrafficType";
			if (why)
				snprintf(why, len,
					 "waypoint %s/%s is for %s traffic, not service "
					 "traffic",
					 wns, wname, l7_traffic_name(t));
			goto none;
		}
		return gw;
	}
	r = "WaypointIsNotReady";
	if (why)
		snprintf(why, len,
			 "waypoint %s/%s does not exist (no Gateway of class " CONFIG_WAYPOINT_CLASS
			 " has that name)",
			 wns, wname);
none:
	if (reason)
		*reason = r;
	return NULL;
}

const struct config_k8s_gateway *l7_service_waypoint(const struct config *cfg,
						     const struct config_service *s)
{
	return l7_object_waypoint(cfg, s->meta.namespace, &s->meta.labels, NULL, NULL, 0);
}

/*
 * The waypoint @wns/@wname asked for, Istio's reason (ambient/status.go) and our words, into
 * @bd: kept for the refused only (a binding that holds needs none of it). 0 or -ENOMEM.
 */
static int refuse(struct l7_binding *bd, const char *wns, const char *wname, const char *reason,
		  const char *fmt, ...)
{
	va_list ap;
	int n;

	bd->reason = reason;
	bd->want_namespace = dup(wns);
	bd->want_name = dup(wname);
	if (!bd->want_namespace || !bd->want_name)
		return -ENOMEM;
	va_start(ap, fmt);
	n = vasprintf(&bd->problem, fmt, ap);
	va_end(ap);
	if (n < 0) {
		bd->problem = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Istio's fetchWaypointForTarget and its traffic-type check for services or workloads. */
static int bind_object(const struct l7_inputs *in, const struct l7_bindings *b,
		       struct l7_binding *bd, const struct config_labels *labels, bool pod)
{
	const struct config_namespace *n = find_ns(in->cfg, bd->namespace);
	const char *wns = NULL, *wname = NULL;
	const struct l7_waypoint *w;
	char why[1200];
	int r, idx;

	bd->waypoint = -1;
	r = use_waypoint(labels, bd->namespace, &wns, &wname);
	if (r) {
		bd->source = L7_BIND_OBJECT;
	} else if (n) {
		r = use_waypoint(&n->meta.labels, bd->namespace, &wns, &wname);
		bd->source = r ? L7_BIND_NAMESPACE : L7_BIND_NONE;
	}
	if (r <= 0)
		return 0;
	idx = find_waypoint(b, wns, wname);
	if (idx < 0)
		return refuse(
		    bd, wns, wname, "WaypointIsNotReady",
		    "waypoint %s/%s does not exist (no Gateway of class " CONFIG_WAYPOINT_CLASS
		    " has that name)",
		    wns, wname);
	w = &b->waypoints[idx];
	if (!admits_from(w->has_hbone, w->allowed_from, &w->allowed_selector, w->namespace,
			 bd->namespace, n, why, sizeof(why)))
		return refuse(bd, wns, wname, "AttachmentDenied",
			      "waypoint %s/%s does not admit namespace %s: %s", wns, wname,
			      bd->namespace, why);
	if (w->traffic == L7_FOR_ALL || w->traffic == (pod ? L7_FOR_WORKLOAD : L7_FOR_SERVICE)) {
		bd->waypoint = idx;
		return 0;
	}
	/* A namespace's service waypoint simply does not apply to its pods. */
	if (pod && bd->source == L7_BIND_NAMESPACE)
		return 0;
	return refuse(
	    bd, wns, wname, "UnsupportedTrafficType",
	    "waypoint %s/%s is for %s traffic, not %s traffic (its label " CONFIG_LABEL_WAYPOINT_FOR
	    ")",
	    wns, wname, l7_traffic_name(w->traffic), pod ? "workload" : "service");
}

static int cmp_binding(const void *a, const void *b)
{
	const struct l7_binding *x = *(const struct l7_binding *const *)a;
	const struct l7_binding *y = *(const struct l7_binding *const *)b;
	int c = strcmp(x->namespace, y->namespace);

	return c ? c : strcmp(x->name, y->name);
}

/* Sorting: ties (two pods of one name) keep their input order, so the first is found first. */
static int cmp_binding_stable(const void *a, const void *b)
{
	const struct l7_binding *x = *(const struct l7_binding *const *)a;
	const struct l7_binding *y = *(const struct l7_binding *const *)b;
	int c = cmp_binding(a, b);

	return c ? c : (x > y) - (x < y);
}

/* @arr's bindings sorted by namespace and name, into *@out (malloc'd). 0 or -ENOMEM. */
static int by_name(const struct l7_binding *arr, size_t n, const struct l7_binding ***out)
{
	*out = calloc(n + 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		(*out)[i] = &arr[i];
	qsort(*out, n, sizeof(**out), cmp_binding_stable);
	return 0;
}

int l7_bindings_compute(const struct l7_inputs *in, struct l7_bindings *out)
{
	const struct config *cfg = in->cfg;
	int err = 0;

	memset(out, 0, sizeof(*out));
	out->waypoints = calloc(cfg->n_k8s_gateways + 1, sizeof(*out->waypoints));
	out->services = calloc(cfg->n_services + 1, sizeof(*out->services));
	out->workloads = calloc(in->n_pods + 1, sizeof(*out->workloads));
	out->entries = calloc(cfg->n_service_entries + 1, sizeof(*out->entries));
	if (!out->waypoints || !out->services || !out->workloads || !out->entries)
		return -ENOMEM;
	out->east_west = calloc(cfg->n_k8s_gateways + 1, sizeof(*out->east_west));
	if (!out->east_west)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_k8s_gateways && !err; i++) {
		const struct config_k8s_gateway *gw = &cfg->k8s_gateways[i];

		if (gw->class_name && !strcmp(gw->class_name, CONFIG_EASTWEST_CLASS)) {
			/* A waypoint's deployment too (Istio runs it `proxy waypoint`). */
			err = add_waypoint(in, gw, &out->east_west[out->n_east_west]);
			out->east_west[out->n_east_west++].east_west = true;
			continue;
		}
		if (!gw->class_name || strcmp(gw->class_name, CONFIG_WAYPOINT_CLASS))
			continue;
		err = add_waypoint(in, gw, &out->waypoints[out->n_waypoints++]);
	}
	for (size_t i = 0; i < cfg->n_services && !err; i++) {
		const struct config_service *s = &cfg->services[i];
		struct l7_binding *bd = &out->services[out->n_services++];
		const char *managed = config_label_get(&s->meta.labels, GATEWAY_MANAGED);

		bd->namespace = dup(s->meta.namespace);
		bd->name = dup(s->meta.name);
		bd->waypoint = -1;
		if (!bd->namespace || !bd->name)
			err = -ENOMEM;
		/* A waypoint's own Service never goes through a waypoint. */
		else if (!managed || strcmp(managed, MESH_CONTROLLER))
			err = bind_object(in, out, bd, &s->meta.labels, false);
	}
	for (size_t i = 0; i < in->n_pods && !err; i++) {
		const struct l7_pod *p = &in->pods[i];
		struct l7_binding *bd = &out->workloads[out->n_workloads++];
		const char *gn =
		    p->labels ? config_label_get(p->labels, CONFIG_LABEL_GATEWAY_NAME) : NULL;

		bd->namespace = dup(p->namespace);
		bd->name = dup(p->name);
		bd->waypoint = -1;
		if (!bd->namespace || !bd->name)
			err = -ENOMEM;
		/* A waypoint's own instances are not sent to a waypoint. */
		else if (!gn || find_waypoint(out, p->namespace, gn) < 0)
			err = bind_object(in, out, bd, p->labels, true);
	}
	/* A ServiceEntry binds as a Service does (egress through a waypoint). */
	for (size_t i = 0; i < cfg->n_service_entries && !err; i++) {
		const struct config_service_entry *se = &cfg->service_entries[i];
		struct l7_binding *bd = &out->entries[out->n_entries++];

		bd->namespace = dup(se->meta.namespace);
		bd->name = dup(se->meta.name);
		bd->waypoint = -1;
		err = !bd->namespace || !bd->name
			  ? -ENOMEM
			  : bind_object(in, out, bd, &se->meta.labels, false);
	}
	if (!err)
		err = add_gateways(in, out);
	if (!err)
		err = by_name(out->services, out->n_services, &out->services_by_name);
	if (!err)
		err = by_name(out->workloads, out->n_workloads, &out->workloads_by_name);
	return err;
}

static void binding_clear(struct l7_binding *bd)
{
	free(bd->namespace);
	free(bd->name);
	free(bd->want_namespace);
	free(bd->want_name);
	free(bd->problem);
}

static void waypoint_clear(struct l7_waypoint *w)
{
	free(w->namespace);
	free(w->name);
	free(w->service_account);
	free(w->identity);
	free(w->hostname);
	free(w->ips);
	free(w->ips6);
	config_labels_free(&w->allowed_selector);
	config_labels_free(&w->labels);
	config_strings_free(&w->gateways);
	config_strings_free(&w->k8s_gateways);
	config_strings_free(&w->pods);
}

void l7_bindings_free(struct l7_bindings *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n_waypoints; i++)
		waypoint_clear(&b->waypoints[i]);
	for (size_t i = 0; i < b->n_gateways; i++)
		waypoint_clear(&b->gateways[i]);
	free(b->gateways);
	for (size_t i = 0; i < b->n_east_west; i++)
		waypoint_clear(&b->east_west[i]);
	free(b->east_west);
	for (size_t i = 0; i < b->n_services; i++)
		binding_clear(&b->services[i]);
	for (size_t i = 0; i < b->n_workloads; i++)
		binding_clear(&b->workloads[i]);
	for (size_t i = 0; i < b->n_entries; i++)
		binding_clear(&b->entries[i]);
	free(b->entries);
	free(b->waypoints);
	free(b->services);
	free(b->workloads);
	free(b->services_by_name);
	free(b->workloads_by_name);
	memset(b, 0, sizeof(*b));
}

const struct l7_binding *l7_binding_of(const struct l7_bindings *b, bool pod, const char *ns,
				       const char *name)
{
	const struct l7_binding **arr = pod ? b->workloads_by_name : b->services_by_name;
	size_t n = pod ? b->n_workloads : b->n_services;
	struct l7_binding key = {.namespace = (char *)ns, .name = (char *)name};
	const struct l7_binding *kp = &key, *const * found;

	/* Of duplicates (two pods of one name), the first in input order. */
	found = arr ? bsearch(&kp, arr, n, sizeof(*arr), cmp_binding) : NULL;
	while (found && found > arr && !cmp_binding(found - 1, &kp))
		found--;
	return found ? *found : NULL;
}

const struct l7_waypoint *l7_bindings_find(const struct l7_bindings *b, bool pod, const char *ns,
					   const char *name)
{
	const struct l7_binding *bd = l7_binding_of(b, pod, ns, name);

	return bd && bd->waypoint >= 0 ? &b->waypoints[bd->waypoint] : NULL;
}

const struct l7_waypoint *l7_bindings_entry(const struct l7_bindings *b, const struct config *cfg,
					    const struct config_service_entry *se)
{
	size_t i = (size_t)(se - cfg->service_entries);

	if (i >= b->n_entries || b->entries[i].waypoint < 0)
		return NULL;
	return &b->waypoints[b->entries[i].waypoint];
}
