// SPDX-License-Identifier: Apache-2.0
/*
 * ServiceEntries at a waypoint over IPv6, in process as test_proxy_ipv6 drives the request
 * engine (memory transports whose peer is what a CONNECT made of it; upstream streams answered
 * by in-process HTTP/1 backends that say where they were opened to). Checked: an entry's own
 * IPv6 address, and the one allocated beside its IPv4 one in a dual-stack cluster, are the
 * entry (its VirtualService's fault and its AuthorizationPolicy's DENY apply as over IPv4); an
 * IPv6 STATIC endpoint is reached at [v6]:port; a DNS entry's AAAA answers are its endpoints
 * after its A answers (DNS_ROUND_ROBIN takes the IPv4 one), and a name with AAAA only is
 * reached at [::1]; the generation built again with new answers (wp_gen_redo) stays in its
 * cluster. The names are answered by a resolver of the test's own on 127.0.0.1 (ldns encodes
 * its answers), which the waypoint asks instead of /etc/resolv.conf's (wp_dns_use).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <ldns/ldns.h>

#include "ambit/config.h"
#include "ambit/l7.h"
#include "ambit/snapshot.h"
#include "../../../lib/l7_world.h"
#include "../../../../waypoint/dnsres.h"
#include "../../../../waypoint/engine/proxy.h"
#include "net/sock.h"
#include "../../../../waypoint/engine/worker.h"
#include "../../../lib/wp_mem.h"

// clang-format off
static const char world_yaml[] =
	L7_WORLD_HEAD
	/* A dual-stack pod: the cluster is, so allocated entries get an IPv6 address too. */
	"apiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: shop}\n"
	"spec: {containers: [{name: c}]}\n"
	"status: {podIP: 10.1.0.5, podIPs: [{ip: 10.1.0.5}, {ip: 'fd00:10::5'}]}\n---\n"
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
	"metadata: {name: api, namespace: shop}\n"
	"spec: {hosts: [api.example.com], addresses: [192.0.2.10, '2001:db8::10'],\n"
	"       ports: [{number: 80, name: http, protocol: HTTP}], resolution: STATIC,\n"
	"       endpoints: [{address: 198.51.100.1}]}\n---\n"
	"apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	"metadata: {name: api, namespace: shop}\n"
	"spec:\n  hosts: [api.example.com]\n  http:\n"
	"  - match: [{headers: {x-fault: {exact: '1'}}}]\n"
	"    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}\n"
	"    route: [{destination: {host: api.example.com}}]\n"
	"  - route: [{destination: {host: api.example.com}}]\n---\n"
	"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
	"metadata: {name: no-admin, namespace: shop}\n"
	"spec:\n  targetRefs: [{kind: ServiceEntry, group: networking.istio.io, name: api}]\n"
	"  action: DENY\n  rules: [{to: [{operation: {paths: [/admin]}}]}]\n---\n"
	/* IPv6 addresses only, and an IPv6 endpoint. */
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
	"metadata: {name: v6only, namespace: shop}\n"
	"spec: {hosts: [v6.example.com], addresses: ['2001:db8::20'],\n"
	"       ports: [{number: 8080, name: http, protocol: HTTP}], resolution: STATIC,\n"
	"       endpoints: [{address: '2001:db8:ff::1'}]}\n---\n"
	/* DNS: no address (both allocated), the host resolved, AAAA only. */
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
	"metadata: {name: six, namespace: shop}\n"
	"spec: {hosts: [six.example.test], ports: [{number: 80, name: http, protocol: HTTP}],\n"
	"       resolution: DNS}\n---\n"
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
	"metadata: {name: both, namespace: shop}\n"
	"spec: {hosts: [both.example.test], addresses: [192.0.2.30, '2001:db8::30'],\n"
	"       ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS}\n---\n"
	"apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
	"metadata: {name: first, namespace: shop}\n"
	"spec: {hosts: [first.example.test], addresses: [192.0.2.40, '2001:db8::40'],\n"
	"       ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS_ROUND_ROBIN,\n"
	"       endpoints: [{address: both.example.test}]}\n";
// clang-format on

/* ---- the test's resolver: A and AAAA for the names above, on 127.0.0.1 ---- */

static struct {
	int fd;
	uint16_t port;
	pthread_t thread;
} D = {.fd = -1};

/* The records of @name (absolute) of @type, as zone lines; NULL: none (NODATA). */
static const char *records(const char *name, ldns_rr_type type, bool *known)
{
	bool aaaa = type == LDNS_RR_TYPE_AAAA;

	*known = true;
	if (!strcmp(name, "six.example.test."))
		return aaaa ? "six.example.test. 30 IN AAAA ::1" : NULL;
	if (!strcmp(name, "both.example.test."))
		return aaaa ? "both.example.test. 30 IN AAAA ::1"
			    : "both.example.test. 30 IN A 127.0.0.2";
	*known = false;
	return NULL;
}

/* Answers each query; a datagram of one byte stops it. */
static void *dns_serve(void *arg)
{
	uint8_t buf[1500];

	for (;;) {
		union sockaddr_inet from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(D.fd, buf, sizeof(buf), 0, &from.sa, &fl);
		ldns_pkt *q = NULL, *a;
		ldns_rr *qrr, *rr = NULL;
		uint8_t *wire = NULL;
		size_t wl = 0;
		char *name;
		const char *line;
		bool known;

		if (n == 1)
			return NULL;
		if (n <= 0 || ldns_wire2pkt(&q, buf, (size_t)n) != LDNS_STATUS_OK)
			continue;
		qrr = ldns_rr_list_rr(ldns_pkt_question(q), 0);
		a = ldns_pkt_new();
		name = qrr ? ldns_rdf2str(ldns_rr_owner(qrr)) : NULL;
		if (a && name) {
			line = records(name, ldns_rr_get_type(qrr), &known);
			ldns_pkt_set_id(a, ldns_pkt_id(q));
			ldns_pkt_set_qr(a, true);
			ldns_pkt_set_rd(a, ldns_pkt_rd(q));
			ldns_pkt_set_ra(a, true);
			ldns_pkt_set_rcode(a, known ? LDNS_RCODE_NOERROR : LDNS_RCODE_NXDOMAIN);
			ldns_pkt_push_rr(a, LDNS_SECTION_QUESTION, ldns_rr_clone(qrr));
			if (line && ldns_rr_new_frm_str(&rr, line, 0, NULL, NULL) == LDNS_STATUS_OK)
				ldns_pkt_push_rr(a, LDNS_SECTION_ANSWER, rr);
			if (ldns_pkt2wire(&wire, a, &wl) == LDNS_STATUS_OK)
				sendto(D.fd, wire, wl, 0, &from.sa, fl);
		}
		free(wire);
		free(name);
		ldns_pkt_free(a);
		ldns_pkt_free(q);
	}
}

static void dns_start(void)
{
	union sockaddr_inet at;
	socklen_t sl = sizeof(at);
	struct ipaddr lo;

	sockaddr_inet_v4(&at, htonl(INADDR_LOOPBACK), 0);
	D.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(D.fd >= 0);
	assert_int_equal(bind(D.fd, &at.sa, sizeof(at.v4)), 0);
	assert_int_equal(getsockname(D.fd, &at.sa, &sl), 0);
	D.port = sockaddr_inet_port(&at);
	assert_int_equal(pthread_create(&D.thread, NULL, dns_serve, NULL), 0);
	ipaddr_from_v4(&lo, htonl(INADDR_LOOPBACK));
	wp_dns_use(&lo, D.port);
}

static void dns_stop(void)
{
	union sockaddr_inet at;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	wp_dns_stop();
	wp_dns_use(NULL, 0);
	sockaddr_inet_v4(&at, htonl(INADDR_LOOPBACK), D.port);
	if (fd >= 0 && sendto(fd, "x", 1, 0, &at.sa, sizeof(at.v4)) == 1)
		pthread_join(D.thread, NULL);
	if (fd >= 0)
		close(fd);
	close(D.fd);
	D.fd = -1;
}

/* ---- the waypoint, in process ---- */

static struct wp_mem W;

struct reply {
	int status;
	char body[128];
};

/*
 * One GET to @path for @host (with @extra header lines) on a downstream connection whose peer
 * is a CONNECT to @authority from an IPv6 client of the mesh; the reply into @out.
 */
static void get(const char *authority, const char *host, const char *path, const char *extra,
		struct reply *out)
{
	struct transport_peer p = {.mtls = true,
				   .identity = (char *)"spiffe://cluster.local/ns/shop/sa/c"};
	union sockaddr_inet dst;
	char req[512];

	assert_int_equal(sock_parse_authority(authority, &dst), 0);
	assert_int_equal(sockaddr_inet_to_ipaddr(&dst, &p.dest_ip), 0);
	p.dest_port = sockaddr_inet_port(&dst);
	assert_int_equal(sock_parse_authority("[fd00:10::5]:40000", &p.client), 0);
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nhost: %s\r\n%s\r\n", path, host,
		 extra ? extra : "");
	wp_mem_exchange(&W, &p, req, &out->status, out->body, sizeof(out->body));
}

static int setup(void **state)
{
	char err[256];
	struct l7_config *l7;

	dns_start();
	l7 = l7_world_compile(world_yaml, err, sizeof(err));
	if (!l7)
		print_error("%s\n", err);
	/* The DNS names are asked for here, and their first answers waited for (warming). */
	wp_mem_start(&W, l7, (struct wp_engine_opts){0});
	return 0;
}

static int teardown(void **state)
{
	wp_mem_stop(&W);
	dns_stop();
	return 0;
}

static const struct l7_service *service(const char *host)
{
	const struct l7_service *s = l7_config_service(W.g->l7, host);

	assert_non_null(s);
	return s;
}

/*
 * The model: an entry's own IPv6 address is its vip6; one without (DNS) has the allocated
 * 2001:2::f0f0:XXYY paired with its 240.240.XX.YY; the JSON carries both, and an IPv6
 * endpoint as its ip6 alone.
 */
static void test_model(void **state)
{
	const struct l7_service *api = service("api.example.com");
	const struct l7_service *six = service("six.example.test");
	const struct l7_service *v6 = service("v6.example.com");
	struct ipaddr want;
	char err[256];
	cJSON *j;
	struct l7_config *back;

	assert_int_equal(ipaddr_parse_addr("2001:db8::10", &want), 0);
	assert_true(ipaddr_equal(&api->vip6, &want));
	assert_int_equal(v6->endpoints[0].ip, 0);
	assert_int_equal(ipaddr_parse_addr("2001:db8:ff::1", &want), 0);
	assert_true(ipaddr_equal(&v6->endpoints[0].ip6, &want));
	assert_int_equal(six->vip6.family, AF_INET6);
	assert_int_equal(ipaddr_parse("2001:2::f0f0:0/112", &want), 0);
	assert_true(ipaddr_contains(&want, &six->vip6));
	assert_int_equal(six->vip6.a[14], ((const uint8_t *)&six->vip)[2]);
	assert_int_equal(six->vip6.a[15], ((const uint8_t *)&six->vip)[3]);
	j = l7_to_json(W.g->l7);
	assert_non_null(j);
	back = l7_from_json(j, err, sizeof(err));
	cJSON_Delete(j);
	if (!back)
		print_error("%s\n", err);
	assert_non_null(back);
	assert_true(ipaddr_equal(&l7_config_service(back, "six.example.test")->vip6, &six->vip6));
	assert_true(ipaddr_equal(&l7_config_service(back, "v6.example.com")->endpoints[0].ip6,
				 &v6->endpoints[0].ip6));
	l7_config_free(back);
}

/*
 * Without a dual-stack pod the allocated IPv6 address is nobody's (the ztunnel gives it only on
 * a node with IPv6); an entry's own IPv6 address stays its.
 */
static void test_model_single_stack(void **state)
{
	static const char yaml[] =
	    L7_WORLD_HEAD "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			  "metadata: {name: six, namespace: shop}\n"
			  "spec: {hosts: [six.example.test], ports: [{number: 80, name: http}],\n"
			  "       resolution: DNS}\n---\n"
			  "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			  "metadata: {name: api, namespace: shop}\n"
			  "spec: {hosts: [api.example.com], addresses: ['2001:db8::10'],\n"
			  "       ports: [{number: 80, name: http}], resolution: NONE}\n";
	char err[256];
	struct l7_config *l7 = l7_world_compile(yaml, err, sizeof(err));
	struct ipaddr want;

	if (!l7)
		print_error("%s\n", err);
	assert_non_null(l7);
	assert_int_not_equal(l7_config_service(l7, "six.example.test")->vip, 0);
	assert_int_equal(l7_config_service(l7, "six.example.test")->vip6.family, 0);
	assert_int_equal(ipaddr_parse_addr("2001:db8::10", &want), 0);
	assert_true(ipaddr_equal(&l7_config_service(l7, "api.example.com")->vip6, &want));
	l7_config_free(l7);
}

/*
 * CONNECT [2001:db8::10]:80 is the entry as 192.0.2.10:80 is: its route, its VirtualService's
 * fault, its AuthorizationPolicy's DENY; the endpoint is the entry's (IPv4) either way.
 */
static void test_entry_by_v6(void **state)
{
	static const char *const at[] = {"[2001:db8::10]:80", "192.0.2.10:80"};
	struct reply r;

	for (size_t i = 0; i < 2; i++) {
		get(at[i], "api.example.com", "/", NULL, &r);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.body, "198.51.100.1:80");
		get(at[i], "api.example.com", "/", "x-fault: 1\r\n", &r);
		assert_int_equal(r.status, 418);
		get(at[i], "api.example.com", "/admin", NULL, &r);
		assert_int_equal(r.status, 403);
	}
	/* An IPv6 address of no entry here: no route (404). */
	get("[2001:db8::11]:80", "api.example.com", "/", NULL, &r);
	assert_int_equal(r.status, 404);
}

/* An entry of IPv6 only: reached by its address, its IPv6 endpoint at [v6]:port. */
static void test_v6_only_entry(void **state)
{
	struct reply r;

	get("[2001:db8::20]:8080", "v6.example.com", "/", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "[2001:db8:ff::1]:8080");
}

/*
 * A DNS entry whose name has AAAA only, at its allocated IPv6 address: reached at [::1]. One
 * with both: A first, then AAAA, each an endpoint; DNS_ROUND_ROBIN takes the IPv4 one.
 */
static void test_dns_aaaa(void **state)
{
	const struct l7_service *six = service("six.example.test");
	const struct l7_service *both = service("both.example.test");
	const struct l7_service *first = service("first.example.test");
	char at[SOCKADDR_INET_STRLEN];
	union sockaddr_inet a;
	struct reply r;

	assert_int_equal(six->n_endpoints, 1);
	assert_int_equal(six->endpoints[0].ip, 0);
	assert_int_equal(six->endpoints[0].ip6.family, AF_INET6);
	assert_int_equal(both->n_endpoints, 2);
	assert_int_equal(both->endpoints[0].ip, htonl(0x7f000002));
	assert_int_equal(both->endpoints[0].ip6.family, 0);
	assert_int_equal(both->endpoints[1].ip, 0);
	assert_int_equal(both->endpoints[1].ip6.family, AF_INET6);
	assert_int_equal(first->n_endpoints, 1);
	assert_int_equal(first->endpoints[0].ip, htonl(0x7f000002));

	assert_int_equal(sockaddr_inet_from_ipaddr(&a, &six->vip6, 80), 0);
	sockaddr_inet_format(&a, at, sizeof(at));
	get(at, "six.example.test", "/", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "[::1]:80");
	/* Its allocated IPv4 address: the same entry, the same IPv6 endpoint. */
	sockaddr_inet_v4(&a, six->vip, 80);
	sockaddr_inet_format(&a, at, sizeof(at));
	get(at, "six.example.test", "/", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "[::1]:80");
	get("[2001:db8::40]:80", "first.example.test", "/", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "127.0.0.2:80");
}

/*
 * A generation built again for new DNS answers is the same configuration: in the same cluster
 * (not the default one) and with the same trust domain bundle, whatever it inherits from; one
 * of a new snapshot keeps its own.
 */
static void test_redo_keeps_cluster(void **state)
{
	static const char *const alias[] = {"cluster2.local", "", "cluster1.local"};
	char err[256];
	struct wp_gen *g, *next;

	assert_non_null(W.g->dns_source);
	assert_string_equal(W.g->cluster_id, SNAP_CLUSTER_ID);
	assert_int_equal(W.g->n_trust_domains, 0);
	assert_int_equal(wp_gen_set_cluster_id(W.g, "cluster1"), 0);
	/* Empty ones and repeats left out. */
	assert_int_equal(wp_gen_set_trust_domains(W.g, "cluster1.local", alias, 3), 0);
	assert_int_equal(W.g->n_trust_domains, 2);
	g = wp_gen_redo(W.g, err, sizeof(err));
	if (!g)
		print_error("%s\n", err);
	assert_non_null(g);
	assert_string_equal(g->cluster_id, "cluster1");
	wp_gen_inherit(g, W.g);
	assert_string_equal(g->cluster_id, "cluster1");
	assert_int_equal(g->n_trust_domains, 2);
	assert_string_equal(g->trust_domains[0], "cluster1.local");
	assert_string_equal(g->trust_domains[1], "cluster2.local");
	next = wp_gen_redo(g, err, sizeof(err));
	assert_non_null(next);
	assert_int_equal(next->n_trust_domains, 2);
	assert_int_equal(wp_gen_set_cluster_id(next, "cluster2"), 0);
	assert_int_equal(wp_gen_set_trust_domains(next, "cluster2.local", alias + 2, 1), 0);
	wp_gen_inherit(next, g);
	assert_string_equal(next->cluster_id, "cluster2");
	assert_int_equal(next->n_trust_domains, 2);
	assert_string_equal(next->trust_domains[0], "cluster2.local");
	assert_string_equal(next->trust_domains[1], "cluster1.local");
	/* None named: the default, and no bundle. */
	assert_int_equal(wp_gen_set_cluster_id(next, ""), 0);
	assert_string_equal(next->cluster_id, SNAP_CLUSTER_ID);
	assert_int_equal(wp_gen_set_trust_domains(next, NULL, NULL, 0), 0);
	assert_int_equal(next->n_trust_domains, 0);
	wp_gen_put(next);
	wp_gen_put(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_model, setup, teardown),
	    cmocka_unit_test(test_model_single_stack),
	    cmocka_unit_test_setup_teardown(test_entry_by_v6, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v6_only_entry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dns_aaaa, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_redo_keeps_cluster, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
