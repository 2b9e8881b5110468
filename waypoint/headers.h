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

struct wp_header_list {
	size_t n, cap;
	struct {
		char *name, *value;
	} * items;
};

/* Appends a copy of @name: @value. 0 or -ENOMEM. */
int wp_headers_add(struct wp_header_list *h, const char *name, const char *value);
/* The first value of @name, or NULL (borrowed). */
const char *wp_headers_get(const struct wp_header_list *h, const char *name);
size_t wp_headers_count(const struct wp_header_list *h, const char *name);
void wp_headers_free(struct wp_header_list *h);
/*
 * Applies @ops to @h; for a request, "host"/":authority" set or add replace *@authority
 * (malloc'd; freed and replaced; may be NULL). 0 or -ENOMEM.
 */
int wp_headers_apply(struct wp_header_list *h, const struct config_header_ops *ops,
		     char **authority);

#endif
