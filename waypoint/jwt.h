/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON Web Tokens as Envoy's jwt_authn filter checks them for Istio's RequestAuthentication:
 * a JWKS parsed once per configuration generation, a compact JWS verified against it (RS256/
 * 384/512, PS256/384/512, ES256/384/512 by cjose; EdDSA over Ed25519 by the runtime's crypto
 * seam; never "none"), then the issuer, audiences and the exp / nbf times with Envoy's 60 s of
 * clock skew. Failures carry Envoy's words ("Jwt is expired", "Jwt verification fails"), which
 * are what a client gets in the 401's body. A worker keeps the tokens it verified in a bounded
 * cache (Envoy's jwt_cache_config), so a token sent again costs no signature check.
 */
#ifndef AMBIT_WAYPOINT_JWT_H
#define AMBIT_WAYPOINT_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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
	WP_JWT_HEADER_CRIT,
	WP_JWT_IAT_NOT_INTEGER,
	WP_JWT_IAT_OUT_OF_RANGE,
	WP_JWT_NBF_NOT_INTEGER,
	WP_JWT_NBF_OUT_OF_RANGE,
	WP_JWT_EXP_NOT_INTEGER,
	WP_JWT_EXP_OUT_OF_RANGE,
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
	uint64_t iat, nbf, exp; /* NumericDates as Envoy reads them (truncated); 0: absent */
};

/*
 * Decodes @token (@n bytes) into @out without checking its signature: enough to find the rule
 * its issuer names. As jwt_verify_lib parses: iat, nbf and exp must be numbers in [0, 2^64)
 * (a fraction is dropped); and, as RFC 7515 §4.1.11 wants, a header with "crit" is refused (we
 * understand no extension). WP_JWT_OK or why not (then @out holds nothing to free).
 */
enum wp_jwt_status wp_jwt_decode(const char *token, size_t n, struct wp_jwt *out);

/*
 * Verified tokens of one worker (not thread-safe: one per worker, no lock), as Envoy's
 * JwtCache: at most @entries (0: WP_JWT_CACHE_ENTRIES), tokens up to WP_JWT_CACHE_TOKEN_MAX
 * bytes, each under the exact token bytes and the key set that verified its signature (a key
 * set's serial: a new generation's set, a rotated JWKS, never finds an entry of the old one).
 * An entry spares the signature check only: the audiences and exp/nbf are checked at every
 * hit, against the time then, and an expired entry is dropped. The least recently used entry
 * makes room.
 */
#define WP_JWT_CACHE_ENTRIES 100
#define WP_JWT_CACHE_TOKEN_MAX 4096
struct wp_jwt_cache;
struct wp_jwt_cache *wp_jwt_cache_new(size_t entries);
void wp_jwt_cache_free(struct wp_jwt_cache *c);
struct wp_jwt_cache_stats {
	uint64_t hits, misses, evictions;
	size_t entries, bytes; /* held now: entries, and their tokens' bytes */
};
void wp_jwt_cache_stats(const struct wp_jwt_cache *c, struct wp_jwt_cache_stats *out);

/* A serial number no other key set parsed in this process has (the cache's key). */
uint64_t wp_jwks_serial(const struct wp_jwks *k);

/*
 * Verifies decoded @jwt (from @token, @n bytes) against @keys (NULL: the rule's JWKS could not
 * be had: WP_JWT_JWKS_MISSING), the @audiences allowed (empty: any) and the time @now. With
 * @cache (or NULL), a signature verified before under the same @keys is not checked again; one
 * verified now is remembered.
 */
enum wp_jwt_status wp_jwt_verify(const char *token, size_t n, const struct wp_jwt *jwt,
				 const struct wp_jwks *keys, const struct config_strings *audiences,
				 time_t now, struct wp_jwt_cache *cache);
void wp_jwt_clear(struct wp_jwt *jwt);

#endif
