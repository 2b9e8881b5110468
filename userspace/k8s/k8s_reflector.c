// SPDX-License-Identifier: Apache-2.0
/* The list+watch state machine of one resource (include/ambit/k8s.h, struct k8s_reflector). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ambit/k8s.h"
#include "lib/str_search.h"

#define BACKOFF_FIRST_MS 200u
#define BACKOFF_MAX_MS 30000u

struct entry {
	char *key; /* "namespace/name", or "name" for a cluster-scoped object */
	char *rv;
	char *text; /* a pending LIST item's, until list_done gives it to the consumer */
	size_t seq; /* a pending LIST item's place in its pages (qsort is not stable) */
};

struct entries {
	size_t n, cap;
	struct entry *items; /* sorted by key once complete */
	/*
	 * Every key and resourceVersion of a completed LIST, in one block (entries_pack): the
	 * LIST's object copies went between them, and freed, would leave each page they share
	 * with a small string held for good. A string outside it (a later event's) is its own.
	 */
	char *pool;
	size_t pool_len;
};

struct k8s_reflector {
	const struct k8s_reflector_ops *ops;
	void *arg;
	unsigned int seed;
	bool watching, synced;
	char *cont; /* the next LIST page's token, NULL: the first page */
	char *rv;   /* where the WATCH resumes */
	unsigned int backoff_ms, wait_ms;
	struct entries cache, pending; /* the copy; a LIST's pages so far */
};

static const char *str_at(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v =
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *key_of(const cJSON *obj)
{
	const char *ns = str_at(obj, "metadata", "namespace"),
		   *name = str_at(obj, "metadata", "name");
	size_t nl = ns && *ns ? strlen(ns) + 1 : 0, ml = name ? strlen(name) : 0;
	char *k = malloc(nl + ml + 1);

	if (!k)
		return NULL;
	if (nl) {
		memcpy(k, ns, nl - 1);
		k[nl - 1] = '/';
	}
	memcpy(k + nl, name ? name : "", ml + 1);
	return k;
}

static bool in_pool(const struct entries *es, const char *s)
{
	return es && es->pool && s >= es->pool && s < es->pool + es->pool_len;
}

/* @e, one of @es's (NULL: of none). */
static void entry_free(const struct entries *es, struct entry *e)
{
	if (!in_pool(es, e->key))
		free(e->key);
	if (!in_pool(es, e->rv))
		free(e->rv);
	free(e->text);
}

static void entries_clear(struct entries *es)
{
	for (size_t i = 0; i < es->n; i++)
		entry_free(es, &es->items[i]);
	free(es->items);
	free(es->pool);
	memset(es, 0, sizeof(*es));
}

/* @es's keys and resourceVersions into one block. Without memory for it they stay apart. */
static void entries_pack(struct entries *es)
{
	size_t total = 0, at = 0;
	char *pool;

	for (size_t i = 0; i < es->n; i++)
		total += strlen(es->items[i].key) + strlen(es->items[i].rv) + 2;
	if (!total || !(pool = malloc(total)))
		return;
	for (size_t i = 0; i < es->n; i++) {
		struct entry *e = &es->items[i];
		size_t kl = strlen(e->key) + 1, rl = strlen(e->rv) + 1;

		memcpy(pool + at, e->key, kl);
		memcpy(pool + at + kl, e->rv, rl);
		if (!in_pool(es, e->key))
			free(e->key);
		if (!in_pool(es, e->rv))
			free(e->rv);
		e->key = pool + at;
		e->rv = pool + at + kl;
		at += kl + rl;
	}
	free(es->pool);
	es->pool = pool;
	es->pool_len = total;
}

/* Room for one more entry. 0 or -ENOMEM. */
static int entries_reserve(struct entries *es)
{
	size_t cap = es->cap ? es->cap * 2 : 64;
	struct entry *p;

	if (es->n < es->cap)
		return 0;
	p = realloc(es->items, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	es->items = p;
	es->cap = cap;
	return 0;
}

/* @obj's key and @rv appended (unsorted), with @text (taken, may be NULL). 0 or -ENOMEM. */
static int entries_add(struct entries *es, const cJSON *obj, const char *rv, char *text)
{
	struct entry e = {key_of(obj), strdup(rv ? rv : ""), text, es->n};

	if (!e.key || !e.rv || entries_reserve(es)) {
		entry_free(NULL, &e);
		return -ENOMEM;
	}
	es->items[es->n++] = e;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Index of @key in sorted @es, or where it would go (*found false). */
static size_t find(const struct entries *es, const char *key, bool *found)
{
	return str_lower_bound(es->items, es->n, sizeof(*es->items), offsetof(struct entry, key),
			       key, found);
}

struct k8s_reflector *k8s_reflector_new(const struct k8s_reflector_ops *ops, void *arg,
					unsigned int seed)
{
	struct k8s_reflector *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->ops = ops;
	r->arg = arg;
	r->seed = seed ? seed : 1;
	r->backoff_ms = BACKOFF_FIRST_MS;
	return r;
}

void k8s_reflector_free(struct k8s_reflector *r)
{
	if (!r)
		return;
	entries_clear(&r->cache);
	entries_clear(&r->pending);
	free(r->cont);
	free(r->rv);
	free(r);
}

void k8s_reflector_next(struct k8s_reflector *r, struct k8s_request *out)
{
	memset(out, 0, sizeof(*out));
	if (r->wait_ms) {
		out->action = K8S_DO_WAIT;
		out->wait_ms = r->wait_ms;
		r->wait_ms = 0;
	} else if (r->watching) {
		out->action = K8S_DO_WATCH;
		out->resource_version = r->rv;
	} else {
		out->action = K8S_DO_LIST;
		out->cont = r->cont;
	}
}

static void set_str(char **dst, const char *v)
{
	char *c = v ? strdup(v) : NULL;

	/* Out of memory: the old value stays, a later success puts it right. */
	if (v && !c)
		return;
	free(*dst);
	*dst = c;
}

/* From scratch: the next request is the first page of a LIST. */
static void relist(struct k8s_reflector *r)
{
	r->watching = false;
	set_str(&r->cont, NULL);
	entries_clear(&r->pending);
}

void k8s_reflector_failed(struct k8s_reflector *r, int http_status)
{
	unsigned int half = r->backoff_ms / 2;

	/* A list cut between pages starts again: its token would only expire meanwhile. */
	if (http_status == K8S_GONE || !r->watching) {
		relist(r);
		if (http_status == K8S_GONE)
			return;
	}
	r->seed = r->seed * 1103515245u + 12345u;
	r->wait_ms = half + (r->seed >> 8) % (r->backoff_ms - half + 1);
	r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
}

/* The last page is in: the copy becomes it, the consumer hears the difference. */
static int list_done(struct k8s_reflector *r, const char *rv)
{
	struct entries *old = &r->cache, *now = &r->pending;
	size_t i = 0, j = 0, n = 0;

	if (now->n > 1) /* an empty list has no array: qsort must not get NULL */
		qsort(now->items, now->n, sizeof(*now->items), cmp_entry);
	/* Keys repeated across pages (objects moved while paging): the last one counts. */
	for (size_t k = 0; k < now->n; k++) {
		if (k + 1 < now->n && !strcmp(now->items[k].key, now->items[k + 1].key))
			entry_free(now, &now->items[k]);
		else
			now->items[n++] = now->items[k];
	}
	now->n = n;
	while (i < old->n || j < now->n) {
		int c = i == old->n   ? 1
			: j == now->n ? -1
				      : strcmp(old->items[i].key, now->items[j].key);

		if (c < 0) {
			r->ops->remove(r->arg, old->items[i].key);
			i++;
		} else if (c > 0) {
			r->ops->upsert(r->arg, now->items[j].key, now->items[j].text);
			now->items[j++].text = NULL;
		} else {
			if (strcmp(old->items[i].rv, now->items[j].rv)) {
				r->ops->upsert(r->arg, now->items[j].key, now->items[j].text);
				now->items[j].text = NULL;
			}
			i++;
			j++;
		}
	}
	/* The copy keeps keys and resourceVersions only: objects are the consumer's. */
	for (size_t k = 0; k < now->n; k++) {
		free(now->items[k].text);
		now->items[k].text = NULL;
	}
	entries_clear(old);
	*old = *now;
	memset(now, 0, sizeof(*now));
	entries_pack(old);
	set_str(&r->rv, rv);
	set_str(&r->cont, NULL);
	r->watching = true;
	r->synced = true;
	r->backoff_ms = BACKOFF_FIRST_MS;
	return 0;
}

static char *text_of(struct k8s_reflector *r, const cJSON *obj)
{
	return r->ops->text ? r->ops->text(r->arg, obj) : cJSON_PrintUnformatted(obj);
}

int k8s_reflector_list_page(struct k8s_reflector *r, const struct k8s_list *l)
{
	for (size_t i = 0; i < l->n_items; i++) {
		const cJSON *o = l->items[i];
		char *text = text_of(r, o);

		if (!text ||
		    entries_add(&r->pending, o, str_at(o, "metadata", "resourceVersion"), text))
			return -ENOMEM;
	}
	if (l->cont) {
		set_str(&r->cont, l->cont);
		return 0;
	}
	return list_done(r, l->resource_version);
}

/* The watch got as far as @rv. */
static void watched(struct k8s_reflector *r, const char *rv)
{
	set_str(&r->rv, rv);
	r->backoff_ms = BACKOFF_FIRST_MS;
}

int k8s_reflector_event(struct k8s_reflector *r, const struct k8s_event *ev)
{
	struct entries *c = &r->cache;
	char *key, *rv, *text;
	bool found;
	size_t at;

	if (ev->type == K8S_ERROR) {
		k8s_reflector_failed(r, ev->code);
		return 0;
	}
	if (ev->type == K8S_BOOKMARK) {
		watched(r, ev->resource_version);
		return 0;
	}
	key = key_of(ev->object);
	if (!key)
		return -ENOMEM;
	at = find(c, key, &found);
	if (ev->type == K8S_DELETED) {
		if (found) {
			r->ops->remove(r->arg, key);
			entry_free(c, &c->items[at]);
			memmove(&c->items[at], &c->items[at + 1],
				(c->n - at - 1) * sizeof(*c->items));
			c->n--;
		}
		free(key);
		watched(r, ev->resource_version);
		return 0;
	}
	/*
	 * ADDED or MODIFIED: the new state in its place. Whatever it needs is allocated first: out
	 * of memory, the watch fails before this event and the next one brings it again.
	 */
	text = text_of(r, ev->object);
	rv = strdup(ev->resource_version);
	if (!text || !rv || (!found && entries_reserve(c))) {
		free(text);
		free(rv);
		free(key);
		return -ENOMEM;
	}
	if (found) {
		free(key);
		if (!in_pool(c, c->items[at].rv))
			free(c->items[at].rv);
		c->items[at].rv = rv;
	} else {
		memmove(&c->items[at + 1], &c->items[at], (c->n - at) * sizeof(*c->items));
		c->items[at] = (struct entry){key, rv, NULL, 0};
		c->n++;
	}
	watched(r, ev->resource_version);
	r->ops->upsert(r->arg, c->items[at].key, text);
	return 0;
}

void k8s_reflector_watch_ended(struct k8s_reflector *r)
{
	(void)r; /* watching stays set: the next request resumes from the last resourceVersion */
}

bool k8s_reflector_synced(const struct k8s_reflector *r)
{
	return r->synced;
}

size_t k8s_reflector_count(const struct k8s_reflector *r)
{
	return r->cache.n;
}
