// SPDX-License-Identifier: Apache-2.0
/*
 * The outlier detection state machine (waypoint/outlier.c) on an injected clock: ejection at the
 * consecutive threshold and not before, successes resetting the count, gateway errors, the
 * maxEjectionPercent cap (Envoy's: the share already ejected under it, one host at least), return
 * after base x times ejected at the interval sweep, the decay of that multiplier, local-origin
 * failures counted as 503 or apart, and outlierDetectionHttpErrorCodes. Also the clusters of
 * ServiceEntries (cluster.c): the original destination of resolution NONE and TLS origination's
 * state.
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

#include <arpa/inet.h>

#include "../../../waypoint/cluster.h"
#include "../../../waypoint/outlier.h"
#include "net/transport.h"

static struct config_outlier_detection defaults(void)
{
	return (struct config_outlier_detection){.present = true,
						 .consecutive_5xx = 5,
						 .interval_ms = 10000,
						 .base_ejection_ms = 30000,
						 .max_ejection_percent = 100};
}

static void test_consecutive_5xx(void **state)
{
	struct config_outlier_detection c = defaults();
	struct wp_outlier o;

	assert_int_equal(wp_outlier_init(&o, &c, 2, 0), 0);
	for (int i = 0; i < 4; i++)
		assert_false(wp_outlier_record(&o, 0, WP_OUTCOME_RESPONSE, 500, 1));
	/* A success resets the count. */
	assert_false(wp_outlier_record(&o, 0, WP_OUTCOME_RESPONSE, 200, 1));
	for (int i = 0; i < 4; i++)
		assert_false(wp_outlier_record(&o, 0, WP_OUTCOME_RESPONSE, 503, 2));
	assert_true(wp_outlier_record(&o, 0, WP_OUTCOME_RESPONSE, 500, 2));
	assert_true(wp_outlier_ejected(&o, 0));
	assert_false(wp_outlier_ejected(&o, 1));
	/* 4xx are not errors. */
	for (int i = 0; i < 10; i++)
		assert_false(wp_outlier_record(&o, 1, WP_OUTCOME_RESPONSE, 404, 3));
	wp_outlier_destroy(&o);
}

static void test_gateway_errors(void **state)
{
	struct config_outlier_detection c = defaults();
	struct wp_outlier o;

	c.consecutive_5xx = 0; /* disabled */
	c.consecutive_gateway = 2;
	assert_int_equal(wp_outlier_init(&o, &c, 1, 0), 0);
	assert_false(wp_outlier_record(&o, 0, WP_OUTCOME_RESPONSE, 502, 1));
	/* A 500 is a 5xx but no gateway error: it breaks the gateway run. */
	assert_false(wp_outlier_record(&o, 0, WP_OUTCOME_RESPONSE, 500, 1));
	assert_false(wp_outlier_record(&o, 0, WP_OUTCOME_RESPONSE, 504, 1));
	/* A connect failure counts as a 503. */
	assert_true(wp_outlier_record(&o, 0, WP_OUTCOME_CONNECT_FAILURE, 0, 1));
	wp_outlier_destroy(&o);
}

static void test_max_ejection_percent(void **state)
{
	struct config_outlier_detection c = defaults();
	struct wp_outlier o;

	c.consecutive_5xx = 1;
	c.max_ejection_percent = 10; /* Envoy's default */
	assert_int_equal(wp_outlier_init(&o, &c, 3, 0), 0);
	/* One host at least, whatever the percentage (Envoy's); then 1 of 3 is over 10%. */
	assert_true(wp_outlier_record(&o, 0, WP_OUTCOME_RESPONSE, 500, 1));
	assert_true(wp_outlier_ejected(&o, 0));
	assert_false(wp_outlier_record(&o, 1, WP_OUTCOME_RESPONSE, 500, 1));
	assert_false(wp_outlier_ejected(&o, 1));
	wp_outlier_destroy(&o);
	c.max_ejection_percent = 50;
	assert_int_equal(wp_outlier_init(&o, &c, 4, 0), 0);
	assert_true(wp_outlier_record(&o, 0, WP_OUTCOME_RESPONSE, 500, 1));
	assert_true(wp_outlier_record(&o, 1, WP_OUTCOME_RESPONSE, 500, 1));
	assert_false(wp_outlier_record(&o, 2, WP_OUTCOME_RESPONSE, 500, 1)); /* 75% > 50% */
	assert_int_equal(o.n_ejected, 2);
	wp_outlier_destroy(&o);
}

static void test_ejection_time_grows(void **state)
{
	struct config_outlier_detection c = defaults();
	struct wp_outlier o;
	uint64_t t;

	c.consecutive_5xx = 1;
	assert_int_equal(wp_outlier_init(&o, &c, 2, 0), 0);
	assert_true(wp_outlier_record(&o, 0, WP_OUTCOME_RESPONSE, 500, 5000));
	/* Sweeps run every interval; the host is back once base x 1 has passed. */
	assert_int_equal(wp_outlier_sweep(&o, 9999), 0); /* not due yet */
	assert_int_equal(wp_outlier_sweep(&o, 10000), 0);
	assert_int_equal(wp_outlier_sweep(&o, 20000), 0);
	assert_int_equal(wp_outlier_sweep(&o, 30000), 0);
	assert_int_equal(wp_outlier_sweep(&o, 40000), 1); /* 35 s after the ejection */
	assert_false(wp_outlier_ejected(&o, 0));
	/* Second ejection: base x 2 = 60 s. */
	assert_true(wp_outlier_record(&o, 0, WP_OUTCOME_RESPONSE, 500, 41000));
	assert_int_equal(o.hosts[0].times_ejected, 2);
	for (t = 50000; t < 101000; t += 10000)
		assert_int_equal(wp_outlier_sweep(&o, t), 0);
	assert_int_equal(wp_outlier_sweep(&o, 110000), 1); /* 69 s: >= 60 s */
	/* Healthy intervals forget ejections one at a time. */
	assert_int_equal(wp_outlier_sweep(&o, 120000), 0);
	assert_int_equal(o.hosts[0].times_ejected, 1);
	assert_int_equal(wp_outlier_sweep(&o, 130000), 0);
	assert_int_equal(o.hosts[0].times_ejected, 0);
	wp_outlier_destroy(&o);
}

static void test_local_origin_split(void **state)
{
	struct config_outlier_detection c = defaults();
	struct wp_outlier o;

	c.consecutive_5xx = 2;
	c.split_local_origin = true;
	c.consecutive_local_origin = 3;
	assert_int_equal(wp_outlier_init(&o, &c, 1, 0), 0);
	/* Split: connect failures no longer count as 5xx (two 5xx would eject) ... */
	assert_false(wp_outlier_record(&o, 0, WP_OUTCOME_RESPONSE, 500, 1));
	assert_false(wp_outlier_record(&o, 0, WP_OUTCOME_CONNECT_FAILURE, 0, 1));
	assert_false(wp_outlier_record(&o, 0, WP_OUTCOME_TIMEOUT, 0, 1));
	/* ... an answer means the host was reached: the local run starts over ... */
	assert_false(wp_outlier_record(&o, 0, WP_OUTCOME_RESPONSE, 200, 1));
	assert_false(wp_outlier_record(&o, 0, WP_OUTCOME_CONNECT_FAILURE, 0, 1));
	assert_false(wp_outlier_record(&o, 0, WP_OUTCOME_TIMEOUT, 0, 1));
	/* ... and they count against their own threshold. */
	assert_true(wp_outlier_record(&o, 0, WP_OUTCOME_RESET, 0, 1));
	wp_outlier_destroy(&o);
}

static void test_error_codes(void **state)
{
	struct config_outlier_detection c = defaults();
	uint16_t codes[] = {429};
	struct wp_outlier o;

	c.consecutive_5xx = 2;
	c.n_error_codes = 1;
	c.error_codes = codes;
	assert_int_equal(wp_outlier_init(&o, &c, 1, 0), 0);
	/* With outlierDetectionHttpErrorCodes, only those codes are errors. */
	for (int i = 0; i < 5; i++)
		assert_false(wp_outlier_record(&o, 0, WP_OUTCOME_RESPONSE, 503, 1));
	assert_false(wp_outlier_record(&o, 0, WP_OUTCOME_RESPONSE, 429, 1));
	assert_true(wp_outlier_record(&o, 0, WP_OUTCOME_RESPONSE, 429, 1));
	wp_outlier_destroy(&o);
	/* No outlierDetection block: nothing is ever ejected. */
	c.present = false;
	assert_int_equal(wp_outlier_init(&o, &c, 1, 0), 0);
	for (int i = 0; i < 20; i++)
		assert_false(wp_outlier_record(&o, 0, WP_OUTCOME_RESPONSE, 429, 1));
	wp_outlier_destroy(&o);
}

/*
 * Clusters of ServiceEntries (cluster.c): resolution NONE's one host is the request's original
 * destination, within the entry's addresses, and nothing without one; a policy's TLS
 * origination whose MUTUAL credentials are missing leaves the cluster without a context (its
 * connections fail) and says why.
 */
static void test_entry_clusters(void **state)
{
	struct ipaddr net = {AF_INET, 24, {198, 51, 100, 0}},
		      net6 = {AF_INET6, 32, {0x20, 1, 0xd, 0xb8}};
	uint16_t ports[1] = {8443};
	struct l7_endpoint ep = {.ports = ports, .pod = (char *)"shop/net"};
	struct l7_port port = {.port = 8443, .protocol = L7_PROTO_HTTP, .target_port = 8443};
	struct l7_policy pol = {.port = 8443, .tls = {.present = true, .mode = (char *)"MUTUAL"}};
	struct l7_service svc = {.hostname = (char *)"net.example.internal",
				 .entry = true,
				 .resolution = L7_RES_NONE,
				 .n_cidrs = 1,
				 .cidrs = &net,
				 .n_ports = 1,
				 .ports = &port,
				 .n_endpoints = 1,
				 .endpoints = &ep};
	struct transport_peer in = {.dest_port = 8443}, out_of = {.dest_port = 8443};
	struct wp_cluster c;
	union sockaddr_inet dst;

	ipaddr_from_v4(&in.dest_ip, htonl(0xc6336407));
	ipaddr_from_v4(&out_of.dest_ip, htonl(0xc6336507));

	assert_int_equal(wp_cluster_init(&c, &svc, NULL, 8443, false, false, 0), 0);
	assert_true(c.original_dst);
	assert_int_equal(c.n_hosts, 1);
	assert_int_equal(wp_cluster_dst(&c, 0, &in, NULL, &dst), 0);
	assert_int_equal(dst.v4.sin_addr.s_addr, htonl(0xc6336407));
	assert_int_equal(ntohs(dst.v4.sin_port), 8443);
	assert_int_equal(wp_cluster_dst(&c, 0, &out_of, NULL, &dst), -EACCES);
	assert_int_equal(wp_cluster_dst(&c, 0, NULL, NULL, &dst), -EHOSTUNREACH);
	assert_false(c.originate);
	wp_cluster_destroy(&c);
	/* An entry of IPv6 addresses only holds no IPv4 destination (it once held every one). */
	svc.cidrs = &net6;
	assert_int_equal(wp_cluster_init(&c, &svc, NULL, 8443, false, false, 0), 0);
	assert_int_equal(wp_cluster_dst(&c, 0, &in, NULL, &dst), -EACCES);
	wp_cluster_destroy(&c);
	svc.cidrs = &net;

	svc.n_policies = 1;
	svc.policies = &pol;
	assert_int_equal(wp_cluster_init(&c, &svc, NULL, 8443, false, false, 0), 0);
	assert_true(c.originate);
	assert_null(c.tls);
	assert_non_null(strstr(c.tls_err, "MUTUAL without a client certificate"));
	assert_string_equal(c.sni, "net.example.internal");
	assert_int_equal(c.n_sans, 1);
	assert_string_equal(c.sans[0], "net.example.internal");
	wp_cluster_destroy(&c);
	pol.tls.mode = (char *)"SIMPLE";
	assert_int_equal(wp_cluster_init(&c, &svc, NULL, 8443, false, false, 0), 0);
	assert_non_null(c.tls); /* the system's roots */
	wp_cluster_destroy(&c);

	/* DYNAMIC_DNS: only a name under the wildcard, and only with a Host (no TCP). */
	svc.resolution = L7_RES_DYNAMIC_DNS;
	svc.hostname = (char *)"*.example.test";
	svc.n_policies = 0;
	assert_int_equal(wp_cluster_init(&c, &svc, NULL, 8443, false, false, 0), 0);
	assert_true(c.dynamic_dns);
	assert_true(wp_cluster_per_request(&c));
	assert_int_equal(wp_cluster_dst(&c, 0, &in, NULL, &dst), -EHOSTUNREACH);
	assert_int_equal(wp_cluster_dst(&c, 0, &in, "evil.test", &dst), -EACCES);
	assert_int_equal(wp_cluster_dst(&c, 0, &in, "example.test", &dst), -EACCES);
	assert_int_equal(wp_cluster_dst(&c, 0, &in, "a..example.test", &dst), -EACCES);
	assert_int_equal(wp_cluster_dst(&c, 0, &in, "a b.example.test", &dst), -EACCES);
	assert_int_equal(wp_cluster_dst(&c, 0, &in, "x.evilexample.test", &dst), -EACCES);
	wp_cluster_destroy(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_consecutive_5xx),	 cmocka_unit_test(test_gateway_errors),
	    cmocka_unit_test(test_max_ejection_percent), cmocka_unit_test(test_ejection_time_grows),
	    cmocka_unit_test(test_local_origin_split),	 cmocka_unit_test(test_error_codes),
	    cmocka_unit_test(test_entry_clusters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
