// SPDX-License-Identifier: Apache-2.0
/*
 * The workload directory (userspace/control/wdir.h, kdir.h): a Pod cut to what the mesh reads; a
 * shard's ConfigMap written and read back; the merge of the directory with the node's own pods
 * (the node's own watch wins, a pod the directory places on this node is not taken from it, a
 * pod leaving the node's watch falls back to the directory's, a bad shard keeps its last good
 * pods); and the publisher against the test API server (tests/k8s/fake_apiserver.py): every
 * shard written once the pods are listed, a pod's change rewrites its shard, a deleted pod
 * leaves it.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include <cmocka.h>

#include "../../lib/fake_api.h"
#include "k8s/kconn.h"
#include "control/kdir.h"
#include "control/wdir.h"

static const char full_pod[] =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-7d4b9-x2\","
    "\"namespace\":\"shop\",\"uid\":\"u-1\",\"resourceVersion\":\"42\",\"labels\":{\"app\":"
    "\"web\",\"pod-template-hash\":\"7d4b9\"},\"annotations\":{\"kubectl.kubernetes.io/"
    "last-applied-configuration\":\"{...}\",\"istio.io/use-waypoint\":\"wp\","
    "\"sidecar.istio.io/inject\":\"false\",\"ambit.io/x\":\"y\",\"notistio.io2/z\":\"n\"},"
    "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":"
    "\"web-7d4b9\",\"uid\":\"r\",\"controller\":true},{\"kind\":\"Other\",\"name\":\"o\"}],"
    "\"managedFields\":[{\"manager\":\"kubelet\"}]},\"spec\":{\"nodeName\":\"node2\","
    "\"serviceAccountName\":\"web\",\"volumes\":[{\"name\":\"v\"}],\"containers\":[{\"name\":"
    "\"c\",\"image\":\"nginx\",\"env\":[{\"name\":\"A\"}],\"ports\":[{\"name\":\"http\","
    "\"containerPort\":8080}]}]},\"status\":{\"phase\":\"Running\",\"podIP\":\"10.1.2.3\","
    "\"podIPs\":[{\"ip\":\"10.1.2.3\"}],\"hostIP\":\"10.0.0.2\",\"conditions\":[{\"type\":"
    "\"Initialized\",\"status\":\"True\"},{\"type\":\"Ready\",\"status\":\"False\","
    "\"lastTransitionTime\":\"t\"}],\"containerStatuses\":[{\"name\":\"c\"}]}}";

static void test_reduce(void **state)
{
	cJSON *pod = cJSON_Parse(full_pod), *r = wdir_reduce(pod);
	char *text = cJSON_PrintUnformatted(r);

	assert_non_null(text);
	assert_string_equal(
	    text, "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-7d4b9-x2\","
		  "\"namespace\":\"shop\",\"uid\":\"u-1\",\"labels\":{\"app\":\"web\","
		  "\"pod-template-hash\":\"7d4b9\"},\"annotations\":{\"istio.io/use-waypoint\":"
		  "\"wp\",\"sidecar.istio.io/inject\":\"false\",\"ambit.io/x\":\"y\"},"
		  "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\","
		  "\"name\":\"web-7d4b9\",\"uid\":\"r\",\"controller\":true}]},\"spec\":{"
		  "\"nodeName\":\"node2\",\"serviceAccountName\":\"web\",\"containers\":[{\"name\":"
		  "\"c\",\"ports\":[{\"name\":\"http\",\"containerPort\":8080}]}]},\"status\":{"
		  "\"phase\":\"Running\",\"podIP\":\"10.1.2.3\",\"podIPs\":[{\"ip\":\"10.1.2.3\"}],"
		  "\"hostIP\":\"10.0.0.2\",\"conditions\":[{\"type\":\"Ready\",\"status\":"
		  "\"False\"}]}}");
	free(text);
	cJSON_Delete(r);
	cJSON_Delete(pod);
	/* Not scheduled yet: in no node's directory. */
	pod = cJSON_Parse("{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\"},\"spec\":{}}");
	assert_null(wdir_reduce(pod));
	cJSON_Delete(pod);
	/* The shard is the key's alone. */
	assert_int_equal(wdir_shard("shop/web-7d4b9-x2"), wdir_shard("shop/web-7d4b9-x2"));
	assert_true(wdir_shard("a/b") < WDIR_SHARDS);
}

static const char *mini(const char *name, const char *node, const char *ip)
{
	static char b[4][256];
	static int k;
	char *s = b[k++ % 4];

	snprintf(s, 256,
		 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
		 "\"namespace\":\"shop\"},\"spec\":{\"nodeName\":\"%s\",\"containers\":[]},"
		 "\"status\":{\"podIP\":\"%s\"}}",
		 name, node, ip);
	return s;
}

/* A shard's ConfigMap holding @n pods (name, node, ip triples). */
static char *shard(size_t n, ...)
{
	struct wdir_pod p[8];
	char *text;
	va_list ap;

	va_start(ap, n);
	for (size_t i = 0; i < n; i++) {
		const char *name = va_arg(ap, const char *), *node = va_arg(ap, const char *);
		const char *ip = va_arg(ap, const char *);

		p[i].key = NULL;
		p[i].text = strdup(mini(name, node, ip));
	}
	va_end(ap);
	text = wdir_shard_object("ambit-system", 7, p, n);
	for (size_t i = 0; i < n; i++)
		free(p[i].text);
	return text;
}

static void test_shard_roundtrip(void **state)
{
	char *text = shard(2, "b", "node2", "10.0.0.2", "a", "node1", "10.0.0.1");
	struct wdir_shard_pods s;
	cJSON *cm = cJSON_Parse(text);

	assert_non_null(cm);
	assert_string_equal(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(cm, "metadata"), "name")->valuestring,
	    "ambit-workloads-07");
	assert_string_equal(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(cm, "metadata"), "labels"),
				WDIR_LABEL)
		->valuestring,
	    WDIR_LABEL_VALUE);
	cJSON_Delete(cm);
	assert_int_equal(wdir_shard_parse(text, "node1", &s), 0);
	assert_int_equal(s.n, 2);
	/* Sorted by key; "here" is the reading node's. */
	assert_string_equal(s.p[0].key, "shop/a");
	assert_true(s.p[0].here);
	assert_string_equal(s.p[1].key, "shop/b");
	assert_false(s.p[1].here);
	assert_string_equal(s.p[1].text, mini("b", "node2", "10.0.0.2"));
	assert_int_equal(wdir_shard_find(&s, "shop/b"), 1);
	assert_int_equal(wdir_shard_find(&s, "shop/c"), -1);
	wdir_shard_pods_free(&s);
	free(text);
	/* Not a shard. */
	assert_int_equal(wdir_shard_parse("{\"data\":{}}", "n", &s), -EINVAL);
	assert_int_equal(wdir_shard_parse("{\"data\":{\"pods\":\"{}\"}}", "n", &s), -EINVAL);
	assert_int_equal(wdir_shard_parse("[", "n", &s), -EINVAL);
	assert_int_equal(s.n, 0);
}

struct emitted {
	size_t n;
	char key[8][32];
	char text[8][256]; /* "" for a withdrawal */
};

static void record(void *arg, const char *key, const char *text)
{
	struct emitted *e = arg;

	assert_true(e->n < 8);
	snprintf(e->key[e->n], sizeof(e->key[0]), "%s", key);
	snprintf(e->text[e->n], sizeof(e->text[0]), "%s", text ? text : "");
	e->n++;
}

static void test_merge(void **state)
{
	struct kdir *d = kdir_new("node1");
	struct emitted e = {0};
	char *s1 = shard(2, "a", "node1", "10.0.0.1", "b", "node2", "10.0.0.2");
	char *s2 = shard(2, "a", "node2", "10.0.0.9", "b", "node2", "10.0.0.2");
	char *s3 = shard(1, "a", "node2", "10.0.0.9");

	/* Pod a is the node's own (its watch has it); b is elsewhere. */
	assert_int_equal(kdir_local(d, "shop/a", true, record, &e), 0);
	assert_int_equal(e.n, 0);
	assert_int_equal(kdir_shard(d, "ambit-system/ambit-workloads-07", s1, record, &e), 0);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.key[0], "shop/b");
	assert_string_equal(e.text[0], mini("b", "node2", "10.0.0.2"));
	assert_int_equal(kdir_pods(d), 2);
	/* The same shard again: nothing changed. */
	e.n = 0;
	assert_int_equal(kdir_shard(d, "ambit-system/ambit-workloads-07", s1, record, &e), 0);
	assert_int_equal(e.n, 0);
	/* a moves to node2 in the directory while the node's watch still has it: the watch wins. */
	assert_int_equal(kdir_shard(d, "ambit-system/ambit-workloads-07", s2, record, &e), 0);
	assert_int_equal(e.n, 0);
	/* a leaves the node's watch: the directory's a (on node2) takes its place. */
	assert_int_equal(kdir_local(d, "shop/a", false, record, &e), 0);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.key[0], "shop/a");
	assert_string_equal(e.text[0], mini("a", "node2", "10.0.0.9"));
	/* A bad shard keeps the last good pods, and says nothing. */
	e.n = 0;
	assert_int_equal(kdir_shard(d, "ambit-system/ambit-workloads-07", "{}", record, &e),
			 -EINVAL);
	assert_int_equal(e.n, 0);
	assert_int_equal(kdir_pods(d), 2);
	/* b leaves the directory: withdrawn. */
	assert_int_equal(kdir_shard(d, "ambit-system/ambit-workloads-07", s3, record, &e), 0);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.key[0], "shop/b");
	assert_string_equal(e.text[0], "");
	/* A pod the directory places here, the node's watch not having it: not taken. */
	e.n = 0;
	free(s1);
	s1 = shard(1, "c", "node1", "10.0.0.3");
	assert_int_equal(kdir_shard(d, "ambit-system/ambit-workloads-08", s1, record, &e), 0);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.key[0], "shop/c");
	assert_string_equal(e.text[0], "");
	/* The shard deleted: its pods withdrawn. */
	e.n = 0;
	assert_int_equal(kdir_shard(d, "ambit-system/ambit-workloads-07", NULL, record, &e), 0);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.key[0], "shop/a");
	assert_string_equal(e.text[0], "");
	assert_int_equal(kdir_pods(d), 1);
	free(s1);
	free(s2);
	free(s3);
	kdir_free(d);
}

/* ---- the publisher against the test API server ---- */

static struct fake_api fa;

static int api(const char *method, const char *path, const char *body, char **out)
{
	return fake_api_call(&fa, method, path, body, out);
}

static int setup(void **state)
{
	return fake_api_start(&fa, 40000 + (int)(getpid() % 20000), "t0k");
}

static int teardown(void **state)
{
	fake_api_stop(&fa);
	return 0;
}

/* The directory as published: shards, and pod @name's node ("" when absent). */
static int published(const char *name, char *node, size_t len)
{
	char *text = NULL;
	cJSON *list, *cm;
	int n = 0;

	node[0] = '\0';
	if (api("GET",
		"/api/v1/namespaces/mesh/configmaps?labelSelector=" WDIR_LABEL
		"%3D" WDIR_LABEL_VALUE,
		NULL, &text) != 200)
		return -1;
	list = cJSON_Parse(text);
	cJSON_ArrayForEach(cm, cJSON_GetObjectItem(list, "items"))
	{
		cJSON *pods = cJSON_Parse(
		    cJSON_GetObjectItem(cJSON_GetObjectItem(cm, "data"), "pods")->valuestring);
		cJSON *p;

		n++;
		cJSON_ArrayForEach(p, pods)
		{
			if (!strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "metadata"), "name")
					->valuestring,
				    name))
				snprintf(
				    node, len, "%s",
				    cJSON_GetObjectItem(cJSON_GetObjectItem(p, "spec"), "nodeName")
					->valuestring);
		}
		cJSON_Delete(pods);
	}
	cJSON_Delete(list);
	free(text);
	return n;
}

static bool wait_node(const char *name, const char *want)
{
	char node[64];

	for (int i = 0; i < 600; i++) { /* 30 s: a loaded machine is slow, never wrong */
		if (published(name, node, sizeof(node)) == WDIR_SHARDS && !strcmp(node, want))
			return true;
		usleep(50 * 1000);
	}
	fprintf(stderr, "pod %s: published on \"%s\", want \"%s\"\n", name, node, want);
	return false;
}

static void test_publisher(void **state)
{
	struct kconn c = {.server = fa.base, .token = "t0k"};
	struct wdir_pub *p;

	/* The pods' namespace and the directory's: a server refuses writes into one not made. */
	assert_int_equal(
	    api("POST", "/api/v1/namespaces",
		"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"shop\"}}",
		NULL),
	    201);
	assert_int_equal(
	    api("POST", "/api/v1/namespaces",
		"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"mesh\"}}",
		NULL),
	    201);
	assert_int_equal(
	    api("POST", "/api/v1/namespaces/shop/pods", mini("p1", "node1", "10.0.0.1"), NULL),
	    201);
	p = wdir_pub_start(&c, "mesh", 30);
	assert_non_null(p);
	assert_true(wait_node("p1", "node1"));
	/* p1's shard deleted, or emptied, by another hand: written again. */
	{
		char path[256], *cm = NULL;

		snprintf(path, sizeof(path),
			 "/api/v1/namespaces/mesh/configmaps/" WDIR_PREFIX "%02u",
			 wdir_shard("shop/p1"));
		assert_int_equal(api("DELETE", path, NULL, NULL), 200);
		assert_true(wait_node("p1", "node1"));
		assert_int_equal(api("GET", path, NULL, &cm), 200);
		cJSON *o = cJSON_Parse(cm);
		cJSON_ReplaceItemInObject(cJSON_GetObjectItem(o, "data"), "pods",
					  cJSON_CreateString("[]"));
		free(cm);
		cm = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		assert_int_equal(api("PUT", path, cm, NULL), 200);
		free(cm);
		assert_true(wait_node("p1", "node1"));
	}
	/* A pod added and one changed: their shards are written again. */
	assert_int_equal(
	    api("POST", "/api/v1/namespaces/shop/pods", mini("p2", "node2", "10.0.0.2"), NULL),
	    201);
	assert_true(wait_node("p2", "node2"));
	assert_int_equal(
	    api("PUT", "/api/v1/namespaces/shop/pods/p1", mini("p1", "node3", "10.0.0.1"), NULL),
	    200);
	assert_true(wait_node("p1", "node3"));
	/* A shard past 64 KiB (the answer to its write echoes it whole). */
	{
		size_t n = 100 * 1024;
		char *big = malloc(n + 512);

		assert_non_null(big);
		int w =
		    snprintf(big, 512,
			     "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":"
			     "\"p3\",\"namespace\":\"shop\",\"annotations\":{\"istio.io/x\":\"");
		memset(big + w, 'x', n);
		snprintf(big + w + n, 512 - (size_t)w,
			 "\"}},\"spec\":{\"nodeName\":\"node4\",\"containers\":[]}}");
		assert_int_equal(api("POST", "/api/v1/namespaces/shop/pods", big, NULL), 201);
		free(big);
		assert_true(wait_node("p3", "node4"));
	}
	/* Deleted: gone from its shard. */
	assert_int_equal(api("DELETE", "/api/v1/namespaces/shop/pods/p2", NULL, NULL), 200);
	assert_true(wait_node("p2", ""));
	wdir_pub_stop(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reduce),
	    cmocka_unit_test(test_shard_roundtrip),
	    cmocka_unit_test(test_merge),
	    cmocka_unit_test_setup_teardown(test_publisher, setup, teardown),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
