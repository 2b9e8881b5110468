/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the ztunnel's paths record of a connection (record.c): Istio's labels, a denial's
 * record and access-log line, and the socket helpers they share.
 */
#ifndef ZT_RECORD_H
#define ZT_RECORD_H

#include <stdbool.h>
#include <netinet/in.h>

#include "ambit/snapshot.h"
#include "metrics.h"

struct authz_result;

/*
 * Istio's labels of a connection; all strings borrowed from the arguments (and the snapshot).
 * @cluster is the snapshot's cluster id: both ends' cluster (a destination the local view does
 * not know may take its own from its ztunnel's baggage, zt_labels_from_peer).
 */
void zt_fill_labels(struct metrics_labels *l, const char *reporter, const char *cluster,
		    const struct snap_workload *src, const char *src_principal,
		    const struct snap_workload *dst, const struct snap_service *svc, bool mtls);
/*
 * Workload @wl as Istio's ztunnel describes it in `baggage` (API_SEMANTICS.md §9), into @out
 * (@len bytes; "" when it does not fit): the client's on a CONNECT, the destination's on a 200.
 */
void zt_baggage(const struct snap_workload *wl, const char *cluster, char *out, size_t len);
/*
 * The destination labels of @l that the local view left empty, from what the destination's
 * ztunnel said of itself in its 200's `baggage` (@peer, borrowed as long as @l is), as Istio's
 * client takes them from it when it does not know the workload (its cluster too). Never the
 * principal: that is the TLS handshake's.
 */
struct hbone_peer_baggage;
void zt_labels_from_peer(struct metrics_labels *l, const struct hbone_peer_baggage *peer);
/* The peer (@peer) or local address of @fd, if IPv4 or IPv6. */
bool zt_addr_of(int fd, bool peer, union sockaddr_inet *out);
/* The address of @sa as policy and the snapshot take it (family 0 when it has none). */
struct ipaddr zt_ip_of(const union sockaddr_inet *sa);
/* The workload of @s at @sa's address, of either family (borrowed), or NULL. */
const struct snap_workload *zt_workload_at(const struct snapshot *s, const union sockaddr_inet *sa);
/* One record and access-log line for a connection @ar denied. All borrowed. */
void zt_record_denial(struct metrics_labels *labels, const union sockaddr_inet *src,
		      const union sockaddr_inet *dst, const char *direction,
		      const struct authz_result *ar);
/* One record and access-log line for a connection refused under REGISTRY_ONLY. Borrowed. */
void zt_record_blackhole(struct metrics_labels *labels, const union sockaddr_inet *src,
			 const union sockaddr_inet *dst);

#endif
