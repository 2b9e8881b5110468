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

#include "ambit/fmt.h"
#include "http1_priv.h"

#define IDLE_MS_DEFAULT (3600u * 1000)
/* How long an idle connection of a draining server waits for a request already sent. */
#define DRAIN_GRACE_MS 1000u
#define FIRST_BYTE_MS_DEFAULT (60u * 1000)
#define HEADERS_MS_DEFAULT (60u * 1000)

/*
 * Where the connection is, for its deadlines: one timer serves them all, and a request costs
 * it nothing. The timer is never armed further out than the shortest limit from when it was
 * armed, so a phase that begins later always finds it due no later than its own deadline; when
 * it fires it acts on the phase's deadline if it has passed, and otherwise sleeps again.
 */
enum phase {
	PH_FIRST,    /* accepted, nothing received (first_byte_ms) */
	PH_HEAD,     /* a request's head is arriving (headers_ms: then 408) */
	PH_EXCHANGE, /* a request is being served: the engine's stream deadlines apply */
	PH_IDLE,     /* between requests (idle_ms) */
};

struct h1_server {
	struct loop *loop;
	struct transport *t;
	struct h1_parser *p;
	const struct h1_server_ops *ops;
	void *arg;
	struct h1_server_limits lim;
	struct loop_timer idle;
	enum phase phase;
	uint64_t phase_ms;	/* when it began (loop_now_ms) */
	unsigned int period_ms; /* the shortest limit: the longest the timer sleeps */
	struct loop_task close_task;
	bool in_request, req_done, resp_started, resp_done, parser_paused;
	bool head_req, connect_req, upgrade_req, keep_alive, http10, close_after;
	bool chunked, no_body, tunnel, peer_eof, draining, closed, any_request;
	bool bodiless;	 /* the request's head said no body follows (its end is the head's) */
	bool eof_framed; /* the response's body ends with the connection (HTTP/1.0 client) */
};

static void set_phase(struct h1_server *s, enum phase ph)
{
	s->phase = ph;
	s->phase_ms = loop_now_ms(s->loop);
	if (!loop_timer_armed(&s->idle) && ph != PH_EXCHANGE)
		loop_timer_arm(s->loop, &s->idle, s->period_ms);
}

static int on_head(void *user, struct h1_head *head)
{
	struct h1_server *s = user;

	s->phase = PH_EXCHANGE;
	s->in_request = s->any_request = true;
	s->req_done = s->resp_started = s->resp_done = false;
	s->head_req = !strcmp(head->method, "HEAD");
	s->connect_req = !strcmp(head->method, "CONNECT");
	s->upgrade_req = head->upgrade;
	s->keep_alive = head->keep_alive;
	s->http10 = head->major == 1 && head->minor == 0;
	s->close_after = false;
	s->bodiless = head->framing == H1_FRAMING_NONE && !head->upgrade && !s->connect_req;
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
	if (!s->closed)
		s->ops->on_body_end(s->arg);
	/*
	 * A bodiless request answered from its head (a local reply: 403, 404, 503): the exchange
	 * is over now. The parser reads on into a pipelined request, as after any exchange; the
	 * connection stays unless it was to close (h1_server_end could not decide it: it ran
	 * before this end).
	 */
	if (s->resp_done && !s->closed) {
		s->in_request = false;
		if (s->close_after || s->draining || s->peer_eof) {
			h1_server_close(s, false);
			return H1_PAUSE;
		}
		set_phase(s, PH_IDLE);
		return 0;
	}
	s->parser_paused = true;
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

/* Answers @status with "connection: close" before the connection goes (no exchange open). */
static void answer_close(struct h1_server *s, int status)
{
	static const char *const extra[] = {"content-length", "0", "connection", "close"};
	struct h1_head h = {.status = (uint16_t)status};

	h1_send_head(s->t, &h, extra, 2);
}

/*
 * The exchange failed under the caller: it hears of it once, the client gets @status (0:
 * nothing) when its response had not begun, then the connection goes.
 */
static void abort_exchange_with(struct h1_server *s, int err, bool reset, int status)
{
	bool open = s->in_request && !s->resp_done;

	s->in_request = false;
	if (open)
		s->ops->on_abort(s->arg, err);
	if (status && !s->closed && !s->resp_started)
		answer_close(s, status);
	h1_server_close(s, reset);
}

static void abort_exchange(struct h1_server *s, int err, bool reset)
{
	abort_exchange_with(s, err, reset, 0);
}

/*
 * What the parser refused: a head is answered here (no exchange was handed up); a malformed
 * body too (400, RFC 9112 §7.1: a chunk error), after the exchange heard of it, unless its
 * response began: then the client learns it from the connection's end. Then the end.
 */
static void refuse(struct h1_server *s)
{
	int status = h1_parser_error_status(s->p);

	if (!status)
		status = 400;
	if (s->in_request) {
		bool started = s->resp_started && !s->resp_done;

		abort_exchange_with(s, -EPROTO, started, started ? 0 : status);
		return;
	}
	answer_close(s, status);
	if (s->ops->on_refused)
		s->ops->on_refused(s->arg, status, h1_parser_error(s->p));
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
	if (s->phase != PH_HEAD && !s->in_request)
		set_phase(s, PH_HEAD); /* a request's first bytes: its head has headers_ms */
	n = h1_parser_feed(s->p, data, len);
	if (s->closed)
		return len;
	if (n < 0) {
		refuse(s);
		return len;
	}
	/* An exchange answered from its head ended in this read: the connection idles (below). */
	if (!s->in_request)
		h1_parser_release(s->p);
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
	uint64_t now = loop_now_ms(s->loop), limit;

	if (s->closed)
		return;
	switch (s->phase) {
	case PH_FIRST: limit = s->lim.first_byte_ms; break;
	case PH_HEAD: limit = s->lim.headers_ms; break;
	case PH_IDLE: limit = s->lim.idle_ms; break;
	default: return; /* an exchange: armed again when it ends */
	}
	if (s->draining && s->phase != PH_HEAD && limit > DRAIN_GRACE_MS)
		limit = DRAIN_GRACE_MS;
	if (now - s->phase_ms < limit) {
		uint64_t left = limit - (now - s->phase_ms);

		loop_timer_arm(s->loop, &s->idle,
			       (unsigned int)(left < s->period_ms ? left : s->period_ms));
		return;
	}
	if (s->phase == PH_HEAD && !s->in_request) {
		/* Envoy's request_headers_timeout: 408, then the connection goes. */
		answer_close(s, 408);
		if (s->ops->on_refused)
			s->ops->on_refused(s->arg, 408, "request header timeout");
	}
	h1_server_close(s, false); /* idle, or silent since accepted: nothing to say */
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
	s->lim.headers_ms = lim && lim->headers_ms ? lim->headers_ms : HEADERS_MS_DEFAULT;
	s->period_ms = s->lim.idle_ms;
	if (s->lim.first_byte_ms < s->period_ms)
		s->period_ms = s->lim.first_byte_ms;
	if (s->lim.headers_ms < s->period_ms)
		s->period_ms = s->lim.headers_ms;
	if (lim)
		h1_parser_set_limits(s->p, &lim->headers);
	s->idle.fn = on_idle;
	s->close_task.fn = close_task;
	set_phase(s, PH_FIRST);
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
	/*
	 * A refused upgrade leaves bytes behind the request that are not HTTP: close after. So
	 * does an answer that begins before the request's body has ended (Envoy's connection
	 * manager: "Connection: close" on HTTP/1 when the response starts before the request is
	 * complete), which the client is told rather than finding the connection gone.
	 */
	if (!s->keep_alive || s->draining || s->peer_eof || (s->upgrade_req && !tunnel_ok) ||
	    (!tunnel_ok && !s->req_done && !s->bodiless))
		s->close_after = true;
	s->no_body = s->head_req || st == 204 || st == 304 || tunnel_ok;
	s->chunked = s->eof_framed = false;
	if (tunnel_ok) {
		/* 101 keeps its Connection/Upgrade, which the caller passes through. */
	} else if (framing == H1_FRAMING_LENGTH ||
		   (framing == H1_FRAMING_NONE && st != 204 && st != 304)) {
		fmt_u64(len_buf, framing == H1_FRAMING_LENGTH ? length : 0);
		extra[n++] = "content-length";
		extra[n++] = len_buf;
	} else if (framing == H1_FRAMING_EOF && !s->head_req && st != 204 && st != 304) {
		if (s->http10) {
			s->close_after = true; /* the body ends with the connection */
			s->eof_framed = true;
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
	set_phase(s, PH_IDLE);
	/*
	 * What the parser kept of the request (its line's collector) goes until the next one
	 * comes: a connection held open between requests holds the parser alone.
	 */
	h1_parser_release(s->p);
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
		/*
		 * Answered from a bodiless request's head, before the parser reached its end: the
		 * end follows within the same read (on_end finishes the exchange). Answered
		 * before an upload ended: Envoy closes (the response said "connection: close").
		 */
		if (s->bodiless)
			return 0;
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
	s->phase = PH_EXCHANGE; /* the stream's own idle deadline applies, not the connection's */
	/*
	 * The client finished sending before the tunnel existed (its EOF came while the upgrade
	 * was pending): the tunnel hears of it now, or its upstream half never closes.
	 */
	if (s->peer_eof) {
		s->ops->on_body_end(s->arg);
		return;
	}
	transport_resume(s->t);
}

void h1_server_close_after(struct h1_server *s)
{
	if (s->in_request && !s->resp_started)
		s->close_after = true;
}

void h1_server_cut(struct h1_server *s)
{
	h1_server_close(s, s->tunnel || s->eof_framed);
}

void h1_server_no_upgrade(struct h1_server *s)
{
	h1_parser_no_upgrade(s->p);
	s->upgrade_req = false;
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
	if (s->in_request || s->tunnel || s->closed || s->phase == PH_HEAD)
		return; /* it closes when its exchange ends */
	/*
	 * Idle (or accepted, nothing read yet): a request may already be on its way, and a close
	 * now would meet it as a reset. It goes after DRAIN_GRACE_MS unless a request comes, which
	 * is answered with "Connection: close" (Envoy's drain does the same).
	 */
	s->phase_ms = loop_now_ms(s->loop);
	loop_timer_cancel(s->loop, &s->idle);
	loop_timer_arm(s->loop, &s->idle, DRAIN_GRACE_MS);
}
