// SPDX-License-Identifier: Apache-2.0
/*
 * Tests for the local cluster's Service VIPs (userspace/local/plan_vip.c): by ipFamilies and
 * ipFamilyPolicy an IPv4 VIP, an IPv6 one beside it, or an IPv6 one alone in a dual-stack
 * cluster; the VIPs a running cluster has kept; a slot whose IPv6 twin is taken passed over;
 * and an IPv4 cluster refusing a Service that asks for IPv6, as its API server would.
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

#include <cjson/cJSON.h>
#include "ambit/config.h"
#include "local.h"

static const char SERVICES[] =
    "apiVersion: v1\nkind: Service\nmetadata: {name: four, namespace: d}\n"
    "spec: {ports: [{port: 80}]}\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: dual, namespace: d}\n"
    "spec: {ipFamilyPolicy: PreferDualStack, ports: [{port: 80}]}\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: six, namespace: d}\n"
    "spec: {ipFamilies: [IPv6], ipFamilyPolicy: SingleStack, ports: [{port: 80}]}\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: six-default, namespace: d}\n"
    "spec: {ipFamilies: [IPv6], ports: [{port: 80}]}\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: six-first, namespace: d}\n"
    "spec: {ipFamilies: [IPv6, IPv4], ipFamilyPolicy: PreferDualStack, ports: [{port: 80}]}\n"
    "---\napiVersion: v1\nkind: Service\nmetadata: {name: six-given, namespace: d}\n"
    "spec: {clusterIP: 'fd00:96::99', ports: [{port: 80}]}\n";

struct fx {
	struct config cfg;
	struct ctl_cluster c;
	struct ctl_plan p;
};

static void load(struct fx *f, const char *yaml, enum ctl_ip_family fam)
{
	struct config_diags diags = {0};

	memset(f, 0, sizeof(*f));
	config_init(&f->cfg);
	assert_int_equal(config_load_buffer(&f->cfg, "s.yaml", yaml, strlen(yaml), &diags), 0);
	config_diags_free(&diags);
	f->c.ip_family = fam;
}

/* What plan_services made (plan_free's part for them: plan.c is not linked). */
static void done(struct fx *f)
{
	for (size_t i = 0; i < f->p.nservices; i++) {
		free(f->p.services[i].key);
		free(f->p.services[i].ip);
	}
	free(f->p.services);
	config_free(&f->cfg);
}

static void test_dual_cluster(void **state)
{
	struct fx f;

	load(&f, SERVICES, CTL_IP_DUAL);
	assert_int_equal(plan_services(&f.p, &f.c, &f.cfg, NULL), 0);
	assert_int_equal(f.p.nservices, 6);
	/* SingleStack IPv4 (the default): IPv4 alone. */
	assert_string_equal(plan_vip(&f.p, "d", "four"), "10.96.0.10");
	assert_null(plan_vip6(&f.p, "d", "four"));
	/* PreferDualStack: both, the IPv6 the IPv4's twin. */
	assert_string_equal(plan_vip(&f.p, "d", "dual"), "10.96.0.11");
	assert_string_equal(plan_vip6(&f.p, "d", "dual"), "fd00:96::11");
	/* [IPv6], SingleStack said or by default: IPv6 alone, from a slot of its own. */
	assert_null(plan_vip(&f.p, "d", "six"));
	assert_string_equal(plan_vip6(&f.p, "d", "six"), "fd00:96::12");
	assert_null(plan_vip(&f.p, "d", "six-default"));
	assert_string_equal(plan_vip6(&f.p, "d", "six-default"), "fd00:96::13");
	/* [IPv6, IPv4] PreferDualStack: both families. */
	assert_string_equal(plan_vip(&f.p, "d", "six-first"), "10.96.0.14");
	assert_string_equal(plan_vip6(&f.p, "d", "six-first"), "fd00:96::14");
	/* A clusterIP of IPv6 alone: that one, no IPv4. */
	assert_null(plan_vip(&f.p, "d", "six-given"));
	assert_string_equal(plan_vip6(&f.p, "d", "six-given"), "fd00:96::99");
	done(&f);
}

/*
 * A running cluster's VIPs are kept (an IPv6 Service's from serviceIPs6), and a new Service
 * passes over a slot whose IPv4 or IPv6 twin is already someone's.
 */
static void test_kept(void **state)
{
	static const char yaml[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: new, namespace: d}\n"
	    "spec: {ipFamilyPolicy: PreferDualStack, ports: [{port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: six, namespace: d}\n"
	    "spec: {ipFamilies: [IPv6], ports: [{port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: four, namespace: d}\n"
	    "spec: {ports: [{port: 80}]}\n";
	cJSON *existing = cJSON_Parse("{\"serviceIPs\":{\"d/four\":\"10.96.0.11\"},"
				      "\"serviceIPs6\":{\"d/six\":\"fd00:96::10\"}}");
	struct fx f;

	assert_non_null(existing);
	load(&f, yaml, CTL_IP_DUAL);
	assert_int_equal(plan_services(&f.p, &f.c, &f.cfg, existing), 0);
	assert_string_equal(plan_vip6(&f.p, "d", "six"), "fd00:96::10");
	assert_null(plan_vip(&f.p, "d", "six"));
	assert_string_equal(plan_vip(&f.p, "d", "four"), "10.96.0.11");
	/* 10.96.0.10's twin is six's, 10.96.0.11 four's: the next free slot. */
	assert_string_equal(plan_vip(&f.p, "d", "new"), "10.96.0.12");
	assert_string_equal(plan_vip6(&f.p, "d", "new"), "fd00:96::12");
	done(&f);
	cJSON_Delete(existing);
}

/*
 * An IPv4 cluster refuses a Service asking for IPv6 (ipFamilies, or an IPv6 clusterIP), as its
 * API server does; PreferDualStack there is IPv4 alone.
 */
static void test_ipv4_cluster(void **state)
{
	static const char six[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: six, namespace: d}\n"
	    "spec: {ipFamilies: [IPv6], ports: [{port: 80}]}\n";
	static const char second[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: both, namespace: d}\n"
	    "spec: {ipFamilies: [IPv4, IPv6], ipFamilyPolicy: PreferDualStack,"
	    " ports: [{port: 80}]}\n";
	static const char given[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: given, namespace: d}\n"
	    "spec: {clusterIP: 'fd00:96::99', ports: [{port: 80}]}\n";
	static const char prefer[] =
	    "apiVersion: v1\nkind: Service\nmetadata: {name: prefer, namespace: d}\n"
	    "spec: {ipFamilyPolicy: PreferDualStack, ports: [{port: 80}]}\n";
	const char *const refused[] = {six, second, given};
	struct fx f;

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		load(&f, refused[i], CTL_IP_IPV4);
		assert_int_equal(plan_services(&f.p, &f.c, &f.cfg, NULL), -EINVAL);
		done(&f);
	}
	load(&f, prefer, CTL_IP_IPV4);
	assert_int_equal(plan_services(&f.p, &f.c, &f.cfg, NULL), 0);
	assert_string_equal(plan_vip(&f.p, "d", "prefer"), "10.96.0.10");
	assert_null(plan_vip6(&f.p, "d", "prefer"));
	done(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dual_cluster),
	    cmocka_unit_test(test_kept),
	    cmocka_unit_test(test_ipv4_cluster),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
