// SPDX-License-Identifier: Apache-2.0
/*
 * ConfigMap (v1), and the mesh config istiod reads from one: ConfigMap `istio` in the root
 * namespace, key `mesh`, a MeshConfig in YAML. Its text is parsed and validated like every
 * object (an unknown field is an error naming it; the MeshConfig fields ambit does not act on
 * are accepted, type-checked, and not kept), and the fields the proxies act on are kept:
 * pathNormalization, defaultConfig.gatewayTopology.numTrustedProxies and proxyProtocol,
 * outboundTrafficPolicy.mode and extensionProviders (their ext_authz settings, and the tracing
 * ones', mesh_trace.c, with defaultProviders, enableTracing and defaultConfig.tracing).
 * Diagnostics inside the text carry the line in the manifest the text is on.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "decode/decode.h"

#define MESH_NS "istio-system"
#define MESH_NAME "istio"

/* ---- extensionProviders ---- */

#define XA struct config_ext_authz

static int xa_service(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	XA *x = o;

	if (cfg_get_str(ctx, v, &x->service))
		return -EINVAL;
	if (!*x->service) {
		cfg_error(ctx, v, "must not be empty");
		return -EINVAL;
	}
	return 0;
}

static int xa_port(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 1, 65535, &n))
		return -EINVAL;
	((XA *)o)->port = (uint16_t)n;
	return 0;
}

static int xa_timeout(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_duration(ctx, v, &((XA *)o)->timeout_ms);
}

static int xa_path_prefix(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	XA *x = o;

	if (cfg_get_str(ctx, v, &x->path_prefix))
		return -EINVAL;
	if (*x->path_prefix && x->path_prefix[0] != '/') {
		cfg_error(ctx, v, "must start with \"/\"");
		return -EINVAL;
	}
	return 0;
}

static int xa_fail_open(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_bool(ctx, v, &((XA *)o)->fail_open);
}

static int xa_status_on_error(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	char *s = NULL;
	long n;
	int err = 0;

	/* Istio's statusOnError is a string holding an HTTP status. */
	if (cfg_get_str(ctx, v, &s))
		return -EINVAL;
	if (!cfg_port_string_ok(s, 100, &n) || n > 599) {
		cfg_error(ctx, v, "\"%.32s\": want an HTTP status (100 to 599)", s);
		err = -EINVAL;
	} else {
		((XA *)o)->status_on_error = (int)n;
	}
	free(s);
	return err;
}

#define XA_STRINGS(fn, member)                                                                     \
	static int fn(struct cfg_ctx *ctx, yaml_node_t *v, void *o)                                \
	{                                                                                          \
		return cfg_get_strings(ctx, v, CFG_S_NONEMPTY, &((XA *)o)->member);                \
	}
XA_STRINGS(xa_req_headers, include_request_headers_in_check)
XA_STRINGS(xa_up_allow, headers_to_upstream_on_allow)
XA_STRINGS(xa_down_deny, headers_to_downstream_on_deny)
XA_STRINGS(xa_down_allow, headers_to_downstream_on_allow)

static int xa_additional(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_labels(ctx, v, true, &((XA *)o)->include_additional_headers_in_check);
}

static int xa_body(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const struct cfg_field body_fields[] = {
	    {"maxRequestBytes", CFG_T_INT, NULL, 0},
	    {"allowPartialMessage", CFG_T_BOOL, NULL, 0},
	    {"packAsBytes", CFG_T_BOOL, NULL, 0},
	    {NULL, 0, NULL, 0},
	};
	XA *x = o;
	yaml_node_t *m = cfg_map_get(ctx, v, "maxRequestBytes");
	long long n = 0;

	x->include_body = true;
	if (cfg_walk_map(ctx, v, body_fields, x))
		return -EINVAL;
	if (m && cfg_get_int(ctx, m, 1, 4294967295LL, &n))
		return -EINVAL;
	x->max_request_bytes = (uint32_t)n;
	return 0;
}

static const struct cfg_field ext_authz_http_fields[] = {
    {"service", CFG_T_STR, xa_service, CFG_F_REQUIRED},
    {"port", CFG_T_INT, xa_port, CFG_F_REQUIRED},
    {"timeout", CFG_T_STR, xa_timeout, 0},
    {"pathPrefix", CFG_T_STR, xa_path_prefix, 0},
    {"failOpen", CFG_T_BOOL, xa_fail_open, 0},
    {"statusOnError", CFG_T_STR, xa_status_on_error, 0},
    {"includeHeadersInCheck", CFG_T_SEQ, xa_req_headers, 0}, /* deprecated name */
    {"includeRequestHeadersInCheck", CFG_T_SEQ, xa_req_headers, 0},
    {"includeAdditionalHeadersInCheck", CFG_T_MAP, xa_additional, 0},
    {"includeRequestBodyInCheck", CFG_T_MAP, xa_body, 0},
    {"headersToUpstreamOnAllow", CFG_T_SEQ, xa_up_allow, 0},
    {"headersToDownstreamOnDeny", CFG_T_SEQ, xa_down_deny, 0},
    {"headersToDownstreamOnAllow", CFG_T_SEQ, xa_down_allow, 0},
    {NULL, 0, NULL, 0},
};

static const struct cfg_field ext_authz_grpc_fields[] = {
    {"service", CFG_T_STR, xa_service, CFG_F_REQUIRED},
    {"port", CFG_T_INT, xa_port, CFG_F_REQUIRED},
    {"timeout", CFG_T_STR, xa_timeout, 0},
    {"failOpen", CFG_T_BOOL, xa_fail_open, 0},
    {"statusOnError", CFG_T_STR, xa_status_on_error, 0},
    {"includeRequestBodyInCheck", CFG_T_MAP, xa_body, 0},
    {NULL, 0, NULL, 0},
};

#define EP struct config_extension_provider

static int ep_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	EP *p = o;

	if (cfg_get_str(ctx, v, &p->name))
		return -EINVAL;
	if (!*p->name) {
		cfg_error(ctx, v, "must not be empty");
		return -EINVAL;
	}
	return 0;
}

static int ep_kind(EP *p, struct cfg_ctx *ctx, yaml_node_t *v, const char *kind)
{
	if (p->kind) {
		cfg_error(ctx, v, "a provider has one type; this one is already %s", p->kind);
		return -EINVAL;
	}
	p->kind = kind;
	return 0;
}

static int ep_http(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	EP *p = o;

	if (ep_kind(p, ctx, v, "envoyExtAuthzHttp"))
		return -EINVAL;
	return cfg_walk_map(ctx, v, ext_authz_http_fields, &p->ext_authz);
}

static int ep_grpc(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	EP *p = o;

	if (ep_kind(p, ctx, v, "envoyExtAuthzGrpc"))
		return -EINVAL;
	p->ext_authz.grpc = true;
	return cfg_walk_map(ctx, v, ext_authz_grpc_fields, &p->ext_authz);
}

static int ep_zipkin(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	EP *p = o;

	if (ep_kind(p, ctx, v, "zipkin"))
		return -EINVAL;
	return cfg_mesh_zipkin(ctx, v, &p->trace);
}

static int ep_otel(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	EP *p = o;

	if (ep_kind(p, ctx, v, "opentelemetry"))
		return -EINVAL;
	return cfg_mesh_otel(ctx, v, &p->trace);
}

/* The other telemetry providers: typed and recorded, their settings not read yet. */
#define EP_OTHER(fn, kind)                                                                         \
	static int fn(struct cfg_ctx *ctx, yaml_node_t *v, void *o)                                \
	{                                                                                          \
		return ep_kind(o, ctx, v, kind);                                                   \
	}
EP_OTHER(ep_prometheus, "prometheus")
EP_OTHER(ep_file_log, "envoyFileAccessLog")
EP_OTHER(ep_otel_als, "envoyOtelAls")
EP_OTHER(ep_http_als, "envoyHttpAls")
EP_OTHER(ep_tcp_als, "envoyTcpAls")
EP_OTHER(ep_skywalking, "skywalking")
EP_OTHER(ep_datadog, "datadog")
EP_OTHER(ep_lightstep, "lightstep")
EP_OTHER(ep_stackdriver, "stackdriver")
EP_OTHER(ep_sds, "sds")

static const struct cfg_field provider_fields[] = {
    {"name", CFG_T_STR, ep_name, CFG_F_REQUIRED},
    {"envoyExtAuthzHttp", CFG_T_MAP, ep_http, 0},
    {"envoyExtAuthzGrpc", CFG_T_MAP, ep_grpc, 0},
    {"zipkin", CFG_T_MAP, ep_zipkin, 0},
    {"opentelemetry", CFG_T_MAP, ep_otel, 0},
    {"prometheus", CFG_T_MAP, ep_prometheus, 0},
    {"envoyFileAccessLog", CFG_T_MAP, ep_file_log, 0},
    {"envoyOtelAls", CFG_T_MAP, ep_otel_als, 0},
    {"envoyHttpAls", CFG_T_MAP, ep_http_als, 0},
    {"envoyTcpAls", CFG_T_MAP, ep_tcp_als, 0},
    {"skywalking", CFG_T_MAP, ep_skywalking, 0},
    {"datadog", CFG_T_MAP, ep_datadog, 0},
    {"lightstep", CFG_T_MAP, ep_lightstep, 0},
    {"stackdriver", CFG_T_MAP, ep_stackdriver, 0},
    {"sds", CFG_T_MAP, ep_sds, 0},
    {NULL, 0, NULL, 0},
};

/* ---- MeshConfig ---- */

#define MC struct config_mesh

static int mc_providers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	MC *m = o;

	if (cfg_parse_seq(ctx, v, provider_fields, sizeof(*m->providers), (void **)&m->providers,
			  &m->n_providers, false, "extensionProviders"))
		return -EINVAL;
	for (size_t i = 0; i < m->n_providers; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);

		if (!m->providers[i].kind) {
			cfg_error(ctx, item, "extensionProviders[%zu] (%s): no provider type", i,
				  m->providers[i].name ? m->providers[i].name : "?");
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++)
			if (m->providers[i].name && m->providers[j].name &&
			    !strcmp(m->providers[i].name, m->providers[j].name)) {
				cfg_error(ctx, item, "extensionProviders: \"%s\" is defined twice",
					  m->providers[i].name);
				return -EINVAL;
			}
	}
	return 0;
}

static int mc_normalization(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const modes[] = {
	    "DEFAULT", "NONE", "BASE", "MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES", NULL};
	MC *m = o;
	char *s = NULL;

	if (cfg_check_enum(ctx, v, modes, &s))
		return -EINVAL;
	/* DEFAULT is BASE (Istio's NormalizationType). */
	m->path_normalization = !strcmp(s, "NONE")	      ? CONFIG_PATH_NORM_NONE
				: !strcmp(s, "MERGE_SLASHES") ? CONFIG_PATH_NORM_MERGE_SLASHES
				: !strcmp(s, "DECODE_AND_MERGE_SLASHES")
				    ? CONFIG_PATH_NORM_DECODE_MERGE
				    : CONFIG_PATH_NORM_BASE;
	free(s);
	return 0;
}

static int mc_path_normalization(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const struct cfg_field fields[] = {
	    {"normalization", CFG_T_STR, mc_normalization, 0},
	    {NULL, 0, NULL, 0},
	};

	return cfg_walk_map(ctx, v, fields, o);
}

static int mc_trusted(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 0, 64, &n))
		return -EINVAL;
	((MC *)o)->num_trusted_proxies = (int)n;
	return 0;
}

/*
 * ProxyProtocol has no field: its presence (`proxyProtocol: {}`) turns Envoy's
 * proxy_protocol listener filter on for every listener of the gateway.
 */
static int mc_proxy_protocol(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const struct cfg_field fields[] = {
	    {NULL, 0, NULL, 0},
	};

	((MC *)o)->proxy_protocol = true;
	return cfg_walk_map(ctx, v, fields, o);
}

static int mc_gateway_topology(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const struct cfg_field fields[] = {
	    {"numTrustedProxies", CFG_T_INT, mc_trusted, 0},
	    {"forwardClientCertDetails", CFG_T_STR, NULL, 0},
	    {"proxyProtocol", CFG_T_MAP, mc_proxy_protocol, 0},
	    {NULL, 0, NULL, 0},
	};

	return cfg_walk_map(ctx, v, fields, o);
}

/* The names Istio's enum gives, in enum config_underscores's order. */
static int mc_underscores(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const names[] = {"HEADERS_WITH_UNDERSCORES_UNSPECIFIED",
					    "HEADERS_WITH_UNDERSCORES_ALLOW",
					    "HEADERS_WITH_UNDERSCORES_REJECT_REQUEST",
					    "HEADERS_WITH_UNDERSCORES_DROP_HEADER", NULL};
	MC *m = o;
	char *s = NULL;
	int i;

	if (cfg_check_enum(ctx, v, names, &s))
		return -EINVAL;
	for (i = 0; strcmp(names[i], s); i++)
		;
	free(s);
	if (i)
		m->underscores = i - 1; /* UNSPECIFIED leaves it to the profile */
	return 0;
}

static int mc_profile(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const names[] = {"SIDECAR", "EDGE", NULL};

	return cfg_check_enum(ctx, v, names, NULL);
}

static int mc_escaped_slashes(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const names[] = {"PATH_WITH_ESCAPED_SLASHES_UNSPECIFIED",
					    "KEEP_UNCHANGED",
					    "REJECT_REQUEST",
					    "UNESCAPE_AND_REDIRECT",
					    "UNESCAPE_AND_FORWARD",
					    NULL};

	return cfg_check_enum(ctx, v, names, NULL);
}

/*
 * ProxyConfig.connectionSettings: the underscores action (and the EDGE profile's default of it)
 * is kept; the rest of Envoy's connection settings is type-checked.
 */
static int mc_connection_settings(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const struct cfg_field fields[] = {
	    {"profile", CFG_T_STR, mc_profile, 0},
	    {"httpHeadersWithUnderscoresAction", CFG_T_STR, mc_underscores, 0},
	    {"listenerPerConnectionBufferLimitBytes", CFG_T_INT, NULL, 0},
	    {"clusterPerConnectionBufferLimitBytes", CFG_T_INT, NULL, 0},
	    {"httpIdleTimeout", CFG_T_STR, NULL, 0},
	    {"httpMaxConnectionDuration", CFG_T_STR, NULL, 0},
	    {"httpDrainTimeout", CFG_T_STR, NULL, 0},
	    {"httpRequestTimeout", CFG_T_STR, NULL, 0},
	    {"httpRequestHeadersTimeout", CFG_T_STR, NULL, 0},
	    {"httpStreamIdleTimeout", CFG_T_STR, NULL, 0},
	    {"httpMaxStreamDuration", CFG_T_STR, NULL, 0},
	    {"httpMaxConcurrentStreams", CFG_T_INT, NULL, 0},
	    {"http2InitialStreamWindowSize", CFG_T_INT, NULL, 0},
	    {"http2InitialConnectionWindowSize", CFG_T_INT, NULL, 0},
	    {"httpMergeSlashes", CFG_T_BOOL, NULL, 0},
	    {"httpPathWithEscapedSlashesAction", CFG_T_STR, mc_escaped_slashes, 0},
	    {"listenerConnectionLimit", CFG_T_INT, NULL, 0},
	    {"globalDownstreamConnectionLimit", CFG_T_INT, NULL, 0},
	    {NULL, 0, NULL, 0},
	};
	MC *m = o;
	yaml_node_t *profile = cfg_map_get(ctx, v, "profile");
	int err = cfg_walk_map(ctx, v, fields, o);

	/* EDGE (Envoy's edge best practices) refuses them unless the action says otherwise. */
	if (!err && m->underscores == CONFIG_UNDERSCORES_UNSET && profile &&
	    profile->type == YAML_SCALAR_NODE &&
	    !strcmp((char *)profile->data.scalar.value, "EDGE"))
		m->underscores = CONFIG_UNDERSCORES_REJECT;
	return err;
}

static int mc_tracing(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_mesh_proxy_tracing(ctx, v, o);
}

/*
 * ProxyConfig: gatewayTopology and tracing.sampling are kept; the rest (Envoy's own settings)
 * is type-checked.
 */
static const struct cfg_field proxy_config_fields[] = {
    {"gatewayTopology", CFG_T_MAP, mc_gateway_topology, 0},
    {"connectionSettings", CFG_T_MAP, mc_connection_settings, 0},
    {"configPath", CFG_T_STR, NULL, 0},
    {"binaryPath", CFG_T_STR, NULL, 0},
    {"serviceCluster", CFG_T_STR, NULL, 0},
    {"drainDuration", CFG_T_STR, NULL, 0},
    {"parentShutdownDuration", CFG_T_STR, NULL, 0},
    {"discoveryAddress", CFG_T_STR, NULL, 0},
    {"statsdUdpAddress", CFG_T_STR, NULL, 0},
    {"proxyAdminPort", CFG_T_INT, NULL, 0},
    {"controlPlaneAuthPolicy", CFG_T_STR, NULL, 0},
    {"customConfigFile", CFG_T_STR, NULL, 0},
    {"statNameLength", CFG_T_INT, NULL, 0},
    {"concurrency", CFG_T_INT, NULL, 0},
    {"proxyBootstrapTemplatePath", CFG_T_STR, NULL, 0},
    {"interceptionMode", CFG_T_STR, NULL, 0},
    {"tracing", CFG_T_MAP, mc_tracing, 0},
    {"envoyAccessLogService", CFG_T_MAP, NULL, 0},
    {"envoyMetricsService", CFG_T_MAP, NULL, 0},
    {"proxyMetadata", CFG_T_MAP, NULL, 0},
    {"runtimeValues", CFG_T_MAP, NULL, 0},
    {"statusPort", CFG_T_INT, NULL, 0},
    {"extraStatTags", CFG_T_SEQ, NULL, 0},
    {"proxyStatsMatcher", CFG_T_MAP, NULL, 0},
    {"terminationDrainDuration", CFG_T_STR, NULL, 0},
    {"meshId", CFG_T_STR, NULL, 0},
    {"readinessProbe", CFG_T_MAP, NULL, 0},
    {"privateKeyProvider", CFG_T_MAP, NULL, 0},
    {"holdApplicationUntilProxyStarts", CFG_T_BOOL, NULL, 0},
    {"caCertificatesPem", CFG_T_SEQ, NULL, 0},
    {"image", CFG_T_MAP, NULL, 0},
    {"tracingServiceName", CFG_T_STR, NULL, 0},
    {"proxyHeaders", CFG_T_MAP, NULL, 0},
    {"fileFlushInterval", CFG_T_STR, NULL, 0},
    {"fileFlushMinSizeKb", CFG_T_INT, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int mc_default_config(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, proxy_config_fields, o);
}

static int mc_outbound_mode(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const modes[] = {"REGISTRY_ONLY", "ALLOW_ANY", NULL};

	return cfg_check_enum(ctx, v, modes, &((MC *)o)->outbound_traffic_policy);
}

static int mc_outbound(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const struct cfg_field fields[] = {
	    {"mode", CFG_T_STR, mc_outbound_mode, 0},
	    {"egressProxy", CFG_T_MAP, NULL, 0},
	    {NULL, 0, NULL, 0},
	};

	return cfg_walk_map(ctx, v, fields, o);
}

static int mc_enable_tracing(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_bool(ctx, v, &((MC *)o)->enable_tracing);
}

static int mc_default_providers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_mesh_default_providers(ctx, v, o);
}

/* trustDomainAliases: each a trust domain, as SPIFFE IDs name it (no "/", not empty). */
static int mc_trust_domain_aliases(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct config_strings *l = &((struct config_mesh *)o)->trust_domain_aliases;
	int err = cfg_get_strings(ctx, v, CFG_S_NONEMPTY, l);

	for (size_t i = 0; !err && i < l->n; i++)
		if (strchr(l->items[i], '/') || strchr(l->items[i], ' ') ||
		    strlen(l->items[i]) > 255) {
			cfg_error(ctx, v, "trustDomainAliases[%zu]: \"%s\" is not a trust domain",
				  i, l->items[i]);
			err = -EINVAL;
		}
	return err;
}

/* MeshConfig (istio.io/istio/api mesh/v1alpha1): every field Istio documents. */
static const struct cfg_field mesh_fields[] = {
    {"pathNormalization", CFG_T_MAP, mc_path_normalization, 0},
    {"defaultConfig", CFG_T_MAP, mc_default_config, 0},
    {"outboundTrafficPolicy", CFG_T_MAP, mc_outbound, 0},
    {"extensionProviders", CFG_T_SEQ, mc_providers, 0},
    {"proxyListenPort", CFG_T_INT, NULL, 0},
    {"proxyInboundListenPort", CFG_T_INT, NULL, 0},
    {"proxyHttpPort", CFG_T_INT, NULL, 0},
    {"connectTimeout", CFG_T_STR, NULL, 0},
    {"protocolDetectionTimeout", CFG_T_STR, NULL, 0},
    {"tcpKeepalive", CFG_T_MAP, NULL, 0},
    {"ingressClass", CFG_T_STR, NULL, 0},
    {"ingressService", CFG_T_STR, NULL, 0},
    {"ingressControllerMode", CFG_T_STR, NULL, 0},
    {"ingressSelector", CFG_T_STR, NULL, 0},
    {"enableTracing", CFG_T_BOOL, mc_enable_tracing, 0},
    {"accessLogFile", CFG_T_STR, NULL, 0},
    {"accessLogFormat", CFG_T_STR, NULL, 0},
    {"accessLogEncoding", CFG_T_STR, NULL, 0},
    {"enableEnvoyAccessLogService", CFG_T_BOOL, NULL, 0},
    {"disableEnvoyListenerLog", CFG_T_BOOL, NULL, 0},
    {"inboundTrafficPolicy", CFG_T_MAP, NULL, 0},
    {"configSources", CFG_T_SEQ, NULL, 0},
    {"enableAutoMtls", CFG_T_BOOL, NULL, 0},
    {"trustDomain", CFG_T_STR, NULL, 0},
    {"trustDomainAliases", CFG_T_SEQ, mc_trust_domain_aliases, 0},
    {"caCertificates", CFG_T_SEQ, NULL, 0},
    {"defaultServiceExportTo", CFG_T_SEQ, NULL, 0},
    {"defaultVirtualServiceExportTo", CFG_T_SEQ, NULL, 0},
    {"defaultDestinationRuleExportTo", CFG_T_SEQ, NULL, 0},
    {"rootNamespace", CFG_T_STR, NULL, 0},
    {"localityLbSetting", CFG_T_MAP, NULL, 0},
    {"dnsRefreshRate", CFG_T_STR, NULL, 0},
    {"h2UpgradePolicy", CFG_T_STR, NULL, 0},
    {"inboundClusterStatName", CFG_T_STR, NULL, 0},
    {"outboundClusterStatName", CFG_T_STR, NULL, 0},
    {"certificates", CFG_T_SEQ, NULL, 0},
    {"serviceSettings", CFG_T_SEQ, NULL, 0},
    {"enablePrometheusMerge", CFG_T_BOOL, NULL, 0},
    {"verifyCertificateAtClient", CFG_T_BOOL, NULL, 0},
    {"ca", CFG_T_MAP, NULL, 0},
    {"defaultProviders", CFG_T_MAP, mc_default_providers, 0},
    {"discoverySelectors", CFG_T_SEQ, NULL, 0},
    {"defaultHttpRetryPolicy", CFG_T_MAP, NULL, 0},
    {"meshMTLS", CFG_T_MAP, NULL, 0},
    {"tlsDefaults", CFG_T_MAP, NULL, 0},
    {"serviceScopeConfigs", CFG_T_SEQ, NULL, 0},
    {NULL, 0, NULL, 0},
};

/*
 * The MeshConfig text of @v (data.mesh) into @m: parsed as a YAML document of its own and
 * walked with the object's context, its diagnostics moved to the manifest's lines.
 */
static int parse_mesh(struct cfg_ctx *ctx, yaml_node_t *v, struct config_mesh *m)
{
	yaml_document_t doc, *outer = ctx->doc;
	yaml_parser_t p;
	yaml_node_t *root;
	size_t first = ctx->diags ? ctx->diags->n : 0;
	/* A block scalar's text starts on the line after its key; a quoted one on the same. */
	int base =
	    (int)v->start_mark.line + (v->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
					       v->data.scalar.style == YAML_FOLDED_SCALAR_STYLE
					   ? 1
					   : 0);
	int err = 0;

	m->path_normalization = CONFIG_PATH_NORM_UNSET;
	m->num_trusted_proxies = -1;
	m->underscores = CONFIG_UNDERSCORES_UNSET;
	m->proxy_protocol = false;
	m->enable_tracing = true;
	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, v->data.scalar.value, v->data.scalar.length);
	if (!yaml_parser_load(&p, &doc)) {
		cfg_error(ctx, v, "not a MeshConfig: invalid YAML at line %zu of the text: %s",
			  p.problem_mark.line + 1, p.problem ? p.problem : "?");
		yaml_parser_delete(&p);
		return -EINVAL;
	}
	yaml_parser_delete(&p);
	root = yaml_document_get_root_node(&doc);
	ctx->doc = &doc;
	if (!root || (root->type == YAML_SCALAR_NODE && !root->data.scalar.length)) {
		err = 0; /* an empty mesh config: Istio's defaults */
	} else if (root->type != YAML_MAPPING_NODE) {
		cfg_error(ctx, root, "not a MeshConfig: want a mapping, got %s",
			  cfg_type_name(root));
		err = -EINVAL;
	} else if (cfg_check_document(ctx)) {
		err = -EINVAL;
	} else {
		err = cfg_walk_map(ctx, root, mesh_fields, m);
	}
	ctx->doc = outer;
	yaml_document_delete(&doc);
	for (size_t i = first; ctx->diags && i < ctx->diags->n; i++)
		ctx->diags->items[i].line += base;
	m->present = true;
	return err;
}

/* ---- ConfigMap ---- */

static int cm_data(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_config_map *cm = ((struct cfg_obj *)obj)->obj;

	if (cfg_get_labels(ctx, v, true, &cm->data))
		return -EINVAL;
	return 0;
}

const struct cfg_field cfg_config_map_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED},
    {"data", CFG_T_MAP, cm_data, 0},
    {"binaryData", CFG_T_MAP, NULL, 0},
    {"immutable", CFG_T_BOOL, NULL, 0},
    {NULL, 0, NULL, 0},
};

int cfg_config_map_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o)
{
	struct config_config_map *cm = o->obj;
	yaml_node_t *data, *mesh;
	size_t len;

	if (strcmp(cm->meta.namespace ? cm->meta.namespace : "", MESH_NS) ||
	    strcmp(cm->meta.name, MESH_NAME))
		return 0;
	data = cfg_map_get(ctx, root, "data");
	mesh = data ? cfg_map_get(ctx, data, "mesh") : NULL;
	if (!mesh)
		return 0;
	if (mesh->type != YAML_SCALAR_NODE) {
		cfg_error(ctx, mesh, "data.mesh: want the MeshConfig as a string");
		return -EINVAL;
	}
	len = cfg_path_push(ctx, "data.mesh");
	cm->has_mesh = true;
	if (parse_mesh(ctx, mesh, &cm->mesh)) {
		cfg_path_pop(ctx, len);
		return -EINVAL;
	}
	cfg_path_pop(ctx, len);
	return 0;
}

static void ext_authz_free(struct config_ext_authz *x)
{
	free(x->service);
	free(x->path_prefix);
	config_strings_free(&x->include_request_headers_in_check);
	config_strings_free(&x->headers_to_upstream_on_allow);
	config_strings_free(&x->headers_to_downstream_on_deny);
	config_strings_free(&x->headers_to_downstream_on_allow);
	config_labels_free(&x->include_additional_headers_in_check);
}

void config_mesh_free(struct config_mesh *m)
{
	for (size_t i = 0; m->providers && i < m->n_providers; i++) {
		free(m->providers[i].name);
		ext_authz_free(&m->providers[i].ext_authz);
		cfg_trace_provider_free(&m->providers[i].trace);
	}
	free(m->providers);
	free(m->outbound_traffic_policy);
	config_strings_free(&m->default_tracing);
	config_strings_free(&m->default_access_logging);
	config_strings_free(&m->default_metrics);
	config_strings_free(&m->trust_domain_aliases);
	memset(m, 0, sizeof(*m));
}

void config_config_map_free(struct config_config_map *cm)
{
	config_meta_free(&cm->meta);
	config_labels_free(&cm->data);
	config_mesh_free(&cm->mesh);
	memset(cm, 0, sizeof(*cm));
}

const struct config_mesh *config_mesh_of(const struct config *c)
{
	for (size_t i = 0; c && i < c->n_config_maps; i++)
		if (c->config_maps[i].has_mesh)
			return &c->config_maps[i].mesh;
	return NULL;
}

const struct config_extension_provider *config_mesh_provider(const struct config_mesh *m,
							     const char *name)
{
	for (size_t i = 0; m && name && i < m->n_providers; i++)
		if (!strcmp(m->providers[i].name, name))
			return &m->providers[i];
	return NULL;
}

const char *config_mesh_provider_kind(const struct config_mesh *m, const char *name)
{
	/* Istio's DefaultMeshConfig; a mesh config's provider of the same name replaces one. */
	static const char *const builtin[][2] = {{"prometheus", "prometheus"},
						 {"stackdriver", "stackdriver"},
						 {"envoy", "envoyFileAccessLog"}};
	const struct config_extension_provider *p = config_mesh_provider(m, name);

	if (p)
		return p->kind;
	for (size_t i = 0; name && i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (!strcmp(name, builtin[i][0]))
			return builtin[i][1];
	return NULL;
}

bool config_mesh_tracing_enabled(const struct config_mesh *m)
{
	return !m || m->enable_tracing;
}
