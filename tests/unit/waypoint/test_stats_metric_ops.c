// SPDX-License-Identifier: Apache-2.0
/*
 * Telemetry's metrics overrides in the waypoint's metrics (waypoint/stats.c): a disabled
 * metric is not rendered, a removed tag is gone and the series it told apart merge, an upserted
 * tag is set or added; per metric when the overrides name one, so the request metrics may each
 * have their own label set; TCP series likewise. The clusters of a series: the record's (a
 * client's baggage may name its own: k8s.cluster.name), SNAP_CLUSTER_ID when it names none.
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
#include "ambit/snapshot.h"
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

/*
 * A client its ztunnel's baggage describes is in the cluster the baggage names
 * (k8s.cluster.name), when the baggage is the client's at all (its identity's namespace); else
 * it keeps the cluster the caller gave (the generation's). A record naming none renders
 * SNAP_CLUSTER_ID, never "(null)".
 */
static void test_clusters(void **state)
{
	static const char remote[] = "k8s.cluster.name=cluster2,k8s.namespace.name=shop,"
				     "k8s.deployment.name=remote,service.name=remote";
	struct wp_stats *s = wp_stats_new();
	struct wp_stats *stores[1] = {s};
	struct wp_baggage_labels bag;
	struct wp_record r = {.status = 200, .grpc_status = -1};
	struct wp_tcp_series *x;
	char *text;

	wp_stats_count(s, &r);
	text = wp_stats_render(stores, 1);
	assert_non_null(text);
	assert_int_equal(
	    lines(text, "istio_requests_total", "source_cluster=\"" SNAP_CLUSTER_ID "\"", NULL), 1);
	assert_int_equal(lines(text, "istio_requests_total",
			       "destination_cluster=\"" SNAP_CLUSTER_ID "\"", NULL),
			 1);
	assert_null(strstr(text, "(null)"));
	free(text);

	r.source_cluster = r.destination_cluster = "cluster1";
	assert_true(wp_record_source_baggage(&r, remote, "shop", &bag));
	assert_string_equal(r.source_workload, "remote");
	assert_string_equal(r.source_cluster, "cluster2");
	r.status = 201;
	wp_stats_count(s, &r);
	x = wp_stats_tcp_open(s, &r);
	assert_non_null(x);
	text = wp_stats_render(stores, 1);
	assert_int_equal(lines(text, "istio_requests_total",
			       "source_cluster=\"cluster2\",destination_workload", NULL),
			 1);
	assert_int_equal(
	    lines(text, "istio_requests_total", "destination_cluster=\"cluster1\"", NULL), 1);
	assert_int_equal(
	    lines(text, "istio_tcp_connections_opened_total", "source_cluster=\"cluster2\"", NULL),
	    1);
	assert_int_equal(lines(text, "istio_tcp_connections_opened_total",
			       "destination_cluster=\"cluster1\"", NULL),
			 1);
	free(text);

	/* Without k8s.cluster.name: the caller's cluster. */
	r.source_cluster = "cluster1";
	assert_true(wp_record_source_baggage(
	    &r, "k8s.namespace.name=shop,k8s.deployment.name=local", "shop", &bag));
	assert_string_equal(r.source_workload, "local");
	assert_string_equal(r.source_cluster, "cluster1");
	/* Another namespace's baggage is not the client's: nothing of it is taken. */
	assert_false(wp_record_source_baggage(&r, remote, "other", &bag));
	assert_string_equal(r.source_workload, "local");
	assert_string_equal(r.source_cluster, "cluster1");
	wp_stats_tcp_close(s, x);
	wp_stats_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_overrides),
	    cmocka_unit_test(test_tcp_overrides),
	    cmocka_unit_test(test_clusters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
