/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON Web Tokens as Envoy's jwt_authn filter checks them for Istio's RequestAuthentication:
 * a JWKS parsed once per configuration generation, a compact JWS verified against it (RS256/
 * 384/512, PS256/384/512, ES256/384/512 by cjose; EdDSA over Ed25519 by the runtime's crypto
 * seam; never "none"), then the issuer, audiences and the exp / nbf times with Envoy's 60 s of
 * clock skew. Failures carry Envoy's words ("Jwt is expired", "Jwt verification fails"), which
 * are what a client gets in the 401's body.
 */
#ifndef AMBIT_WAYPOINT_JWT_H
#define AMBIT_WAYPOINT_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "ambit/config.h"

struct cJSON;
struct wp_jwks;

/* A key set from JWKS JSON ({"keys": [...]}); keys of unknown types are skipped. NULL with the
 * reason in @err when the JSON is not a key set or holds no usable key. */
struct wp_jwks *wp_jwks_parse(const char *json, char *err, size_t len);
void wp_jwks_free(struct wp_jwks *k);
size_t wp_jwks_count(const struct wp_jwks *k);

enum wp_jwt_status {
	WP_JWT_OK = 0,
	WP_JWT_BAD_FORMAT,
	WP_JWT_HEADER_BAD_BASE64,
	WP_JWT_HEADER_BAD_JSON,
	WP_JWT_HEADER_BAD_ALG,
	WP_JWT_HEADER_ALG_UNSUPPORTED,
	WP_JWT_PAYLOAD_BAD_BASE64,
	WP_JWT_PAYLOAD_BAD_JSON,
	WP_JWT_ISS_NOT_STRING,
	WP_JWT_SUB_NOT_STRING,
	WP_JWT_TIME_NOT_INTEGER,
	WP_JWT_SIGNATURE_BAD_BASE64,
	WP_JWT_UNKNOWN_ISSUER,
	WP_JWT_AUDIENCE_NOT_ALLOWED,
	WP_JWT_EXPIRED,
	WP_JWT_NOT_YET_VALID,
	WP_JWT_NO_MATCHING_KEY,
	WP_JWT_VERIFICATION_FAILS,
	WP_JWT_JWKS_MISSING,
	WP_JWT_STATUS_COUNT,
};

/* Envoy's message for @s (jwt_verify_lib's status strings). */
const char *wp_jwt_status_text(enum wp_jwt_status s);

/* A token's parts, before and after verification. */
struct wp_jwt {
	struct cJSON *payload; /* the claims (owned) */
	const char *iss, *sub; /* in payload; NULL when absent */
	const char *payload_b64;
	size_t payload_b64_len; /* the payload as it came (outputPayloadToHeader) */
};

/*
 * Decodes @token (@n bytes) into @out without checking its signature: enough to find the rule
 * its issuer names. WP_JWT_OK or why not (then @out holds nothing to free).
 */
enum wp_jwt_status wp_jwt_decode(const char *token, size_t n, struct wp_jwt *out);

/*
 * Verifies decoded @jwt (from @token, @n bytes) against @keys (NULL: the rule's JWKS could not
 * be had: WP_JWT_JWKS_MISSING), the @audiences allowed (empty: any) and the time @now.
 */
enum wp_jwt_status wp_jwt_verify(const char *token, size_t n, const struct wp_jwt *jwt,
				 const struct wp_jwks *keys, const struct config_strings *audiences,
				 time_t now);
void wp_jwt_clear(struct wp_jwt *jwt);

#endif
