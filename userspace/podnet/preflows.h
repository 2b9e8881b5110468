/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The flows a pod captured the host way had open when it was enrolled (preflows, preflows6 of
 * bpf_abi.h): the only segments to a captured pod that the node's tc program lets through
 * without a SYN or a socket of the node's (bpf/lib/preflow.h). preflows.c says how they are kept.
 */
#ifndef AMBIT_AGENT_PREFLOWS_H
#define AMBIT_AGENT_PREFLOWS_H

#include <stdbool.h>

struct datapath;
struct desired;

/*
 * Before @next is written to the maps: records the open connections of each pod @next captures
 * the host way that the kernel's workloads map does not capture yet. Returns which pods of
 * @next->local those were (owned by the caller, for preflows_after), or NULL when none could be
 * marked (no local pod, no memory).
 */
bool *preflows_before(struct datapath *dp, const struct desired *next);
/*
 * After @next is in the maps: records the @fresh pods' connections once more (one that opened
 * before the capture took hold), then deletes the flows of pods @next does not capture the host
 * way and those their pod no longer has open. Takes @fresh (NULL accepted). Failures are logged;
 * the next reconcile tries again.
 */
void preflows_after(struct datapath *dp, const struct desired *next, bool *fresh);

#endif
