/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's side of L4 policy: compile the AuthorizationPolicies and PeerAuthentications of
 * the merged config against the cluster's pods into the policy set the snapshot carries.
 */
#ifndef AMBIT_AGENT_POLICY_SYNC_H
#define AMBIT_AGENT_POLICY_SYNC_H

#include "ambit/config.h"
#include "ambit/policy.h"
#include "config/runtime.h"

struct policy_sync {
	struct policy_set *set;	      /* owned; NULL until the first compile */
	struct config_diags warnings; /* the last compile's warnings (to log changes only) */
};

/*
 * Recompiles from @cfg and @rt (borrowed) with root namespace @root_ns. On success replaces
 * ps->set and logs the compiler's warnings when they changed; on failure (out of memory) keeps
 * the previous set in force and returns -ENOMEM.
 */
int policy_sync_update(struct policy_sync *ps, const struct config *cfg, const struct runtime *rt,
		       const char *root_ns);
void policy_sync_free(struct policy_sync *ps);

#endif
