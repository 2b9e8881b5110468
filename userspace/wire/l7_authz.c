// SPDX-License-Identifier: Apache-2.0
/*
 * The L7 model's AuthorizationPolicies, RequestAuthentications and ext_authz providers on the
 * wire: their copies and destructors, and their JSON ("authz", "jwt" and "extAuthz" of the
 * model, each service naming its own by index). Which ones a waypoint enforces is the
 * compiler's (l7/authz.c).
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "l7_priv.h"

/* The string lists of a source and of an operation, by their JSON (and Istio) names. */
struct strs_field {
	const char *name;
	size_t off;
};

#define SRC(n, m)                                                                                  \
	{                                                                                          \
		n, offsetof(struct config_authz_source, m)                                         \
	}
static const struct strs_field source_fields[] = {
    SRC("principals", principals),
    SRC("notPrincipals", not_principals),
    SRC("requestPrincipals", request_principals),
    SRC("notRequestPrincipals", not_request_principals),
    SRC("namespaces", namespaces),
    SRC("notNamespaces", not_namespaces),
    SRC("serviceAccounts", service_accounts),
    SRC("notServiceAccounts", not_service_accounts),
    SRC("ipBlocks", ip_blocks),
    SRC("notIpBlocks", not_ip_blocks),
    SRC("remoteIpBlocks", remote_ip_blocks),
    SRC("notRemoteIpBlocks", not_remote_ip_blocks),
    SRC("trustDomains", trust_domains),
    SRC("notTrustDomains", not_trust_domains),
};
#undef SRC
#define OP(n, m)                                                                                   \
	{                                                                                          \
		n, offsetof(struct config_authz_operation, m)                                      \
	}
static const struct strs_field operation_fields[] = {
    OP("hosts", hosts),	       OP("notHosts", not_hosts), OP("ports", ports),
    OP("notPorts", not_ports), OP("methods", methods),	  OP("notMethods", not_methods),
    OP("paths", paths),	       OP("notPaths", not_paths),
};
#undef OP
#define N_SOURCE_FIELDS (sizeof(source_fields) / sizeof(source_fields[0]))
#define N_OPERATION_FIELDS (sizeof(operation_fields) / sizeof(operation_fields[0]))

static const char *const action_names[] = {"ALLOW", "DENY", "AUDIT", "CUSTOM", NULL};

static struct config_strings *strs_at(void *base, const struct strs_field *f)
{
	return (struct config_strings *)((char *)base + f->off);
}

static const struct config_strings *cstrs_at(const void *base, const struct strs_field *f)
{
	return (const struct config_strings *)((const char *)base + f->off);
}

static int copy_fields(void *dst, const void *src, const struct strs_field *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (l7_copy_strings(strs_at(dst, &f[i]), cstrs_at(src, &f[i])))
			return -ENOMEM;
	return 0;
}

void l7_authz_clear(struct l7_authz *a)
{
	free(a->name);
	free(a->namespace);
	free(a->provider);
	for (size_t i = 0; a->rules && i < a->n_rules; i++)
		config_authz_rule_free(&a->rules[i]);
	free(a->rules);
	memset(a, 0, sizeof(*a));
}

int l7_authz_rule_copy(struct config_authz_rule *d, const struct config_authz_rule *s)
{
	d->line = s->line;
	d->from = calloc(s->n_from + 1, sizeof(*d->from));
	d->to = calloc(s->n_to + 1, sizeof(*d->to));
	d->when = calloc(s->n_when + 1, sizeof(*d->when));
	if (!d->from || !d->to || !d->when)
		return -ENOMEM;
	for (; d->n_from < s->n_from; d->n_from++)
		if (copy_fields(&d->from[d->n_from], &s->from[d->n_from], source_fields,
				N_SOURCE_FIELDS))
			return -ENOMEM;
	for (; d->n_to < s->n_to; d->n_to++)
		if (copy_fields(&d->to[d->n_to], &s->to[d->n_to], operation_fields,
				N_OPERATION_FIELDS))
			return -ENOMEM;
	for (; d->n_when < s->n_when; d->n_when++) {
		struct config_authz_condition *w = &d->when[d->n_when];
		const struct config_authz_condition *x = &s->when[d->n_when];

		w->line = x->line;
		if (!(w->key = strdup(x->key ? x->key : "")) ||
		    l7_copy_strings(&w->values, &x->values) ||
		    l7_copy_strings(&w->not_values, &x->not_values))
			return -ENOMEM;
	}
	return 0;
}

void l7_jwt_clear(struct l7_jwt *j)
{
	free(j->name);
	config_jwt_rule_free(&j->rule);
	memset(j, 0, sizeof(*j));
}

void l7_ext_authz_clear(struct l7_ext_authz *x)
{
	free(x->name);
	free(x->x.service);
	free(x->x.path_prefix);
	config_strings_free(&x->x.include_request_headers_in_check);
	config_strings_free(&x->x.headers_to_upstream_on_allow);
	config_strings_free(&x->x.headers_to_downstream_on_deny);
	config_strings_free(&x->x.headers_to_downstream_on_allow);
	config_labels_free(&x->x.include_additional_headers_in_check);
	memset(x, 0, sizeof(*x));
}

/* ---- JSON ---- */

static bool add_strings(cJSON *o, const char *key, const struct config_strings *s)
{
	cJSON *a;

	if (!s->n)
		return true;
	if (!(a = cJSON_AddArrayToObject(o, key)))
		return false;
	for (size_t i = 0; i < s->n; i++) {
		cJSON *v = cJSON_CreateString(s->items[i]);

		if (!v || !cJSON_AddItemToArray(a, v)) {
			cJSON_Delete(v);
			return false;
		}
	}
	return true;
}

static bool enc_fields(cJSON *arr, const void *base, const struct strs_field *f, size_t n)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || !cJSON_AddItemToArray(arr, o)) {
		cJSON_Delete(o);
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (!add_strings(o, f[i].name, cstrs_at(base, &f[i])))
			return false;
	return true;
}

static bool enc_rule(cJSON *arr, const struct config_authz_rule *r)
{
	cJSON *o = cJSON_CreateObject(), *a;
	bool ok = true;

	if (!o || !cJSON_AddItemToArray(arr, o)) {
		cJSON_Delete(o);
		return false;
	}
	if (r->n_from && (a = cJSON_AddArrayToObject(o, "from")))
		for (size_t i = 0; ok && i < r->n_from; i++)
			ok = enc_fields(a, &r->from[i], source_fields, N_SOURCE_FIELDS);
	if (r->n_to && (a = cJSON_AddArrayToObject(o, "to")))
		for (size_t i = 0; ok && i < r->n_to; i++)
			ok = enc_fields(a, &r->to[i], operation_fields, N_OPERATION_FIELDS);
	if (r->n_when && (a = cJSON_AddArrayToObject(o, "when")))
		for (size_t i = 0; ok && i < r->n_when; i++) {
			cJSON *w = cJSON_CreateObject();

			if (!w || !cJSON_AddItemToArray(a, w)) {
				cJSON_Delete(w);
				return false;
			}
			ok = cJSON_AddStringToObject(w, "key", r->when[i].key) &&
			     add_strings(w, "values", &r->when[i].values) &&
			     add_strings(w, "notValues", &r->when[i].not_values);
		}
	/* Each member asked for was added: a missing one means out of memory. */
	return ok && (!r->n_from || cJSON_GetObjectItem(o, "from")) &&
	       (!r->n_to || cJSON_GetObjectItem(o, "to")) &&
	       (!r->n_when || cJSON_GetObjectItem(o, "when"));
}

static bool add_str(cJSON *o, const char *key, const char *v)
{
	return !v || cJSON_AddStringToObject(o, key, v);
}

static int jwt_to_json(const struct l7_config *c, cJSON *root)
{
	cJSON *a;

	if (!c->n_jwt)
		return 0;
	if (!(a = cJSON_AddArrayToObject(root, "jwt")))
		return -ENOMEM;
	for (size_t i = 0; i < c->n_jwt; i++) {
		const struct config_jwt_rule *r = &c->jwt[i].rule;
		cJSON *o = cJSON_CreateObject(), *l = NULL;

		if (!o || !cJSON_AddItemToArray(a, o)) {
			cJSON_Delete(o);
			return -ENOMEM;
		}
		if (!add_str(o, "name", c->jwt[i].name) || !add_str(o, "issuer", r->issuer) ||
		    !add_strings(o, "audiences", &r->audiences) ||
		    !add_str(o, "jwksUri", r->jwks_uri) || !add_str(o, "jwks", r->jwks) ||
		    !add_strings(o, "fromParams", &r->from_params) ||
		    !add_strings(o, "fromCookies", &r->from_cookies) ||
		    !add_str(o, "outputPayloadToHeader", r->output_payload_to_header) ||
		    (r->forward_original_token &&
		     !cJSON_AddBoolToObject(o, "forwardOriginalToken", true)) ||
		    !add_strings(o, "spaceDelimitedClaims", &r->space_delimited_claims) ||
		    (r->timeout_ms &&
		     !cJSON_AddNumberToObject(o, "timeoutMs", (double)r->timeout_ms)))
			return -ENOMEM;
		if (r->n_from_headers && !(l = cJSON_AddArrayToObject(o, "fromHeaders")))
			return -ENOMEM;
		for (size_t h = 0; h < r->n_from_headers; h++) {
			cJSON *x = cJSON_CreateObject();

			if (!x || !cJSON_AddItemToArray(l, x)) {
				cJSON_Delete(x);
				return -ENOMEM;
			}
			if (!add_str(x, "name", r->from_headers[h].name) ||
			    !add_str(x, "prefix", r->from_headers[h].prefix))
				return -ENOMEM;
		}
		if (r->n_output_claim_to_headers &&
		    !(l = cJSON_AddArrayToObject(o, "outputClaimToHeaders")))
			return -ENOMEM;
		for (size_t h = 0; h < r->n_output_claim_to_headers; h++) {
			cJSON *x = cJSON_CreateObject();

			if (!x || !cJSON_AddItemToArray(l, x)) {
				cJSON_Delete(x);
				return -ENOMEM;
			}
			if (!add_str(x, "header", r->output_claim_to_headers[h].header) ||
			    !add_str(x, "claim", r->output_claim_to_headers[h].claim))
				return -ENOMEM;
		}
	}
	return 0;
}

int l7j_indices_to_json(cJSON *o, const char *key, const uint32_t *v, size_t n)
{
	cJSON *a;

	if (!n)
		return 0;
	if (!(a = cJSON_AddArrayToObject(o, key)))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		cJSON *x = cJSON_CreateNumber(v[i]);

		if (!x || !cJSON_AddItemToArray(a, x)) {
			cJSON_Delete(x);
			return -ENOMEM;
		}
	}
	return 0;
}

static int ext_authz_to_json(const struct l7_config *c, cJSON *root)
{
	cJSON *a;

	if (!c->n_ext_authz)
		return 0;
	if (!(a = cJSON_AddArrayToObject(root, "extAuthz")))
		return -ENOMEM;
	for (size_t i = 0; i < c->n_ext_authz; i++) {
		const struct l7_ext_authz *e = &c->ext_authz[i];
		const struct config_ext_authz *x = &e->x;
		cJSON *o = cJSON_CreateObject(), *h;

		if (!o || !cJSON_AddItemToArray(a, o)) {
			cJSON_Delete(o);
			return -ENOMEM;
		}
		if (!add_str(o, "name", e->name) ||
		    !cJSON_AddStringToObject(o, "protocol", x->grpc ? "grpc" : "http") ||
		    !add_str(o, "service", x->service) ||
		    !cJSON_AddNumberToObject(o, "port", x->port) ||
		    !cJSON_AddNumberToObject(o, "serviceIndex", e->service) ||
		    (x->timeout_ms &&
		     !cJSON_AddNumberToObject(o, "timeoutMs", (double)x->timeout_ms)) ||
		    !add_str(o, "pathPrefix", x->path_prefix) ||
		    (x->fail_open && !cJSON_AddBoolToObject(o, "failOpen", true)) ||
		    (x->status_on_error &&
		     !cJSON_AddNumberToObject(o, "statusOnError", x->status_on_error)) ||
		    !add_strings(o, "includeRequestHeadersInCheck",
				 &x->include_request_headers_in_check) ||
		    !add_strings(o, "headersToUpstreamOnAllow", &x->headers_to_upstream_on_allow) ||
		    !add_strings(o, "headersToDownstreamOnDeny",
				 &x->headers_to_downstream_on_deny) ||
		    !add_strings(o, "headersToDownstreamOnAllow",
				 &x->headers_to_downstream_on_allow) ||
		    (x->include_body && !cJSON_AddBoolToObject(o, "includeRequestBody", true)))
			return -ENOMEM;
		if (x->include_additional_headers_in_check.n) {
			if (!(h = cJSON_AddObjectToObject(o, "includeAdditionalHeadersInCheck")))
				return -ENOMEM;
			for (size_t k = 0; k < x->include_additional_headers_in_check.n; k++)
				if (!cJSON_AddStringToObject(
					h, x->include_additional_headers_in_check.items[k].key,
					x->include_additional_headers_in_check.items[k].value))
					return -ENOMEM;
		}
	}
	return 0;
}

void l7j_ext_authz(struct wire_dec *d, const cJSON *j, struct l7_config *c)
{
	static const char *const k[] = {"name",
					"protocol",
					"service",
					"port",
					"serviceIndex",
					"timeoutMs",
					"pathPrefix",
					"failOpen",
					"statusOnError",
					"includeRequestHeadersInCheck",
					"headersToUpstreamOnAllow",
					"headersToDownstreamOnDeny",
					"headersToDownstreamOnAllow",
					"includeRequestBody",
					"includeAdditionalHeadersInCheck",
					NULL};
	static const char *const protos[] = {"http", "grpc", NULL};
	const cJSON *a, *it;
	size_t n;
	char p[64];

	a = wire_arr(d, j, "extAuthz", "l7", &n);
	if (d->failed || !(c->ext_authz = wire_alloc(d, n, sizeof(*c->ext_authz), "l7.extAuthz")))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct l7_ext_authz *e = &c->ext_authz[c->n_ext_authz];
		struct config_ext_authz *x = &e->x;

		snprintf(p, sizeof(p), "l7.extAuthz[%zu]", c->n_ext_authz++);
		if (!wire_keys(d, it, p, k))
			return;
		e->name = wire_str(d, it, "name", p, true);
		x->grpc = wire_enum(d, it, "protocol", p, protos, true) == 1;
		x->service = wire_str(d, it, "service", p, true);
		x->port = (uint16_t)wire_num(d, it, "port", p, 1, 65535, true);
		e->service =
		    (int)wire_num(d, it, "serviceIndex", p, -1, (double)c->n_services - 1, true);
		x->timeout_ms = (uint64_t)wire_num(d, it, "timeoutMs", p, 0, 86400000.0, false);
		x->path_prefix = wire_str(d, it, "pathPrefix", p, false);
		x->fail_open = wire_bool(d, it, "failOpen", p);
		x->status_on_error = (int)wire_num(d, it, "statusOnError", p, 0, 599, false);
		wire_strings(d, it, "includeRequestHeadersInCheck", p,
			     &x->include_request_headers_in_check);
		wire_strings(d, it, "headersToUpstreamOnAllow", p,
			     &x->headers_to_upstream_on_allow);
		wire_strings(d, it, "headersToDownstreamOnDeny", p,
			     &x->headers_to_downstream_on_deny);
		wire_strings(d, it, "headersToDownstreamOnAllow", p,
			     &x->headers_to_downstream_on_allow);
		x->include_body = wire_bool(d, it, "includeRequestBody", p);
		wire_labels(d, it, "includeAdditionalHeadersInCheck", p,
			    &x->include_additional_headers_in_check);
		if (d->failed)
			return;
	}
}

static const char *const norm_names[] = {"BASE", "NONE", "MERGE_SLASHES",
					 "DECODE_AND_MERGE_SLASHES", NULL};
/* enum config_underscores, as Envoy names the actions. */
static const char *const underscores_names[] = {"ALLOW", "REJECT_REQUEST", "DROP_HEADER", NULL};

int l7j_authz_to_json(const struct l7_config *c, cJSON *root)
{
	cJSON *a, *m;

	if (c->path_normalization >= 0 || c->num_trusted_proxies >= 0 || c->underscores >= 0) {
		if (!(m = cJSON_AddObjectToObject(root, "mesh")) ||
		    (c->path_normalization >= 0 &&
		     !cJSON_AddStringToObject(m, "pathNormalization",
					      norm_names[c->path_normalization])) ||
		    (c->num_trusted_proxies >= 0 &&
		     !cJSON_AddNumberToObject(m, "numTrustedProxies", c->num_trusted_proxies)) ||
		    (c->underscores >= 0 &&
		     !cJSON_AddStringToObject(m, "headersWithUnderscoresAction",
					      underscores_names[c->underscores])))
			return -ENOMEM;
	}
	if (jwt_to_json(c, root) || ext_authz_to_json(c, root))
		return -ENOMEM;
	if (!c->n_authz)
		return 0;
	if (!(a = cJSON_AddArrayToObject(root, "authz")))
		return -ENOMEM;
	for (size_t i = 0; i < c->n_authz; i++) {
		const struct l7_authz *x = &c->authz[i];
		cJSON *o = cJSON_CreateObject(), *rules;

		if (!o || !cJSON_AddItemToArray(a, o)) {
			cJSON_Delete(o);
			return -ENOMEM;
		}
		if (!cJSON_AddStringToObject(o, "name", x->name) ||
		    !cJSON_AddStringToObject(o, "namespace", x->namespace) ||
		    !cJSON_AddStringToObject(o, "action", action_names[x->action]) ||
		    (x->provider && !cJSON_AddStringToObject(o, "provider", x->provider)) ||
		    (x->dry_run && !cJSON_AddBoolToObject(o, "dryRun", true)) ||
		    !(rules = cJSON_AddArrayToObject(o, "rules")))
			return -ENOMEM;
		for (size_t r = 0; r < x->n_rules; r++)
			if (!enc_rule(rules, &x->rules[r]))
				return -ENOMEM;
	}
	return 0;
}

int l7j_service_authz_to_json(const struct l7_service *s, cJSON *o)
{
	if (s->aux && !cJSON_AddBoolToObject(o, "aux", true))
		return -ENOMEM;
	return l7j_indices_to_json(o, "authz", s->authz, s->n_authz)
		   ?: l7j_indices_to_json(o, "jwt", s->jwt, s->n_jwt);
}

static void dfields(struct wire_dec *d, const cJSON *o, const char *path, void *base,
		    const struct strs_field *f, size_t n)
{
	const char *keys[N_SOURCE_FIELDS + 1];

	for (size_t i = 0; i < n; i++)
		keys[i] = f[i].name;
	keys[n] = NULL;
	if (!wire_keys(d, o, path, keys))
		return;
	for (size_t i = 0; i < n && !d->failed; i++)
		wire_strings(d, o, f[i].name, path, strs_at(base, &f[i]));
}

static void drule(struct wire_dec *d, const cJSON *o, const char *path, struct config_authz_rule *r)
{
	static const char *const k[] = {"from", "to", "when", NULL};
	static const char *const wk[] = {"key", "values", "notValues", NULL};
	const cJSON *a, *it;
	size_t n[3];
	char p[320];

	if (!wire_keys(d, o, path, k))
		return;
	a = wire_arr(d, o, "from", path, &n[0]);
	if (d->failed || !(r->from = wire_alloc(d, n[0], sizeof(*r->from), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		snprintf(p, sizeof(p), "%.200s.from[%zu]", path, r->n_from);
		dfields(d, it, p, &r->from[r->n_from++], source_fields, N_SOURCE_FIELDS);
		if (d->failed)
			return;
	}
	a = wire_arr(d, o, "to", path, &n[1]);
	if (d->failed || !(r->to = wire_alloc(d, n[1], sizeof(*r->to), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		snprintf(p, sizeof(p), "%.200s.to[%zu]", path, r->n_to);
		dfields(d, it, p, &r->to[r->n_to++], operation_fields, N_OPERATION_FIELDS);
		if (d->failed)
			return;
	}
	a = wire_arr(d, o, "when", path, &n[2]);
	if (d->failed || !(r->when = wire_alloc(d, n[2], sizeof(*r->when), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct config_authz_condition *w = &r->when[r->n_when];

		snprintf(p, sizeof(p), "%.200s.when[%zu]", path, r->n_when++);
		if (!wire_keys(d, it, p, wk))
			return;
		w->key = wire_str(d, it, "key", p, true);
		wire_strings(d, it, "values", p, &w->values);
		wire_strings(d, it, "notValues", p, &w->not_values);
		if (d->failed)
			return;
	}
}

static void djwt(struct wire_dec *d, const cJSON *o, const char *p, struct l7_jwt *x)
{
	static const char *const k[] = {"name",
					"issuer",
					"audiences",
					"jwksUri",
					"jwks",
					"fromHeaders",
					"fromParams",
					"fromCookies",
					"outputPayloadToHeader",
					"forwardOriginalToken",
					"outputClaimToHeaders",
					"spaceDelimitedClaims",
					"timeoutMs",
					NULL};
	static const char *const hk[] = {"name", "prefix", NULL};
	static const char *const ck[] = {"header", "claim", NULL};
	struct config_jwt_rule *r = &x->rule;
	const cJSON *a, *it;
	char hp[360];
	size_t n;

	if (!wire_keys(d, o, p, k))
		return;
	x->name = wire_str(d, o, "name", p, true);
	r->issuer = wire_str(d, o, "issuer", p, false);
	wire_strings(d, o, "audiences", p, &r->audiences);
	r->jwks_uri = wire_str(d, o, "jwksUri", p, false);
	r->jwks = wire_str(d, o, "jwks", p, false);
	wire_strings(d, o, "fromParams", p, &r->from_params);
	wire_strings(d, o, "fromCookies", p, &r->from_cookies);
	r->output_payload_to_header = wire_str(d, o, "outputPayloadToHeader", p, false);
	r->forward_original_token = wire_bool(d, o, "forwardOriginalToken", p);
	wire_strings(d, o, "spaceDelimitedClaims", p, &r->space_delimited_claims);
	r->timeout_ms = (uint64_t)wire_num(d, o, "timeoutMs", p, 0, 86400000.0 * 365, false);
	a = wire_arr(d, o, "fromHeaders", p, &n);
	if (d->failed || !(r->from_headers = wire_alloc(d, n, sizeof(*r->from_headers), p)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct config_jwt_header *h = &r->from_headers[r->n_from_headers];

		snprintf(hp, sizeof(hp), "%s.fromHeaders[%zu]", p, r->n_from_headers++);
		if (!wire_keys(d, it, hp, hk))
			return;
		h->name = wire_str(d, it, "name", hp, true);
		h->prefix = wire_str(d, it, "prefix", hp, false);
	}
	a = wire_arr(d, o, "outputClaimToHeaders", p, &n);
	if (d->failed || !(r->output_claim_to_headers =
			       wire_alloc(d, n, sizeof(*r->output_claim_to_headers), p)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct config_claim_header *h =
		    &r->output_claim_to_headers[r->n_output_claim_to_headers];

		snprintf(hp, sizeof(hp), "%s.outputClaimToHeaders[%zu]", p,
			 r->n_output_claim_to_headers++);
		if (!wire_keys(d, it, hp, ck))
			return;
		h->header = wire_str(d, it, "header", hp, true);
		h->claim = wire_str(d, it, "claim", hp, true);
	}
}

void l7j_dindices(struct wire_dec *d, const cJSON *o, const char *key, const char *path, size_t max,
		  uint32_t **out, size_t *nout)
{
	const cJSON *a, *it;
	size_t n;

	a = wire_arr(d, o, key, path, &n);
	if (d->failed || !(*out = wire_alloc(d, n, sizeof(**out), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble >= (double)max ||
		    it->valuedouble != floor(it->valuedouble)) {
			wire_fail(d, "%s.%s[%zu]: not an index of l7.%s", path, key, *nout, key);
			return;
		}
		(*out)[(*nout)++] = (uint32_t)it->valuedouble;
	}
}

void l7j_authz(struct wire_dec *d, const cJSON *j, struct l7_config *c)
{
	static const char *const k[] = {"name",	  "namespace", "action", "provider",
					"dryRun", "rules",     NULL};
	const cJSON *a, *it, *r;
	size_t n, nr;
	char p[320];

	c->path_normalization = CONFIG_PATH_NORM_UNSET;
	c->num_trusted_proxies = -1;
	c->underscores = CONFIG_UNDERSCORES_UNSET;
	if ((a = cJSON_GetObjectItemCaseSensitive(j, "mesh"))) {
		static const char *const mk[] = {"pathNormalization", "numTrustedProxies",
						 "headersWithUnderscoresAction", NULL};

		if (!wire_keys(d, a, "l7.mesh", mk))
			return;
		if (cJSON_GetObjectItemCaseSensitive(a, "pathNormalization"))
			c->path_normalization =
			    wire_enum(d, a, "pathNormalization", "l7.mesh", norm_names, true);
		if (cJSON_GetObjectItemCaseSensitive(a, "numTrustedProxies"))
			c->num_trusted_proxies =
			    (int)wire_num(d, a, "numTrustedProxies", "l7.mesh", 0, 64, true);
		if (cJSON_GetObjectItemCaseSensitive(a, "headersWithUnderscoresAction"))
			c->underscores = wire_enum(d, a, "headersWithUnderscoresAction", "l7.mesh",
						   underscores_names, true);
		if (d->failed)
			return;
	}
	a = wire_arr(d, j, "jwt", "l7", &n);
	if (d->failed || !(c->jwt = wire_alloc(d, n, sizeof(*c->jwt), "l7.jwt")))
		return;
	cJSON_ArrayForEach(it, a)
	{
		snprintf(p, sizeof(p), "l7.jwt[%zu]", c->n_jwt);
		djwt(d, it, p, &c->jwt[c->n_jwt++]);
		if (d->failed)
			return;
	}
	a = wire_arr(d, j, "authz", "l7", &n);
	if (d->failed || !(c->authz = wire_alloc(d, n, sizeof(*c->authz), "l7.authz")))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct l7_authz *x = &c->authz[c->n_authz];
		const cJSON *rules;

		snprintf(p, sizeof(p), "l7.authz[%zu]", c->n_authz++);
		if (!wire_keys(d, it, p, k))
			return;
		x->name = wire_str(d, it, "name", p, true);
		x->namespace = wire_str(d, it, "namespace", p, true);
		x->action = wire_enum(d, it, "action", p, action_names, true);
		x->provider = wire_str(d, it, "provider", p, false);
		x->dry_run = wire_bool(d, it, "dryRun", p);
		rules = wire_arr(d, it, "rules", p, &nr);
		if (d->failed || !(x->rules = wire_alloc(d, nr, sizeof(*x->rules), p)))
			return;
		cJSON_ArrayForEach(r, rules)
		{
			char rp[340];

			snprintf(rp, sizeof(rp), "%s.rules[%zu]", p, x->n_rules);
			drule(d, r, rp, &x->rules[x->n_rules++]);
			if (d->failed)
				return;
		}
	}
}

void l7j_service_authz(struct wire_dec *d, const cJSON *o, const char *path,
		       const struct l7_config *c, struct l7_service *s)
{
	s->aux = wire_bool(d, o, "aux", path);
	l7j_dindices(d, o, "authz", path, c->n_authz, &s->authz, &s->n_authz);
	if (!d->failed)
		l7j_dindices(d, o, "jwt", path, c->n_jwt, &s->jwt, &s->n_jwt);
}
