// SPDX-License-Identifier: Apache-2.0
/*
 * A global Service's remote shares as hosts of the waypoint's clusters (waypoint/remote.c): a
 * host per slot (at most WP_REMOTE_SLOTS_MAX), labelled with its cluster and network, at the
 * Service ports the share has; found by either address; the same (Service, cluster, slot) keeps
 * its address in the next table; no gateway of its network, no host; none at all, no table.
 * One network: the other clusters' pods as endpoints of their own (wp_peers_add).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>

#include "../../../waypoint/remote.h"
#include "ambit/config.h"

static char *ids[] = {"spiffe://cluster.local/ns/sample/sa/a",
		      "spiffe://cluster.local/ns/sample/sa/b"};
static uint16_t share_ports[] = {5000};

/* One l7 service "helloworld" with ports 5000 and 6000 and one local endpoint. */
static struct l7_config *model(void)
{
	struct l7_config *l7 = calloc(1, sizeof(*l7));
	struct l7_service *svc;

	assert_non_null(l7);
	l7->n_services = 1;
	l7->services = svc = calloc(1, sizeof(*svc));
	svc->hostname = strdup("helloworld.sample.svc.cluster.local");
	svc->name = strdup("helloworld");
	svc->namespace = strdup("sample");
	svc->n_ports = 2;
	svc->ports = calloc(2, sizeof(*svc->ports));
	svc->ports[0].port = 5000;
	svc->ports[1].port = 6000;
	svc->n_endpoints = 1;
	svc->endpoints = calloc(1, sizeof(*svc->endpoints));
	svc->endpoints[0].ip = inet_addr("10.98.1.2");
	svc->endpoints[0].ports = calloc(2, sizeof(uint16_t));
	svc->endpoints[0].ports[0] = 5000;
	return l7;
}

struct world {
	struct snapshot s;
	struct snap_service svc;
	struct snap_remote_service share;
	struct snap_net_gateway gw[2];
};

static void world(struct world *w, uint32_t endpoints, const char *gw_network)
{
	memset(w, 0, sizeof(*w));
	w->share = (struct snap_remote_service){.hostname = "helloworld.sample.svc.cluster.local",
						.cluster = "cluster2",
						.network = "network2",
						.endpoints = endpoints,
						.n_ports = 1,
						.ports = share_ports,
						.n_identities = 2,
						.identities = ids};
	w->svc.hostname = "helloworld.sample.svc.cluster.local";
	w->svc.n_remote = 1;
	w->svc.remote = &w->share;
	w->gw[0] =
	    (struct snap_net_gateway){.network = (char *)gw_network,
				      .identity = "spiffe://cluster.local/ns/istio-system/sa/ew",
				      .ip = inet_addr("172.30.2.100"),
				      .port = 15008};
	w->gw[1] = w->gw[0];
	w->gw[1].ip = inet_addr("172.30.2.101");
	w->s.network = "network1";
	w->s.n_services = 1;
	w->s.services = &w->svc;
	w->s.n_net_gateways = 2;
	w->s.net_gateways = w->gw;
	w->s.n_remote_services = 1;
	w->s.remote_services = &w->share;
}

static void test_hosts_per_slot(void **state)
{
	struct l7_config *l7 = model();
	struct world w;
	struct wp_remotes *r;
	union sockaddr_inet a;
	int err = -1;

	(void)state;
	world(&w, 3, "network2");
	r = wp_remotes_add(l7, &w.s, &err);
	assert_int_equal(err, 0);
	assert_non_null(r);
	assert_int_equal(r->n_hosts, 3);
	assert_int_equal(r->n_gateways, 2);
	assert_string_equal(r->network, "network1");
	assert_int_equal(l7->services[0].n_endpoints, 4);
	for (size_t i = 1; i < 4; i++) {
		const struct l7_endpoint *e = &l7->services[0].endpoints[i];
		const struct wp_remote_host *h;

		/* 240.244.0.0/16, the share's ports alone, its cluster and network. */
		assert_int_equal(ntohl(e->ip) >> 16, 0xf0f4);
		assert_int_equal(e->ports[0], 5000);
		assert_int_equal(e->ports[1], 0);
		assert_string_equal(e->identity, ids[0]);
		assert_string_equal(config_label_get(&e->labels, "topology.istio.io/cluster"),
				    "cluster2");
		assert_string_equal(config_label_get(&e->labels, "topology.istio.io/network"),
				    "network2");
		sockaddr_inet_v4(&a, e->ip, 5000);
		h = wp_remote_find(r, &a);
		assert_non_null(h);
		assert_string_equal(h->hostname, "helloworld.sample.svc.cluster.local");
		assert_string_equal(h->sans, "spiffe://cluster.local/ns/sample/sa/a "
					     "spiffe://cluster.local/ns/sample/sa/b");
		assert_int_equal(h->n_gateways, 2);
		assert_int_equal(h->slot, i - 1);
		/* ... and by its IPv6 twin. */
		assert_int_equal(sockaddr_inet_from_ipaddr(&a, &e->ip6, 5000), 0);
		assert_ptr_equal(wp_remote_find(r, &a), h);
	}
	/* A pod's address is no remote host. */
	sockaddr_inet_v4(&a, inet_addr("10.98.1.2"), 5000);
	assert_null(wp_remote_find(r, &a));
	wp_remotes_free(r);
	l7_config_free(l7);
}

static void test_stable_and_capped(void **state)
{
	struct l7_config *one = model(), *two = model();
	struct world w;
	struct wp_remotes *r1, *r2;
	int err;

	(void)state;
	world(&w, 2, "network2");
	r1 = wp_remotes_add(one, &w.s, &err);
	world(&w, 1000, "network2");
	r2 = wp_remotes_add(two, &w.s, &err);
	assert_non_null(r1);
	assert_non_null(r2);
	assert_int_equal(r2->n_hosts, WP_REMOTE_SLOTS_MAX);
	/* The same share's slots 0 and 1 keep their addresses. */
	assert_int_equal(one->services[0].endpoints[1].ip, two->services[0].endpoints[1].ip);
	assert_int_equal(one->services[0].endpoints[2].ip, two->services[0].endpoints[2].ip);
	wp_remotes_free(r1);
	wp_remotes_free(r2);
	l7_config_free(one);
	l7_config_free(two);
}

static void test_no_gateway_no_host(void **state)
{
	struct l7_config *l7 = model();
	struct world w;
	int err = -1;

	(void)state;
	/* The gateways known are another network's: nothing reaches network2. */
	world(&w, 2, "network3");
	assert_null(wp_remotes_add(l7, &w.s, &err));
	assert_int_equal(err, 0);
	assert_int_equal(l7->services[0].n_endpoints, 1);
	l7_config_free(l7);
}

/*
 * One network: the Service's endpoints in the snapshot after this cluster's are another
 * cluster's pods (workloads named <cluster>/<ns>/<name>): each becomes an endpoint of its own,
 * its pod address and identity, its own target port, labelled with its version, cluster and
 * network, in the subset of its version and not in the other; one outside the mesh there
 * without an identity (plaintext); a dual-stack pod once; a local
 * workload, an endpoint the model has, and one no workload stands for add nothing.
 */
static void test_peers(void **state)
{
	struct l7_config *l7 = model();
	struct l7_service *svc = &l7->services[0];
	struct snap_workload wl[3] = {
	    {.uid = "sample/helloworld-v1-0", .name = "helloworld-v1-0", .identity = ids[0]},
	    {.uid = "cluster2/sample/helloworld-v2-0",
	     .name = "helloworld-v2-0",
	     .workload_name = "helloworld-v2",
	     .node = "cluster2/node1",
	     .identity = ids[1],
	     .app = "helloworld",
	     .version = "v2",
	     .enrolled = true},
	    {.uid = "cluster2/sample/helloworld-v3-0",
	     .name = "helloworld-v3-0",
	     .identity = ids[1],
	     .version = "v3"},
	};
	uint32_t eps[4];
	struct ipaddr v6 = {.family = AF_INET6, .len = 128};
	struct snap_ep_port epp = {.port = 5000, .target_port = 5050};
	struct snap_service_port sp[2] = {{.port = 5000, .target_port = 5000},
					  {.port = 7000, .target_port = 7070}};
	struct snap_service ss = {
	    .hostname = "helloworld.sample.svc.cluster.local", .nports = 2, .ports = sp};
	struct snapshot s = {.network = "network1", .n_services = 1, .services = &ss};
	struct l7_endpoint *e;

	(void)state;
	wl[0].ip = inet_addr("10.98.1.2");
	wl[1].ip = inet_addr("10.98.18.2");
	inet_pton(AF_INET6, "fd00:98:18::2", v6.a);
	wl[1].ip6 = v6;
	wl[2].ip = inet_addr("10.98.18.3");
	eps[0] = wl[0].ip;
	eps[1] = wl[1].ip;
	eps[2] = wl[2].ip;
	eps[3] = inet_addr("10.98.18.9"); /* no workload: not a mesh pod of the view */
	ss.nendpoints = 4;
	ss.endpoints = eps;
	ss.nendpoints6 = 1;
	ss.endpoints6 = &v6;
	epp.ip = wl[1].ip;
	ss.n_ep_ports = 1;
	ss.ep_ports = &epp;
	s.n_workloads = 3;
	s.workloads = wl;
	svc->n_subsets = 2;
	svc->subsets = calloc(2, sizeof(*svc->subsets));
	svc->subsets[0].name = strdup("v1");
	svc->subsets[1].name = strdup("v2");
	assert_int_equal(config_labels_add(&svc->subsets[0].labels, "version", "v1"), 0);
	assert_int_equal(config_labels_add(&svc->subsets[1].labels, "version", "v2"), 0);

	assert_int_equal(wp_peers_add(l7, &s), 0);
	assert_int_equal(svc->n_endpoints, 3);
	e = &svc->endpoints[1];
	assert_int_equal(e->ip, wl[1].ip);
	assert_true(ipaddr_equal(&e->ip6, &v6));
	assert_string_equal(e->pod, "cluster2/sample/helloworld-v2-0");
	assert_string_equal(e->workload, "helloworld-v2");
	assert_string_equal(e->identity, ids[1]);
	assert_int_equal(e->ports[0], 5050);
	assert_int_equal(e->ports[1], 0); /* 6000: the snapshot's Service lacks it */
	assert_string_equal(config_label_get(&e->labels, "topology.istio.io/cluster"), "cluster2");
	assert_string_equal(config_label_get(&e->labels, "topology.istio.io/network"), "network1");
	assert_string_equal(config_label_get(&e->labels, "version"), "v2");
	assert_string_equal(config_label_get(&e->labels, "app"), "helloworld");
	/* The third: the Service's targetPort where no endpoint port of its own says otherwise. */
	assert_string_equal(svc->endpoints[2].pod, "cluster2/sample/helloworld-v3-0");
	assert_int_equal(svc->endpoints[2].ports[0], 5000);
	assert_null(svc->endpoints[2].identity); /* outside the mesh there: plaintext */
	assert_string_equal(config_label_get(&svc->endpoints[2].labels, "app"), "helloworld-v3-0");
	assert_int_equal(svc->subsets[0].n_endpoints, 0);
	assert_int_equal(svc->subsets[1].n_endpoints, 1);
	assert_int_equal(svc->subsets[1].endpoints[0], 1);
	/* Again: the model has them all now, by either address. */
	assert_int_equal(wp_peers_add(l7, &s), 0);
	assert_int_equal(svc->n_endpoints, 3);
	assert_int_equal(svc->subsets[1].n_endpoints, 1);
	l7_config_free(l7);

	/* A dual-stack peer the Service lists by its IPv6 address alone: one endpoint, both. */
	l7 = model();
	svc = &l7->services[0];
	ss.nendpoints = 0;
	assert_int_equal(wp_peers_add(l7, &s), 0);
	assert_int_equal(svc->n_endpoints, 2);
	assert_int_equal(svc->endpoints[1].ip, wl[1].ip);
	assert_true(ipaddr_equal(&svc->endpoints[1].ip6, &v6));
	l7_config_free(l7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hosts_per_slot),
	    cmocka_unit_test(test_stable_and_capped),
	    cmocka_unit_test(test_no_gateway_no_host),
	    cmocka_unit_test(test_peers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
