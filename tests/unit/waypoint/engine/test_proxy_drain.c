// SPDX-License-Identifier: Apache-2.0
/*
 * A draining waypoint (SIGTERM: a rolling restart) fails no request a client has already sent on
 * a kept-alive connection, in process (the request engine over memory transports, wp_mem.h):
 * an idle connection stays a moment after the drain, and a request arriving on it then is
 * answered with "Connection: close" before the connection goes (a close at once would meet it
 * as a reset: the client sees a failed request); a connection accepted while draining is
 * answered likewise; one that stays idle goes after the grace, closed, not reset; a connection
 * mid-exchange finishes its exchange first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "ambit/l7.h"
#include "../../../lib/l7_world.h"
#include "net/loop.h"
#include "../../../../waypoint/engine/proxy.h"
#include "net/sock.h"
#include "../../../lib/wp_mem.h"

// clang-format off
static const char world_yaml[] =
	L7_WORLD_HEAD
	"apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: shop}\n"
	"spec: {selector: {app: reviews}, clusterIP: 10.96.0.10, ports: [{name: http, port: 9080}]}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: r1, namespace: shop, labels: {app: reviews}}\n"
	"spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.11}\n";
// clang-format on

#define GET "GET / HTTP/1.1\r\nhost: reviews\r\n\r\n"

static struct wp_mem W;

static int setup(void **state)
{
	char err[256];
	struct l7_config *l7 = l7_world_compile(world_yaml, err, sizeof(err));

	if (!l7)
		print_error("%s\n", err);
	wp_mem_start(&W, l7, (struct wp_engine_opts){0});
	return 0;
}

static int teardown(void **state)
{
	wp_mem_stop(&W);
	return 0;
}

/* A downstream connection as a CONNECT to the Service's VIP makes it, served by the engine. */
static struct transport *dial(void)
{
	struct transport_peer p = {.mtls = true,
				   .identity = (char *)"spiffe://cluster.local/ns/shop/sa/c"};
	union sockaddr_inet dst;
	struct transport *t;

	assert_int_equal(sock_parse_authority("10.96.0.10:9080", &dst), 0);
	assert_int_equal(sockaddr_inet_to_ipaddr(&dst, &p.dest_ip), 0);
	p.dest_port = sockaddr_inet_port(&dst);
	assert_int_equal(sock_parse_authority("10.1.0.99:40000", &p.client), 0);
	t = transport_mem_new(W.l, &p);
	assert_non_null(t);
	assert_int_equal(wp_engine_serve(W.e, t), 0);
	return t;
}

/* GET / on @t: the response's head and body into @in; whether it said "Connection: close". */
static bool get(struct transport *t, char *in, size_t len)
{
	assert_int_equal(transport_mem_input(t, GET, strlen(GET)), 0);
	assert_true(wp_mem_pump(&W, t, in, len) > 12);
	assert_int_equal(atoi(in + 9), 200);
	return strcasestr(in, "\r\nconnection: close\r\n") != NULL;
}

static bool closed(struct transport *t, bool *reset)
{
	return transport_mem_closed(t, reset) || transport_mem_shut(t);
}

static void test_idle_connection_answered_then_closed(void **state)
{
	struct transport *kept = dial(), *idle = dial();
	char in[4096];
	bool reset = true;

	/* Kept alive before the drain. */
	assert_false(get(kept, in, sizeof(in)));
	assert_false(get(idle, in, sizeof(in)));
	wp_engine_drain(W.e);
	wp_mem_pump(&W, kept, in, sizeof(in));
	assert_false(closed(kept, &reset)); /* not at once: a request may be on its way */
	/* The request that was on its way: answered, told to close, then the connection goes. */
	assert_true(get(kept, in, sizeof(in)));
	wp_mem_pump(&W, kept, in, sizeof(in));
	assert_true(closed(kept, &reset));
	/* A connection accepted while draining: its request answered the same way. */
	struct transport *late = dial();

	assert_true(get(late, in, sizeof(in)));
	wp_mem_pump(&W, late, in, sizeof(in));
	assert_true(closed(late, &reset));
	/* One that stays idle goes after the grace, with a FIN, not a reset. */
	for (int i = 0; i < 30 && !closed(idle, &reset); i++) {
		loop_run_once(W.l, 100);
		usleep(50 * 1000);
	}
	assert_true(closed(idle, &reset));
	assert_false(reset);
	transport_mem_free(kept);
	transport_mem_free(late);
	transport_mem_free(idle);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_idle_connection_answered_then_closed, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
