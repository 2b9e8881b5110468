/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 connections of a proxy over the byte-stream interface (transport.h): the server
 * side (a downstream connection carrying keep-alive and pipelined requests, answered one at a
 * time and in order, as Envoy's HTTP/1 codec does), the client side (one upstream connection
 * carrying one request at a time), and per-endpoint pools of client connections with Envoy's
 * circuit breakers. What is generic to an HTTP/1 proxy lives here (the waypoint and an ingress
 * gateway share it); what to do with a request is the caller's.
 *
 * Framing is this layer's: the caller hands heads without Content-Length / Transfer-Encoding
 * and says how the body ends (enum h1_framing); the layer writes Content-Length when the length
 * is known, else chunked to an HTTP/1.1 peer, else (an HTTP/1.0 client) a body ending with the
 * connection. Hop-by-hop fields (RFC 9110 §7.6.1) are the caller's to drop (h1_strip_hop).
 *
 * Backpressure: body and tunnel bytes are handed to the caller whole (at most
 * TRANSPORT_READ_MAX per call); the caller watches the other side's queue and pauses the
 * source (h1_server_pause, h1_client_pause) while it is above TRANSPORT_HIGH_WATER, resuming on
 * the other side's on_drain.
 */
#ifndef AMBIT_NET_HTTP1_CONN_H
#define AMBIT_NET_HTTP1_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "http1.h"
#include "net/transport.h"

/*
 * Drops the hop-by-hop fields of @f: Connection and every field it names, Keep-Alive,
 * Proxy-Connection, TE (a request's "trailers" is end-to-end and kept), Transfer-Encoding and
 * Content-Length (re-framed by this layer), and Upgrade unless @upgrading.
 */
void h1_strip_hop(struct http_fields *f, bool request, bool upgrading);

/* ---- server: a downstream connection ---- */

struct h1_server;

struct h1_server_ops {
	/*
	 * A request head; the callee may take @head's contents (copy, then zero it). Exactly one
	 * of h1_server_respond's answers must follow, then h1_server_end.
	 */
	void (*on_request)(void *arg, struct h1_head *head);
	/* Request body, or tunnel bytes after h1_server_upgrade (borrowed; all taken). */
	void (*on_body)(void *arg, const char *data, size_t len);
	/* The request's body is complete (a tunnel: the client half-closed). */
	void (*on_body_end)(void *arg);
	/* The response queue emptied after passing the high water mark. */
	void (*on_drain)(void *arg);
	/*
	 * The connection failed or the client left while a request was open (@err: -ECONNRESET,
	 * -EPIPE for an EOF inside a request, -EPROTO for a malformed body: the client is then
	 * answered 400 by this layer if no response began). The exchange is over: the callee
	 * answers nothing more. The connection is closing.
	 */
	void (*on_abort)(void *arg, int err);
	/* The connection is gone (idle close, error, drain): the last call. */
	void (*on_close)(void *arg);
	/*
	 * A head the parser refused was answered here with @status (400, 431, 501, 505), or
	 * one that did not come whole in time with 408, and the connection closes: for the
	 * caller's access log (@why borrowed). May be NULL.
	 */
	void (*on_refused)(void *arg, int status, const char *why);
};

/* 0 for a time or a limit: its default. */
struct h1_server_limits {
	unsigned int idle_ms;	    /* no request in progress (Envoy's idle_timeout: 1 h) */
	unsigned int first_byte_ms; /* a new connection that sends nothing (60 s), then closed */
	/*
	 * From a request's first byte to the end of its head (Envoy's request_headers_timeout:
	 * off by default, 60 s in Istio's edge profile; 60 s), then 408 and closed.
	 */
	unsigned int headers_ms;
	struct http_limits headers; /* the heads it reads */
};

/*
 * Serves HTTP/1.x over @t (taken) with @ops/@arg (borrowed), the limits copied (NULL for the
 * defaults). Malformed heads are answered here (400, 431) and close the connection. NULL +
 * errno (then @t is closed).
 */
struct h1_server *h1_server_new(struct loop *l, struct transport *t,
				const struct h1_server_ops *ops, void *arg,
				const struct h1_server_limits *lim);
/* Borrowed: the transport (and through it what the front end knows of the peer). */
struct transport *h1_server_transport(const struct h1_server *s);
/*
 * Answers the current request with @resp (status, reason, fields; borrowed) whose body ends
 * as @framing says (H1_FRAMING_EOF: unknown length). Adds the framing fields and
 * "connection: close" when the connection ends after this exchange. A 1xx is sent as an
 * interim response. 0 or -errno.
 */
int h1_server_respond(struct h1_server *s, const struct h1_head *resp, enum h1_framing framing,
		      uint64_t length);
/* Response body bytes (framed as announced). 0 or -errno. */
int h1_server_body(struct h1_server *s, const char *data, size_t len);
/* The response is complete: the next request is read once the request is complete too. */
int h1_server_end(struct h1_server *s);
/*
 * After a 101 (or a 2xx to CONNECT) was sent: the connection is an opaque pipe both ways;
 * on_body gets the client's bytes (those already read first), h1_server_body writes raw.
 */
void h1_server_upgrade(struct h1_server *s);
/* From inside on_request: the request is not an upgrade after all (h1_parser_no_upgrade). */
void h1_server_no_upgrade(struct h1_server *s);
/*
 * Before the response begins: it says "connection: close" and the connection goes after it (a
 * request refused as malformed: what follows it on the connection is not to be trusted).
 */
void h1_server_close_after(struct h1_server *s);
/* Half-closes toward the client (a tunnel whose upstream finished). */
void h1_server_shutdown(struct h1_server *s);
size_t h1_server_queued(const struct h1_server *s);
void h1_server_pause(struct h1_server *s);
void h1_server_resume(struct h1_server *s);
/* Whether the current request was a HEAD (its response carries no body). */
bool h1_server_head_request(const struct h1_server *s);
/*
 * Draining: busy connections close after their exchange (its response says "Connection:
 * close"), idle ones after a second unless a request comes, which is answered likewise.
 */
void h1_server_drain(struct h1_server *s);
/* Closes now (with an RST when @reset); on_close follows from a loop task. */
void h1_server_close(struct h1_server *s, bool reset);
/*
 * The response under way cannot be completed: closes after what is queued, with a FIN when its
 * framing shows the client the cut (Content-Length or chunked), else (a body delimited by the
 * connection's end) with an RST, so a truncated body is never taken for a whole one.
 */
void h1_server_cut(struct h1_server *s);

/* ---- client: an upstream connection, one request at a time ---- */

struct h1_client;

struct h1_client_ops {
	/* The final response head; take @head's contents. */
	void (*on_response)(void *arg, struct h1_head *head);
	/* An interim 1xx response (not 101) before it (borrowed). May be NULL: dropped. */
	void (*on_interim)(void *arg, const struct h1_head *head);
	/* Response body, or tunnel bytes after a 101 / 2xx to CONNECT (borrowed; all taken). */
	void (*on_body)(void *arg, const char *data, size_t len);
	/* The response is complete (a tunnel: the server half-closed). */
	void (*on_end)(void *arg);
	/* The request queue emptied after passing the high water mark. */
	void (*on_drain)(void *arg);
	/*
	 * The connection failed (-ECONNRESET, -EPIPE: closed before the response ended, -EPROTO:
	 * malformed response). The exchange is over; the connection is dead (give it back).
	 */
	void (*on_error)(void *arg, int err);
};

/*
 * Writes request @req (method, target, fields; borrowed) whose body ends as @framing says
 * (H1_FRAMING_EOF means an unknown length: chunked). 0 or -errno.
 */
int h1_client_request(struct h1_client *c, const struct h1_head *req, enum h1_framing framing,
		      uint64_t length);
int h1_client_body(struct h1_client *c, const char *data, size_t len);
int h1_client_end(struct h1_client *c);
/* Half-closes toward the server (a tunnel whose client finished). */
void h1_client_shutdown(struct h1_client *c);
size_t h1_client_queued(const struct h1_client *c);
void h1_client_pause(struct h1_client *c);
void h1_client_resume(struct h1_client *c);
/* Whether the response arrived and became a tunnel (101, or 2xx to CONNECT). */
bool h1_client_tunnel(const struct h1_client *c);
/*
 * Whether the current request is not the connection's first (it went on a pooled connection
 * that had served one before), and whether any byte of its response (an interim one included)
 * arrived. A reused connection that ends before any byte of the answer is the keep-alive race:
 * the server closed it idle as the request was written (RFC 9112 §9.3.1).
 */
bool h1_client_reused(const struct h1_client *c);
bool h1_client_heard(const struct h1_client *c);

/* ---- pools of client connections per endpoint, with Envoy's circuit breakers ---- */

/*
 * What a cluster's pools hold, in every worker: Envoy's circuit breakers are per cluster, not
 * per worker. Atomics; zero-initialised.
 */
struct h1_budget {
	uint32_t connections, pending, requests, retries;
};

/*
 * One more of a budget's @counter (atomic) unless that passes @max (0: no limit): true when
 * taken. h1_budget_give returns one. For what counts against a cluster beside its pools (the
 * waypoint's HTTP/2 connections).
 */
bool h1_budget_take(uint32_t *counter, uint32_t max);
void h1_budget_give(uint32_t *counter);

/* Istio's connectionPool (API_SEMANTICS.md §2); 0 for a limit means "none" except as noted. */
struct h1_pool_limits {
	uint32_t max_connections;	 /* tcp.maxConnections */
	uint32_t max_pending;		 /* http.http1MaxPendingRequests */
	uint32_t max_requests;		 /* http.http2MaxRequests (concurrent, any protocol) */
	uint32_t max_requests_per_conn;	 /* http.maxRequestsPerConnection (0: unlimited) */
	uint32_t max_retries;		 /* http.maxRetries (concurrent retries) */
	unsigned int connect_timeout_ms; /* tcp.connectTimeout */
	unsigned int idle_timeout_ms;	 /* http.idleTimeout (0: none) */
};

struct h1_pool;

/*
 * Connects in flight to one endpoint at most: a burst of thousands of requests opens this many,
 * and each connection serves the next waiter as soon as it is free (the others wait for them).
 */
#define H1_POOL_OPENING_MAX 64

/* A request waiting for a connection; embedded in the caller's object. */
struct h1_pool_wait {
	/* A connection for the caller (who binds its ops and gives it back with h1_pool_put). */
	void (*on_ready)(struct h1_pool_wait *w, struct h1_client *c);
	/* No connection: -ECONNREFUSED, -ETIMEDOUT... (a connect failure), or -EBUSY (overflow). */
	void (*on_fail)(struct h1_pool_wait *w, int err);
	/* The pool's: */
	struct h1_pool_wait *next, *prev; /* prev: in its host's queue only */
	struct h1_pool_host *host;
	struct h1_client *conn; /* handed over by the pool's task */
	int err;
	bool queued, ready;
	/*
	 * The caller's, before h1_pool_get: no idle connection, a new one (or one given back
	 * after its response while this waits: it was never idle). For a request whose reused
	 * connection was closed under it, so the retry does not meet the same race again.
	 */
	bool fresh;
	/*
	 * The caller's, before h1_pool_get: the request goes again on a new connection if the one
	 * handed over turns out closed under it before a byte of answer (proxy_up.c's stale_retry:
	 * idempotent, body still whole). Then an idle connection is taken on what the loop has read
	 * of it (its peer's end, h1_client_t_eof) without peeking its socket (transport_stale: a
	 * system call per request); a close that arrived since the loop last looked meets the
	 * retry instead of the peek.
	 */
	bool retry_safe;
};

/*
 * A pool on @l opening connections through @cn (borrowed), with @lim copied and @budget
 * (borrowed, shared by the cluster's pools in every worker). NULL + errno.
 */
struct h1_pool *h1_pool_new(struct loop *l, struct connector *cn, const struct h1_pool_limits *lim,
			    struct h1_budget *budget);
/* Closes idle connections now and each busy one when it is given back; frees when none left. */
void h1_pool_destroy(struct h1_pool *p);
/*
 * Counts a request against max_requests: 0, or -EBUSY (overflow, Envoy's UO). Every 0 is
 * matched by one h1_pool_request_done.
 */
int h1_pool_request_begin(struct h1_pool *p);
void h1_pool_request_done(struct h1_pool *p);
/* The same for a retry against max_retries. */
int h1_pool_retry_begin(struct h1_pool *p);
void h1_pool_retry_done(struct h1_pool *p);
/*
 * A connection to @dst (whose peer must be @identity, may be NULL) for @w: an idle one, a new
 * one, or one freed later; @w's on_ready or on_fail follows from the loop (never from this
 * call). -EBUSY at once when neither a connection nor a place in the pending queue is left.
 */
int h1_pool_get(struct h1_pool *p, const union sockaddr_inet *dst, const char *identity,
		struct h1_pool_wait *w);
/*
 * Idle connections h1_pool_get found closed by their peer (transport_stale) and dropped instead
 * of handing them a request, in every pool of the process (atomic; Envoy counts such closes as
 * upstream_cx_destroy_remote).
 */
uint64_t h1_pool_stale_dropped(void);
/* Withdraws a waiting @w (no callback follows). A no-op when it is not waiting. */
void h1_pool_cancel(struct h1_pool_wait *w);
/*
 * Gives @c back: kept for the next request when @reuse and its exchange ended cleanly with
 * keep-alive both ways (and it served fewer than max_requests_per_conn), reading again if the
 * exchange paused it, else closed (with an RST when @reset).
 */
void h1_pool_put(struct h1_client *c, bool reuse, bool reset);
/* Binds @c's events to @ops/@arg (borrowed) for the exchange about to start. */
void h1_client_bind(struct h1_client *c, const struct h1_client_ops *ops, void *arg);
/* The endpoint @c is connected to (borrowed). */
const union sockaddr_inet *h1_client_peer(const struct h1_client *c);
/* Connections of @p (open or opening) and idle ones (tests). */
size_t h1_pool_size(const struct h1_pool *p, size_t *idle);

#endif
