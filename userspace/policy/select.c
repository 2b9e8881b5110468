// SPDX-License-Identifier: Apache-2.0
/*
 * Policy compiler: workload selection. The inputs ordered by namespace and uid and indexed by
 * label, a selector resolved to the sorted uids it selects, and the string sort the set uses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compile_priv.h"

/* The first 8 bytes of @s as a big-endian number (0 after its end): their order is strcmp's. */
static uint64_t str_prefix(const char *s)
{
	uint64_t v = 0;
	bool end = false;

	for (size_t i = 0; i < 8; i++) {
		unsigned char ch = end ? 0 : (unsigned char)s[i];

		end = !ch;
		v = v << 8 | ch;
	}
	return v;
}

struct str_ix {
	uint64_t prefix;
	const char *s;
	size_t i;
};

static int cmp_str_ix(const void *a, const void *b)
{
	const struct str_ix *x = a, *y = b;
	int r;

	if (x->prefix != y->prefix)
		return x->prefix < y->prefix ? -1 : 1;
	r = strcmp(x->s, y->s);
	return r ? r : (x->i > y->i) - (x->i < y->i);
}

int policy_sort_strs(const char *const *s, size_t n, size_t *idx)
{
	struct str_ix *t = malloc((n ? n : 1) * sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		t[i].prefix = str_prefix(s[i]);
		t[i].s = s[i];
		t[i].i = i;
	}
	qsort(t, n, sizeof(*t), cmp_str_ix);
	for (size_t i = 0; i < n; i++)
		idx[i] = t[i].i;
	free(t);
	return 0;
}

struct wl_key {
	uint64_t ns_prefix, uid_prefix;
	const struct policy_workload_input *w;
	size_t i;
};

static int cmp_wl_key(const void *a, const void *b)
{
	const struct wl_key *x = a, *y = b;
	int r = 0;

	if (x->ns_prefix != y->ns_prefix)
		return x->ns_prefix < y->ns_prefix ? -1 : 1;
	r = strcmp(x->w->namespace, y->w->namespace);
	if (!r && x->uid_prefix != y->uid_prefix)
		return x->uid_prefix < y->uid_prefix ? -1 : 1;
	if (!r)
		r = strcmp(x->w->uid, y->w->uid);
	return r ? r : (x->i > y->i) - (x->i < y->i);
}

/* [*lo, *hi) of c->by_ns in namespace @ns; all workloads for NULL. */
static void ns_range(const struct policy_comp *c, const char *ns, size_t *lo, size_t *hi)
{
	size_t l = 0, h = c->n_wls;

	if (!ns) {
		*lo = 0;
		*hi = c->n_wls;
		return;
	}
	while (l < h) {
		size_t mid = l + (h - l) / 2;

		if (strcmp(c->wls[c->by_ns[mid]].namespace, ns) < 0)
			l = mid + 1;
		else
			h = mid;
	}
	*lo = l;
	for (h = l; h < c->n_wls && !strcmp(c->wls[c->by_ns[h]].namespace, ns); h++)
		;
	*hi = h;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *wl_ns(void *arg, size_t i)
{
	const struct policy_comp *c = arg;

	return c->wls[c->by_ns[i]].namespace;
}

static const struct config_labels *wl_labels(void *arg, size_t i)
{
	const struct policy_comp *c = arg;

	return c->wls[c->by_ns[i]].labels;
}

int policy_comp_index(struct policy_comp *c)
{
	struct wl_key *k = malloc((c->n_wls ? c->n_wls : 1) * sizeof(*k));

	c->by_ns = calloc(c->n_wls + 1, sizeof(size_t));
	if (!k || !c->by_ns) {
		free(k);
		free(c->by_ns);
		c->by_ns = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->n_wls; i++) {
		k[i].ns_prefix = str_prefix(c->wls[i].namespace);
		k[i].uid_prefix = str_prefix(c->wls[i].uid);
		k[i].w = &c->wls[i];
		k[i].i = i;
	}
	qsort(k, c->n_wls, sizeof(*k), cmp_wl_key);
	for (size_t i = 0; i < c->n_wls; i++)
		c->by_ns[i] = k[i].i;
	free(k);
	(void)label_index_build(&c->by_label, c->n_wls, wl_ns, wl_labels, c);
	return 0;
}

bool policy_selects(const struct config_labels *sel, const char *ns, bool any,
		    const struct policy_workload_input *w)
{
	if (!any && strcmp(w->namespace, ns))
		return false;
	return w->labels ? config_labels_match(sel, w->labels) : sel->n == 0;
}

static int uids_add(char ***out, size_t *n, const char *uid)
{
	char **p = realloc(*out, (*n + 1) * sizeof(char *));

	if (!p)
		return -ENOMEM;
	*out = p;
	if (!(p[*n] = strdup(uid)))
		return -ENOMEM;
	(*n)++;
	return 0;
}

/*
 * A compile that takes most of its set over (policy_reuse) selects for a few policies: each
 * scans the inputs, until indexing them costs less than the scans to come.
 */
#define SCANS_BEFORE_INDEX 8

int policy_select_workloads(struct policy_comp *c, const char *ns, const struct config_labels *sel,
			    char ***out, size_t *n)
{
	size_t lo, hi, n_cand;
	const size_t *cand;

	*out = NULL;
	*n = 0;
	if (!c->by_ns && c->n_scans++ >= SCANS_BEFORE_INDEX && policy_comp_index(c))
		return -ENOMEM;
	if (!c->by_ns) {
		for (size_t i = 0; i < c->n_wls; i++)
			if (policy_selects(sel, ns, !ns, &c->wls[i]) &&
			    uids_add(out, n, c->wls[i].uid))
				return -ENOMEM;
		if (*n > 1)
			qsort(*out, *n, sizeof(char *), cmp_strp);
		return 0;
	}
	cand = label_index_candidates(&c->by_label, ns, sel, &n_cand);
	if (n_cand == SIZE_MAX) {
		ns_range(c, ns, &lo, &hi);
	} else {
		lo = 0;
		hi = n_cand;
	}
	for (size_t k = lo; k < hi; k++) {
		size_t i = cand ? cand[k] : k;
		const struct policy_workload_input *w = &c->wls[c->by_ns[i]];

		if (cand && ns && strcmp(w->namespace, ns))
			continue; /* a hash met another namespace's */
		if (w->labels ? !config_labels_match(sel, w->labels) : sel->n > 0)
			continue;
		if (uids_add(out, n, w->uid))
			return -ENOMEM;
	}
	if (*n > 1)
		qsort(*out, *n, sizeof(char *), cmp_strp);
	return 0;
}

int policy_uids_merge(char ***into, size_t *n, char **add, size_t n_add)
{
	char **out = calloc(*n + n_add + 1, sizeof(char *));
	size_t a = 0, b = 0, k = 0;

	if (!out) {
		for (size_t i = 0; i < n_add; i++)
			free(add[i]);
		free(add);
		return -ENOMEM;
	}
	while (a < *n || b < n_add) {
		int d = a == *n ? 1 : b == n_add ? -1 : strcmp((*into)[a], add[b]);

		if (d <= 0)
			out[k++] = (*into)[a++];
		if (d > 0)
			out[k++] = add[b++];
		else if (!d)
			free(add[b++]);
	}
	free(*into);
	free(add);
	*into = out;
	*n = k;
	return 0;
}
