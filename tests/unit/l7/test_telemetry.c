// SPDX-License-Identifier: Apache-2.0
/*
 * Tracing in the L7 model (userspace/l7/telemetry.c): Istio's Telemetry hierarchy resolved
 * for a waypoint (mesh, namespace, the waypoint's own by targetRefs, a Service's own), field by
 * field; the provider's settings from the mesh config and its collector Service (a Service
 * without selector reached at its EndpointSlice's address); the defaults (defaultProviders,
 * defaultConfig.tracing.sampling, Istio's 1 %); modes that leave the waypoint out; and the JSON
 * both ways.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cjson/cJSON.h>

#include <cmocka.h>

#include "ambit/l7.h"
#include "../../lib/l7_world.h"

#define WORLD                                                                                      \
	"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"                               \
	"  labels: {istio.io/use-waypoint: wp, istio.io/dataplane-mode: ambient}\n---\n"           \
	"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"                                \
	"metadata: {name: wp, namespace: shop}\n"                                                  \
	"spec:\n  gatewayClassName: istio-waypoint\n"                                              \
	"  listeners: [{name: mesh, port: 15008, protocol: HBONE}]\n---\n"                         \
	"apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: shop}\n"              \
	"spec:\n  clusterIP: 10.96.0.20\n  selector: {app: reviews}\n"                             \
	"  ports: [{name: http, port: 9080}]\n---\n"                                               \
	"apiVersion: v1\nkind: Service\nmetadata: {name: ratings, namespace: shop}\n"              \
	"spec:\n  clusterIP: 10.96.0.21\n  selector: {app: ratings}\n"                             \
	"  ports: [{name: http, port: 9080}]\n---\n"                                               \
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: reviews-v1\n  namespace: shop\n"            \
	"  labels: {app: reviews}\nspec: {containers: [{name: c}]}\n"                              \
	"status: {podIP: 10.1.0.11}\n---\n"                                                        \
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system}\n---\n"                   \
	"apiVersion: v1\nkind: Service\nmetadata: {name: zipkin, namespace: istio-system}\n"       \
	"spec:\n  ports: [{name: http-query, port: 9411}]\n---\n"                                  \
	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"                                   \
	"metadata:\n  name: zipkin-1\n  namespace: istio-system\n"                                 \
	"  labels: {kubernetes.io/service-name: zipkin}\n"                                         \
	"addressType: IPv4\nendpoints: [{addresses: [10.99.0.1]}]\n"                               \
	"ports: [{name: http-query, port: 19411}]\n---\n"                                          \
	"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\n"      \
	"data:\n  mesh: |-\n"                                                                      \
	"    defaultConfig: {tracing: {sampling: 10}}\n"                                           \
	"    extensionProviders:\n"                                                                \
	"    - name: zipkin\n      zipkin: {service: zipkin.istio-system.svc.cluster.local, "      \
	"port: 9411, maxTagLength: 99}\n"                                                          \
	"    - name: otel\n      opentelemetry:\n        service: zipkin.istio-system\n"           \
	"        port: 9411\n        http: {path: /v1/x, timeout: 2s, headers: "                   \
	"[{name: x-token, value: abc}]}\n"                                                         \
	"    - name: otel-grpc\n      opentelemetry: {service: nowhere.example, port: 4317}\n"     \
	"    - name: authz\n      envoyExtAuthzHttp: {service: zipkin.istio-system, port: 1}\n"

/* The manifests bound (tests/lib/l7_world.h) and the model of their one waypoint. */
struct world {
	struct l7_world_bound bw;
	struct l7_config *l7;
};

static void build(struct world *w, const char *yaml)
{
	char err[512];

	memset(w, 0, sizeof(*w));
	if (l7_world_bind(&w->bw, yaml, err, sizeof(err))) {
		print_error("%s\n", err);
		fail();
	}
	assert_int_equal(w->bw.b.n_waypoints, 1);
	w->l7 = l7_compile(&w->bw.in, &w->bw.b, &w->bw.b.waypoints[0]);
	assert_non_null(w->l7);
}

static void done(struct world *w)
{
	l7_config_free(w->l7);
	l7_world_unbind(&w->bw);
}

static const struct l7_telemetry *of(const struct world *w, const char *host)
{
	const struct l7_service *s = l7_config_service(w->l7, host);

	assert_non_null(s);
	assert_true(s->telemetry < w->l7->n_telemetry);
	return &w->l7->telemetry[s->telemetry];
}

#define REVIEWS "reviews.shop.svc.cluster.local"
#define RATINGS "ratings.shop.svc.cluster.local"

static void test_off_without_provider(void **state)
{
	struct world w;

	build(&w, WORLD);
	assert_int_equal(w.l7->n_telemetry, 1);
	assert_null(w.l7->telemetry[0].provider);
	assert_string_equal(w.l7->mesh_id, "cluster.local");
	done(&w);
}

static void test_mesh_namespace_waypoint(void **state)
{
	struct world w;
	const struct l7_telemetry *t;
	const struct l7_service *c;
	char ip[INET_ADDRSTRLEN];

	build(&w, WORLD "---\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\n"
			"metadata: {name: mesh-default, namespace: istio-system}\n"
			"spec:\n  tracing:\n  - providers: [{name: zipkin}]\n"
			"    customTags:\n      a: {literal: {value: mesh}}\n"
			"      b: {literal: {value: mesh}}\n"
			"---\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\n"
			"metadata: {name: ns, namespace: shop}\n"
			"spec:\n  tracing:\n  - randomSamplingPercentage: 50\n"
			"    customTags:\n      b: {header: {name: x-user, defaultValue: none}}\n"
			"---\napiVersion: telemetry.istio.io/v1alpha1\nkind: Telemetry\n"
			"metadata: {name: wp, namespace: shop}\n"
			"spec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, "
			"name: wp}]\n"
			"  tracing:\n  - customTags:\n      c: {environment: {name: POD_NAME}}\n"
			"---\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\n"
			"metadata: {name: client-only, namespace: shop}\n"
			"spec:\n  targetRefs: [{kind: Service, name: ratings}]\n"
			"  tracing:\n  - match: {mode: CLIENT}\n    randomSamplingPercentage: 0\n");
	t = of(&w, REVIEWS);
	assert_string_equal(t->provider, "zipkin");
	assert_int_equal(t->p.kind, CONFIG_TRACE_ZIPKIN);
	assert_int_equal(t->p.port, 9411);
	assert_int_equal(t->p.max_tag_length, 99);
	assert_string_equal(t->p.service, "zipkin.istio-system.svc.cluster.local");
	assert_int_equal(t->sampling_ppm, 500000); /* the namespace's over the mesh config's 10 */
	assert_int_equal(t->n_tags, 3);
	assert_string_equal(t->tags[0].tag, "a");
	assert_string_equal(t->tags[1].tag, "b");
	assert_int_equal(t->tags[1].kind, CONFIG_TAG_HEADER); /* the namespace's wins */
	assert_string_equal(t->tags[1].value, "x-user");
	assert_string_equal(t->tags[1].default_value, "none");
	assert_int_equal(t->tags[2].kind, CONFIG_TAG_ENVIRONMENT);
	/* The collector: an aux Service, its EndpointSlice's address and port, no identity. */
	assert_true(t->service >= 0);
	c = &w.l7->services[t->service];
	assert_true(c->aux);
	assert_int_equal(c->n_endpoints, 1);
	inet_ntop(AF_INET, &c->endpoints[0].ip, ip, sizeof(ip));
	assert_string_equal(ip, "10.99.0.1");
	assert_int_equal(c->endpoints[0].ports[0], 19411);
	assert_null(c->endpoints[0].identity);
	/* A CLIENT-mode Telemetry is not the waypoint's (it is its services' SERVER side). */
	assert_int_equal(of(&w, RATINGS)->sampling_ppm, 500000);
	done(&w);
}

static void test_service_override_and_json(void **state)
{
	struct world w;
	const struct l7_telemetry *t;
	struct l7_config *back;
	cJSON *j;
	char err[256];

	build(&w, WORLD "---\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\n"
			"metadata: {name: mesh-default, namespace: istio-system}\n"
			"spec:\n  tracing:\n  - providers: [{name: zipkin}]\n"
			"---\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\n"
			"metadata: {name: ratings, namespace: shop}\n"
			"spec:\n  targetRefs: [{kind: Service, name: ratings}]\n"
			"  tracing:\n  - providers: [{name: otel}]\n"
			"    disableSpanReporting: true\n"
			"    useRequestIdForTraceSampling: true\n");
	/* The mesh config's default sampling, 10 %. */
	assert_int_equal(of(&w, REVIEWS)->sampling_ppm, 100000);
	t = of(&w, RATINGS);
	assert_string_equal(t->provider, "otel");
	assert_int_equal(t->p.kind, CONFIG_TRACE_OTLP_HTTP);
	assert_string_equal(t->p.path, "/v1/x");
	assert_int_equal(t->p.timeout_ms, 2000);
	assert_string_equal(t->p.headers.items[0].key, "x-token");
	assert_true(t->disable_span_reporting);
	assert_true(t->use_request_id);
	/* The same collector Service as zipkin's: one aux entry. */
	assert_int_equal(t->service, of(&w, REVIEWS)->service);
	j = l7_to_json(w.l7);
	assert_non_null(j);
	back = l7_from_json(j, err, sizeof(err));
	if (!back)
		print_error("%s\n", err);
	assert_non_null(back);
	assert_int_equal(back->n_telemetry, w.l7->n_telemetry);
	t = &back->telemetry[l7_config_service(back, RATINGS)->telemetry];
	assert_string_equal(t->provider, "otel");
	assert_string_equal(t->p.path, "/v1/x");
	assert_true(t->use_request_id);
	assert_string_equal(back->mesh_id, "cluster.local");
	/* Strict: an unknown member, a bad kind. */
	cJSON_AddBoolToObject(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "telemetry"), 0), "x",
			      true);
	assert_null(l7_from_json(j, err, sizeof(err)));
	assert_non_null(strstr(err, "l7.telemetry[0]"));
	l7_config_free(back);
	cJSON_Delete(j);
	done(&w);
}

static void test_defaults_and_unknown(void **state)
{
	struct world w;
	const struct l7_telemetry *t;

	/* defaultProviders alone turns tracing on, at Istio's 1 % without a default sampling. */
	build(
	    &w,
	    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
	    "  labels: {istio.io/use-waypoint: wp, istio.io/dataplane-mode: ambient}\n---\n"
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
	    "metadata: {name: wp, namespace: shop}\n"
	    "spec:\n  gatewayClassName: istio-waypoint\n"
	    "  listeners: [{name: mesh, port: 15008, protocol: HBONE}]\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: shop}\n"
	    "spec:\n  clusterIP: 10.96.0.20\n  selector: {app: reviews}\n"
	    "  ports: [{name: http, port: 9080}]\n---\n"
	    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\n"
	    "data:\n  mesh: |-\n    defaultProviders: {tracing: [otel-grpc]}\n"
	    "    extensionProviders:\n"
	    "    - name: otel-grpc\n      opentelemetry: {service: nowhere.example, port: 4317}\n");
	t = of(&w, REVIEWS);
	assert_string_equal(t->provider, "otel-grpc");
	assert_int_equal(t->p.kind, CONFIG_TRACE_OTLP_GRPC);
	assert_int_equal(t->sampling_ppm, 10000);
	/* No Service is it: spans will be dropped and counted. */
	assert_int_equal(t->service, -1);
	assert_string_equal(t->p.service, "nowhere.example");
	done(&w);
}

static void test_access_logging(void **state)
{
	struct world w;
	struct l7_config *back;
	cJSON *j;
	char err[256];

	build(&w, WORLD "---\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\n"
			"metadata: {name: mesh-default, namespace: istio-system}\n"
			"spec:\n  accessLogging: [{providers: [{name: envoy}]}]\n"
			"---\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\n"
			"metadata: {name: wp, namespace: shop}\n"
			"spec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, "
			"name: wp}]\n"
			"  accessLogging:\n  - filter: {expression: 'response.code >= 400'}\n"
			"---\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\n"
			"metadata: {name: quiet, namespace: shop}\n"
			"spec:\n  targetRefs: [{kind: Service, name: ratings}]\n"
			"  accessLogging: [{disabled: true}]\n");
	/* No tracing provider anywhere: the entries still carry logging. */
	assert_null(of(&w, REVIEWS)->provider);
	assert_int_equal(of(&w, REVIEWS)->access_log, 1);
	assert_string_equal(of(&w, REVIEWS)->log_filter, "response.code >= 400");
	assert_int_equal(of(&w, RATINGS)->access_log, 0);
	j = l7_to_json(w.l7);
	back = l7_from_json(j, err, sizeof(err));
	assert_non_null(back);
	assert_int_equal(back->telemetry[l7_config_service(back, RATINGS)->telemetry].access_log,
			 0);
	assert_string_equal(back->telemetry[0].log_filter, "response.code >= 400");
	l7_config_free(back);
	cJSON_Delete(j);
	done(&w);
	/* Nothing said: the proxy's own setting. */
	build(&w, WORLD);
	assert_int_equal(of(&w, REVIEWS)->access_log, -1);
	done(&w);
}

static void test_metrics_overrides(void **state)
{
	struct world w;
	const struct l7_telemetry *t;
	struct l7_config *back;
	cJSON *j;
	char err[256];

	build(&w,
	      WORLD "---\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\n"
		    "metadata: {name: mesh-default, namespace: istio-system}\n"
		    "spec:\n  metrics:\n  - providers: [{name: prometheus}]\n"
		    "    overrides:\n"
		    "    - match: {metric: REQUEST_SIZE}\n      disabled: true\n"
		    "    - match: {metric: ALL_METRICS}\n"
		    "      tagOverrides: {source_principal: {operation: REMOVE}}\n"
		    "---\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\n"
		    "metadata: {name: ns, namespace: shop}\n"
		    "spec:\n  metrics:\n  - overrides:\n"
		    "    - match: {metric: REQUEST_COUNT, mode: SERVER}\n"
		    "      tagOverrides: {team: {value: \"'shop'\"}}\n"
		    "    - match: {metric: REQUEST_SIZE}\n      disabled: false\n"
		    "    - match: {metric: TCP_SENT_BYTES, mode: CLIENT}\n      disabled: true\n");
	t = of(&w, REVIEWS);
	assert_int_equal(t->metrics_off, 0); /* REQUEST_SIZE back on; CLIENT not the waypoint's */
	assert_int_equal(t->n_tag_ops, 2);
	assert_int_equal(t->tag_ops[0].metrics, L7_METRIC_ALL);
	assert_string_equal(t->tag_ops[0].tag, "source_principal");
	assert_null(t->tag_ops[0].value);
	assert_int_equal(t->tag_ops[1].metrics, L7_METRIC_REQUEST_COUNT);
	assert_string_equal(t->tag_ops[1].value, "'shop'");
	j = l7_to_json(w.l7);
	back = l7_from_json(j, err, sizeof(err));
	assert_non_null(back);
	assert_int_equal(back->telemetry[0].n_tag_ops, 2);
	assert_string_equal(back->telemetry[0].tag_ops[1].tag, "team");
	l7_config_free(back);
	cJSON_Delete(j);
	done(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_off_without_provider),
	    cmocka_unit_test(test_mesh_namespace_waypoint),
	    cmocka_unit_test(test_service_override_and_json),
	    cmocka_unit_test(test_defaults_and_unknown),
	    cmocka_unit_test(test_access_logging),
	    cmocka_unit_test(test_metrics_overrides),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
