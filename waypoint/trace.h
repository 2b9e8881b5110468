/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Distributed tracing as Envoy does it for Istio: the trace context a request carries (W3C
 * traceparent, B3 as one `b3` field or as x-b3-*), the spans a proxy makes, and their two
 * export encodings (Zipkin v2 JSON, OTLP protobuf). Pure functions: the request engine
 * (proxy_trace.c) decides when, and sends them.
 */
#ifndef AMBIT_WAYPOINT_TRACE_H
#define AMBIT_WAYPOINT_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "http/http_fields.h"
#include "net/prom.h"

/* The caller's trace context. */
struct wp_trace_ctx {
	uint8_t trace_id[16]; /* a 64-bit B3 id sits in the low 8 bytes, the high ones zero */
	uint8_t parent_id[8]; /* the caller's span: the proxy's server span's parent */
	bool has_parent;
	int sampled;	/* -1: the caller did not decide; 0; 1 */
	bool b3_single; /* the caller sent `b3`: the proxy sends it on too */
};

/*
 * The trace context of request fields @f: traceparent (version 00 and later, all-zero ids
 * refused), else b3, else x-b3-traceid/-spanid/-sampled/-flags; a sampling decision alone
 * (b3: 0, x-b3-sampled without ids) sets only @ctx->sampled. true when a trace id was read;
 * malformed fields are ignored as Envoy does (a new trace starts).
 */
bool wp_trace_extract(const struct http_fields *f, struct wp_trace_ctx *ctx);
/*
 * The context the proxy sends upstream replaces the caller's: traceparent (trace, @span,
 * sampled flag), x-b3-traceid, x-b3-spanid (@span), x-b3-parentspanid (@parent), x-b3-sampled,
 * and b3 when the caller used it; tracestate and baggage pass unchanged. 0 or -ENOMEM.
 */
int wp_trace_inject(struct http_fields *f, const struct wp_trace_ctx *ctx, const uint8_t span[8],
		    const uint8_t parent[8], bool sampled);
/* @n random bytes, never all zero. */
void wp_trace_random_id(uint8_t *out, size_t n);
/* @n bytes as lowercase hex into @out (2n + 1 bytes). */
void wp_trace_hex(const uint8_t *in, size_t n, char *out);

#define WP_SPAN_TAGS_MAX 48

/* One finished span; its strings in @mem (offsets, so it can grow). */
struct wp_span {
	uint8_t trace_id[16], span_id[8], parent_id[8];
	bool has_parent, client, error;
	uint64_t start_us, duration_us; /* wall clock, µs since the epoch */
	uint32_t name;
	uint16_t n_tags;
	uint32_t key[WP_SPAN_TAGS_MAX], value[WP_SPAN_TAGS_MAX];
	char *mem;
	uint32_t len, cap;
	/*
	 * Its first @shared tags are @from's (wp_span_begin_from): when @from is the span just
	 * before it in a batch, the encoders write them once for both (never dereferenced).
	 */
	const struct wp_span *from;
	uint16_t shared;
	/*
	 * Its first @fixed tags are the proxy's own, the same on every span it makes until its
	 * configuration changes (canonical service, mesh, namespace, cluster, node):
	 * wp_trace_otlp packs them once per batch for all the spans that start with the same ones.
	 */
	uint16_t fixed;
};

/* Resets @s for a new span named @name. 0 or -ENOMEM. */
int wp_span_begin(struct wp_span *s, const char *name);
/* Resets @s as a span named @name with the first @n_tags tags of @from. 0 or -ENOMEM. */
int wp_span_begin_from(struct wp_span *s, const struct wp_span *from, uint16_t n_tags,
		       const char *name);
/* Adds tag @key = @value (NULL: not added), cut to @max bytes (0: no limit). 0 or -ENOMEM;
 * past WP_SPAN_TAGS_MAX tags, dropped. */
int wp_span_tag(struct wp_span *s, const char *key, const char *value, size_t max);
const char *wp_span_str(const struct wp_span *s, uint32_t off);
void wp_span_free(struct wp_span *s);

/* The process the spans come from: service.name ("<canonical service>.<namespace>"), its IP. */
struct wp_trace_resource {
	const char *service;
	const char *ip;
	bool trace_id_128; /* Zipkin: 32 hex digits (else the low 64 bits) */
};

/* Zipkin v2: the JSON array of @n spans appended to @out. 0 or -ENOMEM. */
int wp_trace_zipkin(const struct wp_span *const *s, size_t n, const struct wp_trace_resource *res,
		    struct buf *out);
/* OTLP: an ExportTraceServiceRequest of @n spans, packed into a new buffer *@out (free). */
int wp_trace_otlp(const struct wp_span *const *s, size_t n, const struct wp_trace_resource *res,
		  uint8_t **out, size_t *len);

/* The process's span counters (atomic): what became of the spans made, exports that failed. */
enum wp_trace_counter {
	WP_TRACE_EXPORTED = 0,
	WP_TRACE_DROPPED,
	WP_TRACE_EXPORT_FAILED,
};
void wp_trace_count(enum wp_trace_counter c, uint64_t n);
/* The counters in Prometheus text, onto @b. */
void wp_trace_metrics(struct prom_buf *b);

#endif
