// SPDX-License-Identifier: Apache-2.0
/* label_index: a selector's candidates hold every object it selects, in order, and no more. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ambit/config.h"
#include "lib/label_index.h"

#define N_OBJ 600

struct obj {
	const char *ns;
	struct config_labels labels;
	struct config_label items[3];
	char app[16], ver[16];
};

static struct obj objs[N_OBJ];
static const char *const NSS[] = {"a", "b", "ab", NULL};

static const char *ns_of(void *ctx, size_t i)
{
	return ((struct obj *)ctx)[i].ns;
}

static const struct config_labels *labels_of(void *ctx, size_t i)
{
	struct obj *o = &((struct obj *)ctx)[i];

	return i % 7 == 6 ? NULL : &o->labels; /* some objects have none at all */
}

static void fill(void)
{
	for (size_t i = 0; i < N_OBJ; i++) {
		struct obj *o = &objs[i];

		o->ns = NSS[i % 4];
		snprintf(o->app, sizeof(o->app), "app%zu", i % 13);
		snprintf(o->ver, sizeof(o->ver), "v%zu", i % 3);
		o->items[0] = (struct config_label){.key = "app", .value = o->app};
		o->items[1] = (struct config_label){.key = "version", .value = o->ver};
		/* "c" under key "b" in some, key "bc" with "" in others: parts must not blur. */
		o->items[2] = i % 2 ? (struct config_label){.key = "b", .value = "c"}
				    : (struct config_label){.key = "bc", .value = ""};
		o->labels = (struct config_labels){.n = 3, .items = o->items};
	}
}

/* What a scan finds, against the candidates each matched in full. */
static void check(const struct label_index *ix, const char *ns, struct config_label *sel_items,
		  size_t n_sel)
{
	struct config_labels sel = {.n = n_sel, .items = sel_items};
	size_t n, want = 0, got = 0, prev = 0;
	const size_t *c = label_index_candidates(ix, ns, &sel, &n);

	for (size_t i = 0; i < N_OBJ; i++) {
		const struct config_labels *l = labels_of(objs, i);

		if (l && (!ns || (objs[i].ns && !strcmp(objs[i].ns, ns))) &&
		    config_labels_match(&sel, l))
			want++;
	}
	if (!n_sel) {
		assert_null(c);
		assert_int_equal(n, SIZE_MAX);
		return;
	}
	for (size_t k = 0; k < n; k++) {
		const struct config_labels *l = labels_of(objs, c[k]);

		assert_true(k == 0 || c[k] > prev); /* ascending, no repeats */
		prev = c[k];
		assert_non_null(l); /* an object without labels is never a candidate */
		if ((!ns || (objs[c[k]].ns && !strcmp(objs[c[k]].ns, ns))) &&
		    config_labels_match(&sel, l))
			got++;
	}
	assert_int_equal(got, want);
}

static void test_candidates(void **state)
{
	struct label_index ix;
	struct config_label s1[] = {{.key = "app", .value = "app5"}};
	struct config_label s2[] = {{.key = "app", .value = "app5"},
				    {.key = "version", .value = "v1"}};
	struct config_label s3[] = {{.key = "b", .value = "c"}};
	struct config_label s4[] = {{.key = "bc", .value = ""}};
	struct config_label s5[] = {{.key = "app", .value = "none"}};
	struct config_label s6[] = {{.key = "version", .value = "v2"}, {.key = "b", .value = "c"}};

	fill();
	assert_int_equal(label_index_build(&ix, N_OBJ, ns_of, labels_of, objs), 0);
	for (size_t n = 0; n < sizeof(NSS) / sizeof(NSS[0]); n++) {
		check(&ix, NSS[n], s1, 1);
		check(&ix, NSS[n], s2, 2);
		check(&ix, NSS[n], s3, 1);
		check(&ix, NSS[n], s4, 1);
		check(&ix, NSS[n], s5, 1);
		check(&ix, NSS[n], s6, 2);
		check(&ix, NSS[n], s1, 0);
	}
	label_index_free(&ix);
}

/* No label an object has: nothing; the smallest list of a selector's labels is the one given. */
static void test_narrowest(void **state)
{
	struct label_index ix;
	struct config_label none[] = {{.key = "app", .value = "app1"},
				      {.key = "zone", .value = "x"}};
	struct config_label two[] = {{.key = "version", .value = "v0"},
				     {.key = "app", .value = "app0"}};
	struct config_labels sel = {.n = 2, .items = none};
	const size_t *c;
	size_t n;

	fill();
	assert_int_equal(label_index_build(&ix, N_OBJ, ns_of, labels_of, objs), 0);
	c = label_index_candidates(&ix, "a", &sel, &n);
	assert_null(c);
	assert_int_equal(n, 0);
	sel.items = two;
	c = label_index_candidates(&ix, NULL, &sel, &n);
	assert_non_null(c);
	/* app0 is on 1 in 13 objects, version v0 on 1 in 3: the app list (less those without). */
	assert_true(n <= N_OBJ / 13 + 1);
	label_index_free(&ix);
}

/* An index never built (or freed) tells the caller to scan. */
static void test_unbuilt_scans(void **state)
{
	struct label_index ix = {0};
	struct config_label one[] = {{.key = "app", .value = "app1"}};
	struct config_labels sel = {.n = 1, .items = one};
	size_t n = 0;

	assert_null(label_index_candidates(&ix, "a", &sel, &n));
	assert_int_equal(n, SIZE_MAX);
	label_index_free(&ix);
	assert_int_equal(label_index_build(&ix, 0, ns_of, labels_of, objs), 0);
	assert_null(label_index_candidates(&ix, "a", &sel, &n));
	assert_int_equal(n, 0);
	label_index_free(&ix);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_candidates),
	    cmocka_unit_test(test_narrowest),
	    cmocka_unit_test(test_unbuilt_scans),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
