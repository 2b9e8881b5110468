// SPDX-License-Identifier: Apache-2.0
/*
 * What the ztunnel can enforce of an AuthorizationPolicy (API_SEMANTICS.md §3 "L7 attributes on
 * L4 traffic", from Istio's pilot/pkg/serviceregistry/ambient/authorization.go), and the
 * warnings the loader attaches to policies whose effect differs from what is written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"

static const char *const l4_when_keys[] = {"source.ip",	     "source.namespace", "source.principal",
					   "destination.ip", "destination.port", NULL};

bool config_authz_when_key_l4(const char *key)
{
	for (const char *const *k = l4_when_keys; *k; k++)
		if (!strcmp(key, *k))
			return true;
	return false;
}

static void add(char *buf, size_t len, const char *what)
{
	size_t used = strlen(buf);

	if (strstr(buf, what))
		return;
	snprintf(buf + used, len - used, "%s%s", used ? ", " : "", what);
}

bool config_authz_rule_l7_fields(const struct config_authz_rule *r, char *buf, size_t len)
{
	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < r->n_from; i++) {
		const struct config_authz_source *s = &r->from[i];

		if (s->request_principals.n)
			add(buf, len, "requestPrincipals");
		if (s->not_request_principals.n)
			add(buf, len, "notRequestPrincipals");
		if (s->remote_ip_blocks.n)
			add(buf, len, "remoteIpBlocks");
		if (s->not_remote_ip_blocks.n)
			add(buf, len, "notRemoteIpBlocks");
	}
	for (size_t i = 0; i < r->n_to; i++) {
		const struct config_authz_operation *o = &r->to[i];

		if (o->hosts.n)
			add(buf, len, "hosts");
		if (o->not_hosts.n)
			add(buf, len, "notHosts");
		if (o->methods.n)
			add(buf, len, "methods");
		if (o->not_methods.n)
			add(buf, len, "notMethods");
		if (o->paths.n)
			add(buf, len, "paths");
		if (o->not_paths.n)
			add(buf, len, "notPaths");
	}
	for (size_t i = 0; i < r->n_when; i++) {
		char what[96];

		if (config_authz_when_key_l4(r->when[i].key))
			continue;
		snprintf(what, sizeof(what), "when %.80s", r->when[i].key);
		add(buf, len, what);
	}
	return len && buf[0];
}

static bool source_has_l4(const struct config_authz_source *s)
{
	return s->principals.n || s->not_principals.n || s->namespaces.n || s->not_namespaces.n ||
	       s->service_accounts.n || s->not_service_accounts.n || s->ip_blocks.n ||
	       s->not_ip_blocks.n || s->trust_domains.n || s->not_trust_domains.n;
}

bool config_istio_gateway_labelled(const struct config_labels *l)
{
	const char *istio = l ? config_label_get(l, "istio") : NULL;

	return istio && (!strcmp(istio, "ingressgateway") || !strcmp(istio, "egressgateway"));
}

bool config_selects_gateway(bool has_selector, const struct config_labels *selector)
{
	const char *app = has_selector ? config_label_get(selector, "app") : NULL;

	/* Istio's gateway charts label their pods app: istio-ingressgateway too, and its tasks
	 * (remote IP at the ingress gateway) select them by it. */
	return has_selector && (config_istio_gateway_labelled(selector) ||
				config_label_get(selector, CONFIG_LABEL_GATEWAY_NAME) ||
				config_label_get(selector, "istio.io/gateway-name") ||
				(app && (!strcmp(app, "istio-ingressgateway") ||
					 !strcmp(app, "istio-egressgateway"))));
}

bool config_authz_rule_has_l4(const struct config_authz_rule *r)
{
	if (!r->n_from && !r->n_to && !r->n_when)
		return true; /* {}: matches everything, nothing to drop */
	for (size_t i = 0; i < r->n_from; i++)
		if (source_has_l4(&r->from[i]))
			return true;
	for (size_t i = 0; i < r->n_to; i++)
		if (r->to[i].ports.n || r->to[i].not_ports.n)
			return true;
	for (size_t i = 0; i < r->n_when; i++)
		if (config_authz_when_key_l4(r->when[i].key))
			return true;
	return false;
}

void cfg_authz_warn(struct cfg_ctx *ctx, yaml_node_t *root,
		    const struct config_authorization_policy *p)
{
	yaml_node_t *spec = cfg_map_get(ctx, root, "spec");
	yaml_node_t *rules = cfg_map_get(ctx, spec, "rules");
	size_t saved;

	/*
	 * targetRefs policies are the waypoint's, and a selector on Istio's gateway labels picks a
	 * gateway proxy's pods: either evaluates every field.
	 */
	if (p->n_target_refs || config_selects_gateway(p->has_selector, &p->selector))
		return;
	saved = cfg_path_push(ctx, "spec");
	if (p->action == CONFIG_AUTHZ_ALLOW && !p->n_rules)
		cfg_diag(ctx, spec ? spec : root, false,
			 "ALLOW policy with no rules allows nothing: every connection to the "
			 "workloads in its scope is denied unless another ALLOW policy matches it "
			 "(add `rules: [{}]` to allow everything)");
	if (p->action == CONFIG_AUTHZ_AUDIT)
		cfg_diag(
		    ctx, spec ? spec : root, false,
		    "the ztunnel enforces only ALLOW and DENY: this AUDIT policy has no effect "
		    "without a waypoint (use targetRefs)");
	if (p->action == CONFIG_AUTHZ_CUSTOM)
		cfg_diag(ctx, spec ? spec : root, false,
			 "only a waypoint can ask this CUSTOM policy's external authorizer (use "
			 "targetRefs): without one the ztunnel fails closed and denies every "
			 "connection the policy matches");
	cfg_path_pop(ctx, saved);
	if (p->action == CONFIG_AUTHZ_AUDIT)
		return;
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct config_authz_rule *r = &p->rules[i];
		yaml_node_t *node = rules ? cfg_seq_item(ctx, rules, i) : root;
		char l7[512];

		if (!config_authz_rule_l7_fields(r, l7, sizeof(l7)))
			continue;
		saved = cfg_path_push(ctx, "spec.rules");
		cfg_path_push_index(ctx, i);
		if (p->action == CONFIG_AUTHZ_ALLOW) /* DENY and CUSTOM below: both deny here */
			cfg_diag(
			    ctx, node, false,
			    "the ztunnel cannot evaluate %s (HTTP-only or "
			    "not supported at L4), so it drops this whole ALLOW rule: it never "
			    "matches, which is stricter than written (traffic it was meant to "
			    "allow is denied unless another rule allows it); attach the policy "
			    "to a waypoint with targetRefs to enforce it as written",
			    l7);
		else if (config_authz_rule_has_l4(r))
			cfg_diag(
			    ctx, node, false,
			    "the ztunnel cannot evaluate %s, so it ignores those parts of this "
			    "DENY rule and denies every connection matching the rest of it "
			    "regardless of them, which is stricter than written",
			    l7);
		else
			cfg_diag(ctx, node, false,
				 "the ztunnel cannot evaluate %s and nothing else is left in this "
				 "DENY rule, so at the ztunnel it fails closed: it denies every "
				 "connection to the workloads in its scope; attach the policy to a "
				 "waypoint with targetRefs to enforce it as written",
				 l7);
		cfg_path_pop(ctx, saved);
	}
}

/* Name @what added to @names (@n of 64) unless there. */
static void name_add(const char **names, size_t *n, const char *what)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(names[i], what))
			return;
	if (*n < 64)
		names[(*n)++] = what;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The HTTP attributes of @r, by the names Istio's message gives them (a when key as itself). */
static void rule_http_names(const struct config_authz_rule *r, const char **names, size_t *n)
{
	for (size_t i = 0; i < r->n_from; i++) {
		const struct config_authz_source *s = &r->from[i];

		if (s->remote_ip_blocks.n)
			name_add(names, n, "remoteIpBlocks");
		if (s->not_remote_ip_blocks.n)
			name_add(names, n, "notRemoteIpBlocks");
		if (s->request_principals.n)
			name_add(names, n, "requestPrincipals");
		if (s->not_request_principals.n)
			name_add(names, n, "notRequestPrincipals");
	}
	for (size_t i = 0; i < r->n_to; i++) {
		const struct config_authz_operation *o = &r->to[i];

		if (o->hosts.n)
			name_add(names, n, "hosts");
		if (o->not_hosts.n)
			name_add(names, n, "notHosts");
		if (o->methods.n)
			name_add(names, n, "methods");
		if (o->not_methods.n)
			name_add(names, n, "notMethods");
		if (o->paths.n)
			name_add(names, n, "paths");
		if (o->not_paths.n)
			name_add(names, n, "notPaths");
	}
	for (size_t i = 0; i < r->n_when; i++)
		if (!config_authz_when_key_l4(r->when[i].key))
			name_add(names, n, r->when[i].key);
}

bool config_authz_ztunnel_condition(const struct config_authorization_policy *p, bool *accepted,
				    char *reason, size_t rlen, char *msg, size_t mlen)
{
	const char *names[64];
	char found[768] = "";
	size_t n = 0, used = 0;
	bool bare = false; /* a DENY rule with nothing but HTTP attributes */

	if (p->n_target_refs)
		return false;
	*accepted = true;
	snprintf(reason, rlen, "UnsupportedValue");
	if (p->action == CONFIG_AUTHZ_AUDIT) {
		*accepted = false;
		snprintf(msg, mlen, "ztunnel does not support the AUDIT action");
		return true;
	}
	if (p->action == CONFIG_AUTHZ_CUSTOM) {
		/* Istio leaves it out (status False); ambit's ztunnel denies what it matches. */
		snprintf(
		    msg, mlen,
		    "ztunnel does not support the CUSTOM action: it denies every connection "
		    "the policy matches (fails closed). In ambient mode you must use a waypoint "
		    "proxy (targetRefs) to ask the external authorizer.");
		return true;
	}
	/* A gateway proxy enforces every field of a policy that selects it. */
	for (size_t i = 0; i < p->n_rules && !config_selects_gateway(p->has_selector, &p->selector);
	     i++) {
		char l7[256];

		rule_http_names(&p->rules[i], names, &n);
		if (config_authz_rule_l7_fields(&p->rules[i], l7, sizeof(l7)))
			bare |= !config_authz_rule_has_l4(&p->rules[i]);
	}
	if (!n) {
		snprintf(reason, rlen, "Accepted");
		snprintf(msg, mlen, "attached to ztunnel");
		return true;
	}
	qsort(names, n, sizeof(names[0]), name_cmp);
	for (size_t i = 0; i < n; i++) {
		int w =
		    snprintf(found + used, sizeof(found) - used, "%s%s", i ? ", " : "", names[i]);

		if (w < 0 || (size_t)w >= sizeof(found) - used)
			break;
		used += (size_t)w;
	}
	snprintf(msg, mlen,
		 "ztunnel does not support HTTP attributes (found: %s). In ambient mode you must "
		 "use a waypoint proxy to enforce HTTP rules. %s%s",
		 found,
		 p->action == CONFIG_AUTHZ_DENY
		     ? "DENY policy with HTTP attributes is enforced without the HTTP rules. This "
		       "will be more restrictive than requested."
		     : "Within an ALLOW policy, rules matching HTTP attributes are omitted. This "
		       "will be more restrictive than requested.",
		 p->action == CONFIG_AUTHZ_DENY && bare
		     ? " A rule with only HTTP attributes denies every connection to the workloads "
		       "in its scope (fails closed)."
		     : "");
	return true;
}
