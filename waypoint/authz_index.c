// SPDX-License-Identifier: Apache-2.0
/*
 * Which of a service's policies a request can match at all (authz.h): built once per model
 * generation, so a decision does not grow with the policies that name other principals or
 * other paths. A policy is keyed when every one of its rules requires one of some exact
 * principals (`from.source.principals`, no wildcard, in every `from`), or else when every rule
 * requires paths whose first segment is fixed (`to.operation.paths`, exact or one trailing
 * `*` after a second `/`, in every `to`). A keyed policy is a candidate only for a request
 * with one of its keys; the others always are. Filtering is conservative: a policy left out
 * could not have matched, and the candidates keep the service's policy order.
 *
 * A peer of one of the request's trust domains matches a principal of another of them, or of
 * "cluster.local", with the same rest (authz.c, Istio's trustDomainAliases), and the bundle is
 * the request's, not known here: its principal is looked up by the rest after its trust domain
 * ("/ns/foo/sa/bar") among the keys of every trust domain, a superset of those it can match.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "authz.h"

struct key_pos {
	char *key;
	uint32_t pos; /* in the service's authz list */
};

struct wp_authz_index {
	size_t n_any, n_principal, n_segment, n_rest;
	uint32_t *any;		   /* unkeyed, ascending */
	struct key_pos *principal; /* sorted by key, then position */
	struct key_pos *segment;
	/* Principal keys with a "/", by what follows their trust domain (keys borrowed). */
	struct key_pos *rest;
	bool has_allow, has_shadow_allow;
};

/* A principal pattern a request's principal must equal. */
static bool exact_principal(const char *p)
{
	return *p && !strchr(p, '*');
}

/* The length of path pattern @p's fixed first segment ("/admin" of "/admin/x/" + star), or 0. */
static size_t path_segment(const char *p)
{
	size_t n = strlen(p), lit = n;
	const char *star = strchr(p, '*'), *slash;

	if (p[0] != '/' || strchr(p, '{'))
		return 0;
	if (star) {
		if (star != p + n - 1)
			return 0; /* "*x" or "a*b": not a prefix */
		lit = n - 1;
	}
	slash = memchr(p + 1, '/', lit - 1);
	if (slash)
		return (size_t)(slash - p);
	return star ? 0 : n; /* "/adm*" may be "/admin/..." or "/adm": no fixed segment */
}

/* Whether every rule of @p requires one of its principals (@path: its path segments). */
static bool keyed(const struct l7_authz *p, bool path)
{
	for (size_t r = 0; r < p->n_rules; r++) {
		const struct config_authz_rule *ru = &p->rules[r];
		size_t n = path ? ru->n_to : ru->n_from;

		if (!n)
			return false;
		for (size_t k = 0; k < n; k++) {
			const struct config_strings *v =
			    path ? &ru->to[k].paths : &ru->from[k].principals;

			if (!v->n)
				return false;
			for (size_t i = 0; i < v->n; i++)
				if (path ? !path_segment(v->items[i])
					 : !exact_principal(v->items[i]))
					return false;
		}
	}
	return true;
}

static int add_key(struct key_pos **a, size_t *n, const char *key, size_t len, uint32_t pos)
{
	struct key_pos *k = realloc(*a, (*n + 1) * sizeof(*k));

	if (!k)
		return -ENOMEM;
	*a = k;
	k[*n].key = strndup(key, len);
	k[*n].pos = pos;
	if (!k[*n].key)
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* Policy @p (position @pos) under each of its keys. */
static int add_keys(struct wp_authz_index *x, const struct l7_authz *p, bool path, uint32_t pos)
{
	for (size_t r = 0; r < p->n_rules; r++) {
		const struct config_authz_rule *ru = &p->rules[r];

		for (size_t k = 0; k < (path ? ru->n_to : ru->n_from); k++) {
			const struct config_strings *v =
			    path ? &ru->to[k].paths : &ru->from[k].principals;

			for (size_t i = 0; i < v->n; i++) {
				const char *s = v->items[i];
				int err = path ? add_key(&x->segment, &x->n_segment, s,
							 path_segment(s), pos)
					       : add_key(&x->principal, &x->n_principal, s,
							 strlen(s), pos);

				if (err)
					return err;
			}
		}
	}
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	const struct key_pos *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

/* Sorted, one entry per (key, position); the keys of those dropped freed when @owned. */
static void sort_keys(struct key_pos *k, size_t *n, bool owned)
{
	size_t out = 0;

	if (!*n)
		return;
	qsort(k, *n, sizeof(*k), key_cmp);
	for (size_t i = 0; i < *n; i++) {
		if (out && !strcmp(k[out - 1].key, k[i].key) && k[out - 1].pos == k[i].pos) {
			if (owned)
				free(k[i].key);
			continue;
		}
		k[out++] = k[i];
	}
	*n = out;
}

/* The principal keys by their rest after the trust domain: "/ns/foo/sa/bar". */
static int index_rest(struct wp_authz_index *x)
{
	x->rest = calloc(x->n_principal + 1, sizeof(*x->rest));
	if (!x->rest)
		return -ENOMEM;
	for (size_t i = 0; i < x->n_principal; i++) {
		char *slash = strchr(x->principal[i].key, '/');

		if (slash)
			x->rest[x->n_rest++] =
			    (struct key_pos){.key = slash, .pos = x->principal[i].pos};
	}
	sort_keys(x->rest, &x->n_rest, false);
	return 0;
}

struct wp_authz_index *wp_authz_index_build(const struct l7_config *cfg, const struct l7_service *s)
{
	struct wp_authz_index *x = calloc(1, sizeof(*x));

	if (!x || !(x->any = calloc(s->n_authz + 1, sizeof(*x->any))))
		goto fail;
	for (size_t i = 0; i < s->n_authz; i++) {
		const struct l7_authz *p = &cfg->authz[s->authz[i]];
		int err = 0;

		if (p->action == CONFIG_AUTHZ_ALLOW) {
			x->has_allow |= !p->dry_run;
			x->has_shadow_allow |= p->dry_run;
		}
		if (!p->n_rules)
			continue; /* matches nothing: never a candidate */
		if (keyed(p, false))
			err = add_keys(x, p, false, (uint32_t)i);
		else if (keyed(p, true))
			err = add_keys(x, p, true, (uint32_t)i);
		else
			x->any[x->n_any++] = (uint32_t)i;
		if (err)
			goto fail;
	}
	sort_keys(x->principal, &x->n_principal, true);
	sort_keys(x->segment, &x->n_segment, true);
	if (index_rest(x))
		goto fail;
	return x;
fail:
	wp_authz_index_free(x);
	return NULL;
}

void wp_authz_index_free(struct wp_authz_index *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->n_principal; i++)
		free(x->principal[i].key);
	for (size_t i = 0; i < x->n_segment; i++)
		free(x->segment[i].key);
	free(x->principal);
	free(x->segment);
	free(x->rest);
	free(x->any);
	free(x);
}

/* @k against the string of @len bytes at @key, as strcmp orders them. */
static int key_vs(const char *k, const char *key, size_t len)
{
	int c = strncmp(k, key, len);

	return c ? c : k[len] != '\0';
}

/* The run of @a (@n sorted entries) whose key is @key (@len bytes): [*lo, *hi). */
static void run_of(const struct key_pos *a, size_t n, const char *key, size_t len, size_t *lo,
		   size_t *hi)
{
	size_t l = 0, h = n;

	*lo = *hi = 0;
	if (!key)
		return;
	while (l < h) {
		size_t m = l + (h - l) / 2;

		if (key_vs(a[m].key, key, len) < 0)
			l = m + 1;
		else
			h = m;
	}
	*lo = *hi = l;
	while (*hi < n && !key_vs(a[*hi].key, key, len))
		(*hi)++;
}

void wp_authz_cands_init(struct wp_authz_cands *it, const struct wp_authz_index *x,
			 const struct l7_service *s, const struct wp_authz_request *rq)
{
	size_t seg = 0, td;

	memset(it, 0, sizeof(*it));
	/* A connection's DENY keyed by a path still holds (its paths left out): all are tried. */
	it->x = rq->l4 ? NULL : x;
	it->n_all = s->n_authz;
	if (!it->x)
		return;
	if (rq->path && rq->path_len && rq->path[0] == '/') {
		const char *slash = memchr(rq->path + 1, '/', rq->path_len - 1);

		seg = slash ? (size_t)(slash - rq->path) : rq->path_len;
	}
	td = wp_authz_peer_td(rq);
	it->p_rest = td > 0;
	if (it->p_rest)
		run_of(x->rest, x->n_rest, rq->principal + td, strlen(rq->principal + td),
		       &it->p_lo, &it->p_hi);
	else
		run_of(x->principal, x->n_principal, rq->principal,
		       rq->principal ? strlen(rq->principal) : 0, &it->p_lo, &it->p_hi);
	if (seg)
		run_of(x->segment, x->n_segment, rq->path, seg, &it->s_lo, &it->s_hi);
}

bool wp_authz_cands_next(struct wp_authz_cands *it, size_t *pos)
{
	const struct wp_authz_index *x = it->x;
	const struct key_pos *pk;
	uint32_t best = UINT32_MAX;

	if (!x) {
		if (it->a >= it->n_all)
			return false;
		*pos = it->a++;
		return true;
	}
	pk = it->p_rest ? x->rest : x->principal;
	/* The smallest head of the three ascending lists: the service's policy order. */
	if (it->a < x->n_any)
		best = x->any[it->a];
	if (it->p_lo < it->p_hi && pk[it->p_lo].pos < best)
		best = pk[it->p_lo].pos;
	if (it->s_lo < it->s_hi && x->segment[it->s_lo].pos < best)
		best = x->segment[it->s_lo].pos;
	if (best == UINT32_MAX)
		return false;
	if (it->a < x->n_any && x->any[it->a] == best)
		it->a++;
	while (it->p_lo < it->p_hi && pk[it->p_lo].pos == best)
		it->p_lo++;
	while (it->s_lo < it->s_hi && x->segment[it->s_lo].pos == best)
		it->s_lo++;
	*pos = best;
	return true;
}

bool wp_authz_index_has_allow(const struct wp_authz_index *x, bool shadow)
{
	return shadow ? x->has_shadow_allow : x->has_allow;
}
