// SPDX-License-Identifier: Apache-2.0
/*
 * Telemetry (telemetry.istio.io v1 and v1alpha1, one schema): what the proxies report, per mesh
 * (the root namespace, no selector or targetRefs), per namespace (likewise) or per workload
 * (a selector, or targetRefs to a Gateway or Service). Every field of Istio's API is validated
 * and kept, but a formatter tag (Envoy's command operators, which ambit does not evaluate);
 * Istio's own rules (ValidateTelemetry) are errors or warnings as there:
 *
 * spec:
 *   selector: {matchLabels: {...}}  |  targetRef(s): [{group, kind, name, namespace}]
 *   tracing:                          more than one: Istio's warning
 *   - match: {mode: CLIENT_AND_SERVER | CLIENT | SERVER}
 *     providers: [{name}]             more than one: a warning (the first is reported to)
 *     randomSamplingPercentage: 0..100
 *     disableSpanReporting, useRequestIdForTraceSampling, enableIstioTags,
 *     disableContextPropagation: booleans
 *     customTags: {tag: {literal: {value}} | {environment: {name, defaultValue}}
 *                       | {header: {name, defaultValue}} | {formatter: {value}}}
 *   accessLogging:
 *   - match: {mode}, providers: [{name}], disabled, filter: {expression: CEL, cel.h's}
 *   metrics:
 *   - providers: [{name}], reportingInterval: 15s
 *     overrides:
 *     - match: {metric: REQUEST_COUNT | customMetric: name, mode}
 *       disabled: true
 *       tagOverrides: {tag: {operation: UPSERT | REMOVE, value: expression}}
 *
 * Which providers the names mean is the mesh config's (analyze/telemetry.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/cel.h"
#include "decode/decode.h"

#define TM struct config_telemetry
#define TR struct config_telemetry_tracing
#define AL struct config_telemetry_access_logging
#define MT struct config_telemetry_metrics
#define MO struct config_metric_override
#define TO struct config_tag_override
#define CT struct config_custom_tag

void config_custom_tags_free(struct config_custom_tag *tags, size_t n)
{
	for (size_t i = 0; tags && i < n; i++) {
		free(tags[i].tag);
		free(tags[i].value);
		free(tags[i].default_value);
	}
	free(tags);
}

static void tag_overrides_free(struct config_tag_override *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++) {
		free(t[i].tag);
		free(t[i].value);
	}
	free(t);
}

void config_telemetry_free(struct config_telemetry *t)
{
	config_meta_free(&t->meta);
	config_labels_free(&t->selector);
	config_target_refs_free(t->target_refs, t->n_target_refs);
	for (size_t i = 0; t->tracing && i < t->n_tracing; i++) {
		config_strings_free(&t->tracing[i].providers);
		config_custom_tags_free(t->tracing[i].tags, t->tracing[i].n_tags);
	}
	free(t->tracing);
	for (size_t i = 0; t->access_logging && i < t->n_access_logging; i++) {
		config_strings_free(&t->access_logging[i].providers);
		free(t->access_logging[i].filter);
	}
	free(t->access_logging);
	for (size_t i = 0; t->metrics && i < t->n_metrics; i++) {
		MT *m = &t->metrics[i];

		config_strings_free(&m->providers);
		for (size_t j = 0; m->overrides && j < m->n_overrides; j++) {
			free(m->overrides[j].metric);
			tag_overrides_free(m->overrides[j].tag_overrides,
					   m->overrides[j].n_tag_overrides);
		}
		free(m->overrides);
	}
	free(t->metrics);
	memset(t, 0, sizeof(*t));
}

/* A string that must not be empty (Istio's "... may not be empty"). */
static int nonempty(struct cfg_ctx *ctx, yaml_node_t *v, char **out, const char *what)
{
	if (cfg_get_str(ctx, v, out))
		return -EINVAL;
	if (!**out) {
		cfg_error(ctx, v, "%s may not be empty", what);
		return -EINVAL;
	}
	return 0;
}

/* ---- shared parts: match.mode, providers ---- */

static int get_mode(struct cfg_ctx *ctx, yaml_node_t *v, enum config_telemetry_mode *out)
{
	static const char *const modes[] = {"CLIENT_AND_SERVER", "CLIENT", "SERVER", NULL};
	const char *s = (const char *)v->data.scalar.value;

	if (cfg_check_enum(ctx, v, modes, NULL))
		return -EINVAL;
	*out = !strcmp(s, "CLIENT")   ? CONFIG_TELEMETRY_CLIENT
	       : !strcmp(s, "SERVER") ? CONFIG_TELEMETRY_SERVER
				      : CONFIG_TELEMETRY_CLIENT_AND_SERVER;
	return 0;
}

static int mode_field(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return get_mode(ctx, v, o);
}

static const struct cfg_field mode_fields[] = {
    {"mode", CFG_T_STR, mode_field, 0},
    {NULL, 0, NULL, 0},
};

static int get_match(struct cfg_ctx *ctx, yaml_node_t *v, enum config_telemetry_mode *out)
{
	return cfg_walk_map(ctx, v, mode_fields, out);
}

static int provider_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return nonempty(ctx, v, o, "providers.name");
}

static const struct cfg_field provider_ref_fields[] = {
    {"name", CFG_T_STR, provider_name, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

/* providers: [{name}] as names, in order, each once. */
static int get_providers(struct cfg_ctx *ctx, yaml_node_t *v, struct config_strings *out)
{
	size_t n = cfg_seq_len(v);
	int before = ctx->nerrors;

	if (n > CFG_MAX_LIST) {
		cfg_error(ctx, v, "more than %d entries", CFG_MAX_LIST);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		size_t saved = cfg_path_push_index(ctx, i);
		char *name = NULL;

		if (cfg_is_null(item))
			cfg_error(ctx, item, "providers.name may not be empty");
		else if (!cfg_walk_map(ctx, item, provider_ref_fields, &name) &&
			 config_strings_add(out, name))
			cfg_error(ctx, item, "out of memory");
		free(name);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

/* ---- tracing.customTags (shared with the mesh config's defaultConfig.tracing) ---- */

/* What one tag's value said: its kind, once per kind named. */
struct tag_parse {
	CT *t;
	int kinds;	/* how many of literal, environment, header, formatter */
	bool formatter; /* the one said is formatter: dropped */
};

static int tag_value(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return nonempty(ctx, v, &((struct tag_parse *)o)->t->value, "literal tag value");
}

static int tag_env_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return nonempty(ctx, v, &((struct tag_parse *)o)->t->value, "environment tag name");
}

static int tag_header_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_rl_header_name(ctx, v, &((struct tag_parse *)o)->t->value);
}

static int tag_default(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((struct tag_parse *)o)->t->default_value);
}

static int tag_formatter_value(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	char *s = NULL;
	int err = nonempty(ctx, v, &s, "formatter tag value");

	(void)o;
	free(s);
	return err;
}

static const struct cfg_field literal_fields[] = {
    {"value", CFG_T_STR, tag_value, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

static const struct cfg_field environment_fields[] = {
    {"name", CFG_T_STR, tag_env_name, CFG_F_REQUIRED},
    {"defaultValue", CFG_T_STR, tag_default, 0},
    {NULL, 0, NULL, 0},
};

static const struct cfg_field header_fields[] = {
    {"name", CFG_T_STR, tag_header_name, CFG_F_REQUIRED},
    {"defaultValue", CFG_T_STR, tag_default, 0},
    {NULL, 0, NULL, 0},
};

static const struct cfg_field formatter_fields[] = {
    {"value", CFG_T_STR, tag_formatter_value, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

/* Each kind's value replaces what another wrote: the count says there were two. */
static int tag_kind(struct cfg_ctx *ctx, yaml_node_t *v, struct tag_parse *p,
		    enum config_custom_tag_kind kind, const struct cfg_field *fields)
{
	free(p->t->value);
	free(p->t->default_value);
	p->t->value = p->t->default_value = NULL;
	p->t->kind = kind;
	p->kinds++;
	p->formatter = false;
	return cfg_walk_map(ctx, v, fields, p);
}

static int tag_literal(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return tag_kind(ctx, v, o, CONFIG_TAG_LITERAL, literal_fields);
}

static int tag_environment(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return tag_kind(ctx, v, o, CONFIG_TAG_ENVIRONMENT, environment_fields);
}

static int tag_header(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return tag_kind(ctx, v, o, CONFIG_TAG_HEADER, header_fields);
}

static int tag_formatter(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct tag_parse *p = o;
	int err = tag_kind(ctx, v, p, CONFIG_TAG_LITERAL, formatter_fields);

	p->formatter = true;
	return err;
}

static const struct cfg_field custom_tag_fields[] = {
    {"literal", CFG_T_MAP, tag_literal, 0},
    {"environment", CFG_T_MAP, tag_environment, 0},
    {"header", CFG_T_MAP, tag_header, 0},
    {NULL, 0, NULL, 0},
};

static const struct cfg_field telemetry_tag_fields[] = {
    {"literal", CFG_T_MAP, tag_literal, 0},
    {"environment", CFG_T_MAP, tag_environment, 0},
    {"header", CFG_T_MAP, tag_header, 0},
    {"formatter", CFG_T_MAP, tag_formatter, 0},
    {NULL, 0, NULL, 0},
};

static int tag_cmp(const void *a, const void *b)
{
	return strcmp(((const CT *)a)->tag, ((const CT *)b)->tag);
}

int cfg_custom_tags(struct cfg_ctx *ctx, yaml_node_t *v, bool formatter_ok,
		    struct config_custom_tag **tags, size_t *n)
{
	size_t len = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
	int before = ctx->nerrors;

	if (len > CFG_MAX_LIST) {
		cfg_error(ctx, v, "more than %d entries", CFG_MAX_LIST);
		return -EINVAL;
	}
	*tags = calloc(len ? len : 1, sizeof(**tags));
	if (!*tags) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	*n = 0;
	for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = cfg_node(ctx, pr->key), *val = cfg_node(ctx, pr->value);
		const char *name = (const char *)k->data.scalar.value;
		size_t saved = cfg_path_push(ctx, name);
		struct tag_parse p = {.t = &(*tags)[*n]};

		if (!(p.t->tag = strdup(name))) {
			cfg_error(ctx, k, "out of memory");
			cfg_path_pop(ctx, saved);
			continue;
		}
		if (!*name) {
			cfg_error(ctx, k, "tag name may not be empty");
		} else if (cfg_is_null(val)) {
			cfg_error(ctx, val, "tag '%.64s' may not have a nil value", name);
		} else if (!cfg_walk_map(ctx, val,
					 formatter_ok ? telemetry_tag_fields : custom_tag_fields,
					 &p)) {
			if (p.kinds != 1)
				cfg_error(ctx, val, "exactly one of %s, got %d",
					  formatter_ok ? "literal, environment, header or formatter"
						       : "literal, environment or header",
					  p.kinds);
			else if (p.formatter)
				cfg_diag(ctx, val, false,
					 "formatter: not supported yet (ambit evaluates no Envoy "
					 "formatter strings): the tag is not added to spans");
		}
		/* A formatter's tag is dropped; the others are kept, even in error, to be freed. */
		if (p.formatter && p.kinds == 1) {
			free(p.t->tag);
			free(p.t->value);
			free(p.t->default_value);
			memset(p.t, 0, sizeof(*p.t));
		} else {
			(*n)++;
		}
		cfg_path_pop(ctx, saved);
	}
	qsort(*tags, *n, sizeof(**tags), tag_cmp);
	return ctx->nerrors == before ? 0 : -EINVAL;
}

/* ---- tracing ---- */

static int tr_match(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return get_match(ctx, v, &((TR *)o)->mode);
}

static int tr_providers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return get_providers(ctx, v, &((TR *)o)->providers);
}

static int tr_sampling(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	TR *t = o;

	t->has_sampling = true;
	return cfg_rl_percent(ctx, v, &t->sampling);
}

#define TR_BOOL(fn, has, member)                                                                   \
	static int fn(struct cfg_ctx *ctx, yaml_node_t *v, void *o)                                \
	{                                                                                          \
		((TR *)o)->has = true;                                                             \
		return cfg_get_bool(ctx, v, &((TR *)o)->member);                                   \
	}
TR_BOOL(tr_disable_spans, has_disable_span_reporting, disable_span_reporting)
TR_BOOL(tr_request_id, has_use_request_id, use_request_id_for_trace_sampling)
TR_BOOL(tr_istio_tags, has_enable_istio_tags, enable_istio_tags)
TR_BOOL(tr_no_propagation, has_disable_context_propagation, disable_context_propagation)

static int tr_tags(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	TR *t = o;

	return cfg_custom_tags(ctx, v, true, &t->tags, &t->n_tags);
}

static const struct cfg_field tracing_fields[] = {
    {"match", CFG_T_MAP, tr_match, 0},
    {"providers", CFG_T_SEQ, tr_providers, 0},
    {"randomSamplingPercentage", CFG_T_ANY, tr_sampling, 0},
    {"disableSpanReporting", CFG_T_BOOL, tr_disable_spans, 0},
    {"customTags", CFG_T_MAP, tr_tags, 0},
    {"useRequestIdForTraceSampling", CFG_T_BOOL, tr_request_id, 0},
    {"enableIstioTags", CFG_T_BOOL, tr_istio_tags, 0},
    {"disableContextPropagation", CFG_T_BOOL, tr_no_propagation, 0},
    {NULL, 0, NULL, 0},
};

/* ---- accessLogging ---- */

static int al_match(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return get_match(ctx, v, &((AL *)o)->mode);
}

static int al_providers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return get_providers(ctx, v, &((AL *)o)->providers);
}

static int al_disabled(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	((AL *)o)->has_disabled = true;
	return cfg_get_bool(ctx, v, &((AL *)o)->disabled);
}

/*
 * A CEL expression over Envoy's attributes: Istio refuses one that does not parse, and the
 * waypoint evaluates what ambit's CEL (cel.h) parses, so that is checked here.
 */
static int al_expression(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	AL *l = o;
	struct cel_expr *e;
	char why[200];

	if (nonempty(ctx, v, &l->filter, "filter.expression"))
		return -EINVAL;
	if (!(e = cel_parse(l->filter, why, sizeof(why)))) {
		cfg_error(ctx, v, "not a filter expression: %s", why);
		return -EINVAL;
	}
	cel_free(e);
	return 0;
}

static const struct cfg_field filter_fields[] = {
    {"expression", CFG_T_STR, al_expression, 0},
    {NULL, 0, NULL, 0},
};

static int al_filter(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, filter_fields, o);
}

static const struct cfg_field access_logging_fields[] = {
    {"match", CFG_T_MAP, al_match, 0},
    {"providers", CFG_T_SEQ, al_providers, 0},
    {"disabled", CFG_T_BOOL, al_disabled, 0},
    {"filter", CFG_T_MAP, al_filter, 0},
    {NULL, 0, NULL, 0},
};

/* ---- metrics ---- */

static int mo_metric(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const metrics[] = {"ALL_METRICS",
					      "REQUEST_COUNT",
					      "REQUEST_DURATION",
					      "REQUEST_SIZE",
					      "RESPONSE_SIZE",
					      "TCP_OPENED_CONNECTIONS",
					      "TCP_CLOSED_CONNECTIONS",
					      "TCP_SENT_BYTES",
					      "TCP_RECEIVED_BYTES",
					      "GRPC_REQUEST_MESSAGES",
					      "GRPC_RESPONSE_MESSAGES",
					      NULL};
	MO *m = o;

	if (m->metric) {
		cfg_error(ctx, v, "only one of metric or customMetric can be set");
		return -EINVAL;
	}
	return cfg_check_enum(ctx, v, metrics, &m->metric);
}

static int mo_custom(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	MO *m = o;

	if (m->metric) {
		cfg_error(ctx, v, "only one of metric or customMetric can be set");
		return -EINVAL;
	}
	m->custom_metric = true;
	return nonempty(ctx, v, &m->metric, "customMetric");
}

static int mo_mode(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return get_mode(ctx, v, &((MO *)o)->mode);
}

static const struct cfg_field metric_match_fields[] = {
    {"metric", CFG_T_STR, mo_metric, 0},
    {"customMetric", CFG_T_STR, mo_custom, 0},
    {"mode", CFG_T_STR, mo_mode, 0},
    {NULL, 0, NULL, 0},
};

static int mo_match(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, metric_match_fields, o);
}

static int mo_disabled(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	((MO *)o)->has_disabled = true;
	return cfg_get_bool(ctx, v, &((MO *)o)->disabled);
}

static int to_operation(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const ops[] = {"UPSERT", "REMOVE", NULL};

	if (cfg_check_enum(ctx, v, ops, NULL))
		return -EINVAL;
	((TO *)o)->op = strcmp((const char *)v->data.scalar.value, "REMOVE") ? CONFIG_TAG_UPSERT
									     : CONFIG_TAG_REMOVE;
	return 0;
}

static int to_value(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((TO *)o)->value);
}

/*
 * An UPSERT's value is a CEL expression the proxy evaluates per request (cel.h): one it cannot
 * (filter_state, peer metadata) is kept and warned about, the tag then says "unknown".
 */
static void to_check_value(struct cfg_ctx *ctx, yaml_node_t *v, const TO *t)
{
	struct cel_expr *e;
	char why[200];

	if (t->op != CONFIG_TAG_UPSERT || !t->value || !*t->value)
		return;
	if ((e = cel_parse(t->value, why, sizeof(why)))) {
		cel_free(e);
		return;
	}
	cfg_diag(ctx, v, false,
		 "tagOverrides value \"%.80s\": ambit cannot evaluate it (%s): the tag will say "
		 "\"unknown\"",
		 t->value, why);
}

static const struct cfg_field tag_override_fields[] = {
    {"operation", CFG_T_STR, to_operation, 0},
    {"value", CFG_T_STR, to_value, 0},
    {NULL, 0, NULL, 0},
};

static int to_cmp(const void *a, const void *b)
{
	return strcmp(((const TO *)a)->tag, ((const TO *)b)->tag);
}

/* tagOverrides: a map of tag name to {operation, value}, sorted by tag. */
static int mo_tags(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	MO *m = o;
	size_t len = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
	int before = ctx->nerrors;

	if (len > CFG_MAX_LIST) {
		cfg_error(ctx, v, "more than %d entries", CFG_MAX_LIST);
		return -EINVAL;
	}
	m->tag_overrides = calloc(len ? len : 1, sizeof(*m->tag_overrides));
	if (!m->tag_overrides) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = cfg_node(ctx, p->key), *val = cfg_node(ctx, p->value);
		const char *name = (const char *)k->data.scalar.value;
		size_t saved = cfg_path_push(ctx, name);
		TO *t = &m->tag_overrides[m->n_tag_overrides++];

		if (!(t->tag = strdup(name)))
			cfg_error(ctx, k, "out of memory");
		else if (!*name) /* Istio warns, and so the tag is "" */
			cfg_diag(ctx, k, false, "tagOverrides.name may not be empty");
		if (cfg_is_null(val)) {
			cfg_error(ctx, val, "tagOverrides may not be null");
		} else if (!cfg_walk_map(ctx, val, tag_override_fields, t)) {
			bool has_value = t->value && *t->value;

			to_check_value(ctx, val, t);

			if (t->op == CONFIG_TAG_UPSERT && !has_value)
				cfg_error(ctx, val,
					  "tagOverrides.value must be set when operation "
					  "is UPSERT");
			else if (t->op == CONFIG_TAG_REMOVE && has_value)
				cfg_error(ctx, val,
					  "tagOverrides.value may only be set when "
					  "operation is UPSERT");
		}
		cfg_path_pop(ctx, saved);
	}
	if (ctx->nerrors != before)
		return -EINVAL;
	qsort(m->tag_overrides, m->n_tag_overrides, sizeof(*m->tag_overrides), to_cmp);
	return 0;
}

static const struct cfg_field override_fields[] = {
    {"match", CFG_T_MAP, mo_match, 0},
    {"disabled", CFG_T_BOOL, mo_disabled, 0},
    {"tagOverrides", CFG_T_MAP, mo_tags, 0},
    {NULL, 0, NULL, 0},
};

static int mt_providers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return get_providers(ctx, v, &((MT *)o)->providers);
}

static int mt_interval(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_duration(ctx, v, &((MT *)o)->reporting_interval_ms);
}

static int mt_overrides(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	MT *m = o;
	int err = cfg_parse_seq(ctx, v, override_fields, sizeof(*m->overrides),
				(void **)&m->overrides, &m->n_overrides, false, "overrides");

	/* No match, or one naming no metric: the enum's zero, every Istio metric. */
	for (size_t i = 0; !err && i < m->n_overrides; i++)
		if (!m->overrides[i].metric && !(m->overrides[i].metric = strdup("ALL_METRICS"))) {
			cfg_error(ctx, v, "out of memory");
			err = -ENOMEM;
		}
	return err;
}

static const struct cfg_field metrics_fields[] = {
    {"providers", CFG_T_SEQ, mt_providers, 0},
    {"overrides", CFG_T_SEQ, mt_overrides, 0},
    {"reportingInterval", CFG_T_STR, mt_interval, 0},
    {NULL, 0, NULL, 0},
};

/* ---- the object ---- */

static int tm_selector(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	TM *t = o;

	t->has_selector = true;
	return cfg_get_workload_selector(ctx, v, &t->selector);
}

static int tm_target_ref(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	TM *t = o;

	return cfg_get_target_refs(ctx, v, true, &t->target_refs, &t->n_target_refs);
}

static int tm_target_refs(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	TM *t = o;

	return cfg_get_target_refs(ctx, v, false, &t->target_refs, &t->n_target_refs);
}

static int tm_tracing(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	TM *t = o;

	return cfg_parse_seq(ctx, v, tracing_fields, sizeof(*t->tracing), (void **)&t->tracing,
			     &t->n_tracing, false, "tracing");
}

static int tm_access_logging(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	TM *t = o;

	return cfg_parse_seq(ctx, v, access_logging_fields, sizeof(*t->access_logging),
			     (void **)&t->access_logging, &t->n_access_logging, false,
			     "accessLogging");
}

static int tm_metrics(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	TM *t = o;

	return cfg_parse_seq(ctx, v, metrics_fields, sizeof(*t->metrics), (void **)&t->metrics,
			     &t->n_metrics, false, "metrics");
}

static const struct cfg_field tm_spec_fields[] = {
    {"selector", CFG_T_MAP, tm_selector, 0},
    {"targetRef", CFG_T_MAP, tm_target_ref, 0},
    {"targetRefs", CFG_T_SEQ, tm_target_refs, 0},
    {"tracing", CFG_T_SEQ, tm_tracing, 0},
    {"accessLogging", CFG_T_SEQ, tm_access_logging, 0},
    {"metrics", CFG_T_SEQ, tm_metrics, 0},
    {NULL, 0, NULL, 0},
};

static int tm_spec(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, tm_spec_fields, ((struct cfg_obj *)obj)->obj);
}

const struct cfg_field cfg_telemetry_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED},
    {"spec", CFG_T_MAP, tm_spec, 0},
    {"status", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

/* Istio's ValidateTelemetry: one attachment; warnings for more than one tracing or provider. */
int cfg_telemetry_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o)
{
	TM *t = o->obj;
	yaml_node_t *spec = cfg_map_get(ctx, root, "spec");
	int before = ctx->nerrors;
	size_t saved = cfg_path_push(ctx, "spec");

	if (t->has_selector && t->n_target_refs)
		cfg_error(ctx, spec, "only one of selector or targetRefs can be set");
	if (cfg_map_get(ctx, spec, "targetRef") && cfg_map_get(ctx, spec, "targetRefs"))
		cfg_error(ctx, spec, "only one of targetRef or targetRefs can be set");
	cfg_check_target_ref_namespaces(ctx, spec, t->target_refs, t->n_target_refs,
					t->meta.namespace);
	if (ctx->nerrors != before) {
		cfg_path_pop(ctx, saved);
		return -EINVAL;
	}
	if (t->n_tracing > 1)
		cfg_diag(ctx, cfg_map_get(ctx, spec, "tracing"), false,
			 "tracing: multiple tracing is not currently supported");
	for (size_t i = 0; i < t->n_tracing; i++)
		if (t->tracing[i].providers.n > 1)
			cfg_diag(ctx, spec, false,
				 "tracing[%zu].providers: multiple providers is not currently "
				 "supported (only %s is reported to)",
				 i, t->tracing[i].providers.items[0]);
	cfg_path_pop(ctx, saved);
	return 0;
}
