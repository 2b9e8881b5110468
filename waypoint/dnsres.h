/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The waypoint's resolver for ServiceEntry endpoints of resolution DNS (l7_endpoint.dns_name),
 * as Envoy's DNS clusters: one thread asks the pod's resolvers (/etc/resolv.conf, through
 * ldns) for each name's A and AAAA records (IPv4 first; an IPv6 one only where this host has a
 * route to it), again when their TTL runs out (at least 5 s, at most
 * 300 s), and every 5 s while a name does not resolve, keeping its last good answer. A
 * generation is built with the addresses known then (wp_dns_expand); when an answer changes,
 * wp_dns_changes() moves on and the waypoint builds its generation again, as Envoy's cluster
 * takes a new host set.
 */
#ifndef AMBIT_WAYPOINT_DNSRES_H
#define AMBIT_WAYPOINT_DNSRES_H

#include <stdint.h>

#include "ambit/ipaddr.h"
#include "ambit/l7.h"

/*
 * Rewrites @l7 (not yet shared) so that each DNS endpoint of each service is one endpoint per
 * address its name has now (the first only for DNS_ROUND_ROBIN; none while unresolved), each
 * keeping dns_name, at its ip (an A answer) or its ip6 alone (an AAAA one); subsets follow. The
 * caller keeps the model from before to expand again. Names not asked for yet are asked for, and
 * waited for up to @wait_ms (the cluster's warming). 0 or -ENOMEM.
 */
int wp_dns_expand(struct l7_config *l7, unsigned int wait_ms);
/*
 * A request's name (a DYNAMIC_DNS entry's, Envoy's dynamic forward proxy): 0 with *@ip one of its
 * addresses (in turn, of either family), -EAGAIN while it is being asked (the first time: asked
 * from now on), -ENOENT when it has no address, -ENOSPC past the names the resolver keeps.
 * Thread-safe.
 */
int wp_dns_lookup(const char *name, struct ipaddr *ip);
/* A counter that moves whenever an answer of a name asked for changes. */
uint64_t wp_dns_changes(void);
/*
 * Asks @server on @port (0: 53) instead of the resolvers of /etc/resolv.conf, from the next
 * question on; NULL: those again. @server is copied. For a resolver the pod's file does not
 * name (a test's, on a port of its own).
 */
void wp_dns_use(const struct ipaddr *server, uint16_t port);
/* Stops the resolver's thread (at exit). */
void wp_dns_stop(void);

#endif
