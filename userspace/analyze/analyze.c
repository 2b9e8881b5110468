// SPDX-License-Identifier: Apache-2.0
/*
 * Cross-object analysis (API_SEMANTICS.md §8), the part of `istioctl analyze` that needs more
 * than one object: what a reference names must exist, routes after a catch-all are dead,
 * PeerAuthentications at one level must not compete, selectors should select something.
 * Per-object findings (allow-nothing, L7 fields at the ztunnel, deprecated fields) are the
 * loader's warnings. Last, what a user coming from Istio would otherwise expect silently:
 * sidecar-injection labels (ambit is ambient-only) and kinds nothing enforces yet.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ambit/l7.h"
#include "decode/decode.h"

#define DEFAULT_ROOT_NS "istio-system"

int config_diags_add(struct config_diags *diags, const struct config_origin *where, int line,
		     bool error, const char *object, const char *field, const char *fmt, ...)
{
	struct config_diag *items, *d;
	char *msg = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	items = realloc(diags->items, (diags->n + 1) * sizeof(*items));
	if (!items) {
		free(msg);
		return -ENOMEM;
	}
	diags->items = items;
	d = &items[diags->n];
	memset(d, 0, sizeof(*d));
	d->file = cfg_strdup(where && where->file ? where->file : "<input>");
	d->line = line ? line : (where ? where->line : 0);
	d->column = 1;
	d->error = error;
	d->object = cfg_strdup(object);
	d->field = cfg_strdup(field);
	d->message = msg;
	if (!d->file || (object && !d->object) || (field && !d->field)) {
		free(d->file);
		free(d->object);
		free(d->field);
		free(msg);
		return -ENOMEM;
	}
	diags->n++;
	return 0;
}

void cfg_an_add(struct cfg_an *a, const struct config_meta *m, const char *kind, int line,
		bool error, const char *field, const char *fmt, ...)
{
	char object[384], *msg = NULL;
	va_list ap;

	if (m->namespace)
		snprintf(object, sizeof(object), "%s %s/%s", kind, m->namespace, m->name);
	else
		snprintf(object, sizeof(object), "%s %s", kind, m->name);
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg || config_diags_add(a->diags, &m->origin, line, error, object, field, "%s", msg))
		a->err = -ENOMEM;
	free(msg);
}

/* ---- host names ---- */

/* Short names are expanded with the namespace of the object that wrote them (§0). */
static void fqdn(const char *host, const char *ns, char *out, size_t len)
{
	if (strchr(host, '.') || !strcmp(host, "*"))
		snprintf(out, len, "%s", host);
	else
		snprintf(out, len, "%s.%s.svc.cluster.local", host, ns);
}

/* "*.foo.com" covers "a.foo.com" and "*.b.foo.com"; otherwise names must be equal. */
static bool host_covers(const char *pattern, const char *host)
{
	size_t pl, hl;

	if (!strcmp(pattern, host) || !strcmp(pattern, "*"))
		return true;
	if (strncmp(pattern, "*.", 2))
		return false;
	pl = strlen(pattern) - 1; /* ".foo.com" */
	hl = strlen(host);
	return hl > pl && !strcmp(host + hl - pl, pattern + 1);
}

static bool host_known(struct cfg_an *a, const char *host)
{
	char name[512];

	CFG_FOR_SETS(a, c)
	{
		for (size_t i = 0; i < c->n_services; i++) {
			fqdn(c->services[i].meta.name, c->services[i].meta.namespace, name,
			     sizeof(name));
			if (host_covers(host, name))
				return true;
		}
		for (size_t i = 0; i < c->n_service_entries; i++) {
			const struct config_service_entry *se = &c->service_entries[i];

			for (size_t j = 0; j < se->hosts.n; j++) {
				fqdn(se->hosts.items[j], se->meta.namespace, name, sizeof(name));
				if (host_covers(name, host) || host_covers(host, name))
					return true;
			}
		}
	}
	return false;
}

static bool namespace_known(struct cfg_an *a, const char *ns, bool *any_known)
{
	*any_known = false;
	if (!strcmp(ns, "default") || !strcmp(ns, a->root))
		return true;
	CFG_FOR_SETS(a, c)
	{
		*any_known |= c->n_namespaces > 0;
		if (config_find_namespace(c, ns))
			return true;
	}
	return false;
}

/* ---- VirtualService ---- */

static bool subset_known(struct cfg_an *a, const char *host, const char *subset, bool *has_dr)
{
	char name[512];

	*has_dr = false;
	CFG_FOR_SETS(a, c)
	{
		for (size_t i = 0; i < c->n_destination_rules; i++) {
			const struct config_destination_rule *dr = &c->destination_rules[i];

			fqdn(dr->host, dr->meta.namespace, name, sizeof(name));
			if (!host_covers(name, host))
				continue;
			*has_dr = true;
			for (size_t j = 0; j < dr->n_subsets; j++)
				if (!strcmp(dr->subsets[j].name, subset))
					return true;
		}
	}
	return false;
}

static void check_destination(struct cfg_an *a, const struct config_virtual_service *vs,
			      const struct config_destination *d, int line, const char *field)
{
	char host[512];
	bool has_dr;

	fqdn(d->host, vs->meta.namespace, host, sizeof(host));
	if (!host_known(a, host)) {
		cfg_an_add(
		    a, &vs->meta, "VirtualService", line, true, field,
		    "IST0101 referenced host not found: \"%s\" (%s) is neither a Service nor a "
		    "ServiceEntry host",
		    d->host, host);
		return;
	}
	if (d->subset && !subset_known(a, host, d->subset, &has_dr))
		cfg_an_add(a, &vs->meta, "VirtualService", line, true, field,
			   "IST0101 referenced subset not found: \"%s\" of host %s (%s)", d->subset,
			   host,
			   has_dr ? "no DestinationRule for it defines that subset"
				  : "no DestinationRule for the host defines subsets");
}

static const struct config_gateway *find_gateway(struct cfg_an *a, const char *ref, const char *ns)
{
	const char *slash = strchr(ref, '/');
	const char *name = slash ? slash + 1 : ref;
	size_t nl = slash ? (size_t)(slash - ref) : strlen(ns);
	const char *gns = slash ? ref : ns;

	CFG_FOR_SETS(a, c)
	{
		for (size_t i = 0; i < c->n_gateways; i++)
			if (!strcmp(c->gateways[i].meta.name, name) &&
			    strlen(c->gateways[i].meta.namespace) == nl &&
			    !strncmp(c->gateways[i].meta.namespace, gns, nl))
				return &c->gateways[i];
	}
	return NULL;
}

/* A server host "[ns/]host" admits VS @host of namespace @vs_ns (§6). */
static bool server_host_admits(const char *server_host, const char *gw_ns, const char *vs_ns,
			       const char *host)
{
	const char *slash = strchr(server_host, '/');
	const char *h = slash ? slash + 1 : server_host;

	if (slash) {
		size_t l = (size_t)(slash - server_host);

		if (!(l == 1 && server_host[0] == '*')) {
			const char *want = l == 1 && server_host[0] == '.' ? gw_ns : server_host;
			size_t wl = l == 1 && server_host[0] == '.' ? strlen(gw_ns) : l;

			if (strlen(vs_ns) != wl || strncmp(vs_ns, want, wl))
				return false;
		}
	}
	return host_covers(h, host) || host_covers(host, h);
}

/* IST0132: a VS host that no server of a gateway it binds to accepts. */
static void check_gateway_hosts(struct cfg_an *a, const struct config_virtual_service *vs,
				const struct config_gateway *gw, const char *ref)
{
	for (size_t h = 0; h < vs->hosts.n; h++) {
		bool ok = false;

		for (size_t s = 0; s < gw->n_servers && !ok; s++)
			for (size_t k = 0; k < gw->servers[s].hosts.n && !ok; k++)
				ok = server_host_admits(gw->servers[s].hosts.items[k],
							gw->meta.namespace, vs->meta.namespace,
							vs->hosts.items[h]);
		if (!ok) {
			char field[64];

			snprintf(field, sizeof(field), "spec.hosts[%zu]", h);
			cfg_an_add(
			    a, &vs->meta, "VirtualService", 0, false, field,
			    "IST0132 VirtualServiceHostNotFoundInGateway: host \"%s\" is not "
			    "accepted "
			    "by any server of gateway %s, so that gateway does not route it",
			    vs->hosts.items[h], ref);
		}
	}
}

static const char *route_kind(enum config_route_type t)
{
	return t == CONFIG_ROUTE_HTTP ? "http" : t == CONFIG_ROUTE_TCP ? "tcp" : "tls";
}

static void analyze_vs(struct cfg_an *a, const struct config_virtual_service *vs)
{
	size_t idx[3] = {0, 0, 0};
	int catch_all[3] = {0, 0, 0}; /* line of the first catch-all rule per type */
	char field[128];

	for (size_t i = 0; i < vs->gateways.n; i++) {
		const char *g = vs->gateways.items[i];

		const struct config_gateway *gw;

		if (!strcmp(g, "mesh"))
			continue;
		snprintf(field, sizeof(field), "spec.gateways[%zu]", i);
		gw = find_gateway(a, g, vs->meta.namespace);
		if (!gw)
			cfg_an_add(a, &vs->meta, "VirtualService", 0, true, field,
				   "IST0101 referenced gateway not found: \"%s\"", g);
		else
			check_gateway_hosts(a, vs, gw, g);
	}
	for (size_t i = 0; i < vs->n_routes; i++) {
		const struct config_vs_route *r = &vs->routes[i];
		size_t k = r->type, n = idx[k]++;
		bool all = !r->n_match;

		if (catch_all[k]) {
			snprintf(field, sizeof(field), "spec.%s[%zu]", route_kind(r->type), n);
			cfg_an_add(
			    a, &vs->meta, "VirtualService", r->line, false, field,
			    "IST0130 VirtualServiceUnreachableRule: this rule is never used: the "
			    "rule at line %d matches every request first",
			    catch_all[k]);
		}
		for (size_t j = 0; j < r->n_match; j++)
			all |= r->match[j].empty;
		if (all && !catch_all[k])
			catch_all[k] = r->line;
		for (size_t j = 0; j < r->n_route; j++) {
			snprintf(field, sizeof(field), "spec.%s[%zu].route[%zu].destination",
				 route_kind(r->type), n, j);
			check_destination(a, vs, &r->route[j], r->line, field);
		}
		if (r->has_mirror) {
			snprintf(field, sizeof(field), "spec.%s[%zu].mirror", route_kind(r->type),
				 n);
			check_destination(a, vs, &r->mirror, r->line, field);
		}
	}
}

/* IST0109: two mesh-bound VSs for one host; only the oldest is used. */
static void analyze_vs_conflicts(struct cfg_an *a)
{
	const struct config *c = a->sets[0];
	char hi[512], hj[512];

	for (size_t i = 0; i < c->n_virtual_services; i++) {
		const struct config_virtual_service *v = &c->virtual_services[i];
		bool mesh_i = !v->gateways.n || config_strings_has(&v->gateways, "mesh");

		for (size_t j = 0; mesh_i && j < i; j++) {
			const struct config_virtual_service *w = &c->virtual_services[j];

			if (w->gateways.n && !config_strings_has(&w->gateways, "mesh"))
				continue;
			for (size_t x = 0; x < v->hosts.n; x++) {
				fqdn(v->hosts.items[x], v->meta.namespace, hi, sizeof(hi));
				for (size_t y = 0; y < w->hosts.n; y++) {
					fqdn(w->hosts.items[y], w->meta.namespace, hj, sizeof(hj));
					if (strcmp(hi, hj))
						continue;
					cfg_an_add(
					    a, &v->meta, "VirtualService", 0, true, "spec.hosts",
					    "IST0109 ConflictingMeshGatewayVirtualServiceHosts: "
					    "host %s "
					    "is also defined by VirtualService %s/%s (%s:%d); only "
					    "one "
					    "takes effect (the oldest)",
					    hi, w->meta.namespace, w->meta.name,
					    w->meta.origin.file, w->meta.origin.line);
				}
			}
		}
	}
}

/* ---- DestinationRule ---- */

static bool any_workloads(struct cfg_an *a);

/* A workload of @svc's namespace selected by both the Service and @labels. */
static bool subset_selects(struct cfg_an *a, const struct config_service *svc,
			   const struct config_labels *labels)
{
	const char *ns = svc->meta.namespace;

	CFG_FOR_SETS(a, c)
	{
		for (size_t i = 0; i < c->n_pods; i++)
			if (!strcmp(c->pods[i].meta.namespace, ns) &&
			    config_labels_match(&svc->selector, &c->pods[i].meta.labels) &&
			    config_labels_match(labels, &c->pods[i].meta.labels))
				return true;
		for (size_t i = 0; i < c->n_deployments; i++)
			if (!strcmp(c->deployments[i].meta.namespace, ns) &&
			    config_labels_match(&svc->selector,
						&c->deployments[i].template_labels) &&
			    config_labels_match(labels, &c->deployments[i].template_labels))
				return true;
	}
	return false;
}

static const struct config_service *find_service(struct cfg_an *a, const char *host)
{
	char name[512];

	CFG_FOR_SETS(a, c)
	{
		for (size_t i = 0; i < c->n_services; i++) {
			fqdn(c->services[i].meta.name, c->services[i].meta.namespace, name,
			     sizeof(name));
			if (!strcmp(name, host))
				return &c->services[i];
		}
	}
	return NULL;
}

static void analyze_dr(struct cfg_an *a, const struct config_destination_rule *dr)
{
	const struct config_service *svc;
	char host[512], field[64];

	fqdn(dr->host, dr->meta.namespace, host, sizeof(host));
	if (!strchr(dr->host, '*') && !host_known(a, host)) {
		cfg_an_add(
		    a, &dr->meta, "DestinationRule", 0, false, "spec.host",
		    "IST0101 referenced host not found: \"%s\" (%s): the rule applies to nothing",
		    dr->host, host);
		return;
	}
	svc = find_service(a, host);
	if (!svc || !svc->selector.n || !any_workloads(a))
		return;
	for (size_t i = 0; i < dr->n_subsets; i++) {
		if (subset_selects(a, svc, &dr->subsets[i].labels))
			continue;
		snprintf(field, sizeof(field), "spec.subsets[%zu]", i);
		cfg_an_add(
		    a, &dr->meta, "DestinationRule", dr->subsets[i].line, false, field,
		    "IST0173 DestinationRuleSubsetNotSelectPods: subset \"%s\" selects no workload "
		    "of Service %s/%s: traffic routed to it fails",
		    dr->subsets[i].name, svc->meta.namespace, svc->meta.name);
	}
}

/* ---- selectors ---- */

/*
 * Whether @sel selects a gateway proxy ambitctl or the agent deploys (no Deployment in the
 * objects): a Gateway API Gateway of class istio (its pods labelled with its name, as Istio's
 * deployment controller labels them), or the local cluster's istio-ingressgateway, whose
 * Service (labelled CONFIG_LABEL_LOCAL_INGRESS) selects its pod by the labels it is made with.
 */
static bool selects_gateway_proxy(const struct config *c, const struct config_labels *sel,
				  const char *ns, bool any_ns)
{
	for (size_t i = 0; i < c->n_k8s_gateways; i++) {
		const struct config_k8s_gateway *g = &c->k8s_gateways[i];
		struct config_label l[] = {{(char *)CONFIG_LABEL_GATEWAY_NAME, g->meta.name},
					   {(char *)"istio.io/gateway-name", g->meta.name}};
		struct config_labels labels = {.n = 2, .items = l};

		if ((any_ns || !strcmp(g->meta.namespace, ns)) && g->class_name &&
		    !strcmp(g->class_name, CONFIG_GATEWAY_CLASS) &&
		    config_labels_match(sel, &labels))
			return true;
	}
	for (size_t i = 0; i < c->n_services; i++) {
		const struct config_service *s = &c->services[i];

		if ((any_ns || !strcmp(s->meta.namespace, ns)) && s->selector.n &&
		    config_label_get(&s->meta.labels, CONFIG_LABEL_LOCAL_INGRESS) &&
		    config_labels_match(sel, &s->selector))
			return true;
	}
	return false;
}

static bool selects_workload(struct cfg_an *a, const struct config_labels *sel, const char *ns,
			     bool any_ns)
{
	CFG_FOR_SETS(a, c)
	{
		if (selects_gateway_proxy(c, sel, ns, any_ns))
			return true;
		for (size_t i = 0; i < c->n_pods; i++)
			if ((any_ns || !strcmp(c->pods[i].meta.namespace, ns)) &&
			    config_labels_match(sel, &c->pods[i].meta.labels))
				return true;
		for (size_t i = 0; i < c->n_deployments; i++)
			if ((any_ns || !strcmp(c->deployments[i].meta.namespace, ns)) &&
			    config_labels_match(sel, &c->deployments[i].template_labels))
				return true;
	}
	return false;
}

static bool any_workloads(struct cfg_an *a)
{
	CFG_FOR_SETS(a, c)
	{
		if (c->n_pods || c->n_deployments)
			return true;
	}
	return false;
}

static void check_selector(struct cfg_an *a, const struct config_meta *m, const char *kind,
			   const struct config_labels *sel)
{
	bool root = !strcmp(m->namespace, a->root);

	if (!any_workloads(a) || selects_workload(a, sel, m->namespace, root))
		return;
	cfg_an_add(a, m, kind, 0, false, "spec.selector",
		   "IST0127 NoMatchingWorkloadsFound: the selector matches no workload in %s%s",
		   root ? "any namespace" : "namespace ", root ? "" : m->namespace);
}

/* ---- AuthorizationPolicy ---- */

static void analyze_ap(struct cfg_an *a, const struct config_authorization_policy *p)
{
	char field[160];
	bool any;

	if (p->has_selector)
		check_selector(a, &p->meta, "AuthorizationPolicy", &p->selector);
	if (!namespace_known(a, p->meta.namespace, &any) && any)
		cfg_an_add(a, &p->meta, "AuthorizationPolicy", 0, false, "metadata.namespace",
			   "IST0101 referenced namespace not found: \"%s\"", p->meta.namespace);
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct config_authz_rule *r = &p->rules[i];

		for (size_t j = 0; j < r->n_from; j++) {
			const struct config_strings *lists[] = {&r->from[j].namespaces,
								&r->from[j].not_namespaces};

			for (int l = 0; l < 2; l++) {
				for (size_t k = 0; k < lists[l]->n; k++) {
					const char *ns = lists[l]->items[k];

					if (strchr(ns, '*') || namespace_known(a, ns, &any) || !any)
						continue;
					snprintf(field, sizeof(field),
						 "spec.rules[%zu].from[%zu].source.%s[%zu]", i, j,
						 l ? "notNamespaces" : "namespaces", k);
					cfg_an_add(a, &p->meta, "AuthorizationPolicy", r->line,
						   false, field,
						   "IST0101 referenced namespace not found: \"%s\"",
						   ns);
				}
			}
		}
	}
}

/* ---- PeerAuthentication ---- */

static const char *pa_level(const struct config_peer_authentication *p, const char *root)
{
	if (p->has_selector)
		return "workload";
	return !strcmp(p->meta.namespace, root) ? "mesh" : "namespace";
}

/* Istio keeps the oldest of competing policies; without timestamps, the first loaded. */
static const struct config_peer_authentication *
pa_winner(const struct config_peer_authentication *x, const struct config_peer_authentication *y)
{
	const char *tx = x->meta.creation_timestamp, *ty = y->meta.creation_timestamp;

	if (tx && ty && strcmp(tx, ty))
		return strcmp(tx, ty) < 0 ? x : y;
	return x; /* x was loaded first */
}

/* Two PeerAuthentications of one level that can apply to one workload. */
static bool pa_compete(struct cfg_an *a, const struct config_peer_authentication *x,
		       const struct config_peer_authentication *y)
{
	if (strcmp(x->meta.namespace, y->meta.namespace) || x->has_selector != y->has_selector)
		return false;
	if (!x->has_selector)
		return true;
	CFG_FOR_SETS(a, c)
	{
		for (size_t i = 0; i < c->n_pods; i++)
			if (!strcmp(c->pods[i].meta.namespace, x->meta.namespace) &&
			    config_labels_match(&x->selector, &c->pods[i].meta.labels) &&
			    config_labels_match(&y->selector, &c->pods[i].meta.labels))
				return true;
		for (size_t i = 0; i < c->n_deployments; i++)
			if (!strcmp(c->deployments[i].meta.namespace, x->meta.namespace) &&
			    config_labels_match(&x->selector, &c->deployments[i].template_labels) &&
			    config_labels_match(&y->selector, &c->deployments[i].template_labels))
				return true;
	}
	return false;
}

static void analyze_pa(struct cfg_an *a)
{
	const struct config *c = a->sets[0];

	for (size_t i = 0; i < c->n_peer_authentications; i++) {
		const struct config_peer_authentication *p = &c->peer_authentications[i];

		if (p->has_selector && !strcmp(p->meta.namespace, a->root)) {
			cfg_an_add(
			    a, &p->meta, "PeerAuthentication", 0, false, "spec.selector",
			    "a PeerAuthentication with a selector in the root namespace %s is "
			    "ignored: workload policies belong in the workload's namespace",
			    a->root);
			continue;
		}
		if (p->has_selector)
			check_selector(a, &p->meta, "PeerAuthentication", &p->selector);
		for (size_t j = 0; j < i; j++) {
			const struct config_peer_authentication *q = &c->peer_authentications[j];
			const struct config_peer_authentication *w;

			if (!pa_compete(a, q, p))
				continue;
			w = pa_winner(q, p);
			cfg_an_add(
			    a, &p->meta, "PeerAuthentication", 0, false,
			    p->has_selector ? "spec.selector" : NULL,
			    "conflicting %s-level PeerAuthentications: this one and %s/%s (%s:%d) "
			    "apply to the same %s; only %s/%s takes effect (the oldest by "
			    "creationTimestamp, else the first loaded)",
			    pa_level(p, a->root), q->meta.namespace, q->meta.name,
			    q->meta.origin.file, q->meta.origin.line,
			    p->has_selector			  ? "workloads"
			    : !strcmp(p->meta.namespace, a->root) ? "mesh"
								  : "namespace",
			    w->meta.namespace, w->meta.name);
		}
	}
}

/* ---- what ambit does not do (yet) ---- */

#define LABEL_INJECTION "istio-injection"
#define LABEL_SIDECAR_INJECT "sidecar.istio.io/inject"

/* Whether namespace @ns is in the ambient mesh, by the analyzed objects or the context. */
static bool namespace_ambient(struct cfg_an *a, const char *ns)
{
	CFG_FOR_SETS(a, c)
	{
		const struct config_namespace *n = config_find_namespace(c, ns);
		const char *v =
		    n ? config_label_get(&n->meta.labels, AMBIT_LABEL_DATAPLANE_MODE) : NULL;

		if (n)
			return v && !strcmp(v, AMBIT_DATAPLANE_AMBIENT);
	}
	return false;
}

/*
 * Sidecar mode's namespace label (Istio's tutorials start with it): ambit never injects, so
 * the label alone leaves the namespace out of the mesh, and "disabled" does not take an ambient
 * namespace out.
 */
static void check_namespace_injection(struct cfg_an *a, const struct config_namespace *ns)
{
	const char *v = config_label_get(&ns->meta.labels, LABEL_INJECTION);
	const char *mode = config_label_get(&ns->meta.labels, AMBIT_LABEL_DATAPLANE_MODE);
	bool ambient = mode && !strcmp(mode, AMBIT_DATAPLANE_AMBIENT);

	if (!v || (!ambient && strcmp(v, "enabled")))
		return;
	if (!strcmp(v, "enabled") && !ambient)
		cfg_an_add(
		    a, &ns->meta, "Namespace", 0, false, "metadata.labels." LABEL_INJECTION,
		    "ambient-only: " LABEL_INJECTION "=enabled asks for sidecar injection, which "
		    "ambit does not do, so the namespace's pods are not in the mesh; label it "
		    "%s=%s instead (ambitctl label namespace %s %s=%s)",
		    AMBIT_LABEL_DATAPLANE_MODE, AMBIT_DATAPLANE_AMBIENT, ns->meta.name,
		    AMBIT_LABEL_DATAPLANE_MODE, AMBIT_DATAPLANE_AMBIENT);
	else if (!strcmp(v, "enabled"))
		cfg_an_add(a, &ns->meta, "Namespace", 0, false, "metadata.labels." LABEL_INJECTION,
			   "ambient-only: " LABEL_INJECTION
			   "=enabled has no effect (ambit injects no "
			   "sidecars); the namespace is in the mesh by %s=%s",
			   AMBIT_LABEL_DATAPLANE_MODE, AMBIT_DATAPLANE_AMBIENT);
	else
		cfg_an_add(a, &ns->meta, "Namespace", 0, false, "metadata.labels." LABEL_INJECTION,
			   "ambient-only: " LABEL_INJECTION
			   "=%s does not take the namespace out of the "
			   "mesh: %s=%s does; remove that label to take it out",
			   v, AMBIT_LABEL_DATAPLANE_MODE, AMBIT_DATAPLANE_AMBIENT);
}

/* The pod-level switch, as a label or an annotation (@where), of a Pod or a pod template. */
static void check_pod_inject(struct cfg_an *a, const struct config_meta *m, const char *kind,
			     const struct config_labels *labels, const char *prefix,
			     const char *where, const char *v)
{
	const char *mode = config_label_get(labels, AMBIT_LABEL_DATAPLANE_MODE);
	bool ambient = namespace_ambient(a, m->namespace);
	bool opted_out = mode && !strcmp(mode, AMBIT_DATAPLANE_NONE);
	char field[128];

	snprintf(field, sizeof(field), "%smetadata.%s." LABEL_SIDECAR_INJECT, prefix, where);
	if (!strcmp(v, "true") && ambient && !opted_out)
		cfg_an_add(a, m, kind, 0, false, field,
			   "ambient-only: " LABEL_SIDECAR_INJECT
			   "=true has no effect (ambit injects no "
			   "sidecars); these pods are in the mesh by their namespace's %s=%s",
			   AMBIT_LABEL_DATAPLANE_MODE, AMBIT_DATAPLANE_AMBIENT);
	else if (!strcmp(v, "true") && ambient)
		cfg_an_add(
		    a, m, kind, 0, false, field,
		    "ambient-only: " LABEL_SIDECAR_INJECT "=true asks for a sidecar, which ambit "
		    "does not inject, so these pods are not in the mesh; the pod label %s=%s "
		    "takes them out, remove it to mesh them",
		    AMBIT_LABEL_DATAPLANE_MODE, AMBIT_DATAPLANE_NONE);
	else if (!strcmp(v, "true"))
		cfg_an_add(a, m, kind, 0, false, field,
			   "ambient-only: " LABEL_SIDECAR_INJECT
			   "=true asks for a sidecar, which ambit "
			   "does not inject, so these pods are not in the mesh; label namespace %s "
			   "%s=%s instead (ambitctl label namespace %s %s=%s)",
			   m->namespace, AMBIT_LABEL_DATAPLANE_MODE, AMBIT_DATAPLANE_AMBIENT,
			   m->namespace, AMBIT_LABEL_DATAPLANE_MODE, AMBIT_DATAPLANE_AMBIENT);
	else if (!strcmp(v, "false") && ambient && !opted_out)
		cfg_an_add(a, m, kind, 0, false, field,
			   "ambient-only: " LABEL_SIDECAR_INJECT
			   "=false does not take these pods out of "
			   "the mesh: the pod label %s=%s does",
			   AMBIT_LABEL_DATAPLANE_MODE, AMBIT_DATAPLANE_NONE);
}

static void check_pod_injection(struct cfg_an *a, const struct config_meta *m, const char *kind,
				const struct config_labels *labels,
				const struct config_labels *annotations, const char *prefix)
{
	const char *v = config_label_get(labels, LABEL_SIDECAR_INJECT);

	if (v)
		check_pod_inject(a, m, kind, labels, prefix, "labels", v);
	v = config_label_get(annotations, LABEL_SIDECAR_INJECT);
	if (v)
		check_pod_inject(a, m, kind, labels, prefix, "annotations", v);
}

/*
 * Whether host @h (as a route names it, relative to namespace @ns) is a Service that a waypoint
 * serves (@b): its short name in @ns, "name.ns", "name.ns.svc" or the FQDN.
 */
static bool host_served(const struct l7_bindings *b, const char *h, const char *ns)
{
	for (size_t i = 0; i < b->n_services; i++) {
		const struct l7_binding *bd = &b->services[i];
		char fqdn[600], dotted[520], svc[530];

		if (bd->waypoint < 0)
			continue;
		snprintf(dotted, sizeof(dotted), "%s.%s", bd->name, bd->namespace);
		snprintf(svc, sizeof(svc), "%s.svc", dotted);
		snprintf(fqdn, sizeof(fqdn), "%s.cluster.local", svc);
		if (!strcmp(h, fqdn) || !strcmp(h, dotted) || !strcmp(h, svc) ||
		    (ns && !strcmp(bd->namespace, ns) && !strcmp(bd->name, h)))
			return true;
	}
	return false;
}

/*
 * Whether Gateway @gw (networking.istio.io) selects a gateway proxy in @u: a Pod or a
 * Deployment's pods it matches, or the local cluster's ingress gateway, whose Service
 * (labelled ambit.io/local-ingress) carries its pod's labels.
 */
/* The namespace of the first workload Gateway @gw selects (its credentials' too), or NULL. */
static const char *gateway_namespace(const struct config *u, const struct config_gateway *gw)
{
	if (!gw->selector.n)
		return NULL;
	for (size_t i = 0; i < u->n_pods; i++)
		if (config_labels_match(&gw->selector, &u->pods[i].meta.labels))
			return u->pods[i].meta.namespace;
	for (size_t i = 0; i < u->n_deployments; i++)
		if (config_labels_match(&gw->selector, &u->deployments[i].template_labels))
			return u->deployments[i].meta.namespace;
	for (size_t i = 0; i < u->n_services; i++)
		if (config_label_get(&u->services[i].meta.labels, "ambit.io/local-ingress") &&
		    config_labels_match(&gw->selector, &u->services[i].meta.labels))
			return u->services[i].meta.namespace;
	return NULL;
}

static bool gateway_selects(const struct config *u, const struct config_gateway *gw)
{
	return gateway_namespace(u, gw) != NULL;
}

static bool has_item(const struct config_secret *s, const char *a, const char *b)
{
	return config_secret_get(s, a) || config_secret_get(s, b);
}

/* The kind of listener server @srv asks for (a port is one kind, as its first server). */
enum server_kind {
	KIND_HTTP = 0,
	KIND_HTTPS,
	KIND_PASSTHROUGH,
	KIND_TCP,
	KIND_NONE, /* not served at all */
};

static enum server_kind server_kind(const struct config_gateway_server *srv)
{
	const char *p = srv->protocol ? srv->protocol : "?", *mode = srv->tls_mode;

	if (l7_protocol_is_http(l7_port_protocol(p, NULL)) && (!mode || srv->https_redirect))
		return KIND_HTTP;
	if (l7_gateway_passthrough(srv))
		return KIND_PASSTHROUGH;
	if (l7_gateway_tcp_server(srv))
		return KIND_TCP;
	if (!strcasecmp(p, "HTTPS") && mode && strcmp(mode, "PASSTHROUGH") &&
	    strcmp(mode, "AUTO_PASSTHROUGH"))
		return KIND_HTTPS;
	return KIND_NONE;
}

/*
 * Why server @s of Gateway @gw (its proxies in namespace @ns) is not served, into @why, or
 * false when it is: plaintext HTTP, TLS PASSTHROUGH, TCP, or HTTPS SIMPLE/MUTUAL whose
 * credentialName's Secret (and for MUTUAL a CA) is in @ns, on a port whose first server is of
 * the same kind.
 */
static bool server_unserved(const struct config *u, const struct config_gateway *gw, size_t s,
			    const char *ns, char *why, size_t len)
{
	static const char *const kind_names[] = {"plaintext HTTP", "HTTPS", "TLS passthrough",
						 "TCP"};
	const struct config_gateway_server *srv = &gw->servers[s];
	const char *p = srv->protocol ? srv->protocol : "?", *mode = srv->tls_mode;
	const struct config_secret *sec;
	enum server_kind kind = server_kind(srv);

	if (kind == KIND_NONE) {
		snprintf(why, len,
			 "not enforced yet: the gateway serves HTTP, HTTPS (tls SIMPLE, MUTUAL, "
			 "OPTIONAL_MUTUAL, ISTIO_MUTUAL), TLS PASSTHROUGH and TCP servers so far "
			 "(this one is %s%s%s); nothing "
			 "listens for it",
			 p, mode ? ", tls mode " : "", mode ? mode : "");
		return true;
	}
	for (size_t j = 0; j < s; j++) {
		const struct config_gateway_server *o = &gw->servers[j];
		enum server_kind ok = server_kind(o);

		char tmp[8];

		/* A first server that is not served itself leaves the port to the next one. */
		if (o->port == srv->port && ok != KIND_NONE && ok != kind &&
		    !server_unserved(u, gw, j, ns, tmp, sizeof(tmp))) {
			snprintf(why, len,
				 "not served: port %u is %s (servers[%zu]); a port is one kind, as "
				 "its first server",
				 srv->port, kind_names[ok], j);
			return true;
		}
	}
	if (kind != KIND_HTTPS || !strcmp(mode, "ISTIO_MUTUAL"))
		return false;
	if (!srv->credential_name) {
		snprintf(why, len,
			 "not enforced yet: the gateway takes certificates from a Secret "
			 "(tls.credentialName) only, not from files (serverCertificate)");
		return true;
	}
	sec = config_secret_of(u, ns, srv->credential_name);
	if (!sec || !has_item(sec, CONFIG_SECRET_TLS_CRT, "cert")) {
		snprintf(
		    why, len,
		    "not served: tls.credentialName %.64s: no Secret %s/%.64s with tls.crt and "
		    "tls.key (or cert and key) in the gateway's namespace",
		    srv->credential_name, ns, srv->credential_name);
		return true;
	}
	if ((!strcmp(mode, "MUTUAL") || !strcmp(mode, "OPTIONAL_MUTUAL")) &&
	    !has_item(sec, CONFIG_SECRET_CA_CRT, "cacert")) {
		char name[320];

		snprintf(name, sizeof(name), "%s-cacert", srv->credential_name);
		sec = config_secret_of(u, ns, name);
		if (!has_item(sec, CONFIG_SECRET_CA_CRT, "cacert")) {
			snprintf(why, len,
				 "not served: %s needs a CA: ca.crt in Secret %s/%.64s or in "
				 "Secret %s/%.64s",
				 mode, ns, srv->credential_name, ns, name);
			return true;
		}
	}
	return false;
}

/* Whether VirtualService @vs names a Gateway of @u that a gateway proxy serves. */
static bool vs_gateway_served(const struct config *u, const struct config_virtual_service *vs)
{
	for (size_t i = 0; i < vs->gateways.n; i++) {
		const char *ref = vs->gateways.items[i], *slash = strchr(ref, '/');

		for (size_t g = 0; g < u->n_gateways; g++) {
			const struct config_meta *m = &u->gateways[g].meta;
			bool named = slash
					 ? (size_t)(slash - ref) == strlen(m->namespace) &&
					       !strncmp(ref, m->namespace, strlen(m->namespace)) &&
					       !strcmp(slash + 1, m->name)
					 : !strcmp(m->namespace, vs->meta.namespace) &&
					       !strcmp(m->name, ref);

			if (named && gateway_selects(u, &u->gateways[g]))
				return true;
		}
	}
	return false;
}

/* Host @h of an object of namespace @ns as an FQDN: a short name is a Service of @ns. */
static void host_fqdn(const char *h, const char *ns, char *out, size_t len)
{
	if (strchr(h, '.'))
		snprintf(out, len, "%s", h);
	else
		snprintf(out, len, "%s.%s.svc.cluster.local", h, ns);
}

/*
 * Whether a gateway proxy sends to host @fqdn, and so applies its DestinationRule (subsets,
 * traffic policy): a VirtualService bound to a Gateway a gateway proxy serves routes or
 * mirrors to it, or a route on a Gateway of class istio has it as a backend.
 */
static bool reached_via_gateway(struct cfg_an *a, const struct config *u, const char *fqdn)
{
	char h[600];

	CFG_FOR_SETS(a, c)
	{
		for (size_t i = 0; i < c->n_virtual_services; i++) {
			const struct config_virtual_service *vs = &c->virtual_services[i];

			if (!vs->gateways.n || !vs_gateway_served(u, vs))
				continue;
			for (size_t r = 0; r < vs->n_routes; r++) {
				const struct config_vs_route *rt = &vs->routes[r];

				for (size_t d = 0; d < rt->n_route; d++) {
					host_fqdn(rt->route[d].host ? rt->route[d].host : "",
						  vs->meta.namespace, h, sizeof(h));
					if (!strcmp(h, fqdn))
						return true;
				}
				if (rt->has_mirror && rt->mirror.host) {
					host_fqdn(rt->mirror.host, vs->meta.namespace, h,
						  sizeof(h));
					if (!strcmp(h, fqdn))
						return true;
				}
			}
		}
		for (size_t i = 0; i < c->n_http_routes + c->n_grpc_routes; i++) {
			const struct config_gw_route *r =
			    i < c->n_http_routes ? &c->http_routes[i]
						 : &c->grpc_routes[i - c->n_http_routes];
			bool on_gateway = false;

			for (size_t p = 0; p < r->n_parent_refs && !on_gateway; p++) {
				const struct config_parent_ref *pr = &r->parent_refs[p];
				const struct config_k8s_gateway *g =
				    strcmp(pr->group, CONFIG_GW_GROUP) ||
					    strcmp(pr->kind, "Gateway")
					? NULL
					: l7_gwapi_gateway(
					      u, pr->namespace ? pr->namespace : r->meta.namespace,
					      pr->name);

				on_gateway = g && g->class_name &&
					     !strcmp(g->class_name, CONFIG_GATEWAY_CLASS);
			}
			for (size_t k = 0; on_gateway && k < r->n_rules; k++)
				for (size_t b = 0; b < r->rules[k].n_backends; b++) {
					const struct config_backend_ref *be =
					    &r->rules[k].backends[b];

					if ((*be->group && strcmp(be->group, "core")) ||
					    strcmp(be->kind, "Service"))
						continue;
					snprintf(h, sizeof(h), "%s.%s.svc.cluster.local", be->name,
						 be->namespace ? be->namespace : r->meta.namespace);
					if (!strcmp(h, fqdn))
						return true;
				}
		}
	}
	return false;
}

/* A selector RequestAuthentication a gateway proxy enforces (its namespace's or the root's). */
static bool ra_at_gateway(const struct l7_bindings *b,
			  const struct config_request_authentication *ra)
{
	for (size_t i = 0; i < b->n_gateways; i++) {
		const struct l7_waypoint *g = &b->gateways[i];

		if ((!strcmp(ra->meta.namespace, g->namespace) ||
		     !strcmp(ra->meta.namespace, "istio-system")) &&
		    (!ra->has_selector || config_labels_match(&ra->selector, &g->labels)))
			return true;
	}
	return false;
}

#define NO_WAYPOINT                                                                                \
	"; bind one to its Service (ambitctl waypoint apply -n NS --enroll-namespace, or the "     \
	"istio.io/use-waypoint label): until then connections go straight to the Service's "       \
	"endpoints"

/*
 * L7 kinds only a waypoint enforces, and kinds no component enforces yet: applying one must not
 * look like it changed traffic. A VirtualService, DestinationRule, HTTPRoute or GRPCRoute is in
 * force when a waypoint serves its host (the Service it names is bound to one).
 */
/*
 * What the bindings read, from the analyzed objects and their context together (a route applied
 * alone is served by a waypoint the cluster already has): arrays of shallow copies, freed with
 * cfg_an_union_free (the objects stay the sets'). The kinds are kinds.def's union column.
 */
#define UNION_KIND_1(op, arr) op(arr)
#define UNION_KIND_0(op, arr)
#define UNION_ALLOC(k) CFG_AN_JOIN(a, u, k)
#define UNION_FREE(k) free(u->k);

int cfg_an_union(const struct cfg_an *a, struct config *u)
{
	memset(u, 0, sizeof(*u));
#define KIND(id, k, apis, nsd, rule, fields, finish, type, arr, free_fn, agent, un)                \
	UNION_KIND_##un(UNION_ALLOC, arr)
#include "config/kinds.def"
	return 0;
}

void cfg_an_union_free(struct config *u)
{
#define KIND(id, k, apis, nsd, rule, fields, finish, type, arr, free_fn, agent, un)                \
	UNION_KIND_##un(UNION_FREE, arr)
#include "config/kinds.def"
	memset(u, 0, sizeof(*u));
}

/* The condition of @list whose type is @type, or NULL. */
static const cJSON *an_condition(const cJSON *list, const char *type)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, list)
	{
		const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "type"));

		if (t && !strcmp(t, type))
			return c;
	}
	return NULL;
}

static bool an_true(const cJSON *c)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "status"));

	return v && !strcmp(v, "True");
}

static const char *an_message(const cJSON *c)
{
	const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "message"));

	return m ? m : "";
}

/*
 * A Gateway of class istio: each listener its gateway does not program, with the reason its
 * status gives (the status and the gateway's compiler share the attachment rules).
 */
static void gwapi_gateway_findings(struct cfg_an *a, const struct config *c,
				   const struct config_k8s_gateway *gw)
{
	cJSON *st = l7_gwapi_gateway_status(c, gw, NULL, NULL), *l;
	size_t i = 0;

	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(st, "listeners"))
	{
		const cJSON *conds = cJSON_GetObjectItemCaseSensitive(l, "conditions");
		const cJSON *acc = an_condition(conds, "Accepted");
		const cJSON *refs = an_condition(conds, "ResolvedRefs");
		const cJSON *conf = an_condition(conds, "Conflicted");
		const cJSON *bad = !an_true(acc)    ? acc
				   : !an_true(refs) ? refs
				   : an_true(conf)  ? conf
						    : NULL;

		if (bad && i < gw->n_listeners)
			cfg_an_add(a, &gw->meta, "Gateway", gw->listeners[i].line, false, NULL,
				   "spec.listeners[%zu] (%s): not served: %s", i,
				   gw->listeners[i].name, an_message(bad));
		i++;
	}
	cJSON_Delete(st);
}

/*
 * Route @r's parents that are Gateways of class istio: when one of them takes it, true; when
 * none does, each one's reason is reported and true; false when it names none.
 */
static bool gwapi_route_findings(struct cfg_an *a, const struct config *c,
				 const struct config_gw_route *r, bool grpc)
{
	const char *kind = r->l4 ? l7_gwapi_route_kind(r) : grpc ? "GRPCRoute" : "HTTPRoute";
	cJSON *st = l7_gwapi_route_status(c, r), *p, *next;
	cJSON *parents = cJSON_GetObjectItemCaseSensitive(st, "parents");
	bool any = false, taken = false;

	/* The Gateways' parents: a mesh parent's (a Service's) is the waypoint's case. */
	for (p = parents ? parents->child : NULL; p; p = next) {
		const cJSON *ref = cJSON_GetObjectItemCaseSensitive(p, "parentRef");

		next = p->next;
		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ref, "kind"))
			       ?: "",
			   "Gateway"))
			cJSON_Delete(cJSON_DetachItemViaPointer(parents, p));
	}
	cJSON_ArrayForEach(p, parents)
	{
		const cJSON *conds = cJSON_GetObjectItemCaseSensitive(p, "conditions");
		const cJSON *refs = an_condition(conds, "ResolvedRefs");

		any = true;
		taken |= an_true(an_condition(conds, "Accepted"));
		/* A backend not found is IST0101 already; a cross-namespace one is only here. */
		if (!an_true(refs) &&
		    !strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(refs, "reason"))
				?: "",
			    "RefNotPermitted"))
			cfg_an_add(a, &r->meta, kind, 0, false, NULL, "%s", an_message(refs));
	}
	cJSON_ArrayForEach(p, parents)
	{
		const cJSON *acc =
		    an_condition(cJSON_GetObjectItemCaseSensitive(p, "conditions"), "Accepted");
		const char *gw = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(p, "parentRef"), "name"));

		if (!taken)
			cfg_an_add(a, &r->meta, kind, 0, false, NULL,
				   "not attached to Gateway %s: %s", gw ? gw : "?",
				   an_message(acc));
	}
	cJSON_Delete(st);
	return any;
}

/* The rule of @ap's that says something about the client (a source, or a source.* condition). */
static bool ap_names_client(const struct config_authorization_policy *ap)
{
	for (size_t r = 0; r < ap->n_rules; r++) {
		if (ap->rules[r].n_from)
			return true;
		for (size_t w = 0; w < ap->rules[r].n_when; w++)
			if (ap->rules[r].when[w].key &&
			    !strncmp(ap->rules[r].when[w].key, "source.", 7))
				return true;
	}
	return false;
}

/* The waypoint traffic to pod @p goes through (its own binding, else a Service's), or NULL. */
static const struct l7_waypoint *pod_waypoint(const struct config *u, const struct l7_bindings *b,
					      const struct l7_pod *pods, size_t i)
{
	const struct l7_pod *p = &pods[i];

	if (b->workloads[i].waypoint >= 0)
		return &b->waypoints[b->workloads[i].waypoint];
	for (size_t s = 0; s < u->n_services && s < b->n_services; s++) {
		const struct config_service *svc = &u->services[s];

		if (b->services[s].waypoint >= 0 && svc->selector.n &&
		    !strcmp(svc->meta.namespace, p->namespace) &&
		    config_labels_match(&svc->selector, p->labels))
			return &b->waypoints[b->services[s].waypoint];
	}
	return NULL;
}

/*
 * A selector or namespace ALLOW/DENY that names clients, on a workload reached through a
 * waypoint: the waypoint ignores it (Istio ambient enforces only targetRefs policies there) and
 * the destination ztunnel sees the waypoint's identity and address, not the client's. An ALLOW
 * then blocks what comes through the waypoint (fails closed); a DENY on the client never matches
 * it, so the client gets through: say so, naming the first such workload.
 */
static void check_behind_waypoint(struct cfg_an *a, const struct config *u,
				  const struct l7_bindings *b, const struct l7_pod *pods,
				  size_t npods)
{
	const struct config *c = a->sets[0];

	for (size_t i = 0; i < c->n_authorization_policies; i++) {
		const struct config_authorization_policy *ap = &c->authorization_policies[i];
		bool root = !strcmp(ap->meta.namespace, a->root);

		if (ap->n_target_refs || config_selects_gateway(ap->has_selector, &ap->selector) ||
		    (ap->action != CONFIG_AUTHZ_ALLOW && ap->action != CONFIG_AUTHZ_DENY) ||
		    !ap_names_client(ap))
			continue;
		for (size_t p = 0; p < npods; p++) {
			const struct l7_waypoint *wp;

			if ((!root && strcmp(pods[p].namespace, ap->meta.namespace)) ||
			    (ap->has_selector &&
			     !config_labels_match(&ap->selector, pods[p].labels)))
				continue;
			if (!(wp = pod_waypoint(u, b, pods, p)))
				continue;
			cfg_an_add(
			    a, &ap->meta, "AuthorizationPolicy", 0, false, NULL,
			    "applies to %s/%s, reached through waypoint %s/%s: the waypoint "
			    "enforces only targetRefs policies and the ztunnel sees the "
			    "waypoint's identity and address, not the client's, so %s; attach "
			    "the policy to the Service with targetRefs",
			    pods[p].namespace, pods[p].name, wp->namespace, wp->name,
			    ap->action == CONFIG_AUTHZ_ALLOW
				? "this ALLOW blocks the clients it names when they come "
				  "through the waypoint (fails closed)"
				: "this DENY never matches the clients it names when they "
				  "come through the waypoint: they get through");
			break;
		}
	}
}

/*
 * What ambit does not do yet of a ServiceEntry (the rest, its addresses of both families
 * included, is in force: ztunnel/route.c, the DNS proxy, the waypoint it is bound to):
 * DYNAMIC_DNS without a waypoint.
 */
/* Whether @se or its namespace names a waypoint (istio.io/use-waypoint other than "none"). */
static bool se_use_waypoint(struct cfg_an *a, const struct config_service_entry *se)
{
	const char *v = config_label_get(&se->meta.labels, CONFIG_LABEL_USE_WAYPOINT);

	CFG_FOR_SETS(a, c)
	{
		const struct config_namespace *ns = config_find_namespace(c, se->meta.namespace);

		if (!v && ns)
			v = config_label_get(&ns->meta.labels, CONFIG_LABEL_USE_WAYPOINT);
	}
	return v && strcmp(v, "none");
}

static void se_findings(struct cfg_an *a, const struct config_service_entry *se)
{
	/* DYNAMIC_DNS is a waypoint's (it resolves each request's Host): without one, nothing. */
	if (se->resolution == CONFIG_SE_RESOLUTION_DYNAMIC_DNS && !se_use_waypoint(a, se))
		cfg_an_add(a, &se->meta, "ServiceEntry", 0, false, NULL,
			   "spec.resolution: DYNAMIC_DNS needs a waypoint (label the entry or its "
			   "namespace istio.io/use-waypoint): without one its hosts are "
			   "unreachable");
}

static void check_unenforced(struct cfg_an *a)
{
	const struct config *c = a->sets[0];
	struct l7_inputs in = {0};
	struct l7_bindings b = {0};
	struct l7_pod *pods = NULL;
	struct config u;
	size_t npods = 0;
	bool have_b;

	have_b = cfg_an_union(a, &u) == 0 && l7_pods_from_config(&u, &pods, &npods) == 0;
	in.cfg = &u;
	in.pods = pods;
	in.n_pods = npods;
	have_b = have_b && l7_bindings_compute(&in, &b) == 0;
	for (size_t i = 0; i < c->n_virtual_services; i++) {
		const struct config_virtual_service *vs = &c->virtual_services[i];
		bool mesh = !vs->gateways.n || config_strings_has(&vs->gateways, "mesh");
		bool served = false;

		/* Bound to gateways only: a gateway proxy serving one of them enforces it. */
		if (!mesh) {
			if (!vs_gateway_served(&u, vs))
				cfg_an_add(a, &vs->meta, "VirtualService", 0, false,
					   "spec.gateways",
					   "not enforced: no gateway proxy serves the Gateways it "
					   "names (none exists, or its selector matches no pod)");
			continue;
		}
		for (size_t h = 0; have_b && h < vs->hosts.n && !served; h++)
			served = host_served(&b, vs->hosts.items[h], vs->meta.namespace);
		if (!served)
			cfg_an_add(a, &vs->meta, "VirtualService", 0, false, NULL,
				   "not enforced yet: no waypoint serves its hosts" NO_WAYPOINT);
	}
	for (size_t i = 0; i < c->n_destination_rules; i++) {
		const struct config_destination_rule *dr = &c->destination_rules[i];
		char fqdn[600];

		/* A gateway proxy applies it to what it sends there. */
		if (dr->host) {
			host_fqdn(dr->host, dr->meta.namespace, fqdn, sizeof(fqdn));
			if (reached_via_gateway(a, &u, fqdn))
				continue;
		}
		if (!have_b || !dr->host || !host_served(&b, dr->host, dr->meta.namespace))
			cfg_an_add(a, &dr->meta, "DestinationRule", 0, false, NULL,
				   "not enforced yet: no waypoint serves the host its subsets and "
				   "traffic policies are for" NO_WAYPOINT);
	}
	/* Istio-valid, never evaluable here: say how it fails closed. */
	for (size_t i = 0; i < c->n_authorization_policies; i++) {
		const struct config_authorization_policy *ap = &c->authorization_policies[i];

		for (size_t r = 0; r < ap->n_target_refs; r++) {
			const struct config_target_ref *t = &ap->target_refs[r];

			if (t->kind && !strcmp(t->kind, "Service") && t->name &&
			    (!have_b || !host_served(&b, t->name, ap->meta.namespace)))
				cfg_an_add(
				    a, &ap->meta, "AuthorizationPolicy", 0, false,
				    "spec.targetRefs",
				    "no waypoint serves Service %s/%s, so the ztunnel enforces "
				    "this policy on the Service's pods and fails closed there "
				    "(rules with L7 attributes deny as with a "
				    "selector)" NO_WAYPOINT,
				    ap->meta.namespace, t->name);
		}

		for (size_t r = 0; r < ap->n_rules; r++)
			for (size_t w = 0; w < ap->rules[r].n_when; w++) {
				const struct config_authz_condition *k = &ap->rules[r].when[w];

				if (!k->key || strncmp(k->key, "experimental.envoy.filters.", 27))
					continue;
				cfg_an_add(
				    a, &ap->meta, "AuthorizationPolicy", k->line, false, NULL,
				    "spec.rules[%zu].when[%zu]: %s reads Envoy filter metadata, "
				    "which no ambit proxy produces: it is never evaluated, so the "
				    "rule fails closed (%s)",
				    r, w, k->key,
				    ap->action == CONFIG_AUTHZ_DENY ||
					    ap->action == CONFIG_AUTHZ_CUSTOM
					? "a DENY or CUSTOM rule applies as if it matched"
					: "an ALLOW rule never matches");
			}
	}
	for (size_t i = 0; i < c->n_request_authentications; i++) {
		const struct config_request_authentication *ra = &c->request_authentications[i];

		if (!ra->n_target_refs && ((have_b && ra_at_gateway(&b, ra)) ||
					   config_selects_gateway(ra->has_selector, &ra->selector)))
			continue;
		if (!ra->n_target_refs) {
			cfg_an_add(a, &ra->meta, "RequestAuthentication", 0, false, NULL,
				   "not enforced: in ambient a RequestAuthentication reaches a "
				   "waypoint only by targetRefs (a Service bound to one, its "
				   "Gateway, or GatewayClass istio-waypoint); nothing checks the "
				   "tokens this one selects (Istio ambient ignores it too)");
			continue;
		}
		for (size_t r = 0; r < ra->n_target_refs; r++) {
			const struct config_target_ref *t = &ra->target_refs[r];

			if (t->kind && !strcmp(t->kind, "Service") && t->name &&
			    (!have_b || !host_served(&b, t->name, ra->meta.namespace)))
				cfg_an_add(a, &ra->meta, "RequestAuthentication", 0, false,
					   "spec.targetRefs",
					   "not enforced yet: no waypoint serves Service %s/%s, so "
					   "nothing checks its tokens" NO_WAYPOINT,
					   ra->meta.namespace, t->name);
		}
	}
	for (size_t i = 0; i < c->n_gateways; i++) {
		const struct config_gateway *gw = &c->gateways[i];

		if (!gateway_selects(&u, gw)) {
			cfg_an_add(a, &gw->meta, "Gateway", 0, false, "spec.selector",
				   "not enforced: its selector matches no pod, so no gateway proxy "
				   "serves it (the local cluster's is istio: ingressgateway)");
			continue;
		}
		for (size_t s = 0; s < gw->n_servers; s++) {
			char why[512];

			if (server_unserved(&u, gw, s, gateway_namespace(&u, gw), why, sizeof(why)))
				cfg_an_add(a, &gw->meta, "Gateway", gw->servers[s].line, false,
					   NULL, "spec.servers[%zu]: %s", s, why);
		}
	}
	for (size_t i = 0; i < c->n_service_entries; i++)
		se_findings(a, &c->service_entries[i]);
	for (size_t i = 0; i < c->n_k8s_gateways; i++) {
		const char *cls = c->k8s_gateways[i].class_name;

		if (cls && !strcmp(cls, CONFIG_GATEWAY_CLASS))
			gwapi_gateway_findings(a, c, &c->k8s_gateways[i]);
		else if (!cls ||
			 (strcmp(cls, CONFIG_WAYPOINT_CLASS) && strcmp(cls, CONFIG_EASTWEST_CLASS)))
			cfg_an_add(a, &c->k8s_gateways[i].meta, "Gateway", 0, false, NULL,
				   "not enforced: gatewayClassName %s is not one ambit serves "
				   "(istio: an ingress gateway; istio-waypoint: a waypoint; "
				   "istio-east-west: an east-west gateway)",
				   cls ? cls : "(none)");
	}
	for (size_t i = 0; i < c->n_http_routes + c->n_grpc_routes; i++) {
		bool grpc = i >= c->n_http_routes;
		const struct config_gw_route *r =
		    grpc ? &c->grpc_routes[i - c->n_http_routes] : &c->http_routes[i];
		bool served = false;

		for (size_t p = 0; have_b && p < r->n_parent_refs && !served; p++) {
			const struct config_parent_ref *pr = &r->parent_refs[p];

			served = pr->kind && !strcmp(pr->kind, "Service") && pr->name &&
				 host_served(&b, pr->name,
					     pr->namespace ? pr->namespace : r->meta.namespace);
		}
		/* Parents that are Gateways of class istio: their gateway serves it, or why not. */
		if (!served && gwapi_route_findings(a, c, r, grpc))
			continue;
		if (!served)
			cfg_an_add(a, &r->meta, grpc ? "GRPCRoute" : "HTTPRoute", 0, false, NULL,
				   "not enforced yet: no waypoint serves the Service it is "
				   "attached to" NO_WAYPOINT);
	}
	/* TLSRoute and TCPRoute: gateways of class istio serve them, waypoints do not. */
	for (size_t i = 0; i < c->n_tls_routes + c->n_tcp_routes; i++) {
		bool tls = i < c->n_tls_routes;
		const struct config_gw_route *r =
		    tls ? &c->tls_routes[i] : &c->tcp_routes[i - c->n_tls_routes];

		if (!gwapi_route_findings(a, c, r, false))
			cfg_an_add(a, &r->meta, tls ? "TLSRoute" : "TCPRoute", 0, false, NULL,
				   "not enforced: only a Gateway of class istio serves %s (its "
				   "listener of protocol %s), and this one names none",
				   tls ? "TLSRoutes" : "TCPRoutes", tls ? "TLS" : "TCP");
	}
	if (have_b) {
		check_behind_waypoint(a, &u, &b, pods, npods);
		l7_bindings_free(&b);
	}
	free(pods);
	cfg_an_union_free(&u);
}

static void analyze_ambient_only(struct cfg_an *a)
{
	const struct config *c = a->sets[0];

	for (size_t i = 0; i < c->n_namespaces; i++)
		check_namespace_injection(a, &c->namespaces[i]);
	for (size_t i = 0; i < c->n_pods; i++)
		check_pod_injection(a, &c->pods[i].meta, "Pod", &c->pods[i].meta.labels,
				    &c->pods[i].meta.annotations, "");
	for (size_t i = 0; i < c->n_deployments; i++)
		check_pod_injection(a, &c->deployments[i].meta, "Deployment",
				    &c->deployments[i].template_labels,
				    &c->deployments[i].template_annotations, "spec.template.");
	check_unenforced(a);
}

int config_analyze(const struct config *cfg, const struct config_analyze_opts *opts,
		   struct config_diags *diags)
{
	struct cfg_an a = {
	    .sets = {cfg, opts ? opts->context : NULL},
	    .root = opts && opts->root_namespace ? opts->root_namespace : DEFAULT_ROOT_NS,
	    .diags = diags,
	};

	for (size_t i = 0; i < cfg->n_virtual_services; i++)
		analyze_vs(&a, &cfg->virtual_services[i]);
	analyze_vs_conflicts(&a);
	for (size_t i = 0; i < cfg->n_destination_rules; i++)
		analyze_dr(&a, &cfg->destination_rules[i]);
	for (size_t i = 0; i < cfg->n_authorization_policies; i++)
		analyze_ap(&a, &cfg->authorization_policies[i]);
	analyze_pa(&a);
	cfg_analyze_telemetry(&a);
	if (cfg_analyze_l7(cfg, a.sets[1], diags))
		a.err = -ENOMEM;
	analyze_ambient_only(&a);
	return a.err;
}
