// SPDX-License-Identifier: Apache-2.0
/*
 * The loop's millisecond timers: order (earliest first, arming order among equals), re-arming
 * and cancelling from callbacks, many timers at once, and the wait that ends when the earliest
 * is due even with no event. Waits are upper bounds for something that must happen; no test
 * measures how long anything took. And the sends queued on a loop (loop_send): made after the
 * batch with what the owner's buffer holds then, in order, cancelled or made at once on request,
 * a full socket or a closed peer reported, never a wait; from the loop's own thread through
 * io_uring with its wait where the kernel has it and AMBIT_IO_URING=1 asks for it, from another
 * thread (and by default) with send(). The suite runs once each way.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/loop.h"

#define container_of(p, T, m) ((T *)((char *)(p)-offsetof(T, m)))

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

/* ---- queued sends ---- */

struct owner {
	struct loop_send s;
	char buf[64 << 10];
	size_t len, big; /* big: a heap buffer of that size instead */
	char *heap;
	long res[8];
	int ndone;
	int order; /* the position its done came in */
};

static int done_seq;

static const void *owner_data(struct loop_send *s, size_t *len)
{
	struct owner *o = (struct owner *)s;

	*len = o->heap ? o->big : o->len;
	return o->heap ? o->heap : o->buf;
}

static void owner_done(struct loop_send *s, long res)
{
	struct owner *o = (struct owner *)s;

	if (o->ndone < 8)
		o->res[o->ndone] = res;
	o->ndone++;
	o->order = ++done_seq;
	if (res > 0 && !o->heap) {
		memmove(o->buf, o->buf + res, o->len - (size_t)res);
		o->len -= (size_t)res;
	}
}

static void owner_init(struct owner *o, int fd)
{
	memset(o, 0, sizeof(*o));
	o->s.fd = fd;
	o->s.data = owner_data;
	o->s.done = owner_done;
}

static void owner_put(struct owner *o, const char *text)
{
	memcpy(o->buf + o->len, text, strlen(text));
	o->len += strlen(text);
}

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static bool uring_wanted(void)
{
	const char *e = getenv("AMBIT_IO_URING");

	return e && strcmp(e, "1") == 0;
}

/* Whether this kernel offers io_uring's epoll wait (Linux 6.15) to this process. */
static bool kernel_has_uring(void)
{
	struct utsname u;
	int major = 0, minor = 0;
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
	int disabled = 0;

	if (f) {
		if (fscanf(f, "%d", &disabled) != 1)
			disabled = 0;
		fclose(f);
	}
	if (uname(&u) || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return false;
	return !disabled && (major > 6 || (major == 6 && minor >= 15));
}

/* Two writes of one batch leave in one send, after the batch, with what the buffer held then. */
static void test_send_batched(void **state)
{
	struct loop *l = loop_create();
	struct loop_stats st;
	struct owner o;
	char got[64];
	int sv[2];

	assert_non_null(l);
	pair(sv);
	owner_init(&o, sv[0]);
	loop_run_once(l, 0); /* the first round decides how the loop waits */
	owner_put(&o, "hello ");
	loop_send(l, &o.s);
	loop_send(l, &o.s); /* queued already: one send */
	owner_put(&o, "world");
	assert_int_equal(read(sv[1], got, sizeof(got)), -1);
	assert_int_equal(errno, EAGAIN);
	loop_run_once(l, 0);
	assert_int_equal(o.ndone, 1);
	assert_int_equal(o.res[0], 11);
	assert_int_equal(read(sv[1], got, sizeof(got)), 11);
	assert_memory_equal(got, "hello world", 11);
	loop_stats(l, &st);
	assert_int_equal(st.sends, 1);
	/* Through io_uring wherever the kernel has it, unless told not to. */
	if (strcmp(loop_backend(l), "io_uring") == 0)
		assert_int_equal(st.ring_sends, 1);
	else
		assert_int_equal(st.ring_sends, 0);
	if (!uring_wanted())
		assert_string_equal(loop_backend(l), "epoll");
	else if (kernel_has_uring())
		assert_string_equal(loop_backend(l), "io_uring");
	/* Nothing left: a send queued with an empty buffer completes with 0. */
	loop_send(l, &o.s);
	loop_run_once(l, 0);
	assert_int_equal(o.ndone, 2);
	assert_int_equal(o.res[1], 0);
	close(sv[0]);
	close(sv[1]);
	loop_destroy(l);
}

/* A round that queues a send and stops the loop: the send is made before loop_run returns. */
struct stop_owner {
	struct loop_handler h;
	struct loop *l;
	struct owner *o;
	int efd;
};

static void stop_on_event(struct loop_handler *h, uint32_t events)
{
	struct stop_owner *so = (struct stop_owner *)h;
	uint64_t v;

	assert_int_equal(read(so->efd, &v, sizeof(v)), (ssize_t)sizeof(v));
	owner_put(so->o, "last words");
	loop_send(so->l, &so->o->s);
	loop_stop(so->l);
}

static void test_send_before_stop(void **state)
{
	struct loop *l = loop_create();
	struct stop_owner so = {.h.fn = stop_on_event, .l = l};
	struct owner o;
	uint64_t one = 1;
	char got[64];
	int sv[2];

	assert_non_null(l);
	pair(sv);
	owner_init(&o, sv[0]);
	so.o = &o;
	so.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(so.efd >= 0);
	assert_int_equal(loop_add(l, so.efd, EPOLLIN, &so.h), 0);
	assert_int_equal(write(so.efd, &one, sizeof(one)), (ssize_t)sizeof(one));
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(o.ndone, 1);
	assert_int_equal(o.res[0], 10);
	assert_int_equal(read(sv[1], got, sizeof(got)), 10);
	assert_memory_equal(got, "last words", 10);
	loop_del(l, so.efd);
	close(so.efd);
	close(sv[0]);
	close(sv[1]);
	loop_destroy(l);
}

/*
 * What a send's owner queues in answer (a task that queues another send, as a WINDOW_UPDATE
 * after bytes were delivered) leaves before the loop waits, not one zero-timeout round later.
 */
struct answer {
	struct owner first, second;
	struct loop_task task;
	struct loop *l;
};

static void answer_task(struct loop_task *t)
{
	struct answer *a = container_of(t, struct answer, task);

	owner_put(&a->second, "window");
	loop_send(a->l, &a->second.s);
}

static void answer_done(struct loop_send *s, long res)
{
	struct answer *a = container_of((struct owner *)s, struct answer, first);

	owner_done(s, res);
	loop_queue(a->l, &a->task);
}

static void test_send_answer_before_wait(void **state)
{
	struct answer a;
	struct loop_stats st;
	char got[64];
	int sv[2];

	a.l = loop_create();
	assert_non_null(a.l);
	pair(sv);
	owner_init(&a.first, sv[0]);
	owner_init(&a.second, sv[0]);
	a.first.s.done = answer_done;
	memset(&a.task, 0, sizeof(a.task));
	a.task.fn = answer_task;
	loop_run_once(a.l, 0);
	owner_put(&a.first, "data ");
	loop_send(a.l, &a.first.s);
	loop_run_once(a.l, 0);
	if (strcmp(loop_backend(a.l), "epoll") == 0) {
		/* One round: the data, then the answer its done queued, then the wait. */
		loop_stats(a.l, &st);
		assert_int_equal(a.second.ndone, 1);
		assert_int_equal(st.sends, 2);
	} else {
		/* The ring reaps the first send with the wait: the answer goes with the next. */
		loop_run_once(a.l, 0);
		assert_int_equal(a.second.ndone, 1);
	}
	assert_int_equal(read(sv[1], got, sizeof(got)), 11);
	assert_memory_equal(got, "data window", 11);
	close(sv[0]);
	close(sv[1]);
	loop_destroy(a.l);
}

/* Sends complete in the order they were queued; a cancelled one never runs. */
static void test_send_order_cancel_now(void **state)
{
	struct loop *l = loop_create();
	struct owner a, b, c;
	char got[64];
	int s1[2], s2[2], s3[2];

	assert_non_null(l);
	pair(s1);
	pair(s2);
	pair(s3);
	owner_init(&a, s1[0]);
	owner_init(&b, s2[0]);
	owner_init(&c, s3[0]);
	owner_put(&a, "a");
	owner_put(&b, "b");
	owner_put(&c, "c");
	done_seq = 0;
	loop_send(l, &b.s);
	loop_send(l, &a.s);
	loop_send(l, &c.s);
	loop_send_cancel(l, &c.s);
	loop_send_cancel(l, &c.s); /* not queued: a no-op */
	loop_run_once(l, 0);
	assert_int_equal(b.order, 1);
	assert_int_equal(a.order, 2);
	assert_int_equal(c.ndone, 0);
	assert_int_equal(read(s3[1], got, sizeof(got)), -1);
	/* Made at once (an owner closing its socket): no done, nothing left queued. */
	loop_send(l, &c.s);
	assert_int_equal(loop_send_now(l, &c.s), 1);
	c.len = 0; /* the owner takes the result itself */
	assert_int_equal(read(s3[1], got, sizeof(got)), 1);
	assert_int_equal(loop_send_now(l, &c.s), 0);
	loop_run_once(l, 0);
	assert_int_equal(c.ndone, 0);
	/* The last of the queue cancelled, then another queued: the queue's tail is right. */
	loop_send(l, &a.s);
	loop_send(l, &b.s);
	loop_send_cancel(l, &b.s);
	owner_put(&c, "z");
	loop_send(l, &c.s);
	loop_run_once(l, 0);
	assert_int_equal(c.ndone, 1);
	assert_int_equal(read(s3[1], got, sizeof(got)), 1);
	assert_int_equal(b.ndone, 1);
	for (int i = 0; i < 2; i++) {
		close(s1[i]);
		close(s2[i]);
		close(s3[i]);
	}
	loop_destroy(l);
}

/* A full socket takes part or nothing (no wait); a closed peer is an error, not a signal. */
static void test_send_full_and_closed(void **state)
{
	struct loop *l = loop_create();
	struct owner o;
	int sv[2];

	assert_non_null(l);
	pair(sv);
	owner_init(&o, sv[0]);
	o.big = 8u << 20;
	o.heap = calloc(1, o.big);
	assert_non_null(o.heap);
	loop_send(l, &o.s);
	loop_run_once(l, 0);
	assert_int_equal(o.ndone, 1);
	assert_true(o.res[0] > 0 && o.res[0] < (long)o.big);
	loop_send(l, &o.s);
	loop_run_once(l, 0);
	assert_int_equal(o.ndone, 2);
	assert_int_equal(o.res[1], -EAGAIN);
	close(sv[1]);
	loop_send(l, &o.s);
	loop_run_once(l, 0);
	assert_int_equal(o.ndone, 3);
	assert_true(o.res[2] == -EPIPE || o.res[2] == -ECONNRESET);
	free(o.heap);
	close(sv[0]);
	loop_destroy(l);
}

struct other {
	struct loop *l;
	struct owner *o;
};

static void *run_elsewhere(void *arg)
{
	struct other *x = arg;

	loop_send(x->l, &x->o->s);
	loop_run_once(x->l, 0);
	return NULL;
}

/* A round run by another thread than the ring's (a proxy's last rounds at its end) works. */
static void test_send_other_thread(void **state)
{
	struct loop *l = loop_create();
	struct owner o;
	struct other x = {l, &o};
	pthread_t t;
	char got[8];
	int sv[2];

	assert_non_null(l);
	pair(sv);
	owner_init(&o, sv[0]);
	loop_run_once(l, 0);
	owner_put(&o, "xy");
	assert_int_equal(pthread_create(&t, NULL, run_elsewhere, &x), 0);
	pthread_join(t, NULL);
	assert_int_equal(o.ndone, 1);
	assert_int_equal(o.res[0], 2);
	assert_int_equal(read(sv[1], got, sizeof(got)), 2);
	/* And the ring's own thread goes on with it. */
	owner_put(&o, "z");
	loop_send(l, &o.s);
	loop_run_once(l, 0);
	assert_int_equal(o.ndone, 2);
	assert_int_equal(read(sv[1], got, sizeof(got)), 1);
	close(sv[0]);
	close(sv[1]);
	loop_destroy(l);
}

/* ---- sockets the loop reads (loop_add_rx) ---- */

struct reader {
	struct loop_handler h;
	struct loop *l;
	int fd;
	bool take;  /* reads what it is told of */
	bool close; /* closes its socket from its callback, at the peer's end */
	size_t got;
	unsigned char sum; /* of the bytes, in order */
	int calls, eofs, errs;
	unsigned char last;
};

static void reader_on(struct loop_handler *h, uint32_t events)
{
	struct reader *r = (struct reader *)h;
	char buf[5000];

	r->calls++;
	if (!r->take)
		return;
	for (;;) {
		bool drained = false;
		ssize_t n = loop_recv(r->l, &r->h, r->fd, buf, sizeof(buf), &drained);

		if (n > 0) {
			for (ssize_t i = 0; i < n; i++)
				r->sum = (unsigned char)(r->sum * 31 + (unsigned char)buf[i]);
			r->got += (size_t)n;
			if (drained)
				break;
			continue;
		}
		if (n == 0) {
			r->eofs++;
			loop_mod(r->l, r->fd, 0, &r->h);
			if (r->close) {
				r->h.dead = true;
				loop_del_handler(r->l, r->fd, &r->h);
				close(r->fd);
				r->fd = -1;
			}
		} else if (n != -EAGAIN) {
			r->errs++;
		}
		break;
	}
}

static void reader_init(struct reader *r, struct loop *l, int fd)
{
	memset(r, 0, sizeof(*r));
	r->h.fn = reader_on;
	r->l = l;
	r->fd = fd;
	r->take = true;
}

/* Bytes and the peer's end come as EPOLLIN and are taken with loop_recv, level-triggered. */
static void test_rx_read_and_eof(void **state)
{
	struct loop *l = loop_create();
	struct loop_stats st;
	struct reader r;
	int sv[2];

	assert_non_null(l);
	pair(sv);
	loop_run_once(l, 0);
	reader_init(&r, l, sv[0]);
	assert_int_equal(loop_add_rx(l, sv[0], EPOLLIN, &r.h), 0);
	assert_int_equal(write(sv[1], "abc", 3), 3);
	for (int i = 0; i < 50 && r.got < 3; i++)
		loop_run_once(l, 100);
	assert_int_equal(r.got, 3);
	loop_stats(l, &st);
	if (strcmp(loop_backend(l), "io_uring") == 0)
		assert_true(st.ring_recvs >= 1);
	else
		assert_int_equal(st.ring_recvs, 0);
	/* Data and the end together: the bytes first, then 0. */
	assert_int_equal(write(sv[1], "de", 2), 2);
	shutdown(sv[1], SHUT_WR);
	for (int i = 0; i < 50 && !r.eofs; i++)
		loop_run_once(l, 100);
	assert_int_equal(r.got, 5);
	assert_int_equal(r.eofs, 1);
	assert_int_equal(r.errs, 0);
	/* Not asked for any more (EPOLLIN off): not told again. */
	int calls = r.calls;
	loop_run_once(l, 0);
	loop_run_once(l, 0);
	assert_int_equal(r.calls, calls);
	loop_del_handler(l, sv[0], &r.h);
	close(sv[0]);
	close(sv[1]);
	loop_run_once(l, 0);
	loop_destroy(l);
}

/*
 * An owner that stops asking (EPOLLIN off) is not told; what arrives meanwhile is held up to a
 * bound, the socket holding the rest (the writer sees a full socket); asked again, it gets
 * every byte in order.
 */
static void test_rx_pause_bounded(void **state)
{
	enum { TOTAL = 4 << 20 };
	struct loop *l = loop_create();
	struct reader r;
	char *data = malloc(TOTAL);
	unsigned char want = 0;
	size_t sent = 0;
	int sv[2], buf = 64 << 10;

	assert_non_null(l);
	assert_non_null(data);
	for (size_t i = 0; i < TOTAL; i++) {
		data[i] = (char)(i * 7 + (i >> 9));
		want = (unsigned char)(want * 31 + (unsigned char)data[i]);
	}
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	loop_run_once(l, 0);
	reader_init(&r, l, sv[0]);
	r.take = false;
	assert_int_equal(loop_add_rx(l, sv[0], 0, &r.h), 0);
	for (int i = 0; i < 200 && sent < TOTAL; i++) {
		ssize_t n = write(sv[1], data + sent, TOTAL - sent);

		if (n > 0)
			sent += (size_t)n;
		loop_run_once(l, 0);
	}
	/* Never asked: never told, and the writer was held back long before the end. */
	assert_int_equal(r.calls, 0);
	assert_true(sent < TOTAL);
	r.take = true;
	loop_mod(l, sv[0], EPOLLIN, &r.h);
	for (int i = 0; i < 20000 && r.got < TOTAL; i++) {
		if (sent < TOTAL) {
			ssize_t n = write(sv[1], data + sent, TOTAL - sent);

			if (n > 0)
				sent += (size_t)n;
		}
		loop_run_once(l, 10);
	}
	assert_int_equal(r.got, TOTAL);
	assert_int_equal(r.sum, want);
	loop_del_handler(l, sv[0], &r.h);
	close(sv[0]);
	close(sv[1]);
	free(data);
	loop_run_once(l, 0);
	loop_destroy(l);
}

/* An owner closing its socket from its own callback, and one whose loop ends with it armed. */
static void test_rx_close_in_callback(void **state)
{
	struct loop *l = loop_create();
	struct reader r, idle;
	int sv[2], sv2[2];

	assert_non_null(l);
	pair(sv);
	pair(sv2);
	loop_run_once(l, 0);
	reader_init(&r, l, sv[0]);
	r.close = true;
	assert_int_equal(loop_add_rx(l, sv[0], EPOLLIN, &r.h), 0);
	reader_init(&idle, l, sv2[0]);
	assert_int_equal(loop_add_rx(l, sv2[0], EPOLLIN, &idle.h), 0);
	assert_int_equal(write(sv[1], "x", 1), 1);
	close(sv[1]);
	for (int i = 0; i < 50 && !r.eofs; i++)
		loop_run_once(l, 100);
	assert_int_equal(r.eofs, 1);
	assert_int_equal(r.got, 1);
	assert_int_equal(r.fd, -1);
	loop_run_once(l, 0);
	loop_run_once(l, 0);
	/* The other one is still armed when the loop goes: freed with it. */
	loop_destroy(l);
	assert_null(idle.h.rx);
	close(sv2[0]);
	close(sv2[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order),
	    cmocka_unit_test(test_rearm_and_cancel),
	    cmocka_unit_test(test_many),
	    cmocka_unit_test(test_run_wakes_for_timer),
	    cmocka_unit_test(test_destroy_armed),
	    cmocka_unit_test(test_send_batched),
	    cmocka_unit_test(test_send_order_cancel_now),
	    cmocka_unit_test(test_send_before_stop),
	    cmocka_unit_test(test_send_answer_before_wait),
	    cmocka_unit_test(test_send_full_and_closed),
	    cmocka_unit_test(test_send_other_thread),
	    cmocka_unit_test(test_rx_read_and_eof),
	    cmocka_unit_test(test_rx_pause_bounded),
	    cmocka_unit_test(test_rx_close_in_callback),
	};
	int failed;

	signal(SIGPIPE, SIG_IGN);
	setenv("AMBIT_IO_URING", "1", 1);
	failed = cmocka_run_group_tests_name("io_uring", tests, NULL, NULL);
	unsetenv("AMBIT_IO_URING"); /* the default */
	failed += cmocka_run_group_tests_name("epoll", tests, NULL, NULL);
	return failed;
}
