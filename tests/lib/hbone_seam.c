// SPDX-License-Identifier: Apache-2.0
/*
 * hbone_seam.h. Inside the HBONE module's privates on purpose (hbone_priv.h): it attaches
 * connections over the HTTP/2 layer's in-memory transport, as hbone_server_start and the pool
 * attach theirs over TLS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hbone/hbone_priv.h"
#include "hbone_seam.h"

static int refuse(void *user, const struct hbone_request *req, struct hbone_upstream *up)
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

/* The pipe's write: everything the connection sends is taken, counted and shown to the sink. */
static ssize_t seam_write(void *arg, const uint8_t *data, size_t len)
{
	struct hbone_seam *s = arg;

	s->out_bytes += len;
	if (s->sink)
		s->sink(s->sink_arg, data, len);
	return (ssize_t)len;
}

static const struct h2_pipe_ops seam_pipe = {.write = seam_write};

static int seam_init(struct hbone_seam *s, struct h2_transport *t, const char *identity)
{
	memset(s, 0, sizeof(*s));
	s->loop = loop_create();
	if (!s->loop)
		return -errno;
	s->pool = hbone_pool_create(s->loop, NULL);
	*t = (struct h2_transport){.kind = H2_PIPE,
				   .fd = -1,
				   .peer_identity = identity,
				   .pipe = &seam_pipe,
				   .pipe_arg = s};
	return s->pool ? 0 : -ENOMEM;
}

int hbone_seam_server(struct hbone_seam *s, const struct hbone_seam_server *o)
{
	struct h2_transport t;
	struct hbone_conn *c;
	int err = seam_init(s, &t, o->peer_identity);

	if (err)
		return err;
	c = hbone_server_attach(s->pool, &t, o->on_accept ? o->on_accept : refuse, o->user, NULL);
	if (!c)
		return -errno;
	c->local = o->local;
	c->peer = o->peer;
	s->conn = c;
	return 0;
}

int hbone_seam_client(struct hbone_seam *s, const struct hbone_target *t)
{
	struct h2_transport tr;
	int err = seam_init(s, &tr, t->expect_san);

	if (err)
		return err;
	/* hbone_pool_open's key: a seam out of step with it shows as a second pooled connection. */
	s->conn = hbone_client_attach(s->pool, t, &tr);
	return s->conn ? 0 : -errno;
}

int hbone_seam_feed(struct hbone_seam *s, const uint8_t *data, size_t len)
{
	int rv;

	if (!seam_alive(s))
		return -EPIPE;
	rv = h2_conn_input(s->conn->h2, data, len);
	if (rv < 0) {
		s->conn = NULL;
		return rv;
	}
	hbone_seam_step(s, 0);
	return 0;
}

int hbone_seam_feed_last(struct hbone_seam *s, const uint8_t *data, size_t len)
{
	int rv;

	if (!seam_alive(s))
		return -EPIPE;
	rv = h2_conn_input(s->conn->h2, data, len);
	if (rv == 0)
		h2_conn_close(s->conn->h2, "peer closed");
	s->conn = NULL;
	hbone_seam_step(s, 0);
	return rv;
}

int hbone_seam_step(struct hbone_seam *s, int timeout_ms)
{
	int n;

	/* The loop may free a closed connection: forget it first. */
	seam_alive(s);
	n = loop_run_once(s->loop, timeout_ms);
	seam_alive(s);
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
