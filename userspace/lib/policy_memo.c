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
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_priv.h"

/* Past this many workloads (or policies) added plus removed, a full compile is as cheap. */
#define REUSE_MAX_CHANGES 64

/* ---- serials ---- */

static size_t serial_slot(const struct policy_serial_map *m, uint64_t serial)
{
	size_t i = (size_t)(serial * 0x9e3779b97f4a7c15ull >> 17) & (m->cap - 1);

	while (m->serial[i] && m->serial[i] != serial)
		i = (i + 1) & (m->cap - 1);
	return i;
}

int policy_serial_map_build(struct policy_serial_map *m, const uint64_t *serials, size_t n)
{
	memset(m, 0, sizeof(*m));
	for (m->cap = 64; m->cap < 2 * n; m->cap *= 2)
		;
	m->serial = calloc(m->cap, sizeof(*m->serial));
	m->at = calloc(m->cap, sizeof(*m->at));
	if (!m->serial || !m->at) {
		policy_serial_map_free(m);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		size_t s;

		if (!serials[i])
			continue;
		s = serial_slot(m, serials[i]);
		if (m->serial[s])
			continue;
		m->serial[s] = serials[i];
		m->at[s] = i;
	}
	return 0;
}

size_t policy_serial_map_get(const struct policy_serial_map *m, uint64_t serial)
{
	size_t s;

	if (!m->cap || !serial)
		return SIZE_MAX;
	s = serial_slot(m, serial);
	return m->serial[s] ? m->at[s] : SIZE_MAX;
}

void policy_serial_map_free(struct policy_serial_map *m)
{
	free(m->serial);
	free(m->at);
	memset(m, 0, sizeof(*m));
}

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
	policy_memo_free(ps->memo);
	ps->memo = m;
	return 0;
}

/* ---- the short way ---- */

struct reuse {
	struct policy_comp *c;
	struct policy_set *prev, *ps;
	const struct policy_memo *memo;
	struct policy_serial_map wl_map, ap_map;
	/* Workloads: the inputs added, by uid; the previous ones removed, in the set's order. */
	size_t *added, n_added, *added_at; /* added_at: where each goes among the previous */
	size_t *removed, n_removed;
	size_t *prev_in; /* per previous workload: the input that is it now, or SIZE_MAX */
	size_t *w_from;	 /* per workload: the previous one it is, or SIZE_MAX (added) */
	size_t *w_in;	 /* per workload: its input */
	/* Policies: the objects new (or of a new load), in the config's order, and by key. */
	size_t *fresh, n_fresh, *fresh_at, n_dropped;
	char **fresh_key;
	size_t *fresh_order;
	size_t *prev_ap; /* per previous policy: the object that is it now, or SIZE_MAX */
	size_t *p_from;	 /* per policy: the previous one it is, or SIZE_MAX (fresh) */
	size_t *p_cfg;	 /* per policy: its object */
	size_t *at_of;	 /* per object: its policy */
	size_t *pmap;	 /* per previous policy: the policy it is, or SIZE_MAX */
	bool *dirty;	 /* per previous policy: selects again */
	bool *sel_own;	 /* per policy: its selection is new (its lists are made, not mapped) */
	bool *quiet;	 /* per policy: compiled without a warning */
	size_t *ns_refs;
	size_t *added_ns; /* per workload added: its namespace */
	size_t *fresh_ns; /* per fresh object: its namespace */
	size_t *ap_ns;	  /* per policy: its namespace */
	size_t root_ns;	  /* the root namespace's position, or SIZE_MAX */
	/* What the set borrows from @prev until it is complete. */
	bool *body_lent, *sel_lent;	  /* per policy */
	bool *prev_body, *prev_sel;	  /* per previous policy: the same, from its side */
	size_t *w_new;			  /* per previous workload: the one it is, or SIZE_MAX */
	bool *w_pol_lent, *w_mtls_lent;	  /* per workload */
	bool *n_pol_lent, n_mtls_lent;	  /* per namespace; all of their mtls */
	bool g_lent, pa_lent, names_lent; /* global list; PeerAuthentications and mesh; names */
	uint32_t *scratch;
};

static void reuse_free(struct reuse *r)
{
	policy_serial_map_free(&r->wl_map);
	policy_serial_map_free(&r->ap_map);
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

/* The inputs against the previous workloads: false when the short way cannot take them. */
static bool classify_workloads(struct reuse *r)
{
	const struct policy_comp *c = r->c;
	const struct policy_set *prev = r->prev;
	const char **uids;
	size_t *order;
	bool ok = false;

	if (policy_serial_map_build(&r->wl_map, r->memo->wl_serial, prev->n_workloads))
		return false;
	r->prev_in = malloc((prev->n_workloads + 1) * sizeof(size_t));
	r->added = calloc(REUSE_MAX_CHANGES + 1, sizeof(size_t));
	r->added_at = calloc(REUSE_MAX_CHANGES + 1, sizeof(size_t));
	r->removed = calloc(REUSE_MAX_CHANGES + 1, sizeof(size_t));
	if (!r->prev_in || !r->added || !r->added_at || !r->removed)
		return false;
	for (size_t k = 0; k < prev->n_workloads; k++)
		r->prev_in[k] = SIZE_MAX;
	for (size_t i = 0; i < c->n_wls; i++) {
		size_t k;

		if (!c->serials || !c->serials[i])
			return false;
		k = policy_serial_map_get(&r->wl_map, c->serials[i]);
		if (k != SIZE_MAX && r->prev_in[k] != SIZE_MAX)
			return false; /* one serial twice */
		if (k != SIZE_MAX) {
			r->prev_in[k] = i;
		} else {
			if (r->n_added == REUSE_MAX_CHANGES)
				return false;
			r->added[r->n_added++] = i;
		}
	}
	for (size_t k = 0; k < prev->n_workloads; k++) {
		if (r->prev_in[k] != SIZE_MAX)
			continue;
		if (r->n_removed == REUSE_MAX_CHANGES)
			return false;
		r->removed[r->n_removed++] = k;
	}
	/* The added by uid, each uid once and none a kept workload's. */
	uids = calloc(r->n_added + 1, sizeof(char *));
	order = calloc(r->n_added + 1, sizeof(size_t));
	if (!uids || !order)
		goto out;
	for (size_t i = 0; i < r->n_added; i++)
		uids[i] = c->wls[r->added[i]].uid;
	if (policy_sort_strs(uids, r->n_added, order))
		goto out;
	for (size_t i = 0; i < r->n_added; i++)
		order[i] = r->added[order[i]];
	memcpy(r->added, order, r->n_added * sizeof(size_t));
	for (size_t i = 0; i < r->n_added; i++) {
		const char *uid = c->wls[r->added[i]].uid;
		size_t lo = 0, hi = prev->n_workloads;

		if (i && !strcmp(c->wls[r->added[i - 1]].uid, uid))
			goto out;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (strcmp(prev->workloads[mid].uid, uid) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < prev->n_workloads && !strcmp(prev->workloads[lo].uid, uid) &&
		    r->prev_in[lo] != SIZE_MAX)
			goto out;
		r->added_at[i] = lo;
	}
	ok = true;
out:
	free(uids);
	free(order);
	return ok;
}

static int cmp_key_at(const struct policy_set *prev, size_t k, const char *key)
{
	return strcmp(prev->policies[k].key, key);
}

/* The config's policies against the previous ones: false when the short way cannot take them. */
static bool classify_policies(struct reuse *r)
{
	const struct config *cfg = r->c->cfg;
	const struct policy_set *prev = r->prev;
	size_t n_ap = cfg->n_authorization_policies;

	if (policy_serial_map_build(&r->ap_map, r->memo->ap_serial, prev->n_policies))
		return false;
	r->prev_ap = malloc((prev->n_policies + 1) * sizeof(size_t));
	r->fresh = calloc(REUSE_MAX_CHANGES + 1, sizeof(size_t));
	r->fresh_at = calloc(REUSE_MAX_CHANGES + 1, sizeof(size_t));
	r->fresh_key = calloc(REUSE_MAX_CHANGES + 1, sizeof(char *));
	r->fresh_order = calloc(REUSE_MAX_CHANGES + 1, sizeof(size_t));
	if (!r->prev_ap || !r->fresh || !r->fresh_at || !r->fresh_key || !r->fresh_order)
		return false;
	for (size_t k = 0; k < prev->n_policies; k++)
		r->prev_ap[k] = SIZE_MAX;
	for (size_t i = 0; i < n_ap; i++) {
		const struct config_meta *m = &cfg->authorization_policies[i].meta;
		size_t k = policy_serial_map_get(&r->ap_map, m->serial);

		if (k != SIZE_MAX && r->prev_ap[k] != SIZE_MAX)
			return false; /* one serial twice */
		if (k != SIZE_MAX) {
			r->prev_ap[k] = i;
			continue;
		}
		if (r->n_fresh == REUSE_MAX_CHANGES)
			return false;
		if (asprintf(&r->fresh_key[r->n_fresh], "%s/%s", m->namespace, m->name) < 0) {
			r->fresh_key[r->n_fresh] = NULL;
			return false;
		}
		r->fresh[r->n_fresh++] = i;
	}
	for (size_t k = 0; k < prev->n_policies; k++)
		if (r->prev_ap[k] == SIZE_MAX && ++r->n_dropped > REUSE_MAX_CHANGES)
			return false;
	/* The fresh by key, each key once and none a kept policy's. */
	if (policy_sort_strs((const char *const *)r->fresh_key, r->n_fresh, r->fresh_order))
		return false;
	for (size_t f = 0; f < r->n_fresh; f++) {
		const char *key = r->fresh_key[r->fresh_order[f]];
		size_t lo = 0, hi = prev->n_policies;

		if (f && !strcmp(r->fresh_key[r->fresh_order[f - 1]], key))
			return false;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (cmp_key_at(prev, mid, key) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < prev->n_policies && !cmp_key_at(prev, lo, key) &&
		    r->prev_ap[lo] != SIZE_MAX)
			return false;
		r->fresh_at[f] = lo;
	}
	return true;
}

/* Moves namespace @ns's count by @d: false when it is not a namespace of @prev. */
static bool ns_ref(struct reuse *r, const char *ns, int d, size_t *at)
{
	const struct policy_namespace *x = policy_set_namespace(r->prev, ns);

	if (!x)
		return false;
	r->ns_refs[x - r->prev->namespaces] += (size_t)d;
	if (at)
		*at = (size_t)(x - r->prev->namespaces);
	return true;
}

/* The namespaces stay those of @prev (each still named, none new): else false. */
static bool same_namespaces(struct reuse *r)
{
	const struct policy_comp *c = r->c;
	const struct policy_set *prev = r->prev;

	const struct policy_namespace *root = policy_set_namespace(prev, c->root);

	r->root_ns = root ? (size_t)(root - prev->namespaces) : SIZE_MAX;
	r->ns_refs = malloc((prev->n_namespaces + 1) * sizeof(size_t));
	r->added_ns = calloc(r->n_added + 1, sizeof(size_t));
	r->fresh_ns = calloc(r->n_fresh + 1, sizeof(size_t));
	if (!r->ns_refs || !r->added_ns || !r->fresh_ns)
		return false;
	memcpy(r->ns_refs, r->memo->ns_refs, prev->n_namespaces * sizeof(size_t));
	for (size_t i = 0; i < r->n_removed; i++)
		if (!ns_ref(r, prev->workloads[r->removed[i]].namespace, -1, NULL))
			return false;
	for (size_t k = 0; k < prev->n_policies; k++)
		if (r->prev_ap[k] == SIZE_MAX && !ns_ref(r, prev->policies[k].namespace, -1, NULL))
			return false;
	for (size_t i = 0; i < r->n_added; i++)
		if (!ns_ref(r, c->wls[r->added[i]].namespace, 1, &r->added_ns[i]))
			return false;
	for (size_t f = 0; f < r->n_fresh; f++)
		if (!ns_ref(r, c->cfg->authorization_policies[r->fresh[f]].meta.namespace, 1,
			    &r->fresh_ns[f]))
			return false;
	for (size_t i = 0; i < prev->n_namespaces; i++)
		if (!r->ns_refs[i])
			return false;
	return true;
}

/* The workloads in uid order: the kept ones borrowed, the added ones made. */
static int merge_workloads(struct reuse *r)
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

/* The policies' order: the kept ones in theirs, each fresh one where its key goes. */
static int order_policies(struct reuse *r)
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

static int cmp_uidp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
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

/* Every policy, in the config's order (the order of its warnings). */
static int fill_policies(struct reuse *r)
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

/* The namespaces (the previous ones) and every list of policies. */
static int build_lists(struct reuse *r)
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

/*
 * The PeerAuthentications: those of @prev when nothing they depend on changed (the objects,
 * the namespaces, the selections of workload ones, no warning to give again), else resolved
 * again.
 */
static int peer_auths(struct reuse *r)
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
	    !classify_workloads(&r) || !classify_policies(&r) || !same_namespaces(&r)) {
		reuse_free(&r);
		return 0;
	}
	/* From here on the short way is taken: a failure is out of memory. */
	if (merge_workloads(&r) || order_policies(&r) || fill_policies(&r) || build_lists(&r) ||
	    peer_auths(&r))
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
