// SPDX-License-Identifier: Apache-2.0
/* Load balancing (lb.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

#include "lb.h"

#define MAX_RING_SIZE (8u << 20) /* Envoy's maximum_ring_size default */

uint64_t wp_hash(const char *s, size_t len)
{
	return XXH64(s, len, 0);
}

static int ring_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct wp_ring_entry *)a)->hash;
	uint64_t y = ((const struct wp_ring_entry *)b)->hash;

	return (x > y) - (x < y);
}

/*
 * Envoy's RingHashLoadBalancer::Ring: scale so the lightest host gets a whole number of
 * entries and the ring at least @min entries, then hand out entries by running sums.
 */
static int build_ring(struct wp_lb *lb, uint64_t min)
{
	double total = 0, min_w = 1, scale, current = 0, target = 0;
	size_t cap;

	for (size_t i = 0; i < lb->n_hosts; i++)
		total += lb->hosts[i].weight ? lb->hosts[i].weight : 1;
	for (size_t i = 0; i < lb->n_hosts; i++) {
		double w = (lb->hosts[i].weight ? lb->hosts[i].weight : 1) / total;

		min_w = w < min_w ? w : min_w;
	}
	scale = ceil(min_w * (double)min) / min_w;
	if (scale > MAX_RING_SIZE)
		scale = MAX_RING_SIZE;
	cap = (size_t)ceil(scale) + lb->n_hosts + 1;
	lb->ring = calloc(cap, sizeof(*lb->ring));
	if (!lb->ring)
		return -ENOMEM;
	for (size_t i = 0; i < lb->n_hosts; i++) {
		char key[SOCKADDR_INET_STRLEN + 24], addr[SOCKADDR_INET_STRLEN];
		uint64_t n = 0;

		/* Envoy's key is the address as it prints it: "ip:port", "[v6]:port". */
		sockaddr_inet_format(&lb->hosts[i].addr, addr, sizeof(addr));
		target += scale * (lb->hosts[i].weight ? lb->hosts[i].weight : 1) / total;
		while (current < target && lb->n_ring < cap) {
			int kl = snprintf(key, sizeof(key), "%s_%llu", addr, (unsigned long long)n);

			lb->ring[lb->n_ring].hash = wp_hash(key, (size_t)kl);
			lb->ring[lb->n_ring++].host = (uint32_t)i;
			n++;
			current++;
		}
	}
	qsort(lb->ring, lb->n_ring, sizeof(*lb->ring), ring_cmp);
	return 0;
}

/* Whether host @i may be picked: in the level under way, and healthy unless in panic (@all). */
static bool usable(const struct wp_lb *lb, size_t i, bool all)
{
	return lb->hosts[i].priority == lb->level && (all || !lb->hosts[i].ejected);
}

/* The usable hosts as a fingerprint, to tell when a Maglev table must be rebuilt. */
static uint64_t usable_key(const struct wp_lb *lb, bool all)
{
	uint64_t k = 1469598103934665603ull;

	for (size_t i = 0; i < lb->n_hosts; i++)
		k = (k ^ usable(lb, i, all)) * 1099511628211ull;
	return k;
}

struct maglev_entry {
	uint32_t host;
	uint64_t offset, skip, next;
	double weight, target;
};

/* Envoy's MaglevTable over the usable hosts (all of them in panic mode). */
static int build_maglev(struct wp_lb *lb, bool all)
{
	uint64_t m = lb->table_size, filled = 0;
	struct maglev_entry *e = calloc(lb->n_hosts + 1, sizeof(*e));
	double total = 0, max_w = 0;
	size_t n = 0;

	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i < lb->n_hosts; i++)
		if (usable(lb, i, all))
			total += lb->hosts[i].weight ? lb->hosts[i].weight : 1;
	for (size_t i = 0; i < lb->n_hosts; i++) {
		char key[SOCKADDR_INET_STRLEN];
		int kl;

		if (!usable(lb, i, all))
			continue;
		kl = (int)strlen(sockaddr_inet_format(&lb->hosts[i].addr, key, sizeof(key)));
		e[n].host = (uint32_t)i;
		e[n].offset = XXH64(key, (size_t)kl, 0) % m;
		e[n].skip = XXH64(key, (size_t)kl, 1) % (m - 1) + 1;
		e[n].weight = (lb->hosts[i].weight ? lb->hosts[i].weight : 1) / total;
		max_w = e[n].weight > max_w ? e[n].weight : max_w;
		n++;
	}
	for (uint64_t s = 0; s < m; s++)
		lb->table[s] = UINT32_MAX;
	for (uint64_t iter = 1; n && filled < m; iter++) {
		for (size_t i = 0; i < n && filled < m; i++) {
			uint64_t c;

			if ((double)iter * e[i].weight < e[i].target)
				continue;
			e[i].target += max_w;
			c = (e[i].offset + e[i].skip * e[i].next) % m;
			while (lb->table[c] != UINT32_MAX)
				c = (e[i].offset + e[i].skip * ++e[i].next) % m;
			lb->table[c] = e[i].host;
			e[i].next++;
			filled++;
		}
	}
	free(e);
	lb->table_key = usable_key(lb, all);
	return 0;
}

int wp_lb_init(struct wp_lb *lb, const struct config_load_balancer *p,
	       const struct config_outlier_detection *od, struct wp_host *hosts, size_t n)
{
	memset(lb, 0, sizeof(*lb));
	lb->simple = p->simple;
	lb->hash_key = p->hash_key;
	lb->panic_percent = od && od->present ? od->min_health_percent : 0;
	lb->hosts = hosts;
	lb->n_hosts = n;
	if (p->hash_key == CONFIG_HASH_NONE || !n)
		return 0;
	if (p->maglev) {
		lb->maglev = true;
		lb->table_size = p->table_size > 1 ? p->table_size : 65537;
		lb->table = calloc(lb->table_size, sizeof(*lb->table));
		return lb->table ? build_maglev(lb, false) : -ENOMEM;
	}
	return build_ring(lb, p->table_size ? p->table_size : 1024);
}

void wp_lb_destroy(struct wp_lb *lb)
{
	free(lb->table);
	lb->table = NULL;
	free(lb->ring);
	lb->ring = NULL;
	lb->n_ring = 0;
}

/* Panic mode: under the threshold (of the @total hosts of the level), ejected hosts are used too.
 */
static bool use_all(const struct wp_lb *lb, size_t healthy, size_t total)
{
	return lb->panic_percent && healthy * 100 < (size_t)lb->panic_percent * total;
}

/* The level a pick is among: the best with a healthy host, else the best of all. */
static uint8_t pick_level(const struct wp_lb *lb)
{
	int best = -1, any = -1;

	for (size_t i = 0; i < lb->n_hosts; i++) {
		int p = lb->hosts[i].priority;

		any = any < 0 || p < any ? p : any;
		if (!lb->hosts[i].ejected && (best < 0 || p < best))
			best = p;
	}
	return (uint8_t)(best >= 0 ? best : any >= 0 ? any : 0);
}

/* The @k-th usable host (0-based). */
static int nth_usable(const struct wp_lb *lb, size_t k, bool all)
{
	for (size_t i = 0; i < lb->n_hosts; i++)
		if (usable(lb, i, all) && !k--)
			return (int)i;
	return -1;
}

int wp_lb_pick(struct wp_lb *lb, bool has_hash, uint64_t hash, uint64_t rnd, uint64_t rnd2)
{
	size_t healthy = 0, total = 0, n;
	bool all;
	int a, b;

	lb->level = pick_level(lb);
	for (size_t i = 0; i < lb->n_hosts; i++) {
		total += lb->hosts[i].priority == lb->level;
		healthy += lb->hosts[i].priority == lb->level && !lb->hosts[i].ejected;
	}
	all = use_all(lb, healthy, total);
	n = all ? total : healthy;
	if (!n || lb->simple == CONFIG_LB_PASSTHROUGH)
		return -1;
	if (lb->maglev && has_hash) {
		/* Envoy rebuilds the table when hosts come and go; so do we, on the next pick. */
		if (lb->table_key != usable_key(lb, all) && build_maglev(lb, all))
			return -1;
		return (int)lb->table[hash % lb->table_size];
	}
	if (lb->hash_key != CONFIG_HASH_NONE && has_hash && lb->n_ring && !lb->maglev) {
		/* The first entry at or after the hash, wrapping; ejected hosts' entries skipped.
		 */
		size_t lo = 0, hi = lb->n_ring;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (lb->ring[mid].hash < hash)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t k = 0; k < lb->n_ring; k++) {
			const struct wp_ring_entry *e = &lb->ring[(lo + k) % lb->n_ring];

			if (usable(lb, e->host, all))
				return (int)e->host;
		}
		return -1;
	}
	if (lb->hash_key != CONFIG_HASH_NONE)
		return nth_usable(lb, rnd % n, all); /* no hash value: random */
	switch (lb->simple) {
	case CONFIG_LB_ROUND_ROBIN:
		for (size_t k = 0; k < lb->n_hosts; k++) {
			size_t i = lb->rr_next++ % lb->n_hosts;

			if (usable(lb, i, all))
				return (int)i;
		}
		return -1;
	case CONFIG_LB_RANDOM: return nth_usable(lb, rnd % n, all);
	default:
		/* LEAST_REQUEST (and Istio's default): Envoy's two random choices. */
		a = nth_usable(lb, rnd % n, all);
		b = nth_usable(lb, rnd2 % n, all);
		return lb->hosts[b].active_requests < lb->hosts[a].active_requests ? b : a;
	}
}

static const char *header(const struct wp_request *rq, const char *name)
{
	for (size_t i = 0; i < rq->n_headers; i++)
		if (!strcasecmp(rq->headers[i].name, name))
			return rq->headers[i].value;
	return NULL;
}

/* The value of cookie @name in the Cookie headers, and its length. */
static const char *cookie(const struct wp_request *rq, const char *name, size_t *len)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i < rq->n_headers; i++) {
		const char *p;

		if (strcasecmp(rq->headers[i].name, "cookie"))
			continue;
		for (p = rq->headers[i].value; *p;) {
			size_t seg;

			p += strspn(p, " ;");
			seg = strcspn(p, ";");
			if (seg > nl && !strncmp(p, name, nl) && p[nl] == '=') {
				const char *v = p + nl + 1;

				*len = seg - nl - 1;
				/* RFC 6265 §4.1.1: a cookie-value may be quoted; Envoy hashes
				 * inside. */
				if (*len >= 2 && v[0] == '"' && v[*len - 1] == '"') {
					*len -= 2;
					return v + 1;
				}
				return v;
			}
			p += seg;
		}
	}
	return NULL;
}

bool wp_lb_request_hash(const struct config_load_balancer *p, const struct wp_request *rq,
			const struct ipaddr *source_ip, uint64_t *hash)
{
	const char *v = NULL;
	size_t len = 0;
	char addr[IPADDR_STRLEN];

	switch (p->hash_key) {
	case CONFIG_HASH_HEADER:
		v = header(rq, p->hash_name);
		len = v ? strlen(v) : 0;
		break;
	case CONFIG_HASH_COOKIE: v = cookie(rq, p->hash_name, &len); break;
	case CONFIG_HASH_SOURCE_IP:
		if (!source_ip->family)
			break;
		v = ipaddr_format(source_ip, addr, sizeof(addr));
		len = strlen(addr);
		break;
	case CONFIG_HASH_QUERY: {
		const char *q = rq->path ? strchr(rq->path, '?') : NULL;
		size_t nl = strlen(p->hash_name);

		while (q && !v) {
			const char *s = q + 1, *end = s + strcspn(s, "&#");

			if ((size_t)(end - s) > nl && !strncmp(s, p->hash_name, nl) &&
			    s[nl] == '=') {
				v = s + nl + 1;
				len = (size_t)(end - v);
			}
			q = *end == '&' ? end : NULL;
		}
		break;
	}
	default: return false;
	}
	if (!v)
		return false;
	*hash = wp_hash(v, len);
	return true;
}
