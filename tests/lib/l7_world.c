// SPDX-License-Identifier: Apache-2.0
/* Manifests to the L7 model of their waypoint (l7_world.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/config.h"
#include "l7_world.h"

struct l7_config *l7_world_compile(const char *yaml, char *err, size_t len)
{
	struct config cfg;
	struct config_diags d = {0};
	struct l7_inputs in = {0};
	struct l7_bindings b = {0};
	struct l7_pod *pods = NULL;
	struct l7_config *l7 = NULL;

	config_init(&cfg);
	if (config_load_buffer(&cfg, "world.yaml", yaml, strlen(yaml), &d)) {
		if (d.n)
			config_diag_format(&d.items[0], err, len);
		else
			snprintf(err, len, "the manifests do not load");
		goto out;
	}
	if (l7_pods_from_config(&cfg, &pods, &in.n_pods)) {
		snprintf(err, len, "out of memory");
		goto out;
	}
	in.cfg = &cfg;
	in.pods = pods;
	if (l7_bindings_compute(&in, &b) || !b.n_waypoints) {
		snprintf(err, len, "no waypoint");
		goto out;
	}
	l7 = l7_compile(&in, &b, &b.waypoints[0]);
	if (!l7)
		snprintf(err, len, "l7_compile failed");
out:
	/* The model borrows nothing from its inputs (l7.h): they may go. */
	l7_bindings_free(&b);
	free(pods);
	config_diags_free(&d);
	config_free(&cfg);
	return l7;
}
