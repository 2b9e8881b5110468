// SPDX-License-Identifier: Apache-2.0
/*
 * The L7 compiler, services part: for each Service bound to a waypoint, its ports with their
 * protocol (appProtocol or port name, API_SEMANTICS.md §0), its endpoints (the pods its
 * selector picks, named target ports resolved per pod), the DestinationRule that applies (looked
 * up as Istio does for the waypoint as client: the waypoint's namespace, the service's, then the
 * root namespace; the exact host before wildcards; rules of one namespace merged, subsets
 * concatenated, the first one's policy kept), its subsets with the endpoints they select, and
 * the policy in force per (subset, port) with Istio's replace-not-merge rules
 * (util.MergeSubsetTrafficPolicy). Routes are in routes.c and gwapi.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include "ambit/snapshot.h"
#include "compile_priv.h"

#define ROOT_NAMESPACE "istio-system"

void l7_fqdn(const char *host, const char *ns, char *out, size_t len)
{
	if (strchr(host, '.') || !strcmp(host, "*"))
		snprintf(out, len, "%s", host);
	else
		snprintf(out, len, "%s.%s.svc.cluster.local", host, ns);
}

bool l7_host_covers(const char *pattern, const char *host)
{
	size_t pl, hl;

	if (!strcmp(pattern, host) || !strcmp(pattern, "*"))
		return true;
	if (strncmp(pattern, "*.", 2))
		return false;
	pl = strlen(pattern) - 1;
	hl = strlen(host);
	return hl > pl && !strcmp(host + hl - pl, pattern + 1);
}

bool l7_host_known(const struct config *cfg, const char *fqdn)
{
	char h[512];

	for (size_t i = 0; i < cfg->n_services; i++) {
		l7_fqdn(cfg->services[i].meta.name, cfg->services[i].meta.namespace, h, sizeof(h));
		if (!strcmp(h, fqdn))
			return true;
	}
	for (size_t i = 0; i < cfg->n_service_entries; i++)
		for (size_t j = 0; j < cfg->service_entries[i].hosts.n; j++)
			if (l7_host_covers(cfg->service_entries[i].hosts.items[j], fqdn))
				return true;
	return false;
}

int l7_meta_cmp(const struct config_meta *a, const struct config_meta *b)
{
	const char *ta = a->creation_timestamp ? a->creation_timestamp : "";
	const char *tb = b->creation_timestamp ? b->creation_timestamp : "";
	int c = strcmp(ta, tb);

	if (c)
		return c;
	c = strcmp(a->namespace ? a->namespace : "", b->namespace ? b->namespace : "");
	return c ? c : strcmp(a->name, b->name);
}

/* ---- protocols ---- */

/* Istio's protocol names, case-insensitive ("http2", "grpc-web"; appProtocol "h2c" too). */
static enum l7_protocol proto_of(const char *s, size_t n)
{
	static const struct {
		const char *name;
		enum l7_protocol p;
	} names[] = {
	    {"http", L7_PROTO_HTTP},
	    {"http2", L7_PROTO_HTTP2},
	    {"h2c", L7_PROTO_HTTP2},
	    {"grpc", L7_PROTO_GRPC},
	    {"grpc-web", L7_PROTO_GRPC_WEB},
	    {"https", L7_PROTO_HTTPS},
	    {"tls", L7_PROTO_TLS},
	    {"tcp", L7_PROTO_TCP},
	    {"mongo", L7_PROTO_MONGO},
	    {"mysql", L7_PROTO_MYSQL},
	    {"redis", L7_PROTO_REDIS},
	    {"udp", L7_PROTO_UDP},
	    {"kubernetes.io/h2c", L7_PROTO_HTTP2},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == n && !strncasecmp(names[i].name, s, n))
			return names[i].p;
	return L7_PROTO_UNKNOWN;
}

enum l7_protocol l7_port_protocol(const char *app_protocol, const char *port_name)
{
	enum l7_protocol p = L7_PROTO_UNKNOWN;

	if (app_protocol)
		p = proto_of(app_protocol, strlen(app_protocol));
	if (p == L7_PROTO_UNKNOWN && port_name) {
		const char *dash = strchr(port_name, '-');
		size_t n = dash ? (size_t)(dash - port_name) : strlen(port_name);

		/* "grpc-web" is a protocol, not grpc with suffix "web". */
		if (!strncasecmp(port_name, "grpc-web", 8) &&
		    (port_name[8] == '\0' || port_name[8] == '-'))
			return L7_PROTO_GRPC_WEB;
		p = proto_of(port_name, n);
	}
	return p;
}

/* ---- services ---- */

static uint32_t service_vip(const struct l7_inputs *in, const struct config_service *s)
{
	uint32_t vip = 0;

	if (config_service_ipv4(s)) {
		unsigned char b[4];

		if (sscanf(config_service_ipv4(s), "%hhu.%hhu.%hhu.%hhu", &b[0], &b[1], &b[2],
			   &b[3]) == 4)
			memcpy(&vip, b, 4);
	}
	if (!vip && in->service_vip)
		vip = in->service_vip(in->arg, s->meta.namespace, s->meta.name);
	return vip;
}

/* A dual-stack Service's IPv6 VIP: its IPv6 clusterIP, else the one allocated to it. */
static struct ipaddr service_vip6(const struct l7_inputs *in, const struct config_service *s)
{
	struct ipaddr a = {0};
	const struct ipaddr *r;

	for (size_t i = 0; i < s->cluster_ips.n; i++)
		if (!ipaddr_parse_addr(s->cluster_ips.items[i], &a) && a.family == AF_INET6)
			return a;
	memset(&a, 0, sizeof(a));
	/* Headless: no VIP of either family. */
	if (s->cluster_ip && !strcmp(s->cluster_ip, "None"))
		return a;
	r = in->service_vip6 ? in->service_vip6(in->arg, s->meta.namespace, s->meta.name) : NULL;
	if (r && r->family == AF_INET6)
		a = *r;
	return a;
}

static uint16_t named_port(const struct l7_pod *p, const char *name)
{
	for (size_t i = 0; p->spec && i < p->spec->nports; i++)
		if (p->spec->ports[i].name && !strcmp(p->spec->ports[i].name, name))
			return p->spec->ports[i].port;
	return 0;
}

/* Pod @p as the next endpoint of @out (endpoints allocated), with its target ports. */
static int add_endpoint(const struct l7_inputs *in, const struct l7_pod *p, struct l7_service *out)
{
	const char *td = in->trust_domain ? in->trust_domain : "cluster.local";
	struct l7_endpoint *e = &out->endpoints[out->n_endpoints++];

	e->ip = p->ip;
	if (p->ip6.family == AF_INET6)
		e->ip6 = p->ip6;
	e->node = l7_strdup(p->node ? p->node : "");
	e->workload = l7_strdup(p->workload);
	e->ports = calloc(out->n_ports + 1, sizeof(*e->ports));
	if (asprintf(&e->pod, "%s/%s", p->namespace, p->name) < 0)
		e->pod = NULL;
	bool mesh = config_enrolled(in->cfg, p->namespace, p->labels);

	/* A pod outside the mesh has no identity to check: proxies reach it in plaintext. */
	if (mesh && asprintf(&e->identity, "spiffe://%s/ns/%s/sa/%s", td, p->namespace,
			     p->service_account ? p->service_account : "default") < 0)
		e->identity = NULL;
	if (!e->node || !e->ports || !e->pod || (mesh && !e->identity) ||
	    (p->workload && !e->workload) || (p->labels && l7_copy_labels(&e->labels, p->labels)))
		return -ENOMEM;
	for (size_t j = 0; j < out->n_ports; j++)
		e->ports[j] = out->ports[j].target_port_name
				  ? named_port(p, out->ports[j].target_port_name)
				  : out->ports[j].target_port;
	return 0;
}

/*
 * A Service without a selector: its EndpointSlices' ready endpoints (a collector, a database
 * outside the cluster), outside the mesh (no identity: reached in plaintext), each port the
 * slice's port of the Service port's name. An `IPv6` slice's is an endpoint of ip6 alone (ip 0):
 * the waypoint's clusters for the IPv6 VIP take it, the IPv4 VIP's do not (waypoint/cluster.c),
 * as the ztunnel pairs each VIP with its own family's slices.
 */
/* Whether @sl is one of @s's EndpointSlices of an address type ambit carries. */
static bool slice_of(const struct config_endpoint_slice *sl, const struct config_service *s)
{
	return (sl->ipv4 || sl->ipv6) && sl->service && !strcmp(sl->service, s->meta.name) &&
	       !strcmp(sl->meta.namespace, s->meta.namespace);
}

/* The IPv6 of the pod whose IPv4 is @ip (family 0: none, or no such pod). */
static struct ipaddr pod_ip6_of(const struct l7_inputs *in, uint32_t ip)
{
	for (size_t i = 0; ip && i < in->n_pods; i++)
		if (in->pods[i].ip == ip)
			return in->pods[i].ip6;
	return (struct ipaddr){0};
}

static int add_slice_endpoints(const struct l7_inputs *in, const struct config_service *s,
			       struct l7_service *out)
{
	bool has6 = false;

	for (size_t i = 0; i < in->cfg->n_endpoint_slices; i++)
		has6 |=
		    slice_of(&in->cfg->endpoint_slices[i], s) && in->cfg->endpoint_slices[i].ipv6;
	for (size_t i = 0; i < in->cfg->n_endpoint_slices; i++) {
		const struct config_endpoint_slice *sl = &in->cfg->endpoint_slices[i];

		if (!slice_of(sl, s))
			continue;
		for (size_t j = 0; j < sl->nendpoints; j++) {
			struct l7_endpoint *e, *n;

			if (sl->endpoints[j].not_ready ||
			    (sl->ipv6 && sl->endpoints[j].ip6.family != AF_INET6))
				continue;
			n = realloc(out->endpoints, (out->n_endpoints + 2) * sizeof(*n));
			if (!n)
				return -ENOMEM;
			out->endpoints = n;
			e = &n[out->n_endpoints++];
			memset(e, 0, sizeof(*e) * 2);
			/*
			 * With no IPv6 slice, an IPv4 endpoint that is a pod of the cluster serves
			 * the IPv6 VIP at the pod's IPv6, as the ztunnel takes it.
			 */
			if (sl->ipv6)
				e->ip6 = sl->endpoints[j].ip6;
			else
				e->ip = sl->endpoints[j].ip;
			if (!sl->ipv6 && !has6)
				e->ip6 = pod_ip6_of(in, e->ip);
			e->ports = calloc(out->n_ports + 1, sizeof(*e->ports));
			if (asprintf(&e->pod, "%s/%s", sl->meta.namespace, sl->meta.name) < 0)
				e->pod = NULL;
			if (!e->ports || !e->pod)
				return -ENOMEM;
			for (size_t k = 0; k < out->n_ports; k++) {
				const char *want = out->ports[k].name ? out->ports[k].name : "";

				for (size_t m = 0; m < sl->nports && !e->ports[k]; m++)
					if (!strcmp(sl->ports[m].name ? sl->ports[m].name : "",
						    want))
						e->ports[k] = sl->ports[m].port;
			}
		}
	}
	return 0;
}

static int add_endpoints(const struct l7_inputs *in, const struct config_service *s,
			 struct l7_service *out)
{
	out->endpoints = calloc(in->n_pods + 1, sizeof(*out->endpoints));
	if (!out->endpoints)
		return -ENOMEM;
	if (!s->selector.n)
		return add_slice_endpoints(in, s, out);
	for (size_t i = 0; i < in->n_pods; i++) {
		const struct l7_pod *p = &in->pods[i];

		/* A Service without selector has no endpoints of its own (Kubernetes). */
		if (!s->selector.n || strcmp(p->namespace, s->meta.namespace) || !p->labels ||
		    !config_labels_match(&s->selector, p->labels))
			continue;
		if (add_endpoint(in, p, out))
			return -ENOMEM;
	}
	return 0;
}

/* ---- DestinationRule lookup and policy merge ---- */

static bool dr_visible(const struct config_destination_rule *dr, const char *from_ns)
{
	if (dr->has_workload_selector)
		return false; /* selects workloads (sidecars), never a waypoint's service view */
	if (!dr->export_to.n || config_strings_has(&dr->export_to, "*"))
		return true;
	if (config_strings_has(&dr->export_to, "~"))
		return false;
	return (config_strings_has(&dr->export_to, ".") && !strcmp(dr->meta.namespace, from_ns)) ||
	       config_strings_has(&dr->export_to, from_ns);
}

/* The DestinationRules of one namespace for @host: exact host first, else the longest wildcard. */
static size_t drs_in(const struct config *cfg, const char *ns, const char *host,
		     const char *from_ns, const struct config_destination_rule **out, size_t max)
{
	size_t n = 0, best = 0;
	char h[512];

	for (int pass = 0; pass < 2 && !n; pass++) {
		for (size_t i = 0; i < cfg->n_destination_rules && n < max; i++) {
			const struct config_destination_rule *dr = &cfg->destination_rules[i];

			if (strcmp(dr->meta.namespace, ns) || !dr_visible(dr, from_ns))
				continue;
			l7_fqdn(dr->host, dr->meta.namespace, h, sizeof(h));
			if (pass == 0 ? strcmp(h, host) != 0 : !l7_host_covers(h, host))
				continue;
			if (pass == 1 && strlen(h) < best)
				continue;
			if (pass == 1 && strlen(h) > best) {
				best = strlen(h);
				n = 0;
			}
			out[n++] = dr;
		}
	}
	return n;
}

static int dr_cmp(const void *a, const void *b)
{
	return l7_meta_cmp(&(*(const struct config_destination_rule *const *)a)->meta,
			   &(*(const struct config_destination_rule *const *)b)->meta);
}

struct policy_parts {
	const struct config_load_balancer *lb;
	const struct config_connection_pool *pool;
	const struct config_outlier_detection *outlier;
	const struct config_client_tls *tls;
};

static const struct config_port_traffic_policy *port_level(const struct config_traffic_policy *p,
							   uint16_t port)
{
	for (size_t i = 0; p && i < p->n_port_level; i++)
		if (p->port_level[i].port == port)
			return &p->port_level[i];
	return NULL;
}

/* GetPortLevelTrafficPolicy: a port's settings replace the four parts wholesale. */
static bool parts_of(const struct config_traffic_policy *p, uint16_t port, struct policy_parts *out)
{
	const struct config_port_traffic_policy *pl = port_level(p, port);

	if (pl) {
		*out = (struct policy_parts){&pl->lb, &pl->pool, &pl->outlier, &pl->tls};
		return true;
	}
	*out = (struct policy_parts){&p->lb, &p->pool, &p->outlier, &p->tls};
	return false;
}

static int copy_lb(struct config_load_balancer *d, const struct config_load_balancer *s)
{
	*d = *s;
	d->hash_name = l7_strdup(s->hash_name);
	d->cookie_path = l7_strdup(s->cookie_path);
	memset(&d->failover_priority, 0, sizeof(d->failover_priority));
	if (l7_copy_strings(&d->failover_priority, &s->failover_priority))
		return -ENOMEM;
	return (s->hash_name && !d->hash_name) || (s->cookie_path && !d->cookie_path) ? -ENOMEM : 0;
}

static int copy_tls(struct config_client_tls *d, const struct config_client_tls *s)
{
	memset(d, 0, sizeof(*d));
	d->present = s->present;
	d->insecure_skip_verify = s->insecure_skip_verify;
	d->mode = l7_strdup(s->mode);
	d->sni = l7_strdup(s->sni);
	d->ca_certificates = l7_strdup(s->ca_certificates);
	d->credential_name = l7_strdup(s->credential_name);
	/* Key material stays out of the model: a waypoint uses the mesh or named credentials. */
	if ((s->mode && !d->mode) || (s->sni && !d->sni) ||
	    (s->ca_certificates && !d->ca_certificates) ||
	    (s->credential_name && !d->credential_name))
		return -ENOMEM;
	return l7_copy_strings(&d->subject_alt_names, &s->subject_alt_names);
}

static int copy_outlier(struct config_outlier_detection *d,
			const struct config_outlier_detection *s)
{
	*d = *s;
	d->error_codes = NULL;
	if (!s->n_error_codes)
		return 0;
	d->error_codes = calloc(s->n_error_codes, sizeof(*d->error_codes));
	if (!d->error_codes)
		return -ENOMEM;
	memcpy(d->error_codes, s->error_codes, s->n_error_codes * sizeof(*d->error_codes));
	return 0;
}

/*
 * MergeSubsetTrafficPolicy for (@top, @sub, @port): the rule's port-level or top-level parts;
 * a subset's present parts replace them, and a subset's port-level settings replace all four.
 */
static int resolve(const struct config_traffic_policy *top, const struct config_traffic_policy *sub,
		   uint16_t port, struct l7_policy *out)
{
	static const struct config_traffic_policy none;
	struct policy_parts base, s;
	int err;

	parts_of(top ? top : &none, port, &base);
	if (sub && sub->present) {
		bool port_sub = parts_of(sub, port, &s);

		if (port_sub || s.lb->present)
			base.lb = s.lb;
		if (port_sub || s.pool->present)
			base.pool = s.pool;
		if (port_sub || s.outlier->present)
			base.outlier = s.outlier;
		if (port_sub || s.tls->present)
			base.tls = s.tls;
	}
	out->port = port;
	err = copy_lb(&out->lb, base.lb);
	out->pool = *base.pool;
	if (!out->pool.present && !out->pool.max_connections) {
		/* Never configured anywhere: Istio's defaults (kinds/dr.c fills parsed ones). */
		out->pool = (struct config_connection_pool)CONFIG_POOL_ISTIO_DEFAULTS;
	}
	err = err ? err : copy_outlier(&out->outlier, base.outlier);
	return err ? err : copy_tls(&out->tls, base.tls);
}

/*
 * TLS origination's credentials (tls.mode SIMPLE or MUTUAL with credentialName): Secret
 * credentialName of the proxy's namespace, as istiod's SDS serves it to the proxy (its
 * certificate and key for MUTUAL, its CA for both). A Secret that is missing or incomplete
 * leaves them NULL: the proxy then fails the connections (analyze says why).
 */
static int origination_creds(const struct l7_inputs *in, const struct l7_waypoint *wp,
			     struct l7_policy *pol)
{
	const struct config_secret_item *crt, *key, *ca;
	const char *mode = pol->tls.mode;

	if (!pol->tls.credential_name || !mode ||
	    (strcmp(mode, "SIMPLE") && strcmp(mode, "MUTUAL")))
		return 0;
	l7_secret_tls(in->cfg, wp->namespace, pol->tls.credential_name, &crt, &key, &ca);
	if (!strcmp(mode, "MUTUAL") && crt && key) {
		pol->tls_cert = l7_pem_dup(crt);
		pol->tls_key = l7_pem_dup(key);
		if (!pol->tls_cert || !pol->tls_key)
			return -ENOMEM;
	}
	if (ca && !(pol->tls_ca = l7_pem_dup(ca)))
		return -ENOMEM;
	return 0;
}

static int add_policies(const struct l7_inputs *in, const struct l7_waypoint *wp,
			struct l7_service *out)
{
	const char *order[3] = {wp->namespace, out->namespace, ROOT_NAMESPACE};
	const struct config_destination_rule *drs[64];
	const struct config_traffic_policy *top = NULL;
	size_t n = 0, np;

	for (int i = 0; i < 3 && !n; i++)
		n = drs_in(in->cfg, order[i], out->hostname, wp->namespace, drs, 64);
	qsort(drs, n, sizeof(drs[0]), dr_cmp);
	/* Merged rules: the oldest one's policy, subsets of all (the first of a name stays). */
	for (size_t i = 0; i < n && !top; i++)
		if (drs[i]->policy.present)
			top = &drs[i]->policy;
	out->subsets = calloc(1, sizeof(*out->subsets));
	for (size_t i = 0; out->subsets && i < n; i++) {
		for (size_t j = 0; j < drs[i]->n_subsets; j++) {
			const struct config_subset *cs = &drs[i]->subsets[j];
			struct l7_subset *ss, *grown;
			bool dup = false;

			for (size_t k = 0; k < out->n_subsets; k++)
				dup |= !strcmp(out->subsets[k].name, cs->name);
			if (dup)
				continue;
			grown = realloc(out->subsets, (out->n_subsets + 1) * sizeof(*grown));
			if (!grown)
				return -ENOMEM;
			out->subsets = grown;
			ss = &out->subsets[out->n_subsets++];
			memset(ss, 0, sizeof(*ss));
			ss->name = strdup(cs->name);
			ss->endpoints = calloc(out->n_endpoints + 1, sizeof(*ss->endpoints));
			if (!ss->name || !ss->endpoints || l7_copy_labels(&ss->labels, &cs->labels))
				return -ENOMEM;
			for (size_t e = 0; e < out->n_endpoints; e++)
				if (config_labels_match(&cs->labels, &out->endpoints[e].labels))
					ss->endpoints[ss->n_endpoints++] = (uint32_t)e;
		}
	}
	if (!out->subsets)
		return -ENOMEM;
	np = (out->n_subsets + 1) * out->n_ports;
	out->policies = calloc(np + 1, sizeof(*out->policies));
	if (!out->policies)
		return -ENOMEM;
	for (size_t s = 0; s <= out->n_subsets; s++) {
		const struct config_traffic_policy *sub = NULL;

		for (size_t i = 0; s && i < n && !sub; i++)
			for (size_t j = 0; j < drs[i]->n_subsets && !sub; j++)
				if (!strcmp(drs[i]->subsets[j].name, out->subsets[s - 1].name))
					sub = &drs[i]->subsets[j].policy;
		for (size_t p = 0; p < out->n_ports; p++) {
			struct l7_policy *pol = &out->policies[out->n_policies++];

			if (s && !(pol->subset = strdup(out->subsets[s - 1].name)))
				return -ENOMEM;
			if (resolve(top, sub, out->ports[p].port, pol) ||
			    origination_creds(in, wp, pol))
				return -ENOMEM;
		}
	}
	return 0;
}

int l7_compile_service(const struct l7_inputs *in, const struct l7_waypoint *wp,
		       const struct config_service *s, struct l7_service *out)
{
	struct l7_ctx ctx = {.in = in, .wp = wp, .svc = out};
	int err;

	out->name = strdup(s->meta.name);
	out->namespace = strdup(s->meta.namespace);
	if (asprintf(&out->hostname, "%s.%s.svc.cluster.local", s->meta.name, s->meta.namespace) <
	    0)
		out->hostname = NULL;
	out->vip = service_vip(in, s);
	out->vip6 = service_vip6(in, s);
	out->ports = calloc(s->nports + 1, sizeof(*out->ports));
	if (!out->name || !out->namespace || !out->hostname || !out->ports)
		return -ENOMEM;
	for (size_t i = 0; i < s->nports; i++) {
		const struct config_service_port *sp = &s->ports[i];
		struct l7_port *p = &out->ports[out->n_ports++];

		p->port = sp->port;
		p->name = l7_strdup(sp->name);
		p->protocol = l7_port_protocol(sp->app_protocol, sp->name);
		p->target_port = sp->target_port_name ? 0 : sp->target_port;
		p->target_port_name = l7_strdup(sp->target_port_name);
		if ((sp->name && !p->name) || (sp->target_port_name && !p->target_port_name))
			return -ENOMEM;
	}
	err = add_endpoints(in, s, out);
	err = err ? err : add_policies(in, wp, out);
	return err ? err : l7_compile_routes(&ctx);
}

/* ---- ServiceEntry hosts (egress through a waypoint) ---- */

/* The next endpoint of @out (endpoints allocated for it), outside the mesh unless @identity. */
static struct l7_endpoint *entry_endpoint(const struct config_service_entry *se,
					  const struct config_se_endpoint *x,
					  const struct l7_inputs *in, struct l7_service *out)
{
	const char *td = in->trust_domain ? in->trust_domain : "cluster.local";
	struct l7_endpoint *e = &out->endpoints[out->n_endpoints++];

	e->ports = calloc(out->n_ports + 1, sizeof(*e->ports));
	if (asprintf(&e->pod, "%s/%s", se->meta.namespace, se->meta.name) < 0)
		e->pod = NULL;
	/* MESH_INTERNAL: the endpoints are mesh workloads, of the service account they name. */
	if (se->location == CONFIG_SE_MESH_INTERNAL &&
	    asprintf(&e->identity, "spiffe://%s/ns/%s/sa/%s", td, se->meta.namespace,
		     x && x->service_account ? x->service_account : "default") < 0)
		e->identity = NULL;
	if (!e->ports || !e->pod || (se->location == CONFIG_SE_MESH_INTERNAL && !e->identity) ||
	    (x && l7_copy_labels(&e->labels, &x->labels)))
		return NULL;
	/* Each port: the endpoint's own number for the port's name, else the targetPort. */
	for (size_t k = 0; k < out->n_ports; k++) {
		const char *own = x && out->ports[k].name
				      ? config_label_get(&x->ports, out->ports[k].name)
				      : NULL;

		e->ports[k] = own ? (uint16_t)atoi(own) : out->ports[k].target_port;
	}
	return e;
}

static int entry_endpoints(const struct l7_inputs *in, const struct config_service_entry *se,
			   const char *host, struct l7_service *out)
{
	bool dns = se->resolution == CONFIG_SE_RESOLUTION_DNS ||
		   se->resolution == CONFIG_SE_RESOLUTION_DNS_ROUND_ROBIN;
	struct l7_endpoint *e;

	out->endpoints = calloc(in->n_pods + se->n_endpoints + 2, sizeof(*out->endpoints));
	if (!out->endpoints)
		return -ENOMEM;
	if (se->has_workload_selector) {
		for (size_t i = 0; i < in->n_pods; i++) {
			const struct l7_pod *p = &in->pods[i];

			if (strcmp(p->namespace, se->meta.namespace) || !p->labels ||
			    !config_labels_match(&se->workload_selector, p->labels))
				continue;
			if (add_endpoint(in, p, out))
				return -ENOMEM;
			/* The entry's ports, not the pod's named ones. */
			for (size_t k = 0; k < out->n_ports; k++)
				out->endpoints[out->n_endpoints - 1].ports[k] =
				    out->ports[k].target_port;
		}
		return 0;
	}
	for (size_t i = 0; i < se->n_endpoints; i++) {
		const struct config_se_endpoint *x = &se->endpoints[i];
		struct ipaddr a = {0};
		bool ip = x->address && !ipaddr_parse_addr(x->address, &a);

		/* Unix sockets are not reached from here. */
		if (!x->address || (!ip && (!dns || strchr(x->address, ':'))))
			continue;
		if (!(e = entry_endpoint(se, x, in, out)))
			return -ENOMEM;
		/* An IPv6 one is the endpoint's ip6 alone: its cluster connects to [v6]:port. */
		if (ip && a.family == AF_INET6)
			e->ip6 = a;
		else if (ip)
			ipaddr_v4(&a, &e->ip);
		else if (!(e->dns_name = strdup(x->address)))
			return -ENOMEM;
	}
	/* DNS without endpoints: the host itself is resolved. */
	if (dns && !se->n_endpoints && !strchr(host, '*')) {
		if (!(e = entry_endpoint(se, NULL, in, out)) || !(e->dns_name = strdup(host)))
			return -ENOMEM;
	}
	/* DYNAMIC_DNS: one endpoint for the name each request asks for, on the targetPort. */
	if (se->resolution == CONFIG_SE_RESOLUTION_DYNAMIC_DNS &&
	    !entry_endpoint(se, NULL, in, out))
		return -ENOMEM;
	/* NONE: one endpoint for the client's original destination, on the port it asked. */
	if (se->resolution == CONFIG_SE_RESOLUTION_NONE) {
		if (!(e = entry_endpoint(se, NULL, in, out)))
			return -ENOMEM;
		for (size_t k = 0; k < out->n_ports; k++)
			e->ports[k] = out->ports[k].port;
		out->cidrs = calloc(se->addresses.n + 1, sizeof(*out->cidrs));
		if (!out->cidrs)
			return -ENOMEM;
		/* Both families: an entry of IPv6 addresses only holds no IPv4 destination. */
		for (size_t i = 0; i < se->addresses.n; i++)
			if (!ipaddr_parse(se->addresses.items[i], &out->cidrs[out->n_cidrs]))
				out->n_cidrs++;
	}
	return 0;
}

/*
 * The IPv6 address of host @host of @se, as the ztunnel's snapshot names it (l4/entries.c): the
 * entry's first /128 address, else the one allocated beside its IPv4 one (config_se_vips) when
 * the cluster is dual stack (@dual: some pod has IPv6), where clients can reach it. Family 0:
 * none.
 */
static struct ipaddr entry_vip6(const struct config_service_entry *se, const char *host,
				const struct config_se_vip *vips, size_t n_vips, bool dual)
{
	struct ipaddr a = {0};
	const struct ipaddr *r;

	for (size_t i = 0; i < se->addresses.n; i++)
		if (!ipaddr_parse(se->addresses.items[i], &a) && a.family == AF_INET6 &&
		    a.len == 128)
			return a;
	memset(&a, 0, sizeof(a));
	r = dual ? config_se_vip6_of(vips, n_vips, se->meta.namespace, host) : NULL;
	if (r)
		a = *r;
	return a;
}

/*
 * Host @host of ServiceEntry @se, at @vip and @vip6 (family 0: none), as a model service
 * (l7_service.entry).
 */
static int compile_entry(const struct l7_inputs *in, const struct l7_waypoint *wp,
			 const struct config_service_entry *se, const char *host, uint32_t vip,
			 struct ipaddr vip6, struct l7_service *out)
{
	struct l7_ctx ctx = {.in = in, .wp = wp, .svc = out};
	int err;

	out->entry = true;
	out->resolution = se->resolution == CONFIG_SE_RESOLUTION_DNS ? L7_RES_DNS
			  : se->resolution == CONFIG_SE_RESOLUTION_DNS_ROUND_ROBIN
			      ? L7_RES_DNS_ROUND_ROBIN
			  : se->resolution == CONFIG_SE_RESOLUTION_NONE	       ? L7_RES_NONE
			  : se->resolution == CONFIG_SE_RESOLUTION_DYNAMIC_DNS ? L7_RES_DYNAMIC_DNS
									       : L7_RES_STATIC;
	out->name = strdup(se->meta.name);
	out->namespace = strdup(se->meta.namespace);
	out->hostname = strdup(host);
	out->vip = vip;
	out->vip6 = vip6;
	out->ports = calloc(se->n_ports + 1, sizeof(*out->ports));
	if (!out->name || !out->namespace || !out->hostname || !out->ports)
		return -ENOMEM;
	for (size_t i = 0; i < se->n_ports; i++) {
		const struct config_se_port *sp = &se->ports[i];
		struct l7_port *p = &out->ports[out->n_ports++];

		p->port = (uint16_t)sp->number;
		p->name = l7_strdup(sp->name);
		p->protocol = l7_port_protocol(sp->protocol, sp->name);
		p->target_port = (uint16_t)(sp->target_port ? sp->target_port : sp->number);
		if (sp->name && !p->name)
			return -ENOMEM;
	}
	err = entry_endpoints(in, se, host, out);
	err = err ? err : add_policies(in, wp, out);
	return err ? err : l7_compile_routes(&ctx);
}

/* Pod @p, bound to @wp for the traffic addressed to it, as a workload entry (struct l7_service). */
static int compile_workload(const struct l7_inputs *in, const struct l7_waypoint *wp,
			    const struct l7_pod *p, struct l7_service *out)
{
	struct l7_ctx ctx = {.in = in, .wp = wp, .svc = out};
	size_t n = p->spec ? p->spec->nports : 0;
	char ip[IPADDR_STRLEN];

	out->workload = true;
	out->name = strdup(p->name);
	out->namespace = strdup(p->namespace);
	/* Named by its IPv4 address, a pod of IPv6 alone by its IPv6 one. */
	if (p->ip || p->ip6.family != AF_INET6)
		out->hostname = strdup(inet_ntop(AF_INET, &p->ip, ip, sizeof(ip)) ? ip : "");
	else
		out->hostname = strdup(ipaddr_format(&p->ip6, ip, sizeof(ip)));
	out->vip = p->ip;
	if (p->ip6.family == AF_INET6)
		out->vip6 = p->ip6;
	out->ports = calloc(n + 1, sizeof(*out->ports));
	out->endpoints = calloc(2, sizeof(*out->endpoints));
	if (!out->name || !out->namespace || !out->hostname || !out->ports || !out->endpoints)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct config_container_port *cp = &p->spec->ports[i];
		struct l7_port *lp;
		bool dup = false;

		/*
		 * The same port in two containers (or as TCP and UDP) is one port here; UDP's
		 * flows come as CONNECT-UDP (docs/udp.md). SCTP is not proxied.
		 */
		for (size_t j = 0; j < out->n_ports; j++)
			dup |= out->ports[j].port == cp->port;
		if (dup || (cp->protocol && strcasecmp(cp->protocol, "TCP") &&
			    strcasecmp(cp->protocol, "UDP")))
			continue;
		lp = &out->ports[out->n_ports++];
		lp->port = cp->port;
		lp->target_port = cp->port;
		lp->name = l7_strdup(cp->name);
		lp->protocol = l7_port_protocol(NULL, cp->name);
		if (cp->name && !lp->name)
			return -ENOMEM;
	}
	return add_endpoint(in, p, out) ? -ENOMEM : l7_compile_routes(&ctx);
}

/*
 * An east-west gateway's way to the waypoints its Services are bound to: each one's Service
 * (by its hostname) at 15008, its instances (the pods of its gateway-name label) the endpoints,
 * made here when the config has no such Service with a selector (a local cluster's waypoint,
 * whose address is the runtime's alone). @c->services has room for every waypoint.
 */
static int east_west_waypoints(const struct l7_inputs *in, const struct l7_bindings *b,
			       const struct l7_waypoint *gw, struct l7_config *c)
{
	for (size_t k = 0; k < b->n_waypoints; k++) {
		const struct l7_waypoint *w = &b->waypoints[k];
		struct config_label sel = {.key = (char *)CONFIG_LABEL_GATEWAY_NAME,
					   .value = w->name};
		struct config_service_port port = {.name = (char *)"mesh",
						   .port = L7_HBONE_PORT,
						   .target_port = L7_HBONE_PORT,
						   .protocol = (char *)"TCP"};
		struct config_service ws = {.meta = {.name = w->name, .namespace = w->namespace},
					    .selector = {.n = 1, .items = &sel},
					    .nports = 1,
					    .ports = &port};
		bool need = false;
		int err;

		for (size_t i = 0; i < c->n_services && !need; i++)
			need = c->services[i].waypoint_host &&
			       !strcmp(c->services[i].waypoint_host, w->hostname);
		/* Its Service already in (a selector of its own): nothing to make. */
		for (size_t i = 0; i < c->n_services && need; i++)
			need = strcmp(c->services[i].hostname, w->hostname) != 0;
		if (!need)
			continue;
		err = l7_compile_service(in, gw, &ws, &c->services[c->n_services]);
		c->n_services++;
		if (!err && strcmp(c->services[c->n_services - 1].hostname, w->hostname))
			err = -EINVAL; /* not where the Services point: they would go nowhere */
		if (err)
			return err;
	}
	return 0;
}

struct l7_config *l7_compile(const struct l7_inputs *in, const struct l7_bindings *b,
			     const struct l7_waypoint *wp)
{
	struct l7_config *c = calloc(1, sizeof(*c));
	int idx = (int)(wp - b->waypoints), err = -ENOMEM;
	struct config_se_vip *vips = NULL;
	size_t n_hosts = 0, n_vips = 0;
	bool dual = false;

	if (!c)
		return NULL;
	c->path_normalization = CONFIG_PATH_NORM_UNSET;
	c->num_trusted_proxies = -1;
	c->underscores = CONFIG_UNDERSCORES_UNSET;
	if (config_mesh_of(in->cfg)) {
		c->path_normalization = config_mesh_of(in->cfg)->path_normalization;
		c->num_trusted_proxies = config_mesh_of(in->cfg)->num_trusted_proxies;
		c->underscores = config_mesh_of(in->cfg)->underscores;
	}
	c->waypoint_namespace = strdup(wp->namespace);
	c->waypoint_name = strdup(wp->name);
	c->identity = strdup(wp->identity);
	for (size_t i = 0; i < in->cfg->n_service_entries; i++)
		n_hosts += in->cfg->service_entries[i].hosts.n;
	c->services = calloc(b->n_services + b->n_workloads + b->n_waypoints + n_hosts + 2,
			     sizeof(*c->services));
	if (!c->waypoint_namespace || !c->waypoint_name || !c->identity || !c->services)
		goto fail;
	/*
	 * An east-west gateway: every Service with a selector, for its endpoints and ports, and
	 * the waypoint's Service of one bound to a waypoint.
	 */
	if (wp->east_west) {
		c->east_west = true;
		for (size_t i = 0; i < in->cfg->n_services; i++) {
			const struct config_service *s = &in->cfg->services[i];
			struct l7_service *out = &c->services[c->n_services];

			if (!s->selector.n)
				continue;
			c->n_services++;
			err = l7_compile_service(in, wp, s, out);
			if (!err && i < b->n_services && b->services[i].waypoint >= 0 &&
			    !(out->waypoint_host =
				  strdup(b->waypoints[b->services[i].waypoint].hostname)))
				err = -ENOMEM;
			if (err)
				goto fail;
		}
		err = east_west_waypoints(in, b, wp, c);
		if (err)
			goto fail;
		return c;
	}
	if (wp->gateway) {
		err = l7_compile_gateway(in, b, wp, c);
		err = err ? err : l7_compile_authz(in, wp, c);
		err = err ? err : l7_compile_ratelimits(in, wp, c);
		err = err ? err : l7_compile_telemetry(in, wp, c);
		if (err)
			goto fail;
		return c;
	}
	for (size_t i = 0; i < b->n_services && i < in->cfg->n_services; i++) {
		if (b->services[i].waypoint != idx)
			continue;
		err = l7_compile_service(in, wp, &in->cfg->services[i],
					 &c->services[c->n_services++]);
		if (err)
			goto fail;
	}
	for (size_t i = 0; i < b->n_workloads && i < in->n_pods; i++) {
		if (b->workloads[i].waypoint != idx ||
		    (!in->pods[i].ip && in->pods[i].ip6.family != AF_INET6))
			continue;
		err = compile_workload(in, wp, &in->pods[i], &c->services[c->n_services++]);
		if (err)
			goto fail;
	}
	/* The hosts of the ServiceEntries bound to it, each a service at its address. */
	err = config_se_vips(in->cfg, &vips, &n_vips);
	for (size_t i = 0; i < in->n_pods && !dual; i++)
		dual = in->pods[i].ip6.family == AF_INET6;
	for (size_t i = 0; !err && i < b->n_entries && i < in->cfg->n_service_entries; i++) {
		const struct config_service_entry *se = &in->cfg->service_entries[i];

		if (b->entries[i].waypoint != idx)
			continue;
		for (size_t h = 0; !err && h < se->hosts.n; h++)
			err = compile_entry(
			    in, wp, se, se->hosts.items[h],
			    config_se_vip_of(vips, n_vips, se->meta.namespace, se->hosts.items[h]),
			    entry_vip6(se, se->hosts.items[h], vips, n_vips, dual),
			    &c->services[c->n_services++]);
	}
	free(vips);
	vips = NULL;
	if (err)
		goto fail;
	err = l7_compile_authz(in, wp, c);
	err = err ? err : l7_compile_ratelimits(in, wp, c);
	err = err ? err : l7_compile_telemetry(in, wp, c);
	if (err)
		goto fail;
	return c;
fail:
	l7_config_free(c);
	errno = -err;
	return NULL;
}

struct l7_config *l7_compile_config(const struct config *cfg, const char *ns, const char *name)
{
	struct l7_inputs in = {.cfg = cfg};
	struct l7_bindings b = {0};
	struct l7_pod *pods = NULL;
	struct l7_config *l7 = NULL;
	int err = ENOMEM;

	if (l7_pods_from_config(cfg, &pods, &in.n_pods))
		goto out;
	in.pods = pods;
	if (l7_bindings_compute(&in, &b))
		goto out;
	err = ENOENT;
	for (size_t i = 0; i < b.n_waypoints + b.n_gateways; i++) {
		const struct l7_waypoint *w =
		    i < b.n_waypoints ? &b.waypoints[i] : &b.gateways[i - b.n_waypoints];

		if (!strcmp(w->namespace, ns) && !strcmp(w->name, name)) {
			l7 = l7_compile(&in, &b, w);
			err = l7 ? 0 : errno;
			break;
		}
	}
out:
	l7_bindings_free(&b);
	free(pods);
	errno = err;
	return l7;
}
