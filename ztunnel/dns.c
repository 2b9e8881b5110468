// SPDX-License-Identifier: Apache-2.0
/*
 * The DNS proxy's name table and answers (dns.h). Messages are read and written by ldns; names
 * are compared lower-cased without the root dot. The table is an open-addressed hash of the
 * snapshot's names, built once per snapshot, so a query costs one parse, a few look-ups and one
 * write.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ldns/ldns.h>
#include <xxhash.h>

#include "dns.h"

/* Names longer than this are never the mesh's (a DNS name is at most 253 characters). */
#define NAME_MAX_LEN 256
/* The opcode of message @m (at least a header), read from the header alone. */
#define DNS_OPCODE(m) (((m)[2] >> 3) & 0xf)

struct rec {
	char *name; /* NULL: an empty slot */
	const struct snap_service *svc;
};

struct dns_table {
	struct rec *slots;
	size_t cap; /* a power of two */
	char *domain;
	size_t domain_len;
	const struct snapshot *s;
};

static size_t slot_of(const struct dns_table *t, const char *name, size_t len)
{
	return (size_t)XXH3_64bits(name, len) & (t->cap - 1);
}

static const struct snap_service *table_get(const struct dns_table *t, const char *name)
{
	size_t len = strlen(name);

	if (!t->cap)
		return NULL;
	for (size_t i = slot_of(t, name, len);; i = (i + 1) & (t->cap - 1)) {
		if (!t->slots[i].name)
			return NULL;
		if (!strcmp(t->slots[i].name, name))
			return t->slots[i].svc;
	}
}

/* Adds @name (taken) for @svc; a name already there keeps its first owner. */
static int table_put(struct dns_table *t, char *name, const struct snap_service *svc)
{
	size_t i;

	if (!name)
		return -ENOMEM;
	for (char *p = name; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	for (i = slot_of(t, name, strlen(name)); t->slots[i].name; i = (i + 1) & (t->cap - 1)) {
		if (!strcmp(t->slots[i].name, name)) {
			free(name);
			return 0;
		}
	}
	t->slots[i].name = name;
	t->slots[i].svc = svc;
	return 0;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, f);
	n = vasprintf(&s, f, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

struct dns_table *dns_table_build(const struct snapshot *s, const char *domain)
{
	struct dns_table *t = calloc(1, sizeof(*t));
	size_t want = 2 * (s->n_services + s->n_entries) + 16;
	int err = 0;

	if (!t)
		return NULL;
	t->s = s;
	t->domain = strdup(domain);
	for (t->cap = 16; t->cap < want; t->cap *= 2)
		;
	t->slots = calloc(t->cap, sizeof(*t->slots));
	if (!t->domain || !t->slots) {
		dns_table_free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->domain_len = strlen(t->domain);
	for (size_t i = 0; i < s->n_services && !err; i++)
		if (s->services[i].name && s->services[i].namespace)
			err = table_put(t,
					fmt("%s.%s.svc.%s", s->services[i].name,
					    s->services[i].namespace, domain),
					&s->services[i]);
	/*
	 * A wildcard host with an address (DYNAMIC_DNS's) answers for every name under it
	 * (lookup); one without names no address: its names are the upstream's.
	 */
	for (size_t i = 0; i < s->n_entries && !err; i++)
		if (s->entries[i].hostname && s->entries[i].hostname[0] &&
		    (!strchr(s->entries[i].hostname, '*') ||
		     ((s->entries[i].vip || s->entries[i].vip6.family) &&
		      !strncmp(s->entries[i].hostname, "*.", 2))))
			err = table_put(t, strdup(s->entries[i].hostname), &s->entries[i]);
	if (err) {
		dns_table_free(t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

void dns_table_free(struct dns_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->cap; i++)
		free(t->slots[i].name);
	free(t->slots);
	free(t->domain);
	free(t);
}

/* ---- names ---- */

/* Whether @name is @suffix or ends in ".@suffix". */
static bool under(const char *name, const char *suffix, size_t slen)
{
	size_t n = strlen(name);

	if (n == slen)
		return !strcmp(name, suffix);
	return n > slen && name[n - slen - 1] == '.' && !strcmp(name + n - slen, suffix);
}

/* An entry is seen by the namespaces it is exported to; a Service by everyone. */
static bool visible(const struct snap_service *svc, const struct snap_workload *client)
{
	if (svc->kind == SNAP_SVC_SERVICE || !svc->export_to)
		return true;
	for (size_t i = 0; client && client->namespace && i < svc->n_export_to; i++)
		if (!strcmp(svc->export_to[i], client->namespace))
			return true;
	return false;
}

static int count_dots(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '.';
	return n;
}

/*
 * The Service or entry @name means to @client: the name itself, else as Istio's proxy expands
 * what a resolver sends without search domains (`svc` in the client's namespace, `svc.ns`,
 * `svc.ns.svc`).
 */
static const struct snap_service *lookup(const struct dns_table *t,
					 const struct snap_workload *client, const char *name)
{
	const struct snap_service *svc = table_get(t, name);
	char buf[NAME_MAX_LEN * 2];
	int dots = count_dots(name);

	if (!svc && dots == 0 && client && client->namespace) {
		snprintf(buf, sizeof(buf), "%s.%s.svc.%s", name, client->namespace, t->domain);
		svc = table_get(t, buf);
	}
	if (!svc && dots == 1) {
		snprintf(buf, sizeof(buf), "%s.svc.%s", name, t->domain);
		svc = table_get(t, buf);
	}
	if (!svc && dots == 2 && under(name, "svc", 3)) {
		snprintf(buf, sizeof(buf), "%s.%s", name, t->domain);
		svc = table_get(t, buf);
	}
	/* Under a wildcard entry (DYNAMIC_DNS): the closest "*.suffix" there is. */
	for (const char *dot = strchr(name, '.'); !svc && dot && dot[1];
	     dot = strchr(dot + 1, '.')) {
		snprintf(buf, sizeof(buf), "*%s", dot);
		svc = table_get(t, buf);
	}
	return svc && visible(svc, client) ? svc : NULL;
}

/*
 * A pod by its dashed address, `a-b-c-d.ns.pod.<domain>`, when the snapshot has a workload of
 * that namespace there. 0: none.
 */
static uint32_t pod_address(const struct dns_table *t, const char *name)
{
	char dashed[INET_ADDRSTRLEN], ns[NAME_MAX_LEN];
	const char *dot = strchr(name, '.'), *rest;
	const struct snap_workload *w;
	struct in_addr a;
	size_t n;

	if (!dot || (size_t)(dot - name) >= sizeof(dashed))
		return 0;
	memcpy(dashed, name, (size_t)(dot - name));
	dashed[dot - name] = 0;
	rest = dot + 1;
	dot = strchr(rest, '.');
	if (!dot || (n = (size_t)(dot - rest)) >= sizeof(ns))
		return 0;
	memcpy(ns, rest, n);
	ns[n] = 0;
	if (strncmp(dot + 1, "pod.", 4) || strcmp(dot + 5, t->domain))
		return 0;
	for (char *p = dashed; *p; p++)
		if (*p == '-')
			*p = '.';
	if (inet_pton(AF_INET, dashed, &a) != 1)
		return 0;
	w = snapshot_workload_by_ip(t->s, a.s_addr);
	return w && w->namespace && !strcmp(w->namespace, ns) ? a.s_addr : 0;
}

/*
 * A pod by its dashed IPv6 address, `fd00-98-1--4.ns.pod.<domain>` (':' as '-', as CoreDNS
 * reads a name that is not four dashed octets), when the snapshot has a workload of that
 * namespace there: its workload, or NULL. An IPv6-only pod has no other dashed name.
 */
static const struct snap_workload *pod_address6(const struct dns_table *t, const char *name)
{
	char dashed[INET6_ADDRSTRLEN], ns[NAME_MAX_LEN];
	const char *dot = strchr(name, '.'), *rest;
	const struct snap_workload *w;
	struct ipaddr a;
	size_t n;

	if (!dot || (size_t)(dot - name) >= sizeof(dashed))
		return NULL;
	memcpy(dashed, name, (size_t)(dot - name));
	dashed[dot - name] = 0;
	rest = dot + 1;
	dot = strchr(rest, '.');
	if (!dot || (n = (size_t)(dot - rest)) >= sizeof(ns))
		return NULL;
	memcpy(ns, rest, n);
	ns[n] = 0;
	if (strncmp(dot + 1, "pod.", 4) || strcmp(dot + 5, t->domain))
		return NULL;
	for (char *p = dashed; *p; p++)
		if (*p == '-')
			*p = ':';
	if (ipaddr_parse_addr(dashed, &a) || a.family != AF_INET6)
		return NULL;
	w = snapshot_workload_by_ip6(t->s, &a);
	return w && w->namespace && !strcmp(w->namespace, ns) ? w : NULL;
}

/*
 * A Kubernetes Service without a cluster IP of either family: its name is its endpoints'
 * addresses. (A single-stack IPv6 Service has no IPv4 VIP and is not headless.)
 */
static bool headless(const struct snap_service *svc)
{
	return svc->kind == SNAP_SVC_SERVICE && !svc->vip && !svc->vip6.family;
}

/* The IPv6 address of the workload at IPv4 address @ip (a dual-stack pod's), or NULL. */
static const struct ipaddr *ip6_of(const struct dns_table *t, uint32_t ip)
{
	const struct snap_workload *w = snapshot_workload_by_ip(t->s, ip);

	return w && w->ip6.family == AF_INET6 ? &w->ip6 : NULL;
}

/*
 * The first label of endpoint @ip of headless Service @svc, into @buf: the pod's spec.hostname
 * when its spec.subdomain is @svc (in @svc's namespace), as Kubernetes' endpoints carry it, else
 * its address dashed ("10-98-1-5"), as CoreDNS names an endpoint without one.
 */
static const char *member_label(const struct dns_table *t, const struct snap_service *svc,
				uint32_t ip, char *buf, size_t len)
{
	const struct snap_workload *w = snapshot_workload_by_ip(t->s, ip);
	struct in_addr a = {.s_addr = ip};

	if (w && w->hostname && w->hostname[0] && w->subdomain && w->namespace &&
	    !strcmp(w->subdomain, svc->name) && !strcmp(w->namespace, svc->namespace))
		return w->hostname;
	inet_ntop(AF_INET, &a, buf, (socklen_t)len);
	for (char *p = buf; *p; p++)
		if (*p == '.')
			*p = '-';
	return buf;
}

/*
 * `<label>.<headless service>`: one endpoint of a headless Service by its hostname or dashed
 * address (member_label). Its address, or 0.
 */
static uint32_t lookup_member(const struct dns_table *t, const struct snap_workload *client,
			      const char *name)
{
	const char *dot = strchr(name, '.');
	const struct snap_service *svc;
	char buf[INET_ADDRSTRLEN];
	size_t n;

	if (!dot || !dot[1])
		return 0;
	n = (size_t)(dot - name);
	svc = lookup(t, client, dot + 1);
	if (!svc || !headless(svc))
		return 0;
	for (size_t i = 0; i < svc->nendpoints; i++) {
		const char *l = member_label(t, svc, svc->endpoints[i], buf, sizeof(buf));

		if (strlen(l) == n && !strncasecmp(l, name, n))
			return svc->endpoints[i];
	}
	return 0;
}

/*
 * Whether endpoint @i of @svc's endpoints6 is one its IPv4 endpoints do not name: an IPv6-only
 * pod's (its workload has no IPv4), or an address of a selectorless Service's IPv6 slice that is
 * no IPv4 endpoint's pod (an address outside the cluster, or a pod its IPv4 slices lack). A
 * dual-stack pod among the IPv4 endpoints is named, and answered, by its IPv4 endpoint.
 */
static bool unnamed6(const struct dns_table *t, const struct snap_service *svc, size_t i)
{
	const struct snap_workload *w = snapshot_workload_by_ip6(t->s, &svc->endpoints6[i]);

	for (size_t j = 0; w && w->ip && j < svc->nendpoints; j++)
		if (svc->endpoints[j] == w->ip)
			return false;
	return true;
}

/*
 * The first label of endpoint @i of headless Service @svc's endpoints6 (unnamed6), into @buf:
 * its pod's spec.hostname when its spec.subdomain is @svc, as member_label, else the address
 * dashed (':' as '-', "fd00-98-1--8"), as CoreDNS names an IPv6 endpoint without one.
 */
static const char *member_label6(const struct dns_table *t, const struct snap_service *svc,
				 size_t i, char *buf, size_t len)
{
	const struct snap_workload *w = snapshot_workload_by_ip6(t->s, &svc->endpoints6[i]);

	if (w && w->hostname && w->hostname[0] && w->subdomain && w->namespace &&
	    !strcmp(w->subdomain, svc->name) && !strcmp(w->namespace, svc->namespace))
		return w->hostname;
	ipaddr_format(&svc->endpoints6[i], buf, len);
	for (char *p = buf; *p; p++)
		if (*p == ':')
			*p = '-';
	return buf;
}

/*
 * `<label>.<headless service>` for an endpoint of its endpoints6 the IPv4 ones do not name
 * (unnamed6), by member_label6: its IPv6 address, or NULL.
 */
static const struct ipaddr *lookup_member6(const struct dns_table *t,
					   const struct snap_workload *client, const char *name)
{
	const char *dot = strchr(name, '.');
	const struct snap_service *svc;
	char buf[IPADDR_STRLEN];
	size_t n;

	if (!dot || !dot[1])
		return NULL;
	n = (size_t)(dot - name);
	svc = lookup(t, client, dot + 1);
	if (!svc || !headless(svc))
		return NULL;
	for (size_t i = 0; i < svc->nendpoints6; i++) {
		const char *l;

		if (!unnamed6(t, svc, i))
			continue;
		l = member_label6(t, svc, i, buf, sizeof(buf));
		if (strlen(l) == n && !strncasecmp(l, name, n))
			return &svc->endpoints6[i];
	}
	return NULL;
}

/* ---- messages ---- */

static ldns_rr *rr_new(ldns_rr_type type, const ldns_rdf *owner)
{
	ldns_rr *rr = ldns_rr_new();

	if (!rr)
		return NULL;
	ldns_rr_set_type(rr, type);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
	ldns_rr_set_ttl(rr, DNS_TTL);
	ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
	return rr;
}

static int push_a_in(ldns_pkt *p, ldns_pkt_section sec, const ldns_rdf *owner, uint32_t ip)
{
	ldns_rr *rr = rr_new(LDNS_RR_TYPE_A, owner);
	ldns_rdf *d = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, &ip);

	if (!rr || !d || !ldns_rr_push_rdf(rr, d) || !ldns_pkt_push_rr(p, sec, rr)) {
		ldns_rdf_deep_free(d);
		ldns_rr_free(rr);
		return -ENOMEM;
	}
	return 0;
}

static int push_aaaa_in(ldns_pkt *p, ldns_pkt_section sec, const ldns_rdf *owner,
			const struct ipaddr *ip6)
{
	ldns_rr *rr = rr_new(LDNS_RR_TYPE_AAAA, owner);
	ldns_rdf *d = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_AAAA, 16, ip6->a);

	if (!rr || !d || !ldns_rr_push_rdf(rr, d) || !ldns_pkt_push_rr(p, sec, rr)) {
		ldns_rdf_deep_free(d);
		ldns_rr_free(rr);
		return -ENOMEM;
	}
	return 0;
}

/* Endpoint @ip's address of the family @v6 asks for: itself, or its workload's IPv6 (if any). */
static int push_endpoint(ldns_pkt *p, ldns_pkt_section sec, const ldns_rdf *owner,
			 const struct dns_table *t, uint32_t ip, bool v6)
{
	const struct ipaddr *ip6;

	if (!v6)
		return push_a_in(p, sec, owner, ip);
	ip6 = ip6_of(t, ip);
	return ip6 ? push_aaaa_in(p, sec, owner, ip6) : 0;
}

/*
 * The addresses of @svc of one family (@v6: AAAA, else A): its VIP of that family; none when
 * it has a VIP of the other family only (the name exists: NOERROR without records, NODATA,
 * never NXDOMAIN, as Istio's ztunnel answers a single-stack Service's other family); without a
 * VIP (a headless Service, an entry without address) its endpoints', an endpoint's IPv6 being
 * its pod's when the pod has one, and the endpoints6 those do not name (unnamed6: its IPv6-only
 * pods, a selectorless Service's IPv6 slices' addresses).
 */
static int push_addresses(ldns_pkt *p, ldns_pkt_section sec, const ldns_rdf *owner,
			  const struct dns_table *t, const struct snap_service *svc, bool v6)
{
	int err = 0;

	if (!v6 && svc->vip)
		return push_a_in(p, sec, owner, svc->vip);
	if (v6 && svc->vip6.family == AF_INET6)
		return push_aaaa_in(p, sec, owner, &svc->vip6);
	if (svc->vip || svc->vip6.family)
		return 0;
	for (size_t i = 0; i < svc->nendpoints && !err; i++)
		err = push_endpoint(p, sec, owner, t, svc->endpoints[i], v6);
	for (size_t i = 0; v6 && svc->kind == SNAP_SVC_SERVICE && i < svc->nendpoints6 && !err; i++)
		if (unnamed6(t, svc, i))
			err = push_aaaa_in(p, sec, owner, &svc->endpoints6[i]);
	return err;
}

/* One SRV record (priority 0, @weight) for @port on @target (a name with its root dot). */
static int push_srv1(ldns_pkt *p, const ldns_rdf *owner, uint16_t weight, uint16_t port,
		     const char *target)
{
	ldns_rr *rr = rr_new(LDNS_RR_TYPE_SRV, owner);
	ldns_rdf *d[4];
	bool ok = rr != NULL;

	d[0] = ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 0); /* priority */
	d[1] = ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, weight);
	d[2] = ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, port);
	d[3] = ldns_dname_new_frm_str(target);
	for (int i = 0; i < 4; i++) {
		if (ok && d[i] && ldns_rr_push_rdf(rr, d[i]))
			continue;
		ok = false;
		ldns_rdf_deep_free(d[i]);
	}
	if (!ok || !ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr)) {
		ldns_rr_free(rr);
		return -ENOMEM;
	}
	return 0;
}

/*
 * The SRV answer for port @sp of @svc, with the targets' addresses (A, and AAAA for those that
 * have an IPv6 one) in the additional section (as CoreDNS gives them, so a client needs no second
 * query). A Service with a cluster IP (or an entry) is one target, its own name, on the Service's
 * port; a headless Service one target an endpoint, `<member_label>.<svc>.<ns>.svc.<domain>`, on the
 * port the endpoint listens on (istio/istio#55979: one record for the Service's own name told a
 * client nothing of its pods), weights shared out as CoreDNS does (100 / n).
 */
static int push_srv(ldns_pkt *p, const ldns_rdf *owner, const struct dns_table *t,
		    const struct snap_service *svc, const struct snap_service_port *sp)
{
	char target[NAME_MAX_LEN * 2], buf[INET_ADDRSTRLEN];
	size_t n, n6 = 0;
	uint16_t weight;
	ldns_rdf *tn;
	int err = 0;

	if (!headless(svc) || !svc->name || !svc->namespace) {
		snprintf(target, sizeof(target), "%s.%s.svc.%s.", svc->name, svc->namespace,
			 t->domain);
		/* An entry's host is its own name (not one under the cluster domain). */
		if (svc->kind != SNAP_SVC_SERVICE)
			snprintf(target, sizeof(target), "%s.",
				 svc->hostname && svc->hostname[0] ? svc->hostname : svc->name);
		if ((err = push_srv1(p, owner, 100, sp->port, target)))
			return err;
		if (!(tn = ldns_dname_new_frm_str(target)))
			return -ENOMEM;
		err = push_addresses(p, LDNS_SECTION_ADDITIONAL, tn, t, svc, false)
			  ?: push_addresses(p, LDNS_SECTION_ADDITIONAL, tn, t, svc, true);
		ldns_rdf_deep_free(tn);
		return err;
	}
	/*
	 * Its endpoints6 the IPv4 ones do not name are targets too, by member_label6, each on its
	 * own slice's number for the port as an IPv4 endpoint is (a Service's IPv6 slice may carry
	 * 8081 where its IPv4 one has 8080).
	 */
	for (size_t i = 0; i < svc->nendpoints6; i++)
		n6 += unnamed6(t, svc, i);
	n = svc->nendpoints + n6;
	weight = n > 100 ? 1 : (uint16_t)(100 / (n ?: 1));
	for (size_t i = 0; i < svc->nendpoints6 && n6 && !err; i++) {
		char b6[IPADDR_STRLEN];

		if (!unnamed6(t, svc, i))
			continue;
		snprintf(target, sizeof(target), "%s.%s.%s.svc.%s.",
			 member_label6(t, svc, i, b6, sizeof(b6)), svc->name, svc->namespace,
			 t->domain);
		err = push_srv1(p, owner, weight,
				snapshot_endpoint_port6(svc, sp, &svc->endpoints6[i]), target);
		if (!err && !(tn = ldns_dname_new_frm_str(target)))
			err = -ENOMEM;
		if (!err) {
			err = push_aaaa_in(p, LDNS_SECTION_ADDITIONAL, tn, &svc->endpoints6[i]);
			ldns_rdf_deep_free(tn);
		}
	}
	for (size_t i = 0; i < svc->nendpoints && !err; i++) {
		uint32_t ip = svc->endpoints[i];

		snprintf(target, sizeof(target), "%s.%s.%s.svc.%s.",
			 member_label(t, svc, ip, buf, sizeof(buf)), svc->name, svc->namespace,
			 t->domain);
		err = push_srv1(p, owner, weight, snapshot_endpoint_port(svc, sp, ip), target);
		if (!err && !(tn = ldns_dname_new_frm_str(target)))
			err = -ENOMEM;
		if (!err) {
			err = push_endpoint(p, LDNS_SECTION_ADDITIONAL, tn, t, ip, false)
				  ?: push_endpoint(p, LDNS_SECTION_ADDITIONAL, tn, t, ip, true);
			ldns_rdf_deep_free(tn);
		}
	}
	return err;
}

/*
 * `_port._tcp.<service name>`: the Service and the port named so (Kubernetes' SRV records). NULL
 * when @name is not one.
 */
static const struct snap_service *lookup_srv(const struct dns_table *t,
					     const struct snap_workload *client, const char *name,
					     const struct snap_service_port **port, bool *is_srv)
{
	const char *d1 = strchr(name, '.'), *d2;
	const struct snap_service *svc;
	char pname[64];
	size_t n;

	*is_srv = false;
	if (name[0] != '_' || !d1 || strncmp(d1, "._tcp.", 6))
		return NULL;
	d2 = d1 + 5;
	n = (size_t)(d1 - name - 1);
	if (n >= sizeof(pname))
		return NULL;
	memcpy(pname, name + 1, n);
	pname[n] = 0;
	*is_srv = true;
	svc = lookup(t, client, d2 + 1);
	for (size_t i = 0; svc && i < svc->nports; i++)
		if (svc->ports[i].name && !strcasecmp(svc->ports[i].name, pname)) {
			*port = &svc->ports[i];
			return svc;
		}
	return NULL;
}

/* A response to @q: its id, question and recursion wish, with @rcode. */
static ldns_pkt *reply_to(const ldns_pkt *q, ldns_pkt_rcode rcode, bool aa)
{
	ldns_pkt *p = ldns_pkt_new();

	if (!p)
		return NULL;
	ldns_pkt_set_id(p, ldns_pkt_id(q));
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_opcode(p, ldns_pkt_get_opcode(q));
	ldns_pkt_set_rd(p, ldns_pkt_rd(q));
	ldns_pkt_set_ra(p, true);
	ldns_pkt_set_aa(p, aa);
	ldns_pkt_set_rcode(p, (uint8_t)rcode);
	if (ldns_pkt_question(q) && ldns_rr_list_rr_count(ldns_pkt_question(q))) {
		ldns_rr_list *ql = ldns_rr_list_clone(ldns_pkt_question(q));

		if (!ql) {
			ldns_pkt_free(p);
			return NULL;
		}
		ldns_rr_list_deep_free(ldns_pkt_question(p));
		ldns_pkt_set_question(p, ql);
		ldns_pkt_set_qdcount(p, (uint16_t)ldns_rr_list_rr_count(ql));
	}
	if (ldns_pkt_edns(q))
		ldns_pkt_set_edns_udp_size(p, DNS_UDP_EDNS_MAX);
	return p;
}

/* @p's wire form, truncated (TC, no records) when over @max. 0 or -ENOMEM. */
static int wire(ldns_pkt *p, size_t max, uint8_t **out, size_t *outlen)
{
	if (ldns_pkt2wire(out, p, outlen) != LDNS_STATUS_OK)
		return -ENOMEM;
	if (*outlen <= max)
		return 0;
	free(*out);
	ldns_rr_list_deep_free(ldns_pkt_answer(p));
	ldns_pkt_set_answer(p, ldns_rr_list_new());
	ldns_pkt_set_ancount(p, 0);
	ldns_rr_list_deep_free(ldns_pkt_additional(p));
	ldns_pkt_set_additional(p, ldns_rr_list_new());
	ldns_pkt_set_arcount(p, 0);
	ldns_pkt_set_tc(p, true);
	if (ldns_pkt2wire(out, p, outlen) != LDNS_STATUS_OK)
		return -ENOMEM;
	return 0;
}

/* A response made from @q's header alone (it did not parse): FORMERR, no question. */
static enum dns_verdict formerr(const uint8_t *q, uint8_t **out, size_t *outlen)
{
	ldns_pkt *p = ldns_pkt_new();
	enum dns_verdict v = DNS_DROP;

	if (!p)
		return DNS_DROP;
	ldns_pkt_set_id(p, (uint16_t)(q[0] << 8 | q[1]));
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_rd(p, (q[2] & 1) != 0);
	ldns_pkt_set_rcode(p, LDNS_RCODE_FORMERR);
	if (ldns_pkt2wire(out, p, outlen) == LDNS_STATUS_OK)
		v = DNS_ANSWER;
	ldns_pkt_free(p);
	return v;
}

/* The question's name, lower-cased, without the root dot, into @buf. false: not one to read. */
static bool qname(const ldns_rr *question, char *buf, size_t len)
{
	char *s = ldns_rdf2str(ldns_rr_owner(question));
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n && s[n - 1] == '.')
		s[--n] = 0;
	if (n >= len) {
		free(s);
		return false;
	}
	for (size_t i = 0; i <= n; i++)
		buf[i] = (char)tolower((unsigned char)s[i]);
	free(s);
	return true;
}

static enum dns_verdict answer(const struct dns_table *t, const struct snap_workload *client,
			       const ldns_pkt *q, size_t max, bool forward_cluster, uint8_t **out,
			       size_t *outlen)
{
	const ldns_rr *question = ldns_rr_list_rr(ldns_pkt_question(q), 0);
	ldns_rr_type type = ldns_rr_get_type(question);
	const ldns_rdf *owner = ldns_rr_owner(question);
	const struct snap_service_port *port = NULL;
	const struct snap_service *svc;
	/* ANY is answered with every address record the name has, of both families. */
	bool want_a = type == LDNS_RR_TYPE_A || type == LDNS_RR_TYPE_ANY;
	bool want_aaaa = type == LDNS_RR_TYPE_AAAA || type == LDNS_RR_TYPE_ANY;
	char name[NAME_MAX_LEN];
	const struct snap_workload *pod6 = NULL;
	const struct ipaddr *member6 = NULL;
	uint32_t pod = 0;
	bool is_srv, member = false;
	ldns_pkt *p;
	int err = 0;

	if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN || !qname(question, name, sizeof(name)))
		return DNS_FORWARD;
	svc = lookup_srv(t, client, name, &port, &is_srv);
	if (!is_srv)
		svc = lookup(t, client, name);
	if (!svc && !is_srv)
		member = (pod = lookup_member(t, client, name)) != 0;
	if (!svc && !is_srv && !pod)
		pod = pod_address(t, name);
	if (!svc && !is_srv && !pod)
		member6 = lookup_member6(t, client, name);
	if (!svc && !is_srv && !pod && !member6 && (pod6 = pod_address6(t, name)))
		member6 = &pod6->ip6;
	if (!svc && !pod && !member6) {
		if (forward_cluster || !under(name, t->domain, t->domain_len))
			return DNS_FORWARD;
		p = reply_to(q, LDNS_RCODE_NXDOMAIN, true);
	} else {
		p = reply_to(q, LDNS_RCODE_NOERROR, true);
		/*
		 * A headless Service's member has its pod's IPv6 too; a dashed pod name names
		 * the one address it spells (a-b-c-d.ns.pod IPv4, fd00-98-1--4.ns.pod IPv6).
		 */
		if (p && member6) {
			/* An IPv6 member or dashed name: its IPv6, NODATA for A. */
			if (want_aaaa)
				err = push_aaaa_in(p, LDNS_SECTION_ANSWER, owner, member6);
		} else if (p && pod) {
			if (want_a)
				err = push_a_in(p, LDNS_SECTION_ANSWER, owner, pod);
			if (!err && want_aaaa && member)
				err = push_endpoint(p, LDNS_SECTION_ANSWER, owner, t, pod, true);
		} else if (p && is_srv && (type == LDNS_RR_TYPE_SRV || type == LDNS_RR_TYPE_ANY)) {
			err = push_srv(p, owner, t, svc, port);
		} else if (p && !is_srv) {
			if (want_a)
				err = push_addresses(p, LDNS_SECTION_ANSWER, owner, t, svc, false);
			if (!err && want_aaaa)
				err = push_addresses(p, LDNS_SECTION_ANSWER, owner, t, svc, true);
		}
	}
	if (!p || err || wire(p, max, out, outlen)) {
		ldns_pkt_free(p);
		return DNS_DROP;
	}
	ldns_pkt_free(p);
	return DNS_ANSWER;
}

enum dns_verdict dns_query(const struct dns_table *t, const struct snap_workload *client,
			   const uint8_t *q, size_t len, size_t max, bool forward_cluster,
			   uint8_t **out, size_t *outlen)
{
	enum dns_verdict v;
	ldns_pkt *pkt = NULL;

	*out = NULL;
	*outlen = 0;
	/* Shorter than a header, or a response: never answered (no reflection loops). */
	if (len < LDNS_HEADER_SIZE || (q[2] & 0x80))
		return DNS_DROP;
	/*
	 * UPDATE, NOTIFY and every opcode but QUERY are the node's resolvers' to answer (or
	 * refuse), as they would be without the proxy (istio/istio#55962: NOTIMP here broke
	 * nsupdate): sent on as they are, unread, from the header alone.
	 */
	if (DNS_OPCODE(q) != LDNS_PACKET_QUERY)
		return DNS_FORWARD;
	if (ldns_wire2pkt(&pkt, q, len) != LDNS_STATUS_OK)
		return formerr(q, out, outlen);
	if (ldns_rr_list_rr_count(ldns_pkt_question(pkt)) != 1) {
		ldns_pkt *p = reply_to(pkt, LDNS_RCODE_FORMERR, false);

		v = p && !wire(p, DNS_UDP_PLAIN, out, outlen) ? DNS_ANSWER : DNS_DROP;
		ldns_pkt_free(p);
		ldns_pkt_free(pkt);
		return v;
	}
	if (!max)
		max = !ldns_pkt_edns(pkt)			       ? DNS_UDP_PLAIN
		      : ldns_pkt_edns_udp_size(pkt) > DNS_UDP_EDNS_MAX ? DNS_UDP_EDNS_MAX
		      : ldns_pkt_edns_udp_size(pkt) < DNS_UDP_PLAIN    ? DNS_UDP_PLAIN
								    : ldns_pkt_edns_udp_size(pkt);
	v = answer(t, client, pkt, max, forward_cluster, out, outlen);
	ldns_pkt_free(pkt);
	return v;
}

/* The question of message @m at its start: name, type and class. 0 or -EPROTO. */
static int question_of(const uint8_t *m, size_t len, ldns_rdf **name, uint32_t *type_class)
{
	size_t pos = LDNS_HEADER_SIZE;

	if (len < LDNS_HEADER_SIZE || (m[4] << 8 | m[5]) != 1 ||
	    ldns_wire2dname(name, m, len, &pos) != LDNS_STATUS_OK)
		return -EPROTO;
	if (pos + 4 > len) {
		ldns_rdf_deep_free(*name);
		*name = NULL;
		return -EPROTO;
	}
	memcpy(type_class, m + pos, 4);
	return 0;
}

int dns_question_type(const uint8_t *q, size_t len)
{
	ldns_rdf *name = NULL;
	uint32_t tc;

	if (question_of(q, len, &name, &tc))
		return -EPROTO;
	ldns_rdf_deep_free(name);
	return ((const uint8_t *)&tc)[0] << 8 | ((const uint8_t *)&tc)[1];
}

/*
 * The ids and the question are compared (names without case) as a resolver does; the rest of
 * the answer goes to the pod as it came, for the pod's resolver to read.
 */
int dns_upstream_check(const uint8_t *r, size_t rlen, const uint8_t *q, size_t qlen)
{
	ldns_rdf *rn = NULL, *qn = NULL;
	uint32_t rtc, qtc;
	int ret = -EPROTO;

	if (rlen < LDNS_HEADER_SIZE || qlen < LDNS_HEADER_SIZE || !(r[2] & 0x80) || r[0] != q[0] ||
	    r[1] != q[1] || DNS_OPCODE(r) != DNS_OPCODE(q))
		return -EPROTO;
	/*
	 * Another opcode's response may leave its sections out (RFC 2136 §3.8 for UPDATE's zone,
	 * and NOTIFY's question, RFC 1996 §4.7, is echoed by most servers, not all).
	 */
	if (DNS_OPCODE(q) != LDNS_PACKET_QUERY && !(r[4] << 8 | r[5]))
		return 0;
	if (!question_of(r, rlen, &rn, &rtc) && !question_of(q, qlen, &qn, &qtc) && rtc == qtc &&
	    ldns_dname_compare(rn, qn) == 0)
		ret = 0;
	ldns_rdf_deep_free(rn);
	ldns_rdf_deep_free(qn);
	return ret;
}

int dns_servfail(const uint8_t *q, size_t len, uint8_t **out, size_t *outlen)
{
	ldns_pkt *pkt = NULL, *p;
	int err;

	if (len < LDNS_HEADER_SIZE || ldns_wire2pkt(&pkt, q, len) != LDNS_STATUS_OK)
		return -EPROTO;
	p = reply_to(pkt, LDNS_RCODE_SERVFAIL, false);
	err = p ? wire(p, 65535, out, outlen) : -ENOMEM;
	ldns_pkt_free(p);
	ldns_pkt_free(pkt);
	return err;
}

int dns_make_query(const char *name, int family, uint16_t id, uint8_t **out, size_t *outlen)
{
	ldns_pkt *q = NULL;
	int err = 0;

	if (family != AF_INET && family != AF_INET6)
		return -EINVAL;
	if (ldns_pkt_query_new_frm_str(&q, name,
				       family == AF_INET6 ? LDNS_RR_TYPE_AAAA : LDNS_RR_TYPE_A,
				       LDNS_RR_CLASS_IN, LDNS_RD) != LDNS_STATUS_OK)
		return -EINVAL;
	ldns_pkt_set_id(q, id);
	if (ldns_pkt2wire(out, q, outlen) != LDNS_STATUS_OK)
		err = -ENOMEM;
	ldns_pkt_free(q);
	return err;
}

int dns_answer_addrs(const uint8_t *r, size_t rlen, int family, struct ipaddr *ips, size_t max,
		     uint32_t *ttl)
{
	ldns_rr_type type = family == AF_INET6 ? LDNS_RR_TYPE_AAAA : LDNS_RR_TYPE_A;
	size_t size = family == AF_INET6 ? 16 : 4;
	ldns_pkt *p = NULL;
	const ldns_rr_list *an;
	size_t n = 0;
	int ret;

	*ttl = 0;
	if (family != AF_INET && family != AF_INET6)
		return -EPROTO;
	if (ldns_wire2pkt(&p, r, rlen) != LDNS_STATUS_OK)
		return -EPROTO;
	if (ldns_pkt_get_rcode(p) == LDNS_RCODE_NXDOMAIN) {
		ldns_pkt_free(p);
		return -ENOENT;
	}
	if (ldns_pkt_get_rcode(p) != LDNS_RCODE_NOERROR || ldns_pkt_tc(p)) {
		ldns_pkt_free(p);
		return -EPROTO;
	}
	an = ldns_pkt_answer(p);
	for (size_t i = 0; an && i < ldns_rr_list_rr_count(an) && n < max; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);
		const ldns_rdf *d = ldns_rr_rd_count(rr) ? ldns_rr_rdf(rr, 0) : NULL;

		if (ldns_rr_get_type(rr) != type || ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN ||
		    !d || ldns_rdf_size(d) != size)
			continue;
		memset(&ips[n], 0, sizeof(ips[n]));
		ips[n].family = family;
		ips[n].len = (uint8_t)(size * 8);
		memcpy(ips[n++].a, ldns_rdf_data(d), size);
		if (!*ttl || ldns_rr_ttl(rr) < *ttl)
			*ttl = ldns_rr_ttl(rr);
	}
	ret = (int)n;
	ldns_pkt_free(p);
	return ret;
}
