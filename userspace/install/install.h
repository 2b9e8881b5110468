/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `ambitctl install` and `uninstall` on a Kubernetes cluster (install.c): ambit's manifests
 * rendered with the values given, applied through the API server the kubeconfig names. The
 * local cluster's `--kube` installs with it too (local/kubeup.c), istioctl's install and
 * manifest commands call it under their names (istioctl/profiles.c).
 */
#ifndef AMBIT_INSTALL_INSTALL_H
#define AMBIT_INSTALL_INSTALL_H

#include <stdbool.h>

#include <cjson/cJSON.h>

/* ambitctl install|uninstall ARGS: 0 or -errno (reason printed). */
int cmd_install(int argc, char **argv, bool uninstall);
/*
 * The same, where the cluster's nodes are this machine's (a local `--kube` cluster): once the
 * uninstall has deleted the DaemonSet, @pods_deleted(@arg) ends its pods' processes as the nodes'
 * kubelets would, and returns when they are gone; then the rest is deleted. 0 or -errno.
 */
int cmd_install_local(int argc, char **argv, bool uninstall, int (*pods_deleted)(void *arg),
		      void *arg);
/* Each of @items as a YAML document of its own on stdout, a lone one without the "---" before
 * it (as kubectl prints one object). 0 or -EIO. */
int ctl_print_yaml(const cJSON *items);

#endif
