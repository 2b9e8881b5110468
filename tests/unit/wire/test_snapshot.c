// SPDX-License-Identifier: Apache-2.0
/* Snapshot codec and ipc framing. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "ambit/ipaddr.h"
#include "ambit/ipc.h"
#include "ambit/json_memo.h"
#include "ambit/snapshot.h"

static uint32_t ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static struct snapshot *sample(void)
{
	struct snapshot *s = calloc(1, sizeof(*s));

	s->version = 42;
	s->node = strdup("node1");
	s->node_ip = ip("10.99.0.11");
	s->trust_domain = strdup("cluster.local");
	s->cluster_id = strdup("cluster1");
	s->network = strdup("network1");
	s->n_trust_domain_aliases = 1;
	s->trust_domain_aliases = calloc(1, sizeof(*s->trust_domain_aliases));
	s->trust_domain_aliases[0] = strdup("old.example");
	s->root_pem = strdup("-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n");
	s->n_workloads = 2;
	s->workloads = calloc(2, sizeof(*s->workloads));
	for (int i = 0; i < 2; i++) {
		struct snap_workload *w = &s->workloads[i];
		char buf[64];

		snprintf(buf, sizeof(buf), "demo/pod%d", i);
		w->uid = strdup(buf);
		w->name = strdup(buf + 5);
		w->namespace = strdup("demo");
		w->service_account = strdup("default");
		w->identity = strdup("spiffe://cluster.local/ns/demo/sa/default");
		w->node = strdup(i ? "node2" : "node1");
		w->workload_name = strdup("web");
		w->app = strdup("web");
		w->version = strdup("v1");
		w->ip = ip(i ? "10.98.2.2" : "10.98.1.2");
		w->node_ip = ip(i ? "10.99.0.12" : "10.99.0.11");
		w->enrolled = i == 0;
	}
	/* A pod named under a headless Service (spec.hostname, spec.subdomain). */
	s->workloads[1].hostname = strdup("primary");
	/* A dual-stack pod's IPv6 address. */
	assert_int_equal(ipaddr_parse_addr("fd00:98:2::2", &s->workloads[1].ip6), 0);
	s->workloads[1].subdomain = strdup("web");
	s->n_services = 1;
	s->services = calloc(1, sizeof(*s->services));
	s->services[0].name = strdup("web");
	s->services[0].namespace = strdup("demo");
	s->services[0].hostname = strdup("web.demo.svc.cluster.local");
	s->services[0].vip = ip("10.96.0.10");
	s->services[0].nports = 1;
	s->services[0].ports = calloc(1, sizeof(*s->services[0].ports));
	s->services[0].ports[0].name = strdup("http");
	s->services[0].ports[0].port = 80;
	s->services[0].ports[0].target_port = 8080;
	s->services[0].nendpoints = 2;
	s->services[0].endpoints = calloc(2, sizeof(uint32_t));
	s->services[0].endpoints[0] = ip("10.98.1.2");
	s->services[0].endpoints[1] = ip("10.98.2.2");
	s->n_certs = 1;
	s->certs = calloc(1, sizeof(*s->certs));
	s->certs[0].identity = strdup("spiffe://cluster.local/ns/demo/sa/default");
	s->certs[0].cert_pem = strdup("CERT");
	s->certs[0].key_pem = strdup("SECRET-KEY");
	s->certs[0].not_before = 1700000000;
	s->certs[0].not_after = 1700086400;
	s->capture = SNAP_CAPTURE_HOST;
	return s;
}

static void test_round_trip(void **state)
{
	struct snapshot *s = sample(), *d;
	char err[256];
	char *json = snapshot_encode(s), *json2;

	assert_non_null(json);
	d = snapshot_decode(json, strlen(json), err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(d->version, 42);
	assert_string_equal(d->node, "node1");
	assert_int_equal(d->node_ip, s->node_ip);
	assert_string_equal(d->root_pem, s->root_pem);
	assert_int_equal(d->n_trust_domain_aliases, 1);
	assert_string_equal(d->trust_domain_aliases[0], "old.example");
	assert_string_equal(d->cluster_id, "cluster1");
	assert_string_equal(d->network, "network1");
	assert_int_equal(d->n_workloads, 2);
	assert_string_equal(d->workloads[1].node, "node2");
	assert_int_equal(d->workloads[1].ip, s->workloads[1].ip);
	assert_true(d->workloads[0].enrolled);
	assert_false(d->workloads[1].enrolled);
	assert_string_equal(d->workloads[1].hostname, "primary");
	assert_string_equal(d->workloads[1].subdomain, "web");
	assert_true(ipaddr_equal(&d->workloads[1].ip6, &s->workloads[1].ip6));
	assert_int_equal(d->workloads[0].ip6.family, 0); /* none, and not encoded */
	assert_non_null(strstr(json, "\"ip6\":\"fd00:98:2::2\""));
	assert_null(strstr(strstr(json, "\"ip6\"") + 1, "\"ip6\"")); /* pod1's only */
	assert_null(d->workloads[0].hostname); /* absent stays absent, and is not encoded */
	assert_null(d->workloads[0].subdomain);
	assert_null(strstr(strstr(json, "\"demo/pod0\""), "\"hostname\":\"\""));
	assert_int_equal(d->services[0].ports[0].target_port, 8080);
	assert_int_equal(d->services[0].endpoints[1], ip("10.98.2.2"));
	assert_string_equal(d->certs[0].key_pem, "SECRET-KEY");
	assert_int_equal(d->certs[0].not_after, 1700086400);
	assert_int_equal(d->capture, SNAP_CAPTURE_HOST);
	assert_ptr_equal(snapshot_workload_by_ip(d, ip("10.98.2.2")), &d->workloads[1]);
	assert_null(snapshot_workload_by_ip(d, ip("10.98.9.9")));
	assert_ptr_equal(snapshot_service_by_vip(d, ip("10.96.0.10")), &d->services[0]);
	assert_non_null(snapshot_cert_by_identity(d, "spiffe://cluster.local/ns/demo/sa/default"));
	assert_null(snapshot_cert_by_identity(d, "spiffe://x/ns/a/sa/b"));
	/* Re-encoding the decoded snapshot gives the same document. */
	json2 = snapshot_encode(d);
	assert_string_equal(json, json2);
	free(json);
	free(json2);
	snapshot_free(s);
	snapshot_free(d);
}

static void test_public_omits_keys(void **state)
{
	struct snapshot *s = sample(), *d;
	char *json = snapshot_encode_public(s);
	char err[256];

	assert_non_null(json);
	assert_null(strstr(json, "SECRET-KEY"));
	assert_null(strstr(json, "keyPEM"));
	assert_non_null(strstr(json, "CERT"));
	d = snapshot_decode(json, strlen(json), err, sizeof(err));
	assert_non_null(d);
	assert_string_equal(d->certs[0].key_pem, "");
	snapshot_free(d);
	free(json);
	snapshot_free(s);
}

static void expect_error(const char *json, const char *field)
{
	char err[256];
	struct snapshot *d = snapshot_decode(json, strlen(json), err, sizeof(err));

	if (d)
		fail_msg("accepted: %s", json);
	assert_int_equal(errno, EINVAL);
	if (!strstr(err, field))
		fail_msg("error '%s' does not name '%s'", err, field);
}

/*
 * A dual-stack Service's vip6 travels only when set and comes back; the look-ups by IPv6
 * address find a workload by ip6 and a Service by vip6, and by either family through
 * snapshot_*_by_addr; a vip6 that is no IPv6 address is refused by name.
 */
static void test_ipv6_lookups(void **state)
{
	struct snapshot *s = sample(), *d;
	struct ipaddr a, v4;
	char err[256], *json;

	assert_int_equal(ipaddr_parse_addr("fd00:96::a", &s->services[0].vip6), 0);
	json = snapshot_encode(s);
	assert_non_null(json);
	assert_non_null(strstr(json, "\"vip6\":\"fd00:96::a\""));
	d = snapshot_decode(json, strlen(json), err, sizeof(err));
	assert_non_null(d);
	assert_true(ipaddr_equal(&d->services[0].vip6, &s->services[0].vip6));

	assert_int_equal(ipaddr_parse_addr("fd00:96::a", &a), 0);
	assert_ptr_equal(snapshot_service_by_vip6(d, &a), &d->services[0]);
	assert_ptr_equal(snapshot_service_by_addr(d, &a), &d->services[0]);
	assert_int_equal(ipaddr_parse_addr("fd00:98:2::2", &a), 0);
	assert_ptr_equal(snapshot_workload_by_ip6(d, &a), &d->workloads[1]);
	assert_ptr_equal(snapshot_workload_by_addr(d, &a), &d->workloads[1]);
	/* pod0 has no ip6: family 0 matches nothing, not even the unspecified address. */
	assert_int_equal(ipaddr_parse_addr("::", &a), 0);
	assert_null(snapshot_workload_by_ip6(d, &a));
	assert_int_equal(ipaddr_parse_addr("fd00:98:2::3", &a), 0);
	assert_null(snapshot_workload_by_addr(d, &a));
	assert_null(snapshot_service_by_addr(d, &a));
	/* Prefixes and IPv4 are no IPv6 address; by_addr takes IPv4 (and mapped) as IPv4. */
	assert_int_equal(ipaddr_parse("fd00:98:2::2/128", &a), 0);
	assert_ptr_equal(snapshot_workload_by_ip6(d, &a), &d->workloads[1]);
	assert_int_equal(ipaddr_parse("fd00:98:2::/64", &a), 0);
	assert_null(snapshot_workload_by_ip6(d, &a));
	assert_int_equal(ipaddr_parse_addr("10.98.2.2", &v4), 0);
	assert_null(snapshot_workload_by_ip6(d, &v4));
	assert_ptr_equal(snapshot_workload_by_addr(d, &v4), &d->workloads[1]);
	assert_int_equal(ipaddr_parse_addr("::ffff:10.96.0.10", &v4), 0);
	assert_ptr_equal(snapshot_service_by_addr(d, &v4), &d->services[0]);
	assert_null(snapshot_workload_by_ip6(NULL, &a));
	free(json);
	snapshot_free(d);

	/* Not set: not encoded, and none after decoding. */
	memset(&s->services[0].vip6, 0, sizeof(s->services[0].vip6));
	json = snapshot_encode(s);
	assert_null(strstr(json, "vip6"));
	d = snapshot_decode(json, strlen(json), err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(d->services[0].vip6.family, 0);
	free(json);
	snapshot_free(d);
	snapshot_free(s);
	expect_error("{\"version\":1,\"services\":[{\"name\":\"a\",\"namespace\":\"b\","
		     "\"vip\":\"10.96.0.1\",\"vip6\":\"10.96.0.2\"}]}",
		     "services[0].vip6: \"10.96.0.2\" is not an IPv6 address");
	expect_error("{\"version\":1,\"services\":[{\"name\":\"a\",\"namespace\":\"b\","
		     "\"vip\":\"10.96.0.1\",\"vip6\":\"fd00::/64\"}]}",
		     "services[0].vip6");
	expect_error("{\"version\":1,\"services\":[{\"name\":\"a\",\"namespace\":\"b\","
		     "\"vip\":\"10.96.0.1\",\"vip6\":7}]}",
		     "services[0].vip6");
	/* Without vip6, vip stays required (0.0.0.0 is a headless Service's). */
	expect_error("{\"version\":1,\"services\":[{\"name\":\"a\",\"namespace\":\"b\"}]}",
		     "services[0].vip: missing");
}

/*
 * A SingleStack IPv6 Service (vip 0, vip6 set) travels with vip6 alone and comes back so;
 * found by its vip6 and not by 0.0.0.0. A headless one (neither) still carries vip 0.0.0.0.
 */
static void test_ipv6_only_service(void **state)
{
	struct snapshot *s = sample(), *d;
	struct ipaddr a;
	char err[256], *json;

	s->services[0].vip = 0;
	assert_int_equal(ipaddr_parse_addr("fd00:96::b", &s->services[0].vip6), 0);
	json = snapshot_encode(s);
	assert_non_null(json);
	assert_null(strstr(json, "\"vip\":"));
	assert_non_null(strstr(json, "\"vip6\":\"fd00:96::b\""));
	d = snapshot_decode(json, strlen(json), err, sizeof(err));
	if (!d)
		fail_msg("%s", err);
	assert_int_equal(d->services[0].vip, 0);
	assert_true(ipaddr_equal(&d->services[0].vip6, &s->services[0].vip6));
	assert_ptr_equal(snapshot_service_by_addr(d, &s->services[0].vip6), &d->services[0]);
	assert_null(snapshot_service_by_vip(d, 0));
	assert_int_equal(ipaddr_parse_addr("0.0.0.0", &a), 0);
	assert_null(snapshot_service_by_addr(d, &a));
	free(json);
	snapshot_free(d);
	memset(&s->services[0].vip6, 0, sizeof(s->services[0].vip6));
	json = snapshot_encode(s);
	assert_non_null(strstr(json, "\"vip\":\"0.0.0.0\""));
	free(json);
	snapshot_free(s);
}

/*
 * An IPv6-only pod's workload (ip 0, ip6 set) travels with "ip6" alone and comes back so; it
 * is found by its ip6 and by neither 0 nor 0.0.0.0 (snapshot_workload_by_ip, _by_addr), which
 * still find the IPv4 pod by its address. A workload with neither is refused by name, as an
 * "ip6" that is no IPv6 address.
 */
static void test_ipv6_only_workload(void **state)
{
	struct snapshot *s = sample(), *d;
	struct ipaddr a;
	char err[256], *json, *at;

	s->workloads[1].ip = 0;
	json = snapshot_encode(s);
	assert_non_null(json);
	at = strstr(json, "\"uid\":\"demo/pod1\"");
	assert_non_null(at);
	assert_null(strstr(at, "\"ip\":"));
	assert_non_null(strstr(at, "\"ip6\":\"fd00:98:2::2\""));
	d = snapshot_decode(json, strlen(json), err, sizeof(err));
	if (!d)
		fail_msg("%s", err);
	assert_int_equal(d->workloads[1].ip, 0);
	assert_true(ipaddr_equal(&d->workloads[1].ip6, &s->workloads[1].ip6));
	assert_ptr_equal(snapshot_workload_by_addr(d, &s->workloads[1].ip6), &d->workloads[1]);
	assert_null(snapshot_workload_by_ip(d, 0));
	assert_int_equal(ipaddr_parse_addr("0.0.0.0", &a), 0);
	assert_null(snapshot_workload_by_addr(d, &a));
	assert_ptr_equal(snapshot_workload_by_ip(d, ip("10.98.1.2")), &d->workloads[0]);
	free(json);
	snapshot_free(d);
	snapshot_free(s);
	expect_error("{\"version\":1,\"workloads\":[{\"uid\":\"u\",\"name\":\"n\","
		     "\"namespace\":\"d\"}]}",
		     "workloads[0].ip");
	expect_error("{\"version\":1,\"workloads\":[{\"uid\":\"u\",\"name\":\"n\","
		     "\"namespace\":\"d\",\"ip6\":\"10.0.0.1\"}]}",
		     "workloads[0].ip6");
	expect_error("{\"version\":1,\"workloads\":[{\"uid\":\"u\",\"name\":\"n\","
		     "\"namespace\":\"d\",\"ip\":\"fd00::1\",\"ip6\":\"fd00::1\"}]}",
		     "workloads[0].ip");
}

/*
 * A selectorless Service's IPv6 slices' endpoints (endpoints6) travel only when it has some
 * and come back in order; the decoder refuses one that is no IPv6 address (IPv4, a prefix, not
 * a string) or an endpoints6 that is no array, naming the field.
 */
static void test_endpoints6(void **state)
{
	struct snapshot *s = sample(), *d;
	struct snap_service *svc = &s->services[0];
	char err[256], *json;

	svc->nendpoints6 = 2;
	svc->endpoints6 = calloc(2, sizeof(*svc->endpoints6));
	assert_non_null(svc->endpoints6);
	assert_int_equal(ipaddr_parse_addr("fd00:98:9::1", &svc->endpoints6[0]), 0);
	assert_int_equal(ipaddr_parse_addr("fd00:98:9::2", &svc->endpoints6[1]), 0);
	json = snapshot_encode(s);
	assert_non_null(json);
	assert_non_null(strstr(json, "\"endpoints6\":[\"fd00:98:9::1\",\"fd00:98:9::2\"]"));
	d = snapshot_decode(json, strlen(json), err, sizeof(err));
	if (!d)
		fail_msg("%s", err);
	assert_int_equal(d->services[0].nendpoints, 2);
	assert_int_equal(d->services[0].nendpoints6, 2);
	assert_true(ipaddr_equal(&d->services[0].endpoints6[0], &svc->endpoints6[0]));
	assert_true(ipaddr_equal(&d->services[0].endpoints6[1], &svc->endpoints6[1]));
	free(json);
	snapshot_free(d);

	/* None: not encoded, and none after decoding. */
	svc->nendpoints6 = 0;
	json = snapshot_encode(s);
	assert_null(strstr(json, "endpoints6"));
	d = snapshot_decode(json, strlen(json), err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(d->services[0].nendpoints6, 0);
	assert_null(d->services[0].endpoints6);
	free(json);
	snapshot_free(d);
	snapshot_free(s);
	expect_error("{\"version\":1,\"services\":[{\"name\":\"a\",\"namespace\":\"b\","
		     "\"vip6\":\"fd00:96::1\",\"endpoints6\":[\"fd00::1\",\"10.98.1.2\"]}]}",
		     "services[0].endpoints6[1]: expected an IPv6 address string");
	expect_error("{\"version\":1,\"services\":[{\"name\":\"a\",\"namespace\":\"b\","
		     "\"vip6\":\"fd00:96::1\",\"endpoints6\":[\"fd00::/64\"]}]}",
		     "services[0].endpoints6[0]");
	expect_error("{\"version\":1,\"services\":[{\"name\":\"a\",\"namespace\":\"b\","
		     "\"vip6\":\"fd00:96::1\",\"endpoints6\":[7]}]}",
		     "services[0].endpoints6[0]");
	expect_error("{\"version\":1,\"services\":[{\"name\":\"a\",\"namespace\":\"b\","
		     "\"vip6\":\"fd00:96::1\",\"endpoints6\":\"fd00::1\"}]}",
		     "services[0].endpoints6: expected an array");
}

/*
 * A Service's endpoints' own port numbers, of both families ("endpointPorts", "endpointPorts6"):
 * they travel for a Service as for an entry and come back as they were; an "endpointPorts6" ip
 * that is no IPv6 address is refused, naming the field.
 */
static void test_service_ep_ports(void **state)
{
	struct snapshot *s = sample(), *d;
	struct snap_service *svc = &s->services[0];
	char err[256], *json;

	svc->nendpoints6 = 1;
	svc->endpoints6 = calloc(1, sizeof(*svc->endpoints6));
	svc->n_ep_ports = 1;
	svc->ep_ports = calloc(1, sizeof(*svc->ep_ports));
	svc->n_ep_ports6 = 1;
	svc->ep_ports6 = calloc(1, sizeof(*svc->ep_ports6));
	assert_true(svc->endpoints6 && svc->ep_ports && svc->ep_ports6);
	assert_int_equal(ipaddr_parse_addr("fd00:98:9::1", &svc->endpoints6[0]), 0);
	svc->ep_ports[0] = (struct snap_ep_port){svc->endpoints[0], svc->ports[0].port, 8082};
	svc->ep_ports6[0] = (struct snap_ep_port6){svc->endpoints6[0], svc->ports[0].port, 8081};
	json = snapshot_encode(s);
	assert_non_null(json);
	assert_non_null(strstr(json, "\"endpointPorts6\":[{\"ip\":\"fd00:98:9::1\""));
	d = snapshot_decode(json, strlen(json), err, sizeof(err));
	if (!d)
		fail_msg("%s", err);
	assert_int_equal(d->services[0].n_ep_ports, 1);
	assert_int_equal(d->services[0].ep_ports[0].ip, svc->endpoints[0]);
	assert_int_equal(d->services[0].ep_ports[0].port, svc->ports[0].port);
	assert_int_equal(d->services[0].ep_ports[0].target_port, 8082);
	assert_int_equal(d->services[0].n_ep_ports6, 1);
	assert_true(ipaddr_equal(&d->services[0].ep_ports6[0].ip, &svc->endpoints6[0]));
	assert_int_equal(d->services[0].ep_ports6[0].port, svc->ports[0].port);
	assert_int_equal(d->services[0].ep_ports6[0].target_port, 8081);
	free(json);
	snapshot_free(d);
	snapshot_free(s);
	expect_error("{\"version\":1,\"services\":[{\"name\":\"a\",\"namespace\":\"b\","
		     "\"vip6\":\"fd00:96::1\",\"endpointPorts6\":[{\"ip\":\"10.98.1.2\","
		     "\"port\":80,\"targetPort\":8081}]}]}",
		     "services[0].endpointPorts6[0].ip: expected an IPv6 address string");
	expect_error("{\"version\":1,\"services\":[{\"name\":\"a\",\"namespace\":\"b\","
		     "\"vip6\":\"fd00:96::1\",\"endpointPorts6\":[{\"ip\":\"fd00::1\","
		     "\"port\":80}]}]}",
		     "services[0].endpointPorts6[0]: expected an ip, a port and a targetPort");
}

/*
 * A waypoint of IPv6 alone (its pods' ip6, its Service's vip6): "addresses6" travels beside an
 * empty "addresses", in order, only when it has some; the decoder refuses one that is no IPv6
 * address (IPv4, a prefix, not a string) or an addresses6 that is no array, naming the field.
 */
static void test_waypoint_addresses6(void **state)
{
	struct snapshot *s = sample(), *d;
	struct snap_waypoint *wp = calloc(1, sizeof(*wp));
	char err[256], *json;
	const char *wl =
	    "{\"version\":1,\"workloads\":[{\"name\":\"a\",\"namespace\":\"b\",\"ip\":\"10.0.0.1\","
	    "\"waypoint\":{\"name\":\"b/wp\",\"identity\":\"spiffe://x\",\"port\":15008,"
	    "\"addresses\":[],\"addresses6\":";
	char bad[512];

	assert_non_null(wp);
	wp->name = strdup("demo/waypoint");
	wp->identity = strdup("spiffe://cluster.local/ns/demo/sa/waypoint");
	wp->hostname = strdup("waypoint.demo.svc.cluster.local");
	wp->port = 15008;
	wp->addresses6 = calloc(2, sizeof(*wp->addresses6));
	assert_non_null(wp->addresses6);
	assert_int_equal(ipaddr_parse_addr("fd00:96::20", &wp->addresses6[0]), 0);
	assert_int_equal(ipaddr_parse_addr("fd00:98:1::20", &wp->addresses6[1]), 0);
	wp->n_addresses6 = 2;
	s->services[0].waypoint = wp;
	json = snapshot_encode(s);
	assert_non_null(json);
	assert_non_null(strstr(json, "\"addresses\":[],\"addresses6\":[\"fd00:96::20\","
				     "\"fd00:98:1::20\"]"));
	d = snapshot_decode(json, strlen(json), err, sizeof(err));
	if (!d)
		fail_msg("%s", err);
	assert_non_null(d->services[0].waypoint);
	assert_int_equal(d->services[0].waypoint->n_addresses, 0);
	assert_int_equal(d->services[0].waypoint->n_addresses6, 2);
	assert_true(ipaddr_equal(&d->services[0].waypoint->addresses6[0], &wp->addresses6[0]));
	assert_true(ipaddr_equal(&d->services[0].waypoint->addresses6[1], &wp->addresses6[1]));
	free(json);
	snapshot_free(d);

	/* None (an IPv4 waypoint): not encoded, and none after decoding. */
	wp->n_addresses6 = 0;
	json = snapshot_encode(s);
	assert_null(strstr(json, "addresses6"));
	d = snapshot_decode(json, strlen(json), err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(d->services[0].waypoint->n_addresses6, 0);
	assert_null(d->services[0].waypoint->addresses6);
	free(json);
	snapshot_free(d);
	s->services[0].waypoint = NULL;
	snapshot_waypoint_free(wp);
	snapshot_free(s);

	snprintf(bad, sizeof(bad), "%s[\"fd00::1\",\"10.98.1.2\"]}}]}", wl);
	expect_error(bad, "workloads[0].waypoint.addresses6[1]: expected an IPv6 address string");
	snprintf(bad, sizeof(bad), "%s[\"fd00::/64\"]}}]}", wl);
	expect_error(bad, "workloads[0].waypoint.addresses6[0]");
	snprintf(bad, sizeof(bad), "%s[7]}}]}", wl);
	expect_error(bad, "workloads[0].waypoint.addresses6[0]");
	snprintf(bad, sizeof(bad), "%s\"fd00::1\"}}]}", wl);
	expect_error(bad, "workloads[0].waypoint.addresses6: expected an array");
}

/*
 * A ServiceEntry's vip6 (given or allocated) travels as a Service's does: only when set, read
 * back, in the memo's hash (a changed one is encoded anew), and refused by name when it is no
 * IPv6 address.
 */
static void test_entry_vip6(void **state)
{
	static const char json[] =
	    "{\"version\":1,\"serviceEntries\":["
	    "{\"name\":\"a.ext\",\"namespace\":\"n\",\"hostname\":\"a.ext\","
	    "\"vip\":\"240.240.0.5\",\"vip6\":\"2001:2::f0f0:5\",\"ports\":[],"
	    "\"endpoints\":[],\"kind\":\"MESH_EXTERNAL\",\"resolution\":\"DNS\"},"
	    "{\"name\":\"b.ext\",\"namespace\":\"n\",\"hostname\":\"b.ext\","
	    "\"vip\":\"192.0.2.1\",\"ports\":[],\"endpoints\":[],\"kind\":\"MESH_EXTERNAL\","
	    "\"resolution\":\"STATIC\"}]}";
	char err[256] = "", *enc, *plain, *memo;
	struct snapshot *s = snapshot_decode(json, sizeof(json) - 1, err, sizeof(err)), *d;
	struct json_memo *m = json_memo_new();
	struct ipaddr want;

	assert_non_null(s);
	assert_non_null(m);
	assert_int_equal(ipaddr_parse_addr("2001:2::f0f0:5", &want), 0);
	assert_true(ipaddr_equal(&s->entries[0].vip6, &want));
	assert_int_equal(s->entries[1].vip6.family, 0);
	enc = snapshot_encode(s);
	assert_non_null(enc);
	assert_non_null(strstr(enc, "\"vip6\":\"2001:2::f0f0:5\""));
	/* Once: b.ext has none, and none is written for it. */
	assert_null(strstr(strstr(enc, "\"vip6\"") + 1, "\"vip6\""));
	d = snapshot_decode(enc, strlen(enc), err, sizeof(err));
	assert_non_null(d);
	assert_true(ipaddr_equal(&d->entries[0].vip6, &want));
	assert_int_equal(d->entries[1].vip6.family, 0);
	snapshot_free(d);
	free(enc);

	memo = snapshot_encode_memo(s, m);
	free(memo);
	s->entries[0].vip6.a[15] = 6;
	plain = snapshot_encode(s);
	memo = snapshot_encode_memo(s, m);
	assert_non_null(strstr(plain, "2001:2::f0f0:6"));
	assert_string_equal(memo, plain);
	free(plain);
	free(memo);
	json_memo_free(m);
	snapshot_free(s);

	expect_error("{\"version\":1,\"serviceEntries\":[{\"name\":\"a\",\"namespace\":\"b\","
		     "\"vip\":\"240.240.0.5\",\"vip6\":\"240.240.0.6\"}]}",
		     "serviceEntries[0].vip6: \"240.240.0.6\" is not an IPv6 address");
	expect_error("{\"version\":1,\"serviceEntries\":[{\"name\":\"a\",\"namespace\":\"b\","
		     "\"vip\":\"240.240.0.5\",\"vip6\":\"2001:2::/48\"}]}",
		     "serviceEntries[0].vip6");
}

static void test_malformed(void **state)
{
	expect_error("{\"version\":1,", "invalid JSON");
	expect_error("[1,2]", "(root)");
	expect_error("{}", "version");
	expect_error("{\"version\":\"1\"}", "version");
	expect_error("{\"version\":-1}", "version");
	expect_error("{\"version\":1.5}", "version");
	expect_error("{\"version\":1,\"node\":5}", "node");
	expect_error("{\"version\":1,\"nodeIP\":\"300.1.1.1\"}", "nodeIP");
	expect_error("{\"version\":1,\"workloads\":{}}", "workloads");
	expect_error("{\"version\":1,\"workloads\":[7]}", "workloads[0]");
	expect_error("{\"version\":1,\"workloads\":[{\"name\":\"a\",\"namespace\":\"b\"}]}",
		     "workloads[0].ip");
	expect_error("{\"version\":1,\"workloads\":[{\"name\":\"a\",\"namespace\":\"b\","
		     "\"ip\":\"10.0.0.1\",\"enrolled\":\"yes\"}]}",
		     "workloads[0].enrolled");
	expect_error("{\"version\":1,\"workloads\":[{\"name\":\"a\",\"namespace\":\"b\","
		     "\"ip\":\"10.0.0.1\",\"ip6\":\"10.0.0.2\"}]}",
		     "workloads[0].ip6: \"10.0.0.2\" is not an IPv6 address");
	expect_error("{\"version\":1,\"services\":[{\"name\":\"a\",\"namespace\":\"b\","
		     "\"vip\":\"10.96.0.1\",\"ports\":[{\"port\":70000}]}]}",
		     "services[0].ports[0].port");
	expect_error("{\"version\":1,\"services\":[{\"name\":\"a\",\"namespace\":\"b\","
		     "\"vip\":\"10.96.0.1\",\"endpoints\":[\"x\"]}]}",
		     "services[0].endpoints[0]");
	expect_error("{\"version\":1,\"certs\":[{\"identity\":\"a\"}]}", "certs[0].certPEM");
	expect_error("{\"version\":1,\"trustDomainAliases\":\"a\"}", "trustDomainAliases");
	expect_error("{\"version\":1,\"trustDomainAliases\":[\"a\",\"\"]}",
		     "trustDomainAliases[1]");
	expect_error("{\"version\":1,\"captureMode\":\"cni\"}", "captureMode");
	expect_error("{\"version\":1,\"captureMode\":1}", "captureMode");
	expect_error("{\"version\":1,\"clusterId\":7}", "clusterId");
	expect_error("{\"version\":1,\"clusterId\":\"\"}", "clusterId: \"\" is not a label value");
	expect_error("{\"version\":1,\"clusterId\":\"a,b=c\"}", "clusterId");
	expect_error("{\"version\":1,\"network\":\"-net\"}",
		     "network: \"-net\" is not a label value");
}

/* The node's capture mode: each value both ways; absent (an older agent, or none decided). */
static void test_capture_mode_both_ways(void **state)
{
	static const char *const field[] = {"", "\"captureMode\":\"host\"",
					    "\"captureMode\":\"inpod\""};
	char err[256], json[128];

	for (int i = 0; i < 3; i++) {
		struct snapshot *d;
		char *enc;

		snprintf(json, sizeof(json), "{\"version\":1%s%s}", i ? "," : "", field[i]);
		d = snapshot_decode(json, strlen(json), err, sizeof(err));
		assert_non_null(d);
		assert_int_equal(d->capture, (enum snap_capture)i);
		enc = snapshot_encode(d);
		assert_non_null(enc);
		if (i)
			assert_non_null(strstr(enc, field[i]));
		else
			assert_null(strstr(enc, "captureMode"));
		free(enc);
		snapshot_free(d);
	}
}

static void test_minimal(void **state)
{
	const char *json = "{\"version\":3}";
	char err[64];
	struct snapshot *d = snapshot_decode(json, strlen(json), err, sizeof(err));

	assert_non_null(d);
	assert_int_equal(d->version, 3);
	assert_int_equal(d->n_workloads, 0);
	assert_string_equal(d->node, "");
	/* An agent that names no cluster: Istio's default, and no network. */
	assert_string_equal(d->cluster_id, SNAP_CLUSTER_ID);
	assert_string_equal(d->network, "");
	snapshot_free(d);
	snapshot_free(NULL);
}

/* Two encodings that differ only in their version are the same snapshot, and no others. */
static void test_same_but_version(void **state)
{
	struct snapshot s = {.version = 7, .node = "node1", .trust_domain = "cluster.local"};
	char *a, *b, *c;

	a = snapshot_encode(&s);
	s.version = 1234567890123ull;
	b = snapshot_encode(&s);
	s.node = "node2";
	c = snapshot_encode(&s);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_true(snapshot_same_but_version(a, b));
	assert_true(snapshot_same_but_version(b, a));
	assert_false(snapshot_same_but_version(b, c));
	assert_false(snapshot_same_but_version("{\"node\":\"x\"}", "{\"node\":\"x\"}"));
	free(a);
	free(b);
	free(c);
}

/* The memo's text is the plain encoding's, after each change, and it keeps what is in use. */
static void expect_same(struct snapshot *s, struct json_memo *m)
{
	char *plain = snapshot_encode(s), *memo = snapshot_encode_memo(s, m);

	assert_non_null(plain);
	assert_non_null(memo);
	assert_string_equal(memo, plain);
	free(plain);
	free(memo);
	assert_int_equal(json_memo_size(m), s->n_workloads + s->n_services);
}

static void swap_str(char **field, const char *v)
{
	free(*field);
	*field = v ? strdup(v) : NULL;
}

static int memo_encodings;

static uint64_t memo_elem_hash(const void *p)
{
	return json_hash_mem(p, sizeof(int), 7);
}

static cJSON *memo_elem_json(const void *p)
{
	memo_encodings++;
	return cJSON_CreateNumber(*(const int *)p);
}

/*
 * What an encoding used stays for the next one even when the table grew under it (a first
 * encoding of thousands of elements): the same elements again are all taken from the memo.
 */
static void test_memo_keeps_across_growth(void **state)
{
	enum { N = 5000 };
	struct json_memo *m = json_memo_new();
	static int elems[N];
	struct jbuf b;
	char *first = NULL, *second;

	assert_non_null(m);
	for (int pass = 0; pass < 3; pass++) {
		memo_encodings = 0;
		jbuf_init(&b, json_memo_last_len(m));
		for (int i = 0; i < N; i++) {
			elems[i] = i;
			jbuf_put(&b, ",", 1);
			assert_int_equal(
			    json_memo_write(&b, m, &elems[i], memo_elem_hash, memo_elem_json), 0);
		}
		json_memo_sweep(m);
		assert_int_equal(json_memo_size(m), N);
		assert_int_equal(memo_encodings, pass ? 0 : N);
		second = jbuf_take(&b);
		assert_non_null(second);
		if (pass) {
			assert_string_equal(first, second);
			free(first);
		}
		first = second;
	}
	free(first);
	json_memo_free(m);
}

static void test_memo(void **state)
{
	struct snapshot *s = sample();
	struct json_memo *m = json_memo_new();
	struct snap_workload *w = &s->workloads[1];
	struct snap_service *svc = &s->services[0];
	struct snap_waypoint *wp = calloc(1, sizeof(*wp));
	char **wfields[] = {&w->uid,
			    &w->name,
			    &w->namespace,
			    &w->service_account,
			    &w->identity,
			    &w->node,
			    &w->workload_name,
			    &w->app,
			    &w->version,
			    &w->canonical_service,
			    &w->canonical_revision};

	assert_non_null(m);
	expect_same(s, m);
	expect_same(s, m); /* all from the memo */
	for (size_t i = 0; i < sizeof(wfields) / sizeof(wfields[0]); i++) {
		swap_str(wfields[i], "changed");
		expect_same(s, m);
	}
	w->ip = ip("10.98.2.3");
	expect_same(s, m);
	w->node_ip = ip("10.99.0.13");
	expect_same(s, m);
	w->enrolled = !w->enrolled;
	expect_same(s, m);
	wp->name = strdup("demo/waypoint");
	wp->identity = strdup("spiffe://cluster.local/ns/demo/sa/waypoint");
	wp->hostname = strdup("waypoint.demo.svc.cluster.local");
	wp->port = 15008;
	wp->n_addresses = 1;
	wp->addresses = calloc(1, sizeof(uint32_t));
	wp->addresses[0] = ip("10.96.0.99");
	w->waypoint = wp;
	expect_same(s, m);
	wp->addresses[0] = ip("10.96.0.98");
	expect_same(s, m);
	w->waypoint = NULL;
	svc->waypoint = wp;
	expect_same(s, m);
	wp->port = 15009;
	expect_same(s, m);
	/* Its IPv6 addresses added, then changed: the service is encoded anew. */
	wp->addresses6 = calloc(1, sizeof(*wp->addresses6));
	assert_non_null(wp->addresses6);
	assert_int_equal(ipaddr_parse_addr("fd00:98:1::20", &wp->addresses6[0]), 0);
	wp->n_addresses6 = 1;
	expect_same(s, m);
	wp->addresses6[0].a[15] = 0x21;
	expect_same(s, m);
	swap_str(&svc->hostname, "other.demo.svc.cluster.local");
	expect_same(s, m);
	svc->vip = ip("10.96.0.11");
	expect_same(s, m);
	assert_int_equal(ipaddr_parse_addr("fd00:96::b", &svc->vip6), 0);
	expect_same(s, m);
	w->ip6.a[15] ^= 1;
	expect_same(s, m);
	swap_str(&svc->ports[0].name, "grpc");
	expect_same(s, m);
	svc->ports[0].target_port = 9090;
	expect_same(s, m);
	svc->ports[0].port = 81;
	expect_same(s, m);
	svc->endpoints[1] = ip("10.98.2.3");
	expect_same(s, m);
	svc->nendpoints = 1;
	expect_same(s, m);
	/* An IPv6 slice's endpoint added, then changed: the service is encoded anew. */
	svc->endpoints6 = calloc(1, sizeof(*svc->endpoints6));
	assert_non_null(svc->endpoints6);
	assert_int_equal(ipaddr_parse_addr("fd00:98:9::1", &svc->endpoints6[0]), 0);
	svc->nendpoints6 = 1;
	expect_same(s, m);
	svc->endpoints6[0].a[15] = 2;
	expect_same(s, m);
	/* A workload gone leaves the memo with the next encoding. */
	s->n_workloads = 1;
	expect_same(s, m);
	s->n_workloads = 2;
	svc->waypoint = NULL;
	snapshot_waypoint_free(wp);
	json_memo_free(m);
	snapshot_free(s);
}

static void test_ipc_frames(void **state)
{
	int sv[2];
	char *out;
	size_t len;
	uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(ipc_write_frame(sv[0], "{\"op\":\"watch\"}", 14), 0);
	assert_int_equal(ipc_write_frame(sv[0], "", 0), 0);
	assert_int_equal(ipc_read_frame(sv[1], &out, &len), 0);
	assert_int_equal(len, 14);
	assert_string_equal(out, "{\"op\":\"watch\"}");
	free(out);
	assert_int_equal(ipc_read_frame(sv[1], &out, &len), 0);
	assert_int_equal(len, 0);
	free(out);
	/* An oversized length is refused without allocating. */
	assert_int_equal(write(sv[0], huge, 4), 4);
	assert_int_equal(ipc_read_frame(sv[1], &out, &len), -EMSGSIZE);
	/* A truncated frame is EOF. */
	assert_int_equal(write(sv[0],
			       "\0\0\0\x10"
			       "abc",
			       7),
			 7);
	close(sv[0]);
	assert_int_equal(ipc_read_frame(sv[1], &out, &len), -EPIPE);
	assert_null(out);
	close(sv[1]);
}

static void test_ipc_listen_request(void **state)
{
	char path[] = "/tmp/ambit-test-ipc-XXXXXX";
	char sock[64], *reply = NULL, *req;
	size_t len;
	int lfd, cfd;
	pid_t pid;

	assert_non_null(mkdtemp(path));
	snprintf(sock, sizeof(sock), "%s/s.sock", path);
	lfd = ipc_listen(sock);
	assert_true(lfd >= 0);
	/* A live listener is not replaced. */
	assert_int_equal(ipc_listen(sock), -EADDRINUSE);
	pid = fork();
	if (pid == 0) {
		/* The first connection queued is the EADDRINUSE probe, which sends nothing. */
		do {
			cfd = accept(lfd, NULL, NULL);
			if (cfd < 0)
				_exit(1);
		} while (ipc_read_frame(cfd, &req, &len) != 0);
		ipc_write_frame(cfd, "{\"ok\":true}", 11);
		_exit(strcmp(req, "{\"op\":\"get\"}") != 0);
	}
	assert_int_equal(ipc_request(sock, "{\"op\":\"get\"}", &reply), 0);
	assert_string_equal(reply, "{\"ok\":true}");
	free(reply);
	int status;
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(lfd);
	/* A stale socket file (nobody listening) is replaced. */
	lfd = ipc_listen(sock);
	assert_true(lfd >= 0);
	close(lfd);
	unlink(sock);
	rmdir(path);
	assert_true(ipc_connect("/nonexistent/ambit.sock") < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_ipv6_lookups),
	    cmocka_unit_test(test_ipv6_only_service),
	    cmocka_unit_test(test_ipv6_only_workload),
	    cmocka_unit_test(test_entry_vip6),
	    cmocka_unit_test(test_endpoints6),
	    cmocka_unit_test(test_service_ep_ports),
	    cmocka_unit_test(test_waypoint_addresses6),
	    cmocka_unit_test(test_public_omits_keys),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_minimal),
	    cmocka_unit_test(test_capture_mode_both_ways),
	    cmocka_unit_test(test_same_but_version),
	    cmocka_unit_test(test_memo),
	    cmocka_unit_test(test_memo_keeps_across_growth),
	    cmocka_unit_test(test_ipc_frames),
	    cmocka_unit_test(test_ipc_listen_request),
	};

	/* A protocol bug must fail the run, not hang it. */
	alarm(30);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
