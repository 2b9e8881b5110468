/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Load balancing over a set of upstream hosts (a service's or subset's endpoints), as Envoy does
 * for the DestinationRule loadBalancer Istio translates (API_SEMANTICS.md §2): ROUND_ROBIN,
 * LEAST_REQUEST (Envoy's power of two choices: two random healthy hosts, the one with fewer
 * active requests), RANDOM, and consistent hashing on a ring built like Envoy's ring hash
 * (xxHash64 of "<ip>:<port>_<i>", "[<v6>]:<port>_<i>" for IPv6, at least minimumRingSize entries,
 * weights honoured, lookup of the first entry at or after the hash) or on a Maglev table (Envoy's:
 * permutations from xxHash64 of the address with seeds 0 and 1, filled round-robin by weight,
 * looked up at hash modulo the prime table size, rebuilt from the usable hosts when the ejected set
 * changes). A hash policy that finds no value (header absent) falls back to a random host. Hosts
 * ejected by outlier detection are skipped unless the healthy share falls under the panic threshold
 * (minHealthPercent; Istio's default 0 disables panic). Hosts have priorities (localityLbSetting's
 * failoverPriority: 0 first): a pick is among the best level that has a healthy host, the panic
 * threshold counted in that level; none healthy anywhere, the best level. The caller injects
 * randomness: every choice is deterministic given its inputs.
 */
#ifndef AMBIT_WAYPOINT_LB_H
#define AMBIT_WAYPOINT_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ambit/l7.h"
#include "route.h"
#include "net/sock.h"

struct wp_host {
	union sockaddr_inet addr; /* the endpoint's address and target port, of either family */
	uint32_t weight;	  /* 1 when unweighted */
	uint32_t active_requests;
	bool ejected;	  /* by outlier detection */
	uint8_t priority; /* 0 first; a pick is among the best level with a healthy host */
};

struct wp_ring_entry {
	uint64_t hash;
	uint32_t host; /* index into the host set */
};

struct wp_lb {
	enum config_lb_simple simple;
	enum config_hash_key hash_key;
	uint32_t panic_percent; /* minHealthPercent */
	size_t n_hosts;
	struct wp_host *hosts; /* borrowed: the caller updates active_requests and ejected */
	size_t rr_next;
	size_t n_ring;
	struct wp_ring_entry *ring;
	bool maglev;
	uint64_t table_size;
	uint32_t *table;    /* Maglev: host index per slot */
	uint64_t table_key; /* which hosts were usable when the table was built */
	uint8_t level;	    /* the priority of the pick under way (wp_lb_pick) */
};

/*
 * Sets up @lb over @hosts (borrowed, @n entries) with policy @p (borrowed for the call);
 * builds the ring or the Maglev table for consistent hashing. 0 or -ENOMEM.
 */
int wp_lb_init(struct wp_lb *lb, const struct config_load_balancer *p,
	       const struct config_outlier_detection *od, struct wp_host *hosts, size_t n);
void wp_lb_destroy(struct wp_lb *lb);
/*
 * Picks a host: @hash when @has_hash (consistent hashing), else by the policy, drawing on @rnd
 * (two independent values are used by LEAST_REQUEST: @rnd and @rnd2). Returns the host index or
 * -1 when there is none to pick (Envoy's "no healthy upstream", UH). PASSTHROUGH picks nothing
 * (-1): the request goes to its original destination.
 */
int wp_lb_pick(struct wp_lb *lb, bool has_hash, uint64_t hash, uint64_t rnd, uint64_t rnd2);
/*
 * The request hash of policy @p: xxHash64 of the header value, cookie, source address (@source_ip,
 * as inet_ntop writes it: family 0 is none) or query parameter it names. False when the request has
 * none (no hash: the pick is random).
 */
bool wp_lb_request_hash(const struct config_load_balancer *p, const struct wp_request *rq,
			const struct ipaddr *source_ip, uint64_t *hash);
/* Envoy's ring hash key hash (xxHash64, seed 0) of @s. */
uint64_t wp_hash(const char *s, size_t len);

#endif
