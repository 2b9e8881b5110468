// SPDX-License-Identifier: Apache-2.0
/*
 * Policy evaluation: the per-connection decision of the destination ztunnel, in Istio ztunnel's
 * order (src/rbac.rs, API_SEMANTICS.md §3/§4): PeerAuthentication STRICT without a peer
 * principal, then DENY, then "no ALLOW applies ⇒ allow", then any ALLOW match. No allocation:
 * this runs for every accepted connection and for every open connection on a policy change.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile_priv.h"

/* ---- strings, addresses ---- */

bool policy_str_match(const struct policy_str *p, const char *value)
{
	size_t n;

	if (!value)
		return false;
	n = strlen(value);
	switch (p->kind) {
	case POLICY_STR_EXACT: return n == p->len && memcmp(value, p->s, n) == 0;
	case POLICY_STR_PREFIX: return n >= p->len && memcmp(value, p->s, p->len) == 0;
	case POLICY_STR_SUFFIX: return n >= p->len && memcmp(value + n - p->len, p->s, p->len) == 0;
	case POLICY_STR_PRESENT: return n > 0;
	}
	return false;
}

static bool cidrs_match(const struct policy_cidrs *l, const struct ipaddr *ip)
{
	for (size_t i = 0; i < l->n; i++)
		if (ipaddr_contains(&l->items[i], ip))
			return true;
	return false;
}

static bool strs_match(const struct policy_strs *l, const char *v)
{
	for (size_t i = 0; i < l->n; i++)
		if (policy_str_match(&l->items[i], v))
			return true;
	return false;
}

static bool ports_match(const struct policy_ports *l, uint16_t port)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->items[i] == port)
			return true;
	return false;
}

/* ---- matching ---- */

/* The peer as policy sees it: principal "td/ns/x/sa/y" and namespace x, or NULL (plaintext). */
struct peer {
	const struct policy_conn *c;
	const char *principal;
	const char *ns;
	char nsbuf[256];
};

static void peer_init(struct peer *p, const struct policy_conn *c)
{
	const char *id = c->src_identity, *ns, *end;

	memset(p, 0, sizeof(*p));
	p->c = c;
	if (!id || !*id)
		return;
	if (!strncmp(id, "spiffe://", 9))
		id += 9;
	p->principal = id;
	ns = strstr(id, "/ns/");
	if (!ns)
		return;
	ns += 4;
	end = strchr(ns, '/');
	if (!end)
		end = ns + strlen(ns);
	if ((size_t)(end - ns) >= sizeof(p->nsbuf) || end == ns)
		return;
	memcpy(p->nsbuf, ns, (size_t)(end - ns));
	p->nsbuf[end - ns] = '\0';
	p->ns = p->nsbuf;
}

/*
 * Whether a principal of @l matches the peer's: as it is, or, when the peer's trust domain is
 * one of the connection's (the mesh's or an alias), as the same identity in any other of them
 * or in "cluster.local", Istio's pointer to the local trust domain. That is Istio's expansion
 * of a policy's principals over the mesh's trust domain and aliases, read from the other side:
 * a principal of another trust domain, or one that names none (one starting with "*"), matches
 * as it is either way.
 */
static bool principals_match(const struct policy_strs *l, const struct peer *p)
{
	const struct policy_conn *c = p->c;
	const char *rest;
	char alt[512];
	size_t tdlen;
	bool ours = false;

	if (strs_match(l, p->principal))
		return true;
	if (!p->principal || !c->n_trust_domains)
		return false;
	rest = strchr(p->principal, '/');
	tdlen = rest ? (size_t)(rest - p->principal) : 0;
	for (size_t i = 0; rest && i < c->n_trust_domains; i++)
		ours |= strlen(c->trust_domains[i]) == tdlen &&
			!strncmp(c->trust_domains[i], p->principal, tdlen);
	if (!ours)
		return false;
	for (size_t i = 0; i <= c->n_trust_domains; i++) {
		const char *td = i < c->n_trust_domains ? c->trust_domains[i] : "cluster.local";

		if ((strlen(td) == tdlen && !strncmp(td, p->principal, tdlen)) ||
		    (size_t)snprintf(alt, sizeof(alt), "%s%s", td, rest) >= sizeof(alt))
			continue;
		if (strs_match(l, alt))
			return true;
	}
	return false;
}

static bool match_empty(const struct policy_match *m)
{
	return !m->principals.n && !m->not_principals.n && !m->namespaces.n &&
	       !m->not_namespaces.n && !m->src_ips.n && !m->not_src_ips.n && !m->dst_ips.n &&
	       !m->not_dst_ips.n && !m->ports.n && !m->not_ports.n;
}

/*
 * A missing attribute (plaintext: no principal, no namespace) fails a positive field and passes
 * a negative one: `notPrincipals: ["*"]` is how Istio spells "require mTLS".
 */
static bool match_holds(const struct policy_match *m, const struct peer *p)
{
	const struct policy_conn *c = p->c;

	if (match_empty(m))
		return false;
	if (m->principals.n && !principals_match(&m->principals, p))
		return false;
	if (m->not_principals.n && principals_match(&m->not_principals, p))
		return false;
	if (m->namespaces.n && !strs_match(&m->namespaces, p->ns))
		return false;
	if (m->not_namespaces.n && strs_match(&m->not_namespaces, p->ns))
		return false;
	if (m->src_ips.n && !cidrs_match(&m->src_ips, &c->src_ip))
		return false;
	if (m->not_src_ips.n && cidrs_match(&m->not_src_ips, &c->src_ip))
		return false;
	if (m->dst_ips.n && !cidrs_match(&m->dst_ips, &c->dst_ip))
		return false;
	if (m->not_dst_ips.n && cidrs_match(&m->not_dst_ips, &c->dst_ip))
		return false;
	if (m->ports.n && !ports_match(&m->ports, c->dst_port))
		return false;
	if (m->not_ports.n && ports_match(&m->not_ports, c->dst_port))
		return false;
	return true;
}

static bool rule_holds(const struct policy_rule *r, const struct peer *p)
{
	if (r->dropped)
		return false;
	for (size_t i = 0; i < r->n_clauses; i++) {
		const struct policy_clause *cl = &r->clauses[i];
		bool any = false;

		for (size_t j = 0; j < cl->n && !any; j++)
			any = match_holds(&cl->items[j], p);
		if (!any)
			return false;
	}
	return true;
}

/* Index of the first matching rule, or -1 (also for a policy without rules). */
static int policy_matches(const struct policy_authz *pol, const struct peer *p)
{
	for (size_t i = 0; i < pol->n_rules; i++)
		if (rule_holds(&pol->rules[i], p))
			return (int)i;
	return -1;
}

/* ---- look-ups ---- */

int policy_cmp_authz(const void *a, const void *b)
{
	return strcmp(((const struct policy_authz *)a)->key, ((const struct policy_authz *)b)->key);
}

int policy_cmp_workload(const void *a, const void *b)
{
	return strcmp(((const struct policy_workload *)a)->uid,
		      ((const struct policy_workload *)b)->uid);
}

int policy_cmp_namespace(const void *a, const void *b)
{
	return strcmp(((const struct policy_namespace *)a)->name,
		      ((const struct policy_namespace *)b)->name);
}

int policy_cmp_port(const void *a, const void *b)
{
	return (int)((const struct policy_port_mtls *)a)->port -
	       (int)((const struct policy_port_mtls *)b)->port;
}

const struct policy_authz *policy_set_find(const struct policy_set *ps, const char *key)
{
	struct policy_authz k = {.key = (char *)key};

	if (!ps || !key || !ps->n_policies)
		return NULL;
	return bsearch(&k, ps->policies, ps->n_policies, sizeof(k), policy_cmp_authz);
}

const struct policy_workload *policy_set_workload(const struct policy_set *ps, const char *uid)
{
	struct policy_workload k = {.uid = (char *)uid};

	if (!ps || !uid || !ps->n_workloads)
		return NULL;
	return bsearch(&k, ps->workloads, ps->n_workloads, sizeof(k), policy_cmp_workload);
}

const struct policy_namespace *policy_set_namespace(const struct policy_set *ps, const char *ns)
{
	struct policy_namespace k = {.name = (char *)ns};

	if (!ps || !ns || !ps->n_namespaces)
		return NULL;
	return bsearch(&k, ps->namespaces, ps->n_namespaces, sizeof(k), policy_cmp_namespace);
}

static enum config_mtls_mode mtls_on_port(const struct policy_mtls *m, uint16_t port,
					  const char **source)
{
	struct policy_port_mtls k = {.port = port}, *hit = NULL;

	if (m->n_ports)
		hit = bsearch(&k, m->ports, m->n_ports, sizeof(k), policy_cmp_port);
	if (hit) {
		*source = m->port_source;
		return hit->mode;
	}
	*source = m->source;
	return m->mode;
}

enum config_mtls_mode policy_mtls_mode(const struct policy_set *ps, const char *uid, const char *ns,
				       uint16_t port, const char **source)
{
	const struct policy_workload *w;
	const struct policy_namespace *n;
	const char *dummy;

	if (!source)
		source = &dummy;
	*source = NULL;
	if (!ps)
		return CONFIG_MTLS_PERMISSIVE;
	w = policy_set_workload(ps, uid);
	if (w)
		return mtls_on_port(&w->mtls, port, source);
	n = policy_set_namespace(ps, ns);
	if (n)
		return mtls_on_port(&n->mtls, port, source);
	return mtls_on_port(&ps->mesh, port, source);
}

/* ---- decision ---- */

/* The policies that apply to one destination: global, its namespace's, its workload's. */
struct applicable {
	const uint32_t *list[3];
	size_t n[3];
};

static void applicable_init(const struct policy_set *ps, const struct policy_namespace *n,
			    const struct policy_workload *w, struct applicable *a)
{
	a->list[0] = ps->global;
	a->n[0] = ps->n_global;
	a->list[1] = n ? n->policies : NULL;
	a->n[1] = n ? n->n_policies : 0;
	a->list[2] = w ? w->policies : NULL;
	a->n[2] = w ? w->n_policies : 0;
}

#define FOR_EACH_APPLICABLE(ps, a, pol)                                                            \
	for (size_t _l = 0; _l < 3; _l++)                                                          \
		for (size_t _i = 0;                                                                \
		     _i < (a)->n[_l] && ((pol) = &(ps)->policies[(a)->list[_l][_i]], true); _i++)

/* The ALLOW/DENY decision; @with_dry_run also enforces dry-run policies (the shadow run). */
static void decide(const struct policy_set *ps, const struct applicable *a, const struct peer *p,
		   bool with_dry_run, struct policy_decision *d)
{
	const struct policy_authz *pol;
	bool any_allow = false;
	int rule;

	FOR_EACH_APPLICABLE(ps, a, pol)
	{
		if (pol->action != POLICY_ACTION_DENY || (pol->dry_run && !with_dry_run))
			continue;
		rule = policy_matches(pol, p);
		if (rule >= 0) {
			d->verdict = POLICY_VERDICT_DENY;
			d->reason = POLICY_REASON_DENY_MATCHED;
			d->policy = pol;
			d->rule = rule;
			return;
		}
	}
	FOR_EACH_APPLICABLE(ps, a, pol)
	{
		if (pol->action != POLICY_ACTION_ALLOW || (pol->dry_run && !with_dry_run))
			continue;
		any_allow = true;
		rule = policy_matches(pol, p);
		if (rule >= 0) {
			d->verdict = POLICY_VERDICT_ALLOW;
			d->reason = POLICY_REASON_ALLOW_MATCHED;
			d->policy = pol;
			d->rule = rule;
			return;
		}
	}
	d->verdict = any_allow ? POLICY_VERDICT_DENY : POLICY_VERDICT_ALLOW;
	d->reason = any_allow ? POLICY_REASON_NO_ALLOW_MATCHED : POLICY_REASON_NO_ALLOW_POLICY;
	d->policy = NULL;
	d->rule = -1;
}

void policy_evaluate(const struct policy_set *ps, const struct policy_conn *conn,
		     struct policy_decision *out)
{
	const struct policy_authz *pol;
	struct policy_decision shadow;
	struct applicable a;
	bool any_dry = false;
	struct peer p;

	const struct policy_namespace *n;
	const struct policy_workload *w;

	memset(out, 0, sizeof(*out));
	out->rule = -1;
	out->mtls = CONFIG_MTLS_PERMISSIVE;
	if (!ps)
		return;
	peer_init(&p, conn);
	/* One look-up of each: this is the per-connection path. */
	n = policy_set_namespace(ps, conn->dst_namespace);
	w = policy_set_workload(ps, conn->dst_uid);
	out->mtls = mtls_on_port(w   ? &w->mtls
				 : n ? &n->mtls
				     : &ps->mesh,
				 conn->dst_port, &out->mtls_source);
	applicable_init(ps, n, w, &a);
	FOR_EACH_APPLICABLE(ps, &a, pol)
	{
		if (pol->action == POLICY_ACTION_AUDIT) {
			if (policy_matches(pol, &p) >= 0 && out->n_audit < POLICY_MAX_AUDIT)
				out->audit[out->n_audit++] = pol;
		} else if (pol->action == POLICY_ACTION_ALLOW ||
			   pol->action == POLICY_ACTION_DENY) {
			if (pol->dry_run)
				any_dry = true;
			else
				out->n_applicable++;
		}
	}
	/* ztunnel realises STRICT as a DENY of connections without a peer principal, first. */
	if (out->mtls == CONFIG_MTLS_STRICT && !p.principal) {
		out->verdict = POLICY_VERDICT_DENY;
		out->reason = POLICY_REASON_MTLS_REQUIRED;
		return;
	}
	decide(ps, &a, &p, false, out);
	out->dropped_rule = -1;
	if (out->reason == POLICY_REASON_NO_ALLOW_MATCHED) {
		/* The rule the policy's author meant to match may be one the ztunnel dropped. */
		FOR_EACH_APPLICABLE(ps, &a, pol)
		{
			if (pol->action != POLICY_ACTION_ALLOW || pol->dry_run ||
			    out->dropped_policy)
				continue;
			for (size_t r = 0; r < pol->n_rules && !out->dropped_policy; r++)
				if (pol->rules[r].dropped) {
					out->dropped_policy = pol;
					out->dropped_rule = (int)r;
				}
		}
	}
	if (!any_dry)
		return;
	memset(&shadow, 0, sizeof(shadow));
	decide(ps, &a, &p, true, &shadow);
	if (shadow.verdict != out->verdict || (shadow.policy && shadow.policy->dry_run)) {
		out->shadow = true;
		out->shadow_verdict = shadow.verdict;
		out->shadow_policy = shadow.policy;
	}
}

void policy_decision_name(const struct policy_decision *d, char *buf, size_t len)
{
	if (!len)
		return;
	if (d->reason == POLICY_REASON_MTLS_REQUIRED)
		snprintf(buf, len, "%s", d->mtls_source ? d->mtls_source : "PeerAuthentication");
	else if (d->policy)
		snprintf(buf, len, "%s", d->policy->key);
	else
		buf[0] = '\0';
}

void policy_decision_explain(const struct policy_decision *d, const struct policy_conn *conn,
			     char *buf, size_t len)
{
	const char *who = conn->src_identity && *conn->src_identity
			      ? conn->src_identity
			      : "a plaintext peer (no identity)";
	const struct policy_rule *r = d->policy && d->rule >= 0 ? &d->policy->rules[d->rule] : NULL;
	char line[32] = "";
	int n = 0;

	if (!len)
		return;
	if (r && r->line)
		snprintf(line, sizeof(line), " (line %d)", r->line);
	switch (d->reason) {
	case POLICY_REASON_MTLS_REQUIRED:
		n = snprintf(buf, len,
			     "deny: mTLS is STRICT on port %u (%s) and the peer is "
			     "plaintext (no identity)",
			     conn->dst_port, d->mtls_source ? d->mtls_source : "mesh default");
		break;
	case POLICY_REASON_DENY_MATCHED:
		n = snprintf(buf, len, "deny: DENY policy %s rule %d%s matches %s", d->policy->key,
			     d->rule, line, who);
		break;
	case POLICY_REASON_ALLOW_MATCHED:
		n = snprintf(buf, len, "allow: ALLOW policy %s rule %d%s matches %s",
			     d->policy->key, d->rule, line, who);
		break;
	case POLICY_REASON_NO_ALLOW_MATCHED:
		n = snprintf(buf, len,
			     "deny: ALLOW policies apply to the destination (%zu policy(ies) in "
			     "all) and none has a rule matching %s on port %u",
			     d->n_applicable, who, conn->dst_port);
		break;
	case POLICY_REASON_NO_ALLOW_POLICY:
		n = snprintf(buf, len,
			     "allow: no DENY matches and no ALLOW policy applies (%zu "
			     "policy(ies) apply)",
			     d->n_applicable);
		break;
	}
	if (n < 0 || (size_t)n >= len)
		return;
	if (d->dropped_policy) {
		const struct policy_rule *dr = &d->dropped_policy->rules[d->dropped_rule];

		n += snprintf(buf + n, len - (size_t)n,
			      "; ALLOW policy %s rule %d%s fails closed here: %s",
			      d->dropped_policy->key, d->dropped_rule,
			      dr->note ? "" : " was dropped", dr->note ? dr->note : "");
		if (n < 0 || (size_t)n >= len)
			return;
	}
	if (d->shadow)
		n += snprintf(buf + n, len - (size_t)n, "; dry-run would %s (%s)",
			      policy_verdict_str(d->shadow_verdict),
			      d->shadow_policy ? d->shadow_policy->key : "no policy matched");
	for (size_t i = 0; i < d->n_audit && n >= 0 && (size_t)n < len; i++)
		n += snprintf(buf + n, len - (size_t)n, "; audited by %s", d->audit[i]->key);
}

/* ---- kernel fast-drop help ---- */

static bool match_only_src_ips(const struct policy_match *m)
{
	return m->src_ips.n && !m->principals.n && !m->not_principals.n && !m->namespaces.n &&
	       !m->not_namespaces.n && !m->not_src_ips.n && !m->dst_ips.n && !m->not_dst_ips.n &&
	       !m->ports.n && !m->not_ports.n;
}

/*
 * Calls @fn for every source block that an enforced DENY policy applying to @uid denies with no
 * other condition, with the policy, in evaluation order; stops at the first non-zero return and
 * returns it.
 */
static int for_each_deny_src(const struct policy_set *ps, const char *uid, const char *ns,
			     int (*fn)(const struct policy_authz *pol, const struct ipaddr *c,
				       void *arg),
			     void *arg)
{
	const struct policy_authz *pol;
	struct applicable a;
	int ret;

	if (!ps)
		return 0;
	applicable_init(ps, policy_set_namespace(ps, ns), policy_set_workload(ps, uid), &a);
	FOR_EACH_APPLICABLE(ps, &a, pol)
	{
		if (pol->action != POLICY_ACTION_DENY || pol->dry_run)
			continue;
		for (size_t r = 0; r < pol->n_rules; r++) {
			const struct policy_rule *rule = &pol->rules[r];

			/* One clause (from) and nothing else: each of its matches denies alone. */
			if (rule->dropped || rule->n_clauses != 1)
				continue;
			for (size_t m = 0; m < rule->clauses[0].n; m++) {
				const struct policy_match *pm = &rule->clauses[0].items[m];

				if (!match_only_src_ips(pm))
					continue;
				for (size_t k = 0; k < pm->src_ips.n; k++) {
					if (!pm->src_ips.items[k].family)
						continue;
					ret = fn(pol, &pm->src_ips.items[k], arg);
					if (ret)
						return ret;
				}
			}
		}
	}
	return 0;
}

struct cidr_collect {
	struct policy_cidrs *out;
	size_t cap;
};

static int collect_cidr(const struct policy_authz *pol, const struct ipaddr *c, void *arg)
{
	struct cidr_collect *cc = arg;

	if (cc->out->n == cc->cap) {
		size_t nc = cc->cap ? cc->cap * 2 : 8;
		void *p = realloc(cc->out->items, nc * sizeof(*cc->out->items));

		if (!p)
			return -ENOMEM;
		cc->out->items = p;
		cc->cap = nc;
	}
	cc->out->items[cc->out->n++] = *c;
	return 0;
}

int policy_deny_src_cidrs(const struct policy_set *ps, const char *uid, const char *ns,
			  struct policy_cidrs *out)
{
	struct cidr_collect cc = {.out = out};
	int err;

	memset(out, 0, sizeof(*out));
	err = for_each_deny_src(ps, uid, ns, collect_cidr, &cc);
	if (err) {
		free(out->items);
		memset(out, 0, sizeof(*out));
	}
	return err;
}

struct cidr_owner {
	struct ipaddr want;
	const struct policy_authz *found;
};

static int find_owner(const struct policy_authz *pol, const struct ipaddr *c, void *arg)
{
	struct cidr_owner *o = arg;

	if (!ipaddr_equal(c, &o->want))
		return 0;
	o->found = pol;
	return 1;
}

const struct policy_authz *policy_deny_src_owner(const struct policy_set *ps, const char *uid,
						 const char *ns, const struct ipaddr *block)
{
	struct cidr_owner o = {.want = *block};

	for_each_deny_src(ps, uid, ns, find_owner, &o);
	return o.found;
}

/* ---- names ---- */

const char *policy_verdict_str(enum policy_verdict v)
{
	return v == POLICY_VERDICT_DENY ? "deny" : "allow";
}

const char *policy_reason_str(enum policy_reason r)
{
	static const char *const s[] = {"no_allow_policy", "allow_matched", "deny_matched",
					"no_allow_matched", "mtls_required"};

	return (unsigned int)r < 5 ? s[r] : "?";
}
