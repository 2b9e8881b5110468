// SPDX-License-Identifier: Apache-2.0
/*
 * A global Service's shares in other networks (snapshot remoteServices, networkGateways): the
 * codec, the link from each Service to its shares, and the ztunnel's pick over its endpoints
 * here and there by count, through a gateway of the share's network.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../../ztunnel/route.h"
#include "ambit/snapshot.h"

#define HW "helloworld.sample.svc.cluster.local"

static const char SNAP[] =
    "{\"version\":3,\"node\":\"n1\",\"network\":\"network1\","
    "\"workloads\":[{\"uid\":\"sample/hw-v1\",\"name\":\"hw-v1\",\"namespace\":\"sample\","
    " \"serviceAccount\":\"hw\",\"identity\":\"spiffe://cluster.local/ns/sample/sa/hw\","
    " \"node\":\"n2\",\"ip\":\"10.98.2.2\",\"nodeIP\":\"10.99.0.12\",\"enrolled\":true}],"
    "\"services\":[{\"name\":\"helloworld\",\"namespace\":\"sample\",\"hostname\":\"" HW "\","
    " \"vip\":\"10.96.0.10\",\"ports\":[{\"name\":\"http\",\"port\":5000},"
    " {\"name\":\"admin\",\"port\":5001}],\"endpoints\":[\"10.98.2.2\"]},"
    " {\"name\":\"other\",\"namespace\":\"sample\",\"hostname\":\"other.sample.svc.cluster.local\","
    " \"vip\":\"10.96.0.11\",\"ports\":[{\"name\":\"http\",\"port\":80}],\"endpoints\":[]}],"
    "\"networkGateways\":["
    " {\"network\":\"network2\",\"cluster\":\"east\",\"name\":\"istio-system/ew\","
    "  \"identity\":\"spiffe://cluster.local/ns/istio-system/sa/ew\","
    "  \"address\":\"172.30.2.100\",\"port\":15008},"
    " {\"network\":\"network2\",\"cluster\":\"east\",\"name\":\"istio-system/ew2\","
    "  \"identity\":\"spiffe://cluster.local/ns/istio-system/sa/ew2\","
    "  \"address6\":\"fd00:30::2:101\",\"port\":15008}],"
    "\"remoteServices\":["
    " {\"hostname\":\"" HW "\",\"cluster\":\"north\",\"network\":\"network3\","
    "  "
    "\"endpoints\":4,\"ports\":[5000],\"identities\":[\"spiffe://cluster.local/ns/sample/sa/hw\"]},"
    " {\"hostname\":\"" HW "\",\"cluster\":\"east\",\"network\":\"network2\","
    "  \"endpoints\":2,\"ports\":[5000],"
    "  \"identities\":[\"spiffe://cluster.local/ns/sample/sa/hw\","
    "   \"spiffe://cluster.local/ns/sample/sa/hw2\"]},"
    " {\"hostname\":\"" HW "\",\"cluster\":\"near\",\"network\":\"network1\","
    "  "
    "\"endpoints\":5,\"ports\":[5000],\"identities\":[\"spiffe://cluster.local/ns/sample/sa/hw\"]},"
    " {\"hostname\":\"other.sample.svc.cluster.local\",\"cluster\":\"east\","
    "  \"network\":\"network2\",\"endpoints\":1,\"ports\":[80],"
    "  \"identities\":[\"spiffe://cluster.local/ns/sample/sa/o\"]}],"
    "\"certs\":[]}";

static struct snapshot *decode(const char *json)
{
	char err[256] = "";
	struct snapshot *s = snapshot_decode(json, strlen(json), err, sizeof(err));

	if (!s)
		fail_msg("decode: %s", err);
	return s;
}

static union sockaddr_inet sa(const char *ip, uint16_t port)
{
	union sockaddr_inet a = {0};

	a.v4.sin_family = AF_INET;
	a.v4.sin_port = htons(port);
	inet_pton(AF_INET, ip, &a.v4.sin_addr);
	return a;
}

static void test_codec_and_link(void **state)
{
	struct snapshot *s = decode(SNAP), *again;
	char *enc;

	(void)state;
	assert_int_equal(s->n_net_gateways, 2);
	assert_int_equal(s->n_remote_services, 4);
	/* Sorted by hostname, then cluster; each Service linked to its run. */
	assert_int_equal(s->services[0].n_remote, 3);
	assert_string_equal(s->services[0].remote[0].cluster, "east");
	assert_string_equal(s->services[0].remote[1].cluster, "near");
	assert_string_equal(s->services[0].remote[2].cluster, "north");
	assert_int_equal(s->services[1].n_remote, 1);
	assert_int_equal(s->services[0].remote[0].n_identities, 2);
	assert_true(snapshot_remote_has_port(&s->services[0].remote[0], 5000));
	assert_false(snapshot_remote_has_port(&s->services[0].remote[0], 5001));
	assert_int_equal(s->net_gateways[1].ip6.family, AF_INET6);
	assert_false(s->services[0].prefer_close);
	s->services[1].prefer_close = true;
	enc = snapshot_encode(s);
	assert_non_null(enc);
	again = decode(enc);
	assert_true(again->services[1].prefer_close);
	assert_int_equal(again->n_remote_services, 4);
	assert_int_equal(again->services[0].n_remote, 3);
	assert_string_equal(again->net_gateways[0].identity,
			    "spiffe://cluster.local/ns/istio-system/sa/ew");
	free(enc);
	snapshot_free(again);
	snapshot_free(s);
}

static void test_codec_refuses(void **state)
{
	static const char *const bad[] = {
	    /* an identity that is no SPIFFE ID, or holds a space (the inner TLS's separator) */
	    "{\"remoteServices\":[{\"hostname\":\"a\",\"cluster\":\"c\",\"network\":\"n\","
	    "\"endpoints\":1,\"ports\":[1],\"identities\":[\"bob\"]}]}",
	    "{\"remoteServices\":[{\"hostname\":\"a\",\"cluster\":\"c\",\"network\":\"n\","
	    "\"endpoints\":1,\"ports\":[1],\"identities\":[\"spiffe://a b\"]}]}",
	    /* a port out of range, a cluster that is no label value, an unknown member */
	    "{\"remoteServices\":[{\"hostname\":\"a\",\"cluster\":\"c\",\"network\":\"n\","
	    "\"endpoints\":1,\"ports\":[70000],\"identities\":[]}]}",
	    "{\"remoteServices\":[{\"hostname\":\"a\",\"cluster\":\"c d\",\"network\":\"n\","
	    "\"endpoints\":1,\"ports\":[1],\"identities\":[]}]}",
	    "{\"remoteServices\":[{\"hostname\":\"a\",\"cluster\":\"c\",\"network\":\"n\","
	    "\"endpoints\":1,\"ports\":[1],\"identities\":[],\"pods\":[]}]}",
	    /* a gateway with no address to connect to */
	    "{\"networkGateways\":[{\"network\":\"n\",\"cluster\":\"c\",\"name\":\"a/b\","
	    "\"identity\":\"spiffe://x/ns/a/sa/b\",\"port\":15008}]}",
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct snapshot *s = snapshot_decode(bad[i], strlen(bad[i]), err, sizeof(err));

		if (s)
			fail_msg("accepted %s", bad[i]);
		assert_true(err[0] != '\0');
	}
}

static void test_pick_by_count(void **state)
{
	struct snapshot *s = decode(SNAP);
	union sockaddr_inet vip = sa("10.96.0.10", 5000);
	struct zt_rr rr = {0};
	struct zt_route r;
	int local = 0, remote = 0, slots[2] = {0};

	(void)state;
	/*
	 * One endpoint here, two in network2 (through its gateways); north's network has no
	 * gateway and near's is this network (no gateway hop between the pods of one network
	 * here): neither counts. Three picks in turn: one here, two there, each slot once.
	 */
	for (int i = 0; i < 30; i++) {
		assert_int_equal(zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
				 0);
		assert_ptr_equal(r.svc, &s->services[0]);
		if (!r.remote) {
			local++;
			assert_int_equal(r.addr.v4.sin_addr.s_addr, inet_addr("10.98.2.2"));
			continue;
		}
		remote++;
		assert_string_equal(r.remote->cluster, "east");
		assert_null(r.dst_wl);
		assert_true(r.via_slot < 2);
		slots[r.via_slot]++;
		/* An IPv4 client reaches the gateway with an IPv4 address. */
		assert_string_equal(r.gw->name, "istio-system/ew");
		assert_int_equal(r.addr.v4.sin_family, AF_INET);
		assert_int_equal(r.addr.v4.sin_addr.s_addr, inet_addr("172.30.2.100"));
		assert_int_equal(ntohs(r.addr.v4.sin_port), 15008);
	}
	assert_int_equal(local, 10);
	assert_int_equal(remote, 20);
	assert_int_equal(slots[0], 10);
	assert_int_equal(slots[1], 10);
	snapshot_free(s);
}

static void test_pick_edges(void **state)
{
	struct snapshot *s = decode(SNAP);
	union sockaddr_inet admin = sa("10.96.0.10", 5001), other = sa("10.96.0.11", 80),
			    vip = sa("10.96.0.10", 5000);
	struct zt_rr rr = {0};
	struct zt_route r;

	(void)state;
	/* PreferClose: this network's endpoint while there is one, then the others'. */
	s->services[0].prefer_close = true;
	for (int i = 0; i < 6; i++) {
		assert_int_equal(zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
				 0);
		assert_null(r.remote);
	}
	s->services[0].nendpoints = 0;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
				 0);
		assert_non_null(r.remote);
	}
	s->services[0].nendpoints = 1;
	s->services[0].prefer_close = false;
	/* A port the remote Service has not: here alone. */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(
		    zt_route_outbound(s, NULL, &admin, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
		assert_null(r.remote);
	}
	/* No endpoint here: all of them there. */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(
		    zt_route_outbound(s, NULL, &other, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
		assert_non_null(r.remote);
		assert_int_equal(r.via_slot, 0);
	}
	/* Its network's gateways gone: nothing there to reach, and nothing here. */
	s->n_net_gateways = 0;
	assert_int_equal(zt_route_outbound(s, NULL, &other, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
			 -EHOSTUNREACH);
	s->n_net_gateways = 2;
	/* A share without identities (no endpoint in the mesh there) is not used. */
	s->remote_services[3].n_identities = 0; /* other's */
	assert_int_equal(zt_route_outbound(s, NULL, &other, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
			 -EHOSTUNREACH);
	s->remote_services[3].n_identities = 1;
	snapshot_free(s);
}

/* A gateway that did not answer is passed over for a while; its network's others take over. */
static void test_gateway_out(void **state)
{
	struct snapshot *s = decode(SNAP);
	union sockaddr_inet other = sa("10.96.0.11", 80), ew = sa("172.30.2.100", 15008), ew2;
	struct zt_rr rr = {.now_ms = 1000};
	struct zt_route r;

	(void)state;
	memset(&ew2, 0, sizeof(ew2));
	ew2.v6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "fd00:30::2:101", &ew2.v6.sin6_addr);
	assert_int_equal(zt_route_outbound(s, NULL, &other, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_string_equal(r.gw->name, "istio-system/ew");
	zt_gateway_failed(&rr, &ew, rr.now_ms);
	/* The other gateway of network2 (IPv6 alone: an IPv4 client's last resort). */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(
		    zt_route_outbound(s, NULL, &other, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
		assert_string_equal(r.gw->name, "istio-system/ew2");
		assert_int_equal(r.addr.sa.sa_family, AF_INET6);
	}
	/* Both out: nothing of network2 to reach, nothing here either. */
	zt_gateway_failed(&rr, &ew2, rr.now_ms);
	assert_int_equal(zt_route_outbound(s, NULL, &other, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
			 -EHOSTUNREACH);
	/* Back after ZT_GW_DOWN_MS; a second failure in a row keeps it out twice as long. */
	rr.now_ms += ZT_GW_DOWN_MS + 1;
	assert_int_equal(zt_route_outbound(s, NULL, &other, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_string_equal(r.gw->name, "istio-system/ew");
	zt_gateway_failed(&rr, &ew, rr.now_ms);
	zt_gateway_failed(&rr, &ew2, rr.now_ms);
	rr.now_ms += ZT_GW_DOWN_MS + 1;
	assert_int_equal(zt_route_outbound(s, NULL, &other, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
			 -EHOSTUNREACH);
	/* An answer clears the count: ew2's next failure is a first again. */
	zt_gateway_ok(&rr, &ew2);
	assert_int_equal(zt_route_outbound(s, NULL, &other, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_string_equal(r.gw->name, "istio-system/ew2");
	snapshot_free(s);
}

/* A remote share whose connection failed behind an answering gateway is passed over a while. */
static void test_share_out(void **state)
{
	struct snapshot *s = decode(SNAP);
	union sockaddr_inet vip = sa("10.96.0.10", 5000), other = sa("10.96.0.11", 80);
	struct zt_rr rr = {.now_ms = 1000};
	struct zt_route r;

	(void)state;
	zt_share_failed(&rr, zt_share_key(&s->remote_services[0]), rr.now_ms); /* east's */
	assert_string_equal(s->remote_services[0].cluster, "east");
	for (int i = 0; i < 6; i++) {
		assert_int_equal(zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
				 0);
		assert_null(r.remote); /* its endpoint here alone */
	}
	/* Another Service of the same cluster is not concerned. */
	assert_int_equal(zt_route_outbound(s, NULL, &other, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
	assert_non_null(r.remote);
	/* Back after the time out; an answer clears its count. */
	rr.now_ms += ZT_GW_DOWN_MS + 1;
	for (int i = 0, remote = 0; i < 3; i++) {
		assert_int_equal(zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
				 0);
		remote += r.remote != NULL;
		if (i == 2)
			assert_int_equal(remote, 2);
	}
	zt_share_failed(&rr, zt_share_key(&s->remote_services[0]), rr.now_ms);
	zt_share_ok(&rr, zt_share_key(&s->remote_services[0]));
	assert_int_equal(rr.share_down[0].key, 0);
	snapshot_free(s);
}

/*
 * A global Service's waypoint is global with it: a share bound to a waypoint there is checked
 * against that waypoint's identity (its gateway sends a ztunnel's stream to it), and a Service
 * whose label wants a waypoint this cluster lacks goes to the shares where it is, alone.
 */
static void test_waypoint_elsewhere(void **state)
{
	struct snapshot *s = decode(SNAP), *again;
	union sockaddr_inet vip = sa("10.96.0.10", 5000);
	struct zt_rr rr = {0};
	struct zt_route r;
	char *enc, err[256];
	static const char *const bad[] = {
	    /* one without the other, a name that is no namespace/name, no SPIFFE ID */
	    "{\"remoteServices\":[{\"hostname\":\"a\",\"cluster\":\"c\",\"network\":\"n\","
	    "\"endpoints\":1,\"ports\":[1],\"identities\":[],\"waypoint\":\"a/w\"}]}",
	    "{\"remoteServices\":[{\"hostname\":\"a\",\"cluster\":\"c\",\"network\":\"n\","
	    "\"endpoints\":1,\"ports\":[1],\"identities\":[],\"waypoint\":\"w\","
	    "\"waypointIdentity\":\"spiffe://x/ns/a/sa/w\"}]}",
	    "{\"remoteServices\":[{\"hostname\":\"a\",\"cluster\":\"c\",\"network\":\"n\","
	    "\"endpoints\":1,\"ports\":[1],\"identities\":[],\"waypoint\":\"a/w\","
	    "\"waypointIdentity\":\"w\"}]}",
	    "{\"services\":[{\"name\":\"a\",\"namespace\":\"b\",\"vip\":\"10.0.0.1\","
	    "\"ports\":[],\"waypointWanted\":\"w\"}]}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct snapshot *x = snapshot_decode(bad[i], strlen(bad[i]), err, sizeof(err));

		if (x)
			fail_msg("accepted %s", bad[i]);
	}
	/* east's share of helloworld is bound to sample/waypoint there. */
	s->remote_services[0].waypoint = strdup("sample/waypoint");
	s->remote_services[0].waypoint_identity =
	    strdup("spiffe://cluster.local/ns/sample/sa/waypoint");
	s->services[0].waypoint_wanted = strdup("sample/waypoint");
	enc = snapshot_encode(s);
	assert_non_null(enc);
	snapshot_free(s);
	s = again = decode(enc);
	free(enc);
	assert_string_equal(s->services[0].waypoint_wanted, "sample/waypoint");
	assert_string_equal(s->services[0].remote[0].waypoint, "sample/waypoint");
	assert_string_equal(s->services[0].remote[0].waypoint_identity,
			    "spiffe://cluster.local/ns/sample/sa/waypoint");
	assert_null(s->services[0].remote[1].waypoint);
	/* Every connection to east's waypoint, the endpoint here included, over both slots. */
	for (int i = 0; i < 8; i++) {
		assert_int_equal(zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
				 0);
		assert_non_null(r.remote);
		assert_string_equal(r.remote->cluster, "east");
		assert_true(r.via_slot < 2);
	}
	/* Its network's gateways out: no way to the waypoint, and never around it. */
	s->n_net_gateways = 0;
	assert_int_equal(zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
			 -EHOSTUNREACH);
	s->n_net_gateways = 2;
	/* Another waypoint wanted than the one there: no share has it; as before, by count. */
	free(s->services[0].waypoint_wanted);
	s->services[0].waypoint_wanted = strdup("sample/other");
	for (int i = 0, here = 0; i < 3; i++) {
		assert_int_equal(zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
				 0);
		here += r.remote == NULL;
		if (i == 2)
			assert_int_equal(here, 1);
	}
	/*
	 * Bound to sample/waypoint here too: its instance takes every connection; with none (its
	 * pods down) east's waypoint of that name does, through the gateway; a waypoint of
	 * another name there is no stand-in (no route, never around the waypoint).
	 */
	free(s->services[0].waypoint_wanted);
	s->services[0].waypoint_wanted = NULL;
	{
		uint32_t inst = inet_addr("10.98.1.9");
		struct snap_waypoint wp = {.name = "sample/waypoint",
					   .identity =
					       "spiffe://cluster.local/ns/sample/sa/waypoint",
					   .n_addresses = 1,
					   .addresses = &inst,
					   .port = 15008};

		s->services[0].waypoint = &wp;
		for (int i = 0; i < 3; i++) {
			assert_int_equal(
			    zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
			assert_ptr_equal(r.wp, &wp);
			assert_null(r.remote);
			assert_int_equal(r.wp_addr.v4.sin_addr.s_addr, inst);
		}
		wp.n_addresses = 0;
		for (int i = 0; i < 3; i++) {
			assert_int_equal(
			    zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r), 0);
			assert_non_null(r.remote);
			assert_string_equal(r.remote->cluster, "east");
			assert_null(r.wp);
			assert_non_null(r.gw);
		}
		wp.name = "sample/other";
		assert_int_equal(zt_route_outbound(s, NULL, &vip, ZT_LB_ROUND_ROBIN, &rr, NULL, &r),
				 -EHOSTUNREACH);
		s->services[0].waypoint = NULL;
	}
	snapshot_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_codec_and_link),     cmocka_unit_test(test_codec_refuses),
	    cmocka_unit_test(test_pick_by_count),      cmocka_unit_test(test_pick_edges),
	    cmocka_unit_test(test_gateway_out),	       cmocka_unit_test(test_share_out),
	    cmocka_unit_test(test_waypoint_elsewhere),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
