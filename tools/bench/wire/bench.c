// SPDX-License-Identifier: Apache-2.0
/*
 * JSON (snapshot_encode/decode, libambit.a) vs protobuf-c for the same struct snapshot.
 *   ./bench [runs]            timings (median/min/max of @runs, default 25), sizes, round-trip
 * check; writes snap.json, snap.pb
 *   ./bench rss-json FILE     one snapshot_decode in a fresh process: peak RSS delta
 *   ./bench rss-pb FILE       one unpack + convert (+ free_unpacked) likewise
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "ambit/json_memo.h"
#include "bench.h"

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct stat3 {
	double med, min, max;
};

static struct stat3 stats(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return (struct stat3){n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[0], v[n - 1]};
}

static void report(const char *what, double *v, int n)
{
	struct stat3 s = stats(v, n);

	printf("  %-44s median %8.2f ms  (min %7.2f, max %7.2f, n=%d)\n", what, s.med, s.min, s.max,
	       n);
}

static long maxrss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	if (!f) {
		perror(path);
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	buf = malloc(*len + 1);
	if (fread(buf, 1, *len, f) != *len)
		exit(1);
	buf[*len] = 0;
	fclose(f);
	return buf;
}

static void spit(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static int rss_mode(const char *mode, const char *path)
{
	size_t len;
	char *buf = slurp(path, &len), err[256];
	long before;
	double t0;
	struct snapshot *s;

	/* Touch the input so it counts in before. */
	memset(err, 0, sizeof(err));
	before = maxrss_kb();
	t0 = now_ms();
	if (!strcmp(mode, "rss-json")) {
		s = snapshot_decode(buf, len, err, sizeof(err));
	} else {
		Ambitsnap__Snapshot *m =
		    ambitsnap__snapshot__unpack(NULL, len, (const uint8_t *)buf);

		if (!m) {
			fprintf(stderr, "unpack failed\n");
			return 1;
		}
		s = snap_from_pb(m, err, sizeof(err));
		ambitsnap__snapshot__free_unpacked(m, NULL);
	}
	if (!s) {
		fprintf(stderr, "decode failed: %s\n", err);
		return 1;
	}
	printf("%s: input %zu bytes, peak RSS %ld kB -> %ld kB (delta %ld kB), %.2f ms, "
	       "%zu workloads\n",
	       mode, len, before, maxrss_kb(), maxrss_kb() - before, now_ms() - t0, s->n_workloads);
	snapshot_free(s);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int runs = 25;
	struct snapshot *s, *d;
	char *json, *json2, err[256];
	size_t jlen, plen;
	uint8_t *pb;
	double *t[10];
	struct json_memo *memo;

	if (argc == 3 && !strncmp(argv[1], "rss-", 4))
		return rss_mode(argv[1], argv[2]);
	if (argc == 2)
		runs = atoi(argv[1]);
	for (int i = 0; i < 10; i++)
		t[i] = calloc((size_t)runs, sizeof(double));

	s = gen_snapshot();
	printf("snapshot: %zu workloads, %zu services, %zu entries, %zu certs\n", s->n_workloads,
	       s->n_services, s->n_entries, s->n_certs);

	/* ---- JSON ---- */
	json = snapshot_encode(s);
	jlen = strlen(json);
	spit("snap.json", json, jlen);
	memo = json_memo_new();
	free(snapshot_encode_memo(s, memo)); /* warm the memo */
	for (int r = 0; r < runs; r++) {
		double t0 = now_ms();
		char *j = snapshot_encode(s);
		double t1 = now_ms();
		char *k;

		free(j);
		t1 -= t0;
		t[0][r] = t1;
		t0 = now_ms();
		k = snapshot_encode_memo(s, memo);
		t[1][r] = now_ms() - t0;
		free(k);
	}
	for (int r = 0; r < runs; r++) {
		double t0 = now_ms(), t1, t2;
		cJSON *root = cJSON_ParseWithLength(json, jlen);

		t1 = now_ms();
		cJSON_Delete(root);
		t2 = now_ms();
		t[2][r] = t1 - t0;
		t[3][r] = t2 - t1;
		t0 = now_ms();
		d = snapshot_decode(json, jlen, err, sizeof(err));
		t[4][r] = now_ms() - t0;
		if (!d) {
			fprintf(stderr, "json decode: %s\n", err);
			return 1;
		}
		t0 = now_ms();
		snapshot_free(d);
		t[5][r] = now_ms() - t0;
	}
	printf("JSON: %zu bytes\n", jlen);
	report("encode (snapshot_encode, cold)", t[0], runs);
	report("encode (snapshot_encode_memo, warm, no change)", t[1], runs);
	report("  [cJSON_ParseWithLength alone]", t[2], runs);
	report("  [cJSON_Delete alone]", t[3], runs);
	report("decode bytes->struct (snapshot_decode)", t[4], runs);
	report("snapshot_free (same for both)", t[5], runs);
	json_memo_free(memo);

	/* ---- protobuf ---- */
	{
		struct pb_arena *a = NULL;
		Ambitsnap__Snapshot *m = snap_to_pb(s, &a);

		plen = ambitsnap__snapshot__get_packed_size(m);
		pb = malloc(plen);
		ambitsnap__snapshot__pack(m, pb);
		pb_arena_free(a);
		spit("snap.pb", pb, plen);
	}
	for (int r = 0; r < runs; r++) {
		struct pb_arena *a = NULL;
		double t0 = now_ms(), t1, t2, t3;
		Ambitsnap__Snapshot *m = snap_to_pb(s, &a);
		uint8_t *out;
		size_t n;

		t1 = now_ms();
		n = ambitsnap__snapshot__get_packed_size(m);
		out = malloc(n);
		ambitsnap__snapshot__pack(m, out);
		t2 = now_ms();
		pb_arena_free(a);
		t3 = now_ms();
		t[0][r] = t1 - t0;
		t[1][r] = t2 - t1;
		t[2][r] = t3 - t0;
		free(out);
	}
	for (int r = 0; r < runs; r++) {
		double t0 = now_ms(), t1, t2, t3;
		Ambitsnap__Snapshot *m = ambitsnap__snapshot__unpack(NULL, plen, pb);

		t1 = now_ms();
		if (!m) {
			fprintf(stderr, "unpack failed\n");
			return 1;
		}
		d = snap_from_pb(m, err, sizeof(err));
		t2 = now_ms();
		if (!d) {
			fprintf(stderr, "pb convert: %s\n", err);
			return 1;
		}
		ambitsnap__snapshot__free_unpacked(m, NULL);
		t3 = now_ms();
		t[3][r] = t1 - t0;
		t[4][r] = t2 - t1;
		t[5][r] = t3 - t2;
		t[6][r] = t3 - t0;
		snapshot_free(d);
	}
	printf("protobuf: %zu bytes\n", plen);
	report("struct->message (borrowing strings)", t[0], runs);
	report("get_packed_size + pack", t[1], runs);
	report("encode total (convert+pack+arena free)", t[2], runs);
	report("unpack (protobuf_c)", t[3], runs);
	report("convert message->struct (strdup)", t[4], runs);
	report("free_unpacked", t[5], runs);
	report("decode bytes->struct total (unpack+conv+free)", t[6], runs);

	/* Round trip: both decodes give the snapshot that encodes to the original's JSON. */
	{
		Ambitsnap__Snapshot *m = ambitsnap__snapshot__unpack(NULL, plen, pb);

		d = snap_from_pb(m, err, sizeof(err));
		ambitsnap__snapshot__free_unpacked(m, NULL);
		json2 = snapshot_encode(d);
		printf("round trip pb->struct->JSON identical to original JSON: %s\n",
		       strcmp(json, json2) ? "NO" : "yes");
		free(json2);
		snapshot_free(d);
		d = snapshot_decode(json, jlen, err, sizeof(err));
		json2 = snapshot_encode(d);
		printf("round trip JSON->struct->JSON identical: %s\n",
		       strcmp(json, json2) ? "NO" : "yes");
		free(json2);
		snapshot_free(d);
	}
	free(json);
	free(pb);
	snapshot_free(s);
	return 0;
}
