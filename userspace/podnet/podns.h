/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A pod's network namespace on a Kubernetes node, found from what the kubelet and the container
 * runtime leave behind, as Istio's node agent does for pods that already run (no CNI chaining):
 *  - the pod's cgroup, under the cgroup2 mount, by its UID in any layout kubelets make: the
 *    cgroupfs driver's kubepods/[burstable/|besteffort/]pod<uid>, the systemd driver's
 *    kubepods.slice/kubepods-[<qos>-]pod<uid with _ for ->.slice, under any cgroup root (kind's
 *    kubelet.slice, k3s, --cgroup-root): a directory at most PODNS_MAX_DEPTH down whose name
 *    names the pod;
 *  - its containers below it, whatever the runtime calls them (containerd's
 *    cri-containerd-<id>.scope or <id>, CRI-O's crio-<id>.scope): every process of the subtree;
 *  - the network namespaces those processes are in (/proc/<pid>/ns/net), and of them the one
 *    holding the pod's IP on an interface. A pod in the node's own namespace (the agent's: it
 *    runs with hostNetwork) is refused: it is not a pod the mesh can capture.
 */
#ifndef AMBIT_AGENT_PODNS_H
#define AMBIT_AGENT_PODNS_H

#include <limits.h>
#include <net/if.h>
#include <stdint.h>

#include "ambit/ipaddr.h"

#define PODNS_MAX_DEPTH 5

struct podns {
	char cgroup[PATH_MAX]; /* the pod's cgroup directory */
	int pid;	       /* a process in the namespace */
	char netns[256];       /* /proc/<pid>/ns/net, or the runtime's path (podns_at) */
	uint64_t inode;	       /* the namespace's inode (its identity) */
	/*
	 * The node-side end of the veth holding the pod's IP (routed CNIs: where the tc program
	 * goes), found from its IFLA_LINK; 0 and "" when that interface is no veth to the node.
	 */
	int host_ifindex;
	char host_iface[16];
	int pod_ifindex; /* the interface holding the pod's IP, in the pod's netns */
};

/*
 * Finds pod @uid's namespace holding @ip (one address of either family: a pod's IPv4, or an
 * IPv6-only pod's IPv6) under the cgroup2 mount @cg_root.
 * 0 and *@out; else the reason in @why and -ENOENT (no cgroup for @uid), -ESRCH (no process in
 * it), -EPERM (only the node's own namespace: hostNetwork), -EADDRNOTAVAIL (no namespace of its
 * holds @ip), or another -errno.
 */
int podns_find(const char *cg_root, const char *uid, const struct ipaddr *ip, struct podns *out,
	       char *why, size_t len);

/*
 * The same from the pod's cgroup directory @cgroup, known already (@uid names the pod in @why).
 * Same returns but -ENOENT.
 */
int podns_in_cgroup(const char *cgroup, const char *uid, const struct ipaddr *ip, struct podns *out,
		    char *why, size_t len);

/*
 * A pod whose sandbox has no process yet: runtimes (containerd, CRI-O) run the CNI chain before
 * they start it, so ambit-cni's ADD names the namespace (CNI_NETNS, the runtime's bind mount)
 * instead. Its namespace at @netns, which must hold @ip; out->cgroup is left as it is, pid 0.
 * 0, -EADDRNOTAVAIL (@netns does not hold @ip), -EPERM (the node's own), or -errno.
 */
int podns_at(const char *netns, const char *uid, const struct ipaddr *ip, struct podns *out,
	     char *why, size_t len);

#endif
