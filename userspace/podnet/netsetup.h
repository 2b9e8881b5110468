/* SPDX-License-Identifier: Apache-2.0 */
/* Policy routing the tc program relies on (KERNEL_NOTES.md, mechanism 2), in the node netns. */
#ifndef AMBIT_AGENT_NETSETUP_H
#define AMBIT_AGENT_NETSETUP_H

#include <stdbool.h>
#include <netinet/in.h>
#include <stdint.h>
#include <linux/inet_diag.h>

#include "ambit/ipaddr.h"

/*
 * Ensures `ip rule fwmark AMBIT_SKB_MARK lookup AMBIT_ROUTE_TABLE` and
 * `local 0.0.0.0/0 dev lo table AMBIT_ROUTE_TABLE` exist in the current netns, adding only what
 * is missing so restarts are idempotent (rtnetlink, libmnl). 0 or -errno.
 */
int netsetup_policy_routing(void);
/* Removes both (an uninstall); what is already gone is no error. 0 or -errno. */
int netsetup_policy_routing_remove(void);
/*
 * The interface of the current netns holding IPv4 address @ip (network order; 0: none) or IPv6
 * address @ip6 (unspecified: none) into @name (IF_NAMESIZE bytes): a node's uplink from its
 * status.hostIPs, whatever the NIC is called. 0, or -ENODEV when none holds either.
 */
int netsetup_iface_of(uint32_t ip, const struct in6_addr *ip6, char *name);
/*
 * RTM_GETLINK of @ifindex in the calling thread's netns: its IFLA_MASTER into *@master, its
 * IFLA_LINK (a veth's peer's ifindex, in the peer's netns) into *@link (0 when none) and its
 * IFLA_INFO_KIND into @kind (@len bytes, "" when none). 0 or -errno.
 */
int netsetup_link_info(int ifindex, int *master, int *link, char *kind, size_t len);
/*
 * Whether interface @ifindex of the current netns is a port of a Linux bridge (asked over
 * rtnetlink: /sys shows the netns it was mounted in, not necessarily ours). 1, 0 or -errno.
 */
int netsetup_bridge_port(int ifindex);
/*
 * accept_local on lo of the current netns, set over rtnetlink (IFLA_INET_CONF: no /proc/sys,
 * which a container has read-only). In-pod capture turns the pod's answers to the ztunnel back
 * into lo with the pod's own address as source: a martian without it. @on false undoes it.
 * 0 or -errno.
 */
int netsetup_lo_accept_local(bool on);
/*
 * accept_local on interface @ifindex of the current netns, as above. Host capture turns the
 * node's own connections to a pod back into the node by the pod's host-side veth, with the
 * node's address as source (bpf/lib/nodeguard.h). 0 or -errno.
 */
int netsetup_accept_local(int ifindex, bool on);

/*
 * Deletes the neighbour entries of a pod's addresses, @ip (network order; 0: none) and @ip6
 * (family 0: none), on its host-side interface @ifindex, and with an unresolved one the packets
 * the node routed to the pod and queued while it resolved: routed before the pod was captured,
 * they took no steering on the uplink, and would reach the pod in plaintext the moment its
 * interface answers. What is not there is no error. 0, or -errno.
 */
int netsetup_neigh_forget(int ifindex, uint32_t ip, const struct ipaddr *ip6);

/*
 * The TCP connections of the current netns (not listening, not in TIME_WAIT) whose local address
 * is none of its own: not @ip (network order; 0: none), not @ip6 (NULL: none), not loopback or
 * link-local, not an address of any of its interfaces. Those are the ztunnel's transparent
 * sockets (only IP_TRANSPARENT binds an address that is not there), which deliver to the pod with
 * their client's address, and whose answers only tc_pod_egress and the fwmark route bring back.
 * Their count, or -errno. With @reset each is destroyed first (SOCK_DESTROY: the pod's end is
 * reset, the ztunnel's socket fails; at most 64 a call), so none waits on a way back that is gone.
 */
int netsetup_foreign_conns(uint32_t ip, const struct in6_addr *ip6, bool reset);

/*
 * Calls @cb for each TCP connection of the current netns whose local address is @ip (network
 * order; 0: none) or @ip6 (NULL: none), in any state that still takes segments from its peer
 * (not listening, not TIME_WAIT; a request socket mid-handshake included), with its family and
 * its sock_diag id (addresses and ports in network order; a dual-stack socket's IPv4 connection
 * as AF_INET, its addresses in idiag_src[0] and idiag_dst[0]). @cb borrows the id; a non-zero
 * return stops the walk and is returned. 0 or -errno.
 */
int netsetup_pod_conns(uint32_t ip, const struct in6_addr *ip6,
		       int (*cb)(uint8_t family, const struct inet_diag_sockid *id, void *ctx),
		       void *ctx);

#endif
