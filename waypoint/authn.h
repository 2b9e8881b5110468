/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RequestAuthentication at the waypoint, as Istio configures Envoy's jwt_authn filter (every
 * jwtRule a provider; the requirement "any of them, or no token at all"): a request without a
 * token passes with no request principal; a token from a rule's locations (fromHeaders with
 * their prefixes, fromParams, fromCookies; by default "Authorization: Bearer" and the
 * access_token parameter) must verify against the rule whose issuer it names, or the request is
 * answered 401 with Envoy's reason. A verified token gives the request principal "iss/sub" and
 * its claims to the policies, is removed from where it came (unless forwardOriginalToken), and
 * sets outputPayloadToHeader and outputClaimToHeaders.
 */
#ifndef AMBIT_WAYPOINT_AUTHN_H
#define AMBIT_WAYPOINT_AUTHN_H

#include <stdbool.h>
#include <time.h>

#include "config.h"
#include "http_fields.h"
#include "jwt.h"

struct wp_authn {
	const char *error;	   /* Envoy's reason for the 401, or NULL: the request passes */
	char *principal;	   /* "iss/sub" of the verified token (malloc'd), or NULL */
	const struct l7_jwt *rule; /* the rule that verified it */
	struct wp_jwt jwt;	   /* the verified token's claims */
};

/*
 * Checks the request with fields @f and target @target against the JWT rules of service @s in
 * @g at time @now, and on success edits @f (the token's header removed, the output headers
 * set). Fills @out (release with wp_authn_clear). 0, or -ENOMEM.
 */
int wp_authn_check(const struct wp_gen *g, const struct l7_service *s, struct http_fields *f,
		   const char *target, time_t now, struct wp_authn *out);
void wp_authn_clear(struct wp_authn *a);

#endif
