// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/log.h"
#include "policy_sync.h"

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/*
 * Whether two compiles warned alike, field by field (what config_diag_format prints), so that a
 * reconcile that changes nothing logs nothing without printing every warning to find it out.
 */
static bool same_diags(const struct config_diags *a, const struct config_diags *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct config_diag *x = &a->items[i], *y = &b->items[i];

		if (x->line != y->line || x->column != y->column || x->error != y->error ||
		    !same_str(x->file, y->file) || !same_str(x->object, y->object) ||
		    !same_str(x->field, y->field) || !same_str(x->message, y->message))
			return false;
	}
	return true;
}

int policy_sync_update(struct policy_sync *ps, const struct config *cfg, const struct runtime *rt,
		       const char *root_ns)
{
	struct policy_workload_input *wls = calloc(rt->n_pods + 1, sizeof(*wls));
	uint64_t *serials = calloc(rt->n_pods + 1, sizeof(*serials));
	struct config_diags diags = {0};
	struct policy_set *set;
	/* The counts to compare with: policy_compile_from leaves the previous set hollow. */
	bool had = ps->set != NULL;
	size_t n_policies = had ? ps->set->n_policies : 0;
	size_t n_peer_auths = had ? ps->set->n_peer_auths : 0;

	if (!wls || !serials) {
		free(wls);
		free(serials);
		return -ENOMEM;
	}
	/* Every pod of the cluster, not only this node's: `ambitctl policies` lists them all. */
	for (size_t i = 0; i < rt->n_pods; i++) {
		wls[i].uid = rt->pods[i].uid;
		wls[i].namespace = rt->pods[i].namespace;
		wls[i].labels = &rt->pods[i].labels;
		serials[i] = rt->pods[i].serial;
	}
	/* What did not change since the last compile is taken over (the old set goes next). */
	set = policy_compile_from(cfg, wls, rt->n_pods, serials, root_ns, &diags, ps->set);
	free(wls);
	free(serials);
	if (!set) {
		config_diags_free(&diags);
		pr_err("policy: cannot compile: out of memory; the previous policy stays in force");
		return -ENOMEM;
	}
	if (!same_diags(&diags, &ps->warnings)) {
		for (size_t i = 0; i < diags.n; i++) {
			char line[1024];

			config_diag_format(&diags.items[i], line, sizeof(line));
			pr_warn("policy: %s", line);
		}
		config_diags_free(&ps->warnings);
		ps->warnings = diags;
	} else {
		config_diags_free(&diags);
	}
	/* A previous set taken over is left hollow: say which way the compile went. */
	if (had)
		pr_debug("policy: compiled %s",
			 !ps->set->n_workloads && !ps->set->n_policies && set->n_workloads
			     ? "from the previous set"
			     : "in full");
	if (!had || n_policies != set->n_policies || n_peer_auths != set->n_peer_auths)
		pr_info("policy: %zu AuthorizationPolicy(ies), %zu PeerAuthentication(s), %zu "
			"workload(s), root namespace %s",
			set->n_policies, set->n_peer_auths, set->n_workloads, set->root_namespace);
	policy_set_free(ps->set);
	ps->set = set;
	return 0;
}

void policy_sync_free(struct policy_sync *ps)
{
	if (!ps)
		return;
	policy_set_free(ps->set);
	config_diags_free(&ps->warnings);
	ps->set = NULL;
}
