/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HBONE: HTTP/2 CONNECT over mutual TLS (DESIGN.md §3). The one seam to nghttp2 (STYLE.md rule 8).
 * A connection is a TLS session plus an nghttp2 session on one TCP socket, driven by one worker
 * loop; each CONNECT stream is spliced to one TCP socket with bounded buffers, HTTP/2 flow control
 * (the window is returned only once bytes reached the TCP side) and half-close mapping
 * (TCP EOF <-> END_STREAM, TCP reset <-> RST_STREAM).
 */
#ifndef ZT_HBONE_H
#define ZT_HBONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "loop.h"
#include "tls.h"

struct connrec;
struct hbone_conn;
struct hbone_pool;

#define HBONE_STREAM_WINDOW (1u << 20)
#define HBONE_CONN_WINDOW (16u << 20)
#define HBONE_TCP_BUF (256u << 10)
#define HBONE_MAX_STREAMS 1000

/* A CONNECT received by a server connection. All strings borrowed for the callback only. */
struct hbone_request {
	const char *authority;	   /* "ip:port" as sent */
	const char *forwarded;	   /* raw `forwarded` header, or NULL */
	const char *peer_identity; /* the client's verified spiffe:// URI SAN */
	struct sockaddr_in local;  /* accepted socket's local address (the destination pod) */
	struct sockaddr_in peer;   /* the TCP peer (the client's node) */
};

/*
 * Decides a CONNECT. Returns 0 with *@fd a non-blocking socket connecting upstream (taken) and
 * *@rec the connection record (taken, may be NULL), or an HTTP status (400, 401, 503) to refuse.
 */
typedef int (*hbone_accept_fn)(void *user, const struct hbone_request *req, int *fd,
			       struct connrec **rec);

/*
 * Per-worker set of HBONE connections: client connections keyed by (source identity,
 * destination) for reuse, and the server connections the worker accepted.
 */
struct hbone_pool *hbone_pool_create(struct loop *l);
/* Resets every connection of the pool and frees it. Accepts NULL. */
void hbone_pool_destroy(struct hbone_pool *p);
/* Number of live connections, client and server (for tests). */
size_t hbone_pool_size(const struct hbone_pool *p);

/*
 * Serves HBONE on the accepted socket @fd (taken) on @p's loop with @ctx (a server context; a
 * reference is taken). @on_accept/@user are borrowed and must outlive the connection. 0 or
 * -errno (then @fd is closed).
 */
int hbone_server_start(struct hbone_pool *p, int fd, struct tls_ctx *ctx, hbone_accept_fn on_accept,
		       void *user);

/*
 * The owner of a client stream's opening phase (the proxy, which retries). With it the stream
 * starts without a connection record, and exactly one of the two runs, on the pool's loop thread
 * and never from inside hbone_pool_open itself.
 */
struct hbone_open_ops {
	/* The server answered 200: returns the record the stream takes (may be NULL). */
	struct connrec *(*established)(void *arg);
	/*
	 * The stream ended before a 200: TCP connect refused, reset or timed out, TLS failed or was
	 * closed, the connection died, or the CONNECT was answered @status (0: no answer). @fd, the
	 * client socket, is handed back untouched (taken: never read). @reason is borrowed for the
	 * call. @retryable is false for a 401 (policy) and when the pool is going away.
	 */
	void (*failed)(void *arg, int fd, int status, const char *reason, bool retryable);
};

struct hbone_target {
	struct sockaddr_in addr;   /* where to open TLS: destPodIP:15008 */
	const char *authority;	   /* CONNECT :authority, "podIP:port" */
	const char *forwarded_for; /* client node for `forwarded: for=` ("\"ip:port\"", or an IP) */
	const char
	    *forwarded_host;	/* `forwarded: host=`: the Service hostname addressed, or NULL */
	const char *identity;	/* source identity: pool key, and the certificate in @ctx */
	const char *expect_san; /* the destination workload's identity */
	struct tls_ctx *ctx;	/* client context of @identity (a reference is taken) */
	const struct hbone_open_ops *ops; /* borrowed, may be NULL: see hbone_pool_open */
	void *ops_arg;			  /* borrowed: must stay valid until one of @ops has run */
};

/* A new client connection must complete its TCP handshake within this (the peer is down). */
#define HBONE_CONNECT_TIMEOUT_MS 1000
/* ... and its TLS handshake within this; a CONNECT must be answered within HBONE_RESPONSE_S. */
#define HBONE_HANDSHAKE_TIMEOUT_MS 5000
#define HBONE_RESPONSE_S 5

/*
 * Opens a CONNECT stream on a pooled (or new) connection to @t and splices it with the client
 * socket @fd (taken, non-blocking) once the server answers 200; nothing is read from @fd before.
 * @rec (taken, may be NULL) is closed when the stream ends. 0 or -errno; on error @fd and @rec
 * are closed.
 * With @t->ops, @rec must be NULL (the record comes from ops->established), a failure before the
 * 200 hands @fd back through ops->failed, and on an error return @fd stays the caller's.
 */
int hbone_pool_open(struct hbone_pool *p, const struct hbone_target *t, int fd,
		    struct connrec *rec);

/*
 * Fuzzing seam: a server session fed from memory with no TLS. Creates a session whose
 * CONNECTs are refused, feeds @data, and destroys it. Returns 0 or a negative nghttp2 error.
 */
int hbone_fuzz_server_input(const uint8_t *data, size_t len);

#endif
