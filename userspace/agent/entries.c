// SPDX-License-Identifier: Apache-2.0
/*
 * ServiceEntries as the ztunnel routes them (API_SEMANTICS.md §5): one snapshot entry per host,
 * with its addresses (or one allocated from 240.240.0.0/16, as Istio's DNS auto-allocation),
 * its ports, its endpoints (STATIC addresses, or the pods its workloadSelector picks) and the
 * namespaces its exportTo shows it to; and the mesh's outboundTrafficPolicy.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desired.h"

/* Istio's auto-allocation range for IPv4 (pilot's 240.240.0.0/16). */
#define AUTO_NET 0xf0f00000u
#define AUTO_SLOTS 65536u

static char *dup0(const char *s)
{
	return strdup(s ? s : "");
}

/* Whether @ip (host order) may be handed out: not the block's .0 or .255 of any /24. */
static bool auto_usable(uint32_t ip)
{
	return (ip & 0xff) != 0 && (ip & 0xff) != 0xff;
}

/* FNV-1a of "ns/host": the first slot tried, so a host keeps its address across restarts. */
static uint32_t auto_hash(const char *ns, const char *host)
{
	uint32_t h = 2166136261u;

	for (const char *p = ns; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ '/') * 16777619u;
	for (const char *p = host; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h;
}

static bool auto_taken(const struct desired *d, uint32_t vip)
{
	for (size_t i = 0; i < d->n_snap_entries; i++)
		if (d->snap_entries[i].vip == vip)
			return true;
	return false;
}

/*
 * Gives every entry that needs one (no address, a resolution other than NONE, a host without
 * wildcard: Istio's rule) an address of 240.240.0.0/16, in the order of (namespace, host) so
 * that a collision always goes the same way. -ENOSPC when the block is full.
 */
static int auto_allocate(struct desired *d, const bool *needs)
{
	for (size_t i = 0; i < d->n_snap_entries; i++) {
		struct snap_service *e = &d->snap_entries[i];
		uint32_t slot = auto_hash(e->namespace, e->hostname) % AUTO_SLOTS, k;

		if (!needs[i])
			continue;
		for (k = 0; k < AUTO_SLOTS; k++) {
			uint32_t ip = AUTO_NET | ((slot + k) % AUTO_SLOTS);

			if (auto_usable(ip) && !auto_taken(d, htonl(ip))) {
				e->vip = htonl(ip);
				break;
			}
		}
		if (k == AUTO_SLOTS)
			return -ENOSPC;
	}
	return 0;
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
 * The endpoints: the ready pods of the entry's namespace its workloadSelector matches, or the
 * IPv4 addresses of its `endpoints` (names wait for the DNS resolver; unix sockets are not
 * reachable from a pod).
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
			    !pods[i]->not_ready && pods[i]->ip &&
			    config_labels_match(&se->workload_selector, &pods[i]->labels))
				err = add_endpoint(e, pods[i]->ip);
		return err;
	}
	for (size_t i = 0; i < se->n_endpoints && !err; i++) {
		struct in_addr a;

		if (se->endpoints[i].address &&
		    inet_pton(AF_INET, se->endpoints[i].address, &a) == 1)
			err = add_endpoint(e, a.s_addr);
	}
	return err;
}

/*
 * What the ztunnel resolves for a DNS entry's endpoints: its endpoints' names (an IP is an
 * endpoint as it is), or its host when it lists no endpoint.
 */
static int resolve_names(const struct config_service_entry *se, const char *host,
			 struct snap_service *e)
{
	e->names = calloc(se->n_endpoints + 1, sizeof(*e->names));
	if (!e->names)
		return -ENOMEM;
	for (size_t i = 0; i < se->n_endpoints; i++) {
		const char *a = se->endpoints[i].address;
		struct in_addr ip;

		if (!a || !a[0] || inet_pton(AF_INET, a, &ip) == 1 || !strncmp(a, "unix://", 7))
			continue;
		if (!(e->names[e->n_names++] = strdup(a)))
			return -ENOMEM;
	}
	if (!se->n_endpoints && !strchr(host, '*') && !(e->names[e->n_names++] = strdup(host)))
		return -ENOMEM;
	return 0;
}

/* One entry for @host of @se, appended to @d; *@needs: it wants an allocated address. */
static int add_host(struct desired *d, size_t *cap, const struct config_service_entry *se,
		    const char *host, struct desired_index *ix, bool *needs)
{
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
	for (size_t i = 0; i < se->addresses.n; i++) {
		struct snap_cidr c;

		if (!snapshot_parse_cidr(se->addresses.items[i], &c))
			continue;
		if (!e->vip && c.len == 32)
			e->vip = c.ip;
		else
			e->cidrs[e->n_cidrs++] = c;
	}
	*needs = !e->vip && !e->n_cidrs && se->resolution != CONFIG_SE_RESOLUTION_NONE &&
		 !strchr(host, '*');
	if (se->resolution == CONFIG_SE_RESOLUTION_DNS ||
	    se->resolution == CONFIG_SE_RESOLUTION_DNS_ROUND_ROBIN) {
		err = resolve_names(se, host, e);
		if (err)
			return err;
	}
	err = export_to(se, e);
	return err ? err : endpoints(se, ix, e);
}

static int cmp_entry(const void *a, const void *b)
{
	const struct snap_service *x = a, *y = b;
	int c = strcmp(x->namespace, y->namespace);

	return c ? c : strcmp(x->hostname, y->hostname);
}

int desired_entries(const struct config *cfg, struct desired_index *ix, struct desired *d)
{
	const struct config_mesh *mesh = config_mesh_of(cfg);
	size_t cap = 0, total = 0;
	bool *needs;
	int err = 0;

	d->registry_only = mesh && mesh->outbound_traffic_policy &&
			   !strcmp(mesh->outbound_traffic_policy, "REGISTRY_ONLY");
	for (size_t i = 0; i < cfg->n_service_entries; i++)
		total += cfg->service_entries[i].hosts.n;
	if (!total)
		return 0;
	needs = calloc(total, sizeof(*needs));
	if (!needs)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_service_entries && !err; i++) {
		const struct config_service_entry *se = &cfg->service_entries[i];

		for (size_t j = 0; j < se->hosts.n && !err; j++)
			err = add_host(d, &cap, se, se->hosts.items[j], ix,
				       &needs[d->n_snap_entries]);
	}
	if (!err) {
		/* Sorted (with their flags) before allocating: the order decides collisions. */
		for (size_t i = 0; i < d->n_snap_entries; i++)
			d->snap_entries[i].serial = needs[i];
		qsort(d->snap_entries, d->n_snap_entries, sizeof(*d->snap_entries), cmp_entry);
		for (size_t i = 0; i < d->n_snap_entries; i++) {
			needs[i] = d->snap_entries[i].serial;
			d->snap_entries[i].serial = 0;
		}
		err = auto_allocate(d, needs);
	}
	free(needs);
	return err;
}
