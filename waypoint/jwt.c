// SPDX-License-Identifier: Apache-2.0
/* JWKS and JWT verification (jwt.h): cjose for JWK and JWS, the crypto seam for Ed25519. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjose/cjose.h>
#include <cjson/cJSON.h>
#include <xxhash.h>

#include "tls/crypto.h"
#include "jwt.h"

/* Envoy's jwt_authn default clock skew (JwtProvider.clock_skew_seconds). */
#define CLOCK_SKEW_S 60

enum key_type {
	KEY_RSA,
	KEY_EC256,
	KEY_EC384,
	KEY_EC521,
	KEY_OCT,
	KEY_ED25519,
};

struct key {
	enum key_type type;
	char *kid; /* NULL: none */
	char *alg; /* the JWK's own "alg", or NULL */
	cjose_jwk_t *jwk;
	unsigned char ed25519[32];
};

struct wp_jwks {
	size_t n;
	struct key *keys;
	uint64_t serial; /* wp_jwks_serial */
};

static const char *const status_text[WP_JWT_STATUS_COUNT] = {
    [WP_JWT_OK] = "OK",
    [WP_JWT_BAD_FORMAT] =
	"Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
    [WP_JWT_HEADER_BAD_BASE64] = "Jwt header is an invalid Base64url encoded",
    [WP_JWT_HEADER_BAD_JSON] = "Jwt header is an invalid JSON",
    [WP_JWT_HEADER_BAD_ALG] = "Jwt header [alg] field is required and must be a string",
    [WP_JWT_HEADER_ALG_UNSUPPORTED] = "Jwt header [alg] is not supported",
    [WP_JWT_PAYLOAD_BAD_BASE64] = "Jwt payload is an invalid Base64url encoded",
    [WP_JWT_PAYLOAD_BAD_JSON] = "Jwt payload is an invalid JSON",
    [WP_JWT_ISS_NOT_STRING] = "Jwt payload [iss] field should be a string",
    [WP_JWT_SUB_NOT_STRING] = "Jwt payload [sub] field should be a string",
    [WP_JWT_HEADER_CRIT] = "Jwt header [crit] names an extension that is not supported",
    [WP_JWT_IAT_NOT_INTEGER] = "Jwt payload [iat] field is not an integer",
    [WP_JWT_IAT_OUT_OF_RANGE] = "Jwt payload [iat] field is not a positive 64 bit integer",
    [WP_JWT_NBF_NOT_INTEGER] = "Jwt payload [nbf] field is not an integer",
    [WP_JWT_NBF_OUT_OF_RANGE] = "Jwt payload [nbf] field is not a positive 64 bit integer",
    [WP_JWT_EXP_NOT_INTEGER] = "Jwt payload [exp] field is not an integer",
    [WP_JWT_EXP_OUT_OF_RANGE] = "Jwt payload [exp] field is not a positive 64 bit integer",
    [WP_JWT_SIGNATURE_BAD_BASE64] = "Jwt signature is an invalid Base64url encoded",
    [WP_JWT_UNKNOWN_ISSUER] = "Jwt issuer is not configured",
    [WP_JWT_AUDIENCE_NOT_ALLOWED] = "Audiences in Jwt are not allowed",
    [WP_JWT_EXPIRED] = "Jwt is expired",
    [WP_JWT_NOT_YET_VALID] = "Jwt not yet valid",
    [WP_JWT_NO_MATCHING_KEY] = "Jwks doesn't have key to match kid or alg from Jwt",
    [WP_JWT_VERIFICATION_FAILS] = "Jwt verification fails",
    [WP_JWT_JWKS_MISSING] = "Jwks remote fetch is failed",
};

const char *wp_jwt_status_text(enum wp_jwt_status s)
{
	return (unsigned int)s < WP_JWT_STATUS_COUNT ? status_text[s] : "Jwt verification fails";
}

/* ---- key sets ---- */

void wp_jwks_free(struct wp_jwks *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n; i++) {
		free(k->keys[i].kid);
		free(k->keys[i].alg);
		if (k->keys[i].jwk)
			cjose_jwk_release(k->keys[i].jwk);
	}
	free(k->keys);
	free(k);
}

size_t wp_jwks_count(const struct wp_jwks *k)
{
	return k ? k->n : 0;
}

uint64_t wp_jwks_serial(const struct wp_jwks *k)
{
	return k ? k->serial : 0;
}

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * Whether @s (@n bytes) is base64url libcjose 0.6 decodes without aborting: it asserts, ending
 * the process, on a '=' after 4k+1 characters ("a=": one request's token would take the
 * waypoint down), and stops reading at any '='. Only padding that completes the last quantum
 * is taken (RFC 4648 §5); a JWS has none (RFC 7515 §2), Envoy accepts it.
 */
static bool b64url_ok(const char *s, size_t n)
{
	const char *eq = memchr(s, '=', n);
	size_t data = eq ? (size_t)(eq - s) : n;

	for (size_t i = data; i < n; i++)
		if (s[i] != '=')
			return false;
	return !eq || (data % 4 >= 2 && n % 4 == 0);
}

static bool b64url_decode(const char *s, size_t n, uint8_t **out, size_t *len)
{
	cjose_err err;

	return b64url_ok(s, n) && cjose_base64url_decode(s, n, out, len, &err);
}

/* An Ed25519 public key ("kty": "OKP", "crv": "Ed25519", "x"). */
static bool okp_key(const cJSON *o, struct key *k)
{
	const char *crv = jstr(o, "crv"), *x = jstr(o, "x");
	uint8_t *raw = NULL;
	size_t n = 0;

	if (!crv || strcmp(crv, "Ed25519") || !x || !b64url_decode(x, strlen(x), &raw, &n))
		return false;
	if (n == 32)
		memcpy(k->ed25519, raw, 32);
	free(raw);
	k->type = KEY_ED25519;
	return n == 32;
}

static bool cjose_key(const cJSON *o, struct key *k)
{
	/* The members cjose_jwk_import decodes (RSA, EC, oct), each time one is repeated. */
	static const char *const nums[] = {"n",	 "e",  "d", "p", "q", "dp",
					   "dq", "qi", "x", "y", "k"};
	const cJSON *m;
	char *text;
	cjose_err err;

	cJSON_ArrayForEach(m, o)
	{
		for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
			if (cJSON_IsString(m) && !strcmp(m->string, nums[i]) &&
			    !b64url_ok(m->valuestring, strlen(m->valuestring)))
				return false;
	}
	text = cJSON_PrintUnformatted(o);
	if (!text)
		return false;
	k->jwk = cjose_jwk_import(text, strlen(text), &err);
	free(text);
	if (!k->jwk)
		return false;
	switch (cjose_jwk_get_kty(k->jwk, &err)) {
	case CJOSE_JWK_KTY_RSA: k->type = KEY_RSA; return true;
	case CJOSE_JWK_KTY_OCT: k->type = KEY_OCT; return true;
	case CJOSE_JWK_KTY_EC:
		switch (cjose_jwk_EC_get_curve(k->jwk, &err)) {
		case CJOSE_JWK_EC_P_256: k->type = KEY_EC256; return true;
		case CJOSE_JWK_EC_P_384: k->type = KEY_EC384; return true;
		case CJOSE_JWK_EC_P_521: k->type = KEY_EC521; return true;
		default: return false;
		}
	default: return false;
	}
}

struct wp_jwks *wp_jwks_parse(const char *json, char *err, size_t len)
{
	cJSON *root = json ? cJSON_Parse(json) : NULL;
	const cJSON *keys = cJSON_GetObjectItemCaseSensitive(root, "keys"), *it;
	struct wp_jwks *k = NULL;
	size_t skipped = 0;

	if (!cJSON_IsArray(keys)) {
		snprintf(err, len, "JWKS: not a key set (a JSON object with a \"keys\" array)");
		goto out;
	}
	k = calloc(1, sizeof(*k));
	if (!k || !(k->keys = calloc((size_t)cJSON_GetArraySize(keys) + 1, sizeof(*k->keys)))) {
		snprintf(err, len, "JWKS: out of memory");
		wp_jwks_free(k);
		k = NULL;
		goto out;
	}
	cJSON_ArrayForEach(it, keys)
	{
		struct key *x = &k->keys[k->n];
		const char *kty = jstr(it, "kty"), *use = jstr(it, "use");
		bool ok;

		memset(x, 0, sizeof(*x));
		/* Only signing keys; a private part is never needed, and never kept. */
		if (!cJSON_IsObject(it) || !kty || (use && strcmp(use, "sig"))) {
			skipped++;
			continue;
		}
		ok = !strcmp(kty, "OKP") ? okp_key(it, x) : cjose_key(it, x);
		if (ok && jstr(it, "kid") && !(x->kid = strdup(jstr(it, "kid"))))
			ok = false;
		if (ok && jstr(it, "alg") && !(x->alg = strdup(jstr(it, "alg"))))
			ok = false;
		if (!ok) {
			if (x->jwk)
				cjose_jwk_release(x->jwk);
			free(x->kid);
			free(x->alg);
			memset(x, 0, sizeof(*x));
			skipped++;
			continue;
		}
		k->n++;
	}
	if (!k->n) {
		snprintf(err, len, "JWKS: no usable signing key (%zu skipped)", skipped);
		wp_jwks_free(k);
		k = NULL;
	} else {
		/* Never 0, never reused: the verified-token caches' key (wp_jwt_cache). */
		static uint64_t serials;

		k->serial = __atomic_add_fetch(&serials, 1, __ATOMIC_RELAXED);
	}
out:
	cJSON_Delete(root);
	return k;
}

/* ---- tokens ---- */

/* The key type algorithm @alg needs; false when it is not one Envoy verifies. */
static bool alg_key(const char *alg, enum key_type *t)
{
	static const struct {
		const char *alg;
		enum key_type t;
	} algs[] = {
	    {"RS256", KEY_RSA},	    {"RS384", KEY_RSA}, {"RS512", KEY_RSA},   {"PS256", KEY_RSA},
	    {"PS384", KEY_RSA},	    {"PS512", KEY_RSA}, {"ES256", KEY_EC256}, {"ES384", KEY_EC384},
	    {"ES512", KEY_EC521},   {"HS256", KEY_OCT}, {"HS384", KEY_OCT},   {"HS512", KEY_OCT},
	    {"EdDSA", KEY_ED25519},
	};

	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (!strcmp(alg, algs[i].alg)) {
			*t = algs[i].t;
			return true;
		}
	return false;
}

/*
 * Whether JSON text @s (@n bytes) holds a NUL, as a byte or as \u0000: cJSON ends its strings
 * there, so "sub": "alice\u0000x" would read as "alice" (that principal, its policies) where
 * Envoy keeps the whole string. Such a token is refused as invalid JSON.
 */
static bool json_has_nul(const uint8_t *s, size_t n)
{
	if (memchr(s, '\0', n))
		return true;
	for (size_t i = 0; i + 1 < n; i++)
		if (s[i] == '\\' && s[++i] == 'u' && i + 4 < n && !memcmp(s + i + 1, "0000", 4))
			return true;
	return false;
}

static cJSON *decode_json(const char *b64, size_t n, bool *bad_base64)
{
	uint8_t *raw = NULL;
	size_t len = 0;
	cJSON *j;

	*bad_base64 = false;
	if (!n || !b64url_decode(b64, n, &raw, &len)) {
		*bad_base64 = true;
		return NULL;
	}
	j = json_has_nul(raw, len) ? NULL : cJSON_ParseWithLength((const char *)raw, len);
	free(raw);
	return cJSON_IsObject(j) ? j : (cJSON_Delete(j), NULL);
}

void wp_jwt_clear(struct wp_jwt *jwt)
{
	cJSON_Delete(jwt->payload);
	memset(jwt, 0, sizeof(*jwt));
}

/*
 * A NumericDate claim (@key) into *@t, as jwt_verify_lib's GetUInt64: absent is 0; a number in
 * [0, 2^64) is taken without its fraction; any other number is out of range (1e400 is inf to
 * cJSON, and would never expire), any other JSON not an integer.
 */
static enum wp_jwt_status numeric_date(const cJSON *payload, const char *key, uint64_t *t,
				       enum wp_jwt_status not_integer)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(payload, key);

	*t = 0;
	if (!v)
		return WP_JWT_OK;
	if (!cJSON_IsNumber(v))
		return not_integer;
	/* not_integer + 1: the field's OUT_OF_RANGE (jwt.h keeps them in pairs). */
	if (!(v->valuedouble >= 0 && v->valuedouble < 18446744073709551616.0))
		return not_integer + 1;
	*t = (uint64_t)v->valuedouble;
	return WP_JWT_OK;
}

enum wp_jwt_status wp_jwt_decode(const char *token, size_t n, struct wp_jwt *out)
{
	const char *d1 = memchr(token, '.', n), *d2;
	const cJSON *iss, *sub;
	enum wp_jwt_status st;
	bool bad64, crit;
	cJSON *h;

	memset(out, 0, sizeof(*out));
	d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - token)) : NULL;
	if (!d1 || !d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - token)))
		return WP_JWT_BAD_FORMAT;
	h = decode_json(token, (size_t)(d1 - token), &bad64);
	if (!h)
		return bad64 ? WP_JWT_HEADER_BAD_BASE64 : WP_JWT_HEADER_BAD_JSON;
	/* RFC 7515 §4.1.11: extensions the recipient must understand; we understand none. */
	crit = cJSON_GetObjectItemCaseSensitive(h, "crit") != NULL;
	cJSON_Delete(h);
	if (crit)
		return WP_JWT_HEADER_CRIT;
	out->payload = decode_json(d1 + 1, (size_t)(d2 - d1 - 1), &bad64);
	if (!out->payload)
		return bad64 ? WP_JWT_PAYLOAD_BAD_BASE64 : WP_JWT_PAYLOAD_BAD_JSON;
	out->payload_b64 = d1 + 1;
	out->payload_b64_len = (size_t)(d2 - d1 - 1);
	iss = cJSON_GetObjectItemCaseSensitive(out->payload, "iss");
	sub = cJSON_GetObjectItemCaseSensitive(out->payload, "sub");
	if (iss && !cJSON_IsString(iss)) {
		wp_jwt_clear(out);
		return WP_JWT_ISS_NOT_STRING;
	}
	if (sub && !cJSON_IsString(sub)) {
		wp_jwt_clear(out);
		return WP_JWT_SUB_NOT_STRING;
	}
	out->iss = iss ? iss->valuestring : NULL;
	out->sub = sub ? sub->valuestring : NULL;
	st = numeric_date(out->payload, "iat", &out->iat, WP_JWT_IAT_NOT_INTEGER);
	if (!st)
		st = numeric_date(out->payload, "nbf", &out->nbf, WP_JWT_NBF_NOT_INTEGER);
	if (!st)
		st = numeric_date(out->payload, "exp", &out->exp, WP_JWT_EXP_NOT_INTEGER);
	if (st)
		wp_jwt_clear(out);
	return st;
}

/* exp and nbf against @now, as jwt_verify_lib (Jwt::verifyTimeConstraint), without wrapping. */
static enum wp_jwt_status times_ok(const struct wp_jwt *jwt, time_t now)
{
	uint64_t t = now > 0 ? (uint64_t)now : 0;

	if (jwt->nbf > t && jwt->nbf - t > CLOCK_SKEW_S)
		return WP_JWT_NOT_YET_VALID;
	if (jwt->exp && t > jwt->exp && t - jwt->exp > CLOCK_SKEW_S)
		return WP_JWT_EXPIRED;
	return WP_JWT_OK;
}

static bool audience_ok(const cJSON *payload, const struct config_strings *allowed)
{
	const cJSON *aud = cJSON_GetObjectItemCaseSensitive(payload, "aud"), *it;

	if (!allowed || !allowed->n)
		return true;
	for (size_t i = 0; i < allowed->n; i++) {
		if (cJSON_IsString(aud) && !strcmp(aud->valuestring, allowed->items[i]))
			return true;
		if (cJSON_IsArray(aud))
			cJSON_ArrayForEach(
			    it, aud) if (cJSON_IsString(it) &&
					 !strcmp(it->valuestring, allowed->items[i])) return true;
	}
	return false;
}

/* Whether every part of compact JWS @token (@n bytes) is base64url cjose_jws_import may read. */
static bool parts_ok(const char *token, size_t n)
{
	const char *p = token, *end = token + n;

	for (;;) {
		const char *d = memchr(p, '.', (size_t)(end - p));

		if (!b64url_ok(p, (size_t)((d ? d : end) - p)))
			return false;
		if (!d)
			return true;
		p = d + 1;
	}
}

/*
 * Whether the signature of @token (@n bytes, its parts checked) is as long as key @k makes one:
 * R || S of the curve's size (RFC 7518 §3.4), the modulus's size (§3.3, §3.5); an HMAC's is
 * compared whole by cjose. cjose 0.6 cuts an ECDSA signature at half its length, dropping a
 * last odd byte, and takes a PSS one shorter than the modulus: with a byte added, or a leading
 * zero dropped, a token verified as another.
 */
static bool sig_len_ok(const char *token, size_t n, const struct key *k)
{
	const char *s = (const char *)memrchr(token, '.', n) + 1;
	size_t data = (size_t)(token + n - s), bytes;
	cjose_err err;
	long bits = cjose_jwk_get_keysize(k->jwk, &err);

	if (k->type == KEY_OCT)
		return true;
	while (data && s[data - 1] == '=')
		data--;
	if (bits <= 0)
		return false;
	bytes = ((size_t)bits + 7) / 8;
	return data * 3 / 4 == (k->type == KEY_RSA ? bytes : 2 * bytes);
}

static bool ed25519_ok(const char *token, size_t n, const struct key *k)
{
	const char *d2 = memrchr(token, '.', n);
	uint8_t *sig = NULL;
	size_t sl = 0;
	bool ok;

	if (!d2 || !b64url_decode(d2 + 1, n - (size_t)(d2 + 1 - token), &sig, &sl))
		return false;
	ok = crypto_ed25519_verify(k->ed25519, token, (size_t)(d2 - token), sig, sl);
	free(sig);
	return ok;
}

/* ---- verified tokens (wp_jwt_cache) ---- */

struct cache_entry {
	char *tok; /* the token's bytes (malloc'd); NULL: a free slot */
	size_t len;
	uint64_t serial; /* the key set that verified it */
	uint64_t hash;
	uint64_t exp;  /* the token's exp (0: none): dropped once past it */
	uint64_t used; /* the cache's tick at its last hit */
};

struct wp_jwt_cache {
	size_t cap, n, bytes;
	uint64_t tick, hits, misses, evictions;
	struct cache_entry *e;
};

struct wp_jwt_cache *wp_jwt_cache_new(size_t entries)
{
	struct wp_jwt_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->cap = entries ? entries : WP_JWT_CACHE_ENTRIES;
	c->e = calloc(c->cap, sizeof(*c->e));
	if (!c->e) {
		free(c);
		return NULL;
	}
	return c;
}

static void cache_drop(struct wp_jwt_cache *c, struct cache_entry *e)
{
	c->n--;
	c->bytes -= e->len;
	free(e->tok);
	memset(e, 0, sizeof(*e));
}

void wp_jwt_cache_free(struct wp_jwt_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->cap; i++)
		free(c->e[i].tok);
	free(c->e);
	free(c);
}

void wp_jwt_cache_stats(const struct wp_jwt_cache *c, struct wp_jwt_cache_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!c)
		return;
	out->hits = c->hits;
	out->misses = c->misses;
	out->evictions = c->evictions;
	out->entries = c->n;
	out->bytes = c->bytes;
}

/* Entries are told apart by a whole compare; the hash only saves most of them. */
static uint64_t token_hash(const char *s, size_t n)
{
	return XXH3_64bits(s, n);
}

static bool past_exp(uint64_t exp, time_t now)
{
	uint64_t t = now > 0 ? (uint64_t)now : 0;

	return exp && t > exp && t - exp > CLOCK_SKEW_S;
}

/* Whether @token (@n bytes, hash @h) was verified under key set @serial; counts the look-up. */
static bool cache_hit(struct wp_jwt_cache *c, uint64_t serial, const char *token, size_t n,
		      uint64_t h, time_t now)
{
	for (size_t i = 0; i < c->cap; i++) {
		struct cache_entry *e = &c->e[i];

		if (!e->tok || e->hash != h || e->len != n || e->serial != serial ||
		    memcmp(e->tok, token, n))
			continue;
		if (past_exp(e->exp, now)) {
			cache_drop(c, e);
			break;
		}
		e->used = ++c->tick;
		c->hits++;
		return true;
	}
	c->misses++;
	return false;
}

/* Remembers @token, verified under @serial, in a free slot, an expired one or the LRU one. */
static void cache_put(struct wp_jwt_cache *c, uint64_t serial, const char *token, size_t n,
		      uint64_t h, uint64_t exp, time_t now)
{
	struct cache_entry *slot = NULL;
	char *copy;

	if (n > WP_JWT_CACHE_TOKEN_MAX || !(copy = malloc(n)))
		return;
	memcpy(copy, token, n);
	for (size_t i = 0; i < c->cap; i++) {
		struct cache_entry *e = &c->e[i];

		if (!e->tok || past_exp(e->exp, now)) {
			slot = e;
			break;
		}
		if (!slot || e->used < slot->used)
			slot = e;
	}
	if (slot->tok) {
		if (!past_exp(slot->exp, now))
			c->evictions++;
		cache_drop(c, slot);
	}
	*slot = (struct cache_entry){
	    .tok = copy, .len = n, .serial = serial, .hash = h, .exp = exp, .used = ++c->tick};
	c->n++;
	c->bytes += n;
}

/* Whether @token's signature is one of @keys' (@jwt decoded from it); WP_JWT_OK or why not. */
static enum wp_jwt_status signature_ok(const char *token, size_t n, const struct wp_jwks *keys)
{
	const char *d1 = memchr(token, '.', n), *alg, *kid;
	bool bad64, tried = false, ok = false;
	enum wp_jwt_status st = WP_JWT_OK;
	cjose_jws_t *jws = NULL;
	enum key_type need;
	cJSON *h;
	cjose_err err;

	h = d1 ? decode_json(token, (size_t)(d1 - token), &bad64) : NULL;
	if (!h)
		return WP_JWT_BAD_FORMAT;
	alg = jstr(h, "alg");
	kid = jstr(h, "kid");
	if (!alg)
		st = WP_JWT_HEADER_BAD_ALG;
	else if (!alg_key(alg, &need))
		st = WP_JWT_HEADER_ALG_UNSUPPORTED;
	if (st)
		goto out;
	/* Every key of the right type (and kid, when the token names one) is tried. */
	for (size_t i = 0; i < keys->n && !ok; i++) {
		const struct key *k = &keys->keys[i];

		if (k->type != need || (kid && k->kid && strcmp(kid, k->kid)) ||
		    (k->alg && strcmp(k->alg, alg)))
			continue;
		tried = true;
		if (need == KEY_ED25519) {
			ok = ed25519_ok(token, n, k);
			continue;
		}
		if (!jws && (!parts_ok(token, n) || !(jws = cjose_jws_import(token, n, &err)))) {
			st = WP_JWT_SIGNATURE_BAD_BASE64;
			goto out;
		}
		ok = sig_len_ok(token, n, k) && cjose_jws_verify(jws, k->jwk, &err);
	}
	if (!tried)
		st = WP_JWT_NO_MATCHING_KEY;
	else if (!ok)
		st = WP_JWT_VERIFICATION_FAILS;
out:
	if (jws)
		cjose_jws_release(jws);
	cJSON_Delete(h);
	return st;
}

enum wp_jwt_status wp_jwt_verify(const char *token, size_t n, const struct wp_jwt *jwt,
				 const struct wp_jwks *keys, const struct config_strings *audiences,
				 time_t now, struct wp_jwt_cache *cache)
{
	enum wp_jwt_status st;
	uint64_t h = 0;
	bool hit = false;

	if (!keys)
		return WP_JWT_JWKS_MISSING;
	if (cache && n <= WP_JWT_CACHE_TOKEN_MAX) {
		h = token_hash(token, n);
		hit = cache_hit(cache, keys->serial, token, n, h, now);
	}
	if (!hit && (st = signature_ok(token, n, keys)))
		return st;
	/* Checked at every hit too: the time moves on, and the claims are this request's. */
	if ((st = times_ok(jwt, now)))
		return st;
	if (!audience_ok(jwt->payload, audiences))
		return WP_JWT_AUDIENCE_NOT_ALLOWED;
	if (cache && !hit)
		cache_put(cache, keys->serial, token, n, h ? h : token_hash(token, n), jwt->exp,
			  now);
	return WP_JWT_OK;
}
