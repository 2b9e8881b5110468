// SPDX-License-Identifier: Apache-2.0
/*
 * The HTTP/2 layer (userspace/http/h2.h) serving a user that is not HBONE: plain requests and
 * responses with bodies and trailers, client and server on one loop in this thread, over a
 * socketpair with h2c prior knowledge, over TLS on a socketpair, over the in-memory pipe, and TLS
 * through the pipe (H2_TLS_PIPE).
 * Bodies of 1 MB go both ways; a stream reset by the client reaches the server's consumer; a
 * consumer that does not consume stops the sender at the stream window and consuming resumes
 * it; a server holding its max of streams refuses the next; and a client that resets unanswered
 * requests in a burst gets GOAWAY ENHANCE_YOUR_CALM. Loops run until a condition holds, with a
 * bound on rounds (never on time).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "ambit/ca.h"
#include "ambit/log.h"
#include "http/h2.h"
#include "http/http_fields.h"
#include "../../lib/h2_frames.h"
#include "../../lib/harness.h"

#define ID_CLIENT "spiffe://cluster.local/ns/a/sa/client"
#define ID_SERVER "spiffe://cluster.local/ns/b/sa/server"
#define BODY (1u << 20)
#define MAX_XFERS 32

/* One side of one stream: what it sends, what it received. */
struct xfer {
	struct h2_stream *s;
	const uint8_t *src; /* body to send */
	size_t len, off;
	bool trailers;	   /* send "grpc-status: 0" after the body */
	bool big_trailers; /* send trailers of HTTP_MAX_FIELDS + 1 fields after the body */
	bool hold;	   /* do not consume (backpressure) */
	bool keep;	   /* do not release when closed (the server holds it) */
	size_t held;	   /* received, not consumed */
	uint8_t *got;	   /* received body */
	size_t got_len;	   /* bytes received */
	int status;
	char trailer[32];
	bool ended, closed;
	uint32_t error;
};

struct env {
	struct loop *loop;
	struct h2_conn *cli, *srv;
	bool cli_closed, srv_closed;
	char cli_reason[64], srv_reason[64];
	int64_t cli_goaway;
	int requests; /* on_request calls */
	char path[64];
	struct xfer x[MAX_XFERS];
	size_t nx;
};

static struct env env;
static uint8_t *pattern;
static struct tls_ctx *srv_ctx, *cli_ctx;
static char dir[64];

static struct xfer *xfer_new(void)
{
	struct xfer *x;

	assert_true(env.nx < MAX_XFERS);
	x = &env.x[env.nx++];
	memset(x, 0, sizeof(*x));
	x->got = malloc(4 * BODY);
	assert_non_null(x->got);
	return x;
}

/* @n fields "x-f<i>: 1" (malloc'd; the names are static). */
static struct h2_header *many_fields(size_t n)
{
	static char names[2 * HTTP_MAX_FIELDS][8];
	struct h2_header *h = calloc(n, sizeof(*h));

	assert_non_null(h);
	assert_true(n <= 2 * HTTP_MAX_FIELDS);
	for (size_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "x-f%zu", i);
		h[i] = H2_HDR(names[i], "1");
	}
	return h;
}

/* ---- stream ops, both sides ---- */

static void on_headers(void *arg, struct h2_stream *s, const struct h2_header *h, size_t n,
		       bool end)
{
	struct xfer *x = arg;
	const char *st = h2_header_get(h, n, ":status"), *gs = h2_header_get(h, n, "grpc-status");

	if (st)
		x->status = atoi(st);
	if (gs && end)
		snprintf(x->trailer, sizeof(x->trailer), "%s", gs);
}

static void on_data(void *arg, struct h2_stream *s, const uint8_t *data, size_t len)
{
	struct xfer *x = arg;

	assert_true(x->got_len + len <= 4 * BODY);
	memcpy(x->got + x->got_len, data, len);
	x->got_len += len;
	if (x->hold)
		x->held += len;
	else
		h2_stream_consume(s, len);
}

static void on_end(void *arg, struct h2_stream *s)
{
	((struct xfer *)arg)->ended = true;
}

static void on_close(void *arg, struct h2_stream *s, uint32_t error, const char *reason)
{
	struct xfer *x = arg;

	x->closed = true;
	x->error = error;
	if (!x->keep) {
		h2_stream_release(s);
		x->s = NULL;
	}
}

static ssize_t provide(void *arg, struct h2_stream *s, uint8_t *buf, size_t len, bool *eof)
{
	struct xfer *x = arg;
	size_t n = x->len - x->off < len ? x->len - x->off : len;

	memcpy(buf, x->src + x->off, n);
	x->off += n;
	if (x->off == x->len) {
		if (x->trailers) {
			struct h2_header t = H2_HDR("grpc-status", "0");

			assert_int_equal(h2_submit_trailers(s, &t, 1), 0);
		}
		if (x->big_trailers) {
			struct h2_header *t = many_fields(HTTP_MAX_FIELDS + 1);

			assert_int_equal(h2_submit_trailers(s, t, HTTP_MAX_FIELDS + 1), 0);
			free(t);
		}
		*eof = true;
	}
	return (ssize_t)n;
}

static const struct h2_stream_ops xops = {
    .on_headers = on_headers,
    .on_data = on_data,
    .on_end = on_end,
    .on_close = on_close,
    .provide = provide,
};

/* ---- the server application ---- */

/*
 * /get: 1 MB back. /post: 1 MB back while it receives one. /trailers: a small body and
 * grpc-status. /hold: 200 with no body, the request's body not consumed. /keep: 200 with no
 * body, the stream held after it closed. /slow: never answered. /ok: 200, no body. /reset:
 * reset at once. /bighead: 200 with more fields than a peer takes. /bigtrailers: a small body,
 * then such trailers.
 */
static void on_request(void *arg, struct h2_stream *s, const struct h2_header *h, size_t n,
		       bool end_stream)
{
	const char *path = h2_header_get(h, n, ":path");
	struct xfer *x = xfer_new();

	env.requests++;
	snprintf(env.path, sizeof(env.path), "%s", path ? path : "");
	x->s = s;
	h2_stream_bind(s, &xops, x);
	if (!strcmp(env.path, "/get") || !strcmp(env.path, "/post")) {
		struct h2_header ct = H2_HDR("content-type", "application/octet-stream");

		x->src = pattern;
		x->len = BODY;
		assert_int_equal(h2_submit_response(s, 200, &ct, 1, true), 0);
	} else if (!strcmp(env.path, "/trailers")) {
		x->src = (const uint8_t *)"hello";
		x->len = 5;
		x->trailers = true;
		assert_int_equal(h2_submit_response(s, 200, NULL, 0, true), 0);
	} else if (!strcmp(env.path, "/hold")) {
		x->hold = true;
		assert_int_equal(h2_submit_response(s, 200, NULL, 0, false), 0);
	} else if (!strcmp(env.path, "/keep")) {
		x->keep = true;
		assert_int_equal(h2_submit_response(s, 200, NULL, 0, false), 0);
	} else if (!strcmp(env.path, "/ok")) {
		assert_int_equal(h2_submit_response(s, 200, NULL, 0, false), 0);
	} else if (!strcmp(env.path, "/reset")) {
		h2_stream_reset(s, H2_CANCEL);
	} else if (!strcmp(env.path, "/bighead")) {
		struct h2_header *big = many_fields(HTTP_MAX_FIELDS + 1);

		assert_int_equal(h2_submit_response(s, 200, big, HTTP_MAX_FIELDS + 1, false), 0);
		free(big);
	} else if (!strcmp(env.path, "/bigtrailers")) {
		x->src = (const uint8_t *)"hello";
		x->len = 5;
		x->big_trailers = true;
		assert_int_equal(h2_submit_response(s, 200, NULL, 0, true), 0);
	}
}

static void srv_closed(void *arg, struct h2_conn *c, const char *reason)
{
	snprintf(env.srv_reason, sizeof(env.srv_reason), "%s", reason ? reason : "");
	env.srv_closed = true;
	env.srv = NULL;
}

static void cli_closed(void *arg, struct h2_conn *c, const char *reason)
{
	snprintf(env.cli_reason, sizeof(env.cli_reason), "%s", reason ? reason : "");
	env.cli_closed = true;
	env.cli_goaway = h2_conn_peer_goaway(c);
	env.cli = NULL;
}

static const struct h2_conn_ops srv_ops = {.on_request = on_request, .on_close = srv_closed};
static const struct h2_conn_ops cli_ops = {.on_close = cli_closed};

/* ---- set-up ---- */

static void env_start(enum h2_transport_kind kind, const struct h2_limits *lim)
{
	struct h2_transport ts = {.kind = kind}, tc = {.kind = kind};
	struct h2_config cs = {.server = true, .ops = &srv_ops, .lim = lim};
	struct h2_config cc = {.ops = &cli_ops};
	int sv[2];

	memset(&env, 0, sizeof(env));
	env.cli_goaway = -1;
	env.loop = loop_create();
	assert_non_null(env.loop);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	ts.fd = sv[0];
	tc.fd = sv[1];
	if (kind == H2_TLS) {
		ts.ctx = srv_ctx;
		tc.ctx = cli_ctx;
		tc.expect_san = ID_SERVER;
		cc.handshake_timeout_ms = 10000;
	}
	env.srv = h2_conn_create(env.loop, &ts, &cs);
	env.cli = h2_conn_create(env.loop, &tc, &cc);
	assert_non_null(env.srv);
	assert_non_null(env.cli);
}

static void env_stop(void)
{
	h2_conn_close(env.cli, "test over");
	h2_conn_close(env.srv, "test over");
	for (size_t i = 0; i < env.nx; i++) {
		if (env.x[i].s && env.x[i].keep)
			h2_stream_release(env.x[i].s);
		free(env.x[i].got);
	}
	loop_run_once(env.loop, 0);
	loop_destroy(env.loop);
}

/* Steps the loop until @cond holds; false if it still does not after many rounds. */
static bool run_until(bool (*cond)(void *), void *arg)
{
	for (int i = 0; i < 20000; i++) {
		if (cond(arg))
			return true;
		assert_true(loop_run_once(env.loop, 50) >= 0);
	}
	return cond(arg);
}

/* Steps the loop until nothing happens any more (a few rounds in a row without an event). */
static void run_quiet(void)
{
	for (int i = 0, idle = 0; i < 20000 && idle < 3; i++)
		idle = loop_run_once(env.loop, 50) > 0 ? 0 : idle + 1;
}

static bool xfer_done(void *arg)
{
	struct xfer *x = arg;

	return x->closed;
}

static bool got_requests(void *arg)
{
	return env.requests >= *(int *)arg;
}

static bool cli_gone(void *arg)
{
	return env.cli_closed && env.srv_closed;
}

/* A request with @n more fields @more (copied). */
static struct xfer *request_with(const char *method, const char *path, size_t body,
				 const struct h2_header *more, size_t n)
{
	struct xfer *x = xfer_new();
	struct h2_header *h = calloc(4 + n, sizeof(*h));

	assert_non_null(h);
	h[0] = H2_HDR(":method", method);
	h[1] = H2_HDR(":scheme", "http");
	h[2] = H2_HDR(":authority", "test");
	h[3] = H2_HDR(":path", path);
	if (n)
		memcpy(h + 4, more, n * sizeof(*h));
	x->src = pattern;
	x->len = body;
	x->s = h2_submit_request(env.cli, h, 4 + n, body > 0, &xops, x);
	assert_non_null(x->s);
	free(h);
	return x;
}

static struct xfer *request(const char *method, const char *path, size_t body)
{
	return request_with(method, path, body, NULL, 0);
}

/* The server-side transfer of the @i-th request (requests and answers alternate in env.x). */
static struct xfer *server_xfer(size_t i)
{
	for (size_t k = 0; k < env.nx; k++)
		if (env.x[k].s && h2_stream_conn(env.x[k].s) == env.srv && i-- == 0)
			return &env.x[k];
	return NULL;
}

/* ---- cases ---- */

static void get_and_post(enum h2_transport_kind kind)
{
	struct xfer *get, *post, *srv_post = NULL;

	env_start(kind, NULL);
	get = request("GET", "/get", 0);
	assert_true(run_until(xfer_done, get));
	assert_int_equal(get->status, 200);
	assert_true(get->ended);
	assert_int_equal(get->error, 0);
	assert_int_equal(get->got_len, BODY);
	assert_memory_equal(get->got, pattern, BODY);
	assert_string_equal(env.path, "/get");

	post = request("POST", "/post", BODY);
	/* The server's transfer of this request: the last one it made. */
	assert_true(run_until(xfer_done, post));
	srv_post = &env.x[env.nx - 1];
	assert_true(run_until(xfer_done, srv_post));
	assert_int_equal(post->status, 200);
	assert_int_equal(post->got_len, BODY);
	assert_memory_equal(post->got, pattern, BODY);
	assert_true(srv_post->ended);
	assert_int_equal(srv_post->got_len, BODY);
	assert_memory_equal(srv_post->got, pattern, BODY);
	if (kind == H2_TLS)
		assert_string_equal(h2_conn_peer_identity(env.srv), ID_CLIENT);
	assert_false(env.cli_closed);
	env_stop();
}

static void test_plain_get_post(void **state)
{
	get_and_post(H2_PLAIN);
}

static void test_tls_get_post(void **state)
{
	get_and_post(H2_TLS);
}

static void test_trailers(void **state)
{
	struct xfer *x;

	env_start(H2_PLAIN, NULL);
	x = request("POST", "/trailers", 0);
	assert_true(run_until(xfer_done, x));
	assert_int_equal(x->status, 200);
	assert_int_equal(x->got_len, 5);
	assert_memory_equal(x->got, "hello", 5);
	assert_string_equal(x->trailer, "0");
	assert_true(x->ended);
	env_stop();
}

static void test_client_reset(void **state)
{
	struct xfer *x, *sx;
	int one = 1;

	env_start(H2_PLAIN, NULL);
	x = request("GET", "/slow", 0);
	assert_true(run_until(got_requests, &one));
	sx = server_xfer(0);
	assert_non_null(sx);
	h2_stream_reset(x->s, H2_CANCEL);
	assert_true(run_until(xfer_done, sx));
	assert_int_equal(sx->error, H2_CANCEL);
	assert_true(run_until(xfer_done, x));
	assert_int_equal(x->error, H2_CANCEL);
	assert_false(env.srv_closed);
	env_stop();
}

static void test_backpressure(void **state)
{
	struct xfer *x, *sx;
	int one = 1;

	env_start(H2_PLAIN, NULL);
	x = request("POST", "/hold", 4 * BODY);
	assert_true(run_until(got_requests, &one));
	sx = server_xfer(0);
	assert_non_null(sx);
	run_quiet();
	/* Nothing consumed: the sender stopped at the stream window, exactly. */
	assert_int_equal(sx->got_len, H2_STREAM_WINDOW);
	assert_int_equal(x->off, H2_STREAM_WINDOW);
	run_quiet();
	assert_int_equal(sx->got_len, H2_STREAM_WINDOW);
	/* Consuming what it holds lets as much again come, and no more. */
	h2_stream_consume(sx->s, sx->held);
	sx->held = 0;
	run_quiet();
	assert_int_equal(sx->got_len, 2 * H2_STREAM_WINDOW);
	/* From now on it consumes as it receives: the whole body arrives. */
	sx->hold = false;
	h2_stream_consume(sx->s, sx->held);
	assert_true(run_until(xfer_done, sx));
	assert_int_equal(sx->got_len, 4 * BODY);
	assert_memory_equal(sx->got, pattern, 4 * BODY);
	assert_true(sx->ended);
	env_stop();
}

static void test_max_streams(void **state)
{
	struct h2_limits lim;
	struct xfer *a, *b, *c, *d, *held;

	h2_limits_default(&lim);
	lim.max_streams = 2;
	env_start(H2_PLAIN, &lim);
	/* Two streams done in HTTP/2 but still held by the server's consumer... */
	a = request("GET", "/keep", 0);
	b = request("GET", "/keep", 0);
	assert_true(run_until(xfer_done, a));
	assert_true(run_until(xfer_done, b));
	assert_int_equal(a->status, 200);
	assert_int_equal(b->status, 200);
	/* ...count against the cap: the next is refused, unprocessed. */
	c = request("GET", "/get", 0);
	assert_true(run_until(xfer_done, c));
	assert_int_equal(c->error, H2_REFUSED_STREAM);
	assert_int_equal(c->status, 0);
	assert_int_equal(env.requests, 2);
	/* Once the consumer lets one go, a request is served again. */
	held = server_xfer(0);
	h2_stream_release(held->s);
	held->s = NULL;
	d = request("GET", "/get", 0);
	assert_true(run_until(xfer_done, d));
	assert_int_equal(d->status, 200);
	assert_int_equal(d->got_len, BODY);
	env_stop();
}

static void test_rapid_reset(void **state)
{
	enum { N = 10 };
	struct h2_limits lim;
	struct xfer *x[N];
	int n = N;

	h2_limits_default(&lim);
	lim.max_early_resets = 5;
	env_start(H2_PLAIN, &lim);
	for (int i = 0; i < N; i++)
		x[i] = request("GET", "/slow", 0);
	assert_true(run_until(got_requests, &n));
	/* All reset before they were answered: past 5, the server has had enough. */
	for (int i = 0; i < N; i++)
		h2_stream_reset(x[i]->s, H2_CANCEL);
	assert_true(run_until(cli_gone, NULL));
	assert_int_equal(env.cli_goaway, H2_ENHANCE_YOUR_CALM);
	env_stop();
}

/* ---- header limits: HTTP/1.1's (http_fields.h) ---- */

/* A request of exactly @bytes of names and values, pseudo-headers included, in 8 fields. */
static struct xfer *request_of_bytes(size_t bytes, char *big)
{
	static const char *const names[] = {"x-b0", "x-b1", "x-b2", "x-b3",
					    "x-b4", "x-b5", "x-b6", "x-b7"};
	/* :method GET, :scheme http, :authority test, :path /ok */
	size_t pseudo = 7 + 3 + 7 + 4 + 10 + 4 + 5 + 3, each, last;
	struct h2_header h[8];

	each = (bytes - pseudo) / 8 - 4;
	last = bytes - pseudo - 7 * (each + 4) - 4;
	memset(big, 'a', last);
	for (size_t i = 0; i < 8; i++)
		h[i] = (struct h2_header){names[i], big, 4, i < 7 ? each : last};
	big[last] = '\0';
	return request_with("GET", "/ok", 0, h, 8);
}

/*
 * A request over the limits gets 431 from the layer, without reaching on_request; the
 * connection and its other streams go on. A value of 9 KB is no reason (HTTP/1.1 takes it).
 */
static void test_request_header_limits(void **state)
{
	char *big = malloc(HTTP_MAX_HEADER_BYTES + 1);
	struct h2_header *many = many_fields(HTTP_MAX_FIELDS + 1), nine;
	struct xfer *x;

	assert_non_null(big);
	memset(big, 'v', 9000);
	big[9000] = '\0';
	nine = H2_HDR("x-big", big);
	env_start(H2_PLAIN, NULL);
	x = request_with("GET", "/ok", 0, &nine, 1);
	assert_true(run_until(xfer_done, x));
	assert_int_equal(x->error, 0);
	assert_int_equal(x->status, 200);
	assert_int_equal(env.requests, 1);

	/* 60 KiB exactly passes; a byte more is refused. */
	x = request_of_bytes(HTTP_MAX_HEADER_BYTES, big);
	assert_true(run_until(xfer_done, x));
	assert_int_equal(x->status, 200);
	assert_int_equal(env.requests, 2);
	x = request_of_bytes(HTTP_MAX_HEADER_BYTES + 1, big);
	assert_true(run_until(xfer_done, x));
	assert_int_equal(x->error, 0);
	assert_int_equal(x->status, 431);
	assert_true(x->ended);
	assert_int_equal(env.requests, 2);

	/* 100 fields pass, 101 do not (pseudo-headers are not counted). */
	x = request_with("GET", "/ok", 0, many, HTTP_MAX_FIELDS);
	assert_true(run_until(xfer_done, x));
	assert_int_equal(x->status, 200);
	assert_int_equal(env.requests, 3);
	x = request_with("GET", "/ok", 0, many, HTTP_MAX_FIELDS + 1);
	assert_true(run_until(xfer_done, x));
	assert_int_equal(x->status, 431);
	assert_int_equal(env.requests, 3);

	/* With a body on its way: 431, then the upload is stopped (RST_STREAM NO_ERROR). */
	x = request_with("POST", "/post", 4 * BODY, many, HTTP_MAX_FIELDS + 1);
	assert_true(run_until(xfer_done, x));
	assert_int_equal(x->status, 431);
	assert_int_equal(x->error, H2_NO_ERROR);
	assert_true(x->off < x->len);
	assert_int_equal(env.requests, 3);

	/* The connection took all that in its stride. */
	x = request("GET", "/get", 0);
	assert_true(run_until(xfer_done, x));
	assert_int_equal(x->status, 200);
	assert_int_equal(x->got_len, BODY);
	assert_false(env.cli_closed);
	assert_int_equal(h2_conn_streams(env.srv), 0);
	env_stop();
	free(many);
	free(big);
}

/* h2_limits.max_header_value caps one value on top of the block's limits: 431 as well. */
static void test_header_value_cap(void **state)
{
	char v[102];
	struct h2_limits lim;
	struct h2_header h;
	struct xfer *x;

	h2_limits_default(&lim);
	lim.max_header_value = 100;
	env_start(H2_PLAIN, &lim);
	memset(v, 'v', 100);
	v[100] = '\0';
	h = H2_HDR("x-v", v);
	x = request_with("GET", "/ok", 0, &h, 1);
	assert_true(run_until(xfer_done, x));
	assert_int_equal(x->status, 200);
	v[100] = 'v';
	v[101] = '\0';
	h = H2_HDR("x-v", v);
	x = request_with("GET", "/ok", 0, &h, 1);
	assert_true(run_until(xfer_done, x));
	assert_int_equal(x->status, 431);
	assert_int_equal(env.requests, 1);
	env_stop();
}

/*
 * A response or trailers over the limits reset the stream with PROTOCOL_ERROR: the owner never
 * sees those headers. Request trailers too, on the server. The connection goes on.
 */
static void test_response_header_limits(void **state)
{
	struct xfer *x;
	int requests;

	env_start(H2_PLAIN, NULL);
	x = request("GET", "/bighead", 0);
	assert_true(run_until(xfer_done, x));
	assert_int_equal(x->error, H2_PROTOCOL_ERROR);
	assert_int_equal(x->status, 0);
	assert_false(x->ended);

	x = request("GET", "/bigtrailers", 0);
	assert_true(run_until(xfer_done, x));
	assert_int_equal(x->error, H2_PROTOCOL_ERROR);
	assert_int_equal(x->status, 200);
	assert_int_equal(x->got_len, 5);
	assert_string_equal(x->trailer, "");
	assert_false(x->ended);

	/*
	 * The server's side: request trailers. They come in the read of the request (one write
	 * of the client's), so the request, reset before it was decided, never reaches its owner.
	 */
	requests = env.requests;
	x = request("POST", "/slow", 5);
	x->big_trailers = true;
	assert_true(run_until(xfer_done, x));
	assert_int_equal(x->error, H2_PROTOCOL_ERROR);
	assert_int_equal(env.requests, requests);

	x = request("GET", "/ok", 0);
	assert_true(run_until(xfer_done, x));
	assert_int_equal(x->status, 200);
	assert_false(env.cli_closed);
	env_stop();
}

/* ---- the in-memory transport: two pipes back to back ---- */

static ssize_t pipe_to_srv(void *arg, const uint8_t *data, size_t len)
{
	return !env.srv || h2_conn_input(env.srv, data, len) ? -EPIPE : (ssize_t)len;
}

static ssize_t pipe_to_cli(void *arg, const uint8_t *data, size_t len)
{
	return !env.cli || h2_conn_input(env.cli, data, len) ? -EPIPE : (ssize_t)len;
}

static void test_pipe(void **state)
{
	static const struct h2_pipe_ops to_srv = {.write = pipe_to_srv},
					to_cli = {.write = pipe_to_cli};
	struct h2_transport ts = {.kind = H2_PIPE, .pipe = &to_cli, .peer_identity = ID_CLIENT};
	struct h2_transport tc = {.kind = H2_PIPE, .pipe = &to_srv};
	struct h2_config cs = {.server = true, .ops = &srv_ops}, cc = {.ops = &cli_ops};
	struct xfer *x;

	memset(&env, 0, sizeof(env));
	env.loop = loop_create();
	assert_non_null(env.loop);
	env.srv = h2_conn_create(env.loop, &ts, &cs);
	env.cli = h2_conn_create(env.loop, &tc, &cc);
	assert_non_null(env.srv);
	assert_non_null(env.cli);
	x = request("POST", "/post", BODY);
	assert_true(run_until(xfer_done, x));
	assert_int_equal(x->status, 200);
	assert_int_equal(x->got_len, BODY);
	assert_memory_equal(x->got, pattern, BODY);
	assert_string_equal(h2_conn_peer_identity(env.srv), ID_CLIENT);
	env_stop();
}

/*
 * ---- TLS records through the pipe (H2_TLS_PIPE): the inner tunnel of double HBONE ----
 *
 * The server is TLS on a socket; the client's records go into the socket's other end, which
 * another stream would carry: closed at first (the gateway has not answered: the pipe takes
 * nothing, the handshake waits), then taking what the socket takes, writable again when it
 * drains. What the socket brings back is handed to the client.
 */
static struct {
	int fd;
	bool open, short_write;
	struct loop_handler h;
} tp;

static ssize_t tls_pipe_write(void *arg, const uint8_t *data, size_t len)
{
	ssize_t n;

	(void)arg;
	if (!tp.open)
		return 0;
	n = send(tp.fd, data, len, MSG_NOSIGNAL);
	if (n < 0 && errno != EAGAIN)
		return -errno;
	if (n < (ssize_t)len && !tp.short_write) {
		tp.short_write = true;
		loop_mod(env.loop, tp.fd, EPOLLIN | EPOLLOUT, &tp.h);
	}
	return n < 0 ? 0 : n;
}

static void tls_pipe_io(struct loop_handler *h, uint32_t events)
{
	uint8_t in[16384];
	ssize_t n;

	(void)h;
	if ((events & EPOLLOUT) && tp.short_write) {
		tp.short_write = false;
		loop_mod(env.loop, tp.fd, EPOLLIN, &tp.h);
		if (env.cli)
			h2_conn_pipe_writable(env.cli);
	}
	while ((n = recv(tp.fd, in, sizeof(in), 0)) > 0)
		if (env.cli)
			h2_conn_input(env.cli, in, (size_t)n);
}

static void test_tls_pipe(void **state)
{
	static const struct h2_pipe_ops to_srv = {.write = tls_pipe_write};
	struct h2_transport ts = {.kind = H2_TLS, .ctx = srv_ctx};
	struct h2_transport tc = {
	    .kind = H2_TLS_PIPE, .ctx = cli_ctx, .expect_san = ID_SERVER, .pipe = &to_srv};
	struct h2_config cs = {.server = true, .ops = &srv_ops},
			 cc = {.ops = &cli_ops, .handshake_timeout_ms = 10000};
	int sv[2];
	struct xfer *x;

	(void)state;
	memset(&env, 0, sizeof(env));
	memset(&tp, 0, sizeof(tp));
	env.cli_goaway = -1;
	env.loop = loop_create();
	assert_non_null(env.loop);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	ts.fd = sv[0];
	tp.fd = sv[1];
	tp.h.fn = tls_pipe_io;
	assert_int_equal(loop_add(env.loop, tp.fd, EPOLLIN, &tp.h), 0);
	env.srv = h2_conn_create(env.loop, &ts, &cs);
	env.cli = h2_conn_create(env.loop, &tc, &cc);
	assert_non_null(env.srv);
	assert_non_null(env.cli);
	/* The pipe closed: the ClientHello waits, nothing is lost, nothing fails. */
	x = request("POST", "/post", BODY);
	run_quiet();
	assert_false(h2_conn_ready(env.cli));
	assert_false(xfer_done(x));
	tp.open = true;
	h2_conn_pipe_writable(env.cli);
	/* 1 MB each way through a socket that takes what it can: short writes, then writable. */
	assert_true(run_until(xfer_done, x));
	assert_int_equal(x->status, 200);
	assert_int_equal(x->got_len, BODY);
	assert_memory_equal(x->got, pattern, BODY);
	assert_true(h2_conn_ready(env.cli));
	assert_string_equal(h2_conn_peer_identity(env.cli), ID_SERVER);
	assert_string_equal(h2_conn_peer_identity(env.srv), ID_CLIENT);
	/* The pipe's end: the client's connection ends with it. */
	loop_del(env.loop, tp.fd);
	close(tp.fd);
	env_stop();
}

/* ---- a client written by hand: what an nghttp2 client would never send ---- */

static struct h2f_seen seen; /* what the server sent the hand-made client */

static ssize_t pipe_to_raw(void *arg, const uint8_t *data, size_t len)
{
	assert_int_equal(h2f_read(&seen, data, len), 0);
	return (ssize_t)len;
}

/* A server with @lim over the in-memory pipe, and the client's preface sent. */
static void raw_start(const struct h2_limits *lim)
{
	static const struct h2_pipe_ops to_raw = {.write = pipe_to_raw};
	struct h2_transport ts = {.kind = H2_PIPE, .pipe = &to_raw};
	struct h2_config cs = {.server = true, .ops = &srv_ops, .lim = lim};
	struct buf out = {0};

	memset(&env, 0, sizeof(env));
	memset(&seen, 0, sizeof(seen));
	env.loop = loop_create();
	assert_non_null(env.loop);
	env.srv = h2_conn_create(env.loop, &ts, &cs);
	assert_non_null(env.srv);
	assert_int_equal(h2f_preface(&out), 0);
	assert_int_equal(h2_conn_input(env.srv, (const uint8_t *)buf_head(&out), out.len), 0);
	free(out.data);
	run_quiet();
}

/* Hands the server a HEADERS of stream @sid (with CONTINUATIONs past 16 KiB), then waits. */
static void raw_headers(uint32_t sid, const struct h2f_field *f, size_t n, bool end_stream)
{
	struct buf out = {0};

	assert_int_equal(h2f_headers(&out, sid, f, n, end_stream), 0);
	if (env.srv)
		h2_conn_input(env.srv, (const uint8_t *)buf_head(&out), out.len);
	free(out.data);
	run_quiet();
}

static void raw_request(uint32_t sid, const char *method, const char *path, bool end_stream)
{
	const struct h2f_field f[] = {
	    {":method", method}, {":scheme", "http"}, {":authority", "test"}, {":path", path}};

	raw_headers(sid, f, 4, end_stream);
}

static void raw_stop(void)
{
	env_stop();
	h2f_seen_free(&seen);
}

/* The header list size a server announces is the limit it applies (RFC 9113 §6.5.2). */
static void test_settings_header_list(void **state)
{
	raw_start(NULL);
	assert_int_equal(seen.settings, 1);
	assert_int_equal(seen.max_header_list, HTTP_MAX_HEADER_BYTES);
	raw_stop();
}

/*
 * RFC 9113 §5.1.1: a client's new stream id must be greater than all it used; one lower is a
 * connection error, PROTOCOL_ERROR (nghttp2 on its own ignores that HEADERS as a stream that may
 * have closed).
 */
static void test_stream_id_backwards(void **state)
{
	raw_start(NULL);
	raw_request(3, "GET", "/ok", true);
	assert_int_equal(seen.status[3], 200);
	assert_int_equal(env.requests, 1);
	raw_request(1, "GET", "/ok", true);
	assert_true(seen.goaway);
	assert_int_equal(seen.goaway_error, H2_PROTOCOL_ERROR);
	assert_int_equal(seen.goaway_last, 3);
	assert_int_equal(seen.status[1], 0);
	assert_int_equal(env.requests, 1);
	assert_true(env.srv_closed);
	raw_stop();

	/* A request in the same read as the bad HEADERS is not started. */
	raw_start(NULL);
	raw_request(3, "GET", "/ok", true);
	assert_int_equal(seen.status[3], 200);
	{
		const struct h2f_field f[] = {{":method", "GET"},
					      {":scheme", "http"},
					      {":authority", "test"},
					      {":path", "/ok"}};
		struct buf out = {0};

		assert_int_equal(h2f_headers(&out, 5, f, 4, true), 0);
		assert_int_equal(h2f_headers(&out, 1, f, 4, true), 0);
		h2_conn_input(env.srv, (const uint8_t *)buf_head(&out), out.len);
		free(out.data);
		run_quiet();
	}
	assert_int_equal(seen.goaway_error, H2_PROTOCOL_ERROR);
	assert_int_equal(seen.status[5], 0);
	assert_int_equal(env.requests, 1);
	assert_true(env.srv_closed);
	raw_stop();
}

/*
 * What is not a stream id going backwards: trailers of an open request, and trailers that
 * crossed the reset of their stream (RFC 9113 §5.1: ignored), also from a stream refused.
 */
static void test_trailers_not_backwards(void **state)
{
	const struct h2f_field trailers[] = {{"grpc-status", "0"}};
	struct h2_limits lim;
	struct xfer *sx;
	int one = 1;

	raw_start(NULL);
	raw_request(1, "POST", "/slow", false);
	assert_true(run_until(got_requests, &one));
	sx = server_xfer(0);
	assert_non_null(sx);
	raw_headers(1, trailers, 1, true);
	assert_string_equal(sx->trailer, "0");
	assert_true(sx->ended);
	/* Reset by the server; the client had sent its trailers before it knew. */
	raw_request(3, "POST", "/reset", false);
	assert_true(seen.reset[3]);
	raw_headers(3, trailers, 1, true);
	assert_false(seen.goaway);
	raw_request(5, "GET", "/ok", true);
	assert_int_equal(seen.status[5], 200);
	assert_false(seen.goaway);
	assert_false(env.srv_closed);
	raw_stop();

	/* Refused (one stream at most, and /slow holds it): its trailers are no error either. */
	h2_limits_default(&lim);
	lim.max_streams = 1;
	raw_start(&lim);
	raw_request(1, "POST", "/slow", false);
	raw_request(3, "POST", "/ok", false);
	assert_true(seen.reset[3]);
	assert_int_equal(seen.rst[3], H2_REFUSED_STREAM);
	raw_headers(3, trailers, 1, true);
	assert_false(seen.goaway);
	assert_false(env.srv_closed);
	raw_stop();
}

/* Trailers over the limits on a request its owner took: reset, the owner hears why. */
static void test_request_trailer_limits(void **state)
{
	struct h2f_field f[HTTP_MAX_FIELDS + 1];
	char names[HTTP_MAX_FIELDS + 1][8];
	struct xfer *sx;
	int one = 1;

	for (size_t i = 0; i <= HTTP_MAX_FIELDS; i++) {
		snprintf(names[i], sizeof(names[i]), "x-t%zu", i);
		f[i] = (struct h2f_field){names[i], "1"};
	}
	raw_start(NULL);
	raw_request(1, "POST", "/slow", false);
	assert_true(run_until(got_requests, &one));
	sx = server_xfer(0);
	assert_non_null(sx);
	raw_headers(1, f, HTTP_MAX_FIELDS + 1, true);
	assert_true(sx->closed);
	assert_int_equal(sx->error, H2_PROTOCOL_ERROR);
	assert_false(sx->ended);
	assert_true(seen.reset[1]);
	assert_int_equal(seen.rst[1], H2_PROTOCOL_ERROR);
	/* A block of fewer fields ends the next one as trailers do. */
	raw_request(3, "POST", "/slow", false);
	raw_headers(3, f, HTTP_MAX_FIELDS, true);
	sx = server_xfer(0);
	assert_non_null(sx);
	assert_true(sx->ended);
	assert_false(seen.goaway);
	raw_stop();
}

/* ---- keep-alive PINGs ---- */

/* Steps the loop with a sweep of the server each round (its keep-alive) until @cond holds. */
static bool sweep_until(bool (*cond)(void *), void *arg)
{
	for (int i = 0; i < 400; i++) {
		if (cond(arg))
			return true;
		if (env.srv)
			h2_conn_sweep(env.srv);
		assert_true(loop_run_once(env.loop, 50) >= 0);
	}
	return cond(arg);
}

static bool srv_gone(void *arg)
{
	return env.srv_closed;
}

static bool pinged_twice(void *arg)
{
	return h2_pings_sent() >= *(uint64_t *)arg + 2;
}

/*
 * A peer that stops answering (the hand-made client reads what the server sends and never
 * writes again, as a host gone without a FIN): the server PINGs it after ping_interval_s of
 * silence and closes the connection when no byte comes back within ping_timeout_s.
 */
static void test_keepalive_peer_gone(void **state)
{
	struct h2_limits lim;
	uint64_t timeouts = h2_ping_timeouts(), pings = h2_pings_sent();

	h2_limits_default(&lim);
	lim.ping_interval_s = 1;
	lim.ping_timeout_s = 1;
	raw_start(&lim);
	assert_true(sweep_until(srv_gone, NULL));
	assert_string_equal(env.srv_reason, "keep-alive PING timed out");
	assert_int_equal(h2_pings_sent(), pings + 1);
	assert_int_equal(h2_ping_timeouts(), timeouts + 1);
	raw_stop();
}

/* A peer that answers (nghttp2 ACKs a PING by itself) keeps its idle connection. */
static void test_keepalive_answered(void **state)
{
	static const struct h2_pipe_ops to_srv = {.write = pipe_to_srv},
					to_cli = {.write = pipe_to_cli};
	struct h2_transport ts = {.kind = H2_PIPE, .pipe = &to_cli, .peer_identity = ID_CLIENT};
	struct h2_transport tc = {.kind = H2_PIPE, .pipe = &to_srv};
	struct h2_limits lim;
	struct h2_config cs = {.server = true, .ops = &srv_ops, .lim = &lim},
			 cc = {.ops = &cli_ops};
	uint64_t timeouts = h2_ping_timeouts(), pings = h2_pings_sent();

	h2_limits_default(&lim);
	lim.ping_interval_s = 1;
	lim.ping_timeout_s = 1;
	lim.idle_s = lim.first_request_s = 0;
	memset(&env, 0, sizeof(env));
	env.loop = loop_create();
	assert_non_null(env.loop);
	env.srv = h2_conn_create(env.loop, &ts, &cs);
	env.cli = h2_conn_create(env.loop, &tc, &cc);
	assert_non_null(env.srv);
	assert_non_null(env.cli);
	assert_true(sweep_until(pinged_twice, &pings));
	assert_false(env.srv_closed);
	assert_false(env.cli_closed);
	assert_int_equal(h2_ping_timeouts(), timeouts);
	env_stop();
}

static bool cli_only_closed(void *arg)
{
	return env.cli_closed;
}

/* A TLS client whose peer never answers its ClientHello gives up at its deadline. */
static void test_handshake_deadline(void **state)
{
	struct h2_transport tc = {.kind = H2_TLS, .ctx = cli_ctx, .expect_san = ID_SERVER};
	struct h2_config cc = {.ops = &cli_ops, .handshake_timeout_ms = 100};
	int sv[2];

	memset(&env, 0, sizeof(env));
	env.loop = loop_create();
	assert_non_null(env.loop);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	tc.fd = sv[1];
	env.cli = h2_conn_create(env.loop, &tc, &cc);
	assert_non_null(env.cli);
	assert_true(run_until(cli_only_closed, NULL));
	assert_string_equal(env.cli_reason, "TLS handshake timed out");
	close(sv[0]);
	loop_run_once(env.loop, 0);
	loop_destroy(env.loop);
}

static int setup(void **state)
{
	log_init("test_h2", LOG_LEVEL_ERROR);
	pattern = malloc(4 * BODY);
	assert_non_null(pattern);
	for (size_t i = 0; i < 4 * BODY; i++)
		pattern[i] = (uint8_t)(i * 7 + (i >> 12));
	harness_tls_pair("h2", dir, sizeof(dir), ID_SERVER, &srv_ctx, ID_CLIENT, &cli_ctx);
	return 0;
}

static int teardown(void **state)
{
	free(pattern);
	return harness_tls_pair_free(dir, srv_ctx, cli_ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_get_post),
	    cmocka_unit_test(test_tls_get_post),
	    cmocka_unit_test(test_trailers),
	    cmocka_unit_test(test_client_reset),
	    cmocka_unit_test(test_backpressure),
	    cmocka_unit_test(test_max_streams),
	    cmocka_unit_test(test_rapid_reset),
	    cmocka_unit_test(test_pipe),
	    cmocka_unit_test(test_tls_pipe),
	    cmocka_unit_test(test_handshake_deadline),
	    cmocka_unit_test(test_settings_header_list),
	    cmocka_unit_test(test_stream_id_backwards),
	    cmocka_unit_test(test_trailers_not_backwards),
	    cmocka_unit_test(test_request_header_limits),
	    cmocka_unit_test(test_header_value_cap),
	    cmocka_unit_test(test_response_header_limits),
	    cmocka_unit_test(test_request_trailer_limits),
	    cmocka_unit_test(test_keepalive_peer_gone),
	    cmocka_unit_test(test_keepalive_answered),
	};

	signal(SIGPIPE, SIG_IGN);
	alarm(300);
	return cmocka_run_group_tests(tests, setup, teardown);
}
