/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The waypoint's upstream clusters, Envoy's unit of load balancing and circuit breaking: one
 * per (service, subset or none, service port) of a config generation, with its endpoints, the
 * DestinationRule policy in force for it (l7_service_policy), its circuit-breaker budget and
 * its outlier-detection state. The cluster is shared by the workers (the budget is atomic, the
 * outlier state behind the cluster's own lock: Envoy's breakers and ejections are per cluster,
 * not per worker); each worker keeps its own view (struct wp_upstream: load balancer and
 * connection pool), so picking a host and reusing a connection take no lock.
 */
#ifndef AMBIT_WAYPOINT_CLUSTER_H
#define AMBIT_WAYPOINT_CLUSTER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "ambit/l7.h"
#include "http/http1_conn.h"
#include "lb.h"
#include "outlier.h"
#include "net/sock.h"

struct wp_cluster {
	char *name; /* Istio's: inbound-vip|<port>|http[/<subset>]|<hostname>, a gateway's
		       outbound|<port>|<subset>|<hostname> */
	const struct l7_service *svc;
	const char *subset; /* NULL: the whole service */
	uint16_t port;	    /* service port */
	const struct l7_policy *policy;
	size_t n_hosts;
	/*
	 * The hosts at the endpoints' IPv6 addresses, those that have one (the cluster of
	 * requests a client sent to an IPv6 VIP): else at their IPv4 ones.
	 */
	bool v6;
	const struct l7_endpoint **ep;		 /* per host */
	union sockaddr_inet *addr;		 /* per host: endpoint IP and target port */
	char (*addr_text)[SOCKADDR_INET_STRLEN]; /* per host: "ip:port", "[v6]:port" */
	struct h1_budget budget;
	pthread_mutex_t lock; /* outlier */
	struct wp_outlier outlier;
	uint32_t epoch; /* atomic: bumped when a host is ejected or returns */
	/*
	 * TLS origination to its hosts outside the mesh (the policy's tls.mode SIMPLE or MUTUAL):
	 * the context, the server name asked for (tls.sni, else the service's host) and the names
	 * the server's certificate must have one of (tls.subjectAltNames, else that server name).
	 * @tls NULL with @tls_err set: the credentials do not load, every connection fails.
	 */
	bool originate;
	/* A ServiceEntry of resolution NONE: its one host is the request's original destination. */
	bool original_dst;
	/* DYNAMIC_DNS: its one host is the name the request's Host asks for, resolved then. */
	bool dynamic_dns;
	struct tls_ctx *tls;
	char *tls_err;
	char *sni;
	size_t n_sans;
	char **sans;
};

/* A uniformly random 64-bit value (SplitMix64 per thread, seeded by getrandom): the draws of
 * weights, faults, load balancing, backoff, request ids. */
uint64_t wp_random(void);

/*
 * Builds @c for @svc's (@subset, @port) (all borrowed: they must outlive @c), with @v6 its hosts
 * at the endpoints' IPv6 addresses. 0 or -ENOMEM.
 */
int wp_cluster_init(struct wp_cluster *c, const struct l7_service *svc, const char *subset,
		    uint16_t port, bool outbound, bool v6, uint64_t now_ms);
void wp_cluster_destroy(struct wp_cluster *c);
/* Records an attempt's outcome on host @i (outlier detection). Thread-safe. */
void wp_cluster_record(struct wp_cluster *c, size_t i, enum wp_outcome what, int status,
		       uint64_t now_ms);
/* Runs the outlier interval sweep when due. Thread-safe. */
void wp_cluster_sweep(struct wp_cluster *c, uint64_t now_ms);
/* Envoy's pool limits from the cluster's connectionPool. */
void wp_cluster_limits(const struct wp_cluster *c, struct h1_pool_limits *lim);
/* A TCP connection to @c closes after this long with no byte either way (0: never). */
uint64_t wp_cluster_tcp_idle_ms(const struct wp_cluster *c);

struct transport_peer;
/*
 * Where host @h of @c is for a request from @peer for @host (its authority, may be NULL): its
 * address; for an original-destination cluster the address the client asked for (peer->dest_ip
 * and dest_port), which must lie in the entry's addresses when it lists any; for a DYNAMIC_DNS
 * one what @host (under the entry's wildcard) resolves to, on the host's port. 0,
 * -EHOSTUNREACH (no destination known), -EACCES (not one the entry allows), or wp_dns_lookup's
 * -EAGAIN (asked: try again) and -ENOENT (no address).
 */
int wp_cluster_dst(const struct wp_cluster *c, size_t h, const struct transport_peer *peer,
		   const char *host, union sockaddr_inet *out);

/* Whether @c's one host is found per request (NONE, DYNAMIC_DNS): none for the proxy's own calls.
 */
static inline bool wp_cluster_per_request(const struct wp_cluster *c)
{
	return c->original_dst || c->dynamic_dns;
}

/* A worker's view of a cluster: its load balancer and connection pool. */
struct wp_upstream {
	struct wp_cluster *c;
	struct wp_host *hosts;
	struct wp_lb lb;
	uint32_t epoch;
	struct h1_pool *pool;
	/* How its connections open: the worker's connector, or TLS origination over it. */
	struct connector *cn, *own_cn;
	bool ready;
};

/*
 * Sets @u up over @c (borrowed) on @l, connecting through @cn (borrowed), its hosts' priorities
 * by @c's failoverPriority against the proxy's own cluster and network (@self_cluster,
 * @self_network; either may be NULL). 0 or -errno.
 */
int wp_upstream_init(struct wp_upstream *u, struct wp_cluster *c, struct loop *l,
		     struct connector *cn, const char *self_cluster, const char *self_network);
void wp_upstream_destroy(struct wp_upstream *u);
/*
 * Picks a host for a request (its hash when @has_hash), skipping ejected hosts and, while
 * others remain, those in @avoid (@n_avoid host indices: retryIgnorePreviousHosts). -1: none.
 */
int wp_upstream_pick(struct wp_upstream *u, bool has_hash, uint64_t hash, const int *avoid,
		     size_t n_avoid);

#endif
