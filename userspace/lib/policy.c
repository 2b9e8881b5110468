// SPDX-License-Identifier: Apache-2.0
/*
 * Policy compiler: config AuthorizationPolicy + PeerAuthentication + workloads -> an indexed,
 * immutable policy set (include/ambit/policy.h). What istiod's ambient authorization.go does for
 * ztunnel: keep the L4 part of each rule (dropping ALLOW rules that need L7, trimming DENY rules),
 * resolve selectors to workloads once, and resolve PeerAuthentication precedence per workload so
 * that evaluation is a few short list walks and binary searches.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "policy_priv.h"

/* ---- diagnostics ---- */

void policy_warn(struct policy_comp *c, const struct config_meta *m, const char *kind, int line,
		 const char *fmt, ...)
{
	struct config_diag *d, *items;
	va_list ap;
	int n;

	if (!c->diags)
		return;
	items = realloc(c->diags->items, (c->diags->n + 1) * sizeof(*items));
	if (!items)
		return;
	c->diags->items = items;
	d = &items[c->diags->n];
	memset(d, 0, sizeof(*d));
	d->file = strdup(m->origin.file ? m->origin.file : "<input>");
	d->line = line ? line : m->origin.line;
	d->column = 1;
	d->error = false;
	if (asprintf(&d->object, "%s %s/%s", kind, m->namespace, m->name) < 0)
		d->object = NULL;
	va_start(ap, fmt);
	n = vasprintf(&d->message, fmt, ap);
	va_end(ap);
	if (n < 0)
		d->message = NULL;
	c->diags->n++;
}

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
		struct policy_cidr cd;
		void *p;

		if (policy_cidr_parse(in->items[i], &cd)) {
			if (!positive)
				continue;
			cd.addr = POLICY_CIDR_NONE_ADDR;
			cd.mask = 0;
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

static int compile_rule(struct policy_comp *c, const struct config_authorization_policy *ap,
			size_t ri, struct policy_rule *out)
{
	const struct config_authz_rule *r = &ap->rules[ri];
	const char *ns = ap->meta.namespace;
	bool allow_like = ap->action != CONFIG_AUTHZ_DENY;
	struct policy_clause *cl;
	char l7[256];

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
		policy_warn(
		    c, &ap->meta, "AuthorizationPolicy", r->line,
		    "spec.rules[%zu]: ztunnel does not support %s; within an %s policy the rule is "
		    "omitted, which is more restrictive than requested (bind a waypoint to enforce "
		    "HTTP attributes)",
		    ri, l7, ap->action == CONFIG_AUTHZ_AUDIT ? "AUDIT" : "ALLOW");
		return 0;
	}
	if (l7[0]) {
		if (asprintf(&out->note,
			     "ztunnel ignores %s: the rule keeps only its L4 parts; a part left "
			     "with none matches nothing",
			     l7) < 0)
			return -ENOMEM;
		policy_warn(
		    c, &ap->meta, "AuthorizationPolicy", r->line,
		    "spec.rules[%zu]: ztunnel does not support %s; within a DENY policy these "
		    "attributes are ignored and the rest of the rule is enforced (a source, "
		    "operation or condition with only HTTP attributes matches nothing)",
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
	return 0;
}

/* ---- selection ---- */

/* The first 8 bytes of @s as a big-endian number (0 after its end): their order is strcmp's. */
static uint64_t str_prefix(const char *s)
{
	uint64_t v = 0;
	bool end = false;

	for (size_t i = 0; i < 8; i++) {
		unsigned char ch = end ? 0 : (unsigned char)s[i];

		end = !ch;
		v = v << 8 | ch;
	}
	return v;
}

struct str_ix {
	uint64_t prefix;
	const char *s;
	size_t i;
};

static int cmp_str_ix(const void *a, const void *b)
{
	const struct str_ix *x = a, *y = b;
	int r;

	if (x->prefix != y->prefix)
		return x->prefix < y->prefix ? -1 : 1;
	r = strcmp(x->s, y->s);
	return r ? r : (x->i > y->i) - (x->i < y->i);
}

int policy_sort_strs(const char *const *s, size_t n, size_t *idx)
{
	struct str_ix *t = malloc((n ? n : 1) * sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		t[i].prefix = str_prefix(s[i]);
		t[i].s = s[i];
		t[i].i = i;
	}
	qsort(t, n, sizeof(*t), cmp_str_ix);
	for (size_t i = 0; i < n; i++)
		idx[i] = t[i].i;
	free(t);
	return 0;
}

struct wl_key {
	uint64_t ns_prefix, uid_prefix;
	const struct policy_workload_input *w;
	size_t i;
};

static int cmp_wl_key(const void *a, const void *b)
{
	const struct wl_key *x = a, *y = b;
	int r = 0;

	if (x->ns_prefix != y->ns_prefix)
		return x->ns_prefix < y->ns_prefix ? -1 : 1;
	r = strcmp(x->w->namespace, y->w->namespace);
	if (!r && x->uid_prefix != y->uid_prefix)
		return x->uid_prefix < y->uid_prefix ? -1 : 1;
	if (!r)
		r = strcmp(x->w->uid, y->w->uid);
	return r ? r : (x->i > y->i) - (x->i < y->i);
}

/* [*lo, *hi) of c->by_ns in namespace @ns; all workloads for NULL. */
static void ns_range(const struct policy_comp *c, const char *ns, size_t *lo, size_t *hi)
{
	size_t l = 0, h = c->n_wls;

	if (!ns) {
		*lo = 0;
		*hi = c->n_wls;
		return;
	}
	while (l < h) {
		size_t mid = l + (h - l) / 2;

		if (strcmp(c->wls[c->by_ns[mid]].namespace, ns) < 0)
			l = mid + 1;
		else
			h = mid;
	}
	*lo = l;
	for (h = l; h < c->n_wls && !strcmp(c->wls[c->by_ns[h]].namespace, ns); h++)
		;
	*hi = h;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *wl_ns(void *arg, size_t i)
{
	const struct policy_comp *c = arg;

	return c->wls[c->by_ns[i]].namespace;
}

static const struct config_labels *wl_labels(void *arg, size_t i)
{
	const struct policy_comp *c = arg;

	return c->wls[c->by_ns[i]].labels;
}

/*
 * c->by_ns (the inputs by namespace, then uid, then position) and the label index over it.
 * 0 or -ENOMEM; without memory for the index, selections scan.
 */
static int comp_index(struct policy_comp *c)
{
	struct wl_key *k = malloc((c->n_wls ? c->n_wls : 1) * sizeof(*k));

	c->by_ns = calloc(c->n_wls + 1, sizeof(size_t));
	if (!k || !c->by_ns) {
		free(k);
		free(c->by_ns);
		c->by_ns = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->n_wls; i++) {
		k[i].ns_prefix = str_prefix(c->wls[i].namespace);
		k[i].uid_prefix = str_prefix(c->wls[i].uid);
		k[i].w = &c->wls[i];
		k[i].i = i;
	}
	qsort(k, c->n_wls, sizeof(*k), cmp_wl_key);
	for (size_t i = 0; i < c->n_wls; i++)
		c->by_ns[i] = k[i].i;
	free(k);
	(void)label_index_build(&c->by_label, c->n_wls, wl_ns, wl_labels, c);
	return 0;
}

bool policy_selects(const struct config_labels *sel, const char *ns, bool any,
		    const struct policy_workload_input *w)
{
	if (!any && strcmp(w->namespace, ns))
		return false;
	return w->labels ? config_labels_match(sel, w->labels) : sel->n == 0;
}

static int uids_add(char ***out, size_t *n, const char *uid)
{
	char **p = realloc(*out, (*n + 1) * sizeof(char *));

	if (!p)
		return -ENOMEM;
	*out = p;
	if (!(p[*n] = strdup(uid)))
		return -ENOMEM;
	(*n)++;
	return 0;
}

/*
 * A compile that takes most of its set over (policy_reuse) selects for a few policies: each
 * scans the inputs, until indexing them costs less than the scans to come.
 */
#define SCANS_BEFORE_INDEX 8

int policy_select_workloads(struct policy_comp *c, const char *ns, const struct config_labels *sel,
			    char ***out, size_t *n)
{
	size_t lo, hi, n_cand;
	const size_t *cand;

	*out = NULL;
	*n = 0;
	if (!c->by_ns && c->n_scans++ >= SCANS_BEFORE_INDEX && comp_index(c))
		return -ENOMEM;
	if (!c->by_ns) {
		for (size_t i = 0; i < c->n_wls; i++)
			if (policy_selects(sel, ns, !ns, &c->wls[i]) &&
			    uids_add(out, n, c->wls[i].uid))
				return -ENOMEM;
		if (*n > 1)
			qsort(*out, *n, sizeof(char *), cmp_strp);
		return 0;
	}
	cand = label_index_candidates(&c->by_label, ns, sel, &n_cand);
	if (n_cand == SIZE_MAX) {
		ns_range(c, ns, &lo, &hi);
	} else {
		lo = 0;
		hi = n_cand;
	}
	for (size_t k = lo; k < hi; k++) {
		size_t i = cand ? cand[k] : k;
		const struct policy_workload_input *w = &c->wls[c->by_ns[i]];

		if (cand && ns && strcmp(w->namespace, ns))
			continue; /* a hash met another namespace's */
		if (w->labels ? !config_labels_match(sel, w->labels) : sel->n > 0)
			continue;
		if (uids_add(out, n, w->uid))
			return -ENOMEM;
	}
	if (*n > 1)
		qsort(*out, *n, sizeof(char *), cmp_strp);
	return 0;
}

/* ---- AuthorizationPolicy ---- */

/*
 * @ap's rules compiled from the same load by the previous set, without a warning: lent to @out
 * (c->lent marks them) until the set is complete, then given (give_rules) or taken back.
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
		at = policy_serial_map_get(c->prev_aps, ap->meta.serial);
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

/* The set is complete: the lent rules are its own now. */
static void give_rules(struct policy_comp *c)
{
	for (size_t i = 0; c->lent && i < c->prev->n_policies; i++) {
		if (!c->lent[i])
			continue;
		c->prev->policies[i].rules = NULL;
		c->prev->policies[i].n_rules = 0;
		c->prev->policies[i].serial = 0;
	}
}

/* The set failed: the lent rules stay @prev's (never freed with the new set). */
static void take_back_rules(struct policy_comp *c, struct policy_set *ps)
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

	memset(out, 0, sizeof(*out));
	out->namespace = strdup(ns);
	out->name = strdup(ap->meta.name);
	if (!out->namespace || !out->name || asprintf(&out->key, "%s/%s", ns, ap->meta.name) < 0)
		return -ENOMEM;
	out->action = (unsigned int)ap->action < 4 ? act[ap->action] : POLICY_ACTION_ALLOW;
	out->dry_run = ap->dry_run;
	if (ap->n_target_refs || ap->action == CONFIG_AUTHZ_CUSTOM) {
		out->scope = POLICY_SCOPE_NONE;
		if (!(out->note =
			  strdup(ap->n_target_refs
				     ? "targetRefs: enforced by a waypoint, not the ztunnel"
				     : "CUSTOM: needs a waypoint with an ext-authz provider; "
				       "the ztunnel ignores it")))
			return -ENOMEM;
		policy_warn(c, &ap->meta, "AuthorizationPolicy", 0, "%s", out->note);
		return 0;
	}
	if (ap->has_selector)
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
	if (select && out->scope == POLICY_SCOPE_WORKLOAD) {
		if (policy_select_workloads(c, root ? NULL : ns, &ap->selector, &out->workloads,
					    &out->n_workloads))
			return -ENOMEM;
	}
	return 0;
}

/* ---- the set ---- */

/*
 * Each of the @n names' distinct name (by hash, then strcmp), into @id_of; @first gets each
 * distinct one's first name, @count how many name it. The number of distinct ones, or SIZE_MAX
 * (ENOMEM).
 */
static size_t distinct_names(const char *const *names, size_t n, size_t *id_of, size_t *first,
			     size_t *count)
{
	size_t cap = 64, u = 0, *slot;
	uint64_t *hash;

	while (cap < 2 * n)
		cap *= 2;
	slot = calloc(cap, sizeof(*slot));
	hash = calloc(cap, sizeof(*hash));
	if (!slot || !hash) {
		free(slot);
		free(hash);
		return SIZE_MAX;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t h = XXH3_64bits(names[i], strlen(names[i]));
		size_t k = (size_t)(h ^ (h >> 29)) & (cap - 1);

		while (slot[k] && (hash[k] != h || strcmp(names[first[slot[k] - 1]], names[i])))
			k = (k + 1) & (cap - 1);
		if (!slot[k]) {
			slot[k] = ++u;
			hash[k] = h;
			first[u - 1] = i;
			count[u - 1] = 0;
		}
		id_of[i] = slot[k] - 1;
		count[slot[k] - 1]++;
	}
	free(slot);
	free(hash);
	return u;
}

static int build_namespaces(struct policy_comp *c)
{
	const struct config *cfg = c->cfg;
	struct policy_set *ps = c->ps;
	size_t cap =
	    c->n_wls + ps->n_policies + cfg->n_peer_authentications + cfg->n_namespaces + 1;
	const char **names = calloc(cap, sizeof(char *)), **distinct = calloc(cap, sizeof(char *));
	size_t *id_of = calloc(cap, sizeof(size_t)), *first = calloc(cap, sizeof(size_t));
	size_t *count = calloc(cap, sizeof(size_t)), *order = calloc(cap, sizeof(size_t));
	size_t n = 0, u;
	int err = -ENOMEM;

	if (!names || !distinct || !id_of || !first || !count || !order)
		goto out;
	for (size_t i = 0; i < c->n_wls; i++)
		names[n++] = c->wls[i].namespace;
	for (size_t i = 0; i < ps->n_policies; i++)
		names[n++] = ps->policies[i].namespace;
	for (size_t i = 0; i < cfg->n_peer_authentications; i++)
		names[n++] = cfg->peer_authentications[i].meta.namespace;
	for (size_t i = 0; i < cfg->n_namespaces; i++)
		if (cfg->namespaces[i].meta.name)
			names[n++] = cfg->namespaces[i].meta.name;
	/* Ten thousand names of a hundred namespaces: the hundred are sorted, not the names. */
	if ((u = distinct_names(names, n, id_of, first, count)) == SIZE_MAX)
		goto out;
	for (size_t i = 0; i < u; i++)
		distinct[i] = names[first[i]];
	if (policy_sort_strs(distinct, u, order))
		goto out;
	ps->namespaces = calloc(u + 1, sizeof(*ps->namespaces));
	c->ns_refs = calloc(u + 1, sizeof(size_t));
	c->ap_ns = calloc(ps->n_policies + 1, sizeof(size_t));
	if (!ps->namespaces || !c->ns_refs || !c->ap_ns)
		goto out;
	for (size_t i = 0; i < u; i++) {
		if (!(ps->namespaces[i].name = strdup(distinct[order[i]])))
			goto out;
		ps->n_namespaces = i + 1;
		c->ns_refs[i] = count[order[i]];
		first[order[i]] = i; /* now: each distinct name's position */
	}
	/* The policies' names follow the inputs'. */
	for (size_t j = 0; j < ps->n_policies; j++)
		c->ap_ns[j] = first[id_of[c->n_wls + j]];
	err = 0;
out:
	free(names);
	free(distinct);
	free(id_of);
	free(first);
	free(count);
	free(order);
	return err;
}

static int build_workloads(struct policy_comp *c)
{
	struct policy_set *ps = c->ps;
	const char **uids = calloc(c->n_wls + 1, sizeof(char *));
	size_t *src = calloc(c->n_wls + 1, sizeof(size_t));
	size_t *order = calloc(c->n_wls + 1, sizeof(size_t));
	size_t u = 0;
	int err = -ENOMEM;

	ps->workloads = calloc(c->n_wls + 1, sizeof(*ps->workloads));
	c->wl_src = calloc(c->n_wls + 1, sizeof(size_t));
	if (!uids || !src || !order || !ps->workloads || !c->wl_src)
		goto out;
	for (size_t i = 0; i < c->n_wls; i++) {
		const struct policy_workload_input *w = &c->wls[c->by_ns[i]];

		if (!c->serials || !c->serials[c->by_ns[i]])
			c->exact = false;
		if (u && !strcmp(uids[u - 1], w->uid)) {
			c->exact = false;
			continue; /* a duplicate uid: the first one stands */
		}
		uids[u] = w->uid;
		src[u++] = c->by_ns[i];
	}
	/* By uid; equal ones (of other namespaces) in their order so far. */
	if (policy_sort_strs(uids, u, order))
		goto out;
	for (size_t j = 0; j < u; j++) {
		const struct policy_workload_input *w = &c->wls[src[order[j]]];

		c->wl_src[j] = src[order[j]];
		ps->workloads[j].uid = strdup(w->uid);
		ps->workloads[j].namespace = strdup(w->namespace);
		ps->n_workloads = j + 1;
		if (!ps->workloads[j].uid || !ps->workloads[j].namespace)
			goto out;
		if (j && !strcmp(ps->workloads[j - 1].uid, w->uid))
			c->exact = false;
	}
	err = 0;
out:
	free(uids);
	free(src);
	free(order);
	return err;
}

/* Two passes (count, fill) so each list is allocated once. */
static int build_index(struct policy_set *ps)
{
	for (int pass = 0; pass < 2; pass++) {
		ps->n_global = 0;
		for (size_t i = 0; i < ps->n_namespaces; i++)
			ps->namespaces[i].n_policies = 0;
		for (size_t i = 0; i < ps->n_workloads; i++)
			ps->workloads[i].n_policies = 0;
		for (size_t i = 0; i < ps->n_policies; i++) {
			const struct policy_authz *p = &ps->policies[i];
			struct policy_namespace *nsx;
			struct policy_workload *w;

			switch (p->scope) {
			case POLICY_SCOPE_GLOBAL:
				if (pass)
					ps->global[ps->n_global] = (uint32_t)i;
				ps->n_global++;
				break;
			case POLICY_SCOPE_NAMESPACE:
				nsx = (struct policy_namespace *)policy_set_namespace(ps,
										      p->namespace);
				if (!nsx)
					break;
				if (pass)
					nsx->policies[nsx->n_policies] = (uint32_t)i;
				nsx->n_policies++;
				break;
			case POLICY_SCOPE_WORKLOAD:
				for (size_t k = 0; k < p->n_workloads; k++) {
					w = (struct policy_workload *)policy_set_workload(
					    ps, p->workloads[k]);
					if (!w)
						continue;
					if (pass)
						w->policies[w->n_policies] = (uint32_t)i;
					w->n_policies++;
				}
				break;
			case POLICY_SCOPE_NONE: break;
			}
		}
		if (pass)
			break;
		if (!(ps->global = calloc(ps->n_global + 1, sizeof(uint32_t))))
			return -ENOMEM;
		for (size_t i = 0; i < ps->n_namespaces; i++)
			if (!(ps->namespaces[i].policies =
				  calloc(ps->namespaces[i].n_policies + 1, sizeof(uint32_t))))
				return -ENOMEM;
		for (size_t i = 0; i < ps->n_workloads; i++)
			if (!(ps->workloads[i].policies =
				  calloc(ps->workloads[i].n_policies + 1, sizeof(uint32_t))))
				return -ENOMEM;
	}
	return 0;
}

static int cmp_ap_key(const void *a, const void *b, void *arg)
{
	const struct config_authorization_policy *aps = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int r = strcmp(aps[x].meta.namespace, aps[y].meta.namespace);

	if (!r)
		r = strcmp(aps[x].meta.name, aps[y].meta.name);
	return r ? r : (x > y) - (x < y);
}

/* Whether two of the @n policies have one namespace/name: 1, 0 or -ENOMEM. */
static int any_duplicate_key(const struct config_authorization_policy *aps, size_t n)
{
	size_t cap = 64, *slot;
	uint64_t *hash;
	int found = 0;

	while (cap < 2 * n)
		cap *= 2;
	slot = calloc(cap, sizeof(*slot));
	hash = calloc(cap, sizeof(*hash));
	if (!slot || !hash) {
		free(slot);
		free(hash);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && !found; i++) {
		const struct config_meta *m = &aps[i].meta;
		uint64_t h = XXH3_64bits_withSeed(
		    m->name, strlen(m->name), XXH3_64bits(m->namespace, strlen(m->namespace) + 1));
		size_t k = (size_t)(h ^ (h >> 29)) & (cap - 1);

		for (; slot[k]; k = (k + 1) & (cap - 1)) {
			const struct config_meta *o = &aps[slot[k] - 1].meta;

			if (hash[k] == h && !strcmp(o->namespace, m->namespace) &&
			    !strcmp(o->name, m->name)) {
				found = 1;
				break;
			}
		}
		slot[k] = i + 1;
		hash[k] = h;
	}
	free(slot);
	free(hash);
	return found;
}

/*
 * Marks the later copies of a namespace/name that several files define (each file is loaded on
 * its own, so the loader cannot see it): the first one loaded stands, as with any duplicate
 * object, and keys stay unique (the ztunnel's decoder insists on it). NULL on ENOMEM.
 */
static bool *duplicate_authz(struct policy_comp *c)
{
	const struct config_authorization_policy *aps = c->cfg->authorization_policies;
	size_t n = c->cfg->n_authorization_policies, *idx;
	bool *dup = calloc(n + 1, sizeof(bool));
	int any = dup ? any_duplicate_key(aps, n) : -ENOMEM;

	if (any <= 0) {
		if (any < 0) {
			free(dup);
			dup = NULL;
		}
		return dup;
	}
	c->exact = false;
	/* The warnings go in the order of the keys. */
	idx = calloc(n + 1, sizeof(size_t));
	if (!idx) {
		free(dup);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	qsort_r(idx, n, sizeof(size_t), cmp_ap_key, (void *)aps);
	for (size_t i = 1; i < n; i++) {
		const struct config_meta *a = &aps[idx[i - 1]].meta, *b = &aps[idx[i]].meta;

		if (strcmp(a->namespace, b->namespace) || strcmp(a->name, b->name))
			continue;
		dup[idx[i]] = true;
		idx[i] = idx[i - 1]; /* compare further copies with the one that stands */
		policy_warn(c, b, "AuthorizationPolicy", 0,
			    "also defined in %s:%d, which stands; this copy is ignored",
			    a->origin.file ? a->origin.file : "<input>", a->origin.line);
	}
	free(idx);
	return dup;
}

/* Compiles the policies @dup leaves, sorted by key; c->ap_src and c->ap_quiet say whence. */
static int compile_policies(struct policy_comp *c, const bool *dup)
{
	const struct config *cfg = c->cfg;
	struct policy_set *ps = c->ps;
	size_t n_ap = cfg->n_authorization_policies, n;
	size_t *src = calloc(n_ap + 1, sizeof(size_t)), *order = calloc(n_ap + 1, sizeof(size_t));
	bool *quiet = calloc(n_ap + 1, sizeof(bool));
	const char **keys = calloc(n_ap + 1, sizeof(char *));
	struct policy_authz *sorted = NULL;
	int err = -ENOMEM;

	ps->policies = calloc(n_ap + 1, sizeof(*ps->policies));
	if (!src || !order || !quiet || !keys || !ps->policies)
		goto out;
	for (size_t i = 0; i < n_ap; i++) {
		size_t warned = c->diags ? c->diags->n : 0;

		if (dup[i])
			continue;
		src[ps->n_policies] = i;
		if (policy_compile_authz(c, &cfg->authorization_policies[i],
					 &ps->policies[ps->n_policies++], true))
			goto out;
		quiet[ps->n_policies - 1] = c->diags && c->diags->n == warned;
	}
	n = ps->n_policies;
	for (size_t i = 0; i < n; i++)
		keys[i] = ps->policies[i].key;
	sorted = calloc(n + 1, sizeof(*sorted));
	c->ap_src = calloc(n + 1, sizeof(size_t));
	c->ap_quiet = calloc(n + 1, sizeof(bool));
	if (!sorted || !c->ap_src || !c->ap_quiet || policy_sort_strs(keys, n, order))
		goto out;
	for (size_t j = 0; j < n; j++) {
		sorted[j] = ps->policies[order[j]];
		c->ap_src[j] = src[order[j]];
		c->ap_quiet[j] = quiet[order[j]];
	}
	free(ps->policies);
	ps->policies = sorted;
	sorted = NULL;
	err = 0;
out:
	free(sorted);
	free(src);
	free(order);
	free(quiet);
	free(keys);
	return err;
}

struct policy_set *policy_compile(const struct config *cfg, const struct policy_workload_input *wls,
				  size_t n_wls, const char *root_ns, struct config_diags *diags)
{
	return policy_compile_from(cfg, wls, n_wls, NULL, root_ns, diags, NULL);
}

static void comp_free(struct policy_comp *c)
{
	free(c->lent);
	free(c->by_ns);
	free(c->wl_src);
	free(c->ap_src);
	free(c->ap_quiet);
	free(c->ns_refs);
	free(c->ap_ns);
	label_index_free(&c->by_label);
}

struct policy_set *policy_compile_from(const struct config *cfg,
				       const struct policy_workload_input *wls, size_t n_wls,
				       const uint64_t *serials, const char *root_ns,
				       struct config_diags *diags, struct policy_set *prev)
{
	struct policy_comp c = {.cfg = cfg,
				.wls = wls,
				.n_wls = n_wls,
				.serials = serials,
				.diags = diags,
				.exact = true};
	struct policy_serial_map prev_aps = {0};
	bool *dup = NULL;
	struct policy_set *ps;
	size_t warned;
	int err;

	c.root = root_ns && *root_ns ? root_ns : POLICY_ROOT_NAMESPACE_DEFAULT;
	ps = calloc(1, sizeof(*ps));
	if (!ps || !(ps->root_namespace = strdup(c.root)))
		goto nomem;
	c.ps = ps;
	if (prev && (err = policy_reuse(&c, prev))) {
		if (err < 0)
			goto nomem;
		comp_free(&c);
		return ps;
	}
	/* Without memory to track what is lent, everything is compiled. */
	if (prev && (c.lent = calloc(prev->n_policies + 1, sizeof(bool)))) {
		c.prev = prev;
		if (prev->memo &&
		    !policy_serial_map_build(&prev_aps, prev->memo->ap_serial, prev->n_policies))
			c.prev_aps = &prev_aps;
	}
	if (comp_index(&c) || !(dup = duplicate_authz(&c)) || compile_policies(&c, dup))
		goto nomem;
	free(dup);
	dup = NULL;
	if (build_workloads(&c) || build_namespaces(&c) || build_index(ps))
		goto nomem;
	warned = diags ? diags->n : 0;
	if (policy_compile_peer_auths(&c))
		goto nomem;
	c.pa_quiet = diags && diags->n == warned;
	give_rules(&c);
	/* Without memory for the memo, the next compile is a full one. */
	(void)policy_memo_take(&c);
	policy_serial_map_free(&prev_aps);
	comp_free(&c);
	return ps;
nomem:
	if (c.lent)
		take_back_rules(&c, ps);
	policy_serial_map_free(&prev_aps);
	comp_free(&c);
	free(dup);
	policy_set_free(ps);
	errno = ENOMEM;
	return NULL;
}

/* ---- freeing ---- */

static void strs_free(struct policy_strs *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].text);
		free(l->items[i].s);
	}
	free(l->items);
}

void policy_match_free(struct policy_match *m)
{
	strs_free(&m->principals);
	strs_free(&m->not_principals);
	strs_free(&m->namespaces);
	strs_free(&m->not_namespaces);
	free(m->src_ips.items);
	free(m->not_src_ips.items);
	free(m->dst_ips.items);
	free(m->not_dst_ips.items);
	free(m->ports.items);
	free(m->not_ports.items);
}

void policy_rule_free(struct policy_rule *r)
{
	for (size_t i = 0; i < r->n_clauses; i++) {
		for (size_t j = 0; j < r->clauses[i].n; j++)
			policy_match_free(&r->clauses[i].items[j]);
		free(r->clauses[i].items);
	}
	free(r->clauses);
	free(r->note);
}

void policy_uids_free(char **u, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(u[i]);
	free(u);
}

void policy_authz_free(struct policy_authz *p)
{
	free(p->namespace);
	free(p->name);
	free(p->key);
	free(p->note);
	for (size_t i = 0; i < p->n_rules; i++)
		policy_rule_free(&p->rules[i]);
	free(p->rules);
	policy_uids_free(p->workloads, p->n_workloads);
}

void policy_set_free(struct policy_set *ps)
{
	if (!ps)
		return;
	for (size_t i = 0; i < ps->n_policies; i++)
		policy_authz_free(&ps->policies[i]);
	for (size_t i = 0; i < ps->n_peer_auths; i++)
		policy_peer_auth_free(&ps->peer_auths[i]);
	for (size_t i = 0; i < ps->n_namespaces; i++) {
		free(ps->namespaces[i].name);
		policy_mtls_free(&ps->namespaces[i].mtls);
		free(ps->namespaces[i].policies);
	}
	for (size_t i = 0; i < ps->n_workloads; i++) {
		free(ps->workloads[i].uid);
		free(ps->workloads[i].namespace);
		policy_mtls_free(&ps->workloads[i].mtls);
		free(ps->workloads[i].policies);
	}
	policy_mtls_free(&ps->mesh);
	policy_memo_free(ps->memo);
	free(ps->policies);
	free(ps->peer_auths);
	free(ps->global);
	free(ps->namespaces);
	free(ps->workloads);
	free(ps->root_namespace);
	free(ps);
}
