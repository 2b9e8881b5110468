// SPDX-License-Identifier: Apache-2.0
/*
 * A remote cluster read through its API server (remote.h): a thread of its own LISTs what the
 * summary needs (namespaces, Services, Pods, Gateway API Gateways) every REMOTE_LIST_S with the
 * remote secret's credentials, and hands the agent's loop the lists when they changed; the loop
 * never waits on another cluster's API server. The lists are then turned into what a local
 * cluster's directory holds (objects, and a pod list in pods.json's shape) and read as one.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "ambit/log.h"
#include "k8s/kconn.h"
#include "remote.h"

/* How often the lists are taken: a remote change shows within it (and the loop's second). */
#define REMOTE_LIST_S 2
/* One LIST's deadline, and the largest answer taken (a cluster of 10,000 pods fits). */
#define REMOTE_LIST_TIMEOUT_MS 5000
#define REMOTE_LIST_MAX (256u << 20)

struct remote_api {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct kconn conn;
	char *name;
	/* Under @lock: */
	bool stop;
	char *lists;	 /* the newest lists not taken yet, or NULL */
	char error[300]; /* the last round's failure, "" when it succeeded */
	bool tried;	 /* a round ended */
};

static const struct {
	const char *key, *path, *api_version, *kind;
	bool optional; /* an absent resource (its CRD not installed) is an empty list */
} lists[] = {
    {"namespaces", "/api/v1/namespaces", "v1", "Namespace", false},
    {"services", "/api/v1/services", "v1", "Service", false},
    {"pods", "/api/v1/pods", "v1", "Pod", false},
    {"gateways", "/apis/gateway.networking.k8s.io/v1/gateways", "gateway.networking.k8s.io/v1",
     "Gateway", true},
};

static void api_free(struct remote_api *ra)
{
	kconn_free(&ra->conn);
	free(ra->name);
	free(ra->lists);
	pthread_mutex_destroy(&ra->lock);
	pthread_cond_destroy(&ra->wake);
	free(ra);
}

/* One round: every list into one object {"namespaces": [...], ...}, as text. NULL + @err. */
static char *list_all(struct remote_api *ra, char *err, size_t errlen)
{
	cJSON *all = cJSON_CreateObject();
	char *text = NULL;

	for (size_t i = 0; all && i < sizeof(lists) / sizeof(lists[0]); i++) {
		char *resp = NULL, why[200] = "";
		long st = kconn_call(&ra->conn, "GET", lists[i].path, NULL, &resp, REMOTE_LIST_MAX,
				     REMOTE_LIST_TIMEOUT_MS, why, sizeof(why));
		cJSON *doc = st == 200 ? cJSON_Parse(resp) : NULL;
		cJSON *items = cJSON_DetachItemFromObjectCaseSensitive(doc, "items");

		free(resp);
		if (st == 404 && lists[i].optional)
			items = cJSON_CreateArray();
		if (!cJSON_IsArray(items)) {
			if (st == 0)
				snprintf(err, errlen, "%s: %s", lists[i].path, why);
			else if (st == 200)
				snprintf(err, errlen, "%s: not a list", lists[i].path);
			else
				snprintf(err, errlen, "%s: HTTP %ld%s", lists[i].path, st,
					 st == 401 || st == 403 ? " (the secret's credentials)"
								: "");
			cJSON_Delete(items);
			cJSON_Delete(doc);
			cJSON_Delete(all);
			return NULL;
		}
		cJSON_Delete(doc);
		if (!cJSON_AddItemToObject(all, lists[i].key, items)) {
			cJSON_Delete(items);
			break;
		}
	}
	if (all)
		text = cJSON_PrintUnformatted(all);
	cJSON_Delete(all);
	if (!text)
		snprintf(err, errlen, "out of memory");
	return text;
}

static void *api_thread(void *arg)
{
	struct remote_api *ra = arg;
	char *last = NULL;

	kconn_keep_alive(&ra->conn);
	for (;;) {
		char err[300] = "", *text = list_all(ra, err, sizeof(err));
		struct timespec until;

		pthread_mutex_lock(&ra->lock);
		if (ra->stop) {
			pthread_mutex_unlock(&ra->lock);
			free(text);
			break;
		}
		/*
		 * Only what changed goes to the loop (a LIST's order is stable), and the first
		 * answer after a failure, changed or not: the loop clears the failure with it.
		 */
		bool recovered = text && ra->error[0];

		snprintf(ra->error, sizeof(ra->error), "%s", err);
		if (text && (!last || strcmp(last, text) || recovered)) {
			free(ra->lists);
			ra->lists = strdup(text);
			free(last);
			last = text;
		} else {
			free(text);
		}
		ra->tried = true;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += REMOTE_LIST_S;
		while (!ra->stop &&
		       pthread_cond_timedwait(&ra->wake, &ra->lock, &until) != ETIMEDOUT)
			;
		if (ra->stop) {
			pthread_mutex_unlock(&ra->lock);
			break;
		}
		pthread_mutex_unlock(&ra->lock);
	}
	free(last);
	api_free(ra);
	return NULL;
}

struct remote_api *remote_api_start(const char *name, const char *kubeconfig, size_t len, char *why,
				    size_t wlen)
{
	struct remote_api *ra = calloc(1, sizeof(*ra));
	pthread_attr_t attr;
	int err;

	if (!ra) {
		snprintf(why, wlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&ra->lock, NULL);
	pthread_cond_init(&ra->wake, NULL);
	if (kconn_kubeconfig_text(&ra->conn, name, kubeconfig, len, why, wlen) ||
	    !(ra->name = strdup(name))) {
		if (!ra->name && !why[0])
			snprintf(why, wlen, "out of memory");
		api_free(ra);
		return NULL;
	}
	/* The thread owns @ra once remote_api_stop lets go of it. */
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&ra->thread, &attr, api_thread, ra);
	pthread_attr_destroy(&attr);
	if (err) {
		snprintf(why, wlen, "cannot start its reader: %s", strerror(err));
		api_free(ra);
		return NULL;
	}
	return ra;
}

bool remote_api_pending(struct remote_api *ra)
{
	bool p;

	pthread_mutex_lock(&ra->lock);
	p = ra->lists != NULL || (ra->tried && ra->error[0]);
	pthread_mutex_unlock(&ra->lock);
	return p;
}

char *remote_api_take(struct remote_api *ra, char *err, size_t errlen)
{
	char *lists;

	pthread_mutex_lock(&ra->lock);
	lists = ra->lists;
	ra->lists = NULL;
	snprintf(err, errlen, "%s", ra->error);
	/* A failure is told once: pending again only with a new round's. */
	ra->tried = false;
	pthread_mutex_unlock(&ra->lock);
	return lists;
}

void remote_api_stop(struct remote_api *ra)
{
	if (!ra)
		return;
	pthread_mutex_lock(&ra->lock);
	ra->stop = true;
	pthread_cond_signal(&ra->wake);
	pthread_mutex_unlock(&ra->lock);
}

/* ---- the lists as a local cluster's directory holds them ---- */

static const char *str_at(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* @svc's status.loadBalancer.ingress addresses into pods.json's loadBalancerIPs(6). */
static bool add_lb(cJSON *rt, const cJSON *svc, const char *key)
{
	const cJSON *ing = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(svc, "status"),
					     "loadBalancer"),
	    "ingress");
	const cJSON *it;

	cJSON_ArrayForEach(it, ing)
	{
		const char *ip = str_at(it, "ip", NULL);
		const char *field = ip && strchr(ip, ':') ? "loadBalancerIPs6" : "loadBalancerIPs";
		cJSON *m = cJSON_GetObjectItemCaseSensitive(rt, field);

		if (!ip || (m && cJSON_GetObjectItemCaseSensitive(m, key)))
			continue;
		if (!m && !(m = cJSON_AddObjectToObject(rt, field)))
			return false;
		if (!cJSON_AddStringToObject(m, key, ip))
			return false;
	}
	return true;
}

/* A running pod with an address as pods.json lists it. */
static bool add_pod(cJSON *pods, const cJSON *pod)
{
	const char *ns = str_at(pod, "metadata", "namespace"),
		   *name = str_at(pod, "metadata", "name");
	const char *node = str_at(pod, "spec", "nodeName"), *phase = str_at(pod, "status", "phase");
	const char *sa = str_at(pod, "spec", "serviceAccountName");
	const cJSON *ips = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(pod, "status"), "podIPs");
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(pod, "metadata"), "labels");
	const cJSON *it;
	cJSON *p;
	bool any = false;

	if (!ns || !name || !node || !phase || strcmp(phase, "Running") ||
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pod, "metadata"),
					     "deletionTimestamp") ||
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(pod, "spec"), "hostNetwork")))
		return true;
	p = cJSON_CreateObject();
	if (!p || !cJSON_AddItemToArray(pods, p)) {
		cJSON_Delete(p);
		return false;
	}
	if (!cJSON_AddStringToObject(p, "namespace", ns) ||
	    !cJSON_AddStringToObject(p, "name", name) ||
	    !cJSON_AddStringToObject(p, "node", node) ||
	    (sa && !cJSON_AddStringToObject(p, "serviceAccount", sa)) ||
	    (labels && !cJSON_AddItemToObject(p, "labels", cJSON_Duplicate(labels, true))))
		return false;
	cJSON_ArrayForEach(it, ips)
	{
		const char *ip = str_at(it, "ip", NULL);
		const char *field = ip && strchr(ip, ':') ? "ip6" : "ip";

		if (!ip || cJSON_GetObjectItemCaseSensitive(p, field))
			continue;
		if (!cJSON_AddStringToObject(p, field, ip))
			return false;
		any = true;
	}
	if (!any) /* no address yet: not a workload */
		cJSON_DeleteItemFromArray(pods, cJSON_GetArraySize(pods) - 1);
	return true;
}

/* A Service's cluster IPs into pods.json's serviceIPs(6). */
static bool add_service_ips(cJSON *rt, const cJSON *svc, const char *key)
{
	const cJSON *ips = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(svc, "spec"), "clusterIPs");
	const cJSON *it;

	cJSON_ArrayForEach(it, ips)
	{
		const char *ip = cJSON_IsString(it) ? it->valuestring : NULL;
		const char *field = ip && strchr(ip, ':') ? "serviceIPs6" : "serviceIPs";
		cJSON *m;

		if (!ip || !strcmp(ip, "None"))
			continue;
		m = cJSON_GetObjectItemCaseSensitive(rt, field);
		if (!m && !(m = cJSON_AddObjectToObject(rt, field)))
			return false;
		if (!cJSON_GetObjectItemCaseSensitive(m, key) &&
		    !cJSON_AddStringToObject(m, key, ip))
			return false;
	}
	return true;
}

int remote_api_convert(const char *text, struct confstore *cs, char **pods_json, char *err,
		       size_t errlen)
{
	cJSON *all = cJSON_Parse(text), *rt = cJSON_CreateObject();
	cJSON *pods = rt ? cJSON_AddArrayToObject(rt, "pods") : NULL;
	bool ok = all && pods, changed = false;

	*pods_json = NULL;
	for (size_t i = 0; ok && i < sizeof(lists) / sizeof(lists[0]); i++) {
		cJSON *it;

		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(all, lists[i].key))
		{
			const char *ns = str_at(it, "metadata", "namespace");
			const char *name = str_at(it, "metadata", "name");
			char entry[600], key[520], *obj;

			if (!name)
				continue;
			snprintf(key, sizeof(key), "%s/%s", ns ? ns : "", name);
			snprintf(entry, sizeof(entry), "remote:%s/%s", lists[i].key, key);
			/* A LIST's items carry neither; the model wants both. */
			cJSON_DeleteItemFromObjectCaseSensitive(it, "apiVersion");
			cJSON_DeleteItemFromObjectCaseSensitive(it, "kind");
			ok = cJSON_AddStringToObject(it, "apiVersion", lists[i].api_version) &&
			     cJSON_AddStringToObject(it, "kind", lists[i].kind);
			if (ok && !strcmp(lists[i].key, "pods"))
				ok = add_pod(pods, it);
			if (ok && !strcmp(lists[i].key, "services"))
				ok = add_service_ips(rt, it, key) && add_lb(rt, it, key);
			obj = ok ? cJSON_PrintUnformatted(it) : NULL;
			ok = obj && !confstore_put(cs, entry, obj, strlen(obj), &changed);
			free(obj);
			if (!ok)
				break;
		}
	}
	if (ok)
		*pods_json = cJSON_PrintUnformatted(rt);
	if (!all)
		snprintf(err, errlen, "the lists are not JSON");
	else if (!*pods_json)
		snprintf(err, errlen, "out of memory");
	cJSON_Delete(all);
	cJSON_Delete(rt);
	return *pods_json ? 0 : -EINVAL;
}
