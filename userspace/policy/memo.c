// SPDX-License-Identifier: Apache-2.0
/*
 * policy_compile_from's short way. A watch event changes a pod or a policy of ten thousand:
 * compiling everything again sorts, selects and allocates for all of them. The memo of the
 * last set says which input each workload and policy came from (by serial: the same serial,
 * the same object), so the next compile sees what changed in a pass over the serials and takes
 * the rest of the set over as it is: the policies of unchanged objects whole, the workloads
 * and namespaces with their lists when those come out the same.
 *
 * Stale selections are the danger: a policy keeps its selection only when no workload it may
 * select came or went. A workload removed (or changed, which is removed then added) leaves the
 * policies that selected it (its list in the previous set names them); one added may enter
 * any policy whose selector matches it, so each is matched against every selector policy.
 * Those policies select again from their previous selection and the workloads added.
 *
 * What the short way does not cover falls back to the full compile: a workload without a
 * serial, a uid or policy key defined twice, another root namespace, a Namespace or a
 * PeerAuthentication changed, a namespace appearing or going, more than a few changes.
 *
 * This file: the memo, the serial maps that read it, and the short way's frame (whether it is
 * taken, and what the previous set lends, gives or takes back). What changed is found in
 * reuse_diff.c, the new set merged from the previous one in reuse_merge.c, its
 * lists and PeerAuthentications in reuse_lists.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compile_priv.h"

/* ---- serials ---- */

void policy_serials(const void *objs, size_t n, size_t stride, uint64_t *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = ((const struct config_meta *)((const char *)objs + i * stride))->serial;
}

/* True when the @n objects are the loads @memo recorded (an object without a serial never is). */
static bool same_serials(const uint64_t *memo, size_t n_memo, const void *objs, size_t n,
			 size_t stride)
{
	if (n != n_memo)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint64_t s =
		    ((const struct config_meta *)((const char *)objs + i * stride))->serial;

		if (!s || s != memo[i])
			return false;
	}
	return true;
}

/* ---- the memo ---- */

void policy_memo_free(struct policy_memo *m)
{
	if (!m)
		return;
	free(m->wl_serial);
	free(m->ap_serial);
	free(m->ap_quiet);
	free(m->ns_refs);
	free(m->ap_ns);
	free(m->pa_serial);
	free(m->ns_serial);
	free(m);
}

int policy_memo_take(struct policy_comp *c)
{
	const struct config *cfg = c->cfg;
	struct policy_set *ps = c->ps;
	struct policy_memo *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->exact = c->exact;
	m->pa_quiet = c->pa_quiet;
	m->n_pa = cfg->n_peer_authentications;
	m->n_ns = cfg->n_namespaces;
	m->wl_serial = calloc(ps->n_workloads + 1, sizeof(uint64_t));
	m->ap_serial = calloc(ps->n_policies + 1, sizeof(uint64_t));
	m->pa_serial = calloc(m->n_pa + 1, sizeof(uint64_t));
	m->ns_serial = calloc(m->n_ns + 1, sizeof(uint64_t));
	if (!m->wl_serial || !m->ap_serial || !m->pa_serial || !m->ns_serial || !c->ap_quiet ||
	    !c->ns_refs || !c->ap_ns) {
		policy_memo_free(m);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ps->n_workloads; i++)
		m->wl_serial[i] = c->serials ? c->serials[c->wl_src[i]] : 0;
	for (size_t i = 0; i < ps->n_policies; i++)
		m->ap_serial[i] = cfg->authorization_policies[c->ap_src[i]].meta.serial;
	policy_serials(cfg->peer_authentications, m->n_pa, sizeof(*cfg->peer_authentications),
		       m->pa_serial);
	policy_serials(cfg->namespaces, m->n_ns, sizeof(*cfg->namespaces), m->ns_serial);
	m->ap_quiet = c->ap_quiet;
	m->ns_refs = c->ns_refs;
	m->ap_ns = c->ap_ns;
	c->ap_quiet = NULL;
	c->ns_refs = NULL;
	c->ap_ns = NULL;
	if (ps->memo)
		ps->memo_free(ps->memo);
	ps->memo = m;
	ps->memo_free = policy_memo_free;
	return 0;
}

/* ---- the short way ---- */

static void reuse_free(struct reuse *r)
{
	serial_map_free(&r->wl_map);
	serial_map_free(&r->ap_map);
	for (size_t i = 0; r->fresh_key && i < r->n_fresh; i++)
		free(r->fresh_key[i]);
	free(r->fresh_key);
	free(r->added);
	free(r->added_at);
	free(r->removed);
	free(r->prev_in);
	free(r->w_from);
	free(r->w_in);
	free(r->fresh);
	free(r->fresh_at);
	free(r->fresh_order);
	free(r->prev_ap);
	free(r->p_from);
	free(r->p_cfg);
	free(r->at_of);
	free(r->pmap);
	free(r->dirty);
	free(r->sel_own);
	free(r->quiet);
	free(r->ns_refs);
	free(r->added_ns);
	free(r->fresh_ns);
	free(r->ap_ns);
	free(r->body_lent);
	free(r->prev_body);
	free(r->prev_sel);
	free(r->w_new);
	free(r->sel_lent);
	free(r->w_pol_lent);
	free(r->w_mtls_lent);
	free(r->n_pol_lent);
	free(r->scratch);
}

/* The set failed: it lets go of what @prev lent it, so that it can be freed. */
static void take_back(struct reuse *r)
{
	struct policy_set *ps = r->ps;

	for (size_t j = 0; r->p_from && j < ps->n_policies; j++) {
		struct policy_authz *p = &ps->policies[j];

		if (r->body_lent[j]) {
			p->namespace = p->name = p->key = p->note = NULL;
			p->rules = NULL;
			p->n_rules = 0;
		}
		if (r->sel_lent[j]) {
			p->workloads = NULL;
			p->n_workloads = 0;
		}
	}
	for (size_t i = 0; r->w_from && i < ps->n_workloads; i++) {
		struct policy_workload *w = &ps->workloads[i];

		if (r->w_from[i] == SIZE_MAX)
			continue;
		w->uid = w->namespace = NULL;
		if (r->w_pol_lent[i]) {
			w->policies = NULL;
			w->n_policies = 0;
		}
		if (r->w_mtls_lent[i])
			memset(&w->mtls, 0, sizeof(w->mtls));
	}
	for (size_t i = 0; r->names_lent && i < ps->n_namespaces; i++) {
		struct policy_namespace *n = &ps->namespaces[i];

		n->name = NULL;
		if (r->n_pol_lent[i]) {
			n->policies = NULL;
			n->n_policies = 0;
		}
		if (r->n_mtls_lent)
			memset(&n->mtls, 0, sizeof(n->mtls));
	}
	if (r->g_lent) {
		ps->global = NULL;
		ps->n_global = 0;
	}
	if (r->pa_lent) {
		ps->peer_auths = NULL;
		ps->n_peer_auths = 0;
		memset(&ps->mesh, 0, sizeof(ps->mesh));
	}
}

/*
 * The set is complete: what @prev lent is the set's, the rest of @prev's elements are freed,
 * and @prev keeps only its arrays (policy_set_free has nothing left to walk).
 */
static void commit(struct reuse *r)
{
	struct policy_set *ps = r->ps, *prev = r->prev;

	for (size_t j = 0; j < ps->n_policies; j++) {
		if (r->p_from[j] == SIZE_MAX)
			continue;
		r->prev_body[r->p_from[j]] = r->body_lent[j];
		r->prev_sel[r->p_from[j]] = r->sel_lent[j];
	}
	for (size_t k = 0; k < prev->n_policies; k++) {
		struct policy_authz *p = &prev->policies[k];

		if (r->prev_sel[k]) {
			p->workloads = NULL;
			p->n_workloads = 0;
		}
		if (r->prev_body[k])
			policy_uids_free(p->workloads, p->n_workloads);
		else
			policy_authz_free(p);
	}
	prev->n_policies = 0;
	for (size_t k = 0; k < prev->n_workloads; k++) {
		struct policy_workload *w = &prev->workloads[k];
		size_t j = r->w_new[k];

		if (j == SIZE_MAX) {
			free(w->uid);
			free(w->namespace);
		}
		if (j == SIZE_MAX || !r->w_pol_lent[j])
			free(w->policies);
		if (j == SIZE_MAX || !r->w_mtls_lent[j])
			policy_mtls_free(&w->mtls);
	}
	prev->n_workloads = 0;
	for (size_t i = 0; i < prev->n_namespaces; i++) {
		if (!r->n_pol_lent[i])
			free(prev->namespaces[i].policies);
		if (!r->n_mtls_lent)
			policy_mtls_free(&prev->namespaces[i].mtls);
	}
	prev->n_namespaces = 0;
	if (r->g_lent)
		prev->global = NULL;
	if (r->pa_lent) {
		prev->peer_auths = NULL;
		prev->n_peer_auths = 0;
		memset(&prev->mesh, 0, sizeof(prev->mesh));
	}
}

int policy_reuse(struct policy_comp *c, struct policy_set *prev)
{
	const struct config *cfg = c->cfg;
	struct reuse r = {.c = c, .prev = prev, .ps = c->ps, .memo = prev->memo};
	int err = -ENOMEM;

	if (!r.memo || !r.memo->exact || strcmp(prev->root_namespace, c->root) ||
	    !same_serials(r.memo->pa_serial, r.memo->n_pa, cfg->peer_authentications,
			  cfg->n_peer_authentications, sizeof(*cfg->peer_authentications)) ||
	    !same_serials(r.memo->ns_serial, r.memo->n_ns, cfg->namespaces, cfg->n_namespaces,
			  sizeof(*cfg->namespaces)) ||
	    !policy_reuse_classify_workloads(&r) || !policy_reuse_classify_policies(&r) ||
	    !policy_reuse_same_namespaces(&r)) {
		reuse_free(&r);
		return 0;
	}
	/* From here on the short way is taken: a failure is out of memory. */
	if (policy_reuse_merge_workloads(&r) || policy_reuse_order_policies(&r) ||
	    policy_reuse_fill_policies(&r) || policy_reuse_build_lists(&r) ||
	    policy_reuse_peer_auths(&r))
		goto fail;
	c->exact = true;
	c->wl_src = r.w_in;
	c->ap_src = r.p_cfg;
	c->ap_quiet = r.quiet;
	c->ns_refs = r.ns_refs;
	c->ap_ns = r.ap_ns;
	r.w_in = r.p_cfg = r.ns_refs = r.ap_ns = NULL;
	r.quiet = NULL;
	/* Without memory for the memo, the next compile is a full one. */
	(void)policy_memo_take(c);
	commit(&r);
	reuse_free(&r);
	return 1;
fail:
	take_back(&r);
	reuse_free(&r);
	return err;
}
