// SPDX-License-Identifier: Apache-2.0
/*
 * Objects by identity, as a store holds them: where the state directory keeps one object
 * (the layout `ambitctl apply` writes and the agent recognizes), and removing duplicates from a
 * merged view so that one definition per identity is in force.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_priv.h"

/* Components come from validated names, but the layout never relies on that. */
static bool safe_component(const char *s)
{
	if (!*s || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '.')
			return false;
	return true;
}

int config_object_path(const char *state, const char *group, const char *kind, const char *ns,
		       const char *name, char *buf, size_t len)
{
	char kg[320];
	size_t n = 0;
	int w;

	for (const char *k = kind; *k && n + 1 < sizeof(kg); k++)
		kg[n++] = (char)tolower((unsigned char)*k);
	kg[n] = '\0';
	if (group && *group)
		snprintf(kg + n, sizeof(kg) - n, ".%s", group);
	if ((ns && !safe_component(ns)) || !safe_component(kg) || !safe_component(name))
		return -EINVAL;
	w = snprintf(buf, len, "%s/%s/%s/%s.yaml", state, ns ? ns : "_cluster", kg, name);
	return w < 0 || (size_t)w >= len ? -ENAMETOOLONG : 0;
}

struct view_array {
	const char *kind;
	void **arr;
	size_t *n;
	size_t size;
};

/* Every kind's array of @c. Each model struct starts with its config_meta. */
static size_t view_arrays(struct config *c, struct view_array *out)
{
#define VA(k, field, nfield)                                                                       \
	{                                                                                          \
		k, (void **)&c->field, &c->nfield, sizeof(*c->field)                               \
	}
	const struct view_array all[] = {
	    VA("Namespace", namespaces, n_namespaces),
	    VA("Pod", pods, n_pods),
	    VA("Deployment", deployments, n_deployments),
	    VA("Service", services, n_services),
	    VA("ServiceAccount", service_accounts, n_service_accounts),
	    VA("AuthorizationPolicy", authorization_policies, n_authorization_policies),
	    VA("PeerAuthentication", peer_authentications, n_peer_authentications),
	    VA("VirtualService", virtual_services, n_virtual_services),
	    VA("DestinationRule", destination_rules, n_destination_rules),
	    VA("Gateway", gateways, n_gateways),
	    VA("ServiceEntry", service_entries, n_service_entries),
	    VA("RequestAuthentication", request_authentications, n_request_authentications),
	    VA("Gateway", k8s_gateways, n_k8s_gateways),
	    VA("HTTPRoute", http_routes, n_http_routes),
	    VA("GRPCRoute", grpc_routes, n_grpc_routes),
	    VA("EndpointSlice", endpoint_slices, n_endpoint_slices),
	};
#undef VA
	memcpy(out, all, sizeof(all));
	return sizeof(all) / sizeof(all[0]);
}

#define VIEW_KINDS 16

static struct config_meta *meta_at(const struct view_array *va, size_t i)
{
	return (struct config_meta *)((char *)*va->arr + i * va->size);
}

void config_object_key(const char *kind, const struct config_meta *m, char *buf, size_t len)
{
	char group[256];

	config_api_group(m->api_version ? m->api_version : "", group, sizeof(group));
	snprintf(buf, len, "%s|%s|%s|%s", group, kind, m->namespace ? m->namespace : "",
		 m->name ? m->name : "");
}

int config_each_object(const struct config *c,
		       int (*fn)(void *arg, const char *kind, const struct config_meta *m),
		       void *arg)
{
	struct view_array va[VIEW_KINDS];
	size_t nva = view_arrays((struct config *)c, va);

	for (size_t a = 0; a < nva; a++) {
		for (size_t i = 0; i < *va[a].n; i++) {
			int err = fn(arg, va[a].kind, meta_at(&va[a], i));

			if (err)
				return err;
		}
	}
	return 0;
}

struct entry {
	char *key;
	const struct config_meta *meta;
	size_t arr, idx;
	int rank;
	bool drop;
};

static int entry_cmp(const void *pa, const void *pb)
{
	const struct entry *a = pa, *b = pb;
	int c = strcmp(a->key, b->key);

	if (c)
		return c;
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	c = strcmp(a->meta->origin.file ? a->meta->origin.file : "",
		   b->meta->origin.file ? b->meta->origin.file : "");
	if (c)
		return c;
	return (a->meta->origin.line > b->meta->origin.line) -
	       (a->meta->origin.line < b->meta->origin.line);
}

int config_view_drop_duplicates(
    struct config *view, int (*prefer)(void *arg, const char *kind, const struct config_meta *m),
    void (*report)(void *arg, const char *kind, const struct config_meta *kept,
		   const struct config_meta *dropped),
    void *arg)
{
	struct view_array va[VIEW_KINDS];
	size_t nva = view_arrays(view, va), total = 0, k = 0, kinds;
	struct entry *e;
	int err = 0;

	_Static_assert(sizeof(va) / sizeof(va[0]) == VIEW_KINDS, "one array per kind");
	(void)cfg_kinds(&kinds);
	if (kinds != nva)
		return -EINVAL; /* a kind was added to the loader but not here */
	for (size_t a = 0; a < nva; a++)
		total += *va[a].n;
	e = calloc(total ? total : 1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (size_t a = 0; a < nva; a++) {
		for (size_t i = 0; i < *va[a].n; i++, k++) {
			const struct config_meta *m = meta_at(&va[a], i);
			char key[700];

			config_object_key(va[a].kind, m, key, sizeof(key));
			e[k].key = strdup(key);
			if (!e[k].key) {
				err = -ENOMEM;
				goto out;
			}
			e[k].meta = m;
			e[k].arr = a;
			e[k].idx = i;
			e[k].rank = prefer ? prefer(arg, va[a].kind, m) : 0;
		}
	}
	qsort(e, total, sizeof(*e), entry_cmp);
	/* Sorted by identity, then preference: the head of each run stays. */
	for (size_t i = 1, head = 0; i < total; i++) {
		if (strcmp(e[i].key, e[head].key)) {
			head = i;
			continue;
		}
		e[i].drop = true;
		if (report)
			report(arg, va[e[i].arr].kind, e[head].meta, e[i].meta);
	}
	/* Compact each array, keeping file order among what stays. */
	for (size_t a = 0; a < nva; a++) {
		bool *dropped = calloc(*va[a].n ? *va[a].n : 1, sizeof(*dropped));
		size_t w = 0;

		if (!dropped) {
			err = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < total; i++)
			if (e[i].arr == a && e[i].drop)
				dropped[e[i].idx] = true;
		for (size_t i = 0; i < *va[a].n; i++) {
			if (dropped[i])
				continue;
			if (w != i)
				memcpy(meta_at(&va[a], w), meta_at(&va[a], i), va[a].size);
			w++;
		}
		*va[a].n = w;
		free(dropped);
	}
out:
	for (size_t i = 0; i < total; i++)
		free(e[i].key);
	free(e);
	return err;
}
