/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A global Service's endpoints in other networks, as the waypoint balances over them: each
 * remote cluster's share (the snapshot's remoteServices: how many endpoints stand behind that
 * network's east-west gateways) becomes that many hosts of the Service's clusters, one per
 * slot, each at an address of its own that no pod has (240.244.0.0/16, fdff:a3b1:7e00::/64;
 * a (Service, cluster, slot) keeps its address while the waypoint runs),
 * labelled with its cluster and network. A request picks among them and the local endpoints as
 * among any hosts (no pinning: each slot is a pooled inner tunnel the gateway sent to one
 * endpoint), outlier detection ejects one as any host; opening to one is Istio's double HBONE
 * through a gateway of its network (wp_remote_find, the connector's remote hook).
 */
#ifndef AMBIT_WAYPOINT_REMOTE_H
#define AMBIT_WAYPOINT_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "ambit/ipaddr.h"
#include "ambit/l7.h"
#include "ambit/snapshot.h"
#include "net/sock.h"

/* Hosts a share gets at most, however many endpoints it has: inner tunnels to keep apart. */
#define WP_REMOTE_SLOTS_MAX 16

struct wp_remote_host {
	uint32_t k;  /* its number in the process (the low bits of its addresses) */
	uint32_t ip; /* its address in 240.244.0.0/16 (and @ip6 in fdff:a3b1:7e00::/64) */
	struct ipaddr ip6;
	const char *hostname; /* the Service's (borrowed from the table's strings) */
	const char *sans;     /* its endpoints' identities, space-separated */
	const char *network;  /* the share's */
	unsigned int slot;
	size_t n_gateways; /* that network's east-west gateways (the table's) */
	size_t first_gateway;
};

struct wp_remote_gateway {
	union sockaddr_inet addr; /* port 15008 */
	char *identity;
	char *network;
};

struct wp_remotes {
	size_t n_hosts, n_gateways, n_strings;
	struct wp_remote_host *hosts;
	struct wp_remote_gateway *gateways; /* grouped by network */
	char **strings;
	char *network; /* the waypoint's own: x-forwarded-network */
};

/*
 * Adds to each Service of @l7 the hosts of its remote shares in @s (a decoded snapshot: its
 * services' remote links and netGateways), and returns their table (NULL: none, or -ENOMEM in
 * *@err). @l7's endpoints grow; subsets keep the local endpoints alone.
 */
struct wp_remotes *wp_remotes_add(struct l7_config *l7, const struct snapshot *s, int *err);
/* The remote host @dst is (by address alone), or NULL: a host of its own. */
const struct wp_remote_host *wp_remote_find(const struct wp_remotes *r,
					    const union sockaddr_inet *dst);
void wp_remotes_free(struct wp_remotes *r);

/*
 * One network (clusters of the same network, pods routable between them): adds to each Service
 * of @l7 the other clusters' pods among its endpoints in @s (the agent lists them after its own,
 * their workloads named <cluster>/<ns>/<name>), reached as this cluster's are (HBONE to a mesh
 * pod, its identity checked; plaintext to one outside the mesh there), labelled with app, version,
 * cluster and network, and in each subset those labels select. 0 or -ENOMEM.
 */
int wp_peers_add(struct l7_config *l7, const struct snapshot *s);

#endif
