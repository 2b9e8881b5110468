// SPDX-License-Identifier: Apache-2.0
/*
 * hbone_seam.h. Inside the HBONE module's privates on purpose (hbone_priv.h): it stands in for
 * the TLS transport, which only hbone.c touches.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nghttp2/nghttp2.h>

#include "../../ztunnel/hbone_priv.h"
#include "hbone_seam.h"

static int refuse(void *user, const struct hbone_request *req, int *fd, struct connrec **rec)
{
	return 503;
}

/*
 * The pool holds only the seam's connection: an empty pool means it closed (never look at the
 * connection itself, which the loop may have freed).
 */
static bool seam_alive(struct hbone_seam *s)
{
	if (s->conn && hbone_pool_size(s->pool) == 0)
		s->conn = NULL;
	return s->conn != NULL;
}

/* conn_flush without TLS: everything nghttp2 has to send, then the end-of-session check. */
static void seam_drain(struct hbone_seam *s)
{
	struct hbone_conn *c = s->conn;

	if (!seam_alive(s))
		return;
	for (;;) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(c->h2, &data);

		if (n < 0) {
			hb_conn_close(c, nghttp2_strerror((int)n));
			s->conn = NULL;
			return;
		}
		if (n == 0)
			break;
		s->out_bytes += (size_t)n;
		if (s->sink)
			s->sink(s->sink_arg, data, (size_t)n);
	}
	if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2)) {
		hb_conn_close(c, "session ended");
		s->conn = NULL;
	}
}

static int seam_init(struct hbone_seam *s)
{
	memset(s, 0, sizeof(*s));
	s->loop = loop_create();
	if (!s->loop)
		return -errno;
	s->pool = hbone_pool_create(s->loop, NULL);
	return s->pool ? 0 : -ENOMEM;
}

int hbone_seam_server(struct hbone_seam *s, const struct hbone_seam_server *o)
{
	struct hbone_conn *c;
	int err = seam_init(s);

	if (err)
		return err;
	/* No socket: the TLS object is never used, and a closing connection closes no fd. */
	c = hb_conn_new(s->loop, -1, o->ctx, false, NULL);
	if (!c)
		return -errno;
	c->on_accept = o->on_accept ? o->on_accept : refuse;
	c->user = o->user;
	c->local = o->local;
	c->peer = o->peer;
	c->peer_identity = o->peer_identity;
	/* As conn_on_io after a handshake: the session, the connection's deadlines from now. */
	err = hb_server_handshaken(c);
	if (err) {
		hb_conn_free(c);
		return err;
	}
	hb_pool_link(s->pool, c);
	s->conn = c;
	return 0;
}

int hbone_seam_client(struct hbone_seam *s, const struct hbone_target *t)
{
	char key[512];
	struct hbone_conn *c;
	int err = seam_init(s);

	if (err)
		return err;
	c = hb_conn_new(s->loop, -1, t->ctx, true, t->expect_san);
	if (!c)
		return -errno;
	/* hbone_pool_open's key: a seam out of step with it shows as a second pooled connection. */
	snprintf(key, sizeof(key), "%s|%s:%u|%s", t->identity, inet_ntoa(t->addr.sin_addr),
		 ntohs(t->addr.sin_port), t->expect_san);
	c->key = strdup(key);
	if (!c->key) {
		hb_conn_free(c);
		return -ENOMEM;
	}
	c->peer = t->addr;
	c->peer_identity = t->expect_san;
	hb_pool_link(s->pool, c);
	s->conn = c;
	return 0;
}

int hbone_seam_feed(struct hbone_seam *s, const uint8_t *data, size_t len)
{
	ssize_t rv;

	if (!seam_alive(s))
		return NGHTTP2_ERR_EOF;
	rv = nghttp2_session_mem_recv(s->conn->h2, data, len);
	if (rv < 0) {
		hb_conn_close(s->conn, nghttp2_strerror((int)rv));
		s->conn = NULL;
		return (int)rv;
	}
	/* As conn_read: the requests of this read, minus those it also reset, are decided. */
	if (!s->conn->client && !s->conn->dead)
		hb_server_dispatch(s->conn);
	seam_drain(s);
	return 0;
}

int hbone_seam_step(struct hbone_seam *s, int timeout_ms)
{
	int n;

	/* The loop may free a closed connection: forget it first. */
	seam_alive(s);
	n = loop_run_once(s->loop, timeout_ms);
	seam_drain(s);
	return n;
}

void hbone_seam_close(struct hbone_seam *s)
{
	hbone_pool_destroy(s->pool);
	s->pool = NULL;
	s->conn = NULL;
	loop_destroy(s->loop);
	s->loop = NULL;
}
