// SPDX-License-Identifier: Apache-2.0
/*
 * The ZtunnelAccepted condition of an AuthorizationPolicy (userspace/kinds/authz_l4.c,
 * config_authz_ztunnel_condition): Istio's reason and words (its ambient authorization.go) for
 * what ambit's ztunnel does with each kind of policy, loaded from YAML as a user writes it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ambit/config.h"

struct cond {
	bool found, accepted;
	char reason[64], msg[1024];
};

/* The condition of the one AuthorizationPolicy @spec (its spec's lines) says. */
static struct cond condition_of(const char *spec)
{
	struct config_diags diags = {0};
	struct config cfg;
	struct cond c = {0};
	char doc[2048];

	snprintf(doc, sizeof(doc),
		 "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
		 "metadata:\n  name: p\n  namespace: shop\nspec:\n%s",
		 spec);
	config_init(&cfg);
	assert_int_equal(config_load_buffer(&cfg, "p.yaml", doc, strlen(doc), &diags), 0);
	assert_int_equal(cfg.n_authorization_policies, 1);
	c.found = config_authz_ztunnel_condition(&cfg.authorization_policies[0], &c.accepted,
						 c.reason, sizeof(c.reason), c.msg, sizeof(c.msg));
	config_diags_free(&diags);
	config_free(&cfg);
	return c;
}

static void test_l4_policy_accepted(void **state)
{
	struct cond c =
	    condition_of("  action: ALLOW\n  rules:\n  - from:\n"
			 "    - source:\n        namespaces: [shop]\n"
			 "    to:\n    - operation:\n        ports: [\"80\"]\n"
			 "    when:\n    - key: source.ip\n      values: [10.0.0.0/8]\n");

	assert_true(c.found);
	assert_true(c.accepted);
	assert_string_equal(c.reason, "Accepted");
	assert_string_equal(c.msg, "attached to ztunnel");
}

static void test_allow_with_http_attributes(void **state)
{
	struct cond c = condition_of("  action: ALLOW\n  rules:\n  - to:\n    - operation:\n"
				     "        paths: [/admin]\n        methods: [GET]\n"
				     "  - when:\n    - key: request.headers[x-user]\n"
				     "      values: [a]\n");

	assert_true(c.found);
	assert_true(c.accepted); /* sent to the ztunnel, without those rules */
	assert_string_equal(c.reason, "UnsupportedValue");
	/* Istio's message, the attributes sorted. */
	assert_string_equal(
	    c.msg, "ztunnel does not support HTTP attributes (found: methods, paths, "
		   "request.headers[x-user]). In ambient mode you must use a waypoint "
		   "proxy to enforce HTTP rules. Within an ALLOW policy, rules matching HTTP "
		   "attributes are omitted. This will be more restrictive than requested.");
}

static void test_deny_with_http_attributes(void **state)
{
	/* L4 parts beside the HTTP ones: enforced without the HTTP rules. */
	struct cond c = condition_of("  action: DENY\n  rules:\n  - from:\n    - source:\n"
				     "        requestPrincipals: [\"*\"]\n"
				     "        namespaces: [other]\n");

	assert_true(c.accepted);
	assert_string_equal(c.reason, "UnsupportedValue");
	assert_string_equal(c.msg,
			    "ztunnel does not support HTTP attributes (found: requestPrincipals). "
			    "In ambient mode you must use a waypoint proxy to enforce HTTP rules. "
			    "DENY policy with HTTP attributes is enforced without the HTTP rules. "
			    "This will be more restrictive than requested.");
	/* Nothing but HTTP attributes: ambit denies every connection in scope (Istio: none). */
	c = condition_of("  action: DENY\n  rules:\n  - to:\n    - operation:\n"
			 "        methods: [DELETE]\n");
	assert_true(c.accepted);
	assert_string_equal(c.reason, "UnsupportedValue");
	assert_non_null(strstr(c.msg, "(found: methods)"));
	assert_non_null(strstr(c.msg, "A rule with only HTTP attributes denies every connection "
				      "to the workloads in its scope (fails closed)."));
}

static void test_actions_and_targets(void **state)
{
	struct cond c = condition_of("  action: AUDIT\n  rules:\n  - {}\n");

	assert_true(c.found);
	assert_false(c.accepted);
	assert_string_equal(c.reason, "UnsupportedValue");
	assert_string_equal(c.msg, "ztunnel does not support the AUDIT action");
	c = condition_of("  action: CUSTOM\n  provider:\n    name: ext\n  rules:\n  - {}\n");
	assert_true(c.accepted);
	assert_string_equal(c.reason, "UnsupportedValue");
	assert_non_null(strstr(c.msg, "fails closed"));
	/* The waypoint's policy: no ZtunnelAccepted. */
	c = condition_of("  targetRefs:\n  - kind: Service\n    group: \"\"\n    name: web\n"
			 "  action: ALLOW\n  rules:\n  - to:\n    - operation:\n"
			 "        methods: [GET]\n");
	assert_false(c.found);
	/* A gateway's pods evaluate every field. */
	c = condition_of("  selector:\n    matchLabels:\n      istio: ingressgateway\n"
			 "  action: ALLOW\n  rules:\n  - to:\n    - operation:\n"
			 "        methods: [GET]\n");
	assert_string_equal(c.reason, "Accepted");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_l4_policy_accepted),
	    cmocka_unit_test(test_allow_with_http_attributes),
	    cmocka_unit_test(test_deny_with_http_attributes),
	    cmocka_unit_test(test_actions_and_targets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
