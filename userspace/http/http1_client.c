// SPDX-License-Identifier: Apache-2.0
/*
 * The client side of an HTTP/1 proxy connection (http1_conn.h): one request at a time on a
 * pooled upstream connection (http1_pool.c). Interim 1xx responses go to on_interim (RFC 9110
 * §15.2: a proxy forwards them); a 101 to a request that asked for an upgrade, or a 2xx to
 * CONNECT, turns the connection into a tunnel whose bytes go to on_body as they come.
 *
 * A response ends the exchange's use of the connection: the parser stops at its end, and any
 * byte after it, in the same read or later, is one the server sent for no request. Parsed as
 * the next response it would answer another client's request (a backend, or anyone who can
 * write into its responses, smuggling a response into the pool), so such a connection is never
 * used again (Envoy: "extraneous data after response complete").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/fmt.h"
#include "http1_pool_priv.h"

static int on_head(void *user, struct h1_head *head)
{
	struct h1_client *c = user;

	c->interim = head->status >= 100 && head->status < 200 && head->status != 101;
	if (c->interim) {
		if (c->ops && c->ops->on_interim)
			c->ops->on_interim(c->arg, head);
		return 0;
	}
	if (head->status == 101 && !c->upgrade_req) {
		/* Switching to a protocol nobody asked for: the bytes after it are no response. */
		c->bad_response = true;
		return -EPROTO;
	}
	c->resp_keep_alive = head->keep_alive;
	if (head->status == 101 || (c->connect_req && head->status >= 200 && head->status < 300)) {
		c->tunnel = true;
		h1_parser_upgrade(c->p); /* also a 101 without "Connection: upgrade" */
	}
	if (c->ops)
		c->ops->on_response(c->arg, head);
	/* CONNECT: llhttp does not know the request; what follows the head is the tunnel's. */
	return c->tunnel && c->connect_req ? H1_PAUSE : 0;
}

static int on_body(void *user, const char *data, size_t len)
{
	struct h1_client *c = user;

	if (c->ops && !c->interim)
		c->ops->on_body(c->arg, data, len);
	return 0;
}

static int on_end(void *user)
{
	struct h1_client *c = user;

	if (c->interim) {
		c->interim = false;
		return 0;
	}
	if (c->tunnel)
		return H1_PAUSE;
	/* Stop here: what follows in this read is not ours to parse (see the top). */
	c->resp_done = true;
	return H1_PAUSE;
}

const struct h1_parser_ops h1_client_parser_ops = {on_head, on_body, on_end};

/* The response is complete: the exchange hears of it once. */
static void told_end(struct h1_client *c)
{
	if (c->end_told)
		return;
	c->end_told = true;
	if (c->ops)
		c->ops->on_end(c->arg);
}

size_t h1_client_t_data(void *arg, const char *data, size_t len)
{
	struct h1_client *c = arg;
	ssize_t n;

	if (!c->busy || c->resp_done) {
		/* Bytes nobody asked for: this connection cannot be trusted with another request.
		 */
		if (c->busy && c->resp_done && c->end_told) {
			c->extra_bytes = true;
			return len;
		}
		h1_client_fail(c, -EPROTO);
		return len;
	}
	c->heard = true;
	if (c->tunnel) {
		c->ops->on_body(c->arg, data, len);
		return len;
	}
	n = h1_parser_feed(c->p, data, len);
	if (c->dead)
		return len;
	if (n < 0) {
		h1_client_fail(c, -EPROTO);
		return len;
	}
	if ((size_t)n < len && c->tunnel && c->ops) {
		c->ops->on_body(c->arg, data + n, len - (size_t)n);
		return len;
	}
	if (c->resp_done) {
		/* Known before the exchange hears of the end: it may give the connection back. */
		if ((size_t)n < len)
			c->extra_bytes = true;
		told_end(c);
		return len;
	}
	return (size_t)n;
}

void h1_client_t_eof(void *arg)
{
	struct h1_client *c = arg;

	c->peer_eof = true;
	if (c->busy && !c->req_started) {
		/*
		 * Handed to a request that has not begun (the pool tells it from its task): what
		 * the previous exchange left (resp_done) is not this one's, and the end must not be
		 * swallowed as if it were, or the request would be written on a closed connection
		 * and wait for an answer forever. Dead: h1_client_request says -EPIPE, and the
		 * holder gives it back.
		 */
		c->dead = true;
		return;
	}
	if (c->busy && c->tunnel && c->ops) {
		c->ops->on_end(c->arg);
		return;
	}
	if (c->busy && c->resp_done)
		return; /* ended before; the connection is not reused (peer_eof) */
	if (c->busy && c->req_started && h1_parser_eof(c->p) == 0 && c->resp_done) {
		told_end(c); /* a body delimited by the connection's end */
		return;
	}
	h1_client_fail(c, -EPIPE);
}

int h1_client_request(struct h1_client *c, const struct h1_head *req, enum h1_framing framing,
		      uint64_t length)
{
	const char *extra[4];
	char len_buf[24];
	size_t n = 0;

	if (c->dead)
		return -EPIPE;
	c->req_started = true;
	c->req_done = c->resp_done = c->end_told = c->tunnel = c->interim = c->heard = false;
	c->head_req = !strcmp(req->method, "HEAD");
	c->connect_req = !strcmp(req->method, "CONNECT");
	c->upgrade_req = http_fields_get(&req->fields, "upgrade") != NULL;
	h1_parser_resume(c->p); /* paused at the previous response's end */
	c->chunked = false;
	if (c->head_req)
		h1_parser_expect_no_body(c->p);
	if (framing == H1_FRAMING_LENGTH) {
		fmt_u64(len_buf, length);
		extra[n++] = "content-length";
		extra[n++] = len_buf;
	} else if (framing == H1_FRAMING_EOF || framing == H1_FRAMING_CHUNKED) {
		c->chunked = true;
		extra[n++] = "transfer-encoding";
		extra[n++] = "chunked";
	}
	if (http_fields_get(&req->fields, "upgrade")) {
		extra[n++] = "connection";
		extra[n++] = "upgrade";
	}
	c->requests++;
	return h1_send_head(c->t, req, extra, n / 2);
}

int h1_client_body(struct h1_client *c, const char *data, size_t len)
{
	if (c->dead)
		return -EPIPE;
	if (c->tunnel)
		return transport_write(c->t, data, len);
	return h1_send_body(c->t, c->chunked, data, len);
}

int h1_client_end(struct h1_client *c)
{
	if (c->dead)
		return -EPIPE;
	if (c->tunnel) {
		transport_shutdown(c->t);
		return 0;
	}
	c->req_done = true;
	return c->chunked ? transport_write(c->t, H1_LAST_CHUNK, sizeof(H1_LAST_CHUNK) - 1) : 0;
}

void h1_client_shutdown(struct h1_client *c)
{
	if (!c->dead)
		transport_shutdown(c->t);
}

size_t h1_client_queued(const struct h1_client *c)
{
	return c->dead ? 0 : transport_queued(c->t);
}

void h1_client_pause(struct h1_client *c)
{
	if (!c->dead)
		transport_pause(c->t);
}

void h1_client_resume(struct h1_client *c)
{
	if (!c->dead)
		transport_resume(c->t);
}

bool h1_client_tunnel(const struct h1_client *c)
{
	return c->tunnel;
}

bool h1_client_reused(const struct h1_client *c)
{
	/* A request refused before it began (the connection died in the pool) is not counted. */
	return c->requests > (c->req_started ? 1u : 0u);
}

bool h1_client_heard(const struct h1_client *c)
{
	return c->req_started && c->heard;
}

void h1_client_bind(struct h1_client *c, const struct h1_client_ops *ops, void *arg)
{
	c->ops = ops;
	c->arg = arg;
}

const union sockaddr_inet *h1_client_peer(const struct h1_client *c)
{
	return &c->peer;
}
