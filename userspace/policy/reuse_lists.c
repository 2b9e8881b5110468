// SPDX-License-Identifier: Apache-2.0
/*
 * policy_compile_from's short way: the new set's lists of policies (global, per namespace, per
 * workload) mapped from the previous set's, and its PeerAuthentications taken over or resolved.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compile_priv.h"

static int cmp_uidp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * A list of policies: @old's (previous positions) that carry over, mapped, merged with @extra
 * (new positions, ascending). @old itself when nothing moved (*@lent), else a new array.
 */
static int remap_list(struct reuse *r, const uint32_t *old, size_t n_old, const uint32_t *extra,
		      size_t n_extra, uint32_t **out, size_t *n_out, bool *lent)
{
	size_t n = 0, e = 0;
	uint32_t *t = r->scratch;

	for (size_t i = 0; i <= n_old; i++) {
		size_t j = SIZE_MAX;

		if (i < n_old) {
			j = r->pmap[old[i]];
			if (j == SIZE_MAX || r->sel_own[j])
				continue;
		}
		for (; e < n_extra && extra[e] < j; e++)
			t[n++] = extra[e];
		if (i < n_old)
			t[n++] = (uint32_t)j;
	}
	*lent = n == n_old && (!n || !memcmp(t, old, n * sizeof(*t)));
	if (*lent) {
		*out = (uint32_t *)old;
		*n_out = n_old;
		return 0;
	}
	if (!(*out = calloc(n + 1, sizeof(uint32_t))))
		return -ENOMEM;
	memcpy(*out, t, n * sizeof(*t));
	*n_out = n;
	return 0;
}

struct member {
	uint32_t at; /* workload or namespace */
	uint32_t p;
};

static int cmp_member(const void *a, const void *b)
{
	const struct member *x = a, *y = b;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	return (x->p > y->p) - (x->p < y->p);
}

/*
 * The policies whose memberships are new: the fresh ones (global, namespace or workload) and
 * the ones selecting again. *@wm by workload, *@nm by namespace, *@gm global.
 */
static int new_members(struct reuse *r, struct member **wm, size_t *n_wm, struct member **nm,
		       size_t *n_nm, uint32_t **gm, size_t *n_gm)
{
	const struct policy_set *ps = r->ps;
	size_t cap_w = 0, n_own = 0;

	*n_wm = *n_nm = *n_gm = 0;
	for (size_t j = 0; j < ps->n_policies; j++) {
		if (r->sel_own[j])
			cap_w += ps->policies[j].n_workloads;
		if (r->p_from[j] == SIZE_MAX)
			n_own++;
	}
	*wm = calloc(cap_w + 1, sizeof(**wm));
	*nm = calloc(n_own + 1, sizeof(**nm));
	*gm = calloc(n_own + 1, sizeof(**gm));
	if (!*wm || !*nm || !*gm)
		return -ENOMEM;
	for (size_t j = 0; j < ps->n_policies; j++) {
		const struct policy_authz *p = &ps->policies[j];
		const struct policy_namespace *x;

		if (r->sel_own[j]) {
			for (size_t k = 0; k < p->n_workloads; k++) {
				const struct policy_workload *w =
				    policy_set_workload(ps, p->workloads[k]);

				if (w)
					(*wm)[(*n_wm)++] = (struct member){
					    (uint32_t)(w - ps->workloads), (uint32_t)j};
			}
		}
		if (r->p_from[j] != SIZE_MAX)
			continue;
		if (p->scope == POLICY_SCOPE_GLOBAL)
			(*gm)[(*n_gm)++] = (uint32_t)j;
		if (p->scope == POLICY_SCOPE_NAMESPACE &&
		    (x = policy_set_namespace(r->prev, p->namespace)))
			(*nm)[(*n_nm)++] =
			    (struct member){(uint32_t)(x - r->prev->namespaces), (uint32_t)j};
	}
	qsort(*wm, *n_wm, sizeof(**wm), cmp_member);
	qsort(*nm, *n_nm, sizeof(**nm), cmp_member);
	return 0;
}

int policy_reuse_build_lists(struct reuse *r)
{
	struct policy_set *ps = r->ps, *prev = r->prev;
	struct member *wm = NULL, *nm = NULL;
	uint32_t *gm = NULL, *ex = NULL;
	size_t n_wm, n_nm, n_gm, w = 0, x = 0;
	int err = -ENOMEM;

	ps->namespaces = calloc(prev->n_namespaces + 1, sizeof(*ps->namespaces));
	r->n_pol_lent = calloc(prev->n_namespaces + 1, sizeof(bool));
	ex = calloc(ps->n_policies + 1, sizeof(*ex));
	if (!ps->namespaces || !r->n_pol_lent || !ex ||
	    new_members(r, &wm, &n_wm, &nm, &n_nm, &gm, &n_gm))
		goto out;
	for (size_t i = 0; i < prev->n_namespaces; i++)
		ps->namespaces[i].name = prev->namespaces[i].name;
	ps->n_namespaces = prev->n_namespaces;
	r->names_lent = true;
	if (remap_list(r, prev->global, prev->n_global, gm, n_gm, &ps->global, &ps->n_global,
		       &r->g_lent))
		goto out;
	for (size_t i = 0; i < ps->n_namespaces; i++) {
		size_t n = 0;

		for (; x < n_nm && nm[x].at == i; x++)
			ex[n++] = nm[x].p;
		if (remap_list(r, prev->namespaces[i].policies, prev->namespaces[i].n_policies, ex,
			       n, &ps->namespaces[i].policies, &ps->namespaces[i].n_policies,
			       &r->n_pol_lent[i]))
			goto out;
	}
	for (size_t i = 0; i < ps->n_workloads; i++) {
		const struct policy_workload *old =
		    r->w_from[i] == SIZE_MAX ? NULL : &prev->workloads[r->w_from[i]];
		size_t n = 0;

		for (; w < n_wm && wm[w].at == i; w++)
			ex[n++] = wm[w].p;
		if (remap_list(r, old ? old->policies : NULL, old ? old->n_policies : 0, ex, n,
			       &ps->workloads[i].policies, &ps->workloads[i].n_policies,
			       &r->w_pol_lent[i]))
			goto out;
		/* An added workload's (empty) list is never lent: it has none before. */
		if (!old && r->w_pol_lent[i]) {
			r->w_pol_lent[i] = false;
			if (!(ps->workloads[i].policies = calloc(1, sizeof(uint32_t))))
				goto out;
		}
	}
	err = 0;
out:
	free(wm);
	free(nm);
	free(gm);
	free(ex);
	return err;
}

int policy_reuse_peer_auths(struct reuse *r)
{
	struct policy_comp *c = r->c;
	const struct config *cfg = c->cfg;
	struct policy_set *ps = r->ps, *prev = r->prev;
	bool same = r->memo->pa_quiet;
	size_t warned = c->diags ? c->diags->n : 0;

	for (size_t j = 0; same && j < prev->n_peer_auths; j++) {
		const struct policy_peer_auth *pa = &prev->peer_auths[j];
		const struct config_peer_authentication *in = &cfg->peer_authentications[j];

		if (pa->scope != POLICY_SCOPE_WORKLOAD)
			continue;
		for (size_t i = 0; same && i < r->n_removed; i++) {
			const char *uid = prev->workloads[r->removed[i]].uid;

			same = !bsearch(&uid, pa->workloads, pa->n_workloads, sizeof(char *),
					cmp_uidp);
		}
		for (size_t i = 0; same && i < r->n_added; i++)
			same = !policy_selects(&in->selector, in->meta.namespace, false,
					       &c->wls[r->added[i]]);
	}
	if (!same) {
		int err = policy_compile_peer_auths(c);

		c->pa_quiet = c->diags && c->diags->n == warned;
		return err;
	}
	c->pa_quiet = true;
	ps->peer_auths = prev->peer_auths;
	ps->n_peer_auths = prev->n_peer_auths;
	ps->mesh = prev->mesh;
	r->pa_lent = true;
	for (size_t i = 0; i < ps->n_namespaces; i++)
		ps->namespaces[i].mtls = prev->namespaces[i].mtls;
	r->n_mtls_lent = true;
	for (size_t i = 0; i < ps->n_workloads; i++) {
		struct policy_workload *w = &ps->workloads[i];
		const struct policy_namespace *x;

		if (r->w_from[i] != SIZE_MAX) {
			w->mtls = prev->workloads[r->w_from[i]].mtls;
			r->w_mtls_lent[i] = true;
			continue;
		}
		/* No workload PeerAuthentication selects it (else it would not be the same). */
		x = policy_set_namespace(ps, w->namespace);
		if (policy_mtls_copy(&w->mtls, x ? &x->mtls : &ps->mesh))
			return -ENOMEM;
	}
	return 0;
}
