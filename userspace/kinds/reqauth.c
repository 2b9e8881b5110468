// SPDX-License-Identifier: Apache-2.0
/*
 * RequestAuthentication (security.istio.io v1, v1beta1): JWT rules for a waypoint. Loaded and
 * validated like the other Istio kinds so manifests that carry them apply cleanly; nothing in
 * the ztunnel (L4) reads them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "decode/decode.h"

#define RA struct config_request_authentication
#define JR struct config_jwt_rule

void config_jwt_rule_free(struct config_jwt_rule *r)
{
	free(r->issuer);
	config_strings_free(&r->audiences);
	free(r->jwks_uri);
	free(r->jwks);
	for (size_t j = 0; j < r->n_from_headers; j++) {
		free(r->from_headers[j].name);
		free(r->from_headers[j].prefix);
	}
	free(r->from_headers);
	config_strings_free(&r->from_params);
	config_strings_free(&r->from_cookies);
	free(r->output_payload_to_header);
	for (size_t j = 0; j < r->n_output_claim_to_headers; j++) {
		free(r->output_claim_to_headers[j].claim);
		free(r->output_claim_to_headers[j].header);
	}
	free(r->output_claim_to_headers);
	config_strings_free(&r->space_delimited_claims);
	free(r->presence);
	memset(r, 0, sizeof(*r));
}

void config_request_authentication_free(RA *ra)
{
	config_meta_free(&ra->meta);
	config_labels_free(&ra->selector);
	config_target_refs_free(ra->target_refs, ra->n_target_refs);
	for (size_t i = 0; i < ra->n_jwt_rules; i++)
		config_jwt_rule_free(&ra->jwt_rules[i]);
	free(ra->jwt_rules);
	memset(ra, 0, sizeof(*ra));
}

static int nonempty_str(struct cfg_ctx *ctx, yaml_node_t *v, char **out)
{
	if (cfg_get_str(ctx, v, out))
		return -EINVAL;
	if (!**out) {
		cfg_error(ctx, v, "should be at least 1 chars long");
		return -EINVAL;
	}
	return 0;
}

#define NONEMPTY_LIST(fn, member)                                                                  \
	static int fn(struct cfg_ctx *ctx, yaml_node_t *v, void *o)                                \
	{                                                                                          \
		return cfg_get_strings(ctx, v, CFG_S_NONEMPTY, &((JR *)o)->member);                \
	}
NONEMPTY_LIST(jr_audiences, audiences)
NONEMPTY_LIST(jr_params, from_params)
NONEMPTY_LIST(jr_cookies, from_cookies)
NONEMPTY_LIST(jr_space_claims, space_delimited_claims)

static int jr_issuer(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return nonempty_str(ctx, v, &((JR *)o)->issuer);
}

static int jr_jwks_uri(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	JR *r = o;

	if (cfg_get_str(ctx, v, &r->jwks_uri))
		return -EINVAL;
	if (strncasecmp(r->jwks_uri, "http://", 7) && strncasecmp(r->jwks_uri, "https://", 8)) {
		cfg_error(ctx, v, "\"%.64s\": url must have scheme http:// or https://",
			  r->jwks_uri);
		return -EINVAL;
	}
	return 0;
}

static int jr_jwks(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((JR *)o)->jwks);
}

static int fh_name(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return nonempty_str(ctx, v, &((struct config_jwt_header *)o)->name);
}

static int fh_prefix(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((struct config_jwt_header *)o)->prefix);
}

static const struct cfg_field from_header_fields[] = {
    {"name", CFG_T_STR, fh_name, CFG_F_REQUIRED},
    {"prefix", CFG_T_STR, fh_prefix, 0},
    {NULL, 0, NULL, 0},
};

static int jr_from_headers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	JR *r = o;

	return cfg_parse_seq(ctx, v, from_header_fields, sizeof(*r->from_headers),
			     (void **)&r->from_headers, &r->n_from_headers, false, "fromHeaders");
}

static int jr_payload_header(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_str(ctx, v, &((JR *)o)->output_payload_to_header);
}

static int jr_forward(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_bool(ctx, v, &((JR *)o)->forward_original_token);
}

static int ch_claim(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return nonempty_str(ctx, v, &((struct config_claim_header *)o)->claim);
}

/* A header the proxy sets: a plain token, never a pseudo-header such as ":authority". */
static int ch_header(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	struct config_claim_header *c = o;

	if (nonempty_str(ctx, v, &c->header))
		return -EINVAL;
	if (strspn(c->header, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
	    strlen(c->header)) {
		cfg_error(ctx, v, "header \"%.64s\" should match ^[-_A-Za-z0-9]+$", c->header);
		return -EINVAL;
	}
	return 0;
}

static const struct cfg_field claim_header_fields[] = {
    {"claim", CFG_T_STR, ch_claim, CFG_F_REQUIRED},
    {"header", CFG_T_STR, ch_header, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

static int jr_claim_headers(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	JR *r = o;

	return cfg_parse_seq(ctx, v, claim_header_fields, sizeof(*r->output_claim_to_headers),
			     (void **)&r->output_claim_to_headers, &r->n_output_claim_to_headers,
			     false, "outputClaimToHeaders");
}

static int jr_timeout(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	return cfg_get_duration(ctx, v, &((JR *)o)->timeout_ms);
}

static int jr_presence(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	static const char *const p[] = {"OPTIONAL", "REQUIRED", NULL};

	return cfg_check_enum(ctx, v, p, &((JR *)o)->presence);
}

static const struct cfg_field jwt_rule_fields[] = {
    {"issuer", CFG_T_STR, jr_issuer, CFG_F_REQUIRED},
    {"audiences", CFG_T_SEQ, jr_audiences, 0},
    {"jwksUri", CFG_T_STR, jr_jwks_uri, 0},
    {"jwks", CFG_T_STR, jr_jwks, 0},
    {"fromHeaders", CFG_T_SEQ, jr_from_headers, 0},
    {"fromParams", CFG_T_SEQ, jr_params, 0},
    {"fromCookies", CFG_T_SEQ, jr_cookies, 0},
    {"outputPayloadToHeader", CFG_T_STR, jr_payload_header, 0},
    {"forwardOriginalToken", CFG_T_BOOL, jr_forward, 0},
    {"outputClaimToHeaders", CFG_T_SEQ, jr_claim_headers, 0},
    {"timeout", CFG_T_STR, jr_timeout, 0},
    {"spaceDelimitedClaims", CFG_T_SEQ, jr_space_claims, 0},
    {"presence", CFG_T_STR, jr_presence, 0},
    {NULL, 0, NULL, 0},
};

static int ra_jwt_rules(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RA *ra = o;
	int err = cfg_parse_seq(ctx, v, jwt_rule_fields, sizeof(*ra->jwt_rules),
				(void **)&ra->jwt_rules, &ra->n_jwt_rules, false, "jwtRules");

	for (size_t i = 0; i < ra->n_jwt_rules; i++)
		ra->jwt_rules[i].line = (int)cfg_seq_item(ctx, v, i)->start_mark.line + 1;
	return err;
}

static int ra_selector(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RA *ra = o;

	ra->has_selector = true;
	return cfg_get_workload_selector(ctx, v, &ra->selector);
}

static int ra_target_ref(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RA *ra = o;

	return cfg_get_target_refs(ctx, v, true, &ra->target_refs, &ra->n_target_refs);
}

static int ra_target_refs(struct cfg_ctx *ctx, yaml_node_t *v, void *o)
{
	RA *ra = o;

	return cfg_get_target_refs(ctx, v, false, &ra->target_refs, &ra->n_target_refs);
}

static const struct cfg_field ra_spec_fields[] = {
    {"selector", CFG_T_MAP, ra_selector, 0},
    {"targetRef", CFG_T_MAP, ra_target_ref, 0},
    {"targetRefs", CFG_T_SEQ, ra_target_refs, 0},
    {"jwtRules", CFG_T_SEQ, ra_jwt_rules, 0},
    {NULL, 0, NULL, 0},
};

static int ra_spec(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, ra_spec_fields, ((struct cfg_obj *)obj)->obj);
}

const struct cfg_field cfg_reqauth_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED},
    {"spec", CFG_T_MAP, ra_spec, 0},
    {"status", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

int cfg_reqauth_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o)
{
	RA *ra = o->obj;
	yaml_node_t *spec = cfg_map_get(ctx, root, "spec");
	int before = ctx->nerrors;
	size_t saved = cfg_path_push(ctx, "spec");

	if (ra->has_selector && ra->n_target_refs)
		cfg_error(ctx, spec, "only one of targetRefs or selector can be set");
	if (cfg_map_get(ctx, spec, "targetRef") && cfg_map_get(ctx, spec, "targetRefs"))
		cfg_error(ctx, spec, "only one of targetRef or targetRefs can be set");
	cfg_check_target_ref_namespaces(ctx, spec, ra->target_refs, ra->n_target_refs,
					ra->meta.namespace);
	cfg_path_pop(ctx, saved);
	return ctx->nerrors == before ? 0 : -EINVAL;
}
