// SPDX-License-Identifier: Apache-2.0
/* The --kube mirror's objects (kmirror.h): built and compared, no I/O. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "tls/crypto.h"
#include "local.h"
#include "k8s/kmanifest.h"
#include "kmirror.h"

/*
 * The alphabet of Kubernetes' rand.SafeEncodeString, which pod-template-hash is written in: no
 * vowels (no words), no 0/1/3 (no look-alikes).
 */
static const char safe_alphabet[] = "bcdfghjklmnpqrstvwxz2456789";

static void sha256_text(const char *text, unsigned char md[32])
{
	crypto_sha256(text, strlen(text), md);
}

void kmirror_template_hash(const char *ns, const char *owner,
			   char out[KMIRROR_TEMPLATE_HASH_LEN + 1])
{
	unsigned char md[32];
	char key[600];

	/* The Deployment's identity only: a pod keeps its workload's name whatever else changes. */
	snprintf(key, sizeof(key), "%s/%s", ns, owner);
	sha256_text(key, md);
	for (int i = 0; i < KMIRROR_TEMPLATE_HASH_LEN; i++)
		out[i] = safe_alphabet[md[i] % (sizeof(safe_alphabet) - 1)];
	out[KMIRROR_TEMPLATE_HASH_LEN] = '\0';
}

int kmirror_replicaset(const char *ns, const char *owner, char *buf, size_t len)
{
	char hash[KMIRROR_TEMPLATE_HASH_LEN + 1];
	int n;

	kmirror_template_hash(ns, owner, hash);
	n = snprintf(buf, len, "%s-%s", owner, hash);
	/* An object name is a DNS subdomain: 253 characters at most. */
	return n < 0 || (size_t)n >= len || n > 253 ? -ENAMETOOLONG : 0;
}

/*
 * A UID for the ReplicaSet no API server holds: ownerReferences require one. Derived from its
 * identity so that the Pod's JSON, and its hash, stay the same from one apply to the next.
 */
static void replicaset_uid(const char *ns, const char *rs, char out[37])
{
	unsigned char md[32];
	char key[600];

	snprintf(key, sizeof(key), "ReplicaSet/%s/%s", ns, rs);
	sha256_text(key, md);
	md[6] = (unsigned char)((md[6] & 0x0f) | 0x50); /* RFC 4122 name-based layout */
	md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 md[0], md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10],
		 md[11], md[12], md[13], md[14], md[15]);
}

static bool pod_metadata(cJSON *pod_json, const struct ctl_pod *pod)
{
	cJSON *md = cJSON_AddObjectToObject(pod_json, "metadata"), *labels, *refs, *ref;
	char hash[KMIRROR_TEMPLATE_HASH_LEN + 1], rs[300], uid[37];

	if (!md || !cJSON_AddStringToObject(md, "name", pod->name) ||
	    !cJSON_AddStringToObject(md, "namespace", pod->namespace) ||
	    !(labels = cJSON_AddObjectToObject(md, "labels")))
		return false;
	for (size_t i = 0; pod->labels && i < pod->labels->n; i++) {
		const char *key = pod->labels->items[i].key;

		if ((!pod->owner || strcmp(key, "pod-template-hash")) &&
		    !cJSON_AddStringToObject(labels, key, pod->labels->items[i].value))
			return false;
	}
	if (!pod->owner)
		return true;
	/*
	 * What the agent names the workload from (ksource_workload): the controller ReplicaSet
	 * <deployment>-<pod-template-hash>, with that label on the pod.
	 */
	kmirror_template_hash(pod->namespace, pod->owner, hash);
	if (kmirror_replicaset(pod->namespace, pod->owner, rs, sizeof(rs))) {
		errno = ENAMETOOLONG;
		return false;
	}
	replicaset_uid(pod->namespace, rs, uid);
	return cJSON_AddStringToObject(labels, "pod-template-hash", hash) &&
	       (refs = cJSON_AddArrayToObject(md, "ownerReferences")) &&
	       (ref = cJSON_CreateObject()) && cJSON_AddItemToArray(refs, ref) &&
	       cJSON_AddStringToObject(ref, "apiVersion", "apps/v1") &&
	       cJSON_AddStringToObject(ref, "kind", "ReplicaSet") &&
	       cJSON_AddStringToObject(ref, "name", rs) &&
	       cJSON_AddStringToObject(ref, "uid", uid) &&
	       cJSON_AddTrueToObject(ref, "controller") &&
	       cJSON_AddTrueToObject(ref, "blockOwnerDeletion");
}

/* One container standing for what the pod runs: the API needs a name and an image. */
/* The name of @spec's (first) container, as kubectl exec -c and logs -c name it. */
static const char *container_name(const struct config_pod_spec *spec)
{
	return spec && spec->container ? spec->container : "main";
}

static bool pod_container(cJSON *containers, const struct config_pod_spec *spec)
{
	cJSON *c = cJSON_CreateObject(), *list;

	if (!c || !cJSON_AddItemToArray(containers, c)) {
		cJSON_Delete(c);
		return false;
	}
	/* The local cluster runs commands of the host, not images. */
	if (!cJSON_AddStringToObject(c, "name", container_name(spec)) ||
	    !cJSON_AddStringToObject(c, "image", "ambit.local/host"))
		return false;
	if (spec && spec->command) {
		if (!(list = cJSON_AddArrayToObject(c, "command")))
			return false;
		for (size_t i = 0; spec->command[i]; i++)
			if (!cJSON_AddItemToArray(list, cJSON_CreateString(spec->command[i])))
				return false;
	}
	/* Services' named targetPorts resolve against these. */
	if (!spec || !spec->nports)
		return true;
	if (!(list = cJSON_AddArrayToObject(c, "ports")))
		return false;
	for (size_t i = 0; i < spec->nports; i++) {
		const struct config_container_port *p = &spec->ports[i];
		cJSON *o = cJSON_CreateObject();

		if (!o || !cJSON_AddItemToArray(list, o))
			return false;
		if ((p->name && !cJSON_AddStringToObject(o, "name", p->name)) ||
		    !cJSON_AddNumberToObject(o, "containerPort", p->port) ||
		    !cJSON_AddStringToObject(o, "protocol", p->protocol ? p->protocol : "TCP"))
			return false;
	}
	return true;
}

/*
 * The one container's status as a kubelet reports a running one (kubectl's READY counts these),
 * started now: kmirror_pod_keep_start puts back the time the server already holds.
 */
static bool pod_container_status(cJSON *st, const char *name)
{
	cJSON *list = cJSON_AddArrayToObject(st, "containerStatuses"), *cs = cJSON_CreateObject();
	cJSON *state, *running;
	char now[32];
	time_t t = time(NULL);
	struct tm tm;

	if (!list || !cs || !cJSON_AddItemToArray(list, cs)) {
		cJSON_Delete(cs);
		return false;
	}
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	return cJSON_AddStringToObject(st, "startTime", now) &&
	       cJSON_AddStringToObject(cs, "name", name) &&
	       cJSON_AddStringToObject(cs, "image", "ambit.local/host") &&
	       cJSON_AddStringToObject(cs, "imageID", "") && cJSON_AddTrueToObject(cs, "ready") &&
	       cJSON_AddTrueToObject(cs, "started") &&
	       cJSON_AddNumberToObject(cs, "restartCount", 0) &&
	       (state = cJSON_AddObjectToObject(cs, "state")) &&
	       (running = cJSON_AddObjectToObject(state, "running")) &&
	       cJSON_AddStringToObject(running, "startedAt", now);
}

int kmirror_pod_keep_start(cJSON *want, const cJSON *have)
{
	const char *at = kjson_str(have, "status", "startTime");
	cJSON *st = cJSON_GetObjectItemCaseSensitive(want, "status"), *cs, *running;

	if (!at || !kjson_str(want, "status", "startTime"))
		return 0; /* Pending, or none held yet: nothing to keep */
	cJSON_DeleteItemFromObjectCaseSensitive(st, "startTime");
	if (!cJSON_AddStringToObject(st, "startTime", at))
		return -ENOMEM;
	cJSON_ArrayForEach(cs, cJSON_GetObjectItemCaseSensitive(st, "containerStatuses"))
	{
		running = kjson_get(cJSON_GetObjectItemCaseSensitive(cs, "state"), "running", NULL);
		cJSON_DeleteItemFromObjectCaseSensitive(running, "startedAt");
		if (running && !cJSON_AddStringToObject(running, "startedAt", at))
			return -ENOMEM;
	}
	return kmirror_seal(want);
}

/*
 * Running and Ready, as the kubelet reports a started pod without probes; before its kubelet
 * started it, Pending and scheduled, with no pod IP yet. The change from one to the other is
 * the watch event on which the agents look for the pod's processes, as on a real node.
 */
static bool pod_status(cJSON *pod_json, const struct ctl_pod *pod)
{
	static const char *const ready[] = {"PodScheduled", "PodReadyToStartContainers",
					    "Initialized", "Ready", "ContainersReady"};
	cJSON *st = cJSON_AddObjectToObject(pod_json, "status"), *conds;

	if (!st || !cJSON_AddStringToObject(st, "phase", pod->started ? "Running" : "Pending") ||
	    !(conds = cJSON_AddArrayToObject(st, "conditions")))
		return false;
	if (!pod->started) {
		cJSON *c = cJSON_CreateObject();

		return c && cJSON_AddItemToArray(conds, c) &&
		       cJSON_AddStringToObject(c, "type", ready[0]) &&
		       cJSON_AddStringToObject(c, "status", "True") &&
		       cJSON_AddStringToObject(st, "hostIP", node_host_ip(pod->node)) &&
		       kmirror_add_ips(st, "hostIPs", node_host_ip(pod->node),
				       node_host_ip2(pod->node)) &&
		       cJSON_AddStringToObject(st, "qosClass", "BestEffort");
	}
	for (size_t i = 0; i < sizeof(ready) / sizeof(ready[0]); i++) {
		cJSON *c = cJSON_CreateObject();

		if (!c || !cJSON_AddItemToArray(conds, c) ||
		    !cJSON_AddStringToObject(c, "type", ready[i]) ||
		    !cJSON_AddStringToObject(c, "status", "True"))
			return false;
	}
	if (!pod_container_status(st, container_name(pod->spec)))
		return false;
	/* BestEffort: the QoS class of the kubepods/besteffort cgroup the pod runs in. */
	return cJSON_AddStringToObject(st, "hostIP", node_host_ip(pod->node)) &&
	       kmirror_add_ips(st, "hostIPs", node_host_ip(pod->node), node_host_ip2(pod->node)) &&
	       cJSON_AddStringToObject(st, "podIP", pod_ip4(pod)[0] ? pod->ip_str : pod->ip6_str) &&
	       (pod_ip4(pod)[0] ? kmirror_add_ips(st, "podIPs", pod->ip_str, pod->ip6_str)
				: kmirror_add_ips(st, "podIPs", pod->ip6_str, "")) &&
	       cJSON_AddStringToObject(st, "qosClass", "BestEffort");
}

bool kmirror_add_ips(cJSON *o, const char *key, const char *ip, const char *ip6)
{
	cJSON *arr = cJSON_AddArrayToObject(o, key);

	for (int i = 0; arr && i < 1 + !!ip6[0]; i++) {
		cJSON *it = cJSON_CreateObject();

		if (!it || !cJSON_AddItemToArray(arr, it)) {
			cJSON_Delete(it);
			return false;
		}
		if (!cJSON_AddStringToObject(it, "ip", i ? ip6 : ip))
			return false;
	}
	return arr != NULL;
}

cJSON *kmirror_pod(const struct ctl_pod *pod)
{
	const struct config_pod_spec *spec = pod->spec;
	cJSON *o, *sp, *containers;

	if (!pod->namespace || !pod->name || !pod->node || !pod->ip_str[0]) {
		errno = EINVAL;
		return NULL;
	}
	o = cJSON_CreateObject();
	errno = ENOMEM;
	if (!o || !cJSON_AddStringToObject(o, "apiVersion", "v1") ||
	    !cJSON_AddStringToObject(o, "kind", "Pod") || !pod_metadata(o, pod) ||
	    !(sp = cJSON_AddObjectToObject(o, "spec")) ||
	    !cJSON_AddStringToObject(sp, "nodeName", pod->node->name) ||
	    !cJSON_AddStringToObject(sp, "serviceAccountName",
				     pod->service_account ? pod->service_account : "default") ||
	    (spec && !cJSON_AddStringToObject(sp, "restartPolicy",
					      config_restart_policy_name(spec->restart_policy))) ||
	    (spec && spec->hostname && !cJSON_AddStringToObject(sp, "hostname", spec->hostname)) ||
	    (spec && spec->subdomain &&
	     !cJSON_AddStringToObject(sp, "subdomain", spec->subdomain)) ||
	    !(containers = cJSON_AddArrayToObject(sp, "containers")) ||
	    !pod_container(containers, spec) || !pod_status(o, pod)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

cJSON *kmirror_node(const struct ctl_node *n)
{
	cJSON *o = cJSON_CreateObject(), *md, *labels, *sp, *st, *conds, *cond, *addrs, *a, *info;
	struct utsname u;

	if (uname(&u))
		snprintf(u.release, sizeof(u.release), "unknown");
	if (!o || !cJSON_AddStringToObject(o, "apiVersion", "v1") ||
	    !cJSON_AddStringToObject(o, "kind", "Node") ||
	    !(md = cJSON_AddObjectToObject(o, "metadata")) ||
	    !cJSON_AddStringToObject(md, "name", n->name) ||
	    !(labels = cJSON_AddObjectToObject(md, "labels")) ||
	    !cJSON_AddStringToObject(labels, "kubernetes.io/hostname", n->name) ||
	    !cJSON_AddStringToObject(labels, "kubernetes.io/os", "linux") ||
	    !(sp = cJSON_AddObjectToObject(o, "spec")) ||
	    !cJSON_AddStringToObject(sp, "podCIDR", n->pod_cidr) ||
	    !(st = cJSON_AddObjectToObject(o, "status")) ||
	    !(conds = cJSON_AddArrayToObject(st, "conditions")) || !(cond = cJSON_CreateObject()) ||
	    !cJSON_AddItemToArray(conds, cond) || !cJSON_AddStringToObject(cond, "type", "Ready") ||
	    !cJSON_AddStringToObject(cond, "status", "True") ||
	    !cJSON_AddStringToObject(cond, "reason", "KubeletReady") ||
	    !cJSON_AddStringToObject(cond, "message", "kubelet is posting ready status") ||
	    !(addrs = cJSON_AddArrayToObject(st, "addresses")) || !(a = cJSON_CreateObject()) ||
	    !cJSON_AddItemToArray(addrs, a) || !cJSON_AddStringToObject(a, "type", "InternalIP") ||
	    !cJSON_AddStringToObject(a, "address", node_host_ip(n)) ||
	    !(a = cJSON_CreateObject()) || !cJSON_AddItemToArray(addrs, a) ||
	    !cJSON_AddStringToObject(a, "type", "Hostname") ||
	    !cJSON_AddStringToObject(a, "address", n->name) ||
	    !(info = cJSON_AddObjectToObject(st, "nodeInfo")) ||
	    !cJSON_AddStringToObject(info, "kubeletVersion", "v1.32.0-ambit") ||
	    !cJSON_AddStringToObject(info, "kernelVersion", u.release) ||
	    !cJSON_AddStringToObject(info, "operatingSystem", "linux") ||
	    !cJSON_AddStringToObject(info, "architecture",
				     u.machine[0] == 'x' ? "amd64" : u.machine) ||
	    !cJSON_AddStringToObject(info, "containerRuntimeVersion", "ambit-local")) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* What the API server sets on an object: never part of what is written. */
static const char *const server_fields[] = {
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
};

cJSON *kmirror_from_yaml(const char *yaml, const char *ns, char *err, size_t len)
{
	cJSON *docs = kmanifest_documents(yaml, err, len), *obj, *md;

	if (!docs)
		return NULL;
	if (cJSON_GetArraySize(docs) != 1 || !cJSON_IsObject(cJSON_GetArrayItem(docs, 0))) {
		snprintf(err, len, "expected one object, found %d documents",
			 cJSON_GetArraySize(docs));
		cJSON_Delete(docs);
		return NULL;
	}
	obj = cJSON_DetachItemFromArray(docs, 0);
	cJSON_Delete(docs);
	md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	if (!cJSON_IsObject(md)) {
		snprintf(err, len, "no metadata");
		cJSON_Delete(obj);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(server_fields) / sizeof(server_fields[0]); i++)
		cJSON_DeleteItemFromObjectCaseSensitive(md, server_fields[i]);
	cJSON_DeleteItemFromObjectCaseSensitive(md, "namespace");
	if (ns && !cJSON_AddStringToObject(md, "namespace", ns)) {
		snprintf(err, len, "out of memory");
		cJSON_Delete(obj);
		return NULL;
	}
	return obj;
}

int kmirror_service_ips(cJSON *spec, const char *vip, const char *vip6)
{
	const cJSON *fam0 =
	    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(spec, "ipFamilies"), 0);
	const cJSON *ip0 =
	    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(spec, "clusterIPs"), 0);
	/*
	 * As the API server completes it: clusterIPs and ipFamilies in the order the Service's
	 * ipFamilies (or, without them, its clusterIPs) ask, the cluster's primary family (IPv4)
	 * first when they do not; clusterIP the first; a SingleStack IPv6 Service's IPv6 alone.
	 */
	const bool six_first =
	    vip && vip6 &&
	    (cJSON_IsString(fam0) ? !strcmp(fam0->valuestring, "IPv6")
				  : cJSON_IsString(ip0) && strchr(ip0->valuestring, ':'));
	const char *ips[2] = {vip ? vip : vip6, vip ? vip6 : NULL};
	const char *fams[2] = {vip ? "IPv4" : "IPv6", "IPv6"};
	const int n = ips[1] ? 2 : 1;
	cJSON *arr;

	if (six_first) {
		ips[0] = vip6;
		ips[1] = vip;
		fams[0] = "IPv6";
		fams[1] = "IPv4";
	}
	cJSON_DeleteItemFromObjectCaseSensitive(spec, "clusterIP");
	cJSON_DeleteItemFromObjectCaseSensitive(spec, "clusterIPs");
	if (!cJSON_AddStringToObject(spec, "clusterIP", ips[0]) ||
	    !(arr = cJSON_CreateStringArray(ips, n)) ||
	    !cJSON_AddItemToObject(spec, "clusterIPs", arr))
		return -ENOMEM;
	cJSON_DeleteItemFromObjectCaseSensitive(spec, "ipFamilies");
	if (!(arr = cJSON_CreateStringArray(fams, n)) ||
	    !cJSON_AddItemToObject(spec, "ipFamilies", arr))
		return -ENOMEM;
	if (!cJSON_GetObjectItemCaseSensitive(spec, "ipFamilyPolicy") &&
	    !cJSON_AddStringToObject(spec, "ipFamilyPolicy", "SingleStack"))
		return -ENOMEM;
	return 0;
}

int kmirror_service_lb(cJSON *svc, const char *lb, const char *lb6)
{
	const char *ips[2] = {lb, lb6};
	cJSON *st, *lbo, *ing;

	cJSON_DeleteItemFromObjectCaseSensitive(svc, "status");
	if (!(st = cJSON_AddObjectToObject(svc, "status")) ||
	    !(lbo = cJSON_AddObjectToObject(st, "loadBalancer")))
		return -ENOMEM;
	for (int i = 0; i < 2; i++) {
		cJSON *one;

		if (!ips[i] || !*ips[i])
			continue;
		ing = cJSON_GetObjectItemCaseSensitive(lbo, "ingress");
		if ((!ing && !(ing = cJSON_AddArrayToObject(lbo, "ingress"))) ||
		    !(one = cJSON_CreateObject()) || !cJSON_AddItemToArray(ing, one) ||
		    !cJSON_AddStringToObject(one, "ip", ips[i]) ||
		    !cJSON_AddStringToObject(one, "ipMode", "VIP"))
			return -ENOMEM;
	}
	return 0;
}

int kmirror_service_ip(cJSON *svc, const char *vip, const char *vip6)
{
	cJSON *spec = cJSON_GetObjectItemCaseSensitive(svc, "spec");
	const char *type = kjson_str(svc, "spec", "type"),
		   *cur = kjson_str(svc, "spec", "clusterIP");

	if ((!vip && !vip6) || (type && !strcmp(type, "ExternalName")) || (cur && *cur))
		return 0;
	if (!cJSON_IsObject(spec)) {
		cJSON_DeleteItemFromObjectCaseSensitive(svc, "spec");
		if (!(spec = cJSON_AddObjectToObject(svc, "spec")))
			return -ENOMEM;
	}
	return kmirror_service_ips(spec, vip, vip6);
}

/* @obj's metadata.@map as an object, made (replacing a null or a scalar) when absent. */
static cJSON *meta_map(cJSON *obj, const char *map)
{
	cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	cJSON *m = cJSON_GetObjectItemCaseSensitive(md, map);

	if (!cJSON_IsObject(md))
		return NULL;
	if (cJSON_IsObject(m))
		return m;
	cJSON_DeleteItemFromObjectCaseSensitive(md, map);
	return cJSON_AddObjectToObject(md, map);
}

/* metadata.@map[@key] of @obj as a string (borrowed), or NULL. */
static const char *meta_get(const cJSON *obj, const char *map, const char *key)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *v =
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(md, map), key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int kmirror_seal(cJSON *obj)
{
	cJSON *labels = meta_map(obj, "labels"), *annots;
	unsigned char md[32];
	char hex[KMIRROR_HASH_LEN + 1], *text;

	if (!labels)
		return cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(obj, "metadata")) ? -ENOMEM
											 : -EINVAL;
	cJSON_DeleteItemFromObjectCaseSensitive(labels, KMIRROR_LABEL);
	if (!cJSON_AddStringToObject(labels, KMIRROR_LABEL, KMIRROR_LABEL_VALUE))
		return -ENOMEM;
	/*
	 * A hash of its own, not of one the object came with (copied from a server): hashed as
	 * if it never had one.
	 */
	annots = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"),
						  "annotations");
	if (cJSON_GetObjectItemCaseSensitive(annots, KMIRROR_HASH_ANNOTATION)) {
		cJSON_DeleteItemFromObjectCaseSensitive(annots, KMIRROR_HASH_ANNOTATION);
		if (!annots->child)
			cJSON_DeleteItemFromObjectCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "annotations");
	}
	text = cJSON_PrintUnformatted(obj);
	if (!text)
		return -ENOMEM;
	sha256_text(text, md);
	free(text);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	annots = meta_map(obj, "annotations");
	if (!annots || !cJSON_AddStringToObject(annots, KMIRROR_HASH_ANNOTATION, hex))
		return -ENOMEM;
	return 0;
}

enum kmirror_action kmirror_decide(const cJSON *want, const cJSON *have)
{
	const char *label = have ? meta_get(have, "labels", KMIRROR_LABEL) : NULL;
	const char *want_hash, *have_hash, *ip;

	/* Not the mirror's (install's, the agents' Events): as if it were not there. */
	if (!label || strcmp(label, KMIRROR_LABEL_VALUE))
		return want ? KMIRROR_CREATE : KMIRROR_KEEP;
	if (!want)
		return KMIRROR_DELETE;
	want_hash = meta_get(want, "annotations", KMIRROR_HASH_ANNOTATION);
	have_hash = meta_get(have, "annotations", KMIRROR_HASH_ANNOTATION);
	if (!want_hash || !have_hash || strcmp(want_hash, have_hash))
		return KMIRROR_UPDATE;
	/*
	 * Only the address is compared: a server adds status fields of its own (startTime,
	 * containerStatuses) that would otherwise make every apply write it again.
	 */
	ip = kjson_str(want, "status", "podIP");
	if (ip &&
	    (!kjson_str(have, "status", "podIP") || strcmp(ip, kjson_str(have, "status", "podIP"))))
		return KMIRROR_STATUS;
	return KMIRROR_KEEP;
}

int kmirror_rank(const char *kind)
{
	static const char *const order[] = {"Namespace", "CustomResourceDefinition",
					    "ServiceAccount"};

	for (int i = 0; i < 3; i++)
		if (!strcmp(kind, order[i]))
			return i;
	return !strcmp(kind, "Pod") ? 4 : 3;
}

/* A condition {type, status, reason, message} appended to @conds. */
static bool add_condition(cJSON *conds, const char *type, bool ok, const char *reason,
			  const char *msg)
{
	cJSON *c = cJSON_CreateObject();

	if (!c || !cJSON_AddItemToArray(conds, c)) {
		cJSON_Delete(c);
		return false;
	}
	return cJSON_AddStringToObject(c, "type", type) &&
	       cJSON_AddStringToObject(c, "status", ok ? "True" : "False") &&
	       cJSON_AddStringToObject(c, "reason", reason) &&
	       cJSON_AddStringToObject(c, "message", msg);
}

cJSON *kmirror_deployment_status(const struct ctl_pod *pods, size_t npods, const char *ns,
				 const char *name, int replicas, double generation)
{
	int have = 0, ready = 0;

	for (size_t i = 0; i < npods; i++) {
		if (!pods[i].owner || strcmp(pods[i].owner, name) || strcmp(pods[i].namespace, ns))
			continue;
		have++;
		ready += pods[i].started;
	}
	return kmirror_replicas_status(ns, name, replicas, have, ready, generation);
}

cJSON *kmirror_replicas_status(const char *ns, const char *name, int replicas, int have, int ready,
			       double generation)
{
	cJSON *st = cJSON_CreateObject(), *conds;
	char rs[300], msg[400];

	if (kmirror_replicaset(ns, name, rs, sizeof(rs)))
		rs[0] = '\0';
	/*
	 * What `kubectl rollout status` reads: observed at the object's generation, every replica
	 * of the one ReplicaSet updated, the ready ones available.
	 */
	if (!st || !cJSON_AddNumberToObject(st, "observedGeneration", generation) ||
	    !cJSON_AddNumberToObject(st, "replicas", have) ||
	    !cJSON_AddNumberToObject(st, "updatedReplicas", have) ||
	    !cJSON_AddNumberToObject(st, "readyReplicas", ready) ||
	    !cJSON_AddNumberToObject(st, "availableReplicas", ready) ||
	    !cJSON_AddNumberToObject(st, "unavailableReplicas", have - ready) ||
	    !(conds = cJSON_AddArrayToObject(st, "conditions")))
		goto fail;
	snprintf(msg, sizeof(msg), "ReplicaSet \"%s\" %s.", rs,
		 ready == have ? "has successfully progressed" : "is progressing");
	if (!add_condition(conds, "Available", ready >= replicas,
			   ready >= replicas ? "MinimumReplicasAvailable"
					     : "MinimumReplicasUnavailable",
			   ready >= replicas ? "Deployment has minimum availability."
					     : "Deployment does not have minimum availability.") ||
	    !add_condition(conds, "Progressing", true,
			   ready == have ? "NewReplicaSetAvailable" : "ReplicaSetUpdated", msg))
		goto fail;
	return st;
fail:
	cJSON_Delete(st);
	return NULL;
}

cJSON *kmirror_daemonset_status(int desired, int current, int ready, double generation)
{
	cJSON *st = cJSON_CreateObject();

	/*
	 * As the DaemonSet controller writes it: what `kubectl get ds` shows (DESIRED, CURRENT,
	 * READY, UP-TO-DATE, AVAILABLE) and `kubectl rollout status ds` waits for (updated and
	 * available as many as desired, at the object's generation). One pod template: every
	 * scheduled pod is up to date.
	 */
	if (!st || !cJSON_AddNumberToObject(st, "observedGeneration", generation) ||
	    !cJSON_AddNumberToObject(st, "desiredNumberScheduled", desired) ||
	    !cJSON_AddNumberToObject(st, "currentNumberScheduled", current) ||
	    !cJSON_AddNumberToObject(st, "numberMisscheduled", 0) ||
	    !cJSON_AddNumberToObject(st, "numberReady", ready) ||
	    !cJSON_AddNumberToObject(st, "updatedNumberScheduled", current) ||
	    !cJSON_AddNumberToObject(st, "numberAvailable", ready) ||
	    (desired > ready &&
	     !cJSON_AddNumberToObject(st, "numberUnavailable", desired - ready))) {
		cJSON_Delete(st);
		return NULL;
	}
	return st;
}

/* Removes metadata.@map[@key] of @obj, and the map once empty when @drop_empty. */
static void meta_remove(cJSON *obj, const char *map, const char *key, bool drop_empty)
{
	cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	cJSON *m = cJSON_GetObjectItemCaseSensitive(md, map);

	cJSON_DeleteItemFromObjectCaseSensitive(m, key);
	if (drop_empty && cJSON_IsObject(m) && !m->child)
		cJSON_DeleteItemFromObjectCaseSensitive(md, map);
}

/* Whether @obj (stripped, unsealed) sealed has hash @hash. */
static bool seals_to(const cJSON *obj, const char *hash)
{
	cJSON *check = cJSON_Duplicate(obj, true);
	const char *got;
	bool same;

	if (!check || kmirror_seal(check)) {
		cJSON_Delete(check);
		return false;
	}
	got = meta_get(check, "annotations", KMIRROR_HASH_ANNOTATION);
	same = got && !strcmp(got, hash);
	cJSON_Delete(check);
	return same;
}

/* Whether @obj (as kmirror_import makes it) seals to @hash, a Namespace with or without the
 * label its server's strategy gives it (its own name). */
static bool holds(const cJSON *obj, const cJSON *have, const char *hash)
{
	const char *name = meta_get(have, "labels", "kubernetes.io/metadata.name");
	const char *kind = kjson_str(have, "kind", NULL);
	bool same;

	if (seals_to(obj, hash))
		return true;
	if (!name || !kind || strcmp(kind, "Namespace"))
		return false;
	cJSON *bare = cJSON_Duplicate(obj, true);

	meta_remove(bare, "labels", "kubernetes.io/metadata.name", false);
	same = bare && seals_to(bare, hash);
	cJSON_Delete(bare);
	return same;
}

cJSON *kmirror_import(const cJSON *have, bool *same)
{
	const char *label = meta_get(have, "labels", KMIRROR_LABEL);
	const char *hash = meta_get(have, "annotations", KMIRROR_HASH_ANNOTATION);
	cJSON *obj = cJSON_Duplicate(have, true), *md;

	*same = false;
	md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	if (!obj || !cJSON_IsObject(md)) {
		cJSON_Delete(obj);
		errno = obj ? EINVAL : ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < sizeof(server_fields) / sizeof(server_fields[0]); i++)
		cJSON_DeleteItemFromObjectCaseSensitive(md, server_fields[i]);
	cJSON_DeleteItemFromObjectCaseSensitive(obj, "status");
	/*
	 * As kmirror_seal leaves them before it hashes: the label's map kept (in its place), the
	 * annotations' dropped once the hash was all it held.
	 */
	meta_remove(obj, "labels", KMIRROR_LABEL, false);
	meta_remove(obj, "annotations", KMIRROR_HASH_ANNOTATION, true);
	if (!label || strcmp(label, KMIRROR_LABEL_VALUE) || !hash)
		return obj; /* another hand's: all of it is news */
	*same = holds(obj, have, hash);
	return obj;
}

int kmirror_holds(const cJSON *have, const cJSON *want)
{
	const char *hash = meta_get(want, "annotations", KMIRROR_HASH_ANNOTATION);
	bool ignored;
	cJSON *obj;
	int ret;

	if (!hash)
		return 0;
	obj = kmirror_import(have, &ignored);
	if (!obj)
		return -errno;
	ret = holds(obj, have, hash);
	cJSON_Delete(obj);
	return ret;
}
