// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: the dashboards a cluster provisions for Grafana (userspace/dashboard/
 * provision.c, what `ambitctl dashboard` and `istioctl dashboard grafana` list), from objects
 * anyone who may apply to the cluster wrote. An input is a manifest as `ambitctl apply -f` takes
 * it: loaded by the config loader and collected as the store collects its objects (the text
 * each object is stored as), then read as Grafana would read them: Deployments of Grafana's
 * image, the ConfigMaps they mount (a dashboards providers file, itself YAML, and dashboards),
 * ConfigMaps labelled grafana_dashboard. Checked beyond no crash, leak or UB: the list is sorted
 * by folder, file and ref, each ref once, every row named and in a folder; a row is a dashboard
 * (its text a JSON object with a "panels" array, served by its ref) or says why it is not one
 * (refused by its ref with 422).
 * Seeds: tests/fuzz/corpus/fuzz_grafana_provision/, Istio's addon's form and the sidecar's.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/config.h"
#include "dashboard/dashboard.h"
#include "local/objstore.h"

static const char *field(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static void check_board(const struct dash_boards *b, size_t i)
{
	const struct dash_board *e = &b->v[i];
	const char *error = field(e->row, "error");
	char err[512], *text;
	int status;

	if (!*e->ref || !*e->folder || strcmp(field(e->row, "ref") ?: "", e->ref) ||
	    strcmp(field(e->row, "folder") ?: "", e->folder) || !field(e->row, "configmap") ||
	    !field(e->row, "key") || !e->text == !error)
		abort();
	if (i &&
	    (strcmp(b->v[i - 1].folder, e->folder) > 0 ||
	     (!strcmp(b->v[i - 1].folder, e->folder) && strcmp(b->v[i - 1].file, e->file) > 0)))
		abort();
	for (size_t j = 0; j < i; j++)
		if (!strcmp(b->v[j].ref, e->ref))
			abort();
	text = dash_boards_get(b, e->ref, &status, err, sizeof(err));
	if (e->text) {
		cJSON *doc = text ? cJSON_Parse(text) : NULL;
		const cJSON *dash = cJSON_GetObjectItemCaseSensitive(doc, "dashboard");

		if (!cJSON_IsObject(dash))
			dash = doc;
		if (status != 200 || !cJSON_IsObject(dash) ||
		    !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(dash, "panels")))
			abort();
		cJSON_Delete(doc);
	} else if (text || status != 422 || !*error) {
		abort();
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_objs objs = {0};
	struct config_load_opts opts = {.on_object = store_objs_collect, .arg = &objs};
	struct config_diags diags = {0};
	struct dash_boards b = {0};
	struct config cfg;
	cJSON *list;

	config_init(&cfg);
	config_load_buffer_opts(&cfg, "fuzz.yaml", (const char *)data, size, &opts, &diags);
	config_free(&cfg);
	config_diags_free(&diags);
	if (!dash_boards_provisioned(&objs, &b)) {
		list = dash_boards_list(&b);
		if (list && (size_t)cJSON_GetArraySize(list) != b.n)
			abort();
		cJSON_Delete(list);
		for (size_t i = 0; i < b.n; i++)
			check_board(&b, i);
	}
	dash_boards_free(&b);
	store_objs_free(&objs);
	return 0;
}
