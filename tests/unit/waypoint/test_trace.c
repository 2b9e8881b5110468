// SPDX-License-Identifier: Apache-2.0
/*
 * Trace context and spans (waypoint/trace.c): W3C traceparent and both B3 forms read as the
 * specifications say (and malformed ones ignored), the context written upstream, and the two
 * encodings (Zipkin v2 JSON read back with cJSON, OTLP read back with the generated
 * descriptors).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "../../../waypoint/trace.h"

static const char TID[] = "4bf92f3577b34da6a3ce929d0e0e4736";
static const char SID[] = "00f067aa0ba902b7";

static bool extract1(const char *name, const char *value, struct wp_trace_ctx *c)
{
	struct http_fields f = {0};
	bool ok;

	assert_int_equal(http_fields_add(&f, name, value), 0);
	ok = wp_trace_extract(&f, c);
	http_fields_free(&f);
	return ok;
}

static void assert_ids(const struct wp_trace_ctx *c, const char *tid, const char *sid)
{
	char t[33], s[17];

	wp_trace_hex(c->trace_id, 16, t);
	wp_trace_hex(c->parent_id, 8, s);
	assert_string_equal(t, tid);
	assert_string_equal(s, sid);
	assert_true(c->has_parent);
}

static void test_traceparent(void **state)
{
	struct wp_trace_ctx c;

	assert_true(
	    extract1("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &c));
	assert_ids(&c, TID, SID);
	assert_int_equal(c.sampled, 1);
	assert_true(
	    extract1("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &c));
	assert_int_equal(c.sampled, 0);
	/* A later version may carry more; version ff and zero ids are invalid; 00 is exact. */
	assert_true(extract1("traceparent",
			     "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", &c));
	assert_false(
	    extract1("traceparent", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &c));
	assert_false(
	    extract1("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", &c));
	assert_false(
	    extract1("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", &c));
	assert_false(extract1("traceparent",
			      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", &c));
	assert_false(
	    extract1("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", &c));
	assert_false(
	    extract1("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", &c));
	assert_false(extract1("traceparent", "", &c));
	assert_int_equal(c.sampled, -1);
}

static void test_b3(void **state)
{
	struct wp_trace_ctx c;

	assert_true(extract1("b3", "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1", &c));
	assert_ids(&c, TID, SID);
	assert_int_equal(c.sampled, 1);
	assert_true(c.b3_single);
	assert_true(extract1(
	    "b3", "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-d-05e3ac9a4f6e3b90", &c));
	assert_int_equal(c.sampled, 1);
	assert_true(extract1("b3", "a3ce929d0e0e4736-00f067aa0ba902b7", &c));
	assert_ids(&c, "0000000000000000a3ce929d0e0e4736", SID);
	assert_int_equal(c.sampled, -1);
	/* The decision alone. */
	assert_false(extract1("b3", "0", &c));
	assert_int_equal(c.sampled, 0);
	assert_false(c.has_parent);
	assert_false(extract1("b3", "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-x", &c));
	assert_false(extract1("b3", "4bf92f-00f067aa0ba902b7-1", &c));
}

static void test_b3_multi(void **state)
{
	struct http_fields f = {0};
	struct wp_trace_ctx c;

	assert_int_equal(http_fields_add(&f, "x-b3-traceid", TID), 0);
	assert_int_equal(http_fields_add(&f, "x-b3-spanid", SID), 0);
	assert_int_equal(http_fields_add(&f, "x-b3-sampled", "true"), 0);
	assert_true(wp_trace_extract(&f, &c));
	assert_ids(&c, TID, SID);
	assert_int_equal(c.sampled, 1);
	assert_false(c.b3_single);
	http_fields_remove(&f, "x-b3-sampled");
	assert_int_equal(http_fields_add(&f, "x-b3-flags", "1"), 0);
	assert_true(wp_trace_extract(&f, &c));
	assert_int_equal(c.sampled, 1);
	/* traceparent wins over B3. */
	assert_int_equal(http_fields_add(&f, "traceparent",
					 "00-11111111111111111111111111111111-2222222222222222-00"),
			 0);
	assert_true(wp_trace_extract(&f, &c));
	assert_ids(&c, "11111111111111111111111111111111", "2222222222222222");
	assert_int_equal(c.sampled, 0);
	http_fields_free(&f);
	/* x-b3-sampled without ids: a decision, no trace. */
	assert_false(extract1("x-b3-sampled", "0", &c));
	assert_int_equal(c.sampled, 0);
}

static void test_inject(void **state)
{
	struct http_fields f = {0};
	struct wp_trace_ctx c;
	const uint8_t span[8] = {1, 2, 3, 4, 5, 6, 7, 8}, parent[8] = {9, 9, 9, 9, 9, 9, 9, 9};

	assert_int_equal(http_fields_add(&f, "b3", "a3ce929d0e0e4736-00f067aa0ba902b7-1"), 0);
	assert_int_equal(http_fields_add(&f, "x-b3-flags", "1"), 0);
	assert_int_equal(http_fields_add(&f, "tracestate", "congo=t61rcWkgMzE"), 0);
	assert_true(wp_trace_extract(&f, &c));
	assert_int_equal(wp_trace_inject(&f, &c, span, parent, true), 0);
	assert_string_equal(http_fields_get(&f, "traceparent"),
			    "00-0000000000000000a3ce929d0e0e4736-0102030405060708-01");
	assert_string_equal(http_fields_get(&f, "x-b3-traceid"), "a3ce929d0e0e4736");
	assert_string_equal(http_fields_get(&f, "x-b3-spanid"), "0102030405060708");
	assert_string_equal(http_fields_get(&f, "x-b3-parentspanid"), "0909090909090909");
	assert_string_equal(http_fields_get(&f, "x-b3-sampled"), "1");
	assert_string_equal(http_fields_get(&f, "b3"),
			    "a3ce929d0e0e4736-0102030405060708-1-0909090909090909");
	assert_string_equal(http_fields_get(&f, "tracestate"), "congo=t61rcWkgMzE");
	assert_null(http_fields_get(&f, "x-b3-flags"));
	assert_int_equal(http_fields_count(&f, "traceparent"), 1);
	/* Read back, the proxy's span is the next hop's parent. */
	assert_true(wp_trace_extract(&f, &c));
	assert_ids(&c, "0000000000000000a3ce929d0e0e4736", "0102030405060708");
	assert_int_equal(wp_trace_inject(&f, &c, span, parent, false), 0);
	assert_string_equal(http_fields_get(&f, "x-b3-sampled"), "0");
	/* Written again, not added again. */
	assert_int_equal(http_fields_count(&f, "traceparent"), 1);
	assert_int_equal(http_fields_count(&f, "x-b3-sampled"), 1);
	/* The context came from traceparent this time: b3 is not written. */
	assert_int_equal(http_fields_count(&f, "b3"), 0);
	http_fields_free(&f);
}

static void make_span(struct wp_span *s, bool client)
{
	uint8_t tid[16];

	assert_int_equal(wp_span_begin(s, client ? "router c egress" : "svc:80/*"), 0);
	for (int i = 0; i < 16; i++)
		tid[i] = (uint8_t)(0xa0 + i);
	memcpy(s->trace_id, tid, 16);
	memset(s->span_id, client ? 2 : 1, 8);
	memset(s->parent_id, client ? 1 : 3, 8);
	s->has_parent = true;
	s->client = client;
	s->start_us = 1700000000000000ull;
	s->duration_us = 1500;
	s->error = client;
	assert_int_equal(wp_span_tag(s, "http.status_code", "503", 0), 0);
	assert_int_equal(wp_span_tag(s, "quote", "a\"b\\c\n\x01", 0), 0);
	assert_int_equal(wp_span_tag(s, "long", "abcdefgh", 4), 0);
	assert_int_equal(wp_span_tag(s, "absent", NULL, 0), 0);
}

static void test_zipkin(void **state)
{
	struct wp_span a = {0}, b = {0};
	const struct wp_span *v[2] = {&a, &b};
	struct wp_trace_resource res = {.service = "waypoint.default", .ip = "10.0.0.9"};
	struct buf out = {0};
	cJSON *j, *s, *tags;
	char *text;

	make_span(&a, false);
	make_span(&b, true);
	assert_int_equal(wp_trace_zipkin(v, 2, &res, &out), 0);
	text = strndup(buf_head(&out), out.len);
	j = cJSON_Parse(text);
	assert_non_null(j);
	assert_int_equal(cJSON_GetArraySize(j), 2);
	s = cJSON_GetArrayItem(j, 0);
	assert_string_equal(cJSON_GetObjectItem(s, "traceId")->valuestring, "a8a9aaabacadaeaf");
	assert_string_equal(cJSON_GetObjectItem(s, "id")->valuestring, "0101010101010101");
	assert_string_equal(cJSON_GetObjectItem(s, "parentId")->valuestring, "0303030303030303");
	assert_string_equal(cJSON_GetObjectItem(s, "kind")->valuestring, "SERVER");
	assert_string_equal(cJSON_GetObjectItem(s, "name")->valuestring, "svc:80/*");
	assert_true(cJSON_GetObjectItem(s, "timestamp")->valuedouble == 1700000000000000.0);
	assert_int_equal(cJSON_GetObjectItem(s, "duration")->valueint, 1500);
	assert_string_equal(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(s, "localEndpoint"), "serviceName")
		->valuestring,
	    "waypoint.default");
	tags = cJSON_GetObjectItem(s, "tags");
	assert_string_equal(cJSON_GetObjectItem(tags, "quote")->valuestring, "a\"b\\c\n\x01");
	assert_string_equal(cJSON_GetObjectItem(tags, "long")->valuestring, "abcd");
	assert_null(cJSON_GetObjectItem(tags, "absent"));
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 1), "kind")->valuestring,
			    "CLIENT");
	cJSON_Delete(j);
	free(text);
	buf_free(&out);
	/* 128-bit ids when the provider asks. */
	res.trace_id_128 = true;
	assert_int_equal(wp_trace_zipkin(v, 1, &res, &out), 0);
	text = strndup(buf_head(&out), out.len);
	assert_non_null(strstr(text, "\"traceId\":\"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\""));
	free(text);
	buf_free(&out);
	wp_span_free(&a);
	wp_span_free(&b);
}

static void test_otlp(void **state)
{
	struct wp_span a = {0}, b = {0};
	const struct wp_span *v[2] = {&a, &b};
	struct wp_trace_resource res = {.service = "waypoint.default", .ip = "10.0.0.9"};
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req;
	Opentelemetry__Proto__Trace__V1__Span *s;
	uint8_t *out;
	size_t len;

	make_span(&a, false);
	make_span(&b, true);
	assert_int_equal(wp_trace_otlp(v, 2, &res, &out, &len), 0);
	req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
	    NULL, len, out);
	assert_non_null(req);
	assert_int_equal(req->n_resource_spans, 1);
	assert_string_equal(req->resource_spans[0]->resource->attributes[0]->key, "service.name");
	assert_string_equal(req->resource_spans[0]->resource->attributes[0]->value->string_value,
			    "waypoint.default");
	assert_int_equal(req->resource_spans[0]->scope_spans[0]->n_spans, 2);
	s = req->resource_spans[0]->scope_spans[0]->spans[1];
	assert_int_equal(s->kind,
			 OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT);
	assert_string_equal(s->name, "router c egress");
	assert_int_equal(s->trace_id.len, 16);
	assert_int_equal(s->trace_id.data[0], 0xa0);
	assert_int_equal(s->parent_span_id.len, 8);
	assert_int_equal(s->parent_span_id.data[0], 1);
	assert_true(s->start_time_unix_nano == 1700000000000000000ull);
	assert_true(s->end_time_unix_nano - s->start_time_unix_nano == 1500000ull);
	assert_int_equal(s->status->code,
			 OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
	assert_int_equal(s->n_attributes, 3);
	assert_string_equal(s->attributes[2]->value->string_value, "abcd");
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
	    req, NULL);
	free(out);
	wp_span_free(&a);
	wp_span_free(&b);
}

/* Tag @k of Zipkin span @sp, or NULL. */
static const char *zipkin_tag(cJSON *sp, const char *k)
{
	cJSON *t = cJSON_GetObjectItem(cJSON_GetObjectItem(sp, "tags"), k);

	return cJSON_IsString(t) ? t->valuestring : NULL;
}

/* The value of OTLP span @sp's attribute @k, or NULL. */
static const char *otlp_tag(const Opentelemetry__Proto__Trace__V1__Span *sp, const char *k)
{
	for (size_t i = 0; i < sp->n_attributes; i++)
		if (!strcmp(sp->attributes[i]->key, k))
			return sp->attributes[i]->value->string_value;
	return NULL;
}

/*
 * A CLIENT span made from its SERVER span (wp_span_begin_from) shares its first tags: written
 * once for both when it comes right after it, and each span still has all its own, in both
 * encodings; in another order (not after its SERVER span) nothing is shared.
 */
static void test_shared_tags(void **state)
{
	struct wp_span srv = {0}, cli = {0}, other = {0};
	const struct wp_span *pair[3] = {&srv, &cli, &other}, *apart[3] = {&cli, &other, &srv};
	struct wp_trace_resource res = {.service = "waypoint.default"};
	const struct wp_span *const *orders[2] = {pair, apart};

	make_span(&srv, false);
	assert_int_equal(wp_span_tag(&srv, "peer.address", "10.0.0.1", 0), 0);
	assert_int_equal(wp_span_begin_from(&cli, &srv, 3, "router c egress"), 0);
	cli.client = true;
	assert_int_equal(wp_span_tag(&cli, "peer.address", "10.0.0.2", 0), 0);
	assert_int_equal(cli.shared, 3);
	make_span(&other, false);
	for (int o = 0; o < 2; o++) {
		const struct wp_span *const *v = orders[o];
		struct buf z = {0};
		Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req;
		char *text;
		cJSON *j;
		uint8_t *out;
		size_t len;

		assert_int_equal(wp_trace_zipkin(v, 3, &res, &z), 0);
		text = strndup(buf_head(&z), z.len);
		j = cJSON_Parse(text);
		assert_non_null(j);
		for (int i = 0; i < 3; i++) {
			cJSON *sp = cJSON_GetArrayItem(j, i);
			const char *kind = cJSON_GetObjectItem(sp, "kind")->valuestring;

			assert_string_equal(zipkin_tag(sp, "http.status_code"), "503");
			assert_string_equal(zipkin_tag(sp, "quote"), "a\"b\\c\n\x01");
			assert_string_equal(zipkin_tag(sp, "long"), "abcd");
			if (v[i] == &other)
				assert_null(zipkin_tag(sp, "peer.address"));
			else
				assert_string_equal(zipkin_tag(sp, "peer.address"),
						    !strcmp(kind, "CLIENT") ? "10.0.0.2"
									    : "10.0.0.1");
			assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(sp, "tags")),
					 v[i] == &other ? 3 : 4);
		}
		cJSON_Delete(j);
		free(text);
		buf_free(&z);

		assert_int_equal(wp_trace_otlp(v, 3, &res, &out, &len), 0);
		req =
		    opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
			NULL, len, out);
		assert_non_null(req);
		for (int i = 0; i < 3; i++) {
			const Opentelemetry__Proto__Trace__V1__Span *sp =
			    req->resource_spans[0]->scope_spans[0]->spans[i];

			assert_int_equal(sp->n_attributes, v[i] == &other ? 3 : 4);
			assert_string_equal(otlp_tag(sp, "http.status_code"), "503");
			assert_string_equal(otlp_tag(sp, "quote"), "a\"b\\c\n\x01");
			assert_string_equal(otlp_tag(sp, "long"), "abcd");
			if (v[i] != &other)
				assert_string_equal(otlp_tag(sp, "peer.address"),
						    v[i] == &cli ? "10.0.0.2" : "10.0.0.1");
		}
		opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		    req, NULL);
		free(out);
	}
	wp_span_free(&srv);
	wp_span_free(&cli);
	wp_span_free(&other);
}

/* Span @s as the proxy makes one: its own tags first (@ns for the namespace), marked fixed. */
static void fixed_span(struct wp_span *s, const char *ns, const char *peer)
{
	make_span(s, false);
	s->n_tags = 0;
	assert_int_equal(wp_span_tag(s, "istio.canonical_service", "waypoint", 0), 0);
	assert_int_equal(wp_span_tag(s, "istio.namespace", ns, 0), 0);
	s->fixed = s->n_tags;
	assert_int_equal(wp_span_tag(s, "http.status_code", "200", 0), 0);
	assert_int_equal(wp_span_tag(s, "peer.address", peer, 0), 0);
}

/*
 * The proxy's own tags (wp_span.fixed) are packed once per OTLP batch: every span still decodes
 * with exactly its own tags, whether it has a run or not, comes after its SERVER span or not,
 * or starts with other fixed tags than the batch's first (a configuration changed) or none.
 */
static void test_fixed_tags(void **state)
{
	struct wp_span srv = {0}, cli = {0}, lone = {0}, moved = {0}, plain = {0};
	const struct wp_span *v[5] = {&srv, &cli, &lone, &moved, &plain};
	const char *ns[5] = {"default", "default", "default", "other", NULL};
	const char *peer[5] = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", NULL};
	struct wp_trace_resource res = {.service = "waypoint.default"};
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req;
	uint8_t *out;
	size_t len;

	fixed_span(&srv, "default", "10.0.0.1");
	assert_int_equal(wp_span_begin_from(&cli, &srv, 3, "router c egress"), 0);
	cli.client = true;
	assert_int_equal(cli.fixed, 2);
	assert_int_equal(wp_span_tag(&cli, "peer.address", "10.0.0.2", 0), 0);
	fixed_span(&lone, "default", "10.0.0.3");
	fixed_span(&moved, "other", "10.0.0.4");
	make_span(&plain, false);
	for (int first = 0; first < 5; first++) {
		const struct wp_span *w[5];

		/* Each span first in turn: the batch's fixed tags are the first span's. */
		for (int i = 0; i < 5; i++)
			w[i] = v[(first + i) % 5];
		assert_int_equal(wp_trace_otlp(w, 5, &res, &out, &len), 0);
		req =
		    opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
			NULL, len, out);
		assert_non_null(req);
		assert_int_equal(req->resource_spans[0]->scope_spans[0]->n_spans, 5);
		for (int i = 0; i < 5; i++) {
			const Opentelemetry__Proto__Trace__V1__Span *sp =
			    req->resource_spans[0]->scope_spans[0]->spans[i];
			int k = (first + i) % 5;

			if (!ns[k]) {
				assert_int_equal(sp->n_attributes, 3);
				assert_string_equal(otlp_tag(sp, "http.status_code"), "503");
				continue;
			}
			assert_int_equal(sp->n_attributes, 4);
			assert_string_equal(otlp_tag(sp, "istio.canonical_service"), "waypoint");
			assert_string_equal(otlp_tag(sp, "istio.namespace"), ns[k]);
			assert_string_equal(otlp_tag(sp, "http.status_code"), "200");
			assert_string_equal(otlp_tag(sp, "peer.address"), peer[k]);
		}
		opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		    req, NULL);
		free(out);
	}
	wp_span_free(&srv);
	wp_span_free(&cli);
	wp_span_free(&lone);
	wp_span_free(&moved);
	wp_span_free(&plain);
}

static void test_span_limits(void **state)
{
	struct wp_span s = {0};
	char k[16];

	assert_int_equal(wp_span_begin(&s, "n"), 0);
	for (int i = 0; i < WP_SPAN_TAGS_MAX + 5; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		assert_int_equal(wp_span_tag(&s, k, "v", 0), 0);
	}
	assert_int_equal(s.n_tags, WP_SPAN_TAGS_MAX);
	/* A reused span starts empty but keeps its memory. */
	assert_int_equal(wp_span_begin(&s, "m"), 0);
	assert_int_equal(s.n_tags, 0);
	assert_string_equal(wp_span_str(&s, s.name), "m");
	wp_span_free(&s);
}

static void test_random_id(void **state)
{
	uint8_t a[8], b[8];

	wp_trace_random_id(a, 8);
	wp_trace_random_id(b, 8);
	assert_memory_not_equal(a, b, 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_traceparent), cmocka_unit_test(test_b3),
	    cmocka_unit_test(test_b3_multi),	cmocka_unit_test(test_inject),
	    cmocka_unit_test(test_zipkin),	cmocka_unit_test(test_otlp),
	    cmocka_unit_test(test_shared_tags), cmocka_unit_test(test_fixed_tags),
	    cmocka_unit_test(test_span_limits), cmocka_unit_test(test_random_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
