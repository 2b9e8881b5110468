// SPDX-License-Identifier: Apache-2.0
/*
 * Waypoint bindings (API_SEMANTICS.md §9): which waypoint takes the traffic addressed to each
 * Service and pod, across Istio's precedence rules: object label over namespace label, "none"
 * at either level, use-waypoint-namespace with the waypoint listener's allowedRoutes,
 * waypoint-for, no fallback when a label names a missing waypoint, waypoints' own Service and
 * instances, and each waypoint's identity and addresses.
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

#include <cmocka.h>

#include "ambit/l7.h"
#include "../../lib/l7_world.h"

#define NS(name, labels)                                                                           \
	"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " name "\n"                           \
	"  labels: {" labels "}\n---\n"
#define SVC(ns, name, labels)                                                                      \
	"apiVersion: v1\nkind: Service\nmetadata:\n  name: " name "\n"                             \
	"  namespace: " ns "\n  labels: {" labels "}\nspec: {ports: [{port: 80}]}\n---\n"
#define POD(ns, name, ip, labels)                                                                  \
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: " name "\n"                                 \
	"  namespace: " ns "\n  labels: {" labels "}\n"                                            \
	"spec: {containers: [{name: c}]}\nstatus: {podIP: " ip "}\n---\n"
#define WAYPOINT(ns, name, labels, from)                                                           \
	"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: " name "\n"   \
	"  namespace: " ns "\n  labels: {" labels "}\n"                                            \
	"spec:\n  gatewayClassName: istio-waypoint\n"                                              \
	"  listeners:\n  - name: mesh\n    port: 15008\n    protocol: HBONE\n" from "---\n"

#define world l7_world_bound

static uint32_t vip_of(void *arg, const char *ns, const char *name)
{
	struct in_addr a;

	(void)arg;
	if (!strcmp(ns, "infra") && !strcmp(name, "shared")) {
		inet_pton(AF_INET, "10.96.0.99", &a);
		return a.s_addr;
	}
	return 0;
}

static void build(struct world *w, const char *yaml)
{
	char err[512];

	memset(w, 0, sizeof(*w));
	w->in.trust_domain = "td.example";
	w->in.service_vip = vip_of;
	if (l7_world_bind(w, yaml, err, sizeof(err)))
		fail_msg("%s", err);
}

static void done(struct world *w)
{
	l7_world_unbind(w);
}

/* @want: "ns/name" of the expected waypoint, or NULL. */
static void expect(struct world *w, bool pod, const char *ns, const char *name, const char *want,
		   const char *problem)
{
	const struct l7_binding *arr = pod ? w->b.workloads : w->b.services;
	size_t n = pod ? w->b.n_workloads : w->b.n_services;

	for (size_t i = 0; i < n; i++) {
		char got[256] = "";

		if (strcmp(arr[i].namespace, ns) || strcmp(arr[i].name, name))
			continue;
		if (arr[i].waypoint >= 0)
			snprintf(got, sizeof(got), "%s/%s",
				 w->b.waypoints[arr[i].waypoint].namespace,
				 w->b.waypoints[arr[i].waypoint].name);
		if (want ? strcmp(got, want) : arr[i].waypoint >= 0)
			fail_msg("%s %s/%s: waypoint \"%s\", want \"%s\"", pod ? "pod" : "service",
				 ns, name, got, want ? want : "");
		if (problem ? !arr[i].problem || !strstr(arr[i].problem, problem)
			    : arr[i].problem != NULL)
			fail_msg("%s/%s: problem \"%s\", want \"%s\"", ns, name,
				 arr[i].problem ? arr[i].problem : "", problem ? problem : "");
		return;
	}
	fail_msg("%s/%s not bound at all", ns, name);
}

static void test_namespace_and_object(void **state)
{
	struct world w;

	build(&w, NS("shop", "istio.io/use-waypoint: wp") WAYPOINT("shop", "wp", "", "")
		      WAYPOINT("shop", "svc2", "", "") SVC("shop", "a", "")
			  SVC("shop", "b", "istio.io/use-waypoint: svc2")
			      SVC("shop", "c", "istio.io/use-waypoint: none")
				  POD("shop", "p", "10.1.0.1", "app: a"));
	expect(&w, false, "shop", "a", "shop/wp", NULL);   /* namespace label */
	expect(&w, false, "shop", "b", "shop/svc2", NULL); /* the Service's label beats it */
	expect(&w, false, "shop", "c", NULL, NULL);	   /* none opts out */
	/* A service waypoint inherited from the namespace does not take pod traffic. */
	expect(&w, true, "shop", "p", NULL, NULL);
	assert_int_equal(w.b.n_waypoints, 2);
	done(&w);
}

static void test_workload_waypoints(void **state)
{
	struct world w;

	build(&w, NS("shop", "istio.io/use-waypoint: all")
		      WAYPOINT("shop", "all", "istio.io/waypoint-for: all", "")
			  WAYPOINT("shop", "wl", "istio.io/waypoint-for: workload", "")
			      WAYPOINT("shop", "nothing", "istio.io/waypoint-for: none", "")
				  POD("shop", "p1", "10.1.0.1", "") POD("shop", "p2", "10.1.0.2",
									"istio.io/use-waypoint: wl")
				      POD("shop", "p3", "10.1.0.3", "istio.io/use-waypoint: none")
					  SVC("shop", "s1", "") SVC("shop", "s2",
								    "istio.io/use-waypoint: wl")
					      SVC("shop", "s3", "istio.io/use-waypoint: nothing"));
	expect(&w, true, "shop", "p1", "shop/all", NULL);
	expect(&w, true, "shop", "p2", "shop/wl", NULL);
	expect(&w, true, "shop", "p3", NULL, NULL);
	expect(&w, false, "shop", "s1", "shop/all", NULL);
	expect(&w, false, "shop", "s2", NULL, "is for workload traffic, not service traffic");
	expect(&w, false, "shop", "s3", NULL, "is for none traffic");
	assert_string_equal(w.b.services[1].reason, "UnsupportedTrafficType");
	done(&w);
}

static void test_other_namespace(void **state)
{
	struct world w;

	build(&w, NS("infra", "") NS("team", "mesh: shared") NS("other", "")
		      NS("same", "istio.io/use-waypoint: shared, "
				 "istio.io/use-waypoint-namespace: infra")
			  WAYPOINT("infra", "shared", "",
				   "    allowedRoutes: {namespaces: {from: Selector, "
				   "selector: {matchLabels: {mesh: shared}}}}\n")
			      WAYPOINT("infra", "open", "",
				       "    allowedRoutes: {namespaces: {from: All}}\n")
				  WAYPOINT("infra", "closed", "", "")
				      SVC("team", "a",
					  "istio.io/use-waypoint: shared, "
					  "istio.io/use-waypoint-namespace: infra")
					  SVC("other", "b",
					      "istio.io/use-waypoint: shared, "
					      "istio.io/use-waypoint-namespace: infra")
					      SVC("other", "c",
						  "istio.io/use-waypoint: open, "
						  "istio.io/use-waypoint-namespace: infra")
						  SVC("other", "d",
						      "istio.io/use-waypoint: closed, "
						      "istio.io/use-waypoint-namespace: infra")
						      SVC("same", "e", "")
							  SVC("infra", "f",
							      "istio.io/use-waypoint: closed"));
	expect(&w, false, "team", "a", "infra/shared", NULL); /* selector matches team */
	expect(&w, false, "other", "b", NULL, "does not admit namespace other");
	expect(&w, false, "other", "c", "infra/open", NULL);
	expect(&w, false, "other", "d", NULL, "does not admit"); /* Same by default */
	/* The namespace's use-waypoint-namespace; "same" is not selected by the listener. */
	expect(&w, false, "same", "e", NULL, "does not admit namespace same");
	expect(&w, false, "infra", "f", "infra/closed", NULL);
	done(&w);
}

/*
 * Istio's "use a waypoint in a different namespace" task: the waypoint's HBONE listener admits
 * namespaces by kubernetes.io/metadata.name, which the API server (and so the loader) puts on
 * every Namespace; the consumer namespace names it with use-waypoint and
 * use-waypoint-namespace.
 */
static void test_task_cross_namespace(void **state)
{
	struct world w;

	build(&w, NS("common-infrastructure", "")
		      NS("cross-namespace-waypoint-consumer",
			 "istio.io/use-waypoint: egress-gateway, "
			 "istio.io/use-waypoint-namespace: common-infrastructure")
			  NS("elsewhere", "istio.io/use-waypoint: egress-gateway, "
					  "istio.io/use-waypoint-namespace: common-infrastructure")
			      WAYPOINT("common-infrastructure", "egress-gateway", "",
				       "    allowedRoutes:\n      namespaces:\n        from: "
				       "Selector\n        selector:\n          matchLabels:\n"
				       "            kubernetes.io/metadata.name: "
				       "cross-namespace-waypoint-consumer\n")
				  SVC("cross-namespace-waypoint-consumer", "httpbin", "")
				      SVC("elsewhere", "httpbin", ""));
	expect(&w, false, "cross-namespace-waypoint-consumer", "httpbin",
	       "common-infrastructure/egress-gateway", NULL);
	expect(&w, false, "elsewhere", "httpbin", NULL, "does not admit namespace elsewhere");
	/* Which label asked for which waypoint, Istio's reason, and the labels that missed. */
	for (size_t i = 0; i < w.b.n_services; i++) {
		const struct l7_binding *bd = &w.b.services[i];

		if (strcmp(bd->namespace, "elsewhere"))
			continue;
		assert_int_equal(bd->source, L7_BIND_NAMESPACE);
		assert_string_equal(bd->want_namespace, "common-infrastructure");
		assert_string_equal(bd->want_name, "egress-gateway");
		assert_string_equal(bd->reason, "AttachmentDenied");
		assert_non_null(strstr(
		    bd->problem, "admit namespaces labelled kubernetes.io/metadata.name="
				 "cross-namespace-waypoint-consumer, and namespace elsewhere's "
				 "labels are "));
		assert_non_null(strstr(bd->problem, "kubernetes.io/metadata.name=elsewhere"));
	}
	done(&w);
}

static void test_no_fallback_and_self(void **state)
{
	struct world w;

	build(&w, NS("shop", "istio.io/use-waypoint: wp") WAYPOINT("shop", "wp",
								   "istio.io/waypoint-for: all", "")
		      SVC("shop", "a", "istio.io/use-waypoint: gone")
			  SVC("shop", "wp", "gateway.istio.io/managed: istio.io-mesh-controller")
			      POD("shop", "wp-0", "10.1.0.9",
				  "gateway.networking.k8s.io/gateway-name: wp")
				  POD("shop", "q", "10.1.0.3", "istio.io/use-waypoint: gone"));
	/* A label naming a missing waypoint does not fall back to the namespace's. */
	expect(&w, false, "shop", "a", NULL, "waypoint shop/gone does not exist");
	expect(&w, true, "shop", "q", NULL, "does not exist");
	/* The waypoint's own Service and instances never go through a waypoint. */
	expect(&w, false, "shop", "wp", NULL, NULL);
	expect(&w, true, "shop", "wp-0", NULL, NULL);
	done(&w);
}

static void test_waypoint_facts(void **state)
{
	struct world w;
	const struct l7_waypoint *wp;
	char ip[INET_ADDRSTRLEN];

	build(&w,
	      NS("infra", "") "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n"
			      "  name: shared\n  namespace: infra\n"
			      "  annotations: {gateway.istio.io/service-account: wp-sa}\n"
			      "spec:\n  gatewayClassName: istio-waypoint\n"
			      "  listeners: [{name: mesh, port: 15008, protocol: HBONE}]\n---\n"
			      "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n"
			      "  name: ingress\n  namespace: infra\n"
			      "spec:\n  gatewayClassName: istio\n"
			      "  listeners: [{name: http, port: 80, protocol: HTTP}]\n---\n" POD(
				  "infra", "shared-0", "10.1.0.7",
				  "gateway.networking.k8s.io/gateway-name: shared")
				  SVC("infra", "x",
				      "istio.io/use-waypoint: "
				      "ingress"));
	assert_int_equal(w.b.n_waypoints, 1); /* another class is not a waypoint */
	wp = &w.b.waypoints[0];
	assert_string_equal(wp->identity, "spiffe://td.example/ns/infra/sa/wp-sa");
	assert_string_equal(wp->hostname, "shared.infra.svc.cluster.local");
	inet_ntop(AF_INET, &wp->vip, ip, sizeof(ip));
	assert_string_equal(ip, "10.96.0.99");
	assert_int_equal(wp->n_ips, 1);
	inet_ntop(AF_INET, &wp->ips[0], ip, sizeof(ip));
	assert_string_equal(ip, "10.1.0.7");
	assert_true(wp->has_hbone);
	assert_int_equal(wp->traffic, L7_FOR_SERVICE);
	expect(&w, false, "infra", "x", NULL, "waypoint infra/ingress does not exist");
	assert_null(l7_bindings_find(&w.b, false, "infra", "x"));
	done(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_namespace_and_object),
	    cmocka_unit_test(test_workload_waypoints),
	    cmocka_unit_test(test_other_namespace),
	    cmocka_unit_test(test_task_cross_namespace),
	    cmocka_unit_test(test_no_fallback_and_self),
	    cmocka_unit_test(test_waypoint_facts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
