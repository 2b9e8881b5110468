/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/2 over one transport, driven by one loop (DESIGN.md §9): the runtime's only seam to
 * nghttp2 (STYLE.md rule 8). HBONE's CONNECT streams are one user (hbone.h), the waypoint's
 * HTTP/2 another; neither sees nghttp2.
 *
 * A connection runs over a TLS session on a socket (tls.h), a plain socket (h2c prior
 * knowledge), or an in-memory pipe whose owner hands it the peer's bytes (h2_conn_input) and
 * takes the bytes it sends (struct h2_pipe_ops), e.g. the bytes of another HTTP/2 stream.
 * Output is coalesced and written once per loop round, in whole 16 KiB TLS records.
 *
 * Every stream ends in an interface (struct h2_stream_ops): received headers, DATA and the
 * END_STREAM go to it, and what it sends comes from its body source (provide). Flow control is
 * the consumer's: a DATA byte handed to on_data opens the peer's window again only once the
 * consumer says it left (h2_stream_consume), so a consumer that does not consume stops the
 * sender at the window (backpressure).
 *
 * A server connection protects itself (h2_limits): SETTINGS_MAX_CONCURRENT_STREAMS and its own
 * count of the streams it holds, requests decided only once the read that brought them has been
 * parsed (so that a reset right behind a request wins), GOAWAY ENHANCE_YOUR_CALM for peers that
 * reset streams before they were answered (HTTP/2 rapid reset), GOAWAY PROTOCOL_ERROR for a
 * request on a stream id lower than one already used (RFC 9113 §5.1.1; nghttp2 alone would
 * ignore it; trailers that crossed our reset of their stream are no such request), and
 * deadlines for the TLS handshake, the first request and idleness.
 *
 * Header limits, both sides (h2_limits.headers): one received header block (a request's, a
 * response's, trailers) may hold header_bytes of names and values, pseudo-headers included, and
 * `fields` regular fields: the same limit as HTTP/1.1's (http_fields.h), so that a request
 * refused on one protocol is refused on the other. A request over it is answered 431 (RFC 6585
 * §5) by the layer, then RST_STREAM NO_ERROR if it was still sending (RFC 9113 §8.1), and never
 * reaches on_request; the connection and its other streams go on. A response or trailers over
 * it reset the stream with PROTOCOL_ERROR, which the owner's on_close gets. What is over is
 * counted, not kept. SETTINGS_MAX_HEADER_LIST_SIZE announces header_bytes. max_header_value,
 * when set, caps one value on top, with the same answers (HBONE's CONNECT). nghttp2 itself ends
 * the connection (COMPRESSION_ERROR) for one name or value over 64 KiB, past these limits anyway.
 *
 * Lifetimes: a stream object lives until both its HTTP/2 stream closed and its owner released
 * it (h2_stream_release), so that a consumer still draining what it received keeps counting
 * against the connection's streams and may still consume. A connection lives until it closes
 * (its on_close is the last call). Objects are freed after the loop's current batch, so any
 * callback may reset or release its stream, or close its connection, and return.
 */
#ifndef AMBIT_NET_H2_H
#define AMBIT_NET_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>

#include "net/guard.h"
#include "http_fields.h"
#include "net/loop.h"
#include "tls/tls.h"

struct h2_conn;
struct h2_stream;

/* RFC 9113 §7 error codes (the ones this runtime sends or looks at). */
enum h2_error {
	H2_NO_ERROR = 0x0,
	H2_PROTOCOL_ERROR = 0x1,
	H2_INTERNAL_ERROR = 0x2,
	H2_REFUSED_STREAM = 0x7,
	H2_CANCEL = 0x8,
	H2_CONNECT_ERROR = 0xa,
	H2_ENHANCE_YOUR_CALM = 0xb,
};

/* Default windows: a stream's and the connection's receive window (bytes). */
#define H2_STREAM_WINDOW (1u << 20)
#define H2_CONN_WINDOW (16u << 20)
/* Streams reset before their answer are counted over this many seconds (max_early_resets). */
#define H2_RESET_WINDOW_S 10
/* A connection told GOAWAY ENHANCE_YOUR_CALM that does not close is closed after this. */
#define H2_CALM_LINGER_S 2

/*
 * One header field. Received: NUL-terminated copies, names in lower case, pseudo-headers
 * (":method", ":status", ...) included, valid for the callback only. Sent: copied by the call.
 */
struct h2_header {
	const char *name;
	const char *value;
	size_t name_len, value_len;
};

/* A header to send from two C strings. */
#define H2_HDR(n, v) ((struct h2_header){(n), (v), strlen(n), strlen(v)})

/* The value of header @name (lower case) in @h, or NULL. */
const char *h2_header_get(const struct h2_header *h, size_t n, const char *name);

/*
 * Limits of a connection (0: none, except the windows and the header limits: 0 means the
 * default). Seconds count from the accept (handshake), the handshake (first request) or the last
 * stream's end; they, the streams and the resets are a server's. The header limits are both
 * sides' (see the top of this file).
 */
struct h2_limits {
	unsigned int handshake_s;      /* TLS handshake done within */
	unsigned int first_request_s;  /* first request within, after the handshake */
	unsigned int idle_s;	       /* a connection holding no stream */
	unsigned int max_streams;      /* SETTINGS_MAX_CONCURRENT_STREAMS, and our own count */
	unsigned int max_early_resets; /* per H2_RESET_WINDOW_S, then GOAWAY ENHANCE_YOUR_CALM */
	unsigned int max_header_value; /* bytes of one received header value, over headers' */
	struct http_limits headers;    /* one received header block (0s: http_fields.h's) */
	uint32_t stream_window;	       /* initial receive window of a stream */
	uint32_t conn_window;	       /* receive window of the connection */
	/*
	 * Keep-alive, either side: after ping_interval_s without a byte from the peer, a PING;
	 * no byte back (its ACK or anything else) within ping_timeout_s and the connection is
	 * closed, its streams with it (H2_CANCEL): a peer gone without a FIN is found. Checked
	 * at each h2_conn_sweep. 0: no pings.
	 */
	unsigned int ping_interval_s;
	unsigned int ping_timeout_s;
	/*
	 * Server: announces SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441), so a client may send
	 * extended CONNECTs (`:protocol`, with `:scheme` and `:path`), which come to on_request
	 * like any request. Off, a `:protocol` is a malformed request (the stream is reset).
	 */
	bool extended_connect;
};

/* Received on a stream; @arg is the one given with the ops. */
struct h2_stream_ops {
	/*
	 * Headers: the response (client, also a 1xx), or trailers (either side, @end_stream
	 * set). A server's request comes to h2_conn_ops.on_request instead.
	 */
	void (*on_headers)(void *arg, struct h2_stream *s, const struct h2_header *h, size_t n,
			   bool end_stream);
	/*
	 * DATA payload (borrowed for the call): h2_stream_consume it once it left the consumer.
	 * Any callback may be NULL: without on_data, DATA is consumed as it comes; without
	 * on_close, the owner must know by other means when to release the stream.
	 */
	void (*on_data)(void *arg, struct h2_stream *s, const uint8_t *data, size_t len);
	/* END_STREAM received (after the last on_data or trailers): the peer sends no more. */
	void (*on_end)(void *arg, struct h2_stream *s);
	/*
	 * The HTTP/2 stream is gone: @error 0 after both ends finished, else the RST_STREAM code
	 * (sent or received) or H2_CANCEL when the connection closed; @reason says which
	 * (borrowed). The last call: the owner still consumes, then h2_stream_release.
	 */
	void (*on_close)(void *arg, struct h2_stream *s, uint32_t error, const char *reason);
	/*
	 * The body to send: copies up to @len bytes into @buf and returns their number; sets
	 * *@eof with the last bytes (or alone, returning 0). Returning 0 without *@eof defers:
	 * nothing more is asked until h2_stream_resume. A negative -errno resets the stream.
	 * Needed only for a request or response submitted with a body.
	 */
	ssize_t (*provide)(void *arg, struct h2_stream *s, uint8_t *buf, size_t len, bool *eof);
};

/* Events of a connection, for its owner; @arg is h2_config.arg. */
struct h2_conn_ops {
	/*
	 * Server: a request (@h its header block, @end_stream when it has no body), once the read
	 * that brought it is parsed. The owner binds it (h2_stream_bind) to get its body and
	 * answers it (h2_submit_response) now or later, or resets it; a request it neither binds
	 * nor answers is reset (H2_REFUSED_STREAM).
	 */
	void (*on_request)(void *arg, struct h2_stream *s, const struct h2_header *h, size_t n,
			   bool end_stream);
	/* The TLS handshake is done (not called without TLS). May be NULL. */
	void (*on_ready)(void *arg, struct h2_conn *c);
	/* The connection closed (every stream's on_close ran before). The last call. May be NULL.
	 */
	void (*on_close)(void *arg, struct h2_conn *c, const char *reason);
};

/* An in-memory transport: where the connection's output goes (its input: h2_conn_input). */
struct h2_pipe_ops {
	/*
	 * Takes up to @len bytes (borrowed for the call): returns how many it took; fewer than
	 * @len and the connection waits for h2_conn_pipe_writable. A negative -errno closes the
	 * connection.
	 */
	ssize_t (*write)(void *arg, const uint8_t *data, size_t len);
};

enum h2_transport_kind {
	H2_TLS = 0, /* TLS on a socket (ALPN h2) */
	H2_PLAIN,   /* a plain socket: h2c with prior knowledge */
	H2_PIPE,    /* bytes handed over in memory (struct h2_pipe_ops) */
	/*
	 * TLS whose records go through the pipe (a client): the inner tunnel of double HBONE,
	 * carried by another connection's stream, without a socket between the two.
	 */
	H2_TLS_PIPE,
};

struct h2_transport {
	enum h2_transport_kind kind;
	int fd;			/* H2_TLS, H2_PLAIN: the connected socket (taken on success) */
	bool connecting;	/* @fd's non-blocking connect() is still in progress */
	struct tls_ctx *ctx;	/* H2_TLS: a reference is taken */
	const char *expect_san; /* H2_TLS client: the server's URI SAN (copied) */
	/* Without TLS: the peer's identity as something else verified it (copied), or NULL. */
	const char *peer_identity;
	/* H2_PIPE and H2_TLS_PIPE (borrowed: must outlive the connection) */
	const struct h2_pipe_ops *pipe;
	void *pipe_arg;
};

struct h2_config {
	bool server;
	const struct h2_conn_ops *ops; /* borrowed, must outlive the connection */
	void *arg;
	const struct h2_limits *lim; /* copied; NULL for h2_limits_default */
	/* Client over a connecting socket: TCP connect, then TLS handshake deadlines (ms, 0: none).
	 */
	unsigned int connect_timeout_ms, handshake_timeout_ms;
	/*
	 * Server: the listener whose guard.h counters (timeouts, stream refusals, rapid resets)
	 * this connection counts in, and @slot (may be NULL) its share of it, moved in and released
	 * with it; with TLS the handshake's count ends with the handshake.
	 */
	bool guarded;
	enum guard_listener listener;
	struct guard_slot *slot;
};

/*
 * handshake 10 s, first request 10 s, idle 120 s, 100 streams, 100 early resets, header blocks of
 * HTTP_MAX_HEADER_BYTES and HTTP_MAX_FIELDS, no cap of one value of its own.
 */
void h2_limits_default(struct h2_limits *lim);

/*
 * A connection over @t on @l. NULL + errno; then @t's socket is still the caller's, and @cfg's
 * slot too. The session starts at once without TLS, after the handshake with it (a server's TLS
 * state is made only when the peer first sends).
 */
struct h2_conn *h2_conn_create(struct loop *l, const struct h2_transport *t,
			       const struct h2_config *cfg);
/* Closes @c now: streams get on_close, then the owner; freed after the batch. Idempotent. */
void h2_conn_close(struct h2_conn *c, const char *reason);
/* GOAWAY with @error (no new stream), and the connection closes once it is written. */
void h2_conn_goaway(struct h2_conn *c, uint32_t error);
/*
 * Graceful end (RFC 9113 §6.8): no new stream, the open ones run to their end, then the
 * connection closes. A server first sends a GOAWAY with the highest stream id (the shutdown
 * notice: a peer stops opening streams), and a second later, at a sweep, the GOAWAY naming the
 * last stream it took, so a request in flight meanwhile is not refused; a client sends its
 * GOAWAY at once. Idempotent.
 */
void h2_conn_drain(struct h2_conn *c);
/*
 * Checks @c's deadlines (a server's: handshake, first request, idle, calm linger; a client's
 * is its connect/handshake timer) and, both sides, its keep-alive PING, and lets a mesh TLS
 * connection quiet for a second release its record buffers (busy, it keeps them between
 * records): call about once a second. May close @c.
 */
void h2_conn_sweep(struct h2_conn *c);

/* H2_PIPE: the peer's bytes (borrowed). 0, or -EPIPE when @c closed (now or before). */
int h2_conn_input(struct h2_conn *c, const uint8_t *data, size_t len);
/* H2_PIPE: the pipe's write takes bytes again. */
void h2_conn_pipe_writable(struct h2_conn *c);

/* The handshake is done (always, without TLS). */
bool h2_conn_ready(const struct h2_conn *c);
/* Still takes new streams: not closed, no GOAWAY either way. */
bool h2_conn_usable(const struct h2_conn *c);
/* Streams the connection holds (open, or closed but not yet released). */
size_t h2_conn_streams(const struct h2_conn *c);
/* Since when (loop_now) it holds none: meaningful while h2_conn_streams is 0. */
time_t h2_conn_idle_since(const struct h2_conn *c);
/* Client: streams the server lets us open at once (its SETTINGS; 100 until they come). */
size_t h2_conn_peer_max_streams(const struct h2_conn *c);
/*
 * Client: the server said it takes extended CONNECTs (RFC 8441), or has not said yet (its
 * SETTINGS not come): false only once its SETTINGS came without them.
 */
bool h2_conn_peer_extended_connect(const struct h2_conn *c);
/* Keep-alive PINGs sent, and connections closed for an unanswered one (all connections). */
uint64_t h2_pings_sent(void);
uint64_t h2_ping_timeouts(void);
/* The error code of the GOAWAY the peer sent (H2_NO_ERROR, H2_ENHANCE_YOUR_CALM...), or -1. */
int64_t h2_conn_peer_goaway(const struct h2_conn *c);
/* The peer's verified SPIFFE ID (borrowed), or NULL before the handshake / without one. */
const char *h2_conn_peer_identity(const struct h2_conn *c);
struct loop *h2_conn_loop(const struct h2_conn *c);
/* The owner's h2_config.arg (per-connection user data). */
void *h2_conn_arg(const struct h2_conn *c);

/*
 * Client: opens a stream with request headers @h (pseudo-headers first, as :method, :scheme,
 * :authority, :path; copied), a body from @ops->provide when @has_body. @ops/@arg (borrowed)
 * receive the response. Returns the stream (owned by the caller until h2_stream_release), or
 * NULL + errno. No callback runs from inside this call.
 */
struct h2_stream *h2_submit_request(struct h2_conn *c, const struct h2_header *h, size_t n,
				    bool has_body, const struct h2_stream_ops *ops, void *arg);
/*
 * Server: answers @s with @status and @h (copied, no pseudo-headers); the body comes from the
 * bound ops' provide when @has_body, else the response ends the stream. 0 or -errno.
 */
int h2_submit_response(struct h2_stream *s, int status, const struct h2_header *h, size_t n,
		       bool has_body);
/*
 * Server: an interim response (1xx but 101) to @s before its final one (RFC 9113 §8.1: a
 * HEADERS frame without END_STREAM), with @h (copied, no pseudo-headers). 0 or -errno.
 */
int h2_submit_interim(struct h2_stream *s, int status, const struct h2_header *h, size_t n);
/*
 * Trailers after the body (@h copied): call before the body source reports EOF (or from inside
 * that provide call); the body then ends with them. 0, or -EINVAL once the body has ended.
 */
int h2_submit_trailers(struct h2_stream *s, const struct h2_header *h, size_t n);

/*
 * Server: takes ownership of the request @s from on_request: @ops/@arg receive its body, and
 * the owner releases it (h2_stream_release).
 */
void h2_stream_bind(struct h2_stream *s, const struct h2_stream_ops *ops, void *arg);
/* @n bytes handed to on_data left the consumer: the peer may send as many again. */
void h2_stream_consume(struct h2_stream *s, size_t n);
/* The body source has bytes (or its EOF) again after deferring, or after h2_stream_drained. */
void h2_stream_resume(struct h2_stream *s);
/*
 * From inside provide, with the bytes it returns: the source holds no more for now (no EOF
 * either); h2_stream_resume follows when it does. A hint, for a stream alone on its connection:
 * its next send round, which would only find the source empty, is not run (a small message
 * then costs one round of the session, not two). Without it provide is simply asked again.
 */
void h2_stream_drained(struct h2_stream *s);
/* RST_STREAM with @code (once; a no-op after the stream closed); on_close follows. */
void h2_stream_reset(struct h2_stream *s, uint32_t code);
/*
 * The owner is done with @s: no callback follows; a stream still open is reset (H2_CANCEL),
 * and what it received but never consumed is returned to the connection's window.
 */
void h2_stream_release(struct h2_stream *s);
int32_t h2_stream_id(const struct h2_stream *s);
/* The owner's ops arg (per-stream user data), NULL before bound. */
void *h2_stream_arg(const struct h2_stream *s);
/* The connection of @s, or NULL once that closed. */
struct h2_conn *h2_stream_conn(const struct h2_stream *s);

#endif
