// SPDX-License-Identifier: Apache-2.0
/*
 * The byte-stream interface (transport.h) over an HBONE stream's in-process end (hbone.h): the
 * waypoint's downstream (a CONNECT it accepted, ended in process) and its upstream (a CONNECT
 * it opens on its pool to a destination's ztunnel). Input is not copied: what the owner does not
 * take stays with the stream, which stops the peer at the stream's window and offers the rest
 * again on hbone_stream_ready. Output goes straight to the stream; what it does not take waits
 * here until its writable. The object lives until the stream's closed callback, also after the
 * owner's transport_close (no callback reaches the owner after that).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "lib/buf.h"
#include "hbone.h"
#include "net/transport.h"
#include "hbone_udp.h"
#include "transport_hbone.h"

/* A hard cap on queued output: writers stop at TRANSPORT_HIGH_WATER long before this. */
#define OUT_CAP (64u << 20)

struct hbt {
	struct transport t;
	struct loop *loop;
	/* The stream: a server's known from its first callback; NULL once it is gone. */
	struct hbone_stream *s;
	struct loop_task task;	 /* on_open, held EOF, failures found in calls: from the loop */
	struct loop_timer timer; /* client: the open deadline */
	struct buf out;
	int err; /* a failure to report from the task */
	bool client, opened, open_told, paused, eof_seen, eof_told, shut_wanted, shut_done;
	bool drain_wanted, failed, owner_gone, stream_gone, freed;
};

static const struct transport_impl hbt_impl;

static struct hbt *hbt_of(struct transport *t)
{
	return (struct hbt *)t;
}

static void hbt_free(void *p)
{
	struct hbt *h = p;

	buf_free(&h->out);
	transport_peer_clear(&h->t.peer);
	free(h);
}

/* Freed once neither the owner nor the stream can reach it. */
static void maybe_free(struct hbt *h)
{
	if (h->owner_gone && h->stream_gone && !h->freed) {
		h->freed = true;
		loop_timer_cancel(h->loop, &h->timer);
		loop_defer_free(h->loop, h, hbt_free);
	}
}

static void fail(struct hbt *h, int err)
{
	if (h->failed)
		return;
	h->failed = true;
	if (!h->owner_gone && h->t.cbs && h->t.cbs->on_error)
		h->t.cbs->on_error(h->t.arg, err);
}

static void fail_later(struct hbt *h, int err)
{
	if (h->failed || h->err)
		return;
	h->err = err;
	loop_queue(h->loop, &h->task);
}

static void flush(struct hbt *h)
{
	while (h->out.len && h->s) {
		ssize_t n = hbone_stream_write(h->s, buf_head(&h->out), h->out.len);

		if (n < 0) {
			fail(h, (int)n);
			return;
		}
		if (n == 0)
			return;
		buf_consume(&h->out, (size_t)n);
	}
	if (h->out.len)
		return;
	buf_free(&h->out);
	if (h->shut_wanted && !h->shut_done && h->s) {
		h->shut_done = true;
		hbone_stream_shutdown(h->s);
	}
	if (h->drain_wanted && !h->owner_gone && !h->failed) {
		h->drain_wanted = false;
		if (h->t.cbs->on_drain)
			h->t.cbs->on_drain(h->t.arg);
	}
}

static void tell_eof(struct hbt *h)
{
	if (h->eof_seen && !h->eof_told && !h->paused && !h->owner_gone && !h->failed) {
		h->eof_told = true;
		if (h->t.cbs->on_eof)
			h->t.cbs->on_eof(h->t.arg);
	}
}

static void on_task(struct loop_task *task)
{
	struct hbt *h = (struct hbt *)((char *)task - offsetof(struct hbt, task));

	if (h->owner_gone)
		return;
	if (h->err) {
		int err = h->err;

		h->err = 0;
		fail(h, err);
		return;
	}
	if (h->opened && !h->open_told) {
		h->open_told = true;
		loop_timer_cancel(h->loop, &h->timer);
		if (h->t.cbs->on_open)
			h->t.cbs->on_open(h->t.arg);
		if (h->owner_gone || h->failed)
			return;
		flush(h);
	}
	if (!h->paused && h->s)
		hbone_stream_ready(h->s);
	tell_eof(h);
}

/* ---- the stream's end ---- */

static size_t end_data(void *arg, struct hbone_stream *s, const uint8_t *p, size_t len)
{
	struct hbt *h = arg;
	size_t took;

	h->s = s;

	/* The owner left: what still comes is dropped (a graceful close waits for the peer). */
	if (h->owner_gone)
		return len;
	if (h->paused || h->failed || !h->open_told)
		return 0;
	took = h->t.cbs->on_data(h->t.arg, (const char *)p, len);
	if (took < len && !h->owner_gone)
		h->paused = true;
	return took;
}

static void end_eof(void *arg, struct hbone_stream *s)
{
	struct hbt *h = arg;

	h->s = s;

	h->eof_seen = true;
	tell_eof(h);
}

static void end_writable(void *arg, struct hbone_stream *s)
{
	struct hbt *h = arg;

	h->s = s;

	if (h->client && !h->opened) {
		/* The first writable of a client stream: the destination answered 200. */
		h->opened = true;
		loop_queue(h->loop, &h->task);
		return;
	}
	flush(h);
}

static void end_closed(void *arg, struct hbone_stream *s, const char *reason, bool reset)
{
	struct hbt *h = arg;
	int status = h->client ? hbone_stream_status(s) : 200;

	h->s = NULL;
	h->stream_gone = true;
	if (!h->owner_gone) {
		if (h->client && !h->opened)
			/* Refused by policy (401) or not reachable: Envoy's connect failure. */
			fail(h, status == 401 ? -EACCES : -ECONNREFUSED);
		else if (reset || !h->eof_seen || !h->shut_done)
			fail(h, -ECONNRESET);
	}
	maybe_free(h);
}

static const struct hbone_end_ops hbt_end = {
    .data = end_data,
    .eof = end_eof,
    .writable = end_writable,
    .closed = end_closed,
};

/* ---- transport_impl ---- */

static int hbt_write(struct transport *t, const char *data, size_t len)
{
	struct hbt *h = hbt_of(t);
	char *p;

	if (h->failed || h->err || h->shut_wanted || h->owner_gone || h->stream_gone)
		return -EPIPE;
	if (!h->out.len && h->open_told && h->s) {
		ssize_t n = hbone_stream_write(h->s, data, len);

		if (n < 0) {
			fail_later(h, (int)n);
			return 0;
		}
		data += n;
		len -= (size_t)n;
	}
	if (!len)
		return 0;
	p = buf_reserve(&h->out, len, OUT_CAP);
	if (!p)
		return -ENOMEM;
	memcpy(p, data, len);
	h->out.len += len;
	if (h->out.len > TRANSPORT_HIGH_WATER)
		h->drain_wanted = true;
	return 0;
}

static size_t hbt_queued(const struct transport *t)
{
	return ((const struct hbt *)t)->out.len;
}

static void hbt_shutdown(struct transport *t)
{
	struct hbt *h = hbt_of(t);

	if (h->shut_wanted)
		return;
	h->shut_wanted = true;
	if (!h->out.len && h->s && h->open_told) {
		h->shut_done = true;
		hbone_stream_shutdown(h->s);
	}
}

static void hbt_pause(struct transport *t)
{
	hbt_of(t)->paused = true;
}

static void hbt_resume(struct transport *t)
{
	struct hbt *h = hbt_of(t);

	h->paused = false;
	loop_queue(h->loop, &h->task);
}

static void hbt_close(struct transport *t, bool reset)
{
	struct hbt *h = hbt_of(t);

	if (h->owner_gone)
		return;
	h->owner_gone = true;
	loop_timer_cancel(h->loop, &h->timer);
	if (h->s && (reset || h->failed || !h->open_told)) {
		hbone_stream_abort(h->s, reset ? "reset by the proxy" : "closed before open");
	} else if (h->s) {
		/* Graceful: what is queued goes out, then END_STREAM; the peer's rest is dropped.
		 */
		h->shut_wanted = true;
		flush(h);
	}
	maybe_free(h);
}

/* A stream learns its end from its connection's reads: only what they told counts. */
static bool hbt_stale(const struct transport *t)
{
	const struct hbt *h = (const struct hbt *)t;

	return h->failed || h->err || h->eof_seen || h->stream_gone || h->shut_wanted || !h->s;
}

static const struct transport_impl hbt_impl = {
    .write = hbt_write,
    .queued = hbt_queued,
    .shutdown = hbt_shutdown,
    .pause = hbt_pause,
    .resume = hbt_resume,
    .close = hbt_close,
    .stale = hbt_stale,
};

static struct hbt *hbt_new(struct loop *l, const struct transport_peer *peer, bool client)
{
	struct hbt *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	if (peer && transport_peer_copy(&h->t.peer, peer)) {
		free(h);
		return NULL;
	}
	h->t.impl = &hbt_impl;
	h->loop = l;
	h->client = client;
	h->task.fn = on_task;
	return h;
}

struct transport *transport_hbone_accepted(struct loop *l, const struct transport_peer *peer,
					   struct hbone_upstream *up)
{
	struct hbt *h = hbt_new(l, peer, false);

	if (!h)
		return NULL;
	/* A server stream is open as soon as it is accepted: the 200 goes out at once. */
	h->opened = h->open_told = true;
	up->fd = -1;
	up->end = &hbt_end;
	up->end_arg = h;
	return &h->t;
}

void transport_hbone_refused(struct transport *t)
{
	struct hbt *h = hbt_of(t);

	h->stream_gone = true;
	h->owner_gone = true;
	maybe_free(h);
}

/* ---- the connector ---- */

struct hbc {
	struct connector c;
	struct hbone_pool *pool;
	struct loop *loop;
	hbone_creds_fn creds;
	void *creds_arg;
	uint16_t port;
	char *self;  /* forwarded: for=, or NULL */
	char *self6; /* the same to IPv6 destinations ("\"[v6]\""), or NULL */
	hbone_via_fn via;
	void *via_arg;
	hbone_remote_fn remote;
	void *remote_arg;
	char *baggage;		 /* sent with every CONNECT: the client workload, or NULL */
	struct connector *plain; /* to destinations outside the mesh (no identity) */
};

static void on_open_timer(struct loop_timer *t)
{
	struct hbt *h = (struct hbt *)((char *)t - offsetof(struct hbt, timer));

	if (h->s)
		hbone_stream_abort(h->s, "open timed out");
	fail(h, -ETIMEDOUT);
}

/*
 * The CONNECT of an open to @dst checking @identity into @t, its authority written in @authority
 * (room for 300): 0 with a reference to the client context in t->ctx, or -errno. *@remote: @dst
 * is in another network, @t the double HBONE through its gateway.
 */
static int hbc_target(struct hbc *hc, const union sockaddr_inet *dst, const char *identity,
		      struct hbone_target *t, char *authority, struct hbone_remote *rm,
		      bool *remote)
{
	const char *src = NULL;
	int r = 1, far = 1;

	*t = (struct hbone_target){.addr = *dst};
	if (hc->remote && (far = hc->remote(hc->remote_arg, dst, rm)) < 0)
		return far;
	if (!far)
		t->addr = rm->gateway;
	else if (hc->via && (r = hc->via(hc->via_arg, dst, &t->addr)) < 0)
		return r;
	if (far && r)
		t->addr = *dst; /* reached directly */
	*remote = !far;
	sockaddr_inet_format(dst, authority, 300);
	sockaddr_inet_set_port(&t->addr, hc->port);
	t->authority = authority;
	t->forwarded_for = dst->sa.sa_family == AF_INET6 ? hc->self6 : hc->self;
	t->baggage = hc->baggage;
	t->expect_san = identity;
	if (!far) {
		/* Both CONNECTs name the Service, as Istio's; the gateway picks the endpoint. */
		snprintf(authority, 300, "%s:%u", rm->hostname, sockaddr_inet_port(dst));
		t->via_authority = authority;
		t->via_san = rm->gateway_san;
		t->via_slot = rm->slot;
		t->expect_san = rm->sans;
		t->network = rm->network;
		/* To the endpoint there, not to a waypoint of the Service: L7 ran here. */
		t->source = "waypoint";
	}
	if (hc->creds(hc->creds_arg, &src, &t->ctx) || !src || !t->ctx) {
		tls_ctx_put(t->ctx);
		t->ctx = NULL;
		return -ENOKEY;
	}
	t->identity = src;
	return 0;
}

static struct transport *hbc_open(struct connector *c, const union sockaddr_inet *dst,
				  const char *identity, unsigned int timeout_ms,
				  const struct transport_cbs *cbs, void *arg)
{
	struct hbc *hc = (struct hbc *)c;
	char authority[300];
	struct hbone_target t;
	struct hbone_remote rm;
	struct hbt *h;
	bool remote;
	int r;

	/* Outside the mesh: no identity to check, no ztunnel to take HBONE; plaintext. */
	if (!identity)
		return connector_open(hc->plain, dst, NULL, timeout_ms, cbs, arg);
	r = hbc_target(hc, dst, identity, &t, authority, &rm, &remote);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	h = hbt_new(hc->loop, NULL, true);
	if (!h) {
		tls_ctx_put(t.ctx);
		return NULL;
	}
	transport_set_cbs(&h->t, cbs, arg);
	h->s = hbone_pool_open_end(hc->pool, &t, &hbt_end, h, NULL);
	tls_ctx_put(t.ctx); /* the pool holds its own */
	if (!h->s) {
		int err = errno;

		hbt_free(h);
		errno = err;
		return NULL;
	}
	h->timer.fn = on_open_timer;
	if (timeout_ms)
		loop_timer_arm(hc->loop, &h->timer, timeout_ms);
	return &h->t;
}

static void hbc_destroy(struct connector *c)
{
	connector_destroy(((struct hbc *)c)->plain);
	free(((struct hbc *)c)->baggage);
	free(((struct hbc *)c)->self);
	free(((struct hbc *)c)->self6);
	free(c);
}

void connector_hbone_set_via(struct connector *c, hbone_via_fn fn, void *arg)
{
	struct hbc *hc = (struct hbc *)c;

	hc->via = fn;
	hc->via_arg = arg;
}

void connector_hbone_set_remote(struct connector *c, hbone_remote_fn fn, void *arg)
{
	struct hbc *hc = (struct hbc *)c;

	hc->remote = fn;
	hc->remote_arg = arg;
}

int connector_hbone_set_baggage(struct connector *c, const char *baggage)
{
	struct hbc *hc = (struct hbc *)c;
	char *b = baggage ? strdup(baggage) : NULL;

	if (baggage && !b)
		return -ENOMEM;
	free(hc->baggage);
	hc->baggage = b;
	return 0;
}

int connector_hbone_set_self6(struct connector *c, const char *self6)
{
	struct hbc *hc = (struct hbc *)c;
	char *q = NULL;

	/* RFC 7239 §6: an IPv6 node is bracketed, and then quoted. */
	if (self6 && asprintf(&q, "\"[%s]\"", self6) < 0)
		return -ENOMEM;
	free(hc->self6);
	hc->self6 = q;
	return 0;
}

static const struct connector_impl hbc_impl = {
    .open = hbc_open,
    .destroy = hbc_destroy,
};

struct hbone_udp *connector_hbone_udp_open(struct connector *c, const union sockaddr_inet *dst,
					   const char *identity, const struct hbone_udp_ops *ops,
					   void *arg)
{
	struct hbc *hc = (struct hbc *)c;
	char authority[300], path[HBONE_UDP_PATH_MAX], ip[INET6_ADDRSTRLEN];
	struct hbone_target t;
	struct hbone_remote rm;
	struct hbone_udp *f;
	bool remote;
	int r, err;

	if (c->impl != &hbc_impl || !identity) {
		errno = EPROTONOSUPPORT;
		return NULL;
	}
	r = hbc_target(hc, dst, identity, &t, authority, &rm, &remote);
	/* Another network's (double HBONE): the path names the Service, as the authority does. */
	if (!r && hbone_udp_path(path, sizeof(path),
				 remote ? rm.hostname : sockaddr_inet_ntop(dst, ip, sizeof(ip)),
				 sockaddr_inet_port(dst)) < 0)
		r = -EINVAL;
	if (r < 0) {
		tls_ctx_put(t.ctx);
		errno = -r;
		return NULL;
	}
	t.udp_path = path;
	f = hbone_udp_open(hc->pool, &t, ops, arg);
	err = errno;
	tls_ctx_put(t.ctx); /* the pool holds its own */
	errno = err;
	return f;
}

struct connector *connector_hbone_new(struct loop *l, struct hbone_pool *p, uint16_t port,
				      const char *self, hbone_creds_fn creds, void *arg)
{
	struct hbc *hc = calloc(1, sizeof(*hc));

	if (!hc || (self && !(hc->self = strdup(self))) || !(hc->plain = connector_tcp_new(l))) {
		if (hc)
			free(hc->self);
		free(hc);
		return NULL;
	}
	hc->c.impl = &hbc_impl;
	hc->pool = p;
	hc->loop = l;
	hc->port = port;
	hc->creds = creds;
	hc->creds_arg = arg;
	return &hc->c;
}
