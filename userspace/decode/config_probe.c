// SPDX-License-Identifier: Apache-2.0
/*
 * The recorder of a probe parse (config/crd.c): the schema walker (config_yaml.c) tells it the
 * field table each mapping was walked with and the first "expected ..." error at each path.
 * Apart from config/crd.c, which loads probe documents through the kinds table, so that the
 * walker the kinds call does not depend on the kinds.
 */
#include <stdlib.h>
#include <string.h>

#include "decode.h"

struct cfg_probe_rec *cfg_probe_rec_at(const struct cfg_probe *p, const char *path)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->r[i].path, path) == 0)
			return &p->r[i];
	return NULL;
}

static struct cfg_probe_rec *rec_add(struct cfg_probe *p, const char *path)
{
	struct cfg_probe_rec *r = cfg_probe_rec_at(p, path), *rs;

	if (r)
		return r;
	rs = realloc(p->r, (p->n + 1) * sizeof(*rs));
	if (!rs) {
		p->oom = true;
		return NULL;
	}
	p->r = rs;
	r = &rs[p->n];
	memset(r, 0, sizeof(*r));
	r->path = strdup(path);
	if (!r->path) {
		p->oom = true;
		return NULL;
	}
	p->n++;
	return r;
}

void cfg_probe_table(struct cfg_probe *p, const char *path, const struct cfg_field *fields)
{
	struct cfg_probe_rec *r = rec_add(p, path);

	if (r && !r->fields) {
		r->fields = fields;
		p->grew = true;
	}
}

void cfg_probe_diag(struct cfg_probe *p, const char *path, const char *msg)
{
	struct cfg_probe_rec *r;

	if (!msg || strncmp(msg, "expected ", 9) != 0)
		return;
	r = rec_add(p, path);
	if (r && !r->expected) {
		r->expected = strdup(msg + 9);
		if (!r->expected)
			p->oom = true;
	}
}
