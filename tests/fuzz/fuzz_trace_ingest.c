// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: the bodies anything in the cluster may POST to `ambitctl dashboard`'s
 * trace receivers (userspace/dashboard/dashboard_traces*.c). Each input is read by all three
 * decoders (OTLP protobuf, OTLP JSON, Zipkin v2 JSON), kept in a store bounded to 16 spans
 * (dashboard/trace_store.c), fed again as the receiver takes a body (dropped as a retry), and
 * asked as the page asks: the search with and without filters, each trace found, the services.
 * Checked beyond no crash, leak or UB: a refused body leaves nothing behind; a span decoded has
 * a 32-digit trace id and a 16-digit span id in lowercase hex, a parent that is none or 16
 * digits, a known kind, no negative time, its name and tags within their bounds, a waypoint's
 * span under a name.namespace; the store
 * stays within its bound and finds every trace it lists.
 * Seeds: tests/fuzz/corpus/fuzz_trace_ingest/: otlp_bookinfo.pb, encoded by protoc from
 * otlp_bookinfo.txtpb beside it (protoc -I proto --encode=opentelemetry.proto.collector.trace.
 * v1.ExportTraceServiceRequest opentelemetry/proto/collector/trace/v1/trace_service.proto);
 * OTLP JSON and Zipkin JSON written by hand (zipkin_waypoint.json: a waypoint's spans, as
 * waypoint/proxy_trace.c tags them).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dashboard/dashboard.h"

static bool lower_hex(const char *s, size_t n)
{
	return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

static void check_span(const struct dash_span *sp)
{
	if (!lower_hex(sp->trace_id, 32) || !lower_hex(sp->span_id, 16) ||
	    (sp->parent_id[0] && !lower_hex(sp->parent_id, 16)) || sp->kind > DASH_SPAN_CONSUMER ||
	    sp->start_us < 0 || sp->duration_us < 0 || !sp->name || !sp->service ||
	    strlen(sp->name) > 1024 || sp->n_tags > 128)
		abort();
	/* Listed under the Service a waypoint served: name.namespace, both there. */
	if (sp->proxy && (!*sp->service || *sp->service == '.' || !strchr(sp->service, '.') ||
			  strchr(sp->service, '.') != strrchr(sp->service, '.') ||
			  sp->service[strlen(sp->service) - 1] == '.'))
		abort();
	for (size_t i = 0; i < sp->n_tags; i++)
		if (!sp->tags[i].key || !sp->tags[i].value || strlen(sp->tags[i].key) > 256 ||
		    strlen(sp->tags[i].value) > 4096)
			abort();
}

static void ask(struct dash_traces *t)
{
	struct dash_trace_query all = {.limit = 1000}, some = {.service = "reviews.default",
							       .tag_key = "http.status_code",
							       .min_duration_us = 1,
							       .limit = 5};
	cJSON *list = dash_traces_find(t, &all), *s, *doc;
	int status;

	if (!list || cJSON_GetArraySize(list) > 16)
		abort();
	cJSON_ArrayForEach(s, list)
	{
		doc = dash_traces_get(
		    t, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "traceID")),
		    &status);
		if (!doc || status != 200)
			abort();
		cJSON_Delete(doc);
	}
	cJSON_Delete(list);
	cJSON_Delete(dash_traces_find(t, &some));
	cJSON_Delete(dash_traces_services(t));
	doc = dash_traces_stats(t);
	if (cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(doc, "spans")) > 16)
		abort();
	cJSON_Delete(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum dash_trace_format formats[] = {DASH_TRACE_OTLP_PROTO,
							 DASH_TRACE_OTLP_JSON, DASH_TRACE_ZIPKIN};
	struct dash_traces *t = dash_traces_create(16, 1 << 20);

	if (!t)
		abort();
	for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
		struct dash_spans out = {0};
		size_t seen = 0;
		char err[256];

		if (dash_trace_decode(formats[f], data, size, &out, &seen, err, sizeof(err))) {
			if (out.n || !err[0])
				abort();
			dash_spans_free(&out);
			continue;
		}
		if (out.n > seen)
			abort();
		for (size_t i = 0; i < out.n; i++)
			check_span(&out.v[i]);
		dash_traces_add(t, &out);
		if (out.n || out.v)
			abort();
	}
	/* Again as the receiver takes them: the same spans are dropped as an exporter's retry. */
	for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++)
		dash_traces_ingest(t, formats[f], data, size, NULL, (char[256]){0}, 256);
	ask(t);
	dash_traces_destroy(t);
	return 0;
}
