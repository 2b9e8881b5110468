// SPDX-License-Identifier: Apache-2.0
/*
 * Analysis of what a waypoint reads (API_SEMANTICS.md §7, §8, §9): Gateway API routes whose
 * parents or backends do not exist (IST0101), a host routed both by a VirtualService and an
 * HTTPRoute (undefined in Istio), VirtualService source matches a waypoint cannot honour,
 * waypoint Gateways without their HBONE listener, and use-waypoint labels naming no waypoint.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/l7.h"
#include "decode/decode.h"

static const struct config_service *find_service(struct cfg_an *a, const char *ns, const char *name)
{
	CFG_FOR_SETS(a, c)
	{
		for (size_t i = 0; i < c->n_services; i++)
			if (!strcmp(c->services[i].meta.namespace, ns) &&
			    !strcmp(c->services[i].meta.name, name))
				return &c->services[i];
	}
	return NULL;
}

static const struct config_k8s_gateway *find_gateway(struct cfg_an *a, const char *ns,
						     const char *name)
{
	CFG_FOR_SETS(a, c)
	{
		for (size_t i = 0; i < c->n_k8s_gateways; i++)
			if (!strcmp(c->k8s_gateways[i].meta.namespace, ns) &&
			    !strcmp(c->k8s_gateways[i].meta.name, name))
				return &c->k8s_gateways[i];
	}
	return NULL;
}

static bool core_group(const char *g)
{
	return !g || !*g || !strcmp(g, "core");
}

/* ---- HTTPRoute / GRPCRoute ---- */

/*
 * What l7_backend_ref_check reads, from both sets (a route's Service or ReferenceGrant may be in
 * the cluster already): shallow copies, freed with backend_world_free. 0 or -ENOMEM.
 */
static int backend_world(const struct cfg_an *a, struct config *u)
{
	memset(u, 0, sizeof(*u));
	CFG_AN_JOIN(a, u, services)
	CFG_AN_JOIN(a, u, service_entries)
	CFG_AN_JOIN(a, u, reference_grants)
	return 0;
}

static void backend_world_free(struct config *u)
{
	free(u->services);
	free(u->service_entries);
	free(u->reference_grants);
}

/* Whether a parentRef of @r is a Gateway (another namespace's backend then needs a grant). */
static bool gateway_parent(const struct config_gw_route *r)
{
	for (size_t i = 0; i < r->n_parent_refs; i++)
		if (!strcmp(r->parent_refs[i].group, CONFIG_GW_GROUP) &&
		    !strcmp(r->parent_refs[i].kind, "Gateway"))
			return true;
	return false;
}

/*
 * A backend the gateway or waypoint cannot use, judged as they judge it (l7_backend_ref_check),
 * is a warning, as Istio's analyze says it: the API server stores such a route, and its share
 * of requests answers 500 (ResolvedRefs False).
 */
static void check_backend(struct cfg_an *a, const struct config *world,
			  const struct config_gw_route *r, const char *kind,
			  const struct config_backend_ref *b, int line, const char *field)
{
	const char *ns = b->namespace ? b->namespace : r->meta.namespace;

	switch (l7_backend_ref_check(world, r, b, gateway_parent(r))) {
	case L7_BACKEND_OK: break;
	case L7_BACKEND_INVALID_KIND:
		cfg_an_add(
		    a, &r->meta, kind, line, false, field,
		    "backend kind %s%s%s is not one a waypoint routes to (Service, or Istio's "
		    "Hostname); requests to it fail with 500",
		    b->group, *b->group ? "/" : "", b->kind);
		break;
	case L7_BACKEND_NOT_PERMITTED:
		cfg_an_add(a, &r->meta, kind, line, false, field,
			   "%s %s/%s is in another namespace and no ReferenceGrant there allows "
			   "%ss of namespace %s (RefNotPermitted): requests to it through a "
			   "Gateway fail with 500",
			   b->kind, ns, b->name, kind, r->meta.namespace);
		break;
	case L7_BACKEND_NOT_FOUND:
		if (core_group(b->group))
			cfg_an_add(a, &r->meta, kind, line, false, field,
				   "IST0101 referenced service not found: \"%s/%s\": requests to "
				   "it fail with 500",
				   ns, b->name);
		else
			cfg_an_add(a, &r->meta, kind, line, false, field,
				   "IST0101 referenced host not found: \"%s\" is no ServiceEntry "
				   "host: requests to it fail with 500",
				   b->name);
		break;
	}
}

static void analyze_route(struct cfg_an *a, const struct config *world,
			  const struct config_gw_route *r)
{
	const char *kind = r->grpc ? "GRPCRoute" : "HTTPRoute";
	char field[128];

	for (size_t i = 0; i < r->n_parent_refs; i++) {
		const struct config_parent_ref *p = &r->parent_refs[i];
		const char *ns = p->namespace ? p->namespace : r->meta.namespace;

		snprintf(field, sizeof(field), "spec.parentRefs[%zu]", i);
		if (p->service_group_defaulted)
			cfg_an_add(a, &r->meta, kind, 0, false, field,
				   "kind Service without group \"\": the group defaults "
				   "to " CONFIG_GW_GROUP
				   ", which has no kind Service; ambit takes the "
				   "core Service %s/%s as meant, but Istio ignores this parent (as "
				   "another controller's): write group: \"\"",
				   ns, p->name);
		if (core_group(p->group) && !strcmp(p->kind, "Service")) {
			if (!find_service(a, ns, p->name))
				cfg_an_add(a, &r->meta, kind, 0, true, field,
					   "IST0101 referenced service not found: \"%s/%s\"", ns,
					   p->name);
		} else if (!strcmp(p->group, CONFIG_GW_GROUP) && !strcmp(p->kind, "Gateway")) {
			if (!find_gateway(a, ns, p->name))
				cfg_an_add(a, &r->meta, kind, 0, true, field,
					   "IST0101 referenced gateway not found: \"%s/%s\"", ns,
					   p->name);
		} else if (strcmp(p->group, "networking.istio.io") ||
			   strcmp(p->kind, "ServiceEntry")) {
			cfg_an_add(
			    a, &r->meta, kind, 0, false, field,
			    "parent kind %s of group \"%s\" is not one Istio or ambit serves "
			    "(a Gateway, a core Service, or networking.istio.io's "
			    "ServiceEntry): this parent is ignored",
			    p->kind, p->group);
		}
	}
	for (size_t i = 0; i < r->n_rules; i++) {
		const struct config_gw_route_rule *rule = &r->rules[i];

		for (size_t j = 0; j < rule->n_backends; j++) {
			snprintf(field, sizeof(field), "spec.rules[%zu].backendRefs[%zu]", i, j);
			check_backend(a, world, r, kind, &rule->backends[j], rule->line, field);
		}
		for (size_t j = 0; j < rule->n_filters; j++)
			if (rule->filters[j].mirror) {
				snprintf(field, sizeof(field),
					 "spec.rules[%zu].filters[%zu].requestMirror.backendRef", i,
					 j);
				check_backend(a, world, r, kind, rule->filters[j].mirror,
					      rule->line, field);
			}
	}
}

/* ---- a host routed by both kinds ---- */

static void fqdn(const char *host, const char *ns, char *out, size_t len)
{
	if (strchr(host, '.'))
		snprintf(out, len, "%s", host);
	else
		snprintf(out, len, "%s.%s.svc.cluster.local", host, ns);
}

static void analyze_mixed(struct cfg_an *a, const struct config_virtual_service *vs)
{
	char vh[512], sh[512];

	if (vs->gateways.n && !config_strings_has(&vs->gateways, "mesh"))
		return;
	CFG_FOR_SETS(a, c)
	{
		const struct config_gw_route *lists[] = {c->http_routes, c->grpc_routes};
		size_t counts[] = {c->n_http_routes, c->n_grpc_routes};

		for (int l = 0; l < 2; l++) {
			for (size_t i = 0; i < counts[l]; i++) {
				const struct config_gw_route *r = &lists[l][i];

				for (size_t p = 0; p < r->n_parent_refs; p++) {
					const struct config_parent_ref *ref = &r->parent_refs[p];

					if (!core_group(ref->group) || strcmp(ref->kind, "Service"))
						continue;
					fqdn(ref->name,
					     ref->namespace ? ref->namespace : r->meta.namespace,
					     sh, sizeof(sh));
					for (size_t h = 0; h < vs->hosts.n; h++) {
						fqdn(vs->hosts.items[h], vs->meta.namespace, vh,
						     sizeof(vh));
						if (strcmp(vh, sh))
							continue;
						cfg_an_add(
						    a, &vs->meta, "VirtualService", 0, false,
						    "spec.hosts",
						    "host %s is also routed by %s %s/%s: mixing "
						    "VirtualService and HTTPRoute for one host is "
						    "undefined in Istio; use one of them",
						    vh, l ? "GRPCRoute" : "HTTPRoute",
						    r->meta.namespace, r->meta.name);
					}
				}
			}
		}
	}
}

/* sourceLabels / sourceNamespace select client proxies; a waypoint is not one (istio 51565). */
static void analyze_source_matches(struct cfg_an *a, const struct config_virtual_service *vs)
{
	size_t idx[3] = {0, 0, 0};
	char field[160];

	if (vs->gateways.n && !config_strings_has(&vs->gateways, "mesh"))
		return;
	for (size_t i = 0; i < vs->n_routes; i++) {
		const struct config_vs_route *r = &vs->routes[i];
		size_t n = idx[r->type]++;
		const char *t = r->type == CONFIG_ROUTE_HTTP  ? "http"
				: r->type == CONFIG_ROUTE_TCP ? "tcp"
							      : "tls";

		for (size_t j = 0; j < r->n_match; j++) {
			const struct config_route_match *m = &r->match[j];

			if (m->source_labels.n) {
				snprintf(field, sizeof(field),
					 "spec.%s[%zu].match[%zu].sourceLabels", t, n, j);
				cfg_an_add(
				    a, &vs->meta, "VirtualService", m->line, false, field,
				    "a waypoint drops match blocks with sourceLabels (ambient has "
				    "no "
				    "client-side proxy to select); this block never matches there");
			}
			if (m->source_namespace) {
				snprintf(field, sizeof(field),
					 "spec.%s[%zu].match[%zu].sourceNamespace", t, n, j);
				cfg_an_add(
				    a, &vs->meta, "VirtualService", m->line, false, field,
				    "a waypoint ignores sourceNamespace (it selects client-side "
				    "proxies, and ambient has none): the block matches requests "
				    "from every namespace");
			}
		}
	}
}

/* ---- waypoints ---- */

static const char *waypoint_for(const struct config_k8s_gateway *gw)
{
	const char *v = config_label_get(&gw->meta.labels, CONFIG_LABEL_WAYPOINT_FOR);

	return v ? v : "service";
}

static void analyze_waypoint(struct cfg_an *a, const struct config_k8s_gateway *gw)
{
	const char *wf = config_label_get(&gw->meta.labels, CONFIG_LABEL_WAYPOINT_FOR);
	bool hbone = false;

	if (!gw->class_name || strcmp(gw->class_name, CONFIG_WAYPOINT_CLASS))
		return;
	if (wf && strcmp(wf, "service") && strcmp(wf, "workload") && strcmp(wf, "all") &&
	    strcmp(wf, "none"))
		cfg_an_add(a, &gw->meta, "Gateway", 0, true,
			   "metadata.labels." CONFIG_LABEL_WAYPOINT_FOR,
			   "\"%s\" is not service, workload, all or none", wf);
	for (size_t i = 0; i < gw->n_listeners; i++) {
		const struct config_gw_listener *l = &gw->listeners[i];
		char field[64];

		snprintf(field, sizeof(field), "spec.listeners[%zu]", i);
		if (l->protocol && !strcmp(l->protocol, "HBONE") && l->port == 15008)
			hbone = true;
		else if (l->protocol && !strcmp(l->protocol, "HBONE"))
			cfg_an_add(a, &gw->meta, "Gateway", l->line, true, field,
				   "a waypoint's HBONE listener must be on port 15008, not %u",
				   l->port);
		else
			cfg_an_add(
			    a, &gw->meta, "Gateway", l->line, false, field,
			    "a waypoint only serves its HBONE listener; listener \"%s\" (%s %u) "
			    "is ignored",
			    l->name, l->protocol ? l->protocol : "?", l->port);
	}
	if (!hbone)
		cfg_an_add(
		    a, &gw->meta, "Gateway", 0, true, "spec.listeners",
		    "a waypoint (class " CONFIG_WAYPOINT_CLASS ") needs a listener of protocol "
		    "HBONE on port 15008 (istioctl waypoint generate names it \"mesh\"): without "
		    "it "
		    "ztunnels cannot reach the waypoint");
}

static const struct config_namespace *find_namespace(struct cfg_an *a, const char *name)
{
	const struct config_namespace *n = NULL;

	CFG_FOR_SETS(a, c)
	if (!n)
		n = config_find_namespace(c, name);
	return n;
}

/*
 * A use-waypoint label on @m (Namespace, Service, Pod or pod template) that binds nothing:
 * naming no waypoint, a waypoint whose HBONE listener's allowedRoutes refuse the object's
 * namespace (Istio's AttachmentDenied), or one for another traffic type. The words are the
 * bindings' (l7/bind.c), as `ambitctl waypoint status` says them.
 */
static void check_use_waypoint(struct cfg_an *a, const struct config_meta *m, const char *kind,
			       const struct config_labels *labels, const char *prefix,
			       bool for_service)
{
	const char *name = config_label_get(labels, CONFIG_LABEL_USE_WAYPOINT);
	const char *ns = config_label_get(labels, CONFIG_LABEL_USE_WAYPOINT_NS);
	const char *own = m->namespace ? m->namespace : m->name; /* a Namespace names itself */
	const struct config_k8s_gateway *gw;
	char field[160], why[1200];

	if (!name || !strcmp(name, "none"))
		return;
	if (!ns)
		ns = own;
	snprintf(field, sizeof(field), "%smetadata.labels." CONFIG_LABEL_USE_WAYPOINT, prefix);
	gw = find_gateway(a, ns, name);
	if (!gw || !gw->class_name || strcmp(gw->class_name, CONFIG_WAYPOINT_CLASS)) {
		cfg_an_add(
		    a, m, kind, 0, true, field,
		    "IST0101 referenced waypoint not found: %s/%s is no Gateway of "
		    "class " CONFIG_WAYPOINT_CLASS
		    "; traffic for it goes without a waypoint (for a global Service, through "
		    "another cluster's of that name when one has it)",
		    ns, name);
		return;
	}
	if (!l7_waypoint_admits(gw, own, find_namespace(a, own), why, sizeof(why))) {
		cfg_an_add(a, m, kind, 0, false, field,
			   "AttachmentDenied: waypoint %s/%s does not admit namespace %s: %s; "
			   "traffic for it goes without a waypoint",
			   ns, name, own, why);
		return;
	}
	if (!strcmp(kind, "Namespace"))
		return; /* a namespace binds both its Services and its pods */
	if (for_service && strcmp(waypoint_for(gw), "service") && strcmp(waypoint_for(gw), "all"))
		cfg_an_add(a, m, kind, 0, false, field,
			   "UnsupportedTrafficType: waypoint %s/%s is for %s traffic, not service "
			   "traffic: the label has no effect",
			   ns, name, waypoint_for(gw));
	else if (!for_service && strcmp(waypoint_for(gw), "workload") &&
		 strcmp(waypoint_for(gw), "all"))
		cfg_an_add(a, m, kind, 0, false, field,
			   "UnsupportedTrafficType: waypoint %s/%s is for %s traffic, not workload "
			   "traffic: the label has no effect",
			   ns, name, waypoint_for(gw));
}

/*
 * istio.io/ingress-use-waypoint on Service @s (or, without a label of its own, on its
 * namespace): gateways send its traffic to its waypoint, which needs a binding and a VIP to
 * address it by (the CONNECT authority); without a VIP requests through a gateway get 503.
 */
static void check_ingress_use_waypoint(struct cfg_an *a, const struct config_service *s)
{
	const struct config_namespace *ns = NULL;
	const char *field = "metadata.labels." CONFIG_LABEL_INGRESS_USE_WAYPOINT;
	const char *bound = config_label_get(&s->meta.labels, CONFIG_LABEL_USE_WAYPOINT);

	CFG_FOR_SETS(a, c)
	if (!ns)
		ns = config_find_namespace(c, s->meta.namespace);
	if (!config_label_get(&s->meta.labels, CONFIG_LABEL_INGRESS_USE_WAYPOINT))
		field = "the namespace's label " CONFIG_LABEL_INGRESS_USE_WAYPOINT;
	if (!l7_ingress_use_waypoint_labels(&s->meta.labels, ns ? &ns->meta.labels : NULL))
		return;
	if (!bound && ns)
		bound = config_label_get(&ns->meta.labels, CONFIG_LABEL_USE_WAYPOINT);
	if (!bound || !strcmp(bound, "none"))
		cfg_an_add(a, &s->meta, "Service", 0, false, field,
			   CONFIG_LABEL_INGRESS_USE_WAYPOINT
			   " has no effect: the Service is bound to no waypoint "
			   "(" CONFIG_LABEL_USE_WAYPOINT "); gateways send to its endpoints");
	else if (s->cluster_ip && !strcmp(s->cluster_ip, "None"))
		cfg_an_add(a, &s->meta, "Service", 0, true, field,
			   "a headless Service has no VIP to reach its waypoint by: requests "
			   "through a gateway get 503 (no healthy upstream)");
}

/*
 * A rate limit restricted to a port (an EnvoyFilter's inbound|http|PORT or portNumber) that no
 * Service it could reach has as port or targetPort limits nothing: Istio's sample names 8000.
 */
static void analyze_ratelimit_port(struct cfg_an *a, const struct config_rate_limit *rl)
{
	bool any_ns = !strcmp(rl->meta.namespace, a->root ? a->root : "istio-system");

	if (!rl->port)
		return;
	CFG_FOR_SETS(a, c)
	for (size_t i = 0; i < c->n_services; i++) {
		const struct config_service *s = &c->services[i];

		if (!any_ns && strcmp(s->meta.namespace, rl->meta.namespace))
			continue;
		if (rl->has_selector && s->selector.n &&
		    !config_labels_match(&s->selector, &rl->selector))
			continue;
		for (size_t p = 0; p < s->nports; p++)
			if (s->ports[p].port == rl->port || s->ports[p].target_port == rl->port)
				return;
	}
	cfg_an_add(a, &rl->meta, rl->envoy_filter ? "EnvoyFilter" : "LocalRateLimit", 0, false,
		   "spec.configPatches",
		   "port %u is no port or targetPort of a Service it selects: it limits nothing",
		   rl->port);
}

int cfg_analyze_l7(const struct config *cfg, const struct config *context,
		   struct config_diags *diags)
{
	struct cfg_an a = {.sets = {cfg, context}, .diags = diags};
	struct config world;

	if (backend_world(&a, &world))
		a.err = -ENOMEM;
	for (size_t i = 0; !a.err && i < cfg->n_http_routes; i++)
		analyze_route(&a, &world, &cfg->http_routes[i]);
	for (size_t i = 0; !a.err && i < cfg->n_grpc_routes; i++)
		analyze_route(&a, &world, &cfg->grpc_routes[i]);
	backend_world_free(&world);
	for (size_t i = 0; i < cfg->n_virtual_services; i++) {
		analyze_mixed(&a, &cfg->virtual_services[i]);
		analyze_source_matches(&a, &cfg->virtual_services[i]);
	}
	for (size_t i = 0; i < cfg->n_k8s_gateways; i++)
		analyze_waypoint(&a, &cfg->k8s_gateways[i]);
	for (size_t i = 0; i < cfg->n_namespaces; i++)
		check_use_waypoint(&a, &cfg->namespaces[i].meta, "Namespace",
				   &cfg->namespaces[i].meta.labels, "", false);
	for (size_t i = 0; i < cfg->n_services; i++) {
		check_use_waypoint(&a, &cfg->services[i].meta, "Service",
				   &cfg->services[i].meta.labels, "", true);
		check_ingress_use_waypoint(&a, &cfg->services[i]);
	}
	for (size_t i = 0; i < cfg->n_pods; i++)
		check_use_waypoint(&a, &cfg->pods[i].meta, "Pod", &cfg->pods[i].meta.labels, "",
				   false);
	for (size_t i = 0; i < cfg->n_deployments; i++)
		check_use_waypoint(&a, &cfg->deployments[i].meta, "Deployment",
				   &cfg->deployments[i].template_labels, "spec.template.", false);
	for (size_t i = 0; i < cfg->n_envoy_filters; i++)
		analyze_ratelimit_port(&a, &cfg->envoy_filters[i]);
	return a.err;
}
