/* SPDX-License-Identifier: Apache-2.0 */
/*
 * L7 AuthorizationPolicy at the waypoint, as Envoy's RBAC filter runs what Istio generates
 * (API_SEMANTICS.md §3): CUSTOM, then DENY, then ALLOW (no ALLOW policy: allowed; one that
 * matches: allowed; else denied); AUDIT never changes the decision. A policy matches when any
 * rule does; a rule when its from (any source), to (any operation) and every when condition
 * hold; within a source or operation every field; within a field any value (not*: none).
 * Strings: exact, "abc*" prefix, "*abc" suffix, "*" any non-empty value; hosts without case
 * and with or without the request's port; paths are the normalized path without the query,
 * with Istio's {*} (one segment) and {**} (the rest) templates.
 *
 * A CUSTOM policy that matches decides DENY here; the engine then asks its provider
 * (proxy_extauthz.c) and, if it allows, decides again with custom_allowed.
 */
#ifndef AMBIT_WAYPOINT_AUTHZ_H
#define AMBIT_WAYPOINT_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ambit/ipaddr.h"
#include "ambit/l7.h"

struct cJSON;
#include "http/http_fields.h"

/* What a request offers the policies; absent strings are NULL. */
struct wp_authz_request {
	const char *principal;	       /* the peer's identity without "spiffe://" */
	const char *request_principal; /* "<iss>/<sub>" of a verified JWT */
	struct ipaddr source_ip;       /* the directly connected client; family 0: unknown */
	struct ipaddr remote_ip;       /* the original client (trusted X-Forwarded-For) */
	struct ipaddr dest_ip;	       /* the address the request was sent to */
	uint16_t dest_port;
	const char *host; /* the authority, maybe with ":port" */
	const char *method;
	const char *path; /* normalized, without the query */
	size_t path_len;
	const char *sni;
	const struct http_fields *headers;
	/* The verified JWT's claims (request.auth.claims[...], .audiences, .presenter), or NULL;
	 * claims whose strings are space-delimited lists beside "scope" and "permission". */
	const struct cJSON *claims;
	const struct config_strings *space_claims;
	/*
	 * The mesh's trust domain then its aliases (Istio's trustDomainAliases; NULL/0: none). A
	 * peer of one of them matches a principal (principals, notPrincipals, source.principal) of
	 * any of them, or of "cluster.local", with the same rest, as Istio's
	 * ReplaceTrustDomainAliases expands principals; none: principals match as written.
	 */
	const char *const *trust_domains;
	size_t n_trust_domains;
	/* The external authorizer allowed the request: CUSTOM policies are passed. */
	bool custom_allowed;
	/*
	 * A connection or flow (TCP passed through, UDP), not an HTTP request: its HTTP-only
	 * attributes (hosts, methods, paths, requestPrincipals and the request.* when keys, with
	 * their not-forms) do not exist. As Istio writes Envoy's network RBAC (API_SEMANTICS.md
	 * §3): an ALLOW or AUDIT rule that names any never matches; a DENY or CUSTOM rule matches
	 * on the rest (`DENY methods: [GET]` denies every connection).
	 */
	bool l4;
};

enum wp_authz_verdict {
	WP_AUTHZ_ALLOW = 0,
	WP_AUTHZ_DENY,
};

struct wp_authz_decision {
	enum wp_authz_verdict verdict;
	/* The policy and rule that decided: a DENY or CUSTOM that matched, or the ALLOW that
	 * matched; NULL with a deny when no ALLOW matched (Envoy's "none"). */
	const struct l7_authz *policy;
	size_t rule;
	/* Dry-run policies (istio.io/dry-run) would have denied: logged, not enforced. Then
	 * shadow is the DENY that matched, or NULL when no dry-run ALLOW matched. */
	bool shadow_denied;
	const struct l7_authz *shadow;
	size_t shadow_rule;
	/* An AUDIT policy that matched, or NULL. */
	const struct l7_authz *audit;
};

/* The decision of @c's policies on service @s for @rq. */
void wp_authz_decide(const struct l7_config *c, const struct l7_service *s,
		     const struct wp_authz_request *rq, struct wp_authz_decision *d);

/*
 * The policies of a service a request can match (authz_index.c): policies keyed by exact
 * principals or fixed first path segments are looked up, the rest always tried, in the
 * service's order; a peer of one of the request's trust domains looks its principal up in any
 * trust domain. Built per model generation; NULL when out of memory (then every policy is
 * tried). The same decision as wp_authz_decide, in time that does not grow with the policies
 * for other principals and paths.
 */
struct wp_authz_index;
struct wp_authz_index *wp_authz_index_build(const struct l7_config *c, const struct l7_service *s);
void wp_authz_index_free(struct wp_authz_index *x);
void wp_authz_decide_indexed(const struct l7_config *c, const struct l7_service *s,
			     const struct wp_authz_index *x, const struct wp_authz_request *rq,
			     struct wp_authz_decision *d);

/* Iterates over the candidate positions in @s->authz for @rq (all of them when @x is NULL). */
struct wp_authz_cands {
	const struct wp_authz_index *x;
	size_t n_all, a, p_lo, p_hi, s_lo, s_hi;
	bool p_rest; /* [p_lo, p_hi) are keys by their rest after the trust domain */
};
void wp_authz_cands_init(struct wp_authz_cands *it, const struct wp_authz_index *x,
			 const struct l7_service *s, const struct wp_authz_request *rq);
bool wp_authz_cands_next(struct wp_authz_cands *it, size_t *pos);
/*
 * The length of the trust domain of @rq's peer (its principal before the first '/') when it is
 * one of @rq's trust domains, else 0: then its principal stands for the same identity in them
 * all and in "cluster.local".
 */
size_t wp_authz_peer_td(const struct wp_authz_request *rq);
/* Whether the service has a (non-dry-run, else a dry-run) ALLOW policy, matching or not. */
bool wp_authz_index_has_allow(const struct wp_authz_index *x, bool shadow);

/*
 * Envoy's name for what decided, as in its response code details
 * ("ns[NS]-policy[NAME]-rule[I]", "none" when no ALLOW matched), into @out.
 */
void wp_authz_policy_name(const struct l7_authz *p, size_t rule, char *out, size_t len);

/* Istio's string match of @pattern on @v (@n bytes; NULL: absent). */
bool wp_authz_str_match(const char *pattern, const char *v, size_t n);

/* ---- path normalization (meshConfig.pathNormalization) ---- */

enum wp_path_norm {
	WP_PATH_NORM_BASE =
	    0, /* RFC 3986 normalization, Envoy's normalize_path (Istio's default) */
	WP_PATH_NORM_NONE,
	WP_PATH_NORM_MERGE_SLASHES,
	WP_PATH_NORM_DECODE_AND_MERGE_SLASHES,
};

/* "BASE", "NONE", "MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES" (case-sensitive); -1 else. */
int wp_path_norm_parse(const char *s);

/*
 * The normalized form of origin-form target @target (path and query; the query is kept as
 * is) into @out (room for strlen(@target) + 1 bytes: normalizing never grows it). Percent
 * escapes of unreserved characters are decoded and the rest upper-cased, dot segments removed
 * (RFC 3986 §5.2.4); then, per @mode, runs of '/' merged, and %2F / %5C decoded first.
 * 0, or -1 when the path cannot be normalized (a bad escape, an escaped NUL): a 400.
 */
int wp_path_normalize(enum wp_path_norm mode, const char *target, char *out);

#endif
