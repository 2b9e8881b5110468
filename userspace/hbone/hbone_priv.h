/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the HBONE module (hbone.c: streams and their far ends; hbone_server.c: the server
 * side's decisions; hbone_pool.c: the connections a worker holds). Not for other files: they
 * use hbone.h. The HTTP/2 work is h2.h's; nothing here sees nghttp2.
 */
#ifndef AMBIT_NET_HBONE_PRIV_H
#define AMBIT_NET_HBONE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <netinet/in.h>
#include <sys/queue.h>

#include "lib/buf.h"
#include "net/connrec.h"
#include "http/h2.h"
#include "hbone.h"
#include "net/loop.h"
#include "tls/tls.h"

#ifndef container_of
#define container_of(p, T, m) ((T *)((char *)(p)-offsetof(T, m)))
#endif

struct hbone_stream {
	struct loop_handler h;	/* the far end's socket events */
	struct loop_task wake;	/* an in-process end's writable, run after the batch */
	struct loop_task flush; /* a socket end's writes of one batch of frames, as one send */
	struct loop_send send;	/* that send, made with the loop's next wait */
	struct hbone_conn *conn;
	struct h2_stream *h2s;		 /* NULL once released */
	LIST_ENTRY(hbone_stream) link;	 /* in its connection, until it finishes */
	int fd;				 /* the far end's socket, or -1 */
	const struct hbone_end_ops *end; /* or an in-process far end */
	void *end_arg;
	bool connecting;  /* server: upstream connect() in progress */
	bool established; /* 200 sent (server) / received (client) */
	bool far_eof;	  /* the far end sent everything (TCP EOF / hbone_stream_shutdown) */
	bool far_shut;	  /* the far end was told EOF (shutdown(SHUT_WR) / end->eof) */
	bool end_full;	  /* an in-process end found the buffer full (owes it writable) */
	bool h2_eof_rcvd, h2_closed, finished;
	bool udp;   /* server: a CONNECT-UDP, whose 200 says `capsule-protocol` */
	int status; /* client: :status of the response */
	uint32_t events;
	struct buf to_h2, to_far;
	struct connrec *rec;
	char *authority;
	char *baggage; /* server: what the 200 will carry (hbone_upstream.baggage), or NULL */
	/* Client: who owns the opening phase until the 200 (hbone_target.ops), and its start. */
	const struct hbone_open_ops *ops;
	void *ops_arg;
	time_t opened;		/* client: CONNECT sent; server: upstream connect started */
	time_t last_io;		/* a byte moved either way (stream idle deadline) */
	struct guard_slot slot; /* client: the 15001 connection's share of its listener */
	struct guard_stream gs; /* server: the peer identity's share */
};

struct hbone_conn {
	struct h2_conn *h2;
	struct loop *loop;
	struct hbone_pool *pool;
	LIST_ENTRY(hbone_conn) link; /* in its pool, until it closes */
	char *key;		     /* client: the pool key */
	bool client, dead;
	LIST_HEAD(hbone_streams, hbone_stream) streams;
	hbone_accept_fn on_accept;
	void *user;
	union sockaddr_inet local, peer;
	struct hbone_via *via; /* client: the outer stream carrying it (double HBONE), or NULL */
};

struct hbone_pool {
	struct loop *loop;
	struct loop_tick tick;
	struct hbone_limits lim;
	LIST_HEAD(hbone_conns, hbone_conn) conns;
	size_t n;
	bool closing;  /* being destroyed: failures are final */
	bool draining; /* hbone_pool_drain: every connection ends when its streams do */
};

/* close() that the peer sees as a reset (linger 0). */
void hbone_close_reset(int fd);

/* hbone.c: streams. */
/* A stream of @c whose far end is socket @fd (or -1); NULL when out of memory. */
struct hbone_stream *hbone_stream_new(struct hbone_conn *c, int fd);
/* Frees a stream that never got an HTTP/2 stream (nothing else holds it). */
void hbone_stream_discard(struct hbone_stream *s);
/* Ends @s: @reset resets its HTTP/2 stream and far end; freed after the batch. */
void hbone_stream_finish(struct hbone_stream *s, const char *reason, bool reset);
/* The far end failed or must be dropped: resets both sides. */
void hbone_stream_fail(struct hbone_stream *s, const char *reason);
/* Writes what the stream holds for its far end (and the half-close once all is out). */
void hbone_stream_write_far(struct hbone_stream *s);
/* Polls the far end's socket for what the stream can take. */
void hbone_stream_update_events(struct hbone_stream *s);
/* The 200 is out (server) or in (client): bytes move both ways from now. */
void hbone_stream_established(struct hbone_stream *s);
/* The HTTP/2 side of every stream (h2_stream_ops). */
extern const struct h2_stream_ops hbone_stream_ops;

/* hbone_server.c: the server side. */
/* h2_conn_ops of a server connection. */
extern const struct h2_conn_ops hbone_server_conn_ops;
/* @s's upstream connect finished (or failed): answers the CONNECT. */
void hbone_server_connected(struct hbone_stream *s, uint32_t events);
/* Tick: the deadlines of @c's streams (either side). */
void hbone_conn_sweep(struct hbone_conn *c, time_t now);
/*
 * A server connection over @t (its socket taken on success) in @p. NULL + errno: the socket is
 * still the caller's. (hbone_server_start; the fuzz targets' in-memory seam.)
 */
struct hbone_conn *hbone_server_attach(struct hbone_pool *p, const struct h2_transport *t,
				       hbone_accept_fn on_accept, void *user,
				       struct guard_slot *slot);

/* hbone_pool.c */
/* Lists @c in @p (shutdown closes it, the tick sweeps it). */
void hbone_pool_link(struct hbone_pool *p, struct hbone_conn *c);
/* h2_conn_ops.on_close of every HBONE connection: leaves the pool, freed after the batch. */
void hbone_conn_closed(void *arg, struct h2_conn *h2, const char *reason);
/* The pool key of @t (into @key). */
void hbone_pool_key(const struct hbone_target *t, char *key, size_t len);
/*
 * A client connection to @t over @tr (socket taken on success), listed in @p under @t's key.
 * NULL + errno. (pool_connect; the fuzz targets' in-memory seam.)
 */
struct hbone_conn *hbone_client_attach(struct hbone_pool *p, const struct hbone_target *t,
				       const struct h2_transport *tr);

/*
 * hbone_udp.c: whether the extended CONNECT @h (@n fields, its :protocol present) to
 * @authority is a CONNECT-UDP HBONE carries: 0, or the status to refuse it with (501: another
 * protocol; 400: no https, a path not of the template or naming another target).
 */
int hbone_udp_request(const struct h2_header *h, size_t n, const char *authority);

#endif
