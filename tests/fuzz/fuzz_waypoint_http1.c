// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: hostile bytes into the downstream side of the waypoint's request engine
 * (waypoint/proxy.c over userspace/http/http1_server.c) through an in-memory transport, no
 * socket anywhere. The configuration (compiled once from Istio manifests) has routes of every
 * kind: subsets by header, weights, redirect, direct response, rewrite with header operations,
 * fault abort, retries, mirror, circuit breakers. Upstream connections are memory transports
 * too, answered from the input.
 *
 * Input: byte 0 sets how the downstream bytes are cut (bits 0-5: slice size, 0 = whole) and
 * how upstreams behave (bits 6-7: answer, refuse, reset, answer then EOF); the downstream bytes
 * follow, up to "\n--upstream--\n"; what follows it is every upstream's answer.
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

static const char yaml[] = L7_WORLD_HEAD
    "apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: shop}\n"
    "spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}\n---\n"
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: r1\n  namespace: shop\n"
    "  labels: {app: reviews, version: v1}\n"
    "spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.11}\n---\n"
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: r2\n  namespace: shop\n"
    "  labels: {app: reviews, version: v2}\n"
    "spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.12}\n---\n"
    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
    "metadata: {name: reviews, namespace: shop}\n"
    "spec:\n  host: reviews\n  trafficPolicy:\n"
    "    connectionPool: {tcp: {maxConnections: 4}, http: {http1MaxPendingRequests: 2}}\n"
    "    outlierDetection: {consecutive5xxErrors: 3}\n"
    "    loadBalancer: {consistentHash: {httpHeaderName: x-user}}\n"
    "  subsets:\n  - {name: v1, labels: {version: v1}}\n"
    "  - {name: v2, labels: {version: v2}}\n---\n"
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
    "metadata: {name: reviews, namespace: shop}\n"
    "spec:\n  hosts: [reviews]\n  http:\n"
    "  - match: [{headers: {end-user: {exact: jason}}}]\n"
    "    route: [{destination: {host: reviews, subset: v2}}]\n"
    "  - match: [{uri: {prefix: /redirect}}]\n"
    "    redirect: {uri: /moved, redirectCode: 302}\n"
    "  - match: [{uri: {exact: /direct}}]\n"
    "    directResponse: {status: 418, body: {string: teapot}}\n"
    "  - match: [{uri: {regex: \"/re(w+)rite.*\"}}]\n"
    "    rewrite: {uriRegexRewrite: {match: \"/re(w+)\", rewrite: \"/\\\\1\"}}\n"
    "    headers: {request: {set: {x-a: b}, remove: [cookie]}, response: {add: {x-r: "
    "c}}}\n"
    "    route: [{destination: {host: reviews, subset: v1}}]\n"
    "  - match: [{uri: {prefix: /abort}}]\n"
    "    fault: {abort: {httpStatus: 503, percentage: {value: 50}}}\n"
    "    route: [{destination: {host: reviews, subset: v1}}]\n"
    "  - match: [{uri: {prefix: /retry}}]\n"
    "    retries: {attempts: 3, retryOn: \"5xx,reset,connect-failure\"}\n"
    "    route: [{destination: {host: reviews}}]\n"
    "  - match: [{uri: {prefix: /mirror}}]\n"
    "    route: [{destination: {host: reviews, subset: v1}}]\n"
    "    mirror: {host: reviews, subset: v2}\n"
    "    corsPolicy: {allowOrigins: [{exact: \"http://a\"}], allowMethods: [GET]}\n"
    "  - route:\n    - {destination: {host: reviews, subset: v1}, weight: 70}\n"
    "    - {destination: {host: reviews, subset: v2}, weight: 30}\n";

static struct l7_config *model;

struct run {
	const uint8_t *up;
	size_t up_len;
	int mode;
	struct transport *ups[MAX_UP];
	size_t n_ups;
};

static int open_up(void *arg, struct transport *t, const union sockaddr_inet *dst)
{
	struct run *r = arg;

	if (r->n_ups == MAX_UP)
		return -EMFILE;
	r->ups[r->n_ups++] = t;
	if (r->mode == 1)
		return -ECONNREFUSED;
	if (r->mode == 2) {
		transport_mem_reset(t);
		return 0;
	}
	if (r->up_len)
		transport_mem_input(t, (const char *)r->up, r->up_len);
	if (r->mode == 3)
		transport_mem_input(t, NULL, 0);
	return 0;
}

static int init(void)
{
	char err[256];

	model = l7_world_compile(yaml, err, sizeof(err));
	if (!model) {
		fprintf(stderr, "fuzz_waypoint_http1: %s\n", err);
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct transport_peer peer = {.dest_port = 9080,
				      .dest_host = "reviews.shop.svc.cluster.local"};
	struct run r = {0};
	struct wp_engine_opts o = {.log_fd = -1, .shadow_suffix = true};
	const uint8_t *mark;
	size_t split, down_len;

	if (!model && init())
		return 0;
	if (size < 1)
		return 0;
	split = data[0] & 63;
	r.mode = data[0] >> 6;
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
