// SPDX-License-Identifier: Apache-2.0
/*
 * Objects by identity, as a store holds them: where the state directory keeps one object
 * (the layout `ambitctl apply` writes and the agent recognizes), and removing duplicates from a
 * merged view so that one definition per identity is in force.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "decode/decode.h"

/* Components come from validated names, but the layout never relies on that. */
static bool safe_component(const char *s)
{
	if (!*s || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '.')
			return false;
	return true;
}

int config_object_path(const char *state, const char *group, const char *kind, const char *ns,
		       const char *name, char *buf, size_t len)
{
	char kg[320];
	size_t n = 0;
	int w;

	for (const char *k = kind; *k && n + 1 < sizeof(kg); k++)
		kg[n++] = (char)tolower((unsigned char)*k);
	kg[n] = '\0';
	if (group && *group)
		snprintf(kg + n, sizeof(kg) - n, ".%s", group);
	if ((ns && !safe_component(ns)) || !safe_component(kg) || !safe_component(name))
		return -EINVAL;
	w = snprintf(buf, len, "%s/%s/%s/%s.yaml", state, ns ? ns : "_cluster", kg, name);
	return w < 0 || (size_t)w >= len ? -ENAMETOOLONG : 0;
}

struct view_array {
	const char *kind;
	void **arr;
	size_t *n;
	size_t size;
};

/* Every kind's array of @c, in kinds.def's order. Each model struct starts with its config_meta. */
static size_t view_arrays(struct config *c, struct view_array *out)
{
	const struct view_array all[] = {
#define KIND(id, k, apis, nsd, rule, fields, finish, type, arr, free_fn, agent, un)                \
	{k, (void **)&c->arr, &c->n_##arr, sizeof(*c->arr)},
#include "kinds.def"
	};

	memcpy(out, all, sizeof(all));
	return sizeof(all) / sizeof(all[0]);
}

/* The number of stored kinds (KIND rows; KIND_REFUSED rows have no array). */
enum {
#define KIND(id, k, apis, nsd, rule, fields, finish, type, arr, free_fn, agent, un) VIEW_KIND_##id,
#include "kinds.def"
	VIEW_KINDS
};

static struct config_meta *meta_at(const struct view_array *va, size_t i)
{
	return (struct config_meta *)((char *)*va->arr + i * va->size);
}

/* The group part of an apiVersion ("" for the core group's "v1"), as a length. */
static size_t group_len(const struct config_meta *m)
{
	const char *slash = m->api_version ? strchr(m->api_version, '/') : NULL;

	return slash ? (size_t)(slash - m->api_version) : 0;
}

static int stamp(void *arg, const char *kind, const struct config_meta *m)
{
	static uint64_t serials;

	/* The caller's own config (config_stamp_ids takes it mutable). */
	((struct config_meta *)m)->id_hash = 0;
	((struct config_meta *)m)->id_hash = config_object_hash(kind, m);
	((struct config_meta *)m)->origin_hash =
	    m->origin.file ? XXH3_64bits(m->origin.file, strlen(m->origin.file)) : 0;
	((struct config_meta *)m)->serial = __atomic_add_fetch(&serials, 1, __ATOMIC_RELAXED);
	return 0;
}

void config_stamp_ids(struct config *c)
{
	config_each_object(c, stamp, NULL);
}

uint64_t config_object_hash(const char *kind, const struct config_meta *m)
{
	const char *ns = m->namespace ? m->namespace : "", *name = m->name ? m->name : "";
	uint64_t h;

	if (m->id_hash)
		return m->id_hash;
	h = XXH3_64bits(m->api_version ? m->api_version : "", group_len(m));
	/* Each part seeds the next: "a|bc" and "ab|c" differ. */
	h = XXH3_64bits_withSeed(kind, strlen(kind), h);
	h = XXH3_64bits_withSeed(ns, strlen(ns), h);
	return XXH3_64bits_withSeed(name, strlen(name), h);
}

int config_each_object(const struct config *c,
		       int (*fn)(void *arg, const char *kind, const struct config_meta *m),
		       void *arg)
{
	struct view_array va[VIEW_KINDS];
	size_t nva = view_arrays((struct config *)c, va);

	for (size_t a = 0; a < nva; a++) {
		for (size_t i = 0; i < *va[a].n; i++) {
			int err = fn(arg, va[a].kind, meta_at(&va[a], i));

			if (err)
				return err;
		}
	}
	return 0;
}

struct entry {
	uint64_t hash; /* config_object_hash */
	const char *kind;
	const struct config_meta *meta;
	size_t arr, idx;
	int rank;
	bool drop;
};

static int strcmp_null(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

/* The identity's order: its hash first (cheap), the identity itself where hashes meet. */
static int identity_cmp(const struct entry *a, const struct entry *b)
{
	size_t ga, gb;
	int c;

	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	ga = group_len(a->meta);
	gb = group_len(b->meta);
	c = memcmp(a->meta->api_version ? a->meta->api_version : "",
		   b->meta->api_version ? b->meta->api_version : "", ga < gb ? ga : gb);
	if (c || ga != gb)
		return c ? c : (ga < gb ? -1 : 1);
	c = strcmp(a->kind, b->kind);
	if (!c)
		c = strcmp_null(a->meta->namespace, b->meta->namespace);
	return c ? c : strcmp_null(a->meta->name, b->meta->name);
}

static int entry_cmp(const void *pa, const void *pb)
{
	return identity_cmp(pa, pb);
}

/* Within one identity: @prefer's rank, then origin file, then line. */
static int rank_cmp(const void *pa, const void *pb)
{
	const struct entry *a = pa, *b = pb;
	int c;

	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	c = strcmp_null(a->meta->origin.file, b->meta->origin.file);
	if (c)
		return c;
	return (a->meta->origin.line > b->meta->origin.line) -
	       (a->meta->origin.line < b->meta->origin.line);
}

/*
 * Sorted by identity, each run of one identity is ranked (@prefer is asked only there: most
 * identities have one definition) and all but its head dropped.
 */
static void drop_runs(struct entry *e, size_t total, const struct view_array *va,
		      int (*prefer)(void *arg, const char *kind, const struct config_meta *m),
		      void (*report)(void *arg, const char *kind, const struct config_meta *kept,
				     const struct config_meta *dropped),
		      void *arg)
{
	for (size_t head = 0, end; head < total; head = end) {
		for (end = head + 1; end < total && !identity_cmp(&e[head], &e[end]); end++)
			;
		if (end - head == 1)
			continue;
		for (size_t i = head; i < end; i++)
			e[i].rank = prefer ? prefer(arg, e[i].kind, e[i].meta) : 0;
		qsort(e + head, end - head, sizeof(*e), rank_cmp);
		for (size_t i = head + 1; i < end; i++) {
			e[i].drop = true;
			if (report)
				report(arg, va[e[i].arr].kind, e[head].meta, e[i].meta);
		}
	}
}

int config_view_drop_duplicates(
    struct config *view, int (*prefer)(void *arg, const char *kind, const struct config_meta *m),
    void (*report)(void *arg, const char *kind, const struct config_meta *kept,
		   const struct config_meta *dropped),
    void (*kept)(void *arg, const struct config_meta *m, uint64_t hash), void *arg)
{
	struct view_array va[VIEW_KINDS];
	size_t nva = view_arrays(view, va), total = 0, k = 0;
	struct entry *e;
	bool any = false;

	for (size_t a = 0; a < nva; a++)
		total += *va[a].n;
	e = calloc(total ? total : 1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (size_t a = 0; a < nva; a++) {
		for (size_t i = 0; i < *va[a].n; i++, k++) {
			e[k].meta = meta_at(&va[a], i);
			e[k].kind = va[a].kind;
			e[k].hash = config_object_hash(va[a].kind, e[k].meta);
			e[k].arr = a;
			e[k].idx = i;
		}
	}
	qsort(e, total, sizeof(*e), entry_cmp);
	drop_runs(e, total, va, prefer, report, arg);
	for (size_t i = 0; i < total; i++) {
		any |= e[i].drop;
		if (kept && !e[i].drop)
			kept(arg, e[i].meta, e[i].hash);
	}
	/* Compact each array, keeping file order among what stays. */
	for (size_t a = 0; any && a < nva; a++) {
		bool *dropped = calloc(*va[a].n ? *va[a].n : 1, sizeof(*dropped));
		size_t w = 0;

		if (!dropped) {
			free(e);
			return -ENOMEM;
		}
		for (size_t i = 0; i < total; i++)
			if (e[i].arr == a && e[i].drop)
				dropped[e[i].idx] = true;
		for (size_t i = 0; i < *va[a].n; i++) {
			if (dropped[i])
				continue;
			if (w != i)
				memcpy(meta_at(&va[a], w), meta_at(&va[a], i), va[a].size);
			w++;
		}
		*va[a].n = w;
		free(dropped);
	}
	free(e);
	return 0;
}
