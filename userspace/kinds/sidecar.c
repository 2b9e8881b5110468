// SPDX-License-Identifier: Apache-2.0
/*
 * Sidecar (networking.istio.io): known, and refused. It scopes a sidecar proxy's listeners and
 * egress; in ambient mode there is no sidecar, and Istio documents that ztunnel and waypoints
 * ignore Sidecar resources. Loading one silently would look like it limited something it does
 * not, so its file is refused (a file with an error contributes none of its objects, and the
 * agent keeps serving that file's last good version), with what to use instead.
 */
#include <errno.h>

#include "decode/decode.h"

const struct cfg_field cfg_sidecar_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED},
    {"spec", CFG_T_MAP, NULL, 0}, /* never used: not checked beyond being a mapping */
    {"status", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

int cfg_sidecar_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o)
{
	size_t saved = cfg_path_push(ctx, "kind");

	cfg_error(ctx, cfg_map_get(ctx, root, "kind"),
		  "Sidecar is not used in ambient mode (ztunnel and waypoints ignore it): limit "
		  "what workloads may reach with AuthorizationPolicy, and declare external hosts "
		  "with a ServiceEntry; remove this object");
	cfg_path_pop(ctx, saved);
	return -EINVAL;
}
