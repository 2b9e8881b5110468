// SPDX-License-Identifier: Apache-2.0
/* Each node's Lease: its capture mode and version, renewed (klease.h). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "ambit/log.h"
#include "klease.h"
#include "kmanifest.h"

#define CALL_TIMEOUT_MS 5000
#define RESP_MAX (64 << 10)

struct klease {
	struct kconn conn;
	char *node, *version, *ns;
	char path[600], coll[400],
	    what[700]; /* the Lease's path, its collection's, "Lease ns/name" */
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, started;
	char mode[16];	      /* the mode to post ("" unknown), under mu */
	bool mode_changed;    /* renew at once, under mu */
	char posted_mode[16]; /* what the last renewal posted, thread only */
	bool failing;	      /* the last renewal failed (said once) */
	bool ever_renewed;
};

int klease_time_format(time_t t, long usec, char *buf, size_t len)
{
	struct tm tm;
	char day[32];
	int n;

	if (!gmtime_r(&t, &tm) || !strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm))
		return -EINVAL;
	n = snprintf(buf, len, "%s.%06ldZ", day, usec);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int klease_time_parse(const char *s, time_t *t)
{
	struct tm tm = {0};
	int used = 0;

	if (!s ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6 ||
	    used != 19)
		return -EINVAL;
	s += used;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++)
			;
	if (strcmp(s, "Z") || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon--;
	*t = timegm(&tm);
	return 0;
}

/* Sets @key of object @parent (made when absent) to string @val, or removes it (@val NULL). */
static bool set_str(cJSON *parent, const char *obj, const char *key, const char *val)
{
	cJSON *o = cJSON_GetObjectItemCaseSensitive(parent, obj);

	if (!cJSON_IsObject(o)) {
		cJSON_DeleteItemFromObjectCaseSensitive(parent, obj);
		if (!val)
			return true;
		o = cJSON_AddObjectToObject(parent, obj);
		if (!o)
			return false;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(o, key);
	return !val || cJSON_AddStringToObject(o, key, val);
}

cJSON *klease_object(const cJSON *cur, const char *ns, const char *node, const char *mode,
		     const char *version, time_t now, long usec)
{
	cJSON *l = cur ? cJSON_Duplicate(cur, true) : cJSON_CreateObject(), *md, *spec;
	const char *holder = cur ? kjson_str(cur, "spec", "holderIdentity") : NULL,
		   *acquired = cur ? kjson_str(cur, "spec", "acquireTime") : NULL;
	char name[300], ts[40], acq[40];
	bool ok;

	if (!l)
		return NULL;
	snprintf(name, sizeof(name), KLEASE_NAME_PREFIX "%s", node);
	if (klease_time_format(now, usec, ts, sizeof(ts)))
		goto fail;
	/* Held on: the first acquisition's time stays, as the kubelet keeps its node's. */
	snprintf(acq, sizeof(acq), "%s",
		 holder && acquired && !strcmp(holder, node) ? acquired : ts);
	cJSON_DeleteItemFromObjectCaseSensitive(l, "apiVersion");
	cJSON_DeleteItemFromObjectCaseSensitive(l, "kind");
	md = cJSON_GetObjectItemCaseSensitive(l, "metadata");
	if (!cJSON_IsObject(md)) {
		cJSON_DeleteItemFromObjectCaseSensitive(l, "metadata");
		md = cJSON_AddObjectToObject(l, "metadata");
	}
	spec = cJSON_GetObjectItemCaseSensitive(l, "spec");
	if (!cJSON_IsObject(spec)) {
		cJSON_DeleteItemFromObjectCaseSensitive(l, "spec");
		spec = cJSON_AddObjectToObject(l, "spec");
	}
	if (!md || !spec)
		goto fail;
	cJSON_DeleteItemFromObjectCaseSensitive(spec, "leaseDurationSeconds");
	ok = cJSON_AddStringToObject(l, "apiVersion", "coordination.k8s.io/v1") &&
	     cJSON_AddStringToObject(l, "kind", "Lease") && set_str(l, "metadata", "name", name) &&
	     (cur || set_str(l, "metadata", "namespace", ns)) &&
	     set_str(md, "labels", "app.kubernetes.io/part-of", "ambit") &&
	     set_str(md, "labels", "app.kubernetes.io/component", "node-agent") &&
	     set_str(md, "annotations", KLEASE_ANN_MODE, mode) &&
	     set_str(md, "annotations", KLEASE_ANN_VERSION, version) &&
	     set_str(l, "spec", "holderIdentity", node) &&
	     cJSON_AddNumberToObject(spec, "leaseDurationSeconds", KLEASE_DURATION_S) &&
	     set_str(l, "spec", "acquireTime", acq) && set_str(l, "spec", "renewTime", ts);
	if (ok)
		return l;
fail:
	cJSON_Delete(l);
	return NULL;
}

int klease_read(const cJSON *lease, struct klease_info *out)
{
	const char *name = kjson_str(lease, "metadata", "name"),
		   *holder = kjson_str(lease, "spec", "holderIdentity"),
		   *ns = kjson_str(lease, "metadata", "namespace"), *mode, *ver, *renew;
	const cJSON *ann, *dur;
	size_t plen = strlen(KLEASE_NAME_PREFIX);

	memset(out, 0, sizeof(*out));
	if (!name)
		return -EINVAL;
	ann = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(lease, "metadata"),
					       "annotations");
	mode = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ann, KLEASE_ANN_MODE));
	ver = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ann, KLEASE_ANN_VERSION));
	renew = kjson_str(lease, "spec", "renewTime");
	dur = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(lease, "spec"),
					       "leaseDurationSeconds");
	if (holder && *holder)
		snprintf(out->node, sizeof(out->node), "%s", holder);
	else
		snprintf(out->node, sizeof(out->node), "%s",
			 strncmp(name, KLEASE_NAME_PREFIX, plen) ? name : name + plen);
	snprintf(out->ns, sizeof(out->ns), "%s", ns ? ns : "");
	snprintf(out->mode, sizeof(out->mode), "%s", mode ? mode : "");
	snprintf(out->version, sizeof(out->version), "%s", ver ? ver : "");
	out->renewed = renew && !klease_time_parse(renew, &out->renew_time);
	out->duration = cJSON_IsNumber(dur) && dur->valuedouble > 0 ? (long)dur->valuedouble : 0;
	return 0;
}

bool klease_ready(const struct klease_info *i, time_t now)
{
	return i->renewed && i->duration > 0 && i->renew_time + i->duration > now;
}

void klease_age(long long secs, char *buf, size_t len)
{
	long long m = secs / 60, h = secs / 3600, d = h / 24;

	/* k8s.io/apimachinery/pkg/util/duration.HumanDuration, as kubectl's AGE column. */
	if (secs < 0)
		snprintf(buf, len, "0s");
	else if (secs < 120)
		snprintf(buf, len, "%llds", secs);
	else if (m < 10 && secs % 60)
		snprintf(buf, len, "%lldm%llds", m, secs % 60);
	else if (m < 180)
		snprintf(buf, len, "%lldm", m);
	else if (h < 8 && m % 60)
		snprintf(buf, len, "%lldh%lldm", h, m % 60);
	else if (h < 48)
		snprintf(buf, len, "%lldh", h);
	else if (h < 24 * 8 && h % 24)
		snprintf(buf, len, "%lldd%lldh", d, h % 24);
	else if (h < 24 * 365 * 2)
		snprintf(buf, len, "%lldd", d);
	else if (h < 24 * 365 * 8 && d % 365)
		snprintf(buf, len, "%lldy%lldd", d / 365, d % 365);
	else
		snprintf(buf, len, "%lldy", d / 365);
}

/* One write of the Lease: "" when it took, else why not in @why. */
static long put_or_post(struct klease *kl, const char *mode, char *why, size_t wlen)
{
	char err[512] = "", *resp = NULL, *body = NULL;
	struct timespec now;
	cJSON *cur = NULL, *obj = NULL;
	long code = 0;

	/* Twice at most: a 409 means another writer came between the read and the write. */
	for (int attempt = 0; attempt < 2; attempt++) {
		bool exists;

		free(resp);
		resp = NULL;
		code = kconn_call(&kl->conn, "GET", kl->path, NULL, &resp, RESP_MAX,
				  CALL_TIMEOUT_MS, err, sizeof(err));
		if (code != 200 && code != 404)
			break;
		exists = code == 200;
		cJSON_Delete(cur);
		cur = exists ? cJSON_Parse(resp) : NULL;
		if (exists && !cur) {
			code = -1;
			snprintf(err, sizeof(err), "unreadable answer to GET");
			break;
		}
		clock_gettime(CLOCK_REALTIME, &now);
		cJSON_Delete(obj);
		obj = klease_object(cur, kl->ns, kl->node, *mode ? mode : NULL, kl->version,
				    now.tv_sec, now.tv_nsec / 1000);
		free(body);
		body = obj ? cJSON_PrintUnformatted(obj) : NULL;
		if (!body) {
			code = -1;
			snprintf(err, sizeof(err), "out of memory");
			break;
		}
		free(resp);
		resp = NULL;
		code = kconn_call(&kl->conn, exists ? "PUT" : "POST", exists ? kl->path : kl->coll,
				  body, &resp, RESP_MAX, CALL_TIMEOUT_MS, err, sizeof(err));
		if (code != 409)
			break;
		pthread_mutex_lock(&kl->mu);
		if (kl->stop)
			attempt = 2;
		pthread_mutex_unlock(&kl->mu);
	}
	if (code > 0 && code != 200 && code != 201)
		snprintf(why, wlen, "HTTP %ld: %.300s", code, resp ? resp : "");
	else if (code <= 0)
		snprintf(why, wlen, "%s", err);
	else
		why[0] = '\0';
	cJSON_Delete(cur);
	cJSON_Delete(obj);
	free(body);
	free(resp);
	return code;
}

static void renew(struct klease *kl, const char *mode)
{
	char why[600];

	kconn_refresh_token(&kl->conn);
	put_or_post(kl, mode, why, sizeof(why));
	if (*why) {
		/* Once per outage: the next period tries again, quietly until it works. */
		if (!kl->failing)
			pr_warn("kubernetes: %s: cannot renew (%s); tried again every %d s",
				kl->what, why, KLEASE_RENEW_S);
		kl->failing = true;
		return;
	}
	if (kl->failing || !kl->ever_renewed || strcmp(kl->posted_mode, mode))
		pr_info("kubernetes: %s renewed%s (capture mode %s, every %d s)", kl->what,
			kl->failing ? " again" : "", *mode ? mode : "not known yet",
			KLEASE_RENEW_S);
	kl->failing = false;
	kl->ever_renewed = true;
	snprintf(kl->posted_mode, sizeof(kl->posted_mode), "%s", mode);
}

static void *run(void *arg)
{
	struct klease *kl = arg;
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&kl->mu);
	while (!kl->stop) {
		struct timespec now;
		char mode[sizeof(kl->mode)];

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!kl->mode_changed &&
		    (now.tv_sec < next.tv_sec ||
		     (now.tv_sec == next.tv_sec && now.tv_nsec < next.tv_nsec))) {
			pthread_cond_timedwait(&kl->cv, &kl->mu, &next);
			continue;
		}
		kl->mode_changed = false;
		memcpy(mode, kl->mode, sizeof(mode));
		pthread_mutex_unlock(&kl->mu);
		renew(kl, mode);
		clock_gettime(CLOCK_MONOTONIC, &next);
		next.tv_sec += KLEASE_RENEW_S;
		pthread_mutex_lock(&kl->mu);
	}
	pthread_mutex_unlock(&kl->mu);
	return NULL;
}

struct klease *klease_start(const struct kconn *conn, const char *node, const char *version,
			    const char *mode)
{
	struct klease *kl = calloc(1, sizeof(*kl));
	pthread_condattr_t ca;
	int err = ENOMEM;

	if (!kl)
		return NULL;
	pthread_mutex_init(&kl->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&kl->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (kconn_copy(&kl->conn, conn))
		goto fail;
	kl->node = strdup(node);
	kl->version = strdup(version);
	kl->ns = strdup(kconn_namespace(conn));
	if (!kl->node || !kl->version || !kl->ns)
		goto fail;
	snprintf(kl->mode, sizeof(kl->mode), "%s", mode ? mode : "");
	snprintf(kl->coll, sizeof(kl->coll), KLEASE_API "/namespaces/%s/leases", kl->ns);
	snprintf(kl->path, sizeof(kl->path), "%s/" KLEASE_NAME_PREFIX "%s", kl->coll, node);
	snprintf(kl->what, sizeof(kl->what), "Lease %s/" KLEASE_NAME_PREFIX "%s", kl->ns, node);
	err = pthread_create(&kl->th, NULL, run, kl);
	if (err)
		goto fail;
	kl->started = true;
	return kl;
fail:
	klease_stop(kl);
	errno = err;
	return NULL;
}

void klease_set_mode(struct klease *kl, const char *mode)
{
	if (!kl)
		return;
	pthread_mutex_lock(&kl->mu);
	if (strcmp(kl->mode, mode ? mode : "")) {
		snprintf(kl->mode, sizeof(kl->mode), "%s", mode ? mode : "");
		kl->mode_changed = true;
		pthread_cond_signal(&kl->cv);
	}
	pthread_mutex_unlock(&kl->mu);
}

void klease_stop(struct klease *kl)
{
	if (!kl)
		return;
	if (kl->started) {
		pthread_mutex_lock(&kl->mu);
		kl->stop = true;
		pthread_cond_signal(&kl->cv);
		pthread_mutex_unlock(&kl->mu);
		pthread_join(kl->th, NULL);
	}
	pthread_mutex_destroy(&kl->mu);
	pthread_cond_destroy(&kl->cv);
	kconn_free(&kl->conn);
	free(kl->node);
	free(kl->version);
	free(kl->ns);
	free(kl);
}
