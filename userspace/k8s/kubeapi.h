/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ambitctl's Kubernetes client (kubeapi.c): the Kubernetes API with the user's kubeconfig, for
 * `install`, `waypoint ... --kubeconfig` and the --kube cluster's mirror.
 */
#ifndef AMBIT_K8S_KUBEAPI_H
#define AMBIT_K8S_KUBEAPI_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

struct kconn;
/* @kubeconfig, else $KUBECONFIG (its first file), else ~/.kube/config. 0 or -EINVAL (said). */
int kube_connect(struct kconn *k, const char *kubeconfig);
/*
 * @obj's collection path (at its apiVersion's group and version) and name; -EINVAL for a kind
 * ambitctl does not write.
 */
int kube_paths(const cJSON *obj, char *coll, size_t clen, const char **name);
/*
 * The @i-th kind ambitctl writes (0, 1, ...): its kind, API group ("" for the core one) and
 * scope, borrowed (static). 0, or -ENOENT past the last.
 */
int kube_kind_at(size_t i, const char **kind, const char **group, bool *namespaced);
/* Where kind @i is listed across all namespaces, at the version ambitctl reads it. 0 or -errno. */
int kube_kind_list_path(size_t i, char *buf, size_t len);
/* One request; the HTTP status, or 0 (the reason said). *@resp malloc'd when given. */
long kube_call(const struct kconn *k, const char *method, const char *path, const cJSON *body,
	       char **resp);
/* Creates @obj, or replaces it with the server's resourceVersion; says which unless @quiet. */
int kube_apply(const struct kconn *k, cJSON *obj, bool quiet);

#endif
