// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/config.h"
#include "remote.h"

#define REMOTE_V4 0xf0f40000u /* 240.244.0.0/16 */
#define REMOTE_V4_MAX 0xfffeu
static const uint8_t remote_v6[8] = {0xfd, 0xff, 0xa3, 0xb1, 0x7e, 0x00, 0x00, 0x00};

/*
 * The process's numbering of remote hosts: a (Service, cluster, slot) keeps its number, so its
 * address, for as long as the waypoint runs, and an open started under one generation reaches
 * the same share under the next. Numbers are never reused (at most REMOTE_V4_MAX).
 */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static char **reg;
static size_t n_reg;

/* The number of @key (1-based), given one if new; -ENOSPC or -ENOMEM. */
static int reg_number(const char *key)
{
	int k = 0;

	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < n_reg && !k; i++)
		if (!strcmp(reg[i], key))
			k = (int)i + 1;
	if (!k && n_reg >= REMOTE_V4_MAX)
		k = -ENOSPC;
	if (!k) {
		char **grown = realloc(reg, (n_reg + 1) * sizeof(*grown));

		if (grown)
			reg = grown;
		if (grown && (reg[n_reg] = strdup(key)))
			k = (int)++n_reg;
		else
			k = -ENOMEM;
	}
	pthread_mutex_unlock(&reg_lock);
	return k;
}

/* @s copied into the table's strings; NULL on failure. */
static const char *keep(struct wp_remotes *r, const char *s)
{
	char **grown = realloc(r->strings, (r->n_strings + 1) * sizeof(*grown));

	if (!grown)
		return NULL;
	r->strings = grown;
	grown[r->n_strings] = strdup(s ? s : "");
	return grown[r->n_strings] ? grown[r->n_strings++] : NULL;
}

/* The table's gateways of @network (added from @s once): first index and count into *@n. */
static int gateways_of(struct wp_remotes *r, const struct snapshot *s, const char *network,
		       size_t *first, size_t *n)
{
	for (size_t i = 0; i < r->n_gateways; i++)
		if (!strcmp(r->gateways[i].network, network)) {
			*first = i;
			for (*n = 0; i < r->n_gateways && !strcmp(r->gateways[i].network, network);
			     i++)
				(*n)++;
			return 0;
		}
	*first = r->n_gateways;
	*n = 0;
	for (size_t i = 0; i < s->n_net_gateways; i++) {
		const struct snap_net_gateway *g = &s->net_gateways[i];
		struct wp_remote_gateway *grown;

		if (!g->network || strcmp(g->network, network) || (!g->ip && !g->ip6.family))
			continue;
		grown = realloc(r->gateways, (r->n_gateways + 1) * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		r->gateways = grown;
		grown += r->n_gateways;
		memset(grown, 0, sizeof(*grown));
		if (g->ip)
			sockaddr_inet_v4(&grown->addr, g->ip, g->port ? g->port : L7_HBONE_PORT);
		else if (sockaddr_inet_from_ipaddr(&grown->addr, &g->ip6,
						   g->port ? g->port : L7_HBONE_PORT))
			continue;
		grown->identity = strdup(g->identity ? g->identity : "");
		grown->network = strdup(network);
		if (!grown->identity || !grown->network) {
			free(grown->identity);
			free(grown->network);
			return -ENOMEM;
		}
		r->n_gateways++;
		(*n)++;
	}
	return 0;
}

/* @r's identities, space-separated, into the table's strings. */
static const char *sans_of(struct wp_remotes *t, const struct snap_remote_service *r)
{
	size_t len = 1;
	char *buf;
	const char *kept;

	for (size_t i = 0; i < r->n_identities; i++)
		len += strlen(r->identities[i]) + 1;
	buf = calloc(1, len);
	if (!buf)
		return NULL;
	for (size_t i = 0; i < r->n_identities; i++) {
		if (i)
			strcat(buf, " ");
		strcat(buf, r->identities[i]);
	}
	kept = keep(t, buf);
	free(buf);
	return kept;
}

/* One host of @r's share at slot @slot in @svc, as t->hosts[h]. */
static int add_host(struct wp_remotes *t, struct l7_service *svc,
		    const struct snap_remote_service *r, const char *sans, size_t gw_first,
		    size_t gw_n, unsigned int slot)
{
	struct l7_endpoint *grown =
	    realloc(svc->endpoints, (svc->n_endpoints + 1) * sizeof(*grown));
	struct wp_remote_host *hosts, *h;
	struct l7_endpoint *e;
	char key[512];
	int k;

	if (!grown)
		return -ENOMEM;
	snprintf(key, sizeof(key), "%s\n%s\n%u", svc->hostname, r->cluster, slot);
	k = reg_number(key);
	if (k < 0)
		return k;
	svc->endpoints = grown;
	hosts = realloc(t->hosts, (t->n_hosts + 1) * sizeof(*hosts));
	if (!hosts)
		return -ENOMEM;
	t->hosts = hosts;
	h = &hosts[t->n_hosts];
	memset(h, 0, sizeof(*h));
	h->k = (uint32_t)k;
	h->ip = htonl(REMOTE_V4 | (uint32_t)k);
	h->ip6.family = AF_INET6;
	h->ip6.len = 128;
	memcpy(h->ip6.a, remote_v6, sizeof(remote_v6));
	h->ip6.a[14] = (uint8_t)(k >> 8);
	h->ip6.a[15] = (uint8_t)k;
	h->hostname = keep(t, svc->hostname);
	h->sans = sans;
	h->network = keep(t, r->network);
	if (!h->hostname || !h->network)
		return -ENOMEM;
	h->slot = slot;
	h->first_gateway = gw_first;
	h->n_gateways = gw_n;
	e = &grown[svc->n_endpoints];
	memset(e, 0, sizeof(*e));
	e->ip = h->ip;
	e->ip6 = h->ip6;
	e->ports = calloc(svc->n_ports + 1, sizeof(*e->ports));
	/* As Istio's waypoint names a remote endpoint's identity: the first of its share's. */
	e->identity = strdup(r->n_identities ? r->identities[0] : "");
	if (asprintf(&e->pod, "%s/%s-%u", r->cluster, svc->name ? svc->name : svc->hostname, slot) <
	    0)
		e->pod = NULL;
	if (!e->ports || !e->identity || !e->pod ||
	    config_labels_add(&e->labels, "topology.istio.io/cluster", r->cluster) ||
	    config_labels_add(&e->labels, "topology.istio.io/network", r->network)) {
		free(e->ports);
		free(e->identity);
		free(e->pod);
		config_labels_free(&e->labels);
		return -ENOMEM;
	}
	/* The Service's own ports where the share has them: the CONNECT names <hostname>:<port>. */
	for (size_t p = 0; p < svc->n_ports; p++)
		for (size_t q = 0; q < r->n_ports; q++)
			if (r->ports[q] == svc->ports[p].port)
				e->ports[p] = svc->ports[p].port;
	svc->n_endpoints++;
	t->n_hosts++;
	return 0;
}

static int host_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct wp_remote_host *)a)->k,
		 y = ((const struct wp_remote_host *)b)->k;

	return x < y ? -1 : x > y;
}

struct wp_remotes *wp_remotes_add(struct l7_config *l7, const struct snapshot *s, int *err)
{
	struct wp_remotes *t = calloc(1, sizeof(*t));
	int ret = t ? 0 : -ENOMEM;

	for (size_t i = 0; !ret && i < l7->n_services; i++) {
		struct l7_service *svc = &l7->services[i];
		const struct snap_service *ss;

		if (svc->aux || svc->entry || !svc->hostname)
			continue;
		ss = snapshot_service_by_hostname(s, svc->hostname);
		for (size_t k = 0; !ret && ss && k < ss->n_remote; k++) {
			const struct snap_remote_service *r = &ss->remote[k];
			size_t first, n, slots = r->endpoints;
			const char *sans = sans_of(t, r);

			if (!sans) {
				ret = -ENOMEM;
				break;
			}
			ret = gateways_of(t, s, r->network ? r->network : "", &first, &n);
			/* No gateway known of its network: nothing reaches it (Istio's too). */
			if (ret || !n || !r->network)
				continue;
			slots = slots > WP_REMOTE_SLOTS_MAX ? WP_REMOTE_SLOTS_MAX : slots;
			for (unsigned int slot = 0; !ret && slot < slots; slot++)
				ret = add_host(t, svc, r, sans, first, n, slot);
		}
	}
	if (!ret && t && !(t->network = strdup(s->network ? s->network : "")))
		ret = -ENOMEM;
	if (!ret && t->n_hosts)
		qsort(t->hosts, t->n_hosts, sizeof(*t->hosts), host_cmp);
	if (ret || !t->n_hosts) {
		wp_remotes_free(t);
		*err = ret;
		return NULL;
	}
	*err = 0;
	return t;
}

const struct wp_remote_host *wp_remote_find(const struct wp_remotes *r,
					    const union sockaddr_inet *dst)
{
	size_t k;

	if (!r)
		return NULL;
	if (dst->sa.sa_family == AF_INET) {
		uint32_t a = ntohl(dst->v4.sin_addr.s_addr);

		if ((a & 0xffff0000u) != REMOTE_V4)
			return NULL;
		k = a & 0xffffu;
	} else {
		const uint8_t *a = dst->v6.sin6_addr.s6_addr;

		if (memcmp(a, remote_v6, sizeof(remote_v6)))
			return NULL;
		k = (size_t)a[14] << 8 | a[15];
	}
	struct wp_remote_host want = {.k = (uint32_t)k};

	return bsearch(&want, r->hosts, r->n_hosts, sizeof(*r->hosts), host_cmp);
}

void wp_remotes_free(struct wp_remotes *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_gateways; i++) {
		free(r->gateways[i].identity);
		free(r->gateways[i].network);
	}
	for (size_t i = 0; i < r->n_strings; i++)
		free(r->strings[i]);
	free(r->strings);
	free(r->gateways);
	free(r->hosts);
	free(r->network);
	free(r);
}

/* ---- one network: other clusters' pods, reached as this cluster's are ---- */

/* The cluster of a peer workload (its uid "<cluster>/<ns>/<name>"), into @out; false: a local one.
 */
static bool peer_cluster(const struct snap_workload *w, char *out, size_t len)
{
	const char *a = w->uid ? strchr(w->uid, '/') : NULL;

	if (!a || !strchr(a + 1, '/') || (size_t)(a - w->uid) >= len)
		return false;
	memcpy(out, w->uid, (size_t)(a - w->uid));
	out[a - w->uid] = '\0';
	return true;
}

/* An address of either family, ordered (IPv4 first) for the look-ups below. */
static int addr_cmp(const void *a, const void *b)
{
	const struct ipaddr *x = a, *y = b;

	if (x->family != y->family)
		return x->family == AF_INET ? -1 : 1;
	return memcmp(x->a, y->a, sizeof(x->a));
}

/* Workload @w's addresses (one or two) appended to @out at *@n. */
static void addrs_of(struct ipaddr *out, size_t *n, uint32_t ip, const struct ipaddr *ip6)
{
	if (ip)
		ipaddr_from_v4(&out[(*n)++], ip);
	if (ip6 && ip6->family == AF_INET6)
		out[(*n)++] = *ip6;
}

/* The peer workloads by address: each workload of another cluster under each of its addresses. */
struct peer_key {
	struct ipaddr a; /* first: addr_cmp compares keys */
	const struct snap_workload *w;
	size_t *added; /* the last Service it joined, plus one: shared by its keys */
};

struct peer_index {
	struct peer_key *keys;
	size_t n;
	size_t *added;
};

static int peer_index_build(struct peer_index *ix, const struct snapshot *s)
{
	char cluster[256];

	memset(ix, 0, sizeof(*ix));
	ix->keys = calloc(2 * s->n_workloads + 1, sizeof(*ix->keys));
	ix->added = calloc(s->n_workloads + 1, sizeof(*ix->added));
	if (!ix->keys || !ix->added)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_workloads; i++) {
		const struct snap_workload *w = &s->workloads[i];
		struct ipaddr a[2];
		size_t n = 0;

		if (!w->identity || !peer_cluster(w, cluster, sizeof(cluster)))
			continue;
		addrs_of(a, &n, w->ip, &w->ip6);
		for (size_t k = 0; k < n; k++)
			ix->keys[ix->n++] = (struct peer_key){a[k], w, &ix->added[i]};
	}
	qsort(ix->keys, ix->n, sizeof(*ix->keys), addr_cmp);
	return 0;
}

static const struct peer_key *peer_find(const struct peer_index *ix, const struct ipaddr *a)
{
	return bsearch(a, ix->keys, ix->n, sizeof(*ix->keys), addr_cmp);
}

/* @svc's own endpoints' addresses, sorted: a peer the model already has is not added again. */
static struct ipaddr *own_addrs(const struct l7_service *svc, size_t *n)
{
	struct ipaddr *a = calloc(2 * svc->n_endpoints + 1, sizeof(*a));

	*n = 0;
	if (!a)
		return NULL;
	for (size_t i = 0; i < svc->n_endpoints; i++)
		addrs_of(a, n, svc->endpoints[i].ip, &svc->endpoints[i].ip6);
	qsort(a, *n, sizeof(*a), addr_cmp);
	return a;
}

static bool has_addr(const struct ipaddr *own, size_t n, const struct snap_workload *w)
{
	struct ipaddr a[2];
	size_t k = 0;

	addrs_of(a, &k, w->ip, &w->ip6);
	for (size_t i = 0; i < k; i++)
		if (bsearch(&a[i], own, n, sizeof(*own), addr_cmp))
			return true;
	return false;
}

/* Where peer @w (at @ip, else @ip6) takes each of @svc's ports that @ss has (0: not one). */
static void peer_ports(uint16_t *ports, const struct l7_service *svc, const struct snap_service *ss,
		       uint32_t ip, const struct ipaddr *ip6)
{
	for (size_t p = 0; p < svc->n_ports; p++)
		for (size_t q = 0; q < ss->nports; q++)
			if (ss->ports[q].port == svc->ports[p].port)
				ports[p] = ip ? snapshot_endpoint_port(ss, &ss->ports[q], ip)
					      : snapshot_endpoint_port6(ss, &ss->ports[q], ip6);
}

/*
 * Peer workload @w of @cluster as an endpoint of @svc (its identity when in the mesh there), in
 * each subset its labels select.
 */
static int add_peer(struct l7_service *svc, const struct snap_service *ss,
		    const struct snap_workload *w, const char *cluster, const char *network)
{
	struct l7_endpoint *grown =
	    realloc(svc->endpoints, (svc->n_endpoints + 1) * sizeof(*grown));
	struct l7_endpoint *e;
	uint32_t at = (uint32_t)svc->n_endpoints;

	if (!grown)
		return -ENOMEM;
	svc->endpoints = grown;
	e = &grown[svc->n_endpoints];
	memset(e, 0, sizeof(*e));
	e->ip = w->ip;
	e->ip6 = w->ip6;
	e->pod = strdup(w->uid);
	e->workload = strdup(w->workload_name ? w->workload_name : w->name);
	e->node = strdup(w->node ? w->node : "");
	/* Outside the mesh there: plaintext, as to such a pod here. */
	e->identity = w->enrolled ? strdup(w->identity) : NULL;
	e->ports = calloc(svc->n_ports + 1, sizeof(*e->ports));
	if (!e->pod || !e->workload || !e->node || (w->enrolled && !e->identity) || !e->ports ||
	    config_labels_add(&e->labels, "app", w->app ? w->app : w->name) ||
	    config_labels_add(&e->labels, "version", w->version ? w->version : "latest") ||
	    config_labels_add(&e->labels, "topology.istio.io/cluster", cluster) ||
	    config_labels_add(&e->labels, "topology.istio.io/network", network)) {
		free(e->pod);
		free(e->workload);
		free(e->node);
		free(e->identity);
		free(e->ports);
		config_labels_free(&e->labels);
		return -ENOMEM;
	}
	peer_ports(e->ports, svc, ss, w->ip, &w->ip6);
	svc->n_endpoints++;
	/* A subset by version (or app, cluster, network) takes the other cluster's pods too. */
	for (size_t i = 0; i < svc->n_subsets; i++) {
		struct l7_subset *sub = &svc->subsets[i];
		uint32_t *idx;

		if (!config_labels_match(&sub->labels, &e->labels))
			continue;
		idx = realloc(sub->endpoints, (sub->n_endpoints + 1) * sizeof(*idx));
		if (!idx)
			return -ENOMEM;
		sub->endpoints = idx;
		idx[sub->n_endpoints++] = at;
	}
	return 0;
}

int wp_peers_add(struct l7_config *l7, const struct snapshot *s)
{
	const char *network = s->network ? s->network : "";
	struct peer_index ix;
	char cluster[256];
	int err = peer_index_build(&ix, s);

	for (size_t i = 0; !err && ix.n && i < l7->n_services; i++) {
		struct l7_service *svc = &l7->services[i];
		const struct snap_service *ss;
		struct ipaddr *own;
		size_t n_own;

		if (svc->aux || svc->entry || svc->via_waypoint || !svc->hostname)
			continue;
		ss = snapshot_service_by_hostname(s, svc->hostname);
		if (!ss || !(ss->nendpoints + ss->nendpoints6))
			continue;
		own = own_addrs(svc, &n_own);
		if (!own) {
			err = -ENOMEM;
			break;
		}
		for (size_t k = 0; !err && k < ss->nendpoints + ss->nendpoints6; k++) {
			struct ipaddr a;
			const struct peer_key *p;

			if (k < ss->nendpoints)
				ipaddr_from_v4(&a, ss->endpoints[k]);
			else
				a = ss->endpoints6[k - ss->nendpoints];
			p = peer_find(&ix, &a);
			/* A dual-stack peer is one endpoint, whichever of its addresses came first.
			 */
			if (!p || *p->added == i + 1 || has_addr(own, n_own, p->w) ||
			    !peer_cluster(p->w, cluster, sizeof(cluster)))
				continue;
			*p->added = i + 1;
			err = add_peer(svc, ss, p->w, cluster, network);
		}
		free(own);
	}
	free(ix.keys);
	free(ix.added);
	return err;
}
