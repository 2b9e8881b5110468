// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl get`'s kinds and columns (userspace/cli/getcols.c), against what kubectl prints:
 * kubectl's names for the kinds (short names, gw Istio's and gtw the Gateway API's, kind.group
 * forms), the age format at a fixed now, each kind's cells read from an object as the API serves
 * it (pods' READY/STATUS/RESTARTS as kubectl's printPod sums them, services' EXTERNAL-IP and
 * PORT(S), deployments', the Istio CRDs' printer columns with <none> and JSON lists), and the
 * table laid out as kubectl's tabwriter lays it out (header lines byte for byte).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include "cli/getcols.h"

/* 2026-11-24T06:00:00Z */
#define NOW ((time_t)1795500000)

static const struct get_kind *kind(const char *w)
{
	const struct get_kind *k = get_kind_find(w);

	assert_non_null(k);
	return k;
}

static void test_kind_names(void **state)
{
	(void)state;
	assert_string_equal(kind("po")->kind, "Pod");
	assert_string_equal(kind("pods")->kind, "Pod");
	assert_string_equal(kind("Pod")->kind, "Pod");
	assert_string_equal(kind("svc")->kind, "Service");
	assert_string_equal(kind("deploy")->kind, "Deployment");
	assert_string_equal(kind("deployments.apps")->kind, "Deployment");
	assert_string_equal(kind("ns")->kind, "Namespace");
	assert_string_equal(kind("sa")->kind, "ServiceAccount");
	assert_string_equal(kind("cm")->kind, "ConfigMap");
	assert_string_equal(kind("vs")->kind, "VirtualService");
	assert_string_equal(kind("virtualservices.networking.istio.io")->kind, "VirtualService");
	assert_string_equal(kind("dr")->kind, "DestinationRule");
	assert_string_equal(kind("pa")->group, "security.istio.io");
	assert_string_equal(kind("authorizationpolicies")->kind, "AuthorizationPolicy");
	/* gw is Istio's Gateway, gtw and the bare name the Gateway API's, as their CRDs say. */
	assert_string_equal(kind("gw")->group, "networking.istio.io");
	assert_string_equal(kind("gtw")->group, "gateway.networking.k8s.io");
	assert_string_equal(kind("gateway")->group, "gateway.networking.k8s.io");
	assert_string_equal(kind("gateways.networking.istio.io")->group, "networking.istio.io");
	assert_string_equal(kind("gateways.gateway.networking.k8s.io")->group,
			    "gateway.networking.k8s.io");
	assert_string_equal(kind("gateways.gateway")->group, "gateway.networking.k8s.io");
	assert_null(get_kind_find("foo"));
	assert_null(get_kind_find("pods.apps"));
	assert_null(get_kind_find("vs.gateway.networking.k8s.io"));
}

static void test_prefix(void **state)
{
	char b[128];

	(void)state;
	get_kind_prefix(kind("po"), b, sizeof(b));
	assert_string_equal(b, "pod");
	get_kind_prefix(kind("deploy"), b, sizeof(b));
	assert_string_equal(b, "deployment.apps");
	get_kind_prefix(kind("vs"), b, sizeof(b));
	assert_string_equal(b, "virtualservice.networking.istio.io");
}

static void test_age(void **state)
{
	static const struct {
		long long ago;
		const char *want;
	} cases[] = {{0, "0s"},
		     {5, "5s"},
		     {119, "119s"},
		     {182, "3m2s"},
		     {180, "3m"},
		     {600, "10m"},
		     {179 * 60, "179m"},
		     {3 * 3600 + 60, "3h1m"},
		     {10 * 3600, "10h"},
		     {(2 * 24 + 3) * 3600, "2d3h"},
		     {30 * 24 * 3600, "30d"},
		     {(3 * 365 + 4) * 24 * 3600, "3y4d"}};
	char ts[32], b[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_t t = NOW - (time_t)cases[i].ago;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		get_age_of(ts, NOW, b, sizeof(b));
		assert_string_equal(b, cases[i].want);
	}
	assert_int_equal(get_parse_time("2026-11-24T06:00:00Z"), NOW);
	assert_int_equal(get_parse_time("2026-11-24T06:00:00.123456Z"), NOW);
	get_age_of(NULL, NOW, b, sizeof(b));
	assert_string_equal(b, "<unknown>");
	get_age_of("yesterday", NOW, b, sizeof(b));
	assert_string_equal(b, "<unknown>");
}

/* Kind @w's table of @objs (a JSON list) as `get` prints it, with @s. */
static char *table(const char *w, const struct get_show *s, const char *objs)
{
	const struct get_kind *k = kind(w);
	cJSON *list = cJSON_Parse(objs), *o;
	struct get_table t;
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(list);
	assert_non_null(f);
	get_table_init(&t, get_ncols(k, s));
	assert_int_equal(get_header(k, s, &t), 0);
	cJSON_ArrayForEach(o, list) assert_int_equal(get_row(k, s, o, NOW, &t), 0);
	get_table_print(&t, f);
	fclose(f);
	get_table_free(&t);
	cJSON_Delete(list);
	return out;
}

#define MADE "\"creationTimestamp\":\"2026-11-24T05:59:55Z\""

static void test_pods(void **state)
{
	const struct get_show plain = {0}, wide = {.wide = true}, all = {.namespace = true};
	const char *pods =
	    "[{\"metadata\":{\"name\":\"details-v1-0\",\"namespace\":\"default\"," MADE "},"
	    "\"spec\":{\"nodeName\":\"node1\",\"containers\":[{\"name\":\"details\"}]},"
	    "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.98.1.2\",\"containerStatuses\":"
	    "[{\"ready\":true,\"restartCount\":0,\"state\":{\"running\":{}}}]}},"
	    /* crashing: Running phase, CrashLoopBackOff, restarts with the last one's age */
	    "{\"metadata\":{\"name\":\"crash-0\",\"namespace\":\"default\"," MADE "},"
	    "\"spec\":{\"nodeName\":\"node2\",\"containers\":[{\"name\":\"c\"}]},"
	    "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.98.2.9\",\"containerStatuses\":"
	    "[{\"ready\":false,\"restartCount\":3,\"state\":{\"waiting\":{\"reason\":"
	    "\"CrashLoopBackOff\"}},\"lastState\":{\"terminated\":{\"exitCode\":1,"
	    "\"finishedAt\":\"2026-11-24T05:59:48Z\"}}}]}},"
	    /* not started: no IP, ContainerCreating */
	    "{\"metadata\":{\"name\":\"new-0\",\"namespace\":\"default\"},"
	    "\"spec\":{\"nodeName\":\"node1\",\"containers\":[{\"name\":\"c\"}]},"
	    "\"status\":{\"phase\":\"Pending\",\"containerStatuses\":"
	    "[{\"ready\":false,\"restartCount\":0,\"state\":{\"waiting\":{\"reason\":"
	    "\"ContainerCreating\"}}}]}},"
	    /* exited with 2, no reason: kubectl's ExitCode:2 */
	    "{\"metadata\":{\"name\":\"done-0\",\"namespace\":\"other\"},"
	    "\"spec\":{\"containers\":[{\"name\":\"c\"}]},"
	    "\"status\":{\"phase\":\"Failed\",\"containerStatuses\":"
	    "[{\"restartCount\":0,\"state\":{\"terminated\":{\"exitCode\":2}}}]}}]";
	char *t = table("po", &plain, pods);

	assert_string_equal(t,
			    "NAME           READY   STATUS              RESTARTS      AGE\n"
			    "details-v1-0   1/1     Running             0             5s\n"
			    "crash-0        0/1     CrashLoopBackOff    3 (12s ago)   5s\n"
			    "new-0          0/1     ContainerCreating   0             <unknown>\n"
			    "done-0         0/1     ExitCode:2          0             <unknown>\n");
	free(t);
	t = table("po", &wide, pods);
	assert_non_null(strstr(t, "NAME           READY   STATUS              RESTARTS      AGE    "
				  "     IP          NODE     NOMINATED NODE   READINESS GATES\n"));
	assert_non_null(strstr(t, "   10.98.1.2   node1    <none>           <none>\n"));
	assert_non_null(strstr(t, "   <none>      <none>   <none>           <none>\n"));
	free(t);
	t = table("po", &all, pods);
	assert_non_null(strstr(t, "NAMESPACE   NAME           READY   STATUS"));
	assert_non_null(strstr(t, "\nother       done-0         0/1     ExitCode:2"));
	free(t);
}

static void test_services(void **state)
{
	const struct get_show plain = {0}, wide = {.wide = true};
	const char *svcs =
	    "[{\"metadata\":{\"name\":\"productpage\"," MADE "},\"spec\":{\"type\":\"ClusterIP\","
	    "\"clusterIP\":\"10.96.0.13\",\"selector\":{\"app\":\"productpage\"},"
	    "\"ports\":[{\"port\":9080,\"protocol\":\"TCP\"}]}},"
	    "{\"metadata\":{\"name\":\"istio-ingressgateway\"," MADE "},\"spec\":{\"type\":"
	    "\"LoadBalancer\",\"clusterIP\":\"10.96.0.14\",\"selector\":{\"istio\":"
	    "\"ingressgateway\",\"app\":\"istio-ingressgateway\"},\"ports\":[{\"port\":80,"
	    "\"nodePort\":31380},{\"port\":443,\"nodePort\":31390}]}},"
	    "{\"metadata\":{\"name\":\"lb\"," MADE "},\"spec\":{\"type\":\"LoadBalancer\","
	    "\"clusterIP\":\"10.96.0.15\",\"ports\":[{\"port\":53,\"protocol\":\"UDP\"}]},"
	    "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"172.18.0.5\"}]}}},"
	    "{\"metadata\":{\"name\":\"headless\"," MADE "},\"spec\":{\"type\":\"ClusterIP\","
	    "\"clusterIP\":\"None\"}}]";
	char *t = table("svc", &plain, svcs);

	assert_string_equal(t, "NAME                   TYPE           CLUSTER-IP   EXTERNAL-IP   "
			       "PORT(S)               "
			       "       AGE\n"
			       "productpage            ClusterIP      10.96.0.13   <none>        "
			       "9080/TCP              "
			       "       5s\n"
			       "istio-ingressgateway   LoadBalancer   10.96.0.14   <pending>     "
			       "80:31380/TCP,443:31390/TCP   5s\n"
			       "lb                     LoadBalancer   10.96.0.15   172.18.0.5    "
			       "53/UDP                "
			       "       5s\n"
			       "headless               ClusterIP      None         <none>        "
			       "<none>                "
			       "       5s\n");
	free(t);
	t = table("svc", &wide, svcs);
	assert_non_null(strstr(t, "   AGE   SELECTOR\n"));
	assert_non_null(strstr(t, "   5s    app=istio-ingressgateway,istio=ingressgateway\n"));
	assert_non_null(strstr(t, "   5s    <none>\n"));
	free(t);
}

static void test_deployments_and_core(void **state)
{
	const struct get_show plain = {0}, labels = {.labels = true};
	char *t =
	    table("deploy", &plain,
		  "[{\"metadata\":{\"name\":\"reviews-v1\"," MADE "},\"spec\":{\"replicas\":2},"
		  "\"status\":{\"readyReplicas\":1,\"updatedReplicas\":2,"
		  "\"availableReplicas\":1}},{\"metadata\":{\"name\":\"x\"," MADE "},"
		  "\"spec\":{},\"status\":{}}]");

	assert_string_equal(t, "NAME         READY   UP-TO-DATE   AVAILABLE   AGE\n"
			       "reviews-v1   1/2     2            1           5s\n"
			       "x            0/1     0            0           5s\n");
	free(t);
	t = table("ns", &labels,
		  "[{\"metadata\":{\"name\":\"bookinfo\"," MADE ",\"labels\":{\"kubernetes.io/"
		  "metadata.name\":\"bookinfo\",\"istio.io/dataplane-mode\":\"ambient\"}},"
		  "\"status\":{\"phase\":\"Active\"}}]");
	assert_string_equal(t, "NAME       STATUS   AGE   LABELS\n"
			       "bookinfo   Active   5s    istio.io/dataplane-mode=ambient,"
			       "kubernetes.io/metadata.name=bookinfo\n");
	free(t);
	{
		/* -L: a column per label, named by the key past its prefix, in capitals */
		static const char *const keys[] = {"istio-injection", "istio.io/dataplane-mode"};
		const struct get_show cols = {.label_cols = keys, .n_label_cols = 2};

		t = table("ns", &cols,
			  "[{\"metadata\":{\"name\":\"default\"," MADE ",\"labels\":{"
			  "\"istio.io/dataplane-mode\":\"ambient\"}},\"status\":{\"phase\":"
			  "\"Active\"}}]");
		assert_string_equal(t, "NAME      STATUS   AGE   ISTIO-INJECTION   DATAPLANE-MODE\n"
				       "default   Active   5s                      ambient\n");
		free(t);
	}
	t = table("secrets", &plain,
		  "[{\"metadata\":{\"name\":\"cred\"," MADE "},\"type\":\"kubernetes.io/tls\","
		  "\"data\":{\"tls.crt\":\"eA==\",\"tls.key\":\"eA==\"}}]");
	assert_string_equal(t, "NAME   TYPE                DATA   AGE\n"
			       "cred   kubernetes.io/tls   2      5s\n");
	free(t);
	t = table("cm", &plain,
		  "[{\"metadata\":{\"name\":\"istio\"," MADE "},\"data\":{\"mesh\":\"\"}}]");
	assert_string_equal(t, "NAME    DATA   AGE\nistio   1      5s\n");
	free(t);
	t = table("sa", &plain, "[{\"metadata\":{\"name\":\"bookinfo-details\"," MADE "}}]");
	assert_string_equal(t,
			    "NAME               SECRETS   AGE\nbookinfo-details   0         5s\n");
	free(t);
}

static void test_istio_kinds(void **state)
{
	const struct get_show plain = {0};
	char *t = table("vs", &plain,
			"[{\"metadata\":{\"name\":\"bookinfo\"," MADE "},\"spec\":{\"gateways\":["
			"\"bookinfo-gateway\"],\"hosts\":[\"*\"]}},{\"metadata\":{\"name\":"
			"\"reviews\"," MADE "},\"spec\":{\"hosts\":[\"reviews\"]}}]");

	assert_string_equal(t, "NAME       GATEWAYS               HOSTS         AGE\n"
			       "bookinfo   [\"bookinfo-gateway\"]   [\"*\"]         5s\n"
			       "reviews    <none>                 [\"reviews\"]   5s\n");
	free(t);
	t = table("dr", &plain,
		  "[{\"metadata\":{\"name\":\"reviews\"," MADE
		  "},\"spec\":{\"host\":\"reviews\"}}]");
	assert_string_equal(t, "NAME      HOST      AGE\nreviews   reviews   5s\n");
	free(t);
	t = table("gw", &plain, "[{\"metadata\":{\"name\":\"bookinfo-gateway\"," MADE "}}]");
	assert_string_equal(t, "NAME               AGE\nbookinfo-gateway   5s\n");
	free(t);
	t = table("se", &plain,
		  "[{\"metadata\":{\"name\":\"ext\"," MADE "},\"spec\":{\"hosts\":[\"a.example\","
		  "\"b.example\"],\"location\":\"MESH_EXTERNAL\",\"resolution\":\"DNS\"}}]");
	assert_string_equal(
	    t, "NAME   HOSTS                       LOCATION        RESOLUTION   AGE\n"
	       "ext    [\"a.example\",\"b.example\"]   MESH_EXTERNAL   DNS          5s\n");
	free(t);
	t = table("pa", &plain,
		  "[{\"metadata\":{\"name\":\"default\"," MADE "},\"spec\":{\"mtls\":{\"mode\":"
		  "\"STRICT\"}}},{\"metadata\":{\"name\":\"none\"," MADE "},\"spec\":{}}]");
	assert_string_equal(
	    t, "NAME      MODE     AGE\ndefault   STRICT   5s\nnone      <none>   5s\n");
	free(t);
	t = table("ap", &plain,
		  "[{\"metadata\":{\"name\":\"deny\"," MADE "},\"spec\":{\"action\":\"DENY\"}}]");
	assert_string_equal(t, "NAME   ACTION   AGE\ndeny   DENY     5s\n");
	free(t);
	t = table("gtw", &plain,
		  "[{\"metadata\":{\"name\":\"waypoint\"," MADE "},\"spec\":{\"gatewayClassName\":"
		  "\"istio-waypoint\"},\"status\":{\"addresses\":[{\"value\":\"waypoint.mesh.svc."
		  "cluster.local\"}],\"conditions\":[{\"type\":\"Accepted\",\"status\":\"True\"},"
		  "{\"type\":\"Programmed\",\"status\":\"False\"}]}}]");
	assert_string_equal(
	    t, "NAME       CLASS            ADDRESS                           "
	       "PROGRAMMED   AGE\n"
	       "waypoint   istio-waypoint   waypoint.mesh.svc.cluster.local   False    "
	       "    5s\n");
	free(t);
}

/* A multi-kind table names each object kind/name, as kubectl's `get po,svc` and `get all`. */
static void test_prefixed_names(void **state)
{
	const struct get_show s = {.label = "deployment.apps/"};
	char *t =
	    table("deploy", &s,
		  "[{\"metadata\":{\"name\":\"ratings-v1\"," MADE "},\"spec\":{\"replicas\":1},"
		  "\"status\":{\"readyReplicas\":1,\"updatedReplicas\":1,"
		  "\"availableReplicas\":1}}]");

	assert_string_equal(t,
			    "NAME                         READY   UP-TO-DATE   AVAILABLE   AGE\n"
			    "deployment.apps/ratings-v1   1/1     1            1           5s\n");
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kind_names),	cmocka_unit_test(test_prefix),
	    cmocka_unit_test(test_age),		cmocka_unit_test(test_pods),
	    cmocka_unit_test(test_services),	cmocka_unit_test(test_deployments_and_core),
	    cmocka_unit_test(test_istio_kinds), cmocka_unit_test(test_prefixed_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
