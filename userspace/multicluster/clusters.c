// SPDX-License-Identifier: Apache-2.0
/*
 * The rows of `remote-clusters` (multicluster.h) from the nodes' agents' status, without I/O:
 * one view of each remote cluster out of every node's, as istioctl shows one row an istiod.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "multicluster.h"

/* How bad a remote cluster's status is: the row says the worst of its nodes'. */
static int rank(const char *status)
{
	if (!strcmp(status, "synced"))
		return 0;
	if (!strcmp(status, "failed"))
		return 2;
	return 1; /* syncing, or a word of a newer agent: not known to be in force */
}

/* @o's string @key, or @def. */
static const char *str_of(const cJSON *o, const char *key, const char *def)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));

	return s ? s : def;
}

/* The entry of @status' remoteClusters naming cluster @name, or NULL. */
static const cJSON *listed(const cJSON *status, const char *name)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(status, "remoteClusters"))
	{
		if (!strcmp(str_of(e, "cluster", ""), name))
			return e;
	}
	return NULL;
}

static bool lists_remotes(const cJSON *status)
{
	return cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(status, "remoteClusters"));
}

/* The row of remote cluster @name in @rows (the local one, first, aside), or NULL. */
static cJSON *row_of(cJSON *rows, const char *name)
{
	cJSON *r;

	cJSON_ArrayForEach(r, rows)
	{
		if (r != rows->child && !strcmp(str_of(r, "name", ""), name))
			return r;
	}
	return NULL;
}

/* A row's common four, istioctl's columns. */
static cJSON *new_row(cJSON *rows, const char *name, const char *secret, const char *status)
{
	cJSON *r = cJSON_CreateObject();

	if (!r || !cJSON_AddItemToArray(rows, r)) {
		cJSON_Delete(r);
		return NULL;
	}
	if (!cJSON_AddStringToObject(r, "name", name) ||
	    !cJSON_AddStringToObject(r, "secret", secret) ||
	    !cJSON_AddStringToObject(r, "status", status) ||
	    !cJSON_AddStringToObject(r, "istiod", REMOTE_ISTIOD))
		return NULL;
	return r;
}

/* A remote cluster's row from its first listing @e: the fields every node's agent shares. */
static cJSON *remote_row(cJSON *rows, const cJSON *e)
{
	static const char *const copied[] = {"server", "network", "gateways", "globalServices"};
	cJSON *r = new_row(rows, str_of(e, "cluster", ""), str_of(e, "secret", ""), "synced");

	for (size_t i = 0; r && i < sizeof(copied) / sizeof(copied[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, copied[i]);
		cJSON *dup;

		if (!v)
			continue;
		dup = cJSON_Duplicate(v, true);
		if (!dup || !cJSON_AddItemToObject(r, copied[i], dup)) {
			cJSON_Delete(dup);
			return NULL;
		}
	}
	return r && cJSON_AddArrayToObject(r, "nodes") ? r : NULL;
}

/* Node @node's view @e (NULL: not listed yet) into row @r, whose status turns the worst. */
static int add_view(cJSON *r, const char *node, const cJSON *e)
{
	const char *st = e ? str_of(e, "status", "syncing") : "syncing";
	const char *err = e ? str_of(e, "error", NULL) : NULL;
	cJSON *views = cJSON_GetObjectItemCaseSensitive(r, "nodes"), *v = cJSON_CreateObject();
	bool failed = !strcmp(st, "failed");

	if (!v || !cJSON_AddItemToArray(views, v)) {
		cJSON_Delete(v);
		return -ENOMEM;
	}
	if (!cJSON_AddStringToObject(v, "node", node) ||
	    !cJSON_AddStringToObject(v, "status", st) ||
	    (failed && err && !cJSON_AddStringToObject(v, "error", err)))
		return -ENOMEM;
	if (rank(st) > rank(str_of(r, "status", "synced"))) {
		cJSON_DeleteItemFromObjectCaseSensitive(r, "error");
		if (!cJSON_ReplaceItemInObjectCaseSensitive(r, "status", cJSON_CreateString(st)))
			return -ENOMEM;
		if (failed && !cJSON_AddStringToObject(r, "error", err ? err : "failed"))
			return -ENOMEM;
	}
	return 0;
}

cJSON *remote_clusters_merge(const char *local_id, const struct remote_view *v, size_t n)
{
	cJSON *rows = cJSON_CreateArray(), *local, *r;
	const char *id = NULL, *net = NULL;
	const cJSON *e;

	for (size_t i = 0; i < n; i++) {
		if (!id)
			id = str_of(v[i].status, "clusterId", NULL);
		if (!net || !*net)
			net = str_of(v[i].status, "network", NULL);
	}
	local = rows ? new_row(rows, id ? id : local_id, "", "synced") : NULL;
	if (!local || (net && *net && !cJSON_AddStringToObject(local, "network", net)))
		goto fail;
	for (size_t i = 0; i < n; i++)
		cJSON_ArrayForEach(e,
				   cJSON_GetObjectItemCaseSensitive(v[i].status, "remoteClusters"))
		{
			const char *name = str_of(e, "cluster", "");

			if (*name && !row_of(rows, name) && !remote_row(rows, e))
				goto fail;
		}
	cJSON_ArrayForEach(r, rows)
	{
		if (r == local)
			continue;
		for (size_t i = 0; i < n; i++)
			if (lists_remotes(v[i].status) &&
			    add_view(r, v[i].node, listed(v[i].status, str_of(r, "name", ""))))
				goto fail;
	}
	return rows;
fail:
	cJSON_Delete(rows);
	return NULL;
}
