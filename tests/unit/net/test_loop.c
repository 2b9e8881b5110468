// SPDX-License-Identifier: Apache-2.0
/*
 * The loop's millisecond timers: order (earliest first, arming order among equals), re-arming
 * and cancelling from callbacks, many timers at once, and the wait that ends when the earliest
 * is due even with no event. Waits are upper bounds for something that must happen; no test
 * measures how long anything took.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "net/loop.h"

#define MAX_FIRED 4096

struct tt {
	struct loop_timer t;
	struct loop *l;
	int id;
	int rearm;	   /* times to arm itself again from its callback */
	struct tt *cancel; /* cancelled from this one's callback */
};

static int fired[MAX_FIRED];
static size_t nfired;

static void on_fire(struct loop_timer *t)
{
	struct tt *x = (struct tt *)((char *)t - offsetof(struct tt, t));

	if (nfired < MAX_FIRED)
		fired[nfired++] = x->id;
	if (x->cancel)
		loop_timer_cancel(x->l, &x->cancel->t);
	if (x->rearm > 0) {
		x->rearm--;
		assert_int_equal(loop_timer_arm(x->l, t, 0), 0);
	}
}

/* Runs @l until @n timers fired, for at most about 5 s (far more than any wait here). */
static void run_until(struct loop *l, size_t n)
{
	for (int i = 0; i < 5000 && nfired < n; i++)
		assert_true(loop_run_once(l, 1) >= 0);
	assert_int_equal(nfired, n);
}

static void init(struct tt *x, struct loop *l, int id)
{
	*x = (struct tt){.t.fn = on_fire, .l = l, .id = id};
}

static void test_order(void **state)
{
	struct loop *l = loop_create();
	struct tt a, b, c, d;

	assert_non_null(l);
	nfired = 0;
	init(&a, l, 1);
	init(&b, l, 2);
	init(&c, l, 3);
	init(&d, l, 4);
	assert_int_equal(loop_timer_arm(l, &a.t, 30), 0);
	assert_int_equal(loop_timer_arm(l, &b.t, 10), 0);
	assert_int_equal(loop_timer_arm(l, &c.t, 10), 0);
	assert_int_equal(loop_timer_arm(l, &d.t, 20), 0);
	assert_true(loop_timer_armed(&a.t));
	run_until(l, 4);
	assert_int_equal(fired[0], 2);
	assert_int_equal(fired[1], 3);
	assert_int_equal(fired[2], 4);
	assert_int_equal(fired[3], 1);
	assert_false(loop_timer_armed(&a.t) || loop_timer_armed(&b.t) || loop_timer_armed(&c.t) ||
		     loop_timer_armed(&d.t));
	loop_destroy(l);
}

static void test_rearm_and_cancel(void **state)
{
	struct loop *l = loop_create();
	struct tt a, b, c;

	assert_non_null(l);
	nfired = 0;
	init(&a, l, 1);
	init(&b, l, 2);
	init(&c, l, 3);
	/* a re-arms itself twice (0 ms: never twice in one round) and cancels c on its way. */
	a.rearm = 2;
	a.cancel = &c;
	assert_int_equal(loop_timer_arm(l, &a.t, 5), 0);
	assert_int_equal(loop_timer_arm(l, &c.t, 200), 0);
	/* Re-arming moves a timer, it does not add a second one. */
	assert_int_equal(loop_timer_arm(l, &b.t, 10000), 0);
	assert_int_equal(loop_timer_arm(l, &b.t, 15), 0);
	run_until(l, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_not_equal(fired[i], 3);
	assert_false(loop_timer_armed(&c.t));
	/* A cancel of a timer not armed, and of one armed again, are fine. */
	loop_timer_cancel(l, &c.t);
	assert_int_equal(loop_timer_arm(l, &c.t, 1), 0);
	loop_timer_cancel(l, &c.t);
	assert_false(loop_timer_armed(&c.t));
	for (int i = 0; i < 50; i++)
		loop_run_once(l, 1);
	assert_int_equal(nfired, 4);
	loop_destroy(l);
}

/* Thousands of timers armed and cancelled in a scattered order still fire in order, once each. */
static void test_many(void **state)
{
	enum { N = 3000 };
	struct loop *l = loop_create();
	struct tt *x = calloc(N, sizeof(*x));
	size_t live = 0;

	assert_non_null(l);
	assert_non_null(x);
	nfired = 0;
	for (int i = 0; i < N; i++) {
		init(&x[i], l, i);
		assert_int_equal(loop_timer_arm(l, &x[i].t, (unsigned int)((i * 7919) % 97)), 0);
	}
	for (int i = 0; i < N; i += 3)
		loop_timer_cancel(l, &x[i].t);
	for (int i = 0; i < N; i++)
		live += loop_timer_armed(&x[i].t);
	run_until(l, live);
	for (size_t i = 1; i < nfired; i++) {
		unsigned int a = (unsigned int)((fired[i - 1] * 7919) % 97);
		unsigned int b = (unsigned int)((fired[i] * 7919) % 97);

		assert_true(a < b || (a == b && fired[i - 1] < fired[i]));
		assert_int_not_equal(fired[i] % 3, 0);
	}
	loop_destroy(l);
	free(x);
}

/* With nothing but a timer, loop_run wakes for it: a callback that stops the loop ends the run. */
static struct loop *stop_me;

static void stop_fire(struct loop_timer *t)
{
	loop_stop(stop_me);
}

static void test_run_wakes_for_timer(void **state)
{
	struct loop_timer t = {.fn = stop_fire};

	stop_me = loop_create();
	assert_non_null(stop_me);
	assert_int_equal(loop_timer_arm(stop_me, &t, 50), 0);
	assert_int_equal(loop_run(stop_me), 0);
	assert_false(loop_timer_armed(&t));
	assert_true(loop_now_ms(stop_me) / 1000 == (uint64_t)loop_now(stop_me));
	loop_destroy(stop_me);
}

/* A loop destroyed with timers armed leaves them disarmed (their owners free them). */
static void test_destroy_armed(void **state)
{
	struct loop *l = loop_create();
	struct tt a;

	assert_non_null(l);
	init(&a, l, 1);
	assert_int_equal(loop_timer_arm(l, &a.t, 1000), 0);
	loop_destroy(l);
	assert_false(loop_timer_armed(&a.t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order),	  cmocka_unit_test(test_rearm_and_cancel),
	    cmocka_unit_test(test_many),	  cmocka_unit_test(test_run_wakes_for_timer),
	    cmocka_unit_test(test_destroy_armed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
