// SPDX-License-Identifier: Apache-2.0
/*
 * The L4 policy set's ownership (include/ambit/policy.h): its string matchers, the names of its
 * enums, and the destructors of a set and of its parts. The compiler (policy/) builds sets
 * with these; the codec (policy.c) decodes them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy_model.h"

int policy_str_init(struct policy_str *out, const char *text)
{
	size_t n = text ? strlen(text) : 0;

	memset(out, 0, sizeof(*out));
	if (!n)
		return -EINVAL;
	if (n == 1 && text[0] == '*') {
		out->kind = POLICY_STR_PRESENT;
		out->s = strdup("");
	} else if (text[n - 1] == '*') {
		out->kind = POLICY_STR_PREFIX;
		out->s = strndup(text, n - 1);
	} else if (text[0] == '*') {
		out->kind = POLICY_STR_SUFFIX;
		out->s = strdup(text + 1);
	} else {
		out->kind = POLICY_STR_EXACT;
		out->s = strdup(text);
	}
	out->text = strdup(text);
	if (!out->s || !out->text) {
		free(out->s);
		free(out->text);
		memset(out, 0, sizeof(*out));
		return -ENOMEM;
	}
	out->len = strlen(out->s);
	return 0;
}

const char *policy_action_str(enum policy_action a)
{
	static const char *const s[] = {"ALLOW", "DENY", "AUDIT", "CUSTOM"};

	return (unsigned int)a < 4 ? s[a] : "?";
}

const char *policy_scope_str(enum policy_scope sc)
{
	static const char *const s[] = {"global", "namespace", "workload", "none"};

	return (unsigned int)sc < 4 ? s[sc] : "?";
}

const char *policy_mtls_str(enum config_mtls_mode m)
{
	static const char *const s[] = {"UNSET", "PERMISSIVE", "STRICT", "DISABLE"};

	return (unsigned int)m < 4 ? s[m] : "?";
}

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
	if (ps->memo)
		ps->memo_free(ps->memo);
	free(ps->policies);
	free(ps->peer_auths);
	free(ps->global);
	free(ps->namespaces);
	free(ps->workloads);
	free(ps->root_namespace);
	free(ps);
}

void policy_mtls_free(struct policy_mtls *m)
{
	free(m->source);
	free(m->ports);
	free(m->port_source);
}

void policy_peer_auth_free(struct policy_peer_auth *pa)
{
	free(pa->namespace);
	free(pa->name);
	policy_uids_free(pa->workloads, pa->n_workloads);
}
