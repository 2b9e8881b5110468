// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the CA's certificate requests (ca_sign_csr, what the CA server runs on
 * every CSR a node sends): arbitrary bytes as PEM, and the same bytes armoured as a CERTIFICATE
 * REQUEST. A request is refused or signed; what is signed must name exactly the identity the
 * CA decided (never one the CSR asked for). Seeds: CSRs made by ca_csr_new and by openssl req.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/pem.h>

#include "ambit/ca.h"
#include "tls/tls.h"

static const char id[] = "spiffe://cluster.local/ns/shop/sa/web";
static struct ambit_ca *ca;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/ambit-fuzz-csr-XXXXXX";

	char path[sizeof(dir) + 300];
	struct dirent *e;
	DIR *d;

	if (!mkdtemp(dir) || !(ca = ca_open(dir)))
		abort();
	/* The root stays in memory; its files are not needed any more. */
	d = opendir(dir);
	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
	rmdir(dir);
	return 0;
}

static void sign(const char *pem, size_t len)
{
	struct ca_issued out;
	char why[256];
	char *got;

	if (ca_sign_csr(ca, pem, len, id, 3600, &out, why, sizeof(why)) != 0)
		return;
	got = tls_cert_spiffe_id(out.cert_pem, strlen(out.cert_pem));
	if (!got || strcmp(got, id) != 0 || out.key_pem)
		abort();
	free(got);
	ca_issued_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	BIO *bio;
	char *pem;
	long n;

	sign((const char *)data, size);
	if (!size)
		return 0;
	bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio(bio, "CERTIFICATE REQUEST", "", data, (long)size) <= 0)
		abort();
	n = BIO_get_mem_data(bio, &pem);
	sign(pem, (size_t)n);
	BIO_free(bio);
	return 0;
}
