// SPDX-License-Identifier: Apache-2.0
/*
 * A realistic node-level struct snapshot of a 10,000-pod cluster (deterministic):
 *   100 nodes (ip-10-128-N-M.eu-west-1.compute.internal), this node = node 0;
 *   40 namespaces x 25 workloads (Deployments, 2 in 25 StatefulSets) x 10 pods = 10,000 pods;
 *   1,000 Services, one per workload, 1-3 ports, endpoints = its 10 pods' IPs;
 *   20% of workloads dual-stack (pods have ip6, Service has vip6);
 *   36 of 40 namespaces enrolled; 4 namespaces with a waypoint (Services bound; in 2 of them
 *   the pods too); 2% of Services with per-endpoint ports (endpointPorts);
 *   20 ServiceEntries (MESH_EXTERNAL, DNS); certs for each distinct identity on this node
 *   (RSA-2048-sized: 1,200-byte cert PEM + 1,704-byte PKCS#8 key PEM), root PEM 1,200 bytes.
 * No policies, no l7 (not part of this comparison).
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define N_NODES 100
#define N_NS 40
#define WL_PER_NS 25
#define PODS_PER_WL 10
#define N_ENTRIES 20

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		abort();
	return p;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	char *p;
	va_list ap;

	va_start(ap, f);
	if (vasprintf(&p, f, ap) < 0)
		abort();
	va_end(ap);
	return p;
}

static uint32_t ip4(int a, int b, int c, int d)
{
	return htonl((uint32_t)a << 24 | (uint32_t)b << 16 | (uint32_t)c << 8 | (uint32_t)d);
}

static void ip6_of(struct ipaddr *x, uint16_t g2, uint16_t g3, uint16_t g4, uint16_t last)
{
	/* fd00:10:<g2>:<g3>:<g4>::<last> */
	uint16_t g[8] = {0xfd00, 0x10, g2, g3, g4, 0, 0, last};

	memset(x, 0, sizeof(*x));
	x->family = AF_INET6;
	x->len = 128;
	for (int i = 0; i < 8; i++) {
		x->a[2 * i] = g[i] >> 8;
		x->a[2 * i + 1] = g[i] & 0xff;
	}
}

/* A PEM block of @len bytes (random base64 body, 64-column lines), like a real one. */
static char *pem(const char *label, size_t len)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *p = malloc(len + 1), head[64], tail[64];
	size_t h = (size_t)snprintf(head, sizeof(head), "-----BEGIN %s-----\n", label);
	size_t t = (size_t)snprintf(tail, sizeof(tail), "-----END %s-----\n", label);
	size_t i = 0, col = 0;

	memcpy(p, head, h);
	i = h;
	while (i < len - t) {
		if (col == 64 || i == len - t - 1) {
			p[i++] = '\n';
			col = 0;
		} else {
			p[i++] = b64[rnd() & 63];
			col++;
		}
	}
	memcpy(p + i, tail, t);
	p[len] = 0;
	return p;
}

static const char *const teams[] = {"payments", "checkout", "catalog",	 "search",  "identity",
				    "orders",	"shipping", "inventory", "billing", "notify"};
static const char *const envs[] = {"prod", "staging", "canary", "sandbox"};
static const char *const w1[] = {
    "order",   "cart",	  "user",    "product", "price",  "review", "stock",  "invoice", "session",
    "profile", "ledger",  "payment", "email",	"report", "quote",  "auth",   "gateway", "media",
    "search",  "ranking", "audit",   "token",	"refund", "coupon", "address"};
static const char *const w2[] = {"service", "api", "worker", "frontend", "backend", "sync"};
static const char *const portnames[][3] = {
    {"http", "", ""}, {"http", "grpc", ""}, {"http-web", "grpc", "http-monitoring"}};

struct wl {
	char *name, *ns, *sa;
	int sts, dual, nports;
	uint32_t vip;
};

static struct snap_waypoint *waypoint_for(int ns_i, const char *ns)
{
	struct snap_waypoint *w = calloc(1, sizeof(*w));

	w->name = fmt("%s/waypoint", ns);
	w->identity = fmt("spiffe://cluster.local/ns/%s/sa/waypoint", ns);
	w->hostname = fmt("waypoint.%s.svc.cluster.local", ns);
	w->n_addresses = 3;
	w->addresses = calloc(3, sizeof(uint32_t));
	w->addresses[0] = ip4(10, 96, 200, ns_i);
	w->addresses[1] = ip4(10, 64, 50 + ns_i, 250);
	w->addresses[2] = ip4(10, 64, 60 + ns_i, 250);
	w->port = 15008;
	return w;
}

struct snapshot *gen_snapshot(void)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	static struct wl wls[N_NS * WL_PER_NS];
	char *nsnames[N_NS], *nodes[N_NODES];
	uint32_t node_ips[N_NODES];
	int node_fill[N_NODES] = {0};
	size_t nw = 0, ncert = 0;

	for (int n = 0; n < N_NODES; n++) {
		node_ips[n] = ip4(10, 128, n / 16, 10 + n % 16 * 7);
		nodes[n] =
		    fmt("ip-10-128-%d-%d.eu-west-1.compute.internal", n / 16, 10 + n % 16 * 7);
	}
	for (int i = 0; i < N_NS; i++)
		nsnames[i] = fmt("%s-%s", teams[i % 10], envs[i / 10]);

	s->version = 184467;
	s->node = xstrdup(nodes[0]);
	s->node_ip = node_ips[0];
	s->trust_domain = xstrdup("cluster.local");
	s->root_pem = pem("CERTIFICATE", 1200);
	s->capture = SNAP_CAPTURE_INPOD;
	s->n_workloads = N_NS * WL_PER_NS * PODS_PER_WL;
	s->workloads = calloc(s->n_workloads, sizeof(*s->workloads));
	s->n_services = N_NS * WL_PER_NS;
	s->services = calloc(s->n_services, sizeof(*s->services));
	s->certs = calloc(200, sizeof(*s->certs));

	for (int n = 0; n < N_NS; n++) {
		int wp = n % 10 == 3; /* 4 namespaces with a waypoint */
		int wp_pods = wp && n < 20;
		int enrolled = n % 10 != 9;

		for (int k = 0; k < WL_PER_NS; k++) {
			int wi = n * WL_PER_NS + k;
			struct wl *l = &wls[wi];
			struct snap_service *svc = &s->services[wi];
			int v = 1 + (int)(rnd() % 3);
			char rs[11];

			l->ns = nsnames[n];
			l->name = fmt("%s-%s", w1[k], w2[(n + k) % 6]);
			l->sts = k == 7 || k == 19; /* 2 StatefulSets per namespace */
			l->sa = rnd() % 10 < 3 ? "default" : l->name;
			l->dual = rnd() % 5 == 0;
			l->nports = 1 + (int)(rnd() % 100 >= 50) + (int)(rnd() % 100 >= 70);
			l->vip = ip4(10, 96, wi / 250, 1 + wi % 250);
			for (int j = 0; j < 10; j++)
				rs[j] = "0123456789bcdfghjklmnpqrstvwxz"[rnd() % 30];
			rs[10] = 0;

			svc->name = xstrdup(l->name);
			svc->namespace = xstrdup(l->ns);
			svc->hostname = fmt("%s.%s.svc.cluster.local", l->name, l->ns);
			svc->vip = l->vip;
			if (l->dual)
				ip6_of(&svc->vip6, 0x96, 0, (uint16_t)(wi >> 8), (uint16_t)wi);
			svc->nports = (size_t)l->nports;
			svc->ports = calloc(svc->nports, sizeof(*svc->ports));
			for (int p = 0; p < l->nports; p++) {
				static const uint16_t port[] = {80, 9090, 15014},
						      tport[] = {8080, 9090, 15014};

				svc->ports[p].name = xstrdup(portnames[l->nports - 1][p]);
				svc->ports[p].port = port[p];
				svc->ports[p].target_port = tport[p];
			}
			svc->nendpoints = PODS_PER_WL;
			svc->endpoints = calloc(PODS_PER_WL, sizeof(uint32_t));
			if (wp)
				svc->waypoint = waypoint_for(n, l->ns);
			if (wi % 50 == 17) {
				svc->n_ep_ports = PODS_PER_WL;
				svc->ep_ports = calloc(PODS_PER_WL, sizeof(*svc->ep_ports));
			}

			for (int p = 0; p < PODS_PER_WL; p++) {
				struct snap_workload *w = &s->workloads[nw++];
				int node = (int)(rnd() % N_NODES);
				char sfx[6];

				while (node_fill[node] >= 110)
					node = (node + 1) % N_NODES;
				for (int j = 0; j < 5; j++)
					sfx[j] = "0123456789bcdfghjklmnpqrstvwxz"[rnd() % 30];
				sfx[5] = 0;
				if (l->sts)
					w->name = fmt("%s-%d", l->name, p);
				else
					w->name = fmt("%s-%s-%s", l->name, rs, sfx);
				w->uid = fmt("%s/%s", l->ns, w->name);
				w->namespace = xstrdup(l->ns);
				w->service_account = xstrdup(l->sa);
				w->identity =
				    fmt("spiffe://cluster.local/ns/%s/sa/%s", l->ns, l->sa);
				w->node = xstrdup(nodes[node]);
				w->workload_name = xstrdup(l->name);
				w->app = xstrdup(l->name);
				w->version = fmt("v%d", v);
				w->canonical_service = xstrdup(l->name);
				w->canonical_revision = fmt("v%d", v);
				if (l->sts) {
					w->hostname = xstrdup(w->name);
					w->subdomain = xstrdup(l->name);
				}
				w->ip = ip4(10, 64, node, 2 + node_fill[node]);
				if (l->dual)
					ip6_of(&w->ip6, 0x64, (uint16_t)node, 0,
					       (uint16_t)(2 + node_fill[node]));
				node_fill[node]++;
				w->node_ip = node_ips[node];
				w->enrolled = enrolled;
				if (wp_pods)
					w->waypoint = waypoint_for(n, l->ns);
				svc->endpoints[p] = w->ip;
				if (svc->ep_ports) {
					svc->ep_ports[p].ip = w->ip;
					svc->ep_ports[p].port = 80;
					svc->ep_ports[p].target_port = (uint16_t)(8080 + p % 2);
				}
				/* One cert per distinct identity running on this node. */
				if (node == 0 && enrolled &&
				    !snapshot_cert_by_identity(s, w->identity)) {
					struct snap_cert *c = &s->certs[ncert++];

					s->n_certs = ncert;
					c->identity = xstrdup(w->identity);
					c->cert_pem = pem("CERTIFICATE", 1200);
					c->key_pem = pem("PRIVATE KEY", 1704);
					c->not_before = 1764403200;
					c->not_after = 1764489600;
				}
			}
		}
	}

	s->n_entries = N_ENTRIES;
	s->entries = calloc(N_ENTRIES, sizeof(*s->entries));
	for (int i = 0; i < N_ENTRIES; i++) {
		static const char *const hosts[] = {"api.stripe.com", "hooks.slack.com",
						    "sqs.eu-west-1.amazonaws.com",
						    "www.googleapis.com", "api.github.com"};
		struct snap_service *e = &s->entries[i];

		e->name = fmt("%s%s", i < 5 ? "" : (i < 10 ? "eu." : (i < 15 ? "us." : "ap.")),
			      hosts[i % 5]);
		e->hostname = xstrdup(e->name);
		e->namespace = xstrdup(nsnames[i]);
		e->kind = SNAP_SVC_MESH_EXTERNAL;
		e->resolution = SNAP_RES_DNS;
		e->vip = ip4(240, 240, 0, 1 + i);
		ip6_of(&e->vip6, 0, 0, 0, (uint16_t)(1 + i));
		e->vip6.a[0] = 0x20, e->vip6.a[1] = 0x01, e->vip6.a[2] = 0, e->vip6.a[3] = 0x02;
		e->nports = 1;
		e->ports = calloc(1, sizeof(*e->ports));
		e->ports[0].name = xstrdup("tls");
		e->ports[0].port = 443;
		e->ports[0].target_port = 443;
		e->n_names = 1;
		e->names = calloc(1, sizeof(char *));
		e->names[0] = xstrdup(e->name);
		if (i % 4 == 1) {
			e->n_export_to = 1;
			e->export_to = calloc(2, sizeof(char *));
			e->export_to[0] = xstrdup(nsnames[i]);
		}
	}
	for (int n = 0; n < N_NODES; n++)
		free(nodes[n]);
	for (int i = 0; i < N_NS * WL_PER_NS; i++)
		free(wls[i].name);
	/* nsnames are referenced only through copies */
	for (int i = 0; i < N_NS; i++)
		free(nsnames[i]);
	return s;
}
