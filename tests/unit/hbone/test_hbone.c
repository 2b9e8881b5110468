// SPDX-License-Identifier: Apache-2.0
/*
 * HBONE client and server in process, over real loopback sockets, with certificates from a test
 * mesh root (and a foreign root): app -> [client loop: pool] =TLS/h2= [server loop] -> upstream.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cmocka.h>

#include <nghttp2/nghttp2.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ambit/ca.h"
#include "hbone/hbone.h"
#include "../../lib/h2_frames.h"
#include "../../lib/hbone_seam.h"

/*
 * The system calls the HBONE loops make, counted while `counting` is set: recv, send and
 * epoll_ctl as the library calls them (the test's own sockets use read and write), and
 * epoll_wait returns that brought events (wake-ups). Defined here, they take the place of libc's
 * for the objects linked into this binary.
 */
static struct {
	int counting;
	int recvs, recv_eagain, sends, ctls, wakes, h2_sends;
	int big_allocs; /* OpenSSL's of 16 KiB and more: record buffers */
} sc;

void *CRYPTO_malloc(size_t num, const char *file, int line)
{
	static void *(*real)(size_t, const char *, int);

	if (!real)
		real = (void *(*)(size_t, const char *, int))dlsym(RTLD_NEXT, "CRYPTO_malloc");
	if (num >= 16384 && __atomic_load_n(&sc.counting, __ATOMIC_SEQ_CST))
		__atomic_add_fetch(&sc.big_allocs, 1, __ATOMIC_SEQ_CST);
	return real(num, file, line);
}

/* The HTTP/2 session's send rounds (nghttp2's, looked up behind this one). */
ssize_t nghttp2_session_mem_send(nghttp2_session *session, const uint8_t **data)
{
	static ssize_t (*real)(nghttp2_session *, const uint8_t **);

	if (!real)
		real = (ssize_t(*)(nghttp2_session *, const uint8_t **))dlsym(
		    RTLD_NEXT, "nghttp2_session_mem_send");
	if (__atomic_load_n(&sc.counting, __ATOMIC_SEQ_CST))
		__atomic_add_fetch(&sc.h2_sends, 1, __ATOMIC_SEQ_CST);
	return real(session, data);
}

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

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	if (__atomic_load_n(&sc.counting, __ATOMIC_SEQ_CST))
		__atomic_add_fetch(&sc.sends, 1, __ATOMIC_SEQ_CST);
	return sendto(fd, buf, len, flags, NULL, 0);
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	if (__atomic_load_n(&sc.counting, __ATOMIC_SEQ_CST))
		__atomic_add_fetch(&sc.ctls, 1, __ATOMIC_SEQ_CST);
	return (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
}

int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	int n = epoll_pwait(epfd, evs, max, timeout, NULL);

	if (n > 0 && __atomic_load_n(&sc.counting, __ATOMIC_SEQ_CST))
		__atomic_add_fetch(&sc.wakes, 1, __ATOMIC_SEQ_CST);
	return n;
}

#define ID_CLIENT "spiffe://cluster.local/ns/a/sa/client"
#define ID_SERVER "spiffe://cluster.local/ns/b/sa/server"
#define ID_EVIL "spiffe://evil.example/ns/a/sa/client"
static const char *const MESH_TD[] = {"cluster.local"};

struct side {
	struct loop *loop;
	pthread_t thread;
	struct loop_handler h;
	int lfd;
	struct sockaddr_in addr;
	int accepted; /* atomic */
};

static struct side srv, cli;
static struct tls_ctx *srv_ctx, *cli_ctx, *foreign_ctx, *evil_ctx;
static struct hbone_pool *pool, *srv_pool;
static int upstream_fd = -1;
static struct sockaddr_in upstream_addr;
static char dirs[2][64];

/* What the client loop uses for the next accepted app connection (set before connecting). */
static struct {
	struct tls_ctx *ctx;
	const char *identity, *expect_san;
	bool producer; /* instead of the app connection, an in-process client end (below) */
} target;

/* An in-process client end (hbone_pool_open_end): sends "hello" and its EOF, keeps the answer. */
static struct {
	size_t off;
	char got[64];
	size_t got_len;
	int eof, status, reset, closed; /* closed: atomic, set last */
} prod;

static size_t prod_data(void *arg, struct hbone_stream *s, const uint8_t *p, size_t len)
{
	if (len > sizeof(prod.got) - prod.got_len)
		len = sizeof(prod.got) - prod.got_len;
	memcpy(prod.got + prod.got_len, p, len);
	prod.got_len += len;
	return len;
}

static void prod_eof(void *arg, struct hbone_stream *s)
{
	prod.eof = 1;
}

static void prod_writable(void *arg, struct hbone_stream *s)
{
	ssize_t n = hbone_stream_write(s, "hello" + prod.off, 5 - prod.off);

	if (n > 0)
		prod.off += (size_t)n;
	if (prod.off == 5)
		hbone_stream_shutdown(s);
}

static void prod_closed(void *arg, struct hbone_stream *s, const char *reason, bool reset)
{
	prod.status = hbone_stream_status(s);
	prod.reset = reset;
	__atomic_store_n(&prod.closed, 1, __ATOMIC_SEQ_CST);
}

static const struct hbone_end_ops prod_ops = {
    .data = prod_data, .eof = prod_eof, .writable = prod_writable, .closed = prod_closed};

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
#define TRACEPARENT "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
static char seen_identity[256], seen_forwarded[256], seen_baggage[256], seen_traceparent[64];
/* The next CONNECT ends in process (an echo) instead of the upstream socket. */
static bool use_echo;
static int echo_closed, echo_reset; /* atomic: how the in-process ends ended */

/* An in-process far end (struct hbone_end_ops): echoes what the client sends, then its EOF. */
static size_t echo_data(void *arg, struct hbone_stream *s, const uint8_t *p, size_t len)
{
	ssize_t n = hbone_stream_write(s, p, len);

	return n > 0 ? (size_t)n : 0;
}

static void echo_eof(void *arg, struct hbone_stream *s)
{
	hbone_stream_shutdown(s);
}

static void echo_writable(void *arg, struct hbone_stream *s)
{
	/* Room towards the client: what it left of the client's bytes comes again. */
	hbone_stream_ready(s);
}

static void echo_closed_cb(void *arg, struct hbone_stream *s, const char *reason, bool reset)
{
	__atomic_add_fetch(reset ? &echo_reset : &echo_closed, 1, __ATOMIC_SEQ_CST);
}

static const struct hbone_end_ops echo_ops = {
    .data = echo_data, .eof = echo_eof, .writable = echo_writable, .closed = echo_closed_cb};

static int listen_any(struct sockaddr_in *addr, bool nonblock)
{
	socklen_t sl = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);

	assert_true(fd >= 0);
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof(*addr)), 0);
	assert_int_equal(listen(fd, 128), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &sl), 0);
	return fd;
}

static int on_connect(void *user, const struct hbone_request *req, struct hbone_upstream *up)
{
	struct sockaddr_in to = {.sin_family = AF_INET};
	char ip[32];
	unsigned int port;
	int s;

	pthread_mutex_lock(&seen_lock);
	snprintf(seen_identity, sizeof(seen_identity), "%s", req->peer_identity);
	snprintf(seen_forwarded, sizeof(seen_forwarded), "%s",
		 req->forwarded ? req->forwarded : "");
	{
		const char *b = h2_header_get(req->headers, req->nheaders, "baggage");
		const char *tp = h2_header_get(req->headers, req->nheaders, "traceparent");

		snprintf(seen_baggage, sizeof(seen_baggage), "%s", b ? b : "");
		snprintf(seen_traceparent, sizeof(seen_traceparent), "%s", tp ? tp : "");
	}
	if (use_echo) {
		use_echo = false;
		pthread_mutex_unlock(&seen_lock);
		up->end = &echo_ops;
		return 0;
	}
	pthread_mutex_unlock(&seen_lock);
	if (sscanf(req->authority, "%31[0-9.]:%u", ip, &port) != 2 ||
	    inet_pton(AF_INET, ip, &to.sin_addr) != 1 || port > 65535)
		return 400;
	to.sin_port = htons((uint16_t)port);
	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (s < 0)
		return 503;
	if (connect(s, (struct sockaddr *)&to, sizeof(to)) < 0 && errno != EINPROGRESS) {
		close(s);
		return 503;
	}
	up->fd = s;
	return 0;
}

static void on_accept(struct loop_handler *h, uint32_t events)
{
	struct side *side = (struct side *)((char *)h - offsetof(struct side, h));
	int fd;

	while ((fd = accept4(side->lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
		__atomic_add_fetch(&side->accepted, 1, __ATOMIC_SEQ_CST);
		if (side == &srv) {
			hbone_server_start(srv_pool, fd, srv_ctx, on_connect, NULL, NULL);
		} else {
			char auth[32];
			struct hbone_target t = {
			    .addr.v4 = srv.addr,
			    .authority = auth,
			    .forwarded_for = "10.1.2.3",
			    .baggage = "k8s.namespace.name=ns1,k8s.pod.name=a",
			    .traceparent = TRACEPARENT,
			    .identity = target.identity,
			    .expect_san = target.expect_san,
			    .ctx = target.ctx,
			};

			snprintf(auth, sizeof(auth), "127.0.0.1:%u", ntohs(upstream_addr.sin_port));
			if (target.producer) {
				target.producer = false;
				close(fd);
				/* Not from this thread: the case fails on prod.closed instead. */
				if (!hbone_pool_open_end(pool, &t, &prod_ops, NULL, NULL))
					__atomic_store_n(&prod.closed, -1, __ATOMIC_SEQ_CST);
				continue;
			}
			hbone_pool_open(pool, &t, fd, NULL);
		}
	}
}

static void *run(void *arg)
{
	loop_run(arg);
	return NULL;
}

static struct tls_ctx *issue_ctx(const char *dir, const char *id, bool server, const char *root)
{
	struct ambit_ca *ca = ca_open(dir);
	struct ca_issued is;
	struct tls_ctx *ctx;

	assert_non_null(ca);
	assert_int_equal(ca_issue(ca, id, 3600, &is), 0);
	ctx = tls_ctx_create(server, is.cert_pem, is.key_pem, root ? root : ca_root_pem(ca));
	assert_non_null(ctx);
	ca_issued_free(&is);
	ca_destroy(ca);
	return ctx;
}

static int setup(void **state)
{
	struct ambit_ca *ca;
	char *root;

	for (int i = 0; i < 2; i++) {
		snprintf(dirs[i], sizeof(dirs[i]), "/tmp/ambit-test-hbone-XXXXXX");
		assert_non_null(mkdtemp(dirs[i]));
	}
	ca = ca_open(dirs[0]);
	assert_non_null(ca);
	root = strdup(ca_root_pem(ca));
	ca_destroy(ca);
	srv_ctx = issue_ctx(dirs[0], ID_SERVER, true, NULL);
	cli_ctx = issue_ctx(dirs[0], ID_CLIENT, false, NULL);
	/* Same identity, signed by another root: must be refused by the server. */
	foreign_ctx = issue_ctx(dirs[1], ID_CLIENT, false, root);
	/* Signed by the mesh root, but for another trust domain: refused too. */
	evil_ctx = issue_ctx(dirs[0], ID_EVIL, false, NULL);
	assert_int_equal(tls_ctx_set_trust_domains(srv_ctx, MESH_TD, 1), 0);
	free(root);
	assert_null(tls_ctx_create(true, "garbage", "garbage", "garbage"));

	upstream_fd = listen_any(&upstream_addr, false);
	struct side *sides[] = {&srv, &cli};
	for (int i = 0; i < 2; i++) {
		struct side *s = sides[i];

		s->loop = loop_create();
		assert_non_null(s->loop);
		s->lfd = listen_any(&s->addr, true);
		s->h.fn = on_accept;
		assert_int_equal(loop_add(s->loop, s->lfd, EPOLLIN, &s->h), 0);
	}
	pool = hbone_pool_create(cli.loop, NULL);
	srv_pool = hbone_pool_create(srv.loop, NULL);
	assert_non_null(pool);
	assert_non_null(srv_pool);
	assert_int_equal(pthread_create(&srv.thread, NULL, run, srv.loop), 0);
	assert_int_equal(pthread_create(&cli.thread, NULL, run, cli.loop), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	loop_stop(srv.loop);
	loop_stop(cli.loop);
	pthread_join(srv.thread, NULL);
	pthread_join(cli.thread, NULL);
	hbone_pool_destroy(pool);
	hbone_pool_destroy(srv_pool);
	loop_destroy(cli.loop);
	loop_destroy(srv.loop);
	close(srv.lfd);
	close(cli.lfd);
	close(upstream_fd);
	tls_ctx_put(srv_ctx);
	tls_ctx_put(cli_ctx);
	tls_ctx_put(foreign_ctx);
	tls_ctx_put(evil_ctx);
	for (int i = 0; i < 2; i++) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dirs[i]);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

static int app_connect(struct tls_ctx *ctx, const char *identity, const char *expect)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = {.tv_sec = 10};

	target.ctx = ctx;
	target.identity = identity;
	target.expect_san = expect;
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&cli.addr, sizeof(cli.addr)), 0);
	return fd;
}

/* Accepts the upstream connection, or -1 if none arrives within @ms. */
static int upstream_accept(int ms)
{
	struct pollfd p = {.fd = upstream_fd, .events = POLLIN};
	struct timeval tv = {.tv_sec = 10};
	int fd;

	if (poll(&p, 1, ms) != 1)
		return -1;
	fd = accept(upstream_fd, NULL, NULL);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/*
 * read(2) on a socket with SO_RCVTIMEO, again when a signal interrupted it: with a timeout set
 * the kernel does not restart the call itself, and the main thread is interrupted without any
 * signal handler when the io_uring group's rings are torn down (task work, seen as EINTR at the
 * start of the epoll group, one run in fifteen on one CPU shared by four).
 */
static ssize_t rd(int fd, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

static size_t read_all(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len && (n = rd(fd, buf + got, len - got)) > 0)
		got += (size_t)n;
	return got;
}

static void test_connect_half_close(void **state)
{
	int app = app_connect(cli_ctx, ID_CLIENT, ID_SERVER), up;
	char buf[64] = "";

	assert_int_equal(write(app, "hello", 5), 5);
	assert_int_equal(shutdown(app, SHUT_WR), 0);
	up = upstream_accept(5000);
	assert_true(up >= 0);
	/* The client's FIN arrives as EOF after the data, while the other direction stays open. */
	assert_int_equal(read_all(up, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(write(up, "world!", 6), 6);
	close(up);
	assert_int_equal(read_all(app, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "world!", 6);
	close(app);
	pthread_mutex_lock(&seen_lock);
	assert_string_equal(seen_identity, ID_CLIENT);
	assert_string_equal(seen_forwarded, "for=10.1.2.3");
	/* Istio's ztunnel describes the client to the far end (a waypoint's telemetry). */
	assert_string_equal(seen_baggage, "k8s.namespace.name=ns1,k8s.pod.name=a");
	assert_string_equal(seen_traceparent, TRACEPARENT);
	pthread_mutex_unlock(&seen_lock);
}

/* The app connection must end without data and no upstream connection may appear. */
/*
 * Writes a byte to @app, which may already be refused: the handshake that refuses it can end
 * before the write, and then the write meets the reset.
 */
static void write_or_refused(int app, const char *b)
{
	ssize_t w = write(app, b, 1);

	assert_true(w == 1 || (w < 0 && (errno == ECONNRESET || errno == EPIPE)));
}

static void expect_refused(int app)
{
	char buf[16];
	ssize_t n = rd(app, buf, sizeof(buf));

	assert_true(n <= 0);
	if (n < 0)
		assert_int_equal(errno, ECONNRESET); /* not EAGAIN: the 10 s SO_RCVTIMEO */
	assert_int_equal(upstream_accept(300), -1);
	close(app);
}

static void test_foreign_client_cert_refused(void **state)
{
	int app = app_connect(foreign_ctx, "foreign", ID_SERVER);

	write_or_refused(app, "x");
	expect_refused(app);
}

/* A CA-signed spiffe://evil.example/... is not a mesh identity, forwarded header or not. */
static void test_other_trust_domain_refused(void **state)
{
	static const char *const with_alias[] = {"cluster.local", "evil.example"};
	int app = app_connect(evil_ctx, ID_EVIL, ID_SERVER), up;

	write_or_refused(app, "x");
	expect_refused(app);
	/* Unless the mesh names it an alias (Istio's trustDomainAliases). */
	assert_int_equal(tls_ctx_set_trust_domains(srv_ctx, with_alias, 2), 0);
	app = app_connect(evil_ctx, ID_EVIL, ID_SERVER);
	assert_int_equal(write(app, "y", 1), 1);
	up = upstream_accept(5000);
	assert_true(up >= 0);
	close(up);
	close(app);
	assert_int_equal(tls_ctx_set_trust_domains(srv_ctx, MESH_TD, 1), 0);
}

static void test_server_san_mismatch_refused(void **state)
{
	int app = app_connect(cli_ctx, ID_CLIENT, "spiffe://cluster.local/ns/b/sa/impostor");

	write_or_refused(app, "x");
	expect_refused(app);
}

static void test_streams_share_connection(void **state)
{
	enum { N = 6 };
	int apps[N], ups[N];
	int before = __atomic_load_n(&srv.accepted, __ATOMIC_SEQ_CST);
	char buf[32], want[32];

	for (int i = 0; i < N; i++) {
		apps[i] = app_connect(cli_ctx, "shared", ID_SERVER);
		snprintf(want, sizeof(want), "stream-%d", i);
		assert_int_equal(write(apps[i], want, strlen(want)), (ssize_t)strlen(want));
		ups[i] = upstream_accept(5000);
		assert_true(ups[i] >= 0);
		/* Upstream order equals app order because each waits for the previous accept. */
		ssize_t n = rd(ups[i], buf, sizeof(buf));
		assert_int_equal(n, (ssize_t)strlen(want));
		assert_memory_equal(buf, want, strlen(want));
	}
	for (int i = 0; i < N; i++) {
		assert_int_equal(write(ups[i], "ok", 2), 2);
		assert_int_equal(rd(apps[i], buf, sizeof(buf)), 2);
		close(ups[i]);
		close(apps[i]);
	}
	/* One TLS connection carried all streams of the "shared" pool key. */
	assert_int_equal(__atomic_load_n(&srv.accepted, __ATOMIC_SEQ_CST) - before, 1);
}

struct writer {
	int fd;
	const char *data;
	size_t len;
};

static void *write_then_shut(void *arg)
{
	struct writer *w = arg;
	size_t off = 0;

	while (off < w->len) {
		ssize_t n = write(w->fd, w->data + off, w->len - off);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(w->fd, SHUT_WR);
	return NULL;
}

static void test_large_transfer(void **state)
{
	const size_t len = 16u << 20;
	char *up_data = malloc(len), *down_data = malloc(len), *got = malloc(len);
	struct writer w1, w2;
	pthread_t t1, t2;
	int app, up;

	assert_non_null(up_data);
	assert_non_null(down_data);
	assert_non_null(got);
	for (size_t i = 0; i < len; i++) {
		up_data[i] = (char)(i * 7 + (i >> 12));
		down_data[i] = (char)(i * 13 + (i >> 10));
	}
	app = app_connect(cli_ctx, ID_CLIENT, ID_SERVER);
	assert_int_equal(write(app, up_data, 1), 1);
	up = upstream_accept(5000);
	assert_true(up >= 0);
	w1 = (struct writer){app, up_data + 1, len - 1};
	w2 = (struct writer){up, down_data, len};
	/* Both directions at once: the splice must not deadlock on full buffers. */
	assert_int_equal(pthread_create(&t1, NULL, write_then_shut, &w1), 0);
	assert_int_equal(pthread_create(&t2, NULL, write_then_shut, &w2), 0);
	assert_int_equal(read_all(up, got, len), len);
	assert_true(memcmp(got, up_data, len) == 0);
	assert_int_equal(read_all(app, got, len), len);
	assert_true(memcmp(got, down_data, len) == 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	/* Both ends see EOF once the transfer is complete. */
	assert_int_equal(rd(up, got, 1), 0);
	assert_int_equal(rd(app, got, 1), 0);
	close(app);
	close(up);
	free(up_data);
	free(down_data);
	free(got);
}

/* Both loops' counters added up. */
static struct loop_stats both_loops(void)
{
	struct loop_stats a, b;

	loop_stats(cli.loop, &a);
	loop_stats(srv.loop, &b);
	return (struct loop_stats){a.waits + b.waits, a.wakes + b.wakes, a.sends + b.sends,
				   a.ring_sends + b.ring_sends, a.ring_recvs + b.ring_recvs};
}

/*
 * What one small message costs the two loops, counted: a 64-byte ping from the app and its pong
 * from the upstream cross the client loop (app socket, TLS) and the server loop (TLS, upstream
 * socket) once each way. Each crossing is one wake-up, one recv and one send: no read that
 * finds the socket empty (EAGAIN), no epoll_ctl, the ping's and pong's DATA frames go out in
 * one TLS record each (one send), no HTTP/2 flush runs that has nothing to send, and no TLS
 * record buffer is allocated (and freed) per message. With io_uring neither the read nor the send
 * is a system call of its own: the bytes come with the wake-up (a multishot recv) and the send
 * goes in with the wait for the next one, one io_uring_enter a crossing; without it, epoll_wait,
 * recv and send.
 */
static void test_small_message_syscalls(void **state)
{
	enum { WARM = 3, N = 50 };
	int app = app_connect(cli_ctx, "permsg", ID_SERVER), up = -1;
	char msg[64], got[64];
	bool ring = strcmp(loop_backend(cli.loop), "io_uring") == 0;
	struct loop_stats st0 = {0}, st;

	memset(msg, 'm', sizeof(msg));
	memset(&sc, 0, sizeof(sc)); /* this run's counts only (the suite runs once a backend) */
	for (int i = 0; i < WARM + N; i++) {
		if (i == WARM) {
			st0 = both_loops();
			__atomic_store_n(&sc.counting, 1, __ATOMIC_SEQ_CST);
		}
		assert_int_equal(write(app, msg, sizeof(msg)), sizeof(msg));
		if (up < 0) {
			up = upstream_accept(5000);
			assert_true(up >= 0);
		}
		assert_int_equal(read_all(up, got, sizeof(got)), sizeof(got));
		assert_int_equal(write(up, msg, sizeof(msg)), sizeof(msg));
		assert_int_equal(read_all(app, got, sizeof(got)), sizeof(got));
	}
	__atomic_store_n(&sc.counting, 0, __ATOMIC_SEQ_CST);
	st = both_loops();
	print_message("%s: %d recv, %d send, %d epoll_wait wake-ups; the loops' %llu wake-ups, "
		      "%llu sends (%llu with a wait), %llu reads through the ring\n",
		      loop_backend(cli.loop), sc.recvs, sc.sends, sc.wakes,
		      (unsigned long long)(st.wakes - st0.wakes),
		      (unsigned long long)(st.sends - st0.sends),
		      (unsigned long long)(st.ring_sends - st0.ring_sends),
		      (unsigned long long)(st.ring_recvs - st0.ring_recvs));
	assert_int_equal(sc.recv_eagain, 0);
	assert_int_equal(sc.recvs + (int)(st.ring_recvs - st0.ring_recvs), 4 * N);
	assert_int_equal(sc.ctls, 0);
	assert_int_equal(st.wakes - st0.wakes, 4 * N);
	assert_int_equal(st.sends - st0.sends, 4 * N);
	if (ring) {
		/* Each send went in with a wait, each read came with it: no send(), recv(),
		 * epoll_wait. */
		assert_int_equal(st.ring_sends - st0.ring_sends, 4 * N);
		assert_int_equal(st.ring_recvs - st0.ring_recvs, 4 * N);
		assert_int_equal(sc.sends, 0);
		assert_int_equal(sc.recvs, 0);
		assert_int_equal(sc.wakes, 0);
	} else {
		assert_int_equal(st.ring_sends - st0.ring_sends, 0);
		assert_int_equal(sc.sends, 4 * N);
		assert_int_equal(sc.wakes, 4 * N);
	}
	/*
	 * The session is asked for frames only where one goes out: one round for each DATA (its
	 * source said it is drained, so no round follows to find it empty). Not after a read that
	 * brought only DATA, nor after the far end took it (no WINDOW_UPDATE is due).
	 */
	assert_int_equal(sc.h2_sends, 2 * N);
	/* The busy connection keeps its TLS record buffers: none is taken again per message. */
	assert_int_equal(sc.big_allocs, 0);
	/*
	 * Quiet for over a second (a sweep of each loop saw it so), the connection let them go:
	 * the next message takes them again, each way on each side.
	 */
	sleep(3);
	__atomic_store_n(&sc.counting, 1, __ATOMIC_SEQ_CST);
	assert_int_equal(write(app, msg, sizeof(msg)), sizeof(msg));
	assert_int_equal(read_all(up, got, sizeof(got)), sizeof(got));
	assert_int_equal(write(up, msg, sizeof(msg)), sizeof(msg));
	assert_int_equal(read_all(app, got, sizeof(got)), sizeof(got));
	__atomic_store_n(&sc.counting, 0, __ATOMIC_SEQ_CST);
	assert_true(sc.big_allocs >= 2);
	close(app);
	close(up);
}

/*
 * A server stream whose far end is in process: the 200 comes at once, no upstream connection is
 * made, 16 MiB go through the consumer and back (it stops taking while the client does not
 * read: its writable resumes it), and the half-close travels both ways.
 */
static void test_in_process_end(void **state)
{
	const size_t len = 16u << 20;
	char *data = malloc(len), *got = malloc(len);
	int app, closed = __atomic_load_n(&echo_closed, __ATOMIC_SEQ_CST);
	struct writer w;
	pthread_t t;

	assert_non_null(data);
	assert_non_null(got);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)(i * 11 + (i >> 14));
	pthread_mutex_lock(&seen_lock);
	use_echo = true;
	pthread_mutex_unlock(&seen_lock);
	app = app_connect(cli_ctx, ID_CLIENT, ID_SERVER);
	w = (struct writer){app, data, len};
	assert_int_equal(pthread_create(&t, NULL, write_then_shut, &w), 0);
	assert_int_equal(read_all(app, got, len), len);
	assert_true(memcmp(got, data, len) == 0);
	pthread_join(t, NULL);
	/* The consumer's shutdown after the client's: EOF here. */
	assert_int_equal(rd(app, got, 1), 0);
	assert_int_equal(upstream_accept(100), -1);
	close(app);
	for (int i = 0; i < 500 && __atomic_load_n(&echo_closed, __ATOMIC_SEQ_CST) == closed; i++)
		usleep(10000);
	assert_int_equal(__atomic_load_n(&echo_closed, __ATOMIC_SEQ_CST), closed + 1);
	assert_int_equal(__atomic_load_n(&echo_reset, __ATOMIC_SEQ_CST), 0);
	free(data);
	free(got);
}

/*
 * A client stream whose near end is in process (the waypoint's way to its destination): it
 * writes after the 200, its half-close reaches the upstream as EOF, and the upstream's bytes
 * and EOF come back to it before it is closed, cleanly.
 */
static void test_in_process_client(void **state)
{
	char buf[64];
	int app, up;

	memset(&prod, 0, sizeof(prod));
	target.producer = true;
	/* Only the accept matters: the client loop opens the stream instead of splicing it. */
	app = app_connect(cli_ctx, ID_CLIENT, ID_SERVER);
	up = upstream_accept(5000);
	assert_true(up >= 0);
	assert_int_equal(read_all(up, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(write(up, "world", 5), 5);
	close(up);
	for (int i = 0; i < 500 && !__atomic_load_n(&prod.closed, __ATOMIC_SEQ_CST); i++)
		usleep(10000);
	assert_int_equal(__atomic_load_n(&prod.closed, __ATOMIC_SEQ_CST), 1);
	assert_int_equal(prod.got_len, 5);
	assert_memory_equal(prod.got, "world", 5);
	assert_int_equal(prod.eof, 1);
	assert_int_equal(prod.status, 200);
	assert_int_equal(prod.reset, 0);
	close(app);
}

/* What a CONNECT seen through the seam carried (the fuzz targets' view of the server). */
static struct {
	int calls;
	char authority[64], forwarded[64], identity[128];
} seam_seen;

static int seam_accept(void *user, const struct hbone_request *req, struct hbone_upstream *up)
{
	seam_seen.calls++;
	snprintf(seam_seen.authority, sizeof(seam_seen.authority), "%s", req->authority);
	snprintf(seam_seen.forwarded, sizeof(seam_seen.forwarded), "%s",
		 req->forwarded ? req->forwarded : "");
	snprintf(seam_seen.identity, sizeof(seam_seen.identity), "%s", req->peer_identity);
	return 401;
}

/* A client's first bytes: preface, SETTINGS and one CONNECT on stream @sid, as nghttp2 writes. */
static size_t connect_bytes_on(uint8_t *out, size_t cap, int32_t sid)
{
	nghttp2_nv nv[] = {
	    {(uint8_t *)":method", (uint8_t *)"CONNECT", 7, 7, NGHTTP2_NV_FLAG_NONE},
	    {(uint8_t *)":authority", (uint8_t *)"10.0.0.5:8080", 10, 13, NGHTTP2_NV_FLAG_NONE},
	    {(uint8_t *)"forwarded", (uint8_t *)"for=\"10.0.0.9:4000\"", 9, 19,
	     NGHTTP2_NV_FLAG_NONE},
	};
	nghttp2_session_callbacks *cbs;
	nghttp2_session *h2;
	const uint8_t *data;
	size_t len = 0;
	ssize_t n;

	assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
	assert_int_equal(nghttp2_session_client_new(&h2, cbs, NULL), 0);
	assert_int_equal(nghttp2_submit_settings(h2, NGHTTP2_FLAG_NONE, NULL, 0), 0);
	assert_int_equal(nghttp2_session_set_next_stream_id(h2, sid), 0);
	assert_true(nghttp2_submit_request(h2, NULL, nv, 3, NULL, NULL) > 0);
	while ((n = nghttp2_session_mem_send(h2, &data)) > 0) {
		assert_true(len + (size_t)n <= cap);
		memcpy(out + len, data, (size_t)n);
		len += (size_t)n;
	}
	nghttp2_session_del(h2);
	nghttp2_session_callbacks_del(cbs);
	return len;
}

static size_t connect_bytes(uint8_t *out, size_t cap)
{
	return connect_bytes_on(out, cap, 1);
}

static void seam_sink(void *arg, const uint8_t *data, size_t len)
{
	assert_int_equal(h2f_read(arg, data, len), 0);
}

/*
 * The HTTP/2 layer's check, for HBONE too: a CONNECT on a stream id lower than one the client
 * used ends the connection with GOAWAY PROTOCOL_ERROR (RFC 9113 §5.1.1), not silence.
 */
static void test_seam_stream_id_backwards(void **state)
{
	const struct h2f_field connect[] = {{":method", "CONNECT"}, {":authority", "10.0.0.5:80"}};
	struct hbone_seam_server o = {
	    .ctx = srv_ctx, .peer_identity = ID_CLIENT, .on_accept = seam_accept};
	struct h2f_seen seen = {0};
	struct buf back = {0};
	struct hbone_seam s;
	uint8_t in[512];
	size_t len = connect_bytes_on(in, sizeof(in), 3);

	memset(&seam_seen, 0, sizeof(seam_seen));
	assert_int_equal(hbone_seam_server(&s, &o), 0);
	s.sink = seam_sink;
	s.sink_arg = &seen;
	assert_int_equal(hbone_seam_feed(&s, in, len), 0);
	assert_int_equal(seam_seen.calls, 1);
	assert_int_equal(seen.status[3], 401);
	assert_false(seen.goaway);
	assert_int_equal(h2f_headers(&back, 1, connect, 2, false), 0);
	hbone_seam_feed(&s, (const uint8_t *)buf_head(&back), back.len);
	for (int i = 0; i < 10 && s.conn; i++)
		hbone_seam_step(&s, 0);
	assert_true(seen.goaway);
	assert_int_equal(seen.goaway_error, NGHTTP2_PROTOCOL_ERROR);
	assert_int_equal(seen.goaway_last, 3);
	assert_int_equal(seam_seen.calls, 1);
	assert_null(s.conn);
	hbone_seam_close(&s);
	h2f_seen_free(&seen);
	free(back.data);
}

/* The fuzz targets' seam reaches CONNECT handling with the identity the handshake would give. */
static void test_seam_reaches_connect(void **state)
{
	struct hbone_seam_server o = {
	    .ctx = srv_ctx, .peer_identity = ID_CLIENT, .on_accept = seam_accept};
	struct hbone_seam s;
	uint8_t in[512];
	size_t len = connect_bytes(in, sizeof(in));

	memset(&seam_seen, 0, sizeof(seam_seen));
	assert_int_equal(hbone_seam_server(&s, &o), 0);
	assert_int_equal(hbone_seam_feed(&s, in, len), 0);
	assert_int_equal(seam_seen.calls, 1);
	assert_string_equal(seam_seen.authority, "10.0.0.5:8080");
	assert_string_equal(seam_seen.forwarded, "for=\"10.0.0.9:4000\"");
	assert_string_equal(seam_seen.identity, ID_CLIENT);
	/* Our SETTINGS, the ACK of the client's and the 401 went out. */
	assert_true(s.out_bytes > 0);
	assert_non_null(s.conn);
	hbone_seam_close(&s);

	/* No verified identity: refused (401) before the callback. */
	o.peer_identity = NULL;
	assert_int_equal(hbone_seam_server(&s, &o), 0);
	assert_int_equal(hbone_seam_feed(&s, in, len), 0);
	assert_int_equal(seam_seen.calls, 1);
	hbone_seam_close(&s);
}

static void test_seam_rejects_garbage(void **state)
{
	static const uint8_t junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	struct hbone_seam_server o = {.ctx = srv_ctx};
	struct hbone_seam s;

	assert_int_equal(hbone_seam_server(&s, &o), 0);
	assert_true(hbone_seam_feed(&s, junk, sizeof(junk) - 1) < 0);
	assert_null(s.conn); /* closed, as conn_read closes it */
	hbone_seam_close(&s);
}

/* A stream of the seam's client connection, opened with a socket end. */
static struct {
	int established, failed;
} drain_open;

static struct connrec *drain_established(void *arg, struct guard_slot *slot,
					 const struct hbone_peer_baggage *peer)
{
	drain_open.established++;
	return NULL;
}

static void drain_failed(void *arg, int fd, int status, const char *reason, bool retryable)
{
	drain_open.failed++;
	close(fd);
}

static const struct hbone_open_ops drain_ops = {.established = drain_established,
						.failed = drain_failed};

/*
 * A draining peer's last answer: its DATA, END_STREAM, GOAWAY and the connection's end come in
 * one read. The session's end closes the stream (H2_CANCEL) before the batch's send to the
 * application is made; what came before the end still reaches it, then its EOF.
 */
static void test_session_end_delivers(void **state)
{
	static const char answer[] = "the last answer";
	const struct h2f_field ok[] = {{":status", "200"}};
	struct hbone_target t = {.authority = "127.0.0.2:8080",
				 .identity = ID_CLIENT,
				 .expect_san = ID_SERVER,
				 .ctx = cli_ctx,
				 .ops = &drain_ops};
	struct h2f_seen seen = {0};
	struct buf in = {0};
	struct hbone_seam s;
	char got[64];
	size_t n = 0;
	ssize_t r;
	int sv[2];

	memset(&drain_open, 0, sizeof(drain_open));
	sockaddr_inet_v4(&t.addr, htonl(INADDR_LOOPBACK + 1), 15008);
	assert_int_equal(hbone_seam_client(&s, &t), 0);
	s.sink = seam_sink;
	s.sink_arg = &seen;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(hbone_pool_open(s.pool, &t, sv[0], NULL), 0);
	for (int i = 0; i < 3; i++)
		hbone_seam_step(&s, 0);
	assert_int_equal(seen.status[1], 0);
	/* The server's preface and its 200: the stream is established. */
	assert_int_equal(h2f_settings(&in), 0);
	assert_int_equal(h2f_settings_ack(&in), 0);
	assert_int_equal(h2f_headers(&in, 1, ok, 1, false), 0);
	assert_int_equal(hbone_seam_feed(&s, (const uint8_t *)buf_head(&in), in.len), 0);
	assert_int_equal(drain_open.established, 1);
	/* The answer, its END_STREAM, GOAWAY and the end of the connection, in one read. */
	in.off = in.len = 0;
	assert_int_equal(h2f_data(&in, 1, answer, sizeof(answer) - 1, true), 0);
	assert_int_equal(h2f_goaway(&in, 1, NGHTTP2_NO_ERROR), 0);
	assert_int_equal(hbone_seam_feed_last(&s, (const uint8_t *)buf_head(&in), in.len), 0);
	hbone_seam_step(&s, 0);
	assert_int_equal(hbone_pool_size(s.pool), 0);
	for (;;) {
		r = read(sv[1], got + n, sizeof(got) - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	assert_int_equal(r, 0); /* then its EOF */
	assert_int_equal(n, sizeof(answer) - 1);
	assert_memory_equal(got, answer, n);
	assert_int_equal(drain_open.failed, 0);
	close(sv[1]);
	hbone_seam_close(&s);
	h2f_seen_free(&seen);
	free(in.data);
}

/* tls_cert_spiffe_id reads a certificate as the handshake does: PEM or DER, else a reason. */
static void test_cert_spiffe_id(void **state)
{
	struct ambit_ca *ca = ca_open(dirs[0]);
	unsigned char *der = NULL;
	struct ca_issued is;
	X509 *x = NULL;
	char *id;
	BIO *bio;
	int len;

	assert_non_null(ca);
	assert_int_equal(ca_issue(ca, ID_CLIENT, 3600, &is), 0);
	id = tls_cert_spiffe_id(is.cert_pem, strlen(is.cert_pem));
	assert_non_null(id);
	assert_string_equal(id, ID_CLIENT);
	free(id);

	bio = BIO_new_mem_buf(is.cert_pem, -1);
	assert_non_null(bio);
	assert_non_null(PEM_read_bio_X509(bio, &x, NULL, NULL));
	BIO_free(bio);
	len = i2d_X509(x, &der);
	assert_true(len > 0);
	id = tls_cert_spiffe_id(der, (size_t)len);
	assert_non_null(id);
	assert_string_equal(id, ID_CLIENT);
	free(id);
	/* Cut short: not a certificate. */
	assert_null(tls_cert_spiffe_id(der, (size_t)len / 2));
	assert_int_equal(errno, EINVAL);
	OPENSSL_free(der);
	X509_free(x);

	/* The root is a certificate with no SPIFFE ID. */
	assert_null(tls_cert_spiffe_id(ca_root_pem(ca), strlen(ca_root_pem(ca))));
	assert_int_equal(errno, ENOENT);
	ca_issued_free(&is);
	ca_destroy(ca);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_connect_half_close),
	    cmocka_unit_test(test_foreign_client_cert_refused),
	    cmocka_unit_test(test_other_trust_domain_refused),
	    cmocka_unit_test(test_server_san_mismatch_refused),
	    cmocka_unit_test(test_streams_share_connection),
	    cmocka_unit_test(test_large_transfer),
	    cmocka_unit_test(test_small_message_syscalls),
	    cmocka_unit_test(test_in_process_end),
	    cmocka_unit_test(test_in_process_client),
	    cmocka_unit_test(test_seam_reaches_connect),
	    cmocka_unit_test(test_seam_rejects_garbage),
	    cmocka_unit_test(test_seam_stream_id_backwards),
	    cmocka_unit_test(test_session_end_delivers),
	    cmocka_unit_test(test_cert_spiffe_id),
	};

	int failed;

	/* As ztunnel's main() does: OpenSSL writes alerts to sockets the peer may have closed. */
	signal(SIGPIPE, SIG_IGN);
	alarm(240);
	/* Both ways a loop waits and sends: io_uring where the kernel has it (asked for), then
	 * epoll. */
	setenv("AMBIT_IO_URING", "1", 1);
	failed = cmocka_run_group_tests_name("io_uring", tests, setup, teardown);
	unsetenv("AMBIT_IO_URING"); /* the default */
	failed += cmocka_run_group_tests_name("epoll", tests, setup, teardown);
	return failed;
}
