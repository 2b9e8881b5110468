// SPDX-License-Identifier: Apache-2.0
/*
 * Elements' JSON by a hash of their fields (json_memo.h). Each text is kept in an entry of its
 * own, indexed by hash in an open-addressing table (a power of two, at most half full, linear
 * probing, deletion by backward shift). An encoding writes mostly the last one's elements in
 * the last one's order, so the memo also keeps that order: the next element is first compared
 * with the entry after the last one written (read in order, fetched ahead), and the table is
 * only probed when that is not it. At 35,000 elements the table is megabytes: a probe per
 * element cost a cache and TLB miss each, the better part of an encoding.
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

void json_hasher_spill(struct json_hasher *x, const void *v, size_t len)
{
	if (x->n) {
		x->h = XXH3_64bits_withSeed(x->buf, x->n, x->h);
		x->n = 0;
	}
	if (len > sizeof(x->buf)) {
		/* Its own link of the chain: the buffer is empty before and after it. */
		x->h = XXH3_64bits_withSeed(v, len, x->h);
		return;
	}
	memcpy(x->buf, v, len);
	x->n = len;
}

uint64_t json_hasher_end(struct json_hasher *x)
{
	return XXH3_64bits_withSeed(x->buf, x->n, x->h);
}

/* gen of an entry swept (never an encoding's). */
#define GEN_DEAD 0u
/*
 * How far ahead of the entry compared its successors' memory is asked for: the header first,
 * then (once that is in) the whole text, which is copied out next.
 */
#define AHEAD_HEAD 16
#define AHEAD_TEXT 8

struct memo_ent {
	uint64_t hash;
	uint32_t len;
	uint32_t gen; /* the last encoding that wrote it */
	uint32_t pos; /* where in that encoding's order (the first time, if several) */
	char json[];  /* @len bytes and a NUL */
};

struct memo_slot {
	uint64_t hash;
	struct memo_ent *e; /* NULL: free */
};

struct json_memo {
	struct memo_slot *t; /* every entry, once */
	size_t n, cap;
	/* The last encoding's entries in its order (an entry twice if written twice). */
	struct memo_ent **prev;
	size_t n_prev, cap_prev;
	bool *hit; /* per entry of @prev: written by the encoding under way */
	/* The encoding under way. */
	struct memo_ent **cur;
	size_t n_cur, cap_cur;
	size_t next; /* the entry of @prev the next element is compared with */
	uint32_t gen;
	bool writing;
	bool changed; /* the encoding under way has left the last one's order */
	bool failed;  /* a table could not grow: the encoding under way keeps nothing */
	bool last_changed;
	size_t last_len;
};

/*
 * Large buffers are asked for in whole MiB: a text a little longer each time (pods added) would
 * otherwise ask for more than the last one freed, above glibc's mmap threshold that its free
 * set, and come as fresh pages every time (a fault on each 4 KiB of megabytes).
 */
#define JBUF_STEP ((size_t)1 << 20)

void jbuf_init(struct jbuf *b, size_t hint)
{
	b->len = 0;
	b->failed = 0;
	b->cap = hint + hint / 8 + 4096;
	if (b->cap > JBUF_STEP)
		b->cap = (b->cap + JBUF_STEP - 1) & ~(JBUF_STEP - 1);
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

bool json_memo_changed(const struct json_memo *m)
{
	return m && m->last_changed;
}

struct json_memo *json_memo_new(void)
{
	struct json_memo *m = calloc(1, sizeof(*m));

	if (m)
		m->gen = GEN_DEAD + 1;
	return m;
}

/* Frees every entry and forgets every order: always correct, only slower for a while. */
static void memo_forget(struct json_memo *m)
{
	for (size_t i = 0; i < m->cap; i++) {
		free(m->t[i].e);
		m->t[i] = (struct memo_slot){0};
	}
	m->n = 0;
	m->n_prev = 0;
	m->n_cur = 0;
	m->next = 0;
}

void json_memo_free(struct json_memo *m)
{
	if (!m)
		return;
	memo_forget(m);
	free(m->t);
	free(m->prev);
	free(m->hit);
	free(m->cur);
	free(m);
}

size_t json_memo_size(const struct json_memo *m)
{
	return m ? m->n : 0;
}

static size_t slot_home(uint64_t h, size_t cap)
{
	return (size_t)(h ^ (h >> 32)) & (cap - 1);
}

/* The slot holding @h, or the free one where it would go. */
static struct memo_slot *slot_find(const struct json_memo *m, uint64_t h)
{
	size_t i = slot_home(h, m->cap);

	while (m->t[i].e && m->t[i].hash != h)
		i = (i + 1) & (m->cap - 1);
	return &m->t[i];
}

static int table_resize(struct json_memo *m, size_t cap)
{
	struct memo_slot *old = m->t;
	size_t old_cap = m->cap;

	m->t = calloc(cap, sizeof(*m->t));
	if (!m->t) {
		m->t = old;
		return -ENOMEM;
	}
	m->cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].e)
			*slot_find(m, old[i].hash) = old[i];
	free(old);
	return 0;
}

/* Takes the entry of @h out of the table, moving back the ones its slot made wait. */
static void table_remove(struct json_memo *m, uint64_t h)
{
	size_t mask = m->cap - 1, i = slot_find(m, h) - m->t, j = i;

	if (!m->t[i].e)
		return;
	for (;;) {
		size_t k;

		j = (j + 1) & mask;
		if (!m->t[j].e)
			break;
		k = slot_home(m->t[j].hash, m->cap);
		/* The entry at @j may move to @i unless its home lies cyclically in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		m->t[i] = m->t[j];
		i = j;
	}
	m->t[i] = (struct memo_slot){0};
	m->n--;
}

static int grow_order(struct memo_ent ***v, size_t *cap, size_t want)
{
	struct memo_ent **p;
	size_t nc = *cap ? *cap : 64;

	if (want <= *cap)
		return 0;
	while (nc < want)
		nc *= 2;
	p = realloc(*v, nc * sizeof(**v));
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = nc;
	return 0;
}

static void memo_begin(struct json_memo *m)
{
	m->writing = true;
	m->changed = false;
	m->failed = false;
	m->next = 0;
	m->n_cur = 0;
	if (++m->gen == GEN_DEAD)
		m->gen++;
	/* Room for the last encoding's elements and a few more: no growing on the way. */
	if (grow_order(&m->cur, &m->cap_cur, m->n_prev + 64))
		m->failed = true;
}

/* @e written as the next element: in order, and known to be in use. */
static int memo_took(struct json_memo *m, struct memo_ent *e)
{
	if (m->n_cur >= UINT32_MAX ||
	    (m->n_cur == m->cap_cur && grow_order(&m->cur, &m->cap_cur, m->n_cur + 1))) {
		m->failed = true;
		return -ENOMEM;
	}
	if (e->gen != m->gen) {
		e->gen = m->gen;
		e->pos = (uint32_t)m->n_cur;
	}
	m->cur[m->n_cur++] = e;
	return 0;
}

static void prefetch_text(const struct memo_ent *e)
{
	const char *p = (const char *)e, *end = e->json + e->len;

	for (p += 64; p < end; p += 64)
		__builtin_prefetch(p);
}

/* The kept entry of @h (NULL: none), and the order followed from it. */
static struct memo_ent *memo_lookup(struct json_memo *m, uint64_t h)
{
	struct memo_ent *e;

	if (m->next < m->n_prev) {
		e = m->prev[m->next];
		if (m->next + AHEAD_HEAD < m->n_prev)
			__builtin_prefetch(m->prev[m->next + AHEAD_HEAD]);
		if (m->next + AHEAD_TEXT < m->n_prev)
			prefetch_text(m->prev[m->next + AHEAD_TEXT]);
		if (e->hash == h) {
			m->hit[m->next++] = true;
			return e;
		}
	}
	m->changed = true;
	if (!m->n)
		return NULL;
	e = slot_find(m, h)->e;
	/* Not written yet by this encoding: @e->pos is still its place in the last one's order. */
	if (e && e->gen != m->gen && e->pos < m->n_prev && m->prev[e->pos] == e) {
		m->hit[e->pos] = true;
		m->next = e->pos + 1;
	}
	return e;
}

/* A new entry of @h for @txt (@len bytes), in the table and the order. */
static int memo_keep(struct json_memo *m, uint64_t h, const char *txt, size_t len)
{
	struct memo_ent *e;

	if (len > UINT32_MAX)
		return -E2BIG;
	if ((m->n + 1) * 2 > m->cap && table_resize(m, m->cap ? m->cap * 2 : 64))
		return -ENOMEM;
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return -ENOMEM;
	e->hash = h;
	e->len = (uint32_t)len;
	e->gen = GEN_DEAD;
	memcpy(e->json, txt, len + 1);
	if (memo_took(m, e)) {
		free(e);
		return -ENOMEM;
	}
	*slot_find(m, h) = (struct memo_slot){h, e};
	m->n++;
	return 0;
}

void json_memo_sweep(struct json_memo *m)
{
	struct memo_ent **t;
	size_t cap;

	if (!m)
		return;
	if (!m->writing)
		memo_begin(m);
	m->writing = false;
	m->last_changed = m->failed || m->changed || m->n_cur != m->n_prev;
	if (m->failed) {
		memo_forget(m);
		return;
	}
	/*
	 * The last order's entries this one did not write: out of the table (once: an entry
	 * there twice is marked the first time), then freed.
	 */
	for (size_t i = 0; i < m->n_prev; i++) {
		struct memo_ent *e = m->prev[i];

		if (m->hit[i])
			continue;
		if (e->gen == m->gen || e->gen == GEN_DEAD) {
			m->hit[i] = true;
			continue;
		}
		table_remove(m, e->hash);
		e->gen = GEN_DEAD;
	}
	for (size_t i = 0; i < m->n_prev; i++)
		if (!m->hit[i])
			free(m->prev[i]);
	/* This order becomes the last one. */
	t = m->prev;
	cap = m->cap_prev;
	m->prev = m->cur;
	m->cap_prev = m->cap_cur;
	m->n_prev = m->n_cur;
	m->cur = t;
	m->cap_cur = cap;
	m->n_cur = 0;
	free(m->hit);
	m->hit = calloc(m->cap_prev ? m->cap_prev : 1, sizeof(*m->hit));
	if (!m->hit) {
		memo_forget(m);
		return;
	}
	/* A table far larger than its entries (after many went) shrinks; failing is harmless. */
	for (cap = m->cap; cap > 64 && m->n * 8 < cap;)
		cap /= 2;
	if (cap != m->cap)
		(void)table_resize(m, cap);
}

int json_memo_write(struct jbuf *b, struct json_memo *m, const void *elem,
		    uint64_t (*hash)(const void *), cJSON *(*to_json)(const void *))
{
	struct memo_ent *e = NULL;
	uint64_t h = 0;
	cJSON *o;
	char *txt;
	size_t len;

	if (m) {
		if (!m->writing)
			memo_begin(m);
		if (m->failed)
			m = NULL;
	}
	if (m) {
		h = hash(elem);
		e = memo_lookup(m, h);
		if (e) {
			jbuf_put(b, e->json, e->len);
			if (!b->failed)
				memo_took(m, e);
			return b->failed ? -ENOMEM : 0;
		}
	}
	o = to_json(elem);
	txt = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!txt)
		return -ENOMEM;
	len = strlen(txt);
	jbuf_put(b, txt, len);
	if (!b->failed && m && memo_keep(m, h, txt, len))
		m->failed = true; /* written, but this encoding can keep nothing */
	free(txt);
	return b->failed ? -ENOMEM : 0;
}
