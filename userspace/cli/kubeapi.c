// SPDX-License-Identifier: Apache-2.0
/*
 * ambitctl's Kubernetes client (ctl.h): the user's kubeconfig, where each kind it writes lives,
 * and create-or-replace, for `install` and for `waypoint ... --kubeconfig`.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ctl.h"
#include "kconn.h"
#include "kmanifest.h"

/* Where each kind the manifests hold lives in the API. */
static const struct kind {
	const char *kind, *prefix, *plural;
	bool namespaced;
} kinds[] = {
    {"Namespace", "/api/v1", "namespaces", false},
    {"ServiceAccount", "/api/v1", "serviceaccounts", true},
    {"Service", "/api/v1", "services", true},
    {"ConfigMap", "/api/v1", "configmaps", true},
    {"Secret", "/api/v1", "secrets", true},
    {"ClusterRole", "/apis/rbac.authorization.k8s.io/v1", "clusterroles", false},
    {"ClusterRoleBinding", "/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", false},
    {"Role", "/apis/rbac.authorization.k8s.io/v1", "roles", true},
    {"RoleBinding", "/apis/rbac.authorization.k8s.io/v1", "rolebindings", true},
    {"Deployment", "/apis/apps/v1", "deployments", true},
    {"DaemonSet", "/apis/apps/v1", "daemonsets", true},
    {"CustomResourceDefinition", "/apis/apiextensions.k8s.io/v1", "customresourcedefinitions",
     false},
    {"Gateway", "/apis/gateway.networking.k8s.io/v1", "gateways", true},
};

/* The collection path of @obj and its name; -EINVAL for a kind not in the table. */
int kube_paths(const cJSON *obj, char *coll, size_t clen, const char **name)
{
	const char *kind = kjson_str(obj, "kind", NULL),
		   *ns = kjson_str(obj, "metadata", "namespace");

	*name = kjson_str(obj, "metadata", "name");
	for (size_t i = 0; kind && *name && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(kinds[i].kind, kind))
			continue;
		if (kinds[i].namespaced)
			return str_fmt(coll, clen, "%s/namespaces/%s/%s", kinds[i].prefix,
				       ns ? ns : "default", kinds[i].plural);
		return str_fmt(coll, clen, "%s/%s", kinds[i].prefix, kinds[i].plural);
	}
	return -EINVAL;
}

long kube_call(const struct kconn *k, const char *method, const char *path, const cJSON *body,
	       char **resp)
{
	char *text = body ? cJSON_PrintUnformatted(body) : NULL, err[512] = "", *unused = NULL;
	long code;

	if (body && !text)
		return 0;
	code = kconn_call(k, method, path, text, resp ? resp : &unused, 16 << 20, 30000, err,
			  sizeof(err));
	free(unused);
	free(text);
	if (!code)
		fprintf(stderr, "ambitctl: %s\n", err);
	return code;
}

/* Creates @obj, or replaces it (with the server's resourceVersion) when it exists. */
int kube_apply(const struct kconn *k, cJSON *obj, bool quiet)
{
	char coll[512], path[1024], *resp = NULL;
	const char *name, *rv;
	cJSON *cur, *md;
	long code;

	if (kube_paths(obj, coll, sizeof(coll), &name)) {
		fprintf(stderr, "ambitctl: a %s the installer cannot place\n",
			kjson_str(obj, "kind", NULL) ? kjson_str(obj, "kind", NULL) : "document");
		return -EINVAL;
	}
	code = kube_call(k, "POST", coll, obj, &resp);
	if (code == 409) {
		free(resp);
		resp = NULL;
		str_fmt(path, sizeof(path), "%s/%s", coll, name);
		code = kube_call(k, "GET", path, NULL, &resp);
		cur = code == 200 ? cJSON_Parse(resp) : NULL;
		rv = cur ? kjson_str(cur, "metadata", "resourceVersion") : NULL;
		md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
		if (rv && md) {
			cJSON_DeleteItemFromObjectCaseSensitive(md, "resourceVersion");
			cJSON_AddStringToObject(md, "resourceVersion", rv);
		}
		cJSON_Delete(cur);
		free(resp);
		resp = NULL;
		code = rv ? kube_call(k, "PUT", path, obj, &resp) : code;
		if (code == 200 && !quiet)
			printf("%s/%s configured\n", kjson_str(obj, "kind", NULL), name);
	} else if ((code == 201 || code == 200) && !quiet) {
		printf("%s/%s created\n", kjson_str(obj, "kind", NULL), name);
	}
	if (code != 200 && code != 201) {
		fprintf(stderr, "ambitctl: %s %s: HTTP %ld: %s\n", kjson_str(obj, "kind", NULL),
			name, code, resp ? resp : "");
		free(resp);
		return -EIO;
	}
	free(resp);
	return 0;
}

int kube_connect(struct kconn *k, const char *kubeconfig)
{
	char path[4096], why[512];
	const char *home = getenv("HOME"), *env = getenv("KUBECONFIG");

	if (!kubeconfig && env && *env)
		kubeconfig = env; /* the first file of a list, as kubectl reads the first */
	if (!kubeconfig) {
		str_fmt(path, sizeof(path), "%s/.kube/config", home ? home : "/root");
		kubeconfig = path;
	}
	if (kconn_kubeconfig(k, kubeconfig, NULL, why, sizeof(why))) {
		fprintf(stderr, "ambitctl: %s\n", why);
		return -EINVAL;
	}
	return 0;
}
