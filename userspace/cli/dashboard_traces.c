// SPDX-License-Identifier: Apache-2.0
/*
 * The trace receiver's decoders: a request body as the mesh's proxies export it, into the one
 * span shape (struct dash_span). OTLP/HTTP (opentelemetry-proto, collector/trace/v1): a
 * protobuf ExportTraceServiceRequest, or the same in OTLP's JSON encoding (ids in hex, not
 * base64; 64-bit integers as strings or numbers; enums by number or by name); Zipkin v2 JSON
 * (zipkin-api's ListOfSpans: ids in hex, times in microseconds). A body is anyone's in the
 * cluster: it is taken whole or refused whole with a message naming the span and the field, and
 * what it holds is bounded (names and tags cut, nesting and memory capped).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "crypto.h"
#include "dashboard.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

/* Past these a name, key or value is cut (Istio cuts tags at 256 bytes unless told). */
#define SPAN_MAX_NAME 1024
#define SPAN_MAX_KEY 256
#define SPAN_MAX_VALUE 4096
/* Tags past this many are dropped. */
#define SPAN_MAX_TAGS 128
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
/* OTLP JSON's names for the kinds, in the same order. */
static const char *const otlp_kind_names[] = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL",
					      "SPAN_KIND_SERVER",      "SPAN_KIND_CLIENT",
					      "SPAN_KIND_PRODUCER",    "SPAN_KIND_CONSUMER"};
/* Zipkin's, from DASH_SPAN_SERVER on. */
static const char *const zipkin_kind_names[] = {"SERVER", "CLIENT", "PRODUCER", "CONSUMER"};

const char *dash_span_kind_name(enum dash_span_kind k)
{
	return (unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k]
									: "unspecified";
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
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

static struct dash_span *spans_push(struct dash_spans *s)
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
static char *dup_cut(const char *s, size_t max)
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
static int span_tag(struct dash_span *sp, const char *key, char *value)
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
	t->key = dup_cut(key, SPAN_MAX_KEY);
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
static bool tags_say_error(const struct dash_span *sp)
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

/* @digits hex digits, not all zero, lowercased into @out (NUL-terminated). */
static bool hex_id(const char *s, size_t digits, char *out)
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
		return hex_id(s, 16, out + 16);
	}
	return hex_id(s, 32, out);
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
static char *double_text(double d)
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
		return dup_cut(v->string_value ?: "", SPAN_MAX_VALUE);
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
		return strdup(v->bool_value ? "true" : "false");
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
		return asprintf(&text, "%" PRId64, v->int_value) < 0 ? NULL : text;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
		return double_text(v->double_value);
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
	cut = dup_cut(text, SPAN_MAX_VALUE);
	free(text);
	return cut;
}

static int pb_one_span(const pb_span *ps, const char *service, struct dash_span *sp, const char *at,
		       char *err, size_t errlen)
{
	if (!bin_id(&ps->trace_id, 16, sp->trace_id))
		return fail(err, errlen, "%s.traceId: 16 bytes, not all zero", at);
	if (!bin_id(&ps->span_id, 8, sp->span_id))
		return fail(err, errlen, "%s.spanId: 8 bytes, not all zero", at);
	if (ps->parent_span_id.len && !bin_id(&ps->parent_span_id, 8, sp->parent_id))
		return fail(err, errlen, "%s.parentSpanId: 8 bytes, not all zero, or none", at);
	if ((unsigned)ps->kind > DASH_SPAN_CONSUMER)
		return fail(err, errlen, "%s.kind: a SpanKind (0 to 5)", at);
	if (ps->end_time_unix_nano < ps->start_time_unix_nano)
		return fail(err, errlen, "%s.endTimeUnixNano: before startTimeUnixNano", at);
	sp->kind = (enum dash_span_kind)ps->kind;
	sp->start_us = (int64_t)(ps->start_time_unix_nano / 1000);
	sp->duration_us = (int64_t)((ps->end_time_unix_nano - ps->start_time_unix_nano) / 1000);
	sp->name = dup_cut(ps->name ?: "", SPAN_MAX_NAME);
	sp->service = dup_cut(service, SPAN_MAX_NAME);
	if (!sp->name || !sp->service)
		return -ENOMEM;
	for (size_t i = 0; i < ps->n_attributes; i++)
		if (span_tag(sp, ps->attributes[i]->key ?: "",
			     pb_value_text(ps->attributes[i]->value)))
			return -ENOMEM;
	sp->error = (ps->status &&
		     ps->status->code ==
			 OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR) ||
		    tags_say_error(sp);
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
		return fail(
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
		return fail(err, errlen, "not a protobuf ExportTraceServiceRequest");
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
				struct dash_span *sp = spans_push(out);
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

/* ---- JSON: OTLP's encoding and Zipkin's ---- */

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
		*out = dup_cut(x->valuestring, SPAN_MAX_VALUE);
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
			*out = double_text(x->valuedouble);
		else if (s &&
			 (!strcmp(s, "NaN") || !strcmp(s, "Infinity") || !strcmp(s, "-Infinity")))
			*out = strdup(s);
		else
			return -EINVAL;
	} else if ((x = jget(v, "bytesValue"))) {
		if (!cJSON_IsString(x))
			return -EINVAL;
		*out = dup_cut(x->valuestring, SPAN_MAX_VALUE);
	} else if ((x = jget(v, "arrayValue")) || (x = jget(v, "kvlistValue"))) {
		if (!cJSON_IsObject(x))
			return -EINVAL;
		text = cJSON_PrintUnformatted(x);
		*out = text ? dup_cut(text, SPAN_MAX_VALUE) : NULL;
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
		return fail(err, errlen, "%s.attributes: an array", at);
	cJSON_ArrayForEach(kv, attrs)
	{
		const cJSON *key = jget(kv, "key");
		char *value;
		int ret;

		if (!cJSON_IsObject(kv) || !cJSON_IsString(key))
			return fail(err, errlen, "%s.attributes[%zu]: an object with a string key",
				    at, i);
		ret = json_value_text(jget(kv, "value"), &value);
		if (ret == -EINVAL)
			return fail(err, errlen, "%s.attributes[%zu].value: an AnyValue", at, i);
		if (ret || span_tag(sp, key->valuestring, value))
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
		return fail(err, errlen, "%s: a span object", at);
	if (!hex_id(cJSON_GetStringValue(jget(js, "traceId")), 32, sp->trace_id))
		return fail(err, errlen, "%s.traceId: 32 hex digits, not all zero", at);
	if (!hex_id(cJSON_GetStringValue(jget(js, "spanId")), 16, sp->span_id))
		return fail(err, errlen, "%s.spanId: 16 hex digits, not all zero", at);
	if (parent && !(cJSON_IsString(parent) && !*parent->valuestring) &&
	    !hex_id(cJSON_GetStringValue(parent), 16, sp->parent_id))
		return fail(err, errlen, "%s.parentSpanId: 16 hex digits, or empty", at);
	if (name && !cJSON_IsString(name))
		return fail(err, errlen, "%s.name: a string", at);
	if (kind && !json_enum(kind, otlp_kind_names, 6, &k))
		return fail(err, errlen, "%s.kind: a SpanKind (0 to 5, or SPAN_KIND_SERVER...)",
			    at);
	if (jget(js, "startTimeUnixNano") && !json_u64(jget(js, "startTimeUnixNano"), &start))
		return fail(err, errlen, "%s.startTimeUnixNano: nanoseconds, a string or number",
			    at);
	if (jget(js, "endTimeUnixNano") && !json_u64(jget(js, "endTimeUnixNano"), &end))
		return fail(err, errlen, "%s.endTimeUnixNano: nanoseconds, a string or number", at);
	if (end < start)
		return fail(err, errlen, "%s.endTimeUnixNano: before startTimeUnixNano", at);
	if (status && !cJSON_IsObject(status))
		return fail(err, errlen, "%s.status: an object", at);
	code = jget(status, "code");
	if (code && !json_enum(code,
			       (const char *const[]){"STATUS_CODE_UNSET", "STATUS_CODE_OK",
						     "STATUS_CODE_ERROR"},
			       3, &c))
		return fail(err, errlen, "%s.status.code: a StatusCode (0 to 2, or its name)", at);
	sp->kind = (enum dash_span_kind)k;
	sp->start_us = (int64_t)(start / 1000);
	sp->duration_us = (int64_t)((end - start) / 1000);
	sp->name = dup_cut(name ? name->valuestring : "", SPAN_MAX_NAME);
	sp->service = dup_cut(service, SPAN_MAX_NAME);
	if (!sp->name || !sp->service)
		return -ENOMEM;
	ret = json_attributes(jget(js, "attributes"), sp, at, err, errlen);
	if (ret)
		return ret;
	sp->error = c == 2 || tags_say_error(sp);
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

static int decode_otlp_json(const cJSON *doc, struct dash_spans *out, size_t *seen, char *err,
			    size_t errlen)
{
	const cJSON *rss, *rs, *sss, *ss, *spans, *js;
	size_t r = 0;

	if (!cJSON_IsObject(doc))
		return fail(err, errlen, "not an ExportTraceServiceRequest: a JSON object");
	if (!json_array(doc, "resourceSpans", &rss))
		return fail(err, errlen, "resourceSpans: an array");
	cJSON_ArrayForEach(rs, rss)
	{
		const cJSON *resource = jget(rs, "resource");
		size_t s = 0;

		if (!cJSON_IsObject(rs) || !json_array(rs, "scopeSpans", &sss))
			return fail(err, errlen,
				    "resourceSpans[%zu]: an object, scopeSpans an array", r);
		if (resource &&
		    (!cJSON_IsObject(resource) || !json_array(resource, "attributes", &js)))
			return fail(err, errlen,
				    "resourceSpans[%zu].resource: an object, attributes an array",
				    r);
		cJSON_ArrayForEach(ss, sss)
		{
			char at[128];
			size_t i = 0;

			if (!cJSON_IsObject(ss) || !json_array(ss, "spans", &spans))
				return fail(
				    err, errlen,
				    "resourceSpans[%zu].scopeSpans[%zu]: an object, spans an "
				    "array",
				    r, s);
			*seen += (size_t)cJSON_GetArraySize(spans);
			cJSON_ArrayForEach(js, spans)
			{
				struct dash_span *sp = spans_push(out);
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

		if (v && span_tag(sp, fields[i][1], dup_cut(v, SPAN_MAX_VALUE)))
			return -ENOMEM;
	}
	if (jget(ep, "port")) {
		if (asprintf(&port, "%d", (int)jget(ep, "port")->valuedouble) < 0)
			return -ENOMEM;
		if (span_tag(sp, "peer.port", port))
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
		return fail(err, errlen, "%s: a span object", at);
	if (!dash_trace_id(cJSON_GetStringValue(trace), sp->trace_id))
		return fail(err, errlen, "%s.traceId: 16 or 32 hex digits, not all zero", at);
	if (!hex_id(cJSON_GetStringValue(jget(js, "id")), 16, sp->span_id))
		return fail(err, errlen, "%s.id: 16 hex digits, not all zero", at);
	/* All zeros: some clients' way of saying none. */
	if (parent && strcmp(cJSON_GetStringValue(parent) ?: "", "0000000000000000") &&
	    !hex_id(cJSON_GetStringValue(parent), 16, sp->parent_id))
		return fail(err, errlen, "%s.parentId: 16 hex digits, or none", at);
	if (name && !cJSON_IsString(name))
		return fail(err, errlen, "%s.name: a string", at);
	if (kind && !json_enum(kind, zipkin_kind_names, 4, &k))
		return fail(err, errlen, "%s.kind: CLIENT, SERVER, PRODUCER or CONSUMER", at);
	/* Microseconds; a double holds them exactly up to 2^53 (the year 2255). */
	if (jget(js, "timestamp") && !json_whole(jget(js, "timestamp"), 0, 9007199254740992.0, &ts))
		return fail(err, errlen, "%s.timestamp: microseconds, a whole number", at);
	if (jget(js, "duration") && !json_whole(jget(js, "duration"), 0, 9007199254740992.0, &dur))
		return fail(err, errlen, "%s.duration: microseconds, a whole number", at);
	if (!zipkin_endpoint(local))
		return fail(err, errlen, "%s.localEndpoint: an endpoint object", at);
	if (!zipkin_endpoint(remote))
		return fail(err, errlen, "%s.remoteEndpoint: an endpoint object", at);
	if (tags && !cJSON_IsObject(tags))
		return fail(err, errlen, "%s.tags: an object of strings", at);
	if (jget(js, "shared") && !cJSON_IsBool(jget(js, "shared")))
		return fail(err, errlen, "%s.shared: a boolean", at);
	sp->kind = kind ? (enum dash_span_kind)(DASH_SPAN_SERVER + k) : DASH_SPAN_UNSPECIFIED;
	sp->start_us = (int64_t)ts;
	sp->duration_us = (int64_t)dur;
	service = cJSON_GetStringValue(jget(local, "serviceName"));
	sp->name = dup_cut(name ? name->valuestring : "", SPAN_MAX_NAME);
	sp->service = dup_cut(service && *service ? service : "unknown_service", SPAN_MAX_NAME);
	if (!sp->name || !sp->service)
		return -ENOMEM;
	cJSON_ArrayForEach(t, tags)
	{
		if (!cJSON_IsString(t))
			return fail(err, errlen, "%s.tags.%.64s: a string", at, t->string);
		if (span_tag(sp, t->string, dup_cut(t->valuestring, SPAN_MAX_VALUE)))
			return -ENOMEM;
	}
	if (zipkin_peer_tags(remote, sp))
		return -ENOMEM;
	if (cJSON_IsTrue(jget(js, "shared")) && sp->kind == DASH_SPAN_SERVER)
		zipkin_unshare(sp);
	sp->error = tags_say_error(sp);
	return 0;
}

static int decode_zipkin(const cJSON *doc, struct dash_spans *out, size_t *seen, char *err,
			 size_t errlen)
{
	const cJSON *js;
	size_t i = 0;

	if (!cJSON_IsArray(doc))
		return fail(err, errlen, "not a Zipkin v2 list of spans: a JSON array");
	*seen = (size_t)cJSON_GetArraySize(doc);
	cJSON_ArrayForEach(js, doc)
	{
		struct dash_span *sp = spans_push(out);
		char at[32];
		int ret;

		snprintf(at, sizeof(at), "[%zu]", i++);
		ret = sp ? zipkin_span(js, sp, at, err, errlen) : -ENOMEM;
		if (ret)
			return ret;
	}
	return 0;
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
			return fail(err, errlen, "not JSON");
		ret = f == DASH_TRACE_ZIPKIN ? decode_zipkin(doc, out, seen, err, errlen)
					     : decode_otlp_json(doc, out, seen, err, errlen);
		cJSON_Delete(doc);
	}
	if (ret == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (ret)
		spans_truncate(out, n0);
	return ret;
}
