// SPDX-License-Identifier: Apache-2.0
/*
 * The addresses of ServiceEntry hosts (API_SEMANTICS.md §5), as Istio's DNS auto-allocation
 * gives them: a host's first /32 address, else, for a host that needs one (no address, a
 * resolution other than NONE, no wildcard, or a DYNAMIC_DNS wildcard), one of 240.240.0.0/16 chosen
 * by a hash of namespace/host (so a host keeps it across restarts), collisions probed in the order
 * of (namespace, host). Its IPv6 address likewise: its first /128, else, when it got an IPv4 one
 * allocated and names no IPv6 address, 2001:2::f0f0:XXYY for 240.240.XX.YY, as Istio pairs
 * them (2001:2::/48 is its IPv6 range), so the IPv6 one is as stable as the IPv4 one and never
 * needs a probe of its own. One function for the ztunnel's snapshot (l4/entries.c) and the
 * waypoints' models (l7/compile.c), so both name a host by the same address.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/config.h"
#include "ambit/ipaddr.h"

/* Istio's auto-allocation range for IPv4 (pilot's 240.240.0.0/16). */
#define AUTO_NET 0xf0f00000u
#define AUTO_SLOTS 65536u

/* The IPv6 address paired with allocated IPv4 @ip (host order): its last two bytes under
 * 2001:2::f0f0:. */
static void auto_v6(struct ipaddr *out, uint32_t ip)
{
	*out = (struct ipaddr){.family = AF_INET6, .len = 128, .a = {0x20, 0x01, 0x00, 0x02}};
	out->a[12] = 0xf0;
	out->a[13] = 0xf0;
	out->a[14] = (uint8_t)(ip >> 8);
	out->a[15] = (uint8_t)ip;
}

/* Whether @ip (host order) may be handed out: not the block's .0 or .255 of any /24. */
static bool auto_usable(uint32_t ip)
{
	return (ip & 0xff) != 0 && (ip & 0xff) != 0xff;
}

/* FNV-1a of "ns/host": the first slot tried. */
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

static int cmp_vip(const void *a, const void *b)
{
	const struct config_se_vip *x = a, *y = b;
	int c = strcmp(x->namespace, y->namespace);

	return c ? c : strcmp(x->host, y->host);
}

/*
 * Whether allocated IPv4 @vip (network order), or the IPv6 address it pairs with when
 * @pair6, is some host's already (its own address or an earlier allocation).
 */
static bool taken(const struct config_se_vip *v, size_t n, uint32_t vip, bool pair6)
{
	struct ipaddr a6;

	auto_v6(&a6, ntohl(vip));
	for (size_t i = 0; i < n; i++)
		if (v[i].vip == vip || (pair6 && ipaddr_equal(&v[i].vip6, &a6)))
			return true;
	return false;
}

int config_se_vips(const struct config *cfg, struct config_se_vip **out, size_t *n)
{
	struct config_se_vip *v;
	size_t total = 0, k = 0;

	for (size_t i = 0; i < cfg->n_service_entries; i++)
		total += cfg->service_entries[i].hosts.n;
	*n = 0;
	*out = v = calloc(total + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_service_entries; i++) {
		const struct config_service_entry *se = &cfg->service_entries[i];
		bool any = false, any6 = false;
		struct ipaddr vip6 = {0};
		uint32_t vip = 0;

		for (size_t a = 0; a < se->addresses.n; a++) {
			struct ipaddr c;
			uint32_t ip;

			if (ipaddr_parse(se->addresses.items[a], &c))
				continue;
			/* (IPv6 addresses do not give the host an IPv4 one, nor the converse.) */
			if (c.family == AF_INET6) {
				any6 = true;
				if (!vip6.family && c.len == 128)
					vip6 = c;
				continue;
			}
			any = true;
			if (!vip && ipaddr_v4(&c, &ip))
				vip = ip;
		}
		for (size_t h = 0; h < se->hosts.n; h++) {
			const char *host = se->hosts.items[h];

			v[k].namespace = se->meta.namespace ? se->meta.namespace : "";
			v[k].host = host;
			v[k].vip = vip;
			v[k].vip6 = vip6;
			/* A DYNAMIC_DNS wildcard too: its names answer with it (Istio 1.28). */
			v[k].needs =
			    !any &&
			    (se->resolution == CONFIG_SE_RESOLUTION_DYNAMIC_DNS ||
			     (se->resolution != CONFIG_SE_RESOLUTION_NONE && !strchr(host, '*')));
			v[k].needs6 = v[k].needs && !any6;
			k++;
		}
	}
	qsort(v, k, sizeof(*v), cmp_vip);
	for (size_t i = 0; i < k; i++) {
		uint32_t slot = auto_hash(v[i].namespace, v[i].host) % AUTO_SLOTS, s;

		if (!v[i].needs)
			continue;
		for (s = 0; s < AUTO_SLOTS; s++) {
			uint32_t ip = AUTO_NET | ((slot + s) % AUTO_SLOTS);

			if (auto_usable(ip) && !taken(v, k, htonl(ip), v[i].needs6)) {
				v[i].vip = htonl(ip);
				if (v[i].needs6)
					auto_v6(&v[i].vip6, ip);
				break;
			}
		}
		if (s == AUTO_SLOTS) {
			free(v);
			*out = NULL;
			return -ENOSPC;
		}
	}
	*n = k;
	return 0;
}

static const struct config_se_vip *find(const struct config_se_vip *v, size_t n, const char *ns,
					const char *host)
{
	struct config_se_vip key = {.namespace = ns, .host = host};

	return v ? bsearch(&key, v, n, sizeof(*v), cmp_vip) : NULL;
}

uint32_t config_se_vip_of(const struct config_se_vip *v, size_t n, const char *ns, const char *host)
{
	const struct config_se_vip *f = find(v, n, ns, host);

	return f ? f->vip : 0;
}

const struct ipaddr *config_se_vip6_of(const struct config_se_vip *v, size_t n, const char *ns,
				       const char *host)
{
	const struct config_se_vip *f = find(v, n, ns, host);

	return f && f->vip6.family == AF_INET6 ? &f->vip6 : NULL;
}
