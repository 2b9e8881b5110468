// SPDX-License-Identifier: Apache-2.0
/*
 * ztunnel decisions (routing, CONNECT checks, forwarded parsing), snapshot state, metrics, and
 * two whole ztunnels (workers, listeners, HBONE, splice) on loopback addresses standing in for
 * pods: 127.0.0.1 = client pod A (node n1), 127.0.0.2 = server pod B (node n2), 127.0.0.3 = pod C
 * (node n1, same-node path), 127.0.0.4 = outside the mesh. orig_dst is a real BPF hash map
 * filled by the test as the sockops program would (root needed for that part, else skipped).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <cmocka.h>
#include <linux/types.h>

#include "ambit/ca.h"
#include "ambit/datapath.h"
#include "ambit/ipc.h"
#include "../../../ztunnel/metrics.h"
#include "../../lib/harness.h"
#include "../../../ztunnel/proxy.h"
#include "../../../ztunnel/record.h"
#include "../../../ztunnel/resolved.h"
#include "../../../ztunnel/route.h"
#include "hbone/hbone.h"
#include "net/sock.h"

#define ID_A "spiffe://cluster.local/ns/demo/sa/a"
#define ID_B "spiffe://cluster.local/ns/demo/sa/b"
#define ID_C "spiffe://cluster.local/ns/demo/sa/c"

/* The cluster as node @node sees it; @certs (may be empty) issued by @ca. */
static struct snapshot *make_snap(const char *node, struct ambit_ca *ca, const char **ids, int nids,
				  uint16_t svc_target)
{
	struct snapshot *s = calloc(1, sizeof(*s));

	s->version = 1;
	s->node = strdup(node);
	s->trust_domain = strdup("cluster.local");
	s->root_pem = strdup(ca ? ca_root_pem(ca) : "");
	s->workloads = calloc(8, sizeof(*s->workloads)); /* room for tests to add */
	harness_add_wl(s, "a", "127.0.0.1", "n1", ID_A, true);
	harness_add_wl(s, "b", "127.0.0.2", "n2", ID_B, true);
	harness_add_wl(s, "c", "127.0.0.3", "n1", ID_C, true);
	harness_add_wl(s, "legacy", "127.0.0.5", "n1", "spiffe://cluster.local/ns/x/sa/l", false);
	s->n_services = 1;
	s->services = calloc(1, sizeof(*s->services));
	s->services[0].name = strdup("web");
	s->services[0].namespace = strdup("demo");
	s->services[0].hostname = strdup("web.demo.svc.cluster.local");
	s->services[0].vip = harness_ip4("127.0.0.10");
	s->services[0].nports = 1;
	s->services[0].ports = calloc(1, sizeof(struct snap_service_port));
	s->services[0].ports[0].name = strdup("http");
	s->services[0].ports[0].port = 80;
	s->services[0].ports[0].target_port = svc_target;
	s->services[0].nendpoints = 2;
	s->services[0].endpoints = calloc(2, sizeof(uint32_t));
	s->services[0].endpoints[0] = harness_ip4("127.0.0.2");
	s->services[0].endpoints[1] = harness_ip4("127.0.0.3");
	s->certs = calloc(nids ? nids : 1, sizeof(*s->certs));
	for (int i = 0; i < nids; i++) {
		struct ca_issued is;

		assert_int_equal(ca_issue(ca, ids[i], 3600, &is), 0);
		s->certs[i].identity = strdup(ids[i]);
		s->certs[i].cert_pem = is.cert_pem;
		s->certs[i].key_pem = is.key_pem;
		s->n_certs++;
	}
	return s;
}

/* zt_check_connect of a CONNECT by address (no local address, no network). */
static int check(const struct snapshot *s, const char *authority, const char *forwarded,
		 const char *peer, union sockaddr_inet *dst, const struct snap_workload **wl,
		 union sockaddr_inet *client)
{
	struct zt_connect c = {.authority = authority, .forwarded = forwarded, .peer_id = peer};

	return zt_check_connect(s, &c, dst, wl, client);
}

static unsigned int active_b_busy(uint32_t ip)
{
	return ip == harness_ip4("127.0.0.2") ? 5 : 1;
}

/*
 * Round robin is per service: calls alternating between two services in a fixed pattern still
 * reach every endpoint of each (one shared cursor sent every call of each to one endpoint).
 */
static void test_route_rr_per_service(void **state)
{
	struct snapshot *s = make_snap("n1", NULL, NULL, 0, 8080);
	union sockaddr_inet web = harness_sa("127.0.0.10", 80), api = harness_sa("127.0.0.11", 80);
	struct snap_service *svc;
	struct zt_route r;
	struct zt_rr rr = {0};
	bool seen[2][2] = {{false}};

	svc = realloc(s->services, 2 * sizeof(*s->services));
	assert_non_null(svc);
	s->services = svc;
	memset(&svc[1], 0, sizeof(svc[1]));
	svc[1].name = strdup("api");
	svc[1].namespace = strdup("demo");
	svc[1].hostname = strdup("api.demo.svc.cluster.local");
	svc[1].vip = harness_ip4("127.0.0.11");
	svc[1].nports = 1;
	svc[1].ports = calloc(1, sizeof(struct snap_service_port));
	svc[1].ports[0].name = strdup("http");
	svc[1].ports[0].port = 80;
	svc[1].nendpoints = 2;
	svc[1].endpoints = calloc(2, sizeof(uint32_t));
	svc[1].endpoints[0] = harness_ip4("127.0.0.2");
	svc[1].endpoints[1] = harness_ip4("127.0.0.3");
	s->n_services = 2;
	for (int i = 0; i < 8; i++) {
		const union sockaddr_inet *dst = i % 2 ? &api : &web;

		assert_int_equal(zt_route_outbound(s, NULL, dst, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
				 0);
		seen[i % 2][r.addr.v4.sin_addr.s_addr == harness_ip4("127.0.0.3")] = true;
	}
	assert_true(seen[0][0] && seen[0][1]);
	assert_true(seen[1][0] && seen[1][1]);
	snapshot_free(s);
}

/*
 * ServiceEntry hosts (snapshot "serviceEntries"): by address (the longest CIDR), by endpoint,
 * for the namespaces exportTo names; STATIC goes to an endpoint on the targetPort, NONE to the
 * address asked for, an unresolved DNS entry nowhere; anything else has no service (Passthrough
 * or, under REGISTRY_ONLY, BlackHole). The codec keeps what it reads.
 */
static void test_route_entries(void **state)
{
	static const char json[] =
	    "{\"version\":3,\"node\":\"n1\",\"workloads\":[],\"services\":[],"
	    "\"serviceEntries\":["
	    "{\"name\":\"api.ext\",\"namespace\":\"a\",\"hostname\":\"api.ext\","
	    " \"vip\":\"240.240.1.7\",\"ports\":[{\"name\":\"http\",\"port\":80,"
	    " \"targetPort\":8080}],\"endpoints\":[\"10.50.0.1\",\"10.50.0.2\"],"
	    " \"kind\":\"MESH_EXTERNAL\",\"resolution\":\"STATIC\","
	    " \"endpointPorts\":[{\"ip\":\"10.50.0.2\",\"port\":80,\"targetPort\":9090}]},"
	    "{\"name\":\"net.ext\",\"namespace\":\"a\",\"hostname\":\"net.ext\","
	    " \"vip\":\"0.0.0.0\",\"ports\":[{\"name\":\"tcp\",\"port\":5432}],"
	    " \"endpoints\":[],\"kind\":\"MESH_EXTERNAL\",\"resolution\":\"NONE\","
	    " \"addresses\":[\"2001:db8:60::/48\",\"10.60.0.0/16\"],\"exportTo\":[\"a\"]},"
	    "{\"name\":\"narrow.ext\",\"namespace\":\"b\",\"hostname\":\"narrow.ext\","
	    " \"vip\":\"0.0.0.0\",\"ports\":[{\"name\":\"tcp\",\"port\":5432}],"
	    " \"endpoints\":[],\"kind\":\"MESH_EXTERNAL\",\"resolution\":\"NONE\","
	    " \"addresses\":[\"10.60.7.0/24\"]},"
	    "{\"name\":\"dns.ext\",\"namespace\":\"a\",\"hostname\":\"dns.ext\","
	    " \"vip\":\"240.240.9.9\",\"ports\":[{\"name\":\"https\",\"port\":443}],"
	    " \"endpoints\":[],\"kind\":\"MESH_INTERNAL\",\"resolution\":\"DNS\",\"exportTo\":[]},"
	    "{\"name\":\"api6.ext\",\"namespace\":\"a\",\"hostname\":\"api6.ext\","
	    " \"vip\":\"240.240.1.8\",\"vip6\":\"2001:2::f0f0:108\",\"ports\":[{\"name\":\"http\","
	    " \"port\":80,\"targetPort\":8080}],\"endpoints\":[],"
	    " \"endpoints6\":[\"fd00:99::1\",\"fd00:99::2\"],"
	    " \"endpointPorts6\":[{\"ip\":\"fd00:99::2\",\"port\":80,\"targetPort\":9091}],"
	    " \"kind\":\"MESH_EXTERNAL\",\"resolution\":\"STATIC\"}],"
	    "\"outboundTrafficPolicy\":\"REGISTRY_ONLY\",\"certs\":[]}";
	struct snap_workload client = {.namespace = (char *)"a"},
			     other = {.namespace = (char *)"c"};
	union sockaddr_inet dst;
	struct zt_route r;
	struct zt_rr rr = {0};
	char err[200] = "", *enc;
	struct snapshot *s = snapshot_decode(json, sizeof(json) - 1, err, sizeof(err)), *again;

	assert_non_null(s);
	assert_true(s->registry_only);
	assert_int_equal(s->n_entries, 5);
	/* Both families; the IPv6 block holds no IPv4 destination (the routes below). */
	assert_int_equal(s->entries[1].n_cidrs, 2);
	assert_int_equal(s->entries[1].cidrs[0].family, AF_INET6);
	assert_int_equal(s->entries[1].cidrs[0].len, 48);
	assert_int_equal(s->entries[1].cidrs[1].len, 16);
	assert_int_equal(s->entries[3].kind, SNAP_SVC_MESH_INTERNAL);
	assert_int_equal(s->entries[3].resolution, SNAP_RES_DNS);
	assert_non_null(s->entries[3].export_to);
	assert_int_equal(s->entries[3].n_export_to, 0);

	/*
	 * STATIC, by its address: an endpoint on the targetPort, in turn; 10.50.0.2 on its own
	 * number for the port (its `ports`).
	 */
	dst = harness_sa("240.240.1.7", 80);
	assert_int_equal(s->entries[0].n_ep_ports, 1);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(
		    zt_route_outbound(s, &client, &dst, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
		assert_ptr_equal(r.svc, &s->entries[0]);
		assert_null(r.dst_wl);
		assert_int_equal(ntohs(r.addr.v4.sin_port),
				 r.addr.v4.sin_addr.s_addr == harness_ip4("10.50.0.2") ? 9090
										       : 8080);
	}
	{
		uint32_t first = r.addr.v4.sin_addr.s_addr;

		assert_int_equal(
		    zt_route_outbound(s, &client, &dst, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
		assert_int_not_equal(r.addr.v4.sin_addr.s_addr, first);
	}
	/* An endpoint addressed itself is the entry, as is; a port it does not list is not. */
	dst = harness_sa("10.50.0.2", 80);
	assert_int_equal(zt_route_outbound(s, &client, &dst, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_ptr_equal(r.svc, &s->entries[0]);
	assert_int_equal(r.addr.v4.sin_addr.s_addr, harness_ip4("10.50.0.2"));
	assert_int_equal(ntohs(r.addr.v4.sin_port), 80);
	dst = harness_sa("240.240.1.7", 81);
	assert_int_equal(zt_route_outbound(s, &client, &dst, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_null(r.svc);

	/*
	 * STATIC of an IPv6 endpoint alone (an IPv6 cluster's): its IPv6 address goes there, on
	 * the targetPort; the endpoint addressed itself is the entry, as is; its IPv4 address has
	 * nothing behind it.
	 */
	{
		union sockaddr_inet one = harness_sa("fd00:99::1", 80);
		bool seen[2] = {false, false};

		/* In turn, fd00:99::2 on its own number for the port (its `ports`). */
		dst = harness_sa("2001:2::f0f0:108", 80);
		for (int i = 0; i < 2; i++) {
			bool first;

			assert_int_equal(
			    zt_route_outbound(s, &client, &dst, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
			    0);
			assert_ptr_equal(r.svc, &s->entries[4]);
			assert_int_equal(r.addr.sa.sa_family, AF_INET6);
			first = !memcmp(&r.addr.v6.sin6_addr, &one.v6.sin6_addr, 16);
			assert_int_equal(ntohs(r.addr.v6.sin6_port), first ? 8080 : 9091);
			seen[!first] = true;
		}
		assert_true(seen[0] && seen[1]);
	}
	dst = harness_sa("fd00:99::1", 80);
	assert_int_equal(zt_route_outbound(s, &client, &dst, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_ptr_equal(r.svc, &s->entries[4]);
	assert_int_equal(ntohs(r.addr.v6.sin6_port), 80);
	dst = harness_sa("240.240.1.8", 80);
	assert_int_equal(zt_route_outbound(s, &client, &dst, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
			 -EHOSTUNREACH);

	/* NONE with CIDRs: the longest prefix wins; exportTo hides the wider one from "c". */
	dst = harness_sa("10.60.7.9", 5432);
	assert_int_equal(zt_route_outbound(s, &client, &dst, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_ptr_equal(r.svc, &s->entries[2]);
	assert_int_equal(r.addr.v4.sin_addr.s_addr, dst.v4.sin_addr.s_addr);
	dst = harness_sa("10.60.8.9", 5432);
	assert_int_equal(zt_route_outbound(s, &client, &dst, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_ptr_equal(r.svc, &s->entries[1]);
	assert_int_equal(zt_route_outbound(s, &other, &dst, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_null(r.svc);

	/* DNS, nothing resolved (and exported to no one but the unknown client). */
	dst = harness_sa("240.240.9.9", 443);
	assert_int_equal(zt_route_outbound(s, &client, &dst, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_null(r.svc);
	assert_int_equal(zt_route_outbound(s, NULL, &dst, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_null(r.svc);

	/* Round trip. */
	enc = snapshot_encode(s);
	assert_non_null(enc);
	again = snapshot_decode(enc, strlen(enc), err, sizeof(err));
	assert_non_null(again);
	assert_true(again->registry_only);
	assert_int_equal(again->n_entries, 5);
	assert_true(ipaddr_equal(&again->entries[2].cidrs[0],
				 &(struct ipaddr){AF_INET, 24, {10, 60, 7, 0}}));
	assert_int_equal(again->entries[0].nendpoints, 2);
	assert_int_equal(again->entries[0].ports[0].target_port, 8080);
	assert_int_equal(again->entries[0].n_ep_ports, 1);
	assert_int_equal(again->entries[0].ep_ports[0].ip, harness_ip4("10.50.0.2"));
	assert_int_equal(again->entries[0].ep_ports[0].target_port, 9090);
	assert_non_null(again->entries[3].export_to);
	assert_null(again->entries[0].export_to);
	snapshot_free(again);
	free(enc);
	snapshot_free(s);

	/* Strict: a bad kind, address or policy is refused, naming the field. */
	{
		static const char *const bad[][2] = {
		    {"{\"version\":1,\"serviceEntries\":[{\"name\":\"x\",\"namespace\":\"a\","
		     "\"vip\":"
		     "\"0.0.0.0\",\"kind\":\"SIDEWAYS\"}]}",
		     "serviceEntries[0].kind"},
		    {"{\"version\":1,\"serviceEntries\":[{\"name\":\"x\",\"namespace\":\"a\","
		     "\"vip\":"
		     "\"0.0.0.0\",\"kind\":\"MESH_EXTERNAL\",\"resolution\":\"NONE\","
		     "\"addresses\":[\"10.0.0.0/33\"]}]}",
		     "serviceEntries[0].addresses[0]"},
		    {"{\"version\":1,\"serviceEntries\":[{\"name\":\"x\",\"namespace\":\"a\","
		     "\"vip\":\"0.0.0.0\",\"kind\":\"MESH_EXTERNAL\",\"resolution\":\"STATIC\","
		     "\"endpointPorts\":[{\"ip\":\"10.0.0.1\",\"port\":80,\"targetPort\":0}]}]}",
		     "serviceEntries[0].endpointPorts[0]"},
		    {"{\"version\":1,\"outboundTrafficPolicy\":\"DENY\"}", "outboundTrafficPolicy"},
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			assert_null(
			    snapshot_decode(bad[i][0], strlen(bad[i][0]), err, sizeof(err)));
			assert_non_null(strstr(err, bad[i][1]));
		}
	}
}

/* A DNS entry goes where its names resolved to (the proxy's table), DNS_ROUND_ROBIN to the first.
 */
static void test_route_dns_entries(void **state)
{
	static const char json[] =
	    "{\"version\":3,\"node\":\"n1\",\"workloads\":[],\"services\":[],"
	    "\"serviceEntries\":["
	    "{\"name\":\"web.ext\",\"namespace\":\"a\",\"hostname\":\"web.ext\","
	    " \"vip\":\"240.240.1.9\",\"ports\":[{\"name\":\"http\",\"port\":80,"
	    " \"targetPort\":8080}],\"endpoints\":[],\"kind\":\"MESH_EXTERNAL\","
	    " \"resolution\":\"DNS\",\"resolve\":[\"web.ext\"]},"
	    "{\"name\":\"lb.ext\",\"namespace\":\"a\",\"hostname\":\"lb.ext\","
	    " \"vip\":\"240.240.1.10\",\"ports\":[{\"name\":\"http\",\"port\":80}],"
	    " \"endpoints\":[],\"kind\":\"MESH_EXTERNAL\",\"resolution\":\"DNS_ROUND_ROBIN\","
	    " \"resolve\":[\"a.lb.ext\",\"b.lb.ext\"]}],\"certs\":[]}";
	const uint32_t web[2] = {harness_ip4("192.0.2.1"), harness_ip4("192.0.2.2")};
	const uint32_t a[1] = {harness_ip4("192.0.2.10")}, b[1] = {harness_ip4("192.0.2.11")};
	struct ipaddr web_a[2], a_a[1], b_a[1];
	union sockaddr_inet dst = harness_sa("240.240.1.9", 80);
	struct zt_route r;
	struct zt_rr rr = {0};
	char err[200], *enc;
	struct snapshot *s = snapshot_decode(json, sizeof(json) - 1, err, sizeof(err)), *again;
	bool seen[2] = {false, false};

	assert_non_null(s);
	assert_int_equal(s->entries[1].n_names, 2);
	ipaddr_from_v4(&web_a[0], web[0]);
	ipaddr_from_v4(&web_a[1], web[1]);
	ipaddr_from_v4(&a_a[0], a[0]);
	ipaddr_from_v4(&b_a[0], b[0]);
	/* Not resolved yet: nowhere to go. */
	zt_resolved_keep(NULL, 0);
	assert_int_equal(zt_route_outbound(s, NULL, &dst, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
			 -EHOSTUNREACH);
	assert_int_equal(zt_resolved_set("web.ext", AF_INET, web_a, 2), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(zt_route_outbound(s, NULL, &dst, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
				 0);
		assert_ptr_equal(r.svc, &s->entries[0]);
		assert_int_equal(ntohs(r.addr.v4.sin_port), 8080);
		seen[r.addr.v4.sin_addr.s_addr == web[1]] = true;
	}
	assert_true(seen[0] && seen[1]);
	assert_int_equal(zt_resolved_set("a.lb.ext", AF_INET, a_a, 1), 0);
	assert_int_equal(zt_resolved_set("b.lb.ext", AF_INET, b_a, 1), 0);
	dst = harness_sa("240.240.1.10", 80);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(zt_route_outbound(s, NULL, &dst, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
				 0);
		assert_int_equal(r.addr.v4.sin_addr.s_addr, a[0]);
	}
	/* Resolved to nothing (NXDOMAIN): nowhere again. */
	assert_int_equal(zt_resolved_set("a.lb.ext", AF_INET, NULL, 0), 0);
	assert_int_equal(zt_route_outbound(s, NULL, &dst, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_int_equal(r.addr.v4.sin_addr.s_addr, b[0]);
	/* Names of the snapshot only. */
	{
		char *keep[] = {(char *)"web.ext"};
		struct ipaddr got[2];

		zt_resolved_keep(keep, 1);
		assert_int_equal(zt_resolved_get("b.lb.ext", got, 2), 0);
		assert_int_equal(zt_resolved_get("web.ext", got, 2), 2);
	}
	enc = snapshot_encode(s);
	again = snapshot_decode(enc, strlen(enc), err, sizeof(err));
	assert_non_null(again);
	assert_int_equal(again->entries[1].n_names, 2);
	assert_string_equal(again->entries[1].names[1], "b.lb.ext");
	snapshot_free(again);
	free(enc);
	zt_resolved_keep(NULL, 0);
	snapshot_free(s);
}

static void test_route_outbound(void **state)
{
	struct snapshot *s = make_snap("n1", NULL, NULL, 0, 8080);
	union sockaddr_inet vip = harness_sa("127.0.0.10", 80),
			    other = harness_sa("127.0.0.10", 81);
	union sockaddr_inet pod = harness_sa("127.0.0.2", 9000), ext = harness_sa("1.1.1.1", 443);
	struct zt_route r;
	struct zt_rr rr = {0};
	uint32_t first;

	assert_int_equal(zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_ptr_equal(r.svc, &s->services[0]);
	assert_int_equal(ntohs(r.addr.v4.sin_port), 8080);
	first = r.addr.v4.sin_addr.s_addr;
	assert_non_null(r.dst_wl);
	assert_int_equal(zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_int_not_equal(r.addr.v4.sin_addr.s_addr, first); /* round robin alternates */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(
		    zt_route_outbound(s, NULL, &vip, ZT_LB_LEAST_CONN, &rr, active_b_busy, &r), 0);
		assert_int_equal(r.addr.v4.sin_addr.s_addr, harness_ip4("127.0.0.3"));
	}
	assert_int_equal(zt_route_outbound(s, NULL, &other, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
			 -EHOSTUNREACH);
	s->services[0].nendpoints = 0;
	assert_int_equal(zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
			 -EHOSTUNREACH);
	assert_int_equal(zt_route_outbound(s, NULL, &pod, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_null(r.svc);
	assert_string_equal(r.dst_wl->name, "b");
	assert_int_equal(ntohs(r.addr.v4.sin_port), 9000);
	assert_int_equal(zt_route_outbound(s, NULL, &ext, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_null(r.dst_wl);
	s->services[0].nendpoints = 2;
	snapshot_free(s);
}

/*
 * Plain TCP from a pod leaves with the pod's address only to a pod of the cluster outside the
 * mesh (an ingress gateway), addressed or picked from a Service, and only where the node
 * captures in host mode: never outside the cluster, to the mesh, to an address its node holds
 * or to the client itself.
 */
static void test_passthrough_as_client(void **state)
{
	struct snapshot *s = make_snap("n1", NULL, NULL, 0, 8080);
	union sockaddr_inet legacy = harness_sa("127.0.0.5", 8080),
			    vip = harness_sa("127.0.0.10", 80);
	union sockaddr_inet mesh = harness_sa("127.0.0.2", 9000), ext = harness_sa("1.1.1.1", 443);
	union sockaddr_inet a = harness_sa("127.0.0.1", 40000), self;
	struct snap_workload *l = &s->workloads[3];
	struct zt_route r;
	struct zt_rr rr = {0};

	assert_string_equal(l->name, "legacy");
	s->capture = SNAP_CAPTURE_HOST;
	assert_int_equal(
	    zt_route_outbound(s, &s->workloads[0], &legacy, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_true(zt_passthrough_as_client(s, &r, &a));
	/* In-pod (a bridge: the answer would go to the pod at L2), or not decided yet. */
	s->capture = SNAP_CAPTURE_INPOD;
	assert_false(zt_passthrough_as_client(s, &r, &a));
	s->capture = SNAP_CAPTURE_UNKNOWN;
	assert_false(zt_passthrough_as_client(s, &r, &a));
	s->capture = SNAP_CAPTURE_HOST;
	/* Its own address: nothing on the node would answer the pod's instead. */
	sockaddr_inet_v4(&self, l->ip, 40000);
	assert_false(zt_passthrough_as_client(s, &r, &self));
	/* A workload at its node's address (the node's own namespace). */
	l->node_ip = l->ip;
	assert_false(zt_passthrough_as_client(s, &r, &a));
	l->node_ip = 0;
	/* A Service whose endpoint is that pod: the VIP becomes the pod, which sees the client. */
	s->services[0].endpoints[0] = l->ip;
	s->services[0].nendpoints = 1;
	assert_int_equal(
	    zt_route_outbound(s, &s->workloads[0], &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_int_equal(r.addr.v4.sin_addr.s_addr, l->ip);
	assert_true(zt_passthrough_as_client(s, &r, &a));
	s->services[0].nendpoints = 2;
	/* Outside the cluster, and (were it asked) the mesh: the node's address as before. */
	assert_int_equal(
	    zt_route_outbound(s, &s->workloads[0], &ext, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_false(zt_passthrough_as_client(s, &r, &a));
	assert_int_equal(
	    zt_route_outbound(s, &s->workloads[0], &mesh, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_false(zt_passthrough_as_client(s, &r, &a));
	snapshot_free(s);
}

#define ID_WP "spiffe://cluster.local/ns/demo/sa/waypoint"

/*
 * A waypoint binding as the agent writes it: its Service's VIP first when one is known (then the
 * Service is in the snapshot too), then its instances.
 */
static struct snap_waypoint *make_wp(const char *vip, const char *inst1, const char *inst2)
{
	struct snap_waypoint *w = calloc(1, sizeof(*w));

	w->name = strdup("demo/waypoint");
	w->identity = strdup(ID_WP);
	w->hostname = strdup("waypoint.demo.svc.cluster.local");
	w->port = 15008;
	w->addresses = calloc(3, sizeof(uint32_t));
	if (vip)
		w->addresses[w->n_addresses++] = harness_ip4(vip);
	if (inst1)
		w->addresses[w->n_addresses++] = harness_ip4(inst1);
	if (inst2)
		w->addresses[w->n_addresses++] = harness_ip4(inst2);
	return w;
}

/*
 * API_SEMANTICS.md §9 on the client side: a Service bound to a waypoint sends its traffic to an
 * instance of the waypoint on 15008 (checked against the waypoint's identity), the CONNECT naming
 * the VIP as addressed; a pod's workload waypoint takes traffic to its IP and, when the Service
 * has none, traffic that a Service resolved to it; the waypoint's own traffic never loops back.
 */
static void test_route_waypoint(void **state)
{
	struct snapshot *s = make_snap("n1", NULL, NULL, 0, 8080);
	union sockaddr_inet vip = harness_sa("127.0.0.10", 80), pod = harness_sa("127.0.0.2", 9000);
	struct snap_workload *wpwl;
	struct zt_route r;
	struct zt_rr rr = {0};
	bool seen[2] = {false, false};

	s->services[0].waypoint = make_wp(NULL, "127.0.0.41", "127.0.0.42");
	for (int i = 0; i < 4; i++) {
		assert_int_equal(
		    zt_route_outbound(s, &s->workloads[0], &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
		    0);
		assert_non_null(r.wp);
		assert_string_equal(r.wp->identity, ID_WP);
		assert_ptr_equal(r.svc, &s->services[0]);
		/* The CONNECT names what was addressed; TLS goes to an instance on 15008. */
		assert_int_equal(r.addr.v4.sin_addr.s_addr, vip.v4.sin_addr.s_addr);
		assert_int_equal(ntohs(r.addr.v4.sin_port), 80);
		assert_int_equal(ntohs(r.wp_addr.v4.sin_port), 15008);
		/* No VIP known: the instances are used, round robin. */
		assert_true(r.wp_addr.v4.sin_addr.s_addr == harness_ip4("127.0.0.41") ||
			    r.wp_addr.v4.sin_addr.s_addr == harness_ip4("127.0.0.42"));
		seen[r.wp_addr.v4.sin_addr.s_addr == harness_ip4("127.0.0.42")] = true;
	}
	assert_true(seen[0] && seen[1]);
	/* With the waypoint's Service in the snapshot, its ready endpoints are the instances. */
	snapshot_waypoint_free(s->services[0].waypoint);
	s->services[0].waypoint = make_wp("127.0.0.10", "127.0.0.41", NULL);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(
		    zt_route_outbound(s, &s->workloads[0], &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
		    0);
		assert_true(r.wp_addr.v4.sin_addr.s_addr == harness_ip4("127.0.0.2") ||
			    r.wp_addr.v4.sin_addr.s_addr == harness_ip4("127.0.0.3"));
	}
	snapshot_waypoint_free(s->services[0].waypoint);
	s->services[0].waypoint = make_wp(NULL, "127.0.0.41", "127.0.0.42");
	/* Traffic the waypoint sends itself goes to the endpoints directly. */
	wpwl = &s->workloads[s->n_workloads++];
	memset(wpwl, 0, sizeof(*wpwl));
	wpwl->name = strdup("waypoint-0");
	wpwl->namespace = strdup("demo");
	wpwl->identity = strdup(ID_WP);
	wpwl->ip = harness_ip4("127.0.0.41");
	assert_int_equal(zt_route_outbound(s, wpwl, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_null(r.wp);
	assert_int_equal(ntohs(r.addr.v4.sin_port), 8080);
	/* A waypoint without an instance: nowhere to go (the waypoint is never bypassed). */
	s->services[0].waypoint->n_addresses = 0;
	assert_int_equal(
	    zt_route_outbound(s, &s->workloads[0], &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
	    -EHOSTUNREACH);
	snapshot_waypoint_free(s->services[0].waypoint);
	s->services[0].waypoint = NULL;
	/* A workload waypoint: the pod's IP, and a Service without a waypoint resolving to it. */
	s->workloads[1].waypoint = make_wp(NULL, "127.0.0.41", NULL);
	assert_int_equal(
	    zt_route_outbound(s, &s->workloads[0], &pod, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_non_null(r.wp);
	assert_int_equal(r.addr.v4.sin_addr.s_addr, pod.v4.sin_addr.s_addr);
	assert_int_equal(ntohs(r.addr.v4.sin_port), 9000);
	assert_int_equal(r.wp_addr.v4.sin_addr.s_addr, harness_ip4("127.0.0.41"));
	assert_ptr_equal(r.wp_wl, wpwl);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(
		    zt_route_outbound(s, &s->workloads[0], &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
		    0);
		/* b (127.0.0.2) has the waypoint, c (127.0.0.3) does not. */
		if (r.dst_wl == &s->workloads[1]) {
			assert_non_null(r.wp);
			assert_int_equal(ntohs(r.addr.v4.sin_port), 8080);
		} else {
			assert_null(r.wp);
		}
	}
	snapshot_free(s);
}

/*
 * The destination side: a CONNECT to a pod bound to a waypoint (through the Service the client
 * named in `forwarded: host=`, or its own) is accepted only from that waypoint's identity.
 */
static void test_check_connect_waypoint(void **state)
{
	struct snapshot *s = make_snap("n2", NULL, NULL, 0, 8080);
	const struct snap_workload *wl;
	union sockaddr_inet dst, client;
	const char *via_svc = "for=\"127.0.0.1:40000\";host=web.demo.svc.cluster.local";

	s->services[0].waypoint = make_wp("127.0.0.40", "127.0.0.41", NULL);
	/* Addressed through the Service: only the waypoint may connect. */
	assert_int_equal(check(s, "127.0.0.2:8080", via_svc, ID_A, &dst, &wl, &client), 401);
	assert_non_null(
	    zt_waypoint_bypass(s, &s->workloads[1], "web.demo.svc.cluster.local", ID_A));
	assert_int_equal(check(s, "127.0.0.2:8080", NULL, ID_WP, &dst, &wl, &client), 0);
	assert_null(zt_waypoint_bypass(s, &s->workloads[1], "web.demo.svc.cluster.local", ID_WP));
	/* Addressed to the pod itself: a Service waypoint does not apply. */
	assert_int_equal(check(s, "127.0.0.2:8080", NULL, ID_A, &dst, &wl, &client), 0);
	/* A host the pod is not behind is no reason either way. */
	assert_null(zt_waypoint_bypass(s, &s->workloads[1], "other.demo.svc.cluster.local", ID_A));
	/* The pod's own (workload) waypoint applies whatever was addressed. */
	s->workloads[1].waypoint = make_wp("127.0.0.50", "127.0.0.51", NULL);
	snapshot_waypoint_free(s->services[0].waypoint);
	s->services[0].waypoint = NULL;
	assert_int_equal(check(s, "127.0.0.2:8080", NULL, ID_A, &dst, &wl, &client), 401);
	assert_int_equal(check(s, "127.0.0.2:8080", via_svc, ID_A, &dst, &wl, &client), 401);
	assert_int_equal(check(s, "127.0.0.2:8080", NULL, ID_WP, &dst, &wl, &client), 0);
	/*
	 * The pod's workload waypoint is another (wlwp) while its Service has ID_WP's: the
	 * Service's waypoint, whose CONNECT names no host, is not refused; anyone else is.
	 */
	free(s->workloads[1].waypoint->identity);
	s->workloads[1].waypoint->identity = strdup("spiffe://cluster.local/ns/demo/sa/wlwp");
	s->services[0].waypoint = make_wp("127.0.0.40", "127.0.0.41", NULL);
	assert_int_equal(check(s, "127.0.0.2:8080", NULL, ID_WP, &dst, &wl, &client), 0);
	assert_int_equal(check(s, "127.0.0.2:8080", NULL, ID_A, &dst, &wl, &client), 401);
	assert_int_equal(check(s, "127.0.0.2:8080", NULL, "spiffe://cluster.local/ns/demo/sa/wlwp",
			       &dst, &wl, &client),
			 0);
	snapshot_free(s);
}

/* Gives workload @name of @s the IPv6 address @ip6. */
static void set_ip6(struct snapshot *s, const char *name, const char *ip6)
{
	for (size_t i = 0; i < s->n_workloads; i++)
		if (!strcmp(s->workloads[i].name, name)) {
			assert_int_equal(ipaddr_parse_addr(ip6, &s->workloads[i].ip6), 0);
			return;
		}
	fail_msg("no workload %s", name);
}

/*
 * IPv6 destinations: a pod by its ip6 (the route keeps the address, the workload found), a
 * Service by its vip6 to the ip6 of an endpoint's workload (endpoints without one passed over,
 * none left: unreachable), the target port as for IPv4; an address nobody has goes direct.
 */
static void test_route_ipv6(void **state)
{
	struct snapshot *s = make_snap("n1", NULL, NULL, 0, 8080);
	union sockaddr_inet pod = harness_sa("fd00::2", 9000), vip = harness_sa("fd00:96::a", 80);
	union sockaddr_inet ext = harness_sa("2001:db8::9", 443), zero = harness_sa("0.0.0.0", 80);
	struct zt_rr rr = {0};
	struct zt_route r;
	char buf[SOCKADDR_INET_STRLEN];
	bool seen[2] = {false, false};

	set_ip6(s, "b", "fd00::2");
	set_ip6(s, "c", "fd00::3");
	assert_int_equal(zt_route_outbound(s, NULL, &pod, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_non_null(r.dst_wl);
	assert_string_equal(r.dst_wl->name, "b");
	assert_null(r.svc);
	assert_true(sockaddr_inet_equal(&r.addr, &pod));
	/* No vip6 yet: the address is nobody's, it goes as addressed. */
	assert_int_equal(zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_null(r.svc);
	assert_null(r.dst_wl);
	assert_int_equal(ipaddr_parse_addr("fd00:96::a", &s->services[0].vip6), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
				 0);
		assert_ptr_equal(r.svc, &s->services[0]);
		assert_int_equal(r.addr.sa.sa_family, AF_INET6);
		assert_int_equal(sockaddr_inet_port(&r.addr), 8080);
		sockaddr_inet_format(&r.addr, buf, sizeof(buf));
		assert_true(!strcmp(buf, "[fd00::2]:8080") || !strcmp(buf, "[fd00::3]:8080"));
		seen[!strcmp(buf, "[fd00::3]:8080")] = true;
		assert_int_equal(r.dst_wl->ip6.family, AF_INET6);
	}
	assert_true(seen[0] && seen[1]);
	/* Least-connections picks the idle one among those with an IPv6 address. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(
		    zt_route_outbound(s, NULL, &vip, ZT_LB_LEAST_CONN, &rr, active_b_busy, &r), 0);
		assert_string_equal(sockaddr_inet_format(&r.addr, buf, sizeof(buf)),
				    "[fd00::3]:8080");
	}
	/* c has no IPv6 address: only b takes an IPv6 connection. */
	memset(&s->workloads[2].ip6, 0, sizeof(s->workloads[2].ip6));
	for (int i = 0; i < 3; i++) {
		assert_int_equal(zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
				 0);
		assert_string_equal(sockaddr_inet_format(&r.addr, buf, sizeof(buf)),
				    "[fd00::2]:8080");
		assert_string_equal(r.dst_wl->name, "b");
	}
	memset(&s->workloads[1].ip6, 0, sizeof(s->workloads[1].ip6));
	assert_int_equal(zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
			 -EHOSTUNREACH);
	/* A port the Service does not have. */
	set_ip6(s, "b", "fd00::2");
	sockaddr_inet_set_port(&vip, 81);
	assert_int_equal(zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
			 -EHOSTUNREACH);
	/* Outside the mesh and the registry: as addressed, passthrough. */
	assert_int_equal(zt_route_outbound(s, NULL, &ext, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_null(r.dst_wl);
	assert_null(r.svc);
	assert_true(sockaddr_inet_equal(&r.addr, &ext));
	/* A SingleStack IPv6 Service (vip 0): routed by its vip6; 0.0.0.0 is no Service's. */
	s->services[0].vip = 0;
	sockaddr_inet_set_port(&vip, 80);
	assert_int_equal(zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_ptr_equal(r.svc, &s->services[0]);
	assert_string_equal(sockaddr_inet_format(&r.addr, buf, sizeof(buf)), "[fd00::2]:8080");
	assert_int_equal(zt_route_outbound(s, NULL, &zero, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_null(r.svc);
	snapshot_free(s);
}

/*
 * A selectorless Service with IPv6 slices: [vip6]:port goes to one of its IPv6 endpoints
 * (endpoints6), round robin, outside the cluster or a pod's ip6 (its workload found), at the
 * target port; vip:port to its IPv4 endpoints alone. An endpoint of one family serves that
 * family: no IPv4 endpoint, the IPv4 VIP is unreachable and the IPv6 one still routed. A pod
 * that is an IPv6 endpoint alone is still the Service's for inbound attribution.
 */
static void test_route_selectorless_ipv6(void **state)
{
	struct snapshot *s = make_snap("n1", NULL, NULL, 0, 8080);
	struct snap_service *svc = &s->services[0];
	union sockaddr_inet vip = harness_sa("127.0.0.10", 80), vip6 = harness_sa("fd00:96::a", 80);
	const struct snap_workload *c = &s->workloads[2];
	struct zt_rr rr = {0};
	struct zt_route r;
	char buf[SOCKADDR_INET_STRLEN];
	bool seen[2] = {false, false};

	set_ip6(s, "c", "fd00::3");
	assert_int_equal(ipaddr_parse_addr("fd00:96::a", &svc->vip6), 0);
	/* Its IPv4 slice: an address outside the cluster. */
	svc->endpoints[0] = harness_ip4("127.0.0.50");
	svc->nendpoints = 1;
	svc->endpoints6 = calloc(2, sizeof(*svc->endpoints6));
	assert_non_null(svc->endpoints6);
	assert_int_equal(ipaddr_parse_addr("2001:db8::50", &svc->endpoints6[0]), 0);
	assert_int_equal(ipaddr_parse_addr("fd00::3", &svc->endpoints6[1]), 0);
	svc->nendpoints6 = 2;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(
		    zt_route_outbound(s, NULL, &vip6, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
		assert_ptr_equal(r.svc, svc);
		sockaddr_inet_format(&r.addr, buf, sizeof(buf));
		if (!strcmp(buf, "[2001:db8::50]:8080")) {
			assert_null(r.dst_wl);
			seen[0] = true;
		} else {
			assert_string_equal(buf, "[fd00::3]:8080");
			assert_ptr_equal(r.dst_wl, c);
			seen[1] = true;
		}
	}
	assert_true(seen[0] && seen[1]);
	/* Least-connections, both as busy (by c's IPv4, by the other's address): they rotate. */
	seen[0] = seen[1] = false;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(
		    zt_route_outbound(s, NULL, &vip6, ZT_LB_LEAST_CONN, &rr, active_b_busy, &r), 0);
		seen[!strcmp(sockaddr_inet_format(&r.addr, buf, sizeof(buf)), "[fd00::3]:8080")] =
		    true;
	}
	assert_true(seen[0] && seen[1]);
	/* The IPv4 VIP: the IPv4 endpoint alone. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
				 0);
		assert_ptr_equal(r.svc, svc);
		assert_string_equal(sockaddr_inet_format(&r.addr, buf, sizeof(buf)),
				    "127.0.0.50:8080");
		assert_null(r.dst_wl);
	}
	/* c is the Service's by its IPv6 alone. */
	assert_ptr_equal(zt_inbound_service(s, c, 8080, NULL), svc);
	assert_ptr_equal(zt_inbound_service(s, c, 8080, "web.demo.svc.cluster.local"), svc);
	/* A port the Service does not have. */
	sockaddr_inet_set_port(&vip6, 81);
	assert_int_equal(zt_route_outbound(s, NULL, &vip6, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
			 -EHOSTUNREACH);
	sockaddr_inet_set_port(&vip6, 80);
	/* No IPv4 endpoint (an IPv6 slice alone): vip unreachable, vip6 still routed. */
	svc->nendpoints = 0;
	assert_int_equal(zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
			 -EHOSTUNREACH);
	svc->vip = 0;
	assert_int_equal(zt_route_outbound(s, NULL, &vip6, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_ptr_equal(r.svc, svc);
	assert_int_equal(r.addr.sa.sa_family, AF_INET6);
	/* No IPv6 slice, its IPv4 endpoint no pod: nothing takes its IPv6 VIP. */
	svc->vip = harness_ip4("127.0.0.10");
	svc->nendpoints = 1;
	svc->nendpoints6 = 0;
	assert_int_equal(zt_route_outbound(s, NULL, &vip6, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
			 -EHOSTUNREACH);
	snapshot_free(s);
}

/*
 * A CONNECT to "[v6]:port" names the workload by its ip6; the client it claims is IPv6 too
 * (for="[v6]:port"), a workload of the peer's identity; a claimed client of the other family
 * than the destination's cannot be the pod's source: 400.
 */
static void test_check_connect_ipv6(void **state)
{
	struct snapshot *s = make_snap("n2", NULL, NULL, 0, 8080);
	const struct snap_workload *wl;
	union sockaddr_inet dst, client;
	char buf[SOCKADDR_INET_STRLEN];

	set_ip6(s, "a", "fd00::1");
	set_ip6(s, "b", "fd00::2");
	set_ip6(s, "c", "fd00::3");
	assert_int_equal(check(s, "[fd00::2]:8080", NULL, ID_A, &dst, &wl, &client), 0);
	assert_string_equal(wl->name, "b");
	assert_string_equal(sockaddr_inet_format(&dst, buf, sizeof(buf)), "[fd00::2]:8080");
	assert_true(sockaddr_inet_is_any(&client));
	assert_int_equal(
	    check(s, "[fd00::2]:8080", "for=\"[fd00::1]:40123\"", ID_A, &dst, &wl, &client), 0);
	assert_string_equal(sockaddr_inet_format(&client, buf, sizeof(buf)), "[fd00::1]:40123");
	/* Another identity's IPv6 address, or nobody's. */
	assert_int_equal(check(s, "[fd00::2]:8080", "for=\"[fd00::3]\"", ID_A, &dst, &wl, &client),
			 401);
	assert_int_equal(check(s, "[fd00::2]:8080", "for=\"[fd00::99]\"", ID_A, &dst, &wl, &client),
			 401);
	/* The families must agree (the pod's socket binds the client's address). */
	assert_int_equal(check(s, "[fd00::2]:8080", "for=127.0.0.1", ID_A, &dst, &wl, &client),
			 400);
	assert_true(sockaddr_inet_is_any(&client));
	assert_int_equal(check(s, "127.0.0.2:8080", "for=\"[fd00::1]\"", ID_A, &dst, &wl, &client),
			 400);
	/* Unquoted, §6 says no: malformed. */
	assert_int_equal(check(s, "[fd00::2]:8080", "for=[fd00::1]", ID_A, &dst, &wl, &client),
			 400);
	/* Not served here (another node's pod, nobody's address), proxy ports, bare IPv6. */
	assert_int_equal(check(s, "[fd00::1]:80", NULL, ID_A, &dst, &wl, &client), 400);
	assert_int_equal(check(s, "[fd00::9]:80", NULL, ID_A, &dst, &wl, &client), 400);
	assert_int_equal(check(s, "[fd00::2]:15008", NULL, ID_A, &dst, &wl, &client), 503);
	assert_int_equal(check(s, "fd00::2:8080", NULL, ID_A, &dst, &wl, &client), 400);
	snapshot_free(s);
}

/* fd00::22 busy, anything else idle: least-connections counts an IPv6-only pod by its IPv6. */
static unsigned int active_v6_busy(uint32_t key)
{
	struct ipaddr a;

	assert_int_equal(ipaddr_parse_addr("fd00::22", &a), 0);
	return key == zt_lc_key(NULL, &a) ? 3 : 0;
}

/*
 * Pods with IPv6 alone (ip 0): an IPv6-only client reaches an IPv6-only server through the
 * Service's vip6 (its endpoints6), with least-connections the idle one of two, and at the
 * server's own address; the server's ztunnel takes the CONNECT for it and the client it claims
 * as that client's identity, whose workload labels the metrics; 0.0.0.0 is neither's.
 */
static void test_ipv6_only_client(void **state)
{
	struct snapshot *s = make_snap("n2", NULL, NULL, 0, 8080);
	struct snap_service *svc = &s->services[0];
	union sockaddr_inet vip6 = harness_sa("fd00:96::a", 80), peer, dst, client;
	const struct snap_workload *cli, *srv, *wl;
	struct metrics_labels l;
	struct zt_rr rr = {0};
	struct zt_route r;
	char buf[SOCKADDR_INET_STRLEN];

	harness_add_wl(s, "v6c", "0.0.0.0", "n1", ID_A, true);
	harness_add_wl(s, "v6s", "0.0.0.0", "n2", ID_B, true);
	set_ip6(s, "v6c", "fd00::21");
	set_ip6(s, "v6s", "fd00::22");
	cli = &s->workloads[s->n_workloads - 2];
	srv = &s->workloads[s->n_workloads - 1];
	assert_int_equal(srv->ip, 0);
	/* A selector Service of it: no IPv4 endpoint to list it by, its IPv6 in endpoints6. */
	assert_int_equal(ipaddr_parse_addr("fd00:96::a", &svc->vip6), 0);
	svc->vip = 0;
	svc->nendpoints = 0;
	svc->endpoints6 = calloc(1, sizeof(*svc->endpoints6));
	assert_non_null(svc->endpoints6);
	svc->endpoints6[0] = srv->ip6;
	svc->nendpoints6 = 1;

	peer = harness_sa("fd00::21", 40123);
	assert_ptr_equal(zt_workload_at(s, &peer), cli);
	assert_int_equal(zt_route_outbound(s, cli, &vip6, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_ptr_equal(r.svc, svc);
	assert_ptr_equal(r.dst_wl, srv);
	assert_string_equal(sockaddr_inet_format(&r.addr, buf, sizeof(buf)), "[fd00::22]:8080");
	dst = harness_sa("fd00::22", 8080);
	assert_int_equal(zt_route_outbound(s, cli, &dst, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_null(r.svc);
	assert_ptr_equal(r.dst_wl, srv);
	/* The Service is the server's for inbound attribution, by its IPv6 alone. */
	assert_ptr_equal(zt_inbound_service(s, srv, 8080, NULL), svc);
	/* A second IPv6-only server: least-connections passes the busy one over, every time. */
	harness_add_wl(s, "v6s2", "0.0.0.0", "n2", ID_B, true);
	set_ip6(s, "v6s2", "fd00::23");
	svc->endpoints6 = realloc(svc->endpoints6, 2 * sizeof(*svc->endpoints6));
	assert_non_null(svc->endpoints6);
	svc->endpoints6[1] = s->workloads[s->n_workloads - 1].ip6;
	svc->nendpoints6 = 2;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(
		    zt_route_outbound(s, cli, &vip6, ZT_LB_LEAST_CONN, &rr, active_v6_busy, &r), 0);
		assert_ptr_equal(r.dst_wl, &s->workloads[s->n_workloads - 1]);
	}
	/* Its key: its IPv6 folded, never 0; a pod with IPv4 is counted by that. */
	assert_int_not_equal(zt_lc_key(srv, &srv->ip6), 0);
	assert_int_equal(zt_lc_key(&s->workloads[1], &srv->ip6), s->workloads[1].ip);

	/* At the server's node: the CONNECT, the claimed client of the peer's identity. */
	assert_int_equal(
	    check(s, "[fd00::22]:8080", "for=\"[fd00::21]:40123\"", ID_A, &dst, &wl, &client), 0);
	assert_ptr_equal(wl, srv);
	assert_string_equal(sockaddr_inet_format(&client, buf, sizeof(buf)), "[fd00::21]:40123");
	assert_ptr_equal(zt_workload_at(s, &client), cli);
	assert_int_equal(
	    check(s, "[fd00::22]:8080", "for=\"[fd00::21]:40123\"", ID_C, &dst, &wl, &client), 401);
	zt_fill_labels(&l, "destination", s->cluster_id, zt_workload_at(s, &peer), NULL, srv, svc,
		       true);
	assert_string_equal(l.source_workload, "v6c");
	assert_string_equal(l.source_principal, ID_A);
	assert_string_equal(l.destination_workload, "v6s");
	/* Neither pod is 0.0.0.0's. */
	assert_int_equal(check(s, "0.0.0.0:8080", NULL, ID_A, &dst, &wl, &client), 400);
	assert_int_equal(check(s, "127.0.0.2:8080", "for=0.0.0.0", ID_A, &dst, &wl, &client), 401);
	peer = harness_sa("0.0.0.0", 40123);
	assert_null(zt_workload_at(s, &peer));
	snapshot_free(s);
}

/*
 * Istio's double HBONE: the inner CONNECT names `<Service hostname>:<Service port>`, the pod is
 * the one the connection reached (its local address), the port the Service's target on it; a
 * client of another network (x-forwarded-network) claims no address of this one.
 */
static void test_check_connect_by_host(void **state)
{
	struct snapshot *s = make_snap("n2", NULL, NULL, 0, 8080);
	union sockaddr_inet dst, client, at_b = harness_sa("127.0.0.2", 15008),
					 at_a = harness_sa("127.0.0.1", 15008),
					 at_legacy = harness_sa("127.0.0.5", 15008);
	const struct snap_workload *wl;
	struct zt_connect c = {
	    .authority = "web.demo.svc.cluster.local:80", .peer_id = ID_A, .local = &at_b};
	char host[64];
	uint16_t port;

	s->network = strdup("network1");
	assert_int_equal(zt_check_connect(s, &c, &dst, &wl, &client), 0);
	assert_string_equal(wl->name, "b");
	assert_int_equal(dst.v4.sin_addr.s_addr, harness_ip4("127.0.0.2"));
	assert_int_equal(ntohs(dst.v4.sin_port), 8080);
	assert_true(zt_connect_host(&c, host, sizeof(host)));
	assert_string_equal(host, "web.demo.svc.cluster.local");
	/* A port the Service lacks, a host it is not, a pod not of this node or not enrolled. */
	c.authority = "web.demo.svc.cluster.local:81";
	assert_int_equal(zt_check_connect(s, &c, &dst, &wl, &client), 400);
	c.authority = "api.demo.svc.cluster.local:80";
	assert_int_equal(zt_check_connect(s, &c, &dst, &wl, &client), 400);
	c.authority = "web.demo.svc.cluster.local:80";
	c.local = &at_a;
	assert_int_equal(zt_check_connect(s, &c, &dst, &wl, &client), 400);
	c.local = &at_legacy;
	assert_int_equal(zt_check_connect(s, &c, &dst, &wl, &client), 400);
	c.local = NULL;
	assert_int_equal(zt_check_connect(s, &c, &dst, &wl, &client), 400);
	/* From another network: its client address is not looked up here (same ranges). */
	c.local = &at_b;
	c.forwarded = "for=\"10.9.9.9:4000\";host=web.demo.svc.cluster.local";
	c.network = "network2";
	assert_int_equal(zt_check_connect(s, &c, &dst, &wl, &client), 0);
	assert_int_equal(client.sa.sa_family, 0);
	/* From this network it is, as any claim. */
	c.network = "network1";
	assert_int_equal(zt_check_connect(s, &c, &dst, &wl, &client), 401);
	c.network = NULL;
	assert_int_equal(zt_check_connect(s, &c, &dst, &wl, &client), 401);
	/* What a hostname authority is. */
	assert_true(zt_authority_host("web:80", host, sizeof(host), &port));
	assert_string_equal(host, "web");
	assert_int_equal(port, 80);
	assert_false(zt_authority_host("127.0.0.1:80", host, sizeof(host), &port));
	assert_false(zt_authority_host("[::1]:80", host, sizeof(host), &port));
	assert_false(zt_authority_host("a:b:80", host, sizeof(host), &port));
	assert_false(zt_authority_host("web:0", host, sizeof(host), &port));
	assert_false(zt_authority_host("web:65536", host, sizeof(host), &port));
	assert_false(zt_authority_host("web:", host, sizeof(host), &port));
	assert_false(zt_authority_host(":80", host, sizeof(host), &port));
	assert_false(zt_authority_host("web:8x", host, sizeof(host), &port));
	assert_false(zt_authority_host(NULL, host, sizeof(host), &port));
	assert_false(zt_authority_host("averyveryverylonghostname:80", host, 8, &port));
	snapshot_free(s);
}

static void test_check_connect(void **state)
{
	struct snapshot *s = make_snap("n2", NULL, NULL, 0, 8080);
	const struct snap_workload *wl;
	union sockaddr_inet dst, client;
	static const char *const bad[] = {"",
					  "abc",
					  "127.0.0.2",
					  "127.0.0.2:",
					  "127.0.0.2:0",
					  "127.0.0.2:65536",
					  "127.0.0.2:-1",
					  "127.0.0.2:80x",
					  "300.0.0.2:80",
					  ":80"};

	assert_int_equal(check(s, "127.0.0.2:8080", NULL, ID_A, &dst, &wl, &client), 0);
	assert_string_equal(wl->name, "b");
	assert_int_equal(ntohs(dst.v4.sin_port), 8080);
	assert_int_equal(client.v4.sin_addr.s_addr, INADDR_ANY);
	assert_int_equal(check(s, "127.0.0.2:8080", "for=127.0.0.1", ID_A, &dst, &wl, &client), 0);
	assert_int_equal(client.v4.sin_addr.s_addr, harness_ip4("127.0.0.1"));
	assert_int_equal(client.v4.sin_port, 0);
	/* The client's port travels quoted, as RFC 7239 §6 writes a node with a port. */
	assert_int_equal(
	    check(s, "127.0.0.2:8080", "for=\"127.0.0.1:40123\"", ID_A, &dst, &wl, &client), 0);
	assert_int_equal(client.v4.sin_addr.s_addr, harness_ip4("127.0.0.1"));
	assert_int_equal(ntohs(client.v4.sin_port), 40123);
	/* Claiming another identity's IP, or an unknown IP, is refused. */
	assert_int_equal(check(s, "127.0.0.2:8080", "for=127.0.0.3", ID_A, &dst, &wl, &client),
			 401);
	assert_int_equal(check(s, "127.0.0.2:8080", "for=10.9.9.9", ID_A, &dst, &wl, &client), 401);
	assert_int_equal(check(s, "127.0.0.2:8080", "for=\"_hidden\"", ID_A, &dst, &wl, &client),
			 400);
	/* Pods of another node and non-enrolled pods are not served here. */
	assert_int_equal(check(s, "127.0.0.1:80", NULL, ID_A, &dst, &wl, &client), 400);
	assert_int_equal(check(s, "127.0.0.5:80", NULL, ID_A, &dst, &wl, &client), 400);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(check(s, bad[i], NULL, ID_A, &dst, &wl, &client), 400);
	assert_int_equal(check(s, NULL, NULL, ID_A, &dst, &wl, &client), 400);
	/*
	 * The proxy's own ports are no tunnel's target: 503 before anything else is looked at
	 * (policy, a claimed client), as Istio's ztunnel refuses its illegal_ports.
	 */
	assert_int_equal(check(s, "127.0.0.2:15008", NULL, ID_A, &dst, &wl, &client), 503);
	assert_int_equal(check(s, "127.0.0.2:15006", "for=127.0.0.3", ID_A, &dst, &wl, &client),
			 503);
	assert_int_equal(check(s, "127.0.0.2:15001", NULL, ID_A, &dst, &wl, &client), 503);
	/* A pod not served here is still that first (400). */
	assert_int_equal(check(s, "127.0.0.1:15008", NULL, ID_A, &dst, &wl, &client), 400);
	/* Istio does not ban DNS, admin, stats and readiness ports: they go to the pod. */
	for (uint16_t p = 15000; p <= 15100; p++) {
		char auth[32];

		snprintf(auth, sizeof(auth), "127.0.0.2:%u", p);
		assert_int_equal(zt_proxy_port(p), p == 15001 || p == 15006 || p == 15008);
		assert_int_equal(check(s, auth, NULL, ID_A, &dst, &wl, &client),
				 zt_proxy_port(p) ? 503 : 0);
	}
	snapshot_free(s);
}

static void test_forwarded(void **state)
{
	static const char *const bad[] = {
	    "by=1.1.1.1",    "for=unknown",	  "for=1.2.3.4.5.6.7.8.9.10.11.12",
	    "xfor=1.2.3.4",  "for=\"1.2.3.4",	  "for=\"1.2.3.4:\"",
	    "for=1.2.3.4:0", "for=1.2.3.4:65536", "for=\"1.2.3.4:80x\"",
	    "for=1.2.3.4x",  "for=\"1.2.3.4:-1\""};
	union sockaddr_inet a;

	assert_int_equal(sock_parse_forwarded_for("for=10.1.2.3", &a), 0);
	assert_int_equal(a.v4.sin_addr.s_addr, harness_ip4("10.1.2.3"));
	assert_int_equal(a.v4.sin_port, 0);
	assert_int_equal(sock_parse_forwarded_for("proto=http;for=\"10.1.2.4:555\"", &a), 0);
	assert_int_equal(a.v4.sin_addr.s_addr, harness_ip4("10.1.2.4"));
	assert_int_equal(ntohs(a.v4.sin_port), 555);
	assert_int_equal(sock_parse_forwarded_for("For=10.1.2.5, for=1.1.1.1", &a), 0);
	assert_int_equal(a.v4.sin_addr.s_addr, harness_ip4("10.1.2.5"));
	assert_int_equal(sock_parse_forwarded_for("for=10.1.2.6:65535;proto=tcp", &a), 0);
	assert_int_equal(ntohs(a.v4.sin_port), 65535);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sock_parse_forwarded_for(bad[i], &a) != -EINVAL)
			fail_msg("accepted %s", bad[i]);
	assert_int_equal(sock_parse_forwarded_for(NULL, &a), -EINVAL);
}

/* `forwarded: host=` names the Service the client addressed; it ends up in metric labels. */
static void test_forwarded_host(void **state)
{
	static const char *const bad[] = {"for=1.2.3.4;host=",
					  "host=\"web",
					  "host=we\"b",
					  "host=web/x",
					  "host=\"web.demo\"x",
					  "host=a{b}",
					  "for=1.2.3.4;host=web\\n"};
	char h[64], small[4];

	assert_int_equal(sock_parse_forwarded_host(
			     "for=\"10.1.2.3:5\";host=web.demo.svc.cluster.local", h, sizeof(h)),
			 0);
	assert_string_equal(h, "web.demo.svc.cluster.local");
	assert_int_equal(sock_parse_forwarded_host("Host=\"db-1.x\";for=1.1.1.1", h, sizeof(h)), 0);
	assert_string_equal(h, "db-1.x");
	assert_int_equal(sock_parse_forwarded_host("for=10.1.2.3", h, sizeof(h)), -ENOENT);
	/* Only the first element counts: a later one was not added by the client ztunnel. */
	assert_int_equal(sock_parse_forwarded_host("for=1.1.1.1, host=evil", h, sizeof(h)),
			 -ENOENT);
	assert_int_equal(sock_parse_forwarded_host("xhost=web", h, sizeof(h)), -ENOENT);
	assert_int_equal(sock_parse_forwarded_host("host=long", small, sizeof(small)), -EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sock_parse_forwarded_host(bad[i], h, sizeof(h)) != -EINVAL)
			fail_msg("accepted %s", bad[i]);
	assert_int_equal(sock_parse_forwarded_host(NULL, h, sizeof(h)), -EINVAL);
}

/* W3C baggage from the client's ztunnel: its values end up in a waypoint's metric labels. */
static void test_baggage(void **state)
{
	static const char *const bag = "k8s.cluster.name=Kubernetes, k8s.namespace.name = shop;p=1,"
				       "k8s.deployment.name=web-v1,service.name=web";
	char v[64], small[4];

	assert_int_equal(sock_parse_baggage(bag, "k8s.namespace.name", v, sizeof(v)), 0);
	assert_string_equal(v, "shop");
	assert_int_equal(sock_parse_baggage(bag, "k8s.deployment.name", v, sizeof(v)), 0);
	assert_string_equal(v, "web-v1");
	assert_int_equal(sock_parse_baggage(bag, "service.name", v, sizeof(v)), 0);
	assert_string_equal(v, "web");
	assert_int_equal(sock_parse_baggage(bag, "service.version", v, sizeof(v)), -ENOENT);
	/* A key is a whole key, not a prefix of another. */
	assert_int_equal(
	    sock_parse_baggage("k8s.namespace.namex=a", "k8s.namespace.name", v, sizeof(v)),
	    -ENOENT);
	assert_int_equal(
	    sock_parse_baggage("service.name=webs", "service.name", small, sizeof(small)), -EINVAL);
	/* Only what a label value can be: no quotes, braces, percent-encoding or emptiness. */
	assert_int_equal(sock_parse_baggage("service.name=a\"b", "service.name", v, sizeof(v)),
			 -EINVAL);
	assert_int_equal(sock_parse_baggage("service.name=a%20b", "service.name", v, sizeof(v)),
			 -EINVAL);
	assert_int_equal(sock_parse_baggage("service.name=", "service.name", v, sizeof(v)),
			 -EINVAL);
	assert_int_equal(sock_parse_baggage(NULL, "service.name", v, sizeof(v)), -EINVAL);
}

/*
 * The workload description both HBONE ends send, written and read as Istio's ztunnel does (the
 * cases of its src/baggage.rs tests): the client's on the CONNECT, the destination's on the 200.
 */
static void test_baggage_codec(void **state)
{
	struct hbone_baggage w = {.cluster = "Kubernetes",
				  .ns = "shop",
				  .kind = "deployment",
				  .workload = "web",
				  .service = "web-svc",
				  .version = "v2",
				  .region = "eu-west1",
				  .zone = "eu-west1-b"};
	struct hbone_peer_baggage b;
	char out[HBONE_BAGGAGE_MAX], small[40];
	int n;

	assert_int_equal(hbone_baggage_parse("k8s.cluster.name=K1,k8s.namespace.name=NS1,"
					     "k8s.deployment.name=N1,service.name=N2,"
					     "service.version=V1",
					     &b),
			 0);
	assert_string_equal(b.cluster, "K1");
	assert_string_equal(b.ns, "NS1");
	assert_string_equal(b.workload, "N1");
	assert_string_equal(b.kind, "deployment");
	assert_string_equal(b.service, "N2");
	assert_string_equal(b.version, "V1");
	assert_string_equal(b.region, "");
	/* Empty values are absent. */
	assert_int_equal(hbone_baggage_parse("k8s.cluster.name=,k8s.namespace.name=,"
					     "k8s.deployment.name=,service.name=,service.version=",
					     &b),
			 -ENOENT);
	assert_string_equal(b.cluster, "");
	assert_string_equal(b.workload, "");
	assert_int_equal(hbone_baggage_parse(NULL, &b), -EINVAL);
	assert_string_equal(b.ns, "");
	/* Istio's workload kinds only; what is no label's shape is not taken. */
	assert_int_equal(hbone_baggage_parse("k8s.cronjob.name=nightly", &b), 0);
	assert_string_equal(b.kind, "cronjob");
	assert_string_equal(b.workload, "nightly");
	assert_int_equal(hbone_baggage_parse("k8s.job.name=once,cloud.region=r1", &b), 0);
	assert_string_equal(b.kind, "job");
	assert_string_equal(b.region, "r1");
	assert_int_equal(hbone_baggage_parse("k8s.statefulset.name=db", &b), -ENOENT);
	assert_int_equal(hbone_baggage_parse("service.name=a\"b,k8s.pod.name=p", &b), 0);
	assert_string_equal(b.service, "");
	assert_string_equal(b.workload, "p");

	/* Written in Istio's order, and read back the same. */
	n = hbone_baggage_format(&w, out, sizeof(out));
	assert_int_equal(n, (int)strlen(out));
	assert_string_equal(out, "k8s.cluster.name=Kubernetes,k8s.namespace.name=shop,"
				 "k8s.deployment.name=web,service.name=web-svc,service.version=v2,"
				 "cloud.region=eu-west1,cloud.availability_zone=eu-west1-b");
	assert_int_equal(hbone_baggage_parse(out, &b), 0);
	assert_string_equal(b.cluster, "Kubernetes");
	assert_string_equal(b.ns, "shop");
	assert_string_equal(b.kind, "deployment");
	assert_string_equal(b.workload, "web");
	assert_string_equal(b.service, "web-svc");
	assert_string_equal(b.version, "v2");
	assert_string_equal(b.zone, "eu-west1-b");
	/* What a workload does not have is left out, not written empty (nor "(null)"). */
	w.region = w.zone = NULL;
	w.version = "";
	w.kind = NULL;
	assert_true(hbone_baggage_format(&w, out, sizeof(out)) > 0);
	assert_string_equal(out, "k8s.cluster.name=Kubernetes,k8s.namespace.name=shop,"
				 "k8s.pod.name=web,service.name=web-svc");
	assert_int_equal(hbone_baggage_format(&w, small, sizeof(small)), -ENOSPC);
	assert_string_equal(small, "");
	assert_int_equal(hbone_baggage_format(&(struct hbone_baggage){0}, out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

/* A snapshot workload as both ends describe it, and the client's labels filled from the 200's. */
static void test_workload_baggage(void **state)
{
	struct snapshot *s = make_snap("n2", NULL, NULL, 0, 8080);
	struct snap_workload *b = &s->workloads[1];
	struct hbone_peer_baggage peer;
	struct metrics_labels l;
	char out[HBONE_BAGGAGE_MAX];

	/* A pod of no Deployment: its name, app and version stand in for the canonical ones. */
	zt_baggage(b, NULL, out, sizeof(out));
	assert_string_equal(out, "k8s.cluster.name=Kubernetes,k8s.namespace.name=demo,"
				 "k8s.pod.name=b,service.name=b,service.version=v1");
	free(b->workload_name);
	b->workload_name = strdup("b-deploy");
	b->canonical_service = strdup("bee");
	b->canonical_revision = strdup("r7");
	/* The cluster is the snapshot's (--cluster-id), Istio's default when it names none. */
	zt_baggage(b, "cluster1", out, sizeof(out));
	assert_string_equal(out,
			    "k8s.cluster.name=cluster1,k8s.namespace.name=demo,"
			    "k8s.deployment.name=b-deploy,service.name=bee,service.version=r7");

	/* The local view wins; the peer's word fills only what it lacks, never the principal. */
	assert_int_equal(hbone_baggage_parse("k8s.namespace.name=other,k8s.deployment.name=x,"
					     "service.name=xs,service.version=xv",
					     &peer),
			 0);
	zt_fill_labels(&l, "source", "cluster1", &s->workloads[0], NULL, b, NULL, true);
	zt_labels_from_peer(&l, &peer);
	assert_string_equal(l.source_cluster, "cluster1");
	assert_string_equal(l.destination_cluster, "cluster1");
	assert_string_equal(l.destination_workload, "b-deploy");
	assert_string_equal(l.destination_workload_namespace, "demo");
	assert_string_equal(l.destination_canonical_service, "bee");
	assert_string_equal(l.destination_canonical_revision, "r7");
	assert_string_equal(l.destination_app, "b");
	assert_string_equal(l.destination_principal, ID_B);
	zt_fill_labels(&l, "source", "cluster1", &s->workloads[0], NULL, NULL, NULL, true);
	zt_labels_from_peer(&l, &peer);
	/* The peer named no cluster: the destination is taken to be in this one. */
	assert_string_equal(l.destination_cluster, "cluster1");
	assert_string_equal(l.destination_workload, "x");
	assert_string_equal(l.destination_workload_namespace, "other");
	assert_string_equal(l.destination_canonical_service, "xs");
	assert_string_equal(l.destination_canonical_revision, "xv");
	/* Istio's derived destination: app is the workload, version the revision. */
	assert_string_equal(l.destination_app, "x");
	assert_string_equal(l.destination_version, "xv");
	assert_null(l.destination_principal);
	/* A destination the local view does not know is in the cluster its ztunnel names. */
	assert_int_equal(hbone_baggage_parse("k8s.cluster.name=cluster2,k8s.namespace.name=other,"
					     "k8s.deployment.name=x",
					     &peer),
			 0);
	zt_fill_labels(&l, "source", "cluster1", &s->workloads[0], NULL, NULL, NULL, true);
	zt_labels_from_peer(&l, &peer);
	assert_string_equal(l.source_cluster, "cluster1");
	assert_string_equal(l.destination_cluster, "cluster2");
	/* One it knows stays in its own, whatever the peer says. */
	zt_fill_labels(&l, "source", "cluster1", &s->workloads[0], NULL, b, NULL, true);
	zt_labels_from_peer(&l, &peer);
	assert_string_equal(l.destination_cluster, "cluster1");
	/* A 200 without baggage leaves the labels as they were. */
	hbone_baggage_parse(NULL, &peer);
	zt_fill_labels(&l, "source", NULL, &s->workloads[0], NULL, NULL, NULL, true);
	zt_labels_from_peer(&l, &peer);
	assert_string_equal(l.destination_cluster, SNAP_CLUSTER_ID);
	assert_null(l.destination_workload);
	assert_null(l.destination_canonical_service);
	snapshot_free(s);
}

/* The destination reporter's Service, chosen as Istio's ztunnel guesses it. */
static void test_inbound_service(void **state)
{
	struct snapshot *s = make_snap("n2", NULL, NULL, 0, 8080);
	const struct snap_workload *b = snapshot_workload_by_ip(s, harness_ip4("127.0.0.2"));
	const struct snap_workload *a = snapshot_workload_by_ip(s, harness_ip4("127.0.0.1"));

	/* By target port (plaintext: the client named no Service). */
	assert_ptr_equal(zt_inbound_service(s, b, 8080, NULL), &s->services[0]);
	assert_null(zt_inbound_service(s, b, 9090, NULL));
	/* By the client's host=, but only a Service that selects the pod. */
	assert_ptr_equal(zt_inbound_service(s, b, 9090, "web.demo.svc.cluster.local"),
			 &s->services[0]);
	assert_ptr_equal(zt_inbound_service(s, b, 8080, "other.demo.svc.cluster.local"),
			 &s->services[0]);
	assert_null(zt_inbound_service(s, a, 8080, "web.demo.svc.cluster.local"));
	assert_null(zt_inbound_service(s, NULL, 8080, NULL));
	/* A Service port without a target port targets its own number. */
	s->services[0].ports[0].target_port = 0;
	assert_ptr_equal(zt_inbound_service(s, b, 80, NULL), &s->services[0]);
	snapshot_free(s);
}

static void test_state_swap(void **state)
{
	char dir[] = "/tmp/ambit-test-zt-XXXXXX", cmd[80];
	struct mesh_state *st = mesh_state_create();
	struct ambit_ca *ca;
	struct mesh_snap *a, *b;
	const char *ids[] = {ID_A};

	assert_non_null(mkdtemp(dir));
	ca = ca_open(dir);
	assert_non_null(ca);
	assert_null(mesh_state_get(st));
	assert_int_equal(mesh_state_install(st, make_snap("n1", ca, ids, 1, 80)), 0);
	a = mesh_state_get(st);
	assert_non_null(mesh_snap_ctx(a, ID_A, false));
	assert_non_null(mesh_snap_ctx(a, ID_A, true));
	assert_null(mesh_snap_ctx(a, ID_B, false));
	assert_int_equal(mesh_state_install(st, make_snap("n1", ca, NULL, 0, 80)), 0);
	b = mesh_state_get(st);
	assert_ptr_not_equal(a, b);
	/* The old snapshot stays usable by whoever still holds it. */
	assert_string_equal(a->snap->certs[0].identity, ID_A);
	assert_null(mesh_snap_ctx(b, ID_A, false));
	mesh_snap_put(a);
	mesh_snap_put(b);
	mesh_state_destroy(st);
	ca_destroy(ca);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_metrics(void **state)
{
	struct metrics_labels l = {.reporter = "source",
				   .source_workload = "we\"ird",
				   .source_canonical_service = "web",
				   .source_canonical_revision = "v2",
				   .connection_security_policy = "none"};
	union sockaddr_inet a = harness_sa("10.0.0.1", 1000), b = harness_sa("10.0.0.2", 80);
	unsigned long before = metrics_open_count();
	struct connrec *r = connrec_open(&l, &a, &b, "outbound");
	char *text, *json;

	assert_non_null(r);
	assert_int_equal(metrics_open_count(), before + 1);
	connrec_bytes(r, true, 100);
	connrec_bytes(r, false, 7);
	json = metrics_connections_json();
	assert_non_null(strstr(json, "\"src\":\"10.0.0.1:1000\""));
	free(json);
	connrec_close(r, "test");
	assert_int_equal(metrics_open_count(), before);
	text = metrics_render();
	assert_non_null(strstr(text, "# HELP istio_tcp_connections_opened_total The total number "
				     "of TCP connections opened.\n"
				     "# TYPE istio_tcp_connections_opened_total counter\n"));
	assert_non_null(strstr(text, "# HELP istio_tcp_received_bytes_total "));
	/* Istio's label order: canonical service and revision right after the workload. */
	assert_non_null(strstr(text, "source_workload=\"we\\\"ird\",source_canonical_service="
				     "\"web\",source_canonical_revision=\"v2\","
				     "source_workload_namespace="));
	assert_non_null(strstr(text,
			       "destination_workload=\"unknown\",destination_canonical_"
			       "service=\"unknown\",destination_canonical_revision=\"unknown\","));
	assert_non_null(strstr(text, "source_workload=\"we\\\"ird\""));
	assert_non_null(strstr(text, "destination_workload=\"unknown\""));
	assert_non_null(strstr(text, "request_protocol=\"tcp\",response_flags=\"-\""));
	assert_non_null(strstr(text, "connection_security_policy=\"none\"} 100\n"));
	assert_non_null(strstr(text, "istio_tcp_sent_bytes_total{reporter=\"source\""));
	free(text);
}

/* Serves one watcher: expects {"op":"watch"}, sends snapshot @version, keeps it open. */
static int agent_serve(int lfd, uint64_t version)
{
	struct snapshot *s = make_snap("n1", NULL, NULL, 0, 80);
	char *req, *json;
	size_t len;
	int fd;

	s->version = version;
	json = snapshot_encode(s);
	snapshot_free(s);
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	assert_int_equal(ipc_read_frame(fd, &req, &len), 0);
	assert_string_equal(req, "{\"op\":\"watch\"}");
	free(req);
	/* Garbage first: it must be ignored, not installed, not fatal. */
	assert_int_equal(ipc_write_frame(fd, "{\"version\":\"x\"}", 15), 0);
	assert_int_equal(ipc_write_frame(fd, json, strlen(json)), 0);
	free(json);
	return fd;
}

static uint64_t wait_version(struct mesh_state *st, uint64_t want)
{
	for (int i = 0; i < 500; i++) {
		struct mesh_snap *zs = mesh_state_get(st);
		uint64_t v = zs ? zs->snap->version : 0;

		mesh_snap_put(zs);
		if (v == want)
			return v;
		usleep(10000);
	}
	return 0;
}

static void test_agent_watch_reconnect(void **state)
{
	char dir[] = "/tmp/ambit-test-zt-XXXXXX", path[64];
	struct mesh_state *st = mesh_state_create();
	struct agent_follow *a;
	int lfd, fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/agent.sock", dir);
	/* The watcher starts before the agent exists and keeps retrying. */
	a = agent_follow_start(st, path);
	assert_non_null(a);
	usleep(150000);
	lfd = ipc_listen(path);
	assert_true(lfd >= 0);
	fd = agent_serve(lfd, 7);
	assert_int_equal(wait_version(st, 7), 7);
	/* Agent restart: the snapshot stays while it is away, then the new one replaces it. */
	close(fd);
	close(lfd);
	unlink(path);
	usleep(200000);
	assert_int_equal(wait_version(st, 7), 7);
	lfd = ipc_listen(path);
	assert_true(lfd >= 0);
	fd = agent_serve(lfd, 1);
	assert_int_equal(wait_version(st, 1), 1);
	agent_follow_stop(a);
	close(fd);
	close(lfd);
	unlink(path);
	rmdir(dir);
	mesh_state_destroy(st);
}

/* ---- two ztunnels on loopback ---- */

static void round_trip(int app, int server_lfd, const char *want_peer)
{
	struct sockaddr_in peer;
	char buf[64];
	int up;

	assert_int_equal(write(app, "ping", 4), 4);
	up = harness_accept_within(server_lfd, 5000, &peer);
	assert_true(up >= 0);
	if (want_peer)
		assert_int_equal(peer.sin_addr.s_addr, harness_ip4(want_peer));
	assert_int_equal(read(up, buf, sizeof(buf)), 4);
	assert_int_equal(shutdown(app, SHUT_WR), 0);
	assert_int_equal(read(up, buf, sizeof(buf)), 0); /* half-close crossed the mesh */
	assert_int_equal(write(up, "pong", 4), 4);
	close(up);
	assert_int_equal(read(app, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "pong", 4);
	assert_int_equal(read(app, buf, sizeof(buf)), 0);
	close(app);
}

static void test_two_ztunnels(void **state)
{
	char dir[] = "/tmp/ambit-test-zt-XXXXXX", cmd[80];
	const char *ids1[] = {ID_A, ID_C}, *ids2[] = {ID_B};
	struct mesh_state *st1, *st2;
	struct zt_worker *w1, *w2;
	struct snapshot *snap1;
	struct ambit_ca *ca;
	uint16_t p_out, p_hbone, p_b, p_c, p_ext;
	int orig_fd, out_fd, hbone_fd, srv_b, srv_c, srv_ext, app;
	char *text;

	orig_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "test_orig_dst", sizeof(struct ambit_addr),
				 sizeof(struct ambit_orig_dst), 1024, NULL);
	if (orig_fd < 0) {
		print_message("needs CAP_BPF: bpf_map_create: %s\n", strerror(errno));
		skip();
	}
	assert_non_null(mkdtemp(dir));
	ca = ca_open(dir);
	assert_non_null(ca);
	srv_b = harness_listen("127.0.0.2", &p_b);
	srv_c = harness_listen("127.0.0.3", &p_c);
	srv_ext = harness_listen("127.0.0.4", &p_ext);
	out_fd = sock_listen(harness_ip4("127.0.0.1"), 0, false);
	hbone_fd = sock_listen(harness_ip4("127.0.0.2"), 0, true);
	assert_true(out_fd >= 0 && hbone_fd >= 0);
	{
		struct sockaddr_in a;
		socklen_t sl = sizeof(a);

		getsockname(out_fd, (struct sockaddr *)&a, &sl);
		p_out = ntohs(a.sin_port);
		sl = sizeof(a);
		getsockname(hbone_fd, (struct sockaddr *)&a, &sl);
		p_hbone = ntohs(a.sin_port);
	}
	st1 = mesh_state_create();
	st2 = mesh_state_create();
	snap1 = make_snap("n1", ca, ids1, 2, p_b);
	snap1->services[0].nendpoints = 1; /* B only: C listens on another port */
	/* Node n1 knows B's address and identity but not its workload: B's 200 says it. */
	free(snap1->workloads[1].workload_name);
	snap1->workloads[1].workload_name = NULL;
	assert_int_equal(mesh_state_install(st1, snap1), 0);
	assert_int_equal(mesh_state_install(st2, make_snap("n2", ca, ids2, 1, p_b)), 0);
	struct zt_proxy_opts o1 = {.outbound_fd = out_fd,
				   .inbound_fd = -1,
				   .hbone_fd = -1,
				   .orig_dst_fd = orig_fd,
				   .orig_dst6_fd = -1,
				   .outbound6_fd = -1,
				   .inbound6_fd = -1,
				   .hbone6_fd = -1,
				   .hbone_port = p_hbone};
	struct zt_proxy_opts o2 = {.outbound_fd = -1,
				   .inbound_fd = -1,
				   .hbone_fd = hbone_fd,
				   .orig_dst_fd = -1,
				   .orig_dst6_fd = -1,
				   .outbound6_fd = -1,
				   .inbound6_fd = -1,
				   .hbone6_fd = -1,
				   .hbone_port = p_hbone};
	w1 = zt_worker_start(st1, &o1);
	w2 = zt_worker_start(st2, &o2);
	assert_non_null(w1);
	assert_non_null(w2);

	/* A -> B (other node): HBONE; B sees A's IP (trusted forwarded: for=). */
	round_trip(harness_pod_a_connect(orig_fd, p_out, "127.0.0.2", p_b), srv_b, "127.0.0.1");
	/* A -> Service VIP:80: endpoint B, target port, over HBONE. */
	round_trip(harness_pod_a_connect(orig_fd, p_out, "127.0.0.10", 80), srv_b, "127.0.0.1");
	/* A -> C (same node): short-circuit, C sees A's IP. */
	round_trip(harness_pod_a_connect(orig_fd, p_out, "127.0.0.3", p_c), srv_c, "127.0.0.1");
	/* A -> outside the mesh: plain TCP from the node. */
	round_trip(harness_pod_a_connect(orig_fd, p_out, "127.0.0.4", p_ext), srv_ext, NULL);
	/* No original destination recorded: the connection is closed, nothing leaks out. */
	{
		struct sockaddr_in to = harness_sin("127.0.0.1", p_out);
		char buf[4];

		app = socket(AF_INET, SOCK_STREAM, 0);
		assert_int_equal(connect(app, (struct sockaddr *)&to, sizeof(to)), 0);
		assert_true(read(app, buf, sizeof(buf)) <= 0);
		close(app);
	}
	text = metrics_render();
	assert_non_null(strstr(text, "reporter=\"source\",source_workload=\"a\""));
	assert_non_null(strstr(text, "reporter=\"destination\",source_workload=\"a\""));
	assert_non_null(strstr(text, "destination_principal=\"" ID_B "\""));
	assert_non_null(strstr(text, "connection_security_policy=\"mutual_tls\""));
	/*
	 * The client's series to B name B's workload, canonical service and revision as its
	 * ztunnel's 200 described them (Istio's response baggage), where n1's view had none.
	 */
	{
		int n = 0;

		for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
			if (!strstr(line, "reporter=\"source\"") ||
			    !strstr(line, "destination_principal=\"" ID_B "\""))
				continue;
			n++;
			if (!strstr(line, "destination_workload=\"b\",destination_canonical_"
					  "service=\"b\",destination_canonical_revision=\"v1\","))
				fail_msg("B's labels not from its baggage: %s", line);
		}
		assert_true(n > 0);
	}
	free(text);

	zt_worker_stop(w1);
	zt_worker_stop(w2);
	mesh_state_destroy(st1);
	mesh_state_destroy(st2);
	close(out_fd);
	close(hbone_fd);
	close(srv_b);
	close(srv_c);
	close(srv_ext);
	close(orig_fd);
	ca_destroy(ca);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_route_outbound),
	    cmocka_unit_test(test_passthrough_as_client),
	    cmocka_unit_test(test_route_entries),
	    cmocka_unit_test(test_route_dns_entries),
	    cmocka_unit_test(test_route_rr_per_service),
	    cmocka_unit_test(test_check_connect),
	    cmocka_unit_test(test_check_connect_by_host),
	    cmocka_unit_test(test_check_connect_ipv6),
	    cmocka_unit_test(test_ipv6_only_client),
	    cmocka_unit_test(test_route_ipv6),
	    cmocka_unit_test(test_route_selectorless_ipv6),
	    cmocka_unit_test(test_route_waypoint),
	    cmocka_unit_test(test_check_connect_waypoint),
	    cmocka_unit_test(test_forwarded),
	    cmocka_unit_test(test_forwarded_host),
	    cmocka_unit_test(test_baggage),
	    cmocka_unit_test(test_baggage_codec),
	    cmocka_unit_test(test_workload_baggage),
	    cmocka_unit_test(test_inbound_service),
	    cmocka_unit_test(test_state_swap),
	    cmocka_unit_test(test_metrics),
	    cmocka_unit_test(test_two_ztunnels),
	    cmocka_unit_test(test_agent_watch_reconnect),
	};

	alarm(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
