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
/* Each of @items as a YAML document of its own on stdout, a lone one without the "---" before
 * it (as kubectl prints one object). 0 or -EIO. */
int ctl_print_yaml(const cJSON *items);

#endif
