// SPDX-License-Identifier: Apache-2.0
/*
 * The L7 compiler, ingress gateway part (API_SEMANTICS.md §6): what a gateway proxy serves,
 * as istiod builds a gateway's listeners and routes (pilot/pkg/networking/core/gateway.go):
 * - its Gateways' HTTP servers, each listening on the gateway Service's targetPort when the
 *   server's port is one of that Service's ports (istio-ingressgateway's 80 is 8080), else on
 *   the server's own port; servers of several Gateways on one port share the listener;
 * - their HTTPS servers with tls SIMPLE, MUTUAL or OPTIONAL_MUTUAL, terminated with the
 *   certificate of the Secret `credentialName` in the gateway's namespace (and for the mutual
 *   modes its CA), or ISTIO_MUTUAL with the proxy's own mesh certificate (filled in where it
 *   runs), the server's hosts as SNI names; then routed as HTTP;
 * - their TLS PASSTHROUGH and TCP servers, relayed as bytes along tls and tcp routes
 *   (gateway_tcp.c). A port is one kind (HTTP, HTTPS, TLS, TCP), as its first server;
 * - the VirtualServices bound to those Gateways (`gateways:` names them as `name` in the
 *   VirtualService's namespace or `ns/name`), their hosts intersected with the server's (a
 *   server host `ns/host` admits VirtualServices of that namespace only, `./host` of the
 *   Gateway's, `*` or none of any); each intersection is a virtual host;
 * - virtual hosts tried most specific first (exact domains, then wildcards by length, `*`
 *   last), each one's routes in VirtualService creation order and rule order, a request's
 *   Host compared without its port (Envoy's strip_any_host_port, which Istio sets on gateways),
 *   case-insensitively.
 * The model is one service of the gateway's own (its hostname; one port per listener) whose
 * routes carry each virtual host as an authority match and the listener as a port match, and
 * every Service those routes name, compiled as a waypoint's (endpoints, DestinationRules); one
 * bound to a waypoint and labelled istio.io/ingress-use-waypoint goes through its waypoint
 * instead (gateway_wp.c).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile_priv.h"

struct vhost {
	char *domain;	  /* as the virtual host matches it: "bookinfo.com", "*.example.com", "*" */
	char *tls_server; /* its HTTPS server's certificate (l7_tls_cert.source), or NULL */
	const struct config_virtual_service *vs; /* NULL for an httpsRedirect server's host */
	const struct config_gateway *gw;
	const struct config_gw_route *route; /* a Gateway API route instead of @vs */
	uint16_t listener, server_port;
};

struct gw_ctx {
	const struct l7_inputs *in;
	const struct l7_bindings *b;
	const struct l7_waypoint *wp;
	struct l7_config *c;
	struct l7_service *own;
	const struct config_service *gsvc; /* the gateway's Service, or NULL */
	size_t n_vh;
	struct vhost *vh;
};

static const struct config_gateway *find_gateway(const struct config *cfg, const char *ns,
						 const char *name)
{
	for (size_t i = 0; i < cfg->n_gateways; i++)
		if (!strcmp(cfg->gateways[i].meta.namespace, ns) &&
		    !strcmp(cfg->gateways[i].meta.name, name))
			return &cfg->gateways[i];
	return NULL;
}

/* Whether a `gateways:` entry @ref of an object in namespace @ns names @gw. */
static bool names_gateway(const char *ref, const char *ns, const struct config_gateway *gw)
{
	const char *slash = strchr(ref, '/');

	if (!slash)
		return !strcmp(ns, gw->meta.namespace) && !strcmp(ref, gw->meta.name);
	return (size_t)(slash - ref) == strlen(gw->meta.namespace) &&
	       !strncmp(ref, gw->meta.namespace, (size_t)(slash - ref)) &&
	       !strcmp(slash + 1, gw->meta.name);
}

static bool binds(const struct config_strings *refs, const char *ns,
		  const struct config_gateway *gw)
{
	for (size_t i = 0; i < refs->n; i++)
		if (names_gateway(refs->items[i], ns, gw))
			return true;
	return false;
}

/* Server port @port as the gateway listens on it: its Service's targetPort (numeric). */
static uint16_t listener_port(const struct gw_ctx *g, uint32_t port)
{
	for (size_t i = 0; g->gsvc && i < g->gsvc->nports; i++) {
		const struct config_service_port *sp = &g->gsvc->ports[i];

		if (sp->port == port && !sp->target_port_name && sp->target_port)
			return (uint16_t)sp->target_port;
	}
	return (uint16_t)port;
}

/* Plaintext servers whose requests take http routes (or, with httpsRedirect, a redirect). */
static bool http_server(const struct config_gateway_server *s)
{
	enum l7_protocol p = l7_port_protocol(s->protocol, NULL);

	return (!s->tls_mode || s->https_redirect) && l7_protocol_is_http(p);
}

/*
 * HTTPS servers the gateway terminates, then http routes: with a Secret's certificate (SIMPLE,
 * MUTUAL, OPTIONAL_MUTUAL), or its own mesh certificate (ISTIO_MUTUAL).
 */
bool l7_gateway_https_server(const struct config_gateway_server *s)
{
	if (!s->protocol || strcasecmp(s->protocol, "HTTPS") || !s->tls_mode)
		return false;
	if (!strcmp(s->tls_mode, "ISTIO_MUTUAL"))
		return true;
	return s->credential_name &&
	       (!strcmp(s->tls_mode, "SIMPLE") || !strcmp(s->tls_mode, "MUTUAL") ||
		!strcmp(s->tls_mode, "OPTIONAL_MUTUAL"));
}

/* Server @srv's SNI names (its hosts without their namespace part) into @t. */
static int cert_hosts(const struct config_gateway_server *srv, struct l7_tls_cert *t)
{
	t->hosts.items = calloc(srv->hosts.n ? srv->hosts.n : 1, sizeof(char *));
	for (size_t i = 0; t->hosts.items && i < srv->hosts.n; i++) {
		const char *h = strchr(srv->hosts.items[i], '/');

		if (!(t->hosts.items[t->hosts.n++] = strdup(h ? h + 1 : srv->hosts.items[i])))
			return -ENOMEM;
	}
	return t->hosts.items ? 0 : -ENOMEM;
}

/* Server @srv's tls.cipherSuites into @t. */
static int cert_ciphers(const struct config_gateway_server *srv, struct l7_tls_cert *t)
{
	for (size_t i = 0; i < srv->cipher_suites.n; i++)
		if (config_strings_add(&t->ciphers, srv->cipher_suites.items[i]))
			return -ENOMEM;
	return 0;
}

char *l7_pem_dup(const struct config_secret_item *it)
{
	return it && it->len ? strdup(it->value) : NULL;
}

void l7_secret_tls(const struct config *cfg, const char *ns, const char *name,
		   const struct config_secret_item **crt, const struct config_secret_item **key,
		   const struct config_secret_item **ca)
{
	const struct config_secret *sec = config_secret_of(cfg, ns, name), *cas;
	char cname[512];

	*crt = config_secret_get(sec, CONFIG_SECRET_TLS_CRT);
	*crt = *crt ? *crt : config_secret_get(sec, "cert");
	*key = config_secret_get(sec, CONFIG_SECRET_TLS_KEY);
	*key = *key ? *key : config_secret_get(sec, "key");
	*ca = config_secret_get(sec, CONFIG_SECRET_CA_CRT);
	*ca = *ca ? *ca : config_secret_get(sec, "cacert");
	snprintf(cname, sizeof(cname), "%s-cacert", name);
	if (!*ca && (cas = config_secret_of(cfg, ns, cname))) {
		*ca = config_secret_get(cas, CONFIG_SECRET_CA_CRT);
		*ca = *ca ? *ca : config_secret_get(cas, "cacert");
	}
	if (*ca && !(*ca)->len)
		*ca = NULL;
}

/*
 * Server @srv's certificate as istiod's SDS serves it: Secret `credentialName` in the
 * gateway's namespace (l7_secret_tls); the CA only for MUTUAL. 0 with @t filled, 1 when a
 * Secret or key is missing (the server is not served: analyze says why), -ENOMEM.
 */
static int server_cert(const struct gw_ctx *g, const struct config_gateway *gw,
		       const struct config_gateway_server *srv, size_t index, struct l7_tls_cert *t)
{
	const struct config *cfg = g->in->cfg;
	const char *ns = g->wp->namespace, *cn = srv->credential_name;
	const struct config_secret_item *crt, *key, *ca;
	bool optional = !strcmp(srv->tls_mode, "OPTIONAL_MUTUAL");

	if (!strcmp(srv->tls_mode, "ISTIO_MUTUAL")) {
		t->mesh = true;
		if (asprintf(&t->source, "Gateway %s/%s server %zu (ISTIO_MUTUAL)",
			     gw->meta.namespace, gw->meta.name, index) < 0) {
			t->source = NULL;
			return -ENOMEM;
		}
		t->min_tls = srv->min_tls;
		t->max_tls = srv->max_tls;
		if (cert_ciphers(srv, t))
			return -ENOMEM;
		return cert_hosts(srv, t);
	}
	l7_secret_tls(cfg, ns, cn, &crt, &key, &ca);
	if (!crt || !key)
		return 1;
	if (strcmp(srv->tls_mode, "MUTUAL") && !optional)
		ca = NULL;
	else if (!ca)
		return 1;
	if (asprintf(&t->source, "Gateway %s/%s server %zu (credentialName %s)", gw->meta.namespace,
		     gw->meta.name, index, cn) < 0) {
		t->source = NULL;
		return -ENOMEM;
	}
	t->min_tls = srv->min_tls;
	t->max_tls = srv->max_tls;
	if (cert_ciphers(srv, t))
		return -ENOMEM;
	t->cert = l7_pem_dup(crt);
	t->key = l7_pem_dup(key);
	t->ca = ca ? l7_pem_dup(ca) : NULL;
	t->optional = optional;
	if (!t->cert || !t->key || (ca && !t->ca))
		return -ENOMEM;
	return cert_hosts(srv, t);
}

/*
 * The domain where VirtualService host @vh (an FQDN or wildcard) and server host @sh meet,
 * into @out, or false. The narrower of the two when one covers the other.
 */
static bool meet(const char *vh, const char *sh, char *out, size_t len)
{
	if (l7_host_covers(sh, vh))
		snprintf(out, len, "%s", vh);
	else if (l7_host_covers(vh, sh))
		snprintf(out, len, "%s", sh);
	else
		return false;
	return true;
}

/* Server host @sh ("[ns/]host") admits a VirtualService of namespace @ns; its host part. */
static const char *server_host(const char *sh, const char *ns, const char *gw_ns)
{
	const char *slash = strchr(sh, '/');

	if (!slash)
		return sh;
	if (slash - sh == 1 && sh[0] == '*')
		return slash + 1;
	if (slash - sh == 1 && sh[0] == '.')
		return !strcmp(ns, gw_ns) ? slash + 1 : NULL;
	return (size_t)(slash - sh) == strlen(ns) && !strncmp(sh, ns, strlen(ns)) ? slash + 1
										  : NULL;
}

static int add_vhost_of(struct gw_ctx *g, const char *domain,
			const struct config_virtual_service *vs, const struct config_gateway *gw,
			const struct config_gw_route *route, uint16_t listener,
			uint16_t server_port, const char *tls_server)
{
	struct vhost *v;

	for (size_t i = 0; i < g->n_vh; i++)
		if (g->vh[i].vs == vs && g->vh[i].route == route && g->vh[i].listener == listener &&
		    !strcmp(g->vh[i].domain, domain) && !g->vh[i].tls_server == !tls_server &&
		    (!tls_server || !strcmp(g->vh[i].tls_server, tls_server)))
			return 0;
	v = realloc(g->vh, (g->n_vh + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	g->vh = v;
	v = &g->vh[g->n_vh];
	*v = (struct vhost){
	    strdup(domain), tls_server ? strdup(tls_server) : NULL, vs, gw, route, listener,
	    server_port};
	if (!v->domain || (tls_server && !v->tls_server)) {
		free(v->domain);
		free(v->tls_server);
		return -ENOMEM;
	}
	g->n_vh++;
	return 0;
}

static int add_vhost(struct gw_ctx *g, const char *domain, const struct config_virtual_service *vs,
		     const struct config_gateway *gw, uint16_t listener, uint16_t server_port,
		     const char *tls_server)
{
	return add_vhost_of(g, domain, vs, gw, NULL, listener, server_port, tls_server);
}

/* Certificate @t (taken) onto listener @l. */
static int add_cert(struct l7_listener *l, struct l7_tls_cert *t)
{
	struct l7_tls_cert *c = realloc(l->certs, (l->n_certs + 1) * sizeof(*c));

	if (!c) {
		l7_tls_cert_free(t);
		return -ENOMEM;
	}
	l->certs = c;
	l->certs[l->n_certs++] = *t;
	return 0;
}

/*
 * Listener @port of kind @proto (HTTP, TLS passthrough, TCP), HTTP plaintext or with
 * certificate @t (taken): 0, or 1 when the port is already another kind (the server is not
 * served, as istiod rejects a port mixing them).
 */
static int add_listener(struct gw_ctx *g, uint16_t port, enum l7_protocol proto,
			struct l7_tls_cert *t)
{
	struct l7_config *c = g->c;
	struct l7_listener *l;
	struct l7_port *p;

	for (size_t i = 0; i < c->n_listeners; i++)
		if (c->listeners[i].port == port) {
			if (c->listeners[i].protocol != proto ||
			    (c->listeners[i].n_certs > 0) != (t != NULL)) {
				if (t)
					l7_tls_cert_free(t);
				return 1;
			}
			return t ? add_cert(&c->listeners[i], t) : 0;
		}
	l = realloc(c->listeners, (c->n_listeners + 1) * sizeof(*l));
	if (!l)
		return -ENOMEM;
	c->listeners = l;
	l = &c->listeners[c->n_listeners];
	*l = (struct l7_listener){.port = port, .protocol = proto};
	l->proxy_protocol =
	    config_mesh_of(g->in->cfg) && config_mesh_of(g->in->cfg)->proxy_protocol;
	l->service = strdup(g->own->hostname);
	if (!l->service)
		return -ENOMEM;
	c->n_listeners++;
	p = realloc(g->own->ports, (g->own->n_ports + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	g->own->ports = p;
	g->own->ports[g->own->n_ports++] =
	    (struct l7_port){.port = port, .protocol = proto, .target_port = port};
	return t ? add_cert(l, t) : 0;
}

/* Every (VirtualService, server) pair of the gateway's Gateways: listeners and virtual hosts. */
static int collect(struct gw_ctx *g)
{
	const struct config *cfg = g->in->cfg;
	int err = 0;

	for (size_t k = 0; k < g->wp->gateways.n && !err; k++) {
		char ref[512], *slash;
		const struct config_gateway *gw;

		snprintf(ref, sizeof(ref), "%s", g->wp->gateways.items[k]);
		slash = strchr(ref, '/');
		if (!slash)
			continue;
		*slash = '\0';
		gw = find_gateway(cfg, ref, slash + 1);
		for (size_t s = 0; gw && s < gw->n_servers && !err; s++) {
			const struct config_gateway_server *srv = &gw->servers[s];
			uint16_t lp = listener_port(g, srv->port);
			struct l7_tls_cert t = {0};
			char tls_server[600] = "";

			if (l7_gateway_https_server(srv)) {
				err = server_cert(g, gw, srv, s, &t);
				if (err) {
					l7_tls_cert_free(&t);
					err = err < 0 ? err : 0;
					continue;
				}
				snprintf(tls_server, sizeof(tls_server), "%s", t.source);
				err = add_listener(g, lp, L7_PROTO_HTTP, &t);
			} else if (http_server(srv)) {
				err = add_listener(g, lp, L7_PROTO_HTTP, NULL);
			} else if (l7_gateway_passthrough(srv) || l7_gateway_tcp_server(srv)) {
				err = add_listener(g, lp,
						   l7_gateway_passthrough(srv) ? L7_PROTO_TLS
									       : L7_PROTO_TCP,
						   NULL);
				if (!err)
					err =
					    l7_gateway_l4_routes(g->in, g->wp, g->own, gw, srv, lp);
				err = err > 0 ? 0 : err;
				continue;
			} else {
				continue;
			}
			if (err > 0) { /* a port both plaintext and TLS: the later server is not */
				err = 0;
				continue;
			}
			/*
			 * tls.httpsRedirect: each server host is a virtual host that answers every
			 * request with a 301 to https (Envoy's require_tls), whatever binds to it.
			 */
			for (size_t i = 0; srv->https_redirect && i < srv->hosts.n && !err; i++) {
				const char *sh = strchr(srv->hosts.items[i], '/');

				err = add_vhost(g, sh ? sh + 1 : srv->hosts.items[i], NULL, gw, lp,
						(uint16_t)srv->port, NULL);
			}
			if (srv->https_redirect)
				continue;
			for (size_t v = 0; v < cfg->n_virtual_services && !err; v++) {
				const struct config_virtual_service *vs = &cfg->virtual_services[v];
				const char *ns = vs->meta.namespace;

				if (!binds(&vs->gateways, ns, gw))
					continue;
				for (size_t h = 0; h < vs->hosts.n && !err; h++) {
					char vh[512], d[512];

					l7_fqdn(vs->hosts.items[h], ns, vh, sizeof(vh));
					for (size_t i = 0; i < srv->hosts.n && !err; i++) {
						const char *sh = server_host(
						    srv->hosts.items[i], ns, gw->meta.namespace);

						if (sh && meet(vh, sh, d, sizeof(d)))
							err = add_vhost(
							    g, d, vs, gw, lp, (uint16_t)srv->port,
							    tls_server[0] ? tls_server : NULL);
					}
				}
			}
		}
	}
	return err;
}

/*
 * Listener @l's certificate: its first certificateRef, a Secret with tls.crt and tls.key of
 * the Gateway's namespace, or of another whose ReferenceGrant allows it. 0 with @t filled, 1
 * when not resolved (the status says why), -ENOMEM.
 */
static int listener_cert(const struct gw_ctx *g, const struct config_k8s_gateway *gw,
			 const struct config_gw_listener *l, struct l7_tls_cert *t)
{
	const struct config_gw_cert_ref *r = l->n_cert_refs ? &l->cert_refs[0] : NULL;
	const struct config_secret *sec;
	const struct config_secret_item *crt, *key;

	if (!r || *r->group || strcmp(r->kind, "Secret") ||
	    !l7_gwapi_cert_granted(g->in->cfg, gw, r))
		return 1;
	sec =
	    config_secret_of(g->in->cfg, r->namespace ? r->namespace : gw->meta.namespace, r->name);
	crt = config_secret_get(sec, CONFIG_SECRET_TLS_CRT);
	key = config_secret_get(sec, CONFIG_SECRET_TLS_KEY);
	if (!crt || !key)
		return 1;
	if (asprintf(&t->source, "Gateway %s/%s listener %s (Secret %s)", gw->meta.namespace,
		     gw->meta.name, l->name, r->name) < 0) {
		t->source = NULL;
		return -ENOMEM;
	}
	t->cert = l7_pem_dup(crt);
	t->key = l7_pem_dup(key);
	t->hosts.items = calloc(2, sizeof(char *));
	if (!t->cert || !t->key || !t->hosts.items ||
	    !(t->hosts.items[0] = strdup(l->hostname ? l->hostname : "*")))
		return -ENOMEM;
	t->hosts.n = 1;
	return 0;
}

/* Every route of @routes attached to listener @l of @gw: a virtual host per hostname. */
static int gwapi_routes(struct gw_ctx *g, const struct config_k8s_gateway *gw,
			const struct config_gw_listener *l, const struct config_gw_route *routes,
			size_t n, const char *tls_server)
{
	const struct config *cfg = g->in->cfg;
	int err = 0;

	for (size_t i = 0; i < n && !err; i++) {
		char hosts[16][256];
		size_t nh;

		if (l7_gwapi_attached(cfg, &routes[i], gw, l) != L7_GWA_ATTACHED)
			continue;
		nh = l7_gwapi_hostnames(l, &routes[i], hosts, 16);
		for (size_t h = 0; h < nh && !err; h++)
			err = add_vhost_of(g, hosts[h], NULL, NULL, &routes[i], l->port, l->port,
					   tls_server);
	}
	return err;
}

/*
 * The Gateway API Gateways (class istio) this proxy is the deployment of: each HTTP listener,
 * and each HTTPS one whose certificate resolves, on its own port (the Service's port and
 * targetPort are the listener's), with the HTTPRoutes and GRPCRoutes attached to it.
 */
static int collect_gwapi(struct gw_ctx *g)
{
	const struct config *cfg = g->in->cfg;
	int err = 0;

	for (size_t k = 0; k < g->wp->k8s_gateways.n && !err; k++) {
		char ref[512], *slash;
		const struct config_k8s_gateway *gw;

		snprintf(ref, sizeof(ref), "%s", g->wp->k8s_gateways.items[k]);
		slash = strchr(ref, '/');
		if (!slash)
			continue;
		*slash = '\0';
		gw = l7_gwapi_gateway(cfg, ref, slash + 1);
		for (size_t i = 0; gw && i < gw->n_listeners && !err; i++) {
			const struct config_gw_listener *l = &gw->listeners[i];
			enum l7_gwapi_listener_kind kind = l7_gwapi_listener_kind(l);
			struct l7_tls_cert t = {0};
			char tls_server[600] = "";

			if (kind == L7_GWL_HTTPS) {
				err = listener_cert(g, gw, l, &t);
				if (err) {
					l7_tls_cert_free(&t);
					err = err < 0 ? err : 0;
					continue;
				}
				snprintf(tls_server, sizeof(tls_server), "%s", t.source);
				err = add_listener(g, l->port, L7_PROTO_HTTP, &t);
			} else if (kind == L7_GWL_HTTP) {
				err = add_listener(g, l->port, L7_PROTO_HTTP, NULL);
			} else if (kind == L7_GWL_TLS || kind == L7_GWL_TCP) {
				err = add_listener(g, l->port,
						   kind == L7_GWL_TLS ? L7_PROTO_TLS : L7_PROTO_TCP,
						   NULL);
				err = err ? err : l7_gwapi_l4_routes(g->in, g->wp, g->own, gw, l);
				err = err > 0 ? 0 : err;
				continue;
			} else {
				continue;
			}
			if (err > 0) { /* a port both plaintext and TLS: the later is not served */
				err = 0;
				continue;
			}
			err = gwapi_routes(g, gw, l, cfg->http_routes, cfg->n_http_routes,
					   tls_server[0] ? tls_server : NULL);
			err = err ? err
				  : gwapi_routes(g, gw, l, cfg->grpc_routes, cfg->n_grpc_routes,
						 tls_server[0] ? tls_server : NULL);
		}
	}
	return err;
}

/* Exact domains first, then wildcards by length (longest first), "*" last; then oldest. */
static int vh_cmp(const void *a, const void *b)
{
	const struct vhost *x = a, *y = b;
	bool wx = x->domain[0] == '*', wy = y->domain[0] == '*';
	size_t lx = strlen(x->domain), ly = strlen(y->domain);
	int c;

	if (x->listener != y->listener)
		return x->listener < y->listener ? -1 : 1;
	/* Each TLS server's virtual hosts apart: its own route configuration in Envoy. */
	if (!x->tls_server != !y->tls_server)
		return x->tls_server ? 1 : -1;
	if (x->tls_server && (c = strcmp(x->tls_server, y->tls_server)))
		return c;
	if (wx != wy)
		return wx ? 1 : -1;
	if (wx && lx != ly)
		return lx > ly ? -1 : 1;
	c = strcmp(x->domain, y->domain);
	if (c)
		return c;
	/* The redirect first, then VirtualServices, then Gateway API routes (ranked together). */
	if (!x->vs != !y->vs || !x->route != !y->route)
		return (!x->vs && !x->route) ? -1 : (!y->vs && !y->route) ? 1 : x->vs ? -1 : 1;
	if (x->vs)
		return l7_meta_cmp(&x->vs->meta, &y->vs->meta);
	return x->route ? l7_meta_cmp(&x->route->meta, &y->route->meta) : 0;
}

/* @domain as an RE2 pattern on the authority, any port allowed; NULL for "*". */
static char *domain_regex(const char *domain)
{
	size_t n = strlen(domain);
	char *out, *o;

	if (!strcmp(domain, "*"))
		return NULL;
	out = malloc(2 * n + 32);
	if (!out)
		return NULL;
	o = out + sprintf(out, "(?i)");
	/* A leading wildcard stands for one or more characters, as Envoy's domains: "*.x", "*-x".
	 */
	if (*domain == '*') {
		o += sprintf(o, ".+");
		domain++;
	}
	for (; *domain; domain++) {
		if (!isalnum((unsigned char)*domain))
			*o++ = '\\';
		*o++ = *domain;
	}
	sprintf(o, "(:[0-9]+)?");
	return out;
}

/* The virtual host's own conditions on every match of @r: its listener and its domain. */
static int restrict_route(struct l7_route *r, const struct vhost *v)
{
	char *re = domain_regex(v->domain);

	if (!re && strcmp(v->domain, "*"))
		return -ENOMEM;
	if (!r->n_matches) {
		r->matches = calloc(1, sizeof(*r->matches));
		if (!r->matches) {
			free(re);
			return -ENOMEM;
		}
		r->n_matches = 1;
	}
	for (size_t i = 0; i < r->n_matches; i++) {
		struct l7_match *m = &r->matches[i];

		m->port = v->listener;
		if (v->tls_server && !(m->tls_server = strdup(v->tls_server))) {
			free(re);
			return -ENOMEM;
		}
		/* A match of its own on the authority keeps it (one condition per field). */
		if (!re || m->authority.type != L7_MATCH_ANY)
			continue;
		m->authority.type = L7_MATCH_REGEX;
		m->authority.value = strdup(re);
		if (!m->authority.value) {
			free(re);
			return -ENOMEM;
		}
	}
	free(re);
	return 0;
}

/* An httpsRedirect server's virtual host: 301 to the same host and path over https. */
static int redirect_route(struct gw_ctx *g, const struct vhost *v)
{
	struct l7_route *r;

	if (l7_grow_routes(g->own, 1))
		return -ENOMEM;
	r = &g->own->routes[g->own->n_routes++];
	r->action = L7_ACTION_REDIRECT;
	r->fault.abort_grpc = -1;
	r->redirect.scheme = strdup("https");
	r->redirect.keep_query = true;
	r->redirect.code = 301;
	if (asprintf(&r->source, "Gateway %s/%s httpsRedirect", v->gw->meta.namespace,
		     v->gw->meta.name) < 0)
		r->source = NULL;
	if (!r->source || !r->redirect.scheme)
		return -ENOMEM;
	return restrict_route(r, v);
}

/* The http rules of @v's VirtualService for its Gateway, as routes of the gateway's service. */
static int vhost_routes(struct gw_ctx *g, const struct vhost *v)
{
	const struct config_virtual_service *vs = v->vs;
	struct l7_ctx ctx = {.in = g->in, .wp = g->wp, .svc = g->own};
	size_t rule = 0;
	int err = 0;

	if (!vs)
		return redirect_route(g, v);

	for (size_t i = 0; i < vs->n_routes && !err; i++) {
		const struct config_vs_route *vr = &vs->routes[i];
		size_t nm = vr->n_match ? vr->n_match : 1;

		if (vr->type != CONFIG_ROUTE_HTTP)
			continue;
		if (vr->has_delegate) {
			rule++;
			continue;
		}
		if (l7_grow_routes(g->own, nm))
			return -ENOMEM;
		for (size_t j = 0; j < nm && !err; j++) {
			const struct config_route_match *m = vr->n_match ? &vr->match[j] : NULL;
			struct l7_route *r;

			/* A block naming other gateways, or another port, is not this server's. */
			if (m &&
			    (m->source_labels.n ||
			     (m->gateways.n && !binds(&m->gateways, vs->meta.namespace, v->gw)) ||
			     (m->port && m->port != v->server_port)))
				continue;
			r = &g->own->routes[g->own->n_routes++];
			err = l7_vs_route(&ctx, vs, vr, rule, m, r);
			if (!err && m)
				r->matches[0].port =
				    0; /* the server's, replaced by the listener's */
			err = err ? err : restrict_route(r, v);
		}
		rule++;
	}
	return err;
}

/* The Gateway API routes of the @n virtual hosts from @v (one domain, listener, server). */
static int gwapi_vhost_routes(struct gw_ctx *g, const struct vhost *v, size_t n)
{
	const struct config_gw_route **routes = calloc(n + 1, sizeof(*routes));
	struct l7_ctx ctx = {.in = g->in, .wp = g->wp, .svc = g->own, .own_ns_backends = true};
	size_t first = g->own->n_routes;
	int err;

	if (!routes)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		routes[i] = v[i].route;
	err = l7_gwapi_append_routes(&ctx, routes, n);
	free(routes);
	for (size_t i = first; i < g->own->n_routes && !err; i++)
		err = restrict_route(&g->own->routes[i], v);
	return err;
}

/* Whether @a and @b are one virtual host: domain, listener and TLS server. */
static bool same_vhost(const struct vhost *a, const struct vhost *b)
{
	return a->listener == b->listener && !strcmp(a->domain, b->domain) &&
	       !a->tls_server == !b->tls_server &&
	       (!a->tls_server || !strcmp(a->tls_server, b->tls_server));
}

/* The end of @v's virtual host (a catch-all for its domain and listener): 404 NR. */
static int vhost_end(struct gw_ctx *g, const struct vhost *v)
{
	struct l7_route *r;

	if (!strcmp(v->domain, "*"))
		return 0; /* nothing is tried after it: no route is NR already */
	if (l7_grow_routes(g->own, 1))
		return -ENOMEM;
	r = &g->own->routes[g->own->n_routes++];
	r->action = L7_ACTION_NOT_FOUND;
	r->fault.abort_grpc = -1;
	if (asprintf(&r->source, "virtual host %s:%u", v->domain, v->listener) < 0) {
		r->source = NULL;
		return -ENOMEM;
	}
	return restrict_route(r, v);
}

static const struct config_service *service_named(const struct config *cfg, const char *fqdn)
{
	char h[512];

	for (size_t i = 0; i < cfg->n_services; i++) {
		l7_fqdn(cfg->services[i].meta.name, cfg->services[i].meta.namespace, h, sizeof(h));
		if (!strcmp(h, fqdn))
			return &cfg->services[i];
	}
	return NULL;
}

/* The Service a destination names, in the model once; a port left out is its only one. */
static int add_destination(struct gw_ctx *g, struct l7_destination *d)
{
	const struct config_service *s =
	    d->unknown || d->invalid ? NULL : service_named(g->in->cfg, d->host);
	struct l7_config *c = g->c;
	struct l7_service *out;
	int err;

	if (!s)
		return 0;
	if (!d->port && s->nports == 1)
		d->port = (uint16_t)s->ports[0].port;
	if (l7_config_service(c, d->host))
		return 0;
	out = &c->services[c->n_services++];
	err = l7_compile_service(g->in, g->wp, s, out);
	return err ? err : l7_gateway_via_waypoint(g->in, g->b, s, out, c);
}

static int own_service(struct gw_ctx *g)
{
	const char *host = g->wp->hostname;
	struct l7_service *o = g->own;
	const char *dot = strchr(host, '.');

	g->gsvc = service_named(g->in->cfg, host);
	o->hostname = strdup(host);
	o->name = dot ? strndup(host, (size_t)(dot - host)) : strdup(host);
	o->namespace = strdup(g->wp->namespace);
	o->vip = g->wp->vip;
	o->routes_kind = L7_ROUTES_VIRTUAL_SERVICE;
	o->ports = calloc(1, sizeof(*o->ports));
	return o->hostname && o->name && o->namespace && o->ports ? 0 : -ENOMEM;
}

int l7_compile_gateway(const struct l7_inputs *in, const struct l7_bindings *b,
		       const struct l7_waypoint *wp, struct l7_config *c)
{
	struct gw_ctx g = {.in = in, .b = b, .wp = wp, .c = c};
	int err;

	c->gateway = true;
	g.own = &c->services[c->n_services++];
	err = own_service(&g);
	err = err ? err : collect(&g);
	err = err ? err : collect_gwapi(&g);
	if (!err && g.n_vh) /* none: g.vh is NULL, which qsort may not take */
		qsort(g.vh, g.n_vh, sizeof(*g.vh), vh_cmp);
	for (size_t i = 0, j; i < g.n_vh && !err; i = j) {
		/* A Gateway API virtual host: every route attached to it, ranked together. */
		for (j = i + 1;
		     g.vh[i].route && j < g.n_vh && g.vh[j].route && same_vhost(&g.vh[i], &g.vh[j]);
		     j++)
			;
		err = g.vh[i].route ? gwapi_vhost_routes(&g, &g.vh[i], j - i)
				    : vhost_routes(&g, &g.vh[i]);
		/* The last of a virtual host ends it: 404 NR. */
		if (!err && (j == g.n_vh || !same_vhost(&g.vh[j - 1], &g.vh[j])))
			err = vhost_end(&g, &g.vh[j - 1]);
	}
	l7_gateway_l4_sort(g.own);
	/* g.own moves no more: the destinations' services are added after it. */
	for (size_t i = 0; !err && i < g.own->n_tcp; i++)
		for (size_t k = 0; k < g.own->tcp[i].n_dests && !err; k++)
			err = add_destination(&g, &g.own->tcp[i].dests[k]);
	for (size_t i = 0; !err && i < g.own->n_routes; i++) {
		struct l7_route *r = &c->services[0].routes[i];

		for (size_t k = 0; k < r->n_dests && !err; k++)
			err = add_destination(&g, &r->dests[k]);
		for (size_t k = 0; k < r->n_mirrors && !err; k++)
			err = add_destination(&g, &r->mirrors[k].dest);
	}
	for (size_t i = 0; i < g.n_vh; i++) {
		free(g.vh[i].domain);
		free(g.vh[i].tls_server);
	}
	free(g.vh);
	return err;
}

bool l7_gateway_binds(const struct config_strings *refs, const char *ns,
		      const struct config_gateway *gw)
{
	return binds(refs, ns, gw);
}

const char *l7_gateway_server_host(const char *sh, const char *ns, const char *gw_ns)
{
	return server_host(sh, ns, gw_ns);
}
