/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The waypoint's configuration generations: an L7 model (include/ambit/l7.h) with each
 * service's route table compiled and every cluster built, shared read-only by the workers and
 * reference-counted, so a reload never changes what an in-flight request or an open
 * connection holds: new requests take the new generation, old ones finish on theirs.
 */
#ifndef AMBIT_WAYPOINT_CONFIG_H
#define AMBIT_WAYPOINT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "ambit/l7.h"
#include "cluster.h"
#include "route.h"
#include "net/transport.h"

struct wp_remotes;

struct wp_gen {
	struct l7_config *l7;
	struct wp_route_table **routes; /* per service */
	size_t *cluster_base;		/* per service: its first cluster */
	size_t n_clusters;
	/*
	 * Per service: (none, subsets...) x ports, then, for a Service or workload of a model
	 * that has IPv6 addresses (@dual), the same again with hosts at the endpoints' IPv6.
	 */
	struct wp_cluster *clusters;
	bool dual;
	size_t n_by_ip, n_by_ip6;
	const struct l7_endpoint **by_ip;  /* every endpoint, sorted by address: source labels */
	const struct l7_endpoint **by_ip6; /* those with an IPv6 address, sorted by it */
	struct wp_jwks **jwks;	       /* per l7->jwt: its key set, NULL when it has none usable */
	struct wp_authz_index **authz; /* per service: its policies' index (NULL: try all) */
	struct wp_rl_state *rl;	       /* the rate limits' buckets (ratelimit.h) */
	struct cel_expr **log_filters; /* per l7->telemetry: its access log filter, or NULL */
	struct cel_expr ***tag_values; /* per l7->telemetry, per tag op: its value, or NULL */
	/*
	 * The cluster its workloads are in (the snapshot's clusterId, Istio's clusterName): what
	 * its metrics (source_cluster, destination_cluster), spans and a gateway's baggage
	 * (k8s.cluster.name) say. Owned; SNAP_CLUSTER_ID when the model came with none.
	 */
	char *cluster_id;
	/*
	 * The mesh's trust domain then its aliases (the snapshot's trustDomain and
	 * trustDomainAliases, Istio's trust domain bundle): a peer of one of them matches the
	 * L7 policies' principals of any of them (authz.h). Owned; none (0) when the model came
	 * without a snapshot.
	 */
	char **trust_domains;
	size_t n_trust_domains;
	uint64_t version;
	uint64_t seq;	      /* this generation's number in the process: what names it in caches */
	uint64_t dns_changes; /* wp_dns_changes() when its DNS endpoints were expanded */
	struct l7_config *dns_source; /* the model before (wp_dns_expand), when it has DNS ones */
	/* Its hosts in other networks (remote.h), or NULL: none. */
	struct wp_remotes *remotes;
	/* The network its workloads are in (the snapshot's; owned), or NULL: none said. */
	char *network;
	int refs; /* atomic */
};

/*
 * A generation of @l7 (taken, also on failure), in cluster SNAP_CLUSTER_ID. NULL with errno set
 * and the reason in @err (EINVAL: a route's regex does not compile).
 */
struct wp_gen *wp_gen_new(struct l7_config *l7, uint64_t version, char *err, size_t len);
/*
 * Puts @g (not yet serving) in cluster @id (copied; NULL or "": SNAP_CLUSTER_ID). 0, or -ENOMEM
 * with @g's cluster as it was.
 */
int wp_gen_set_cluster_id(struct wp_gen *g, const char *id);
/*
 * Gives @g (not yet serving) the trust domain bundle of trust domain @td (may be NULL) and its
 * @n @aliases (copied; empty ones and repeats left out; none at all: no bundle). 0, or -ENOMEM
 * with @g's bundle as it was.
 */
int wp_gen_set_trust_domains(struct wp_gen *g, const char *td, const char *const *aliases,
			     size_t n);
/* The whole file @path, NUL-terminated, into *@out (malloc'd) and *@len. 0 or -errno (errno set).
 */
int wp_read_file(const char *path, char **out, size_t *len);
/* A copy of @src (through its JSON form), or NULL with the reason in @err. */
struct l7_config *wp_l7_copy(const struct l7_config *src, char *err, size_t len);
/*
 * Whether the addresses of @g's DNS endpoints (dnsres.h) changed since it was built: then
 * wp_gen_redo builds it again (same version, cluster and trust domains) with the new ones; as
 * wp_gen_new.
 */
bool wp_gen_dns_stale(const struct wp_gen *g);
struct wp_gen *wp_gen_redo(const struct wp_gen *g, char *err, size_t len);
/* Reads the l7 JSON at @path (l7_from_json, strict) into a generation; as wp_gen_new. */
struct wp_gen *wp_gen_load(const char *path, uint64_t version, char *err, size_t len);
/*
 * Envoy keeps a host's outlier state across cluster updates: the hosts of @g's clusters that
 * @old's clusters of the same name had (same address) take their ejections and counts. Call
 * before @g serves (it is not locked); @old may be serving. @g keeps its own cluster id and
 * trust domains: a new snapshot's are the ones in force.
 */
void wp_gen_inherit(struct wp_gen *g, struct wp_gen *old);
/* A new reference; wp_gen_put drops one (the last frees). Both accept NULL. */
struct wp_gen *wp_gen_get(struct wp_gen *g);
void wp_gen_put(struct wp_gen *g);
/*
 * The service a request for original destination @host (may be NULL) or @vip (its VIP or IPv6
 * VIP; NULL or family 0: none) reached: its index, or -1.
 */
int wp_gen_service(const struct wp_gen *g, const char *host, const struct ipaddr *vip);
/* The endpoint (of any service) at @ip (either family), or NULL: a client's labels. */
const struct l7_endpoint *wp_gen_endpoint(const struct wp_gen *g, const struct ipaddr *ip);
/*
 * The cluster of service @s (index), @subset (may be NULL) and service @port, or NULL; with
 * @v6 (the client addressed an IPv6 VIP or pod address) the one whose hosts are the endpoints'
 * IPv6 addresses, where the service has such (a ServiceEntry's hosts stay IPv4).
 */
struct wp_cluster *wp_gen_cluster(const struct wp_gen *g, int s, const char *subset, uint16_t port,
				  bool v6);
/*
 * An east-west gateway's cluster for a stream to service @s (index) at service @port: its
 * endpoints', or when the Service is bound to a waypoint (l7_service.waypoint_host) and the
 * stream is not @from_waypoint, that waypoint Service's at 15008. NULL: the Service has no such
 * port, or its waypoint is not known here (never around it).
 */
struct wp_cluster *wp_gen_east_west(const struct wp_gen *g, int s, uint16_t port, bool v6,
				    bool from_waypoint);
/* Whether requests of @p go to IPv6 endpoints: its client addressed an IPv6 destination. */
static inline bool wp_peer_v6(const struct transport_peer *p)
{
	return p->dest_ip.family == AF_INET6;
}
/* The index of @c in @g. */
static inline size_t wp_gen_cluster_index(const struct wp_gen *g, const struct wp_cluster *c)
{
	return (size_t)(c - g->clusters);
}

#endif
