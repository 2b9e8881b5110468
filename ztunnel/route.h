/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ztunnel's routing decisions (route.c): pure functions of a snapshot, exposed for the
 * paths that act on them and for unit tests. All pointers borrowed from @s.
 */
#ifndef ZT_ROUTE_H
#define ZT_ROUTE_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "ambit/snapshot.h"
#include "net/sock.h"

struct connrec;

enum zt_lb {
	ZT_LB_ROUND_ROBIN = 0,
	ZT_LB_LEAST_CONN,
};

/*
 * Round-robin cursors, one per service (by VIP and port, hashed into slots): with one cursor for
 * all services, calls that alternate between services in a fixed pattern (a page calling
 * details, then reviews) always landed on the same endpoint of each.
 */
#define ZT_RR_SLOTS 64
/*
 * Other networks' gateways that failed a connection (zt_gateway_failed) are passed over for
 * ZT_GW_DOWN_MS, doubled for each failure in a row up to ZT_GW_DOWN_MAX_MS, then tried again;
 * a network whose gateways are all out has no endpoint reachable, for the time being.
 */
#define ZT_GW_DOWN 16
#define ZT_GW_DOWN_MS 5000
#define ZT_GW_DOWN_MAX_MS 30000
/*
 * The same for a remote cluster's share of a Service whose new inner tunnel failed behind a
 * gateway that answered (the cluster's endpoints stopped answering, its control plane not
 * telling): the share is passed over (its endpoints elsewhere, or here, take its connections)
 * for the same times. Both tables by key: a gateway's address hashed, a share's zt_share_key.
 */
struct zt_down {
	uint64_t key; /* 0: a free slot */
	uint64_t until_ms;
	unsigned int fails;
};
struct zt_rr {
	unsigned int next[ZT_RR_SLOTS];
	uint64_t now_ms; /* the worker's clock at the routing (0: nothing is ever out) */
	struct zt_down gw_down[ZT_GW_DOWN], share_down[ZT_GW_DOWN];
};

/* Gateway @addr failed a connection at @now_ms: out for a while (struct zt_rr). */
void zt_gateway_failed(struct zt_rr *rr, const union sockaddr_inet *addr, uint64_t now_ms);
/* Gateway @addr answered: its count of failures in a row starts again. */
void zt_gateway_ok(struct zt_rr *rr, const union sockaddr_inet *addr);
/*
 * A remote share's key (its hostname and cluster), what zt_share_failed and zt_share_ok take:
 * the share failed a connection at @now_ms (out for a while) or carried one (back).
 */
uint64_t zt_share_key(const struct snap_remote_service *r);
void zt_share_failed(struct zt_rr *rr, uint64_t key, uint64_t now_ms);
void zt_share_ok(struct zt_rr *rr, uint64_t key);
/* Whether gateway @g is passed over at @now_ms (it failed lately). */
bool zt_gateway_out(struct zt_rr *rr, const struct snap_net_gateway *g, uint64_t now_ms);

struct zt_route {
	const struct snap_workload *dst_wl; /* NULL: not a known workload */
	const struct snap_service *svc;	    /* the Service when @dst was a VIP */
	/*
	 * The endpoint (pod ip:target port) or @dst as is; with a waypoint, @dst as addressed
	 * (what the CONNECT's :authority names) and @dst_wl the pod when that was a pod IP. Of
	 * @dst's family: an IPv6 one reaches the endpoint's IPv6 address.
	 */
	union sockaddr_inet addr;
	/*
	 * The waypoint that takes this traffic (API_SEMANTICS.md §9), or NULL. Then the HBONE
	 * connection goes to @wp_addr, one of its instances, whose identity must be @wp->identity;
	 * @wp_wl is that instance's workload when the snapshot knows it.
	 */
	const struct snap_waypoint *wp;
	union sockaddr_inet wp_addr;
	const struct snap_workload *wp_wl;
	/*
	 * A global Service's endpoint in another network (Istio's double HBONE): its share there,
	 * and @gw, a gateway of that network, whose address and port @addr is then; the inner
	 * connection's pool slot (which of that network's endpoints, as the gateway spreads them).
	 */
	const struct snap_remote_service *remote;
	const struct snap_net_gateway *gw;
	unsigned int via_slot;
};

/*
 * Resolves an outbound destination of @src (the client's workload, may be NULL). Traffic
 * addressed to a Service VIP whose Service is bound to a waypoint goes to that waypoint (an
 * instance picked round robin); else traffic to a pod (addressed, or picked from a Service)
 * whose workload is bound to a waypoint goes to that one; never when @src is the waypoint
 * itself. Otherwise a Service VIP:port becomes a ready endpoint picked with @lb (@rr is the
 * worker's round-robin cursors, @active the per-endpoint open counts for least-connections, may
 * be NULL). An IPv6 @dst is a pod's ip6 or a Service's vip6, whose endpoint is taken by its
 * workload's ip6 (endpoints without one are passed over), or when the Service has IPv6 slices'
 * endpoints (endpoints6), one of those, round robin; or a ServiceEntry's vip6 (or in its
 * IPv6 CIDRs), whose endpoints are reached by their pod's ip6 or, outside the cluster, over
 * IPv4. A global Service's endpoints in other networks (its remote shares) are picked with its
 * own, round robin over all of them by count, and reached through a gateway of their network
 * (@remote, @gw). 0, or -EHOSTUNREACH for a VIP without a ready endpoint or matching port, or
 * a waypoint without an instance.
 */
int zt_route_outbound(const struct snapshot *s, const struct snap_workload *src,
		      const union sockaddr_inet *dst, enum zt_lb lb, struct zt_rr *rr,
		      unsigned int (*active)(uint32_t ip), struct zt_route *out);

/*
 * Whether @port is one of the proxy's own in a pod, which no tunnel may target: 15001, 15006,
 * 15008, Istio's ztunnel's illegal_ports. DNS (15053) and the node's admin, stats and readiness
 * ports (15000, 15020, 15021) are not, in Istio either: a CONNECT to those goes to the pod.
 */
bool zt_proxy_port(uint16_t port);
/* A CONNECT the destination's ztunnel takes (HBONE inbound). */
struct zt_connect {
	const char *authority; /* "ip:port", "[v6]:port", or Istio's "<Service hostname>:<port>" */
	const char *forwarded; /* the `forwarded` header, or NULL */
	const char *peer_id;   /* the client's verified identity */
	/* The accepted socket's local address (the pod): the destination of a hostname authority.
	 */
	const union sockaddr_inet *local;
	const char *network; /* x-forwarded-network: the client's network, or NULL */
};
/*
 * Checks a CONNECT (HBONE inbound): @c->authority must name an enrolled workload of this node on
 * a port that is not the proxy's (zt_proxy_port), by its address, or (Istio's double HBONE, the
 * inner CONNECT an east-west gateway passed on) by the hostname and port of a Service selecting
 * the pod at @c->local, whose target port on that pod is the destination. A `forwarded: for=`
 * client address is trusted only when it is a workload whose identity equals @c->peer_id, and
 * not looked at when @c->network names another network than this node's. Returns 0 (with *@dst,
 * *@dst_wl and *@client: the address the client connected from, port included when sent, or
 * family 0 when none was claimed), 400 for a malformed request, a destination not served here
 * (a host no Service of the pod has, a port it lacks), or a claimed client of another family
 * than the destination's, 503 for a proxy port (as Istio's ztunnel), or 401 for a claimed client
 * IP that does not belong to the peer, or for a destination bound to a waypoint
 * (zt_waypoint_bypass) reached by anyone but that waypoint. An IPv6 authority ("[v6]:port")
 * names the workload by its ip6.
 */
int zt_check_connect(const struct snapshot *s, const struct zt_connect *c, union sockaddr_inet *dst,
		     const struct snap_workload **dst_wl, union sockaddr_inet *client);
/* The Service host @c addressed: its `forwarded: host=`, else a hostname authority's host. */
bool zt_connect_host(const struct zt_connect *c, char *host, size_t len);
/* Whether @authority is "<name>:<port>" (not an address): the name into @host, the port. */
bool zt_authority_host(const char *authority, char *host, size_t len, uint16_t *port);
/*
 * Whether a CONNECT from @peer_id to local workload @dst bypasses a waypoint: the waypoint of the
 * Service the client addressed (@host: its `forwarded: host=`, may be NULL) when that Service
 * selects @dst and has one, else @dst's own (workload) waypoint. Returns that waypoint when
 * @peer_id is not its identity, else NULL (no waypoint, or the waypoint itself is calling).
 */
const struct snap_waypoint *zt_waypoint_bypass(const struct snapshot *s,
					       const struct snap_workload *dst, const char *host,
					       const char *peer_id);
/*
 * The Service a connection to local workload @dst on @port was for, as Istio's ztunnel guesses
 * it for the destination reporter: the one named @host (the client's `forwarded: host=`, may be
 * NULL) if it selects @dst, else the first that selects @dst with a target port of @port. NULL
 * when none does. Borrowed from @s.
 */
const struct snap_service *zt_inbound_service(const struct snapshot *s,
					      const struct snap_workload *dst, uint16_t port,
					      const char *host);

/*
 * Whether a plain (passthrough) connection of local pod @client to @r, routed with @s, leaves
 * this node's namespace with @client as its source address, as Istio's ztunnel's do (it opens
 * them inside the client pod's netns): only to a pod of the cluster outside the mesh
 * (@r->dst_wl, addressed or picked from a Service; the ingress gateway is the case that
 * matters, whose ipBlocks name pods), and only where the node captures in host mode (@s's
 * capture; on a bridge CNI the agent's auto takes in-pod): the answers reach this node's
 * uplink or, on this node, that pod's host veth, where tc hands them to the socket
 * (KERNEL_NOTES.md, mechanism 2). On a bridge they would reach the pod at L2, past tc: in-pod
 * mode opens these in the pod's netns instead, and its pods not set up there yet keep the
 * node's address. Not to the client itself, nor to a workload at its node's address (the node
 * would answer itself), nor outside the cluster, where a pod's address leaving the node's
 * netns gets no SNAT from the CNI: those keep the node's address.
 */
bool zt_passthrough_as_client(const struct snapshot *s, const struct zt_route *r,
			      const union sockaddr_inet *client);

/*
 * The least-connections key of a connection to @a (its workload @wl, may be NULL): a pod's IPv4
 * address, also for its IPv6 one (the same pod); else, an IPv6-only pod or an IPv6 endpoint
 * outside the cluster, its IPv6 address folded to 32 bits (never 0; two that fold alike share a
 * count). 0: nothing to count.
 */
uint32_t zt_lc_key(const struct snap_workload *wl, const struct ipaddr *a);
/* Least-connections counts, shared by all workers (atomics). */
unsigned int zt_lc_active(uint32_t ip);
/* Counts @ip busy until @rec (borrowed, may be NULL) closes. */
void zt_lc_acquire(struct connrec *rec, uint32_t ip);

/* @wl (may be NULL) is an enrolled workload of @s's node. */
bool zt_local_enrolled(const struct snapshot *s, const struct snap_workload *wl);

#endif
