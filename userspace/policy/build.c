// SPDX-License-Identifier: Apache-2.0
/* Policy compiler: the set's workloads and namespaces, and its lists of policies per scope. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "compile_priv.h"

int policy_hash_table(size_t n, size_t *cap, size_t **slot, uint64_t **hash)
{
	for (*cap = 64; *cap < 2 * n; *cap *= 2)
		;
	*slot = calloc(*cap, sizeof(**slot));
	*hash = calloc(*cap, sizeof(**hash));
	if (*slot && *hash)
		return 0;
	free(*slot);
	free(*hash);
	return -ENOMEM;
}

/*
 * Each of the @n names' distinct name (by hash, then strcmp), into @id_of; @first gets each
 * distinct one's first name, @count how many name it. The number of distinct ones, or SIZE_MAX
 * (ENOMEM).
 */
static size_t distinct_names(const char *const *names, size_t n, size_t *id_of, size_t *first,
			     size_t *count)
{
	size_t cap, u = 0, *slot;
	uint64_t *hash;

	if (policy_hash_table(n, &cap, &slot, &hash))
		return SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		uint64_t h = XXH3_64bits(names[i], strlen(names[i]));
		size_t k = (size_t)(h ^ (h >> 29)) & (cap - 1);

		while (slot[k] && (hash[k] != h || strcmp(names[first[slot[k] - 1]], names[i])))
			k = (k + 1) & (cap - 1);
		if (!slot[k]) {
			slot[k] = ++u;
			hash[k] = h;
			first[u - 1] = i;
			count[u - 1] = 0;
		}
		id_of[i] = slot[k] - 1;
		count[slot[k] - 1]++;
	}
	free(slot);
	free(hash);
	return u;
}

int policy_build_namespaces(struct policy_comp *c)
{
	const struct config *cfg = c->cfg;
	struct policy_set *ps = c->ps;
	size_t cap =
	    c->n_wls + ps->n_policies + cfg->n_peer_authentications + cfg->n_namespaces + 1;
	const char **names = calloc(cap, sizeof(char *)), **distinct = calloc(cap, sizeof(char *));
	size_t *id_of = calloc(cap, sizeof(size_t)), *first = calloc(cap, sizeof(size_t));
	size_t *count = calloc(cap, sizeof(size_t)), *order = calloc(cap, sizeof(size_t));
	size_t n = 0, u;
	int err = -ENOMEM;

	if (!names || !distinct || !id_of || !first || !count || !order)
		goto out;
	for (size_t i = 0; i < c->n_wls; i++)
		names[n++] = c->wls[i].namespace;
	for (size_t i = 0; i < ps->n_policies; i++)
		names[n++] = ps->policies[i].namespace;
	for (size_t i = 0; i < cfg->n_peer_authentications; i++)
		names[n++] = cfg->peer_authentications[i].meta.namespace;
	for (size_t i = 0; i < cfg->n_namespaces; i++)
		if (cfg->namespaces[i].meta.name)
			names[n++] = cfg->namespaces[i].meta.name;
	/* Ten thousand names of a hundred namespaces: the hundred are sorted, not the names. */
	if ((u = distinct_names(names, n, id_of, first, count)) == SIZE_MAX)
		goto out;
	for (size_t i = 0; i < u; i++)
		distinct[i] = names[first[i]];
	if (policy_sort_strs(distinct, u, order))
		goto out;
	ps->namespaces = calloc(u + 1, sizeof(*ps->namespaces));
	c->ns_refs = calloc(u + 1, sizeof(size_t));
	c->ap_ns = calloc(ps->n_policies + 1, sizeof(size_t));
	if (!ps->namespaces || !c->ns_refs || !c->ap_ns)
		goto out;
	for (size_t i = 0; i < u; i++) {
		if (!(ps->namespaces[i].name = strdup(distinct[order[i]])))
			goto out;
		ps->n_namespaces = i + 1;
		c->ns_refs[i] = count[order[i]];
		first[order[i]] = i; /* now: each distinct name's position */
	}
	/* The policies' names follow the inputs'. */
	for (size_t j = 0; j < ps->n_policies; j++)
		c->ap_ns[j] = first[id_of[c->n_wls + j]];
	err = 0;
out:
	free(names);
	free(distinct);
	free(id_of);
	free(first);
	free(count);
	free(order);
	return err;
}

int policy_build_workloads(struct policy_comp *c)
{
	struct policy_set *ps = c->ps;
	const char **uids = calloc(c->n_wls + 1, sizeof(char *));
	size_t *src = calloc(c->n_wls + 1, sizeof(size_t));
	size_t *order = calloc(c->n_wls + 1, sizeof(size_t));
	size_t u = 0;
	int err = -ENOMEM;

	ps->workloads = calloc(c->n_wls + 1, sizeof(*ps->workloads));
	c->wl_src = calloc(c->n_wls + 1, sizeof(size_t));
	if (!uids || !src || !order || !ps->workloads || !c->wl_src)
		goto out;
	for (size_t i = 0; i < c->n_wls; i++) {
		const struct policy_workload_input *w = &c->wls[c->by_ns[i]];

		if (!c->serials || !c->serials[c->by_ns[i]])
			c->exact = false;
		if (u && !strcmp(uids[u - 1], w->uid)) {
			c->exact = false;
			continue; /* a duplicate uid: the first one stands */
		}
		uids[u] = w->uid;
		src[u++] = c->by_ns[i];
	}
	/* By uid; equal ones (of other namespaces) in their order so far. */
	if (policy_sort_strs(uids, u, order))
		goto out;
	for (size_t j = 0; j < u; j++) {
		const struct policy_workload_input *w = &c->wls[src[order[j]]];

		c->wl_src[j] = src[order[j]];
		ps->workloads[j].uid = strdup(w->uid);
		ps->workloads[j].namespace = strdup(w->namespace);
		ps->n_workloads = j + 1;
		if (!ps->workloads[j].uid || !ps->workloads[j].namespace)
			goto out;
		if (j && !strcmp(ps->workloads[j - 1].uid, w->uid))
			c->exact = false;
	}
	err = 0;
out:
	free(uids);
	free(src);
	free(order);
	return err;
}

/* Two passes (count, fill) so each list is allocated once. */
int policy_build_index(struct policy_set *ps)
{
	for (int pass = 0; pass < 2; pass++) {
		ps->n_global = 0;
		for (size_t i = 0; i < ps->n_namespaces; i++)
			ps->namespaces[i].n_policies = 0;
		for (size_t i = 0; i < ps->n_workloads; i++)
			ps->workloads[i].n_policies = 0;
		for (size_t i = 0; i < ps->n_policies; i++) {
			const struct policy_authz *p = &ps->policies[i];
			struct policy_namespace *nsx;
			struct policy_workload *w;

			switch (p->scope) {
			case POLICY_SCOPE_GLOBAL:
				if (pass)
					ps->global[ps->n_global] = (uint32_t)i;
				ps->n_global++;
				break;
			case POLICY_SCOPE_NAMESPACE:
				nsx = (struct policy_namespace *)policy_set_namespace(ps,
										      p->namespace);
				if (!nsx)
					break;
				if (pass)
					nsx->policies[nsx->n_policies] = (uint32_t)i;
				nsx->n_policies++;
				break;
			case POLICY_SCOPE_WORKLOAD:
				for (size_t k = 0; k < p->n_workloads; k++) {
					w = (struct policy_workload *)policy_set_workload(
					    ps, p->workloads[k]);
					if (!w)
						continue;
					if (pass)
						w->policies[w->n_policies] = (uint32_t)i;
					w->n_policies++;
				}
				break;
			case POLICY_SCOPE_NONE: break;
			}
		}
		if (pass)
			break;
		if (!(ps->global = calloc(ps->n_global + 1, sizeof(uint32_t))))
			return -ENOMEM;
		for (size_t i = 0; i < ps->n_namespaces; i++)
			if (!(ps->namespaces[i].policies =
				  calloc(ps->namespaces[i].n_policies + 1, sizeof(uint32_t))))
				return -ENOMEM;
		for (size_t i = 0; i < ps->n_workloads; i++)
			if (!(ps->workloads[i].policies =
				  calloc(ps->workloads[i].n_policies + 1, sizeof(uint32_t))))
				return -ENOMEM;
	}
	return 0;
}
