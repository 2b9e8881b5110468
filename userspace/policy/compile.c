// SPDX-License-Identifier: Apache-2.0
/*
 * Policy compiler: config AuthorizationPolicy + PeerAuthentication + workloads -> an indexed,
 * immutable policy set (include/ambit/policy.h). What istiod's ambient authorization.go does for
 * ztunnel: keep the L4 part of each rule (dropping ALLOW rules that need L7, trimming DENY rules),
 * resolve selectors to workloads once, and resolve PeerAuthentication precedence per workload so
 * that evaluation is a few short list walks and binary searches.
 *
 * This file: the entry points and the assembly of the set. One AuthorizationPolicy is compiled
 * in authz.c, workloads are selected in select.c, the set's workloads, namespaces
 * and lists are built in build.c, PeerAuthentications resolved in mtls.c, and
 * everything is freed by the set's own destructors (wire/policy_model.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "compile_priv.h"

/* ---- diagnostics ---- */

void policy_warn(struct policy_comp *c, const struct config_meta *m, const char *kind, int line,
		 const char *fmt, ...)
{
	struct config_diag *d, *items;
	va_list ap;
	int n;

	if (!c->diags)
		return;
	items = realloc(c->diags->items, (c->diags->n + 1) * sizeof(*items));
	if (!items)
		return;
	c->diags->items = items;
	d = &items[c->diags->n];
	memset(d, 0, sizeof(*d));
	d->file = strdup(m->origin.file ? m->origin.file : "<input>");
	d->line = line ? line : m->origin.line;
	d->column = 1;
	d->error = false;
	if (asprintf(&d->object, "%s %s/%s", kind, m->namespace, m->name) < 0)
		d->object = NULL;
	va_start(ap, fmt);
	n = vasprintf(&d->message, fmt, ap);
	va_end(ap);
	if (n < 0)
		d->message = NULL;
	c->diags->n++;
}

/* ---- the set ---- */

static int cmp_ap_key(const void *a, const void *b, void *arg)
{
	const struct config_authorization_policy *aps = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int r = strcmp(aps[x].meta.namespace, aps[y].meta.namespace);

	if (!r)
		r = strcmp(aps[x].meta.name, aps[y].meta.name);
	return r ? r : (x > y) - (x < y);
}

/* Whether two of the @n policies have one namespace/name: 1, 0 or -ENOMEM. */
static int any_duplicate_key(const struct config_authorization_policy *aps, size_t n)
{
	size_t cap, *slot;
	uint64_t *hash;
	int found = 0;

	if (policy_hash_table(n, &cap, &slot, &hash))
		return -ENOMEM;
	for (size_t i = 0; i < n && !found; i++) {
		const struct config_meta *m = &aps[i].meta;
		uint64_t h = XXH3_64bits_withSeed(
		    m->name, strlen(m->name), XXH3_64bits(m->namespace, strlen(m->namespace) + 1));
		size_t k = (size_t)(h ^ (h >> 29)) & (cap - 1);

		for (; slot[k]; k = (k + 1) & (cap - 1)) {
			const struct config_meta *o = &aps[slot[k] - 1].meta;

			if (hash[k] == h && !strcmp(o->namespace, m->namespace) &&
			    !strcmp(o->name, m->name)) {
				found = 1;
				break;
			}
		}
		slot[k] = i + 1;
		hash[k] = h;
	}
	free(slot);
	free(hash);
	return found;
}

/*
 * Marks the later copies of a namespace/name that several files define (each file is loaded on
 * its own, so the loader cannot see it): the first one loaded stands, as with any duplicate
 * object, and keys stay unique (the ztunnel's decoder insists on it). NULL on ENOMEM.
 */
static bool *duplicate_authz(struct policy_comp *c)
{
	const struct config_authorization_policy *aps = c->cfg->authorization_policies;
	size_t n = c->cfg->n_authorization_policies, *idx;
	bool *dup = calloc(n + 1, sizeof(bool));
	int any = dup ? any_duplicate_key(aps, n) : -ENOMEM;

	if (any <= 0) {
		if (any < 0) {
			free(dup);
			dup = NULL;
		}
		return dup;
	}
	c->exact = false;
	/* The warnings go in the order of the keys. */
	idx = calloc(n + 1, sizeof(size_t));
	if (!idx) {
		free(dup);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	qsort_r(idx, n, sizeof(size_t), cmp_ap_key, (void *)aps);
	for (size_t i = 1; i < n; i++) {
		const struct config_meta *a = &aps[idx[i - 1]].meta, *b = &aps[idx[i]].meta;

		if (strcmp(a->namespace, b->namespace) || strcmp(a->name, b->name))
			continue;
		dup[idx[i]] = true;
		idx[i] = idx[i - 1]; /* compare further copies with the one that stands */
		policy_warn(c, b, "AuthorizationPolicy", 0,
			    "also defined in %s:%d, which stands; this copy is ignored",
			    a->origin.file ? a->origin.file : "<input>", a->origin.line);
	}
	free(idx);
	return dup;
}

/* Compiles the policies @dup leaves, sorted by key; c->ap_src and c->ap_quiet say whence. */
static int compile_policies(struct policy_comp *c, const bool *dup)
{
	const struct config *cfg = c->cfg;
	struct policy_set *ps = c->ps;
	size_t n_ap = cfg->n_authorization_policies, n;
	size_t *src = calloc(n_ap + 1, sizeof(size_t)), *order = calloc(n_ap + 1, sizeof(size_t));
	bool *quiet = calloc(n_ap + 1, sizeof(bool));
	const char **keys = calloc(n_ap + 1, sizeof(char *));
	struct policy_authz *sorted = NULL;
	int err = -ENOMEM;

	ps->policies = calloc(n_ap + 1, sizeof(*ps->policies));
	if (!src || !order || !quiet || !keys || !ps->policies)
		goto out;
	for (size_t i = 0; i < n_ap; i++) {
		size_t warned = c->diags ? c->diags->n : 0;

		if (dup[i])
			continue;
		src[ps->n_policies] = i;
		if (policy_compile_authz(c, &cfg->authorization_policies[i],
					 &ps->policies[ps->n_policies++], true))
			goto out;
		quiet[ps->n_policies - 1] = c->diags && c->diags->n == warned;
	}
	n = ps->n_policies;
	for (size_t i = 0; i < n; i++)
		keys[i] = ps->policies[i].key;
	sorted = calloc(n + 1, sizeof(*sorted));
	c->ap_src = calloc(n + 1, sizeof(size_t));
	c->ap_quiet = calloc(n + 1, sizeof(bool));
	if (!sorted || !c->ap_src || !c->ap_quiet || policy_sort_strs(keys, n, order))
		goto out;
	for (size_t j = 0; j < n; j++) {
		sorted[j] = ps->policies[order[j]];
		c->ap_src[j] = src[order[j]];
		c->ap_quiet[j] = quiet[order[j]];
	}
	free(ps->policies);
	ps->policies = sorted;
	sorted = NULL;
	err = 0;
out:
	free(sorted);
	free(src);
	free(order);
	free(quiet);
	free(keys);
	return err;
}

struct policy_set *policy_compile(const struct config *cfg, const struct policy_workload_input *wls,
				  size_t n_wls, const char *root_ns, struct config_diags *diags)
{
	return policy_compile_from(cfg, wls, n_wls, NULL, root_ns, diags, NULL);
}

static void comp_free(struct policy_comp *c)
{
	free(c->lent);
	free(c->by_ns);
	free(c->wl_src);
	free(c->ap_src);
	free(c->ap_quiet);
	free(c->ns_refs);
	free(c->ap_ns);
	label_index_free(&c->by_label);
}

struct policy_set *policy_compile_from(const struct config *cfg,
				       const struct policy_workload_input *wls, size_t n_wls,
				       const uint64_t *serials, const char *root_ns,
				       struct config_diags *diags, struct policy_set *prev)
{
	struct policy_comp c = {.cfg = cfg,
				.wls = wls,
				.n_wls = n_wls,
				.serials = serials,
				.diags = diags,
				.exact = true};
	struct serial_map prev_aps = {0};
	bool *dup = NULL;
	struct policy_set *ps;
	size_t warned;
	int err;

	c.root = root_ns && *root_ns ? root_ns : POLICY_ROOT_NAMESPACE_DEFAULT;
	ps = calloc(1, sizeof(*ps));
	if (!ps || !(ps->root_namespace = strdup(c.root)))
		goto nomem;
	c.ps = ps;
	if (prev && (err = policy_reuse(&c, prev))) {
		if (err < 0)
			goto nomem;
		comp_free(&c);
		return ps;
	}
	/* Without memory to track what is lent, everything is compiled. */
	if (prev && (c.lent = calloc(prev->n_policies + 1, sizeof(bool)))) {
		c.prev = prev;
		if (prev->memo && !serial_map_build(&prev_aps, prev->memo->ap_serial,
						    prev->n_policies, sizeof(uint64_t), 0))
			c.prev_aps = &prev_aps;
	}
	if (policy_comp_index(&c) || !(dup = duplicate_authz(&c)) || compile_policies(&c, dup))
		goto nomem;
	free(dup);
	dup = NULL;
	if (policy_build_workloads(&c) || policy_build_namespaces(&c) || policy_build_index(ps))
		goto nomem;
	warned = diags ? diags->n : 0;
	if (policy_compile_peer_auths(&c))
		goto nomem;
	c.pa_quiet = diags && diags->n == warned;
	policy_give_rules(&c);
	/* Without memory for the memo, the next compile is a full one. */
	(void)policy_memo_take(&c);
	serial_map_free(&prev_aps);
	comp_free(&c);
	return ps;
nomem:
	if (c.lent)
		policy_take_back_rules(&c, ps);
	serial_map_free(&prev_aps);
	comp_free(&c);
	free(dup);
	policy_set_free(ps);
	errno = ENOMEM;
	return NULL;
}
