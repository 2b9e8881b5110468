// SPDX-License-Identifier: Apache-2.0
/* Diffs of desired map contents against current ones (declared in desired.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "desired.h"

/* By key: @key, then @key2 (a 16-byte key's second half). */
static int diff_cmp_entry(const void *a, const void *b)
{
	const struct dp_entry *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->key2 < y->key2 ? -1 : x->key2 > y->key2;
}

void dp_entry_key16(const struct dp_entry *e, void *out)
{
	memcpy(out, &e->key, sizeof(e->key));
	memcpy((char *)out + sizeof(e->key), &e->key2, sizeof(e->key2));
}

/* Sorted private copy, so callers may pass arrays in map-iteration order. */
static struct dp_entry *sorted_copy(const struct dp_entry *e, size_t n)
{
	struct dp_entry *c = malloc((n ? n : 1) * sizeof(*c));

	if (!c)
		return NULL;
	if (n) {
		memcpy(c, e, n * sizeof(*c));
		qsort(c, n, sizeof(*c), diff_cmp_entry);
	}
	return c;
}

/*
 * One step of walking two arrays sorted by key in step (@has_c/@has_w: the side is not used up):
 * < 0 the next key is only in the current array, > 0 only in the wanted one, 0 in both.
 */
static int merge_side(bool has_c, uint64_t ck, bool has_w, uint64_t wk)
{
	if (!has_w || (has_c && ck < wk))
		return -1;
	if (!has_c || wk < ck)
		return 1;
	return 0;
}

/* merge_side for entries (NULL: that side is used up). */
static int merge_entry(const struct dp_entry *c, const struct dp_entry *w)
{
	int cmp;

	if (!w)
		return -1;
	if (!c)
		return 1;
	cmp = diff_cmp_entry(c, w);
	return cmp < 0 ? -1 : cmp > 0;
}

int dp_diff_compute(const struct dp_entry *cur, size_t ncur, const struct dp_entry *want,
		    size_t nwant, struct dp_diff *out)
{
	struct dp_entry *c = NULL, *w = NULL;
	size_t i = 0, j = 0;
	int err = -ENOMEM;

	memset(out, 0, sizeof(*out));
	c = sorted_copy(cur, ncur);
	w = sorted_copy(want, nwant);
	out->set = malloc((nwant ? nwant : 1) * sizeof(*out->set));
	out->del = malloc((ncur ? ncur : 1) * sizeof(*out->del));
	if (!c || !w || !out->set || !out->del)
		goto out;
	while (i < ncur || j < nwant) {
		int side = merge_entry(i < ncur ? &c[i] : NULL, j < nwant ? &w[j] : NULL);

		if (side < 0) {
			out->del[out->n_del++] = c[i++];
		} else if (side > 0) {
			out->set[out->n_set++] = w[j++];
		} else {
			if (memcmp(c[i].val, w[j].val, sizeof(c[i].val)) != 0)
				out->set[out->n_set++] = w[j];
			i++;
			j++;
		}
	}
	err = 0;
out:
	free(c);
	free(w);
	if (err)
		dp_diff_free(out);
	return err;
}

void dp_diff_free(struct dp_diff *d)
{
	if (!d)
		return;
	free(d->set);
	free(d->del);
	memset(d, 0, sizeof(*d));
}

uint64_t dp_service_key(const struct dp_service *s)
{
	return ((uint64_t)ntohl(s->vip) << 24) | (uint64_t)s->port << 8 | s->proto;
}

int dp_service_cmp(const void *a, const void *b)
{
	uint64_t x = dp_service_key(a), y = dp_service_key(b);

	return x < y ? -1 : x > y;
}

int dp_service_proto(const char *protocol)
{
	if (!protocol || !strcasecmp(protocol, "TCP"))
		return 0;
	return strcasecmp(protocol, "UDP") ? -1 : IPPROTO_UDP;
}

static int cmp_svc_ptr(const void *a, const void *b)
{
	return dp_service_cmp(*(const struct dp_service *const *)a,
			      *(const struct dp_service *const *)b);
}

static const struct dp_service **sorted_ptrs(const struct dp_service *s, size_t n)
{
	const struct dp_service **p = malloc((n ? n : 1) * sizeof(*p));

	if (!p)
		return NULL;
	for (size_t i = 0; i < n; i++)
		p[i] = &s[i];
	if (n)
		qsort(p, n, sizeof(*p), cmp_svc_ptr);
	return p;
}

static bool same_backends(const struct dp_service *a, const struct dp_service *b)
{
	if (!a->known || !b->known || a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++)
		if (a->backends[i].ip != b->backends[i].ip ||
		    a->backends[i].port != b->backends[i].port)
			return false;
	return true;
}

int dp_service_diff_compute(const struct dp_service *cur, size_t ncur,
			    const struct dp_service *want, size_t nwant,
			    struct dp_service_diff *out)
{
	const struct dp_service **c, **w;
	size_t i = 0, j = 0;
	int err = -ENOMEM;

	memset(out, 0, sizeof(*out));
	c = sorted_ptrs(cur, ncur);
	w = sorted_ptrs(want, nwant);
	out->set = malloc((nwant ? nwant : 1) * sizeof(*out->set));
	out->del = calloc(ncur ? ncur : 1, sizeof(*out->del));
	if (!c || !w || !out->set || !out->del)
		goto out;
	while (i < ncur || j < nwant) {
		int side = merge_side(i < ncur, i < ncur ? dp_service_key(c[i]) : 0, j < nwant,
				      j < nwant ? dp_service_key(w[j]) : 0);

		if (side < 0) {
			out->del[out->n_del].vip = c[i]->vip;
			out->del[out->n_del].proto = c[i]->proto;
			out->del[out->n_del++].port = c[i++]->port;
		} else if (side > 0) {
			out->set[out->n_set++] = w[j++];
		} else {
			if (!same_backends(c[i], w[j]))
				out->set[out->n_set++] = w[j];
			i++;
			j++;
		}
	}
	err = 0;
out:
	free(c);
	free(w);
	if (err)
		dp_service_diff_free(out);
	return err;
}

void dp_service_diff_free(struct dp_service_diff *d)
{
	if (!d)
		return;
	free(d->set);
	free(d->del);
	memset(d, 0, sizeof(*d));
}

struct dp_service *dp_services_dup(const struct dp_service *s, size_t n)
{
	struct dp_service *c = calloc(n ? n : 1, sizeof(*c));

	if (!c)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		c[i] = s[i];
		c[i].backends = NULL;
		if (!s[i].n)
			continue;
		c[i].backends = malloc(s[i].n * sizeof(*c[i].backends));
		if (!c[i].backends) {
			dp_services_free(c, i);
			errno = ENOMEM;
			return NULL;
		}
		memcpy(c[i].backends, s[i].backends, s[i].n * sizeof(*c[i].backends));
	}
	return c;
}

void dp_services_free(struct dp_service *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		free(s[i].backends);
	free(s);
}

int dp_service6_cmp(const void *a, const void *b)
{
	const struct dp_service6 *x = a, *y = b;
	int c = memcmp(&x->vip, &y->vip, sizeof(x->vip));

	if (c)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->proto < y->proto ? -1 : x->proto > y->proto;
}

void dp_services6_free(struct dp_service6 *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		free(s[i].backends);
	free(s);
}

int dp_sentry_cidr_cmp(const void *a, const void *b)
{
	const struct dp_sentry_cidr *x = a, *y = b;
	int c;

	if (x->net.family != y->net.family)
		return x->net.family < y->net.family ? -1 : 1;
	c = memcmp(x->net.a, y->net.a, sizeof(x->net.a));
	if (c)
		return c;
	if (x->net.len != y->net.len)
		return x->net.len < y->net.len ? -1 : 1;
	return x->port < y->port ? -1 : x->port > y->port;
}

size_t dp_sentry_cidrs_sort(struct dp_sentry_cidr *v, size_t n)
{
	size_t k = 0;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), dp_sentry_cidr_cmp);
	for (size_t i = 1; i < n; i++)
		if (dp_sentry_cidr_cmp(&v[k], &v[i]))
			v[++k] = v[i];
	return k + 1;
}
