// SPDX-License-Identifier: Apache-2.0
/*
 * The trace receiver's decoders: a request body as the mesh's proxies export it, into the one
 * span shape (struct dash_span). Here the shape's rules (bounds, ids, what is an error), the
 * dispatch, and OTLP/HTTP's protobuf ExportTraceServiceRequest (opentelemetry-proto,
 * collector/trace/v1) through protoc-c's messages; traces_json.c reads the JSON
 * formats. A body is anyone's in the cluster: it is taken whole or refused whole with a message
 * naming the span and the field, and what it holds is bounded (names and tags cut, nesting and
 * memory capped).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls/crypto.h"
#include "traces_priv.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

/* A span's attribute is 6 messages down; arrays in arrays add 2 a level. */
#define PB_MAX_DEPTH 32
/*
 * Memory protobuf-c may take to unpack one body: a 2-byte empty message unpacks into a struct
 * of a hundred bytes, so a body of them would take 50 times its size.
 */
#define PB_ALLOC_PER_BYTE 16
#define PB_ALLOC_MAX (128u << 20)

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest pb_request;
typedef Opentelemetry__Proto__Trace__V1__Span pb_span;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_value;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;

static const char *const kind_names[] = {"unspecified", "internal", "server",
					 "client",	"producer", "consumer"};

const char *dash_span_kind_name(enum dash_span_kind k)
{
	return (unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k]
									: "unspecified";
}

int dash_trace_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void dash_span_free(struct dash_span *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_tags; i++) {
		free(s->tags[i].key);
		free(s->tags[i].value);
	}
	free(s->tags);
	free(s->name);
	free(s->service);
	free(s->proxy);
	memset(s, 0, sizeof(*s));
}

void dash_spans_free(struct dash_spans *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		dash_span_free(&s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

/* Drops the spans appended since @n0 (a body refused half way). */
static void spans_truncate(struct dash_spans *s, size_t n0)
{
	while (s->n > n0)
		dash_span_free(&s->v[--s->n]);
}

struct dash_span *dash_spans_push(struct dash_spans *s)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct dash_span *v = reallocarray(s->v, cap, sizeof(*v));

		if (!v)
			return NULL;
		s->v = v;
		s->cap = cap;
	}
	memset(&s->v[s->n], 0, sizeof(s->v[0]));
	return &s->v[s->n++];
}

/* @s cut to @max bytes, back to a UTF-8 character's start; NULL: no memory. */
char *dash_trace_cut(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n > max) {
		n = max;
		while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	return strndup(s, n);
}

/* Adds tag @key = @value (taken); past SPAN_MAX_TAGS it is dropped. -ENOMEM. */
int dash_span_tag(struct dash_span *sp, const char *key, char *value)
{
	struct dash_tag *t;

	if (!value)
		return -ENOMEM;
	if (sp->n_tags == SPAN_MAX_TAGS) {
		free(value);
		return 0;
	}
	/* Grown by powers of two: n_tags is the capacity's measure too. */
	if (!(sp->n_tags & (sp->n_tags - 1)) && sp->n_tags >= 4) {
		t = reallocarray(sp->tags, sp->n_tags * 2, sizeof(*t));
		if (!t) {
			free(value);
			return -ENOMEM;
		}
		sp->tags = t;
	} else if (!sp->tags) {
		sp->tags = malloc(4 * sizeof(*sp->tags));
		if (!sp->tags) {
			free(value);
			return -ENOMEM;
		}
	}
	t = &sp->tags[sp->n_tags];
	t->key = dash_trace_cut(key, SPAN_MAX_KEY);
	if (!t->key) {
		free(value);
		return -ENOMEM;
	}
	t->value = value;
	sp->n_tags++;
	return 0;
}

/*
 * What Jaeger and Kiali mark red: OTLP's status ERROR is the caller's; from tags, Zipkin's
 * `error` (any value but "false"), an HTTP status of 500 and up, Istio's response_flags
 * other than "-".
 */
bool dash_span_tags_error(const struct dash_span *sp)
{
	for (size_t i = 0; i < sp->n_tags; i++) {
		const char *k = sp->tags[i].key, *v = sp->tags[i].value;

		if (!strcmp(k, "error") && strcmp(v, "false"))
			return true;
		if ((!strcmp(k, "http.status_code") || !strcmp(k, "http.response.status_code")) &&
		    atoi(v) >= 500)
			return true;
		if (!strcmp(k, "response_flags") && *v && strcmp(v, "-"))
			return true;
	}
	return false;
}

/*
 * Jaeger lists a sidecar's spans under the application beside it ("reviews.default", the name
 * Istio's sidecars give their spans). A waypoint stands in for the sidecars of every Service it
 * serves but names its spans after itself; so its span (node_id "waypoint~...", Istio's proxy
 * type) is listed under the Service it served, istio.destination_service's host
 * ("reviews.default.svc.cluster.local") cut to name.namespace, and the waypoint's name is kept
 * as @proxy, searchable still. A gateway's spans keep the gateway's name, as Jaeger lists
 * istio-ingressgateway.istio-system; a host no Service has (a ServiceEntry's, or "unknown":
 * traffic addressed to a pod), the waypoint's. 0 or -ENOMEM.
 */
static int span_app(struct dash_span *sp)
{
	const char *node = NULL, *host = NULL, *name_end, *ns_end;
	char *app;

	for (size_t i = 0; i < sp->n_tags; i++) {
		if (!strcmp(sp->tags[i].key, "node_id"))
			node = sp->tags[i].value;
		else if (!strcmp(sp->tags[i].key, "istio.destination_service"))
			host = sp->tags[i].value;
	}
	if (!node || strncmp(node, "waypoint~", 9) || !host)
		return 0;
	name_end = strchr(host, '.');
	ns_end = name_end ? strchr(name_end + 1, '.') : NULL;
	if (!ns_end || name_end == host || ns_end == name_end + 1 || strncmp(ns_end, ".svc.", 5))
		return 0;
	app = strndup(host, (size_t)(ns_end - host));
	if (!app)
		return -ENOMEM;
	sp->proxy = sp->service;
	sp->service = app;
	return 0;
}

/* @digits hex digits, not all zero, lowercased into @out (NUL-terminated). */
bool dash_trace_hex(const char *s, size_t digits, char *out)
{
	bool nonzero = false;

	if (!s || strlen(s) != digits)
		return false;
	for (size_t i = 0; i < digits; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
		nonzero |= c != '0';
		out[i] = c;
	}
	out[digits] = '\0';
	return nonzero;
}

bool dash_trace_id(const char *s, char *out)
{
	/* A 64-bit trace id is the low half of a 128-bit one (B3's rule, and OTel's). */
	if (s && strlen(s) == 16) {
		memset(out, '0', 16);
		return dash_trace_hex(s, 16, out + 16);
	}
	return dash_trace_hex(s, 32, out);
}

/* @n bytes, not all zero, as lowercase hex in @out. */
static bool bin_id(const ProtobufCBinaryData *b, size_t n, char *out)
{
	bool nonzero = false;

	if (b->len != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		snprintf(out + 2 * i, 3, "%02x", b->data[i]);
		nonzero |= b->data[i] != 0;
	}
	return nonzero;
}

/* As OTLP's JSON writes a double: shortest that reads back, NaN and the infinities by name. */
char *dash_trace_double(double d)
{
	char b[40];

	if (isnan(d))
		return strdup("NaN");
	if (isinf(d))
		return strdup(d > 0 ? "Infinity" : "-Infinity");
	snprintf(b, sizeof(b), "%.15g", d);
	if (strtod(b, NULL) != d)
		snprintf(b, sizeof(b), "%.17g", d);
	return strdup(b);
}

/* ---- OTLP protobuf ---- */

struct pb_budget {
	size_t used, max;
	bool refused;
};

static void *pb_alloc(void *data, size_t size)
{
	struct pb_budget *b = data;

	if (size > b->max - b->used) {
		b->refused = true;
		return NULL;
	}
	b->used += size;
	return malloc(size);
}

static void pb_free(void *data, void *p)
{
	(void)data;
	free(p);
}

static bool pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 70 && *p < end; shift += 7) {
		uint8_t c = *(*p)++;

		*v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return true;
	}
	return false;
}

/*
 * protobuf-c unpacks nested messages by recursion, unbounded: a few KiB of AnyValue in
 * ArrayValue nested thousands deep would run the thread out of stack. The wire format is
 * walked along the descriptors first; nesting past PB_MAX_DEPTH, or a body that is not the
 * wire format, is refused.
 */
static bool pb_depth_ok(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end,
			int depth)
{
	if (depth > PB_MAX_DEPTH)
		return false;
	while (p < end) {
		const ProtobufCFieldDescriptor *f;
		uint64_t key, v;

		if (!pb_varint(&p, end, &key))
			return false;
		switch (key & 7) {
		case 0:
			if (!pb_varint(&p, end, &v))
				return false;
			break;
		case 1:
			if (end - p < 8)
				return false;
			p += 8;
			break;
		case 5:
			if (end - p < 4)
				return false;
			p += 4;
			break;
		case 2:
			if (!pb_varint(&p, end, &v) || v > (uint64_t)(end - p))
				return false;
			f = key >> 3 <= UINT32_MAX
				? protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3))
				: NULL;
			if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
			    !pb_depth_ok(f->descriptor, p, p + v, depth + 1))
				return false;
			p += v;
			break;
		default: /* groups: none in these messages */ return false;
		}
	}
	return true;
}

static cJSON *pb_value_json(const pb_value *v);

/* An array or key/value list as JSON (nesting bounded by pb_depth_ok). */
static cJSON *pb_list_json(const pb_value *v)
{
	cJSON *out = v->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE
			 ? cJSON_CreateArray()
			 : cJSON_CreateObject();

	if (!out)
		return NULL;
	if (cJSON_IsArray(out)) {
		for (size_t i = 0; v->array_value && i < v->array_value->n_values; i++)
			if (!cJSON_AddItemToArray(out, pb_value_json(v->array_value->values[i])))
				goto oom;
	} else {
		for (size_t i = 0; v->kvlist_value && i < v->kvlist_value->n_values; i++) {
			const pb_kv *kv = v->kvlist_value->values[i];

			if (!cJSON_AddItemToObject(out, kv->key ?: "", pb_value_json(kv->value)))
				goto oom;
		}
	}
	return out;
oom:
	cJSON_Delete(out);
	return NULL;
}

static cJSON *pb_value_json(const pb_value *v)
{
	if (!v)
		return cJSON_CreateNull();
	switch (v->value_case) {
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
		return cJSON_CreateString(v->string_value ?: "");
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
		return cJSON_CreateBool(v->bool_value);
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
		return cJSON_CreateNumber((double)v->int_value);
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
		return cJSON_CreateNumber(v->double_value);
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE:
		return pb_list_json(v);
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE: {
		char *b64 = crypto_base64_encode(v->bytes_value.data, v->bytes_value.len);
		cJSON *s = b64 ? cJSON_CreateString(b64) : NULL;

		free(b64);
		return s;
	}
	default: return cJSON_CreateNull();
	}
}

/* An attribute's value as the tag's string (scalars as OTLP's JSON writes them). */
static char *pb_value_text(const pb_value *v)
{
	char *text, *cut;
	cJSON *j;

	if (!v)
		return strdup("");
	switch (v->value_case) {
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
		return dash_trace_cut(v->string_value ?: "", SPAN_MAX_VALUE);
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
		return strdup(v->bool_value ? "true" : "false");
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
		return asprintf(&text, "%" PRId64, v->int_value) < 0 ? NULL : text;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
		return dash_trace_double(v->double_value);
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE:
		/* Base64, as OTLP's JSON writes bytes; only what fits in a value. */
		return crypto_base64_encode(v->bytes_value.data,
					    v->bytes_value.len < SPAN_MAX_VALUE / 4 * 3
						? v->bytes_value.len
						: SPAN_MAX_VALUE / 4 * 3);
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE: break;
	default: return strdup("");
	}
	j = pb_value_json(v);
	text = j ? cJSON_PrintUnformatted(j) : NULL;
	cJSON_Delete(j);
	if (!text)
		return NULL;
	cut = dash_trace_cut(text, SPAN_MAX_VALUE);
	free(text);
	return cut;
}

static int pb_one_span(const pb_span *ps, const char *service, struct dash_span *sp, const char *at,
		       char *err, size_t errlen)
{
	if (!bin_id(&ps->trace_id, 16, sp->trace_id))
		return dash_trace_fail(err, errlen, "%s.traceId: 16 bytes, not all zero", at);
	if (!bin_id(&ps->span_id, 8, sp->span_id))
		return dash_trace_fail(err, errlen, "%s.spanId: 8 bytes, not all zero", at);
	if (ps->parent_span_id.len && !bin_id(&ps->parent_span_id, 8, sp->parent_id))
		return dash_trace_fail(err, errlen,
				       "%s.parentSpanId: 8 bytes, not all zero, or none", at);
	if ((unsigned)ps->kind > DASH_SPAN_CONSUMER)
		return dash_trace_fail(err, errlen, "%s.kind: a SpanKind (0 to 5)", at);
	if (ps->end_time_unix_nano < ps->start_time_unix_nano)
		return dash_trace_fail(err, errlen, "%s.endTimeUnixNano: before startTimeUnixNano",
				       at);
	sp->kind = (enum dash_span_kind)ps->kind;
	sp->start_us = (int64_t)(ps->start_time_unix_nano / 1000);
	sp->duration_us = (int64_t)((ps->end_time_unix_nano - ps->start_time_unix_nano) / 1000);
	sp->name = dash_trace_cut(ps->name ?: "", SPAN_MAX_NAME);
	sp->service = dash_trace_cut(service, SPAN_MAX_NAME);
	if (!sp->name || !sp->service)
		return -ENOMEM;
	for (size_t i = 0; i < ps->n_attributes; i++)
		if (dash_span_tag(sp, ps->attributes[i]->key ?: "",
				  pb_value_text(ps->attributes[i]->value)))
			return -ENOMEM;
	sp->error = (ps->status &&
		     ps->status->code ==
			 OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR) ||
		    dash_span_tags_error(sp);
	return 0;
}

static int decode_otlp_proto(const uint8_t *body, size_t len, struct dash_spans *out, size_t *seen,
			     char *err, size_t errlen)
{
	const ProtobufCMessageDescriptor *d =
	    &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor;
	struct pb_budget b = {.max = len < PB_ALLOC_MAX / PB_ALLOC_PER_BYTE
					 ? len * PB_ALLOC_PER_BYTE + 4096
					 : PB_ALLOC_MAX};
	ProtobufCAllocator a = {pb_alloc, pb_free, &b};
	size_t n0 = out->n;
	pb_request *req;
	int ret = 0;

	if (!pb_depth_ok(d, body, body + len, 0))
		return dash_trace_fail(
		    err, errlen,
		    "not a protobuf ExportTraceServiceRequest (malformed, or nested over %d "
		    "deep)",
		    PB_MAX_DEPTH);
	req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
	    &a, len, body);
	if (!req) {
		if (b.refused) {
			snprintf(err, errlen, "the request would take over %zu MiB to decode",
				 b.max >> 20);
			return -E2BIG;
		}
		return dash_trace_fail(err, errlen, "not a protobuf ExportTraceServiceRequest");
	}
	for (size_t r = 0; r < req->n_resource_spans; r++)
		for (size_t s = 0; s < req->resource_spans[r]->n_scope_spans; s++)
			*seen += req->resource_spans[r]->scope_spans[s]->n_spans;
	for (size_t r = 0; !ret && r < req->n_resource_spans; r++) {
		const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[r];
		const char *service = "unknown_service";

		for (size_t i = 0; rs->resource && i < rs->resource->n_attributes; i++) {
			const pb_kv *kv = rs->resource->attributes[i];

			if (kv->key && !strcmp(kv->key, "service.name") && kv->value &&
			    kv->value->value_case ==
				OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
				service = kv->value->string_value;
		}
		for (size_t s = 0; !ret && s < rs->n_scope_spans; s++) {
			for (size_t i = 0; !ret && i < rs->scope_spans[s]->n_spans; i++) {
				struct dash_span *sp = dash_spans_push(out);
				char at[128];

				snprintf(at, sizeof(at),
					 "resourceSpans[%zu].scopeSpans[%zu].spans[%zu]", r, s, i);
				ret = sp ? pb_one_span(rs->scope_spans[s]->spans[i], service, sp,
						       at, err, errlen)
					 : -ENOMEM;
			}
		}
	}
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req,
												&a);
	if (ret)
		spans_truncate(out, n0);
	return ret;
}

int dash_trace_decode(enum dash_trace_format f, const void *body, size_t len,
		      struct dash_spans *out, size_t *seen, char *err, size_t errlen)
{
	size_t n0 = out->n;
	cJSON *doc;
	int ret;

	*seen = 0;
	if (len > DASH_TRACE_MAX_BODY) {
		snprintf(err, errlen, "the body is over %u MiB", DASH_TRACE_MAX_BODY >> 20);
		return -E2BIG;
	}
	if (f == DASH_TRACE_OTLP_PROTO) {
		ret = decode_otlp_proto(body, len, out, seen, err, errlen);
	} else {
		doc = cJSON_ParseWithLength(body, len);
		if (!doc)
			return dash_trace_fail(err, errlen, "not JSON");
		ret = f == DASH_TRACE_ZIPKIN
			  ? dash_trace_decode_zipkin(doc, out, seen, err, errlen)
			  : dash_trace_decode_otlp_json(doc, out, seen, err, errlen);
		cJSON_Delete(doc);
	}
	for (size_t i = n0; !ret && i < out->n; i++)
		ret = span_app(&out->v[i]);
	if (ret == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (ret)
		spans_truncate(out, n0);
	return ret;
}
