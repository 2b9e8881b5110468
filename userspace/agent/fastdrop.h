/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel fast drops from the compiled policy set (DESIGN.md §2): the agent mirrors, for each
 * enrolled pod of its node, the effective STRICT PeerAuthentication ports into `strict_ports`
 * and the source blocks of pure ipBlocks DENY policies into `deny_src` (bpf_abi.h); a
 * dual-stack pod's also under its IPv6 into `strict_ports6`, and IPv6 blocks into `deny_src6`.
 */
#ifndef AMBIT_AGENT_FASTDROP_H
#define AMBIT_AGENT_FASTDROP_H

#include <stddef.h>

#include "ambit/datapath.h"
#include "ambit/policy.h"
#include "ambit/snapshot.h"

/*
 * Brings the maps of @dp (both families) in line with @s->policies for the enrolled workloads of
 * @s->node (NULL policies: both maps emptied). Entries already right are left alone, so their drop
 * counts survive. Borrows everything. Returns the number of map operations that failed
 * (logged), 0 when the maps are exact.
 */
unsigned int fastdrop_sync(struct datapath *dp, const struct snapshot *s);

#endif
