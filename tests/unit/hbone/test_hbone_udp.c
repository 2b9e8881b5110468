// SPDX-License-Identifier: Apache-2.0
/*
 * UDP over HBONE (hbone_udp.h): CONNECT-UDP flows between a client pool and a server pool on one
 * loop, over real loopback TCP, mutual TLS and HTTP/2. The path template, the server's check of
 * the extended CONNECT, datagrams both ways with their boundaries (empty to the largest), flows
 * sharing one connection, drops instead of queues, refusals, a server that takes no extended
 * CONNECT, a malformed capsule, and flows freed from inside their own callbacks.
 */
#include <arpa/inet.h>
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

#include "hbone/capsule.h"
#include "hbone/hbone.h"
#include "hbone/hbone_priv.h"
#include "hbone/hbone_udp.h"
#include "../../lib/harness.h"

#define ID_CLIENT "spiffe://cluster.local/ns/a/sa/client"
#define ID_SERVER "spiffe://cluster.local/ns/b/sa/server"
#define DEST "10.0.0.7"
#define DEST_PORT 5353

static const char *const MESH_TD[] = {"cluster.local"};

/* What the server's accept function does with the next CONNECT-UDP. */
enum mode { ECHO, REFUSE, RAW_BAD, SILENT };

struct listener {
	struct loop_handler h;
	int fd;
	struct hbone_pool *pool;
	union sockaddr_inet addr;
};

static struct {
	struct loop *loop;
	struct hbone_pool *cli;
	struct listener udp_srv, old_srv; /* a pool taking CONNECT-UDP, and one that does not */
	struct tls_ctx *srv_ctx, *cli_ctx;
	char dir[64];
	enum mode mode;
	int accepts;
	char authority[64];
	struct hbone_udp *srv_flows[64];
	size_t n_srv;
	uint64_t srv_closed;
} w;

/* A client flow's view. */
struct cflow {
	struct hbone_udp *f;
	uint8_t got[8][2048];
	size_t got_len[8];
	size_t n;	/* datagrams received */
	size_t big_len; /* the length of a datagram too large for got[] */
	bool big_ok;	/* ... and whether its bytes were the pattern */
	bool closed;
	char why[160];
	bool free_on_datagram;
};

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 9));
}

/* ---- the server side ---- */

static void srv_datagram(void *arg, struct hbone_udp *f, const uint8_t *p, size_t len)
{
	(void)arg;
	if (w.mode != SILENT)
		hbone_udp_send(f, p, len); /* what it could not queue is dropped, counted */
}

static void srv_closed(void *arg, struct hbone_udp *f, const char *reason)
{
	(void)arg;
	(void)reason;
	w.srv_closed++;
	for (size_t i = 0; i < w.n_srv; i++)
		if (w.srv_flows[i] == f)
			w.srv_flows[i] = NULL;
	hbone_udp_free(f);
}

static const struct hbone_udp_ops srv_ops = {.datagram = srv_datagram, .closed = srv_closed};

/* An end that writes an empty DATAGRAM capsule (no context ID: malformed) once it may. */
static size_t raw_data(void *arg, struct hbone_stream *s, const uint8_t *p, size_t len)
{
	(void)arg, (void)s, (void)p;
	return len;
}
static void raw_eof(void *arg, struct hbone_stream *s)
{
	(void)arg;
	hbone_stream_shutdown(s);
}
static void raw_writable(void *arg, struct hbone_stream *s)
{
	static const uint8_t bad[] = {0x00, 0x00};

	(void)arg;
	hbone_stream_write(s, bad, sizeof(bad));
}
static void raw_closed(void *arg, struct hbone_stream *s, const char *reason, bool reset)
{
	(void)arg, (void)s, (void)reason, (void)reset;
}
static const struct hbone_end_ops raw_ops = {raw_data, raw_eof, raw_writable, raw_closed, NULL};

static int on_connect(void *user, const struct hbone_request *req, struct hbone_upstream *up)
{
	struct hbone_udp *f;

	(void)user;
	w.accepts++;
	snprintf(w.authority, sizeof(w.authority), "%s", req->authority);
	if (!req->udp)
		return 400;
	switch (w.mode) {
	case REFUSE: return 401;
	case RAW_BAD: up->end = &raw_ops; return 0;
	default: break;
	}
	f = hbone_udp_accept(req, up, &srv_ops, NULL);
	if (!f)
		return 503;
	if (w.n_srv < sizeof(w.srv_flows) / sizeof(w.srv_flows[0]))
		w.srv_flows[w.n_srv++] = f;
	return 0;
}

static void on_accept(struct loop_handler *h, uint32_t events)
{
	struct listener *l = (struct listener *)h;
	int fd;

	(void)events;
	while ((fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK)) >= 0)
		hbone_server_start(l->pool, fd, w.srv_ctx, on_connect, NULL, NULL);
}

static void listener_start(struct listener *l, bool udp)
{
	struct hbone_limits lim;
	uint16_t port;

	hbone_limits_default(&lim);
	lim.udp = udp;
	l->pool = hbone_pool_create(w.loop, &lim);
	assert_non_null(l->pool);
	l->fd = harness_listen("127.0.0.1", &port);
	assert_int_equal(fcntl(l->fd, F_SETFL, fcntl(l->fd, F_GETFL) | O_NONBLOCK), 0);
	l->addr = harness_sa("127.0.0.1", port);
	l->h.fn = on_accept;
	assert_int_equal(loop_add(w.loop, l->fd, EPOLLIN, &l->h), 0);
}

/* ---- the client side ---- */

static void cli_datagram(void *arg, struct hbone_udp *f, const uint8_t *p, size_t len)
{
	struct cflow *c = arg;

	if (len > sizeof(c->got[0])) {
		c->big_len = len;
		c->big_ok = true;
		for (size_t i = 0; i < len; i++)
			c->big_ok = c->big_ok && p[i] == pattern(i);
	} else if (c->n < 8) {
		memcpy(c->got[c->n], p, len);
		c->got_len[c->n] = len;
	}
	c->n++;
	if (c->free_on_datagram) {
		hbone_udp_free(f);
		c->f = NULL;
	}
}

static void cli_closed(void *arg, struct hbone_udp *f, const char *reason)
{
	struct cflow *c = arg;

	(void)f;
	c->closed = true;
	snprintf(c->why, sizeof(c->why), "%s", reason);
}

static const struct hbone_udp_ops cli_ops = {.datagram = cli_datagram, .closed = cli_closed};

static char path[HBONE_UDP_PATH_MAX];

static struct hbone_target target_of(const struct listener *l)
{
	assert_true(hbone_udp_path(path, sizeof(path), DEST, DEST_PORT) > 0);
	return (struct hbone_target){
	    .addr = l->addr,
	    .authority = DEST ":5353",
	    .identity = ID_CLIENT,
	    .expect_san = ID_SERVER,
	    .ctx = w.cli_ctx,
	    .udp_path = path,
	};
}

static void open_flow(struct cflow *c, const struct listener *l)
{
	struct hbone_target t = target_of(l);

	memset(c, 0, sizeof(*c));
	c->f = hbone_udp_open(w.cli, &t, &cli_ops, c);
	assert_non_null(c->f);
}

/* Runs the loop until *@flag is set (a bool) or 5 s pass. */
static void run_until(const bool *flag)
{
	for (int i = 0; i < 500 && !*flag; i++)
		loop_run_once(w.loop, 10);
}

static void run_until_n(const size_t *n, size_t want)
{
	for (int i = 0; i < 500 && *n < want; i++)
		loop_run_once(w.loop, 10);
}

static void run_for(int ms)
{
	for (int i = 0; i < ms / 10; i++)
		loop_run_once(w.loop, 10);
}

static int setup(void **state)
{
	(void)state;
	memset(&w, 0, sizeof(w));
	harness_tls_pair("hbone-udp", w.dir, sizeof(w.dir), ID_SERVER, &w.srv_ctx, ID_CLIENT,
			 &w.cli_ctx);
	assert_int_equal(tls_ctx_set_trust_domains(w.srv_ctx, MESH_TD, 1), 0);
	w.loop = loop_create();
	assert_non_null(w.loop);
	w.cli = hbone_pool_create(w.loop, NULL);
	assert_non_null(w.cli);
	listener_start(&w.udp_srv, true);
	listener_start(&w.old_srv, false);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	hbone_pool_destroy(w.cli);
	hbone_pool_destroy(w.udp_srv.pool);
	hbone_pool_destroy(w.old_srv.pool);
	/* What the pools' ends left to the loop is freed with it. */
	loop_destroy(w.loop);
	close(w.udp_srv.fd);
	close(w.old_srv.fd);
	return harness_tls_pair_free(w.dir, w.srv_ctx, w.cli_ctx);
}

/* ---- the cases ---- */

static void test_path(void **state)
{
	char p[HBONE_UDP_PATH_MAX], host[256];
	uint16_t port;

	(void)state;
	assert_int_equal(hbone_udp_path(p, sizeof(p), "192.0.2.6", 443),
			 (int)strlen("/.well-known/masque/udp/192.0.2.6/443/"));
	assert_string_equal(p, "/.well-known/masque/udp/192.0.2.6/443/");
	assert_int_equal(hbone_udp_parse_path(p, host, sizeof(host), &port), 0);
	assert_string_equal(host, "192.0.2.6");
	assert_int_equal(port, 443);
	/* RFC 9298 §2's example: an IPv6 address's colons escaped. */
	assert_true(hbone_udp_path(p, sizeof(p), "2001:db8::42", 443) > 0);
	assert_string_equal(p, "/.well-known/masque/udp/2001%3Adb8%3A%3A42/443/");
	assert_int_equal(hbone_udp_parse_path(p, host, sizeof(host), &port), 0);
	assert_string_equal(host, "2001:db8::42");
	assert_int_equal(hbone_udp_parse_path("/.well-known/masque/udp/2001%3adb8%3a%3a42/443/",
					      host, sizeof(host), &port),
			 0);
	assert_string_equal(host, "2001:db8::42");
	assert_true(hbone_udp_path(p, sizeof(p), "dns.example.com", 53) > 0);
	assert_int_equal(hbone_udp_parse_path(p, host, sizeof(host), &port), 0);
	assert_string_equal(host, "dns.example.com");
	assert_int_equal(port, 53);

	/* Not hosts, not ports, no room. */
	assert_int_equal(hbone_udp_path(p, sizeof(p), "a/b", 53), -EINVAL);
	assert_int_equal(hbone_udp_path(p, sizeof(p), "", 53), -EINVAL);
	assert_int_equal(hbone_udp_path(p, sizeof(p), "10.0.0.1", 0), -EINVAL);
	assert_int_equal(hbone_udp_path(p, 20, "10.0.0.1", 53), -ENOSPC);
	assert_int_equal(hbone_udp_path(p, 36, "10.0.0.1", 53), -ENOSPC);

	static const char *const bad[] = {
	    "/.well-known/masque/udp/10.0.0.1/53",	       /* no trailing slash */
	    "/.well-known/masque/udp/10.0.0.1/53/?x=1",	       /* a query */
	    "/.well-known/masque/udp/10.0.0.1/0/",	       /* port 0 */
	    "/.well-known/masque/udp/10.0.0.1/65536/",	       /* out of range */
	    "/.well-known/masque/udp/10.0.0.1/+53/",	       /* not digits */
	    "/.well-known/masque/udp/10.0.0.1//",	       /* no port */
	    "/.well-known/masque/udp//53/",		       /* no host */
	    "/.well-known/masque/udp/a..b/53/",		       /* an empty label */
	    "/.well-known/masque/udp/a%2Fb/53/",	       /* another escape */
	    "/.well-known/masque/udp/a%3/53/",		       /* a cut escape */
	    "/.well-known/masque/ip/10.0.0.1/53/",	       /* CONNECT-IP's */
	    "/.well-known/masque/udp/10.0.0.1",		       /* no port at all */
	    "/.well-known/masque/udp/10.0.0.1/53/extra/",      /* more after the port */
	    "/.well-known/masque/udp/under_score.example/53/", /* not a host name */
	    "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(hbone_udp_parse_path(bad[i], host, sizeof(host), &port), -EINVAL);
	assert_int_equal(hbone_udp_parse_path(NULL, host, sizeof(host), &port), -EINVAL);
	/* A host longer than the room given. */
	assert_int_equal(
	    hbone_udp_parse_path("/.well-known/masque/udp/10.0.0.1/53/", host, 5, &port), -EINVAL);
}

/* The server's check of an extended CONNECT, field by field. */
static void test_request_check(void **state)
{
	struct h2_header h[4];

	(void)state;
	h[0] = H2_HDR(":method", "CONNECT");
	h[1] = H2_HDR(":protocol", "connect-udp");
	h[2] = H2_HDR(":scheme", "https");
	h[3] = H2_HDR(":path", "/.well-known/masque/udp/10.0.0.7/5353/");
	assert_int_equal(hbone_udp_request(h, 4, "10.0.0.7:5353"), 0);
	/* Not the same target as the authority: another port, another host. */
	assert_int_equal(hbone_udp_request(h, 4, "10.0.0.7:53"), 400);
	assert_int_equal(hbone_udp_request(h, 4, "10.0.0.8:5353"), 400);
	assert_int_equal(hbone_udp_request(h, 4, "10.0.0.7"), 400);
	assert_int_equal(hbone_udp_request(h, 4, "10.0.0.7:x"), 400);
	/* An IPv6 target however its address is written; a name in any case. */
	h[3] = H2_HDR(":path", "/.well-known/masque/udp/fd00%3A%3A7/53/");
	assert_int_equal(hbone_udp_request(h, 4, "[fd00::7]:53"), 0);
	assert_int_equal(hbone_udp_request(h, 4, "[fd00:0::0:7]:53"), 0);
	assert_int_equal(hbone_udp_request(h, 4, "[fd00::8]:53"), 400);
	assert_int_equal(hbone_udp_request(h, 4, "fd00::7:53"), 400);
	h[3] = H2_HDR(":path", "/.well-known/masque/udp/Echo.Example/53/");
	assert_int_equal(hbone_udp_request(h, 4, "echo.example:53"), 0);
	/* Not https; no path; another protocol (WebSocket's) is not HBONE's to carry. */
	h[2] = H2_HDR(":scheme", "http");
	assert_int_equal(hbone_udp_request(h, 4, "echo.example:53"), 400);
	h[2] = H2_HDR(":scheme", "https");
	assert_int_equal(hbone_udp_request(h, 3, "echo.example:53"), 400);
	h[1] = H2_HDR(":protocol", "websocket");
	assert_int_equal(hbone_udp_request(h, 4, "echo.example:53"), 501);
}

/*
 * Datagrams sent at once, before the CONNECT is answered, and after: each comes back whole and
 * alone, from an empty one to the largest UDP payload, in order; the server saw the target.
 */
static void test_echo(void **state)
{
	static uint8_t big[CAPSULE_UDP_MAX];
	struct cflow c;

	(void)state;
	w.mode = ECHO;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = pattern(i);
	open_flow(&c, &w.udp_srv);
	assert_false(hbone_udp_established(c.f));
	assert_int_equal(hbone_udp_send(c.f, "", 0), 0);
	assert_int_equal(hbone_udp_send(c.f, "a", 1), 0);
	assert_int_equal(hbone_udp_send(c.f, big, 1200), 0);
	assert_int_equal(hbone_udp_send(c.f, big, sizeof(big) + 1), -EMSGSIZE);
	run_until_n(&c.n, 3);
	assert_int_equal(c.n, 3);
	assert_true(hbone_udp_established(c.f));
	assert_int_equal(hbone_udp_status(c.f), 200);
	assert_string_equal(w.authority, DEST ":5353");
	assert_int_equal(c.got_len[0], 0);
	assert_int_equal(c.got_len[1], 1);
	assert_memory_equal(c.got[1], "a", 1);
	assert_int_equal(c.got_len[2], 1200);
	assert_memory_equal(c.got[2], big, 1200);
	/* The largest, after the answer. */
	assert_int_equal(hbone_udp_send(c.f, big, sizeof(big)), 0);
	run_until_n(&c.n, 4);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.big_len, sizeof(big));
	assert_true(c.big_ok);
	{
		const struct hbone_udp_stats *st = hbone_udp_stats(c.f);

		assert_int_equal(st->sent, 4);
		assert_int_equal(st->received, 4);
		assert_int_equal(st->sent_bytes, 1 + 1200 + sizeof(big));
		assert_int_equal(st->received_bytes, st->sent_bytes);
		assert_int_equal(st->dropped_full + st->dropped_early, 0);
	}
	/* The client ends it: the server's flow is told and freed. */
	uint64_t closed = w.srv_closed;

	hbone_udp_free(c.f);
	for (int i = 0; i < 500 && w.srv_closed == closed; i++)
		loop_run_once(w.loop, 10);
	assert_int_equal(w.srv_closed, closed + 1);
	assert_false(c.closed); /* freed by its owner: no call */
}

/* Flows share a connection, one stream each, and the datagrams of each stay its own. */
static void test_flows_share_connection(void **state)
{
	enum { N = 20 };
	static struct cflow c[N];
	size_t before = hbone_pool_size(w.cli);

	(void)state;
	w.mode = ECHO;
	for (int i = 0; i < N; i++) {
		char d[16];

		open_flow(&c[i], &w.udp_srv);
		snprintf(d, sizeof(d), "flow %d", i);
		assert_int_equal(hbone_udp_send(c[i].f, d, strlen(d)), 0);
	}
	for (int i = 0; i < N; i++)
		run_until_n(&c[i].n, 1);
	for (int i = 0; i < N; i++) {
		char d[16];

		snprintf(d, sizeof(d), "flow %d", i);
		assert_int_equal(c[i].n, 1);
		assert_int_equal(c[i].got_len[0], strlen(d));
		assert_memory_equal(c[i].got[0], d, strlen(d));
	}
	/* One client connection at most was added (the last case may have left one pooled). */
	assert_true(hbone_pool_size(w.cli) <= before + 1);
	assert_true(hbone_pool_size(w.cli) >= 1);
	for (int i = 0; i < N; i++)
		hbone_udp_free(c[i].f);
	run_for(100);
}

/*
 * Sent faster than the loop runs: what waits for the answer is bounded (HBONE_UDP_EARLY), then
 * what waits behind the stream (HBONE_UDP_QUEUE); beyond, datagrams are dropped and counted,
 * never queued. Every datagram taken arrives: HTTP/2 loses nothing it was given.
 */
static void test_drops_not_queues(void **state)
{
	static uint8_t d[1400];
	const struct hbone_udp_stats *st;
	struct cflow c;
	uint64_t sent;
	int dropped = 0;

	(void)state;
	w.mode = SILENT;
	w.n_srv = 0;
	memset(d, 'x', sizeof(d));
	open_flow(&c, &w.udp_srv);
	for (int i = 0; i < 200; i++)
		dropped += hbone_udp_send(c.f, d, sizeof(d)) == -ENOBUFS;
	st = hbone_udp_stats(c.f);
	/* 1,406 bytes a capsule: 46 fit in 64 KiB. */
	assert_int_equal(st->sent, HBONE_UDP_EARLY / (sizeof(d) + 6));
	assert_int_equal(st->dropped_early, 200 - st->sent);
	assert_int_equal(dropped, (int)st->dropped_early);
	for (int i = 0; i < 500 && w.n_srv == 0; i++)
		loop_run_once(w.loop, 10);
	run_for(50);
	sent = st->sent;
	/* Established now: 1,000 more without the loop running take the queue, then drop. */
	dropped = 0;
	assert_true(hbone_udp_established(c.f));
	for (int i = 0; i < 1000; i++)
		dropped += hbone_udp_send(c.f, d, sizeof(d)) == -ENOBUFS;
	assert_true(st->dropped_full > 0);
	assert_int_equal(dropped, (int)st->dropped_full);
	assert_int_equal(st->sent - sent + st->dropped_full, 1000);
	/* At most the queue and one datagram were taken while nothing moved. */
	assert_true((st->sent - sent) * (sizeof(d) + 6) <= HBONE_UDP_QUEUE + sizeof(d) + 6);
	/* All that was taken reaches the server. */
	assert_int_equal(w.n_srv, 1);
	for (int i = 0; i < 500; i++) {
		loop_run_once(w.loop, 10);
		if (w.srv_flows[0] && hbone_udp_stats(w.srv_flows[0])->received == st->sent)
			break;
	}
	assert_non_null(w.srv_flows[0]);
	assert_int_equal(hbone_udp_stats(w.srv_flows[0])->received, st->sent);
	hbone_udp_free(c.f);
	run_for(50);
}

/* A refused CONNECT-UDP ends the flow with its status; what was kept for it is gone. */
static void test_refused(void **state)
{
	struct cflow c;

	(void)state;
	w.mode = REFUSE;
	open_flow(&c, &w.udp_srv);
	assert_int_equal(hbone_udp_send(c.f, "q", 1), 0);
	run_until(&c.closed);
	assert_true(c.closed);
	assert_non_null(strstr(c.why, "401"));
	assert_int_equal(hbone_udp_status(c.f), 401);
	assert_int_equal(hbone_udp_send(c.f, "q", 1), -EPIPE);
	hbone_udp_free(c.f);
}

/*
 * A server that takes no extended CONNECT (an older ambit, Istio's ztunnel): the first flow on a
 * new connection is refused by its HTTP/2 (a `:protocol` it did not allow); once its SETTINGS
 * said so, a flow is not even tried.
 */
static void test_server_without_udp(void **state)
{
	struct hbone_target t = target_of(&w.old_srv);
	int accepts = w.accepts;
	struct cflow c;

	(void)state;
	w.mode = ECHO;
	open_flow(&c, &w.old_srv);
	assert_int_equal(hbone_udp_send(c.f, "q", 1), 0);
	run_until(&c.closed);
	assert_true(c.closed);
	assert_int_equal(c.n, 0);
	assert_int_equal(w.accepts, accepts);
	hbone_udp_free(c.f);
	errno = 0;
	assert_null(hbone_udp_open(w.cli, &t, &cli_ops, &c));
	assert_int_equal(errno, EPROTONOSUPPORT);
	/* No path, no flow. */
	t.udp_path = NULL;
	assert_null(hbone_udp_open(w.cli, &t, &cli_ops, &c));
	assert_int_equal(errno, EINVAL);
}

/* A capsule that is malformed ends the flow, saying where and why (RFC 9297 §3.3). */
static void test_malformed_capsule(void **state)
{
	struct cflow c;

	(void)state;
	w.mode = RAW_BAD;
	open_flow(&c, &w.udp_srv);
	run_until(&c.closed);
	assert_true(c.closed);
	assert_int_equal(c.n, 0);
	assert_string_equal(c.why, "capsule at byte 0: an empty DATAGRAM capsule (no context ID)");
	hbone_udp_free(c.f);
}

/* An owner that frees its flow from inside a datagram's call: the rest of that read is dropped. */
static void test_free_in_callback(void **state)
{
	struct cflow c;
	uint64_t closed = w.srv_closed;

	(void)state;
	w.mode = ECHO;
	open_flow(&c, &w.udp_srv);
	c.free_on_datagram = true;
	for (int i = 0; i < 5; i++)
		assert_int_equal(hbone_udp_send(c.f, "ping", 4), 0);
	run_until_n(&c.n, 1);
	assert_int_equal(c.n, 1);
	assert_null(c.f);
	for (int i = 0; i < 500 && w.srv_closed == closed; i++)
		loop_run_once(w.loop, 10);
	assert_int_equal(w.srv_closed, closed + 1);
	run_for(50);
	assert_int_equal(c.n, 1);
	assert_false(c.closed);
}

/* The server ends the flow: the client's owner is told why. */
static void test_server_ends(void **state)
{
	struct cflow c;

	(void)state;
	w.mode = ECHO;
	w.n_srv = 0;
	open_flow(&c, &w.udp_srv);
	assert_int_equal(hbone_udp_send(c.f, "x", 1), 0);
	run_until_n(&c.n, 1);
	assert_int_equal(w.n_srv, 1);
	assert_non_null(w.srv_flows[0]);
	hbone_udp_free(w.srv_flows[0]);
	w.srv_flows[0] = NULL;
	run_until(&c.closed);
	assert_true(c.closed);
	assert_int_equal(hbone_udp_send(c.f, "x", 1), -EPIPE);
	hbone_udp_free(c.f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path),
	    cmocka_unit_test(test_request_check),
	    cmocka_unit_test(test_echo),
	    cmocka_unit_test(test_flows_share_connection),
	    cmocka_unit_test(test_drops_not_queues),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_server_without_udp),
	    cmocka_unit_test(test_malformed_capsule),
	    cmocka_unit_test(test_free_in_callback),
	    cmocka_unit_test(test_server_ends),
	};

	signal(SIGPIPE, SIG_IGN);
	alarm(120);
	return cmocka_run_group_tests_name("hbone_udp", tests, setup, teardown);
}
