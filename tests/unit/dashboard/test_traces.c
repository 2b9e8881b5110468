// SPDX-License-Identifier: Apache-2.0
/*
 * The dashboard's trace receiver (userspace/dashboard/dashboard_traces*.c,
 * dashboard/trace_store.c): the three decoders on valid bodies (OTLP protobuf packed by protobuf-c,
 * OTLP JSON, Zipkin v2 JSON) into the one span shape, and on each kind of bad body an error naming
 * the field with nothing kept (ASan: nothing leaked); the store's bound (the trace that received
 * nothing for longest goes, whole), duplicates, counters, and the search's filters and order.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dashboard/dashboard.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_value;

static const uint8_t tid[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
				0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
static const uint8_t sid1[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
static const uint8_t sid2[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb8};

static const char *tag(const struct dash_span *sp, const char *key)
{
	for (size_t i = 0; i < sp->n_tags; i++)
		if (!strcmp(sp->tags[i].key, key))
			return sp->tags[i].value;
	return NULL;
}

static int decode(enum dash_trace_format f, const char *text, struct dash_spans *out, char *err)
{
	size_t seen;

	return dash_trace_decode(f, text, strlen(text), out, &seen, err, 256);
}

/* An ExportTraceServiceRequest of a server span and its client child, packed; caller frees. */
static uint8_t *otlp_request(size_t *len, size_t trace_id_len, uint64_t end_ns)
{
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
	    OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
	Opentelemetry__Proto__Trace__V1__ResourceSpans rs =
	    OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
	Opentelemetry__Proto__Resource__V1__Resource res =
	    OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
	Opentelemetry__Proto__Trace__V1__ScopeSpans ss =
	    OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
	Opentelemetry__Proto__Trace__V1__Span s1 = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT,
					      s2 = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
	Opentelemetry__Proto__Trace__V1__Status st = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;
	pb_value vsvc = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT,
		 vint = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT,
		 vbool = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT,
		 vdbl = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT,
		 vbytes = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT,
		 varr = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT,
		 vstr = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
	Opentelemetry__Proto__Common__V1__ArrayValue arr =
	    OPENTELEMETRY__PROTO__COMMON__V1__ARRAY_VALUE__INIT;
	pb_value *arr_values[] = {&vstr, &vint};
	pb_kv ksvc = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT,
	      kint = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT,
	      kbool = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT,
	      kdbl = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT,
	      kbytes = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT,
	      karr = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
	pb_kv *res_attrs[] = {&ksvc}, *s1_attrs[] = {&kint, &kbool, &kdbl, &kbytes, &karr};
	Opentelemetry__Proto__Trace__V1__Span *spans[] = {&s1, &s2};
	Opentelemetry__Proto__Trace__V1__ScopeSpans *sss[] = {&ss};
	Opentelemetry__Proto__Trace__V1__ResourceSpans *rss[] = {&rs};
	uint8_t *buf;

	vsvc.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	vsvc.string_value = "productpage.default";
	ksvc.key = "service.name";
	ksvc.value = &vsvc;
	res.n_attributes = 1;
	res.attributes = res_attrs;
	vint.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
	vint.int_value = -42;
	kint.key = "n";
	kint.value = &vint;
	vbool.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
	vbool.bool_value = 1;
	kbool.key = "sampled";
	kbool.value = &vbool;
	vdbl.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
	vdbl.double_value = 0.25;
	kdbl.key = "ratio";
	kdbl.value = &vdbl;
	vbytes.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE;
	vbytes.bytes_value = (ProtobufCBinaryData){3, (uint8_t *)"\x01\x02\x03"};
	kbytes.key = "raw";
	kbytes.value = &vbytes;
	vstr.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	vstr.string_value = "a";
	arr.n_values = 2;
	arr.values = arr_values;
	varr.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
	varr.array_value = &arr;
	karr.key = "list";
	karr.value = &varr;

	s1.trace_id = (ProtobufCBinaryData){trace_id_len, (uint8_t *)tid};
	s1.span_id = (ProtobufCBinaryData){8, (uint8_t *)sid1};
	s1.name = "productpage.default.svc.cluster.local:9080/productpage";
	s1.kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
	s1.start_time_unix_nano = 1700000000000000000ull;
	s1.end_time_unix_nano = end_ns;
	s1.n_attributes = 5;
	s1.attributes = s1_attrs;
	s2.trace_id = (ProtobufCBinaryData){16, (uint8_t *)tid};
	s2.span_id = (ProtobufCBinaryData){8, (uint8_t *)sid2};
	s2.parent_span_id = (ProtobufCBinaryData){8, (uint8_t *)sid1};
	s2.name = "reviews";
	s2.kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT;
	s2.start_time_unix_nano = 1700000000005000000ull;
	s2.end_time_unix_nano = 1700000000025000000ull;
	st.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
	s2.status = &st;
	ss.n_spans = 2;
	ss.spans = spans;
	rs.resource = &res;
	rs.n_scope_spans = 1;
	rs.scope_spans = sss;
	req.n_resource_spans = 1;
	req.resource_spans = rss;
	*len =
	    opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
		&req);
	buf = malloc(*len);
	assert_non_null(buf);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, buf);
	return buf;
}

static void test_otlp_proto(void **state)
{
	struct dash_spans out = {0};
	size_t len, seen;
	char err[256];
	uint8_t *body = otlp_request(&len, 16, 1700000000030000000ull);
	const struct dash_span *s;

	assert_int_equal(
	    dash_trace_decode(DASH_TRACE_OTLP_PROTO, body, len, &out, &seen, err, sizeof(err)), 0);
	assert_int_equal(seen, 2);
	assert_int_equal(out.n, 2);
	s = &out.v[0];
	assert_string_equal(s->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_string_equal(s->span_id, "00f067aa0ba902b7");
	assert_string_equal(s->parent_id, "");
	assert_int_equal(s->kind, DASH_SPAN_SERVER);
	assert_string_equal(s->service, "productpage.default");
	assert_string_equal(s->name, "productpage.default.svc.cluster.local:9080/productpage");
	assert_int_equal(s->start_us, 1700000000000000);
	assert_int_equal(s->duration_us, 30000);
	assert_false(s->error);
	assert_string_equal(tag(s, "n"), "-42");
	assert_string_equal(tag(s, "sampled"), "true");
	assert_string_equal(tag(s, "ratio"), "0.25");
	assert_string_equal(tag(s, "raw"), "AQID");
	assert_string_equal(tag(s, "list"), "[\"a\",-42]");
	s = &out.v[1];
	assert_string_equal(s->parent_id, "00f067aa0ba902b7");
	assert_int_equal(s->kind, DASH_SPAN_CLIENT);
	assert_string_equal(dash_span_kind_name(s->kind), "client");
	assert_int_equal(s->duration_us, 20000);
	assert_true(s->error); /* status ERROR */
	dash_spans_free(&out);
	free(body);
}

/* @b (@n bytes, taken) as the contents of a length-delimited field of key @key. */
static uint8_t *wrap(uint8_t *b, size_t *n, uint8_t key)
{
	uint8_t *out = malloc(*n + 11);
	size_t h = 0, v = *n;

	assert_non_null(out);
	out[h++] = key;
	do {
		out[h++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	memcpy(out + h, b, *n);
	free(b);
	*n += h;
	return out;
}

static void test_otlp_proto_bad(void **state)
{
	struct dash_spans out = {0};
	size_t len, seen;
	char err[256];
	uint8_t *body, *deep, *empties;

	body = otlp_request(&len, 15, 1700000000030000000ull);
	assert_int_equal(
	    dash_trace_decode(DASH_TRACE_OTLP_PROTO, body, len, &out, &seen, err, sizeof(err)),
	    -EINVAL);
	assert_string_equal(err, "resourceSpans[0].scopeSpans[0].spans[0].traceId: 16 bytes, not "
				 "all zero");
	assert_int_equal(out.n, 0);
	assert_int_equal(seen, 2);
	free(body);
	body = otlp_request(&len, 16, 1);
	assert_int_equal(
	    dash_trace_decode(DASH_TRACE_OTLP_PROTO, body, len, &out, &seen, err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "spans[0].endTimeUnixNano: before startTimeUnixNano"));
	free(body);
	/* Not the wire format (a field of wire type 7). */
	assert_int_equal(
	    dash_trace_decode(DASH_TRACE_OTLP_PROTO, "\x0f\x01", 2, &out, &seen, err, sizeof(err)),
	    -EINVAL);
	/* Cut short inside a length. */
	assert_int_equal(dash_trace_decode(DASH_TRACE_OTLP_PROTO, "\x0a\x05\x12", 3, &out, &seen,
					   err, sizeof(err)),
			 -EINVAL);
	/*
	 * A resource attribute whose value nests AnyValue.array_value in ArrayValue.values 2,000
	 * deep: refused before protobuf-c would recurse into it.
	 */
	deep = malloc(1);
	len = 0;
	for (int i = 0; i < 2000; i++)
		deep = wrap(deep, &len, i % 2 ? 0x2a : 0x0a);
	deep = wrap(deep, &len, 0x12); /* KeyValue.value */
	deep = wrap(deep, &len, 0x0a); /* Resource.attributes */
	deep = wrap(deep, &len, 0x0a); /* ResourceSpans.resource */
	deep = wrap(deep, &len, 0x0a); /* ExportTraceServiceRequest.resource_spans */
	assert_int_equal(
	    dash_trace_decode(DASH_TRACE_OTLP_PROTO, deep, len, &out, &seen, err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "nested over 32 deep"));
	free(deep);
	/* 64 KiB of empty ResourceSpans: past what a body may take to unpack. */
	empties = malloc(65536);
	for (size_t i = 0; i < 65536; i += 2) {
		empties[i] = 0x0a;
		empties[i + 1] = 0;
	}
	assert_int_equal(
	    dash_trace_decode(DASH_TRACE_OTLP_PROTO, empties, 65536, &out, &seen, err, sizeof(err)),
	    -E2BIG);
	assert_non_null(strstr(err, "MiB to decode"));
	free(empties);
	assert_int_equal(out.n, 0);
	/* An empty request is a request of no spans. */
	assert_int_equal(
	    dash_trace_decode(DASH_TRACE_OTLP_PROTO, "", 0, &out, &seen, err, sizeof(err)), 0);
	assert_int_equal(out.n, 0);
	dash_spans_free(&out);
}

static const char otlp_json[] =
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
    "\"value\":{\"stringValue\":\"reviews.default\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":"
    "\"ambit\"},\"spans\":["
    "{\"traceId\":\"4BF92F3577B34DA6A3CE929D0E0E4736\",\"spanId\":\"00f067aa0ba902b9\","
    "\"parentSpanId\":\"00f067aa0ba902b8\",\"name\":\"ratings\",\"kind\":\"SPAN_KIND_CLIENT\","
    "\"startTimeUnixNano\":\"1700000000010000000\",\"endTimeUnixNano\":1700000000012000000,"
    "\"attributes\":[{\"key\":\"http.status_code\",\"value\":{\"intValue\":\"503\"}},"
    "{\"key\":\"f\",\"value\":{\"doubleValue\":\"NaN\"}},{\"key\":\"b\",\"value\":"
    "{\"boolValue\":false}},{\"key\":\"kv\",\"value\":{\"kvlistValue\":{\"values\":[]}}},"
    "{\"key\":\"none\",\"value\":{}}],\"status\":{\"code\":\"STATUS_CODE_UNSET\"}},"
    "{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"00f067aa0ba902ba\","
    "\"parentSpanId\":\"\",\"kind\":2,\"startTimeUnixNano\":\"1700000000011000000\","
    "\"endTimeUnixNano\":\"1700000000011500000\",\"status\":{\"code\":2}}]}]},"
    "{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"0af7651916cd43dd8448eb211c80319c\","
    "\"spanId\":\"b7ad6b7169203331\"}]}]}]}";

static void test_otlp_json(void **state)
{
	struct dash_spans out = {0};
	char err[256];
	const struct dash_span *s;

	assert_int_equal(decode(DASH_TRACE_OTLP_JSON, otlp_json, &out, err), 0);
	assert_int_equal(out.n, 3);
	s = &out.v[0];
	assert_string_equal(s->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
	assert_string_equal(s->parent_id, "00f067aa0ba902b8");
	assert_string_equal(s->service, "reviews.default");
	assert_string_equal(s->name, "ratings");
	assert_int_equal(s->kind, DASH_SPAN_CLIENT);
	assert_int_equal(s->start_us, 1700000000010000);
	assert_int_equal(s->duration_us, 2000);
	assert_true(s->error); /* http.status_code 503 */
	assert_string_equal(tag(s, "http.status_code"), "503");
	assert_string_equal(tag(s, "f"), "NaN");
	assert_string_equal(tag(s, "b"), "false");
	assert_string_equal(tag(s, "kv"), "{\"values\":[]}");
	assert_string_equal(tag(s, "none"), "");
	s = &out.v[1];
	assert_string_equal(s->parent_id, "");
	assert_string_equal(s->name, "");
	assert_int_equal(s->kind, DASH_SPAN_SERVER);
	assert_int_equal(s->duration_us, 500);
	assert_true(s->error); /* status code 2 */
	s = &out.v[2];
	assert_string_equal(s->service, "unknown_service");
	assert_int_equal(s->kind, DASH_SPAN_UNSPECIFIED);
	assert_int_equal(s->start_us, 0);
	assert_false(s->error);
	dash_spans_free(&out);
}

#define SPAN_OK "\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":\"00f067aa0ba902b9\""
#define OTLP(spans) "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[" spans "]}]}]}"

static void test_otlp_json_bad(void **state)
{
	static const char *const cases[][2] = {
	    {"{", "not JSON"},
	    {"[]", "not an ExportTraceServiceRequest: a JSON object"},
	    {"{\"resourceSpans\":{}}", "resourceSpans: an array"},
	    {"{\"resourceSpans\":[{\"scopeSpans\":7}]}", "resourceSpans[0]: an object"},
	    {"{\"resourceSpans\":[{\"resource\":[],\"scopeSpans\":[]}]}",
	     "resourceSpans[0].resource: an object"},
	    {"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":{}}]}]}",
	     "resourceSpans[0].scopeSpans[0]: an object, spans an array"},
	    {OTLP("7"), "spans[0]: a span object"},
	    {OTLP("{\"traceId\":\"4bf92f\",\"spanId\":\"00f067aa0ba902b9\"}"),
	     "spans[0].traceId: 32 hex digits"},
	    {OTLP("{\"traceId\":\"00000000000000000000000000000000\",\"spanId\":"
		  "\"00f067aa0ba902b9\"}"),
	     "spans[0].traceId: 32 hex digits, not all zero"},
	    {OTLP("{\"traceId\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"spanId\":"
		  "\"00f067aa0ba902bz\"}"),
	     "spans[0].spanId: 16 hex digits"},
	    {OTLP("{" SPAN_OK ",\"parentSpanId\":17}"), "spans[0].parentSpanId"},
	    {OTLP("{" SPAN_OK ",\"name\":[]}"), "spans[0].name: a string"},
	    {OTLP("{" SPAN_OK ",\"kind\":\"SPAN_KIND_BOGUS\"}"), "spans[0].kind: a SpanKind"},
	    {OTLP("{" SPAN_OK ",\"kind\":6}"), "spans[0].kind: a SpanKind"},
	    {OTLP("{" SPAN_OK ",\"startTimeUnixNano\":\"12a\"}"), "spans[0].startTimeUnixNano"},
	    {OTLP("{" SPAN_OK ",\"startTimeUnixNano\":-1}"), "spans[0].startTimeUnixNano"},
	    {OTLP("{" SPAN_OK ",\"endTimeUnixNano\":\"99999999999999999999999\"}"),
	     "spans[0].endTimeUnixNano"},
	    {OTLP("{" SPAN_OK ",\"startTimeUnixNano\":\"2000\",\"endTimeUnixNano\":\"1000\"}"),
	     "spans[0].endTimeUnixNano: before startTimeUnixNano"},
	    {OTLP("{" SPAN_OK ",\"attributes\":{}}"), "spans[0].attributes: an array"},
	    {OTLP("{" SPAN_OK ",\"attributes\":[{\"key\":1}]}"),
	     "spans[0].attributes[0]: an object with a string key"},
	    {OTLP("{" SPAN_OK ",\"attributes\":[{\"key\":\"a\",\"value\":{\"intValue\":true}}]}"),
	     "spans[0].attributes[0].value: an AnyValue"},
	    {OTLP("{" SPAN_OK
		  ",\"attributes\":[{\"key\":\"a\",\"value\":{\"intValue\":\"1.5\"}}]}"),
	     "spans[0].attributes[0].value: an AnyValue"},
	    {OTLP("{" SPAN_OK ",\"attributes\":[{\"key\":\"a\",\"value\":{\"stringValue\":\"x\"}},"
		  "{\"key\":\"b\",\"value\":7}]}"),
	     "spans[0].attributes[1].value: an AnyValue"},
	    {OTLP("{" SPAN_OK ",\"status\":[]}"), "spans[0].status: an object"},
	    {OTLP("{" SPAN_OK ",\"status\":{\"code\":3}}"), "spans[0].status.code"},
	    /* The second span is bad: the first is not kept either. */
	    {OTLP("{" SPAN_OK "},{\"spanId\":\"00f067aa0ba902b9\"}"), "spans[1].traceId"},
	};
	struct dash_spans out = {0};
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(decode(DASH_TRACE_OTLP_JSON, cases[i][0], &out, err), -EINVAL);
		if (!strstr(err, cases[i][1]))
			fail_msg("case %zu: %s: got \"%s\", want \"%s\"", i, cases[i][0], err,
				 cases[i][1]);
		assert_int_equal(out.n, 0);
	}
	dash_spans_free(&out);
}

static const char zipkin_json[] =
    "[{\"traceId\":\"5af7183fb1d4cf5f\",\"id\":\"352bff9a74ca9ad2\",\"name\":\"get /api\","
    "\"kind\":\"SERVER\",\"timestamp\":1700000000000000,\"duration\":20000,"
    "\"localEndpoint\":{\"serviceName\":\"frontend\",\"ipv4\":\"10.0.0.1\",\"port\":80},"
    "\"tags\":{\"http.method\":\"GET\",\"response_flags\":\"-\"}},"
    "{\"traceId\":\"5af7183fb1d4cf5f\",\"id\":\"452BFF9A74CA9AD2\",\"parentId\":"
    "\"352bff9a74ca9ad2\",\"name\":\"get /backend\",\"kind\":\"CLIENT\",\"timestamp\":"
    "1700000000001000,\"duration\":15000,\"localEndpoint\":{\"serviceName\":\"frontend\"},"
    "\"remoteEndpoint\":{\"serviceName\":\"backend\",\"ipv4\":\"10.0.0.2\",\"port\":8080},"
    "\"tags\":{\"response_flags\":\"UF\"},\"annotations\":[{\"timestamp\":1,\"value\":\"x\"}]},"
    "{\"traceId\":\"5af7183fb1d4cf5f\",\"id\":\"452bff9a74ca9ad2\",\"kind\":\"SERVER\","
    "\"shared\":true,\"timestamp\":1700000000002000,\"duration\":10000,"
    "\"localEndpoint\":{\"serviceName\":\"backend\"},\"tags\":{\"error\":\"\"}},"
    "{\"traceId\":\"463ac35c9f6413ad48485a3953bb6124\",\"id\":\"a2fb4a1d1a96d312\","
    "\"parentId\":\"0000000000000000\"}]";

static void test_zipkin(void **state)
{
	struct dash_spans out = {0};
	char err[256];
	const struct dash_span *s;

	assert_int_equal(decode(DASH_TRACE_ZIPKIN, zipkin_json, &out, err), 0);
	assert_int_equal(out.n, 4);
	s = &out.v[0];
	assert_string_equal(s->trace_id, "00000000000000005af7183fb1d4cf5f");
	assert_string_equal(s->span_id, "352bff9a74ca9ad2");
	assert_string_equal(s->parent_id, "");
	assert_string_equal(s->service, "frontend");
	assert_string_equal(s->name, "get /api");
	assert_int_equal(s->kind, DASH_SPAN_SERVER);
	assert_int_equal(s->start_us, 1700000000000000);
	assert_int_equal(s->duration_us, 20000);
	assert_false(s->error);
	assert_string_equal(tag(s, "http.method"), "GET");
	s = &out.v[1];
	assert_string_equal(s->span_id, "452bff9a74ca9ad2");
	assert_string_equal(s->parent_id, "352bff9a74ca9ad2");
	assert_int_equal(s->kind, DASH_SPAN_CLIENT);
	assert_true(s->error); /* response_flags UF */
	assert_string_equal(tag(s, "peer.service"), "backend");
	assert_string_equal(tag(s, "peer.ipv4"), "10.0.0.2");
	assert_string_equal(tag(s, "peer.port"), "8080");
	/* Shared with the client span: a new id, the client's as parent. */
	s = &out.v[2];
	assert_string_equal(s->parent_id, "452bff9a74ca9ad2");
	assert_string_not_equal(s->span_id, "452bff9a74ca9ad2");
	assert_int_equal(strlen(s->span_id), 16);
	assert_true(s->error); /* an error tag, even empty */
	s = &out.v[3];
	assert_string_equal(s->parent_id, "");
	assert_string_equal(s->service, "unknown_service");
	assert_int_equal(s->kind, DASH_SPAN_UNSPECIFIED);
	dash_spans_free(&out);
}

#define ZOK "\"traceId\":\"5af7183fb1d4cf5f\",\"id\":\"352bff9a74ca9ad2\""

static void test_zipkin_bad(void **state)
{
	static const char *const cases[][2] = {
	    {"[{]", "not JSON"},
	    {"{}", "a JSON array"},
	    {"[1]", "[0]: a span object"},
	    {"[{\"id\":\"352bff9a74ca9ad2\"}]", "[0].traceId: 16 or 32 hex digits"},
	    {"[{\"traceId\":\"5af7183fb1d4cf5\",\"id\":\"352bff9a74ca9ad2\"}]", "[0].traceId"},
	    {"[{\"traceId\":\"5af7183fb1d4cf5f\",\"id\":\"352bff9a74ca9ad\"}]", "[0].id: 16 hex"},
	    {"[{" ZOK ",\"parentId\":\"xyz\"}]", "[0].parentId"},
	    {"[{" ZOK ",\"name\":1}]", "[0].name: a string"},
	    {"[{" ZOK ",\"kind\":\"server\"}]", "[0].kind: CLIENT, SERVER"},
	    {"[{" ZOK ",\"timestamp\":\"1\"}]", "[0].timestamp: microseconds"},
	    {"[{" ZOK ",\"timestamp\":1.5}]", "[0].timestamp"},
	    {"[{" ZOK ",\"duration\":-3}]", "[0].duration: microseconds"},
	    {"[{" ZOK ",\"localEndpoint\":\"x\"}]", "[0].localEndpoint: an endpoint"},
	    {"[{" ZOK ",\"localEndpoint\":{\"serviceName\":3}}]", "[0].localEndpoint"},
	    {"[{" ZOK ",\"remoteEndpoint\":{\"port\":70000}}]", "[0].remoteEndpoint"},
	    {"[{" ZOK ",\"tags\":[]}]", "[0].tags: an object of strings"},
	    {"[{" ZOK ",\"tags\":{\"http.status_code\":200}}]",
	     "[0].tags.http.status_code: a string"},
	    {"[{" ZOK ",\"shared\":\"yes\"}]", "[0].shared: a boolean"},
	    {"[{" ZOK "},{" ZOK ",\"kind\":7}]", "[1].kind"},
	};
	struct dash_spans out = {0};
	size_t seen;
	char err[256], *big;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(decode(DASH_TRACE_ZIPKIN, cases[i][0], &out, err), -EINVAL);
		if (!strstr(err, cases[i][1]))
			fail_msg("case %zu: %s: got \"%s\", want \"%s\"", i, cases[i][0], err,
				 cases[i][1]);
		assert_int_equal(out.n, 0);
	}
	big = calloc(1, DASH_TRACE_MAX_BODY + 1);
	assert_int_equal(dash_trace_decode(DASH_TRACE_ZIPKIN, big, DASH_TRACE_MAX_BODY + 1, &out,
					   &seen, err, sizeof(err)),
			 -E2BIG);
	free(big);
	dash_spans_free(&out);
}

/* A Zipkin span of trace @trace (16 hex), kept in @t. */
static void zput(struct dash_traces *t, const char *trace, const char *id, const char *parent,
		 const char *service, const char *name, long ts, long dur, const char *tags)
{
	char body[1024], err[256];

	snprintf(body, sizeof(body),
		 "[{\"traceId\":\"%s\",\"id\":\"%s\"%s%s%s,\"name\":\"%s\",\"timestamp\":%ld,"
		 "\"duration\":%ld,\"localEndpoint\":{\"serviceName\":\"%s\"},\"tags\":{%s}}]",
		 trace, id, parent ? ",\"parentId\":\"" : "", parent ?: "", parent ? "\"" : "",
		 name, ts, dur, service, tags ?: "");
	if (dash_traces_ingest(t, DASH_TRACE_ZIPKIN, body, strlen(body), NULL, err, sizeof(err)))
		fail_msg("%s: %s", body, err);
}

static double stat(struct dash_traces *t, const char *key)
{
	cJSON *s = dash_traces_stats(t);
	double v = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(s, key));

	cJSON_Delete(s);
	return v;
}

static bool has_trace(struct dash_traces *t, const char *id)
{
	int status;
	cJSON *doc = dash_traces_get(t, id, &status);

	cJSON_Delete(doc);
	return doc != NULL;
}

static void test_store_bound(void **state)
{
	struct dash_traces *t = dash_traces_create(10, 1 << 20);
	char trace[17], id[17];

	assert_non_null(t);
	/* Four traces of three spans: the fourth passes the bound, the first goes whole. */
	for (int i = 1; i <= 4; i++) {
		snprintf(trace, sizeof(trace), "%016x", i);
		for (int j = 1; j <= 3; j++) {
			snprintf(id, sizeof(id), "%016x", i * 16 + j);
			zput(t, trace, id, NULL, "svc", "op", 1000 * i, 10, NULL);
		}
	}
	assert_false(has_trace(t, "0000000000000001"));
	assert_true(has_trace(t, "0000000000000002"));
	assert_true(has_trace(t, "00000000000000000000000000000004"));
	assert_int_equal(stat(t, "spans"), 9);
	assert_int_equal(stat(t, "traces"), 3);
	assert_int_equal(stat(t, "evicted"), 3);
	assert_int_equal(stat(t, "accepted"), 12);
	/* Trace 2 receives a span: trace 3 has waited longest now, and goes next. */
	zput(t, "0000000000000002", "00000000000000ff", NULL, "svc", "op", 2000, 10, NULL);
	zput(t, "0000000000000005", "0000000000000051", NULL, "svc", "op", 5000, 10, NULL);
	assert_true(has_trace(t, "0000000000000002"));
	assert_false(has_trace(t, "0000000000000003"));
	assert_int_equal(stat(t, "spans"), 8);
	/* A span sent again (an exporter's retry) is dropped. */
	zput(t, "0000000000000005", "0000000000000051", NULL, "svc", "op", 5000, 10, NULL);
	assert_int_equal(stat(t, "dropped"), 1);
	assert_int_equal(stat(t, "spans"), 8);
	/* A bad body is counted, its spans with it. */
	assert_int_equal(
	    dash_traces_ingest(t, DASH_TRACE_ZIPKIN, "[{},{}]", 7, NULL, (char[64]){0}, 64),
	    -EINVAL);
	assert_int_equal(stat(t, "rejected"), 2);
	assert_int_equal(stat(t, "requestsRejected"), 1);
	dash_traces_destroy(t);

	/* The bound in bytes: each span here takes some 300. */
	t = dash_traces_create(1000, 2000);
	for (int i = 1; i <= 20; i++) {
		snprintf(trace, sizeof(trace), "%016x", i);
		zput(t, trace, "0000000000000001", NULL, "svc", "op", i, 1, "\"k\":\"v\"");
	}
	assert_true(stat(t, "bytes") <= 2000);
	assert_true(stat(t, "traces") >= 3);
	assert_true(has_trace(t, "0000000000000014"));
	assert_false(has_trace(t, "0000000000000001"));
	dash_traces_destroy(t);
	dash_traces_destroy(NULL);
}

static cJSON *find(struct dash_traces *t, const char *service, const char *op, long min_us,
		   const char *key, const char *value, size_t limit)
{
	struct dash_trace_query q = {service, op, key, value, min_us, limit};

	return dash_traces_find(t, &q);
}

static const char *nth_id(const cJSON *list, int i)
{
	return cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(list, i), "traceID"));
}

static void test_store_find(void **state)
{
	struct dash_traces *t = dash_traces_create(1000, 1 << 20);
	const char *a = "000000000000000a", *b = "000000000000000b", *c = "000000000000000c";
	cJSON *list, *doc, *s;
	int status;

	/* a: gateway -> productpage -> reviews (error); b: productpage alone; c: slow ratings. */
	zput(t, a, "00000000000000a1", NULL, "gateway", "GET /productpage", 1000, 300, NULL);
	zput(t, a, "00000000000000a2", "00000000000000a1", "productpage", "GET /productpage", 1010,
	     250, NULL);
	zput(t, a, "00000000000000a3", "00000000000000a2", "reviews", "GET /reviews/0", 1020, 100,
	     "\"http.status_code\":\"503\"");
	zput(t, b, "00000000000000b1", NULL, "productpage", "GET /health", 5000, 10,
	     "\"user\":\"jason\"");
	zput(t, c, "00000000000000c1", NULL, "ratings", "GET /ratings/0", 3000, 90000, NULL);

	list = find(t, NULL, NULL, 0, NULL, NULL, 20);
	assert_int_equal(cJSON_GetArraySize(list), 3);
	/* Newest first. */
	assert_string_equal(nth_id(list, 0), "0000000000000000000000000000000b");
	assert_string_equal(nth_id(list, 1), "0000000000000000000000000000000c");
	assert_string_equal(nth_id(list, 2), "0000000000000000000000000000000a");
	s = cJSON_GetArrayItem(list, 2);
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(s, "start")), 1000);
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(s, "duration")), 300);
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(s, "spans")), 3);
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(s, "errors")), 1);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(s, "rootService")), "gateway");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(s, "rootName")),
			    "GET /productpage");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s, "services")), 3);
	cJSON_Delete(list);

	list = find(t, "productpage", NULL, 0, NULL, NULL, 20);
	assert_int_equal(cJSON_GetArraySize(list), 2);
	cJSON_Delete(list);
	list = find(t, "productpage", "GET /health", 0, NULL, NULL, 20);
	assert_int_equal(cJSON_GetArraySize(list), 1);
	assert_string_equal(nth_id(list, 0), "0000000000000000000000000000000b");
	cJSON_Delete(list);
	/* One span must match everything: reviews has no GET /health. */
	list = find(t, "reviews", "GET /health", 0, NULL, NULL, 20);
	assert_int_equal(cJSON_GetArraySize(list), 0);
	cJSON_Delete(list);
	list = find(t, NULL, NULL, 200, NULL, NULL, 20);
	assert_int_equal(cJSON_GetArraySize(list), 2); /* a's root (300), c (90000) */
	cJSON_Delete(list);
	list = find(t, "productpage", NULL, 200, NULL, NULL, 20);
	assert_int_equal(cJSON_GetArraySize(list), 1);
	cJSON_Delete(list);
	list = find(t, NULL, NULL, 0, "user", "jason", 20);
	assert_int_equal(cJSON_GetArraySize(list), 1);
	cJSON_Delete(list);
	list = find(t, NULL, NULL, 0, "user", "mary", 20);
	assert_int_equal(cJSON_GetArraySize(list), 0);
	cJSON_Delete(list);
	list = find(t, NULL, NULL, 0, "http.status_code", NULL, 20);
	assert_int_equal(cJSON_GetArraySize(list), 1);
	cJSON_Delete(list);
	list = find(t, NULL, NULL, 0, NULL, NULL, 2);
	assert_int_equal(cJSON_GetArraySize(list), 2);
	cJSON_Delete(list);

	/* A trace by its id, 16 or 32 digits, its spans by start. */
	doc = dash_traces_get(t, "000000000000000A", &status);
	assert_non_null(doc);
	assert_int_equal(status, 200);
	s = cJSON_GetObjectItem(doc, "spans");
	assert_int_equal(cJSON_GetArraySize(s), 3);
	assert_string_equal(
	    cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(s, 2), "parentSpanID")),
	    "00000000000000a2");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(s, 2), "error")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(s, 0), "parentSpanID")));
	cJSON_Delete(doc);
	assert_null(dash_traces_get(t, "00000000000000000000000000000abc", &status));
	assert_int_equal(status, 404);
	assert_null(dash_traces_get(t, "nothex", &status));
	assert_int_equal(status, 404);

	/* The services seen, their operations. */
	doc = dash_traces_services(t);
	assert_int_equal(cJSON_GetArraySize(doc), 4);
	s = cJSON_GetArrayItem(doc, 1);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(s, "name")), "productpage");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s, "operations")), 2);
	cJSON_Delete(doc);
	dash_traces_destroy(t);
}

/* The proxy tags a waypoint's span carries: its node_id, the Service it served. */
#define WP_TAGS(host)                                                                              \
	"\"node_id\":\"waypoint~10.244.1.5~waypoint-0.default~default.svc.cluster.local\","        \
	"\"istio.destination_service\":\"" host "\""

static const char *str_of(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* The services' entry named @name in dash_traces_services' list, or NULL. */
static const cJSON *service_entry(const cJSON *list, const char *name)
{
	const cJSON *s;

	cJSON_ArrayForEach(s, list) if (!strcmp(str_of(s, "name"), name)) return s;
	return NULL;
}

static void test_store_app_services(void **state)
{
	struct dash_traces *t = dash_traces_create(1000, 1 << 20);
	const char *a = "000000000000000a", *b = "000000000000000b";
	const cJSON *s;
	cJSON *list, *doc;
	int status;

	/*
	 * a: the gateway's span (router~: keeps its name), the waypoint's server span for
	 * productpage and its client span to reviews; b: the waypoint's span for traffic to a pod
	 * ("unknown") and for a ServiceEntry's host: both stay the waypoint's.
	 */
	zput(t, a, "00000000000000a1", NULL, "istio-ingressgateway.istio-system",
	     "productpage.default.svc.cluster.local:9080/*", 1000, 300,
	     "\"node_id\":\"router~10.244.1.9~gw-0.istio-system~istio-system.svc.cluster.local\","
	     "\"istio.destination_service\":\"productpage.default.svc.cluster.local\"");
	zput(t, a, "00000000000000a2", "00000000000000a1", "waypoint.default",
	     "productpage.default.svc.cluster.local:9080/*", 1010, 250,
	     WP_TAGS("productpage.default.svc.cluster.local"));
	zput(t, a, "00000000000000a3", "00000000000000a2", "waypoint.default",
	     "reviews.default.svc.cluster.local:9080/*", 1020, 100,
	     WP_TAGS("reviews.default.svc.cluster.local"));
	zput(t, b, "00000000000000b1", NULL, "waypoint.default", "10.244.1.7:8080/*", 2000, 10,
	     WP_TAGS("unknown"));
	zput(t, b, "00000000000000b2", "00000000000000b1", "waypoint.default", "httpbin.org:80/*",
	     2001, 5, WP_TAGS("httpbin.org"));

	/* Found by the application's service, and by the waypoint's name as before. */
	list = find(t, "reviews.default", NULL, 0, NULL, NULL, 20);
	assert_int_equal(cJSON_GetArraySize(list), 1);
	assert_string_equal(nth_id(list, 0), "0000000000000000000000000000000a");
	s = cJSON_GetArrayItem(list, 0);
	assert_string_equal(str_of(s, "rootService"), "istio-ingressgateway.istio-system");
	/* The list's services are the applications' (and the gateway's), not the waypoint. */
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s, "services")), 3);
	assert_string_equal(
	    str_of(cJSON_GetArrayItem(cJSON_GetObjectItem(s, "services"), 1), "name"),
	    "productpage.default");
	cJSON_Delete(list);
	list = find(t, "waypoint.default", NULL, 0, NULL, NULL, 20);
	assert_int_equal(cJSON_GetArraySize(list), 2);
	cJSON_Delete(list);
	list = find(t, "productpage.default", "reviews.default.svc.cluster.local:9080/*", 0, NULL,
		    NULL, 20);
	assert_int_equal(cJSON_GetArraySize(list), 0);
	cJSON_Delete(list);

	/* A span says whose it is and which proxy recorded it. */
	doc = dash_traces_get(t, a, &status);
	assert_non_null(doc);
	s = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "spans"), 2);
	assert_string_equal(str_of(s, "service"), "reviews.default");
	assert_string_equal(str_of(s, "proxy"), "waypoint.default");
	s = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "spans"), 0);
	assert_string_equal(str_of(s, "service"), "istio-ingressgateway.istio-system");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(s, "proxy")));
	cJSON_Delete(doc);

	/* The services: the applications' with their operations, the waypoint's marked a proxy. */
	doc = dash_traces_services(t);
	assert_int_equal(cJSON_GetArraySize(doc), 4);
	s = service_entry(doc, "reviews.default");
	assert_non_null(s);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(s, "proxy")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s, "operations")), 1);
	s = service_entry(doc, "istio-ingressgateway.istio-system");
	assert_non_null(s);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(s, "proxy")));
	s = service_entry(doc, "waypoint.default");
	assert_non_null(s);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(s, "proxy")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s, "operations")), 4);
	assert_non_null(service_entry(doc, "productpage.default"));
	cJSON_Delete(doc);
	dash_traces_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_otlp_proto),
	    cmocka_unit_test(test_otlp_proto_bad),
	    cmocka_unit_test(test_otlp_json),
	    cmocka_unit_test(test_otlp_json_bad),
	    cmocka_unit_test(test_zipkin),
	    cmocka_unit_test(test_zipkin_bad),
	    cmocka_unit_test(test_store_bound),
	    cmocka_unit_test(test_store_find),
	    cmocka_unit_test(test_store_app_services),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
