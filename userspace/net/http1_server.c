// SPDX-License-Identifier: Apache-2.0
/*
 * The server side of an HTTP/1 proxy connection (http1_conn.h). One exchange at a time: the
 * parser pauses at the end of each request and the bytes of a pipelined next one stay with
 * the transport (which stops reading) until the response is complete, so responses leave in
 * request order and an idle client holds one read buffer, not a queue of requests.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http1_priv.h"

#define IDLE_MS_DEFAULT (3600u * 1000)
#define FIRST_BYTE_MS_DEFAULT (60u * 1000)

struct h1_server {
	struct loop *loop;
	struct transport *t;
	struct h1_parser *p;
	const struct h1_server_ops *ops;
	void *arg;
	struct h1_server_limits lim;
	struct loop_timer idle;
	struct loop_task close_task;
	bool in_request, req_done, resp_started, resp_done, parser_paused;
	bool head_req, connect_req, upgrade_req, keep_alive, http10, close_after;
	bool chunked, no_body, tunnel, peer_eof, draining, closed, any_request;
};

static int on_head(void *user, struct h1_head *head)
{
	struct h1_server *s = user;

	loop_timer_cancel(s->loop, &s->idle);
	s->in_request = s->any_request = true;
	s->req_done = s->resp_started = s->resp_done = false;
	s->head_req = !strcmp(head->method, "HEAD");
	s->connect_req = !strcmp(head->method, "CONNECT");
	s->upgrade_req = head->upgrade;
	s->keep_alive = head->keep_alive;
	s->http10 = head->major == 1 && head->minor == 0;
	s->close_after = false;
	s->ops->on_request(s->arg, head);
	return 0;
}

static int on_body(void *user, const char *data, size_t len)
{
	struct h1_server *s = user;

	if (!s->closed)
		s->ops->on_body(s->arg, data, len);
	return 0;
}

static int on_end(void *user)
{
	struct h1_server *s = user;

	s->req_done = true;
	s->parser_paused = true;
	if (!s->closed)
		s->ops->on_body_end(s->arg);
	return H1_PAUSE;
}

static const struct h1_parser_ops parser_ops = {on_head, on_body, on_end};

static void close_task(struct loop_task *task)
{
	struct h1_server *s =
	    (struct h1_server *)((char *)task - offsetof(struct h1_server, close_task));

	s->ops->on_close(s->arg);
	h1_parser_free(s->p);
	free(s);
}

void h1_server_close(struct h1_server *s, bool reset)
{
	if (s->closed)
		return;
	s->closed = true;
	loop_timer_cancel(s->loop, &s->idle);
	transport_close(s->t, reset);
	s->t = NULL;
	loop_queue(s->loop, &s->close_task);
}

/* The exchange failed under the caller: it hears of it once, then the connection goes. */
static void abort_exchange(struct h1_server *s, int err, bool reset)
{
	bool open = s->in_request && !s->resp_done;

	s->in_request = false;
	if (open)
		s->ops->on_abort(s->arg, err);
	h1_server_close(s, reset);
}

/* A head the parser refused: answered here (no exchange was handed up), then the end. */
static void refuse(struct h1_server *s)
{
	static const char *const extra[] = {"content-length", "0", "connection", "close"};
	struct h1_head h = {.status = (uint16_t)h1_parser_error_status(s->p)};

	if (s->in_request) {
		abort_exchange(s, -EPROTO, true);
		return;
	}
	if (!h.status)
		h.status = 400;
	h1_send_head(s->t, &h, extra, 2);
	if (s->ops->on_refused)
		s->ops->on_refused(s->arg, h.status, h1_parser_error(s->p));
	h1_server_close(s, false);
}

static size_t t_data(void *arg, const char *data, size_t len)
{
	struct h1_server *s = arg;
	ssize_t n;

	if (s->tunnel) {
		s->ops->on_body(s->arg, data, len);
		return len;
	}
	if (s->parser_paused)
		return 0; /* a pipelined request waits for the current response */
	n = h1_parser_feed(s->p, data, len);
	if (s->closed)
		return len;
	if (n < 0) {
		refuse(s);
		return len;
	}
	return (size_t)n;
}

static void t_eof(void *arg)
{
	struct h1_server *s = arg;

	if (s->tunnel) {
		s->ops->on_body_end(s->arg);
		return;
	}
	s->peer_eof = true;
	if (!s->in_request) {
		h1_server_close(s, false);
		return;
	}
	if (!s->req_done)
		abort_exchange(s, -EPIPE, false);
	/* Complete request, response pending: answered, then closed (peer_eof). */
}

static void t_drain(void *arg)
{
	struct h1_server *s = arg;

	if (s->in_request || s->tunnel)
		s->ops->on_drain(s->arg);
}

static void t_error(void *arg, int err)
{
	struct h1_server *s = arg;

	if (s->in_request || s->tunnel) {
		s->in_request = true;
		abort_exchange(s, err, true);
	} else {
		h1_server_close(s, true);
	}
}

static const struct transport_cbs server_cbs = {
    .on_data = t_data, .on_eof = t_eof, .on_drain = t_drain, .on_error = t_error};

static void on_idle(struct loop_timer *t)
{
	struct h1_server *s = (struct h1_server *)((char *)t - offsetof(struct h1_server, idle));

	if (!s->in_request && !s->tunnel)
		h1_server_close(s, false);
}

struct h1_server *h1_server_new(struct loop *l, struct transport *t,
				const struct h1_server_ops *ops, void *arg,
				const struct h1_server_limits *lim)
{
	struct h1_server *s = calloc(1, sizeof(*s));

	if (!s || !(s->p = h1_parser_new(true, &parser_ops, s))) {
		free(s);
		transport_close(t, true);
		errno = ENOMEM;
		return NULL;
	}
	s->loop = l;
	s->t = t;
	s->ops = ops;
	s->arg = arg;
	s->lim.idle_ms = lim && lim->idle_ms ? lim->idle_ms : IDLE_MS_DEFAULT;
	s->lim.first_byte_ms =
	    lim && lim->first_byte_ms ? lim->first_byte_ms : FIRST_BYTE_MS_DEFAULT;
	s->idle.fn = on_idle;
	s->close_task.fn = close_task;
	loop_timer_arm(l, &s->idle, s->lim.first_byte_ms);
	transport_set_cbs(t, &server_cbs, s);
	return s;
}

struct transport *h1_server_transport(const struct h1_server *s)
{
	return s->t;
}

int h1_server_respond(struct h1_server *s, const struct h1_head *resp, enum h1_framing framing,
		      uint64_t length)
{
	const char *extra[8];
	char len_buf[24];
	size_t n = 0;
	bool tunnel_ok;
	int st = resp->status;

	if (s->closed || !s->in_request || s->resp_started)
		return -EPIPE;
	if (st >= 100 && st < 200 && st != 101)
		return h1_send_head(s->t, resp, NULL, 0);
	s->resp_started = true;
	tunnel_ok = (s->upgrade_req && !s->connect_req && st == 101) ||
		    (s->connect_req && st >= 200 && st < 300);
	/* A refused upgrade leaves bytes behind the request that are not HTTP: close after. */
	if (!s->keep_alive || s->draining || s->peer_eof || (s->upgrade_req && !tunnel_ok))
		s->close_after = true;
	s->no_body = s->head_req || st == 204 || st == 304 || tunnel_ok;
	s->chunked = false;
	if (tunnel_ok) {
		/* 101 keeps its Connection/Upgrade, which the caller passes through. */
	} else if (framing == H1_FRAMING_LENGTH ||
		   (framing == H1_FRAMING_NONE && st != 204 && st != 304)) {
		snprintf(len_buf, sizeof(len_buf), "%llu",
			 (unsigned long long)(framing == H1_FRAMING_LENGTH ? length : 0));
		extra[n++] = "content-length";
		extra[n++] = len_buf;
	} else if (framing == H1_FRAMING_EOF && !s->head_req && st != 204 && st != 304) {
		if (s->http10) {
			s->close_after = true; /* the body ends with the connection */
		} else {
			s->chunked = true;
			extra[n++] = "transfer-encoding";
			extra[n++] = "chunked";
		}
	}
	if (!tunnel_ok && s->close_after) {
		extra[n++] = "connection";
		extra[n++] = "close";
	} else if (!tunnel_ok && s->http10) {
		extra[n++] = "connection";
		extra[n++] = "keep-alive";
	}
	return h1_send_head(s->t, resp, extra, n / 2);
}

int h1_server_body(struct h1_server *s, const char *data, size_t len)
{
	if (s->closed)
		return -EPIPE;
	if (s->tunnel)
		return transport_write(s->t, data, len);
	if (s->no_body)
		return 0;
	return h1_send_body(s->t, s->chunked, data, len);
}

/* Both halves done: read the next request, or close. */
static void next_exchange(struct h1_server *s)
{
	s->in_request = false;
	if (s->close_after || s->draining || s->peer_eof) {
		h1_server_close(s, false);
		return;
	}
	loop_timer_arm(s->loop, &s->idle, s->lim.idle_ms);
	s->parser_paused = false;
	h1_parser_resume(s->p);
	transport_resume(s->t);
}

int h1_server_end(struct h1_server *s)
{
	int err = 0;

	if (s->closed)
		return -EPIPE;
	if (s->tunnel) {
		transport_shutdown(s->t);
		return 0;
	}
	if (s->chunked)
		err = transport_write(s->t, H1_LAST_CHUNK, sizeof(H1_LAST_CHUNK) - 1);
	s->resp_done = true;
	if (err) {
		h1_server_close(s, true);
		return err;
	}
	if (!s->req_done) {
		/* Answered before the request ended (a local reply to an upload): Envoy closes. */
		s->in_request = false;
		h1_server_close(s, false);
		return 0;
	}
	next_exchange(s);
	return 0;
}

void h1_server_upgrade(struct h1_server *s)
{
	if (s->closed || s->tunnel)
		return;
	s->tunnel = true;
	s->in_request = false;
	loop_timer_cancel(s->loop, &s->idle);
	transport_resume(s->t);
}

void h1_server_shutdown(struct h1_server *s)
{
	if (!s->closed)
		transport_shutdown(s->t);
}

size_t h1_server_queued(const struct h1_server *s)
{
	return s->closed ? 0 : transport_queued(s->t);
}

void h1_server_pause(struct h1_server *s)
{
	if (!s->closed)
		transport_pause(s->t);
}

void h1_server_resume(struct h1_server *s)
{
	if (!s->closed)
		transport_resume(s->t);
}

bool h1_server_head_request(const struct h1_server *s)
{
	return s->head_req;
}

void h1_server_drain(struct h1_server *s)
{
	s->draining = true;
	if (!s->in_request && !s->tunnel)
		h1_server_close(s, false);
}
