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

#include "l7_json_priv.h"

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

static bool ref_is(const struct config_target_ref *t, const char *group, const char *kind)
{
	const char *g = t->group ? t->group : "";

	return t->kind && !strcmp(t->kind, kind) && !strcmp(g, group);
}

/*
 * Whether @ref of policy @ap names the waypoint @wp itself (then it applies to all it serves),
 * or service @s (a Service, not a workload entry) of it.
 */
static bool ref_applies(const struct config_authorization_policy *ap,
			const struct config_target_ref *ref, const struct l7_waypoint *wp,
			const struct l7_service *s)
{
	const char *ns = ref->namespace ? ref->namespace : ap->meta.namespace;

	if (!ref->name || strcmp(ns, ap->meta.namespace))
		return false; /* a policy attaches only in its own namespace */
	if (ref_is(ref, "gateway.networking.k8s.io", "Gateway"))
		return !strcmp(ns, wp->namespace) && !strcmp(ref->name, wp->name);
	if (ref_is(ref, "gateway.networking.k8s.io", "GatewayClass"))
		return !strcmp(ns, ROOT_NAMESPACE) && !strcmp(ref->name, WAYPOINT_CLASS);
	if (ref_is(ref, "", "Service") || ref_is(ref, "core", "Service"))
		return !s->workload && !strcmp(ns, s->namespace) && !strcmp(ref->name, s->name);
	return false;
}

static int add_index(struct l7_service *s, uint32_t idx)
{
	uint32_t *n = realloc(s->authz, (s->n_authz + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	n[s->n_authz++] = idx;
	s->authz = n;
	return 0;
}

int l7_compile_authz(const struct l7_inputs *in, const struct l7_waypoint *wp, struct l7_config *c)
{
	const struct config *cfg = in->cfg;

	for (size_t i = 0; i < cfg->n_authorization_policies; i++) {
		const struct config_authorization_policy *ap = &cfg->authorization_policies[i];
		bool used = false;

		for (size_t s = 0; s < c->n_services; s++) {
			bool applies = false;

			for (size_t r = 0; r < ap->n_target_refs && !applies; r++)
				applies = ref_applies(ap, &ap->target_refs[r], wp, &c->services[s]);
			if (!applies)
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
			if (add_index(&c->services[s], (uint32_t)(c->n_authz - 1)))
				return -ENOMEM;
		}
	}
	return 0;
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

int l7_authz_to_json(const struct l7_config *c, cJSON *root)
{
	cJSON *a;

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
	cJSON *a;

	if (!s->n_authz)
		return 0;
	if (!(a = cJSON_AddArrayToObject(o, "authz")))
		return -ENOMEM;
	for (size_t i = 0; i < s->n_authz; i++) {
		cJSON *v = cJSON_CreateNumber(s->authz[i]);

		if (!v || !cJSON_AddItemToArray(a, v)) {
			cJSON_Delete(v);
			return -ENOMEM;
		}
	}
	return 0;
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

void l7j_authz(struct l7j_dec *d, const cJSON *j, struct l7_config *c)
{
	static const char *const k[] = {"name",	  "namespace", "action", "provider",
					"dryRun", "rules",     NULL};
	const cJSON *a, *it, *r;
	size_t n, nr;
	char p[320];

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

void l7j_service_authz(struct l7j_dec *d, const cJSON *o, const char *path, size_t n_authz,
		       struct l7_service *s)
{
	const cJSON *a, *it;
	size_t n;

	a = l7j_darr(d, o, "authz", path, &n);
	if (d->failed || !(s->authz = l7j_dalloc(d, n, sizeof(*s->authz), path)))
		return;
	cJSON_ArrayForEach(it, a)
	{
		if (!cJSON_IsNumber(it) || it->valuedouble < 0 ||
		    it->valuedouble >= (double)n_authz ||
		    it->valuedouble != floor(it->valuedouble)) {
			l7j_fail(d, "%s.authz[%zu]: not a policy index", path, s->n_authz);
			return;
		}
		s->authz[s->n_authz++] = (uint32_t)it->valuedouble;
	}
}
