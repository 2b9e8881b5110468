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
	int status; /* client: :status of the response */
	uint32_t events;
	struct buf to_h2, to_tcp;
	struct connrec *rec;
	char *authority, *forwarded;
	/* Client: who owns the opening phase until the 200 (hbone_target.ops), and its start. */
	const struct hbone_open_ops *ops;
	void *ops_arg;
	time_t opened;
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
	uint32_t events;
	struct tls_conn *tls;
	struct tls_ctx *ctx;
	const char *peer_identity; /* verified SPIFFE ID (borrowed from tls), once handshaken */
	nghttp2_session *h2;
	struct buf out;
	struct hbone_stream *streams;
	size_t nstreams;
	time_t idle_since; /* monotonic seconds when nstreams dropped to 0 */
	hbone_accept_fn on_accept;
	void *user;
	struct sockaddr_in local, peer;
};

struct hbone_pool {
	struct loop *loop;
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
/* Lists @c in @p (hbone_pool.c): shutdown closes it; a client connection becomes reusable. */
void hb_pool_link(struct hbone_pool *p, struct hbone_conn *c);
/* Frees a connection that never reached the loop (loop_defer_free callback otherwise). */
void hb_conn_free(void *p);
void hb_conn_timer_arm(struct hbone_conn *c, unsigned int ms);

#endif
