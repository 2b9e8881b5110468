// SPDX-License-Identifier: Apache-2.0
/*
 * Telemetry (userspace/kinds/telemetry.c) and the mesh config's tracing
 * (kinds/mesh_trace.c): every field the loader keeps, Istio's rules refused naming the field,
 * and `ambitctl analyze`'s findings on the providers a Telemetry names
 * (analyze/telemetry.c).
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

#include "ambit/config.h"

#define TM_HEAD(version, name)                                                                     \
	"apiVersion: telemetry.istio.io/" version "\nkind: Telemetry\n"                            \
	"metadata: {name: " name ", namespace: shop}\n"

static int load(struct config *cfg, const char *yaml, struct config_diags *d)
{
	return config_load_buffer(cfg, "t.yaml", yaml, strlen(yaml), d);
}

static void print_diags(const struct config_diags *d)
{
	char buf[2048];

	for (size_t i = 0; i < d->n; i++) {
		config_diag_format(&d->items[i], buf, sizeof(buf));
		print_error("  %s\n", buf);
	}
}

/* Loads @yaml, which must load with @nwarn warnings and no error. */
static void load_ok(struct config *cfg, const char *yaml, size_t nwarn)
{
	struct config_diags d = {0};

	config_init(cfg);
	if (load(cfg, yaml, &d) || d.n != nwarn) {
		print_diags(&d);
		fail_msg("want a load with %zu warnings", nwarn);
	}
	config_diags_free(&d);
}

static const struct config_telemetry *telemetry(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_telemetries; i++)
		if (!strcmp(cfg->telemetries[i].meta.name, name))
			return &cfg->telemetries[i];
	fail_msg("no Telemetry %s", name);
	return NULL;
}

/* ---- the model ---- */

static const char full[] =
    TM_HEAD("v1", "full") "spec:\n"
			  "  selector: {matchLabels: {app: api}}\n"
			  "  tracing:\n"
			  "  - match: {mode: CLIENT}\n"
			  "    providers: [{name: zipkin}]\n"
			  "    randomSamplingPercentage: 12.5\n"
			  "    disableSpanReporting: false\n"
			  "    useRequestIdForTraceSampling: true\n"
			  "    enableIstioTags: false\n"
			  "    customTags:\n"
			  "      user: {header: {name: X-User, defaultValue: anonymous}}\n"
			  "      pod: {environment: {name: POD_NAME}}\n"
			  "      cluster: {literal: {value: east}}\n"
			  "  accessLogging:\n"
			  "  - match: {mode: SERVER}\n"
			  "    providers: [{name: envoy}, {name: otel-als}]\n"
			  "    disabled: false\n"
			  "    filter: {expression: 'response.code >= 400'}\n"
			  "  metrics:\n"
			  "  - providers: [{name: prometheus}]\n"
			  "    reportingInterval: 15s\n"
			  "    overrides:\n"
			  "    - match: {metric: REQUEST_COUNT, mode: CLIENT}\n"
			  "      disabled: true\n"
			  "      tagOverrides:\n"
			  "        request_protocol: {operation: REMOVE}\n"
			  "        app: {value: \"request.headers['x-app']\"}\n"
			  "    - match: {customMetric: my_requests_total}\n"
			  "    - tagOverrides: {zone: {operation: UPSERT, value: \"'z1'\"}}\n";

static void test_full_telemetry(void **state)
{
	struct config cfg;
	const struct config_telemetry *t;
	const struct config_telemetry_tracing *tr;
	const struct config_telemetry_access_logging *al;
	const struct config_telemetry_metrics *mt;
	const struct config_metric_override *o;

	load_ok(&cfg, full, 0);
	assert_int_equal(cfg.n_telemetries, 1);
	t = telemetry(&cfg, "full");
	assert_string_equal(t->meta.namespace, "shop");
	assert_string_equal(t->meta.api_version, "telemetry.istio.io/v1");
	assert_true(t->has_selector);
	assert_string_equal(config_label_get(&t->selector, "app"), "api");
	assert_int_equal(t->n_target_refs, 0);

	assert_int_equal(t->n_tracing, 1);
	tr = &t->tracing[0];
	assert_int_equal(tr->mode, CONFIG_TELEMETRY_CLIENT);
	assert_int_equal(tr->providers.n, 1);
	assert_string_equal(tr->providers.items[0], "zipkin");
	assert_true(tr->has_sampling);
	assert_true(tr->sampling == 12.5);
	assert_true(tr->has_disable_span_reporting);
	assert_false(tr->disable_span_reporting);
	assert_true(tr->has_use_request_id);
	assert_true(tr->use_request_id_for_trace_sampling);
	assert_true(tr->has_enable_istio_tags);
	assert_false(tr->enable_istio_tags);
	assert_false(tr->has_disable_context_propagation);
	/* Sorted by tag; the header's name lowercased. */
	assert_int_equal(tr->n_tags, 3);
	assert_string_equal(tr->tags[0].tag, "cluster");
	assert_int_equal(tr->tags[0].kind, CONFIG_TAG_LITERAL);
	assert_string_equal(tr->tags[0].value, "east");
	assert_null(tr->tags[0].default_value);
	assert_string_equal(tr->tags[1].tag, "pod");
	assert_int_equal(tr->tags[1].kind, CONFIG_TAG_ENVIRONMENT);
	assert_string_equal(tr->tags[1].value, "POD_NAME");
	assert_null(tr->tags[1].default_value);
	assert_string_equal(tr->tags[2].tag, "user");
	assert_int_equal(tr->tags[2].kind, CONFIG_TAG_HEADER);
	assert_string_equal(tr->tags[2].value, "x-user");
	assert_string_equal(tr->tags[2].default_value, "anonymous");

	assert_int_equal(t->n_access_logging, 1);
	al = &t->access_logging[0];
	assert_int_equal(al->mode, CONFIG_TELEMETRY_SERVER);
	assert_int_equal(al->providers.n, 2);
	assert_string_equal(al->providers.items[0], "envoy");
	assert_string_equal(al->providers.items[1], "otel-als");
	assert_true(al->has_disabled);
	assert_false(al->disabled);
	assert_string_equal(al->filter, "response.code >= 400");

	assert_int_equal(t->n_metrics, 1);
	mt = &t->metrics[0];
	assert_int_equal(mt->providers.n, 1);
	assert_string_equal(mt->providers.items[0], "prometheus");
	assert_int_equal(mt->reporting_interval_ms, 15000);
	assert_int_equal(mt->n_overrides, 3);
	o = &mt->overrides[0];
	assert_string_equal(o->metric, "REQUEST_COUNT");
	assert_false(o->custom_metric);
	assert_int_equal(o->mode, CONFIG_TELEMETRY_CLIENT);
	assert_true(o->has_disabled);
	assert_true(o->disabled);
	assert_int_equal(o->n_tag_overrides, 2);
	assert_string_equal(o->tag_overrides[0].tag, "app"); /* sorted */
	assert_int_equal(o->tag_overrides[0].op, CONFIG_TAG_UPSERT);
	assert_string_equal(o->tag_overrides[0].value, "request.headers['x-app']");
	assert_string_equal(o->tag_overrides[1].tag, "request_protocol");
	assert_int_equal(o->tag_overrides[1].op, CONFIG_TAG_REMOVE);
	assert_null(o->tag_overrides[1].value);
	o = &mt->overrides[1];
	assert_string_equal(o->metric, "my_requests_total");
	assert_true(o->custom_metric);
	assert_int_equal(o->mode, CONFIG_TELEMETRY_CLIENT_AND_SERVER);
	assert_false(o->has_disabled);
	assert_int_equal(o->n_tag_overrides, 0);
	/* No match: every Istio metric, both sides. */
	o = &mt->overrides[2];
	assert_string_equal(o->metric, "ALL_METRICS");
	assert_false(o->custom_metric);
	assert_int_equal(o->n_tag_overrides, 1);
	assert_string_equal(o->tag_overrides[0].value, "'z1'");
	config_free(&cfg);
}

/* v1alpha1 is the same schema; targetRef and targetRefs are one list; an empty spec is mesh-wide.
 */
static void test_versions_and_attachment(void **state)
{
	static const char yaml[] = TM_HEAD(
	    "v1alpha1",
	    "old") "spec:\n"
		   "  targetRefs:\n"
		   "  - {group: gateway.networking.k8s.io, kind: Gateway, name: "
		   "waypoint}\n"
		   "  - {kind: Service, group: '', name: api}\n"
		   "  tracing: [{randomSamplingPercentage: 0}]\n"
		   "---\n" TM_HEAD(
		       "v1", "one") "spec:\n"
				    "  targetRef: {kind: Service, group: '', name: api}\n"
				    "---\n"
				    "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\n"
				    "metadata: {name: mesh-default, namespace: istio-system}\n"
				    "spec: {}\n";
	struct config cfg;
	const struct config_telemetry *t;

	load_ok(&cfg, yaml, 0);
	assert_int_equal(cfg.n_telemetries, 3);
	t = telemetry(&cfg, "old");
	assert_string_equal(t->meta.api_version, "telemetry.istio.io/v1alpha1");
	assert_false(t->has_selector);
	assert_int_equal(t->n_target_refs, 2);
	assert_string_equal(t->target_refs[0].kind, "Gateway");
	assert_string_equal(t->target_refs[0].name, "waypoint");
	assert_string_equal(t->target_refs[1].kind, "Service");
	assert_string_equal(t->target_refs[1].group, "");
	assert_true(t->tracing[0].has_sampling);
	assert_true(t->tracing[0].sampling == 0);
	assert_int_equal(t->tracing[0].providers.n, 0);
	assert_int_equal(t->tracing[0].n_tags, 0);
	t = telemetry(&cfg, "one");
	assert_int_equal(t->n_target_refs, 1);
	assert_string_equal(t->target_refs[0].name, "api");
	t = telemetry(&cfg, "mesh-default");
	assert_false(t->has_selector);
	assert_int_equal(t->n_target_refs + t->n_tracing + t->n_access_logging + t->n_metrics, 0);
	config_free(&cfg);
}

/* A tag value ambit's CEL cannot evaluate (Istio's filter_state): kept, warned about. */
static void test_unevaluable_tag_value(void **state)
{
	static const char yaml[] =
	    TM_HEAD("v1", "u") "spec:\n"
			       "  metrics:\n"
			       "  - overrides:\n"
			       "    - tagOverrides: {app: {value: \"filter_state['wasm.app']\"}}\n";
	struct config cfg;
	struct config_diags d = {0};
	char line[1024];

	config_init(&cfg);
	assert_int_equal(load(&cfg, yaml, &d), 0);
	assert_int_equal(d.n, 1);
	assert_false(d.items[0].error);
	config_diag_format(&d.items[0], line, sizeof(line));
	assert_non_null(strstr(line, "ambit cannot evaluate it"));
	assert_string_equal(telemetry(&cfg, "u")->metrics[0].overrides[0].tag_overrides[0].value,
			    "filter_state['wasm.app']");
	config_diags_free(&d);
	config_free(&cfg);
}

/* Istio's warnings: what only the first of is used; a formatter tag ambit does not evaluate. */
static void test_warnings(void **state)
{
	static const char yaml[] =
	    TM_HEAD("v1", "w") "spec:\n"
			       "  tracing:\n"
			       "  - providers: [{name: a}, {name: b}]\n"
			       "    customTags:\n"
			       "      route: {formatter: {value: '%ROUTE_NAME%'}}\n"
			       "      zone: {literal: {value: z1}}\n"
			       "  - match: {mode: SERVER}\n";
	struct config cfg;
	struct config_diags d = {0};
	char line[1024];
	const struct config_telemetry *t;

	config_init(&cfg);
	assert_int_equal(load(&cfg, yaml, &d), 0);
	if (d.n != 3) {
		print_diags(&d);
		fail();
	}
	for (size_t i = 0; i < d.n; i++)
		assert_false(d.items[i].error);
	config_diag_format(&d.items[0], line, sizeof(line));
	assert_non_null(strstr(line, "spec.tracing[0].customTags.route: formatter: not supported"));
	config_diag_format(&d.items[1], line, sizeof(line));
	assert_non_null(strstr(line, "multiple tracing is not currently supported"));
	config_diag_format(&d.items[2], line, sizeof(line));
	assert_non_null(strstr(line, "tracing[0].providers: multiple providers"));
	t = telemetry(&cfg, "w");
	assert_int_equal(t->tracing[0].n_tags, 1); /* the formatter's is dropped */
	assert_string_equal(t->tracing[0].tags[0].tag, "zone");
	assert_int_equal(t->tracing[1].mode, CONFIG_TELEMETRY_SERVER);
	config_diags_free(&d);
	config_free(&cfg);
}

struct bad {
	const char *name, *spec, *field, *message;
};

static const struct bad bad_telemetries[] = {
    {"unknown field", "spec:\n  tracing: [{sampling: 10}]\n", "spec.tracing[0].sampling",
     "unknown field \"sampling\""},
    {"two tag kinds",
     "spec:\n  tracing:\n  - customTags:\n      t: {literal: {value: a}, header: {name: b}}\n",
     "spec.tracing[0].customTags.t",
     "exactly one of literal, environment, header or formatter, got 2"},
    {"no tag kind", "spec:\n  tracing:\n  - customTags: {t: {}}\n", "spec.tracing[0].customTags.t",
     "got 0"},
    {"nil tag", "spec:\n  tracing:\n  - customTags: {t: null}\n", "spec.tracing[0].customTags.t",
     "may not have a nil value"},
    {"sampling 101", "spec:\n  tracing: [{randomSamplingPercentage: 101}]\n",
     "spec.tracing[0].randomSamplingPercentage", "101 is not a percentage in [0, 100]"},
    {"sampling a string", "spec:\n  tracing: [{randomSamplingPercentage: '10'}]\n",
     "spec.tracing[0].randomSamplingPercentage", "expected a number"},
    {"selector and targetRefs",
     "spec:\n  selector: {matchLabels: {app: a}}\n  targetRefs: [{kind: Service, name: a}]\n",
     "spec", "only one of selector or targetRefs can be set"},
    {"targetRef and targetRefs",
     "spec:\n  targetRef: {kind: Service, name: a}\n  targetRefs: [{kind: Service, name: b}]\n",
     "spec", "only one of targetRef or targetRefs can be set"},
    {"targetRef elsewhere", "spec:\n  targetRefs: [{kind: Service, name: a, namespace: other}]\n",
     "spec", "cross namespace referencing is not currently supported"},
    {"header tag name", "spec:\n  tracing:\n  - customTags: {t: {header: {name: 'x user'}}}\n",
     "spec.tracing[0].customTags.t.header.name", "is not a header name"},
    {"empty literal", "spec:\n  tracing:\n  - customTags: {t: {literal: {value: ''}}}\n",
     "spec.tracing[0].customTags.t.literal.value", "literal tag value may not be empty"},
    {"empty provider", "spec:\n  accessLogging: [{providers: [{name: ''}]}]\n",
     "spec.accessLogging[0].providers[0].name", "providers.name may not be empty"},
    {"mode", "spec:\n  tracing: [{match: {mode: BOTH}}]\n", "spec.tracing[0].match.mode",
     "\"BOTH\" is not one of CLIENT_AND_SERVER, CLIENT, SERVER"},
    {"metric", "spec:\n  metrics: [{overrides: [{match: {metric: REQUESTS}}]}]\n",
     "spec.metrics[0].overrides[0].match.metric", "\"REQUESTS\" is not one of ALL_METRICS"},
    {"metric and customMetric",
     "spec:\n  metrics: [{overrides: [{match: {metric: REQUEST_COUNT, customMetric: x}}]}]\n",
     "spec.metrics[0].overrides[0].match.customMetric",
     "only one of metric or customMetric can be set"},
    {"upsert without value",
     "spec:\n  metrics: [{overrides: [{tagOverrides: {app: {operation: UPSERT}}}]}]\n",
     "spec.metrics[0].overrides[0].tagOverrides.app",
     "tagOverrides.value must be set when operation is UPSERT"},
    {"remove with value",
     "spec:\n  metrics: [{overrides: [{tagOverrides: {app: {operation: REMOVE, value: x}}}]}]\n",
     "spec.metrics[0].overrides[0].tagOverrides.app",
     "tagOverrides.value may only be set when operation is UPSERT"},
    {"operation", "spec:\n  metrics: [{overrides: [{tagOverrides: {app: {operation: SET}}}]}]\n",
     "spec.metrics[0].overrides[0].tagOverrides.app.operation", "is not one of UPSERT, REMOVE"},
    {"reporting interval", "spec:\n  metrics: [{reportingInterval: 15}]\n",
     "spec.metrics[0].reportingInterval", "expected a string"},
    {"empty filter", "spec:\n  accessLogging: [{filter: {expression: ''}}]\n",
     "spec.accessLogging[0].filter.expression", "filter.expression may not be empty"},
    {"filter", "spec:\n  accessLogging: [{filter: {expression: 'response.code >='}}]\n",
     "spec.accessLogging[0].filter.expression", "not a filter expression: "},
    {"disabled a string", "spec:\n  accessLogging: [{disabled: 'yes'}]\n",
     "spec.accessLogging[0].disabled", "expected a boolean"},
};

static void test_refused(void **state)
{
	for (size_t i = 0; i < sizeof(bad_telemetries) / sizeof(bad_telemetries[0]); i++) {
		const struct bad *c = &bad_telemetries[i];
		struct config cfg;
		struct config_diags d = {0};
		char yaml[2048], line[1024];
		const struct config_diag *g;

		snprintf(yaml, sizeof(yaml), "%s%s", TM_HEAD("v1", "bad"), c->spec);
		config_init(&cfg);
		if (load(&cfg, yaml, &d) != -EINVAL || !d.n) {
			print_error("case \"%s\": accepted\n", c->name);
			fail();
		}
		g = &d.items[0];
		config_diag_format(g, line, sizeof(line));
		if (!g->error || !g->field || strcmp(g->field, c->field) ||
		    !strstr(g->message, c->message) || !strstr(line, "Telemetry shop/bad")) {
			print_error("case \"%s\": got \"%s\"\n", c->name, line);
			fail();
		}
		assert_int_equal(cfg.n_telemetries, 0);
		config_diags_free(&d);
		config_free(&cfg);
	}
}

/* ---- the mesh config ---- */

#define MESH_HEAD                                                                                  \
	"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\n"      \
	"data:\n  mesh: |-\n"

static const char mesh[] =
    MESH_HEAD "    enableTracing: false\n"
	      "    defaultProviders:\n"
	      "      tracing: [otel-grpc]\n"
	      "      metrics: [prometheus]\n"
	      "      accessLogging: [envoy]\n"
	      "    defaultConfig:\n"
	      "      tracing:\n"
	      "        sampling: 10\n"
	      "        max_path_tag_length: 99\n"
	      "        custom_tags: {env: {environment: {name: ENV, defaultValue: dev}}}\n"
	      "        zipkin: {address: zipkin.istio-system:9411}\n"
	      "    extensionProviders:\n"
	      "    - name: zipkin\n"
	      "      zipkin:\n"
	      "        service: zipkin.istio-system.svc.cluster.local\n"
	      "        port: 9411\n"
	      "        maxTagLength: 64\n"
	      "    - name: zipkin-64\n"
	      "      zipkin:\n"
	      "        service: observability/zipkin.example.com\n"
	      "        port: 9412\n"
	      "        enable64bitTraceId: true\n"
	      "        path: /zipkin/spans\n"
	      "        traceContextOption: USE_B3_WITH_W3C_PROPAGATION\n"
	      "        timeout: 2s\n"
	      "        headers: [{name: X-Tenant, value: shop}]\n"
	      "    - name: otel-http\n"
	      "      opentelemetry:\n"
	      "        service: otel-collector.observability.svc.cluster.local\n"
	      "        port: 4318\n"
	      "        http:\n"
	      "          timeout: 5s\n"
	      "          headers:\n"
	      "          - {name: Authorization, value: Bearer t0k3n}\n"
	      "          - {name: x-token, envName: TOKEN}\n"
	      "        resourceDetectors: {environment: {}}\n"
	      "    - name: otel-grpc\n"
	      "      opentelemetry:\n"
	      "        service: otel-collector.observability.svc.cluster.local\n"
	      "        port: 4317\n"
	      "        grpc:\n"
	      "          timeout: 1500ms\n"
	      "          initialMetadata: [{name: x-api-key, value: k}]\n"
	      "    - name: otel-plain\n"
	      "      opentelemetry:\n"
	      "        service: 10.0.0.7\n"
	      "        port: 4317\n"
	      "        maxTagLength: 256\n"
	      "        serviceAttributeEnrichment: OTEL_SEMANTIC_CONVENTIONS\n"
	      "        dynatraceSampler: {tenant: abc, clusterId: 12, httpService: {http: "
	      "{path: /api}}}\n"
	      "    - name: datadog\n"
	      "      datadog: {service: datadog.agent, port: 8126}\n";

static void test_mesh_tracing(void **state)
{
	struct config cfg;
	struct config_diags d = {0};
	const struct config_mesh *m;
	const struct config_extension_provider *p;
	const struct config_trace_provider *t;

	config_init(&cfg);
	assert_int_equal(load(&cfg, mesh, &d), 0);
	/* envName: istiod's environment, not ambit's: warned about, not sent. */
	if (d.n != 1 || d.items[0].error || !strstr(d.items[0].message, "x-token is not sent")) {
		print_diags(&d);
		fail();
	}
	assert_string_equal(d.items[0].field,
			    "data.mesh.extensionProviders[2].opentelemetry.http.headers[1]");
	m = config_mesh_of(&cfg);
	assert_non_null(m);
	assert_false(m->enable_tracing);
	assert_false(config_mesh_tracing_enabled(m));
	assert_true(m->has_default_sampling);
	assert_true(m->default_sampling == 10);
	assert_int_equal(m->default_tracing.n, 1);
	assert_string_equal(m->default_tracing.items[0], "otel-grpc");
	assert_string_equal(m->default_metrics.items[0], "prometheus");
	assert_string_equal(m->default_access_logging.items[0], "envoy");
	assert_int_equal(m->n_providers, 6);

	p = config_mesh_provider(m, "zipkin");
	assert_string_equal(p->kind, "zipkin");
	t = &p->trace;
	assert_int_equal(t->kind, CONFIG_TRACE_ZIPKIN);
	assert_string_equal(t->service, "zipkin.istio-system.svc.cluster.local");
	assert_int_equal(t->port, 9411);
	assert_int_equal(t->max_tag_length, 64);
	assert_string_equal(t->path, "/api/v2/spans");
	assert_int_equal(t->timeout_ms, 0);
	assert_int_equal(t->headers.n, 0);
	assert_true(t->trace_id_128);

	t = &config_mesh_provider(m, "zipkin-64")->trace;
	assert_int_equal(t->kind, CONFIG_TRACE_ZIPKIN);
	assert_string_equal(t->service, "observability/zipkin.example.com");
	assert_false(t->trace_id_128);
	assert_string_equal(t->path, "/zipkin/spans");
	assert_int_equal(t->timeout_ms, 2000);
	assert_int_equal(t->headers.n, 1);
	assert_string_equal(config_label_get(&t->headers, "x-tenant"), "shop");

	t = &config_mesh_provider(m, "otel-http")->trace;
	assert_string_equal(config_mesh_provider(m, "otel-http")->kind, "opentelemetry");
	assert_int_equal(t->kind, CONFIG_TRACE_OTLP_HTTP);
	assert_int_equal(t->port, 4318);
	assert_string_equal(t->path, "/v1/traces");
	assert_int_equal(t->timeout_ms, 5000);
	assert_int_equal(t->headers.n, 1);
	assert_string_equal(config_label_get(&t->headers, "authorization"), "Bearer t0k3n");
	assert_true(t->trace_id_128);

	t = &config_mesh_provider(m, "otel-grpc")->trace;
	assert_int_equal(t->kind, CONFIG_TRACE_OTLP_GRPC);
	assert_int_equal(t->port, 4317);
	assert_null(t->path);
	assert_int_equal(t->timeout_ms, 1500);
	assert_string_equal(config_label_get(&t->headers, "x-api-key"), "k");

	t = &config_mesh_provider(m, "otel-plain")->trace;
	assert_int_equal(t->kind, CONFIG_TRACE_OTLP_GRPC);
	assert_string_equal(t->service, "10.0.0.7");
	assert_int_equal(t->max_tag_length, 256);
	assert_int_equal(t->headers.n, 0);

	p = config_mesh_provider(m, "datadog");
	assert_string_equal(p->kind, "datadog");
	assert_int_equal(p->trace.kind, CONFIG_TRACE_NONE);

	/* Istio's built-in providers, unless the mesh config redefines one. */
	assert_string_equal(config_mesh_provider_kind(m, "envoy"), "envoyFileAccessLog");
	assert_string_equal(config_mesh_provider_kind(m, "prometheus"), "prometheus");
	assert_string_equal(config_mesh_provider_kind(NULL, "stackdriver"), "stackdriver");
	assert_string_equal(config_mesh_provider_kind(m, "otel-http"), "opentelemetry");
	assert_null(config_mesh_provider_kind(m, "jaeger"));
	assert_null(config_mesh_provider_kind(NULL, "zipkin"));
	config_diags_free(&d);
	config_free(&cfg);
}

/* Istio's defaults: no mesh config, or one that says nothing of tracing. */
static void test_mesh_defaults(void **state)
{
	static const char empty[] = MESH_HEAD "    accessLogFile: /dev/stdout\n";
	static const char zero[] = MESH_HEAD "    defaultConfig: {tracing: {sampling: 0}}\n";
	struct config cfg;
	const struct config_mesh *m;

	config_init(&cfg);
	assert_null(config_mesh_of(&cfg));
	assert_true(config_mesh_tracing_enabled(NULL));
	config_free(&cfg);

	load_ok(&cfg, empty, 0);
	m = config_mesh_of(&cfg);
	assert_non_null(m);
	assert_true(m->enable_tracing);
	assert_false(m->has_default_sampling);
	assert_int_equal(m->default_tracing.n + m->default_metrics.n + m->default_access_logging.n,
			 0);
	config_free(&cfg);

	/* trustDomainAliases: the mesh's other trust domains, in order (multicluster). */
	load_ok(&cfg, MESH_HEAD "    trustDomainAliases: [cluster2.local, old.example]\n", 0);
	m = config_mesh_of(&cfg);
	assert_int_equal(m->trust_domain_aliases.n, 2);
	assert_string_equal(m->trust_domain_aliases.items[0], "cluster2.local");
	assert_string_equal(m->trust_domain_aliases.items[1], "old.example");
	config_free(&cfg);

	/* istiod reads a sampling of 0 as unset: its default, 1 %. */
	load_ok(&cfg, zero, 0);
	assert_false(config_mesh_of(&cfg)->has_default_sampling);
	config_free(&cfg);
}

static const struct bad bad_meshes[] = {
    {"http and grpc",
     "    extensionProviders:\n    - name: o\n      opentelemetry: {service: o.x, port: 1, "
     "http: {}, grpc: {}}\n",
     "data.mesh.extensionProviders[0].opentelemetry", "only one of http or grpc can be set"},
    {"zipkin without port",
     "    extensionProviders:\n    - name: z\n      zipkin: {service: z.x}\n",
     "data.mesh.extensionProviders[0].zipkin.port", "required field \"port\" is missing"},
    {"zipkin unknown field",
     "    extensionProviders:\n    - name: z\n      zipkin: {service: z.x, port: 1, url: /x}\n",
     "data.mesh.extensionProviders[0].zipkin.url", "unknown field \"url\""},
    {"zipkin port 0",
     "    extensionProviders:\n    - name: z\n      zipkin: {service: z.x, port: 0}\n",
     "data.mesh.extensionProviders[0].zipkin.port", "0"},
    {"service", "    extensionProviders:\n    - name: z\n      zipkin: {service: 'a b', port: 1}\n",
     "data.mesh.extensionProviders[0].zipkin.service", "is not \"[namespace/]host\""},
    {"path",
     "    extensionProviders:\n    - name: z\n      zipkin: {service: z, port: 1, "
     "path: spans}\n",
     "data.mesh.extensionProviders[0].zipkin.path", "is not a path"},
    {"timeout",
     "    extensionProviders:\n    - name: o\n      opentelemetry: {service: o, port: "
     "1, grpc: {timeout: 5}}\n",
     "data.mesh.extensionProviders[0].opentelemetry.grpc.timeout", "expected a string"},
    {"value and envName",
     "    extensionProviders:\n    - name: o\n      opentelemetry: {service: o, port: 1, http: "
     "{headers: [{name: a, value: b, envName: C}]}}\n",
     "data.mesh.extensionProviders[0].opentelemetry.http.headers[0]",
     "only one of value or envName can be set"},
    {"header twice",
     "    extensionProviders:\n    - name: z\n      zipkin: {service: z, port: 1, headers: "
     "[{name: A, value: b}, {name: a, value: c}]}\n",
     "data.mesh.extensionProviders[0].zipkin.headers[1]", "header a is given twice"},
    {"sampling 101", "    defaultConfig: {tracing: {sampling: 101}}\n",
     "data.mesh.defaultConfig.tracing.sampling", "101 is not a percentage in [0, 100]"},
    {"two tracers",
     "    defaultConfig:\n      tracing: {zipkin: {address: 'a:1'}, datadog: {address: 'b:2'}}\n",
     "data.mesh.defaultConfig.tracing", "only one of zipkin, lightstep, datadog"},
    {"proxy custom tag",
     "    defaultConfig:\n      tracing: {customTags: {t: {formatter: {value: x}}}}\n",
     "data.mesh.defaultConfig.tracing.customTags.t.formatter", "unknown field \"formatter\""},
    {"enableTracing", "    enableTracing: 'no'\n", "data.mesh.enableTracing", "expected a boolean"},
    {"defaultProviders", "    defaultProviders: {tracing: zipkin}\n",
     "data.mesh.defaultProviders.tracing", "expected a sequence"},
    {"defaultProviders unknown", "    defaultProviders: {traces: [zipkin]}\n",
     "data.mesh.defaultProviders.traces", "unknown field \"traces\""},
    {"trust domain alias", "    trustDomainAliases: [cluster2.local, a/b]\n",
     "data.mesh.trustDomainAliases", "trustDomainAliases[1]: \"a/b\" is not a trust domain"},
    {"trust domain aliases", "    trustDomainAliases: cluster2.local\n",
     "data.mesh.trustDomainAliases", "expected a sequence"},
};

static void test_mesh_refused(void **state)
{
	for (size_t i = 0; i < sizeof(bad_meshes) / sizeof(bad_meshes[0]); i++) {
		const struct bad *c = &bad_meshes[i];
		struct config cfg;
		struct config_diags d = {0};
		char yaml[2048], line[1024];
		const struct config_diag *g;

		snprintf(yaml, sizeof(yaml), "%s%s", MESH_HEAD, c->spec);
		config_init(&cfg);
		if (load(&cfg, yaml, &d) != -EINVAL || !d.n) {
			print_error("case \"%s\": accepted\n", c->name);
			fail();
		}
		g = &d.items[0];
		config_diag_format(g, line, sizeof(line));
		if (!g->error || !g->field || strcmp(g->field, c->field) ||
		    !strstr(g->message, c->message)) {
			print_error("case \"%s\": got \"%s\"\n", c->name, line);
			fail();
		}
		assert_int_equal(cfg.n_config_maps, 0);
		config_diags_free(&d);
		config_free(&cfg);
	}
}

/* ---- ambitctl analyze ---- */

static const char analyze_mesh[] =
    MESH_HEAD "    defaultProviders: {tracing: [jaeger], accessLogging: [envoy]}\n"
	      "    extensionProviders:\n"
	      "    - name: zipkin\n"
	      "      zipkin: {service: zipkin.istio-system.svc.cluster.local, port: 9411}\n"
	      "    - name: sky\n"
	      "      skywalking: {service: sky.x, port: 11800}\n";

struct run {
	struct config cfg, ctx;
	struct config_diags diags;
};

/* @yaml analyzed, with @context_yaml (may be NULL) as the context. */
static void run(struct run *r, const char *yaml, const char *context_yaml)
{
	struct config_analyze_opts opts = {.root_namespace = "istio-system"};
	struct config_diags cd = {0};

	config_init(&r->cfg);
	config_init(&r->ctx);
	memset(&r->diags, 0, sizeof(r->diags));
	if (context_yaml) {
		assert_int_equal(config_load_buffer(&r->ctx, "ctx.yaml", context_yaml,
						    strlen(context_yaml), &cd),
				 0);
		config_diags_free(&cd);
		opts.context = &r->ctx;
	}
	if (load(&r->cfg, yaml, &r->diags)) {
		print_diags(&r->diags);
		fail_msg("t.yaml does not load");
	}
	assert_int_equal(config_analyze(&r->cfg, &opts, &r->diags), 0);
}

static void done(struct run *r)
{
	config_diags_free(&r->diags);
	config_free(&r->cfg);
	config_free(&r->ctx);
}

/* Exactly one finding containing @msg, with this severity, object and field. */
static void expect(struct run *r, bool error, const char *object, const char *field,
		   const char *msg)
{
	int found = 0;

	for (size_t i = 0; i < r->diags.n; i++) {
		const struct config_diag *d = &r->diags.items[i];

		if (!strstr(d->message, msg))
			continue;
		found++;
		if (d->error != error || !d->object || strcmp(d->object, object) ||
		    (field ? !d->field || strcmp(d->field, field) : d->field != NULL)) {
			print_diags(&r->diags);
			fail_msg("finding \"%s\" is not as wanted", msg);
		}
	}
	if (found != 1) {
		print_diags(&r->diags);
		fail_msg("%d findings contain \"%s\"", found, msg);
	}
}

static size_t count(struct run *r, const char *msg)
{
	size_t n = 0;

	for (size_t i = 0; i < r->diags.n; i++)
		n += strstr(r->diags.items[i].message, msg) != NULL;
	return n;
}

static void test_analyze_providers(void **state)
{
	static const char yaml[] =
	    TM_HEAD("v1", "tel") "spec:\n"
				 "  selector: {matchLabels: {app: api}}\n"
				 "  tracing:\n"
				 "  - providers: [{name: zipkin}]\n"
				 "  - providers: [{name: nope}]\n"
				 "  - providers: [{name: sky}]\n"
				 "  - providers: [{name: envoy}]\n"
				 "  accessLogging: [{providers: [{name: envoy}]}, {}]\n"
				 "  metrics: [{providers: [{name: prometheus}, {name: statsd}]}]\n";
	struct run r;

	run(&r, yaml, analyze_mesh);
	expect(&r, true, "Telemetry shop/tel", "spec.tracing[1].providers[0]",
	       "provider nope is not defined in extensionProviders");
	expect(&r, false, "Telemetry shop/tel", "spec.tracing[2].providers[0]",
	       "provider sky is a skywalking tracer: ambit exports spans only to zipkin and "
	       "opentelemetry providers");
	expect(&r, false, "Telemetry shop/tel", "spec.tracing[3].providers[0]",
	       "provider envoy (envoyFileAccessLog) is not a tracing provider");
	expect(&r, true, "Telemetry shop/tel", "spec.metrics[0].providers[1]",
	       "provider statsd is not defined");
	/* The mesh has a default access log provider: an entry naming none uses it. */
	assert_int_equal(count(&r, "IST0157"), 0);
	assert_int_equal(count(&r, "provider zipkin"), 0);
	assert_int_equal(count(&r, "provider prometheus"), 0);
	done(&r);

	/* No mesh config: Istio's built-in providers only, and no default access log. */
	run(&r, yaml, NULL);
	expect(&r, true, "Telemetry shop/tel", "spec.tracing[0].providers[0]",
	       "provider zipkin is not defined in extensionProviders (no mesh config");
	expect(&r, false, "Telemetry shop/tel", "spec.accessLogging[1]",
	       "IST0157 InvalidTelemetryProvider");
	assert_int_equal(count(&r, "provider prometheus"), 0);
	done(&r);

	/* The mesh config's own defaultProviders, when it is analyzed. */
	run(&r, analyze_mesh, NULL);
	expect(&r, true, "ConfigMap istio-system/istio", "data.mesh.defaultProviders.tracing[0]",
	       "provider jaeger is not defined in extensionProviders");
	assert_int_equal(count(&r, "provider envoy"), 0);
	done(&r);
}

static void test_analyze_namespace_wide(void **state)
{
	static const char yaml[] = TM_HEAD(
	    "v1", "a") "spec: {}\n"
		       "---\n" TM_HEAD(
			   "v1",
			   "b") "spec: {}\n"
				"---\n" TM_HEAD(
				    "v1",
				    "c") "spec:\n"
					 "  selector: {matchLabels: {app: api}}\n"
					 "---\n" TM_HEAD(
					     "v1",
					     "d") "spec:\n"
						  "  targetRefs: [{kind: Service, name: api}]\n"
						  "---\n"
						  "apiVersion: telemetry.istio.io/v1\n"
						  "kind: Telemetry\n"
						  "metadata: {name: a, namespace: other}\n"
						  "spec: {}\n";
	static const char one[] = TM_HEAD("v1", "a") "spec: {}\n";
	struct run r;

	run(&r, yaml, NULL);
	/* On each of the two, as Istio's analyzer; not on those with a selector or targetRefs. */
	assert_int_equal(count(&r, "IST0160"), 2);
	for (size_t i = 0, k = 0; i < r.diags.n; i++) {
		const struct config_diag *d = &r.diags.items[i];

		if (!strstr(d->message, "IST0160"))
			continue;
		assert_true(d->error);
		assert_null(d->field);
		assert_string_equal(d->object, k++ ? "Telemetry shop/b" : "Telemetry shop/a");
		assert_non_null(strstr(d->message,
				       "IST0160 MultipleTelemetriesWithoutWorkloadSelectors: "
				       "the Telemetries [a, b] in namespace shop have no "
				       "workload selector"));
	}
	done(&r);

	/* The same object in the context (the cluster's copy) is not a second one. */
	run(&r, one, one);
	assert_int_equal(count(&r, "IST0160"), 0);
	done(&r);

	/* One in the context is: reported on the analyzed object only. */
	run(&r, one, TM_HEAD("v1", "z") "spec: {}\n");
	expect(&r, true, "Telemetry shop/a", NULL, "the Telemetries [a, z] in namespace shop");
	done(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_telemetry),
	    cmocka_unit_test(test_versions_and_attachment),
	    cmocka_unit_test(test_warnings),
	    cmocka_unit_test(test_unevaluable_tag_value),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_mesh_tracing),
	    cmocka_unit_test(test_mesh_defaults),
	    cmocka_unit_test(test_mesh_refused),
	    cmocka_unit_test(test_analyze_providers),
	    cmocka_unit_test(test_analyze_namespace_wide),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
