// SPDX-License-Identifier: Apache-2.0
/*
 * The ingress gateway's TLS context (tls_ctx_create_gateway, tls_ctx_gateway_set): the
 * certificate is chosen by the client's SNI as Envoy chooses a filter chain (exact, then the
 * longest wildcard, then "*"; no SNI takes "*" only; no match is refused), MUTUAL requires a
 * client certificate its CA signed, certificates are replaced live and a bad set is refused
 * with the old kept. Each handshake runs over a socketpair, both ends non-blocking, stepped a
 * bounded number of times; the client (OpenSSL) checks which name the server's certificate has.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ambit/ca.h"
#include "tls/tls.h"

static char dir[64];
static int client_max;		   /* the client's highest TLS version, 0: OpenSSL's */
static int negotiated;		   /* the last handshake's version */
static const char *client_ciphers; /* the client's TLS 1.2 suites, NULL: OpenSSL's */
static char suite[64];		   /* the last handshake's suite */
static bool not_gateway;	   /* an edge context: no certificate chosen by name */
static struct ambit_ca *ca;
static struct ca_issued a_cert, wild_cert, any_cert, mtls_cert, client_cert, a2_cert;

/*
 * A handshake with SNI @sni (NULL: none), the client presenting @client (may be NULL): true
 * when both ends finish; the server certificate's DNS name must then be @want.
 */
static bool handshake(struct tls_ctx *gw, const char *sni, const struct ca_issued *client,
		      const char *want)
{
	int sv[2];
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *c;
	struct tls_conn *s;
	bool c_done = false, s_done = false, failed = false;

	assert_non_null(cctx);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_max_proto_version(cctx, client_max);
	if (client_ciphers)
		assert_int_equal(SSL_CTX_set_cipher_list(cctx, client_ciphers), 1);
	if (client) {
		BIO *cb = BIO_new_mem_buf(client->cert_pem, -1);
		BIO *kb = BIO_new_mem_buf(client->key_pem, -1);
		X509 *x = PEM_read_bio_X509(cb, NULL, NULL, NULL);
		EVP_PKEY *k = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);

		assert_int_equal(SSL_CTX_use_certificate(cctx, x), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey(cctx, k), 1);
		X509_free(x);
		EVP_PKEY_free(k);
		BIO_free(cb);
		BIO_free(kb);
	}
	c = SSL_new(cctx);
	SSL_set_fd(c, sv[0]);
	if (sni)
		SSL_set_tlsext_host_name(c, sni);
	s = tls_conn_create(gw, sv[1], NULL);
	assert_non_null(s);
	for (int i = 0; i < 200 && !failed && !(c_done && s_done); i++) {
		if (!c_done) {
			int r = SSL_connect(c);

			if (r == 1)
				c_done = true;
			else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ &&
				 SSL_get_error(c, r) != SSL_ERROR_WANT_WRITE)
				failed = true;
		}
		if (!s_done) {
			int r = tls_conn_handshake(s);

			if (!r)
				s_done = true;
			else if (r != -EAGAIN)
				failed = true;
			tls_conn_flush(s);
		}
	}
	negotiated = SSL_version(c);
	snprintf(suite, sizeof(suite), "%s", c_done ? SSL_get_cipher_name(c) : "");
	/* The name the client asked for, as the proxy's policies see it (connection.sni). */
	if (!failed && s_done && sni)
		assert_string_equal(tls_conn_sni(s), sni);
	if (!failed && s_done && !sni)
		assert_null(tls_conn_sni(s));
	/* Which certificate it got, by name: what the gateway's routes of that server ask for. */
	if (!failed && s_done && !not_gateway)
		assert_non_null(tls_conn_server(s));
	/* TLS 1.3: the server checks the client's certificate after the client is done. */
	if (!failed && c_done && s_done && want) {
		X509 *peer = SSL_get1_peer_certificate(c);

		assert_non_null(peer);
		assert_int_equal(X509_check_host(peer, want, 0, 0, NULL), 1);
		X509_free(peer);
	}
	tls_conn_destroy(s);
	SSL_free(c);
	SSL_CTX_free(cctx);
	close(sv[0]);
	close(sv[1]);
	return !failed && c_done && s_done;
}

static struct tls_gateway_cert cert(const char *const *hosts, size_t n, const struct ca_issued *is,
				    const char *ca_pem)
{
	return (struct tls_gateway_cert){.name = "test",
					 .hosts = hosts,
					 .n_hosts = n,
					 .cert_pem = is->cert_pem,
					 .key_pem = is->key_pem,
					 .ca_pem = ca_pem};
}

static const char *const h_a[] = {"a.example.com"};
static const char *const h_wild[] = {"*.example.com"};
static const char *const h_any[] = {"*"};
static const char *const h_mtls[] = {"mtls.example.com"};

static void test_sni_choice(void **state)
{
	struct tls_ctx *gw = tls_ctx_create_gateway();
	struct tls_gateway_cert set[] = {cert(h_wild, 1, &wild_cert, NULL),
					 cert(h_a, 1, &a_cert, NULL)};
	char err[256];

	assert_non_null(gw);
	/* No certificate yet: every handshake fails. */
	assert_false(handshake(gw, "a.example.com", NULL, NULL));
	assert_int_equal(tls_ctx_gateway_set(gw, set, 2, err, sizeof(err)), 0);
	assert_true(handshake(gw, "a.example.com", NULL, "a.example.com"));
	assert_true(handshake(gw, "A.Example.COM", NULL, "a.example.com"));
	assert_true(handshake(gw, "b.example.com", NULL, "wild.example.com"));
	/* A wildcard is one label or more, never the bare suffix; no SNI and no "*": refused. */
	assert_false(handshake(gw, "example.com", NULL, NULL));
	assert_false(handshake(gw, "other.test", NULL, NULL));
	assert_false(handshake(gw, NULL, NULL, NULL));
	tls_ctx_put(gw);
}

static void test_any_host(void **state)
{
	struct tls_ctx *gw = tls_ctx_create_gateway();
	struct tls_gateway_cert set[] = {cert(h_any, 1, &any_cert, NULL),
					 cert(h_a, 1, &a_cert, NULL)};
	char err[256];

	assert_int_equal(tls_ctx_gateway_set(gw, set, 2, err, sizeof(err)), 0);
	assert_true(handshake(gw, NULL, NULL, "any.example.org"));
	assert_true(handshake(gw, "other.test", NULL, "any.example.org"));
	assert_true(handshake(gw, "a.example.com", NULL, "a.example.com"));
	tls_ctx_put(gw);
}

static void test_mutual(void **state)
{
	struct tls_ctx *gw = tls_ctx_create_gateway();
	struct tls_gateway_cert set[] = {cert(h_mtls, 1, &mtls_cert, ca_root_pem(ca)),
					 cert(h_a, 1, &a_cert, NULL)};
	char err[256];

	assert_int_equal(tls_ctx_gateway_set(gw, set, 2, err, sizeof(err)), 0);
	assert_false(handshake(gw, "mtls.example.com", NULL, NULL));
	assert_true(handshake(gw, "mtls.example.com", &client_cert, "mtls.example.com"));
	/* SIMPLE next to it asks for nothing. */
	assert_true(handshake(gw, "a.example.com", NULL, "a.example.com"));
	tls_ctx_put(gw);
}

static void test_replace_and_refuse(void **state)
{
	struct tls_ctx *gw = tls_ctx_create_gateway();
	struct tls_gateway_cert one[] = {cert(h_a, 1, &a_cert, NULL)};
	struct tls_gateway_cert two[] = {cert(h_a, 1, &a2_cert, NULL)};
	struct tls_gateway_cert bad[] = {{.name = "Gateway x/y server 0",
					  .hosts = h_a,
					  .n_hosts = 1,
					  .cert_pem = a_cert.cert_pem,
					  .key_pem = wild_cert.key_pem}};
	char err[256];

	assert_int_equal(tls_ctx_gateway_set(gw, one, 1, err, sizeof(err)), 0);
	assert_true(handshake(gw, "a.example.com", NULL, "a.example.com"));
	assert_int_equal(tls_ctx_gateway_set(gw, two, 1, err, sizeof(err)), 0);
	assert_true(handshake(gw, "a.example.com", NULL, "a2.example.com"));
	/* A key that is not the certificate's: refused, named, the last good one serves. */
	assert_int_equal(tls_ctx_gateway_set(gw, bad, 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "Gateway x/y server 0"));
	assert_true(handshake(gw, "a.example.com", NULL, "a2.example.com"));
	tls_ctx_put(gw);
}

/* tls.minProtocolVersion / maxProtocolVersion per server: set on the connection it takes. */
static void test_versions(void **state)
{
	struct tls_ctx *gw = tls_ctx_create_gateway();
	struct tls_gateway_cert set[] = {cert(h_a, 1, &a_cert, NULL),
					 cert(h_wild, 1, &wild_cert, NULL)};
	char err[256];

	set[0].min_version = TLS1_3_VERSION;
	set[1].max_version = TLS1_2_VERSION;
	assert_int_equal(tls_ctx_gateway_set(gw, set, 2, err, sizeof(err)), 0);
	assert_true(handshake(gw, "a.example.com", NULL, "a.example.com"));
	assert_int_equal(negotiated, TLS1_3_VERSION);
	assert_true(handshake(gw, "b.example.com", NULL, "wild.example.com"));
	assert_int_equal(negotiated, TLS1_2_VERSION);
	client_max = TLS1_2_VERSION;
	assert_false(handshake(gw, "a.example.com", NULL, NULL));
	assert_true(handshake(gw, "b.example.com", NULL, "wild.example.com"));
	client_max = 0;
	/* At most 1.1: nothing this proxy serves. */
	set[1].max_version = TLS1_1_VERSION;
	assert_int_equal(tls_ctx_gateway_set(gw, set, 2, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no TLS version left"));
	tls_ctx_put(gw);
}

/*
 * TLS 1.2 suites: Envoy's server default unless the server's cipherSuites say otherwise (CBC
 * and static RSA refused), per server by SNI; TLS 1.3 untouched.
 */
static void test_ciphers(void **state)
{
	static const char *const aes256[] = {"ECDHE-ECDSA-AES256-GCM-SHA384",
					     "ECDHE-RSA-AES256-GCM-SHA384", "AES128-GCM-SHA256"};
	static const char *const group[] = {
	    "[ECDHE-ECDSA-CHACHA20-POLY1305|ECDHE-RSA-CHACHA20-POLY1305]"};
	static const char *const none[] = {"NO-SUCH-SUITE"};
	static const char *const empty[] = {""};
	static const char *const ecdhe_gcm128 =
	    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";
	struct tls_ctx *gw = tls_ctx_create_gateway();
	struct tls_gateway_cert set[] = {cert(h_a, 1, &a_cert, NULL),
					 cert(h_wild, 1, &wild_cert, NULL)};
	char err[256];

	set[0].ciphers = aes256;
	set[0].n_ciphers = 3;
	assert_int_equal(tls_ctx_gateway_set(gw, set, 2, err, sizeof(err)), 0);
	client_max = TLS1_2_VERSION;
	/* The default (b.example.com): ECDHE with AES-GCM or ChaCha20 only. */
	client_ciphers = "AES128-SHA";
	assert_false(handshake(gw, "b.example.com", NULL, NULL));
	client_ciphers = "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA";
	assert_false(handshake(gw, "b.example.com", NULL, NULL));
	client_ciphers = "AES128-GCM-SHA256";
	assert_false(handshake(gw, "b.example.com", NULL, NULL));
	client_ciphers = ecdhe_gcm128;
	assert_true(handshake(gw, "b.example.com", NULL, "wild.example.com"));
	assert_int_equal(negotiated, TLS1_2_VERSION);
	assert_non_null(strstr(suite, "ECDHE-"));
	/* cipherSuites (a.example.com): its list, static RSA included when it names one. */
	assert_false(handshake(gw, "a.example.com", NULL, NULL));
	client_ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384";
	assert_true(handshake(gw, "a.example.com", NULL, "a.example.com"));
	assert_non_null(strstr(suite, "AES256-GCM-SHA384"));
	client_ciphers = NULL;
	client_max = 0;
	/* TLS 1.3 is not narrowed by cipherSuites (Envoy's cipher_suites are 1.2's). */
	assert_true(handshake(gw, "a.example.com", NULL, "a.example.com"));
	assert_int_equal(negotiated, TLS1_3_VERSION);
	/* An equal-preference group as Envoy writes it: its members. */
	set[0].ciphers = group;
	set[0].n_ciphers = 1;
	assert_int_equal(tls_ctx_gateway_set(gw, set, 2, err, sizeof(err)), 0);
	client_max = TLS1_2_VERSION;
	client_ciphers = ecdhe_gcm128;
	assert_false(handshake(gw, "a.example.com", NULL, NULL));
	client_ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
	assert_true(handshake(gw, "a.example.com", NULL, "a.example.com"));
	client_ciphers = NULL;
	client_max = 0;
	/* Only an empty name: the default (ECDHE-GCM served, static RSA not). */
	set[0].ciphers = empty;
	assert_int_equal(tls_ctx_gateway_set(gw, set, 2, err, sizeof(err)), 0);
	client_max = TLS1_2_VERSION;
	client_ciphers = ecdhe_gcm128;
	assert_true(handshake(gw, "a.example.com", NULL, "a.example.com"));
	client_ciphers = "AES128-GCM-SHA256";
	assert_false(handshake(gw, "a.example.com", NULL, NULL));
	client_ciphers = NULL;
	client_max = 0;
	/* Nothing OpenSSL has: refused, named; the last good set serves. */
	set[0].ciphers = none;
	assert_int_equal(tls_ctx_gateway_set(gw, set, 2, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "cipherSuites"));
	assert_true(handshake(gw, "a.example.com", NULL, "a.example.com"));
	tls_ctx_put(gw);
}

/* A handshake with edge context @edge, no SNI: true when both ends finish. */
static bool handshake_any(struct tls_ctx *edge)
{
	bool ok;

	not_gateway = true;
	ok = handshake(edge, NULL, NULL, NULL);
	not_gateway = false;
	return ok;
}

/* The waypoint's --listen-tls context: the same TLS 1.2 default as a gateway's. */
static void test_edge_ciphers(void **state)
{
	struct tls_ctx *edge = tls_ctx_create_edge(a_cert.cert_pem, a_cert.key_pem);

	assert_non_null(edge);
	client_max = TLS1_2_VERSION;
	client_ciphers = "AES128-SHA:AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA";
	assert_false(handshake_any(edge));
	client_ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384";
	assert_true(handshake_any(edge));
	client_ciphers = NULL;
	client_max = 0;
	tls_ctx_put(edge);
}

static void test_check_pair(void **state)
{
	char err[128];

	assert_int_equal(tls_check_pair(a_cert.cert_pem, a_cert.key_pem, err, sizeof(err)), 0);
	assert_int_equal(tls_check_pair(a_cert.cert_pem, wild_cert.key_pem, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "does not belong"));
	assert_int_equal(tls_check_pair("junk", a_cert.key_pem, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no PEM certificate"));
	assert_int_equal(tls_count_certs(ca_root_pem(ca)), 1);
	assert_int_equal(tls_count_certs("nothing"), 0);
}

static int setup(void **state)
{
	char id[128];

	snprintf(dir, sizeof(dir), "/tmp/ambit-test-tgw-XXXXXX");
	assert_non_null(mkdtemp(dir));
	ca = ca_open(dir);
	assert_non_null(ca);
	assert_int_equal(ca_issue_dns(ca, "a.example.com", 3600, &a_cert), 0);
	assert_int_equal(ca_issue_dns(ca, "a2.example.com", 3600, &a2_cert), 0);
	assert_int_equal(ca_issue_dns(ca, "wild.example.com", 3600, &wild_cert), 0);
	assert_int_equal(ca_issue_dns(ca, "any.example.org", 3600, &any_cert), 0);
	assert_int_equal(ca_issue_dns(ca, "mtls.example.com", 3600, &mtls_cert), 0);
	assert_int_equal(spiffe_id_format(id, sizeof(id), "cluster.local", "ns", "client"), 0);
	assert_int_equal(ca_issue(ca, id, 3600, &client_cert), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	struct ca_issued *all[] = {&a_cert,   &a2_cert,	  &wild_cert,
				   &any_cert, &mtls_cert, &client_cert};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		ca_issued_free(all[i]);
	ca_destroy(ca);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sni_choice),	 cmocka_unit_test(test_any_host),
	    cmocka_unit_test(test_mutual),	 cmocka_unit_test(test_replace_and_refuse),
	    cmocka_unit_test(test_versions),	 cmocka_unit_test(test_ciphers),
	    cmocka_unit_test(test_edge_ciphers), cmocka_unit_test(test_check_pair),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
