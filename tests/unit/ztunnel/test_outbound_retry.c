// SPDX-License-Identifier: Apache-2.0
/*
 * The outbound retry of HBONE opens that fail before the CONNECT is established (the two nodes
 * apply an (un)enrollment at different moments), with two ztunnels on loopback addresses
 * standing in for pods: 127.0.0.1 = client pod A (node n1), 127.0.0.2 = server pod B (node n2).
 * The "HBONE port" of node n2 is a socket the test controls: bound but not listening (the SYN
 * meets a reset, as when n2's tc does not capture B yet), listening with n2's ztunnel behind it,
 * or with a full accept queue (SYNs dropped, as when n2's ztunnel is down). orig_dst is a real
 * BPF hash map (root needed, else skipped).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <cmocka.h>
#include <linux/types.h>

#include "ambit/ca.h"
#include "ambit/datapath.h"
#include "hbone/hbone.h"
#include "../../../ztunnel/metrics.h"
#include "../../lib/harness.h"
#include "../../../ztunnel/proxy.h"
#include "net/sock.h"

#define ID_A "spiffe://cluster.local/ns/demo/sa/a"
#define ID_B "spiffe://cluster.local/ns/demo/sa/b"

/* The series of A -> B connections as node n1 reports them, by transport. */
#define SERIES_MTLS "destination_workload=\"b\"", "connection_security_policy=\"mutual_tls\""
#define SERIES_PLAIN "destination_workload=\"b\"", "connection_security_policy=\"none\""
#define SERIES_CONNECT_FAILED "destination_workload=\"b\"", "response_flags=\"CONNECT\""

/* The cluster as @node sees it, A and B enrolled or not, with a certificate for @id (or none). */
static struct snapshot *make_snap2(const char *node, struct ambit_ca *ca, const char *id,
				   bool a_enrolled, bool b_enrolled)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	struct ca_issued is;

	s->version = 1;
	s->node = strdup(node);
	s->trust_domain = strdup("cluster.local");
	s->root_pem = strdup(ca_root_pem(ca));
	s->workloads = calloc(2, sizeof(*s->workloads));
	harness_add_wl(s, "a", "127.0.0.1", "n1", ID_A, a_enrolled);
	harness_add_wl(s, "b", "127.0.0.2", "n2", ID_B, b_enrolled);
	s->certs = calloc(1, sizeof(*s->certs));
	if (id) {
		assert_int_equal(ca_issue(ca, id, 3600, &is), 0);
		s->certs[0].identity = strdup(id);
		s->certs[0].cert_pem = is.cert_pem;
		s->certs[0].key_pem = is.key_pem;
		s->n_certs = 1;
	}
	return s;
}

static struct snapshot *make_snap(const char *node, struct ambit_ca *ca, const char *id,
				  bool b_enrolled)
{
	return make_snap2(node, ca, id, true, b_enrolled);
}

/* Node n2's HBONE port: bound on B's address, not listening yet (connections are refused). */
static int hbone_port_closed(uint16_t *port)
{
	struct sockaddr_in a = harness_sin("127.0.0.2", 0);
	socklen_t sl = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(fd, (struct sockaddr *)&a, &sl);
	*port = ntohs(a.sin_port);
	return fd;
}

/* A listening socket on 127.0.0.2 for n2's HBONE port (*@port), accepting from the start. */
static int hbone_port_listening(uint16_t *port)
{
	int fd = sock_listen(harness_ip4("127.0.0.2"), 0, false);
	struct sockaddr_in a;
	socklen_t sl = sizeof(a);

	assert_true(fd >= 0);
	getsockname(fd, (struct sockaddr *)&a, &sl);
	*port = ntohs(a.sin_port);
	return fd;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Sum of istio_tcp_connections_@what_total over the source-reported series matching both. */
static unsigned long series(const char *what, const char *m1, const char *m2)
{
	char *text = metrics_render(), *line, *save = NULL, name[64];
	unsigned long sum = 0;

	assert_non_null(text);
	snprintf(name, sizeof(name), "istio_tcp_connections_%s_total{", what);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *v = strrchr(line, ' ');

		if (strncmp(line, name, strlen(name)) == 0 && strstr(line, "reporter=\"source\"") &&
		    strstr(line, m1) && strstr(line, m2) && v)
			sum += strtoul(v + 1, NULL, 10);
	}
	free(text);
	return sum;
}

/* Node n1 (A's ztunnel, outbound only) and node n2's state; n2's worker starts on demand. */
struct env {
	char dir[32];
	struct ambit_ca *ca;
	int orig_fd, out_fd, srv_b;
	uint16_t p_out, p_b;
	struct mesh_state *st1, *st2;
	struct zt_worker *w1, *w2;
};

static bool env_up(struct env *e, uint16_t p_hbone, bool b_enrolled_n2)
{
	struct sockaddr_in a;
	socklen_t sl = sizeof(a);
	struct zt_proxy_opts o1 = {.inbound_fd = -1, .hbone_fd = -1, .hbone_port = p_hbone};

	memset(e, 0, sizeof(*e));
	e->orig_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "test_orig_dst", sizeof(struct ambit_addr),
				    sizeof(struct ambit_orig_dst), 1024, NULL);
	if (e->orig_fd < 0) {
		print_message("needs CAP_BPF: bpf_map_create: %s\n", strerror(errno));
		return false;
	}
	snprintf(e->dir, sizeof(e->dir), "/tmp/ambit-test-ztr-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	e->ca = ca_open(e->dir);
	assert_non_null(e->ca);
	e->srv_b = harness_listen("127.0.0.2", &e->p_b);
	e->out_fd = sock_listen(harness_ip4("127.0.0.1"), 0, false);
	assert_true(e->out_fd >= 0);
	getsockname(e->out_fd, (struct sockaddr *)&a, &sl);
	e->p_out = ntohs(a.sin_port);
	e->st1 = mesh_state_create();
	e->st2 = mesh_state_create();
	assert_int_equal(mesh_state_install(e->st1, make_snap("n1", e->ca, ID_A, true)), 0);
	assert_int_equal(mesh_state_install(e->st2, make_snap("n2", e->ca, ID_B, b_enrolled_n2)),
			 0);
	o1.outbound_fd = e->out_fd;
	o1.orig_dst_fd = e->orig_fd;
	o1.orig_dst6_fd = -1;
	o1.outbound6_fd = o1.inbound6_fd = o1.hbone6_fd = -1;
	e->w1 = zt_worker_start(e->st1, &o1);
	assert_non_null(e->w1);
	return true;
}

/* n2's ztunnel comes up behind the (listening) HBONE socket @hfd. */
static void env_start_n2(struct env *e, int hfd, uint16_t p_hbone)
{
	struct zt_proxy_opts o2 = {.outbound_fd = -1,
				   .inbound_fd = -1,
				   .hbone_fd = hfd,
				   .orig_dst_fd = -1,
				   .orig_dst6_fd = -1,
				   .outbound6_fd = -1,
				   .inbound6_fd = -1,
				   .hbone6_fd = -1,
				   .hbone_port = p_hbone};

	e->w2 = zt_worker_start(e->st2, &o2);
	assert_non_null(e->w2);
}

static void env_down(struct env *e)
{
	char cmd[80];

	zt_worker_stop(e->w1);
	zt_worker_stop(e->w2);
	mesh_state_destroy(e->st1);
	mesh_state_destroy(e->st2);
	close(e->out_fd);
	close(e->srv_b);
	close(e->orig_fd);
	ca_destroy(e->ca);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
}

/* Connects as pod A to the outbound listener with B:p_b as its original destination. */
static int pod_a_connect(struct env *e)
{
	int fd = harness_pod_a_connect(e->orig_fd, e->p_out, "127.0.0.2", e->p_b);

	assert_int_equal(write(fd, "ping", 4), 4);
	return fd;
}

/* B answers the held request: @app's "ping" arrives (from @want_peer if set), "pong" returns. */
static void serve_b(struct env *e, int app, const char *want_peer)
{
	struct sockaddr_in peer;
	char buf[64];
	int up = harness_accept_within(e->srv_b, 5000, &peer);

	assert_true(up >= 0);
	if (want_peer)
		assert_int_equal(peer.sin_addr.s_addr, harness_ip4(want_peer));
	assert_int_equal(read(up, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(write(up, "pong", 4), 4);
	close(up);
	assert_int_equal(read(app, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "pong", 4);
	assert_int_equal(read(app, buf, sizeof(buf)), 0);
	close(app);
}

/* Waits for @app to be closed by the ztunnel; returns how long it took (ms). */
static double wait_closed(int app, double since)
{
	char buf[8];

	assert_true(read(app, buf, sizeof(buf)) <= 0);
	close(app);
	return now_ms() - since;
}

/* n2 does not capture B yet (SYN reset), then its ztunnel comes up: the request succeeds. */
static void test_refused_then_accepted(void **state)
{
	unsigned long opened = series("opened", SERIES_MTLS);
	unsigned long plain = series("opened", SERIES_PLAIN);
	struct env e;
	uint16_t p_hbone;
	int hfd = hbone_port_closed(&p_hbone), app;

	if (!env_up(&e, p_hbone, true)) {
		close(hfd);
		skip();
	}
	app = pod_a_connect(&e);
	usleep(120 * 1000); /* the tries at 0, 25 and 75 ms meet a reset */
	assert_int_equal(listen(hfd, 16), 0);
	env_start_n2(&e, hfd, p_hbone);
	serve_b(&e, app, "127.0.0.1"); /* over HBONE: B sees A's own IP */
	/* One connection, one record: the failed tries are not counted. */
	assert_int_equal(series("opened", SERIES_MTLS), opened + 1);
	assert_int_equal(series("opened", SERIES_PLAIN), plain);
	env_down(&e);
	close(hfd);
}

/* n2's ztunnel has no workload for B yet (it closes the TLS), then its snapshot catches up. */
static void test_tls_closed_then_enrolled(void **state)
{
	struct env e;
	uint16_t p_hbone;
	int hfd = hbone_port_listening(&p_hbone), app;

	if (!env_up(&e, p_hbone, false)) {
		close(hfd);
		skip();
	}
	env_start_n2(&e, hfd, p_hbone);
	app = pod_a_connect(&e);
	usleep(120 * 1000);
	assert_int_equal(mesh_state_install(e.st2, make_snap("n2", e.ca, ID_B, true)), 0);
	serve_b(&e, app, "127.0.0.1");
	env_down(&e);
	close(hfd);
}

/* n2 never captures B while n1 says it is enrolled: fail closed once the bound is spent. */
static void test_refused_until_bound(void **state)
{
	unsigned long opened = series("opened", SERIES_MTLS);
	unsigned long closed = series("closed", SERIES_MTLS);
	unsigned long plain = series("opened", SERIES_PLAIN);
	unsigned long flagged = series("opened", SERIES_CONNECT_FAILED);
	struct sockaddr_in peer;
	struct env e;
	uint16_t p_hbone;
	int hfd = hbone_port_closed(&p_hbone);
	double t0, took;

	if (!env_up(&e, p_hbone, true)) {
		close(hfd);
		skip();
	}
	t0 = now_ms();
	took = wait_closed(pod_a_connect(&e), t0);
	/* Every pause was waited (25+50+100+200+400 ms) and nothing past the ~1 s bound. */
	assert_true(took >= 700);
	assert_true(took < 2500);
	/* Never plaintext while n1's snapshot says B is enrolled. */
	assert_true(harness_accept_within(e.srv_b, 0, &peer) < 0);
	assert_int_equal(series("opened", SERIES_PLAIN), plain);
	/* One record for the six tries, closed, flagged as an upstream connect failure. */
	assert_int_equal(series("opened", SERIES_MTLS), opened + 1);
	assert_int_equal(series("closed", SERIES_MTLS), closed + 1);
	assert_int_equal(series("opened", SERIES_CONNECT_FAILED), flagged + 1);
	assert_int_equal(metrics_open_count(), 0);
	env_down(&e);
	close(hfd);
}

/* n2's ztunnel is down (its SYNs are dropped): the client is closed within the bound. */
static void test_destination_down(void **state)
{
	struct sockaddr_in a = harness_sin("127.0.0.2", 0), peer;
	socklen_t sl = sizeof(a);
	int hfd = socket(AF_INET, SOCK_STREAM, 0), filler = socket(AF_INET, SOCK_STREAM, 0);
	struct env e;
	double t0, took;

	/* A full accept queue drops further SYNs, as n2's tc does with no ztunnel to assign to. */
	assert_int_equal(bind(hfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(hfd, 0), 0);
	getsockname(hfd, (struct sockaddr *)&a, &sl);
	assert_int_equal(connect(filler, (struct sockaddr *)&a, sizeof(a)), 0);
	if (!env_up(&e, ntohs(a.sin_port), true)) {
		close(filler);
		close(hfd);
		skip();
	}
	t0 = now_ms();
	took = wait_closed(pod_a_connect(&e), t0);
	assert_true(took >= HBONE_CONNECT_TIMEOUT_MS - 50);
	assert_true(took < 3000);
	assert_true(harness_accept_within(e.srv_b, 0, &peer) < 0);
	env_down(&e);
	close(filler);
	close(hfd);
}

/* n1's snapshot says B left the mesh between two tries: plain TCP, as a new connection goes. */
static void test_non_mesh_between_tries(void **state)
{
	unsigned long opened = series("opened", SERIES_MTLS);
	unsigned long plain = series("opened", SERIES_PLAIN);
	struct env e;
	uint16_t p_hbone;
	int hfd = hbone_port_listening(&p_hbone), app, first;
	struct sockaddr_in a;

	if (!env_up(&e, p_hbone, true)) {
		close(hfd);
		skip();
	}
	app = pod_a_connect(&e);
	/* The first try reaches n2's HBONE port; n1 learns B left before n2 closes it. */
	first = harness_accept_within(hfd, 5000, &a);
	assert_true(first >= 0);
	assert_int_equal(mesh_state_install(e.st1, make_snap("n1", e.ca, ID_A, false)), 0);
	close(first);
	serve_b(&e, app, NULL); /* plain TCP from the node */
	assert_int_equal(series("opened", SERIES_PLAIN), plain + 1);
	assert_int_equal(series("opened", SERIES_MTLS), opened);
	env_down(&e);
	close(hfd);
}

/*
 * n1's capture map enrolls A before n1's ztunnel has the snapshot saying so (and A's
 * certificate): the connection waits for it instead of being dropped. Meanwhile, a destination
 * outside the mesh goes out as plain TCP at once, as a new connection would either way.
 */
static void test_source_snapshot_late(void **state)
{
	unsigned long opened = series("opened", SERIES_MTLS);
	struct env e;
	uint16_t p_hbone;
	int hfd = hbone_port_listening(&p_hbone), app;

	if (!env_up(&e, p_hbone, true)) {
		close(hfd);
		skip();
	}
	env_start_n2(&e, hfd, p_hbone);
	assert_int_equal(mesh_state_install(e.st1, make_snap2("n1", e.ca, NULL, false, false)), 0);
	serve_b(&e, pod_a_connect(&e), NULL); /* B outside the mesh: plain from the node */
	assert_int_equal(mesh_state_install(e.st1, make_snap2("n1", e.ca, NULL, false, true)), 0);
	app = pod_a_connect(&e);
	usleep(120 * 1000);
	assert_int_equal(mesh_state_install(e.st1, make_snap2("n1", e.ca, ID_A, true, true)), 0);
	serve_b(&e, app, "127.0.0.1"); /* over HBONE once A's identity arrived */
	assert_int_equal(series("opened", SERIES_MTLS), opened + 1);
	env_down(&e);
	close(hfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refused_then_accepted),
	    cmocka_unit_test(test_tls_closed_then_enrolled),
	    cmocka_unit_test(test_refused_until_bound),
	    cmocka_unit_test(test_destination_down),
	    cmocka_unit_test(test_non_mesh_between_tries),
	    cmocka_unit_test(test_source_snapshot_late),
	};

	/* As ztunnel's main does: a peer closing mid-handshake must not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	alarm(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
