// SPDX-License-Identifier: Apache-2.0
/*
 * The waypoint's request engine end to end on loopback: Istio manifests compiled to the L7
 * model (l7_compile), a worker (waypoint/worker.c: listener, engine, pools) serving it, and
 * in-process HTTP/1.1 backends on 127.0.0.11.. (threads parsing with the runtime's llhttp
 * parser). Outcomes are checked (statuses, response flags, headers, hits at the backends,
 * bytes), never durations.
 */
#include <fcntl.h>
#include <limits.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "ambit/l7.h"
#include "http/http1.h"
#include "net/loop.h"
#include "../../../../waypoint/stats.h"
#include "../../../lib/l7_world.h"
#include "../../../../waypoint/engine/proxy.h"
#include "../../../../waypoint/engine/worker.h"

#define SVC(name, port)                                                                            \
	"apiVersion: v1\nkind: Service\nmetadata: {name: " name ", namespace: shop}\n"             \
	"spec: {selector: {app: " name "}, ports: [{name: http, port: " port "}]}\n---\n"
#define POD(name, app, version, ip)                                                                \
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: " name "\n  namespace: shop\n"              \
	"  labels: {app: " app ", version: " version "}\n"                                         \
	"spec: {serviceAccountName: " app ", containers: [{name: c}]}\nstatus: {podIP: " ip        \
	"}\n---\n"

/* The manifests of the world (one YAML line a C line). */
// clang-format off
static const char world_yaml[] =
	L7_WORLD_HEAD
	SVC("reviews", "9080") SVC("shadow", "9080") SVC("cb", "9080") SVC("flaky", "9080")
	SVC("down", "9080") SVC("sticky", "9080")
	POD("r1", "reviews", "v1", "127.0.0.11") POD("r2", "reviews", "v2", "127.0.0.12")
	POD("s1", "shadow", "v1", "127.0.0.13") POD("c1", "cb", "v1", "127.0.0.14")
	POD("f1", "flaky", "v1", "127.0.0.15") POD("f2", "flaky", "v1", "127.0.0.16")
	POD("d1", "down", "v1", "127.0.0.17")
	POD("k1", "sticky", "v1", "127.0.0.18") POD("k2", "sticky", "v1", "127.0.0.19")
	"apiVersion: networking.istio.io/v1\n"
	"kind: DestinationRule\n"
	"metadata: {name: reviews, namespace: shop}\n"
	"spec:\n"
	"  host: reviews\n"
	"  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}\n"
	"  subsets:\n"
	"  - {name: v1, labels: {version: v1}}\n"
	"  - {name: v2, labels: {version: v2}}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\n"
	"kind: DestinationRule\n"
	"metadata: {name: cb, namespace: shop}\n"
	"spec:\n"
	"  host: cb\n"
	"  trafficPolicy:\n"
	"    connectionPool:\n"
	"      tcp: {maxConnections: 1}\n"
	"      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\n"
	"kind: DestinationRule\n"
	"metadata: {name: flaky, namespace: shop}\n"
	"spec:\n"
	"  host: flaky\n"
	"  trafficPolicy:\n"
	"    loadBalancer: {simple: ROUND_ROBIN}\n"
	"    outlierDetection: {consecutive5xxErrors: 2, interval: 60s, baseEjectionTime: 60s, maxEjectionPercent: 50}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\n"
	"kind: DestinationRule\n"
	"metadata: {name: sticky, namespace: shop}\n"
	"spec:\n"
	"  host: sticky\n"
	"  trafficPolicy:\n"
	"    loadBalancer:\n"
	"      consistentHash: {httpCookie: {name: sticky, path: /, ttl: 60s}}\n"
	"---\n"
	"apiVersion: networking.istio.io/v1\n"
	"kind: VirtualService\n"
	"metadata: {name: reviews, namespace: shop}\n"
	"spec:\n"
	"  hosts: [reviews]\n"
	"  http:\n"
	"  - match: [{headers: {end-user: {exact: jason}}}]\n"
	"    route: [{destination: {host: reviews, subset: v2}}]\n"
	"  - match: [{uri: {prefix: /redirect}}]\n"
	"    redirect: {uri: /moved, authority: elsewhere.example, redirectCode: 302}\n"
	"  - match: [{uri: {exact: /direct}}]\n"
	"    directResponse: {status: 418, body: {string: teapot}}\n"
	"  - match: [{uri: {prefix: /rewrite}}]\n"
	"    rewrite: {uri: /rewritten}\n"
	"    headers: {request: {set: {x-added: \"yes\"}}, response: {add: {x-resp: route}}}\n"
	"    route:\n"
	"    - destination: {host: reviews, subset: v1}\n"
	"      headers: {response: {set: {x-dest: v1}}}\n"
	"  - match: [{uri: {prefix: /abort}}]\n"
	"    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}\n"
	"    route: [{destination: {host: reviews, subset: v1}}]\n"
	"  - match: [{uri: {prefix: /delay}}]\n"
	"    fault: {delay: {fixedDelay: 20ms, percentage: {value: 100}}}\n"
	"    route: [{destination: {host: reviews, subset: v1}}]\n"
	"  - match: [{uri: {prefix: /hang}}]\n"
	"    timeout: 300ms\n"
	"    retries: {attempts: 0}\n"
	"    route: [{destination: {host: reviews, subset: v1}}]\n"
	"  - match: [{uri: {prefix: /retry}}]\n"
	"    retries: {attempts: 2, retryOn: 5xx}\n"
	"    route: [{destination: {host: reviews, subset: v1}}]\n"
	"  - match: [{uri: {prefix: /mirror}}]\n"
	"    route: [{destination: {host: reviews, subset: v1}}]\n"
	"    mirror: {host: shadow}\n"
	"  - match: [{uri: {prefix: /split}}]\n"
	"    route:\n"
	"    - {destination: {host: reviews, subset: v1}, weight: 50}\n"
	"    - {destination: {host: reviews, subset: v2}, weight: 50}\n"
	"  - match: [{uri: {prefix: /cb}}]\n"
	"    retries: {attempts: 0}\n"
	"    route: [{destination: {host: cb}}]\n"
	"  - match: [{uri: {prefix: /outlier}}]\n"
	"    retries: {attempts: 0}\n"
	"    route: [{destination: {host: flaky}}]\n"
	"  - match: [{uri: {prefix: /down}}]\n"
	"    route: [{destination: {host: down}}]\n"
	"  - match: [{uri: {prefix: /sticky}}]\n"
	"    route: [{destination: {host: sticky}}]\n"
	"  - match: [{uri: {prefix: /hash}}]\n"
	"    route: [{destination: {host: reviews}}]\n"
	"  - match: [{method: {exact: CONNECT}}]\n"
	"    route: [{destination: {host: reviews, subset: v1}}]\n"
	"  - match: [{uri: {prefix: /r}}]\n"
	"    route: [{destination: {host: reviews, subset: v1}}]\n";
// clang-format on

#define N_BACKENDS 9
#define DOWN 6 /* 127.0.0.17: bound, never listening: connections to it are refused */
static const char *const backend_ip[N_BACKENDS] = {"127.0.0.11", "127.0.0.12", "127.0.0.13",
						   "127.0.0.14", "127.0.0.15", "127.0.0.16",
						   "127.0.0.17", "127.0.0.18", "127.0.0.19"};

struct backend {
	int idx, lfd;
	uint16_t port;
	pthread_t th;
	int hits, conns; /* atomics */
	char last_host[256];
	pthread_mutex_t lock;
};

static struct backend backends[N_BACKENDS];
/* Requests to /cb are held at the backend until the test opens this gate (no timing). */
static int cb_gate;

struct bconn {
	struct backend *b;
	int fd;
	struct h1_parser *p;
	char path[512], host[256], added[64], xff[128], xfp[16], rid[64];
	bool hop;
	bool upgrade;
	uint64_t body_len, body_hash;
};

static uint64_t fnv(uint64_t h, const char *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)d[i]) * 1099511628211ull;
	return h;
}

/* The deterministic byte @i of a generated body. */
static char pattern(uint64_t i)
{
	return (char)('a' + (i * 7 + i / 4096) % 26);
}

static void write_all(int fd, const char *d, size_t n)
{
	while (n) {
		ssize_t w = write(fd, d, n);

		if (w <= 0)
			return;
		d += w;
		n -= (size_t)w;
	}
}

static int b_head(void *user, struct h1_head *h)
{
	struct bconn *c = user;
	const char *v;

	snprintf(c->path, sizeof(c->path), "%s", h->target);
	v = http_fields_get(&h->fields, "host");
	snprintf(c->host, sizeof(c->host), "%s", v ? v : "");
	v = http_fields_get(&h->fields, "x-added");
	snprintf(c->added, sizeof(c->added), "%s", v ? v : "");
	v = http_fields_get(&h->fields, "x-forwarded-for");
	snprintf(c->xff, sizeof(c->xff), "%s", v ? v : "");
	v = http_fields_get(&h->fields, "x-forwarded-proto");
	snprintf(c->xfp, sizeof(c->xfp), "%s", v ? v : "");
	v = http_fields_get(&h->fields, "x-request-id");
	snprintf(c->rid, sizeof(c->rid), "%s", v ? v : "");
	c->hop = http_fields_get(&h->fields, "x-hop") || http_fields_get(&h->fields, "connection");
	c->upgrade = h->upgrade;
	c->body_len = 0;
	c->body_hash = 1469598103934665603ull;
	pthread_mutex_lock(&c->b->lock);
	snprintf(c->b->last_host, sizeof(c->b->last_host), "%s", c->host);
	pthread_mutex_unlock(&c->b->lock);
	__atomic_add_fetch(&c->b->hits, 1, __ATOMIC_RELAXED);
	return 0;
}

static int b_body(void *user, const char *d, size_t n)
{
	struct bconn *c = user;

	c->body_len += n;
	c->body_hash = fnv(c->body_hash, d, n);
	return 0;
}

static void respond(struct bconn *c, int status, const char *body)
{
	char head[2048];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d X\r\ncontent-length: %zu\r\nx-backend: %d\r\nx-seen-host: "
			 "%s\r\nx-seen-path: %s\r\nx-seen-added: %s\r\nx-seen-xff: %s\r\n"
			 "x-seen-xfp: %s\r\nx-seen-rid: %s\r\nx-seen-hop: %d\r\n\r\n",
			 status, strlen(body), c->b->idx, c->host, c->path, c->added, c->xff,
			 c->xfp, c->rid, c->hop);

	write_all(c->fd, head, (size_t)n);
	write_all(c->fd, body, strlen(body));
}

static void send_big(struct bconn *c, uint64_t n, bool chunked)
{
	char buf[65536], head[256];
	uint64_t off = 0;
	int hl = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n%s%llu\r\n\r\n",
			  chunked ? "transfer-encoding: chunked\r\nx-len: " : "content-length: ",
			  (unsigned long long)n);

	write_all(c->fd, head, (size_t)hl);
	while (off < n) {
		size_t k = n - off < sizeof(buf) ? (size_t)(n - off) : sizeof(buf);
		char line[24];

		for (size_t i = 0; i < k; i++)
			buf[i] = pattern(off + i);
		if (chunked) {
			int ll = snprintf(line, sizeof(line), "%zx\r\n", k);

			write_all(c->fd, line, (size_t)ll);
		}
		write_all(c->fd, buf, k);
		if (chunked)
			write_all(c->fd, "\r\n", 2);
		off += k;
	}
	if (chunked)
		write_all(c->fd, "0\r\n\r\n", 5);
}

static int b_end(void *user)
{
	struct bconn *c = user;
	char body[128];

	if (!strncmp(c->path, "/hang", 5))
		return 0; /* never answers */
	if (c->upgrade && !strcmp(c->path, "tunnel.example:443")) {
		static const char ok[] = "HTTP/1.1 200 Connection Established\r\n\r\n";

		write_all(c->fd, ok, sizeof(ok) - 1);
		return H1_PAUSE;
	}
	if (c->upgrade && !strncmp(c->path, "/rws", 4)) {
		static const char sw[] = "HTTP/1.1 101 Switching Protocols\r\nconnection: "
					 "upgrade\r\nupgrade: websocket\r\n\r\n";

		write_all(c->fd, sw, sizeof(sw) - 1);
		return H1_PAUSE;
	}
	if (!strncmp(c->path, "/retry", 6)) {
		respond(c, 503, "unavailable");
		return 0;
	}
	if (!strncmp(c->path, "/outlier", 8)) {
		respond(c, c->b->idx == 4 ? 500 : 200, c->b->idx == 4 ? "bad" : "good");
		return 0;
	}
	/* /cb holds its connection until the test lets it go (10 s at most). */
	for (int i = 0; !strncmp(c->path, "/cb", 3) && i < 1000; i++) {
		if (__atomic_load_n(&cb_gate, __ATOMIC_ACQUIRE))
			break;
		usleep(10 * 1000);
	}
	if (!strncmp(c->path, "/rbig/", 6)) {
		send_big(c, strtoull(c->path + 6, NULL, 10), false);
		return 0;
	}
	if (!strncmp(c->path, "/rbigc/", 7)) {
		send_big(c, strtoull(c->path + 7, NULL, 10), true);
		return 0;
	}
	if (!strncmp(c->path, "/rsink", 6)) {
		snprintf(body, sizeof(body), "%llu %llx", (unsigned long long)c->body_len,
			 (unsigned long long)c->body_hash);
		respond(c, 200, body);
		return 0;
	}
	snprintf(body, sizeof(body), "backend-%d", c->b->idx);
	respond(c, 200, body);
	return 0;
}

static const struct h1_parser_ops b_ops = {b_head, b_body, b_end};

static void *bconn_main(void *arg)
{
	struct bconn *c = arg;
	static __thread char buf[65536];
	ssize_t n;

	c->p = h1_parser_new(true, &b_ops, c);
	while (c->p && (n = read(c->fd, buf, sizeof(buf))) > 0) {
		ssize_t used = h1_parser_feed(c->p, buf, (size_t)n);

		if (used < 0)
			break;
		if (c->upgrade && (size_t)used <= (size_t)n) {
			/* The tunnel: echo everything, upper-cased, until EOF. */
			for (ssize_t i = used; i < n; i++)
				buf[i] =
				    (char)(buf[i] >= 'a' && buf[i] <= 'z' ? buf[i] - 32 : buf[i]);
			write_all(c->fd, buf + used, (size_t)(n - used));
			while ((n = read(c->fd, buf, sizeof(buf))) > 0) {
				for (ssize_t i = 0; i < n; i++)
					buf[i] = (char)(buf[i] >= 'a' && buf[i] <= 'z' ? buf[i] - 32
										       : buf[i]);
				write_all(c->fd, buf, (size_t)n);
			}
			break;
		}
	}
	h1_parser_free(c->p);
	close(c->fd);
	free(c);
	return NULL;
}

static void *backend_main(void *arg)
{
	struct backend *b = arg;

	for (;;) {
		int fd = accept(b->lfd, NULL, NULL);
		struct bconn *c;
		pthread_t t;

		if (fd < 0)
			return NULL;
		__atomic_add_fetch(&b->conns, 1, __ATOMIC_RELAXED);
		c = calloc(1, sizeof(*c));
		c->b = b;
		c->fd = fd;
		pthread_create(&t, NULL, bconn_main, c);
		pthread_detach(t);
	}
}

/* ---- the waypoint under test ---- */

struct world {
	int lfd;
	uint16_t port;
	struct wp_worker *w;
	struct wp_gen *gen;
};

static struct world W;

/* The model of @yaml with the backends' real ports (the kernel picked them). */
static struct l7_config *compile(const char *yaml)
{
	char err[512];
	struct l7_config *l7 = l7_world_compile(yaml, err, sizeof(err));

	if (!l7)
		print_error("%s\n", err);
	assert_non_null(l7);
	for (size_t s = 0; s < l7->n_services; s++)
		for (size_t e = 0; e < l7->services[s].n_endpoints; e++) {
			struct l7_endpoint *ep = &l7->services[s].endpoints[e];

			for (int k = 0; k < N_BACKENDS; k++)
				if (ep->ip == inet_addr(backend_ip[k]))
					ep->ports[0] = backends[k].port;
		}
	return l7;
}

static int setup(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	struct wp_listener l = {0};
	struct wp_worker_opts o = {.log_fd = -1, .shadow_suffix = true};
	char err[256];

	signal(SIGPIPE, SIG_IGN);
	memset(&W, 0, sizeof(W));
	for (int i = 0; i < N_BACKENDS; i++) {
		struct backend *b = &backends[i];

		b->idx = i;
		pthread_mutex_init(&b->lock, NULL);
		b->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		sa.sin_addr.s_addr = inet_addr(backend_ip[i]);
		sa.sin_port = 0;
		assert_int_equal(bind(b->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(getsockname(b->lfd, (struct sockaddr *)&sa, &sl), 0);
		b->port = ntohs(sa.sin_port);
		/* This one stays closed: its endpoint refuses connections (503 UF). */
		if (i == DOWN)
			continue;
		assert_int_equal(listen(b->lfd, 128), 0);
		pthread_create(&b->th, NULL, backend_main, b);
	}
	W.gen = wp_gen_new(compile(world_yaml), 1, err, sizeof(err));
	assert_non_null(W.gen);
	W.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = inet_addr("127.0.0.1");
	sa.sin_port = 0;
	assert_int_equal(bind(W.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(W.lfd, 128), 0);
	assert_int_equal(getsockname(W.lfd, (struct sockaddr *)&sa, &sl), 0);
	W.port = ntohs(sa.sin_port);
	l.fd = W.lfd;
	l.host = "reviews.shop.svc.cluster.local";
	l.port = 9080;
	W.w = wp_worker_start(W.gen, &l, 1, &o);
	assert_non_null(W.w);
	*state = &W;
	return 0;
}

static int teardown(void **state)
{
	wp_worker_stop(W.w);
	wp_gen_put(W.gen);
	close(W.lfd);
	for (int i = 0; i < N_BACKENDS; i++) {
		shutdown(backends[i].lfd, SHUT_RDWR);
		close(backends[i].lfd);
	}
	return 0;
}

/* ---- a client ---- */

struct resp {
	int status;
	struct http_fields fields;
	char body[4096];
	uint64_t len, hash;
	bool done;
	int count; /* responses completed on the connection */
};

static int r_head(void *user, struct h1_head *h)
{
	struct resp *r = user;

	r->status = h->status;
	http_fields_free(&r->fields);
	r->fields = h->fields;
	memset(&h->fields, 0, sizeof(h->fields));
	r->len = 0;
	r->hash = 1469598103934665603ull;
	r->body[0] = '\0';
	return 0;
}

static int r_body(void *user, const char *d, size_t n)
{
	struct resp *r = user;

	if (r->len < sizeof(r->body) - 1) {
		size_t k = n < sizeof(r->body) - 1 - r->len ? n : sizeof(r->body) - 1 - r->len;

		memcpy(r->body + r->len, d, k);
		r->body[r->len + k] = '\0';
	}
	r->len += n;
	r->hash = fnv(r->hash, d, n);
	return 0;
}

static int r_end(void *user)
{
	struct resp *r = user;

	r->done = true;
	r->count++;
	return H1_PAUSE;
}

static const struct h1_parser_ops r_ops = {r_head, r_body, r_end};

/* A connection to the waypoint from @src (NULL: 127.0.0.1). */
static int dial_from(const char *src)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(W.port)};
	struct timeval tv = {.tv_sec = 20};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (src) {
		struct sockaddr_in me = {.sin_family = AF_INET};

		me.sin_addr.s_addr = inet_addr(src);
		assert_int_equal(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0);
	}

	sa.sin_addr.s_addr = inet_addr("127.0.0.1");
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static int dial(void)
{
	return dial_from(NULL);
}

/* Reads one response on @fd through @p (kept across responses); false at EOF or error. */
static bool read_resp(int fd, struct h1_parser *p, struct resp *r, char *carry, size_t *carry_len)
{
	char buf[65536];

	r->done = false;
	h1_parser_resume(p);
	for (;;) {
		ssize_t n, used;
		const char *d;

		if (*carry_len) {
			memcpy(buf, carry, *carry_len);
			n = (ssize_t)*carry_len;
			*carry_len = 0;
		} else {
			n = read(fd, buf, sizeof(buf));
			if (n <= 0)
				return h1_parser_eof(p) == 0 && r->done;
		}
		d = buf;
		used = h1_parser_feed(p, d, (size_t)n);
		if (used < 0)
			return false;
		if (r->done) {
			memcpy(carry, buf + used, (size_t)(n - used));
			*carry_len = (size_t)(n - used);
			return true;
		}
	}
}

/* One request from @src on a new connection: the response in @r (caller frees r->fields). */
static void request_from(const char *src, const char *req, struct resp *r)
{
	int fd = dial_from(src);
	struct h1_parser *p = h1_parser_new(false, &r_ops, r);
	char carry[65536];
	size_t cl = 0;

	memset(r, 0, sizeof(*r));
	write_all(fd, req, strlen(req));
	if (!read_resp(fd, p, r, carry, &cl))
		r->status = -1;
	h1_parser_free(p);
	close(fd);
}

static void request(const char *req, struct resp *r)
{
	request_from(NULL, req, r);
}

static const char *hdr(const struct resp *r, const char *name)
{
	const char *v = http_fields_get(&r->fields, name);

	return v ? v : "";
}

#define GET(path, extra) "GET " path " HTTP/1.1\r\nhost: reviews\r\n" extra "\r\n"

static void test_routing(void **state)
{
	struct resp r;

	request(GET("/r/x", ""), &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(hdr(&r, "x-backend"), "0");
	http_fields_free(&r.fields);
	/* end-user: jason takes v2, whatever the path. */
	request(GET("/r/x", "end-user: jason\r\n"), &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(hdr(&r, "x-backend"), "1");
	http_fields_free(&r.fields);
	request(GET("/nothing", ""), &r);
	assert_int_equal(r.status, 404);
	http_fields_free(&r.fields);
	/* An absolute-form target is routed by its path, its authority becomes the Host. */
	request("GET http://reviews.shop:9080/r/abs HTTP/1.1\r\nhost: other\r\n\r\n", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(hdr(&r, "x-seen-path"), "/r/abs");
	assert_string_equal(hdr(&r, "x-seen-host"), "reviews.shop:9080");
	http_fields_free(&r.fields);
	/* A gRPC request's local reply is trailers-only: 200 with grpc-status (12 for a 404). */
	request("POST /nothing HTTP/1.1\r\nhost: reviews\r\ncontent-type: application/grpc\r\n"
		"content-length: 0\r\n\r\n",
		&r);
	assert_int_equal(r.status, 200);
	assert_string_equal(hdr(&r, "grpc-status"), "12");
	http_fields_free(&r.fields);
}

static void test_local_answers(void **state)
{
	struct resp r;

	request(GET("/redirect/a?q=1", ""), &r);
	assert_int_equal(r.status, 302);
	/* Envoy keeps the query of a redirected request (strip_query false). */
	assert_string_equal(hdr(&r, "location"), "http://elsewhere.example/moved?q=1");
	http_fields_free(&r.fields);
	request(GET("/direct", ""), &r);
	assert_int_equal(r.status, 418);
	assert_string_equal(r.body, "teapot");
	http_fields_free(&r.fields);
	request(GET("/abort", ""), &r);
	assert_int_equal(r.status, 418);
	assert_string_equal(r.body, "fault filter abort");
	http_fields_free(&r.fields);
}

static void test_rewrite_headers(void **state)
{
	struct resp r;

	const char *rid;

	request(GET("/rewrite/sub?k=v", "x-forwarded-for: 10.0.0.1\r\n"
					"connection: keep-alive, x-hop\r\nx-hop: 1\r\n"),
		&r);
	assert_int_equal(r.status, 200);
	/* Envoy's connection manager: XFF appended, XFP set, a UUID v4 request id, no hop. */
	assert_string_equal(hdr(&r, "x-seen-xff"), "10.0.0.1,127.0.0.1");
	assert_string_equal(hdr(&r, "x-seen-xfp"), "http");
	assert_string_equal(hdr(&r, "x-seen-hop"), "0");
	rid = hdr(&r, "x-seen-rid");
	assert_int_equal(strlen(rid), 36);
	assert_int_equal(rid[14], '4');
	assert_string_equal(hdr(&r, "x-seen-path"), "/rewritten/sub?k=v");
	assert_string_equal(hdr(&r, "x-seen-added"), "yes");
	assert_string_equal(hdr(&r, "x-resp"), "route");
	assert_string_equal(hdr(&r, "x-dest"), "v1");
	http_fields_free(&r.fields);
}

static void test_weighted_split(void **state)
{
	struct resp r;
	int v2 = 0, n = 200;

	for (int i = 0; i < n; i++) {
		request(GET("/split", ""), &r);
		assert_int_equal(r.status, 200);
		v2 += !strcmp(hdr(&r, "x-backend"), "1");
		http_fields_free(&r.fields);
	}
	/* Binomial(200, 0.5): sd 7.07; 100 +- 35 is 4.95 sd (a false failure ~1e-6). */
	assert_in_range(v2, 65, 135);
}

/* consistentHash on a header: one user always reaches the same host; users spread. */
static void test_consistent_hash(void **state)
{
	int seen[2] = {0};
	struct resp r;
	char req[256];

	for (int u = 0; u < 20; u++) {
		char first[8] = "";

		for (int i = 0; i < 5; i++) {
			snprintf(req, sizeof(req), GET("/hash", "x-user: user-%d\r\n"), u);
			request(req, &r);
			assert_int_equal(r.status, 200);
			if (!i)
				snprintf(first, sizeof(first), "%s", hdr(&r, "x-backend"));
			assert_string_equal(hdr(&r, "x-backend"), first);
			http_fields_free(&r.fields);
		}
		seen[first[0] == '1']++;
	}
	/* 20 users on a ring of 2 hosts all on one: probability 2^-19. */
	assert_true(seen[0] > 0 && seen[1] > 0);
}

/*
 * httpCookie with a ttl: the first response sets the cookie (Envoy's Set-Cookie), and the
 * requests carrying it stay on the host the first one went to.
 */
static void test_hash_cookie(void **state)
{
	struct resp r;
	char req[512], first[8], cookie[128];
	const char *sc, *q;

	request(GET("/sticky", ""), &r);
	assert_int_equal(r.status, 200);
	snprintf(first, sizeof(first), "%s", hdr(&r, "x-backend"));
	sc = hdr(&r, "set-cookie");
	assert_int_equal(strncmp(sc, "sticky=\"", 8), 0);
	assert_non_null(strstr(sc, "; Max-Age=60; Path=/; HttpOnly"));
	q = strchr(sc + 8, '"');
	assert_non_null(q);
	snprintf(cookie, sizeof(cookie), "%.*s", (int)(q - sc + 1), sc);
	http_fields_free(&r.fields);
	for (int i = 0; i < 10; i++) {
		snprintf(req, sizeof(req), GET("/sticky", "cookie: a=b; %s\r\n"), cookie);
		request(req, &r);
		assert_int_equal(r.status, 200);
		assert_string_equal(hdr(&r, "x-backend"), first);
		assert_string_equal(hdr(&r, "set-cookie"), ""); /* it had one */
		http_fields_free(&r.fields);
	}
}

static void test_timeout_retries_failures(void **state)
{
	struct resp r;
	int before = __atomic_load_n(&backends[0].hits, __ATOMIC_RELAXED);

	request(GET("/hang", ""), &r);
	assert_int_equal(r.status, 504);
	assert_string_equal(r.body, "upstream request timeout");
	http_fields_free(&r.fields);
	/* 2 retries on 5xx: 3 hits, the last 503 answered. */
	before = __atomic_load_n(&backends[0].hits, __ATOMIC_RELAXED);
	request(GET("/retry", ""), &r);
	assert_int_equal(r.status, 503);
	assert_int_equal(__atomic_load_n(&backends[0].hits, __ATOMIC_RELAXED) - before, 3);
	http_fields_free(&r.fields);
	/* A refused endpoint: 503 UF after Istio's default retries. */
	request(GET("/down", ""), &r);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.body, "connection failure"));
	http_fields_free(&r.fields);
	/* The delay happened and the request went on. */
	request(GET("/delay", ""), &r);
	assert_int_equal(r.status, 200);
	http_fields_free(&r.fields);
}

static void test_mirror(void **state)
{
	struct resp r;
	int before = __atomic_load_n(&backends[2].hits, __ATOMIC_RELAXED);

	request(GET("/mirror", ""), &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(hdr(&r, "x-backend"), "0");
	http_fields_free(&r.fields);
	for (int i = 0; i < 200 && __atomic_load_n(&backends[2].hits, __ATOMIC_RELAXED) == before;
	     i++)
		usleep(10000);
	assert_int_equal(__atomic_load_n(&backends[2].hits, __ATOMIC_RELAXED), before + 1);
	pthread_mutex_lock(&backends[2].lock);
	assert_string_equal(backends[2].last_host, "reviews-shadow");
	pthread_mutex_unlock(&backends[2].lock);
}

static void test_outlier(void **state)
{
	struct resp r;
	int bad = 0, after = 0;

	/* Round robin over a bad and a good host; 2 consecutive 5xx eject the bad one. */
	for (int i = 0; i < 8; i++) {
		request(GET("/outlier", ""), &r);
		bad += r.status == 500;
		if (i >= 4)
			after += r.status == 500;
		http_fields_free(&r.fields);
	}
	assert_int_equal(bad, 2);
	assert_int_equal(after, 0);
}

struct cb_arg {
	int status, done;
	char flags[16];
};

static void *cb_client(void *arg)
{
	struct cb_arg *a = arg;
	struct resp r;

	request(GET("/cb", ""), &r);
	a->status = r.status;
	snprintf(a->flags, sizeof(a->flags), "%s", hdr(&r, "x-envoy-overloaded"));
	http_fields_free(&r.fields);
	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static int finished(struct cb_arg *a, int n)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		k += __atomic_load_n(&a[i].done, __ATOMIC_ACQUIRE);
	return k;
}

static void test_circuit_breaking(void **state)
{
	pthread_t t[6];
	struct cb_arg a[6] = {0};
	int ok = 0, uo = 0, hits = __atomic_load_n(&backends[3].hits, __ATOMIC_RELAXED);

	/*
	 * maxConnections 1, http1MaxPendingRequests 1: while the backend holds the first request,
	 * at most one more may wait for the connection; the others overflow at once (503 UO).
	 */
	__atomic_store_n(&cb_gate, 0, __ATOMIC_RELEASE);
	for (int i = 0; i < 6; i++)
		pthread_create(&t[i], NULL, cb_client, &a[i]);
	for (int i = 0; i < 2000 && (finished(a, 6) < 4 ||
				     __atomic_load_n(&backends[3].hits, __ATOMIC_RELAXED) == hits);
	     i++)
		usleep(10 * 1000);
	__atomic_store_n(&cb_gate, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 6; i++) {
		ok += a[i].status == 200;
		uo += a[i].status == 503 && !strcmp(a[i].flags, "true");
	}
	assert_in_range(ok, 1, 2);
	assert_int_equal(ok + uo, 6);
}

static void test_keepalive_pipelining(void **state)
{
	int fd = dial(), conns = __atomic_load_n(&backends[0].conns, __ATOMIC_RELAXED);
	struct resp r = {0};
	struct h1_parser *p = h1_parser_new(false, &r_ops, &r);
	static const char three[] = GET("/r/1", "") GET("/r/2", "") GET("/r/3", "");
	char carry[65536];
	size_t cl = 0;

	write_all(fd, three, sizeof(three) - 1);
	for (int i = 1; i <= 3; i++) {
		char want[8];

		assert_true(read_resp(fd, p, &r, carry, &cl));
		snprintf(want, sizeof(want), "/r/%d", i);
		assert_int_equal(r.status, 200);
		assert_string_equal(hdr(&r, "x-seen-path"), want);
	}
	/* One upstream connection carried all three (kept alive, reused). */
	assert_true(__atomic_load_n(&backends[0].conns, __ATOMIC_RELAXED) - conns <= 1);
	http_fields_free(&r.fields);
	h1_parser_free(p);
	close(fd);
}

static void test_big_bodies(void **state)
{
	const uint64_t n = 100ull << 20;
	struct resp r;
	uint64_t h = 1469598103934665603ull;
	char req[256], buf[65536], want[64];
	int fd;
	struct h1_parser *p;
	size_t cl = 0;
	static char carry[65536];

	/* Download, Content-Length then chunked: byte-exact. */
	for (int chunked = 0; chunked < 2; chunked++) {
		snprintf(req, sizeof(req), "GET /rbig%s/%llu HTTP/1.1\r\nhost: reviews\r\n\r\n",
			 chunked ? "c" : "", (unsigned long long)n);
		request(req, &r);
		assert_int_equal(r.status, 200);
		assert_true(r.len == n);
		h = 1469598103934665603ull;
		for (uint64_t off = 0; off < n; off += sizeof(buf)) {
			for (size_t i = 0; i < sizeof(buf); i++)
				buf[i] = pattern(off + i);
			h = fnv(h, buf, sizeof(buf));
		}
		assert_true(r.hash == h);
		http_fields_free(&r.fields);
	}
	/* Upload, chunked then Content-Length: the backend sees every byte. */
	for (int chunked = 0; chunked < 2; chunked++) {
		fd = dial();
		memset(&r, 0, sizeof(r));
		p = h1_parser_new(false, &r_ops, &r);
		snprintf(req, sizeof(req), "POST /rsink HTTP/1.1\r\nhost: reviews\r\n%s%s\r\n\r\n",
			 chunked ? "transfer-encoding: chunked" : "content-length: ",
			 chunked ? "" : "104857600");
		write_all(fd, req, strlen(req));
		for (uint64_t off = 0; off < n; off += sizeof(buf)) {
			for (size_t i = 0; i < sizeof(buf); i++)
				buf[i] = pattern(off + i);
			if (chunked)
				write_all(fd, "10000\r\n", 7);
			write_all(fd, buf, sizeof(buf));
			if (chunked)
				write_all(fd, "\r\n", 2);
		}
		if (chunked)
			write_all(fd, "0\r\n\r\n", 5);
		assert_true(read_resp(fd, p, &r, carry, &cl));
		snprintf(want, sizeof(want), "%llu %llx", (unsigned long long)n,
			 (unsigned long long)h);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.body, want);
		http_fields_free(&r.fields);
		h1_parser_free(p);
		close(fd);
	}
}

/* Reads into @buf (@len bytes, kept terminated) until it holds @want or the peer stops. */
static void read_until(int fd, char *buf, size_t len, const char *want)
{
	size_t got = 0;

	buf[0] = '\0';
	while (got < len - 1 && !strstr(buf, want)) {
		ssize_t n = read(fd, buf + got, len - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
	}
}

/*
 * Opens a tunnel with @req (the backend answers @ok, then echoes upper-cased: @early, what
 * the request carried behind its head, first), then checks that bytes written into the tunnel
 * come back.
 */
static void tunnel(const char *req, const char *ok, const char *early)
{
	int fd = dial();
	char buf[4096];

	write_all(fd, req, strlen(req));
	read_until(fd, buf, sizeof(buf), early);
	assert_non_null(strstr(buf, ok));
	assert_non_null(strstr(buf, early));
	write_all(fd, "opaque bytes", 12);
	read_until(fd, buf, sizeof(buf), "OPAQUE BYTES");
	assert_non_null(strstr(buf, "OPAQUE BYTES"));
	close(fd);
}

static void test_websocket(void **state)
{
	/* The bytes right behind the request head reach the backend once it switched. */
	tunnel("GET /rws HTTP/1.1\r\nhost: reviews\r\nconnection: upgrade\r\n"
	       "upgrade: websocket\r\n\r\nhello",
	       "HTTP/1.1 101", "HELLO");
}

/* A CONNECT, once the upstream accepts it, is a byte pipe both ways. */
static void test_connect(void **state)
{
	tunnel("CONNECT tunnel.example:443 HTTP/1.1\r\nhost: reviews\r\n\r\n", "HTTP/1.1 200",
	       "\r\n\r\n");
}

static void test_oversized_head(void **state)
{
	static char req[70 * 1024];
	struct resp r;
	int n = snprintf(req, sizeof(req), "GET /r HTTP/1.1\r\nhost: reviews\r\nx-big: ");

	memset(req + n, 'a', 65 * 1024);
	memcpy(req + n + 65 * 1024, "\r\n\r\n", 5);
	request(req, &r);
	assert_int_equal(r.status, 431);
	http_fields_free(&r.fields);
}

static void test_metrics(void **state)
{
	struct wp_stats *s = wp_worker_stats(W.w);
	struct resp r;
	char *text;

	/* From the address of pod shop/s1: its labels are the source's. */
	request_from("127.0.0.13", GET("/r/metrics", ""), &r);
	http_fields_free(&r.fields);
	/* The record is made when the exchange ends, which the client may see a moment before. */
	text = wp_stats_render(&s, 1);
	for (int i = 0; i < 500 && text && !strstr(text, "source_workload=\"s1\""); i++) {
		free(text);
		usleep(10 * 1000);
		text = wp_stats_render(&s, 1);
	}
	assert_non_null(text);
	assert_non_null(strstr(text, "# TYPE istio_requests_total counter"));
	assert_non_null(strstr(text, "istio_requests_total{reporter=\"waypoint\""));
	assert_non_null(strstr(text, "destination_service=\"reviews.shop.svc.cluster.local\""));
	assert_non_null(strstr(text, "destination_version=\"v1\""));
	assert_non_null(strstr(text, "destination_workload=\"r1\""));
	assert_non_null(strstr(text, "source_workload=\"s1\",source_canonical_service=\"shadow\""));
	assert_non_null(strstr(text, "source_app=\"shadow\""));
	assert_non_null(strstr(text, "response_code=\"418\""));
	assert_non_null(strstr(text, "response_flags=\"FI\""));
	assert_non_null(strstr(text, "response_flags=\"NR\""));
	assert_non_null(strstr(text, "response_flags=\"DI\""));
	assert_non_null(strstr(text, "response_flags=\"UT\""));
	assert_non_null(strstr(text, "response_flags=\"UO\""));
	assert_non_null(strstr(text, "response_flags=\"UF,URX\""));
	assert_non_null(strstr(text, "response_code=\"504\""));
	assert_non_null(strstr(text, "response_code=\"431\""));
	assert_non_null(strstr(text, "response_flags=\"DPE\""));
	assert_non_null(strstr(text, "istio_request_duration_milliseconds_bucket{"));
	assert_non_null(strstr(text, "le=\"3.6e+06\""));
	assert_non_null(strstr(text, "istio_response_bytes_bucket{"));
	free(text);
}

static void test_access_log(void **state)
{
	struct wp_record rec = {.method = "GET",
				.path = "/x?y",
				.protocol = "HTTP/1.1",
				.status = 503,
				.flags = "UF,URX",
				.details =
				    "upstream_reset_before_response_started{connection_failure}",
				.bytes_sent = 91,
				.upstream_ms = -1,
				.request_id = "id-1",
				.authority = "reviews",
				.upstream_host = "127.0.0.1:80",
				.grpc_status = -1};
	char buf[4096];
	struct wp_log *lg;
	struct loop *l;
	ssize_t n;
	cJSON *j;
	int p[2];

	assert_int_equal(pipe(p), 0);
	l = loop_create();
	assert_non_null(l);
	lg = wp_log_new(l, p[1], false);
	assert_non_null(lg);
	wp_stats_record(NULL, &rec, lg);
	/* Written after the batch, not from inside the request's end. */
	assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(read(p[0], buf, 1), -1);
	loop_run_once(l, 0);
	n = read(p[0], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	/* Istio's default format, field by field. */
	assert_int_equal(buf[0], '[');
	assert_non_null(strstr(buf,
			       "] \"GET /x?y HTTP/1.1\" 503 UF,URX "
			       "upstream_reset_before_response_started{connection_failure} - \"-\" "
			       "0 91 0 - \"-\" \"-\" \"id-1\" \"reviews\" \"127.0.0.1:80\""));
	assert_int_equal(buf[n - 1], '\n');
	wp_log_free(lg);
	lg = wp_log_new(l, p[1], true);
	assert_non_null(lg);
	wp_stats_record(NULL, &rec, lg);
	loop_run_once(l, 0);
	n = read(p[0], buf, sizeof(buf) - 1);
	buf[n] = '\0';
	j = cJSON_Parse(buf);
	assert_non_null(j);
	assert_int_equal(cJSON_GetObjectItem(j, "response_code")->valueint, 503);
	assert_string_equal(cJSON_GetObjectItem(j, "response_flags")->valuestring, "UF,URX");
	assert_string_equal(cJSON_GetObjectItem(j, "upstream_host")->valuestring, "127.0.0.1:80");
	cJSON_Delete(j);
	/* A batch of 100 lines: every one of them, whole (written in pieces of whole lines). */
	for (int i = 0; i < 100; i++)
		wp_stats_record(NULL, &rec, lg);
	loop_run_once(l, 0);
	{
		static char all[100 * 1024];
		size_t got = 0, lines = 0;
		const char *first;

		while ((n = read(p[0], all + got, sizeof(all) - got)) > 0)
			got += (size_t)n;
		assert_true(got > 0 && all[got - 1] == '\n');
		first = strchr(all, '\n');
		for (size_t k = 0; k < got; k++)
			lines += all[k] == '\n';
		assert_int_equal(lines, 100);
		/* 100 copies of one line: none cut or interleaved. */
		assert_int_equal(got % (size_t)(first - all + 1), 0);
	}
	wp_log_free(lg);
	loop_destroy(l);
	close(p[0]);
	close(p[1]);
}

struct hang_arg {
	int status;
};

static void *slow_client(void *arg)
{
	struct hang_arg *a = arg;
	struct resp r;

	/* Served by the generation current when it started, even after a reload. */
	request(GET("/cb/slow", ""), &r);
	a->status = r.status;
	http_fields_free(&r.fields);
	return NULL;
}

/* The errno of a connect to the waypoint's listener, 0 when it connects. */
static int dial_refused(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(W.port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err;

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	err = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ? errno : 0;
	close(fd);
	return err;
}

static void test_reload_and_drain(void **state)
{
	static const char changed[] = "  - match: [{uri: {exact: /direct}}]\n"
				      "    directResponse: {status: 418, body: {string: teapot}}\n";
	char *yaml = strdup(world_yaml), *at = strstr(yaml, changed), err[256];
	struct hang_arg a = {0};
	struct wp_gen *g;
	struct resp r;
	pthread_t t;

	int hits = __atomic_load_n(&backends[3].hits, __ATOMIC_RELAXED);

	/* The reload: /direct now answers 299, while a request is held at the backend. */
	assert_non_null(at);
	memcpy(strstr(at, "418"), "299", 3);
	__atomic_store_n(&cb_gate, 0, __ATOMIC_RELEASE);
	pthread_create(&t, NULL, slow_client, &a);
	for (int i = 0; i < 1000 && __atomic_load_n(&backends[3].hits, __ATOMIC_RELAXED) == hits;
	     i++)
		usleep(10 * 1000);
	g = wp_gen_new(compile(yaml), 2, err, sizeof(err));
	assert_non_null(g);
	wp_gen_inherit(g, W.gen); /* as main does */
	wp_worker_set_gen(W.w, g);
	for (int i = 0; i < 100; i++) {
		request(GET("/direct", ""), &r);
		http_fields_free(&r.fields);
		if (r.status == 299)
			break;
		usleep(10000);
	}
	assert_int_equal(r.status, 299);
	__atomic_store_n(&cb_gate, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	assert_int_equal(a.status, 200); /* the in-flight request was not dropped */
	/* The host test_outlier ejected stays ejected under the new generation (as in Envoy). */
	for (int i = 0; i < 4; i++) {
		request(GET("/outlier", ""), &r);
		assert_int_equal(r.status, 200);
		http_fields_free(&r.fields);
	}
	wp_gen_put(W.gen);
	W.gen = g;
	free(yaml);
	/* Drain: an in-flight request finishes, then nothing is left open. */
	hits = __atomic_load_n(&backends[3].hits, __ATOMIC_RELAXED);
	__atomic_store_n(&cb_gate, 0, __ATOMIC_RELEASE);
	pthread_create(&t, NULL, slow_client, &a);
	for (int i = 0; i < 1000 && __atomic_load_n(&backends[3].hits, __ATOMIC_RELAXED) == hits;
	     i++)
		usleep(10 * 1000);
	wp_worker_drain(W.w);
	/* A new client is refused at once (it tries elsewhere), not queued until the exit. */
	assert_int_equal(dial_refused(), ECONNREFUSED);
	/* The worker takes the drain while the request is still held (no outcome depends on it). */
	usleep(100 * 1000);
	__atomic_store_n(&cb_gate, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	assert_int_equal(a.status, 200);
	for (int i = 0; i < 500 && wp_worker_active(W.w); i++)
		usleep(10000);
	assert_int_equal(wp_worker_active(W.w), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_routing),
	    cmocka_unit_test(test_local_answers),
	    cmocka_unit_test(test_rewrite_headers),
	    cmocka_unit_test(test_weighted_split),
	    cmocka_unit_test(test_consistent_hash),
	    cmocka_unit_test(test_hash_cookie),
	    cmocka_unit_test(test_timeout_retries_failures),
	    cmocka_unit_test(test_mirror),
	    cmocka_unit_test(test_outlier),
	    cmocka_unit_test(test_circuit_breaking),
	    cmocka_unit_test(test_keepalive_pipelining),
	    cmocka_unit_test(test_big_bodies),
	    cmocka_unit_test(test_websocket),
	    cmocka_unit_test(test_connect),
	    cmocka_unit_test(test_oversized_head),
	    cmocka_unit_test(test_metrics),
	    cmocka_unit_test(test_access_log),
	    cmocka_unit_test(test_reload_and_drain),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
