// SPDX-License-Identifier: Apache-2.0
/*
 * EnvoyFilter's patch values (envoyfilter_priv.h): the HTTP_FILTER patch's filter with its
 * LocalRateLimit, and the HTTP_ROUTE MERGE's route.rate_limits actions and
 * typed_per_filter_config, each field read as Envoy's protos name it and anything else refused.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoyfilter_priv.h"

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
	return ef_nonempty(ctx, v, &((struct ef_entry *)o)->key);
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
	return ef_want_str(ctx, v, LRL_TYPE);
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
	return ef_want_str(ctx, v, LRL_TYPE);
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
	return ef_want_str(ctx, v, FILTER_NAME);
}

static int fv_typed(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return typed_lrl(ctx, v, &((struct ef_patch *)o)->lrl);
}

const struct cfg_field ef_filter_value_fields[] = {
    {"name", CFG_T_STR, fv_name, CFG_F_REQUIRED},
    {"typed_config", CFG_T_MAP, fv_typed, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

/* ---- HTTP_ROUTE value: route.rate_limits and typed_per_filter_config ---- */

static int hm_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ef_header *h = o;

	if (ef_nonempty(ctx, v, &h->name))
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
	return ef_nonempty(ctx, v, &((struct ef_action *)o)->key);
}

static int hvm_value(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return ef_nonempty(ctx, v, &((struct ef_action *)o)->value);
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

const struct cfg_field ef_route_value_fields[] = {
    {"route", CFG_T_MAP, rv_route, 0},
    {"typed_per_filter_config", CFG_T_MAP, rv_per_filter, 0},
    {NULL, 0, NULL, 0},
};
