// SPDX-License-Identifier: Apache-2.0
/* Protocol detection (waypoint/detect.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "../../../waypoint/detect.h"

static enum wp_detect d(const char *s)
{
	return wp_detect(s, strlen(s));
}

/* Every prefix of a request is undecided until its request line is complete. */
static void test_prefixes(void **state)
{
	static const char *const full[] = {
	    "GET /productpage HTTP/1.1\r\nHost: productpage\r\n\r\n",
	    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\4\0\0\0\0\0",
	};
	const enum wp_detect want[] = {WP_DETECT_HTTP1, WP_DETECT_HTTP2};

	for (size_t k = 0; k < 2; k++) {
		size_t line = k ? 24 : strlen("GET /productpage HTTP/1.1\r\n");

		for (size_t n = 0; n < line; n++)
			assert_int_equal(wp_detect(full[k], n), WP_DETECT_MORE);
		assert_int_equal(wp_detect(full[k], line), want[k]);
	}
}

static void test_decisions(void **state)
{
	assert_int_equal(d("POST /reviews/0 HTTP/1.0\r\n"), WP_DETECT_HTTP1);
	assert_int_equal(d("OPTIONS * HTTP/1.1\r\n"), WP_DETECT_HTTP1);
	assert_int_equal(d("CUSTOM-VERB /x HTTP/1.1\r\n"), WP_DETECT_HTTP1);
	/* Not HTTP/1.x: TCP. */
	assert_int_equal(d("GET /x HTTP/2.0\r\n"), WP_DETECT_TCP);
	assert_int_equal(d("GET /x HTTP/1.1\n"), WP_DETECT_TCP);
	assert_int_equal(d("GET  /x"), WP_DETECT_TCP);
	assert_int_equal(d("\x16\x03\x01\x02\x00\x01"), WP_DETECT_TCP);
	assert_int_equal(d("SSH-2.0-OpenSSH_9.2\r\n"), WP_DETECT_TCP);
	assert_int_equal(d("PRI * HTTP/2.1"), WP_DETECT_TCP);
	assert_int_equal(d("*1\r\n$4\r\nPING\r\n"), WP_DETECT_TCP);
	/* A method token that never ends is not waited for. */
	assert_int_equal(d("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), WP_DETECT_TCP);
}

/* A request line longer than WP_DETECT_MAX is judged TCP, not waited on forever. */
static void test_bounded(void **state)
{
	static char buf[WP_DETECT_MAX + 16];

	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', sizeof(buf) - 5);
	assert_int_equal(wp_detect(buf, WP_DETECT_MAX - 1), WP_DETECT_MORE);
	assert_int_equal(wp_detect(buf, WP_DETECT_MAX), WP_DETECT_TCP);
}

static void test_declared(void **state)
{
	assert_int_equal(wp_detect_declared(L7_PROTO_UNKNOWN), WP_DETECT_MORE);
	assert_int_equal(wp_detect_declared(L7_PROTO_HTTP), WP_DETECT_MORE);
	assert_int_equal(wp_detect_declared(L7_PROTO_GRPC), WP_DETECT_HTTP2);
	assert_int_equal(wp_detect_declared(L7_PROTO_HTTP2), WP_DETECT_HTTP2);
	assert_int_equal(wp_detect_declared(L7_PROTO_TCP), WP_DETECT_TCP);
	assert_int_equal(wp_detect_declared(L7_PROTO_TLS), WP_DETECT_TCP);
	assert_int_equal(wp_detect_declared(L7_PROTO_MYSQL), WP_DETECT_TCP);
	assert_string_equal(wp_detect_name(WP_DETECT_HTTP2), "http/2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prefixes),
	    cmocka_unit_test(test_decisions),
	    cmocka_unit_test(test_bounded),
	    cmocka_unit_test(test_declared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
