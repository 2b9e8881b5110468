// SPDX-License-Identifier: Apache-2.0
/*
 * The dashboard's Grafana part (userspace/dashboard/grafana.c): a directory of
 * dashboard files listed by name in folder General, with what is not a dashboard (not JSON, no
 * panels) listed with its error and the others' uid, title and tags; a dashboard found by ref,
 * uid or file name, one that is not a dashboard refused; texts added as the cluster's are (the
 * first of a ref kept, sorted by folder); and the Prometheus calls of the panels: each known
 * argument passed on escaped, an unknown call, an unknown or repeated argument, a missing one
 * and malformed times and steps refused with a message naming them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "ambit/fileutil.h"
#include "dashboard/dashboard.h"

static char dir[64];

static int setup(void **state)
{
	static const struct {
		const char *name, *text;
	} files[] = {
	    {"b-mesh.json", "{\"uid\": \"mesh1\", \"title\": \"Mesh\", \"tags\": [\"istio\", 3], "
			    "\"panels\": []}"},
	    {"a-broken.json", "{\"panels\": [ "},
	    {"c-other.json", "{\"kind\": \"ConfigMap\"}"},
	    {"d-export.json", "{\"dashboard\": {\"title\": \"Exported\", \"panels\": [{}]}}"},
	    {"notes.txt", "not listed"},
	};

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/ambit-grafana-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[128];

		snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
		if (write_file(path, files[i].text))
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	static const char *names[] = {"b-mesh.json", "a-broken.json", "c-other.json",
				      "d-export.json", "notes.txt"};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[128];

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	return rmdir(dir);
}

static const char *field(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static void test_list(void **state)
{
	struct dash_boards b = {0};
	char err[256] = "";
	cJSON *l, *e;

	(void)state;
	assert_int_equal(dash_boards_from_dir(dir, &b, err, sizeof(err)), 0);
	l = dash_boards_list(&b);
	assert_non_null(l);
	assert_int_equal(cJSON_GetArraySize(l), 4);
	e = cJSON_GetArrayItem(l, 0);
	assert_string_equal(field(e, "file"), "a-broken.json");
	assert_string_equal(field(e, "ref"), "a-broken.json");
	assert_string_equal(field(e, "folder"), "General");
	assert_non_null(strstr(field(e, "error"), "not JSON"));
	assert_null(cJSON_GetObjectItem(e, "configmap"));
	e = cJSON_GetArrayItem(l, 1);
	assert_string_equal(field(e, "file"), "b-mesh.json");
	assert_null(field(e, "error"));
	assert_string_equal(field(e, "uid"), "mesh1");
	assert_string_equal(field(e, "title"), "Mesh");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(e, "tags")), 1);
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(e, "tags"), 0)->valuestring,
			    "istio");
	e = cJSON_GetArrayItem(l, 2);
	assert_non_null(strstr(field(e, "error"), "no \"panels\""));
	e = cJSON_GetArrayItem(l, 3);
	assert_string_equal(field(e, "title"), "Exported");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "uid")));
	cJSON_Delete(l);
	dash_boards_free(&b);

	assert_int_equal(dash_boards_from_dir("/nonexistent-ambit-dir", &b, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "No such file"));
	assert_non_null(strstr(err, "--grafana-dashboards"));
	l = dash_boards_list(&b);
	assert_int_equal(cJSON_GetArraySize(l), 0);
	cJSON_Delete(l);
	dash_boards_free(&b);
	dash_boards_free(NULL);
}

static void test_get(void **state)
{
	struct dash_boards b = {0};
	char err[256];
	int status;
	char *t;

	(void)state;
	assert_int_equal(dash_boards_from_dir(dir, &b, err, sizeof(err)), 0);
	t = dash_boards_get(&b, "b-mesh.json", &status, err, sizeof(err));
	assert_int_equal(status, 200);
	assert_non_null(strstr(t, "\"uid\": \"mesh1\""));
	free(t);
	t = dash_boards_get(&b, "mesh1", &status, err, sizeof(err));
	assert_int_equal(status, 200);
	assert_non_null(strstr(t, "\"title\": \"Mesh\""));
	free(t);
	assert_null(dash_boards_get(&b, "c-other.json", &status, err, sizeof(err)));
	assert_int_equal(status, 422);
	assert_non_null(strstr(err, "no \"panels\""));
	assert_null(dash_boards_get(&b, "../etc/passwd", &status, err, sizeof(err)));
	assert_int_equal(status, 404);
	assert_null(dash_boards_get(&b, "notes.txt", &status, err, sizeof(err)));
	assert_int_equal(status, 404);
	dash_boards_free(&b);
}

/*
 * Texts added by hand: a ref added twice keeps the first; by file, the first that is a
 * dashboard; a text that is not JSON, or none, is a row with its error.
 */
static void test_add(void **state)
{
	static const char good[] = "{\"uid\": \"u1\", \"title\": \"One\", \"panels\": []}";
	struct dash_board_src a = {"ns/cm/x.json", "x.json", "istio", "ns/cm", "x.json"};
	struct dash_board_src a2 = {"ns/cm/x.json", "x.json", "other", "ns/cm", "x.json"};
	struct dash_board_src c = {"ns/bad/x.json", "x.json", "General", "ns/bad", "x.json"};
	struct dash_board_src d = {"ns/none/y.json", "y.json", "General", "ns/none", "y.json"};
	struct dash_boards b = {0};
	char err[256];
	int status;
	char *t;
	cJSON *l;

	(void)state;
	assert_int_equal(dash_boards_add(&b, &c, "{\"panels\"", 9, NULL), 0);
	assert_int_equal(dash_boards_add(&b, &a, good, strlen(good), NULL), 0);
	assert_int_equal(dash_boards_add(&b, &a2, "{}", 2, NULL), 0);
	assert_int_equal(dash_boards_add(&b, &d, NULL, 0, "not a string"), 0);
	assert_int_equal(b.n, 4);
	dash_boards_sort(&b);
	assert_int_equal(b.n, 3);
	l = dash_boards_list(&b);
	assert_string_equal(field(cJSON_GetArrayItem(l, 0), "folder"), "General");
	assert_string_equal(field(cJSON_GetArrayItem(l, 2), "folder"), "istio");
	assert_string_equal(field(cJSON_GetArrayItem(l, 2), "configmap"), "ns/cm");
	assert_string_equal(field(cJSON_GetArrayItem(l, 2), "key"), "x.json");
	assert_string_equal(field(cJSON_GetArrayItem(l, 1), "error"), "not a string");
	cJSON_Delete(l);
	t = dash_boards_get(&b, "x.json", &status, err, sizeof(err));
	assert_int_equal(status, 200);
	assert_string_equal(t, good);
	free(t);
	assert_null(dash_boards_get(&b, "ns/bad/x.json", &status, err, sizeof(err)));
	assert_int_equal(status, 422);
	assert_non_null(strstr(err, "not JSON"));
	t = dash_boards_get(&b, "u1", &status, err, sizeof(err));
	assert_int_equal(status, 200);
	free(t);
	dash_boards_free(&b);
}

static int path(const char *api, const struct dash_arg *a, size_t n, char **out, char *err)
{
	return dash_prom_path(api, a, n, out, err, 256);
}

static void test_prom_path(void **state)
{
	const struct dash_arg range[] = {{"query", "sum(rate(x{a=~\"b|c\"}[1m]))"},
					 {"start", "1700000000.5"},
					 {"end", "1700000900"},
					 {"step", "15"}};
	const struct dash_arg series[] = {{"match[]", "up"}, {"match[]", "x{a=\"b\"}"}};
	const struct dash_arg label[] = {{"match[]", "up"}, {"start", "2026-11-28T13:00:00Z"}};
	const struct dash_arg steps[] = {
	    {"query", "up"}, {"start", "1"}, {"end", "2"}, {"step", ""}};
	char err[256], *out;

	(void)state;
	assert_int_equal(path("/query_range", range, 4, &out, err), 0);
	assert_string_equal(out, "/api/v1/query_range?query=sum%28rate%28x%7Ba%3D~%22b%7Cc%22%7D"
				 "%5B1m%5D%29%29&start=1700000000.5&end=1700000900&step=15");
	free(out);
	assert_int_equal(path("/query", range, 1, &out, err), 0);
	assert_string_equal(out, "/api/v1/query?query=sum%28rate%28x%7Ba%3D~%22b%7Cc%22%7D%5B1m%5D"
				 "%29%29");
	free(out);
	assert_int_equal(path("/series", series, 2, &out, err), 0);
	assert_string_equal(out, "/api/v1/series?match%5B%5D=up&match%5B%5D=x%7Ba%3D%22b%22%7D");
	free(out);
	assert_int_equal(path("/label/destination_service/values", label, 2, &out, err), 0);
	assert_string_equal(out, "/api/v1/label/destination_service/values?match%5B%5D=up&start="
				 "2026-11-28T13%3A00%3A00Z");
	free(out);
	assert_int_equal(path("/label/__name__/values", NULL, 0, &out, err), 0);
	free(out);

	/* What Grafana's data source does not ask: Prometheus's admin API, other calls. */
	assert_int_equal(path("/admin/tsdb/delete_series", series, 1, &out, err), -ENOENT);
	assert_null(out);
	assert_int_equal(path("/label/a-b/values", NULL, 0, &out, err), -ENOENT);
	assert_int_equal(path("/label/job/../../admin", NULL, 0, &out, err), -ENOENT);
	assert_int_equal(path("/query", series, 1, &out, err), -EINVAL);
	assert_non_null(strstr(err, "no argument match[]"));
	assert_int_equal(path("/query_range", range, 3, &out, err), -EINVAL);
	assert_non_null(strstr(err, "step is needed"));
	assert_int_equal(path("/series", NULL, 0, &out, err), -EINVAL);
	assert_non_null(strstr(err, "match[] is needed"));
	{
		const struct dash_arg twice[] = {{"query", "up"}, {"query", "down"}};
		const struct dash_arg bad_time[] = {{"query", "up"}, {"time", "now"}};
		const struct dash_arg empty[] = {{"query", ""}};
		const struct dash_arg nameless[] = {{"query", "up"}, {"", "x"}};

		assert_int_equal(path("/query", twice, 2, &out, err), -EINVAL);
		assert_non_null(strstr(err, "query given twice"));
		assert_int_equal(path("/query", bad_time, 2, &out, err), -EINVAL);
		assert_non_null(strstr(err, "time: a Unix time"));
		assert_int_equal(path("/query", empty, 1, &out, err), -EINVAL);
		/* ?=x: an argument without a name is none Prometheus takes. */
		assert_int_equal(path("/query", nameless, 2, &out, err), -EINVAL);
	}
	{
		static const char *good[] = {"15", "0.5", "15s", "1m", "1h30m", "100ms"};
		static const char *bad[] = {"", "0", "0s", "1x", "s", "-5", "1m;"};
		struct dash_arg a[4];

		memcpy(a, steps, sizeof(a));
		for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
			a[3].value = good[i];
			assert_int_equal(path("/query_range", a, 4, &out, err), 0);
			free(out);
		}
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			a[3].value = bad[i];
			assert_int_equal(path("/query_range", a, 4, &out, err), -EINVAL);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_get),
	    cmocka_unit_test(test_add),
	    cmocka_unit_test(test_prom_path),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
