/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the HBONE module (hbone.c: streams, nghttp2 session, connection I/O; hbone_pool.c: the
 * connections a worker holds). Not for other ztunnel files: they use hbone.h.
 */
#ifndef AMBIT_ZTUNNEL_HBONE_PRIV_H
#define AMBIT_ZTUNNEL_HBONE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>

#include "buf.h"
#include "connrec.h"
#include "hbone.h"
#include "loop.h"
#include "tls.h"

#define container_of(p, T, m) ((T *)((char *)(p)-offsetof(T, m)))

struct hbone_stream {
	struct loop_handler h; /* TCP socket events */
	struct hbone_conn *conn;
	struct hbone_stream *next, *prev;
	int32_t id;
	int fd;
	bool connecting;  /* server: upstream connect() in progress */
	bool established; /* 200 sent (server) / received (client) */
	bool tcp_eof, tcp_shut, h2_eof_rcvd, h2_closed, deferred, finished, method_connect;
	bool dispatch_pending; /* server: request complete, decided after this read (hbone_server.c)
				*/
	bool answered;	       /* server: a response or a reset was submitted */
	int status;	       /* client: :status of the response */
	uint32_t events;
	struct buf to_h2, to_tcp;
	struct connrec *rec;
	char *authority, *forwarded;
	/* Client: who owns the opening phase until the 200 (hbone_target.ops), and its start. */
	const struct hbone_open_ops *ops;
	void *ops_arg;
	time_t opened;		/* client: CONNECT sent; server: upstream connect started */
	time_t last_io;		/* a byte moved either way (stream idle deadline) */
	struct guard_slot slot; /* client: the 15001 connection's share of its listener */
	struct guard_stream gs; /* server: the peer identity's share */
};

struct hbone_conn {
	struct loop_handler h;
	struct loop_handler th; /* client: connect/handshake timer */
	struct loop_task flush;
	struct loop *loop;
	struct hbone_pool *pool;
	struct hbone_conn *pnext, *pprev;
	char *key;
	int fd;
	int tfd; /* timerfd while a client connection is opening, else -1 */
	bool client, tcp_connecting, handshaken, dead, goaway, fatal;
	bool calm;	  /* server: GOAWAY ENHANCE_YOUR_CALM queued, nothing more is read */
	bool ever_stream; /* server: a CONNECT came (first-request deadline met) */
	uint32_t events;
	struct tls_conn *tls;
	struct tls_ctx *ctx;
	const char *peer_identity; /* verified SPIFFE ID (borrowed from tls), once handshaken */
	nghttp2_session *h2;
	struct buf out;
	struct hbone_stream *streams;
	size_t nstreams;
	time_t idle_since; /* monotonic seconds when nstreams dropped to 0 */
	time_t since;	   /* server: accepted, then handshake done (its deadlines count from it) */
	unsigned int early_resets; /* server: streams reset before their answer, this window */
	time_t resets_window;	   /* server: when that window started */
	struct guard_slot slot;	   /* server: the connection's share of 15008 */
	hbone_accept_fn on_accept;
	void *user;
	struct sockaddr_in local, peer;
};

struct hbone_pool {
	struct loop *loop;
	struct loop_tick tick;
	struct hbone_limits lim;
	struct hbone_conn *conns;
	size_t n;
	bool closing; /* being destroyed: failures are final */
};

static inline time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* The limits of @c's pool, or the defaults for a connection outside one (fuzzing). */
const struct hbone_limits *hb_limits(const struct hbone_conn *c);

/* Queues a flush of @c's pending frames at the end of this loop round. */
static inline void conn_kick(struct hbone_conn *c)
{
	if (!c->dead && c->loop)
		loop_queue(c->loop, &c->flush);
}

/* close() that the peer sees as a reset (linger 0). */
void hb_close_reset(int fd);
/* Ends @s: @reset resets its HTTP/2 stream and TCP side; freed once both are done. */
void hb_stream_finish(struct hbone_stream *s, const char *reason, bool reset);
/* The TCP side failed or must be dropped: resets both sides. */
void hb_stream_abort(struct hbone_stream *s, const char *reason);
/* Writes what the stream holds for its TCP side (and the half-close once all is out). */
void hb_stream_write_tcp(struct hbone_stream *s);
/* A stream of @c for TCP socket @fd (not yet in the loop); NULL when out of memory. */
struct hbone_stream *hb_stream_new(struct hbone_conn *c, int fd);
/* nghttp2 data source of a stream: the bytes read from its TCP side. */
ssize_t hb_stream_provide(nghttp2_session *session, int32_t id, uint8_t *out, size_t length,
			  uint32_t *flags, nghttp2_data_source *source, void *user);
/* A connection over connected (or connecting) @fd; NULL + errno, @fd stays the caller's. */
struct hbone_conn *hb_conn_new(struct loop *l, int fd, struct tls_ctx *ctx, bool client,
			       const char *expect_san);
/* Closes @c and finishes its streams; freed at the end of the loop round. */
void hb_conn_close(struct hbone_conn *c, const char *reason);
/* Frees a connection that never reached the loop (loop_defer_free callback otherwise). */
void hb_conn_free(void *p);
void hb_conn_timer_arm(struct hbone_conn *c, unsigned int ms);
/* hbone_pool.c: lists @c in @p (shutdown closes it, the tick sweeps it). */
void hb_pool_link(struct hbone_pool *p, struct hbone_conn *c);
/* Creates @c's nghttp2 session (a server's once its handshake is done). 0 or -ENOMEM. */
int hb_session_init(struct hbone_conn *c);
/* Sends GOAWAY with @error (no new streams) and closes once it is written. */
void hb_conn_goaway(struct hbone_conn *c, uint32_t error);

/* hbone_server.c: the server side. */
/* A request is complete: decided after the current read, so a reset right behind it wins. */
void hb_server_request(struct hbone_conn *c, struct hbone_stream *s);
/* Decides the requests of the read that just ended (the streams still open). */
void hb_server_dispatch(struct hbone_conn *c);
/* @s's upstream connect finished (or failed): answers the CONNECT. */
void hb_server_connected(struct hbone_stream *s, uint32_t events);
/* The peer reset @s (RST_STREAM received): counts early resets; false if @c was closed. */
bool hb_server_peer_reset(struct hbone_conn *c, struct hbone_stream *s);
/* The handshake of @c (server) ended well: its session, and its next deadline. 0 or -errno. */
int hb_server_handshaken(struct hbone_conn *c);
/* Tick: the deadlines of @c's streams (either side) and of @c itself (a server). */
void hb_conn_sweep(struct hbone_conn *c, time_t now);

#endif
