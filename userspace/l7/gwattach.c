// SPDX-License-Identifier: Apache-2.0
/*
 * Gateway API Gateways of class istio (API_SEMANTICS.md §7): which routes attach to which
 * listener, and on which hostnames, and which backendRefs can be used, as the spec and Istio's
 * gateway controller decide it. Used by the compilers (gateway.c, gwapi.c), the status
 * users read (gwstatus.c) and analyze, so they always agree.
 */
#include <stdio.h>
#include <string.h>

#include "compile_priv.h"

const struct config_k8s_gateway *l7_gwapi_gateway(const struct config *cfg, const char *ns,
						  const char *name)
{
	for (size_t i = 0; i < cfg->n_k8s_gateways; i++) {
		const struct config_k8s_gateway *g = &cfg->k8s_gateways[i];

		if (!strcmp(g->meta.namespace, ns) && !strcmp(g->meta.name, name))
			return g;
	}
	return NULL;
}

bool l7_gwapi_istio_class(const struct config_k8s_gateway *gw)
{
	return gw && gw->class_name && !strcmp(gw->class_name, CONFIG_GATEWAY_CLASS);
}

enum l7_gwapi_listener_kind l7_gwapi_listener_kind(const struct config_gw_listener *l)
{
	const char *p = l->protocol ? l->protocol : "";

	if (!strcmp(p, "HTTP"))
		return L7_GWL_HTTP;
	if (!strcmp(p, "HTTPS") && (!l->tls_mode || !strcmp(l->tls_mode, "Terminate")))
		return L7_GWL_HTTPS;
	if (!strcmp(p, "TLS") && l->tls_mode && !strcmp(l->tls_mode, "Passthrough"))
		return L7_GWL_TLS;
	if (!strcmp(p, "TCP"))
		return L7_GWL_TCP;
	return L7_GWL_UNSUPPORTED;
}

const char *l7_gwapi_route_kind(const struct config_gw_route *r)
{
	if (r->l4 == CONFIG_GW_TLS)
		return "TLSRoute";
	if (r->l4 == CONFIG_GW_TCP)
		return "TCPRoute";
	return r->grpc ? "GRPCRoute" : "HTTPRoute";
}

/* The kinds a listener's protocol takes; allowedRoutes.kinds may narrow them. */
static bool protocol_takes(enum l7_gwapi_listener_kind k, const char *kind)
{
	switch (k) {
	case L7_GWL_HTTP:
	case L7_GWL_HTTPS: return !strcmp(kind, "HTTPRoute") || !strcmp(kind, "GRPCRoute");
	case L7_GWL_TLS: return !strcmp(kind, "TLSRoute");
	case L7_GWL_TCP: return !strcmp(kind, "TCPRoute");
	default: return false;
	}
}

bool l7_gwapi_kind_allowed(const struct config_gw_listener *l, const char *kind)
{
	return protocol_takes(l7_gwapi_listener_kind(l), kind) &&
	       (!l->allowed_kinds.n || config_strings_has(&l->allowed_kinds, kind));
}

bool l7_gwapi_namespace_allowed(const struct config *cfg, const struct config_k8s_gateway *gw,
				const struct config_gw_listener *l, const char *ns)
{
	const struct config_namespace *n;

	switch (l->allowed_from) {
	case CONFIG_GW_FROM_ALL: return true;
	case CONFIG_GW_FROM_SELECTOR:
		n = config_find_namespace(cfg, ns);
		return n && config_labels_match(&l->allowed_selector, &n->meta.labels);
	default: return !strcmp(ns, gw->meta.namespace);
	}
}

bool l7_gwapi_ref_names(const struct config_gw_route *r, const struct config_parent_ref *p,
			const struct config_k8s_gateway *gw, const struct config_gw_listener *l)
{
	const char *ns = p->namespace ? p->namespace : r->meta.namespace;

	if (strcmp(p->group, CONFIG_GW_GROUP) || strcmp(p->kind, "Gateway") ||
	    strcmp(p->name, gw->meta.name) || strcmp(ns, gw->meta.namespace))
		return false;
	return !l || ((!p->section_name || !strcmp(p->section_name, l->name)) &&
		      (!p->port || p->port == l->port));
}

/*
 * The hostnames where listener @l and route @r meet (the spec's intersection): the route's
 * that the listener's covers, the listener's where a route wildcard covers it; every route
 * hostname (or "*") when the listener has none; the listener's when the route has none.
 */
size_t l7_gwapi_hostnames(const struct config_gw_listener *l, const struct config_gw_route *r,
			  char (*out)[256], size_t max)
{
	size_t n = 0;

	if (!r->hostnames.n) {
		snprintf(out[n++], 256, "%s", l->hostname ? l->hostname : "*");
		return n;
	}
	for (size_t i = 0; i < r->hostnames.n && n < max; i++) {
		const char *h = r->hostnames.items[i];

		if (!l->hostname || l7_host_covers(l->hostname, h))
			snprintf(out[n++], 256, "%s", h);
		else if (l7_host_covers(h, l->hostname))
			snprintf(out[n++], 256, "%s", l->hostname);
	}
	return n;
}

int l7_gwapi_attached(const struct config *cfg, const struct config_gw_route *r,
		      const struct config_k8s_gateway *gw, const struct config_gw_listener *l)
{
	const char *kind = l7_gwapi_route_kind(r);
	char hosts[1][256];
	bool named = false;

	for (size_t i = 0; i < r->n_parent_refs && !named; i++)
		named = l7_gwapi_ref_names(r, &r->parent_refs[i], gw, l);
	if (!named)
		return L7_GWA_NOT_NAMED;
	if (l7_gwapi_listener_kind(l) == L7_GWL_UNSUPPORTED || !l7_gwapi_kind_allowed(l, kind) ||
	    !l7_gwapi_namespace_allowed(cfg, gw, l, r->meta.namespace))
		return L7_GWA_NOT_ALLOWED;
	if (!l7_gwapi_hostnames(l, r, hosts, 1))
		return L7_GWA_NO_HOSTNAME;
	return L7_GWA_ATTACHED;
}

/* Backend @b of route @r: in the route's namespace, or another's ReferenceGrant allows it. */
static bool backend_granted(const struct config *cfg, const struct config_gw_route *r,
			    const struct config_backend_ref *b)
{
	const char *group = b->group && strcmp(b->group, "core") ? b->group : "";

	return !b->namespace || config_reference_granted(
				    cfg, CONFIG_GW_GROUP, l7_gwapi_route_kind(r), r->meta.namespace,
				    group, b->kind ? b->kind : "Service", b->namespace, b->name);
}

/* A core Service; the group as the API server may hold it ("" or "core"). */
static bool backend_is_service(const struct config_backend_ref *b)
{
	return (!*b->group || !strcmp(b->group, "core")) && !strcmp(b->kind, "Service");
}

enum l7_backend_ref l7_backend_ref_check(const struct config *cfg, const struct config_gw_route *r,
					 const struct config_backend_ref *b, bool gateway)
{
	const char *ns = b->namespace ? b->namespace : r->meta.namespace;
	bool hostname = !strcmp(b->group, "networking.istio.io") && !strcmp(b->kind, "Hostname");
	char h[512];

	if (!backend_is_service(b) && !hostname)
		return L7_BACKEND_INVALID_KIND;
	if (gateway && !backend_granted(cfg, r, b))
		return L7_BACKEND_NOT_PERMITTED;
	if (hostname)
		snprintf(h, sizeof(h), "%s", b->name);
	else
		snprintf(h, sizeof(h), "%s.%s.svc.cluster.local", b->name, ns);
	return l7_host_known(cfg, h) ? L7_BACKEND_OK : L7_BACKEND_NOT_FOUND;
}

const char *l7_backend_ref_reason(enum l7_backend_ref v)
{
	static const char *const reasons[] = {
	    [L7_BACKEND_OK] = "ResolvedRefs",
	    [L7_BACKEND_INVALID_KIND] = "InvalidKind",
	    [L7_BACKEND_NOT_PERMITTED] = "RefNotPermitted",
	    [L7_BACKEND_NOT_FOUND] = "BackendNotFound",
	};

	return reasons[v];
}

bool l7_gwapi_cert_granted(const struct config *cfg, const struct config_k8s_gateway *gw,
			   const struct config_gw_cert_ref *ref)
{
	return !ref->namespace ||
	       config_reference_granted(cfg, CONFIG_GW_GROUP, "Gateway", gw->meta.namespace,
					ref->group ? ref->group : "", ref->kind, ref->namespace,
					ref->name);
}
