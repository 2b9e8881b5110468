// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: hostile bytes into the waypoint's HTTP/2 request path (waypoint/proxy_h2.c,
 * the engine's decisions, proxy_h2up.c upstream) through an in-memory transport, no socket
 * anywhere. The Service is gRPC on 50051 (HTTP/2 by declaration) and has an undeclared port
 * 8080 (HTTP/2 by detection); its routes: a subset by header, grpcStatus and HTTP aborts,
 * retries on unavailable and resets, redirect, direct response, a timeout; its upstream
 * connections carry two streams each at most. Upstream connections are memory transports
 * answered from the input (as HTTP/2 servers' bytes).
 *
 * Input: byte 0 sets how the downstream bytes are cut (bits 0-5: slice size, 0 = whole), the
 * port (bit 6: the undeclared one) and the upstreams (bit 7: they reset at once); the client's
 * bytes follow, up to "\n--upstream--\n"; what follows it is every upstream's answer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ambit/l7.h"
#include "../lib/l7_world.h"
#include "proxy.h"

#define MARK "\n--upstream--\n"
#define MAX_UP 64

static const char yaml[] =
    L7_WORLD_HEAD "apiVersion: v1\nkind: Service\nmetadata: {name: greeter, namespace: shop}\n"
		  "spec: {selector: {app: greeter}, ports: [{name: grpc, port: 50051}, {name: alt, "
		  "port: 8080}]}\n---\n"
		  "apiVersion: v1\nkind: Pod\nmetadata:\n  name: g1\n  namespace: shop\n"
		  "  labels: {app: greeter, version: v1}\n"
		  "spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.11}\n---\n"
		  "apiVersion: v1\nkind: Pod\nmetadata:\n  name: g2\n  namespace: shop\n"
		  "  labels: {app: greeter, version: v2}\n"
		  "spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.12}\n---\n"
		  "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
		  "metadata: {name: greeter, namespace: shop}\n"
		  "spec:\n  host: greeter\n  trafficPolicy:\n"
		  "    connectionPool: {http: {maxRequestsPerConnection: 2, http2MaxRequests: 8}}\n"
		  "  subsets:\n  - {name: v1, labels: {version: v1}}\n"
		  "  - {name: v2, labels: {version: v2}}\n---\n"
		  "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
		  "metadata: {name: greeter, namespace: shop}\n"
		  "spec:\n  hosts: [greeter]\n  http:\n"
		  "  - match: [{headers: {x-canary: {exact: \"yes\"}}}]\n"
		  "    route: [{destination: {host: greeter, subset: v2}}]\n"
		  "  - match: [{uri: {prefix: /abort/grpc}}]\n"
		  "    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}\n"
		  "    route: [{destination: {host: greeter, subset: v1}}]\n"
		  "  - match: [{uri: {prefix: /abort/http}}]\n"
		  "    fault: {abort: {httpStatus: 503, percentage: {value: 50}}}\n"
		  "    route: [{destination: {host: greeter, subset: v1}}]\n"
		  "  - match: [{uri: {prefix: /retry}}]\n"
		  "    retries: {attempts: 3, retryOn: \"unavailable,reset,connect-failure\"}\n"
		  "    route: [{destination: {host: greeter}}]\n"
		  "  - match: [{uri: {prefix: /redirect}}]\n"
		  "    redirect: {uri: /moved, redirectCode: 302}\n"
		  "  - match: [{uri: {exact: /direct}}]\n"
		  "    directResponse: {status: 418, body: {string: teapot}}\n"
		  "  - match: [{uri: {prefix: /timeout}}]\n"
		  "    timeout: 1s\n"
		  "    route: [{destination: {host: greeter, subset: v1}}]\n"
		  "  - route:\n    - {destination: {host: greeter, subset: v1}, weight: 70}\n"
		  "    - {destination: {host: greeter, subset: v2}, weight: 30}\n";

static struct l7_config *model;

struct run {
	const uint8_t *up;
	size_t up_len;
	bool reset;
	struct transport *ups[MAX_UP];
	size_t n_ups;
};

static int open_up(void *arg, struct transport *t, const struct sockaddr_in *dst)
{
	struct run *r = arg;

	if (r->n_ups == MAX_UP)
		return -EMFILE;
	r->ups[r->n_ups++] = t;
	if (r->reset) {
		transport_mem_reset(t);
		return 0;
	}
	if (r->up_len)
		transport_mem_input(t, (const char *)r->up, r->up_len);
	return 0;
}

/* Every round: the engine's tasks, the peers taking what was written. */
static void pump(struct loop *l, struct transport *down, struct run *r)
{
	for (int i = 0; i < 6; i++) {
		size_t n;

		loop_run_once(l, 0);
		transport_mem_output(down, &n);
		transport_mem_take(down, n);
		for (size_t k = 0; k < r->n_ups; k++) {
			transport_mem_output(r->ups[k], &n);
			transport_mem_take(r->ups[k], n);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct transport_peer peer = {.dest_host = "greeter.shop.svc.cluster.local"};
	struct run r = {0};
	struct wp_engine_opts o = {.log_fd = -1};
	struct l7_config *copy;
	struct wp_engine *e;
	struct transport *down;
	struct wp_gen *g;
	struct loop *l;
	const uint8_t *mark;
	size_t split, down_len, off = 0;
	char err[256];
	cJSON *j;

	if (!model) {
		model = l7_world_compile(yaml, err, sizeof(err));
		if (!model) {
			fprintf(stderr, "fuzz_waypoint_h2: %s\n", err);
			abort();
		}
	}
	if (size < 1)
		return 0;
	split = data[0] & 63;
	peer.dest_port = data[0] & 64 ? 8080 : 50051;
	r.reset = data[0] & 128;
	data++;
	size--;
	mark = memmem(data, size, MARK, sizeof(MARK) - 1);
	down_len = mark ? (size_t)(mark - data) : size;
	if (mark) {
		r.up = mark + sizeof(MARK) - 1;
		r.up_len = size - down_len - (sizeof(MARK) - 1);
	}
	/* Each input gets a generation of its own (the engine may keep state in it). */
	j = l7_to_json(model);
	copy = j ? l7_from_json(j, err, sizeof(err)) : NULL;
	cJSON_Delete(j);
	if (!copy)
		abort();
	g = wp_gen_new(copy, 1, err, sizeof(err));
	l = loop_create();
	if (!g || !l)
		abort();
	o.cn = connector_mem_new(l, open_up, &r);
	e = wp_engine_new(l, g, &o);
	peer.client.sin_family = AF_INET;
	peer.client.sin_addr.s_addr = htonl(0x0a000001);
	down = transport_mem_new(l, &peer);
	if (!o.cn || !e || !down || wp_engine_serve(e, down))
		abort();
	while (off < down_len) {
		size_t n = split ? split : down_len;

		if (n > down_len - off)
			n = down_len - off;
		transport_mem_input(down, (const char *)data + off, n);
		pump(l, down, &r);
		off += n;
	}
	transport_mem_input(down, NULL, 0);
	pump(l, down, &r);
	wp_engine_destroy(e);
	loop_run_once(l, 0);
	transport_mem_free(down);
	for (size_t k = 0; k < r.n_ups; k++)
		transport_mem_free(r.ups[k]);
	connector_destroy(o.cn);
	wp_gen_put(g);
	loop_destroy(l);
	return 0;
}
