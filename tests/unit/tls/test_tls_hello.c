// SPDX-License-Identifier: Apache-2.0
/*
 * The ClientHello peek of the gateway's TLS PASSTHROUGH listeners (tls_hello_sni): an OpenSSL
 * client's ClientHello (written into memory) gives its server name lowercased, whatever the
 * versions and extensions offered; every shorter prefix asks for more; a hello without a name
 * is 0; bytes that are not TLS, a name that does not fit, and a record longer than
 * TLS_HELLO_MAX are refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/ssl.h>

#include "tls/tls.h"

/* The ClientHello an OpenSSL client sends for @sni (NULL: none), into @out (malloc'd). */
static size_t client_hello(const char *sni, int max_version, unsigned char **out)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *s = SSL_new(ctx);
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	char *data;
	long n;

	assert_non_null(s);
	if (max_version)
		SSL_set_max_proto_version(s, max_version);
	if (sni)
		SSL_set_tlsext_host_name(s, sni);
	SSL_set_bio(s, rb, wb);
	assert_true(SSL_connect(s) <= 0);
	n = BIO_get_mem_data(wb, &data);
	assert_true(n > 0);
	*out = malloc((size_t)n);
	assert_non_null(*out);
	memcpy(*out, data, (size_t)n);
	SSL_free(s);
	SSL_CTX_free(ctx);
	return (size_t)n;
}

static void test_name_and_prefixes(void **state)
{
	unsigned char *h;
	size_t n = client_hello("Nginx.Example.com", 0, &h);
	char sni[64];

	assert_int_equal(tls_hello_sni(h, n, sni, sizeof(sni)), 1);
	assert_string_equal(sni, "nginx.example.com");
	/* Every read short of the whole ClientHello waits for more. */
	for (size_t cut = 0; cut < n; cut++)
		assert_int_equal(tls_hello_sni(h, cut, sni, sizeof(sni)), -EAGAIN);
	/* A name longer than the room for it is no name. */
	assert_int_equal(tls_hello_sni(h, n, sni, 8), 0);
	free(h);

	n = client_hello("shop.example.com", TLS1_2_VERSION, &h);
	assert_int_equal(tls_hello_sni(h, n, sni, sizeof(sni)), 1);
	assert_string_equal(sni, "shop.example.com");
	free(h);
}

static void test_no_name_and_not_tls(void **state)
{
	static const char get[] = "GET / HTTP/1.1\r\nHost: nginx.example.com\r\n\r\n";
	unsigned char *h, big[TLS_HELLO_MAX + 64];
	size_t n = client_hello(NULL, 0, &h);
	char sni[64];

	assert_int_equal(tls_hello_sni(h, n, sni, sizeof(sni)), 0);
	free(h);
	assert_int_equal(tls_hello_sni(get, sizeof(get) - 1, sni, sizeof(sni)), -EINVAL);
	/* A handshake record as long as a record may be: never a ClientHello worth waiting for. */
	memset(big, 0, sizeof(big));
	big[0] = 22;
	big[1] = 3;
	big[2] = 1;
	big[3] = 0xff;
	big[4] = 0xff;
	assert_int_equal(tls_hello_sni(big, sizeof(big), sni, sizeof(sni)), -EINVAL);
	/* A handshake record holding something else than a ClientHello. */
	memcpy(big, "\x16\x03\x01\x00\x04\x02\x00\x00\x00", 9);
	assert_int_equal(tls_hello_sni(big, 9, sni, sizeof(sni)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_name_and_prefixes),
	    cmocka_unit_test(test_no_name_and_not_tls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
