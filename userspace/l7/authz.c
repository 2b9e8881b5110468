// SPDX-License-Identifier: Apache-2.0
/*
 * The L7 model's AuthorizationPolicies (struct l7_authz): which ones a waypoint enforces and on
 * which of its services (API_SEMANTICS.md §3, §9: targetRefs to a Service bound to it, to its
 * own Gateway, or from the root namespace to GatewayClass istio-waypoint; selector and
 * namespace-wide policies are the ztunnel's). Their copies, destructors and JSON are the wire's
 * (wire/l7_authz.c).
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "compile_priv.h"

#define ROOT_NAMESPACE "istio-system"
#define WAYPOINT_CLASS "istio-waypoint"

/* ---- copies and destructors ---- */

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
		if (l7_authz_rule_copy(&d->rules[d->n_rules], &ap->rules[d->n_rules])) {
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
