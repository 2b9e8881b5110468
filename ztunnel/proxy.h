/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ztunnel workers: each runs its own loop over the shared listening sockets (EPOLLEXCLUSIVE)
 * and keeps every connection it accepts, with its own HBONE pool (shared-nothing).
 */
#ifndef ZT_PROXY_H
#define ZT_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "hbone.h"
#include "splice.h"
#include "state.h"

enum zt_lb {
	ZT_LB_ROUND_ROBIN = 0,
	ZT_LB_LEAST_CONN,
};

struct zt_proxy_opts {
	int outbound_fd; /* listening sockets, borrowed; -1 to skip */
	int inbound_fd;
	int hbone_fd;
	int orig_dst_fd;     /* pinned orig_dst map, borrowed; -1 without BPF */
	uint16_t hbone_port; /* where peers listen for HBONE (15008; tests change it) */
	enum zt_lb lb;
	/* Deadlines and caps (borrowed, copied at start); NULL: the modules' defaults. */
	const struct hbone_limits *hbone;
	const struct splice_limits *splice;
};

struct zt_worker;

/* Borrows @st and @opts' fds for the worker's lifetime. NULL + errno. */
struct zt_worker *zt_worker_start(struct zt_state *st, const struct zt_proxy_opts *opts);
/* Stops the thread, resets its connections and frees it. Accepts NULL. */
void zt_worker_stop(struct zt_worker *w);

/* Decisions, exposed for unit tests. All pointers borrowed from @s. */
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

/*
 * Inbound connections (plaintext 15006, HBONE 15008, same-node short circuit) are decided by
 * authz.h with the snapshot's policy set; a new snapshot re-decides each worker's open ones.
 */

#endif
