/* SPDX-License-Identifier: Apache-2.0 */
/*
 * UDP over HBONE: a flow is one CONNECT-UDP stream (RFC 9298) opened as an HTTP/2 extended
 * CONNECT (RFC 8441: `:protocol connect-udp`, `:scheme https`, `:path` the well-known template
 * /.well-known/masque/udp/<host>/<port>/) on the same mutual-TLS connections, pools and
 * identities as TCP's CONNECTs. `:authority` names the destination, as in every HBONE CONNECT,
 * and the path names it again as RFC 9298 asks; a server refuses a request whose two disagree.
 * Each datagram is a DATAGRAM capsule (RFC 9297, capsule.h), boundaries kept.
 *
 * UDP's loss, not TCP's delay: a datagram that would wait behind more than HBONE_UDP_QUEUE
 * bytes of its flow (the peer's window shut, the connection busy) is dropped and counted, never
 * queued without bound, so one busy flow holds at most that much and the other streams of the
 * connection go on. Before the CONNECT is answered a flow keeps up to HBONE_UDP_EARLY bytes of
 * datagrams (a DNS or QUIC client's first one is not lost to the round trip), then drops.
 *
 * A flow is its owner's (the ztunnel's): it decides the flow's idle time and frees it. All
 * calls and callbacks are on the pool's loop thread.
 */
#ifndef AMBIT_HBONE_UDP_H
#define AMBIT_HBONE_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hbone.h"

struct h2_header;
struct hbone_udp;

/* A flow's bytes waiting behind the HTTP/2 window before its datagrams are dropped. */
#define HBONE_UDP_QUEUE (128u << 10)
/* ... and waiting for the CONNECT's answer. */
#define HBONE_UDP_EARLY (64u << 10)
/* Room for the path of any target (a host name of 253 bytes, the port, the template). */
#define HBONE_UDP_PATH_MAX 320

struct hbone_udp_ops {
	/* A datagram from the peer (@p borrowed for the call; @len may be 0: UDP has those). */
	void (*datagram)(void *arg, struct hbone_udp *f, const uint8_t *p, size_t len);
	/*
	 * The flow ended (the peer reset or ended it, the connection died, a malformed capsule,
	 * or a client flow's CONNECT was refused: hbone_udp_status): the last call, @reason
	 * borrowed. The owner frees the flow, from here or later.
	 */
	void (*closed)(void *arg, struct hbone_udp *f, const char *reason);
};

/* A flow's counts. */
struct hbone_udp_stats {
	uint64_t sent, sent_bytes;	   /* datagrams handed to the stream, and their payload */
	uint64_t received, received_bytes; /* datagrams from the peer, and their payload */
	uint64_t dropped_full;		   /* dropped: HBONE_UDP_QUEUE bytes already waiting */
	uint64_t dropped_early;		   /* dropped: HBONE_UDP_EARLY bytes waiting for the 200 */
	uint64_t other_ctx, other_types;   /* the peer's capsules dropped / skipped (capsule.h) */
};

/*
 * The path of the well-known template for @host (an IP address or a DNS name; an IPv6 address's
 * colons percent-encoded, as RFC 6570 expands it) and @port into @out: its length, or -EINVAL
 * (not an address or a name, port 0) or -ENOSPC.
 */
int hbone_udp_path(char *out, size_t cap, const char *host, uint16_t port);
/*
 * Reads a path of the template back: the host (decoded) into @host and the port. 0, or -EINVAL
 * (another path, a port out of range, a host that is neither an address nor a name).
 */
int hbone_udp_parse_path(const char *path, char *host, size_t cap, uint16_t *port);

/*
 * Client: opens a flow to @t (its udp_path set, as hbone_udp_path makes it; @t->ops is not
 * used), on a pooled connection or a new one. Datagrams may be sent at once (kept until the
 * answer, within HBONE_UDP_EARLY). NULL + errno: EPROTONOSUPPORT when the server said it takes
 * no extended CONNECT (an older ambit, Istio's ztunnel), EINVAL without a udp_path. No callback
 * runs from inside the call.
 */
struct hbone_udp *hbone_udp_open(struct hbone_pool *p, const struct hbone_target *t,
				 const struct hbone_udp_ops *ops, void *arg);
/*
 * Server: takes the CONNECT-UDP @req (req->udp) into a new flow, from an accept function that
 * decided to let it through: fills @up's in-process end. NULL + ENOMEM (answer 503). An accept
 * function that refuses after all frees the flow itself (hbone_udp_free).
 */
struct hbone_udp *hbone_udp_accept(const struct hbone_request *req, struct hbone_upstream *up,
				   const struct hbone_udp_ops *ops, void *arg);

/*
 * One datagram towards the peer (@p borrowed). 0, or: -ENOBUFS, dropped and counted (the flow's
 * queue is full, or before the answer its early room); -EMSGSIZE over CAPSULE_UDP_MAX; -EPIPE
 * once the flow ended.
 */
int hbone_udp_send(struct hbone_udp *f, const void *p, size_t len);
/* The flow's counts (borrowed, live). */
const struct hbone_udp_stats *hbone_udp_stats(const struct hbone_udp *f);
/* Client: the CONNECT's answer (200, 401, 503...), 0 before one came. */
int hbone_udp_status(const struct hbone_udp *f);
/* The flow's stream is up: the server answered (client) or its answer is sent (server). */
bool hbone_udp_established(const struct hbone_udp *f);
/*
 * Ends the flow (its stream reset if still up, without a closed call) and frees it. Accepts
 * NULL. May be called from the flow's own callbacks.
 */
void hbone_udp_free(struct hbone_udp *f);

#endif
