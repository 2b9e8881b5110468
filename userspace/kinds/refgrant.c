// SPDX-License-Identifier: Apache-2.0
/*
 * Gateway API ReferenceGrant (v1, v1beta1, v1alpha2): which objects of other namespaces may refer
 * to objects of its own (API_SEMANTICS.md §7): `from` (group, kind, namespace of the referrer)
 * and `to` (group, kind and optionally name of the referent), as the CRD's schema says them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

static int grant_str(struct cfg_ctx *ctx, yaml_node_t *v, char **out, bool group)
{
	free(*out);
	*out = NULL;
	if (cfg_get_str(ctx, v, out))
		return -EINVAL;
	if (group ? (**out && !cfg_name_ok(*out, CFG_NAME_SUBDOMAIN))
		  : (!**out || strlen(*out) > 253)) {
		cfg_error(ctx, v, "\"%.64s\" is not a valid %s", *out, group ? "group" : "name");
		return -EINVAL;
	}
	return 0;
}

static int from_group(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return grant_str(ctx, v, &((struct config_ref_grant_from *)o)->group, true);
}

static int from_kind(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return grant_str(ctx, v, &((struct config_ref_grant_from *)o)->kind, false);
}

static int from_namespace(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct config_ref_grant_from *f = o;

	if (grant_str(ctx, v, &f->namespace, false))
		return -EINVAL;
	if (!cfg_name_ok(f->namespace, CFG_NAME_LABEL)) {
		cfg_error(ctx, v, "namespace \"%.64s\" is not a DNS label", f->namespace);
		return -EINVAL;
	}
	return 0;
}

static int to_group(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return grant_str(ctx, v, &((struct config_ref_grant_to *)o)->group, true);
}

static int to_kind(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return grant_str(ctx, v, &((struct config_ref_grant_to *)o)->kind, false);
}

static int to_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return grant_str(ctx, v, &((struct config_ref_grant_to *)o)->name, false);
}

static const struct cfg_field from_fields[] = {
    {"group", CFG_T_STR, from_group, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, from_kind, CFG_F_REQUIRED},
    {"namespace", CFG_T_STR, from_namespace, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

static const struct cfg_field to_fields[] = {
    {"group", CFG_T_STR, to_group, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, to_kind, CFG_F_REQUIRED},
    {"name", CFG_T_STR, to_name, 0},
    {NULL, 0, NULL, 0},
};

static int rg_from(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct config_reference_grant *g = o;

	if (cfg_seq_len(v) > 16) {
		cfg_error(ctx, v, "at most 16 entries");
		return -EINVAL;
	}
	return cfg_parse_seq(ctx, v, from_fields, sizeof(*g->from), (void **)&g->from, &g->n_from,
			     true, "from");
}

static int rg_to(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct config_reference_grant *g = o;

	if (cfg_seq_len(v) > 16) {
		cfg_error(ctx, v, "at most 16 entries");
		return -EINVAL;
	}
	return cfg_parse_seq(ctx, v, to_fields, sizeof(*g->to), (void **)&g->to, &g->n_to, true,
			     "to");
}

static const struct cfg_field spec_fields[] = {
    {"from", CFG_T_SEQ, rg_from, CFG_F_REQUIRED},
    {"to", CFG_T_SEQ, rg_to, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

static int rg_spec(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, spec_fields, ((struct cfg_obj *)obj)->obj);
}

const struct cfg_field cfg_ref_grant_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED},
    {"spec", CFG_T_MAP, rg_spec, CFG_F_REQUIRED},
    {"status", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

void config_reference_grant_free(struct config_reference_grant *g)
{
	config_meta_free(&g->meta);
	for (size_t i = 0; i < g->n_from; i++) {
		free(g->from[i].group);
		free(g->from[i].kind);
		free(g->from[i].namespace);
	}
	for (size_t i = 0; i < g->n_to; i++) {
		free(g->to[i].group);
		free(g->to[i].kind);
		free(g->to[i].name);
	}
	free(g->from);
	free(g->to);
}

bool config_reference_granted(const struct config *cfg, const char *from_group,
			      const char *from_kind, const char *from_ns, const char *to_group,
			      const char *to_kind, const char *to_ns, const char *to_name)
{
	if (!strcmp(from_ns, to_ns))
		return true;
	for (size_t i = 0; i < cfg->n_reference_grants; i++) {
		const struct config_reference_grant *g = &cfg->reference_grants[i];
		bool from = false, to = false;

		if (strcmp(g->meta.namespace, to_ns))
			continue;
		for (size_t k = 0; k < g->n_from && !from; k++)
			from = !strcmp(g->from[k].group, from_group) &&
			       !strcmp(g->from[k].kind, from_kind) &&
			       !strcmp(g->from[k].namespace, from_ns);
		for (size_t k = 0; from && k < g->n_to && !to; k++)
			to = !strcmp(g->to[k].group, to_group) && !strcmp(g->to[k].kind, to_kind) &&
			     (!g->to[k].name || !strcmp(g->to[k].name, to_name));
		if (from && to)
			return true;
	}
	return false;
}
