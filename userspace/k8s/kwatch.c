// SPDX-License-Identifier: Apache-2.0
/* Kubernetes resources kept in sync, a thread each (kwatch.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "ambit/k8s.h"
#include "ambit/log.h"
#include "kconn.h"
#include "kwatch.h"

#define LIST_LIMIT 500
#define LIST_MAX (256u << 20) /* a LIST page bigger than this is refused */
#define LINE_MAX_BYTES (16u << 20)

struct kwatch;

struct kres {
	struct kwatch *w;
	const struct kwatch_res *res;
	struct k8s_reflector *r;
	pthread_t thread;
	bool started;
	char err[256];
	/* the request in flight */
	CURL *h;
	char *body;
	size_t len, cap;
	struct k8s_stream *stream;
	bool stream_failed, got_error;
	uint64_t rv_seen; /* under w->lock: the resourceVersion its changes are queued up to */
};

struct kwatch {
	struct kconn conn;
	pthread_mutex_t lock; /* the queue, conn's token, errors */
	pthread_cond_t wake;  /* stop */
	bool stop;
	int efd;
	unsigned int watch_s;
	size_t n;
	struct kres *res;
	size_t nq, capq;
	struct kwatch_change *q;
};

/* Whether cJSON prints @s as it is (nothing to escape). */
static bool plain(const char *s)
{
	for (; *s; s++)
		if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
			return false;
	return true;
}

#define KIND_FMT "%s\"apiVersion\":\"%s\",\"kind\":\"%s\"}"

/*
 * The items of a LIST of a built-in kind lack both apiVersion and kind: they are written after
 * the printed object, since a copy of it to add them to would cost as much as printing it.
 */
char *kwatch_object_text(const struct kwatch_res *res, const struct cJSON *obj)
{
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind"),
		    *api = cJSON_GetObjectItemCaseSensitive(obj, "apiVersion");
	char *text, *p;
	cJSON *copy;
	size_t len;

	if (!res->kind || (kind && api))
		return cJSON_PrintUnformatted(obj);
	if (cJSON_IsObject(obj) && !kind && !api && res->api_version && plain(res->api_version) &&
	    plain(res->kind)) {
		const char *sep = obj->child ? "," : "";
		int more = snprintf(NULL, 0, KIND_FMT, sep, res->api_version, res->kind);

		text = cJSON_PrintUnformatted(obj);
		if (!text)
			return NULL;
		/* over the closing brace, which the object's text ends with */
		len = strlen(text) - 1;
		p = realloc(text, len + (size_t)more + 1);
		if (!p) {
			free(text);
			return NULL;
		}
		snprintf(p + len, (size_t)more + 1, KIND_FMT, sep, res->api_version, res->kind);
		return p;
	}
	copy = cJSON_Duplicate(obj, true);
	if (!copy)
		return NULL;
	cJSON_DeleteItemFromObjectCaseSensitive(copy, "apiVersion");
	cJSON_DeleteItemFromObjectCaseSensitive(copy, "kind");
	text = cJSON_AddStringToObject(copy, "apiVersion", res->api_version) &&
		       cJSON_AddStringToObject(copy, "kind", res->kind)
		   ? cJSON_PrintUnformatted(copy)
		   : NULL;
	cJSON_Delete(copy);
	return text;
}

/* A change queued: @key borrowed, @json taken (NULL for REMOVE and SYNCED). */
static void push(struct kwatch *w, enum kwatch_what what, const struct kwatch_res *res,
		 const char *key, char *json)
{
	struct kwatch_change c = {what, res, key ? strdup(key) : NULL, json};
	uint64_t one = 1;

	if (key && !c.key) {
		pr_err("kubernetes: %s %s: out of memory: change lost", res->name, key);
		free(c.json);
		return;
	}
	pthread_mutex_lock(&w->lock);
	if (w->nq == w->capq) {
		size_t cap = w->capq ? w->capq * 2 : 256;
		struct kwatch_change *p = realloc(w->q, cap * sizeof(*p));

		if (!p) {
			pthread_mutex_unlock(&w->lock);
			pr_err("kubernetes: %s %s: out of memory: change lost", res->name, key);
			free(c.key);
			free(c.json);
			return;
		}
		w->q = p;
		w->capq = cap;
	}
	w->q[w->nq++] = c;
	pthread_mutex_unlock(&w->lock);
	if (write(w->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_warn("kubernetes: eventfd: %s", strerror(errno));
}

static char *object_text(void *arg, const cJSON *obj)
{
	return kwatch_object_text(((struct kres *)arg)->res, obj);
}

static void on_upsert(void *arg, const char *key, char *text)
{
	struct kres *k = arg;

	push(k->w, KWATCH_UPSERT, k->res, key, text);
}

static void on_remove(void *arg, const char *key)
{
	struct kres *k = arg;

	push(k->w, KWATCH_REMOVE, k->res, key, NULL);
}

static const struct k8s_reflector_ops kres_ops = {object_text, on_upsert, on_remove};

static void set_err(struct kres *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct kres *k, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&k->w->lock);
	va_start(ap, fmt);
	vsnprintf(k->err, sizeof(k->err), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&k->w->lock);
	pr_warn("kubernetes: %s: %s", k->res->name, k->err);
}

static bool stopping(struct kwatch *w)
{
	bool s;

	pthread_mutex_lock(&w->lock);
	s = w->stop;
	pthread_mutex_unlock(&w->lock);
	return s;
}

/* Aborts a transfer once kwatch_stop is called (libcurl asks at least once a second). */
static int progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct kres *k = arg;

	return stopping(k->w);
}

static size_t take_list(char *data, size_t size, size_t nmemb, void *arg)
{
	struct kres *k = arg;
	size_t n = size * nmemb;

	if (k->len + n > LIST_MAX)
		return 0; /* refused: the transfer fails */
	if (k->len + n + 1 > k->cap) {
		size_t cap = k->cap ? k->cap : 65536;
		char *p;

		while (cap < k->len + n + 1)
			cap *= 2;
		p = realloc(k->body, cap);
		if (!p)
			return 0;
		k->body = p;
		k->cap = cap;
	}
	memcpy(k->body + k->len, data, n);
	k->len += n;
	return n;
}

/*
 * Every change up to resourceVersion @rv of @k is queued (called after queueing them). The
 * API server's versions are opaque strings to a client, but etcd's (and the fake's) are one
 * counter: a non-numeric one is ignored.
 */
static void seen(struct kres *k, const char *rv)
{
	char *end;
	unsigned long long v = rv ? strtoull(rv, &end, 10) : 0;

	if (!v || *end)
		return;
	pthread_mutex_lock(&k->w->lock);
	if (v > k->rv_seen)
		k->rv_seen = v;
	pthread_mutex_unlock(&k->w->lock);
}

static int on_event(void *arg, const struct k8s_event *ev)
{
	struct kres *k = arg;

	if (ev->type == K8S_ERROR)
		k->got_error = true;
	if (k8s_reflector_event(k->r, ev))
		return -ENOMEM;
	if (ev->type != K8S_ERROR)
		seen(k, ev->resource_version);
	/* An ERROR ends the watch: the reflector decided what comes next. */
	return ev->type == K8S_ERROR ? -ECANCELED : 0;
}

static size_t take_watch(char *data, size_t size, size_t nmemb, void *arg)
{
	struct kres *k = arg;
	size_t n = size * nmemb;
	long code = 0;
	char err[256];
	int ret;

	/* A failed watch answers with a Status body, not events: kept to read its reason. */
	curl_easy_getinfo(k->h, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200)
		return take_list(data, size, nmemb, arg);
	ret = k8s_stream_feed(k->stream, data, n, err, sizeof(err));
	if (ret == -ECANCELED)
		return 0;
	if (ret) {
		k->stream_failed = true;
		set_err(k, "watch: %s", err);
		return 0;
	}
	return n;
}

static char *url_of(struct kres *k, CURL *h, const struct k8s_request *q)
{
	const struct kwatch_res *r = k->res;
	char *fs = r->field_selector ? curl_easy_escape(h, r->field_selector, 0) : NULL;
	char *ls = r->label_selector ? curl_easy_escape(h, r->label_selector, 0) : NULL;
	char *cont = q->cont ? curl_easy_escape(h, q->cont, 0) : NULL;
	char *rv = q->resource_version ? curl_easy_escape(h, q->resource_version, 0) : NULL;
	char *url = NULL;
	int n;

	if (q->action == K8S_DO_LIST)
		n = asprintf(&url, "%s%s?limit=%d%s%s%s%s%s%s", k->w->conn.server, r->path,
			     LIST_LIMIT, cont ? "&continue=" : "", cont ? cont : "",
			     fs ? "&fieldSelector=" : "", fs ? fs : "", ls ? "&labelSelector=" : "",
			     ls ? ls : "");
	else
		n = asprintf(&url,
			     "%s%s?watch=1&allowWatchBookmarks=true&timeoutSeconds=%u"
			     "&resourceVersion=%s%s%s%s%s",
			     k->w->conn.server, r->path, k->w->watch_s, rv ? rv : "",
			     fs ? "&fieldSelector=" : "", fs ? fs : "", ls ? "&labelSelector=" : "",
			     ls ? ls : "");
	curl_free(fs);
	curl_free(ls);
	curl_free(cont);
	curl_free(rv);
	return n < 0 ? NULL : url;
}

/* One request of @q's kind: the HTTP status, 0 for a transport failure, -1 when stopping. */
static long request(struct kres *k, const struct k8s_request *q)
{
	struct kwatch *w = k->w;
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	char *url;
	long code = 0;
	CURLcode rc;
	int err;

	if (!h)
		return 0;
	url = url_of(k, h, q);
	if (!url) {
		curl_easy_cleanup(h);
		return 0;
	}
	pthread_mutex_lock(&w->lock);
	kconn_refresh_token(&w->conn);
	err = kconn_curl_setup(&w->conn, h, &hdrs);
	pthread_mutex_unlock(&w->lock);
	if (err) {
		curl_slist_free_all(hdrs);
		curl_easy_cleanup(h);
		free(url);
		return 0;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, k);
	k->len = 0;
	k->stream_failed = k->got_error = false;
	if (q->action == K8S_DO_LIST) {
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, take_list);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
	} else {
		k->stream = k8s_stream_new(LINE_MAX_BYTES, on_event, k);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, take_watch);
		/* The server ends the watch at timeoutSeconds; this only guards against a stall. */
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(w->watch_s + 30) * 1000L);
	}
	curl_easy_setopt(h, CURLOPT_WRITEDATA, k);
	k->h = h;
	rc = k->stream || q->action == K8S_DO_LIST ? curl_easy_perform(h) : CURLE_OUT_OF_MEMORY;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_ABORTED_BY_CALLBACK && stopping(w))
		code = -1;
	else if (rc == CURLE_WRITE_ERROR && (k->got_error || k->stream_failed))
		; /* the watch ended on an ERROR event, or on bytes that were no events */
	else if (rc != CURLE_OK) {
		set_err(k, "%s: %s", q->action == K8S_DO_LIST ? "list" : "watch",
			curl_easy_strerror(rc));
		code = code >= 300 ? code : 0;
	}
	k->h = NULL;
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	free(url);
	return code;
}

/* The body was a Status (an API error): its reason, for the error line. */
static void status_err(struct kres *k, const char *what, long code)
{
	char reason[64] = "", msg[200] = "";
	int c;

	if (k->len &&
	    k8s_status_parse(k->body, k->len, &c, reason, sizeof(reason), msg, sizeof(msg)) == 0)
		set_err(k, "%s: HTTP %ld %s: %s", what, code, reason, msg);
	else
		set_err(k, "%s: HTTP %ld", what, code);
}

/*
 * The response buffer, once a LIST is over: a page of pods is about 2 MB, which the WATCH
 * (its events are decoded as they come) does not need.
 */
static void drop_body(struct kres *k)
{
	free(k->body);
	k->body = NULL;
	k->len = k->cap = 0;
}

/* One LIST page: whether another one follows. */
static bool list_page(struct kres *k, const struct k8s_request *q)
{
	struct k8s_list l;
	char err[256];
	long code = request(k, q);
	bool was_synced = k8s_reflector_synced(k->r), more = false;

	if (code < 0)
		return false;
	if (code == 404 && !q->cont) {
		/*
		 * The kind is not served (its CRD is not installed: a cluster without the Gateway
		 * API): none of its objects exist, which is a complete copy. The watch that follows
		 * fails the same way, with back-off, until the CRD comes; a watch from "" then
		 * starts with every object.
		 */
		struct k8s_list none = {.kind = "", .resource_version = ""};

		set_err(k, "list: %s is not served (404): no objects; asked again with back-off",
			k->res->path);
		if (k8s_reflector_list_page(k->r, &none) == 0 && !was_synced)
			push(k->w, KWATCH_SYNCED, k->res, NULL, NULL);
		k8s_reflector_failed(k->r, 0);
		return false;
	}
	if (code != 200) {
		if (code)
			status_err(k, "list", code);
		k8s_reflector_failed(k->r, (int)code);
		return false;
	}
	if (k8s_list_parse(k->body, k->len, &l, err, sizeof(err))) {
		set_err(k, "list: %s", err);
		k8s_reflector_failed(k->r, 0);
	} else if (k8s_reflector_list_page(k->r, &l)) {
		set_err(k, "list: out of memory");
		k8s_reflector_failed(k->r, 0);
	} else {
		if (!was_synced && k8s_reflector_synced(k->r))
			push(k->w, KWATCH_SYNCED, k->res, NULL, NULL);
		if (!l.cont)
			seen(k, l.resource_version);
		more = l.cont != NULL;
	}
	k8s_list_free(&l);
	return more;
}

static void do_list(struct kres *k, const struct k8s_request *q)
{
	if (!list_page(k, q))
		drop_body(k);
}

static void do_watch(struct kres *k, const struct k8s_request *q)
{
	char err[256];
	long code;

	code = request(k, q);
	if (code < 0) {
		k8s_stream_free(k->stream);
		k->stream = NULL;
		return;
	}
	if (k->got_error) {
		; /* the reflector took the ERROR event's Status */
	} else if (code != 200) {
		if (code)
			status_err(k, "watch", code);
		k8s_reflector_failed(k->r, (int)code);
	} else if (k->stream_failed || k8s_stream_end(k->stream, err, sizeof(err))) {
		if (!k->stream_failed)
			set_err(k, "watch: %s", err);
		k8s_reflector_failed(k->r, 0);
	} else {
		k8s_reflector_watch_ended(k->r);
	}
	k8s_stream_free(k->stream);
	k->stream = NULL;
}

static void *run(void *arg)
{
	struct kres *k = arg;
	struct kwatch *w = k->w;

	while (!stopping(w)) {
		struct k8s_request q;

		k8s_reflector_next(k->r, &q);
		if (q.action == K8S_DO_WAIT) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += q.wait_ms / 1000;
			until.tv_nsec += (long)(q.wait_ms % 1000) * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_mutex_lock(&w->lock);
			while (!w->stop &&
			       pthread_cond_timedwait(&w->wake, &w->lock, &until) != ETIMEDOUT)
				;
			pthread_mutex_unlock(&w->lock);
		} else if (q.action == K8S_DO_LIST) {
			do_list(k, &q);
		} else {
			do_watch(k, &q);
		}
	}
	return NULL;
}

struct kwatch *kwatch_start(const struct kconn *conn, const struct kwatch_res *res, size_t n,
			    unsigned int watch_s)
{
	struct kwatch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	/* libcurl's global state, before any thread uses it (reference counted by libcurl). */
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->watch_s = watch_s ? watch_s : 300;
	w->res = calloc(n + 1, sizeof(*w->res));
	if (w->efd < 0 || !w->res || kconn_copy(&w->conn, conn))
		goto fail;
	w->n = n;
	for (size_t i = 0; i < n; i++) {
		struct kres *k = &w->res[i];

		k->w = w;
		k->res = &res[i];
		k->r = k8s_reflector_new(&kres_ops, k, (unsigned int)(getpid() * 31 + i));
		if (!k->r)
			goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		if (pthread_create(&w->res[i].thread, NULL, run, &w->res[i])) {
			errno = EAGAIN;
			goto fail;
		}
		w->res[i].started = true;
	}
	return w;
fail:
	kwatch_stop(w);
	return NULL;
}

int kwatch_fd(const struct kwatch *w)
{
	return w->efd;
}

size_t kwatch_take(struct kwatch *w, struct kwatch_change **out)
{
	uint64_t v;
	size_t n;

	if (read(w->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_warn("kubernetes: eventfd: %s", strerror(errno));
	pthread_mutex_lock(&w->lock);
	*out = w->q;
	n = w->nq;
	w->q = NULL;
	w->nq = w->capq = 0;
	pthread_mutex_unlock(&w->lock);
	return n;
}

void kwatch_changes_free(struct kwatch_change *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].key);
		free(c[i].json);
	}
	free(c);
}

void kwatch_last_error(struct kwatch *w, size_t i, char *buf, size_t len)
{
	pthread_mutex_lock(&w->lock);
	snprintf(buf, len, "%s", i < w->n ? w->res[i].err : "");
	pthread_mutex_unlock(&w->lock);
}

void kwatch_stop(struct kwatch *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->lock);
	for (size_t i = 0; i < w->n; i++) {
		if (w->res[i].started)
			pthread_join(w->res[i].thread, NULL);
		k8s_reflector_free(w->res[i].r);
		free(w->res[i].body);
	}
	kwatch_changes_free(w->q, w->nq);
	kconn_free(&w->conn);
	if (w->efd >= 0)
		close(w->efd);
	free(w->res);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	free(w);
	curl_global_cleanup();
}

uint64_t kwatch_resource_version(struct kwatch *w, bool *pending)
{
	uint64_t min = UINT64_MAX;

	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < w->n; i++)
		if (w->res[i].rv_seen < min)
			min = w->res[i].rv_seen;
	*pending = w->nq > 0;
	pthread_mutex_unlock(&w->lock);
	return w->n ? min : 0;
}
