// SPDX-License-Identifier: Apache-2.0
/*
 * The waypoint's protocols other than HTTP/1 downstream, in process and without sockets: the
 * request engine serves memory transports (transport_mem), an HTTP/2 client (h2.h over a pipe)
 * speaks to it, and its connector's upstream streams are answered by in-process backends that
 * recognise what they are sent: an HTTP/2 server (the h2 layer again: gRPC-shaped answers with
 * trailers), an HTTP/1 responder, or an echo. Checked: protocol detection, HTTP/2 requests
 * routed and aborted by the engine's decisions, trailers carried, HTTP/1 to HTTP/2 upgrade,
 * streams sharing upstream connections within maxRequestsPerConnection and tcp.maxConnections,
 * a pooled HTTP/1 connection whose response ended under backpressure serving the next request,
 * and TCP passthrough by the VirtualService's tcp routes.
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
#include <unistd.h>

#include <cmocka.h>

#include "ambit/l7.h"
#include "../../../lib/l7_world.h"
#include "lib/buf.h"
#include "http/h2.h"
#include "http/http_fields.h"
#include "../../../../waypoint/engine/proxy.h"
#include "../../../lib/h2_frames.h"

// clang-format off
static const char world_yaml[] =
	L7_WORLD_HEAD
	"apiVersion: v1\nkind: Service\nmetadata: {name: greeter, namespace: shop}\n"
	"spec: {selector: {app: greeter}, ports: [{name: grpc, port: 50051}]}\n---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
	"spec: {selector: {app: web}, ports: [{name: http, port: 8080}]}\n---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: plain, namespace: shop}\n"
	"spec: {selector: {app: plain}, ports: [{name: http, port: 8090}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: p1, namespace: shop, labels: {app: plain}}\n"
	"spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.51}\n---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: raw, namespace: shop}\n"
	"spec: {selector: {app: raw}, ports: [{port: 9000}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: g1, namespace: shop, labels: {app: greeter, version: v1}}\n"
	"spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.21}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: g2, namespace: shop, labels: {app: greeter, version: v2}}\n"
	"spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.22}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: w1, namespace: shop, labels: {app: web}}\n"
	"spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.31}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: x1, namespace: shop, labels: {app: raw, version: v1}}\n"
	"spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.41}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: x2, namespace: shop, labels: {app: raw, version: v2}}\n"
	"spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.42}\n---\n"
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
	"metadata: {name: greeter, namespace: shop}\n"
	"spec:\n  host: greeter\n"
	"  trafficPolicy: {connectionPool: {http: {maxRequestsPerConnection: 2}}}\n"
	"  subsets:\n  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: capped, namespace: shop}\n"
	"spec: {selector: {app: capped}, ports: [{name: grpc, port: 50052}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: c1, namespace: shop, labels: {app: capped}}\n"
	"spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.61}\n---\n"
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
	"metadata: {name: capped, namespace: shop}\n"
	"spec:\n  host: capped\n"
	"  trafficPolicy: {connectionPool: {http: {maxRequestsPerConnection: 2},\n"
	"                                   tcp: {maxConnections: 2}}}\n---\n"
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
	"metadata: {name: web, namespace: shop}\n"
	"spec:\n  host: web\n  trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}\n---\n"
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
	"metadata: {name: raw, namespace: shop}\n"
	"spec:\n  host: raw\n"
	"  subsets:\n  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n---\n"
	"apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	"metadata: {name: greeter, namespace: shop}\n"
	"spec:\n  hosts: [greeter]\n  http:\n"
	"  - match: [{headers: {x-route: {exact: v2}}}]\n"
	"    route: [{destination: {host: greeter, subset: v2}}]\n"
	"  - match: [{uri: {prefix: /greet.Greeter/Abort}}]\n"
	"    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}\n"
	"    route: [{destination: {host: greeter, subset: v1}}]\n"
	"  - match: [{uri: {prefix: /greet.Greeter/Flaky}}]\n"
	"    retries: {attempts: 2, retryOn: unavailable}\n"
	"    route: [{destination: {host: greeter, subset: v1}}]\n"
	"  - route: [{destination: {host: greeter, subset: v1}}]\n---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: rawidle, namespace: shop}\n"
	"spec: {selector: {app: raw}, ports: [{port: 9000}]}\n---\n"
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
	"metadata: {name: rawidle, namespace: shop}\n"
	"spec:\n  host: rawidle\n  trafficPolicy: {connectionPool: {tcp: {idleTimeout: 1s}}}\n---\n"
	"apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	"metadata: {name: raw, namespace: shop}\n"
	"spec:\n  hosts: [raw]\n  tcp:\n"
	"  - route: [{destination: {host: raw, subset: v2}}]\n";
// clang-format on

#define MAX_UP 16

/* ---- backends: what an upstream stream is depends on its first bytes ---- */

enum bkind { B_UNKNOWN, B_H2, B_H1, B_ECHO };

struct backend {
	struct transport *t;
	uint32_t ip;
	enum bkind kind;
	struct h2_conn *h2;
	int requests;
	bool eof;
};

struct bstream {
	struct backend *b;
	char path[128], authority[128], te[32];
	bool conn_field;
	size_t body;
	int sent;
};

static struct {
	struct loop *l;
	struct connector *cn;
	struct wp_engine *e;
	struct wp_gen *g;
	struct backend ups[MAX_UP];
	size_t n_ups;
	/* the last HTTP/2 request a backend saw */
	char seen_path[128], seen_authority[128], seen_te[32];
	size_t seen_big; /* the length of its x-big value */
	bool seen_conn_field;
	uint32_t seen_ip;
	size_t seen_body; /* request body bytes of the last HTTP/2 request answered */
} W;

static ssize_t b_write(void *arg, const uint8_t *data, size_t len)
{
	struct backend *b = arg;

	return transport_mem_input(b->t, (const char *)data, len) ? -EPIPE : (ssize_t)len;
}

static const struct h2_pipe_ops b_pipe = {.write = b_write};

static void bs_data(void *arg, struct h2_stream *s, const uint8_t *d, size_t n)
{
	struct bstream *x = arg;

	x->body += n;
	h2_stream_consume(s, n);
}

static ssize_t bs_provide(void *arg, struct h2_stream *s, uint8_t *buf, size_t len, bool *eof)
{
	struct bstream *x = arg;
	int n = snprintf((char *)buf, len, "echo:%s", x->path);
	const struct h2_header tr[] = {H2_HDR("grpc-status", "0"), H2_HDR("x-trailer", "kept")};

	h2_submit_trailers(s, tr, 2);
	*eof = true;
	return n;
}

static void bs_end(void *arg, struct h2_stream *s)
{
	struct bstream *x = arg;
	char ip[INET_ADDRSTRLEN];
	struct in_addr a = {.s_addr = x->b->ip};
	const struct h2_header unavailable[] = {H2_HDR("content-type", "application/grpc"),
						H2_HDR("grpc-status", "14")};
	struct h2_header h[] = {H2_HDR("content-type", "application/grpc"),
				H2_HDR("x-backend", inet_ntop(AF_INET, &a, ip, sizeof(ip)))};

	x->b->requests++;
	W.seen_body = x->body;
	/* /greet.Greeter/BigHead: more header fields than a peer takes (http_fields.h). */
	if (strstr(x->path, "BigHead")) {
		static char names[HTTP_MAX_FIELDS + 1][8];
		struct h2_header big[HTTP_MAX_FIELDS + 1];

		for (size_t i = 0; i <= HTTP_MAX_FIELDS; i++) {
			snprintf(names[i], sizeof(names[i]), "x-f%zu", i);
			big[i] = H2_HDR(names[i], "1");
		}
		h2_submit_response(s, 200, big, HTTP_MAX_FIELDS + 1, false);
		return;
	}
	/* /greet.Greeter/Flaky fails on the first backend request it sees (retried). */
	if (strstr(x->path, "Flaky") && x->b->requests == 1) {
		h2_submit_response(s, 200, unavailable, 2, false);
		return;
	}
	h2_submit_response(s, 200, h, 2, true);
}

static void bs_close(void *arg, struct h2_stream *s, uint32_t error, const char *reason)
{
	h2_stream_release(s);
	free(arg);
}

static const struct h2_stream_ops bs_ops = {
    .on_data = bs_data, .on_end = bs_end, .on_close = bs_close, .provide = bs_provide};

static void b_request(void *arg, struct h2_stream *s, const struct h2_header *h, size_t n,
		      bool end_stream)
{
	struct backend *b = arg;
	struct bstream *x = calloc(1, sizeof(*x));
	const char *te = h2_header_get(h, n, "te"), *big = h2_header_get(h, n, "x-big");

	assert_non_null(x);
	W.seen_big = big ? strlen(big) : 0;
	x->b = b;
	snprintf(x->path, sizeof(x->path), "%s", h2_header_get(h, n, ":path"));
	snprintf(W.seen_path, sizeof(W.seen_path), "%s", x->path);
	snprintf(W.seen_authority, sizeof(W.seen_authority), "%s",
		 h2_header_get(h, n, ":authority"));
	snprintf(W.seen_te, sizeof(W.seen_te), "%s", te ? te : "");
	W.seen_conn_field = h2_header_get(h, n, "connection") || h2_header_get(h, n, "host");
	W.seen_ip = b->ip;
	h2_stream_bind(s, &bs_ops, x);
	if (end_stream)
		bs_end(x, s);
}

static void b_closed(void *arg, struct h2_conn *c, const char *reason)
{
	struct backend *b = arg;

	b->h2 = NULL;
}

static const struct h2_conn_ops b_ops = {.on_request = b_request, .on_close = b_closed};

static int open_up(void *arg, struct transport *t, const union sockaddr_inet *dst)
{
	struct backend *b = &W.ups[W.n_ups];

	assert_true(W.n_ups < MAX_UP);
	W.n_ups++;
	memset(b, 0, sizeof(*b));
	b->t = t;
	b->ip = dst->v4.sin_addr.s_addr;
	return 0;
}

/* Past TRANSPORT_HIGH_WATER: queued to the client at once, it pauses the upstream. */
#define BIG_BODY (320u << 10)

/* GET /big: a head and BIG_BODY bytes, arriving together as the end of a long body does. */
static void b_answer_big(struct backend *b)
{
	static char big[BIG_BODY];
	char head[64];
	int n =
	    snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\ncontent-length: %u\r\n\r\n", BIG_BODY);

	memset(big, 'b', sizeof(big));
	transport_mem_input(b->t, head, (size_t)n);
	transport_mem_input(b->t, big, sizeof(big));
}

/* What the waypoint sent to backend @b, answered by its kind. */
static void b_serve(struct backend *b)
{
	static const char h1_ok[] = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
	size_t n;
	const char *d = transport_mem_output(b->t, &n);

	if (!n && !transport_mem_shut(b->t))
		return;
	if (b->kind == B_UNKNOWN && n) {
		if (n >= 3 && !memcmp(d, "PRI", 3)) {
			struct h2_transport tr = {
			    .kind = H2_PIPE, .fd = -1, .pipe = &b_pipe, .pipe_arg = b};
			struct h2_config cfg = {.server = true, .ops = &b_ops, .arg = b};

			b->kind = B_H2;
			b->h2 = h2_conn_create(W.l, &tr, &cfg);
			assert_non_null(b->h2);
		} else {
			b->kind = memchr(d, '\n', n) && !strncmp(d, "GET ", 4) ? B_H1 : B_ECHO;
		}
	}
	if (b->kind == B_H2 && n)
		h2_conn_input(b->h2, (const uint8_t *)d, n);
	else if (b->kind == B_H1 && n >= 9 && !memcmp(d, "GET /big ", 9))
		b_answer_big(b);
	else if (b->kind == B_H1 && n)
		transport_mem_input(b->t, h1_ok, sizeof(h1_ok) - 1);
	else if (b->kind == B_ECHO && n)
		transport_mem_input(b->t, d, n);
	transport_mem_take(b->t, n);
	/* The echo passes the half-close back, once. */
	if (b->kind == B_ECHO && transport_mem_shut(b->t) && !b->eof) {
		b->eof = true;
		transport_mem_input(b->t, NULL, 0);
	}
}

/* ---- the client side ---- */

struct client {
	struct transport *down;
	struct h2_conn *h2;
	struct buf in; /* HTTP/1 or raw bytes the waypoint sent */
};

struct call {
	int status;
	char grpc_status[8], backend[32], trailer[16];
	char body[256];
	size_t body_len;
	bool headers_ended, done, reset;
};

static ssize_t c_write(void *arg, const uint8_t *data, size_t len)
{
	struct client *c = arg;

	return transport_mem_input(c->down, (const char *)data, len) ? -EPIPE : (ssize_t)len;
}

static const struct h2_pipe_ops c_pipe = {.write = c_write};

/* Rounds of the loop, the peers taking what was written; @wait_ms lets timers (backoff) run. */
static void pump_wait(struct client *c, int wait_ms)
{
	for (int i = 0; i < 64; i++) {
		size_t n;
		const char *d;

		loop_run_once(W.l, wait_ms);
		d = transport_mem_output(c->down, &n);
		if (n && c->h2)
			h2_conn_input(c->h2, (const uint8_t *)d, n);
		else if (n) {
			char *p = buf_reserve(&c->in, n, 1u << 20);

			assert_non_null(p);
			memcpy(p, d, n);
			c->in.len += n;
		}
		transport_mem_take(c->down, n);
		for (size_t k = 0; k < W.n_ups; k++)
			b_serve(&W.ups[k]);
	}
}

static void pump(struct client *c)
{
	pump_wait(c, 0);
}

static struct transport *down_new(const char *svc, uint16_t port)
{
	char host[128];
	struct transport_peer p = {.dest_host = host, .dest_port = port};
	struct transport *t;

	snprintf(host, sizeof(host), "%s.shop.svc.cluster.local", svc);
	sockaddr_inet_v4(&p.client, inet_addr("10.1.0.99"), 0);
	t = transport_mem_new(W.l, &p);
	assert_non_null(t);
	assert_int_equal(wp_engine_serve(W.e, t), 0);
	return t;
}

static void client_h2(struct client *c, const char *svc, uint16_t port)
{
	struct h2_transport tr = {.kind = H2_PIPE, .fd = -1, .pipe = &c_pipe, .pipe_arg = c};
	struct h2_config cfg = {0};

	memset(c, 0, sizeof(*c));
	c->down = down_new(svc, port);
	c->h2 = h2_conn_create(W.l, &tr, &cfg);
	assert_non_null(c->h2);
}

static void cs_headers(void *arg, struct h2_stream *s, const struct h2_header *h, size_t n,
		       bool end_stream)
{
	struct call *k = arg;
	const char *v = h2_header_get(h, n, ":status");

	if (v)
		k->status = atoi(v);
	if (v && end_stream)
		k->headers_ended = true;
	if ((v = h2_header_get(h, n, "grpc-status")))
		snprintf(k->grpc_status, sizeof(k->grpc_status), "%s", v);
	if ((v = h2_header_get(h, n, "x-backend")))
		snprintf(k->backend, sizeof(k->backend), "%s", v);
	if ((v = h2_header_get(h, n, "x-trailer")))
		snprintf(k->trailer, sizeof(k->trailer), "%s", v);
}

static void cs_data(void *arg, struct h2_stream *s, const uint8_t *d, size_t n)
{
	struct call *k = arg;
	size_t room = sizeof(k->body) - 1 - k->body_len;

	memcpy(k->body + k->body_len, d, n < room ? n : room);
	k->body_len += n < room ? n : room;
	h2_stream_consume(s, n);
}

static void cs_close(void *arg, struct h2_stream *s, uint32_t error, const char *reason)
{
	struct call *k = arg;

	k->done = true;
	k->reset = error != 0;
	h2_stream_release(s);
}

static ssize_t cs_provide(void *arg, struct h2_stream *s, uint8_t *buf, size_t len, bool *eof)
{
	/* One gRPC message: uncompressed, 3 bytes. */
	memcpy(buf, "\0\0\0\0\3abc", 8);
	*eof = true;
	return 8;
}

static const struct h2_stream_ops cs_ops = {
    .on_headers = cs_headers, .on_data = cs_data, .on_close = cs_close, .provide = cs_provide};

/* A gRPC call to @path with @n more fields @more (copied). */
static void call_start_with(struct client *c, struct call *k, const char *path,
			    const struct h2_header *more, size_t n)
{
	struct h2_header *h = calloc(6 + n, sizeof(*h));

	assert_non_null(h);
	h[0] = H2_HDR(":method", "POST");
	h[1] = H2_HDR(":scheme", "http");
	h[2] = H2_HDR(":authority", "greeter:50051");
	h[3] = H2_HDR(":path", path);
	h[4] = H2_HDR("content-type", "application/grpc");
	h[5] = H2_HDR("te", "trailers");
	if (n)
		memcpy(h + 6, more, n * sizeof(*h));
	memset(k, 0, sizeof(*k));
	assert_non_null(h2_submit_request(c->h2, h, 6 + n, true, &cs_ops, k));
	free(h);
}

static void call_start(struct client *c, struct call *k, const char *path, const char *route)
{
	struct h2_header r = H2_HDR("x-route", route ? route : "");

	call_start_with(c, k, path, &r, route ? 1 : 0);
}

static void client_free(struct client *c)
{
	if (c->h2)
		h2_conn_close(c->h2, "test over");
	transport_close(c->down, false);
	pump(c);
	transport_mem_free(c->down);
	buf_free(&c->in);
}

/* ---- tests ---- */

static void test_grpc_routed_with_trailers(void **state)
{
	struct client c;
	struct call k1, k2;

	client_h2(&c, "greeter", 50051);
	call_start(&c, &k1, "/greet.Greeter/SayHello", NULL);
	call_start(&c, &k2, "/greet.Greeter/SayHello", "v2");
	pump(&c);
	assert_true(k1.done && k2.done);
	assert_false(k1.reset);
	assert_int_equal(k1.status, 200);
	/* The header match sends the second call to subset v2, the other to v1. */
	assert_string_equal(k1.backend, "10.1.0.21");
	assert_string_equal(k2.backend, "10.1.0.22");
	/* The body came back, and the upstream's trailers with it. */
	assert_int_equal(k1.body_len, strlen("echo:/greet.Greeter/SayHello"));
	assert_memory_equal(k1.body, "echo:/greet.Greeter/SayHello", k1.body_len);
	assert_string_equal(k1.grpc_status, "0");
	assert_string_equal(k1.trailer, "kept");
	assert_int_equal(W.seen_body, 8); /* the client's one message, whole */
	/* Upstream as HTTP/2: :authority carried, no Host or Connection, TE: trailers kept. */
	assert_string_equal(W.seen_authority, "greeter:50051");
	assert_string_equal(W.seen_te, "trailers");
	assert_false(W.seen_conn_field);
	client_free(&c);
}

static void test_grpc_abort_trailers_only(void **state)
{
	struct client c;
	struct call k;
	size_t ups = W.n_ups;

	client_h2(&c, "greeter", 50051);
	call_start(&c, &k, "/greet.Greeter/Abort", NULL);
	pump(&c);
	assert_true(k.done);
	assert_int_equal(k.status, 200);
	assert_true(k.headers_ended); /* trailers-only: the status is in the one header block */
	assert_string_equal(k.grpc_status, "14");
	assert_int_equal(k.body_len, 0);
	assert_int_equal(W.n_ups, ups); /* no upstream was opened */
	client_free(&c);
}

static void test_grpc_retry_on_unavailable(void **state)
{
	struct client c;
	struct call k;

	client_h2(&c, "greeter", 50051);
	call_start(&c, &k, "/greet.Greeter/Flaky", NULL);
	/* The retry waits for its backoff (25 ms base): the loop's timers run. */
	for (int i = 0; i < 100 && !k.done; i++)
		pump_wait(&c, 1);
	assert_true(k.done);
	/* The first answer (grpc-status 14, trailers-only) was retried: the client saw 0. */
	assert_string_equal(k.grpc_status, "0");
	assert_string_equal(k.backend, "10.1.0.21");
	client_free(&c);
}

static void test_streams_share_connections(void **state)
{
	struct client c;
	struct call k[5];
	size_t ups = W.n_ups;

	client_h2(&c, "greeter", 50051);
	for (int i = 0; i < 5; i++)
		call_start(&c, &k[i], "/greet.Greeter/SayHello", NULL);
	pump(&c);
	for (int i = 0; i < 5; i++) {
		assert_true(k[i].done);
		assert_string_equal(k[i].grpc_status, "0");
	}
	/* maxRequestsPerConnection 2: five streams took three upstream connections. */
	assert_int_equal(W.n_ups - ups, 3);
	client_free(&c);
}

static void test_h2_max_connections(void **state)
{
	struct client c;
	struct call k[5];
	size_t ups = W.n_ups;
	int ok = 0, over = 0;

	/*
	 * maxRequestsPerConnection 2 and tcp.maxConnections 2: four streams take the two upstream
	 * connections, the fifth, needing a third, overflows (UO; for gRPC Envoy's local reply is
	 * 200 with grpc-status 14).
	 */
	client_h2(&c, "capped", 50052);
	for (int i = 0; i < 5; i++)
		call_start(&c, &k[i], "/greet.Greeter/SayHello", NULL);
	pump(&c);
	for (int i = 0; i < 5; i++) {
		assert_true(k[i].done);
		ok += !strcmp(k[i].grpc_status, "0");
		over += !strcmp(k[i].grpc_status, "14");
	}
	assert_int_equal(ok, 4);
	assert_int_equal(over, 1);
	assert_int_equal(W.n_ups - ups, 2);
	/* Once those connections served their two and went, a new one may open. */
	call_start(&c, &k[0], "/greet.Greeter/SayHello", NULL);
	pump(&c);
	assert_true(k[0].done);
	assert_string_equal(k[0].grpc_status, "0");
	assert_int_equal(W.n_ups - ups, 3);
	client_free(&c);
}

static void test_h2_to_http1_port(void **state)
{
	struct h2_header h[] = {H2_HDR(":method", "GET"), H2_HDR(":scheme", "http"),
				H2_HDR(":authority", "plain:8090"), H2_HDR(":path", "/p")};
	struct client c;
	struct call k;

	/* A declared http port keeps its HTTP/1.1 backend: the answer converted back. */
	client_h2(&c, "plain", 8090);
	memset(&k, 0, sizeof(k));
	assert_non_null(h2_submit_request(c.h2, h, 4, false, &cs_ops, &k));
	pump(&c);
	assert_int_equal(W.ups[W.n_ups - 1].kind, B_H1);
	assert_true(k.done);
	assert_false(k.reset);
	assert_int_equal(k.status, 200);
	assert_int_equal(k.body_len, 2);
	assert_memory_equal(k.body, "ok", 2);
	client_free(&c);
}

static void test_pooled_after_paused_response(void **state)
{
	static const char req[] = "GET /big HTTP/1.1\r\nHost: plain:8090\r\n\r\n";
	struct h2_header h[] = {H2_HDR(":method", "GET"), H2_HDR(":scheme", "http"),
				H2_HDR(":authority", "plain:8090"), H2_HDR(":path", "/p")};
	struct client c1 = {0}, c2;
	struct call k;
	size_t ups;

	/*
	 * The last bytes of a response fill the client's queue past the high water mark: the
	 * upstream connection is paused as its response ends, and goes back to the pool so.
	 */
	c1.down = down_new("plain", 8090);
	transport_mem_input(c1.down, req, sizeof(req) - 1);
	pump(&c1);
	assert_true(c1.in.len > BIG_BODY);
	assert_memory_equal(buf_head(&c1.in), "HTTP/1.1 200", 12);
	/* That client goes (its FIN: the waypoint closes its side); the connection stays pooled. */
	transport_mem_input(c1.down, NULL, 0);
	pump(&c1);
	assert_true(transport_mem_closed(c1.down, NULL));
	transport_mem_free(c1.down);
	buf_free(&c1.in);
	ups = W.n_ups;
	/* The next request takes that connection, and its answer is read (t_89's HTTPS h2 step). */
	client_h2(&c2, "plain", 8090);
	memset(&k, 0, sizeof(k));
	assert_non_null(h2_submit_request(c2.h2, h, 4, false, &cs_ops, &k));
	pump(&c2);
	assert_int_equal(W.n_ups, ups);
	assert_true(k.done);
	assert_false(k.reset);
	assert_int_equal(k.status, 200);
	assert_int_equal(k.body_len, 2);
	assert_memory_equal(k.body, "ok", 2);
	client_free(&c2);
}

static void test_http1_upgraded_to_h2(void **state)
{
	static const char req[] = "GET /page HTTP/1.1\r\nHost: web:8080\r\nConnection: keep-alive, "
				  "x-hop\r\nx-hop: 1\r\nTE: trailers\r\n\r\n";
	struct client c = {0};

	c.down = down_new("web", 8080);
	transport_mem_input(c.down, req, sizeof(req) - 1);
	pump(&c);
	/* The DestinationRule's h2UpgradePolicy: the backend saw HTTP/2, Host as :authority. */
	assert_int_equal(W.ups[W.n_ups - 1].kind, B_H2);
	assert_string_equal(W.seen_path, "/page");
	assert_string_equal(W.seen_authority, "web:8080");
	assert_string_equal(W.seen_te, "trailers");
	assert_false(W.seen_conn_field);
	/* And the client an HTTP/1.1 response with the body. */
	assert_true(c.in.len > 12);
	assert_memory_equal(buf_head(&c.in), "HTTP/1.1 200", 12);
	assert_non_null(memmem(buf_head(&c.in), c.in.len, "echo:/page", 10));
	client_free(&c);
}

static void test_detect_http1_byte_by_byte(void **state)
{
	static const char req[] = "GET /x HTTP/1.1\r\nHost: raw\r\n\r\n";
	struct client c = {0};

	/* An undeclared port: the request line decides, however it is cut. */
	c.down = down_new("raw", 9000);
	for (size_t i = 0; i < sizeof(req) - 1; i++) {
		transport_mem_input(c.down, req + i, 1);
		pump(&c);
	}
	assert_int_equal(W.ups[W.n_ups - 1].kind, B_H1);
	assert_true(c.in.len > 12);
	assert_memory_equal(buf_head(&c.in), "HTTP/1.1 200", 12);
	client_free(&c);
}

static void test_tcp_passthrough(void **state)
{
	static const char hello[] = "\x16\x03\x01 not http at all\n";
	struct client c = {0};
	struct backend *b;

	c.down = down_new("raw", 9000);
	transport_mem_input(c.down, hello, sizeof(hello) - 1);
	pump(&c);
	b = &W.ups[W.n_ups - 1];
	/* Spliced to the tcp route's destination (subset v2), echoed back as is. */
	assert_int_equal(b->kind, B_ECHO);
	assert_int_equal(b->ip, inet_addr("10.1.0.42"));
	assert_int_equal(c.in.len, sizeof(hello) - 1);
	assert_memory_equal(buf_head(&c.in), hello, sizeof(hello) - 1);
	/* The client's half-close reaches the server, whose own comes back. */
	assert_false(transport_mem_shut(c.down));
	transport_mem_input(c.down, NULL, 0);
	pump(&c);
	assert_true(b->eof);
	assert_true(transport_mem_shut(c.down));
	client_free(&c);
}

/* Echoed back through the waypoint: the connection is spliced and open. */
static struct backend *tcp_open(struct client *c, const char *svc)
{
	static const char hello[] = "\x16\x03\x01 not http\n";

	c->down = down_new(svc, 9000);
	transport_mem_input(c->down, hello, sizeof(hello) - 1);
	pump(c);
	assert_int_equal(c->in.len, sizeof(hello) - 1);
	assert_false(transport_mem_closed(c->down, NULL));
	return &W.ups[W.n_ups - 1];
}

/*
 * connectionPool.tcp.idleTimeout (Envoy's TCP proxy idle_timeout): a spliced connection with no
 * byte either way for it is closed on both sides with a FIN; one under the default, an hour,
 * stays open meanwhile.
 */
static void test_tcp_idle_timeout(void **state)
{
	struct client quick = {0}, dflt = {0};
	struct backend *bq = tcp_open(&quick, "rawidle"), *bd = tcp_open(&dflt, "raw");
	bool reset = true;

	for (int i = 0; i < 100 && !transport_mem_closed(quick.down, NULL); i++) {
		usleep(50 * 1000);
		pump(&quick);
		wp_engine_sweep(W.e);
	}
	assert_true(transport_mem_closed(quick.down, &reset));
	assert_false(reset);
	assert_true(transport_mem_closed(bq->t, &reset));
	assert_false(reset);
	assert_false(transport_mem_closed(dflt.down, NULL));
	assert_false(transport_mem_closed(bd->t, NULL));
	client_free(&quick);
	client_free(&dflt);
}

/*
 * Header limits as HTTP/1.1's (http_fields.h): a 9 KB value passes (there was an 8 KiB cap of
 * one value), 61 KiB of headers or 101 fields get 431 without going upstream, and the client's
 * connection serves its next call.
 */
static void test_h2_header_limits(void **state)
{
	char *v = malloc(9001);
	struct h2_header h[8];
	struct client c;
	struct call k;
	size_t ups;

	assert_non_null(v);
	memset(v, 'a', 9000);
	v[9000] = '\0';
	h[0] = H2_HDR("x-big", v);
	client_h2(&c, "greeter", 50051);
	call_start_with(&c, &k, "/greet.Greeter/SayHello", h, 1);
	pump(&c);
	assert_true(k.done);
	assert_false(k.reset);
	assert_string_equal(k.grpc_status, "0");
	assert_int_equal(W.seen_big, 9000);

	ups = W.n_ups;
	v[8000] = '\0';
	for (int i = 0; i < 8; i++) {
		static const char *const names[] = {"x-b0", "x-b1", "x-b2", "x-b3",
						    "x-b4", "x-b5", "x-b6", "x-b7"};

		h[i] = H2_HDR(names[i], v);
	}
	W.seen_path[0] = '\0';
	call_start_with(&c, &k, "/greet.Greeter/TooBig", h, 8);
	pump(&c);
	assert_true(k.done);
	assert_int_equal(k.status, 431);
	assert_string_equal(W.seen_path, "");
	assert_int_equal(W.n_ups, ups);

	{
		static char names[HTTP_MAX_FIELDS + 1][8];
		struct h2_header many[HTTP_MAX_FIELDS + 1];

		for (size_t i = 0; i <= HTTP_MAX_FIELDS; i++) {
			snprintf(names[i], sizeof(names[i]), "x-f%zu", i);
			many[i] = H2_HDR(names[i], "1");
		}
		call_start_with(&c, &k, "/greet.Greeter/TooMany", many, HTTP_MAX_FIELDS + 1);
		pump(&c);
		assert_true(k.done);
		assert_int_equal(k.status, 431);
		assert_string_equal(W.seen_path, "");
	}

	call_start(&c, &k, "/greet.Greeter/SayHello", NULL);
	pump(&c);
	assert_true(k.done);
	assert_string_equal(k.grpc_status, "0");
	assert_non_null(c.h2);
	client_free(&c);
	free(v);
}

/* The engine's header limits (wp_hcm_opts.headers) are its HTTP/2 downstream's too. */
static void test_h2_configured_limits(void **state)
{
	static const char *const names[] = {"x-0", "x-1", "x-2", "x-3", "x-4",
					    "x-5", "x-6", "x-7", "x-8"};
	struct h2_header more[9];
	struct client c;
	struct call k;

	for (int i = 0; i < 9; i++)
		more[i] = H2_HDR(names[i], "1");
	/* A gRPC call carries 2 fields (content-type, te): 8 more make 10, 9 more 11. */
	client_h2(&c, "greeter", 50051);
	call_start_with(&c, &k, "/greet.Greeter/SayHello", more, 8);
	pump(&c);
	assert_true(k.done);
	assert_string_equal(k.grpc_status, "0");
	call_start_with(&c, &k, "/greet.Greeter/SayHello", more, 9);
	pump(&c);
	assert_true(k.done);
	assert_int_equal(k.status, 431);
	client_free(&c);
}

/*
 * An upstream's response over the limits resets its stream (PROTOCOL_ERROR): the call fails as
 * an upstream reset would (gRPC: grpc-status 14), it is not passed on.
 */
static void test_h2_response_over_limits(void **state)
{
	struct client c;
	struct call k;

	client_h2(&c, "greeter", 50051);
	call_start(&c, &k, "/greet.Greeter/BigHead", NULL);
	pump(&c);
	assert_true(k.done);
	assert_string_equal(k.grpc_status, "14");
	client_free(&c);
}

/*
 * A client's HEADERS on a stream id lower than one it used: GOAWAY PROTOCOL_ERROR and the
 * connection closes (RFC 9113 §5.1.1), on the waypoint as on any server of the HTTP/2 layer.
 */
static void test_h2_stream_id_backwards(void **state)
{
	const struct h2f_field req[] = {{":method", "POST"},
					{":scheme", "http"},
					{":authority", "greeter:50051"},
					{":path", "/greet.Greeter/SayHello"},
					{"content-type", "application/grpc"}};
	struct h2f_seen seen = {0};
	struct buf out = {0};
	struct client c = {0};

	c.down = down_new("greeter", 50051);
	assert_int_equal(h2f_preface(&out), 0);
	assert_int_equal(h2f_headers(&out, 3, req, 5, true), 0);
	transport_mem_input(c.down, buf_head(&out), out.len);
	out.len = out.off = 0;
	pump(&c);
	assert_int_equal(h2f_read(&seen, (const uint8_t *)buf_head(&c.in), c.in.len), 0);
	buf_consume(&c.in, c.in.len);
	assert_int_equal(seen.status[3], 200);
	assert_false(seen.goaway);

	assert_int_equal(h2f_headers(&out, 1, req, 5, true), 0);
	transport_mem_input(c.down, buf_head(&out), out.len);
	pump(&c);
	assert_int_equal(h2f_read(&seen, (const uint8_t *)buf_head(&c.in), c.in.len), 0);
	assert_true(seen.goaway);
	assert_int_equal(seen.goaway_error, H2_PROTOCOL_ERROR);
	assert_int_equal(seen.goaway_last, 3);
	assert_int_equal(seen.status[1], 0);
	assert_true(transport_mem_closed(c.down, NULL));
	transport_mem_free(c.down);
	buf_free(&c.in);
	h2f_seen_free(&seen);
	free(out.data);
}

/* The engine's options for the next setup (a test's own header limits). */
static struct http_limits setup_headers;

static int setup(void **state)
{
	struct wp_engine_opts o = {.log_fd = -1, .hcm.headers = setup_headers};
	char err[256];
	struct l7_config *l7 = l7_world_compile(world_yaml, err, sizeof(err));

	if (!l7)
		print_error("%s\n", err);
	assert_non_null(l7);
	memset(&W, 0, sizeof(W));
	W.g = wp_gen_new(l7, 1, err, sizeof(err));
	W.l = loop_create();
	assert_non_null(W.g);
	assert_non_null(W.l);
	W.cn = o.cn = connector_mem_new(W.l, open_up, NULL);
	W.e = wp_engine_new(W.l, W.g, &o);
	assert_non_null(W.e);
	return 0;
}

/* An engine that takes 10 header fields at most. */
static int setup_ten_fields(void **state)
{
	setup_headers = (struct http_limits){.fields = 10};
	setup(state);
	setup_headers = (struct http_limits){0};
	return 0;
}

static int teardown(void **state)
{
	wp_engine_destroy(W.e);
	for (size_t k = 0; k < W.n_ups; k++)
		if (W.ups[k].h2)
			h2_conn_close(W.ups[k].h2, "over");
	loop_run_once(W.l, 0);
	for (size_t k = 0; k < W.n_ups; k++)
		transport_mem_free(W.ups[k].t);
	connector_destroy(W.cn);
	wp_gen_put(W.g);
	loop_destroy(W.l);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_grpc_routed_with_trailers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_grpc_abort_trailers_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_grpc_retry_on_unavailable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_streams_share_connections, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_h2_max_connections, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_h2_to_http1_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pooled_after_paused_response, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_http1_upgraded_to_h2, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_detect_http1_byte_by_byte, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tcp_passthrough, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tcp_idle_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_h2_header_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_h2_response_over_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_h2_stream_id_backwards, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_h2_configured_limits, setup_ten_fields, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
