// SPDX-License-Identifier: Apache-2.0
/* RequestAuthentication: JWTs found, verified and passed on (authn.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cjson/cJSON.h>

#include "authn.h"

/* A token found: where, and the bytes. */
struct found {
	const char *tok;
	size_t len;
	const char *header; /* the field it came from (lower-case), or NULL */
};

static bool b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '=';
}

/* The token at @v (@n bytes): its length up to the first character no JWT has. */
static size_t token_len(const char *v, size_t n)
{
	size_t i = 0;

	while (i < n && b64url_char(v[i]))
		i++;
	return i;
}

static bool from_header(const struct http_fields *f, const char *name, const char *prefix,
			struct found *out)
{
	size_t pl = prefix ? strlen(prefix) : 0;

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
		if (!(out->len = token_len(v, n)))
			continue;
		out->tok = v;
		out->header = x->name;
		return true;
	}
	return false;
}

/*
 * Whether the element at @p (@el bytes: "name=value" of a query or a Cookie field) is @name
 * (@nl bytes) with a token: then @out takes it.
 */
static bool pair_token(const char *p, size_t el, const char *name, size_t nl, struct found *out)
{
	if (el <= nl || p[nl] != '=' || strncmp(p, name, nl) ||
	    !(out->len = token_len(p + nl + 1, el - nl - 1)))
		return false;
	out->tok = p + nl + 1;
	out->header = NULL;
	return true;
}

static bool from_param(const char *target, const char *name, struct found *out)
{
	const char *q = strchr(target, '?'), *p;
	size_t nl = strlen(name);

	for (p = q ? q + 1 : NULL; p && *p;) {
		size_t el = strcspn(p, "&#");

		if (pair_token(p, el, name, nl, out))
			return true;
		p += el;
		if (*p != '&')
			break;
		p++;
	}
	return false;
}

static bool from_cookie(const struct http_fields *f, const char *name, struct found *out)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i < f->n; i++) {
		const char *p = f->items[i].value;

		if (strcmp(f->items[i].name, "cookie"))
			continue;
		while (*p) {
			size_t el;

			p += strspn(p, " ;");
			el = strcspn(p, ";");
			if (pair_token(p, el, name, nl, out))
				return true;
			p += el;
		}
	}
	return false;
}

/* The first token at one of @r's locations (Istio's defaults when it names none). */
static bool find_token(const struct config_jwt_rule *r, const struct http_fields *f,
		       const char *target, struct found *out)
{
	if (!r->n_from_headers && !r->from_params.n && !r->from_cookies.n)
		return from_header(f, "authorization", "Bearer ", out) ||
		       from_param(target, "access_token", out);
	for (size_t i = 0; i < r->n_from_headers; i++)
		if (from_header(f, r->from_headers[i].name, r->from_headers[i].prefix, out))
			return true;
	for (size_t i = 0; i < r->from_params.n; i++)
		if (from_param(target, r->from_params.items[i], out))
			return true;
	for (size_t i = 0; i < r->from_cookies.n; i++)
		if (from_cookie(f, r->from_cookies.items[i], out))
			return true;
	return false;
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
static int pass_on(const struct config_jwt_rule *r, const struct found *t, struct http_fields *f,
		   const struct wp_jwt *jwt)
{
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

int wp_authn_check(const struct wp_gen *g, const struct l7_service *s, struct http_fields *f,
		   const char *target, time_t now, struct wp_authn *out)
{
	const struct l7_config *c = g->l7;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < s->n_jwt; i++) {
		const struct l7_jwt *r = &c->jwt[s->jwt[i]];
		const struct l7_jwt *match = NULL;
		struct found t;
		enum wp_jwt_status st;
		size_t mi = 0;

		if (!find_token(&r->rule, f, target, &t))
			continue;
		st = wp_jwt_decode(t.tok, t.len, &out->jwt);
		if (st) {
			out->error = wp_jwt_status_text(st);
			return 0;
		}
		/* The rule whose issuer the token names (any of the service's). */
		for (size_t j = 0; j < s->n_jwt && !match; j++) {
			const struct l7_jwt *x = &c->jwt[s->jwt[j]];

			if (x->rule.issuer && out->jwt.iss &&
			    !strcmp(x->rule.issuer, out->jwt.iss)) {
				match = x;
				mi = s->jwt[j];
			}
		}
		if (!match) {
			out->error = wp_jwt_status_text(WP_JWT_UNKNOWN_ISSUER);
			return 0;
		}
		st = wp_jwt_verify(t.tok, t.len, &out->jwt, g->jwks[mi], &match->rule.audiences,
				   now);
		if (st) {
			out->error = wp_jwt_status_text(st);
			return 0;
		}
		out->rule = match;
		if (asprintf(&out->principal, "%s/%s", out->jwt.iss,
			     out->jwt.sub ? out->jwt.sub : "") < 0) {
			out->principal = NULL;
			return -ENOMEM;
		}
		return pass_on(&match->rule, &t, f, &out->jwt);
	}
	return 0;
}
