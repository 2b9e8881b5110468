// SPDX-License-Identifier: Apache-2.0
/*
 * The L7 model's local rate limits on the wire: their destructor and their JSON ("rateLimits"
 * of the model, each service naming its own by index). Which ones a waypoint enforces is the
 * compiler's (l7/ratelimit.c).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "l7_priv.h"

static const char *const key_names[] = {"", "remoteAddress", "sourcePrincipal", "header", NULL};

void l7_ratelimit_clear(struct l7_ratelimit *r)
{
	free(r->name);
	config_labels_free(&r->response_headers);
	for (size_t i = 0; r->rules && i < r->n_rules; i++) {
		l7_matches_free(r->rules[i].matches, r->rules[i].n_matches);
		free(r->rules[i].key_header);
	}
	free(r->rules);
	memset(r, 0, sizeof(*r));
}

/* ---- JSON ---- */

static cJSON *bucket_to_json(cJSON *o, const char *key, const struct config_token_bucket *b)
{
	cJSON *m = cJSON_AddObjectToObject(o, key);

	if (!m || !cJSON_AddNumberToObject(m, "maxTokens", b->max_tokens) ||
	    !cJSON_AddNumberToObject(m, "tokensPerFill", b->tokens_per_fill) ||
	    !cJSON_AddNumberToObject(m, "fillIntervalMs", (double)b->fill_interval_ms))
		return NULL;
	return m;
}

static int rule_to_json(cJSON *a, const struct l7_rl_rule *r)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || !cJSON_AddItemToArray(a, o)) {
		cJSON_Delete(o);
		return -ENOMEM;
	}
	if (l7j_matches_to_json(o, r->matches, r->n_matches) ||
	    !bucket_to_json(o, "bucket", &r->bucket))
		return -ENOMEM;
	if (r->key && (!cJSON_AddStringToObject(o, "key", key_names[r->key]) ||
		       !cJSON_AddNumberToObject(o, "maxKeys", r->max_keys)))
		return -ENOMEM;
	if (r->key_header && !cJSON_AddStringToObject(o, "keyHeader", r->key_header))
		return -ENOMEM;
	return 0;
}

static int ratelimit_to_json(cJSON *a, const struct l7_ratelimit *r)
{
	cJSON *o = cJSON_CreateObject(), *h, *rules;

	if (!o || !cJSON_AddItemToArray(a, o)) {
		cJSON_Delete(o);
		return -ENOMEM;
	}
	if (!cJSON_AddStringToObject(o, "name", r->name) ||
	    (r->port && !cJSON_AddNumberToObject(o, "port", r->port)) ||
	    (r->has_bucket && !bucket_to_json(o, "bucket", &r->bucket)) ||
	    !cJSON_AddBoolToObject(o, "alwaysConsume", r->always_consume) ||
	    !cJSON_AddNumberToObject(o, "enabledPpm", r->enabled_ppm) ||
	    !cJSON_AddNumberToObject(o, "enforcedPpm", r->enforced_ppm) ||
	    !cJSON_AddNumberToObject(o, "status", r->status) ||
	    (r->rate_limit_headers && !cJSON_AddBoolToObject(o, "rateLimitHeaders", true)) ||
	    !(h = cJSON_AddObjectToObject(o, "responseHeaders")) ||
	    !(rules = cJSON_AddArrayToObject(o, "rules")))
		return -ENOMEM;
	for (size_t i = 0; i < r->response_headers.n; i++)
		if (!cJSON_AddStringToObject(h, r->response_headers.items[i].key,
					     r->response_headers.items[i].value))
			return -ENOMEM;
	for (size_t i = 0; i < r->n_rules; i++)
		if (rule_to_json(rules, &r->rules[i]))
			return -ENOMEM;
	return 0;
}

int l7j_ratelimits_to_json(const struct l7_config *c, cJSON *root)
{
	cJSON *a;

	if (!c->n_ratelimits)
		return 0;
	if (!(a = cJSON_AddArrayToObject(root, "rateLimits")))
		return -ENOMEM;
	for (size_t i = 0; i < c->n_ratelimits; i++)
		if (ratelimit_to_json(a, &c->ratelimits[i]))
			return -ENOMEM;
	return 0;
}

int l7j_service_ratelimits_to_json(const struct l7_service *s, cJSON *o)
{
	return l7j_indices_to_json(o, "rateLimits", s->ratelimit, s->n_ratelimit);
}

/* Decoded as the loader validates: what it would refuse, the decoder refuses too. */
static void dbucket(struct wire_dec *d, const cJSON *o, const char *key, const char *path,
		    struct config_token_bucket *b)
{
	static const char *const k[] = {"maxTokens", "tokensPerFill", "fillIntervalMs", NULL};
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, key);
	char p[320];

	snprintf(p, sizeof(p), "%.200s.%s", path, key);
	if (!m) {
		wire_fail(d, "%s: missing", p);
		return;
	}
	if (!wire_keys(d, m, p, k))
		return;
	b->max_tokens = (uint32_t)wire_num(d, m, "maxTokens", p, 1, UINT32_MAX, true);
	b->tokens_per_fill = (uint32_t)wire_num(d, m, "tokensPerFill", p, 1, UINT32_MAX, true);
	b->fill_interval_ms = (uint64_t)wire_num(d, m, "fillIntervalMs", p, 50, 1e15, true);
}

static void drule(struct wire_dec *d, const cJSON *o, const char *path, struct l7_rl_rule *r)
{
	static const char *const k[] = {"matches", "bucket", "key", "maxKeys", "keyHeader", NULL};

	if (!wire_keys(d, o, path, k))
		return;
	l7j_dmatches(d, o, path, &r->matches, &r->n_matches);
	dbucket(d, o, "bucket", path, &r->bucket);
	r->key = wire_enum(d, o, "key", path, key_names, false);
	if (d->failed)
		return;
	r->key_header = wire_str(d, o, "keyHeader", path, r->key == CONFIG_RL_KEY_HEADER);
	if (r->key)
		r->max_keys =
		    (uint32_t)wire_num(d, o, "maxKeys", path, 1, CONFIG_RL_MAX_KEYS_LIMIT, true);
	if (!d->failed && !r->key && r->key_header)
		wire_fail(d, "%s.keyHeader: only with key header", path);
}

static void dratelimit(struct wire_dec *d, const cJSON *o, const char *path, struct l7_ratelimit *r)
{
	static const char *const k[] = {
	    "name",	   "port",   "bucket",		 "alwaysConsume",   "enabledPpm",
	    "enforcedPpm", "status", "rateLimitHeaders", "responseHeaders", "rules",
	    NULL};
	const cJSON *a, *it;
	size_t n;

	if (!wire_keys(d, o, path, k))
		return;
	r->name = wire_str(d, o, "name", path, true);
	r->port = (uint16_t)wire_num(d, o, "port", path, 1, 65535, false);
	r->has_bucket = cJSON_GetObjectItemCaseSensitive(o, "bucket") != NULL;
	if (r->has_bucket)
		dbucket(d, o, "bucket", path, &r->bucket);
	r->always_consume = wire_bool(d, o, "alwaysConsume", path);
	r->enabled_ppm = (uint32_t)wire_num(d, o, "enabledPpm", path, 0, 1000000, true);
	r->enforced_ppm = (uint32_t)wire_num(d, o, "enforcedPpm", path, 0, 1000000, true);
	r->status = (int)wire_num(d, o, "status", path, 400, 599, true);
	r->rate_limit_headers = wire_bool(d, o, "rateLimitHeaders", path);
	wire_labels(d, o, "responseHeaders", path, &r->response_headers);
	a = wire_arr(d, o, "rules", path, &n);
	if (d->failed || !(r->rules = wire_alloc(d, n, sizeof(*r->rules), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		char p[320];

		snprintf(p, sizeof(p), "%.200s.rules[%zu]", path, r->n_rules);
		drule(d, it, p, &r->rules[r->n_rules++]);
		if (d->failed)
			return;
	}
}

void l7j_ratelimits(struct wire_dec *d, const cJSON *j, struct l7_config *c)
{
	const cJSON *a, *it;
	size_t n;

	if (!cJSON_GetObjectItemCaseSensitive(j, "rateLimits"))
		return;
	a = wire_arr(d, j, "rateLimits", "l7", &n);
	if (d->failed || !(c->ratelimits = wire_alloc(d, n, sizeof(*c->ratelimits), "l7")))
		return;
	cJSON_ArrayForEach(it, a)
	{
		char p[64];

		snprintf(p, sizeof(p), "l7.rateLimits[%zu]", c->n_ratelimits);
		dratelimit(d, it, p, &c->ratelimits[c->n_ratelimits++]);
		if (d->failed)
			return;
	}
}

void l7j_service_ratelimits(struct wire_dec *d, const cJSON *o, const char *path,
			    const struct l7_config *c, struct l7_service *s)
{
	l7j_dindices(d, o, "rateLimits", path, c->n_ratelimits, &s->ratelimit, &s->n_ratelimit);
}
