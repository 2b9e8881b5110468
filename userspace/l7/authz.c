// SPDX-License-Identifier: Apache-2.0
/*
 * The L7 model's AuthorizationPolicies (struct l7_authz): which ones a waypoint enforces and on
 * which of its services (API_SEMANTICS.md §3, §9: targetRefs to a Service bound to it, to its
 * own Gateway, or from the root namespace to GatewayClass istio-waypoint; selector and
 * namespace-wide policies are the ztunnel's), their copies, and their JSON ("authz" of the
 * model, each service naming its policies by index).
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "json_priv.h"

#define ROOT_NAMESPACE "istio-system"
#define WAYPOINT_CLASS "istio-waypoint"

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

/* ---- copies and destructors ---- */

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

static int copy_rule(struct config_authz_rule *d, const struct config_authz_rule *s)
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

static int copy_policy(struct l7_authz *d, const struct config_authorization_policy *ap)
{
	d->action = ap->action;
	d->dry_run = ap->dry_run;
	d->namespace = strdup(ap->meta.namespace);
	d->provider = l7_strdup(ap->provider);
	d->rules = calloc(ap->n_rules + 1, sizeof(*d->rules));
	if (asprintf(&d->name, "%s/%s", ap->meta.namespace, ap->meta.name) < 0)
		d->name = NULL;
	if (!d->name || !d->namespace || (ap->provider && !d->provider) || !d->rules)
		return -ENOMEM;
	for (; d->n_rules < ap->n_rules; d->n_rules++)
		if (copy_rule(&d->rules[d->n_rules], &ap->rules[d->n_rules])) {
			d->n_rules++;
			return -ENOMEM;
		}
	return 0;
}

/* ---- which policies, on which services ---- */

bool l7_ref_is(const struct config_target_ref *t, const char *group, const char *kind)
{
	const char *g = t->group ? t->group : "";

	return t->kind && !strcmp(t->kind, kind) && !strcmp(g, group);
}

/*
 * Whether @ref of a policy in namespace @pol_ns names the waypoint @wp itself (then it applies
 * to all it serves), or service @s (a Service, not a workload entry) of it.
 */
static bool ref_applies(const char *pol_ns, const struct config_target_ref *ref,
			const struct l7_waypoint *wp, const struct l7_service *s)
{
	const char *ns = ref->namespace ? ref->namespace : pol_ns;

	/* An Istio Gateway's proxy is no Gateway API object: it takes selector policies only. */
	if (wp->gateway)
		return false;
	if (!ref->name || strcmp(ns, pol_ns))
		return false; /* a policy attaches only in its own namespace */
	if (l7_ref_is(ref, "gateway.networking.k8s.io", "Gateway"))
		return !strcmp(ns, wp->namespace) && !strcmp(ref->name, wp->name);
	if (l7_ref_is(ref, "gateway.networking.k8s.io", "GatewayClass"))
		return !strcmp(ns, ROOT_NAMESPACE) && !strcmp(ref->name, WAYPOINT_CLASS);
	if (l7_ref_is(ref, "", "Service") || l7_ref_is(ref, "core", "Service"))
		return !s->workload && !s->entry && !strcmp(ns, s->namespace) &&
		       !strcmp(ref->name, s->name);
	/* A ServiceEntry bound to the waypoint: every host of it (egress). */
	if (l7_ref_is(ref, "networking.istio.io", "ServiceEntry"))
		return s->entry && !strcmp(ns, s->namespace) && !strcmp(ref->name, s->name);
	return false;
}

/*
 * A policy without targetRefs at gateway proxy @wp (API_SEMANTICS.md §3): one of its own
 * namespace, or of the root namespace (mesh-wide), whose selector (none: every workload)
 * matches its pods. Applies to the requests of its own service (@s, the model's first).
 */
static bool selector_applies(const struct l7_attach *a, const struct l7_waypoint *wp,
			     const struct l7_config *c, const struct l7_service *s)
{
	if (!wp->gateway || s != &c->services[0])
		return false;
	if (strcmp(a->ns, wp->namespace) && strcmp(a->ns, ROOT_NAMESPACE))
		return false;
	return !a->has_selector || config_labels_match(a->selector, &wp->labels);
}

/*
 * A workload selector at waypoint @wp: the services (not workload entries' own traffic only)
 * one of whose endpoints it selects, in its namespace or, from the root namespace, in any.
 */
static bool workload_selector_applies(const struct l7_attach *a, const struct l7_waypoint *wp,
				      const struct l7_service *s)
{
	if (wp->gateway || s->aux)
		return false;
	if (strcmp(a->ns, s->namespace) && strcmp(a->ns, ROOT_NAMESPACE))
		return false;
	if (!a->has_selector)
		return true;
	for (size_t i = 0; i < s->n_endpoints; i++)
		if (config_labels_match(a->selector, &s->endpoints[i].labels))
			return true;
	return false;
}

bool l7_attach_applies(const struct l7_attach *a, const struct l7_waypoint *wp,
		       const struct l7_config *c, const struct l7_service *s)
{
	for (size_t r = 0; r < a->n_refs; r++)
		if (ref_applies(a->ns, &a->refs[r], wp, s))
			return true;
	if (a->n_refs)
		return false;
	return selector_applies(a, wp, c, s) ||
	       (a->workload_selector && workload_selector_applies(a, wp, s));
}

int l7_add_index(uint32_t **list, size_t *n, uint32_t idx)
{
	uint32_t *l = realloc(*list, (*n + 1) * sizeof(*l));

	if (!l)
		return -ENOMEM;
	l[(*n)++] = idx;
	*list = l;
	return 0;
}

/* ---- RequestAuthentication ---- */

static int copy_jwt_rule(struct config_jwt_rule *d, const struct config_jwt_rule *s,
			 const char *jwks)
{
	d->line = s->line;
	d->forward_original_token = s->forward_original_token;
	d->timeout_ms = s->timeout_ms;
	d->issuer = l7_strdup(s->issuer);
	d->jwks_uri = l7_strdup(s->jwks_uri);
	d->jwks = l7_strdup(jwks);
	d->output_payload_to_header = l7_strdup(s->output_payload_to_header);
	d->presence = l7_strdup(s->presence);
	if ((s->issuer && !d->issuer) || (s->jwks_uri && !d->jwks_uri) || (jwks && !d->jwks) ||
	    (s->output_payload_to_header && !d->output_payload_to_header) ||
	    (s->presence && !d->presence) || l7_copy_strings(&d->audiences, &s->audiences) ||
	    l7_copy_strings(&d->from_params, &s->from_params) ||
	    l7_copy_strings(&d->from_cookies, &s->from_cookies) ||
	    l7_copy_strings(&d->space_delimited_claims, &s->space_delimited_claims))
		return -ENOMEM;
	d->from_headers = calloc(s->n_from_headers + 1, sizeof(*d->from_headers));
	d->output_claim_to_headers =
	    calloc(s->n_output_claim_to_headers + 1, sizeof(*d->output_claim_to_headers));
	if (!d->from_headers || !d->output_claim_to_headers)
		return -ENOMEM;
	for (; d->n_from_headers < s->n_from_headers; d->n_from_headers++) {
		struct config_jwt_header *h = &d->from_headers[d->n_from_headers];
		const struct config_jwt_header *x = &s->from_headers[d->n_from_headers];

		h->name = l7_strdup(x->name);
		h->prefix = l7_strdup(x->prefix);
		if ((x->name && !h->name) || (x->prefix && !h->prefix))
			return -ENOMEM;
	}
	for (; d->n_output_claim_to_headers < s->n_output_claim_to_headers;
	     d->n_output_claim_to_headers++) {
		struct config_claim_header *h =
		    &d->output_claim_to_headers[d->n_output_claim_to_headers];
		const struct config_claim_header *x =
		    &s->output_claim_to_headers[d->n_output_claim_to_headers];

		h->claim = l7_strdup(x->claim);
		h->header = l7_strdup(x->header);
		if ((x->claim && !h->claim) || (x->header && !h->header))
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

/* The RequestAuthentications' jwtRules on @c's services, attached as AuthorizationPolicies. */
static int l7_compile_jwt(const struct l7_inputs *in, const struct l7_waypoint *wp,
			  struct l7_config *c)
{
	const struct config *cfg = in->cfg;

	for (size_t i = 0; i < cfg->n_request_authentications; i++) {
		const struct config_request_authentication *ra = &cfg->request_authentications[i];
		size_t first = c->n_jwt;
		bool used = false;

		const struct l7_attach at = {ra->meta.namespace, ra->n_target_refs, ra->target_refs,
					     ra->has_selector,	 &ra->selector,	    false};

		for (size_t s = 0; s < c->n_services; s++) {
			if (!l7_attach_applies(&at, wp, c, &c->services[s]))
				continue;
			for (size_t r = 0; !used && r < ra->n_jwt_rules; r++) {
				const struct config_jwt_rule *jr = &ra->jwt_rules[r];
				const char *jwks = jr->jwks;
				struct l7_jwt *n =
				    realloc(c->jwt, (c->n_jwt + 1) * sizeof(*c->jwt));

				if (!n)
					return -ENOMEM;
				c->jwt = n;
				n = &c->jwt[c->n_jwt++];
				memset(n, 0, sizeof(*n));
				if (!jwks && jr->jwks_uri && in->jwks)
					jwks = in->jwks(in->jwks_arg, jr->jwks_uri);
				if (asprintf(&n->name, "%s/%s", ra->meta.namespace, ra->meta.name) <
				    0)
					n->name = NULL;
				if (!n->name || copy_jwt_rule(&n->rule, jr, jwks))
					return -ENOMEM;
			}
			used = true;
			for (size_t j = first; j < c->n_jwt; j++)
				if (l7_add_index(&c->services[s].jwt, &c->services[s].n_jwt,
						 (uint32_t)j))
					return -ENOMEM;
		}
	}
	return 0;
}

/* ---- ext_authz providers ---- */

static int copy_ext_authz(struct config_ext_authz *d, const struct config_ext_authz *s,
			  const char *fqdn)
{
	*d = (struct config_ext_authz){.grpc = s->grpc,
				       .port = s->port,
				       .timeout_ms = s->timeout_ms,
				       .fail_open = s->fail_open,
				       .status_on_error = s->status_on_error,
				       .include_body = s->include_body,
				       .max_request_bytes = s->max_request_bytes};
	d->service = l7_strdup(fqdn);
	d->path_prefix = l7_strdup(s->path_prefix);
	if (!d->service || (s->path_prefix && !d->path_prefix) ||
	    l7_copy_strings(&d->include_request_headers_in_check,
			    &s->include_request_headers_in_check) ||
	    l7_copy_strings(&d->headers_to_upstream_on_allow, &s->headers_to_upstream_on_allow) ||
	    l7_copy_strings(&d->headers_to_downstream_on_deny, &s->headers_to_downstream_on_deny) ||
	    l7_copy_strings(&d->headers_to_downstream_on_allow,
			    &s->headers_to_downstream_on_allow) ||
	    l7_copy_labels(&d->include_additional_headers_in_check,
			   &s->include_additional_headers_in_check))
		return -ENOMEM;
	return 0;
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

/* The Service "[ns/]host" names (host: name.ns[.svc[.cluster.local]]), or NULL. */
static const struct config_service *provider_service(const struct config *cfg, const char *spec)
{
	const char *host = strchr(spec, '/') ? strchr(spec, '/') + 1 : spec;

	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct config_service *s = &cfg->services[i];
		char fqdn[600], dotted[520], svc[530];

		snprintf(dotted, sizeof(dotted), "%s.%s", s->meta.name, s->meta.namespace);
		snprintf(svc, sizeof(svc), "%s.svc", dotted);
		snprintf(fqdn, sizeof(fqdn), "%s.cluster.local", svc);
		if (!strcmp(host, fqdn) || !strcmp(host, dotted) || !strcmp(host, svc))
			return s;
	}
	return NULL;
}

int l7_aux_service(const struct l7_inputs *in, const struct l7_waypoint *wp, struct l7_config *c,
		   const char *spec, char *fqdn, size_t len)
{
	const struct config_service *s = provider_service(in->cfg, spec);

	snprintf(fqdn, len, "%s", strchr(spec, '/') ? strchr(spec, '/') + 1 : spec);
	if (!s)
		return -1;
	snprintf(fqdn, len, "%s.%s.svc.cluster.local", s->meta.name, s->meta.namespace);
	for (size_t k = 0; k < c->n_services; k++)
		if (!c->services[k].workload && !strcmp(c->services[k].hostname, fqdn))
			return (int)k;
	/* c->services has room for every Service and workload of the config. */
	struct l7_service *aux = &c->services[c->n_services];

	memset(aux, 0, sizeof(*aux));
	c->n_services++;
	if (l7_compile_service(in, wp, s, aux))
		return -ENOMEM;
	aux->aux = true;
	return (int)(c->n_services - 1);
}

/* The providers @c's CUSTOM policies name, with their Services (aux when not bound). */
static int compile_ext_authz(const struct l7_inputs *in, const struct l7_waypoint *wp,
			     struct l7_config *c)
{
	const struct config_mesh *mesh = config_mesh_of(in->cfg);

	for (size_t i = 0; i < c->n_authz; i++) {
		const struct config_extension_provider *p;
		struct l7_ext_authz *x;
		char fqdn[600];
		bool have = false;

		if (c->authz[i].action != CONFIG_AUTHZ_CUSTOM || !c->authz[i].provider)
			continue;
		for (size_t j = 0; j < c->n_ext_authz && !have; j++)
			have = !strcmp(c->ext_authz[j].name, c->authz[i].provider);
		p = config_mesh_provider(mesh, c->authz[i].provider);
		if (have || !p || !p->ext_authz.service)
			continue; /* no such provider: the policy fails closed */
		x = realloc(c->ext_authz, (c->n_ext_authz + 1) * sizeof(*x));
		if (!x)
			return -ENOMEM;
		c->ext_authz = x;
		x = &c->ext_authz[c->n_ext_authz++];
		memset(x, 0, sizeof(*x));
		x->service = l7_aux_service(in, wp, c, p->ext_authz.service, fqdn, sizeof(fqdn));
		if (x->service < -1)
			return -ENOMEM;
		if (!(x->name = strdup(p->name)) || copy_ext_authz(&x->x, &p->ext_authz, fqdn))
			return -ENOMEM;
	}
	return 0;
}

int l7_compile_authz(const struct l7_inputs *in, const struct l7_waypoint *wp, struct l7_config *c)
{
	const struct config *cfg = in->cfg;

	for (size_t i = 0; i < cfg->n_authorization_policies; i++) {
		const struct config_authorization_policy *ap = &cfg->authorization_policies[i];
		bool used = false;

		const struct l7_attach at = {ap->meta.namespace, ap->n_target_refs, ap->target_refs,
					     ap->has_selector,	 &ap->selector,	    false};

		for (size_t s = 0; s < c->n_services; s++) {
			if (!l7_attach_applies(&at, wp, c, &c->services[s]))
				continue;
			if (!used) {
				struct l7_authz *n =
				    realloc(c->authz, (c->n_authz + 1) * sizeof(*c->authz));

				if (!n)
					return -ENOMEM;
				c->authz = n;
				memset(&c->authz[c->n_authz], 0, sizeof(*n));
				if (copy_policy(&c->authz[c->n_authz++], ap))
					return -ENOMEM;
				used = true;
			}
			if (l7_add_index(&c->services[s].authz, &c->services[s].n_authz,
					 (uint32_t)(c->n_authz - 1)))
				return -ENOMEM;
		}
	}
	return l7_compile_jwt(in, wp, c) ?: compile_ext_authz(in, wp, c);
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

void l7j_ext_authz(struct l7j_dec *d, const cJSON *j, struct l7_config *c)
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

	a = l7j_darr(d, j, "extAuthz", "l7", &n);
	if (d->failed || !(c->ext_authz = l7j_dalloc(d, n, sizeof(*c->ext_authz), "l7.extAuthz")))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct l7_ext_authz *e = &c->ext_authz[c->n_ext_authz];
		struct config_ext_authz *x = &e->x;

		snprintf(p, sizeof(p), "l7.extAuthz[%zu]", c->n_ext_authz++);
		if (!l7j_keys(d, it, p, k))
			return;
		e->name = l7j_dstr(d, it, "name", p, true);
		x->grpc = l7j_denum(d, it, "protocol", p, protos, true) == 1;
		x->service = l7j_dstr(d, it, "service", p, true);
		x->port = (uint16_t)l7j_dnum(d, it, "port", p, 1, 65535, true);
		e->service =
		    (int)l7j_dnum(d, it, "serviceIndex", p, -1, (double)c->n_services - 1, true);
		x->timeout_ms = (uint64_t)l7j_dnum(d, it, "timeoutMs", p, 0, 86400000.0, false);
		x->path_prefix = l7j_dstr(d, it, "pathPrefix", p, false);
		x->fail_open = l7j_dbool(d, it, "failOpen", p);
		x->status_on_error = (int)l7j_dnum(d, it, "statusOnError", p, 0, 599, false);
		l7j_dstrings(d, it, "includeRequestHeadersInCheck", p,
			     &x->include_request_headers_in_check);
		l7j_dstrings(d, it, "headersToUpstreamOnAllow", p,
			     &x->headers_to_upstream_on_allow);
		l7j_dstrings(d, it, "headersToDownstreamOnDeny", p,
			     &x->headers_to_downstream_on_deny);
		l7j_dstrings(d, it, "headersToDownstreamOnAllow", p,
			     &x->headers_to_downstream_on_allow);
		x->include_body = l7j_dbool(d, it, "includeRequestBody", p);
		l7j_dlabels(d, it, "includeAdditionalHeadersInCheck", p,
			    &x->include_additional_headers_in_check);
		if (d->failed)
			return;
	}
}

static const char *const norm_names[] = {"BASE", "NONE", "MERGE_SLASHES",
					 "DECODE_AND_MERGE_SLASHES", NULL};
/* enum config_underscores, as Envoy names the actions. */
static const char *const underscores_names[] = {"ALLOW", "REJECT_REQUEST", "DROP_HEADER", NULL};

int l7_authz_to_json(const struct l7_config *c, cJSON *root)
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

int l7_service_authz_to_json(const struct l7_service *s, cJSON *o)
{
	if (s->aux && !cJSON_AddBoolToObject(o, "aux", true))
		return -ENOMEM;
	return l7j_indices_to_json(o, "authz", s->authz, s->n_authz)
		   ?: l7j_indices_to_json(o, "jwt", s->jwt, s->n_jwt);
}

static void dfields(struct l7j_dec *d, const cJSON *o, const char *path, void *base,
		    const struct strs_field *f, size_t n)
{
	const char *keys[N_SOURCE_FIELDS + 1];

	for (size_t i = 0; i < n; i++)
		keys[i] = f[i].name;
	keys[n] = NULL;
	if (!l7j_keys(d, o, path, keys))
		return;
	for (size_t i = 0; i < n && !d->failed; i++)
		l7j_dstrings(d, o, f[i].name, path, strs_at(base, &f[i]));
}

static void drule(struct l7j_dec *d, const cJSON *o, const char *path, struct config_authz_rule *r)
{
	static const char *const k[] = {"from", "to", "when", NULL};
	static const char *const wk[] = {"key", "values", "notValues", NULL};
	const cJSON *a, *it;
	size_t n[3];
	char p[320];

	if (!l7j_keys(d, o, path, k))
		return;
	a = l7j_darr(d, o, "from", path, &n[0]);
	if (d->failed || !(r->from = l7j_dalloc(d, n[0], sizeof(*r->from), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		snprintf(p, sizeof(p), "%.200s.from[%zu]", path, r->n_from);
		dfields(d, it, p, &r->from[r->n_from++], source_fields, N_SOURCE_FIELDS);
		if (d->failed)
			return;
	}
	a = l7j_darr(d, o, "to", path, &n[1]);
	if (d->failed || !(r->to = l7j_dalloc(d, n[1], sizeof(*r->to), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		snprintf(p, sizeof(p), "%.200s.to[%zu]", path, r->n_to);
		dfields(d, it, p, &r->to[r->n_to++], operation_fields, N_OPERATION_FIELDS);
		if (d->failed)
			return;
	}
	a = l7j_darr(d, o, "when", path, &n[2]);
	if (d->failed || !(r->when = l7j_dalloc(d, n[2], sizeof(*r->when), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct config_authz_condition *w = &r->when[r->n_when];

		snprintf(p, sizeof(p), "%.200s.when[%zu]", path, r->n_when++);
		if (!l7j_keys(d, it, p, wk))
			return;
		w->key = l7j_dstr(d, it, "key", p, true);
		l7j_dstrings(d, it, "values", p, &w->values);
		l7j_dstrings(d, it, "notValues", p, &w->not_values);
		if (d->failed)
			return;
	}
}

static void djwt(struct l7j_dec *d, const cJSON *o, const char *p, struct l7_jwt *x)
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

	if (!l7j_keys(d, o, p, k))
		return;
	x->name = l7j_dstr(d, o, "name", p, true);
	r->issuer = l7j_dstr(d, o, "issuer", p, false);
	l7j_dstrings(d, o, "audiences", p, &r->audiences);
	r->jwks_uri = l7j_dstr(d, o, "jwksUri", p, false);
	r->jwks = l7j_dstr(d, o, "jwks", p, false);
	l7j_dstrings(d, o, "fromParams", p, &r->from_params);
	l7j_dstrings(d, o, "fromCookies", p, &r->from_cookies);
	r->output_payload_to_header = l7j_dstr(d, o, "outputPayloadToHeader", p, false);
	r->forward_original_token = l7j_dbool(d, o, "forwardOriginalToken", p);
	l7j_dstrings(d, o, "spaceDelimitedClaims", p, &r->space_delimited_claims);
	r->timeout_ms = (uint64_t)l7j_dnum(d, o, "timeoutMs", p, 0, 86400000.0 * 365, false);
	a = l7j_darr(d, o, "fromHeaders", p, &n);
	if (d->failed || !(r->from_headers = l7j_dalloc(d, n, sizeof(*r->from_headers), p)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct config_jwt_header *h = &r->from_headers[r->n_from_headers];

		snprintf(hp, sizeof(hp), "%s.fromHeaders[%zu]", p, r->n_from_headers++);
		if (!l7j_keys(d, it, hp, hk))
			return;
		h->name = l7j_dstr(d, it, "name", hp, true);
		h->prefix = l7j_dstr(d, it, "prefix", hp, false);
	}
	a = l7j_darr(d, o, "outputClaimToHeaders", p, &n);
	if (d->failed || !(r->output_claim_to_headers =
			       l7j_dalloc(d, n, sizeof(*r->output_claim_to_headers), p)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct config_claim_header *h =
		    &r->output_claim_to_headers[r->n_output_claim_to_headers];

		snprintf(hp, sizeof(hp), "%s.outputClaimToHeaders[%zu]", p,
			 r->n_output_claim_to_headers++);
		if (!l7j_keys(d, it, hp, ck))
			return;
		h->header = l7j_dstr(d, it, "header", hp, true);
		h->claim = l7j_dstr(d, it, "claim", hp, true);
	}
}

void l7j_dindices(struct l7j_dec *d, const cJSON *o, const char *key, const char *path, size_t max,
		  uint32_t **out, size_t *nout)
{
	const cJSON *a, *it;
	size_t n;

	a = l7j_darr(d, o, key, path, &n);
	if (d->failed || !(*out = l7j_dalloc(d, n, sizeof(**out), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble >= (double)max ||
		    it->valuedouble != floor(it->valuedouble)) {
			l7j_fail(d, "%s.%s[%zu]: not an index of l7.%s", path, key, *nout, key);
			return;
		}
		(*out)[(*nout)++] = (uint32_t)it->valuedouble;
	}
}

void l7j_authz(struct l7j_dec *d, const cJSON *j, struct l7_config *c)
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

		if (!l7j_keys(d, a, "l7.mesh", mk))
			return;
		if (cJSON_GetObjectItemCaseSensitive(a, "pathNormalization"))
			c->path_normalization =
			    l7j_denum(d, a, "pathNormalization", "l7.mesh", norm_names, true);
		if (cJSON_GetObjectItemCaseSensitive(a, "numTrustedProxies"))
			c->num_trusted_proxies =
			    (int)l7j_dnum(d, a, "numTrustedProxies", "l7.mesh", 0, 64, true);
		if (cJSON_GetObjectItemCaseSensitive(a, "headersWithUnderscoresAction"))
			c->underscores = l7j_denum(d, a, "headersWithUnderscoresAction", "l7.mesh",
						   underscores_names, true);
		if (d->failed)
			return;
	}
	a = l7j_darr(d, j, "jwt", "l7", &n);
	if (d->failed || !(c->jwt = l7j_dalloc(d, n, sizeof(*c->jwt), "l7.jwt")))
		return;
	cJSON_ArrayForEach(it, a)
	{
		snprintf(p, sizeof(p), "l7.jwt[%zu]", c->n_jwt);
		djwt(d, it, p, &c->jwt[c->n_jwt++]);
		if (d->failed)
			return;
	}
	a = l7j_darr(d, j, "authz", "l7", &n);
	if (d->failed || !(c->authz = l7j_dalloc(d, n, sizeof(*c->authz), "l7.authz")))
		return;
	cJSON_ArrayForEach(it, a)
	{
		struct l7_authz *x = &c->authz[c->n_authz];
		const cJSON *rules;

		snprintf(p, sizeof(p), "l7.authz[%zu]", c->n_authz++);
		if (!l7j_keys(d, it, p, k))
			return;
		x->name = l7j_dstr(d, it, "name", p, true);
		x->namespace = l7j_dstr(d, it, "namespace", p, true);
		x->action = l7j_denum(d, it, "action", p, action_names, true);
		x->provider = l7j_dstr(d, it, "provider", p, false);
		x->dry_run = l7j_dbool(d, it, "dryRun", p);
		rules = l7j_darr(d, it, "rules", p, &nr);
		if (d->failed || !(x->rules = l7j_dalloc(d, nr, sizeof(*x->rules), p)))
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

void l7j_service_authz(struct l7j_dec *d, const cJSON *o, const char *path,
		       const struct l7_config *c, struct l7_service *s)
{
	s->aux = l7j_dbool(d, o, "aux", path);
	l7j_dindices(d, o, "authz", path, c->n_authz, &s->authz, &s->n_authz);
	if (!d->failed)
		l7j_dindices(d, o, "jwt", path, c->n_jwt, &s->jwt, &s->n_jwt);
}
