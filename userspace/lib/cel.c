// SPDX-License-Identifier: Apache-2.0
/* A subset of CEL over Envoy's attributes (ambit/cel.h): a recursive-descent parser into a
 * tree, evaluated per request. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/cel.h"
#include "ambit/re2.h"

#define CEL_MAX_NODES 256
#define CEL_MAX_DEPTH 32
#define CEL_MAX_SRC 4096

/* Envoy's attributes this subset knows, with their types. */
static const struct {
	const char *name;
	enum cel_type type;
	bool map;
} attrs[] = {
    {"request.method", CEL_STRING, false},
    {"request.path", CEL_STRING, false},
    {"request.url_path", CEL_STRING, false},
    {"request.host", CEL_STRING, false},
    {"request.scheme", CEL_STRING, false},
    {"request.protocol", CEL_STRING, false},
    {"request.id", CEL_STRING, false},
    {"request.useragent", CEL_STRING, false},
    {"request.referer", CEL_STRING, false},
    {"request.size", CEL_INT, false},
    {"request.total_size", CEL_INT, false},
    {"request.headers", CEL_STRING, true},
    {"response.code", CEL_INT, false},
    {"response.code_details", CEL_STRING, false},
    {"response.grpc_status", CEL_INT, false},
    {"response.size", CEL_INT, false},
    {"response.flags_text", CEL_STRING, false},
    {"response.headers", CEL_STRING, true},
    {"connection.mtls", CEL_BOOL, false},
    {"connection.requested_server_name", CEL_STRING, false},
    {"source.address", CEL_STRING, false},
    {"source.port", CEL_INT, false},
    {"source.principal", CEL_STRING, false},
    {"destination.address", CEL_STRING, false},
    {"destination.port", CEL_INT, false},
    {"destination.principal", CEL_STRING, false},
    {"upstream.address", CEL_STRING, false},
    {"xds.cluster_name", CEL_STRING, false},
};

enum op {
	OP_LIT,
	OP_ATTR,
	OP_LIST,
	OP_NOT,
	OP_NEG,
	OP_AND,
	OP_OR,
	OP_COND,
	OP_EQ,
	OP_NE,
	OP_LT,
	OP_LE,
	OP_GT,
	OP_GE,
	OP_IN,
	OP_STARTS,
	OP_ENDS,
	OP_CONTAINS,
	OP_MATCHES,
};

struct node {
	enum op op;
	int a, b, c; /* children (-1: none); OP_LIST: first item, items chained by c */
	struct cel_value v;
	const char *attr; /* OP_ATTR: the name (static) */
	char *key;	  /* OP_ATTR of a map: the key */
	struct re2 *re;	  /* OP_MATCHES */
};

struct cel_expr {
	struct node n[CEL_MAX_NODES];
	int count, root;
	char *strings[CEL_MAX_NODES]; /* string literals */
	int n_strings;
};

struct parser {
	struct cel_expr *e;
	const char *src, *p;
	char *err;
	size_t errlen;
	bool failed;
	int depth;
};

static void perr(struct parser *ps, const char *what)
{
	if (ps->failed)
		return;
	ps->failed = true;
	snprintf(ps->err, ps->errlen, "%s at offset %zu", what, (size_t)(ps->p - ps->src));
}

static void skip_ws(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
		ps->p++;
}

static bool eat(struct parser *ps, const char *tok)
{
	size_t n = strlen(tok);

	skip_ws(ps);
	if (strncmp(ps->p, tok, n))
		return false;
	ps->p += n;
	return true;
}

static int node(struct parser *ps, enum op op, int a, int b)
{
	struct node *x;

	if (ps->failed)
		return -1;
	if (ps->e->count == CEL_MAX_NODES) {
		perr(ps, "expression too long");
		return -1;
	}
	x = &ps->e->n[ps->e->count];
	memset(x, 0, sizeof(*x));
	x->op = op;
	x->a = a;
	x->b = b;
	x->c = -1;
	return ps->e->count++;
}

static bool is_ident(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (!first && c >= '0' && c <= '9');
}

/* A quoted string literal ('...' or "...", with \\ \' \" \n \t escapes) into a new string. */
static char *string_lit(struct parser *ps)
{
	char q = *ps->p, *out, *o;
	const char *s = ++ps->p;

	if (!(out = o = malloc(strlen(s) + 1))) {
		perr(ps, "out of memory");
		return NULL;
	}
	for (; *s && *s != q; s++) {
		if (*s != '\\') {
			*o++ = *s;
			continue;
		}
		s++;
		switch (*s) {
		case 'n': *o++ = '\n'; break;
		case 't': *o++ = '\t'; break;
		case '\\':
		case '\'':
		case '"': *o++ = *s; break;
		default:
			ps->p = s;
			free(out);
			perr(ps, "unknown escape in a string");
			return NULL;
		}
	}
	if (*s != q) {
		ps->p = s;
		free(out);
		perr(ps, "unterminated string");
		return NULL;
	}
	*o = '\0';
	ps->p = s + 1;
	if (ps->e->n_strings == CEL_MAX_NODES) {
		free(out);
		perr(ps, "too many strings");
		return NULL;
	}
	ps->e->strings[ps->e->n_strings++] = out;
	return out;
}

static int expr(struct parser *ps);

static int method(struct parser *ps, int target)
{
	static const struct {
		const char *name;
		enum op op;
	} methods[] = {{"startsWith", OP_STARTS},
		       {"endsWith", OP_ENDS},
		       {"contains", OP_CONTAINS},
		       {"matches", OP_MATCHES}};
	char name[32];
	size_t n = 0;
	int x, arg;

	while (is_ident(*ps->p, n == 0) && n < sizeof(name) - 1)
		name[n++] = *ps->p++;
	name[n] = '\0';
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (strcmp(name, methods[i].name))
			continue;
		if (!eat(ps, "(")) {
			perr(ps, "expected ( after a method");
			return -1;
		}
		skip_ws(ps);
		if (*ps->p != '\'' && *ps->p != '"') {
			perr(ps, "a method takes one string literal");
			return -1;
		}
		arg = node(ps, OP_LIT, -1, -1);
		if (arg < 0)
			return -1;
		ps->e->n[arg].v.type = CEL_STRING;
		if (!(ps->e->n[arg].v.s = string_lit(ps)))
			return -1;
		if (!eat(ps, ")")) {
			perr(ps, "expected )");
			return -1;
		}
		x = node(ps, methods[i].op, target, arg);
		if (x >= 0 && methods[i].op == OP_MATCHES) {
			char why[128], *pat;

			if (asprintf(&pat, "(?s).*(?:%s).*", ps->e->n[arg].v.s) < 0) {
				perr(ps, "out of memory");
				return -1;
			}
			ps->e->n[x].re = re2_compile(pat, 0, why, sizeof(why));
			free(pat);
			if (!ps->e->n[x].re) {
				perr(ps, "matches(): the regex does not compile");
				return -1;
			}
		}
		return x;
	}
	perr(ps, "unknown method (startsWith, endsWith, contains, matches)");
	return -1;
}

static int attribute(struct parser *ps)
{
	char name[64];
	size_t n = 0;
	int x = -1;
	const char *start = ps->p;

	while ((is_ident(*ps->p, n == 0) || (*ps->p == '.' && n && is_ident(ps->p[1], true))) &&
	       n < sizeof(name) - 1) {
		name[n++] = *ps->p++;
		name[n] = '\0';
		for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
			if (!strcmp(name, attrs[i].name) && !is_ident(*ps->p, false)) {
				x = node(ps, OP_ATTR, -1, -1);
				if (x < 0)
					return -1;
				ps->e->n[x].attr = attrs[i].name;
				ps->e->n[x].v.type = attrs[i].type;
				if (!attrs[i].map)
					return x;
				if (!eat(ps, "[")) {
					perr(ps, "a headers map takes ['name']");
					return -1;
				}
				skip_ws(ps);
				if (*ps->p != '\'' && *ps->p != '"') {
					perr(ps, "a headers key is a string literal");
					return -1;
				}
				if (!(ps->e->n[x].key = string_lit(ps)))
					return -1;
				for (char *k = ps->e->n[x].key; *k; k++)
					if (*k >= 'A' && *k <= 'Z')
						*k = (char)(*k - 'A' + 'a');
				if (!eat(ps, "]")) {
					perr(ps, "expected ]");
					return -1;
				}
				return x;
			}
	}
	ps->p = start;
	perr(ps, "unknown attribute");
	return -1;
}

static int primary(struct parser *ps)
{
	int x;

	skip_ws(ps);
	if (ps->failed)
		return -1;
	if (eat(ps, "(")) {
		x = expr(ps);
		if (!eat(ps, ")"))
			perr(ps, "expected )");
	} else if (*ps->p == '[') {
		int prev = -1;

		ps->p++;
		x = node(ps, OP_LIST, -1, -1);
		while (x >= 0 && !eat(ps, "]")) {
			int item = primary(ps);

			if (item < 0)
				return -1;
			if (ps->e->n[item].op != OP_LIT) {
				perr(ps, "a list holds literals");
				return -1;
			}
			if (prev < 0)
				ps->e->n[x].a = item;
			else
				ps->e->n[prev].c = item;
			prev = item;
			if (!eat(ps, ",") && (skip_ws(ps), *ps->p != ']')) {
				perr(ps, "expected , or ]");
				return -1;
			}
		}
	} else if (*ps->p == '\'' || *ps->p == '"') {
		x = node(ps, OP_LIT, -1, -1);
		if (x >= 0) {
			ps->e->n[x].v.type = CEL_STRING;
			ps->e->n[x].v.s = string_lit(ps);
		}
	} else if ((*ps->p >= '0' && *ps->p <= '9') ||
		   (*ps->p == '-' && ps->p[1] >= '0' && ps->p[1] <= '9')) {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(ps->p, &end, 10);
		if (errno || is_ident(*end, false)) {
			perr(ps, "bad integer");
			return -1;
		}
		ps->p = end;
		if (*ps->p == 'u')
			ps->p++;
		x = node(ps, OP_LIT, -1, -1);
		if (x >= 0) {
			ps->e->n[x].v.type = CEL_INT;
			ps->e->n[x].v.i = v;
		}
	} else if (!strncmp(ps->p, "true", 4) && !is_ident(ps->p[4], false)) {
		ps->p += 4;
		x = node(ps, OP_LIT, -1, -1);
		if (x >= 0)
			ps->e->n[x].v = (struct cel_value){.type = CEL_BOOL, .b = true};
	} else if (!strncmp(ps->p, "false", 5) && !is_ident(ps->p[5], false)) {
		ps->p += 5;
		x = node(ps, OP_LIT, -1, -1);
		if (x >= 0)
			ps->e->n[x].v = (struct cel_value){.type = CEL_BOOL};
	} else if (!strncmp(ps->p, "null", 4) && !is_ident(ps->p[4], false)) {
		ps->p += 4;
		x = node(ps, OP_LIT, -1, -1);
	} else if (is_ident(*ps->p, true)) {
		x = attribute(ps);
	} else {
		perr(ps, *ps->p ? "unexpected character" : "unexpected end");
		return -1;
	}
	while (x >= 0 && !ps->failed && *ps->p == '.' && is_ident(ps->p[1], true)) {
		ps->p++;
		x = method(ps, x);
	}
	return ps->failed ? -1 : x;
}

static int cmp(struct parser *ps)
{
	static const struct {
		const char *tok;
		enum op op;
	} ops[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE}, {">=", OP_GE},
		   {"<", OP_LT},  {">", OP_GT},	 {"in ", OP_IN}};
	int a = primary(ps);

	if (a < 0)
		return -1;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (eat(ps, ops[i].tok)) {
			int b = primary(ps);

			return b < 0 ? -1 : node(ps, ops[i].op, a, b);
		}
	return a;
}

static int unary(struct parser *ps)
{
	int a;

	if (++ps->depth > CEL_MAX_DEPTH) {
		perr(ps, "nested too deep");
		return -1;
	}
	if (eat(ps, "!")) {
		a = unary(ps);
		a = a < 0 ? -1 : node(ps, OP_NOT, a, -1);
	} else if (eat(ps, "-")) {
		a = unary(ps);
		a = a < 0 ? -1 : node(ps, OP_NEG, a, -1);
	} else {
		a = cmp(ps);
	}
	ps->depth--;
	return a;
}

static int and_expr(struct parser *ps)
{
	int a = unary(ps);

	while (a >= 0 && eat(ps, "&&")) {
		int b = unary(ps);

		a = b < 0 ? -1 : node(ps, OP_AND, a, b);
	}
	return a;
}

static int or_expr(struct parser *ps)
{
	int a = and_expr(ps);

	while (a >= 0 && eat(ps, "||")) {
		int b = and_expr(ps);

		a = b < 0 ? -1 : node(ps, OP_OR, a, b);
	}
	return a;
}

static int expr(struct parser *ps)
{
	int a, b, c, x;

	if (++ps->depth > CEL_MAX_DEPTH) {
		perr(ps, "nested too deep");
		return -1;
	}
	a = or_expr(ps);
	if (a >= 0 && eat(ps, "?")) {
		b = expr(ps);
		if (b >= 0 && !eat(ps, ":")) {
			perr(ps, "expected : of ?:");
			b = -1;
		}
		c = b < 0 ? -1 : expr(ps);
		x = c < 0 ? -1 : node(ps, OP_COND, a, b);
		if (x >= 0)
			ps->e->n[x].c = c;
		a = x;
	}
	ps->depth--;
	return a;
}

void cel_free(struct cel_expr *e)
{
	if (!e)
		return;
	for (int i = 0; i < e->count; i++)
		re2_free(e->n[i].re);
	for (int i = 0; i < e->n_strings; i++)
		free(e->strings[i]);
	free(e);
}

struct cel_expr *cel_parse(const char *src, char *err, size_t errlen)
{
	struct parser ps = {.src = src, .p = src, .err = err, .errlen = errlen};

	if (err && errlen)
		err[0] = '\0';
	if (strlen(src) > CEL_MAX_SRC) {
		snprintf(err, errlen, "expression longer than %d bytes", CEL_MAX_SRC);
		return NULL;
	}
	if (!(ps.e = calloc(1, sizeof(*ps.e)))) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ps.e->root = expr(&ps);
	skip_ws(&ps);
	if (!ps.failed && *ps.p)
		perr(&ps, "unexpected text after the expression");
	if (ps.failed) {
		cel_free(ps.e);
		return NULL;
	}
	return ps.e;
}

bool cel_uses(const struct cel_expr *e, const char *name)
{
	for (int i = 0; e && i < e->count; i++)
		if (e->n[i].op == OP_ATTR && !strcmp(e->n[i].attr, name))
			return true;
	return false;
}

/* ---- evaluation ---- */

struct ev {
	const struct cel_expr *e;
	cel_attr_fn fn;
	void *arg;
};

static bool eval(const struct ev *ev, int i, struct cel_value *out);

static bool equal(const struct cel_value *a, const struct cel_value *b, bool *ok)
{
	*ok = a->type == b->type || a->type == CEL_NULL || b->type == CEL_NULL;
	if (!*ok || a->type != b->type)
		return false;
	switch (a->type) {
	case CEL_INT: return a->i == b->i;
	case CEL_STRING: return !strcmp(a->s, b->s);
	case CEL_BOOL: return a->b == b->b;
	case CEL_NULL: return true;
	}
	return false;
}

static bool order(const struct cel_value *a, const struct cel_value *b, enum op op,
		  struct cel_value *out)
{
	int c;

	if (a->type != b->type || (a->type != CEL_INT && a->type != CEL_STRING))
		return false;
	c = a->type == CEL_INT ? (a->i > b->i) - (a->i < b->i) : strcmp(a->s, b->s);
	out->type = CEL_BOOL;
	out->b = op == OP_LT ? c < 0 : op == OP_LE ? c <= 0 : op == OP_GT ? c > 0 : c >= 0;
	return true;
}

static bool string_op(const struct node *x, const struct cel_value *a, const struct cel_value *b,
		      struct cel_value *out)
{
	size_t la, lb;

	if (a->type != CEL_STRING || b->type != CEL_STRING)
		return false;
	la = strlen(a->s);
	lb = strlen(b->s);
	out->type = CEL_BOOL;
	switch (x->op) {
	case OP_STARTS: out->b = la >= lb && !memcmp(a->s, b->s, lb); break;
	case OP_ENDS: out->b = la >= lb && !memcmp(a->s + la - lb, b->s, lb); break;
	case OP_CONTAINS: out->b = strstr(a->s, b->s) != NULL; break;
	default: out->b = re2_match(x->re, a->s, la) > 0; break;
	}
	return true;
}

static bool eval(const struct ev *ev, int i, struct cel_value *out)
{
	const struct node *x = &ev->e->n[i];
	struct cel_value a, b;
	bool ok;

	memset(out, 0, sizeof(*out));
	switch (x->op) {
	case OP_LIT: *out = x->v; return true;
	case OP_ATTR:
		if (!ev->fn(ev->arg, x->attr, x->key, out))
			return false;
		return out->type == x->v.type;
	case OP_LIST: return false; /* only as the right of `in` */
	case OP_NOT:
		if (!eval(ev, x->a, &a) || a.type != CEL_BOOL)
			return false;
		*out = (struct cel_value){.type = CEL_BOOL, .b = !a.b};
		return true;
	case OP_NEG:
		if (!eval(ev, x->a, &a) || a.type != CEL_INT)
			return false;
		*out = (struct cel_value){.type = CEL_INT, .i = -a.i};
		return true;
	case OP_AND:
	case OP_OR: {
		/* CEL's commutative logic: an error on one side is absorbed by a decisive other. */
		bool ea = eval(ev, x->a, &a) && a.type == CEL_BOOL;
		bool eb = eval(ev, x->b, &b) && b.type == CEL_BOOL;
		bool decisive = x->op == OP_OR;

		out->type = CEL_BOOL;
		if ((ea && a.b == decisive) || (eb && b.b == decisive)) {
			out->b = decisive;
			return true;
		}
		out->b = !decisive;
		return ea && eb;
	}
	case OP_COND:
		if (!eval(ev, x->a, &a) || a.type != CEL_BOOL)
			return false;
		return eval(ev, a.b ? x->b : x->c, out);
	case OP_EQ:
	case OP_NE:
		if (!eval(ev, x->a, &a) || !eval(ev, x->b, &b))
			return false;
		out->type = CEL_BOOL;
		out->b = equal(&a, &b, &ok) == (x->op == OP_EQ);
		return ok;
	case OP_LT:
	case OP_LE:
	case OP_GT:
	case OP_GE: return eval(ev, x->a, &a) && eval(ev, x->b, &b) && order(&a, &b, x->op, out);
	case OP_IN:
		if (!eval(ev, x->a, &a) || ev->e->n[x->b].op != OP_LIST)
			return false;
		out->type = CEL_BOOL;
		for (int it = ev->e->n[x->b].a; it >= 0; it = ev->e->n[it].c)
			if (equal(&a, &ev->e->n[it].v, &ok) && ok) {
				out->b = true;
				break;
			}
		return true;
	case OP_STARTS:
	case OP_ENDS:
	case OP_CONTAINS:
	case OP_MATCHES:
		return eval(ev, x->a, &a) && eval(ev, x->b, &b) && string_op(x, &a, &b, out);
	}
	return false;
}

bool cel_eval_value(const struct cel_expr *e, cel_attr_fn fn, void *arg, struct cel_value *out)
{
	struct ev ev = {e, fn, arg};

	return e && e->root >= 0 && eval(&ev, e->root, out);
}

bool cel_eval(const struct cel_expr *e, cel_attr_fn fn, void *arg)
{
	struct ev ev = {e, fn, arg};
	struct cel_value v;

	return e && e->root >= 0 && eval(&ev, e->root, &v) && v.type == CEL_BOOL && v.b;
}
