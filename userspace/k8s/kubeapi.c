// SPDX-License-Identifier: Apache-2.0
/*
 * ambitctl's Kubernetes client (kubeapi.h): the user's kubeconfig, where each kind it writes lives,
 * and create-or-replace, for `install`, `waypoint ... --kubeconfig` and the --kube cluster's
 * mirror (kmirror.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ambit/fileutil.h"
#include "kconn.h"
#include "kmanifest.h"
#include "kubeapi.h"

/*
 * Every kind ambitctl writes (`install`, `waypoint`, the --kube mirror), as the API serves it:
 * its group, the version it is listed at, its plural and scope. A written object's own
 * apiVersion names the version it goes to. The kinds of tests/k8s/fake_apiserver.py's
 * RESOURCES but TokenReview (no object), Event and Lease (the agents' own).
 */
static const struct kind {
	const char *kind, *group, *version, *plural;
	bool namespaced;
} kinds[] = {
    {"Namespace", "", "v1", "namespaces", false},
    {"Node", "", "v1", "nodes", false},
    {"ServiceAccount", "", "v1", "serviceaccounts", true},
    {"Service", "", "v1", "services", true},
    {"Pod", "", "v1", "pods", true},
    {"ConfigMap", "", "v1", "configmaps", true},
    {"Secret", "", "v1", "secrets", true},
    {"ClusterRole", "rbac.authorization.k8s.io", "v1", "clusterroles", false},
    {"ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", "clusterrolebindings", false},
    {"Role", "rbac.authorization.k8s.io", "v1", "roles", true},
    {"RoleBinding", "rbac.authorization.k8s.io", "v1", "rolebindings", true},
    {"Deployment", "apps", "v1", "deployments", true},
    {"DaemonSet", "apps", "v1", "daemonsets", true},
    {"CustomResourceDefinition", "apiextensions.k8s.io", "v1", "customresourcedefinitions", false},
    {"EndpointSlice", "discovery.k8s.io", "v1", "endpointslices", true},
    {"AuthorizationPolicy", "security.istio.io", "v1", "authorizationpolicies", true},
    {"PeerAuthentication", "security.istio.io", "v1", "peerauthentications", true},
    {"RequestAuthentication", "security.istio.io", "v1", "requestauthentications", true},
    {"VirtualService", "networking.istio.io", "v1", "virtualservices", true},
    {"DestinationRule", "networking.istio.io", "v1", "destinationrules", true},
    {"ServiceEntry", "networking.istio.io", "v1", "serviceentries", true},
    {"Sidecar", "networking.istio.io", "v1", "sidecars", true},
    /* Before Istio's: the Gateway of an object without apiVersion. */
    {"Gateway", "gateway.networking.k8s.io", "v1", "gateways", true},
    {"Gateway", "networking.istio.io", "v1", "gateways", true},
    {"HTTPRoute", "gateway.networking.k8s.io", "v1", "httproutes", true},
    {"GRPCRoute", "gateway.networking.k8s.io", "v1", "grpcroutes", true},
    {"TLSRoute", "gateway.networking.k8s.io", "v1alpha2", "tlsroutes", true},
    {"TCPRoute", "gateway.networking.k8s.io", "v1alpha2", "tcproutes", true},
    {"ReferenceGrant", "gateway.networking.k8s.io", "v1beta1", "referencegrants", true},
    {"EnvoyFilter", "networking.istio.io", "v1alpha3", "envoyfilters", true},
    {"LocalRateLimit", "networking.ambit.io", "v1alpha1", "localratelimits", true},
    {"Telemetry", "telemetry.istio.io", "v1", "telemetries", true},
};
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

int kube_kind_at(size_t i, const char **kind, const char **group, bool *namespaced)
{
	if (i >= N_KINDS)
		return -ENOENT;
	*kind = kinds[i].kind;
	*group = kinds[i].group;
	*namespaced = kinds[i].namespaced;
	return 0;
}

/* The API path of group @group at @version: /api/v1 for the core group, else /apis/G/V. */
static int group_prefix(const char *group, const char *version, char *buf, size_t len)
{
	if (!*group)
		return str_fmt(buf, len, "/api/%s", version);
	return str_fmt(buf, len, "/apis/%s/%s", group, version);
}

int kube_kind_list_path(size_t i, char *buf, size_t len)
{
	char prefix[256];

	if (i >= N_KINDS)
		return -ENOENT;
	if (group_prefix(kinds[i].group, kinds[i].version, prefix, sizeof(prefix)))
		return -ENAMETOOLONG;
	return str_fmt(buf, len, "%s/%s", prefix, kinds[i].plural);
}

/*
 * The collection path of @obj (at the group and version of its apiVersion; the kind's own when
 * it has none) and its name; -EINVAL for a kind not in the table.
 */
int kube_paths(const cJSON *obj, char *coll, size_t clen, const char **name)
{
	const char *kind = kjson_str(obj, "kind", NULL),
		   *ns = kjson_str(obj, "metadata", "namespace"),
		   *av = kjson_str(obj, "apiVersion", NULL), *slash = av ? strrchr(av, '/') : NULL;
	char group[256] = "", prefix[512];

	*name = kjson_str(obj, "metadata", "name");
	if (slash && str_fmt(group, sizeof(group), "%.*s", (int)(slash - av), av))
		return -EINVAL;
	for (size_t i = 0; kind && *name && i < N_KINDS; i++) {
		const struct kind *k = &kinds[i];

		/* No apiVersion: the first kind of that name, as the table had it before groups. */
		if (strcmp(k->kind, kind) || (av && strcmp(k->group, group)))
			continue;
		if (group_prefix(k->group, av ? (slash ? slash + 1 : av) : k->version, prefix,
				 sizeof(prefix)))
			return -EINVAL;
		if (k->namespaced)
			return str_fmt(coll, clen, "%s/namespaces/%s/%s", prefix,
				       ns ? ns : "default", k->plural);
		return str_fmt(coll, clen, "%s/%s", prefix, k->plural);
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
