// SPDX-License-Identifier: Apache-2.0
/* DestinationRule (networking.istio.io v1, v1beta1, v1alpha3; API_SEMANTICS.md §2). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_priv.h"

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

/* ---- loadBalancer ---- */

static int lb_simple(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const lbs[] = {"UNSPECIFIED", "LEAST_CONN",	  "RANDOM", "PASSTHROUGH",
					  "ROUND_ROBIN", "LEAST_REQUEST", NULL};

	return cfg_check_enum(ctx, v, lbs, &((TP *)o)->lb_simple);
}

static const struct cfg_field cookie_fields[] = {
    {"name", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"path", CFG_T_STR, NULL, 0},
    {"ttl", CFG_T_STR, NULL, 0},
    {"attributes", CFG_T_SEQ, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int ch_cookie(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, cookie_fields, o);
}

static int ring_size(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	return cfg_get_int(ctx, v, 0, 8388608, &n);
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
	return 0;
}

static const struct cfg_field maglev_fields[] = {
    {"tableSize", CFG_T_INT, maglev_size, 0},
    {NULL, 0, NULL, 0},
};

static int ch_maglev(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, maglev_fields, o);
}

static const struct cfg_field consistent_hash_fields[] = {
    {"httpHeaderName", CFG_T_STR, NULL, 0},	  {"httpCookie", CFG_T_MAP, ch_cookie, 0},
    {"useSourceIp", CFG_T_BOOL, NULL, 0},	  {"httpQueryParameterName", CFG_T_STR, NULL, 0},
    {"ringHash", CFG_T_MAP, ch_ring, 0},	  {"maglev", CFG_T_MAP, ch_maglev, 0},
    {"minimumRingSize", CFG_T_INT, ring_size, 0}, {NULL, 0, NULL, 0},
};

static int lb_consistent_hash(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const keys[] = {"httpHeaderName", "httpCookie", "useSourceIp",
					   "httpQueryParameterName", NULL};
	int nkeys = 0;

	if (cfg_walk_map(ctx, v, consistent_hash_fields, o))
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
	((TP *)o)->lb_consistent_hash = true;
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

static const struct cfg_field lb_fields[] = {
    {"simple", CFG_T_STR, lb_simple, 0},       {"consistentHash", CFG_T_MAP, lb_consistent_hash, 0},
    {"localityLbSetting", CFG_T_MAP, NULL, 0}, {"warmupDurationSecs", CFG_T_STR, dur, 0},
    {"warmup", CFG_T_MAP, lb_warmup, 0},       {NULL, 0, NULL, 0},
};

static int tp_lb(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
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

static int tcp_max_conn(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return u32_into(ctx, v, &((TP *)o)->max_connections);
}

static int tcp_connect_timeout(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_duration(ctx, v, &((TP *)o)->connect_timeout_ms);
}

static const struct cfg_field tcp_pool_fields[] = {
    {"maxConnections", CFG_T_INT, tcp_max_conn, 0},
    {"connectTimeout", CFG_T_STR, tcp_connect_timeout, 0},
    {"tcpKeepalive", CFG_T_MAP, tcp_keepalive, 0},
    {"maxConnectionDuration", CFG_T_STR, dur, 0},
    {"idleTimeout", CFG_T_STR, dur, 0},
    {NULL, 0, NULL, 0},
};

static int http_pending(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return u32_into(ctx, v, &((TP *)o)->http1_max_pending);
}

static int http_requests(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return u32_into(ctx, v, &((TP *)o)->http2_max_requests);
}

static int http_per_conn(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return u32_into(ctx, v, &((TP *)o)->max_requests_per_connection);
}

static int h2_upgrade(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const p[] = {"DEFAULT", "DO_NOT_UPGRADE", "UPGRADE", NULL};

	return cfg_check_enum(ctx, v, p, NULL);
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
    {"maxRetries", CFG_T_INT, nonneg_int, 0},
    {"idleTimeout", CFG_T_STR, dur, 0},
    {"h2UpgradePolicy", CFG_T_STR, h2_upgrade, 0},
    {"useClientProtocol", CFG_T_BOOL, NULL, 0},
    {"maxConcurrentStreams", CFG_T_INT, nonneg_int, 0},
    {"http2KeepAlive", CFG_T_MAP, h2_keepalive, 0},
    {NULL, 0, NULL, 0},
};

static int pool_tcp(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, tcp_pool_fields, o);
}

static int pool_http(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, http_pool_fields, o);
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
	((TP *)o)->has_connection_pool = true;
	return cfg_walk_map(ctx, v, pool_fields, o);
}

/* ---- outlierDetection ---- */

static int od_5xx(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return u32_into(ctx, v, &((TP *)o)->consecutive_5xx);
}

static int od_interval(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_duration(ctx, v, &((TP *)o)->interval_ms);
}

static int od_base(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_duration(ctx, v, &((TP *)o)->base_ejection_ms);
}

static int od_max_pct(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 0, 100, &n))
		return -EINVAL;
	((TP *)o)->max_ejection_percent = (int)n;
	return 0;
}

static int od_min_health(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	return cfg_get_int(ctx, v, 0, 100, &n);
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
    {"splitExternalLocalOriginErrors", CFG_T_BOOL, NULL, 0},
    {"consecutiveLocalOriginFailures", CFG_T_INT, nonneg_int, 0},
    {"consecutiveGatewayErrors", CFG_T_INT, nonneg_int, 0},
    {"consecutive5xxErrors", CFG_T_INT, od_5xx, 0},
    {"interval", CFG_T_STR, od_interval, 0},
    {"baseEjectionTime", CFG_T_STR, od_base, 0},
    {"maxEjectionPercent", CFG_T_INT, od_max_pct, 0},
    {"minHealthPercent", CFG_T_INT, od_min_health, 0},
    {NULL, 0, NULL, 0},
};

static int tp_outlier(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	yaml_node_t *split = cfg_map_get(ctx, v, "splitExternalLocalOriginErrors");

	((TP *)o)->has_outlier_detection = true;
	if (cfg_walk_map(ctx, v, od_fields, o))
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

static int tls_mode(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const modes[] = {"DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL", NULL};

	return cfg_check_enum(ctx, v, modes, &((TP *)o)->tls_mode);
}

static const struct cfg_field tls_fields[] = {
    {"mode", CFG_T_STR, tls_mode, 0},
    {"clientCertificate", CFG_T_STR, NULL, 0},
    {"privateKey", CFG_T_STR, NULL, 0},
    {"caCertificates", CFG_T_STR, NULL, 0},
    {"credentialName", CFG_T_STR, NULL, 0},
    {"subjectAltNames", CFG_T_SEQ, NULL, 0},
    {"sni", CFG_T_STR, NULL, 0},
    {"insecureSkipVerify", CFG_T_BOOL, NULL, 0},
    {"caCrl", CFG_T_STR, NULL, 0},
    {NULL, 0, NULL, 0},
};

static int tp_tls(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	TP *p = o;
	const char *mode;

	if (cfg_walk_map(ctx, v, tls_fields, o))
		return -EINVAL;
	mode = p->tls_mode ? p->tls_mode : "DISABLE";
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
	return cfg_get_int(ctx, n, 1, 65535, &p);
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
	int before = ctx->nerrors;

	for (size_t i = 0; i < cfg_seq_len(v); i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		size_t saved = cfg_path_push_index(ctx, i);
		struct config_traffic_policy tmp = {0};

		/* The port's settings replace the whole policy for that port; not modelled yet. */
		if (cfg_walk_map(ctx, item, pls_fields, &tmp) == 0 &&
		    item->data.mapping.pairs.top - item->data.mapping.pairs.start < 2)
			cfg_error(ctx, item,
				  "port level settings need at least one setting besides "
				  "the port");
		config_traffic_policy_free(&tmp);
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
	p->max_ejection_percent = -1;
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

	if (!dr->policy.present)
		dr->policy.max_ejection_percent = -1;
	for (size_t i = 0; i < dr->n_subsets; i++)
		if (!dr->subsets[i].policy.present)
			dr->subsets[i].policy.max_ejection_percent = -1;
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
