/* SPDX-License-Identifier: Apache-2.0 */
/* The L7 JSON codec's shared name tables (l7_json.c encodes, l7_json_dec.c decodes). */
#ifndef AMBIT_L7_JSON_PRIV_H
#define AMBIT_L7_JSON_PRIV_H

#include "l7_priv.h"

/* NULL-terminated, indexed by the enum they name. */
extern const char *const l7_match_names[], *const l7_action_names[], *const l7_routes_kind_names[];
extern const char *const l7_lb_names[], *const l7_hash_names[], *const l7_h2_names[];
extern const char *const l7_derive_names[], *const l7_preflight_names[];

#endif
