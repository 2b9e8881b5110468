// SPDX-License-Identifier: Apache-2.0
/*
 * The HTTP/1 upstream pool against a real TCP server on 127.0.0.1 (userspace/http/http1_pool.c):
 * the keep-alive race of issue 41 §2, where the server closes a pooled connection while it is
 * idle and the FIN (or RST) arrives before the loop has read it. The test closes the server's
 * side and asks the pool again without running the loop in between: the pool must see the close
 * itself (transport_stale) and hand over a new connection, never the closed one.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "http/http1_conn.h"
#include "net/loop.h"
#include "net/transport.h"

/* Bounds a broken pool's waits; never a measure of time. */
#define TURNS 2000

struct ex {
	struct h1_pool_wait w;
	struct h1_client *c;
	int fail_err, error, status, ends;
};

static void ex_ready(struct h1_pool_wait *w, struct h1_client *c)
{
	((struct ex *)w)->c = c;
}

static void ex_fail(struct h1_pool_wait *w, int err)
{
	((struct ex *)w)->fail_err = err ? err : -EIO;
}

static void ex_response(void *arg, struct h1_head *head)
{
	struct ex *x = arg;

	x->status = head->status;
	h1_head_free(head);
}

static void ex_body(void *arg, const char *data, size_t len)
{
}

static void ex_end(void *arg)
{
	((struct ex *)arg)->ends++;
}

static void ex_error(void *arg, int err)
{
	((struct ex *)arg)->error = err ? err : -EIO;
}

static const struct h1_client_ops ex_ops = {
    .on_response = ex_response,
    .on_body = ex_body,
    .on_end = ex_end,
    .on_error = ex_error,
};

struct world {
	struct loop *l;
	struct connector *cn;
	struct h1_pool *p;
	struct h1_budget budget;
	union sockaddr_inet dst;
	int lfd;
};

static void world_up(struct world *w)
{
	struct h1_pool_limits lim = {0};
	socklen_t len = sizeof(w->dst.v4);

	memset(w, 0, sizeof(*w));
	w->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(w->lfd >= 0);
	w->dst.v4.sin_family = AF_INET;
	w->dst.v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(w->lfd, &w->dst.sa, sizeof(w->dst.v4)), 0);
	assert_int_equal(listen(w->lfd, 8), 0);
	assert_int_equal(getsockname(w->lfd, &w->dst.sa, &len), 0);
	w->l = loop_create();
	assert_non_null(w->l);
	w->cn = connector_tcp_new(w->l);
	assert_non_null(w->cn);
	w->p = h1_pool_new(w->l, w->cn, &lim, &w->budget);
	assert_non_null(w->p);
}

static void world_down(struct world *w)
{
	h1_pool_destroy(w->p);
	for (int i = 0; i < 10; i++)
		loop_run_once(w->l, 0);
	connector_destroy(w->cn);
	loop_destroy(w->l);
	close(w->lfd);
}

/* The server's side of the next connection, or -1 when none comes within the bound. */
static int server_accept(struct world *w)
{
	struct pollfd pfd = {.fd = w->lfd, .events = POLLIN};

	for (int i = 0; i < TURNS; i++) {
		loop_run_once(w->l, 1);
		if (poll(&pfd, 1, 1) == 1)
			return accept4(w->lfd, NULL, NULL, SOCK_CLOEXEC);
	}
	return -1;
}

static void run_until(struct world *w, const int *flag, const int *flag2)
{
	for (int i = 0; i < TURNS && !*flag && !(flag2 && *flag2); i++)
		loop_run_once(w->l, 1);
}

static void get(struct world *w, struct ex *x)
{
	memset(x, 0, sizeof(*x));
	x->w.on_ready = ex_ready;
	x->w.on_fail = ex_fail;
	assert_int_equal(h1_pool_get(w->p, &w->dst, NULL, &x->w), 0);
}

static void wait_conn(struct world *w, struct ex *x)
{
	for (int i = 0; i < TURNS && !x->c && !x->fail_err; i++)
		loop_run_once(w->l, 1);
	assert_int_equal(x->fail_err, 0);
	assert_non_null(x->c);
}

/* One GET on @x's connection, answered by the server on @sfd; 0 when the answer came whole. */
static int exchange(struct world *w, struct ex *x, int sfd)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	struct h1_head req = {0};
	char buf[4096];
	ssize_t n = 0;
	int rc;

	req.method = h1_head_strdup(&req, "GET");
	req.target = h1_head_strdup(&req, "/");
	req.minor = 1;
	assert_int_equal(http_fields_add(&req.fields, "host", "web"), 0);
	h1_client_bind(x->c, &ex_ops, x);
	rc = h1_client_request(x->c, &req, H1_FRAMING_NONE, 0);
	h1_head_free(&req);
	if (!rc)
		rc = h1_client_end(x->c);
	if (rc)
		return rc;
	/* The request reaches the server (or the connection is found dead first). */
	for (int i = 0; i < TURNS && !x->error; i++) {
		struct pollfd pfd = {.fd = sfd, .events = POLLIN};

		loop_run_once(w->l, 1);
		if (poll(&pfd, 1, 0) == 1) {
			n = recv(sfd, buf, sizeof(buf), 0);
			break;
		}
	}
	if (x->error)
		return x->error;
	if (n <= 0 || !memmem(buf, (size_t)n, "\r\n\r\n", 4))
		return -EPIPE;
	if (send(sfd, answer, sizeof(answer) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(answer) - 1)
		return -EPIPE;
	run_until(w, &x->ends, &x->error);
	return x->error ? x->error : x->ends == 1 && x->status == 200 ? 0 : -EPROTO;
}

/*
 * The world up and client @a's first GET answered on a new connection; returns the server's
 * side of it.
 */
static int first_exchange(struct world *w, struct ex *a)
{
	int s1;

	world_up(w);
	get(w, a);
	s1 = server_accept(w);
	assert_true(s1 >= 0);
	wait_conn(w, a);
	assert_int_equal(exchange(w, a, s1), 0);
	return s1;
}

/* @a's connection back in the pool, then handed to @b's request. */
static void reuse(struct world *w, struct ex *a, struct ex *b)
{
	h1_pool_put(a->c, true, false);
	get(w, b);
	wait_conn(w, b);
	assert_ptr_equal(b->c, a->c);
}

/* @how closes the server's side of a pooled connection while it is idle. */
static void stale_case(bool reset)
{
	struct world w;
	struct ex a, b;
	uint64_t dropped = h1_pool_stale_dropped();
	int s1, s2;
	size_t idle = 0;

	s1 = first_exchange(&w, &a);
	assert_false(h1_client_reused(a.c));
	h1_pool_put(a.c, true, false);
	assert_int_equal(h1_pool_size(w.p, &idle), 1);
	assert_int_equal(idle, 1);

	/* The server gives the idle connection up; the pool is asked before the loop runs. */
	if (reset) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};

		assert_int_equal(setsockopt(s1, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	}
	close(s1);
	get(&w, &b);

	/* A new connection serves the request: the server sees it on a second accept. */
	s2 = server_accept(&w);
	assert_true(s2 >= 0);
	wait_conn(&w, &b);
	assert_int_equal(exchange(&w, &b, s2), 0);
	assert_false(h1_client_reused(b.c));
	assert_int_equal(h1_pool_stale_dropped(), dropped + 1);
	h1_pool_put(b.c, true, false);
	close(s2);
	world_down(&w);
}

static void test_idle_closed_by_fin(void **state)
{
	stale_case(false);
}

static void test_idle_closed_by_rst(void **state)
{
	stale_case(true);
}

/*
 * A request that can go again (retry_safe: the waypoint's idempotent ones) takes the idle
 * connection without the peek, a system call per request: closed a moment ago and not yet read,
 * it is handed over, and the request on it fails (-EPIPE: the FIN read meanwhile) the way
 * stale_retry answers (reused, nothing heard). The peek would have dropped it (stale_case), so this
 * fails where the pool peeks.
 */
static void test_retry_safe_no_peek(void **state)
{
	struct world w;
	struct ex a, b;
	uint64_t dropped = h1_pool_stale_dropped();
	int s1, rc;

	s1 = first_exchange(&w, &a);
	h1_pool_put(a.c, true, false);
	close(s1);
	memset(&b, 0, sizeof(b));
	b.w.on_ready = ex_ready;
	b.w.on_fail = ex_fail;
	b.w.retry_safe = true;
	assert_int_equal(h1_pool_get(w.p, &w.dst, NULL, &b.w), 0);
	assert_int_equal(h1_pool_stale_dropped(), dropped);
	wait_conn(&w, &b);
	assert_ptr_equal(b.c, a.c);
	rc = exchange(&w, &b, -1);
	assert_int_equal(rc, -EPIPE);
	assert_true(h1_client_reused(b.c));
	assert_false(h1_client_heard(b.c));
	h1_pool_put(b.c, false, true);
	world_down(&w);
}

/* What the loop has read still counts with retry_safe: a FIN read while idle drops it. */
static void test_retry_safe_eof_read(void **state)
{
	struct world w;
	struct ex a, b;
	int s1, s2;

	s1 = first_exchange(&w, &a);
	h1_pool_put(a.c, true, false);
	close(s1);
	for (int i = 0; i < 50; i++)
		loop_run_once(w.l, 1);
	memset(&b, 0, sizeof(b));
	b.w.on_ready = ex_ready;
	b.w.on_fail = ex_fail;
	b.w.retry_safe = true;
	assert_int_equal(h1_pool_get(w.p, &w.dst, NULL, &b.w), 0);
	s2 = server_accept(&w);
	assert_true(s2 >= 0);
	wait_conn(&w, &b);
	assert_int_equal(exchange(&w, &b, s2), 0);
	assert_false(h1_client_reused(b.c));
	h1_pool_put(b.c, true, false);
	close(s2);
	world_down(&w);
}

/*
 * The server closes the connection after the pool handed it to a request but before that
 * request was written (the pool's task told the holder; the FIN is read next): the holder must
 * find it dead, never write the request on it and wait for an answer that cannot come.
 */
static void test_closed_while_handed(void **state)
{
	struct world w;
	struct ex a, b;
	struct h1_head req = {0};
	size_t idle = 9;
	int s1;

	s1 = first_exchange(&w, &a);
	reuse(&w, &a, &b);
	close(s1);
	for (int i = 0; i < 50; i++)
		loop_run_once(w.l, 1);
	req.method = h1_head_strdup(&req, "GET");
	req.target = h1_head_strdup(&req, "/");
	req.minor = 1;
	h1_client_bind(b.c, &ex_ops, &b);
	assert_int_equal(h1_client_request(b.c, &req, H1_FRAMING_NONE, 0), -EPIPE);
	h1_head_free(&req);
	assert_true(h1_client_reused(b.c));
	assert_false(h1_client_heard(b.c));
	h1_pool_put(b.c, true, false);
	assert_int_equal(h1_pool_size(w.p, &idle), 0);
	assert_int_equal(idle, 0);
	world_down(&w);
}

/* A connection nobody closed is reused, and says so (h1_client_reused). */
static void test_live_reused(void **state)
{
	struct world w;
	struct ex a, b;
	uint64_t dropped = h1_pool_stale_dropped();
	int s1;

	s1 = first_exchange(&w, &a);
	reuse(&w, &a, &b);
	assert_int_equal(exchange(&w, &b, s1), 0);
	assert_true(h1_client_reused(b.c));
	assert_false(h1_client_heard(b.c) && b.ends == 0);
	assert_int_equal(h1_pool_stale_dropped(), dropped);
	h1_pool_put(b.c, true, false);
	close(s1);
	world_down(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_idle_closed_by_fin),	cmocka_unit_test(test_idle_closed_by_rst),
	    cmocka_unit_test(test_closed_while_handed), cmocka_unit_test(test_live_reused),
	    cmocka_unit_test(test_retry_safe_no_peek),	cmocka_unit_test(test_retry_safe_eof_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
