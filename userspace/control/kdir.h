/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The workload directory as a node agent reads it (wdir.h), merged with the Pods of its own node
 * that it watches itself. For each pod key ("namespace/name") the one in force is the node's own
 * watch's when it has the pod, else the directory's unless the directory places it on this node
 * (then the node's own watch is the truth: the pod is not here, or not yet). kdir says, through
 * a callback, each key whose directory text in force changed: the text to put, or NULL to
 * withdraw the pod; the node's own pods the caller puts itself.
 */
#ifndef AMBIT_AGENT_KDIR_H
#define AMBIT_AGENT_KDIR_H

#include <stdbool.h>
#include <stddef.h>

struct kdir;

/* Pod @key is now @text (a Pod's JSON), or is withdrawn (@text NULL). */
typedef void (*kdir_emit)(void *arg, const char *key, const char *text);

/* The directory for node @node. NULL when out of memory. */
struct kdir *kdir_new(const char *node);
void kdir_free(struct kdir *d);
/*
 * Shard ConfigMap @cm ("namespace/name") is now @json (its text; NULL: deleted). 0; -EINVAL when
 * @json is not a shard (it keeps its last good pods: logged by the caller); -ENOMEM.
 */
int kdir_shard(struct kdir *d, const char *cm, const char *json, kdir_emit emit, void *arg);
/*
 * The node's own watch has pod @key (@present: the caller puts it) or no longer has it (then
 * the directory's, if any and elsewhere, is emitted, else the withdrawal). 0 or -ENOMEM.
 */
int kdir_local(struct kdir *d, const char *key, bool present, kdir_emit emit, void *arg);
/* Pods in the directory, over every shard (this node's included). */
size_t kdir_pods(const struct kdir *d);

#endif
