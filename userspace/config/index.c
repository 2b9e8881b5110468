// SPDX-License-Identifier: Apache-2.0
/*
 * The name index that finds duplicate objects while loading: one hash set of "Kind/ns/name"
 * per load call, seeded from what earlier files loaded, so a file of 10,000 policies is
 * checked in linear time instead of comparing every object with every other.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

struct cfg_index_entry {
	char *key;	  /* NULL: empty slot */
	const char *file; /* borrowed: the object's origin, alive for the load call */
	int line;
};

struct cfg_index {
	size_t cap, n; /* cap is a power of two, kept at most half full */
	struct cfg_index_entry *e;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct cfg_index_entry *slot(struct cfg_index *ix, const char *key)
{
	size_t i = (size_t)hash(key) & (ix->cap - 1);

	while (ix->e[i].key && strcmp(ix->e[i].key, key))
		i = (i + 1) & (ix->cap - 1);
	return &ix->e[i];
}

static int grow(struct cfg_index *ix)
{
	struct cfg_index old = *ix;

	ix->cap = old.cap ? old.cap * 2 : 256;
	ix->e = calloc(ix->cap, sizeof(*ix->e));
	if (!ix->e) {
		*ix = old;
		return -ENOMEM;
	}
	for (size_t i = 0; i < old.cap; i++)
		if (old.e[i].key)
			*slot(ix, old.e[i].key) = old.e[i];
	free(old.e);
	return 0;
}

static char *make_key(const char *kind, const char *ns, const char *name)
{
	char *k = NULL;

	/* Names never contain '/', so the key is unambiguous. */
	if (asprintf(&k, "%s/%s/%s", kind, ns ? ns : "", name) < 0)
		return NULL;
	return k;
}

static int put(struct cfg_index *ix, const char *kind, const char *ns, const char *name,
	       const char *file, int line)
{
	struct cfg_index_entry *e;
	char *key;

	if ((ix->n + 1) * 2 > ix->cap && grow(ix))
		return -ENOMEM;
	key = make_key(kind, ns, name);
	if (!key)
		return -ENOMEM;
	e = slot(ix, key);
	if (e->key) {
		free(key); /* already there: the first definition is the one to report */
		return 0;
	}
	*e = (struct cfg_index_entry){key, file, line};
	ix->n++;
	return 0;
}

void cfg_index_free(struct cfg_index *ix)
{
	if (!ix)
		return;
	for (size_t i = 0; i < ix->cap; i++)
		free(ix->e[i].key);
	free(ix->e);
	free(ix);
}

/* Seeds the index with every object of @cfg (earlier files) on first use. */
static int ensure(struct cfg_ctx *ctx)
{
	const struct cfg_kind *kinds;
	size_t nk;

	if (ctx->index)
		return 0;
	ctx->index = calloc(1, sizeof(*ctx->index));
	if (!ctx->index)
		return -ENOMEM;
	kinds = cfg_kinds(&nk);
	for (size_t k = 0; ctx->cfg && k < nk; k++) {
		size_t n = kinds[k].count ? kinds[k].count(ctx->cfg) : 0;
		char key[128];

		cfg_kind_key(&kinds[k], key, sizeof(key));
		for (size_t i = 0; i < n; i++) {
			const struct config_meta *m = kinds[k].meta_at(ctx->cfg, i);

			if (put(ctx->index, key, m->namespace, m->name, m->origin.file,
				m->origin.line))
				return -ENOMEM;
		}
	}
	return 0;
}

int cfg_index_find(struct cfg_ctx *ctx, const char *kind, const char *ns, const char *name,
		   const char **file, int *line)
{
	struct cfg_index_entry *e;
	char *key;

	if (ensure(ctx))
		return -ENOMEM;
	if (!ctx->index->n)
		return 0; /* nothing yet (and no table allocated) */
	key = make_key(kind, ns, name);
	if (!key)
		return -ENOMEM;
	e = slot(ctx->index, key);
	free(key);
	if (!e->key)
		return 0;
	*file = e->file;
	*line = e->line;
	return 1;
}

int cfg_index_add(struct cfg_ctx *ctx, const char *kind, const char *ns, const char *name,
		  const char *file, int line)
{
	if (ensure(ctx))
		return -ENOMEM;
	return put(ctx->index, kind, ns, name, file, line);
}
