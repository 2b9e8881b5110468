// SPDX-License-Identifier: Apache-2.0
/* Route selection and weighted destination choice (route.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "ambit/re2.h"
#include "route.h"

struct compiled {
	const struct l7_string_match *m;
	struct re2 *re;
};

struct wp_route_table {
	const struct l7_service *svc;
	size_t n;
	struct compiled *res; /* sorted by m */
};

static int cmp_compiled(const void *a, const void *b)
{
	const struct l7_string_match *x = ((const struct compiled *)a)->m;
	const struct l7_string_match *y = ((const struct compiled *)b)->m;

	return (x > y) - (x < y);
}

static int add(struct wp_route_table *t, const struct l7_string_match *m, size_t *cap, char *why,
	       size_t len)
{
	struct compiled *c;

	if (m->type != L7_MATCH_REGEX)
		return 0;
	if (t->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;

		c = realloc(t->res, nc * sizeof(*c));
		if (!c)
			return -ENOMEM;
		t->res = c;
		*cap = nc;
	}
	c = &t->res[t->n];
	c->m = m;
	c->re = re2_compile(m->value, 0, why, len);
	if (!c->re)
		return -errno;
	t->n++;
	return 0;
}

static int add_matches(struct wp_route_table *t, const struct l7_match *ms, size_t n, size_t *cap,
		       char *why, size_t len)
{
	int err = 0;

	for (size_t j = 0; j < n && !err; j++) {
		const struct l7_match *m = &ms[j];

		err = add(t, &m->path, cap, why, len);
		err = err ? err : add(t, &m->scheme, cap, why, len);
		err = err ? err : add(t, &m->method, cap, why, len);
		err = err ? err : add(t, &m->authority, cap, why, len);
		for (size_t k = 0; k < m->n_headers && !err; k++)
			err = add(t, &m->headers[k].match, cap, why, len);
		for (size_t k = 0; k < m->n_query && !err; k++)
			err = add(t, &m->query[k].match, cap, why, len);
	}
	return err;
}

static struct wp_route_table *table_done(struct wp_route_table *t, int err)
{
	if (err) {
		wp_route_table_free(t);
		errno = -err;
		return NULL;
	}
	if (t->n)
		qsort(t->res, t->n, sizeof(*t->res), cmp_compiled);
	return t;
}

struct wp_route_table *wp_route_table_new(const struct l7_service *svc, char *why, size_t len)
{
	struct wp_route_table *t = calloc(1, sizeof(*t));
	size_t cap = 0;
	int err = 0;

	if (!t)
		return NULL;
	t->svc = svc;
	for (size_t i = 0; i < svc->n_routes && !err; i++)
		err = add_matches(t, svc->routes[i].matches, svc->routes[i].n_matches, &cap, why,
				  len);
	return table_done(t, err);
}

struct wp_route_table *wp_match_table_new(const struct l7_match *m, size_t n, char *why, size_t len)
{
	struct wp_route_table *t = calloc(1, sizeof(*t));
	size_t cap = 0;

	if (!t)
		return NULL;
	return table_done(t, add_matches(t, m, n, &cap, why, len));
}

void wp_route_table_free(struct wp_route_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		re2_free(t->res[i].re);
	free(t->res);
	free(t);
}

static const struct re2 *regex_of(const struct wp_route_table *t, const struct l7_string_match *m)
{
	struct compiled key = {.m = m}, *c;

	c = t->n ? bsearch(&key, t->res, t->n, sizeof(*c), cmp_compiled) : NULL;
	return c ? c->re : NULL;
}

/* Does @m hold for @v (@len bytes)? ANY holds for any present value. */
static bool string_match(const struct wp_route_table *t, const struct l7_string_match *m,
			 const char *v, size_t len)
{
	size_t n = m->value ? strlen(m->value) : 0;
	const struct re2 *re;

	switch (m->type) {
	case L7_MATCH_ANY: return true;
	case L7_MATCH_EXACT:
		return len == n &&
		       (m->ignore_case ? !strncasecmp(v, m->value, n) : !memcmp(v, m->value, n));
	case L7_MATCH_PREFIX:
		return len >= n &&
		       (m->ignore_case ? !strncasecmp(v, m->value, n) : !memcmp(v, m->value, n));
	case L7_MATCH_PATH_PREFIX:
		/* Segment-aware: "/foo" takes "/foo" and "/foo/x", not "/foobar". */
		if (n && m->value[n - 1] == '/')
			n--;
		return len >= n && !memcmp(v, m->value, n) && (len == n || v[n] == '/');
	case L7_MATCH_REGEX: re = regex_of(t, m); return re && re2_match(re, v, len);
	}
	return false;
}

/* The value of header @name (lowercase), repeated ones joined by ","; NULL when absent. */
static char *header_value(const struct wp_request *rq, const char *name, bool *oom)
{
	char *out = NULL;
	size_t len = 0;

	if (!strcmp(name, ":method") || !strcmp(name, ":scheme") || !strcmp(name, ":authority") ||
	    !strcmp(name, ":path") || !strcmp(name, "host")) {
		const char *v = name[1] == 'm'	 ? rq->method
				: name[1] == 's' ? rq->scheme
				: name[1] == 'p' ? rq->path
						 : rq->authority;

		out = v ? strdup(v) : NULL;
		*oom = v && !out;
		return out;
	}
	for (size_t i = 0; i < rq->n_headers; i++) {
		size_t vl;
		char *grown;

		if (strcasecmp(rq->headers[i].name, name))
			continue;
		vl = strlen(rq->headers[i].value);
		grown = realloc(out, len + vl + 2);
		if (!grown) {
			free(out);
			*oom = true;
			return NULL;
		}
		out = grown;
		if (len)
			out[len++] = ',';
		memcpy(out + len, rq->headers[i].value, vl + 1);
		len += vl;
	}
	return out;
}

/* single_header's answer when @name is repeated (or a pseudo-header): header_value joins them. */
static const struct http_field many_marker;
#define MANY (&many_marker)

/*
 * Field @name (lower-case) of @rq when it is there once (NULL: absent), compared by length and
 * bytes as the fields store names lower-case; MANY for a pseudo-header, Host or a repeated one.
 */
static const struct http_field *single_header(const struct wp_request *rq, const char *name)
{
	const struct http_field *found = NULL;
	size_t nl = strlen(name);

	if (name[0] == ':' || (nl == 4 && !memcmp(name, "host", 4)))
		return MANY;
	for (size_t i = 0; i < rq->n_headers; i++) {
		const struct http_field *f = &rq->headers[i];

		if (f->name_len != nl || strncasecmp(f->name, name, nl))
			continue;
		if (found)
			return MANY;
		found = f;
	}
	return found;
}

/* The first value of query parameter @name in @path, as written; NULL when absent. */
static const char *query_value(const char *path, const char *name, size_t *len)
{
	const char *q = strchr(path, '?');
	size_t nl = strlen(name);

	while (q && *q) {
		const char *p = q + 1, *end = p + strcspn(p, "&#");
		const char *eq = memchr(p, '=', (size_t)(end - p));
		size_t kl = eq ? (size_t)(eq - p) : (size_t)(end - p);

		if (kl == nl && !memcmp(p, name, nl)) {
			*len = eq ? (size_t)(end - eq - 1) : 0;
			return eq ? eq + 1 : end;
		}
		q = *end == '&' ? end : NULL;
	}
	return NULL;
}

bool wp_match_request(const struct wp_route_table *t, const struct l7_match *m,
		      const struct wp_request *rq)
{
	const char *path = rq->path ? rq->path : "/";
	size_t plen = strcspn(path, "?#");

	if (m->port && m->port != rq->port)
		return false;
	/* A gateway's HTTPS server routes only what came on its own certificate. */
	if (m->tls_server && (!rq->tls_server || strcmp(m->tls_server, rq->tls_server)))
		return false;
	if (m->path.type != L7_MATCH_ANY &&
	    !string_match(t, &m->path, path, m->path.type == L7_MATCH_PREFIX ? strlen(path) : plen))
		return false;
	if (m->scheme.type &&
	    (!rq->scheme || !string_match(t, &m->scheme, rq->scheme, strlen(rq->scheme))))
		return false;
	if (m->method.type &&
	    (!rq->method || !string_match(t, &m->method, rq->method, strlen(rq->method))))
		return false;
	if (m->authority.type && (!rq->authority || !string_match(t, &m->authority, rq->authority,
								  strlen(rq->authority))))
		return false;
	for (size_t i = 0; i < m->n_headers; i++) {
		const struct l7_header_match *h = &m->headers[i];
		const struct http_field *one = single_header(rq, h->name);
		bool oom = false, hit;
		char *v;

		/* The common case, the field once (or not at all): its value as it is. */
		if (one != MANY) {
			hit = one && string_match(t, &h->match, one->value, one->value_len);
			if (hit == h->invert)
				return false;
			continue;
		}
		v = header_value(rq, h->name, &oom);
		if (oom)
			return false;
		hit = v && string_match(t, &h->match, v, strlen(v));
		free(v);
		if (hit == h->invert)
			return false;
	}
	for (size_t i = 0; i < m->n_query; i++) {
		size_t len = 0;
		const char *v = query_value(path, m->query[i].name, &len);

		if (!v || !string_match(t, &m->query[i].match, v, len))
			return false;
	}
	return true;
}

const struct l7_route *wp_route_select(const struct wp_route_table *t, const struct wp_request *rq)
{
	for (size_t i = 0; i < t->svc->n_routes; i++) {
		const struct l7_route *r = &t->svc->routes[i];

		if (!r->n_matches)
			return r;
		for (size_t j = 0; j < r->n_matches; j++)
			if (wp_match_request(t, &r->matches[j], rq))
				return r;
	}
	return NULL;
}

int wp_weighted_pick(const uint32_t *weights, size_t n, uint64_t rnd)
{
	uint64_t total = 0, at;

	for (size_t i = 0; i < n; i++)
		total += weights[i];
	if (!total)
		return -1;
	at = rnd % total;
	for (size_t i = 0; i < n; i++) {
		if (at < weights[i])
			return (int)i;
		at -= weights[i];
	}
	return -1; /* not reached */
}

const struct l7_destination *wp_route_destination(const struct l7_route *r, uint64_t rnd)
{
	uint64_t total = 0, at;

	for (size_t i = 0; i < r->n_dests; i++)
		total += r->dests[i].weight;
	if (!total)
		return NULL;
	at = rnd % total;
	for (size_t i = 0; i < r->n_dests; i++) {
		if (at < r->dests[i].weight)
			return &r->dests[i];
		at -= r->dests[i].weight;
	}
	return NULL; /* not reached */
}

/* destinationSubnets: @ip in one of @s's CIDRs (an address or "addr/n", of either family). */
static bool in_subnets(const struct config_strings *s, const struct ipaddr *ip)
{
	for (size_t i = 0; i < s->n; i++) {
		struct ipaddr net;

		if (!ipaddr_parse(s->items[i], &net) && ipaddr_contains(&net, ip))
			return true;
	}
	return false;
}

/* Envoy's server_names: exact, "*.suffix" for any name ending in ".suffix", "*" for all. */
static bool sni_matches(const struct config_strings *names, const char *sni)
{
	for (size_t i = 0; i < names->n; i++) {
		const char *n = names->items[i];
		size_t nl = strlen(n), sl;

		if (!strcmp(n, "*"))
			return true;
		if (!sni)
			continue;
		sl = strlen(sni);
		if (n[0] == '*' && nl > 1 && sl > nl - 1 && !strcasecmp(sni + sl - (nl - 1), n + 1))
			return true;
		if (!strcasecmp(n, sni))
			return true;
	}
	return false;
}

const struct l7_tcp_route *wp_tcp_route_select(const struct l7_service *svc, uint16_t port,
					       const struct ipaddr *dest_ip, const char *sni)
{
	for (size_t i = 0; i < svc->n_tcp; i++) {
		const struct l7_tcp_route *t = &svc->tcp[i];

		if ((t->port && t->port != port) ||
		    (t->subnets.n && !in_subnets(&t->subnets, dest_ip)) ||
		    (t->sni_hosts.n && !sni_matches(&t->sni_hosts, sni)))
			continue;
		return t;
	}
	return NULL;
}
