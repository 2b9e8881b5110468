// SPDX-License-Identifier: Apache-2.0
/* Destructors of the networking.istio.io model (VirtualService, DestinationRule, Gateway, SE). */
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

void config_destination_free(struct config_destination *d)
{
	free(d->host);
	free(d->subset);
	config_headers_free(&d->headers);
	memset(d, 0, sizeof(*d));
}

static void string_match_free(struct config_string_match *m)
{
	free(m->value);
	memset(m, 0, sizeof(*m));
}

static void header_matches_free(struct config_header_match *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(h[i].name);
		string_match_free(&h[i].match);
	}
	free(h);
}

void config_route_match_free(struct config_route_match *m)
{
	free(m->name);
	string_match_free(&m->uri);
	string_match_free(&m->scheme);
	string_match_free(&m->method);
	string_match_free(&m->authority);
	header_matches_free(m->headers, m->n_headers);
	header_matches_free(m->without_headers, m->n_without_headers);
	header_matches_free(m->query_params, m->n_query_params);
	config_labels_free(&m->source_labels);
	free(m->source_namespace);
	config_strings_free(&m->gateways);
	config_strings_free(&m->sni_hosts);
	config_strings_free(&m->destination_subnets);
	memset(m, 0, sizeof(*m));
}

void config_vs_route_free(struct config_vs_route *r)
{
	free(r->name);
	for (size_t i = 0; i < r->n_match; i++)
		config_route_match_free(&r->match[i]);
	free(r->match);
	for (size_t i = 0; i < r->n_route; i++)
		config_destination_free(&r->route[i]);
	free(r->route);
	free(r->retry_on);
	free(r->fault.abort_grpc_status);
	free(r->rewrite_uri);
	free(r->rewrite_authority);
	free(r->rewrite_regex);
	free(r->rewrite_regex_sub);
	free(r->redirect.uri);
	free(r->redirect.prefix_rewrite);
	free(r->redirect.authority);
	free(r->redirect.scheme);
	free(r->direct_response_body);
	free(r->delegate_name);
	free(r->delegate_namespace);
	config_destination_free(&r->mirror);
	for (size_t i = 0; i < r->n_mirrors; i++)
		config_destination_free(&r->mirrors[i].destination);
	free(r->mirrors);
	config_cors_free(&r->cors);
	config_headers_free(&r->headers);
	memset(r, 0, sizeof(*r));
}

void config_cors_free(struct config_cors *c)
{
	for (size_t i = 0; i < c->n_allow_origins; i++)
		string_match_free(&c->allow_origins[i]);
	free(c->allow_origins);
	config_strings_free(&c->allow_methods);
	config_strings_free(&c->allow_headers);
	config_strings_free(&c->expose_headers);
	memset(c, 0, sizeof(*c));
}

void config_virtual_service_free(struct config_virtual_service *vs)
{
	config_meta_free(&vs->meta);
	config_strings_free(&vs->hosts);
	config_strings_free(&vs->gateways);
	config_strings_free(&vs->export_to);
	for (size_t i = 0; i < vs->n_routes; i++)
		config_vs_route_free(&vs->routes[i]);
	free(vs->routes);
	memset(vs, 0, sizeof(*vs));
}

void config_load_balancer_free(struct config_load_balancer *lb)
{
	free(lb->hash_name);
	free(lb->cookie_path);
	config_strings_free(&lb->failover_priority);
}

void config_client_tls_free(struct config_client_tls *t)
{
	free(t->mode);
	free(t->sni);
	free(t->ca_certificates);
	free(t->credential_name);
	free(t->client_certificate);
	free(t->private_key);
	config_strings_free(&t->subject_alt_names);
}

void config_traffic_policy_free(struct config_traffic_policy *p)
{
	config_load_balancer_free(&p->lb);
	config_client_tls_free(&p->tls);
	free(p->outlier.error_codes);
	for (size_t i = 0; i < p->n_port_level; i++) {
		config_load_balancer_free(&p->port_level[i].lb);
		config_client_tls_free(&p->port_level[i].tls);
		free(p->port_level[i].outlier.error_codes);
	}
	free(p->port_level);
	memset(p, 0, sizeof(*p));
}

void config_destination_rule_free(struct config_destination_rule *dr)
{
	config_meta_free(&dr->meta);
	free(dr->host);
	config_traffic_policy_free(&dr->policy);
	for (size_t i = 0; i < dr->n_subsets; i++) {
		free(dr->subsets[i].name);
		config_labels_free(&dr->subsets[i].labels);
		config_traffic_policy_free(&dr->subsets[i].policy);
	}
	free(dr->subsets);
	config_strings_free(&dr->export_to);
	config_labels_free(&dr->workload_selector);
	memset(dr, 0, sizeof(*dr));
}

void config_gateway_free(struct config_gateway *gw)
{
	config_meta_free(&gw->meta);
	config_labels_free(&gw->selector);
	for (size_t i = 0; i < gw->n_servers; i++) {
		struct config_gateway_server *s = &gw->servers[i];

		free(s->protocol);
		free(s->port_name);
		free(s->name);
		config_strings_free(&s->hosts);
		free(s->tls_mode);
		free(s->credential_name);
		config_strings_free(&s->cipher_suites);
	}
	free(gw->servers);
	memset(gw, 0, sizeof(*gw));
}

void config_service_entry_free(struct config_service_entry *se)
{
	config_meta_free(&se->meta);
	config_strings_free(&se->hosts);
	config_strings_free(&se->addresses);
	for (size_t i = 0; i < se->n_ports; i++) {
		free(se->ports[i].protocol);
		free(se->ports[i].name);
	}
	free(se->ports);
	for (size_t i = 0; i < se->n_endpoints; i++) {
		struct config_se_endpoint *e = &se->endpoints[i];

		free(e->address);
		config_labels_free(&e->ports);
		config_labels_free(&e->labels);
		free(e->network);
		free(e->locality);
		free(e->service_account);
	}
	free(se->endpoints);
	config_strings_free(&se->export_to);
	config_labels_free(&se->workload_selector);
	config_strings_free(&se->subject_alt_names);
	memset(se, 0, sizeof(*se));
}
