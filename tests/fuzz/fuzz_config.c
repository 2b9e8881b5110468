// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target for the config loader: arbitrary bytes as a manifest file. Every diagnostic
 * is formatted and every loaded pod's enrollment evaluated, so the whole model is touched.
 * Seeds: tests/fuzz/corpus/fuzz_config/ (the demo's manifests, every kind, and hostile YAML
 * from tests/unit/fixtures/config).
 */
#include <stddef.h>
#include <stdint.h>

#include "ambit/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct config_diags diags = {0};
	char line[512];

	config_init(&cfg);
	config_load_buffer(&cfg, "fuzz.yaml", (const char *)data, size, &diags);
	for (size_t i = 0; i < diags.n; i++)
		config_diag_format(&diags.items[i], line, sizeof(line));
	for (size_t i = 0; i < cfg.n_pods; i++)
		config_pod_enrolled(&cfg, &cfg.pods[i]);
	config_free(&cfg);
	config_diags_free(&diags);
	return 0;
}
