// SPDX-License-Identifier: Apache-2.0
/*
 * Telemetry's metrics overrides in the waypoint's metrics (waypoint/stats.c): a disabled
 * metric is not rendered, a removed tag is gone and the series it told apart merge, an upserted
 * tag is set or added; per metric when the overrides name one, so the request metrics may each
 * have their own label set; TCP series likewise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ambit/l7.h"
#include "../../../waypoint/stats.h"

static size_t lines(const char *text, const char *metric, const char *has, const char *lacks)
{
	size_t n = 0;
	const char *p = text;

	while (p && *p) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char line[8192];

		snprintf(line, sizeof(line), "%.*s", (int)len, p);
		if (!strncmp(line, metric, strlen(metric)) && line[strlen(metric)] == '{' &&
		    (!has || strstr(line, has)) && (!lacks || !strstr(line, lacks)))
			n++;
		p = e ? e + 1 : NULL;
	}
	return n;
}

static void test_request_overrides(void **state)
{
	struct wp_stats *s = wp_stats_new();
	struct wp_tag_op ops[] = {
	    {L7_METRIC_ALL, "source_principal", NULL},
	    {L7_METRIC_REQUEST_COUNT, "team", "bookinfo"},
	    {L7_METRIC_REQUEST_COUNT, "response_code", "2xx"},
	};
	struct wp_metric_ops mo = {.off = L7_METRIC_REQUEST_SIZE, .n = 3, .ops = ops};
	struct wp_record r = {.status = 200,
			      .grpc_status = -1,
			      .source_workload = "productpage-v1",
			      .source_principal = "spiffe://cluster.local/ns/default/sa/a",
			      .destination_service = "reviews.default.svc.cluster.local",
			      .mo = &mo};
	struct wp_stats *stores[1] = {s};
	char *text;

	wp_stats_count(s, &r);
	r.source_principal = "spiffe://cluster.local/ns/default/sa/b"; /* removed: same series */
	wp_stats_count(s, &r);
	r.status = 201; /* response_code overridden to 2xx for the count only */
	wp_stats_count(s, &r);
	text = wp_stats_render(stores, 1);
	assert_non_null(text);
	/* The count: one series (principals gone, 200 and 201 both "2xx"), with team. */
	assert_int_equal(
	    lines(text, "istio_requests_total", "team=\"bookinfo\"", "source_principal"), 1);
	assert_non_null(strstr(text, "response_code=\"2xx\""));
	assert_non_null(strstr(text, ",team=\"bookinfo\"} 3\n"));
	/* The duration: its own label sets (no team; the codes apart), no principal. */
	assert_int_equal(lines(text, "istio_request_duration_milliseconds_count", NULL, "team"), 2);
	assert_int_equal(
	    lines(text, "istio_request_duration_milliseconds_count", "source_principal", NULL), 0);
	/* REQUEST_SIZE disabled; RESPONSE_SIZE there. */
	assert_int_equal(lines(text, "istio_request_bytes_count", NULL, NULL), 0);
	assert_int_equal(lines(text, "istio_response_bytes_count", NULL, NULL), 2);
	free(text);
	/* Without overrides, a request counts in Istio's full label set. */
	r.mo = NULL;
	wp_stats_count(s, &r);
	text = wp_stats_render(stores, 1);
	assert_int_equal(lines(text, "istio_requests_total", "source_principal", "team"), 1);
	assert_int_equal(lines(text, "istio_request_bytes_count", NULL, NULL), 1);
	free(text);
	wp_stats_free(s);
}

static void test_tcp_overrides(void **state)
{
	struct wp_stats *s = wp_stats_new();
	struct wp_tag_op ops[] = {{L7_METRIC_ALL, "destination_version", NULL}};
	struct wp_metric_ops mo = {
	    .off = L7_METRIC_TCP_SENT | L7_METRIC_TCP_RECEIVED, .n = 1, .ops = ops};
	struct wp_record r = {.grpc_status = -1, .destination_version = "v1", .mo = &mo};
	struct wp_stats *stores[1] = {s};
	struct wp_tcp_series *x;
	char *text;

	x = wp_stats_tcp_open(s, &r);
	assert_non_null(x);
	wp_stats_tcp_bytes(s, x, 10, 20);
	wp_stats_tcp_close(s, x);
	text = wp_stats_render(stores, 1);
	assert_int_equal(
	    lines(text, "istio_tcp_connections_opened_total", NULL, "destination_version"), 1);
	assert_int_equal(lines(text, "istio_tcp_connections_closed_total", NULL, NULL), 1);
	assert_int_equal(lines(text, "istio_tcp_sent_bytes_total", NULL, NULL), 0);
	assert_int_equal(lines(text, "istio_tcp_received_bytes_total", NULL, NULL), 0);
	free(text);
	/* Everything disabled: no series at all. */
	mo.off = L7_METRIC_ALL;
	assert_null(wp_stats_tcp_open(s, &r));
	wp_stats_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_overrides),
	    cmocka_unit_test(test_tcp_overrides),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
