// SPDX-License-Identifier: Apache-2.0
/* Events for rejected objects (kevents.h). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <xxhash.h>

#include "ambit/log.h"
#include "kevents.h"
#include "kmanifest.h"

#define QUEUE_MAX 64	 /* Events waiting to be posted; more are dropped (and logged) */
#define POSTED_MAX 1024	 /* names of Events posted lately, not queued again */
#define MESSAGE_MAX 1000 /* the reasons, as Kubernetes shows them in one line */
#define POST_TIMEOUT_MS 5000

struct pending {
	char *path; /* /api/v1/namespaces/NS/events */
	char *body;
	char *what; /* "Kind ns/name", for the log */
};

struct kevents {
	struct kconn conn;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, started;
	struct pending q[QUEUE_MAX];
	size_t head, len;
	uint64_t posted[POSTED_MAX];
	size_t n_posted;
};

/* "field: reason; field: reason", errors only, cut at MESSAGE_MAX. 0 when there is none. */
static size_t reasons(const struct config_diags *d, char *buf, size_t len)
{
	size_t n = 0, off = 0;

	buf[0] = '\0';
	for (size_t i = 0; d && i < d->n; i++) {
		const struct config_diag *x = &d->items[i];
		int w;

		if (!x->error)
			continue;
		w = snprintf(buf + off, len - off, "%s%s%s%s", n ? "; " : "",
			     x->field ? x->field : "", x->field ? ": " : "",
			     x->message ? x->message : "invalid");
		n++;
		if (w < 0 || (size_t)w >= len - off) {
			off = len - 1;
			break;
		}
		off += (size_t)w;
	}
	return n;
}

/*
 * A Warning Event @reason with @msg on @obj (as served; @api_version and @kind stand in for a
 * missing TypeMeta) from @component, named @oname.<hash of @key> in namespace @ns (set here).
 */
static cJSON *warning(const cJSON *obj, const char *api_version, const char *kind,
		      const char *reason, const char *msg, const char *component, const char *key,
		      time_t now, char *ns, size_t ns_len)
{
	const char *oname = kjson_str(obj, "metadata", "name"),
		   *ons = kjson_str(obj, "metadata", "namespace"),
		   *uid = kjson_str(obj, "metadata", "uid"),
		   *rv = kjson_str(obj, "metadata", "resourceVersion"),
		   *av = kjson_str(obj, "apiVersion", NULL) ?: api_version,
		   *k = kjson_str(obj, "kind", NULL) ?: kind;
	char name[256], ts[32];
	cJSON *ev, *io, *md;
	struct tm tm;

	if (!oname || !av || !k)
		return NULL;
	snprintf(name, sizeof(name), "%.200s.%016llx", oname,
		 (unsigned long long)XXH3_64bits(key, strlen(key)));
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(ns, ns_len, "%s", ons ? ons : "default");

	ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "apiVersion", "v1");
	cJSON_AddStringToObject(ev, "kind", "Event");
	md = cJSON_AddObjectToObject(ev, "metadata");
	cJSON_AddStringToObject(md, "name", name);
	cJSON_AddStringToObject(md, "namespace", ns);
	io = cJSON_AddObjectToObject(ev, "involvedObject");
	cJSON_AddStringToObject(io, "apiVersion", av);
	cJSON_AddStringToObject(io, "kind", k);
	if (ons)
		cJSON_AddStringToObject(io, "namespace", ons);
	cJSON_AddStringToObject(io, "name", oname);
	if (uid)
		cJSON_AddStringToObject(io, "uid", uid);
	if (rv)
		cJSON_AddStringToObject(io, "resourceVersion", rv);
	cJSON_AddStringToObject(ev, "reason", reason);
	cJSON_AddStringToObject(ev, "message", msg);
	cJSON_AddStringToObject(ev, "type", "Warning");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(ev, "source"), "component", component);
	cJSON_AddStringToObject(ev, "reportingComponent", component);
	cJSON_AddStringToObject(ev, "reportingInstance", component);
	cJSON_AddStringToObject(ev, "firstTimestamp", ts);
	cJSON_AddStringToObject(ev, "lastTimestamp", ts);
	cJSON_AddNumberToObject(ev, "count", 1);
	return ev;
}

cJSON *kevents_event(const char *json, const char *api_version, const char *kind,
		     const struct config_diags *d, time_t now, char *ns, size_t ns_len)
{
	cJSON *obj = cJSON_Parse(json), *ev = NULL;
	char why[MESSAGE_MAX + 1], msg[MESSAGE_MAX + 120], key[1400];
	const char *rv;

	if (!obj || !reasons(d, why, sizeof(why)))
		goto out;
	rv = kjson_str(obj, "metadata", "resourceVersion");
	/* The same for every node that rejects this version for these reasons. */
	snprintf(key, sizeof(key), "%s\n%s\n%s\n%s\n%s\n%s", kjson_str(obj, "kind", NULL) ?: kind,
		 kjson_str(obj, "metadata", "namespace") ?: "",
		 kjson_str(obj, "metadata", "name") ?: "", kjson_str(obj, "metadata", "uid") ?: "",
		 rv ? rv : "", why);
	snprintf(msg, sizeof(msg),
		 "ambit rejected %s: %s (its last good version, if any, stays in "
		 "force)",
		 rv ? "this version" : "it", why);
	ev = warning(obj, api_version, kind, "Rejected", msg, "ambit-agent", key, now, ns, ns_len);
out:
	cJSON_Delete(obj);
	return ev;
}

cJSON *kevents_warning(const cJSON *obj, const char *reason, const char *msg, const char *component,
		       time_t now, char *ns, size_t ns_len)
{
	const cJSON *gen =
	    kjson_get(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "generation", NULL);
	char key[MESSAGE_MAX + 400];

	/* One per version of the spec and what is said of it: a status write makes no other. */
	snprintf(key, sizeof(key), "%s\n%s\n%s\n%.0f\n%s\n%.*s", kjson_str(obj, "kind", NULL) ?: "",
		 kjson_str(obj, "metadata", "namespace") ?: "",
		 kjson_str(obj, "metadata", "uid") ?: "",
		 cJSON_IsNumber(gen) ? gen->valuedouble : 0, reason, MESSAGE_MAX, msg);
	return warning(obj, NULL, NULL, reason, msg, component, key, now, ns, ns_len);
}

static void pending_free(struct pending *p)
{
	free(p->path);
	free(p->body);
	free(p->what);
	memset(p, 0, sizeof(*p));
}

static void post(struct kevents *ev, struct pending *p)
{
	char err[512] = "", *resp = NULL;
	long code;

	kconn_refresh_token(&ev->conn);
	code = kconn_call(&ev->conn, "POST", p->path, p->body, &resp, 64 << 10, POST_TIMEOUT_MS,
			  err, sizeof(err));
	if (code == 201 || code == 200)
		pr_info("kubernetes: %s: Event Rejected posted", p->what);
	else if (code != 409) /* 409: another node's agent posted the same Event */
		pr_warn("kubernetes: %s: the Event could not be posted: %s%s", p->what,
			code ? "HTTP " : err, code ? (resp ? resp : "") : "");
	free(resp);
}

static void *run(void *arg)
{
	struct kevents *ev = arg;

	pthread_mutex_lock(&ev->mu);
	for (;;) {
		struct pending p;

		while (!ev->stop && !ev->len)
			pthread_cond_wait(&ev->cv, &ev->mu);
		if (ev->stop)
			break;
		p = ev->q[ev->head];
		memset(&ev->q[ev->head], 0, sizeof(p));
		ev->head = (ev->head + 1) % QUEUE_MAX;
		ev->len--;
		pthread_mutex_unlock(&ev->mu);
		post(ev, &p);
		pending_free(&p);
		pthread_mutex_lock(&ev->mu);
	}
	pthread_mutex_unlock(&ev->mu);
	return NULL;
}

struct kevents *kevents_start(const struct kconn *conn)
{
	struct kevents *ev = calloc(1, sizeof(*ev));
	int err;

	if (!ev)
		return NULL;
	if (kconn_copy(&ev->conn, conn)) {
		free(ev);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&ev->mu, NULL);
	pthread_cond_init(&ev->cv, NULL);
	err = pthread_create(&ev->th, NULL, run, ev);
	if (err) {
		kevents_stop(ev);
		errno = err;
		return NULL;
	}
	ev->started = true;
	return ev;
}

static bool seen(struct kevents *ev, uint64_t h)
{
	size_t n = ev->n_posted < POSTED_MAX ? ev->n_posted : POSTED_MAX;

	for (size_t i = 0; i < n; i++)
		if (ev->posted[i] == h)
			return true;
	ev->posted[ev->n_posted++ % POSTED_MAX] = h;
	return false;
}

void kevents_rejected(struct kevents *ev, const char *json, const char *api_version,
		      const char *kind, const struct config_diags *d)
{
	char ns[256], path[400], what[600];
	cJSON *e = kevents_event(json, api_version, kind, d, time(NULL), ns, sizeof(ns));
	const char *name = e ? kjson_str(e, "metadata", "name") : NULL;
	struct pending p = {0};

	if (!e || !name)
		goto out;
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", ns);
	snprintf(what, sizeof(what), "%s %s/%s", kjson_str(e, "involvedObject", "kind"), ns,
		 kjson_str(e, "involvedObject", "name"));
	pthread_mutex_lock(&ev->mu);
	if (seen(ev, XXH3_64bits(name, strlen(name)))) {
		pthread_mutex_unlock(&ev->mu);
		goto out;
	}
	p.path = strdup(path);
	p.body = cJSON_PrintUnformatted(e);
	p.what = strdup(what);
	if (!p.path || !p.body || !p.what || ev->len == QUEUE_MAX) {
		pthread_mutex_unlock(&ev->mu);
		pr_warn("kubernetes: %s: the Event is dropped (%s)", what,
			ev->len == QUEUE_MAX ? "too many waiting" : "out of memory");
		pending_free(&p);
		goto out;
	}
	ev->q[(ev->head + ev->len) % QUEUE_MAX] = p;
	ev->len++;
	pthread_cond_signal(&ev->cv);
	pthread_mutex_unlock(&ev->mu);
out:
	cJSON_Delete(e);
}

void kevents_stop(struct kevents *ev)
{
	if (!ev)
		return;
	if (ev->started) {
		pthread_mutex_lock(&ev->mu);
		ev->stop = true;
		pthread_cond_signal(&ev->cv);
		pthread_mutex_unlock(&ev->mu);
		pthread_join(ev->th, NULL);
	}
	for (size_t i = 0; i < QUEUE_MAX; i++)
		pending_free(&ev->q[i]);
	pthread_mutex_destroy(&ev->mu);
	pthread_cond_destroy(&ev->cv);
	kconn_free(&ev->conn);
	free(ev);
}
