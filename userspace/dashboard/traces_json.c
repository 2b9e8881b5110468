// SPDX-License-Identifier: Apache-2.0
/*
 * The trace receiver's JSON decoders (traces.c has the span shape's rules): OTLP's
 * JSON encoding of ExportTraceServiceRequest (lowerCamelCase names; ids in hex, not base64;
 * 64-bit integers as strings or numbers; enums by number or by name) and Zipkin v2 JSON
 * (zipkin-api's ListOfSpans: ids in hex, times in microseconds, tags all strings).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "traces_priv.h"

/* OTLP JSON's names for the kinds, in enum dash_span_kind's order. */
static const char *const otlp_kind_names[] = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL",
					      "SPAN_KIND_SERVER",      "SPAN_KIND_CLIENT",
					      "SPAN_KIND_PRODUCER",    "SPAN_KIND_CONSUMER"};
/* Zipkin's, from DASH_SPAN_SERVER on. */
static const char *const zipkin_kind_names[] = {"SERVER", "CLIENT", "PRODUCER", "CONSUMER"};

/* @o's member @k; NULL when absent or null (proto3 JSON's "not set"). */
static const cJSON *jget(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNull(v) ? NULL : v;
}

/* A JSON number that is a whole number in [@min, @max]. */
static bool json_whole(const cJSON *v, double min, double max, double *out)
{
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < min ||
	    v->valuedouble > max || v->valuedouble != floor(v->valuedouble))
		return false;
	*out = v->valuedouble;
	return true;
}

/* OTLP's fixed64: a string of decimal digits, or a number. */
static bool json_u64(const cJSON *v, uint64_t *out)
{
	double d;

	if (cJSON_IsString(v)) {
		const char *s = v->valuestring;
		char *end;

		if (!*s || strlen(s) > 20 || strspn(s, "0123456789") != strlen(s))
			return false;
		errno = 0;
		*out = strtoull(s, &end, 10);
		return errno == 0;
	}
	/* 2^64 is not representable below it as a double: stay under 2^63. */
	if (!json_whole(v, 0, 9.2e18, &d))
		return false;
	*out = (uint64_t)d;
	return true;
}

/* OTLP's int64: a string of decimal digits with an optional sign, or a number. */
static bool json_i64(const cJSON *v, int64_t *out)
{
	double d;

	if (cJSON_IsString(v)) {
		const char *s = v->valuestring, *digits = s + (*s == '-');
		char *end;

		if (!*digits || strlen(digits) > 19 ||
		    strspn(digits, "0123456789") != strlen(digits))
			return false;
		errno = 0;
		*out = strtoll(s, &end, 10);
		return errno == 0;
	}
	if (!json_whole(v, -9.2e18, 9.2e18, &d))
		return false;
	*out = (int64_t)d;
	return true;
}

/* An enum as OTLP's JSON may send it: its number, or its name from @names (@n of them). */
static bool json_enum(const cJSON *v, const char *const *names, size_t n, unsigned *out)
{
	double d;

	if (cJSON_IsString(v)) {
		for (size_t i = 0; i < n; i++) {
			if (!strcmp(v->valuestring, names[i])) {
				*out = (unsigned)i;
				return true;
			}
		}
		return false;
	}
	if (!json_whole(v, 0, (double)n - 1, &d))
		return false;
	*out = (unsigned)d;
	return true;
}

/* An OTLP AnyValue object as the tag's string, in *@out: 0, -EINVAL (not one) or -ENOMEM. */
static int json_value_text(const cJSON *v, char **out)
{
	const cJSON *x;
	char *text;
	int64_t i;

	*out = NULL;
	if (v && !cJSON_IsObject(v))
		return -EINVAL;
	if ((x = jget(v, "stringValue"))) {
		if (!cJSON_IsString(x))
			return -EINVAL;
		*out = dash_trace_cut(x->valuestring, SPAN_MAX_VALUE);
	} else if ((x = jget(v, "boolValue"))) {
		if (!cJSON_IsBool(x))
			return -EINVAL;
		*out = strdup(cJSON_IsTrue(x) ? "true" : "false");
	} else if ((x = jget(v, "intValue"))) {
		if (!json_i64(x, &i))
			return -EINVAL;
		if (asprintf(out, "%" PRId64, i) < 0)
			*out = NULL;
	} else if ((x = jget(v, "doubleValue"))) {
		const char *s = cJSON_GetStringValue(x);

		if (cJSON_IsNumber(x))
			*out = dash_trace_double(x->valuedouble);
		else if (s &&
			 (!strcmp(s, "NaN") || !strcmp(s, "Infinity") || !strcmp(s, "-Infinity")))
			*out = strdup(s);
		else
			return -EINVAL;
	} else if ((x = jget(v, "bytesValue"))) {
		if (!cJSON_IsString(x))
			return -EINVAL;
		*out = dash_trace_cut(x->valuestring, SPAN_MAX_VALUE);
	} else if ((x = jget(v, "arrayValue")) || (x = jget(v, "kvlistValue"))) {
		if (!cJSON_IsObject(x))
			return -EINVAL;
		text = cJSON_PrintUnformatted(x);
		*out = text ? dash_trace_cut(text, SPAN_MAX_VALUE) : NULL;
		free(text);
	} else {
		*out = strdup(""); /* absent, or {}: a value not set */
	}
	return *out ? 0 : -ENOMEM;
}

/* OTLP's attributes ([{key, value: AnyValue}]) as tags. */
static int json_attributes(const cJSON *attrs, struct dash_span *sp, const char *at, char *err,
			   size_t errlen)
{
	size_t i = 0;
	const cJSON *kv;

	if (!attrs)
		return 0;
	if (!cJSON_IsArray(attrs))
		return dash_trace_fail(err, errlen, "%s.attributes: an array", at);
	cJSON_ArrayForEach(kv, attrs)
	{
		const cJSON *key = jget(kv, "key");
		char *value;
		int ret;

		if (!cJSON_IsObject(kv) || !cJSON_IsString(key))
			return dash_trace_fail(
			    err, errlen, "%s.attributes[%zu]: an object with a string key", at, i);
		ret = json_value_text(jget(kv, "value"), &value);
		if (ret == -EINVAL)
			return dash_trace_fail(err, errlen, "%s.attributes[%zu].value: an AnyValue",
					       at, i);
		if (ret || dash_span_tag(sp, key->valuestring, value))
			return -ENOMEM;
		i++;
	}
	return 0;
}

static int json_otlp_span(const cJSON *js, const char *service, struct dash_span *sp,
			  const char *at, char *err, size_t errlen)
{
	const cJSON *name = jget(js, "name"), *parent = jget(js, "parentSpanId");
	const cJSON *kind = jget(js, "kind"), *status = jget(js, "status"), *code;
	uint64_t start = 0, end = 0;
	unsigned k = 0, c = 0;
	int ret;

	if (!cJSON_IsObject(js))
		return dash_trace_fail(err, errlen, "%s: a span object", at);
	if (!dash_trace_hex(cJSON_GetStringValue(jget(js, "traceId")), 32, sp->trace_id))
		return dash_trace_fail(err, errlen, "%s.traceId: 32 hex digits, not all zero", at);
	if (!dash_trace_hex(cJSON_GetStringValue(jget(js, "spanId")), 16, sp->span_id))
		return dash_trace_fail(err, errlen, "%s.spanId: 16 hex digits, not all zero", at);
	if (parent && !(cJSON_IsString(parent) && !*parent->valuestring) &&
	    !dash_trace_hex(cJSON_GetStringValue(parent), 16, sp->parent_id))
		return dash_trace_fail(err, errlen, "%s.parentSpanId: 16 hex digits, or empty", at);
	if (name && !cJSON_IsString(name))
		return dash_trace_fail(err, errlen, "%s.name: a string", at);
	if (kind && !json_enum(kind, otlp_kind_names, 6, &k))
		return dash_trace_fail(err, errlen,
				       "%s.kind: a SpanKind (0 to 5, or SPAN_KIND_SERVER...)", at);
	if (jget(js, "startTimeUnixNano") && !json_u64(jget(js, "startTimeUnixNano"), &start))
		return dash_trace_fail(err, errlen,
				       "%s.startTimeUnixNano: nanoseconds, a string or number", at);
	if (jget(js, "endTimeUnixNano") && !json_u64(jget(js, "endTimeUnixNano"), &end))
		return dash_trace_fail(err, errlen,
				       "%s.endTimeUnixNano: nanoseconds, a string or number", at);
	if (end < start)
		return dash_trace_fail(err, errlen, "%s.endTimeUnixNano: before startTimeUnixNano",
				       at);
	if (status && !cJSON_IsObject(status))
		return dash_trace_fail(err, errlen, "%s.status: an object", at);
	code = jget(status, "code");
	if (code && !json_enum(code,
			       (const char *const[]){"STATUS_CODE_UNSET", "STATUS_CODE_OK",
						     "STATUS_CODE_ERROR"},
			       3, &c))
		return dash_trace_fail(err, errlen,
				       "%s.status.code: a StatusCode (0 to 2, or its name)", at);
	sp->kind = (enum dash_span_kind)k;
	sp->start_us = (int64_t)(start / 1000);
	sp->duration_us = (int64_t)((end - start) / 1000);
	sp->name = dash_trace_cut(name ? name->valuestring : "", SPAN_MAX_NAME);
	sp->service = dash_trace_cut(service, SPAN_MAX_NAME);
	if (!sp->name || !sp->service)
		return -ENOMEM;
	ret = json_attributes(jget(js, "attributes"), sp, at, err, errlen);
	if (ret)
		return ret;
	sp->error = c == 2 || dash_span_tags_error(sp);
	return 0;
}

/* @o's member @k, an array or absent; false when of another type. */
static bool json_array(const cJSON *o, const char *k, const cJSON **out)
{
	*out = jget(o, k);
	return !*out || cJSON_IsArray(*out);
}

/* A resource's service.name attribute; "unknown_service" (OTel's default) when it has none. */
static const char *json_service(const cJSON *resource)
{
	const cJSON *kv;

	cJSON_ArrayForEach(kv, jget(resource, "attributes"))
	{
		const char *s = cJSON_GetStringValue(jget(jget(kv, "value"), "stringValue"));

		if (s && !strcmp(cJSON_GetStringValue(jget(kv, "key")) ?: "", "service.name"))
			return s;
	}
	return "unknown_service";
}

int dash_trace_decode_otlp_json(const cJSON *doc, struct dash_spans *out, size_t *seen, char *err,
				size_t errlen)
{
	const cJSON *rss, *rs, *sss, *ss, *spans, *js;
	size_t r = 0;

	if (!cJSON_IsObject(doc))
		return dash_trace_fail(err, errlen,
				       "not an ExportTraceServiceRequest: a JSON object");
	if (!json_array(doc, "resourceSpans", &rss))
		return dash_trace_fail(err, errlen, "resourceSpans: an array");
	cJSON_ArrayForEach(rs, rss)
	{
		const cJSON *resource = jget(rs, "resource");
		size_t s = 0;

		if (!cJSON_IsObject(rs) || !json_array(rs, "scopeSpans", &sss))
			return dash_trace_fail(
			    err, errlen, "resourceSpans[%zu]: an object, scopeSpans an array", r);
		if (resource &&
		    (!cJSON_IsObject(resource) || !json_array(resource, "attributes", &js)))
			return dash_trace_fail(
			    err, errlen,
			    "resourceSpans[%zu].resource: an object, attributes an array", r);
		cJSON_ArrayForEach(ss, sss)
		{
			char at[128];
			size_t i = 0;

			if (!cJSON_IsObject(ss) || !json_array(ss, "spans", &spans))
				return dash_trace_fail(
				    err, errlen,
				    "resourceSpans[%zu].scopeSpans[%zu]: an object, spans an "
				    "array",
				    r, s);
			*seen += (size_t)cJSON_GetArraySize(spans);
			cJSON_ArrayForEach(js, spans)
			{
				struct dash_span *sp = dash_spans_push(out);
				int ret;

				snprintf(at, sizeof(at),
					 "resourceSpans[%zu].scopeSpans[%zu].spans[%zu]", r, s,
					 i++);
				ret = sp ? json_otlp_span(js, json_service(resource), sp, at, err,
							  errlen)
					 : -ENOMEM;
				if (ret)
					return ret;
			}
			s++;
		}
		r++;
	}
	return 0;
}

/* A Zipkin endpoint ({serviceName, ipv4, ipv6, port}); false when a field has a wrong type. */
static bool zipkin_endpoint(const cJSON *ep)
{
	double port;

	return !ep || (cJSON_IsObject(ep) &&
		       (!jget(ep, "serviceName") || cJSON_IsString(jget(ep, "serviceName"))) &&
		       (!jget(ep, "ipv4") || cJSON_IsString(jget(ep, "ipv4"))) &&
		       (!jget(ep, "ipv6") || cJSON_IsString(jget(ep, "ipv6"))) &&
		       (!jget(ep, "port") || json_whole(jget(ep, "port"), 0, 65535, &port)));
}

/* The remote endpoint as the tags Jaeger gives it: peer.service, peer.ipv4/6, peer.port. */
static int zipkin_peer_tags(const cJSON *ep, struct dash_span *sp)
{
	static const char *const fields[][2] = {
	    {"serviceName", "peer.service"}, {"ipv4", "peer.ipv4"}, {"ipv6", "peer.ipv6"}};
	char *port;

	for (size_t i = 0; ep && i < sizeof(fields) / sizeof(fields[0]); i++) {
		const char *v = cJSON_GetStringValue(jget(ep, fields[i][0]));

		if (v && dash_span_tag(sp, fields[i][1], dash_trace_cut(v, SPAN_MAX_VALUE)))
			return -ENOMEM;
	}
	if (jget(ep, "port")) {
		if (asprintf(&port, "%d", (int)jget(ep, "port")->valuedouble) < 0)
			return -ENOMEM;
		if (dash_span_tag(sp, "peer.port", port))
			return -ENOMEM;
	}
	return 0;
}

/*
 * Envoy's Zipkin tracer shares one span id between a request's client and server spans
 * (shared: true on the server's). Jaeger gives the server's a new id, child of the shared
 * one, so that the two nest; so does this: the new id is the old one hashed.
 */
static void zipkin_unshare(struct dash_span *sp)
{
	uint64_t h = XXH64(sp->span_id, 16, 0x7a69706b696e) ?: 1;

	memcpy(sp->parent_id, sp->span_id, sizeof(sp->parent_id));
	snprintf(sp->span_id, sizeof(sp->span_id), "%016" PRIx64, h);
}

static int zipkin_span(const cJSON *js, struct dash_span *sp, const char *at, char *err,
		       size_t errlen)
{
	const cJSON *trace = jget(js, "traceId"), *parent = jget(js, "parentId");
	const cJSON *name = jget(js, "name"), *kind = jget(js, "kind"), *tags = jget(js, "tags");
	const cJSON *local = jget(js, "localEndpoint"), *remote = jget(js, "remoteEndpoint"), *t;
	const char *service;
	double ts = 0, dur = 0;
	unsigned k = 0;

	if (!cJSON_IsObject(js))
		return dash_trace_fail(err, errlen, "%s: a span object", at);
	if (!dash_trace_id(cJSON_GetStringValue(trace), sp->trace_id))
		return dash_trace_fail(err, errlen, "%s.traceId: 16 or 32 hex digits, not all zero",
				       at);
	if (!dash_trace_hex(cJSON_GetStringValue(jget(js, "id")), 16, sp->span_id))
		return dash_trace_fail(err, errlen, "%s.id: 16 hex digits, not all zero", at);
	/* All zeros: some clients' way of saying none. */
	if (parent && strcmp(cJSON_GetStringValue(parent) ?: "", "0000000000000000") &&
	    !dash_trace_hex(cJSON_GetStringValue(parent), 16, sp->parent_id))
		return dash_trace_fail(err, errlen, "%s.parentId: 16 hex digits, or none", at);
	if (name && !cJSON_IsString(name))
		return dash_trace_fail(err, errlen, "%s.name: a string", at);
	if (kind && !json_enum(kind, zipkin_kind_names, 4, &k))
		return dash_trace_fail(err, errlen, "%s.kind: CLIENT, SERVER, PRODUCER or CONSUMER",
				       at);
	/* Microseconds; a double holds them exactly up to 2^53 (the year 2255). */
	if (jget(js, "timestamp") && !json_whole(jget(js, "timestamp"), 0, 9007199254740992.0, &ts))
		return dash_trace_fail(err, errlen, "%s.timestamp: microseconds, a whole number",
				       at);
	if (jget(js, "duration") && !json_whole(jget(js, "duration"), 0, 9007199254740992.0, &dur))
		return dash_trace_fail(err, errlen, "%s.duration: microseconds, a whole number",
				       at);
	if (!zipkin_endpoint(local))
		return dash_trace_fail(err, errlen, "%s.localEndpoint: an endpoint object", at);
	if (!zipkin_endpoint(remote))
		return dash_trace_fail(err, errlen, "%s.remoteEndpoint: an endpoint object", at);
	if (tags && !cJSON_IsObject(tags))
		return dash_trace_fail(err, errlen, "%s.tags: an object of strings", at);
	if (jget(js, "shared") && !cJSON_IsBool(jget(js, "shared")))
		return dash_trace_fail(err, errlen, "%s.shared: a boolean", at);
	sp->kind = kind ? (enum dash_span_kind)(DASH_SPAN_SERVER + k) : DASH_SPAN_UNSPECIFIED;
	sp->start_us = (int64_t)ts;
	sp->duration_us = (int64_t)dur;
	service = cJSON_GetStringValue(jget(local, "serviceName"));
	sp->name = dash_trace_cut(name ? name->valuestring : "", SPAN_MAX_NAME);
	sp->service =
	    dash_trace_cut(service && *service ? service : "unknown_service", SPAN_MAX_NAME);
	if (!sp->name || !sp->service)
		return -ENOMEM;
	cJSON_ArrayForEach(t, tags)
	{
		if (!cJSON_IsString(t))
			return dash_trace_fail(err, errlen, "%s.tags.%.64s: a string", at,
					       t->string);
		if (dash_span_tag(sp, t->string, dash_trace_cut(t->valuestring, SPAN_MAX_VALUE)))
			return -ENOMEM;
	}
	if (zipkin_peer_tags(remote, sp))
		return -ENOMEM;
	if (cJSON_IsTrue(jget(js, "shared")) && sp->kind == DASH_SPAN_SERVER)
		zipkin_unshare(sp);
	sp->error = dash_span_tags_error(sp);
	return 0;
}

int dash_trace_decode_zipkin(const cJSON *doc, struct dash_spans *out, size_t *seen, char *err,
			     size_t errlen)
{
	const cJSON *js;
	size_t i = 0;

	if (!cJSON_IsArray(doc))
		return dash_trace_fail(err, errlen, "not a Zipkin v2 list of spans: a JSON array");
	*seen = (size_t)cJSON_GetArraySize(doc);
	cJSON_ArrayForEach(js, doc)
	{
		struct dash_span *sp = dash_spans_push(out);
		char at[32];
		int ret;

		snprintf(at, sizeof(at), "[%zu]", i++);
		ret = sp ? zipkin_span(js, sp, at, err, errlen) : -ENOMEM;
		if (ret)
			return ret;
	}
	return 0;
}
