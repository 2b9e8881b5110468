/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wire's one decoding kit: strict reads of a cJSON document's members, each failure named by
 * its path ("workloads[3].ip: expected an IPv4 address string"). Every decoder of the contract
 * (the snapshot, the policy set, the L7 model) reads its members through these, so the agent's
 * peers either take exactly what it sent or keep what they had.
 *
 * @path names the object holding @key ("" at the root: the key alone). The first failure is kept
 * in the caller's buffer; later ones are dropped, and every helper returns a zero value once
 * d->failed is set.
 */
#ifndef AMBIT_WIRE_DEC_H
#define AMBIT_WIRE_DEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ambit/ipaddr.h"

struct cJSON;
struct config_strings;
struct config_labels;

/* The most entries an array may hold, unless a decoder sets its own max_list. */
#define WIRE_MAX_LIST 100000

struct wire_dec {
	char *err; /* the first failure's words (may be NULL) */
	size_t errlen;
	bool failed;
	/*
	 * A JSON null reads as an absent member (the snapshot's decoder has read it so since its
	 * first version; the L7 model's refuses it as a wrong type).
	 */
	bool null_absent;
	size_t max_list; /* 0: WIRE_MAX_LIST; SIZE_MAX: no limit */
};

/* Records the first failure (later ones keep it). */
void wire_fail(struct wire_dec *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Member @key of @o: NULL when absent (or null, with null_absent). */
const struct cJSON *wire_member(const struct wire_dec *d, const struct cJSON *o, const char *key);
/* The same, failing as missing when @req. */
const struct cJSON *wire_get(struct wire_dec *d, const struct cJSON *o, const char *key,
			     const char *path, bool req);
/* @o is an object whose members are all in the NULL-terminated @allowed. */
bool wire_keys(struct wire_dec *d, const struct cJSON *o, const char *path,
	       const char *const *allowed);
/* A malloc'd string (NULL when absent; @req: absent fails). */
char *wire_str(struct wire_dec *d, const struct cJSON *o, const char *key, const char *path,
	       bool req);
/*
 * An integer in [@min, @max] (0 when absent). wire_num_at: the same into *@out, false when it
 * failed (an optional member absent is 0, and true).
 */
double wire_num(struct wire_dec *d, const struct cJSON *o, const char *key, const char *path,
		double min, double max, bool req);
bool wire_num_at(struct wire_dec *d, const struct cJSON *o, const char *key, const char *path,
		 double min, double max, bool req, double *out);
bool wire_bool(struct wire_dec *d, const struct cJSON *o, const char *key, const char *path);
/* An index into the NULL-terminated @names (0 when absent). */
int wire_enum(struct wire_dec *d, const struct cJSON *o, const char *key, const char *path,
	      const char *const *names, bool req);
/* An array (NULL when absent; its size in *@n). */
const struct cJSON *wire_arr(struct wire_dec *d, const struct cJSON *o, const char *key,
			     const char *path, size_t *n);
/* @n + 1 zeroed elements of @size. */
void *wire_alloc(struct wire_dec *d, size_t n, size_t size, const char *path);
/* An IPv4 address in network order (0 when absent; @req: absent fails; "" is absent). */
uint32_t wire_ip(struct wire_dec *d, const struct cJSON *o, const char *key, const char *path,
		 bool req);
/* An optional IPv6 address (one, not a prefix, not a mapped IPv4): family 0 when absent. */
struct ipaddr wire_ip6(struct wire_dec *d, const struct cJSON *o, const char *key,
		       const char *path);
void wire_strings(struct wire_dec *d, const struct cJSON *o, const char *key, const char *path,
		  struct config_strings *out);
void wire_labels(struct wire_dec *d, const struct cJSON *o, const char *key, const char *path,
		 struct config_labels *out);

#endif
