// SPDX-License-Identifier: Apache-2.0
/*
 * The L7 model's ownership (include/ambit/l7.h): its enums' names, deep copies of the config
 * parts it reuses, destructors, look-ups. The compiler (l7/) builds the model with these; the
 * waypoint and the gateway look it up with them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/retry_on.h"
#include "l7_priv.h"

static const char *const proto_names[] = {
    [L7_PROTO_UNKNOWN] = "UNKNOWN", [L7_PROTO_HTTP] = "HTTP",	      [L7_PROTO_HTTP2] = "HTTP2",
    [L7_PROTO_GRPC] = "GRPC",	    [L7_PROTO_GRPC_WEB] = "GRPC-WEB", [L7_PROTO_HTTPS] = "HTTPS",
    [L7_PROTO_TLS] = "TLS",	    [L7_PROTO_TCP] = "TCP",	      [L7_PROTO_MONGO] = "MONGO",
    [L7_PROTO_MYSQL] = "MYSQL",	    [L7_PROTO_REDIS] = "REDIS",	      [L7_PROTO_UDP] = "UDP",
};

const char *l7_protocol_name(enum l7_protocol p)
{
	return (unsigned int)p < sizeof(proto_names) / sizeof(proto_names[0]) ? proto_names[p]
									      : "UNKNOWN";
}

bool l7_protocol_is_http(enum l7_protocol p)
{
	return p == L7_PROTO_HTTP || p == L7_PROTO_HTTP2 || p == L7_PROTO_GRPC ||
	       p == L7_PROTO_GRPC_WEB;
}

const char *l7_retry_on_name(unsigned int i)
{
	return i < L7_RETRY_NAMES ? retry_on_names[i] : NULL;
}

char *l7_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

int l7_copy_strings(struct config_strings *dst, const struct config_strings *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->items = calloc(src->n + 1, sizeof(char *));
	if (!dst->items)
		return -ENOMEM;
	for (size_t i = 0; i < src->n; i++) {
		dst->items[i] = strdup(src->items[i]);
		if (!dst->items[i])
			return -ENOMEM;
		dst->n++;
	}
	return 0;
}

int l7_copy_labels(struct config_labels *dst, const struct config_labels *src)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; src && i < src->n; i++)
		if (config_labels_add(dst, src->items[i].key, src->items[i].value))
			return -ENOMEM;
	return 0;
}

/* Appends (a route's filters may come in several pieces). */
int l7_copy_header_ops(struct config_header_ops *dst, const struct config_header_ops *src)
{
	char **items;

	for (size_t i = 0; i < src->set.n; i++)
		if (config_labels_add(&dst->set, src->set.items[i].key, src->set.items[i].value))
			return -ENOMEM;
	for (size_t i = 0; i < src->add.n; i++)
		if (config_labels_add(&dst->add, src->add.items[i].key, src->add.items[i].value))
			return -ENOMEM;
	items = realloc(dst->remove.items, (dst->remove.n + src->remove.n + 1) * sizeof(char *));
	if (!items)
		return -ENOMEM;
	dst->remove.items = items;
	for (size_t i = 0; i < src->remove.n; i++) {
		items[dst->remove.n] = strdup(src->remove.items[i]);
		if (!items[dst->remove.n])
			return -ENOMEM;
		dst->remove.n++;
	}
	return 0;
}

int l7_copy_headers(struct config_headers *dst, const struct config_headers *src)
{
	if (l7_copy_header_ops(&dst->request, &src->request))
		return -ENOMEM;
	return l7_copy_header_ops(&dst->response, &src->response);
}

void l7_destination_clear(struct l7_destination *d)
{
	free(d->host);
	free(d->subset);
	config_headers_free(&d->headers);
	memset(d, 0, sizeof(*d));
}

static void string_match_clear(struct l7_string_match *m)
{
	free(m->value);
}

static void header_matches_clear(struct l7_header_match *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(h[i].name);
		string_match_clear(&h[i].match);
	}
	free(h);
}

void l7_matches_free(struct l7_match *ms, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct l7_match *m = &ms[i];

		string_match_clear(&m->path);
		string_match_clear(&m->scheme);
		string_match_clear(&m->method);
		string_match_clear(&m->authority);
		header_matches_clear(m->headers, m->n_headers);
		header_matches_clear(m->query, m->n_query);
		free(m->tls_server);
	}
	free(ms);
}

void l7_route_clear(struct l7_route *r)
{
	free(r->name);
	free(r->source);
	l7_matches_free(r->matches, r->n_matches);
	for (size_t i = 0; i < r->n_dests; i++)
		l7_destination_clear(&r->dests[i]);
	free(r->dests);
	free(r->redirect.scheme);
	free(r->redirect.host);
	free(r->redirect.path);
	free(r->redirect.prefix);
	free(r->direct_body);
	free(r->rewrite.path);
	free(r->rewrite.prefix);
	free(r->rewrite.regex);
	free(r->rewrite.regex_sub);
	free(r->rewrite.authority);
	config_headers_free(&r->headers);
	free(r->retry.codes);
	for (size_t i = 0; i < r->n_mirrors; i++)
		l7_destination_clear(&r->mirrors[i].dest);
	free(r->mirrors);
	config_cors_free(&r->cors);
	memset(r, 0, sizeof(*r));
}

void l7_service_clear(struct l7_service *s)
{
	free(s->cidrs);
	free(s->hostname);
	free(s->name);
	free(s->namespace);
	for (size_t i = 0; i < s->n_ports; i++) {
		free(s->ports[i].name);
		free(s->ports[i].target_port_name);
	}
	free(s->ports);
	for (size_t i = 0; i < s->n_endpoints; i++) {
		free(s->endpoints[i].pod);
		free(s->endpoints[i].node);
		free(s->endpoints[i].identity);
		free(s->endpoints[i].workload);
		config_labels_free(&s->endpoints[i].labels);
		free(s->endpoints[i].ports);
		free(s->endpoints[i].dns_name);
	}
	free(s->endpoints);
	for (size_t i = 0; i < s->n_subsets; i++) {
		free(s->subsets[i].name);
		config_labels_free(&s->subsets[i].labels);
		free(s->subsets[i].endpoints);
	}
	free(s->subsets);
	for (size_t i = 0; i < s->n_policies; i++) {
		free(s->policies[i].subset);
		config_load_balancer_free(&s->policies[i].lb);
		config_client_tls_free(&s->policies[i].tls);
		free(s->policies[i].tls_cert);
		free(s->policies[i].tls_key);
		free(s->policies[i].tls_ca);
		free(s->policies[i].outlier.error_codes);
	}
	free(s->policies);
	for (size_t i = 0; i < s->n_routes; i++)
		l7_route_clear(&s->routes[i]);
	free(s->routes);
	for (size_t i = 0; i < s->n_tcp; i++) {
		free(s->tcp[i].source);
		config_strings_free(&s->tcp[i].subnets);
		config_strings_free(&s->tcp[i].sni_hosts);
		for (size_t j = 0; j < s->tcp[i].n_dests; j++)
			l7_destination_clear(&s->tcp[i].dests[j]);
		free(s->tcp[i].dests);
	}
	free(s->tcp);
	free(s->authz);
	free(s->jwt);
	free(s->ratelimit);
	free(s->via_waypoint);
	free(s->waypoint_host);
	memset(s, 0, sizeof(*s));
}

void l7_config_free(struct l7_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_services; i++)
		l7_service_clear(&c->services[i]);
	free(c->services);
	for (size_t i = 0; c->authz && i < c->n_authz; i++)
		l7_authz_clear(&c->authz[i]);
	free(c->authz);
	for (size_t i = 0; c->jwt && i < c->n_jwt; i++)
		l7_jwt_clear(&c->jwt[i]);
	free(c->jwt);
	for (size_t i = 0; c->ratelimits && i < c->n_ratelimits; i++)
		l7_ratelimit_clear(&c->ratelimits[i]);
	free(c->ratelimits);
	for (size_t i = 0; c->ext_authz && i < c->n_ext_authz; i++)
		l7_ext_authz_clear(&c->ext_authz[i]);
	free(c->ext_authz);
	for (size_t i = 0; c->telemetry && i < c->n_telemetry; i++)
		l7_telemetry_clear(&c->telemetry[i]);
	free(c->telemetry);
	free(c->mesh_id);
	for (size_t i = 0; c->listeners && i < c->n_listeners; i++) {
		struct l7_listener *l = &c->listeners[i];

		free(l->service);
		for (size_t k = 0; l->certs && k < l->n_certs; k++)
			l7_tls_cert_free(&l->certs[k]);
		free(l->certs);
	}
	free(c->listeners);
	for (size_t i = 0; c->tunnels && i < c->n_tunnels; i++) {
		free(c->tunnels[i].waypoint);
		free(c->tunnels[i].ips);
		free(c->tunnels[i].ips6);
	}
	free(c->tunnels);
	free(c->waypoint_namespace);
	free(c->waypoint_name);
	free(c->identity);
	free(c);
}

const struct l7_policy *l7_service_policy(const struct l7_service *s, const char *subset,
					  uint16_t port)
{
	for (size_t i = 0; i < s->n_policies; i++) {
		const struct l7_policy *p = &s->policies[i];

		if (p->port == port &&
		    (subset ? p->subset && !strcmp(p->subset, subset) : !p->subset))
			return p;
	}
	return NULL;
}

const struct l7_service *l7_config_service(const struct l7_config *c, const char *hostname)
{
	for (size_t i = 0; c && i < c->n_services; i++)
		if (!strcmp(c->services[i].hostname, hostname))
			return &c->services[i];
	return NULL;
}

const struct l7_tunnel *l7_config_tunnel(const struct l7_config *c, uint32_t vip)
{
	for (size_t i = 0; c && vip && i < c->n_tunnels; i++)
		if (c->tunnels[i].vip == vip)
			return &c->tunnels[i];
	return NULL;
}

const struct l7_tunnel *l7_config_tunnel6(const struct l7_config *c, const struct ipaddr *vip6)
{
	for (size_t i = 0; c && vip6->family == AF_INET6 && i < c->n_tunnels; i++)
		if (ipaddr_equal(&c->tunnels[i].vip6, vip6))
			return &c->tunnels[i];
	return NULL;
}

void l7_tls_cert_free(struct l7_tls_cert *t)
{
	free(t->source);
	config_strings_free(&t->hosts);
	config_strings_free(&t->ciphers);
	free(t->cert);
	if (t->key)
		memset(t->key, 0, strlen(t->key)); /* key material */
	free(t->key);
	free(t->ca);
	memset(t, 0, sizeof(*t));
}
