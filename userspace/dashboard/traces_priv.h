/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the trace receiver's decoders share (traces.c, traces_json.c): the
 * span shape's bounds and rules. Nothing else includes it.
 */
#ifndef AMBIT_CLI_DASHBOARD_TRACES_PRIV_H
#define AMBIT_CLI_DASHBOARD_TRACES_PRIV_H

#include "dashboard.h"

/* Past these a name, key or value is cut (Istio cuts tags at 256 bytes unless told). */
#define SPAN_MAX_NAME 1024
#define SPAN_MAX_KEY 256
#define SPAN_MAX_VALUE 4096
/* Tags past this many are dropped. */
#define SPAN_MAX_TAGS 128

/* Formats the message into @err; returns -EINVAL. */
int dash_trace_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A new zeroed span at the end of @s (owned by it), or NULL (no memory). */
struct dash_span *dash_spans_push(struct dash_spans *s);
/* @s cut to @max bytes, back to a UTF-8 character's start: a copy, NULL on no memory. */
char *dash_trace_cut(const char *s, size_t max);
/* Adds tag @key = @value (taken) to @sp; past SPAN_MAX_TAGS it is dropped. 0 or -ENOMEM. */
int dash_span_tag(struct dash_span *sp, const char *key, char *value);
/* Whether @sp's tags say it failed (error, HTTP 5xx, Istio's response flags). */
bool dash_span_tags_error(const struct dash_span *sp);
/* @digits hex digits, not all zero, lowercased into @out (NUL-terminated). */
bool dash_trace_hex(const char *s, size_t digits, char *out);
/* A double as OTLP's JSON writes one: shortest that reads back, NaN and infinities by name. */
char *dash_trace_double(double d);

/* The JSON decoders, on the parsed body (borrowed); as dash_trace_decode, without rollback. */
int dash_trace_decode_otlp_json(const cJSON *doc, struct dash_spans *out, size_t *seen, char *err,
				size_t errlen);
int dash_trace_decode_zipkin(const cJSON *doc, struct dash_spans *out, size_t *seen, char *err,
			     size_t errlen);

#endif
