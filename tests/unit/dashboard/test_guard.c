// SPDX-License-Identifier: Apache-2.0
/*
 * The dashboard's checks (userspace/dashboard/guard.c): the Host a browser names
 * (DNS rebinding), the media type of a POST to a receiver (a cross-origin text/plain form),
 * and which service names a pod may record spans under, by its address (a pod posing as
 * another's service), through the store as the receiver ingests a body.
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

#include "ambit/config.h"
#include "dashboard/dashboard.h"

static void test_host(void **state)
{
	const char *const allow[] = {"dash.example.com"};

	(void)state;
	assert_true(dash_host_ok("127.0.0.1:20001", NULL, 0));
	assert_true(dash_host_ok("127.0.0.1", NULL, 0));
	assert_true(dash_host_ok("localhost:20001", NULL, 0));
	assert_true(dash_host_ok("LocalHost.", NULL, 0));
	assert_true(dash_host_ok("[::1]:20001", NULL, 0));
	assert_true(dash_host_ok("[fd00:99::1]", NULL, 0));
	assert_true(dash_host_ok("192.0.2.7:8080", NULL, 0)); /* --address 0.0.0.0 */
	/* A name rebound to 127.0.0.1 by its owner's DNS: not this dashboard's. */
	assert_false(dash_host_ok("rebind.attacker.example:20001", NULL, 0));
	assert_false(dash_host_ok("127.0.0.1.attacker.example", NULL, 0));
	assert_false(dash_host_ok("localhost.attacker.example", NULL, 0));
	assert_false(dash_host_ok("dash.example.com:20001", NULL, 0));
	assert_true(dash_host_ok("dash.example.com:20001", allow, 1));
	assert_true(dash_host_ok("DASH.example.com", allow, 1));
	assert_false(dash_host_ok("x.dash.example.com", allow, 1));
	/* No Host, or not one. */
	assert_false(dash_host_ok(NULL, NULL, 0));
	assert_false(dash_host_ok("", NULL, 0));
	assert_false(dash_host_ok(":20001", NULL, 0));
	assert_false(dash_host_ok("[::1", NULL, 0));
	assert_false(dash_host_ok("[::1]x", NULL, 0));
	assert_false(dash_host_ok("[evil.example]", NULL, 0));
	assert_false(dash_host_ok("::1", NULL, 0));
}

static void test_receive_format(void **state)
{
	enum dash_trace_format f;
	const char *why = NULL;

	(void)state;
	/* What a page of another origin may POST without a preflight: refused (415). */
	assert_int_equal(dash_receive_format(false, "text/plain", &f, &why), -EPROTONOSUPPORT);
	assert_non_null(strstr(why, "application/json"));
	assert_int_equal(dash_receive_format(false, NULL, &f, &why), -EPROTONOSUPPORT);
	assert_int_equal(dash_receive_format(false, "application/x-www-form-urlencoded", &f, &why),
			 -EPROTONOSUPPORT);
	assert_int_equal(dash_receive_format(true, "text/plain;charset=UTF-8", &f, &why),
			 -EPROTONOSUPPORT);
	assert_int_equal(dash_receive_format(true, "multipart/form-data; boundary=x", &f, &why),
			 -EPROTONOSUPPORT);
	assert_int_equal(dash_receive_format(false, "application/jsonx", &f, &why),
			 -EPROTONOSUPPORT);
	/* Zipkin v2 JSON only; OTLP protobuf or JSON. */
	assert_int_equal(dash_receive_format(false, "application/x-protobuf", &f, &why),
			 -EPROTONOSUPPORT);
	assert_int_equal(dash_receive_format(false, "application/json", &f, &why), 0);
	assert_int_equal(f, DASH_TRACE_ZIPKIN);
	assert_int_equal(dash_receive_format(false, "Application/JSON; charset=utf-8", &f, &why),
			 0);
	assert_int_equal(f, DASH_TRACE_ZIPKIN);
	assert_int_equal(dash_receive_format(true, "application/json", &f, &why), 0);
	assert_int_equal(f, DASH_TRACE_OTLP_JSON);
	assert_int_equal(dash_receive_format(true, "application/x-protobuf", &f, &why), 0);
	assert_int_equal(f, DASH_TRACE_OTLP_PROTO);
	assert_int_equal(dash_receive_format(true, "application/protobuf", &f, &why), 0);
	assert_int_equal(f, DASH_TRACE_OTLP_PROTO);
}

/* Namespace demo enrolled with waypoint wp; web and reviews there; a pod of namespace evil. */
static const char yaml[] =
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n"
    "  labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: wp}\n---\n"
    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
    "metadata: {name: wp, namespace: demo}\n"
    "spec:\n  gatewayClassName: istio-waypoint\n"
    "  listeners: [{name: mesh, port: 15008, protocol: HBONE}]\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: demo}\n"
    "spec: {selector: {app: web}, ports: [{port: 80}]}\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: demo}\n"
    "spec: {selector: {app: reviews}, ports: [{port: 9080}]}\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: ratings, namespace: other}\n"
    "spec: {selector: {app: ratings}, ports: [{port: 9080}]}\n";
static const char pods[] =
    "["
    "{\"namespace\":\"demo\",\"name\":\"web-v1-0\",\"owner\":\"web-v1\",\"node\":\"node1\","
    " \"ip\":\"10.98.1.2\","
    " \"ip6\":\"fd00:98:1::2\",\"labels\":{\"app\":\"web\"}},"
    "{\"namespace\":\"demo\",\"name\":\"wp-0\",\"owner\":\"wp\",\"node\":\"node2\","
    " \"ip\":\"10.98.2.7\","
    " \"labels\":{\"gateway.networking.k8s.io/gateway-name\":\"wp\","
    " \"gateway.istio.io/managed\":\"istio.io-mesh-controller\"}},"
    "{\"namespace\":\"evil\",\"name\":\"evil-0\",\"owner\":null,\"node\":\"node2\","
    " \"ip\":\"10.98.3.3\","
    " \"labels\":{\"app\":\"evil\"}}"
    "]";

/* A Zipkin body of one span of @service; a waypoint's when @dest is its Service's host. */
static int put(struct dash_traces *t, const struct dash_sender *from, const char *id,
	       const char *service, const char *dest)
{
	char body[1024], err[256], tags[256] = "";

	if (dest)
		snprintf(tags, sizeof(tags),
			 "\"node_id\":\"waypoint~10.98.2.7~wp-0.demo~demo.svc.cluster.local\","
			 "\"istio.destination_service\":\"%s\"",
			 dest);
	snprintf(body, sizeof(body),
		 "[{\"traceId\":\"00000000000000a1\",\"id\":\"%s\",\"name\":\"op\","
		 "\"timestamp\":1000,\"duration\":10,\"localEndpoint\":{\"serviceName\":\"%s\"},"
		 "\"tags\":{%s}}]",
		 id, service, tags);
	return dash_traces_ingest(t, DASH_TRACE_ZIPKIN, body, strlen(body), from, err, sizeof(err));
}

static double stat(struct dash_traces *t, const char *key)
{
	cJSON *s = dash_traces_stats(t);
	double v = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(s, key));

	cJSON_Delete(s);
	return v;
}

/* The span @id of trace a1 as the API gives it, or NULL (caller deletes the trace). */
static const cJSON *span_of(cJSON *trace, const char *id)
{
	const cJSON *sp;

	cJSON_ArrayForEach(sp, cJSON_GetObjectItem(trace, "spans"))
	{
		if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(sp, "spanID")), id))
			return sp;
	}
	return NULL;
}

static void test_sender(void **state)
{
	struct config cfg;
	struct config_diags diags = {0};
	cJSON *list = cJSON_Parse(pods), *trace;
	struct dash_traces *t = dash_traces_create(100, 1 << 20);
	struct dash_sender web, wp, evil, host, node2;
	int status;

	(void)state;
	assert_non_null(list);
	assert_non_null(t);
	config_init(&cfg);
	assert_int_equal(config_load_buffer(&cfg, "g.yaml", yaml, strlen(yaml), &diags), 0);
	config_diags_free(&diags);
	assert_int_equal(dash_sender_find(&web, list, &cfg, "fd00:98:1:0::2", NULL), 0);
	assert_true(web.pod);
	assert_int_equal(dash_sender_find(&wp, list, &cfg, "10.98.2.7", NULL), 0);
	assert_true(wp.pod);
	assert_int_equal(dash_sender_find(&evil, list, &cfg, "10.98.3.3", NULL), 0);
	assert_true(evil.pod);
	assert_int_equal(dash_sender_find(&host, list, &cfg, "127.0.0.1", NULL), 0);
	assert_false(host.pod);

	/* A pod's own names: its app's, its workload's, its Service's, with or without the ns. */
	assert_int_equal(put(t, &web, "0000000000000001", "web.demo", NULL), 0);
	assert_int_equal(put(t, &web, "0000000000000002", "web-v1.demo", NULL), 0);
	assert_int_equal(put(t, &web, "0000000000000003", "web", NULL), 0);
	/* Another's, refused: its Service's neighbour, the waypoint's, one of another namespace. */
	assert_int_equal(put(t, &web, "0000000000000004", "reviews.demo", NULL), 1);
	assert_int_equal(put(t, &web, "0000000000000005", "wp.demo", NULL), 1);
	assert_int_equal(put(t, &web, "0000000000000006", "web.other", NULL), 1);
	/* Another namespace's pod cannot pose as demo's web, but is itself. */
	assert_int_equal(put(t, &evil, "0000000000000007", "web.demo", NULL), 1);
	assert_int_equal(put(t, &evil, "0000000000000008", "web", NULL), 1);
	assert_int_equal(put(t, &evil, "0000000000000009", "evil.evil", NULL), 0);
	/* The waypoint: its spans under the Services it serves, its own name as recorder... */
	assert_int_equal(
	    put(t, &wp, "000000000000000a", "wp.demo", "reviews.demo.svc.cluster.local"), 0);
	assert_int_equal(put(t, &wp, "000000000000000b", "wp.demo", NULL), 0);
	/* ...not a Service it does not serve, nor another waypoint's name. */
	assert_int_equal(
	    put(t, &wp, "000000000000000c", "wp.demo", "ratings.other.svc.cluster.local"), 1);
	assert_int_equal(
	    put(t, &wp, "000000000000000d", "other-wp.demo", "reviews.demo.svc.cluster.local"), 1);
	/* An app pod cannot pass as a waypoint of its Service either. */
	assert_int_equal(put(t, &web, "000000000000000e", "wp.demo", "web.demo.svc.cluster.local"),
			 1);
	/* From no pod (the host, by the dashboard's own port): kept, marked unverified. */
	assert_int_equal(put(t, &host, "000000000000000f", "reviews.demo", NULL), 0);
	assert_int_equal(put(t, NULL, "0000000000000010", "web.demo", NULL), 0);

	/*
	 * From node2's address (its ztunnel relaying a pod in host capture): the names of
	 * node2's pods, the pod unknown, so unverified; node1's web is not among them.
	 */
	assert_int_equal(dash_sender_find(&node2, list, &cfg, "10.99.0.12", "node2"), 0);
	assert_true(node2.node);
	assert_false(node2.pod);
	assert_int_equal(put(t, &node2, "0000000000000011", "evil.evil", NULL), 0);
	assert_int_equal(put(t, &node2, "0000000000000012", "wp", NULL), 0);
	assert_int_equal(put(t, &node2, "0000000000000013", "web.demo", NULL), 1);
	dash_sender_free(&node2);
	assert_int_equal(dash_sender_find(&node2, list, &cfg, "10.99.0.11", "node1"), 0);
	assert_int_equal(put(t, &node2, "0000000000000014", "web.demo", NULL), 0);
	assert_int_equal(put(t, &node2, "0000000000000015", "evil", NULL), 1);
	dash_sender_free(&node2);

	assert_int_equal(stat(t, "refused"), 10);
	assert_int_equal(stat(t, "accepted"), 11);
	assert_int_equal(stat(t, "unverified"), 5);
	trace = dash_traces_get(t, "00000000000000a1", &status);
	assert_non_null(trace);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(trace, "spans")), 11);
	assert_null(span_of(trace, "0000000000000004"));
	assert_null(span_of(trace, "0000000000000007"));
	assert_null(span_of(trace, "000000000000000c"));
	assert_true(
	    cJSON_IsTrue(cJSON_GetObjectItem(span_of(trace, "0000000000000001"), "verified")));
	assert_string_equal(cJSON_GetStringValue(
				cJSON_GetObjectItem(span_of(trace, "000000000000000a"), "service")),
			    "reviews.demo");
	assert_true(
	    cJSON_IsFalse(cJSON_GetObjectItem(span_of(trace, "000000000000000f"), "verified")));
	cJSON_Delete(trace);

	dash_sender_free(&web);
	dash_sender_free(&wp);
	dash_sender_free(&evil);
	dash_sender_free(&host);
	dash_sender_free(NULL);
	dash_traces_destroy(t);
	config_free(&cfg);
	cJSON_Delete(list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_host),
	    cmocka_unit_test(test_receive_format),
	    cmocka_unit_test(test_sender),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
