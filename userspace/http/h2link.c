// SPDX-License-Identifier: Apache-2.0
/* HTTP/2 over a transport (h2link.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "h2link.h"

struct h2_link {
	struct loop *loop;
	struct transport *t;
	struct h2_conn *c;
	const struct h2_conn_ops *ops; /* the owner's */
	void *arg;
	bool connected, failed;
};

static ssize_t pipe_write(void *arg, const uint8_t *data, size_t len)
{
	struct h2_link *k = arg;

	if (k->failed)
		return -EPIPE;
	/* Above the water mark the connection waits for on_drain (h2_conn_pipe_writable). */
	if (transport_queued(k->t) >= TRANSPORT_HIGH_WATER)
		return 0;
	if (transport_write(k->t, (const char *)data, len))
		return -EPIPE;
	return (ssize_t)len;
}

static const struct h2_pipe_ops pipe_ops = {.write = pipe_write};

static size_t t_data(void *arg, const char *data, size_t len)
{
	struct h2_link *k = arg;

	if (k->c && h2_conn_input(k->c, (const uint8_t *)data, len))
		h2_link_close(k, "HTTP/2 protocol error");
	return len;
}

static void t_eof(void *arg)
{
	h2_link_close(arg, "peer closed");
}

static void t_drain(void *arg)
{
	struct h2_link *k = arg;

	if (k->c)
		h2_conn_pipe_writable(k->c);
}

static void t_open(void *arg)
{
	struct h2_link *k = arg;

	k->connected = true;
}

static void t_error(void *arg, int err)
{
	struct h2_link *k = arg;

	k->failed = true;
	h2_link_close(k, k->connected ? "connection reset" : "connect failed");
}

static const struct transport_cbs t_cbs = {
    .on_data = t_data,
    .on_eof = t_eof,
    .on_drain = t_drain,
    .on_open = t_open,
    .on_error = t_error,
};

static void c_request(void *arg, struct h2_stream *s, const struct h2_header *h, size_t n,
		      bool end_stream)
{
	struct h2_link *k = arg;

	k->ops->on_request(k->arg, s, h, n, end_stream);
}

static void c_close(void *arg, struct h2_conn *c, const char *reason)
{
	struct h2_link *k = arg;

	k->c = NULL;
	/* A failed transport goes with a reset; a clean end flushes what is queued (GOAWAY). */
	transport_close(k->t, k->failed);
	if (k->ops->on_close)
		k->ops->on_close(k->arg, c, reason);
	/* After the batch: this runs inside the link's own calls (h2_conn_input closing). */
	loop_defer_free(k->loop, k, free);
}

static const struct h2_conn_ops server_ops = {.on_request = c_request, .on_close = c_close};
static const struct h2_conn_ops client_ops = {.on_close = c_close};

void h2_link_limits(struct h2_limits *lim, const struct http_limits *hl)
{
	h2_limits_default(lim);
	/* A value is bounded by the block, as in HTTP/1.1; zeros in @hl: h2_conn_create's. */
	lim->max_header_value = 0;
	if (hl)
		lim->headers = *hl;
}

struct h2_link *h2_link_new(struct loop *l, struct transport *t, bool server,
			    const struct h2_limits *lim, const struct h2_conn_ops *ops, void *arg)
{
	const struct transport_peer *p = transport_peer(t);
	struct h2_link *k = calloc(1, sizeof(*k));
	struct h2_transport tr = {.kind = H2_PIPE, .fd = -1, .pipe = &pipe_ops};
	struct h2_config cfg = {.server = server, .ops = server ? &server_ops : &client_ops};
	struct h2_limits def;
	int err = ENOMEM;

	if (!k)
		goto fail;
	k->loop = l;
	k->t = t;
	k->ops = ops;
	k->arg = arg;
	k->connected = server;
	tr.pipe_arg = k;
	tr.peer_identity = p->identity;
	cfg.arg = k;
	if (!lim)
		h2_link_limits(&def, NULL);
	cfg.lim = lim ? lim : &def;
	transport_set_cbs(t, &t_cbs, k);
	k->c = h2_conn_create(l, &tr, &cfg);
	if (!k->c) {
		err = errno;
		goto fail;
	}
	return k;
fail:
	free(k);
	transport_close(t, true);
	errno = err;
	return NULL;
}

int h2_link_input(struct h2_link *k, const char *data, size_t len)
{
	if (!k->c)
		return -EPIPE;
	if (h2_conn_input(k->c, (const uint8_t *)data, len)) {
		h2_link_close(k, "HTTP/2 protocol error");
		return -EPROTO;
	}
	return 0;
}

struct h2_conn *h2_link_conn(const struct h2_link *k)
{
	return k->c;
}

bool h2_link_connected(const struct h2_link *k)
{
	return k->connected;
}

void h2_link_close(struct h2_link *k, const char *reason)
{
	if (k->c)
		h2_conn_close(k->c, reason);
}
