// SPDX-License-Identifier: Apache-2.0
/* The waypoint's resolver of ServiceEntry names (dnsres.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <ldns/ldns.h>

#include "ambit/clock.h"
#include "ambit/log.h"
#include "dnsres.h"
#include "net/sock.h"

#define DNS_MAX_ADDRS 16
#define DNS_MIN_TTL_MS 5000u
#define DNS_MAX_TTL_MS 300000u
#define DNS_RETRY_MS 5000u
#define DNS_MAX_NAMES 4096

struct name {
	char *name;
	struct ipaddr ips[DNS_MAX_ADDRS]; /* its A answers, then its AAAA ones (query) */
	size_t n;
	bool answered;	   /* one answer came (even without address): no more warming */
	bool dynamic;	   /* a request's (wp_dns_lookup): its changes build no generation */
	unsigned int next; /* wp_dns_lookup's turn */
	uint64_t due_ms;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake, answered;
	pthread_t thread;
	bool started, stopping;
	struct name *names;
	size_t n, cap;
	uint64_t changes;
	/* wp_dns_use: the one resolver asked instead of /etc/resolv.conf's (family 0: those) */
	struct ipaddr server;
	uint16_t server_port;
} R = {.lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t conds_once = PTHREAD_ONCE_INIT;

/*
 * The conditions wait on CLOCK_MONOTONIC, the clock their deadlines are taken on: a default
 * one's deadline is CLOCK_REALTIME's, long past for a monotonic time, so the warming would not
 * wait and the resolver's thread would spin.
 */
static void conds_init(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&R.wake, &a);
	pthread_cond_init(&R.answered, &a);
	pthread_condattr_destroy(&a);
}

static void r_lock(void)
{
	pthread_once(&conds_once, conds_init);
	pthread_mutex_lock(&R.lock);
}

static struct name *find(const char *name)
{
	for (size_t i = 0; i < R.n; i++)
		if (!strcmp(R.names[i].name, name))
			return &R.names[i];
	return NULL;
}

/* A resolver of /etc/resolv.conf's, or the one wp_dns_use named (read under R.lock). */
static ldns_resolver *resolver_new(void)
{
	struct ipaddr server;
	uint16_t port;
	ldns_resolver *res = NULL;
	ldns_rdf *ns;

	r_lock();
	server = R.server;
	port = R.server_port;
	pthread_mutex_unlock(&R.lock);
	if (!server.family)
		return ldns_resolver_new_frm_file(&res, NULL) == LDNS_STATUS_OK ? res : NULL;
	ns = server.family == AF_INET6 ? ldns_rdf_new_frm_data(LDNS_RDF_TYPE_AAAA, 16, server.a)
				       : ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, server.a);
	res = ns ? ldns_resolver_new() : NULL;
	if (!res || ldns_resolver_push_nameserver(res, ns) != LDNS_STATUS_OK) {
		ldns_resolver_deep_free(res);
		ldns_rdf_deep_free(ns);
		return NULL;
	}
	ldns_rdf_deep_free(ns);
	ldns_resolver_set_port(res, port);
	return res;
}

/*
 * The records of @type (A or AAAA) of absolute name @dname from @res appended to @ips (up to
 * DNS_MAX_ADDRS in all, *@n of them), the smallest TTL in *@ttl. 0 when a resolver answered
 * (even without such a record), -EHOSTUNREACH when none did.
 */
static int query_type(ldns_resolver *res, const ldns_rdf *dname, ldns_rr_type type,
		      struct ipaddr *ips, size_t *n, uint32_t *ttl)
{
	size_t want = type == LDNS_RR_TYPE_AAAA ? 16 : 4;
	ldns_pkt *pkt = ldns_resolver_query(res, dname, type, LDNS_RR_CLASS_IN, LDNS_RD);
	ldns_rr_list *rrs = NULL;
	int err = -EHOSTUNREACH;

	if (pkt && (ldns_pkt_get_rcode(pkt) == LDNS_RCODE_NOERROR ||
		    ldns_pkt_get_rcode(pkt) == LDNS_RCODE_NXDOMAIN)) {
		err = 0;
		rrs = ldns_pkt_rr_list_by_type(pkt, type, LDNS_SECTION_ANSWER);
	}
	for (size_t i = 0; rrs && i < ldns_rr_list_rr_count(rrs) && *n < DNS_MAX_ADDRS; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(rrs, i);
		const ldns_rdf *a = ldns_rr_rdf(rr, 0);
		struct ipaddr x = {.family = want == 16 ? AF_INET6 : AF_INET,
				   .len = want == 16 ? 128 : 32};

		if (!a || ldns_rdf_size(a) != want)
			continue;
		memcpy(x.a, ldns_rdf_data(a), want);
		if (x.family == AF_INET6 && !sock_routable6(&x))
			continue;
		ips[(*n)++] = x;
		if (ldns_rr_ttl(rr) < *ttl)
			*ttl = ldns_rr_ttl(rr);
	}
	ldns_rr_list_deep_free(rrs);
	ldns_pkt_free(pkt);
	return err;
}

/*
 * The addresses of @name (absolute) from the resolvers of /etc/resolv.conf, and the smallest
 * TTL among them (ms): its A records, then its AAAA records this host has a route to. IPv4
 * first is Envoy's V4_PREFERRED order, which Istio gives DNS clusters, kept where both
 * families are used (Istio's ALL on a dual-stack mesh): a DNS_ROUND_ROBIN entry, which uses
 * the first address, goes over IPv4 when its name has one, and over IPv6 when it has only
 * that. 0 with *@n set (0: the name has no address), -errno when no resolver answered.
 */
static int query(const char *name, struct ipaddr *ips, size_t *n, uint64_t *ttl_ms)
{
	ldns_resolver *res = resolver_new();
	ldns_rdf *dname = NULL;
	char fq[300];
	uint32_t ttl = UINT32_MAX;
	int err = -EHOSTUNREACH, err6 = -EHOSTUNREACH;

	*n = 0;
	if (!res)
		return -ENOENT;
	snprintf(fq, sizeof(fq), "%s%s", name, name[strlen(name) - 1] == '.' ? "" : ".");
	ldns_resolver_set_timeout(res, (struct timeval){.tv_sec = 2});
	ldns_resolver_set_retry(res, 2);
	dname = ldns_dname_new_frm_str(fq);
	if (dname) {
		err = query_type(res, dname, LDNS_RR_TYPE_A, ips, n, &ttl);
		err6 = query_type(res, dname, LDNS_RR_TYPE_AAAA, ips, n, &ttl);
	}
	*ttl_ms = ttl == UINT32_MAX ? DNS_RETRY_MS : (uint64_t)ttl * 1000;
	ldns_rdf_deep_free(dname);
	ldns_resolver_deep_free(res);
	/* One family answered: its addresses stand (the other's resolver may be slow). */
	return err && err6 ? err : 0;
}

static void *resolver(void *arg)
{
	r_lock();
	while (!R.stopping) {
		uint64_t now = clock_mono_ms(), next = now + 60000;
		struct name *due = NULL;
		char *name;

		for (size_t i = 0; i < R.n && !due; i++)
			if (R.names[i].due_ms <= now)
				due = &R.names[i];
			else if (R.names[i].due_ms < next)
				next = R.names[i].due_ms;
		if (!due) {
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)((next - now) / 1000);
			ts.tv_nsec += (long)((next - now) % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&R.wake, &R.lock, &ts);
			continue;
		}
		name = strdup(due->name);
		due->due_ms = now + DNS_RETRY_MS; /* asked: not again meanwhile */
		pthread_mutex_unlock(&R.lock);
		struct ipaddr ips[DNS_MAX_ADDRS];
		size_t n = 0;
		uint64_t ttl = DNS_RETRY_MS;
		int err = name ? query(name, ips, &n, &ttl) : -ENOMEM;

		r_lock();
		due = name ? find(name) : NULL;
		if (due && !err) {
			ttl = ttl < DNS_MIN_TTL_MS ? DNS_MIN_TTL_MS : ttl;
			ttl = ttl > DNS_MAX_TTL_MS ? DNS_MAX_TTL_MS : ttl;
			/* No address: asked again soon, as a failure is. */
			due->due_ms = clock_mono_ms() + (n ? ttl : DNS_RETRY_MS);
			if (n != due->n || memcmp(ips, due->ips, n * sizeof(*ips))) {
				memcpy(due->ips, ips, n * sizeof(*ips));
				due->n = n;
				if (!due->dynamic)
					R.changes++;
			}
			due->answered = true;
			pthread_cond_broadcast(&R.answered);
		} else if (due) {
			/* The last good answer stays (Envoy keeps its hosts when DNS fails). */
			pr_debug("waypoint: resolving %s: %s", due->name, strerror(-err));
		}
		free(name);
	}
	pthread_mutex_unlock(&R.lock);
	return NULL;
}

/* Asks for @name from now on (locked). */
static int want(const char *name)
{
	struct name *x;

	if (find(name))
		return 0;
	if (R.n == DNS_MAX_NAMES)
		return 0; /* beyond any config's need: such endpoints stay unresolved */
	if (R.n == R.cap) {
		size_t cap = R.cap ? R.cap * 2 : 8;
		struct name *v = realloc(R.names, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		R.names = v;
		R.cap = cap;
	}
	x = &R.names[R.n];
	memset(x, 0, sizeof(*x));
	if (!(x->name = strdup(name)))
		return -ENOMEM;
	R.n++;
	if (!R.started) {
		if (pthread_create(&R.thread, NULL, resolver, NULL))
			return -EAGAIN;
		R.started = true;
	}
	pthread_cond_signal(&R.wake);
	return 0;
}

/* Whether every DNS name of @l7 was answered once (locked). */
static bool all_answered(const struct l7_config *l7)
{
	for (size_t s = 0; s < l7->n_services; s++)
		for (size_t e = 0; e < l7->services[s].n_endpoints; e++) {
			const char *n = l7->services[s].endpoints[e].dns_name;
			const struct name *x = n ? find(n) : NULL;

			if (n && x && !x->answered)
				return false;
		}
	return true;
}

static char *dup_or_null(const char *s, bool *fail)
{
	char *d = s ? strdup(s) : NULL;

	*fail |= s && !d;
	return d;
}

static void ep_clear(struct l7_endpoint *e)
{
	free(e->pod);
	free(e->workload);
	free(e->node);
	free(e->identity);
	free(e->dns_name);
	free(e->ports);
	config_labels_free(&e->labels);
	memset(e, 0, sizeof(*e));
}

/*
 * A deep copy of @ep (@n_ports ports) into @o, at address @ip (NULL: @ep's; an IPv6 one is its
 * ip6 alone). 0 or -ENOMEM (@o cleared).
 */
static int ep_copy(struct l7_endpoint *o, const struct l7_endpoint *ep, size_t n_ports,
		   const struct ipaddr *ip)
{
	bool fail = false;

	memset(o, 0, sizeof(*o));
	o->ip = ep->ip;
	o->ip6 = ep->ip6;
	if (ip && ip->family == AF_INET6) {
		o->ip = 0;
		o->ip6 = *ip;
	} else if (ip) {
		memset(&o->ip6, 0, sizeof(o->ip6));
		ipaddr_v4(ip, &o->ip);
	}
	o->pod = dup_or_null(ep->pod, &fail);
	o->workload = dup_or_null(ep->workload, &fail);
	o->node = dup_or_null(ep->node, &fail);
	o->identity = dup_or_null(ep->identity, &fail);
	o->dns_name = dup_or_null(ep->dns_name, &fail);
	o->ports = calloc(n_ports + 1, sizeof(*o->ports));
	fail |= !o->ports;
	if (o->ports)
		memcpy(o->ports, ep->ports, n_ports * sizeof(*o->ports));
	for (size_t i = 0; !fail && i < ep->labels.n; i++)
		fail = config_labels_add(&o->labels, ep->labels.items[i].key,
					 ep->labels.items[i].value) != 0;
	if (fail) {
		ep_clear(o);
		return -ENOMEM;
	}
	return 0;
}

/*
 * @s's endpoints anew, each DNS one as one endpoint per address its name has now (locked;
 * none while it has none), a name listed twice expanded once. Subsets take the new endpoints
 * of their old ones. 0 or -ENOMEM (@s unchanged).
 */
static int expand(struct l7_service *s)
{
	size_t n = 0, cap = 0, *first, *count;
	struct l7_endpoint *out;
	uint32_t **subs;

	for (size_t e = 0; e < s->n_endpoints; e++) {
		const struct name *x =
		    s->endpoints[e].dns_name ? find(s->endpoints[e].dns_name) : NULL;

		cap += x ? x->n : 1;
	}
	out = calloc(cap + 1, sizeof(*out));
	first = calloc(s->n_endpoints + 1, sizeof(*first));
	count = calloc(s->n_endpoints + 1, sizeof(*count));
	subs = calloc(s->n_subsets + 1, sizeof(*subs));
	if (!out || !first || !count || !subs)
		goto nomem;
	for (size_t e = 0; e < s->n_endpoints; e++) {
		const struct l7_endpoint *ep = &s->endpoints[e];
		const struct name *x = ep->dns_name ? find(ep->dns_name) : NULL;
		size_t k = ep->dns_name ? (x ? x->n : 0) : 1;

		for (size_t j = 0; ep->dns_name && j < e && k; j++)
			if (s->endpoints[j].dns_name &&
			    !strcmp(s->endpoints[j].dns_name, ep->dns_name))
				k = 0;
		if (s->resolution == L7_RES_DNS_ROUND_ROBIN && k > 1)
			k = 1;
		first[e] = n;
		count[e] = k;
		for (size_t i = 0; i < k; i++, n++)
			if (ep_copy(&out[n], ep, s->n_ports, x ? &x->ips[i] : NULL))
				goto nomem;
	}
	for (size_t i = 0; i < s->n_subsets; i++) {
		const struct l7_subset *ss = &s->subsets[i];
		size_t m = 0;

		if (!(subs[i] = calloc(n + 1, sizeof(**subs))))
			goto nomem;
		for (size_t j = 0; j < ss->n_endpoints; j++)
			for (size_t k = 0; k < count[ss->endpoints[j]]; k++)
				subs[i][m++] = (uint32_t)(first[ss->endpoints[j]] + k);
	}
	for (size_t i = 0; i < s->n_subsets; i++) {
		size_t m = 0;

		for (size_t j = 0; j < s->subsets[i].n_endpoints; j++)
			m += count[s->subsets[i].endpoints[j]];
		free(s->subsets[i].endpoints);
		s->subsets[i].endpoints = subs[i];
		s->subsets[i].n_endpoints = m;
	}
	for (size_t e = 0; e < s->n_endpoints; e++)
		ep_clear(&s->endpoints[e]);
	free(s->endpoints);
	s->endpoints = out;
	s->n_endpoints = n;
	free(first);
	free(count);
	free(subs);
	return 0;
nomem:
	for (size_t e = 0; out && e < n; e++)
		ep_clear(&out[e]);
	for (size_t i = 0; subs && i < s->n_subsets; i++)
		free(subs[i]);
	free(out);
	free(first);
	free(count);
	free(subs);
	return -ENOMEM;
}

int wp_dns_expand(struct l7_config *l7, unsigned int wait_ms)
{
	bool any = false;
	int err = 0;

	r_lock();
	for (size_t s = 0; s < l7->n_services && !err; s++)
		for (size_t e = 0; e < l7->services[s].n_endpoints && !err; e++)
			if (l7->services[s].endpoints[e].dns_name) {
				any = true;
				err = want(l7->services[s].endpoints[e].dns_name);
			}
	if (any && !err && wait_ms) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += wait_ms / 1000;
		ts.tv_nsec += (long)(wait_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		while (!all_answered(l7) &&
		       pthread_cond_timedwait(&R.answered, &R.lock, &ts) != ETIMEDOUT)
			;
	}
	for (size_t s = 0; any && s < l7->n_services && !err; s++)
		if (l7->services[s].resolution == L7_RES_DNS ||
		    l7->services[s].resolution == L7_RES_DNS_ROUND_ROBIN)
			err = expand(&l7->services[s]);
	pthread_mutex_unlock(&R.lock);
	return err;
}

int wp_dns_lookup(const char *name, struct ipaddr *ip)
{
	struct name *x;
	int ret;

	r_lock();
	x = find(name);
	if (!x) {
		ret = want(name);
		x = find(name);
		if (x)
			x->dynamic = true;
		ret = ret ? ret : x ? -EAGAIN : -ENOSPC;
	} else if (!x->answered) {
		ret = -EAGAIN;
	} else if (!x->n) {
		ret = -ENOENT;
	} else {
		*ip = x->ips[x->next++ % x->n];
		ret = 0;
	}
	pthread_mutex_unlock(&R.lock);
	return ret;
}

uint64_t wp_dns_changes(void)
{
	uint64_t c;

	r_lock();
	c = R.changes;
	pthread_mutex_unlock(&R.lock);
	return c;
}

void wp_dns_use(const struct ipaddr *server, uint16_t port)
{
	r_lock();
	memset(&R.server, 0, sizeof(R.server));
	if (server)
		R.server = *server;
	R.server_port = port ? port : 53;
	pthread_mutex_unlock(&R.lock);
}

void wp_dns_stop(void)
{
	r_lock();
	R.stopping = true;
	pthread_cond_broadcast(&R.wake);
	pthread_mutex_unlock(&R.lock);
	if (R.started)
		pthread_join(R.thread, NULL);
	for (size_t i = 0; i < R.n; i++)
		free(R.names[i].name);
	free(R.names);
	R.names = NULL;
	R.n = R.cap = 0;
	R.started = R.stopping = false;
}
