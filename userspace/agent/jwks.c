// SPDX-License-Identifier: Apache-2.0
/* jwksUri fetching and caching (jwks.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <sys/eventfd.h>

#include "ambit/clock.h"
#include "ambit/log.h"
#include "jwks.h"

#define REFRESH_MS (20 * 60 * 1000)
#define MIN_BACKOFF_MS 1000
#define MAX_BACKOFF_MS 60000
#define FETCH_TIMEOUT_MS 5000 /* Envoy's remote_jwks default timeout is 1 s; istiod uses 5 s */
#define MAX_BYTES (1u << 20)

struct entry {
	char *uri;
	/* The agent's thread only: */
	char *json; /* in force, or NULL */
	/* Under the lock: */
	uint64_t due_ms, backoff_ms;
	bool fetching;
	char *result; /* a fetch's key set, waiting to be collected */
	bool has_result;
	struct entry *next;
};

struct jwks_fetcher {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	int efd;
	struct entry *entries;
	uint64_t refresh_ms, min_backoff_ms, max_backoff_ms;
};

struct body {
	char *data;
	size_t len;
	bool too_big;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t len = size * n;
	char *d;

	if (b->len + len > MAX_BYTES) {
		b->too_big = true;
		return 0;
	}
	d = realloc(b->data, b->len + len + 1);
	if (!d)
		return 0;
	memcpy(d + b->len, p, len);
	b->len += len;
	d[b->len] = '\0';
	b->data = d;
	return len;
}

/* The key set at @uri, or NULL (the reason logged). */
static char *fetch(const char *uri)
{
	CURL *h = curl_easy_init();
	struct body b = {0};
	long code = 0;
	CURLcode rc;
	cJSON *j;

	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_URL, uri);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)FETCH_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "ambit-agent");
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	if (rc != CURLE_OK || code != 200) {
		pr_warn("jwksUri %s: %s", uri,
			b.too_big	 ? "larger than 1 MiB"
			: rc != CURLE_OK ? curl_easy_strerror(rc)
					 : "not HTTP 200");
		free(b.data);
		return NULL;
	}
	/* Only a key set replaces one in force: a page of HTML from a proxy does not. */
	j = b.data ? cJSON_Parse(b.data) : NULL;
	if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "keys"))) {
		pr_warn("jwksUri %s: not a JWKS (a JSON object with a \"keys\" array)", uri);
		cJSON_Delete(j);
		free(b.data);
		return NULL;
	}
	cJSON_Delete(j);
	return b.data;
}

static void *run(void *arg)
{
	struct jwks_fetcher *f = arg;

	pthread_mutex_lock(&f->lock);
	while (!f->stop) {
		uint64_t now = clock_mono_ms(), next = UINT64_MAX;
		struct entry *due = NULL;

		for (struct entry *e = f->entries; e; e = e->next) {
			if (e->fetching)
				continue;
			if (e->due_ms <= now && !due)
				due = e;
			else if (e->due_ms < next)
				next = e->due_ms;
		}
		if (due) {
			char *uri = strdup(due->uri), *json;
			uint64_t one = 1;

			due->fetching = true;
			pthread_mutex_unlock(&f->lock);
			json = uri ? fetch(uri) : NULL;
			free(uri);
			pthread_mutex_lock(&f->lock);
			due->fetching = false;
			if (json) {
				due->backoff_ms = 0;
				due->due_ms = clock_mono_ms() + f->refresh_ms;
				free(due->result);
				due->result = json;
				due->has_result = true;
				if (write(f->efd, &one, sizeof(one)) < 0)
					pr_warn("jwks: cannot wake the agent: %s", strerror(errno));
			} else {
				due->backoff_ms =
				    due->backoff_ms ? due->backoff_ms * 2 : f->min_backoff_ms;
				if (due->backoff_ms > f->max_backoff_ms)
					due->backoff_ms = f->max_backoff_ms;
				due->due_ms = clock_mono_ms() + due->backoff_ms;
			}
			continue;
		}
		if (next == UINT64_MAX) {
			pthread_cond_wait(&f->wake, &f->lock);
		} else {
			struct timespec ts;
			uint64_t wait = next - now;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)(wait / 1000);
			ts.tv_nsec += (long)(wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&f->wake, &f->lock, &ts);
		}
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

struct jwks_fetcher *jwks_fetcher_new(void)
{
	struct jwks_fetcher *f = calloc(1, sizeof(*f));
	pthread_condattr_t ca;

	if (!f)
		return NULL;
	/* On this (the agent's) thread, before the fetch thread's first curl call. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		free(f);
		errno = EIO;
		return NULL;
	}
	f->refresh_ms = REFRESH_MS;
	f->min_backoff_ms = MIN_BACKOFF_MS;
	f->max_backoff_ms = MAX_BACKOFF_MS;
	f->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (f->efd < 0 || pthread_create(&f->thread, NULL, run, f)) {
		int err = errno ? errno : EAGAIN;

		if (f->efd >= 0)
			close(f->efd);
		pthread_cond_destroy(&f->wake);
		pthread_mutex_destroy(&f->lock);
		free(f);
		errno = err;
		return NULL;
	}
	return f;
}

void jwks_fetcher_free(struct jwks_fetcher *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	while (f->entries) {
		struct entry *e = f->entries;

		f->entries = e->next;
		free(e->uri);
		free(e->json);
		free(e->result);
		free(e);
	}
	close(f->efd);
	pthread_cond_destroy(&f->wake);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

int jwks_fetcher_fd(const struct jwks_fetcher *f)
{
	return f->efd;
}

void jwks_fetcher_set_timing(struct jwks_fetcher *f, uint64_t refresh_ms, uint64_t min_backoff_ms,
			     uint64_t max_backoff_ms)
{
	pthread_mutex_lock(&f->lock);
	f->refresh_ms = refresh_ms;
	f->min_backoff_ms = min_backoff_ms;
	f->max_backoff_ms = max_backoff_ms;
	pthread_mutex_unlock(&f->lock);
}

const char *jwks_fetcher_get(void *arg, const char *uri)
{
	struct jwks_fetcher *f = arg;
	struct entry *e;
	const char *json = NULL;

	if (!f || !uri)
		return NULL;
	pthread_mutex_lock(&f->lock);
	for (e = f->entries; e && strcmp(e->uri, uri); e = e->next)
		;
	if (e) {
		json = e->json;
	} else if ((e = calloc(1, sizeof(*e))) && (e->uri = strdup(uri))) {
		e->next = f->entries;
		f->entries = e;
		pthread_cond_signal(&f->wake);
	} else {
		free(e);
	}
	pthread_mutex_unlock(&f->lock);
	return json;
}

bool jwks_fetcher_collect(struct jwks_fetcher *f)
{
	uint64_t n;
	bool changed = false;

	if (read(f->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		pr_warn("jwks: %s", strerror(errno));
	pthread_mutex_lock(&f->lock);
	for (struct entry *e = f->entries; e; e = e->next) {
		if (!e->has_result)
			continue;
		e->has_result = false;
		if (e->json && !strcmp(e->json, e->result)) {
			free(e->result);
		} else {
			pr_info("jwksUri %s: key set %s", e->uri, e->json ? "changed" : "fetched");
			free(e->json);
			e->json = e->result;
			changed = true;
		}
		e->result = NULL;
	}
	pthread_mutex_unlock(&f->lock);
	return changed;
}
