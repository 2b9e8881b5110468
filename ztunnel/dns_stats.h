/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DNS proxy's metrics, as Istio's ztunnel names them (src/dns/metrics.rs): counters
 * istio_dns_requests_total (every query the proxy read), istio_dns_upstream_requests_total
 * (those it forwarded), istio_dns_upstream_failures_total (forwarded ones no resolver answered)
 * and the histogram istio_dns_upstream_request_duration_seconds, each by request_query_type
 * ("a", "aaaa", "srv"...), request_protocol ("udp", "tcp") and the client's
 * source_canonical_service and source_canonical_revision ("unknown" for a client the snapshot
 * does not know). One series per combination, made on first use and never freed (at most
 * DNS_STATS_MAX; then counted under the last one's labels with the type "other").
 */
#ifndef ZT_DNS_STATS_H
#define ZT_DNS_STATS_H

#include <stdbool.h>
#include <stdint.h>

struct snap_workload;
struct dns_series;

#define DNS_STATS_MAX 1024

/*
 * The series of a query of type @qtype (-1: unreadable) over TCP or not from @client (may be
 * NULL), made on first use; never NULL. Thread-safe; the series stays valid for the process.
 */
struct dns_series *dns_stats_series(int qtype, bool tcp, const struct snap_workload *client);
void dns_stats_request(struct dns_series *s);
/* @n queries at once (those the kernel answered, ztunnel/dns_kernel.h). */
void dns_stats_requests(struct dns_series *s, uint64_t n);
void dns_stats_forwarded(struct dns_series *s);
/* A forwarded query ended after @seconds: answered, or (@failed) by no resolver. */
void dns_stats_forward_done(struct dns_series *s, bool failed, double seconds);
/* The four metrics in Prometheus text, HELP and TYPE included (malloc'd), or NULL. */
char *dns_stats_render(void);

#endif
