/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A local cluster node's kubelet (userspace/kubelet/): the process `ambitctl local up` starts per
 * node that supervises its agent, ztunnel and pods as a kubelet does (kubelet.c), the pods of a
 * --kube cluster's DaemonSets and Deployments made from their templates (kpod.c), and what a
 * kubelet serves on /metrics/cadvisor (cadvisor.c). It is built on the cluster's mechanics
 * (userspace/local/local.h: names, sandboxes, CNI, spawning); they never call into it:
 * ambitctl talks to a running kubelet over its socket (local/kubeletq.c).
 */
#ifndef AMBIT_KUBELET_H
#define AMBIT_KUBELET_H

#include "local/local.h"

/* kubelet.c: `ambitctl local kubelet --node N`, the node's supervisor (hidden command). */
int local_kubelet(const struct ctl_opts *o);
/* cadvisor.c: `local cadvisor --node N` (hidden): the node's /metrics/cadvisor on :4194. */
int local_cadvisor(const struct ctl_opts *o);

/* kpod.c: a pod template's container as a --kube cluster's kubelet runs it. */
struct kconn;
/*
 * Fills @s for container @container of pod template @tmpl (of namespace @ns, borrowed), as pod
 * @pod on node @n; Secrets and ConfigMaps it mounts are read through @k. 0, or -errno with why.
 */
int kpod_sandbox(const struct ctl_cluster *c, const struct ctl_node *n, const struct kconn *k,
		 const char *ns, const cJSON *tmpl, const char *container, const char *pod,
		 struct sandbox *s, char *why, size_t len);
/* @in with the kubelet's $(VAR) expansion from @env ("NAME=value", NULL-ended); malloc'd. */
char *kpod_expand(const char *in, char *const *env);

#endif
