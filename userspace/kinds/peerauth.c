// SPDX-License-Identifier: Apache-2.0
/*
 * PeerAuthentication (security.istio.io v1, v1beta1; API_SEMANTICS.md §4): selector, mtls.mode
 * and portLevelMtls keyed by workload (container) port, with Istio's webhook and CEL rules.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

void config_peer_authentication_free(struct config_peer_authentication *p)
{
	config_meta_free(&p->meta);
	config_labels_free(&p->selector);
	free(p->port_mtls);
	memset(p, 0, sizeof(*p));
}

static int mtls_mode(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	static const char *const modes[] = {"UNSET", "PERMISSIVE", "STRICT", "DISABLE", NULL};
	enum config_mtls_mode *m = obj;
	const char *s = (const char *)v->data.scalar.value;

	if (cfg_check_enum(ctx, v, modes, NULL))
		return -EINVAL;
	*m = !strcmp(s, "PERMISSIVE") ? CONFIG_MTLS_PERMISSIVE
	     : !strcmp(s, "STRICT")   ? CONFIG_MTLS_STRICT
	     : !strcmp(s, "DISABLE")  ? CONFIG_MTLS_DISABLE
				      : CONFIG_MTLS_UNSET;
	return 0;
}

static const struct cfg_field mtls_fields[] = {
    {"mode", CFG_T_STR, mtls_mode, 0},
    {NULL, 0, NULL, 0},
};

static int pa_mtls(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, mtls_fields, &((struct config_peer_authentication *)obj)->mode);
}

static int pa_selector(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_peer_authentication *p = obj;

	p->has_selector = true;
	return cfg_get_workload_selector(ctx, v, &p->selector);
}

static int pa_port_level(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_peer_authentication *p = obj;
	size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
	int before = ctx->nerrors;

	if (!n) {
		cfg_error(ctx, v, "portLevelMtls must have at least one port (remove it instead)");
		return -EINVAL;
	}
	if (n > 65535) {
		cfg_error(ctx, v, "too many ports");
		return -EINVAL;
	}
	p->port_mtls = calloc(n, sizeof(*p->port_mtls));
	if (!p->port_mtls) {
		cfg_error(ctx, v, "out of memory");
		return -ENOMEM;
	}
	for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top;
	     pr++) {
		yaml_node_t *k = cfg_node(ctx, pr->key), *val = cfg_node(ctx, pr->value);
		const char *key = (const char *)k->data.scalar.value;
		size_t saved = cfg_path_push(ctx, key);
		struct config_port_mtls *pm = &p->port_mtls[p->n_port_mtls];
		long port;

		/* Keys are workload ports: the CRD's map is keyed by uint32. */
		if (strspn(key, "0123456789") != strlen(key) || !*key) {
			cfg_error(ctx, k, "key \"%.64s\" is not a port number", key);
		} else if (!cfg_port_string_ok(key, 1, &port)) {
			cfg_error(ctx, k, "port %.16s: port must be between 1-65535", key);
		} else if (cfg_is_null(val)) {
			cfg_error(ctx, val, "null mtls setting for port %ld", port);
		} else if (cfg_walk_map(ctx, val, mtls_fields, &pm->mode) == 0) {
			pm->port = (uint16_t)port;
			p->n_port_mtls++;
		}
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static const struct cfg_field pa_spec_fields[] = {
    {"selector", CFG_T_MAP, pa_selector, 0},
    {"mtls", CFG_T_MAP, pa_mtls, 0},
    {"portLevelMtls", CFG_T_MAP, pa_port_level, 0},
    {NULL, 0, NULL, 0},
};

static int pa_spec(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, pa_spec_fields, ((struct cfg_obj *)obj)->obj);
}

const struct cfg_field cfg_peerauth_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED},
    {"spec", CFG_T_MAP, pa_spec, 0},
    {"status", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

int cfg_peerauth_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o)
{
	struct config_peer_authentication *p = o->obj;
	yaml_node_t *spec = cfg_map_get(ctx, root, "spec");
	size_t saved = cfg_path_push(ctx, "spec.portLevelMtls");
	int err = 0;

	/* Port-level settings are per workload: without a selector there is no workload. */
	if (p->n_port_mtls && !p->has_selector) {
		cfg_error(ctx, cfg_map_get(ctx, spec, "portLevelMtls"),
			  "portLevelMtls requires selector");
		err = -EINVAL;
	}
	cfg_path_pop(ctx, saved);
	if (err)
		return err;
	saved = cfg_path_push(ctx, "spec.mtls.mode");
	if (p->mode == CONFIG_MTLS_DISABLE)
		cfg_diag(ctx, spec, false,
			 "DISABLE is not supported in ambient mode: the ztunnel treats it as "
			 "PERMISSIVE (plaintext is accepted, mTLS still used between mesh pods)");
	cfg_path_pop(ctx, saved);
	return 0;
}
