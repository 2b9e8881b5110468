// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/log.h"
#include "policy_sync.h"

/* All the compiler's warnings as one text, so a reconcile that changes nothing logs nothing. */
static char *warnings_text(const struct config_diags *d)
{
	char *out = NULL, line[1024];
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	for (size_t i = 0; i < d->n; i++) {
		config_diag_format(&d->items[i], line, sizeof(line));
		fprintf(f, "%s\n", line);
	}
	if (fclose(f)) {
		free(out);
		return NULL;
	}
	return out;
}

int policy_sync_update(struct policy_sync *ps, const struct config *cfg, const struct runtime *rt,
		       const char *root_ns)
{
	struct policy_workload_input *wls = calloc(rt->n_pods + 1, sizeof(*wls));
	struct config_diags diags = {0};
	struct policy_set *set;
	char *text;

	if (!wls)
		return -ENOMEM;
	/* Every pod of the cluster, not only this node's: `ambitctl policies` lists them all. */
	for (size_t i = 0; i < rt->n_pods; i++) {
		wls[i].uid = rt->pods[i].uid;
		wls[i].namespace = rt->pods[i].namespace;
		wls[i].labels = &rt->pods[i].labels;
	}
	/* An object unchanged since the last compile keeps its rules (the old set goes next). */
	set = policy_compile_from(cfg, wls, rt->n_pods, root_ns, &diags, ps->set);
	free(wls);
	if (!set) {
		config_diags_free(&diags);
		pr_err("policy: cannot compile: out of memory; the previous policy stays in force");
		return -ENOMEM;
	}
	text = warnings_text(&diags);
	if (text && (!ps->warnings || strcmp(text, ps->warnings))) {
		for (size_t i = 0; i < diags.n; i++) {
			char line[1024];

			config_diag_format(&diags.items[i], line, sizeof(line));
			pr_warn("policy: %s", line);
		}
		free(ps->warnings);
		ps->warnings = text;
	} else {
		free(text);
	}
	config_diags_free(&diags);
	if (!ps->set || ps->set->n_policies != set->n_policies ||
	    ps->set->n_peer_auths != set->n_peer_auths)
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
	free(ps->warnings);
	ps->set = NULL;
	ps->warnings = NULL;
}
