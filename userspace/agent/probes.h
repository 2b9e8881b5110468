/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kubelet's cgroup, for the node's programs (node_cfg, bpf/lib/nodeguard.h): a connection a
 * socket of that cgroup opens from the node to one of its enrolled pods is the kubelet's probe,
 * let through past the mesh in both capture modes, as Istio lets the kubelet's probes through;
 * the node's other plaintext to the pod is refused under STRICT as any from outside the mesh.
 * --kubelet-cgroup says where it is: a cgroup v2 directory (absolute, or under the cgroup2
 * mount), "none" (no probe passes), or "auto" (the default): the cgroup of the process whose
 * name is "kubelet", found in /proc (the DaemonSet runs with hostPID), looked for again at each
 * reconcile while none is known or once it is gone (a restarted kubelet may have a new cgroup).
 * The cgroup2 mount is the host's (--pod-cgroup-root, else the agent's own).
 */
#ifndef AMBIT_AGENT_PROBES_H
#define AMBIT_AGENT_PROBES_H

#include <stdint.h>

/*
 * The cgroup v2 id of process @pid as @proc (a procfs mount) tells its cgroup ("0::" line of
 * <pid>/cgroup) under the cgroup2 mount @cg2; 0 when it has none or is gone.
 */
uint64_t probes_cgroup_of_pid(const char *proc, const char *cg2, int pid);
/* The lowest pid under @proc whose name (<pid>/comm) is @comm, or 0. */
int probes_find_comm(const char *proc, const char *comm);
/*
 * What --kubelet-cgroup @how names now (NULL: "auto"): a cgroup id, or 0 for none (no such
 * directory, no kubelet running). *@pid caches the kubelet "auto" found (0: none yet); it is
 * looked for again once that process is gone or is no longer the kubelet. Borrows everything.
 */
uint64_t probes_kubelet_cgroup(const char *how, const char *proc, const char *cg2, int *pid);

#endif
