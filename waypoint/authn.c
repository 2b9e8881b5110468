// SPDX-License-Identifier: Apache-2.0
/* RequestAuthentication: JWTs found, verified and passed on (authn.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cjson/cJSON.h>

#include "authn.h"

enum place {
	PLACE_HEADER, /* Envoy extracts the headers' tokens first, */
	PLACE_PARAM,  /* then the query's, */
	PLACE_COOKIE, /* then the cookies' */
};

/* A token found: where, and the bytes; once decoded and verified, its claims and rule. */
struct found {
	const char *tok;
	size_t len;
	enum place place;
	const char *name;   /* the place as the rule names it: header, parameter or cookie */
	const char *prefix; /* a header's value prefix, or NULL */
	const char *header; /* the field it came from, or NULL */
	size_t seq;	    /* the order it was found in */
	struct wp_jwt jwt;
	const struct l7_jwt *rule; /* the rule that verified it */
};

struct found_set {
	struct found v[WP_AUTHN_MAX_TOKENS];
	size_t n;
	bool too_many;
};

/* The characters of a JWT: base64url, its padding and the dots (a table: every request's
 * token is read through it). */
static const bool jwt_char[256] = {
    ['A' ... 'Z'] = true, ['a' ... 'z'] = true, ['0' ... '9'] = true, ['-'] = true,
    ['_'] = true,	  ['.'] = true,		['='] = true,
};

/* The token at @v (@n bytes): its length up to the first character no JWT has. */
static size_t token_len(const char *v, size_t n)
{
	size_t i = 0;

	while (i < n && jwt_char[(unsigned char)v[i]])
		i++;
	return i;
}

/* Adds the token @tok (@len bytes) found at a place, once: two rules may name the same place. */
static void add_found(struct found_set *fs, const char *tok, size_t len, enum place place,
		      const char *name, const char *prefix, const char *header)
{
	for (size_t i = 0; i < fs->n; i++)
		if (fs->v[i].tok == tok && fs->v[i].len == len)
			return;
	if (fs->n == WP_AUTHN_MAX_TOKENS) {
		fs->too_many = true;
		return;
	}
	fs->v[fs->n] = (struct found){.tok = tok,
				      .len = len,
				      .place = place,
				      .name = name,
				      .prefix = prefix,
				      .header = header,
				      .seq = fs->n};
	fs->n++;
}

/* Every field @name with @prefix (any case): a token each. */
static void from_header(const struct http_fields *f, const char *name, const char *prefix,
			struct found_set *fs)
{
	size_t pl = prefix ? strlen(prefix) : 0, len;

	for (size_t i = 0; i < f->n; i++) {
		const struct http_field *x = &f->items[i];
		const char *v = x->value;
		size_t n = x->value_len;

		if (strcasecmp(x->name, name))
			continue;
		if (pl) {
			if (n < pl || strncasecmp(v, prefix, pl))
				continue;
			v += pl;
			n -= pl;
		}
		while (n && (*v == ' ' || *v == '\t')) {
			v++;
			n--;
		}
		if ((len = token_len(v, n)))
			add_found(fs, v, len, PLACE_HEADER, name, prefix, x->name);
	}
}

/* The token of the element at @p (@el bytes: "name=value" of a query or a Cookie field), or 0. */
static size_t pair_token(const char *p, size_t el, const char *name, size_t nl)
{
	if (el <= nl || p[nl] != '=' || strncmp(p, name, nl))
		return 0;
	return token_len(p + nl + 1, el - nl - 1);
}

/* Every parameter @name of the query: a token each (Envoy reads the first only). */
static void from_param(const char *target, const char *name, struct found_set *fs)
{
	const char *q = strchr(target, '?'), *p;
	size_t nl = strlen(name), len;

	for (p = q ? q + 1 : NULL; p && *p;) {
		size_t el = strcspn(p, "&#");

		if ((len = pair_token(p, el, name, nl)))
			add_found(fs, p + nl + 1, len, PLACE_PARAM, name, NULL, NULL);
		p += el;
		if (*p != '&')
			break;
		p++;
	}
}

/* Every cookie @name of every Cookie field: a token each. */
static void from_cookie(const struct http_fields *f, const char *name, struct found_set *fs)
{
	size_t nl = strlen(name), len;

	for (size_t i = 0; i < f->n; i++) {
		const char *p = f->items[i].value;

		if (strcmp(f->items[i].name, "cookie"))
			continue;
		while (*p) {
			size_t el;

			p += strspn(p, " ;");
			el = strcspn(p, ";");
			if ((len = pair_token(p, el, name, nl)))
				add_found(fs, p + nl + 1, len, PLACE_COOKIE, name, NULL, NULL);
			p += el;
		}
	}
}

/* Whether rule @r names no place: then Istio's defaults are its places. */
static bool default_places(const struct config_jwt_rule *r)
{
	return !r->n_from_headers && !r->from_params.n && !r->from_cookies.n;
}

/* Every token at one of @r's places. */
static void find_tokens(const struct config_jwt_rule *r, const struct http_fields *f,
			const char *target, struct found_set *fs)
{
	if (default_places(r)) {
		from_header(f, "authorization", "Bearer ", fs);
		from_param(target, "access_token", fs);
		return;
	}
	for (size_t i = 0; i < r->n_from_headers; i++)
		from_header(f, r->from_headers[i].name, r->from_headers[i].prefix, fs);
	for (size_t i = 0; i < r->from_params.n; i++)
		from_param(target, r->from_params.items[i], fs);
	for (size_t i = 0; i < r->from_cookies.n; i++)
		from_cookie(f, r->from_cookies.items[i], fs);
}

static bool same_header_place(const char *name, const char *prefix, const struct found *t)
{
	size_t a = prefix ? strlen(prefix) : 0, b = t->prefix ? strlen(t->prefix) : 0;

	return !strcasecmp(name, t->name) && a == b && (!a || !strncasecmp(prefix, t->prefix, a));
}

/* Whether @r names the place @t was found at (Envoy: the place's issuers include @r's). */
static bool rule_names_place(const struct config_jwt_rule *r, const struct found *t)
{
	if (default_places(r))
		return t->place == PLACE_HEADER
			   ? same_header_place("authorization", "Bearer ", t)
			   : t->place == PLACE_PARAM && !strcmp(t->name, "access_token");
	switch (t->place) {
	case PLACE_HEADER:
		for (size_t i = 0; i < r->n_from_headers; i++)
			if (same_header_place(r->from_headers[i].name, r->from_headers[i].prefix,
					      t))
				return true;
		return false;
	case PLACE_PARAM: return config_strings_has(&r->from_params, t->name);
	default: return config_strings_has(&r->from_cookies, t->name);
	}
}

/* Envoy's map key of a header place: the lower-case name, then the prefix. */
static int header_key_cmp(const struct found *a, const struct found *b)
{
	const char *s[2][2] = {{a->name, a->prefix ? a->prefix : ""},
			       {b->name, b->prefix ? b->prefix : ""}};
	size_t i[2] = {0, 0}, part[2] = {0, 0};

	for (;;) {
		int c[2];

		for (int k = 0; k < 2; k++) {
			while (part[k] < 2 && !s[k][part[k]][i[k]]) {
				part[k]++;
				i[k] = 0;
			}
			c[k] = part[k] < 2 ? (unsigned char)s[k][part[k]][i[k]] : -1;
			if (part[k] == 0)
				c[k] = tolower(c[k]);
		}
		if (c[0] != c[1])
			return c[0] < c[1] ? -1 : 1;
		if (c[0] < 0)
			return 0;
		i[0]++;
		i[1]++;
	}
}

/*
 * Envoy's order of extraction (extractor.cc): header places by name and prefix, then query
 * parameters by name, then cookies by name; at one place, as they come in the request.
 */
static int found_cmp(const void *x, const void *y)
{
	const struct found *a = x, *b = y;
	int c;

	if (a->place != b->place)
		return a->place < b->place ? -1 : 1;
	c = a->place == PLACE_HEADER ? header_key_cmp(a, b) : strcmp(a->name, b->name);
	if (c)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/*
 * Verifies token @t against the service's rules of its issuer that name its place; the first
 * that accepts it is its rule. WP_JWT_OK or why not (the first such rule's reason).
 */
static enum wp_jwt_status verify_one(const struct wp_gen *g, const struct l7_service *s,
				     struct found *t, time_t now, struct wp_jwt_cache *cache)
{
	enum wp_jwt_status st = wp_jwt_decode(t->tok, t->len, &t->jwt), first = WP_JWT_OK;

	if (st)
		return st;
	for (size_t j = 0; j < s->n_jwt; j++) {
		size_t ri = s->jwt[j];
		const struct l7_jwt *x = &g->l7->jwt[ri];

		if (!x->rule.issuer || !t->jwt.iss || strcmp(x->rule.issuer, t->jwt.iss) ||
		    !rule_names_place(&x->rule, t))
			continue;
		st = wp_jwt_verify(t->tok, t->len, &t->jwt, g->jwks[ri], &x->rule.audiences, now,
				   cache);
		if (!st) {
			t->rule = x;
			return WP_JWT_OK;
		}
		if (!first)
			first = st;
	}
	return first ? first : WP_JWT_UNKNOWN_ISSUER;
}

void wp_authn_clear(struct wp_authn *a)
{
	free(a->principal);
	wp_jwt_clear(&a->jwt);
	memset(a, 0, sizeof(*a));
}

/* The claim's value as a header value: strings as they are, other JSON as its text. */
static int claim_header(struct http_fields *f, const char *header, const cJSON *v)
{
	char *text;
	int err;

	if (!v || cJSON_IsNull(v))
		return 0;
	if (cJSON_IsString(v))
		return http_fields_set(f, header, v->valuestring);
	if (!(text = cJSON_PrintUnformatted(v)))
		return -ENOMEM;
	err = http_fields_set(f, header, text);
	free(text);
	return err;
}

/* After a token verified: where it goes and what it says, as the rule asks. */
static int pass_on(const struct found *t, struct http_fields *f)
{
	const struct config_jwt_rule *r = &t->rule->rule;
	const struct wp_jwt *jwt = &t->jwt;

	if (r->output_payload_to_header) {
		char *p = strndup(jwt->payload_b64, jwt->payload_b64_len);
		int err = p ? http_fields_set(f, r->output_payload_to_header, p) : -ENOMEM;

		free(p);
		if (err)
			return err;
	}
	for (size_t i = 0; i < r->n_output_claim_to_headers; i++) {
		const struct config_claim_header *c = &r->output_claim_to_headers[i];

		if (claim_header(f, c->header,
				 cJSON_GetObjectItemCaseSensitive(jwt->payload, c->claim)))
			return -ENOMEM;
	}
	/* The field's own name: removing fields leaves their bytes in @f's arena. */
	if (t->header && !r->forward_original_token)
		http_fields_remove(f, t->header);
	return 0;
}

/* The rules' output headers as the client sent them: never passed on (Envoy sanitizes them). */
static void sanitize(const struct wp_gen *g, const struct l7_service *s, struct http_fields *f)
{
	for (size_t j = 0; j < s->n_jwt; j++) {
		const struct config_jwt_rule *r = &g->l7->jwt[s->jwt[j]].rule;

		if (r->output_payload_to_header)
			http_fields_remove(f, r->output_payload_to_header);
		for (size_t i = 0; i < r->n_output_claim_to_headers; i++)
			http_fields_remove(f, r->output_claim_to_headers[i].header);
	}
}

int wp_authn_check(const struct wp_gen *g, const struct l7_service *s, struct http_fields *f,
		   const char *target, time_t now, struct wp_jwt_cache *cache, struct wp_authn *out)
{
	struct found_set fs;
	enum wp_jwt_status st = WP_JWT_OK;
	int err = 0;

	memset(out, 0, sizeof(*out));
	fs.n = 0;
	fs.too_many = false;
	if (!s->n_jwt)
		return 0;
	sanitize(g, s, f);
	for (size_t i = 0; i < s->n_jwt; i++)
		find_tokens(&g->l7->jwt[s->jwt[i]].rule, f, target, &fs);
	if (fs.too_many) {
		out->error = "Found multiple Jwt tokens";
		return 0;
	}
	qsort(fs.v, fs.n, sizeof(fs.v[0]), found_cmp);
	/* Every token must verify (Envoy's authenticator: a bad one beside a good one would
	 * reach the backend as if it were the good one). */
	for (size_t i = 0; i < fs.n && !st; i++)
		st = verify_one(g, s, &fs.v[i], now, cache);
	if (st) {
		out->error = wp_jwt_status_text(st);
		goto out;
	}
	if (!fs.n)
		return 0;
	/* The first token Envoy extracts is the last it verifies, whose payload its metadata
	 * keeps: the request principal and claims. Its outputs are set last, so they win. */
	for (size_t i = fs.n; i-- > 0 && !err;)
		err = pass_on(&fs.v[i], f);
	if (err)
		goto out;
	out->rule = fs.v[0].rule;
	out->jwt = fs.v[0].jwt;
	memset(&fs.v[0].jwt, 0, sizeof(fs.v[0].jwt));
	if (asprintf(&out->principal, "%s/%s", out->jwt.iss, out->jwt.sub ? out->jwt.sub : "") <
	    0) {
		out->principal = NULL;
		err = -ENOMEM;
	}
out:
	for (size_t i = 0; i < fs.n; i++)
		wp_jwt_clear(&fs.v[i].jwt);
	return err;
}
