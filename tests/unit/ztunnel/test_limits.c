// SPDX-License-Identifier: Apache-2.0
/*
 * The ztunnel under abuse (issue 8), against a real worker serving HBONE on 127.0.0.2 (node n2,
 * pod B enrolled there, B's server a loopback listener): half-finished TLS handshakes are closed
 * by a deadline; one source is held to its cap of unfinished handshakes; when accept() runs out
 * of fds the queued connection is reset and the listener rests instead of spinning; a mesh peer
 * is held to SETTINGS_MAX_CONCURRENT_STREAMS and its identity's share of streams; and a peer
 * that opens and resets CONNECT streams in a burst (HTTP/2 rapid reset) gets GOAWAY
 * ENHANCE_YOUR_CALM while the upstream connects it causes stay bounded. And the limits are read
 * from flags and ZTUNNEL_* variables, with the fd limit raised at start. Assertions are outcomes
 * and counts; the waits are upper bounds for something that must happen, never measurements.
 * Needs root (IP_TRANSPARENT upstream connects), else skipped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <nghttp2/nghttp2.h>

#include "ambit/ca.h"
#include "net/guard.h"
#include "hbone/hbone.h"
#include "../../../ztunnel/limits.h"
#include "../../../ztunnel/proxy.h"
#include "net/sock.h"
#include "net/meshstate.h"
#include "../../lib/harness.h"

#define ID_A "spiffe://cluster.local/ns/demo/sa/a"
#define ID_B "spiffe://cluster.local/ns/demo/sa/b"

static struct rlimit nofile_saved; /* as the test started */

/* Node n2's worker, B's server, and a client context for identity A. */
static struct {
	char dir[32];
	struct ambit_ca *ca;
	struct mesh_state *st;
	struct zt_worker *w;
	struct tls_ctx *cli_ctx;
	int hfd, srv_b;
	uint16_t p_hbone, p_b;
} env;

static struct snapshot *make_snap(void)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	struct ca_issued is;

	s->version = 1;
	s->node = strdup("n2");
	s->trust_domain = strdup("cluster.local");
	s->root_pem = strdup(ca_root_pem(env.ca));
	s->workloads = calloc(2, sizeof(*s->workloads));
	harness_add_wl(s, "a", "127.0.0.1", "n1", ID_A, true);
	harness_add_wl(s, "b", "127.0.0.2", "n2", ID_B, true);
	s->certs = calloc(1, sizeof(*s->certs));
	assert_int_equal(ca_issue(env.ca, ID_B, 3600, &is), 0);
	s->certs[0].identity = strdup(ID_B);
	s->certs[0].cert_pem = is.cert_pem;
	s->certs[0].key_pem = is.key_pem;
	s->n_certs = 1;
	return s;
}

/* Caps off (guard.c starts with none), then what the test sets. */
static void caps(unsigned int handshakes_per_source, unsigned int streams_per_identity)
{
	struct guard_config c = {.max_handshakes_per_source = handshakes_per_source,
				 .max_streams_per_identity = streams_per_identity};

	guard_configure(&c);
}

/* n2's worker on a fresh 15008 socket, with @lim (NULL: the defaults). */
static void worker_start(const struct hbone_limits *lim)
{
	struct sockaddr_in a;
	socklen_t sl = sizeof(a);
	struct zt_proxy_opts o = {.outbound_fd = -1,
				  .inbound_fd = -1,
				  .orig_dst_fd = -1,
				  .orig_dst6_fd = -1,
				  .outbound6_fd = -1,
				  .inbound6_fd = -1,
				  .hbone6_fd = -1};

	env.hfd = sock_listen(harness_ip4("127.0.0.2"), 0, false);
	assert_true(env.hfd >= 0);
	getsockname(env.hfd, (struct sockaddr *)&a, &sl);
	env.p_hbone = ntohs(a.sin_port);
	o.hbone_fd = env.hfd;
	o.hbone_port = env.p_hbone;
	o.hbone = lim;
	env.w = zt_worker_start(env.st, &o);
	assert_non_null(env.w);
}

static void worker_stop(void)
{
	zt_worker_stop(env.w);
	env.w = NULL;
	close(env.hfd);
	caps(0, 0);
}

static int setup(void **state)
{
	struct ca_issued is;

	getrlimit(RLIMIT_NOFILE, &nofile_saved);
	if (geteuid() != 0)
		return 0;
	snprintf(env.dir, sizeof(env.dir), "/tmp/ambit-test-dos-XXXXXX");
	assert_non_null(mkdtemp(env.dir));
	env.ca = ca_open(env.dir);
	assert_non_null(env.ca);
	env.st = mesh_state_create();
	assert_int_equal(mesh_state_install(env.st, make_snap()), 0);
	assert_int_equal(ca_issue(env.ca, ID_A, 3600, &is), 0);
	env.cli_ctx = tls_ctx_create(false, is.cert_pem, is.key_pem, ca_root_pem(env.ca));
	assert_non_null(env.cli_ctx);
	ca_issued_free(&is);
	env.srv_b = harness_listen("127.0.0.2", &env.p_b);
	return 0;
}

/* After each test, even a failed one: the fd limit back, and the worker stopped. */

static int test_end(void **state)
{
	setrlimit(RLIMIT_NOFILE, &nofile_saved);
	if (env.w)
		worker_stop();
	return 0;
}

static int teardown(void **state)
{
	char cmd[80];

	if (!env.st)
		return 0;
	mesh_state_destroy(env.st);
	tls_ctx_put(env.cli_ctx);
	close(env.srv_b);
	ca_destroy(env.ca);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", env.dir);
	return system(cmd) == 0 ? 0 : -1;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The sum of /metrics samples of @name whose labels contain @label (NULL: any). */
static unsigned long metric(const char *name, const char *label)
{
	char *text = guard_metrics_render(), *line, *save = NULL;
	size_t nl = strlen(name);
	unsigned long sum = 0;

	assert_non_null(text);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *v = strrchr(line, ' ');

		if (line[0] == '#' || strncmp(line, name, nl) ||
		    (line[nl] != '{' && line[nl] != ' '))
			continue;
		if ((!label || strstr(line, label)) && v)
			sum += strtoul(v + 1, NULL, 10);
	}
	free(text);
	return sum;
}

/* Waits up to @ms for metric @name{@label} to reach @want; returns its value. */
static unsigned long metric_reaches(const char *name, const char *label, unsigned long want, int ms)
{
	double end = now_ms() + ms;
	unsigned long v;

	while ((v = metric(name, label)) < want && now_ms() < end)
		usleep(20 * 1000);
	return v;
}

/* Waits up to @ms for gauge @name to fall to @want (a connection's share is given back just
 * after its socket is closed); returns its value. */
static unsigned long gauge_falls(const char *name, unsigned long want, int ms)
{
	double end = now_ms() + ms;
	unsigned long v;

	while ((v = metric(name, NULL)) > want && now_ms() < end)
		usleep(20 * 1000);
	return v;
}

/* A plain TCP connection to n2's HBONE port that writes @hello (may be NULL) and waits. */
static int raw_connect(const char *hello)
{
	struct sockaddr_in a = harness_sin("127.0.0.2", env.p_hbone);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	/* A refused connection may be reset already: the caller sees it closed either way. */
	if (hello && write(fd, hello, strlen(hello)) < 0)
		assert_true(errno == ECONNRESET || errno == EPIPE);
	return fd;
}

/* Whether @fd was closed by the peer (EOF or reset), waiting at most @ms for it. */
static bool closed_within(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buf[256];
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return false;
	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		;
	return n == 0 || (n < 0 && errno != EAGAIN);
}

/* A TLS 1.3 ClientHello's first bytes: a handshake started and never finished. */
#define HALF_HELLO "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"

/* Half-finished handshakes are closed by the deadline (they stayed 200 s before). */
static void test_handshake_deadline(void **state)
{
	enum { N = 20 };
	struct hbone_limits lim;
	unsigned long before = metric("ambit_connections_timed_out_total", "phase=\"handshake\"");
	int fds[N];

	if (!env.st)
		skip();
	hbone_limits_default(&lim);
	lim.handshake_s = 1;
	worker_start(&lim);
	for (int i = 0; i < N; i++)
		fds[i] = raw_connect(i % 2 ? HALF_HELLO : NULL);
	for (int i = 0; i < N; i++) {
		assert_true(closed_within(fds[i], 10000));
		close(fds[i]);
	}
	assert_int_equal(metric("ambit_connections_timed_out_total", "phase=\"handshake\""),
			 before + N);
	assert_int_equal(gauge_falls("ambit_hbone_handshakes_open", 0, 5000), 0);
	worker_stop();
}

/* One source holds at most its cap of unfinished handshakes; the rest are reset at once. */
static void test_handshakes_per_source(void **state)
{
	enum { N = 30, CAP = 10 };
	struct hbone_limits lim;
	unsigned long before =
	    metric("ambit_connections_refused_total", "listener=\"hbone\",reason=\"per_source\"");
	int fds[N], closed = 0;

	if (!env.st)
		skip();
	hbone_limits_default(&lim);
	lim.handshake_s = 0; /* held until the test closes them */
	caps(CAP, 0);
	worker_start(&lim);
	for (int i = 0; i < N; i++)
		fds[i] = raw_connect(HALF_HELLO);
	assert_int_equal(metric_reaches("ambit_connections_refused_total",
					"listener=\"hbone\",reason=\"per_source\"",
					before + N - CAP, 10000),
			 before + N - CAP);
	/* The resets went out with the refusals: nothing more to wait for. */
	for (int i = 0; i < N; i++)
		closed += closed_within(fds[i], 0);
	assert_int_equal(closed, N - CAP);
	assert_int_equal(guard_open(GUARD_HBONE), CAP);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	worker_stop();
}

/* ---- a raw HTTP/2 client over TLS, to speak to the server as a misbehaving peer would ---- */

struct h2c {
	int fd;
	struct tls_conn *tls;
	nghttp2_session *s;
	bool closed;
	int goaway; /* error code + 1 of a GOAWAY received, 0 if none */
	int ok, refused, reset;
};

static ssize_t h2c_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *u)
{
	struct h2c *c = u;
	ssize_t n = tls_conn_write(c->tls, data, len);

	return n == -EAGAIN ? NGHTTP2_ERR_WOULDBLOCK : n < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : n;
}

static int h2c_frame(nghttp2_session *s, const nghttp2_frame *f, void *u)
{
	struct h2c *c = u;

	if (f->hd.type == NGHTTP2_GOAWAY)
		c->goaway = (int)f->goaway.error_code + 1;
	return 0;
}

static int h2c_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
		      size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *u)
{
	struct h2c *c = u;

	if (namelen == 7 && !memcmp(name, ":status", 7) && valuelen == 3 &&
	    !memcmp(value, "200", 3))
		c->ok++;
	return 0;
}

static int h2c_close(nghttp2_session *s, int32_t id, uint32_t err, void *u)
{
	struct h2c *c = u;

	if (err == NGHTTP2_REFUSED_STREAM)
		c->refused++;
	else if (err)
		c->reset++;
	return 0;
}

static ssize_t h2c_nobody(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			  nghttp2_data_source *src, void *u)
{
	return NGHTTP2_ERR_DEFERRED; /* the stream stays open, sending nothing */
}

/* Sends what the session has, then reads for up to @ms or until @done(c) or the close. */
static void h2c_pump(struct h2c *c, int ms, bool (*done)(const struct h2c *c))
{
	double end = now_ms() + ms;
	uint8_t buf[16384];

	while (!c->closed && !(done && done(c))) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		ssize_t n;

		if (nghttp2_session_send(c->s) || tls_conn_flush(c->tls) == -EPIPE)
			c->closed = true;
		if (c->closed || now_ms() >= end)
			break;
		if (tls_conn_want_write(c->tls))
			p.events |= POLLOUT;
		poll(&p, 1, 50);
		while ((n = tls_conn_read(c->tls, buf, sizeof(buf))) > 0)
			if (nghttp2_session_mem_recv(c->s, buf, (size_t)n) < 0)
				c->closed = true;
		if (n == 0 || (n < 0 && n != -EAGAIN))
			c->closed = true;
	}
}

static void h2c_open(struct h2c *c)
{
	struct sockaddr_in a = harness_sin("127.0.0.2", env.p_hbone);
	nghttp2_session_callbacks *cbs;
	double end = now_ms() + 10000;
	int err;

	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(fcntl(c->fd, F_SETFL, O_NONBLOCK), 0);
	c->tls = tls_conn_create(env.cli_ctx, c->fd, ID_B);
	assert_non_null(c->tls);
	while ((err = tls_conn_handshake(c->tls)) == -EAGAIN && now_ms() < end) {
		struct pollfd p = {.fd = c->fd, .events = POLLIN};

		if (tls_conn_want_write(c->tls))
			p.events |= POLLOUT;
		poll(&p, 1, 100);
	}
	assert_int_equal(err, 0);
	assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
	nghttp2_session_callbacks_set_send_callback(cbs, h2c_send);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2c_frame);
	nghttp2_session_callbacks_set_on_header_callback(cbs, h2c_header);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2c_close);
	assert_int_equal(nghttp2_session_client_new(&c->s, cbs, c), 0);
	nghttp2_session_callbacks_del(cbs);
	assert_int_equal(nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

static void h2c_free(struct h2c *c)
{
	nghttp2_session_del(c->s);
	tls_conn_destroy(c->tls);
	close(c->fd);
}

/* Queues a CONNECT to B's server that stays open; returns its stream id. */
static int32_t h2c_connect(struct h2c *c)
{
	char auth[32];
	nghttp2_nv nv[] = {
	    {(uint8_t *)":method", (uint8_t *)"CONNECT", 7, 7, NGHTTP2_NV_FLAG_NONE},
	    {(uint8_t *)":authority", (uint8_t *)auth, 10, 0, NGHTTP2_NV_FLAG_NONE},
	};
	nghttp2_data_provider prd = {.read_callback = h2c_nobody};
	int32_t id;

	snprintf(auth, sizeof(auth), "127.0.0.2:%u", env.p_b);
	nv[1].valuelen = strlen(auth);
	id = nghttp2_submit_request(c->s, NULL, nv, 2, &prd, NULL);
	assert_true(id > 0);
	return id;
}

/* Upstream connections B's server received since the last call (accepted and closed). */
static int upstream_drain(void)
{
	int n = 0, fd;

	while ((fd = harness_accept_within(env.srv_b, 200, NULL)) >= 0) {
		close(fd);
		n++;
	}
	return n;
}

static bool answered_1(const struct h2c *c)
{
	return c->ok + c->refused >= 1;
}

static bool answered_10(const struct h2c *c)
{
	return c->ok + c->refused >= 10;
}

/* 100 streams per connection announced, and an identity's share of streams enforced. */
static void test_stream_caps(void **state)
{
	unsigned long before =
	    metric("ambit_hbone_streams_refused_total", "reason=\"per_identity\"");
	struct h2c c;

	if (!env.st)
		skip();
	caps(0, 5);
	worker_start(NULL);
	h2c_open(&c);
	for (int i = 0; i < 10; i++)
		h2c_connect(&c);
	h2c_pump(&c, 10000, answered_10);
	assert_int_equal(
	    nghttp2_session_get_remote_settings(c.s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS),
	    HBONE_MAX_STREAMS);
	assert_int_equal(HBONE_MAX_STREAMS, 100);
	assert_int_equal(c.ok, 5);
	assert_int_equal(c.refused, 5);
	assert_int_equal(metric("ambit_hbone_streams_refused_total", "reason=\"per_identity\""),
			 before + 5);
	assert_int_equal(upstream_drain(), 5);
	h2c_free(&c);
	worker_stop();
}

/* Open descriptors of this process. */
static int fds_open(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own */
}

/*
 * accept() out of fds: the ztunnel resets the queued connection and rests the listener (it
 * used to call accept() again at once, forever, leaving the client in the queue), and serves
 * again once fds are back.
 */
static void test_fd_exhaustion(void **state)
{
	enum { N = 200 };
	struct hbone_limits lim;
	struct rlimit saved, low;
	unsigned long pauses = metric("ambit_accept_pauses_total", "listener=\"hbone\"");
	unsigned long shed = metric("ambit_connections_refused_total", "reason=\"fd_exhausted\"");
	int fds[N], reset = 0;
	struct h2c c;

	if (!env.st)
		skip();
	hbone_limits_default(&lim);
	lim.handshake_s = 0;
	worker_start(&lim);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = saved;
	low.rlim_cur = (rlim_t)fds_open() + 16;
	/* The clients are this process's too: they take fds before the limit is lowered. */
	for (int i = 0; i < N; i++)
		fds[i] = raw_connect(HALF_HELLO);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	/* The worker takes what is left; the others meet EMFILE: reset, one per pause. */
	assert_true(metric_reaches("ambit_accept_pauses_total", "listener=\"hbone\"", pauses + 2,
				   10000) >= pauses + 2);
	assert_true(metric("ambit_connections_refused_total", "reason=\"fd_exhausted\"") >=
		    shed + 1);
	for (int i = 0; i < N; i++)
		reset += closed_within(fds[i], 0);
	assert_true(reset >= 1);
	/* fds back: the listener resumes and a mesh client is served. */
	for (int i = 0; i < N; i++)
		close(fds[i]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	h2c_open(&c);
	h2c_connect(&c);
	h2c_pump(&c, 10000, answered_1);
	assert_int_equal(c.ok, 1);
	assert_int_equal(upstream_drain(), 1);
	h2c_free(&c);
	worker_stop();
}

static bool got_goaway(const struct h2c *c)
{
	return c->goaway != 0;
}

/*
 * HTTP/2 rapid reset: 500 CONNECT + RST_STREAM pairs in one burst. The peer gets GOAWAY
 * ENHANCE_YOUR_CALM and is closed, and the burst costs at most max_early_resets upstream
 * connects (it cost one per pair).
 */
static void test_rapid_reset(void **state)
{
	enum { PAIRS = 500 };
	unsigned long before = metric("ambit_hbone_rapid_reset_total", NULL);
	struct h2c c;
	int up;

	if (!env.st)
		skip();
	worker_start(NULL);
	upstream_drain();
	h2c_open(&c);
	h2c_pump(&c, 200, NULL); /* the SETTINGS exchange */
	for (int i = 0; i < PAIRS; i++) {
		int32_t id = h2c_connect(&c);

		/* HEADERS out first: a RST_STREAM of a stream not yet opened is not sent. */
		assert_int_equal(nghttp2_session_send(c.s), 0);
		assert_int_equal(
		    nghttp2_submit_rst_stream(c.s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL), 0);
		assert_int_equal(nghttp2_session_send(c.s), 0);
	}
	h2c_pump(&c, 10000, got_goaway);
	assert_int_equal(c.goaway, NGHTTP2_ENHANCE_YOUR_CALM + 1);
	/* ... and then closed by the server. */
	h2c_pump(&c, 10000, NULL);
	assert_true(c.closed);
	up = upstream_drain();
	print_message("rapid reset: %d pairs, %d upstream connects\n", PAIRS, up);
	assert_true(up <= 100);
	assert_int_equal(metric("ambit_hbone_rapid_reset_total", NULL), before + 1);
	h2c_free(&c);
	worker_stop();
}

/* The getopt_long value of limit flag @name. */
static int limit_flag(const char *name)
{
	struct option opts[64];
	size_t n = zt_limits_options(opts, 0);

	for (size_t i = 0; i < n; i++)
		if (!strcmp(opts[i].name, name))
			return opts[i].val;
	fail_msg("no limit flag --%s", name);
	return -1;
}

/*
 * Limits from the environment and flags (a flag wins, a bad value is refused), and the fd limit
 * raised at start (it stayed at whatever the ztunnel inherited: 1,024 under many shells).
 */
static void test_limits(void **state)
{
	struct rlimit rl = nofile_saved;
	struct zt_limits z, bad;

	zt_limits_init(&z);
	setenv("ZTUNNEL_MAX_CONNS", "77", 1);
	setenv("ZTUNNEL_HANDSHAKE_TIMEOUT", "3", 1);
	assert_int_equal(zt_limits_env(&z), 0);
	assert_int_equal(zt_limits_option(&z, limit_flag("handshake-timeout"), "4"), 0);
	assert_int_equal(zt_limits_option(&z, limit_flag("max-early-resets"), "many"), -EINVAL);
	assert_int_equal(zt_limits_option(&z, limit_flag("connect-timeout"), "-1"), -EINVAL);
	assert_int_equal(zt_limits_option(&z, 'x', "1"), -ENOENT);
	setenv("ZTUNNEL_IDLE_TIMEOUT", "1h", 1);
	zt_limits_init(&bad);
	assert_int_equal(zt_limits_env(&bad), -EINVAL);
	unsetenv("ZTUNNEL_IDLE_TIMEOUT");
	unsetenv("ZTUNNEL_MAX_CONNS");
	unsetenv("ZTUNNEL_HANDSHAKE_TIMEOUT");
	assert_int_equal(z.guard.max_conns, 77);
	assert_int_equal(z.hbone.handshake_s, 4);
	rl.rlim_cur = rl.rlim_max < 1024 ? rl.rlim_max : 1024;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_int_equal(zt_limits_finish(&z), 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	/* As far as allowed: the hard limit when it cannot be raised (containers). */
	assert_true(rl.rlim_cur >= 1048576 || rl.rlim_cur == rl.rlim_max);
	assert_int_equal(z.nofile, rl.rlim_cur);
	/* Given caps stay, the others follow the fd limit. */
	assert_int_equal(z.guard.max_conns, 77);
	assert_int_equal(z.guard.max_handshakes, z.nofile / 16 < 4096 ? z.nofile / 16 : 4096);
	assert_int_equal(z.guard.max_handshakes_per_source,
			 z.nofile / 32 < 1024 ? z.nofile / 32 : 1024);
	caps(0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_handshake_deadline, test_end),
	    cmocka_unit_test_teardown(test_handshakes_per_source, test_end),
	    cmocka_unit_test_teardown(test_fd_exhaustion, test_end),
	    cmocka_unit_test_teardown(test_stream_caps, test_end),
	    cmocka_unit_test_teardown(test_rapid_reset, test_end),
	    cmocka_unit_test_teardown(test_limits, test_end),
	};

	signal(SIGPIPE, SIG_IGN);
	alarm(300);
	return cmocka_run_group_tests(tests, setup, teardown);
}
