/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JSON of many small elements (a snapshot's workloads, services, policies) kept between
 * encodings under a hash of each one's fields: a snapshot of 10,000 workloads where one changed
 * prints one. An element's hash function reads exactly the fields its encoder writes and sits
 * beside it; the memo only ever gives the text an element with the same hash printed.
 * One memo serves encodings of the same elements (the node's snapshot; the waypoints' share
 * another, as they carry no policies); json_memo_sweep after an encoding drops what it did
 * not use. The memo expects each encoding to write mostly the last one's elements in the last
 * one's order, and finds those without a table look-up; any order is right, only slower.
 */
#ifndef AMBIT_JSON_MEMO_H
#define AMBIT_JSON_MEMO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct cJSON;
struct json_memo;

/*
 * The text under way: appends never fail on their own; a failed allocation marks the buffer
 * (@failed) and later appends do nothing, so the writer checks once at the end.
 */
struct jbuf {
	char *p; /* NUL-terminated while not failed */
	size_t len, cap;
	int failed;
};

/* An empty buffer with room for @hint bytes (e.g. the last text's length). */
void jbuf_init(struct jbuf *b, size_t hint);
void jbuf_put(struct jbuf *b, const char *s, size_t n);
void jbuf_puts(struct jbuf *b, const char *s);
/* The text (caller frees), or NULL with errno ENOMEM when any append failed. */
char *jbuf_take(struct jbuf *b);

struct json_memo *json_memo_new(void);
void json_memo_free(struct json_memo *m);
/* The number of elements' texts kept. */
size_t json_memo_size(const struct json_memo *m);
/* The length of the last text written through @m (0: none yet or NULL), a jbuf_init hint. */
size_t json_memo_last_len(const struct json_memo *m);
void json_memo_set_last_len(struct json_memo *m, size_t len);

/*
 * Appends @elem's JSON to @b: from @m (may be NULL) when an element with the same @hash was
 * printed before, else @to_json's printed (and kept in @m). 0 or -ENOMEM.
 */
int json_memo_write(struct jbuf *b, struct json_memo *m, const void *elem,
		    uint64_t (*hash)(const void *), struct cJSON *(*to_json)(const void *));
/* After an encoding: the entries it did not write go. @m may be NULL. */
void json_memo_sweep(struct json_memo *m);
/*
 * Whether the last encoding swept wrote elements other than the one before it did, or in
 * another order: its text then differs from that one's, so a caller comparing the two texts
 * need not. False when the elements were the same, or @m is NULL (unknown: compare). It errs
 * only towards true: after a failed allocation, an unfinished encoding, or on a memo's first.
 */
bool json_memo_changed(const struct json_memo *m);

/*
 * An element's hash over its fields, gathered into one buffer and hashed once (XXH3) rather
 * than field by field: each field is appended in a form that tells it from the next (a
 * string's NUL, an optional string's presence, a list's count before its items), so two
 * elements whose written fields differ feed the hash different bytes.
 */
struct json_hasher {
	uint64_t h;
	size_t n;
	unsigned char buf[240]; /* XXH3's short-input size */
};

static inline void json_hasher_init(struct json_hasher *x, uint64_t seed)
{
	x->h = seed;
	x->n = 0;
}

/* For json_hasher_mem: what does not fit the buffer. */
void json_hasher_spill(struct json_hasher *x, const void *v, size_t len);

static inline void json_hasher_mem(struct json_hasher *x, const void *v, size_t len)
{
	if (!len) /* @v may then be NULL, which memcpy does not take */
		return;
	if (len > sizeof(x->buf) - x->n) {
		json_hasher_spill(x, v, len);
		return;
	}
	memcpy(x->buf + x->n, v, len);
	x->n += len;
}

/* NULL as "" (both written as ""). */
static inline void json_hasher_str(struct json_hasher *x, const char *v)
{
	if (v)
		json_hasher_mem(x, v, strlen(v) + 1);
	else
		json_hasher_mem(x, "", 1);
}

/* NULL apart from "" (NULL: not written). */
static inline void json_hasher_opt(struct json_hasher *x, const char *v)
{
	json_hasher_mem(x, v ? "\1" : "", 1);
	if (v)
		json_hasher_mem(x, v, strlen(v) + 1);
}

static inline void json_hasher_u64(struct json_hasher *x, uint64_t v)
{
	json_hasher_mem(x, &v, sizeof(v));
}

uint64_t json_hasher_end(struct json_hasher *x);

/* One field's hash, chained (XXH3 seeded with the last): for elements of a field or two. */
uint64_t json_hash_str(const char *v, uint64_t h); /* NULL as "" (written as "") */
uint64_t json_hash_opt(const char *v, uint64_t h); /* NULL apart from "" (NULL: not written) */
uint64_t json_hash_mem(const void *v, size_t len, uint64_t h);

#endif
