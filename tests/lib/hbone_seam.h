/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An HBONE connection fed from memory, for the fuzz targets and the unit tests that check them:
 * the real HBONE connection, its real HTTP/2 connection (h2.h) and session, its streams, its
 * pool and its loop, over the HTTP/2 layer's in-memory transport (H2_PIPE) instead of TLS; what
 * the handshake would have verified, the peer's SPIFFE ID, is given. Bytes the connection
 * writes are drained and counted; a protocol error or the end of the session closes the
 * connection as on a socket.
 */
#ifndef AMBIT_TESTS_HBONE_SEAM_H
#define AMBIT_TESTS_HBONE_SEAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "hbone/hbone.h"
#include "net/loop.h"

struct hbone_conn;

struct hbone_seam {
	struct loop *loop;
	struct hbone_pool *pool;
	struct hbone_conn *conn; /* NULL once the connection closed (it may be freed by then) */
	size_t out_bytes;	 /* what the connection wrote, in total */
	/* Called with each chunk the connection writes (may be NULL). */
	void (*sink)(void *arg, const uint8_t *data, size_t len);
	void *sink_arg;
};

struct hbone_seam_server {
	struct tls_ctx *ctx; /* unused (no TLS in memory); kept for the callers' symmetry */
	const char
	    *peer_identity; /* as the handshake would have verified it; NULL: none. Borrowed */
	union sockaddr_inet local; /* the accepted socket's local address */
	union sockaddr_inet peer;  /* the client node's address */
	hbone_accept_fn on_accept; /* NULL: every CONNECT is refused with 503 */
	void *user;
};

/*
 * A server connection as hbone_server_start makes one, its handshake done, in a new loop and
 * pool of @s. 0 or -errno. Ends with hbone_seam_close (also on error).
 */
int hbone_seam_server(struct hbone_seam *s, const struct hbone_seam_server *o);

/*
 * A client connection to @t (borrowed; t->ctx a client context) already in the pool, so that
 * hbone_pool_open(s->pool, t, ...) opens its streams on it as on any pooled connection. The
 * peer is taken to be t->expect_san. 0 or -errno.
 */
int hbone_seam_client(struct hbone_seam *s, const struct hbone_target *t);

/*
 * Hands @data to the connection as TLS would after a read, then drains what it writes (one
 * loop round). 0, or negative when the connection closed (a protocol error).
 */
int hbone_seam_feed(struct hbone_seam *s, const uint8_t *data, size_t len);

/*
 * As hbone_seam_feed, with the peer's end of the transport in the same read: @data, then the
 * close a socket's EOF makes (h2_conn_close, "peer closed"), then one loop round. 0, or
 * negative when the connection closed before the end.
 */
int hbone_seam_feed_last(struct hbone_seam *s, const uint8_t *data, size_t len);

/* One loop round (up to @timeout_ms for socket events), then drains. Events handled or -errno. */
int hbone_seam_step(struct hbone_seam *s, int timeout_ms);

/* Closes the pool (and the connection with it), runs the deferred frees, destroys the loop. */
void hbone_seam_close(struct hbone_seam *s);

#endif
