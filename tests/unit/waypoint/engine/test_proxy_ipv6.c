// SPDX-License-Identifier: Apache-2.0
/*
 * The waypoint carries IPv6 as it carries IPv4, in process: the request engine serves memory
 * transports whose peer is what a CONNECT made of it (worker.c: the :authority's address, the
 * forwarded for= client), and its connector's upstream streams are answered by in-process
 * HTTP/1 backends that say where they were opened to. Checked: a dual-stack Service's IPv6 VIP
 * is the Service (its VirtualService's subsets apply) and its requests go to the endpoints'
 * IPv6 addresses (an endpoint without one is no candidate: 503 UH when none has one), the IPv4
 * VIP still to IPv4; a selectorless dual-stack Service's IPv6 slice serves its IPv6 VIP and
 * its IPv4 slice its IPv4 VIP, each alone; the model's JSON carries vip6 and ip6; ipBlocks,
 * notIpBlocks and remoteIpBlocks of IPv6 CIDRs hold IPv6 clients; at the edge, x-forwarded-for gets
 * the IPv6 peer bare and a trusted IPv6 hop is the remote client; the access log prints
 * "[v6]:port"; a gateway's PROXY v2 header of AF_INET6 names the client (a mapped one as IPv4); the
 * IPv6 listener twin accepts on [::1] and its client is IPv6.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

#include "ambit/l7.h"
#include "../../../lib/l7_world.h"
#include "../../../../waypoint/engine/proxy.h"
#include "../../../../waypoint/engine/proxy_pp.h"
#include "net/sock.h"
#include "../../../../waypoint/engine/worker.h"
#include "../../../lib/wp_mem.h"

// clang-format off
static const char world_yaml[] =
	L7_WORLD_HEAD
	"apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: shop}\n"
	"spec: {selector: {app: reviews}, ipFamilyPolicy: RequireDualStack,\n"
	"       clusterIP: 10.96.0.10, clusterIPs: [10.96.0.10, 'fd00:96::10'],\n"
	"       ports: [{name: http, port: 9080}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: r1, namespace: shop, labels: {app: reviews, version: v1}}\n"
	"spec: {containers: [{name: c}]}\n"
	"status: {podIP: 10.1.0.11, podIPs: [{ip: 10.1.0.11}, {ip: 'fd00:10::11'}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: r2, namespace: shop, labels: {app: reviews, version: v2}}\n"
	"spec: {containers: [{name: c}]}\n"
	"status: {podIP: 10.1.0.12, podIPs: [{ip: 10.1.0.12}, {ip: 'fd00:10::12'}]}\n---\n"
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
	"metadata: {name: reviews, namespace: shop}\n"
	"spec:\n  host: reviews\n"
	"  subsets:\n  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n---\n"
	"apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	"metadata: {name: reviews, namespace: shop}\n"
	"spec:\n  hosts: [reviews]\n  http:\n"
	"  - match: [{headers: {x-v2: {exact: '1'}}}]\n"
	"    route: [{destination: {host: reviews, subset: v2}}]\n"
	"  - route: [{destination: {host: reviews, subset: v1}}]\n---\n"
	/* A dual-stack Service whose one pod has no IPv6 address. */
	"apiVersion: v1\nkind: Service\nmetadata: {name: legacy, namespace: shop}\n"
	"spec: {selector: {app: legacy}, clusterIP: 10.96.0.20, clusterIPs: [10.96.0.20, 'fd00:96::20'],\n"
	"       ports: [{name: http, port: 8080}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: l1, namespace: shop, labels: {app: legacy}}\n"
	"spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.21}\n---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: guarded, namespace: shop}\n"
	"spec: {selector: {app: guarded}, clusterIP: 10.96.0.30, clusterIPs: [10.96.0.30, 'fd00:96::30'],\n"
	"       ports: [{name: http, port: 8080}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: g1, namespace: shop, labels: {app: guarded}}\n"
	"spec: {containers: [{name: c}]}\n"
	"status: {podIP: 10.1.0.31, podIPs: [{ip: 10.1.0.31}, {ip: 'fd00:10::31'}]}\n---\n"
	/* A Service of IPv6 alone whose pod has an IPv6 address and no IPv4 (ip 0). */
	"apiVersion: v1\nkind: Service\nmetadata: {name: six, namespace: shop}\n"
	"spec: {selector: {app: six}, ipFamilies: [IPv6], clusterIP: 'fd00:96::40',\n"
	"       clusterIPs: ['fd00:96::40'], ports: [{name: http, port: 8080}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: s1, namespace: shop, labels: {app: six}}\n"
	"spec: {containers: [{name: c}]}\n"
	"status: {podIP: 'fd00:10::41', podIPs: [{ip: 'fd00:10::41'}]}\n---\n"
	/* A dual-stack Service without a selector: an IPv4 slice and an IPv6 one, own ports. */
	"apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: shop}\n"
	"spec: {ipFamilyPolicy: RequireDualStack, clusterIP: 10.96.0.50,\n"
	"       clusterIPs: [10.96.0.50, 'fd00:96::50'], ports: [{name: http, port: 80}]}\n---\n"
	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	"metadata: {name: ext-4, namespace: shop, labels: {kubernetes.io/service-name: ext}}\n"
	"addressType: IPv4\nendpoints: [{addresses: [10.99.0.5]}]\n"
	"ports: [{name: http, port: 8081}]\n---\n"
	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	"metadata: {name: ext-6, namespace: shop, labels: {kubernetes.io/service-name: ext}}\n"
	"addressType: IPv6\nendpoints: [{addresses: ['2001:db8::5']}]\n"
	"ports: [{name: http, port: 8086}]\n---\n"
	/* Selectorless, dual-stack, with an IPv4 slice alone: one endpoint is pod r1, one is not. */
	"apiVersion: v1\nkind: Service\nmetadata: {name: byv4, namespace: shop}\n"
	"spec: {ipFamilyPolicy: RequireDualStack, clusterIP: 10.96.0.60,\n"
	"       clusterIPs: [10.96.0.60, 'fd00:96::60'], ports: [{name: http, port: 80}]}\n---\n"
	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	"metadata: {name: byv4-4, namespace: shop, labels: {kubernetes.io/service-name: byv4}}\n"
	"addressType: IPv4\nendpoints: [{addresses: [10.1.0.11]}, {addresses: [10.99.0.6]}]\n"
	"ports: [{name: http, port: 9080}]\n---\n"
	"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
	"metadata: {name: bad-net, namespace: shop}\n"
	"spec:\n  targetRefs: [{kind: Service, group: '', name: reviews}]\n  action: DENY\n"
	"  rules: [{from: [{source: {ipBlocks: ['fd00:10:bad::/48']}}]}]\n---\n"
	"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
	"metadata: {name: bad-remote, namespace: shop}\n"
	"spec:\n  targetRefs: [{kind: Service, group: '', name: reviews}]\n  action: DENY\n"
	"  rules: [{from: [{source: {remoteIpBlocks: ['2001:db8:feed::/48']}}]}]\n---\n"
	"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
	"metadata: {name: only-pods, namespace: shop}\n"
	"spec:\n  targetRefs: [{kind: Service, group: '', name: guarded}]\n  action: DENY\n"
	"  rules: [{from: [{source: {notIpBlocks: ['fd00:10::/64']}}]},\n"
	"          {from: [{source: {notRemoteIpBlocks: ['fd00::/8', '10.0.0.0/8']}}]}]\n";
// clang-format on

static struct wp_mem W;

struct reply {
	int status;
	char body[128];
};

/* GET @path with @extra header lines, from the CONNECT's peer @p: the reply into @out. */
static void get(const struct transport_peer *p, const char *path, const char *extra,
		struct reply *out)
{
	char req[512];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nhost: reviews\r\n%s\r\n", path,
		 extra ? extra : "");
	wp_mem_exchange(&W, p, req, &out->status, out->body, sizeof(out->body));
}

/* A CONNECT's peer: :authority @authority, for= @client (either family, "[v6]:port"). */
static struct transport_peer connect_peer(const char *authority, const char *client)
{
	struct transport_peer p = {.mtls = true,
				   .identity = (char *)"spiffe://cluster.local/ns/shop/sa/c"};
	union sockaddr_inet dst;

	assert_int_equal(sock_parse_authority(authority, &dst), 0);
	assert_int_equal(sockaddr_inet_to_ipaddr(&dst, &p.dest_ip), 0);
	p.dest_port = sockaddr_inet_port(&dst);
	assert_int_equal(sock_parse_authority(client, &p.client), 0);
	return p;
}

/* GET / from @client (for=) to @authority, as connect_peer() and get() make it: its status. */
static int get_status(const char *authority, const char *client, struct reply *r)
{
	struct transport_peer p = connect_peer(authority, client);

	get(&p, "/", NULL, r);
	return r->status;
}

static int setup(void **state)
{
	char err[256];
	struct l7_config *l7 = l7_world_compile(world_yaml, err, sizeof(err));

	if (!l7)
		print_error("%s\n", err);
	wp_mem_start(&W, l7, (struct wp_engine_opts){.hcm.trusted_hops = 1});
	return 0;
}

static int teardown(void **state)
{
	wp_mem_stop(&W);
	return 0;
}

/* The model: the Service's IPv6 VIP and its pods' IPv6 addresses, in its JSON and back. */
static void test_model(void **state)
{
	const struct l7_service *s = l7_config_service(W.g->l7, "reviews.shop.svc.cluster.local");
	const struct l7_service *legacy =
	    l7_config_service(W.g->l7, "legacy.shop.svc.cluster.local");
	struct ipaddr want;
	char err[256];
	cJSON *j;
	struct l7_config *back;

	assert_non_null(s);
	assert_int_equal(ipaddr_parse_addr("fd00:96::10", &want), 0);
	assert_true(ipaddr_equal(&s->vip6, &want));
	assert_int_equal(s->n_endpoints, 2);
	assert_int_equal(s->endpoints[0].ip6.family, AF_INET6);
	assert_non_null(legacy);
	assert_int_equal(legacy->endpoints[0].ip6.family, 0);
	j = l7_to_json(W.g->l7);
	assert_non_null(j);
	back = l7_from_json(j, err, sizeof(err));
	if (!back)
		print_error("%s\n", err);
	assert_non_null(back);
	{
		const struct l7_service *b =
		    l7_config_service(back, "reviews.shop.svc.cluster.local");

		assert_true(ipaddr_equal(&b->vip6, &want));
		for (size_t i = 0; i < s->n_endpoints; i++)
			assert_true(ipaddr_equal(&b->endpoints[i].ip6, &s->endpoints[i].ip6));
	}
	assert_int_equal(
	    l7_config_service(back, "legacy.shop.svc.cluster.local")->endpoints[0].ip6.family, 0);
	l7_config_free(back);
	/* An endpoint's ip6 must be an IPv6 address. */
	{
		cJSON *svcs = cJSON_GetObjectItem(j, "services");
		cJSON *ep = cJSON_GetArrayItem(
		    cJSON_GetObjectItem(cJSON_GetArrayItem(svcs, 0), "endpoints"), 0);

		cJSON_ReplaceItemInObject(ep, "ip6", cJSON_CreateString("10.1.0.11"));
		assert_null(l7_from_json(j, err, sizeof(err)));
		assert_non_null(strstr(err, "ip6"));
	}
	cJSON_Delete(j);
}

/*
 * CONNECT [fd00:96::10]:9080: the Service by its IPv6 VIP, its VirtualService routing to
 * subsets, the endpoints reached at their IPv6 addresses; the IPv4 VIP still to IPv4 ones.
 */
static void test_connect_v6_routes(void **state)
{
	struct transport_peer p = connect_peer("[fd00:96::10]:9080", "[fd00:10::99]:40000");
	struct reply r;

	get(&p, "/", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "[fd00:10::11]:9080");
	get(&p, "/", "x-v2: 1\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "[fd00:10::12]:9080");
	/* In the mesh the client's x-forwarded-for is not the waypoint's to append to. */
	assert_string_equal(W.seen_xff, "");

	p = connect_peer("10.96.0.10:9080", "10.1.0.99:40000");
	get(&p, "/", "x-v2: 1\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "10.1.0.12:9080");

	/* A pod's own IPv6 address (workload traffic) names no Service here: 404 NR. */
	assert_int_equal(get_status("[fd00:96::99]:9080", "[fd00:10::99]:40000", &r), 404);
}

/*
 * A pod of IPv6 alone (no IPv4: ip 0 in the model) is an endpoint by its IPv6 address, never
 * as 0.0.0.0: CONNECT [fd00:96::40]:8080 reaches it at [fd00:10::41]:8080.
 */
static void test_ipv6_only_pod(void **state)
{
	const struct l7_service *six = l7_config_service(W.g->l7, "six.shop.svc.cluster.local");
	struct reply r;

	assert_non_null(six);
	assert_int_equal(six->n_endpoints, 1);
	assert_int_equal(six->endpoints[0].ip, 0);
	assert_int_equal(six->endpoints[0].ip6.family, AF_INET6);
	assert_int_equal(get_status("[fd00:96::40]:8080", "[fd00:10::99]:40000", &r), 200);
	assert_string_equal(r.body, "[fd00:10::41]:8080");
}

/* The hosts of @svc's cluster for @port of family @v6 (the whole Service's, no subset). */
static size_t cluster_hosts(const struct l7_service *svc, uint16_t port, bool v6)
{
	for (size_t i = 0; i < W.g->n_clusters; i++) {
		const struct wp_cluster *c = &W.g->clusters[i];

		if (c->svc == svc && !c->subset && c->port == port && c->v6 == v6)
			return c->n_hosts;
	}
	fail_msg("no cluster for port %u", port);
	return 0;
}

/*
 * A dual-stack Service without a selector: its IPv6 slice's endpoint is in the model by its
 * ip6 alone, CONNECT [fd00:96::50]:80 reaches it at the slice's port, and the IPv4 VIP goes to
 * the IPv4 slice's endpoint alone (its cluster has one host, the IPv6 one's one).
 */
static void test_selectorless_v6_slice(void **state)
{
	const struct l7_service *ext = l7_config_service(W.g->l7, "ext.shop.svc.cluster.local");
	struct reply r;

	assert_non_null(ext);
	assert_int_equal(ext->n_endpoints, 2);
	assert_int_equal(cluster_hosts(ext, 80, false), 1);
	assert_int_equal(cluster_hosts(ext, 80, true), 1);
	assert_int_equal(get_status("[fd00:96::50]:80", "[fd00:10::99]:40000", &r), 200);
	assert_string_equal(r.body, "[2001:db8::5]:8086");
	assert_int_equal(get_status("10.96.0.50:80", "10.1.0.99:40000", &r), 200);
	assert_string_equal(r.body, "10.99.0.5:8081");
}

/*
 * A selectorless dual-stack Service with an IPv4 slice alone: its endpoint that is a pod (r1)
 * serves the IPv6 VIP at the pod's IPv6, as the ztunnel takes it; the other, no pod's, the IPv4
 * VIP alone.
 */
static void test_selectorless_v4_slice_pod(void **state)
{
	const struct l7_service *s = l7_config_service(W.g->l7, "byv4.shop.svc.cluster.local");
	struct reply r;
	char txt[IPADDR_STRLEN];

	assert_non_null(s);
	assert_int_equal(s->n_endpoints, 2);
	assert_string_equal(ipaddr_format(&s->endpoints[0].ip6, txt, sizeof(txt)), "fd00:10::11");
	assert_int_equal(s->endpoints[1].ip6.family, 0);
	assert_int_equal(cluster_hosts(s, 80, false), 2);
	assert_int_equal(cluster_hosts(s, 80, true), 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(get_status("[fd00:96::60]:80", "[fd00:10::99]:40000", &r), 200);
		assert_string_equal(r.body, "[fd00:10::11]:9080");
	}
}

/* The IPv6 VIP of a Service whose endpoint has no IPv6: no candidate, 503 (UH); IPv4 serves. */
static void test_no_v6_endpoint(void **state)
{
	struct transport_peer p = connect_peer("[fd00:96::20]:8080", "[fd00:10::99]:40000");
	size_t ups = W.n_ups;
	char log[8192];
	ssize_t n;
	struct reply r;

	get(&p, "/", NULL, &r);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, "no healthy upstream");
	assert_int_equal(W.n_ups, ups);
	n = read(W.log[0], log, sizeof(log) - 1);
	assert_true(n > 0);
	log[n] = '\0';
	assert_non_null(strstr(log, " UH "));
	/* The access log names the IPv6 client and the VIP it reached as "[v6]:port". */
	assert_non_null(strstr(log, "[fd00:10::99]:40000"));

	assert_int_equal(get_status("10.96.0.20:8080", "10.1.0.99:40000", &r), 200);
	assert_string_equal(r.body, "10.1.0.21:8080");
}

/* ipBlocks, notIpBlocks and notRemoteIpBlocks of IPv6 CIDRs hold IPv6 clients (for=). */
static void test_ip_blocks(void **state)
{
	struct reply r;

	assert_int_equal(get_status("[fd00:96::10]:9080", "[fd00:10:bad::5]:40000", &r), 403);
	assert_int_equal(get_status("[fd00:96::10]:9080", "[fd00:10:bad1::5]:40000", &r), 200);
	/* The IPv4 VIP, an IPv6 client in the block: denied all the same. */
	assert_int_equal(get_status("10.96.0.10:9080", "[fd00:10:bad::5]:40000", &r), 403);

	assert_int_equal(get_status("[fd00:96::30]:8080", "[fd00:10::5]:40000", &r), 200);
	assert_string_equal(r.body, "[fd00:10::31]:8080");
	assert_int_equal(get_status("[fd00:96::30]:8080", "[fd00:20::5]:40000", &r), 403);
	/* notIpBlocks of IPv6 only: an IPv4 client is outside them. */
	assert_int_equal(get_status("10.96.0.30:8080", "10.1.0.5:40000", &r), 403);
}

/*
 * At the edge (no mTLS: a gateway's listener): x-forwarded-for gets the IPv6 peer bare, as
 * Envoy appends it; a trusted hop's IPv6 entry is the remote client: remoteIpBlocks hold it,
 * x-envoy-external-address names it, the access log prints it as "[v6]:0".
 */
static void test_edge_xff(void **state)
{
	struct transport_peer p = {.dest_host = (char *)"reviews.shop.svc.cluster.local",
				   .dest_port = 9080};
	char log[8192];
	ssize_t n;
	struct reply r;

	assert_int_equal(sock_parse_authority("[2001:db8::7]:5555", &p.client), 0);
	while (read(W.log[0], log, sizeof(log)) > 0)
		;
	get(&p, "/", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(W.seen_xff, "2001:db8::7");
	assert_string_equal(W.seen_ext, "2001:db8::7");
	assert_string_equal(r.body, "10.1.0.11:9080"); /* a hostname destination: IPv4 */
	get(&p, "/", "x-forwarded-for: 2001:db8:1::9\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(W.seen_xff, "2001:db8:1::9,2001:db8::7");
	assert_string_equal(W.seen_ext, "2001:db8:1::9");
	n = read(W.log[0], log, sizeof(log) - 1);
	assert_true(n > 0);
	log[n] = '\0';
	assert_non_null(strstr(log, "[2001:db8:1::9]:0"));
	get(&p, "/", "x-forwarded-for: 2001:db8:feed::9\r\n", &r);
	assert_int_equal(r.status, 403);
	/* An IPv4 peer appends as it always did. */
	sockaddr_inet_v4(&p.client, inet_addr("192.0.2.7"), 5555);
	get(&p, "/", "x-forwarded-for: 2001:db8:1::9\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(W.seen_xff, "2001:db8:1::9,192.0.2.7");
}

/* ---- a gateway's PROXY header and IPv6 listener, on sockets ---- */

static struct transport_peer pp_got;
static int pp_calls;

static void pp_done(void *arg, int fd, const struct transport_peer *peer)
{
	pp_got = *peer;
	pp_calls++;
	close(fd);
}

/* A PROXY v2 header of AF_INET6 (TCP) from @src:@sport to @dst:@dport into @out: its length. */
static size_t pp_v2_tcp6(uint8_t *out, const char *src, uint16_t sport, const char *dst,
			 uint16_t dport)
{
	static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
					0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
	uint16_t ps = htons(sport), pd = htons(dport);

	memcpy(out, sig, 12);
	out[12] = 0x21; /* version 2, PROXY */
	out[13] = 0x21; /* AF_INET6, STREAM */
	out[14] = 0;
	out[15] = 36;
	assert_int_equal(inet_pton(AF_INET6, src, out + 16), 1);
	assert_int_equal(inet_pton(AF_INET6, dst, out + 32), 1);
	memcpy(out + 48, &ps, 2);
	memcpy(out + 50, &pd, 2);
	return 52;
}

static void pp_run(const uint8_t *hdr, size_t n)
{
	struct loop *l = loop_create();
	struct wp_pp_set set = {.loop = l};
	struct transport_peer peer = {.dest_port = 443};
	int sv[2];

	assert_non_null(l);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	sockaddr_inet_v4(&peer.client, inet_addr("10.0.0.1"), 1000);
	assert_int_equal(write(sv[1], hdr, n), (ssize_t)n);
	assert_int_equal(write(sv[1], "GET", 3), 3);
	pp_calls = 0;
	assert_int_equal(wp_pp_start(&set, sv[0], &peer, pp_done, NULL), 0);
	for (int i = 0; i < 16 && !pp_calls; i++)
		loop_run_once(l, 10);
	wp_pp_close_all(&set);
	close(sv[1]);
	loop_run_once(l, 0);
	loop_destroy(l);
}

/* PROXY v2 with AF_INET6: its source is the client (family, address, port); a mapped one IPv4. */
static void test_gateway_proxy_v6(void **state)
{
	uint8_t hdr[64];
	char ip[INET6_ADDRSTRLEN];
	size_t n = pp_v2_tcp6(hdr, "2001:db8::42", 51000, "2001:db8::1", 443);

	pp_run(hdr, n);
	assert_int_equal(pp_calls, 1);
	assert_int_equal(pp_got.client.sa.sa_family, AF_INET6);
	assert_string_equal(sockaddr_inet_ntop(&pp_got.client, ip, sizeof(ip)), "2001:db8::42");
	assert_int_equal(sockaddr_inet_port(&pp_got.client), 51000);
	assert_string_equal(sockaddr_inet_ntop(&pp_got.local, ip, sizeof(ip)), "2001:db8::1");

	n = pp_v2_tcp6(hdr, "::ffff:192.0.2.9", 51001, "::ffff:192.0.2.1", 443);
	pp_run(hdr, n);
	assert_int_equal(pp_calls, 1);
	assert_int_equal(pp_got.client.sa.sa_family, AF_INET);
	assert_string_equal(sockaddr_inet_ntop(&pp_got.client, ip, sizeof(ip)), "192.0.2.9");
	assert_int_equal(sockaddr_inet_port(&pp_got.client), 51001);
}

/* The gateway's IPv6 twin listener ([::], V6ONLY) accepts on [::1]; IPv4 is not its. */
static void test_listener_v6(void **state)
{
	int lfd = wp_listen_any6(0), c, a, one = 1;
	union sockaddr_inet at, peer;
	socklen_t sl = sizeof(at);

	if (lfd == -EAFNOSUPPORT || lfd == -EADDRNOTAVAIL)
		fail_msg("this host has no IPv6 loopback: %s", strerror(-lfd));
	assert_true(lfd >= 0);
	assert_int_equal(getsockname(lfd, &at.sa, &sl), 0);
	assert_int_equal(at.sa.sa_family, AF_INET6);
	assert_int_equal(setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	assert_int_equal(sock_parse_authority("[::1]:1", &peer), 0);
	sockaddr_inet_set_port(&peer, sockaddr_inet_port(&at));
	c = sock_connect(&peer, NULL);
	assert_true(c >= 0);
	a = -1;
	for (int i = 0; i < 200 && a < 0; i++) {
		sl = sizeof(peer);
		a = accept4(lfd, &peer.sa, &sl, SOCK_CLOEXEC);
		if (a < 0)
			usleep(1000);
	}
	assert_true(a >= 0);
	assert_int_equal(peer.sa.sa_family, AF_INET6);
	assert_true(IN6_IS_ADDR_LOOPBACK(&peer.v6.sin6_addr));
	close(a);
	close(c);
	/* IPV6_V6ONLY: 127.0.0.1 on that port is not this socket's (nobody listens there). */
	sockaddr_inet_v4(&peer, htonl(INADDR_LOOPBACK), sockaddr_inet_port(&at));
	c = sock_connect(&peer, NULL);
	if (c >= 0) {
		sl = sizeof(peer);
		for (int i = 0; i < 50; i++) {
			assert_true(accept4(lfd, &peer.sa, &sl, SOCK_CLOEXEC) < 0);
			usleep(1000);
		}
		close(c);
	}
	close(lfd);
}

/*
 * A workload waypoint with pods of IPv6 alone: its instance is one by its IPv6 address (no
 * IPv4 instance listed, never 0.0.0.0), and a pod bound to it is a workload named and reached
 * by its IPv6 address.
 */
static void test_ipv6_only_workload_waypoint(void **state)
{
	static const char yaml[] =
	    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
	    "  labels: {istio.io/use-waypoint: wp}\n---\n"
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
	    "metadata: {name: wp, namespace: shop, labels: {istio.io/waypoint-for: workload}}\n"
	    "spec:\n  gatewayClassName: istio-waypoint\n"
	    "  listeners: [{name: mesh, port: 15008, protocol: HBONE}]\n---\n"
	    "apiVersion: v1\nkind: Pod\nmetadata: {name: wp-0, namespace: shop,"
	    " labels: {gateway.networking.k8s.io/gateway-name: wp}}\n"
	    "spec: {containers: [{name: c}]}\nstatus: {podIP: 'fd00:10::50'}\n---\n"
	    "apiVersion: v1\nkind: Pod\nmetadata: {name: w1, namespace: shop}\n"
	    "spec: {containers: [{name: c, ports: [{containerPort: 8080}]}]}\n"
	    "status: {podIP: 'fd00:10::51', podIPs: [{ip: 'fd00:10::51'}]}\n";
	struct l7_world_bound w = {0};
	const struct l7_waypoint *wp;
	const struct l7_service *svc = NULL;
	struct l7_config *c, *back;
	char err[256] = "", txt[IPADDR_STRLEN];
	cJSON *j;

	if (l7_world_bind(&w, yaml, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(w.b.n_waypoints, 1);
	wp = &w.b.waypoints[0];
	assert_int_equal(wp->n_ips, 0);
	assert_int_equal(wp->n_ips6, 1);
	assert_string_equal(ipaddr_format(&wp->ips6[0], txt, sizeof(txt)), "fd00:10::50");
	c = l7_compile(&w.in, &w.b, wp);
	assert_non_null(c);
	for (size_t i = 0; i < c->n_services; i++)
		if (c->services[i].workload && !strcmp(c->services[i].name, "w1"))
			svc = &c->services[i];
	assert_non_null(svc);
	assert_string_equal(svc->hostname, "fd00:10::51");
	assert_int_equal(svc->vip, 0);
	assert_string_equal(ipaddr_format(&svc->vip6, txt, sizeof(txt)), "fd00:10::51");
	assert_int_equal(svc->n_endpoints, 1);
	assert_int_equal(svc->endpoints[0].ip, 0);
	assert_true(ipaddr_equal(&svc->endpoints[0].ip6, &svc->vip6));
	/* As the waypoint loads it: the model's JSON and back. */
	j = l7_to_json(c);
	assert_non_null(j);
	back = l7_from_json(j, err, sizeof(err));
	if (!back)
		fail_msg("%s", err);
	assert_non_null(l7_config_service(back, "fd00:10::51"));
	l7_config_free(back);
	cJSON_Delete(j);
	l7_config_free(c);
	l7_world_unbind(&w);
}

/*
 * The waypoint's own addresses from POD_IP: an IPv6 one (a pod of IPv6 alone) is what it
 * claims to IPv6 destinations, in its canonical text, and it claims no IPv4; an IPv4 one is
 * its IPv4 claim (its IPv6 from its interface: none for an address on no interface).
 */
static void test_self_addrs(void **state)
{
	char self6[INET6_ADDRSTRLEN];
	const char *self4 = "x";

	assert_int_equal(wp_self_addrs("fd00:98:1::20", &self4, self6, sizeof(self6)), 0);
	assert_null(self4);
	assert_string_equal(self6, "fd00:98:1::20");
	assert_int_equal(wp_self_addrs("FD00:98:1:0:0:0:0:20", &self4, self6, sizeof(self6)), 0);
	assert_null(self4);
	assert_string_equal(self6, "fd00:98:1::20");
	assert_int_equal(wp_self_addrs("192.0.2.77", &self4, self6, sizeof(self6)), -ENOENT);
	assert_string_equal(self4, "192.0.2.77");
	assert_int_equal(wp_self_addrs(NULL, &self4, self6, sizeof(self6)), -ENOENT);
	assert_null(self4);
	assert_int_equal(wp_self_addrs("nonsense", &self4, self6, sizeof(self6)), -ENOENT);
	assert_null(self4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_model, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_connect_v6_routes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_v6_endpoint, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_selectorless_v6_slice, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_selectorless_v4_slice_pod, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_only_pod, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ip_blocks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_edge_xff, setup, teardown),
	    cmocka_unit_test(test_gateway_proxy_v6),
	    cmocka_unit_test(test_listener_v6),
	    cmocka_unit_test(test_ipv6_only_workload_waypoint),
	    cmocka_unit_test(test_self_addrs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
