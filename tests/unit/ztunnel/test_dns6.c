// SPDX-License-Identifier: Apache-2.0
/*
 * The DNS proxy's answers for both families (ztunnel/dns.c): AAAA for a dual-stack Service's
 * vip6 by every name a pod may use, NODATA (never NXDOMAIN) for the family a name has no address
 * of, either way round; a headless Service's endpoints and members by their pods' IPv6 (an
 * IPv6-only pod's by its endpoints6), a selectorless one's by its IPv6 slices'; pods by their
 * dashed IPv6 addresses; SRV's additional AAAA; ServiceEntries' IPv6 addresses, given or
 * allocated, wildcards too; ANY with both; and A answers byte for byte what they were before
 * any IPv6 was in the snapshot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ldns/ldns.h>

#include "../../../ztunnel/dns.h"
#include "ambit/snapshot.h"

static const char SNAP[] =
    "{\"version\":1,\"node\":\"n1\",\"workloads\":["
    "{\"uid\":\"mesh/client-0\",\"name\":\"client-0\",\"namespace\":\"mesh\","
    " \"ip\":\"10.98.1.3\",\"ip6\":\"fd00:98:1::3\",\"enrolled\":true},"
    "{\"uid\":\"mesh/web-0\",\"name\":\"web-0\",\"namespace\":\"mesh\",\"ip\":\"10.98.1.7\","
    " \"ip6\":\"fd00:98:1::7\",\"hostname\":\"w0\",\"subdomain\":\"hs\"},"
    "{\"uid\":\"mesh/web-1\",\"name\":\"web-1\",\"namespace\":\"mesh\",\"ip\":\"10.98.2.7\","
    " \"hostname\":\"w1\",\"subdomain\":\"hs\"}],"
    "\"services\":["
    "{\"name\":\"ds\",\"namespace\":\"mesh\",\"vip\":\"10.96.0.20\",\"vip6\":\"fd00:96::20\","
    " \"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":8080}],"
    " \"endpoints\":[\"10.98.1.7\"]},"
    "{\"name\":\"four\",\"namespace\":\"mesh\",\"vip\":\"10.96.0.21\","
    " \"ports\":[{\"name\":\"http\",\"port\":80}],\"endpoints\":[\"10.98.1.7\"]},"
    "{\"name\":\"six\",\"namespace\":\"mesh\",\"vip6\":\"fd00:96::22\","
    " \"ports\":[{\"name\":\"http\",\"port\":80}],\"endpoints\":[\"10.98.1.7\"]},"
    "{\"name\":\"hs\",\"namespace\":\"mesh\",\"vip\":\"0.0.0.0\","
    " \"ports\":[{\"name\":\"http\",\"port\":80}],"
    " \"endpoints\":[\"10.98.1.7\",\"10.98.2.7\"]}],"
    "\"serviceEntries\":["
    "{\"name\":\"alloc.example.com\",\"namespace\":\"mesh\",\"hostname\":\"alloc.example.com\","
    " \"vip\":\"240.240.0.5\",\"vip6\":\"2001:2::f0f0:5\",\"ports\":[{\"name\":\"https\","
    " \"port\":443}],\"endpoints\":[],\"kind\":\"MESH_EXTERNAL\",\"resolution\":\"DNS\"},"
    "{\"name\":\"given.example.com\",\"namespace\":\"mesh\",\"hostname\":\"given.example.com\","
    " \"vip\":\"240.240.0.6\",\"vip6\":\"2001:db8::6\",\"ports\":[],\"endpoints\":[],"
    " \"kind\":\"MESH_EXTERNAL\",\"resolution\":\"STATIC\"},"
    "{\"name\":\"four.example.com\",\"namespace\":\"mesh\",\"hostname\":\"four.example.com\","
    " \"vip\":\"192.0.2.10\",\"ports\":[],\"endpoints\":[],\"kind\":\"MESH_EXTERNAL\","
    " \"resolution\":\"STATIC\"},"
    "{\"name\":\"*.dyn6.com\",\"namespace\":\"mesh\",\"hostname\":\"*.dyn6.com\","
    " \"vip\":\"240.240.1.3\",\"vip6\":\"2001:2::f0f0:103\",\"ports\":[],\"endpoints\":[],"
    " \"kind\":\"MESH_EXTERNAL\",\"resolution\":\"DYNAMIC_DNS\"}],"
    "\"certs\":[]}";

struct fx {
	struct snapshot *s;
	struct dns_table *t;
	const struct snap_workload *client;
};

static struct snapshot *decode(void)
{
	char err[200];
	struct snapshot *s = snapshot_decode(SNAP, strlen(SNAP), err, sizeof(err));

	if (!s)
		fail_msg("%s", err);
	return s;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->s = decode();
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

/* Query @name/@type (id 0x4242, RD) as @client of table @t: the verdict, the answer's bytes. */
static enum dns_verdict ask_wire(const struct dns_table *t, const struct snap_workload *client,
				 const char *name, ldns_rr_type type, uint8_t **out, size_t *outlen)
{
	ldns_pkt *q = NULL;
	uint8_t *w = NULL;
	size_t len;
	enum dns_verdict v;

	assert_int_equal(ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, LDNS_RD),
			 LDNS_STATUS_OK);
	ldns_pkt_set_id(q, 0x4242);
	assert_int_equal(ldns_pkt2wire(&w, q, &len), LDNS_STATUS_OK);
	ldns_pkt_free(q);
	v = dns_query(t, client, w, len, 0, false, out, outlen);
	if (v == DNS_ANSWER)
		assert_int_equal(dns_upstream_check(*out, *outlen, w, len), 0);
	free(w);
	return v;
}

/* The parsed answer to @name/@type, which must be one (NOERROR or NXDOMAIN), authoritative. */
static ldns_pkt *ask(struct fx *f, const struct snap_workload *client, const char *name,
		     ldns_rr_type type)
{
	uint8_t *out = NULL;
	size_t outlen = 0;
	ldns_pkt *p = NULL;

	assert_int_equal(ask_wire(f->t, client, name, type, &out, &outlen), DNS_ANSWER);
	assert_int_equal(ldns_wire2pkt(&p, out, outlen), LDNS_STATUS_OK);
	free(out);
	assert_true(ldns_pkt_aa(p));
	return p;
}

/* Whether @p's @sec holds exactly @n records. */
static void count(const ldns_pkt *p, ldns_pkt_section sec, size_t n)
{
	const ldns_rr_list *l =
	    sec == LDNS_SECTION_ANSWER ? ldns_pkt_answer(p) : ldns_pkt_additional(p);

	assert_int_equal(l ? ldns_rr_list_rr_count(l) : 0, n);
}

/* Whether record @i of @p's answer is @type with address @txt. */
static void has(const ldns_pkt *p, size_t i, ldns_rr_type type, const char *txt)
{
	const ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(p), i);
	uint8_t want[16];

	assert_non_null(rr);
	assert_int_equal(ldns_rr_get_type(rr), type);
	assert_int_equal(ldns_rr_ttl(rr), DNS_TTL);
	assert_int_equal(inet_pton(type == LDNS_RR_TYPE_A ? AF_INET : AF_INET6, txt, want), 1);
	assert_int_equal(ldns_rdf_size(ldns_rr_rdf(rr, 0)), type == LDNS_RR_TYPE_A ? 4 : 16);
	assert_memory_equal(ldns_rdf_data(ldns_rr_rdf(rr, 0)), want,
			    type == LDNS_RR_TYPE_A ? 4 : 16);
}

/* NOERROR with no answer: the name is there, without an address of the asked family. */
static void nodata(struct fx *f, const char *name, ldns_rr_type type)
{
	ldns_pkt *p = ask(f, f->client, name, type);

	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	count(p, LDNS_SECTION_ANSWER, 0);
	ldns_pkt_free(p);
}

/* The answer to @name/@qtype is NOERROR with one record, @type with address @txt. */
static void one_as(struct fx *f, const char *name, ldns_rr_type qtype, ldns_rr_type type,
		   const char *txt)
{
	ldns_pkt *p = ask(f, f->client, name, qtype);

	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	count(p, LDNS_SECTION_ANSWER, 1);
	has(p, 0, type, txt);
	ldns_pkt_free(p);
}

/* The answer to @name/@type is its one address @txt. */
static void one(struct fx *f, const char *name, ldns_rr_type type, const char *txt)
{
	one_as(f, name, type, type, txt);
}

/* A dual-stack Service: AAAA its vip6 and A its vip, by every name form; ANY both. */
static void test_dual_stack_service(void **state)
{
	static const char *const names[] = {"ds.mesh.svc.cluster.local.",
					    "DS.Mesh.svc.cluster.local.", "ds.mesh.svc.",
					    "ds.mesh.", "ds."};
	struct fx *f = *state;
	ldns_pkt *p;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		one(f, names[i], LDNS_RR_TYPE_AAAA, "fd00:96::20");
		one(f, names[i], LDNS_RR_TYPE_A, "10.96.0.20");
	}
	p = ask(f, f->client, "ds.mesh.svc.cluster.local.", LDNS_RR_TYPE_ANY);
	count(p, LDNS_SECTION_ANSWER, 2);
	has(p, 0, LDNS_RR_TYPE_A, "10.96.0.20");
	has(p, 1, LDNS_RR_TYPE_AAAA, "fd00:96::20");
	ldns_pkt_free(p);
}

/*
 * A single-stack Service answers the other family with NODATA, whichever it lacks: an IPv6-only
 * one (vip6 alone in the snapshot, as the agent sends it) is not headless (its A is not its
 * endpoints'). Unknown names stay NXDOMAIN for AAAA too,
 * and names outside the mesh go upstream whatever their type.
 */
static void test_nodata_both_ways(void **state)
{
	struct fx *f = *state;
	uint8_t *out = NULL;
	size_t outlen;
	ldns_pkt *p;

	nodata(f, "four.mesh.svc.cluster.local.", LDNS_RR_TYPE_AAAA);
	nodata(f, "four.", LDNS_RR_TYPE_AAAA);
	nodata(f, "six.mesh.svc.cluster.local.", LDNS_RR_TYPE_A);
	nodata(f, "six.", LDNS_RR_TYPE_A);
	one(f, "six.mesh.svc.cluster.local.", LDNS_RR_TYPE_AAAA, "fd00:96::22");
	one_as(f, "six.mesh.svc.cluster.local.", LDNS_RR_TYPE_ANY, LDNS_RR_TYPE_AAAA,
	       "fd00:96::22");
	p = ask(f, f->client, "none.mesh.svc.cluster.local.", LDNS_RR_TYPE_AAAA);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(p);
	assert_int_equal(
	    ask_wire(f->t, f->client, "example.org.", LDNS_RR_TYPE_AAAA, &out, &outlen),
	    DNS_FORWARD);
	assert_null(out);
}

/*
 * A headless Service: A its endpoints' IPv4, AAAA the IPv6 of those whose pods have one; a
 * member by hostname likewise (NODATA for a pod without IPv6); SRV's additional section has
 * each target's A and, where there is one, AAAA. A dashed pod name is IPv4's alone.
 */
static void test_headless(void **state)
{
	struct fx *f = *state;
	const ldns_rr_list *ad;
	size_t a = 0, aaaa = 0;
	ldns_pkt *p;

	p = ask(f, f->client, "hs.mesh.svc.cluster.local.", LDNS_RR_TYPE_A);
	count(p, LDNS_SECTION_ANSWER, 2);
	has(p, 0, LDNS_RR_TYPE_A, "10.98.1.7");
	has(p, 1, LDNS_RR_TYPE_A, "10.98.2.7");
	ldns_pkt_free(p);
	one(f, "hs.", LDNS_RR_TYPE_AAAA, "fd00:98:1::7");
	one(f, "w0.hs.mesh.svc.cluster.local.", LDNS_RR_TYPE_AAAA, "fd00:98:1::7");
	one(f, "w0.hs.mesh.svc.cluster.local.", LDNS_RR_TYPE_A, "10.98.1.7");
	nodata(f, "w1.hs.mesh.svc.cluster.local.", LDNS_RR_TYPE_AAAA);
	one_as(f, "w1.hs.mesh.svc.cluster.local.", LDNS_RR_TYPE_ANY, LDNS_RR_TYPE_A, "10.98.2.7");
	/* A dual-stack pod by its dashed IPv4 name: that address, no AAAA. */
	nodata(f, "10-98-1-7.mesh.pod.cluster.local.", LDNS_RR_TYPE_AAAA);

	p = ask(f, f->client, "_http._tcp.hs.mesh.svc.cluster.local.", LDNS_RR_TYPE_SRV);
	count(p, LDNS_SECTION_ANSWER, 2);
	ad = ldns_pkt_additional(p);
	for (size_t i = 0; i < ldns_rr_list_rr_count(ad); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(ad, i);
		char *o = ldns_rdf2str(ldns_rr_owner(rr));

		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_A)
			a++;
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_AAAA) {
			aaaa++;
			assert_string_equal(o, "w0.hs.mesh.svc.cluster.local.");
		}
		free(o);
	}
	assert_int_equal(a, 2);
	assert_int_equal(aaaa, 1);
	ldns_pkt_free(p);
	/* A dual-stack Service's SRV: its name's A and AAAA. */
	p = ask(f, f->client, "_http._tcp.ds.mesh.svc.cluster.local.", LDNS_RR_TYPE_SRV);
	count(p, LDNS_SECTION_ANSWER, 1);
	count(p, LDNS_SECTION_ADDITIONAL, 2);
	ldns_pkt_free(p);
}

/* A headless Service of a dual-stack pod and an IPv6-only one (its endpoints6, as desired). */
static const char SNAP_V6ONLY[] =
    "{\"version\":1,\"node\":\"n1\",\"workloads\":["
    "{\"uid\":\"mesh/client-0\",\"name\":\"client-0\",\"namespace\":\"mesh\","
    " \"ip6\":\"fd00:98:1::3\",\"enrolled\":true},"
    "{\"uid\":\"mesh/db-0\",\"name\":\"db-0\",\"namespace\":\"mesh\",\"ip\":\"10.98.1.8\","
    " \"ip6\":\"fd00:98:1::8\",\"hostname\":\"d0\",\"subdomain\":\"db\"},"
    "{\"uid\":\"mesh/db-1\",\"name\":\"db-1\",\"namespace\":\"mesh\","
    " \"ip6\":\"fd00:98:2::8\",\"hostname\":\"d1\",\"subdomain\":\"db\"}],"
    "\"services\":["
    "{\"name\":\"db\",\"namespace\":\"mesh\",\"vip\":\"0.0.0.0\","
    " \"ports\":[{\"name\":\"tcp-db\",\"port\":5432}],"
    " \"endpoints\":[\"10.98.1.8\"],\"endpoints6\":[\"fd00:98:1::8\",\"fd00:98:2::8\"]},"
    /* Headless without a selector: an IPv4 slice of db-0, an IPv6 slice of db-0 and another. */
    "{\"name\":\"ext\",\"namespace\":\"mesh\",\"vip\":\"0.0.0.0\","
    " \"ports\":[{\"name\":\"tcp-db\",\"port\":5432}],"
    " \"endpoints\":[\"10.98.1.8\"],\"endpoints6\":[\"fd00:98:1::8\",\"2001:db8::5\"]},"
    /* Headless without a selector, of an IPv6 slice alone. */
    "{\"name\":\"ext6\",\"namespace\":\"mesh\",\"vip\":\"0.0.0.0\","
    " \"ports\":[{\"name\":\"tcp-db\",\"port\":5432}],"
    " \"endpoints\":[],\"endpoints6\":[\"2001:db8::6\",\"2001:db8::7\"]}],"
    "\"certs\":[]}";

/*
 * A headless Service with an IPv6-only pod (ip6 alone, in endpoints6): AAAA both pods' IPv6
 * (the dual-stack one's once), A the dual-stack one's IPv4 alone; the IPv6-only pod's member
 * name answers its IPv6 (NODATA for A); SRV names it as a target with its AAAA. The client is
 * an IPv6-only pod too.
 */
static void test_headless_ipv6_only(void **state)
{
	struct fx f = {0};
	char err[200];
	ldns_pkt *p;
	size_t aaaa = 0;
	const ldns_rr_list *ad;

	f.s = snapshot_decode(SNAP_V6ONLY, strlen(SNAP_V6ONLY), err, sizeof(err));
	if (!f.s)
		fail_msg("%s", err);
	f.t = dns_table_build(f.s, "cluster.local");
	assert_non_null(f.t);
	f.client = &f.s->workloads[0];
	p = ask(&f, f.client, "db.mesh.svc.cluster.local.", LDNS_RR_TYPE_AAAA);
	count(p, LDNS_SECTION_ANSWER, 2);
	has(p, 0, LDNS_RR_TYPE_AAAA, "fd00:98:1::8");
	has(p, 1, LDNS_RR_TYPE_AAAA, "fd00:98:2::8");
	ldns_pkt_free(p);
	one(&f, "db.", LDNS_RR_TYPE_A, "10.98.1.8");
	one(&f, "d1.db.mesh.svc.cluster.local.", LDNS_RR_TYPE_AAAA, "fd00:98:2::8");
	nodata(&f, "d1.db.mesh.svc.cluster.local.", LDNS_RR_TYPE_A);
	one(&f, "d0.db.mesh.svc.cluster.local.", LDNS_RR_TYPE_AAAA, "fd00:98:1::8");

	p = ask(&f, f.client, "_tcp-db._tcp.db.mesh.svc.cluster.local.", LDNS_RR_TYPE_SRV);
	count(p, LDNS_SECTION_ANSWER, 2);
	ad = ldns_pkt_additional(p);
	for (size_t i = 0; i < ldns_rr_list_rr_count(ad); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(ad, i);
		char *o = ldns_rdf2str(ldns_rr_owner(rr));

		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_AAAA &&
		    !strcmp(o, "d1.db.mesh.svc.cluster.local."))
			aaaa++;
		free(o);
	}
	assert_int_equal(aaaa, 1);
	ldns_pkt_free(p);
	dns_table_free(f.t);
	snapshot_free(f.s);
}

static void v6only_fx(struct fx *f)
{
	char err[200];

	memset(f, 0, sizeof(*f));
	f->s = snapshot_decode(SNAP_V6ONLY, strlen(SNAP_V6ONLY), err, sizeof(err));
	if (!f->s)
		fail_msg("%s", err);
	f->t = dns_table_build(f->s, "cluster.local");
	assert_non_null(f->t);
	f->client = &f->s->workloads[0];
}

/* The number of @type records of @p's additional section owned by @owner. */
static size_t additional(const ldns_pkt *p, ldns_rr_type type, const char *owner)
{
	const ldns_rr_list *ad = ldns_pkt_additional(p);
	size_t n = 0;

	for (size_t i = 0; ad && i < ldns_rr_list_rr_count(ad); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(ad, i);
		char *o = ldns_rdf2str(ldns_rr_owner(rr));

		n += ldns_rr_get_type(rr) == type && o && !strcmp(o, owner);
		free(o);
	}
	return n;
}

/*
 * A headless Service without a selector: AAAA its IPv6 slices' addresses, a dual-stack pod its
 * IPv4 slice names too answered once, A its IPv4 slice's alone; an address outside the cluster
 * by its dashed member name (AAAA, NODATA for A); SRV a target for each, with its AAAA. One of
 * IPv6 slices alone: AAAA them all, NODATA for A.
 */
static void test_headless_selectorless_ipv6(void **state)
{
	struct fx f;
	ldns_pkt *p;

	v6only_fx(&f);
	p = ask(&f, f.client, "ext.mesh.svc.cluster.local.", LDNS_RR_TYPE_AAAA);
	count(p, LDNS_SECTION_ANSWER, 2);
	has(p, 0, LDNS_RR_TYPE_AAAA, "fd00:98:1::8");
	has(p, 1, LDNS_RR_TYPE_AAAA, "2001:db8::5");
	ldns_pkt_free(p);
	one(&f, "ext.mesh.svc.cluster.local.", LDNS_RR_TYPE_A, "10.98.1.8");
	one(&f, "2001-db8--5.ext.mesh.svc.cluster.local.", LDNS_RR_TYPE_AAAA, "2001:db8::5");
	nodata(&f, "2001-db8--5.ext.mesh.svc.cluster.local.", LDNS_RR_TYPE_A);
	/* db-0 is named by its IPv4 endpoint (its hostname is db's, not ext's): dashed IPv4. */
	one(&f, "10-98-1-8.ext.mesh.svc.cluster.local.", LDNS_RR_TYPE_AAAA, "fd00:98:1::8");

	p = ask(&f, f.client, "_tcp-db._tcp.ext.mesh.svc.cluster.local.", LDNS_RR_TYPE_SRV);
	count(p, LDNS_SECTION_ANSWER, 2);
	assert_int_equal(
	    additional(p, LDNS_RR_TYPE_AAAA, "2001-db8--5.ext.mesh.svc.cluster.local."), 1);
	assert_int_equal(additional(p, LDNS_RR_TYPE_AAAA, "10-98-1-8.ext.mesh.svc.cluster.local."),
			 1);
	assert_int_equal(additional(p, LDNS_RR_TYPE_A, "10-98-1-8.ext.mesh.svc.cluster.local."), 1);
	ldns_pkt_free(p);

	p = ask(&f, f.client, "ext6.mesh.svc.cluster.local.", LDNS_RR_TYPE_AAAA);
	count(p, LDNS_SECTION_ANSWER, 2);
	has(p, 0, LDNS_RR_TYPE_AAAA, "2001:db8::6");
	has(p, 1, LDNS_RR_TYPE_AAAA, "2001:db8::7");
	ldns_pkt_free(p);
	nodata(&f, "ext6.mesh.svc.cluster.local.", LDNS_RR_TYPE_A);
	dns_table_free(f.t);
	snapshot_free(f.s);
}

/* The port of @p's SRV record whose target is @target, or 0. */
static uint16_t srv_port(const ldns_pkt *p, const char *target)
{
	const ldns_rr_list *an = ldns_pkt_answer(p);
	uint16_t port = 0;

	for (size_t i = 0; an && i < ldns_rr_list_rr_count(an); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);
		char *t = ldns_rr_get_type(rr) == LDNS_RR_TYPE_SRV
			      ? ldns_rdf2str(ldns_rr_rdf(rr, 3))
			      : NULL;

		if (t && !strcmp(t, target))
			port = ldns_rdf2native_int16(ldns_rr_rdf(rr, 2));
		free(t);
	}
	return port;
}

/*
 * A headless selectorless Service whose slices number its port differently (an IPv4 slice at
 * 8080, another at 8082, an IPv6 one at 8081, as the agent lists them in endpointPorts and
 * endpointPorts6): each SRV target, of either family, on its own slice's number; one not
 * listed on the targetPort.
 */
static void test_srv_slice_ports(void **state)
{
	static const char snap[] =
	    "{\"version\":1,\"node\":\"n1\",\"workloads\":["
	    "{\"uid\":\"mesh/client-0\",\"name\":\"client-0\",\"namespace\":\"mesh\","
	    " \"ip6\":\"fd00:98:1::3\",\"enrolled\":true}],"
	    "\"services\":["
	    "{\"name\":\"hsx\",\"namespace\":\"mesh\",\"vip\":\"0.0.0.0\","
	    " \"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":8080}],"
	    " \"endpoints\":[\"10.98.9.1\",\"10.98.9.2\"],"
	    " \"endpoints6\":[\"2001:db8::9:1\",\"2001:db8::9:3\"],"
	    " \"endpointPorts\":[{\"ip\":\"10.98.9.2\",\"port\":80,\"targetPort\":8082}],"
	    " \"endpointPorts6\":[{\"ip\":\"2001:db8::9:1\",\"port\":80,"
	    " \"targetPort\":8081}]}],"
	    "\"certs\":[]}";
	struct fx f = {0};
	char err[200];
	ldns_pkt *p;

	(void)state;
	f.s = snapshot_decode(snap, strlen(snap), err, sizeof(err));
	if (!f.s)
		fail_msg("%s", err);
	f.t = dns_table_build(f.s, "cluster.local");
	assert_non_null(f.t);
	f.client = &f.s->workloads[0];
	p = ask(&f, f.client, "_http._tcp.hsx.mesh.svc.cluster.local.", LDNS_RR_TYPE_SRV);
	count(p, LDNS_SECTION_ANSWER, 4);
	assert_int_equal(srv_port(p, "10-98-9-1.hsx.mesh.svc.cluster.local."), 8080);
	assert_int_equal(srv_port(p, "10-98-9-2.hsx.mesh.svc.cluster.local."), 8082);
	assert_int_equal(srv_port(p, "2001-db8--9-1.hsx.mesh.svc.cluster.local."), 8081);
	assert_int_equal(srv_port(p, "2001-db8--9-3.hsx.mesh.svc.cluster.local."), 8080);
	ldns_pkt_free(p);
	dns_table_free(f.t);
	snapshot_free(f.s);
}

/*
 * A pod by its dashed IPv6 address (':' as '-'): AAAA that address, NODATA for A, an IPv6-only
 * pod and a dual-stack one alike; in another namespace, or an address no pod has, NXDOMAIN.
 */
static void test_pod_dashed_ipv6(void **state)
{
	struct fx f;
	ldns_pkt *p;

	v6only_fx(&f);
	one(&f, "fd00-98-2--8.mesh.pod.cluster.local.", LDNS_RR_TYPE_AAAA, "fd00:98:2::8");
	nodata(&f, "fd00-98-2--8.mesh.pod.cluster.local.", LDNS_RR_TYPE_A);
	one_as(&f, "fd00-98-2--8.mesh.pod.cluster.local.", LDNS_RR_TYPE_ANY, LDNS_RR_TYPE_AAAA,
	       "fd00:98:2::8");
	one(&f, "fd00-98-1--8.mesh.pod.cluster.local.", LDNS_RR_TYPE_AAAA, "fd00:98:1::8");
	one(&f, "10-98-1-8.mesh.pod.cluster.local.", LDNS_RR_TYPE_A, "10.98.1.8");
	p = ask(&f, f.client, "fd00-98-2--8.other.pod.cluster.local.", LDNS_RR_TYPE_AAAA);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(p);
	p = ask(&f, f.client, "fd00-98-2--9.mesh.pod.cluster.local.", LDNS_RR_TYPE_AAAA);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(p);
	dns_table_free(f.t);
	snapshot_free(f.s);
}

/*
 * ServiceEntries: an allocated IPv6 address and a given one answer AAAA; an entry with an IPv4
 * address only answers NODATA; a DYNAMIC_DNS wildcard answers every name under it.
 */
static void test_entries(void **state)
{
	struct fx *f = *state;

	one(f, "alloc.example.com.", LDNS_RR_TYPE_AAAA, "2001:2::f0f0:5");
	one(f, "alloc.example.com.", LDNS_RR_TYPE_A, "240.240.0.5");
	one(f, "Given.Example.com.", LDNS_RR_TYPE_AAAA, "2001:db8::6");
	nodata(f, "four.example.com.", LDNS_RR_TYPE_AAAA);
	one(f, "x.y.dyn6.com.", LDNS_RR_TYPE_AAAA, "2001:2::f0f0:103");
}

/*
 * A answers are byte for byte those of the same snapshot without any IPv6 in it (the one before
 * dual stack): for a dual-stack Service, a headless one with a dual-stack pod, its members, an
 * entry with an allocated IPv6 address and a wildcard.
 */
static void test_a_unchanged(void **state)
{
	static const char *const names[] = {"ds.mesh.svc.cluster.local.",
					    "ds.",
					    "hs.mesh.svc.cluster.local.",
					    "w0.hs.mesh.svc.cluster.local.",
					    "alloc.example.com.",
					    "given.example.com.",
					    "a.dyn6.com.",
					    "10-98-1-7.mesh.pod.cluster.local.",
					    "four."};
	struct fx *f = *state;
	struct snapshot *s4 = decode();
	struct dns_table *t4;

	for (size_t i = 0; i < s4->n_workloads; i++)
		s4->workloads[i].ip6.family = 0;
	for (size_t i = 0; i < s4->n_services; i++)
		s4->services[i].vip6.family = 0;
	for (size_t i = 0; i < s4->n_entries; i++)
		s4->entries[i].vip6.family = 0;
	t4 = dns_table_build(s4, "cluster.local");
	assert_non_null(t4);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint8_t *a = NULL, *b = NULL;
		size_t alen = 0, blen = 0;

		assert_int_equal(ask_wire(f->t, f->client, names[i], LDNS_RR_TYPE_A, &a, &alen),
				 DNS_ANSWER);
		assert_int_equal(
		    ask_wire(t4, &s4->workloads[0], names[i], LDNS_RR_TYPE_A, &b, &blen),
		    DNS_ANSWER);
		assert_int_equal(alen, blen);
		assert_memory_equal(a, b, alen);
		/* And each has an A record: the comparison is of answers, not of NODATA. */
		assert_true(a[7] >= 1);
		free(a);
		free(b);
	}
	dns_table_free(t4);
	snapshot_free(s4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_dual_stack_service, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nodata_both_ways, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_headless, setup, teardown),
	    cmocka_unit_test(test_headless_ipv6_only),
	    cmocka_unit_test(test_headless_selectorless_ipv6),
	    cmocka_unit_test(test_srv_slice_ports),
	    cmocka_unit_test(test_pod_dashed_ipv6),
	    cmocka_unit_test_setup_teardown(test_entries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_unchanged, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
