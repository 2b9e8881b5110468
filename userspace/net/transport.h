/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A byte stream between a proxy and one peer, whatever carries it: a TCP socket (transport_tcp),
 * memory (transport_mem: fuzzing and tests), or an HTTP/2 / HBONE stream. The HTTP/1 machinery
 * (http1_server.c, http1_client.c) speaks only to this interface, so the waypoint's downstream
 * can be a plaintext listener or an HBONE stream and its upstream a TCP connection or pooled
 * HBONE, without the request engine knowing.
 *
 * Flow control, both ways, in bounded memory:
 *  - input: on_data hands over what arrived and returns how much it took; the rest stays with
 *    the transport, which stops reading (the peer's window or the socket buffer fills) until
 *    transport_resume. transport_pause stops delivery at once.
 *  - output: transport_write always takes the bytes (they are queued), and the writer watches
 *    transport_queued: above TRANSPORT_HIGH_WATER it stops producing and waits for on_drain,
 *    called once the queue is empty again. A writer that produces one read's worth at a time
 *    therefore holds at most the watermark plus one read.
 *
 * Callbacks run on the transport's loop, never from inside a call the owner made (a failure
 * found by transport_write or connector_open is reported from a loop task). The owner ends a
 * transport with transport_close, also after on_error: nothing is called after that, and the
 * object is freed after the loop's current batch.
 */
#ifndef AMBIT_NET_TRANSPORT_H
#define AMBIT_NET_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "loop.h"
#include "sock.h"

/* Queued output past which a writer waits for on_drain. */
#define TRANSPORT_HIGH_WATER (256u << 10)
/* The most one on_data call hands over. */
#define TRANSPORT_READ_MAX (64u << 10)

struct transport;

struct transport_cbs {
	/* Bytes from the peer (borrowed for the call): returns how many were taken. */
	size_t (*on_data)(void *arg, const char *data, size_t len);
	/* The peer finished sending (after every byte was taken). May be NULL. */
	void (*on_eof)(void *arg);
	/* The output queue emptied after transport_queued passed the high water mark. */
	void (*on_drain)(void *arg);
	/* A connector's transport is connected. May be NULL for accepted ones. */
	void (*on_open)(void *arg);
	/*
	 * The stream failed: -ECONNREFUSED, -ETIMEDOUT (connect deadline), -ECONNRESET, -EPIPE,
	 * -EHOSTUNREACH... Nothing more is delivered; the owner calls transport_close.
	 */
	void (*on_error)(void *arg, int err);
};

/* What the front end knows of a downstream connection (all copied into the transport). */
struct transport_peer {
	union sockaddr_inet client; /* the client's address, of either family */
	union sockaddr_inet local;  /* the address the connection reached */
	char *dest_host;	    /* original destination: a Service hostname, or NULL */
	struct ipaddr dest_ip;	    /* original destination address (family 0: none) */
	uint16_t dest_port;	    /* original destination port (host order) */
	char *identity;		    /* the peer's verified SPIFFE ID, or NULL */
	char *baggage;		    /* W3C baggage the peer sent about the client, or NULL */
	char *sni;		    /* the server name a TLS client asked for, once handshaken */
	char *tls_server;	    /* a gateway's certificate it was given (tls_conn_server) */
	bool mtls;		    /* the peer was authenticated by mutual TLS */
	bool tls;		    /* the connection is TLS without a client certificate */
};

/* The operations an implementation provides (see the transport_* wrappers). */
struct transport_impl {
	int (*write)(struct transport *t, const char *data, size_t len);
	size_t (*queued)(const struct transport *t);
	void (*shutdown)(struct transport *t);
	void (*pause)(struct transport *t);
	void (*resume)(struct transport *t);
	void (*close)(struct transport *t, bool reset);
	/* See transport_stale. May be NULL (then never stale). */
	bool (*stale)(const struct transport *t);
};

/* The common head of every implementation's object. */
struct transport {
	const struct transport_impl *impl;
	const struct transport_cbs *cbs;
	void *arg;
	struct transport_peer peer;
};

/* Sets who receives @t's events (@cbs borrowed: must outlive @t). */
void transport_set_cbs(struct transport *t, const struct transport_cbs *cbs, void *arg);
/* Queues @len bytes (copied) for the peer. 0, or -EPIPE after a shutdown or failure, -ENOMEM. */
int transport_write(struct transport *t, const char *data, size_t len);
/* Bytes queued and not yet taken by the peer. */
size_t transport_queued(const struct transport *t);
/* Half-close: the peer sees EOF once the queue is written. Idempotent. */
void transport_shutdown(struct transport *t);
/* Stops delivering input (what arrives is held, then the peer is stopped). */
void transport_pause(struct transport *t);
/* Delivers what is held (from a loop task) and reads again. */
void transport_resume(struct transport *t);
/*
 * Ends @t: with @reset at once (a TCP RST, an HTTP/2 RST_STREAM), else after the queue is
 * written (then a FIN). No callback follows. Accepts NULL.
 */
void transport_close(struct transport *t, bool reset);
/*
 * Whether @t is known, without waiting, to be unfit for another exchange: the peer finished
 * sending or failed, or sent bytes nobody read (a TCP socket is peeked, so a FIN or an RST that
 * arrived since the loop last looked counts). A pool asks before it reuses an idle connection:
 * the peer may have closed it a moment ago (the keep-alive race, istio/istio#54063).
 */
bool transport_stale(const struct transport *t);
/* Borrowed: what the front end knows of the peer. */
const struct transport_peer *transport_peer(const struct transport *t);
/* Copies @src into @dst (strings duplicated). 0 or -ENOMEM (then @dst holds nothing). */
int transport_peer_copy(struct transport_peer *dst, const struct transport_peer *src);
void transport_peer_clear(struct transport_peer *p);

/* ---- upstream connectors ---- */

struct connector;

struct connector_impl {
	struct transport *(*open)(struct connector *c, const union sockaddr_inet *dst,
				  const char *identity, unsigned int timeout_ms,
				  const struct transport_cbs *cbs, void *arg);
	void (*destroy)(struct connector *c);
};

struct connector {
	const struct connector_impl *impl;
};

/*
 * Opens a stream to @dst (an endpoint: pod IP and target port) whose peer must prove
 * @identity (may be NULL; a plaintext connector ignores it), within @timeout_ms (0: none).
 * Returns the transport at once (owned by the caller); its on_open or on_error follows.
 * NULL + errno only when nothing could be started (then no callback follows).
 */
struct transport *connector_open(struct connector *c, const union sockaddr_inet *dst,
				 const char *identity, unsigned int timeout_ms,
				 const struct transport_cbs *cbs, void *arg);
void connector_destroy(struct connector *c); /* accepts NULL */

/* ---- TCP (transport_tcp.c) ---- */

/*
 * A transport over the connected, non-blocking socket @fd (taken) on @l, for an accepted
 * downstream connection; @peer copied. NULL + errno (then @fd is closed).
 */
struct transport *transport_tcp_new(struct loop *l, int fd, const struct transport_peer *peer);
/*
 * Accepted connections (transport_tcp_new, transport_tls_new) not freed yet, in the whole
 * process: those still in their TLS handshake or not yet served by anything included.
 */
size_t transport_tcp_accepted(void);
/*
 * The same over one-way TLS with @ctx (tls_ctx_create_edge, borrowed: it must outlive the
 * transport): the server side of an accepted connection; the handshake happens before any
 * byte is delivered, and a failed one ends in on_error(-EPROTO).
 */
struct tls_ctx;
struct transport *transport_tls_new(struct loop *l, int fd, struct tls_ctx *ctx,
				    const struct transport_peer *peer);
/* Plain TCP to the endpoint: non-blocking connect, TCP_NODELAY. NULL + errno. */
struct connector *connector_tcp_new(struct loop *l);
/*
 * TLS origination (a DestinationRule's tls SIMPLE or MUTUAL): TCP to the endpoint, then a TLS
 * client handshake with origination context @ctx (tls_ctx_create_origin; a reference is
 * taken), server name @sni and one of the @n_sans @sans required of the server's certificate
 * (tls_conn_create_origin; all copied). on_open comes once the handshake is done, within the
 * open's deadline; a refused certificate fails with -EPROTO. An open with an identity (a
 * destination in the mesh) goes to @inner (borrowed) unchanged. @ctx NULL (credentials that
 * do not load): every other open fails with -EPROTO, connecting nowhere. NULL + errno.
 */
struct connector *connector_tls_new(struct loop *l, struct connector *inner, struct tls_ctx *ctx,
				    const char *sni, const char *const *sans, size_t n_sans);

/* ---- memory (transport_mem.c): fuzzing and tests ---- */

/*
 * A transport whose peer is the caller: transport_mem_input hands it the peer's bytes,
 * transport_mem_output takes what it wrote. @peer copied (may be NULL). NULL + errno.
 */
struct transport *transport_mem_new(struct loop *l, const struct transport_peer *peer);
/* The peer sends @len bytes (copied) or, with @data NULL, its EOF. 0 or -EPIPE / -ENOMEM. */
int transport_mem_input(struct transport *t, const char *data, size_t len);
/* What @t wrote and nobody took yet (borrowed), and its length; taking it calls on_drain. */
const char *transport_mem_output(struct transport *t, size_t *len);
void transport_mem_take(struct transport *t, size_t n);
/* Whether @t was shut down (FIN) or closed, and whether that close was a reset. */
bool transport_mem_shut(const struct transport *t);
bool transport_mem_closed(const struct transport *t, bool *reset);
/* Fails @t as a peer reset would (on_error -ECONNRESET, from a loop task). */
void transport_mem_reset(struct transport *t);
/*
 * A connector whose streams are memory transports: @open_fn sees each one (borrowed; it
 * answers through transport_mem_input) and returns 0 to let it connect or a -errno to fail it.
 */
struct connector *connector_mem_new(struct loop *l,
				    int (*open_fn)(void *arg, struct transport *t,
						   const union sockaddr_inet *dst),
				    void *arg);
/*
 * Frees a memory transport the transport's owner already closed (closed ones stay until the
 * test or fuzz driver that looks at them frees them). Accepts NULL.
 */
void transport_mem_free(struct transport *t);

#endif
