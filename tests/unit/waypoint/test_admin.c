// SPDX-License-Identifier: Apache-2.0
/*
 * The waypoint's admin listener in a netns of its own (unshare: the process leaves the host's
 * network, so its ports are the test's): on any address, as the waypoint's 15020 default is,
 * it answers /stats/prometheus over IPv6 ([::1]) and IPv4 (127.0.0.1) alike, "[::]:port" the
 * same; an --admin of one address ("[::1]:port", "127.0.0.1:port", parsed as main parses it)
 * answers in that family alone; a port already taken is EADDRINUSE, not a silent IPv4 fallback;
 * readiness alone on 15021 too, as Envoy's listener on Istio's proxies.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "../../../waypoint/admin.h"
#include "net/sock.h"
#include "../../../waypoint/stats.h"
#include "../../lib/harness.h"

struct body {
	char buf[16384];
	size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t k = size * n;

	if (k > sizeof(b->buf) - 1 - b->len)
		k = sizeof(b->buf) - 1 - b->len;
	memcpy(b->buf + b->len, p, k);
	b->len += k;
	b->buf[b->len] = 0;
	return size * n;
}

/* GET @url into @b: the status code, or -1 when nobody answers there. */
static long fetch(const char *url, struct body *b)
{
	CURL *c = curl_easy_init();
	long code = -1;

	assert_non_null(c);
	b->len = 0;
	b->buf[0] = 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	return code;
}

/* The metrics page at @url: 200, with the pool counters and the process metrics in it. */
static void assert_metrics(const char *url)
{
	struct body b;

	assert_int_equal(fetch(url, &b), 200);
	assert_non_null(strstr(b.buf, "ambit_waypoint_upstream_cx_stale_total 0\n"));
	assert_non_null(strstr(b.buf, "istio_build{component=\"proxy\""));
}

static struct wp_admin *start(const char *authority, struct wp_stats *const *stores)
{
	union sockaddr_inet at;

	assert_int_equal(sock_parse_authority(authority, &at), 0);
	return wp_admin_start(&at, stores, 1);
}

static void test_any_both_families(void **state)
{
	struct wp_stats *st = wp_stats_new();
	union sockaddr_inet at;
	struct wp_admin *a;
	struct body b;

	assert_non_null(st);
	/* The waypoint's default when --admin is not given. */
	sockaddr_inet_v4(&at, htonl(INADDR_ANY), 15020);
	a = wp_admin_start(&at, &st, 1);
	assert_non_null(a);
	assert_metrics("http://[::1]:15020/stats/prometheus");
	assert_metrics("http://127.0.0.1:15020/stats/prometheus");
	assert_int_equal(fetch("http://[::1]:15020/healthz/ready", &b), 200);
	wp_admin_draining(a);
	assert_int_equal(fetch("http://127.0.0.1:15020/healthz/ready", &b), 503);
	wp_admin_stop(a);
	/* Gone with its daemon: the port is free again. */
	assert_int_equal(fetch("http://127.0.0.1:15020/healthz/ready", &b), -1);

	a = start("[::]:15020", &st);
	assert_non_null(a);
	assert_metrics("http://[::1]:15020/metrics");
	assert_metrics("http://127.0.0.1:15020/metrics");
	wp_admin_stop(a);
	wp_stats_free(st);
}

static void test_one_address(void **state)
{
	struct wp_stats *st = wp_stats_new();
	union sockaddr_inet at;
	struct wp_admin *a;
	struct body b;

	assert_non_null(st);
	/* --admin [::1]:15021: main's parse; IPv6 alone, not its mapped IPv4. */
	assert_int_equal(sock_parse_authority("[::1]:15021", &at), 0);
	assert_int_equal(at.sa.sa_family, AF_INET6);
	assert_int_equal(sockaddr_inet_port(&at), 15021);
	a = wp_admin_start(&at, &st, 1);
	assert_non_null(a);
	assert_metrics("http://[::1]:15021/stats/prometheus");
	assert_int_equal(fetch("http://127.0.0.1:15021/stats/prometheus", &b), -1);
	wp_admin_stop(a);

	a = start("127.0.0.1:15022", &st);
	assert_non_null(a);
	assert_metrics("http://127.0.0.1:15022/stats/prometheus");
	assert_int_equal(fetch("http://[::1]:15022/stats/prometheus", &b), -1);
	wp_admin_stop(a);
	/* What main refuses as a bad --admin. */
	assert_int_equal(sock_parse_authority("::1:15021", &at), -EINVAL);
	assert_int_equal(sock_parse_authority("[::1]", &at), -EINVAL);
	assert_int_equal(sock_parse_authority("[::1]:0", &at), -EINVAL);
	wp_stats_free(st);
}

/*
 * Readiness on 15021 too, as Envoy's listener on Istio's proxies (their Service's status-port
 * targets it): /healthz/ready alone, in both families, 503 once draining, gone with the admin.
 */
static void test_ready_port(void **state)
{
	struct wp_stats *st = wp_stats_new();
	union sockaddr_inet at;
	struct wp_admin *a;
	struct body b;

	assert_non_null(st);
	sockaddr_inet_v4(&at, htonl(INADDR_ANY), 15020);
	a = wp_admin_start(&at, &st, 1);
	assert_non_null(a);
	assert_int_equal(fetch("http://127.0.0.1:15021/healthz/ready", &b), -1);
	assert_int_equal(wp_admin_ready_listen(a, 15021), 0);
	assert_int_equal(wp_admin_ready_listen(a, 15021), -EALREADY);
	assert_int_equal(fetch("http://127.0.0.1:15021/healthz/ready", &b), 200);
	assert_int_equal(fetch("http://[::1]:15021/healthz/ready", &b), 200);
	assert_int_equal(fetch("http://127.0.0.1:15021/stats/prometheus", &b), 404);
	wp_admin_draining(a);
	assert_int_equal(fetch("http://[::1]:15021/healthz/ready", &b), 503);
	wp_admin_stop(a);
	assert_int_equal(fetch("http://127.0.0.1:15021/healthz/ready", &b), -1);
	wp_stats_free(st);
}

/* A port taken in either family: the error, not a listener on 0.0.0.0 alone. */
static void test_port_taken(void **state)
{
	union sockaddr_inet at;
	struct wp_admin *a;
	int fd, e;

	assert_int_equal(sock_parse_authority("127.0.0.1:15023", &at), 0);
	fd = sock_listen_at(&at, false);
	assert_true(fd >= 0);
	sockaddr_inet_v4(&at, htonl(INADDR_ANY), 15023);
	a = wp_admin_start(&at, NULL, 0);
	e = errno;
	close(fd);
	if (a)
		wp_admin_stop(a);
	assert_null(a);
	assert_int_equal(e, EADDRINUSE);
}

static int setup(void **state)
{
	if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
		fprintf(stderr, "test_admin needs root (unshare CLONE_NEWNET)\n");
		return -1;
	}
	harness_link_up_lo();
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int teardown(void **state)
{
	curl_global_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_any_both_families),
	    cmocka_unit_test(test_one_address),
	    cmocka_unit_test(test_ready_port),
	    cmocka_unit_test(test_port_taken),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
