// SPDX-License-Identifier: Apache-2.0
/*
 * The outlier detection state machine (waypoint/outlier.c) on an injected clock: ejection at the
 * consecutive threshold and not before, successes resetting the count, gateway errors, the
 * maxEjectionPercent cap (Envoy's (ejected + 1) / hosts rule), return after base x times
 * ejected at the interval sweep, the decay of that multiplier, local-origin failures counted
 * as 503 or apart, and outlierDetectionHttpErrorCodes.
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

#include "outlier.h"

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
	/* 1 of 3 is 33% > 10%: even the first ejection is refused. */
	assert_false(wp_outlier_record(&o, 0, WP_OUTCOME_RESPONSE, 500, 1));
	assert_false(wp_outlier_ejected(&o, 0));
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_consecutive_5xx),	 cmocka_unit_test(test_gateway_errors),
	    cmocka_unit_test(test_max_ejection_percent), cmocka_unit_test(test_ejection_time_grows),
	    cmocka_unit_test(test_local_origin_split),	 cmocka_unit_test(test_error_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
