// SPDX-License-Identifier: Apache-2.0
/*
 * The L7 compiler and its JSON codec: what a waypoint receives for each bound Service (ports and
 * protocols, endpoints, subsets, DestinationRule policies per (subset, port) with Istio's
 * replace-not-merge rules and lookup order, VirtualService routes in waypoint semantics,
 * Gateway API routes in precedence order, the default route), the strict decoder's refusals,
 * and the snapshot carrying the model and the ztunnel's waypoint bindings.
 */
#include <arpa/inet.h>
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

#include "ambit/ca.h"
#include "ambit/l7.h"
#include "../../lib/l7_world.h"
#include "ambit/snapshot.h"

#define HEAD                                                                                       \
	"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"                               \
	"  labels: {istio.io/use-waypoint: wp, istio.io/dataplane-mode: ambient}\n---\n"           \
	"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"                                \
	"metadata: {name: wp, namespace: shop}\n"                                                  \
	"spec:\n  gatewayClassName: istio-waypoint\n"                                              \
	"  listeners: [{name: mesh, port: 15008, protocol: HBONE}]\n---\n"                         \
	"apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: shop}\n"              \
	"spec:\n  clusterIP: 10.96.0.20\n  selector: {app: reviews}\n  ports:\n"                   \
	"  - {name: http, port: 9080, targetPort: web}\n"                                          \
	"  - {name: rpc, port: 9090, appProtocol: grpc}\n"                                         \
	"  - {name: tcp-db, port: 5432}\n---\n"                                                    \
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: reviews-v1\n  namespace: shop\n"            \
	"  labels: {app: reviews, version: v1}\n"                                                  \
	"spec:\n  serviceAccountName: bookinfo-reviews\n  nodeName: node1\n"                       \
	"  containers: [{name: c, ports: [{name: web, containerPort: 8080}]}]\n"                   \
	"status: {podIP: 10.1.0.11}\n---\n"                                                        \
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: reviews-v2\n  namespace: shop\n"            \
	"  labels: {app: reviews, version: v2}\n"                                                  \
	"spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.12}\n---\n"

/* The manifests bound (tests/lib/l7_world.h) and the model of their one waypoint. */
struct world {
	struct l7_world_bound bw;
	struct l7_config *l7;
	const struct l7_service *svc;
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
	w->svc = l7_config_service(w->l7, "reviews.shop.svc.cluster.local");
	assert_non_null(w->svc);
}

static void done(struct world *w)
{
	l7_config_free(w->l7);
	l7_world_unbind(&w->bw);
}

static void test_service_facts(void **state)
{
	struct world w;
	char ip[INET_ADDRSTRLEN];

	build(&w, HEAD);
	assert_string_equal(w.l7->identity, "spiffe://cluster.local/ns/shop/sa/wp");
	/* A waypoint for services only: no workload entries. */
	assert_int_equal(w.l7->n_services, 1);
	assert_int_equal(w.svc->n_ports, 3);
	assert_int_equal(w.svc->ports[0].protocol, L7_PROTO_HTTP);
	assert_int_equal(w.svc->ports[1].protocol, L7_PROTO_GRPC); /* appProtocol */
	assert_int_equal(w.svc->ports[2].protocol, L7_PROTO_TCP);
	assert_true(l7_protocol_is_http(w.svc->ports[1].protocol));
	assert_int_equal(l7_port_protocol(NULL, "grpc-web-x"), L7_PROTO_GRPC_WEB);
	assert_int_equal(l7_port_protocol(NULL, "metrics"), L7_PROTO_UNKNOWN);
	inet_ntop(AF_INET, &w.svc->vip, ip, sizeof(ip));
	assert_string_equal(ip, "10.96.0.20");
	assert_int_equal(w.svc->n_endpoints, 2);
	assert_string_equal(w.svc->endpoints[0].pod, "shop/reviews-v1");
	assert_string_equal(w.svc->endpoints[0].identity,
			    "spiffe://cluster.local/ns/shop/sa/bookinfo-reviews");
	assert_string_equal(w.svc->endpoints[0].node, "node1");
	/* Named targetPort per pod: reviews-v2 has no port "web". */
	assert_int_equal(w.svc->endpoints[0].ports[0], 8080);
	assert_int_equal(w.svc->endpoints[1].ports[0], 0);
	assert_int_equal(w.svc->endpoints[1].ports[1], 9090);
	/* No route object: the default route to the service, with the mesh retry policy. */
	assert_int_equal(w.svc->routes_kind, L7_ROUTES_DEFAULT);
	assert_int_equal(w.svc->n_routes, 1);
	assert_int_equal(w.svc->routes[0].n_matches, 0);
	assert_string_equal(w.svc->routes[0].dests[0].host, "reviews.shop.svc.cluster.local");
	assert_int_equal(w.svc->routes[0].retry.attempts, 2);
	assert_true(w.svc->routes[0].retry.retry_on & L7_RETRY_CONNECT_FAILURE);
	assert_false(w.svc->routes[0].retry.retry_on & L7_RETRY_5XX);
	/* No DestinationRule: one policy per port, Istio's defaults. */
	assert_int_equal(w.svc->n_policies, 3);
	assert_int_equal(l7_service_policy(w.svc, NULL, 9080)->pool.max_connections, UINT32_MAX);
	assert_false(l7_service_policy(w.svc, NULL, 9080)->outlier.present);
	done(&w);
}

/* A waypoint for all traffic also gets the pods bound to it, each as a workload entry. */
static void test_workload_entries(void **state)
{
	static const char wl_for_all[] =
	    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
	    "  labels: {istio.io/use-waypoint: wp}\n---\n"
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
	    "metadata: {name: wp, namespace: shop, labels: {istio.io/waypoint-for: all}}\n"
	    "spec:\n  gatewayClassName: istio-waypoint\n"
	    "  listeners: [{name: mesh, port: 15008, protocol: HBONE}]\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: shop}\n"
	    "spec:\n  clusterIP: 10.96.0.20\n  selector: {app: reviews}\n"
	    "  ports: [{name: http, port: 9080}]\n---\n"
	    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: reviews-v1\n  namespace: shop\n"
	    "  labels: {app: reviews}\n"
	    "spec:\n  containers:\n  - name: a\n    ports: [{name: http-web, containerPort: "
	    "8080},\n"
	    "            {name: dns, containerPort: 53, protocol: UDP}]\n"
	    "  - name: b\n    ports: [{containerPort: 8080}, {containerPort: 9000}]\n"
	    "status: {podIP: 10.1.0.11}\n---\n"
	    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: other\n  namespace: shop\n"
	    "  labels: {app: other, istio.io/use-waypoint: none}\n"
	    "spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.12}\n---\n"
	    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bare\n  namespace: shop\n"
	    "spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.13}\n";
	const struct l7_service *wl, *bare;
	struct l7_config *back;
	struct world w;
	char err[256];
	cJSON *j;

	build(&w, wl_for_all);
	/* reviews, then reviews-v1 and bare; "other" opted out. */
	assert_int_equal(w.l7->n_services, 3);
	assert_false(w.svc->workload);
	wl = l7_config_service(w.l7, "10.1.0.11");
	assert_non_null(wl);
	assert_true(wl->workload);
	assert_string_equal(wl->name, "reviews-v1");
	assert_string_equal(wl->namespace, "shop");
	assert_int_equal(wl->vip, htonl(0x0a01000b));
	/*
	 * Its declared TCP and UDP ports (UDP's flows come as CONNECT-UDP), once each; the
	 * protocol from the port's name.
	 */
	assert_int_equal(wl->n_ports, 3);
	assert_int_equal(wl->ports[0].port, 8080);
	assert_int_equal(wl->ports[0].protocol, L7_PROTO_HTTP);
	assert_int_equal(wl->ports[1].port, 53);
	assert_int_equal(wl->ports[2].port, 9000);
	assert_int_equal(wl->ports[2].protocol, L7_PROTO_UNKNOWN);
	assert_int_equal(wl->n_endpoints, 1);
	assert_string_equal(wl->endpoints[0].pod, "shop/reviews-v1");
	assert_int_equal(wl->endpoints[0].ports[0], 8080);
	assert_int_equal(wl->endpoints[0].ports[1], 53);
	assert_int_equal(wl->endpoints[0].ports[2], 9000);
	/* Routing objects name Services: the pod's own traffic takes the default route. */
	assert_int_equal(wl->routes_kind, L7_ROUTES_DEFAULT);
	assert_int_equal(wl->n_routes, 1);
	assert_string_equal(wl->routes[0].dests[0].host, "10.1.0.11");
	assert_int_equal(wl->n_policies, 0);
	bare = l7_config_service(w.l7, "10.1.0.13");
	assert_non_null(bare);
	assert_int_equal(bare->n_ports, 0);
	assert_null(l7_config_service(w.l7, "10.1.0.12"));
	/* The entry survives the snapshot's JSON. */
	j = l7_to_json(w.l7);
	assert_non_null(j);
	back = l7_from_json(j, err, sizeof(err));
	if (!back)
		fail_msg("%s", err);
	assert_true(l7_config_service(back, "10.1.0.11")->workload);
	assert_false(l7_config_service(back, "reviews.shop.svc.cluster.local")->workload);
	assert_null(l7_config_service(back, "10.1.0.11")->endpoints[0].workload);
	l7_config_free(back);
	cJSON_Delete(j);
	/* A pod of a Deployment: its endpoints name the Deployment as Istio's workload. */
	for (size_t i = 0; i < w.bw.in.n_pods; i++)
		if (!strcmp(w.bw.pods[i].name, "reviews-v1"))
			w.bw.pods[i].workload = "reviews-v1-deploy";
	l7_config_free(w.l7);
	w.l7 = l7_compile(&w.bw.in, &w.bw.b, &w.bw.b.waypoints[0]);
	assert_non_null(w.l7);
	j = l7_to_json(w.l7);
	back = j ? l7_from_json(j, err, sizeof(err)) : NULL;
	assert_non_null(back);
	assert_string_equal(l7_config_service(back, "10.1.0.11")->endpoints[0].workload,
			    "reviews-v1-deploy");
	assert_string_equal(
	    l7_config_service(back, "reviews.shop.svc.cluster.local")->endpoints[0].workload,
	    "reviews-v1-deploy");
	l7_config_free(back);
	cJSON_Delete(j);
	done(&w);
}

static void test_policies(void **state)
{
	struct world w;
	const struct l7_policy *p;

	build(&w, HEAD
	      "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
	      "metadata: {name: other, namespace: istio-system}\n"
	      "spec: {host: reviews.shop.svc.cluster.local, trafficPolicy: {loadBalancer: "
	      "{simple: PASSTHROUGH}}}\n---\n"
	      "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
	      "metadata: {name: reviews, namespace: shop}\n"
	      "spec:\n  host: reviews\n  trafficPolicy:\n"
	      "    loadBalancer: {simple: ROUND_ROBIN}\n"
	      "    connectionPool: {tcp: {maxConnections: 3}}\n"
	      "    outlierDetection: {consecutive5xxErrors: 2}\n"
	      "    portLevelSettings:\n"
	      "    - port: {number: 9090}\n      outlierDetection: {consecutiveGatewayErrors: 4}\n"
	      "  subsets:\n"
	      "  - name: v1\n    labels: {version: v1}\n"
	      "  - name: v2\n    labels: {version: v2}\n"
	      "    trafficPolicy:\n      loadBalancer: {simple: RANDOM}\n"
	      "      portLevelSettings:\n"
	      "      - port: {number: 5432}\n        connectionPool: {tcp: {maxConnections: 9}}\n");
	assert_int_equal(w.svc->n_subsets, 2);
	assert_int_equal(w.svc->subsets[1].n_endpoints, 1);
	assert_int_equal(w.svc->subsets[1].endpoints[0], 1);
	/* 3 ports x (service + 2 subsets). */
	assert_int_equal(w.svc->n_policies, 9);
	/* The service's namespace beats the root namespace's rule. */
	p = l7_service_policy(w.svc, NULL, 9080);
	assert_int_equal(p->lb.simple, CONFIG_LB_ROUND_ROBIN);
	assert_int_equal(p->pool.max_connections, 3);
	assert_int_equal(p->outlier.consecutive_5xx, 2);
	/* Port-level settings replace the whole policy: no lb, pool or 5xx of the rule. */
	p = l7_service_policy(w.svc, NULL, 9090);
	assert_int_equal(p->lb.simple, CONFIG_LB_UNSPECIFIED);
	assert_int_equal(p->pool.max_connections, UINT32_MAX);
	assert_int_equal(p->outlier.consecutive_5xx, 5);
	assert_int_equal(p->outlier.consecutive_gateway, 4);
	/* A subset's part replaces the rule's; the rest is inherited. */
	p = l7_service_policy(w.svc, "v2", 9080);
	assert_int_equal(p->lb.simple, CONFIG_LB_RANDOM);
	assert_int_equal(p->pool.max_connections, 3);
	assert_int_equal(p->outlier.consecutive_5xx, 2);
	p = l7_service_policy(w.svc, "v2", 9090);
	assert_int_equal(p->lb.simple, CONFIG_LB_RANDOM);
	assert_int_equal(p->outlier.consecutive_gateway, 4);
	/* A subset's port-level settings replace everything for that port. */
	p = l7_service_policy(w.svc, "v2", 5432);
	assert_int_equal(p->pool.max_connections, 9);
	assert_int_equal(p->lb.simple, CONFIG_LB_UNSPECIFIED);
	assert_false(p->outlier.present);
	p = l7_service_policy(w.svc, "v1", 9080);
	assert_int_equal(p->lb.simple, CONFIG_LB_ROUND_ROBIN);
	done(&w);
}

static void test_virtual_service_routes(void **state)
{
	struct world w;
	const struct l7_route *r;

	build(&w, HEAD
	      "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	      "metadata: {name: reviews, namespace: shop}\n"
	      "spec:\n  hosts: [reviews]\n  http:\n"
	      "  - match:\n    - sourceLabels: {app: ui}\n"
	      "    - headers: {End-User: {exact: jason}}\n      uri: {prefix: /r}\n"
	      "    rewrite: {uri: /v2}\n"
	      "    fault: {abort: {httpStatus: 503, percentage: {value: 12.5}}}\n"
	      "    route:\n    - destination: {host: reviews, subset: v2}\n      weight: 3\n"
	      "    - destination: {host: reviews, subset: v1}\n      weight: 0\n"
	      "    - destination: {host: ghost}\n      weight: 1\n"
	      "  - match: [{uri: {exact: /x}}]\n    rewrite: {uri: /y}\n"
	      "    retries: {attempts: 0}\n"
	      "    route: [{destination: {host: reviews}}]\n"
	      "  - route: [{destination: {host: reviews, subset: v1}}]\n"
	      "    mirror: {host: reviews, subset: v2}\n    mirrorPercentage: {value: 50}\n"
	      "  - route: [{destination: {host: never}}]\n"
	      "  tcp:\n  - match: [{port: 5432}]\n    route: [{destination: {host: reviews}}]\n");
	assert_int_equal(w.svc->routes_kind, L7_ROUTES_VIRTUAL_SERVICE);
	/* sourceLabels block dropped; a catch-all ends the list (the last rule never compiles). */
	assert_int_equal(w.svc->n_routes, 3);
	r = &w.svc->routes[0];
	assert_string_equal(r->source, "VirtualService shop/reviews http[0]");
	assert_int_equal(r->matches[0].path.type, L7_MATCH_PREFIX);
	assert_string_equal(r->matches[0].headers[0].name, "end-user");
	assert_string_equal(r->rewrite.prefix, "/v2");
	assert_null(r->rewrite.path);
	assert_int_equal(r->fault.abort_ppm, 125000);
	assert_int_equal(r->fault.abort_http, 503);
	/* Weight 0 sends nothing; an unknown host is marked. */
	assert_int_equal(r->n_dests, 2);
	assert_string_equal(r->dests[0].subset, "v2");
	assert_int_equal(r->dests[0].weight, 3);
	assert_true(r->dests[1].unknown);
	assert_string_equal(r->dests[1].host, "ghost.shop.svc.cluster.local");
	r = &w.svc->routes[1];
	assert_string_equal(r->rewrite.path, "/y"); /* exact match: the whole path */
	assert_int_equal(r->retry.attempts, 0);
	r = &w.svc->routes[2];
	assert_int_equal(r->n_matches, 0);
	assert_int_equal(r->dests[0].weight, 100);
	assert_int_equal(r->n_mirrors, 1);
	assert_int_equal(r->mirrors[0].ppm, 500000);
	assert_int_equal(w.svc->n_tcp, 1);
	assert_int_equal(w.svc->tcp[0].port, 5432);
	done(&w);
	/* A VirtualService may name the service by its VIP; another VIP is another service. */
	build(&w, HEAD "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
		       "metadata: {name: byvip, namespace: shop}\n"
		       "spec:\n  hosts: [10.96.0.20]\n  http:\n"
		       "  - name: vip\n    route: [{destination: {host: reviews}}]\n---\n"
		       "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
		       "metadata: {name: other, namespace: shop}\n"
		       "spec:\n  hosts: [10.96.0.21]\n  http:\n"
		       "  - name: other\n    route: [{destination: {host: reviews}}]\n");
	assert_int_equal(w.svc->routes_kind, L7_ROUTES_VIRTUAL_SERVICE);
	assert_int_equal(w.svc->n_routes, 1);
	assert_string_equal(w.svc->routes[0].name, "vip");
	done(&w);
}

static void test_gateway_api_precedence(void **state)
{
	struct world w;
	const char *want[] = {"/exact", "/a/b", "/a", "/a", "/"};
	const struct l7_route *r;

	build(&w, HEAD
	      "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
	      "metadata: {name: b, namespace: shop, creationTimestamp: '2024-01-02T00:00:00Z'}\n"
	      "spec:\n  parentRefs: [{group: '', kind: Service, name: reviews, port: 9080}]\n"
	      "  rules:\n"
	      "  - matches: [{path: {value: /a}}]\n    backendRefs: [{name: reviews, port: 9080}]\n"
	      "  - matches: [{path: {type: Exact, value: /exact}}]\n"
	      "    backendRefs: [{name: reviews, port: 9080}]\n"
	      "---\n"
	      "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
	      "metadata: {name: a, namespace: shop, creationTimestamp: '2024-01-03T00:00:00Z'}\n"
	      "spec:\n  parentRefs: [{group: '', kind: Service, name: reviews}]\n"
	      "  rules:\n"
	      "  - matches: [{path: {value: /a}, method: GET}, {path: {value: /a/b}}]\n"
	      "    backendRefs: [{name: reviews, port: 9080}]\n"
	      "  - backendRefs: [{name: reviews, port: 9080, weight: 0}]\n"
	      "---\n"
	      "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\n"
	      "metadata: {name: g, namespace: other}\n"
	      "spec:\n  parentRefs: [{group: '', kind: Service, name: reviews, namespace: shop}]\n"
	      "  rules: [{matches: [{method: {service: pkg.S, method: M}}]}]\n");
	assert_int_equal(w.svc->routes_kind, L7_ROUTES_GATEWAY_API);
	/* The GRPCRoute lives in a namespace that is neither the service's nor the waypoint's. */
	assert_int_equal(w.svc->n_routes, 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(w.svc->routes[i].matches[0].path.value, want[i]);
	assert_int_equal(w.svc->routes[0].matches[0].path.type, L7_MATCH_EXACT);
	/* Same prefix: the method match first. */
	assert_non_null(w.svc->routes[2].matches[0].method.value);
	assert_string_equal(w.svc->routes[2].source, "HTTPRoute shop/a rules[0]");
	assert_string_equal(w.svc->routes[3].source, "HTTPRoute shop/b rules[0]");
	assert_int_equal(w.svc->routes[3].matches[0].port, 9080);
	assert_int_equal(w.svc->routes[1].matches[0].path.type, L7_MATCH_PATH_PREFIX);
	/* Only zero-weight backends: 500. */
	r = &w.svc->routes[4];
	assert_int_equal(r->action, L7_ACTION_DIRECT);
	assert_int_equal(r->direct_status, 500);
	done(&w);
}

/* The status condition @type of the first parent in route status @st, or NULL. */
static const cJSON *parent_cond(const cJSON *st, size_t parent, const char *type)
{
	const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(st, "parents"),
					    (int)parent),
		    *c;

	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(p, "conditions"))
	{
		if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "type")),
			    type))
			return c;
	}
	return NULL;
}

static const char *cond_str(const cJSON *c, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, key));
}

/*
 * Istio's mirroring task with the Gateway API: its HTTPRoute names its parent `kind: Service`
 * without `group: ""` (so the CRD's default group, which has no kind Service). The route is
 * the Service's: every request to v1, mirrored to v2. Its status lists the parent as written,
 * Accepted, with its references and waypoint resolved; analyze says Istio would ignore it.
 */
static void test_gateway_api_mirror_task(void **state)
{
	struct world w;
	const struct l7_route *r;
	const struct config_gw_route *hr;
	struct config_diags d = {0};
	struct config_analyze_opts an = {0};
	bool warned = false;
	cJSON *st;

	build(&w,
	      HEAD "apiVersion: v1\nkind: Service\nmetadata: {name: reviews-v1, namespace: shop}\n"
		   "spec:\n  selector: {app: reviews, version: v1}\n  ports: [{port: 80}]\n---\n"
		   "apiVersion: v1\nkind: Service\nmetadata: {name: reviews-v2, namespace: shop}\n"
		   "spec:\n  selector: {app: reviews, version: v2}\n  ports: [{port: 80}]\n---\n"
		   "apiVersion: gateway.networking.k8s.io/v1beta1\nkind: HTTPRoute\n"
		   "metadata: {name: reviews, namespace: shop}\n"
		   "spec:\n  parentRefs:\n  - kind: Service\n    name: reviews\n    port: 9080\n"
		   "  rules:\n  - filters:\n    - type: RequestMirror\n"
		   "      requestMirror:\n        backendRef: {name: reviews-v2, port: 80}\n"
		   "    backendRefs:\n    - name: reviews-v1\n      port: 80\n");
	hr = &w.bw.cfg.http_routes[0];
	assert_string_equal(hr->parent_refs[0].group, "");
	assert_true(hr->parent_refs[0].service_group_defaulted);
	assert_int_equal(w.svc->routes_kind, L7_ROUTES_GATEWAY_API);
	assert_int_equal(w.svc->n_routes, 1);
	r = &w.svc->routes[0];
	assert_string_equal(r->source, "HTTPRoute shop/reviews rules[0]");
	assert_int_equal(r->matches[0].port, 9080);
	assert_int_equal(r->n_dests, 1);
	assert_string_equal(r->dests[0].host, "reviews-v1.shop.svc.cluster.local");
	assert_int_equal(r->n_mirrors, 1);
	assert_string_equal(r->mirrors[0].dest.host, "reviews-v2.shop.svc.cluster.local");

	st = l7_gwapi_route_status(&w.bw.cfg, hr);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(st, "parents")), 1);
	{
		const cJSON *p =
		    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(st, "parents"), 0);
		const cJSON *ref = cJSON_GetObjectItemCaseSensitive(p, "parentRef");

		/* As the API server holds it: the CRD's default group. */
		assert_string_equal(cond_str(ref, "group"), "gateway.networking.k8s.io");
		assert_string_equal(cond_str(ref, "kind"), "Service");
		assert_string_equal(cond_str(ref, "name"), "reviews");
		assert_string_equal(cond_str(p, "controllerName"), "istio.io/gateway-controller");
	}
	assert_string_equal(cond_str(parent_cond(st, 0, "Accepted"), "status"), "True");
	assert_string_equal(cond_str(parent_cond(st, 0, "Accepted"), "reason"), "Accepted");
	assert_string_equal(cond_str(parent_cond(st, 0, "ResolvedRefs"), "status"), "True");
	assert_string_equal(cond_str(parent_cond(st, 0, "ResolvedWaypoints"), "status"), "True");
	cJSON_Delete(st);

	assert_int_equal(config_analyze(&w.bw.cfg, &an, &d), 0);
	for (size_t i = 0; i < d.n; i++)
		warned |= !strcmp(d.items[i].object, "HTTPRoute shop/reviews") &&
			  strstr(d.items[i].message, "Istio ignores this parent") &&
			  !d.items[i].error;
	assert_true(warned);
	config_diags_free(&d);
	done(&w);
}

/*
 * A route's parents as Istio reports them (status.parents), for the waypoint's case: a Service
 * parent that does not exist (NoMatchingParent, Istio's words); one that no waypoint serves
 * (ResolvedWaypoints False, Istio's MissingUseWaypointLabel); a route of a third namespace on
 * the Service (not served); a waypoint's Gateway as parent (ambit's waypoints take routes by
 * Service); kinds Istio does not serve are left out.
 */
static void test_gateway_api_route_status(void **state)
{
	struct world w;
	const struct config *cfg;
	cJSON *st;

	build(&w,
	      HEAD "apiVersion: v1\nkind: Namespace\nmetadata: {name: bare}\n---\n"
		   "apiVersion: v1\nkind: Service\nmetadata: {name: plain, namespace: bare}\n"
		   "spec: {ports: [{port: 80}]}\n---\n"
		   "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
		   "metadata: {name: r, namespace: shop}\n"
		   "spec:\n  parentRefs:\n  - {group: '', kind: Service, name: gone}\n"
		   "  - {group: '', kind: Service, name: plain, namespace: bare}\n"
		   "  - {name: wp}\n"
		   "  - {group: example.com, kind: Thing, name: x}\n"
		   "  rules: [{backendRefs: [{name: reviews, port: 9080}]}]\n---\n"
		   "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
		   "metadata: {name: consumer, namespace: bare}\n"
		   "spec:\n  parentRefs: [{group: '', kind: Service, name: reviews, "
		   "namespace: shop}]\n"
		   "  rules: [{backendRefs: [{name: reviews, namespace: shop, port: 9080}]}]\n");
	cfg = &w.bw.cfg;
	st = l7_gwapi_route_status(cfg, &cfg->http_routes[0]);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(st, "parents")), 3);
	assert_string_equal(cond_str(parent_cond(st, 0, "Accepted"), "status"), "False");
	assert_string_equal(cond_str(parent_cond(st, 0, "Accepted"), "reason"), "NoMatchingParent");
	assert_string_equal(cond_str(parent_cond(st, 0, "Accepted"), "message"),
			    "parent service: \"gone\" not found");
	assert_string_equal(cond_str(parent_cond(st, 0, "ResolvedWaypoints"), "status"), "False");
	assert_string_equal(cond_str(parent_cond(st, 1, "Accepted"), "status"), "False");
	assert_string_equal(cond_str(parent_cond(st, 1, "ResolvedWaypoints"), "reason"),
			    "MissingUseWaypointLabel");
	assert_non_null(
	    strstr(cond_str(parent_cond(st, 1, "ResolvedWaypoints"), "message"),
		   "istio.io/use-waypoint label missing from parent and parent namespace"));
	assert_string_equal(cond_str(parent_cond(st, 2, "Accepted"), "status"), "False");
	assert_non_null(strstr(cond_str(parent_cond(st, 2, "Accepted"), "message"),
			       "attach the route to each Service"));
	cJSON_Delete(st);
	st = l7_gwapi_route_status(cfg, &cfg->http_routes[1]);
	assert_string_equal(cond_str(parent_cond(st, 0, "Accepted"), "status"), "False");
	assert_non_null(
	    strstr(cond_str(parent_cond(st, 0, "Accepted"), "message"), "a consumer route"));
	assert_string_equal(cond_str(parent_cond(st, 0, "ResolvedWaypoints"), "status"), "True");
	cJSON_Delete(st);
	/* The parent Istio skips is not silently ignored: analyze says so. */
	{
		struct config_diags d = {0};
		struct config_analyze_opts an = {0};
		bool said = false;

		assert_int_equal(config_analyze(cfg, &an, &d), 0);
		for (size_t i = 0; i < d.n; i++)
			said |=
			    !strcmp(d.items[i].object, "HTTPRoute shop/r") && d.items[i].field &&
			    !strcmp(d.items[i].field, "spec.parentRefs[3]") &&
			    strstr(d.items[i].message, "parent kind Thing of group \"example.com\" "
						       "is not one Istio or ambit serves");
		assert_true(said);
		config_diags_free(&d);
	}
	done(&w);
}

/* A model survives its JSON unchanged, and the snapshot carries it. */
/*
 * Egress through the waypoint: ServiceEntries of its namespace bind to it (the namespace's
 * use-waypoint label), each host a service at the entry's address (allocated as the ztunnel's
 * snapshot has it), DNS endpoints left to the proxy to resolve, STATIC ones with an endpoint's
 * own port, TLS origination's CA from the Secret credentialName of the waypoint's
 * namespace, an AuthorizationPolicy with targetRefs to the ServiceEntry on every host of it,
 * and all of it through the JSON codec.
 */
/* @pem as a YAML block scalar's lines, each indented by four spaces (malloc'd). */
static char *indented(const char *pem)
{
	char *out = malloc(strlen(pem) * 2 + 8), *o = out;

	assert_non_null(out);
	for (const char *p = pem; *p; p++) {
		if (p == pem || p[-1] == '\n')
			o += sprintf(o, "    ");
		*o++ = *p;
	}
	*o = '\0';
	return out;
}

static void test_service_entries(void **state)
{
	char dir[] = "/tmp/ambit-test-l7se-XXXXXX", *yaml, *ca_text, cmd[64];
	struct ambit_ca *ca;
	struct ca_issued cert;
	struct world w;
	const struct l7_service *api, *db;
	struct config_se_vip *vips = NULL;
	size_t n_vips = 0;
	cJSON *j;
	struct l7_config *back;
	char err[256];

	assert_non_null(mkdtemp(dir));
	ca = ca_open(dir);
	assert_non_null(ca);
	assert_int_equal(ca_issue_dns(ca, "api.example.com", 3600, &cert), 0);
	ca_text = indented(cert.cert_pem);
	assert_int_not_equal(
	    asprintf(
		&yaml,
		HEAD
		"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		"metadata: {name: ext, namespace: shop}\n"
		"spec:\n  hosts: [api.example.com]\n  resolution: DNS\n"
		"  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 443}]\n---\n"
		"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		"metadata: {name: db, namespace: shop}\n"
		"spec:\n  hosts: [db.example.com]\n  resolution: STATIC\n"
		"  addresses: [192.0.2.10]\n"
		"  ports: [{number: 5432, name: tcp-pg, protocol: TCP}]\n"
		"  endpoints: [{address: 192.0.2.1}, {address: 192.0.2.2, ports: {tcp-pg: 6432}}]\n"
		"---\n"
		"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		"metadata: {name: net, namespace: shop}\n"
		"spec:\n  hosts: [net.example.internal]\n  resolution: NONE\n"
		"  addresses: [198.51.100.0/24, \"2001:db8:5::/64\"]\n"
		"  ports: [{number: 8443, name: http, protocol: HTTP}]\n---\n"
		"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
		"metadata: {name: dyn, namespace: shop}\n"
		"spec:\n  hosts: ['*.dyn.example']\n  resolution: DYNAMIC_DNS\n"
		"  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}]\n---\n"
		"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
		"metadata: {name: api, namespace: shop}\n"
		"spec:\n  host: api.example.com\n"
		"  trafficPolicy: {tls: {mode: SIMPLE, credentialName: client, sni: x.test}}\n"
		"---\n"
		"apiVersion: v1\nkind: Secret\nmetadata: {name: client, namespace: shop}\n"
		"stringData:\n  ca.crt: |\n%s---\n"
		"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
		"metadata: {name: deny, namespace: shop}\n"
		"spec:\n  targetRefs: [{group: networking.istio.io, kind: ServiceEntry, name: "
		"ext}]\n"
		"  action: DENY\n  rules: [{to: [{operation: {paths: [/x]}}]}]\n",
		ca_text),
	    -1);
	build(&w, yaml);
	api = l7_config_service(w.l7, "api.example.com");
	db = l7_config_service(w.l7, "db.example.com");
	assert_non_null(api);
	assert_non_null(db);
	assert_true(api->entry);
	assert_string_equal(api->name, "ext");
	assert_int_equal(api->resolution, L7_RES_DNS);
	assert_int_equal(config_se_vips(&w.bw.cfg, &vips, &n_vips), 0);
	assert_int_not_equal(api->vip, 0);
	assert_int_equal(api->vip, config_se_vip_of(vips, n_vips, "shop", "api.example.com"));
	free(vips);
	assert_int_equal(api->n_endpoints, 1);
	assert_string_equal(api->endpoints[0].dns_name, "api.example.com");
	assert_null(api->endpoints[0].identity);
	assert_int_equal(api->endpoints[0].ports[0], 443);
	/* SIMPLE: the CA of the Secret, no client certificate (MUTUAL's: t_64). */
	assert_string_equal(api->policies[0].tls.mode, "SIMPLE");
	assert_string_equal(api->policies[0].tls.sni, "x.test");
	assert_null(api->policies[0].tls_cert);
	assert_string_equal(api->policies[0].tls_ca, cert.cert_pem);
	assert_int_equal(api->n_authz, 1);
	assert_int_equal(db->n_authz, 0);
	assert_int_equal(db->vip, htonl(0xc000020a));
	assert_int_equal(db->n_endpoints, 2);
	assert_int_equal(db->endpoints[0].ports[0], 5432);
	assert_int_equal(db->endpoints[1].ports[0], 6432);
	assert_int_equal(db->endpoints[1].ip, htonl(0xc0000202));
	/* NONE: one endpoint for the original destination, on the port asked, in its addresses. */
	{
		const struct l7_service *net = l7_config_service(w.l7, "net.example.internal");

		assert_non_null(net);
		assert_int_equal(net->resolution, L7_RES_NONE);
		assert_int_equal(net->vip, 0);
		assert_int_equal(net->n_endpoints, 1);
		assert_int_equal(net->endpoints[0].ip, 0);
		assert_int_equal(net->endpoints[0].ports[0], 8443);
		/* Both families kept (an IPv6 one holds no IPv4 destination). */
		assert_int_equal(net->n_cidrs, 2);
		assert_true(
		    ipaddr_equal(&net->cidrs[0], &(struct ipaddr){AF_INET, 24, {198, 51, 100, 0}}));
		assert_int_equal(net->cidrs[1].family, AF_INET6);
		assert_int_equal(net->cidrs[1].len, 64);
	}
	/* DYNAMIC_DNS: an address of its own, one endpoint for each request's name. */
	{
		const struct l7_service *dyn = l7_config_service(w.l7, "*.dyn.example");

		assert_non_null(dyn);
		assert_int_equal(dyn->resolution, L7_RES_DYNAMIC_DNS);
		assert_int_equal(ntohl(dyn->vip) >> 16, 0xf0f0);
		assert_int_equal(dyn->n_endpoints, 1);
		assert_int_equal(dyn->endpoints[0].ip, 0);
		assert_null(dyn->endpoints[0].dns_name);
		assert_int_equal(dyn->endpoints[0].ports[0], 8080);
	}
	/* The Service of the namespace is bound as before. */
	assert_false(w.svc->entry);
	assert_int_equal(w.svc->n_authz, 0);

	j = l7_to_json(w.l7);
	assert_non_null(j);
	back = l7_from_json(j, err, sizeof(err));
	if (!back)
		fail_msg("decode: %s", err);
	api = l7_config_service(back, "api.example.com");
	assert_non_null(api);
	assert_true(api->entry);
	assert_int_equal(api->resolution, L7_RES_DNS);
	assert_string_equal(api->endpoints[0].dns_name, "api.example.com");
	assert_string_equal(api->policies[0].tls_ca, cert.cert_pem);
	assert_int_equal(l7_config_service(back, "net.example.internal")->cidrs[0].len, 24);
	assert_int_equal(l7_config_service(back, "net.example.internal")->n_cidrs, 2);
	assert_int_equal(l7_config_service(back, "net.example.internal")->cidrs[1].family,
			 AF_INET6);
	l7_config_free(back);
	cJSON_Delete(j);
	done(&w);
	free(yaml);
	free(ca_text);
	ca_issued_free(&cert);
	ca_destroy(ca);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_json_roundtrip(void **state)
{
	struct world w;
	cJSON *j1, *j2;
	char *s1, *s2, err[256], *snap_json;
	struct l7_config *back;
	struct snapshot snap = {.version = 3, .node = "n", .trust_domain = "cluster.local"}, *dec;
	struct snap_service svc = {.name = "reviews", .namespace = "shop", .vip = 0x0a0a0a0a};
	uint32_t addr = 0x14000a0a;
	struct snap_waypoint wpb = {.name = "shop/wp",
				    .identity = "spiffe://x/ns/shop/sa/wp",
				    .hostname = "wp.shop.svc.cluster.local",
				    .n_addresses = 1,
				    .addresses = &addr,
				    .port = 15008};

	build(&w, HEAD "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
		       "metadata: {name: reviews, namespace: shop}\n"
		       "spec:\n  hosts: [reviews]\n  http:\n"
		       "  - match: [{uri: {regex: '/r/[0-9]+'}, queryParams: {q: {exact: a}},\n"
		       "             withoutHeaders: {x: {}}}]\n"
		       "    rewrite: {uriRegexRewrite: {match: '^/r/(.*)', rewrite: '/\\1'}}\n"
		       "    headers: {request: {set: {a: b}}, response: {remove: [c]}}\n"
		       "    corsPolicy: {allowOrigins: [{exact: x}], maxAge: 2s}\n"
		       "    fault: {delay: {fixedDelay: 1s, percentage: {value: 1}}}\n"
		       "    route: [{destination: {host: reviews}}]\n"
		       "  - directResponse: {status: 418, body: {bytes: AAEC}}\n"
		       "---\n"
		       "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
		       "metadata: {name: reviews, namespace: shop}\n"
		       "spec:\n  host: reviews\n  trafficPolicy:\n"
		       "    loadBalancer: {consistentHash: {httpHeaderName: x-user}}\n"
		       "    outlierDetection: {outlierDetectionHttpErrorCodes: [503]}\n"
		       "    tls: {mode: ISTIO_MUTUAL}\n"
		       "  subsets: [{name: v1, labels: {version: v1}}]\n");
	j1 = l7_to_json(w.l7);
	assert_non_null(j1);
	back = l7_from_json(j1, err, sizeof(err));
	if (!back)
		fail_msg("decode: %s", err);
	assert_int_equal(back->services[0].routes[1].direct_body_len, 3);
	assert_int_equal(back->services[0].routes[1].direct_body[2], 2);
	j2 = l7_to_json(back);
	s1 = cJSON_PrintUnformatted(j1);
	s2 = cJSON_PrintUnformatted(j2);
	assert_string_equal(s1, s2);
	free(s2);
	cJSON_Delete(j2);
	l7_config_free(back);
	/* Through the snapshot, with a binding on a service. */
	svc.waypoint = &wpb;
	snap.services = &svc;
	snap.n_services = 1;
	snap.l7 = w.l7;
	snap_json = snapshot_encode(&snap);
	assert_non_null(snap_json);
	dec = snapshot_decode(snap_json, strlen(snap_json), err, sizeof(err));
	if (!dec)
		fail_msg("snapshot: %s", err);
	assert_non_null(dec->l7);
	assert_non_null(dec->services[0].waypoint);
	assert_string_equal(dec->services[0].waypoint->identity, "spiffe://x/ns/shop/sa/wp");
	assert_int_equal(dec->services[0].waypoint->addresses[0], addr);
	assert_int_equal(dec->services[0].waypoint->port, 15008);
	j2 = l7_to_json(dec->l7);
	assert_non_null(j2);
	s2 = cJSON_PrintUnformatted(j2);
	cJSON_Delete(j2);
	/* The L7 config survives the snapshot's round trip unchanged. */
	assert_string_equal(s1, s2);
	snapshot_free(dec);
	free(snap_json);
	free(s1);
	free(s2);
	cJSON_Delete(j1);
	done(&w);
}

/* Each refusal of the decoder names the field. */
static void test_json_strict(void **state)
{
	static const struct {
		const char *json, *err;
	} cases[] = {
	    {"{\"waypoint\":{\"namespace\":\"a\",\"name\":\"b\",\"identity\":\"c\"},\"extra\":1}",
	     "l7.extra: unknown member"},
	    {"{\"services\":[]}", "l7.waypoint: missing"},
	    {"{\"waypoint\":{\"namespace\":\"a\",\"name\":\"b\",\"identity\":\"c\"},"
	     "\"services\":[{\"hostname\":\"h\",\"name\":\"n\",\"namespace\":\"s\","
	     "\"vip\":\"1.2.3\",\"routesKind\":\"default\"}]}",
	     "l7.services[0].vip: expected an IPv4 address"},
	    {"{\"waypoint\":{\"namespace\":\"a\",\"name\":\"b\",\"identity\":\"c\"},"
	     "\"services\":[{\"hostname\":\"h\",\"name\":\"n\",\"namespace\":\"s\","
	     "\"vip\":\"1.2.3.4\",\"routesKind\":\"default\",\"subsets\":[{\"name\":\"v1\","
	     "\"endpoints\":[0]}]}]}",
	     "l7.services[0].subsets[0].endpoints[0]: not an endpoint index"},
	    {"{\"waypoint\":{\"namespace\":\"a\",\"name\":\"b\",\"identity\":\"c\"},"
	     "\"services\":[{\"hostname\":\"h\",\"name\":\"n\",\"namespace\":\"s\","
	     "\"vip\":\"1.2.3.4\",\"routesKind\":\"default\",\"routes\":[{\"action\":\"route\","
	     "\"matches\":[{\"path\":{\"type\":\"regex\",\"value\":\"(a)\\\\1\"}}],"
	     "\"retry\":{\"attempts\":1}}]}]}",
	     "l7.services[0].routes[0].matches[0].path.value: escape RE2 does not support"},
	    {"{\"waypoint\":{\"namespace\":\"a\",\"name\":\"b\",\"identity\":\"c\"},"
	     "\"services\":[{\"hostname\":\"h\",\"name\":\"n\",\"namespace\":\"s\","
	     "\"vip\":\"1.2.3.4\",\"routesKind\":\"sideways\"}]}",
	     "l7.services[0].routesKind: unknown value \"sideways\""},
	    {"{\"waypoint\":{\"namespace\":\"a\",\"name\":\"b\",\"identity\":\"c\"},"
	     "\"services\":[{\"hostname\":\"h\",\"name\":\"n\",\"namespace\":\"s\","
	     "\"vip\":\"1.2.3.4\",\"routesKind\":\"default\",\"policies\":[{\"port\":80}]}]}",
	     "l7.services[0].policies[0]: names a port or subset the service does not have"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *j = cJSON_Parse(cases[i].json);
		char err[256];
		struct l7_config *c;

		assert_non_null(j);
		c = l7_from_json(j, err, sizeof(err));
		if (c || !strstr(err, cases[i].err))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, c ? "(decoded)" : err,
				 cases[i].err);
		cJSON_Delete(j);
	}
}

/*
 * An east-west gateway (class istio-east-west, as gen-eastwest-gateway.sh --ambient makes it):
 * bound apart from the waypoints, a waypoint's identity (its name as service account), and a
 * model of every Service with a selector, its endpoints and ports and the hostname of the
 * waypoint it is bound to, that the snapshot's JSON keeps as such; nothing binds to it.
 */
static void test_east_west(void **state)
{
	static const char ew[] =
	    HEAD "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
		 "metadata:\n  name: istio-eastwestgateway\n  namespace: istio-system\n"
		 "  labels: {topology.istio.io/network: network2}\n"
		 "spec:\n  gatewayClassName: istio-east-west\n"
		 "  listeners: [{name: mesh, port: 15008, protocol: HBONE, tls: {mode: Terminate, "
		 "options: {gateway.istio.io/tls-terminate-mode: ISTIO_MUTUAL}}}]\n---\n"
		 "apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: shop}\n"
		 "spec: {type: ExternalName, externalName: example.com}\n";
	struct l7_config *l7, *back;
	const struct l7_service *svc;
	struct world w;
	char err[256];
	cJSON *j;

	build(&w, ew);
	assert_int_equal(w.bw.b.n_east_west, 1);
	assert_true(w.bw.b.east_west[0].east_west);
	assert_string_equal(w.bw.b.east_west[0].identity,
			    "spiffe://cluster.local/ns/istio-system/sa/istio-eastwestgateway");
	assert_true(w.bw.b.east_west[0].has_hbone);
	/* The waypoint's model is as it was: the east-west gateway binds nothing. */
	assert_false(w.l7->east_west);
	l7 = l7_compile(&w.bw.in, &w.bw.b, &w.bw.b.east_west[0]);
	assert_non_null(l7);
	assert_true(l7->east_west);
	/* reviews, and wp's Service (which the manifests lack) at 15008; ext has no selector. */
	assert_int_equal(l7->n_services, 2);
	svc = l7_config_service(l7, "wp.shop.svc.cluster.local");
	assert_non_null(svc);
	assert_int_equal(svc->n_ports, 1);
	assert_int_equal(svc->ports[0].port, 15008);
	svc = l7_config_service(l7, "reviews.shop.svc.cluster.local");
	assert_non_null(svc);
	assert_int_equal(svc->n_endpoints, 2);
	/* reviews is bound to waypoint wp: the gateway sends its streams to wp's Service. */
	assert_string_equal(svc->waypoint_host, "wp.shop.svc.cluster.local");
	j = l7_to_json(l7);
	back = j ? l7_from_json(j, err, sizeof(err)) : NULL;
	if (!back)
		fail_msg("%s", err);
	assert_true(back->east_west);
	svc = l7_config_service(back, "reviews.shop.svc.cluster.local");
	assert_non_null(svc);
	assert_string_equal(svc->waypoint_host, "wp.shop.svc.cluster.local");
	l7_config_free(back);
	cJSON_Delete(j);
	l7_config_free(l7);
	done(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_service_facts),
	    cmocka_unit_test(test_east_west),
	    cmocka_unit_test(test_workload_entries),
	    cmocka_unit_test(test_policies),
	    cmocka_unit_test(test_virtual_service_routes),
	    cmocka_unit_test(test_gateway_api_precedence),
	    cmocka_unit_test(test_gateway_api_mirror_task),
	    cmocka_unit_test(test_gateway_api_route_status),
	    cmocka_unit_test(test_json_roundtrip),
	    cmocka_unit_test(test_service_entries),
	    cmocka_unit_test(test_json_strict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
