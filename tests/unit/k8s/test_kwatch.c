// SPDX-License-Identifier: Apache-2.0
/*
 * Kubernetes resources kept in sync (userspace/k8s/kwatch.h) against the test API server
 * (tests/k8s/fake_apiserver.py, the real protocol): a node's pods listed then watched
 * (fieldSelector), a pod created and deleted through the API seen as upsert and remove, an API
 * server that drops every watch and compacts its history (the watch comes back, 410, lists
 * again) without a spurious change, and a wrong token named in the last error; the text each
 * change carries (the object, with its kind when a LIST's item lacks it).
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include <cmocka.h>

#include "../../lib/fake_api.h"
#include "k8s/kconn.h"
#include "k8s/kwatch.h"

static struct fake_api fa;

static int api(const char *method, const char *path, const char *body)
{
	return fake_api_call(&fa, method, path, body, NULL);
}

static int setup(void **state)
{
	return fake_api_start(&fa, 20000 + (int)(getpid() % 20000), "t0k");
}

static int teardown(void **state)
{
	fake_api_stop(&fa);
	return 0;
}

static const char *pod(const char *name, const char *node)
{
	static char b[512];

	snprintf(b, sizeof(b),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
		 "\"namespace\":\"shop\",\"labels\":{\"app\":\"x\"}},\"spec\":{\"nodeName\":\"%s\","
		 "\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}",
		 name, node);
	return b;
}

struct seen {
	char text[4096];
	bool synced;
	struct {
		char key[64], json[1024];
	} up[8]; /* the first upserts' texts */
	size_t n_up;
};

/* The text of @s's upsert of @key. */
static const char *json_of(const struct seen *s, const char *key)
{
	for (size_t i = 0; i < s->n_up; i++)
		if (!strcmp(s->up[i].key, key))
			return s->up[i].json;
	fail_msg("no upsert of %s", key);
	return NULL;
}

/* @text is @obj's (a Pod named @name) as cJSON prints it, with the kind and apiVersion. */
static void expect_pod_text(const char *text, const char *name)
{
	cJSON *o = cJSON_Parse(text);
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
	char *again = cJSON_PrintUnformatted(o);

	assert_non_null(o);
	assert_string_equal(again, text);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "kind")->valuestring, "Pod");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "apiVersion")->valuestring, "v1");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(md, "name")->valuestring, name);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(md, "namespace")->valuestring, "shop");
	free(again);
	cJSON_Delete(o);
}

/* Takes changes for up to @ms, into @s ("+key " / "-key "). */
static void collect(struct kwatch *w, struct seen *s, int ms, const char *until)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = {kwatch_fd(w), POLLIN, 0};
		struct kwatch_change *c;
		size_t n;

		poll(&p, 1, 50);
		n = kwatch_take(w, &c);
		for (size_t i = 0; i < n; i++) {
			size_t l = strlen(s->text);

			if (c[i].what == KWATCH_SYNCED)
				s->synced = true;
			else
				snprintf(s->text + l, sizeof(s->text) - l, "%c%s ",
					 c[i].what == KWATCH_UPSERT ? '+' : '-', c[i].key);
			if (c[i].what == KWATCH_UPSERT && s->n_up < 8) {
				snprintf(s->up[s->n_up].key, sizeof(s->up[0].key), "%s", c[i].key);
				snprintf(s->up[s->n_up++].json, sizeof(s->up[0].json), "%s",
					 c[i].json);
			}
		}
		kwatch_changes_free(c, n);
		if (until && strstr(s->text, until))
			return;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= ms)
			return;
	}
}

static void test_list_watch(void **state)
{
	struct kwatch_res res[] = {
	    {"pods", "/api/v1/pods", "spec.nodeName=node1", NULL, "v1", "Pod"}};
	struct kconn c = {.server = fa.base, .token = "t0k"};
	struct seen s = {.synced = false};
	struct kwatch *w;

	assert_int_equal(
	    api("POST", "/api/v1/namespaces",
		"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"shop\"}}"),
	    201);
	assert_int_equal(api("POST", "/api/v1/namespaces/shop/pods", pod("a", "node1")), 201);
	assert_int_equal(api("POST", "/api/v1/namespaces/shop/pods", pod("b", "node2")), 201);
	w = kwatch_start(&c, res, 1, 2);
	assert_non_null(w);
	collect(w, &s, 5000, "+shop/a ");
	/* SYNCED is queued after the list's last object: it may come in a later take. */
	for (int i = 0; i < 100 && !s.synced; i++)
		collect(w, &s, 50, NULL);
	assert_true(s.synced);
	assert_string_equal(s.text, "+shop/a ");
	expect_pod_text(json_of(&s, "shop/a"), "a");
	/* Made and removed through the API: seen, and only this node's. */
	assert_int_equal(api("POST", "/api/v1/namespaces/shop/pods", pod("c", "node1")), 201);
	assert_int_equal(api("POST", "/api/v1/namespaces/shop/pods", pod("d", "node2")), 201);
	collect(w, &s, 5000, "+shop/c ");
	expect_pod_text(json_of(&s, "shop/c"), "c");
	assert_int_equal(api("DELETE", "/api/v1/namespaces/shop/pods/a", NULL), 200);
	collect(w, &s, 5000, "-shop/a ");
	assert_string_equal(s.text, "+shop/a +shop/c -shop/a ");
	/* The server loses every watch and its history: 410, a new LIST, nothing spurious. */
	assert_int_equal(api("POST", "/_fake/compact", NULL), 200);
	assert_int_equal(api("POST", "/_fake/close-watches", NULL), 200);
	assert_int_equal(api("POST", "/api/v1/namespaces/shop/pods", pod("e", "node1")), 201);
	collect(w, &s, 8000, "+shop/e ");
	collect(w, &s, 500, NULL);
	assert_string_equal(s.text, "+shop/a +shop/c -shop/a +shop/e ");
	kwatch_stop(w);
}

static void test_bad_token(void **state)
{
	struct kwatch_res res[] = {{"pods", "/api/v1/pods", NULL, NULL, NULL, NULL}};
	struct kconn c = {.server = fa.base, .token = "wrong"};
	struct seen s = {.synced = false};
	struct kwatch *w = kwatch_start(&c, res, 1, 2);
	char err[256] = "";

	assert_non_null(w);
	for (int i = 0; i < 50 && !err[0]; i++) {
		collect(w, &s, 100, NULL);
		kwatch_last_error(w, 0, err, sizeof(err));
	}
	assert_false(s.synced);
	if (!strstr(err, "HTTP 401"))
		fail_msg("last error: %s", err);
	kwatch_stop(w);
}

/*
 * A kind the server does not serve (a CRD not installed): no objects, a complete copy, so the
 * agent is not held back; the error says so.
 */
static void test_not_served(void **state)
{
	struct kwatch_res res[] = {
	    {"widgets", "/apis/example.com/v1/widgets", NULL, NULL, "example.com/v1", "Widget"}};
	struct kconn c = {.server = fa.base, .token = "t0k"};
	struct seen s = {.synced = false};
	struct kwatch *w = kwatch_start(&c, res, 1, 2);
	char err[256] = "";

	assert_non_null(w);
	for (int i = 0; i < 50 && !s.synced; i++)
		collect(w, &s, 100, NULL);
	assert_true(s.synced);
	assert_string_equal(s.text, "");
	kwatch_last_error(w, 0, err, sizeof(err));
	if (!strstr(err, "is not served (404)"))
		fail_msg("last error: %s", err);
	kwatch_stop(w);
}

/* What a copy of @obj with @api_version and @kind set last prints (the text kwatch makes). */
static char *with_kind(const char *obj, const char *api_version, const char *kind)
{
	cJSON *o = cJSON_Parse(obj);
	char *t;

	cJSON_DeleteItemFromObjectCaseSensitive(o, "apiVersion");
	cJSON_DeleteItemFromObjectCaseSensitive(o, "kind");
	cJSON_AddStringToObject(o, "apiVersion", api_version);
	cJSON_AddStringToObject(o, "kind", kind);
	t = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return t;
}

static void expect_text(const struct kwatch_res *res, const char *obj, const char *want)
{
	cJSON *o = cJSON_Parse(obj);
	char *t = kwatch_object_text(res, o);

	assert_non_null(t);
	assert_string_equal(t, want);
	free(t);
	cJSON_Delete(o);
}

/*
 * The text of a change: a LIST item of a built-in kind (no apiVersion, no kind) gets the
 * resource's, written after the printed object, the same text as a copy with them added
 * printed; an object with both is printed as served.
 */
static void test_object_text(void **state)
{
	static const char *const objs[] = {
	    "{\"metadata\":{\"name\":\"a\",\"namespace\":\"shop\",\"resourceVersion\":\"7\"},"
	    "\"spec\":{\"nodeName\":\"n\\u00e9\\\"1\",\"x\":[1,2.5,true,null,{}]}}",
	    "{}",
	    "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}}",
	    "{\"metadata\":{\"name\":\"a\"},\"apiVersion\":\"v0\"}",
	};
	struct kwatch_res pods = {"pods", "/api/v1/pods", NULL, NULL, "v1", "Pod"};
	struct kwatch_res odd = {"x", "/apis/x", NULL, NULL, "x.io/\"v1\"", "Odd\\Kind"};
	struct kwatch_res served = {"x", "/apis/x", NULL, NULL, NULL, NULL};
	const char both[] =
	    "{\"apiVersion\":\"v2\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}}";

	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
		char *want = with_kind(objs[i], pods.api_version, pods.kind);

		expect_text(&pods, objs[i], want);
		free(want);
		want = with_kind(objs[i], odd.api_version, odd.kind);
		expect_text(&odd, objs[i], want);
		free(want);
	}
	expect_text(&pods, "{}", "{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}");
	expect_text(&pods, "{\"metadata\":{}}",
		    "{\"metadata\":{},\"apiVersion\":\"v1\",\"kind\":\"Pod\"}");
	expect_text(&pods, both, both);
	expect_text(&served, objs[2], objs[2]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_object_text),
	    cmocka_unit_test(test_list_watch),
	    cmocka_unit_test(test_bad_token),
	    cmocka_unit_test(test_not_served),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
