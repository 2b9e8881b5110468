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

#include "http/http1_conn.h"
#include "net/loop.h"
#include "net/transport.h"

#define WAITERS 1000

static struct loop *L;
static struct transport *opened[WAITERS];
static const struct transport_cbs *opened_cbs[WAITERS];
static void *opened_arg[WAITERS];
static size_t n_opened;

/* A connector whose connects complete only when the test says (the transport's on_open). */
static struct transport *mock_open(struct connector *c, const union sockaddr_inet *dst,
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
static struct h1_pool_wait *served[WAITERS];

static void on_ready(struct h1_pool_wait *w, struct h1_client *c)
{
	served[ready++] = w;
}

static void on_fail(struct h1_pool_wait *w, int err)
{
	failed++;
}

static struct connector cn = {.impl = &mock_impl};
static union sockaddr_inet dst = {.v4 = {.sin_family = AF_INET}};

/* A fresh loop and a pool on the mock connector, counting against @budget; @n waiters queued. */
static struct h1_pool *pool_with_waiters(struct h1_budget *budget, struct h1_pool_wait *w, int n)
{
	struct h1_pool_limits lim = {0};
	struct h1_pool *p;

	L = loop_create();
	assert_non_null(L);
	n_opened = 0;
	ready = failed = 0;
	dst.v4.sin_port = htons(80);
	inet_pton(AF_INET, "127.0.0.1", &dst.v4.sin_addr);
	p = h1_pool_new(L, &cn, &lim, budget);
	assert_non_null(p);
	for (int i = 0; i < n; i++) {
		w[i].on_ready = on_ready;
		w[i].on_fail = on_fail;
		assert_int_equal(h1_pool_get(p, &dst, NULL, &w[i]), 0);
	}
	return p;
}

static void test_burst_opens_a_few(void **state)
{
	static struct h1_pool_wait w[WAITERS];
	struct h1_budget budget = {0};
	struct h1_pool *p = pool_with_waiters(&budget, w, WAITERS);

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

/*
 * Waiters leave the queue from anywhere (a client gone, a timeout) in O(1): the first, a middle
 * and the last cancelled, the others are served oldest first and their budget is given back.
 */
static void test_cancel_anywhere(void **state)
{
	static struct h1_pool_wait w[5];
	struct h1_budget budget = {0};
	struct h1_pool *p = pool_with_waiters(&budget, w, 5);

	assert_int_equal(budget.pending, 5);
	h1_pool_cancel(&w[2]);
	h1_pool_cancel(&w[0]);
	h1_pool_cancel(&w[4]);
	h1_pool_cancel(&w[4]); /* twice: nothing more */
	assert_int_equal(budget.pending, 2);
	for (size_t k = 0; k < 3; k++) {
		opened_cbs[k]->on_open(opened_arg[k]);
		loop_run_once(L, 0);
	}
	assert_int_equal(ready, 2);
	assert_ptr_equal(served[0], &w[1]);
	assert_ptr_equal(served[1], &w[3]);
	assert_int_equal(budget.pending, 0);
	assert_int_equal(failed, 0);
	h1_pool_destroy(p);
	loop_run_once(L, 0);
	loop_destroy(L);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_opens_a_few),
	    cmocka_unit_test(test_cancel_anywhere),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
