// SPDX-License-Identifier: Apache-2.0
/*
 * The dashboard's Grafana part (userspace/dashboard/grafana.c): a directory of
 * dashboard files listed by name, with what is not a dashboard (not JSON, no panels) listed with
 * its error and the others' uid, title and tags; a dashboard found by file name or uid, a file
 * that is not one refused; and the Prometheus calls of the panels: each known argument passed
 * on escaped, an unknown call, an unknown or repeated argument, a missing one and malformed
 * times and steps refused with a message naming them.
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
	char err[256] = "";
	cJSON *l = dash_grafana_list(dir, err, sizeof(err)), *e;

	(void)state;
	assert_non_null(l);
	assert_int_equal(cJSON_GetArraySize(l), 4);
	e = cJSON_GetArrayItem(l, 0);
	assert_string_equal(field(e, "file"), "a-broken.json");
	assert_non_null(strstr(field(e, "error"), "not JSON"));
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

	/* No directory given: nothing listed, no error. */
	l = dash_grafana_list(NULL, err, sizeof(err));
	assert_int_equal(cJSON_GetArraySize(l), 0);
	cJSON_Delete(l);
	assert_null(dash_grafana_list("/nonexistent-ambit-dir", err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
}

static void test_get(void **state)
{
	char err[256];
	int status;
	char *t;

	(void)state;
	t = dash_grafana_get(dir, "b-mesh.json", &status, err, sizeof(err));
	assert_int_equal(status, 200);
	assert_non_null(strstr(t, "\"uid\": \"mesh1\""));
	free(t);
	t = dash_grafana_get(dir, "mesh1", &status, err, sizeof(err));
	assert_int_equal(status, 200);
	assert_non_null(strstr(t, "\"title\": \"Mesh\""));
	free(t);
	assert_null(dash_grafana_get(dir, "c-other.json", &status, err, sizeof(err)));
	assert_int_equal(status, 422);
	assert_null(dash_grafana_get(dir, "../etc/passwd", &status, err, sizeof(err)));
	assert_int_equal(status, 404);
	assert_null(dash_grafana_get(dir, "notes.txt", &status, err, sizeof(err)));
	assert_int_equal(status, 404);
	assert_null(dash_grafana_get(NULL, "mesh1", &status, err, sizeof(err)));
	assert_int_equal(status, 404);
	assert_non_null(strstr(err, "--grafana-dashboards"));
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
	    cmocka_unit_test(test_prom_path),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
