/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What fuzz_jwt and its seed generator (gen_seeds.c) share: a fixed key set, generated once with
 * `openssl genpkey` and embedded so that a committed seed can carry a token it signed, its
 * public JWKS, and a signer that makes a compact JWS of any header and payload bytes with any
 * "alg" (including the forgeries a client would try: alg none, HMAC keyed with a public key).
 * Header-only, like waypoint_drive.h; a test may call OpenSSL directly.
 */
#ifndef AMBIT_FUZZ_JWT_SIGN_H
#define AMBIT_FUZZ_JWT_SIGN_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjose/cjose.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

/* The key of "kid" rsa-1 (RS*, PS*). */
static const char jwtk_rsa_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCv0+BgI9PSEroa\n"
    "SxvzDPk+WUiwoNdAfNVgCZfuZz+jG1drfq33IEHPELCcekrS1h9Cb6xwmAFJhcYR\n"
    "+FziSMsaA7wkSc8KB1X8nsFP2NYJf/RCOagIRlc8N+A47NLXTYGCxT2Wi2DI4q3A\n"
    "d578F4uURkOnHpOANsuNyNKtiuge/IjMKjGPOs3LSFU6siU6jEFG/OZHvlExC3OA\n"
    "E+tfqM7YEw4OKUNipm8LzMU1m8ewNM/T50QGGeBn6uDjgtz9zYw4NK2B0+DSXvsd\n"
    "QSFuERxujGLE0ZYMfOE0w3XX5byTKdrHoYCtsAn4WDKKAzR4MJWRQaZZc0j7lqtj\n"
    "Pf0LoFPvAgMBAAECggEACNOgHfNufMtH4G4I1yi9km21AnjwlWIu7AVPRT6VqUCE\n"
    "IPdZEGDkLNrvostY2kC5jQJCK9zVo7U9fkVzlECHQaUSWtgBtsUrgeUOW03NYOi1\n"
    "gGWYk+HEG1fKv9DTvM89Qy1XrCkPEMagZlsa9hjQfv8QAmG8keEuUs3UFbY1dOiv\n"
    "E2zePg9+i7+tT6gwDptq7EbE+qLT1b3mEbewbToYoqKpBgHFY/oeMkpy9bzse9Qu\n"
    "5ZA5K0q765XooXeXV/q35/268YVytdCeKyGURh2J/g3czBQjZRTZi9oPJzW1eVRg\n"
    "9yWOkcOCxg/ISsEqB5wywOav5XtB7Gv1vao8gWoyEQKBgQDxJWkPxGPwA+r5hlQ0\n"
    "J7Lj+yAbyd6ajsDyP9Y2YXQxY+8LSI2QPZw7UTt/Z12TB5TfqIJE6em2HCX7APnm\n"
    "ZNC5DJWuOWuZ/gNR1WeZDohifGeK7Xs8mot5qKqzMNsae3gqK2JVFQjryhuSZfEu\n"
    "sBJOKjXQPG/+E6RkLiwGjtHO0wKBgQC6qHh7W+aJfW0mONdZlytqFMu6+cPR+rSn\n"
    "kGfeoPJUkKysqRE9+ud8D8x3vwBAHcHOuvKOeglSHFFA0T5bUbUXbwi/iR23F1QJ\n"
    "eas0DJn9/B12bPlT50OGTlhU/r7yeAlIYTmXB3NA6vbg/nOxX61sgsppoYOShIMm\n"
    "jj51MR6M9QKBgGf67KF62mjtF43+qSJQF+gMKd0xn4Xflj0e35xVS0fcwn+IClqu\n"
    "5kYBkfkutf+nHj+OppVWk4sN+iaQVjFNOV8BmS0l30roZ8AKmAA8bvygjfkuy5vn\n"
    "O8r6uphHscJqiPcN+/mZ913MqTToNiYej9Yah1fCJ7xT9eeorR0qyjc3AoGAUQGw\n"
    "WAkIQf8XEZF1lEIQ61bfG+QtYcGmCVqYWXwL7ztiVQSCoR10vNi2afmQiELhy3BC\n"
    "uCaqSOJVOQYWQ9dv+h2L9GPza3RKWlpdPJeDdUCnILAmfI1PNshleW2dPOlvTeQz\n"
    "9CGdmTzfq8GCQCY/w2n3omQgD8RGjsMIxB9vHMkCgYAxmr2UGwznD6KMJZlQ9qQL\n"
    "c5QrLSdIYkLaqLzTAwfoRON+ACDYMHVK045X9aLpqOQ6OYtSqrwDUITOmOXx04t9\n"
    "mJhZXJjXxDJ+oX3c2YcGMPnTVFSkzHv7HSPR4K02/81nZi1TOmdYjS/ewJofjoQT\n"
    "ECiHmcE0o9PKt7qlSU0KZw==\n"
    "-----END PRIVATE KEY-----\n";

/* rsa-2: in the set with "alg": "RS512", its private half thrown away. */
static const char jwtk_rsa2_pub_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA2aWDG2USmdyXDxCJTnTO\n"
    "bPTcTKfYx33sGAMae1/+9+vTKOfwlUGAwSGnN1M5edOdhyJvNnX+P3CtXcc5+pgN\n"
    "bKZPK8wRl8ROFBCbAjr8NDjgvECe1Ff2zkWbFEihtw43EYCxwmDMyx1aA7Z/ln1x\n"
    "xx7B1MnffXfz5RjVoOwAe+K0DyYQ44Pj4onQlaclfyns6YG7yhNexJpEQrE+JWZD\n"
    "ck0kazV9+6q7Qx8b72CenkqTY6YxecBqvLw5GvnrKuYQMysGXEgVFkPw39ckLnZX\n"
    "n2HBP0OcwyieyLISQzD7bypMS85l/gNVyNH3wy0lqKNBSBsY3indL/HkXKI09+e3\n"
    "eQIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

/* ec-1 (P-256, ES256). */
static const char jwtk_ec_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgKAmTgw/68Me2i/7a\n"
    "OxElKFn6VZ2JdHADrbh5FUypSwKhRANCAASQ5VF3vZei/rPr/K3MGU5/GEO5E8s1\n"
    "t2ztH+fkaldegE6WRl0JdKD2747kxoNwBIQndQH7JSrGjzVCi1ToINFA\n"
    "-----END PRIVATE KEY-----\n";

/* ed-1 (Ed25519, EdDSA). */
static const char jwtk_ed_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIGvXP6erj0zz2KBHkC501DtcsW1B+D42oBK2b5c2UgFh\n"
    "-----END PRIVATE KEY-----\n";

/* The secret of the HS256 tokens a key set with an "oct" key of it verifies. */
#define JWTK_HMAC_SECRET "fuzz_jwt hmac secret, 32 bytes!!"

struct jwtk {
	EVP_PKEY *rsa, *rsa2, *ec, *ed;
	/* Public parts as the JWKS carries them (base64url). */
	char *rsa_n, *rsa2_n, *ec_x, *ec_y, *ed_x;
	char *rsa_jwk; /* rsa-1's public JWK: the secret of the key-confusion HS* tokens */
	/* rsa-1, ec-1 ("alg": "ES256"), ed-1, rsa-2 ("alg": "RS512"), an encryption key. */
	char *jwks;
};

/* base64url without padding of @n bytes of @d: malloc'd, or NULL. */
static char *jwtk_b64url(const void *d, size_t n)
{
	char *out = NULL;
	size_t len = 0;
	cjose_err err;

	if (!n)
		return strdup("");
	return cjose_base64url_encode(d, n, &out, &len, &err) ? out : NULL;
}

static EVP_PKEY *jwtk_pem(const char *pem, bool public_only)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = NULL;

	if (b)
		k = public_only ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL)
				: PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	return k;
}

/* Big-number parameter @name of @k, @pad bytes wide (0: as short as it goes), base64url. */
static char *jwtk_bn(const EVP_PKEY *k, const char *name, int pad)
{
	BIGNUM *bn = NULL;
	unsigned char buf[512];
	char *out = NULL;
	int n;

	if (!EVP_PKEY_get_bn_param(k, name, &bn) || BN_num_bytes(bn) > (int)sizeof(buf))
		goto out;
	n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
	if (n > 0)
		out = jwtk_b64url(buf, (size_t)n);
out:
	BN_free(bn);
	return out;
}

static void jwtk_free(struct jwtk *k)
{
	EVP_PKEY_free(k->rsa);
	EVP_PKEY_free(k->rsa2);
	EVP_PKEY_free(k->ec);
	EVP_PKEY_free(k->ed);
	free(k->rsa_n);
	free(k->rsa2_n);
	free(k->ec_x);
	free(k->ec_y);
	free(k->ed_x);
	free(k->rsa_jwk);
	free(k->jwks);
	memset(k, 0, sizeof(*k));
}

/* Loads the keys and writes their JWKS into @k. 0, or -1 (then @k holds nothing). */
static int jwtk_load(struct jwtk *k)
{
	unsigned char pub[32];
	size_t pl = sizeof(pub);

	memset(k, 0, sizeof(*k));
	k->rsa = jwtk_pem(jwtk_rsa_pem, false);
	k->rsa2 = jwtk_pem(jwtk_rsa2_pub_pem, true);
	k->ec = jwtk_pem(jwtk_ec_pem, false);
	k->ed = jwtk_pem(jwtk_ed_pem, false);
	if (!k->rsa || !k->rsa2 || !k->ec || !k->ed ||
	    EVP_PKEY_get_raw_public_key(k->ed, pub, &pl) != 1 || pl != 32)
		goto fail;
	k->rsa_n = jwtk_bn(k->rsa, OSSL_PKEY_PARAM_RSA_N, 0);
	k->rsa2_n = jwtk_bn(k->rsa2, OSSL_PKEY_PARAM_RSA_N, 0);
	k->ec_x = jwtk_bn(k->ec, OSSL_PKEY_PARAM_EC_PUB_X, 32);
	k->ec_y = jwtk_bn(k->ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
	k->ed_x = jwtk_b64url(pub, pl);
	if (!k->rsa_n || !k->rsa2_n || !k->ec_x || !k->ec_y || !k->ed_x)
		goto fail;
	/* Both RSA keys have e = 65537, genpkey's. */
	if (asprintf(&k->rsa_jwk, "{\"kty\":\"RSA\",\"kid\":\"rsa-1\",\"n\":\"%s\",\"e\":\"AQAB\"}",
		     k->rsa_n) < 0) {
		k->rsa_jwk = NULL;
		goto fail;
	}
	if (asprintf(
		&k->jwks,
		"{\"keys\":[%s,"
		"{\"kty\":\"EC\",\"kid\":\"ec-1\",\"alg\":\"ES256\",\"use\":\"sig\","
		"\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"},"
		"{\"kty\":\"OKP\",\"kid\":\"ed-1\",\"crv\":\"Ed25519\",\"x\":\"%s\"},"
		"{\"kty\":\"RSA\",\"kid\":\"rsa-2\",\"alg\":\"RS512\",\"n\":\"%s\",\"e\":\"AQAB\"},"
		"{\"kty\":\"RSA\",\"kid\":\"enc-1\",\"use\":\"enc\",\"n\":\"%s\",\"e\":\"AQAB\"}]}",
		k->rsa_jwk, k->ec_x, k->ec_y, k->ed_x, k->rsa2_n, k->rsa2_n) < 0) {
		k->jwks = NULL;
		goto fail;
	}
	return 0;
fail:
	jwtk_free(k);
	return -1;
}

/* The digest of "alg" @alg by its last three characters (256, 384, 512), or NULL. */
static const EVP_MD *jwtk_md(const char *alg)
{
	size_t n = strlen(alg);

	if (n < 3)
		return NULL;
	if (!strcmp(alg + n - 3, "256"))
		return EVP_sha256();
	if (!strcmp(alg + n - 3, "384"))
		return EVP_sha384();
	if (!strcmp(alg + n - 3, "512"))
		return EVP_sha512();
	return NULL;
}

/* An ECDSA signature @der (@n bytes) as JWS writes it: R || S, 32 bytes each (P-256). */
static size_t jwtk_ecdsa_raw(const unsigned char *der, size_t n, unsigned char *out)
{
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &der, (long)n);
	const BIGNUM *r, *sv;
	size_t len = 0;

	if (!s)
		return 0;
	ECDSA_SIG_get0(s, &r, &sv);
	if (BN_bn2binpad(r, out, 32) == 32 && BN_bn2binpad(sv, out + 32, 32) == 32)
		len = 64;
	ECDSA_SIG_free(s);
	return len;
}

/*
 * The compact JWS of header @hdr (@hl bytes) and payload @pl (@pn bytes), signed as "alg" @alg
 * says with the set's key for it: RS* and PS* with rsa-1, ES* with ec-1 (so ES384 and ES512 are
 * signatures no key of the set verifies), EdDSA with ed-1, HS* with @secret (@sl bytes; NULL:
 * rsa-1's public JWK, the key-confusion attack), anything else (none) with an empty signature.
 * @hdr need not name @alg. malloc'd, or NULL.
 */
static char *jwtk_sign(const struct jwtk *k, const char *alg, const void *secret, size_t sl,
		       const void *hdr, size_t hl, const void *pl, size_t pn)
{
	char *h64 = jwtk_b64url(hdr, hl), *p64 = jwtk_b64url(pl, pn), *in = NULL, *s64 = NULL;
	char *out = NULL;
	const EVP_MD *md = jwtk_md(alg);
	unsigned char sig[1024], der[160];
	size_t n = 0, dl = sizeof(der);
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	unsigned int hmac_len = 0;

	if (!h64 || !p64 || asprintf(&in, "%s.%s", h64, p64) < 0) {
		in = NULL;
		goto out;
	}
	if (!strncmp(alg, "HS", 2) && md) {
		if (!secret) {
			secret = k->rsa_jwk;
			sl = strlen(k->rsa_jwk);
		}
		if (!HMAC(md, secret, (int)sl, (unsigned char *)in, strlen(in), sig, &hmac_len))
			goto out;
		n = hmac_len;
	} else if ((alg[0] == 'R' || alg[0] == 'P') && alg[1] == 'S' && md) {
		n = sizeof(sig);
		if (!(ctx = EVP_MD_CTX_new()) ||
		    EVP_DigestSignInit(ctx, &pctx, md, NULL, k->rsa) != 1 ||
		    (alg[0] == 'P' &&
		     (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
		      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) ||
		    EVP_DigestSign(ctx, sig, &n, (unsigned char *)in, strlen(in)) != 1)
			goto out;
	} else if (alg[0] == 'E' && alg[1] == 'S' && md) {
		if (!(ctx = EVP_MD_CTX_new()) ||
		    EVP_DigestSignInit(ctx, NULL, md, NULL, k->ec) != 1 ||
		    EVP_DigestSign(ctx, der, &dl, (unsigned char *)in, strlen(in)) != 1 ||
		    !(n = jwtk_ecdsa_raw(der, dl, sig)))
			goto out;
	} else if (!strcmp(alg, "EdDSA")) {
		n = sizeof(sig);
		if (!(ctx = EVP_MD_CTX_new()) ||
		    EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->ed) != 1 ||
		    EVP_DigestSign(ctx, sig, &n, (unsigned char *)in, strlen(in)) != 1)
			goto out;
	}
	if (!(s64 = jwtk_b64url(sig, n)) || asprintf(&out, "%s.%s", in, s64) < 0)
		out = NULL;
out:
	EVP_MD_CTX_free(ctx);
	free(h64);
	free(p64);
	free(in);
	free(s64);
	return out;
}

#endif
