/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What each request leaves behind: one access-log line (Istio's default text format, or its
 * JSON keys with --log-format json) and Istio's request metrics with reporter="waypoint":
 * istio_requests_total, istio_request_duration_milliseconds, istio_request_bytes and
 * istio_response_bytes, with Istio's full label set and bucket bounds (and, for connections
 * the waypoint passes as TCP, istio_tcp_*). Each worker records
 * into its own store (its own lock, taken by the admin thread only to render), so the request
 * path shares no lock between workers.
 */
#ifndef AMBIT_WAYPOINT_STATS_H
#define AMBIT_WAYPOINT_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <netinet/in.h>

#include "net/sock.h"

/*
 * Telemetry's metrics overrides for one request or connection (all borrowed): the metrics not
 * made (@off) and the tag operations in order (@value NULL: the tag removed, else set, a new
 * tag added), each for the metrics in its @metrics, as bits of enum l7_metric (ambit/l7.h):
 * request count, duration, request size, response size, then the four TCP metrics.
 */
struct wp_tag_op {
	uint32_t metrics;
	const char *tag, *value;
};

struct wp_metric_ops {
	uint32_t off;
	size_t n;
	const struct wp_tag_op *ops;
};

/* One finished request, as the access log and the metrics see it (all borrowed). */
struct wp_record {
	struct timespec start; /* wall clock */
	const char *method, *path, *protocol, *authority;
	const char *user_agent, *request_id, *forwarded_for;
	int status;	   /* 0: none was sent (DC) */
	const char *flags; /* "-" when none */
	const char *details;
	uint64_t bytes_received, bytes_sent, duration_ms;
	int64_t upstream_ms; /* -1: no upstream answer */
	const char *upstream_host, *upstream_cluster, *route_name;
	const char *server_name; /* the ClientHello's SNI (%REQUESTED_SERVER_NAME%), or NULL */
	union sockaddr_inet downstream_remote, downstream_local; /* either family */
	/* The same as text when the caller has it (a connection's, made once), else NULL. */
	const char *downstream_remote_text, *downstream_local_text;
	/* Istio labels (NULL or "" renders "unknown"). */
	const char *source_workload, *source_namespace, *source_principal, *source_app;
	const char *source_version, *source_canonical_service, *source_canonical_revision;
	const char *destination_workload, *destination_namespace, *destination_principal;
	const char *destination_app, *destination_version, *destination_canonical_service;
	const char *destination_canonical_revision;
	const char *destination_service, *destination_service_name;
	const char *destination_service_namespace;
	/* The ends' clusters (Istio's clusterName; NULL or "" renders SNAP_CLUSTER_ID). */
	const char *source_cluster, *destination_cluster;
	int grpc_status; /* -1: none */
	bool mtls;
	/* Istio's reporter: NULL for "waypoint"; a gateway's is "source" (the client side). */
	const char *reporter;
	const struct wp_metric_ops *mo; /* NULL: Istio's metrics as they are */
};

/* Storage for the source labels wp_record_source_baggage fills in. */
struct wp_baggage_labels {
	char ns[64], workload[128], service[128], version[64], cluster[128];
};

/*
 * Fills @r's source workload labels from the W3C baggage the client's ztunnel sent
 * (k8s.namespace.name, k8s.<type>.name, service.name, service.version, k8s.cluster.name:
 * Istio's peer metadata for clients the configuration does not know), into @buf. Only when
 * its namespace is @identity_ns, the one the client's verified identity names. true when it
 * did; @r's source_cluster is set only when the baggage names one.
 */
bool wp_record_source_baggage(struct wp_record *r, const char *baggage, const char *identity_ns,
			      struct wp_baggage_labels *buf);

struct wp_stats;
struct loop;

/*
 * A worker's access log: the lines of one loop batch go out together after it, in writes of
 * whole lines of at most PIPE_BUF bytes (so the lines of several workers sharing a pipe never
 * interleave), instead of a write per request.
 */
struct wp_log;

/* A log writing to @fd (borrowed), as JSON when @json, flushed from @l's batches. NULL + errno. */
struct wp_log *wp_log_new(struct loop *l, int fd, bool json);
/*
 * Writes what is pending and frees @lg: after its loop's current batch when a flush is queued
 * (the loop may run on). Accepts NULL.
 */
void wp_log_free(struct wp_log *lg);

/* A worker's store. NULL + errno. */
struct wp_stats *wp_stats_new(void);
void wp_stats_free(struct wp_stats *s); /* accepts NULL */
/* Counts @r (with overrides: its series are not remembered by key). */
void wp_stats_count(struct wp_stats *s, const struct wp_record *r);
/* Counts @r into @s (NULL: not counted) and logs its access-log line to @lg (NULL: none). */
void wp_stats_record(struct wp_stats *s, const struct wp_record *r, struct wp_log *lg);

/*
 * What decides a request's series within one configuration generation: Istio's labels are a
 * function of it. Looking a series up by it costs a few words compared, where building the
 * label set (25 values, the client's and the endpoint's workload labels) and its key cost more
 * than the rest of the request's accounting. Zero it before filling (it is compared whole).
 */
struct wp_series_key {
	uint64_t gen;	 /* the generation's number (struct wp_gen.seq) */
	const void *src; /* the client's endpoint in it, or NULL */
	uint64_t peer;	 /* the connection's identity and baggage, hashed (wp_series_peer) */
	const void *svc; /* the destination Service, or NULL */
	const void *ep;	 /* the endpoint picked, or NULL */
	int32_t status;	 /* response_code */
	int32_t grpc;	 /* grpc_response_status, -1: none */
	uint32_t flags;	 /* the response flags, as bits */
	uint32_t mtls;	 /* connection_security_policy */
};

/* The hash of a connection's peer identity and baggage, for wp_series_key.peer. */
uint64_t wp_series_peer(const char *identity, const char *baggage);
/* Counts @r into the series @s has under @k: false when it has none (then nothing counted). */
bool wp_stats_count_key(struct wp_stats *s, const struct wp_series_key *k,
			const struct wp_record *r);
/* Counts @r, its labels filled, and remembers its series under @k. */
void wp_stats_count_labels(struct wp_stats *s, const struct wp_series_key *k,
			   const struct wp_record *r);
/* Only the access-log line of @r. */
void wp_stats_log(struct wp_log *lg, const struct wp_record *r);
/*
 * A TCP connection's series (istio_tcp_connections_opened_total / _closed_total,
 * istio_tcp_sent_bytes_total / _received_bytes_total, Istio's TCP labels from @r): found or
 * made in @s and counted opened; its bytes are added as they pass (sent: to the client), and
 * it is counted closed once. The series lives as long as @s. NULL (nothing counted) when @s
 * is NULL or out of memory; the others accept NULL.
 */
struct wp_tcp_series;
struct wp_tcp_series *wp_stats_tcp_open(struct wp_stats *s, const struct wp_record *r);
void wp_stats_tcp_bytes(struct wp_stats *s, struct wp_tcp_series *x, uint64_t sent,
			uint64_t received);
void wp_stats_tcp_close(struct wp_stats *s, struct wp_tcp_series *x);
/* Prometheus text of the request and TCP metrics of all @n stores, merged. malloc'd or NULL. */
char *wp_stats_render(struct wp_stats *const *stores, size_t n);

#endif
