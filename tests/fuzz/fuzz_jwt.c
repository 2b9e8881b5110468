// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: the waypoint's JWT path (waypoint/jwt.c, waypoint/authn.c) with hostile
 * tokens, placements and key sets. A RequestAuthentication of four rules, compiled through the
 * real model (YAML, l7_compile_config, the model's JSON, wp_gen_new), holds real keys
 * (jwt_sign.h: RSA, EC P-256, Ed25519, embedded so the seeds can carry tokens they signed):
 *   A  issuer https://a.example, audiences shop/shop2, x-jwt ("Token "), x-raw, ?token=,
 *      cookie session; outputPayloadToHeader, outputClaimToHeaders sub, groups, org
 *   B  issuer https://b.example, Istio's default places, forwardOriginalToken
 *   C  issuer https://c.example, jwksUri only: no key set, its tokens always fail
 *   D  issuer https://d.example, a header whose name is 142 bytes long
 * Input: byte 0 is the mode (bits 0-1: 0 raw token, 1 and 3 token signed here, 2 key set),
 * where the token goes (bits 2-4: Authorization Bearer, x-jwt, ?token=, Cookie session=,
 * ?access_token=, x-raw, D's header, nowhere), whether the input's own fields come before it
 * (bit 5) and the clock (bits 6-7); byte 1 how a token is signed (below). The rest is split at
 * NUL bytes: the token (raw) or the payload JSON and a header JSON (empty: one made from byte 1)
 * that the target signs with the set's keys, then the request target and header name/value
 * pairs; in key set mode a JWKS document and a token.
 * Checked beyond no crash, leak or UB: the verdict is the same twice (status, principal, rule,
 * fields); a token passes only when one of the set's keys made its signature with an alg the
 * set allows (verified again here with OpenSSL: never none, never HMAC keyed with a public key),
 * its issuer is the rule's, it is neither expired nor early nor for another audience; the
 * principal is "iss/sub" and no claim holds a NUL (a C string would cut it); the payload header
 * is the payload as it came, a claim header the claim's string or its JSON text (valid UTF-8
 * when the payload is); the token's header is gone unless the rule forwards it; a refused
 * request is left as it came; a token where a rule looks is found. A hostile key set parses the
 * same twice, into no more keys than it lists, and verifies one of the tokens signed at start
 * only when it holds that token's key.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "ambit/l7.h"
#include "../../waypoint/authn.h"
#include "../../waypoint/config.h"
#include "../../waypoint/jwt.h"
#include "../lib/fuzz_env.h"
#include "../lib/l7_world.h"
#include "jwt_sign.h"

#define NOW 1800000000L
#define ISS_A "https://a.example"
#define ISS_B "https://b.example"
#define ISS_C "https://c.example"
#define ISS_D "https://d.example"

static const char world[] = L7_WORLD_HEAD
    "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
    "spec: {selector: {app: web}, ports: [{name: http, port: 80}]}\n---\n"
    "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n"
    "metadata: {name: jwt, namespace: shop}\n"
    "spec:\n  targetRefs: [{kind: Service, group: '', name: web}]\n  jwtRules:\n"
    "  - issuer: " ISS_A "\n    audiences: [shop, shop2]\n    jwks: '%s'\n"
    "    fromHeaders: [{name: x-jwt, prefix: 'Token '}, {name: x-raw}]\n"
    "    fromParams: [token]\n    fromCookies: [session]\n"
    "    outputPayloadToHeader: x-jwt-payload\n"
    "    outputClaimToHeaders: [{header: x-sub, claim: sub}, {header: x-groups, claim: groups}, "
    "{header: x-org, claim: org}]\n"
    "  - issuer: " ISS_B "\n    jwks: '%s'\n    forwardOriginalToken: true\n"
    "    outputClaimToHeaders: [{header: x-scope, claim: scope}]\n"
    "  - issuer: " ISS_C "\n    jwksUri: " ISS_C "/jwks\n"
    "  - issuer: " ISS_D "\n    jwks: '%s'\n    fromHeaders: [{name: %s}]\n";

static struct jwtk keys;
static struct wp_gen *gen;
static const struct l7_service *svc;
static const struct l7_jwt *rule_a, *rule_b, *rule_c;
static const struct wp_jwks *set_a;
static char long_name[143];
static struct wp_jwt_cache *cache;

/* Tokens signed at start, tried against every hostile key set, and the key each needs there. */
static struct fixed {
	char *tok;
	unsigned char *need; /* the key's n, x or HMAC secret; NULL: nothing verifies it */
	size_t need_len;
} fixed[8];

static void die(const char *what)
{
	fprintf(stderr, "fuzz_jwt: %s\n", what);
	abort();
}

/*
 * base64url @s (@n bytes) decoded here, not by cjose (whose decoder aborts on "a="): what the
 * code takes, padding only to complete the last quantum. malloc'd (NULL: not base64url).
 */
static uint8_t *b64dec(const char *s, size_t n, size_t *len)
{
	size_t data = n, bits = 0;
	uint32_t acc = 0;
	uint8_t *out;

	while (data && s[data - 1] == '=')
		data--;
	if (data % 4 == 1 || (data < n && (data % 4 < 2 || n % 4)) || !(out = malloc(n + 1)))
		return NULL;
	*len = 0;
	for (size_t i = 0; i < data; i++) {
		const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		const char *c = s[i] ? strchr(a, s[i]) : NULL;

		if (!c) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (uint32_t)(c - a);
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[(*len)++] = (uint8_t)(acc >> bits);
		}
	}
	return out;
}

/* The same, leading zeros dropped (as a key's numbers are read). */
static uint8_t *unb64(const char *s, size_t n, size_t *len)
{
	uint8_t *raw = b64dec(s, n, len);
	size_t i = 0;

	while (raw && i < *len && !raw[i])
		i++;
	if (raw) {
		memmove(raw, raw + i, *len - i);
		*len -= i;
	}
	return raw;
}

static void fixed_token(size_t i, const char *alg, const char *kid, const char *secret,
			const void *need, size_t need_len, bool need_b64)
{
	static const char payload[] = "{\"iss\":\"" ISS_A "\",\"sub\":\"fixed\",\"aud\":\"shop\"}";
	char hdr[96];

	snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\"%s%s%s}", alg, kid ? ",\"kid\":\"" : "",
		 kid ? kid : "", kid ? "\"" : "");
	fixed[i].tok = jwtk_sign(&keys, alg, secret, secret ? strlen(secret) : 0, hdr, strlen(hdr),
				 payload, strlen(payload));
	if (!fixed[i].tok)
		die("signing");
	if (need_b64) {
		fixed[i].need = unb64(need, strlen(need), &fixed[i].need_len);
	} else if (need) {
		fixed[i].need = malloc(need_len);
		if (fixed[i].need)
			memcpy(fixed[i].need, need, need_len);
		fixed[i].need_len = need_len;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct l7_config *l7, *back;
	char *yaml, err[256];
	cJSON *j;

	if (jwtk_load(&keys))
		die("the embedded keys");
	memcpy(long_name, "x-", 2);
	memset(long_name + 2, 'h', sizeof(long_name) - 3);
	if (asprintf(&yaml, world, keys.jwks, keys.jwks, keys.jwks, long_name) < 0)
		die("out of memory");
	l7 = l7_world_compile(yaml, err, sizeof(err));
	if (!l7)
		die(err);
	if (l7->n_jwt != 4)
		die("the model");
	/* Through its JSON, as the waypoint gets it from the agent. */
	j = l7_to_json(l7);
	back = l7_from_json(j, err, sizeof(err));
	if (!back)
		die(err);
	cJSON_Delete(j);
	l7_config_free(l7);
	free(yaml);
	gen = wp_gen_new(back, 1, err, sizeof(err));
	if (!gen || !gen->l7->n_services)
		die(err);
	svc = &gen->l7->services[0];
	/* Small, so that inputs evict each other's tokens. */
	if (!(cache = wp_jwt_cache_new(8)))
		die("out of memory");
	for (size_t i = 0; i < gen->l7->n_jwt; i++) {
		const struct l7_jwt *r = &gen->l7->jwt[i];

		if (!strcmp(r->rule.issuer, ISS_A)) {
			rule_a = r;
			set_a = gen->jwks[i];
		}
		rule_b = strcmp(r->rule.issuer, ISS_B) ? rule_b : r;
		rule_c = strcmp(r->rule.issuer, ISS_C) ? rule_c : r;
	}
	if (!rule_a || !rule_b || !rule_c || svc->n_jwt != 4 || wp_jwks_count(set_a) != 4)
		die("the rules");
	fixed_token(0, "RS256", "rsa-1", NULL, keys.rsa_n, 0, true);
	fixed_token(1, "PS512", NULL, NULL, keys.rsa_n, 0, true);
	fixed_token(2, "ES256", "ec-1", NULL, keys.ec_x, 0, true);
	fixed_token(3, "EdDSA", "ed-1", NULL, keys.ed_x, 0, true);
	fixed_token(4, "HS256", NULL, JWTK_HMAC_SECRET, JWTK_HMAC_SECRET, strlen(JWTK_HMAC_SECRET),
		    false);
	fixed_token(5, "HS512", "rsa-1", NULL, keys.rsa_jwk, strlen(keys.rsa_jwk), false);
	fixed_token(6, "none", NULL, NULL, NULL, 0, false);
	fixed_token(7, "RS512", "rsa-2", NULL, keys.rsa_n, 0, true);
	return 0;
}

/* ---- the oracle: a signature checked again, with OpenSSL alone ---- */

static bool b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '=';
}

/* The "alg" of compact JWS @tok (@n bytes) into @alg, "" when it has none. */
static void token_alg(const char *tok, size_t n, char *alg, size_t len)
{
	const char *d1 = memchr(tok, '.', n);
	uint8_t *raw;
	size_t rl = 0;
	cJSON *h = NULL;
	const cJSON *a;

	alg[0] = '\0';
	if (!d1 || !(raw = b64dec(tok, (size_t)(d1 - tok), &rl)))
		return;
	h = cJSON_ParseWithLength((const char *)raw, rl);
	a = cJSON_GetObjectItemCaseSensitive(h, "alg");
	if (cJSON_IsString(a))
		snprintf(alg, len, "%s", a->valuestring);
	cJSON_Delete(h);
	free(raw);
}

/* Whether @tok (@n bytes) carries a signature one of the set's keys made, with an alg for it. */
static bool signed_by_set(const char *tok, size_t n)
{
	const char *d2 = memrchr(tok, '.', n);
	char alg[16];
	const EVP_MD *md = NULL;
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t *sig = NULL;
	unsigned char *der = NULL;
	size_t sl = 0;
	int dl = 0;
	bool ok = false;

	token_alg(tok, n, alg, sizeof(alg));
	if (!d2 || !(sig = b64dec(d2 + 1, n - (size_t)(d2 + 1 - tok), &sl)))
		return false;
	if ((alg[0] == 'R' || alg[0] == 'P') && alg[1] == 'S' && (md = jwtk_md(alg)) &&
	    strlen(alg) == 5)
		key = keys.rsa;
	else if (!strcmp(alg, "ES256") && sl == 64)
		key = keys.ec, md = EVP_sha256();
	else if (!strcmp(alg, "EdDSA"))
		key = keys.ed;
	if (!key || !(ctx = EVP_MD_CTX_new()) ||
	    EVP_DigestVerifyInit(ctx, &pctx, md, NULL, key) != 1)
		goto out;
	if (alg[0] == 'P' && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
			      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
		goto out;
	if (key == keys.ec) {
		ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);

		if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
			BN_free(r);
			BN_free(s);
			ECDSA_SIG_free(es);
			goto out;
		}
		dl = i2d_ECDSA_SIG(es, &der);
		ECDSA_SIG_free(es);
		if (dl <= 0)
			goto out;
	}
	ok = EVP_DigestVerify(ctx, der ? der : sig, der ? (size_t)dl : sl,
			      (const unsigned char *)tok, (size_t)(d2 - tok)) == 1;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	free(sig);
	return ok;
}

/* ---- claims ---- */

static bool utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
		uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;

		if ((c >= 0x80 && c < 0xc2) || c > 0xf4 || i + len > n)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/* Whether JSON text @s (@n bytes) holds a NUL, as a byte or escaped: no C string keeps it. */
static bool json_nul(const unsigned char *s, size_t n)
{
	if (memchr(s, '\0', n))
		return true;
	for (size_t i = 0; i + 1 < n; i++)
		if (s[i] == '\\' && s[++i] == 'u' && i + 4 < n && !memcmp(s + i + 1, "0000", 4))
			return true;
	return false;
}

/* Whether @j holds a number JSON has no text for (cJSON writes it null). */
static bool has_nonfinite(const cJSON *j)
{
	const cJSON *it;

	if (cJSON_IsNumber(j))
		return !isfinite(j->valuedouble);
	cJSON_ArrayForEach(it, j)
	{
		if (has_nonfinite(it))
			return true;
	}
	return false;
}

/* A NumericDate claim as jwt_verify_lib takes it: absent (0), or a number in [0, 2^64) whose
 * fraction is dropped; anything else was refused. */
static double numeric(const cJSON *payload, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(payload, key);

	if (!v)
		return 0;
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble < 18446744073709551616.0))
		abort();
	return floor(v->valuedouble);
}

static bool audience_in(const cJSON *payload, const struct config_strings *allowed)
{
	const cJSON *aud = cJSON_GetObjectItemCaseSensitive(payload, "aud"), *it;

	if (!allowed->n)
		return true;
	for (size_t i = 0; i < allowed->n; i++) {
		if (cJSON_IsString(aud) && !strcmp(aud->valuestring, allowed->items[i]))
			return true;
		if (!cJSON_IsArray(aud))
			continue;
		cJSON_ArrayForEach(it, aud)
		{
			if (cJSON_IsString(it) && !strcmp(it->valuestring, allowed->items[i]))
				return true;
		}
	}
	return false;
}

/* ---- the request path ---- */

static bool fields_equal(const struct http_fields *a, const struct http_fields *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct http_field *x = &a->items[i], *y = &b->items[i];

		if (strcmp(x->name, y->name) || x->value_len != y->value_len ||
		    memcmp(x->value, y->value, x->value_len))
			return false;
	}
	return true;
}

static bool inside(const char *p, const char *buf, size_t len)
{
	return (uintptr_t)p >= (uintptr_t)buf && (uintptr_t)p < (uintptr_t)buf + len;
}

/*
 * A request @a passed with a principal: checks it against the token in the request (found from
 * its payload, in the target @target or one of the fields @before held) and the fields @f.
 */
static void check_accepted(const struct wp_authn *a, const struct http_field *before, size_t nb,
			   const struct http_fields *f, const char *target, time_t now)
{
	const struct config_jwt_rule *r = &a->rule->rule;
	const struct wp_jwt *j = &a->jwt;
	const char *buf = NULL, *src = NULL, *dot, *h, *e;
	size_t len = 0, raw_len = 0;
	uint8_t *raw = NULL;
	bool verified = false, utf8;
	char *principal;

	if (!j->iss || !r->issuer || strcmp(j->iss, r->issuer) || a->rule == rule_c)
		abort();
	if (asprintf(&principal, "%s/%s", j->iss, j->sub ? j->sub : "") < 0)
		abort();
	if (strcmp(principal, a->principal))
		abort();
	free(principal);
	if (inside(j->payload_b64, target, strlen(target) + 1)) {
		buf = target;
		len = strlen(target);
	}
	for (size_t i = 0; !buf && i < nb; i++)
		if (inside(j->payload_b64, before[i].value, before[i].value_len + 1)) {
			buf = before[i].value;
			len = before[i].value_len;
			src = before[i].name;
		}
	dot = j->payload_b64 - 1;
	if (!buf || dot < buf || *dot != '.' || j->payload_b64 + j->payload_b64_len >= buf + len ||
	    j->payload_b64[j->payload_b64_len] != '.')
		abort();
	/* The signature runs to the first character no token has; the token starts after a place's
	 * prefix ("Bearer ", "Token ", "name=") or at the value's start. */
	for (e = j->payload_b64 + j->payload_b64_len + 1; e < buf + len && b64url_char(*e); e++)
		;
	for (h = dot; h > buf && b64url_char(h[-1]) && h[-1] != '.'; h--)
		;
	for (const char *c = h; c < dot && !verified; c++)
		if (c == h || c[-1] == '=')
			verified = signed_by_set(c, (size_t)(e - c));
	if (!verified)
		abort();
	if (now > 0 && numeric(j->payload, "exp") > 0 &&
	    (double)now > numeric(j->payload, "exp") + 60)
		abort();
	if ((double)now + 60 < numeric(j->payload, "nbf"))
		abort();
	if (!audience_in(j->payload, &r->audiences))
		abort();
	/* What the rule passes on. */
	if (r->output_payload_to_header) {
		const char *v = http_fields_get(f, r->output_payload_to_header);

		if (!v || strlen(v) != j->payload_b64_len ||
		    memcmp(v, j->payload_b64, j->payload_b64_len))
			abort();
	}
	/* The claims are the token's whole: a string cut at a NUL would be another principal. */
	if (!(raw = b64dec(j->payload_b64, j->payload_b64_len, &raw_len)) || json_nul(raw, raw_len))
		abort();
	utf8 = utf8_valid(raw, raw_len);
	free(raw);
	if (utf8 && !utf8_valid((const unsigned char *)a->principal, strlen(a->principal)))
		abort();
	for (size_t i = 0; i < r->n_output_claim_to_headers; i++) {
		const struct config_claim_header *c = &r->output_claim_to_headers[i];
		const cJSON *cl = cJSON_GetObjectItemCaseSensitive(j->payload, c->claim);
		const char *v = http_fields_get(f, c->header);
		cJSON *back;

		if (!cl || cJSON_IsNull(cl))
			continue;
		if (!v || http_fields_count(f, c->header) != 1)
			abort();
		if (utf8 && !utf8_valid((const unsigned char *)v, strlen(v)))
			abort();
		if (cJSON_IsString(cl)) {
			if (strcmp(v, cl->valuestring))
				abort();
			continue;
		}
		back = cJSON_ParseWithOpts(v, NULL, true);
		if (!back || (!cJSON_Compare(back, cl, true) && !has_nonfinite(cl)))
			abort();
		cJSON_Delete(back);
	}
	/* A token from a header goes with its header (from a cookie or the query it stays, as in
	 * Envoy), unless the rule forwards it (another token there may still take the header). */
	if (src && strcmp(src, "cookie") && !r->forward_original_token && http_fields_count(f, src))
		abort();
	if (numeric(j->payload, "iat") < 0)
		abort();
}

/* The rules' output headers: a client's never pass (removed from every request). */
static void drop_outputs(struct http_fields *f)
{
	static const char *const outs[] = {"x-jwt-payload", "x-sub", "x-groups", "x-org",
					   "x-scope"};

	for (size_t i = 0; i < sizeof(outs) / sizeof(outs[0]); i++)
		http_fields_remove(f, outs[i]);
}

/* The input's header name/value pairs (16 at most) into @f; how many. */
static size_t add_fields(struct http_fields *f, const char *p, const char *end)
{
	size_t n = 0;

	while (p < end && n < 16) {
		const char *name = fuzz_piece(&p, end), *value = fuzz_piece(&p, end);

		if (*name && http_fields_add(f, name, value))
			abort();
		n++;
	}
	return n;
}

static void check_request(uint8_t how, const char *tok, const char *in_target, const char *p,
			  const char *end, time_t now)
{
	/* The places of byte 0's bits 2-4 that are fields (2 and 4 are query parameters). */
	static const struct {
		const char *name, *prefix;
	} places[] = {
	    {"authorization", "Bearer "},
	    {"x-jwt", "Token "},
	    {NULL, NULL},
	    {"cookie", "a=b; session="},
	    {NULL, NULL},
	    {"x-raw", ""},
	    {long_name, ""},
	};
	unsigned int place = (how >> 2) & 7;
	const char *tgt = *in_target ? in_target : "/";
	struct http_fields f0 = {0}, f1 = {0}, f2 = {0};
	struct http_field *before = NULL;
	struct wp_authn a1, a2;
	char *target, *value;
	size_t extra = 0, nb;
	int rc1, rc2;

	if (how & 0x20)
		extra = add_fields(&f0, p, end);
	if (place == 2 || place == 4)
		rc1 = asprintf(&target, "%s%c%s=%s", tgt, strchr(tgt, '?') ? '&' : '?',
			       place == 2 ? "token" : "access_token", tok);
	else
		rc1 = asprintf(&target, "%s", tgt);
	if (rc1 < 0)
		abort();
	if (place < 7 && places[place].name) {
		if (asprintf(&value, "%s%s", places[place].prefix, tok) < 0 ||
		    http_fields_add(&f0, places[place].name, value))
			abort();
		free(value);
	}
	if (!(how & 0x20))
		extra = add_fields(&f0, p, end);
	if (http_fields_copy(&f1, &f0) || http_fields_copy(&f2, &f0))
		abort();
	nb = f1.n;
	before = malloc((nb + 1) * sizeof(*before));
	if (!before)
		abort();
	if (nb)
		memcpy(before, f1.items, nb * sizeof(*before));
	/* Once through the verified-token cache (kept across inputs and clocks), once not: the
	 * same verdict either way. */
	rc1 = wp_authn_check(gen, svc, &f1, target, now, cache, &a1);
	rc2 = wp_authn_check(gen, svc, &f2, target, now, NULL, &a2);
	if (rc1 || rc2)
		abort();
	if (a1.error != a2.error || a1.rule != a2.rule || !a1.principal != !a2.principal ||
	    (a1.principal && strcmp(a1.principal, a2.principal)) || !fields_equal(&f1, &f2))
		abort();
	if (a1.error || !a1.principal) {
		/* Refused, or no token: the request is left as it came, but for the outputs. */
		drop_outputs(&f0);
		if (a1.principal || !fields_equal(&f1, &f0))
			abort();
		/* A token where a rule looks, alone in the request, gets a verdict. */
		if (!a1.error && !extra && !*in_target && place < 7 && b64url_char(tok[0]))
			abort();
	} else {
		check_accepted(&a1, before, nb, &f1, target, now);
	}
	wp_authn_clear(&a1);
	wp_authn_clear(&a2);
	free(before);
	free(target);
	http_fields_free(&f0);
	http_fields_free(&f1);
	http_fields_free(&f2);
}

/* ---- the token alone, and hostile key sets ---- */

static enum wp_jwt_status verify(const char *tok, const struct wp_jwks *k,
				 const struct config_strings *aud, time_t now)
{
	struct wp_jwt jwt;
	enum wp_jwt_status st = wp_jwt_decode(tok, strlen(tok), &jwt);

	if (!st)
		st = wp_jwt_verify(tok, strlen(tok), &jwt, k, aud, now, NULL);
	wp_jwt_clear(&jwt);
	return st;
}

static void check_token(const char *tok, time_t now)
{
	enum wp_jwt_status st = verify(tok, set_a, &rule_a->rule.audiences, now);

	if (st != verify(tok, set_a, &rule_a->rule.audiences, now))
		abort();
	if (st == WP_JWT_OK && !signed_by_set(tok, strlen(tok)))
		abort();
}

/* Whether a string of @j decodes to the bytes @want (@n), leading zeros aside. */
static bool holds_key(const cJSON *j, const unsigned char *want, size_t n)
{
	const cJSON *it;

	if (cJSON_IsString(j)) {
		size_t len;
		unsigned char *raw = unb64(j->valuestring, strlen(j->valuestring), &len);
		bool same = raw && len == n && !memcmp(raw, want, n);

		free(raw);
		return same;
	}
	cJSON_ArrayForEach(it, j)
	{
		if (holds_key(it, want, n))
			return true;
	}
	return false;
}

static void check_jwks(const char *json, const char *tok)
{
	char err[200];
	struct wp_jwks *k1 = wp_jwks_parse(json, err, sizeof(err));
	struct wp_jwks *k2 = wp_jwks_parse(json, err, sizeof(err));
	cJSON *root = cJSON_Parse(json);
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "keys");
	char alg[16];

	if (!k1 != !k2 || wp_jwks_count(k1) != wp_jwks_count(k2))
		abort();
	if (k1 && (!cJSON_IsArray(list) || wp_jwks_count(k1) > (size_t)cJSON_GetArraySize(list)))
		abort();
	for (size_t i = 0; k1 && i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		enum wp_jwt_status st = verify(fixed[i].tok, k1, NULL, NOW);

		if (st != verify(fixed[i].tok, k2, NULL, NOW))
			abort();
		if (st == WP_JWT_OK &&
		    (!fixed[i].need || !holds_key(root, fixed[i].need, fixed[i].need_len)))
			abort();
	}
	if (verify(tok, k1, NULL, NOW) != verify(tok, k2, NULL, NOW))
		abort();
	token_alg(tok, strlen(tok), alg, sizeof(alg));
	if (verify(tok, k1, NULL, NOW) == WP_JWT_OK && (!strcmp(alg, "none") || !*alg))
		abort();
	cJSON_Delete(root);
	wp_jwks_free(k1);
	wp_jwks_free(k2);
}

/*
 * The token of sign mode: @payload under header @hdr (empty: {"alg","typ","kid"}), signed as
 * @how says: bits 0-3 the alg (below; jwt_sign.h says which key signs each), bits 4-5 the kid
 * (the alg's key's, none, rsa-1, rsa-2), bits 6-7 tampering after signing (none, a character
 * of the signature, no signature, a character of the payload).
 */
static char *sign_input(uint8_t how, const char *payload, const char *hdr)
{
	static const char *const algs[16] = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
					     "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384",
					     "HS512", "none",  "None",	"ES256K"};
	const char *alg = algs[how & 15], *kid;
	char made[96], *tok, *s;

	switch ((how >> 4) & 3) {
	case 0:
		if (alg[0] == 'E')
			kid = alg[1] == 'S' ? "ec-1" : "ed-1";
		else
			kid = alg[0] == 'n' || alg[0] == 'N' ? NULL : "rsa-1";
		break;
	case 1: kid = NULL; break;
	case 2: kid = "rsa-1"; break;
	default: kid = "rsa-2"; break;
	}
	if (!*hdr) {
		snprintf(made, sizeof(made), "{\"alg\":\"%s\",\"typ\":\"JWT\"%s%s%s}", alg,
			 kid ? ",\"kid\":\"" : "", kid ? kid : "", kid ? "\"" : "");
		hdr = made;
	}
	tok = jwtk_sign(&keys, alg, NULL, 0, hdr, strlen(hdr), payload, strlen(payload));
	if (!tok)
		abort();
	/* Tampered after signing: a signature's character, the signature, a payload's. */
	s = strrchr(tok, '.') + 1;
	switch (how >> 6) {
	case 1:
		if (*s)
			*s = *s == 'A' ? 'B' : 'A';
		break;
	case 2: *s = '\0'; break;
	case 3:
		s = strchr(tok, '.') + 1;
		if (*s != '.')
			*s = *s == 'e' ? 'f' : 'e';
		break;
	}
	return tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const time_t clocks[4] = {NOW, NOW, 0, NOW + 50L * 365 * 86400};
	const char *p, *end, *first, *second, *target;
	time_t now;
	char *buf, *tok;

	if (size < 2)
		return 0;
	buf = malloc(size - 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 2, size - 2);
	buf[size - 2] = '\0';
	p = buf;
	end = buf + size - 2;
	first = fuzz_piece(&p, end);
	second = fuzz_piece(&p, end);
	now = clocks[data[0] >> 6];
	if ((data[0] & 3) == 2) {
		check_jwks(first, second);
		free(buf);
		return 0;
	}
	tok = (data[0] & 3) ? sign_input(data[1], first, second) : strdup(first);
	if (!tok)
		abort();
	target = fuzz_piece(&p, end);
	check_token(tok, now);
	check_request(data[0], tok, target, p, end, now);
	free(tok);
	free(buf);
	return 0;
}
