// SPDX-License-Identifier: Apache-2.0
/*
 * Tests for the pod list the Kubernetes source derives from the Pods in force
 * (userspace/agent/ksource.c): which pods are workloads (an IP, a node, not hostNetwork, not
 * finished, IPv4), the nodes' addresses from status.hostIP, and the workload a pod belongs to
 * (a Deployment from its ReplicaSet's name and the pod-template-hash label, else the
 * controller). Pods of other nodes only: finding this node's pods is test_podns and t_93.
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
#include <cmocka.h>

#include <cjson/cJSON.h>
#include "k8s/kconn.h"
#include "k8s/kevents.h"
#include "agent/ksource.h"

static const char pods[] =
    "apiVersion: v1\nkind: Pod\n"
    "metadata:\n  name: web-7c9d-a\n  namespace: shop\n"
    "  labels: {app: web, pod-template-hash: 7c9d}\n"
    "  ownerReferences: [{kind: ReplicaSet, name: web-7c9d, controller: true}]\n"
    "spec: {nodeName: n2, serviceAccountName: web, containers: [{name: c}]}\n"
    "status: {phase: Running, podIP: 10.1.2.3, hostIP: 10.0.0.2}\n"
    "---\napiVersion: v1\nkind: Pod\n"
    "metadata:\n  name: db-0\n  namespace: shop\n"
    "  ownerReferences: [{kind: StatefulSet, name: db, controller: true}]\n"
    "spec: {nodeName: n3, containers: [{name: c}]}\n"
    "status: {phase: Running, podIP: 10.1.3.4, hostIP: 10.0.0.3,\n"
    "  conditions: [{type: Ready, status: 'False', reason: ContainersNotReady}]}\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: pending, namespace: shop}\n"
    "spec: {containers: [{name: c}]}\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: done, namespace: shop}\n"
    "spec: {nodeName: n2, containers: [{name: c}]}\n"
    "status: {phase: Succeeded, podIP: 10.1.2.9, hostIP: 10.0.0.2}\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: hostnet, namespace: kube-system}\n"
    "spec: {nodeName: n2, hostNetwork: true, containers: [{name: c}]}\n"
    "status: {phase: Running, podIP: 10.0.0.2, hostIP: 10.0.0.2}\n"
    "---\napiVersion: v1\nkind: Pod\n"
    "metadata:\n  name: bare\n  namespace: shop\n  deletionTimestamp: '2026-11-23T10:00:00Z'\n"
    "  ownerReferences: [{kind: ReplicaSet, name: bare-rs, controller: true}]\n"
    "spec: {nodeName: n3, containers: [{name: c}]}\n"
    "status: {podIP: 10.1.3.5, hostIP: 10.0.0.3}\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: dual, namespace: shop}\n"
    "spec: {nodeName: n3, containers: [{name: c}]}\n"
    "status: {phase: Running, podIP: 'fd00::6', podIPs: [{ip: 'fd00::6'}, {ip: 10.1.3.6}],\n"
    "  hostIP: 10.0.0.3}\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: v6, namespace: shop}\n"
    "spec: {nodeName: n2, containers: [{name: c}]}\n"
    "status: {phase: Running, podIP: 'fd00::5', podIPs: [{ip: 'fd00::5'}], hostIP: 10.0.0.2}\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: v6-pending, namespace: shop}\n"
    "spec: {nodeName: n2, containers: [{name: c}]}\n"
    "status: {phase: Pending, hostIP: 10.0.0.2}\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata: {name: v6node, namespace: shop}\n"
    "spec: {nodeName: n6, containers: [{name: c}]}\n"
    "status: {phase: Running, podIP: 'fd00::7', podIPs: [{ip: 'fd00::7'}],\n"
    "  hostIP: 'fd00:99::16', hostIPs: [{ip: 'fd00:99::16'}]}\n";

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static void test_runtime(void **state)
{
	/* Nothing listens there: the watches back off, the derivation needs none of them. */
	struct kconn conn = {.server = "http://127.0.0.1:9", .token = "t"};
	struct ksource *ks = ksource_start(&conn, "n1", "/nonexistent", 5);
	struct config cfg;
	struct config_diags d = {0};
	struct runtime rt;
	struct rt_cluster cl;
	char txt[IPADDR_STRLEN];

	assert_non_null(ks);
	config_init(&cfg);
	assert_int_equal(config_load_buffer(&cfg, "pods.yaml", pods, strlen(pods), &d), 0);
	assert_int_equal(ksource_runtime(ks, &cfg, &rt, &cl), 0);
	/*
	 * web, db, bare, dual (by its IPv4 address, though its podIP is IPv6) and v6 (an
	 * IPv6-only pod, by its IPv6 alone): not the pending, finished or hostNetwork ones.
	 */
	assert_int_equal(rt.n_pods, 6);
	assert_string_equal(rt.pods[0].uid, "shop/web-7c9d-a");
	assert_string_equal(rt.pods[0].owner, "web");
	assert_string_equal(rt.pods[0].service_account, "web");
	assert_string_equal(rt.pods[0].node, "n2");
	assert_int_equal(rt.pods[0].ip, ip4("10.1.2.3"));
	assert_null(rt.pods[0].cgroup);
	assert_string_equal(rt.pods[1].owner, "db");
	assert_string_equal(rt.pods[1].service_account, "default");
	/* web is Ready (it says nothing otherwise); db is not; bare is being deleted. */
	assert_false(rt.pods[0].not_ready);
	assert_true(rt.pods[1].not_ready);
	assert_true(rt.pods[2].not_ready);
	/* A ReplicaSet without the hash label is its own workload. */
	assert_string_equal(rt.pods[2].owner, "bare-rs");
	assert_string_equal(rt.pods[3].uid, "shop/dual");
	assert_int_equal(rt.pods[3].ip, ip4("10.1.3.6"));
	assert_int_equal(rt.pods[3].ip6.family, AF_INET6);
	assert_int_equal(rt.pods[0].ip6.family, 0);
	assert_string_equal(rt.pods[4].uid, "shop/v6");
	assert_int_equal(rt.pods[4].ip, 0);
	assert_string_equal(ipaddr_format(&rt.pods[4].ip6, txt, sizeof(txt)), "fd00::5");
	/* n6, of an IPv6-only cluster, is known by its pods' IPv6 hostIP. */
	assert_string_equal(rt.pods[5].uid, "shop/v6node");
	assert_int_equal(cl.n_nodes, 3);
	assert_int_equal(runtime_node_ip(&cl, "n2"), ip4("10.0.0.2"));
	assert_int_equal(runtime_node_ip(&cl, "n3"), ip4("10.0.0.3"));
	assert_int_equal(runtime_node(&cl, "n2")->ip6.family, 0);
	assert_int_equal(runtime_node_ip(&cl, "n6"), 0);
	assert_non_null(runtime_node(&cl, "n6"));
	assert_string_equal(ipaddr_format(&runtime_node(&cl, "n6")->ip6, txt, sizeof(txt)),
			    "fd00:99::16");
	runtime_free(&rt);
	runtime_cluster_free(&cl);
	config_free(&cfg);
	config_diags_free(&d);
	ksource_stop(ks);
}

/*
 * A Pod of the same load as one of the runtime in force borrows that pod's fields (adopted
 * once the new runtime is taken); a new load, or no runtime in force, makes them anew. A
 * runtime that is not taken leaves the one in force whole.
 */
static void test_runtime_from_previous(void **state)
{
	struct kconn conn = {.server = "http://127.0.0.1:9", .token = "t"};
	struct ksource *ks = ksource_start(&conn, "n1", "/nonexistent", 5);
	struct runtime rt, next, dropped;
	struct config cfg, cfg2;
	struct config_diags d = {0};
	struct rt_cluster cl;
	const char *web_ns;

	assert_non_null(ks);
	config_init(&cfg);
	assert_int_equal(config_load_buffer(&cfg, "pods.yaml", pods, strlen(pods), &d), 0);
	config_stamp_ids(&cfg);
	assert_int_equal(ksource_runtime_from(ks, &cfg, NULL, &rt, &cl), 0);
	runtime_cluster_free(&cl);
	assert_int_equal(rt.n_pods, 6);
	assert_int_equal(rt.pods[0].shared, 0);
	web_ns = rt.pods[0].namespace;

	/* Not taken: freeing it leaves the runtime in force as it was. */
	assert_int_equal(ksource_runtime_from(ks, &cfg, &rt, &dropped, &cl), 0);
	runtime_cluster_free(&cl);
	assert_int_equal(dropped.pods[0].shared, 1);
	assert_ptr_equal(dropped.pods[0].namespace, web_ns);
	runtime_free(&dropped);
	assert_string_equal(rt.pods[0].namespace, "shop");
	assert_string_equal(rt.pods[0].uid, "shop/web-7c9d-a");
	assert_string_equal(rt.pods[2].owner, "bare-rs");

	/* Taken: the same strings, now the new runtime's. */
	assert_int_equal(ksource_runtime_from(ks, &cfg, &rt, &next, &cl), 0);
	runtime_cluster_free(&cl);
	assert_int_equal(next.n_pods, 6);
	for (size_t i = 0; i < next.n_pods; i++)
		assert_int_equal(next.pods[i].shared, i + 1);
	runtime_adopt(&next, &rt);
	runtime_free(&rt);
	assert_ptr_equal(next.pods[0].namespace, web_ns);
	assert_int_equal(next.pods[0].shared, 0);
	assert_string_equal(next.pods[0].uid, "shop/web-7c9d-a");
	assert_string_equal(next.pods[0].owner, "web");
	assert_string_equal(next.pods[1].service_account, "default");
	assert_true(next.pods[1].not_ready);
	assert_int_equal(next.pods[0].ip, ip4("10.1.2.3"));

	/* Another load of the same objects (new serials): made anew, equal. */
	config_init(&cfg2);
	assert_int_equal(config_load_buffer(&cfg2, "pods.yaml", pods, strlen(pods), &d), 0);
	config_stamp_ids(&cfg2);
	assert_int_equal(ksource_runtime_from(ks, &cfg2, &next, &rt, &cl), 0);
	runtime_cluster_free(&cl);
	assert_int_equal(rt.pods[0].shared, 0);
	assert_ptr_not_equal(rt.pods[0].namespace, web_ns);
	assert_string_equal(rt.pods[0].uid, "shop/web-7c9d-a");
	assert_string_equal(rt.pods[2].owner, "bare-rs");
	runtime_adopt(&rt, &next);
	runtime_free(&next);
	runtime_free(&rt);
	config_free(&cfg);
	config_free(&cfg2);
	config_diags_free(&d);
	ksource_stop(ks);
}

static const char *ev_str(const cJSON *e, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItem(e, a);

	v = b ? cJSON_GetObjectItem(v, b) : v;
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The Event on a rejected object: who, why, and a name every node computes alike. */
static void test_rejected_event(void **state)
{
	const char *obj = "{\"metadata\":{\"name\":\"deny-a\",\"namespace\":\"shop\","
			  "\"uid\":\"u-1\",\"resourceVersion\":\"42\"},\"spec\":{}}";
	struct config_diag items[] = {
	    {.error = false, .field = "spec.selector", .message = "a warning, not a reason"},
	    {.error = true,
	     .field = "spec.action",
	     .message = "\"MAYBE\" is not one of ALLOW, DENY"},
	    {.error = true, .field = NULL, .message = "second"},
	};
	struct config_diags d = {3, items}, warn_only = {1, items};
	char ns[64], ns2[64];
	cJSON *e = kevents_event(obj, "security.istio.io/v1", "AuthorizationPolicy", &d, 1700000000,
				 ns, sizeof(ns)),
	      *again = kevents_event(obj, "security.istio.io/v1", "AuthorizationPolicy", &d,
				     1700000999, ns2, sizeof(ns2));
	const char *msg;

	assert_non_null(e);
	assert_string_equal(ns, "shop");
	assert_string_equal(ev_str(e, "kind", NULL), "Event");
	assert_string_equal(ev_str(e, "metadata", "namespace"), "shop");
	assert_string_equal(ev_str(e, "involvedObject", "kind"), "AuthorizationPolicy");
	assert_string_equal(ev_str(e, "involvedObject", "apiVersion"), "security.istio.io/v1");
	assert_string_equal(ev_str(e, "involvedObject", "uid"), "u-1");
	assert_string_equal(ev_str(e, "involvedObject", "resourceVersion"), "42");
	assert_string_equal(ev_str(e, "type", NULL), "Warning");
	assert_string_equal(ev_str(e, "reason", NULL), "Rejected");
	assert_string_equal(ev_str(e, "firstTimestamp", NULL), "2023-11-14T22:13:20Z");
	msg = ev_str(e, "message", NULL);
	assert_non_null(strstr(msg, "spec.action: \"MAYBE\" is not one of ALLOW, DENY; second"));
	assert_null(strstr(msg, "a warning"));
	/* Later, or on another node: the same name (the API server keeps one). */
	assert_non_null(again);
	assert_string_equal(ev_str(e, "metadata", "name"), ev_str(again, "metadata", "name"));
	assert_int_equal(strncmp(ev_str(e, "metadata", "name"), "deny-a.", 7), 0);
	cJSON_Delete(again);
	/* Another version of the object: another Event. */
	again = kevents_event("{\"metadata\":{\"name\":\"deny-a\",\"namespace\":\"shop\","
			      "\"uid\":\"u-1\",\"resourceVersion\":\"43\"}}",
			      "security.istio.io/v1", "AuthorizationPolicy", &d, 1700000000, ns2,
			      sizeof(ns2));
	assert_string_not_equal(ev_str(e, "metadata", "name"), ev_str(again, "metadata", "name"));
	cJSON_Delete(again);
	cJSON_Delete(e);
	/* No error, no name, not JSON: no Event. A cluster-scoped object's goes to default. */
	assert_null(kevents_event(obj, "v1", "X", &warn_only, 0, ns, sizeof(ns)));
	assert_null(kevents_event("{\"metadata\":{}}", "v1", "X", &d, 0, ns, sizeof(ns)));
	assert_null(kevents_event("{not json", "v1", "X", &d, 0, ns, sizeof(ns)));
	e = kevents_event("{\"metadata\":{\"name\":\"shop\"}}", "v1", "Namespace", &d, 0, ns,
			  sizeof(ns));
	assert_non_null(e);
	assert_string_equal(ns, "default");
	assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "involvedObject"), "namespace"));
	cJSON_Delete(e);
}

/* A Warning about an object as served (the policy a ztunnel cannot enforce as written). */
static void test_warning_event(void **state)
{
	static const char obj[] =
	    "{\"apiVersion\":\"security.istio.io/v1\",\"kind\":\"AuthorizationPolicy\","
	    "\"metadata\":{\"name\":\"deny-a\",\"namespace\":\"shop\",\"uid\":\"u-1\","
	    "\"resourceVersion\":\"42\",\"generation\":2}}";
	cJSON *o = cJSON_Parse(obj), *e, *again;
	char ns[64], ns2[64];

	e = kevents_warning(o, "UnsupportedValue", "ztunnel does not support HTTP attributes",
			    "ambit-kube-controller", 1700000000, ns, sizeof(ns));
	assert_non_null(e);
	assert_string_equal(ns, "shop");
	assert_string_equal(ev_str(e, "type", NULL), "Warning");
	assert_string_equal(ev_str(e, "reason", NULL), "UnsupportedValue");
	assert_string_equal(ev_str(e, "message", NULL), "ztunnel does not support HTTP attributes");
	assert_string_equal(ev_str(e, "involvedObject", "kind"), "AuthorizationPolicy");
	assert_string_equal(ev_str(e, "involvedObject", "apiVersion"), "security.istio.io/v1");
	assert_string_equal(ev_str(e, "source", "component"), "ambit-kube-controller");
	/* Its status written (another resourceVersion, the same generation): the same Event. */
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(o, "metadata"), "resourceVersion",
				  cJSON_CreateString("43"));
	again = kevents_warning(o, "UnsupportedValue", "ztunnel does not support HTTP attributes",
				"ambit-kube-controller", 1700000999, ns2, sizeof(ns2));
	assert_string_equal(ev_str(e, "metadata", "name"), ev_str(again, "metadata", "name"));
	cJSON_Delete(again);
	/* Another spec, or another message: another Event. */
	again = kevents_warning(o, "UnsupportedValue", "something else", "ambit-kube-controller",
				1700000000, ns2, sizeof(ns2));
	assert_string_not_equal(ev_str(e, "metadata", "name"), ev_str(again, "metadata", "name"));
	cJSON_Delete(again);
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(o, "metadata"), "generation",
				  cJSON_CreateNumber(3));
	again = kevents_warning(o, "UnsupportedValue", "ztunnel does not support HTTP attributes",
				"ambit-kube-controller", 1700000000, ns2, sizeof(ns2));
	assert_string_not_equal(ev_str(e, "metadata", "name"), ev_str(again, "metadata", "name"));
	cJSON_Delete(again);
	cJSON_Delete(e);
	/* Without a kind (as a List's items come): none. */
	cJSON_DeleteItemFromObject(o, "kind");
	assert_null(kevents_warning(o, "R", "m", "c", 0, ns, sizeof(ns)));
	cJSON_Delete(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_runtime),
	    cmocka_unit_test(test_runtime_from_previous),
	    cmocka_unit_test(test_rejected_event),
	    cmocka_unit_test(test_warning_event),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
