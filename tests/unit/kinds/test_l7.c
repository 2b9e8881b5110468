// SPDX-License-Identifier: Apache-2.0
/*
 * The config model of what a waypoint reads: every field of VirtualService and DestinationRule
 * the L7 compiler uses, the Gateway API kinds (Gateway, HTTPRoute, GRPCRoute) with their CRD
 * defaults, the schema and CEL rules rejected at file:line:col naming field and reason, and
 * the analyze findings on routes, waypoints and use-waypoint labels.
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

static int load(struct config *cfg, const char *yaml, struct config_diags *d)
{
	return config_load_buffer(cfg, "l7.yaml", yaml, strlen(yaml), d);
}

static void load_ok(struct config *cfg, const char *yaml)
{
	struct config_diags d = {0};
	char buf[1024];

	config_init(cfg);
	if (load(cfg, yaml, &d)) {
		for (size_t i = 0; i < d.n; i++) {
			config_diag_format(&d.items[i], buf, sizeof(buf));
			print_error("%s\n", buf);
		}
		fail_msg("does not load");
	}
	config_diags_free(&d);
}

static void test_vs_http_model(void **state)
{
	static const char yaml[] =
	    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	    "metadata: {name: r, namespace: shop}\n"
	    "spec:\n  hosts: [reviews]\n  http:\n"
	    "  - match:\n"
	    "    - uri: {prefix: /API}\n"
	    "      ignoreUriCase: true\n"
	    "      queryParams: {v: {exact: '2'}, debug: {}}\n"
	    "      withoutHeaders: {x-skip: {}}\n"
	    "    rewrite: {uriRegexRewrite: {match: '^/api/(.*)$', rewrite: '/v2/\\1'}}\n"
	    "    headers:\n"
	    "      request: {set: {x-a: '1'}, add: {x-b: '2'}, remove: [x-c]}\n"
	    "      response: {remove: [server]}\n"
	    "    route:\n"
	    "    - destination: {host: reviews, subset: v2}\n"
	    "      weight: 3\n"
	    "      headers: {request: {set: {x-a: dest}}}\n"
	    "    - destination: {host: reviews, subset: v1}\n"
	    "      weight: 1\n"
	    "    retries: {attempts: 4, retryOn: 'gateway-error,503', backoff: 50ms,\n"
	    "              retryIgnorePreviousHosts: false}\n"
	    "    fault: {delay: {fixedDelay: 2s}, abort: {grpcStatus: UNAVAILABLE}}\n"
	    "    mirrors:\n"
	    "    - destination: {host: shadow}\n"
	    "      percentage: {value: 12.5}\n"
	    "    - destination: {host: shadow2}\n"
	    "    corsPolicy:\n"
	    "      allowOrigins: [{exact: 'https://a.example'}, {regex: 'https://.*\\.b'}]\n"
	    "      allowMethods: [GET, POST]\n"
	    "      allowHeaders: [x-a]\n"
	    "      maxAge: 24h\n"
	    "      allowCredentials: true\n"
	    "  - match: [{uri: {exact: /old}}]\n"
	    "    redirect: {uri: /new, authority: n.example, derivePort: FROM_REQUEST_PORT}\n"
	    "  - match: [{uri: {prefix: /p}}]\n"
	    "    redirect: {prefixRewrite: /q, scheme: https, redirectCode: 308}\n"
	    "  - directResponse: {status: 503, body: {bytes: aGVsbG8=}}\n";
	struct config cfg;
	const struct config_vs_route *r;
	const struct config_route_match *m;

	load_ok(&cfg, yaml);
	r = &cfg.virtual_services[0].routes[0];
	m = &r->match[0];
	assert_true(m->ignore_uri_case);
	assert_int_equal(m->n_query_params, 2);
	assert_string_equal(m->query_params[0].name, "v");
	assert_int_equal(m->query_params[0].match.type, CONFIG_MATCH_EXACT);
	assert_string_equal(m->query_params[0].match.value, "2");
	assert_int_equal(m->query_params[1].match.type, CONFIG_MATCH_NONE);
	assert_int_equal(m->n_without_headers, 1);
	assert_string_equal(r->rewrite_regex, "^/api/(.*)$");
	assert_string_equal(r->rewrite_regex_sub, "/v2/\\1");
	assert_string_equal(config_label_get(&r->headers.request.set, "x-a"), "1");
	assert_string_equal(config_label_get(&r->headers.request.add, "x-b"), "2");
	assert_string_equal(r->headers.request.remove.items[0], "x-c");
	assert_string_equal(r->headers.response.remove.items[0], "server");
	assert_string_equal(config_label_get(&r->route[0].headers.request.set, "x-a"), "dest");
	assert_int_equal(r->route[0].weight, 3);
	assert_true(r->has_retries);
	assert_int_equal(r->retry_attempts, 4);
	assert_string_equal(r->retry_on, "gateway-error,503");
	assert_int_equal(r->retry_backoff_ms, 50);
	assert_int_equal(r->retry_ignore_previous_hosts, 0);
	assert_int_equal(r->retry_remote_localities, -1);
	/* No percentage: Istio's translation aborts and delays nothing. */
	assert_true(r->fault.has_delay && r->fault.delay_percent == 0);
	assert_true(r->fault.has_abort && r->fault.abort_percent == 0);
	assert_string_equal(r->fault.abort_grpc_status, "UNAVAILABLE");
	assert_int_equal(r->n_mirrors, 2);
	assert_true(r->mirrors[0].percent == 12.5);
	assert_true(r->mirrors[1].percent == 100);
	assert_string_equal(r->mirrors[1].destination.host, "shadow2");
	assert_true(r->cors.present);
	assert_int_equal(r->cors.n_allow_origins, 2);
	assert_int_equal(r->cors.allow_origins[1].type, CONFIG_MATCH_REGEX);
	assert_int_equal(r->cors.max_age_ms, 86400000);
	assert_int_equal(r->cors.allow_credentials, 1);
	r = &cfg.virtual_services[0].routes[1];
	assert_true(r->has_redirect);
	assert_string_equal(r->redirect.uri, "/new");
	assert_string_equal(r->redirect.authority, "n.example");
	assert_int_equal(r->redirect.derive_port, CONFIG_DERIVE_PORT_REQUEST);
	assert_int_equal(r->redirect.code, 301);
	r = &cfg.virtual_services[0].routes[2];
	assert_string_equal(r->redirect.prefix_rewrite, "/q");
	assert_int_equal(r->redirect.code, 308);
	r = &cfg.virtual_services[0].routes[3];
	assert_int_equal(r->direct_response_status, 503);
	assert_int_equal(r->direct_response_body_len, 5);
	assert_string_equal(r->direct_response_body, "hello");
	config_free(&cfg);
}

static void test_dr_model(void **state)
{
	static const char yaml[] =
	    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
	    "metadata: {name: r, namespace: shop}\n"
	    "spec:\n  host: reviews\n  trafficPolicy:\n"
	    "    loadBalancer:\n"
	    "      consistentHash: {httpCookie: {name: user, path: /, ttl: 10s}}\n"
	    "    connectionPool:\n"
	    "      tcp: {maxConnections: 7}\n"
	    "      http: {http1MaxPendingRequests: 2, maxRequestsPerConnection: 1,\n"
	    "             h2UpgradePolicy: UPGRADE, idleTimeout: 5s}\n"
	    "    outlierDetection: {consecutiveGatewayErrors: 3, minHealthPercent: 40}\n"
	    "    tls: {mode: SIMPLE, sni: r.example, caCertificates: /ca.pem,\n"
	    "          subjectAltNames: [r.example]}\n"
	    "    portLevelSettings:\n"
	    "    - port: {number: 9080}\n"
	    "      loadBalancer: {consistentHash: {maglev: {tableSize: 251}, useSourceIp: true}}\n"
	    "  subsets:\n"
	    "  - name: v1\n    labels: {version: v1}\n"
	    "    trafficPolicy:\n"
	    "      loadBalancer: {consistentHash: {httpQueryParameterName: u,\n"
	    "                                      ringHash: {minimumRingSize: 64}}}\n"
	    "  - name: v2\n    labels: {version: v2}\n"
	    "    trafficPolicy: {loadBalancer: {simple: LEAST_CONN}}\n";
	struct config cfg;
	const struct config_traffic_policy *p;
	const struct config_port_traffic_policy *pl;

	load_ok(&cfg, yaml);
	p = &cfg.destination_rules[0].policy;
	assert_int_equal(p->lb.hash_key, CONFIG_HASH_COOKIE);
	assert_string_equal(p->lb.hash_name, "user");
	assert_string_equal(p->lb.cookie_path, "/");
	assert_int_equal(p->lb.cookie_ttl_ms, 10000);
	assert_int_equal(p->lb.table_size, 1024);
	assert_false(p->lb.maglev);
	assert_true(p->pool.present);
	assert_int_equal(p->pool.max_connections, 7);
	assert_int_equal(p->pool.connect_timeout_ms, 10000);
	assert_int_equal(p->pool.http1_max_pending_requests, 2);
	assert_int_equal(p->pool.http2_max_requests, UINT32_MAX);
	assert_int_equal(p->pool.max_requests_per_connection, 1);
	assert_int_equal(p->pool.h2_upgrade_policy, CONFIG_H2_UPGRADE_UPGRADE);
	assert_int_equal(p->pool.http_idle_timeout_ms, 5000);
	/* Envoy's outlier defaults for what the block leaves out. */
	assert_true(p->outlier.present);
	assert_int_equal(p->outlier.consecutive_5xx, 5);
	assert_int_equal(p->outlier.consecutive_gateway, 3);
	assert_int_equal(p->outlier.interval_ms, 10000);
	assert_int_equal(p->outlier.base_ejection_ms, 30000);
	assert_int_equal(p->outlier.max_ejection_percent, 10);
	assert_int_equal(p->outlier.min_health_percent, 40);
	assert_string_equal(p->tls.mode, "SIMPLE");
	assert_string_equal(p->tls.sni, "r.example");
	assert_string_equal(p->tls.subject_alt_names.items[0], "r.example");
	assert_int_equal(p->n_port_level, 1);
	pl = &p->port_level[0];
	assert_int_equal(pl->port, 9080);
	assert_true(pl->lb.present && pl->lb.maglev);
	assert_int_equal(pl->lb.table_size, 251);
	assert_int_equal(pl->lb.hash_key, CONFIG_HASH_SOURCE_IP);
	/* A port's settings do not inherit: its pool has the defaults, not maxConnections 7. */
	assert_false(pl->pool.present);
	assert_int_equal(pl->pool.max_connections, UINT32_MAX);
	p = &cfg.destination_rules[0].subsets[0].policy;
	assert_int_equal(p->lb.hash_key, CONFIG_HASH_QUERY);
	assert_int_equal(p->lb.table_size, 64);
	assert_false(p->pool.present);
	assert_int_equal(cfg.destination_rules[0].subsets[1].policy.lb.simple,
			 CONFIG_LB_LEAST_REQUEST);
	config_free(&cfg);
}

static void test_gateway_api_model(void **state)
{
	static const char yaml[] =
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
	    "metadata:\n  name: waypoint\n  namespace: shop\n"
	    "  labels: {istio.io/waypoint-for: all}\n"
	    "spec:\n  gatewayClassName: istio-waypoint\n"
	    "  listeners:\n  - name: mesh\n    port: 15008\n    protocol: HBONE\n"
	    "    allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {a: b}}}}\n"
	    "---\n"
	    /* An Istio Gateway of the same name is another kind, not a duplicate. */
	    "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
	    "metadata: {name: waypoint, namespace: shop}\n"
	    "spec:\n  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]\n"
	    "---\n"
	    "apiVersion: gateway.networking.k8s.io/v1beta1\nkind: HTTPRoute\n"
	    "metadata: {name: reviews, namespace: shop}\n"
	    "spec:\n"
	    "  parentRefs: [{group: '', kind: Service, name: reviews, port: 9080}]\n"
	    "  rules:\n"
	    "  - matches:\n"
	    "    - path: {type: Exact, value: /a}\n"
	    "      headers: [{name: x-user, value: jason}, {type: RegularExpression, name: x-v,\n"
	    "                 value: 'v[0-9]+'}]\n"
	    "      queryParams: [{name: q, value: '1'}]\n"
	    "      method: POST\n"
	    "    - headers: [{name: x-any, value: y}]\n"
	    "    filters:\n"
	    "    - type: RequestHeaderModifier\n"
	    "      requestHeaderModifier: {set: [{name: x-a, value: '1'}], remove: [x-b]}\n"
	    "    - type: RequestMirror\n"
	    "      requestMirror: {backendRef: {name: shadow, port: 80},\n"
	    "                      fraction: {numerator: 1, denominator: 4}}\n"
	    "    backendRefs:\n"
	    "    - {name: reviews-v1, port: 9080, weight: 90}\n"
	    "    - name: reviews-v2\n      port: 9080\n"
	    "      filters: [{type: ResponseHeaderModifier,\n"
	    "                 responseHeaderModifier: {add: [{name: x-v, value: '2'}]}}]\n"
	    "    timeouts: {request: 10s, backendRequest: 2s}\n"
	    "    retry: {attempts: 3, codes: [503, 504], backoff: 100ms}\n"
	    "  - matches: [{path: {type: PathPrefix, value: /old}}]\n"
	    "    filters:\n"
	    "    - type: RequestRedirect\n"
	    "      requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}\n"
	    "---\n"
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
	    "metadata: {name: bare, namespace: shop}\n"
	    "spec:\n  parentRefs: [{name: waypoint}]\n"
	    "---\n"
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\n"
	    "metadata: {name: g, namespace: shop}\n"
	    "spec:\n"
	    "  parentRefs: [{kind: Service, group: '', name: grpc}]\n"
	    "  rules:\n  - matches: [{method: {service: pkg.Svc, method: Get}}]\n"
	    "    backendRefs: [{name: grpc, port: 50051}]\n";
	struct config cfg;
	const struct config_gw_route *hr;
	const struct config_gw_route_rule *rule;

	load_ok(&cfg, yaml);
	assert_int_equal(cfg.n_k8s_gateways, 1);
	assert_int_equal(cfg.n_gateways, 1);
	assert_string_equal(cfg.k8s_gateways[0].class_name, "istio-waypoint");
	assert_int_equal(cfg.k8s_gateways[0].listeners[0].port, 15008);
	assert_string_equal(cfg.k8s_gateways[0].listeners[0].protocol, "HBONE");
	assert_int_equal(cfg.k8s_gateways[0].listeners[0].allowed_from, CONFIG_GW_FROM_SELECTOR);
	assert_string_equal(
	    config_label_get(&cfg.k8s_gateways[0].listeners[0].allowed_selector, "a"), "b");
	assert_int_equal(cfg.n_http_routes, 2);
	hr = &cfg.http_routes[0];
	assert_false(hr->grpc);
	assert_string_equal(hr->parent_refs[0].kind, "Service");
	assert_string_equal(hr->parent_refs[0].group, "");
	assert_int_equal(hr->parent_refs[0].port, 9080);
	rule = &hr->rules[0];
	assert_int_equal(rule->n_matches, 2);
	assert_int_equal(rule->matches[0].path_type, CONFIG_GW_MATCH_EXACT);
	assert_string_equal(rule->matches[0].method, "POST");
	assert_int_equal(rule->matches[0].headers[1].type, CONFIG_GW_MATCH_REGEX);
	assert_string_equal(rule->matches[0].query_params[0].value, "1");
	/* The CRD default: a match without path is PathPrefix "/". */
	assert_int_equal(rule->matches[1].path_type, CONFIG_GW_MATCH_PREFIX);
	assert_string_equal(rule->matches[1].path, "/");
	assert_int_equal(rule->n_filters, 2);
	assert_int_equal(rule->filters[0].type, CONFIG_GW_FILTER_REQUEST_HEADER);
	assert_string_equal(config_label_get(&rule->filters[0].headers.set, "x-a"), "1");
	assert_int_equal(rule->filters[1].type, CONFIG_GW_FILTER_MIRROR);
	assert_true(rule->filters[1].mirror_percent == 25);
	assert_string_equal(rule->filters[1].mirror->name, "shadow");
	assert_int_equal(rule->backends[0].weight, 90);
	assert_int_equal(rule->backends[1].weight, 1);
	assert_string_equal(rule->backends[1].kind, "Service");
	assert_int_equal(rule->backends[1].filters[0].type, CONFIG_GW_FILTER_RESPONSE_HEADER);
	assert_int_equal(rule->timeout_request_ms, 10000);
	assert_int_equal(rule->timeout_backend_ms, 2000);
	assert_true(rule->has_retry);
	assert_int_equal(rule->retry_attempts, 3);
	assert_int_equal(rule->n_retry_codes, 2);
	assert_int_equal(rule->retry_backoff_ms, 100);
	rule = &hr->rules[1];
	assert_int_equal(rule->filters[0].type, CONFIG_GW_FILTER_REDIRECT);
	assert_int_equal(rule->filters[0].path_mod, CONFIG_GW_PATH_PREFIX);
	assert_int_equal(rule->filters[0].status_code, 302);
	/* No rules: one rule matching PathPrefix "/", parentRef defaults to a Gateway. */
	hr = &cfg.http_routes[1];
	assert_string_equal(hr->parent_refs[0].group, "gateway.networking.k8s.io");
	assert_string_equal(hr->parent_refs[0].kind, "Gateway");
	assert_int_equal(hr->n_rules, 1);
	assert_int_equal(hr->rules[0].matches[0].path_type, CONFIG_GW_MATCH_PREFIX);
	assert_int_equal(cfg.n_grpc_routes, 1);
	assert_true(cfg.grpc_routes[0].grpc);
	assert_string_equal(cfg.grpc_routes[0].rules[0].matches[0].grpc_service, "pkg.Svc");
	assert_string_equal(cfg.grpc_routes[0].rules[0].matches[0].grpc_method, "Get");
	config_free(&cfg);
}

struct bad {
	const char *name;
	const char *yaml;
	int line, column;
	const char *field;
	const char *message;
};

#define VS_HEAD                                                                                    \
	"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\n"          \
	"spec:\n  hosts: [r]\n  http:\n"
#define DR_HEAD                                                                                    \
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\n"         \
	"spec:\n  host: r\n"
#define HR_HEAD                                                                                    \
	"apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: h}\n"         \
	"spec:\n  rules:\n"

static const struct bad bad_cases[] = {
    {"header op on a pseudo-header",
     VS_HEAD "  - route: [{destination: {host: r}}]\n"
	     "    headers: {response: {set: {':status': '200'}}}\n",
     8, 32, "spec.http[0].headers.response.set.:status", "cannot have \":\" prefix"},
    {"authority twice",
     VS_HEAD "  - route: [{destination: {host: r}}]\n"
	     "    rewrite: {authority: a}\n    headers: {request: {set: {host: b}}}\n",
     7, 5, "spec.http[0]", "authority header cannot be set multiple times"},
    {"redirect uri and prefixRewrite", VS_HEAD "  - redirect: {uri: /a, prefixRewrite: /b}\n", 7,
     15, "spec.http[0].redirect", "only specify one of uri or prefixRewrite"},
    {"prefixRewrite with an exact match",
     VS_HEAD "  - match: [{uri: {exact: /a}}]\n    redirect: {prefixRewrite: /b}\n", 7, 5,
     "spec.http[0]", "requires all URI matches to use prefix"},
    {"regex rewrite names a missing group",
     VS_HEAD "  - route: [{destination: {host: r}}]\n"
	     "    rewrite: {uriRegexRewrite: {match: '^/(a)$', rewrite: '/\\2'}}\n",
     8, 59, "spec.http[0].rewrite.uriRegexRewrite", "names a group the regex does not have"},
    {"lookahead is not RE2",
     VS_HEAD "  - match: [{uri: {regex: '/a(?=b)'}}]\n    route: [{destination: {host: r}}]\n", 7,
     27, "spec.http[0].match[0].uri.regex", "group syntax RE2 does not support"},
    {"backreference is not RE2",
     VS_HEAD "  - match: [{headers: {x: {regex: '(a)\\1'}}}]\n"
	     "    route: [{destination: {host: r}}]\n",
     7, 35, "spec.http[0].match[0].headers.x.regex", "escape RE2 does not support"},
    {"backoff is a duration",
     VS_HEAD "  - route: [{destination: {host: r}}]\n"
	     "    retries: {attempts: 2, backoff: {baseInterval: 1s}}\n",
     8, 37, "spec.http[0].retries.backoff", "expected a string"},
    {"CORS method",
     VS_HEAD "  - route: [{destination: {host: r}}]\n"
	     "    corsPolicy: {allowMethods: [FETCH]}\n",
     8, 33, "spec.http[0].corsPolicy.allowMethods", "not a supported HTTP method"},
    {"CORS max age precision",
     VS_HEAD "  - route: [{destination: {host: r}}]\n"
	     "    corsPolicy: {maxAge: 1500ms}\n",
     8, 26, "spec.http[0].corsPolicy.maxAge", "seconds precision"},
    {"negative pool limit",
     DR_HEAD "  trafficPolicy: {connectionPool: {tcp: {maxConnections: "
	     "-1}}}\n",
     6, 58, "spec.trafficPolicy.connectionPool.tcp.maxConnections", "must not be negative"},
    {"duplicate port level settings",
     DR_HEAD "  trafficPolicy:\n    portLevelSettings:\n"
	     "    - {port: {number: 80}, loadBalancer: {simple: RANDOM}}\n"
	     "    - {port: {number: 80}, loadBalancer: {simple: ROUND_ROBIN}}\n",
     9, 7, "spec.trafficPolicy.portLevelSettings[1]", "duplicate port level settings"},
    {"redirect with backends",
     HR_HEAD "  - backendRefs: [{name: s, port: 80}]\n"
	     "    filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}]\n",
     6, 5, "spec.rules[0]", "must not be used together with backendRefs"},
    {"replacePrefixMatch without a PathPrefix match",
     HR_HEAD "  - matches: [{path: {type: Exact, value: /a}}]\n"
	     "    filters: [{type: URLRewrite,\n"
	     "               urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: "
	     "/b}}}]\n",
     6, 5, "spec.rules[0]", "exactly one PathPrefix match"},
    {"Service backend without port", HR_HEAD "  - backendRefs: [{name: s}]\n", 6, 19,
     "spec.rules[0].backendRefs[0]", "Must have port for Service reference"},
    {"path with dot segment", HR_HEAD "  - matches: [{path: {type: PathPrefix, value: /a/../b}}]\n",
     6, 48, "spec.rules[0].matches[0].path", "must not contain"},
    {"repeated filter",
     HR_HEAD "  - filters:\n    - {type: URLRewrite, urlRewrite: {hostname: a}}\n"
	     "    - {type: URLRewrite, urlRewrite: {hostname: b}}\n",
     8, 7, "spec.rules[0].filters[1]", "URLRewrite filter cannot be repeated"},
    {"filter member of another type",
     HR_HEAD "  - filters: [{type: RequestRedirect, urlRewrite: {hostname: a}}]\n", 6, 15,
     "spec.rules[0].filters[0]", "filter.requestRedirect must be specified"},
    {"backend timeout longer than request",
     HR_HEAD "  - timeouts: {request: 1s, backendRequest: 2s}\n", 6, 15, "spec.rules[0].timeouts",
     "cannot be longer than request timeout"},
    {"Gateway API duration", HR_HEAD "  - timeouts: {request: 1.5s}\n", 6, 25,
     "spec.rules[0].timeouts.request", "not a Gateway API duration"},
    {"GRPCRoute has no redirect",
     "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: g}\n"
     "spec:\n  rules:\n  - filters: [{type: RequestRedirect, requestRedirect: {}}]\n",
     6, 22, "spec.rules[0].filters[0]", "not a GRPCRoute filter type"},
    {"waypoint listener names",
     "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: w}\n"
     "spec:\n  gatewayClassName: istio-waypoint\n  listeners:\n"
     "  - {name: mesh, port: 15008, protocol: HBONE}\n"
     "  - {name: mesh, port: 15009, protocol: HBONE}\n",
     8, 5, "spec.listeners[1]", "Listener name must be unique"},
};

static void test_rejected(void **state)
{
	char buf[1024];

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad *c = &bad_cases[i];
		struct config cfg;
		struct config_diags d = {0};
		const struct config_diag *g = NULL;

		config_init(&cfg);
		if (load(&cfg, c->yaml, &d) != -EINVAL)
			fail_msg("case \"%s\" loads", c->name);
		for (size_t j = 0; j < d.n && !g; j++)
			if (d.items[j].error)
				g = &d.items[j];
		assert_non_null(g);
		config_diag_format(g, buf, sizeof(buf));
		if (g->line != c->line || g->column != c->column || !g->field ||
		    strcmp(g->field, c->field) || !strstr(g->message, c->message)) {
			print_error("case \"%s\": got \"%s\"\n", c->name, buf);
			fail();
		}
		config_diags_free(&d);
		config_free(&cfg);
	}
}

/* localityLbSetting: failoverPriority kept in order, enabled: false, regions said and not applied.
 */
static void test_dr_locality(void **state)
{
	static const char yaml[] =
	    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
	    "metadata: {name: h, namespace: sample}\n"
	    "spec:\n  host: helloworld\n  trafficPolicy:\n"
	    "    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m}\n"
	    "    loadBalancer:\n"
	    "      simple: ROUND_ROBIN\n"
	    "      localityLbSetting:\n"
	    "        enabled: true\n"
	    "        failoverPriority: [topology.istio.io/network, topology.istio.io/cluster]\n"
	    "        failover: [{from: us-east, to: us-west}]\n"
	    "  subsets:\n"
	    "  - name: v1\n    labels: {version: v1}\n"
	    "    trafficPolicy: {loadBalancer: {localityLbSetting: {enabled: false}}}\n";
	static const char both[] =
	    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
	    "metadata: {name: h, namespace: sample}\n"
	    "spec:\n  host: helloworld\n  trafficPolicy:\n    loadBalancer:\n"
	    "      localityLbSetting:\n"
	    "        failover: [{from: a, to: b}]\n"
	    "        distribute: [{from: a, to: {b: 100}}]\n";
	struct config_diags d = {0};
	struct config cfg;
	const struct config_load_balancer *lb;
	bool said = false;

	config_init(&cfg);
	assert_int_equal(load(&cfg, yaml, &d), 0);
	for (size_t i = 0; i < d.n; i++)
		said |= !d.items[i].error && strstr(d.items[i].message, "not applied") != NULL;
	assert_true(said);
	lb = &cfg.destination_rules[0].policy.lb;
	assert_false(lb->locality_off);
	assert_int_equal(lb->failover_priority.n, 2);
	assert_string_equal(lb->failover_priority.items[0], "topology.istio.io/network");
	assert_string_equal(lb->failover_priority.items[1], "topology.istio.io/cluster");
	assert_true(cfg.destination_rules[0].subsets[0].policy.lb.locality_off);
	config_diags_free(&d);
	config_free(&cfg);
	config_init(&cfg);
	assert_int_equal(load(&cfg, both, &d), -EINVAL);
	config_diags_free(&d);
	config_free(&cfg);
}

/* Analyze: each finding once, at its object and field. */
static void analyze(const char *yaml, struct config *cfg, struct config_diags *d)
{
	load_ok(cfg, yaml);
	memset(d, 0, sizeof(*d));
	assert_int_equal(config_analyze(cfg, NULL, d), 0);
}

static void expect(const struct config_diags *d, bool error, const char *object, const char *field,
		   const char *msg)
{
	int found = 0;
	char buf[1024];

	for (size_t i = 0; i < d->n; i++) {
		const struct config_diag *g = &d->items[i];

		if (!strstr(g->message, msg))
			continue;
		found++;
		config_diag_format(g, buf, sizeof(buf));
		if (g->error != error || strcmp(g->object, object) ||
		    (field ? !g->field || strcmp(g->field, field) : g->field != NULL))
			fail_msg("unexpected: %s", buf);
	}
	if (found != 1) {
		for (size_t i = 0; i < d->n; i++) {
			config_diag_format(&d->items[i], buf, sizeof(buf));
			print_error("  have: %s\n", buf);
		}
		fail_msg("%d findings contain \"%s\"", found, msg);
	}
}

static void test_analyze_routes(void **state)
{
	static const char yaml[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: shop}\n"
	    "spec: {selector: {app: reviews}, ports: [{port: 9080}]}\n---\n"
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
	    "metadata: {name: h, namespace: shop}\n"
	    "spec:\n"
	    "  parentRefs: [{group: '', kind: Service, name: reviews}, {group: '', kind: Service,\n"
	    "               name: ratings}, {name: gw}]\n"
	    "  rules:\n  - backendRefs: [{name: reviews, port: 9080}, {name: reviews-v9, port: "
	    "1},\n"
	    "                 {group: example.com, kind: Bucket, name: b}]\n"
	    "---\n"
	    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	    "metadata: {name: vs, namespace: shop}\n"
	    "spec:\n  hosts: [reviews.shop.svc.cluster.local]\n  http:\n"
	    "  - match: [{sourceLabels: {app: a}}, {sourceNamespace: other}]\n"
	    "    route: [{destination: {host: reviews}}]\n";
	struct config cfg;
	struct config_diags d;

	analyze(yaml, &cfg, &d);
	expect(&d, true, "HTTPRoute shop/h", "spec.parentRefs[1]",
	       "IST0101 referenced service not found: \"shop/ratings\"");
	expect(&d, true, "HTTPRoute shop/h", "spec.parentRefs[2]",
	       "IST0101 referenced gateway not found: \"shop/gw\"");
	/* A backend not found is stored (the route answers 500 for it): a warning. */
	expect(&d, false, "HTTPRoute shop/h", "spec.rules[0].backendRefs[1]",
	       "IST0101 referenced service not found: \"shop/reviews-v9\": requests to it fail "
	       "with 500");
	expect(&d, false, "HTTPRoute shop/h", "spec.rules[0].backendRefs[2]",
	       "example.com/Bucket is not one a waypoint routes to");
	expect(&d, false, "VirtualService shop/vs", "spec.hosts",
	       "also routed by HTTPRoute shop/h: mixing VirtualService and HTTPRoute");
	expect(&d, false, "VirtualService shop/vs", "spec.http[0].match[0].sourceLabels",
	       "a waypoint drops match blocks with sourceLabels");
	expect(&d, false, "VirtualService shop/vs", "spec.http[0].match[1].sourceNamespace",
	       "a waypoint ignores sourceNamespace");
	expect(&d, false, "HTTPRoute shop/h", NULL,
	       "not enforced yet: no waypoint serves the Service it is attached to");
	config_diags_free(&d);
	config_free(&cfg);
}

static void test_analyze_waypoints(void **state)
{
	static const char yaml[] =
	    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
	    "  labels: {istio.io/use-waypoint: missing}\n---\n"
	    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ok\n"
	    "  labels: {istio.io/use-waypoint: open, istio.io/use-waypoint-namespace: shop}\n---\n"
	    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n"
	    "  labels: {istio.io/use-waypoint: sel, istio.io/use-waypoint-namespace: shop}\n---\n"
	    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: other\n"
	    "  labels: {istio.io/use-waypoint: sel, istio.io/use-waypoint-namespace: shop}\n---\n"
	    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: far\n"
	    "  labels: {istio.io/use-waypoint: wp, istio.io/use-waypoint-namespace: shop}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata:\n  name: t\n  namespace: far\n"
	    "  labels: {istio.io/use-waypoint: wl, istio.io/use-waypoint-namespace: shop}\n"
	    "spec: {ports: [{port: 80}]}\n---\n"
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
	    "metadata: {name: open, namespace: shop}\n"
	    "spec:\n  gatewayClassName: istio-waypoint\n"
	    "  listeners: [{name: mesh, port: 15008, protocol: HBONE,\n"
	    "               allowedRoutes: {namespaces: {from: All}}}]\n---\n"
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
	    "metadata: {name: sel, namespace: shop}\n"
	    "spec:\n  gatewayClassName: istio-waypoint\n"
	    "  listeners: [{name: mesh, port: 15008, protocol: HBONE,\n"
	    "               allowedRoutes: {namespaces: {from: Selector,\n"
	    "                 selector: {matchLabels: {kubernetes.io/metadata.name: team}}}}}]\n"
	    "---\n"
	    "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  namespace: shop\n"
	    "  labels: {istio.io/use-waypoint: wl}\n"
	    "spec: {ports: [{port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: shop\n"
	    "  labels: {istio.io/use-waypoint: none}\n"
	    "spec: {containers: [{name: c}]}\n---\n"
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
	    "metadata: {name: wp, namespace: shop}\n"
	    "spec:\n  gatewayClassName: istio-waypoint\n"
	    "  listeners: [{name: mesh, port: 15009, protocol: HBONE}]\n---\n"
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
	    "metadata:\n  name: wl\n  namespace: shop\n"
	    "  labels: {istio.io/waypoint-for: workload}\n"
	    "spec:\n  gatewayClassName: istio-waypoint\n"
	    "  listeners: [{name: mesh, port: 15008, protocol: HBONE},\n"
	    "              {name: web, port: 80, protocol: HTTP}]\n";
	struct config cfg;
	struct config_diags d;

	analyze(yaml, &cfg, &d);
	expect(&d, true, "Namespace shop", "metadata.labels.istio.io/use-waypoint",
	       "IST0101 referenced waypoint not found: shop/missing");
	expect(&d, true, "Gateway shop/wp", "spec.listeners[0]",
	       "HBONE listener must be on port 15008, not 15009");
	expect(&d, true, "Gateway shop/wp", "spec.listeners",
	       "needs a listener of protocol HBONE on port 15008");
	expect(&d, false, "Gateway shop/wl", "spec.listeners[1]",
	       "listener \"web\" (HTTP 80) is ignored");
	expect(&d, false, "Service shop/s", "metadata.labels.istio.io/use-waypoint",
	       "is for workload traffic, not service traffic");
	/* Istio's AttachmentDenied, with the selector and the labels it was matched against. */
	expect(&d, false, "Namespace other", "metadata.labels.istio.io/use-waypoint",
	       "AttachmentDenied: waypoint shop/sel does not admit namespace other: its HBONE "
	       "listener's allowedRoutes admit namespaces labelled "
	       "kubernetes.io/metadata.name=team, and namespace other's labels are "
	       "istio.io/use-waypoint=sel");
	expect(&d, false, "Namespace far", "metadata.labels.istio.io/use-waypoint",
	       "it has no HBONE listener on 15008, so only its own namespace may use it");
	expect(&d, false, "Service far/t", "metadata.labels.istio.io/use-waypoint",
	       "AttachmentDenied: waypoint shop/wl does not admit namespace far: its HBONE "
	       "listener's allowedRoutes admit only its own namespace (from: Same, the default)");
	for (size_t i = 0; i < d.n; i++)
		if (!strcmp(d.items[i].object, "Namespace ok") ||
		    !strcmp(d.items[i].object, "Namespace team") ||
		    !strcmp(d.items[i].object, "Pod shop/p"))
			fail_msg("unexpected finding on %s: %s", d.items[i].object,
				 d.items[i].message);
	config_diags_free(&d);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vs_http_model),     cmocka_unit_test(test_dr_model),
	    cmocka_unit_test(test_dr_locality),	      cmocka_unit_test(test_gateway_api_model),
	    cmocka_unit_test(test_rejected),	      cmocka_unit_test(test_analyze_routes),
	    cmocka_unit_test(test_analyze_waypoints),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
