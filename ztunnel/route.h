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
struct zt_rr {
	unsigned int next[ZT_RR_SLOTS];
};

struct zt_route {
	const struct snap_workload *dst_wl; /* NULL: not a known workload */
	const struct snap_service *svc;	    /* the Service when @dst was a VIP */
	struct sockaddr_in addr;	    /* the endpoint (pod ip:target port) or @dst as is */
};

/*
 * Resolves an outbound destination: a Service VIP:port becomes a ready endpoint picked with @lb
 * (@rr is the worker's round-robin cursors, @active the per-endpoint open counts for
 * least-connections, may be NULL). 0, or -EHOSTUNREACH for a VIP without a ready endpoint or
 * matching port.
 */
int zt_route_outbound(const struct snapshot *s, const struct sockaddr_in *dst, enum zt_lb lb,
		      struct zt_rr *rr, unsigned int (*active)(uint32_t ip), struct zt_route *out);

/*
 * Checks a CONNECT (HBONE inbound): @authority must name an enrolled workload of this node, and
 * a `forwarded: for=` client address is trusted only when it is a workload whose identity
 * equals @peer_id. Returns 0 (with *@dst, *@dst_wl and *@client: the address the client
 * connected from, port included when sent, or INADDR_ANY when none was claimed), 400 for a
 * malformed request or a destination not served here, or 401 for a claimed client IP that does
 * not belong to @peer_id.
 */
int zt_check_connect(const struct snapshot *s, const char *authority, const char *forwarded,
		     const char *peer_id, struct sockaddr_in *dst,
		     const struct snap_workload **dst_wl, struct sockaddr_in *client);
/*
 * The Service a connection to local workload @dst on @port was for, as Istio's ztunnel guesses
 * it for the destination reporter: the one named @host (the client's `forwarded: host=`, may be
 * NULL) if it selects @dst, else the first that selects @dst with a target port of @port. NULL
 * when none does. Borrowed from @s.
 */
const struct snap_service *zt_inbound_service(const struct snapshot *s,
					      const struct snap_workload *dst, uint16_t port,
					      const char *host);

/* Least-connections counts, shared by all workers (atomics). */
unsigned int zt_lc_active(uint32_t ip);
/* Counts @ip busy until @rec (borrowed, may be NULL) closes. */
void zt_lc_acquire(struct connrec *rec, uint32_t ip);

/* @wl (may be NULL) is an enrolled workload of @s's node. */
bool zt_local_enrolled(const struct snapshot *s, const struct snap_workload *wl);

#endif
