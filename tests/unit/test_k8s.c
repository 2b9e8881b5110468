// SPDX-License-Identifier: Apache-2.0
/*
 * The Kubernetes API bodies (include/ambit/k8s.h): a watch stream decoded the same whatever
 * its chunking (every split point), each event type with its resourceVersion, an ERROR's Status
 * (410 Expired), blank lines and CRLF, and the refusals: not JSON, not an event, an unknown
 * type, no resourceVersion, a line over the bound, a body cut inside an event, a callback that
 * stops; LIST bodies (items, resourceVersion, continue, items null) and their refusals; Status.
 */
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

#include "ambit/k8s.h"

#define POD(rv, name)                                                                              \
	"{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"" name                   \
	"\",\"namespace\":\"default\",\"resourceVersion\":\"" rv "\"},\"spec\":{\"nodeName\":"     \
	"\"node1\"}}"

static const char stream[] = "{\"type\":\"ADDED\",\"object\":" POD(
    "101",
    "a") "}\n"
	 "\r\n"
	 "{\"type\":\"MODIFIED\",\"object\":" POD(
	     "102",
	     "a") "}\r\n"
		  "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
		  "\"metadata\":{\"resourceVersion\":\"150\"}}}\n"
		  "{\"type\":\"DELETED\",\"object\":" POD(
		      "151", "a") "}\n"
				  "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
				  "\"apiVersion\":\"v1\",\"metadata\":{},"
				  "\"status\":\"Failure\",\"message\":\"too old resource version: "
				  "1 (151)\","
				  "\"reason\":\"Expired\",\"code\":410}}\n";

struct seen {
	char text[1024];
	size_t n;
	int stop_at; /* the event (1-based) whose callback returns -ECANCELED, 0: none */
};

static int on_event(void *arg, const struct k8s_event *ev)
{
	static const char *const t[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
	struct seen *s = arg;
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(ev->object, "metadata");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(meta, "name");
	size_t len = strlen(s->text);

	snprintf(s->text + len, sizeof(s->text) - len, "%s %s %s %d %s;", t[ev->type],
		 cJSON_IsString(name) ? name->valuestring : "-", ev->resource_version, ev->code,
		 ev->reason);
	s->n++;
	return s->stop_at && (int)s->n == s->stop_at ? -ECANCELED : 0;
}

static const char want[] = "ADDED a 101 0 ;MODIFIED a 102 0 ;BOOKMARK - 150 0 ;"
			   "DELETED a 151 0 ;ERROR -  410 Expired;";

static void test_stream_any_chunking(void **state)
{
	size_t n = sizeof(stream) - 1;
	char err[200];

	/* Whole, then split in two at every byte, then one byte at a time. */
	for (size_t cut = 0; cut <= n; cut++) {
		struct seen s = {0};
		struct k8s_stream *k = k8s_stream_new(4096, on_event, &s);

		assert_non_null(k);
		assert_int_equal(k8s_stream_feed(k, stream, cut, err, sizeof(err)), 0);
		assert_int_equal(k8s_stream_feed(k, stream + cut, n - cut, err, sizeof(err)), 0);
		assert_int_equal(k8s_stream_end(k, err, sizeof(err)), 0);
		assert_string_equal(s.text, want);
		assert_int_equal(k8s_stream_events(k), 5);
		k8s_stream_free(k);
	}
	{
		struct seen s = {0};
		struct k8s_stream *k = k8s_stream_new(4096, on_event, &s);

		for (size_t i = 0; i < n; i++)
			assert_int_equal(k8s_stream_feed(k, stream + i, 1, err, sizeof(err)), 0);
		assert_int_equal(k8s_stream_end(k, err, sizeof(err)), 0);
		assert_string_equal(s.text, want);
		k8s_stream_free(k);
	}
}

/* @body fed whole (then ended) fails with @code and a reason containing @why. */
static void refused(const char *body, size_t max_line, int code, const char *why)
{
	struct seen s = {0};
	struct k8s_stream *k = k8s_stream_new(max_line, on_event, &s);
	char err[200] = "";
	int ret;

	assert_non_null(k);
	ret = k8s_stream_feed(k, body, strlen(body), err, sizeof(err));
	if (!ret)
		ret = k8s_stream_end(k, err, sizeof(err));
	assert_int_equal(ret, code);
	if (!strstr(err, why))
		fail_msg("\"%s\" does not say \"%s\"", err, why);
	/* Nothing more is taken after an error. */
	assert_int_equal(k8s_stream_feed(k, "\n", 1, err, sizeof(err)), code);
	k8s_stream_free(k);
}

static void test_stream_refusals(void **state)
{
	refused("{\"type\":\"ADDED\",\"object\":" POD("1", "a") "}\nnot json\n", 4096, -EPROTO,
		"watch event 2: not JSON");
	refused("[1,2]\n", 4096, -EPROTO, "watch event 1: not an event");
	refused("{\"type\":\"ADDED\",\"object\":\"x\"}\n", 4096, -EPROTO, "not an event");
	refused("{\"type\":\"RENAMED\",\"object\":" POD("1", "a") "}\n", 4096, -EPROTO,
		"unknown type \"RENAMED\"");
	refused("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n", 4096, -EPROTO,
		"ADDED without metadata.resourceVersion");
	refused("{\"type\":\"ADDED\",\"object\":" POD("1", "a") "}\n", 40, -E2BIG,
		"a line over 40 bytes");
	refused("{\"type\":\"ADDED\",\"object\":" POD("1", "a") "}\n{\"type\":\"MOD", 4096, -EPROTO,
		"the body ended inside an event");
}

static void test_stream_line_bound_across_chunks(void **state)
{
	struct seen s = {0};
	struct k8s_stream *k = k8s_stream_new(64, on_event, &s);
	char err[200], big[50];

	memset(big, 'x', sizeof(big));
	assert_int_equal(k8s_stream_feed(k, big, sizeof(big), err, sizeof(err)), 0);
	assert_int_equal(k8s_stream_feed(k, big, sizeof(big), err, sizeof(err)), -E2BIG);
	k8s_stream_free(k);
}

static void test_stream_callback_stops(void **state)
{
	struct seen s = {.stop_at = 2};
	struct k8s_stream *k = k8s_stream_new(4096, on_event, &s);
	char err[200];

	assert_int_equal(k8s_stream_feed(k, stream, sizeof(stream) - 1, err, sizeof(err)),
			 -ECANCELED);
	assert_int_equal(s.n, 2);
	assert_int_equal(k8s_stream_end(k, err, sizeof(err)), -ECANCELED);
	k8s_stream_free(k);
}

static void test_list(void **state)
{
	static const char list[] =
	    "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"77\","
	    "\"continue\":\"eyJ2IjoxfQ\"},\"items\":[" POD("70", "a") "," POD("71", "b") "]}";
	static const char empty[] = "{\"kind\":\"ServiceList\",\"apiVersion\":\"v1\","
				    "\"metadata\":{\"resourceVersion\":\"5\"},\"items\":null}";
	struct k8s_list l;
	char err[200];

	assert_int_equal(k8s_list_parse(list, strlen(list), &l, err, sizeof(err)), 0);
	assert_string_equal(l.kind, "PodList");
	assert_string_equal(l.resource_version, "77");
	assert_string_equal(l.cont, "eyJ2IjoxfQ");
	assert_int_equal(l.n_items, 2);
	assert_string_equal(
	    cJSON_GetObjectItem(cJSON_GetObjectItem(l.items[1], "metadata"), "name")->valuestring,
	    "b");
	k8s_list_free(&l);
	assert_int_equal(k8s_list_parse(empty, strlen(empty), &l, err, sizeof(err)), 0);
	assert_int_equal(l.n_items, 0);
	assert_null(l.cont);
	k8s_list_free(&l);
}

static void list_refused(const char *body, const char *why)
{
	struct k8s_list l;
	char err[200] = "";

	assert_int_equal(k8s_list_parse(body, strlen(body), &l, err, sizeof(err)), -EPROTO);
	if (!strstr(err, why))
		fail_msg("\"%s\" does not say \"%s\"", err, why);
	k8s_list_free(&l);
}

static void test_list_refusals(void **state)
{
	list_refused("<html>", "not a JSON object");
	list_refused("{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":\"1\"}}",
		     "kind \"Pod\" is not a List");
	list_refused("{\"kind\":\"PodList\",\"metadata\":{}}",
		     "PodList: no metadata.resourceVersion");
	list_refused("{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"1\"},\"items\":{}}",
		     "items is not an array");
	list_refused("{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"1\"},"
		     "\"items\":[" POD("1", "a") ",{\"metadata\":{}}]}",
		     "items[1] is not an object with metadata.name");
}

static void test_status(void **state)
{
	static const char st[] =
	    "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
	    "\"message\":\"pods \\\"x\\\" is forbidden\",\"reason\":\"Forbidden\",\"code\":403}";
	char reason[32], msg[64];
	int code;

	assert_int_equal(
	    k8s_status_parse(st, strlen(st), &code, reason, sizeof(reason), msg, sizeof(msg)), 0);
	assert_int_equal(code, 403);
	assert_string_equal(reason, "Forbidden");
	assert_string_equal(msg, "pods \"x\" is forbidden");
	assert_int_equal(k8s_status_parse("{\"kind\":\"Pod\"}", 14, &code, reason, sizeof(reason),
					  msg, sizeof(msg)),
			 -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stream_any_chunking),
	    cmocka_unit_test(test_stream_refusals),
	    cmocka_unit_test(test_stream_line_bound_across_chunks),
	    cmocka_unit_test(test_stream_callback_stops),
	    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_list_refusals),
	    cmocka_unit_test(test_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
