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

/* A namespace's part of the hashes (NULL: the any-namespace lists). */
static uint64_t ns_hash(const char *ns)
{
	return ns ? XXH3_64bits(ns, strlen(ns) + 1) : 0x616e79ull; /* "any" */
}

/* A label's part: the key seeds the value's, so "a=bc" and "ab=c" differ. */
static uint64_t kv_hash(const char *key, const char *value)
{
	uint64_t h = XXH3_64bits(key, strlen(key) + 1);

	return XXH3_64bits_withSeed(value ? value : "", value ? strlen(value) + 1 : 1, h);
}

/* Both parts mixed (MurmurHash3's 64-bit finalizer); never 0, which marks a free slot. */
static uint64_t label_hash(uint64_t ns_h, uint64_t kv_h)
{
	uint64_t h = ns_h ^ (kv_h * 0x9e3779b97f4a7c15ull);

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
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
 * Each object's labels, twice (its namespace's list and the any-namespace one): @hs gets the
 * hashes in that order and counts each list; label_index_build then fills the lists.
 */
static void count_labels(struct label_index *ix, size_t n, const char *(*ns_of)(void *, size_t),
			 const struct config_labels *(*labels_of)(void *, size_t), void *ctx,
			 uint64_t *hs)
{
	uint64_t any = ns_hash(NULL);
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		const struct config_labels *l = labels_of(ctx, i);
		uint64_t nh = l && l->n ? ns_hash(ns_of(ctx, i)) : 0;

		for (size_t j = 0; l && j < l->n; j++) {
			uint64_t kv = kv_hash(l->items[j].key, l->items[j].value);

			hs[k++] = label_hash(nh, kv);
			hs[k++] = label_hash(any, kv);
		}
	}
	for (size_t i = 0; i < k; i++) {
		struct label_slot *s = slot_of(ix, hs[i]);

		s->hash = hs[i];
		s->n++;
	}
}

int label_index_build(struct label_index *ix, size_t n, const char *(*ns_of)(void *, size_t),
		      const struct config_labels *(*labels_of)(void *, size_t), void *ctx)
{
	size_t total = 0, off = 0, k = 0;
	uint64_t *hs;

	memset(ix, 0, sizeof(*ix));
	for (size_t i = 0; i < n; i++) {
		const struct config_labels *l = labels_of(ctx, i);

		total += l ? 2 * l->n : 0;
	}
	for (ix->cap = 64; ix->cap < total * 2; ix->cap *= 2)
		;
	ix->t = calloc(ix->cap, sizeof(*ix->t));
	ix->pool = malloc((total ? total : 1) * sizeof(*ix->pool));
	hs = malloc((total ? total : 1) * sizeof(*hs));
	if (!ix->t || !ix->pool || !hs) {
		free(hs);
		label_index_free(ix);
		return -ENOMEM;
	}
	count_labels(ix, n, ns_of, labels_of, ctx, hs);
	for (size_t i = 0; i < ix->cap; i++) {
		ix->t[i].off = off;
		off += ix->t[i].n;
		ix->t[i].n = 0;
	}
	/* The lists, in object order; a label an object repeats lists it once. */
	for (size_t i = 0; i < n; i++) {
		const struct config_labels *l = labels_of(ctx, i);

		for (size_t j = 0; l && j < 2 * l->n; j++) {
			struct label_slot *s = slot_of(ix, hs[k++]);

			if (!s->n || ix->pool[s->off + s->n - 1] != i)
				ix->pool[s->off + s->n++] = i;
		}
	}
	free(hs);
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
		const struct label_slot *s = slot_of(
		    ix, label_hash(ns_hash(ns), kv_hash(sel->items[i].key, sel->items[i].value)));

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
