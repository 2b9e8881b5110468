// SPDX-License-Identifier: Apache-2.0
/*
 * Elements' JSON by a hash of their fields (json_memo.h): an open-addressing table over a power
 * of two, at most half full; hash 0 marks a free slot.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <xxhash.h>

#include "ambit/json_memo.h"

uint64_t json_hash_str(const char *v, uint64_t h)
{
	return XXH3_64bits_withSeed(v ? v : "", v ? strlen(v) + 1 : 1, h);
}

uint64_t json_hash_opt(const char *v, uint64_t h)
{
	return v ? json_hash_str(v, h) : XXH3_64bits_withSeed("", 0, h + 1);
}

uint64_t json_hash_mem(const void *v, size_t len, uint64_t h)
{
	return XXH3_64bits_withSeed(v, len, h);
}

struct memo_ent {
	uint64_t hash;
	char *json;
	size_t len;
	bool used; /* by the encoding under way */
};

struct json_memo {
	size_t n, cap; /* cap: a power of two, at most half full */
	struct memo_ent *t;
	size_t last_len;
};

void jbuf_init(struct jbuf *b, size_t hint)
{
	b->len = 0;
	b->failed = 0;
	b->cap = hint + hint / 8 + 4096;
	b->p = malloc(b->cap);
	if (b->p)
		b->p[0] = '\0';
	else
		b->failed = 1;
}

void jbuf_put(struct jbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->p, cap);

		if (!p) {
			b->failed = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void jbuf_puts(struct jbuf *b, const char *s)
{
	jbuf_put(b, s, strlen(s));
}

char *jbuf_take(struct jbuf *b)
{
	char *p = b->p;

	if (b->failed) {
		free(p);
		p = NULL;
		errno = ENOMEM;
	}
	memset(b, 0, sizeof(*b));
	return p;
}

size_t json_memo_last_len(const struct json_memo *m)
{
	return m ? m->last_len : 0;
}

void json_memo_set_last_len(struct json_memo *m, size_t len)
{
	if (m)
		m->last_len = len;
}

struct json_memo *json_memo_new(void)
{
	return calloc(1, sizeof(struct json_memo));
}

void json_memo_free(struct json_memo *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++)
		free(m->t[i].json);
	free(m->t);
	free(m);
}

size_t json_memo_size(const struct json_memo *m)
{
	return m ? m->n : 0;
}

static struct memo_ent *memo_slot(struct memo_ent *t, size_t cap, uint64_t h)
{
	size_t i = (size_t)(h ^ (h >> 32)) & (cap - 1);

	while (t[i].hash && t[i].hash != h)
		i = (i + 1) & (cap - 1);
	return &t[i];
}

/*
 * @m's entries into a table of @cap slots: all, keeping what the encoding under way used (a
 * table growing mid-encoding), or only those used, unmarked for the next one (the others are
 * freed).
 */
static int memo_rebuild(struct json_memo *m, size_t cap, bool only_used)
{
	struct memo_ent *t = calloc(cap, sizeof(*t));
	size_t n = 0;

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		struct memo_ent *e = &m->t[i];

		if (!e->hash)
			continue;
		if (only_used && !e->used) {
			free(e->json);
			continue;
		}
		*memo_slot(t, cap, e->hash) =
		    (struct memo_ent){e->hash, e->json, e->len, !only_used && e->used};
		n++;
	}
	free(m->t);
	m->t = t;
	m->cap = cap;
	m->n = n;
	return 0;
}

void json_memo_sweep(struct json_memo *m)
{
	size_t used = 0, cap = 64;

	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++)
		used += m->t[i].hash && m->t[i].used;
	while (cap < used * 2)
		cap *= 2;
	if (!memo_rebuild(m, cap, true))
		return;
	/* No memory for a new table: forget everything, which is always correct. */
	for (size_t i = 0; i < m->cap; i++) {
		free(m->t[i].json);
		m->t[i] = (struct memo_ent){0};
	}
	m->n = 0;
}

int json_memo_write(struct jbuf *b, struct json_memo *m, const void *elem,
		    uint64_t (*hash)(const void *), cJSON *(*to_json)(const void *))
{
	struct memo_ent *e = NULL;
	uint64_t h = 0;
	cJSON *o;
	char *txt;

	if (m) {
		h = hash(elem);
		h += !h;
		if (m->cap && (e = memo_slot(m->t, m->cap, h))->hash) {
			e->used = true;
			jbuf_put(b, e->json, e->len);
			return b->failed ? -ENOMEM : 0;
		}
	}
	o = to_json(elem);
	txt = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!txt)
		return -ENOMEM;
	jbuf_puts(b, txt);
	if (b->failed) {
		free(txt);
		return -ENOMEM;
	}
	if (!m || ((m->n + 1) * 2 > m->cap && memo_rebuild(m, m->cap ? m->cap * 2 : 64, false))) {
		free(txt);
		return 0;
	}
	e = memo_slot(m->t, m->cap, h);
	*e = (struct memo_ent){h, txt, strlen(txt), true};
	m->n++;
	return 0;
}
