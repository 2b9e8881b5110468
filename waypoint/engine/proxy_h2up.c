// SPDX-License-Identifier: Apache-2.0
/*
 * HTTP/2 upstream (proxy_priv.h): an attempt that goes to its endpoint as h2c with prior
 * knowledge — one to a grpc / http2 port, any request when the DestinationRule says
 * h2UpgradePolicy UPGRADE, or a request that came as HTTP/2 to a port whose protocol was
 * sniffed (or with useClientProtocol): Istio's cluster protocols — is a stream on a per-endpoint
 * HTTP/2 connection opened through the engine's connector (HBONE in the mesh, TCP standalone)
 * and carrying many streams: up to what the server allows (SETTINGS_MAX_CONCURRENT_STREAMS)
 * and connectionPool.http2.maxConcurrentStreams, and at most maxRequestsPerConnection over its
 * life. http2MaxRequests (concurrent requests of the cluster) is the pool's request count, as
 * for HTTP/1; tcp.maxConnections counts the connections the cluster opened (shared with its
 * HTTP/1 pools): a request that needs one more beyond it overflows (503 UO), where Envoy would
 * queue it as pending.
 *
 * The stream's events come back to proxy_up.c as an HTTP/1 connection's would (wp_up_events),
 * so retries, timeouts, outlier detection and the response's header operations are written
 * once; the response's trailers are passed to the downstream before its end. The request is
 * converted (RFC 9113 §8.3.1): Host becomes :authority, connection-specific fields go, TE is
 * kept only as "trailers". Request body bytes are sent from the request's buffer (r->body), so a
 * retry replays it as the HTTP/1 path does; the response's DATA is consumed (the server's
 * window reopened) only as the downstream takes it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/log.h"
#include "http/h2link.h"
#include "proxy_priv.h"

/* An idle upstream HTTP/2 connection goes after this, unless the policy says otherwise. */
#define H2UP_IDLE_MS (300u * 1000)

struct wp_h2up {
	struct wp_engine *e;
	struct h2_link *k;
	struct wp_gen *gen;    /* held: @cl lives in it */
	struct wp_cluster *cl; /* whose tcp.maxConnections this connection counts against */
	union sockaddr_inet addr;
	char *identity;
	uint32_t max_per_conn, max_streams; /* 0: no limit of the policy's */
	uint32_t served;
	size_t active;
	uint64_t idle_since_ms;
	unsigned int idle_ms;
	struct wp_h2up *next, *prev;
};

struct wp_h2a {
	struct wp_req *r;
	struct wp_h2up *u;
	struct h2_stream *s;
	struct http_fields trailers;
	size_t unconsumed;
	bool got_head, paused, deferred;
	bool reused; /* the connection had carried a stream before this one */
	bool closed; /* the stream closed (a_close): @close_error says how */
	uint32_t close_error;
};

bool wp_h2up_wanted(const struct wp_req *r)
{
	return wp_h2up_wanted_on(r->up->c, r);
}

bool wp_h2up_wanted_on(const struct wp_cluster *c, const struct wp_req *r)
{
	const struct l7_policy *pol = c->policy;
	enum l7_protocol proto = L7_PROTO_UNKNOWN;

	if (r->head.upgrade)
		return false; /* a tunnel (Upgrade, CONNECT) stays HTTP/1 */
	for (size_t i = 0; c->svc && i < c->svc->n_ports; i++)
		if (c->svc->ports[i].port == c->port)
			proto = c->svc->ports[i].protocol;
	/* Istio's clusters: HTTP/2 for http2 and grpc ports, and where the policy upgrades. */
	if (proto == L7_PROTO_HTTP2 || proto == L7_PROTO_GRPC)
		return true;
	if (pol && pol->pool.h2_upgrade_policy == CONFIG_H2_UPGRADE_UPGRADE)
		return true;
	/* A sniffed port (or useClientProtocol) goes upstream as the client came. */
	return r->conn->h2s &&
	       (proto == L7_PROTO_UNKNOWN || (pol && pol->pool.use_client_protocol));
}

/* ---- the stream's events ---- */

static void a_headers(void *arg, struct h2_stream *s, const struct h2_header *h, size_t n,
		      bool end_stream)
{
	struct wp_h2a *a = arg;
	struct wp_req *r = a->r;
	const char *st = h2_header_get(h, n, ":status"), *cl;
	struct h1_head head = {.major = 1, .minor = 1, .keep_alive = true};

	if (a->got_head) {
		/* Trailers: passed on at the end; grpc-status is what the call's outcome is. */
		if (wp_h2_fields(h, n, &a->trailers))
			http_fields_free(&a->trailers);
		return;
	}
	if (!st)
		return;
	head.status = (uint16_t)atoi(st);
	if (head.status < 200) {
		/* Interim (103 Early Hints...): passed on as the HTTP/1 upstream's are. */
		if (head.status >= 100 && !wp_h2_fields(h, n, &head.fields))
			wp_up_events.on_interim(r, &head);
		h1_head_free(&head);
		return;
	}
	a->got_head = true;
	if (wp_h2_fields(h, n, &head.fields)) {
		http_fields_free(&head.fields);
		wp_up_events.on_error(r, -ENOMEM);
		return;
	}
	cl = http_fields_get(&head.fields, "content-length");
	if (end_stream) {
		head.framing = H1_FRAMING_NONE;
	} else if (cl) {
		head.framing = H1_FRAMING_LENGTH;
		head.content_length = strtoull(cl, NULL, 10);
	} else {
		head.framing = H1_FRAMING_EOF;
	}
	/* May end the attempt (a retry, a local reply): @a is gone then. */
	wp_up_events.on_response(r, &head);
	h1_head_free(&head);
}

static void a_data(void *arg, struct h2_stream *s, const uint8_t *data, size_t len)
{
	struct wp_h2a *a = arg;

	wp_up_events.on_body(a->r, (const char *)data, len);
	if (a->paused)
		a->unconsumed += len;
	else
		h2_stream_consume(s, len);
}

static void a_end(void *arg, struct h2_stream *s)
{
	struct wp_h2a *a = arg;
	struct wp_req *r = a->r;
	const char *gs = http_fields_get(&a->trailers, "grpc-status");

	if (!a->got_head) {
		wp_up_events.on_error(r, -EPROTO);
		return;
	}
	if (gs)
		r->grpc_status = atoi(gs);
	if (a->trailers.n)
		wp_down_trailers(r->conn, &a->trailers);
	wp_up_events.on_end(r);
}

static void a_close(void *arg, struct h2_stream *s, uint32_t error, const char *reason)
{
	struct wp_h2a *a = arg;
	struct wp_req *r = a->r;

	pr_debug("waypoint: upstream HTTP/2 stream closed: %s", reason);
	a->closed = true;
	a->close_error = error;
	if (!h2_link_connected(a->u->k) && !a->got_head) {
		wp_up_connect_failed(r, -ECONNREFUSED);
		return;
	}
	/* A response the HTTP/2 layer refused (over the header limits...) is Envoy's UPE. */
	wp_up_events.on_error(r, error == H2_NO_ERROR	      ? -EPIPE
				 : error == H2_PROTOCOL_ERROR ? -EPROTO
							      : -ECONNRESET);
}

/* The request body from the request's buffer: what this attempt has not had yet. */
static ssize_t a_provide(void *arg, struct h2_stream *s, uint8_t *buf, size_t len, bool *eof)
{
	struct wp_h2a *a = arg;
	struct wp_req *r = a->r;
	size_t left = r->body.len - r->body_sent, n = left < len ? left : len;

	if (n) {
		memcpy(buf, buf_head(&r->body) + r->body_sent, n);
		r->body_sent += n;
		if (!r->body_kept) {
			buf_consume(&r->body, r->body_sent);
			r->body_sent = 0;
		}
	}
	if (r->body.len == r->body_sent && r->req_end)
		*eof = true;
	else if (!n)
		a->deferred = true;
	wp_up_sent(r);
	return (ssize_t)n;
}

static const struct h2_stream_ops attempt_ops = {
    .on_headers = a_headers,
    .on_data = a_data,
    .on_end = a_end,
    .on_close = a_close,
    .provide = a_provide,
};

/* ---- connections ---- */

static void u_close(void *arg, struct h2_conn *c, const char *reason)
{
	struct wp_h2up *u = arg;
	struct wp_engine *e = u->e;

	pr_debug("waypoint: upstream HTTP/2 connection closed: %s", reason);
	if (u->prev)
		u->prev->next = u->next;
	else
		e->h2ups = u->next;
	if (u->next)
		u->next->prev = u->prev;
	h1_budget_give(&u->cl->budget.connections);
	wp_gen_put(u->gen);
	free(u->identity);
	free(u);
}

static const struct h2_conn_ops up_ops = {.on_close = u_close};

static bool fits(const struct wp_h2up *u, const struct wp_cluster *cl,
		 const union sockaddr_inet *addr, const char *identity)
{
	struct h2_conn *c = h2_link_conn(u->k);

	/* A TLS-originated connection is its cluster's own (its certificate checks, its SNI). */
	if ((u->cl->originate || cl->originate) && u->cl != cl)
		return false;
	return c && h2_conn_usable(c) && sockaddr_inet_equal(&u->addr, addr) &&
	       !strcmp(u->identity ? u->identity : "", identity ? identity : "") &&
	       u->active < h2_conn_peer_max_streams(c) &&
	       (!u->max_streams || u->active < u->max_streams) &&
	       (!u->max_per_conn || u->served < u->max_per_conn);
}

/* An ignored transport's events until the link sets its own (none come before). */
static const struct transport_cbs no_cbs;

/*
 * A new connection for @cl (of @gen) to @addr through @cn (a worker's view of @cl: TLS
 * origination; NULL: the engine's own connector); NULL with errno EBUSY past
 * tcp.maxConnections.
 */
static struct wp_h2up *conn_open(struct wp_engine *e, struct wp_gen *gen, struct wp_cluster *cl,
				 const union sockaddr_inet *addr, const char *identity,
				 struct connector *cn)
{
	struct wp_h2up *u = calloc(1, sizeof(*u));
	struct h1_pool_limits lim;
	struct transport *t;

	if (!u || (identity && !(u->identity = strdup(identity)))) {
		free(u);
		return NULL;
	}
	/*
	 * TLS origination needs the cluster's connector (a request's view has it; the waypoint's
	 * own calls do not): never HTTP/2 in the clear instead.
	 */
	if (cl->originate && !identity && !cn) {
		free(u);
		errno = EPROTONOSUPPORT;
		return NULL;
	}
	wp_cluster_limits(cl, &lim);
	if (!h1_budget_take(&cl->budget.connections, lim.max_connections)) {
		free(u->identity);
		free(u);
		errno = EBUSY;
		return NULL;
	}
	u->e = e;
	u->addr = *addr;
	u->max_per_conn = lim.max_requests_per_conn;
	u->max_streams = cl->policy ? cl->policy->pool.max_concurrent_streams : 0;
	u->idle_ms = lim.idle_timeout_ms ? lim.idle_timeout_ms : H2UP_IDLE_MS;
	u->gen = wp_gen_get(gen);
	u->cl = cl;
	t = connector_open(cn ? cn : e->o.cn, addr, identity, lim.connect_timeout_ms, &no_cbs,
			   NULL);
	u->k = t ? h2_link_new(e->loop, t, false, NULL, &up_ops, u) : NULL;
	if (!u->k) {
		h1_budget_give(&cl->budget.connections);
		wp_gen_put(u->gen);
		free(u->identity);
		free(u);
		errno = ENOMEM;
		return NULL;
	}
	u->next = e->h2ups;
	if (e->h2ups)
		e->h2ups->prev = u;
	e->h2ups = u;
	return u;
}

/*
 * A connection to @addr of @cl able to take one more stream: pooled, else a new one (through
 * @cn, as conn_open).
 */
static struct wp_h2up *conn_get(struct wp_engine *e, struct wp_gen *gen, struct wp_cluster *cl,
				const union sockaddr_inet *addr, const char *identity,
				struct connector *cn)
{
	struct wp_h2up *u;

	for (u = e->h2ups; u && !fits(u, cl, addr, identity); u = u->next)
		;
	return u ? u : conn_open(e, gen, cl, addr, identity, cn);
}

int wp_h2up_attempt(struct wp_req *r, int host, const union sockaddr_inet *addr)
{
	struct wp_engine *e = r->conn->e;
	const char *identity = r->up->c->ep[host]->identity;
	struct wp_h2a *a;
	struct wp_h2up *u;
	struct h2_header *h;
	size_t n;
	bool has_body =
	    r->framing != H1_FRAMING_NONE && !(r->framing == H1_FRAMING_LENGTH && r->length == 0);
	if (!(a = calloc(1, sizeof(*a))))
		return -ENOMEM;
	u = conn_get(e, r->view->gen, r->up->c, addr, identity, r->up->cn);
	if (!u || wp_h2_headers(&r->head.fields, 4, &h, &n)) {
		int err = u ? -ENOMEM : errno == EBUSY ? -EBUSY : -ECONNREFUSED;

		free(a);
		return err;
	}
	h[0] = H2_HDR(":method", r->head.method);
	h[1] = H2_HDR(":scheme", "http");
	h[2] = H2_HDR(":authority", r->authority ? r->authority : "");
	h[3] = H2_HDR(":path", r->head.target);
	a->r = r;
	a->u = u;
	r->body_sent = 0;
	a->s = h2_submit_request(h2_link_conn(u->k), h, n, has_body, &attempt_ops, a);
	free(h);
	if (!a->s) {
		free(a);
		return -ECONNREFUSED;
	}
	r->h2a = a;
	a->reused = u->served > 0;
	u->active++;
	u->served++;
	return 0;
}

bool wp_h2up_stale(const struct wp_req *r, bool *unprocessed)
{
	const struct wp_h2a *a = r->h2a;

	*unprocessed = false;
	if (!a || !a->closed || a->got_head)
		return false;
	/*
	 * RFC 9113 §8.7: a stream the server refused (RST_STREAM REFUSED_STREAM, or above the
	 * last stream id of its GOAWAY, which nghttp2 closes so) was not processed, whatever its
	 * method.
	 */
	if (a->close_error == H2_REFUSED_STREAM) {
		*unprocessed = true;
		return true;
	}
	/* The connection went under it (closed streams are H2_CANCEL) after serving others. */
	return a->reused && a->close_error == H2_CANCEL;
}

/* A stream of @u ended: the connection idles from now when it was the last. */
static void conn_put(struct wp_h2up *u)
{
	struct h2_conn *c = h2_link_conn(u->k);

	if (--u->active)
		return;
	u->idle_since_ms = loop_now_ms(u->e->loop);
	/* Served its maxRequestsPerConnection: it goes now that nothing is left on it. */
	if (c && u->max_per_conn && u->served >= u->max_per_conn)
		h2_conn_goaway(c, H2_NO_ERROR);
}

void wp_h2up_end(struct wp_req *r)
{
	struct wp_h2a *a = r->h2a;
	struct wp_h2up *u = a->u;

	r->h2a = NULL;
	h2_stream_release(a->s);
	http_fields_free(&a->trailers);
	free(a);
	conn_put(u);
}

/* ---- the waypoint's own calls ---- */

struct wp_h2up *wp_h2up_call(struct wp_engine *e, struct wp_gen *gen, struct wp_cluster *c,
			     int host, const struct h2_header *h, size_t n,
			     const struct h2_stream_ops *ops, void *arg, struct h2_stream **s)
{
	struct wp_h2up *u = wp_cluster_per_request(c)
				? NULL
				: conn_get(e, gen, c, &c->addr[host], c->ep[host]->identity, NULL);

	if (!u)
		return NULL;
	*s = h2_submit_request(h2_link_conn(u->k), h, n, true, ops, arg);
	if (!*s) {
		errno = ECONNREFUSED;
		return NULL;
	}
	u->active++;
	u->served++;
	return u;
}

void wp_h2up_call_end(struct wp_h2up *u, struct h2_stream *s)
{
	h2_stream_release(s);
	conn_put(u);
}

/* ---- mirrors ---- */

struct wp_h2m {
	struct wp_h2up *u;
	struct h2_stream *s;
	struct buf *body;    /* the mirror's: taken from as it grows */
	const bool *req_end; /* the mirror's: the copied request ended */
	void (*done)(void *arg);
	void *arg;
	bool deferred;
};

/* The stream is gone (answered, reset, the connection lost): the mirror goes too. */
static void m_close(void *arg, struct h2_stream *s, uint32_t error, const char *reason)
{
	struct wp_h2m *x = arg;

	pr_debug("waypoint: HTTP/2 mirror stream closed: %s", reason);
	x->done(x->arg); /* calls wp_h2up_mirror_end: @x is gone */
}

static ssize_t m_provide(void *arg, struct h2_stream *s, uint8_t *buf, size_t len, bool *eof)
{
	struct wp_h2m *x = arg;
	size_t n = x->body->len < len ? x->body->len : len;

	if (n) {
		memcpy(buf, buf_head(x->body), n);
		buf_consume(x->body, n);
	}
	if (!x->body->len && *x->req_end)
		*eof = true;
	else if (!n)
		x->deferred = true;
	return (ssize_t)n;
}

/* The response is read and dropped (no on_headers / on_data: DATA is consumed as it comes). */
static const struct h2_stream_ops mirror_ops = {
    .on_close = m_close,
    .provide = m_provide,
};

struct wp_h2m *wp_h2up_mirror(struct wp_engine *e, struct wp_gen *gen, struct wp_cluster *c,
			      int host, const struct h1_head *head, const char *authority,
			      bool has_body, struct buf *body, const bool *req_end,
			      void (*done)(void *arg), void *arg)
{
	struct wp_h2m *x = calloc(1, sizeof(*x));
	struct h2_header *h = NULL;
	size_t n;

	if (!x)
		return NULL;
	x->body = body;
	x->req_end = req_end;
	x->done = done;
	x->arg = arg;
	x->u = wp_cluster_per_request(c)
		   ? NULL
		   : conn_get(e, gen, c, &c->addr[host], c->ep[host]->identity, NULL);
	if (!x->u || wp_h2_headers(&head->fields, 4, &h, &n)) {
		free(x);
		return NULL;
	}
	h[0] = H2_HDR(":method", head->method);
	h[1] = H2_HDR(":scheme", "http");
	h[2] = H2_HDR(":authority", authority);
	h[3] = H2_HDR(":path", head->target);
	x->s = h2_submit_request(h2_link_conn(x->u->k), h, n, has_body, &mirror_ops, x);
	free(h);
	if (!x->s) {
		free(x);
		return NULL;
	}
	x->u->active++;
	x->u->served++;
	return x;
}

void wp_h2up_mirror_more(struct wp_h2m *x)
{
	if (x->deferred) {
		x->deferred = false;
		h2_stream_resume(x->s);
	}
}

void wp_h2up_mirror_end(struct wp_h2m *x)
{
	struct wp_h2up *u = x->u;

	h2_stream_release(x->s);
	free(x);
	conn_put(u);
}

void wp_h2up_body(struct wp_req *r)
{
	struct wp_h2a *a = r->h2a;

	if (a->deferred) {
		a->deferred = false;
		h2_stream_resume(a->s);
	}
}

void wp_h2up_pause(struct wp_req *r)
{
	r->h2a->paused = true;
}

void wp_h2up_resume(struct wp_req *r)
{
	struct wp_h2a *a = r->h2a;

	a->paused = false;
	if (a->unconsumed) {
		h2_stream_consume(a->s, a->unconsumed);
		a->unconsumed = 0;
	}
}

void wp_h2up_sweep(struct wp_engine *e)
{
	uint64_t now = loop_now_ms(e->loop);

	for (struct wp_h2up *u = e->h2ups, *n; u; u = n) {
		struct h2_conn *c = h2_link_conn(u->k);

		n = u->next;
		if (!c)
			continue;
		if (!u->active && now - u->idle_since_ms >= u->idle_ms)
			h2_link_close(u->k, "idle");
		else
			h2_conn_sweep(c);
	}
}

void wp_h2up_close_all(struct wp_engine *e)
{
	for (struct wp_h2up *u = e->h2ups, *n; u; u = n) {
		n = u->next;
		h2_link_close(u->k, "waypoint stopping");
	}
}
