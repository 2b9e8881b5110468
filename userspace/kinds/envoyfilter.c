// SPDX-License-Identifier: Apache-2.0
/*
 * EnvoyFilter (networking.istio.io v1alpha3), the one shape Istio's local rate limit tutorials
 * and its samples/ratelimit/local-rate-limit-service.yaml write (API_SEMANTICS.md §10): an
 * HTTP_FILTER patch inserting envoy.filters.http.local_ratelimit, and optionally an HTTP_ROUTE
 * MERGE whose route.rate_limits actions make the request's descriptors and whose
 * typed_per_filter_config holds the LocalRateLimit (token_bucket, filter_enabled,
 * filter_enforced, response_headers_to_add, descriptors, enable_x_ratelimit_headers, status,
 * always_consume_default_token_bucket). Istio ignores EnvoyFilters at waypoints; ambit
 * translates this shape into a struct config_rate_limit as it loads and refuses anything
 * else, naming the field: another filter, applyTo or operation, an unknown key.
 *
 * The translation: each descriptor becomes a rule, matching the requests for which some
 * rate_limits entry makes exactly the descriptor's entries (header_value_match and :path,
 * :method, :authority, :scheme or header conditions; request_headers with a value: that value;
 * generic_key: always). An entry whose value is empty (Envoy's dynamic descriptors) makes a
 * bucket per value: remote_address per client address, request_headers per header value.
 * The waypoint sees the per-route config as the whole service's (a waypoint has no inbound
 * virtual host per port: `inbound|http|PORT` restricts it to that port).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

#define RL struct config_rate_limit
#define TB struct config_token_bucket

#define FILTER_NAME "envoy.filters.http.local_ratelimit"
#define LRL_TYPE                                                                                   \
	"type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
#define HCM_NAME "envoy.filters.network.http_connection_manager"
#define MAX_ALTERNATIVES 64

/* ---- what the patches say, before translation ---- */

struct ef_entry {
	char *key, *value;
};

struct ef_desc {
	size_t n_entries;
	struct ef_entry *entries;
	TB bucket;
	bool has_bucket;
};

/* One Envoy HeaderMatcher. */
struct ef_header {
	char *name;
	char *exact, *prefix, *suffix, *contains, *regex;
	bool ignore_case, present, invert;
};

enum ef_action_type {
	EF_NONE = 0,
	EF_REMOTE_ADDRESS,
	EF_HEADER_VALUE_MATCH,
	EF_REQUEST_HEADERS,
	EF_GENERIC_KEY,
};

struct ef_action {
	enum ef_action_type type;
	char *key, *value; /* descriptor_key (defaulted), descriptor_value */
	bool expect_match, has_expect;
	size_t n_headers;
	struct ef_header *headers;
	char *header_name; /* request_headers */
	bool skip_if_absent;
};

struct ef_rate_limit {
	size_t n_actions;
	struct ef_action *actions;
};

/* A LocalRateLimit (the filter's, or a route's). */
struct ef_lrl {
	bool present;
	bool has_bucket;
	TB bucket;
	double enabled, enforced;
	int status;
	bool xrl, always_consume;
	struct config_labels headers;
	size_t n_desc;
	struct ef_desc *desc;
	yaml_node_t *desc_node;
};

struct ef_patch {
	char *apply_to, *operation, *context;
	uint16_t port;
	bool route_action_any;
	/* HTTP_FILTER */
	bool is_filter;
	struct ef_lrl lrl;
	/* HTTP_ROUTE */
	size_t n_rate_limits;
	struct ef_rate_limit *rate_limits;
	yaml_node_t *node;
};

static void header_free(struct ef_header *h)
{
	free(h->name);
	free(h->exact);
	free(h->prefix);
	free(h->suffix);
	free(h->contains);
	free(h->regex);
}

static void action_free(struct ef_action *a)
{
	free(a->key);
	free(a->value);
	for (size_t i = 0; i < a->n_headers; i++)
		header_free(&a->headers[i]);
	free(a->headers);
	free(a->header_name);
}

static void lrl_free(struct ef_lrl *l)
{
	config_labels_free(&l->headers);
	for (size_t i = 0; i < l->n_desc; i++) {
		for (size_t j = 0; j < l->desc[i].n_entries; j++) {
			free(l->desc[i].entries[j].key);
			free(l->desc[i].entries[j].value);
		}
		free(l->desc[i].entries);
	}
	free(l->desc);
}

static void patch_free(struct ef_patch *p)
{
	free(p->apply_to);
	free(p->operation);
	free(p->context);
	lrl_free(&p->lrl);
	for (size_t i = 0; i < p->n_rate_limits; i++) {
		for (size_t j = 0; j < p->rate_limits[i].n_actions; j++)
			action_free(&p->rate_limits[i].actions[j]);
		free(p->rate_limits[i].actions);
	}
	free(p->rate_limits);
}

static int want_str(struct cfg_ctx *ctx, yaml_node_t *v, const char *want)
{
	const char *s = (const char *)v->data.scalar.value;

	if (strcmp(s, want)) {
		cfg_error(ctx, v, "\"%.96s\": only %s is supported", s, want);
		return -EINVAL;
	}
	return 0;
}

static int nonempty(struct cfg_ctx *ctx, yaml_node_t *v, char **out)
{
	if (cfg_get_str(ctx, v, out))
		return -EINVAL;
	if (!**out) {
		cfg_error(ctx, v, "must not be empty");
		return -EINVAL;
	}
	return 0;
}

/* ---- LocalRateLimit ---- */

static int token_bucket(struct cfg_ctx *ctx, yaml_node_t *v, TB *b)
{
	return cfg_rl_bucket(ctx, v, true, b);
}

static int lrl_bucket(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_lrl *l = o;

	l->has_bucket = true;
	return token_bucket(ctx, v, &l->bucket);
}

/* type.v3.FractionalPercent {numerator, denominator} as a percentage. */
struct fraction {
	long long numerator;
	long long per; /* 100, 10000, 1000000 */
};

static int fr_numerator(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_int(ctx, v, 0, UINT32_MAX, &((struct fraction *)o)->numerator);
}

static int fr_denominator(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const names[] = {"HUNDRED", "TEN_THOUSAND", "MILLION", NULL};
	static const long long per[] = {100, 10000, 1000000};
	const char *s = (const char *)v->data.scalar.value;

	if (cfg_check_enum(ctx, v, names, NULL))
		return -EINVAL;
	for (size_t i = 0; names[i]; i++)
		if (!strcmp(s, names[i]))
			((struct fraction *)o)->per = per[i];
	return 0;
}

static const struct cfg_field fraction_fields[] = {
    {"numerator", CFG_T_INT, fr_numerator, 0},
    {"denominator", CFG_T_STR, fr_denominator, 0},
    {NULL, 0, NULL, 0},
};

static int rf_default(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct fraction f = {.per = 100};
	double *pct = o;

	if (cfg_walk_map(ctx, v, fraction_fields, &f))
		return -EINVAL;
	/* Envoy caps a numerator above its denominator at 100%. */
	*pct = f.numerator >= f.per ? 100.0 : 100.0 * (double)f.numerator / (double)f.per;
	return 0;
}

/* config.core.v3.RuntimeFractionalPercent: runtime_key names an Envoy runtime ambit lacks, so
 * the default value is the value. */
static const struct cfg_field runtime_fraction_fields[] = {
    {"default_value", CFG_T_MAP, rf_default, CFG_F_REQUIRED},
    {"runtime_key", CFG_T_STR, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int lrl_enabled(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, runtime_fraction_fields, &((struct ef_lrl *)o)->enabled);
}

static int lrl_enforced(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, runtime_fraction_fields, &((struct ef_lrl *)o)->enforced);
}

static int st_code(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	/* Envoy's HttpStatus: a code below 400 is taken as 429. */
	if (cfg_get_int(ctx, v, 100, 599, &n))
		return -EINVAL;
	*(int *)o = n < 400 ? 429 : (int)n;
	return 0;
}

static const struct cfg_field status_fields[] = {
    {"code", CFG_T_ANY, st_code, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

static int lrl_status(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, status_fields, &((struct ef_lrl *)o)->status);
}

struct header_option {
	char *key, *value;
	bool has_value;
};

static int hv_key(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct header_option *h = o;

	if (cfg_rl_header_name(ctx, v, &h->key))
		return -EINVAL;
	return 0;
}

static int hv_value(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct header_option *h = o;

	h->has_value = true;
	return cfg_get_str(ctx, v, &h->value);
}

static const struct cfg_field header_value_fields[] = {
    {"key", CFG_T_STR, hv_key, CFG_F_REQUIRED},
    {"value", CFG_T_STR, hv_value, 0},
    {NULL, 0, NULL, 0},
};

static int ho_header(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, header_value_fields, o);
}

static int ho_append_action(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const a[] = {"APPEND_IF_EXISTS_OR_ADD", "ADD_IF_ABSENT",
					"OVERWRITE_IF_EXISTS_OR_ADD", NULL};

	(void)o;
	/* The 429 is the proxy's own answer: no header of that name is there before. */
	return cfg_check_enum(ctx, v, a, NULL);
}

static const struct cfg_field header_option_fields[] = {
    {"header", CFG_T_MAP, ho_header, CFG_F_REQUIRED},
    {"append", CFG_T_BOOL, NULL, 0},
    {"append_action", CFG_T_STR, ho_append_action, 0},
    {"keep_empty_value", CFG_T_BOOL, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int lrl_headers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_lrl *l = o;
	int before = ctx->nerrors;

	for (size_t i = 0; i < cfg_seq_len(v); i++) {
		struct header_option h = {0};
		size_t saved = cfg_path_push_index(ctx, i);

		if (!cfg_walk_map(ctx, cfg_seq_item(ctx, v, i), header_option_fields, &h) &&
		    config_labels_add(&l->headers, h.key, h.value ? h.value : ""))
			cfg_error(ctx, v, "out of memory");
		free(h.key);
		free(h.value);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int en_key(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return nonempty(ctx, v, &((struct ef_entry *)o)->key);
}

static int en_value(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((struct ef_entry *)o)->value);
}

static const struct cfg_field entry_fields[] = {
    {"key", CFG_T_STR, en_key, CFG_F_REQUIRED},
    {"value", CFG_T_STR, en_value, 0},
    {NULL, 0, NULL, 0},
};

static int ds_entries(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_desc *d = o;

	return cfg_parse_seq(ctx, v, entry_fields, sizeof(*d->entries), (void **)&d->entries,
			     &d->n_entries, true, "entries");
}

static int ds_bucket(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_desc *d = o;

	d->has_bucket = true;
	return token_bucket(ctx, v, &d->bucket);
}

static const struct cfg_field descriptor_fields[] = {
    {"entries", CFG_T_SEQ, ds_entries, CFG_F_REQUIRED},
    {"token_bucket", CFG_T_MAP, ds_bucket, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

static int lrl_descriptors(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_lrl *l = o;

	l->desc_node = v;
	return cfg_parse_seq(ctx, v, descriptor_fields, sizeof(*l->desc), (void **)&l->desc,
			     &l->n_desc, false, "descriptors");
}

static int lrl_xrl(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const modes[] = {"OFF", "DRAFT_VERSION_03", NULL};

	if (cfg_check_enum(ctx, v, modes, NULL))
		return -EINVAL;
	((struct ef_lrl *)o)->xrl = !strcmp((const char *)v->data.scalar.value, modes[1]);
	return 0;
}

static int lrl_always(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_bool(ctx, v, &((struct ef_lrl *)o)->always_consume);
}

static int lrl_stage(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	(void)o;
	/* Route rate_limits have stage 0 too (they may not say another). */
	return cfg_get_int(ctx, v, 0, 0, &n);
}

static int lrl_per_connection(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	bool b;

	(void)o;
	if (cfg_get_bool(ctx, v, &b))
		return -EINVAL;
	if (b) {
		cfg_error(ctx, v,
			  "per-connection buckets are not supported: the bucket is the "
			  "proxy's");
		return -EINVAL;
	}
	return 0;
}

static int lrl_type(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	(void)o;
	return want_str(ctx, v, LRL_TYPE);
}

/* extensions.filters.http.local_ratelimit.v3.LocalRateLimit, the fields ambit acts on. */
static const struct cfg_field lrl_fields[] = {
    {"@type", CFG_T_STR, lrl_type, 0},
    {"stat_prefix", CFG_T_STR, NULL, 0},
    {"status", CFG_T_MAP, lrl_status, 0},
    {"token_bucket", CFG_T_MAP, lrl_bucket, 0},
    {"filter_enabled", CFG_T_MAP, lrl_enabled, 0},
    {"filter_enforced", CFG_T_MAP, lrl_enforced, 0},
    {"response_headers_to_add", CFG_T_SEQ, lrl_headers, 0},
    {"descriptors", CFG_T_SEQ, lrl_descriptors, 0},
    {"stage", CFG_T_INT, lrl_stage, 0},
    {"local_rate_limit_per_downstream_connection", CFG_T_BOOL, lrl_per_connection, 0},
    {"enable_x_ratelimit_headers", CFG_T_STR, lrl_xrl, 0},
    {"always_consume_default_token_bucket", CFG_T_BOOL, lrl_always, 0},
    {NULL, 0, NULL, 0},
};

static int ts_type(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	const char *s = (const char *)v->data.scalar.value;

	(void)o;
	if (strcmp(s, "type.googleapis.com/udpa.type.v1.TypedStruct") &&
	    strcmp(s, "type.googleapis.com/xds.type.v3.TypedStruct")) {
		cfg_error(ctx, v, "\"%.96s\": only a TypedStruct or " LRL_TYPE " is supported", s);
		return -EINVAL;
	}
	return 0;
}

static int ts_type_url(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	(void)o;
	return want_str(ctx, v, LRL_TYPE);
}

static int ts_value(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, lrl_fields, o);
}

static const struct cfg_field typed_struct_fields[] = {
    {"@type", CFG_T_STR, ts_type, CFG_F_REQUIRED},
    {"type_url", CFG_T_STR, ts_type_url, CFG_F_REQUIRED},
    {"value", CFG_T_MAP, ts_value, 0},
    {NULL, 0, NULL, 0},
};

/* A typed config: a TypedStruct holding a LocalRateLimit, or the LocalRateLimit itself. */
static int typed_lrl(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_lrl *l = o;
	yaml_node_t *t = cfg_map_get(ctx, v, "@type");

	l->present = true;
	l->status = 429;
	l->always_consume = true;
	if (t && t->type == YAML_SCALAR_NODE &&
	    strcmp((const char *)t->data.scalar.value, LRL_TYPE))
		return cfg_walk_map(ctx, v, typed_struct_fields, o);
	if (!t) {
		cfg_error(ctx, v, "required field \"@type\" is missing");
		return -EINVAL;
	}
	return cfg_walk_map(ctx, v, lrl_fields, o);
}

/* ---- HTTP_FILTER value ---- */

static int fv_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	(void)o;
	return want_str(ctx, v, FILTER_NAME);
}

static int fv_typed(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return typed_lrl(ctx, v, &((struct ef_patch *)o)->lrl);
}

static const struct cfg_field filter_value_fields[] = {
    {"name", CFG_T_STR, fv_name, CFG_F_REQUIRED},
    {"typed_config", CFG_T_MAP, fv_typed, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

/* ---- HTTP_ROUTE value: route.rate_limits and typed_per_filter_config ---- */

static int hm_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_header *h = o;

	if (nonempty(ctx, v, &h->name))
		return -EINVAL;
	for (char *c = h->name; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return 0;
}

#define SM_STR(fn, member)                                                                         \
	static int fn(struct cfg_ctx *ctx, yaml_node_t *v, void *o)                                \
	{                                                                                          \
		return cfg_get_str(ctx, v, &((struct ef_header *)o)->member);                      \
	}
SM_STR(sm_exact, exact)
SM_STR(sm_prefix, prefix)
SM_STR(sm_suffix, suffix)
SM_STR(sm_contains, contains)

static int sr_regex(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_header *h = o;

	if (cfg_get_str(ctx, v, &h->regex))
		return -EINVAL;
	return cfg_check_regex(ctx, v, h->regex);
}

static const struct cfg_field safe_regex_fields[] = {
    {"regex", CFG_T_STR, sr_regex, CFG_F_REQUIRED},
    {"google_re2", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int sm_safe_regex(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, safe_regex_fields, o);
}

static int sm_ignore_case(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_bool(ctx, v, &((struct ef_header *)o)->ignore_case);
}

static const struct cfg_field string_match_fields[] = {
    {"exact", CFG_T_STR, sm_exact, 0},
    {"prefix", CFG_T_STR, sm_prefix, 0},
    {"suffix", CFG_T_STR, sm_suffix, 0},
    {"contains", CFG_T_STR, sm_contains, 0},
    {"safe_regex", CFG_T_MAP, sm_safe_regex, 0},
    {"ignore_case", CFG_T_BOOL, sm_ignore_case, 0},
    {NULL, 0, NULL, 0},
};

static int hm_string_match(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_header *h = o;
	int err = cfg_walk_map(ctx, v, string_match_fields, o);

	if (!err && !!h->exact + !!h->prefix + !!h->suffix + !!h->contains + !!h->regex != 1) {
		cfg_error(ctx, v, "exactly one of exact, prefix, suffix, contains, safe_regex");
		err = -EINVAL;
	}
	return err;
}

static int hm_present(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_bool(ctx, v, &((struct ef_header *)o)->present);
}

static int hm_invert(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_bool(ctx, v, &((struct ef_header *)o)->invert);
}

static const struct cfg_field header_matcher_fields[] = {
    {"name", CFG_T_STR, hm_name, CFG_F_REQUIRED},
    {"string_match", CFG_T_MAP, hm_string_match, 0},
    {"present_match", CFG_T_BOOL, hm_present, 0},
    {"invert_match", CFG_T_BOOL, hm_invert, 0},
    {NULL, 0, NULL, 0},
};

static int hvm_key(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return nonempty(ctx, v, &((struct ef_action *)o)->key);
}

static int hvm_value(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return nonempty(ctx, v, &((struct ef_action *)o)->value);
}

static int hvm_expect(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_action *a = o;

	a->has_expect = true;
	return cfg_get_bool(ctx, v, &a->expect_match);
}

static int hvm_headers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_action *a = o;
	int err = cfg_parse_seq(ctx, v, header_matcher_fields, sizeof(*a->headers),
				(void **)&a->headers, &a->n_headers, true, "headers");

	for (size_t i = 0; !err && i < a->n_headers; i++) {
		struct ef_header *h = &a->headers[i];

		if (!h->present && !h->exact && !h->prefix && !h->suffix && !h->contains &&
		    !h->regex) {
			size_t saved = cfg_path_push_index(ctx, i);

			cfg_error(ctx, cfg_seq_item(ctx, v, i),
				  "string_match or present_match: true is required");
			cfg_path_pop(ctx, saved);
			err = -EINVAL;
		}
	}
	return err;
}

static const struct cfg_field header_value_match_fields[] = {
    {"descriptor_key", CFG_T_STR, hvm_key, 0},
    {"descriptor_value", CFG_T_STR, hvm_value, CFG_F_REQUIRED},
    {"expect_match", CFG_T_BOOL, hvm_expect, 0},
    {"headers", CFG_T_SEQ, hvm_headers, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

static int rh_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_rl_header_name(ctx, v, &((struct ef_action *)o)->header_name);
}

static int rh_skip(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_bool(ctx, v, &((struct ef_action *)o)->skip_if_absent);
}

static const struct cfg_field request_headers_fields[] = {
    {"header_name", CFG_T_STR, rh_name, CFG_F_REQUIRED},
    {"descriptor_key", CFG_T_STR, hvm_key, CFG_F_REQUIRED},
    {"skip_if_absent", CFG_T_BOOL, rh_skip, 0},
    {NULL, 0, NULL, 0},
};

static const struct cfg_field generic_key_fields[] = {
    {"descriptor_key", CFG_T_STR, hvm_key, 0},
    {"descriptor_value", CFG_T_STR, hvm_value, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

static const struct cfg_field empty_fields[] = {{NULL, 0, NULL, 0}};

static int act_remote(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	((struct ef_action *)o)->type = EF_REMOTE_ADDRESS;
	return cfg_walk_map(ctx, v, empty_fields, NULL);
}

static int act_header_match(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	((struct ef_action *)o)->type = EF_HEADER_VALUE_MATCH;
	return cfg_walk_map(ctx, v, header_value_match_fields, o);
}

static int act_request_headers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	((struct ef_action *)o)->type = EF_REQUEST_HEADERS;
	return cfg_walk_map(ctx, v, request_headers_fields, o);
}

static int act_generic(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	((struct ef_action *)o)->type = EF_GENERIC_KEY;
	return cfg_walk_map(ctx, v, generic_key_fields, o);
}

static const struct cfg_field action_fields[] = {
    {"remote_address", CFG_T_MAP, act_remote, 0},
    {"header_value_match", CFG_T_MAP, act_header_match, 0},
    {"request_headers", CFG_T_MAP, act_request_headers, 0},
    {"generic_key", CFG_T_MAP, act_generic, 0},
    {NULL, 0, NULL, 0},
};

static int rl_actions(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_rate_limit *r = o;
	int err = cfg_parse_seq(ctx, v, action_fields, sizeof(*r->actions), (void **)&r->actions,
				&r->n_actions, true, "actions");

	for (size_t i = 0; !err && i < r->n_actions; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		struct ef_action *a = &r->actions[i];
		static const char *const keys[] = {NULL, "remote_address", "header_match", NULL,
						   "generic_key"};

		if (item->data.mapping.pairs.top - item->data.mapping.pairs.start != 1) {
			size_t saved = cfg_path_push_index(ctx, i);

			cfg_error(ctx, item,
				  "an action is exactly one of remote_address, "
				  "header_value_match, request_headers, generic_key");
			cfg_path_pop(ctx, saved);
			return -EINVAL;
		}
		if (!a->key && keys[a->type] && !(a->key = strdup(keys[a->type]))) {
			cfg_error(ctx, item, "out of memory");
			return -ENOMEM;
		}
		if (!a->has_expect)
			a->expect_match = true;
	}
	return err;
}

static const struct cfg_field rate_limit_fields[] = {
    {"actions", CFG_T_SEQ, rl_actions, CFG_F_REQUIRED},
    {"stage", CFG_T_INT, lrl_stage, 0},
    {NULL, 0, NULL, 0},
};

static int rv_rate_limits(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_patch *p = o;

	return cfg_parse_seq(ctx, v, rate_limit_fields, sizeof(*p->rate_limits),
			     (void **)&p->rate_limits, &p->n_rate_limits, false, "rate_limits");
}

static const struct cfg_field route_action_fields[] = {
    {"rate_limits", CFG_T_SEQ, rv_rate_limits, 0},
    {NULL, 0, NULL, 0},
};

static int rv_route(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, route_action_fields, o);
}

static int tpf_lrl(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return typed_lrl(ctx, v, &((struct ef_patch *)o)->lrl);
}

static const struct cfg_field per_filter_fields[] = {
    {FILTER_NAME, CFG_T_MAP, tpf_lrl, 0},
    {NULL, 0, NULL, 0},
};

static int rv_per_filter(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, per_filter_fields, o);
}

static const struct cfg_field route_value_fields[] = {
    {"route", CFG_T_MAP, rv_route, 0},
    {"typed_per_filter_config", CFG_T_MAP, rv_per_filter, 0},
    {NULL, 0, NULL, 0},
};

/* ---- configPatches[] ---- */

static int port_number(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 1, 65535, &n))
		return -EINVAL;
	((struct ef_patch *)o)->port = (uint16_t)n;
	return 0;
}

static int sub_filter_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	(void)o;
	return want_str(ctx, v, "envoy.filters.http.router");
}

static const struct cfg_field sub_filter_fields[] = {
    {"name", CFG_T_STR, sub_filter_name, 0},
    {NULL, 0, NULL, 0},
};

static int filter_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	(void)o;
	return want_str(ctx, v, HCM_NAME);
}

static int filter_sub(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, sub_filter_fields, o);
}

static const struct cfg_field filter_match_fields[] = {
    {"name", CFG_T_STR, filter_name, 0},
    {"subFilter", CFG_T_MAP, filter_sub, 0},
    {NULL, 0, NULL, 0},
};

static int chain_filter(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, filter_match_fields, o);
}

static const struct cfg_field chain_fields[] = {
    {"filter", CFG_T_MAP, chain_filter, 0},
    {NULL, 0, NULL, 0},
};

static int listener_chain(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, chain_fields, o);
}

static const struct cfg_field listener_fields[] = {
    {"portNumber", CFG_T_INT, port_number, 0},
    {"filterChain", CFG_T_MAP, listener_chain, 0},
    {NULL, 0, NULL, 0},
};

static int route_action(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const a[] = {"ANY", NULL};

	(void)o;
	return cfg_check_enum(ctx, v, a, NULL);
}

static const struct cfg_field vhost_route_fields[] = {
    {"action", CFG_T_STR, route_action, 0},
    {NULL, 0, NULL, 0},
};

static int vhost_route(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, vhost_route_fields, o);
}

/* Istio names a sidecar's inbound virtual host "inbound|http|PORT". */
static int vhost_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	const char *s = (const char *)v->data.scalar.value;
	char *end;
	long port;

	if (strncmp(s, "inbound|http|", 13) || !isdigit((unsigned char)s[13]) ||
	    (port = strtol(s + 13, &end, 10)) < 1 || port > 65535 || *end) {
		cfg_error(ctx, v,
			  "\"%.96s\": only inbound|http|PORT (the workload's port) is "
			  "understood",
			  s);
		return -EINVAL;
	}
	((struct ef_patch *)o)->port = (uint16_t)port;
	return 0;
}

static const struct cfg_field vhost_fields[] = {
    {"name", CFG_T_STR, vhost_name, 0},
    {"route", CFG_T_MAP, vhost_route, 0},
    {NULL, 0, NULL, 0},
};

static int rc_vhost(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, vhost_fields, o);
}

static const struct cfg_field route_config_fields[] = {
    {"portNumber", CFG_T_INT, port_number, 0},
    {"vhost", CFG_T_MAP, rc_vhost, 0},
    {NULL, 0, NULL, 0},
};

static int m_context(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	/* SIDECAR_OUTBOUND is the client's side: no proxy of ambient's sits there. */
	static const char *const c[] = {"ANY", "SIDECAR_INBOUND", "GATEWAY", NULL};

	return cfg_check_enum(ctx, v, c, &((struct ef_patch *)o)->context);
}

static int m_listener(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, listener_fields, o);
}

static int m_route_config(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, route_config_fields, o);
}

static const struct cfg_field match_fields[] = {
    {"context", CFG_T_STR, m_context, 0},
    {"listener", CFG_T_MAP, m_listener, 0},
    {"routeConfiguration", CFG_T_MAP, m_route_config, 0},
    {NULL, 0, NULL, 0},
};

static int p_apply_to(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const a[] = {"HTTP_FILTER", "HTTP_ROUTE", NULL};
	struct ef_patch *p = o;

	if (cfg_check_enum(ctx, v, a, &p->apply_to))
		return -EINVAL;
	p->is_filter = !strcmp(p->apply_to, "HTTP_FILTER");
	return 0;
}

static int p_match(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, match_fields, o);
}

static int pp_operation(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const ops[] = {"INSERT_BEFORE", "INSERT_AFTER", "INSERT_FIRST",
					  "ADD",	   "MERGE",	   NULL};

	return cfg_check_enum(ctx, v, ops, &((struct ef_patch *)o)->operation);
}

static int pp_value(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_patch *p = o;

	/* applyTo comes first in every tutorial, but a mapping has no order: see finish. */
	p->node = v;
	return 0;
}

static const struct cfg_field patch_fields[] = {
    {"operation", CFG_T_STR, pp_operation, CFG_F_REQUIRED},
    {"value", CFG_T_MAP, pp_value, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

static int p_patch(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, patch_fields, o);
}

static const struct cfg_field config_patch_fields[] = {
    {"applyTo", CFG_T_STR, p_apply_to, CFG_F_REQUIRED},
    {"match", CFG_T_MAP, p_match, 0},
    {"patch", CFG_T_MAP, p_patch, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

/* The patch's value, walked once its applyTo is known. */
static int patch_value(struct cfg_ctx *ctx, yaml_node_t *item, struct ef_patch *p)
{
	size_t s1 = cfg_path_push(ctx, "patch"), s2;
	int err = 0;

	if (p->is_filter && !strcmp(p->operation, "MERGE")) {
		s2 = cfg_path_push(ctx, "operation");
		cfg_error(ctx, item,
			  "an HTTP_FILTER is inserted (INSERT_BEFORE, INSERT_AFTER, "
			  "INSERT_FIRST or ADD), not merged");
		err = -EINVAL;
	} else if (!p->is_filter && strcmp(p->operation, "MERGE")) {
		s2 = cfg_path_push(ctx, "operation");
		cfg_error(ctx, item, "an HTTP_ROUTE is merged (MERGE)");
		err = -EINVAL;
	} else {
		s2 = cfg_path_push(ctx, "value");
		err = cfg_walk_map(ctx, p->node,
				   p->is_filter ? filter_value_fields : route_value_fields, p);
	}
	cfg_path_pop(ctx, s2);
	cfg_path_pop(ctx, s1);
	return err;
}

/* ---- translation ---- */

/* Blocks of a rule being built: any of them (OR), each all of its conditions (AND). */
struct alts {
	size_t n;
	struct config_route_match *m;
};

static void alts_free(struct alts *a)
{
	for (size_t i = 0; i < a->n; i++)
		config_route_match_free(&a->m[i]);
	free(a->m);
	memset(a, 0, sizeof(*a));
}

/* @s with RE2's special characters escaped. */
static char *quote(const char *pre, const char *s, const char *post)
{
	size_t n = strlen(s);
	char *out = malloc(strlen(pre) + 2 * n + strlen(post) + 1), *o;

	if (!out)
		return NULL;
	o = out + sprintf(out, "%s", pre);
	for (; *s; s++) {
		if (strchr("\\.+*?()|[]{}^$", *s))
			*o++ = '\\';
		*o++ = *s;
	}
	strcpy(o, post);
	return out;
}

/* Envoy's StringMatcher as a VirtualService string match (suffix, contains and ignore_case
 * on anything but the path become a regex). */
static int to_string_match(const struct ef_header *h, bool path, struct config_string_match *m,
			   bool *ignore_uri_case)
{
	const char *ci = h->ignore_case ? "(?i)" : "";

	if (h->regex) {
		m->type = CONFIG_MATCH_REGEX;
		if (asprintf(&m->value, "%s%s", ci, h->regex) < 0)
			m->value = NULL;
	} else if ((h->exact || h->prefix) && (!h->ignore_case || path)) {
		m->type = h->exact ? CONFIG_MATCH_EXACT : CONFIG_MATCH_PREFIX;
		m->value = strdup(h->exact ? h->exact : h->prefix);
		*ignore_uri_case = h->ignore_case;
	} else {
		const char *v = h->exact    ? h->exact
				: h->prefix ? h->prefix
				: h->suffix ? h->suffix
					    : h->contains;
		char pre[8];

		snprintf(pre, sizeof(pre), "%s%s", ci, h->exact || h->prefix ? "" : ".*");
		m->type = CONFIG_MATCH_REGEX;
		m->value = quote(pre, v, h->exact || h->suffix ? "" : ".*");
	}
	return m->value ? 0 : -ENOMEM;
}

static int add_header(struct config_header_match **arr, size_t *n, const struct ef_header *h)
{
	struct config_header_match *a = realloc(*arr, (*n + 1) * sizeof(*a));
	bool unused = false;

	if (!a)
		return -ENOMEM;
	*arr = a;
	a = &a[(*n)++];
	memset(a, 0, sizeof(*a));
	a->name = strdup(h->name);
	if (!a->name)
		return -ENOMEM;
	return h->present && !h->exact && !h->prefix && !h->suffix && !h->contains && !h->regex
		   ? 0
		   : to_string_match(h, false, &a->match, &unused);
}

/*
 * Adds one header condition (inverted when @invert) to block @m; an error message in @why when
 * the block cannot say it.
 */
static int add_condition(struct config_route_match *m, const struct ef_header *h, bool invert,
			 const char **why)
{
	struct config_string_match *sm = NULL;
	bool unused = false;

	invert ^= h->invert;
	if (h->name[0] != ':' && strcmp(h->name, "host"))
		return invert ? add_header(&m->without_headers, &m->n_without_headers, h)
			      : add_header(&m->headers, &m->n_headers, h);
	if (!strcmp(h->name, ":path"))
		sm = &m->uri;
	else if (!strcmp(h->name, ":method"))
		sm = &m->method;
	else if (!strcmp(h->name, ":authority") || !strcmp(h->name, "host"))
		sm = &m->authority;
	else if (!strcmp(h->name, ":scheme"))
		sm = &m->scheme;
	if (!sm) {
		*why = "only the pseudo-headers :path, :method, :authority and :scheme are matched";
		return -EINVAL;
	}
	if (invert || h->present) {
		*why = "a pseudo-header is matched by value, not inverted or by presence";
		return -EINVAL;
	}
	if (sm->type) {
		*why = "two conditions on one pseudo-header in one descriptor";
		return -EINVAL;
	}
	return to_string_match(h, sm == &m->uri, sm, sm == &m->uri ? &m->ignore_uri_case : &unused);
}

static int copy_match(struct config_route_match *d, const struct config_route_match *s)
{
	int err = 0;

	memset(d, 0, sizeof(*d));
	d->ignore_uri_case = s->ignore_uri_case;
	if (s->uri.type && !(d->uri.value = strdup(s->uri.value)))
		return -ENOMEM;
	d->uri.type = s->uri.type;
#define COPY_SM(f)                                                                                 \
	do {                                                                                       \
		d->f.type = s->f.type;                                                             \
		if (s->f.value && !(d->f.value = strdup(s->f.value)))                              \
			return -ENOMEM;                                                            \
	} while (0)
	COPY_SM(method);
	COPY_SM(authority);
	COPY_SM(scheme);
#undef COPY_SM
	for (size_t i = 0; !err && i < s->n_headers + s->n_without_headers; i++) {
		const struct config_header_match *x =
		    i < s->n_headers ? &s->headers[i] : &s->without_headers[i - s->n_headers];
		struct config_header_match **arr =
		    i < s->n_headers ? &d->headers : &d->without_headers;
		size_t *n = i < s->n_headers ? &d->n_headers : &d->n_without_headers;
		struct config_header_match *a = realloc(*arr, (*n + 1) * sizeof(*a));

		if (!a)
			return -ENOMEM;
		*arr = a;
		a = &a[(*n)++];
		memset(a, 0, sizeof(*a));
		a->match.type = x->match.type;
		a->name = strdup(x->name);
		if (!a->name || (x->match.value && !(a->match.value = strdup(x->match.value))))
			err = -ENOMEM;
	}
	return err;
}

/*
 * Narrows @a by action @act's condition: header_value_match ANDs its headers into every block
 * (expect_match false: the blocks times each header inverted, as not-all is any-not); a
 * request_headers entry with a value needs that value. 0, -ENOMEM, or -EINVAL with @why.
 */
static int narrow(struct alts *a, const struct ef_action *act, const char *value, const char **why)
{
	struct alts out = {0};
	int err = 0;

	if (act->type == EF_REQUEST_HEADERS) {
		struct ef_header h = {.name = act->header_name, .exact = (char *)value};

		for (size_t i = 0; !err && i < a->n; i++)
			err = add_condition(&a->m[i], &h, false, why);
		return err;
	}
	if (act->type != EF_HEADER_VALUE_MATCH)
		return 0;
	if (act->expect_match) {
		for (size_t i = 0; !err && i < a->n; i++)
			for (size_t j = 0; !err && j < act->n_headers; j++)
				err = add_condition(&a->m[i], &act->headers[j], false, why);
		return err;
	}
	if (a->n * act->n_headers > MAX_ALTERNATIVES) {
		*why = "the conditions multiply beyond 64 alternatives";
		return -EINVAL;
	}
	out.m = calloc(a->n * act->n_headers + 1, sizeof(*out.m));
	if (!out.m)
		return -ENOMEM;
	for (size_t i = 0; !err && i < a->n; i++)
		for (size_t j = 0; !err && j < act->n_headers; j++) {
			err = copy_match(&out.m[out.n++], &a->m[i]);
			err = err ? err
				  : add_condition(&out.m[out.n - 1], &act->headers[j], true, why);
		}
	alts_free(a);
	*a = out;
	return err;
}

/*
 * Whether rate_limits entry @r makes descriptor @d: the same keys in order, and each fixed
 * value equal. On a match, @a gets the request conditions and @key the dynamic entry's kind.
 */
static int descriptor_of(const struct ef_rate_limit *r, const struct ef_desc *d, struct alts *a,
			 enum config_rl_key *key, char **key_header, const char **why)
{
	int err = 0;

	if (r->n_actions != d->n_entries)
		return 1;
	for (size_t i = 0; i < r->n_actions; i++) {
		const struct ef_action *act = &r->actions[i];
		const char *want = d->entries[i].value ? d->entries[i].value : "";

		if (strcmp(act->key, d->entries[i].key))
			return 1;
		if ((act->type == EF_HEADER_VALUE_MATCH || act->type == EF_GENERIC_KEY) &&
		    strcmp(act->value, want))
			return 1;
	}
	a->m = calloc(1, sizeof(*a->m));
	if (!a->m)
		return -ENOMEM;
	a->n = 1;
	for (size_t i = 0; !err && i < r->n_actions; i++) {
		const struct ef_action *act = &r->actions[i];
		const char *want = d->entries[i].value ? d->entries[i].value : "";
		bool dynamic =
		    (act->type == EF_REMOTE_ADDRESS || act->type == EF_REQUEST_HEADERS) && !*want;

		if (dynamic && *key) {
			*why =
			    "more than one entry with an empty value (one client key per bucket)";
			return -EINVAL;
		}
		if (dynamic) {
			*key = act->type == EF_REMOTE_ADDRESS ? CONFIG_RL_KEY_REMOTE_ADDRESS
							      : CONFIG_RL_KEY_HEADER;
			if (act->header_name && !(*key_header = strdup(act->header_name)))
				return -ENOMEM;
		} else if (act->type == EF_REMOTE_ADDRESS) {
			*why = "a remote_address entry with a value (one client) is not supported: "
			       "leave it empty for a bucket per client address";
			return -EINVAL;
		} else {
			err = narrow(a, act, want, why);
		}
	}
	return err;
}

static bool block_empty(const struct config_route_match *m)
{
	return !m->uri.type && !m->method.type && !m->authority.type && !m->scheme.type &&
	       !m->n_headers && !m->n_without_headers;
}

/*
 * Descriptor @i of @l as rule @r, from the rate_limits that make it; *@made is false when none
 * does (Envoy accepts that: the bucket is never used).
 */
static int translate_descriptor(struct cfg_ctx *ctx, const struct ef_patch *route,
				const struct ef_lrl *l, size_t i, struct config_rl_rule *r,
				bool *made)
{
	const struct ef_desc *d = &l->desc[i];
	yaml_node_t *node = cfg_seq_item(ctx, l->desc_node, i);
	size_t saved = cfg_path_push_index(ctx, i);
	bool all = false;
	int err = 0;

	*made = false;
	r->line = (int)node->start_mark.line + 1;
	r->bucket = d->bucket;
	for (size_t j = 0; !err && route && j < route->n_rate_limits; j++) {
		struct alts a = {0};
		enum config_rl_key key = CONFIG_RL_KEY_NONE;
		char *key_header = NULL;
		const char *why = NULL;
		int rc = descriptor_of(&route->rate_limits[j], d, &a, &key, &key_header, &why);
		struct config_route_match *m = NULL;

		if (!rc && *made &&
		    (key != r->key || !key_header != !r->key_header ||
		     (key_header && strcmp(key_header, r->key_header))))
			why = "rate_limits entries that make it differ in their empty-valued entry";
		if (rc < 0 || why) {
			cfg_error(ctx, node, "%s (route rate_limits[%zu])",
				  why ? why : "out of memory", j);
			err = -EINVAL;
		} else if (!rc) {
			m = realloc(r->match, (r->n_match + a.n) * sizeof(*m));
			err = m ? 0 : -ENOMEM;
		}
		if (m) {
			if (!*made) {
				r->key = key;
				r->key_header = key_header;
				key_header = NULL;
			}
			*made = true;
			for (size_t k = 0; k < a.n; k++)
				all |= block_empty(&a.m[k]);
			r->match = m;
			memcpy(&r->match[r->n_match], a.m, a.n * sizeof(*m));
			r->n_match += a.n;
			a.n = 0;
		}
		free(key_header);
		alts_free(&a);
	}
	if (!err && !*made)
		cfg_diag(ctx, node, false,
			 "no route rate_limits entry makes this descriptor: it never applies");
	if (all) {
		for (size_t k = 0; k < r->n_match; k++)
			config_route_match_free(&r->match[k]);
		r->n_match = 0;
	}
	if (r->key)
		r->max_keys = CONFIG_RL_MAX_KEYS_DEFAULT;
	cfg_path_pop(ctx, saved);
	return err;
}

static int translate(struct cfg_ctx *ctx, yaml_node_t *spec, RL *rl, const struct ef_patch *filter,
		     const struct ef_patch *route)
{
	const struct ef_lrl *l = route && route->lrl.present ? &route->lrl : &filter->lrl;
	const char *context = filter->context ? filter->context : "ANY";
	int err = 0;

	rl->has_bucket = l->has_bucket;
	rl->bucket = l->bucket;
	rl->enabled_percent = l->enabled;
	rl->enforced_percent = l->enforced;
	rl->status = l->status;
	rl->rate_limit_headers = l->xrl;
	rl->always_consume_default = l->always_consume;
	rl->proxies = !strcmp(context, "ANY")	    ? CONFIG_RL_PROXIES_ANY
		      : !strcmp(context, "GATEWAY") ? CONFIG_RL_PROXIES_GATEWAY
						    : CONFIG_RL_PROXIES_WAYPOINT;
	rl->port = route && route->port ? route->port : filter->port;
	for (size_t i = 0; i < l->headers.n; i++)
		if (config_labels_add(&rl->response_headers, l->headers.items[i].key,
				      l->headers.items[i].value))
			return -ENOMEM;
	rl->rules = calloc(l->n_desc + 1, sizeof(*rl->rules));
	if (!rl->rules)
		return -ENOMEM;
	for (size_t i = 0; !err && i < l->n_desc; i++) {
		size_t saved = cfg_path_push(ctx, "descriptors");
		struct config_rl_rule *r = &rl->rules[rl->n_rules];
		bool made;

		err = translate_descriptor(ctx, route, l, i, r, &made);
		if (err || !made)
			config_rl_rule_free(r);
		else
			rl->n_rules++;
		cfg_path_pop(ctx, saved);
	}
	if (!err && !rl->has_bucket && !rl->n_rules)
		cfg_diag(ctx, spec, false,
			 "the LocalRateLimit has no token_bucket and no descriptor that applies: "
			 "nothing is limited");
	return err;
}

/* ---- spec ---- */

struct ef_state {
	RL *rl;
	size_t n_patches;
	struct ef_patch *patches;
};

static int ef_patches(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_state *st = o;
	int err = cfg_parse_seq(ctx, v, config_patch_fields, sizeof(*st->patches),
				(void **)&st->patches, &st->n_patches, true, "configPatches");

	for (size_t i = 0; !err && i < st->n_patches; i++) {
		size_t saved = cfg_path_push_index(ctx, i);

		err = patch_value(ctx, cfg_seq_item(ctx, v, i), &st->patches[i]);
		cfg_path_pop(ctx, saved);
	}
	return err;
}

static int ws_labels(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_state *st = o;

	st->rl->has_selector = true;
	return cfg_get_selector_labels(ctx, v, &st->rl->selector);
}

static const struct cfg_field workload_selector_fields[] = {
    {"labels", CFG_T_MAP, ws_labels, 0},
    {NULL, 0, NULL, 0},
};

static int ef_selector(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_state *st = o;

	st->rl->has_selector = true;
	return cfg_walk_map(ctx, v, workload_selector_fields, o);
}

static int ef_target_refs(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_state *st = o;

	return cfg_get_target_refs(ctx, v, false, &st->rl->target_refs, &st->rl->n_target_refs);
}

static const struct cfg_field ef_spec_fields[] = {
    {"workloadSelector", CFG_T_MAP, ef_selector, 0},
    {"targetRefs", CFG_T_SEQ, ef_target_refs, 0},
    {"configPatches", CFG_T_SEQ, ef_patches, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

/* One HTTP_FILTER insert, at most one HTTP_ROUTE merge, agreeing on the proxies. */
static int ef_translate(struct cfg_ctx *ctx, yaml_node_t *spec, struct ef_state *st)
{
	yaml_node_t *seq = cfg_map_get(ctx, spec, "configPatches");
	const struct ef_patch *filter = NULL, *route = NULL;
	size_t saved = cfg_path_push(ctx, "configPatches"), s2;
	int err = 0;

	for (size_t i = 0; !err && i < st->n_patches; i++) {
		const struct ef_patch *p = &st->patches[i];
		const struct ef_patch **slot = p->is_filter ? &filter : &route;

		s2 = cfg_path_push_index(ctx, i);
		if (*slot) {
			cfg_error(ctx, cfg_seq_item(ctx, seq, i),
				  "a second %s patch: one of each is "
				  "supported",
				  p->apply_to);
			err = -EINVAL;
		}
		*slot = p;
		cfg_path_pop(ctx, s2);
	}
	if (!err && !filter) {
		cfg_error(ctx, seq,
			  "no HTTP_FILTER patch inserting " FILTER_NAME
			  ": a route's typed_per_filter_config alone does nothing");
		err = -EINVAL;
	}
	if (!err && route &&
	    strcmp(route->context ? route->context : "ANY",
		   filter->context ? filter->context : "ANY")) {
		cfg_error(ctx, seq, "the HTTP_FILTER and HTTP_ROUTE patches' match.context differ");
		err = -EINVAL;
	}
	cfg_path_pop(ctx, saved);
	return err ?: translate(ctx, spec, st->rl, filter, route);
}

static int ef_spec(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct ef_state st = {.rl = ((struct cfg_obj *)obj)->obj};
	int err;

	st.rl->envoy_filter = true;
	err = cfg_walk_map(ctx, v, ef_spec_fields, &st);
	if (!err)
		err = ef_translate(ctx, v, &st);
	for (size_t i = 0; i < st.n_patches; i++)
		patch_free(&st.patches[i]);
	free(st.patches);
	return err;
}

const struct cfg_field cfg_envoyfilter_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED},
    {"spec", CFG_T_MAP, ef_spec, CFG_F_REQUIRED},
    {"status", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

int cfg_envoyfilter_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o)
{
	RL *rl = o->obj;
	yaml_node_t *spec = cfg_map_get(ctx, root, "spec");
	int before = ctx->nerrors;
	size_t saved = cfg_path_push(ctx, "spec");

	cfg_rl_check_attachment(ctx, spec, rl, "workloadSelector");
	cfg_path_pop(ctx, saved);
	return ctx->nerrors == before ? 0 : -EINVAL;
}
