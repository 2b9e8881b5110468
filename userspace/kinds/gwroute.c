// SPDX-License-Identifier: Apache-2.0
/*
 * Gateway API HTTPRoute (v1, v1beta1) and GRPCRoute (v1): the CRDs' schema, defaults and CEL
 * rules (API_SEMANTICS.md §7). A parentRef of kind Service binds the route to that Service in
 * the mesh (GAMMA), the waypoint case; a Gateway parentRef binds it to a gateway.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "decode/decode.h"

#define ROUTE struct config_gw_route
#define RULE struct config_gw_route_rule
#define MATCH struct config_gw_route_match
#define FILTER struct config_gw_filter

/* The kind being parsed, for the fields HTTPRoute and GRPCRoute spell differently. */
static bool grpc_of(struct cfg_ctx *ctx)
{
	return ctx->object && !strncmp(ctx->object, "GRPCRoute", 9);
}

/* ---- references ---- */

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

static int pr_group(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct config_parent_ref *r = o;

	free(r->group);
	r->group = NULL;
	if (cfg_get_str(ctx, v, &r->group))
		return -EINVAL;
	if (*r->group && !cfg_name_ok(r->group, CFG_NAME_SUBDOMAIN)) {
		cfg_error(ctx, v, "group \"%.64s\" is not a DNS subdomain (or empty)", r->group);
		return -EINVAL;
	}
	return 0;
}

static int pr_kind(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct config_parent_ref *r = o;

	free(r->kind);
	r->kind = NULL;
	return ref_str(ctx, v, &r->kind, 63);
}

static int pr_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return ref_str(ctx, v, &((struct config_parent_ref *)o)->name, 253);
}

static int pr_namespace(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_name(ctx, v, CFG_NAME_LABEL, &((struct config_parent_ref *)o)->namespace);
}

static int pr_section(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_name(ctx, v, CFG_NAME_SUBDOMAIN,
			    &((struct config_parent_ref *)o)->section_name);
}

static int pr_port(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 1, 65535, &n))
		return -EINVAL;
	((struct config_parent_ref *)o)->port = (uint16_t)n;
	return 0;
}

static const struct cfg_field parent_ref_fields[] = {
    {"group", CFG_T_STR, pr_group, 0},
    {"kind", CFG_T_STR, pr_kind, 0},
    {"name", CFG_T_STR, pr_name, CFG_F_REQUIRED},
    {"namespace", CFG_T_STR, pr_namespace, 0},
    {"sectionName", CFG_T_STR, pr_section, 0},
    {"port", CFG_T_INT, pr_port, 0},
    {NULL, 0, NULL, 0},
};

static int rt_parent_refs(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	ROUTE *r = o;
	size_t n = cfg_seq_len(v);
	int before = ctx->nerrors;

	if (n > 32) {
		cfg_error(ctx, v, "at most 32 parentRefs");
		return -EINVAL;
	}
	r->parent_refs = calloc(n + 1, sizeof(*r->parent_refs));
	if (!r->parent_refs) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct config_parent_ref *p = &r->parent_refs[r->n_parent_refs++];
		size_t saved = cfg_path_push_index(ctx, i);

		/* The CRD's defaults: a Gateway of the Gateway API group. */
		p->group = strdup(CONFIG_GW_GROUP);
		p->kind = strdup("Gateway");
		if (!p->group || !p->kind)
			cfg_error(ctx, v, "out of memory");
		else
			cfg_walk_map(ctx, cfg_seq_item(ctx, v, i), parent_ref_fields, p);
		/*
		 * kind Service with the group left to that default (Istio's mirroring task writes
		 * it so): the Gateway API group has no kind Service, so the core Service is meant.
		 * Istio ignores such a parent; ambit takes it, and analyze says so.
		 */
		if (p->group && p->kind && !strcmp(p->kind, "Service") &&
		    !strcmp(p->group, CONFIG_GW_GROUP)) {
			p->group[0] = '\0';
			p->service_group_defaulted = true;
		}
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int rule_filters(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_gw_filters(ctx, v, &((RULE *)o)->filters, &((RULE *)o)->n_filters);
}

static int rule_backends(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RULE *r = o;
	size_t n = cfg_seq_len(v);
	int before = ctx->nerrors;

	if (n > 16) {
		cfg_error(ctx, v, "at most 16 backendRefs");
		return -EINVAL;
	}
	r->backends = calloc(n + 1, sizeof(*r->backends));
	if (!r->backends) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		size_t saved = cfg_path_push_index(ctx, i);

		cfg_gw_backend(ctx, cfg_seq_item(ctx, v, i), &r->backends[r->n_backends++], true);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

/* ---- matches ---- */

static int vm_type(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const t[] = {"Exact", "RegularExpression", NULL};

	if (cfg_check_enum(ctx, v, t, NULL))
		return -EINVAL;
	((struct config_gw_value_match *)o)->type =
	    strcmp((const char *)v->data.scalar.value, "Exact") ? CONFIG_GW_MATCH_REGEX
								: CONFIG_GW_MATCH_EXACT;
	return 0;
}

static int vm_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct config_gw_value_match *m = o;

	if (cfg_get_str(ctx, v, &m->name))
		return -EINVAL;
	if (!cfg_http_token_ok(m->name) || strlen(m->name) > 256) {
		cfg_error(ctx, v, "\"%.64s\" is not a header or parameter name", m->name);
		return -EINVAL;
	}
	return 0;
}

static int vm_value(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct config_gw_value_match *m = o;

	if (cfg_get_str(ctx, v, &m->value))
		return -EINVAL;
	if (!*m->value || strlen(m->value) > 4096) {
		cfg_error(ctx, v, "value must be 1 to 4096 characters");
		return -EINVAL;
	}
	return 0;
}

static const struct cfg_field value_match_fields[] = {
    {"type", CFG_T_STR, vm_type, 0},
    {"name", CFG_T_STR, vm_name, CFG_F_REQUIRED},
    {"value", CFG_T_STR, vm_value, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

/* headers (names case-insensitive) or queryParams (names exact): listType=map on name. */
static int value_matches(struct cfg_ctx *ctx, yaml_node_t *v, struct config_gw_value_match **out,
			 size_t *n, bool headers)
{
	int before = ctx->nerrors;

	if (cfg_seq_len(v) > 16) {
		cfg_error(ctx, v, "at most 16 entries");
		return -EINVAL;
	}
	if (cfg_parse_seq(ctx, v, value_match_fields, sizeof(**out), (void **)out, n, false,
			  headers ? "header match" : "query parameter match"))
		return -EINVAL;
	for (size_t i = 0; i < *n; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		size_t saved = cfg_path_push_index(ctx, i);

		if ((*out)[i].type == CONFIG_GW_MATCH_REGEX)
			cfg_check_regex(ctx, cfg_map_get(ctx, item, "value"), (*out)[i].value);
		for (size_t j = 0; j < i; j++)
			if (headers ? !strcasecmp((*out)[i].name, (*out)[j].name)
				    : !strcmp((*out)[i].name, (*out)[j].name))
				cfg_error(ctx, item, "duplicate name \"%.64s\"", (*out)[i].name);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int m_headers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return value_matches(ctx, v, &((MATCH *)o)->headers, &((MATCH *)o)->n_headers, true);
}

static int m_query(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return value_matches(ctx, v, &((MATCH *)o)->query_params, &((MATCH *)o)->n_query_params,
			     false);
}

static int path_type(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const t[] = {"Exact", "PathPrefix", "RegularExpression", NULL};
	const char *s = (const char *)v->data.scalar.value;

	if (cfg_check_enum(ctx, v, t, NULL))
		return -EINVAL;
	((MATCH *)o)->path_type = !strcmp(s, "Exact")	     ? CONFIG_GW_MATCH_EXACT
				  : !strcmp(s, "PathPrefix") ? CONFIG_GW_MATCH_PREFIX
							     : CONFIG_GW_MATCH_REGEX;
	return 0;
}

static int path_value(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	MATCH *m = o;

	free(m->path);
	m->path = NULL;
	return cfg_get_str(ctx, v, &m->path);
}

static const struct cfg_field path_fields[] = {
    {"type", CFG_T_STR, path_type, 0},
    {"value", CFG_T_STR, path_value, 0},
    {NULL, 0, NULL, 0},
};

/* The CRD's CEL rules on Exact and PathPrefix values. */
static const char *path_problem(const char *p)
{
	size_t n = strlen(p);

	if (*p != '/')
		return "value must be an absolute path and start with '/'";
	if (strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../") || strstr(p, "%2f") ||
	    strstr(p, "%2F") || strchr(p, '#'))
		return "must not contain '//', '/./', '/../', '%2f', '%2F' or '#'";
	if ((n >= 3 && !strcmp(p + n - 3, "/..")) || (n >= 2 && !strcmp(p + n - 2, "/.")))
		return "must not end with '/..' or '/.'";
	for (const char *c = p; *c; c++) {
		if (*c == '%') {
			if (!strchr("0123456789abcdefABCDEF", c[1]) || !c[1] ||
			    !strchr("0123456789abcdefABCDEF", c[2]) || !c[2])
				return "'%' must start a percent-encoded octet";
			c += 2;
		} else if (!strchr("-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
				   "/._~!$&'()*+,;=:@",
				   *c)) {
			return "must only contain valid path characters";
		}
	}
	return NULL;
}

static int m_path(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	MATCH *m = o;
	const char *why;

	m->path_type = CONFIG_GW_MATCH_PREFIX; /* the CRD's default type */
	if (cfg_walk_map(ctx, v, path_fields, o))
		return -EINVAL;
	if (!m->path && !(m->path = strdup("/"))) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	if (strlen(m->path) > 1024) {
		cfg_error(ctx, v, "path value is longer than 1024 characters");
		return -EINVAL;
	}
	if (m->path_type == CONFIG_GW_MATCH_REGEX)
		return cfg_check_regex(ctx, cfg_map_get(ctx, v, "value") ?: v, m->path);
	why = path_problem(m->path);
	if (why) {
		cfg_error(ctx, cfg_map_get(ctx, v, "value") ?: v, "\"%.64s\": %s", m->path, why);
		return -EINVAL;
	}
	return 0;
}

static int m_method(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const m[] = {"GET",	   "HEAD",    "POST",  "PUT",	"DELETE",
					"CONNECT", "OPTIONS", "TRACE", "PATCH", NULL};

	return cfg_check_enum(ctx, v, m, &((MATCH *)o)->method);
}

static const struct cfg_field http_match_fields[] = {
    {"path", CFG_T_MAP, m_path, 0},
    {"headers", CFG_T_SEQ, m_headers, 0},
    {"queryParams", CFG_T_SEQ, m_query, 0},
    {"method", CFG_T_STR, m_method, 0},
    {NULL, 0, NULL, 0},
};

static int gm_type(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const t[] = {"Exact", "RegularExpression", NULL};

	if (cfg_check_enum(ctx, v, t, NULL))
		return -EINVAL;
	((MATCH *)o)->grpc_type = strcmp((const char *)v->data.scalar.value, "Exact")
				      ? CONFIG_GW_MATCH_REGEX
				      : CONFIG_GW_MATCH_EXACT;
	return 0;
}

static int gm_service(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((MATCH *)o)->grpc_service);
}

static int gm_method(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((MATCH *)o)->grpc_method);
}

static const struct cfg_field grpc_method_fields[] = {
    {"type", CFG_T_STR, gm_type, 0},
    {"service", CFG_T_STR, gm_service, 0},
    {"method", CFG_T_STR, gm_method, 0},
    {NULL, 0, NULL, 0},
};

static bool ident_ok(const char *s, bool dotted)
{
	if (dotted && *s == '.')
		s++;
	for (bool start = true; *s; s++) {
		bool alpha = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_';

		if (dotted && *s == '.' && !start) {
			start = true;
			continue;
		}
		if (!alpha && (start || *s < '0' || *s > '9'))
			return false;
		start = false;
	}
	return s[-1] != '.';
}

static int m_grpc_method(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	MATCH *m = o;

	if (cfg_walk_map(ctx, v, grpc_method_fields, o))
		return -EINVAL;
	if (!m->grpc_service && !m->grpc_method) {
		cfg_error(ctx, v, "One or both of 'service' or 'method' must be specified");
		return -EINVAL;
	}
	if (m->grpc_type == CONFIG_GW_MATCH_REGEX)
		return (m->grpc_service && cfg_check_regex(ctx, v, m->grpc_service)) ||
			       (m->grpc_method && cfg_check_regex(ctx, v, m->grpc_method))
			   ? -EINVAL
			   : 0;
	if (m->grpc_service && (!*m->grpc_service || !ident_ok(m->grpc_service, true))) {
		cfg_error(ctx, v, "service must only contain valid characters (a dotted name)");
		return -EINVAL;
	}
	if (m->grpc_method && (!*m->grpc_method || !ident_ok(m->grpc_method, false))) {
		cfg_error(ctx, v, "method must only contain valid characters (an identifier)");
		return -EINVAL;
	}
	return 0;
}

static const struct cfg_field grpc_match_fields[] = {
    {"method", CFG_T_MAP, m_grpc_method, 0},
    {"headers", CFG_T_SEQ, m_headers, 0},
    {NULL, 0, NULL, 0},
};

static int rule_matches(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RULE *r = o;
	bool grpc = grpc_of(ctx);

	if (cfg_seq_len(v) > 64) {
		cfg_error(ctx, v, "at most 64 matches");
		return -EINVAL;
	}
	if (cfg_parse_seq(ctx, v, grpc ? grpc_match_fields : http_match_fields, sizeof(*r->matches),
			  (void **)&r->matches, &r->n_matches, false, "match"))
		return -EINVAL;
	for (size_t i = 0; i < r->n_matches; i++) {
		MATCH *m = &r->matches[i];

		m->line = (int)cfg_seq_item(ctx, v, i)->start_mark.line + 1;
		/* The CRD default: a match without path is PathPrefix "/". */
		if (!grpc && !m->path) {
			m->path_type = CONFIG_GW_MATCH_PREFIX;
			if (!(m->path = strdup("/"))) {
				cfg_error(ctx, v, "out of memory");
				return -ENOMEM;
			}
		}
	}
	return 0;
}

/* ---- timeouts, retry ---- */

static int to_request(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_gw_duration(ctx, v, &((RULE *)o)->timeout_request_ms);
}

static int to_backend(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_gw_duration(ctx, v, &((RULE *)o)->timeout_backend_ms);
}

static const struct cfg_field timeouts_fields[] = {
    {"request", CFG_T_STR, to_request, 0},
    {"backendRequest", CFG_T_STR, to_backend, 0},
    {NULL, 0, NULL, 0},
};

static int rule_timeouts(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RULE *r = o;

	if (cfg_walk_map(ctx, v, timeouts_fields, o))
		return -EINVAL;
	if (r->timeout_request_ms && r->timeout_backend_ms > r->timeout_request_ms) {
		cfg_error(ctx, v, "backendRequest timeout cannot be longer than request timeout");
		return -EINVAL;
	}
	return 0;
}

static int rt_codes(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RULE *r = o;
	size_t n = cfg_seq_len(v);
	int before = ctx->nerrors;

	if (n > 100) {
		cfg_error(ctx, v, "at most 100 codes");
		return -EINVAL;
	}
	r->retry_codes = calloc(n + 1, sizeof(*r->retry_codes));
	if (!r->retry_codes) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		long long c;
		size_t saved = cfg_path_push_index(ctx, i);

		if (cfg_get_int(ctx, cfg_seq_item(ctx, v, i), 400, 599, &c) == 0) {
			for (size_t j = 0; j < r->n_retry_codes; j++)
				if (r->retry_codes[j] == c)
					cfg_error(ctx, cfg_seq_item(ctx, v, i),
						  "duplicate code %lld", c);
			r->retry_codes[r->n_retry_codes++] = (uint16_t)c;
		}
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int rt_attempts(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	long long n;

	if (cfg_get_int(ctx, v, 1, 2147483647, &n))
		return -EINVAL;
	((RULE *)o)->retry_attempts = (int)n;
	return 0;
}

static int rt_backoff(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_gw_duration(ctx, v, &((RULE *)o)->retry_backoff_ms);
}

static const struct cfg_field retry_fields[] = {
    {"codes", CFG_T_SEQ, rt_codes, 0},
    {"attempts", CFG_T_INT, rt_attempts, 0},
    {"backoff", CFG_T_STR, rt_backoff, 0},
    {NULL, 0, NULL, 0},
};

static int rule_retry(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	((RULE *)o)->has_retry = true;
	return cfg_walk_map(ctx, v, retry_fields, o);
}

static int rule_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_name(ctx, v, CFG_NAME_SUBDOMAIN, &((RULE *)o)->name);
}

static const struct cfg_field http_rule_fields[] = {
    {"name", CFG_T_STR, rule_name, 0},		{"matches", CFG_T_SEQ, rule_matches, 0},
    {"filters", CFG_T_SEQ, rule_filters, 0},	{"backendRefs", CFG_T_SEQ, rule_backends, 0},
    {"timeouts", CFG_T_MAP, rule_timeouts, 0},	{"retry", CFG_T_MAP, rule_retry, 0},
    {"sessionPersistence", CFG_T_MAP, NULL, 0}, {NULL, 0, NULL, 0},
};

static const struct cfg_field grpc_rule_fields[] = {
    {"name", CFG_T_STR, rule_name, 0},		{"matches", CFG_T_SEQ, rule_matches, 0},
    {"filters", CFG_T_SEQ, rule_filters, 0},	{"backendRefs", CFG_T_SEQ, rule_backends, 0},
    {"sessionPersistence", CFG_T_MAP, NULL, 0}, {NULL, 0, NULL, 0},
};

static bool rule_has_path_mod(const FILTER *f, size_t n, enum config_gw_filter_type t)
{
	for (size_t i = 0; i < n; i++)
		if (f[i].type == t && f[i].path_mod == CONFIG_GW_PATH_PREFIX)
			return true;
	return false;
}

/* The rule-level CEL rules: redirect without backends, ReplacePrefixMatch with one prefix. */
static void check_rule(struct cfg_ctx *ctx, yaml_node_t *item, RULE *r)
{
	bool prefix_mod = rule_has_path_mod(r->filters, r->n_filters, CONFIG_GW_FILTER_REDIRECT) ||
			  rule_has_path_mod(r->filters, r->n_filters, CONFIG_GW_FILTER_REWRITE);

	for (size_t i = 0; i < r->n_backends; i++)
		prefix_mod |= rule_has_path_mod(r->backends[i].filters, r->backends[i].n_filters,
						CONFIG_GW_FILTER_REDIRECT) ||
			      rule_has_path_mod(r->backends[i].filters, r->backends[i].n_filters,
						CONFIG_GW_FILTER_REWRITE);
	for (size_t i = 0; r->n_backends && i < r->n_filters; i++)
		if (r->filters[i].type == CONFIG_GW_FILTER_REDIRECT)
			cfg_error(ctx, item,
				  "RequestRedirect filter must not be used together with "
				  "backendRefs");
	if (prefix_mod && (r->n_matches != 1 || r->matches[0].path_type != CONFIG_GW_MATCH_PREFIX))
		cfg_error(
		    ctx, item,
		    "When using a RequestRedirect or URLRewrite filter with "
		    "path.replacePrefixMatch, exactly one PathPrefix match must be specified");
}

static int rt_rules(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	ROUTE *rt = o;
	size_t total = 0;
	int before = ctx->nerrors;

	if (cfg_seq_len(v) > 16) {
		cfg_error(ctx, v, "at most 16 rules");
		return -EINVAL;
	}
	if (cfg_parse_seq(ctx, v, rt->grpc ? grpc_rule_fields : http_rule_fields,
			  sizeof(*rt->rules), (void **)&rt->rules, &rt->n_rules, !rt->grpc,
			  "rules"))
		return -EINVAL;
	for (size_t i = 0; i < rt->n_rules; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		size_t saved = cfg_path_push_index(ctx, i);
		RULE *r = &rt->rules[i];

		r->line = (int)item->start_mark.line + 1;
		total += r->n_matches;
		check_rule(ctx, item, r);
		for (size_t j = 0; r->name && j < i; j++)
			if (rt->rules[j].name && !strcmp(rt->rules[j].name, r->name))
				cfg_error(ctx, item, "Rule name must be unique within the route");
		cfg_path_pop(ctx, saved);
	}
	if (total > 128)
		cfg_error(ctx, v,
			  "the total number of matches across all rules in a route must be "
			  "at most 128");
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int rt_hostnames(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	ROUTE *r = o;
	int before = ctx->nerrors;

	if (cfg_seq_len(v) > 16) {
		cfg_error(ctx, v, "at most 16 hostnames");
		return -EINVAL;
	}
	if (cfg_get_strings(ctx, v, CFG_S_NONEMPTY, &r->hostnames))
		return -EINVAL;
	for (size_t i = 0; i < r->hostnames.n; i++)
		if (!cfg_gw_hostname_ok(r->hostnames.items[i], true))
			cfg_error(ctx, cfg_seq_item(ctx, v, i),
				  "\"%.64s\" is not a hostname (\"*.\" may come first; no IP)",
				  r->hostnames.items[i]);
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int rt_default_gateways(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const s[] = {"All", "None", NULL};

	return cfg_check_enum(ctx, v, s, NULL);
}

static const struct cfg_field route_spec_fields[] = {
    {"parentRefs", CFG_T_SEQ, rt_parent_refs, 0},
    {"hostnames", CFG_T_SEQ, rt_hostnames, 0},
    {"rules", CFG_T_SEQ, rt_rules, 0},
    {"useDefaultGateways", CFG_T_STR, rt_default_gateways, 0},
    {NULL, 0, NULL, 0},
};

/* TLSRoute and TCPRoute (v1alpha2): rules of backendRefs, and a TLSRoute's hostnames. */
static const struct cfg_field l4_rule_fields[] = {
    {"name", CFG_T_STR, rule_name, 0},
    {"backendRefs", CFG_T_SEQ, rule_backends, 0},
    {NULL, 0, NULL, 0},
};

static int l4_rules(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	ROUTE *rt = o;
	int before = ctx->nerrors;

	if (cfg_seq_len(v) < 1 || cfg_seq_len(v) > 16) {
		cfg_error(ctx, v, "1 to 16 rules");
		return -EINVAL;
	}
	if (cfg_parse_seq(ctx, v, l4_rule_fields, sizeof(*rt->rules), (void **)&rt->rules,
			  &rt->n_rules, false, "rules"))
		return -EINVAL;
	for (size_t i = 0; i < rt->n_rules; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);

		rt->rules[i].line = (int)item->start_mark.line + 1;
		for (size_t j = 0; rt->rules[i].name && j < i; j++)
			if (rt->rules[j].name && !strcmp(rt->rules[j].name, rt->rules[i].name))
				cfg_error(ctx, item, "Rule name must be unique within the route");
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static const struct cfg_field tls_route_spec_fields[] = {
    {"parentRefs", CFG_T_SEQ, rt_parent_refs, 0},
    {"hostnames", CFG_T_SEQ, rt_hostnames, 0},
    {"rules", CFG_T_SEQ, l4_rules, CFG_F_REQUIRED},
    {"useDefaultGateways", CFG_T_STR, rt_default_gateways, 0},
    {NULL, 0, NULL, 0},
};

static const struct cfg_field tcp_route_spec_fields[] = {
    {"parentRefs", CFG_T_SEQ, rt_parent_refs, 0},
    {"rules", CFG_T_SEQ, l4_rules, CFG_F_REQUIRED},
    {"useDefaultGateways", CFG_T_STR, rt_default_gateways, 0},
    {NULL, 0, NULL, 0},
};

static int rt_spec(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	ROUTE *r = ((struct cfg_obj *)obj)->obj;

	if (ctx->object && !strncmp(ctx->object, "TLSRoute", 8)) {
		r->l4 = CONFIG_GW_TLS;
		return cfg_walk_map(ctx, v, tls_route_spec_fields, r);
	}
	if (ctx->object && !strncmp(ctx->object, "TCPRoute", 8)) {
		r->l4 = CONFIG_GW_TCP;
		return cfg_walk_map(ctx, v, tcp_route_spec_fields, r);
	}
	r->grpc = grpc_of(ctx);
	return cfg_walk_map(ctx, v, route_spec_fields, r);
}

const struct cfg_field cfg_gw_route_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED},
    {"spec", CFG_T_MAP, rt_spec, CFG_F_REQUIRED},
    {"status", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

/* HTTPRoute's CRD default: no rules is one rule matching PathPrefix "/" (with no backends). */
int cfg_gw_route_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o)
{
	ROUTE *r = o->obj;

	for (size_t i = 0; i < r->n_rules; i++) {
		RULE *rule = &r->rules[i];

		if (rule->n_matches || r->grpc || r->l4)
			continue;
		rule->matches = calloc(1, sizeof(*rule->matches));
		if (!rule->matches || !(rule->matches[0].path = strdup("/")))
			goto oom;
		rule->n_matches = 1;
		rule->matches[0].path_type = CONFIG_GW_MATCH_PREFIX;
		rule->matches[0].line = rule->line;
	}
	if (!r->n_rules && !r->grpc) {
		r->rules = calloc(1, sizeof(*r->rules));
		if (!r->rules)
			goto oom;
		r->n_rules = 1;
		r->rules[0].line = o->meta->origin.line;
		r->rules[0].matches = calloc(1, sizeof(*r->rules[0].matches));
		if (!r->rules[0].matches || !(r->rules[0].matches[0].path = strdup("/")))
			goto oom;
		r->rules[0].n_matches = 1;
		r->rules[0].matches[0].path_type = CONFIG_GW_MATCH_PREFIX;
		r->rules[0].matches[0].line = o->meta->origin.line;
	}
	return 0;
oom:
	cfg_error(ctx, root, "out of memory");
	return -ENOMEM;
}

static void value_matches_free(struct config_gw_value_match *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].name);
		free(m[i].value);
	}
	free(m);
}

void config_gw_route_free(struct config_gw_route *r)
{
	config_meta_free(&r->meta);
	for (size_t i = 0; i < r->n_parent_refs; i++) {
		struct config_parent_ref *p = &r->parent_refs[i];

		free(p->group);
		free(p->kind);
		free(p->name);
		free(p->namespace);
		free(p->section_name);
	}
	free(r->parent_refs);
	config_strings_free(&r->hostnames);
	for (size_t i = 0; i < r->n_rules; i++) {
		RULE *rule = &r->rules[i];

		free(rule->name);
		for (size_t j = 0; j < rule->n_matches; j++) {
			MATCH *m = &rule->matches[j];

			free(m->path);
			value_matches_free(m->headers, m->n_headers);
			value_matches_free(m->query_params, m->n_query_params);
			free(m->method);
			free(m->grpc_service);
			free(m->grpc_method);
		}
		free(rule->matches);
		for (size_t j = 0; j < rule->n_filters; j++)
			cfg_gw_filter_free(&rule->filters[j]);
		free(rule->filters);
		for (size_t j = 0; j < rule->n_backends; j++)
			cfg_gw_backend_free(&rule->backends[j]);
		free(rule->backends);
		free(rule->retry_codes);
	}
	free(r->rules);
	memset(r, 0, sizeof(*r));
}
