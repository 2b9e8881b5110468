// SPDX-License-Identifier: Apache-2.0
/*
 * The ztunnel's own resolution of DNS ServiceEntries (dns_server.c's queries into resolved.c),
 * against a resolver of the test's on 127.0.0.1:53 in a network namespace of its own (the
 * proxy asks port 53 of resolv.conf's nameservers): a name of AAAA only is held as ::1 and its
 * entry routed to [::1]:port; a name of both is held IPv4 first, and a DNS_ROUND_ROBIN entry of
 * it goes over IPv4, a DNS one to either. A node of an IPv6 cluster has an IPv6 resolver alone
 * (nameserver ::1 here): the proxy asks it over IPv6.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include <ldns/ldns.h>

#include "../../../ztunnel/dns_server.h"
#include "../../../ztunnel/resolved.h"
#include "../../../ztunnel/route.h"
#include "net/meshstate.h"
#include "net/sock.h"

static const char SNAP[] =
    "{\"version\":1,\"node\":\"n1\",\"workloads\":[],\"services\":[],"
    "\"serviceEntries\":["
    "{\"name\":\"v6only.ext\",\"namespace\":\"a\",\"hostname\":\"v6only.ext\","
    " \"vip\":\"240.240.1.9\",\"ports\":[{\"name\":\"http\",\"port\":80,"
    " \"targetPort\":8080}],\"endpoints\":[],\"kind\":\"MESH_EXTERNAL\","
    " \"resolution\":\"DNS\",\"resolve\":[\"v6only.ext\"]},"
    "{\"name\":\"both.ext\",\"namespace\":\"a\",\"hostname\":\"both.ext\","
    " \"vip\":\"240.240.1.10\",\"ports\":[{\"name\":\"http\",\"port\":80}],"
    " \"endpoints\":[],\"kind\":\"MESH_EXTERNAL\",\"resolution\":\"DNS_ROUND_ROBIN\","
    " \"resolve\":[\"both.ext\"]},"
    "{\"name\":\"both-dns.ext\",\"namespace\":\"a\",\"hostname\":\"both-dns.ext\","
    " \"vip\":\"240.240.1.11\",\"ports\":[{\"name\":\"http\",\"port\":80}],"
    " \"endpoints\":[],\"kind\":\"MESH_EXTERNAL\",\"resolution\":\"DNS\","
    " \"resolve\":[\"both.ext\"]}],\"certs\":[]}";

struct fx {
	int ufd;     /* the test's resolver: UDP 127.0.0.1:53, or [::1]:53 */
	int pipe[2]; /* written to stop it */
	pthread_t thread;
	bool running;
	char resolv[64];
	struct mesh_state *st;
	struct zt_dns *d;
};

/* Answers @q: v6only.ext has AAAA ::1 alone, both.ext A 127.0.0.1 and AAAA ::1, else NXDOMAIN. */
static ldns_pkt *answer(const ldns_pkt *q)
{
	const ldns_rr *qr = ldns_rr_list_rr(ldns_pkt_question(q), 0);
	ldns_pkt *r = ldns_pkt_new();
	char *name = qr ? ldns_rdf2str(ldns_rr_owner(qr)) : NULL;
	ldns_rr_type type = qr ? ldns_rr_get_type(qr) : 0;
	const char *rr = NULL;

	ldns_pkt_set_id(r, ldns_pkt_id(q));
	ldns_pkt_set_qr(r, true);
	ldns_pkt_set_rd(r, true);
	ldns_pkt_set_ra(r, true);
	if (qr)
		ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, ldns_rr_clone(qr));
	if (name && !strcasecmp(name, "v6only.ext.")) {
		rr = type == LDNS_RR_TYPE_AAAA ? "v6only.ext. 60 IN AAAA ::1" : NULL;
	} else if (name && !strcasecmp(name, "both.ext.")) {
		rr = type == LDNS_RR_TYPE_AAAA ? "both.ext. 60 IN AAAA ::1"
		     : type == LDNS_RR_TYPE_A  ? "both.ext. 60 IN A 127.0.0.1"
					       : NULL;
	} else {
		ldns_pkt_set_rcode(r, LDNS_RCODE_NXDOMAIN);
	}
	if (rr) {
		ldns_rr *a = NULL;

		if (ldns_rr_new_frm_str(&a, rr, 0, NULL, NULL) == LDNS_STATUS_OK)
			ldns_pkt_push_rr(r, LDNS_SECTION_ANSWER, a);
	}
	free(name);
	return r;
}

static void *resolver(void *arg)
{
	struct fx *f = arg;

	for (;;) {
		struct pollfd p[2] = {{.fd = f->ufd, .events = POLLIN},
				      {.fd = f->pipe[0], .events = POLLIN}};
		union sockaddr_inet from;
		socklen_t fl = sizeof(from);
		uint8_t buf[1500], *w = NULL;
		ldns_pkt *q = NULL, *r;
		size_t len;
		ssize_t n;

		if (poll(p, 2, -1) < 0 || p[1].revents)
			return NULL;
		n = recvfrom(f->ufd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n <= 0 || ldns_wire2pkt(&q, buf, (size_t)n) != LDNS_STATUS_OK)
			continue;
		r = answer(q);
		if (ldns_pkt2wire(&w, r, &len) == LDNS_STATUS_OK)
			(void)sendto(f->ufd, w, len, 0, (struct sockaddr *)&from, fl);
		free(w);
		ldns_pkt_free(r);
		ldns_pkt_free(q);
	}
}

/* Loopback up in this namespace: 127.0.0.1 and ::1. */
static int lo_up(void)
{
	struct ifreq ifr = {0};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -1;
	strcpy(ifr.ifr_name, "lo");
	err = ioctl(fd, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	err = err ? err : ioctl(fd, SIOCSIFFLAGS, &ifr);
	close(fd);
	return err;
}

/* The resolver on 127.0.0.1:53, or with @v6 on [::1]:53, and the proxy asking it. */
static int setup_family(void **state, bool v6)
{
	union sockaddr_inet a;
	struct fx *f = calloc(1, sizeof(*f));
	struct zt_dns_opts o = {0};
	struct snapshot *s;
	char err[200];
	FILE *rf;

	if (!f)
		return -1;
	*state = f;
	f->ufd = f->pipe[0] = f->pipe[1] = -1;
	if (v6)
		a.v6 = (struct sockaddr_in6){
		    .sin6_family = AF_INET6, .sin6_port = htons(53), .sin6_addr = in6addr_loopback};
	else
		sockaddr_inet_v4(&a, htonl(INADDR_LOOPBACK), 53);
	f->ufd = socket(a.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (f->ufd < 0 || bind(f->ufd, &a.sa, sockaddr_inet_len(&a)) || pipe(f->pipe))
		return -1;
	if (pthread_create(&f->thread, NULL, resolver, f))
		return -1;
	f->running = true;
	snprintf(f->resolv, sizeof(f->resolv), "/tmp/ambit-test-dnsr6-%d.conf", (int)getpid());
	rf = fopen(f->resolv, "w");
	if (!rf)
		return -1;
	fputs(v6 ? "nameserver ::1\n" : "nameserver 127.0.0.1\n", rf);
	fclose(rf);
	zt_resolved_keep(NULL, 0);
	f->st = mesh_state_create();
	s = snapshot_decode(SNAP, sizeof(SNAP) - 1, err, sizeof(err));
	if (!f->st || !s || mesh_state_install(f->st, s))
		return -1;
	o.resolv_conf = f->resolv;
	/* Any free port for its clients: only its own queries matter here. */
	f->d = zt_dns_start(f->st, 0, &o);
	return f->d ? 0 : -1;
}

static int setup(void **state)
{
	return setup_family(state, false);
}

static int setup6(void **state)
{
	return setup_family(state, true);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (!f)
		return 0;
	if (f->d)
		zt_dns_stop(f->d);
	if (f->st)
		mesh_state_destroy(f->st);
	if (f->running) {
		(void)!write(f->pipe[1], "x", 1);
		pthread_join(f->thread, NULL);
	}
	for (int i = 0; i < 2; i++)
		if (f->pipe[i] >= 0)
			close(f->pipe[i]);
	if (f->ufd >= 0)
		close(f->ufd);
	if (f->resolv[0])
		unlink(f->resolv);
	zt_resolved_keep(NULL, 0);
	free(f);
	return 0;
}

/*
 * @name's addresses once the proxy holds @want of them (bounded: 10 s of 50 ms waits, so a
 * resolution that never comes fails rather than hangs).
 */
static size_t wait_resolved(const char *name, size_t want, struct ipaddr *ips, size_t max)
{
	size_t n = 0;

	for (int i = 0; i < 200 && n < want; i++) {
		n = zt_resolved_get(name, ips, max);
		if (n < want)
			usleep(50000);
	}
	return n;
}

static void route_to(const char *vip, struct zt_rr *rr, struct zt_route *r)
{
	struct snapshot *s = snapshot_decode(SNAP, sizeof(SNAP) - 1, NULL, 0);
	union sockaddr_inet dst = {0};
	struct ipaddr a;

	assert_non_null(s);
	assert_int_equal(ipaddr_parse_addr(vip, &a), 0);
	assert_int_equal(sockaddr_inet_from_ipaddr(&dst, &a, 80), 0);
	assert_int_equal(zt_route_outbound(s, NULL, &dst, ZT_LB_ROUND_ROBIN, rr, NULL, r), 0);
	assert_non_null(r->svc);
	r->svc = NULL; /* the snapshot goes */
	snapshot_free(s);
}

static void test_aaaa_only(void **state)
{
	struct ipaddr ips[4], v6;
	struct zt_rr rr = {0};
	struct zt_route r;

	(void)state;
	assert_int_equal(wait_resolved("v6only.ext", 1, ips, 4), 1);
	assert_int_equal(ipaddr_parse_addr("::1", &v6), 0);
	assert_true(ipaddr_equal(&ips[0], &v6));
	/* Reached at [::1]:targetPort, from an IPv4 client's connection to the entry's vip. */
	route_to("240.240.1.9", &rr, &r);
	assert_int_equal(r.addr.sa.sa_family, AF_INET6);
	assert_memory_equal(&r.addr.v6.sin6_addr, &in6addr_loopback, 16);
	assert_int_equal(ntohs(r.addr.v6.sin6_port), 8080);
	assert_null(r.dst_wl);
}

static void test_a_before_aaaa(void **state)
{
	struct ipaddr ips[4], v4, v6;
	struct zt_rr rr = {0};
	struct zt_route r;
	bool seen[2] = {false, false};

	(void)state;
	assert_int_equal(wait_resolved("both.ext", 2, ips, 4), 2);
	assert_int_equal(ipaddr_parse_addr("127.0.0.1", &v4), 0);
	assert_int_equal(ipaddr_parse_addr("::1", &v6), 0);
	assert_true(ipaddr_equal(&ips[0], &v4));
	assert_true(ipaddr_equal(&ips[1], &v6));
	/* Room for one: the IPv4 one. */
	assert_int_equal(zt_resolved_get("both.ext", ips, 1), 1);
	assert_true(ipaddr_equal(&ips[0], &v4));
	/* DNS_ROUND_ROBIN takes the first: over IPv4, every time. */
	for (int i = 0; i < 3; i++) {
		route_to("240.240.1.10", &rr, &r);
		assert_int_equal(r.addr.sa.sa_family, AF_INET);
		assert_int_equal(r.addr.v4.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
		assert_int_equal(ntohs(r.addr.v4.sin_port), 80);
	}
	/* DNS: each address in turn, of either family. */
	for (int i = 0; i < 4; i++) {
		route_to("240.240.1.11", &rr, &r);
		seen[r.addr.sa.sa_family == AF_INET6] = true;
	}
	assert_true(seen[0] && seen[1]);
}

/* Over an IPv6 resolver alone: both of a name's addresses, IPv4 first, as over IPv4. */
static void test_ipv6_resolver(void **state)
{
	struct ipaddr ips[4], v4, v6;

	(void)state;
	assert_int_equal(wait_resolved("both.ext", 2, ips, 4), 2);
	assert_int_equal(ipaddr_parse_addr("127.0.0.1", &v4), 0);
	assert_int_equal(ipaddr_parse_addr("::1", &v6), 0);
	assert_true(ipaddr_equal(&ips[0], &v4));
	assert_true(ipaddr_equal(&ips[1], &v6));
	assert_int_equal(wait_resolved("v6only.ext", 1, ips, 4), 1);
	assert_true(ipaddr_equal(&ips[0], &v6));
}

/* resolv.conf's nameservers of both families, in its order, at most @max; no others. */
static void test_parse_resolv(void **state)
{
	union sockaddr_inet out[3];
	char txt[SOCKADDR_INET_STRLEN];
	bool stub = true;

	(void)state;
	assert_int_equal(zt_dns_parse_resolv("search a\nnameserver fd00:99::1\n"
					     "nameserver 10.99.0.1\nnameserver nope\n"
					     "nameserver ::1\nnameserver 127.0.0.1\n",
					     out, 3, &stub),
			 3);
	assert_false(stub);
	assert_string_equal(sockaddr_inet_format(&out[0], txt, sizeof(txt)), "[fd00:99::1]:53");
	assert_string_equal(sockaddr_inet_format(&out[1], txt, sizeof(txt)), "10.99.0.1:53");
	assert_string_equal(sockaddr_inet_format(&out[2], txt, sizeof(txt)), "[::1]:53");
	assert_int_equal(zt_dns_parse_resolv("nameserver 127.0.0.53\n", out, 3, &stub), 1);
	assert_true(stub);
	assert_int_equal(zt_dns_parse_resolv("# none\n", out, 3, &stub), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_aaaa_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_before_aaaa, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ipv6_resolver, setup6, teardown),
	    cmocka_unit_test(test_parse_resolv),
	};

	/* A namespace of the test's own, for port 53 on its loopback. */
	if (unshare(CLONE_NEWNET) || lo_up()) {
		perror("test_dns_resolved6: network namespace");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
