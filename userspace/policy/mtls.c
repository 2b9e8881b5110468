// SPDX-License-Identifier: Apache-2.0
/*
 * PeerAuthentication resolution (API_SEMANTICS.md §4): per level (mesh = root namespace without
 * selector, namespace, workload selector) the oldest object wins; the effective mode is workload
 * over namespace over mesh over PERMISSIVE, UNSET inheriting, and a workload's portLevelMtls
 * overrides per container port. Resolved once per workload at compile time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile_priv.h"

/* Oldest creationTimestamp first (RFC 3339 UTC strings order as times); none = newest. */
static int cmp_pa_age(const void *a, const void *b, void *arg)
{
	const struct config_peer_authentication *pas = arg;
	const struct config_meta *x = &pas[*(const size_t *)a].meta,
				 *y = &pas[*(const size_t *)b].meta;
	int r;

	if (x->creation_timestamp && y->creation_timestamp)
		r = strcmp(x->creation_timestamp, y->creation_timestamp);
	else
		r = !!y->creation_timestamp - !!x->creation_timestamp;
	if (!r)
		r = strcmp(x->namespace, y->namespace);
	return r ? r : strcmp(x->name, y->name);
}

static int mtls_set(struct policy_mtls *m, enum config_mtls_mode mode,
		    const struct config_meta *from)
{
	m->mode = mode;
	free(m->source);
	m->source = NULL;
	if (from &&
	    asprintf(&m->source, "PeerAuthentication %s/%s", from->namespace, from->name) < 0)
		return -ENOMEM;
	return 0;
}

int policy_mtls_copy(struct policy_mtls *dst, const struct policy_mtls *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->mode = src->mode;
	if (src->source && !(dst->source = strdup(src->source)))
		return -ENOMEM;
	return 0;
}

/* Replaces @dst's mode and source with @src's (ports untouched). */
static int mtls_copy_into(struct policy_mtls *dst, const struct policy_mtls *src)
{
	dst->mode = src->mode;
	free(dst->source);
	dst->source = NULL;
	if (src->source && !(dst->source = strdup(src->source)))
		return -ENOMEM;
	return 0;
}

/* Workload PA: its mode (unless UNSET) and its resolved portLevelMtls over the inherited mode. */
static int workload_mtls(struct policy_workload *w, const struct config_peer_authentication *pa)
{
	enum config_mtls_mode base;

	if (pa->mode != CONFIG_MTLS_UNSET && mtls_set(&w->mtls, pa->mode, &pa->meta))
		return -ENOMEM;
	base = w->mtls.mode;
	if (!pa->n_port_mtls)
		return 0;
	w->mtls.ports = calloc(pa->n_port_mtls, sizeof(*w->mtls.ports));
	if (!w->mtls.ports || asprintf(&w->mtls.port_source, "PeerAuthentication %s/%s",
				       pa->meta.namespace, pa->meta.name) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < pa->n_port_mtls; i++) {
		w->mtls.ports[i].port = pa->port_mtls[i].port;
		w->mtls.ports[i].mode =
		    pa->port_mtls[i].mode == CONFIG_MTLS_UNSET ? base : pa->port_mtls[i].mode;
	}
	w->mtls.n_ports = pa->n_port_mtls;
	qsort(w->mtls.ports, w->mtls.n_ports, sizeof(*w->mtls.ports), policy_cmp_port);
	return 0;
}

int policy_compile_peer_auths(struct policy_comp *c)
{
	const struct config *cfg = c->cfg;
	const struct config_peer_authentication *pas = cfg->peer_authentications;
	size_t n = cfg->n_peer_authentications, *order = NULL;
	const struct config_peer_authentication **wl_pa = NULL, **ns_pa = NULL;
	const struct config_peer_authentication *mesh = NULL;
	struct policy_set *ps = c->ps;
	int err = -ENOMEM;

	if (mtls_set(&ps->mesh, CONFIG_MTLS_PERMISSIVE, NULL))
		return -ENOMEM;
	for (size_t i = 0; i < ps->n_namespaces; i++)
		if (mtls_set(&ps->namespaces[i].mtls, CONFIG_MTLS_PERMISSIVE, NULL))
			return -ENOMEM;
	ps->peer_auths = n ? calloc(n, sizeof(*ps->peer_auths)) : NULL;
	order = calloc(n + 1, sizeof(*order));
	wl_pa = calloc(ps->n_workloads + 1, sizeof(*wl_pa));
	ns_pa = calloc(ps->n_namespaces + 1, sizeof(*ns_pa));
	if ((n && !ps->peer_auths) || !order || !wl_pa || !ns_pa)
		goto out;
	ps->n_peer_auths = n;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), cmp_pa_age, (void *)pas);

	/* Levels in age order: the first PA of a level and target wins, later ones conflict. */
	for (size_t k = 0; k < n; k++) {
		const struct config_peer_authentication *pa = &pas[order[k]];
		struct policy_peer_auth *out = &ps->peer_auths[order[k]];
		bool root = !strcmp(pa->meta.namespace, c->root);

		out->namespace = strdup(pa->meta.namespace);
		out->name = strdup(pa->meta.name);
		if (!out->namespace || !out->name)
			goto out;
		out->mode = pa->mode;
		out->in_force = true;
		if (pa->mode == CONFIG_MTLS_DISABLE)
			policy_warn(
			    c, &pa->meta, "PeerAuthentication", 0,
			    "mode DISABLE is not supported in ambient mode: the ztunnel accepts "
			    "plaintext and mTLS as under PERMISSIVE");
		if (pa->has_selector && root) {
			out->scope = POLICY_SCOPE_NONE;
			out->in_force = false;
			policy_warn(
			    c, &pa->meta, "PeerAuthentication", 0,
			    "a PeerAuthentication with a selector in the root namespace %s is "
			    "ignored (Istio applies only selector-less ones there, mesh-wide)",
			    c->root);
		} else if (!pa->has_selector) {
			const struct policy_namespace *nsx;

			out->scope = root ? POLICY_SCOPE_GLOBAL : POLICY_SCOPE_NAMESPACE;
			if (pa->n_port_mtls)
				policy_warn(c, &pa->meta, "PeerAuthentication", 0,
					    "portLevelMtls needs a selector; ignored");
			if (root && mesh) {
				out->in_force = false;
				policy_warn(
				    c, &pa->meta, "PeerAuthentication", 0,
				    "conflicts with the older mesh-wide PeerAuthentication %s/%s, "
				    "which wins",
				    mesh->meta.namespace, mesh->meta.name);
			} else if (root) {
				mesh = pa;
			} else if ((nsx = policy_set_namespace(ps, pa->meta.namespace))) {
				size_t ni = (size_t)(nsx - ps->namespaces);

				if (ns_pa[ni]) {
					out->in_force = false;
					policy_warn(c, &pa->meta, "PeerAuthentication", 0,
						    "conflicts with the older namespace-wide "
						    "PeerAuthentication %s/%s, which wins",
						    ns_pa[ni]->meta.namespace,
						    ns_pa[ni]->meta.name);
				} else {
					ns_pa[ni] = pa;
				}
			}
		} else {
			size_t won = 0, lost = 0;

			out->scope = POLICY_SCOPE_WORKLOAD;
			if (policy_select_workloads(c, pa->meta.namespace, &pa->selector,
						    &out->workloads, &out->n_workloads))
				goto out;
			for (size_t i = 0; i < out->n_workloads; i++) {
				const struct policy_workload *w =
				    policy_set_workload(ps, out->workloads[i]);
				size_t wi;

				if (!w)
					continue;
				wi = (size_t)(w - ps->workloads);
				if (wl_pa[wi])
					lost++;
				else {
					wl_pa[wi] = pa;
					won++;
				}
			}
			if (lost) {
				out->in_force = won > 0;
				policy_warn(c, &pa->meta, "PeerAuthentication", 0,
					    "conflicts on %zu workload(s) with an older workload "
					    "PeerAuthentication, which wins there",
					    lost);
			}
		}
	}
	/* Effective modes: mesh, then namespace over mesh, then workload over namespace. */
	if (mesh && mesh->mode != CONFIG_MTLS_UNSET && mtls_set(&ps->mesh, mesh->mode, &mesh->meta))
		goto out;
	for (size_t i = 0; i < ps->n_namespaces; i++) {
		struct policy_namespace *nsx = &ps->namespaces[i];

		if (ns_pa[i] && ns_pa[i]->mode != CONFIG_MTLS_UNSET)
			err = mtls_set(&nsx->mtls, ns_pa[i]->mode, &ns_pa[i]->meta);
		else
			err = mtls_copy_into(&nsx->mtls, &ps->mesh);
		if (err)
			goto out;
	}
	err = -ENOMEM;
	for (size_t i = 0; i < ps->n_workloads; i++) {
		struct policy_workload *w = &ps->workloads[i];
		const struct policy_namespace *nsx = policy_set_namespace(ps, w->namespace);

		if (policy_mtls_copy(&w->mtls, nsx ? &nsx->mtls : &ps->mesh))
			goto out;
		if (wl_pa[i] && workload_mtls(w, wl_pa[i]))
			goto out;
	}
	err = 0;
out:
	free(order);
	free(wl_pa);
	free(ns_pa);
	return err;
}
