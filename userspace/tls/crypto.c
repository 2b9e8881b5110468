// SPDX-License-Identifier: Apache-2.0
/* Base64, SHA-256 and certificate facts over OpenSSL (crypto.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto.h"

char *crypto_base64_encode(const void *data, size_t n)
{
	char *b64 = malloc(4 * ((n + 2) / 3) + 1);

	if (b64)
		EVP_EncodeBlock((unsigned char *)b64, data, (int)n);
	return b64;
}

int crypto_base64_decode(const char *in, char **out)
{
	size_t n = strlen(in), pad = 0;
	unsigned char *buf;
	int len;

	*out = NULL;
	if (n % 4 || n > (size_t)INT32_MAX)
		return -EINVAL;
	buf = malloc(n / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	len = n ? EVP_DecodeBlock(buf, (const unsigned char *)in, (int)n) : 0;
	if (len < 0) {
		free(buf);
		return -EINVAL;
	}
	/* EVP_DecodeBlock counts the bytes padding stands for. */
	while (pad < 2 && n > pad && in[n - 1 - pad] == '=')
		pad++;
	len -= (int)pad;
	buf[len] = '\0';
	*out = (char *)buf;
	return len;
}

bool crypto_ed25519_verify(const unsigned char pub[32], const void *msg, size_t n,
			   const unsigned char *sig, size_t sig_len)
{
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = false;

	if (k && ctx && sig_len == 64 && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1)
		ok = EVP_DigestVerify(ctx, sig, sig_len, msg, n) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	return ok;
}

void crypto_sha256(const void *data, size_t n, unsigned char md[32])
{
	unsigned int len = 32;

	EVP_Digest(data, n, md, &len, EVP_sha256(), NULL);
}

static time_t asn1_time(const ASN1_TIME *t)
{
	struct tm tm;

	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return timegm(&tm);
}

static void first_uri_san(X509 *x, char *buf, size_t len)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);

	buf[0] = '\0';
	for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);

		if (g->type == GEN_URI) {
			snprintf(
			    buf, len, "%.*s", ASN1_STRING_length(g->d.uniformResourceIdentifier),
			    (const char *)ASN1_STRING_get0_data(g->d.uniformResourceIdentifier));
			break;
		}
	}
	GENERAL_NAMES_free(names);
}

int crypto_cert_info(const char *pem, struct crypto_cert_info *out)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIGNUM *bn = x ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL) : NULL;
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	int ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!hex)
		goto out;
	snprintf(out->serial, sizeof(out->serial), "%s", hex);
	first_uri_san(x, out->uri_san, sizeof(out->uri_san));
	out->not_before = asn1_time(X509_get0_notBefore(x));
	out->not_after = asn1_time(X509_get0_notAfter(x));
	out->is_ca = X509_check_ca(x) > 0;
	ret = 0;
out:
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(x);
	BIO_free(bio);
	return ret;
}
