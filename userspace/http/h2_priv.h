/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the HTTP/2 layer (h2_conn.c: transport, session and connection; h2_stream.c: nghttp2
 * callbacks and streams; h2_server.c: a server's protections). The only header that includes
 * nghttp2: everything else uses h2.h.
 */
#ifndef AMBIT_NET_H2_PRIV_H
#define AMBIT_NET_H2_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/queue.h>
#include <nghttp2/nghttp2.h>

#include "lib/buf.h"
#include "net/guard.h"
#include "h2.h"
#include "net/loop.h"
#include "tls/tls.h"

#ifndef container_of
#define container_of(p, T, m) ((T *)((char *)(p)-offsetof(T, m)))
#endif

/*
 * A header block being received: fields as offsets into one growing string buffer, and what
 * the whole block weighs against h2_limits.headers. Once over, nothing more is kept (@over),
 * but the rest is still counted.
 */
struct h2_field {
	uint32_t name, name_len, value, value_len;
};

struct h2_hblock {
	struct h2_field *f;
	size_t n, cap;
	struct buf mem;
	size_t bytes;	     /* names and values, pseudo-headers included */
	unsigned int fields; /* regular fields */
	bool over;	     /* past the limits: refused at its end */
};

/* Stream ids a server reset lately, whose HEADERS may still come (h2_server_reset_sent). */
#define H2_RESETS_KEPT 128

struct h2_stream {
	struct h2_conn *conn; /* NULL once the connection closed */
	struct loop *loop;
	LIST_ENTRY(h2_stream) link; /* in its connection, while it has one */
	int32_t id;
	const struct h2_stream_ops *ops;
	void *arg;
	bool owned;	 /* submitted by the client, or bound by the server's owner */
	bool released;	 /* the owner let go (h2_stream_release) */
	bool closed;	 /* the HTTP/2 stream is gone */
	bool freed;	 /* queued for freeing */
	bool reset_sent; /* we submitted RST_STREAM */
	bool answered;	 /* server: a response or a reset was submitted */
	bool pending;	 /* server: request complete, to be decided after this read */
	bool end_rcvd;	 /* END_STREAM received */
	bool bodiless;	 /* server: END_STREAM on the request's own HEADERS */
	bool deferred;	 /* the body source deferred (h2_stream_resume) */
	bool drained;	 /* the body source said it is empty for now (h2_stream_drained) */
	bool body_done;	 /* the body source reported EOF */
	bool has_body;
	bool reset_after;      /* server: RST_STREAM NO_ERROR once the response is out (431) */
	bool over_limits;      /* reset for a header block over the limits (PROTOCOL_ERROR) */
	size_t unconsumed;     /* DATA handed over (or held in pend) and not consumed */
	struct buf pend;       /* server: DATA received before the request was decided */
	struct h2_hblock cur;  /* the header block being received */
	struct h2_hblock req;  /* server: the request's, until it is decided */
	struct h2_hblock tail; /* server: trailers received before the request was decided */
	nghttp2_nv *trailers;  /* to send after the body (h2_submit_trailers) */
	size_t ntrailers;
};

struct h2_conn {
	struct loop_handler h;	    /* socket events */
	struct loop_timer deadline; /* client: connect and TLS handshake */
	struct loop_task flush;
	struct loop_send send; /* TLS: the records of a batch, sent with the loop's next wait */
	struct loop *loop;
	enum h2_transport_kind kind;
	int fd;
	bool server, connecting, handshaken, dead, goaway;
	bool calm;		 /* server: GOAWAY with an error queued, nothing more is read */
	bool draining;		 /* h2_conn_drain: ends once its streams are done */
	bool drain_noticed;	 /* server: the first GOAWAY (the shutdown notice) is queued */
	bool drain_final;	 /* the GOAWAY naming the last stream taken is queued */
	uint64_t drain_since_ms; /* loop_now_ms when the drain (a server's: its notice) began */
	bool ever_stream;	 /* server: a request came (first-request deadline met) */
	bool to_decide;		 /* server: this read completed a request (h2_server_dispatch) */
	bool pipe_full;		 /* H2_PIPE, H2_TLS_PIPE: the pipe took less than offered */
	bool pin_drained;	 /* H2_TLS_PIPE: @pin was emptied by the last read */
	struct buf pin;		 /* H2_TLS_PIPE: the peer's records, not read yet */
	bool rx_drained;	 /* H2_PLAIN: the last read took all there was */
	int64_t peer_goaway;	 /* the error code of the peer's GOAWAY, or -1 */
	bool peer_settings;	 /* the peer's first SETTINGS came */
	uint32_t events;
	struct tls_conn *tls;
	struct tls_ctx *ctx;
	char *expect_san;
	char *identity; /* without TLS: given at creation */
	const struct h2_pipe_ops *pipe;
	void *pipe_arg;
	nghttp2_session *h2;
	struct buf out;
	LIST_HEAD(h2_streams, h2_stream) streams;
	size_t nstreams;
	const struct h2_conn_ops *ops;
	void *arg;
	struct h2_limits lim;
	unsigned int connect_ms, handshake_ms;
	bool guarded;
	enum guard_listener listener;
	struct guard_slot slot;
	time_t since;		   /* server: accepted, then handshake done (its deadlines) */
	time_t idle_since;	   /* when the last stream went */
	unsigned int early_resets; /* server: streams reset before their answer, this window */
	time_t resets_window;	   /* server: when that window started */
	int32_t last_client_id;	   /* server: the highest stream id a request HEADERS named */
	time_t last_rx;		   /* bytes last came from the peer (keep-alive) */
	time_t last_tx;		   /* bytes last went to the peer */
	bool quiet_release;	   /* TLS buffers kept while busy, released when quiet */
	time_t ping_sent;	   /* a keep-alive PING is unanswered since, or 0 */
	/* server: streams it reset lately (a ring), whose trailers may cross the reset */
	int32_t resets_kept[H2_RESETS_KEPT];
	unsigned int resets_next;
};

/*
 * Whether a send round of @c's session would produce anything. nghttp2 wants to write while a
 * stream's body is scheduled, also one whose source is drained (h2_stream_drained), which would
 * only defer. With that stream alone on the connection and no other frame queued, there is
 * nothing to send: no frame of another stream, no control frame, and no frame half-sent (a
 * drained stream's last frame was DATA, sent whole; a header block in pieces is a HEADERS of
 * another stream, or trailers, which a drained source does not send).
 */
static inline bool h2c_has_output(struct h2_conn *c)
{
	struct h2_stream *s;

	if (!nghttp2_session_want_write(c->h2))
		return false;
	if (c->nstreams != 1 || nghttp2_session_get_outbound_queue_size(c->h2))
		return true;
	s = LIST_FIRST(&c->streams);
	return !(s && s->drained);
}

/* Queues a flush of @c's pending frames at the end of this loop round. */
static inline void h2c_kick(struct h2_conn *c)
{
	if (c && !c->dead)
		loop_queue(c->loop, &c->flush);
}

/* h2_conn.c */
/* Creates @c's nghttp2 session (a TLS server's once its handshake is done). 0 or -ENOMEM. */
int h2c_session_init(struct h2_conn *c);
/* The next step of h2_conn_drain once the session exists and its time has come. */
void h2c_drain_step(struct h2_conn *c);
/* Hands @len bytes read from the peer to the session, then decides a server's requests. */
int h2c_recv(struct h2_conn *c, const uint8_t *data, size_t len);

/* h2_stream.c */
nghttp2_session_callbacks *h2s_callbacks_new(void);
/* A stream of @c, listed; NULL when out of memory. */
struct h2_stream *h2s_new(struct h2_conn *c);
/* @c closes: every stream's on_close, and each is cut from @c. */
void h2s_close_all(struct h2_conn *c, const char *reason);
/* nghttp2 data source of every stream: the owner's provide. */
ssize_t h2s_provide(nghttp2_session *session, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
		    nghttp2_data_source *src, void *user);
/* @h as nghttp2 wants it, into @nv (of @n + @extra entries; @extra left at the front). */
void h2s_to_nv(nghttp2_nv *nv, const struct h2_header *h, size_t n);
/* @b's fields as h2_header (malloc'd, pointing into @b); NULL when empty or out of memory. */
struct h2_header *h2s_hblock_view(const struct h2_hblock *b);
void h2s_hblock_free(struct h2_hblock *b);
/* Delivers what a decided request's stream received meanwhile (server). */
void h2s_deliver_pending(struct h2_stream *s);

/* The keep-alive PING of @c (h2_limits.ping_interval_s): sends it, or closes @c on its timeout. */
void h2c_keepalive(struct h2_conn *c);
/* A TLS connection quiet since the last sweep lets its record buffers go (h2_conn_sweep). */
void h2c_release_quiet(struct h2_conn *c);

/* h2_server.c */
/* Decides the requests of the read that just ended (the streams still open). */
void h2_server_dispatch(struct h2_conn *c);
/* The peer reset @s: counts it if it was not answered yet (rapid reset). */
void h2_server_peer_reset(struct h2_conn *c, struct h2_stream *s);
/* A request's HEADERS begin: false (and the stream refused) over the connection's streams. */
bool h2_server_admit(struct h2_conn *c, int32_t id);
/*
 * A HEADERS frame begins (RFC 9113 §5.1.1): false when it would open a stream with an id lower
 * than one the client used, and then the connection is ending with GOAWAY PROTOCOL_ERROR.
 */
bool h2_server_stream_id_ok(struct h2_conn *c, int32_t id);
/* A RST_STREAM for @id went out, or nghttp2 refused the stream: its late HEADERS are no error. */
void h2_server_reset_sent(struct h2_conn *c, int32_t id);
/* @s's request header block is over the limits: 431, without its owner (RFC 6585 §5). */
void h2_server_refuse_headers(struct h2_conn *c, struct h2_stream *s, bool end_stream);
/* The handshake of a server connection ended well. 0 or -errno. */
int h2_server_handshaken(struct h2_conn *c);

#endif
