// SPDX-License-Identifier: Apache-2.0
/* Manifests to the L7 model of their waypoint, or to their bindings (l7_world.h). */
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

int l7_world_bind(struct l7_world_bound *w, const char *yaml, char *err, size_t len)
{
	struct config_diags d = {0};
	int ret = -1;

	config_init(&w->cfg);
	w->pods = NULL;
	memset(&w->b, 0, sizeof(w->b));
	if (config_load_buffer(&w->cfg, "world.yaml", yaml, strlen(yaml), &d)) {
		if (d.n)
			config_diag_format(&d.items[0], err, len);
		else
			snprintf(err, len, "the manifests do not load");
	} else if (l7_pods_from_config(&w->cfg, &w->pods, &w->in.n_pods)) {
		snprintf(err, len, "pods: out of memory");
	} else {
		w->in.cfg = &w->cfg;
		w->in.pods = w->pods;
		ret = l7_bindings_compute(&w->in, &w->b) ? -1 : 0;
		if (ret)
			snprintf(err, len, "bindings: out of memory");
	}
	config_diags_free(&d);
	if (ret)
		l7_world_unbind(w);
	return ret;
}

void l7_world_unbind(struct l7_world_bound *w)
{
	l7_bindings_free(&w->b);
	free(w->pods);
	w->pods = NULL;
	config_free(&w->cfg);
}
