// SPDX-License-Identifier: Apache-2.0
/* The OpenSSL seam's small crypto (userspace/tls/crypto.c). */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "ambit/ca.h"
#include "tls/crypto.h"

/* RFC 4648 §10's vectors, both ways; what is not padded base64 is refused. */
static void test_base64(void **state)
{
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const coded[] = {"",		"Zg==",	    "Zm8=",    "Zm9v",
					    "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	char *s, *d;

	for (size_t i = 0; i < 7; i++) {
		s = crypto_base64_encode(plain[i], strlen(plain[i]));
		assert_string_equal(s, coded[i]);
		assert_int_equal(crypto_base64_decode(coded[i], &d), strlen(plain[i]));
		assert_string_equal(d, plain[i]);
		free(s);
		free(d);
	}
	assert_int_equal(crypto_base64_decode("Zm9", &d), -EINVAL);
	assert_null(d);
	assert_int_equal(crypto_base64_decode("Zm!v", &d), -EINVAL);
	assert_null(d);
	/* Binary survives, NULs included. */
	s = crypto_base64_encode("\0\1\2", 3);
	assert_string_equal(s, "AAEC");
	assert_int_equal(crypto_base64_decode(s, &d), 3);
	assert_memory_equal(d, "\0\1\2", 3);
	free(s);
	free(d);
}

static void test_sha256(void **state)
{
	unsigned char md[32];

	crypto_sha256("abc", 3, md);
	/* FIPS 180-2 appendix B.1. */
	assert_int_equal(md[0], 0xba);
	assert_int_equal(md[1], 0x78);
	assert_int_equal(md[31], 0xad);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* What `ambitctl certs` reads off an issued certificate and the root. */
static void test_cert_info(void **state)
{
	char dir[] = "/tmp/ambit-test-crypto-XXXXXX";
	struct crypto_cert_info ci;
	struct ca_issued out;
	struct ambit_ca *ca;

	assert_non_null(mkdtemp(dir));
	ca = ca_open(dir);
	assert_non_null(ca);
	assert_int_equal(ca_issue(ca, "spiffe://cluster.local/ns/a/sa/b", 3600, &out), 0);
	assert_int_equal(crypto_cert_info(out.cert_pem, &ci), 0);
	assert_string_equal(ci.uri_san, "spiffe://cluster.local/ns/a/sa/b");
	assert_int_equal(ci.not_after, out.not_after);
	assert_false(ci.is_ca);
	assert_true(strlen(ci.serial) > 0);
	assert_int_equal(crypto_cert_info(ca_root_pem(ca), &ci), 0);
	assert_true(ci.is_ca);
	assert_string_equal(ci.uri_san, "");
	assert_int_equal(crypto_cert_info("not a certificate", &ci), -EINVAL);
	assert_int_equal(crypto_cert_info(out.key_pem, &ci), -EINVAL);
	ca_issued_free(&out);
	ca_destroy(ca);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_sha256),
	    cmocka_unit_test(test_cert_info),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
