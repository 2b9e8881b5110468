// SPDX-License-Identifier: Apache-2.0
/*
 * Value rules shared by the Istio kinds (API_SEMANTICS.md §0): string lists, workload selectors,
 * durations, percentages, host names, exportTo, IP/CIDR and port strings. Each helper reports at
 * the node it rejects, so every error names file:line:col and the field path.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

void config_strings_free(struct config_strings *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->items[i]);
	free(s->items);
	s->items = NULL;
	s->n = 0;
}

bool config_strings_has(const struct config_strings *s, const char *v)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->items[i], v) == 0)
			return true;
	return false;
}

int config_strings_add(struct config_strings *s, const char *v)
{
	char **items;

	if (config_strings_has(s, v))
		return 0;
	items = realloc(s->items, (s->n + 2) * sizeof(*items));
	if (!items)
		return -ENOMEM;
	s->items = items;
	s->items[s->n + 1] = NULL;
	s->items[s->n] = strdup(v);
	return s->items[s->n] ? (s->n++, 0) : -ENOMEM;
}

size_t cfg_seq_len(const yaml_node_t *v)
{
	return v->type == YAML_SEQUENCE_NODE
		   ? (size_t)(v->data.sequence.items.top - v->data.sequence.items.start)
		   : 0;
}

yaml_node_t *cfg_seq_item(struct cfg_ctx *ctx, const yaml_node_t *v, size_t i)
{
	return cfg_node(ctx, v->data.sequence.items.start[i]);
}

int cfg_get_strings(struct cfg_ctx *ctx, yaml_node_t *v, unsigned int flags,
		    struct config_strings *out)
{
	size_t n = cfg_seq_len(v);
	int before = ctx->nerrors;

	if (v->type != YAML_SEQUENCE_NODE) {
		cfg_error(ctx, v, "expected a sequence of strings, got %s", cfg_type_name(v));
		return -EINVAL;
	}
	if (n > CFG_MAX_LIST) {
		cfg_error(ctx, v, "more than %d entries", CFG_MAX_LIST);
		return -EINVAL;
	}
	config_strings_free(out);
	out->items = calloc(n ? n : 1, sizeof(*out->items));
	if (!out->items) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		size_t saved = cfg_path_push_index(ctx, i);
		char *s = NULL;

		/* Istio's strings are strings: an unquoted 80 is rejected as Kubernetes does. */
		if (cfg_get_str(ctx, item, &s) == 0) {
			if (!*s && (flags & CFG_S_NONEMPTY))
				cfg_error(ctx, item, "empty string is not allowed");
			out->items[out->n++] = s;
		}
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

/* Istio selectors: no empty key, and no wildcard in keys or values ("*" would select all). */
int cfg_get_selector_labels(struct cfg_ctx *ctx, yaml_node_t *map, struct config_labels *out)
{
	int before = ctx->nerrors;

	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = cfg_node(ctx, p->key), *v = cfg_node(ctx, p->value);
		const char *key = (const char *)k->data.scalar.value;

		if (!*key)
			cfg_error(ctx, k, "empty key is not supported in selector");
		else if (strchr(key, '*'))
			cfg_error(ctx, k, "wildcard is not supported in selector key \"%.64s\"",
				  key);
		else if (v->type == YAML_SCALAR_NODE &&
			 strchr((const char *)v->data.scalar.value, '*'))
			cfg_error(ctx, v, "wildcard is not supported in selector value \"%.64s\"",
				  (const char *)v->data.scalar.value);
	}
	if (ctx->nerrors != before)
		return -EINVAL;
	return cfg_get_labels(ctx, map, false, out);
}

static int match_labels(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_selector_labels(ctx, v, obj);
}

static const struct cfg_field selector_fields[] = {
    {"matchLabels", CFG_T_MAP, match_labels, 0},
    {NULL, 0, NULL, 0},
};

int cfg_get_workload_selector(struct cfg_ctx *ctx, yaml_node_t *v, struct config_labels *out)
{
	return cfg_walk_map(ctx, v, selector_fields, out);
}

/*
 * Go's time.ParseDuration grammar ("1h2m3.5s", "300ms"), which is what Istio's CRDs accept;
 * the result must be at least 1 ms and a whole number of milliseconds. Integer nanoseconds
 * throughout so "0.1s" is exactly 100 ms.
 */
int cfg_parse_duration_ms(const char *s, uint64_t *ms, const char **why)
{
	static const struct {
		const char *unit;
		uint64_t ns;
	} units[] = {{"ns", 1ull},	     {"us", 1000ull},	   {"\xc2\xb5s", 1000ull},
		     {"ms", 1000000ull},     {"s", 1000000000ull}, {"m", 60000000000ull},
		     {"h", 3600000000000ull}};
	const uint64_t max_ns = 315576000000ull * 1000000000ull / 1000; /* ~10,000 years in ms */
	uint64_t total = 0;
	const char *p = s;

	*why = "not a duration (want e.g. \"1h\", \"30s\", \"250ms\")";
	if (*p == '+')
		p++;
	if (*p == '-') {
		*why = "a duration must not be negative";
		return -EINVAL;
	}
	if (!*p)
		return -EINVAL;
	if (strcmp(p, "0") == 0) {
		*why = "a duration must be at least 1ms";
		return -EINVAL;
	}
	while (*p) {
		uint64_t whole = 0, frac = 0, scale = 1, mult = 0;
		bool sub_ns = false;
		size_t u, best_len = 0, digits = 0;

		for (; *p >= '0' && *p <= '9'; p++, digits++) {
			if (whole > (UINT64_MAX - 9) / 10)
				goto too_big;
			whole = whole * 10 + (uint64_t)(*p - '0');
		}
		if (*p == '.') {
			for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
				if (scale >= 1000000000ull) {
					/* Past 9 digits only zeros keep it a whole number of ms. */
					if (*p != '0')
						sub_ns = true;
					continue;
				}
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
		}
		if (!digits)
			return -EINVAL;
		for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
			size_t l = strlen(units[u].unit);

			if (strncmp(p, units[u].unit, l) == 0 && l > best_len) {
				best_len = l;
				mult = units[u].ns;
			}
		}
		if (!best_len)
			return -EINVAL; /* a number needs a unit */
		if (whole > max_ns / mult)
			goto too_big;
		/* A fraction that is not a whole nanosecond is not a whole millisecond either. */
		if (sub_ns || ((unsigned __int128)frac * mult) % scale) {
			*why = "a duration must be a whole number of milliseconds";
			return -EINVAL;
		}
		total += whole * mult + (uint64_t)(((unsigned __int128)frac * mult) / scale);
		if (total > max_ns)
			goto too_big;
		p += best_len;
	}
	if (total < 1000000) {
		*why = "a duration must be at least 1ms";
		return -EINVAL;
	}
	if (total % 1000000) {
		*why = "a duration must be a whole number of milliseconds";
		return -EINVAL;
	}
	*ms = total / 1000000;
	return 0;
too_big:
	*why = "duration too large";
	return -EINVAL;
}

int config_parse_duration_ms(const char *s, uint64_t *ms, const char **why)
{
	return cfg_parse_duration_ms(s, ms, why);
}

int cfg_get_duration(struct cfg_ctx *ctx, yaml_node_t *v, uint64_t *ms)
{
	const char *why;
	uint64_t tmp;
	char *s;

	if (cfg_get_str(ctx, v, &s))
		return -EINVAL;
	if (cfg_parse_duration_ms(s, ms ? ms : &tmp, &why)) {
		cfg_error(ctx, v, "\"%.64s\": %s", s, why);
		free(s);
		return -EINVAL;
	}
	free(s);
	return 0;
}

int cfg_get_double(struct cfg_ctx *ctx, yaml_node_t *v, double *out)
{
	enum cfg_scalar k = v->type == YAML_SCALAR_NODE ? cfg_scalar_kind(v) : CFG_S_STR;
	char *end;

	if (v->type != YAML_SCALAR_NODE || (k != CFG_S_INT && k != CFG_S_FLOAT)) {
		cfg_error(ctx, v, "expected a number, got %s", cfg_type_name(v));
		return -EINVAL;
	}
	*out = strtod((const char *)v->data.scalar.value, &end);
	if (*end || isnan(*out) || isinf(*out)) {
		cfg_error(ctx, v, "\"%.32s\" is not a finite number",
			  (const char *)v->data.scalar.value);
		return -EINVAL;
	}
	return 0;
}

static int percent_value(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	double *pct = obj;

	if (cfg_get_double(ctx, v, pct))
		return -EINVAL;
	if (*pct != 0 && (*pct < 0.0001 || *pct > 100)) {
		cfg_error(ctx, v, "percentage %g must be 0 or in [0.0001, 100]", *pct);
		return -EINVAL;
	}
	return 0;
}

static const struct cfg_field percent_fields[] = {
    {"value", CFG_T_ANY, percent_value, 0},
    {NULL, 0, NULL, 0},
};

int cfg_get_percent(struct cfg_ctx *ctx, yaml_node_t *v, double *out)
{
	*out = 0;
	return cfg_walk_map(ctx, v, percent_fields, out);
}

/* One DNS label of a host: letters, digits, '-', '_' (Istio accepts '_' in service names). */
static bool host_label_ok(const char *s, size_t n)
{
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

/*
 * Istio's ValidateWildcardDomain: labels of letters, digits, '-' ('_' tolerated in service
 * names), and only the first label may be a wildcard: "*", "*label" or "*-label"
 * ("*.example.com", "*x.example.com"). "*" alone only when @allow_star.
 */
bool cfg_wildcard_host_ok(const char *h, bool allow_star)
{
	size_t n = strlen(h);

	if (strcmp(h, "*") == 0)
		return allow_star;
	if (n == 0 || n > 255 || h[n - 1] == '.')
		return false;
	for (const char *p = h;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);

		if (p == h && len && p[0] == '*') {
			/* "*", "*label" or "*-label" (Istio's wildcardPrefix). */
			size_t skip = len > 1 && p[1] == '-' ? 2 : 1;

			if (len > 1 && !host_label_ok(p + skip, len - skip))
				return false;
		} else if (!host_label_ok(p, len)) {
			return false;
		}
		if (!dot)
			return true;
		p = dot + 1;
	}
}

bool cfg_cidr_ok(const char *s)
{
	const char *slash = strchr(s, '/');
	char addr[64];
	unsigned char buf[16];
	int family, max;
	char *end;
	long bits;

	if (!slash)
		return cfg_ip_ok(s);
	if ((size_t)(slash - s) >= sizeof(addr))
		return false;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (inet_pton(AF_INET, addr, buf) == 1) {
		family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, buf) == 1) {
		family = AF_INET6;
		max = 128;
	} else {
		return false;
	}
	(void)family;
	if (!slash[1] || !strchr("0123456789", slash[1]))
		return false;
	bits = strtol(slash + 1, &end, 10);
	return !*end && bits >= 0 && bits <= max;
}

/* A port as a decimal string in security policies ("80"); @min is 0 or 1. */
bool cfg_port_string_ok(const char *s, long min, long *out)
{
	char *end;
	long v;

	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 5)
		return false;
	v = strtol(s, &end, 10);
	if (v < min || v > 65535)
		return false;
	if (out)
		*out = v;
	return true;
}

/* exportTo: ".", "*", "~" or namespace names; "~" and "*" cannot be combined with others. */
int cfg_get_export_to(struct cfg_ctx *ctx, yaml_node_t *v, struct config_strings *out)
{
	int before = ctx->nerrors;

	if (cfg_get_strings(ctx, v, CFG_S_NONEMPTY, out))
		return -EINVAL;
	for (size_t i = 0; i < out->n; i++) {
		const char *e = out->items[i];
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		size_t saved = cfg_path_push_index(ctx, i);

		if (strcmp(e, ".") && strcmp(e, "*") && strcmp(e, "~") &&
		    !cfg_name_ok(e, CFG_NAME_LABEL))
			cfg_error(ctx, item, "\"%.64s\" is not \".\", \"*\", \"~\" or a namespace",
				  e);
		else if (!strcmp(e, "~") && out->n > 1)
			cfg_error(ctx, item,
				  "\"~\" (export to none) cannot be combined with others");
		for (size_t j = 0; j < i; j++)
			if (!strcmp(out->items[j], e))
				cfg_error(ctx, item, "duplicate entry \"%.64s\"", e);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

/* Parses a sequence of mappings into a calloc'd array of @size-byte elements. */
int cfg_parse_seq(struct cfg_ctx *ctx, yaml_node_t *v, const struct cfg_field *fields, size_t size,
		  void **arr, size_t *n, bool nonempty, const char *what)
{
	size_t len = cfg_seq_len(v);
	int before = ctx->nerrors;

	if (nonempty && !len) {
		cfg_error(ctx, v, "empty %s list: remove the field or add an entry", what);
		return -EINVAL;
	}
	if (len > CFG_MAX_LIST) {
		cfg_error(ctx, v, "more than %d entries", CFG_MAX_LIST);
		return -EINVAL;
	}
	*arr = calloc(len ? len : 1, size);
	if (!*arr) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	*n = len;
	for (size_t i = 0; i < len; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		size_t saved = cfg_path_push_index(ctx, i);

		if (cfg_is_null(item))
			cfg_error(ctx, item, "null %s entry", what);
		else
			cfg_walk_map(ctx, item, fields, (char *)*arr + i * size);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

/* ---- targetRef / targetRefs ---- */

#define TREF struct config_target_ref
static int tref_str(struct cfg_ctx *ctx, yaml_node_t *v, char **out, bool required)
{
	if (cfg_get_str(ctx, v, out))
		return -EINVAL;
	if (required && !**out) {
		cfg_error(ctx, v, "must not be empty");
		return -EINVAL;
	}
	return 0;
}
/* Kubernetes group: empty (core) or a DNS subdomain. */
static int tref_group(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	TREF *r = o;

	if (tref_str(ctx, v, &r->group, false))
		return -EINVAL;
	if (*r->group && !cfg_name_ok(r->group, CFG_NAME_SUBDOMAIN)) {
		cfg_error(ctx, v, "group \"%.64s\" should match a DNS subdomain (or be empty)",
			  r->group);
		return -EINVAL;
	}
	return 0;
}
static int tref_kind(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const kinds[] = {"Gateway", "GatewayClass", "Service", "ServiceEntry",
					    NULL};

	return cfg_check_enum(ctx, v, kinds, &((TREF *)o)->kind);
}
static int tref_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return tref_str(ctx, v, &((TREF *)o)->name, true);
}
static int tref_namespace(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_name(ctx, v, CFG_NAME_LABEL, &((TREF *)o)->namespace);
}

static const struct cfg_field target_ref_fields[] = {
    {"group", CFG_T_STR, tref_group, 0},
    {"kind", CFG_T_STR, tref_kind, CFG_F_REQUIRED},
    {"name", CFG_T_STR, tref_name, CFG_F_REQUIRED},
    {"namespace", CFG_T_STR, tref_namespace, 0},
    {NULL, 0, NULL, 0},
};

int cfg_get_target_refs(struct cfg_ctx *ctx, yaml_node_t *v, bool single,
			struct config_target_ref **out, size_t *nout)
{
	size_t n = single ? 1 : cfg_seq_len(v), base = *nout;
	struct config_target_ref *refs;
	int before = ctx->nerrors;

	if (n > 16) {
		cfg_error(ctx, v, "at most 16 targetRefs");
		return -EINVAL;
	}
	refs = realloc(*out, (base + n + 1) * sizeof(*refs));
	if (!refs) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	*out = refs;
	memset(refs + base, 0, n * sizeof(*refs));
	*nout += n;
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = single ? v : cfg_seq_item(ctx, v, i);
		size_t saved = single ? ctx->plen : cfg_path_push_index(ctx, i);

		cfg_walk_map(ctx, item, target_ref_fields, &refs[base + i]);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

/* CEL rule of Istio's PolicyTargetReference: a policy only targets its own namespace. */
int cfg_check_target_ref_namespaces(struct cfg_ctx *ctx, yaml_node_t *spec,
				    const struct config_target_ref *refs, size_t n, const char *ns)
{
	int before = ctx->nerrors;

	for (size_t i = 0; i < n; i++)
		if (refs[i].namespace && ns && strcmp(refs[i].namespace, ns))
			cfg_error(ctx, spec,
				  "targetRef %s/%s in namespace %s: cross namespace referencing is "
				  "not currently supported",
				  refs[i].kind ? refs[i].kind : "?",
				  refs[i].name ? refs[i].name : "?", refs[i].namespace);
	return ctx->nerrors == before ? 0 : -EINVAL;
}

void config_target_refs_free(struct config_target_ref *refs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(refs[i].group);
		free(refs[i].kind);
		free(refs[i].name);
		free(refs[i].namespace);
	}
	free(refs);
}
