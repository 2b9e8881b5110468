/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's CNI configuration, as istio-cni's install-cni keeps it (issue 41 §1): ambit-cni's
 * entry at the end of the plugins of the conflist the container runtime uses (the first of the
 * directory's *.conf, *.conflist and *.json by name, as libcni lists them), a lone .conf turned
 * into a .conflist first; every file written whole, to a temporary name and renamed, so the
 * runtime never reads half of one. The binary goes to the CNI bin directory the same way.
 */
#ifndef AMBIT_CONTROL_CNICONF_H
#define AMBIT_CONTROL_CNICONF_H

#include <stdbool.h>
#include <stddef.h>

#define CNICONF_PLUGIN "ambit-cni"

/*
 * The runtime's configuration in @dir: the first file by name with a CNI extension that holds
 * a JSON object with "plugins" (a list) or "type" (one plugin). Its path in @path. 0, -ENOENT
 * when there is none yet (the node's own network plugin writes it later), or -errno.
 */
int cniconf_primary(const char *dir, char *path, size_t len);

/*
 * Puts @entry (JSON text of one plugin object, {"type": "ambit-cni", ...}) in @dir's primary
 * configuration: appended when absent, replaced where it stands when it differs, left alone when
 * it is there already (*@changed false: a watcher that rewrites on its own write never loops).
 * 0, -ENOENT (no configuration yet), -EINVAL (@entry or the file is not what it should be),
 * or -errno.
 */
int cniconf_insert(const char *dir, const char *entry, bool *changed);

/* Takes every ambit-cni entry out of @dir's configurations. 0 (*@changed) or -errno. */
int cniconf_remove(const char *dir, bool *changed);

/*
 * Copies the plugin @src to @bin_dir/ambit-cni (mode 0755) unless the same bytes are there.
 * 0 (*@changed) or -errno.
 */
int cniconf_install_binary(const char *src, const char *bin_dir, bool *changed);
/* Removes @bin_dir/ambit-cni; 0 also when it is not there. */
int cniconf_remove_binary(const char *bin_dir);

/*
 * `ambit-agent --install-cni ARGS` (@argv[0] is "--install-cni", cniinstall.c): installs, keeps the
 * entry in place while the directory is rewritten (inotify), and takes it out at a clean stop (with
 * --owner-daemonset: only when that DaemonSet is gone, an uninstall). Its exit status.
 */
int cniinstall_main(int argc, char **argv);

#endif
