// SPDX-License-Identifier: Apache-2.0
/*
 * JWTs at the waypoint (waypoint/jwt.c, waypoint/authn.c) and the policies that read them
 * (waypoint/authz.c): tokens signed here with keys made here (cjose for RSA and EC, OpenSSL
 * for Ed25519: a test may use OpenSSL directly), checked as Envoy's jwt_authn checks them, with
 * RequestAuthentications written as users write them and compiled through the real model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjose/cjose.h>
#include <cjson/cJSON.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "../../../waypoint/authn.h"
#include "../../../waypoint/authz.h"
#include "../../../waypoint/config.h"
#include "../../../waypoint/jwt.h"

#define ISS "https://issuer.example"
#define NOW 1800000000L

static cjose_jwk_t *rsa_key, *ec_key;
static EVP_PKEY *ed_key;
static char *jwks_json;

static char *b64url(const unsigned char *d, size_t n)
{
	char *out = NULL;
	size_t len = 0;
	cjose_err err;

	assert_true(cjose_base64url_encode(d, n, &out, &len, &err));
	return out;
}

/* A public JWK of @k with @kid, as JSON. */
static char *public_jwk(cjose_jwk_t *k, const char *kid)
{
	cjose_err err;

	assert_true(cjose_jwk_set_kid(k, kid, strlen(kid), &err));
	return cjose_jwk_to_json(k, false, &err);
}

static int setup(void **state)
{
	static const uint8_t e[] = {1, 0, 1};
	unsigned char pub[32];
	size_t pl = sizeof(pub);
	char *r, *ec, *x;
	cjose_err err;

	rsa_key = cjose_jwk_create_RSA_random(2048, e, sizeof(e), &err);
	ec_key = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err);
	ed_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(rsa_key);
	assert_non_null(ec_key);
	assert_non_null(ed_key);
	assert_int_equal(EVP_PKEY_get_raw_public_key(ed_key, pub, &pl), 1);
	r = public_jwk(rsa_key, "rsa-1");
	ec = public_jwk(ec_key, "ec-1");
	x = b64url(pub, pl);
	assert_true(
	    asprintf(&jwks_json,
		     "{\"keys\":[%s,%s,{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed-1\","
		     "\"x\":\"%s\"},{\"kty\":\"XYZ\"}]}",
		     r, ec, x) > 0);
	free(r);
	free(ec);
	free(x);
	return 0;
}

static int teardown(void **state)
{
	cjose_jwk_release(rsa_key);
	cjose_jwk_release(ec_key);
	EVP_PKEY_free(ed_key);
	free(jwks_json);
	return 0;
}

/* A compact JWS of @payload with @alg and header @raw_hdr (JSON text, or NULL: alg and kid). */
static char *sign_hdr(const char *alg, const char *raw_hdr, const char *payload)
{
	cjose_header_t *h;
	cjose_jws_t *jws;
	const char *ser;
	char *out;
	cjose_err err;

	if (!strcmp(alg, "EdDSA")) {
		char *hb =
		    b64url((const unsigned char *)"{\"alg\":\"EdDSA\",\"kid\":\"ed-1\"}", 28);
		char *pb = b64url((const unsigned char *)payload, strlen(payload)), *input, *sb;
		unsigned char sig[64];
		size_t sl = sizeof(sig);
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();

		assert_true(asprintf(&input, "%s.%s", hb, pb) > 0);
		assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, ed_key), 1);
		assert_int_equal(
		    EVP_DigestSign(ctx, sig, &sl, (unsigned char *)input, strlen(input)), 1);
		sb = b64url(sig, sl);
		assert_true(asprintf(&out, "%s.%s", input, sb) > 0);
		EVP_MD_CTX_free(ctx);
		free(hb);
		free(pb);
		free(input);
		free(sb);
		return out;
	}
	h = cjose_header_new(&err);
	if (raw_hdr) {
		cJSON *j = cJSON_Parse(raw_hdr), *it;

		assert_non_null(j);
		cJSON_ArrayForEach(it, j)
		{
			/* cjose takes a string, or an array or object as JSON text. */
			char *v = cJSON_PrintUnformatted(it);

			assert_true(cJSON_IsString(it)
					? cjose_header_set(h, it->string, it->valuestring, &err)
					: cjose_header_set_raw(h, it->string, v, &err));
			free(v);
		}
		cJSON_Delete(j);
	}
	assert_true(cjose_header_set(h, CJOSE_HDR_ALG, alg, &err));
	assert_true(cjose_header_set(h, CJOSE_HDR_KID, alg[0] == 'E' ? "ec-1" : "rsa-1", &err));
	jws = cjose_jws_sign(alg[0] == 'E' ? ec_key : rsa_key, h, (const uint8_t *)payload,
			     strlen(payload), &err);
	assert_non_null(jws);
	assert_true(cjose_jws_export(jws, &ser, &err));
	out = strdup(ser);
	cjose_jws_release(jws);
	cjose_header_release(h);
	return out;
}

/* A compact JWS of @payload with @alg, signed by the test's key for it (kid as in the JWKS). */
static char *sign(const char *alg, const char *payload)
{
	return sign_hdr(alg, NULL, payload);
}

/* The status of @token against the test's JWKS, audiences @aud (NULL: any). */
static enum wp_jwt_status check(const char *token, const char *aud)
{
	char err[200];
	struct wp_jwks *k = wp_jwks_parse(jwks_json, err, sizeof(err));
	struct config_strings a = {0};
	char *items[1] = {(char *)aud};
	struct wp_jwt jwt;
	enum wp_jwt_status st;

	assert_non_null(k);
	assert_int_equal(wp_jwks_count(k), 3); /* the unknown kty skipped */
	if (aud) {
		a.n = 1;
		a.items = items;
	}
	st = wp_jwt_decode(token, strlen(token), &jwt);
	if (!st)
		st = wp_jwt_verify(token, strlen(token), &jwt, k, &a, NOW, NULL);
	wp_jwt_clear(&jwt);
	wp_jwks_free(k);
	return st;
}

#define CLAIMS(extra) "{\"iss\":\"" ISS "\",\"sub\":\"alice\",\"aud\":\"shop\"" extra "}"

static void test_algorithms(void **state)
{
	static const char *const algs[] = {"RS256", "RS384", "RS512", "PS256",
					   "PS384", "PS512", "ES256", "EdDSA"};

	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		char *t = sign(algs[i], CLAIMS(",\"exp\":1900000000"));

		if (check(t, "shop") != WP_JWT_OK)
			fail_msg("%s: %s", algs[i], wp_jwt_status_text(check(t, "shop")));
		free(t);
	}
}

static void test_refusals(void **state)
{
	char *t, *bad;

	t = sign("RS256", CLAIMS(",\"exp\":1700000000"));
	assert_int_equal(check(t, NULL), WP_JWT_EXPIRED);
	assert_string_equal(wp_jwt_status_text(WP_JWT_EXPIRED), "Jwt is expired");
	free(t);
	/* Within Envoy's 60 s of skew: still valid. */
	t = sign("RS256", CLAIMS(",\"exp\":1799999950"));
	assert_int_equal(check(t, NULL), WP_JWT_OK);
	free(t);
	t = sign("ES256", CLAIMS(",\"nbf\":1800000600"));
	assert_int_equal(check(t, NULL), WP_JWT_NOT_YET_VALID);
	free(t);
	t = sign("RS256", CLAIMS(""));
	assert_int_equal(check(t, "other"), WP_JWT_AUDIENCE_NOT_ALLOWED);
	/* The payload changed after signing. */
	bad = strdup(t);
	bad[strchr(bad, '.') - bad + 5] ^= 1;
	assert_int_equal(check(bad, NULL), WP_JWT_VERIFICATION_FAILS);
	assert_string_equal(wp_jwt_status_text(WP_JWT_VERIFICATION_FAILS),
			    "Jwt verification fails");
	free(bad);
	free(t);
	/* alg none, and HMAC with a public key as its secret (no oct key in the set). */
	assert_int_equal(check("eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.", NULL),
			 WP_JWT_HEADER_ALG_UNSUPPORTED);
	assert_int_equal(check("eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln", NULL),
			 WP_JWT_NO_MATCHING_KEY);
	assert_int_equal(check("abc", NULL), WP_JWT_BAD_FORMAT);
	assert_int_equal(check("a.b.c.d", NULL), WP_JWT_BAD_FORMAT);
	assert_int_equal(check("!!!.eyJpc3MiOiJ4In0.c2ln", NULL), WP_JWT_HEADER_BAD_BASE64);
	assert_int_equal(check("eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln", NULL),
			 WP_JWT_PAYLOAD_BAD_JSON);
}

/* @token with its signature replaced by @sig: malloc'd. */
static char *resign(const char *token, const char *sig)
{
	char *out;

	assert_true(asprintf(&out, "%.*s.%s", (int)(strrchr(token, '.') - token), token, sig) > 0);
	return out;
}

/*
 * libcjose 0.6 asserts (ending the process) on a '=' after 4k+1 base64url characters: one
 * request's token, or one key of a key set, would take the waypoint down. Such parts are
 * refused before cjose reads them; padding that completes a quantum is still read.
 */
static void test_hostile_base64(void **state)
{
	char *rs = sign("RS256", CLAIMS("")), *ed = sign("EdDSA", CLAIMS("")), *bad;
	char err[200];

	assert_int_equal(check("a=.eyJpc3MiOiJ4In0.c2ln", NULL), WP_JWT_HEADER_BAD_BASE64);
	assert_int_equal(check("eyJhbGciOiJSUzI1NiJ9.abcde=.c2ln", NULL),
			 WP_JWT_PAYLOAD_BAD_BASE64);
	bad = resign(rs, "a=");
	assert_int_equal(check(bad, NULL), WP_JWT_SIGNATURE_BAD_BASE64);
	free(bad);
	bad = resign(ed, "abcde=");
	assert_int_equal(check(bad, NULL), WP_JWT_VERIFICATION_FAILS);
	free(bad);
	assert_int_equal(check("eyJhbGciOiJub25lIn0=.eyJpc3MiOiJ4In0=.", NULL),
			 WP_JWT_HEADER_ALG_UNSUPPORTED);
	assert_null(wp_jwks_parse("{\"keys\":[{\"kty\":\"RSA\",\"n\":\"a=\",\"e\":\"AQAB\"},"
				  "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"a=\",\"y\":\"a=\"},"
				  "{\"kty\":\"oct\",\"k\":\"abcde=\"},"
				  "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"a=\"}]}",
				  err, sizeof(err)));
	assert_string_equal(err, "JWKS: no usable signing key (4 skipped)");
	free(rs);
	free(ed);
}

/* A signature a byte longer (ES256), or a leading zero shorter (PS256), is not the key's. */
static void test_signature_length(void **state)
{
	char *t = sign("ES256", CLAIMS("")), *bad, *s64;
	uint8_t *sig = NULL;
	size_t sl = 0;
	cjose_err err;

	assert_true(asprintf(&bad, "%sA", t) > 0);
	assert_int_equal(check(t, NULL), WP_JWT_OK);
	assert_int_equal(check(bad, NULL), WP_JWT_VERIFICATION_FAILS);
	free(bad);
	/* PSS signs with a random salt: about one signature in 256 starts with a zero byte. */
	for (int i = 0; i < 8192 && (!sig || sig[0]); i++) {
		free(t);
		free(sig);
		t = sign("PS256", CLAIMS(""));
		assert_true(cjose_base64url_decode(strrchr(t, '.') + 1, strlen(strrchr(t, '.') + 1),
						   &sig, &sl, &err));
	}
	assert_int_equal(sig[0], 0);
	s64 = b64url(sig + 1, sl - 1);
	bad = resign(t, s64);
	assert_int_equal(check(t, NULL), WP_JWT_OK);
	assert_int_equal(check(bad, NULL), WP_JWT_VERIFICATION_FAILS);
	free(bad);
	free(s64);
	free(sig);
	free(t);
}

/*
 * A NUL in the payload, escaped or not, is refused: cJSON ends a string there, and "alice\0x"
 * would be taken for alice (her principal, her policies) where Envoy keeps the whole string.
 */
static void test_nul_in_claims(void **state)
{
	char *t = sign("RS256", "{\"iss\":\"" ISS "\",\"sub\":\"alice\\u0000admin\"}");

	assert_int_equal(check(t, NULL), WP_JWT_PAYLOAD_BAD_JSON);
	free(t);
	t = sign("ES256", "{\"iss\":\"" ISS "\",\"groups\":[\"admins\\u0000\"]}");
	assert_int_equal(check(t, NULL), WP_JWT_PAYLOAD_BAD_JSON);
	free(t);
	/* An escaped backslash before "u0000" is text. */
	t = sign("ES256", "{\"iss\":\"" ISS "\",\"sub\":\"a\\\\u0000\"}");
	assert_int_equal(check(t, NULL), WP_JWT_OK);
	free(t);
}

/* ---- through the model: RequestAuthentication and AuthorizationPolicy at the waypoint ---- */

static const char *const world =
    "apiVersion: v1\n"
    "kind: Namespace\n"
    "metadata: {name: shop, labels: {istio.io/use-waypoint: waypoint}}\n"
    "---\n"
    "apiVersion: gateway.networking.k8s.io/v1\n"
    "kind: Gateway\n"
    "metadata: {name: waypoint, namespace: shop}\n"
    "spec:\n"
    "  gatewayClassName: istio-waypoint\n"
    "  listeners: [{name: mesh, port: 15008, protocol: HBONE}]\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Service\n"
    "metadata: {name: web, namespace: shop}\n"
    "spec: {selector: {app: web}, ports: [{name: http, port: 80}]}\n"
    "---\n"
    "apiVersion: security.istio.io/v1\n"
    "kind: RequestAuthentication\n"
    "metadata: {name: jwt, namespace: shop}\n"
    "spec:\n"
    "  targetRefs: [{kind: Service, group: '', name: web}]\n"
    "  jwtRules:\n"
    "  - issuer: " ISS "\n"
    "    audiences: [shop]\n"
    "    jwks: '%s'\n"
    "    fromHeaders: [{name: %s, prefix: 'Token '}]\n"
    "    fromParams: [token]\n"
    "    fromCookies: [session]\n"
    "    outputPayloadToHeader: x-jwt-payload\n"
    "    outputClaimToHeaders: [{header: x-user, claim: sub}]\n"
    "---\n"
    "apiVersion: security.istio.io/v1\n"
    "kind: AuthorizationPolicy\n"
    "metadata: {name: need-jwt, namespace: shop}\n"
    "spec:\n"
    "  targetRefs: [{kind: Service, group: '', name: web}]\n"
    "  rules:\n"
    "  - from: [{source: {requestPrincipals: ['" ISS "/*']}}]\n"
    "    when:\n"
    "    - {key: 'request.auth.claims[groups]', values: [admins]}\n"
    "    - {key: 'request.auth.claims[scope]', values: [write]}\n"
    "    - {key: 'request.auth.claims[org][tier]', values: [gold]}\n";

/* The waypoint's generation for @yaml (taken), whose service has @n_jwt rules. */
static struct wp_gen *gen_yaml(char *yaml, size_t n_jwt)
{
	char err[256];
	struct config cfg;
	struct config_diags diags = {0};
	struct l7_config *l7, *back;
	struct wp_gen *g;
	cJSON *j;

	config_init(&cfg);
	if (config_load_buffer(&cfg, "test.yaml", yaml, strlen(yaml), &diags)) {
		config_diag_format(&diags.items[0], err, sizeof(err));
		fail_msg("config: %s", err);
	}
	l7 = l7_compile_config(&cfg, "shop", "waypoint");
	assert_non_null(l7);
	assert_int_equal(l7->n_jwt, n_jwt);
	j = l7_to_json(l7);
	back = l7_from_json(j, err, sizeof(err));
	if (!back)
		fail_msg("l7_from_json: %s", err);
	cJSON_Delete(j);
	l7_config_free(l7);
	config_free(&cfg);
	config_diags_free(&diags);
	free(yaml);
	g = wp_gen_new(back, 1, err, sizeof(err));
	assert_non_null(g);
	return g;
}

/* The world with the rule's token in header @header. */
static struct wp_gen *gen(const char *header)
{
	char *yaml;

	assert_true(asprintf(&yaml, world, jwks_json, header) > 0);
	return gen_yaml(yaml, 1);
}

/* What @f with @target gets: the 401 reason or "" and, when it passes, the policies' verdict. */
static const char *request(struct wp_gen *g, struct http_fields *f, const char *target,
			   enum wp_authz_verdict *v)
{
	const struct l7_service *s = &g->l7->services[0];
	struct wp_authz_request rq = {.method = "GET", .path = "/", .path_len = 1, .headers = f};
	struct wp_authz_decision d;
	struct wp_authn an;
	static char why[128];

	assert_int_equal(wp_authn_check(g, s, f, target, NOW, NULL, &an), 0);
	snprintf(why, sizeof(why), "%s", an.error ? an.error : "");
	rq.request_principal = an.principal;
	rq.claims = an.jwt.payload;
	wp_authz_decide(g->l7, s, &rq, &d);
	*v = d.verdict;
	wp_authn_clear(&an);
	return why;
}

static void test_request_path(void **state)
{
	struct wp_gen *g = gen("x-jwt");
	char *good = sign("ES256", CLAIMS(",\"groups\":[\"dev\",\"admins\"],\"scope\":\"read "
					  "write\",\"org\":{\"tier\":\"gold\"}"));
	char *poor = sign("ES256", CLAIMS(",\"groups\":[\"dev\"],\"scope\":\"read write\","
					  "\"org\":{\"tier\":\"gold\"}"));
	char *expired = sign("RS256", CLAIMS(",\"exp\":1000"));
	char *stranger = sign("RS256", "{\"iss\":\"https://other\",\"sub\":\"x\"}");
	struct http_fields f = {0};
	enum wp_authz_verdict v;
	char hv[2048];

	/* No token: passes authentication, but the policy wants a request principal. */
	assert_string_equal(request(g, &f, "/", &v), "");
	assert_int_equal(v, WP_AUTHZ_DENY);
	/* A good token in the rule's header, with its prefix: allowed, passed on as asked. */
	snprintf(hv, sizeof(hv), "Token %s", good);
	http_fields_add(&f, "x-jwt", hv);
	assert_string_equal(request(g, &f, "/", &v), "");
	assert_int_equal(v, WP_AUTHZ_ALLOW);
	assert_null(http_fields_get(&f, "x-jwt")); /* forwardOriginalToken: false */
	assert_string_equal(http_fields_get(&f, "x-user"), "alice");
	assert_non_null(http_fields_get(&f, "x-jwt-payload"));
	http_fields_free(&f);
	/* Claims that do not satisfy the policy: authenticated, denied. */
	snprintf(hv, sizeof(hv), "/?a=1&token=%s", poor);
	assert_string_equal(request(g, &f, hv, &v), "");
	assert_int_equal(v, WP_AUTHZ_DENY);
	/* Bad tokens: 401 with Envoy's reason, wherever they come from. */
	snprintf(hv, sizeof(hv), "a=b; session=%s", expired);
	http_fields_add(&f, "cookie", hv);
	assert_string_equal(request(g, &f, "/", &v), "Jwt is expired");
	http_fields_free(&f);
	snprintf(hv, sizeof(hv), "Token %s", stranger);
	http_fields_add(&f, "x-jwt", hv);
	assert_string_equal(request(g, &f, "/", &v), "Jwt issuer is not configured");
	http_fields_free(&f);
	/* The default locations are not the rule's when it names its own. */
	snprintf(hv, sizeof(hv), "Bearer %s", expired);
	http_fields_add(&f, "authorization", hv);
	assert_string_equal(request(g, &f, "/", &v), "");
	http_fields_free(&f);
	free(good);
	free(poor);
	free(expired);
	free(stranger);
	wp_gen_put(g);
}

/* A token's header is removed whatever the length of its name (it was cut at 127 bytes). */
static void test_long_token_header(void **state)
{
	char name[200] = "x-", hv[2048];
	struct wp_gen *g;
	char *good = sign("EdDSA", CLAIMS(",\"groups\":[\"admins\"],\"scope\":\"write\","
					  "\"org\":{\"tier\":\"gold\"}"));
	struct http_fields f = {0};
	enum wp_authz_verdict v;

	memset(name + 2, 'h', 150);
	g = gen(name);
	snprintf(hv, sizeof(hv), "Token %s", good);
	http_fields_add(&f, name, hv);
	assert_string_equal(request(g, &f, "/", &v), "");
	assert_int_equal(v, WP_AUTHZ_ALLOW);
	assert_null(http_fields_get(&f, name));
	http_fields_free(&f);
	free(good);
	wp_gen_put(g);
}

/* ---- every token of a request (issue 38 §1.5) ---- */

#define GOOD_CLAIMS(sub)                                                                           \
	"{\"iss\":\"" ISS "\",\"sub\":\"" sub "\",\"aud\":\"shop\",\"groups\":[\"admins\"],"       \
	"\"scope\":\"write\",\"org\":{\"tier\":\"gold\"}}"

/* The 401 reason (or "") and the principal (or "-") @f with @target gets, with @cache. */
static const char *authn(struct wp_gen *g, struct http_fields *f, const char *target,
			 struct wp_jwt_cache *cache, time_t now, char *principal, size_t len)
{
	struct wp_authn an;
	static char why[128];

	assert_int_equal(wp_authn_check(g, &g->l7->services[0], f, target, now, cache, &an), 0);
	snprintf(why, sizeof(why), "%s", an.error ? an.error : "");
	snprintf(principal, len, "%s", an.principal ? an.principal : "-");
	if (an.principal)
		assert_ptr_equal(an.jwt.sub, strrchr(an.principal, '/') ? an.jwt.sub : NULL);
	wp_authn_clear(&an);
	return why;
}

static void add_field(struct http_fields *f, const char *name, const char *prefix, const char *tok)
{
	char hv[2048];

	snprintf(hv, sizeof(hv), "%s%s", prefix, tok);
	assert_int_equal(http_fields_add(f, name, hv), 0);
}

static void test_every_token_verified(void **state)
{
	struct wp_gen *g = gen("x-jwt");
	char *alice = sign("ES256", GOOD_CLAIMS("alice")), *bob = sign("RS256", GOOD_CLAIMS("bob"));
	/* alg none: what an attacker signs with no key. */
	const char *forged = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwic3Vi"
			     "IjoiYWRtaW4ifQ.";
	char *tampered = strdup(bob), target[2048], who[256];
	struct http_fields f = {0};

	tampered[strlen(tampered) - 3] ^= 1;
	/* A good token in the header, a forged one in the query: 401. */
	add_field(&f, "x-jwt", "Token ", alice);
	snprintf(target, sizeof(target), "/?a=1&token=%s", forged);
	assert_string_equal(authn(g, &f, target, NULL, NOW, who, sizeof(who)),
			    "Jwt header [alg] is not supported");
	assert_string_equal(who, "-");
	assert_non_null(http_fields_get(&f, "x-jwt")); /* refused: left as it came */
	http_fields_free(&f);
	/* Two fields of the header, the second's signature broken: 401. */
	add_field(&f, "x-jwt", "Token ", alice);
	add_field(&f, "x-jwt", "Token ", tampered);
	assert_string_equal(authn(g, &f, "/", NULL, NOW, who, sizeof(who)),
			    "Jwt verification fails");
	http_fields_free(&f);
	/* The query's parameter twice, the second forged; a cookie twice, likewise. */
	snprintf(target, sizeof(target), "/?token=%s&token=%s", alice, forged);
	assert_string_equal(authn(g, &f, target, NULL, NOW, who, sizeof(who)),
			    "Jwt header [alg] is not supported");
	add_field(&f, "cookie", "session=", alice);
	add_field(&f, "cookie", "a=b; session=", tampered);
	assert_string_equal(authn(g, &f, "/", NULL, NOW, who, sizeof(who)),
			    "Jwt verification fails");
	http_fields_free(&f);
	/* Both good: the request passes, its principal the first token Envoy extracts (headers
	 * before the query before cookies; a header's fields in order), every header removed. */
	add_field(&f, "cookie", "session=", bob);
	add_field(&f, "x-jwt", "Token ", alice);
	add_field(&f, "x-jwt", "Token ", bob);
	snprintf(target, sizeof(target), "/?token=%s", bob);
	assert_string_equal(authn(g, &f, target, NULL, NOW, who, sizeof(who)), "");
	assert_string_equal(who, ISS "/alice");
	assert_null(http_fields_get(&f, "x-jwt"));
	assert_string_equal(http_fields_get(&f, "x-user"), "alice");
	assert_int_equal(http_fields_count(&f, "x-user"), 1);
	http_fields_free(&f);
	add_field(&f, "cookie", "session=", alice);
	snprintf(target, sizeof(target), "/?token=%s", bob);
	assert_string_equal(authn(g, &f, target, NULL, NOW, who, sizeof(who)), "");
	assert_string_equal(who, ISS "/bob");
	http_fields_free(&f);
	/* More tokens than a request may carry. */
	for (int i = 0; i <= WP_AUTHN_MAX_TOKENS; i++)
		add_field(&f, "x-jwt", i % 2 ? "Token " : "token ", alice);
	assert_string_equal(authn(g, &f, "/", NULL, NOW, who, sizeof(who)),
			    "Found multiple Jwt tokens");
	http_fields_free(&f);
	free(alice);
	free(bob);
	free(tampered);
	wp_gen_put(g);
}

/* The output headers are the verified token's, never the client's (Envoy sanitizes them). */
static void test_outputs_not_from_client(void **state)
{
	struct wp_gen *g = gen("x-jwt");
	char who[256];
	struct http_fields f = {0};

	assert_int_equal(http_fields_add(&f, "x-user", "admin"), 0);
	assert_int_equal(http_fields_add(&f, "X-JWT-Payload", "eyJzdWIiOiJhZG1pbiJ9"), 0);
	assert_int_equal(http_fields_add(&f, "x-other", "kept"), 0);
	assert_string_equal(authn(g, &f, "/", NULL, NOW, who, sizeof(who)), "");
	assert_null(http_fields_get(&f, "x-user"));
	assert_null(http_fields_get(&f, "x-jwt-payload"));
	assert_string_equal(http_fields_get(&f, "x-other"), "kept");
	http_fields_free(&f);
	wp_gen_put(g);
}

/* Two rules: a token is its issuer's only at the places that issuer's rule names. */
static const char *const world2 =
    "apiVersion: v1\nkind: Namespace\n"
    "metadata: {name: shop, labels: {istio.io/use-waypoint: waypoint}}\n---\n"
    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
    "metadata: {name: waypoint, namespace: shop}\n"
    "spec:\n  gatewayClassName: istio-waypoint\n"
    "  listeners: [{name: mesh, port: 15008, protocol: HBONE}]\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
    "spec: {selector: {app: web}, ports: [{name: http, port: 80}]}\n---\n"
    "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n"
    "metadata: {name: jwt, namespace: shop}\n"
    "spec:\n  targetRefs: [{kind: Service, group: '', name: web}]\n  jwtRules:\n"
    "  - issuer: " ISS "\n    jwks: '%s'\n    fromHeaders: [{name: x-jwt}]\n"
    "  - issuer: https://other.example\n    jwks: '%s'\n    forwardOriginalToken: true\n";

static void test_places_of_issuer(void **state)
{
	char *yaml, who[256], target[2048];
	struct wp_gen *g;
	char *mine = sign("RS256", "{\"iss\":\"" ISS "\",\"sub\":\"alice\"}");
	char *other = sign("ES256", "{\"iss\":\"https://other.example\",\"sub\":\"carol\"}");
	struct http_fields f = {0};

	assert_true(asprintf(&yaml, world2, jwks_json, jwks_json) > 0);
	g = gen_yaml(yaml, 2);
	/* Each at its rule's place: both verified; the header's token is the principal; the
	 * forwarded rule's Authorization stays. */
	add_field(&f, "x-jwt", "", mine);
	add_field(&f, "authorization", "Bearer ", other);
	assert_string_equal(authn(g, &f, "/", NULL, NOW, who, sizeof(who)), "");
	assert_string_equal(who, "https://other.example/carol"); /* "authorization" < "x-jwt" */
	assert_null(http_fields_get(&f, "x-jwt"));
	assert_non_null(http_fields_get(&f, "authorization"));
	http_fields_free(&f);
	/* ISS's token where only the other rule looks: its issuer is not configured there. */
	add_field(&f, "authorization", "Bearer ", mine);
	assert_string_equal(authn(g, &f, "/", NULL, NOW, who, sizeof(who)),
			    "Jwt issuer is not configured");
	http_fields_free(&f);
	snprintf(target, sizeof(target), "/?access_token=%s", mine);
	add_field(&f, "x-jwt", "", mine);
	assert_string_equal(authn(g, &f, target, NULL, NOW, who, sizeof(who)),
			    "Jwt issuer is not configured");
	http_fields_free(&f);
	free(mine);
	free(other);
	wp_gen_put(g);
}

/* ---- NumericDates and crit (issue 38 §1.6) ---- */

static void test_numeric_dates(void **state)
{
	static const struct {
		const char *claims;
		enum wp_jwt_status want;
	} cases[] = {
	    /* inf to cJSON: it would never expire. */
	    {",\"exp\":1e400", WP_JWT_EXP_OUT_OF_RANGE},
	    {",\"exp\":-1e30", WP_JWT_EXP_OUT_OF_RANGE},
	    {",\"exp\":-1", WP_JWT_EXP_OUT_OF_RANGE},
	    {",\"exp\":18446744073709551616", WP_JWT_EXP_OUT_OF_RANGE},
	    {",\"exp\":\"1900000000\"", WP_JWT_EXP_NOT_INTEGER},
	    {",\"exp\":null", WP_JWT_EXP_NOT_INTEGER},
	    /* In uint64 range, as jwt_verify_lib takes it: far in the future. */
	    {",\"exp\":9.9e18", WP_JWT_OK},
	    /* A fraction is dropped, as jwt_verify_lib's cast does. */
	    {",\"exp\":1900000000.5", WP_JWT_OK},
	    {",\"exp\":1799999939.9", WP_JWT_EXPIRED},
	    {",\"nbf\":1e400", WP_JWT_NBF_OUT_OF_RANGE},
	    {",\"nbf\":true", WP_JWT_NBF_NOT_INTEGER},
	    {",\"nbf\":1800000060.9", WP_JWT_OK},
	    {",\"iat\":1e400", WP_JWT_IAT_OUT_OF_RANGE},
	    {",\"iat\":-5", WP_JWT_IAT_OUT_OF_RANGE},
	    {",\"iat\":[1]", WP_JWT_IAT_NOT_INTEGER},
	    {",\"iat\":1700000000", WP_JWT_OK},
	};
	char claims[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *t;
		enum wp_jwt_status st;

		snprintf(claims, sizeof(claims), "{\"iss\":\"" ISS "\",\"sub\":\"alice\"%s}",
			 cases[i].claims);
		t = sign("RS256", claims);
		st = check(t, NULL);
		if (st != cases[i].want)
			fail_msg("%s: %s, want %s", cases[i].claims, wp_jwt_status_text(st),
				 wp_jwt_status_text(cases[i].want));
		free(t);
	}
	assert_string_equal(wp_jwt_status_text(WP_JWT_EXP_OUT_OF_RANGE),
			    "Jwt payload [exp] field is not a positive 64 bit integer");
}

static void test_crit_refused(void **state)
{
	char *t = sign_hdr("ES256", "{\"crit\":[\"exp\"]}", CLAIMS(""));

	assert_int_equal(check(t, NULL), WP_JWT_HEADER_CRIT);
	free(t);
	t = sign_hdr("RS256", "{\"crit\":[\"b64\"]}", CLAIMS(""));
	assert_int_equal(check(t, NULL), WP_JWT_HEADER_CRIT);
	free(t);
	/* Not an extension list at all: no better. */
	t = sign_hdr("RS256", "{\"crit\":\"x\"}", CLAIMS(""));
	assert_int_equal(check(t, NULL), WP_JWT_HEADER_CRIT);
	free(t);
	/* Unknown header parameters that are not critical are ignored (RFC 7515 §4). */
	t = sign_hdr("RS256", "{\"x-what\":[1]}", CLAIMS(""));
	assert_int_equal(check(t, NULL), WP_JWT_OK);
	free(t);
}

/* ---- the verified-token cache (issue 38 §3) ---- */

/* The status of @token against key set @k, audiences @aud (NULL: any), at @now, with @c. */
static enum wp_jwt_status cached(const char *token, size_t n, const struct wp_jwks *k,
				 const char *aud, time_t now, struct wp_jwt_cache *c)
{
	struct config_strings a = {0};
	char *items[1] = {(char *)aud};
	struct wp_jwt jwt;
	enum wp_jwt_status st;

	if (aud) {
		a.n = 1;
		a.items = items;
	}
	st = wp_jwt_decode(token, n, &jwt);
	if (!st)
		st = wp_jwt_verify(token, n, &jwt, k, &a, now, c);
	wp_jwt_clear(&jwt);
	return st;
}

static struct wp_jwks *keys(void)
{
	char err[200];
	struct wp_jwks *k = wp_jwks_parse(jwks_json, err, sizeof(err));

	assert_non_null(k);
	return k;
}

static void test_cache_hit_and_checks(void **state)
{
	struct wp_jwt_cache *c = wp_jwt_cache_new(0);
	struct wp_jwks *k = keys();
	char *t = sign("RS256", CLAIMS(",\"exp\":1800000100"));
	struct wp_jwt_cache_stats cs;

	assert_int_equal(cached(t, strlen(t), k, "shop", NOW, c), WP_JWT_OK);
	assert_int_equal(cached(t, strlen(t), k, "shop", NOW, c), WP_JWT_OK);
	wp_jwt_cache_stats(c, &cs);
	assert_int_equal(cs.misses, 1);
	assert_int_equal(cs.hits, 1);
	assert_int_equal(cs.entries, 1);
	assert_int_equal(cs.bytes, strlen(t));
	/* A hit still checks the audiences it is asked for. */
	assert_int_equal(cached(t, strlen(t), k, "other", NOW, c), WP_JWT_AUDIENCE_NOT_ALLOWED);
	wp_jwt_cache_stats(c, &cs);
	assert_int_equal(cs.hits, 2);
	/* Expired while cached (exp + 60 s of skew passed): refused, and dropped. */
	assert_int_equal(cached(t, strlen(t), k, "shop", NOW + 160, c), WP_JWT_OK);
	assert_int_equal(cached(t, strlen(t), k, "shop", NOW + 161, c), WP_JWT_EXPIRED);
	wp_jwt_cache_stats(c, &cs);
	assert_int_equal(cs.entries, 0);
	assert_int_equal(cs.bytes, 0);
	/* An expired token is never admitted. */
	assert_int_equal(cached(t, strlen(t), k, "shop", NOW + 500, c), WP_JWT_EXPIRED);
	wp_jwt_cache_stats(c, &cs);
	assert_int_equal(cs.entries, 0);
	free(t);
	wp_jwks_free(k);
	wp_jwt_cache_free(c);
}

static void test_cache_forged_not_admitted(void **state)
{
	struct wp_jwt_cache *c = wp_jwt_cache_new(0);
	struct wp_jwks *k = keys();
	char *t = sign("ES256", CLAIMS("")), *bad = strdup(t), *longer;
	size_t n = strlen(t);
	struct wp_jwt_cache_stats cs;

	assert_int_equal(cached(t, n, k, NULL, NOW, c), WP_JWT_OK);
	/* The same bytes but one of the signature's (not its last character, whose low bits
	 * base64url leaves unused), and the same bytes with one more: not the cached one. */
	bad[n - 10] = bad[n - 10] == 'A' ? 'B' : 'A';
	assert_int_equal(cached(bad, n, k, NULL, NOW, c), WP_JWT_VERIFICATION_FAILS);
	assert_true(asprintf(&longer, "%sA", t) > 0);
	assert_int_equal(cached(longer, n + 1, k, NULL, NOW, c), WP_JWT_VERIFICATION_FAILS);
	/* A prefix of it (the signature cut) is not it either. */
	assert_int_equal(cached(t, n - 4, k, NULL, NOW, c), WP_JWT_VERIFICATION_FAILS);
	wp_jwt_cache_stats(c, &cs);
	assert_int_equal(cs.hits, 0);
	assert_int_equal(cs.entries, 1);
	free(longer);
	free(bad);
	free(t);
	wp_jwks_free(k);
	wp_jwt_cache_free(c);
}

static void test_cache_jwks_rotation(void **state)
{
	static const uint8_t e[] = {1, 0, 1};
	struct wp_jwt_cache *c = wp_jwt_cache_new(0);
	struct wp_jwks *k = keys(), *same, *rotated;
	char *t = sign("RS256", CLAIMS("")), *jwk, *json, err[200];
	cjose_jwk_t *other = cjose_jwk_create_RSA_random(2048, e, sizeof(e), NULL);
	struct wp_jwt_cache_stats cs;

	assert_int_equal(cached(t, strlen(t), k, NULL, NOW, c), WP_JWT_OK);
	/* The issuer rotated its key (same kid): the token's key is gone; not admitted. */
	assert_non_null(other);
	jwk = public_jwk(other, "rsa-1");
	assert_true(asprintf(&json, "{\"keys\":[%s]}", jwk) > 0);
	rotated = wp_jwks_parse(json, err, sizeof(err));
	assert_non_null(rotated);
	assert_int_not_equal(wp_jwks_serial(rotated), wp_jwks_serial(k));
	assert_int_equal(cached(t, strlen(t), rotated, NULL, NOW, c), WP_JWT_VERIFICATION_FAILS);
	/* The same JWKS again (a new generation): checked again, then cached under it. */
	same = keys();
	assert_int_equal(cached(t, strlen(t), same, NULL, NOW, c), WP_JWT_OK);
	wp_jwt_cache_stats(c, &cs);
	assert_int_equal(cs.hits, 0);
	assert_int_equal(cs.misses, 3);
	assert_int_equal(cs.entries, 2);
	wp_jwks_free(same);
	wp_jwks_free(rotated);
	free(json);
	free(jwk);
	cjose_jwk_release(other);
	free(t);
	wp_jwks_free(k);
	wp_jwt_cache_free(c);
}

static void test_cache_bounded(void **state)
{
	struct wp_jwt_cache *c = wp_jwt_cache_new(4);
	struct wp_jwks *k = keys();
	struct wp_jwt_cache_stats cs;
	char claims[128], *first = NULL, *big, *t;

	for (int i = 0; i < 10; i++) {
		snprintf(claims, sizeof(claims), "{\"iss\":\"" ISS "\",\"sub\":\"u%d\"}", i);
		t = sign("EdDSA", claims);
		assert_int_equal(cached(t, strlen(t), k, NULL, NOW, c), WP_JWT_OK);
		if (!first)
			first = t;
		else
			free(t);
	}
	wp_jwt_cache_stats(c, &cs);
	assert_int_equal(cs.entries, 4);
	assert_int_equal(cs.evictions, 6);
	/* The least recently used went first: the first token is checked again. */
	assert_int_equal(cached(first, strlen(first), k, NULL, NOW, c), WP_JWT_OK);
	wp_jwt_cache_stats(c, &cs);
	assert_int_equal(cs.hits, 0);
	/* A token longer than an entry may hold is verified, not kept. */
	big = malloc(WP_JWT_CACHE_TOKEN_MAX + 64);
	memset(big, 'a', WP_JWT_CACHE_TOKEN_MAX);
	big[WP_JWT_CACHE_TOKEN_MAX] = '\0';
	snprintf(claims, sizeof(claims), "{\"iss\":\"" ISS "\",\"pad\":\"%.40s\"}", big);
	{
		char *payload;

		assert_true(asprintf(&payload, "{\"iss\":\"" ISS "\",\"pad\":\"%s\"}", big) > 0);
		t = sign("EdDSA", payload);
		free(payload);
	}
	assert_true(strlen(t) > WP_JWT_CACHE_TOKEN_MAX);
	assert_int_equal(cached(t, strlen(t), k, NULL, NOW, c), WP_JWT_OK);
	assert_int_equal(cached(t, strlen(t), k, NULL, NOW, c), WP_JWT_OK);
	wp_jwt_cache_stats(c, &cs);
	assert_int_equal(cs.hits, 0);
	assert_int_equal(cs.entries, 4);
	assert_true(cs.bytes <= 4 * WP_JWT_CACHE_TOKEN_MAX);
	free(t);
	free(big);
	free(first);
	wp_jwks_free(k);
	wp_jwt_cache_free(c);
}

/* Through the request path: a hit gives the same principal, claims and headers. */
static void test_cache_request_path(void **state)
{
	struct wp_gen *g = gen("x-jwt");
	struct wp_jwt_cache *c = wp_jwt_cache_new(0);
	char *alice = sign("RS256", GOOD_CLAIMS("alice")), who[256];
	struct wp_jwt_cache_stats cs;

	for (int i = 0; i < 2; i++) {
		struct http_fields f = {0};
		enum wp_authz_verdict v;

		add_field(&f, "x-jwt", "Token ", alice);
		assert_string_equal(authn(g, &f, "/", c, NOW, who, sizeof(who)), "");
		assert_string_equal(who, ISS "/alice");
		assert_string_equal(http_fields_get(&f, "x-user"), "alice");
		assert_null(http_fields_get(&f, "x-jwt"));
		http_fields_free(&f);
		add_field(&f, "x-jwt", "Token ", alice);
		assert_string_equal(request(g, &f, "/", &v), "");
		assert_int_equal(v, WP_AUTHZ_ALLOW);
		http_fields_free(&f);
	}
	wp_jwt_cache_stats(c, &cs);
	assert_int_equal(cs.hits, 1);
	assert_int_equal(cs.misses, 1);
	free(alice);
	wp_jwt_cache_free(c);
	wp_gen_put(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_algorithms),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_hostile_base64),
	    cmocka_unit_test(test_signature_length),
	    cmocka_unit_test(test_nul_in_claims),
	    cmocka_unit_test(test_request_path),
	    cmocka_unit_test(test_long_token_header),
	    cmocka_unit_test(test_every_token_verified),
	    cmocka_unit_test(test_outputs_not_from_client),
	    cmocka_unit_test(test_places_of_issuer),
	    cmocka_unit_test(test_numeric_dates),
	    cmocka_unit_test(test_crit_refused),
	    cmocka_unit_test(test_cache_hit_and_checks),
	    cmocka_unit_test(test_cache_forged_not_admitted),
	    cmocka_unit_test(test_cache_jwks_rotation),
	    cmocka_unit_test(test_cache_bounded),
	    cmocka_unit_test(test_cache_request_path),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
