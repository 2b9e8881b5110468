// SPDX-License-Identifier: Apache-2.0
/*
 * Gateway API backend references and route filters (HTTPRoute, GRPCRoute; API_SEMANTICS.md §7):
 * the CRDs' defaults (a Service of weight 1), the rule that a core Service reference needs a
 * port, and the filter union: its type names the one member it carries, a GRPCRoute takes only
 * header modifiers, mirrors and extension refs, and most types appear at most once per list.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "decode/decode.h"

#define FILTER struct config_gw_filter
#define BREF struct config_backend_ref

static bool grpc_of(struct cfg_ctx *ctx)
{
	return ctx->object && !strncmp(ctx->object, "GRPCRoute", 9);
}

static int ref_str(struct cfg_ctx *ctx, yaml_node_t *v, char **out, size_t max)
{
	if (cfg_get_str(ctx, v, out))
		return -EINVAL;
	if (!**out || strlen(*out) > max) {
		cfg_error(ctx, v, "must be 1 to %zu characters", max);
		return -EINVAL;
	}
	return 0;
}

static int br_group(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	BREF *b = o;

	free(b->group);
	b->group = NULL;
	if (cfg_get_str(ctx, v, &b->group))
		return -EINVAL;
	if (*b->group && !cfg_name_ok(b->group, CFG_NAME_SUBDOMAIN)) {
		cfg_error(ctx, v, "group \"%.64s\" is not a DNS subdomain (or empty)", b->group);
		return -EINVAL;
	}
	return 0;
}

static int br_kind(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	BREF *b = o;

	free(b->kind);
	b->kind = NULL;
	return ref_str(ctx, v, &b->kind, 63);
}

static int br_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return ref_str(ctx, v, &((BREF *)o)->name, 253);
}

static int br_namespace(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_name(ctx, v, CFG_NAME_LABEL, &((BREF *)o)->namespace);
}

static int br_port(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 1, 65535, &n))
		return -EINVAL;
	((BREF *)o)->port = (uint16_t)n;
	return 0;
}

static int br_weight(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 0, 1000000, &n))
		return -EINVAL;
	((BREF *)o)->weight = (int32_t)n;
	return 0;
}

static int br_filters(struct cfg_ctx *ctx, yaml_node_t *v, void *o);

static const struct cfg_field backend_object_fields[] = {
    {"group", CFG_T_STR, br_group, 0},
    {"kind", CFG_T_STR, br_kind, 0},
    {"name", CFG_T_STR, br_name, CFG_F_REQUIRED},
    {"namespace", CFG_T_STR, br_namespace, 0},
    {"port", CFG_T_INT, br_port, 0},
    {NULL, 0, NULL, 0},
};

static const struct cfg_field backend_ref_fields[] = {
    {"group", CFG_T_STR, br_group, 0},
    {"kind", CFG_T_STR, br_kind, 0},
    {"name", CFG_T_STR, br_name, CFG_F_REQUIRED},
    {"namespace", CFG_T_STR, br_namespace, 0},
    {"port", CFG_T_INT, br_port, 0},
    {"weight", CFG_T_INT, br_weight, 0},
    {"filters", CFG_T_SEQ, br_filters, 0},
    {NULL, 0, NULL, 0},
};

/* The CRD's defaults and CEL rule: a core Service reference needs a port. */
int cfg_gw_backend(struct cfg_ctx *ctx, yaml_node_t *v, BREF *b, bool with_weight)
{
	b->group = strdup("");
	b->kind = strdup("Service");
	b->weight = 1;
	if (!b->group || !b->kind) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	if (cfg_walk_map(ctx, v, with_weight ? backend_ref_fields : backend_object_fields, b))
		return -EINVAL;
	if (!*b->group && !strcmp(b->kind, "Service") && !b->port) {
		cfg_error(ctx, v, "Must have port for Service reference");
		return -EINVAL;
	}
	return 0;
}

/* ---- filters ---- */

static int f_req_headers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_gw_header_filter(ctx, v, &((FILTER *)o)->headers);
}

static int f_mirror_ref(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	FILTER *f = o;

	f->mirror = calloc(1, sizeof(*f->mirror));
	if (!f->mirror) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	return cfg_gw_backend(ctx, v, f->mirror, false);
}

static int f_mirror_percent(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 0, 100, &n))
		return -EINVAL;
	((FILTER *)o)->mirror_percent = (double)n;
	return 0;
}

struct fraction {
	long long num, den;
};

static int fr_num(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_int(ctx, v, 0, 2147483647, &((struct fraction *)o)->num);
}

static int fr_den(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_int(ctx, v, 1, 2147483647, &((struct fraction *)o)->den);
}

static const struct cfg_field fraction_fields[] = {
    {"numerator", CFG_T_INT, fr_num, CFG_F_REQUIRED},
    {"denominator", CFG_T_INT, fr_den, 0},
    {NULL, 0, NULL, 0},
};

static int f_mirror_fraction(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct fraction fr = {0, 100};

	if (cfg_walk_map(ctx, v, fraction_fields, &fr))
		return -EINVAL;
	if (fr.num > fr.den) {
		cfg_error(ctx, v, "numerator must be less than or equal to denominator");
		return -EINVAL;
	}
	((FILTER *)o)->mirror_percent = 100.0 * (double)fr.num / (double)fr.den;
	return 0;
}

static const struct cfg_field mirror_fields[] = {
    {"backendRef", CFG_T_MAP, f_mirror_ref, CFG_F_REQUIRED},
    {"percent", CFG_T_INT, f_mirror_percent, 0},
    {"fraction", CFG_T_MAP, f_mirror_fraction, 0},
    {NULL, 0, NULL, 0},
};

static int f_mirror(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	((FILTER *)o)->mirror_percent = 100;
	if (cfg_map_get(ctx, v, "percent") && cfg_map_get(ctx, v, "fraction")) {
		cfg_error(ctx, v,
			  "Only one of percent or fraction may be specified in "
			  "HTTPRequestMirrorFilter");
		return -EINVAL;
	}
	return cfg_walk_map(ctx, v, mirror_fields, o);
}

static int f_scheme(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const s[] = {"http", "https", NULL};

	return cfg_check_enum(ctx, v, s, &((FILTER *)o)->scheme);
}

static int f_hostname(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	FILTER *f = o;

	if (cfg_get_str(ctx, v, &f->hostname))
		return -EINVAL;
	if (!cfg_gw_hostname_ok(f->hostname, false)) {
		cfg_error(ctx, v, "\"%.64s\" is not a precise hostname", f->hostname);
		return -EINVAL;
	}
	return 0;
}

static int pm_type(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const t[] = {"ReplaceFullPath", "ReplacePrefixMatch", NULL};

	if (cfg_check_enum(ctx, v, t, NULL))
		return -EINVAL;
	((FILTER *)o)->path_mod = strcmp((const char *)v->data.scalar.value, "ReplaceFullPath")
				      ? CONFIG_GW_PATH_PREFIX
				      : CONFIG_GW_PATH_FULL;
	return 0;
}

static int pm_value(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	FILTER *f = o;

	if (cfg_get_str(ctx, v, &f->path))
		return -EINVAL;
	if (strlen(f->path) > 1024) {
		cfg_error(ctx, v, "at most 1024 characters");
		return -EINVAL;
	}
	return 0;
}

static const struct cfg_field path_mod_fields[] = {
    {"type", CFG_T_STR, pm_type, CFG_F_REQUIRED},
    {"replaceFullPath", CFG_T_STR, pm_value, 0},
    {"replacePrefixMatch", CFG_T_STR, pm_value, 0},
    {NULL, 0, NULL, 0},
};

static int f_path(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	FILTER *f = o;
	bool full = cfg_map_get(ctx, v, "replaceFullPath") != NULL;
	bool prefix = cfg_map_get(ctx, v, "replacePrefixMatch") != NULL;

	if (cfg_walk_map(ctx, v, path_mod_fields, o))
		return -EINVAL;
	if ((f->path_mod == CONFIG_GW_PATH_FULL) != full || full == prefix ||
	    (f->path_mod == CONFIG_GW_PATH_PREFIX) != prefix) {
		cfg_error(ctx, v,
			  "type ReplaceFullPath needs replaceFullPath, ReplacePrefixMatch "
			  "needs replacePrefixMatch, and only that one");
		return -EINVAL;
	}
	return 0;
}

static int f_port(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 1, 65535, &n))
		return -EINVAL;
	((FILTER *)o)->port = (uint16_t)n;
	return 0;
}

static int f_status(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 300, 399, &n))
		return -EINVAL;
	if (n != 301 && n != 302 && n != 303 && n != 307 && n != 308) {
		cfg_error(ctx, v, "statusCode must be one of 301, 302, 303, 307, 308");
		return -EINVAL;
	}
	((FILTER *)o)->status_code = (int)n;
	return 0;
}

static const struct cfg_field redirect_fields[] = {
    {"scheme", CFG_T_STR, f_scheme, 0},	    {"hostname", CFG_T_STR, f_hostname, 0},
    {"path", CFG_T_MAP, f_path, 0},	    {"port", CFG_T_INT, f_port, 0},
    {"statusCode", CFG_T_INT, f_status, 0}, {NULL, 0, NULL, 0},
};

static int f_redirect(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	((FILTER *)o)->status_code = 302;
	return cfg_walk_map(ctx, v, redirect_fields, o);
}

static const struct cfg_field rewrite_fields[] = {
    {"hostname", CFG_T_STR, f_hostname, 0},
    {"path", CFG_T_MAP, f_path, 0},
    {NULL, 0, NULL, 0},
};

static int f_rewrite(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, rewrite_fields, o);
}

static const struct cfg_field local_ref_fields[] = {
    {"group", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"name", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

static int f_extension(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_walk_map(ctx, v, local_ref_fields, NULL);
}

static const struct {
	const char *type, *member;
	enum config_gw_filter_type t;
	bool grpc; /* also a GRPCRoute filter */
} filter_types[] = {
    {"RequestHeaderModifier", "requestHeaderModifier", CONFIG_GW_FILTER_REQUEST_HEADER, true},
    {"ResponseHeaderModifier", "responseHeaderModifier", CONFIG_GW_FILTER_RESPONSE_HEADER, true},
    {"RequestMirror", "requestMirror", CONFIG_GW_FILTER_MIRROR, true},
    {"RequestRedirect", "requestRedirect", CONFIG_GW_FILTER_REDIRECT, false},
    {"URLRewrite", "urlRewrite", CONFIG_GW_FILTER_REWRITE, false},
    {"CORS", "cors", CONFIG_GW_FILTER_CORS, false},
    {"ExtensionRef", "extensionRef", CONFIG_GW_FILTER_EXTENSION_REF, true},
};

static const struct cfg_field filter_fields[] = {
    {"type", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"requestHeaderModifier", CFG_T_MAP, f_req_headers, 0},
    {"responseHeaderModifier", CFG_T_MAP, f_req_headers, 0},
    {"requestMirror", CFG_T_MAP, f_mirror, 0},
    {"requestRedirect", CFG_T_MAP, f_redirect, 0},
    {"urlRewrite", CFG_T_MAP, f_rewrite, 0},
    {"cors", CFG_T_MAP, NULL, 0},
    {"extensionRef", CFG_T_MAP, f_extension, 0},
    {NULL, 0, NULL, 0},
};

/* One filter: its type names exactly the one member it carries (the CRD's CEL pairs). */
static int filter(struct cfg_ctx *ctx, yaml_node_t *v, FILTER *f, bool grpc)
{
	yaml_node_t *t = cfg_map_get(ctx, v, "type");
	const char *type =
	    t && t->type == YAML_SCALAR_NODE ? (const char *)t->data.scalar.value : "";
	size_t k, n = sizeof(filter_types) / sizeof(filter_types[0]);

	for (k = 0; k < n; k++)
		if (!strcmp(type, filter_types[k].type) && (!grpc || filter_types[k].grpc))
			break;
	if (k == n) {
		cfg_error(ctx, t ? t : v, "\"%.32s\" is not a %s filter type", type,
			  grpc ? "GRPCRoute" : "HTTPRoute");
		return -EINVAL;
	}
	f->type = filter_types[k].t;
	for (size_t j = 0; j < n; j++) {
		bool has = cfg_map_get(ctx, v, filter_types[j].member) != NULL;

		if (has && j != k) {
			cfg_error(ctx, v, "filter.%s must be nil if the filter.type is not %s",
				  filter_types[j].member, filter_types[j].type);
			return -EINVAL;
		}
		if (!has && j == k) {
			cfg_error(ctx, v, "filter.%s must be specified for %s filter.type",
				  filter_types[j].member, filter_types[j].type);
			return -EINVAL;
		}
	}
	if (f->type == CONFIG_GW_FILTER_CORS)
		cfg_diag(ctx, v, false, "the CORS filter is accepted but not applied");
	return cfg_walk_map(ctx, v, filter_fields, f);
}

/* The filter list of a rule or a backendRef, with the CRD's "cannot be repeated" rules. */
int cfg_gw_filters(struct cfg_ctx *ctx, yaml_node_t *v, FILTER **out, size_t *nout)
{
	bool grpc = grpc_of(ctx);
	size_t n = cfg_seq_len(v);
	int before = ctx->nerrors, seen[8] = {0};

	if (n > 16) {
		cfg_error(ctx, v, "at most 16 filters");
		return -EINVAL;
	}
	*out = calloc(n + 1, sizeof(**out));
	if (!*out) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		FILTER *f = &(*out)[(*nout)++];
		size_t saved = cfg_path_push_index(ctx, i);

		if (item->type != YAML_MAPPING_NODE)
			cfg_error(ctx, item, "a filter is a mapping");
		else if (filter(ctx, item, f, grpc) == 0 && f->type != CONFIG_GW_FILTER_MIRROR &&
			 f->type != CONFIG_GW_FILTER_EXTENSION_REF && seen[f->type]++)
			cfg_error(ctx, item, "%s filter cannot be repeated",
				  filter_types[f->type].type);
		cfg_path_pop(ctx, saved);
	}
	if (seen[CONFIG_GW_FILTER_REDIRECT] && seen[CONFIG_GW_FILTER_REWRITE])
		cfg_error(ctx, v,
			  "May specify either httpRouteFilterRequestRedirect or "
			  "httpRouteFilterRequestRewrite, but not both");
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int br_filters(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_gw_filters(ctx, v, &((BREF *)o)->filters, &((BREF *)o)->n_filters);
}

void cfg_gw_filter_free(FILTER *f)
{
	config_header_ops_free(&f->headers);
	if (f->mirror) {
		cfg_gw_backend_free(f->mirror);
		free(f->mirror);
	}
	free(f->scheme);
	free(f->hostname);
	free(f->path);
}

void cfg_gw_backend_free(BREF *b)
{
	free(b->group);
	free(b->kind);
	free(b->name);
	free(b->namespace);
	for (size_t i = 0; i < b->n_filters; i++)
		cfg_gw_filter_free(&b->filters[i]);
	free(b->filters);
}
