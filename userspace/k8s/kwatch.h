/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resources of the Kubernetes API kept in sync (issue 10 §1): for each, a thread runs its
 * reflector (include/ambit/k8s.h) against the API server with libcurl — LIST (paged), then a
 * WATCH from its resourceVersion with bookmarks, LIST again on 410, waits with back-off and
 * jitter on any other failure — and queues what changed for the agent's loop, which takes it
 * when the eventfd kwatch_fd() becomes readable. The token is read again before each request
 * (projected tokens rotate). The API server being away changes nothing already taken: the
 * queue only grows when the server says something changed.
 */
#ifndef AMBIT_AGENT_KWATCH_H
#define AMBIT_AGENT_KWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct kconn;

/* One resource: its collection path and selectors (borrowed: they outlive the kwatch). */
struct kwatch_res {
	const char *name; /* for messages and changes: "pods", "virtualservices"... */
	const char *path; /* "/api/v1/pods", "/apis/networking.istio.io/v1/virtualservices" */
	const char *field_selector; /* "spec.nodeName=node1", or NULL */
	const char *label_selector; /* or NULL */
	/*
	 * Set on objects that come without them (the items of a LIST of a built-in kind carry no
	 * apiVersion and kind), so that every change names its kind; NULL: leave as served.
	 */
	const char *api_version, *kind;
};

enum kwatch_what {
	KWATCH_UPSERT, /* @key's object is @json */
	KWATCH_REMOVE, /* @key's object is gone (@json: NULL) */
	KWATCH_SYNCED, /* the resource's first LIST is complete: its copy is whole */
};

struct kwatch_change {
	enum kwatch_what what;
	const struct kwatch_res *res;
	char *key;  /* "namespace/name" or "name" (NULL for SYNCED) */
	char *json; /* the object (NULL for REMOVE and SYNCED) */
};

struct kwatch;

/*
 * Starts watching @n resources of @res through @conn (copied). Watches last until kwatch_stop.
 * Requests time out their WATCH after @watch_s seconds (the server's timeoutSeconds) and start
 * again from the last resourceVersion. NULL + errno.
 */
struct kwatch *kwatch_start(const struct kconn *conn, const struct kwatch_res *res, size_t n,
			    unsigned int watch_s);
/* An eventfd, readable while changes wait. */
int kwatch_fd(const struct kwatch *w);
/*
 * Takes every queued change, in order, into *@out (malloc'd array; free with
 * kwatch_changes_free). Returns how many.
 */
size_t kwatch_take(struct kwatch *w, struct kwatch_change **out);
void kwatch_changes_free(struct kwatch_change *c, size_t n);
/* The last failure of resource @i ("" when none), for status and logs (copied into @buf). */
void kwatch_last_error(struct kwatch *w, size_t i, char *buf, size_t len);
/*
 * The resourceVersion every resource's changes are queued up to (the least over them: a write
 * of any kind at or before it was seen; bookmarks move idle kinds on), 0 before each has one.
 * *@pending: changes wait in the queue, not yet taken.
 */
uint64_t kwatch_resource_version(struct kwatch *w, bool *pending);
/*
 * The text of a change's @json: @obj (borrowed) printed unformatted, with @res's apiVersion and
 * kind last when @obj lacks either (in place of the one it has). Returns a malloc'd string, or
 * NULL when out of memory.
 */
char *kwatch_object_text(const struct kwatch_res *res, const struct cJSON *obj);
/* Stops every thread (requests in flight are aborted within a second) and frees @w. */
void kwatch_stop(struct kwatch *w);

#endif
