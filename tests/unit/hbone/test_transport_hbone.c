// SPDX-License-Identifier: Apache-2.0
/*
 * The transport over HBONE streams ended in process (transport_hbone.h), as the waypoint uses
 * it: a connector opens CONNECTs on a client pool; the server side takes them as transports
 * whose peer is what the CONNECT said; 2 MiB go through an echo both ways with the writers
 * held at the high water mark; a 401 fails the open with EACCES, a port nobody listens on with
 * ECONNREFUSED, and a server that resets its end is an ECONNRESET at the client; an open with
 * no identity (a destination outside the mesh) is plaintext TCP. One loop on
 * loopback sockets, stepped until the outcome (bounded), never timed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "ambit/ca.h"
#include "hbone/hbone.h"
#include "net/sock.h"
#include "hbone/transport_hbone.h"
#include "../../lib/harness.h"

#define ID_SERVER "spiffe://cluster.local/ns/a/sa/server"
#define ID_CLIENT "spiffe://cluster.local/ns/w/sa/waypoint"
#define TOTAL (2u << 20)

static struct loop *loop;
static struct hbone_pool *cpool, *spool;
static struct tls_ctx *sctx, *cctx;
static struct connector *cn;
static int lfd = -1;
static uint16_t lport;
static struct loop_handler lh;
static char dir[64];

/* What the server side does with an accepted CONNECT. */
static enum { ECHO, REFUSE, RESET } mode;
static struct transport *srv_t;
static char seen_identity[256];
static uint16_t seen_port;
static char seen_forwarded[256]; /* the CONNECT's forwarded header, "" without one */
static char seen_authority[64];
static int lfd6 = -1; /* [::1] on the test listener's port, for IPv6 destinations */

/* The client's view. */
static struct {
	struct transport *t;
	size_t sent, got;
	bool opened, eof, shut;
	int err;
	uint8_t *back;
} cli;

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 12));
}

/* ---- server: an echo holding at the high water mark ---- */

static size_t srv_data(void *arg, const char *data, size_t len)
{
	if (mode == RESET) {
		transport_close(srv_t, true);
		return len;
	}
	if (transport_queued(srv_t) > TRANSPORT_HIGH_WATER)
		return 0; /* held: on_drain resumes */
	assert_int_equal(transport_write(srv_t, data, len), 0);
	return len;
}

static void srv_eof(void *arg)
{
	transport_shutdown(srv_t);
}

static void srv_drain(void *arg)
{
	transport_resume(srv_t);
}

static void srv_error(void *arg, int err)
{
	transport_close(srv_t, true);
	srv_t = NULL;
}

static const struct transport_cbs srv_cbs = {
    .on_data = srv_data, .on_eof = srv_eof, .on_drain = srv_drain, .on_error = srv_error};

static int on_connect(void *user, const struct hbone_request *req, struct hbone_upstream *up)
{
	struct transport_peer peer = {.identity = (char *)req->peer_identity, .mtls = true};
	union sockaddr_inet dst;

	if (mode == REFUSE)
		return 401;
	assert_int_equal(sock_parse_authority(req->authority, &dst), 0);
	assert_int_equal(sockaddr_inet_to_ipaddr(&dst, &peer.dest_ip), 0);
	peer.dest_port = sockaddr_inet_port(&dst);
	srv_t = transport_hbone_accepted(loop, &peer, up);
	assert_non_null(srv_t);
	transport_set_cbs(srv_t, &srv_cbs, NULL);
	snprintf(seen_identity, sizeof(seen_identity), "%s", transport_peer(srv_t)->identity);
	snprintf(seen_forwarded, sizeof(seen_forwarded), "%s",
		 req->forwarded ? req->forwarded : "");
	seen_port = transport_peer(srv_t)->dest_port;
	snprintf(seen_authority, sizeof(seen_authority), "%s", req->authority);
	return 0;
}

static void on_accept(struct loop_handler *h, uint32_t events)
{
	int fd = accept4(h == &lh ? lfd : lfd6, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd >= 0)
		assert_int_equal(hbone_server_start(spool, fd, sctx, on_connect, NULL, NULL), 0);
}

/* ---- client ---- */

static void cli_push(void)
{
	uint8_t chunk[16384];

	while (cli.sent < TOTAL && transport_queued(cli.t) <= TRANSPORT_HIGH_WATER) {
		size_t n = TOTAL - cli.sent < sizeof(chunk) ? TOTAL - cli.sent : sizeof(chunk);

		for (size_t i = 0; i < n; i++)
			chunk[i] = pattern(cli.sent + i);
		assert_int_equal(transport_write(cli.t, (const char *)chunk, n), 0);
		cli.sent += n;
	}
	if (cli.sent == TOTAL && !cli.shut) {
		cli.shut = true;
		transport_shutdown(cli.t);
	}
}

static void cli_open(void *arg)
{
	cli.opened = true;
	cli_push();
}

static size_t cli_data(void *arg, const char *data, size_t len)
{
	assert_true(cli.got + len <= TOTAL);
	memcpy(cli.back + cli.got, data, len);
	cli.got += len;
	return len;
}

static void cli_eof(void *arg)
{
	cli.eof = true;
}

static void cli_drain(void *arg)
{
	cli_push();
}

static void cli_error(void *arg, int err)
{
	cli.err = err;
}

static const struct transport_cbs cli_cbs = {.on_data = cli_data,
					     .on_eof = cli_eof,
					     .on_drain = cli_drain,
					     .on_open = cli_open,
					     .on_error = cli_error};

static int creds(void *arg, const char **identity, struct tls_ctx **ctx)
{
	*identity = ID_CLIENT;
	*ctx = tls_ctx_get(cctx);
	return 0;
}

static void cli_start(uint16_t port)
{
	union sockaddr_inet dst;

	sockaddr_inet_v4(&dst, htonl(INADDR_LOOPBACK), port);

	free(cli.back);
	memset(&cli, 0, sizeof(cli));
	cli.back = malloc(TOTAL);
	assert_non_null(cli.back);
	cli.t = connector_open(cn, &dst, ID_SERVER, 10000, &cli_cbs, NULL);
	assert_non_null(cli.t);
}

static void run_until(bool (*done)(void))
{
	for (int i = 0; i < 20000 && !done(); i++)
		assert_true(loop_run_once(loop, 5) >= 0);
	assert_true(done());
}

static bool echoed(void)
{
	return cli.eof || cli.err;
}

static bool failed(void)
{
	return cli.err != 0;
}

static int setup(void **state)
{
	harness_tls_pair("thbone", dir, sizeof(dir), ID_SERVER, &sctx, ID_CLIENT, &cctx);
	loop = loop_create();
	assert_non_null(loop);
	cpool = hbone_pool_create(loop, NULL);
	spool = hbone_pool_create(loop, NULL);
	assert_non_null(cpool);
	assert_non_null(spool);
	lfd = harness_listen("127.0.0.1", &lport);
	lh.fn = on_accept;
	assert_int_equal(loop_add(loop, lfd, EPOLLIN, &lh), 0);
	/* The connector's CONNECTs go to the test's listener instead of 15008. */
	cn = connector_hbone_new(loop, cpool, lport, NULL, creds, NULL);
	assert_non_null(cn);
	return 0;
}

static int teardown(void **state)
{
	connector_destroy(cn);
	hbone_pool_destroy(cpool);
	hbone_pool_destroy(spool);
	loop_del(loop, lfd);
	close(lfd);
	for (int i = 0; i < 10; i++)
		loop_run_once(loop, 0);
	loop_destroy(loop);
	free(cli.back);
	return harness_tls_pair_free(dir, sctx, cctx);
}

static void test_echo(void **state)
{
	mode = ECHO;
	cli_start(9080);
	run_until(echoed);
	assert_int_equal(cli.err, 0);
	assert_true(cli.opened);
	assert_int_equal(cli.got, TOTAL);
	for (size_t i = 0; i < TOTAL; i++)
		if (cli.back[i] != pattern(i))
			fail_msg("byte %zu differs", i);
	/* The server's transport says who called and what was addressed. */
	assert_string_equal(seen_identity, ID_CLIENT);
	assert_int_equal(seen_port, 9080);
	transport_close(cli.t, false);
	transport_close(srv_t, false);
	srv_t = NULL;
}

static void test_refused(void **state)
{
	mode = REFUSE;
	cli_start(9080);
	run_until(failed);
	assert_int_equal(cli.err, -EACCES);
	assert_false(cli.opened);
	transport_close(cli.t, true);
}

static void test_reset_by_server(void **state)
{
	mode = RESET;
	cli_start(9080);
	run_until(failed);
	assert_int_equal(cli.err, -ECONNRESET);
	assert_true(cli.opened);
	transport_close(cli.t, true);
}

static void test_unreachable(void **state)
{
	struct connector *dead;
	union sockaddr_inet dst = {
	    .v4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)}};
	uint16_t port;
	int fd = harness_listen("127.0.0.1", &port);

	close(fd); /* a port nobody listens on any more */
	dead = connector_hbone_new(loop, cpool, port, NULL, creds, NULL);
	assert_non_null(dead);
	free(cli.back);
	memset(&cli, 0, sizeof(cli));
	dst.v4.sin_port = htons(9080);
	cli.t = connector_open(dead, &dst, ID_SERVER, 10000, &cli_cbs, NULL);
	assert_non_null(cli.t);
	run_until(failed);
	assert_int_equal(cli.err, -ECONNREFUSED);
	transport_close(cli.t, true);
	connector_destroy(dead);
}

static bool opened(void)
{
	return cli.opened || cli.err;
}

/* No identity: a destination outside the mesh, reached in plaintext (no TLS, no CONNECT). */
static void test_outside_mesh(void **state)
{
	union sockaddr_inet dst = {
	    .v4 = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)}};
	uint8_t got[4096];
	size_t n = 0;
	uint16_t port;
	int pfd = harness_listen("127.0.0.1", &port), fd;

	free(cli.back);
	memset(&cli, 0, sizeof(cli));
	cli.back = malloc(TOTAL);
	assert_non_null(cli.back);
	dst.v4.sin_port = htons(port);
	cli.t = connector_open(cn, &dst, NULL, 10000, &cli_cbs, NULL);
	assert_non_null(cli.t);
	run_until(opened);
	assert_int_equal(cli.err, 0);
	fd = accept4(pfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	assert_true(fd >= 0);
	for (int i = 0; i < 20000 && n < sizeof(got); i++) {
		ssize_t r = read(fd, got + n, sizeof(got) - n);

		if (r > 0)
			n += (size_t)r;
		else
			assert_true(loop_run_once(loop, 5) >= 0);
	}
	assert_int_equal(n, sizeof(got));
	/* The client's own bytes, as written: what a TLS ClientHello would not be. */
	for (size_t i = 0; i < n; i++)
		if (got[i] != pattern(i))
			fail_msg("byte %zu differs: not plaintext", i);
	transport_close(cli.t, true);
	close(fd);
	close(pfd);
}

/*
 * The connector's own address, claimed as `forwarded: for=`, is of the destination's family: its
 * IPv4 to an IPv4 destination, its IPv6 (bracketed and quoted, RFC 7239 §6) to an IPv6 one, and
 * nothing to an IPv6 destination when it has no IPv6 (an IPv4 claim would be refused there).
 */
/* The test's listener on [::1] at the IPv4 one's port (lfd6), served by @h6. */
static void listen6(struct loop_handler *h6)
{
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int one = 1;

	lfd6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd6 >= 0);
	setsockopt(lfd6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	/* The port again after a test before closed it: its connections may be in TIME_WAIT. */
	setsockopt(lfd6, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a6.sin6_port = htons(lport);
	assert_int_equal(bind(lfd6, (struct sockaddr *)&a6, sizeof(a6)), 0);
	assert_int_equal(listen(lfd6, 16), 0);
	assert_int_equal(loop_add(loop, lfd6, EPOLLIN, h6), 0);
}

static void test_forwarded_by_family(void **state)
{
	struct loop_handler h6 = {.fn = on_accept};
	struct connector *self;
	union sockaddr_inet dst;

	listen6(&h6);
	self = connector_hbone_new(loop, cpool, lport, "10.0.0.9", creds, NULL);
	assert_non_null(self);
	mode = ECHO;

	for (int round = 0; round < 3; round++) {
		const char *want = round == 0	? "for=10.0.0.9"
				   : round == 1 ? ""
						: "for=\"[fd00::9]\"";

		if (round == 0) {
			sockaddr_inet_v4(&dst, htonl(INADDR_LOOPBACK), 9080);
		} else {
			struct ipaddr ip;

			assert_int_equal(ipaddr_parse_addr("::1", &ip), 0);
			sockaddr_inet_from_ipaddr(&dst, &ip, 9080);
		}
		if (round == 2)
			assert_int_equal(connector_hbone_set_self6(self, "fd00::9"), 0);
		free(cli.back);
		memset(&cli, 0, sizeof(cli));
		cli.back = malloc(TOTAL);
		seen_forwarded[0] = 1; /* not yet seen */
		cli.t = connector_open(self, &dst, ID_SERVER, 10000, &cli_cbs, NULL);
		assert_non_null(cli.t);
		run_until(echoed);
		assert_int_equal(cli.err, 0);
		assert_string_equal(seen_forwarded, want);
		transport_close(cli.t, false);
		transport_close(srv_t, false);
		srv_t = NULL;
	}
	connector_destroy(self);
	loop_del(loop, lfd6);
	close(lfd6);
	lfd6 = -1;
}

/*
 * A gateway's VIPs behind a waypoint (the via hook): 10.96.0.20 through 127.0.0.1 and
 * fd00:96::20 through ::1, each in its own family, the CONNECT's :authority the VIP's; a VIP
 * whose waypoint has no instance fails the open with the hook's errno.
 */
static int via(void *arg, const union sockaddr_inet *dst, union sockaddr_inet *out)
{
	char txt[SOCKADDR_INET_STRLEN];

	sockaddr_inet_format(dst, txt, sizeof(txt));
	if (!strcmp(txt, "10.96.0.20:9080")) {
		out->v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return 0;
	}
	if (!strcmp(txt, "[fd00:96::20]:9080")) {
		out->v6.sin6_addr = in6addr_loopback;
		return 0;
	}
	return !strcmp(txt, "[fd00:96::21]:9080") ? -EHOSTUNREACH : 1;
}

static void test_via_by_family(void **state)
{
	static const char *const vips[] = {"10.96.0.20", "fd00:96::20"};
	struct loop_handler h6 = {.fn = on_accept};
	union sockaddr_inet dst;
	struct ipaddr ip;
	char want[64];

	listen6(&h6);
	connector_hbone_set_via(cn, via, NULL);
	mode = ECHO;
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(ipaddr_parse_addr(vips[i], &ip), 0);
		assert_int_equal(sockaddr_inet_from_ipaddr(&dst, &ip, 9080), 0);
		free(cli.back);
		memset(&cli, 0, sizeof(cli));
		cli.back = malloc(TOTAL);
		seen_authority[0] = 0;
		cli.t = connector_open(cn, &dst, ID_SERVER, 10000, &cli_cbs, NULL);
		assert_non_null(cli.t);
		run_until(echoed);
		assert_int_equal(cli.err, 0);
		assert_int_equal(cli.got, TOTAL);
		sockaddr_inet_format(&dst, want, sizeof(want));
		assert_string_equal(seen_authority, want);
		transport_close(cli.t, false);
		transport_close(srv_t, false);
		srv_t = NULL;
	}
	assert_int_equal(ipaddr_parse_addr("fd00:96::21", &ip), 0);
	assert_int_equal(sockaddr_inet_from_ipaddr(&dst, &ip, 9080), 0);
	errno = 0;
	assert_null(connector_open(cn, &dst, ID_SERVER, 10000, &cli_cbs, NULL));
	assert_int_equal(errno, EHOSTUNREACH);
	connector_hbone_set_via(cn, NULL, NULL);
	loop_del(loop, lfd6);
	close(lfd6);
	lfd6 = -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_outside_mesh),  cmocka_unit_test(test_echo),
	    cmocka_unit_test(test_refused),	  cmocka_unit_test(test_reset_by_server),
	    cmocka_unit_test(test_unreachable),	  cmocka_unit_test(test_forwarded_by_family),
	    cmocka_unit_test(test_via_by_family),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
