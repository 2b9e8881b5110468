/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Istio-compatible TCP metrics (DESIGN.md §3), the per-connection access log and the registry
 * of open connections behind the admin /connections endpoint. Thread-safe: workers open, count
 * and close records; the HTTP threads render.
 */
#ifndef ZT_METRICS_H
#define ZT_METRICS_H

#include <stdint.h>
#include <netinet/in.h>

#include "net/connrec.h"
#include "net/sock.h"

/* Istio's standard labels; NULL or "" prints "unknown" like Istio does. All borrowed. */
struct metrics_labels {
	const char *reporter; /* "source" (client side) or "destination" */
	const char *source_workload, *source_workload_namespace, *source_principal;
	const char *source_canonical_service, *source_canonical_revision;
	const char *source_app, *source_version, *source_cluster;
	const char *destination_service, *destination_service_namespace;
	const char *destination_service_name;
	const char *destination_workload, *destination_workload_namespace;
	const char *destination_canonical_service, *destination_canonical_revision;
	const char *destination_principal, *destination_app, *destination_version;
	const char *destination_cluster;
	const char *connection_security_policy; /* "mutual_tls" or "none" */
	const char *response_flags;   /* Istio ztunnel's: "DENY" (policy), "CONNECT"; NULL: "-" */
	const char *request_protocol; /* "udp" for a UDP flow (docs/udp.md); NULL: "tcp" */
};

/*
 * Counts a new connection in its series and registers it. @direction is "outbound" or
 * "inbound"; everything is copied. Returns a record (caller owns: end with connrec_close) or
 * NULL when out of memory (callers treat NULL as "not recorded", never as failure).
 */
struct connrec *connrec_open(const struct metrics_labels *labels, const union sockaddr_inet *src,
			     const union sockaddr_inet *dst, const char *direction);

/* Runs @fn(@key) when @r closes (least-connections bookkeeping). Accepts NULL @r. */
void connrec_on_close(struct connrec *r, void (*fn)(uint32_t key), uint32_t key);
/* Runs @fn(@arg) when @r closes, before it is freed (policy tracking). Accepts NULL @r. */
void connrec_on_close_ptr(struct connrec *r, void (*fn)(void *arg), void *arg);
/*
 * The authorization decision for the access log: @decision "allow"/"deny", @policy the deciding
 * object ("ns/name", "PeerAuthentication ns/name") or NULL for none. Copied; accepts NULL @r.
 */
void connrec_set_decision(struct connrec *r, const char *decision, const char *policy);
/*
 * The W3C traceparent of the connection's CONNECT (sent or received) for the access log, as
 * Istio's ztunnel keeps it to correlate its lines with the proxies' spans. Kept only when it
 * has traceparent's shape (a peer's bytes go into the log). Accepts NULL @r and @tp.
 */
void connrec_set_traceparent(struct connrec *r, const char *tp);

/* Prometheus text exposition of every series; malloc'd (caller frees) or NULL. */
char *metrics_render(void);
/* JSON array of the open connections; malloc'd (caller frees) or NULL. */
char *metrics_connections_json(void);
/* Number of open connection records (tests). */
unsigned long metrics_open_count(void);

#endif
