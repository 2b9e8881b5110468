// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the Kubernetes API bodies the agent's Kubernetes source will read
 * (include/ambit/k8s.h): the input is a watch response body (after its first byte, which sets
 * the chunk size), a LIST body and a Status body all at once. The watch stream must decode the
 * same whatever its chunking: fed whole and fed in chunks, it gives the same result, the same
 * number of events and the same event text; LIST and Status parsing must not crash or leak.
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
	int code, r1, r2;

	if (!size)
		return 0;
	r1 = decode(body, size - 1, size, &whole);
	r2 = decode(body, size - 1, (size_t)data[0] % 17 + 1, &cut);
	if (r1 != r2 || whole.n != cut.n || whole.hash != cut.hash)
		abort();
	k8s_list_parse(body, size - 1, &l, err, sizeof(err));
	for (size_t i = 0; i < l.n_items; i++)
		if (!cJSON_IsObject(l.items[i]))
			abort();
	k8s_list_free(&l);
	k8s_status_parse(body, size - 1, &code, reason, sizeof(reason), msg, sizeof(msg));
	return 0;
}
