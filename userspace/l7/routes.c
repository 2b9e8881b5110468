// SPDX-License-Identifier: Apache-2.0
/*
 * The L7 compiler, routes part (API_SEMANTICS.md §1): the mesh-bound VirtualServices of the
 * service's or the waypoint's namespace whose hosts cover the service (oldest first), their
 * http rules in order, one route per match block as Istio builds them for waypoints
 * (listener_waypoint.go: blocks with sourceLabels are dropped, a rule without match ends the
 * list); tcp rules for the other ports. With none, Gateway API routes (gwapi.c) or the
 * default route to the service itself. When no route matches a request the waypoint answers
 * 404 (NR): Istio adds no fallback route.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile_priv.h"
#include "lib/grpc_status.h"
#include "lib/retry_on.h"

int l7_parse_retry_on(const char *s, struct l7_retry *r)
{
	char *copy = strdup(s), *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		t += strspn(t, " ");
		t[strcspn(t, " ")] = '\0';
		for (unsigned int i = 0; i < L7_RETRY_NAMES; i++)
			if (!strcmp(t, retry_on_names[i]))
				r->retry_on |= 1u << i;
		/* A status code implies retriable-status-codes (Istio's parseRetryOn). */
		if (strlen(t) == 3 && strspn(t, "0123456789") == 3) {
			uint16_t *c = realloc(r->codes, (r->n_codes + 1) * sizeof(*c));

			if (!c) {
				free(copy);
				return -ENOMEM;
			}
			r->codes = c;
			r->codes[r->n_codes++] = (uint16_t)atoi(t);
			r->retry_on |= L7_RETRY_RETRIABLE_STATUS_CODES;
		}
	}
	free(copy);
	return 0;
}

void l7_default_retry(struct l7_retry *r)
{
	memset(r, 0, sizeof(*r));
	r->attempts = 2;
	r->retry_on = L7_RETRY_CONNECT_FAILURE | L7_RETRY_REFUSED_STREAM |
		      L7_RETRY_GRPC_UNAVAILABLE | L7_RETRY_GRPC_CANCELLED |
		      L7_RETRY_RETRIABLE_STATUS_CODES;
	r->backoff_base_ms = 25;
	r->backoff_max_ms = 250;
	r->ignore_previous_hosts = true;
}

/* Istio's retry.ConvertPolicy. */
static int vs_retry(const struct config_vs_route *vr, struct l7_retry *r)
{
	l7_default_retry(r);
	if (!vr->has_retries)
		return 0;
	if (vr->retry_attempts <= 0) {
		memset(r, 0, sizeof(*r)); /* attempts 0 disables retries */
		return 0;
	}
	r->attempts = (uint32_t)vr->retry_attempts;
	if (vr->retry_on && *vr->retry_on) {
		r->retry_on = 0; /* a retryOn replaces the default conditions */
		if (l7_parse_retry_on(vr->retry_on, r))
			return -ENOMEM;
	}
	r->per_try_timeout_ms = vr->retry_per_try_timeout_ms;
	if (vr->retry_ignore_previous_hosts >= 0)
		r->ignore_previous_hosts = vr->retry_ignore_previous_hosts;
	if (vr->retry_backoff_ms) {
		r->backoff_base_ms = vr->retry_backoff_ms;
		r->backoff_max_ms = 10 * vr->retry_backoff_ms; /* Envoy's default max */
	}
	return 0;
}

static uint32_t ppm(double percent)
{
	return (uint32_t)(percent * 10000.0 + 0.5); /* percent is in [0, 100] */
}

int l7_vs_dest(struct l7_ctx *ctx, const struct config_destination *d, const char *ns,
	       uint32_t weight, struct l7_destination *out)
{
	char h[512];

	l7_fqdn(d->host, ns, h, sizeof(h));
	out->host = strdup(h);
	out->subset = l7_strdup(d->subset);
	out->port = d->port;
	out->weight = weight;
	out->unknown = !l7_host_known(ctx->in->cfg, h);
	if (!out->host || (d->subset && !out->subset))
		return -ENOMEM;
	return l7_copy_headers(&out->headers, &d->headers);
}

static int string_match(const struct config_string_match *m, bool ignore_case,
			struct l7_string_match *out)
{
	static const enum l7_match_type map[] = {L7_MATCH_ANY, L7_MATCH_EXACT, L7_MATCH_PREFIX,
						 L7_MATCH_REGEX};

	out->type = map[m->type];
	out->ignore_case = ignore_case && out->type != L7_MATCH_REGEX;
	out->value = l7_strdup(m->value);
	return m->value && !out->value ? -ENOMEM : 0;
}

static int header_matches(const struct config_header_match *h, size_t n, bool invert, bool lower,
			  struct l7_header_match *out, size_t *nout)
{
	for (size_t i = 0; i < n; i++) {
		struct l7_header_match *o = &out[(*nout)++];

		o->name = strdup(h[i].name);
		if (!o->name)
			return -ENOMEM;
		for (char *c = o->name; lower && *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		o->invert = invert;
		/* "regex: *" is not RE2: Istio reads it as presence. */
		if (h[i].match.type == CONFIG_MATCH_REGEX && !strcmp(h[i].match.value, "*"))
			continue;
		if (string_match(&h[i].match, false, &o->match))
			return -ENOMEM;
	}
	return 0;
}

int l7_vs_match(const struct config_route_match *m, struct l7_match *out)
{
	int err = string_match(&m->uri, m->ignore_uri_case, &out->path);

	err = err ? err : string_match(&m->scheme, false, &out->scheme);
	err = err ? err : string_match(&m->method, false, &out->method);
	err = err ? err : string_match(&m->authority, false, &out->authority);
	if (err)
		return err;
	out->headers = calloc(m->n_headers + m->n_without_headers + 1, sizeof(*out->headers));
	out->query = calloc(m->n_query_params + 1, sizeof(*out->query));
	if (!out->headers || !out->query)
		return -ENOMEM;
	out->port = m->port;
	err = header_matches(m->headers, m->n_headers, false, true, out->headers, &out->n_headers);
	err = err ? err
		  : header_matches(m->without_headers, m->n_without_headers, true, true,
				   out->headers, &out->n_headers);
	return err ? err
		   : header_matches(m->query_params, m->n_query_params, false, false, out->query,
				    &out->n_query);
}

static int cors_copy(struct config_cors *d, const struct config_cors *s)
{
	*d = *s;
	d->allow_origins = calloc(s->n_allow_origins + 1, sizeof(*d->allow_origins));
	memset(&d->allow_methods, 0, sizeof(d->allow_methods));
	memset(&d->allow_headers, 0, sizeof(d->allow_headers));
	memset(&d->expose_headers, 0, sizeof(d->expose_headers));
	if (!d->allow_origins)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_allow_origins; i++) {
		d->allow_origins[i].type = s->allow_origins[i].type;
		d->allow_origins[i].value = l7_strdup(s->allow_origins[i].value);
		if (s->allow_origins[i].value && !d->allow_origins[i].value)
			return -ENOMEM;
	}
	if (l7_copy_strings(&d->allow_methods, &s->allow_methods) ||
	    l7_copy_strings(&d->allow_headers, &s->allow_headers) ||
	    l7_copy_strings(&d->expose_headers, &s->expose_headers))
		return -ENOMEM;
	return 0;
}

/* One route of http rule @vr for match block @m (NULL: the rule has no match). */
int l7_vs_route(struct l7_ctx *ctx, const struct config_virtual_service *vs,
		const struct config_vs_route *vr, size_t rule, const struct config_route_match *m,
		struct l7_route *r)
{
	const char *ns = vs->meta.namespace;
	bool prefix = m && m->uri.type == CONFIG_MATCH_PREFIX;
	int err = 0;

	r->name = l7_strdup(vr->name);
	if (asprintf(&r->source, "VirtualService %s/%s http[%zu]", ns, vs->meta.name, rule) < 0)
		r->source = NULL;
	if (!r->source || (vr->name && !r->name))
		return -ENOMEM;
	if (m) {
		r->matches = calloc(1, sizeof(*r->matches));
		if (!r->matches)
			return -ENOMEM;
		r->n_matches = 1;
		err = l7_vs_match(m, &r->matches[0]);
	}
	r->dests = calloc(vr->n_route + 1, sizeof(*r->dests));
	r->mirrors = calloc(vr->n_mirrors + 2, sizeof(*r->mirrors));
	if (err || !r->dests || !r->mirrors)
		return -ENOMEM;
	if (vr->has_redirect) {
		const struct config_http_redirect *rd = &vr->redirect;

		r->action = L7_ACTION_REDIRECT;
		r->redirect.scheme = l7_strdup(rd->scheme && *rd->scheme ? rd->scheme : NULL);
		r->redirect.host =
		    l7_strdup(rd->authority && *rd->authority ? rd->authority : NULL);
		r->redirect.port = rd->port;
		r->redirect.derive_port = rd->derive_port;
		r->redirect.path = l7_strdup(rd->uri && *rd->uri ? rd->uri : NULL);
		r->redirect.prefix = l7_strdup(rd->prefix_rewrite);
		r->redirect.keep_query = true;
		r->redirect.code = rd->code;
	} else if (vr->has_direct_response) {
		r->action = L7_ACTION_DIRECT;
		r->direct_status = vr->direct_response_status;
		if (vr->direct_response_body) {
			r->direct_body = malloc(vr->direct_response_body_len + 1);
			if (!r->direct_body)
				return -ENOMEM;
			memcpy(r->direct_body, vr->direct_response_body,
			       vr->direct_response_body_len + 1);
			r->direct_body_len = vr->direct_response_body_len;
		}
	}
	for (size_t i = 0; i < vr->n_route && !err; i++) {
		/* One destination takes everything; weight 0 takes nothing. */
		uint32_t w = vr->n_route == 1 ? 100 : (uint32_t)vr->route[i].weight;

		if (!w)
			continue;
		err = l7_vs_dest(ctx, &vr->route[i], ns, w, &r->dests[r->n_dests++]);
	}
	/* rewrite.uri replaces the matched prefix after a prefix match, else the whole path. */
	if (vr->rewrite_uri && *vr->rewrite_uri) {
		if (prefix)
			r->rewrite.prefix = strdup(vr->rewrite_uri);
		else
			r->rewrite.path = strdup(vr->rewrite_uri);
	}
	r->rewrite.regex = l7_strdup(vr->rewrite_regex);
	r->rewrite.regex_sub = l7_strdup(vr->rewrite_regex_sub);
	r->rewrite.authority = l7_strdup(
	    vr->rewrite_authority && *vr->rewrite_authority ? vr->rewrite_authority : NULL);
	r->timeout_ms = vr->timeout_ms;
	err = err ? err : vs_retry(vr, &r->retry);
	if (vr->has_fault) {
		r->fault.delay = vr->fault.has_delay;
		r->fault.delay_ms = vr->fault.delay_ms;
		r->fault.delay_ppm = ppm(vr->fault.delay_percent);
		r->fault.abort = vr->fault.has_abort;
		r->fault.abort_http = vr->fault.abort_status;
		r->fault.abort_grpc = grpc_status_code(vr->fault.abort_grpc_status);
		r->fault.abort_ppm = ppm(vr->fault.abort_percent);
	} else {
		r->fault.abort_grpc = -1;
	}
	if (vr->has_mirror && !err) {
		r->mirrors[0].ppm = ppm(vr->mirror_percent);
		err = l7_vs_dest(ctx, &vr->mirror, ns, 100, &r->mirrors[r->n_mirrors++].dest);
	}
	for (size_t i = 0; i < vr->n_mirrors && !err; i++) {
		r->mirrors[r->n_mirrors].ppm = ppm(vr->mirrors[i].percent);
		err = l7_vs_dest(ctx, &vr->mirrors[i].destination, ns, 100,
				 &r->mirrors[r->n_mirrors++].dest);
	}
	if (!err && vr->cors.present)
		err = cors_copy(&r->cors, &vr->cors);
	return err ? err : l7_copy_headers(&r->headers, &vr->headers);
}

static bool binds_mesh(const struct config_strings *gateways)
{
	return !gateways->n || config_strings_has(gateways, "mesh");
}

/* A host names the service by short name, FQDN, wildcard or its VIP. */
static bool vs_applies(struct l7_ctx *ctx, const struct config_virtual_service *vs)
{
	struct in_addr vip = {.s_addr = ctx->svc->vip};
	char h[512], ip[INET_ADDRSTRLEN];

	if (!binds_mesh(&vs->gateways) || (strcmp(vs->meta.namespace, ctx->svc->namespace) &&
					   strcmp(vs->meta.namespace, ctx->wp->namespace)))
		return false;
	inet_ntop(AF_INET, &vip, ip, sizeof(ip));
	for (size_t i = 0; i < vs->hosts.n; i++) {
		l7_fqdn(vs->hosts.items[i], vs->meta.namespace, h, sizeof(h));
		if (l7_host_covers(h, ctx->svc->hostname) ||
		    (ctx->svc->vip && !strcmp(vs->hosts.items[i], ip)))
			return true;
	}
	return false;
}

static int vs_cmp(const void *a, const void *b)
{
	return l7_meta_cmp(&(*(const struct config_virtual_service *const *)a)->meta,
			   &(*(const struct config_virtual_service *const *)b)->meta);
}

int l7_grow_routes(struct l7_service *s, size_t more)
{
	struct l7_route *r = realloc(s->routes, (s->n_routes + more + 1) * sizeof(*r));

	if (!r)
		return -ENOMEM;
	memset(r + s->n_routes, 0, (more + 1) * sizeof(*r));
	s->routes = r;
	return 0;
}

static int vs_http_routes(struct l7_ctx *ctx, const struct config_virtual_service *vs)
{
	size_t rule = 0;

	for (size_t i = 0; i < vs->n_routes; i++) {
		const struct config_vs_route *vr = &vs->routes[i];
		int err;

		if (vr->type != CONFIG_ROUTE_HTTP)
			continue;
		if (vr->has_delegate) { /* not supported: the rule is skipped */
			rule++;
			continue;
		}
		if (l7_grow_routes(ctx->svc, vr->n_match ? vr->n_match : 1))
			return -ENOMEM;
		if (!vr->n_match)
			return l7_vs_route(ctx, vs, vr, rule, NULL,
					   &ctx->svc->routes[ctx->svc->n_routes++]);
		for (size_t j = 0; j < vr->n_match; j++) {
			const struct config_route_match *m = &vr->match[j];

			/* In ambient a match on client labels or another gateway never holds. */
			if (m->source_labels.n || (m->gateways.n && !binds_mesh(&m->gateways)))
				continue;
			err = l7_vs_route(ctx, vs, vr, rule, m,
					  &ctx->svc->routes[ctx->svc->n_routes++]);
			if (err)
				return err;
			if (m->empty)
				return 0; /* a catch-all ends the list */
		}
		rule++;
	}
	return 0;
}

static int vs_tcp_routes(struct l7_ctx *ctx, const struct config_virtual_service *vs)
{
	struct l7_service *s = ctx->svc;
	size_t rule = 0;

	for (size_t i = 0; i < vs->n_routes; i++) {
		const struct config_vs_route *vr = &vs->routes[i];
		size_t nm = vr->n_match ? vr->n_match : 1;
		struct l7_tcp_route *t;

		if (vr->type != CONFIG_ROUTE_TCP)
			continue;
		t = realloc(s->tcp, (s->n_tcp + nm + 1) * sizeof(*t));
		if (!t)
			return -ENOMEM;
		s->tcp = t;
		for (size_t j = 0; j < nm; j++) {
			const struct config_route_match *m = vr->n_match ? &vr->match[j] : NULL;
			struct l7_tcp_route *tr;

			if (m && m->source_labels.n)
				continue;
			tr = &s->tcp[s->n_tcp++];
			memset(tr, 0, sizeof(*tr));
			if (asprintf(&tr->source, "VirtualService %s/%s tcp[%zu]",
				     vs->meta.namespace, vs->meta.name, rule) < 0) {
				tr->source = NULL;
				return -ENOMEM;
			}
			tr->port = m ? m->port : 0;
			tr->dests = calloc(vr->n_route + 1, sizeof(*tr->dests));
			if (!tr->dests ||
			    (m && l7_copy_strings(&tr->subnets, &m->destination_subnets)))
				return -ENOMEM;
			for (size_t k = 0; k < vr->n_route; k++) {
				uint32_t w = vr->n_route == 1 ? 100 : (uint32_t)vr->route[k].weight;

				if (w && l7_vs_dest(ctx, &vr->route[k], vs->meta.namespace, w,
						    &tr->dests[tr->n_dests++]))
					return -ENOMEM;
			}
		}
		rule++;
	}
	return 0;
}

static int default_route(struct l7_ctx *ctx)
{
	struct l7_route *r;

	if (l7_grow_routes(ctx->svc, 1))
		return -ENOMEM;
	r = &ctx->svc->routes[ctx->svc->n_routes++];
	r->source = strdup("default");
	r->dests = calloc(2, sizeof(*r->dests));
	if (!r->source || !r->dests)
		return -ENOMEM;
	r->n_dests = 1;
	r->dests[0].host = strdup(ctx->svc->hostname);
	r->dests[0].weight = 100;
	r->fault.abort_grpc = -1;
	l7_default_retry(&r->retry);
	return r->dests[0].host ? 0 : -ENOMEM;
}

int l7_compile_routes(struct l7_ctx *ctx)
{
	const struct config *cfg = ctx->in->cfg;
	const struct config_virtual_service **vss;
	size_t n = 0, bound = 0;
	int err = 0;

	if (ctx->svc->workload) {
		ctx->svc->routes_kind = L7_ROUTES_DEFAULT;
		return default_route(ctx);
	}
	vss = calloc(cfg->n_virtual_services + 1, sizeof(*vss));
	if (!vss)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_virtual_services; i++)
		if (vs_applies(ctx, &cfg->virtual_services[i]))
			vss[n++] = &cfg->virtual_services[i];
	qsort(vss, n, sizeof(*vss), vs_cmp);
	for (size_t i = 0; i < n && !err; i++) {
		err = vs_http_routes(ctx, vss[i]);
		err = err ? err : vs_tcp_routes(ctx, vss[i]);
	}
	free(vss);
	if (err)
		return err;
	if (ctx->svc->n_routes || ctx->svc->n_tcp) {
		ctx->svc->routes_kind = L7_ROUTES_VIRTUAL_SERVICE;
		/* Only tcp rules: HTTP ports keep the default route. */
		return ctx->svc->n_routes ? 0 : default_route(ctx);
	}
	err = l7_compile_gateway_api(ctx, &bound);
	if (err || bound)
		return err;
	ctx->svc->routes_kind = L7_ROUTES_DEFAULT;
	return default_route(ctx);
}
