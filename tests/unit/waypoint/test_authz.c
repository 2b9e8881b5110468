// SPDX-License-Identifier: Apache-2.0
/*
 * L7 AuthorizationPolicy at the waypoint (waypoint/authz.c): Istio's decision order and
 * matching rules, and path normalization (waypoint/pathnorm.c), with policies written as users
 * write them and compiled through the real model (l7_compile_config, l7 JSON both ways).
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "ambit/config.h"
#include "ambit/l7.h"
#include "../../../waypoint/authz.h"

/* ---- path normalization ---- */

static void norm_is(enum wp_path_norm m, const char *in, const char *want)
{
	char out[256];

	assert_int_equal(wp_path_normalize(m, in, out), 0);
	if (strcmp(out, want))
		fail_msg("normalize(%d, \"%s\") = \"%s\", want \"%s\"", m, in, out, want);
}

static void test_path_base(void **state)
{
	norm_is(WP_PATH_NORM_BASE, "/", "/");
	norm_is(WP_PATH_NORM_BASE, "/a/b/c", "/a/b/c");
	norm_is(WP_PATH_NORM_BASE, "/a/./b", "/a/b");
	norm_is(WP_PATH_NORM_BASE, "/a/../b", "/b");
	norm_is(WP_PATH_NORM_BASE, "/a/b/..", "/a/");
	norm_is(WP_PATH_NORM_BASE, "/a/b/.", "/a/b/");
	norm_is(WP_PATH_NORM_BASE, "/../../admin", "/admin");
	norm_is(WP_PATH_NORM_BASE, "/..", "/");
	/* Escaped dots are dots; unreserved escapes decoded, the rest upper-cased. */
	norm_is(WP_PATH_NORM_BASE, "/public/%2e%2e/admin", "/admin");
	norm_is(WP_PATH_NORM_BASE, "/%61dmin", "/admin");
	norm_is(WP_PATH_NORM_BASE, "/a%2fb", "/a%2Fb");
	norm_is(WP_PATH_NORM_BASE, "/a%zz", "/a%zz");
	norm_is(WP_PATH_NORM_BASE, "/a%4", "/a%4");
	/* Backslashes are slashes (the URL canonicalizer Envoy uses). */
	norm_is(WP_PATH_NORM_BASE, "/public\\..\\admin", "/admin");
	/* Slashes are kept; the query is untouched. */
	norm_is(WP_PATH_NORM_BASE, "//admin//x", "//admin//x");
	norm_is(WP_PATH_NORM_BASE, "/a/../b?x=/../y&%2e", "/b?x=/../y&%2e");
	/* Not a path: left alone. */
	norm_is(WP_PATH_NORM_BASE, "*", "*");
	norm_is(WP_PATH_NORM_NONE, "/a/../b", "/a/../b");
}

static void test_path_slashes(void **state)
{
	char out[64];

	norm_is(WP_PATH_NORM_MERGE_SLASHES, "//admin//x", "/admin/x");
	norm_is(WP_PATH_NORM_MERGE_SLASHES, "/a%2F%2Fb", "/a%2F%2Fb");
	norm_is(WP_PATH_NORM_DECODE_AND_MERGE_SLASHES, "/a%2F%2fb", "/a/b");
	norm_is(WP_PATH_NORM_DECODE_AND_MERGE_SLASHES, "/public%2F..%2Fadmin", "/admin");
	norm_is(WP_PATH_NORM_DECODE_AND_MERGE_SLASHES, "/a%5Cb", "/a/b");
	/* An escaped NUL cannot be normalized: refused. */
	assert_int_equal(wp_path_normalize(WP_PATH_NORM_BASE, "/a%00b", out), -1);
	assert_int_equal(wp_path_norm_parse("MERGE_SLASHES"), WP_PATH_NORM_MERGE_SLASHES);
	assert_int_equal(wp_path_norm_parse("merge_slashes"), -1);
}

/* ---- the matcher, through the real model ---- */

static const char *const world =
    "apiVersion: v1\n"
    "kind: Namespace\n"
    "metadata: {name: shop, labels: {istio.io/use-waypoint: waypoint}}\n"
    "---\n"
    "apiVersion: gateway.networking.k8s.io/v1\n"
    "kind: Gateway\n"
    "metadata: {name: waypoint, namespace: shop, labels: {istio.io/waypoint-for: service}}\n"
    "spec:\n"
    "  gatewayClassName: istio-waypoint\n"
    "  listeners: [{name: mesh, port: 15008, protocol: HBONE}]\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Service\n"
    "metadata: {name: web, namespace: shop}\n"
    "spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Service\n"
    "metadata: {name: api, namespace: shop}\n"
    "spec: {selector: {app: api}, ports: [{name: http, port: 8000}]}\n";

struct fixture {
	struct l7_config *l7;
	const struct l7_service *web, *api;
};

/* The model of waypoint shop/waypoint for the world plus @policies, through JSON and back. */
static struct l7_config *compile(const char *policies)
{
	char *yaml, err[256];
	struct config cfg;
	struct config_diags diags = {0};
	struct l7_config *l7, *back;
	cJSON *j;

	assert_true(asprintf(&yaml, "%s---\n%s", world, policies) > 0);
	config_init(&cfg);
	if (config_load_buffer(&cfg, "test.yaml", yaml, strlen(yaml), &diags)) {
		config_diag_format(&diags.items[0], err, sizeof(err));
		fail_msg("config: %s", err);
	}
	l7 = l7_compile_config(&cfg, "shop", "waypoint");
	assert_non_null(l7);
	j = l7_to_json(l7);
	assert_non_null(j);
	back = l7_from_json(j, err, sizeof(err));
	if (!back)
		fail_msg("l7_from_json: %s", err);
	cJSON_Delete(j);
	l7_config_free(l7);
	config_free(&cfg);
	config_diags_free(&diags);
	free(yaml);
	return back;
}

static const struct l7_service *svc(const struct l7_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_services; i++)
		if (!strcmp(c->services[i].name, name))
			return &c->services[i];
	fail_msg("no service %s", name);
	return NULL;
}

/* A request from @principal (may be NULL) for @method @path on web, with header @h=@v. */
static struct wp_authz_request req(const char *principal, const char *method, const char *path)
{
	struct wp_authz_request rq = {
	    .principal = principal,
	    .dest_port = 80,
	    .host = "web.shop.svc.cluster.local:80",
	    .method = method,
	    .path = path,
	    .path_len = strcspn(path, "?"),
	};

	ipaddr_parse_addr("10.0.0.5", &rq.source_ip);
	ipaddr_parse_addr("203.0.113.9", &rq.remote_ip);
	ipaddr_parse_addr("10.96.0.10", &rq.dest_ip);
	return rq;
}

static enum wp_authz_verdict decide(const struct l7_config *c, const char *service,
				    const struct wp_authz_request *rq, struct wp_authz_decision *d)
{
	struct wp_authz_decision local;

	d = d ? d : &local;
	wp_authz_decide(c, svc(c, service), rq, d);
	return d->verdict;
}

#define SLEEP "cluster.local/ns/shop/sa/sleep"
#define OTHER "cluster.local/ns/other/sa/client"

static void test_attachment(void **state)
{
	/* Service web; the waypoint's Gateway; GatewayClass from the root; a selector policy
	 * (the ztunnel's, never the waypoint's); a Service in another namespace's policy. */
	struct l7_config *c = compile(
	    "apiVersion: security.istio.io/v1\n"
	    "kind: AuthorizationPolicy\n"
	    "metadata: {name: web-only, namespace: shop}\n"
	    "spec:\n"
	    "  targetRefs: [{kind: Service, group: '', name: web}]\n"
	    "  action: DENY\n"
	    "  rules: [{to: [{operation: {paths: ['/web-deny']}}]}]\n"
	    "---\n"
	    "apiVersion: security.istio.io/v1\n"
	    "kind: AuthorizationPolicy\n"
	    "metadata: {name: gw, namespace: shop}\n"
	    "spec:\n"
	    "  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]\n"
	    "  action: DENY\n"
	    "  rules: [{to: [{operation: {paths: ['/gw-deny']}}]}]\n"
	    "---\n"
	    "apiVersion: security.istio.io/v1\n"
	    "kind: AuthorizationPolicy\n"
	    "metadata: {name: class, namespace: istio-system}\n"
	    "spec:\n"
	    "  targetRefs: [{kind: GatewayClass, group: gateway.networking.k8s.io, name: "
	    "istio-waypoint}]\n"
	    "  action: DENY\n"
	    "  rules: [{to: [{operation: {paths: ['/class-deny']}}]}]\n"
	    "---\n"
	    "apiVersion: security.istio.io/v1\n"
	    "kind: AuthorizationPolicy\n"
	    "metadata: {name: sel, namespace: shop}\n"
	    "spec:\n"
	    "  selector: {matchLabels: {app: web}}\n"
	    "  action: DENY\n"
	    "  rules: [{to: [{operation: {paths: ['/sel-deny']}}]}]\n");
	struct wp_authz_request rq;

	assert_int_equal(c->n_authz, 3);
	rq = req(SLEEP, "GET", "/web-deny");
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_DENY);
	assert_int_equal(decide(c, "api", &rq, NULL), WP_AUTHZ_ALLOW);
	rq = req(SLEEP, "GET", "/gw-deny");
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_DENY);
	assert_int_equal(decide(c, "api", &rq, NULL), WP_AUTHZ_DENY);
	rq = req(SLEEP, "GET", "/class-deny");
	assert_int_equal(decide(c, "api", &rq, NULL), WP_AUTHZ_DENY);
	rq = req(SLEEP, "GET", "/sel-deny");
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_ALLOW);
	l7_config_free(c);
}

#define WEB_POLICY(name, action, rules)                                                            \
	"apiVersion: security.istio.io/v1\n"                                                       \
	"kind: AuthorizationPolicy\n"                                                              \
	"metadata: {name: " name ", namespace: shop}\n"                                            \
	"spec:\n"                                                                                  \
	"  targetRefs: [{kind: Service, group: '', name: web}]\n"                                  \
	"  action: " action "\n" rules

/* TestAuthz_PathPrecedence: DENY /allow/admin with ALLOW /allow*. */
static void test_allow_deny_order(void **state)
{
	struct l7_config *c =
	    compile(WEB_POLICY("deny-admin", "DENY",
			       "  rules: [{to: [{operation: {paths: "
			       "['/allow/admin']}}]}]\n") "---\n" WEB_POLICY("allow", "ALLOW",
									     "  rules: "
									     "[{to: "
									     "[{operation: "
									     "{paths: "
									     "['/"
									     "allow*']}}]}]"
									     "\n"));
	struct wp_authz_decision d;
	struct wp_authz_request rq;
	char name[128];

	rq = req(SLEEP, "GET", "/allow/admin?x");
	assert_int_equal(decide(c, "web", &rq, &d), WP_AUTHZ_DENY);
	wp_authz_policy_name(d.policy, d.rule, name, sizeof(name));
	assert_string_equal(name, "ns[shop]-policy[deny-admin]-rule[0]");
	rq = req(SLEEP, "GET", "/allow?x");
	assert_int_equal(decide(c, "web", &rq, &d), WP_AUTHZ_ALLOW);
	assert_string_equal(d.policy->name, "shop/allow");
	/* No ALLOW matches: denied by "none". */
	rq = req(SLEEP, "GET", "/other");
	assert_int_equal(decide(c, "web", &rq, &d), WP_AUTHZ_DENY);
	assert_null(d.policy);
	wp_authz_policy_name(d.policy, d.rule, name, sizeof(name));
	assert_string_equal(name, "none");
	l7_config_free(c);
}

static void test_allow_nothing_and_all(void **state)
{
	struct l7_config *c = compile(WEB_POLICY("nothing", "ALLOW", ""));
	struct wp_authz_request rq = req(SLEEP, "GET", "/");

	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_DENY);
	assert_int_equal(decide(c, "api", &rq, NULL), WP_AUTHZ_ALLOW);
	l7_config_free(c);
	c = compile(WEB_POLICY("nothing", "ALLOW", "") "---\n" WEB_POLICY("all", "ALLOW",
									  "  rules: [{}]\n"));
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_ALLOW);
	l7_config_free(c);
}

/* DENY GET unless x-token: admin (Istio's header-based deny). */
static void test_when_header(void **state)
{
	struct l7_config *c = compile(
	    WEB_POLICY("deny-get", "DENY",
		       "  rules:\n"
		       "  - to: [{operation: {methods: [GET]}}]\n"
		       "    when: [{key: 'request.headers[x-token]', notValues: [admin]}]\n"));
	struct http_fields f = {0};
	struct wp_authz_request rq = req(SLEEP, "GET", "/");

	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_DENY);
	http_fields_add(&f, "x-token", "guest");
	rq.headers = &f;
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_DENY);
	http_fields_free(&f);
	memset(&f, 0, sizeof(f));
	http_fields_add(&f, "X-Token", "admin");
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_ALLOW);
	rq.method = "POST";
	rq.headers = NULL;
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_ALLOW);
	http_fields_free(&f);
	l7_config_free(c);
}

static void test_sources(void **state)
{
	struct l7_config *c = compile(WEB_POLICY(
	    "src", "ALLOW",
	    "  rules:\n"
	    "  - from: [{source: {principals: ['cluster.local/ns/shop/*'], notNamespaces: "
	    "[blocked]}}]\n"
	    "  - from: [{source: {namespaces: [other], ipBlocks: ['10.0.0.0/24']}}]\n"
	    "    to: [{operation: {hosts: ['WEB.shop.svc.cluster.local'], ports: ['80']}}]\n"
	    "  - from: [{source: {remoteIpBlocks: ['198.51.100.0/24']}}]\n"
	    "  - from: [{source: {serviceAccounts: [svc-a]}}]\n"
	    "  - from: [{source: {requestPrincipals: ['*']}}]\n"));
	struct wp_authz_request rq = req(SLEEP, "GET", "/");

	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_ALLOW);
	rq.principal = OTHER;
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_ALLOW);
	ipaddr_parse_addr("10.0.1.5", &rq.source_ip);
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_DENY);
	ipaddr_parse_addr("10.0.0.5", &rq.source_ip);
	rq.host = "web.shop.svc.cluster.local:8080"; /* hosts ignore the port: ports do not */
	rq.dest_port = 8080;
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_DENY);
	ipaddr_parse_addr("198.51.100.7", &rq.remote_ip);
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_ALLOW);
	ipaddr_parse_addr("203.0.113.9", &rq.remote_ip);
	rq.principal = "cluster.local/ns/shop/sa/svc-a";
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_ALLOW);
	/* Plaintext: no principal, no namespace; no verified JWT: no request principal. */
	rq.principal = NULL;
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_DENY);
	rq.request_principal = "https://issuer.example/user";
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_ALLOW);
	l7_config_free(c);
}

/*
 * ipBlocks, remoteIpBlocks and notIpBlocks of both families: a block holds clients of its own
 * family only, an IPv4-mapped client is the IPv4 one, and an unknown client matches no block.
 */
static void test_sources_ipv6(void **state)
{
	struct l7_config *c = compile(
	    WEB_POLICY("src6", "ALLOW",
		       "  rules:\n"
		       "  - from: [{source: {ipBlocks: ['2001:db8:1::/48', '10.0.0.0/24']}}]\n"
		       "  - from: [{source: {remoteIpBlocks: ['2001:db8:99::/64']}}]\n"
		       "  - from: [{source: {notIpBlocks: ['::/0', '0.0.0.0/0']}}]\n"));
	struct wp_authz_request rq = req(NULL, "GET", "/");

	ipaddr_parse_addr("192.0.2.1", &rq.remote_ip);
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_ALLOW); /* 10.0.0.5 */
	ipaddr_parse_addr("2001:db8:1::5", &rq.source_ip);
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_ALLOW);
	ipaddr_parse_addr("2001:db8:2::5", &rq.source_ip);
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_DENY);
	ipaddr_parse_addr("::ffff:10.0.0.9", &rq.source_ip);
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_ALLOW);
	ipaddr_parse_addr("10.0.1.9", &rq.source_ip);
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_DENY);
	ipaddr_parse_addr("2001:db8:99::7", &rq.remote_ip);
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_ALLOW);
	/* No client address known: in no block, so notIpBlocks holds. */
	memset(&rq.source_ip, 0, sizeof(rq.source_ip));
	memset(&rq.remote_ip, 0, sizeof(rq.remote_ip));
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_ALLOW);
	l7_config_free(c);
}

static void test_paths_and_methods(void **state)
{
	struct l7_config *c = compile(
	    WEB_POLICY("ops", "ALLOW",
		       "  rules:\n"
		       "  - to: [{operation: {methods: [GET, 'HE*'], paths: ['/api/{*}/items', "
		       "'/static/{**}', '*.png']}}]\n"
		       "  - to: [{operation: {notPaths: ['/admin*'], methods: [POST]}}]\n"));
	struct wp_authz_request rq = req(SLEEP, "GET", "/api/v1/items");

	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_ALLOW);
	rq = req(SLEEP, "GET", "/api/v1/v2/items");
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_DENY);
	rq = req(SLEEP, "GET", "/api//items");
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_DENY);
	rq = req(SLEEP, "HEAD", "/static/a/b/c.css?v=1");
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_ALLOW);
	rq = req(SLEEP, "GET", "/img/logo.png");
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_ALLOW);
	rq = req(SLEEP, "PUT", "/img/logo.png");
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_DENY);
	rq = req(SLEEP, "POST", "/orders");
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_ALLOW);
	rq = req(SLEEP, "POST", "/admin/x");
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_DENY);
	l7_config_free(c);
}

/* AUDIT never decides; CUSTOM denies what it matches (its authorizer cannot be asked);
 * dry-run policies are only recorded. */
static void test_audit_custom_dry_run(void **state)
{
	struct l7_config *c =
	    compile(WEB_POLICY("audit", "AUDIT",
			       "  rules: [{to: [{operation: {paths: "
			       "['/a']}}]}]\n") "---\n" WEB_POLICY("ext", "CUSTOM",
								   "  provider: "
								   "{name: "
								   "my-ext-authz}"
								   "\n"
								   "  rules: "
								   "[{to: "
								   "[{operation: "
								   "{paths: "
								   "['/"
								   "ext*']}}]}]"
								   "\n") "---\n"
									 "apiVers"
									 "ion: "
									 "securit"
									 "y."
									 "istio."
									 "io/v1\n"
									 "kind: "
									 "Authori"
									 "zationP"
									 "olicy\n"
									 "metadat"
									 "a: "
									 "{name: "
									 "trial, "
									 "namespa"
									 "ce: "
									 "shop, "
									 "annotat"
									 "ions: "
									 "{istio."
									 "io/"
									 "dry-"
									 "run: "
									 "'true'}"
									 "}\n"
									 "spec:\n"
									 "  "
									 "targetR"
									 "efs: "
									 "[{kind:"
									 " Servic"
									 "e, "
									 "group: "
									 "'', "
									 "name: "
									 "web}]\n"
									 "  "
									 "action:"
									 " DENY\n"
									 "  "
									 "rules: "
									 "[{to: "
									 "[{"
									 "operati"
									 "on: "
									 "{paths:"
									 " ['/"
									 "trial']"
									 "}}]}]"
									 "\n");
	struct wp_authz_decision d;
	struct wp_authz_request rq = req(SLEEP, "GET", "/a");

	assert_int_equal(decide(c, "web", &rq, &d), WP_AUTHZ_ALLOW);
	assert_non_null(d.audit);
	rq = req(SLEEP, "GET", "/ext/x");
	assert_int_equal(decide(c, "web", &rq, &d), WP_AUTHZ_DENY);
	assert_int_equal(d.policy->action, CONFIG_AUTHZ_CUSTOM);
	rq = req(SLEEP, "GET", "/trial");
	assert_int_equal(decide(c, "web", &rq, &d), WP_AUTHZ_ALLOW);
	assert_true(d.shadow_denied);
	assert_string_equal(d.shadow->name, "shop/trial");
	l7_config_free(c);
}

/* The mesh config (ConfigMap istio-system/istio, key mesh) reaches the model; bad ones fail. */
static void test_mesh_config(void **state)
{
	struct l7_config *c = compile("apiVersion: v1\n"
				      "kind: ConfigMap\n"
				      "metadata: {name: istio, namespace: istio-system}\n"
				      "data:\n"
				      "  mesh: |\n"
				      "    accessLogFile: /dev/stdout\n"
				      "    pathNormalization: {normalization: MERGE_SLASHES}\n"
				      "    defaultConfig:\n"
				      "      gatewayTopology: {numTrustedProxies: 2}\n");
	struct config cfg;
	struct config_diags diags = {0};
	char line[512];
	static const char bad[] = "apiVersion: v1\n"
				  "kind: ConfigMap\n"
				  "metadata: {name: istio, namespace: istio-system}\n"
				  "data:\n"
				  "  mesh: |\n"
				  "    pathNormalization: {normalization: SOMETIMES}\n";

	assert_int_equal(c->path_normalization, CONFIG_PATH_NORM_MERGE_SLASHES);
	assert_int_equal(c->num_trusted_proxies, 2);
	l7_config_free(c);
	c = compile("");
	assert_int_equal(c->path_normalization, CONFIG_PATH_NORM_UNSET);
	assert_int_equal(c->num_trusted_proxies, -1);
	l7_config_free(c);
	config_init(&cfg);
	assert_int_not_equal(config_load_buffer(&cfg, "mesh.yaml", bad, strlen(bad), &diags), 0);
	assert_true(diags.n >= 1);
	config_diag_format(&diags.items[0], line, sizeof(line));
	/* The manifest's line of the bad value, and the field's path inside the text. */
	assert_non_null(strstr(line, "mesh.yaml:6:"));
	assert_non_null(strstr(line, "data.mesh.pathNormalization.normalization"));
	config_free(&cfg);
	config_diags_free(&diags);
}

/* The mesh config's @settings (connectionSettings, flow style) as the model's underscores. */
static int underscores_of(const char *settings)
{
	char *yaml;
	struct l7_config *c;
	int got;

	assert_true(asprintf(&yaml,
			     "apiVersion: v1\n"
			     "kind: ConfigMap\n"
			     "metadata: {name: istio, namespace: istio-system}\n"
			     "data:\n"
			     "  mesh: |\n"
			     "    defaultConfig:\n"
			     "      connectionSettings: %s\n",
			     settings) > 0);
	c = compile(yaml);
	got = c->underscores;
	l7_config_free(c);
	free(yaml);
	return got;
}

/*
 * ProxyConfig.connectionSettings.httpHeadersWithUnderscoresAction reaches the model (through
 * its JSON: compile() decodes what it encoded), the EDGE profile defaulting it to REJECT;
 * an action or profile Istio does not name is refused.
 */
static void test_mesh_underscores(void **state)
{
	static const char *const bad[] = {
	    "{httpHeadersWithUnderscoresAction: REJECT}",
	    "{profile: GATEWAY}",
	    "{httpPathWithEscapedSlashesAction: SOMETIMES}",
	    "{httpMergeSlashes: maybe}",
	    "{noSuchSetting: 1}",
	};
	struct l7_config *c = compile("");

	assert_int_equal(c->underscores, CONFIG_UNDERSCORES_UNSET);
	l7_config_free(c);
	assert_int_equal(underscores_of("{httpHeadersWithUnderscoresAction: "
					"HEADERS_WITH_UNDERSCORES_REJECT_REQUEST}"),
			 CONFIG_UNDERSCORES_REJECT);
	assert_int_equal(underscores_of("{httpHeadersWithUnderscoresAction: "
					"HEADERS_WITH_UNDERSCORES_DROP_HEADER}"),
			 CONFIG_UNDERSCORES_DROP);
	assert_int_equal(underscores_of("{httpHeadersWithUnderscoresAction: "
					"HEADERS_WITH_UNDERSCORES_ALLOW}"),
			 CONFIG_UNDERSCORES_ALLOW);
	assert_int_equal(underscores_of("{profile: EDGE}"), CONFIG_UNDERSCORES_REJECT);
	assert_int_equal(underscores_of("{profile: EDGE, httpHeadersWithUnderscoresAction: "
					"HEADERS_WITH_UNDERSCORES_ALLOW}"),
			 CONFIG_UNDERSCORES_ALLOW);
	assert_int_equal(underscores_of("{profile: EDGE, httpHeadersWithUnderscoresAction: "
					"HEADERS_WITH_UNDERSCORES_UNSPECIFIED}"),
			 CONFIG_UNDERSCORES_REJECT);
	assert_int_equal(underscores_of("{profile: SIDECAR, httpIdleTimeout: 1h, "
					"httpMergeSlashes: true}"),
			 CONFIG_UNDERSCORES_UNSET);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config cfg;
		struct config_diags diags = {0};
		char *yaml;

		assert_true(asprintf(&yaml,
				     "apiVersion: v1\nkind: ConfigMap\n"
				     "metadata: {name: istio, namespace: istio-system}\n"
				     "data:\n  mesh: |\n    defaultConfig:\n"
				     "      connectionSettings: %s\n",
				     bad[i]) > 0);
		config_init(&cfg);
		if (!config_load_buffer(&cfg, "mesh.yaml", yaml, strlen(yaml), &diags))
			fail_msg("accepted %s", bad[i]);
		assert_true(diags.n >= 1);
		config_free(&cfg);
		config_diags_free(&diags);
		free(yaml);
	}
}

/* A CUSTOM policy's provider reaches the model with its Service (aux: not a destination). */
static void test_ext_authz_provider(void **state)
{
	struct l7_config *c =
	    compile("apiVersion: v1\n"
		    "kind: ConfigMap\n"
		    "metadata: {name: istio, namespace: istio-system}\n"
		    "data:\n"
		    "  mesh: |\n"
		    "    extensionProviders:\n"
		    "    - name: ext\n"
		    "      envoyExtAuthzHttp:\n"
		    "        service: authz/ext-authz.authz.svc.cluster.local\n"
		    "        port: 8000\n"
		    "        failOpen: true\n"
		    "        includeRequestHeadersInCheck: [x-ext-authz]\n"
		    "        includeAdditionalHeadersInCheck: {x-from: waypoint}\n"
		    "---\n"
		    "apiVersion: v1\n"
		    "kind: Service\n"
		    "metadata: {name: ext-authz, namespace: authz}\n"
		    "spec: {selector: {app: ext-authz}, ports: [{name: http, port: 8000}]}\n"
		    "---\n" WEB_POLICY("ext", "CUSTOM",
				       "  provider: {name: ext}\n"
				       "  rules: [{to: [{operation: {paths: ['/ext*']}}]}]\n"));
	const struct l7_ext_authz *x;

	assert_int_equal(c->n_ext_authz, 1);
	x = &c->ext_authz[0];
	assert_string_equal(x->name, "ext");
	assert_string_equal(x->x.service, "ext-authz.authz.svc.cluster.local");
	assert_int_equal(x->x.port, 8000);
	assert_true(x->x.fail_open);
	assert_int_equal(x->x.include_request_headers_in_check.n, 1);
	assert_int_equal(x->x.include_additional_headers_in_check.n, 1);
	assert_true(x->service >= 0);
	assert_true(c->services[x->service].aux);
	assert_string_equal(c->services[x->service].hostname, "ext-authz.authz.svc.cluster.local");
	l7_config_free(c);
}

/* Envoy filter metadata cannot be evaluated: a DENY applies as if it matched, an ALLOW never. */
static void test_envoy_metadata_fails_closed(void **state)
{
	struct l7_config *c =
	    compile(WEB_POLICY("meta-deny", "DENY",
			       "  rules:\n"
			       "  - to: [{operation: {paths: ['/private*']}}]\n"
			       "    when: [{key: 'experimental.envoy.filters.http.x[y]', values: "
			       "[z]}]\n") "---\n" WEB_POLICY("meta-allow", "ALLOW",
							     "  rules:\n"
							     "  - when: [{key: "
							     "'experimental.envoy.filters.http.x[y]"
							     "', values: [z]}]\n"
							     "  - to: [{operation: {paths: "
							     "['/public*', '/private*']}}]\n"));
	struct wp_authz_decision d;
	struct wp_authz_request rq = req(SLEEP, "GET", "/private/x");

	assert_int_equal(decide(c, "web", &rq, &d), WP_AUTHZ_DENY);
	assert_string_equal(d.policy->name, "shop/meta-deny");
	rq = req(SLEEP, "GET", "/public/x");
	assert_int_equal(decide(c, "web", &rq, &d), WP_AUTHZ_ALLOW);
	assert_int_equal(d.rule, 1); /* the rule on metadata never matched */
	rq = req(SLEEP, "GET", "/other");
	assert_int_equal(decide(c, "web", &rq, &d), WP_AUTHZ_DENY);
	l7_config_free(c);
}

static void test_str_match(void **state)
{
	assert_true(wp_authz_str_match("*", "x", 1));
	assert_false(wp_authz_str_match("*", "", 0));
	assert_false(wp_authz_str_match("*", NULL, 0));
	assert_true(wp_authz_str_match("ab*", "abc", 3));
	assert_true(wp_authz_str_match("*bc", "abc", 3));
	assert_false(wp_authz_str_match("*bc", "c", 1));
	assert_true(wp_authz_str_match("abc", "abc", 3));
	assert_false(wp_authz_str_match("abc", "abcd", 4));
}

/* ---- trust domain aliases ---- */

static const char *const tds[] = {"cluster1.local", "cluster2.local"};

/* @rq's decision on web, without the index and with one built as the engine builds it: both. */
static enum wp_authz_verdict decide_both(const struct l7_config *c, const char *what,
					 const struct wp_authz_request *rq)
{
	const struct l7_service *web = svc(c, "web");
	struct wp_authz_index *x = wp_authz_index_build(c, web);
	struct wp_authz_decision a, b;

	assert_non_null(x);
	wp_authz_decide(c, web, rq, &a);
	wp_authz_decide_indexed(c, web, x, rq, &b);
	if (a.verdict != b.verdict || a.policy != b.policy || a.rule != b.rule)
		fail_msg("%s, peer %s (%s): full %d %s, indexed %d %s", what, rq->principal,
			 rq->n_trust_domains ? "aliases" : "no bundle", a.verdict,
			 a.policy ? a.policy->name : "-", b.verdict,
			 b.policy ? b.policy->name : "-");
	wp_authz_index_free(x);
	return a.verdict;
}

/*
 * Per-cluster trust domains (Istio's trustDomainAliases; the ztunnel's test_eval does the same
 * at L4): with the bundle {cluster1.local, alias cluster2.local}, a principal of either or of
 * cluster.local stands for the same identity in both, in principals, notPrincipals and
 * source.principal alike, indexed or not; one of another trust domain or naming none matches
 * as written; without a bundle, exactly as written.
 */
static void test_trust_domain_aliases(void **state)
{
	static const char *const rules[] = {
	    "  rules: [{from: [{source: {principals: ['cluster1.local/ns/foo/sa/bar']}}]}]\n",
	    "  rules: [{from: [{source: {principals: ['cluster.local/ns/foo/sa/bar']}}]}]\n",
	    "  rules: [{from: [{source: {notPrincipals: ['cluster1.local/ns/foo/sa/bar']}}]}]\n",
	    "  rules: [{when: [{key: source.principal, values: "
	    "['cluster1.local/ns/foo/sa/bar']}]}]\n",
	    "  rules: [{from: [{source: {principals: ['*/ns/foo/sa/bar']}}]}]\n",
	    "  rules: [{from: [{source: {principals: ['other.td/ns/foo/sa/bar']}}]}]\n",
	    "  rules: [{from: [{source: {principals: ['cluster2.local/ns/foo/sa/*']}}]}]\n",
	};
	static const struct {
		int rule;
		const char *action, *peer;
		bool bundle;
		enum wp_authz_verdict want;
	} cases[] = {
	    {0, "ALLOW", "cluster1.local/ns/foo/sa/bar", true, WP_AUTHZ_ALLOW},
	    {0, "ALLOW", "cluster2.local/ns/foo/sa/bar", true, WP_AUTHZ_ALLOW},
	    {0, "ALLOW", "other.td/ns/foo/sa/bar", true, WP_AUTHZ_DENY},
	    {0, "ALLOW", "cluster2.local/ns/foo/sa/baz", true, WP_AUTHZ_DENY},
	    {0, "ALLOW", "cluster.local/ns/foo/sa/bar", true, WP_AUTHZ_DENY},
	    {0, "ALLOW", "cluster2.local", true, WP_AUTHZ_DENY},
	    {0, "ALLOW", NULL, true, WP_AUTHZ_DENY},
	    {0, "ALLOW", "cluster1.local/ns/foo/sa/bar", false, WP_AUTHZ_ALLOW},
	    {0, "ALLOW", "cluster2.local/ns/foo/sa/bar", false, WP_AUTHZ_DENY},
	    /* cluster.local: Istio's pointer to the local trust domain and its aliases. */
	    {1, "ALLOW", "cluster1.local/ns/foo/sa/bar", true, WP_AUTHZ_ALLOW},
	    {1, "ALLOW", "cluster2.local/ns/foo/sa/bar", true, WP_AUTHZ_ALLOW},
	    {1, "ALLOW", "other.td/ns/foo/sa/bar", true, WP_AUTHZ_DENY},
	    {1, "ALLOW", "cluster2.local/ns/foo/sa/baz", true, WP_AUTHZ_DENY},
	    {1, "ALLOW", "cluster1.local/ns/foo/sa/bar", false, WP_AUTHZ_DENY},
	    /* The alias's same identity is excluded as the trust domain's is. */
	    {2, "DENY", "cluster2.local/ns/foo/sa/bar", true, WP_AUTHZ_ALLOW},
	    {2, "DENY", "cluster1.local/ns/foo/sa/bar", true, WP_AUTHZ_ALLOW},
	    {2, "DENY", "other.td/ns/foo/sa/bar", true, WP_AUTHZ_DENY},
	    {2, "DENY", "cluster2.local/ns/foo/sa/baz", true, WP_AUTHZ_DENY},
	    {2, "DENY", "cluster2.local/ns/foo/sa/bar", false, WP_AUTHZ_DENY},
	    {3, "ALLOW", "cluster2.local/ns/foo/sa/bar", true, WP_AUTHZ_ALLOW},
	    {3, "ALLOW", "cluster2.local/ns/foo/sa/bar", false, WP_AUTHZ_DENY},
	    {4, "ALLOW", "other.td/ns/foo/sa/bar", true, WP_AUTHZ_ALLOW},
	    {4, "ALLOW", "cluster2.local/ns/foo/sa/baz", true, WP_AUTHZ_DENY},
	    /* Another trust domain's principal: as written. */
	    {5, "ALLOW", "other.td/ns/foo/sa/bar", true, WP_AUTHZ_ALLOW},
	    {5, "ALLOW", "cluster1.local/ns/foo/sa/bar", true, WP_AUTHZ_DENY},
	    {6, "ALLOW", "cluster1.local/ns/foo/sa/any", true, WP_AUTHZ_ALLOW},
	    {6, "ALLOW", "cluster1.local/ns/other/sa/any", true, WP_AUTHZ_DENY},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *yaml, what[64];
		struct l7_config *c;
		struct wp_authz_request rq = req(cases[i].peer, "GET", "/");

		assert_true(asprintf(&yaml, WEB_POLICY("p", "%s", "%s"), cases[i].action,
				     rules[cases[i].rule]) > 0);
		c = compile(yaml);
		if (cases[i].bundle) {
			rq.trust_domains = tds;
			rq.n_trust_domains = 2;
		}
		snprintf(what, sizeof(what), "case %zu (%s policy %d)", i, cases[i].action,
			 cases[i].rule);
		if (decide_both(c, what, &rq) != cases[i].want)
			fail_msg("%s, peer %s (%s): want %s", what,
				 cases[i].peer ? cases[i].peer : "-",
				 cases[i].bundle ? "aliases" : "no bundle",
				 cases[i].want == WP_AUTHZ_ALLOW ? "ALLOW" : "DENY");
		l7_config_free(c);
		free(yaml);
	}
}

/* ---- the index: the same decisions as trying every policy ---- */

static const char *const principals[] = {"cluster.local/ns/shop/sa/a",
					 "cluster.local/ns/shop/sa/b",
					 "cluster.local/ns/other/sa/a",
					 "cluster.local/ns/shop/sa/*",
					 "*/sa/b",
					 "*",
					 "cluster1.local/ns/shop/sa/a",
					 "cluster2.local/ns/shop/sa/b",
					 "other.td/ns/shop/sa/a"};
#define N_PRINCIPALS (uint32_t)(sizeof(principals) / sizeof(principals[0]))
static const char *const paths[] = {"/api/a",	"/api/*", "/admin/x/*", "/admin",   "/adm*", "*/x",
				    "/api/{*}", "/",	  "/api/a/",	"/admin/*", "*"};
static const char *const req_paths[] = {"/api/a",  "/api/a/", "/admin", "/admin/x/1",
					"/adminx", "/api",    "/x",	"/api/b/x",
					"/",	   "admin",   "/admin/"};

static uint32_t rnd_state = 2463534242u;

static uint32_t rnd(uint32_t n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state % n;
}

/* A random policy on web: principals, paths, methods or none, any action, maybe a dry run. */
static void random_policy(FILE *f, int i)
{
	static const char *const actions[] = {"ALLOW", "ALLOW", "DENY", "AUDIT"};
	int a = (int)rnd(4), rules = a < 2 ? (int)rnd(3) : 1 + (int)rnd(2);

	fprintf(f,
		"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
		"metadata:\n  name: p%d\n  namespace: shop\n%s"
		"spec:\n  targetRefs: [{kind: Service, group: '', name: web}]\n"
		"  action: %s\n  rules:%s\n",
		i, a == 3 || rnd(8) ? "" : "  annotations: {istio.io/dry-run: 'true'}\n",
		actions[a], rules ? "" : " []");
	for (int r = 0; r < rules; r++) {
		int nf = (int)rnd(3), nt = (int)rnd(3);

		fprintf(f, "  - {");
		if (nf) {
			fprintf(f, "from: [");
			for (int k = 0; k < nf; k++)
				if (rnd(4))
					fprintf(f, "%s{source: {principals: ['%s', '%s']}}",
						k ? ", " : "", principals[rnd(N_PRINCIPALS)],
						principals[rnd(N_PRINCIPALS)]);
				else
					fprintf(f, "%s{source: {namespaces: [shop]}}",
						k ? ", " : "");
			fprintf(f, "], ");
		}
		if (nt) {
			fprintf(f, "to: [");
			for (int k = 0; k < nt; k++)
				if (rnd(4))
					fprintf(f,
						"%s{operation: {paths: ['%s'], notPaths: ['%s']}}",
						k ? ", " : "", paths[rnd(11)], paths[rnd(11)]);
				else
					fprintf(f, "%s{operation: {methods: [GET]}}",
						k ? ", " : "");
			fprintf(f, "], ");
		}
		fprintf(f, "}\n");
	}
	fprintf(f, "---\n");
}

static void test_index_same_decisions(void **state)
{
	size_t tried = 0, all = 0;

	for (int round = 0; round < 20; round++) {
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		struct l7_config *c;
		const struct l7_service *web;
		struct wp_authz_index *x;

		assert_non_null(f);
		for (int i = 0; i < 40; i++)
			random_policy(f, i);
		fclose(f);
		c = compile(text);
		web = svc(c, "web");
		x = wp_authz_index_build(c, web);
		assert_non_null(x);
		for (size_t p = 0; p < 2 * 9; p++)
			for (size_t q = 0; q < sizeof(req_paths) / sizeof(req_paths[0]); q++) {
				const char *who[] = {"cluster.local/ns/shop/sa/a",
						     "cluster.local/ns/shop/sa/b",
						     "cluster.local/ns/other/sa/a",
						     "cluster.local/ns/shop/sa/c",
						     "cluster.local/ns/other/sa/b",
						     "other.td/ns/shop/sa/a",
						     "cluster1.local/ns/shop/sa/b",
						     "cluster2.local/ns/shop/sa/a",
						     NULL};
				struct wp_authz_request rq = req(who[p % 9], "GET", req_paths[q]);
				struct wp_authz_decision a, b;

				struct wp_authz_cands it;
				size_t pos;

				/* Half of them with trust domain aliases. */
				if (p >= 9) {
					rq.trust_domains = tds;
					rq.n_trust_domains = 2;
				}
				wp_authz_decide(c, web, &rq, &a);
				wp_authz_decide_indexed(c, web, x, &rq, &b);
				for (wp_authz_cands_init(&it, x, web, &rq);
				     wp_authz_cands_next(&it, &pos);)
					tried++;
				all += web->n_authz;
				if (a.verdict != b.verdict || a.policy != b.policy ||
				    a.rule != b.rule || a.audit != b.audit ||
				    a.shadow_denied != b.shadow_denied || a.shadow != b.shadow)
					fail_msg("round %d, %s %s%s: full %d %s, indexed %d %s\n%s",
						 round, who[p % 9] ? who[p % 9] : "-", req_paths[q],
						 p >= 9 ? " (aliases)" : "", a.verdict,
						 a.policy ? a.policy->name : "-", b.verdict,
						 b.policy ? b.policy->name : "-", text);
			}
		wp_authz_index_free(x);
		l7_config_free(c);
		free(text);
	}
	/* The index did leave policies out (else this compared the full scan with itself). */
	print_message("index: %zu of %zu policies tried\n", tried, all);
	assert_true(tried < all * 9 / 10);
}

/* A connection (TCP passed through, UDP): no request, so no HTTP attributes (authz.h l4). */
static struct wp_authz_request conn_req(const char *principal, uint16_t port)
{
	struct wp_authz_request rq = {.principal = principal, .dest_port = port, .l4 = true};

	ipaddr_parse_addr("10.0.0.5", &rq.source_ip);
	ipaddr_parse_addr("10.96.0.10", &rq.dest_ip);
	return rq;
}

/*
 * Istio's network RBAC on a connection: an ALLOW rule naming an HTTP-only field never matches
 * (the whole rule, not just its operation); a DENY rule drops them and holds on the rest, so
 * `DENY methods: [GET]` refuses every connection, and one keyed by a path (the index's fast
 * look-up) still applies; ports, principals and ipBlocks decide as for a request.
 */
static void test_l4_connections(void **state)
{
	struct l7_config *c =
	    compile(WEB_POLICY("l4-allow", "ALLOW",
			       "  rules:\n"
			       "  - from: [{source: {principals: [" SLEEP "]}}]\n"
			       "    to: [{operation: {ports: ['53']}}, {operation: "
			       "{methods: [GET]}}]\n"
			       "  - from: [{source: {principals: [" OTHER "]}}]\n"
			       "    to: [{operation: {ports: ['53']}}]\n"
			       "  - to: [{operation: {ports: ['54']}}]\n"
			       "    when: [{key: 'request.headers[x-a]', values: "
			       "[b]}]\n") "---\n" WEB_POLICY("l4-deny", "DENY",
							     "  rules:\n"
							     "  - from: [{source: "
							     "{ipBlocks: "
							     "['10.0.9.0/24']}}]\n"
							     "    to: [{operation: "
							     "{methods: [GET]}}]\n"
							     "  - to: [{operation: "
							     "{paths: ['/admin'], "
							     "ports: ['55']}}]\n"));
	struct wp_authz_index *x = wp_authz_index_build(c, svc(c, "web"));
	struct wp_authz_decision d;
	struct wp_authz_request rq;
	char name[128];

	assert_non_null(x);
	/* The first rule names a method: dropped whole, its ports with it. */
	rq = conn_req(SLEEP, 53);
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_DENY);
	rq = conn_req(OTHER, 53);
	assert_int_equal(decide(c, "web", &rq, &d), WP_AUTHZ_ALLOW);
	wp_authz_policy_name(d.policy, d.rule, name, sizeof(name));
	assert_string_equal(name, "ns[shop]-policy[l4-allow]-rule[1]");
	/* The same as a request: the first rule holds. */
	rq = req(SLEEP, "GET", "/");
	rq.dest_port = 53;
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_ALLOW);
	/* A header condition: no connection has one. */
	rq = conn_req(OTHER, 54);
	assert_int_equal(decide(c, "web", &rq, NULL), WP_AUTHZ_DENY);
	/* DENY methods: [GET] from a block denies every connection from it. */
	rq = conn_req(OTHER, 53);
	ipaddr_parse_addr("10.0.9.7", &rq.source_ip);
	assert_int_equal(decide(c, "web", &rq, &d), WP_AUTHZ_DENY);
	wp_authz_policy_name(d.policy, d.rule, name, sizeof(name));
	assert_string_equal(name, "ns[shop]-policy[l4-deny]-rule[0]");
	/* A DENY keyed by a path holds on its port, through the index too. */
	rq = conn_req(OTHER, 55);
	wp_authz_decide_indexed(c, svc(c, "web"), x, &rq, &d);
	assert_int_equal(d.verdict, WP_AUTHZ_DENY);
	wp_authz_policy_name(d.policy, d.rule, name, sizeof(name));
	assert_string_equal(name, "ns[shop]-policy[l4-deny]-rule[1]");
	/* ... and a request to another path does not meet it. */
	rq = req(OTHER, "POST", "/x");
	rq.dest_port = 55;
	wp_authz_decide_indexed(c, svc(c, "web"), x, &rq, &d);
	assert_int_equal(d.verdict, WP_AUTHZ_DENY);
	assert_null(d.policy); /* no ALLOW for port 55: "none" */
	wp_authz_index_free(x);
	l7_config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_base),
	    cmocka_unit_test(test_path_slashes),
	    cmocka_unit_test(test_str_match),
	    cmocka_unit_test(test_mesh_config),
	    cmocka_unit_test(test_mesh_underscores),
	    cmocka_unit_test(test_ext_authz_provider),
	    cmocka_unit_test(test_envoy_metadata_fails_closed),
	    cmocka_unit_test(test_attachment),
	    cmocka_unit_test(test_allow_deny_order),
	    cmocka_unit_test(test_allow_nothing_and_all),
	    cmocka_unit_test(test_when_header),
	    cmocka_unit_test(test_sources),
	    cmocka_unit_test(test_sources_ipv6),
	    cmocka_unit_test(test_paths_and_methods),
	    cmocka_unit_test(test_audit_custom_dry_run),
	    cmocka_unit_test(test_trust_domain_aliases),
	    cmocka_unit_test(test_index_same_decisions),
	    cmocka_unit_test(test_l4_connections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
