/* SPDX-License-Identifier: Apache-2.0 */
/* The snapshot's multicluster members (snapshot_mc.c), for snapshot.c. */
#ifndef AMBIT_WIRE_SNAPSHOT_MC_H
#define AMBIT_WIRE_SNAPSHOT_MC_H

struct cJSON;
struct snapshot;
struct wire_dec;

/* Adds "networkGateways" and "remoteServices" (when there are any) to @root. 0 or -ENOMEM. */
int snapshot_mc_encode(struct cJSON *root, const struct snapshot *s);
/*
 * Decodes them from @root into @s (after its services) and links each Service to its remote
 * shares. 0, or -EINVAL with @d failed.
 */
int snapshot_mc_decode(struct wire_dec *d, const struct cJSON *root, struct snapshot *s);
/* Frees what snapshot_mc_decode made (not @s). */
void snapshot_mc_free(struct snapshot *s);

#endif
