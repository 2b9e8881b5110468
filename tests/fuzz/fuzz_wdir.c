// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the workload directory (userspace/control/wdir.h, kdir.h): the input is a
 * shard's ConfigMap as the API server serves it to every node agent, and also a Pod as the CA
 * service reads it. A shard that parses holds sorted, distinct keys; taking the same shard twice
 * changes nothing the second time; deleting it withdraws at most its pods. Cutting a Pod to what
 * the mesh reads is idempotent (the cut of a cut is itself).
 * Seeds: tests/fuzz/corpus/fuzz_wdir/ (a shard of two pods, a full Pod, a cut shard).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "control/kdir.h"
#include "control/wdir.h"

static void count(void *arg, const char *key, const char *text)
{
	(*(size_t *)arg)++;
	if (!key || !*key)
		abort();
	if (text && !strchr(text, '{'))
		abort();
}

static void reduce_twice(const char *text)
{
	cJSON *in = cJSON_Parse(text), *r1 = in ? wdir_reduce(in) : NULL, *r2 = NULL;
	char *t1 = r1 ? cJSON_PrintUnformatted(r1) : NULL, *t2 = NULL;

	if (t1) {
		r2 = wdir_reduce(r1);
		t2 = r2 ? cJSON_PrintUnformatted(r2) : NULL;
		/* Out of memory aside, the cut of a cut is itself. */
		if (t2 && strcmp(t1, t2))
			abort();
	}
	free(t1);
	free(t2);
	cJSON_Delete(r1);
	cJSON_Delete(r2);
	cJSON_Delete(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct wdir_shard_pods s;
	struct kdir *d;
	size_t n = 0;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	reduce_twice(text);
	if (!wdir_shard_parse(text, "node1", &s)) {
		for (size_t i = 0; i < s.n; i++) {
			if (i && strcmp(s.p[i - 1].key, s.p[i].key) >= 0)
				abort();
			if (wdir_shard_find(&s, s.p[i].key) != (long)i)
				abort();
			reduce_twice(s.p[i].text);
		}
		d = kdir_new("node1");
		if (d && !kdir_local(d, "a/b", true, count, &n) &&
		    !kdir_shard(d, "ns/cm", text, count, &n)) {
			if (n > s.n || kdir_pods(d) != s.n)
				abort();
			n = 0;
			if (kdir_shard(d, "ns/cm", text, count, &n) || n)
				abort();
			if (kdir_shard(d, "ns/cm", NULL, count, &n) || n > s.n || kdir_pods(d))
				abort();
		}
		kdir_free(d);
		wdir_shard_pods_free(&s);
	}
	free(text);
	return 0;
}
