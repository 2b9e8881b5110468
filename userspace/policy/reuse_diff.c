// SPDX-License-Identifier: Apache-2.0
/*
 * policy_compile_from's short way: what changed since the previous set (the inputs and objects
 * added, removed or kept, by serial, and each namespace's count), or that it cannot be taken.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile_priv.h"

/* Past this many workloads (or policies) added plus removed, a full compile is as cheap. */
#define REUSE_MAX_CHANGES 64

bool policy_reuse_classify_workloads(struct reuse *r)
{
	const struct policy_comp *c = r->c;
	const struct policy_set *prev = r->prev;
	const char **uids;
	size_t *order;
	bool ok = false;

	if (serial_map_build(&r->wl_map, r->memo->wl_serial, prev->n_workloads, sizeof(uint64_t),
			     0))
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
		k = serial_map_get(&r->wl_map, c->serials[i]);
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

bool policy_reuse_classify_policies(struct reuse *r)
{
	const struct config *cfg = r->c->cfg;
	const struct policy_set *prev = r->prev;
	size_t n_ap = cfg->n_authorization_policies;

	if (serial_map_build(&r->ap_map, r->memo->ap_serial, prev->n_policies, sizeof(uint64_t), 0))
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
		size_t k = serial_map_get(&r->ap_map, m->serial);

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

bool policy_reuse_same_namespaces(struct reuse *r)
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
