/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JSON of many small elements (a snapshot's workloads, services, policies) kept between
 * encodings under a hash of each one's fields: a snapshot of 10,000 workloads where one changed
 * prints one. An element's hash function reads exactly the fields its encoder writes and sits
 * beside it; the memo only ever gives the text an element with the same hash printed.
 * One memo serves encodings of the same elements (the node's snapshot; the waypoints' share
 * another, as they carry no policies); json_memo_sweep after an encoding drops what it did
 * not use.
 */
#ifndef AMBIT_JSON_MEMO_H
#define AMBIT_JSON_MEMO_H

#include <stddef.h>
#include <stdint.h>

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

/* Chained hashing of fields (XXH3, each seeding the next). */
uint64_t json_hash_str(const char *v, uint64_t h); /* NULL as "" (written as "") */
uint64_t json_hash_opt(const char *v, uint64_t h); /* NULL apart from "" (NULL: not written) */
uint64_t json_hash_mem(const void *v, size_t len, uint64_t h);

#endif
