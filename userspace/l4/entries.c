// SPDX-License-Identifier: Apache-2.0
/*
 * ServiceEntries as the ztunnel routes them (API_SEMANTICS.md §5): one snapshot entry per host,
 * with its addresses (or ones allocated from 240.240.0.0/16 and 2001:2::/48, as Istio's DNS
 * auto-allocation), its ports, its endpoints (STATIC addresses, or the pods its workloadSelector
 * picks) and the namespaces its exportTo shows it to; and the mesh's outboundTrafficPolicy.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desired.h"
#include "lib/array.h"

static char *dup0(const char *s)
{
	return strdup(s ? s : "");
}

/* exportTo: absent or "*" is everyone (NULL), "." the entry's namespace, "~" no one. */
static int export_to(const struct config_service_entry *se, struct snap_service *e)
{
	const struct config_strings *x = &se->export_to;

	for (size_t i = 0; i < x->n; i++)
		if (!strcmp(x->items[i], "*"))
			return 0;
	if (!x->n)
		return 0;
	e->export_to = calloc(x->n + 1, sizeof(*e->export_to));
	if (!e->export_to)
		return -ENOMEM;
	for (size_t i = 0; i < x->n; i++) {
		const char *ns = x->items[i];

		if (!strcmp(ns, "~"))
			continue;
		e->export_to[e->n_export_to] = dup0(!strcmp(ns, ".") ? se->meta.namespace : ns);
		if (!e->export_to[e->n_export_to++])
			return -ENOMEM;
	}
	return 0;
}

static int add_endpoint(struct snap_service *e, uint32_t ip)
{
	uint32_t *v;

	for (size_t i = 0; i < e->nendpoints; i++)
		if (e->endpoints[i] == ip)
			return 0;
	v = realloc(e->endpoints, (e->nendpoints + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	e->endpoints = v;
	e->endpoints[e->nendpoints++] = ip;
	return 0;
}

/*
 * An IPv6 endpoint, in @e->endpoints6 (once): the entry's IPv6 address reaches those, its IPv4
 * one its IPv4 endpoints, as a selectorless Service's slices (route.c). An IPv6 cluster's
 * nodes reach no IPv4 endpoint at all.
 */
static int add_endpoint6(struct snap_service *e, const struct ipaddr *ip)
{
	struct ipaddr *v;

	for (size_t i = 0; i < e->nendpoints6; i++)
		if (ipaddr_equal(&e->endpoints6[i], ip))
			return 0;
	v = realloc(e->endpoints6, (e->nendpoints6 + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	e->endpoints6 = v;
	e->endpoints6[e->nendpoints6++] = *ip;
	return 0;
}

/*
 * Endpoint @x's own numbers (its `ports`, by the entry's port names) where they differ, by its
 * IPv4 @ip or its IPv6 @ip6 (NULL: none).
 */
static int endpoint_ports(const struct config_service_entry *se, const struct config_se_endpoint *x,
			  uint32_t ip, const struct ipaddr *ip6, struct snap_service *e)
{
	int err = 0;

	for (size_t i = 0; i < se->n_ports && !err; i++) {
		const char *own =
		    se->ports[i].name ? config_label_get(&x->ports, se->ports[i].name) : NULL;
		uint16_t port = (uint16_t)se->ports[i].number, n = own ? (uint16_t)atoi(own) : 0;

		if (n && n != e->ports[i].target_port)
			err = desired_ep_port_add(e, ip, ip6, port, n);
	}
	return err;
}

/*
 * The endpoints: the ready pods of the entry's namespace its workloadSelector matches (a pod of
 * IPv6 alone by its IPv6), or the addresses of its `endpoints`, IPv6 ones in endpoints6 (names
 * wait for the DNS resolver; unix sockets are not reachable from a pod), each with its own
 * port numbers (`ports`) in ep_ports or ep_ports6.
 */
static int endpoints(const struct config_service_entry *se, struct desired_index *ix,
		     struct snap_service *e)
{
	int err = 0;

	if (se->has_workload_selector) {
		const struct rt_pod *const *pods;
		size_t n = desired_ns_pods(ix, se->meta.namespace, &pods);

		for (size_t i = 0; i < n && !err; i++)
			if (!strcmp(pods[i]->namespace, se->meta.namespace) &&
			    !pods[i]->not_ready &&
			    (pods[i]->ip || pods[i]->ip6.family == AF_INET6) &&
			    config_labels_match(&se->workload_selector, &pods[i]->labels))
				err = pods[i]->ip ? add_endpoint(e, pods[i]->ip)
						  : add_endpoint6(e, &pods[i]->ip6);
		return err;
	}
	for (size_t i = 0; i < se->n_endpoints && !err; i++) {
		struct in_addr a;
		struct ipaddr a6;

		if (se->endpoints[i].address &&
		    inet_pton(AF_INET, se->endpoints[i].address, &a) == 1)
			err = add_endpoint(e, a.s_addr)
				  ?: endpoint_ports(se, &se->endpoints[i], a.s_addr, NULL, e);
		else if (se->endpoints[i].address &&
			 !ipaddr_parse_addr(se->endpoints[i].address, &a6) && a6.family == AF_INET6)
			err = add_endpoint6(e, &a6)
				  ?: endpoint_ports(se, &se->endpoints[i], 0, &a6, e);
	}
	return err;
}

/*
 * What the ztunnel resolves for a DNS entry's endpoints: its endpoints' names (an IP of either
 * family is an endpoint as it is), or its host when it lists no endpoint.
 */
static int resolve_names(const struct config_service_entry *se, const char *host,
			 struct snap_service *e)
{
	e->names = calloc(se->n_endpoints + 1, sizeof(*e->names));
	if (!e->names)
		return -ENOMEM;
	for (size_t i = 0; i < se->n_endpoints; i++) {
		const char *a = se->endpoints[i].address;
		struct in6_addr ip;

		if (!a || !a[0] || inet_pton(AF_INET, a, &ip) == 1 ||
		    inet_pton(AF_INET6, a, &ip) == 1 || !strncmp(a, "unix://", 7))
			continue;
		if (!(e->names[e->n_names++] = strdup(a)))
			return -ENOMEM;
	}
	if (!se->n_endpoints && !strchr(host, '*') && !(e->names[e->n_names++] = strdup(host)))
		return -ENOMEM;
	return 0;
}

/* One entry for @host of @se, appended to @d, with its address from @vips (config_se_vips). */
static int add_host(struct desired *d, size_t *cap, const struct config_service_entry *se,
		    const char *host, struct desired_index *ix, const struct config_se_vip *vips,
		    size_t n_vips)
{
	const struct ipaddr *a6;
	struct snap_service *e;
	int err = 0;

	if (d->n_snap_entries == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		void *v = realloc(d->snap_entries, ncap * sizeof(*d->snap_entries));

		if (!v)
			return -ENOMEM;
		d->snap_entries = v;
		*cap = ncap;
	}
	e = &d->snap_entries[d->n_snap_entries++];
	memset(e, 0, sizeof(*e));
	e->kind = se->location == CONFIG_SE_MESH_INTERNAL ? SNAP_SVC_MESH_INTERNAL
							  : SNAP_SVC_MESH_EXTERNAL;
	e->resolution = (enum snap_resolution)se->resolution;
	e->name = dup0(host);
	e->hostname = dup0(host);
	e->namespace = dup0(se->meta.namespace);
	if (!e->name || !e->hostname || !e->namespace)
		return -ENOMEM;
	e->ports = calloc(se->n_ports ? se->n_ports : 1, sizeof(*e->ports));
	e->cidrs = calloc(se->addresses.n ? se->addresses.n : 1, sizeof(*e->cidrs));
	if (!e->ports || !e->cidrs)
		return -ENOMEM;
	for (size_t i = 0; i < se->n_ports; i++) {
		struct snap_service_port *p = &e->ports[e->nports++];

		p->name = dup0(se->ports[i].name);
		if (!p->name)
			return -ENOMEM;
		p->port = (uint16_t)se->ports[i].number;
		p->target_port = (uint16_t)(se->ports[i].target_port ? se->ports[i].target_port
								     : se->ports[i].number);
	}
	/*
	 * The first address of each family is the entry's VIP of that family (vip, vip6); the
	 * rest, of both families, its CIDRs.
	 */
	for (size_t i = 0; i < se->addresses.n; i++) {
		struct ipaddr c;
		uint32_t v4;

		if (ipaddr_parse(se->addresses.items[i], &c))
			continue;
		if (!e->vip && ipaddr_v4(&c, &v4))
			e->vip = v4;
		else if (!e->vip6.family && c.family == AF_INET6 && c.len == 128)
			e->vip6 = c;
		else
			e->cidrs[e->n_cidrs++] = c;
	}
	if (!e->vip)
		e->vip = config_se_vip_of(vips, n_vips, e->namespace, host);
	/* The allocated IPv6 VIP only where pods have IPv6 to reach it with. */
	if (ix->ipv6 && !e->vip6.family &&
	    (a6 = config_se_vip6_of(vips, n_vips, e->namespace, host)))
		e->vip6 = *a6;
	if (se->resolution == CONFIG_SE_RESOLUTION_DNS ||
	    se->resolution == CONFIG_SE_RESOLUTION_DNS_ROUND_ROBIN) {
		err = resolve_names(se, host, e);
		if (err)
			return err;
	}
	err = export_to(se, e);
	return err ? err : endpoints(se, ix, e);
}

int desired_add_sentry_cidr(struct desired *d, const struct ipaddr *net, uint16_t port)
{
	if (array_grow((void **)&d->sentry_cidrs, &d->cap_sentry_cidrs, d->n_sentry_cidrs,
		       sizeof(*d->sentry_cidrs)))
		return -ENOMEM;
	d->sentry_cidrs[d->n_sentry_cidrs++] = (struct dp_sentry_cidr){.net = *net, .port = port};
	return 0;
}

/*
 * @e's UDP ports (of @se) at its addresses, for the kernel: services (services6) entries whose
 * one backend is all zero (bpf_abi.h, AMBIT_SERVICE_ENTRY_UDP_BACKENDS), so an enrolled pod's
 * datagrams there go to the ztunnel, which routes them to @e's endpoints. A Service's own entry
 * at the same key wins (desired_compute drops the twin; of two entries, one stays). Over each
 * of @e's CIDR blocks, a sentry_cidrs entry: an address no Service or pod has (the kernel
 * looks up services first), routed by the ztunnel as TCP there is (resolution NONE: to the
 * address the pod sent to).
 */
static int udp_ports(struct desired *d, struct entry_caps *caps,
		     const struct config_service_entry *se, const struct snap_service *e)
{
	for (size_t i = 0; i < se->n_ports; i++) {
		uint16_t port = (uint16_t)se->ports[i].number;

		if (dp_service_proto(se->ports[i].protocol) != IPPROTO_UDP)
			continue;
		for (size_t j = 0; j < e->n_cidrs; j++)
			if (desired_add_sentry_cidr(d, &e->cidrs[j], port))
				return -ENOMEM;
		if (e->vip) {
			struct dp_service *ds;

			if (array_grow((void **)&d->services, caps->svc, d->n_services,
				       sizeof(*ds)))
				return -ENOMEM;
			ds = &d->services[d->n_services];
			*ds = (struct dp_service){.vip = e->vip,
						  .port = port,
						  .proto = IPPROTO_UDP,
						  .n = AMBIT_SERVICE_ENTRY_UDP_BACKENDS,
						  .known = true};
			ds->backends = calloc(1, sizeof(*ds->backends));
			if (!ds->backends)
				return -ENOMEM;
			d->n_services++;
		}
		if (e->vip6.family == AF_INET6) {
			struct dp_service6 *ds;

			if (array_grow((void **)&d->services6, caps->svc6, d->n_services6,
				       sizeof(*ds)))
				return -ENOMEM;
			ds = &d->services6[d->n_services6];
			*ds = (struct dp_service6){.port = port,
						   .proto = IPPROTO_UDP,
						   .n = AMBIT_SERVICE_ENTRY_UDP_BACKENDS};
			memcpy(&ds->vip, e->vip6.a, sizeof(ds->vip));
			ds->backends = calloc(1, sizeof(*ds->backends));
			if (!ds->backends)
				return -ENOMEM;
			d->n_services6++;
		}
	}
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct snap_service *x = a, *y = b;
	int c = strcmp(x->namespace, y->namespace);

	return c ? c : strcmp(x->hostname, y->hostname);
}

int desired_entries(const struct config *cfg, struct desired_index *ix, struct desired *d,
		    struct entry_caps *caps)
{
	const struct config_mesh *mesh = config_mesh_of(cfg);
	struct config_se_vip *vips = NULL;
	size_t cap = 0, n_vips = 0;
	int err;

	d->registry_only = mesh && mesh->outbound_traffic_policy &&
			   !strcmp(mesh->outbound_traffic_policy, "REGISTRY_ONLY");
	if (!cfg->n_service_entries)
		return 0;
	err = config_se_vips(cfg, &vips, &n_vips);
	for (size_t i = 0; i < cfg->n_service_entries && !err; i++) {
		const struct config_service_entry *se = &cfg->service_entries[i];

		for (size_t j = 0; j < se->hosts.n && !err; j++) {
			err = add_host(d, &cap, se, se->hosts.items[j], ix, vips, n_vips);
			if (!err)
				err =
				    udp_ports(d, caps, se, &d->snap_entries[d->n_snap_entries - 1]);
		}
	}
	if (!err)
		qsort(d->snap_entries, d->n_snap_entries, sizeof(*d->snap_entries), cmp_entry);
	free(vips);
	return err;
}
