// SPDX-License-Identifier: Apache-2.0
/*
 * Policy compiler: one AuthorizationPolicy, its rules cut to their L4 part (ALLOW rules that
 * need L7 dropped, DENY rules trimmed), its scope and selection, and the rules the previous set
 * lends it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/l7.h"
#include "compile_priv.h"

/* ---- small builders ---- */

static int strs_add(struct policy_strs *l, const char *text)
{
	struct policy_str *items = realloc(l->items, (l->n + 1) * sizeof(*items));

	if (!items)
		return -ENOMEM;
	l->items = items;
	if (text && !strncmp(text, "spiffe://", 9) && text[9])
		text += 9;
	if (policy_str_init(&items[l->n], text ? text : "") == -ENOMEM)
		return -ENOMEM;
	if (!items[l->n].s) /* empty string: validation rejects it; it matches nothing */
		policy_str_init(&items[l->n], "\x01");
	if (!items[l->n].s)
		return -ENOMEM;
	l->n++;
	return 0;
}

static int strs_from(struct policy_strs *l, const struct config_strings *in)
{
	for (size_t i = 0; i < in->n; i++)
		if (strs_add(l, in->items[i]))
			return -ENOMEM;
	return 0;
}

/* serviceAccounts "ns/sa" or "sa" (in the policy's namespace) -> principal suffix. */
static int sas_from(struct policy_strs *l, const struct config_strings *in, const char *pol_ns)
{
	for (size_t i = 0; i < in->n; i++) {
		const char *sa = in->items[i], *slash = strchr(sa, '/');
		char *t;
		int err;

		if (slash)
			err = asprintf(&t, "*/ns/%.*s/sa/%s", (int)(slash - sa), sa, slash + 1);
		else
			err = asprintf(&t, "*/ns/%s/sa/%s", pol_ns, sa);
		if (err < 0)
			return -ENOMEM;
		err = strs_add(l, t);
		free(t);
		if (err)
			return err;
	}
	return 0;
}

/* An unparseable positive entry must not widen the match: it becomes a never-matching one. */
static int cidrs_from(struct policy_cidrs *l, const struct config_strings *in, bool positive)
{
	for (size_t i = 0; i < in->n; i++) {
		struct ipaddr cd;
		void *p;

		if (ipaddr_parse(in->items[i], &cd)) {
			if (!positive)
				continue;
			memset(&cd, 0, sizeof(cd)); /* matches nothing */
		}
		p = realloc(l->items, (l->n + 1) * sizeof(cd));
		if (!p)
			return -ENOMEM;
		l->items = p;
		l->items[l->n++] = cd;
	}
	return 0;
}

/* Same for ports: port 0 never matches a connection. */
static int ports_from(struct policy_ports *l, const struct config_strings *in, bool positive)
{
	for (size_t i = 0; i < in->n; i++) {
		char *end;
		long v;
		void *p;

		errno = 0;
		v = strtol(in->items[i], &end, 10);
		if (!in->items[i][0] || *end || errno || v < 0 || v > 65535) {
			if (!positive)
				continue;
			v = 0;
		}
		p = realloc(l->items, (l->n + 1) * sizeof(uint16_t));
		if (!p)
			return -ENOMEM;
		l->items = p;
		l->items[l->n++] = (uint16_t)v;
	}
	return 0;
}

static struct policy_match *clause_add(struct policy_clause *cl)
{
	struct policy_match *m = realloc(cl->items, (cl->n + 1) * sizeof(*m));

	if (!m)
		return NULL;
	cl->items = m;
	m = &m[cl->n++];
	memset(m, 0, sizeof(*m));
	return m;
}

static struct policy_clause *rule_add(struct policy_rule *r)
{
	struct policy_clause *cl = realloc(r->clauses, (r->n_clauses + 1) * sizeof(*cl));

	if (!cl)
		return NULL;
	r->clauses = cl;
	cl = &cl[r->n_clauses++];
	memset(cl, 0, sizeof(*cl));
	return cl;
}

/* ---- rules ---- */

static bool l4_when_key(const char *k)
{
	return k && (!strcmp(k, "source.ip") || !strcmp(k, "source.namespace") ||
		     !strcmp(k, "source.principal") || !strcmp(k, "destination.ip") ||
		     !strcmp(k, "destination.port"));
}

static void note_field(char *buf, size_t len, const char *field)
{
	size_t n = strlen(buf);

	if (strstr(buf, field))
		return;
	snprintf(buf + n, len - n, "%s%s", n ? ", " : "", field);
}

/* The fields of @r the ztunnel cannot evaluate, as a list, into @buf ("" when none). */
static void l7_fields(const struct config_authz_rule *r, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; i < r->n_from; i++) {
		const struct config_authz_source *s = &r->from[i];

		if (s->request_principals.n)
			note_field(buf, len, "requestPrincipals");
		if (s->not_request_principals.n)
			note_field(buf, len, "notRequestPrincipals");
		if (s->remote_ip_blocks.n)
			note_field(buf, len, "remoteIpBlocks");
		if (s->not_remote_ip_blocks.n)
			note_field(buf, len, "notRemoteIpBlocks");
	}
	for (size_t i = 0; i < r->n_to; i++) {
		const struct config_authz_operation *o = &r->to[i];

		if (o->hosts.n)
			note_field(buf, len, "hosts");
		if (o->not_hosts.n)
			note_field(buf, len, "notHosts");
		if (o->methods.n)
			note_field(buf, len, "methods");
		if (o->not_methods.n)
			note_field(buf, len, "notMethods");
		if (o->paths.n)
			note_field(buf, len, "paths");
		if (o->not_paths.n)
			note_field(buf, len, "notPaths");
	}
	for (size_t i = 0; i < r->n_when; i++)
		if (!l4_when_key(r->when[i].key))
			note_field(buf, len, r->when[i].key ? r->when[i].key : "(empty when key)");
}

static int compile_source(struct policy_match *m, const struct config_authz_source *s,
			  const char *pol_ns)
{
	if (strs_from(&m->principals, &s->principals) ||
	    strs_from(&m->not_principals, &s->not_principals) ||
	    sas_from(&m->principals, &s->service_accounts, pol_ns) ||
	    sas_from(&m->not_principals, &s->not_service_accounts, pol_ns) ||
	    strs_from(&m->namespaces, &s->namespaces) ||
	    strs_from(&m->not_namespaces, &s->not_namespaces) ||
	    cidrs_from(&m->src_ips, &s->ip_blocks, true) ||
	    cidrs_from(&m->not_src_ips, &s->not_ip_blocks, false))
		return -ENOMEM;
	return 0;
}

static int compile_when(struct policy_match *m, const struct config_authz_condition *w)
{
	const char *k = w->key ? w->key : "";

	if (!strcmp(k, "source.ip"))
		return cidrs_from(&m->src_ips, &w->values, true)
			   ?: cidrs_from(&m->not_src_ips, &w->not_values, false);
	if (!strcmp(k, "destination.ip"))
		return cidrs_from(&m->dst_ips, &w->values, true)
			   ?: cidrs_from(&m->not_dst_ips, &w->not_values, false);
	if (!strcmp(k, "destination.port"))
		return ports_from(&m->ports, &w->values, true)
			   ?: ports_from(&m->not_ports, &w->not_values, false);
	if (!strcmp(k, "source.namespace"))
		return strs_from(&m->namespaces, &w->values)
			   ?: strs_from(&m->not_namespaces, &w->not_values);
	if (!strcmp(k, "source.principal"))
		return strs_from(&m->principals, &w->values)
			   ?: strs_from(&m->not_principals, &w->not_values);
	return 0; /* L7 condition of a DENY rule: left empty, it matches nothing */
}

static bool match_is_empty(const struct policy_match *m)
{
	return !m->principals.n && !m->not_principals.n && !m->namespaces.n &&
	       !m->not_namespaces.n && !m->src_ips.n && !m->not_src_ips.n && !m->dst_ips.n &&
	       !m->not_dst_ips.n && !m->ports.n && !m->not_ports.n;
}

/*
 * A DENY rule's source, operation or condition that had only L7 attributes compiled to an
 * empty match: it stands for "whatever the L7 part would have said", taken as matching (fail
 * closed), so its clause holds for every connection and is dropped (a rule without clauses
 * matches every connection).
 */
static void prune_l7_clauses(struct policy_rule *r)
{
	size_t w = 0;

	for (size_t i = 0; i < r->n_clauses; i++) {
		struct policy_clause *cl = &r->clauses[i];
		bool always = false;

		for (size_t j = 0; j < cl->n && !always; j++)
			always = match_is_empty(&cl->items[j]);
		if (always) {
			for (size_t j = 0; j < cl->n; j++)
				policy_match_free(&cl->items[j]);
			free(cl->items);
			continue;
		}
		r->clauses[w++] = *cl;
	}
	r->n_clauses = w;
}

static int compile_rule(struct policy_comp *c, const struct config_authorization_policy *ap,
			size_t ri, struct policy_rule *out)
{
	const struct config_authz_rule *r = &ap->rules[ri];
	const char *ns = ap->meta.namespace;
	/* CUSTOM is enforced as a DENY at the ztunnel (policy_compile_authz). */
	bool allow_like = ap->action != CONFIG_AUTHZ_DENY && ap->action != CONFIG_AUTHZ_CUSTOM;
	struct policy_clause *cl;
	char l7[256];
	/* A gateway proxy's policy: the gateway evaluates every field; nothing to warn of. */
	bool quiet = config_selects_gateway(ap->has_selector, &ap->selector);

	memset(out, 0, sizeof(*out));
	out->line = r->line;
	l7_fields(r, l7, sizeof(l7));
	if (l7[0] && allow_like) {
		out->dropped = true;
		if (asprintf(&out->note,
			     "ztunnel cannot enforce %s: the rule is dropped and never matches, so "
			     "this policy is stricter than written (use a waypoint for L7 policy)",
			     l7) < 0)
			return -ENOMEM;
		if (!quiet)
			policy_warn(c, &ap->meta, "AuthorizationPolicy", r->line,
				    "spec.rules[%zu]: ztunnel does not support %s; within an %s "
				    "policy the rule is omitted, which is more restrictive than "
				    "requested (bind a waypoint to enforce HTTP attributes)",
				    ri, l7, ap->action == CONFIG_AUTHZ_AUDIT ? "AUDIT" : "ALLOW");
		return 0;
	}
	if (l7[0]) {
		if (asprintf(&out->note,
			     "ztunnel cannot evaluate %s: the rule keeps only its L4 parts, and a "
			     "part left with none matches every connection (fails closed)",
			     l7) < 0)
			return -ENOMEM;
		if (!quiet)
			policy_warn(
			    c, &ap->meta, "AuthorizationPolicy", r->line,
			    "spec.rules[%zu]: ztunnel does not support %s; within a DENY policy "
			    "these attributes are taken as matching, so the rule denies every "
			    "connection the rest of it matches (a source, operation or condition "
			    "with only HTTP attributes matches every connection): stricter than "
			    "written, never looser",
			    ri, l7);
	}
	if (r->n_from) {
		if (!(cl = rule_add(out)))
			return -ENOMEM;
		for (size_t i = 0; i < r->n_from; i++) {
			struct policy_match *m = clause_add(cl);

			if (!m || compile_source(m, &r->from[i], ns))
				return -ENOMEM;
		}
	}
	if (r->n_to) {
		if (!(cl = rule_add(out)))
			return -ENOMEM;
		for (size_t i = 0; i < r->n_to; i++) {
			struct policy_match *m = clause_add(cl);

			if (!m || ports_from(&m->ports, &r->to[i].ports, true) ||
			    ports_from(&m->not_ports, &r->to[i].not_ports, false))
				return -ENOMEM;
		}
	}
	for (size_t i = 0; i < r->n_when; i++) {
		struct policy_match *m;

		if (!(cl = rule_add(out)) || !(m = clause_add(cl)) || compile_when(m, &r->when[i]))
			return -ENOMEM;
	}
	if (l7[0])
		prune_l7_clauses(out);
	return 0;
}

/* ---- AuthorizationPolicy ---- */

/*
 * @ap's rules compiled from the same load by the previous set, without a warning: lent to @out
 * (c->lent marks them) until the set is complete, then given (policy_give_rules) or taken back.
 */
static bool lend_rules(struct policy_comp *c, const struct config_authorization_policy *ap,
		       struct policy_authz *out)
{
	struct policy_set *prev = c->prev;
	struct policy_authz key = {.key = out->key}, *p;
	size_t at;

	if (!prev || !ap->meta.serial || !prev->n_policies)
		return false;
	if (c->prev_aps) {
		at = serial_map_get(c->prev_aps, ap->meta.serial);
		p = at == SIZE_MAX || strcmp(prev->policies[at].key, out->key)
			? NULL
			: &prev->policies[at];
	} else {
		p = bsearch(&key, prev->policies, prev->n_policies, sizeof(*prev->policies),
			    policy_cmp_authz);
	}
	if (!p || p->serial != ap->meta.serial || c->lent[p - prev->policies] ||
	    p->n_rules != ap->n_rules)
		return false;
	c->lent[p - prev->policies] = true;
	out->rules = p->rules;
	out->n_rules = p->n_rules;
	out->serial = p->serial;
	return true;
}

void policy_give_rules(struct policy_comp *c)
{
	for (size_t i = 0; c->lent && i < c->prev->n_policies; i++) {
		if (!c->lent[i])
			continue;
		c->prev->policies[i].rules = NULL;
		c->prev->policies[i].n_rules = 0;
		c->prev->policies[i].serial = 0;
	}
}

void policy_take_back_rules(struct policy_comp *c, struct policy_set *ps)
{
	for (size_t i = 0; c->lent && ps && i < ps->n_policies; i++) {
		struct policy_authz *p = &ps->policies[i], *q;

		if (!p->rules || !p->key)
			continue;
		q = bsearch(p, c->prev->policies, c->prev->n_policies, sizeof(*q),
			    policy_cmp_authz);
		if (q && c->lent[q - c->prev->policies] && q->rules == p->rules) {
			p->rules = NULL;
			p->n_rules = 0;
		}
	}
}

/*
 * The Services @ap targets (targetRefs of kind Service in its namespace) that no waypoint
 * serves. Istio leaves a policy on such a Service unenforced; here it fails closed instead:
 * the ztunnels of the Services' pods enforce it as they would a selector policy on those pods
 * (its L7 rules failing closed there), so nothing it denies gets through. Their pods into
 * @out's workloads (sorted), the first such Service into *@svc. 1 when there is one, 0 when
 * none, -ENOMEM.
 */
static int unserved_services(struct policy_comp *c, const struct config_authorization_policy *ap,
			     struct policy_authz *out, const struct config_service **svc)
{
	const struct config *cfg = c->cfg;
	const char *ns = ap->meta.namespace;
	bool any = false;

	for (size_t i = 0; i < ap->n_target_refs; i++) {
		const struct config_target_ref *t = &ap->target_refs[i];

		if (!t->kind || strcmp(t->kind, "Service") || (t->group && *t->group) ||
		    (t->namespace && strcmp(t->namespace, ns)) || !t->name)
			continue;
		for (size_t k = 0; k < cfg->n_services; k++) {
			const struct config_service *s = &cfg->services[k];
			char **wls;
			size_t n;

			if (strcmp(s->meta.namespace, ns) || strcmp(s->meta.name, t->name) ||
			    l7_service_waypoint(cfg, s))
				continue;
			if (!any)
				*svc = s;
			any = true;
			/* No selector: no pods of its own (its endpoints are written by hand). */
			if (!s->selector.n)
				continue;
			if (policy_select_workloads(c, ns, &s->selector, &wls, &n))
				return -ENOMEM;
			if (policy_uids_merge(&out->workloads, &out->n_workloads, wls, n))
				return -ENOMEM;
		}
	}
	return any;
}

int policy_compile_authz(struct policy_comp *c, const struct config_authorization_policy *ap,
			 struct policy_authz *out, bool select)
{
	const char *ns = ap->meta.namespace;
	bool root = !strcmp(ns, c->root);
	static const enum policy_action act[] = {
	    [CONFIG_AUTHZ_ALLOW] = POLICY_ACTION_ALLOW,
	    [CONFIG_AUTHZ_DENY] = POLICY_ACTION_DENY,
	    [CONFIG_AUTHZ_AUDIT] = POLICY_ACTION_AUDIT,
	    [CONFIG_AUTHZ_CUSTOM] = POLICY_ACTION_CUSTOM,
	};

	bool by_service = false;

	memset(out, 0, sizeof(*out));
	out->namespace = strdup(ns);
	out->name = strdup(ap->meta.name);
	if (!out->namespace || !out->name || asprintf(&out->key, "%s/%s", ns, ap->meta.name) < 0)
		return -ENOMEM;
	out->action = (unsigned int)ap->action < 4 ? act[ap->action] : POLICY_ACTION_ALLOW;
	out->dry_run = ap->dry_run;
	if (ap->n_target_refs) {
		const struct config_service *svc = NULL;
		int r = unserved_services(c, ap, out, &svc);

		if (r < 0)
			return r;
		if (!r) {
			out->scope = POLICY_SCOPE_NONE;
			if (!(out->note = strdup("targetRefs: enforced by a waypoint, not the "
						 "ztunnel")))
				return -ENOMEM;
			policy_warn(c, &ap->meta, "AuthorizationPolicy", 0, "%s", out->note);
			return 0;
		}
		by_service = true;
		policy_warn(c, &ap->meta, "AuthorizationPolicy", 0,
			    "targetRefs: no waypoint serves Service %s/%s, so the ztunnel enforces "
			    "the policy on its pods (fails closed: rules with L7 attributes deny "
			    "there as with a selector; bind the Service to a waypoint with "
			    "istio.io/use-waypoint for the policy as written)",
			    svc->meta.namespace, svc->meta.name);
	}
	if (ap->action == CONFIG_AUTHZ_CUSTOM) {
		/* Only a waypoint can ask the external authorizer: what it would have been asked
		 * about is denied (fails closed), never let through unasked. */
		out->action = POLICY_ACTION_DENY;
		if (!(out->note = strdup("CUSTOM at the ztunnel: its external authorizer can only "
					 "be asked by a waypoint (targetRefs), so the ztunnel "
					 "denies what the policy matches")))
			return -ENOMEM;
		policy_warn(c, &ap->meta, "AuthorizationPolicy", 0, "%s", out->note);
	}
	if (ap->has_selector || by_service)
		out->scope = POLICY_SCOPE_WORKLOAD;
	else
		out->scope = root ? POLICY_SCOPE_GLOBAL : POLICY_SCOPE_NAMESPACE;
	if (out->action == POLICY_ACTION_ALLOW && !ap->n_rules)
		policy_warn(
		    c, &ap->meta, "AuthorizationPolicy", 0,
		    "ALLOW policy with no rules allows nothing: every connection to the %s it "
		    "applies to is denied unless another ALLOW policy matches it",
		    out->scope == POLICY_SCOPE_GLOBAL	  ? "mesh"
		    : out->scope == POLICY_SCOPE_WORKLOAD ? "workloads"
							  : "namespace");
	if (ap->n_rules && !lend_rules(c, ap, out)) {
		size_t warned = c->diags ? c->diags->n : 0;

		out->rules = calloc(ap->n_rules, sizeof(*out->rules));
		if (!out->rules)
			return -ENOMEM;
		out->n_rules = ap->n_rules;
		for (size_t i = 0; i < ap->n_rules; i++)
			if (compile_rule(c, ap, i, &out->rules[i]))
				return -ENOMEM;
		/* Without the diagnostics we cannot tell; a warning must be given again. */
		if (c->diags && c->diags->n == warned)
			out->serial = ap->meta.serial;
	}
	if (select && out->scope == POLICY_SCOPE_WORKLOAD && !by_service) {
		if (policy_select_workloads(c, root ? NULL : ns, &ap->selector, &out->workloads,
					    &out->n_workloads))
			return -ENOMEM;
	}
	return 0;
}
