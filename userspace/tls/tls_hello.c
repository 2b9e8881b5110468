// SPDX-License-Identifier: Apache-2.0
/*
 * A ClientHello's server name, without terminating the connection (tls.h, tls_hello_sni): the
 * gateway's TLS PASSTHROUGH listeners choose a route by it and relay the bytes untouched. The
 * records and the handshake message are OpenSSL's to parse; only the server_name extension's
 * body (RFC 6066 §3: a list of (type, length, name)) is read here, bounded by its own lengths.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>

#include "tls.h"

struct hello_sni {
	char *out;
	size_t len;
	int found; /* 1: a name; 0: none; -1: the callback did not run */
};

static SSL_CTX *hello_ctx;
static int hello_idx = -1;
static pthread_once_t hello_once = PTHREAD_ONCE_INIT;

/* DNS names only (RFC 6066: "HostName"), lowercased: anything else is no name. */
static int copy_name(const unsigned char *p, size_t n, char *out, size_t len)
{
	if (!n || n >= len)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		      c == '_'))
			return 0;
		out[i] = (char)c;
	}
	out[n] = '\0';
	return 1;
}

/* The first host_name of the server_name extension body @p (@n bytes), into @h. */
static int server_name(const unsigned char *p, size_t n, struct hello_sni *h)
{
	size_t list;

	if (n < 2)
		return 0;
	list = (size_t)p[0] << 8 | p[1];
	if (list > n - 2)
		return 0;
	p += 2;
	while (list >= 3) {
		unsigned int type = p[0];
		size_t len = (size_t)p[1] << 8 | p[2];

		if (len > list - 3)
			return 0;
		if (type == TLSEXT_NAMETYPE_host_name)
			return copy_name(p + 3, len, h->out, h->len);
		p += 3 + len;
		list -= 3 + len;
	}
	return 0;
}

/* Runs once the whole ClientHello is parsed: take the name, then pause the handshake. */
static int on_hello(SSL *s, int *al, void *arg)
{
	struct hello_sni *h = SSL_get_ex_data(s, hello_idx);
	const unsigned char *p;
	size_t n;

	if (!h)
		return SSL_CLIENT_HELLO_ERROR;
	h->found = SSL_client_hello_get0_ext(s, TLSEXT_TYPE_server_name, &p, &n)
		       ? server_name(p, n, h)
		       : 0;
	/* Paused, not failed: no alert is written, and the connection is thrown away. */
	return SSL_CLIENT_HELLO_RETRY;
}

static void hello_init(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	hello_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (!ctx || hello_idx < 0) {
		SSL_CTX_free(ctx);
		return;
	}
	/* Any version a client offers is read: the name is all that is wanted. */
	SSL_CTX_set_min_proto_version(ctx, 0);
	SSL_CTX_set_client_hello_cb(ctx, on_hello, NULL);
	hello_ctx = ctx;
}

int tls_hello_sni(const void *data, size_t len, char *sni, size_t sni_len)
{
	struct hello_sni h = {.out = sni, .len = sni_len, .found = -1};
	const unsigned char *b = data;
	BIO *rb = NULL, *wb = NULL;
	SSL *s = NULL;
	int ret = -EINVAL, r;

	pthread_once(&hello_once, hello_init);
	if (!hello_ctx)
		return -ENOMEM;
	/* A handshake record (22) first, else it is not TLS: no need to ask OpenSSL. */
	if (len < 1)
		return -EAGAIN;
	if (b[0] != 22 || len > TLS_HELLO_MAX + 5)
		return -EINVAL;
	rb = BIO_new_mem_buf(data, (int)len);
	wb = BIO_new(BIO_s_mem());
	s = SSL_new(hello_ctx);
	if (!rb || !wb || !s) {
		ret = -ENOMEM;
		goto out;
	}
	/* The end of the bytes so far is "more to come", not EOF. */
	BIO_set_mem_eof_return(rb, -1);
	SSL_set_bio(s, rb, wb);
	rb = wb = NULL;
	SSL_set_ex_data(s, hello_idx, &h);
	r = SSL_accept(s);
	if (h.found >= 0)
		ret = h.found;
	else if (r <= 0 && SSL_get_error(s, r) == SSL_ERROR_WANT_READ)
		ret = len > TLS_HELLO_MAX ? -EINVAL : -EAGAIN;
out:
	SSL_free(s);
	BIO_free(rb);
	BIO_free(wb);
	return ret;
}
