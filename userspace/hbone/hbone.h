/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HBONE: HTTP/2 CONNECT over mutual TLS (DESIGN.md §3), on the runtime's HTTP/2 layer (h2.h),
 * shared by the ztunnel and the waypoint; the decisions (which CONNECT to accept, where the
 * client's connection goes) are theirs. A connection is one h2_conn over TLS on one TCP socket,
 * driven by one worker loop; each CONNECT stream is spliced to its far end with bounded
 * buffers, HTTP/2 flow control (the window is returned only once bytes reached the far end) and
 * half-close mapping (EOF <-> END_STREAM, reset <-> RST_STREAM). The far end is a TCP socket (the
 * client's, or the upstream's), or for a server stream an in-process consumer (struct
 * hbone_end_ops) that terminates the tunnel itself.
 */
#ifndef AMBIT_NET_HBONE_H
#define AMBIT_NET_HBONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "net/guard.h"
#include "net/sock.h"
#include "http/h2.h"
#include "net/loop.h"
#include "tls/tls.h"

struct connrec;
struct hbone_conn;
struct hbone_pool;
struct hbone_stream;

#define HBONE_STREAM_WINDOW (1u << 20)
#define HBONE_CONN_WINDOW (16u << 20)
#define HBONE_TCP_BUF (256u << 10)
/*
 * Streams per connection, both ways: what a server announces in SETTINGS_MAX_CONCURRENT_STREAMS
 * (RFC 9113 §6.5.2 recommends no less than 100) and what the client pool puts on one
 * connection before opening another. More per connection only makes one connection hold more
 * of a peer's fds (1,000 let one identity hold 20,000 upstream sockets on 20 connections).
 */
#define HBONE_MAX_STREAMS 100

/*
 * Deadlines and caps of a pool's connections, in seconds (0: none). The server side holds an
 * unauthenticated peer only briefly: its TLS handshake, then its first CONNECT, must come in
 * time, and a connection left without a stream is closed after idle_s, twice the client
 * pool's own idle close (POOL_IDLE_S) so that a well-behaved client always closes first.
 */
struct hbone_limits {
	unsigned int handshake_s;     /* server: TLS handshake done within (10) */
	unsigned int first_request_s; /* server: first CONNECT within, after the handshake (10) */
	unsigned int idle_s;	      /* server: a connection with no stream (120) */
	unsigned int connect_s;	      /* server stream: upstream TCP connect (10) */
	unsigned int stream_idle_s;   /* any stream: no byte either way (3600) */
	unsigned int max_streams;     /* server: SETTINGS_MAX_CONCURRENT_STREAMS (100) */
	/*
	 * server: streams the peer resets before they were answered, per 10 s, before the
	 * connection gets GOAWAY ENHANCE_YOUR_CALM and is closed (HTTP/2 rapid reset; 100)
	 */
	unsigned int max_early_resets;
	/*
	 * Both sides: an HTTP/2 PING after ping_interval_s without a byte from the peer, and the
	 * connection closed, its streams and their sockets with it, when nothing comes back
	 * within ping_timeout_s (10, 5): a peer gone without a FIN does not hold them for good.
	 */
	unsigned int ping_interval_s;
	unsigned int ping_timeout_s;
	/*
	 * server: takes CONNECT-UDP (hbone_udp.h), which the accept function then decides
	 * (hbone_request.udp): announced in SETTINGS as extended CONNECT (RFC 8441). Off (the
	 * default), HTTP/2 refuses any `:protocol` as a malformed request.
	 */
	bool udp;
};

/* The defaults above. */
void hbone_limits_default(struct hbone_limits *lim);

/*
 * A workload as Istio's ztunnel describes it in W3C `baggage` (its src/baggage.rs): the client's
 * on the CONNECT, the destination's on the 200. Borrowed strings; NULL or "" is left out.
 */
struct hbone_baggage {
	const char *cluster;  /* k8s.cluster.name */
	const char *ns;	      /* k8s.namespace.name */
	const char *kind;     /* the workload's kind, "deployment", "pod"... (NULL: "pod") */
	const char *workload; /* k8s.<kind>.name */
	const char *service;  /* service.name: the canonical service */
	const char *version;  /* service.version: the canonical revision */
	const char *region;   /* cloud.region */
	const char *zone;     /* cloud.availability_zone */
};

/* The same, as read from a peer: "" for what it did not say (or said in no label's shape). */
struct hbone_peer_baggage {
	char cluster[64], ns[64], kind[16], workload[254], service[64], version[64];
	char region[64], zone[64];
	/*
	 * Not baggage: the identity the answering end's TLS proved (a client stream's, once
	 * established; "" for none), which the caller may not know otherwise (an endpoint in
	 * another network, behind its gateway).
	 */
	char identity[256];
};

/*
 * Writes @b (borrowed) into @out (@len bytes) as Istio's ztunnel does: "key=value" joined by
 * commas, in its order, absent values left out. Returns the length, or -ENOSPC (then @out is "").
 */
int hbone_baggage_format(const struct hbone_baggage *b, char *out, size_t len);
/*
 * Reads the `baggage` header @hdr (borrowed, may be NULL) as Istio's ztunnel does: the keys it
 * writes, a k8s.<kind>.name of its kinds (deployment, cronjob, pod, job). Only values of a
 * label's shape ([A-Za-z0-9._-], they land in metric labels) are taken. 0 when it named
 * anything, -ENOENT when nothing, -EINVAL for no header; @b is filled (or zeroed) either way.
 */
int hbone_baggage_parse(const char *hdr, struct hbone_peer_baggage *b);

/* A CONNECT received by a server connection. All strings borrowed for the callback only. */
struct hbone_request {
	const char *authority;		 /* "ip:port" as sent */
	const char *forwarded;		 /* raw `forwarded` header, or NULL */
	const char *peer_identity;	 /* the client's verified spiffe:// URI SAN */
	union sockaddr_inet local;	 /* accepted socket's local address (the destination pod) */
	union sockaddr_inet peer;	 /* the TCP peer (the client's node) */
	const struct h2_header *headers; /* the whole header block (baggage, traceparent, ...) */
	size_t nheaders;
	/*
	 * CONNECT-UDP (RFC 9298): `:protocol connect-udp`, whose path names the same target as
	 * @authority (else it was answered 400). Taken with an in-process end (hbone_udp_accept).
	 */
	bool udp;
};

/*
 * An end of a stream that is no socket: an in-process consumer and producer of the tunnelled
 * bytes. On a server stream, the waypoint terminating HBONE; on a client stream
 * (hbone_pool_open_end), the waypoint sending to its destination. Called on the pool's loop
 * thread; it writes towards the peer with hbone_stream_write and hbone_stream_shutdown.
 */
struct hbone_end_ops {
	/*
	 * The peer's bytes (borrowed for the call): returns how many it took. What it leaves is
	 * offered again after hbone_stream_ready; meanwhile the peer stops at the stream window.
	 */
	size_t (*data)(void *arg, struct hbone_stream *s, const uint8_t *p, size_t len);
	/* The peer half-closed (END_STREAM, after its last byte). */
	void (*eof)(void *arg, struct hbone_stream *s);
	/* hbone_stream_write takes bytes again (after it took fewer than given). */
	void (*writable)(void *arg, struct hbone_stream *s);
	/* The stream ended, @reset when abnormally (@reason borrowed): the last call. */
	void (*closed)(void *arg, struct hbone_stream *s, const char *reason, bool reset);
	/*
	 * May be NULL. Server: the stream this end was given to, before its 200 is sent and any
	 * other call (an end that may have to abort it before its first byte keeps it).
	 */
	void (*attached)(void *arg, struct hbone_stream *s);
};

/* Room for a workload's `baggage` (cluster, namespace, workload, service, version...). */
#define HBONE_BAGGAGE_MAX 640

/* Where an accepted CONNECT goes: a socket, or an in-process far end. */
struct hbone_upstream {
	int fd; /* a non-blocking socket connecting upstream (taken), or -1 with @end */
	const struct hbone_end_ops *end; /* borrowed: must outlive the stream */
	void *end_arg;
	struct connrec *rec; /* taken, may be NULL: closed when the stream ends */
	/*
	 * The 200's `baggage` ("": none): the destination workload, as Istio's ztunnel answers
	 * (its ENABLE_RESPONSE_BAGGAGE, on by default). A refusal carries none.
	 */
	char baggage[HBONE_BAGGAGE_MAX];
};

/*
 * Decides a CONNECT. Returns 0 with @up filled (fd -1, end NULL and baggage "" on entry), or
 * an HTTP status (400, 401, 503) to refuse. With a socket the 200 goes out once it connected;
 * with an in-process end at once.
 */
typedef int (*hbone_accept_fn)(void *user, const struct hbone_request *req,
			       struct hbone_upstream *up);

/*
 * An in-process end's bytes towards the peer (@p borrowed): returns how many were taken
 * (buffered up to HBONE_TCP_BUF; fewer, or 0 on a client stream before its 200: wait for its
 * writable), or -EPIPE once it cannot send.
 */
ssize_t hbone_stream_write(struct hbone_stream *s, const void *p, size_t len);
/* An in-process end sends nothing more: END_STREAM once what it wrote is out. */
void hbone_stream_shutdown(struct hbone_stream *s);
/* An in-process end can take what it left: offered again. */
void hbone_stream_ready(struct hbone_stream *s);
/* An in-process end gives up: the stream is reset (its closed callback still runs). */
void hbone_stream_abort(struct hbone_stream *s, const char *reason);
/* A client stream's CONNECT answer (200, 401, 503...), 0 before one came. */
int hbone_stream_status(const struct hbone_stream *s);
/* Bytes an in-process end wrote that HTTP/2 has not taken yet (what waits behind the window). */
size_t hbone_stream_queued(const struct hbone_stream *s);

/*
 * Per-worker set of HBONE connections: client connections keyed by (source identity,
 * destination) for reuse, and the server connections the worker accepted.
 * @lim (copied) may be NULL for hbone_limits_default. NULL + errno. */
struct hbone_pool *hbone_pool_create(struct loop *l, const struct hbone_limits *lim);
/* Resets every connection of the pool and frees it. Accepts NULL. */
void hbone_pool_destroy(struct hbone_pool *p);
/*
 * Drains @p for a process that stops accepting (an upgrade): every connection ends gracefully
 * (h2_conn_drain) once its streams are done, a client connection is reused no more, and new
 * opens get connections of their own that drain in turn.
 */
void hbone_pool_drain(struct hbone_pool *p);
/* Number of live connections, client and server (for tests). */
size_t hbone_pool_size(const struct hbone_pool *p);

/*
 * Serves HBONE on the accepted socket @fd (taken) on @p's loop with @ctx (a server context; a
 * reference is taken). @on_accept/@user are borrowed and must outlive the connection. @slot
 * (may be NULL) is the connection's share of the listener (moved in: released with it). 0 or
 * -errno (then @fd is closed and @slot released).
 */
int hbone_server_start(struct hbone_pool *p, int fd, struct tls_ctx *ctx, hbone_accept_fn on_accept,
		       void *user, struct guard_slot *slot);

/*
 * The owner of a client stream's opening phase (the proxy, which retries). With it the stream
 * starts without a connection record, and exactly one of the two runs, on the pool's loop thread
 * and never from inside hbone_pool_open itself.
 */
struct hbone_open_ops {
	/*
	 * The server answered 200: returns the record the stream takes (may be NULL), and moves
	 * the client connection's share of its listener into @slot (the stream holds it now).
	 * @peer (borrowed for the call) is the destination as the 200's `baggage` describes it
	 * (all "" when it had none): the server's word, for labels the caller cannot fill itself.
	 */
	struct connrec *(*established)(void *arg, struct guard_slot *slot,
				       const struct hbone_peer_baggage *peer);
	/*
	 * The stream ended before a 200: TCP connect refused, reset or timed out, TLS failed or was
	 * closed, the connection died, or the CONNECT was answered @status (0: no answer). @fd, the
	 * client socket, is handed back untouched (taken: never read). @reason is borrowed for the
	 * call. @retryable is false for a 401 (policy) and when the pool is going away.
	 */
	void (*failed)(void *arg, int fd, int status, const char *reason, bool retryable);
};

struct hbone_target {
	union sockaddr_inet addr;  /* where to open TLS: destPodIP:15008 */
	const char *authority;	   /* CONNECT :authority, "podIP:port" or "[podIPv6]:port" */
	const char *forwarded_for; /* client node for `forwarded: for=` ("\"ip:port\"", or an IP) */
	const char
	    *forwarded_host; /* `forwarded: host=`: the Service hostname addressed, or NULL */
	const char *baggage; /* W3C `baggage` (the client workload, as Istio's ztunnel), or NULL */
	const char *traceparent; /* W3C `traceparent`, or NULL */
	const char *identity;	 /* source identity: pool key, and the certificate in @ctx */
	const char *expect_san;	 /* the destination workload's identity */
	struct tls_ctx *ctx;	 /* client context of @identity (a reference is taken) */
	/*
	 * In-pod capture: the client pod's netns, where the connection is opened (and pooled per
	 * netns); borrowed for the call. NULL: the caller's own.
	 */
	const struct sock_ns *ns;
	const struct hbone_open_ops *ops; /* borrowed, may be NULL: see hbone_pool_open */
	void *ops_arg;			  /* borrowed: must stay valid until one of @ops has run */
	/*
	 * Istio's double HBONE, to a global Service's endpoints in another network: @addr is that
	 * network's east-west gateway, reached by an outer CONNECT @via_authority ("<Service
	 * hostname>:<port>") checked against @via_san (the gateway's identity); this target's TLS,
	 * checked against @expect_san (which may list the endpoints' identities, space-separated),
	 * and its CONNECT run inside that stream. Inner connections are pooled like any other,
	 * keyed also by @via_authority and @via_slot: the gateway picks an endpoint per outer
	 * stream, so each inner connection reaches one endpoint and the caller spreads its
	 * connections over as many slots as the network has endpoints. NULL: direct.
	 */
	const char *via_authority;
	const char *via_san;
	unsigned int via_slot;
	/*
	 * Told how the gateway answered a new inner connection's outer CONNECT (may be NULL):
	 * @status 200, another status (it is there, but could not take the stream: the Service or
	 * its endpoint there), or 0 (no TCP connection, TLS failed, no answer), with @via_key as
	 * given (the caller's name for what it asked for). Runs on the pool's loop;
	 * @via_health_arg must outlive the pool.
	 */
	void (*via_health)(void *arg, const union sockaddr_inet *gateway, int status, uint64_t key);
	void *via_health_arg;
	uint64_t via_key;
	const char *network; /* `x-forwarded-network`: the client's network, or NULL */
	/*
	 * `x-istio-source` on the outer CONNECT of double HBONE ("waypoint" from a waypoint), or
	 * NULL: the gateway then sends the stream to the endpoint rather than to the Service's
	 * waypoint there, as Istio's does, so L7 runs once.
	 */
	const char *source;
	/*
	 * CONNECT-UDP (hbone_udp.h): the path of an extended CONNECT `:protocol connect-udp`
	 * naming the same target as @authority, or NULL: a TCP CONNECT.
	 */
	const char *udp_path;
};

/* A new client connection must complete its TCP handshake within this (the peer is down). */
#define HBONE_CONNECT_TIMEOUT_MS 1000
/*
 * ... and its TLS handshake within this; a CONNECT must be answered within HBONE_RESPONSE_S.
 * (The server side's deadlines are hbone_limits.)
 */
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
/* Whether a stream to @t would go on a pooled connection (else a new one would be opened). */
bool hbone_pool_reuses(struct hbone_pool *p, const struct hbone_target *t);

/*
 * The same with an in-process client end (@end/@arg borrowed, until its closed): it writes once
 * the server answered 200 (its writable runs then), and a failure before that ends in its
 * closed with @reset set (hbone_stream_status tells a 401 from the rest). @t->ops is not used.
 * @rec (taken, may be NULL) is closed with the stream. Returns the stream, or NULL + errno (then
 * @rec is closed); no callback runs from inside this call.
 */
struct hbone_stream *hbone_pool_open_end(struct hbone_pool *p, const struct hbone_target *t,
					 const struct hbone_end_ops *end, void *arg,
					 struct connrec *rec);

#endif
