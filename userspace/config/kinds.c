// SPDX-License-Identifier: Apache-2.0
/*
 * What calls every kind: the loader's table expanded from kinds.def, the parse of one object
 * through it (the kind's fields, its finish hook, the staging model), config_free and the merge
 * of a file's staged objects. The kinds' own files call only helpers (config.c, config_yaml.c,
 * config_k8s.c's metadata and names), never this file, so no helper depends on a kind.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

/* The API versions kinds.def names: the first is the one written back and generated. */
static const char *const core_v1[] = {"v1", NULL};
static const char *const apps_v1[] = {"apps/v1", NULL};
static const char *const discovery_v1[] = {"discovery.k8s.io/v1", NULL};
static const char *const networking_istio[] = {
    "networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3", NULL};
static const char *const security_istio[] = {"security.istio.io/v1", "security.istio.io/v1beta1",
					     NULL};
static const char *const gateway_api[] = {CONFIG_GW_GROUP "/v1", CONFIG_GW_GROUP "/v1beta1", NULL};
static const char *const gateway_api_v1[] = {CONFIG_GW_GROUP "/v1", NULL};
static const char *const gateway_api_tls[] = {CONFIG_GW_GROUP "/v1alpha2",
					      CONFIG_GW_GROUP "/v1alpha3", NULL};
static const char *const gateway_api_tcp[] = {CONFIG_GW_GROUP "/v1alpha2", NULL};
/* ReferenceGrant: v1 since Gateway API 1.5; v1beta1, still the CRD's stored version, first. */
static const char *const gateway_api_grant[] = {CONFIG_GW_GROUP "/v1beta1", CONFIG_GW_GROUP "/v1",
						CONFIG_GW_GROUP "/v1alpha2", NULL};
static const char *const networking_istio_v1alpha3[] = {"networking.istio.io/v1alpha3", NULL};
static const char *const networking_ambit[] = {CONFIG_AMBIT_NET_GROUP "/v1alpha1", NULL};
static const char *const telemetry_istio[] = {"telemetry.istio.io/v1",
					      "telemetry.istio.io/v1alpha1", NULL};

/* Each kind's store in struct config, and its element free (the model's own). */
#define KIND(id, k, apis, nsd, rule, fields, finish, type, arr, free_fn, agent, un)                \
	static size_t id##_count(const struct config *c)                                           \
	{                                                                                          \
		return c->n_##arr;                                                                 \
	}                                                                                          \
	static const struct config_meta *id##_meta_at(const struct config *c, size_t i)            \
	{                                                                                          \
		return &c->arr[i].meta;                                                            \
	}                                                                                          \
	static int id##_append(struct config *c, void *obj)                                        \
	{                                                                                          \
		type *a = realloc(c->arr, (c->n_##arr + 1) * sizeof(*a));                          \
		if (!a)                                                                            \
			return -ENOMEM;                                                            \
		c->arr = a;                                                                        \
		memcpy(&a[c->n_##arr++], obj, sizeof(*a));                                         \
		return 0;                                                                          \
	}                                                                                          \
	static void id##_free(void *obj)                                                           \
	{                                                                                          \
		free_fn(obj);                                                                      \
	}
#include "kinds.def"

/* A refused kind's file declares nothing else: its fields and finish are declared here. */
#define KIND(id, k, apis, nsd, rule, flds, fin, type, arr, free_fn, ag, un)
#define KIND_REFUSED(id, k, apis, nsd, flds, fin)                                                  \
	extern const struct cfg_field flds[];                                                      \
	int fin(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o);
#include "kinds.def"

/* A refused kind's object got as far as its metadata: that is all there is to free. */
static __attribute__((unused)) void refused_free(void *obj)
{
	config_meta_free(obj);
}

/* Designated: a parameter may not share a member's name (it would replace it). */
static const struct cfg_kind kinds[] = {
#define KIND(id, k, apis, nsd, rule, flds, fin, type, arr, free_fn, ag, un)                        \
	{.kind = k,                                                                                \
	 .api_versions = apis,                                                                     \
	 .namespaced = nsd,                                                                        \
	 .name_rule = rule,                                                                        \
	 .fields = flds,                                                                           \
	 .finish = fin,                                                                            \
	 .count = id##_count,                                                                      \
	 .meta_at = id##_meta_at,                                                                  \
	 .append = id##_append,                                                                    \
	 .free = id##_free,                                                                        \
	 .agent = ag,                                                                              \
	 .in_union = un},
#define KIND_REFUSED(id, k, apis, nsd, flds, fin)                                                  \
	{.kind = k,                                                                                \
	 .api_versions = apis,                                                                     \
	 .namespaced = nsd,                                                                        \
	 .name_rule = CFG_NAME_SUBDOMAIN,                                                          \
	 .fields = flds,                                                                           \
	 .finish = fin,                                                                            \
	 .free = refused_free},
#include "kinds.def"
};

void cfg_kind_key(const struct cfg_kind *kd, char *buf, size_t len)
{
	char group[96];

	config_api_group(kd->api_versions[0], group, sizeof(group));
	snprintf(buf, len, "%s.%s", kd->kind, group);
}

const struct cfg_kind *cfg_kinds(size_t *n)
{
	*n = sizeof(kinds) / sizeof(kinds[0]);
	return kinds;
}

static char *object_name(struct cfg_ctx *ctx, const struct cfg_kind *kd, yaml_node_t *root)
{
	yaml_node_t *meta = cfg_map_get(ctx, root, "metadata");
	yaml_node_t *name = cfg_map_get(ctx, meta, "name");
	yaml_node_t *ns = cfg_map_get(ctx, meta, "namespace");
	const char *n = "<unnamed>", *s = "default";
	char *out = NULL;

	if (ctx->opts && ctx->opts->default_namespace)
		s = ctx->opts->default_namespace;
	if (name && name->type == YAML_SCALAR_NODE && cfg_scalar_kind(name) == CFG_S_STR)
		n = (const char *)name->data.scalar.value;
	if (ns && ns->type == YAML_SCALAR_NODE && cfg_scalar_kind(ns) == CFG_S_STR)
		s = (const char *)ns->data.scalar.value;
	if (kd->namespaced) {
		if (asprintf(&out, "%s %.63s/%.253s", kd->kind, s, n) < 0)
			out = NULL;
	} else if (asprintf(&out, "%s %.253s", kd->kind, n) < 0) {
		out = NULL;
	}
	return out;
}

/* Keeps a clean object for the caller's on_object with its own YAML (@inject_ns: see emit). */
static int tell_object(struct cfg_ctx *ctx, yaml_node_t *root, const struct cfg_kind *kd,
		       const struct config_meta *meta, const char *inject_ns)
{
	yaml_node_t *api = cfg_map_get(ctx, root, "apiVersion");
	struct cfg_told *told = realloc(ctx->told, (ctx->ntold + 1) * sizeof(*told)), *t;

	if (!told)
		return -ENOMEM;
	ctx->told = told;
	t = &told[ctx->ntold];
	memset(t, 0, sizeof(*t));
	t->api_version = strdup((const char *)api->data.scalar.value);
	t->kind = strdup(kd->kind);
	t->namespace = kd->namespaced ? strdup(meta->namespace) : NULL;
	t->name = strdup(meta->name);
	t->yaml = cfg_emit_object(ctx, root, kd->namespaced ? inject_ns : NULL);
	t->line = meta->origin.line;
	ctx->ntold++;
	if (!t->api_version || !t->kind || (kd->namespaced && !t->namespace) || !t->name ||
	    !t->yaml)
		return -ENOMEM;
	return 0;
}

static void parse_object(struct cfg_ctx *ctx, const struct cfg_kind *kd, yaml_node_t *root)
{
	union {
#define KIND(id, k, apis, nsd, rule, fields, finish, type, arr, free_fn, agent, un) type id;
#include "kinds.def"
	} u;
	struct cfg_obj o = {.kind = kd, .name_rule = kd->name_rule, .meta = &u.ns.meta, .obj = &u};
	const char *default_ns =
	    ctx->opts && ctx->opts->default_namespace ? ctx->opts->default_namespace : "default";
	const char *dup_file = NULL;
	char kind_key[128];
	int before = ctx->nerrors, dup, dup_line = 0;
	bool named_ns;

	/* Every model struct starts with its config_meta, so &u is also the meta. */
	memset(&u, 0, sizeof(u));
	cfg_walk_map(ctx, root, kd->fields, &o);
	if (ctx->nerrors != before)
		goto fail;
	named_ns = o.meta->namespace != NULL;
	if (kd->namespaced && !named_ns && !(o.meta->namespace = strdup(default_ns)))
		goto oom;
	if (kd->namespaced && named_ns && ctx->opts && ctx->opts->enforce_namespace &&
	    strcmp(o.meta->namespace, default_ns)) {
		size_t saved = cfg_path_push(ctx, "metadata.namespace");

		cfg_error(ctx, cfg_map_get(ctx, cfg_map_get(ctx, root, "metadata"), "namespace"),
			  "the namespace of the object (%s) does not match the namespace given "
			  "with -n (%s)",
			  o.meta->namespace, default_ns);
		cfg_path_pop(ctx, saved);
		goto fail;
	}
	o.meta->origin.file = strdup(ctx->file);
	o.meta->origin.line = (int)root->start_mark.line + 1;
	o.meta->api_version =
	    strdup((const char *)cfg_map_get(ctx, root, "apiVersion")->data.scalar.value);
	if (!o.meta->origin.file || !o.meta->api_version)
		goto oom;
	if (kd->finish && kd->finish(ctx, root, &o))
		goto fail;
	if (!kd->append) { /* a refused kind's finish always says why; never kept regardless */
		cfg_error(ctx, root, "%s objects are not loaded", kd->kind);
		goto fail;
	}
	cfg_kind_key(kd, kind_key, sizeof(kind_key));
	dup = cfg_index_find(ctx, kind_key, o.meta->namespace, o.meta->name, &dup_file, &dup_line);
	if (dup < 0)
		goto oom;
	if (dup) {
		size_t saved = cfg_path_push(ctx, "metadata.name");

		cfg_error(ctx, root, "%s is defined twice (first at %s:%d)", ctx->object, dup_file,
			  dup_line);
		cfg_path_pop(ctx, saved);
		goto fail;
	}
	/* ctx->file outlives the load call's index; the stage's copy may move on append. */
	if (cfg_index_add(ctx, kind_key, o.meta->namespace, o.meta->name, ctx->file,
			  o.meta->origin.line))
		goto oom;
	if (ctx->opts && ctx->opts->on_object &&
	    tell_object(ctx, root, kd, o.meta, named_ns ? NULL : o.meta->namespace))
		goto oom;
	if (kd->append(ctx->stage, &u))
		goto oom;
	return;
oom:
	cfg_error(ctx, root, "out of memory");
fail:
	kd->free(&u);
}

static void parse_one(struct cfg_ctx *ctx, yaml_node_t *root, bool in_list);

static const struct cfg_field list_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, NULL, 0},
    {"items", CFG_T_SEQ, NULL, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

static void parse_list(struct cfg_ctx *ctx, yaml_node_t *root)
{
	yaml_node_t *items;

	if (cfg_walk_map(ctx, root, list_fields, NULL))
		return;
	items = cfg_map_get(ctx, root, "items");
	if (!items || items->type != YAML_SEQUENCE_NODE)
		return; /* an explicit null: an empty list */
	for (yaml_node_item_t *it = items->data.sequence.items.start;
	     it < items->data.sequence.items.top; it++) {
		size_t saved = cfg_path_push(ctx, "items");

		cfg_path_push_index(ctx, (size_t)(it - items->data.sequence.items.start));
		parse_one(ctx, cfg_node(ctx, *it), true);
		cfg_path_pop(ctx, saved);
	}
}

/* The group of "group/version" ("" for the core "v1"). */
static size_t api_group_len(const char *api)
{
	const char *slash = strchr(api, '/');

	return slash ? (size_t)(slash - api) : 0;
}

/*
 * False only for a CRD group (it has a dot) none of @kd's versions is in: another API's kind
 * of the same name. Core and built-in groups keep the "does not serve" diagnosis.
 */
static bool api_group_served(const struct cfg_kind *kd, const char *api)
{
	size_t n = api_group_len(api);

	if (!memchr(api, '.', n))
		return true;

	for (const char *const *v = kd->api_versions; *v; v++)
		if (api_group_len(*v) == n && !strncmp(*v, api, n))
			return true;
	return false;
}

char *config_k8s_object_name(struct cfg_ctx *ctx, yaml_node_t *root)
{
	yaml_node_t *kind = cfg_map_get(ctx, root, "kind");
	yaml_node_t *api = cfg_map_get(ctx, root, "apiVersion");

	if (!kind || kind->type != YAML_SCALAR_NODE)
		return NULL;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kinds[i].kind, (const char *)kind->data.scalar.value) == 0 &&
		    (!api || api->type != YAML_SCALAR_NODE ||
		     api_group_served(&kinds[i], (const char *)api->data.scalar.value)))
			return object_name(ctx, &kinds[i], root);
	return NULL;
}

static void parse_one(struct cfg_ctx *ctx, yaml_node_t *root, bool in_list)
{
	yaml_node_t *kind, *api;
	const struct cfg_kind *kd = NULL;
	const char *k, *a;
	size_t saved;

	if (root->type != YAML_MAPPING_NODE) {
		cfg_error(ctx, root, "a manifest must be a mapping, got %s", cfg_type_name(root));
		return;
	}
	kind = cfg_map_get(ctx, root, "kind");
	api = cfg_map_get(ctx, root, "apiVersion");
	if (!kind || !api || kind->type != YAML_SCALAR_NODE || api->type != YAML_SCALAR_NODE ||
	    cfg_scalar_kind(kind) != CFG_S_STR || cfg_scalar_kind(api) != CFG_S_STR) {
		saved = cfg_path_push(ctx, !kind || kind->type != YAML_SCALAR_NODE ||
						   cfg_scalar_kind(kind) != CFG_S_STR
					       ? "kind"
					       : "apiVersion");
		cfg_error(ctx, kind && api ? (kind->type != YAML_SCALAR_NODE ? kind : api) : root,
			  "every object needs string \"apiVersion\" and \"kind\" fields");
		cfg_path_pop(ctx, saved);
		return;
	}
	k = (const char *)kind->data.scalar.value;
	a = (const char *)api->data.scalar.value;
	if (!in_list && strcmp(k, "List") == 0 && strcmp(a, "v1") == 0) {
		parse_list(ctx, root);
		return;
	}
	/* A kind of that name whose API group is the one written, else the first of that name. */
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kinds[i].kind, k) == 0 && (!kd || api_group_served(&kinds[i], a)))
			if (!kd || !api_group_served(kd, a))
				kd = &kinds[i];
	if (!kd) {
		saved = cfg_path_push(ctx, "kind");
		cfg_error(ctx, kind, "unknown kind \"%.64s\" (apiVersion \"%.64s\")", k, a);
		cfg_path_pop(ctx, saved);
		return;
	}
	/*
	 * Same kind name, another API group (gateway.networking.k8s.io's Gateway is not
	 * networking.istio.io's): that kind is not one we load.
	 */
	if (!api_group_served(kd, a)) {
		saved = cfg_path_push(ctx, "kind");
		cfg_error(ctx, kind,
			  "unknown kind \"%.64s\" (apiVersion \"%.64s\"; ambit loads %s "
			  "from %s)",
			  k, a, kd->kind, kd->api_versions[0]);
		cfg_path_pop(ctx, saved);
		return;
	}
	free(ctx->object);
	ctx->object = object_name(ctx, kd, root);
	for (const char *const *v = kd->api_versions; *v; v++) {
		if (strcmp(*v, a) == 0) {
			parse_object(ctx, kd, root);
			goto out;
		}
	}
	saved = cfg_path_push(ctx, "apiVersion");
	cfg_error(ctx, api, "apiVersion \"%.64s\" does not serve kind %s (want %s)", a, kd->kind,
		  kd->api_versions[0]);
	cfg_path_pop(ctx, saved);
out:
	free(ctx->object);
	ctx->object = NULL;
}

int config_k8s_document(struct cfg_ctx *ctx, yaml_node_t *root)
{
	int before = ctx->nerrors;

	parse_one(ctx, root, false);
	return ctx->nerrors == before ? 0 : -EINVAL;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
#define KIND(id, k, apis, nsd, rule, fields, finish, type, arr, free_fn, agent, un)                \
	for (size_t i = 0; i < cfg->n_##arr; i++)                                                  \
		free_fn(&cfg->arr[i]);                                                             \
	free(cfg->arr);
#include "kinds.def"
	config_init(cfg);
}

/*
 * Preallocates every destination first so the merge itself cannot fail half-way: a file
 * contributes either all its objects or none.
 */
int cfg_merge(struct config *cfg, struct config *stage)
{
	struct {
		void **dst, **src;
		size_t *ndst, *nsrc;
		size_t size;
	} arrs[] = {
#define KIND(id, k, apis, nsd, rule, fields, finish, type, arr, free_fn, agent, un)                \
	{(void **)&cfg->arr, (void **)&stage->arr, &cfg->n_##arr, &stage->n_##arr,                 \
	 sizeof(*cfg->arr)},
#include "kinds.def"
	};
	size_t i, n = sizeof(arrs) / sizeof(arrs[0]);

	cfg->namespaces_sorted = false; /* what comes is appended */
	for (i = 0; i < n; i++) {
		void *arr;

		if (!*arrs[i].nsrc)
			continue;
		arr = realloc(*arrs[i].dst, (*arrs[i].ndst + *arrs[i].nsrc) * arrs[i].size);
		if (!arr)
			return -ENOMEM;
		*arrs[i].dst = arr;
	}
	for (i = 0; i < n; i++) {
		if (!*arrs[i].nsrc)
			continue;
		memcpy((char *)*arrs[i].dst + *arrs[i].ndst * arrs[i].size, *arrs[i].src,
		       *arrs[i].nsrc * arrs[i].size);
		*arrs[i].ndst += *arrs[i].nsrc;
		free(*arrs[i].src);
		*arrs[i].src = NULL;
		*arrs[i].nsrc = 0;
	}
	return 0;
}
