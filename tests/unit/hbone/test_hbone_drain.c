// SPDX-License-Identifier: Apache-2.0
/*
 * Graceful drain of HBONE connections (hbone_pool_drain, h2_conn_drain; RFC 9113 §6.8). A client
 * pool and a server pool share one loop stepped by this thread, over TLS on loopback, each
 * CONNECT ending in an in-process echo on the server; and a server connection over the
 * in-memory seam whose GOAWAY frames are read off its output, to see what goes on the wire and
 * when. A drained server sends the shutdown notice at once and the GOAWAY naming its last stream
 * at a sweep a second later; a drained client sends its GOAWAY at once; streams open meanwhile
 * run to their end and the connection closes after them.
 *
 * The loop has no fake clock: a sweep a case only needs to happen is run directly (the pool's
 * tick function, as the loop calls it once a second), and the second between the two GOAWAYs
 * is waited for in real time, by two cases.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <nghttp2/nghttp2.h>

#include "ambit/ca.h"
#include "ambit/log.h"
#include "http/h2_priv.h"
#include "hbone/hbone_priv.h"
#include "../../lib/harness.h"
#include "../../lib/hbone_seam.h"

#define ID_CLIENT "spiffe://cluster.local/ns/a/sa/client"
#define ID_SERVER "spiffe://cluster.local/ns/b/sa/server"
/* The last-stream-id of the shutdown notice (RFC 9113 §6.8: 2^31-1). */
#define NOTICE_LAST 0x7fffffff
#define MAX_APPS 4
#define MAX_GOAWAYS 4

/* An in-process client end (hbone_pool_open_end): what came back, and how it ended. */
struct app {
	struct hbone_stream *s; /* NULL once closed */
	char got[256];
	size_t got_len, want;
	bool ready; /* its writable ran: the 200 came */
	bool eof, closed, reset;
	int status;
	char reason[64];
};

/*
 * How long a wait may take before the case fails: a bound on a hang, not a speed (the drain's
 * own second plus the sweep's, on a machine that may be busy).
 */
#define WAIT_MS 15000

/* The loopback world of one case: both pools on one loop, and the server's listener. */
static struct {
	struct loop *loop;
	struct hbone_pool *cli, *srv;
	struct loop_handler accept_h;
	int lfd;
	struct sockaddr_in addr;
	int accepted;		     /* server connections */
	int echo_closed, echo_reset; /* server ends, by how they ended */
	struct app app[MAX_APPS];    /* here, not on a case's stack: the teardown may close them */
	size_t napps;
} w;

/*
 * A raw HTTP/2 client on the far side of a seam server connection, and the GOAWAYs it was sent
 * (read from the frames themselves: an idle nghttp2 client reads nothing after a GOAWAY).
 */
static struct {
	struct hbone_seam seam;
	nghttp2_session *h2;
	uint8_t in[1 << 16]; /* the server's bytes, up to a whole frame */
	size_t in_len;
	int ngoaway;
	int32_t last[MAX_GOAWAYS];
	uint32_t error[MAX_GOAWAYS];
	uint64_t at_ms[MAX_GOAWAYS];
} wire;

static struct tls_ctx *srv_ctx, *cli_ctx;
static char dir[64];

/* ---- the client's end ---- */

static size_t app_data(void *arg, struct hbone_stream *s, const uint8_t *p, size_t len)
{
	struct app *a = arg;

	assert_true(a->got_len + len <= sizeof(a->got));
	memcpy(a->got + a->got_len, p, len);
	a->got_len += len;
	return len;
}

static void app_eof(void *arg, struct hbone_stream *s)
{
	((struct app *)arg)->eof = true;
}

static void app_writable(void *arg, struct hbone_stream *s)
{
	((struct app *)arg)->ready = true;
}

static void app_closed(void *arg, struct hbone_stream *s, const char *reason, bool reset)
{
	struct app *a = arg;

	a->status = hbone_stream_status(s);
	a->reset = reset;
	snprintf(a->reason, sizeof(a->reason), "%s", reason ? reason : "");
	a->closed = true;
	a->s = NULL;
}

static const struct hbone_end_ops app_ops = {
    .data = app_data, .eof = app_eof, .writable = app_writable, .closed = app_closed};

/* ---- the server's end: an echo, its EOF after the client's ---- */

static size_t echo_data(void *arg, struct hbone_stream *s, const uint8_t *p, size_t len)
{
	ssize_t n = hbone_stream_write(s, p, len);

	return n > 0 ? (size_t)n : 0;
}

static void echo_eof(void *arg, struct hbone_stream *s)
{
	hbone_stream_shutdown(s);
}

static void echo_writable(void *arg, struct hbone_stream *s)
{
	hbone_stream_ready(s);
}

static void echo_closed(void *arg, struct hbone_stream *s, const char *reason, bool reset)
{
	if (reset)
		w.echo_reset++;
	else
		w.echo_closed++;
}

static const struct hbone_end_ops echo_ops = {
    .data = echo_data, .eof = echo_eof, .writable = echo_writable, .closed = echo_closed};

static int on_connect(void *user, const struct hbone_request *req, struct hbone_upstream *up)
{
	up->end = &echo_ops;
	return 0;
}

static void on_accept(struct loop_handler *h, uint32_t events)
{
	int fd;

	while ((fd = accept4(w.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		w.accepted++;
		assert_int_equal(hbone_server_start(w.srv, fd, srv_ctx, on_connect, NULL, NULL), 0);
	}
}

/* ---- the loopback world ---- */

static int world_up(void **state)
{
	uint16_t port;

	memset(&w, 0, sizeof(w));
	w.loop = loop_create();
	assert_non_null(w.loop);
	w.cli = hbone_pool_create(w.loop, NULL);
	w.srv = hbone_pool_create(w.loop, NULL);
	assert_non_null(w.cli);
	assert_non_null(w.srv);
	w.lfd = harness_listen("127.0.0.1", &port);
	assert_int_equal(fcntl(w.lfd, F_SETFL, O_NONBLOCK), 0);
	w.addr = harness_sin("127.0.0.1", port);
	w.accept_h.fn = on_accept;
	assert_int_equal(loop_add(w.loop, w.lfd, EPOLLIN, &w.accept_h), 0);
	return 0;
}

static int world_down(void **state)
{
	/* First: a connection still in the backlog would be accepted into a freed pool. */
	loop_del(w.loop, w.lfd);
	close(w.lfd);
	hbone_pool_destroy(w.cli);
	hbone_pool_destroy(w.srv);
	loop_run_once(w.loop, 0);
	loop_destroy(w.loop);
	return 0;
}

/*
 * Steps the loop until @cond holds, for at most @ms of real time (a sweep comes once a second,
 * so a bound on rounds would say nothing about one).
 */
static bool run_until(bool (*cond)(const void *), const void *arg, unsigned int ms)
{
	uint64_t end = loop_now_ms(w.loop) + ms;

	while (!cond(arg)) {
		if (loop_now_ms(w.loop) >= end)
			return false;
		assert_true(loop_run_once(w.loop, 10) >= 0);
	}
	return true;
}

static bool app_ready(const void *arg)
{
	const struct app *a = arg;

	return a->ready || a->closed;
}

static bool app_got(const void *arg)
{
	const struct app *a = arg;

	return a->got_len >= a->want || a->closed;
}

static bool app_done(const void *arg)
{
	return ((const struct app *)arg)->closed;
}

/* The peer's GOAWAY (a server's shutdown notice, or a client's GOAWAY) arrived. */
static bool peer_goaway_seen(const void *arg)
{
	return h2_conn_peer_goaway(arg) >= 0;
}

static bool final_goaway_queued(const void *arg)
{
	return ((const struct h2_conn *)arg)->drain_final;
}

struct sizes {
	size_t cli, srv;
};

static bool pools_at(const void *arg)
{
	const struct sizes *n = arg;

	return hbone_pool_size(w.cli) == n->cli && hbone_pool_size(w.srv) == n->srv;
}

static const struct sizes none = {0, 0}, one_each = {1, 1};

/* Opens a CONNECT stream from the client pool; it is answered later. */
static struct app *app_open(void)
{
	struct hbone_target t = {
	    .addr.v4 = w.addr,
	    .authority = "127.0.0.1:7",
	    .identity = ID_CLIENT,
	    .expect_san = ID_SERVER,
	    .ctx = cli_ctx,
	};
	struct app *a;

	assert_true(w.napps < MAX_APPS);
	a = &w.app[w.napps++];
	a->s = hbone_pool_open_end(w.cli, &t, &app_ops, a, NULL);
	assert_non_null(a->s);
	return a;
}

/* ...and waits for its 200. */
static struct app *app_connect(void)
{
	struct app *a = app_open();

	assert_true(run_until(app_ready, a, WAIT_MS));
	assert_false(a->closed);
	assert_int_equal(hbone_stream_status(a->s), 200);
	return a;
}

/* @msg goes to the server's echo and must come back whole: bytes flow both ways. */
static void echo_round(struct app *a, const char *msg)
{
	size_t len = strlen(msg), before = a->got_len;

	assert_non_null(a->s);
	assert_int_equal(hbone_stream_write(a->s, msg, len), (ssize_t)len);
	a->want = before + len;
	assert_true(run_until(app_got, a, WAIT_MS));
	assert_false(a->closed);
	assert_int_equal(a->got_len, before + len);
	assert_memory_equal(a->got + before, msg, len);
}

/* @a half-closes, the echo's EOF follows, and the stream ends cleanly. */
static void app_finish(struct app *a)
{
	hbone_stream_shutdown(a->s);
	assert_true(run_until(app_done, a, WAIT_MS));
	assert_true(a->eof);
	assert_false(a->reset);
	assert_string_equal(a->reason, "eof");
	assert_int_equal(a->status, 200);
}

/* The HTTP/2 connection @a's stream rides on (alive while the stream is open). */
static struct h2_conn *app_conn(const struct app *a)
{
	assert_non_null(a->s);
	assert_non_null(a->s->conn);
	return a->s->conn->h2;
}

static struct h2_conn *only_conn(struct hbone_pool *p)
{
	assert_int_equal(hbone_pool_size(p), 1);
	return LIST_FIRST(&p->conns)->h2;
}

/*
 * Steps @l until its clock is 100 to 800 ms into a second. A drained server's second step comes
 * at the first sweep of a later second of loop_now: a drain begun late in a second would see it
 * at once, and one begun at its very start would hide how short the wait can be.
 */
static void mid_second(struct loop *l)
{
	while (loop_now_ms(l) % 1000 < 100 || loop_now_ms(l) % 1000 >= 800)
		assert_true(loop_run_once(l, 10) >= 0);
}

/* The pool's sweep, as the loop's tick runs it once a second: now, without waiting for it. */
static void pool_sweep_now(struct hbone_pool *p)
{
	p->tick.fn(&p->tick);
}

/* ---- loopback cases ---- */

/*
 * A drained server: the shutdown notice first (the client opens no more streams on that
 * connection), then at a sweep a second later the GOAWAY naming the last stream it took. A
 * CONNECT whose HEADERS left in the same round as the notice (in flight: sent before the client
 * knew) is still served; both streams carry bytes both ways throughout; both ends close once
 * the last stream ended.
 */
static void test_server_drain_stream_runs_on(void **state)
{
	struct app *a = app_connect(), *b;
	struct h2_conn *cli, *srv;
	time_t noticed;

	echo_round(a, "before the drain");
	cli = app_conn(a);
	srv = only_conn(w.srv);
	assert_true(h2_conn_usable(cli));
	assert_int_equal(h2_conn_peer_goaway(cli), -1);

	/* The final GOAWAY must not overtake b's CONNECT (see test_idle_server_drain). */
	mid_second(w.loop);
	b = app_open();
	assert_ptr_equal(app_conn(b), cli);
	hbone_pool_drain(w.srv);
	noticed = loop_now(w.loop);
	assert_true(srv->drain_noticed);
	assert_false(srv->drain_final);

	assert_true(run_until(peer_goaway_seen, cli, WAIT_MS));
	assert_int_equal(h2_conn_peer_goaway(cli), H2_NO_ERROR);
	assert_false(h2_conn_usable(cli));
	assert_true(run_until(app_ready, b, WAIT_MS));
	assert_false(b->closed);
	assert_int_equal(hbone_stream_status(b->s), 200);
	echo_round(a, "after the notice");
	echo_round(b, "in flight");
	/* Never in the second of the notice. */
	if (loop_now(w.loop) == noticed)
		assert_false(srv->drain_final);

	assert_true(run_until(final_goaway_queued, srv, WAIT_MS));
	assert_true(loop_now(w.loop) - noticed >= 1);
	/* The last stream taken: b's, the client's second (1, 3). */
	assert_int_equal(h2_stream_id(b->s->h2s), 3);
	assert_int_equal(nghttp2_session_get_last_proc_stream_id(srv->h2), 3);
	echo_round(a, "after the final GOAWAY");
	echo_round(b, "still there");
	assert_true(pools_at(&one_each));

	app_finish(b);
	assert_true(pools_at(&one_each));
	echo_round(a, "the last one");
	app_finish(a);
	assert_true(run_until(pools_at, &none, WAIT_MS));
	assert_int_equal(w.accepted, 1);
	assert_int_equal(w.echo_closed, 2);
	assert_int_equal(w.echo_reset, 0);
}

/*
 * After the server drained, the client's next stream goes on a new connection and is served.
 * The server pool drains that connection too at its next sweep: idle, it closes at both ends,
 * while the first one still carries its stream.
 */
static void test_new_stream_after_server_drain(void **state)
{
	struct app *a = app_connect(), *b;
	struct h2_conn *first;

	echo_round(a, "one");
	first = app_conn(a);
	hbone_pool_drain(w.srv);
	assert_true(run_until(peer_goaway_seen, first, WAIT_MS));
	assert_false(h2_conn_usable(first));

	b = app_open();
	assert_int_equal(hbone_pool_size(w.cli), 2);
	assert_ptr_not_equal(app_conn(b), first);
	assert_true(run_until(app_ready, b, WAIT_MS));
	assert_false(b->closed);
	assert_int_equal(hbone_stream_status(b->s), 200);
	assert_int_equal(w.accepted, 2);
	assert_int_equal(hbone_pool_size(w.srv), 2);
	echo_round(b, "two");
	app_finish(b);

	pool_sweep_now(w.srv);
	assert_true(run_until(pools_at, &one_each, WAIT_MS));
	assert_ptr_equal(only_conn(w.cli), first);
	echo_round(a, "three");
	app_finish(a);
	assert_true(run_until(pools_at, &none, WAIT_MS));
	assert_int_equal(w.echo_closed, 2);
	assert_int_equal(w.echo_reset, 0);
}

/*
 * A drained client: its GOAWAY at once, the open stream runs on, the connection closes after
 * it. A later open gets a connection of its own that works, which the pool drains at its next
 * sweep: that stream runs on too, and the connection closes after it.
 */
static void test_client_drain(void **state)
{
	struct app *a = app_connect(), *b;
	struct h2_conn *srv;

	echo_round(a, "one");
	srv = only_conn(w.srv);
	hbone_pool_drain(w.cli);
	assert_false(h2_conn_usable(app_conn(a)));
	assert_true(run_until(peer_goaway_seen, srv, WAIT_MS));
	assert_int_equal(h2_conn_peer_goaway(srv), H2_NO_ERROR);
	echo_round(a, "two");
	assert_true(pools_at(&one_each));
	app_finish(a);
	assert_true(run_until(pools_at, &none, WAIT_MS));

	b = app_connect();
	assert_int_equal(w.accepted, 2);
	echo_round(b, "three");
	pool_sweep_now(w.cli);
	assert_false(h2_conn_usable(app_conn(b)));
	echo_round(b, "four");
	assert_true(run_until(peer_goaway_seen, only_conn(w.srv), WAIT_MS));
	assert_true(pools_at(&one_each));
	app_finish(b);
	assert_true(run_until(pools_at, &none, WAIT_MS));
	assert_int_equal(w.echo_closed, 2);
	assert_int_equal(w.echo_reset, 0);
}

/*
 * The same sweep landing while the new connection's TLS handshake is still going on, its
 * CONNECT queued behind it: the stream was opened before the drain, so it must still go out and
 * be served.
 */
static void test_client_drain_before_handshake(void **state)
{
	struct app *b;

	hbone_pool_drain(w.cli);
	b = app_open();
	pool_sweep_now(w.cli);
	assert_false(h2_conn_usable(app_conn(b)));
	assert_true(run_until(app_ready, b, WAIT_MS));
	assert_false(b->closed);
	assert_int_equal(hbone_stream_status(b->s), 200);
	echo_round(b, "queued");
	app_finish(b);
	assert_true(run_until(pools_at, &none, WAIT_MS));
}

/* ---- the wire, through the seam ---- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* RFC 9113 §4.1: a 9-byte header (24-bit length, type, flags, stream id), then the payload. */
static void wire_sink(void *arg, const uint8_t *data, size_t len)
{
	size_t off = 0;

	assert_true(wire.in_len + len <= sizeof(wire.in));
	memcpy(wire.in + wire.in_len, data, len);
	wire.in_len += len;
	while (wire.in_len - off >= 9) {
		const uint8_t *f = wire.in + off;
		size_t flen = (size_t)f[0] << 16 | (size_t)f[1] << 8 | f[2];

		if (wire.in_len - off < 9 + flen)
			break;
		if (f[3] == NGHTTP2_GOAWAY) {
			assert_true(flen >= 8);
			assert_true(wire.ngoaway < MAX_GOAWAYS);
			wire.last[wire.ngoaway] = (int32_t)(be32(f + 9) & 0x7fffffff);
			wire.error[wire.ngoaway] = be32(f + 13);
			wire.at_ms[wire.ngoaway] = loop_now_ms(wire.seam.loop);
			wire.ngoaway++;
		}
		off += 9 + flen;
	}
	memmove(wire.in, wire.in + off, wire.in_len - off);
	wire.in_len -= off;
	/* Its SETTINGS for the client session to acknowledge (it ignores all after a GOAWAY). */
	assert_int_equal(nghttp2_session_mem_recv(wire.h2, data, len), (ssize_t)len);
}

/* What the client has to send (preface, SETTINGS, acknowledgements) goes to the server. */
static void wire_pump(void)
{
	uint8_t buf[4096];
	const uint8_t *data;
	size_t len = 0;
	ssize_t n;

	/* Copied out first: the server answers into the same session from inside the feed. */
	while ((n = nghttp2_session_mem_send(wire.h2, &data)) > 0) {
		assert_true(len + (size_t)n <= sizeof(buf));
		memcpy(buf + len, data, (size_t)n);
		len += (size_t)n;
	}
	assert_int_equal(n, 0);
	if (len)
		assert_int_equal(hbone_seam_feed(&wire.seam, buf, len), 0);
}

/* A server connection with its SETTINGS exchanged, no stream. */
static int wire_up(void **state)
{
	struct hbone_seam_server o = {.peer_identity = ID_CLIENT};
	nghttp2_session_callbacks *cbs;

	memset(&wire, 0, sizeof(wire));
	assert_int_equal(hbone_seam_server(&wire.seam, &o), 0);
	wire.seam.sink = wire_sink;
	assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
	assert_int_equal(nghttp2_session_client_new(&wire.h2, cbs, NULL), 0);
	nghttp2_session_callbacks_del(cbs);
	assert_int_equal(nghttp2_submit_settings(wire.h2, NGHTTP2_FLAG_NONE, NULL, 0), 0);
	wire_pump();
	wire_pump();
	assert_int_equal(hbone_pool_size(wire.seam.pool), 1);
	assert_int_equal(wire.ngoaway, 0);
	return 0;
}

static int wire_down(void **state)
{
	hbone_seam_close(&wire.seam);
	nghttp2_session_del(wire.h2);
	return 0;
}

/* Steps the seam's loop until the @n-th GOAWAY came (real time: at most @ms). */
static bool wire_until_goaways(int n, unsigned int ms)
{
	uint64_t end = loop_now_ms(wire.seam.loop) + ms;

	while (wire.ngoaway < n) {
		if (loop_now_ms(wire.seam.loop) >= end)
			return false;
		/* Open until the GOAWAY that ends it. */
		assert_int_equal(hbone_pool_size(wire.seam.pool), 1);
		assert_true(hbone_seam_step(&wire.seam, 10) >= 0);
	}
	return true;
}

/*
 * An idle server connection, drained: the shutdown notice at once, then nothing (not even at a
 * sweep in the same second) until a sweep sends the GOAWAY naming the last stream taken (none:
 * 0), after which it closes. Draining it again, or draining nothing, changes nothing. The wait
 * between the two GOAWAYs is a second (h2.h; RFC 9113 §6.8 asks for "at least one round-trip
 * time" for streams in flight), measured in milliseconds from a notice sent 100 ms or more into
 * a second, where a wait counted in whole seconds of loop_now shows as a shorter one.
 */
static void test_idle_server_drain(void **state)
{
	struct h2_conn *c = wire.seam.conn->h2;
	uint64_t gap;

	mid_second(wire.seam.loop);
	hbone_pool_drain(wire.seam.pool);
	hbone_pool_drain(wire.seam.pool);
	h2_conn_drain(c);
	hbone_pool_drain(NULL);
	h2_conn_drain(NULL);
	assert_true(hbone_seam_step(&wire.seam, 0) >= 0);
	assert_int_equal(wire.ngoaway, 1);
	assert_int_equal(wire.last[0], NOTICE_LAST);
	assert_int_equal(wire.error[0], NGHTTP2_NO_ERROR);
	assert_int_equal(hbone_pool_size(wire.seam.pool), 1);
	wire_pump();
	/* A sweep in the notice's second sends nothing more (unless this thread stalled a second).
	 */
	pool_sweep_now(wire.seam.pool);
	assert_true(hbone_seam_step(&wire.seam, 0) >= 0);
	if (loop_now_ms(wire.seam.loop) - wire.at_ms[0] < 1000)
		assert_int_equal(wire.ngoaway, 1);

	assert_true(wire_until_goaways(2, WAIT_MS));
	assert_int_equal(wire.last[1], 0);
	assert_int_equal(wire.error[1], NGHTTP2_NO_ERROR);
	assert_true(wire.at_ms[1] / 1000 > wire.at_ms[0] / 1000);
	/* The session ended with that frame written. */
	assert_int_equal(hbone_pool_size(wire.seam.pool), 0);
	hbone_pool_drain(wire.seam.pool);
	assert_true(hbone_seam_step(&wire.seam, 0) >= 0);
	assert_int_equal(wire.ngoaway, 2);

	gap = wire.at_ms[1] - wire.at_ms[0];
	if (gap < 1000)
		fail_msg("final GOAWAY %llu ms after the notice (sent %llu ms into its second)",
			 (unsigned long long)gap, (unsigned long long)(wire.at_ms[0] % 1000));
}

static int setup(void **state)
{
	log_init("test_hbone_drain", LOG_LEVEL_ERROR);
	harness_tls_pair("hbone-drain", dir, sizeof(dir), ID_SERVER, &srv_ctx, ID_CLIENT, &cli_ctx);
	return 0;
}

static int teardown(void **state)
{
	return harness_tls_pair_free(dir, srv_ctx, cli_ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_server_drain_stream_runs_on, world_up, world_down),
	    cmocka_unit_test_setup_teardown(test_new_stream_after_server_drain, world_up,
					    world_down),
	    cmocka_unit_test_setup_teardown(test_client_drain, world_up, world_down),
	    cmocka_unit_test_setup_teardown(test_client_drain_before_handshake, world_up,
					    world_down),
	    cmocka_unit_test_setup_teardown(test_idle_server_drain, wire_up, wire_down),
	};

	/* OpenSSL writes alerts to sockets the peer may have closed. */
	signal(SIGPIPE, SIG_IGN);
	alarm(60);
	return cmocka_run_group_tests(tests, setup, teardown);
}
