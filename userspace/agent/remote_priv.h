/* SPDX-License-Identifier: Apache-2.0 */
/* remote.c's reader of a remote cluster's API server (remote_api.c). */
#ifndef AMBIT_AGENT_REMOTE_PRIV_H
#define AMBIT_AGENT_REMOTE_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include "confstore.h"

struct remote_api;

/*
 * Starts reading the cluster kubeconfig @kubeconfig (@len bytes, a remote secret's: it may name
 * no file here) names, as @name, on a thread of its own. NULL with @why.
 */
struct remote_api *remote_api_start(const char *name, const char *kubeconfig, size_t len, char *why,
				    size_t wlen);
/* Whether new lists, or a failed round not told yet, wait for remote_api_take. */
bool remote_api_pending(struct remote_api *ra);
/*
 * The newest lists not taken yet (malloc'd; NULL: none new), and into @err the last round's
 * failure ("" when it succeeded).
 */
char *remote_api_take(struct remote_api *ra, char *err, size_t errlen);
/* Lets the reader go: its thread ends and frees it. Accepts NULL. */
void remote_api_stop(struct remote_api *ra);
/*
 * Lists @text (remote_api_take's) into @cs (an entry per object, validated as every object) and
 * *@pods_json, the pods, Service and balancer addresses in pods.json's shape (malloc'd). 0, or
 * -EINVAL with @err.
 */
int remote_api_convert(const char *text, struct confstore *cs, char **pods_json, char *err,
		       size_t errlen);

#endif
