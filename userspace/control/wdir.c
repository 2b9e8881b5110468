// SPDX-License-Identifier: Apache-2.0
/* The workload directory's objects: reduced pods and their shards (wdir.h). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <xxhash.h>

#include "k8s/kmanifest.h"
#include "lib/str_search.h"
#include "wdir.h"

/* Copies @from's item @name into @to, when there is one. false: out of memory. */
static bool keep(cJSON *to, const cJSON *from, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, name);
	cJSON *d;

	if (!v)
		return true;
	d = cJSON_Duplicate(v, true);
	return d && cJSON_AddItemToObject(to, name, d);
}

/* The mesh's annotations: Istio's (*.istio.io/...) and ambit's. */
static bool mesh_annotation(const char *k)
{
	const char *slash = strchr(k, '/');
	size_t n = slash ? (size_t)(slash - k) : 0;

	return slash && ((n >= 8 && !memcmp(slash - 8, "istio.io", 8)) ||
			 (n == 8 && !memcmp(k, "ambit.io", 8)));
}

static bool reduce_meta(cJSON *to, const cJSON *md)
{
	static const char *const names[] = {"name",	   "namespace",		"uid",
					    "labels",	   "creationTimestamp", "deletionTimestamp",
					    "generateName"};
	const cJSON *ann = cJSON_GetObjectItemCaseSensitive(md, "annotations"), *a, *o;
	cJSON *m = cJSON_AddObjectToObject(to, "metadata"), *ma = NULL, *owners = NULL;

	if (!m)
		return false;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!keep(m, md, names[i]))
			return false;
	cJSON_ArrayForEach(a, ann)
	{
		if (!cJSON_IsString(a) || !a->string || !mesh_annotation(a->string))
			continue;
		if ((!ma && !(ma = cJSON_AddObjectToObject(m, "annotations"))) ||
		    !cJSON_AddStringToObject(ma, a->string, a->valuestring))
			return false;
	}
	cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(md, "ownerReferences"))
	{
		cJSON *d;

		if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "controller")))
			continue;
		if ((!owners && !(owners = cJSON_AddArrayToObject(m, "ownerReferences"))) ||
		    !(d = cJSON_Duplicate(o, true)) || !cJSON_AddItemToArray(owners, d))
			return false;
	}
	return true;
}

static bool reduce_spec(cJSON *to, const cJSON *spec)
{
	cJSON *s = cJSON_AddObjectToObject(to, "spec"), *cs;
	const cJSON *c;

	if (!s || !keep(s, spec, "nodeName") || !keep(s, spec, "serviceAccountName") ||
	    !keep(s, spec, "hostNetwork") || !(cs = cJSON_AddArrayToObject(s, "containers")))
		return false;
	/* Containers' names (the schema needs them) and ports (Services' named targetPorts). */
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(spec, "containers"))
	{
		cJSON *x = cJSON_CreateObject();

		if (!x || !cJSON_AddItemToArray(cs, x) || !keep(x, c, "name") ||
		    !keep(x, c, "ports"))
			return false;
	}
	return true;
}

static bool reduce_status(cJSON *to, const cJSON *status)
{
	cJSON *s = cJSON_AddObjectToObject(to, "status"), *conds = NULL;
	const cJSON *c;

	if (!s || !keep(s, status, "phase") || !keep(s, status, "podIP") ||
	    !keep(s, status, "podIPs") || !keep(s, status, "hostIP"))
		return false;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(status, "conditions"))
	{
		const char *t = kjson_str(c, "type", NULL);
		cJSON *x;

		if (!t || strcmp(t, "Ready"))
			continue;
		if ((!conds && !(conds = cJSON_AddArrayToObject(s, "conditions"))) ||
		    !(x = cJSON_CreateObject()) || !cJSON_AddItemToArray(conds, x) ||
		    !keep(x, c, "type") || !keep(x, c, "status"))
			return false;
	}
	return true;
}

cJSON *wdir_reduce(const cJSON *pod)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");
	cJSON *r;

	if (!kjson_str(md, "name", NULL) || !kjson_str(md, "namespace", NULL) ||
	    !kjson_str(spec, "nodeName", NULL))
		return NULL;
	r = cJSON_CreateObject();
	if (!r || !cJSON_AddStringToObject(r, "apiVersion", "v1") ||
	    !cJSON_AddStringToObject(r, "kind", "Pod") || !reduce_meta(r, md) ||
	    !reduce_spec(r, spec) ||
	    !reduce_status(r, cJSON_GetObjectItemCaseSensitive(pod, "status"))) {
		cJSON_Delete(r);
		return NULL;
	}
	return r;
}

unsigned int wdir_shard(const char *key)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % WDIR_SHARDS;
}

char *wdir_shard_array(const struct wdir_pod *pods, size_t n)
{
	size_t len = 2;
	char *arr, *w;

	for (size_t i = 0; i < n; i++)
		len += strlen(pods[i].text) + 1;
	if (!(arr = malloc(len + 1)))
		return NULL;
	/* The pods' texts joined: each is one JSON object already. */
	w = arr;
	*w++ = '[';
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(pods[i].text);

		if (i)
			*w++ = ',';
		memcpy(w, pods[i].text, l);
		w += l;
	}
	*w++ = ']';
	*w = '\0';
	return arr;
}

char *wdir_shard_object(const char *ns, unsigned int idx, const struct wdir_pod *pods, size_t n)
{
	cJSON *cm = cJSON_CreateObject(), *md, *lb, *data;
	char name[64], *arr = wdir_shard_array(pods, n), *text = NULL;

	snprintf(name, sizeof(name), WDIR_PREFIX "%02u", idx);
	if (cm && arr && cJSON_AddStringToObject(cm, "apiVersion", "v1") &&
	    cJSON_AddStringToObject(cm, "kind", "ConfigMap") &&
	    (md = cJSON_AddObjectToObject(cm, "metadata")) &&
	    cJSON_AddStringToObject(md, "name", name) &&
	    cJSON_AddStringToObject(md, "namespace", ns) &&
	    (lb = cJSON_AddObjectToObject(md, "labels")) &&
	    cJSON_AddStringToObject(lb, WDIR_LABEL, WDIR_LABEL_VALUE) &&
	    cJSON_AddStringToObject(lb, "app.kubernetes.io/part-of", "ambit") &&
	    (data = cJSON_AddObjectToObject(cm, "data")) &&
	    cJSON_AddStringToObject(data, "pods", arr))
		text = cJSON_PrintUnformatted(cm);
	free(arr);
	cJSON_Delete(cm);
	return text;
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct wdir_pod *)a)->key, ((const struct wdir_pod *)b)->key);
}

int wdir_shard_parse(const char *json, const char *node, struct wdir_shard_pods *out)
{
	cJSON *cm = cJSON_Parse(json), *arr = NULL;
	const char *pods = kjson_str(cm, "data", "pods");
	const cJSON *it;
	size_t cap;
	int err = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!pods || !(arr = cJSON_Parse(pods)) || !cJSON_IsArray(arr))
		goto out;
	cap = (size_t)cJSON_GetArraySize(arr);
	err = -ENOMEM;
	if (cap && !(out->p = calloc(cap, sizeof(*out->p))))
		goto out;
	cJSON_ArrayForEach(it, arr)
	{
		const char *ns = kjson_str(it, "metadata", "namespace");
		const char *name = kjson_str(it, "metadata", "name");
		const char *on = kjson_str(it, "spec", "nodeName");
		struct wdir_pod *p = &out->p[out->n];
		size_t kl;

		if (!ns || !name)
			continue;
		kl = strlen(ns) + strlen(name) + 2;
		if (!(p->key = malloc(kl)) || !(p->text = cJSON_PrintUnformatted(it))) {
			free(p->key);
			goto out;
		}
		snprintf(p->key, kl, "%s/%s", ns, name);
		p->hash = XXH3_64bits(p->text, strlen(p->text));
		p->here = on && node && !strcmp(on, node);
		out->n++;
	}
	if (out->n > 1)
		qsort(out->p, out->n, sizeof(*out->p), by_key);
	/* A key twice (not as the publisher writes): one stays. */
	for (size_t i = 1; i < out->n;) {
		if (strcmp(out->p[i - 1].key, out->p[i].key)) {
			i++;
			continue;
		}
		free(out->p[i].key);
		free(out->p[i].text);
		memmove(&out->p[i], &out->p[i + 1], (out->n - i - 1) * sizeof(*out->p));
		out->n--;
	}
	err = 0;
out:
	if (err)
		wdir_shard_pods_free(out);
	cJSON_Delete(arr);
	cJSON_Delete(cm);
	return err;
}

void wdir_shard_pods_free(struct wdir_shard_pods *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->p[i].key);
		free(s->p[i].text);
	}
	free(s->p);
	memset(s, 0, sizeof(*s));
}

long wdir_shard_find(const struct wdir_shard_pods *s, const char *key)
{
	bool found;
	size_t at =
	    str_lower_bound(s->p, s->n, sizeof(*s->p), offsetof(struct wdir_pod, key), key, &found);

	return found ? (long)at : -1;
}
