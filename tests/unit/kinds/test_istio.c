// SPDX-License-Identifier: Apache-2.0
/*
 * The Istio kinds of the config model: what the loader fills in (the policy compiler and the
 * waypoint read these structs), and malformed or hostile policy YAML rejected with a clear
 * message at the right place while what was loaded before stays.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "ambit/config.h"

static int load(struct config *cfg, const char *yaml, struct config_diags *d)
{
	return config_load_buffer(cfg, "p.yaml", yaml, strlen(yaml), d);
}

static void test_authorization_policy_model(void **state)
{
	static const char yaml[] =
	    "apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\n"
	    "metadata:\n  name: ratings\n  namespace: bookinfo\n"
	    "  annotations: {istio.io/dry-run: 'true'}\n"
	    "  creationTimestamp: '2024-05-01T10:00:00Z'\n"
	    "spec:\n"
	    "  selector: {matchLabels: {app: ratings}}\n"
	    "  action: DENY\n"
	    "  rules:\n"
	    "  - from:\n" /* 12 */
	    "    - source:\n"
	    "        principals: [cluster.local/ns/bookinfo/sa/reviews, 'spiffe-*']\n"
	    "        notNamespaces: [test]\n"
	    "        ipBlocks: [10.0.0.0/8]\n"
	    "        notIpBlocks: ['10.1.2.3']\n"
	    "    - source: {serviceAccounts: [bookinfo/productpage], notServiceAccounts: [x]}\n"
	    "    to:\n"
	    "    - operation: {ports: ['9080'], notPorts: ['15000']}\n"
	    "    when:\n"
	    "    - key: source.ip\n" /* 22 */
	    "      notValues: [192.168.0.0/16]\n"
	    "  - {}\n"; /* 24 */
	struct config cfg;
	struct config_diags d = {0};
	const struct config_authorization_policy *p;
	const struct config_authz_rule *r;

	config_init(&cfg);
	assert_int_equal(load(&cfg, yaml, &d), 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(cfg.n_authorization_policies, 1);
	p = &cfg.authorization_policies[0];
	assert_string_equal(p->meta.namespace, "bookinfo");
	assert_string_equal(p->meta.creation_timestamp, "2024-05-01T10:00:00Z");
	assert_true(p->has_selector);
	assert_string_equal(config_label_get(&p->selector, "app"), "ratings");
	assert_int_equal(p->action, CONFIG_AUTHZ_DENY);
	assert_true(p->dry_run);
	assert_int_equal(p->n_target_refs, 0);
	assert_int_equal(p->n_rules, 2);
	r = &p->rules[0];
	assert_int_equal(r->line, 12);
	assert_int_equal(r->n_from, 2);
	assert_int_equal(r->from[0].principals.n, 2);
	assert_string_equal(r->from[0].principals.items[1], "spiffe-*");
	assert_string_equal(r->from[0].not_namespaces.items[0], "test");
	assert_string_equal(r->from[0].ip_blocks.items[0], "10.0.0.0/8");
	assert_string_equal(r->from[0].not_ip_blocks.items[0], "10.1.2.3");
	assert_string_equal(r->from[1].service_accounts.items[0], "bookinfo/productpage");
	assert_string_equal(r->from[1].not_service_accounts.items[0], "x");
	assert_int_equal(r->n_to, 1);
	assert_string_equal(r->to[0].ports.items[0], "9080");
	assert_string_equal(r->to[0].not_ports.items[0], "15000");
	assert_int_equal(r->n_when, 1);
	assert_string_equal(r->when[0].key, "source.ip");
	assert_int_equal(r->when[0].line, 22);
	assert_int_equal(r->when[0].values.n, 0);
	assert_string_equal(r->when[0].not_values.items[0], "192.168.0.0/16");
	assert_true(config_authz_rule_has_l4(r));
	r = &p->rules[1];
	assert_int_equal(r->line, 24);
	assert_int_equal(r->n_from + r->n_to + r->n_when, 0);
	config_free(&cfg);
}

static void test_peer_authentication_model(void **state)
{
	static const char yaml[] =
	    "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
	    "metadata: {name: mesh, namespace: istio-system}\nspec: {mtls: {mode: STRICT}}\n---\n"
	    "apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\n"
	    "metadata: {name: w, namespace: bookinfo}\n"
	    "spec:\n  selector: {matchLabels: {app: reviews}}\n"
	    "  portLevelMtls:\n    9080: {mode: PERMISSIVE}\n    '9090': {mode: UNSET}\n---\n"
	    "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
	    "metadata: {name: empty, namespace: bookinfo}\n";
	struct config cfg;
	struct config_diags d = {0};
	const struct config_peer_authentication *p;

	config_init(&cfg);
	assert_int_equal(load(&cfg, yaml, &d), 0);
	assert_int_equal(cfg.n_peer_authentications, 3);
	p = &cfg.peer_authentications[0];
	assert_false(p->has_selector);
	assert_int_equal(p->mode, CONFIG_MTLS_STRICT);
	p = &cfg.peer_authentications[1];
	assert_true(p->has_selector);
	assert_int_equal(p->mode, CONFIG_MTLS_UNSET);
	assert_int_equal(p->n_port_mtls, 2);
	assert_int_equal(p->port_mtls[0].port, 9080);
	assert_int_equal(p->port_mtls[0].mode, CONFIG_MTLS_PERMISSIVE);
	assert_int_equal(p->port_mtls[1].port, 9090);
	assert_int_equal(p->port_mtls[1].mode, CONFIG_MTLS_UNSET);
	p = &cfg.peer_authentications[2];
	assert_int_equal(p->mode, CONFIG_MTLS_UNSET);
	config_diags_free(&d);
	config_free(&cfg);
}

static void test_networking_model(void **state)
{
	static const char yaml[] =
	    "apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\n"
	    "metadata: {name: reviews}\n"
	    "spec:\n  hosts: [reviews]\n  http:\n"
	    "  - match: [{headers: {end-user: {exact: jason}}, uri: {prefix: /r}}]\n"
	    "    fault: {delay: {fixedDelay: 7s, percentage: {value: 50}}}\n"
	    "    timeout: 1.5s\n"
	    "    retries: {attempts: 3, perTryTimeout: 2s, retryOn: '5xx,reset'}\n"
	    "    route:\n    - destination: {host: reviews, subset: v2}\n      weight: 80\n"
	    "    - destination: {host: reviews, subset: v3, port: {number: 9080}}\n"
	    "      weight: 20\n"
	    "  - route: [{destination: {host: reviews, subset: v1}}]\n"
	    "  tcp:\n  - match: [{port: 27017}]\n    route: [{destination: {host: mongo}}]\n---\n"
	    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews}\n"
	    "spec:\n  host: reviews\n"
	    "  trafficPolicy:\n    loadBalancer: {simple: RANDOM}\n"
	    "    connectionPool: {tcp: {maxConnections: 1, connectTimeout: 250ms}}\n"
	    "    outlierDetection: {consecutive5xxErrors: 2, interval: 1s, baseEjectionTime: 3m,\n"
	    "                       maxEjectionPercent: 100}\n"
	    "  subsets:\n  - name: v1\n    labels: {version: v1}\n"
	    "  - name: v2\n    labels: {version: v2}\n    trafficPolicy: {tls: {mode: "
	    "ISTIO_MUTUAL}}\n"
	    "---\n"
	    "apiVersion: networking.istio.io/v1beta1\nkind: Gateway\nmetadata: {name: gw}\n"
	    "spec:\n  selector: {istio: ingressgateway}\n  servers:\n"
	    "  - port: {number: 443, name: https, protocol: HTTPS}\n    hosts: "
	    "['./*.example.com']\n"
	    "    tls: {mode: SIMPLE, credentialName: cert}\n---\n"
	    "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ext}\n"
	    "spec:\n  hosts: [api.example.com]\n  location: MESH_EXTERNAL\n  resolution: STATIC\n"
	    "  ports: [{number: 443, name: tls, protocol: TLS, targetPort: 8443}]\n"
	    "  endpoints: [{address: 1.2.3.4, ports: {tls: 9443}}]\n";
	struct config cfg;
	struct config_diags d = {0};
	const struct config_vs_route *r;
	const struct config_destination_rule *dr;

	config_init(&cfg);
	assert_int_equal(load(&cfg, yaml, &d), 0);
	assert_int_equal(cfg.n_virtual_services, 1);
	assert_int_equal(cfg.virtual_services[0].n_routes, 3);
	r = &cfg.virtual_services[0].routes[0];
	assert_int_equal(r->type, CONFIG_ROUTE_HTTP);
	assert_int_equal(r->n_match, 1);
	assert_false(r->match[0].empty);
	assert_int_equal(r->match[0].uri.type, CONFIG_MATCH_PREFIX);
	assert_string_equal(r->match[0].headers[0].name, "end-user");
	assert_string_equal(r->match[0].headers[0].match.value, "jason");
	assert_true(r->has_fault && r->fault.has_delay);
	assert_int_equal(r->fault.delay_ms, 7000);
	assert_true(r->fault.delay_percent == 50.0);
	assert_int_equal(r->timeout_ms, 1500);
	assert_int_equal(r->retry_attempts, 3);
	assert_int_equal(r->retry_per_try_timeout_ms, 2000);
	assert_string_equal(r->retry_on, "5xx,reset");
	assert_int_equal(r->n_route, 2);
	assert_int_equal(r->route[0].weight, 80);
	assert_string_equal(r->route[1].subset, "v3");
	assert_int_equal(r->route[1].port, 9080);
	assert_int_equal(cfg.virtual_services[0].routes[1].n_match, 0);
	assert_int_equal(cfg.virtual_services[0].routes[2].type, CONFIG_ROUTE_TCP);
	assert_int_equal(cfg.virtual_services[0].routes[2].match[0].port, 27017);
	dr = &cfg.destination_rules[0];
	assert_int_equal(dr->policy.lb.simple, CONFIG_LB_RANDOM);
	assert_int_equal(dr->policy.pool.max_connections, 1);
	assert_int_equal(dr->policy.pool.connect_timeout_ms, 250);
	assert_int_equal(dr->policy.outlier.consecutive_5xx, 2);
	assert_int_equal(dr->policy.outlier.base_ejection_ms, 180000);
	assert_int_equal(dr->policy.outlier.max_ejection_percent, 100);
	assert_int_equal(dr->n_subsets, 2);
	assert_string_equal(dr->subsets[1].policy.tls.mode, "ISTIO_MUTUAL");
	assert_false(dr->subsets[0].policy.outlier.present);
	assert_int_equal(cfg.gateways[0].servers[0].port, 443);
	assert_string_equal(cfg.gateways[0].servers[0].tls_mode, "SIMPLE");
	assert_string_equal(cfg.gateways[0].servers[0].hosts.items[0], "./*.example.com");
	assert_int_equal(cfg.service_entries[0].resolution, CONFIG_SE_RESOLUTION_STATIC);
	assert_int_equal(cfg.service_entries[0].ports[0].target_port, 8443);
	assert_string_equal(config_label_get(&cfg.service_entries[0].endpoints[0].ports, "tls"),
			    "9443");
	config_diags_free(&d);
	config_free(&cfg);
}

struct bad_case {
	const char *name;
	const char *spec; /* appended to an AuthorizationPolicy / PeerAuthentication header */
	bool pa;
	int line, column;
	const char *field, *message;
};

#define AP_HEAD "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: p}\n"
#define PA_HEAD "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p}\n"

static const struct bad_case bad_cases[] = {
    {"DENY without rules", "spec: {action: DENY}\n", false, 4, 7, "spec", "meaningless"},
    {"selector and targetRefs",
     "spec:\n  selector: {matchLabels: {a: b}}\n  targetRefs: [{kind: Service, name: s}]\n", false,
     5, 3, "spec", "only one of selector or targetRefs"},
    {"empty from", "spec:\n  rules: [{from: []}]\n", false, 5, 18, "spec.rules[0].from",
     "empty from list"},
    {"empty source", "spec:\n  rules: [{from: [{source: {}}]}]\n", false, 5, 19,
     "spec.rules[0].from[0].source", "empty source"},
    {"null source", "spec:\n  rules: [{from: [{source: null}]}]\n", false, 5, 28,
     "spec.rules[0].from[0].source", "required field is null"},
    {"empty operation", "spec:\n  rules: [{to: [{operation: {}}]}]\n", false, 5, 17,
     "spec.rules[0].to[0].operation", "empty operation"},
    {"bad CIDR", "spec:\n  rules: [{from: [{source: {ipBlocks: [10.0.0.0/33]}}]}]\n", false, 5, 40,
     "spec.rules[0].from[0].source.ipBlocks[0]", "not an IP address or CIDR block"},
    {"port name", "spec:\n  rules: [{to: [{operation: {ports: [http]}}]}]\n", false, 5, 38,
     "spec.rules[0].to[0].operation.ports[0]", "\"http\" is not a port"},
    {"unquoted port", "spec:\n  rules: [{to: [{operation: {ports: [80]}}]}]\n", false, 5, 38,
     "spec.rules[0].to[0].operation.ports[0]", "expected a string, got an integer (quote it)"},
    {"port out of range", "spec:\n  rules: [{to: [{operation: {notPorts: ['70000']}}]}]\n", false,
     5, 41, "spec.rules[0].to[0].operation.notPorts[0]", "is not a port"},
    {"rejected when key", "spec:\n  rules: [{when: [{key: destination.namespace, values: [a]}]}]\n",
     false, 5, 25, "spec.rules[0].when[0].key", "is not supported"},
    {"unknown when key", "spec:\n  rules: [{when: [{key: source.pod, values: [a]}]}]\n", false, 5,
     25, "spec.rules[0].when[0].key", "unknown attribute"},
    {"when without values", "spec:\n  rules: [{when: [{key: source.ip}]}]\n", false, 5, 19,
     "spec.rules[0].when[0]", "needs values or notValues"},
    {"when IP value", "spec:\n  rules: [{when: [{key: source.ip, values: [nope]}]}]\n", false, 5,
     45, "spec.rules[0].when[0].values[0]", "not an IP address"},
    {"unknown field", "spec:\n  rule: [{}]\n", false, 5, 3, "spec.rule", "unknown field \"rule\""},
    {"lowercase action", "spec: {action: deny}\n", false, 4, 16, "spec.action",
     "\"deny\" is not one of ALLOW, DENY, AUDIT, CUSTOM"},
    {"provider on ALLOW", "spec: {provider: {name: ext}, rules: [{}]}\n", false, 4, 18, "spec",
     "provider can only be used with action CUSTOM"},
    {"CUSTOM with identity",
     "spec:\n  action: CUSTOM\n  provider: {name: ext}\n"
     "  rules: [{from: [{source: {principals: [a]}}]}]\n",
     false, 5, 3, "spec", "cannot use identity fields"},
    {"rules as a mapping", "spec:\n  rules: {from: []}\n", false, 5, 10, "spec.rules",
     "expected a sequence, got a mapping"},
    {"wildcard selector", "spec:\n  selector: {matchLabels: {app: '*'}}\n", false, 5, 33,
     "spec.selector.matchLabels", "wildcard is not supported in selector"},
    {"serviceAccounts wildcard",
     "spec:\n  rules: [{from: [{source: {serviceAccounts: ['ns/*']}}]}]\n", false, 5, 47,
     "spec.rules[0].from[0].source.serviceAccounts[0]", "wildcards are not allowed"},
    {"PA portLevelMtls without selector", "spec:\n  portLevelMtls: {'80': {mode: STRICT}}\n", true,
     5, 18, "spec.portLevelMtls", "portLevelMtls requires selector"},
    {"PA lowercase mode", "spec: {mtls: {mode: strict}}\n", true, 4, 21, "spec.mtls.mode",
     "\"strict\" is not one of UNSET, PERMISSIVE, STRICT, DISABLE"},
    {"PA mtls scalar", "spec: {mtls: STRICT}\n", true, 4, 14, "spec.mtls",
     "expected a mapping, got a string"},
    {"PA unknown field", "spec: {mtls: {mode: STRICT}, mTLS: {}}\n", true, 4, 30, "spec.mTLS",
     "unknown field"},
    /* An alias is checked where its anchor points: the labels map is no mtls setting. */
    {"PA alias to a labels map",
     "spec:\n  selector:\n    matchLabels: &a {x: y}\n"
     "  portLevelMtls: &b {'1': {mode: STRICT}, '2': *a}\n",
     true, 6, 22, "spec.portLevelMtls.2.x", "unknown field"},
};

static void test_malformed_policies(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct config cfg;
		struct config_diags d = {0};
		char yaml[2048], line[1024];
		const struct config_diag *g;

		snprintf(yaml, sizeof(yaml), "%s%s", c->pa ? PA_HEAD : AP_HEAD, c->spec);
		config_init(&cfg);
		if (load(&cfg, yaml, &d) != -EINVAL || !d.n) {
			print_error("case \"%s\": accepted\n", c->name);
			fail();
		}
		g = &d.items[0];
		config_diag_format(g, line, sizeof(line));
		if (!g->error || g->line != c->line || g->column != c->column || !g->field ||
		    strcmp(g->field, c->field) || !strstr(g->message, c->message)) {
			print_error("case \"%s\": got \"%s\"\n", c->name, line);
			fail();
		}
		assert_int_equal(cfg.n_authorization_policies + cfg.n_peer_authentications, 0);
		config_diags_free(&d);
		config_free(&cfg);
	}
}

/* A rejected file changes nothing: the policies loaded before it stay as they were. */
static void test_previous_policy_stays(void **state)
{
	static const char good[] = AP_HEAD "spec: {action: DENY, rules: [{}]}\n";
	static const char bad[] =
	    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
	    "metadata: {name: q}\nspec: {rules: [{}]}\n---\n" AP_HEAD "spec: {action: DENY}\n";
	struct config cfg;
	struct config_diags d = {0};

	config_init(&cfg);
	assert_int_equal(load(&cfg, good, &d), 0);
	assert_int_equal(load(&cfg, bad, &d), -EINVAL);
	assert_int_equal(cfg.n_authorization_policies, 1);
	assert_string_equal(cfg.authorization_policies[0].meta.name, "p");
	assert_int_equal(cfg.authorization_policies[0].action, CONFIG_AUTHZ_DENY);
	config_diags_free(&d);
	config_free(&cfg);
}

/* Names are unique per kind and namespace, across the files of one load as within a file. */
static void test_duplicates(void **state)
{
	static const char first[] = AP_HEAD "spec: {}\n---\n" PA_HEAD "spec: {}\n";
	static const char other_ns[] =
	    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
	    "metadata: {name: p, namespace: other}\nspec: {}\n";
	struct config cfg;
	struct config_diags d = {0};
	char line[1024];
	size_t nerr;

	config_init(&cfg);
	assert_int_equal(config_load_buffer(&cfg, "a.yaml", first, strlen(first), &d), 0);
	assert_int_equal(config_load_buffer(&cfg, "b.yaml", other_ns, strlen(other_ns), &d), 0);
	config_diags_free(&d);
	assert_int_equal(config_load_buffer(&cfg, "c.yaml", first, strlen(first), &d), -EINVAL);
	/* d also holds the allow-nothing warning of the rejected copy: look at the errors. */
	nerr = 0;
	for (size_t i = 0; i < d.n; i++) {
		if (!d.items[i].error)
			continue;
		config_diag_format(&d.items[i], line, sizeof(line));
		if (nerr++ == 0)
			assert_string_equal(line,
					    "c.yaml:1:1: error: AuthorizationPolicy default/p: "
					    "metadata.name: AuthorizationPolicy default/p is "
					    "defined twice (first at a.yaml:1)");
		else
			assert_non_null(strstr(line,
					       "PeerAuthentication default/p is defined twice "
					       "(first at a.yaml:6)"));
	}
	assert_int_equal(nerr, 2);
	assert_int_equal(cfg.n_authorization_policies, 2);
	assert_int_equal(cfg.n_peer_authentications, 1);
	config_diags_free(&d);
	config_free(&cfg);
}

static void test_hostile_sizes(void **state)
{
	size_t n = 5000, cap = 64 + n * 4;
	char *yaml = malloc(sizeof(AP_HEAD) + cap), *p;
	struct config cfg;
	struct config_diags d = {0};

	assert_non_null(yaml);
	p = yaml + sprintf(yaml, AP_HEAD "spec:\n  rules: [{from: [{source: {principals: [");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%sa", i ? "," : "");
	strcpy(p, "]}}]}]\n");
	config_init(&cfg);
	assert_int_equal(load(&cfg, yaml, &d), -EINVAL);
	assert_non_null(strstr(d.items[0].message, "more than 4096 entries"));
	config_diags_free(&d);
	config_free(&cfg);
	/* Billion laughs aimed at a policy: bounded before any schema walk. */
	p = yaml + sprintf(yaml, AP_HEAD "status:\n  l0: &l0 [x,x,x,x,x,x,x,x,x,x]\n");
	for (int l = 1; l < 8; l++)
		p += sprintf(p, "  l%d: &l%d [*l%d,*l%d,*l%d,*l%d,*l%d,*l%d,*l%d,*l%d,*l%d,*l%d]\n",
			     l, l, l - 1, l - 1, l - 1, l - 1, l - 1, l - 1, l - 1, l - 1, l - 1,
			     l - 1);
	strcpy(p, "spec:\n  rules: [{from: [{source: {principals: *l7}}]}]\n");
	config_init(&cfg);
	assert_int_equal(load(&cfg, yaml, &d), -EINVAL);
	assert_non_null(strstr(d.items[0].message, "alias bomb"));
	assert_int_equal(cfg.n_authorization_policies, 0);
	config_diags_free(&d);
	config_free(&cfg);
	free(yaml);
}

static void test_durations(void **state)
{
	static const struct {
		const char *v;
		const char *message; /* NULL: valid */
		uint64_t ms;
	} cases[] = {
	    {"1h", NULL, 3600000},
	    {"1m30s", NULL, 90000},
	    {"0.1s", NULL, 100},
	    {"250ms", NULL, 250},
	    {"1500us", "whole number of milliseconds", 0},
	    {"0.5ms", "at least 1ms", 0},
	    {"1.5ms", "whole number", 0},
	    {"0s", "at least 1ms", 0},
	    {"-1s", "negative", 0},
	    {"10", "not a duration", 0},
	    {"1d", "not a duration", 0},
	    {"s", "not a duration", 0},
	    {"99999999999999999999h", "too large", 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char yaml[512];
		struct config cfg;
		struct config_diags d = {0};
		int err;

		snprintf(yaml, sizeof(yaml),
			 "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
			 "metadata: {name: v}\nspec:\n  hosts: [a]\n"
			 "  http: [{timeout: '%s', route: [{destination: {host: a}}]}]\n",
			 cases[i].v);
		config_init(&cfg);
		err = load(&cfg, yaml, &d);
		if (!cases[i].message) {
			assert_int_equal(err, 0);
			assert_int_equal(cfg.virtual_services[0].routes[0].timeout_ms, cases[i].ms);
		} else if (err != -EINVAL || !strstr(d.items[0].message, cases[i].message) ||
			   strcmp(d.items[0].field, "spec.http[0].timeout")) {
			print_error("%s: %s\n", cases[i].v, d.n ? d.items[0].message : "accepted");
			fail();
		}
		config_diags_free(&d);
		config_free(&cfg);
	}
}

/* The node at @path ("spec.http[].route": [] steps into items, {} into additionalProperties) of
 * the schema of @kind's CRD, version @version. */
static const cJSON *crd_node(const cJSON *list, const char *kind, const char *version,
			     const char *path)
{
	const cJSON *crd, *v, *s = NULL;
	char buf[256], *save = NULL;

	cJSON_ArrayForEach(crd, cJSON_GetObjectItem(list, "items"))
	{
		const cJSON *spec = cJSON_GetObjectItem(crd, "spec");

		if (strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "names"), "kind")
			       ->valuestring,
			   kind))
			continue;
		cJSON_ArrayForEach(v, cJSON_GetObjectItem(spec, "versions"))
		{
			if (!strcmp(cJSON_GetObjectItem(v, "name")->valuestring, version))
				s = cJSON_GetObjectItem(cJSON_GetObjectItem(v, "schema"),
							"openAPIV3Schema");
		}
	}
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *seg = strtok_r(buf, ".", &save); s && seg; seg = strtok_r(NULL, ".", &save)) {
		size_t n = strlen(seg);
		bool items = n > 2 && !strcmp(seg + n - 2, "[]");
		bool values = n > 2 && !strcmp(seg + n - 2, "{}");

		if (items || values)
			seg[n - 2] = '\0';
		s = cJSON_GetObjectItem(cJSON_GetObjectItem(s, "properties"), seg);
		if (s && items)
			s = cJSON_GetObjectItem(s, "items");
		if (s && values)
			s = cJSON_GetObjectItem(s, "additionalProperties");
	}
	return s;
}

static const char *crd_type(const cJSON *list, const char *kind, const char *path)
{
	const cJSON *n = crd_node(list, kind, "v1", path), *t = cJSON_GetObjectItem(n, "type");

	if (!n)
		fail_msg("%s: no %s in its schema", kind, path);
	if (cJSON_IsTrue(cJSON_GetObjectItem(n, "x-kubernetes-int-or-string")))
		return "int-or-string";
	return cJSON_IsString(t) ? t->valuestring : "(kept whole)";
}

static bool crd_requires(const cJSON *list, const char *kind, const char *path, const char *f)
{
	const cJSON *r;

	cJSON_ArrayForEach(r, cJSON_GetObjectItem(crd_node(list, kind, "v1", path), "required"))
	{
		if (!strcmp(r->valuestring, f))
			return true;
	}
	return false;
}

/* `ambitctl install crds`: the schemas follow the loader's tables, nesting found by probing. */
static void test_crds(void **state)
{
	char *text = config_crds_json(), *again = config_crds_json();
	cJSON *list = cJSON_Parse(text);
	const cJSON *crd, *v;
	size_t n = 0;

	assert_non_null(list);
	assert_string_equal(text, again); /* the same every time: deploy/crds.yaml is kept equal */
	cJSON_ArrayForEach(crd, cJSON_GetObjectItem(list, "items"))
	{
		const char *group =
		    cJSON_GetObjectItem(cJSON_GetObjectItem(crd, "spec"), "group")->valuestring;

		assert_true(
		    !strcmp(group, "networking.istio.io") || !strcmp(group, "security.istio.io") ||
		    !strcmp(group, "telemetry.istio.io") || !strcmp(group, CONFIG_AMBIT_NET_GROUP));
		n++;
	}
	assert_int_equal(n, 10); /* Istio's 9 kinds ambit reads, and its own LocalRateLimit */
	/* Istio's short names (`kubectl get vs`, `ap`); EnvoyFilter has none. */
	cJSON_ArrayForEach(crd, cJSON_GetObjectItem(list, "items"))
	{
		const cJSON *names = cJSON_GetObjectItem(cJSON_GetObjectItem(crd, "spec"), "names");
		const char *kind = cJSON_GetObjectItem(names, "kind")->valuestring;
		const cJSON *shorts = cJSON_GetObjectItem(names, "shortNames");

		if (!strcmp(kind, "VirtualService") || !strcmp(kind, "AuthorizationPolicy"))
			assert_non_null(shorts);
		if (!strcmp(kind, "VirtualService") || !strcmp(kind, "AuthorizationPolicy"))
			assert_string_equal(cJSON_GetArrayItem(shorts, 0)->valuestring,
					    kind[0] == 'V' ? "vs" : "ap");
		if (!strcmp(kind, "EnvoyFilter"))
			assert_null(shorts);
	}
	/* Every version Istio serves, stored as v1. */
	assert_non_null(crd_node(list, "VirtualService", "v1alpha3", "spec.hosts"));
	v = cJSON_GetObjectItem(
	    cJSON_GetObjectItem(crd_node(list, "VirtualService", "v1", ""), "properties"),
	    "status");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(v, "x-kubernetes-preserve-unknown-fields")));
	/* Deep nesting, items and required fields. */
	assert_string_equal(
	    crd_type(list, "VirtualService", "spec.http[].route[].destination.host"), "string");
	assert_true(
	    crd_requires(list, "VirtualService", "spec.http[].route[].destination", "host"));
	assert_string_equal(
	    crd_type(list, "VirtualService", "spec.http[].route[].destination.port.number"),
	    "integer");
	assert_string_equal(crd_type(list, "VirtualService", "spec.hosts[]"), "string");
	/* A field of any type the parser reads as a number. */
	assert_string_equal(
	    crd_type(list, "VirtualService", "spec.http[].fault.abort.percentage.value"), "number");
	/* Maps of free keys: labels (strings), per-port settings (objects, keyed by port). */
	assert_string_equal(crd_type(list, "AuthorizationPolicy", "spec.selector.matchLabels{}"),
			    "string");
	assert_string_equal(crd_type(list, "PeerAuthentication", "spec.portLevelMtls{}.mode"),
			    "string");
	assert_string_equal(
	    crd_type(list, "DestinationRule",
		     "spec.subsets[].trafficPolicy.connectionPool.tcp.maxConnections"),
	    "integer");
	assert_string_equal(
	    crd_type(list, "AuthorizationPolicy", "spec.rules[].from[].source.principals[]"),
	    "string");
	assert_true(crd_requires(list, "DestinationRule", "spec", "host"));
	/* Telemetry: both versions; maps of tags to one-of objects; a percentage as a number. */
	assert_non_null(crd_node(list, "Telemetry", "v1alpha1", "spec.tracing[].providers[].name"));
	assert_string_equal(
	    crd_type(list, "Telemetry", "spec.tracing[].customTags{}.header.defaultValue"),
	    "string");
	assert_true(
	    crd_requires(list, "Telemetry", "spec.tracing[].customTags{}.literal", "value"));
	assert_string_equal(crd_type(list, "Telemetry", "spec.tracing[].randomSamplingPercentage"),
			    "number");
	assert_string_equal(
	    crd_type(list, "Telemetry", "spec.metrics[].overrides[].tagOverrides{}.operation"),
	    "string");
	assert_string_equal(crd_type(list, "Telemetry", "spec.targetRefs[].name"), "string");
	cJSON_Delete(list);
	free(text);
	free(again);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crds),
	    cmocka_unit_test(test_authorization_policy_model),
	    cmocka_unit_test(test_peer_authentication_model),
	    cmocka_unit_test(test_networking_model),
	    cmocka_unit_test(test_malformed_policies),
	    cmocka_unit_test(test_previous_policy_stays),
	    cmocka_unit_test(test_duplicates),
	    cmocka_unit_test(test_hostile_sizes),
	    cmocka_unit_test(test_durations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
