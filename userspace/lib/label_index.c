// SPDX-License-Identifier: Apache-2.0
/* Objects by label (label_index.h): open addressing on a 64-bit hash, lists in one pool. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "label_index.h"

struct label_slot {
	uint64_t hash; /* 0: free */
	size_t off, n; /* the list: pool[off .. off + n) */
};

/* (namespace or none, key, value): each part seeds the next, so "a/bc" and "ab/c" differ. */
static uint64_t label_hash(const char *ns, const char *key, const char *value)
{
	uint64_t h = ns ? XXH3_64bits(ns, strlen(ns) + 1) : 0x616e79ull; /* "any" */

	h = XXH3_64bits_withSeed(key, strlen(key) + 1, h);
	h = XXH3_64bits_withSeed(value ? value : "", value ? strlen(value) + 1 : 1, h);
	return h + !h;
}

static struct label_slot *slot_of(const struct label_index *ix, uint64_t h)
{
	size_t i = (size_t)(h ^ (h >> 29)) & (ix->cap - 1);

	while (ix->t[i].hash && ix->t[i].hash != h)
		i = (i + 1) & (ix->cap - 1);
	return &ix->t[i];
}

/*
 * Pass 1 (@fill false) counts each list; pass 2 appends object indexes at each list's end
 * (its n, reset after pass 1, grows back to the count).
 */
static void each_label(struct label_index *ix, size_t n, const char *(*ns_of)(void *, size_t),
		       const struct config_labels *(*labels_of)(void *, size_t), void *ctx,
		       bool fill)
{
	for (size_t i = 0; i < n; i++) {
		const struct config_labels *l = labels_of(ctx, i);
		const char *ns = ns_of(ctx, i);

		for (size_t j = 0; l && j < l->n; j++) {
			for (int any = 0; any < 2; any++) {
				uint64_t h =
				    label_hash(any ? NULL : ns, l->items[j].key, l->items[j].value);
				struct label_slot *s = slot_of(ix, h);

				/* A repeated key (no object has one) would list i twice. */
				if (fill) {
					if (!s->n || ix->pool[s->off + s->n - 1] != i)
						ix->pool[s->off + s->n++] = i;
				} else {
					s->hash = h;
					s->n++;
				}
			}
		}
	}
}

int label_index_build(struct label_index *ix, size_t n, const char *(*ns_of)(void *, size_t),
		      const struct config_labels *(*labels_of)(void *, size_t), void *ctx)
{
	size_t total = 0, off = 0;

	memset(ix, 0, sizeof(*ix));
	for (size_t i = 0; i < n; i++) {
		const struct config_labels *l = labels_of(ctx, i);

		total += l ? 2 * l->n : 0;
	}
	for (ix->cap = 64; ix->cap < total * 2; ix->cap *= 2)
		;
	ix->t = calloc(ix->cap, sizeof(*ix->t));
	ix->pool = malloc((total ? total : 1) * sizeof(*ix->pool));
	if (!ix->t || !ix->pool) {
		label_index_free(ix);
		return -ENOMEM;
	}
	each_label(ix, n, ns_of, labels_of, ctx, false);
	for (size_t i = 0; i < ix->cap; i++) {
		ix->t[i].off = off;
		off += ix->t[i].n;
		ix->t[i].n = 0;
	}
	each_label(ix, n, ns_of, labels_of, ctx, true);
	return 0;
}

const size_t *label_index_candidates(const struct label_index *ix, const char *ns,
				     const struct config_labels *sel, size_t *n)
{
	const struct label_slot *best = NULL;

	*n = SIZE_MAX;
	if (!sel->n || !ix->cap)
		return NULL;
	*n = 0;
	for (size_t i = 0; i < sel->n; i++) {
		const struct label_slot *s =
		    slot_of(ix, label_hash(ns, sel->items[i].key, sel->items[i].value));

		if (!s->hash)
			return NULL; /* no object has this label */
		if (!best || s->n < best->n)
			best = s;
	}
	*n = best->n;
	return ix->pool + best->off;
}

void label_index_free(struct label_index *ix)
{
	free(ix->t);
	free(ix->pool);
	memset(ix, 0, sizeof(*ix));
}
