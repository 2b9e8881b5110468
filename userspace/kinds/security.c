// SPDX-License-Identifier: Apache-2.0
/*
 * security.istio.io kinds: AuthorizationPolicy and PeerAuthentication (API_SEMANTICS.md §3, §4).
 * Schema errors and Istio's webhook rules are errors; what is valid but surprising (an ALLOW
 * with no rules, L7 attributes the ztunnel cannot see) is a warning at the node that causes it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

/* ---- AuthorizationPolicy ---- */

static void authz_source_free(struct config_authz_source *s)
{
	struct config_strings *all[] = {
	    &s->principals,	    &s->not_principals,
	    &s->request_principals, &s->not_request_principals,
	    &s->namespaces,	    &s->not_namespaces,
	    &s->service_accounts,   &s->not_service_accounts,
	    &s->ip_blocks,	    &s->not_ip_blocks,
	    &s->remote_ip_blocks,   &s->not_remote_ip_blocks,
	    &s->trust_domains,	    &s->not_trust_domains,
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		config_strings_free(all[i]);
}

static void authz_operation_free(struct config_authz_operation *o)
{
	struct config_strings *all[] = {&o->hosts,   &o->not_hosts,   &o->ports, &o->not_ports,
					&o->methods, &o->not_methods, &o->paths, &o->not_paths};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		config_strings_free(all[i]);
}

void config_authz_rule_free(struct config_authz_rule *r)
{
	for (size_t i = 0; i < r->n_from; i++)
		authz_source_free(&r->from[i]);
	for (size_t i = 0; i < r->n_to; i++)
		authz_operation_free(&r->to[i]);
	for (size_t i = 0; i < r->n_when; i++) {
		free(r->when[i].key);
		config_strings_free(&r->when[i].values);
		config_strings_free(&r->when[i].not_values);
	}
	free(r->from);
	free(r->to);
	free(r->when);
}

void config_authorization_policy_free(struct config_authorization_policy *p)
{
	config_meta_free(&p->meta);
	config_labels_free(&p->selector);
	config_target_refs_free(p->target_refs, p->n_target_refs);
	free(p->provider);
	for (size_t i = 0; i < p->n_rules; i++)
		config_authz_rule_free(&p->rules[i]);
	free(p->rules);
	memset(p, 0, sizeof(*p));
}

/* String-list fields are parsed by offset into their struct so one parser serves them all. */
#define STRINGS_FIELD(fn, type, member, flags)                                                     \
	static int fn(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)                              \
	{                                                                                          \
		return cfg_get_strings(ctx, v, flags, &((type *)obj)->member);                     \
	}

static int ip_list(struct cfg_ctx *ctx, yaml_node_t *v, struct config_strings *out)
{
	int before = ctx->nerrors;

	if (cfg_get_strings(ctx, v, 0, out))
		return -EINVAL;
	for (size_t i = 0; i < out->n; i++) {
		size_t saved = cfg_path_push_index(ctx, i);

		if (!cfg_cidr_ok(out->items[i]))
			cfg_error(ctx, cfg_seq_item(ctx, v, i),
				  "\"%.64s\" is not an IP address or CIDR block", out->items[i]);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

static int port_list(struct cfg_ctx *ctx, yaml_node_t *v, struct config_strings *out)
{
	int before = ctx->nerrors;

	if (cfg_get_strings(ctx, v, CFG_S_NONEMPTY, out))
		return -EINVAL;
	for (size_t i = 0; i < out->n; i++) {
		size_t saved = cfg_path_push_index(ctx, i);

		if (!cfg_port_string_ok(out->items[i], 0, NULL))
			cfg_error(ctx, cfg_seq_item(ctx, v, i),
				  "\"%.64s\" is not a port (a decimal string 0..65535)",
				  out->items[i]);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

/* serviceAccounts: "ns/sa" or "sa", no wildcards, at most 16 (Istio's webhook limits). */
static int sa_list(struct cfg_ctx *ctx, yaml_node_t *v, struct config_strings *out)
{
	int before = ctx->nerrors;

	if (cfg_get_strings(ctx, v, CFG_S_NONEMPTY, out))
		return -EINVAL;
	if (out->n > 16)
		cfg_error(ctx, v, "at most 16 service accounts, got %zu", out->n);
	for (size_t i = 0; i < out->n; i++) {
		size_t saved = cfg_path_push_index(ctx, i);

		if (strchr(out->items[i], '*'))
			cfg_error(ctx, cfg_seq_item(ctx, v, i),
				  "wildcards are not allowed in serviceAccounts (\"%.64s\")",
				  out->items[i]);
		cfg_path_pop(ctx, saved);
	}
	return ctx->nerrors == before ? 0 : -EINVAL;
}

#define SRC struct config_authz_source
STRINGS_FIELD(src_principals, SRC, principals, 0)
STRINGS_FIELD(src_not_principals, SRC, not_principals, 0)
STRINGS_FIELD(src_req_principals, SRC, request_principals, 0)
STRINGS_FIELD(src_not_req_principals, SRC, not_request_principals, 0)
STRINGS_FIELD(src_namespaces, SRC, namespaces, 0)
STRINGS_FIELD(src_not_namespaces, SRC, not_namespaces, 0)
STRINGS_FIELD(src_trust_domains, SRC, trust_domains, 0)
STRINGS_FIELD(src_not_trust_domains, SRC, not_trust_domains, 0)

#define LIST_FIELD(fn, type, member, check)                                                        \
	static int fn(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)                              \
	{                                                                                          \
		return check(ctx, v, &((type *)obj)->member);                                      \
	}
LIST_FIELD(src_ip_blocks, SRC, ip_blocks, ip_list)
LIST_FIELD(src_not_ip_blocks, SRC, not_ip_blocks, ip_list)
LIST_FIELD(src_remote_ip_blocks, SRC, remote_ip_blocks, ip_list)
LIST_FIELD(src_not_remote_ip_blocks, SRC, not_remote_ip_blocks, ip_list)
LIST_FIELD(src_sas, SRC, service_accounts, sa_list)
LIST_FIELD(src_not_sas, SRC, not_service_accounts, sa_list)

static const struct cfg_field source_fields[] = {
    {"principals", CFG_T_SEQ, src_principals, 0},
    {"notPrincipals", CFG_T_SEQ, src_not_principals, 0},
    {"requestPrincipals", CFG_T_SEQ, src_req_principals, 0},
    {"notRequestPrincipals", CFG_T_SEQ, src_not_req_principals, 0},
    {"namespaces", CFG_T_SEQ, src_namespaces, 0},
    {"notNamespaces", CFG_T_SEQ, src_not_namespaces, 0},
    {"serviceAccounts", CFG_T_SEQ, src_sas, 0},
    {"notServiceAccounts", CFG_T_SEQ, src_not_sas, 0},
    {"ipBlocks", CFG_T_SEQ, src_ip_blocks, 0},
    {"notIpBlocks", CFG_T_SEQ, src_not_ip_blocks, 0},
    {"remoteIpBlocks", CFG_T_SEQ, src_remote_ip_blocks, 0},
    {"notRemoteIpBlocks", CFG_T_SEQ, src_not_remote_ip_blocks, 0},
    {"trustDomains", CFG_T_SEQ, src_trust_domains, 0},
    {"notTrustDomains", CFG_T_SEQ, src_not_trust_domains, 0},
    {NULL, 0, NULL, 0},
};

#define OP struct config_authz_operation
STRINGS_FIELD(op_hosts, OP, hosts, CFG_S_NONEMPTY)
STRINGS_FIELD(op_not_hosts, OP, not_hosts, CFG_S_NONEMPTY)
STRINGS_FIELD(op_methods, OP, methods, 0)
STRINGS_FIELD(op_not_methods, OP, not_methods, 0)
STRINGS_FIELD(op_paths, OP, paths, 0)
STRINGS_FIELD(op_not_paths, OP, not_paths, 0)
LIST_FIELD(op_ports, OP, ports, port_list)
LIST_FIELD(op_not_ports, OP, not_ports, port_list)

static const struct cfg_field operation_fields[] = {
    {"hosts", CFG_T_SEQ, op_hosts, 0},
    {"notHosts", CFG_T_SEQ, op_not_hosts, 0},
    {"ports", CFG_T_SEQ, op_ports, 0},
    {"notPorts", CFG_T_SEQ, op_not_ports, 0},
    {"methods", CFG_T_SEQ, op_methods, 0},
    {"notMethods", CFG_T_SEQ, op_not_methods, 0},
    {"paths", CFG_T_SEQ, op_paths, 0},
    {"notPaths", CFG_T_SEQ, op_not_paths, 0},
    {NULL, 0, NULL, 0},
};

static int source_holder(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, source_fields, obj);
}

static int operation_holder(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, operation_fields, obj);
}

static const struct cfg_field from_fields[] = {
    {"source", CFG_T_MAP, source_holder, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

static const struct cfg_field to_fields[] = {
    {"operation", CFG_T_MAP, operation_holder, CFG_F_REQUIRED},
    {NULL, 0, NULL, 0},
};

/* The when-keys Istio's webhook accepts (security/pkg/.../validation: ValidateAttribute). */
static bool when_key_ok(const char *k, const char **why)
{
	static const char *const exact[] = {"source.ip",
					    "remote.ip",
					    "source.namespace",
					    "source.principal",
					    "source.serviceAccount",
					    "source.trustDomain",
					    "request.auth.principal",
					    "request.auth.audiences",
					    "request.auth.presenter",
					    "destination.ip",
					    "destination.port",
					    "connection.sni",
					    NULL};
	static const char *const rejected[] = {"destination.namespace", "destination.name",
					       "destination.user", NULL};
	size_t n = strlen(k);

	*why = "unknown attribute";
	for (const char *const *e = exact; *e; e++)
		if (!strcmp(k, *e))
			return true;
	for (const char *const *e = rejected; *e; e++)
		if (!strcmp(k, *e)) {
			*why =
			    "attribute is not supported (it is a property of the destination the "
			    "policy is already scoped to)";
			return false;
		}
	if (!strncmp(k, "destination.labels", 18)) {
		*why = "destination.labels is not supported; use the selector";
		return false;
	}
	/* Istio's webhook takes it (its own fixtures do): accepted as Istio-valid; it reads
	 * Envoy filter metadata no ambit proxy has, so it fails closed where it is enforced and
	 * `analyze` says so (analyze/analyze.c). */
	if (!strncmp(k, "experimental.envoy.filters.", 27))
		return n > 27;
	if (!strncmp(k, "request.headers[", 16)) {
		*why = "want request.headers[<name>] with a non-empty name";
		return n > 17 && k[n - 1] == ']' && !strchr(k + 16, '[') &&
		       strchr(k + 16, ']') == k + n - 1;
	}
	if (!strncmp(k, "request.auth.claims[", 20)) {
		/* [a] or nested [a][b]...: every segment non-empty. */
		const char *p = k + 19;

		*why = "want request.auth.claims[<claim>] (nested: [a][b])";
		while (*p == '[') {
			const char *close = strchr(p, ']');

			if (!close || close == p + 1 || memchr(p + 1, '[', (size_t)(close - p - 1)))
				return false;
			p = close + 1;
		}
		return *p == '\0';
	}
	return false;
}

static int when_key(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_authz_condition *c = obj;
	const char *why;

	if (cfg_get_str(ctx, v, &c->key))
		return -EINVAL;
	if (!*c->key) {
		cfg_error(ctx, v, "key must not be empty");
		return -EINVAL;
	}
	if (!when_key_ok(c->key, &why)) {
		cfg_error(ctx, v, "\"%.64s\": %s", c->key, why);
		return -EINVAL;
	}
	return 0;
}

STRINGS_FIELD(when_values, struct config_authz_condition, values, 0)
STRINGS_FIELD(when_not_values, struct config_authz_condition, not_values, 0)

static const struct cfg_field when_fields[] = {
    {"key", CFG_T_STR, when_key, CFG_F_REQUIRED},
    {"values", CFG_T_SEQ, when_values, 0},
    {"notValues", CFG_T_SEQ, when_not_values, 0},
    {NULL, 0, NULL, 0},
};

/* Values of IP and port keys are checked like the fields they mirror. */
static void when_check_values(struct cfg_ctx *ctx, yaml_node_t *item,
			      struct config_authz_condition *c)
{
	bool ip = !strcmp(c->key, "source.ip") || !strcmp(c->key, "remote.ip") ||
		  !strcmp(c->key, "destination.ip");
	bool port = !strcmp(c->key, "destination.port");
	struct config_strings *lists[] = {&c->values, &c->not_values};
	const char *names[] = {"values", "notValues"};

	if (!c->values.n && !c->not_values.n) {
		cfg_error(ctx, item, "condition \"%.64s\" needs values or notValues", c->key);
		return;
	}
	for (int l = 0; l < 2 && (ip || port); l++) {
		yaml_node_t *seq = cfg_map_get(ctx, item, names[l]);

		for (size_t i = 0; i < lists[l]->n; i++) {
			const char *s = lists[l]->items[i];
			size_t saved = cfg_path_push(ctx, names[l]);

			cfg_path_push_index(ctx, i);
			if (ip && !cfg_cidr_ok(s))
				cfg_error(ctx, cfg_seq_item(ctx, seq, i),
					  "\"%.64s\" is not an IP address or CIDR block", s);
			else if (port && !cfg_port_string_ok(s, 0, NULL))
				cfg_error(ctx, cfg_seq_item(ctx, seq, i),
					  "\"%.64s\" is not a port (0..65535)", s);
			cfg_path_pop(ctx, saved);
		}
	}
}

static bool source_empty(const struct config_authz_source *s)
{
	const struct config_strings *all = &s->principals;

	/* The struct is a run of config_strings; all empty means `source: {}`. */
	for (size_t i = 0; i < sizeof(*s) / sizeof(*all); i++)
		if (all[i].n)
			return false;
	return true;
}

static bool operation_empty(const struct config_authz_operation *o)
{
	const struct config_strings *all = &o->hosts;

	for (size_t i = 0; i < sizeof(*o) / sizeof(*all); i++)
		if (all[i].n)
			return false;
	return true;
}

static int rule_from(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_authz_rule *r = obj;
	int err = cfg_parse_seq(ctx, v, from_fields, sizeof(*r->from), (void **)&r->from,
				&r->n_from, true, "from");

	for (size_t i = 0; !err && i < r->n_from; i++) {
		const struct config_authz_source *s = &r->from[i];
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		size_t saved = cfg_path_push_index(ctx, i);

		cfg_path_push(ctx, "source");
		if (source_empty(s))
			cfg_error(ctx, item, "empty source: it must set at least one field");
		else if ((s->service_accounts.n || s->not_service_accounts.n) &&
			 (s->principals.n || s->not_principals.n || s->namespaces.n ||
			  s->not_namespaces.n))
			cfg_error(ctx, item,
				  "Cannot set serviceAccounts with namespaces or principals");
		cfg_path_pop(ctx, saved);
	}
	return err;
}

static int rule_to(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_authz_rule *r = obj;
	int err =
	    cfg_parse_seq(ctx, v, to_fields, sizeof(*r->to), (void **)&r->to, &r->n_to, true, "to");

	for (size_t i = 0; !err && i < r->n_to; i++) {
		size_t saved = cfg_path_push_index(ctx, i);

		cfg_path_push(ctx, "operation");
		if (operation_empty(&r->to[i]))
			cfg_error(ctx, cfg_seq_item(ctx, v, i),
				  "empty operation: it must set at least one field");
		cfg_path_pop(ctx, saved);
	}
	return err;
}

static int rule_when(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_authz_rule *r = obj;
	int err = cfg_parse_seq(ctx, v, when_fields, sizeof(*r->when), (void **)&r->when,
				&r->n_when, false, "when");

	for (size_t i = 0; !err && i < r->n_when; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, v, i);
		size_t saved = cfg_path_push_index(ctx, i);

		r->when[i].line = (int)item->start_mark.line + 1;
		when_check_values(ctx, item, &r->when[i]);
		cfg_path_pop(ctx, saved);
	}
	return err;
}

static const struct cfg_field rule_fields[] = {
    {"from", CFG_T_SEQ, rule_from, 0},
    {"to", CFG_T_SEQ, rule_to, 0},
    {"when", CFG_T_SEQ, rule_when, 0},
    {NULL, 0, NULL, 0},
};

static int ap_rules(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_authorization_policy *p = obj;
	int err = cfg_parse_seq(ctx, v, rule_fields, sizeof(*p->rules), (void **)&p->rules,
				&p->n_rules, false, "rules");

	for (size_t i = 0; i < p->n_rules; i++)
		p->rules[i].line = (int)cfg_seq_item(ctx, v, i)->start_mark.line + 1;
	return err;
}

static int ap_selector(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_authorization_policy *p = obj;

	p->has_selector = true;
	return cfg_get_workload_selector(ctx, v, &p->selector);
}

static int ap_action(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	static const char *const actions[] = {"ALLOW", "DENY", "AUDIT", "CUSTOM", NULL};
	struct config_authorization_policy *p = obj;
	const char *s = (const char *)v->data.scalar.value;

	if (cfg_check_enum(ctx, v, actions, NULL))
		return -EINVAL;
	p->action = !strcmp(s, "DENY")	   ? CONFIG_AUTHZ_DENY
		    : !strcmp(s, "AUDIT")  ? CONFIG_AUTHZ_AUDIT
		    : !strcmp(s, "CUSTOM") ? CONFIG_AUTHZ_CUSTOM
					   : CONFIG_AUTHZ_ALLOW;
	return 0;
}

static int provider_name(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_get_str(ctx, v, &((struct config_authorization_policy *)obj)->provider);
}

static const struct cfg_field provider_fields[] = {
    {"name", CFG_T_STR, provider_name, 0},
    {NULL, 0, NULL, 0},
};

static int ap_provider(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, provider_fields, obj);
}

static int ap_target_ref(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_authorization_policy *p = obj;

	return cfg_get_target_refs(ctx, v, true, &p->target_refs, &p->n_target_refs);
}

static int ap_target_refs(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	struct config_authorization_policy *p = obj;

	return cfg_get_target_refs(ctx, v, false, &p->target_refs, &p->n_target_refs);
}

static const struct cfg_field ap_spec_fields[] = {
    {"selector", CFG_T_MAP, ap_selector, 0},
    {"targetRef", CFG_T_MAP, ap_target_ref, 0},
    {"targetRefs", CFG_T_SEQ, ap_target_refs, 0},
    {"action", CFG_T_STR, ap_action, 0},
    {"provider", CFG_T_MAP, ap_provider, 0},
    {"rules", CFG_T_SEQ, ap_rules, 0},
    {NULL, 0, NULL, 0},
};

static int ap_spec(struct cfg_ctx *ctx, yaml_node_t *v, void *obj)
{
	return cfg_walk_map(ctx, v, ap_spec_fields, ((struct cfg_obj *)obj)->obj);
}

const struct cfg_field cfg_authz_fields[] = {
    {"apiVersion", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"kind", CFG_T_STR, NULL, CFG_F_REQUIRED},
    {"metadata", CFG_T_MAP, cfg_parse_meta, CFG_F_REQUIRED},
    {"spec", CFG_T_MAP, ap_spec, 0},
    {"status", CFG_T_MAP, NULL, 0},
    {NULL, 0, NULL, 0},
};

/* Identity fields an ext-authz (CUSTOM) policy cannot use: the provider sees no peer cert. */
static bool custom_uses_identity(const struct config_authz_rule *r)
{
	for (size_t i = 0; i < r->n_from; i++) {
		const struct config_authz_source *s = &r->from[i];

		if (s->principals.n || s->not_principals.n || s->request_principals.n ||
		    s->not_request_principals.n || s->namespaces.n || s->not_namespaces.n ||
		    s->service_accounts.n || s->not_service_accounts.n || s->trust_domains.n ||
		    s->not_trust_domains.n)
			return true;
	}
	for (size_t i = 0; i < r->n_when; i++)
		if (!strncmp(r->when[i].key, "source.", 7) &&
		    strcmp(r->when[i].key, "source.ip") != 0)
			return true;
		else if (!strncmp(r->when[i].key, "request.auth.", 13))
			return true;
	return false;
}

int cfg_authz_finish(struct cfg_ctx *ctx, yaml_node_t *root, struct cfg_obj *o)
{
	struct config_authorization_policy *p = o->obj;
	yaml_node_t *spec = cfg_map_get(ctx, root, "spec");
	const char *dry = config_label_get(&p->meta.annotations, "istio.io/dry-run");
	int before = ctx->nerrors;
	size_t saved = cfg_path_push(ctx, "spec");

	if (p->has_selector && p->n_target_refs)
		cfg_error(ctx, spec, "only one of selector or targetRefs can be set");
	cfg_check_target_ref_namespaces(ctx, spec, p->target_refs, p->n_target_refs,
					p->meta.namespace);
	if (p->provider && p->action != CONFIG_AUTHZ_CUSTOM)
		cfg_error(ctx, cfg_map_get(ctx, spec, "provider"),
			  "provider can only be used with action CUSTOM");
	if (p->action == CONFIG_AUTHZ_CUSTOM && (!p->provider || !*p->provider))
		cfg_error(ctx, spec, "action CUSTOM needs provider.name");
	if ((p->action == CONFIG_AUTHZ_DENY || p->action == CONFIG_AUTHZ_CUSTOM) && !p->n_rules)
		cfg_error(ctx, spec,
			  "a %s policy without rules is meaningless (it matches nothing); add an "
			  "empty rule {} to match everything",
			  p->action == CONFIG_AUTHZ_DENY ? "DENY" : "CUSTOM");
	for (size_t i = 0; p->action == CONFIG_AUTHZ_CUSTOM && i < p->n_rules; i++)
		if (custom_uses_identity(&p->rules[i]))
			cfg_error(ctx, spec,
				  "rules[%zu]: a CUSTOM policy cannot use identity fields "
				  "(principals, namespaces, serviceAccounts, requestPrincipals, "
				  "trustDomains, source.*, request.auth.*)",
				  i);
	cfg_path_pop(ctx, saved);
	if (dry) {
		saved = cfg_path_push(ctx, "metadata.annotations.istio.io/dry-run");
		if (strcmp(dry, "true") && strcmp(dry, "false"))
			cfg_error(ctx, root, "\"%.32s\" is not \"true\" or \"false\"", dry);
		else if (p->action == CONFIG_AUTHZ_AUDIT || p->action == CONFIG_AUTHZ_CUSTOM)
			cfg_error(ctx, root, "dry-run is only supported for ALLOW and DENY");
		p->dry_run = !strcmp(dry, "true");
		cfg_path_pop(ctx, saved);
	}
	if (ctx->nerrors != before)
		return -EINVAL;
	cfg_authz_warn(ctx, root, p);
	return 0;
}
