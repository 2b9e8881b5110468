// SPDX-License-Identifier: Apache-2.0
/*
 * The TCP transport over TLS (transport_tls_new, the waypoint's --listen-tls) with an owner that
 * takes its input slowly. A client (OpenSSL, blocking, in a thread) sends a body and then waits
 * for the answer without sending more; the owner takes a few KB per call and resumes the
 * transport from a task. Records OpenSSL read ahead while the transport's buffer was full make
 * no socket event: the end of the body must still reach the owner (it once stayed there, and
 * t_89's TLS upload stalled). Also: the body goes through byte-exact when the owner takes all,
 * and the client's close_notify is an EOF after the last byte. And TLS origination
 * (connector_tls_new) against the same server: the name and the chain checked. One loop, stepped
 * a bounded number of times, never timed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/ssl.h>

#include "ambit/ca.h"
#include "tls/tls.h"
#include "net/transport.h"
#include "../../lib/harness.h"

#define TOTAL (3u << 20)
/* Two transport buffers and a part of a 10,000-byte record: the second cap falls in the last. */
#define HELD_TOTAL (2 * TRANSPORT_READ_MAX + 5000)

static struct loop *loop;
static struct tls_ctx *edge;
static char *root_pem; /* the CA that signed the edge's certificate */
static int lfd = -1;
static uint16_t lport;
static struct loop_handler lh;
static char dir[64];

/* The server's owner: takes at most @slice bytes a call (0: all), resumes from a task. */
static struct {
	struct transport *t;
	size_t slice, got, calls;
	bool hold;    /* take nothing until the client has written everything */
	bool waiting; /* held: resumed once it has */
	bool eof, answered, bad;
	int err;
	struct loop_task resume;
} srv;

/* The client thread's outcome. */
static struct {
	pthread_t th;
	bool shut;    /* send close_notify after the body, before reading the answer */
	size_t write; /* the size of the client's writes (its records) */
	size_t total; /* of the body */
	atomic_bool written;
	char answer[8];
	atomic_bool done;
	int rc;
} cli;

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 13 + (i >> 10));
}

static void srv_resume(struct loop_task *task)
{
	if (srv.t)
		transport_resume(srv.t);
}

static size_t srv_data(void *arg, const char *data, size_t len)
{
	size_t n = srv.slice && len > srv.slice ? srv.slice : len;

	if (srv.hold && !atomic_load(&cli.written)) {
		srv.waiting = true;
		return 0;
	}
	srv.calls++;
	for (size_t i = 0; i < n; i++)
		if ((uint8_t)data[i] != pattern(srv.got + i))
			srv.bad = true;
	srv.got += n;
	if (srv.got == cli.total && !srv.answered) {
		srv.answered = true;
		assert_int_equal(transport_write(srv.t, "ok", 2), 0);
	}
	if (n < len)
		loop_queue(loop, &srv.resume); /* the transport pauses itself: took < len */
	return n;
}

static void srv_eof(void *arg)
{
	srv.eof = true;
}

static void srv_error(void *arg, int err)
{
	srv.err = err;
	transport_close(srv.t, true);
	srv.t = NULL;
}

static const struct transport_cbs srv_cbs = {
    .on_data = srv_data, .on_eof = srv_eof, .on_error = srv_error};

static void on_accept(struct loop_handler *h, uint32_t events)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	assert_null(srv.t);
	srv.t = transport_tls_new(loop, fd, edge, NULL);
	assert_non_null(srv.t);
	transport_set_cbs(srv.t, &srv_cbs, NULL);
}

/* A plain blocking TLS client: the body in writes of cli.write bytes, then (optionally close_notify
 * and) the answer. */
static void *client(void *arg)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct sockaddr_in sin = harness_sin("127.0.0.1", lport);
	uint8_t chunk[16384];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	SSL *ssl = NULL;
	size_t sent = 0, n, got = 0;

	cli.rc = -1;
	/* However the server fails, the thread ends (a stalled test must fail, not hang). */
	struct timeval tv = {.tv_sec = 30};

	if (!ctx || fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)))
		goto out;
	ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd) || SSL_connect(ssl) != 1)
		goto out;
	while (sent < cli.total) {
		size_t len = cli.total - sent < cli.write ? cli.total - sent : cli.write;

		for (size_t i = 0; i < len; i++)
			chunk[i] = pattern(sent + i);
		if (SSL_write_ex(ssl, chunk, len, &n) != 1)
			goto out;
		sent += n;
	}
	atomic_store(&cli.written, true);
	if (cli.shut)
		SSL_shutdown(ssl);
	while (got < 2 && SSL_read_ex(ssl, cli.answer + got, sizeof(cli.answer) - 1 - got, &n) == 1)
		got += n;
	cli.rc = got == 2 ? 0 : -2;
	if (!cli.shut)
		SSL_shutdown(ssl); /* a clean end: an EOF at the server, not a truncation */
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	atomic_store(&cli.done, true);
	return NULL;
}

static void run_body(size_t total, size_t slice, bool shut, size_t write, bool hold)
{
	memset(&srv, 0, sizeof(srv));
	srv.slice = slice;
	srv.hold = hold;
	srv.resume.fn = srv_resume;
	memset(cli.answer, 0, sizeof(cli.answer));
	cli.shut = shut;
	cli.write = write;
	cli.total = total;
	atomic_store(&cli.written, false);
	atomic_store(&cli.done, false);
	assert_int_equal(pthread_create(&cli.th, NULL, client, NULL), 0);
	/* Bounded: a stalled transport fails here instead of hanging the suite. */
	for (int i = 0; i < 4000 && !(atomic_load(&cli.done) && (!shut || srv.eof)); i++) {
		assert_true(loop_run_once(loop, 5) >= 0);
		if (srv.waiting && atomic_load(&cli.written) && srv.t) {
			srv.waiting = false;
			transport_resume(srv.t);
		}
	}
	/* Stalled: the reset ends the client's wait, then the test fails saying where it stopped.
	 */
	if (!atomic_load(&cli.done) && srv.t) {
		transport_close(srv.t, true);
		srv.t = NULL;
		for (int i = 0; i < 5; i++)
			loop_run_once(loop, 0);
	}
	pthread_join(cli.th, NULL);
	if (srv.got != total)
		fail_msg("the owner got %zu of %zu bytes (%zu calls): the rest stayed in OpenSSL",
			 srv.got, total, srv.calls);
	assert_false(srv.bad);
	assert_int_equal(srv.err, 0);
	assert_int_equal(cli.rc, 0);
	assert_string_equal(cli.answer, "ok");
	if (shut)
		assert_true(srv.eof);
	if (srv.t)
		transport_close(srv.t, true);
	srv.t = NULL;
	for (int i = 0; i < 5; i++)
		loop_run_once(loop, 0);
}

static void run(size_t slice, bool shut, size_t write)
{
	run_body(TOTAL, slice, shut, write, false);
}

/* Record sizes that do not divide the transport's buffer, and one that does. */
static const size_t writes[] = {10000, 6007, 12345, 16384};

static void test_owner_takes_all(void **state)
{
	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
		run(0, false, writes[i]);
}

static void test_owner_takes_slices(void **state)
{
	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		run(3000, false, writes[i]);
		/* It was slow: many calls, each of at most a slice. */
		assert_true(srv.calls >= TOTAL / 3000);
	}
}

static void test_slices_then_close_notify(void **state)
{
	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
		run(1500, true, writes[i]);
}

/*
 * The deterministic case: everything is on the server's side before the owner takes a byte, so
 * the last read that fills the buffer leaves the end of the last record in OpenSSL and the
 * socket empty; the owner then takes slices of what it holds.
 */
static void test_tail_held_in_openssl(void **state)
{
	run_body(HELD_TOTAL, 3000, false, 10000, true);
	run_body(HELD_TOTAL, 3000, true, 10000, true);
}

/* ---- TLS origination (connector_tls_new), against the same server ---- */

static struct {
	struct transport *t;
	bool opened;
	int err;
	char got[8];
	size_t n;
} up;

static void up_open(void *arg)
{
	uint8_t body[5];

	up.opened = true;
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = pattern(i);
	assert_int_equal(transport_write(up.t, (const char *)body, sizeof(body)), 0);
}

static size_t up_data(void *arg, const char *data, size_t len)
{
	size_t n = len < sizeof(up.got) - 1 - up.n ? len : sizeof(up.got) - 1 - up.n;

	memcpy(up.got + up.n, data, n);
	up.n += n;
	return len;
}

static void up_error(void *arg, int err)
{
	up.err = err;
}

static const struct transport_cbs up_cbs = {
    .on_data = up_data, .on_open = up_open, .on_error = up_error};

/* One origination to the edge server: what the connector opened and the answer, or the error. */
static void originate(const char *ca_pem, const char *sni, const char *san)
{
	struct tls_origin o = {.ca_pem = ca_pem};
	char err[160];
	struct tls_ctx *ctx = tls_ctx_create_origin(&o, err, sizeof(err));
	struct connector *cn;
	union sockaddr_inet dst = harness_sa("127.0.0.1", lport);

	assert_non_null(ctx);
	cn = connector_tls_new(loop, NULL, ctx, sni, &san, 1);
	assert_non_null(cn);
	tls_ctx_put(ctx); /* the connector holds its own */
	memset(&up, 0, sizeof(up));
	memset(&srv, 0, sizeof(srv));
	srv.resume.fn = srv_resume;
	cli.total = 5;
	up.t = connector_open(cn, &dst, NULL, 5000, &up_cbs, NULL);
	assert_non_null(up.t);
	for (int i = 0; i < 400 && !up.err && up.n < 2; i++)
		assert_true(loop_run_once(loop, 5) >= 0);
	transport_close(up.t, true);
	if (srv.t)
		transport_close(srv.t, true);
	srv.t = NULL;
	for (int i = 0; i < 5; i++)
		loop_run_once(loop, 0);
	connector_destroy(cn);
}

/*
 * The server's chain checked against the CA given, its certificate against the name asked
 * for; the first bytes written before the handshake ends go after it.
 */
static void test_origination(void **state)
{
	struct ambit_ca *other;
	char odir[] = "/tmp/ambit-test-ttls-other-XXXXXX", cmd[96];

	originate(root_pem, "files.example", "files.example");
	assert_true(up.opened);
	assert_int_equal(up.err, 0);
	assert_string_equal(up.got, "ok");
	/* A name the certificate does not have. */
	originate(root_pem, "files.example", "other.example");
	assert_false(up.opened);
	assert_int_equal(up.err, -EPROTO);
	/* A CA that did not sign it. */
	assert_non_null(mkdtemp(odir));
	other = ca_open(odir);
	assert_non_null(other);
	originate(ca_root_pem(other), "files.example", "files.example");
	assert_false(up.opened);
	assert_int_equal(up.err, -EPROTO);
	ca_destroy(other);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", odir);
	assert_int_equal(system(cmd), 0);
}

/* ---- an idle connection's record buffers ---- */

#define IDLE_N 64

static size_t idle_data(void *arg, const char *data, size_t len)
{
	return len;
}

static const struct transport_cbs idle_cbs = {.on_data = idle_data};

/*
 * The heap in use once IDLE_N server connections (socketpairs, the clients non-blocking in
 * this thread) are handshaken and, with @send, got one byte each from their client.
 */
static size_t idle_heap(bool send)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *c[IDLE_N];
	struct transport *t[IDLE_N];
	int sv[IDLE_N][2];
	bool done[IDLE_N] = {false};
	size_t in_use, left = IDLE_N, n;

	assert_non_null(cctx);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	for (int i = 0; i < IDLE_N; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv[i]), 0);
		c[i] = SSL_new(cctx);
		assert_non_null(c[i]);
		SSL_set_fd(c[i], sv[i][0]);
		t[i] = transport_tls_new(loop, sv[i][1], edge, NULL);
		assert_non_null(t[i]);
		transport_set_cbs(t[i], &idle_cbs, NULL);
	}
	for (int round = 0; round < 400 && left; round++) {
		for (int i = 0; i < IDLE_N; i++) {
			int r;

			if (done[i])
				continue;
			r = SSL_connect(c[i]);
			if (r == 1) {
				done[i] = true;
				left--;
				if (send)
					assert_int_equal(SSL_write_ex(c[i], "x", 1, &n), 1);
			} else {
				r = SSL_get_error(c[i], r);
				assert_true(r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE);
			}
		}
		assert_true(loop_run_once(loop, 0) >= 0);
	}
	assert_int_equal(left, 0);
	for (int i = 0; i < 20; i++)
		loop_run_once(loop, 0);
	in_use = mallinfo2().uordblks;
	for (int i = 0; i < IDLE_N; i++) {
		transport_close(t[i], true);
		SSL_free(c[i]);
		close(sv[i][0]);
	}
	for (int i = 0; i < 5; i++)
		loop_run_once(loop, 0);
	SSL_CTX_free(cctx);
	return in_use;
}

/*
 * A connection handshaken that sends nothing (a flood of handshakes held open) gives its
 * record buffers back, some 34 KiB: against connections that sent a byte (theirs kept, as
 * every busy connection keeps them), the heap is lighter by more than 16 KiB a connection.
 */
static void test_idle_buffers_released(void **state)
{
	size_t busy, idle;

	idle_heap(false); /* caches warm (the thread's blocks, OpenSSL's) */
	busy = idle_heap(true);
	idle = idle_heap(false);
#ifdef __SANITIZE_ADDRESS__
	skip(); /* ASan's allocator serves malloc: glibc's mallinfo2 counts nothing */
#endif
	if (busy < idle || (busy - idle) / IDLE_N < 16384)
		fail_msg("idle connections hold %zd bytes less each than busy ones",
			 ((ssize_t)busy - (ssize_t)idle) / IDLE_N);
}

static int setup(void **state)
{
	struct ambit_ca *ca;
	struct ca_issued is;

	signal(SIGPIPE, SIG_IGN); /* a client writing to a reset connection fails, not dies */
	snprintf(dir, sizeof(dir), "/tmp/ambit-test-ttls-XXXXXX");
	assert_non_null(mkdtemp(dir));
	ca = ca_open(dir);
	assert_non_null(ca);
	assert_int_equal(ca_issue_dns(ca, "files.example", 3600, &is), 0);
	edge = tls_ctx_create_edge(is.cert_pem, is.key_pem);
	assert_non_null(edge);
	root_pem = strdup(ca_root_pem(ca));
	assert_non_null(root_pem);
	ca_issued_free(&is);
	ca_destroy(ca);
	loop = loop_create();
	assert_non_null(loop);
	lfd = harness_listen("127.0.0.1", &lport);
	lh.fn = on_accept;
	assert_int_equal(loop_add(loop, lfd, EPOLLIN, &lh), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	loop_del(loop, lfd);
	close(lfd);
	for (int i = 0; i < 10; i++)
		loop_run_once(loop, 0);
	loop_destroy(loop);
	tls_ctx_put(edge);
	free(root_pem);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_owner_takes_all),
	    cmocka_unit_test(test_owner_takes_slices),
	    cmocka_unit_test(test_slices_then_close_notify),
	    cmocka_unit_test(test_tail_held_in_openssl),
	    cmocka_unit_test(test_origination),
	    cmocka_unit_test(test_idle_buffers_released),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
