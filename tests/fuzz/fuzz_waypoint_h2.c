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
#include "../../waypoint/engine/proxy.h"
#include "waypoint_drive.h"

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

static int open_up(void *arg, struct transport *t, const union sockaddr_inet *dst)
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct transport_peer peer = {.dest_host = "greeter.shop.svc.cluster.local"};
	struct run r = {0};
	struct wp_engine_opts o = {.log_fd = -1};
	const uint8_t *mark;
	size_t split, down_len;
	char err[256];

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
	wp_drive(model, o, &peer, data, down_len, split, open_up, &r, r.ups, &r.n_ups);
	return 0;
}
