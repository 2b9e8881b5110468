// SPDX-License-Identifier: Apache-2.0
/*
 * The L7 compiler, ingress gateway part, for the servers whose connections are relayed as bytes
 * (API_SEMANTICS.md §6), as istiod builds their filter chains (pilot/pkg/networking/core/
 * gateway.go, buildGatewayNetworkFiltersFromTLSRoutes / ...FromTCPRoutes):
 * - a TLS PASSTHROUGH server (protocol TLS or HTTPS, tls.mode PASSTHROUGH) takes the `tls:`
 *   rules of the VirtualServices bound to its Gateway whose hosts meet the server's: each match
 *   block naming no other gateway and no other port, for each of its `sniHosts` that meets a
 *   server host (the narrower of the two), is one SNI route of the listener. Envoy picks the
 *   filter chain of the most specific server name, so the listener's SNI routes are tried exact
 *   names first, then wildcards longest first, then `*`; among equals, oldest VirtualService
 *   first, then rule order. A ClientHello naming none of them has no filter chain: closed.
 * - a TCP server (protocol TCP, MONGO, MYSQL, REDIS) takes their `tcp:` rules the same way
 *   without SNI: the first whose port holds.
 * Routes go onto the gateway's own service's tcp routes (l7_tcp_route), their port the
 * listener's; destinations as a waypoint's tcp routes weigh them (one destination: all of it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compile_priv.h"

bool l7_gateway_passthrough(const struct config_gateway_server *s)
{
	return s->protocol && s->tls_mode && !strcmp(s->tls_mode, "PASSTHROUGH") &&
	       (!strcasecmp(s->protocol, "TLS") || !strcasecmp(s->protocol, "HTTPS"));
}

bool l7_gateway_tcp_server(const struct config_gateway_server *s)
{
	enum l7_protocol p;

	if (!s->protocol || s->tls_mode)
		return false;
	p = l7_port_protocol(s->protocol, NULL);
	return p == L7_PROTO_TCP || p == L7_PROTO_MONGO || p == L7_PROTO_MYSQL ||
	       p == L7_PROTO_REDIS;
}

/* The narrower of two hosts when one covers the other, else NULL. Borrowed from the args. */
static const char *narrower(const char *a, const char *b)
{
	if (l7_host_covers(b, a))
		return a;
	return l7_host_covers(a, b) ? b : NULL;
}

/* Whether one of @vs's hosts meets one of server @srv's hosts that admits @vs's namespace. */
static bool vs_meets_server(const struct config_virtual_service *vs,
			    const struct config_gateway *gw,
			    const struct config_gateway_server *srv)
{
	for (size_t h = 0; h < vs->hosts.n; h++) {
		char vh[512];

		l7_fqdn(vs->hosts.items[h], vs->meta.namespace, vh, sizeof(vh));
		for (size_t i = 0; i < srv->hosts.n; i++) {
			const char *sh = l7_gateway_server_host(
			    srv->hosts.items[i], vs->meta.namespace, gw->meta.namespace);

			if (sh && narrower(vh, sh))
				return true;
		}
	}
	return false;
}

static int vs_ptr_cmp(const void *a, const void *b)
{
	const struct config_virtual_service *const *x = a, *const *y = b;

	return l7_meta_cmp(&(*x)->meta, &(*y)->meta);
}

/* One route on @own for match block @m (or NULL) of rule @vr, SNI host @sni or none. */
static int add_route(struct l7_ctx *ctx, const struct config_virtual_service *vs,
		     const struct config_vs_route *vr, size_t rule, const char *sni,
		     uint16_t listener)
{
	struct l7_service *own = ctx->svc;
	struct l7_tcp_route *t = realloc(own->tcp, (own->n_tcp + 1) * sizeof(*t));

	if (!t)
		return -ENOMEM;
	own->tcp = t;
	t = &own->tcp[own->n_tcp++];
	memset(t, 0, sizeof(*t));
	t->port = listener;
	if (asprintf(&t->source, "VirtualService %s/%s %s[%zu]", vs->meta.namespace, vs->meta.name,
		     sni ? "tls" : "tcp", rule) < 0) {
		t->source = NULL;
		return -ENOMEM;
	}
	if (sni) {
		t->sni_hosts.items = calloc(1, sizeof(char *));
		if (!t->sni_hosts.items || !(t->sni_hosts.items[0] = strdup(sni)))
			return -ENOMEM;
		t->sni_hosts.n = 1;
	}
	t->dests = calloc(vr->n_route + 1, sizeof(*t->dests));
	if (!t->dests)
		return -ENOMEM;
	for (size_t k = 0; k < vr->n_route; k++) {
		uint32_t w = vr->n_route == 1 ? 100 : (uint32_t)vr->route[k].weight;

		if (w &&
		    l7_vs_dest(ctx, &vr->route[k], vs->meta.namespace, w, &t->dests[t->n_dests++]))
			return -ENOMEM;
	}
	return 0;
}

/* A match block that is not this server's: another gateway's, another port's, a client's. */
static bool other_server(const struct config_route_match *m,
			 const struct config_virtual_service *vs, const struct config_gateway *gw,
			 const struct config_gateway_server *srv)
{
	return m && (m->source_labels.n ||
		     (m->gateways.n && !l7_gateway_binds(&m->gateways, vs->meta.namespace, gw)) ||
		     (m->port && m->port != srv->port));
}

/* Rule @vr's match blocks as SNI routes: each sniHost within one of the server's hosts. */
static int tls_rule(struct l7_ctx *ctx, const struct config_virtual_service *vs,
		    const struct config_vs_route *vr, size_t rule, const struct config_gateway *gw,
		    const struct config_gateway_server *srv, uint16_t listener)
{
	int err = 0;

	for (size_t j = 0; j < vr->n_match && !err; j++) {
		const struct config_route_match *m = &vr->match[j];

		if (other_server(m, vs, gw, srv))
			continue;
		for (size_t k = 0; k < m->sni_hosts.n && !err; k++) {
			for (size_t i = 0; i < srv->hosts.n && !err; i++) {
				const char *sh = l7_gateway_server_host(
				    srv->hosts.items[i], vs->meta.namespace, gw->meta.namespace);
				const char *sni = sh ? narrower(m->sni_hosts.items[k], sh) : NULL;

				if (sni)
					err = add_route(ctx, vs, vr, rule, sni, listener);
			}
		}
	}
	return err;
}

static int tcp_rule(struct l7_ctx *ctx, const struct config_virtual_service *vs,
		    const struct config_vs_route *vr, size_t rule, const struct config_gateway *gw,
		    const struct config_gateway_server *srv, uint16_t listener)
{
	size_t nm = vr->n_match ? vr->n_match : 1;

	for (size_t j = 0; j < nm; j++) {
		const struct config_route_match *m = vr->n_match ? &vr->match[j] : NULL;

		if (other_server(m, vs, gw, srv))
			continue;
		/* Any block that holds takes the connection to the rule's destinations. */
		return add_route(ctx, vs, vr, rule, NULL, listener);
	}
	return 0;
}

int l7_gateway_l4_routes(const struct l7_inputs *in, const struct l7_waypoint *wp,
			 struct l7_service *own, const struct config_gateway *gw,
			 const struct config_gateway_server *srv, uint16_t listener)
{
	const struct config *cfg = in->cfg;
	const struct config_virtual_service **vss;
	bool tls = l7_gateway_passthrough(srv);
	enum config_route_type type = tls ? CONFIG_ROUTE_TLS : CONFIG_ROUTE_TCP;
	struct l7_ctx ctx = {.in = in, .wp = wp, .svc = own};
	size_t n = 0;
	int err = 0;

	vss = calloc(cfg->n_virtual_services + 1, sizeof(*vss));
	if (!vss)
		return -ENOMEM;
	for (size_t v = 0; v < cfg->n_virtual_services; v++) {
		const struct config_virtual_service *vs = &cfg->virtual_services[v];

		if (l7_gateway_binds(&vs->gateways, vs->meta.namespace, gw) &&
		    vs_meets_server(vs, gw, srv))
			vss[n++] = vs;
	}
	qsort(vss, n, sizeof(*vss), vs_ptr_cmp);
	for (size_t v = 0; v < n && !err; v++) {
		size_t rule = 0;

		for (size_t i = 0; i < vss[v]->n_routes && !err; i++) {
			const struct config_vs_route *vr = &vss[v]->routes[i];

			if (vr->type != type)
				continue;
			err = tls ? tls_rule(&ctx, vss[v], vr, rule, gw, srv, listener)
				  : tcp_rule(&ctx, vss[v], vr, rule, gw, srv, listener);
			rule++;
		}
	}
	free(vss);
	return err;
}

/* One tcp route on @own for Gateway API route @r (its first rule), SNI @sni or none. */
static int gwapi_route(struct l7_ctx *ctx, const struct config_gw_route *r, const char *sni,
		       uint16_t listener)
{
	const struct config_gw_route_rule *rule = r->n_rules ? &r->rules[0] : NULL;
	struct l7_service *own = ctx->svc;
	struct l7_tcp_route *t = realloc(own->tcp, (own->n_tcp + 1) * sizeof(*t));

	if (!t)
		return -ENOMEM;
	own->tcp = t;
	t = &own->tcp[own->n_tcp++];
	memset(t, 0, sizeof(*t));
	t->port = listener;
	if (asprintf(&t->source, "%s %s/%s rules[0]", l7_gwapi_route_kind(r), r->meta.namespace,
		     r->meta.name) < 0) {
		t->source = NULL;
		return -ENOMEM;
	}
	if (sni) {
		t->sni_hosts.items = calloc(1, sizeof(char *));
		if (!t->sni_hosts.items || !(t->sni_hosts.items[0] = strdup(sni)))
			return -ENOMEM;
		t->sni_hosts.n = 1;
	}
	t->dests = calloc((rule ? rule->n_backends : 0) + 1, sizeof(*t->dests));
	if (!t->dests)
		return -ENOMEM;
	for (size_t k = 0; rule && k < rule->n_backends; k++) {
		const struct config_backend_ref *b = &rule->backends[k];

		/* Another namespace's Service needs a ReferenceGrant. */
		if (!b->weight ||
		    l7_backend_ref_check(ctx->in->cfg, r, b, true) == L7_BACKEND_NOT_PERMITTED)
			continue;
		if (l7_gwapi_backend_dest(ctx, r, b, &t->dests[t->n_dests++]))
			return -ENOMEM;
	}
	return 0;
}

static int route_ptr_cmp(const void *a, const void *b)
{
	const struct config_gw_route *const *x = a, *const *y = b;

	return l7_meta_cmp(&(*x)->meta, &(*y)->meta);
}

int l7_gwapi_l4_routes(const struct l7_inputs *in, const struct l7_waypoint *wp,
		       struct l7_service *own, const struct config_k8s_gateway *gw,
		       const struct config_gw_listener *l)
{
	const struct config *cfg = in->cfg;
	bool tls = l7_gwapi_listener_kind(l) == L7_GWL_TLS;
	const struct config_gw_route *routes = tls ? cfg->tls_routes : cfg->tcp_routes;
	size_t nr = tls ? cfg->n_tls_routes : cfg->n_tcp_routes, n = 0;
	const struct config_gw_route **att = calloc(nr + 1, sizeof(*att));
	struct l7_ctx ctx = {.in = in, .wp = wp, .svc = own};
	int err = 0;

	if (!att)
		return -ENOMEM;
	for (size_t i = 0; i < nr; i++)
		if (l7_gwapi_attached(cfg, &routes[i], gw, l) == L7_GWA_ATTACHED)
			att[n++] = &routes[i];
	qsort(att, n, sizeof(*att), route_ptr_cmp);
	for (size_t i = 0; i < n && !err; i++) {
		char hosts[16][256];
		size_t nh = tls ? l7_gwapi_hostnames(l, att[i], hosts, 16) : 0;

		if (!tls)
			err = gwapi_route(&ctx, att[i], NULL, l->port);
		for (size_t h = 0; h < nh && !err; h++)
			err = gwapi_route(&ctx, att[i], hosts[h], l->port);
	}
	free(att);
	return err;
}

/* 0: exact, 1: a wildcard (longer first), 2: "*"; routes without SNI keep their place. */
static int sni_rank(const struct l7_tcp_route *t, size_t *len)
{
	const char *h = t->sni_hosts.n ? t->sni_hosts.items[0] : NULL;

	*len = h ? strlen(h) : 0;
	if (!h)
		return 0;
	if (!strcmp(h, "*"))
		return 2;
	return h[0] == '*' ? 1 : 0;
}

static int tcp_cmp(const struct l7_tcp_route *x, const struct l7_tcp_route *y)
{
	size_t lx, ly;
	int rx = sni_rank(x, &lx), ry = sni_rank(y, &ly);

	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	if (rx != ry)
		return rx < ry ? -1 : 1;
	if (rx == 1 && lx != ly)
		return lx > ly ? -1 : 1;
	return 0;
}

void l7_gateway_l4_sort(struct l7_service *own)
{
	/* Stable (insertion): equals keep VirtualService age and rule order. */
	for (size_t i = 1; i < own->n_tcp; i++) {
		struct l7_tcp_route t = own->tcp[i];
		size_t j = i;

		for (; j > 0 && tcp_cmp(&own->tcp[j - 1], &t) > 0; j--)
			own->tcp[j] = own->tcp[j - 1];
		own->tcp[j] = t;
	}
}
