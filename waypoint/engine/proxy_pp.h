/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A gateway listener's PROXY protocol (the mesh config's gatewayTopology.proxyProtocol), as
 * Envoy's proxy_protocol listener filter: an accepted connection's first bytes are a PROXY
 * header (proxy_proto.h), read before anything else reads the socket (before a TLS
 * ClientHello, a passthrough SNI peek or an HTTP request), whose addresses become the
 * connection's: the client's is what source.ip and ipBlocks see, what x-forwarded-for gets
 * and what the access log prints. A connection without a valid header in WP_PP_TIMEOUT_MS is
 * closed with a reset (Envoy: allow_requests_without_proxy_protocol off).
 */
#ifndef AMBIT_WAYPOINT_PROXY_PP_H
#define AMBIT_WAYPOINT_PROXY_PP_H

#include <stdbool.h>
#include <stdint.h>

#include "net/loop.h"
#include "proxy.h"
#include "net/transport.h"

/* Envoy's default listener_filters_timeout. */
#define WP_PP_TIMEOUT_MS 15000

struct wp_pp;

/* The connections of one loop still waiting for their header. */
struct wp_pp_set {
	struct loop *loop;
	struct wp_pp *head;
};

/*
 * Called once the header of @fd is consumed, with @peer's client and local addresses those it
 * carried (or the connection's own, for a LOCAL or UNKNOWN header): @fd and @peer are handed
 * over (@peer copied by the transport made of it).
 */
typedef void (*wp_pp_done_fn)(void *arg, int fd, const struct transport_peer *peer);

/* Whether the current generation of @e wants a PROXY header on gateway listener @port. */
bool wp_engine_proxy_protocol(const struct wp_engine *e, uint16_t port);
/*
 * Waits on accepted @fd (taken; closed with a reset on a bad or missing header) for its
 * header, then calls @done(@arg, ...) from the loop. @peer copied, its strings borrowed until
 * @done. 0, or -ENOMEM (@fd closed).
 */
int wp_pp_start(struct wp_pp_set *s, int fd, const struct transport_peer *peer, wp_pp_done_fn done,
		void *arg);
/* Closes, with a reset, every connection of @s still waiting (a drain, a stop). */
void wp_pp_close_all(struct wp_pp_set *s);

#endif
