// SPDX-License-Identifier: Apache-2.0
/* Per-file last good config of the agent (confstore.c is compiled in: see test_agent_desired.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "confstore.h"
#include "runtime.h"

static char root[64];

static void put(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int setup(void **state)
{
	char sub[512];

	snprintf(root, sizeof(root), "/tmp/ambit-test-confstore-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(sub, sizeof(sub), "%s/sub", root);
	return mkdir(sub, 0755);
}

static int teardown(void **state)
{
	return nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *NS_A = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n";
static const char *SVC_B = "apiVersion: v1\nkind: Service\nmetadata:\n  name: b\n  namespace: a\n"
			   "spec:\n  selector: {app: b}\n  ports:\n  - port: 80\n";
static const char *SVC_B_BAD = "apiVersion: v1\nkind: Service\nmetadata:\n  name: b\n"
			       "  namespace: a\nspec:\n  ports:\n  - port: 99999999\n";

static void view_counts(const struct confstore *cs, size_t ns, size_t svc)
{
	struct config v;

	assert_int_equal(confstore_view(cs, &v), 0);
	assert_int_equal(v.n_namespaces, ns);
	assert_int_equal(v.n_services, svc);
	if (svc)
		assert_int_equal(v.services[0].ports[0].port, 80);
	confstore_view_free(&v);
}

static void test_last_good_per_file(void **state)
{
	struct confstore cs = {0};
	char path[512];
	bool changed;

	put("a.yaml", NS_A);
	put("sub/b.yml", SVC_B);
	put(".tmp.yaml", "this: [is not: valid");
	put("notes.txt", "ignored");
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_true(changed);
	assert_int_equal(cs.n_files, 2);
	assert_int_equal(cs.n_dirs, 2);
	view_counts(&cs, 1, 1);
	assert_int_equal(confstore_error_count(&cs), 0);

	/* Unchanged files are not reparsed and change nothing. */
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_false(changed);

	/* A broken version keeps the file's last good objects, and its errors are in force. */
	put("sub/b.yml", SVC_B_BAD);
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_false(changed);
	view_counts(&cs, 1, 1);
	assert_true(confstore_error_count(&cs) >= 1);
	snprintf(path, sizeof(path), "%s/sub/b.yml", root);
	assert_string_equal(cs.files[1].path, path);
	assert_true(cs.files[1].errors.n >= 1);
	assert_int_equal(cs.files[1].errors.items[0].line > 0, 1);

	/* A deleted file withdraws its objects. */
	snprintf(path, sizeof(path), "%s/a.yaml", root);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_true(changed);
	assert_int_equal(cs.n_files, 1);
	view_counts(&cs, 0, 1);

	/* Fixed again: errors cleared. */
	put("sub/b.yml", SVC_B);
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_true(changed);
	assert_int_equal(confstore_error_count(&cs), 0);
	view_counts(&cs, 0, 1);
	confstore_free(&cs);
	confstore_free(NULL);
}

static void test_new_file_broken_from_start(void **state)
{
	struct confstore cs = {0};
	bool changed;

	put("a.yaml", SVC_B_BAD);
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_false(changed);
	assert_int_equal(cs.n_files, 1);
	assert_false(cs.files[0].has_good);
	view_counts(&cs, 0, 0);
	assert_true(confstore_error_count(&cs) >= 1);
	confstore_free(&cs);
}

static void test_cache_survives_restart(void **state)
{
	struct confstore cs = {0};
	char cache[512], path[512];
	bool changed;

	snprintf(cache, sizeof(cache), "%s/cache", root);
	put("a.yaml", NS_A);
	put("sub/b.yml", SVC_B);
	cs.cache_dir = cache;
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	confstore_free(&cs);

	/* "Restart" with b broken: its cached last good version still serves, errors in force. */
	put("sub/b.yml", SVC_B_BAD);
	cs.cache_dir = cache;
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_true(changed);
	view_counts(&cs, 1, 1);
	assert_true(confstore_error_count(&cs) >= 1);
	assert_string_equal(cs.files[1].good.services[0].meta.origin.file, cs.files[1].path);
	confstore_free(&cs);

	/* Deleting the file deletes its cache entry: a later broken file has nothing to serve. */
	snprintf(path, sizeof(path), "%s/sub/b.yml", root);
	cs.cache_dir = cache;
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	confstore_free(&cs);
	put("sub/b.yml", SVC_B_BAD);
	cs.cache_dir = cache;
	assert_int_equal(confstore_reload(&cs, root, &changed), 0);
	view_counts(&cs, 1, 0);
	confstore_free(&cs);
}

static void test_missing_dir(void **state)
{
	struct confstore cs = {0};
	bool changed;

	assert_int_equal(confstore_reload(&cs, "/nonexistent/ambit-state", &changed), -ENOENT);
	assert_int_equal(cs.n_files, 0);
	confstore_free(&cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_last_good_per_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_file_broken_from_start, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cache_survives_restart, setup, teardown),
	    cmocka_unit_test(test_missing_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
