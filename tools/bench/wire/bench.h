/* SPDX-License-Identifier: Apache-2.0 */
/* Wire-format benchmark: shared declarations. */
#ifndef WIREBENCH_H
#define WIREBENCH_H

#include "ambit/snapshot.h"
#include "snapshot.pb-c.h"

/* gen.c: a node-level snapshot of a 10,000-pod cluster (deterministic). */
struct snapshot *gen_snapshot(void);

/* pbconv.c */
struct pb_arena;
/* struct snapshot -> protobuf message; strings point into @s; everything else in @*arena. */
Ambitsnap__Snapshot *snap_to_pb(const struct snapshot *s, struct pb_arena **arena);
void pb_arena_free(struct pb_arena *a);
/* Unpacked message -> a new struct snapshot owning strdup'd strings (snapshot_free frees it). */
struct snapshot *snap_from_pb(const Ambitsnap__Snapshot *m, char *err, size_t errlen);

#endif
