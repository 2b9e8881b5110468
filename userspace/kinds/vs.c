// SPDX-License-Identifier: Apache-2.0
/*
 * VirtualService (networking.istio.io v1, v1beta1, v1alpha3; API_SEMANTICS.md §1 and the
 * webhook rules of §1.5). http[], tcp[] and tls[] become one list of routes tagged by type.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/re2.h"
#include "decode/decode.h"

#define VS struct config_virtual_service
#define RT struct config_vs_route
#define MT struct config_route_match
#define DST struct config_destination

static int dur(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_duration(ctx, v, NULL);
}

/* ---- StringMatch ---- */

/* Istio compiles regexes with RE2: ambit checks RE2's syntax and compiles with PCRE2 (re2.h). */
int cfg_check_regex(struct cfg_ctx *ctx, yaml_node_t *v, const char *re)
{
	char why[160];

	if (!*re) {
		cfg_error(ctx, v, "regex must not be empty");
		return -EINVAL;
	}
	if (strlen(re) > 1024) {
		cfg_error(ctx, v, "regex is longer than 1024 characters");
		return -EINVAL;
	}
	if (re2_check(re, why, sizeof(why))) {
		cfg_error(ctx, v, "invalid regex \"%.64s\": %s", re, why);
		return -EINVAL;
	}
	return 0;
}

static int sm_set(struct cfg_ctx *ctx, yaml_node_t *v, struct config_string_match *m, int type)
{
	if (m->type) {
		cfg_error(ctx, v, "only one of exact, prefix or regex can be set");
		return -EINVAL;
	}
	if (cfg_get_str(ctx, v, &m->value))
		return -EINVAL;
	m->type = type;
	return type == CONFIG_MATCH_REGEX ? cfg_check_regex(ctx, v, m->value) : 0;
}

static int sm_exact(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return sm_set(ctx, v, o, CONFIG_MATCH_EXACT);
}

static int sm_prefix(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return sm_set(ctx, v, o, CONFIG_MATCH_PREFIX);
}

static int sm_regex(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return sm_set(ctx, v, o, CONFIG_MATCH_REGEX);
}

static const struct cfg_field sm_fields[] = {
    {"exact", CFG_T_STR, sm_exact, 0},
    {"prefix", CFG_T_STR, sm_prefix, 0},
    {"regex", CFG_T_STR, sm_regex, 0},
    {NULL, 0, NULL, 0},
};

/* @empty_prefix_ok: only uri may use prefix "" (it matches every path). */
int cfg_vs_string_match(struct cfg_ctx *ctx, yaml_node_t *v, struct config_string_match *m,
			bool empty_prefix_ok)
{
	if (cfg_walk_map(ctx, v, sm_fields, m))
		return -EINVAL;
	if (m->type == CONFIG_MATCH_PREFIX && !*m->value && !empty_prefix_ok) {
		cfg_error(ctx, v, "empty prefix match is only allowed for uri");
		return -EINVAL;
	}
	return 0;
}

static bool header_name_ok(const char *s)
{
	/* JWT claim routing: @request.auth.claims.<c> or @request.auth.claims[<c>]. */
	if (!strncmp(s, "@request.auth.claims", 20))
		return (s[20] == '.' && s[21]) ||
		       (s[20] == '[' && s[21] && s[strlen(s) - 1] == ']');
	if (*s == ':')
		s++;
	return *s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			       "!#$%&'*+-.^_`|~") == strlen(s);
}

/* headers / withoutHeaders, or (@query) queryParams, whose names are not header names. */
static int header_map(struct cfg_ctx *ctx, yaml_node_t *v, struct config_header_match **out,
		      size_t *n, bool query)
{
	size_t len = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
	int before = ctx->nerrors;

	*out = calloc(len ? len : 1, sizeof(**out));
	if (!*out) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = cfg_node(ctx, p->key), *val = cfg_node(ctx, p->value);
		const char *name = (const char *)k->data.scalar.value;
		struct config_header_match *h = &(*out)[*n];
		size_t saved = cfg_path_push(ctx, name);

		if (!query && !header_name_ok(name)) {
			cfg_error(ctx, k, "invalid header name \"%.64s\"", name);
		} else if (query && !*name) {
			cfg_error(ctx, k, "empty query parameter name");
		} else if (cfg_is_null(val)) {
			cfg_error(ctx, val, "null %s match for \"%.64s\": use {} to test presence",
				  query ? "query parameter" : "header", name);
		} else if (cfg_vs_string_match(ctx, val, &h->match, false) == 0) {
			if (!(h->name = strdup(name)))
				cfg_error(ctx, k, "out of memory");
			(*n)++;
			cfg_path_pop(ctx, saved);
			continue;
		}
		free(h->match.value);
		memset(h, 0, sizeof(*h));
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

/* ---- match blocks ---- */

static int m_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((MT *)o)->name);
}
static int m_uri(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_vs_string_match(ctx, v, &((MT *)o)->uri, true);
}
static int m_scheme(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_vs_string_match(ctx, v, &((MT *)o)->scheme, false);
}
static int m_method(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_vs_string_match(ctx, v, &((MT *)o)->method, false);
}
static int m_authority(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_vs_string_match(ctx, v, &((MT *)o)->authority, false);
}
static int m_headers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return header_map(ctx, v, &((MT *)o)->headers, &((MT *)o)->n_headers, false);
}
static int m_without(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return header_map(ctx, v, &((MT *)o)->without_headers, &((MT *)o)->n_without_headers,
			  false);
}
static int m_port(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 1, 65535, &n))
		return -EINVAL;
	((MT *)o)->port = (uint16_t)n;
	return 0;
}
static int m_source_labels(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_labels(ctx, v, false, &((MT *)o)->source_labels);
}
static int m_source_ns(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_name(ctx, v, CFG_NAME_LABEL, &((MT *)o)->source_namespace);
}
static int m_gateways(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_strings(ctx, v, CFG_S_NONEMPTY, &((MT *)o)->gateways);
}
static int m_query(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return header_map(ctx, v, &((MT *)o)->query_params, &((MT *)o)->n_query_params, true);
}
static int m_ignore_case(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_bool(ctx, v, &((MT *)o)->ignore_uri_case);
}
static int m_subnets(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	MT *m = o;
	int before = ctx->nerrors;

	if (cfg_get_strings(ctx, v, CFG_S_NONEMPTY, &m->destination_subnets))
		return -EINVAL;
	for (size_t i = 0; i < m->destination_subnets.n; i++)
		if (!cfg_cidr_ok(m->destination_subnets.items[i]))
			cfg_error(ctx, cfg_seq_item(ctx, v, i), "\"%.64s\" is not an IP or CIDR",
				  m->destination_subnets.items[i]);
	return ctx->nerrors == before ? 0 : -EINVAL;
}
static int m_sni(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	MT *m = o;
	int before = ctx->nerrors;

	if (cfg_get_strings(ctx, v, CFG_S_NONEMPTY, &m->sni_hosts))
		return -EINVAL;
	if (!m->sni_hosts.n)
		cfg_error(ctx, v, "tls match must have at least one SNI host");
	for (size_t i = 0; i < m->sni_hosts.n; i++)
		if (!cfg_wildcard_host_ok(m->sni_hosts.items[i], true))
			cfg_error(ctx, cfg_seq_item(ctx, v, i), "\"%.64s\" is not a valid SNI host",
				  m->sni_hosts.items[i]);
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static const struct cfg_field http_match_fields[] = {
    {"name", CFG_T_STR, m_name, 0},
    {"uri", CFG_T_MAP, m_uri, 0},
    {"scheme", CFG_T_MAP, m_scheme, 0},
    {"method", CFG_T_MAP, m_method, 0},
    {"authority", CFG_T_MAP, m_authority, 0},
    {"headers", CFG_T_MAP, m_headers, 0},
    {"withoutHeaders", CFG_T_MAP, m_without, 0},
    {"queryParams", CFG_T_MAP, m_query, 0},
    {"port", CFG_T_INT, m_port, 0},
    {"sourceLabels", CFG_T_MAP, m_source_labels, 0},
    {"sourceNamespace", CFG_T_STR, m_source_ns, 0},
    {"gateways", CFG_T_SEQ, m_gateways, 0},
    {"ignoreUriCase", CFG_T_BOOL, m_ignore_case, 0},
    {"statPrefix", CFG_T_STR, NULL, 0},
    {NULL, 0, NULL, 0},
};

static const struct cfg_field tcp_match_fields[] = {
    {"destinationSubnets", CFG_T_SEQ, m_subnets, 0},
    {"port", CFG_T_INT, m_port, 0},
    {"sourceLabels", CFG_T_MAP, m_source_labels, 0},
    {"sourceNamespace", CFG_T_STR, m_source_ns, 0},
    {"gateways", CFG_T_SEQ, m_gateways, 0},
    {"sourceSubnet", CFG_T_STR, NULL, 0},
    {NULL, 0, NULL, 0},
};

static const struct cfg_field tls_match_fields[] = {
    {"sniHosts", CFG_T_SEQ, m_sni, CFG_F_REQUIRED},
    {"destinationSubnets", CFG_T_SEQ, m_subnets, 0},
    {"port", CFG_T_INT, m_port, 0},
    {"sourceLabels", CFG_T_MAP, m_source_labels, 0},
    {"sourceNamespace", CFG_T_STR, m_source_ns, 0},
    {"gateways", CFG_T_SEQ, m_gateways, 0},
    {NULL, 0, NULL, 0},
};

/* ---- destinations ---- */

static int d_host(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	DST *d = o;

	if (cfg_get_str(ctx, v, &d->host))
		return -EINVAL;
	if (!cfg_wildcard_host_ok(d->host, false)) {
		cfg_error(ctx, v, "\"%.64s\" is not a valid destination host%s", d->host,
			  strcmp(d->host, "*") ? "" : " (\"*\" is not allowed)");
		return -EINVAL;
	}
	return 0;
}
static int d_subset(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_name(ctx, v, CFG_NAME_LABEL, &((DST *)o)->subset);
}
static int d_port_number(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 1, 65535, &n))
		return -EINVAL;
	((DST *)o)->port = (uint16_t)n;
	return 0;
}
static const struct cfg_field d_port_fields[] = {
    {"number", CFG_T_INT, d_port_number, 0},
    {NULL, 0, NULL, 0},
};
static int d_port(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, d_port_fields, o);
}
static const struct cfg_field destination_fields[] = {
    {"host", CFG_T_STR, d_host, CFG_F_REQUIRED},
    {"subset", CFG_T_STR, d_subset, 0},
    {"port", CFG_T_MAP, d_port, 0},
    {NULL, 0, NULL, 0},
};
static int rd_destination(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, destination_fields, o);
}
static int rd_weight(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	DST *d = o;
	long long n;

	if (cfg_get_int(ctx, v, -2147483648LL, 2147483647, &n))
		return -EINVAL;
	if (n < 0) {
		cfg_error(ctx, v, "weight %lld must not be negative", n);
		return -EINVAL;
	}
	d->has_weight = true;
	d->weight = (int32_t)n;
	return 0;
}

static int rd_headers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_vs_headers(ctx, v, &((DST *)o)->headers);
}

static const struct cfg_field route_dest_fields[] = {
    {"destination", CFG_T_MAP, rd_destination, CFG_F_REQUIRED},
    {"weight", CFG_T_INT, rd_weight, 0},
    {"headers", CFG_T_MAP, rd_headers, 0},
    {NULL, 0, NULL, 0},
};

static int route_dests(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RT *r = o;
	long long sum = 0;

	if (cfg_parse_seq(ctx, v, route_dest_fields, sizeof(*r->route), (void **)&r->route,
			  &r->n_route, false, "route"))
		return -EINVAL;
	for (size_t i = 0; i < r->n_route; i++)
		sum += r->route[i].weight;
	if (r->n_route > 1 && sum == 0) {
		cfg_error(ctx, v,
			  "total destination weight is 0: with several destinations the "
			  "weights must not all be 0 (nothing would receive traffic)");
		return -EINVAL;
	}
	return 0;
}

static int parse_matches(struct cfg_ctx *ctx, yaml_node_t *v, RT *r, const struct cfg_field *fields)
{
	if (cfg_parse_seq(ctx, v, fields, sizeof(*r->match), (void **)&r->match, &r->n_match, false,
			  "match"))
		return -EINVAL;
	for (size_t i = 0; i < r->n_match; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		size_t keys =
		    (size_t)(item->data.mapping.pairs.top - item->data.mapping.pairs.start);
		size_t inert = (cfg_map_get(ctx, item, "name") != NULL) +
			       (cfg_map_get(ctx, item, "ignoreUriCase") != NULL) +
			       (cfg_map_get(ctx, item, "statPrefix") != NULL);
		MT *m = &r->match[i];

		m->line = (int)item->start_mark.line + 1;
		/* uri prefix "/" or "" also matches every request. */
		if (m->uri.type == CONFIG_MATCH_PREFIX &&
		    (!strcmp(m->uri.value, "/") || !*m->uri.value))
			inert++;
		m->empty = keys == inert;
	}
	return 0;
}

static int tcp_match(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return parse_matches(ctx, v, o, tcp_match_fields);
}

static int tls_match(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return parse_matches(ctx, v, o, tls_match_fields);
}

static const struct cfg_field tcp_route_fields[] = {
    {"match", CFG_T_SEQ, tcp_match, 0},
    {"route", CFG_T_SEQ, route_dests, 0},
    {NULL, 0, NULL, 0},
};

static const struct cfg_field tls_route_fields[] = {
    {"match", CFG_T_SEQ, tls_match, CFG_F_REQUIRED},
    {"route", CFG_T_SEQ, route_dests, 0},
    {NULL, 0, NULL, 0},
};

int cfg_vs_http_match(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return parse_matches(ctx, v, o, http_match_fields);
}

int cfg_vs_route_dests(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return route_dests(ctx, v, o);
}

int cfg_vs_destination(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, destination_fields, o);
}

int cfg_vs_duration(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return dur(ctx, v, o);
}

/* Parses http[] / tcp[] / tls[] and appends them to vs->routes in order. */
static int routes(struct cfg_ctx *ctx, yaml_node_t *v, VS *vs, enum config_route_type type)
{
	size_t n = cfg_seq_len(v);
	int before = ctx->nerrors;
	RT *arr;

	if (n > CFG_MAX_LIST) {
		cfg_error(ctx, v, "more than %d routes", CFG_MAX_LIST);
		return -EINVAL;
	}
	arr = realloc(vs->routes, (vs->n_routes + n + 1) * sizeof(*arr));
	if (!arr) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	vs->routes = arr;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		RT *r = &vs->routes[vs->n_routes++];
		size_t saved = cfg_path_push_index(ctx, i);

		memset(r, 0, sizeof(*r));
		r->type = type;
		r->line = (int)item->start_mark.line + 1;
		r->mirror_percent = 100;
		r->retry_remote_localities = -1;
		r->retry_ignore_previous_hosts = -1;
		if (cfg_is_null(item))
			cfg_error(ctx, item, "null route");
		else if (type == CONFIG_ROUTE_HTTP)
			cfg_vs_http_route(ctx, item, r);
		else if (cfg_walk_map(ctx, item,
				      type == CONFIG_ROUTE_TCP ? tcp_route_fields
							       : tls_route_fields,
				      r) == 0 &&
			 !r->n_route)
			cfg_error(ctx, item, "%s route must have at least one destination",
				  type == CONFIG_ROUTE_TCP ? "TCP" : "TLS");
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int vs_http(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return routes(ctx, v, o, CONFIG_ROUTE_HTTP);
}
static int vs_tcp(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return routes(ctx, v, o, CONFIG_ROUTE_TCP);
}
static int vs_tls(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return routes(ctx, v, o, CONFIG_ROUTE_TLS);
}

static int vs_hosts(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	VS *vs = o;
	int before = ctx->nerrors;

	if (cfg_get_strings(ctx, v, CFG_S_NONEMPTY, &vs->hosts))
		return -EINVAL;
	for (size_t i = 0; i < vs->hosts.n; i++) {
		const char *h = vs->hosts.items[i];
		size_t saved = cfg_path_push_index(ctx, i);

		/* Gateway-bound VSs may list IPs; mesh "*" is checked once gateways are known. */
		if (!cfg_wildcard_host_ok(h, true) && !cfg_ip_ok(h))
			cfg_error(ctx, cfg_seq_item(ctx, v, i), "\"%.64s\" is not a valid host", h);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(vs->hosts.items[j], h))
				cfg_error(ctx, cfg_seq_item(ctx, v, i), "duplicate host \"%.64s\"",
					  h);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int vs_gateways(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	VS *vs = o;
	int before = ctx->nerrors;

	if (cfg_get_strings(ctx, v, CFG_S_NONEMPTY, &vs->gateways))
		return -EINVAL;
	for (size_t i = 0; i < vs->gateways.n; i++) {
		const char *g = vs->gateways.items[i], *slash = strchr(g, '/');
		bool ok;

		if (!strcmp(g, "mesh"))
			continue;
		if (slash) {
			char ns[64];
			size_t l = (size_t)(slash - g);

			ok = l && l < sizeof(ns);
			if (ok) {
				memcpy(ns, g, l);
				ns[l] = '\0';
				ok = cfg_name_ok(ns, CFG_NAME_LABEL) &&
				     cfg_name_ok(slash + 1, CFG_NAME_SUBDOMAIN);
			}
		} else {
			ok = cfg_name_ok(g, CFG_NAME_SUBDOMAIN);
		}
		if (!ok)
			cfg_error(ctx, cfg_seq_item(ctx, v, i),
				  "invalid gateway name \"%.64s\" (want mesh, name or ns/name)", g);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int vs_export_to(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_export_to(ctx, v, &((VS *)o)->export_to);
}

static const struct cfg_field vs_spec_fields[] = {
    {"hosts", CFG_T_SEQ, vs_hosts, 0},
    {"gateways", CFG_T_SEQ, vs_gateways, 0},
    {"http", CFG_T_SEQ, vs_http, 0},
    {"tcp", CFG_T_SEQ, vs_tcp, 0},
    {"tls", CFG_T_SEQ, vs_tls, 0},
    {"exportTo", CFG_T_SEQ, vs_export_to, 0},
    {NULL, 0, NULL, 0},
};

static int vs_spec(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, vs_spec_fields, ((struct cfg_obj *)obj)->obj);
}

const struct cfg_field cfg_vs_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED},
    {"spec", CFG_T_MAP, vs_spec, CFG_F_REQUIRED},
    {"status", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

int cfg_vs_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o)
{
	VS *vs = o->obj;
	yaml_node_t *spec = cfg_map_get(ctx, root, "spec");
	bool mesh = !vs->gateways.n || config_strings_has(&vs->gateways, "mesh");
	int before = ctx->nerrors;
	size_t saved = cfg_path_push(ctx, "spec");

	if (!vs->n_routes && !cfg_map_get(ctx, spec, "http") && !cfg_map_get(ctx, spec, "tcp") &&
	    !cfg_map_get(ctx, spec, "tls"))
		cfg_error(ctx, spec, "http, tcp or tls must be provided in a virtual service");
	/* No hosts: a delegate VS, which only carries http routes for its parent. */
	if (!vs->hosts.n) {
		if (vs->gateways.n)
			cfg_error(ctx, spec,
				  "a delegate virtual service (no hosts) must not set "
				  "gateways");
		for (size_t i = 0; i < vs->n_routes; i++)
			if (vs->routes[i].type != CONFIG_ROUTE_HTTP) {
				cfg_error(ctx, spec,
					  "a delegate virtual service (no hosts) can only "
					  "have http routes");
				break;
			}
	}
	if (mesh && config_strings_has(&vs->hosts, "*"))
		cfg_error(ctx, cfg_map_get(ctx, spec, "hosts"),
			  "wildcard host * is not allowed for virtual services bound to the mesh "
			  "gateway");
	for (size_t i = 0; i < vs->n_routes; i++)
		if (vs->routes[i].has_delegate && !vs->hosts.n)
			cfg_error(ctx, spec, "a delegate virtual service cannot delegate again");
	cfg_path_pop(ctx, saved);
	return ctx->nerrors == before ? 0 : -EINVAL;
}
