// SPDX-License-Identifier: Apache-2.0
/*
 * The mesh config's tracing (MeshConfig, mesh.c): the zipkin and opentelemetry extension
 * providers kept as struct config_trace_provider (where spans go, and how), defaultProviders
 * (what a Telemetry naming no provider uses), and defaultConfig.tracing (ProxyConfig.Tracing),
 * of which the sampling is kept as the mesh's default. Its legacy tracers (zipkin.address, ...)
 * are checked, not kept: ambit reports spans to Telemetry's providers only.
 *
 * Every field of Istio's ZipkinTracingProvider, OpenTelemetryTracingProvider and Tracing is
 * known; what ambit does not act on (traceContextOption, resourceDetectors, dynatraceSampler,
 * serviceAttributeEnrichment) is type-checked and not kept. An HttpHeader's envName is a
 * variable of istiod's environment, which ambit has not: warned about and not sent.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

#define TP struct config_trace_provider

#define ZIPKIN_PATH "/api/v2/spans"
#define OTLP_HTTP_PATH "/v1/traces"
/* Bounds of what the L7 model carries to the proxies. */
#define MAX_TAG_LENGTH (1u << 20)
#define MAX_TIMEOUT_MS 86400000ull

void cfg_trace_provider_free(struct config_trace_provider *t)
{
	free(t->service);
	free(t->path);
	config_labels_free(&t->headers);
	memset(t, 0, sizeof(*t));
}

/* Istio's validateExtensionProviderService: "[namespace/]host", a host name or an IP. */
static bool service_ok(const char *s)
{
	const char *slash = strchr(s, '/'), *host = slash ? slash + 1 : s;
	char ns[64];

	if (slash) {
		size_t n = (size_t)(slash - s);

		if (!n || n >= sizeof(ns))
			return false;
		memcpy(ns, s, n);
		ns[n] = '\0';
		if (!cfg_name_ok(ns, CFG_NAME_LABEL) && strcmp(ns, "*") && strcmp(ns, "."))
			return false;
	}
	return cfg_ip_ok(host) || (!strchr(host, '*') && cfg_wildcard_host_ok(host, false));
}

static int tp_service(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	TP *t = o;

	if (cfg_get_str(ctx, v, &t->service))
		return -EINVAL;
	if (!service_ok(t->service)) {
		cfg_error(ctx, v, "\"%.64s\" is not \"[namespace/]host\" (a host name or an IP)",
			  t->service);
		return -EINVAL;
	}
	return 0;
}

static int tp_port(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 1, 65535, &n))
		return -EINVAL;
	((TP *)o)->port = (uint16_t)n;
	return 0;
}

static int tp_max_tag(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 0, MAX_TAG_LENGTH, &n))
		return -EINVAL;
	((TP *)o)->max_tag_length = (uint32_t)n;
	return 0;
}

static int get_path(struct cfg_ctx *ctx, yaml_node_t *v, char **out)
{
	if (cfg_get_str(ctx, v, out))
		return -EINVAL;
	if ((*out)[0] != '/' || strpbrk(*out, " \t\r\n?#")) {
		cfg_error(ctx, v, "\"%.64s\" is not a path (it starts with \"/\")", *out);
		return -EINVAL;
	}
	return 0;
}

static int tp_path(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return get_path(ctx, v, &((TP *)o)->path);
}

static int get_timeout(struct cfg_ctx *ctx, yaml_node_t *v, uint64_t *ms)
{
	if (cfg_get_duration(ctx, v, ms))
		return -EINVAL;
	if (*ms > MAX_TIMEOUT_MS) {
		cfg_error(ctx, v, "a timeout of at most 24h");
		return -EINVAL;
	}
	return 0;
}

static int tp_timeout(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return get_timeout(ctx, v, &((TP *)o)->timeout_ms);
}

/* ---- HttpHeader ---- */

struct http_header {
	char *name, *value, *env_name;
};

static int hh_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_rl_header_name(ctx, v, &((struct http_header *)o)->name);
}

/* Istio's header value rule: no control characters but tab. */
static int hh_value(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct http_header *h = o;

	if (cfg_get_str(ctx, v, &h->value))
		return -EINVAL;
	for (const unsigned char *c = (const unsigned char *)h->value; *c; c++)
		if ((*c < 0x20 && *c != '\t') || *c == 0x7f) {
			cfg_error(ctx, v, "a header value has no control characters");
			return -EINVAL;
		}
	return 0;
}

static int hh_env(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((struct http_header *)o)->env_name);
}

static const struct cfg_field http_header_fields[] = {
    {"name", CFG_T_STR, hh_name, CFG_F_REQUIRED},
    {"value", CFG_T_STR, hh_value, 0},
    {"envName", CFG_T_STR, hh_env, 0},
    {NULL, 0, NULL, 0},
};

/* A list of HttpHeader into @out (name -> value), each name once. */
static int get_headers(struct cfg_ctx *ctx, yaml_node_t *v, struct config_labels *out)
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
		struct http_header h = {0};

		if (cfg_is_null(item)) {
			cfg_error(ctx, item, "null header entry");
		} else if (!cfg_walk_map(ctx, item, http_header_fields, &h)) {
			if (h.value && h.env_name)
				cfg_error(ctx, item, "only one of value or envName can be set");
			else if (h.env_name)
				cfg_diag(ctx, item, false,
					 "envName: a variable of istiod's environment, which ambit "
					 "has not: header %s is not sent",
					 h.name);
			else if (config_label_get(out, h.name))
				cfg_error(ctx, item, "header %s is given twice", h.name);
			else if (config_labels_add(out, h.name, h.value ? h.value : ""))
				cfg_error(ctx, item, "out of memory");
		}
		free(h.name);
		free(h.value);
		free(h.env_name);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int tp_headers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return get_headers(ctx, v, &((TP *)o)->headers);
}

/* ---- zipkin ---- */

static int zk_64bit(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	bool b;

	if (cfg_get_bool(ctx, v, &b))
		return -EINVAL;
	((TP *)o)->trace_id_128 = !b;
	return 0;
}

static int zk_context(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const options[] = {"USE_B3", "USE_B3_WITH_W3C_PROPAGATION", NULL};

	(void)o;
	return cfg_check_enum(ctx, v, options, NULL);
}

static const struct cfg_field zipkin_fields[] = {
    {"service", CFG_T_STR, tp_service, CFG_F_REQUIRED},
    {"port", CFG_T_INT, tp_port, CFG_F_REQUIRED},
    {"maxTagLength", CFG_T_INT, tp_max_tag, 0},
    {"enable64bitTraceId", CFG_T_BOOL, zk_64bit, 0},
    {"path", CFG_T_STR, tp_path, 0},
    {"traceContextOption", CFG_T_STR, zk_context, 0},
    {"timeout", CFG_T_STR, tp_timeout, 0},
    {"headers", CFG_T_SEQ, tp_headers, 0},
    {NULL, 0, NULL, 0},
};

static int default_path(struct cfg_ctx *ctx, yaml_node_t *v, TP *t, const char *path)
{
	if (t->path || (t->path = strdup(path)))
		return 0;
	cfg_error(ctx, v, "out of memory");
	return -ENOMEM;
}

int cfg_mesh_zipkin(struct cfg_ctx *ctx, yaml_node_t *v, struct config_trace_provider *t)
{
	t->kind = CONFIG_TRACE_ZIPKIN;
	t->trace_id_128 = true; /* enable64bitTraceId is false unless said */
	if (cfg_walk_map(ctx, v, zipkin_fields, t))
		return -EINVAL;
	return default_path(ctx, v, t, ZIPKIN_PATH);
}

/* ---- opentelemetry ---- */

static const struct cfg_field otel_http_fields[] = {
    {"path", CFG_T_STR, tp_path, 0},
    {"timeout", CFG_T_STR, tp_timeout, 0},
    {"headers", CFG_T_SEQ, tp_headers, 0},
    {NULL, 0, NULL, 0},
};

static const struct cfg_field otel_grpc_fields[] = {
    {"timeout", CFG_T_STR, tp_timeout, 0},
    {"initialMetadata", CFG_T_SEQ, tp_headers, 0},
    {NULL, 0, NULL, 0},
};

static int ot_http(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	((TP *)o)->kind = CONFIG_TRACE_OTLP_HTTP;
	return cfg_walk_map(ctx, v, otel_http_fields, o);
}

static int ot_grpc(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, otel_grpc_fields, o);
}

static const struct cfg_field empty_fields[] = {{NULL, 0, NULL, 0}};

static int walk_empty(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, empty_fields, o);
}

static const struct cfg_field detector_fields[] = {
    {"environment", CFG_T_MAP, walk_empty, 0},
    {"dynatrace", CFG_T_MAP, walk_empty, 0},
    {NULL, 0, NULL, 0},
};

static int ot_detectors(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, detector_fields, o);
}

/* Checked into a provider of its own, dropped. */
static int dt_http(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	TP scratch = {0};
	int err = cfg_walk_map(ctx, v, otel_http_fields, &scratch);

	(void)o;
	cfg_trace_provider_free(&scratch);
	return err;
}

static const struct cfg_field dynatrace_api_fields[] = {
    {"service", CFG_T_STR, NULL, 0},
    {"port", CFG_T_INT, NULL, 0},
    {"http", CFG_T_MAP, dt_http, 0},
    {NULL, 0, NULL, 0},
};

static int dt_api(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, dynatrace_api_fields, o);
}

static const struct cfg_field dynatrace_fields[] = {
    {"tenant", CFG_T_STR, NULL, 0},
    {"clusterId", CFG_T_INT, NULL, 0},
    {"rootSpansPerMinute", CFG_T_INT, NULL, 0},
    {"httpService", CFG_T_MAP, dt_api, 0},
    {NULL, 0, NULL, 0},
};

static int ot_dynatrace(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, dynatrace_fields, o);
}

static int ot_enrichment(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const values[] = {"ISTIO_CANONICAL", "OTEL_SEMANTIC_CONVENTIONS", NULL};

	(void)o;
	return cfg_check_enum(ctx, v, values, NULL);
}

static const struct cfg_field otel_fields[] = {
    {"service", CFG_T_STR, tp_service, CFG_F_REQUIRED},
    {"port", CFG_T_INT, tp_port, CFG_F_REQUIRED},
    {"maxTagLength", CFG_T_INT, tp_max_tag, 0},
    {"http", CFG_T_MAP, ot_http, 0},
    {"grpc", CFG_T_MAP, ot_grpc, 0},
    {"resourceDetectors", CFG_T_MAP, ot_detectors, 0},
    {"dynatraceSampler", CFG_T_MAP, ot_dynatrace, 0},
    {"serviceAttributeEnrichment", CFG_T_STR, ot_enrichment, 0},
    {NULL, 0, NULL, 0},
};

static bool present(struct cfg_ctx *ctx, yaml_node_t *map, const char *key)
{
	yaml_node_t *v = cfg_map_get(ctx, map, key);

	return v && !cfg_is_null(v);
}

int cfg_mesh_otel(struct cfg_ctx *ctx, yaml_node_t *v, struct config_trace_provider *t)
{
	t->kind = CONFIG_TRACE_OTLP_GRPC; /* no http: OTLP over gRPC (ot_http says otherwise) */
	t->trace_id_128 = true;		  /* OTLP's trace ids are 16 bytes */
	if (cfg_walk_map(ctx, v, otel_fields, t))
		return -EINVAL;
	if (present(ctx, v, "http") && present(ctx, v, "grpc")) {
		cfg_error(ctx, v, "only one of http or grpc can be set");
		return -EINVAL;
	}
	return t->kind == CONFIG_TRACE_OTLP_HTTP ? default_path(ctx, v, t, OTLP_HTTP_PATH) : 0;
}

/* ---- defaultProviders ---- */

#define MC struct config_mesh

#define DP_STRINGS(fn, member)                                                                     \
	static int fn(struct cfg_ctx *ctx, yaml_node_t *v, void *o)                                \
	{                                                                                          \
		return cfg_get_strings(ctx, v, CFG_S_NONEMPTY, &((MC *)o)->member);                \
	}
DP_STRINGS(dp_tracing, default_tracing)
DP_STRINGS(dp_metrics, default_metrics)
DP_STRINGS(dp_access_logging, default_access_logging)

static const struct cfg_field default_providers_fields[] = {
    {"tracing", CFG_T_SEQ, dp_tracing, 0},
    {"metrics", CFG_T_SEQ, dp_metrics, 0},
    {"accessLogging", CFG_T_SEQ, dp_access_logging, 0},
    {NULL, 0, NULL, 0},
};

int cfg_mesh_default_providers(struct cfg_ctx *ctx, yaml_node_t *v, struct config_mesh *m)
{
	return cfg_walk_map(ctx, v, default_providers_fields, m);
}

/* ---- defaultConfig.tracing (ProxyConfig.Tracing) ---- */

static const struct cfg_field address_fields[] = {
    {"address", CFG_T_STR, NULL, 0},
    {NULL, 0, NULL, 0},
};

static const struct cfg_field lightstep_fields[] = {
    {"address", CFG_T_STR, NULL, 0},
    {"accessToken", CFG_T_STR, NULL, 0},
    {NULL, 0, NULL, 0},
};

/* Int64Value: JSON writes a 64-bit integer as a number or a string. */
static const struct cfg_field stackdriver_fields[] = {
    {"debug", CFG_T_BOOL, NULL, 0},
    {"maxNumberOfAttributes", CFG_T_INT_OR_STR, NULL, 0},
    {"maxNumberOfAnnotations", CFG_T_INT_OR_STR, NULL, 0},
    {"maxNumberOfMessageEvents", CFG_T_INT_OR_STR, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int oc_context(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const contexts[] = {
	    "UNSPECIFIED", "W3C_TRACE_CONTEXT", "GRPC_BIN", "CLOUD_TRACE_CONTEXT", "B3", NULL};
	int before = ctx->nerrors;

	(void)o;
	for (size_t i = 0; i < cfg_seq_len(v); i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		size_t saved = cfg_path_push_index(ctx, i);

		if (item->type != YAML_SCALAR_NODE)
			cfg_error(ctx, item, "expected a string, got %s", cfg_type_name(item));
		else
			cfg_check_enum(ctx, item, contexts, NULL);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static const struct cfg_field opencensus_fields[] = {
    {"address", CFG_T_STR, NULL, 0},
    {"context", CFG_T_SEQ, oc_context, 0},
    {NULL, 0, NULL, 0},
};

#define PT_TRACER(fn, table)                                                                       \
	static int fn(struct cfg_ctx *ctx, yaml_node_t *v, void *o)                                \
	{                                                                                          \
		return cfg_walk_map(ctx, v, table, o);                                             \
	}
PT_TRACER(pt_address, address_fields)
PT_TRACER(pt_lightstep, lightstep_fields)
PT_TRACER(pt_stackdriver, stackdriver_fields)
PT_TRACER(pt_opencensus, opencensus_fields)

static int pt_tags(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct config_custom_tag *tags = NULL;
	size_t n = 0;
	int err = cfg_custom_tags(ctx, v, false, &tags, &n);

	(void)o;
	config_custom_tags_free(tags, n);
	return err;
}

static int pt_max_path(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	(void)o;
	return cfg_get_int(ctx, v, 0, UINT32_MAX, &n);
}

/* istiod reads 0 as unset (its default, 1 %); above 100 is refused rather than read as 1. */
static int pt_sampling(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	MC *m = o;
	double pct;

	if (cfg_rl_percent(ctx, v, &pct))
		return -EINVAL;
	m->has_default_sampling = pct != 0;
	m->default_sampling = pct;
	return 0;
}

/* JSON's names, and protobuf's that protojson reads too (Istio's docs write custom_tags). */
static const struct cfg_field proxy_tracing_fields[] = {
    {"zipkin", CFG_T_MAP, pt_address, 0},
    {"lightstep", CFG_T_MAP, pt_lightstep, 0},
    {"datadog", CFG_T_MAP, pt_address, 0},
    {"stackdriver", CFG_T_MAP, pt_stackdriver, 0},
    {"openCensusAgent", CFG_T_MAP, pt_opencensus, 0},
    {"open_census_agent", CFG_T_MAP, pt_opencensus, 0},
    {"customTags", CFG_T_MAP, pt_tags, 0},
    {"custom_tags", CFG_T_MAP, pt_tags, 0},
    {"maxPathTagLength", CFG_T_INT, pt_max_path, 0},
    {"max_path_tag_length", CFG_T_INT, pt_max_path, 0},
    {"sampling", CFG_T_ANY, pt_sampling, 0},
    {"tlsSettings", CFG_T_MAP, NULL, 0},
    {"tls_settings", CFG_T_MAP, NULL, 0},
    {"enableIstioTags", CFG_T_BOOL, NULL, 0},
    {"enable_istio_tags", CFG_T_BOOL, NULL, 0},
    {NULL, 0, NULL, 0},
};

int cfg_mesh_proxy_tracing(struct cfg_ctx *ctx, yaml_node_t *v, struct config_mesh *m)
{
	static const char *const tracers[] = {"zipkin",	     "lightstep",	"datadog",
					      "stackdriver", "openCensusAgent", "open_census_agent",
					      NULL};
	static const char *const twice[][2] = {{"customTags", "custom_tags"},
					       {"maxPathTagLength", "max_path_tag_length"},
					       {"openCensusAgent", "open_census_agent"},
					       {"tlsSettings", "tls_settings"},
					       {"enableIstioTags", "enable_istio_tags"}};
	int before = ctx->nerrors, n = 0;

	cfg_walk_map(ctx, v, proxy_tracing_fields, m);
	for (const char *const *t = tracers; *t; t++)
		n += present(ctx, v, *t);
	if (n > 1)
		cfg_error(ctx, v,
			  "only one of zipkin, lightstep, datadog, stackdriver or openCensusAgent "
			  "can be set");
	for (size_t i = 0; i < sizeof(twice) / sizeof(twice[0]); i++)
		if (present(ctx, v, twice[i][0]) && present(ctx, v, twice[i][1]))
			cfg_error(ctx, v, "%s is set twice (as %s too)", twice[i][0], twice[i][1]);
	return ctx->nerrors == before ? 0 : -EINVAL;
}
