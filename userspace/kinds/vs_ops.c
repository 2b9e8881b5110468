// SPDX-License-Identifier: Apache-2.0
/*
 * Header operations (VirtualService Headers; Gateway API HTTPHeaderFilter) and CorsPolicy, with
 * Istio's webhook rules (pkg/config/validation: header operation names, authority set only in
 * one place, CORS methods and header names, max age in whole seconds).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "decode/decode.h"

/* RFC 9110 token: what a header name may be. */
bool cfg_http_token_ok(const char *s)
{
	return *s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			       "!#$%&'*+-.^_`|~") == strlen(s);
}

static bool authority_name(const char *n)
{
	return !strcasecmp(n, ":authority") || !strcasecmp(n, "host");
}

/* CR, LF and NUL would split or end the header on the wire. */
static bool header_value_ok(const char *v)
{
	return !strpbrk(v, "\r\n");
}

/*
 * @authority_ok: request set/add, where Istio lets ":authority" / "host" rewrite the
 * authority; elsewhere pseudo-headers and "host" cannot be touched.
 */
static int check_name(struct cfg_ctx *ctx, yaml_node_t *k, const char *name, bool authority_ok)
{
	if (authority_ok && authority_name(name))
		return 0;
	if (!cfg_http_token_ok(name + (*name == ':'))) {
		cfg_error(ctx, k, "header name \"%.64s\" is not a valid header name", name);
		return -EINVAL;
	}
	if (*name == ':' || !strcasecmp(name, "host")) {
		cfg_error(ctx, k,
			  "invalid header \"%.64s\": header cannot have \":\" prefix or be "
			  "\"host\"",
			  name);
		return -EINVAL;
	}
	return 0;
}

static int values_map(struct cfg_ctx *ctx, yaml_node_t *v, struct config_labels *out,
		      bool authority_ok)
{
	int before = ctx->nerrors;

	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = cfg_node(ctx, p->key), *val = cfg_node(ctx, p->value);
		const char *name = (const char *)k->data.scalar.value;
		size_t saved = cfg_path_push(ctx, name);
		char *s = NULL;

		if (check_name(ctx, k, name, authority_ok) == 0 && cfg_get_str(ctx, val, &s) == 0) {
			if (!header_value_ok(s))
				cfg_error(ctx, val, "header value must not contain CR or LF");
			else if (config_labels_add(out, name, s))
				cfg_error(ctx, val, "out of memory");
		}
		free(s);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

struct ops_arg {
	struct config_header_ops *ops;
	bool request;
};

static int op_set(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ops_arg *a = o;

	return values_map(ctx, v, &a->ops->set, a->request);
}

static int op_add(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ops_arg *a = o;

	return values_map(ctx, v, &a->ops->add, a->request);
}

static int op_remove(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ops_arg *a = o;
	int before = ctx->nerrors;

	if (cfg_get_strings(ctx, v, CFG_S_NONEMPTY, &a->ops->remove))
		return -EINVAL;
	for (size_t i = 0; i < a->ops->remove.n; i++) {
		size_t saved = cfg_path_push_index(ctx, i);

		check_name(ctx, cfg_seq_item(ctx, v, i), a->ops->remove.items[i], false);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static const struct cfg_field ops_fields[] = {
    {"set", CFG_T_MAP, op_set, 0},
    {"add", CFG_T_MAP, op_add, 0},
    {"remove", CFG_T_SEQ, op_remove, 0},
    {NULL, 0, NULL, 0},
};

static int h_request(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ops_arg a = {&((struct config_headers *)o)->request, true};

	return cfg_walk_map(ctx, v, ops_fields, &a);
}

static int h_response(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct ops_arg a = {&((struct config_headers *)o)->response, false};

	return cfg_walk_map(ctx, v, ops_fields, &a);
}

static const struct cfg_field headers_fields[] = {
    {"request", CFG_T_MAP, h_request, 0},
    {"response", CFG_T_MAP, h_response, 0},
    {NULL, 0, NULL, 0},
};

int cfg_vs_headers(struct cfg_ctx *ctx, yaml_node_t *v, struct config_headers *out)
{
	int err = cfg_walk_map(ctx, v, headers_fields, out);
	int n = 0;

	/* Istio's validateAuthorityRewrite: the authority is set in one place only. */
	for (size_t i = 0; !err && i < out->request.set.n; i++)
		n += authority_name(out->request.set.items[i].key);
	for (size_t i = 0; !err && i < out->request.add.n; i++)
		n += authority_name(out->request.add.items[i].key);
	if (n > 1) {
		cfg_error(ctx, v, "authority header cannot be set multiple times");
		return -EINVAL;
	}
	return err;
}

/* ---- Gateway API HTTPHeaderFilter: set/add as [{name, value}], remove as [name] ---- */

struct gw_header {
	char *name, *value;
};

static int gwh_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct gw_header *h = o;

	if (cfg_get_str(ctx, v, &h->name))
		return -EINVAL;
	if (!cfg_http_token_ok(h->name) || strlen(h->name) > 256) {
		cfg_error(ctx, v, "\"%.64s\" is not a header name", h->name);
		return -EINVAL;
	}
	return 0;
}

static int gwh_value(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct gw_header *h = o;

	if (cfg_get_str(ctx, v, &h->value))
		return -EINVAL;
	if (!*h->value || strlen(h->value) > 4096 || !header_value_ok(h->value)) {
		cfg_error(ctx, v, "a header value is 1 to 4096 characters, without CR or LF");
		return -EINVAL;
	}
	return 0;
}

static const struct cfg_field gw_header_fields[] = {
    {"name", CFG_T_STR, gwh_name, CFG_F_REQUIRED},
    {"value", CFG_T_STR, gwh_value, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

/* listType=map keyed by name: names are unique, compared case-insensitively (HTTP). */
static int gw_header_list(struct cfg_ctx *ctx, yaml_node_t *v, struct config_labels *out)
{
	struct gw_header *arr = NULL;
	size_t n = 0;
	int before = ctx->nerrors;

	if (cfg_seq_len(v) > 16) {
		cfg_error(ctx, v, "at most 16 headers");
		return -EINVAL;
	}
	cfg_parse_seq(ctx, v, gw_header_fields, sizeof(*arr), (void **)&arr, &n, false, "header");
	for (size_t i = 0; ctx->nerrors == before && i < n; i++) {
		for (size_t j = 0; j < i; j++)
			if (!strcasecmp(arr[i].name, arr[j].name))
				cfg_error(ctx, cfg_seq_item(ctx, v, i),
					  "duplicate header \"%.64s\"", arr[i].name);
		if (ctx->nerrors == before && config_labels_add(out, arr[i].name, arr[i].value))
			cfg_error(ctx, v, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		free(arr[i].name);
		free(arr[i].value);
	}
	free(arr);
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int gwf_set(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return gw_header_list(ctx, v, &((struct config_header_ops *)o)->set);
}

static int gwf_add(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return gw_header_list(ctx, v, &((struct config_header_ops *)o)->add);
}

static int gwf_remove(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct config_strings *r = &((struct config_header_ops *)o)->remove;
	int before = ctx->nerrors;

	if (cfg_seq_len(v) > 16) {
		cfg_error(ctx, v, "at most 16 headers");
		return -EINVAL;
	}
	if (cfg_get_strings(ctx, v, CFG_S_NONEMPTY, r))
		return -EINVAL;
	for (size_t i = 0; i < r->n; i++) {
		if (!cfg_http_token_ok(r->items[i]))
			cfg_error(ctx, cfg_seq_item(ctx, v, i), "\"%.64s\" is not a header name",
				  r->items[i]);
		for (size_t j = 0; j < i; j++)
			if (!strcasecmp(r->items[i], r->items[j]))
				cfg_error(ctx, cfg_seq_item(ctx, v, i),
					  "duplicate header \"%.64s\"", r->items[i]);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static const struct cfg_field gw_filter_fields[] = {
    {"set", CFG_T_SEQ, gwf_set, 0},
    {"add", CFG_T_SEQ, gwf_add, 0},
    {"remove", CFG_T_SEQ, gwf_remove, 0},
    {NULL, 0, NULL, 0},
};

int cfg_gw_header_filter(struct cfg_ctx *ctx, yaml_node_t *v, struct config_header_ops *out)
{
	return cfg_walk_map(ctx, v, gw_filter_fields, out);
}

/* ---- CorsPolicy ---- */

static int cors_origins(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct config_cors *c = o;
	size_t n = cfg_seq_len(v);
	int before = ctx->nerrors;

	if (n > CFG_MAX_LIST) {
		cfg_error(ctx, v, "more than %d entries", CFG_MAX_LIST);
		return -EINVAL;
	}
	struct config_string_match *arr =
	    realloc(c->allow_origins, (c->n_allow_origins + n + 1) * sizeof(*arr));

	if (!arr) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	c->allow_origins = arr;
	memset(arr + c->n_allow_origins, 0, (n + 1) * sizeof(*arr));
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		struct config_string_match *m = &c->allow_origins[c->n_allow_origins];
		size_t saved = cfg_path_push_index(ctx, i);

		if (cfg_is_null(item) || item->type != YAML_MAPPING_NODE)
			cfg_error(ctx, item,
				  "an origin is a string match (exact, prefix or regex)");
		else if (cfg_vs_string_match(ctx, item, m, false) == 0) {
			c->n_allow_origins++;
			if (m->type == CONFIG_MATCH_NONE || !*m->value)
				cfg_error(ctx, item,
					  "'' is not a valid match type for CORS allow "
					  "origins");
		}
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

/* Deprecated allowOrigin: exact origins, kept after allowOrigins. */
static int cors_origin_old(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct config_cors *c = o;
	struct config_strings tmp = {0};
	struct config_string_match *arr;
	int err = cfg_get_strings(ctx, v, CFG_S_NONEMPTY, &tmp);

	cfg_diag(ctx, v, false, "IST0002 deprecated: allowOrigin; use allowOrigins");
	arr =
	    err ? NULL : realloc(c->allow_origins, (c->n_allow_origins + tmp.n + 1) * sizeof(*arr));
	if (!err && !arr)
		err = -ENOMEM;
	for (size_t i = 0; !err && i < tmp.n; i++) {
		arr[c->n_allow_origins].type = CONFIG_MATCH_EXACT;
		arr[c->n_allow_origins++].value = tmp.items[i];
		tmp.items[i] = NULL;
	}
	if (arr)
		c->allow_origins = arr;
	config_strings_free(&tmp);
	return err;
}

static int cors_methods(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const ok[] = {"GET",	    "HEAD",    "POST",	"PUT",	 "DELETE",
					 "CONNECT", "OPTIONS", "TRACE", "PATCH", NULL};
	struct config_strings *m = &((struct config_cors *)o)->allow_methods;
	int before = ctx->nerrors;

	if (cfg_get_strings(ctx, v, CFG_S_NONEMPTY, m))
		return -EINVAL;
	for (size_t i = 0; i < m->n; i++) {
		bool known = false;

		for (const char *const *k = ok; *k; k++)
			known |= !strcmp(*k, m->items[i]);
		if (!known)
			cfg_error(ctx, cfg_seq_item(ctx, v, i),
				  "\"%.32s\" is not a supported HTTP "
				  "method",
				  m->items[i]);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int cors_header_names(struct cfg_ctx *ctx, yaml_node_t *v, struct config_strings *out)
{
	int before = ctx->nerrors;

	if (cfg_get_strings(ctx, v, CFG_S_NONEMPTY, out))
		return -EINVAL;
	for (size_t i = 0; i < out->n; i++)
		if (strcmp(out->items[i], "*") && !cfg_http_token_ok(out->items[i]))
			cfg_error(ctx, cfg_seq_item(ctx, v, i),
				  "\"%.64s\" is not a valid header "
				  "name",
				  out->items[i]);
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int cors_allow_headers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cors_header_names(ctx, v, &((struct config_cors *)o)->allow_headers);
}

static int cors_expose_headers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cors_header_names(ctx, v, &((struct config_cors *)o)->expose_headers);
}

static int cors_max_age(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct config_cors *c = o;

	if (cfg_get_duration(ctx, v, &c->max_age_ms))
		return -EINVAL;
	if (c->max_age_ms % 1000) {
		cfg_error(ctx, v, "max_age duration is accurate only to seconds precision");
		return -EINVAL;
	}
	return 0;
}

static int cors_credentials(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	bool b;

	if (cfg_get_bool(ctx, v, &b))
		return -EINVAL;
	((struct config_cors *)o)->allow_credentials = b;
	return 0;
}

static int cors_preflight(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const p[] = {"UNSPECIFIED", "FORWARD", "IGNORE", NULL};
	char *s = NULL;
	int err = cfg_check_enum(ctx, v, p, &s);

	if (!err)
		((struct config_cors *)o)->unmatched_preflights =
		    !strcmp(s, "FORWARD")  ? CONFIG_CORS_PREFLIGHT_FORWARD
		    : !strcmp(s, "IGNORE") ? CONFIG_CORS_PREFLIGHT_IGNORE
					   : CONFIG_CORS_PREFLIGHT_UNSPECIFIED;
	free(s);
	return err;
}

static const struct cfg_field cors_fields[] = {
    {"allowOrigins", CFG_T_SEQ, cors_origins, 0},
    {"allowOrigin", CFG_T_SEQ, cors_origin_old, 0},
    {"allowMethods", CFG_T_SEQ, cors_methods, 0},
    {"allowHeaders", CFG_T_SEQ, cors_allow_headers, 0},
    {"exposeHeaders", CFG_T_SEQ, cors_expose_headers, 0},
    {"maxAge", CFG_T_STR, cors_max_age, 0},
    {"allowCredentials", CFG_T_BOOL, cors_credentials, 0},
    {"unmatchedPreflights", CFG_T_STR, cors_preflight, 0},
    {NULL, 0, NULL, 0},
};

int cfg_vs_cors(struct cfg_ctx *ctx, yaml_node_t *v, struct config_cors *out)
{
	out->present = true;
	out->allow_credentials = -1;
	return cfg_walk_map(ctx, v, cors_fields, out);
}

void config_header_ops_free(struct config_header_ops *h)
{
	config_labels_free(&h->set);
	config_labels_free(&h->add);
	config_strings_free(&h->remove);
}

void config_headers_free(struct config_headers *h)
{
	config_header_ops_free(&h->request);
	config_header_ops_free(&h->response);
}
