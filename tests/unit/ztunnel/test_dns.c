// SPDX-License-Identifier: Apache-2.0
/*
 * The DNS proxy's answers (ztunnel/dns.c): Services by every name a pod may use, headless
 * Services, ServiceEntry hosts and their exportTo, pods by dashed address, SRV, NXDOMAIN under
 * the cluster domain, forwarding, truncation, malformed queries, headless Services' SRV and
 * their pods' hostnames, other opcodes forwarded, and the check of upstream answers. Queries
 * are made and answers read with ldns, as a resolver would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ldns/ldns.h>

#include "../../../ztunnel/dns.h"
#include "../../../ztunnel/dns_stats.h"
#include "ambit/snapshot.h"

static const char SNAP[] =
    "{\"version\":1,\"node\":\"n1\",\"workloads\":["
    "{\"uid\":\"mesh/client-0\",\"name\":\"client-0\",\"namespace\":\"mesh\",\"ip\":\"10.98.1.3\","
    " \"enrolled\":true},"
    "{\"uid\":\"mesh/db-0\",\"name\":\"db-0\",\"namespace\":\"mesh\",\"ip\":\"10.98.1.5\","
    " \"hostname\":\"primary\",\"subdomain\":\"db\"},"
    "{\"uid\":\"mesh/db-1\",\"name\":\"db-1\",\"namespace\":\"mesh\",\"ip\":\"10.98.2.5\","
    " \"hostname\":\"spare\",\"subdomain\":\"elsewhere\"}],"
    "\"services\":["
    "{\"name\":\"server\",\"namespace\":\"mesh\",\"vip\":\"10.96.0.10\","
    " \"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":8080}],\"endpoints\":[]},"
    "{\"name\":\"db\",\"namespace\":\"mesh\",\"vip\":\"0.0.0.0\","
    " \"ports\":[{\"name\":\"pg\",\"port\":5432,\"targetPort\":15432}],"
    " \"endpoints\":[\"10.98.1.5\",\"10.98.2.5\"]},"
    "{\"name\":\"big\",\"namespace\":\"mesh\",\"vip\":\"0.0.0.0\",\"ports\":[],\"endpoints\":[%s]}]"
    ","
    "\"serviceEntries\":["
    "{\"name\":\"api.example.com\",\"namespace\":\"mesh\",\"hostname\":\"api.example.com\","
    " \"vip\":\"240.240.1.1\",\"ports\":[{\"name\":\"https\",\"port\":443}],\"endpoints\":[],"
    " \"kind\":\"MESH_EXTERNAL\",\"resolution\":\"DNS\"},"
    "{\"name\":\"private.example.com\",\"namespace\":\"other\","
    " \"hostname\":\"private.example.com\",\"vip\":\"240.240.1.2\",\"ports\":[],"
    " \"endpoints\":[],\"kind\":\"MESH_EXTERNAL\",\"resolution\":\"DNS\","
    " \"exportTo\":[\"other\"]},"
    "{\"name\":\"*.wild.com\",\"namespace\":\"mesh\",\"hostname\":\"*.wild.com\","
    " \"vip\":\"0.0.0.0\",\"ports\":[],\"endpoints\":[],\"kind\":\"MESH_EXTERNAL\","
    " \"resolution\":\"DYNAMIC_DNS\"},"
    "{\"name\":\"*.dyn.com\",\"namespace\":\"mesh\",\"hostname\":\"*.dyn.com\","
    " \"vip\":\"240.240.1.3\",\"ports\":[],\"endpoints\":[],\"kind\":\"MESH_EXTERNAL\","
    " \"resolution\":\"DYNAMIC_DNS\"}],"
    "\"certs\":[]}";

struct fx {
	struct snapshot *s;
	struct dns_table *t;
	const struct snap_workload *client;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char eps[100 * 16 + 1] = "", *json, err[200];
	size_t n = 0;

	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(eps + n, sizeof(eps) - n, "%s\"10.97.0.%d\"", i ? "," : "",
				      i + 1);
	assert_true(asprintf(&json, SNAP, eps) > 0);
	f->s = snapshot_decode(json, strlen(json), err, sizeof(err));
	free(json);
	assert_non_null(f->s);
	f->t = dns_table_build(f->s, "cluster.local");
	assert_non_null(f->t);
	f->client = &f->s->workloads[0];
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	dns_table_free(f->t);
	snapshot_free(f->s);
	free(f);
	return 0;
}

/* A query for @name/@type (id 0x1234, RD), with EDNS payload @edns when not 0, on the wire. */
static uint8_t *query(const char *name, ldns_rr_type type, uint16_t edns, size_t *len)
{
	ldns_pkt *q = NULL;
	uint8_t *w = NULL;

	assert_int_equal(ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, LDNS_RD),
			 LDNS_STATUS_OK);
	ldns_pkt_set_id(q, 0x1234);
	if (edns)
		ldns_pkt_set_edns_udp_size(q, edns);
	assert_int_equal(ldns_pkt2wire(&w, q, len), LDNS_STATUS_OK);
	ldns_pkt_free(q);
	return w;
}

/* Asks @name/@type as @client with @max; the parsed answer (NULL when not answered: *@v). */
static ldns_pkt *ask(struct fx *f, const struct snap_workload *client, const char *name,
		     ldns_rr_type type, uint16_t edns, size_t max, bool fwd, enum dns_verdict *v)
{
	size_t len, outlen;
	uint8_t *q = query(name, type, edns, &len), *out = NULL;
	ldns_pkt *p = NULL;

	*v = dns_query(f->t, client, q, len, max, fwd, &out, &outlen);
	if (*v == DNS_ANSWER) {
		assert_int_equal(ldns_wire2pkt(&p, out, outlen), LDNS_STATUS_OK);
		assert_true(max ? outlen <= max : outlen <= (edns ? edns : 512));
		/* Our own answers pass the check the forwarder makes of upstream ones. */
		assert_int_equal(dns_upstream_check(out, outlen, q, len), 0);
		assert_int_equal(ldns_pkt_id(p), 0x1234);
		assert_true(ldns_pkt_qr(p));
		assert_true(ldns_pkt_rd(p));
	}
	free(q);
	free(out);
	return p;
}

/* The IPv4 address of answer @i of @p (an A record). */
static uint32_t a_of(const ldns_pkt *p, size_t i)
{
	const ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), i);
	uint32_t ip;

	assert_non_null(rr);
	assert_int_equal(ldns_rr_get_type(rr), LDNS_RR_TYPE_A);
	assert_int_equal(ldns_rr_ttl(rr), DNS_TTL);
	memcpy(&ip, ldns_rdf_data(ldns_rr_rdf(rr, 0)), 4);
	return ip;
}

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

/* Every name a pod may use for a Service, in any case, answered with its VIP, authoritatively. */
static void test_service_names(void **state)
{
	static const char *const names[] = {"server.mesh.svc.cluster.local.",
					    "SERVER.Mesh.SVC.cluster.LOCAL.", "server.mesh.svc.",
					    "server.mesh.", "server."};
	struct fx *f = *state;
	enum dns_verdict v;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		ldns_pkt *p = ask(f, f->client, names[i], LDNS_RR_TYPE_A, 0, 0, false, &v);

		assert_int_equal(v, DNS_ANSWER);
		assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
		assert_true(ldns_pkt_aa(p));
		assert_int_equal(ldns_pkt_ancount(p), 1);
		assert_int_equal(a_of(p, 0), ip4("10.96.0.10"));
		ldns_pkt_free(p);
	}
	/* A short name needs the client's namespace: unknown client, the upstream's. */
	assert_null(ask(f, NULL, "server.", LDNS_RR_TYPE_A, 0, 0, false, &v));
	assert_int_equal(v, DNS_FORWARD);
}

/* A known name without a record of the type: NOERROR, no answer (never NXDOMAIN). */
static void test_nodata_and_nxdomain(void **state)
{
	struct fx *f = *state;
	enum dns_verdict v;
	ldns_pkt *p;

	p = ask(f, f->client, "server.mesh.svc.cluster.local.", LDNS_RR_TYPE_AAAA, 0, 0, false, &v);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	ldns_pkt_free(p);
	/* Under the cluster domain, unknown: NXDOMAIN at once (a search list's tries end fast). */
	p = ask(f, f->client, "nothing.mesh.svc.cluster.local.", LDNS_RR_TYPE_A, 0, 0, false, &v);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(p);
	p = ask(f, f->client, "api.example.com.mesh.svc.cluster.local.", LDNS_RR_TYPE_A, 0, 0,
		false, &v);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(p);
	/* Unless the cluster's own DNS is to answer what the proxy does not know (Kubernetes). */
	assert_null(
	    ask(f, f->client, "nothing.mesh.svc.cluster.local.", LDNS_RR_TYPE_A, 0, 0, true, &v));
	assert_int_equal(v, DNS_FORWARD);
	/* Outside the cluster domain: forwarded. */
	assert_null(ask(f, f->client, "example.org.", LDNS_RR_TYPE_A, 0, 0, false, &v));
	assert_int_equal(v, DNS_FORWARD);
	assert_null(ask(f, f->client, "x.wild.com.", LDNS_RR_TYPE_A, 0, 0, false, &v));
	assert_int_equal(v, DNS_FORWARD);
	/* A wildcard with an address (DYNAMIC_DNS's): every name under it, not the suffix. */
	p = ask(f, f->client, "a.B.dyn.com.", LDNS_RR_TYPE_A, 0, 0, false, &v);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	assert_int_equal(a_of(p, 0), ip4("240.240.1.3"));
	ldns_pkt_free(p);
	assert_null(ask(f, f->client, "dyn.com.", LDNS_RR_TYPE_A, 0, 0, false, &v));
	assert_int_equal(v, DNS_FORWARD);
}

/* Headless Services answer their endpoints; entries their address, for whom they are exported. */
static void test_headless_entries_pods(void **state)
{
	struct snap_workload other = {.namespace = (char *)"other"};
	struct fx *f = *state;
	enum dns_verdict v;
	ldns_pkt *p;

	p = ask(f, f->client, "db.mesh.svc.cluster.local.", LDNS_RR_TYPE_A, 0, 0, false, &v);
	assert_int_equal(ldns_pkt_ancount(p), 2);
	assert_int_equal(a_of(p, 0), ip4("10.98.1.5"));
	assert_int_equal(a_of(p, 1), ip4("10.98.2.5"));
	ldns_pkt_free(p);
	p = ask(f, f->client, "API.example.com.", LDNS_RR_TYPE_A, 0, 0, false, &v);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	assert_int_equal(a_of(p, 0), ip4("240.240.1.1"));
	ldns_pkt_free(p);
	assert_null(ask(f, f->client, "private.example.com.", LDNS_RR_TYPE_A, 0, 0, false, &v));
	assert_int_equal(v, DNS_FORWARD);
	p = ask(f, &other, "private.example.com.", LDNS_RR_TYPE_A, 0, 0, false, &v);
	assert_int_equal(a_of(p, 0), ip4("240.240.1.2"));
	ldns_pkt_free(p);
	/* Pods by dashed address, in their own namespace only. */
	p = ask(f, f->client, "10-98-1-3.mesh.pod.cluster.local.", LDNS_RR_TYPE_A, 0, 0, false, &v);
	assert_int_equal(a_of(p, 0), ip4("10.98.1.3"));
	ldns_pkt_free(p);
	p = ask(f, f->client, "10-98-1-3.other.pod.cluster.local.", LDNS_RR_TYPE_A, 0, 0, false,
		&v);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(p);
}

static void test_srv(void **state)
{
	struct fx *f = *state;
	const ldns_rr *rr;
	enum dns_verdict v;
	char *target;
	ldns_pkt *p;

	p = ask(f, f->client, "_http._tcp.server.mesh.svc.cluster.local.", LDNS_RR_TYPE_SRV, 0, 0,
		false, &v);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	rr = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
	assert_int_equal(ldns_rr_get_type(rr), LDNS_RR_TYPE_SRV);
	assert_int_equal(ldns_rdf2native_int16(ldns_rr_rdf(rr, 2)), 80);
	target = ldns_rdf2str(ldns_rr_rdf(rr, 3));
	assert_string_equal(target, "server.mesh.svc.cluster.local.");
	free(target);
	ldns_pkt_free(p);
	/* A port the Service does not name. */
	p = ask(f, f->client, "_grpc._tcp.server.mesh.svc.cluster.local.", LDNS_RR_TYPE_SRV, 0, 0,
		false, &v);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(p);
}

/* The SRV record @i of @p's answer: its weight and port, and its target in @target. */
static void srv_of(const ldns_pkt *p, size_t i, uint16_t *weight, uint16_t *port, char *target,
		   size_t len)
{
	const ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), i);
	char *t;

	assert_non_null(rr);
	assert_int_equal(ldns_rr_get_type(rr), LDNS_RR_TYPE_SRV);
	assert_int_equal(ldns_rdf2native_int16(ldns_rr_rdf(rr, 0)), 0);
	*weight = ldns_rdf2native_int16(ldns_rr_rdf(rr, 1));
	*port = ldns_rdf2native_int16(ldns_rr_rdf(rr, 2));
	t = ldns_rdf2str(ldns_rr_rdf(rr, 3));
	snprintf(target, len, "%s", t);
	free(t);
}

/* The address additional record @name has in @p (an A record), or 0. */
static uint32_t additional_a(const ldns_pkt *p, const char *name)
{
	const ldns_rr_list *ad = ldns_pkt_additional(p);
	uint32_t ip = 0;

	for (size_t i = 0; i < ldns_rr_list_rr_count(ad); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(ad, i);
		char *o = ldns_rdf2str(ldns_rr_owner(rr));

		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_A && !strcmp(o, name))
			memcpy(&ip, ldns_rdf_data(ldns_rr_rdf(rr, 0)), 4);
		free(o);
	}
	return ip;
}

/*
 * A headless Service's SRV (istio/istio#55979): one record an endpoint, on the port the endpoint
 * listens on, named by its pod's hostname when the pod's subdomain is the Service, else by its
 * dashed address, each target's address in the additional section; and those names resolve.
 */
static void test_headless_srv(void **state)
{
	/*
	 * Not names: a hostname whose subdomain is another Service, a named pod by its address, a
	 * member of a Service with a cluster IP.
	 */
	static const char *const none[] = {
	    "spare.db.mesh.svc.cluster.local.",
	    "10-98-1-5.db.mesh.svc.cluster.local.",
	    "10-98-1-5.server.mesh.svc.cluster.local.",
	};
	struct fx *f = *state;
	char target[300];
	uint16_t weight, port;
	enum dns_verdict v;
	ldns_pkt *p;

	p = ask(f, f->client, "_pg._tcp.db.mesh.svc.cluster.local.", LDNS_RR_TYPE_SRV, 0, 0, false,
		&v);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(p), 2);
	srv_of(p, 0, &weight, &port, target, sizeof(target));
	assert_int_equal(weight, 50);
	assert_int_equal(port, 15432);
	assert_string_equal(target, "primary.db.mesh.svc.cluster.local.");
	srv_of(p, 1, &weight, &port, target, sizeof(target));
	assert_int_equal(port, 15432);
	assert_string_equal(target, "10-98-2-5.db.mesh.svc.cluster.local.");
	assert_int_equal(ldns_pkt_arcount(p), 2);
	assert_int_equal(additional_a(p, "primary.db.mesh.svc.cluster.local."), ip4("10.98.1.5"));
	assert_int_equal(additional_a(p, "10-98-2-5.db.mesh.svc.cluster.local."), ip4("10.98.2.5"));
	ldns_pkt_free(p);
	/* The targets resolve: by hostname, by dashed address, by the short forms a pod uses. */
	p = ask(f, f->client, "Primary.db.mesh.svc.cluster.local.", LDNS_RR_TYPE_A, 0, 0, false,
		&v);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	assert_int_equal(a_of(p, 0), ip4("10.98.1.5"));
	ldns_pkt_free(p);
	p = ask(f, f->client, "10-98-2-5.db.mesh.svc.cluster.local.", LDNS_RR_TYPE_A, 0, 0, false,
		&v);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	assert_int_equal(a_of(p, 0), ip4("10.98.2.5"));
	ldns_pkt_free(p);
	p = ask(f, f->client, "primary.db.", LDNS_RR_TYPE_A, 0, 0, false, &v);
	assert_int_equal(a_of(p, 0), ip4("10.98.1.5"));
	ldns_pkt_free(p);
	p = ask(f, f->client, "primary.db.mesh.svc.cluster.local.", LDNS_RR_TYPE_AAAA, 0, 0, false,
		&v);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	ldns_pkt_free(p);
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		p = ask(f, f->client, none[i], LDNS_RR_TYPE_A, 0, 0, false, &v);
		assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
		ldns_pkt_free(p);
	}
	/* A Service with a cluster IP: its own name, its address beside. */
	p = ask(f, f->client, "_http._tcp.server.mesh.svc.cluster.local.", LDNS_RR_TYPE_SRV, 0, 0,
		false, &v);
	assert_int_equal(additional_a(p, "server.mesh.svc.cluster.local."), ip4("10.96.0.10"));
	ldns_pkt_free(p);
	/* A ServiceEntry host: its own name (not one under the cluster domain). */
	p = ask(f, f->client, "_https._tcp.api.example.com.", LDNS_RR_TYPE_SRV, 0, 0, false, &v);
	srv_of(p, 0, &weight, &port, target, sizeof(target));
	assert_int_equal(port, 443);
	assert_string_equal(target, "api.example.com.");
	assert_int_equal(additional_a(p, "api.example.com."), ip4("240.240.1.1"));
	ldns_pkt_free(p);
}

/* 100 addresses (1.6 kB): truncated over UDP (plain and EDNS 1232), whole over TCP. */
static void test_truncation(void **state)
{
	struct fx *f = *state;
	enum dns_verdict v;
	ldns_pkt *p;

	p = ask(f, f->client, "big.mesh.svc.cluster.local.", LDNS_RR_TYPE_A, 0, 0, false, &v);
	assert_true(ldns_pkt_tc(p));
	assert_int_equal(ldns_pkt_ancount(p), 0);
	ldns_pkt_free(p);
	p = ask(f, f->client, "big.mesh.svc.cluster.local.", LDNS_RR_TYPE_A, 4096, 0, false, &v);
	assert_true(ldns_pkt_tc(p));
	assert_true(ldns_pkt_edns(p));
	ldns_pkt_free(p);
	p = ask(f, f->client, "big.mesh.svc.cluster.local.", LDNS_RR_TYPE_A, 0, 65535, false, &v);
	assert_false(ldns_pkt_tc(p));
	assert_int_equal(ldns_pkt_ancount(p), 100);
	assert_int_equal(a_of(p, 99), ip4("10.97.0.100"));
	ldns_pkt_free(p);
}

/* Not a query, or not readable: FORMERR / NOTIMP with the id, or nothing at all. */
static void test_malformed(void **state)
{
	struct fx *f = *state;
	uint8_t junk[20] = {0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0x3f, 'x'};
	uint8_t *out = NULL, *q;
	size_t outlen, len;
	ldns_pkt *p = NULL;

	assert_int_equal(dns_query(f->t, f->client, junk, 11, 0, false, &out, &outlen), DNS_DROP);
	assert_int_equal(dns_query(f->t, f->client, junk, sizeof(junk), 0, false, &out, &outlen),
			 DNS_ANSWER);
	assert_int_equal(ldns_wire2pkt(&p, out, outlen), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_id(p), 0xabcd);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_FORMERR);
	ldns_pkt_free(p);
	free(out);
	/* A response sent to the proxy is never answered (no reflection between proxies). */
	q = query("server.mesh.svc.cluster.local.", LDNS_RR_TYPE_A, 0, &len);
	q[2] |= 0x80;
	assert_int_equal(dns_query(f->t, f->client, q, len, 0, false, &out, &outlen), DNS_DROP);
	free(q);
}

/*
 * Every opcode but QUERY (STATUS, NOTIFY, UPDATE, DSO) goes to the node's resolvers unread, even
 * one ldns could not read, and even for a name of the mesh (istio/istio#55962: NOTIMP before).
 */
static void test_other_opcodes(void **state)
{
	static const int opcodes[] = {LDNS_PACKET_STATUS, LDNS_PACKET_NOTIFY, LDNS_PACKET_UPDATE,
				      6};
	struct fx *f = *state;
	uint8_t *out = NULL, *q;
	size_t outlen, len;

	for (size_t i = 0; i < sizeof(opcodes) / sizeof(opcodes[0]); i++) {
		q = query("server.mesh.svc.cluster.local.", LDNS_RR_TYPE_SOA, 0, &len);
		q[2] = (uint8_t)((q[2] & ~0x78) | opcodes[i] << 3);
		assert_int_equal(dns_query(f->t, f->client, q, len, 0, false, &out, &outlen),
				 DNS_FORWARD);
		assert_null(out);
		/* Cut short inside its question: still the resolvers' to judge. */
		assert_int_equal(dns_query(f->t, f->client, q, len - 3, 0, false, &out, &outlen),
				 DNS_FORWARD);
		free(q);
	}
}

/* The forwarder's check of upstream answers, and its SERVFAIL. */
static void test_upstream_check(void **state)
{
	size_t qlen, rlen, olen;
	uint8_t *q = query("example.org.", LDNS_RR_TYPE_A, 0, &qlen), *r, *o, *s;
	ldns_pkt *p = NULL;

	(void)state;
	r = query("EXAMPLE.org.", LDNS_RR_TYPE_A, 0, &rlen);
	assert_int_equal(dns_upstream_check(r, rlen, q, qlen), -EPROTO); /* not a response */
	r[2] |= 0x80;
	assert_int_equal(dns_upstream_check(r, rlen, q, qlen), 0);
	r[1] ^= 1;
	assert_int_equal(dns_upstream_check(r, rlen, q, qlen), -EPROTO); /* another id */
	free(r);
	o = query("example.net.", LDNS_RR_TYPE_A, 0, &olen);
	o[2] |= 0x80;
	assert_int_equal(dns_upstream_check(o, olen, q, qlen), -EPROTO); /* another name */
	free(o);
	o = query("example.org.", LDNS_RR_TYPE_AAAA, 0, &olen);
	o[2] |= 0x80;
	assert_int_equal(dns_upstream_check(o, olen, q, qlen), -EPROTO); /* another type */
	free(o);
	assert_int_equal(dns_upstream_check(q, 5, q, qlen), -EPROTO);
	/*
	 * An UPDATE's response: with its zone or without (RFC 2136 §3.8), but of its opcode;
	 * another opcode's response never answers it.
	 */
	q[2] = (uint8_t)((q[2] & ~0x78) | LDNS_PACKET_UPDATE << 3);
	o = query("example.org.", LDNS_RR_TYPE_A, 0, &olen);
	o[2] = (uint8_t)(0x80 | LDNS_PACKET_UPDATE << 3);
	assert_int_equal(dns_upstream_check(o, olen, q, qlen), 0);
	o[5] = 0; /* ZOCOUNT 0, the zone left out */
	assert_int_equal(dns_upstream_check(o, 12, q, qlen), 0);
	o[2] = 0x80;
	assert_int_equal(dns_upstream_check(o, 12, q, qlen), -EPROTO);
	free(o);
	o = query("example.net.", LDNS_RR_TYPE_A, 0, &olen);
	o[2] = (uint8_t)(0x80 | LDNS_PACKET_UPDATE << 3);
	assert_int_equal(dns_upstream_check(o, olen, q, qlen), -EPROTO); /* another zone */
	free(o);
	q[2] &= (uint8_t)~0x78;
	assert_int_equal(dns_servfail(q, qlen, &s, &olen), 0);
	assert_int_equal(ldns_wire2pkt(&p, s, olen), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	assert_int_equal(ldns_pkt_id(p), 0x1234);
	assert_int_equal(dns_upstream_check(s, olen, q, qlen), 0);
	ldns_pkt_free(p);
	free(s);
	free(q);
}

/*
 * What the proxy takes from its own queries' answers: A records (a CNAME chain's end), TTL; for
 * an AAAA query its AAAA records alone.
 */
static void test_answer_addrs(void **state)
{
	static const char *const chain[] = {
	    "alias.example.org. 60 IN CNAME www.example.org.", "www.example.org. 40 IN A 192.0.2.7",
	    "www.example.org. 90 IN A 192.0.2.8", "www.example.org. 30 IN AAAA 2001:db8::7", NULL};
	struct ipaddr ips[4], want;
	uint32_t ttl;
	uint8_t *q, *w;
	size_t len;
	ldns_pkt *p = NULL;

	(void)state;
	assert_int_equal(dns_make_query("alias.example.org", AF_INET, 0x4242, &q, &len), 0);
	assert_int_equal(ldns_wire2pkt(&p, q, len), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_id(p), 0x4242);
	assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_question(p), 0)),
			 LDNS_RR_TYPE_A);
	ldns_pkt_set_qr(p, true);
	for (const char *const *t = chain; *t; t++) {
		ldns_rr *rr = NULL;

		assert_int_equal(ldns_rr_new_frm_str(&rr, *t, 0, NULL, NULL), LDNS_STATUS_OK);
		assert_true(ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr));
	}
	assert_int_equal(ldns_pkt2wire(&w, p, &len), LDNS_STATUS_OK);
	assert_int_equal(dns_answer_addrs(w, len, AF_INET, ips, 4, &ttl), 2);
	assert_int_equal(ipaddr_parse("192.0.2.7", &want), 0);
	assert_true(ipaddr_equal(&ips[0], &want));
	assert_int_equal(ipaddr_parse("192.0.2.8", &want), 0);
	assert_true(ipaddr_equal(&ips[1], &want));
	assert_int_equal(ttl, 40);
	assert_int_equal(dns_answer_addrs(w, len, AF_INET, ips, 1, &ttl), 1);
	/* The AAAA record of the same answer, its own TTL. */
	assert_int_equal(dns_answer_addrs(w, len, AF_INET6, ips, 4, &ttl), 1);
	assert_int_equal(ipaddr_parse("2001:db8::7", &want), 0);
	assert_true(ipaddr_equal(&ips[0], &want));
	assert_int_equal(ttl, 30);
	free(w);
	ldns_pkt_set_rcode(p, LDNS_RCODE_NXDOMAIN);
	assert_int_equal(ldns_pkt2wire(&w, p, &len), LDNS_STATUS_OK);
	assert_int_equal(dns_answer_addrs(w, len, AF_INET, ips, 4, &ttl), -ENOENT);
	assert_int_equal(dns_answer_addrs(w, len, AF_INET6, ips, 4, &ttl), -ENOENT);
	free(w);
	ldns_pkt_set_rcode(p, LDNS_RCODE_SERVFAIL);
	assert_int_equal(ldns_pkt2wire(&w, p, &len), LDNS_STATUS_OK);
	assert_int_equal(dns_answer_addrs(w, len, AF_INET, ips, 4, &ttl), -EPROTO);
	free(w);
	assert_int_equal(dns_answer_addrs(q, 5, AF_INET, ips, 4, &ttl), -EPROTO);
	ldns_pkt_free(p);
	free(q);
	assert_int_equal(dns_make_query("bad..name", AF_INET, 1, &q, &len), -EINVAL);
	assert_int_equal(dns_make_query("alias.example.org", AF_INET6, 7, &q, &len), 0);
	assert_int_equal(dns_question_type(q, len), LDNS_RR_TYPE_AAAA);
	free(q);
}

/*
 * The proxy's metrics: one series per (type, protocol, client's canonical service and
 * revision), "unknown" for a client the snapshot lacks; the forwarded ones timed into Istio's
 * buckets; the question's type read from the query.
 */
static void test_stats(void **state)
{
	struct snap_workload client = {.canonical_service = "reviews", .canonical_revision = "v2"};
	struct dns_series *a = dns_stats_series(1, false, &client);
	struct dns_series *srv = dns_stats_series(33, true, NULL);
	uint8_t *q;
	size_t len;
	char *txt;

	assert_ptr_equal(a, dns_stats_series(1, false, &client));
	assert_ptr_not_equal(a, srv);
	dns_stats_request(a);
	dns_stats_request(a);
	dns_stats_forwarded(a);
	dns_stats_forward_done(a, false, 0.003);
	dns_stats_request(srv);
	dns_stats_forwarded(srv);
	dns_stats_forward_done(srv, true, 2.5);
	txt = dns_stats_render();
	assert_non_null(txt);
	assert_non_null(strstr(txt, "istio_dns_requests_total{request_query_type=\"a\",request_"
				    "protocol=\"udp\",source_canonical_service=\"reviews\",source_"
				    "canonical_revision=\"v2\"} 2\n"));
	assert_non_null(strstr(txt, "istio_dns_upstream_failures_total{request_query_type=\"srv\","
				    "request_protocol=\"tcp\",source_canonical_service=\"unknown\","
				    "source_canonical_revision=\"unknown\"} 1\n"));
	assert_non_null(strstr(txt, "istio_dns_upstream_request_duration_seconds_bucket{request_"
				    "query_type=\"a\",request_protocol=\"udp\",source_canonical_"
				    "service=\"reviews\",source_canonical_revision=\"v2\",le="
				    "\"0.005\"} 1\n"));
	assert_non_null(
	    strstr(txt, "# TYPE istio_dns_upstream_request_duration_seconds histogram"));
	free(txt);
	assert_int_equal(dns_make_query("a.example.com", AF_INET, 28, &q, &len),
			 0); /* id 28, type A */
	assert_int_equal(dns_question_type(q, len), 1);
	assert_int_equal(dns_question_type(q, 14), -EPROTO);
	free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_service_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nodata_and_nxdomain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_headless_entries_pods, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_srv, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_truncation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_opcodes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_headless_srv, setup, teardown),
	    cmocka_unit_test(test_upstream_check),
	    cmocka_unit_test(test_answer_addrs),
	    cmocka_unit_test(test_stats),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
