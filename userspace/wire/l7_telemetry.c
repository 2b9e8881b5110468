// SPDX-License-Identifier: Apache-2.0
/*
 * The L7 model's tracing and logging entries on the wire: their destructor and their JSON
 * ("telemetry" and "meshId" of the model, each service naming its own by index). How Istio's
 * Telemetry hierarchy resolves into them is the compiler's (l7/telemetry.c).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "l7_priv.h"

static const char *const kind_names[] = {"", "zipkin", "otlpHttp", "otlpGrpc", NULL};
static const char *const tag_kind_names[] = {"literal", "environment", "header", NULL};

static void tags_free(struct config_custom_tag *tags, size_t n)
{
	for (size_t i = 0; tags && i < n; i++) {
		free(tags[i].tag);
		free(tags[i].value);
		free(tags[i].default_value);
	}
	free(tags);
}

void l7_telemetry_clear(struct l7_telemetry *t)
{
	free(t->provider);
	free(t->p.service);
	free(t->p.path);
	config_labels_free(&t->p.headers);
	tags_free(t->tags, t->n_tags);
	free(t->log_filter);
	for (size_t i = 0; t->tag_ops && i < t->n_tag_ops; i++) {
		free(t->tag_ops[i].tag);
		free(t->tag_ops[i].value);
	}
	free(t->tag_ops);
	memset(t, 0, sizeof(*t));
}

/* ---- JSON ---- */

static bool add_str(cJSON *o, const char *key, const char *v)
{
	return !v || cJSON_AddStringToObject(o, key, v);
}

static int entry_to_json(const struct l7_telemetry *t, cJSON *o)
{
	const struct config_trace_provider *p = &t->p;
	cJSON *h, *a;

	if ((t->access_log >= 0 && !cJSON_AddBoolToObject(o, "accessLog", t->access_log)) ||
	    !add_str(o, "logFilter", t->log_filter) ||
	    (t->metrics_off && !cJSON_AddNumberToObject(o, "metricsOff", t->metrics_off)))
		return -ENOMEM;
	if (t->n_tag_ops) {
		if (!(a = cJSON_AddArrayToObject(o, "tagOps")))
			return -ENOMEM;
		for (size_t k = 0; k < t->n_tag_ops; k++) {
			cJSON *x = cJSON_CreateObject();

			if (!x || !cJSON_AddItemToArray(a, x)) {
				cJSON_Delete(x);
				return -ENOMEM;
			}
			if (!cJSON_AddNumberToObject(x, "metrics", t->tag_ops[k].metrics) ||
			    !cJSON_AddStringToObject(x, "tag", t->tag_ops[k].tag) ||
			    !add_str(x, "value", t->tag_ops[k].value))
				return -ENOMEM;
		}
	}
	if (!t->provider)
		return 0;
	if (!cJSON_AddStringToObject(o, "provider", t->provider) ||
	    !cJSON_AddStringToObject(o, "kind", kind_names[p->kind]) ||
	    !cJSON_AddStringToObject(o, "service", p->service) ||
	    !cJSON_AddNumberToObject(o, "port", p->port) ||
	    !cJSON_AddNumberToObject(o, "serviceIndex", t->service) ||
	    !cJSON_AddNumberToObject(o, "samplingPpm", t->sampling_ppm) ||
	    (p->max_tag_length && !cJSON_AddNumberToObject(o, "maxTagLength", p->max_tag_length)) ||
	    !add_str(o, "path", p->path) ||
	    (p->timeout_ms && !cJSON_AddNumberToObject(o, "timeoutMs", (double)p->timeout_ms)) ||
	    (p->trace_id_128 && !cJSON_AddBoolToObject(o, "traceId128", true)) ||
	    (t->disable_span_reporting &&
	     !cJSON_AddBoolToObject(o, "disableSpanReporting", true)) ||
	    (t->use_request_id && !cJSON_AddBoolToObject(o, "useRequestId", true)))
		return -ENOMEM;
	if (p->headers.n) {
		if (!(h = cJSON_AddObjectToObject(o, "headers")))
			return -ENOMEM;
		for (size_t k = 0; k < p->headers.n; k++)
			if (!cJSON_AddStringToObject(h, p->headers.items[k].key,
						     p->headers.items[k].value))
				return -ENOMEM;
	}
	if (!t->n_tags)
		return 0;
	if (!(a = cJSON_AddArrayToObject(o, "tags")))
		return -ENOMEM;
	for (size_t k = 0; k < t->n_tags; k++) {
		const struct config_custom_tag *g = &t->tags[k];
		cJSON *x = cJSON_CreateObject();

		if (!x || !cJSON_AddItemToArray(a, x)) {
			cJSON_Delete(x);
			return -ENOMEM;
		}
		if (!cJSON_AddStringToObject(x, "tag", g->tag) ||
		    !cJSON_AddStringToObject(x, "kind", tag_kind_names[g->kind]) ||
		    !add_str(x, "value", g->value) || !add_str(x, "default", g->default_value))
			return -ENOMEM;
	}
	return 0;
}

int l7j_telemetry_to_json(const struct l7_config *c, cJSON *root)
{
	cJSON *a;

	if (!add_str(root, "meshId", c->mesh_id))
		return -ENOMEM;
	if (!c->n_telemetry)
		return 0;
	if (!(a = cJSON_AddArrayToObject(root, "telemetry")))
		return -ENOMEM;
	for (size_t i = 0; i < c->n_telemetry; i++) {
		cJSON *o = cJSON_CreateObject();

		if (!o || !cJSON_AddItemToArray(a, o)) {
			cJSON_Delete(o);
			return -ENOMEM;
		}
		if (entry_to_json(&c->telemetry[i], o))
			return -ENOMEM;
	}
	return 0;
}

static void dtags(struct wire_dec *d, const cJSON *o, const char *path, struct l7_telemetry *t)
{
	static const char *const k[] = {"tag", "kind", "value", "default", NULL};
	const cJSON *a = wire_arr(d, o, "tags", path, &t->n_tags), *it;
	char p[96];
	size_t i = 0;

	if (d->failed || !(t->tags = wire_alloc(d, t->n_tags, sizeof(*t->tags), path))) {
		t->n_tags = 0;
		return;
	}
	cJSON_ArrayForEach(it, a)
	{
		struct config_custom_tag *g = &t->tags[i];

		snprintf(p, sizeof(p), "%s.tags[%zu]", path, i++);
		if (!wire_keys(d, it, p, k))
			return;
		g->tag = wire_str(d, it, "tag", p, true);
		g->kind = wire_enum(d, it, "kind", p, tag_kind_names, true);
		g->value = wire_str(d, it, "value", p, g->kind != CONFIG_TAG_LITERAL);
		g->default_value = wire_str(d, it, "default", p, false);
		if (d->failed)
			return;
	}
}

static void dtag_ops(struct wire_dec *d, const cJSON *o, const char *path, struct l7_telemetry *t)
{
	static const char *const k[] = {"metrics", "tag", "value", NULL};
	size_t n;
	const cJSON *a = wire_arr(d, o, "tagOps", path, &n), *it;
	char p[96];

	if (d->failed || !n || !(t->tag_ops = wire_alloc(d, n, sizeof(*t->tag_ops), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct l7_tag_op *x = &t->tag_ops[t->n_tag_ops];

		snprintf(p, sizeof(p), "%s.tagOps[%zu]", path, t->n_tag_ops++);
		if (!wire_keys(d, it, p, k))
			return;
		x->metrics = (uint32_t)wire_num(d, it, "metrics", p, 1, L7_METRIC_ALL, true);
		x->tag = wire_str(d, it, "tag", p, true);
		x->value = wire_str(d, it, "value", p, false);
		if (d->failed)
			return;
	}
}

void l7j_telemetry(struct wire_dec *d, const cJSON *j, struct l7_config *c)
{
	static const char *const k[] = {"provider",
					"kind",
					"service",
					"port",
					"serviceIndex",
					"samplingPpm",
					"maxTagLength",
					"path",
					"timeoutMs",
					"traceId128",
					"disableSpanReporting",
					"useRequestId",
					"headers",
					"tags",
					"accessLog",
					"logFilter",
					"metricsOff",
					"tagOps",
					NULL};
	const cJSON *a, *it;
	size_t n;
	char p[64];

	c->mesh_id = wire_str(d, j, "meshId", "l7", false);
	a = wire_arr(d, j, "telemetry", "l7", &n);
	if (d->failed || !(c->telemetry = wire_alloc(d, n, sizeof(*c->telemetry), "l7.telemetry")))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct l7_telemetry *t = &c->telemetry[c->n_telemetry];
		struct config_trace_provider *x = &t->p;

		snprintf(p, sizeof(p), "l7.telemetry[%zu]", c->n_telemetry++);
		t->service = -1;
		if (!wire_keys(d, it, p, k))
			return;
		t->access_log = cJSON_GetObjectItemCaseSensitive(it, "accessLog")
				    ? wire_bool(d, it, "accessLog", p)
				    : -1;
		t->log_filter = wire_str(d, it, "logFilter", p, false);
		t->metrics_off =
		    (uint32_t)wire_num(d, it, "metricsOff", p, 0, L7_METRIC_ALL, false);
		dtag_ops(d, it, p, t);
		if (d->failed)
			return;
		t->provider = wire_str(d, it, "provider", p, false);
		if (!t->provider)
			continue; /* tracing off */
		x->kind = wire_enum(d, it, "kind", p, kind_names, true);
		if (!d->failed && x->kind == CONFIG_TRACE_NONE) {
			wire_fail(d, "%s.kind: a provider kind", p);
			return;
		}
		x->service = wire_str(d, it, "service", p, true);
		x->port = (uint16_t)wire_num(d, it, "port", p, 1, 65535, true);
		t->service =
		    (int)wire_num(d, it, "serviceIndex", p, -1, (double)c->n_services - 1, true);
		t->sampling_ppm = (uint32_t)wire_num(d, it, "samplingPpm", p, 0, 1000000, true);
		x->max_tag_length = (uint32_t)wire_num(d, it, "maxTagLength", p, 0, 1 << 20, false);
		x->path = wire_str(d, it, "path", p, false);
		x->timeout_ms = (uint64_t)wire_num(d, it, "timeoutMs", p, 0, 86400000.0, false);
		x->trace_id_128 = wire_bool(d, it, "traceId128", p);
		t->disable_span_reporting = wire_bool(d, it, "disableSpanReporting", p);
		t->use_request_id = wire_bool(d, it, "useRequestId", p);
		wire_labels(d, it, "headers", p, &x->headers);
		dtags(d, it, p, t);
		if (d->failed)
			return;
	}
	for (size_t i = 0; i < c->n_services; i++)
		if (c->services[i].telemetry >= c->n_telemetry && c->services[i].telemetry) {
			wire_fail(d, "l7.services[%zu].telemetry: no such telemetry entry", i);
			return;
		}
}
