// SPDX-License-Identifier: Apache-2.0
/*
 * hbone-probe: an independent HBONE client for tests and debugging. It opens TLS 1.3 (ALPN h2)
 * to a ztunnel's 15008 with a given client certificate, sends one HTTP/2 CONNECT and reports
 * what happened, so tests can check what the ztunnel refuses without using the ztunnel's own
 * client code.
 *
 *   hbone-probe --connect IP:PORT --authority IP:PORT --cert F --key F --ca F
 *               [--forwarded IP] [--expect-san URI] [--send TEXT] [--timeout S]
 *
 * Exit: 0 = 200 received (and --send echoed back whatever the upstream answered, printed on
 * stdout), 2 = TLS refused (handshake or first read failed), 3 = HTTP status other than 200
 * (printed), 4 = stream reset / connection closed before a response, 1 = usage or local error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct probe {
	SSL *ssl;
	int fd;
	int32_t stream_id;
	int status;
	bool stream_closed;
	uint32_t close_error;
	const char *send;
	size_t send_off;
	char reply[4096];
	size_t reply_len;
};

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, colon - s);
	host[colon - s] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

static ssize_t send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *u)
{
	struct probe *p = u;
	int n = SSL_write(p->ssl, data, (int)len);

	return n > 0 ? n : NGHTTP2_ERR_CALLBACK_FAILURE;
}

static int header_cb(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *u)
{
	struct probe *p = u;

	if (f->hd.type == NGHTTP2_HEADERS && namelen == 7 && !memcmp(name, ":status", 7))
		p->status = atoi((const char *)value);
	return 0;
}

static int data_cb(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
		   void *u)
{
	struct probe *p = u;
	size_t room = sizeof(p->reply) - 1 - p->reply_len;

	if (len > room)
		len = room;
	memcpy(p->reply + p->reply_len, data, len);
	p->reply_len += len;
	return 0;
}

static int close_cb(nghttp2_session *s, int32_t id, uint32_t error, void *u)
{
	struct probe *p = u;

	if (id == p->stream_id) {
		p->stream_closed = true;
		p->close_error = error;
	}
	return 0;
}

static ssize_t body_cb(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
		       nghttp2_data_source *src, void *u)
{
	struct probe *p = u;
	size_t left = strlen(p->send) - p->send_off;

	if (left > len)
		left = len;
	memcpy(buf, p->send + p->send_off, left);
	p->send_off += left;
	if (p->send_off == strlen(p->send))
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)left;
}

static void usage(void)
{
	fprintf(stderr, "usage: hbone-probe --connect IP:PORT --authority IP:PORT --cert F --key F "
			"--ca F [--forwarded IP] [--expect-san URI] [--send TEXT] [--timeout S]\n");
	exit(1);
}

static bool san_matches(X509 *cert, const char *want)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	bool ok = false;

	for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *n = sk_GENERAL_NAME_value(names, i);
		if (n->type != GEN_URI)
			continue;
		const ASN1_IA5STRING *uri = n->d.uniformResourceIdentifier;
		if ((size_t)uri->length == strlen(want) && !memcmp(uri->data, want, uri->length))
			ok = true;
	}
	GENERAL_NAMES_free(names);
	return ok;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"connect", 1, 0, 'c'},    {"authority", 1, 0, 'a'},
	    {"cert", 1, 0, 'C'},       {"key", 1, 0, 'K'},
	    {"ca", 1, 0, 'A'},	       {"forwarded", 1, 0, 'f'},
	    {"expect-san", 1, 0, 's'}, {"send", 1, 0, 'd'},
	    {"timeout", 1, 0, 't'},    {0, 0, 0, 0},
	};
	const char *connect_to = NULL, *authority = NULL, *cert = NULL, *key = NULL, *ca = NULL;
	const char *forwarded = NULL, *expect_san = NULL;
	struct probe p = {.fd = -1, .send = NULL};
	int timeout_ms = 5000, c, rc = 1;
	struct sockaddr_in sa;
	SSL_CTX *ctx = NULL;
	nghttp2_session *h2 = NULL;

	/* A server refusing us closes the socket under our first write: see EPIPE, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': connect_to = optarg; break;
		case 'a': authority = optarg; break;
		case 'C': cert = optarg; break;
		case 'K': key = optarg; break;
		case 'A': ca = optarg; break;
		case 'f': forwarded = optarg; break;
		case 's': expect_san = optarg; break;
		case 'd': p.send = optarg; break;
		case 't': timeout_ms = atoi(optarg) * 1000; break;
		default: usage();
		}
	}
	if (!connect_to || !authority || !cert || !key || !ca || parse_addr(connect_to, &sa))
		usage();

	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
	    SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x02h2", 3)) {
		ERR_print_errors_fp(stderr);
		goto cleanup;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

	p.fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	setsockopt(p.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(p.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (p.fd < 0 || connect(p.fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("hbone-probe: connect");
		goto cleanup;
	}
	p.ssl = SSL_new(ctx);
	SSL_set_fd(p.ssl, p.fd);
	if (SSL_connect(p.ssl) != 1) {
		fprintf(stderr, "hbone-probe: TLS handshake refused\n");
		ERR_print_errors_fp(stderr);
		rc = 2;
		goto cleanup;
	}
	if (expect_san && !san_matches(SSL_get0_peer_certificate(p.ssl), expect_san)) {
		fprintf(stderr, "hbone-probe: server SAN is not %s\n", expect_san);
		rc = 2;
		goto cleanup;
	}

	nghttp2_session_callbacks *cbs;
	nghttp2_session_callbacks_new(&cbs);
	nghttp2_session_callbacks_set_send_callback(cbs, send_cb);
	nghttp2_session_callbacks_set_on_header_callback(cbs, header_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, data_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, close_cb);
	nghttp2_session_client_new(&h2, cbs, &p);
	nghttp2_session_callbacks_del(cbs);
	nghttp2_submit_settings(h2, NGHTTP2_FLAG_NONE, NULL, 0);

	char fwd[80];
	nghttp2_nv hdrs[3] = {
	    {(uint8_t *)":method", (uint8_t *)"CONNECT", 7, 7, NGHTTP2_NV_FLAG_NONE},
	    {(uint8_t *)":authority", (uint8_t *)authority, 10, strlen(authority),
	     NGHTTP2_NV_FLAG_NONE},
	};
	size_t nh = 2;
	if (forwarded) {
		snprintf(fwd, sizeof(fwd), "for=%s", forwarded);
		hdrs[nh++] = (nghttp2_nv){(uint8_t *)"forwarded", (uint8_t *)fwd, 9, strlen(fwd),
					  NGHTTP2_NV_FLAG_NONE};
	}
	nghttp2_data_provider body = {.read_callback = body_cb};
	p.stream_id = nghttp2_submit_request(h2, NULL, hdrs, nh, p.send ? &body : NULL, &p);
	if (p.stream_id < 0)
		goto cleanup;

	/* Blocking loop: write what nghttp2 has, then read until the stream ends or times out. */
	rc = 4;
	bool got_bytes = false;
	while (!p.stream_closed) {
		if (nghttp2_session_send(h2)) {
			/* Our first flight can hit a connection the server already refused. */
			if (!got_bytes) {
				fprintf(stderr,
					"hbone-probe: TLS refused by the server (write failed)\n");
				ERR_print_errors_fp(stderr);
				rc = 2;
			}
			break;
		}
		uint8_t buf[16384];
		int n = SSL_read(p.ssl, buf, sizeof(buf));
		if (n <= 0) {
			/*
			 * In TLS 1.3 the server judges the client certificate after the client's
			 * handshake completed: a refusal shows up as an alert or a close before
			 * the server's first HTTP/2 frame (its SETTINGS) ever arrives.
			 */
			if (!got_bytes) {
				fprintf(stderr, "hbone-probe: TLS refused by the server\n");
				ERR_print_errors_fp(stderr);
				rc = 2;
			}
			break;
		}
		got_bytes = true;
		if (nghttp2_session_mem_recv(h2, buf, n) < 0)
			break;
		if (p.status && p.status != 200)
			break;
		if (p.status == 200 && !p.send)
			break;
	}
	if (p.status == 200) {
		fwrite(p.reply, 1, p.reply_len, stdout);
		rc = 0;
	} else if (p.status) {
		printf("status %d\n", p.status);
		rc = 3;
	} else if (rc == 4) {
		fprintf(stderr, "hbone-probe: no response (stream error %u)\n", p.close_error);
	}
cleanup:
	nghttp2_session_del(h2);
	if (p.ssl)
		SSL_free(p.ssl);
	if (p.fd >= 0)
		close(p.fd);
	SSL_CTX_free(ctx);
	return rc;
}
