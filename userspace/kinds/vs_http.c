// SPDX-License-Identifier: Apache-2.0
/*
 * A VirtualService http[] rule: exactly one action (route, redirect, directResponse, delegate)
 * plus timeout, retries, fault, rewrite, mirror(s), CORS and header operations, with the
 * webhook's cross-field rules (API_SEMANTICS.md §1.3, §1.5).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tls/crypto.h"
#include "ambit/re2.h"
#include "decode/decode.h"
#include "lib/grpc_status.h"
#include "lib/retry_on.h"

#define RT struct config_vs_route

static int r_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((RT *)o)->name);
}

/* ---- redirect, directResponse, delegate, rewrite ---- */

#define RDR struct config_http_redirect

static int redirect_code(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 0, 4294967295LL, &n))
		return -EINVAL;
	if (n && (n < 300 || n > 399)) {
		cfg_error(ctx, v, "%lld is not a valid redirect code, must be 3xx", n);
		return -EINVAL;
	}
	((RDR *)o)->code = n ? (int)n : 301;
	return 0;
}

static int redirect_port(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 1, 65535, &n))
		return -EINVAL;
	((RDR *)o)->port = (uint16_t)n;
	return 0;
}

static int derive_port(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const p[] = {"FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT", NULL};
	int err = cfg_check_enum(ctx, v, p, NULL);

	if (!err)
		((RDR *)o)->derive_port =
		    strcmp((const char *)v->data.scalar.value, "FROM_REQUEST_PORT")
			? CONFIG_DERIVE_PORT_PROTOCOL_DEFAULT
			: CONFIG_DERIVE_PORT_REQUEST;
	return err;
}

static int redirect_uri(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((RDR *)o)->uri);
}

static int redirect_prefix(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((RDR *)o)->prefix_rewrite);
}

static int redirect_authority(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((RDR *)o)->authority);
}

static int redirect_scheme(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RDR *r = o;

	if (cfg_get_str(ctx, v, &r->scheme))
		return -EINVAL;
	if (*r->scheme && strcmp(r->scheme, "http") && strcmp(r->scheme, "https")) {
		cfg_error(ctx, v, "invalid redirect scheme, must be \"http\" or \"https\"");
		return -EINVAL;
	}
	return 0;
}

static const struct cfg_field redirect_fields[] = {
    {"uri", CFG_T_STR, redirect_uri, 0},
    {"prefixRewrite", CFG_T_STR, redirect_prefix, 0},
    {"authority", CFG_T_STR, redirect_authority, 0},
    {"port", CFG_T_INT, redirect_port, 0},
    {"derivePort", CFG_T_STR, derive_port, 0},
    {"scheme", CFG_T_STR, redirect_scheme, 0},
    {"redirectCode", CFG_T_INT, redirect_code, 0},
    {NULL, 0, NULL, 0},
};

static bool nonempty(const char *s)
{
	return s && *s;
}

static int r_redirect(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RDR *rd = &((RT *)o)->redirect;

	((RT *)o)->has_redirect = true;
	rd->code = 301;
	if (cfg_walk_map(ctx, v, redirect_fields, rd))
		return -EINVAL;
	if (cfg_map_get(ctx, v, "port") && cfg_map_get(ctx, v, "derivePort")) {
		cfg_error(ctx, v, "only one of port or derivePort can be set");
		return -EINVAL;
	}
	if (nonempty(rd->uri) && nonempty(rd->prefix_rewrite)) {
		cfg_error(ctx, v, "redirect may only specify one of uri or prefixRewrite");
		return -EINVAL;
	}
	if (!nonempty(rd->uri) && !nonempty(rd->prefix_rewrite) && !nonempty(rd->authority) &&
	    !rd->port && !rd->derive_port && !nonempty(rd->scheme)) {
		cfg_error(ctx, v, "redirect must specify URI, authority, scheme, or port");
		return -EINVAL;
	}
	return 0;
}

static int body_string(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RT *r = o;

	if (cfg_get_str(ctx, v, &r->direct_response_body))
		return -EINVAL;
	r->direct_response_body_len = strlen(r->direct_response_body);
	return 0;
}

/* protobuf bytes travel as base64 in YAML/JSON. */
static int body_bytes(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RT *r = o;
	char *b64;
	int n;

	if (cfg_get_str(ctx, v, &b64))
		return -EINVAL;
	n = crypto_base64_decode(b64, &r->direct_response_body);
	free(b64);
	if (n < 0) {
		cfg_error(ctx, v, "bytes is not valid base64");
		return -EINVAL;
	}
	r->direct_response_body_len = (size_t)n;
	return 0;
}

static const struct cfg_field body_fields[] = {
    {"string", CFG_T_STR, body_string, 0},
    {"bytes", CFG_T_STR, body_bytes, 0},
    {NULL, 0, NULL, 0},
};

static int dr_body(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RT *r = o;

	if (cfg_map_get(ctx, v, "string") && cfg_map_get(ctx, v, "bytes")) {
		cfg_error(ctx, v, "only one of string or bytes can be set");
		return -EINVAL;
	}
	if (cfg_walk_map(ctx, v, body_fields, o))
		return -EINVAL;
	if (r->direct_response_body_len > 1024 * 1024) {
		cfg_error(ctx, v,
			  "large direct_responses may impact control plane performance, "
			  "must be less than 1MB");
		return -EINVAL;
	}
	if (r->direct_response_body_len > 100 * 1024)
		cfg_diag(ctx, v, false,
			 "large direct_responses may impact control plane performance");
	return 0;
}

static int dr_status(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 200, 599, &n))
		return -EINVAL;
	((RT *)o)->direct_response_status = (int)n;
	return 0;
}

static const struct cfg_field direct_fields[] = {
    {"status", CFG_T_INT, dr_status, CFG_F_REQUIRED},
    {"body", CFG_T_MAP, dr_body, 0},
    {NULL, 0, NULL, 0},
};

static int r_direct(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	((RT *)o)->has_direct_response = true;
	return cfg_walk_map(ctx, v, direct_fields, o);
}

static int dg_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_name(ctx, v, CFG_NAME_SUBDOMAIN, &((RT *)o)->delegate_name);
}

static int dg_namespace(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_name(ctx, v, CFG_NAME_LABEL, &((RT *)o)->delegate_namespace);
}

static const struct cfg_field delegate_fields[] = {
    {"name", CFG_T_STR, dg_name, CFG_F_REQUIRED},
    {"namespace", CFG_T_STR, dg_namespace, 0},
    {NULL, 0, NULL, 0},
};

static int r_delegate(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	((RT *)o)->has_delegate = true;
	return cfg_walk_map(ctx, v, delegate_fields, o);
}

static int rw_uri(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((RT *)o)->rewrite_uri);
}

static int rw_authority(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((RT *)o)->rewrite_authority);
}

static int rr_match(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((RT *)o)->rewrite_regex);
}

static int rr_rewrite(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((RT *)o)->rewrite_regex_sub);
}

static const struct cfg_field regex_rewrite_fields[] = {
    {"match", CFG_T_STR, rr_match, 0},
    {"rewrite", CFG_T_STR, rr_rewrite, 0},
    {NULL, 0, NULL, 0},
};

static int rw_regex(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RT *r = o;
	struct re2 *re;
	char why[160];

	if (cfg_walk_map(ctx, v, regex_rewrite_fields, o))
		return -EINVAL;
	if (!nonempty(r->rewrite_regex) || !nonempty(r->rewrite_regex_sub)) {
		cfg_error(ctx, v,
			  "UriRegexRewrite requires both Rewrite and Match fields to be "
			  "specified");
		return -EINVAL;
	}
	if (cfg_check_regex(ctx, cfg_map_get(ctx, v, "match"), r->rewrite_regex))
		return -EINVAL;
	re = re2_compile(r->rewrite_regex, RE2_SEARCH, why, sizeof(why));
	if (!re || re2_check_rewrite(re, r->rewrite_regex_sub, why, sizeof(why))) {
		cfg_error(ctx, cfg_map_get(ctx, v, "rewrite"), "%s", re ? why : "out of memory");
		re2_free(re);
		return -EINVAL;
	}
	re2_free(re);
	return 0;
}

static const struct cfg_field rewrite_fields[] = {
    {"uri", CFG_T_STR, rw_uri, 0},
    {"authority", CFG_T_STR, rw_authority, 0},
    {"uriRegexRewrite", CFG_T_MAP, rw_regex, 0},
    {NULL, 0, NULL, 0},
};

static int r_rewrite(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	if (cfg_walk_map(ctx, v, rewrite_fields, o))
		return -EINVAL;
	if (cfg_map_get(ctx, v, "uri") && cfg_map_get(ctx, v, "uriRegexRewrite")) {
		cfg_error(ctx, v, "only one of uri or uriRegexRewrite can be set");
		return -EINVAL;
	}
	if (!nonempty(((RT *)o)->rewrite_uri) && !nonempty(((RT *)o)->rewrite_authority) &&
	    !cfg_map_get(ctx, v, "uriRegexRewrite")) {
		cfg_error(ctx, v,
			  "rewrite must specify at least one of uri, uriRegexRewrite, or "
			  "authority");
		return -EINVAL;
	}
	return 0;
}

/* ---- timeout, retries ---- */

static int r_timeout(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_duration(ctx, v, &((RT *)o)->timeout_ms);
}

static int retry_attempts(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, -2147483648LL, 2147483647, &n))
		return -EINVAL;
	if (n < 0) {
		cfg_error(ctx, v, "attempts cannot be negative");
		return -EINVAL;
	}
	((RT *)o)->retry_attempts = (int)n;
	return 0;
}

static int retry_per_try(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_duration(ctx, v, &((RT *)o)->retry_per_try_timeout_ms);
}

/* Envoy's retry_on conditions (HTTP and gRPC) and bare HTTP status codes, as Istio accepts. */
static bool retry_token_ok(const char *t)
{
	size_t n = strlen(t);

	for (const char *const *p = retry_on_names; *p; p++)
		if (!strcmp(t, *p))
			return true;
	return n == 3 && strspn(t, "0123456789") == 3 && t[0] >= '1' && t[0] <= '5';
}

static int retry_on(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RT *r = o;
	char *copy, *save = NULL;
	int err = 0;

	if (cfg_get_str(ctx, v, &r->retry_on))
		return -EINVAL;
	copy = strdup(r->retry_on);
	if (!copy) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		t += strspn(t, " ");
		t[strcspn(t, " ")] = '\0';
		if (!retry_token_ok(t)) {
			cfg_error(ctx, v, "unknown retryOn condition \"%.64s\"", t);
			err = -EINVAL;
		}
	}
	free(copy);
	return err;
}

/* HTTPRetry.backoff is a google.protobuf.Duration: the base interval of Envoy's backoff. */
static int retry_backoff(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_duration(ctx, v, &((RT *)o)->retry_backoff_ms);
}

static int retry_remote(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	bool b;

	if (cfg_get_bool(ctx, v, &b))
		return -EINVAL;
	((RT *)o)->retry_remote_localities = b;
	return 0;
}

static int retry_previous(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	bool b;

	if (cfg_get_bool(ctx, v, &b))
		return -EINVAL;
	((RT *)o)->retry_ignore_previous_hosts = b;
	return 0;
}

static const struct cfg_field retries_fields[] = {
    {"attempts", CFG_T_INT, retry_attempts, 0},
    {"perTryTimeout", CFG_T_STR, retry_per_try, 0},
    {"retryOn", CFG_T_STR, retry_on, 0},
    {"retryRemoteLocalities", CFG_T_BOOL, retry_remote, 0},
    {"retryIgnorePreviousHosts", CFG_T_BOOL, retry_previous, 0},
    {"backoff", CFG_T_STR, retry_backoff, 0},
    {NULL, 0, NULL, 0},
};

static int r_retries(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RT *r = o;

	r->has_retries = true;
	if (cfg_walk_map(ctx, v, retries_fields, o))
		return -EINVAL;
	if (cfg_map_get(ctx, v, "attempts") && !r->retry_attempts &&
	    (cfg_map_get(ctx, v, "perTryTimeout") || cfg_map_get(ctx, v, "retryOn") ||
	     cfg_map_get(ctx, v, "retryRemoteLocalities"))) {
		cfg_error(ctx, v,
			  "attempts is 0 (retries disabled) but other retry fields are set");
		return -EINVAL;
	}
	return 0;
}

/* ---- fault ---- */

#define FAULT struct config_http_fault

static int delay_fixed(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_duration(ctx, v, &((FAULT *)o)->delay_ms);
}

static int delay_percentage(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_percent(ctx, v, &((FAULT *)o)->delay_percent);
}

static int delay_percent(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 0, 100, &n))
		return -EINVAL;
	cfg_diag(ctx, v, false, "IST0002 deprecated: percent; use percentage.value");
	((FAULT *)o)->delay_percent = (double)n;
	return 0;
}

static int delay_exponential(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	cfg_error(ctx, v, "exponentialDelay is not supported");
	return -EINVAL;
}

static const struct cfg_field delay_fields[] = {
    {"fixedDelay", CFG_T_STR, delay_fixed, 0},
    {"exponentialDelay", CFG_T_ANY, delay_exponential, 0},
    {"percentage", CFG_T_MAP, delay_percentage, 0},
    {"percent", CFG_T_INT, delay_percent, 0},
    {NULL, 0, NULL, 0},
};

static int f_delay(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	FAULT *f = o;

	/* Istio translates an absent percentage from the deprecated percent: 0 by default. */
	f->has_delay = true;
	f->delay_percent = 0;
	if (cfg_walk_map(ctx, v, delay_fields, o))
		return -EINVAL;
	if (!cfg_map_get(ctx, v, "fixedDelay")) {
		cfg_error(ctx, v, "delay needs fixedDelay");
		return -EINVAL;
	}
	return 0;
}

static int abort_http(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 200, 599, &n))
		return -EINVAL;
	((FAULT *)o)->abort_status = (int)n;
	return 0;
}

static int abort_grpc(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_check_enum(ctx, v, grpc_status_names, &((FAULT *)o)->abort_grpc_status);
}

static int abort_h2(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	cfg_error(ctx, v, "http2Error is not supported");
	return -EINVAL;
}

static int abort_percentage(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_percent(ctx, v, &((FAULT *)o)->abort_percent);
}

/* No `percent` here: the API reserves it, so it is an unknown field. */
static const struct cfg_field abort_fields[] = {
    {"httpStatus", CFG_T_INT, abort_http, 0},
    {"grpcStatus", CFG_T_STR, abort_grpc, 0},
    {"http2Error", CFG_T_ANY, abort_h2, 0},
    {"percentage", CFG_T_MAP, abort_percentage, 0},
    {NULL, 0, NULL, 0},
};

static int f_abort(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	FAULT *f = o;
	int kinds;

	/* An absent percentage leaves Envoy's FractionalPercent at 0: nothing aborted. */
	f->has_abort = true;
	f->abort_percent = 0;
	if (cfg_walk_map(ctx, v, abort_fields, o))
		return -EINVAL;
	kinds = (cfg_map_get(ctx, v, "httpStatus") != NULL) +
		(cfg_map_get(ctx, v, "grpcStatus") != NULL);
	if (kinds != 1) {
		cfg_error(ctx, v, "abort needs exactly one of httpStatus or grpcStatus");
		return -EINVAL;
	}
	return 0;
}

static const struct cfg_field fault_fields[] = {
    {"delay", CFG_T_MAP, f_delay, 0},
    {"abort", CFG_T_MAP, f_abort, 0},
    {NULL, 0, NULL, 0},
};

static int r_fault(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RT *r = o;

	r->has_fault = true;
	if (cfg_walk_map(ctx, v, fault_fields, &r->fault))
		return -EINVAL;
	if (!r->fault.has_delay && !r->fault.has_abort) {
		cfg_error(ctx, v, "fault must have at least delay or abort");
		return -EINVAL;
	}
	return 0;
}

/* ---- mirror ---- */

static int r_mirror(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RT *r = o;

	r->has_mirror = true;
	return cfg_vs_destination(ctx, v, &r->mirror);
}

static int r_mirror_percentage(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_percent(ctx, v, &((RT *)o)->mirror_percent);
}

static int r_mirror_percent(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 0, 100, &n))
		return -EINVAL;
	cfg_diag(ctx, v, false, "IST0002 deprecated: mirrorPercent; use mirrorPercentage");
	((RT *)o)->mirror_percent = (double)n;
	return 0;
}

static int mp_destination(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_vs_destination(ctx, v, &((struct config_mirror *)o)->destination);
}

static int mp_percentage(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_percent(ctx, v, &((struct config_mirror *)o)->percent);
}

static const struct cfg_field mirror_policy_fields[] = {
    {"destination", CFG_T_MAP, mp_destination, CFG_F_REQUIRED},
    {"percentage", CFG_T_MAP, mp_percentage, 0},
    {NULL, 0, NULL, 0},
};

static int r_mirrors(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RT *r = o;
	size_t n = cfg_seq_len(v);
	int before = ctx->nerrors;

	if (n > CFG_MAX_LIST) {
		cfg_error(ctx, v, "more than %d entries", CFG_MAX_LIST);
		return -EINVAL;
	}
	r->mirrors = calloc(n + 1, sizeof(*r->mirrors));
	if (!r->mirrors) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct config_mirror *m = &r->mirrors[r->n_mirrors++];
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		size_t saved = cfg_path_push_index(ctx, i);

		m->percent = 100; /* HTTPMirrorPolicy.percentage absent: every request */
		if (cfg_is_null(item))
			cfg_error(ctx, item, "mirror cannot be null");
		else
			cfg_walk_map(ctx, item, mirror_policy_fields, m);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

/* ---- CORS, headers ---- */

static int r_cors(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_vs_cors(ctx, v, &((RT *)o)->cors);
}

static int r_headers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_vs_headers(ctx, v, &((RT *)o)->headers);
}

static const struct cfg_field http_route_fields[] = {
    {"name", CFG_T_STR, r_name, 0},
    {"match", CFG_T_SEQ, cfg_vs_http_match, 0},
    {"route", CFG_T_SEQ, cfg_vs_route_dests, 0},
    {"redirect", CFG_T_MAP, r_redirect, 0},
    {"directResponse", CFG_T_MAP, r_direct, 0},
    {"delegate", CFG_T_MAP, r_delegate, 0},
    {"rewrite", CFG_T_MAP, r_rewrite, 0},
    {"timeout", CFG_T_STR, r_timeout, 0},
    {"retries", CFG_T_MAP, r_retries, 0},
    {"fault", CFG_T_MAP, r_fault, 0},
    {"mirror", CFG_T_MAP, r_mirror, 0},
    {"mirrors", CFG_T_SEQ, r_mirrors, 0},
    {"mirrorPercentage", CFG_T_MAP, r_mirror_percentage, 0},
    {"mirrorPercent", CFG_T_INT, r_mirror_percent, 0},
    {"corsPolicy", CFG_T_MAP, r_cors, 0},
    {"headers", CFG_T_MAP, r_headers, 0},
    {NULL, 0, NULL, 0},
};

int cfg_vs_http_route(struct cfg_ctx *ctx, yaml_node_t *v, RT *r)
{
	int before = ctx->nerrors, actions;

	if (cfg_walk_map(ctx, v, http_route_fields, r))
		return -EINVAL;
	actions = (r->n_route > 0) + r->has_redirect + r->has_direct_response + r->has_delegate;
	if (actions != 1)
		cfg_error(ctx, v,
			  "an http route needs exactly one of route, redirect, "
			  "directResponse or delegate (got %d)",
			  actions);
	if ((r->has_redirect || r->has_direct_response) &&
	    (cfg_map_get(ctx, v, "fault") || cfg_map_get(ctx, v, "rewrite")))
		cfg_error(ctx, v,
			  "fault and rewrite cannot be used with redirect or directResponse");
	if (r->has_redirect && r->has_direct_response)
		cfg_error(ctx, v, "redirect and directResponse cannot both be set");
	if (cfg_map_get(ctx, v, "mirror") && cfg_map_get(ctx, v, "mirrors"))
		cfg_error(ctx, v, "mirror and mirrors cannot both be set");
	if (cfg_map_get(ctx, v, "mirrorPercentage") && cfg_map_get(ctx, v, "mirrorPercent"))
		cfg_error(ctx, v, "mirrorPercentage and mirrorPercent cannot both be set");
	if (nonempty(r->redirect.prefix_rewrite))
		for (size_t i = 0; i < r->n_match; i++)
			if (r->match[i].uri.type != CONFIG_MATCH_NONE &&
			    r->match[i].uri.type != CONFIG_MATCH_PREFIX) {
				cfg_error(ctx, v,
					  "redirect prefixRewrite requires all URI matches to "
					  "use prefix match type");
				break;
			}
	/* Istio's validateAuthorityRewrite: rewrite.authority or a header op, not both. */
	if (nonempty(r->rewrite_authority))
		for (size_t i = 0; i < r->headers.request.set.n + r->headers.request.add.n; i++) {
			const struct config_label *l =
			    i < r->headers.request.set.n
				? &r->headers.request.set.items[i]
				: &r->headers.request.add.items[i - r->headers.request.set.n];

			if (!strcasecmp(l->key, ":authority") || !strcasecmp(l->key, "host")) {
				cfg_error(ctx, v,
					  "authority header cannot be set multiple times: "
					  "have \"%.64s\", attempting to set \"%.64s\"",
					  r->rewrite_authority, l->value);
				break;
			}
		}
	return ctx->nerrors == before ? 0 : -EINVAL;
}
