/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The small crypto the rest of the tree needs, behind the OpenSSL seam (STYLE.md rule 8: only
 * userspace/net/{tls,ca,crypto}.c include OpenSSL): base64 for protobuf `bytes` in config and
 * snapshots, SHA-256 for stable short names, and what an operator reads off a certificate.
 */
#ifndef AMBIT_NET_CRYPTO_H
#define AMBIT_NET_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Standard padded base64 (RFC 4648 §4) of @n bytes of @data: malloc'd string, or NULL (ENOMEM). */
char *crypto_base64_encode(const void *data, size_t n);
/*
 * Decodes the padded base64 string @in into *@out (malloc'd, NUL-terminated for convenience).
 * Returns the decoded length, -EINVAL when @in is not padded base64, or -ENOMEM; *@out is NULL
 * on error.
 */
int crypto_base64_decode(const char *in, char **out);
/* SHA-256 of @n bytes of @data into @md. */
void crypto_sha256(const void *data, size_t n, unsigned char md[32]);
/* Whether @sig (@sig_len bytes) is an Ed25519 signature of @msg by public key @pub (RFC 8032). */
bool crypto_ed25519_verify(const unsigned char pub[32], const void *msg, size_t n,
			   const unsigned char *sig, size_t sig_len);

struct crypto_cert_info {
	char serial[80];   /* hex, as `openssl x509 -serial` prints it */
	char uri_san[256]; /* the first URI SAN (a SPIFFE ID), "" when none */
	time_t not_before, not_after;
	bool is_ca;
};

/* Reads the first certificate of @pem (borrowed). 0 or -EINVAL (no parsable certificate). */
int crypto_cert_info(const char *pem, struct crypto_cert_info *out);

#endif
