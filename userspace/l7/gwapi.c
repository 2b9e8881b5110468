// SPDX-License-Identifier: Apache-2.0
/*
 * The L7 compiler, Gateway API part (API_SEMANTICS.md §7): HTTPRoutes and GRPCRoutes whose
 * parentRef is the Service (GAMMA), from the service's or the waypoint's namespace. Not first
 * match: every (rule, match) becomes one route and the list is sorted by the spec's
 * precedence: an Exact path, then the longest PathPrefix (then RegularExpression, which the spec
 * leaves to implementations), a method match, more header matches, more query matches; ties go
 * to the oldest route, then namespace/name, then rule and match order. A gRPC method match is
 * a path match ("/service/method"). A backend that cannot be used (no such Service, another
 * kind, another namespace's without a ReferenceGrant) answers 500 for its share of requests.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile_priv.h"

struct ranked {
	struct l7_route route;
	const struct config_gw_route *owner;
	size_t rule, match;
	int path_class; /* 0 exact, 1 prefix, 2 regex */
	size_t path_len, n_headers, n_query;
	bool method;
};

static bool parent_is(const struct config_gw_route *r, const struct config_parent_ref *p,
		      const struct l7_service *s)
{
	const char *ns = p->namespace ? p->namespace : r->meta.namespace;

	bool svc = (!*p->group || !strcmp(p->group, "core")) && !strcmp(p->kind, "Service");
	bool entry = !strcmp(p->group, "networking.istio.io") && !strcmp(p->kind, "ServiceEntry");

	/* A route on a ServiceEntry bound to the waypoint takes every host of it (egress). */
	return (svc ? !s->entry : entry && s->entry) && !strcmp(p->name, s->name) &&
	       !strcmp(ns, s->namespace);
}

/* The parentRef port the route binds on; 0: every port; -1: not bound to this service. */
static int bound_port(struct l7_ctx *ctx, const struct config_gw_route *r)
{
	int port = -1;

	if (strcmp(r->meta.namespace, ctx->svc->namespace) &&
	    strcmp(r->meta.namespace, ctx->wp->namespace))
		return -1;
	for (size_t i = 0; i < r->n_parent_refs; i++)
		if (parent_is(r, &r->parent_refs[i], ctx->svc))
			port = port < 0 || !r->parent_refs[i].port ? r->parent_refs[i].port : port;
	return port;
}

static int value_match(const struct config_gw_value_match *m, bool lower, struct l7_header_match *o)
{
	o->name = strdup(m->name);
	o->match.value = strdup(m->value);
	if (!o->name || !o->match.value)
		return -ENOMEM;
	/* HTTP header names are case-insensitive; query parameter names are not. */
	for (char *c = o->name; lower && *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	o->match.type = m->type == CONFIG_GW_MATCH_REGEX ? L7_MATCH_REGEX : L7_MATCH_EXACT;
	return 0;
}

/* Istio's GRPCRoute conversion: the method match as a match on :path. */
static int grpc_path(const struct config_gw_route_match *m, struct l7_string_match *p)
{
	const char *svc = m->grpc_service, *meth = m->grpc_method;
	int n;

	if (!svc && !meth) {
		p->type = L7_MATCH_ANY;
		return 0;
	}
	if (m->grpc_type == CONFIG_GW_MATCH_EXACT && svc && meth) {
		p->type = L7_MATCH_EXACT;
		n = asprintf(&p->value, "/%s/%s", svc, meth);
	} else if (m->grpc_type == CONFIG_GW_MATCH_EXACT && svc) {
		p->type = L7_MATCH_PREFIX;
		n = asprintf(&p->value, "/%s/", svc);
	} else {
		p->type = L7_MATCH_REGEX;
		n = asprintf(&p->value, "/%s/%s", svc ? svc : "[^/]+", meth ? meth : "[^/]+");
	}
	if (n < 0) {
		p->value = NULL;
		return -ENOMEM;
	}
	return 0;
}

int l7_gwapi_backend_dest(struct l7_ctx *ctx, const struct config_gw_route *r,
			  const struct config_backend_ref *b, struct l7_destination *d)
{
	const char *ns = b->namespace ? b->namespace : r->meta.namespace;
	char h[512];

	if ((!*b->group || !strcmp(b->group, "core")) && !strcmp(b->kind, "Service"))
		snprintf(h, sizeof(h), "%s.%s.svc.cluster.local", b->name, ns);
	else if (!strcmp(b->group, "networking.istio.io") && !strcmp(b->kind, "Hostname"))
		snprintf(h, sizeof(h), "%s", b->name);
	else
		snprintf(h, sizeof(h), "%s.%s", b->kind, b->name); /* never a known host */
	d->host = strdup(h);
	d->port = b->port;
	d->weight = (uint32_t)b->weight;
	d->unknown = !l7_host_known(ctx->in->cfg, h);
	if (!d->host)
		return -ENOMEM;
	for (size_t i = 0; i < b->n_filters; i++) {
		const struct config_gw_filter *f = &b->filters[i];
		struct config_header_ops *ops = f->type == CONFIG_GW_FILTER_REQUEST_HEADER
						    ? &d->headers.request
						    : &d->headers.response;

		if ((f->type == CONFIG_GW_FILTER_REQUEST_HEADER ||
		     f->type == CONFIG_GW_FILTER_RESPONSE_HEADER) &&
		    l7_copy_header_ops(ops, &f->headers))
			return -ENOMEM;
	}
	return 0;
}

static int apply_filter(struct l7_ctx *ctx, const struct config_gw_route *r,
			const struct config_gw_filter *f, bool prefix_match, struct l7_route *o)
{
	char *path;

	switch (f->type) {
	case CONFIG_GW_FILTER_REQUEST_HEADER:
		return l7_copy_header_ops(&o->headers.request, &f->headers);
	case CONFIG_GW_FILTER_RESPONSE_HEADER:
		return l7_copy_header_ops(&o->headers.response, &f->headers);
	case CONFIG_GW_FILTER_MIRROR:
		o->mirrors[o->n_mirrors].ppm = (uint32_t)(f->mirror_percent * 10000.0 + 0.5);
		return l7_gwapi_backend_dest(ctx, r, f->mirror, &o->mirrors[o->n_mirrors++].dest);
	case CONFIG_GW_FILTER_REDIRECT:
		o->action = L7_ACTION_REDIRECT;
		o->redirect.code = f->status_code;
		o->redirect.port = f->port;
		o->redirect.keep_query = true;
		o->redirect.scheme = l7_strdup(f->scheme);
		o->redirect.host = l7_strdup(f->hostname);
		path = l7_strdup(f->path);
		if (f->path_mod == CONFIG_GW_PATH_PREFIX && prefix_match)
			o->redirect.prefix = path;
		else if (f->path_mod != CONFIG_GW_PATH_KEEP)
			o->redirect.path = path;
		else
			free(path);
		return 0;
	case CONFIG_GW_FILTER_REWRITE:
		o->rewrite.authority = l7_strdup(f->hostname);
		path = l7_strdup(f->path);
		if (f->path_mod == CONFIG_GW_PATH_PREFIX && prefix_match)
			o->rewrite.prefix = path;
		else if (f->path_mod != CONFIG_GW_PATH_KEEP)
			o->rewrite.path = path;
		else
			free(path);
		return 0;
	default: return 0; /* CORS and ExtensionRef are not applied (analyze says so) */
	}
}

static int rule_route(struct l7_ctx *ctx, const struct config_gw_route *r, size_t ri, size_t mi,
		      int port, struct ranked *out)
{
	const struct config_gw_route_rule *rule = &r->rules[ri];
	const struct config_gw_route_match *m = rule->n_matches ? &rule->matches[mi] : NULL;
	struct l7_route *o = &out->route;
	struct l7_match *lm;
	bool prefix = false;
	size_t n_valid = 0;
	int err = 0;

	out->owner = r;
	out->rule = ri;
	out->match = mi;
	if (asprintf(&o->source, "%s %s/%s rules[%zu]", r->grpc ? "GRPCRoute" : "HTTPRoute",
		     r->meta.namespace, r->meta.name, ri) < 0) {
		o->source = NULL;
		return -ENOMEM;
	}
	o->name = l7_strdup(rule->name);
	o->matches = lm = calloc(1, sizeof(*lm));
	o->dests = calloc(rule->n_backends + 1, sizeof(*o->dests));
	o->mirrors = calloc(rule->n_filters + 1, sizeof(*o->mirrors));
	if (!lm || !o->dests || !o->mirrors || (rule->name && !o->name))
		return -ENOMEM;
	o->n_matches = 1;
	lm->port = (uint16_t)port;
	if (m && !r->grpc) {
		static const enum l7_match_type t[] = {L7_MATCH_EXACT, L7_MATCH_PATH_PREFIX,
						       L7_MATCH_REGEX};

		lm->path.type = t[m->path_type];
		lm->path.value = strdup(m->path);
		if (!lm->path.value)
			return -ENOMEM;
		prefix = m->path_type == CONFIG_GW_MATCH_PREFIX;
		out->path_class = m->path_type == CONFIG_GW_MATCH_EXACT ? 0 : prefix ? 1 : 2;
		out->path_len = strlen(m->path);
		if (m->method) {
			lm->method.type = L7_MATCH_EXACT;
			lm->method.value = strdup(m->method);
			out->method = true;
			if (!lm->method.value)
				return -ENOMEM;
		}
	} else if (m) {
		err = grpc_path(m, &lm->path);
		out->path_class = lm->path.type == L7_MATCH_EXACT ? 0 : 1;
		out->path_len = lm->path.value ? strlen(lm->path.value) : 0;
	}
	if (m && !err) {
		lm->headers = calloc(m->n_headers + 1, sizeof(*lm->headers));
		lm->query = calloc(m->n_query_params + 1, sizeof(*lm->query));
		if (!lm->headers || !lm->query)
			return -ENOMEM;
		for (size_t i = 0; i < m->n_headers && !err; i++)
			err = value_match(&m->headers[i], true, &lm->headers[lm->n_headers++]);
		for (size_t i = 0; i < m->n_query_params && !err; i++)
			err = value_match(&m->query_params[i], false, &lm->query[lm->n_query++]);
		out->n_headers = m->n_headers;
		out->n_query = m->n_query_params;
	}
	for (size_t i = 0; i < rule->n_backends && !err; i++) {
		const struct config_backend_ref *b = &rule->backends[i];
		struct l7_destination *d = &o->dests[o->n_dests];

		if (!b->weight)
			continue;
		err = l7_gwapi_backend_dest(ctx, r, b, d);
		o->n_dests++;
		/*
		 * A Service that does not exist, a kind no route goes to, or (a gateway's route)
		 * another namespace's without a ReferenceGrant: its share answers 500 (the others'
		 * are served).
		 */
		d->invalid =
		    l7_backend_ref_check(ctx->in->cfg, r, b, ctx->own_ns_backends) != L7_BACKEND_OK;
		n_valid += !d->invalid;
	}
	for (size_t i = 0; i < rule->n_filters && !err; i++)
		err = apply_filter(ctx, r, &rule->filters[i], prefix, o);
	if (err)
		return err;
	if (o->action == L7_ACTION_ROUTE && !n_valid) {
		/* No backend to send to: the spec's 500. */
		o->action = L7_ACTION_DIRECT;
		o->direct_status = 500;
	}
	o->fault.abort_grpc = -1;
	o->timeout_ms = rule->timeout_request_ms;
	l7_default_retry(&o->retry);
	o->retry.per_try_timeout_ms = rule->timeout_backend_ms;
	if (rule->has_retry) {
		o->retry.attempts = rule->retry_attempts ? (uint32_t)rule->retry_attempts : 2;
		if (rule->n_retry_codes) {
			o->retry.codes = calloc(rule->n_retry_codes, sizeof(*o->retry.codes));
			if (!o->retry.codes)
				return -ENOMEM;
			memcpy(o->retry.codes, rule->retry_codes,
			       rule->n_retry_codes * sizeof(*o->retry.codes));
			o->retry.n_codes = rule->n_retry_codes;
		}
		if (rule->retry_backoff_ms) {
			o->retry.backoff_base_ms = rule->retry_backoff_ms;
			o->retry.backoff_max_ms = 10 * rule->retry_backoff_ms;
		}
	}
	return 0;
}

static int rank_cmp(const void *pa, const void *pb)
{
	const struct ranked *a = pa, *b = pb;
	int c;

	if (a->path_class != b->path_class)
		return a->path_class - b->path_class;
	if (a->path_len != b->path_len)
		return a->path_len > b->path_len ? -1 : 1;
	if (a->method != b->method)
		return a->method ? -1 : 1;
	if (a->n_headers != b->n_headers)
		return a->n_headers > b->n_headers ? -1 : 1;
	if (a->n_query != b->n_query)
		return a->n_query > b->n_query ? -1 : 1;
	c = l7_meta_cmp(&a->owner->meta, &b->owner->meta);
	if (c)
		return c;
	if (a->rule != b->rule)
		return a->rule < b->rule ? -1 : 1;
	return (a->match > b->match) - (a->match < b->match);
}

/* Every (rule, match) of route @r, bound on @port (0: any), into @all. */
static int add_rules(struct l7_ctx *ctx, const struct config_gw_route *r, int port,
		     struct ranked **all, size_t *nall, size_t *cap)
{
	for (size_t ri = 0; ri < r->n_rules; ri++) {
		size_t nm = r->rules[ri].n_matches ? r->rules[ri].n_matches : 1;

		for (size_t mi = 0; mi < nm; mi++) {
			if (*nall == *cap) {
				size_t nc = *cap ? *cap * 2 : 16;
				struct ranked *g = realloc(*all, nc * sizeof(*g));

				if (!g)
					return -ENOMEM;
				*all = g;
				*cap = nc;
			}
			memset(&(*all)[*nall], 0, sizeof(**all));
			if (rule_route(ctx, r, ri, mi, port, &(*all)[(*nall)++]))
				return -ENOMEM;
		}
	}
	return 0;
}

static int collect(struct l7_ctx *ctx, const struct config_gw_route *routes, size_t n,
		   struct ranked **all, size_t *nall, size_t *cap)
{
	int err = 0;

	for (size_t i = 0; i < n && !err; i++) {
		int port = bound_port(ctx, &routes[i]);

		if (port >= 0)
			err = add_rules(ctx, &routes[i], port, all, nall, cap);
	}
	return err;
}

/* @all ranked by the spec's precedence, appended to the service's routes; frees @all. */
static int append_ranked(struct l7_ctx *ctx, struct ranked *all, size_t n, int err)
{
	if (!err && n) {
		qsort(all, n, sizeof(*all), rank_cmp);
		err = l7_grow_routes(ctx->svc, n);
	}
	for (size_t i = 0; i < n; i++) {
		if (!err)
			ctx->svc->routes[ctx->svc->n_routes++] = all[i].route;
		else
			l7_route_clear(&all[i].route);
	}
	free(all);
	return err;
}

int l7_compile_gateway_api(struct l7_ctx *ctx, size_t *n_bound)
{
	const struct config *cfg = ctx->in->cfg;
	struct ranked *all = NULL;
	size_t n = 0, cap = 0;
	int err;

	err = collect(ctx, cfg->http_routes, cfg->n_http_routes, &all, &n, &cap);
	err = err ? err : collect(ctx, cfg->grpc_routes, cfg->n_grpc_routes, &all, &n, &cap);
	*n_bound = n;
	err = append_ranked(ctx, all, n, err);
	if (!err && n)
		ctx->svc->routes_kind = L7_ROUTES_GATEWAY_API;
	return err;
}

int l7_gwapi_append_routes(struct l7_ctx *ctx, const struct config_gw_route *const *routes,
			   size_t n)
{
	struct ranked *all = NULL;
	size_t nall = 0, cap = 0;
	int err = 0;

	for (size_t i = 0; i < n && !err; i++)
		err = add_rules(ctx, routes[i], 0, &all, &nall, &cap);
	return append_ranked(ctx, all, nall, err);
}
