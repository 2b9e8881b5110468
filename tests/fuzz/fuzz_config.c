// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the config loader: arbitrary bytes as a manifest file. Every diagnostic
 * is formatted and every loaded pod's enrollment evaluated, so the whole model is touched; a
 * file that loads has the L7 model of every waypoint and gateway proxy compiled (bindings,
 * routes, virtual hosts, policies), which the model's strict decoder must take back.
 * Seeds: tests/fuzz/corpus/fuzz_config/ (the demo's manifests, every kind, gateways, and hostile
 * YAML from tests/unit/fixtures/config).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cjson/cJSON.h>

#include "ambit/config.h"
#include "ambit/l7.h"

/* What l7_compile emits, l7_from_json takes: a proxy is never served a model it refuses. */
static void compile_one(const struct l7_inputs *in, const struct l7_bindings *b,
			const struct l7_waypoint *w)
{
	struct l7_config *c = l7_compile(in, b, w), *back;
	char err[256];
	cJSON *j;

	if (!c)
		return;
	j = l7_to_json(c);
	if (!j)
		abort();
	back = l7_from_json(j, err, sizeof(err));
	if (!back) {
		fprintf(stderr, "fuzz_config: compiled model refused by its decoder: %s\n", err);
		abort();
	}
	l7_config_free(back);
	cJSON_Delete(j);
	l7_config_free(c);
}

static void compile_all(const struct config *cfg)
{
	struct l7_inputs in = {.cfg = cfg};
	struct l7_bindings b;
	struct l7_pod *pods = NULL;

	if (l7_pods_from_config(cfg, &pods, &in.n_pods)) {
		free(pods);
		return;
	}
	in.pods = pods;
	if (!l7_bindings_compute(&in, &b)) {
		for (size_t i = 0; i < b.n_waypoints; i++)
			compile_one(&in, &b, &b.waypoints[i]);
		for (size_t i = 0; i < b.n_gateways; i++)
			compile_one(&in, &b, &b.gateways[i]);
	}
	l7_bindings_free(&b);
	free(pods);
	/* The status of every Gateway API object, as `ambitctl get` and analyze compute it. */
	for (size_t i = 0; i < cfg->n_k8s_gateways; i++)
		cJSON_Delete(l7_gwapi_gateway_status(cfg, &cfg->k8s_gateways[i], "a", NULL));
	for (size_t i = 0; i < cfg->n_http_routes; i++)
		cJSON_Delete(l7_gwapi_route_status(cfg, &cfg->http_routes[i]));
	for (size_t i = 0; i < cfg->n_grpc_routes; i++)
		cJSON_Delete(l7_gwapi_route_status(cfg, &cfg->grpc_routes[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct config_diags diags = {0};
	char line[512];

	config_init(&cfg);
	if (config_load_buffer(&cfg, "fuzz.yaml", (const char *)data, size, &diags) == 0)
		compile_all(&cfg);
	for (size_t i = 0; i < diags.n; i++)
		config_diag_format(&diags.items[i], line, sizeof(line));
	for (size_t i = 0; i < cfg.n_pods; i++)
		config_pod_enrolled(&cfg, &cfg.pods[i]);
	config_free(&cfg);
	config_diags_free(&diags);
	return 0;
}
