// SPDX-License-Identifier: Apache-2.0
/* Configuration generations (config.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cjson/cJSON.h>

#include "ambit/cel.h"
#include "ambit/clock.h"
#include "ambit/fileutil.h"
#include "ambit/log.h"
#include "ambit/snapshot.h"
#include "authz.h"
#include "config.h"
#include "remote.h"
#include "dnsres.h"
#include "jwt.h"
#include "net/loop.h"
#include "ratelimit.h"

static void gen_free(struct wp_gen *g)
{
	if (!g)
		return;
	wp_remotes_free(g->remotes);
	free(g->network);
	for (size_t i = 0; i < g->n_clusters; i++)
		wp_cluster_destroy(&g->clusters[i]);
	if (g->routes && g->l7)
		for (size_t i = 0; i < g->l7->n_services; i++)
			wp_route_table_free(g->routes[i]);
	free(g->routes);
	free(g->clusters);
	free(g->cluster_base);
	free(g->by_ip);
	free(g->by_ip6);
	for (size_t i = 0; g->jwks && i < g->l7->n_jwt; i++)
		wp_jwks_free(g->jwks[i]);
	free(g->jwks);
	for (size_t i = 0; g->authz && i < g->l7->n_services; i++)
		wp_authz_index_free(g->authz[i]);
	free(g->authz);
	wp_rl_free(g->rl);
	for (size_t i = 0; g->log_filters && i < g->l7->n_telemetry; i++)
		cel_free(g->log_filters[i]);
	free(g->log_filters);
	for (size_t i = 0; g->tag_values && i < g->l7->n_telemetry; i++) {
		for (size_t j = 0; g->tag_values[i] && j < g->l7->telemetry[i].n_tag_ops; j++)
			cel_free(g->tag_values[i][j]);
		free(g->tag_values[i]);
	}
	free(g->tag_values);
	l7_config_free(g->l7);
	l7_config_free(g->dns_source);
	free(g->cluster_id);
	for (size_t i = 0; i < g->n_trust_domains; i++)
		free(g->trust_domains[i]);
	free(g->trust_domains);
	free(g);
}

static int cmp_ep(const void *a, const void *b)
{
	uint32_t x = ntohl((*(const struct l7_endpoint *const *)a)->ip);
	uint32_t y = ntohl((*(const struct l7_endpoint *const *)b)->ip);

	return (x > y) - (x < y);
}

static int cmp_ep6(const void *a, const void *b)
{
	return memcmp((*(const struct l7_endpoint *const *)a)->ip6.a,
		      (*(const struct l7_endpoint *const *)b)->ip6.a, 16);
}

/* Every endpoint once by address (each family), for wp_gen_endpoint. */
static int index_endpoints(struct wp_gen *g)
{
	size_t n = 0;

	for (size_t s = 0; s < g->l7->n_services; s++)
		n += g->l7->services[s].n_endpoints;
	g->by_ip = calloc(n + 1, sizeof(*g->by_ip));
	g->by_ip6 = calloc(n + 1, sizeof(*g->by_ip6));
	if (!g->by_ip || !g->by_ip6)
		return -ENOMEM;
	for (size_t s = 0; s < g->l7->n_services; s++)
		for (size_t e = 0; e < g->l7->services[s].n_endpoints; e++) {
			const struct l7_endpoint *ep = &g->l7->services[s].endpoints[e];

			g->by_ip[g->n_by_ip++] = ep;
			if (ep->ip6.family == AF_INET6)
				g->by_ip6[g->n_by_ip6++] = ep;
		}
	qsort(g->by_ip, g->n_by_ip, sizeof(*g->by_ip), cmp_ep);
	qsort(g->by_ip6, g->n_by_ip6, sizeof(*g->by_ip6), cmp_ep6);
	return 0;
}

const struct l7_endpoint *wp_gen_endpoint(const struct wp_gen *g, const struct ipaddr *a)
{
	size_t lo = 0, hi = a->family == AF_INET6 ? g->n_by_ip6 : g->n_by_ip;
	uint32_t ip;

	if (a->family == AF_INET6) {
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = memcmp(g->by_ip6[mid]->ip6.a, a->a, 16);

			if (c < 0)
				lo = mid + 1;
			else if (c > 0)
				hi = mid;
			else
				return g->by_ip6[mid];
		}
		return NULL;
	}
	if (!ipaddr_v4(a, &ip))
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t m = ntohl(g->by_ip[mid]->ip);

		if (m < ntohl(ip))
			lo = mid + 1;
		else if (m > ntohl(ip))
			hi = mid;
		else
			return g->by_ip[mid];
	}
	return NULL;
}

/*
 * Whether @svc's requests to an IPv6 destination go to its endpoints' IPv6 addresses (clusters
 * of their own): a Service's or a workload's in a model that has IPv6 ones. A ServiceEntry's
 * one cluster serves both families (its endpoints are of either: cluster.c), a gateway's
 * tunnelled destinations are IPv4, whichever family the client used.
 */
static bool has_v6_clusters(const struct wp_gen *g, const struct l7_service *svc)
{
	return g->dual && !svc->entry && !svc->via_waypoint;
}

static bool model_dual(const struct l7_config *l7)
{
	for (size_t s = 0; s < l7->n_services; s++) {
		if (l7->services[s].vip6.family)
			return true;
		for (size_t e = 0; e < l7->services[s].n_endpoints; e++)
			if (l7->services[s].endpoints[e].ip6.family)
				return true;
	}
	return false;
}

struct l7_config *wp_l7_copy(const struct l7_config *src, char *err, size_t len)
{
	cJSON *j = l7_to_json(src);
	struct l7_config *c;

	if (!j) {
		snprintf(err, len, "cannot encode the L7 config");
		return NULL;
	}
	c = l7_from_json(j, err, len);
	cJSON_Delete(j);
	return c;
}

/* A cluster warms for at most this long: its DNS names' first answers (Envoy's warming). */
#define DNS_WARM_MS 2000

struct wp_gen *wp_gen_new(struct l7_config *l7, uint64_t version, char *err, size_t len)
{
	struct wp_gen *g = calloc(1, sizeof(*g));
	size_t n = 0;

	if (!g) {
		l7_config_free(l7);
		snprintf(err, len, "out of memory");
		return NULL;
	}
	g->l7 = l7;
	if (!(g->cluster_id = strdup(SNAP_CLUSTER_ID)))
		goto nomem;
	/* Counted before: an answer changing meanwhile makes it built again. */
	g->dns_changes = wp_dns_changes();
	for (size_t s = 0; s < l7->n_services && !g->dns_source; s++)
		if ((l7->services[s].resolution == L7_RES_DNS ||
		     l7->services[s].resolution == L7_RES_DNS_ROUND_ROBIN) &&
		    !(g->dns_source = wp_l7_copy(l7, err, len)))
			goto nomem;
	if (g->dns_source && wp_dns_expand(l7, DNS_WARM_MS))
		goto nomem;
	g->version = version;
	/* Unique in the process, unlike a snapshot's version (an agent restarted counts again). */
	{
		static uint64_t next_seq;

		g->seq = __atomic_add_fetch(&next_seq, 1, __ATOMIC_RELAXED);
	}
	g->refs = 1;
	g->dual = model_dual(l7);
	g->routes = calloc(l7->n_services + 1, sizeof(*g->routes));
	g->cluster_base = calloc(l7->n_services + 1, sizeof(*g->cluster_base));
	if (!g->routes || !g->cluster_base)
		goto nomem;
	for (size_t s = 0; s < l7->n_services; s++) {
		char why[200];

		g->routes[s] = wp_route_table_new(&l7->services[s], why, sizeof(why));
		if (!g->routes[s]) {
			snprintf(err, len, "service %s: %s", l7->services[s].hostname, why);
			gen_free(g);
			errno = EINVAL;
			return NULL;
		}
		g->cluster_base[s] = n;
		n += (l7->services[s].n_subsets + 1) * l7->services[s].n_ports *
		     (has_v6_clusters(g, &l7->services[s]) ? 2 : 1);
	}
	{
		char why[200];

		g->rl = wp_rl_new(l7, clock_mono_ms(), why, sizeof(why));
		if (!g->rl && errno == EINVAL) {
			snprintf(err, len, "rate limits: %s", why);
			gen_free(g);
			return NULL;
		}
		if (!g->rl)
			goto nomem;
	}
	/* A filter that does not parse (the agent checked it) logs every request. */
	if (!(g->log_filters = calloc(l7->n_telemetry + 1, sizeof(*g->log_filters))) ||
	    !(g->tag_values = calloc(l7->n_telemetry + 1, sizeof(*g->tag_values))))
		goto nomem;
	for (size_t i = 0; i < l7->n_telemetry; i++) {
		const struct l7_telemetry *t = &l7->telemetry[i];

		if (!(g->tag_values[i] = calloc(t->n_tag_ops + 1, sizeof(*g->tag_values[i]))))
			goto nomem;
		for (size_t j = 0; j < t->n_tag_ops; j++) {
			char why[200];

			if (t->tag_ops[j].value && !(g->tag_values[i][j] = cel_parse(
							 t->tag_ops[j].value, why, sizeof(why))))
				pr_warn("metric tag %s = \"%s\": %s: the tag says \"unknown\"",
					t->tag_ops[j].tag, t->tag_ops[j].value, why);
		}
	}
	for (size_t i = 0; i < l7->n_telemetry; i++) {
		char why[200];

		if (l7->telemetry[i].log_filter &&
		    !(g->log_filters[i] = cel_parse(l7->telemetry[i].log_filter, why, sizeof(why))))
			pr_warn("access log filter \"%s\": %s: every request is logged",
				l7->telemetry[i].log_filter, why);
	}
	g->clusters = calloc(n + 1, sizeof(*g->clusters));
	g->jwks = calloc(l7->n_jwt + 1, sizeof(*g->jwks));
	g->authz = calloc(l7->n_services + 1, sizeof(*g->authz));
	if (!g->clusters || !g->jwks || !g->authz || index_endpoints(g))
		goto nomem;
	for (size_t s = 0; s < l7->n_services; s++)
		if (l7->services[s].n_authz &&
		    !(g->authz[s] = wp_authz_index_build(l7, &l7->services[s])))
			goto nomem;
	/* A key set that is not one fails its tokens (as Envoy), not the configuration. */
	for (size_t j = 0; j < l7->n_jwt; j++) {
		const struct config_jwt_rule *r = &l7->jwt[j].rule;
		char why[200];

		if (!r->jwks) {
			pr_warn(
			    "RequestAuthentication %s: no JWKS for issuer %s%s%s: its tokens fail",
			    l7->jwt[j].name, r->issuer ? r->issuer : "(any)",
			    r->jwks_uri ? " yet from " : "", r->jwks_uri ? r->jwks_uri : "");
			continue;
		}
		g->jwks[j] = wp_jwks_parse(r->jwks, why, sizeof(why));
		if (!g->jwks[j])
			pr_warn("RequestAuthentication %s: %s: its tokens fail", l7->jwt[j].name,
				why);
	}
	for (size_t s = 0; s < l7->n_services; s++) {
		const struct l7_service *svc = &l7->services[s];

		for (int v6 = 0; v6 <= (has_v6_clusters(g, svc) ? 1 : 0); v6++)
			for (size_t k = 0; k <= svc->n_subsets; k++)
				for (size_t p = 0; p < svc->n_ports; p++) {
					struct wp_cluster *c = &g->clusters[g->n_clusters];

					if (wp_cluster_init(c, svc,
							    k ? svc->subsets[k - 1].name : NULL,
							    svc->ports[p].port, l7->gateway, v6,
							    clock_mono_ms()))
						goto nomem;
					g->n_clusters++;
				}
	}
	return g;
nomem:
	snprintf(err, len, "out of memory");
	gen_free(g);
	errno = ENOMEM;
	return NULL;
}

int wp_gen_set_cluster_id(struct wp_gen *g, const char *id)
{
	char *c = strdup(id && *id ? id : SNAP_CLUSTER_ID);

	if (!c)
		return -ENOMEM;
	free(g->cluster_id);
	g->cluster_id = c;
	return 0;
}

int wp_gen_set_trust_domains(struct wp_gen *g, const char *td, const char *const *aliases, size_t n)
{
	char **l = calloc(n + 1, sizeof(*l));
	size_t k = 0;

	if (!l)
		return -ENOMEM;
	for (size_t i = 0; i <= n; i++) {
		const char *t = i ? aliases[i - 1] : td;
		bool seen = !t || !*t;

		for (size_t j = 0; j < k && !seen; j++)
			seen = !strcmp(l[j], t);
		if (seen)
			continue;
		if (!(l[k] = strdup(t))) {
			while (k)
				free(l[--k]);
			free(l);
			return -ENOMEM;
		}
		k++;
	}
	for (size_t i = 0; i < g->n_trust_domains; i++)
		free(g->trust_domains[i]);
	free(g->trust_domains);
	g->trust_domains = l;
	g->n_trust_domains = k;
	return 0;
}

struct wp_gen *wp_gen_load(const char *path, uint64_t version, char *err, size_t len)
{
	struct l7_config *l7;
	char *text = NULL;
	size_t n = 0;
	cJSON *j;
	int e = fileutil_read_file(path, 0, &text, &n);

	if (e) {
		snprintf(err, len, "%s: %s", path, strerror(-e));
		return NULL;
	}
	j = cJSON_ParseWithLength(text, n);
	free(text);
	if (!j) {
		snprintf(err, len, "%s: not JSON", path);
		errno = EINVAL;
		return NULL;
	}
	{
		char why[256] = "";

		l7 = l7_from_json(j, why, sizeof(why));
		cJSON_Delete(j);
		if (!l7) {
			snprintf(err, len, "%s: %s", path, why);
			errno = EINVAL;
			return NULL;
		}
	}
	return wp_gen_new(l7, version, err, len);
}

void wp_gen_inherit(struct wp_gen *g, struct wp_gen *old)
{
	if (old)
		wp_rl_inherit(g->rl, old->rl);
	for (size_t i = 0; old && i < g->n_clusters; i++) {
		struct wp_cluster *c = &g->clusters[i], *o = NULL;

		for (size_t k = 0; k < old->n_clusters && !o; k++)
			if (!strcmp(old->clusters[k].name, c->name) && old->clusters[k].v6 == c->v6)
				o = &old->clusters[k];
		if (!o || !c->outlier.cfg.present || !o->outlier.cfg.present)
			continue;
		pthread_mutex_lock(&o->lock);
		for (size_t h = 0; h < c->n_hosts; h++)
			for (size_t k = 0; k < o->n_hosts; k++) {
				if (!sockaddr_inet_equal(&c->addr[h], &o->addr[k]))
					continue;
				c->outlier.hosts[h] = o->outlier.hosts[k];
				c->outlier.n_ejected += c->outlier.hosts[h].ejected;
			}
		c->outlier.next_sweep_ms = o->outlier.next_sweep_ms;
		pthread_mutex_unlock(&o->lock);
		c->epoch++;
	}
}

struct wp_gen *wp_gen_get(struct wp_gen *g)
{
	if (g)
		__atomic_add_fetch(&g->refs, 1, __ATOMIC_RELAXED);
	return g;
}

void wp_gen_put(struct wp_gen *g)
{
	if (g && __atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) == 0)
		gen_free(g);
}

int wp_gen_service(const struct wp_gen *g, const char *host, const struct ipaddr *vip)
{
	uint32_t v4 = 0;
	bool v6 = vip && vip->family == AF_INET6 && vip->len == 128;

	if (vip && !ipaddr_v4(vip, &v4))
		v4 = 0;
	for (size_t s = 0; s < g->l7->n_services; s++) {
		const struct l7_service *svc = &g->l7->services[s];

		if (svc->aux) /* an authorizer's upstream: never a request's destination */
			continue;
		if ((host && !strcmp(svc->hostname, host)) || (v4 && svc->vip == v4) ||
		    (v6 && ipaddr_equal(&svc->vip6, vip)))
			return (int)s;
	}
	return -1;
}

struct wp_cluster *wp_gen_east_west(const struct wp_gen *g, int s, uint16_t port, bool v6,
				    bool from_waypoint)
{
	const char *wp = g->l7->services[s].waypoint_host;
	int w;

	if (!wp || from_waypoint)
		return wp_gen_cluster(g, s, NULL, port, v6);
	w = wp_gen_service(g, wp, NULL);
	if (w < 0 || !wp_gen_cluster(g, s, NULL, port, v6))
		return NULL;
	return wp_gen_cluster(g, w, NULL, L7_HBONE_PORT, v6);
}

struct wp_cluster *wp_gen_cluster(const struct wp_gen *g, int s, const char *subset, uint16_t port,
				  bool v6)
{
	const struct l7_service *svc = &g->l7->services[s];
	size_t k = 0, p, base = g->cluster_base[s];

	if (subset) {
		for (k = 0; k < svc->n_subsets; k++)
			if (!strcmp(svc->subsets[k].name, subset))
				break;
		if (k == svc->n_subsets)
			return NULL;
		k++;
	}
	if (v6 && has_v6_clusters(g, svc))
		base += (svc->n_subsets + 1) * svc->n_ports;
	for (p = 0; p < svc->n_ports; p++)
		if (svc->ports[p].port == port)
			return &g->clusters[base + k * svc->n_ports + p];
	return NULL;
}

bool wp_gen_dns_stale(const struct wp_gen *g)
{
	return g->dns_source && wp_dns_changes() != g->dns_changes;
}

struct wp_gen *wp_gen_redo(const struct wp_gen *g, char *err, size_t len)
{
	struct l7_config *l7 = wp_l7_copy(g->dns_source, err, len);
	struct wp_gen *n = l7 ? wp_gen_new(l7, g->version, err, len) : NULL;

	if (n && (wp_gen_set_cluster_id(n, g->cluster_id) ||
		  wp_gen_set_trust_domains(n, NULL, (const char *const *)g->trust_domains,
					   g->n_trust_domains))) {
		wp_gen_put(n);
		snprintf(err, len, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	return n;
}
