// SPDX-License-Identifier: Apache-2.0
/*
 * The libyaml layer of the config loader: documents with their marks, scalar resolution,
 * the schema walker and the bounds that keep hostile input harmless. libyaml's document
 * loader is iterative and shares aliased nodes instead of copying them, so the only work
 * that can blow up is ours; cfg_check_document() bounds it before any schema walk.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "decode.h"

static char *cfg_vasprintf(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

void cfg_diag_at(struct cfg_ctx *ctx, int line, int column, bool error, const char *msg)
{
	struct config_diags *ds = ctx->diags;
	struct config_diag *items, *d;

	if (error)
		ctx->nerrors++;
	if (ctx->probe)
		cfg_probe_diag(ctx->probe, ctx->plen ? ctx->path : "", msg);
	/* A garbage file can produce thousands of errors; the first ones are the useful ones. */
	if (!ds || ctx->ndiags >= CFG_MAX_DIAGS_PER_FILE)
		return;
	items = realloc(ds->items, (ds->n + 1) * sizeof(*items));
	if (!items)
		return;
	ds->items = items;
	d = &items[ds->n];
	memset(d, 0, sizeof(*d));
	d->file = cfg_strdup(ctx->file);
	d->line = line;
	d->column = column;
	d->error = error;
	d->object = ctx->object ? cfg_strdup(ctx->object) : NULL;
	d->field = ctx->plen ? cfg_strdup(ctx->path) : NULL;
	d->message = cfg_strdup(msg ? msg : "out of memory");
	ds->n++;
	ctx->ndiags++;
}

void cfg_diag(struct cfg_ctx *ctx, const yaml_node_t *node, bool error, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = cfg_vasprintf(fmt, ap);
	va_end(ap);
	cfg_diag_at(ctx, node ? (int)node->start_mark.line + 1 : 0,
		    node ? (int)node->start_mark.column + 1 : 0, error, msg);
	free(msg);
}

static size_t cfg_path_append(struct cfg_ctx *ctx, const char *seg)
{
	size_t old = ctx->plen;
	int n = snprintf(ctx->path + ctx->plen, sizeof(ctx->path) - ctx->plen, "%s", seg);

	if (n < 0 || (size_t)n >= sizeof(ctx->path) - ctx->plen)
		ctx->plen = sizeof(ctx->path) - 1;
	else
		ctx->plen += (size_t)n;
	return old;
}

size_t cfg_path_push(struct cfg_ctx *ctx, const char *name)
{
	size_t old = ctx->plen;

	if (ctx->plen)
		cfg_path_append(ctx, ".");
	cfg_path_append(ctx, name);
	return old;
}

size_t cfg_path_push_index(struct cfg_ctx *ctx, size_t i)
{
	char seg[32];

	snprintf(seg, sizeof(seg), "[%zu]", i);
	return cfg_path_append(ctx, seg);
}

void cfg_path_pop(struct cfg_ctx *ctx, size_t len)
{
	ctx->plen = len;
	ctx->path[len] = '\0';
}

yaml_node_t *cfg_node(struct cfg_ctx *ctx, int index)
{
	return yaml_document_get_node(ctx->doc, index);
}

static bool str_in(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(s, *set) == 0)
			return true;
	return false;
}

static bool is_int_literal(const char *s)
{
	if (*s == '+' || *s == '-')
		s++;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
		s += 2;
		if (!*s)
			return false;
		return strspn(s, "0123456789abcdefABCDEF_") == strlen(s);
	}
	return *s && strspn(s, "0123456789_") == strlen(s);
}

static bool is_float_literal(const char *s)
{
	static const char *const special[] = {".inf",  ".Inf", ".INF", "-.inf", "-.Inf", "-.INF",
					      "+.inf", ".nan", ".NaN", ".NAN",	NULL};
	char *end;

	if (str_in(s, special))
		return true;
	if (!strpbrk(s, "0123456789") || strpbrk(s, "xX"))
		return false;
	strtod(s, &end);
	return *end == '\0' && *s != '\0' && !strchr(" \t", *s);
}

/*
 * Kubernetes decodes YAML with go-yaml's YAML 1.1 resolver: plain yes/no/on/off are booleans,
 * so `version: on` is not a string to the API server. Quoted scalars are always strings.
 */
enum cfg_scalar cfg_scalar_kind(const yaml_node_t *node)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	static const char *const bools[] = {
	    "true", "True", "TRUE", "false", "False", "FALSE", "yes", "Yes", "YES", "no",
	    "No",   "NO",   "on",   "On",    "ON",    "off",   "Off", "OFF", NULL};
	const char *s = (const char *)node->data.scalar.value;

	if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return CFG_S_STR;
	if (strlen(s) != node->data.scalar.length)
		return CFG_S_STR; /* embedded NUL: certainly not a number */
	if (str_in(s, nulls))
		return CFG_S_NULL;
	if (str_in(s, bools))
		return CFG_S_BOOL;
	if (is_int_literal(s))
		return CFG_S_INT;
	if (is_float_literal(s))
		return CFG_S_FLOAT;
	return CFG_S_STR;
}

const char *cfg_type_name(const yaml_node_t *node)
{
	static const char *const names[] = {"null", "a boolean", "an integer", "a number",
					    "a string"};

	switch (node->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a sequence";
	case YAML_SCALAR_NODE: return names[cfg_scalar_kind(node)];
	default: return "nothing";
	}
}

bool cfg_is_null(const yaml_node_t *node)
{
	return node->type == YAML_SCALAR_NODE && cfg_scalar_kind(node) == CFG_S_NULL;
}

int cfg_get_str(struct cfg_ctx *ctx, yaml_node_t *node, char **out)
{
	if (node->type != YAML_SCALAR_NODE || cfg_scalar_kind(node) != CFG_S_STR) {
		cfg_error(ctx, node, "expected a string, got %s%s", cfg_type_name(node),
			  node->type == YAML_SCALAR_NODE ? " (quote it)" : "");
		return -EINVAL;
	}
	if (strlen((const char *)node->data.scalar.value) != node->data.scalar.length) {
		cfg_error(ctx, node, "string contains a NUL character");
		return -EINVAL;
	}
	*out = cfg_strdup((const char *)node->data.scalar.value);
	if (!*out) {
		cfg_error(ctx, node, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

int cfg_get_int(struct cfg_ctx *ctx, yaml_node_t *node, long long min, long long max,
		long long *out)
{
	const char *s = (const char *)node->data.scalar.value;
	char *end;
	long long v;

	if (node->type != YAML_SCALAR_NODE || cfg_scalar_kind(node) != CFG_S_INT) {
		cfg_error(ctx, node, "expected an integer, got %s", cfg_type_name(node));
		return -EINVAL;
	}
	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || *end || strchr(s, '_')) {
		cfg_error(ctx, node, "integer \"%.32s\" is not representable", s);
		return -EINVAL;
	}
	if (v < min || v > max) {
		cfg_error(ctx, node, "%lld is out of range %lld..%lld", v, min, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int cfg_get_bool(struct cfg_ctx *ctx, yaml_node_t *node, bool *out)
{
	const char *s = (const char *)node->data.scalar.value;

	if (node->type != YAML_SCALAR_NODE || cfg_scalar_kind(node) != CFG_S_BOOL) {
		cfg_error(ctx, node, "expected a boolean, got %s", cfg_type_name(node));
		return -EINVAL;
	}
	*out = strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0 || strcasecmp(s, "on") == 0;
	return 0;
}

yaml_node_t *cfg_map_get(struct cfg_ctx *ctx, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = cfg_node(ctx, p->key);

		if (k && k->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)k->data.scalar.value, key) == 0)
			return cfg_node(ctx, p->value);
	}
	return NULL;
}

static bool cfg_type_ok(const yaml_node_t *v, enum cfg_type type)
{
	enum cfg_scalar sk = v->type == YAML_SCALAR_NODE ? cfg_scalar_kind(v) : CFG_S_NULL;

	switch (type) {
	case CFG_T_STR: return v->type == YAML_SCALAR_NODE && sk == CFG_S_STR;
	case CFG_T_INT: return v->type == YAML_SCALAR_NODE && sk == CFG_S_INT;
	case CFG_T_BOOL: return v->type == YAML_SCALAR_NODE && sk == CFG_S_BOOL;
	case CFG_T_INT_OR_STR:
		return v->type == YAML_SCALAR_NODE && (sk == CFG_S_INT || sk == CFG_S_STR);
	case CFG_T_MAP: return v->type == YAML_MAPPING_NODE;
	case CFG_T_SEQ: return v->type == YAML_SEQUENCE_NODE;
	case CFG_T_ANY: return true;
	}
	return false;
}

static const char *const cfg_type_names[] = {
    [CFG_T_STR] = "a string",
    [CFG_T_INT] = "an integer",
    [CFG_T_BOOL] = "a boolean",
    [CFG_T_MAP] = "a mapping",
    [CFG_T_SEQ] = "a sequence",
    [CFG_T_ANY] = "anything",
    [CFG_T_INT_OR_STR] = "an integer or a string",
};

int cfg_walk_map(struct cfg_ctx *ctx, yaml_node_t *map, const struct cfg_field *fields, void *obj)
{
	int before = ctx->nerrors;
	const struct cfg_field *f;
	yaml_node_pair_t *p;

	if (map->type != YAML_MAPPING_NODE) {
		cfg_error(ctx, map, "expected a mapping, got %s", cfg_type_name(map));
		return -EINVAL;
	}
	if (ctx->probe)
		cfg_probe_table(ctx->probe, ctx->plen ? ctx->path : "", fields);
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = cfg_node(ctx, p->key), *v = cfg_node(ctx, p->value);
		const char *name = (const char *)k->data.scalar.value;
		size_t saved = cfg_path_push(ctx, name);

		for (f = fields; f->name; f++)
			if (strcmp(f->name, name) == 0)
				break;
		if (!f->name) {
			if (strcmp(name, "<<") == 0)
				cfg_error(ctx, k, "YAML merge keys (<<) are not supported");
			else
				cfg_error(ctx, k, "unknown field \"%.64s\"", name);
		} else if (cfg_is_null(v) && f->type != CFG_T_ANY) {
			/* An explicit null is how Kubernetes spells "unset". */
			if (f->flags & CFG_F_REQUIRED)
				cfg_error(ctx, v, "required field is null");
		} else if (!cfg_type_ok(v, f->type)) {
			cfg_error(ctx, v, "expected %s, got %s", cfg_type_names[f->type],
				  cfg_type_name(v));
		} else if (f->parse) {
			f->parse(ctx, v, obj);
		}
		cfg_path_pop(ctx, saved);
	}
	for (f = fields; f->name; f++) {
		yaml_node_t *v;

		if (!(f->flags & CFG_F_REQUIRED))
			continue;
		v = cfg_map_get(ctx, map, f->name);
		if (!v) {
			size_t saved = cfg_path_push(ctx, f->name);

			cfg_error(ctx, map, "required field \"%s\" is missing", f->name);
			cfg_path_pop(ctx, saved);
		}
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

struct check_state {
	unsigned char *state; /* per node index: 0 new, 1 on the current path, 2 done */
	size_t *size;	      /* expanded size of finished nodes */
};

static int key_cmp(const void *a, const void *b)
{
	const yaml_node_t *ka = *(yaml_node_t *const *)a, *kb = *(yaml_node_t *const *)b;
	size_t la = ka->data.scalar.length, lb = kb->data.scalar.length;
	int c = memcmp(ka->data.scalar.value, kb->data.scalar.value, la < lb ? la : lb);

	if (c)
		return c;
	if (la != lb)
		return la < lb ? -1 : 1;
	/* Equal keys: order by position so the report names the second occurrence. */
	return ka->start_mark.index < kb->start_mark.index ? -1 : 1;
}

/* Every key a scalar, none twice: sorted so a hostile 100k-key mapping stays O(n log n). */
static int check_keys(struct cfg_ctx *ctx, yaml_node_t *map)
{
	size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start), i;
	yaml_node_t **keys;
	int err = 0;

	if (!n)
		return 0;
	keys = calloc(n, sizeof(*keys));
	if (!keys) {
		cfg_error(ctx, map, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		keys[i] = cfg_node(ctx, map->data.mapping.pairs.start[i].key);
		if (keys[i]->type != YAML_SCALAR_NODE) {
			cfg_error(ctx, keys[i], "mapping keys must be scalars, got %s",
				  cfg_type_name(keys[i]));
			err = -EINVAL;
			goto out;
		}
	}
	qsort(keys, n, sizeof(*keys), key_cmp);
	for (i = 1; i < n; i++) {
		if (keys[i]->data.scalar.length == keys[i - 1]->data.scalar.length &&
		    !memcmp(keys[i]->data.scalar.value, keys[i - 1]->data.scalar.value,
			    keys[i]->data.scalar.length)) {
			cfg_error(ctx, keys[i], "duplicate key \"%.64s\" (first at line %zu)",
				  (const char *)keys[i]->data.scalar.value,
				  keys[i - 1]->start_mark.line + 1);
			err = -EINVAL;
		}
	}
out:
	free(keys);
	return err;
}

static int check_node(struct cfg_ctx *ctx, struct check_state *st, int index, int depth)
{
	yaml_node_t *n = cfg_node(ctx, index);
	size_t size = 1;
	int err;

	if (!n)
		return -EINVAL;
	if (st->state[index] == 2)
		return 0;
	if (st->state[index] == 1) {
		cfg_error(ctx, n, "alias refers to a node that contains it (recursive alias)");
		return -ELOOP;
	}
	/* The recursion is ours; bound it before the input can exhaust the stack. */
	if (depth > CFG_MAX_DEPTH) {
		cfg_error(ctx, n, "nesting deeper than %d levels", CFG_MAX_DEPTH);
		return -E2BIG;
	}
	st->state[index] = 1;
	if (n->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++) {
			size_t saved =
			    cfg_path_push_index(ctx, (size_t)(it - n->data.sequence.items.start));

			err = check_node(ctx, st, *it, depth + 1);
			cfg_path_pop(ctx, saved);
			if (err)
				return err;
			size += st->size[*it];
			if (size > CFG_MAX_EXPANDED_NODES)
				break;
		}
	} else if (n->type == YAML_MAPPING_NODE) {
		err = check_keys(ctx, n);
		if (err)
			return err;
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = cfg_node(ctx, p->key);
			size_t saved = cfg_path_push(ctx, (const char *)k->data.scalar.value);

			err = check_node(ctx, st, p->value, depth + 1);
			cfg_path_pop(ctx, saved);
			if (err)
				return err;
			size += 1 + st->size[p->value];
			if (size > CFG_MAX_EXPANDED_NODES)
				break;
		}
	}
	if (size > CFG_MAX_EXPANDED_NODES) {
		cfg_error(ctx, n, "more than %d nodes once aliases are expanded (alias bomb?)",
			  CFG_MAX_EXPANDED_NODES);
		return -E2BIG;
	}
	st->size[index] = size;
	st->state[index] = 2;
	return 0;
}

int cfg_check_document(struct cfg_ctx *ctx)
{
	size_t n = (size_t)(ctx->doc->nodes.top - ctx->doc->nodes.start);
	struct check_state st;
	int err;

	st.state = calloc(n + 1, 1);
	st.size = calloc(n + 1, sizeof(*st.size));
	if (!st.state || !st.size) {
		cfg_error(ctx, NULL, "out of memory");
		err = -ENOMEM;
	} else {
		err = check_node(ctx, &st, 1, 0);
	}
	free(st.state);
	free(st.size);
	return err;
}
