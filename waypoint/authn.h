/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RequestAuthentication at the waypoint, as Istio configures Envoy's jwt_authn filter (every
 * jwtRule a provider; the requirement "any of them, or no token at all"): a request without a
 * token passes with no request principal. Every token at every place of the service's rules
 * (fromHeaders with their prefixes, fromParams, fromCookies; by default "Authorization: Bearer"
 * and the access_token parameter; every field, parameter and cookie of that name) must verify
 * against a rule whose issuer it names and which names that place, or the request is answered
 * 401 with Envoy's reason: a good token does not carry a forged one beside it. The first token
 * in Envoy's order of extraction (headers, then parameters, then cookies) gives the request
 * principal "iss/sub" and its claims to the policies. Each verified token is removed from its
 * header (unless forwardOriginalToken) and sets outputPayloadToHeader and outputClaimToHeaders,
 * which a client cannot send itself (removed from every request).
 */
#ifndef AMBIT_WAYPOINT_AUTHN_H
#define AMBIT_WAYPOINT_AUTHN_H

#include <stdbool.h>
#include <time.h>

#include "config.h"
#include "http/http_fields.h"
#include "jwt.h"

/* Tokens one request may carry; more are refused (each would cost a signature check). */
#define WP_AUTHN_MAX_TOKENS 16

struct wp_authn {
	const char *error;	   /* Envoy's reason for the 401, or NULL: the request passes */
	char *principal;	   /* "iss/sub" of the first token (malloc'd), or NULL */
	const struct l7_jwt *rule; /* the rule that verified it */
	struct wp_jwt jwt;	   /* its claims */
};

/*
 * Checks the request with fields @f and target @target against the JWT rules of service @s in
 * @g at time @now, with the worker's verified tokens @cache (or NULL), and edits @f (the
 * client's output headers removed; on success the tokens' headers removed, the output headers
 * set). Fills @out (release with wp_authn_clear). 0, or -ENOMEM.
 */
int wp_authn_check(const struct wp_gen *g, const struct l7_service *s, struct http_fields *f,
		   const char *target, time_t now, struct wp_jwt_cache *cache,
		   struct wp_authn *out);
void wp_authn_clear(struct wp_authn *a);

#endif
