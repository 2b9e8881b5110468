// SPDX-License-Identifier: Apache-2.0
/*
 * The HBONE connections a worker holds: pooled client connections (one per peer identity,
 * address and expected SAN, reused up to HBONE_MAX_STREAMS streams, closed when idle) and the
 * server connections it accepted, listed so that shutdown can close them and the tick can
 * check their deadlines.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ambit/log.h"
#include "hbone.h"
#include "hbone_priv.h"
#include "net/sock.h"

/* An unused pooled client connection is closed (GOAWAY) after this many seconds. */
#define POOL_IDLE_S 60
/* Keep-alive PINGs (hbone_limits): gRPC's and hyper's usual figures. */
#define HBONE_PING_INTERVAL_S 10
#define HBONE_PING_TIMEOUT_S 5

/* The HTTP/2 server's own defaults (h2_limits_default), and HBONE's stream deadlines. */
void hbone_limits_default(struct hbone_limits *lim)
{
	struct h2_limits h;

	h2_limits_default(&h);
	*lim = (struct hbone_limits){
	    .handshake_s = h.handshake_s,
	    .first_request_s = h.first_request_s,
	    .idle_s = h.idle_s,
	    .connect_s = 10,
	    .stream_idle_s = 3600,
	    .max_streams = HBONE_MAX_STREAMS,
	    .max_early_resets = h.max_early_resets,
	    .ping_interval_s = HBONE_PING_INTERVAL_S,
	    .ping_timeout_s = HBONE_PING_TIMEOUT_S,
	};
}

void hbone_pool_link(struct hbone_pool *p, struct hbone_conn *c)
{
	c->pool = p;
	LIST_INSERT_HEAD(&p->conns, c, link);
	p->n++;
}

static void conn_free(void *p)
{
	struct hbone_conn *c = p;

	free(c->key);
	free(c);
}

static void via_inner_gone(struct hbone_conn *c);

void hbone_conn_closed(void *arg, struct h2_conn *h2, const char *reason)
{
	struct hbone_conn *c = arg;
	struct hbone_pool *p = c->pool;

	c->dead = true;
	if (reason)
		pr_debug("hbone: connection %s closed: %s", c->key ? c->key : "(server)", reason);
	if (c->via)
		via_inner_gone(c);
	/* The HTTP/2 layer closed every stream before: each finished with it. */
	while (!LIST_EMPTY(&c->streams))
		hbone_stream_finish(LIST_FIRST(&c->streams), reason ? reason : "connection closed",
				    true);
	if (p) {
		LIST_REMOVE(c, link);
		p->n--;
		c->pool = NULL;
	}
	loop_defer_free(c->loop, c, conn_free);
}

/*
 * Once a second: every connection's deadlines (the HTTP/2 layer's and its streams'), and
 * client connections nobody used for POOL_IDLE_S are closed (peers restart, pods go away).
 */
static void pool_sweep(struct loop_tick *t)
{
	struct hbone_pool *p = container_of(t, struct hbone_pool, tick);
	time_t now = loop_now(p->loop);
	struct hbone_conn *c, *cnext;

	for (c = LIST_FIRST(&p->conns); c; c = cnext) {
		/* A sweep may close @c: it leaves the list; its memory stays till the batch ends.
		 */
		cnext = LIST_NEXT(c, link);
		if (p->draining)
			h2_conn_drain(c->h2); /* those opened since */
		h2_conn_sweep(c->h2);
		if (c->dead)
			continue;
		hbone_conn_sweep(c, now);
		if (c->dead || !c->client || h2_conn_streams(c->h2) || !h2_conn_ready(c->h2) ||
		    !h2_conn_usable(c->h2) || now - h2_conn_idle_since(c->h2) < POOL_IDLE_S)
			continue;
		/* GOAWAY: the session ends (and the connection closes) once it is written. */
		h2_conn_goaway(c->h2, H2_NO_ERROR);
	}
}

struct hbone_pool *hbone_pool_create(struct loop *l, const struct hbone_limits *lim)
{
	struct hbone_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->loop = l;
	if (lim)
		p->lim = *lim;
	else
		hbone_limits_default(&p->lim);
	p->tick.fn = pool_sweep;
	loop_tick_add(l, &p->tick);
	return p;
}

void hbone_pool_destroy(struct hbone_pool *p)
{
	if (!p)
		return;
	loop_tick_del(p->loop, &p->tick);
	p->closing = true;
	while (!LIST_EMPTY(&p->conns))
		h2_conn_close(LIST_FIRST(&p->conns)->h2, "pool destroyed");
	free(p);
}

void hbone_pool_drain(struct hbone_pool *p)
{
	struct hbone_conn *c;

	if (!p)
		return;
	p->draining = true;
	LIST_FOREACH(c, &p->conns, link)
	{
		if (!c->dead)
			h2_conn_drain(c->h2);
	}
}

size_t hbone_pool_size(const struct hbone_pool *p)
{
	return p ? p->n : 0;
}

void hbone_pool_key(const struct hbone_target *t, char *key, size_t len)
{
	char addr[SOCKADDR_INET_STRLEN];

	snprintf(key, len, "%s|%s|%s|%llu|%s|%u", t->identity,
		 sockaddr_inet_format(&t->addr, addr, sizeof(addr)), t->expect_san,
		 (unsigned long long)(t->ns ? t->ns->ino : 0),
		 t->via_authority ? t->via_authority : "", t->via_slot);
}

/*
 * Streams @c may carry: ours, or fewer if the server announced fewer (they would queue,
 * unanswered, rather than fail). Until the server's SETTINGS arrive the HTTP/2 layer assumes
 * 100 (RFC 9113 §6.5.2's recommendation).
 */
static size_t pool_room(const struct hbone_conn *c)
{
	size_t remote = h2_conn_peer_max_streams(c->h2);

	return remote < HBONE_MAX_STREAMS ? remote : HBONE_MAX_STREAMS;
}

static const struct h2_conn_ops client_conn_ops = {.on_close = hbone_conn_closed};

struct hbone_conn *hbone_client_attach(struct hbone_pool *p, const struct hbone_target *t,
				       const struct h2_transport *tr)
{
	struct hbone_conn *c = calloc(1, sizeof(*c));
	struct h2_config cfg = {
	    .ops = &client_conn_ops,
	    .arg = c,
	    /* A peer that is down drops SYNs: without a deadline the client would wait minutes. */
	    .connect_timeout_ms = HBONE_CONNECT_TIMEOUT_MS,
	    .handshake_timeout_ms = HBONE_HANDSHAKE_TIMEOUT_MS,
	};
	struct h2_limits lim;
	char key[512];

	if (!c)
		return NULL;
	h2_limits_default(&lim);
	/* A CONNECT's answer has no business with long values: HBONE's cap as before. */
	lim.max_header_value = 8192;
	lim.max_streams = HBONE_MAX_STREAMS;
	lim.stream_window = HBONE_STREAM_WINDOW;
	lim.conn_window = HBONE_CONN_WINDOW;
	lim.ping_interval_s = p->lim.ping_interval_s;
	lim.ping_timeout_s = p->lim.ping_timeout_s;
	cfg.lim = &lim;
	hbone_pool_key(t, key, sizeof(key));
	c->key = strdup(key);
	c->client = true;
	c->loop = p->loop;
	c->peer = t->addr;
	if (!c->key || !(c->h2 = h2_conn_create(p->loop, tr, &cfg))) {
		conn_free(c);
		errno = ENOMEM;
		return NULL;
	}
	hbone_pool_link(p, c);
	return c;
}

static struct hbone_conn *pool_connect(struct hbone_pool *p, const struct hbone_target *t)
{
	struct h2_transport tr = {
	    .kind = H2_TLS, .connecting = true, .ctx = t->ctx, .expect_san = t->expect_san};
	struct hbone_conn *c;
	int one = 1;

	tr.fd = sock_tcp_in(t->ns, t->addr.sa.sa_family);
	if (tr.fd < 0)
		return NULL;
	setsockopt(tr.fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
	if (connect(tr.fd, &t->addr.sa, sockaddr_inet_len(&t->addr)) < 0 && errno != EINPROGRESS) {
		close(tr.fd);
		return NULL;
	}
	c = hbone_client_attach(p, t, &tr);
	if (!c)
		close(tr.fd);
	return c;
}

/* Who hears how a gateway answered an outer CONNECT (hbone_target.via_health). */
struct via_watch {
	void (*health)(void *arg, const union sockaddr_inet *gateway, int status, uint64_t key);
	void *arg;
	union sockaddr_inet gateway;
	uint64_t key;
};

static void via_told(struct via_watch *v, int status)
{
	if (v && v->health)
		v->health(v->arg, &v->gateway, status, v->key);
	free(v);
}

/*
 * A new inner connection of double HBONE (hbone_target.via_authority) and the outer stream that
 * carries it, tied: the inner connection's TLS records go into the outer stream as its bytes
 * (H2_TLS_PIPE), and the outer stream's bytes into the inner connection, without a socket in
 * between (two system calls and a wake-up a message each way). Either's end ends the other:
 * an inner connection that closes aborts its outer stream (from a task, never from inside the
 * outer stream's own callbacks), an outer stream that ends closes its inner connection.
 */
struct hbone_via {
	struct hbone_conn *inner;   /* NULL once it closed */
	struct hbone_stream *outer; /* NULL once it ended */
	struct via_watch *watch;    /* told once: 200 at the first writable, else how it ended */
	bool established;
	/*
	 * What the outer stream did not take yet (a handshake flight before the gateway's 200, a
	 * full window), up to VIA_HELD: TLS's flushes are never short.
	 */
	struct buf held;
	struct loop_task task; /* the outer stream's abort after the inner connection closed */
};

#define VIA_HELD (64u << 10)

static void via_free(struct hbone_via *v)
{
	buf_free(&v->held);
	free(v);
}

static void via_done(struct hbone_via *v, int status)
{
	if (v->watch)
		via_told(v->watch, status);
	v->watch = NULL;
}

static ssize_t via_pipe_write(void *arg, const uint8_t *data, size_t len)
{
	struct hbone_via *v = arg;

	size_t taken = 0, room;
	char *p;

	if (!v->outer)
		return -EPIPE;
	if (!v->held.len) {
		ssize_t n = hbone_stream_write(v->outer, data, len);

		if (n < 0)
			return n;
		taken = (size_t)n;
	}
	room = VIA_HELD - v->held.len;
	if (len - taken < room)
		room = len - taken;
	if (!room)
		return (ssize_t)taken;
	p = buf_reserve(&v->held, room, VIA_HELD);
	if (!p)
		return taken ? (ssize_t)taken : -ENOMEM;
	memcpy(p, data + taken, room);
	v->held.len += room;
	return (ssize_t)(taken + room);
}

static const struct h2_pipe_ops via_pipe = {.write = via_pipe_write};

static size_t via_data(void *arg, struct hbone_stream *s, const uint8_t *p, size_t len)
{
	struct hbone_via *v = arg;

	(void)s;
	if (v->inner)
		(void)h2_conn_input(v->inner->h2, p, len);
	return len;
}

static void via_eof(void *arg, struct hbone_stream *s)
{
	struct hbone_via *v = arg;

	(void)s;
	if (v->inner)
		h2_conn_close(v->inner->h2, "the gateway ended the tunnel");
}

/* The gateway's 200 (open_end's first writable), then room again in the outer stream. */
static void via_writable(void *arg, struct hbone_stream *s)
{
	struct hbone_via *v = arg;

	(void)s;
	if (!v->established) {
		v->established = true;
		via_done(v, 200);
	}
	while (v->held.len && v->outer) {
		ssize_t n = hbone_stream_write(v->outer, buf_head(&v->held), v->held.len);

		if (n <= 0)
			return; /* its next writable, or its end */
		buf_consume(&v->held, (size_t)n);
	}
	if (v->inner)
		h2_conn_pipe_writable(v->inner->h2);
}

static void via_closed(void *arg, struct hbone_stream *s, const char *reason, bool reset)
{
	struct hbone_via *v = arg;

	(void)reset;
	v->outer = NULL;
	if (!v->established) {
		pr_debug("hbone: east-west gateway tunnel failed (status %d): %s",
			 hbone_stream_status(s), reason ? reason : "?");
		/* A status is an answer: the gateway is there (the Service or its endpoint is not).
		 */
		via_done(v, hbone_stream_status(s));
	}
	if (v->inner)
		h2_conn_close(v->inner->h2, reason ? reason : "the tunnel closed"); /* frees @v */
	else if (!v->task.queued)
		via_free(v);
}

static const struct hbone_end_ops via_end = {
    .data = via_data,
    .eof = via_eof,
    .writable = via_writable,
    .closed = via_closed,
};

static void via_task(struct loop_task *t)
{
	struct hbone_via *v = container_of(t, struct hbone_via, task);

	if (v->outer)
		hbone_stream_abort(v->outer, "the inner tunnel closed"); /* via_closed frees @v */
	else
		via_free(v);
}

/* Inner connection @c of a via closed (hbone_conn_closed). */
static void via_inner_gone(struct hbone_conn *c)
{
	struct hbone_via *v = c->via;

	c->via = NULL;
	v->inner = NULL;
	loop_queue(c->loop, &v->task);
}

static struct hbone_conn *pool_connect_via(struct hbone_pool *p, const struct hbone_target *t)
{
	struct hbone_target outer = {
	    .addr = t->addr,
	    .authority = t->via_authority,
	    .baggage = t->baggage,
	    .traceparent = t->traceparent,
	    .source = t->source,
	    .identity = t->identity,
	    .expect_san = t->via_san,
	    .ctx = t->ctx,
	    .ns = t->ns,
	};
	struct h2_transport tr = {.kind = H2_TLS_PIPE,
				  .fd = -1,
				  .ctx = t->ctx,
				  .expect_san = t->expect_san,
				  .pipe = &via_pipe};
	struct hbone_via *v = calloc(1, sizeof(*v));
	struct hbone_conn *c;

	if (!v)
		return NULL;
	v->task.fn = via_task;
	if (t->via_health && !(v->watch = calloc(1, sizeof(*v->watch)))) {
		free(v);
		return NULL;
	}
	if (v->watch)
		*v->watch =
		    (struct via_watch){t->via_health, t->via_health_arg, t->addr, t->via_key};
	v->outer = hbone_pool_open_end(p, &outer, &via_end, v, NULL);
	if (!v->outer) {
		free(v->watch);
		free(v);
		return NULL;
	}
	tr.pipe_arg = v;
	c = hbone_client_attach(p, t, &tr);
	if (!c) {
		/* No answer told: the caller fails this try itself. */
		free(v->watch);
		v->watch = NULL;
		hbone_stream_abort(v->outer, "out of memory"); /* via_closed frees @v */
		return NULL;
	}
	v->inner = c;
	c->via = v;
	return c;
}

/* The pooled connection a stream to @t would go on, or NULL: a new one would be opened. */
static struct hbone_conn *pool_find(struct hbone_pool *p, const struct hbone_target *t)
{
	struct hbone_conn *c;
	char key[512];

	hbone_pool_key(t, key, sizeof(key));
	for (c = LIST_FIRST(&p->conns); c; c = LIST_NEXT(c, link))
		if (c->client && !c->dead && h2_conn_usable(c->h2) &&
		    h2_conn_streams(c->h2) < pool_room(c) && strcmp(c->key, key) == 0)
			return c;
	return NULL;
}

bool hbone_pool_reuses(struct hbone_pool *p, const struct hbone_target *t)
{
	return pool_find(p, t) != NULL;
}

/* A CONNECT stream to @t on a pooled (or new) connection, its far end @fd (or -1); or NULL. */
static struct hbone_stream *pool_stream(struct hbone_pool *p, const struct hbone_target *t, int fd)
{
	struct h2_header h[11];
	char fwd[384];
	struct hbone_conn *c = pool_find(p, t);
	struct hbone_stream *s;
	size_t n = 2;

	if (!c)
		c = t->via_authority ? pool_connect_via(p, t) : pool_connect(p, t);
	/* A server that said it takes no extended CONNECT would reset the stream: say why now. */
	if (c && t->udp_path && !h2_conn_peer_extended_connect(c->h2)) {
		errno = EPROTONOSUPPORT;
		return NULL;
	}
	if (!c || !(s = hbone_stream_new(c, fd)))
		return NULL;
	if (fd >= 0 && loop_add_rx(p->loop, fd, 0, &s->h)) {
		hbone_stream_discard(s);
		return NULL;
	}
	h[0] = H2_HDR(":method", "CONNECT");
	h[1] = H2_HDR(":authority", t->authority);
	if (t->udp_path) {
		/* RFC 9298 §3.4 over RFC 8441; RFC 9297 §3.4's header: capsules follow. */
		h[n++] = H2_HDR(":protocol", "connect-udp");
		h[n++] = H2_HDR(":scheme", "https");
		h[n++] = H2_HDR(":path", t->udp_path);
		h[n++] = H2_HDR("capsule-protocol", "?1");
	}
	if (t->forwarded_for) {
		/* As Istio's ztunnel: the destination reports the Service the client asked for. */
		snprintf(fwd, sizeof(fwd), "for=%s%s%s", t->forwarded_for,
			 t->forwarded_host ? ";host=" : "",
			 t->forwarded_host ? t->forwarded_host : "");
		h[n++] = H2_HDR("forwarded", fwd);
	}
	if (t->baggage)
		h[n++] = H2_HDR("baggage", t->baggage);
	if (t->traceparent)
		h[n++] = H2_HDR("traceparent", t->traceparent);
	if (t->network)
		h[n++] = H2_HDR("x-forwarded-network", t->network);
	if (t->source)
		h[n++] = H2_HDR("x-istio-source", t->source);
	s->h2s = h2_submit_request(c->h2, h, n, true, &hbone_stream_ops, s);
	if (!s->h2s) {
		if (fd >= 0)
			loop_del_handler(p->loop, fd, &s->h);
		hbone_stream_discard(s);
		return NULL;
	}
	s->opened = loop_now(p->loop);
	s->authority = strdup(t->authority); /* for the logs only: NULL is fine */
	return s;
}

int hbone_pool_open(struct hbone_pool *p, const struct hbone_target *t, int fd, struct connrec *rec)
{
	struct hbone_stream *s = pool_stream(p, t, fd);

	if (!s) {
		/* Not handed back through ops: the caller keeps @fd. */
		if (fd >= 0 && !t->ops)
			hbone_close_reset(fd);
		connrec_close(rec, "hbone connect failed");
		return -ENOMEM;
	}
	s->rec = rec;
	/* Only now: ops never run from inside this call. */
	s->ops = t->ops;
	s->ops_arg = t->ops_arg;
	return 0;
}

struct hbone_stream *hbone_pool_open_end(struct hbone_pool *p, const struct hbone_target *t,
					 const struct hbone_end_ops *end, void *arg,
					 struct connrec *rec)
{
	struct hbone_stream *s;

	errno = 0;
	s = pool_stream(p, t, -1);
	if (!s) {
		/* EPROTONOSUPPORT: the server takes no CONNECT-UDP; else what failed, or ENOMEM. */
		int e = errno ? errno : ENOMEM;

		connrec_close(rec, "hbone connect failed");
		errno = e;
		return NULL;
	}
	s->rec = rec;
	s->end = end;
	s->end_arg = arg;
	/* As if it had tried: its writable runs once the 200 came. */
	s->end_full = true;
	return s;
}
