/* SPDX-License-Identifier: Apache-2.0 */
/* Policy routing the tc program relies on (KERNEL_NOTES.md, mechanism 2), in the node netns. */
#ifndef AMBIT_AGENT_NETSETUP_H
#define AMBIT_AGENT_NETSETUP_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Ensures `ip rule fwmark AMBIT_SKB_MARK lookup AMBIT_ROUTE_TABLE` and
 * `local 0.0.0.0/0 dev lo table AMBIT_ROUTE_TABLE` exist in the current netns, adding only what
 * is missing so restarts are idempotent (rtnetlink, libmnl). 0 or -errno.
 */
int netsetup_policy_routing(void);
/* Removes both (an uninstall); what is already gone is no error. 0 or -errno. */
int netsetup_policy_routing_remove(void);
/*
 * The interface of the current netns holding IPv4 address @ip (network order) into @name
 * (IF_NAMESIZE bytes): a node's uplink from its status.hostIP, whatever the NIC is called.
 * 0, or -ENODEV when none holds it.
 */
int netsetup_iface_of(uint32_t ip, char *name);
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

#endif
