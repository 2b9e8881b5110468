// SPDX-License-Identifier: Apache-2.0
/*
 * Each node's Lease (userspace/k8s/klease.c) and `ambitctl nodes`' rendering of them
 * (userspace/cli/nodes_fmt.c): the Lease written, new and renewed (resourceVersion and
 * acquireTime kept while held, the mode annotation only once known), MicroTime both ways,
 * what a listed Lease says, staleness and kubectl's ages at a fixed now, the table and the
 * JSON; and the poster started and stopped with no API server to reach.
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

#include <cjson/cJSON.h>
#include "k8s/klease.h"
#include "k8s/kmanifest.h"
#include "cli/nodes.h"

/* 2026-11-24T06:00:00Z */
#define NOW ((time_t)1795500000)

static const char *ann(const cJSON *l, const char *key)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(l, "metadata"), "annotations");

	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, key));
}

static double num(const cJSON *l, const char *a, const char *b)
{
	return cJSON_GetNumberValue(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(l, a), b));
}

static void test_time(void **state)
{
	char buf[40];
	time_t t;

	assert_int_equal(klease_time_format(NOW, 42, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2026-11-24T06:00:00.000042Z");
	assert_int_equal(klease_time_format(NOW, 0, buf, 10), -ENOSPC);
	assert_int_equal(klease_time_parse("2026-11-24T06:00:00.000042Z", &t), 0);
	assert_int_equal(t, NOW);
	assert_int_equal(klease_time_parse("2026-11-24T06:01:05Z", &t), 0);
	assert_int_equal(t, NOW + 65);
	assert_int_equal(klease_time_parse("2026-11-24T06:00:00+01:00", &t), -EINVAL);
	assert_int_equal(klease_time_parse("2026-11-24 06:00:00Z", &t), -EINVAL);
	assert_int_equal(klease_time_parse("2026-13-24T06:00:00Z", &t), -EINVAL);
	assert_int_equal(klease_time_parse("", &t), -EINVAL);
	assert_int_equal(klease_time_parse(NULL, &t), -EINVAL);
}

static void test_object_new(void **state)
{
	cJSON *l = klease_object(NULL, "ambit-system", "node1", NULL, "v1.2", NOW, 5);

	assert_non_null(l);
	assert_string_equal(kjson_str(l, "apiVersion", NULL), "coordination.k8s.io/v1");
	assert_string_equal(kjson_str(l, "kind", NULL), "Lease");
	assert_string_equal(kjson_str(l, "metadata", "name"), "ambit-node-node1");
	assert_string_equal(kjson_str(l, "metadata", "namespace"), "ambit-system");
	assert_null(kjson_str(l, "metadata", "resourceVersion"));
	assert_string_equal(kjson_str(cJSON_GetObjectItemCaseSensitive(l, "metadata"), "labels",
				      "app.kubernetes.io/part-of"),
			    "ambit");
	assert_string_equal(kjson_str(cJSON_GetObjectItemCaseSensitive(l, "metadata"), "labels",
				      "app.kubernetes.io/component"),
			    "node-agent");
	/* auto has not decided yet: no mode rather than "auto". */
	assert_null(ann(l, KLEASE_ANN_MODE));
	assert_string_equal(ann(l, KLEASE_ANN_VERSION), "v1.2");
	assert_string_equal(kjson_str(l, "spec", "holderIdentity"), "node1");
	assert_int_equal((int)num(l, "spec", "leaseDurationSeconds"), KLEASE_DURATION_S);
	assert_string_equal(kjson_str(l, "spec", "renewTime"), "2026-11-24T06:00:00.000005Z");
	assert_string_equal(kjson_str(l, "spec", "acquireTime"), "2026-11-24T06:00:00.000005Z");
	cJSON_Delete(l);
}

static void test_object_renewed(void **state)
{
	cJSON *cur = cJSON_Parse(
	    "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":{\"name\":"
	    "\"ambit-node-node1\",\"namespace\":\"ambit-system\",\"resourceVersion\":\"77\","
	    "\"uid\":\"u-1\",\"annotations\":{\"other\":\"x\",\"ambit.io/version\":\"old\"}},"
	    "\"spec\":{\"holderIdentity\":\"node1\",\"leaseDurationSeconds\":40,"
	    "\"acquireTime\":\"2026-11-24T05:00:00.000000Z\","
	    "\"renewTime\":\"2026-11-24T05:59:30.000000Z\"}}");
	cJSON *l;

	assert_non_null(cur);
	l = klease_object(cur, "ignored", "node1", "inpod", "v2", NOW + 30, 0);
	assert_non_null(l);
	assert_string_equal(kjson_str(l, "metadata", "resourceVersion"), "77");
	assert_string_equal(kjson_str(l, "metadata", "uid"), "u-1");
	assert_string_equal(kjson_str(l, "metadata", "namespace"), "ambit-system");
	assert_string_equal(ann(l, "other"), "x");
	assert_string_equal(ann(l, KLEASE_ANN_MODE), "inpod");
	assert_string_equal(ann(l, KLEASE_ANN_VERSION), "v2");
	assert_int_equal((int)num(l, "spec", "leaseDurationSeconds"), KLEASE_DURATION_S);
	assert_string_equal(kjson_str(l, "spec", "acquireTime"), "2026-11-24T05:00:00.000000Z");
	assert_string_equal(kjson_str(l, "spec", "renewTime"), "2026-11-24T06:00:30.000000Z");
	cJSON_Delete(l);

	/* Another holder before (a renamed node's Lease): acquired now. */
	cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(cur, "spec"),
					       "holderIdentity", cJSON_CreateString("nodeX"));
	l = klease_object(cur, "ambit-system", "node1", "host", "v2", NOW, 0);
	assert_string_equal(kjson_str(l, "spec", "holderIdentity"), "node1");
	assert_string_equal(kjson_str(l, "spec", "acquireTime"), "2026-11-24T06:00:00.000000Z");
	cJSON_Delete(l);
	/* The mode no longer known (not something the agent does, but the field goes). */
	l = klease_object(cur, "ambit-system", "node1", NULL, "v2", NOW, 0);
	assert_null(ann(l, KLEASE_ANN_MODE));
	assert_string_equal(ann(l, "other"), "x");
	cJSON_Delete(l);
	cJSON_Delete(cur);
}

static void test_read_ready(void **state)
{
	cJSON *l = klease_object(NULL, "ambit-system", "node2", "host", "v3", NOW, 0);
	struct klease_info i;

	assert_int_equal(klease_read(l, &i), 0);
	assert_string_equal(i.node, "node2");
	assert_string_equal(i.ns, "ambit-system");
	assert_string_equal(i.mode, "host");
	assert_string_equal(i.version, "v3");
	assert_true(i.renewed);
	assert_int_equal(i.renew_time, NOW);
	assert_int_equal(i.duration, KLEASE_DURATION_S);
	assert_true(klease_ready(&i, NOW));
	assert_true(klease_ready(&i, NOW + KLEASE_DURATION_S - 1));
	assert_false(klease_ready(&i, NOW + KLEASE_DURATION_S));
	cJSON_Delete(l);

	/* No holder, renewTime or duration: named after the Lease, never Ready. */
	l = cJSON_Parse("{\"metadata\":{\"name\":\"ambit-node-n3\",\"namespace\":\"x\"}}");
	assert_int_equal(klease_read(l, &i), 0);
	assert_string_equal(i.node, "n3");
	assert_string_equal(i.mode, "");
	assert_false(i.renewed);
	assert_false(klease_ready(&i, NOW));
	cJSON_Delete(l);
	l = cJSON_Parse("{\"metadata\":{}}");
	assert_int_equal(klease_read(l, &i), -EINVAL);
	cJSON_Delete(l);
}

static void test_age(void **state)
{
	static const struct {
		long long s;
		const char *want;
	} cases[] = {
	    {-5, "0s"},
	    {0, "0s"},
	    {12, "12s"},
	    {119, "119s"},
	    {120, "2m"},
	    {190, "3m10s"},
	    {599, "9m59s"},
	    {600, "10m"},
	    {10799, "179m"},
	    {10800, "3h"},
	    {4 * 3600 + 60, "4h1m"},
	    {8 * 3600 + 60, "8h"},
	    {47 * 3600, "47h"},
	    {50 * 3600, "2d2h"},
	    {8 * 86400, "8d"},
	    {800 * 86400, "2y70d"},
	    {9 * 365 * 86400, "9y"},
	};
	char buf[32];

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		klease_age(cases[k].s, buf, sizeof(buf));
		assert_string_equal(buf, cases[k].want);
	}
}

/* A LeaseList of node2 (inpod, renewed 12 s ago), node1 (host, 3 min ago) and one with no mode. */
static cJSON *list_of(const char *ns3)
{
	cJSON *list = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(list, "items");

	cJSON_AddItemToArray(items, klease_object(NULL, "ambit-system", "node2", "inpod",
						  "v1.0-3-gabc", NOW - 12, 0));
	cJSON_AddItemToArray(
	    items, klease_object(NULL, "ambit-system", "node1", "host", "v1.0", NOW - 190, 0));
	cJSON_AddItemToArray(items, klease_object(NULL, ns3, "node3", NULL, "v1.0", NOW - 5, 0));
	cJSON_AddItemToArray(items, cJSON_CreateString("not a Lease"));
	return list;
}

static void test_render_table(void **state)
{
	cJSON *list = list_of("ambit-system");
	char *text;
	int n;

	text = nodes_render(list, NOW, false, &n);
	assert_int_equal(n, 3);
	assert_string_equal(text, "NODE    CAPTURE   VERSION       RENEWED   STATUS\n"
				  "node1   host      v1.0          3m10s     Stale\n"
				  "node2   inpod     v1.0-3-gabc   12s       Ready\n"
				  "node3   -         v1.0          5s        Ready\n");
	free(text);
	cJSON_Delete(list);

	list = list_of("other");
	text = nodes_render(list, NOW, false, &n);
	assert_string_equal(text,
			    "NAMESPACE      NODE    CAPTURE   VERSION       RENEWED   STATUS\n"
			    "ambit-system   node1   host      v1.0          3m10s     Stale\n"
			    "ambit-system   node2   inpod     v1.0-3-gabc   12s       Ready\n"
			    "other          node3   -         v1.0          5s        Ready\n");
	free(text);
	cJSON_Delete(list);

	list = cJSON_Parse("{\"items\":[]}");
	text = nodes_render(list, NOW, false, &n);
	assert_int_equal(n, 0);
	assert_string_equal(text, "NODE   CAPTURE   VERSION   RENEWED   STATUS\n");
	free(text);
	cJSON_Delete(list);
}

static void test_render_json(void **state)
{
	cJSON *list = list_of("ambit-system"), *out, *first, *third;
	char *text;
	int n;

	text = nodes_render(list, NOW, true, &n);
	assert_int_equal(n, 3);
	out = cJSON_Parse(text);
	assert_true(cJSON_IsArray(out));
	assert_int_equal(cJSON_GetArraySize(out), 3);
	first = cJSON_GetArrayItem(out, 0);
	assert_string_equal(kjson_str(first, "node", NULL), "node1");
	assert_string_equal(kjson_str(first, "namespace", NULL), "ambit-system");
	assert_string_equal(kjson_str(first, "captureMode", NULL), "host");
	assert_string_equal(kjson_str(first, "version", NULL), "v1.0");
	assert_string_equal(kjson_str(first, "renewTime", NULL), "2026-11-24T05:56:50.000000Z");
	assert_int_equal((int)cJSON_GetNumberValue(
			     cJSON_GetObjectItemCaseSensitive(first, "leaseDurationSeconds")),
			 KLEASE_DURATION_S);
	assert_string_equal(kjson_str(first, "status", NULL), "Stale");
	third = cJSON_GetArrayItem(out, 2);
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(third, "captureMode")));
	assert_string_equal(kjson_str(third, "status", NULL), "Ready");
	cJSON_Delete(out);
	free(text);
	cJSON_Delete(list);
}

/* No API server: the poster starts, fails quietly off the caller's thread, and stops. */
static void test_start_stop_unreachable(void **state)
{
	struct kconn c = {.server = "http://127.0.0.1:1", .namespace = "ambit-system"};
	struct klease *kl = klease_start(&c, "node1", "v1", NULL);

	assert_non_null(kl);
	klease_set_mode(kl, "host");
	klease_set_mode(kl, "host");
	klease_set_mode(NULL, "host");
	klease_stop(kl);
	klease_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_time),
	    cmocka_unit_test(test_object_new),
	    cmocka_unit_test(test_object_renewed),
	    cmocka_unit_test(test_read_ready),
	    cmocka_unit_test(test_age),
	    cmocka_unit_test(test_render_table),
	    cmocka_unit_test(test_render_json),
	    cmocka_unit_test(test_start_stop_unreachable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
