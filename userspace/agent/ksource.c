// SPDX-License-Identifier: Apache-2.0
/* The agent's Kubernetes source (ksource.h). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cjson/cJSON.h>

#include "ambit/log.h"
#include "control/kdir.h"
#include "k8s/kevents.h"
#include "lib/serial_map.h"
#include "k8s/kwatch.h"
#include "ksource.h"
#include "podnet/podns.h"
#include "control/wdir.h"

#define ISTIO_NET "/apis/networking.istio.io/v1/"
#define ISTIO_SEC "/apis/security.istio.io/v1/"
#define GATEWAY_API "/apis/gateway.networking.k8s.io/v1/"

/*
 * Every kind the config model reads, at the version the API server converts any stored version
 * to (Istio serves v1 since 1.22, the Gateway API v1 since 1.0). Pods are this node's only (the
 * field selector is set at start); the other nodes' come from the workload directory.
 */
static const struct kwatch_res kinds[] = {
    {"namespaces", "/api/v1/namespaces", NULL, NULL, "v1", "Namespace"},
    {"pods", "/api/v1/pods", NULL, NULL, "v1", "Pod"},
    {"services", "/api/v1/services", NULL, NULL, "v1", "Service"},
    {"serviceaccounts", "/api/v1/serviceaccounts", NULL, NULL, "v1", "ServiceAccount"},
    /*
     * The endpoints of Services without a selector (the mesh derives the others from the Pods):
     * not the slices Kubernetes' endpointslice controller makes for selectors, which are most
     * of a cluster's.
     */
    {"endpointslices", "/apis/discovery.k8s.io/v1/endpointslices", NULL,
     "endpointslice.kubernetes.io/managed-by!=endpointslice-controller.k8s.io",
     "discovery.k8s.io/v1", "EndpointSlice"},
    {"authorizationpolicies", ISTIO_SEC "authorizationpolicies", NULL, NULL, "security.istio.io/v1",
     "AuthorizationPolicy"},
    {"peerauthentications", ISTIO_SEC "peerauthentications", NULL, NULL, "security.istio.io/v1",
     "PeerAuthentication"},
    {"requestauthentications", ISTIO_SEC "requestauthentications", NULL, NULL,
     "security.istio.io/v1", "RequestAuthentication"},
    {"virtualservices", ISTIO_NET "virtualservices", NULL, NULL, "networking.istio.io/v1",
     "VirtualService"},
    {"destinationrules", ISTIO_NET "destinationrules", NULL, NULL, "networking.istio.io/v1",
     "DestinationRule"},
    {"gateways.networking.istio.io", ISTIO_NET "gateways", NULL, NULL, "networking.istio.io/v1",
     "Gateway"},
    {"serviceentries", ISTIO_NET "serviceentries", NULL, NULL, "networking.istio.io/v1",
     "ServiceEntry"},
    {"gateways.gateway.networking.k8s.io", GATEWAY_API "gateways", NULL, NULL,
     "gateway.networking.k8s.io/v1", "Gateway"},
    {"httproutes", GATEWAY_API "httproutes", NULL, NULL, "gateway.networking.k8s.io/v1",
     "HTTPRoute"},
    {"grpcroutes", GATEWAY_API "grpcroutes", NULL, NULL, "gateway.networking.k8s.io/v1",
     "GRPCRoute"},
    /* The experimental channel's (absent CRD: none). */
    {"tlsroutes", "/apis/gateway.networking.k8s.io/v1alpha2/tlsroutes", NULL, NULL,
     "gateway.networking.k8s.io/v1alpha2", "TLSRoute"},
    {"tcproutes", "/apis/gateway.networking.k8s.io/v1alpha2/tcproutes", NULL, NULL,
     "gateway.networking.k8s.io/v1alpha2", "TCPRoute"},
    /* v1beta1: served by every release's CRD (v1 only since 1.5); objects applied as v1 too. */
    {"referencegrants", "/apis/gateway.networking.k8s.io/v1beta1/referencegrants", NULL, NULL,
     "gateway.networking.k8s.io/v1beta1", "ReferenceGrant"},
    /* Local rate limits: Istio's EnvoyFilter shape and ambit's own kind (absent CRD: none). */
    {"envoyfilters", "/apis/networking.istio.io/v1alpha3/envoyfilters", NULL, NULL,
     "networking.istio.io/v1alpha3", "EnvoyFilter"},
    {"localratelimits", "/apis/networking.ambit.io/v1alpha1/localratelimits", NULL, NULL,
     "networking.ambit.io/v1alpha1", "LocalRateLimit"},
    /* What the waypoints and gateways report (traces, access logs, metrics). */
    {"telemetries", "/apis/telemetry.istio.io/v1/telemetries", NULL, NULL, "telemetry.istio.io/v1",
     "Telemetry"},
    /*
     * The gateways' certificates where the ingress gateway runs, istio-system: an Istio
     * Gateway's credentialName (any type: Istio reads generic ones too), and the certificateRefs
     * of Gateways there. The agent may read no other namespace's Secrets (deploy/ambit.yaml: a
     * Role in istio-system): a Gateway API gateway's elsewhere come from the CA (creds.c).
     */
    {"secrets", "/api/v1/namespaces/istio-system/secrets", NULL, NULL, "v1", "Secret"},
    /* The mesh config (userspace/kinds/mesh.c): one ConfigMap, by name. */
    {"mesh config", "/api/v1/namespaces/istio-system/configmaps", "metadata.name=istio", NULL, "v1",
     "ConfigMap"},
};
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))
#define K_PODS 1
/* The workload directory's shards (wdir.h), watched after the kinds. */
#define K_DIR N_KINDS
#define N_RES (N_KINDS + 1)

/* What podns found for one of this node's pods, kept while its cgroup is there. */
struct pod_found {
	char *uid;	  /* metadata.uid */
	struct ipaddr ip; /* the address its namespace was found by */
	char *cgroup;
	char host_iface[16];
	char why[256]; /* the last failure, logged once */
	bool ok;
	bool seen; /* in the pod list being built */
};

struct ksource {
	struct kwatch *w;
	struct kevents *ev; /* Warning Events on the objects rejected */
	char *node, *cg_root;
	struct kwatch_res res[N_RES]; /* kinds, this node's field selector, the directory */
	char *pods_selector, *dir_path;
	struct kdir *dir;
	bool synced[N_RES];
	size_t n_found;
	struct pod_found *found;
	bool (*ip_hint)(void *ctx, const char *ns, const char *name, struct ipaddr *ip,
			const char **netns);
	void *ip_hint_ctx;
};

void ksource_set_ip_hint(struct ksource *ks,
			 bool (*hint)(void *ctx, const char *ns, const char *name,
				      struct ipaddr *ip, const char **netns),
			 void *ctx)
{
	ks->ip_hint = hint;
	ks->ip_hint_ctx = ctx;
}

struct ksource *ksource_start(const struct kconn *conn, const char *node, const char *cg_root,
			      unsigned int watch_s)
{
	struct ksource *ks = calloc(1, sizeof(*ks));

	if (!ks)
		return NULL;
	ks->node = strdup(node);
	ks->cg_root = strdup(cg_root);
	ks->dir = kdir_new(node);
	memcpy(ks->res, kinds, sizeof(kinds));
	if (asprintf(&ks->pods_selector, "spec.nodeName=%s", node) < 0)
		ks->pods_selector = NULL;
	/* The mesh's namespace: the agent's own (the directory is published there). */
	if (asprintf(&ks->dir_path, "/api/v1/namespaces/%s/configmaps", kconn_namespace(conn)) < 0)
		ks->dir_path = NULL;
	ks->res[K_PODS].field_selector = ks->pods_selector;
	ks->res[K_DIR] = (struct kwatch_res){.name = "workload directory",
					     .path = ks->dir_path,
					     .label_selector = WDIR_SELECTOR,
					     .api_version = "v1",
					     .kind = "ConfigMap"};
	if (!ks->node || !ks->cg_root || !ks->dir || !ks->pods_selector || !ks->dir_path ||
	    !(ks->ev = kevents_start(conn)) ||
	    !(ks->w = kwatch_start(conn, ks->res, N_RES, watch_s))) {
		int err = errno ? errno : ENOMEM;

		ksource_stop(ks);
		errno = err;
		return NULL;
	}
	return ks;
}

int ksource_fd(const struct ksource *ks)
{
	return kwatch_fd(ks->w);
}

/* Where a batch of changes goes: the store, and whether anything in force changed. */
struct take_ctx {
	struct ksource *ks;
	struct confstore *cs;
	bool *changed;
};

static void put(struct take_ctx *t, const char *name, const char *json, const struct kwatch_res *r)
{
	const struct config_diags *errs;
	bool one = false;

	if (!json) {
		confstore_drop(t->cs, name, &one);
	} else if (confstore_put(t->cs, name, json, strlen(json), &one)) {
		pr_err("kubernetes: %s: out of memory; the last good version stays", name);
	} else if ((errs = confstore_errors(t->cs, name))) {
		kevents_rejected(t->ks->ev, json, r->api_version, r->kind, errs);
	}
	*t->changed |= one;
}

static void put_dir_pod(void *arg, const char *key, const char *text)
{
	struct take_ctx *t = arg;
	char name[600];

	snprintf(name, sizeof(name), "k8s:pods/%s", key);
	pr_debug("kubernetes: %s %s (workload directory)", text ? "put" : "removed", name);
	put(t, name, text, &kinds[K_PODS]);
}

static void take_dir(struct take_ctx *t, const struct kwatch_change *c)
{
	int err = kdir_shard(t->ks->dir, c->key, c->what == KWATCH_REMOVE ? NULL : c->json,
			     put_dir_pod, t);

	if (err == -EINVAL)
		pr_warn("workload directory: %s has no data.pods array of pods: its last good "
			"content stays",
			c->key);
	else if (err)
		pr_err("workload directory: %s: out of memory; its last good content stays",
		       c->key);
}

void ksource_take(struct ksource *ks, struct confstore *cs, bool *changed)
{
	struct kwatch_change *c;
	size_t n = kwatch_take(ks->w, &c);
	struct take_ctx t = {ks, cs, changed};
	char name[600];

	for (size_t i = 0; i < n; i++) {
		size_t k = (size_t)(c[i].res - ks->res);

		if (c[i].what == KWATCH_SYNCED) {
			if (!ks->synced[k]) {
				pr_info("kubernetes: %s: listed", c[i].res->name);
				/* The last kind listed makes the copy whole: reconcile. */
				*changed = true;
			}
			ks->synced[k] = true;
			continue;
		}
		if (k == K_DIR) {
			take_dir(&t, &c[i]);
			continue;
		}
		snprintf(name, sizeof(name), "k8s:%s/%s", c[i].res->name, c[i].key);
		if (ks->synced[k])
			pr_debug("kubernetes: %s %s",
				 c[i].what == KWATCH_REMOVE ? "removed" : "put", name);
		if (k == K_PODS) {
			bool here = c[i].what == KWATCH_UPSERT;

			if (kdir_local(ks->dir, c[i].key, here, put_dir_pod, &t))
				pr_err("kubernetes: %s: out of memory", name);
			/*
			 * A pod leaving this node's watch: kdir_local put the directory's in its
			 * place (it runs elsewhere now) or withdrew it.
			 */
			if (!here)
				continue;
		}
		/* The store says whether this one changed anything; any of the batch counts. */
		put(&t, name, c[i].what == KWATCH_REMOVE ? NULL : c[i].json, c[i].res);
	}
	kwatch_changes_free(c, n);
}

uint64_t ksource_resource_version(struct ksource *ks, bool *pending)
{
	return kwatch_resource_version(ks->w, pending);
}

bool ksource_synced(const struct ksource *ks)
{
	for (size_t i = 0; i < N_RES; i++)
		if (!ks->synced[i])
			return false;
	return true;
}

cJSON *ksource_status(struct ksource *ks)
{
	cJSON *arr = cJSON_CreateArray();
	char err[256];

	for (size_t i = 0; arr && i < N_RES; i++) {
		cJSON *o = cJSON_CreateObject();

		kwatch_last_error(ks->w, i, err, sizeof(err));
		if (!o || !cJSON_AddItemToArray(arr, o) ||
		    !cJSON_AddStringToObject(o, "resource", ks->res[i].name) ||
		    !cJSON_AddBoolToObject(o, "synced", ks->synced[i]) ||
		    !cJSON_AddStringToObject(o, "error", err)) {
			cJSON_Delete(arr);
			return NULL;
		}
	}
	return arr;
}

const char *ksource_workload(const struct config_pod *p, char *buf, size_t len)
{
	const char *kind = p->meta.controller_kind, *name = p->meta.controller_name;
	const char *hash = NULL;
	size_t nl, hl;

	if (!kind || !name)
		return NULL;
	for (size_t i = 0; i < p->meta.labels.n; i++)
		if (!strcmp(p->meta.labels.items[i].key, "pod-template-hash"))
			hash = p->meta.labels.items[i].value;
	nl = strlen(name);
	/* A Deployment's ReplicaSet is named <deployment>-<pod-template-hash>. */
	if (!strcmp(kind, "ReplicaSet") && hash && (hl = strlen(hash)) && nl > hl + 1 &&
	    name[nl - hl - 1] == '-' && !strcmp(name + nl - hl, hash)) {
		snprintf(buf, len, "%.*s", (int)(nl - hl - 1), name);
		return buf;
	}
	snprintf(buf, len, "%s", name);
	return buf;
}

/*
 * Whether @p is a workload; *@ip its address: its IPv4 one, or an IPv6-only cluster's pod's
 * IPv6 one (status.podIPs of one IPv6).
 */
static bool is_workload(const struct config_pod *p, struct ipaddr *ip)
{
	const char *v4 = config_pod_ipv4(p), *v6 = config_pod_ipv6(p);
	uint32_t a;

	if ((!v4 && !v6) || !p->spec.node_name || p->spec.host_network)
		return false;
	if (p->phase && (!strcmp(p->phase, "Succeeded") || !strcmp(p->phase, "Failed")))
		return false;
	if (ipaddr_parse_addr(v4 ? v4 : v6, ip) || ip->family != (v4 ? AF_INET : AF_INET6))
		return false;
	return !ipaddr_v4(ip, &a) || a != 0;
}

/*
 * A pod of this node whose sandbox ambit-cni is holding: the Pod shows no IP until the sandbox
 * is up, which waits for its capture, so its address is the one the CNI chain gave it.
 */
static bool is_hinted(const struct ksource *ks, const struct config_pod *p, struct ipaddr *ip)
{
	const char *netns;

	if (p->pod_ip || !ks->ip_hint || !p->spec.node_name || p->spec.host_network ||
	    strcmp(p->spec.node_name, ks->node) || !p->meta.namespace)
		return false;
	if (p->phase && (!strcmp(p->phase, "Succeeded") || !strcmp(p->phase, "Failed")))
		return false;
	return ks->ip_hint(ks->ip_hint_ctx, p->meta.namespace, p->meta.name, ip, &netns);
}

static struct pod_found *found_get(struct ksource *ks, const char *uid, const struct ipaddr *ip)
{
	struct pod_found *f;

	for (size_t i = 0; i < ks->n_found; i++) {
		f = &ks->found[i];
		if (!strcmp(f->uid, uid) && ipaddr_equal(&f->ip, ip)) {
			/* Still there: a pod's cgroup goes only with the pod. */
			if (f->ok && access(f->cgroup, F_OK) < 0)
				f->ok = false;
			return f;
		}
	}
	f = realloc(ks->found, (ks->n_found + 1) * sizeof(*f));
	if (!f)
		return NULL;
	ks->found = f;
	f = &ks->found[ks->n_found];
	memset(f, 0, sizeof(*f));
	f->uid = strdup(uid);
	f->ip = *ip;
	if (!f->uid)
		return NULL;
	ks->n_found++;
	return f;
}

/* Finds (or takes from the cache) the cgroup and veth of this node's pod @p. */
static void find_local(struct ksource *ks, const struct config_pod *p, const struct ipaddr *ip,
		       struct rt_pod *rp)
{
	struct pod_found *f;
	struct podns ns;
	struct ipaddr hint;
	char why[256];

	if (!p->meta.uid) {
		pr_warn("kubernetes: pod %s/%s has no metadata.uid: its namespace cannot be found",
			p->meta.namespace, p->meta.name);
		return;
	}
	f = found_get(ks, p->meta.uid, ip);
	if (!f)
		return;
	f->seen = true;
	if (!f->ok) {
		int err = podns_find(ks->cg_root, p->meta.uid, ip, &ns, why, sizeof(why));
		const char *netns = NULL;

		/* No process in the sandbox yet: ambit-cni's ADD named its namespace. */
		if (err == -ESRCH && ks->ip_hint &&
		    ks->ip_hint(ks->ip_hint_ctx, p->meta.namespace, p->meta.name, &hint, &netns) &&
		    ipaddr_equal(&hint, ip) && netns)
			err = podns_at(netns, p->meta.uid, ip, &ns, why, sizeof(why));
		if (err == 0) {
			free(f->cgroup);
			f->cgroup = strdup(ns.cgroup);
			snprintf(f->host_iface, sizeof(f->host_iface), "%s", ns.host_iface);
			f->ok = f->cgroup != NULL;
			f->why[0] = '\0';
			if (f->ok)
				pr_info("kubernetes: pod %s/%s: cgroup %s, netns %s, interface %s",
					p->meta.namespace, p->meta.name, ns.cgroup, ns.netns,
					ns.host_iface[0] ? ns.host_iface : "(no veth to the node)");
		} else if (strcmp(why, f->why) != 0) {
			snprintf(f->why, sizeof(f->why), "%s", why);
			pr_warn("kubernetes: pod %s/%s: %s; retried on its next change",
				p->meta.namespace, p->meta.name, why);
		}
	}
	if (!f->ok)
		return;
	rp->cgroup = strdup(f->cgroup);
	rp->host_iface = f->host_iface[0] ? strdup(f->host_iface) : NULL;
}

/* Forgets what was found for pods that are no longer this node's. */
static void found_sweep(struct ksource *ks)
{
	size_t k = 0;

	for (size_t i = 0; i < ks->n_found; i++) {
		struct pod_found *f = &ks->found[i];

		if (!f->seen) {
			free(f->uid);
			free(f->cgroup);
			continue;
		}
		f->seen = false;
		ks->found[k++] = *f;
	}
	ks->n_found = k;
}

/*
 * The node names met while building (an open-addressing set of name hashes, each with its node
 * in the cluster being built): every pod names its node, 10,000 pods a hundred nodes.
 */
struct node_set {
	size_t cap; /* a power of two */
	uint64_t *hash;
	size_t *node; /* index + 1 into rt_cluster.nodes; 0: free */
};

static size_t *node_slot(const struct node_set *ns, const struct rt_cluster *cl, const char *name)
{
	uint64_t h = XXH3_64bits(name, strlen(name));
	size_t i = (size_t)h & (ns->cap - 1);

	while (ns->node[i] && (ns->hash[i] != h || strcmp(cl->nodes[ns->node[i] - 1].name, name)))
		i = (i + 1) & (ns->cap - 1);
	ns->hash[i] = h;
	return &ns->node[i];
}

/* A node by its pods' status.hostIP: IPv4, or IPv6 in an IPv6-only cluster. */
static int add_node(struct rt_cluster *cl, struct node_set *ns, const char *name,
		    const char *ip_text)
{
	struct ipaddr a;
	struct rt_node *n;
	size_t *slot = node_slot(ns, cl, name);

	if (*slot || !ip_text || ipaddr_parse_addr(ip_text, &a))
		return 0;
	n = realloc(cl->nodes, (cl->n_nodes + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	cl->nodes = n;
	n = &cl->nodes[cl->n_nodes];
	memset(n, 0, sizeof(*n));
	n->name = strdup(name);
	if (!ipaddr_v4(&a, &n->ip))
		n->ip6 = a;
	if (!n->name)
		return -ENOMEM;
	*slot = ++cl->n_nodes;
	return 0;
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*oom = true;
	return d;
}

/*
 * The pod made from the same load of @p in the runtime in force (@prev, by serial: @serials), or
 * NULL; *@at: 1 + its position. Each lends to one pod at most, and only what it owns.
 */
static const struct rt_pod *same_load(struct serial_map *serials, const struct runtime *prev,
				      const struct config_pod *p, size_t *at)
{
	size_t i = serial_map_take(serials, p->meta.serial);
	const struct rt_pod *same = i == SIZE_MAX ? NULL : &prev->pods[i];

	if (!same || same->shared || !same->uid)
		return NULL;
	*at = i + 1;
	return same;
}

/*
 * @same: the pod made from the same load of @p in the runtime in force (at @at), or NULL. @ip:
 * its address (is_workload), IPv4 or, an IPv6-only pod's, IPv6.
 */
static int add_pod(struct ksource *ks, const struct config_pod *p, const struct ipaddr *ip,
		   struct runtime *rt, const struct rt_pod *same, size_t at)
{
	char uid[600], wl[256];
	struct rt_pod *rp;
	bool oom = false;

	rp = &rt->pods[rt->n_pods];
	memset(rp, 0, sizeof(*rp));
	rp->serial = p->meta.serial;
	/*
	 * Its IPv6 address in a dual-stack cluster, whichever family is first; an IPv6-only
	 * pod's is @ip, also while ambit-cni's is all there is of it (is_hinted).
	 */
	if (config_pod_ipv6(p))
		ipaddr_parse_addr(config_pod_ipv6(p), &rp->ip6);
	if (ip->family == AF_INET6)
		rp->ip6 = *ip;
	/* Never shared (rt_pod): few pods have them. */
	rp->hostname = dup_or_null(p->spec.hostname, &oom);
	rp->subdomain = dup_or_null(p->spec.subdomain, &oom);
	/* The same object as last time: the fields made from it alone are borrowed, not made. */
	if (same) {
		rp->namespace = same->namespace;
		rp->name = same->name;
		rp->uid = same->uid;
		rp->owner = same->owner;
		rp->node = same->node;
		rp->service_account = same->service_account;
		rp->labels = same->labels;
		rp->ip = same->ip;
		rp->not_ready = same->not_ready;
		rp->here = same->here; /* the same object: the same node */
		rp->shared = at;
		rt->n_pods++;
		if (oom)
			return -ENOMEM;
		if (rp->here)
			find_local(ks, p, ip, rp);
		return 0;
	}
	snprintf(uid, sizeof(uid), "%s/%s", p->meta.namespace, p->meta.name);
	rp->namespace = dup_or_null(p->meta.namespace, &oom);
	rp->name = dup_or_null(p->meta.name, &oom);
	rp->uid = dup_or_null(uid, &oom);
	rp->owner = dup_or_null(ksource_workload(p, wl, sizeof(wl)), &oom);
	rp->node = dup_or_null(p->spec.node_name, &oom);
	rp->service_account =
	    dup_or_null(p->spec.service_account ? p->spec.service_account : "default", &oom);
	if (!ipaddr_v4(ip, &rp->ip))
		rp->ip = 0;
	rp->not_ready = p->ready == CONFIG_READY_FALSE || p->meta.deleting;
	for (size_t i = 0; i < p->meta.labels.n && !oom; i++)
		oom = config_labels_add(&rp->labels, p->meta.labels.items[i].key,
					p->meta.labels.items[i].value) != 0;
	rp->here = !strcmp(p->spec.node_name, ks->node);
	rt->n_pods++;
	if (oom)
		return -ENOMEM;
	if (rp->here)
		find_local(ks, p, ip, rp);
	return 0;
}

int ksource_runtime(struct ksource *ks, const struct config *view, struct runtime *rt,
		    struct rt_cluster *cl)
{
	return ksource_runtime_from(ks, view, NULL, rt, cl);
}

int ksource_runtime_from(struct ksource *ks, const struct config *view, const struct runtime *prev,
			 struct runtime *rt, struct rt_cluster *cl)
{
	struct serial_map serials = {0};
	int err = 0;

	struct node_set ns = {.cap = 64};

	memset(rt, 0, sizeof(*rt));
	memset(cl, 0, sizeof(*cl));
	/* At most one node per pod: the set never fills past half. */
	while (ns.cap < 2 * view->n_pods)
		ns.cap *= 2;
	ns.hash = calloc(ns.cap, sizeof(*ns.hash));
	ns.node = calloc(ns.cap, sizeof(*ns.node));
	rt->pods = calloc(view->n_pods ? view->n_pods : 1, sizeof(*rt->pods));
	if (!rt->pods || !ns.hash || !ns.node)
		err = -ENOMEM;
	/* Without memory for the map, every pod is made anew. */
	if (!err && prev)
		(void)serial_map_build(&serials, prev->pods, prev->n_pods, sizeof(*prev->pods),
				       offsetof(struct rt_pod, serial));
	for (size_t i = 0; i < view->n_pods && !err; i++) {
		const struct config_pod *p = &view->pods[i];
		size_t at = 0;
		/* The same object as last time was a workload then, and is one still. */
		const struct rt_pod *same = same_load(&serials, prev, p, &at);
		struct ipaddr ip = {0};

		if (same && same->ip)
			ipaddr_from_v4(&ip, same->ip);
		else if (same)
			ip = same->ip6;
		if (!same && !is_workload(p, &ip) && !is_hinted(ks, p, &ip))
			continue;
		err = add_pod(ks, p, &ip, rt, same, at);
		if (!err)
			err = add_node(cl, &ns, p->spec.node_name, p->host_ip);
	}
	serial_map_free(&serials);
	free(ns.hash);
	free(ns.node);
	if (!err)
		runtime_cluster_sort(cl);
	found_sweep(ks);
	return err;
}

void ksource_stop(struct ksource *ks)
{
	if (!ks)
		return;
	if (ks->w)
		kwatch_stop(ks->w);
	kevents_stop(ks->ev);
	kdir_free(ks->dir);
	free(ks->pods_selector);
	free(ks->dir_path);
	for (size_t i = 0; i < ks->n_found; i++) {
		free(ks->found[i].uid);
		free(ks->found[i].cgroup);
	}
	free(ks->found);
	free(ks->node);
	free(ks->cg_root);
	free(ks);
}
