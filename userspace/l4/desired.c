// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/ca.h"
#include "desired.h"
#include "lib/array.h"
#include "lib/serial_map.h"

struct builder {
	struct desired *d;
	struct desired_index *ix;
	const struct desired *prev;	     /* env->prev */
	struct serial_map prev_wl, prev_svc; /* its workloads and services by serial */
	bool same_td;			     /* its trust domain is ours */
	uint32_t *ips;			     /* ip_take's table */
	struct ipaddr vip6; /* add_service's: the Service's IPv6 VIP, or family 0 */
	size_t n_ips, cap_ips;
	size_t cap_wl6, cap_if6, cap_svc6;
	size_t cap_wl, cap_en, cap_if, cap_svc, cap_local, cap_id, cap_swl, cap_ssvc, cap_warn;
};

static int warn(struct builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int dedupe6(struct builder *b, struct desired *d);

static int warn(struct builder *b, const char *fmt, ...)
{
	struct desired *d = b->d;
	va_list ap;
	char *s;
	int n;

	if (array_grow((void **)&d->warnings, &b->cap_warn, d->n_warnings, sizeof(char *)))
		return -ENOMEM;
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	d->warnings[d->n_warnings++] = s;
	return 0;
}

static int add_entry(struct dp_entry **arr, size_t *n, size_t *cap, uint64_t key, const void *val,
		     size_t vlen)
{
	struct dp_entry *e;

	if (array_grow((void **)arr, cap, *n, sizeof(**arr)))
		return -ENOMEM;
	e = &(*arr)[(*n)++];
	memset(e, 0, sizeof(*e));
	e->key = key;
	memcpy(e->val, val, vlen);
	return 0;
}

/* The same for a map keyed by an IPv6 address (@ip6, AF_INET6). */
static int add_entry6(struct dp_entry **arr, size_t *n, size_t *cap, const struct ipaddr *ip6,
		      const void *val, size_t vlen)
{
	struct dp_entry *e;

	if (array_grow((void **)arr, cap, *n, sizeof(**arr)))
		return -ENOMEM;
	e = &(*arr)[(*n)++];
	memset(e, 0, sizeof(*e));
	memcpy(&e->key, ip6->a, sizeof(e->key));
	memcpy(&e->key2, ip6->a + sizeof(e->key), sizeof(e->key2));
	memcpy(e->val, val, vlen);
	return 0;
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static const char *label_or(const struct config_labels *l, const char *k1, const char *k2,
			    const char *dflt)
{
	const char *v = config_label_get(l, k1);

	if (!v && k2)
		v = config_label_get(l, k2);
	return v ? v : dflt;
}

/*
 * Istio's canonical service and revision of a pod (what Kiali groups by): the first of these
 * labels that is set, else the workload's name and "latest".
 */
static const char *canonical_label(const struct config_labels *l, const char *const keys[3],
				   const char *dflt)
{
	for (int i = 0; i < 3; i++) {
		const char *v = config_label_get(l, keys[i]);

		if (v && *v)
			return v;
	}
	return dflt;
}

/*
 * The workload of the desired state in force made from the same Pod object as @p, with the same
 * node and enrollment, not lent yet; or NULL. *@at: its position. Everything else it holds
 * comes from the object alone, and its identity from the object and the trust domain.
 */
static const struct snap_workload *same_workload(struct builder *b, const struct rt_pod *p,
						 uint32_t node_ip, bool enrolled, size_t *at)
{
	size_t i = b->same_td ? serial_map_take(&b->prev_wl, p->serial) : SIZE_MAX;
	const struct snap_workload *w;

	if (i == SIZE_MAX)
		return NULL;
	w = &b->prev->snap_workloads[i];
	if (w->ip != p->ip || !ipaddr_equal(&w->ip6, &p->ip6) || w->node_ip != node_ip ||
	    w->enrolled != enrolled || !w->identity)
		return NULL;
	*at = i;
	return w;
}

static int add_snap_workload(struct builder *b, const struct rt_pod *p, const char *identity,
			     uint32_t node_ip, bool enrolled)
{
	const struct snap_workload *same;
	size_t at;
	struct desired *d = b->d;
	struct snap_workload *w;
	const char *wname = p->owner ? p->owner : p->name;
	static const char *const canon_name[3] = {"service.istio.io/canonical-name",
						  "app.kubernetes.io/name", "app"};
	static const char *const canon_rev[3] = {"service.istio.io/canonical-revision",
						 "app.kubernetes.io/version", "version"};

	if (array_grow((void **)&d->snap_workloads, &b->cap_swl, d->n_snap_workloads, sizeof(*w)))
		return -ENOMEM;
	w = &d->snap_workloads[d->n_snap_workloads++];
	memset(w, 0, sizeof(*w));
	w->serial = p->serial;
	/* At 10,000 pods, eleven copies each per change add up: the unchanged ones borrow. */
	if ((same = same_workload(b, p, node_ip, enrolled, &at))) {
		*w = *same;
		w->waypoint = NULL; /* desired_waypoints' own */
		w->borrowed = at + 1;
		return 0;
	}
	w->uid = xstrdup(p->uid);
	w->name = xstrdup(p->name);
	w->namespace = xstrdup(p->namespace);
	w->service_account = xstrdup(p->service_account);
	w->identity = xstrdup(identity);
	w->node = xstrdup(p->node);
	w->workload_name = xstrdup(wname);
	w->app = xstrdup(label_or(&p->labels, "app", "app.kubernetes.io/name", wname));
	w->version =
	    xstrdup(label_or(&p->labels, "version", "app.kubernetes.io/version", "latest"));
	w->canonical_service = xstrdup(canonical_label(&p->labels, canon_name, wname));
	w->canonical_revision = xstrdup(canonical_label(&p->labels, canon_rev, "latest"));
	w->ip = p->ip;
	w->ip6 = p->ip6;
	w->node_ip = node_ip;
	w->enrolled = enrolled;
	w->hostname = xstrdup(p->hostname);
	w->subdomain = xstrdup(p->subdomain);
	if ((p->hostname && !w->hostname) || (p->subdomain && !w->subdomain))
		return -ENOMEM;
	if (!w->uid || !w->name || !w->namespace || !w->service_account || !w->identity ||
	    !w->node || !w->workload_name || !w->app || !w->version || !w->canonical_service ||
	    !w->canonical_revision)
		return -ENOMEM;
	return 0;
}

/*
 * The pod IPs taken so far: open addressing over a power-of-two table kept at most half full
 * (0 marks a free slot: no pod has IP 0.0.0.0). The IPs are in network order, so their low
 * bits are the network's and the same for every pod: the slot comes from all of them mixed
 * (MurmurHash3's finalizer), or every pod of a /16 would probe the same run.
 */
static size_t ip_slot(uint32_t ip, size_t cap)
{
	ip ^= ip >> 16;
	ip *= 0x85ebca6bu;
	ip ^= ip >> 13;
	ip *= 0xc2b2ae35u;
	ip ^= ip >> 16;
	return ip & (cap - 1);
}

static bool ip_seen(const struct builder *b, uint32_t ip)
{
	for (size_t i = b->cap_ips ? ip_slot(ip, b->cap_ips) : 0; b->cap_ips && b->ips[i];
	     i = (i + 1) & (b->cap_ips - 1))
		if (b->ips[i] == ip)
			return true;
	return false;
}

/* Marks @ip taken (a workload has it). 0 or -ENOMEM. */
static int ip_take(struct builder *b, uint32_t ip)
{
	size_t i;

	if ((b->n_ips + 1) * 2 > b->cap_ips) {
		size_t cap = b->cap_ips ? b->cap_ips * 2 : 1024;
		uint32_t *t = calloc(cap, sizeof(*t));

		if (!t)
			return -ENOMEM;
		for (size_t k = 0; k < b->cap_ips; k++) {
			if (!b->ips[k])
				continue;
			for (i = ip_slot(b->ips[k], cap); t[i]; i = (i + 1) & (cap - 1))
				;
			t[i] = b->ips[k];
		}
		free(b->ips);
		b->ips = t;
		b->cap_ips = cap;
	}
	for (i = ip_slot(ip, b->cap_ips); b->ips[i]; i = (i + 1) & (b->cap_ips - 1))
		if (b->ips[i] == ip)
			return 0;
	b->ips[i] = ip;
	b->n_ips++;
	return 0;
}

static int add_identity(struct builder *b, const char *id)
{
	struct desired *d = b->d;

	for (size_t i = 0; i < d->n_identities; i++)
		if (strcmp(d->identities[i], id) == 0)
			return 0;
	if (array_grow((void **)&d->identities, &b->cap_id, d->n_identities, sizeof(char *)))
		return -ENOMEM;
	d->identities[d->n_identities] = strdup(id);
	if (!d->identities[d->n_identities])
		return -ENOMEM;
	d->n_identities++;
	return 0;
}

static bool dns_opted_out(struct desired_index *ix, const struct rt_pod *p);
/* Ports a pod may leave out of capture, each way (Istio's annotations name a few). */
#define EXCL_MAX_PORTS 256
/* The ports a pod leaves out of capture, by Istio's annotations (desired_port_list). */
struct pod_excl {
	uint16_t out[EXCL_MAX_PORTS], in[EXCL_MAX_PORTS];
	size_t n_out, n_in;
};
static int pod_exclusions(struct builder *b, const struct rt_pod *p, struct pod_excl *ex);
static int add_exclusions(struct builder *b, const struct desired_local_pod *lp,
			  const struct pod_excl *ex);

static int add_pod(struct builder *b, const struct config *cfg, const struct rt_pod *p,
		   const struct desired_env *env)
{
	struct desired *d = b->d;
	struct config_pod view = {0};
	struct ambit_workload wl = {0};
	struct desired_local_pod *lp;
	struct pod_excl ex;
	char identity[512];
	const struct rt_node *node;
	bool local, enrolled;
	uint32_t node_ip;
	int err;

	if (p->ip && ip_seen(b, p->ip)) {
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &p->ip, ip, sizeof(ip));
		return warn(b, "pod %s: IP %s already used by another pod; ignored", p->uid, ip);
	}
	/* Enrollment uses the namespace labels of the config and the pod's live labels. */
	view.meta.name = p->name;
	view.meta.namespace = p->namespace;
	view.meta.labels = p->labels;
	enrolled = config_pod_enrolled(cfg, &view);
	local = strcmp(p->node, env->node) == 0;
	node = local ? NULL : runtime_node(env->cluster, p->node);
	node_ip = local ? env->node_ip : node ? node->ip : 0;
	/* A node of an IPv6-only cluster has no IPv4 to give its pods' entries, and is known. */
	if (!(local ? env->node_ip || env->ipv6 : node != NULL) &&
	    (err = warn(b, "pod %s: IP of node %s unknown", p->uid, p->node)))
		return err;
	if (spiffe_id_format(identity, sizeof(identity), env->trust_domain, p->namespace,
			     p->service_account))
		return warn(b, "pod %s: identity too long; ignored", p->uid);

	wl.flags = (enrolled ? AMBIT_WL_ENROLLED : 0) | (local ? AMBIT_WL_LOCAL : 0);
	wl.node_ip = node_ip;
	if (local && p->host_iface && env->ifindex_of)
		wl.ifindex = (__u32)env->ifindex_of(p->host_iface, env->ctx);
	ex.n_out = ex.n_in = 0;
	if (local && enrolled && (err = pod_exclusions(b, p, &ex)))
		return err;
	if (wl.ifindex && (ex.n_out || ex.n_in))
		wl.flags |= AMBIT_WL_EXCL;
	/*
	 * A dual-stack pod: the same entry by its IPv6 (one workload, both addresses). An
	 * IPv6-only one (ip 0) has its IPv6 entries alone: 0 is no pod's key.
	 */
	err = p->ip ? add_entry(&d->workloads, &d->n_workloads, &b->cap_wl, p->ip, &wl, sizeof(wl))
		    : 0;
	if (!err && p->ip6.family == AF_INET6)
		err = add_entry6(&d->workloads6, &d->n_workloads6, &b->cap_wl6, &p->ip6, &wl,
				 sizeof(wl));
	if (!err && p->ip)
		err = ip_take(b, p->ip);
	if (!err)
		err = add_snap_workload(b, p, identity, node_ip, enrolled);
	if (err || !local)
		return err;

	if (array_grow((void **)&d->local, &b->cap_local, d->n_local, sizeof(*lp)))
		return -ENOMEM;
	lp = &d->local[d->n_local++];
	memset(lp, 0, sizeof(*lp));
	lp->uid = xstrdup(p->uid);
	lp->identity = xstrdup(identity);
	lp->cgroup = xstrdup(p->cgroup);
	lp->host_iface = xstrdup(p->host_iface);
	lp->ip = p->ip;
	lp->ip6 = p->ip6;
	lp->enrolled = enrolled;
	lp->ifindex = (int)wl.ifindex;
	if (!lp->uid || !lp->identity || (p->cgroup && !lp->cgroup) ||
	    (p->host_iface && !lp->host_iface))
		return -ENOMEM;
	if (p->cgroup && env->cgroup_id_of)
		lp->cgroup_id = env->cgroup_id_of(p->cgroup, env->ctx);
	if (p->host_iface && !lp->ifindex &&
	    (err = warn(b, "pod %s: interface %s not found", p->uid, p->host_iface)))
		return err;
	if (lp->ifindex && p->ip) {
		struct ambit_iface v = {.pod_ip = p->ip};

		err = add_entry(&d->ifaces, &d->n_ifaces, &b->cap_if, (uint64_t)lp->ifindex, &v,
				sizeof(v));
		if (err)
			return err;
	}
	if (lp->ifindex && p->ip6.family == AF_INET6) {
		err = add_entry(&d->ifaces6, &d->n_ifaces6, &b->cap_if6, (uint64_t)lp->ifindex,
				p->ip6.a, sizeof(p->ip6.a));
		if (err)
			return err;
	}
	if (!enrolled)
		return 0;
	/*
	 * The cgroup is what both connect4 and connect6 capture by: an IPv6-only pod has its
	 * entry too, with pod_ip 0 (only in-pod mode reads it, for IPv4).
	 */
	if (lp->cgroup_id) {
		struct ambit_enrolled v = {.pod_ip = p->ip};

		if (dns_opted_out(b->ix, p))
			v.flags |= AMBIT_ENROLLED_NO_DNS;
		if (ex.n_out)
			v.flags |= AMBIT_ENROLLED_EXCL_OUT;
		err = add_entry(&d->enrolled, &d->n_enrolled, &b->cap_en, lp->cgroup_id, &v,
				sizeof(v));
		if (err)
			return err;
	} else if ((err = warn(b,
			       "pod %s: enrolled but its cgroup is unknown; outbound not "
			       "captured",
			       p->uid))) {
		return err;
	}
	err = add_exclusions(b, lp, &ex);
	return err ? err : add_identity(b, identity);
}

static int cmp_cfg_pod(const void *a, const void *b)
{
	const struct config_pod *x = *(const struct config_pod *const *)a;
	const struct config_pod *y = *(const struct config_pod *const *)b;
	int c = strcmp(x->meta.namespace ? x->meta.namespace : "",
		       y->meta.namespace ? y->meta.namespace : "");

	return c ? c : strcmp(x->meta.name, y->meta.name);
}

/* By namespace, then in the runtime's order (pointers into one array). */
static int cmp_rt_pod(const void *a, const void *b)
{
	const struct rt_pod *x = *(const struct rt_pod *const *)a;
	const struct rt_pod *y = *(const struct rt_pod *const *)b;
	int c = strcmp(x->namespace, y->namespace);

	return c ? c : (x > y) - (x < y);
}

static const char *rt_ns(void *arg, size_t i)
{
	return ((const struct desired_index *)arg)->rt[i]->namespace;
}

static const struct config_labels *rt_labels(void *arg, size_t i)
{
	return &((const struct desired_index *)arg)->rt[i]->labels;
}

int desired_index_build(const struct config *cfg, const struct runtime *rt,
			struct desired_index *ix)
{
	memset(ix, 0, sizeof(*ix));
	ix->rt = calloc(rt->n_pods + 1, sizeof(*ix->rt));
	if (!ix->rt) {
		desired_index_free(ix);
		return -ENOMEM;
	}
	for (size_t i = 0; i < rt->n_pods; i++)
		ix->rt[ix->n_rt++] = &rt->pods[i];
	ix->cfg = cfg;
	/* Without memory for it, selections scan their namespace. */
	(void)label_index_build(&ix->by_label, ix->n_rt, rt_ns, rt_labels, ix);
	return 0;
}

void desired_index_free(struct desired_index *ix)
{
	free(ix->pods);
	free(ix->rt);
	free(ix->by_ns);
	label_index_free(&ix->by_label);
	memset(ix, 0, sizeof(*ix));
}

/* Without memory for the sorted array, look-ups scan the Pods. */
static void sort_pods(struct desired_index *ix)
{
	const struct config *cfg = ix->cfg;

	ix->pods_sorted = true;
	ix->pods = calloc(cfg->n_pods + 1, sizeof(*ix->pods));
	if (!ix->pods)
		return;
	for (size_t i = 0; i < cfg->n_pods; i++)
		ix->pods[ix->n_pods++] = &cfg->pods[i];
	qsort(ix->pods, ix->n_pods, sizeof(*ix->pods), cmp_cfg_pod);
}

/* @p's Pod object, else (NULL) its Deployment in *@dep (NULL when neither is known). */
static const struct config_pod *pod_object(struct desired_index *ix, const struct rt_pod *p,
					   const struct config_deployment **dep)
{
	const struct config *cfg = ix->cfg;
	struct config_pod key = {.meta = {.name = p->name, .namespace = p->namespace}};
	const struct config_pod *kp = &key, *const * found;

	*dep = NULL;
	if (!ix->pods_sorted)
		sort_pods(ix);
	found =
	    ix->n_pods ? bsearch(&kp, ix->pods, ix->n_pods, sizeof(*ix->pods), cmp_cfg_pod) : NULL;
	for (size_t i = 0; !ix->pods && !found && i < cfg->n_pods; i++)
		if (!cmp_cfg_pod(&kp, &(const struct config_pod *){&cfg->pods[i]}))
			return &cfg->pods[i];
	if (found)
		return *found;
	for (size_t i = 0; p->owner && i < cfg->n_deployments; i++) {
		const struct config_deployment *d = &cfg->deployments[i];

		if (strcmp(d->meta.name, p->owner) == 0 && d->meta.namespace &&
		    strcmp(d->meta.namespace, p->namespace) == 0) {
			*dep = d;
			break;
		}
	}
	return NULL;
}

const struct config_pod_spec *desired_pod_spec(struct desired_index *ix, const struct rt_pod *p)
{
	const struct config_deployment *dep;
	const struct config_pod *pod = pod_object(ix, p, &dep);

	return pod ? &pod->spec : dep ? &dep->template : NULL;
}

/* @p's annotation @key, from its Pod object or its Deployment's template; NULL when unset. */
static const char *pod_annotation(struct desired_index *ix, const struct rt_pod *p, const char *key)
{
	const struct config_deployment *dep;
	const struct config_pod *pod = pod_object(ix, p, &dep);

	return pod   ? config_label_get(&pod->meta.annotations, key)
	       : dep ? config_label_get(&dep->template_annotations, key)
		     : NULL;
}

/* Istio's per-pod opt-out of DNS capture: annotation ambient.istio.io/dns-capture: "false". */
static bool dns_opted_out(struct desired_index *ix, const struct rt_pod *p)
{
	const char *v = pod_annotation(ix, p, AMBIT_ANNOTATION_DNS_CAPTURE);

	return v && !strcmp(v, "false");
}

int desired_port_list(const char *v, uint16_t *ports, size_t max, size_t *n, char *why, size_t len)
{
	const char *s = v;

	*n = 0;
	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s)
		return 0;
	for (;;) {
		char *end;
		unsigned long port;

		while (*s == ' ' || *s == '\t')
			s++;
		if (*s < '0' || *s > '9') {
			snprintf(why, len, "\"%.*s\" is not a port", (int)strcspn(s, ","), s);
			return -EINVAL;
		}
		port = strtoul(s, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		if ((*end && *end != ',') || port < 1 || port > 65535) {
			snprintf(why, len, "\"%.*s\" is not a port (1-65535)", (int)strcspn(s, ","),
				 s);
			return -EINVAL;
		}
		if (*n == max) {
			snprintf(why, len, "more than %zu ports", max);
			return -EINVAL;
		}
		ports[(*n)++] = htons((uint16_t)port);
		if (!*end)
			return 0;
		s = end + 1;
	}
}

/*
 * @p's exclusions into @ex. A value that is no port list is told (a warning naming the pod, the
 * annotation and why) and left out whole: the pod's ports stay captured, the safe side.
 */
static int pod_exclusions(struct builder *b, const struct rt_pod *p, struct pod_excl *ex)
{
	static const char *const keys[2] = {AMBIT_ANNOTATION_EXCLUDE_OUTBOUND,
					    AMBIT_ANNOTATION_EXCLUDE_INBOUND};
	char why[128];
	int err;

	ex->n_out = ex->n_in = 0;
	for (int i = 0; i < 2; i++) {
		const char *v = pod_annotation(b->ix, p, keys[i]);
		uint16_t *ports = i ? ex->in : ex->out;
		size_t *n = i ? &ex->n_in : &ex->n_out;

		if (!v || !desired_port_list(v, ports, EXCL_MAX_PORTS, n, why, sizeof(why)))
			continue;
		*n = 0;
		err = warn(b, "pod %s: annotation %s: \"%s\": %s; its ports stay captured", p->uid,
			   keys[i], v, why);
		if (err)
			return err;
	}
	return 0;
}

/* One excl_ports entry (struct ambit_excl_key, as a 16-byte dp_entry key). */
static int add_excl(struct builder *b, uint64_t id, uint16_t port, uint8_t proto, uint8_t dir)
{
	struct ambit_excl_key k = {.id = id, .port = port, .proto = proto, .dir = dir};
	struct desired *d = b->d;
	struct dp_entry *e;
	uint32_t one = 1;

	_Static_assert(sizeof(k) == sizeof(e->key) + sizeof(e->key2), "excl key");
	if (array_grow((void **)&d->excl, &d->cap_excl, d->n_excl, sizeof(*d->excl)))
		return -ENOMEM;
	e = &d->excl[d->n_excl++];
	memset(e, 0, sizeof(*e));
	memcpy(&e->key, &k, sizeof(e->key));
	memcpy(&e->key2, (const char *)&k + sizeof(e->key), sizeof(e->key2));
	memcpy(e->val, &one, sizeof(one));
	return 0;
}

/*
 * Pod @lp's exclusions @ex as excl_ports entries: each outbound port by its cgroup for connect
 * (TCP), each port by its veth for tc (TCP and UDP, each way).
 */
static int add_exclusions(struct builder *b, const struct desired_local_pod *lp,
			  const struct pod_excl *ex)
{
	static const uint8_t protos[2] = {IPPROTO_TCP, IPPROTO_UDP};
	int err = 0;

	for (size_t i = 0; !err && i < ex->n_out; i++) {
		if (lp->cgroup_id)
			err = add_excl(b, lp->cgroup_id, ex->out[i], IPPROTO_TCP, AMBIT_EXCL_OUT);
		for (int j = 0; !err && lp->ifindex && j < 2; j++)
			err = add_excl(b, (uint64_t)lp->ifindex, ex->out[i], protos[j],
				       AMBIT_EXCL_OUT_IFACE);
	}
	for (size_t i = 0; !err && lp->ifindex && i < ex->n_in; i++)
		for (int j = 0; !err && j < 2; j++)
			err = add_excl(b, (uint64_t)lp->ifindex, ex->in[i], protos[j],
				       AMBIT_EXCL_IN_IFACE);
	return err;
}

size_t desired_ns_pods(struct desired_index *ix, const char *ns, const struct rt_pod *const **first)
{
	size_t lo = 0, hi = ix->n_rt, end;

	if (!ix->by_ns_sorted) {
		ix->by_ns_sorted = true;
		ix->by_ns = malloc((ix->n_rt + 1) * sizeof(*ix->by_ns));
		if (ix->by_ns) {
			memcpy(ix->by_ns, ix->rt, ix->n_rt * sizeof(*ix->by_ns));
			qsort(ix->by_ns, ix->n_rt, sizeof(*ix->by_ns), cmp_rt_pod);
		}
	}
	if (!ix->by_ns) {
		*first = ix->rt;
		return ix->n_rt;
	}
	/* The first pod of @ns, then the run of them. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(ix->by_ns[mid]->namespace, ns) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo; end < ix->n_rt && !strcmp(ix->by_ns[end]->namespace, ns); end++)
		;
	*first = &ix->by_ns[lo];
	return end - lo;
}

/* Kubernetes semantics: a named targetPort is looked up per pod; a pod without it is skipped. */
static uint16_t target_port(struct desired_index *ix, const struct rt_pod *p,
			    const struct config_service_port *sp)
{
	const struct config_pod_spec *spec;

	if (!sp->target_port_name)
		return sp->target_port ? sp->target_port : sp->port;
	spec = desired_pod_spec(ix, p);
	for (size_t i = 0; spec && i < spec->nports; i++)
		if (spec->ports[i].name && strcmp(spec->ports[i].name, sp->target_port_name) == 0)
			return spec->ports[i].port;
	return 0;
}

/* @p is one of @svc's namespace's pods (desired_ns_pods): is it one of its endpoints? */
static bool selects(const struct config_service *svc, const struct rt_pod *p)
{
	/*
	 * A Service without selector has no managed endpoints (unlike an empty label match); a
	 * pod not Ready, or being deleted, is not an endpoint (EndpointSlice's ready: false).
	 */
	return svc->selector.n && !p->not_ready && config_labels_match(&svc->selector, &p->labels);
}

/*
 * A Service without selector takes its endpoints from its EndpointSlices (the Kubernetes
 * source's; the local cluster has none). Selector-less Services are few (the API server's own,
 * external databases): their slices are found by a scan of the view's.
 */
/*
 * The pods @svc selects, in the runtime's order (its endpoints' order): from the label index's
 * candidates, or its namespace's pods when there is no index. *@out malloc'd. 0 or -ENOMEM.
 */
static int selected_pods(struct desired_index *ix, const struct config_service *svc,
			 const struct rt_pod ***out, size_t *n)
{
	const struct rt_pod *const *ns_pods;
	size_t n_cand, n_ns = 0;
	const size_t *cand =
	    label_index_candidates(&ix->by_label, svc->meta.namespace, &svc->selector, &n_cand);

	*out = NULL;
	*n = 0;
	if (!svc->selector.n || !n_cand)
		return 0;
	if (n_cand == SIZE_MAX)
		n_cand = n_ns = desired_ns_pods(ix, svc->meta.namespace, &ns_pods);
	*out = calloc(n_cand, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t k = 0; k < n_cand; k++) {
		const struct rt_pod *p = n_ns ? ns_pods[k] : ix->rt[cand[k]];

		if (strcmp(p->namespace, svc->meta.namespace) || !selects(svc, p))
			continue;
		(*out)[(*n)++] = p;
	}
	return 0;
}

static bool slice_of(const struct config_endpoint_slice *s, const struct config_service *svc)
{
	return s->ipv4 && s->service && !strcmp(s->service, svc->meta.name) &&
	       !strcmp(s->meta.namespace, svc->meta.namespace);
}

/* An IPv6 slice of @svc's (a dual-stack Service's second family). */
static bool slice6_of(const struct config_endpoint_slice *s, const struct config_service *svc)
{
	return s->ipv6 && s->service && !strcmp(s->service, svc->meta.name) &&
	       !strcmp(s->meta.namespace, svc->meta.namespace);
}

/* A slice of either family: an IPv6-only Service has its IPv6 slices alone. */
static bool has_slice(const struct config *cfg, const struct config_service *svc)
{
	for (size_t i = 0; i < cfg->n_endpoint_slices; i++)
		if (slice_of(&cfg->endpoint_slices[i], svc) ||
		    slice6_of(&cfg->endpoint_slices[i], svc))
			return true;
	return false;
}

/* Its IPv6 slices' ready endpoints (once each) into @ss->endpoints6. 0 or -ENOMEM. */
static int slice_endpoints6(const struct config *cfg, const struct config_service *svc,
			    struct snap_service *ss)
{
	for (size_t i = 0; i < cfg->n_endpoint_slices; i++) {
		const struct config_endpoint_slice *s = &cfg->endpoint_slices[i];

		if (!slice6_of(s, svc))
			continue;
		for (size_t j = 0; j < s->nendpoints; j++) {
			const struct ipaddr *ip6 = &s->endpoints[j].ip6;
			struct ipaddr *ep;
			size_t k;

			/* Not an IPv6 address: kinds/eps.c refused the slice already. */
			if (s->endpoints[j].not_ready || ip6->family != AF_INET6)
				continue;
			for (k = 0; k < ss->nendpoints6 && !ipaddr_equal(&ss->endpoints6[k], ip6);
			     k++)
				;
			if (k < ss->nendpoints6)
				continue;
			ep = realloc(ss->endpoints6, (ss->nendpoints6 + 1) * sizeof(*ep));
			if (!ep)
				return -ENOMEM;
			ss->endpoints6 = ep;
			ss->endpoints6[ss->nendpoints6++] = *ip6;
		}
	}
	return 0;
}

/*
 * Its slices' ready endpoints (once each) into @ss, each family's into its own list; *@total:
 * the IPv4 ones with repeats, for the backends.
 */
static int slice_endpoints(const struct config *cfg, const struct config_service *svc,
			   struct snap_service *ss, size_t *total)
{
	*total = 0;
	for (size_t i = 0; i < cfg->n_endpoint_slices; i++) {
		const struct config_endpoint_slice *s = &cfg->endpoint_slices[i];

		if (!slice_of(s, svc))
			continue;
		for (size_t j = 0; j < s->nendpoints; j++) {
			uint32_t ip = s->endpoints[j].ip, *ep;
			size_t k;

			if (s->endpoints[j].not_ready)
				continue;
			++*total;
			for (k = 0; k < ss->nendpoints && ss->endpoints[k] != ip; k++)
				;
			if (k < ss->nendpoints)
				continue;
			ep = realloc(ss->endpoints, (ss->nendpoints + 1) * sizeof(*ep));
			if (!ep)
				return -ENOMEM;
			ss->endpoints = ep;
			ss->endpoints[ss->nendpoints++] = ip;
		}
	}
	return slice_endpoints6(cfg, svc, ss);
}

/* Slice @s's port named @want (a Service port's name, "" for none), or 0. */
static uint16_t slice_port(const struct config_endpoint_slice *s, const char *want)
{
	for (size_t j = 0; j < s->nports; j++)
		if (!strcmp(s->ports[j].name ? s->ports[j].name : "", want))
			return s->ports[j].port;
	return 0;
}

/* The backends of Service port @sp from the slices: each slice's port of the same name. */
static void slice_backends(const struct config *cfg, const struct config_service *svc,
			   const struct config_service_port *sp, struct dp_service *ds,
			   struct snap_service_port *pp)
{
	const char *want = sp->name ? sp->name : "";

	for (size_t i = 0; i < cfg->n_endpoint_slices; i++) {
		const struct config_endpoint_slice *s = &cfg->endpoint_slices[i];
		uint16_t tp = 0;

		if (!slice_of(s, svc))
			continue;
		tp = slice_port(s, want);
		if (!tp)
			continue; /* this slice does not serve the port */
		if (!pp->target_port)
			pp->target_port = tp;
		for (size_t j = 0; j < s->nendpoints; j++) {
			if (s->endpoints[j].not_ready)
				continue;
			ds->backends[ds->n].ip = s->endpoints[j].ip;
			ds->backends[ds->n].port = tp;
			ds->n++;
		}
	}
	/*
	 * No IPv4 slice serves it (an IPv6-only Service): the snapshot's target port is its IPv6
	 * slices', where the ztunnel takes [vip6]:port.
	 */
	for (size_t i = 0; !pp->target_port && i < cfg->n_endpoint_slices; i++)
		if (slice6_of(&cfg->endpoint_slices[i], svc))
			pp->target_port = slice_port(&cfg->endpoint_slices[i], want);
}

static int service_ports(struct builder *b, const struct config *cfg,
			 const struct config_service *svc, const struct rt_pod **sel, size_t n_sel,
			 size_t n_backends, bool sliced);

int desired_ep_port_add(struct snap_service *ss, uint32_t ip, const struct ipaddr *ip6,
			uint16_t port, uint16_t tp)
{
	struct snap_ep_port6 *v6;
	size_t k;

	for (k = 0; ip && k < ss->n_ep_ports; k++)
		if (ss->ep_ports[k].ip == ip && ss->ep_ports[k].port == port)
			break;
	if (ip && k == ss->n_ep_ports) {
		struct snap_ep_port *v = realloc(ss->ep_ports, (k + 1) * sizeof(*v));

		if (!v)
			return -ENOMEM;
		ss->ep_ports = v;
		v[ss->n_ep_ports++] = (struct snap_ep_port){ip, port, tp};
	}
	if (!ip6 || ip6->family != AF_INET6)
		return 0;
	for (k = 0; k < ss->n_ep_ports6; k++)
		if (ipaddr_equal(&ss->ep_ports6[k].ip, ip6) && ss->ep_ports6[k].port == port)
			return 0;
	v6 = realloc(ss->ep_ports6, (k + 1) * sizeof(*v6));
	if (!v6)
		return -ENOMEM;
	ss->ep_ports6 = v6;
	v6[ss->n_ep_ports6++] = (struct snap_ep_port6){*ip6, port, tp};
	return 0;
}

/*
 * The ready endpoints of @svc's slices, of both families, whose slice numbers Service port @sp
 * otherwise than @pp's target port: each takes it at its own slice's number (Kubernetes'
 * rule: slices of one Service may carry different numbers for one port name, an IPv6 slice
 * at 8081 beside an IPv4 one at 8080). 0 or -ENOMEM.
 */
static int slice_ep_ports(const struct config *cfg, const struct config_service *svc,
			  const struct config_service_port *sp, struct snap_service *ss,
			  const struct snap_service_port *pp)
{
	const char *want = sp->name ? sp->name : "";
	int err = 0;

	for (size_t i = 0; !err && i < cfg->n_endpoint_slices; i++) {
		const struct config_endpoint_slice *s = &cfg->endpoint_slices[i];
		bool v6 = slice6_of(s, svc);
		uint16_t tp;

		if (!v6 && !slice_of(s, svc))
			continue;
		tp = slice_port(s, want);
		if (!tp || tp == pp->target_port)
			continue;
		for (size_t j = 0; !err && j < s->nendpoints; j++)
			if (!s->endpoints[j].not_ready)
				err = v6 ? desired_ep_port_add(ss, 0, &s->endpoints[j].ip6,
							       sp->port, tp)
					 : desired_ep_port_add(ss, s->endpoints[j].ip, NULL,
							       sp->port, tp);
	}
	return err;
}

/* Istio's annotation for a Service's traffic distribution (its value as the field's). */
static bool service_prefers_close(const struct config_service *svc)
{
	const char *v =
	    config_label_get(&svc->meta.annotations, "networking.istio.io/traffic-distribution");

	return v && (!strcmp(v, "PreferClose") || !strcmp(v, "PreferSameZone") ||
		     !strcmp(v, "PreferSameNode"));
}

/*
 * @ss's strings (name, namespace, hostname, its ports' names): borrowed from the service in
 * force made from the same Service object (they come from it alone), else made. 0 or -ENOMEM.
 */
static int same_service(struct builder *b, const struct config_service *svc,
			struct snap_service *ss)
{
	size_t i = serial_map_take(&b->prev_svc, svc->meta.serial);
	const struct snap_service *old = i == SIZE_MAX ? NULL : &b->prev->snap_services[i];

	if (old && old->name && old->nports == svc->nports) {
		ss->name = old->name;
		ss->namespace = old->namespace;
		ss->hostname = old->hostname;
		ss->borrowed = i + 1;
		return 0;
	}
	ss->name = xstrdup(svc->meta.name);
	ss->namespace = xstrdup(svc->meta.namespace);
	if (asprintf(&ss->hostname, "%s.%s.svc.cluster.local", svc->meta.name,
		     svc->meta.namespace) < 0)
		ss->hostname = NULL;
	return !ss->name || !ss->namespace || !ss->hostname ? -ENOMEM : 0;
}

/*
 * A selector Service with IPv6-only pods among its endpoints: every selected pod's IPv6 into
 * @ss->endpoints6, which then takes the IPv6 VIP (route.c), for the IPv6-only pods have no
 * IPv4 to be listed by in @ss->endpoints. Without such pods it stays empty, and the ztunnel
 * reaches the pods at the IPv6 VIP by their workloads' ip6. 0 or -ENOMEM.
 */
static int selected_endpoints6(struct snap_service *ss, const struct rt_pod **sel, size_t n_sel)
{
	ss->endpoints6 = calloc(n_sel, sizeof(*ss->endpoints6));
	if (!ss->endpoints6)
		return -ENOMEM;
	for (size_t i = 0; i < n_sel; i++)
		if (sel[i]->ip6.family == AF_INET6)
			ss->endpoints6[ss->nendpoints6++] = sel[i]->ip6;
	return 0;
}

static int add_service(struct builder *b, const struct config *cfg, const struct runtime *rt,
		       const struct config_service *svc)
{
	const struct rt_pod **sel = NULL;
	size_t n_sel = 0;
	struct desired *d = b->d;
	struct snap_service *ss;
	struct in_addr a;
	uint32_t vip = 0;
	size_t n_backends;
	/* No selector: the endpoints are its EndpointSlices' (the Kubernetes source's). */
	bool sliced = !svc->selector.n && has_slice(cfg, svc);
	/* Headless: no VIP, its endpoints answered by name (the ztunnel's DNS proxy). */
	bool headless = svc->cluster_ip && !strcmp(svc->cluster_ip, "None");
	int err;

	/*
	 * Its IPv4 cluster IP (clusterIPs' IPv4 one when its first family is IPv6), none for a
	 * SingleStack IPv6 Service; else the local cluster's allocation (the runtime's).
	 */
	if (svc->cluster_ip && !headless) {
		const char *v4 = config_service_ipv4(svc);

		if (v4 && inet_pton(AF_INET, v4, &a) == 1)
			vip = a.s_addr;
	}
	if (!vip && !headless)
		vip = runtime_service_ip(rt, svc->meta.namespace, svc->meta.name);
	/* Its IPv6 cluster IP: a dual-stack Service's second, an IPv6 one's only. */
	b->vip6.family = 0;
	if (!headless && svc->cluster_ip &&
	    (ipaddr_parse_addr(svc->cluster_ip, &b->vip6) || b->vip6.family != AF_INET6))
		b->vip6.family = 0;
	for (size_t i = 0; !headless && b->vip6.family != AF_INET6 && i < svc->cluster_ips.n; i++)
		if (ipaddr_parse_addr(svc->cluster_ips.items[i], &b->vip6))
			b->vip6.family = 0;
	if (b->vip6.family != AF_INET6) {
		const struct ipaddr *r6 =
		    headless ? NULL : runtime_service_ip6(rt, svc->meta.namespace, svc->meta.name);

		b->vip6.family = 0;
		if (r6)
			b->vip6 = *r6;
	}
	if (!vip && !b->vip6.family && !headless)
		return warn(b, "service %s/%s: no cluster IP yet; ignored", svc->meta.namespace,
			    svc->meta.name);
	/*
	 * No selector and no EndpointSlice: nothing the mesh knows of its endpoints. Left out, its
	 * address is one the ztunnel passes through, as the node would route it.
	 */
	if (!svc->selector.n && !sliced)
		return 0;

	if (array_grow((void **)&d->snap_services, &b->cap_ssvc, d->n_snap_services, sizeof(*ss)) ||
	    selected_pods(b->ix, svc, &sel, &n_sel))
		return -ENOMEM;
	ss = &d->snap_services[d->n_snap_services++];
	memset(ss, 0, sizeof(*ss));
	ss->serial = svc->meta.serial;
	ss->vip = vip;
	ss->vip6 = b->vip6;
	ss->prefer_close = svc->prefer_close || service_prefers_close(svc);
	err = same_service(b, svc, ss);
	if (!err && svc->nports && !(ss->ports = calloc(svc->nports, sizeof(*ss->ports))))
		err = -ENOMEM;
	if (!err && n_sel && !(ss->endpoints = calloc(n_sel, sizeof(*ss->endpoints))))
		err = -ENOMEM;
	for (size_t i = 0; !err && i < n_sel; i++)
		if (sel[i]->ip)
			ss->endpoints[ss->nendpoints++] = sel[i]->ip;
	if (!err && ss->nendpoints < n_sel)
		err = selected_endpoints6(ss, sel, n_sel);
	n_backends = ss->nendpoints;
	if (!err && sliced && slice_endpoints(cfg, svc, ss, &n_backends))
		err = -ENOMEM;
	if (!err)
		err = service_ports(b, cfg, svc, sel, n_sel, n_backends, sliced);
	free(sel);
	return err;
}

/* One IPv6 backend (@ip6's bytes, @port host order) of @ds. 0 or -ENOMEM. */
static int add_backend6(struct dp_service6 *ds, size_t *cap, const uint8_t *ip6, uint16_t port)
{
	if (array_grow((void **)&ds->backends, cap, ds->n, sizeof(*ds->backends)))
		return -ENOMEM;
	memset(&ds->backends[ds->n], 0, sizeof(ds->backends[ds->n]));
	memcpy(ds->backends[ds->n].ip6, ip6, sizeof(ds->backends[ds->n].ip6));
	ds->backends[ds->n++].port = htons(port);
	return 0;
}

/*
 * Port @sp (balanced as @proto) of a dual-stack Service at its IPv6 VIP (b->vip6): the selected
 * pods' IPv6 addresses at the IPv4 entry's target ports, or its IPv6 slices' endpoints at their
 * ports. Pods without an IPv6 address are not its backends. 0 or -ENOMEM.
 */
static int service6_port(struct builder *b, const struct config *cfg,
			 const struct config_service *svc, const struct config_service_port *sp,
			 uint8_t proto, const struct rt_pod **sel, size_t n_sel, bool sliced)
{
	struct desired *d = b->d;
	struct dp_service6 *ds;
	size_t cap = 0;
	int err = 0;

	if (array_grow((void **)&d->services6, &b->cap_svc6, d->n_services6, sizeof(*ds)))
		return -ENOMEM;
	ds = &d->services6[d->n_services6++];
	memset(ds, 0, sizeof(*ds));
	memcpy(&ds->vip, b->vip6.a, sizeof(ds->vip));
	ds->port = sp->port;
	ds->proto = proto;
	for (size_t j = 0; !sliced && !err && j < n_sel; j++) {
		uint16_t tp = sel[j]->ip6.family == AF_INET6 ? target_port(b->ix, sel[j], sp) : 0;

		if (tp)
			err = add_backend6(ds, &cap, sel[j]->ip6.a, tp);
	}
	for (size_t i = 0; sliced && !err && i < cfg->n_endpoint_slices; i++) {
		const struct config_endpoint_slice *s = &cfg->endpoint_slices[i];
		const char *want = sp->name ? sp->name : "";
		uint16_t tp = 0;

		if (!slice6_of(s, svc))
			continue;
		tp = slice_port(s, want);
		for (size_t j = 0; tp && !err && j < s->nendpoints; j++)
			if (!s->endpoints[j].not_ready)
				err = add_backend6(ds, &cap, s->endpoints[j].ip6.a, tp);
	}
	return err;
}

/* @svc's ports, each with its backends: the selected pods' target ports, or its slices'. */
static int service_ports(struct builder *b, const struct config *cfg,
			 const struct config_service *svc, const struct rt_pod **sel, size_t n_sel,
			 size_t n_backends, bool sliced)
{
	struct desired *d = b->d;
	struct snap_service *ss = &d->snap_services[d->n_snap_services - 1];
	uint32_t vip = ss->vip;
	int err;

	for (size_t i = 0; i < svc->nports; i++) {
		const struct config_service_port *sp = &svc->ports[i];
		struct snap_service_port *pp = &ss->ports[ss->nports++];
		int proto = dp_service_proto(sp->protocol); /* < 0: not balanced in the kernel */
		struct dp_service *ds;

		pp->name = ss->borrowed ? b->prev->snap_services[ss->borrowed - 1].ports[i].name
					: xstrdup(sp->name);
		pp->port = sp->port;
		if (sp->name && !pp->name)
			return -ENOMEM;
		if (array_grow((void **)&d->services, &b->cap_svc, d->n_services, sizeof(*ds)))
			return -ENOMEM;
		ds = &d->services[d->n_services++];
		memset(ds, 0, sizeof(*ds));
		ds->vip = vip;
		ds->port = sp->port;
		ds->proto = (uint8_t)proto;
		ds->known = true;
		if (n_backends) {
			ds->backends = calloc(n_backends, sizeof(*ds->backends));
			if (!ds->backends)
				return -ENOMEM;
		}
		if (sliced) {
			slice_backends(cfg, svc, sp, ds, pp);
			if ((err = slice_ep_ports(cfg, svc, sp, ss, pp)))
				return err;
		}
		for (size_t j = 0; !sliced && j < n_sel; j++) {
			uint16_t tp = target_port(b->ix, sel[j], sp);

			if (!tp) {
				err = warn(b, "service %s/%s port %u: pod %s has no port named %s",
					   svc->meta.namespace, svc->meta.name, sp->port,
					   sel[j]->uid, sp->target_port_name);
				if (err)
					return err;
				continue;
			}
			/* The snapshot carries one target port, the first endpoint's, and the
			 * others' where they differ. */
			if (!pp->target_port)
				pp->target_port = tp;
			if (tp != pp->target_port &&
			    (err = desired_ep_port_add(ss, sel[j]->ip,
						       ss->nendpoints6 ? &sel[j]->ip6 : NULL,
						       sp->port, tp)))
				return err;
			/* An IPv6-only pod is a backend at the IPv6 VIP alone (service6_port). */
			if (!sel[j]->ip)
				continue;
			ds->backends[ds->n].ip = sel[j]->ip;
			ds->backends[ds->n].port = tp;
			ds->n++;
		}
		if (!pp->target_port && !sp->target_port_name)
			pp->target_port = sp->target_port ? sp->target_port : sp->port;
		/*
		 * Headless or IPv6 alone: nothing for the kernel to balance at an IPv4 VIP; nor
		 * for a protocol it does not balance (SCTP).
		 */
		if (!vip || proto < 0) {
			free(ds->backends);
			d->n_services--;
		}
		if (b->vip6.family == AF_INET6 && proto >= 0 &&
		    (err = service6_port(b, cfg, svc, sp, (uint8_t)proto, sel, n_sel, sliced)))
			return err;
	}
	return 0;
}

/* Whether @p, a dp_service, is a ServiceEntry's UDP port (entries.c: one all-zero backend). */
static bool entry_port(const void *p)
{
	const struct dp_service *s = p;

	return s->n == AMBIT_SERVICE_ENTRY_UDP_BACKENDS && !s->backends[0].ip &&
	       !s->backends[0].port;
}

/* The same for a dp_service6. */
static bool entry_port6(const void *p)
{
	static const struct ambit_addr6 zero;
	const struct dp_service6 *s = p;

	return s->n == AMBIT_SERVICE_ENTRY_UDP_BACKENDS &&
	       !memcmp(s->backends, &zero, sizeof(zero));
}

static void clear_service(void *p)
{
	free(((struct dp_service *)p)->backends);
}

static void clear_service6(void *p)
{
	free(((struct dp_service6 *)p)->backends);
}

/*
 * Sorted @arr, @n items of @size in @cmp's order: of two at one key (a ServiceEntry's address
 * and UDP port a Service's too), the ServiceEntry's port (@is_entry) goes, @clear'ed, and the
 * Service's stays. The new count.
 */
static size_t drop_twins(void *arr, size_t n, size_t size, int (*cmp)(const void *, const void *),
			 bool (*is_entry)(const void *), void (*clear)(void *))
{
	char *a = arr;
	size_t out = 0;

	for (size_t i = 0; i < n; i++) {
		char *x = a + i * size;

		if (out && !cmp(a + (out - 1) * size, x)) {
			char *kept = a + (out - 1) * size;

			/* The earlier one is the entry's: the Service's takes its place. */
			if (is_entry(kept) && !is_entry(x)) {
				clear(kept);
				memcpy(kept, x, size);
			} else {
				clear(x);
			}
			continue;
		}
		if (out != i)
			memcpy(a + out * size, x, size);
		out++;
	}
	return out;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct dp_entry *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->key2 < y->key2 ? -1 : x->key2 > y->key2;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_swl(const void *a, const void *b)
{
	uint32_t x = ntohl(((const struct snap_workload *)a)->ip);
	uint32_t y = ntohl(((const struct snap_workload *)b)->ip);

	return x < y ? -1 : x > y;
}

static int cmp_ssvc(const void *a, const void *b)
{
	const struct snap_service *x = a, *y = b;
	int c = strcmp(x->namespace, y->namespace);

	return c ? c : strcmp(x->name, y->name);
}

int desired_compute(const struct config *cfg, const struct runtime *rt,
		    const struct desired_env *env, struct desired *out)
{
	struct desired_index ix;
	struct builder b = {.d = out, .ix = &ix};
	int err;

	memset(out, 0, sizeof(*out));
	out->trust_domain = xstrdup(env->trust_domain);
	if (env->trust_domain && !out->trust_domain)
		return -ENOMEM;
	if (env->prev) {
		b.prev = env->prev;
		b.same_td = env->trust_domain && env->prev->trust_domain &&
			    !strcmp(env->trust_domain, env->prev->trust_domain);
		/* Without memory for them, everything is made anew. */
		(void)serial_map_build(&b.prev_wl, b.prev->snap_workloads, b.prev->n_snap_workloads,
				       sizeof(struct snap_workload),
				       offsetof(struct snap_workload, serial));
		(void)serial_map_build(&b.prev_svc, b.prev->snap_services, b.prev->n_snap_services,
				       sizeof(struct snap_service),
				       offsetof(struct snap_service, serial));
	}
	err = desired_index_build(cfg, rt, &ix);
	ix.ipv6 = env->ipv6;
	for (size_t i = 0; i < rt->n_pods && !err; i++)
		err = add_pod(&b, cfg, &rt->pods[i], env);
	for (size_t i = 0; i < cfg->n_services && !err; i++)
		err = add_service(&b, cfg, rt, &cfg->services[i]);
	if (!err)
		err = desired_entries(cfg, &ix, out, &(struct entry_caps){&b.cap_svc, &b.cap_svc6});
	if (!err)
		err = desired_waypoints(cfg, rt, env, out);
	if (!err)
		err = desired_remote_udp(env, out);
	desired_index_free(&ix);
	free(b.ips);
	serial_map_free(&b.prev_wl);
	serial_map_free(&b.prev_svc);
	if (err)
		return err;
	/* Sorted output keeps diffs, snapshots and logs stable from one reload to the next. */
	if (out->n_workloads)
		qsort(out->workloads, out->n_workloads, sizeof(*out->workloads), cmp_entry);
	if (out->n_enrolled)
		qsort(out->enrolled, out->n_enrolled, sizeof(*out->enrolled), cmp_entry);
	if (out->n_ifaces)
		qsort(out->ifaces, out->n_ifaces, sizeof(*out->ifaces), cmp_entry);
	if (out->n_workloads6)
		qsort(out->workloads6, out->n_workloads6, sizeof(*out->workloads6), cmp_entry);
	err = dedupe6(&b, out);
	if (err)
		return err;
	if (out->n_ifaces6)
		qsort(out->ifaces6, out->n_ifaces6, sizeof(*out->ifaces6), cmp_entry);
	if (out->n_excl)
		qsort(out->excl, out->n_excl, sizeof(*out->excl), cmp_entry);
	out->n_sentry_cidrs = dp_sentry_cidrs_sort(out->sentry_cidrs, out->n_sentry_cidrs);
	if (out->n_services)
		qsort(out->services, out->n_services, sizeof(*out->services), dp_service_cmp);
	if (out->n_services6)
		qsort(out->services6, out->n_services6, sizeof(*out->services6), dp_service6_cmp);
	out->n_services = drop_twins(out->services, out->n_services, sizeof(*out->services),
				     dp_service_cmp, entry_port, clear_service);
	out->n_services6 = drop_twins(out->services6, out->n_services6, sizeof(*out->services6),
				      dp_service6_cmp, entry_port6, clear_service6);
	if (out->n_identities)
		qsort(out->identities, out->n_identities, sizeof(char *), cmp_str);
	if (out->n_snap_workloads)
		qsort(out->snap_workloads, out->n_snap_workloads, sizeof(*out->snap_workloads),
		      cmp_swl);
	if (out->n_snap_services)
		qsort(out->snap_services, out->n_snap_services, sizeof(*out->snap_services),
		      cmp_ssvc);
	return 0;
}

/*
 * Two pods claiming one IPv6 address (sorted @d->workloads6 side by side): one keeps it, as
 * for IPv4 (ip_seen), and the address is named. 0 or -ENOMEM.
 */
static int dedupe6(struct builder *b, struct desired *d)
{
	size_t kept = 0;

	for (size_t i = 0; i < d->n_workloads6; i++) {
		if (kept && !cmp_entry(&d->workloads6[kept - 1], &d->workloads6[i])) {
			struct in6_addr a;
			char txt[INET6_ADDRSTRLEN];
			int err;

			dp_entry_key16(&d->workloads6[i], &a);
			err = warn(b, "IPv6 %s used by more than one pod; one keeps it",
				   inet_ntop(AF_INET6, &a, txt, sizeof(txt)));
			if (err)
				return err;
			continue;
		}
		d->workloads6[kept++] = d->workloads6[i];
	}
	d->n_workloads6 = kept;
	return 0;
}

/* The entry of sorted @v with key @key, or NULL. */
static struct dp_entry *entry_find(struct dp_entry *v, size_t n, uint64_t key)
{
	struct dp_entry k = {.key = key};

	return n ? bsearch(&k, v, n, sizeof(*v), cmp_entry) : NULL;
}

int desired_mark_inpod(struct desired *d, struct desired_local_pod *lp)
{
	struct ambit_enrolled en;
	struct dp_entry *e;

	lp->inpod = true;
	e = entry_find(d->workloads, d->n_workloads, lp->ip);
	if (e) {
		struct ambit_workload wl;

		memcpy(&wl, e->val, sizeof(wl));
		wl.flags |= AMBIT_WL_INPOD;
		memcpy(e->val, &wl, sizeof(wl));
	}
	if (lp->ip6.family == AF_INET6) {
		struct dp_entry k = {0};

		memcpy(&k.key, lp->ip6.a, sizeof(k.key));
		memcpy(&k.key2, lp->ip6.a + sizeof(k.key), sizeof(k.key2));
		e = d->n_workloads6
			? bsearch(&k, d->workloads6, d->n_workloads6, sizeof(k), cmp_entry)
			: NULL;
		if (e) {
			struct ambit_workload wl;

			memcpy(&wl, e->val, sizeof(wl));
			wl.flags |= AMBIT_WL_INPOD;
			memcpy(e->val, &wl, sizeof(wl));
		}
	}
	e = entry_find(d->enrolled, d->n_enrolled, lp->cgroup_id);
	if (!e)
		return 0;
	memcpy(&en, e->val, sizeof(en));
	en.flags |= AMBIT_ENROLLED_INPOD;
	memcpy(e->val, &en, sizeof(en));
	/* Only an enrolled pod (its enrolled_cgrp entry): its IPv6 is steered by its cgroup. */
	if (lp->ip6.family != AF_INET6)
		return 0;
	_Static_assert(sizeof(struct ambit_ip6) <= sizeof(((struct dp_entry *)0)->val), "ip6");
	return add_entry(&d->enrolled6, &d->n_enrolled6, &d->cap_enrolled6, lp->cgroup_id,
			 lp->ip6.a, sizeof(struct ambit_ip6));
}

void desired_adopt(struct desired *next, struct desired *prev)
{
	for (size_t i = 0; i < next->n_snap_workloads; i++) {
		struct snap_workload *w = &next->snap_workloads[i], *from;
		struct snap_waypoint *wp;

		if (!w->borrowed)
			continue;
		from = &prev->snap_workloads[w->borrowed - 1];
		wp = from->waypoint;
		*from = (struct snap_workload){.waypoint = wp};
		w->borrowed = 0;
	}
	for (size_t i = 0; i < next->n_snap_services; i++) {
		struct snap_service *s = &next->snap_services[i], *from;

		if (!s->borrowed)
			continue;
		from = &prev->snap_services[s->borrowed - 1];
		from->name = from->namespace = from->hostname = NULL;
		for (size_t j = 0; j < from->nports; j++)
			from->ports[j].name = NULL;
		s->borrowed = 0;
	}
}

/* What a service owns when its strings are borrowed (desired_adopt). */
static void service_clear_own(struct snap_service *s)
{
	snapshot_waypoint_free(s->waypoint);
	free(s->waypoint_wanted);
	free(s->ports);
	free(s->endpoints);
	free(s->endpoints6);
	free(s->ep_ports);
	free(s->ep_ports6);
}

void desired_free(struct desired *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_local; i++) {
		free(d->local[i].uid);
		free(d->local[i].identity);
		free(d->local[i].cgroup);
		free(d->local[i].host_iface);
	}
	for (size_t i = 0; i < d->n_identities; i++)
		free(d->identities[i]);
	for (size_t i = 0; i < d->n_snap_workloads; i++) {
		if (d->snap_workloads[i].borrowed)
			snapshot_waypoint_free(d->snap_workloads[i].waypoint);
		else
			snapshot_workload_clear(&d->snap_workloads[i]);
	}
	for (size_t i = 0; i < d->n_snap_services; i++) {
		if (d->snap_services[i].borrowed)
			service_clear_own(&d->snap_services[i]);
		else
			snapshot_service_clear(&d->snap_services[i]);
	}
	for (size_t i = 0; i < d->n_snap_entries; i++)
		snapshot_service_clear(&d->snap_entries[i]);
	free(d->snap_entries);
	for (size_t i = 0; i < d->n_warnings; i++)
		free(d->warnings[i]);
	dp_services_free(d->services, d->n_services);
	dp_services6_free(d->services6, d->n_services6);
	free(d->workloads);
	free(d->enrolled);
	free(d->ifaces);
	free(d->workloads6);
	free(d->ifaces6);
	free(d->enrolled6);
	free(d->excl);
	free(d->sentry_cidrs);
	free(d->local);
	free(d->identities);
	free(d->snap_workloads);
	free(d->snap_services);
	free(d->warnings);
	free(d->trust_domain);
	memset(d, 0, sizeof(*d));
}

const struct desired_local_pod *desired_local_pod(const struct desired *d, const char *uid)
{
	for (size_t i = 0; i < d->n_local; i++)
		if (strcmp(d->local[i].uid, uid) == 0)
			return &d->local[i];
	return NULL;
}
