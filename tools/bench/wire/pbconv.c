// SPDX-License-Identifier: Apache-2.0
/*
 * struct snapshot <-> Ambitsnap__Snapshot (protoc-c). To the message: strings are borrowed,
 * everything else comes from a bump arena freed at once. From the message: a struct snapshot
 * that owns strdup'd copies (snapshot_free frees it), with the checks the JSON decoder makes
 * that a typed encoding still needs (port ranges, address lengths, enum ranges).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* ---- to the message ---- */

struct pb_arena {
	struct pb_arena *next;
	size_t used, cap;
	char mem[];
};

static void *amalloc(struct pb_arena **a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (!*a || (*a)->used + n > (*a)->cap) {
		size_t cap = n > (1u << 20) ? n : (1u << 20);
		struct pb_arena *c = malloc(sizeof(*c) + cap);

		if (!c)
			abort();
		c->next = *a, c->used = 0, c->cap = cap;
		*a = c;
	}
	(*a)->used += n;
	return memset((*a)->mem + (*a)->used - n, 0, n);
}

void pb_arena_free(struct pb_arena *a)
{
	while (a) {
		struct pb_arena *n = a->next;

		free(a);
		a = n;
	}
}

#define S(x) ((x) ? (char *)(x) : (char *)"")

static ProtobufCBinaryData ip6_bytes(const struct ipaddr *x)
{
	return x->family == AF_INET6 ? (ProtobufCBinaryData){16, (uint8_t *)x->a}
				     : (ProtobufCBinaryData){0, NULL};
}

static Ambitsnap__Waypoint *wp_to(const struct snap_waypoint *w, struct pb_arena **a)
{
	Ambitsnap__Waypoint *m;

	if (!w)
		return NULL;
	m = amalloc(a, sizeof(*m));
	ambitsnap__waypoint__init(m);
	m->name = S(w->name);
	m->identity = S(w->identity);
	m->hostname = S(w->hostname);
	m->n_addresses = w->n_addresses;
	m->addresses = w->addresses;
	m->n_addresses6 = w->n_addresses6;
	m->addresses6 = amalloc(a, w->n_addresses6 * sizeof(*m->addresses6));
	for (size_t i = 0; i < w->n_addresses6; i++)
		m->addresses6[i] = ip6_bytes(&w->addresses6[i]);
	m->port = w->port;
	return m;
}

static void svc_to(Ambitsnap__Service *m, const struct snap_service *s, struct pb_arena **a)
{
	ambitsnap__service__init(m);
	m->name = S(s->name);
	m->namespace_ = S(s->namespace);
	m->hostname = S(s->hostname);
	m->vip = s->vip;
	m->vip6 = ip6_bytes(&s->vip6);
	m->n_ports = s->nports;
	m->ports = amalloc(a, s->nports * sizeof(*m->ports));
	for (size_t i = 0; i < s->nports; i++) {
		Ambitsnap__ServicePort *p = amalloc(a, sizeof(*p));

		ambitsnap__service_port__init(p);
		p->name = S(s->ports[i].name);
		p->port = s->ports[i].port;
		p->target_port = s->ports[i].target_port;
		m->ports[i] = p;
	}
	m->n_endpoints = s->nendpoints;
	m->endpoints = s->endpoints;
	m->n_endpoints6 = s->nendpoints6;
	m->endpoints6 = amalloc(a, s->nendpoints6 * sizeof(*m->endpoints6));
	for (size_t i = 0; i < s->nendpoints6; i++)
		m->endpoints6[i] = ip6_bytes(&s->endpoints6[i]);
	m->waypoint = wp_to(s->waypoint, a);
	m->kind = (Ambitsnap__Kind)s->kind;
	m->resolution = (Ambitsnap__Resolution)s->resolution;
	m->n_cidrs = s->n_cidrs;
	m->cidrs = amalloc(a, s->n_cidrs * sizeof(*m->cidrs));
	for (size_t i = 0; i < s->n_cidrs; i++) {
		Ambitsnap__Prefix *p = amalloc(a, sizeof(*p));

		ambitsnap__prefix__init(p);
		p->addr.len = s->cidrs[i].family == AF_INET6 ? 16 : 4;
		p->addr.data = (uint8_t *)s->cidrs[i].a;
		p->len = s->cidrs[i].len;
		m->cidrs[i] = p;
	}
	m->has_export_to = s->export_to != NULL;
	m->n_export_to = s->n_export_to;
	m->export_to = s->export_to;
	m->n_names = s->n_names;
	m->names = s->names;
	m->n_ep_ports = s->n_ep_ports;
	m->ep_ports = amalloc(a, s->n_ep_ports * sizeof(*m->ep_ports));
	for (size_t i = 0; i < s->n_ep_ports; i++) {
		Ambitsnap__EpPort *p = amalloc(a, sizeof(*p));

		ambitsnap__ep_port__init(p);
		p->ip = s->ep_ports[i].ip;
		p->port = s->ep_ports[i].port;
		p->target_port = s->ep_ports[i].target_port;
		m->ep_ports[i] = p;
	}
	m->n_ep_ports6 = s->n_ep_ports6;
	m->ep_ports6 = amalloc(a, s->n_ep_ports6 * sizeof(*m->ep_ports6));
	for (size_t i = 0; i < s->n_ep_ports6; i++) {
		Ambitsnap__EpPort6 *p = amalloc(a, sizeof(*p));

		ambitsnap__ep_port6__init(p);
		p->ip = ip6_bytes(&s->ep_ports6[i].ip);
		p->port = s->ep_ports6[i].port;
		p->target_port = s->ep_ports6[i].target_port;
		m->ep_ports6[i] = p;
	}
}

Ambitsnap__Snapshot *snap_to_pb(const struct snapshot *s, struct pb_arena **a)
{
	Ambitsnap__Snapshot *m = amalloc(a, sizeof(*m));
	Ambitsnap__Workload *ws = amalloc(a, s->n_workloads * sizeof(*ws));
	Ambitsnap__Service *ss = amalloc(a, (s->n_services + s->n_entries) * sizeof(*ss));
	Ambitsnap__Cert *cs = amalloc(a, s->n_certs * sizeof(*cs));

	ambitsnap__snapshot__init(m);
	m->version = s->version;
	m->node = S(s->node);
	m->node_ip = s->node_ip;
	m->trust_domain = S(s->trust_domain);
	m->n_trust_domain_aliases = s->n_trust_domain_aliases;
	m->trust_domain_aliases = s->trust_domain_aliases;
	m->root_pem = S(s->root_pem);
	m->registry_only = s->registry_only;
	m->capture = (Ambitsnap__Capture)s->capture;
	m->n_workloads = s->n_workloads;
	m->workloads = amalloc(a, s->n_workloads * sizeof(*m->workloads));
	for (size_t i = 0; i < s->n_workloads; i++) {
		const struct snap_workload *w = &s->workloads[i];
		Ambitsnap__Workload *o = &ws[i];

		ambitsnap__workload__init(o);
		o->uid = S(w->uid);
		o->name = S(w->name);
		o->namespace_ = S(w->namespace);
		o->service_account = S(w->service_account);
		o->identity = S(w->identity);
		o->node = S(w->node);
		o->workload_name = S(w->workload_name);
		o->app = S(w->app);
		o->version = S(w->version);
		o->canonical_service = S(w->canonical_service);
		o->canonical_revision = S(w->canonical_revision);
		o->hostname = S(w->hostname);
		o->subdomain = S(w->subdomain);
		o->ip = w->ip;
		o->ip6 = ip6_bytes(&w->ip6);
		o->node_ip = w->node_ip;
		o->enrolled = w->enrolled;
		o->waypoint = wp_to(w->waypoint, a);
		m->workloads[i] = o;
	}
	m->n_services = s->n_services;
	m->services = amalloc(a, s->n_services * sizeof(*m->services));
	for (size_t i = 0; i < s->n_services; i++) {
		svc_to(&ss[i], &s->services[i], a);
		m->services[i] = &ss[i];
	}
	m->n_entries = s->n_entries;
	m->entries = amalloc(a, s->n_entries * sizeof(*m->entries));
	for (size_t i = 0; i < s->n_entries; i++) {
		svc_to(&ss[s->n_services + i], &s->entries[i], a);
		m->entries[i] = &ss[s->n_services + i];
	}
	m->n_certs = s->n_certs;
	m->certs = amalloc(a, s->n_certs * sizeof(*m->certs));
	for (size_t i = 0; i < s->n_certs; i++) {
		ambitsnap__cert__init(&cs[i]);
		cs[i].identity = S(s->certs[i].identity);
		cs[i].cert_pem = S(s->certs[i].cert_pem);
		cs[i].key_pem = S(s->certs[i].key_pem);
		cs[i].not_before = s->certs[i].not_before;
		cs[i].not_after = s->certs[i].not_after;
		m->certs[i] = &cs[i];
	}
	return m;
}

/* ---- from the message ---- */

struct dec {
	char *err;
	size_t errlen;
	int failed;
};

static void fail(struct dec *d, const char *what, size_t i)
{
	if (!d->failed && d->err)
		snprintf(d->err, d->errlen, "%s (#%zu)", what, i);
	d->failed = 1;
}

static char *dup(struct dec *d, const char *s)
{
	char *p = strdup(s ? s : "");

	if (!p)
		fail(d, "out of memory", 0);
	return p;
}

/* Empty: NULL (an optional string). */
static char *dup_opt(struct dec *d, const char *s)
{
	return s && *s ? dup(d, s) : NULL;
}

static void *arr(struct dec *d, size_t n, size_t size)
{
	void *p;

	if (!n)
		return NULL;
	if (!(p = calloc(n, size)))
		fail(d, "out of memory", 0);
	return p;
}

/* A single IPv6 address (16 bytes, not IPv4-mapped), or none when @optional and empty. */
static int ip6_from(struct dec *d, const ProtobufCBinaryData *b, struct ipaddr *x, int optional,
		    const char *what, size_t i)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	memset(x, 0, sizeof(*x));
	if (!b->len && optional)
		return 0;
	if (b->len != 16 || !memcmp(b->data, mapped, 12)) {
		fail(d, what, i);
		return -1;
	}
	x->family = AF_INET6;
	x->len = 128;
	memcpy(x->a, b->data, 16);
	return 0;
}

static int port_ok(uint32_t p)
{
	return p >= 1 && p <= 65535;
}

static struct snap_waypoint *wp_from(struct dec *d, const Ambitsnap__Waypoint *m, size_t i)
{
	struct snap_waypoint *w;

	if (!m)
		return NULL;
	if (!(w = calloc(1, sizeof(*w)))) {
		fail(d, "out of memory", i);
		return NULL;
	}
	w->name = dup(d, m->name);
	w->identity = dup(d, m->identity);
	w->hostname = dup(d, m->hostname);
	if (!port_ok(m->port))
		fail(d, "waypoint.port", i);
	w->port = (uint16_t)m->port;
	w->addresses = arr(d, m->n_addresses, sizeof(*w->addresses));
	if (m->n_addresses && w->addresses) {
		memcpy(w->addresses, m->addresses, m->n_addresses * sizeof(*w->addresses));
		w->n_addresses = m->n_addresses;
	}
	w->addresses6 = arr(d, m->n_addresses6, sizeof(*w->addresses6));
	for (size_t j = 0; w->addresses6 && j < m->n_addresses6; j++)
		if (!ip6_from(d, &m->addresses6[j], &w->addresses6[j], 0, "waypoint.addresses6", i))
			w->n_addresses6 = j + 1;
	return w;
}

static void svc_from(struct dec *d, const Ambitsnap__Service *m, size_t i, int entry,
		     struct snap_service *s)
{
	s->name = dup(d, m->name);
	s->namespace = dup(d, m->namespace_);
	s->hostname = dup(d, m->hostname);
	s->vip = m->vip;
	ip6_from(d, &m->vip6, &s->vip6, 1, "service.vip6", i);
	s->waypoint = wp_from(d, m->waypoint, i);
	s->ports = arr(d, m->n_ports, sizeof(*s->ports));
	for (size_t j = 0; s->ports && j < m->n_ports; j++) {
		const Ambitsnap__ServicePort *p = m->ports[j];

		s->ports[j].name = dup(d, p->name);
		s->nports = j + 1;
		if (!port_ok(p->port) || p->target_port > 65535)
			fail(d, "service.ports", i);
		s->ports[j].port = (uint16_t)p->port;
		s->ports[j].target_port = (uint16_t)(p->target_port ? p->target_port : p->port);
	}
	s->endpoints = arr(d, m->n_endpoints, sizeof(*s->endpoints));
	if (s->endpoints) {
		memcpy(s->endpoints, m->endpoints, m->n_endpoints * sizeof(*s->endpoints));
		s->nendpoints = m->n_endpoints;
	}
	s->endpoints6 = arr(d, m->n_endpoints6, sizeof(*s->endpoints6));
	for (size_t j = 0; s->endpoints6 && j < m->n_endpoints6; j++)
		if (!ip6_from(d, &m->endpoints6[j], &s->endpoints6[j], 0, "service.endpoints6", i))
			s->nendpoints6 = j + 1;
	s->ep_ports = arr(d, m->n_ep_ports, sizeof(*s->ep_ports));
	for (size_t j = 0; s->ep_ports && j < m->n_ep_ports; j++) {
		const Ambitsnap__EpPort *p = m->ep_ports[j];

		if (!port_ok(p->port) || !port_ok(p->target_port))
			fail(d, "service.epPorts", i);
		s->ep_ports[j] =
		    (struct snap_ep_port){p->ip, (uint16_t)p->port, (uint16_t)p->target_port};
		s->n_ep_ports = j + 1;
	}
	s->ep_ports6 = arr(d, m->n_ep_ports6, sizeof(*s->ep_ports6));
	for (size_t j = 0; s->ep_ports6 && j < m->n_ep_ports6; j++) {
		const Ambitsnap__EpPort6 *p = m->ep_ports6[j];

		if (!port_ok(p->port) || !port_ok(p->target_port))
			fail(d, "service.epPorts6", i);
		ip6_from(d, &p->ip, &s->ep_ports6[j].ip, 0, "service.epPorts6.ip", i);
		s->ep_ports6[j].port = (uint16_t)p->port;
		s->ep_ports6[j].target_port = (uint16_t)p->target_port;
		s->n_ep_ports6 = j + 1;
	}
	if (!entry)
		return;
	if (m->kind < 1 || m->kind > 2 || m->resolution < 0 || m->resolution > 4)
		fail(d, "entry.kind/resolution", i);
	s->kind = (enum snap_svc_kind)m->kind;
	s->resolution = (enum snap_resolution)m->resolution;
	s->cidrs = arr(d, m->n_cidrs, sizeof(*s->cidrs));
	for (size_t j = 0; s->cidrs && j < m->n_cidrs; j++) {
		const Ambitsnap__Prefix *p = m->cidrs[j];
		struct ipaddr *x = &s->cidrs[j];
		unsigned full = p->addr.len * 8;

		if ((p->addr.len != 4 && p->addr.len != 16) || p->len > full) {
			fail(d, "entry.addresses", i);
			break;
		}
		x->family = p->addr.len == 4 ? AF_INET : AF_INET6;
		x->len = (uint8_t)p->len;
		memcpy(x->a, p->addr.data, p->addr.len);
		for (unsigned b = p->len; b < full; b++) /* host bits clear */
			x->a[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
		s->n_cidrs = j + 1;
	}
	s->names = arr(d, m->n_names, sizeof(*s->names));
	for (size_t j = 0; s->names && j < m->n_names; j++) {
		s->names[j] = dup(d, m->names[j]);
		s->n_names = j + 1;
	}
	if (m->has_export_to) {
		s->export_to = calloc(m->n_export_to + 1, sizeof(*s->export_to));
		if (!s->export_to)
			fail(d, "out of memory", i);
		for (size_t j = 0; s->export_to && j < m->n_export_to; j++) {
			s->export_to[j] = dup(d, m->export_to[j]);
			s->n_export_to = j + 1;
		}
	}
}

struct snapshot *snap_from_pb(const Ambitsnap__Snapshot *m, char *err, size_t errlen)
{
	struct dec d = {err, errlen, 0};
	struct snapshot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->version = m->version;
	s->node = dup(&d, m->node);
	s->node_ip = m->node_ip;
	s->trust_domain = dup(&d, m->trust_domain);
	s->root_pem = dup(&d, m->root_pem);
	s->trust_domain_aliases =
	    arr(&d, m->n_trust_domain_aliases, sizeof(*s->trust_domain_aliases));
	for (size_t j = 0; s->trust_domain_aliases && j < m->n_trust_domain_aliases; j++) {
		if (!*m->trust_domain_aliases[j])
			fail(&d, "trustDomainAliases", j);
		s->trust_domain_aliases[j] = dup(&d, m->trust_domain_aliases[j]);
		s->n_trust_domain_aliases = j + 1;
	}
	if (m->capture < 0 || m->capture > 2)
		fail(&d, "captureMode", 0);
	s->capture = (enum snap_capture)m->capture;
	s->registry_only = m->registry_only;

	s->workloads = arr(&d, m->n_workloads, sizeof(*s->workloads));
	s->n_workloads = s->workloads ? m->n_workloads : 0;
	for (size_t i = 0; i < s->n_workloads && !d.failed; i++) {
		const Ambitsnap__Workload *o = m->workloads[i];
		struct snap_workload *w = &s->workloads[i];

		w->uid = dup(&d, o->uid);
		w->name = dup(&d, o->name);
		w->namespace = dup(&d, o->namespace_);
		w->service_account = dup(&d, o->service_account);
		w->identity = dup(&d, o->identity);
		w->node = dup(&d, o->node);
		w->workload_name = dup(&d, o->workload_name);
		w->app = dup(&d, o->app);
		w->version = dup(&d, o->version);
		w->canonical_service = dup(&d, o->canonical_service);
		w->canonical_revision = dup(&d, o->canonical_revision);
		w->hostname = dup_opt(&d, o->hostname);
		w->subdomain = dup_opt(&d, o->subdomain);
		w->ip = o->ip;
		ip6_from(&d, &o->ip6, &w->ip6, 1, "workload.ip6", i);
		if (!w->ip && !w->ip6.family)
			fail(&d, "workload: no ip nor ip6", i);
		w->node_ip = o->node_ip;
		w->enrolled = o->enrolled;
		w->waypoint = wp_from(&d, o->waypoint, i);
	}
	s->services = arr(&d, m->n_services, sizeof(*s->services));
	s->n_services = s->services ? m->n_services : 0;
	for (size_t i = 0; i < s->n_services && !d.failed; i++)
		svc_from(&d, m->services[i], i, 0, &s->services[i]);
	s->entries = arr(&d, m->n_entries, sizeof(*s->entries));
	s->n_entries = s->entries ? m->n_entries : 0;
	for (size_t i = 0; i < s->n_entries && !d.failed; i++)
		svc_from(&d, m->entries[i], i, 1, &s->entries[i]);
	s->certs = arr(&d, m->n_certs, sizeof(*s->certs));
	s->n_certs = s->certs ? m->n_certs : 0;
	for (size_t i = 0; i < s->n_certs && !d.failed; i++) {
		const Ambitsnap__Cert *c = m->certs[i];

		s->certs[i].identity = dup(&d, c->identity);
		s->certs[i].cert_pem = dup(&d, c->cert_pem);
		s->certs[i].key_pem = dup(&d, c->key_pem);
		s->certs[i].not_before = (time_t)c->not_before;
		s->certs[i].not_after = (time_t)c->not_after;
	}
	if (d.failed) {
		snapshot_free(s);
		return NULL;
	}
	return s;
}
