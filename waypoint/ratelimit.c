// SPDX-License-Identifier: Apache-2.0
/* Local rate limiting: shared token buckets and bounded per-client tables (ratelimit.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cluster.h"
#include "ratelimit.h"

#define NONE UINT32_MAX

/* A bucket: the fill period it was last brought up to (high half) and its tokens (low half). */
static uint64_t bucket_full(const struct config_token_bucket *b)
{
	return b->max_tokens;
}

/*
 * Takes a token from @st, first adding what the fill periods since its last visit brought (as
 * Envoy's fill timer would have, from @t0). False when it is empty. *@left: what remains.
 */
static bool bucket_take(uint64_t *st, const struct config_token_bucket *b, uint64_t t0,
			uint64_t now, uint32_t *left)
{
	uint32_t period = (uint32_t)((now > t0 ? now - t0 : 0) / b->fill_interval_ms);
	uint64_t old = __atomic_load_n(st, __ATOMIC_ACQUIRE);

	for (;;) {
		uint64_t periods = (uint32_t)(period - (uint32_t)(old >> 32));
		uint64_t tokens = (uint32_t)old + periods * b->tokens_per_fill;

		if (tokens > b->max_tokens)
			tokens = b->max_tokens;
		if (!tokens) {
			*left = 0;
			return false;
		}
		if (__atomic_compare_exchange_n(st, &old, ((uint64_t)period << 32) | (tokens - 1),
						false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			*left = (uint32_t)(tokens - 1);
			return true;
		}
	}
}

/* Seconds until the next fill period starts (x-ratelimit-reset). */
static uint64_t reset_after(const struct config_token_bucket *b, uint64_t t0, uint64_t now)
{
	uint64_t into = (now > t0 ? now - t0 : 0) % b->fill_interval_ms;

	return (b->fill_interval_ms - into + 999) / 1000;
}

struct key_entry {
	uint64_t hash, state;
	uint32_t prev, next; /* the LRU list, most recent first */
	uint32_t chain;	     /* the next entry of its slot */
};

/* At most @cap buckets by key hash: chained slots, and an LRU list to evict from. */
struct keyed {
	pthread_mutex_t mu;
	uint32_t cap, n, head, tail, mask;
	uint32_t *slots;
	struct key_entry *e;
};

static struct keyed *keyed_new(uint32_t cap)
{
	struct keyed *k = calloc(1, sizeof(*k));
	uint32_t nslots = 16;

	if (!k)
		return NULL;
	while (nslots < 2 * cap)
		nslots *= 2;
	k->cap = cap;
	k->mask = nslots - 1;
	k->head = k->tail = NONE;
	k->slots = malloc(nslots * sizeof(*k->slots));
	k->e = calloc(cap, sizeof(*k->e));
	if (!k->slots || !k->e || pthread_mutex_init(&k->mu, NULL)) {
		free(k->slots);
		free(k->e);
		free(k);
		return NULL;
	}
	memset(k->slots, 0xff, nslots * sizeof(*k->slots));
	return k;
}

static void keyed_free(struct keyed *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->mu);
	free(k->slots);
	free(k->e);
	free(k);
}

static void lru_unlink(struct keyed *k, uint32_t i)
{
	struct key_entry *e = &k->e[i];

	if (e->prev != NONE)
		k->e[e->prev].next = e->next;
	else
		k->head = e->next;
	if (e->next != NONE)
		k->e[e->next].prev = e->prev;
	else
		k->tail = e->prev;
}

static void lru_push(struct keyed *k, uint32_t i)
{
	k->e[i].prev = NONE;
	k->e[i].next = k->head;
	if (k->head != NONE)
		k->e[k->head].prev = i;
	k->head = i;
	if (k->tail == NONE)
		k->tail = i;
}

static void slot_unlink(struct keyed *k, uint32_t i)
{
	uint32_t *p = &k->slots[k->e[i].hash & k->mask];

	while (*p != i)
		p = &k->e[*p].chain;
	*p = k->e[i].chain;
}

/* The entry of @hash, made (full) or recycled from the least recently used when new. */
static struct key_entry *keyed_get(struct keyed *k, uint64_t hash, uint64_t full)
{
	uint32_t i = k->slots[hash & k->mask];

	while (i != NONE && k->e[i].hash != hash)
		i = k->e[i].chain;
	if (i != NONE) {
		lru_unlink(k, i);
		lru_push(k, i);
		return &k->e[i];
	}
	if (k->n < k->cap) {
		i = k->n++;
	} else {
		i = k->tail;
		lru_unlink(k, i);
		slot_unlink(k, i);
	}
	k->e[i].hash = hash;
	k->e[i].state = full;
	k->e[i].chain = k->slots[hash & k->mask];
	k->slots[hash & k->mask] = i;
	lru_push(k, i);
	return &k->e[i];
}

/*
 * A rate limit's buckets, shared by the generations whose model has it unchanged (the same
 * name, buckets and keys: wp_rl_inherit): a new snapshot (a pod started somewhere) does not
 * fill them again. Reference counted: generations end in any order.
 */
struct limit_store {
	int refs; /* atomic */
	uint64_t fingerprint;
	uint64_t bucket;
	size_t n_rules;
	uint64_t *rule_bucket;
	struct keyed **keyed;
};

struct rule_state {
	struct wp_route_table *match;
};

struct limit_state {
	struct limit_store *store;
	struct rule_state *rules;
};

struct wp_rl_state {
	const struct l7_config *c;
	struct limit_state *limits;
};

/* The process's clock origin and hash seed: the same for every generation's buckets. */
static uint64_t rl_t0, rl_seed;
static pthread_once_t rl_once = PTHREAD_ONCE_INIT;
static uint64_t rl_first_now;

static void rl_init(void)
{
	rl_t0 = rl_first_now;
	/* Keys are hashed with a seed no client can know: no chosen collisions. */
	rl_seed = wp_random();
}

static void store_put(struct limit_store *ls)
{
	if (!ls || __atomic_sub_fetch(&ls->refs, 1, __ATOMIC_ACQ_REL))
		return;
	for (size_t j = 0; ls->keyed && j < ls->n_rules; j++)
		keyed_free(ls->keyed[j]);
	free(ls->keyed);
	free(ls->rule_bucket);
	free(ls);
}

/* What makes @rl's buckets what they are: they carry over only when this is unchanged. */
static uint64_t fingerprint(const struct l7_ratelimit *rl)
{
	XXH64_state_t *h = XXH64_createState();
	uint64_t fp;

	if (!h)
		return 0;
	XXH64_reset(h, 0);
	XXH64_update(h, rl->name, strlen(rl->name) + 1);
	XXH64_update(h, &rl->has_bucket, sizeof(rl->has_bucket));
	XXH64_update(h, &rl->bucket, sizeof(rl->bucket));
	XXH64_update(h, &rl->n_rules, sizeof(rl->n_rules));
	for (size_t j = 0; j < rl->n_rules; j++) {
		const struct l7_rl_rule *r = &rl->rules[j];

		XXH64_update(h, &r->bucket, sizeof(r->bucket));
		XXH64_update(h, &r->key, sizeof(r->key));
		XXH64_update(h, &r->max_keys, sizeof(r->max_keys));
		if (r->key_header)
			XXH64_update(h, r->key_header, strlen(r->key_header) + 1);
	}
	fp = XXH64_digest(h);
	XXH64_freeState(h);
	return fp;
}

static struct limit_store *store_new(const struct l7_ratelimit *rl)
{
	struct limit_store *ls = calloc(1, sizeof(*ls));

	if (!ls)
		return NULL;
	ls->refs = 1;
	ls->fingerprint = fingerprint(rl);
	ls->bucket = bucket_full(&rl->bucket);
	ls->n_rules = rl->n_rules;
	ls->rule_bucket = calloc(rl->n_rules + 1, sizeof(*ls->rule_bucket));
	ls->keyed = calloc(rl->n_rules + 1, sizeof(*ls->keyed));
	if (!ls->rule_bucket || !ls->keyed) {
		store_put(ls);
		return NULL;
	}
	for (size_t j = 0; j < rl->n_rules; j++) {
		const struct l7_rl_rule *r = &rl->rules[j];

		ls->rule_bucket[j] = bucket_full(&r->bucket);
		if (r->key && !(ls->keyed[j] = keyed_new(r->max_keys ? r->max_keys : 1))) {
			store_put(ls);
			return NULL;
		}
	}
	return ls;
}

void wp_rl_free(struct wp_rl_state *st)
{
	if (!st)
		return;
	for (size_t i = 0; st->limits && i < st->c->n_ratelimits; i++) {
		for (size_t j = 0; st->limits[i].rules && j < st->c->ratelimits[i].n_rules; j++)
			wp_route_table_free(st->limits[i].rules[j].match);
		free(st->limits[i].rules);
		store_put(st->limits[i].store);
	}
	free(st->limits);
	free(st);
}

void wp_rl_inherit(struct wp_rl_state *st, const struct wp_rl_state *old)
{
	for (size_t i = 0; st && old && i < st->c->n_ratelimits; i++) {
		struct limit_state *ls = &st->limits[i];

		for (size_t k = 0; k < old->c->n_ratelimits; k++) {
			struct limit_store *o = old->limits[k].store;

			if (o->fingerprint != ls->store->fingerprint ||
			    strcmp(old->c->ratelimits[k].name, st->c->ratelimits[i].name))
				continue;
			__atomic_add_fetch(&o->refs, 1, __ATOMIC_RELAXED);
			store_put(ls->store);
			ls->store = o;
			break;
		}
	}
}

struct wp_rl_state *wp_rl_new(const struct l7_config *c, uint64_t now_ms, char *why, size_t len)
{
	struct wp_rl_state *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	rl_first_now = now_ms;
	pthread_once(&rl_once, rl_init);
	st->c = c;
	st->limits = calloc(c->n_ratelimits + 1, sizeof(*st->limits));
	if (!st->limits)
		goto fail;
	for (size_t i = 0; i < c->n_ratelimits; i++) {
		const struct l7_ratelimit *rl = &c->ratelimits[i];
		struct limit_state *ls = &st->limits[i];

		ls->rules = calloc(rl->n_rules + 1, sizeof(*ls->rules));
		ls->store = store_new(rl);
		if (!ls->rules || !ls->store)
			goto fail;
		for (size_t j = 0; j < rl->n_rules; j++) {
			const struct l7_rl_rule *r = &rl->rules[j];
			struct rule_state *rs = &ls->rules[j];

			rs->match = wp_match_table_new(r->matches, r->n_matches, why, len);
			if (!rs->match)
				goto fail;
		}
	}
	return st;
fail:
	wp_rl_free(st);
	return NULL;
}

/* The request's key for @r hashed into *@h; false when it has none (a header it lacks). */
static bool key_hash(const struct wp_rl_state *st, const struct l7_rl_rule *r,
		     const struct wp_rl_request *rq, uint64_t *h)
{
	const char *p = rq->principal ? rq->principal : "";
	bool found = false;

	*h = XXH64(&r->key, sizeof(r->key), rl_seed);
	switch (r->key) {
	case CONFIG_RL_KEY_REMOTE_ADDRESS:
		*h = XXH64(rq->remote_ip, strlen(rq->remote_ip), *h);
		return true;
	case CONFIG_RL_KEY_SOURCE_PRINCIPAL: *h = XXH64(p, strlen(p), *h); return true;
	case CONFIG_RL_KEY_HEADER:
		/* Repeated fields count as their values joined, as Envoy reads them. */
		for (size_t i = 0; i < rq->rq->n_headers; i++) {
			const struct http_field *f = &rq->rq->headers[i];

			if (strcmp(f->name, r->key_header))
				continue;
			*h = XXH64(f->value, f->value_len, *h + found);
			found = true;
		}
		return found;
	default: return true;
	}
}

static bool rule_matches(const struct rule_state *rs, const struct l7_rl_rule *r,
			 const struct wp_request *rq)
{
	if (!r->n_matches)
		return true;
	for (size_t i = 0; i < r->n_matches; i++)
		if (wp_match_request(rs->match, &r->matches[i], rq))
			return true;
	return false;
}

/* Takes from one bucket; remembers the tightest for the x-ratelimit headers. */
static bool take(struct wp_rl_state *st, uint64_t *bucket, const struct config_token_bucket *b,
		 const struct l7_ratelimit *rl, const struct wp_rl_request *rq,
		 struct wp_rl_decision *d)
{
	uint32_t left;
	bool ok = bucket_take(bucket, b, rl_t0, rq->now_ms, &left);

	if (rl->rate_limit_headers && (!d->headers_of || left < d->remaining)) {
		d->headers_of = rl;
		d->limit_tokens = b->max_tokens;
		d->remaining = left;
		d->reset_s = reset_after(b, rl_t0, rq->now_ms);
	}
	return ok;
}

/* True when @rl's buckets refuse the request. */
static bool over_limit(struct wp_rl_state *st, size_t idx, const struct wp_rl_request *rq,
		       struct wp_rl_decision *d)
{
	const struct l7_ratelimit *rl = &st->c->ratelimits[idx];
	struct limit_state *ls = &st->limits[idx];
	struct limit_store *store = ls->store;
	bool matched = false;

	for (size_t j = 0; j < rl->n_rules; j++) {
		const struct l7_rl_rule *r = &rl->rules[j];
		struct rule_state *rs = &ls->rules[j];
		uint64_t h;
		bool ok;

		if (!rule_matches(rs, r, rq->rq) || !key_hash(st, r, rq, &h))
			continue;
		matched = true;
		if (!store->keyed[j]) {
			ok = take(st, &store->rule_bucket[j], &r->bucket, rl, rq, d);
		} else {
			pthread_mutex_lock(&store->keyed[j]->mu);
			ok =
			    take(st, &keyed_get(store->keyed[j], h, bucket_full(&r->bucket))->state,
				 &r->bucket, rl, rq, d);
			pthread_mutex_unlock(&store->keyed[j]->mu);
		}
		if (!ok)
			return true;
	}
	if (rl->has_bucket && (!matched || rl->always_consume))
		return !take(st, &store->bucket, &rl->bucket, rl, rq, d);
	return false;
}

void wp_rl_decide(struct wp_rl_state *st, const struct l7_service *s,
		  const struct wp_rl_request *rq, struct wp_rl_decision *d)
{
	uint16_t target = 0;

	memset(d, 0, sizeof(*d));
	for (size_t i = 0; i < s->n_ports; i++)
		if (s->ports[i].port == rq->rq->port)
			target = s->ports[i].target_port;
	for (size_t i = 0; st && i < s->n_ratelimit; i++) {
		size_t idx = s->ratelimit[i];
		const struct l7_ratelimit *rl = &st->c->ratelimits[idx];

		/* A sidecar's inbound|http|PORT is the workload's port: the target here. */
		if (rl->port && rl->port != rq->rq->port && rl->port != target)
			continue;
		if (rq->enabled_draw >= rl->enabled_ppm || !over_limit(st, idx, rq, d))
			continue;
		/* Shadow mode counts it and lets it on to the next rate limit. */
		if (!d->limit || !d->enforced) {
			d->limit = rl;
			d->enforced = rq->enforced_draw < rl->enforced_ppm;
		}
		if (d->enforced)
			return;
	}
}
