// SPDX-License-Identifier: Apache-2.0
/*
 * The DNS proxy's sockets for both families (ztunnel/dns_server.c), on loopback: a client on
 * [::1] asks over UDP (the answer comes from the address it asked, so a connected socket takes
 * it) and over TCP, and is known by its workload's IPv6 address (a short name is expanded in its
 * namespace); 127.0.0.1 still answered over IPv4. Answers handed to the kernel (real maps pinned
 * in a private bpffs directory, as test_dns_kernel's) go by the family the client asked over: an
 * IPv6 client's to dns_answers6 under its IPv6 address, never to dns_answers under the IPv4 one
 * its pod has too, and back; over TCP to neither.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <cmocka.h>
#include <ldns/ldns.h>

#include "../../../ztunnel/dns_server.h"
#include "ambit/bpf_abi.h"
#include "ambit/datapath.h"
#include "net/meshstate.h"
#include "net/sock.h"

/* The client pod is at loopback in both families, so the test's sockets are it. */
static const char SNAP[] =
    "{\"version\":1,\"node\":\"n1\",\"workloads\":["
    "{\"uid\":\"mesh/c\",\"name\":\"c\",\"namespace\":\"mesh\",\"ip\":\"127.0.0.1\","
    " \"ip6\":\"::1\",\"enrolled\":true}],"
    "\"services\":["
    "{\"name\":\"ds\",\"namespace\":\"mesh\",\"vip\":\"10.96.0.20\",\"vip6\":\"fd00:96::20\","
    " \"ports\":[{\"name\":\"http\",\"port\":80}],\"endpoints\":[]}],"
    "\"certs\":[]}";

struct fx {
	char pin_root[64], resolv[64];
	int afd, a6fd, gfd;
	struct mesh_state *st;
	struct zt_dns *d;
	uint16_t port;
};

/* A port free for UDP and TCP on both families' loopback, as far as a probe can tell. */
static uint16_t free_port(void)
{
	for (int tries = 0; tries < 50; tries++) {
		union sockaddr_inet a = {.v6 = {.sin6_family = AF_INET6}};
		socklen_t al = sizeof(a);
		int t = socket(AF_INET6, SOCK_STREAM, 0), u = socket(AF_INET6, SOCK_DGRAM, 0);
		bool ok = t >= 0 && u >= 0 && !bind(t, &a.sa, sizeof(a.v6)) &&
			  !getsockname(t, &a.sa, &al) && !bind(u, &a.sa, sizeof(a.v6));

		if (t >= 0)
			close(t);
		if (u >= 0)
			close(u);
		if (ok)
			return sockaddr_inet_port(&a);
	}
	fail_msg("no free port");
	return 0;
}

/* The TCP knobs the next setup gives the proxy (0: its defaults). */
static struct zt_dns_opts knobs;

static int setup(void **state)
{
	LIBBPF_OPTS(bpf_map_create_opts, hopts, .map_flags = BPF_F_NO_PREALLOC);
	struct fx *f = calloc(1, sizeof(*f));
	struct zt_dns_opts o = {0};
	char path[128], err[200];
	struct snapshot *s;
	FILE *rf;

	if (!f)
		return -1;
	*state = f;
	f->afd = f->a6fd = f->gfd = -1;
	snprintf(f->pin_root, sizeof(f->pin_root), "/sys/fs/bpf/ambit-test-dnss-%d", (int)getpid());
	if (bpffs_ensure_mounted() || mkdir(f->pin_root, 0700))
		return -1;
	f->afd = bpf_map_create(BPF_MAP_TYPE_HASH, "dns_answers", sizeof(struct ambit_dns_key),
				sizeof(struct ambit_dns_answer), AMBIT_MAX_DNS_ANSWERS, &hopts);
	f->a6fd = bpf_map_create(BPF_MAP_TYPE_HASH, "dns_answers6", sizeof(struct ambit_dns_key6),
				 sizeof(struct ambit_dns_answer), AMBIT_MAX_DNS_ANSWERS, &hopts);
	f->gfd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "dns_gen", 4, 4, 1, NULL);
	if (f->afd < 0 || f->a6fd < 0 || f->gfd < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/dns_answers", f->pin_root);
	if (bpf_obj_pin(f->afd, path))
		return -1;
	snprintf(path, sizeof(path), "%s/dns_answers6", f->pin_root);
	if (bpf_obj_pin(f->a6fd, path))
		return -1;
	snprintf(path, sizeof(path), "%s/dns_gen", f->pin_root);
	if (bpf_obj_pin(f->gfd, path))
		return -1;
	/* No resolver: what the proxy does not answer itself gets SERVFAIL at once. */
	snprintf(f->resolv, sizeof(f->resolv), "/tmp/ambit-test-dnss-%d.conf", (int)getpid());
	rf = fopen(f->resolv, "w");
	if (!rf)
		return -1;
	fputs("# no nameserver\n", rf);
	fclose(rf);
	f->st = mesh_state_create();
	s = snapshot_decode(SNAP, sizeof(SNAP) - 1, err, sizeof(err));
	if (!f->st || !s || mesh_state_install(f->st, s))
		return -1;
	o.resolv_conf = f->resolv;
	o.pin_root = f->pin_root;
	o.tcp_max_clients = knobs.tcp_max_clients;
	o.tcp_max_per_source = knobs.tcp_max_per_source;
	o.tcp_idle_ms = knobs.tcp_idle_ms;
	f->port = free_port();
	f->d = zt_dns_start(f->st, f->port, &o);
	return f->d ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int err = 0;

	if (!f)
		return 0;
	zt_dns_stop(f->d);
	mesh_state_destroy(f->st);
	if (f->afd >= 0)
		close(f->afd);
	if (f->a6fd >= 0)
		close(f->a6fd);
	if (f->gfd >= 0)
		close(f->gfd);
	if (f->pin_root[0] && datapath_remove_pins(f->pin_root))
		err = -1;
	if (f->resolv[0])
		unlink(f->resolv);
	free(f);
	return err;
}

/* @name/@type as a query (id 0x5151, RD) on the wire. */
static uint8_t *make_query(const char *name, ldns_rr_type type, size_t *len)
{
	ldns_pkt *q = NULL;
	uint8_t *w = NULL;

	assert_int_equal(ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, LDNS_RD),
			 LDNS_STATUS_OK);
	ldns_pkt_set_id(q, 0x5151);
	assert_int_equal(ldns_pkt2wire(&w, q, len), LDNS_STATUS_OK);
	ldns_pkt_free(q);
	return w;
}

/* Waits (bounded: a lost answer fails the test rather than hanging it) for @fd to be readable. */
static void wait_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	assert_int_equal(poll(&p, 1, 10000), 1);
}

/*
 * Asks @name/@type over UDP from a socket connected to the proxy at @ip (loopback of either
 * family), bound to @src when not NULL: a connected socket takes only what comes from that
 * address and port.
 */
static ldns_pkt *ask_udp_from(const struct fx *f, const char *src, const char *ip, const char *name,
			      ldns_rr_type type)
{
	union sockaddr_inet to = {0};
	struct ipaddr a;
	uint8_t buf[4096], *q;
	size_t qlen;
	ssize_t n;
	ldns_pkt *p = NULL;
	int fd;

	assert_int_equal(ipaddr_parse_addr(ip, &a), 0);
	assert_int_equal(sockaddr_inet_from_ipaddr(&to, &a, f->port), 0);
	fd = socket(to.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (src) {
		union sockaddr_inet from = {0};

		assert_int_equal(ipaddr_parse_addr(src, &a), 0);
		assert_int_equal(sockaddr_inet_from_ipaddr(&from, &a, 0), 0);
		assert_int_equal(bind(fd, &from.sa, sockaddr_inet_len(&from)), 0);
	}
	assert_int_equal(connect(fd, &to.sa, sockaddr_inet_len(&to)), 0);
	q = make_query(name, type, &qlen);
	assert_int_equal(send(fd, q, qlen, 0), (ssize_t)qlen);
	free(q);
	wait_readable(fd);
	n = recv(fd, buf, sizeof(buf), 0);
	close(fd);
	assert_true(n > 12);
	assert_int_equal(ldns_wire2pkt(&p, buf, (size_t)n), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_id(p), 0x5151);
	return p;
}

static ldns_pkt *ask_udp(const struct fx *f, const char *ip, const char *name, ldns_rr_type type)
{
	return ask_udp_from(f, NULL, ip, name, type);
}

/* The same over a TCP connection (two-byte length prefix). */
static ldns_pkt *ask_tcp(const struct fx *f, const char *ip, const char *name, ldns_rr_type type)
{
	union sockaddr_inet to = {0};
	struct ipaddr a;
	uint8_t buf[2 + 4096], *q;
	size_t qlen, got = 0, want = 2;
	ldns_pkt *p = NULL;
	int fd;

	assert_int_equal(ipaddr_parse_addr(ip, &a), 0);
	assert_int_equal(sockaddr_inet_from_ipaddr(&to, &a, f->port), 0);
	fd = socket(to.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, &to.sa, sockaddr_inet_len(&to)), 0);
	q = make_query(name, type, &qlen);
	buf[0] = (uint8_t)(qlen >> 8);
	buf[1] = (uint8_t)qlen;
	assert_int_equal(send(fd, buf, 2, MSG_MORE), 2);
	assert_int_equal(send(fd, q, qlen, 0), (ssize_t)qlen);
	free(q);
	while (got < want) {
		ssize_t n;

		wait_readable(fd);
		n = recv(fd, buf + got, sizeof(buf) - got, 0);
		assert_true(n > 0);
		got += (size_t)n;
		if (got >= 2)
			want = 2 + ((size_t)buf[0] << 8 | buf[1]);
	}
	close(fd);
	assert_int_equal(ldns_wire2pkt(&p, buf + 2, want - 2), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_id(p), 0x5151);
	return p;
}

/* Whether @p is NOERROR with one answer, of @type, holding @txt. */
static void answered(ldns_pkt *p, ldns_rr_type type, const char *txt)
{
	const ldns_rr *rr;
	uint8_t want[16];
	size_t len = type == LDNS_RR_TYPE_A ? 4 : 16;

	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	rr = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
	assert_int_equal(ldns_rr_get_type(rr), type);
	assert_int_equal(inet_pton(len == 4 ? AF_INET : AF_INET6, txt, want), 1);
	assert_int_equal(ldns_rdf_size(ldns_rr_rdf(rr, 0)), len);
	assert_memory_equal(ldns_rdf_data(ldns_rr_rdf(rr, 0)), want, len);
	ldns_pkt_free(p);
}

/* The entries of the kernel's dns_answers, and the client of the last one in *@pod_ip. */
static int published(const struct fx *f, uint32_t *pod_ip)
{
	struct ambit_dns_key k, next;
	int n = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(f->afd, prev, &next)) {
		k = next;
		prev = &k;
		*pod_ip = k.pod_ip;
		n++;
	}
	return n;
}

/*
 * The entry of the kernel's dns_answers6 for @name/@type asked from [::1]: checks that it is
 * there under [::1] and the query's bytes after its id, and that its answer is the proxy's,
 * holding @txt.
 */
static void published6(const struct fx *f, const char *name, ldns_rr_type type, const char *txt)
{
	struct ambit_dns_key6 k = {0};
	struct ambit_dns_answer v;
	ldns_pkt *p = NULL;
	size_t qlen;
	uint8_t *q = make_query(name, type, &qlen);

	assert_int_equal(inet_pton(AF_INET6, "::1", k.pod_ip6), 1);
	k.qlen = (uint16_t)(qlen - 2);
	memcpy(k.q, q + 2, qlen - 2);
	free(q);
	assert_int_equal(bpf_map_lookup_elem(f->a6fd, &k, &v), 0);
	assert_true(v.alen > 12 && v.alen <= AMBIT_DNS_AMAX);
	assert_int_equal(ldns_wire2pkt(&p, v.a, v.alen), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_id(p), 0x5151);
	answered(p, type, txt);
}

static int published_count(int fd)
{
	struct ambit_dns_key6 k, next; /* the larger key */
	int n = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

/*
 * An IPv6 client over UDP: answered from [::1] (the connected socket takes it), known by its
 * ip6 (the short name is its namespace's), and its answers published to the kernel's
 * dns_answers6 under [::1], none to dns_answers under the pod's IPv4 address; the answer the
 * proxy's cache gives again is not written twice. The same pod over IPv4 is published to
 * dns_answers under its IPv4 address, dns_answers6 unchanged.
 */
static void test_ipv6_client_udp(void **state)
{
	struct fx *f = *state;
	uint32_t pod = 0;

	answered(ask_udp(f, "::1", "ds.", LDNS_RR_TYPE_AAAA), LDNS_RR_TYPE_AAAA, "fd00:96::20");
	answered(ask_udp(f, "::1", "ds.mesh.svc.cluster.local.", LDNS_RR_TYPE_A), LDNS_RR_TYPE_A,
		 "10.96.0.20");
	assert_int_equal(published(f, &pod), 0);
	assert_int_equal(published_count(f->a6fd), 2);
	published6(f, "ds.", LDNS_RR_TYPE_AAAA, "fd00:96::20");
	published6(f, "ds.mesh.svc.cluster.local.", LDNS_RR_TYPE_A, "10.96.0.20");
	/* The same query again: the proxy's cache answers it, the entry is there already. */
	answered(ask_udp(f, "::1", "ds.", LDNS_RR_TYPE_AAAA), LDNS_RR_TYPE_AAAA, "fd00:96::20");
	assert_int_equal(published(f, &pod), 0);
	assert_int_equal(published_count(f->a6fd), 2);

	answered(ask_udp(f, "127.0.0.1", "ds.", LDNS_RR_TYPE_AAAA), LDNS_RR_TYPE_AAAA,
		 "fd00:96::20");
	assert_int_equal(published(f, &pod), 1);
	assert_int_equal(pod, htonl(INADDR_LOOPBACK));
	assert_int_equal(published_count(f->a6fd), 2);
	/* Made for the pod over IPv4, taken from the cache over IPv6: published for both. */
	answered(ask_udp(f, "127.0.0.1", "ds.mesh.", LDNS_RR_TYPE_A), LDNS_RR_TYPE_A, "10.96.0.20");
	assert_int_equal(published(f, &pod), 2);
	assert_int_equal(published_count(f->a6fd), 2);
	answered(ask_udp(f, "::1", "ds.mesh.", LDNS_RR_TYPE_A), LDNS_RR_TYPE_A, "10.96.0.20");
	assert_int_equal(published(f, &pod), 2);
	assert_int_equal(published_count(f->a6fd), 3);
	published6(f, "ds.mesh.", LDNS_RR_TYPE_A, "10.96.0.20");
}

/* An IPv6 client over TCP, known by its ip6 as well; IPv4's TCP as before. */
static void test_ipv6_client_tcp(void **state)
{
	struct fx *f = *state;
	uint32_t pod = 0;

	answered(ask_tcp(f, "::1", "ds.", LDNS_RR_TYPE_AAAA), LDNS_RR_TYPE_AAAA, "fd00:96::20");
	answered(ask_tcp(f, "::1", "ds.mesh.", LDNS_RR_TYPE_A), LDNS_RR_TYPE_A, "10.96.0.20");
	answered(ask_tcp(f, "127.0.0.1", "ds.", LDNS_RR_TYPE_A), LDNS_RR_TYPE_A, "10.96.0.20");
	/* Over TCP nothing goes to the kernel, which answers UDP alone. */
	assert_int_equal(published(f, &pod), 0);
	assert_int_equal(published_count(f->a6fd), 0);
}

/* A client the snapshot does not know (another loopback address): a short name is not its. */
static void test_unknown_client(void **state)
{
	struct fx *f = *state;
	ldns_pkt *p = ask_udp_from(f, "127.0.0.2", "127.0.0.1", "ds.", LDNS_RR_TYPE_A);

	/* Forwarded, to no resolver: SERVFAIL. */
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(p);
}

/* A TCP connection to the proxy from source address @src. */
static int tcp_from(const struct fx *f, const char *src)
{
	union sockaddr_inet to = {0}, from = {0};
	struct ipaddr a;
	int fd;

	assert_int_equal(ipaddr_parse_addr(src, &a), 0);
	assert_int_equal(sockaddr_inet_from_ipaddr(&from, &a, 0), 0);
	assert_int_equal(sockaddr_inet_from_ipaddr(&to, &a, f->port), 0);
	fd = socket(to.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, &from.sa, sockaddr_inet_len(&from)), 0);
	assert_int_equal(connect(fd, &to.sa, sockaddr_inet_len(&to)), 0);
	return fd;
}

/*
 * A query over @fd: true when an answer comes, false when the proxy closed the connection
 * (refused it, or closed it since).
 */
static bool tcp_answered(int fd)
{
	uint8_t buf[2 + 4096], *q;
	size_t qlen, got = 0, want = 2;

	q = make_query("ds.mesh.", LDNS_RR_TYPE_A, &qlen);
	buf[0] = (uint8_t)(qlen >> 8);
	buf[1] = (uint8_t)qlen;
	memcpy(buf + 2, q, qlen);
	free(q);
	if (send(fd, buf, 2 + qlen, MSG_NOSIGNAL) != (ssize_t)(2 + qlen))
		return false;
	while (got < want) {
		ssize_t n;

		wait_readable(fd);
		n = recv(fd, buf + got, sizeof(buf) - got, 0);
		if (n <= 0)
			return false;
		got += (size_t)n;
		if (got >= 2)
			want = 2 + ((size_t)buf[0] << 8 | buf[1]);
	}
	return true;
}

static int setup_caps(void **state)
{
	knobs = (struct zt_dns_opts){.tcp_max_clients = 6, .tcp_max_per_source = 4};
	return setup(state);
}

/*
 * One source holds its share of TCP clients and no more (the next is refused), others still
 * get theirs; at the node's cap a new client takes the place of the one whose last query is
 * oldest. Told by answers and closes, no clock.
 */
static void test_tcp_caps(void **state)
{
	struct fx *f = *state;
	int a[5], b, c[2];

	for (int i = 0; i < 4; i++) {
		a[i] = tcp_from(f, "127.0.0.1");
		assert_true(tcp_answered(a[i]));
	}
	a[4] = tcp_from(f, "127.0.0.1");
	assert_false(tcp_answered(a[4]));
	b = tcp_from(f, "::1");
	assert_true(tcp_answered(b));
	/* The node's sixth; then a seventh: a[0] asked longest ago and goes for it. */
	c[0] = tcp_from(f, "127.0.0.2");
	assert_true(tcp_answered(c[0]));
	assert_true(tcp_answered(a[1]));
	c[1] = tcp_from(f, "127.0.0.3");
	assert_true(tcp_answered(c[1]));
	assert_false(tcp_answered(a[0]));
	assert_true(tcp_answered(a[1]));
	assert_true(tcp_answered(b));
	assert_true(tcp_answered(c[0]));
	/* 127.0.0.1 has room again for one. */
	close(a[4]);
	a[4] = tcp_from(f, "127.0.0.1");
	assert_true(tcp_answered(a[4]));
	for (int i = 0; i < 5; i++)
		close(a[i]);
	close(b);
	close(c[0]);
	close(c[1]);
}

static int setup_idle(void **state)
{
	knobs = (struct zt_dns_opts){.tcp_idle_ms = 1000};
	return setup(state);
}

/*
 * RFC 7766 §10: the idle deadline runs from the last whole message. A client that sends a
 * query's bytes one at a time, far more often than the deadline, is closed all the same, long
 * before the query's 400 bytes are in (counted in bytes sent: at 50 ms a byte, the deadline of
 * one second comes some 20 bytes in, and a byte re-arming it would keep the connection for all
 * 400).
 */
static void test_tcp_trickle(void **state)
{
	struct fx *f = *state;
	int fd = tcp_from(f, "127.0.0.1");
	uint8_t len[2] = {1, 144}, byte = 0;
	bool closed = false;
	int sent;

	assert_true(tcp_answered(fd));
	assert_int_equal(send(fd, len, 2, MSG_NOSIGNAL), 2);
	for (sent = 0; sent < 400 && !closed; sent++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		usleep(50 * 1000);
		if (poll(&p, 1, 0) == 1 && recv(fd, &byte, 1, MSG_DONTWAIT) <= 0)
			closed = true;
		else if (send(fd, &byte, 1, MSG_NOSIGNAL) != 1)
			closed = true;
	}
	assert_true(closed);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ipv6_client_udp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_client_tcp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_client, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tcp_caps, setup_caps, teardown),
	    cmocka_unit_test_setup_teardown(test_tcp_trickle, setup_idle, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
