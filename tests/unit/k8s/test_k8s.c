// SPDX-License-Identifier: Apache-2.0
/*
 * The Kubernetes API bodies (include/ambit/k8s.h): a watch stream decoded the same whatever
 * its chunking (every split point), each event type with its resourceVersion, an ERROR's Status
 * (410 Expired), blank lines and CRLF, and the refusals: not JSON, not an event, an unknown
 * type, no resourceVersion, a line over the bound, a body cut inside an event, a callback that
 * stops; LIST bodies (items, resourceVersion, continue, items null) and their refusals; Status;
 * the reflector: paged LIST then WATCH, the copy's changes as upsert/remove, bookmarks, 410
 * re-lists that report only what was missed, and back-off with jitter, capped and reset; the
 * objects' texts the consumer is given (its own ops->text, a key repeated across pages, out of
 * memory for a text).
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

/* ---- the reflector ---- */

struct log {
	char text[1024];
	char last[512]; /* the last upsert's text */
	int texts;	/* ops->text calls (text_ops) */
	int fail_at;	/* the ops->text call (1-based) that fails, 0: none */
};

static void on_upsert(void *arg, const char *key, char *text)
{
	struct log *l = arg;
	cJSON *obj = cJSON_Parse(text);
	const cJSON *rv =
	    cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "metadata"), "resourceVersion");
	size_t n = strlen(l->text);

	assert_true(cJSON_IsString(rv));
	snprintf(l->text + n, sizeof(l->text) - n, "+%s@%s ", key, rv->valuestring);
	snprintf(l->last, sizeof(l->last), "%s", text);
	cJSON_Delete(obj);
	free(text);
}

static void on_remove(void *arg, const char *key)
{
	struct log *l = arg;
	size_t n = strlen(l->text);

	snprintf(l->text + n, sizeof(l->text) - n, "-%s ", key);
}

static const struct k8s_reflector_ops log_ops = {NULL, on_upsert, on_remove};

/* The object's name and resourceVersion as "[name@rv]"; fails at call @fail_at. */
static char *name_rv(void *arg, const cJSON *obj)
{
	struct log *l = arg;
	const cJSON *md = cJSON_GetObjectItem(obj, "metadata");
	char *t;

	if (++l->texts == l->fail_at)
		return NULL;
	if (asprintf(&t, "{\"metadata\":{\"resourceVersion\":\"%s\"},\"n\":\"[%s@%s]\"}",
		     cJSON_GetObjectItem(md, "resourceVersion")->valuestring,
		     cJSON_GetObjectItem(md, "name")->valuestring,
		     cJSON_GetObjectItem(md, "resourceVersion")->valuestring) < 0)
		return NULL;
	return t;
}

static const struct k8s_reflector_ops text_ops = {name_rv, on_upsert, on_remove};

/* A LIST page of "name:rv" items in namespace default, its @rv and @cont, given to @r. */
static int page_try(struct k8s_reflector *r, const char *rv, const char *cont, const char *items)
{
	char body[2048], *p = body, list[512], *save = NULL, *tok;
	struct k8s_list l;
	char err[200];
	bool first = true;
	int ret;

	p += sprintf(p,
		     "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"%s\"%s%s%s},"
		     "\"items\":[",
		     rv, cont ? ",\"continue\":\"" : "", cont ? cont : "", cont ? "\"" : "");
	snprintf(list, sizeof(list), "%s", items);
	for (tok = strtok_r(list, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *colon = strchr(tok, ':');

		*colon = '\0';
		p += sprintf(p,
			     "%s{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\","
			     "\"resourceVersion\":\"%s\"}}",
			     first ? "" : ",", tok, colon + 1);
		first = false;
	}
	sprintf(p, "]}");
	assert_int_equal(k8s_list_parse(body, strlen(body), &l, err, sizeof(err)), 0);
	ret = k8s_reflector_list_page(r, &l);
	k8s_list_free(&l);
	return ret;
}

static void page(struct k8s_reflector *r, const char *rv, const char *cont, const char *items)
{
	assert_int_equal(page_try(r, rv, cont, items), 0);
}

/* A watch event of @type for pod @name at @rv. */
static int event_try(struct k8s_reflector *r, enum k8s_event_type type, const char *name,
		     const char *rv)
{
	char body[256];
	cJSON *o;
	struct k8s_event ev = {.type = type, .resource_version = rv, .reason = "", .message = ""};
	int ret;

	snprintf(body, sizeof(body),
		 "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\","
		 "\"resourceVersion\":\"%s\"}}",
		 name, rv);
	o = cJSON_Parse(body);
	ev.object = o;
	ret = k8s_reflector_event(r, &ev);
	cJSON_Delete(o);
	return ret;
}

static void event(struct k8s_reflector *r, enum k8s_event_type type, const char *name,
		  const char *rv)
{
	assert_int_equal(event_try(r, type, name, rv), 0);
}

static void expect_next(struct k8s_reflector *r, enum k8s_action a, const char *arg)
{
	struct k8s_request q;

	k8s_reflector_next(r, &q);
	assert_int_equal(q.action, a);
	if (a == K8S_DO_LIST && !arg)
		assert_null(q.cont);
	else if (a == K8S_DO_LIST)
		assert_string_equal(q.cont, arg);
	else if (a == K8S_DO_WATCH)
		assert_string_equal(q.resource_version, arg);
}

static unsigned int expect_wait(struct k8s_reflector *r, unsigned int lo, unsigned int hi)
{
	struct k8s_request q;

	k8s_reflector_next(r, &q);
	assert_int_equal(q.action, K8S_DO_WAIT);
	assert_in_range(q.wait_ms, lo, hi);
	return q.wait_ms;
}

static void test_reflector_list_watch_relist(void **state)
{
	struct log l = {.texts = 0};
	struct k8s_reflector *r = k8s_reflector_new(&log_ops, &l, 7);
	struct k8s_event gone = {.type = K8S_ERROR,
				 .code = 410,
				 .reason = "Expired",
				 .message = "too old",
				 .resource_version = ""};
	cJSON *status = cJSON_Parse("{\"kind\":\"Status\",\"code\":410}");

	/* A LIST in two pages, then the WATCH from its resourceVersion. */
	expect_next(r, K8S_DO_LIST, NULL);
	page(r, "10", "t1", "a:5 b:6");
	assert_false(k8s_reflector_synced(r));
	assert_string_equal(l.text, "");
	expect_next(r, K8S_DO_LIST, "t1");
	page(r, "10", NULL, "c:7");
	assert_true(k8s_reflector_synced(r));
	assert_string_equal(l.text, "+default/a@5 +default/b@6 +default/c@7 ");
	assert_int_equal(k8s_reflector_count(r), 3);
	expect_next(r, K8S_DO_WATCH, "10");
	/* Events change the copy; a bookmark moves the resume point only. */
	l.text[0] = '\0';
	event(r, K8S_ADDED, "d", "11");
	event(r, K8S_MODIFIED, "a", "12");
	event(r, K8S_DELETED, "b", "13");
	event(r, K8S_DELETED, "zz", "14"); /* never seen: nothing to say */
	event(r, K8S_BOOKMARK, "", "20");
	assert_string_equal(l.text, "+default/d@11 +default/a@12 -default/b ");
	assert_int_equal(k8s_reflector_count(r), 3);
	k8s_reflector_watch_ended(r);
	expect_next(r, K8S_DO_WATCH, "20");
	/* 410: LIST again at once; the copy catches up with what it missed, and only that. */
	gone.object = status;
	assert_int_equal(k8s_reflector_event(r, &gone), 0);
	k8s_reflector_watch_ended(r);
	expect_next(r, K8S_DO_LIST, NULL);
	l.text[0] = '\0';
	page(r, "30", NULL, "e:29 a:12 c:25");
	assert_string_equal(l.text, "+default/c@25 -default/d +default/e@29 ");
	expect_next(r, K8S_DO_WATCH, "30");
	cJSON_Delete(status);
	k8s_reflector_free(r);
}

static void test_reflector_backoff(void **state)
{
	struct log l = {.texts = 0};
	struct k8s_reflector *r = k8s_reflector_new(&log_ops, &l, 3);
	unsigned int w = 0;

	/* A list cut between pages starts over, after a wait; its first page does not count. */
	page(r, "10", "t1", "a:1");
	k8s_reflector_failed(r, 503);
	expect_wait(r, 100, 200);
	expect_next(r, K8S_DO_LIST, NULL);
	page(r, "11", NULL, "b:2");
	assert_string_equal(l.text, "+default/b@2 ");
	/* Lost connections: waits double (with jitter) up to 30 s... */
	for (int i = 0; i < 20; i++) {
		k8s_reflector_failed(r, 0);
		w = expect_wait(r, 100, 30000);
		expect_next(r, K8S_DO_WATCH, "11");
	}
	assert_in_range(w, 15000, 30000);
	/* ...and a success brings them back to 200 ms. */
	event(r, K8S_BOOKMARK, "", "12");
	k8s_reflector_failed(r, 500);
	expect_wait(r, 100, 200);
	k8s_reflector_failed(r, 500);
	expect_wait(r, 200, 400);
	/* An expired continue token: the LIST starts over at once. */
	expect_next(r, K8S_DO_WATCH, "12");
	k8s_reflector_failed(r, 410);
	expect_next(r, K8S_DO_LIST, NULL);
	page(r, "40", "t9", "b:2");
	k8s_reflector_failed(r, 410);
	expect_next(r, K8S_DO_LIST, NULL);
	k8s_reflector_free(r);
}

/*
 * What the consumer is given: each object's text, made when its page or event came (a LIST's
 * pages are not kept as objects); of a key repeated across pages, the last page's.
 */
static void test_reflector_text(void **state)
{
	struct log l = {.texts = 0};
	struct k8s_reflector *r = k8s_reflector_new(&log_ops, &l, 7);

	/* Without ops->text: the object as cJSON prints it, from a LIST and from a WATCH. */
	page(r, "10", "t1", "a:5 b:6");
	page(r, "10", NULL, "c:7");
	assert_string_equal(l.last, "{\"metadata\":{\"name\":\"c\",\"namespace\":\"default\","
				    "\"resourceVersion\":\"7\"}}");
	event(r, K8S_MODIFIED, "b", "11");
	assert_string_equal(l.last, "{\"metadata\":{\"name\":\"b\",\"namespace\":\"default\","
				    "\"resourceVersion\":\"11\"}}");
	k8s_reflector_free(r);

	/* The consumer's text; a key on two pages (moved while paging): its last state counts. */
	memset(&l, 0, sizeof(l));
	r = k8s_reflector_new(&text_ops, &l, 7);
	page(r, "10", "t1", "b:2 a:1 c:3");
	page(r, "10", "t2", "d:4 a:5");
	assert_int_equal(l.texts, 5);
	assert_string_equal(l.text, "");
	page(r, "10", NULL, "b:6");
	assert_string_equal(l.text, "+default/a@5 +default/b@6 +default/c@3 +default/d@4 ");
	assert_string_equal(l.last, "{\"metadata\":{\"resourceVersion\":\"4\"},\"n\":\"[d@4]\"}");
	assert_int_equal(k8s_reflector_count(r), 4);
	/* A re-list: the unchanged objects' texts are dropped, unheard. */
	k8s_reflector_failed(r, 410);
	l.text[0] = '\0';
	page(r, "20", "t3", "a:5 c:3");
	page(r, "20", NULL, "d:9");
	assert_string_equal(l.text, "-default/b +default/d@9 ");
	assert_string_equal(l.last, "{\"metadata\":{\"resourceVersion\":\"9\"},\"n\":\"[d@9]\"}");
	event(r, K8S_ADDED, "e", "21");
	assert_string_equal(l.last, "{\"metadata\":{\"resourceVersion\":\"21\"},\"n\":\"[e@21]\"}");
	assert_int_equal(k8s_reflector_count(r), 4);
	k8s_reflector_free(r);
}

/* No memory for a text: the LIST starts again, an event is not taken (the watch resumes before it).
 */
static void test_reflector_text_fails(void **state)
{
	struct log l = {.fail_at = 3};
	struct k8s_reflector *r = k8s_reflector_new(&text_ops, &l, 7);

	page(r, "10", "t1", "a:1 b:2");
	assert_int_equal(page_try(r, "10", NULL, "c:3"), -ENOMEM);
	k8s_reflector_failed(r, 0);
	assert_string_equal(l.text, "");
	assert_false(k8s_reflector_synced(r));
	expect_wait(r, 100, 200);
	expect_next(r, K8S_DO_LIST, NULL);
	page(r, "10", NULL, "a:1 b:2 c:3");
	assert_string_equal(l.text, "+default/a@1 +default/b@2 +default/c@3 ");
	expect_next(r, K8S_DO_WATCH, "10");
	/* An ADDED and a MODIFIED that fail leave the copy and the resume point as they were. */
	l.text[0] = '\0';
	l.fail_at = l.texts + 1;
	assert_int_equal(event_try(r, K8S_ADDED, "d", "11"), -ENOMEM);
	l.fail_at = l.texts + 1;
	assert_int_equal(event_try(r, K8S_MODIFIED, "a", "12"), -ENOMEM);
	assert_string_equal(l.text, "");
	assert_int_equal(k8s_reflector_count(r), 3);
	k8s_reflector_failed(r, 0);
	expect_wait(r, 100, 200);
	expect_next(r, K8S_DO_WATCH, "10");
	event(r, K8S_ADDED, "d", "11");
	event(r, K8S_MODIFIED, "a", "12");
	assert_string_equal(l.text, "+default/d@11 +default/a@12 ");
	assert_int_equal(k8s_reflector_count(r), 4);
	expect_next(r, K8S_DO_WATCH, "12");
	k8s_reflector_free(r);
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
	    cmocka_unit_test(test_reflector_list_watch_relist),
	    cmocka_unit_test(test_reflector_backoff),
	    cmocka_unit_test(test_reflector_text),
	    cmocka_unit_test(test_reflector_text_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
