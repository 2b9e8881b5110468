// SPDX-License-Identifier: Apache-2.0
/*
 * json_memo: whatever the elements do between two encodings (the same again, one changed in
 * place, some added, removed, moved, written twice, an encoding left half done), the text is
 * the one each element's encoder prints, printed again only for what changed;
 * json_memo_changed says when the elements differ from the last encoding's; the hasher tells
 * fields apart wherever one ends and the next begins. And the same through a snapshot.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "ambit/json_memo.h"
#include "ambit/snapshot.h"

/* An element: a name and a number, its JSON {"n":name,"v":number}. */
struct elem {
	char name[24];
	int v;
};

static int printed; /* elem_json calls since the last reset */

static uint64_t elem_hash(const void *p)
{
	const struct elem *e = p;
	struct json_hasher x;

	json_hasher_init(&x, 1);
	json_hasher_str(&x, e->name);
	json_hasher_mem(&x, &e->v, sizeof(e->v));
	return json_hasher_end(&x);
}

static cJSON *elem_json(const void *p)
{
	const struct elem *e = p;
	cJSON *o = cJSON_CreateObject();

	printed++;
	cJSON_AddStringToObject(o, "n", e->name);
	cJSON_AddNumberToObject(o, "v", e->v);
	return o;
}

/* @n elements through @m (NULL: none) as a JSON array; the caller frees. */
static char *write_elems(struct json_memo *m, const struct elem *v, size_t n)
{
	struct jbuf b;
	char *txt;

	jbuf_init(&b, json_memo_last_len(m));
	jbuf_put(&b, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			jbuf_put(&b, ",", 1);
		assert_int_equal(json_memo_write(&b, m, &v[i], elem_hash, elem_json), 0);
	}
	jbuf_put(&b, "]", 1);
	json_memo_set_last_len(m, b.len);
	txt = jbuf_take(&b);
	assert_non_null(txt);
	return txt;
}

/*
 * One encoding through @m: its text is the memo-less one, it printed @want_printed elements
 * and the memo keeps @want_kept.
 */
static void expect_encoding(struct json_memo *m, const struct elem *v, size_t n, int want_printed,
			    size_t want_kept)
{
	char *plain = write_elems(NULL, v, n), *got;

	printed = 0;
	got = write_elems(m, v, n);
	json_memo_sweep(m);
	assert_string_equal(got, plain);
	assert_int_equal(printed, want_printed);
	assert_int_equal(json_memo_size(m), want_kept);
	free(got);
	free(plain);
}

static void fill(struct elem *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		snprintf(v[i].name, sizeof(v[i].name), "e%zu", i);
		v[i].v = (int)i;
	}
}

/* The same elements again: every one from the memo, the same bytes, nothing changed. */
static void test_hit_same_bytes(void **state)
{
	struct json_memo *m = json_memo_new();
	struct elem v[100];

	assert_non_null(m);
	fill(v, 100);
	expect_encoding(m, v, 100, 100, 100);
	assert_true(json_memo_changed(m));
	expect_encoding(m, v, 100, 0, 100);
	assert_false(json_memo_changed(m));
	expect_encoding(m, v, 100, 0, 100);
	assert_false(json_memo_changed(m));
	json_memo_free(m);
}

/* An element changed where it is (same pointer, new content) is printed again, alone. */
static void test_changed_in_place(void **state)
{
	struct json_memo *m = json_memo_new();
	struct elem v[50];

	assert_non_null(m);
	fill(v, 50);
	expect_encoding(m, v, 50, 50, 50);
	v[17].v = 1000;
	expect_encoding(m, v, 50, 1, 50);
	assert_true(json_memo_changed(m));
	strcpy(v[0].name, "first");
	strcpy(v[49].name, "last");
	expect_encoding(m, v, 50, 2, 50);
	assert_true(json_memo_changed(m));
	/* Back to an earlier content: that text was swept, so it is printed again. */
	v[17].v = 17;
	expect_encoding(m, v, 50, 1, 50);
	expect_encoding(m, v, 50, 0, 50);
	assert_false(json_memo_changed(m));
	json_memo_free(m);
}

/* Added, removed, moved and repeated elements: the right text, only the new ones printed. */
static void test_order_changes(void **state)
{
	enum { N = 64 };
	struct json_memo *m = json_memo_new();
	struct elem v[N + 8], w[2 * N];

	assert_non_null(m);
	fill(v, N + 8);
	expect_encoding(m, v, N, N, N);
	/* One added in front, one in the middle, two at the end. */
	memmove(&w[1], &v[0], 32 * sizeof(*v));
	w[0] = v[N];
	w[33] = v[N + 1];
	memcpy(&w[34], &v[32], (N - 32) * sizeof(*v));
	w[N + 2] = v[N + 2];
	w[N + 3] = v[N + 3];
	expect_encoding(m, w, N + 4, 4, N + 4);
	assert_true(json_memo_changed(m));
	/* Some removed: nothing printed, the memo keeps only what was written. */
	memmove(&w[10], &w[20], (N + 4 - 20) * sizeof(*w));
	expect_encoding(m, w, N - 6, 0, N - 6);
	assert_true(json_memo_changed(m));
	expect_encoding(m, w, N - 6, 0, N - 6);
	assert_false(json_memo_changed(m));
	/* Reversed. */
	for (size_t i = 0; i < (N - 6) / 2; i++) {
		struct elem t = w[i];

		w[i] = w[N - 7 - i];
		w[N - 7 - i] = t;
	}
	expect_encoding(m, w, N - 6, 0, N - 6);
	assert_true(json_memo_changed(m));
	/* Each written twice, then once again: one entry each, freed once (ASan). */
	memcpy(&w[N - 6], &w[0], (N - 6) * sizeof(*w));
	expect_encoding(m, w, 2 * (N - 6), 0, N - 6);
	expect_encoding(m, w, 2 * (N - 6), 0, N - 6);
	assert_false(json_memo_changed(m));
	expect_encoding(m, w + 3, N - 6, 0, N - 6);
	assert_true(json_memo_changed(m));
	/* None at all: everything goes. */
	expect_encoding(m, w, 0, 0, 0);
	assert_true(json_memo_changed(m));
	expect_encoding(m, w, 0, 0, 0);
	assert_false(json_memo_changed(m));
	expect_encoding(m, v, N, N, N);
	json_memo_free(m);
}

/* An encoding left half done (no sweep, as after a failed one) spoils nothing that follows. */
static void test_unfinished_encoding(void **state)
{
	struct json_memo *m = json_memo_new();
	struct elem v[40];
	struct jbuf b;

	assert_non_null(m);
	fill(v, 40);
	expect_encoding(m, v, 40, 40, 40);
	jbuf_init(&b, 0);
	for (size_t i = 0; i < 15; i++)
		assert_int_equal(json_memo_write(&b, m, &v[i], elem_hash, elem_json), 0);
	free(jbuf_take(&b));
	v[3].v = -3;
	/* It and the half-done one are one encoding: v[3]'s old text stays until the next. */
	expect_encoding(m, v, 40, 1, 41);
	assert_true(json_memo_changed(m));
	/* Its order had the half-done one's elements first: the next one differs from it. */
	expect_encoding(m, v, 40, 0, 40);
	assert_true(json_memo_changed(m));
	expect_encoding(m, v, 40, 0, 40);
	assert_false(json_memo_changed(m));
	json_memo_free(m);
}

/* Thousands of random changes, each encoding checked against the memo-less text. */
static void test_random_walk(void **state)
{
	enum { MAX = 3000 };
	struct json_memo *m = json_memo_new();
	struct elem *v = calloc(MAX, sizeof(*v));
	size_t n = 1000;
	unsigned int seed = 7;

	assert_non_null(m);
	assert_non_null(v);
	fill(v, n);
	for (int step = 0; step < 60; step++) {
		char *plain, *got;

		for (int k = 0; k < 1 + step % 7; k++) {
			size_t i = (size_t)rand_r(&seed) % n;

			switch (rand_r(&seed) % 4) {
			case 0: v[i].v = rand_r(&seed) % 50; break;
			case 1:
				if (n < MAX) {
					memmove(&v[i + 1], &v[i], (n - i) * sizeof(*v));
					snprintf(v[i].name, sizeof(v[i].name), "new%d.%d", step, k);
					n++;
				}
				break;
			case 2:
				if (n > 1) {
					memmove(&v[i], &v[i + 1], (n - i - 1) * sizeof(*v));
					n--;
				}
				break;
			default: v[i] = v[(size_t)rand_r(&seed) % n]; break;
			}
		}
		plain = write_elems(NULL, v, n);
		got = write_elems(m, v, n);
		json_memo_sweep(m);
		assert_string_equal(got, plain);
		assert_true(json_memo_size(m) <= n);
		free(got);
		free(plain);
	}
	free(v);
	json_memo_free(m);
}

static uint64_t strs_hash(const char *a, const char *b, bool opt)
{
	struct json_hasher x;

	json_hasher_init(&x, 9);
	if (opt) {
		json_hasher_opt(&x, a);
		json_hasher_opt(&x, b);
	} else {
		json_hasher_str(&x, a);
		json_hasher_str(&x, b);
	}
	return json_hasher_end(&x);
}

/* Where one field ends and the next begins counts, also past the buffer (a spill). */
static void test_hasher_fields(void **state)
{
	char longa[700], longb[700];
	uint64_t h;

	assert_int_not_equal(strs_hash("ab", "c", false), strs_hash("a", "bc", false));
	assert_int_equal(strs_hash("ab", "c", false), strs_hash("ab", "c", false));
	/* NULL is "" as a string, apart from "" as an optional one. */
	assert_int_equal(strs_hash(NULL, "x", false), strs_hash("", "x", false));
	assert_int_not_equal(strs_hash(NULL, "x", true), strs_hash("", "x", true));
	assert_int_not_equal(strs_hash("x", NULL, true), strs_hash("x", "", true));
	memset(longa, 'a', sizeof(longa) - 1);
	longa[sizeof(longa) - 1] = '\0';
	memcpy(longb, longa, sizeof(longb));
	h = strs_hash("head", longa, false);
	assert_int_equal(h, strs_hash("head", longb, false));
	longb[650] = 'b';
	assert_int_not_equal(h, strs_hash("head", longb, false));
	longb[650] = 'a';
	longb[3] = 'b';
	assert_int_not_equal(h, strs_hash("head", longb, false));
	/* The same bytes split across a spill differently still differ from another split. */
	assert_int_not_equal(strs_hash(longa + 100, longa + 400, false),
			     strs_hash(longa + 101, longa + 399, false));
}

static uint32_t ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

/* A snapshot's workload changed in place: its text is new, as snapshot_encode prints it. */
static void test_snapshot_changed(void **state)
{
	struct snap_workload w[3] = {0};
	struct snapshot s = {.version = 3, .node = "n1", .trust_domain = "cluster.local"};
	struct json_memo *m = json_memo_new();
	char *a, *b, *plain;

	assert_non_null(m);
	for (int i = 0; i < 3; i++) {
		w[i].uid = i ? "demo/b" : "demo/a";
		w[i].name = i ? "b" : "a";
		w[i].namespace = "demo";
		w[i].identity = "spiffe://cluster.local/ns/demo/sa/default";
		w[i].ip = ip(i ? "10.0.0.2" : "10.0.0.1");
		w[i].enrolled = true;
	}
	w[2].uid = "demo/c";
	s.workloads = w;
	s.n_workloads = 3;
	a = snapshot_encode_memo(&s, m);
	s.version = 4;
	b = snapshot_encode_memo(&s, m);
	assert_non_null(a);
	assert_non_null(b);
	assert_false(json_memo_changed(m));
	assert_true(snapshot_same_but_version(a, b));
	free(b);
	w[1].identity = "spiffe://cluster.local/ns/demo/sa/other";
	b = snapshot_encode_memo(&s, m);
	plain = snapshot_encode(&s);
	assert_true(json_memo_changed(m));
	assert_string_equal(b, plain);
	assert_false(snapshot_same_but_version(a, b));
	assert_non_null(strstr(b, "sa/other"));
	assert_int_equal(json_memo_last_len(m), strlen(b));
	free(a);
	free(b);
	free(plain);
	json_memo_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hit_same_bytes),   cmocka_unit_test(test_changed_in_place),
	    cmocka_unit_test(test_order_changes),    cmocka_unit_test(test_unfinished_encoding),
	    cmocka_unit_test(test_random_walk),	     cmocka_unit_test(test_hasher_fields),
	    cmocka_unit_test(test_snapshot_changed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
