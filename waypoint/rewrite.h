/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Path and authority rewriting before forwarding, and the Location of a redirect, as Envoy does
 * them for Istio's translation (API_SEMANTICS.md §1.3, §7). A prefix rewrite replaces the
 * prefix the route matched (segment-aware for Gateway API: "/" as the new prefix does not double
 * the slash); a full rewrite replaces the path; uriRegexRewrite replaces every match in the
 * path (\1 substitutions); the query string is kept in all three. A redirect keeps what it does
 * not replace; its port is the one given, the request's (FROM_REQUEST_PORT), or none for the
 * scheme's default (FROM_PROTOCOL_DEFAULT, or a default port).
 */
#ifndef AMBIT_WAYPOINT_REWRITE_H
#define AMBIT_WAYPOINT_REWRITE_H

#include <stdint.h>

#include "ambit/l7.h"

/*
 * The path to forward for request path @path (with its query) taken by route @r through match
 * @m (NULL: none). Returns a malloc'd string (the caller frees), or NULL with errno set
 * (EINVAL: @r's regex does not compile).
 */
char *wp_rewrite_path(const struct l7_route *r, const struct l7_match *m, const char *path);
/*
 * The Location of redirect route @r for a request (@scheme, @authority, @path, on @port),
 * matched through @m. malloc'd, or NULL with errno set.
 */
char *wp_redirect_location(const struct l7_route *r, const struct l7_match *m, const char *scheme,
			   const char *authority, const char *path, uint16_t port);

#endif
