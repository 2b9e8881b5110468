// SPDX-License-Identifier: Apache-2.0
/*
 * The spans the dashboard received, in memory, and what the page asks of them (Jaeger's query
 * API, reduced to what its search and trace views need). A trace is the spans of one trace id,
 * from any number of requests (each proxy on the way exports its own), in the order they came;
 * a span id seen twice in a trace is an exporter's retry and is dropped. Traces are chained in
 * the order they last received a span: when the store is past its bound in spans or bytes, the
 * trace that received nothing for longest goes, whole, so a trace still being reported stays.
 * One mutex: an export or a query holds it for a walk over at most the bound's spans.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>

#include <xxhash.h>

#include "dashboard.h"

/* Spans of one trace past this are dropped (counted): a runaway trace cannot take the store. */
#define TRACE_MAX_SPANS 10000

struct trace {
	char id[33];
	struct trace *hnext;	   /* the hash bucket's chain */
	struct trace *prev, *next; /* by the last span received, oldest first */
	struct dash_spans spans;
	size_t bytes;
};

struct dash_traces {
	pthread_mutex_t lock;
	struct trace **buckets;
	size_t mask; /* buckets - 1, a power of two less one */
	uint64_t seed;
	struct trace *oldest, *newest;
	size_t n_traces, n_spans, bytes, max_spans, max_bytes;
	uint64_t accepted, rejected, requests_rejected, dropped, evicted;
	uint64_t refused, unverified; /* spans under another's name; from no pod of the cluster */
};

struct dash_traces *dash_traces_create(size_t max_spans, size_t max_bytes)
{
	struct dash_traces *t = calloc(1, sizeof(*t));
	size_t n = 64;

	if (!t)
		return NULL;
	/* One trace has one span at least: as many buckets as spans keeps the chains short. */
	while (n < max_spans && n < ((size_t)1 << 30))
		n <<= 1;
	t->buckets = calloc(n, sizeof(*t->buckets));
	if (!t->buckets) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->mask = n - 1;
	/* Trace ids are the exporters' choice: a secret seed keeps them from aiming at a chain. */
	if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != sizeof(t->seed))
		t->seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)t;
	t->max_spans = max_spans;
	t->max_bytes = max_bytes;
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

static void trace_free(struct trace *tr)
{
	dash_spans_free(&tr->spans);
	free(tr);
}

void dash_traces_destroy(struct dash_traces *t)
{
	if (!t)
		return;
	for (struct trace *tr = t->oldest, *next; tr; tr = next) {
		next = tr->next;
		trace_free(tr);
	}
	pthread_mutex_destroy(&t->lock);
	free(t->buckets);
	free(t);
}

static size_t span_bytes(const struct dash_span *sp)
{
	size_t n = sizeof(*sp) + strlen(sp->name) + strlen(sp->service) + 2 +
		   (sp->proxy ? strlen(sp->proxy) + 1 : 0);

	for (size_t i = 0; i < sp->n_tags; i++)
		n += sizeof(sp->tags[i]) + strlen(sp->tags[i].key) + strlen(sp->tags[i].value) + 2;
	return n;
}

static struct trace **bucket(struct dash_traces *t, const char *id)
{
	return &t->buckets[XXH3_64bits_withSeed(id, 32, t->seed) & t->mask];
}

static struct trace *trace_find(struct dash_traces *t, const char *id)
{
	for (struct trace *tr = *bucket(t, id); tr; tr = tr->hnext)
		if (!memcmp(tr->id, id, 32))
			return tr;
	return NULL;
}

static void chain_unlink(struct dash_traces *t, struct trace *tr)
{
	if (tr->prev)
		tr->prev->next = tr->next;
	else
		t->oldest = tr->next;
	if (tr->next)
		tr->next->prev = tr->prev;
	else
		t->newest = tr->prev;
	tr->prev = tr->next = NULL;
}

static void chain_append(struct dash_traces *t, struct trace *tr)
{
	tr->prev = t->newest;
	tr->next = NULL;
	if (t->newest)
		t->newest->next = tr;
	else
		t->oldest = tr;
	t->newest = tr;
}

static void trace_evict(struct dash_traces *t, struct trace *tr)
{
	struct trace **p = bucket(t, tr->id);

	while (*p != tr)
		p = &(*p)->hnext;
	*p = tr->hnext;
	chain_unlink(t, tr);
	t->n_traces--;
	t->n_spans -= tr->spans.n;
	t->bytes -= tr->bytes;
	t->evicted += tr->spans.n;
	trace_free(tr);
}

/* Keeps @sp (moved in) in its trace; false when it was not kept (the caller frees it). */
static bool keep_span(struct dash_traces *t, struct dash_span *sp)
{
	struct trace *tr = trace_find(t, sp->trace_id);
	struct dash_span *slot;

	if (!tr) {
		tr = calloc(1, sizeof(*tr));
		if (!tr)
			return false;
		memcpy(tr->id, sp->trace_id, sizeof(tr->id));
		tr->hnext = *bucket(t, tr->id);
		*bucket(t, tr->id) = tr;
		chain_append(t, tr);
		t->n_traces++;
	}
	if (tr->spans.n >= TRACE_MAX_SPANS)
		return false;
	for (size_t i = 0; i < tr->spans.n; i++)
		if (!strcmp(tr->spans.v[i].span_id, sp->span_id))
			return false;
	if (tr->spans.n == tr->spans.cap) {
		size_t cap = tr->spans.cap ? tr->spans.cap * 2 : 4;

		slot = reallocarray(tr->spans.v, cap, sizeof(*slot));
		if (!slot) {
			if (!tr->spans.n) /* made for this span: no trace is kept empty */
				trace_evict(t, tr);
			return false;
		}
		tr->spans.v = slot;
		tr->spans.cap = cap;
	}
	slot = &tr->spans.v[tr->spans.n++];
	*slot = *sp;
	memset(sp, 0, sizeof(*sp));
	tr->bytes += span_bytes(slot);
	t->bytes += span_bytes(slot);
	t->n_spans++;
	chain_unlink(t, tr);
	chain_append(t, tr);
	return true;
}

void dash_traces_add(struct dash_traces *t, struct dash_spans *spans)
{
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < spans->n; i++) {
		if (keep_span(t, &spans->v[i])) {
			t->accepted++;
		} else {
			t->dropped++;
			dash_span_free(&spans->v[i]);
		}
	}
	while (t->oldest && (t->n_spans > t->max_spans || t->bytes > t->max_bytes))
		trace_evict(t, t->oldest);
	pthread_mutex_unlock(&t->lock);
	spans->n = 0;
	dash_spans_free(spans);
}

int dash_traces_ingest(struct dash_traces *t, enum dash_trace_format f, const void *body,
		       size_t len, const struct dash_sender *from, char *err, size_t errlen)
{
	struct dash_spans spans = {0};
	size_t seen = 0, kept = 0, refused;
	int ret = dash_trace_decode(f, body, len, &spans, &seen, err, errlen);

	if (ret) {
		dash_spans_free(&spans);
		pthread_mutex_lock(&t->lock);
		t->rejected += seen;
		t->requests_rejected++;
		pthread_mutex_unlock(&t->lock);
		return ret;
	}
	/*
	 * A pod may record spans only under its own names, so that one pod cannot pose as
	 * another's service in the traces; the others in its body are kept.
	 */
	for (size_t i = 0; i < spans.n; i++) {
		if (!dash_sender_may(from, &spans.v[i])) {
			dash_span_free(&spans.v[i]);
			continue;
		}
		spans.v[i].unverified = !from || !from->pod;
		spans.v[kept++] = spans.v[i];
	}
	refused = spans.n - kept;
	spans.n = kept;
	pthread_mutex_lock(&t->lock);
	t->refused += refused;
	if (!from || !from->pod)
		t->unverified += kept;
	pthread_mutex_unlock(&t->lock);
	dash_traces_add(t, &spans);
	return (int)(refused < INT_MAX ? refused : INT_MAX);
}

/* ---- queries ---- */

static bool span_matches(const struct dash_span *sp, const struct dash_trace_query *q)
{
	/* A waypoint's span is found by the Service it served and by the waypoint's name. */
	if ((q->service && strcmp(sp->service, q->service) &&
	     (!sp->proxy || strcmp(sp->proxy, q->service))) ||
	    (q->operation && strcmp(sp->name, q->operation)) ||
	    sp->duration_us < q->min_duration_us)
		return false;
	if (!q->tag_key)
		return true;
	for (size_t i = 0; i < sp->n_tags; i++)
		if (!strcmp(sp->tags[i].key, q->tag_key) &&
		    (!q->tag_value || !strcmp(sp->tags[i].value, q->tag_value)))
			return true;
	return false;
}

static int64_t trace_start(const struct trace *tr)
{
	int64_t start = INT64_MAX;

	for (size_t i = 0; i < tr->spans.n; i++)
		if (tr->spans.v[i].start_us < start)
			start = tr->spans.v[i].start_us;
	return start;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* [{name, spans}] by name: the services a trace went through, and their spans' count. */
static cJSON *trace_services(const struct trace *tr)
{
	const char **names = malloc(tr->spans.n * sizeof(*names));
	cJSON *list = cJSON_CreateArray();

	if (!names || !list)
		goto oom;
	for (size_t i = 0; i < tr->spans.n; i++)
		names[i] = tr->spans.v[i].service;
	qsort(names, tr->spans.n, sizeof(*names), cmp_str);
	for (size_t i = 0, j; i < tr->spans.n; i = j) {
		cJSON *o = cJSON_CreateObject();

		for (j = i; j < tr->spans.n && !strcmp(names[j], names[i]); j++)
			;
		if (!cJSON_AddItemToArray(list, o) ||
		    !cJSON_AddStringToObject(o, "name", names[i]) ||
		    !cJSON_AddNumberToObject(o, "spans", (double)(j - i)))
			goto oom;
	}
	free(names);
	return list;
oom:
	free(names);
	cJSON_Delete(list);
	return NULL;
}

/*
 * {traceID, start, duration (µs), spans, errors, rootService, rootName, services}. The root is
 * the earliest span without a parent; when its root span is missing (not sent, or not yet),
 * the earliest span.
 */
static cJSON *trace_summary(const struct trace *tr)
{
	const struct dash_span *root = NULL;
	int64_t start = INT64_MAX, end = INT64_MIN;
	size_t errors = 0;
	cJSON *o = cJSON_CreateObject();

	for (size_t i = 0; i < tr->spans.n; i++) {
		const struct dash_span *sp = &tr->spans.v[i];

		if (sp->start_us < start)
			start = sp->start_us;
		if (sp->start_us + sp->duration_us > end)
			end = sp->start_us + sp->duration_us;
		errors += sp->error;
		if (!root || (!sp->parent_id[0] && root->parent_id[0]) ||
		    (!sp->parent_id[0] == !root->parent_id[0] && sp->start_us < root->start_us))
			root = sp;
	}
	if (!o || !root || !cJSON_AddStringToObject(o, "traceID", tr->id) ||
	    !cJSON_AddNumberToObject(o, "start", (double)start) ||
	    !cJSON_AddNumberToObject(o, "duration", (double)(end - start)) ||
	    !cJSON_AddNumberToObject(o, "spans", (double)tr->spans.n) ||
	    !cJSON_AddNumberToObject(o, "errors", (double)errors) ||
	    !cJSON_AddStringToObject(o, "rootService", root->service) ||
	    !cJSON_AddStringToObject(o, "rootName", root->name) ||
	    !cJSON_AddItemToObject(o, "services", trace_services(tr))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

struct found {
	int64_t start;
	const struct trace *tr;
};

static int cmp_found(const void *a, const void *b)
{
	const struct found *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? 1 : -1;
	return strcmp(x->tr->id, y->tr->id);
}

cJSON *dash_traces_find(struct dash_traces *t, const struct dash_trace_query *q)
{
	struct found *found;
	size_t n = 0;
	cJSON *list;

	pthread_mutex_lock(&t->lock);
	found = malloc((t->n_traces ?: 1) * sizeof(*found));
	list = cJSON_CreateArray();
	if (!found || !list)
		goto oom;
	for (const struct trace *tr = t->oldest; tr; tr = tr->next) {
		for (size_t i = 0; i < tr->spans.n; i++) {
			if (span_matches(&tr->spans.v[i], q)) {
				found[n++] = (struct found){trace_start(tr), tr};
				break;
			}
		}
	}
	qsort(found, n, sizeof(*found), cmp_found);
	for (size_t i = 0; i < n && i < q->limit; i++)
		if (!cJSON_AddItemToArray(list, trace_summary(found[i].tr)))
			goto oom;
	pthread_mutex_unlock(&t->lock);
	free(found);
	return list;
oom:
	pthread_mutex_unlock(&t->lock);
	free(found);
	cJSON_Delete(list);
	return NULL;
}

static cJSON *span_json(const struct dash_span *sp)
{
	cJSON *o = cJSON_CreateObject(), *tags;

	if (!o || !cJSON_AddStringToObject(o, "spanID", sp->span_id) ||
	    !cJSON_AddItemToObject(o, "parentSpanID",
				   sp->parent_id[0] ? cJSON_CreateString(sp->parent_id)
						    : cJSON_CreateNull()) ||
	    !cJSON_AddStringToObject(o, "name", sp->name) ||
	    !cJSON_AddStringToObject(o, "kind", dash_span_kind_name(sp->kind)) ||
	    !cJSON_AddStringToObject(o, "service", sp->service) ||
	    !cJSON_AddItemToObject(
		o, "proxy", sp->proxy ? cJSON_CreateString(sp->proxy) : cJSON_CreateNull()) ||
	    !cJSON_AddNumberToObject(o, "start", (double)sp->start_us) ||
	    !cJSON_AddNumberToObject(o, "duration", (double)sp->duration_us) ||
	    !cJSON_AddBoolToObject(o, "error", sp->error) ||
	    !cJSON_AddBoolToObject(o, "verified", !sp->unverified) ||
	    !(tags = cJSON_AddArrayToObject(o, "tags")))
		goto oom;
	for (size_t i = 0; i < sp->n_tags; i++) {
		cJSON *tag = cJSON_CreateObject();

		if (!cJSON_AddItemToArray(tags, tag) ||
		    !cJSON_AddStringToObject(tag, "key", sp->tags[i].key) ||
		    !cJSON_AddStringToObject(tag, "value", sp->tags[i].value))
			goto oom;
	}
	return o;
oom:
	cJSON_Delete(o);
	return NULL;
}

static int cmp_span_start(const void *a, const void *b)
{
	const struct dash_span *x = *(const struct dash_span *const *)a;
	const struct dash_span *y = *(const struct dash_span *const *)b;

	if (x->start_us != y->start_us)
		return x->start_us < y->start_us ? -1 : 1;
	/* The same start: in the order received (the array's). */
	return x < y ? -1 : x > y;
}

cJSON *dash_traces_get(struct dash_traces *t, const char *id, int *status)
{
	const struct dash_span **order = NULL;
	const struct trace *tr;
	cJSON *doc = NULL, *spans;
	char key[33];

	*status = 404;
	if (!dash_trace_id(id, key))
		return NULL;
	pthread_mutex_lock(&t->lock);
	tr = trace_find(t, key);
	if (!tr)
		goto out;
	*status = 500;
	order = malloc(tr->spans.n * sizeof(*order));
	doc = trace_summary(tr);
	spans = cJSON_CreateArray();
	if (!order || !doc || !cJSON_ReplaceItemInObjectCaseSensitive(doc, "spans", spans)) {
		cJSON_Delete(spans);
		goto fail;
	}
	for (size_t i = 0; i < tr->spans.n; i++)
		order[i] = &tr->spans.v[i];
	qsort(order, tr->spans.n, sizeof(*order), cmp_span_start);
	for (size_t i = 0; i < tr->spans.n; i++)
		if (!cJSON_AddItemToArray(spans, span_json(order[i])))
			goto fail;
	*status = 200;
	goto out;
fail:
	cJSON_Delete(doc);
	doc = NULL;
out:
	pthread_mutex_unlock(&t->lock);
	free(order);
	return doc;
}

struct op {
	const char *service, *name;
	bool proxy; /* @service is the waypoint that recorded the span, not the one it served */
};

static int cmp_op(const void *a, const void *b)
{
	const struct op *x = a, *y = b;

	return strcmp(x->service, y->service) ?: strcmp(x->name, y->name);
}

/*
 * The services a span is found by: the application's, and the waypoint's that recorded it
 * (marked proxy: Jaeger in an ambient mesh lists it too, and a search by it works as before).
 */
cJSON *dash_traces_services(struct dash_traces *t)
{
	struct op *ops;
	size_t n = 0;
	cJSON *list = cJSON_CreateArray(), *svc, *names;

	pthread_mutex_lock(&t->lock);
	ops = malloc((t->n_spans ?: 1) * 2 * sizeof(*ops));
	if (!ops || !list)
		goto oom;
	for (const struct trace *tr = t->oldest; tr; tr = tr->next) {
		for (size_t i = 0; i < tr->spans.n; i++) {
			const struct dash_span *sp = &tr->spans.v[i];

			ops[n++] = (struct op){sp->service, sp->name, false};
			if (sp->proxy)
				ops[n++] = (struct op){sp->proxy, sp->name, true};
		}
	}
	qsort(ops, n, sizeof(*ops), cmp_op);
	for (size_t i = 0, j; i < n; i = j) {
		bool proxy = false;

		for (j = i; j < n && !strcmp(ops[j].service, ops[i].service); j++)
			proxy |= ops[j].proxy;
		svc = cJSON_CreateObject();
		names = cJSON_CreateArray();
		if (!cJSON_AddItemToArray(list, svc) ||
		    !cJSON_AddStringToObject(svc, "name", ops[i].service) ||
		    !cJSON_AddBoolToObject(svc, "proxy", proxy) ||
		    !cJSON_AddItemToObject(svc, "operations", names)) {
			cJSON_Delete(names);
			goto oom;
		}
		for (size_t k = i; k < j; k++)
			if ((k == i || cmp_op(&ops[k], &ops[k - 1])) &&
			    !cJSON_AddItemToArray(names, cJSON_CreateString(ops[k].name)))
				goto oom;
	}
	pthread_mutex_unlock(&t->lock);
	free(ops);
	return list;
oom:
	pthread_mutex_unlock(&t->lock);
	free(ops);
	cJSON_Delete(list);
	return NULL;
}

cJSON *dash_traces_stats(struct dash_traces *t)
{
	cJSON *o = cJSON_CreateObject();

	pthread_mutex_lock(&t->lock);
	if (o && (!cJSON_AddNumberToObject(o, "accepted", (double)t->accepted) ||
		  !cJSON_AddNumberToObject(o, "rejected", (double)t->rejected) ||
		  !cJSON_AddNumberToObject(o, "requestsRejected", (double)t->requests_rejected) ||
		  !cJSON_AddNumberToObject(o, "dropped", (double)t->dropped) ||
		  !cJSON_AddNumberToObject(o, "evicted", (double)t->evicted) ||
		  !cJSON_AddNumberToObject(o, "refused", (double)t->refused) ||
		  !cJSON_AddNumberToObject(o, "unverified", (double)t->unverified) ||
		  !cJSON_AddNumberToObject(o, "spans", (double)t->n_spans) ||
		  !cJSON_AddNumberToObject(o, "traces", (double)t->n_traces) ||
		  !cJSON_AddNumberToObject(o, "bytes", (double)t->bytes) ||
		  !cJSON_AddNumberToObject(o, "maxSpans", (double)t->max_spans) ||
		  !cJSON_AddNumberToObject(o, "maxBytes", (double)t->max_bytes))) {
		cJSON_Delete(o);
		o = NULL;
	}
	pthread_mutex_unlock(&t->lock);
	return o;
}
