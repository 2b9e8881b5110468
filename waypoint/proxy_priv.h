/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the request engine: proxy.c (downstream, decisions, local replies, the record),
 * proxy_up.c (attempts, retries, timeouts, the response) and proxy_mirror.c (shadows).
 */
#ifndef AMBIT_WAYPOINT_PROXY_PRIV_H
#define AMBIT_WAYPOINT_PROXY_PRIV_H

#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "http1_conn.h"
#include "proxy.h"
#include "reply.h"
#include "retry.h"

/* Request body kept for a retry; a longer body makes the request not retriable (Envoy). */
#define WP_RETRY_BUF (64u << 10)
#define WP_MAX_TRIED 8

/* A worker's view of one generation: its clusters' load balancers and pools. */
struct wp_view {
	struct wp_gen *gen;
	struct wp_upstream *ups; /* per cluster, set up on first use */
	size_t users;		 /* requests and mirrors still on it */
	struct wp_view *next;	 /* retired views of the engine */
};

struct wp_engine {
	struct loop *loop;
	struct wp_engine_opts o;
	struct wp_view *view;	 /* the current generation's */
	struct wp_view *retired; /* older ones, freed when unused */
	struct wp_conn *conns;
	struct wp_mirror *mirrors; /* in flight, with or without their request */
	size_t n_conns, n_mirrors;
	bool draining;
};

struct wp_conn {
	struct wp_engine *e;
	struct h1_server *s;
	struct wp_req *req; /* the exchange in progress */
	struct wp_conn *next, *prev;
	struct transport_peer peer; /* copied at accept: outlives the transport */
};

struct wp_mirror;

struct wp_req {
	struct wp_conn *conn;
	struct wp_view *view;
	struct h1_head head; /* as received, then as forwarded */
	char *orig_path, *authority, *user_agent, *xff, *request_id;
	int svc;
	const struct l7_route *route;
	const struct l7_destination *dest;
	struct wp_upstream *up;
	struct timespec start_wall;
	uint64_t start_ms;
	struct loop_timer timer;     /* route timeout */
	struct loop_timer try_timer; /* per-try timeout */
	struct loop_timer wait;	     /* fault delay, retry backoff */
	void (*wait_fn)(struct wp_req *r);
	struct buf body;  /* body not yet sent, and kept for retries while it fits */
	size_t body_sent; /* of body, written to the current attempt */
	bool body_kept;	  /* body holds the whole body so far */
	bool req_end, counted, paused_down, paused_up, grpc;
	enum h1_framing framing;
	uint64_t length, bytes_in, bytes_out;
	/* The attempt. */
	struct h1_pool_wait w;
	struct h1_client *c;
	int host;
	bool waiting, head_sent, got_response, retry_counted, down_eof, up_eof;
	unsigned int tries;
	int tried[WP_MAX_TRIED];
	size_t n_tried;
	struct wp_backoff backoff;
	int64_t upstream_ms;
	uint64_t try_start_ms;
	/* The answer. */
	int status, grpc_status;
	uint32_t flag_bits; /* Envoy's response flags (proxy.c) */
	const char *details;
	bool resp_started;
	char *cors_origin; /* an allowed Origin to echo on the response, or NULL */
	char *set_cookie;  /* a hash cookie the response sets (httpCookie with a ttl), or NULL */
	struct wp_mirror *mirrors;
};

/* proxy.c */
void wp_req_finish(struct wp_req *r);
/* Answers @r locally with reply @what (status override @status, body override @body). */
void wp_req_reply(struct wp_req *r, enum wp_reply what, int status, const char *body, size_t blen);
/* Answers @r with @status, @body and @extra fields (name, value pairs). */
void wp_req_answer(struct wp_req *r, int status, const char *body, size_t blen,
		   const char *const *extra, size_t n_extra);
void wp_req_flag(struct wp_req *r, const char *flag);
struct wp_upstream *wp_view_upstream(struct wp_engine *e, struct wp_view *v, struct wp_cluster *c);

/* proxy_up.c */
/* Starts forwarding @r to its destination (after faults). */
void wp_up_start(struct wp_req *r);
/* Request body bytes / end from downstream while routing upstream. */
void wp_up_body(struct wp_req *r, const char *data, size_t len);
void wp_up_body_end(struct wp_req *r);
/* The downstream's queue drained: the upstream may read again. */
void wp_up_drain(struct wp_req *r);
/* Ends the attempt (downstream gone, timeout, local reply): the connection is reset. */
void wp_up_cancel(struct wp_req *r);

/* proxy_mirror.c */
/* Shadows of @r per its route's mirrors (their copies of the head are taken now). */
void wp_mirror_start(struct wp_req *r);
void wp_mirror_body(struct wp_req *r, const char *data, size_t len);
void wp_mirror_end(struct wp_req *r);
void wp_mirror_detach(struct wp_req *r);
/* Drops every mirror of @e still in flight (the engine goes). */
void wp_mirror_abort_all(struct wp_engine *e);

#endif
