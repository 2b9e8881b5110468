// SPDX-License-Identifier: Apache-2.0
/*
 * ambit-cni's own judgement of a pod when the node's agent is not there to give one (a node
 * that boots, an agent in a crash loop): the pod's namespace and labels from the API server,
 * through the kubeconfig install-cni writes for the plugin (as istio-cni's), judged by the
 * agent's rule (config_enrolled). A pod outside the mesh is then not held for the agent; a pod
 * of the mesh, or one the API server cannot answer for, still is.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ambit/config.h"
#include "cni.h"
#include "k8s/kconn.h"

/* The API server is on the node's path to running any pod: a short wait, then the agent's. */
#define API_TIMEOUT_MS 5000
#define API_MAX_BODY (1u << 20)

/* GET @path: the parsed object, or NULL with why in @why. */
static cJSON *api_get(const struct kconn *k, const char *path, char *why, size_t len)
{
	char err[256] = "", *resp = NULL;
	long code =
	    kconn_call(k, "GET", path, NULL, &resp, API_MAX_BODY, API_TIMEOUT_MS, err, sizeof(err));
	cJSON *o = code == 200 ? cJSON_Parse(resp) : NULL;

	free(resp);
	if (!o && code == 200)
		snprintf(why, len, "GET %s: not JSON", path);
	else if (!o && code)
		snprintf(why, len, "GET %s: HTTP %ld", path, code);
	else if (!o)
		snprintf(why, len, "GET %s: %s", path, err[0] ? err : "no answer");
	return o;
}

/* @obj's metadata.labels as config_labels (strings borrowed from @obj; items malloc'd). */
static int labels_of(const cJSON *obj, struct config_labels *out)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels");
	const cJSON *l;
	size_t n = 0;

	out->n = 0;
	out->items = calloc((size_t)cJSON_GetArraySize(labels) + 1, sizeof(*out->items));
	if (!out->items)
		return -ENOMEM;
	cJSON_ArrayForEach(l, labels)
	{
		if (!cJSON_IsString(l) || !l->string)
			continue;
		out->items[n].key = l->string;
		out->items[n].value = l->valuestring;
		n++;
	}
	out->n = n;
	return 0;
}

/*
 * Namespace @ns as the configuration knows one, from the API server's @obj: its name and
 * labels, which is all config_enrolled reads.
 */
static int load_namespace(struct config *cfg, const char *ns, const cJSON *obj, char *why,
			  size_t len)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels");
	cJSON *doc = cJSON_CreateObject(), *meta;
	struct config_diags d = {0};
	char *text = NULL;
	int ret = -ENOMEM;

	if (doc && cJSON_AddStringToObject(doc, "apiVersion", "v1") &&
	    cJSON_AddStringToObject(doc, "kind", "Namespace") &&
	    (meta = cJSON_AddObjectToObject(doc, "metadata")) &&
	    cJSON_AddStringToObject(meta, "name", ns) &&
	    (!cJSON_IsObject(labels) ||
	     cJSON_AddItemToObject(meta, "labels", cJSON_Duplicate(labels, true))))
		text = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	if (text) {
		ret = config_load_buffer(cfg, "namespace", text, strlen(text), &d);
		if (ret)
			snprintf(why, len,
				 "namespace %s from the API server: not a namespace ambit "
				 "reads",
				 ns);
	}
	free(text);
	config_diags_free(&d);
	return ret;
}

int cni_api_judge(const char *kubeconfig, const char *ns, const char *name, bool *captured,
		  char *why, size_t len)
{
	struct config_labels labels = {0};
	struct kconn k = {0};
	struct config cfg;
	cJSON *nsobj = NULL, *pod = NULL;
	char path[600];
	int ret;

	config_init(&cfg);
	/* Into a URL path: names as Kubernetes makes them, nothing that would change the path. */
	if (!config_dns_label_ok(ns) || !config_dns_subdomain_ok(name)) {
		snprintf(why, len, "pod %s/%s: not a Kubernetes namespace and pod name", ns, name);
		ret = -EINVAL;
		goto out;
	}
	ret = kconn_kubeconfig(&k, kubeconfig, NULL, why, len);
	if (ret)
		goto out;
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s", ns);
	nsobj = api_get(&k, path, why, len);
	ret = nsobj ? load_namespace(&cfg, ns, nsobj, why, len) : -EIO;
	if (ret)
		goto out;
	/* Not in the mesh whatever the pod says: no need to ask for it. */
	if (!config_enrolled(&cfg, ns, NULL)) {
		*captured = false;
		goto out;
	}
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", ns, name);
	pod = api_get(&k, path, why, len);
	ret = pod ? labels_of(pod, &labels) : -EIO;
	if (!ret)
		*captured = config_enrolled(&cfg, ns, &labels);
out:
	free(labels.items);
	cJSON_Delete(pod);
	cJSON_Delete(nsobj);
	config_free(&cfg);
	kconn_free(&k);
	return ret;
}
