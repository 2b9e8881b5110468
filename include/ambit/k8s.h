/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes API's response bodies, as the agent's Kubernetes source reads them (DESIGN.md
 * §5; issue "Kubernetes"): a LIST's `<Kind>List` (items, the list's resourceVersion, the
 * continue token of a chunked list), a WATCH's stream of one JSON event per line ({"type":
 * "ADDED|MODIFIED|DELETED|BOOKMARK|ERROR", "object": {...}}), decoded incrementally as chunks
 * arrive, and the Status object an error carries (its code: 410 "Expired" is a resourceVersion
 * too old, answered by listing again). Everything here is untrusted input: malformed bodies are
 * errors naming where and why, lines are bounded, and nothing is assumed beyond what the API
 * reference promises.
 */
#ifndef AMBIT_K8S_H
#define AMBIT_K8S_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;

/* HTTP status of a watch that started too far back (Status reason "Expired" / "Gone"). */
#define K8S_GONE 410

enum k8s_event_type {
	K8S_ADDED,
	K8S_MODIFIED,
	K8S_DELETED,
	K8S_BOOKMARK, /* only the resourceVersion to resume from: no object state */
	K8S_ERROR,    /* the watch ends: a Status (code, reason, message) */
};

/* One watch event (everything borrowed for the callback's duration). */
struct k8s_event {
	enum k8s_event_type type;
	const struct cJSON *object;   /* the object (for ERROR the Status) */
	const char *resource_version; /* its metadata.resourceVersion ("" for ERROR) */
	int code;		      /* ERROR: the Status code (0 if none) */
	const char *reason, *message; /* ERROR: the Status's, or "" */
};

/* Returns 0 to go on, or a negative errno to stop decoding (k8s_stream_feed returns it). */
typedef int (*k8s_event_fn)(void *arg, const struct k8s_event *ev);

struct k8s_stream;

/*
 * A decoder for one watch response body; events go to @fn(@arg) in order. A line longer than
 * @max_line bytes is an error (the stream is not read further). NULL + errno.
 */
struct k8s_stream *k8s_stream_new(size_t max_line, k8s_event_fn fn, void *arg);
void k8s_stream_free(struct k8s_stream *s); /* accepts NULL */
/*
 * The next @len bytes of the body. 0; -EPROTO for a line that is not an event (the reason, with
 * the line's number, in @err); -E2BIG for a line over the bound; or the callback's error.
 * After an error the stream takes nothing more (the same error again).
 */
int k8s_stream_feed(struct k8s_stream *s, const char *data, size_t len, char *err, size_t errlen);
/* The body ended: 0, or -EPROTO when it ended inside a line (a cut connection). */
int k8s_stream_end(struct k8s_stream *s, char *err, size_t errlen);
/* Events decoded so far. */
size_t k8s_stream_events(const struct k8s_stream *s);

/* A LIST response: the `<Kind>List`, its items in order (borrowed from @root). */
struct k8s_list {
	struct cJSON *root;
	size_t n_items;
	const struct cJSON **items;
	const char *kind;	      /* "PodList", ... */
	const char *resource_version; /* to watch from */
	const char *cont;	      /* metadata.continue: the next chunk's token, or NULL */
};

/*
 * Decodes @len bytes of a LIST body into @out (free with k8s_list_free, also after a failure).
 * 0; -EPROTO with the reason in @err (not JSON, not a List, an item that is not an object with
 * metadata.name, no resourceVersion); -ENOMEM.
 */
int k8s_list_parse(const char *body, size_t len, struct k8s_list *out, char *err, size_t errlen);
void k8s_list_free(struct k8s_list *l);

/*
 * A Status body (an API error): its code, reason and message into the buffers. 0, or -EPROTO
 * when @body is not a Status.
 */
int k8s_status_parse(const char *body, size_t len, int *code, char *reason, size_t rlen,
		     char *message, size_t mlen);

/*
 * A reflector: the state machine that keeps a local copy of one resource (one list+watch URL)
 * the way Kubernetes clients do, without any I/O of its own, so that its decisions can be
 * tested on their own. It says what to request next (k8s_reflector_next) and is told what came
 * back; the consumer hears each change as upsert/remove on the objects' "namespace/name" keys.
 *  - It starts with a LIST (paged: each page's continue token asked for next); the last page
 *    makes the copy equal to it: new or changed objects upserted, ones no longer there removed
 *    (a re-list after a gap in the watch catches up the same way). Then a WATCH from the list's
 *    resourceVersion, resumed after each clean end from the last resourceVersion seen (an
 *    event's or a BOOKMARK's).
 *  - 410 Gone (an ERROR event, or the HTTP status of a watch or of a list's continue) means that
 *    resourceVersion is too old: LIST again at once, from scratch.
 *  - Any other failure (connection lost, 5xx, 429, a body that does not decode) waits before the
 *    next attempt: 200 ms doubling to 30 s, each wait drawn between half and all of it (jitter,
 *    so that a fleet of agents does not come back in step), back to 200 ms after a success.
 */
struct k8s_reflector;

struct k8s_reflector_ops {
	/*
	 * @obj's text, as the consumer takes it in upsert (returns a malloc'd string, NULL when
	 * out of memory); NULL: cJSON_PrintUnformatted. A LIST's items wait as their text until
	 * its last page: as copies of the objects (a pod 4.2 KB as cJSON, 0.6 KB as text) they
	 * were 75 MB at 10,000 pods and 10,000 AuthorizationPolicies.
	 */
	char *(*text)(void *arg, const struct cJSON *obj);
	/* @key's object is new or changed: @text (from ops->text) is taken, @key borrowed. */
	void (*upsert)(void *arg, const char *key, char *text);
	/*
	 * @key's object is gone. The copy holds keys and resourceVersions only (at 25,000
	 * objects, whole objects would cost the agent over 100 MB it never reads).
	 */
	void (*remove)(void *arg, const char *key);
};

enum k8s_action {
	K8S_DO_LIST,  /* LIST: with continue = @cont when not NULL */
	K8S_DO_WATCH, /* WATCH from @resource_version */
	K8S_DO_WAIT,  /* nothing for @wait_ms, then ask again */
};

struct k8s_request {
	enum k8s_action action;
	const char *cont;	      /* borrowed until the next call */
	const char *resource_version; /* borrowed until the next call */
	unsigned int wait_ms;
};

/* @ops and @arg are borrowed; @seed draws the jitter. NULL + errno. */
struct k8s_reflector *k8s_reflector_new(const struct k8s_reflector_ops *ops, void *arg,
					unsigned int seed);
void k8s_reflector_free(struct k8s_reflector *r); /* accepts NULL */
/* What to request now. A K8S_DO_WAIT is consumed by this call: the next one asks anew. */
void k8s_reflector_next(struct k8s_reflector *r, struct k8s_request *out);
/*
 * A LIST page answered (@l borrowed: each item's text is made now, so the page can go). 0 or
 * -ENOMEM (the LIST is to start again: k8s_reflector_failed).
 */
int k8s_reflector_list_page(struct k8s_reflector *r, const struct k8s_list *l);
/* A WATCH event (borrowed). 0, or -ENOMEM with the copy and resume point as they were. */
int k8s_reflector_event(struct k8s_reflector *r, const struct k8s_event *ev);
/* The WATCH ended cleanly (timeoutSeconds, the server closing it): it resumes at once. */
void k8s_reflector_watch_ended(struct k8s_reflector *r);
/* The request failed: @http_status (410 restarts the LIST), or 0 for a transport failure. */
void k8s_reflector_failed(struct k8s_reflector *r, int http_status);
/* Whether a first LIST completed (the copy is whole), and how many objects it holds. */
bool k8s_reflector_synced(const struct k8s_reflector *r);
size_t k8s_reflector_count(const struct k8s_reflector *r);

#endif
