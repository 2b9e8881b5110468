// SPDX-License-Identifier: Apache-2.0
/* The workload directory's publisher, run by the CA service (wdir.h). */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <cjson/cJSON.h>

#include "ambit/clock.h"
#include "ambit/log.h"
#include "k8s/kconn.h"
#include "k8s/kmanifest.h"
#include "k8s/kwatch.h"
#include "lib/str_search.h"
#include "wdir.h"

#define QUIET_MS 5	 /* a shard is written once its pods were still this long... */
#define HOLD_MAX_MS 50	 /* ...or once it waited this long under a stream of changes */
#define RETRY_MIN_MS 500 /* back-off while the API server refuses a write */
#define RETRY_MAX_MS 30000
#define WRITE_TIMEOUT_MS 10000

struct wdir_pub {
	struct kconn conn; /* writes, from the thread only */
	struct kwatch *w;
	struct kwatch_res res[2]; /* every pod; the shards (to write again what another hand did) */
	char *ns, *shards_path;
	int stopfd;
	pthread_t th;
	bool started, synced, failing;
	struct wdir_shard_pods shard[WDIR_SHARDS];
	bool dirty[WDIR_SHARDS];
	uint64_t first_dirty, last_change, retry_at, retry_ms; /* ms, monotonic */
};

/* Shard @i is to be written. */
static void mark(struct wdir_pub *p, unsigned int i)
{
	if (!p->first_dirty)
		p->first_dirty = clock_mono_ms();
	p->dirty[i] = true;
	p->last_change = clock_mono_ms();
}

/* Puts pod @key's reduced text @text (owned; NULL: the pod is gone) into its shard. */
static int shard_set(struct wdir_pub *p, const char *key, char *text)
{
	unsigned int i = wdir_shard(key);
	struct wdir_shard_pods *s = &p->shard[i];
	bool found;
	size_t at =
	    str_lower_bound(s->p, s->n, sizeof(*s->p), offsetof(struct wdir_pod, key), key, &found);

	if (found) {
		struct wdir_pod *x = &s->p[at];

		if (text && !strcmp(x->text, text)) {
			free(text);
			return 0;
		}
		free(x->text);
		if (text) {
			x->text = text;
		} else {
			free(x->key);
			memmove(x, x + 1, (s->n - at - 1) * sizeof(*x));
			s->n--;
		}
	} else {
		struct wdir_pod *np;

		if (!text)
			return 0;
		np = realloc(s->p, (s->n + 1) * sizeof(*np));
		if (!np || !(key = strdup(key))) {
			if (np)
				s->p = np;
			free(text);
			return -ENOMEM;
		}
		s->p = np;
		memmove(&s->p[at + 1], &s->p[at], (s->n - at) * sizeof(*np));
		s->p[at] = (struct wdir_pod){.key = (char *)key, .text = text};
		s->n++;
	}
	mark(p, i);
	return 0;
}

/*
 * Shard ConfigMap @key ("ns/name") as the API server now has it (@json; NULL: deleted): written
 * again unless it holds what this publisher has (its own last write, read back).
 */
static void shard_seen(struct wdir_pub *p, const char *key, const char *json)
{
	const char *name = strchr(key, '/'), *pods;
	cJSON *cm = NULL;
	char *want = NULL;
	unsigned int i;
	int end = 0;

	name = name ? name + 1 : key;
	if (sscanf(name, WDIR_PREFIX "%2u%n", &i, &end) != 1 || name[end] || i >= WDIR_SHARDS)
		return; /* not one of ours (another count of shards) */
	if (json && (cm = cJSON_Parse(json)) && (pods = kjson_str(cm, "data", "pods")) &&
	    (want = wdir_shard_array(p->shard[i].p, p->shard[i].n)) && !strcmp(pods, want)) {
		free(want);
		cJSON_Delete(cm);
		return;
	}
	if (p->synced && !p->dirty[i])
		pr_info("workload directory: " WDIR_PREFIX "%02u %s; writing it again", i,
			json ? "changed by another hand" : "deleted");
	free(want);
	cJSON_Delete(cm);
	mark(p, i);
}

static void take(struct wdir_pub *p)
{
	struct kwatch_change *c;
	size_t n = kwatch_take(p->w, &c);

	for (size_t i = 0; i < n; i++) {
		cJSON *pod, *r = NULL;
		char *text = NULL;

		if (c[i].res == &p->res[1]) {
			if (c[i].what != KWATCH_SYNCED)
				shard_seen(p, c[i].key, c[i].json);
			continue;
		}
		if (c[i].what == KWATCH_SYNCED) {
			if (!p->synced)
				pr_info("workload directory: every pod listed; publishing");
			p->synced = true;
			for (size_t k = 0; k < WDIR_SHARDS; k++)
				p->dirty[k] = true;
			p->first_dirty = p->last_change = clock_mono_ms();
			continue;
		}
		if (c[i].what == KWATCH_UPSERT) {
			pod = cJSON_Parse(c[i].json);
			r = pod ? wdir_reduce(pod) : NULL;
			text = r ? cJSON_PrintUnformatted(r) : NULL;
			cJSON_Delete(pod);
			cJSON_Delete(r);
			/* No node yet: not in the directory (a pod scheduled later comes again). */
		}
		if (shard_set(p, c[i].key, text))
			pr_err("workload directory: %s: out of memory", c[i].key);
	}
	kwatch_changes_free(c, n);
}

/* Writes shard @i: an update, or its creation when it is not there. The HTTP status or 0. */
static long write_shard(struct wdir_pub *p, unsigned int i, char *why, size_t len)
{
	char path[512], *body, *resp = NULL;
	long code;

	body = wdir_shard_object(p->ns, i, p->shard[i].p, p->shard[i].n);
	if (!body) {
		snprintf(why, len, "out of memory");
		return 0;
	}
	if (strlen(body) > WDIR_SHARD_MAX) {
		/* Past what a ConfigMap holds: said, and not retried until it changes. */
		pr_err(
		    "workload directory: shard %u holds %zu pods (%zu bytes), over a ConfigMap's "
		    "limit: not written",
		    i, p->shard[i].n, strlen(body));
		free(body);
		return 200;
	}
	kconn_refresh_token(&p->conn);
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps/" WDIR_PREFIX "%02u", p->ns,
		 i);
	code = kconn_call(&p->conn, "PUT", path, body, &resp, 2 * WDIR_SHARD_MAX, WRITE_TIMEOUT_MS,
			  why, len);
	if (code == 404) {
		free(resp);
		resp = NULL;
		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/configmaps", p->ns);
		code = kconn_call(&p->conn, "POST", path, body, &resp, 2 * WDIR_SHARD_MAX,
				  WRITE_TIMEOUT_MS, why, len);
	}
	if (code && (code < 200 || code > 299))
		snprintf(why, len, "HTTP %ld: %.200s", code, resp ? resp : "");
	free(resp);
	free(body);
	return code;
}

static void publish(struct wdir_pub *p)
{
	unsigned int written = 0;
	char why[512];

	for (unsigned int i = 0; i < WDIR_SHARDS; i++) {
		long code;

		if (!p->dirty[i])
			continue;
		code = write_shard(p, i, why, sizeof(why));
		if (code < 200 || code > 299) {
			if (!p->failing)
				pr_warn("workload directory: writing " WDIR_PREFIX
					"%02u in %s: %s; "
					"retrying with back-off (the agents keep the last one)",
					i, p->ns, why);
			p->failing = true;
			p->retry_ms = p->retry_ms ? p->retry_ms * 2 : RETRY_MIN_MS;
			if (p->retry_ms > RETRY_MAX_MS)
				p->retry_ms = RETRY_MAX_MS;
			p->retry_at = clock_mono_ms() + p->retry_ms;
			return;
		}
		p->dirty[i] = false;
		written++;
	}
	if (p->failing)
		pr_info("workload directory: writing again");
	p->failing = false;
	p->retry_ms = 0;
	p->first_dirty = 0;
	pr_debug("workload directory: %u shard(s) written", written);
}

/* How long to sleep: -1 for changes only, else ms until a write is due. */
static int due_in(const struct wdir_pub *p)
{
	uint64_t now = clock_mono_ms(), at;
	bool any = false;

	for (size_t i = 0; i < WDIR_SHARDS; i++)
		any |= p->dirty[i];
	if (!p->synced || !any)
		return -1;
	at = p->last_change + QUIET_MS;
	if (p->first_dirty && p->first_dirty + HOLD_MAX_MS < at)
		at = p->first_dirty + HOLD_MAX_MS;
	if (p->retry_at > at)
		at = p->retry_at;
	return at <= now ? 0 : (int)(at - now);
}

static void *run(void *arg)
{
	struct wdir_pub *p = arg;

	for (;;) {
		struct pollfd f[2] = {{kwatch_fd(p->w), POLLIN, 0}, {p->stopfd, POLLIN, 0}};
		int t = due_in(p);

		if (t != 0 && poll(f, 2, t) < 0 && errno != EINTR)
			break;
		if (f[1].revents)
			break;
		if (f[0].revents)
			take(p);
		if (due_in(p) == 0)
			publish(p);
	}
	return NULL;
}

struct wdir_pub *wdir_pub_start(const struct kconn *conn, const char *ns, unsigned int watch_s)
{
	struct wdir_pub *p = calloc(1, sizeof(*p));
	int err = ENOMEM;

	if (!p)
		return NULL;
	p->stopfd = -1;
	if (kconn_copy(&p->conn, conn) || kconn_keep_alive(&p->conn) || !(p->ns = strdup(ns)) ||
	    asprintf(&p->shards_path, "/api/v1/namespaces/%s/configmaps", ns) < 0) {
		p->shards_path = NULL;
		goto fail;
	}
	p->res[0] = (struct kwatch_res){"pods", "/api/v1/pods", NULL, NULL, "v1", "Pod"};
	p->res[1] = (struct kwatch_res){"workload directory", p->shards_path, NULL,
					WDIR_SELECTOR,	      "v1",	      "ConfigMap"};
	p->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->stopfd < 0 || !(p->w = kwatch_start(conn, p->res, 2, watch_s))) {
		err = errno ? errno : ENOMEM;
		goto fail;
	}
	err = pthread_create(&p->th, NULL, run, p);
	if (err)
		goto fail;
	p->started = true;
	pr_info("workload directory: publishing every pod's workload to ConfigMaps " WDIR_PREFIX
		"* in %s",
		ns);
	return p;
fail:
	wdir_pub_stop(p);
	errno = err;
	return NULL;
}

void wdir_pub_stop(struct wdir_pub *p)
{
	if (!p)
		return;
	if (p->started) {
		uint64_t one = 1;

		if (write(p->stopfd, &one, sizeof(one)) < 0)
			pr_warn("workload directory: stopping: %s", strerror(errno));
		pthread_join(p->th, NULL);
	}
	if (p->w)
		kwatch_stop(p->w);
	if (p->stopfd >= 0)
		close(p->stopfd);
	for (size_t i = 0; i < WDIR_SHARDS; i++)
		wdir_shard_pods_free(&p->shard[i]);
	kconn_free(&p->conn);
	free(p->shards_path);
	free(p->ns);
	free(p);
}
