// SPDX-License-Identifier: Apache-2.0
/* Upstream clusters and the workers' views of them (cluster.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ambit/fmt.h"
#include "ambit/log.h"
#include "cluster.h"
#include "dnsres.h"
#include "tls/tls.h"
#include "net/transport.h"

/*
 * SplitMix64 per thread, seeded once from getrandom: a draw per decision without a system call
 * (a request takes several: weight, faults, load balancer, request id).
 */
uint64_t wp_random(void)
{
	static __thread uint64_t state;
	static __thread bool seeded;
	uint64_t z;

	if (!seeded) {
		if (getrandom(&state, sizeof(state), GRND_NONBLOCK) != sizeof(state))
			state = (uint64_t)random() << 32 ^ (uint64_t)random() ^ (uint64_t)&state;
		seeded = true;
	}
	z = (state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static bool in_subset(const struct l7_service *svc, const char *subset, uint32_t e)
{
	if (!subset)
		return true;
	for (size_t i = 0; i < svc->n_subsets; i++) {
		const struct l7_subset *ss = &svc->subsets[i];

		if (strcmp(ss->name, subset))
			continue;
		for (size_t k = 0; k < ss->n_endpoints; k++)
			if (ss->endpoints[k] == e)
				return true;
		return false;
	}
	return false; /* an unknown subset has no endpoints */
}

/* The CA certificates file a DestinationRule's caCertificates names, or NULL. */
static char *read_pem(const char *path)
{
	char *txt = NULL;
	FILE *f = fopen(path, "r");
	size_t cap = 0, len = 0, n;

	while (f) {
		char *grown = len + 4097 > cap ? realloc(txt, cap = cap * 2 + 8192) : txt;

		if (!grown || len > (1u << 20))
			break;
		txt = grown;
		n = fread(txt + len, 1, 4096, f);
		len += n;
		txt[len] = '\0';
		if (!n) {
			fclose(f);
			return txt;
		}
	}
	if (f)
		fclose(f);
	free(txt);
	return NULL;
}

/*
 * The protocol TLS origination offers for @c's port (ALPN): h2 where the waypoint speaks HTTP/2
 * upstream (http2 and grpc ports, h2UpgradePolicy UPGRADE), http/1.1 for HTTP ports, none for
 * the rest (TCP, TLS, sniffed).
 */
static const char *origination_alpn(const struct wp_cluster *c)
{
	enum l7_protocol proto = L7_PROTO_UNKNOWN;

	for (size_t i = 0; i < c->svc->n_ports; i++)
		if (c->svc->ports[i].port == c->port)
			proto = c->svc->ports[i].protocol;
	if (proto == L7_PROTO_HTTP2 || proto == L7_PROTO_GRPC ||
	    (l7_protocol_is_http(proto) && c->policy &&
	     c->policy->pool.h2_upgrade_policy == CONFIG_H2_UPGRADE_UPGRADE))
		return "h2";
	return l7_protocol_is_http(proto) ? "http/1.1" : NULL;
}

/*
 * TLS origination for @c when its policy asks for it (tls.mode SIMPLE or MUTUAL): the context
 * from the credentials the model carries (credentialName's Secret), else caCertificates' file,
 * else the system's roots. Credentials that do not load leave @c->tls NULL and the reason in
 * @c->tls_err (its connections fail, as Envoy's cluster without its SDS secret). -ENOMEM only.
 */
static int origination(struct wp_cluster *c)
{
	const struct l7_policy *p = c->policy;
	const char *mode = p && p->tls.present ? p->tls.mode : NULL;
	struct tls_origin o = {0};
	char err[160], *file_ca = NULL;

	if (!mode || (strcmp(mode, "SIMPLE") && strcmp(mode, "MUTUAL")))
		return 0;
	c->originate = true;
	c->sni = strdup(p->tls.sni ? p->tls.sni : c->svc->hostname);
	c->n_sans = p->tls.subject_alt_names.n ? p->tls.subject_alt_names.n : 1;
	c->sans = calloc(c->n_sans + 1, sizeof(*c->sans));
	if (!c->sni || !c->sans)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_sans; i++)
		if (!(c->sans[i] = strdup(
			  p->tls.subject_alt_names.n ? p->tls.subject_alt_names.items[i] : c->sni)))
			return -ENOMEM;
	o.insecure = p->tls.insecure_skip_verify;
	o.ca_pem = p->tls_ca;
	o.alpn = origination_alpn(c);
	if (!o.ca_pem && p->tls.ca_certificates &&
	    !(o.ca_pem = file_ca = read_pem(p->tls.ca_certificates))) {
		snprintf(err, sizeof(err), "caCertificates %.100s: %s", p->tls.ca_certificates,
			 strerror(errno ? errno : EINVAL));
		goto bad;
	}
	if (!strcmp(mode, "MUTUAL")) {
		if (!p->tls_cert || !p->tls_key) {
			snprintf(err, sizeof(err),
				 "MUTUAL without a client certificate (credentialName %.80s)",
				 p->tls.credential_name ? p->tls.credential_name : "unset");
			goto bad;
		}
		o.cert_pem = p->tls_cert;
		o.key_pem = p->tls_key;
	}
	c->tls = tls_ctx_create_origin(&o, err, sizeof(err));
	free(file_ca);
	if (c->tls)
		return 0;
	if (errno == ENOMEM)
		return -ENOMEM;
bad:
	free(file_ca);
	if (asprintf(&c->tls_err, "%s", err) < 0)
		return -ENOMEM;
	pr_warn("waypoint: cluster %s: TLS origination cannot start: %s", c->name, c->tls_err);
	return 0;
}

int wp_cluster_init(struct wp_cluster *c, const struct l7_service *svc, const char *subset,
		    uint16_t port, bool outbound, bool v6, uint64_t now_ms)
{
	size_t pi = svc->n_ports;
	static const struct config_outlier_detection none = {0};

	memset(c, 0, sizeof(*c));
	c->svc = svc;
	c->subset = subset;
	c->port = port;
	c->v6 = v6;
	c->policy = l7_service_policy(svc, subset, port);
	for (size_t i = 0; i < svc->n_ports; i++)
		if (svc->ports[i].port == port)
			pi = i;
	/*
	 * Istio's waypoint names a Service's cluster by VIP, a pod's by its address; a gateway
	 * (a client of the mesh) names it as a sidecar does, outbound.
	 */
	if ((outbound
		 ? asprintf(&c->name, "outbound|%u|%s|%s", port, subset ? subset : "",
			    svc->hostname)
		 : asprintf(&c->name, "inbound-%s|%u|http%s%s|%s", svc->workload ? "pod" : "vip",
			    port, subset ? "/" : "", subset ? subset : "", svc->hostname)) < 0) {
		c->name = NULL;
		return -ENOMEM;
	}
	c->ep = calloc(svc->n_endpoints + 1, sizeof(*c->ep));
	c->addr = calloc(svc->n_endpoints + 1, sizeof(*c->addr));
	c->addr_text = calloc(svc->n_endpoints + 1, sizeof(*c->addr_text));
	if (!c->ep || !c->addr || !c->addr_text)
		goto nomem;
	for (size_t e = 0; e < svc->n_endpoints && pi < svc->n_ports; e++) {
		const struct l7_endpoint *ep = &svc->endpoints[e];
		uint16_t tp = ep->ports ? ep->ports[pi] : 0;

		union sockaddr_inet *a = &c->addr[c->n_hosts];

		if (!tp || !in_subset(svc, subset, (uint32_t)e))
			continue;
		/*
		 * An endpoint of IPv6 only is no host of the IPv4 VIP's cluster of a Service with
		 * VIPs of both families (a selectorless one's IPv6 slice, an IPv6-only pod): the
		 * ztunnel sends its IPv4 VIP to IPv4 endpoints alone.
		 */
		if (!v6 && !ep->ip && ep->ip6.family == AF_INET6 && !svc->entry &&
		    !svc->via_waypoint && svc->vip && svc->vip6.family == AF_INET6)
			continue;
		/*
		 * An endpoint without an IPv6 address is no host of the IPv6 VIP's cluster. One of
		 * IPv6 only (a ServiceEntry's, whose one cluster serves both families; an IPv6
		 * Service's) is a host of the other at [v6]:port.
		 */
		if (v6 || (!ep->ip && ep->ip6.family == AF_INET6)
			? sockaddr_inet_from_ipaddr(a, &ep->ip6, tp) != 0
			: (sockaddr_inet_v4(a, ep->ip, tp), false))
			continue;
		c->ep[c->n_hosts] = ep;
		sockaddr_inet_format(a, c->addr_text[c->n_hosts], sizeof(c->addr_text[0]));
		c->n_hosts++;
	}
	pthread_mutex_init(&c->lock, NULL);
	if (wp_outlier_init(&c->outlier, c->policy ? &c->policy->outlier : &none, c->n_hosts,
			    now_ms))
		goto nomem;
	c->original_dst = svc->resolution == L7_RES_NONE;
	c->dynamic_dns = svc->resolution == L7_RES_DYNAMIC_DNS;
	if (origination(c))
		goto nomem;
	return 0;
nomem:
	free(c->ep);
	free(c->addr);
	free(c->addr_text);
	free(c->name);
	memset(c, 0, sizeof(*c));
	return -ENOMEM;
}

void wp_cluster_destroy(struct wp_cluster *c)
{
	if (!c->name)
		return;
	wp_outlier_destroy(&c->outlier);
	pthread_mutex_destroy(&c->lock);
	tls_ctx_put(c->tls);
	free(c->tls_err);
	free(c->sni);
	for (size_t i = 0; c->sans && i < c->n_sans; i++)
		free(c->sans[i]);
	free(c->sans);
	free(c->ep);
	free(c->addr);
	free(c->addr_text);
	free(c->name);
	memset(c, 0, sizeof(*c));
}

void wp_cluster_record(struct wp_cluster *c, size_t i, enum wp_outcome what, int status,
		       uint64_t now_ms)
{
	if (!c->outlier.cfg.present)
		return;
	pthread_mutex_lock(&c->lock);
	if (wp_outlier_record(&c->outlier, i, what, status, now_ms))
		__atomic_add_fetch(&c->epoch, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&c->lock);
}

void wp_cluster_sweep(struct wp_cluster *c, uint64_t now_ms)
{
	if (!c->outlier.cfg.present)
		return;
	pthread_mutex_lock(&c->lock);
	if (wp_outlier_sweep(&c->outlier, now_ms))
		__atomic_add_fetch(&c->epoch, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&c->lock);
}

void wp_cluster_limits(const struct wp_cluster *c, struct h1_pool_limits *lim)
{
	static const struct config_connection_pool dflt = CONFIG_POOL_ISTIO_DEFAULTS;
	const struct config_connection_pool *p = c->policy ? &c->policy->pool : &dflt;

	memset(lim, 0, sizeof(*lim));
	lim->max_connections = p->max_connections;
	lim->max_pending = p->http1_max_pending_requests;
	lim->max_requests = p->http2_max_requests;
	lim->max_requests_per_conn = p->max_requests_per_connection;
	lim->max_retries = p->max_retries;
	lim->connect_timeout_ms =
	    (unsigned int)(p->connect_timeout_ms ? p->connect_timeout_ms : 10000);
	lim->idle_timeout_ms = (unsigned int)p->http_idle_timeout_ms;
}

uint64_t wp_cluster_tcp_idle_ms(const struct wp_cluster *c)
{
	static const struct config_connection_pool dflt = CONFIG_POOL_ISTIO_DEFAULTS;

	/* Istio's default when no DestinationRule sets it: an hour (Envoy's TCP proxy's). */
	return (c->policy ? &c->policy->pool : &dflt)->tcp_idle_timeout_ms;
}

/*
 * The proxy's own value of failoverPriority label @key: "key=value" names it; the topology labels
 * of its cluster and network are its own; NULL: not known here (no endpoint matches it).
 */
static const char *self_value(const char *key, size_t *klen, const char *cluster,
			      const char *network)
{
	const char *eq = strchr(key, '=');

	*klen = eq ? (size_t)(eq - key) : strlen(key);
	if (eq)
		return eq + 1;
	if (!strcmp(key, "topology.istio.io/cluster"))
		return cluster;
	if (!strcmp(key, "topology.istio.io/network"))
		return network;
	return NULL;
}

/*
 * Envoy's priority of an endpoint under Istio's failoverPriority: how many of the labels, in
 * order, it shares with the proxy before the first it does not (all: 0, the first already not:
 * n). An endpoint without a topology label is in the proxy's own cluster and network (the
 * remote ones carry theirs, remote.h). Only with outlierDetection, as Istio applies it.
 */
static uint8_t host_priority(const struct wp_cluster *c, const struct l7_endpoint *ep,
			     const char *cluster, const char *network)
{
	const struct config_load_balancer *lb = c->policy ? &c->policy->lb : NULL;
	size_t n = ep && lb && !lb->locality_off && c->policy->outlier.present
		       ? lb->failover_priority.n
		       : 0;

	for (size_t k = 0; k < n && k < UINT8_MAX; k++) {
		char key[256];
		size_t klen;
		const char *mine =
		    self_value(lb->failover_priority.items[k], &klen, cluster, network);
		const char *theirs;

		snprintf(key, sizeof(key), "%.*s", (int)klen, lb->failover_priority.items[k]);
		theirs = config_label_get(&ep->labels, key);
		if (!theirs && !strncmp(key, "topology.istio.io/", 18))
			theirs = self_value(key, &klen, cluster, network);
		if (!mine || !theirs || strcmp(mine, theirs))
			return (uint8_t)(n - k);
	}
	return 0;
}

int wp_upstream_init(struct wp_upstream *u, struct wp_cluster *c, struct loop *l,
		     struct connector *cn, const char *self_cluster, const char *self_network)
{
	static const struct config_load_balancer dflt_lb = {0};
	struct h1_pool_limits lim;

	memset(u, 0, sizeof(*u));
	u->c = c;
	u->hosts = calloc(c->n_hosts + 1, sizeof(*u->hosts));
	if (!u->hosts)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_hosts; i++) {
		u->hosts[i].addr = c->addr[i];
		u->hosts[i].weight = 1;
		u->hosts[i].priority = host_priority(c, c->ep[i], self_cluster, self_network);
	}
	wp_cluster_limits(c, &lim);
	u->cn = cn;
	if (c->originate) {
		/* Without a context every open fails: no host outside the mesh is reached. */
		u->own_cn = connector_tls_new(l, cn, c->tls, c->sni, (const char *const *)c->sans,
					      c->n_sans);
		if (!u->own_cn) {
			free(u->hosts);
			return -ENOMEM;
		}
		u->cn = u->own_cn;
	}
	u->pool = h1_pool_new(l, u->cn, &lim, &c->budget);
	if (!u->pool || wp_lb_init(&u->lb, c->policy ? &c->policy->lb : &dflt_lb,
				   c->policy ? &c->policy->outlier : NULL, u->hosts, c->n_hosts)) {
		h1_pool_destroy(u->pool);
		connector_destroy(u->own_cn);
		free(u->hosts);
		return -ENOMEM;
	}
	u->epoch = UINT32_MAX;
	u->ready = true;
	return 0;
}

void wp_upstream_destroy(struct wp_upstream *u)
{
	if (!u->ready)
		return;
	wp_lb_destroy(&u->lb);
	h1_pool_destroy(u->pool);
	connector_destroy(u->own_cn);
	free(u->hosts);
	memset(u, 0, sizeof(*u));
}

/* The ejections as the cluster knows them, copied when they changed. */
static void refresh(struct wp_upstream *u)
{
	uint32_t e = __atomic_load_n(&u->c->epoch, __ATOMIC_ACQUIRE);

	if (e == u->epoch)
		return;
	pthread_mutex_lock(&u->c->lock);
	for (size_t i = 0; i < u->c->n_hosts; i++)
		u->hosts[i].ejected = wp_outlier_ejected(&u->c->outlier, i);
	pthread_mutex_unlock(&u->c->lock);
	u->epoch = e;
}

int wp_upstream_pick(struct wp_upstream *u, bool has_hash, uint64_t hash, const int *avoid,
		     size_t n_avoid)
{
	int i = -1;

	refresh(u);
	/* Envoy's previous_hosts predicate, retried up to 5 times (Istio's setting). */
	for (int tries = 0; tries < 6; tries++) {
		bool seen = false;

		i = wp_lb_pick(&u->lb, has_hash, hash, wp_random(), wp_random());
		if (i < 0)
			return -1;
		for (size_t k = 0; k < n_avoid; k++)
			seen |= avoid[k] == i;
		if (!seen)
			break;
	}
	return i;
}

/*
 * The name of authority @host (its port and a final dot aside, lowercase) into @out when it lies
 * under wildcard @pattern ("*.suffix", not the suffix itself). -EACCES otherwise.
 */
static int dynamic_name(const char *pattern, const char *host, char *out, size_t len)
{
	size_t n = strcspn(host, ":"), pl = strlen(pattern) - 1;

	if (n && host[n - 1] == '.')
		n--;
	if (!n || n >= len || pattern[0] != '*' || n <= pl)
		return -EACCES;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)(host[i] >= 'A' && host[i] <= 'Z' ? host[i] - 'A' + 'a' : host[i]);
	out[n] = '\0';
	/* A DNS name: letters, digits, '-' and '.', no empty label. */
	if (strspn(out, "abcdefghijklmnopqrstuvwxyz0123456789-.") != n || strstr(out, "..") ||
	    out[0] == '.' || strcmp(out + n - pl, pattern + 1))
		return -EACCES;
	return 0;
}

int wp_cluster_dst(const struct wp_cluster *c, size_t h, const struct transport_peer *peer,
		   const char *host, union sockaddr_inet *out)
{
	bool in = !c->svc->n_cidrs;

	*out = c->addr[h];
	if (c->dynamic_dns) {
		char name[256];
		struct ipaddr ip;
		int err =
		    host ? dynamic_name(c->svc->hostname, host, name, sizeof(name)) : -EHOSTUNREACH;

		err = err ? err : wp_dns_lookup(name, &ip);
		if (!err && sockaddr_inet_from_ipaddr(out, &ip, sockaddr_inet_port(&c->addr[h])))
			err = -EHOSTUNREACH;
		return err;
	}
	if (!c->original_dst)
		return 0;
	if (!peer || !peer->dest_ip.family || !peer->dest_port)
		return -EHOSTUNREACH;
	for (size_t i = 0; i < c->svc->n_cidrs && !in; i++)
		in = ipaddr_contains(&c->svc->cidrs[i], &peer->dest_ip);
	if (!in)
		return -EACCES;
	return sockaddr_inet_from_ipaddr(out, &peer->dest_ip, peer->dest_port) ? -EHOSTUNREACH : 0;
}
