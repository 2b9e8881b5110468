// SPDX-License-Identifier: Apache-2.0
/*
 * The HTTP/1 upstream pool under a burst (issue 41): a thousand requests waiting at once for an
 * endpoint whose connects do not complete open H1_POOL_OPENING_MAX connections, not one each
 * (which, at 15,000 clients through one waypoint, filled its fd table and the kernel's backlogs:
 * 944 of 15,000 requests served and good clients not at all); once one connects, another opens.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "http1_conn.h"
#include "loop.h"
#include "transport.h"

#define WAITERS 1000

static struct loop *L;
static struct transport *opened[WAITERS];
static const struct transport_cbs *opened_cbs[WAITERS];
static void *opened_arg[WAITERS];
static size_t n_opened;

/* A connector whose connects complete only when the test says (the transport's on_open). */
static struct transport *mock_open(struct connector *c, const struct sockaddr_in *dst,
				   const char *identity, unsigned int timeout_ms,
				   const struct transport_cbs *cbs, void *arg)
{
	struct transport *t = transport_mem_new(L, NULL);

	assert_non_null(t);
	assert_true(n_opened < WAITERS);
	opened[n_opened] = t;
	opened_cbs[n_opened] = cbs;
	opened_arg[n_opened] = arg;
	n_opened++;
	return t;
}

static void mock_destroy(struct connector *c)
{
}

static const struct connector_impl mock_impl = {.open = mock_open, .destroy = mock_destroy};

static int ready, failed;

static void on_ready(struct h1_pool_wait *w, struct h1_client *c)
{
	ready++;
}

static void on_fail(struct h1_pool_wait *w, int err)
{
	failed++;
}

static void test_burst_opens_a_few(void **state)
{
	static struct h1_pool_wait w[WAITERS];
	struct connector cn = {.impl = &mock_impl};
	struct h1_pool_limits lim = {0};
	struct h1_budget budget = {0};
	struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(80)};
	struct h1_pool *p;

	L = loop_create();
	assert_non_null(L);
	inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
	p = h1_pool_new(L, &cn, &lim, &budget);
	assert_non_null(p);
	for (int i = 0; i < WAITERS; i++) {
		w[i].on_ready = on_ready;
		w[i].on_fail = on_fail;
		assert_int_equal(h1_pool_get(p, &dst, NULL, &w[i]), 0);
	}
	assert_int_equal(n_opened, H1_POOL_OPENING_MAX);
	assert_int_equal(ready + failed, 0);
	/* One connects: it serves the first waiter, and one more connect starts. */
	opened_cbs[0]->on_open(opened_arg[0]);
	loop_run_once(L, 0);
	assert_int_equal(ready, 1);
	assert_int_equal(n_opened, H1_POOL_OPENING_MAX + 1);
	for (int i = 1; i < WAITERS; i++)
		h1_pool_cancel(&w[i]);
	h1_pool_destroy(p);
	loop_run_once(L, 0);
	loop_destroy(L);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_opens_a_few),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
