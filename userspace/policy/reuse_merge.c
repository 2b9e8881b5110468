// SPDX-License-Identifier: Apache-2.0
/*
 * policy_compile_from's short way: the new set's workloads and policies, merged in their sorted
 * orders from the previous set's and what changed; a policy whose selection may differ selects
 * again.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compile_priv.h"

int policy_reuse_merge_workloads(struct reuse *r)
{
	const struct policy_comp *c = r->c;
	const struct policy_set *prev = r->prev;
	struct policy_set *ps = r->ps;
	size_t n = c->n_wls, a = 0, j = 0;

	ps->workloads = calloc(n + 1, sizeof(*ps->workloads));
	r->w_from = calloc(n + 1, sizeof(size_t));
	r->w_in = calloc(n + 1, sizeof(size_t));
	r->w_pol_lent = calloc(n + 1, sizeof(bool));
	r->w_mtls_lent = calloc(n + 1, sizeof(bool));
	r->w_new = malloc((prev->n_workloads + 1) * sizeof(size_t));
	if (!ps->workloads || !r->w_from || !r->w_in || !r->w_pol_lent || !r->w_mtls_lent ||
	    !r->w_new)
		return -ENOMEM;
	for (size_t k = 0; k <= prev->n_workloads; k++) {
		for (; a < r->n_added && r->added_at[a] == k; a++, j++) {
			const struct policy_workload_input *w = &c->wls[r->added[a]];

			r->w_from[j] = SIZE_MAX;
			r->w_in[j] = r->added[a];
			ps->n_workloads = j + 1;
			ps->workloads[j].uid = strdup(w->uid);
			ps->workloads[j].namespace = strdup(w->namespace);
			if (!ps->workloads[j].uid || !ps->workloads[j].namespace)
				return -ENOMEM;
		}
		if (k == prev->n_workloads)
			break;
		r->w_new[k] = SIZE_MAX;
		if (r->prev_in[k] == SIZE_MAX)
			continue;
		r->w_new[k] = j;
		r->w_from[j] = k;
		r->w_in[j] = r->prev_in[k];
		ps->workloads[j].uid = prev->workloads[k].uid;
		ps->workloads[j].namespace = prev->workloads[k].namespace;
		ps->n_workloads = ++j;
	}
	return 0;
}

/* The previous selector policies a workload removed or added may leave or enter. */
static void mark_dirty(struct reuse *r)
{
	const struct policy_comp *c = r->c;
	const struct config *cfg = c->cfg;
	const struct policy_set *prev = r->prev;

	for (size_t i = 0; i < r->n_removed; i++) {
		const struct policy_workload *w = &prev->workloads[r->removed[i]];

		for (size_t k = 0; k < w->n_policies; k++)
			r->dirty[w->policies[k]] = true;
	}
	/* Namespaces by position: a root one selects in every namespace. */
	for (size_t k = 0; r->n_added && k < prev->n_policies; k++) {
		const struct config_authorization_policy *ap;
		size_t ns = r->memo->ap_ns[k];

		if (prev->policies[k].scope != POLICY_SCOPE_WORKLOAD || r->prev_ap[k] == SIZE_MAX ||
		    r->dirty[k])
			continue;
		ap = &cfg->authorization_policies[r->prev_ap[k]];
		for (size_t i = 0; i < r->n_added && !r->dirty[k]; i++)
			r->dirty[k] =
			    (ns == r->root_ns || ns == r->added_ns[i]) &&
			    policy_selects(&ap->selector, NULL, true, &c->wls[r->added[i]]);
	}
}

int policy_reuse_order_policies(struct reuse *r)
{
	const struct policy_set *prev = r->prev;
	size_t n = prev->n_policies - r->n_dropped + r->n_fresh, f = 0, j = 0;
	size_t n_ap = r->c->cfg->n_authorization_policies;

	r->p_from = calloc(n + 1, sizeof(size_t));
	r->p_cfg = calloc(n + 1, sizeof(size_t));
	r->at_of = calloc(n_ap + 1, sizeof(size_t));
	r->pmap = calloc(prev->n_policies + 1, sizeof(size_t));
	r->dirty = calloc(prev->n_policies + 1, sizeof(bool));
	r->sel_own = calloc(n + 1, sizeof(bool));
	r->quiet = calloc(n + 1, sizeof(bool));
	r->body_lent = calloc(n + 1, sizeof(bool));
	r->sel_lent = calloc(n + 1, sizeof(bool));
	r->prev_body = calloc(prev->n_policies + 1, sizeof(bool));
	r->prev_sel = calloc(prev->n_policies + 1, sizeof(bool));
	r->scratch = calloc(n + 1, sizeof(uint32_t));
	r->ap_ns = calloc(n + 1, sizeof(size_t));
	r->ps->policies = calloc(n + 1, sizeof(*r->ps->policies));
	if (!r->p_from || !r->p_cfg || !r->at_of || !r->pmap || !r->dirty || !r->sel_own ||
	    !r->quiet || !r->body_lent || !r->sel_lent || !r->prev_body || !r->prev_sel ||
	    !r->scratch || !r->ap_ns || !r->ps->policies)
		return -ENOMEM;
	for (size_t k = 0; k <= prev->n_policies; k++) {
		for (; f < r->n_fresh && r->fresh_at[f] == k; f++, j++) {
			r->p_from[j] = SIZE_MAX;
			r->p_cfg[j] = r->fresh[r->fresh_order[f]];
			r->ap_ns[j] = r->fresh_ns[r->fresh_order[f]];
			r->at_of[r->p_cfg[j]] = j;
		}
		if (k == prev->n_policies)
			break;
		r->pmap[k] = SIZE_MAX;
		if (r->prev_ap[k] == SIZE_MAX)
			continue;
		r->pmap[k] = j;
		r->p_from[j] = k;
		r->p_cfg[j] = r->prev_ap[k];
		r->ap_ns[j] = r->memo->ap_ns[k];
		r->at_of[r->p_cfg[j]] = j;
		j++;
	}
	return 0;
}

/*
 * Policy @j (previous @k) selects again: its previous selection without the workloads removed,
 * merged with the added ones it selects (both in uid order; a kept uid is never an added one).
 */
static int reselect(struct reuse *r, size_t j, size_t k)
{
	const struct policy_comp *c = r->c;
	const struct config_authorization_policy *ap = &c->cfg->authorization_policies[r->p_cfg[j]];
	const struct policy_authz *old = &r->prev->policies[k];
	struct policy_authz *p = &r->ps->policies[j];
	bool any = !strcmp(ap->meta.namespace, c->root);
	size_t n = 0, a = 0, rm = 0;
	char **out = calloc(old->n_workloads + r->n_added + 1, sizeof(char *));

	if (!out)
		return -ENOMEM;
	p->workloads = out;
	for (size_t i = 0; i <= old->n_workloads; i++) {
		const char *uid = i < old->n_workloads ? old->workloads[i] : NULL;
		int d = 1;

		for (; a < r->n_added; a++) {
			const struct policy_workload_input *in = &c->wls[r->added[a]];

			if (uid && strcmp(in->uid, uid) > 0)
				break;
			if (!policy_selects(&ap->selector, ap->meta.namespace, any, in))
				continue;
			if (!(out[n] = strdup(in->uid)))
				return -ENOMEM;
			p->n_workloads = ++n;
		}
		if (!uid)
			break;
		/* The removed ones are in uid order too. */
		for (; rm < r->n_removed; rm++) {
			d = strcmp(r->prev->workloads[r->removed[rm]].uid, uid);
			if (d >= 0)
				break;
		}
		if (rm < r->n_removed && !d)
			continue;
		if (!(out[n] = strdup(uid)))
			return -ENOMEM;
		p->n_workloads = ++n;
	}
	return 0;
}

int policy_reuse_fill_policies(struct reuse *r)
{
	struct policy_comp *c = r->c;
	const struct config *cfg = c->cfg;
	struct policy_set *ps = r->ps, *prev = r->prev;
	size_t n = prev->n_policies - r->n_dropped + r->n_fresh;

	mark_dirty(r);
	ps->n_policies = n;
	for (size_t i = 0; i < cfg->n_authorization_policies; i++) {
		size_t j = r->at_of[i], k = r->p_from[j];
		struct policy_authz *p = &ps->policies[j];
		size_t warned = c->diags ? c->diags->n : 0;

		if (k != SIZE_MAX && r->memo->ap_quiet[k]) {
			*p = prev->policies[k];
			r->body_lent[j] = true;
			r->quiet[j] = true;
		} else {
			if (policy_compile_authz(c, &cfg->authorization_policies[i], p,
						 k == SIZE_MAX))
				return -ENOMEM;
			r->quiet[j] = c->diags && c->diags->n == warned;
			if (k == SIZE_MAX) {
				r->sel_own[j] = p->scope == POLICY_SCOPE_WORKLOAD;
				continue;
			}
		}
		/*
		 * Selecting by its Services' selectors, compiled afresh (never quiet): its
		 * previous memberships go, whatever its scope now (a waypoint may serve them).
		 */
		if (cfg->authorization_policies[i].n_target_refs) {
			r->sel_own[j] = true;
			continue;
		}
		if (p->scope != POLICY_SCOPE_WORKLOAD)
			continue;
		if (!r->dirty[k]) {
			p->workloads = prev->policies[k].workloads;
			p->n_workloads = prev->policies[k].n_workloads;
			r->sel_lent[j] = true;
			continue;
		}
		p->workloads = NULL;
		p->n_workloads = 0;
		r->sel_own[j] = true;
		if (reselect(r, j, k))
			return -ENOMEM;
	}
	return 0;
}
