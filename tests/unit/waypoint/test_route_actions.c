// SPDX-License-Identifier: Apache-2.0
/*
 * The waypoint's per-request decisions: retryOn classification of responses and failures
 * (Envoy's rules), the jittered exponential backoff, fault delay/abort draws in parts per
 * million, header operations, path rewrites (prefix, full, regex with groups), redirect
 * locations, and the local reply table with its gRPC mapping.
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

#include "ambit/l7.h"
#include "../../../waypoint/fault.h"
#include "../../../waypoint/headers.h"
#include "../../../waypoint/reply.h"
#include "../../../waypoint/retry.h"
#include "../../../waypoint/rewrite.h"

static bool wanted(uint32_t on, enum wp_failure f, int status, int grpc)
{
	uint16_t codes[] = {418};
	struct l7_retry r = {.attempts = 2, .retry_on = on, .n_codes = 1, .codes = codes};
	struct wp_attempt a = {.failure = f, .status = status, .grpc_status = grpc};

	return wp_retry_wanted(&r, &a);
}

static void test_retry_on(void **state)
{
	struct l7_retry def;
	struct wp_attempt a = {.status = 503, .grpc_status = -1};

	assert_true(wanted(L7_RETRY_5XX, WP_FAIL_NONE, 500, -1));
	assert_false(wanted(L7_RETRY_5XX, WP_FAIL_NONE, 404, -1));
	assert_true(wanted(L7_RETRY_5XX, WP_FAIL_RESET, 0, -1));
	assert_true(wanted(L7_RETRY_5XX, WP_FAIL_PER_TRY_TIMEOUT, 0, -1));
	assert_true(wanted(L7_RETRY_GATEWAY_ERROR, WP_FAIL_NONE, 504, -1));
	assert_false(wanted(L7_RETRY_GATEWAY_ERROR, WP_FAIL_NONE, 500, -1));
	assert_true(wanted(L7_RETRY_CONNECT_FAILURE, WP_FAIL_CONNECT, 0, -1));
	/* A reset is not a 503, and connect-failure does not cover it. */
	assert_false(wanted(L7_RETRY_CONNECT_FAILURE, WP_FAIL_RESET, 0, -1));
	assert_false(wanted(L7_RETRY_CONNECT_FAILURE, WP_FAIL_NONE, 503, -1));
	assert_true(wanted(L7_RETRY_REFUSED_STREAM, WP_FAIL_REFUSED_STREAM, 0, -1));
	assert_false(wanted(L7_RETRY_REFUSED_STREAM, WP_FAIL_CONNECT, 0, -1));
	assert_true(wanted(L7_RETRY_RESET, WP_FAIL_RESET, 0, -1));
	assert_true(wanted(L7_RETRY_RESET_BEFORE_REQUEST, WP_FAIL_RESET_BEFORE_SEND, 0, -1));
	assert_false(wanted(L7_RETRY_RESET_BEFORE_REQUEST, WP_FAIL_RESET, 0, -1));
	assert_true(wanted(L7_RETRY_RETRIABLE_4XX, WP_FAIL_NONE, 409, -1));
	assert_false(wanted(L7_RETRY_RETRIABLE_4XX, WP_FAIL_NONE, 408, -1));
	assert_true(wanted(L7_RETRY_RETRIABLE_STATUS_CODES, WP_FAIL_NONE, 418, -1));
	assert_false(wanted(L7_RETRY_RETRIABLE_STATUS_CODES, WP_FAIL_NONE, 503, -1));
	assert_true(wanted(L7_RETRY_GRPC_UNAVAILABLE, WP_FAIL_NONE, 200, 14));
	assert_false(wanted(L7_RETRY_GRPC_UNAVAILABLE, WP_FAIL_NONE, 200, 13));
	/* Overflow is never retried. */
	assert_false(wanted(L7_RETRY_5XX | L7_RETRY_RESET, WP_FAIL_OVERFLOW, 0, -1));
	/* x-envoy-overloaded answers are not retried either. */
	a.overloaded = true;
	def = (struct l7_retry){.retry_on = L7_RETRY_5XX};
	assert_false(wp_retry_wanted(&def, &a));
	/* Istio's default policy: connect failures and refused streams, not 503s. */
	l7_default_retry(&def);
	a.overloaded = false;
	assert_false(wp_retry_wanted(&def, &a));
	a.failure = WP_FAIL_CONNECT;
	assert_true(wp_retry_wanted(&def, &a));
	/* retryOn parsing: status codes imply retriable-status-codes. */
	memset(&def, 0, sizeof(def));
	assert_int_equal(l7_parse_retry_on("gateway-error, 429,reset", &def), 0);
	assert_int_equal(def.retry_on,
			 L7_RETRY_GATEWAY_ERROR | L7_RETRY_RESET | L7_RETRY_RETRIABLE_STATUS_CODES);
	assert_int_equal(def.n_codes, 1);
	assert_int_equal(def.codes[0], 429);
	free(def.codes);
}

static void test_backoff(void **state)
{
	const uint64_t want[] = {24, 49, 99, 199, 249, 249};
	struct l7_retry r = {0};
	struct wp_backoff b;

	/* Envoy's defaults: 25 ms base, 250 ms max; intervals 25, 50, 100, 200, then 250. */
	wp_backoff_init(&b, &r);
	assert_int_equal(b.base_ms, 25);
	assert_int_equal(b.max_ms, 250);
	for (int i = 0; i < 6; i++)
		assert_int_equal(wp_backoff_next(&b, 999999), want[i]); /* draw % interval */
	/* Jitter: the wait is the draw modulo the interval. */
	wp_backoff_init(&b, &r);
	assert_int_equal(wp_backoff_next(&b, 30), 5);	/* 30 % 25 */
	assert_int_equal(wp_backoff_next(&b, 130), 30); /* 130 % 50 */
	assert_int_equal(wp_backoff_next(&b, 99), 99);	/* 99 % 100 */
	/* A configured base: max is 10 x base. */
	r.backoff_base_ms = 100;
	r.backoff_max_ms = 1000;
	wp_backoff_init(&b, &r);
	for (int i = 0; i < 3; i++)
		wp_backoff_next(&b, 0); /* intervals 100, 200, 400 */
	assert_int_equal(b.next_ms, 800);
	assert_int_equal(wp_backoff_next(&b, 1599), 799);
	assert_int_equal(b.next_ms, 1000); /* 800 >= max / 2: capped */
	assert_int_equal(wp_backoff_next(&b, 1999), 999);
}

static void test_fault(void **state)
{
	struct l7_fault f = {.delay = true,
			     .delay_ms = 7000,
			     .delay_ppm = 500000,
			     .abort = true,
			     .abort_http = 503,
			     .abort_grpc = -1,
			     .abort_ppm = 100000};
	struct wp_fault_decision d;
	size_t delayed = 0, aborted = 0;

	/* Independent draws, each under its share of a million. */
	for (uint64_t i = 0; i < 1000000; i += 10) {
		wp_fault_decide(&f, i, 999999 - i, &d);
		delayed += d.delay_ms == 7000;
		aborted += d.abort;
	}
	assert_int_equal(delayed, 50000);
	assert_int_equal(aborted, 10000);
	wp_fault_decide(&f, 499999, 99999, &d);
	assert_true(d.delay_ms == 7000 && d.abort && d.http_status == 503);
	wp_fault_decide(&f, 500000, 100000, &d);
	assert_true(d.delay_ms == 0 && !d.abort);
	/* gRPC aborts carry the gRPC status. */
	f.abort_grpc = 14;
	f.abort_ppm = 1000000;
	wp_fault_decide(&f, 0, 123, &d);
	assert_true(d.abort && d.http_status == 0 && d.grpc_status == 14);
	/* 0 ppm (no percentage): never. */
	f.delay_ppm = f.abort_ppm = 0;
	wp_fault_decide(&f, 0, 0, &d);
	assert_true(!d.delay_ms && !d.abort);
}

static void test_headers(void **state)
{
	struct http_fields h = {0};
	struct config_label set[] = {{"X-A", "route"}, {"host", "new.example"}};
	struct config_label add[] = {{"x-b", "2"}};
	char *rm[] = {"x-c"};
	struct config_header_ops route = {.set = {2, set}, .add = {1, add}, .remove = {1, rm}};
	struct config_label dset[] = {{"x-a", "dest"}};
	struct config_header_ops dest = {.set = {1, dset}};
	char *authority = (char *)"old"; /* a new one lives in the fields' arena */

	assert_int_equal(http_fields_add(&h, "x-a", "client"), 0);
	assert_int_equal(http_fields_add(&h, "X-A", "client2"), 0);
	assert_int_equal(http_fields_add(&h, "x-b", "1"), 0);
	assert_int_equal(http_fields_add(&h, "X-C", "gone"), 0);
	assert_int_equal(wp_headers_apply(&h, &route, &authority), 0);
	/* set replaces every value, add appends one, remove takes all, any case. */
	assert_int_equal(http_fields_count(&h, "x-a"), 1);
	assert_string_equal(http_fields_get(&h, "x-a"), "route");
	assert_int_equal(http_fields_count(&h, "x-b"), 2);
	assert_null(http_fields_get(&h, "x-c"));
	assert_string_equal(authority, "new.example");
	/* The destination's operations come after the route's: its set wins. */
	assert_int_equal(wp_headers_apply(&h, &dest, &authority), 0);
	assert_string_equal(http_fields_get(&h, "X-A"), "dest");
	http_fields_free(&h);
}

static void test_rewrite(void **state)
{
	struct l7_route r = {0};
	struct l7_match prefix = {.path = {.type = L7_MATCH_PREFIX, .value = "/foo"}};
	struct l7_match seg = {.path = {.type = L7_MATCH_PATH_PREFIX, .value = "/foo"}};
	char *s;

	r.rewrite.prefix = "/bar";
	s = wp_rewrite_path(&r, &prefix, "/foo/x?q=1");
	assert_string_equal(s, "/bar/x?q=1");
	free(s);
	/* Gateway API: "/" as the new prefix does not double the slash. */
	r.rewrite.prefix = "/";
	s = wp_rewrite_path(&r, &seg, "/foo/x");
	assert_string_equal(s, "/x");
	free(s);
	s = wp_rewrite_path(&r, &seg, "/foo");
	assert_string_equal(s, "/");
	free(s);
	r.rewrite.prefix = NULL;
	r.rewrite.path = "/new";
	s = wp_rewrite_path(&r, NULL, "/old/path?keep=1");
	assert_string_equal(s, "/new?keep=1");
	free(s);
	r.rewrite.path = NULL;
	r.rewrite.regex = "^/api/v([0-9])/(.*)$";
	r.rewrite.regex_sub = "/\\2/version/\\1";
	s = wp_rewrite_path(&r, NULL, "/api/v2/items?x=1");
	assert_string_equal(s, "/items/version/2?x=1");
	free(s);
}

static void test_redirect(void **state)
{
	struct l7_route r = {.action = L7_ACTION_REDIRECT};
	struct l7_match prefix = {.path = {.type = L7_MATCH_PREFIX, .value = "/old"}};
	char *s;

	r.redirect = (struct l7_redirect){.path = "/new", .code = 301, .keep_query = true};
	s = wp_redirect_location(&r, NULL, "http", "shop:8080", "/x?a=1", 8080);
	assert_string_equal(s, "http://shop:8080/new?a=1");
	free(s);
	/* A scheme change drops the old scheme's port. */
	r.redirect = (struct l7_redirect){.scheme = "https", .code = 301, .keep_query = true};
	s = wp_redirect_location(&r, NULL, "http", "shop:8080", "/x", 8080);
	assert_string_equal(s, "https://shop/x");
	free(s);
	r.redirect = (struct l7_redirect){.host = "other",
					  .prefix = "/new",
					  .derive_port = CONFIG_DERIVE_PORT_REQUEST,
					  .code = 302,
					  .keep_query = true};
	s = wp_redirect_location(&r, &prefix, "http", "shop", "/old/y", 9080);
	assert_string_equal(s, "http://other:9080/new/y");
	free(s);
	r.redirect = (struct l7_redirect){.port = 443, .scheme = "https", .code = 301};
	s = wp_redirect_location(&r, NULL, "http", "shop", "/z?q", 80);
	assert_string_equal(s, "https://shop/z");
	free(s);
}

static void test_replies(void **state)
{
	assert_int_equal(wp_reply(WP_REPLY_NO_ROUTE)->status, 404);
	assert_string_equal(wp_reply(WP_REPLY_NO_ROUTE)->flag, "NR");
	assert_int_equal(wp_reply(WP_REPLY_NO_HEALTHY)->status, 503);
	assert_string_equal(wp_reply(WP_REPLY_NO_HEALTHY)->body, "no healthy upstream");
	assert_string_equal(wp_reply(WP_REPLY_FAULT_ABORT)->body, "fault filter abort");
	assert_string_equal(wp_reply(WP_REPLY_FAULT_ABORT)->flag, "FI");
	assert_string_equal(wp_reply(WP_REPLY_FAULT_DELAY)->flag, "DI");
	assert_int_equal(wp_reply(WP_REPLY_TIMEOUT)->status, 504);
	assert_string_equal(wp_reply(WP_REPLY_TIMEOUT)->body, "upstream request timeout");
	assert_true(wp_reply(WP_REPLY_OVERFLOW)->overloaded);
	assert_string_equal(wp_reply(WP_REPLY_OVERFLOW)->flag, "UO");
	assert_string_equal(wp_reply(WP_REPLY_CONNECT_FAILURE)->flag, "UF");
	assert_string_equal(wp_reply(WP_REPLY_RETRY_LIMIT)->flag, "URX");
	assert_string_equal(wp_reply(WP_REPLY_DOWNSTREAM_CLOSED)->flag, "DC");
	assert_int_equal(wp_grpc_status_of_http(503), 14);
	assert_int_equal(wp_grpc_status_of_http(404), 12);
	assert_int_equal(wp_grpc_status_of_http(418), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_retry_on), cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_fault),    cmocka_unit_test(test_headers),
	    cmocka_unit_test(test_rewrite),  cmocka_unit_test(test_redirect),
	    cmocka_unit_test(test_replies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
