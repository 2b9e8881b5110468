/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Header operations (VirtualService headers, Gateway API header modifiers), as Envoy applies
 * Istio's translation: remove first, then set (replace every value, or add when absent), then add
 * (one more value); names compare case-insensitively. The route's operations go first and a
 * destination's after them, so a destination's set wins (API_SEMANTICS.md §1.3). A request set of
 * ":authority" or "host" rewrites the authority. Values are literal: Envoy's %VAR% formatting is
 * not expanded.
 */
#ifndef AMBIT_WAYPOINT_HEADERS_H
#define AMBIT_WAYPOINT_HEADERS_H

#include <stddef.h>

#include "ambit/config.h"
#include "http/http_fields.h"

/*
 * Applies @ops to @h; for a request, "host"/":authority" set or add point *@authority (may be
 * NULL) at the new value, a copy in @h's arena. 0 or -ENOMEM.
 */
int wp_headers_apply(struct http_fields *h, const struct config_header_ops *ops, char **authority);

#endif
