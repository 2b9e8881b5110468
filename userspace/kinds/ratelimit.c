// SPDX-License-Identifier: Apache-2.0
/*
 * LocalRateLimit (networking.ambit.io v1alpha1): ambit's own local rate limit, enforced by the
 * waypoints and gateways it attaches to as an AuthorizationPolicy does (targetRefs to a Service,
 * a waypoint's Gateway or GatewayClass istio-waypoint; a selector picks workloads, whose
 * waypoint takes it, or a gateway's pods). No Istio API covers local rate limiting in ambient
 * (API_SEMANTICS.md §10), so the kind is outside Istio's groups; the EnvoyFilter shape the
 * tutorials use loads into the same struct config_rate_limit (envoyfilter.c).
 *
 * spec:
 *   selector: {matchLabels: {...}}  |  targetRefs: [{group, kind, name}]
 *   tokenBucket: {maxTokens, tokensPerFill (1), fillInterval}   every request (optional)
 *   enabledPercent: 100     share of requests checked
 *   enforcedPercent: 100    share of over-limit requests refused (the rest only counted)
 *   responseHeaders: {name: value}   on the 429, beside x-local-rate-limit: true
 *   rateLimitHeaders: false          x-ratelimit-limit/-remaining/-reset on the 429
 *   rules:
 *   - match: [HTTPMatchRequest]      as a VirtualService's (uri, method, headers, ...)
 *     clientKey: {remoteAddress: {}} | {sourcePrincipal: {}} | {header: {name: x-user}}
 *     maxKeys: 1024                  clients tracked; the least recently seen is forgotten
 *     tokenBucket: {...}             required
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

#define RL struct config_rate_limit
#define RR struct config_rl_rule
#define TB struct config_token_bucket

/* Envoy refuses a fill interval under 50 ms (local_ratelimit's token bucket). */
#define RL_MIN_FILL_MS 50

void config_rl_rule_free(struct config_rl_rule *r)
{
	for (size_t i = 0; i < r->n_match; i++)
		config_route_match_free(&r->match[i]);
	free(r->match);
	free(r->key_header);
	memset(r, 0, sizeof(*r));
}

void config_rate_limit_free(struct config_rate_limit *rl)
{
	config_meta_free(&rl->meta);
	config_labels_free(&rl->selector);
	config_target_refs_free(rl->target_refs, rl->n_target_refs);
	config_labels_free(&rl->response_headers);
	for (size_t i = 0; i < rl->n_rules; i++)
		config_rl_rule_free(&rl->rules[i]);
	free(rl->rules);
	memset(rl, 0, sizeof(*rl));
}

void cfg_rl_defaults(struct config_rate_limit *rl)
{
	rl->enabled_percent = 100;
	rl->enforced_percent = 100;
	rl->status = 429;
	rl->always_consume_default = true;
}

static int rl_tokens(struct cfg_ctx *ctx, yaml_node_t *v, uint32_t *out)
{
	long long n;

	if (cfg_get_int(ctx, v, 1, UINT32_MAX, &n))
		return -EINVAL;
	*out = (uint32_t)n;
	return 0;
}

static int rl_fill_interval(struct cfg_ctx *ctx, yaml_node_t *v, uint64_t *ms)
{
	if (cfg_get_duration(ctx, v, ms))
		return -EINVAL;
	if (*ms < RL_MIN_FILL_MS) {
		cfg_error(ctx, v, "fill interval must be at least %d ms", RL_MIN_FILL_MS);
		return -EINVAL;
	}
	return 0;
}

static int tb_max(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return rl_tokens(ctx, v, &((TB *)o)->max_tokens);
}

static int tb_per_fill(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return rl_tokens(ctx, v, &((TB *)o)->tokens_per_fill);
}

static int tb_interval(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return rl_fill_interval(ctx, v, &((TB *)o)->fill_interval_ms);
}

/* One schema, two spellings: ambit's camelCase and Envoy's token_bucket. */
static const struct cfg_field bucket_fields[] = {
    {"maxTokens", CFG_T_INT, tb_max, CFG_F_REQUIRED},
    {"tokensPerFill", CFG_T_INT, tb_per_fill, 0},
    {"fillInterval", CFG_T_STR, tb_interval, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

static const struct cfg_field envoy_bucket_fields[] = {
    {"max_tokens", CFG_T_INT, tb_max, CFG_F_REQUIRED},
    {"tokens_per_fill", CFG_T_INT, tb_per_fill, 0},
    {"fill_interval", CFG_T_STR, tb_interval, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

int cfg_rl_bucket(struct cfg_ctx *ctx, yaml_node_t *v, bool envoy, struct config_token_bucket *b)
{
	b->tokens_per_fill = 1;
	return cfg_walk_map(ctx, v, envoy ? envoy_bucket_fields : bucket_fields, b);
}

static int bucket(struct cfg_ctx *ctx, yaml_node_t *v, TB *b)
{
	return cfg_rl_bucket(ctx, v, false, b);
}

static int rule_bucket(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return bucket(ctx, v, &((RR *)o)->bucket);
}

static int rule_match(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RR *r = o;
	struct config_vs_route vr = {0};
	int err = cfg_vs_http_match(ctx, v, &vr);

	/* Matched on the request alone: what names a source or a gateway has no meaning here. */
	for (size_t i = 0; !err && i < vr.n_match; i++) {
		const struct config_route_match *m = &vr.match[i];
		const char *f = m->source_labels.n    ? "sourceLabels"
				: m->source_namespace ? "sourceNamespace"
				: m->gateways.n	      ? "gateways"
						      : NULL;

		if (f) {
			size_t saved = cfg_path_push_index(ctx, i);

			cfg_error(ctx, cfg_seq_item(ctx, v, i),
				  "%s is not a condition of a LocalRateLimit rule", f);
			cfg_path_pop(ctx, saved);
			err = -EINVAL;
		}
	}
	r->match = vr.match;
	r->n_match = vr.n_match;
	return err;
}

static int key_remote(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	(void)ctx;
	(void)v;
	((RR *)o)->key = CONFIG_RL_KEY_REMOTE_ADDRESS;
	return 0;
}

static int key_principal(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	(void)ctx;
	(void)v;
	((RR *)o)->key = CONFIG_RL_KEY_SOURCE_PRINCIPAL;
	return 0;
}

/* A request header's name, lowercase; pseudo-headers are not client keys. */
int cfg_rl_header_name(struct cfg_ctx *ctx, yaml_node_t *v, char **out)
{
	if (cfg_get_str(ctx, v, out))
		return -EINVAL;
	if (!**out || !cfg_http_token_ok(*out)) {
		cfg_error(ctx, v, "\"%.64s\" is not a header name", *out);
		return -EINVAL;
	}
	for (char *c = *out; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return 0;
}

static int kh_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_rl_header_name(ctx, v, &((RR *)o)->key_header);
}

static const struct cfg_field key_header_fields[] = {
    {"name", CFG_T_STR, kh_name, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

static int key_header(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	((RR *)o)->key = CONFIG_RL_KEY_HEADER;
	return cfg_walk_map(ctx, v, key_header_fields, o);
}

static const struct cfg_field empty_fields[] = {{NULL, 0, NULL, 0}};

static int key_empty(struct cfg_ctx *ctx, yaml_node_t *v,
		     int (*set)(struct cfg_ctx *, yaml_node_t *, void *), void *o)
{
	return cfg_walk_map(ctx, v, empty_fields, NULL) ?: set(ctx, v, o);
}

static int key_remote_map(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return key_empty(ctx, v, key_remote, o);
}

static int key_principal_map(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return key_empty(ctx, v, key_principal, o);
}

static const struct cfg_field client_key_fields[] = {
    {"remoteAddress", CFG_T_MAP, key_remote_map, 0},
    {"sourcePrincipal", CFG_T_MAP, key_principal_map, 0},
    {"header", CFG_T_MAP, key_header, 0},
    {NULL, 0, NULL, 0},
};

static int rule_client_key(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);

	if (n != 1) {
		cfg_error(ctx, v, "exactly one of remoteAddress, sourcePrincipal or header");
		return -EINVAL;
	}
	return cfg_walk_map(ctx, v, client_key_fields, o);
}

static int rule_max_keys(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 1, CONFIG_RL_MAX_KEYS_LIMIT, &n))
		return -EINVAL;
	((RR *)o)->max_keys = (uint32_t)n;
	return 0;
}

static const struct cfg_field rule_fields[] = {
    {"match", CFG_T_SEQ, rule_match, 0},
    {"clientKey", CFG_T_MAP, rule_client_key, 0},
    {"maxKeys", CFG_T_INT, rule_max_keys, 0},
    {"tokenBucket", CFG_T_MAP, rule_bucket, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

static int rl_rules(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RL *rl = o;
	int err = cfg_parse_seq(ctx, v, rule_fields, sizeof(*rl->rules), (void **)&rl->rules,
				&rl->n_rules, false, "rules");

	for (size_t i = 0; i < rl->n_rules; i++) {
		RR *r = &rl->rules[i];

		r->line = (int)cfg_seq_item(ctx, v, i)->start_mark.line + 1;
		if (r->key && !r->max_keys)
			r->max_keys = CONFIG_RL_MAX_KEYS_DEFAULT;
	}
	return err;
}

static int rl_bucket(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RL *rl = o;

	rl->has_bucket = true;
	return bucket(ctx, v, &rl->bucket);
}

int cfg_rl_percent(struct cfg_ctx *ctx, yaml_node_t *v, double *out)
{
	if (cfg_get_double(ctx, v, out))
		return -EINVAL;
	if (*out < 0 || *out > 100) {
		cfg_error(ctx, v, "%g is not a percentage in [0, 100]", *out);
		return -EINVAL;
	}
	return 0;
}

static int rl_enabled(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_rl_percent(ctx, v, &((RL *)o)->enabled_percent);
}

static int rl_enforced(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_rl_percent(ctx, v, &((RL *)o)->enforced_percent);
}

static int rl_headers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RL *rl = o;
	int before = ctx->nerrors;

	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = cfg_node(ctx, p->key);

		if (!cfg_http_token_ok((const char *)k->data.scalar.value))
			cfg_error(ctx, k, "\"%.64s\" is not a header name",
				  (const char *)k->data.scalar.value);
	}
	return ctx->nerrors != before ? -EINVAL
				      : cfg_get_labels(ctx, v, false, &rl->response_headers);
}

static int rl_rl_headers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_bool(ctx, v, &((RL *)o)->rate_limit_headers);
}

static int rl_selector(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RL *rl = o;

	rl->has_selector = true;
	return cfg_get_workload_selector(ctx, v, &rl->selector);
}

static int rl_target_refs(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RL *rl = o;

	return cfg_get_target_refs(ctx, v, false, &rl->target_refs, &rl->n_target_refs);
}

static const struct cfg_field rl_spec_fields[] = {
    {"selector", CFG_T_MAP, rl_selector, 0},
    {"targetRefs", CFG_T_SEQ, rl_target_refs, 0},
    {"tokenBucket", CFG_T_MAP, rl_bucket, 0},
    {"enabledPercent", CFG_T_ANY, rl_enabled, 0},
    {"enforcedPercent", CFG_T_ANY, rl_enforced, 0},
    {"responseHeaders", CFG_T_MAP, rl_headers, 0},
    {"rateLimitHeaders", CFG_T_BOOL, rl_rl_headers, 0},
    {"rules", CFG_T_SEQ, rl_rules, 0},
    {NULL, 0, NULL, 0},
};

static int rl_spec(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	RL *rl = ((struct cfg_obj *)obj)->obj;

	cfg_rl_defaults(rl);
	return cfg_walk_map(ctx, v, rl_spec_fields, rl);
}

const struct cfg_field cfg_ratelimit_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED},
    {"spec", CFG_T_MAP, rl_spec, CFG_F_REQUIRED},
    {"status", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

/* What both kinds require of their attachment, at @spec. */
void cfg_rl_check_attachment(struct cfg_ctx *ctx, yaml_node_t *spec, const RL *rl,
			     const char *selector_field)
{
	if (rl->has_selector && rl->n_target_refs)
		cfg_error(ctx, spec, "only one of targetRefs or %s can be set", selector_field);
	cfg_check_target_ref_namespaces(ctx, spec, rl->target_refs, rl->n_target_refs,
					rl->meta.namespace);
}

int cfg_ratelimit_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o)
{
	RL *rl = o->obj;
	yaml_node_t *spec = cfg_map_get(ctx, root, "spec");
	int before = ctx->nerrors;
	size_t saved = cfg_path_push(ctx, "spec");

	cfg_rl_check_attachment(ctx, spec, rl, "selector");
	if (!rl->has_bucket && !rl->n_rules)
		cfg_error(ctx, spec,
			  "a tokenBucket or rules are required: nothing would be limited");
	/* Envoy's local_ratelimit always adds nothing; ambit's own kind says why it refused. */
	if (!config_label_get(&rl->response_headers, "x-local-rate-limit") &&
	    config_labels_add(&rl->response_headers, "x-local-rate-limit", "true"))
		cfg_error(ctx, spec, "out of memory");
	cfg_path_pop(ctx, saved);
	return ctx->nerrors == before ? 0 : -EINVAL;
}
