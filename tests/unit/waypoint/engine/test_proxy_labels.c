// SPDX-License-Identifier: Apache-2.0
/*
 * The clusters of the waypoint's metrics (waypoint/engine/proxy_labels.c), in process: the
 * request engine serves memory transports whose peer is what a CONNECT made of it (worker.c:
 * its client, identity and baggage; tests/lib/wp_mem.h) and counts into a store of its own.
 * Checked: both ends are in the generation's cluster (the snapshot's clusterId), whether the
 * client is a pod the model knows, one its baggage describes, or an identity alone; a client
 * whose baggage names its cluster (k8s.cluster.name: a ztunnel of another cluster of the mesh)
 * is in that one, for requests and TCP connections alike, unless the baggage is not its own
 * (another namespace than its identity's); a generation that names none is in
 * SNAP_CLUSTER_ID.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ambit/l7.h"
#include "ambit/snapshot.h"
#include "../../../lib/l7_world.h"
#include "../../../../waypoint/config.h"
#include "../../../../waypoint/stats.h"
#include "net/sock.h"
#include "../../../lib/wp_mem.h"

// clang-format off
static const char world_yaml[] =
	L7_WORLD_HEAD
	"apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: shop}\n"
	"spec: {selector: {app: reviews}, clusterIP: 10.96.0.10, ports: [{name: http, port: 9080}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: r1, namespace: shop, labels: {app: reviews, version: v1}}\n"
	"spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.11}\n---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: shop}\n"
	"spec: {selector: {app: db}, clusterIP: 10.96.0.20, ports: [{name: tcp, port: 5432}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: d1, namespace: shop, labels: {app: db}}\n"
	"spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.21}\n---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: client, namespace: shop}\n"
	"spec: {selector: {app: client}, clusterIP: 10.96.0.30, ports: [{name: http, port: 80}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: c1, namespace: shop, labels: {app: client}}\n"
	"spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.31}\n";
// clang-format on

/* A client of another cluster of the mesh, as its ztunnel describes it. */
#define REMOTE_BAGGAGE                                                                             \
	"k8s.cluster.name=cluster2,k8s.namespace.name=shop,k8s.deployment.name=remote,"            \
	"service.name=remote"

static struct wp_mem W;
static struct wp_stats *S;

static int setup(void **state)
{
	char err[256];
	struct l7_config *l7 = l7_world_compile(world_yaml, err, sizeof(err));

	if (!l7)
		print_error("%s\n", err);
	S = wp_stats_new();
	assert_non_null(S);
	wp_mem_start(&W, l7, (struct wp_engine_opts){.stats = S});
	return 0;
}

static int teardown(void **state)
{
	wp_mem_stop(&W);
	wp_stats_free(S);
	S = NULL;
	return 0;
}

/*
 * GET / through a CONNECT to @authority from @client (for=) with identity @identity (NULL:
 * none) and @baggage (NULL: none): the reply's status.
 */
static int get(const char *authority, const char *client, const char *identity, const char *baggage)
{
	struct transport_peer p = {
	    .mtls = true, .identity = (char *)identity, .baggage = (char *)baggage};
	union sockaddr_inet dst;
	char body[128];
	int status;

	assert_int_equal(sock_parse_authority(authority, &dst), 0);
	assert_int_equal(sockaddr_inet_to_ipaddr(&dst, &p.dest_ip), 0);
	p.dest_port = sockaddr_inet_port(&dst);
	assert_int_equal(sock_parse_authority(client, &p.client), 0);
	wp_mem_exchange(&W, &p, "GET / HTTP/1.1\r\nhost: reviews\r\n\r\n", &status, body,
			sizeof(body));
	return status;
}

/*
 * The lines of @metric in the store's exposition whose labels hold @has: how many, the first
 * into @out.
 */
static size_t series(const char *metric, const char *has, char *out, size_t len)
{
	char *text = wp_stats_render(&S, 1);
	size_t n = 0, ml = strlen(metric);

	assert_non_null(text);
	assert_null(strstr(text, "(null)"));
	for (const char *p = text; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (!strncmp(p, metric, ml) && p[ml] == '{' && memmem(p, l, has, strlen(has)) &&
		    n++ == 0)
			snprintf(out, len, "%.*s", (int)l, p);
		p = e ? e + 1 : NULL;
	}
	free(text);
	return n;
}

/* The series of @metric whose labels hold @who: its two clusters are @src and @dst. */
static void clusters_are(const char *metric, const char *who, const char *src, const char *dst)
{
	char line[8192], want[256];

	if (series(metric, who, line, sizeof(line)) != 1) {
		char *text = wp_stats_render(&S, 1);

		print_error("%s\n", text);
		free(text);
		fail_msg("no one %s series with %s", metric, who);
	}
	snprintf(want, sizeof(want), "source_cluster=\"%s\"", src);
	if (!strstr(line, want))
		fail_msg("%s: not %s", line, want);
	snprintf(want, sizeof(want), "destination_cluster=\"%s\"", dst);
	if (!strstr(line, want))
		fail_msg("%s: not %s", line, want);
}

/* A generation made with no cluster id (a file's) is in Istio's default one. */
static void test_default_cluster(void **state)
{
	assert_string_equal(W.g->cluster_id, SNAP_CLUSTER_ID);
	assert_int_equal(get("10.96.0.10:9080", "10.1.0.31:40000", NULL, NULL), 200);
	clusters_are("istio_requests_total", "source_workload=\"c1\"", SNAP_CLUSTER_ID,
		     SNAP_CLUSTER_ID);
}

/*
 * Both ends are in the generation's cluster: a pod the model knows, a client its baggage
 * describes without naming a cluster, one known by its identity alone.
 */
static void test_generation_cluster(void **state)
{
	char line[8192];

	assert_int_equal(wp_gen_set_cluster_id(W.g, "cluster1"), 0);
	assert_int_equal(get("10.96.0.10:9080", "10.1.0.31:40000", NULL, NULL), 200);
	clusters_are("istio_requests_total", "source_workload=\"c1\"", "cluster1", "cluster1");
	assert_int_equal(get("10.96.0.10:9080", "10.9.0.1:40000",
			     "spiffe://cluster.local/ns/shop/sa/local",
			     "k8s.namespace.name=shop,k8s.deployment.name=local"),
			 200);
	clusters_are("istio_requests_total", "source_workload=\"local\"", "cluster1", "cluster1");
	assert_int_equal(get("10.96.0.10:9080", "10.9.0.2:40000",
			     "spiffe://cluster.local/ns/shop/sa/bare", NULL),
			 200);
	clusters_are("istio_requests_total",
		     "source_principal=\"spiffe://cluster.local/ns/shop/sa/bare\"", "cluster1",
		     "cluster1");
	/* Nothing of this generation says the default. */
	assert_int_equal(
	    series("istio_requests_total", "_cluster=\"" SNAP_CLUSTER_ID "\"", line, sizeof(line)),
	    0);
}

/*
 * A client whose baggage names its cluster is in it (the destination stays in the
 * generation's), for a request and for a TCP connection; the same baggage under an identity
 * of another namespace is not the client's, which is then in the generation's cluster.
 */
static void test_baggage_cluster(void **state)
{
	assert_int_equal(wp_gen_set_cluster_id(W.g, "cluster1"), 0);
	assert_int_equal(get("10.96.0.10:9080", "10.9.0.1:40000",
			     "spiffe://cluster.local/ns/shop/sa/remote", REMOTE_BAGGAGE),
			 200);
	clusters_are("istio_requests_total", "source_workload=\"remote\"", "cluster2", "cluster1");
	/* The TCP port's connection, its bytes passed through to the backend and back. */
	assert_int_equal(get("10.96.0.20:5432", "10.9.0.1:40000",
			     "spiffe://cluster.local/ns/shop/sa/remote", REMOTE_BAGGAGE),
			 200);
	clusters_are("istio_tcp_connections_opened_total", "source_workload=\"remote\"", "cluster2",
		     "cluster1");
	assert_int_equal(get("10.96.0.10:9080", "10.9.0.3:40000",
			     "spiffe://cluster.local/ns/other/sa/remote", REMOTE_BAGGAGE),
			 200);
	clusters_are("istio_requests_total", "source_workload_namespace=\"other\"", "cluster1",
		     "cluster1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_default_cluster, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_generation_cluster, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_baggage_cluster, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
