// SPDX-License-Identifier: Apache-2.0
/*
 * The service graph, as Kiali's versioned-app graph draws it: namespaces boxing apps boxing
 * their workloads (one node per version), Services between callers and the workloads behind
 * them, waypoints and gateways as workloads of their own role. Edges come from Istio's
 * metrics in Prometheus over the chosen duration: HTTP and gRPC from istio_requests_total as
 * the waypoints and gateways report it (reporter "waypoint", and "source" for a gateway, a
 * pair a waypoint reports taking precedence, so no request counts twice), with p99 from
 * istio_request_duration_milliseconds; TCP from the ztunnels' istio_tcp_*_bytes_total at the
 * destination, for pairs no L7 proxy reports. Each edge's mTLS share is its requests' or bytes'
 * connection_security_policy="mutual_tls" (a gateway's requests, which say "unknown", take the
 * ztunnel's view of the same pair). Health uses Kiali's default tolerances: 5xx and gRPC
 * errors degraded above 0 and failing from 10%, 4xx degraded from 10% and failing from 20%.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "dashboard.h"
#include "lib/array.h"

enum proto { P_HTTP, P_GRPC, P_TCP, P_UDP };
static const char *const proto_names[] = {"http", "grpc", "tcp", "udp"};

struct gnode {
	char *id;
	cJSON *json; /* owned by the graph's nodes array */
	double in_rps, in_4xx, in_5xx, in_tcp, out_rps, out_tcp;
};

struct gedge {
	char *src, *dst;
	enum proto proto;
	double rps, codes[6], grpc_err, sec_known, mtls, bytes, p99;
	bool have_p99;
	char waypoint[300];
};

struct graph {
	/*
	 * The index, open addressing on XXH3 (glibc's hsearch hashes little more than a key's
	 * first characters, and these keys share long prefixes): "n:<id>" -> gnode,
	 * "e:<src>|<dst>|<proto>" -> gedge; slots hold indexes into keys/vals, + 1 (0: empty).
	 */
	size_t *slots, n_slots;
	void **vals;
	size_t cap_vals;
	struct gnode **nodes;
	size_t n_nodes, cap_nodes;
	struct gedge **edges;
	size_t n_edges, cap_edges;
	char **keys;
	size_t n_keys, cap_keys;
	cJSON *doc, *jnodes;
	const struct dash_view *v;
	bool via_wp; /* requests drawn through the waypoint that carried them */
	/*
	 * Also in idx, by prefix: "role:ns/wl" -> its role (static), "pod:ns/pod" -> its workload
	 * (borrowed from pods.json), "hp:" the pairs of workloads HTTP samples join, "hs:"/"hd:"
	 * the workloads they start or end at, "wp:" the caller-Service pairs a waypoint reports,
	 * "ps:" a pair's connections by security and "pss:" a source's (struct pairsec), "keep:",
	 * "wpof:" the waypoint's gnode that carried a caller-Service pair's requests (via_wp).
	 */
	void **owned; /* what the entries point to, freed with the graph */
	size_t n_owned, cap_owned;
};

/* The slot of @key: where it is, or the empty one where it would go. */
static size_t idx_slot(const struct graph *g, const char *key)
{
	size_t mask = g->n_slots - 1, i = (size_t)XXH3_64bits(key, strlen(key)) & mask;

	while (g->slots[i] && strcmp(g->keys[g->slots[i] - 1], key))
		i = (i + 1) & mask;
	return i;
}

static void *idx_get(struct graph *g, const char *key)
{
	size_t i = g->n_slots ? idx_slot(g, key) : 0;

	return g->n_slots && g->slots[i] ? g->vals[g->slots[i] - 1] : NULL;
}

/* Twice the slots (at first 4096) when @g's keys fill half of them. */
static bool idx_grow(struct graph *g)
{
	size_t *old = g->slots, n_old = g->n_slots;

	if (g->n_keys + 1 <= g->n_slots / 2)
		return true;
	g->n_slots = n_old ? n_old * 2 : 4096;
	g->slots = calloc(g->n_slots, sizeof(*g->slots));
	if (!g->slots) {
		g->slots = old;
		g->n_slots = n_old;
		return false;
	}
	for (size_t i = 0; i < n_old; i++)
		if (old[i])
			g->slots[idx_slot(g, g->keys[old[i] - 1])] = old[i];
	free(old);
	return true;
}

/* @key -> @data (a key already there keeps its data). */
static bool idx_put(struct graph *g, const char *key, void *data)
{
	char *k;
	size_t i;

	if (!idx_grow(g))
		return false;
	i = idx_slot(g, key);
	if (g->slots[i])
		return true;
	k = strdup(key);
	if (!k || array_grow((void **)&g->keys, &g->cap_keys, g->n_keys, sizeof(char *)) ||
	    array_grow((void **)&g->vals, &g->cap_vals, g->n_keys, sizeof(void *))) {
		free(k);
		return false;
	}
	g->keys[g->n_keys] = k;
	g->vals[g->n_keys++] = data;
	g->slots[i] = g->n_keys;
	return true;
}

/* Entry @prefix:@key of idx, or NULL. */
static void *set_get(struct graph *g, const char *prefix, const char *key)
{
	char k[1500];

	str_fmt(k, sizeof(k), "%s:%s", prefix, key);
	return idx_get(g, k);
}

/* Adds @prefix:@key -> @data unless there; the data there (or @data). */
static void *set_add(struct graph *g, const char *prefix, const char *key, void *data)
{
	char k[1500];
	void *have;

	str_fmt(k, sizeof(k), "%s:%s", prefix, key);
	have = idx_get(g, k);
	if (have)
		return have;
	return idx_put(g, k, data) ? data : NULL;
}

struct pairsec {
	double total, mtls;
};

/* The pairsec at @prefix:@key, made when new. */
static struct pairsec *pairsec(struct graph *g, const char *prefix, const char *key)
{
	struct pairsec *ps = set_get(g, prefix, key);

	if (ps)
		return ps;
	ps = calloc(1, sizeof(*ps));
	if (!ps || array_grow((void **)&g->owned, &g->cap_owned, g->n_owned, sizeof(void *)) ||
	    !set_add(g, prefix, key, ps)) {
		free(ps);
		return NULL;
	}
	g->owned[g->n_owned++] = ps;
	return ps;
}

static const char *jstr(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static bool known(const char *s)
{
	return s && *s && strcmp(s, "unknown");
}

/* Node @id, made with @parent and the fields set by the caller when new. */
static struct gnode *node(struct graph *g, const char *id, const char *kind, const char *ns,
			  const char *name, const char *parent, bool *created)
{
	char key[700];
	struct gnode *n;

	str_fmt(key, sizeof(key), "n:%s", id);
	if (created)
		*created = false;
	n = idx_get(g, key);
	if (n)
		return n;
	n = calloc(1, sizeof(*n));
	if (!n || array_grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes, sizeof(*g->nodes)) ||
	    !(n->id = strdup(id)) || !(n->json = cJSON_CreateObject()) ||
	    !cJSON_AddItemToArray(g->jnodes, n->json)) {
		if (n) {
			cJSON_Delete(n->json);
			free(n->id);
		}
		free(n);
		return NULL;
	}
	g->nodes[g->n_nodes++] = n;
	cJSON_AddStringToObject(n->json, "id", id);
	cJSON_AddStringToObject(n->json, "kind", kind);
	if (ns)
		cJSON_AddStringToObject(n->json, "namespace", ns);
	cJSON_AddStringToObject(n->json, "name", name);
	if (parent)
		cJSON_AddStringToObject(n->json, "parent", parent);
	if (!idx_put(g, key, n))
		return NULL;
	if (created)
		*created = true;
	return n;
}

static void ns_node(struct graph *g, const char *ns, char *id, size_t len)
{
	str_fmt(id, len, "ns:%s", ns);
	node(g, id, "namespace", NULL, ns, NULL, NULL);
}

/* The workload node of @ns/@wl (its app box made when it has an app label); its id in @id. */
static struct gnode *wl_node(struct graph *g, const char *ns, const char *wl, const char *app,
			     const char *version, char *id, size_t len)
{
	char nsid[300], appid[600], key[600];
	const char *parent = nsid, *role;
	struct gnode *n;
	bool created;

	if (!known(ns) || !known(wl)) {
		str_fmt(id, len, "wl:unknown");
		n = node(g, id, "workload", NULL, "unknown", NULL, &created);
		if (n && created)
			cJSON_AddStringToObject(n->json, "role", "unknown");
		return n;
	}
	ns_node(g, ns, nsid, sizeof(nsid));
	str_fmt(key, sizeof(key), "%s/%s", ns, wl);
	role = set_get(g, "role", key) ?: "workload";
	if (known(app) && !strcmp(role, "workload")) {
		str_fmt(appid, sizeof(appid), "app:%s/%s", ns, app);
		node(g, appid, "app", ns, app, nsid, NULL);
		parent = appid;
	}
	str_fmt(id, len, "wl:%s/%s", ns, wl);
	n = node(g, id, "workload", ns, wl, parent, &created);
	if (n && created) {
		cJSON_AddStringToObject(n->json, "role", role);
		if (known(app))
			cJSON_AddStringToObject(n->json, "app", app);
		if (known(version))
			cJSON_AddStringToObject(n->json, "version", version);
	}
	return n;
}

static struct gnode *svc_node(struct graph *g, const char *ns, const char *name, char *id,
			      size_t len)
{
	char nsid[300];

	ns_node(g, ns, nsid, sizeof(nsid));
	str_fmt(id, len, "svc:%s/%s", ns, name);
	return node(g, id, "service", ns, name, nsid, NULL);
}

static struct gedge *edge(struct graph *g, const char *src, const char *dst, enum proto p)
{
	char key[1500];
	struct gedge *e;

	str_fmt(key, sizeof(key), "e:%s|%s|%d", src, dst, (int)p);
	e = idx_get(g, key);
	if (e)
		return e;
	e = calloc(1, sizeof(*e));
	if (!e || array_grow((void **)&g->edges, &g->cap_edges, g->n_edges, sizeof(*g->edges)) ||
	    !(e->src = strdup(src)) || !(e->dst = strdup(dst))) {
		if (e) {
			free(e->src);
			free(e->dst);
		}
		free(e);
		return NULL;
	}
	e->proto = p;
	g->edges[g->n_edges++] = e;
	return idx_put(g, key, e) ? e : NULL;
}

/* The labels of a sample's source and destination, and the ids of their nodes. */
struct ends {
	char src[600], svc[600], dst[600];
	bool have_svc, have_dst;
	struct gnode *nsrc, *nsvc, *ndst;
};

static bool ends_of(struct graph *g, const cJSON *m, struct ends *x)
{
	const char *sns = jstr(m, "source_workload_namespace"), *swl = jstr(m, "source_workload");
	const char *dns = jstr(m, "destination_workload_namespace");
	const char *dwl = jstr(m, "destination_workload");
	const char *vns = jstr(m, "destination_service_namespace");
	const char *vname = jstr(m, "destination_service_name");

	memset(x, 0, sizeof(*x));
	x->nsrc = wl_node(g, sns, swl, jstr(m, "source_canonical_service"),
			  jstr(m, "source_canonical_revision"), x->src, sizeof(x->src));
	x->have_svc = known(vns) && known(vname);
	if (x->have_svc)
		x->nsvc = svc_node(g, vns, vname, x->svc, sizeof(x->svc));
	x->have_dst = known(dns) && known(dwl);
	if (x->have_dst)
		x->ndst =
		    wl_node(g, dns, dwl, jstr(m, "destination_canonical_service"),
			    jstr(m, "destination_canonical_revision"), x->dst, sizeof(x->dst));
	return x->nsrc && (!x->have_svc || x->nsvc) && (!x->have_dst || x->ndst) &&
	       (x->have_svc || x->have_dst);
}

/*
 * The edges a sample with ends @x adds to (into @out): caller to Service and Service to the
 * workload that answered, or caller straight to the workload when no Service is known; with a
 * waypoint @wp (its node's id), caller to the waypoint and the waypoint on.
 */
static size_t hop_edges(struct graph *g, const struct ends *x, enum proto p, const char *wp,
			struct gedge *out[3])
{
	const char *to = x->have_svc ? x->svc : x->dst;
	size_t n = 0;

	out[n] = edge(g, x->src, wp ? wp : to, p);
	n += out[n] != NULL;
	if (wp) {
		out[n] = edge(g, wp, to, p);
		n += out[n] != NULL;
	}
	if (x->have_svc && x->have_dst) {
		out[n] = edge(g, x->svc, x->dst, p);
		n += out[n] != NULL;
	}
	return n;
}

/* Counts @v on @e's share known to be (or not be) mutual TLS. */
static void note_sec(struct gedge *e, const char *sec, double v)
{
	if (!sec || (strcmp(sec, "mutual_tls") && strcmp(sec, "none")))
		return;
	e->sec_known += v;
	if (!strcmp(sec, "mutual_tls"))
		e->mtls += v;
}

static void pair_key(const cJSON *m, char *key, size_t len)
{
	str_fmt(key, len, "%s/%s>%s/%s", jstr(m, "source_workload_namespace") ?: "",
		jstr(m, "source_workload") ?: "", jstr(m, "destination_workload_namespace") ?: "",
		jstr(m, "destination_workload") ?: "");
}

static void svc_pair_key(const cJSON *m, char *key, size_t len)
{
	str_fmt(key, len, "%s/%s>%s/%s", jstr(m, "source_workload_namespace") ?: "",
		jstr(m, "source_workload") ?: "", jstr(m, "destination_service_namespace") ?: "",
		jstr(m, "destination_service_name") ?: "");
}

/*
 * The workload of the waypoint pod that reported sample @m (Prometheus's pod label) into @out
 * ("ns/name"); with via_wp, its node too (id into @id).
 */
static struct gnode *reporting_waypoint(struct graph *g, const cJSON *m, char *out, size_t len,
					char *id, size_t id_len)
{
	char key[600];
	const char *wl;

	out[0] = id[0] = '\0';
	str_fmt(key, sizeof(key), "%s/%s", jstr(m, "namespace") ?: "", jstr(m, "pod") ?: "");
	wl = set_get(g, "pod", key);
	if (!wl)
		return NULL;
	str_fmt(out, len, "%s/%s", jstr(m, "namespace"), wl);
	return g->via_wp ? wl_node(g, jstr(m, "namespace"), wl, NULL, NULL, id, id_len) : NULL;
}

static void add_http(struct graph *g, const cJSON *m, double v)
{
	const char *code = jstr(m, "response_code") ?: "",
		   *sec = jstr(m, "connection_security_policy");
	const char *grpc = jstr(m, "grpc_response_status");
	enum proto p = !strcmp(jstr(m, "request_protocol") ?: "", "grpc") ? P_GRPC : P_HTTP;
	int cls = code[0] >= '1' && code[0] <= '5' ? code[0] - '0' : 0;
	bool is_wp = !strcmp(jstr(m, "reporter") ?: "", "waypoint");
	char wp[300] = "", wpid[600] = "", key[1300];
	struct gedge *hops[3];
	struct gnode *nwp = NULL;
	struct ends x;

	if (!is_wp) {
		svc_pair_key(m, key, sizeof(key));
		if (set_get(g, "wp", key))
			return; /* a waypoint on the way reports it */
	}
	if (v <= 0 || !ends_of(g, m, &x))
		return;
	if (is_wp)
		nwp = reporting_waypoint(g, m, wp, sizeof(wp), wpid, sizeof(wpid));
	if (nwp) {
		svc_pair_key(m, key, sizeof(key));
		set_add(g, "wpof", key, nwp);
		nwp->in_rps += v;
		nwp->out_rps += v;
		if (cls == 4)
			nwp->in_4xx += v;
		if (cls == 5 || (p == P_GRPC && grpc && *grpc && strcmp(grpc, "0")))
			nwp->in_5xx += v;
	}
	pair_key(m, key, sizeof(key));
	set_add(g, "hp", key, g);
	*strchr(key, '>') = '\0';
	set_add(g, "hs", key, g);
	set_add(g, "hd", key + strlen(key) + 1, g);
	svc_pair_key(m, key, sizeof(key));
	if (known(jstr(m, "destination_service_name")))
		set_add(g, "hv", strchr(key, '>') + 1, g);
	for (size_t h = 0, n = hop_edges(g, &x, p, nwp ? wpid : NULL, hops); h < n; h++) {
		hops[h]->rps += v;
		hops[h]->codes[cls] += v;
		if (p == P_GRPC && grpc && *grpc && strcmp(grpc, "0"))
			hops[h]->grpc_err += v;
		note_sec(hops[h], sec, v);
		if (wp[0])
			str_fmt(hops[h]->waypoint, sizeof(hops[h]->waypoint), "%s", wp);
	}
	x.nsrc->out_rps += v;
	struct gnode *to[] = {x.have_svc ? x.nsvc : NULL, x.have_dst ? x.ndst : NULL};
	for (int i = 0; i < 2; i++) {
		if (!to[i])
			continue;
		to[i]->in_rps += v;
		if (cls == 4)
			to[i]->in_4xx += v;
		if (cls == 5 || (p == P_GRPC && grpc && *grpc && strcmp(grpc, "0")))
			to[i]->in_5xx += v;
	}
}

static bool is_waypoint_wl(struct graph *g, const char *ns, const char *wl)
{
	char key[600];
	const char *role;

	str_fmt(key, sizeof(key), "%s/%s", ns ?: "", wl ?: "");
	role = set_get(g, "role", key);
	return role && !strcmp(role, "waypoint");
}

/* Whether any HTTP pair ends at the Service sample @m's destination is of. */
static bool http_to_service(struct graph *g, const cJSON *m)
{
	char key[1300];

	if (!known(jstr(m, "destination_service_name")))
		return false;
	svc_pair_key(m, key, sizeof(key));
	return set_get(g, "hv", strchr(key, '>') + 1) != NULL;
}

/* Whether any HTTP pair starts at (@side 's') or ends at (@side 'd') workload @ns/@wl. */
static bool http_touches(struct graph *g, const char *ns, const char *wl, char side)
{
	char w[600];

	str_fmt(w, sizeof(w), "%s/%s", ns ?: "", wl ?: "");
	return set_get(g, side == 's' ? "hs" : "hd", w) != NULL;
}

/*
 * The connections the destination's ztunnel accepted for a pair of workloads, by security:
 * what a gateway's requests, which do not say, were carried over.
 */
static void add_pair_sec(struct graph *g, const cJSON *m, double v)
{
	const char *sec = jstr(m, "connection_security_policy");
	struct pairsec *ps[2];
	char key[1300];

	if (!sec || v <= 0)
		return;
	pair_key(m, key, sizeof(key));
	ps[0] = pairsec(g, "ps", key);
	*strchr(key, '>') = '\0';
	ps[1] = pairsec(g, "pss", key);
	for (int i = 0; i < 2; i++) {
		if (!ps[i])
			continue;
		ps[i]->total += v;
		if (!strcmp(sec, "mutual_tls"))
			ps[i]->mtls += v;
	}
}

static void add_tcp(struct graph *g, const cJSON *m, double v)
{
	const char *sec = jstr(m, "connection_security_policy");
	const char *sns = jstr(m, "source_workload_namespace"), *swl = jstr(m, "source_workload");
	const char *dns = jstr(m, "destination_workload_namespace");
	const char *dwl = jstr(m, "destination_workload");
	bool udp = !strcmp(jstr(m, "request_protocol") ?: "", "udp");
	char key[1300];
	struct gedge *hops[3];
	struct ends x;

	pair_key(m, key, sizeof(key));
	/*
	 * Requests an L7 proxy reports are shown as such: not their connections too. A waypoint's
	 * connections to a Service it reports requests to are those requests' too, to any of the
	 * Service's workloads: bytes the destination's ztunnel counted before the waypoint's first
	 * answer from that workload was counted (or scraped) are not an edge of their own.
	 */
	if (set_get(g, "hp", key) ||
	    (is_waypoint_wl(g, dns, dwl) && http_touches(g, sns, swl, 's')) ||
	    (is_waypoint_wl(g, sns, swl) &&
	     (http_touches(g, dns, dwl, 'd') || http_to_service(g, m))))
		return;
	if (v <= 0 || !ends_of(g, m, &x))
		return;
	/* A UDP flow the ztunnels carried: an edge of its own (request_protocol "udp"). */
	for (size_t h = 0, n = hop_edges(g, &x, udp ? P_UDP : P_TCP, NULL, hops); h < n; h++) {
		hops[h]->bytes += v;
		note_sec(hops[h], sec, v);
	}
	x.nsrc->out_tcp += v;
	if (x.have_svc)
		x.nsvc->in_tcp += v;
	if (x.have_dst)
		x.ndst->in_tcp += v;
}

static void add_p99(struct graph *g, const cJSON *m, double v)
{
	char src[600], svc[600], dst[600], key[1500];
	const char *sns = jstr(m, "source_workload_namespace"), *swl = jstr(m, "source_workload");
	const char *vns = jstr(m, "destination_service_namespace");
	const char *vname = jstr(m, "destination_service_name");
	const char *dns = jstr(m, "destination_workload_namespace");
	const char *dwl = jstr(m, "destination_workload");
	const struct gnode *wn;
	const char *wp;

	if (known(sns) && known(swl))
		str_fmt(src, sizeof(src), "wl:%s/%s", sns, swl);
	else
		str_fmt(src, sizeof(src), "wl:unknown");
	str_fmt(svc, sizeof(svc), "svc:%s/%s", vns ?: "", vname ?: "");
	str_fmt(dst, sizeof(dst), "wl:%s/%s", dns ?: "", dwl ?: "");
	svc_pair_key(m, key, sizeof(key));
	wn = set_get(g, "wpof", key); /* the requests went through a waypoint's node */
	wp = wn ? wn->id : NULL;
	const char *to = known(vname) ? svc : dst;
	const char *hops[3][2] = {{src, wp ? wp : to}, {svc, dst}, {wp ? wp : "", to}};
	for (int h = 0; h < (wp ? 3 : 2); h++)
		for (int p = P_HTTP; p <= P_GRPC; p++) {
			struct gedge *e;

			str_fmt(key, sizeof(key), "e:%s|%s|%d", hops[h][0], hops[h][1], p);
			e = idx_get(g, key);
			if (e && (!e->have_p99 || v > e->p99)) {
				e->p99 = v;
				e->have_p99 = true;
			}
		}
}

/* Kiali's default tolerances (percent): 5xx and gRPC errors, then 4xx. */
static const char *health(double total, double e5, double e4)
{
	double p5, p4;

	if (total <= 0)
		return "none";
	p5 = 100 * e5 / total;
	p4 = 100 * e4 / total;
	if (p5 >= 10 || p4 >= 20)
		return "failure";
	if (p5 > 0 || p4 >= 10)
		return "degraded";
	return "healthy";
}

static void query_into(struct graph *g, const char *promql,
		       void (*fn)(struct graph *, const cJSON *, double), cJSON *prom)
{
	char err[400] = "";
	cJSON *res = dash_prom_query(g->v->d, promql, 0, err, sizeof(err));
	const cJSON *s;

	if (!res) {
		cJSON_ReplaceItemInObjectCaseSensitive(prom, "ok", cJSON_CreateFalse());
		if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(prom, "error")))
			cJSON_ReplaceItemInObjectCaseSensitive(prom, "error",
							       cJSON_CreateString(err));
		return;
	}
	cJSON_ArrayForEach(s, res)
	    fn(g, cJSON_GetObjectItemCaseSensitive(s, "metric"),
	       dash_prom_value(cJSON_GetObjectItemCaseSensitive(s, "value")));
	cJSON_Delete(res);
}

/* The ids of the namespaces asked for ("a,b"), or NULL for all. */
static bool ns_wanted(const char *list, const char *ns)
{
	size_t n = strlen(ns);

	if (!list || !*list)
		return true;
	for (const char *p = list; p && *p;) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);

		if (l == n && !strncmp(p, ns, n))
			return true;
		p = c ? c + 1 : NULL;
	}
	return false;
}

/* Whether edge @e touches a namespace asked for (by its end nodes' namespaces). */
static bool edge_wanted(struct graph *g, const struct gedge *e, const char *list)
{
	const char *ids[] = {e->src, e->dst};

	for (int i = 0; i < 2; i++) {
		char key[700];
		struct gnode *n;
		const char *ns;

		str_fmt(key, sizeof(key), "n:%s", ids[i]);
		n = idx_get(g, key);
		ns = n ? jstr(n->json, "namespace") : NULL;
		if (ns && ns_wanted(list, ns))
			return true;
	}
	return false;
}

static void finish_edges(struct graph *g, cJSON *jedges, const char *list)
{
	for (size_t i = 0; i < g->n_edges; i++) {
		struct gedge *e = g->edges[i];
		cJSON *o;
		char id[32];

		if (!edge_wanted(g, e, list))
			continue;
		/*
		 * A gateway's requests: their security is what the ztunnels saw of the pair (to a
		 * Service, of every pair from that source).
		 */
		if (e->proto < P_TCP && e->sec_known <= 0 && !strncmp(e->src, "wl:", 3)) {
			const struct pairsec *ps = NULL;
			char key[1300];

			if (!strncmp(e->dst, "wl:", 3)) {
				str_fmt(key, sizeof(key), "%s>%s", e->src + 3, e->dst + 3);
				ps = set_get(g, "ps", key);
			} else {
				ps = set_get(g, "pss", e->src + 3);
			}
			if (ps && ps->total > 0) {
				e->sec_known = 1;
				e->mtls = ps->mtls / ps->total;
			}
		}
		o = cJSON_CreateObject();
		if (!o || !cJSON_AddItemToArray(jedges, o)) {
			cJSON_Delete(o);
			return;
		}
		str_fmt(id, sizeof(id), "e%zu", i);
		cJSON_AddStringToObject(o, "id", id);
		cJSON_AddStringToObject(o, "source", e->src);
		cJSON_AddStringToObject(o, "target", e->dst);
		cJSON_AddStringToObject(o, "protocol", proto_names[e->proto]);
		if (e->proto >= P_TCP) {
			cJSON_AddNullToObject(o, "rps");
			cJSON_AddNullToObject(o, "errorRate");
			cJSON_AddNullToObject(o, "codes");
			cJSON_AddNullToObject(o, "p99");
			cJSON_AddNumberToObject(o, "bytesPerSec", e->bytes);
			cJSON_AddStringToObject(o, "health", e->bytes > 0 ? "healthy" : "none");
		} else {
			cJSON *codes = cJSON_AddObjectToObject(o, "codes");
			double err = e->codes[4] + e->codes[5] + e->grpc_err;

			cJSON_AddNumberToObject(o, "rps", e->rps);
			/* No requests: no rate to speak of (Kiali's "N/A"), not 0 %. */
			if (e->rps > 0)
				cJSON_AddNumberToObject(o, "errorRate", err / e->rps);
			else
				cJSON_AddNullToObject(o, "errorRate");
			for (int c = 1; c <= 5; c++) {
				char k[8];

				str_fmt(k, sizeof(k), "%dxx", c);
				cJSON_AddNumberToObject(codes, k, e->codes[c]);
			}
			if (e->have_p99)
				cJSON_AddNumberToObject(o, "p99", e->p99);
			else
				cJSON_AddNullToObject(o, "p99");
			cJSON_AddNullToObject(o, "bytesPerSec");
			cJSON_AddStringToObject(
			    o, "health", health(e->rps, e->codes[5] + e->grpc_err, e->codes[4]));
		}
		cJSON_AddNumberToObject(o, "mtls", e->sec_known > 0 ? e->mtls / e->sec_known : 0);
		if (e->waypoint[0])
			cJSON_AddStringToObject(o, "waypoint", e->waypoint);
		else
			cJSON_AddNullToObject(o, "waypoint");
	}
}

/* Nodes outside the namespaces asked for that no kept edge touches are dropped. */
static cJSON *kept_nodes(struct graph *g, const cJSON *jedges, const char *list)
{
	cJSON *out = cJSON_CreateArray();
	const cJSON *e;

	cJSON_ArrayForEach(e, jedges)
	{
		const char *ends[] = {jstr(e, "source"), jstr(e, "target")};

		for (int i = 0; i < 2; i++)
			if (ends[i])
				set_add(g, "keep", ends[i], g);
	}
	/* Parents of kept nodes are kept (twice: workload -> app -> namespace). */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < g->n_nodes; i++) {
			const char *ns = jstr(g->nodes[i]->json, "namespace");
			const char *parent = jstr(g->nodes[i]->json, "parent");
			const char *role = jstr(g->nodes[i]->json, "role");
			bool on_edge = set_get(g, "keep", g->nodes[i]->id) != NULL;
			bool kept = on_edge || (ns && ns_wanted(list, ns)) ||
				    (!ns && !strncmp(g->nodes[i]->id, "ns:", 3) &&
				     ns_wanted(list, g->nodes[i]->id + 3));

			/* Waypoints not drawn on the way: only those with edges of their own. */
			if (!kept || (!g->via_wp && !on_edge && role && !strcmp(role, "waypoint")))
				continue;
			set_add(g, "keep", g->nodes[i]->id, g);
			if (parent)
				set_add(g, "keep", parent, g);
		}
	for (size_t i = 0; out && i < g->n_nodes; i++) {
		struct gnode *n = g->nodes[i];
		const char *kind = jstr(n->json, "kind");

		if (!set_get(g, "keep", n->id))
			continue;
		if (strcmp(kind, "namespace") && strcmp(kind, "app")) {
			cJSON_AddNumberToObject(n->json, "inRps", n->in_rps);
			cJSON_AddNumberToObject(n->json, "outRps", n->out_rps);
			cJSON_AddNumberToObject(n->json, "inBytesPerSec", n->in_tcp);
			if (n->in_rps > 0)
				cJSON_AddNumberToObject(n->json, "errorRate",
							(n->in_4xx + n->in_5xx) / n->in_rps);
			else
				cJSON_AddNullToObject(n->json, "errorRate");
			cJSON_AddStringToObject(
			    n->json, "health",
			    n->in_rps > 0 ? health(n->in_rps, n->in_5xx, n->in_4xx)
			    : n->out_rps > 0 || n->in_tcp > 0 || n->out_tcp > 0 ? "healthy"
										: "none");
		}
		cJSON_AddItemToArray(out, cJSON_Duplicate(n->json, true));
	}
	return out;
}

/*
 * Every workload of the namespaces asked for is a node, with traffic or idle; and the role of
 * every workload, and the workload of every pod, for the samples to come.
 */
static void workload_nodes(struct graph *g, const char *list)
{
	const cJSON *pod;

	cJSON_ArrayForEach(pod, g->v->pods)
	{
		const char *ns = jstr(pod, "namespace"), *wl = dash_pod_workload(pod);
		char key[600];

		if (!ns)
			continue;
		str_fmt(key, sizeof(key), "%s/%s", ns, wl);
		set_add(g, "role", key, (void *)dash_pod_role(pod));
		str_fmt(key, sizeof(key), "%s/%s", ns, jstr(pod, "name") ?: "");
		set_add(g, "pod", key, (void *)wl);
	}
	cJSON_ArrayForEach(pod, g->v->pods)
	{
		const char *ns = jstr(pod, "namespace");
		const cJSON *labels = cJSON_GetObjectItemCaseSensitive(pod, "labels");
		char id[700];

		if (ns && ns_wanted(list, ns))
			wl_node(g, ns, dash_pod_workload(pod),
				jstr(labels, "service.istio.io/canonical-name")
				    ?: jstr(labels, "app"),
				jstr(labels, "service.istio.io/canonical-revision")
				    ?: jstr(labels, "version"),
				id, sizeof(id));
	}
}

static void graph_free(struct graph *g)
{
	for (size_t i = 0; i < g->n_nodes; i++) {
		free(g->nodes[i]->id);
		free(g->nodes[i]);
	}
	for (size_t i = 0; i < g->n_edges; i++) {
		free(g->edges[i]->src);
		free(g->edges[i]->dst);
		free(g->edges[i]);
	}
	for (size_t i = 0; i < g->n_keys; i++)
		free(g->keys[i]);
	free(g->nodes);
	free(g->edges);
	free(g->keys);
	free(g->slots);
	free(g->vals);
	cJSON_Delete(g->jnodes);
	for (size_t i = 0; i < g->n_owned; i++)
		free(g->owned[i]);
	free(g->owned);
}

static void note_wp_pair(struct graph *g, const cJSON *m, double v)
{
	char key[1300];

	(void)v;
	svc_pair_key(m, key, sizeof(key));
	set_add(g, "wp", key, g);
}

#define BY_ENDS                                                                                    \
	"source_workload, source_workload_namespace, source_canonical_service, "                   \
	"source_canonical_revision, destination_workload, destination_workload_namespace, "        \
	"destination_canonical_service, destination_canonical_revision, "                          \
	"destination_service_name, destination_service_namespace"

/*
 * Bytes both ways at the destination's ztunnel over @range, with more matchers @m: the two
 * counters told apart by a label of their own, so that `or` keeps both (rate() drops names).
 */
#define TCP_BYTES(range, m)                                                                        \
	"label_replace(rate(istio_tcp_sent_bytes_total{reporter=\"destination\"" m "}[" range      \
	"]), \"way\", \"sent\", \"\", \"\") or label_replace(rate("                                \
	"istio_tcp_received_bytes_total{reporter=\"destination\"" m "}[" range "]), \"way\", "     \
	"\"received\", \"\", \"\")"

cJSON *dash_graph(struct dash_view *v, const char *namespaces, bool waypoints)
{
	struct graph g = {.v = v, .via_wp = waypoints};
	cJSON *doc = cJSON_CreateObject(), *prom, *jedges;
	char q[2000];

	if (!doc)
		return NULL;
	g.jnodes = cJSON_CreateArray();
	if (!g.jnodes) {
		graph_free(&g);
		cJSON_Delete(doc);
		return NULL;
	}
	cJSON_AddNumberToObject(doc, "timestamp", (double)time(NULL));
	cJSON_AddNumberToObject(doc, "duration", (double)v->duration);
	prom = cJSON_AddObjectToObject(doc, "prometheus");
	cJSON_AddStringToObject(prom, "url", v->d->prom);
	cJSON_AddTrueToObject(prom, "ok");
	cJSON_AddNullToObject(prom, "error");
	workload_nodes(&g, namespaces);
	str_fmt(q, sizeof(q),
		"sum(rate(istio_requests_total{reporter=\"waypoint\"}[%lds])) by (" BY_ENDS ")",
		v->duration);
	query_into(&g, q, note_wp_pair, prom);
	str_fmt(q, sizeof(q),
		"sum(rate(istio_requests_total{reporter=~\"waypoint|source\"}[%lds])) by "
		"(reporter, namespace, pod, " BY_ENDS ", request_protocol, response_code, "
		"grpc_response_status, connection_security_policy)",
		v->duration);
	query_into(&g, q, add_http, prom);
	str_fmt(q, sizeof(q),
		"sum by (" BY_ENDS
		", connection_security_policy, request_protocol) (" TCP_BYTES("%lds", "") ")",
		v->duration, v->duration);
	query_into(&g, q, add_tcp, prom);
	str_fmt(q, sizeof(q),
		"sum by (source_workload, source_workload_namespace, destination_workload, "
		"destination_workload_namespace, connection_security_policy) "
		"(istio_tcp_connections_opened_total{reporter=\"destination\"})");
	query_into(&g, q, add_pair_sec, prom);
	str_fmt(q, sizeof(q),
		"histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{"
		"reporter=~\"waypoint|source\"}[%lds])) by (le, source_workload, "
		"source_workload_namespace, destination_workload, destination_workload_namespace, "
		"destination_service_name, destination_service_namespace))",
		v->duration);
	query_into(&g, q, add_p99, prom);
	jedges = cJSON_CreateArray();
	if (jedges)
		finish_edges(&g, jedges, namespaces);
	cJSON_AddItemToObject(doc, "nodes", kept_nodes(&g, jedges, namespaces));
	cJSON_AddItemToObject(doc, "edges", jedges);
	graph_free(&g);
	return doc;
}
