// SPDX-License-Identifier: Apache-2.0
/* DestinationRule (networking.istio.io v1, v1beta1, v1alpha3; API_SEMANTICS.md §2). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

#define TP struct config_traffic_policy

static int dur(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_duration(ctx, v, NULL);
}

static int nonneg_int(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	return cfg_get_int(ctx, v, 0, 2147483647, &n);
}

static int u32_into(struct cfg_ctx *ctx, yaml_node_t *v, uint32_t *out)
{
	long long n;

	if (cfg_get_int(ctx, v, 0, 4294967295LL, &n))
		return -EINVAL;
	*out = (uint32_t)n;
	return 0;
}

static void pool_defaults(struct config_connection_pool *p)
{
	*p = (struct config_connection_pool)CONFIG_POOL_ISTIO_DEFAULTS;
}

/* ---- loadBalancer ---- */

#define LB struct config_load_balancer

static int lb_simple(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const lbs[] = {"UNSPECIFIED", "LEAST_CONN",	  "RANDOM", "PASSTHROUGH",
					  "ROUND_ROBIN", "LEAST_REQUEST", NULL};
	static const enum config_lb_simple map[] = {CONFIG_LB_UNSPECIFIED, CONFIG_LB_LEAST_REQUEST,
						    CONFIG_LB_RANDOM,	   CONFIG_LB_PASSTHROUGH,
						    CONFIG_LB_ROUND_ROBIN, CONFIG_LB_LEAST_REQUEST};
	const char *s = (const char *)v->data.scalar.value;

	if (cfg_check_enum(ctx, v, lbs, NULL))
		return -EINVAL;
	for (size_t i = 0; lbs[i]; i++)
		if (!strcmp(s, lbs[i]))
			((TP *)o)->lb.simple = map[i];
	return 0;
}

static int ck_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	LB *lb = o;

	if (cfg_get_str(ctx, v, &lb->hash_name))
		return -EINVAL;
	if (!*lb->hash_name) {
		cfg_error(ctx, v, "cookie name is required");
		return -EINVAL;
	}
	return 0;
}

static int ck_path(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((LB *)o)->cookie_path);
}

static int ck_ttl(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_duration(ctx, v, &((LB *)o)->cookie_ttl_ms);
}

static const struct cfg_field cookie_attr_fields[] = {
    {"name", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"value", CFG_T_STR, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int ck_attributes(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	int before = ctx->nerrors;

	for (size_t i = 0; i < cfg_seq_len(v); i++) {
		size_t saved = cfg_path_push_index(ctx, i);

		cfg_walk_map(ctx, cfg_seq_item(ctx, v, i), cookie_attr_fields, NULL);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static const struct cfg_field cookie_fields[] = {
    {"name", CFG_T_STR, ck_name, CFG_F_REQUIRED},
    {"path", CFG_T_STR, ck_path, 0},
    {"ttl", CFG_T_STR, ck_ttl, 0},
    {"attributes", CFG_T_SEQ, ck_attributes, 0},
    {NULL, 0, NULL, 0},
};

static int ch_cookie(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	((LB *)o)->hash_key = CONFIG_HASH_COOKIE;
	return cfg_walk_map(ctx, v, cookie_fields, o);
}

static int ch_header(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	LB *lb = o;

	lb->hash_key = CONFIG_HASH_HEADER;
	if (cfg_get_str(ctx, v, &lb->hash_name))
		return -EINVAL;
	if (!cfg_http_token_ok(lb->hash_name)) {
		cfg_error(ctx, v, "\"%.64s\" is not a header name", lb->hash_name);
		return -EINVAL;
	}
	return 0;
}

static int ch_query(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	LB *lb = o;

	lb->hash_key = CONFIG_HASH_QUERY;
	if (cfg_get_str(ctx, v, &lb->hash_name))
		return -EINVAL;
	if (!*lb->hash_name) {
		cfg_error(ctx, v, "query parameter name must not be empty");
		return -EINVAL;
	}
	return 0;
}

static int ch_source_ip(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	bool b;

	if (cfg_get_bool(ctx, v, &b))
		return -EINVAL;
	if (b)
		((LB *)o)->hash_key = CONFIG_HASH_SOURCE_IP;
	return 0;
}

static int ring_size(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 0, 8388608, &n))
		return -EINVAL;
	if (n)
		((LB *)o)->table_size = (uint64_t)n;
	return 0;
}

static const struct cfg_field ring_fields[] = {
    {"minimumRingSize", CFG_T_INT, ring_size, 0},
    {NULL, 0, NULL, 0},
};

static int ch_ring(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, ring_fields, o);
}

static bool is_prime(long long n)
{
	if (n < 2)
		return false;
	for (long long d = 2; d * d <= n; d++)
		if (n % d == 0)
			return false;
	return true;
}

static int maglev_size(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 0, 5000011, &n))
		return -EINVAL;
	if (n && !is_prime(n)) {
		cfg_error(ctx, v, "maglev tableSize %lld must be a prime number", n);
		return -EINVAL;
	}
	if (n)
		((LB *)o)->table_size = (uint64_t)n;
	return 0;
}

static const struct cfg_field maglev_fields[] = {
    {"tableSize", CFG_T_INT, maglev_size, 0},
    {NULL, 0, NULL, 0},
};

static int ch_maglev(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	LB *lb = o;

	lb->maglev = true;
	lb->table_size = 65537; /* Envoy's default Maglev table */
	return cfg_walk_map(ctx, v, maglev_fields, o);
}

static const struct cfg_field consistent_hash_fields[] = {
    {"httpHeaderName", CFG_T_STR, ch_header, 0},
    {"httpCookie", CFG_T_MAP, ch_cookie, 0},
    {"useSourceIp", CFG_T_BOOL, ch_source_ip, 0},
    {"httpQueryParameterName", CFG_T_STR, ch_query, 0},
    {"ringHash", CFG_T_MAP, ch_ring, 0},
    {"maglev", CFG_T_MAP, ch_maglev, 0},
    {"minimumRingSize", CFG_T_INT, ring_size, 0},
    {NULL, 0, NULL, 0},
};

static int lb_consistent_hash(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const keys[] = {"httpHeaderName", "httpCookie", "useSourceIp",
					   "httpQueryParameterName", NULL};
	int nkeys = 0;
	LB *lb = &((TP *)o)->lb;

	lb->table_size = 1024; /* Istio's minimumRingSize default */
	if (cfg_walk_map(ctx, v, consistent_hash_fields, lb))
		return -EINVAL;
	for (const char *const *k = keys; *k; k++)
		nkeys += cfg_map_get(ctx, v, *k) != NULL;
	if (nkeys != 1) {
		cfg_error(ctx, v,
			  "consistentHash needs exactly one of httpHeaderName, httpCookie, "
			  "useSourceIp, httpQueryParameterName");
		return -EINVAL;
	}
	if (cfg_map_get(ctx, v, "ringHash") && cfg_map_get(ctx, v, "maglev")) {
		cfg_error(ctx, v, "only one of ringHash or maglev can be set");
		return -EINVAL;
	}
	if (cfg_map_get(ctx, v, "minimumRingSize"))
		cfg_diag(ctx, cfg_map_get(ctx, v, "minimumRingSize"), false,
			 "IST0002 deprecated: minimumRingSize; use ringHash.minimumRingSize");
	if (lb->hash_key == CONFIG_HASH_NONE) {
		cfg_error(ctx, v, "useSourceIp: false selects no hash key");
		return -EINVAL;
	}
	return 0;
}

static int warmup_percent(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	double d;

	if (cfg_get_double(ctx, v, &d))
		return -EINVAL;
	if (d < 0 || d > 100) {
		cfg_error(ctx, v, "Invalid value: minimumPercent %g must be in 0..100", d);
		return -EINVAL;
	}
	return 0;
}

static int warmup_aggression(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	double d;

	if (cfg_get_double(ctx, v, &d))
		return -EINVAL;
	if (d < 1) {
		cfg_error(ctx, v, "Invalid value: aggression %g must be at least 1", d);
		return -EINVAL;
	}
	return 0;
}

static const struct cfg_field warmup_fields[] = {
    {"duration", CFG_T_STR, dur, CFG_F_REQUIRED},
    {"minimumPercent", CFG_T_ANY, warmup_percent, 0},
    {"aggression", CFG_T_ANY, warmup_aggression, 0},
    {NULL, 0, NULL, 0},
};

static int lb_warmup(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, warmup_fields, o);
}

static int loc_enabled(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	bool on;

	if (cfg_get_bool(ctx, v, &on))
		return -EINVAL;
	((LB *)o)->locality_off = !on;
	return 0;
}

static int loc_failover_priority(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_strings(ctx, v, CFG_S_NONEMPTY, &((LB *)o)->failover_priority);
}

/* Regions and zones: the local clusters have none, and ambit does not weigh by them. */
static int loc_by_region(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	cfg_diag(ctx, v, false,
		 "not applied: ambit balances by failoverPriority, not by region or zone");
	return 0;
}

static const struct cfg_field locality_fields[] = {
    {"enabled", CFG_T_BOOL, loc_enabled, 0},
    {"failoverPriority", CFG_T_SEQ, loc_failover_priority, 0},
    {"failover", CFG_T_SEQ, loc_by_region, 0},
    {"distribute", CFG_T_SEQ, loc_by_region, 0},
    {NULL, 0, NULL, 0},
};

static int lb_locality(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	LB *lb = &((TP *)o)->lb;

	if (cfg_walk_map(ctx, v, locality_fields, lb))
		return -EINVAL;
	if (cfg_map_get(ctx, v, "failover") && cfg_map_get(ctx, v, "distribute")) {
		cfg_error(ctx, v, "can not simultaneously specify 'failover' and 'distribute'");
		return -EINVAL;
	}
	return 0;
}

static const struct cfg_field lb_fields[] = {
    {"simple", CFG_T_STR, lb_simple, 0},
    {"consistentHash", CFG_T_MAP, lb_consistent_hash, 0},
    {"localityLbSetting", CFG_T_MAP, lb_locality, 0},
    {"zoneAwareLbSetting", CFG_T_MAP, NULL, 0},
    {"warmupDurationSecs", CFG_T_STR, dur, 0},
    {"warmup", CFG_T_MAP, lb_warmup, 0},
    {NULL, 0, NULL, 0},
};

static int tp_lb(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	((TP *)o)->lb.present = true;
	if (cfg_walk_map(ctx, v, lb_fields, o))
		return -EINVAL;
	if (cfg_map_get(ctx, v, "simple") && cfg_map_get(ctx, v, "consistentHash")) {
		cfg_error(ctx, v, "only one of simple or consistentHash can be set");
		return -EINVAL;
	}
	return 0;
}

/* ---- connectionPool ---- */

static const struct cfg_field keepalive_fields[] = {
    {"probes", CFG_T_INT, nonneg_int, 0},
    {"time", CFG_T_STR, dur, 0},
    {"interval", CFG_T_STR, dur, 0},
    {NULL, 0, NULL, 0},
};

static int tcp_keepalive(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, keepalive_fields, o);
}

#define POOL struct config_connection_pool

/* int32 in the API; Istio's validation rejects negative limits. 0 keeps the default. */
static int pool_limit(struct cfg_ctx *ctx, yaml_node_t *v, uint32_t *out)
{
	long long n;

	if (cfg_get_int(ctx, v, -2147483648LL, 2147483647, &n))
		return -EINVAL;
	if (n < 0) {
		cfg_error(ctx, v, "must not be negative");
		return -EINVAL;
	}
	if (n)
		*out = (uint32_t)n;
	return 0;
}

static int tcp_max_conn(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return pool_limit(ctx, v, &((POOL *)o)->max_connections);
}

static int tcp_connect_timeout(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_duration(ctx, v, &((POOL *)o)->connect_timeout_ms);
}

static int tcp_idle(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_duration(ctx, v, &((POOL *)o)->tcp_idle_timeout_ms);
}

static int tcp_duration(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_duration(ctx, v, &((POOL *)o)->max_connection_duration_ms);
}

static const struct cfg_field tcp_pool_fields[] = {
    {"maxConnections", CFG_T_INT, tcp_max_conn, 0},
    {"connectTimeout", CFG_T_STR, tcp_connect_timeout, 0},
    {"tcpKeepalive", CFG_T_MAP, tcp_keepalive, 0},
    {"maxConnectionDuration", CFG_T_STR, tcp_duration, 0},
    {"idleTimeout", CFG_T_STR, tcp_idle, 0},
    {NULL, 0, NULL, 0},
};

static int http_pending(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return pool_limit(ctx, v, &((POOL *)o)->http1_max_pending_requests);
}

static int http_requests(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return pool_limit(ctx, v, &((POOL *)o)->http2_max_requests);
}

static int http_per_conn(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return pool_limit(ctx, v, &((POOL *)o)->max_requests_per_connection);
}

static int http_retries(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return pool_limit(ctx, v, &((POOL *)o)->max_retries);
}

static int http_streams(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return pool_limit(ctx, v, &((POOL *)o)->max_concurrent_streams);
}

static int http_idle(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_duration(ctx, v, &((POOL *)o)->http_idle_timeout_ms);
}

static int http_client_protocol(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_bool(ctx, v, &((POOL *)o)->use_client_protocol);
}

static int h2_upgrade(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const p[] = {"DEFAULT", "DO_NOT_UPGRADE", "UPGRADE", NULL};
	const char *s = (const char *)v->data.scalar.value;

	if (cfg_check_enum(ctx, v, p, NULL))
		return -EINVAL;
	((POOL *)o)->h2_upgrade_policy = !strcmp(s, "UPGRADE") ? CONFIG_H2_UPGRADE_UPGRADE
					 : !strcmp(s, "DO_NOT_UPGRADE")
					     ? CONFIG_H2_UPGRADE_DO_NOT_UPGRADE
					     : CONFIG_H2_UPGRADE_DEFAULT;
	return 0;
}

static const struct cfg_field h2_keepalive_fields[] = {
    {"interval", CFG_T_STR, dur, 0},
    {"timeout", CFG_T_STR, dur, 0},
    {NULL, 0, NULL, 0},
};

static int h2_keepalive(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, h2_keepalive_fields, o);
}

static const struct cfg_field http_pool_fields[] = {
    {"http1MaxPendingRequests", CFG_T_INT, http_pending, 0},
    {"http2MaxRequests", CFG_T_INT, http_requests, 0},
    {"maxRequestsPerConnection", CFG_T_INT, http_per_conn, 0},
    {"maxRetries", CFG_T_INT, http_retries, 0},
    {"idleTimeout", CFG_T_STR, http_idle, 0},
    {"h2UpgradePolicy", CFG_T_STR, h2_upgrade, 0},
    {"useClientProtocol", CFG_T_BOOL, http_client_protocol, 0},
    {"maxConcurrentStreams", CFG_T_INT, http_streams, 0},
    {"http2KeepAlive", CFG_T_MAP, h2_keepalive, 0},
    {NULL, 0, NULL, 0},
};

static int pool_tcp(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, tcp_pool_fields, &((TP *)o)->pool);
}

static int pool_http(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, http_pool_fields, &((TP *)o)->pool);
}

static const struct cfg_field pool_fields[] = {
    {"tcp", CFG_T_MAP, pool_tcp, 0},
    {"http", CFG_T_MAP, pool_http, 0},
    {NULL, 0, NULL, 0},
};

static int tp_pool(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	if (!v->data.mapping.pairs.top ||
	    v->data.mapping.pairs.top == v->data.mapping.pairs.start) {
		cfg_error(ctx, v, "connection pool settings must set at least tcp or http");
		return -EINVAL;
	}
	pool_defaults(&((TP *)o)->pool);
	((TP *)o)->pool.present = true;
	return cfg_walk_map(ctx, v, pool_fields, o);
}

/* ---- outlierDetection ---- */

#define OD struct config_outlier_detection

static int od_5xx(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return u32_into(ctx, v, &((OD *)o)->consecutive_5xx);
}

static int od_gateway(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return u32_into(ctx, v, &((OD *)o)->consecutive_gateway);
}

static int od_local(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return u32_into(ctx, v, &((OD *)o)->consecutive_local_origin);
}

static int od_split(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_bool(ctx, v, &((OD *)o)->split_local_origin);
}

static int od_interval(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_duration(ctx, v, &((OD *)o)->interval_ms);
}

static int od_base(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_duration(ctx, v, &((OD *)o)->base_ejection_ms);
}

/* 0 keeps Envoy's default of 10% (Istio only sets it when > 0). */
static int od_max_pct(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 0, 100, &n))
		return -EINVAL;
	if (n)
		((OD *)o)->max_ejection_percent = (uint32_t)n;
	return 0;
}

static int od_min_health(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 0, 100, &n))
		return -EINVAL;
	((OD *)o)->min_health_percent = (uint32_t)n;
	return 0;
}

static int od_codes(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	OD *od = o;
	size_t n = cfg_seq_len(v);
	int before = ctx->nerrors;

	if (n > 100) {
		cfg_error(ctx, v, "at most 100 status codes");
		return -EINVAL;
	}
	od->error_codes = calloc(n + 1, sizeof(*od->error_codes));
	if (!od->error_codes) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		long long c;
		size_t saved = cfg_path_push_index(ctx, i);

		if (cfg_get_int(ctx, cfg_seq_item(ctx, v, i), 100, 599, &c) == 0)
			od->error_codes[od->n_error_codes++] = (uint16_t)c;
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int od_deprecated(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 0, 2147483647, &n))
		return -EINVAL;
	cfg_diag(ctx, v, false,
		 "IST0002 deprecated: consecutiveErrors is ignored; use consecutive5xxErrors");
	return 0;
}

static const struct cfg_field od_fields[] = {
    {"consecutiveErrors", CFG_T_INT, od_deprecated, 0},
    {"splitExternalLocalOriginErrors", CFG_T_BOOL, od_split, 0},
    {"consecutiveLocalOriginFailures", CFG_T_INT, od_local, 0},
    {"consecutiveGatewayErrors", CFG_T_INT, od_gateway, 0},
    {"consecutive5xxErrors", CFG_T_INT, od_5xx, 0},
    {"interval", CFG_T_STR, od_interval, 0},
    {"baseEjectionTime", CFG_T_STR, od_base, 0},
    {"maxEjectionPercent", CFG_T_INT, od_max_pct, 0},
    {"minHealthPercent", CFG_T_INT, od_min_health, 0},
    {"outlierDetectionHttpErrorCodes", CFG_T_SEQ, od_codes, 0},
    {NULL, 0, NULL, 0},
};

static int tp_outlier(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	yaml_node_t *split = cfg_map_get(ctx, v, "splitExternalLocalOriginErrors");

	OD *od = &((TP *)o)->outlier;

	/* Envoy's defaults, which Istio keeps for what the block leaves out. */
	od->present = true;
	od->consecutive_5xx = 5;
	od->interval_ms = 10000;
	od->base_ejection_ms = 30000;
	od->max_ejection_percent = 10;
	if (cfg_walk_map(ctx, v, od_fields, od))
		return -EINVAL;
	if (cfg_map_get(ctx, v, "consecutiveLocalOriginFailures") &&
	    (!split || strcmp((const char *)split->data.scalar.value, "true"))) {
		cfg_error(ctx, v,
			  "consecutiveLocalOriginFailures requires "
			  "splitExternalLocalOriginErrors: true");
		return -EINVAL;
	}
	return 0;
}

/* ---- tls ---- */

#define TLS struct config_client_tls

static int tls_mode(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const modes[] = {"DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL", NULL};

	return cfg_check_enum(ctx, v, modes, &((TLS *)o)->mode);
}

#define TLS_STR(fn, field)                                                                         \
	static int fn(struct cfg_ctx *ctx, yaml_node_t *v, void *o)                                \
	{                                                                                          \
		return cfg_get_str(ctx, v, &((TLS *)o)->field);                                    \
	}
TLS_STR(tls_cert, client_certificate)
TLS_STR(tls_key, private_key)
TLS_STR(tls_ca, ca_certificates)
TLS_STR(tls_cred, credential_name)
TLS_STR(tls_sni, sni)

static int tls_sans(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_strings(ctx, v, CFG_S_NONEMPTY, &((TLS *)o)->subject_alt_names);
}

static int tls_skip(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_bool(ctx, v, &((TLS *)o)->insecure_skip_verify);
}

static const struct cfg_field tls_fields[] = {
    {"mode", CFG_T_STR, tls_mode, 0},
    {"clientCertificate", CFG_T_STR, tls_cert, 0},
    {"privateKey", CFG_T_STR, tls_key, 0},
    {"caCertificates", CFG_T_STR, tls_ca, 0},
    {"credentialName", CFG_T_STR, tls_cred, 0},
    {"subjectAltNames", CFG_T_SEQ, tls_sans, 0},
    {"sni", CFG_T_STR, tls_sni, 0},
    {"insecureSkipVerify", CFG_T_BOOL, tls_skip, 0},
    {"caCrl", CFG_T_STR, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int tp_tls(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	TLS *p = &((TP *)o)->tls;
	const char *mode;

	p->present = true;
	if (cfg_walk_map(ctx, v, tls_fields, p))
		return -EINVAL;
	mode = p->mode ? p->mode : "DISABLE";
	if (!strcmp(mode, "ISTIO_MUTUAL") &&
	    (cfg_map_get(ctx, v, "clientCertificate") || cfg_map_get(ctx, v, "privateKey") ||
	     cfg_map_get(ctx, v, "caCertificates") || cfg_map_get(ctx, v, "credentialName"))) {
		cfg_error(ctx, v,
			  "ISTIO_MUTUAL uses the mesh certificates: clientCertificate, "
			  "privateKey, caCertificates and credentialName must be empty");
		return -EINVAL;
	}
	if (!strcmp(mode, "MUTUAL") && !cfg_map_get(ctx, v, "credentialName") &&
	    (!cfg_map_get(ctx, v, "clientCertificate") || !cfg_map_get(ctx, v, "privateKey"))) {
		cfg_error(ctx, v,
			  "MUTUAL needs clientCertificate and privateKey (or credentialName)");
		return -EINVAL;
	}
	if ((!strcmp(mode, "SIMPLE") || !strcmp(mode, "MUTUAL")) &&
	    !cfg_map_get(ctx, v, "caCertificates") && !cfg_map_get(ctx, v, "credentialName"))
		cfg_diag(ctx, v, false,
			 "%s: TLS mode %s but no caCertificates are set to validate the server's "
			 "identity",
			 strstr(ctx->path, "portLevelSettings")
			     ? "IST0129 NoServerCertificateVerificationPortLevel"
			     : "IST0128 NoServerCertificateVerificationDestinationLevel",
			 mode);
	return 0;
}

static const struct cfg_field port_fields[] = {
    {"number", CFG_T_INT, NULL, 0},
    {NULL, 0, NULL, 0},
};

/* A portLevelSettings entry: the policy parts (first, so the part parsers apply) and the port. */
struct pls {
	TP tp;
	uint16_t port;
};

static int pls_port(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	yaml_node_t *n = cfg_map_get(ctx, v, "number");
	long long p;

	if (cfg_walk_map(ctx, v, port_fields, NULL))
		return -EINVAL;
	if (!n) {
		cfg_error(ctx, v, "portLevelSettings needs port.number");
		return -EINVAL;
	}
	if (cfg_get_int(ctx, n, 1, 65535, &p))
		return -EINVAL;
	((struct pls *)o)->port = (uint16_t)p;
	return 0;
}

static const struct cfg_field pls_fields[] = {
    {"port", CFG_T_MAP, pls_port, CFG_F_REQUIRED},
    {"loadBalancer", CFG_T_MAP, tp_lb, 0},
    {"connectionPool", CFG_T_MAP, tp_pool, 0},
    {"outlierDetection", CFG_T_MAP, tp_outlier, 0},
    {"tls", CFG_T_MAP, tp_tls, 0},
    {NULL, 0, NULL, 0},
};

static int tp_port_level(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	TP *tp = o;
	size_t n = cfg_seq_len(v);
	int before = ctx->nerrors;

	if (n > CFG_MAX_LIST) {
		cfg_error(ctx, v, "more than %d entries", CFG_MAX_LIST);
		return -EINVAL;
	}
	tp->port_level = calloc(n + 1, sizeof(*tp->port_level));
	if (!tp->port_level) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		size_t saved = cfg_path_push_index(ctx, i);
		struct pls tmp = {0};
		struct config_port_traffic_policy *pl = &tp->port_level[tp->n_port_level];

		/* Unset parts of a port's settings take the defaults, not the rule's values. */
		pool_defaults(&tmp.tp.pool);
		if (cfg_walk_map(ctx, item, pls_fields, &tmp) == 0 &&
		    item->data.mapping.pairs.top - item->data.mapping.pairs.start < 2)
			cfg_error(ctx, item,
				  "port level settings need at least one setting besides "
				  "the port");
		pl->port = tmp.port;
		for (size_t j = 0; j < tp->n_port_level && pl->port; j++)
			if (tp->port_level[j].port == pl->port)
				cfg_error(ctx, item, "duplicate port level settings for port %u",
					  pl->port);
		pl->lb = tmp.tp.lb;
		pl->pool = tmp.tp.pool;
		pl->outlier = tmp.tp.outlier;
		pl->tls = tmp.tp.tls;
		tp->n_port_level++;
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static const struct cfg_field tp_fields[] = {
    {"loadBalancer", CFG_T_MAP, tp_lb, 0},
    {"connectionPool", CFG_T_MAP, tp_pool, 0},
    {"outlierDetection", CFG_T_MAP, tp_outlier, 0},
    {"tls", CFG_T_MAP, tp_tls, 0},
    {"portLevelSettings", CFG_T_SEQ, tp_port_level, 0},
    {"tunnel", CFG_T_MAP, NULL, 0},
    {"proxyProtocol", CFG_T_MAP, NULL, 0},
    {"retryBudget", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int traffic_policy(struct cfg_ctx *ctx, yaml_node_t *v, TP *p)
{
	p->present = true;
	if (v->data.mapping.pairs.top == v->data.mapping.pairs.start) {
		cfg_error(ctx, v, "empty trafficPolicy: remove it or set a policy");
		return -EINVAL;
	}
	return cfg_walk_map(ctx, v, tp_fields, p);
}

/* ---- DestinationRule ---- */

#define DR struct config_destination_rule

static int dr_host(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	DR *dr = o;

	if (cfg_get_str(ctx, v, &dr->host))
		return -EINVAL;
	if (!cfg_wildcard_host_ok(dr->host, true)) {
		cfg_error(ctx, v, "\"%.64s\" is not a valid host (a name, optionally \"*.\" first)",
			  dr->host);
		return -EINVAL;
	}
	return 0;
}

static int dr_policy(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return traffic_policy(ctx, v, &((DR *)o)->policy);
}

static int subset_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_name(ctx, v, CFG_NAME_LABEL, &((struct config_subset *)o)->name);
}

static int subset_labels(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_labels(ctx, v, false, &((struct config_subset *)o)->labels);
}

static int subset_policy(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return traffic_policy(ctx, v, &((struct config_subset *)o)->policy);
}

static const struct cfg_field subset_fields[] = {
    {"name", CFG_T_STR, subset_name, CFG_F_REQUIRED},
    {"labels", CFG_T_MAP, subset_labels, 0},
    {"trafficPolicy", CFG_T_MAP, subset_policy, 0},
    {NULL, 0, NULL, 0},
};

static int dr_subsets(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	DR *dr = o;
	int before = ctx->nerrors;

	if (cfg_parse_seq(ctx, v, subset_fields, sizeof(*dr->subsets), (void **)&dr->subsets,
			  &dr->n_subsets, false, "subset"))
		return -EINVAL;
	for (size_t i = 0; i < dr->n_subsets; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		size_t saved = cfg_path_push_index(ctx, i);

		dr->subsets[i].line = (int)item->start_mark.line + 1;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(dr->subsets[i].name, dr->subsets[j].name))
				cfg_error(ctx, item, "duplicate subset names: \"%.64s\"",
					  dr->subsets[i].name);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int dr_export_to(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_export_to(ctx, v, &((DR *)o)->export_to);
}

static int dr_selector(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	DR *dr = o;

	dr->has_workload_selector = true;
	return cfg_get_workload_selector(ctx, v, &dr->workload_selector);
}

static const struct cfg_field dr_spec_fields[] = {
    {"host", CFG_T_STR, dr_host, CFG_F_REQUIRED},    {"trafficPolicy", CFG_T_MAP, dr_policy, 0},
    {"subsets", CFG_T_SEQ, dr_subsets, 0},	     {"exportTo", CFG_T_SEQ, dr_export_to, 0},
    {"workloadSelector", CFG_T_MAP, dr_selector, 0}, {NULL, 0, NULL, 0},
};

static int dr_spec(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, dr_spec_fields, ((struct cfg_obj *)obj)->obj);
}

const struct cfg_field cfg_dr_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED},
    {"spec", CFG_T_MAP, dr_spec, CFG_F_REQUIRED},
    {"status", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

int cfg_dr_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o)
{
	DR *dr = o->obj;
	yaml_node_t *spec = cfg_map_get(ctx, root, "spec");

	/* What no policy sets has Istio's defaults, so consumers read effective values. */
	if (!dr->policy.pool.present)
		pool_defaults(&dr->policy.pool);
	for (size_t i = 0; i < dr->n_subsets; i++)
		if (!dr->subsets[i].policy.pool.present)
			pool_defaults(&dr->subsets[i].policy.pool);
	if (dr->has_workload_selector &&
	    (dr->export_to.n > 1 ||
	     (dr->export_to.n == 1 && strcmp(dr->export_to.items[0], ".")))) {
		size_t saved = cfg_path_push(ctx, "spec.exportTo");

		cfg_error(ctx, cfg_map_get(ctx, spec, "exportTo"),
			  "a DestinationRule with workloadSelector can only be exported to \".\"");
		cfg_path_pop(ctx, saved);
		return -EINVAL;
	}
	return 0;
}
