// SPDX-License-Identifier: Apache-2.0
/* Manifests to the L7 model of their waypoint (l7_world.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/config.h"
#include "l7_world.h"

struct l7_config *l7_world_compile(const char *yaml, char *err, size_t len)
{
	struct config cfg;
	struct config_diags d = {0};
	struct l7_config *l7 = NULL;

	config_init(&cfg);
	if (config_load_buffer(&cfg, "world.yaml", yaml, strlen(yaml), &d)) {
		if (d.n)
			config_diag_format(&d.items[0], err, len);
		else
			snprintf(err, len, "the manifests do not load");
	} else if (!(l7 = l7_compile_config(&cfg, "shop", "wp"))) {
		snprintf(err, len, "waypoint shop/wp: %s", strerror(errno));
	}
	config_diags_free(&d);
	config_free(&cfg);
	return l7;
}
