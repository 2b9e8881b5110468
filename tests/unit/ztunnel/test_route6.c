// SPDX-License-Identifier: Apache-2.0
/*
 * ServiceEntries reached over IPv6 (ztunnel/route.c, snapshot_entry_by_addr6): by an entry's
 * vip6 (the address the DNS proxy answers AAAA with) to its endpoints, over IPv4 outside the
 * cluster and by the pod's IPv6 for a pod (one without any passed over); by its IPv6 CIDRs, the
 * longest first, for the namespaces it is exported to; a DNS entry to what its names resolved
 * to; an entry without a vip6 is not reached over IPv6; over IPv4 as before. Pods of an IPv6-only
 * cluster (workloads with "ip6" alone): found by their IPv6 and never by 0.0.0.0, reached from
 * one another directly and through a Service's vip6 (its endpoints6).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/harness.h"
#include "../../../ztunnel/resolved.h"
#include "../../../ztunnel/route.h"
#include "net/sock.h"

static const char SNAP[] =
    "{\"version\":3,\"node\":\"n1\",\"workloads\":["
    "{\"uid\":\"a/vm-0\",\"name\":\"vm-0\",\"namespace\":\"a\",\"ip\":\"10.98.1.9\","
    " \"ip6\":\"fd00:98:1::9\"},"
    "{\"uid\":\"a/vm-1\",\"name\":\"vm-1\",\"namespace\":\"a\",\"ip\":\"10.98.1.10\"}],"
    "\"services\":[],\"serviceEntries\":["
    "{\"name\":\"api.ext\",\"namespace\":\"a\",\"hostname\":\"api.ext\","
    " \"vip\":\"240.240.1.7\",\"vip6\":\"2001:2::f0f0:107\",\"ports\":[{\"name\":\"http\","
    " \"port\":80,\"targetPort\":8080}],\"endpoints\":[\"10.50.0.1\",\"10.50.0.2\"],"
    " \"kind\":\"MESH_EXTERNAL\",\"resolution\":\"STATIC\","
    " \"endpointPorts\":[{\"ip\":\"10.50.0.2\",\"port\":80,\"targetPort\":9090}]},"
    "{\"name\":\"web.mesh\",\"namespace\":\"a\",\"hostname\":\"web.mesh\","
    " \"vip\":\"240.240.1.8\",\"vip6\":\"2001:2::f0f0:108\",\"ports\":[{\"name\":\"http\","
    " \"port\":80}],\"endpoints\":[\"10.98.1.9\",\"10.98.1.10\"],"
    " \"kind\":\"MESH_INTERNAL\",\"resolution\":\"STATIC\"},"
    "{\"name\":\"net6.ext\",\"namespace\":\"a\",\"hostname\":\"net6.ext\","
    " \"vip\":\"0.0.0.0\",\"ports\":[{\"name\":\"tcp\",\"port\":5432}],\"endpoints\":[],"
    " \"kind\":\"MESH_EXTERNAL\",\"resolution\":\"NONE\","
    " \"addresses\":[\"2001:db8:60::/48\"],\"exportTo\":[\"a\"]},"
    "{\"name\":\"narrow6.ext\",\"namespace\":\"b\",\"hostname\":\"narrow6.ext\","
    " \"vip\":\"0.0.0.0\",\"ports\":[{\"name\":\"tcp\",\"port\":5432}],\"endpoints\":[],"
    " \"kind\":\"MESH_EXTERNAL\",\"resolution\":\"NONE\","
    " \"addresses\":[\"2001:db8:60:7::/64\"]},"
    "{\"name\":\"dns.ext\",\"namespace\":\"a\",\"hostname\":\"dns.ext\","
    " \"vip\":\"240.240.1.9\",\"vip6\":\"2001:2::f0f0:109\",\"ports\":[{\"name\":\"https\","
    " \"port\":443}],\"endpoints\":[],\"kind\":\"MESH_EXTERNAL\",\"resolution\":\"DNS\","
    " \"resolve\":[\"dns6.ext\"]},"
    "{\"name\":\"four.ext\",\"namespace\":\"a\",\"hostname\":\"four.ext\","
    " \"vip\":\"240.240.1.11\",\"ports\":[{\"name\":\"http\",\"port\":80}],"
    " \"endpoints\":[\"10.50.0.9\"],\"kind\":\"MESH_EXTERNAL\",\"resolution\":\"STATIC\"}],"
    "\"certs\":[]}";

static struct snapshot *decode(void)
{
	char err[200] = "";
	struct snapshot *s = snapshot_decode(SNAP, sizeof(SNAP) - 1, err, sizeof(err));

	if (!s)
		fail_msg("%s", err);
	return s;
}

static int route(const struct snapshot *s, const struct snap_workload *src, const char *ip,
		 uint16_t port, struct zt_rr *rr, struct zt_route *r)
{
	union sockaddr_inet dst = harness_sa(ip, port);

	return zt_route_outbound(s, src, &dst, ZT_LB_ROUND_ROBIN, rr, NULL, r);
}

/*
 * An entry outside the cluster by its vip6: each IPv4 endpoint in turn, on the targetPort or
 * the endpoint's own number; a port it does not list is not the entry's.
 */
static void test_vip6_to_ipv4_endpoints(void **state)
{
	struct snap_workload client = {.namespace = (char *)"a"};
	struct snapshot *s = decode();
	struct zt_rr rr = {0};
	struct zt_route r;
	bool seen[2] = {false, false};

	for (int i = 0; i < 4; i++) {
		assert_int_equal(route(s, &client, "2001:2::f0f0:107", 80, &rr, &r), 0);
		assert_ptr_equal(r.svc, &s->entries[0]);
		assert_null(r.dst_wl);
		assert_null(r.wp);
		assert_int_equal(r.addr.sa.sa_family, AF_INET);
		if (r.addr.v4.sin_addr.s_addr == harness_ip4("10.50.0.2")) {
			assert_int_equal(ntohs(r.addr.v4.sin_port), 9090);
			seen[1] = true;
		} else {
			assert_int_equal(r.addr.v4.sin_addr.s_addr, harness_ip4("10.50.0.1"));
			assert_int_equal(ntohs(r.addr.v4.sin_port), 8080);
			seen[0] = true;
		}
	}
	assert_true(seen[0] && seen[1]);
	assert_int_equal(route(s, &client, "2001:2::f0f0:107", 81, &rr, &r), 0);
	assert_null(r.svc);
	snapshot_free(s);
}

/*
 * An entry selecting pods, by its vip6: the pod with an IPv6 address by that one (its workload
 * known); the pod without one never (its CONNECT would carry an IPv6 client to an IPv4 pod).
 * By the IPv4 VIP both pods, by IPv4, as before.
 */
static void test_vip6_to_pods(void **state)
{
	struct snap_workload client = {.namespace = (char *)"a"};
	struct snapshot *s = decode();
	union sockaddr_inet want = harness_sa("fd00:98:1::9", 80);
	struct zt_rr rr = {0};
	struct zt_route r;
	bool seen[2] = {false, false};

	for (int i = 0; i < 3; i++) {
		assert_int_equal(route(s, &client, "2001:2::f0f0:108", 80, &rr, &r), 0);
		assert_ptr_equal(r.svc, &s->entries[1]);
		assert_ptr_equal(r.dst_wl, &s->workloads[0]);
		assert_true(sockaddr_inet_equal(&r.addr, &want));
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(route(s, &client, "240.240.1.8", 80, &rr, &r), 0);
		assert_int_equal(r.addr.sa.sa_family, AF_INET);
		seen[r.dst_wl == &s->workloads[1]] = true;
	}
	assert_true(seen[0] && seen[1]);
	/* Neither pod with an IPv6 address: nowhere to go. */
	s->workloads[0].ip6.family = 0;
	assert_int_equal(route(s, &client, "2001:2::f0f0:108", 80, &rr, &r), -EHOSTUNREACH);
	snapshot_free(s);
}

/*
 * IPv6 CIDRs: the longest prefix holding the destination, for the namespaces that see it;
 * NONE goes where the client asked. An entry without a vip6 is none of IPv6's.
 */
static void test_cidrs6_and_none(void **state)
{
	struct snap_workload client = {.namespace = (char *)"a"},
			     other = {.namespace = (char *)"c"};
	struct snapshot *s = decode();
	union sockaddr_inet dst = harness_sa("2001:db8:60:7::1", 5432);
	struct ipaddr a;
	struct zt_rr rr = {0};
	struct zt_route r;

	assert_int_equal(zt_route_outbound(s, &client, &dst, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_ptr_equal(r.svc, &s->entries[3]);
	assert_true(sockaddr_inet_equal(&r.addr, &dst));
	assert_int_equal(route(s, &client, "2001:db8:60:8::1", 5432, &rr, &r), 0);
	assert_ptr_equal(r.svc, &s->entries[2]);
	assert_int_equal(route(s, &other, "2001:db8:60:8::1", 5432, &rr, &r), 0);
	assert_null(r.svc);
	/* four.ext's IPv4 VIP has no IPv6 twin: what would pair with it is nothing's. */
	assert_int_equal(route(s, &client, "2001:2::f0f0:10b", 80, &rr, &r), 0);
	assert_null(r.svc);

	/* The look-up takes one IPv6 address: not a prefix, not IPv4. */
	assert_int_equal(ipaddr_parse("2001:2::f0f0:107", &a), 0);
	assert_ptr_equal(snapshot_entry_by_addr6(s, &a, 80, "a"), &s->entries[0]);
	assert_ptr_equal(snapshot_entry_by_addr6(s, &a, 0, NULL), &s->entries[0]);
	assert_null(snapshot_entry_by_addr6(s, &a, 81, "a"));
	assert_int_equal(ipaddr_parse("2001:2::/32", &a), 0);
	assert_null(snapshot_entry_by_addr6(s, &a, 0, NULL));
	assert_int_equal(ipaddr_parse("240.240.1.7", &a), 0);
	assert_null(snapshot_entry_by_addr6(s, &a, 0, NULL));
	assert_null(snapshot_entry_by_addr6(s, NULL, 0, NULL));
	snapshot_free(s);
}

/* A DNS entry by its vip6: the IPv4 addresses its names resolved to, none before. */
static void test_vip6_dns_entry(void **state)
{
	const uint32_t ips[1] = {harness_ip4("192.0.2.1")};
	struct ipaddr a;
	struct snapshot *s = decode();
	struct zt_rr rr = {0};
	struct zt_route r;

	zt_resolved_keep(NULL, 0);
	assert_int_equal(route(s, NULL, "2001:2::f0f0:109", 443, &rr, &r), -EHOSTUNREACH);
	ipaddr_from_v4(&a, ips[0]);
	assert_int_equal(zt_resolved_set("dns6.ext", AF_INET, &a, 1), 0);
	assert_int_equal(route(s, NULL, "2001:2::f0f0:109", 443, &rr, &r), 0);
	assert_ptr_equal(r.svc, &s->entries[4]);
	assert_int_equal(r.addr.sa.sa_family, AF_INET);
	assert_int_equal(r.addr.v4.sin_addr.s_addr, ips[0]);
	assert_int_equal(ntohs(r.addr.v4.sin_port), 443);
	zt_resolved_keep(NULL, 0);
	snapshot_free(s);
}

#define WP_ID "spiffe://cluster.local/ns/a/sa/wp"
#define WP_BINDING(addrs, addrs6)                                                                  \
	"\"waypoint\":{\"name\":\"a/wp\",\"identity\":\"" WP_ID "\","                              \
	"\"hostname\":\"wp.a.svc.cluster.local\",\"port\":15008,\"addresses\":[" addrs "],"        \
	"\"addresses6\":[" addrs6 "]}"

/*
 * Pods of IPv6 alone (ip 0.0.0.0): a waypoint's two instances, a Service of IPv6 bound to it
 * by their addresses alone (its Service not in the snapshot), one by its Service's vip6 (an
 * IPv6 slice's endpoint, the second instance), and one whose binding is dual stack.
 */
static const char SNAP_WP6[] =
    "{\"version\":3,\"node\":\"n1\",\"workloads\":["
    "{\"uid\":\"a/wp-0\",\"name\":\"wp-0\",\"namespace\":\"a\",\"ip\":\"0.0.0.0\","
    " \"ip6\":\"fd00:98:1::20\",\"identity\":\"" WP_ID "\"},"
    "{\"uid\":\"a/wp-1\",\"name\":\"wp-1\",\"namespace\":\"a\",\"ip\":\"0.0.0.0\","
    " \"ip6\":\"fd00:98:2::20\",\"identity\":\"" WP_ID "\"},"
    "{\"uid\":\"a/web-0\",\"name\":\"web-0\",\"namespace\":\"a\",\"ip\":\"0.0.0.0\","
    " \"ip6\":\"fd00:98:2::7\"}],"
    "\"services\":["
    "{\"name\":\"web\",\"namespace\":\"a\",\"hostname\":\"web.a.svc.cluster.local\","
    " \"vip6\":\"fd00:96::7\",\"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":8080}],"
    " \"endpoints\":[],\"endpoints6\":[\"fd00:98:2::7\"],"
    " " WP_BINDING(
	"",
	"\"fd00:98:1::20\",\"fd00:98:2::20\"") "},"
					       "{\"name\":\"wp\",\"namespace\":\"a\",\"hostname\":"
					       "\"wp.a.svc.cluster.local\","
					       " \"vip6\":\"fd00:96::20\",\"ports\":[{\"name\":"
					       "\"hbone\",\"port\":15008}],"
					       " \"endpoints\":[],\"endpoints6\":[\"fd00:98:2::"
					       "20\"]},"
					       "{\"name\":\"api\",\"namespace\":\"a\",\"hostname\":"
					       "\"api.a.svc.cluster.local\","
					       " \"vip6\":\"fd00:96::8\",\"ports\":[{\"name\":"
					       "\"http\",\"port\":80}],"
					       " \"endpoints\":[],"
					       " " WP_BINDING(
						   "",
						   "\"fd00:96::20\",\"fd00:98:1::20\",\"fd00:98:2::"
						   "20\"") "},"
							   "{\"name\":\"dual\",\"namespace\":\"a\","
							   "\"hostname\":\"dual.a.svc.cluster."
							   "local\","
							   " \"vip\":\"10.96.0.9\",\"vip6\":\"fd00:"
							   "96::9\",\"ports\":[{\"name\":\"http\","
							   "\"port\":80}],"
							   " \"endpoints\":[],"
							   " " WP_BINDING(
							       "\"10.98.1.21\"",
							       "\"fd00:98:1::21\"") "}],"
										    "\"certs\":[]}";

/*
 * A waypoint whose binding lists IPv6 addresses alone is reached over IPv6: a client of the
 * Service goes to [instance]:15008, each instance in turn, the CONNECT still naming what was
 * addressed, the instance's workload known; by its Service's vip6 only that Service's ready
 * endpoint (never the vip6 itself). A dual-stack binding keeps IPv4 first.
 */
static void test_waypoint_ipv6_only(void **state)
{
	char err[200] = "";
	struct snapshot *s = snapshot_decode(SNAP_WP6, sizeof(SNAP_WP6) - 1, err, sizeof(err));
	struct snap_workload client = {.namespace = (char *)"a", .identity = (char *)"spiffe://c"};
	union sockaddr_inet want[2] = {harness_sa("fd00:98:1::20", 15008),
				       harness_sa("fd00:98:2::20", 15008)};
	union sockaddr_inet dst = harness_sa("fd00:96::7", 80);
	struct zt_rr rr = {0};
	struct zt_route r;
	bool seen[2] = {false, false};

	if (!s)
		fail_msg("%s", err);
	for (int i = 0; i < 4; i++) {
		bool first;

		assert_int_equal(route(s, &client, "fd00:96::7", 80, &rr, &r), 0);
		assert_ptr_equal(r.svc, &s->services[0]);
		assert_ptr_equal(r.wp, s->services[0].waypoint);
		assert_true(sockaddr_inet_equal(&r.addr, &dst));
		assert_int_equal(r.wp_addr.sa.sa_family, AF_INET6);
		first = sockaddr_inet_equal(&r.wp_addr, &want[0]);
		assert_true(first || sockaddr_inet_equal(&r.wp_addr, &want[1]));
		assert_ptr_equal(r.wp_wl, &s->workloads[first ? 0 : 1]);
		seen[!first] = true;
	}
	assert_true(seen[0] && seen[1]);
	/* By the waypoint Service's vip6: its ready endpoint alone. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(route(s, &client, "fd00:96::8", 80, &rr, &r), 0);
		assert_true(sockaddr_inet_equal(&r.wp_addr, &want[1]));
		assert_ptr_equal(r.wp_wl, &s->workloads[1]);
	}
	/* That Service with no ready endpoint of IPv6: the instances, never the vip6. */
	s->services[1].nendpoints6 = 0;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(route(s, &client, "fd00:96::8", 80, &rr, &r), 0);
		assert_int_equal(r.wp_addr.sa.sa_family, AF_INET6);
		assert_true(sockaddr_inet_equal(&r.wp_addr, &want[0]) ||
			    sockaddr_inet_equal(&r.wp_addr, &want[1]));
	}
	/* The waypoint's own traffic goes to the Service's endpoint, not back to itself. */
	assert_int_equal(route(s, &s->workloads[0], "fd00:96::7", 80, &rr, &r), 0);
	assert_null(r.wp);
	assert_int_equal(r.addr.sa.sa_family, AF_INET6);
	/* A dual-stack binding: IPv4, as before, whichever family was addressed. */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(route(s, &client, i ? "10.96.0.9" : "fd00:96::9", 80, &rr, &r), 0);
		assert_int_equal(r.wp_addr.sa.sa_family, AF_INET);
		assert_int_equal(r.wp_addr.v4.sin_addr.s_addr, harness_ip4("10.98.1.21"));
		assert_int_equal(ntohs(r.wp_addr.v4.sin_port), 15008);
	}
	/* No address of either family: nowhere to go (the waypoint is never bypassed). */
	s->services[0].waypoint->n_addresses6 = 0;
	assert_int_equal(route(s, &client, "fd00:96::7", 80, &rr, &r), -EHOSTUNREACH);
	snapshot_free(s);
}

/* Pods with IPv6 alone (an IPv6-only cluster), and a SingleStack IPv6 Service selecting one. */
static const char SNAP6ONLY[] =
    "{\"version\":3,\"node\":\"n1\",\"workloads\":["
    "{\"uid\":\"a/cli\",\"name\":\"cli\",\"namespace\":\"a\",\"ip6\":\"fd00:98:1::20\","
    " \"identity\":\"spiffe://cluster.local/ns/a/sa/cli\",\"node\":\"n1\",\"enrolled\":true},"
    "{\"uid\":\"a/srv\",\"name\":\"srv\",\"namespace\":\"a\",\"ip6\":\"fd00:98:2::30\","
    " \"identity\":\"spiffe://cluster.local/ns/a/sa/srv\",\"node\":\"n2\",\"enrolled\":true}],"
    "\"services\":[{\"name\":\"srv\",\"namespace\":\"a\",\"hostname\":\"srv.a.svc.cluster.local\","
    " \"vip6\":\"fd00:96::30\",\"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":8080}],"
    " \"endpoints\":[],\"endpoints6\":[\"fd00:98:2::30\"]}],"
    "\"certs\":[]}";

/*
 * An IPv6-only client to an IPv6-only server: through the Service's vip6 to the server's IPv6
 * at the targetPort (its workload found), and to the server's own address; neither pod is
 * anything's at 0.0.0.0 (their ip 0), over IPv4 nothing is theirs.
 */
static void test_ipv6_only_pods(void **state)
{
	char err[200] = "", buf[SOCKADDR_INET_STRLEN];
	struct snapshot *s = snapshot_decode(SNAP6ONLY, sizeof(SNAP6ONLY) - 1, err, sizeof(err));
	const struct snap_workload *cli, *srv;
	struct ipaddr a;
	struct zt_rr rr = {0};
	struct zt_route r;

	if (!s)
		fail_msg("%s", err);
	cli = &s->workloads[0];
	srv = &s->workloads[1];
	assert_int_equal(cli->ip, 0);
	assert_int_equal(srv->ip, 0);
	assert_null(snapshot_workload_by_ip(s, 0));
	ipaddr_from_v4(&a, 0);
	assert_null(snapshot_workload_by_addr(s, &a));
	assert_int_equal(ipaddr_parse_addr("fd00:98:1::20", &a), 0);
	assert_ptr_equal(snapshot_workload_by_addr(s, &a), cli);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(route(s, cli, "fd00:96::30", 80, &rr, &r), 0);
		assert_ptr_equal(r.svc, &s->services[0]);
		assert_ptr_equal(r.dst_wl, srv);
		assert_null(r.wp);
		assert_string_equal(sockaddr_inet_format(&r.addr, buf, sizeof(buf)),
				    "[fd00:98:2::30]:8080");
	}
	/* Least-connections as well: the one endpoint. */
	{
		union sockaddr_inet dst = harness_sa("fd00:96::30", 80);

		assert_int_equal(
		    zt_route_outbound(s, cli, &dst, ZT_LB_LEAST_CONN, &rr, zt_lc_active, &r), 0);
		assert_ptr_equal(r.dst_wl, srv);
	}
	assert_int_equal(route(s, cli, "fd00:98:2::30", 8080, &rr, &r), 0);
	assert_null(r.svc);
	assert_ptr_equal(r.dst_wl, srv);
	assert_string_equal(sockaddr_inet_format(&r.addr, buf, sizeof(buf)),
			    "[fd00:98:2::30]:8080");
	/* 0.0.0.0 is neither pod's. */
	assert_int_equal(route(s, cli, "0.0.0.0", 8080, &rr, &r), 0);
	assert_null(r.dst_wl);
	assert_null(r.svc);
	/*
	 * srv outside the mesh (an ingress gateway's pod) on a node of an IPv6-only cluster (no
	 * IPv4: node_ip 0 as its ip): plain TCP to it leaves with the client's IPv6, not the
	 * node's, as to any pod of the cluster; its ip 0 is not the node's address.
	 */
	{
		union sockaddr_inet from = harness_sa("fd00:98:1::20", 40000);
		struct snap_workload *gw = (struct snap_workload *)srv;

		gw->enrolled = false;
		s->capture = SNAP_CAPTURE_HOST;
		assert_int_equal(gw->node_ip, 0);
		assert_int_equal(route(s, cli, "fd00:98:2::30", 8080, &rr, &r), 0);
		assert_true(zt_passthrough_as_client(s, &r, &from));
	}
	snapshot_free(s);
}

/*
 * A dual-stack Service of selectorless slices whose endpoints each number port 80 their own way
 * (an IPv4 slice at 8080 and one at 8081, an IPv6 slice at 9091), and a selector Service whose
 * pods' named port resolves to 8080 on one pod and 7070 on another (no endpoints6: its pods'
 * ip6 serve its vip6).
 */
static const char SNAP_EPPORTS[] =
    "{\"version\":3,\"node\":\"n1\",\"workloads\":["
    "{\"uid\":\"a/p1\",\"name\":\"p1\",\"namespace\":\"a\",\"ip\":\"10.98.3.1\","
    " \"ip6\":\"fd00:98:3::1\",\"node\":\"n1\",\"enrolled\":true},"
    "{\"uid\":\"a/p2\",\"name\":\"p2\",\"namespace\":\"a\",\"ip\":\"10.98.3.2\","
    " \"ip6\":\"fd00:98:3::2\",\"node\":\"n1\",\"enrolled\":true},"
    "{\"uid\":\"a/p3\",\"name\":\"p3\",\"namespace\":\"a\",\"ip\":\"10.98.4.3\","
    " \"ip6\":\"fd00:98:4::3\",\"node\":\"n1\",\"enrolled\":true}],"
    "\"services\":["
    "{\"name\":\"sliced\",\"namespace\":\"a\",\"hostname\":\"sliced.a.svc.cluster.local\","
    " \"vip\":\"10.96.0.40\",\"vip6\":\"fd00:96::40\","
    " \"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":8080}],"
    " \"endpoints\":[\"10.98.3.1\",\"10.98.3.2\"],"
    " \"endpoints6\":[\"fd00:98:3::1\",\"fd00:98:3::2\"],"
    " \"endpointPorts\":[{\"ip\":\"10.98.3.2\",\"port\":80,\"targetPort\":8081}],"
    " \"endpointPorts6\":[{\"ip\":\"fd00:98:3::2\",\"port\":80,\"targetPort\":9091}]},"
    "{\"name\":\"named\",\"namespace\":\"a\",\"hostname\":\"named.a.svc.cluster.local\","
    " \"vip\":\"10.96.0.41\",\"vip6\":\"fd00:96::41\","
    " \"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":8080}],"
    " \"endpoints\":[\"10.98.3.1\",\"10.98.4.3\"],"
    " \"endpointPorts\":[{\"ip\":\"10.98.4.3\",\"port\":80,\"targetPort\":7070}]}],"
    "\"certs\":[]}";

/*
 * Routes @vip:80 of @svc (round robin, then least-connections) until both of @want (each an
 * "addr:port" as sockaddr_inet_format writes it) were the pick, and never anything else.
 */
static void expect_each(const struct snapshot *s, const struct snap_service *svc, const char *vip,
			const char *const want[2])
{
	char buf[SOCKADDR_INET_STRLEN];
	bool seen[2] = {false, false};
	struct zt_rr rr = {0};
	struct zt_route r;

	for (int i = 0; i < 6; i++) {
		union sockaddr_inet dst = harness_sa(vip, 80);
		enum zt_lb lb = i % 3 == 2 ? ZT_LB_LEAST_CONN : ZT_LB_ROUND_ROBIN;
		int k;

		assert_int_equal(zt_route_outbound(s, NULL, &dst, lb, &rr, zt_lc_active, &r), 0);
		assert_ptr_equal(r.svc, svc);
		sockaddr_inet_format(&r.addr, buf, sizeof(buf));
		k = !strcmp(buf, want[0]) ? 0 : !strcmp(buf, want[1]) ? 1 : -1;
		if (k < 0)
			fail_msg("%s:80 went to %s", vip, buf);
		seen[k] = true;
	}
	assert_true(seen[0] && seen[1]);
}

/*
 * Each endpoint at its own number, as the kernel's services and services6 maps have it: by the
 * IPv4 VIP, an IPv4 slice's endpoint at its slice's port; by the vip6, an IPv6 slice's at its
 * own; a selected pod whose named port is another number at that number by either VIP. An
 * inbound connection at an endpoint's own number is for its Service, and one at the targetPort
 * the endpoint does not take is not.
 */
static void test_endpoint_own_ports(void **state)
{
	static const char *const sliced4[2] = {"10.98.3.1:8080", "10.98.3.2:8081"};
	static const char *const sliced6[2] = {"[fd00:98:3::1]:8080", "[fd00:98:3::2]:9091"};
	static const char *const named4[2] = {"10.98.3.1:8080", "10.98.4.3:7070"};
	static const char *const named6[2] = {"[fd00:98:3::1]:8080", "[fd00:98:4::3]:7070"};
	char err[200] = "";
	struct snapshot *s =
	    snapshot_decode(SNAP_EPPORTS, sizeof(SNAP_EPPORTS) - 1, err, sizeof(err));
	const struct snap_workload *p1, *p2, *p3;

	if (!s)
		fail_msg("%s", err);
	p1 = &s->workloads[0];
	p2 = &s->workloads[1];
	p3 = &s->workloads[2];
	expect_each(s, &s->services[0], "10.96.0.40", sliced4);
	expect_each(s, &s->services[0], "fd00:96::40", sliced6);
	expect_each(s, &s->services[1], "10.96.0.41", named4);
	expect_each(s, &s->services[1], "fd00:96::41", named6);
	assert_ptr_equal(zt_inbound_service(s, p2, 8081, NULL), &s->services[0]);
	assert_ptr_equal(zt_inbound_service(s, p2, 9091, NULL), &s->services[0]);
	assert_null(zt_inbound_service(s, p2, 8080, NULL));
	assert_ptr_equal(zt_inbound_service(s, p3, 7070, NULL), &s->services[1]);
	assert_null(zt_inbound_service(s, p3, 8080, NULL));
	assert_ptr_equal(zt_inbound_service(s, p1, 8080, NULL), &s->services[0]);
	snapshot_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vip6_to_ipv4_endpoints), cmocka_unit_test(test_vip6_to_pods),
	    cmocka_unit_test(test_cidrs6_and_none),	   cmocka_unit_test(test_vip6_dns_entry),
	    cmocka_unit_test(test_waypoint_ipv6_only),	   cmocka_unit_test(test_ipv6_only_pods),
	    cmocka_unit_test(test_endpoint_own_ports),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
