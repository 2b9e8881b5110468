// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the Kubernetes API bodies the agent's Kubernetes source will read
 * (include/ambit/k8s.h): the input is a watch response body (after its first byte, which sets
 * the chunk size), a LIST body and a Status body all at once. The watch stream must decode the
 * same whatever its chunking: fed whole and fed in chunks, it gives the same result, the same
 * number of events and the same event text; LIST and Status parsing must not crash or leak. A
 * LIST that parses goes through a reflector, paged (its items twice when it has a continue
 * token): every upsert carries JSON text, and the same LIST again changes nothing.
 * Seeds: tests/fuzz/corpus/fuzz_k8s/ (events of every type, a List, Status, a cut body).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "ambit/k8s.h"

struct acc {
	uint64_t hash;
	size_t n;
};

static void mix(struct acc *a, const char *s)
{
	for (; s && *s; s++)
		a->hash = (a->hash ^ (unsigned char)*s) * 1099511628211ull;
	a->hash = (a->hash ^ 0xff) * 1099511628211ull;
}

static int on_event(void *arg, const struct k8s_event *ev)
{
	struct acc *a = arg;
	char t[2] = {(char)('0' + ev->type), 0};

	if (!ev->object || !ev->resource_version || !ev->reason || !ev->message)
		abort();
	mix(a, t);
	mix(a, ev->resource_version);
	mix(a, ev->reason);
	a->n++;
	return 0;
}

static void on_upsert(void *arg, const char *key, char *text)
{
	cJSON *o = cJSON_Parse(text);

	if (!o || !key)
		abort();
	cJSON_Delete(o);
	free(text);
	++*(size_t *)arg;
}

static void on_remove(void *arg, const char *key)
{
	++*(size_t *)arg;
}

static const struct k8s_reflector_ops ops = {NULL, on_upsert, on_remove};

/* @l as a LIST's pages (twice, the second the last, when it has a continue token); changes. */
static size_t list(struct k8s_reflector *r, const struct k8s_list *l, size_t *changes)
{
	struct k8s_list last = *l;

	*changes = 0;
	last.cont = NULL;
	if ((l->cont && k8s_reflector_list_page(r, l)) || k8s_reflector_list_page(r, &last))
		abort();
	return k8s_reflector_count(r);
}

/* Decodes @data in chunks of @chunk bytes; the result, and @a the events. */
static int decode(const char *data, size_t size, size_t chunk, struct acc *a)
{
	struct k8s_stream *s = k8s_stream_new(1u << 16, on_event, a);
	char err[256];
	int ret = 0;

	if (!s)
		abort();
	for (size_t off = 0; off < size && !ret; off += chunk)
		ret = k8s_stream_feed(s, data + off, size - off < chunk ? size - off : chunk, err,
				      sizeof(err));
	if (!ret)
		ret = k8s_stream_end(s, err, sizeof(err));
	if (a->n != k8s_stream_events(s))
		abort();
	k8s_stream_free(s);
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acc whole = {14695981039346656037ull, 0}, cut = whole;
	const char *body = (const char *)data + 1;
	char reason[64], msg[128], err[256];
	struct k8s_list l;
	size_t changes;
	int code, r1, r2;

	if (!size)
		return 0;
	r1 = decode(body, size - 1, size, &whole);
	r2 = decode(body, size - 1, (size_t)data[0] % 17 + 1, &cut);
	if (r1 != r2 || whole.n != cut.n || whole.hash != cut.hash)
		abort();
	if (!k8s_list_parse(body, size - 1, &l, err, sizeof(err))) {
		struct k8s_reflector *r = k8s_reflector_new(&ops, &changes, 1);
		size_t n;

		if (!r)
			abort();
		n = list(r, &l, &changes);
		if (n > l.n_items || changes != n)
			abort();
		/* From scratch, the same objects: no change. */
		k8s_reflector_failed(r, 410);
		if (list(r, &l, &changes) != n || changes)
			abort();
		k8s_reflector_free(r);
	}
	for (size_t i = 0; i < l.n_items; i++)
		if (!cJSON_IsObject(l.items[i]))
			abort();
	k8s_list_free(&l);
	k8s_status_parse(body, size - 1, &code, reason, sizeof(reason), msg, sizeof(msg));
	return 0;
}
