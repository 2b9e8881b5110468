/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The byte-stream interface (transport.h) over HBONE streams ended in process (hbone.h): how the
 * waypoint takes a CONNECT it accepted as a downstream connection, and opens its upstreams as
 * CONNECTs on its pool to the destinations' ztunnels (port 15008, the destination's identity
 * checked, its own certificate presented).
 */
#ifndef AMBIT_NET_TRANSPORT_HBONE_H
#define AMBIT_NET_TRANSPORT_HBONE_H

#include <stdint.h>

#include "hbone.h"
#include "net/transport.h"

/*
 * For an hbone_accept_fn taking a CONNECT in process: a transport (owned by the caller, who hands
 * it on, e.g. to the request engine) whose stream end fills @up. @peer (copied) is what the
 * CONNECT said. NULL + errno. If the accept then refuses after all, transport_hbone_refused
 * frees it (the stream never existed).
 */
struct transport *transport_hbone_accepted(struct loop *l, const struct transport_peer *peer,
					   struct hbone_upstream *up);
void transport_hbone_refused(struct transport *t);

/*
 * The source identity a connector opens as (borrowed for the open) and a new reference to its
 * client TLS context (the connector drops it after the open). 0, or -errno when none is held
 * (then the open fails ENOKEY).
 */
typedef int (*hbone_creds_fn)(void *arg, const char **identity, struct tls_ctx **ctx);

/*
 * Opens CONNECT streams on @p (borrowed, on @l) to destination:@port (15008) with :authority
 * the endpoint "ip:port", checking the identity connector_open is given, and `forwarded:
 * for=@self` when @self (copied, may be NULL) names the caller's own address (then the
 * destination's pod sees it, once its ztunnel checked it is the caller's identity's). An open
 * with no identity is for a destination outside the mesh: a plain TCP connection, as Istio's
 * proxies reach a workload that is not in the mesh in plaintext. A 401
 * fails the open with -EACCES, no answer or another status with -ECONNREFUSED, the deadline
 * with -ETIMEDOUT.
 */
struct connector *connector_hbone_new(struct loop *l, struct hbone_pool *p, uint16_t port,
				      const char *self, hbone_creds_fn creds, void *arg);

/*
 * Where an open for destination @dst goes when that address is not a host of its own but one
 * reached through a proxy (a gateway's Service VIP, through its waypoint): 0 with *@via the
 * address to open TLS to, of @dst's family (its port is ignored; :authority stays the
 * destination's ip:port), 1 when @dst is reached directly, -errno when it cannot be reached
 * (the open fails with that errno). Called on the connector's loop, at each open.
 */
typedef int (*hbone_via_fn)(void *arg, const union sockaddr_inet *dst, union sockaddr_inet *via);
/* Sets @c's (a connector_hbone_new one) via hook; NULL: every destination directly. */
void connector_hbone_set_via(struct connector *c, hbone_via_fn fn, void *arg);
/*
 * A destination in another network (a global Service's endpoint behind that network's east-west
 * gateway): Istio's double HBONE. TLS to @gateway (its port is the connector's) checked against
 * @gateway_san, CONNECT <@hostname>:<destination port> to it; inside that stream the inner TLS
 * checked against @sans (space-separated) and the same CONNECT, with `x-forwarded-network:
 * @network` (may be NULL). Inner tunnels are pooled by @slot (hbone_target.via_slot). The
 * strings are borrowed for the call.
 */
struct hbone_remote {
	union sockaddr_inet gateway;
	const char *gateway_san, *hostname, *sans, *network;
	unsigned int slot;
};
/* 0 with *@out filled when @dst is such a destination, 1 when not, -errno: the open fails. */
typedef int (*hbone_remote_fn)(void *arg, const union sockaddr_inet *dst, struct hbone_remote *out);
/* Sets @c's remote hook (asked before the via hook); NULL: none. */
void connector_hbone_set_remote(struct connector *c, hbone_remote_fn fn, void *arg);
/*
 * The W3C baggage @c's CONNECTs carry from now on (copied; NULL: none): the client workload as
 * Istio's ztunnel describes it, for the far end's telemetry. 0 or -ENOMEM.
 */
int connector_hbone_set_baggage(struct connector *c, const char *baggage);
/*
 * @c's own IPv6 address (text; NULL: none), claimed as `forwarded: for="[v6]"` to IPv6
 * destinations, where the IPv4 @self of connector_hbone_new would be refused (a flow keeps its
 * family); without one such CONNECTs claim nothing. 0 or -ENOMEM.
 */
int connector_hbone_set_self6(struct connector *c, const char *self6);

struct hbone_udp;
struct hbone_udp_ops;
/*
 * A UDP flow (hbone_udp.h) on @c's pool to the mesh workload at @dst, checking @identity: the
 * CONNECT-UDP its CONNECTs would be (`forwarded: for=` its own address, its baggage, by way of
 * the via hook; in another network the double HBONE through its gateway, the path and the
 * authority naming the Service), its path naming @dst. NULL + errno: EPROTONOSUPPORT (not an
 * HBONE connector, or no identity: UDP is carried for the mesh's workloads only), ENOKEY (no
 * certificate), or hbone_udp_open's.
 */
struct hbone_udp *connector_hbone_udp_open(struct connector *c, const union sockaddr_inet *dst,
					   const char *identity, const struct hbone_udp_ops *ops,
					   void *arg);

#endif
