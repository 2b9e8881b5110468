// SPDX-License-Identifier: Apache-2.0
/*
 * `ambitctl services`' cells (userspace/cli/svcfmt.c): a Service's ports, its IPv4 endpoints
 * then its IPv6 ones (a selectorless Service's IPv6 slices', an IPv6-only Service's), each with
 * its pod's name where it is a pod's, "<none>" for a Service without endpoints.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ambit/snapshot.h"
#include "cli/svcfmt.h"

static const char SNAP[] =
    "{\"version\":1,\"node\":\"n1\",\"workloads\":["
    "{\"uid\":\"mesh/web-0\",\"name\":\"web-0\",\"namespace\":\"mesh\",\"ip\":\"10.98.1.7\","
    " \"ip6\":\"fd00:98:1::7\"},"
    "{\"uid\":\"mesh/six-0\",\"name\":\"six-0\",\"namespace\":\"mesh\","
    " \"ip6\":\"fd00:98:2::9\"}],"
    "\"services\":["
    "{\"name\":\"ext\",\"namespace\":\"mesh\",\"vip\":\"10.96.0.50\",\"vip6\":\"fd00:96::50\","
    " \"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":8081}],"
    " \"endpoints\":[\"10.99.0.5\"],\"endpoints6\":[\"2001:db8::5\",\"fd00:98:1::7\"]},"
    "{\"name\":\"six\",\"namespace\":\"mesh\",\"vip6\":\"fd00:96::40\","
    " \"ports\":[{\"name\":\"http\",\"port\":8080}],"
    " \"endpoints\":[],\"endpoints6\":[\"fd00:98:2::9\"]},"
    "{\"name\":\"web\",\"namespace\":\"mesh\",\"vip\":\"10.96.0.20\","
    " \"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":8080}],"
    " \"endpoints\":[\"10.98.1.7\"]},"
    "{\"name\":\"none\",\"namespace\":\"mesh\",\"vip\":\"10.96.0.21\","
    " \"ports\":[],\"endpoints\":[]}],"
    "\"certs\":[]}";

static void cells(const char *svc, const char *want_ports, const char *want_eps)
{
	char err[200], ports[256], eps[1024];
	struct snapshot *s = snapshot_decode(SNAP, strlen(SNAP), err, sizeof(err));
	const struct snap_service *sv = NULL;

	if (!s)
		fail_msg("%s", err);
	for (size_t i = 0; i < s->n_services; i++)
		if (!strcmp(s->services[i].name, svc))
			sv = &s->services[i];
	assert_non_null(sv);
	svcfmt_ports_endpoints(s, sv, ports, sizeof(ports), eps, sizeof(eps));
	assert_string_equal(ports, want_ports);
	assert_string_equal(eps, want_eps);
	snapshot_free(s);
}

/* A selectorless dual-stack Service: its IPv4 slice's endpoint, then its IPv6 slice's. */
static void test_selectorless_dual(void **state)
{
	cells("ext", "80->8081", "10.99.0.5, 2001:db8::5, fd00:98:1::7 (web-0)");
}

/* An IPv6-only Service of an IPv6-only pod: its IPv6 endpoint, by its pod. */
static void test_ipv6_only(void **state)
{
	cells("six", "8080->8080", "fd00:98:2::9 (six-0)");
}

/* IPv4 alone, as before; a Service without endpoints. */
static void test_ipv4_unchanged(void **state)
{
	cells("web", "80->8080", "10.98.1.7 (web-0)");
	cells("none", "", "<none>");
}

/* A buffer too small for the list: cut at its end, terminated. */
static void test_truncated(void **state)
{
	char err[200], ports[4], eps[12];
	struct snapshot *s = snapshot_decode(SNAP, strlen(SNAP), err, sizeof(err));

	assert_non_null(s);
	svcfmt_ports_endpoints(s, &s->services[0], ports, sizeof(ports), eps, sizeof(eps));
	assert_string_equal(ports, "80-");
	assert_string_equal(eps, "10.99.0.5, ");
	snapshot_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_selectorless_dual),
	    cmocka_unit_test(test_ipv6_only),
	    cmocka_unit_test(test_ipv4_unchanged),
	    cmocka_unit_test(test_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
