// SPDX-License-Identifier: Apache-2.0
/*
 * The ztunnel's routing decisions, pure functions of a snapshot: where an outbound destination
 * goes (a Service VIP to one of its endpoints), whether a CONNECT names a workload served here
 * and may claim its client address, and which Service an inbound connection was for. Plus the
 * least-connections counts that the outbound choice reads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>

#include "ambit/bpf_abi.h"
#include "net/connrec.h"
#include "inpod.h"
#include "metrics.h"
#include "resolved.h"
#include "route.h"
#include "net/sock.h"

/* ---- least-connections bookkeeping, shared by workers (atomics, fixed table) ---- */

#define LC_SLOTS 4096
static struct {
	uint32_t ip;
	unsigned int n;
} lc_table[LC_SLOTS];

static unsigned int *lc_slot(uint32_t ip, bool insert)
{
	for (unsigned int i = 0, h = (ip * 2654435761u) % LC_SLOTS; i < 64; i++) {
		unsigned int k = (h + i) % LC_SLOTS;
		uint32_t cur = __atomic_load_n(&lc_table[k].ip, __ATOMIC_ACQUIRE);

		if (cur == ip)
			return &lc_table[k].n;
		if (cur == 0) {
			uint32_t zero = 0;

			if (!insert)
				return NULL;
			if (__atomic_compare_exchange_n(&lc_table[k].ip, &zero, ip, false,
							__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ||
			    zero == ip)
				return &lc_table[k].n;
		}
	}
	return NULL; /* table full: the endpoint counts as idle */
}

unsigned int zt_lc_active(uint32_t ip)
{
	unsigned int *n = lc_slot(ip, false);

	return n ? __atomic_load_n(n, __ATOMIC_RELAXED) : 0;
}

static void lc_release(uint32_t ip)
{
	unsigned int *n = lc_slot(ip, false);

	if (n)
		__atomic_sub_fetch(n, 1, __ATOMIC_RELAXED);
}

void zt_lc_acquire(struct connrec *rec, uint32_t ip)
{
	unsigned int *n = lc_slot(ip, true);

	if (n && rec) {
		__atomic_add_fetch(n, 1, __ATOMIC_RELAXED);
		connrec_on_close(rec, lc_release, ip);
	}
}

uint32_t zt_lc_key(const struct snap_workload *wl, const struct ipaddr *a)
{
	uint32_t k = 0, w;

	if (wl && wl->ip)
		return wl->ip;
	if (!a || a->family != AF_INET6)
		return 0;
	for (size_t i = 0; i < 16; i += 4) {
		memcpy(&w, a->a + i, 4);
		k ^= w;
	}
	return k ? k : 1;
}

/* ---- decisions ---- */

/* Picks from @n addresses with the round-robin cursor of (@key, @port). */
static size_t rr_pick(struct zt_rr *rr, uint32_t key, uint16_t port, size_t n)
{
	size_t slot = (ntohl(key) * 2654435761u ^ port) % ZT_RR_SLOTS;

	return rr->next[slot]++ % n;
}

/*
 * An instance of waypoint @wp for @out over IPv6, for a waypoint of no IPv4 address (its pods
 * IPv6 alone): its Service's IPv6 endpoints (endpoints6) when the snapshot has that Service
 * (by vip6), else the instances' addresses the binding lists (never its vip6: the ztunnel
 * dials an instance). 0 or -EHOSTUNREACH.
 */
static int route_waypoint6(const struct snapshot *s, const struct snap_waypoint *wp,
			   struct zt_rr *rr, struct zt_route *out)
{
	const struct snap_service *wsvc = NULL;
	const struct ipaddr *ips[64], *pick;
	uint32_t key = 0;
	size_t n = 0;
	bool by_svc;

	for (size_t i = 0; i < wp->n_addresses6 && !wsvc; i++)
		wsvc = snapshot_service_by_vip6(s, &wp->addresses6[i]);
	for (size_t i = 0; wsvc && i < wsvc->nendpoints6 && n < 64; i++)
		ips[n++] = &wsvc->endpoints6[i];
	/*
	 * Else its instances: also when its Service lists no IPv6 endpoint (a selector Service's
	 * endpoints are IPv4 workload addresses, which a pod of IPv6 alone has none of).
	 */
	by_svc = n > 0;
	for (size_t i = 0; !by_svc && i < wp->n_addresses6 && n < 64; i++)
		if (!snapshot_service_by_vip6(s, &wp->addresses6[i]))
			ips[n++] = &wp->addresses6[i];
	if (!n)
		return -EHOSTUNREACH;
	/* The round-robin cursor's key: the last 32 bits of the first address. */
	memcpy(&key, &ips[0]->a[12], sizeof(key));
	pick = ips[rr_pick(rr, key, wp->port, n)];
	if (sockaddr_inet_from_ipaddr(&out->wp_addr, pick, wp->port))
		return -EHOSTUNREACH;
	out->wp_wl = snapshot_workload_by_ip6(s, pick);
	return 0;
}

/*
 * An instance of waypoint @wp for @out: the ready endpoints of its Service when the snapshot
 * has that Service (by VIP), else the instance addresses the binding lists. A waypoint of no
 * IPv4 address is reached over IPv6 (route_waypoint6). 0 or -EHOSTUNREACH.
 */
static int route_waypoint(const struct snapshot *s, const struct snap_waypoint *wp,
			  struct zt_rr *rr, struct zt_route *out)
{
	const struct snap_service *wsvc = NULL;
	uint32_t ips[64];
	size_t n = 0;

	out->wp = wp;
	if (!wp->n_addresses)
		return route_waypoint6(s, wp, rr, out);
	for (size_t i = 0; i < wp->n_addresses && !wsvc; i++)
		wsvc = snapshot_service_by_vip(s, wp->addresses[i]);
	if (wsvc) {
		for (size_t i = 0; i < wsvc->nendpoints && n < 64; i++)
			ips[n++] = wsvc->endpoints[i];
	} else {
		for (size_t i = 0; i < wp->n_addresses && n < 64; i++)
			ips[n++] = wp->addresses[i];
	}
	if (!n)
		return -EHOSTUNREACH;
	/* A waypoint of IPv4 is reached over IPv4 (its instances' addresses), whatever was
	 * addressed. */
	sockaddr_inet_v4(&out->wp_addr, ips[rr_pick(rr, ips[0], wp->port, n)], wp->port);
	out->wp_wl = snapshot_workload_by_ip(s, out->wp_addr.v4.sin_addr.s_addr);
	return 0;
}

/* The waypoint is calling: its own traffic never loops back into it (API_SEMANTICS.md §9). */
static bool is_waypoint(const struct snap_waypoint *wp, const struct snap_workload *src)
{
	return src && src->identity && !strcmp(src->identity, wp->identity);
}

/*
 * Where entry endpoint @ip (network order) takes a connection addressed over IPv6 (@v6): a pod
 * of the cluster by its IPv6 address (false when it has none: a pod's CONNECT must be of its
 * client's family), anything else over IPv4 from the node, as a proxy may. Over IPv4: itself.
 */
static bool entry_endpoint(const struct snapshot *s, uint32_t ip, uint16_t port, bool v6,
			   union sockaddr_inet *out)
{
	const struct snap_workload *wl = v6 ? snapshot_workload_by_ip(s, ip) : NULL;

	if (!wl) {
		sockaddr_inet_v4(out, ip, port);
		return true;
	}
	return wl->ip6.family == AF_INET6 && !sockaddr_inet_from_ipaddr(out, &wl->ip6, port);
}

/*
 * Picks among @n endpoint addresses @ips of entry @e for port @port (targetPort @tport, or an
 * endpoint's own number): round robin from @e's cursor, the first that can take the connection
 * (entry_endpoint). 0 or -EHOSTUNREACH.
 */
static int entry_pick(const struct snapshot *s, const struct snap_service *e, const uint32_t *ips,
		      size_t n, uint16_t port, uint16_t tport, bool v6, struct zt_rr *rr,
		      struct zt_route *out)
{
	size_t first;

	if (!n)
		return -EHOSTUNREACH;
	first = rr_pick(rr, e->vip, port, n);
	for (size_t i = 0; i < n; i++) {
		uint32_t ip = ips[(first + i) % n];
		uint16_t p = snapshot_endpoint_port_of(e, port, ip, NULL, tport);

		if (!entry_endpoint(s, ip, p, v6, &out->addr))
			continue;
		out->dst_wl = snapshot_workload_by_ip(s, ip);
		return 0;
	}
	return -EHOSTUNREACH;
}

/*
 * Picks among the @n addresses @ips entry @e's names resolved to (IPv4 first, resolved.h), or
 * its IPv6 endpoints, for port @tport (an IPv6 endpoint's own number when it has one,
 * ep_ports6): round robin from @e's cursor for @port. An address of a pod of the cluster is
 * reached by that pod's address of the connection's family (@v6), and is passed over when it
 * has none (a pod's CONNECT must be of its client's family); anything else at the address
 * itself, [v6]:port for an AAAA answer, as a proxy may whatever the client's family, when it
 * has a route from where the connection leaves (zt_inpod_routable: in-pod, @src's own netns,
 * where a pod of IPv6 alone reaches no A answer; else the ztunnel's), the next answer if not.
 * 0 or -EHOSTUNREACH.
 */
static int dns_pick(const struct snapshot *s, const struct snap_workload *src,
		    const struct snap_service *e, const struct ipaddr *ips, size_t n, uint16_t port,
		    uint16_t tport, bool v6, struct zt_rr *rr, struct zt_route *out)
{
	size_t first;

	if (!n)
		return -EHOSTUNREACH;
	first = rr_pick(rr, e->vip, port, n);
	for (size_t i = 0; i < n; i++) {
		const struct ipaddr *a = &ips[(first + i) % n];
		const struct snap_workload *wl = snapshot_workload_by_addr(s, a);
		struct ipaddr to = *a;
		uint16_t p = snapshot_endpoint_port_of(e, port, 0, a, tport);

		if (wl && v6)
			to = wl->ip6;
		else if (wl && wl->ip)
			ipaddr_from_v4(&to, wl->ip);
		else if (wl)
			continue;
		else if (!zt_inpod_routable(src ? src->ip : 0, src ? &src->ip6 : NULL, &to))
			continue;
		if (sockaddr_inet_from_ipaddr(&out->addr, &to, p))
			continue;
		out->dst_wl = wl;
		return 0;
	}
	return -EHOSTUNREACH;
}

/*
 * A destination no Service or workload has: the ServiceEntry host that names it for @src's
 * namespace (out->svc), else none (out->svc NULL: PassthroughCluster or, under REGISTRY_ONLY,
 * BlackHoleCluster). Addressed to the entry's own address, a STATIC entry or one with selected
 * workloads goes to one of its endpoints (the port's targetPort), a DNS one to what its names
 * resolved to (the DNS proxy's, resolved.h: A and AAAA answers, reached as dns_pick says); NONE
 * goes to the address the client asked for. -EHOSTUNREACH: an entry's address with no endpoint
 * behind it (names not resolved yet). An IPv6 destination is an entry's vip6 (the one the DNS
 * proxy answers AAAA with) or in one of its IPv6 CIDRs: its IPv6 endpoints (endpoints6) take
 * it when it has some, as dns_pick reaches an address, as a selectorless Service's IPv6 slices
 * take its IPv6 VIP; else its STATIC endpoints, IPv4 addresses, are reached as entry_endpoint
 * says.
 */
static int route_entry(const struct snapshot *s, const struct snap_workload *src,
		       const union sockaddr_inet *dst, struct zt_rr *rr, struct zt_route *out)
{
	uint16_t port = sockaddr_inet_port(dst), tport;
	const char *ns = src ? src->namespace : NULL;
	bool v6 = dst->sa.sa_family == AF_INET6;
	const struct snap_service *e;
	const struct snap_service_port *p = NULL;
	struct ipaddr da = {0};
	bool own = false;

	if (v6 && !sockaddr_inet_to_ipaddr(dst, &da) && da.family == AF_INET6)
		e = snapshot_entry_by_addr6(s, &da, port, ns);
	else
		e = v6 ? NULL : snapshot_entry_by_addr(s, dst->v4.sin_addr.s_addr, port, ns);
	out->svc = e;
	if (!e)
		return 0;
	for (size_t i = 0; i < e->nports; i++)
		if (e->ports[i].port == port)
			p = &e->ports[i];
	tport = p && p->target_port ? p->target_port : port;
	/*
	 * Bound to a waypoint (egress): it picks the endpoint and applies L7, told the host; the
	 * waypoint's own connections (it resolves and reaches the endpoints itself) pass.
	 */
	if (e->waypoint && !is_waypoint(e->waypoint, src)) {
		out->addr = *dst;
		return route_waypoint(s, e->waypoint, rr, out);
	}
	/*
	 * A DNS entry: the addresses its names resolved to (resolved.h), the first only for
	 * DNS_ROUND_ROBIN (Envoy's LOGICAL_DNS): an IPv4 one when the name has one.
	 */
	if (!e->nendpoints && e->n_names) {
		struct ipaddr ips[64];
		size_t n = 0;

		for (size_t i = 0; i < e->n_names && n < 64; i++)
			n += zt_resolved_get(e->names[i], ips + n, 64 - n);
		if (e->resolution == SNAP_RES_DNS_ROUND_ROBIN && n)
			n = 1;
		return dns_pick(s, src, e, ips, n, port, tport, v6, rr, out);
	}
	for (size_t i = 0; i < e->nendpoints && !own && !v6; i++)
		own = e->endpoints[i] == dst->v4.sin_addr.s_addr;
	for (size_t i = 0; i < e->nendpoints6 && !own && v6; i++)
		own = ipaddr_equal(&e->endpoints6[i], &da);
	/* Addressed to an endpoint itself, or an entry that takes the client's own address. */
	if (own || e->resolution == SNAP_RES_NONE)
		return 0;
	if (v6 && e->nendpoints6
		? dns_pick(s, src, e, e->endpoints6, e->nendpoints6, port, tport, v6, rr, out)
		: entry_pick(s, e, e->endpoints, e->nendpoints, port, tport, v6, rr, out))
		return -EHOSTUNREACH;
	if (out->dst_wl && out->dst_wl->waypoint && !is_waypoint(out->dst_wl->waypoint, src))
		return route_waypoint(s, out->dst_wl->waypoint, rr, out);
	return 0;
}

/*
 * The workload behind Service endpoint @ip when the connection is IPv6 (@v6): the one whose
 * ip6 the connection goes to; NULL when it has none (the endpoint cannot take it).
 */
static const struct snap_workload *endpoint_wl(const struct snapshot *s, uint32_t ip, bool v6)
{
	const struct snap_workload *wl = snapshot_workload_by_ip(s, ip);

	return !v6 || (wl && wl->ip6.family == AF_INET6) ? wl : NULL;
}

/* The round-robin key of @svc addressed by the family @v6 says. */
static uint32_t vip_key(const struct snap_service *svc, bool v6)
{
	uint32_t k = 0, w;

	if (!v6)
		return svc->vip;
	for (size_t i = 0; i < 16; i += 4) {
		memcpy(&w, svc->vip6.a + i, 4);
		k ^= w;
	}
	return k;
}

/*
 * [vip6]:@port of @svc with endpoints6 (a selectorless Service's IPv6 slices', or a selector's
 * pods' when some have IPv6 alone): one of them, round robin from the cursor, with
 * least-connections the least busy from there (zt_lc_key: a pod's IPv4, else the address
 * folded), at its own number for the port (its slice's, ep_ports6) else the targetPort, as the
 * kernel's services6 map has it; a pod among them reaches its workload waypoint as a picked pod
 * does.
 */
static int route_endpoints6(const struct snapshot *s, const struct snap_workload *src,
			    const struct snap_service *svc, const struct snap_service_port *port,
			    enum zt_lb lb, unsigned int (*active)(uint32_t ip), struct zt_rr *rr,
			    struct zt_route *out)
{
	size_t n = svc->nendpoints6, pick = rr_pick(rr, vip_key(svc, true), port->port, n);
	const struct ipaddr *ep = &svc->endpoints6[pick];

	/* Scanning from the pick, ties still rotate; an idle one is taken at once. */
	if (lb == ZT_LB_LEAST_CONN && active) {
		unsigned int best = active(zt_lc_key(snapshot_workload_by_addr(s, ep), ep));

		for (size_t i = 1; best && i < n; i++) {
			const struct ipaddr *e = &svc->endpoints6[(pick + i) % n];
			unsigned int a = active(zt_lc_key(snapshot_workload_by_addr(s, e), e));

			if (a < best) {
				best = a;
				ep = e;
			}
		}
	}
	out->svc = svc;
	if (sockaddr_inet_from_ipaddr(&out->addr, ep, snapshot_endpoint_port6(svc, port, ep)))
		return -EHOSTUNREACH;
	out->dst_wl = snapshot_workload_by_addr(s, ep);
	if (out->dst_wl && out->dst_wl->waypoint && !is_waypoint(out->dst_wl->waypoint, src))
		return route_waypoint(s, out->dst_wl->waypoint, rr, out);
	return 0;
}

/* The time out of a slot that failed @fails times in a row before (5 s, doubled, 30 s). */
static uint64_t down_ms(unsigned int fails)
{
	uint64_t ms = ZT_GW_DOWN_MS;

	for (unsigned int i = 0; i < fails && ms < ZT_GW_DOWN_MAX_MS; i++)
		ms *= 2;
	return ms < ZT_GW_DOWN_MAX_MS ? ms : ZT_GW_DOWN_MAX_MS;
}

/* FNV-1a of @len bytes, on @h; never 0 (a free slot). */
static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		h = (h ^ ((const uint8_t *)p)[i]) * 1099511628211ull;
	return h | 1;
}

#define FNV_BASIS 14695981039346656037ull

/* A gateway's address as a key of zt_rr.gw_down. */
static uint64_t addr_key(const struct ipaddr *a)
{
	return fnv(FNV_BASIS, a->a, a->family == AF_INET6 ? 16 : 4) ^ a->family;
}

uint64_t zt_share_key(const struct snap_remote_service *r)
{
	return fnv(fnv(FNV_BASIS, r->hostname, strlen(r->hostname)), r->cluster,
		   strlen(r->cluster) + 1);
}

/* @key's slot of table @t (ZT_GW_DOWN of them); with @insert a free, else the oldest, one. */
static struct zt_down *down_slot(struct zt_down *t, uint64_t key, bool insert)
{
	struct zt_down *free_slot = NULL, *oldest = &t[0];

	for (size_t i = 0; i < ZT_GW_DOWN; i++) {
		if (t[i].key == key)
			return &t[i];
		if (!t[i].key && !free_slot)
			free_slot = &t[i];
		if (t[i].until_ms < oldest->until_ms)
			oldest = &t[i];
	}
	if (!insert)
		return NULL;
	free_slot = free_slot ?: oldest;
	*free_slot = (struct zt_down){.key = key};
	return free_slot;
}

static void down_failed(struct zt_down *t, uint64_t key, uint64_t now_ms)
{
	struct zt_down *d = down_slot(t, key, true);

	d->until_ms = now_ms + down_ms(d->fails);
	d->fails++;
}

static void down_ok(struct zt_down *t, uint64_t key)
{
	struct zt_down *d = down_slot(t, key, false);

	if (d)
		memset(d, 0, sizeof(*d));
}

static bool down_now(const struct zt_rr *rr, const struct zt_down *t, uint64_t key)
{
	if (!rr || !rr->now_ms)
		return false;
	for (size_t i = 0; i < ZT_GW_DOWN; i++)
		if (t[i].key == key)
			return t[i].until_ms > rr->now_ms;
	return false;
}

void zt_gateway_failed(struct zt_rr *rr, const union sockaddr_inet *addr, uint64_t now_ms)
{
	struct ipaddr a;

	if (!sockaddr_inet_to_ipaddr(addr, &a))
		down_failed(rr->gw_down, addr_key(&a), now_ms);
}

void zt_gateway_ok(struct zt_rr *rr, const union sockaddr_inet *addr)
{
	struct ipaddr a;

	if (!sockaddr_inet_to_ipaddr(addr, &a))
		down_ok(rr->gw_down, addr_key(&a));
}

void zt_share_failed(struct zt_rr *rr, uint64_t key, uint64_t now_ms)
{
	down_failed(rr->share_down, key, now_ms);
}

void zt_share_ok(struct zt_rr *rr, uint64_t key)
{
	down_ok(rr->share_down, key);
}

static bool share_out(const struct zt_rr *rr, const struct snap_remote_service *r)
{
	return rr && down_now(rr, rr->share_down, zt_share_key(r));
}

/* Whether gateway @g is out (either of its addresses failed lately). */
static bool gw_out(const struct zt_rr *rr, const struct snap_net_gateway *g)
{
	struct ipaddr v4 = {.family = AF_INET, .len = 32};

	if (!rr)
		return false;
	memcpy(v4.a, &g->ip, 4);
	return (g->ip && down_now(rr, rr->gw_down, addr_key(&v4))) ||
	       (g->ip6.family == AF_INET6 && down_now(rr, rr->gw_down, addr_key(&g->ip6)));
}

bool zt_gateway_out(struct zt_rr *rr, const struct snap_net_gateway *g, uint64_t now_ms)
{
	rr->now_ms = now_ms;
	return gw_out(rr, g);
}

/*
 * The n-th gateway of @network that has an address to connect to (@v6: an IPv6 one first) and
 * is not out (@rr, may be NULL).
 */
static const struct snap_net_gateway *net_gateway(const struct snapshot *s, const char *network,
						  size_t nth, bool v6, const struct zt_rr *rr)
{
	size_t n = 0;

	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < s->n_net_gateways; i++) {
			const struct snap_net_gateway *g = &s->net_gateways[i];
			bool has = (v6 == !pass) ? g->ip6.family == AF_INET6 : g->ip != 0;

			if (!strcmp(g->network, network) && has && !gw_out(rr, g))
				n++;
		}
		if (!n)
			continue;
		nth %= n;
		for (size_t i = 0; i < s->n_net_gateways; i++) {
			const struct snap_net_gateway *g = &s->net_gateways[i];
			bool has = (v6 == !pass) ? g->ip6.family == AF_INET6 : g->ip != 0;

			if (!strcmp(g->network, network) && has && !gw_out(rr, g) && !nth--)
				return g;
		}
	}
	return NULL;
}

/*
 * The endpoints @r counts when a gateway of its network can be reached, and it has @port (and,
 * with @wp, is bound to waypoint @wp there).
 */
static uint32_t remote_count(const struct snapshot *s, const struct snap_remote_service *r,
			     uint16_t port, const char *wp, const struct zt_rr *rr)
{
	if (!r->endpoints || !r->n_identities || !snapshot_remote_has_port(r, port) ||
	    (s->network && !strcmp(r->network, s->network)) || share_out(rr, r) ||
	    (wp && (!r->waypoint || strcmp(r->waypoint, wp))))
		return 0;
	return net_gateway(s, r->network, 0, false, rr) ? r->endpoints : 0;
}

/* The round-robin cursor of @network's gateways (0 without @rr). */
static size_t gw_cursor(struct zt_rr *rr, const char *network)
{
	uint32_t h = 2166136261u;

	if (!rr)
		return 0;
	for (const char *p = network; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return rr_pick(rr, h, 15008, SIZE_MAX);
}

/*
 * A global Service with shares in other networks: one pick, round robin over its endpoints here
 * (@local of them) and there, by count (with @wp, the shares of clusters where waypoint @wp
 * serves it alone). 1: one of here (the caller picks which), 0: routed to a gateway (@out
 * filled), or -EHOSTUNREACH.
 */
static int route_remote(const struct snapshot *s, const struct snap_service *svc,
			const struct snap_service_port *port, size_t local, const char *wp, bool v6,
			struct zt_rr *rr, struct zt_route *out)
{
	uint64_t total = local;
	size_t pick;

	/* PreferClose: this network's endpoints while it has any, the others' after. */
	if (svc->prefer_close && local)
		return 1;
	for (size_t i = 0; i < svc->n_remote; i++)
		total += remote_count(s, &svc->remote[i], port->port, wp, rr);
	if (total == local)
		return local ? 1 : -EHOSTUNREACH;
	/* Its own cursor: the pick among local endpoints keeps the VIP's. */
	pick = rr_pick(rr, ~vip_key(svc, v6), port->port, total > SIZE_MAX ? SIZE_MAX : total);
	if (pick < local)
		return 1;
	pick -= local;
	for (size_t i = 0; i < svc->n_remote; i++) {
		const struct snap_remote_service *r = &svc->remote[i];
		uint32_t n = remote_count(s, r, port->port, wp, rr);

		if (pick >= n) {
			pick -= n;
			continue;
		}
		out->svc = svc;
		out->remote = r;
		out->via_slot = (unsigned int)pick;
		/* The network's gateways in turn, whichever endpoint: all of them share it. */
		out->gw = net_gateway(s, r->network, gw_cursor(rr, r->network), v6, rr);
		if (!out->gw)
			return -EHOSTUNREACH;
		if (out->gw->ip && !(v6 && out->gw->ip6.family == AF_INET6))
			sockaddr_inet_v4(&out->addr, out->gw->ip, out->gw->port);
		else if (sockaddr_inet_from_ipaddr(&out->addr, &out->gw->ip6, out->gw->port))
			return -EHOSTUNREACH;
		return 0;
	}
	return -EHOSTUNREACH;
}

/* Whether a share of @svc is bound to waypoint @wp ("namespace/name") there. */
static bool remote_waypoint(const struct snap_service *svc, const char *wp)
{
	for (size_t i = 0; i < svc->n_remote; i++)
		if (svc->remote[i].waypoint && !strcmp(svc->remote[i].waypoint, wp))
			return true;
	return false;
}

int zt_route_outbound(const struct snapshot *s, const struct snap_workload *src,
		      const union sockaddr_inet *dst, enum zt_lb lb, struct zt_rr *rr,
		      unsigned int (*active)(uint32_t ip), struct zt_route *out)
{
	struct ipaddr da = {0};
	const struct snap_service *svc;
	const struct snap_service_port *port = NULL;
	const struct snap_workload *wl = NULL;
	uint16_t dport = sockaddr_inet_port(dst), tport;
	unsigned int best = 0;
	bool v6, found = false;
	size_t pick;

	memset(out, 0, sizeof(*out));
	sockaddr_inet_to_ipaddr(dst, &da);
	v6 = da.family == AF_INET6;
	svc = snapshot_service_by_addr(s, &da);
	if (!svc) {
		out->addr = *dst;
		out->dst_wl = snapshot_workload_by_addr(s, &da);
		/* Addressed to the pod: its workload waypoint, if it has one. */
		if (out->dst_wl && out->dst_wl->waypoint &&
		    !is_waypoint(out->dst_wl->waypoint, src))
			return route_waypoint(s, out->dst_wl->waypoint, rr, out);
		if (!out->dst_wl)
			return route_entry(s, src, dst, rr, out);
		return 0;
	}
	for (size_t i = 0; i < svc->nports; i++)
		if (svc->ports[i].port == dport)
			port = &svc->ports[i];
	if (!port)
		return -EHOSTUNREACH;
	/* Addressed to the Service: its waypoint picks the endpoint (and applies L7). */
	if (svc->waypoint && !is_waypoint(svc->waypoint, src)) {
		int r;

		out->svc = svc;
		out->addr = *dst;
		r = route_waypoint(s, svc->waypoint, rr, out);
		/*
		 * No instance of it here (its pods down): another cluster's waypoint of that name,
		 * through that network's gateway, as Istio's ztunnel reaches one when the
		 * waypoint's Service is global; never around the waypoint.
		 */
		if (r == -EHOSTUNREACH && remote_waypoint(svc, svc->waypoint->name)) {
			memset(out, 0, sizeof(*out));
			return route_remote(s, svc, port, 0, svc->waypoint->name, v6, rr, out);
		}
		return r;
	}
	/*
	 * Its IPv6 slices' endpoints take its IPv6 VIP alone, as its IPv4 ones (@endpoints) its
	 * IPv4 one: the slices pair no endpoint of one family with one of the other.
	 */
	/*
	 * Its label names a waypoint another cluster has (a global Service's waypoint is global
	 * with it): every connection goes there, through that network's gateway, or fails.
	 */
	if (svc->waypoint_wanted && remote_waypoint(svc, svc->waypoint_wanted))
		return route_remote(s, svc, port, 0, svc->waypoint_wanted, v6, rr, out);
	if (svc->n_remote) {
		int r = route_remote(s, svc, port,
				     v6 && svc->nendpoints6 ? svc->nendpoints6 : svc->nendpoints,
				     NULL, v6, rr, out);

		if (r <= 0)
			return r;
	}
	if (v6 && svc->nendpoints6)
		return route_endpoints6(s, src, svc, port, lb, active, rr, out);
	if (!svc->nendpoints)
		return -EHOSTUNREACH;
	pick = rr_pick(rr, vip_key(svc, v6), port->port, svc->nendpoints);
	/*
	 * From the round-robin pick on: the first endpoint that can take the family, and with
	 * least-connections the least busy of those (scanning from the pick so ties still rotate).
	 */
	for (size_t i = 0, first = pick; i < svc->nendpoints; i++) {
		size_t j = (first + i) % svc->nendpoints;
		const struct snap_workload *w = endpoint_wl(s, svc->endpoints[j], v6);
		unsigned int a;

		if (v6 && !w)
			continue;
		if (!found) {
			found = true;
			pick = j;
			wl = w;
			if (lb != ZT_LB_LEAST_CONN || !active)
				break;
			best = active(svc->endpoints[j]);
			continue;
		}
		a = active(svc->endpoints[j]);
		if (a < best) {
			best = a;
			pick = j;
			wl = w;
		}
	}
	if (!found)
		return -EHOSTUNREACH;
	out->svc = svc;
	/*
	 * Its own number for the port (its slice's, or its pod's named port), else the targetPort:
	 * by either VIP, for a pod's named port is one number for both its addresses.
	 */
	tport = snapshot_endpoint_port(svc, port, svc->endpoints[pick]);
	if (v6)
		sockaddr_inet_from_ipaddr(&out->addr, &wl->ip6, tport);
	else
		sockaddr_inet_v4(&out->addr, svc->endpoints[pick], tport);
	out->dst_wl = wl;
	/* A Service without a waypoint still reaches its pod's workload waypoint, as Istio's. */
	if (out->dst_wl && out->dst_wl->waypoint && !is_waypoint(out->dst_wl->waypoint, src))
		return route_waypoint(s, out->dst_wl->waypoint, rr, out);
	return 0;
}

bool zt_passthrough_as_client(const struct snapshot *s, const struct zt_route *r,
			      const union sockaddr_inet *client)
{
	const struct snap_workload *d = r->dst_wl;
	struct ipaddr ra = {0}, ca = {0}, da = {0};

	if (s->capture != SNAP_CAPTURE_HOST || !d || d->enrolled || r->wp)
		return false;
	sockaddr_inet_to_ipaddr(&r->addr, &ra);
	sockaddr_inet_to_ipaddr(client, &ca);
	if (ra.family == AF_INET6)
		da = d->ip6;
	else
		ipaddr_from_v4(&da, d->ip);
	/*
	 * A pod of the host's network (its IPv4 the node's) has the node's IPv6 too. One of IPv6
	 * alone is a pod's network's (the nodes of an IPv6-only cluster give no IPv4: node_ip 0).
	 */
	return ipaddr_equal(&da, &ra) && (!d->ip || d->ip != d->node_ip) && !ipaddr_equal(&da, &ca);
}

bool zt_local_enrolled(const struct snapshot *s, const struct snap_workload *wl)
{
	return wl && wl->enrolled && wl->node && s->node && strcmp(wl->node, s->node) == 0;
}

bool zt_proxy_port(uint16_t port)
{
	return port == AMBIT_PORT_OUTBOUND || port == AMBIT_PORT_INBOUND ||
	       port == AMBIT_PORT_HBONE;
}

static bool svc_selects(const struct snap_service *svc, const struct snap_workload *wl);

bool zt_authority_host(const char *authority, char *host, size_t len, uint16_t *port)
{
	const char *colon = authority ? strrchr(authority, ':') : NULL;
	char *end;
	unsigned long p;
	size_t n;

	if (!colon || colon == authority || authority[0] == '[' || !colon[1])
		return false;
	n = (size_t)(colon - authority);
	/* A name, not an address (an IPv4 authority is sock_parse_authority's). */
	if (n >= len || memchr(authority, ':', n) || strspn(authority, "0123456789.") == n)
		return false;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (*end || errno || p == 0 || p > 65535)
		return false;
	memcpy(host, authority, n);
	host[n] = '\0';
	if (port)
		*port = (uint16_t)p;
	return true;
}

/*
 * The CONNECT of Istio's double HBONE, whose authority is `<Service hostname>:<Service port>`:
 * the pod is the one the TLS connection was made to (@local, the east-west gateway sent it on to
 * that pod's port 15008), the port the Service's port's target on it. 0 or 400.
 */
static int connect_by_host(const struct snapshot *s, const char *authority,
			   const union sockaddr_inet *local, union sockaddr_inet *dst,
			   const struct snap_workload **dst_wl)
{
	struct ipaddr at;
	char host[256];
	uint16_t port;

	if (!local || !zt_authority_host(authority, host, sizeof(host), &port) ||
	    sockaddr_inet_to_ipaddr(local, &at))
		return 400;
	*dst_wl = snapshot_workload_by_addr(s, &at);
	if (!zt_local_enrolled(s, *dst_wl))
		return 400;
	for (size_t i = 0; i < s->n_services; i++) {
		const struct snap_service *svc = &s->services[i];

		if (!svc->hostname || strcmp(svc->hostname, host) || !svc_selects(svc, *dst_wl))
			continue;
		for (size_t j = 0; j < svc->nports; j++) {
			uint16_t target;

			if (svc->ports[j].port != port)
				continue;
			target = at.family == AF_INET6
				     ? snapshot_endpoint_port6(svc, &svc->ports[j], &(*dst_wl)->ip6)
				     : snapshot_endpoint_port(svc, &svc->ports[j], (*dst_wl)->ip);
			if (!target)
				return 400;
			*dst = *local;
			sockaddr_inet_set_port(dst, target);
			return 0;
		}
	}
	return 400;
}

int zt_check_connect(const struct snapshot *s, const struct zt_connect *c, union sockaddr_inet *dst,
		     const struct snap_workload **dst_wl, union sockaddr_inet *client)
{
	const struct snap_workload *src;
	struct ipaddr a;
	char host[256];
	bool has_host;

	memset(client, 0, sizeof(*client));
	*dst_wl = NULL;
	if (!sock_parse_authority(c->authority, dst) && !sockaddr_inet_to_ipaddr(dst, &a)) {
		*dst_wl = snapshot_workload_by_addr(s, &a);
		if (!zt_local_enrolled(s, *dst_wl))
			return 400;
	} else if (connect_by_host(s, c->authority, c->local, dst, dst_wl)) {
		return 400;
	}
	/*
	 * The pod's address on a port of the proxy's own would be the proxy again (HBONE in HBONE,
	 * or back out through 15001): Istio's ztunnel refuses it before policy and without trying
	 * (its illegal_ports, Error::SelfCall), answered 503 as it answers it.
	 */
	if (zt_proxy_port(sockaddr_inet_port(dst)))
		return 503;
	has_host = zt_connect_host(c, host, sizeof(host));
	if (zt_waypoint_bypass(s, *dst_wl, has_host ? host : NULL, c->peer_id))
		return 401;
	if (!c->forwarded)
		return 0;
	/*
	 * From another network, through its east-west gateway (Istio's x-forwarded-network): the
	 * client's address is of that network, which may number its pods as this one does, so it
	 * names no workload here and is not claimed (Istio's ztunnel reads the baggage instead).
	 */
	if (c->network && *c->network && strcmp(c->network, s->network ? s->network : ""))
		return 0;
	/*
	 * The claimed client IP decides the source address the pod sees (and later, policy). A
	 * peer may only claim IPs of workloads running as its own identity: anything else is
	 * refused with 401 rather than silently downgraded, so a misbehaving peer is visible.
	 */
	if (sock_parse_forwarded_for(c->forwarded, client))
		return 400;
	/* The pod's socket binds the client's address: it must be of the destination's family. */
	if (client->sa.sa_family != dst->sa.sa_family) {
		memset(client, 0, sizeof(*client));
		return 400;
	}
	sockaddr_inet_to_ipaddr(client, &a);
	src = snapshot_workload_by_addr(s, &a);
	if (!src || !c->peer_id || !src->identity || strcmp(src->identity, c->peer_id) != 0)
		return 401;
	return 0;
}

bool zt_connect_host(const struct zt_connect *c, char *host, size_t len)
{
	if (c->forwarded && sock_parse_forwarded_host(c->forwarded, host, len) == 0)
		return true;
	return zt_authority_host(c->authority, host, len, NULL);
}

/* @wl is one of @svc's endpoints by its IPv4 address. */
static bool svc_selects4(const struct snap_service *svc, const struct snap_workload *wl)
{
	for (size_t i = 0; wl->ip && i < svc->nendpoints; i++)
		if (svc->endpoints[i] == wl->ip)
			return true;
	return false;
}

/* @wl is one of @svc's endpoints6 by its IPv6 address (an IPv6 slice's endpoint). */
static bool svc_selects6(const struct snap_service *svc, const struct snap_workload *wl)
{
	for (size_t i = 0; wl->ip6.family == AF_INET6 && i < svc->nendpoints6; i++)
		if (ipaddr_equal(&svc->endpoints6[i], &wl->ip6))
			return true;
	return false;
}

/* @wl is one of @svc's endpoints, by its IPv4 or (an IPv6 slice's endpoint) its IPv6. */
static bool svc_selects(const struct snap_service *svc, const struct snap_workload *wl)
{
	return svc_selects4(svc, wl) || svc_selects6(svc, wl);
}

const struct snap_service *zt_inbound_service(const struct snapshot *s,
					      const struct snap_workload *dst, uint16_t port,
					      const char *host)
{
	if (!dst)
		return NULL;
	/* The client's word counts only for a Service that really selects this pod. */
	for (size_t i = 0; host && i < s->n_services; i++)
		if (s->services[i].hostname && !strcmp(s->services[i].hostname, host) &&
		    svc_selects(&s->services[i], dst))
			return &s->services[i];
	/*
	 * By the port the endpoint takes: its own number where its slice or pod gives one (the
	 * outbound side dialled that), of the family it is an endpoint by.
	 */
	for (size_t i = 0; i < s->n_services; i++) {
		const struct snap_service *svc = &s->services[i];
		bool by4 = svc_selects4(svc, dst), by6 = svc_selects6(svc, dst);

		for (size_t j = 0; (by4 || by6) && j < svc->nports; j++)
			if ((by4 && snapshot_endpoint_port(svc, &svc->ports[j], dst->ip) == port) ||
			    (by6 &&
			     snapshot_endpoint_port6(svc, &svc->ports[j], &dst->ip6) == port))
				return svc;
	}
	return NULL;
}

const struct snap_waypoint *zt_waypoint_bypass(const struct snapshot *s,
					       const struct snap_workload *dst, const char *host,
					       const char *peer_id)
{
	const struct snap_waypoint *wp = NULL;

	/* The waypoint of the Service the client addressed (if it selects @dst), else @dst's. */
	for (size_t i = 0; dst && host && !wp && i < s->n_services; i++)
		if (s->services[i].hostname && !strcmp(s->services[i].hostname, host) &&
		    svc_selects(&s->services[i], dst))
			wp = s->services[i].waypoint;
	if (!wp && dst)
		wp = dst->waypoint;
	if (!wp || (peer_id && !strcmp(peer_id, wp->identity)))
		return NULL;
	/*
	 * A Service's waypoint reaching a pod of that Service whose own (workload) waypoint is
	 * another: traffic that came from a waypoint is not sent to a workload waypoint again
	 * (§9), and a waypoint's CONNECT names no host, so its Service is not known here.
	 */
	for (size_t i = 0; dst && !host && peer_id && i < s->n_services; i++)
		if (s->services[i].waypoint && svc_selects(&s->services[i], dst) &&
		    !strcmp(s->services[i].waypoint->identity, peer_id))
			return NULL;
	return wp;
}
