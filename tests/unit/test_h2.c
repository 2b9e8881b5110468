// SPDX-License-Identifier: Apache-2.0
/*
 * The HTTP/2 layer (userspace/net/h2.h) serving a user that is not HBONE: plain requests and
 * responses with bodies and trailers, client and server on one loop in this thread, over a
 * socketpair with h2c prior knowledge, over TLS on a socketpair, and over the in-memory pipe.
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
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "ambit/ca.h"
#include "ambit/log.h"
#include "h2.h"
#include "../lib/harness.h"

#define ID_CLIENT "spiffe://cluster.local/ns/a/sa/client"
#define ID_SERVER "spiffe://cluster.local/ns/b/sa/server"
#define BODY (1u << 20)
#define MAX_XFERS 32

/* One side of one stream: what it sends, what it received. */
struct xfer {
	struct h2_stream *s;
	const uint8_t *src; /* body to send */
	size_t len, off;
	bool trailers;	/* send "grpc-status: 0" after the body */
	bool hold;	/* do not consume (backpressure) */
	bool keep;	/* do not release when closed (the server holds it) */
	size_t held;	/* received, not consumed */
	uint8_t *got;	/* received body */
	size_t got_len; /* bytes received */
	int status;
	char trailer[32];
	bool ended, closed;
	uint32_t error;
};

struct env {
	struct loop *loop;
	struct h2_conn *cli, *srv;
	bool cli_closed, srv_closed;
	char cli_reason[64];
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
 * body, the stream held after it closed. /slow: never answered.
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
	}
}

static void srv_closed(void *arg, struct h2_conn *c, const char *reason)
{
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

static struct xfer *request(const char *method, const char *path, size_t body)
{
	struct xfer *x = xfer_new();
	struct h2_header h[] = {H2_HDR(":method", method), H2_HDR(":scheme", "http"),
				H2_HDR(":authority", "test"), H2_HDR(":path", path)};

	x->src = pattern;
	x->len = body;
	x->s = h2_submit_request(env.cli, h, 4, body > 0, &xops, x);
	assert_non_null(x->s);
	return x;
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
	    cmocka_unit_test(test_plain_get_post),     cmocka_unit_test(test_tls_get_post),
	    cmocka_unit_test(test_trailers),	       cmocka_unit_test(test_client_reset),
	    cmocka_unit_test(test_backpressure),       cmocka_unit_test(test_max_streams),
	    cmocka_unit_test(test_rapid_reset),	       cmocka_unit_test(test_pipe),
	    cmocka_unit_test(test_handshake_deadline),
	};

	signal(SIGPIPE, SIG_IGN);
	alarm(300);
	return cmocka_run_group_tests(tests, setup, teardown);
}
