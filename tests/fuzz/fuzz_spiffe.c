// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for SPIFFE ID extraction (tls_cert_spiffe_id, the code a handshake runs on
 * the peer's certificate): arbitrary bytes as DER, and the same bytes armoured as PEM. What
 * comes out must be a spiffe:// URI with something after the scheme and no embedded NUL (an ID
 * that compares equal to another once truncated would impersonate it). Seeds: certificates the
 * project's CA issued (tests/fuzz/gen_seeds.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/pem.h>

#include "tls/tls.h"

static void check(char *id)
{
	if (!id)
		return;
	if (strncmp(id, "spiffe://", 9) != 0 || strlen(id) <= 9)
		abort();
	free(id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem;
	long n;

	check(tls_cert_spiffe_id(data, size));
	/* PEM_write_bio reports an empty body as 0 bytes written, like a failure. */
	if (!size) {
		BIO_free(bio);
		return 0;
	}
	if (!bio || PEM_write_bio(bio, "CERTIFICATE", "", data, (long)size) <= 0)
		abort();
	n = BIO_get_mem_data(bio, &pem);
	check(tls_cert_spiffe_id(pem, (size_t)n));
	BIO_free(bio);
	return 0;
}
