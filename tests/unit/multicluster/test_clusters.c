// SPDX-License-Identifier: Apache-2.0
/*
 * `remote-clusters`' rows (userspace/multicluster/clusters.c) from the nodes' agents' status:
 * the local cluster first, then each remote cluster, synced only when every agent that reports
 * remote clusters says so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "multicluster/multicluster.h"

static cJSON *parse(const char *text)
{
	cJSON *j = cJSON_Parse(text);

	assert_non_null(j);
	return j;
}

static const char *str(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));

	return s ? s : "(none)";
}

/* The rows of Istio's page: the local cluster, then cluster2, both synced. */
static void test_rows(void **state)
{
	cJSON *st =
	    parse("{\"clusterId\":\"cluster1\",\"network\":\"network1\",\"remoteClusters\":"
		  "[{\"cluster\":\"cluster2\",\"secret\":\"istio-system/"
		  "istio-remote-secret-cluster2\",\"server\":\"file:///run/ambit/cluster2\","
		  "\"status\":\"synced\",\"network\":\"network2\",\"gateways\":1,"
		  "\"globalServices\":3}]}");
	struct remote_view v[] = {{"node1", st}, {"node2", st}};
	cJSON *rows = remote_clusters_merge("Kubernetes", v, 2), *r;

	assert_non_null(rows);
	assert_int_equal(cJSON_GetArraySize(rows), 2);
	r = cJSON_GetArrayItem(rows, 0);
	assert_string_equal(str(r, "name"), "cluster1");
	assert_string_equal(str(r, "secret"), "");
	assert_string_equal(str(r, "status"), "synced");
	assert_string_equal(str(r, "istiod"), "ambit-agent");
	assert_string_equal(str(r, "network"), "network1");
	assert_null(cJSON_GetObjectItemCaseSensitive(r, "nodes"));
	r = cJSON_GetArrayItem(rows, 1);
	assert_string_equal(str(r, "name"), "cluster2");
	assert_string_equal(str(r, "secret"), "istio-system/istio-remote-secret-cluster2");
	assert_string_equal(str(r, "status"), "synced");
	assert_string_equal(str(r, "istiod"), "ambit-agent");
	assert_string_equal(str(r, "server"), "file:///run/ambit/cluster2");
	assert_string_equal(str(r, "network"), "network2");
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "gateways")), 1);
	assert_int_equal(
	    cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(r, "globalServices")), 3);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "nodes")), 2);
	assert_null(cJSON_GetObjectItemCaseSensitive(r, "error"));
	cJSON_Delete(rows);
	cJSON_Delete(st);
}

/*
 * Synced only when every node's agent says so: one failing fails the row (its error said), a
 * node that lists other clusters but not this one yet is syncing, and an agent that reports no
 * remoteClusters at all (a build before them) has no view.
 */
static void test_merge(void **state)
{
	cJSON *a = parse("{\"clusterId\":\"c1\",\"remoteClusters\":["
			 "{\"cluster\":\"c2\",\"secret\":\"istio-system/istio-remote-secret-c2\","
			 "\"status\":\"synced\"},"
			 "{\"cluster\":\"c3\",\"secret\":\"istio-system/istio-remote-secret-c3\","
			 "\"status\":\"synced\"}]}");
	cJSON *b = parse("{\"clusterId\":\"c1\",\"remoteClusters\":["
			 "{\"cluster\":\"c3\",\"status\":\"failed\",\"error\":\"no such file\"},"
			 "{\"cluster\":\"c4\",\"status\":\"syncing\"}]}");
	cJSON *old = parse("{\"clusterId\":\"c1\"}");
	struct remote_view v[] = {{"node1", a}, {"node2", b}, {"node3", old}, {"node4", NULL}};
	cJSON *rows = remote_clusters_merge("Kubernetes", v, 4), *r, *views;

	assert_non_null(rows);
	assert_int_equal(cJSON_GetArraySize(rows), 4);
	r = cJSON_GetArrayItem(rows, 0);
	assert_string_equal(str(r, "name"), "c1");
	assert_string_equal(str(r, "secret"), "");
	assert_string_equal(str(r, "status"), "synced");
	assert_string_equal(str(r, "istiod"), "ambit-agent");
	assert_null(cJSON_GetObjectItemCaseSensitive(r, "network"));

	r = cJSON_GetArrayItem(rows, 1); /* node2 lists no c2: not there yet */
	assert_string_equal(str(r, "name"), "c2");
	assert_string_equal(str(r, "status"), "syncing");
	assert_null(cJSON_GetObjectItemCaseSensitive(r, "error"));
	views = cJSON_GetObjectItemCaseSensitive(r, "nodes");
	assert_int_equal(cJSON_GetArraySize(views), 2);
	assert_string_equal(str(cJSON_GetArrayItem(views, 0), "node"), "node1");
	assert_string_equal(str(cJSON_GetArrayItem(views, 0), "status"), "synced");
	assert_string_equal(str(cJSON_GetArrayItem(views, 1), "node"), "node2");
	assert_string_equal(str(cJSON_GetArrayItem(views, 1), "status"), "syncing");

	r = cJSON_GetArrayItem(rows, 2);
	assert_string_equal(str(r, "name"), "c3");
	assert_string_equal(str(r, "secret"), "istio-system/istio-remote-secret-c3");
	assert_string_equal(str(r, "status"), "failed");
	assert_string_equal(str(r, "error"), "no such file");
	views = cJSON_GetObjectItemCaseSensitive(r, "nodes");
	assert_string_equal(str(cJSON_GetArrayItem(views, 1), "error"), "no such file");

	r = cJSON_GetArrayItem(rows, 3); /* first seen on node2; node1 has none yet */
	assert_string_equal(str(r, "name"), "c4");
	assert_string_equal(str(r, "secret"), "");
	assert_string_equal(str(r, "status"), "syncing");
	cJSON_Delete(rows);
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(old);
}

/* No agent knows of remote clusters, or none answers: the local cluster alone, by @local_id. */
static void test_local_only(void **state)
{
	struct remote_view v[] = {{"node1", NULL}};
	cJSON *rows = remote_clusters_merge("Kubernetes", v, 1);

	assert_non_null(rows);
	assert_int_equal(cJSON_GetArraySize(rows), 1);
	assert_string_equal(str(cJSON_GetArrayItem(rows, 0), "name"), "Kubernetes");
	cJSON_Delete(rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_merge),
	    cmocka_unit_test(test_local_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
