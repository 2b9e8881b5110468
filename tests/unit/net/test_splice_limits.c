// SPDX-License-Identifier: Apache-2.0
/*
 * The plaintext legs (15001/15006) under abuse: admission caps per listener and per source IP
 * (guard.c), and the deadlines of a splice (splice.c): an upstream connect that never
 * completes, a connection over which nothing ever moves (an idle flood's), and one that falls
 * silent; a connection that keeps talking is left alone. Real loopback sockets on a loop run
 * in a thread; the waits are upper bounds for something that must happen, never measurements.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/guard.h"
#include "net/splice.h"
#include "../../lib/harness.h"

/*
 * The splice loop's reads, counted while `counting` is set (defined here, this recv takes the
 * place of libc's for the objects linked in; the test's own sockets use read and write).
 */
static struct {
	int counting;
	int recvs, recv_eagain;
} sc;

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	ssize_t n = recvfrom(fd, buf, len, flags, NULL, NULL);

	if (__atomic_load_n(&sc.counting, __ATOMIC_SEQ_CST)) {
		__atomic_add_fetch(&sc.recvs, 1, __ATOMIC_SEQ_CST);
		if (n < 0 && errno == EAGAIN)
			__atomic_add_fetch(&sc.recv_eagain, 1, __ATOMIC_SEQ_CST);
	}
	return n;
}

static unsigned long timed_out(enum guard_listener l, const char *phase)
{
	char *text = guard_metrics_render(), want[128], *p;
	unsigned long v = 0;

	assert_non_null(text);
	snprintf(want, sizeof(want),
		 "ambit_connections_timed_out_total{listener=\"%s\",phase=\"%s\"} ",
		 l == GUARD_OUTBOUND ? "outbound" : "inbound", phase);
	p = strstr(text, want);
	if (p)
		v = strtoul(p + strlen(want), NULL, 10);
	free(text);
	return v;
}

/* @s as an address. */
static struct ipaddr addr(const char *s)
{
	struct ipaddr a;

	assert_int_equal(ipaddr_parse_addr(s, &a), 0);
	return a;
}

/*
 * 15001 and 15006 admit up to their caps, in all and per source IP (an IPv6 source counted as
 * itself); a release makes room.
 */
static void test_caps(void **state)
{
	struct guard_config c = {.max_conns = 5, .max_conns_per_source = 3};
	struct ipaddr a4 = addr("10.0.0.1"), b6 = addr("fd00::a00:1"), d4 = addr("10.0.0.3");
	const struct ipaddr *a = &a4, *b = &b6, *d = &d4;
	struct guard_slot s[6], other;

	guard_configure(&c);
	for (int i = 0; i < 3; i++)
		assert_int_equal(guard_admit(&s[i], GUARD_INBOUND, a), GUARD_OK);
	assert_int_equal(guard_admit(&s[3], GUARD_INBOUND, a), GUARD_PER_SOURCE);
	assert_false(s[3].held);
	assert_int_equal(guard_admit(&s[3], GUARD_INBOUND, b), GUARD_OK);
	assert_int_equal(guard_admit(&s[4], GUARD_INBOUND, b), GUARD_OK);
	assert_int_equal(guard_admit(&s[5], GUARD_INBOUND, d), GUARD_TOTAL);
	/* Each listener has its own budget. */
	assert_int_equal(guard_admit(&other, GUARD_OUTBOUND, a), GUARD_OK);
	assert_int_equal(guard_open(GUARD_INBOUND), 5);
	guard_release(&s[0]);
	guard_release(&s[0]); /* idempotent */
	assert_int_equal(guard_admit(&s[0], GUARD_INBOUND, a), GUARD_OK);
	for (int i = 0; i < 5; i++)
		guard_release(&s[i]);
	guard_release(&other);
	assert_int_equal(guard_open(GUARD_INBOUND), 0);
	assert_int_equal(guard_open(GUARD_OUTBOUND), 0);
	memset(&c, 0, sizeof(c));
	guard_configure(&c);
}

struct rig {
	struct loop *loop;
	struct splice_set *set;
	pthread_t thread;
	int lfd;
	uint16_t port;
};

static void *run(void *arg)
{
	loop_run(arg);
	return NULL;
}

static void rig_up(struct rig *r)
{
	struct splice_limits lim = {.connect_s = 1, .first_byte_s = 1, .idle_s = 2};

	r->loop = loop_create();
	assert_non_null(r->loop);
	r->set = splice_set_create(r->loop, &lim);
	assert_non_null(r->set);
	r->lfd = harness_listen("127.0.0.1", &r->port);
}

static void rig_run(struct rig *r)
{
	assert_int_equal(pthread_create(&r->thread, NULL, run, r->loop), 0);
}

static void rig_down(struct rig *r)
{
	loop_stop(r->loop);
	pthread_join(r->thread, NULL);
	splice_set_destroy(r->set);
	loop_destroy(r->loop);
	close(r->lfd);
}

/* A connected pair over loopback: *@app (blocking, the test's) and the returned end. */
static int tcp_pair(struct rig *r, int *app)
{
	struct sockaddr_in a = harness_sin("127.0.0.1", r->port);
	int fd;

	*app = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(*app, (struct sockaddr *)&a, sizeof(a)), 0);
	fd = harness_accept_within(r->lfd, 5000, NULL);
	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	return fd;
}

/* Splices a client leg (admitted on @l) with an upstream leg; the apps' ends are returned. */
static void splice_pair(struct rig *r, enum guard_listener l, int *client_app, int *server_app)
{
	int client = tcp_pair(r, client_app), server = tcp_pair(r, server_app);
	struct guard_slot slot;

	assert_int_equal(
	    guard_admit(&slot, l,
			&(struct ipaddr){.family = AF_INET, .len = 32, .a = {127, 0, 0, 1}}),
	    GUARD_OK);
	assert_int_equal(splice_start(r->set, client, server, NULL, &slot), 0);
	assert_false(slot.held); /* moved into the splice */
}

static bool closed_within(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buf[64];
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return false;
	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		;
	return n == 0 || (n < 0 && errno != EAGAIN);
}

/* Nothing ever moves: closed by the first-byte deadline, well before the idle one. */
static void test_first_byte(void **state)
{
	unsigned long before = timed_out(GUARD_INBOUND, "first_byte");
	struct rig r;
	int c, s;

	rig_up(&r);
	splice_pair(&r, GUARD_INBOUND, &c, &s);
	rig_run(&r);
	assert_true(closed_within(c, 10000));
	assert_true(closed_within(s, 10000));
	assert_int_equal(timed_out(GUARD_INBOUND, "first_byte"), before + 1);
	rig_down(&r);
	assert_int_equal(guard_open(GUARD_INBOUND), 0);
	close(c);
	close(s);
}

/* Bytes move, then nothing: closed by the idle deadline; a talking one is left alone. */
static void test_idle(void **state)
{
	unsigned long before = timed_out(GUARD_OUTBOUND, "idle");
	struct rig r;
	int c, s, c2, s2;
	char buf[8];

	rig_up(&r);
	splice_pair(&r, GUARD_OUTBOUND, &c, &s);
	splice_pair(&r, GUARD_OUTBOUND, &c2, &s2);
	rig_run(&r);
	assert_int_equal(write(c, "x", 1), 1);
	assert_int_equal(read(s, buf, 1), 1);
	/* The second keeps talking (one byte every 0.3 s) past twice the idle deadline. */
	for (int i = 0; i < 15; i++) {
		assert_int_equal(write(c2, "y", 1), 1);
		assert_int_equal(read(s2, buf, 1), 1);
		usleep(300 * 1000);
	}
	assert_true(closed_within(c, 10000));
	assert_true(closed_within(s, 10000));
	assert_false(closed_within(c2, 0));
	assert_int_equal(write(s2, "z", 1), 1);
	assert_int_equal(read(c2, buf, 1), 1);
	assert_int_equal(timed_out(GUARD_OUTBOUND, "idle"), before + 1);
	rig_down(&r);
	close(c);
	close(s);
	close(c2);
	close(s2);
}

/* An upstream that never answers the SYN: the client is closed by the connect deadline. */
static void test_connect(void **state)
{
	unsigned long before = timed_out(GUARD_INBOUND, "connect");
	struct sockaddr_in a = harness_sin("127.0.0.1", 0);
	socklen_t sl = sizeof(a);
	int full = socket(AF_INET, SOCK_STREAM, 0), filler = socket(AF_INET, SOCK_STREAM, 0);
	int up = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), c, client;
	struct guard_slot slot;
	struct rig r;

	/* A full accept queue drops further SYNs: the connect stays in progress. */
	assert_int_equal(bind(full, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(full, 0), 0);
	getsockname(full, (struct sockaddr *)&a, &sl);
	assert_int_equal(connect(filler, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_true(connect(up, (struct sockaddr *)&a, sizeof(a)) < 0 && errno == EINPROGRESS);
	rig_up(&r);
	client = tcp_pair(&r, &c);
	assert_int_equal(
	    guard_admit(&slot, GUARD_INBOUND,
			&(struct ipaddr){.family = AF_INET, .len = 32, .a = {127, 0, 0, 1}}),
	    GUARD_OK);
	assert_int_equal(splice_start(r.set, client, up, NULL, &slot), 0);
	rig_run(&r);
	assert_true(closed_within(c, 10000));
	assert_int_equal(timed_out(GUARD_INBOUND, "connect"), before + 1);
	rig_down(&r);
	close(c);
	close(filler);
	close(full);
}

/*
 * A small message each way costs the splice one recv per direction: a read that got less than it
 * asked for emptied the socket, and the read after it (EAGAIN) is not made.
 */
static void test_small_message_reads(void **state)
{
	enum { N = 50 };
	struct rig r;
	char msg[64], got[64];
	int c, s;

	memset(msg, 'm', sizeof(msg));
	rig_up(&r);
	splice_pair(&r, GUARD_OUTBOUND, &c, &s);
	rig_run(&r);
	__atomic_store_n(&sc.counting, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < N; i++) {
		assert_int_equal(write(c, msg, sizeof(msg)), sizeof(msg));
		assert_int_equal(read(s, got, sizeof(got)), sizeof(got));
		assert_int_equal(write(s, msg, sizeof(msg)), sizeof(msg));
		assert_int_equal(read(c, got, sizeof(got)), sizeof(got));
	}
	__atomic_store_n(&sc.counting, 0, __ATOMIC_SEQ_CST);
	assert_int_equal(sc.recv_eagain, 0);
	assert_int_equal(sc.recvs, 2 * N);
	rig_down(&r);
	close(c);
	close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_caps),
	    cmocka_unit_test(test_first_byte),
	    cmocka_unit_test(test_idle),
	    cmocka_unit_test(test_connect),
	    cmocka_unit_test(test_small_message_reads),
	};

	alarm(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
