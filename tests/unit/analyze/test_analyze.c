// SPDX-License-Identifier: Apache-2.0
/*
 * Every finding of `ambitctl analyze`: the loader's per-object warnings and config_analyze()'s
 * cross-object ones, each checked for severity, file, line, object, field and message, and
 * the clean case checked to produce nothing.
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

#include "ambit/config.h"

static const char workloads[] =
    "apiVersion: v1\nkind: Namespace\nmetadata: {name: bookinfo}\n---\n"
    "apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: bookinfo}\n"
    "spec: {selector: {app: reviews}, ports: [{port: 9080}]}\n---\n"
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: reviews-v1\n  namespace: bookinfo\n"
    "  labels: {app: reviews, version: v1}\n"
    "spec: {containers: [{name: c, ports: [{containerPort: 9080}]}]}\n---\n"
    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
    "metadata: {name: reviews, namespace: bookinfo}\n"
    "spec:\n  host: reviews\n  subsets:\n  - name: v1\n    labels: {version: v1}\n";

struct run {
	struct config cfg, ctx;
	struct config_diags diags;
};

/* Loads @yaml (as "t.yaml") on top of @context_yaml (as "ctx.yaml", or in the same set). */
static void run(struct run *r, const char *yaml, const char *context_yaml, bool same_set)
{
	struct config_analyze_opts opts = {.root_namespace = "istio-system"};
	struct config_diags cdiags = {0};

	config_init(&r->cfg);
	config_init(&r->ctx);
	memset(&r->diags, 0, sizeof(r->diags));
	if (context_yaml) {
		struct config *into = same_set ? &r->cfg : &r->ctx;

		assert_int_equal(config_load_buffer(into, "ctx.yaml", context_yaml,
						    strlen(context_yaml), &cdiags),
				 0);
		config_diags_free(&cdiags);
		if (!same_set)
			opts.context = &r->ctx;
	}
	if (config_load_buffer(&r->cfg, "t.yaml", yaml, strlen(yaml), &r->diags)) {
		char buf[2048];

		for (size_t i = 0; i < r->diags.n; i++) {
			config_diag_format(&r->diags.items[i], buf, sizeof(buf));
			print_error("%s\n", buf);
		}
		fail_msg("t.yaml does not load");
	}
	assert_int_equal(config_analyze(&r->cfg, &opts, &r->diags), 0);
}

static void done(struct run *r)
{
	config_diags_free(&r->diags);
	config_free(&r->cfg);
	config_free(&r->ctx);
}

/* Exactly one finding containing @msg: with this severity, line, object and field. */
static void expect(struct run *r, bool error, int line, const char *object, const char *field,
		   const char *msg)
{
	int found = 0;
	char buf[2048];

	for (size_t i = 0; i < r->diags.n; i++) {
		const struct config_diag *d = &r->diags.items[i];

		if (!d->message || !strstr(d->message, msg))
			continue;
		found++;
		config_diag_format(d, buf, sizeof(buf));
		if (d->error != error || d->line != line || strcmp(d->file, "t.yaml") ||
		    !d->object || strcmp(d->object, object) ||
		    (field ? !d->field || strcmp(d->field, field) : d->field != NULL)) {
			print_error("unexpected: %s\n", buf);
			fail();
		}
	}
	if (found != 1) {
		for (size_t i = 0; i < r->diags.n; i++) {
			config_diag_format(&r->diags.items[i], buf, sizeof(buf));
			print_error("  have: %s\n", buf);
		}
		fail_msg("%d findings contain \"%s\"", found, msg);
	}
}

static void expect_count(struct run *r, size_t n)
{
	char buf[2048];

	if (r->diags.n != n) {
		for (size_t i = 0; i < r->diags.n; i++) {
			config_diag_format(&r->diags.items[i], buf, sizeof(buf));
			print_error("  have: %s\n", buf);
		}
		fail_msg("%zu findings, want %zu", r->diags.n, n);
	}
}

/* Exactly @n "not enforced yet" warnings (one per object of a kind nothing enforces). */
static void expect_unenforced(struct run *r, size_t n)
{
	size_t found = 0;

	for (size_t i = 0; i < r->diags.n; i++) {
		const struct config_diag *d = &r->diags.items[i];

		if (!d->message || strncmp(d->message, "not enforced yet: ", 18))
			continue;
		assert_false(d->error);
		assert_null(d->field);
		found++;
	}
	assert_int_equal(found, n);
}

static void test_clean(void **state)
{
	static const char yaml[] =
	    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	    "metadata: {name: reviews, namespace: bookinfo}\n"
	    "spec:\n  hosts: [reviews]\n  http:\n  - route:\n"
	    "    - destination: {host: reviews, subset: v1}\n---\n"
	    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
	    "metadata: {name: ok, namespace: bookinfo}\n"
	    "spec:\n  selector: {matchLabels: {app: reviews}}\n  rules:\n"
	    "  - from: [{source: {namespaces: [bookinfo]}}]\n    to: [{operation: {ports: "
	    "['9080']}}]\n"
	    "---\n"
	    "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
	    "metadata: {name: strict, namespace: bookinfo}\nspec: {mtls: {mode: STRICT}}\n";
	struct run r;

	/* Only the notice that nothing enforces the VirtualService (and, below, the DR). */
	run(&r, yaml, workloads, false);
	expect(&r, false, 1, "VirtualService bookinfo/reviews", NULL,
	       "no waypoint serves its hosts");
	expect_count(&r, 1);
	done(&r);
	/* The same references resolve when the workloads are in the analyzed set itself. */
	run(&r, yaml, workloads, true);
	expect_unenforced(&r, 2);
	expect_count(&r, 2);
	done(&r);
}

static void test_vs_references(void **state)
{
	static const char yaml[] = "apiVersion: networking.istio.io/v1beta1\n" /* 1 */
				   "kind: VirtualService\n"
				   "metadata: {name: r, namespace: bookinfo}\n"
				   "spec:\n"
				   "  hosts: [reviews]\n" /* 5 */
				   "  gateways: [mesh, edge]\n"
				   "  http:\n"
				   "  - match: [{uri: {prefix: /a}}]\n" /* 8 */
				   "    route:\n"
				   "    - destination: {host: reviews, subset: v7}\n"
				   "  - route:\n" /* 11: catch-all */
				   "    - destination: {host: nosuch.example.com}\n"
				   "  - match: [{headers: {x: {exact: y}}}]\n" /* 13 */
				   "    route:\n"
				   "    - destination: {host: reviews}\n";
	struct run r;

	run(&r, yaml, workloads, false);
	expect(&r, true, 8, "VirtualService bookinfo/r", "spec.http[0].route[0].destination",
	       "IST0101 referenced subset not found: \"v7\"");
	expect(&r, true, 11, "VirtualService bookinfo/r", "spec.http[1].route[0].destination",
	       "IST0101 referenced host not found: \"nosuch.example.com\"");
	expect(&r, false, 13, "VirtualService bookinfo/r", "spec.http[2]",
	       "IST0130 VirtualServiceUnreachableRule");
	expect(&r, true, 1, "VirtualService bookinfo/r", "spec.gateways[1]",
	       "IST0101 referenced gateway not found: \"edge\"");
	expect_unenforced(&r, 1);
	expect_count(&r, 5);
	done(&r);
}

static void test_vs_conflict_and_dr_host(void **state)
{
	static const char yaml[] =
	    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	    "metadata: {name: a, namespace: bookinfo}\n"
	    "spec: {hosts: [reviews], http: [{route: [{destination: {host: reviews}}]}]}\n---\n"
	    "apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\n" /* 6 */
	    "metadata: {name: b, namespace: bookinfo}\n"
	    "spec: {hosts: [reviews.bookinfo.svc.cluster.local], "
	    "tcp: [{route: [{destination: {host: reviews}}]}]}\n---\n"
	    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n" /* 11 */
	    "metadata: {name: gone, namespace: bookinfo}\nspec: {host: gone}\n---\n"
	    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n" /* 16 */
	    "metadata: {name: reviews-extra, namespace: bookinfo}\n"
	    "spec:\n  host: reviews.bookinfo.svc.cluster.local\n  subsets:\n"
	    "  - {name: v1, labels: {version: v1}}\n"  /* 23 */
	    "  - {name: v9, labels: {version: v9}}\n"; /* 23 */
	struct run r;

	run(&r, yaml, workloads, false);
	expect(&r, true, 6, "VirtualService bookinfo/b", "spec.hosts",
	       "IST0109 ConflictingMeshGatewayVirtualServiceHosts");
	expect(&r, false, 11, "DestinationRule bookinfo/gone", "spec.host",
	       "IST0101 referenced host not found: \"gone\"");
	expect(&r, false, 23, "DestinationRule bookinfo/reviews-extra", "spec.subsets[1]",
	       "IST0173 DestinationRuleSubsetNotSelectPods: subset \"v9\"");
	expect_unenforced(&r, 4);
	expect_count(&r, 7);
	done(&r);
}

/* IST0132 with Istio's own case: "./host" admits only VSs of the gateway's namespace. */
static void test_gateway_hosts(void **state)
{
	static const char yaml[] =
	    "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
	    "metadata: {name: gw, namespace: istio-system}\n"
	    "spec:\n  servers:\n  - hosts: [./a.example.com, '*/b.example.com']\n"
	    "    port: {number: 80, name: http, protocol: HTTP}\n---\n"
	    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n" /* 9 */
	    "metadata: {name: same-ns, namespace: istio-system}\n"
	    "spec: {hosts: [a.example.com], gateways: [gw],"
	    " http: [{route: [{destination: {host: reviews.bookinfo.svc.cluster.local}}]}]}\n---\n"
	    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n" /* 14 */
	    "metadata: {name: other-ns, namespace: bookinfo}\n"
	    "spec: {hosts: [a.example.com, b.example.com], gateways: [istio-system/gw],"
	    " http: [{route: [{destination: {host: reviews}}]}]}\n";
	struct run r;

	run(&r, yaml, workloads, false);
	expect(&r, false, 14, "VirtualService bookinfo/other-ns", "spec.hosts[0]",
	       "IST0132 VirtualServiceHostNotFoundInGateway: host \"a.example.com\"");
	/* No selector: no gateway proxy, and the VirtualServices bound to it only are idle. */
	expect(&r, false, 1, "Gateway istio-system/gw", "spec.selector",
	       "not enforced: its selector matches no pod");
	for (size_t i = 0, n = 0; i < r.diags.n; i++) {
		const struct config_diag *d = &r.diags.items[i];

		if (!strstr(d->message, "not enforced: no gateway proxy serves the Gateways"))
			continue;
		assert_string_equal(d->field, "spec.gateways");
		assert_int_equal(d->line, n++ ? 14 : 9);
	}
	expect_unenforced(&r, 0);
	expect_count(&r, 4);
	done(&r);
}

/*
 * A Gateway whose selector matches a pod (here the local cluster's ingress gateway, by its
 * Service's labels) is served, with the VirtualServices bound to it; TLS PASSTHROUGH and TCP
 * servers are, ISTIO_MUTUAL and AUTO_PASSTHROUGH not yet, nor a port of two kinds.
 */
static void test_gateway_served(void **state)
{
	static const char yaml[] =
	    "apiVersion: v1\nkind: Service\nmetadata:\n  name: istio-ingressgateway\n"
	    "  namespace: istio-system\n"
	    "  labels: {istio: ingressgateway, ambit.io/local-ingress: 'true'}\n"
	    "spec: {selector: {istio: ingressgateway}, ports: [{port: 80, targetPort: 8080}]}\n"
	    "---\n"
	    "apiVersion: networking.istio.io/v1\nkind: Gateway\n" /* 9 */
	    "metadata: {name: gw, namespace: istio-system}\n"
	    "spec:\n  selector: {istio: ingressgateway}\n  servers:\n"
	    "  - hosts: ['*']\n    port: {number: 80, name: http, protocol: HTTP}\n"
	    "  - hosts: ['*']\n    port: {number: 443, name: https, protocol: HTTPS}\n" /* 17 */
	    "    tls: {mode: SIMPLE, credentialName: cert}\n"
	    "  - hosts: ['*']\n    port: {number: 444, name: tls, protocol: TLS}\n" /* 20 */
	    "    tls: {mode: PASSTHROUGH}\n"
	    "  - hosts: ['*']\n    port: {number: 445, name: https-m, protocol: HTTPS}\n" /* 23 */
	    "    tls: {mode: MUTUAL, credentialName: cert}\n"
	    "  - hosts: ['*']\n    port: {number: 31400, name: tcp, protocol: TCP}\n"	/* 26 */
	    "  - hosts: ['*']\n    port: {number: 15443, name: tls-i, protocol: TLS}\n" /* 28 */
	    "    tls: {mode: ISTIO_MUTUAL}\n"
	    "  - hosts: ['*']\n    port: {number: 444, name: http-x, protocol: HTTP}\n" /* 31 */
	    "  - hosts: ['*']\n    port: {number: 446, name: tls-a, protocol: TLS}\n"	/* 33 */
	    "    tls: {mode: AUTO_PASSTHROUGH}\n---\n"
	    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	    "metadata: {name: vs, namespace: bookinfo}\n"
	    "spec: {hosts: ['*'], gateways: [istio-system/gw],"
	    " http: [{route: [{destination: {host: reviews}}]}]}\n";
	struct run r;

	run(&r, yaml, workloads, false);
	expect(&r, false, 17, "Gateway istio-system/gw", NULL,
	       "spec.servers[1]: not served: tls.credentialName cert: no Secret "
	       "istio-system/cert with tls.crt");
	/* TLS PASSTHROUGH (20) and TCP (26) are served. */
	expect(&r, false, 23, "Gateway istio-system/gw", NULL, "spec.servers[3]: not served");
	expect(&r, false, 28, "Gateway istio-system/gw", NULL,
	       "spec.servers[5]: not enforced yet: the gateway serves HTTP, HTTPS (tls SIMPLE, "
	       "MUTUAL, OPTIONAL_MUTUAL, ISTIO_MUTUAL), TLS PASSTHROUGH and TCP servers so far "
	       "(this one is TLS, tls mode ISTIO_MUTUAL)");
	expect(&r, false, 31, "Gateway istio-system/gw", NULL,
	       "spec.servers[6]: not served: port 444 is TLS passthrough (servers[2]); a port is "
	       "one kind, as its first server");
	expect(&r, false, 33, "Gateway istio-system/gw", NULL,
	       "spec.servers[7]: not enforced yet: the gateway serves HTTP, HTTPS (tls SIMPLE, "
	       "MUTUAL, OPTIONAL_MUTUAL, ISTIO_MUTUAL), TLS PASSTHROUGH and TCP servers so far "
	       "(this one is TLS, tls mode AUTO_PASSTHROUGH)");
	expect_count(&r, 5);
	done(&r);
}

/* Gateways of class istio: listeners not served and routes not attached, each with why. */
static void test_gateway_api_served(void **state)
{
	static const char yaml[] = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
				   "metadata: {name: gw, namespace: bookinfo}\n"
				   "spec:\n  gatewayClassName: istio\n  listeners:\n"
				   "  - {name: http, port: 80, protocol: HTTP}\n"
				   "  - name: https\n    port: 443\n    protocol: HTTPS\n" /* 8 */
				   "    tls: {certificateRefs: [{name: missing}]}\n"
				   "  - {name: udp, port: 9000, protocol: UDP}\n---\n" /* 12 */
				   "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
				   "metadata: {name: other, namespace: bookinfo}\n"
				   "spec:\n  gatewayClassName: acme\n  listeners: [{name: http, "
				   "port: 80, protocol: HTTP}]\n"
				   "---\n"
				   "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
				   "metadata: {name: ok, namespace: bookinfo}\n"
				   "spec:\n  parentRefs: [{name: gw}]\n"
				   "  rules: [{backendRefs: [{name: reviews, port: 9080}]}]\n---\n"
				   "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n"
				   "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
				   "metadata: {name: far, namespace: shop}\n"
				   "spec:\n  parentRefs: [{name: gw, namespace: bookinfo}]\n"
				   "  rules: [{backendRefs: [{name: reviews, port: 9080}]}]\n";
	struct run r;

	run(&r, yaml, workloads, false);
	expect(&r, false, 8, "Gateway bookinfo/gw", NULL,
	       "spec.listeners[1] (https): not served: Secret bookinfo/missing does not exist");
	expect(&r, false, 12, "Gateway bookinfo/gw", NULL,
	       "spec.listeners[2] (udp): not served: protocol UDP is not served by this gateway");
	expect(&r, false, 14, "Gateway bookinfo/other", NULL,
	       "not enforced: gatewayClassName acme is not one ambit serves");
	expect(&r, false, 32, "HTTPRoute shop/far", NULL,
	       "not attached to Gateway gw: no listener allows routes of kind HTTPRoute from "
	       "namespace shop");
	done(&r);
}

static void test_authz_findings(void **state)
{
	static const char yaml[] =
	    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n" /* 1 */
	    "metadata: {name: nothing, namespace: bookinfo}\n"
	    "spec: {}\n" /* 4 */
	    "---\n"
	    "apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\n" /* 6 */
	    "metadata: {name: l7, namespace: bookinfo}\n"
	    "spec:\n"
	    "  selector: {matchLabels: {app: ratings}}\n" /* 10 */
	    "  rules:\n"
	    "  - to: [{operation: {methods: [GET]}}]\n"	    /* 12 */
	    "  - from: [{source: {namespaces: [ghost]}}]\n" /* 13 */
	    "---\n"
	    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n" /* 15 */
	    "metadata: {name: deny-get, namespace: bookinfo}\n"
	    "spec:\n"
	    "  action: DENY\n"
	    "  rules:\n"
	    "  - to: [{operation: {methods: [GET]}}]\n"			  /* 21 */
	    "  - to: [{operation: {paths: [/admin], ports: ['9080']}}]\n" /* 23 */
	    "---\n"
	    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n" /* 24 */
	    "metadata: {name: waypoint, namespace: bookinfo}\n"
	    "spec:\n"
	    "  targetRefs: [{kind: Service, group: '', name: reviews}]\n"
	    "  rules:\n"
	    "  - to: [{operation: {methods: [GET]}}]\n";
	struct run r;

	run(&r, yaml, workloads, false);
	expect(&r, false, 4, "AuthorizationPolicy bookinfo/nothing", "spec",
	       "ALLOW policy with no rules allows nothing");
	expect(&r, false, 12, "AuthorizationPolicy bookinfo/l7", "spec.rules[0]",
	       "cannot evaluate methods (HTTP-only or not supported at L4), so it drops this "
	       "whole ALLOW rule");
	expect(&r, false, 6, "AuthorizationPolicy bookinfo/l7", "spec.selector",
	       "IST0127 NoMatchingWorkloadsFound");
	expect(&r, false, 13, "AuthorizationPolicy bookinfo/l7",
	       "spec.rules[1].from[0].source.namespaces[0]",
	       "IST0101 referenced namespace not found: \"ghost\"");
	expect(&r, false, 21, "AuthorizationPolicy bookinfo/deny-get", "spec.rules[0]",
	       "nothing else is left in this DENY rule, so at the ztunnel it fails closed: it "
	       "denies every connection to the workloads in its scope");
	expect(&r, false, 22, "AuthorizationPolicy bookinfo/deny-get", "spec.rules[1]",
	       "cannot evaluate paths, so it ignores those parts of this DENY rule and denies "
	       "every connection matching the rest of it");
	/* The targetRefs policy is the waypoint's, but no waypoint serves its Service here, so
	 * the ztunnel enforces it on the Service's pods, failing closed. */
	expect(&r, false, 24, "AuthorizationPolicy bookinfo/waypoint", "spec.targetRefs",
	       "no waypoint serves Service bookinfo/reviews, so the ztunnel enforces this policy "
	       "on the Service's pods and fails closed there");
	expect_count(&r, 7);
	done(&r);
}

/* Selectors on the gateway proxies ambitctl deploys (no Deployment object): the local
 * istio-ingressgateway (its Service labelled ambit.io/local-ingress) and a Gateway API
 * Gateway's pods; a selector nothing has still gets IST0127. */
static void test_gateway_proxy_selectors(void **state)
{
	static const char ctx[] =
	    "apiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata:\n  name: istio-ingressgateway\n"
	    "  namespace: istio-system\n  labels: {ambit.io/local-ingress: 'true'}\n"
	    "spec: {selector: {app: istio-ingressgateway, istio: ingressgateway}, ports: [{port: "
	    "80}]}\n---\n"
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
	    "metadata: {name: edge, namespace: bookinfo}\n"
	    "spec:\n  gatewayClassName: istio\n"
	    "  listeners: [{name: http, port: 80, protocol: HTTP}]\n";
	static const char yaml[] =
	    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n" /* 1 */
	    "metadata: {name: at-ingress, namespace: istio-system}\n"
	    "spec:\n  selector: {matchLabels: {istio: ingressgateway}}\n"
	    "  action: DENY\n  rules: [{}]\n"
	    "---\n"
	    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n" /* 9 */
	    "metadata: {name: at-edge, namespace: bookinfo}\n"
	    "spec:\n  selector: {matchLabels: {gateway.networking.k8s.io/gateway-name: edge}}\n"
	    "  action: DENY\n  rules: [{}]\n"
	    "---\n"
	    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n" /* 17 */
	    "metadata: {name: at-edge-elsewhere, namespace: other}\n"
	    "spec:\n  selector: {matchLabels: {gateway.networking.k8s.io/gateway-name: edge}}\n"
	    "  action: DENY\n  rules: [{}]\n";
	struct run r;
	char *both = NULL;

	(void)state;
	assert_true(asprintf(&both, "%s---\n%s", workloads, ctx) > 0);
	run(&r, yaml, both, false);
	free(both);
	expect(&r, false, 17, "AuthorizationPolicy other/at-edge-elsewhere", "spec.selector",
	       "IST0127 NoMatchingWorkloadsFound");
	expect(&r, false, 17, "AuthorizationPolicy other/at-edge-elsewhere", "metadata.namespace",
	       "IST0101 referenced namespace not found");
	expect_count(&r, 2);
	done(&r);
}

/*
 * Istio's task "Ingress gateway: remote IP": an ALLOW with remoteIpBlocks on the pods selected
 * by app: istio-ingressgateway. The gateway evaluates every field of it: nothing is said of the
 * ztunnel dropping its rule (it would for a mesh workload's, as the second policy shows).
 */
static void test_gateway_remote_ip(void **state)
{
	static const char ctx[] =
	    "apiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata:\n  name: istio-ingressgateway\n"
	    "  namespace: istio-system\n  labels: {ambit.io/local-ingress: 'true'}\n"
	    "spec: {selector: {app: istio-ingressgateway, istio: ingressgateway}, ports: [{port: "
	    "80}]}\n";
	static const char yaml[] =
	    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n" /* 1 */
	    "metadata: {name: ingress-policy, namespace: istio-system}\n"
	    "spec:\n  selector: {matchLabels: {app: istio-ingressgateway}}\n"
	    "  action: ALLOW\n  rules:\n  - from:\n    - source:\n"
	    "        remoteIpBlocks: [1.2.3.4, 5.6.7.0/24]\n"
	    "---\n"
	    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n" /* 11 */
	    "metadata: {name: at-reviews, namespace: bookinfo}\n"
	    "spec:\n  selector: {matchLabels: {app: reviews}}\n"
	    "  action: ALLOW\n  rules:\n  - from:\n    - source:\n" /* 17: the rule, 19 */
	    "        remoteIpBlocks: [1.2.3.4]\n";
	struct run r;
	char *both = NULL;

	(void)state;
	assert_true(asprintf(&both, "%s---\n%s", workloads, ctx) > 0);
	run(&r, yaml, both, false);
	free(both);
	expect(&r, false, 19, "AuthorizationPolicy bookinfo/at-reviews", "spec.rules[0]",
	       "the ztunnel cannot evaluate remoteIpBlocks");
	for (size_t i = 0; i < r.diags.n; i++)
		if (!strcmp(r.diags.items[i].object,
			    "AuthorizationPolicy istio-system/ingress-policy"))
			fail_msg("a finding on the gateway's policy: %s", r.diags.items[i].message);
	done(&r);
}

/*
 * A DestinationRule whose host the ingress gateway sends to (a VirtualService bound to a
 * Gateway it serves, or an HTTPRoute on a Gateway of class istio) is applied there: it is not
 * "not enforced yet" for want of a waypoint; one for a host only the mesh reaches still is.
 */
static void test_dr_via_gateway(void **state)
{
	static const char ctx[] =
	    "apiVersion: v1\nkind: Service\nmetadata:\n  name: istio-ingressgateway\n"
	    "  namespace: istio-system\n"
	    "  labels: {istio: ingressgateway, ambit.io/local-ingress: 'true'}\n"
	    "spec: {selector: {istio: ingressgateway}, ports: [{port: 80, targetPort: 8080}]}\n"
	    "---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: productpage, namespace: bookinfo}\n"
	    "spec: {selector: {app: productpage}, ports: [{port: 9080}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: details, namespace: bookinfo}\n"
	    "spec: {selector: {app: details}, ports: [{port: 9080}]}\n---\n"
	    "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
	    "metadata: {name: bookinfo-gateway, namespace: bookinfo}\n"
	    "spec:\n  selector: {istio: ingressgateway}\n  servers:\n"
	    "  - hosts: ['*']\n    port: {number: 8080, name: http, protocol: HTTP}\n---\n"
	    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	    "metadata: {name: bookinfo, namespace: bookinfo}\n"
	    "spec: {hosts: ['*'], gateways: [bookinfo-gateway],"
	    " http: [{route: [{destination: {host: productpage, port: {number: 9080}}}]}]}\n---\n"
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
	    "metadata: {name: edge, namespace: bookinfo}\n"
	    "spec:\n  gatewayClassName: istio\n"
	    "  listeners: [{name: http, port: 80, protocol: HTTP}]\n---\n"
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
	    "metadata: {name: edge, namespace: bookinfo}\n"
	    "spec:\n  parentRefs: [{name: edge}]\n"
	    "  rules: [{backendRefs: [{name: details, port: 9080}]}]\n";
	static const char yaml[] =
	    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
	    "metadata: {name: productpage, namespace: bookinfo}\n"
	    "spec:\n  host: productpage\n  subsets: [{name: v1, labels: {version: v1}}]\n---\n"
	    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
	    "metadata: {name: details, namespace: bookinfo}\n"
	    "spec:\n  host: details.bookinfo.svc.cluster.local\n"
	    "  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}\n---\n"
	    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n" /* 15 */
	    "metadata: {name: ratings, namespace: bookinfo}\n"
	    "spec:\n  host: reviews\n  subsets: [{name: v1, labels: {version: v1}}]\n";
	struct run r;
	char *both = NULL;

	(void)state;
	assert_true(asprintf(&both, "%s---\n%s", workloads, ctx) > 0);
	run(&r, yaml, both, false);
	free(both);
	expect(&r, false, 15, "DestinationRule bookinfo/ratings", NULL,
	       "not enforced yet: no waypoint serves the host its subsets");
	expect_unenforced(&r, 1);
	done(&r);
}

static void test_peer_authentication_findings(void **state)
{
	static const char yaml[] =
	    "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n" /* 1 */
	    "metadata: {name: old, namespace: bookinfo, "
	    "creationTimestamp: '2024-01-02T00:00:00Z'}\n"
	    "spec: {mtls: {mode: STRICT}}\n---\n"
	    "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n" /* 6 */
	    "metadata: {name: older, namespace: bookinfo, "
	    "creationTimestamp: '2024-01-01T00:00:00Z'}\n"
	    "spec: {mtls: {mode: PERMISSIVE}}\n---\n"
	    "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n" /* 11 */
	    "metadata: {name: w1, namespace: bookinfo}\n"
	    "spec: {selector: {matchLabels: {app: reviews}}, mtls: {mode: STRICT}}\n---\n"
	    "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n" /* 16 */
	    "metadata: {name: w2, namespace: bookinfo}\n"
	    "spec:\n  selector: {matchLabels: {version: v1}}\n"
	    "  portLevelMtls: {'9080': {mode: DISABLE}}\n---\n"
	    "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n" /* 23 */
	    "metadata: {name: in-root, namespace: istio-system}\n"
	    "spec: {selector: {matchLabels: {app: reviews}}, mtls: {mode: STRICT}}\n---\n"
	    "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n" /* 28 */
	    "metadata: {name: plain, namespace: default}\nspec: {mtls: {mode: DISABLE}}\n";
	struct run r;

	run(&r, yaml, workloads, false);
	expect(&r, false, 6, "PeerAuthentication bookinfo/older", NULL,
	       "only bookinfo/older takes effect");
	expect(&r, false, 16, "PeerAuthentication bookinfo/w2", "spec.selector",
	       "conflicting workload-level PeerAuthentications: this one and bookinfo/w1");
	expect(&r, false, 23, "PeerAuthentication istio-system/in-root", "spec.selector",
	       "in the root namespace istio-system is ignored");
	expect(&r, false, 31, "PeerAuthentication default/plain", "spec.mtls.mode",
	       "DISABLE is not supported in ambient mode");
	expect_count(&r, 4);
	done(&r);
}

/* Every kind the loader accepts but nothing enforces gets one warning naming it, and no other. */
static void test_unenforced_kinds(void **state)
{
	static const char yaml[] =
	    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n" /* 1 */
	    "metadata: {name: vs, namespace: bookinfo}\n"
	    "spec: {hosts: [reviews], http: [{route: [{destination: {host: reviews}}]}]}\n---\n"
	    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n" /* 6 */
	    "metadata: {name: dr, namespace: bookinfo}\nspec: {host: reviews}\n---\n"
	    "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n" /* 11 */
	    "metadata: {name: jwt, namespace: bookinfo}\n"
	    "spec: {jwtRules: [{issuer: https://issuer.example.com}]}\n---\n"
	    "apiVersion: networking.istio.io/v1beta1\nkind: Gateway\n" /* 16 */
	    "metadata: {name: edge, namespace: bookinfo}\n"
	    "spec: {servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]}\n"
	    "---\n"
	    "apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\n" /* 21: enforced */
	    "metadata: {name: ext, namespace: bookinfo}\n"
	    "spec: {hosts: [api.example.com], ports: [{number: 443, name: https, protocol: TLS}],"
	    " resolution: DNS}\n---\n"
	    /* Enforced kinds: no notice. */
	    "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
	    "metadata: {name: strict, namespace: bookinfo}\nspec: {mtls: {mode: STRICT}}\n---\n"
	    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
	    "metadata: {name: allow, namespace: bookinfo}\n"
	    "spec: {rules: [{from: [{source: {namespaces: [bookinfo]}}]}]}\n";
	struct run r;

	run(&r, yaml, workloads, false);
	expect(&r, false, 1, "VirtualService bookinfo/vs", NULL,
	       "not enforced yet: no waypoint serves its hosts");
	expect(&r, false, 6, "DestinationRule bookinfo/dr", NULL,
	       "not enforced yet: no waypoint serves the host its subsets");
	expect(&r, false, 11, "RequestAuthentication bookinfo/jwt", NULL,
	       "not enforced: in ambient a RequestAuthentication reaches a waypoint only by "
	       "targetRefs");
	expect(&r, false, 16, "Gateway bookinfo/edge", "spec.selector",
	       "not enforced: its selector matches no pod");
	/* The ServiceEntry (line 21) is in force: no notice. */
	expect_count(&r, 4);
	done(&r);
}

/*
 * A ServiceEntry's IPv6 address is in force at the ztunnel, the DNS proxy and the waypoint the
 * entry is bound to: no notice either way.
 */
static void test_service_entry_ipv6(void **state)
{
	static const char yaml[] =
	    "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n" /* 1 */
	    "metadata: {name: plain, namespace: bookinfo}\n"
	    "spec: {hosts: [a.example.com], addresses: [192.0.2.1, '2001:db8::1'],"
	    " ports: [{number: 80, name: http, protocol: HTTP}], resolution: STATIC,"
	    " endpoints: [{address: 192.0.2.9}]}\n---\n"
	    "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n" /* 6 */
	    "metadata: {name: bound, namespace: bookinfo, labels: {istio.io/use-waypoint: wp}}\n"
	    "spec: {hosts: [b.example.com], addresses: [192.0.2.2, '2001:db8::2'],"
	    " ports: [{number: 80, name: http, protocol: HTTP}], resolution: STATIC,"
	    " endpoints: [{address: 192.0.2.9}]}\n";
	struct run r;

	run(&r, yaml, workloads, false);
	expect_count(&r, 0);
	done(&r);
}

/*
 * A pod of the mesh whose addresses are all IPv6 (an IPv6-only cluster's) is carried by its
 * IPv6 as a dual-stack pod is, and a Service of IPv6 alone at its IPv6 VIP: no notice for any.
 */
static void test_ipv6_only_pod(void **state)
{
	static const char yaml[] =
	    "apiVersion: v1\nkind: Namespace\n" /* 1 */
	    "metadata: {name: mesh, labels: {istio.io/dataplane-mode: ambient}}\n---\n"
	    "apiVersion: v1\nkind: Namespace\nmetadata: {name: plain}\n---\n"	  /* 5 */
	    "apiVersion: v1\nkind: Pod\nmetadata: {name: six, namespace: mesh}\n" /* 9 */
	    "spec: {containers: [{name: c}]}\n"
	    "status: {podIP: 'fd00::6', podIPs: [{ip: 'fd00::6'}]}\n---\n"
	    "apiVersion: v1\nkind: Pod\nmetadata: {name: dual, namespace: mesh}\n" /* 15 */
	    "spec: {containers: [{name: c}]}\n"
	    "status: {podIP: 'fd00::7', podIPs: [{ip: 'fd00::7'}, {ip: 10.1.0.7}]}\n---\n"
	    "apiVersion: v1\nkind: Pod\nmetadata: {name: six, namespace: plain}\n" /* 21 */
	    "spec: {containers: [{name: c}]}\n"
	    "status: {podIP: 'fd00::8'}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: six, namespace: mesh}\n" /* 27 */
	    "spec: {clusterIP: 'fd00:96::6', clusterIPs: ['fd00:96::6'], ipFamilies: [IPv6],"
	    " ipFamilyPolicy: SingleStack, ports: [{port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: dual, namespace: mesh}\n" /* 31 */
	    "spec: {clusterIP: 'fd00:96::7', clusterIPs: ['fd00:96::7', 10.96.0.7],"
	    " ipFamilyPolicy: RequireDualStack, ports: [{port: 80}]}\n";
	struct run r;

	run(&r, yaml, "", true);
	expect_count(&r, 0);
	done(&r);
}

/*
 * A VirtualService, DestinationRule or HTTPRoute whose Service a waypoint serves is in force: no
 * notice, also when the waypoint and the binding are in the cluster (the context) and only the
 * route is applied. The same route for an unbound Service still gets one.
 */
static void test_waypoint_enforces_routes(void **state)
{
	static const char cluster[] =
	    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
	    "  labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}\n---\n"
	    "apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n---\n"
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
	    "metadata: {name: waypoint, namespace: shop}\n"
	    "spec:\n  gatewayClassName: istio-waypoint\n  listeners:\n"
	    "  - {name: mesh, port: 15008, protocol: HBONE}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: cart, namespace: shop}\n"
	    "spec: {selector: {app: cart}, ports: [{name: http, port: 80}]}\n---\n"
	    "apiVersion: v1\nkind: Service\nmetadata: {name: cart, namespace: other}\n"
	    "spec: {selector: {app: cart}, ports: [{name: http, port: 80}]}\n";
	static const char routes[] =
	    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	    "metadata: {name: cart, namespace: shop}\n"
	    "spec: {hosts: [cart], http: [{route: [{destination: {host: cart}}]}]}\n---\n"
	    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
	    "metadata: {name: cart, namespace: shop}\n"
	    "spec: {host: cart.shop.svc.cluster.local}\n---\n"
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
	    "metadata: {name: cart, namespace: shop}\n"
	    "spec: {parentRefs: [{group: '', kind: Service, name: cart}]}\n---\n"
	    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n" /* 16 */
	    "metadata: {name: cart, namespace: other}\n"
	    "spec: {hosts: [cart], http: [{route: [{destination: {host: cart}}]}]}\n";
	struct run r;

	run(&r, routes, cluster, false);
	expect(&r, false, 16, "VirtualService other/cart", NULL, "no waypoint serves its hosts");
	expect_unenforced(&r, 1);
	done(&r);
	run(&r, routes, cluster, true);
	expect_unenforced(&r, 1);
	done(&r);
}

/* Sidecar-mode switches (istio-injection, sidecar.istio.io/inject): what they do not do here. */
static void test_sidecar_injection(void **state)
{
	static const char yaml[] =
	    "apiVersion: v1\nkind: Namespace\n" /* 1 */
	    "metadata: {name: tutorial, labels: {istio-injection: enabled}}\n---\n"
	    "apiVersion: v1\nkind: Namespace\n" /* 5 */
	    "metadata: {name: both, labels: {istio-injection: enabled, "
	    "istio.io/dataplane-mode: ambient}}\n---\n"
	    "apiVersion: v1\nkind: Namespace\n" /* 9 */
	    "metadata: {name: meshed, labels: {istio-injection: disabled, "
	    "istio.io/dataplane-mode: ambient}}\n---\n"
	    "apiVersion: v1\nkind: Namespace\n" /* 13: consistent, out of the mesh either way */
	    "metadata: {name: plain, labels: {istio-injection: disabled}}\n---\n"
	    "apiVersion: v1\nkind: Pod\n" /* 17 */
	    "metadata: {name: p1, namespace: plain, labels: {sidecar.istio.io/inject: 'true'}}\n"
	    "spec: {containers: [{name: c}]}\n---\n"
	    "apiVersion: v1\nkind: Pod\n" /* 23 */
	    "metadata: {name: p2, namespace: meshed, annotations: {sidecar.istio.io/inject: "
	    "'true'}}\n"
	    "spec: {containers: [{name: c}]}\n---\n"
	    "apiVersion: v1\nkind: Pod\n" /* 27 */
	    "metadata: {name: p3, namespace: meshed, labels: {sidecar.istio.io/inject: 'true', "
	    "istio.io/dataplane-mode: none}}\n"
	    "spec: {containers: [{name: c}]}\n---\n"
	    "apiVersion: v1\nkind: Pod\n" /* 32: opted out already: inject=false is consistent */
	    "metadata: {name: p4, namespace: meshed, labels: {sidecar.istio.io/inject: 'false', "
	    "istio.io/dataplane-mode: none}}\n"
	    "spec: {containers: [{name: c}]}\n---\n"
	    "apiVersion: apps/v1\nkind: Deployment\n" /* 37 */
	    "metadata: {name: d, namespace: meshed}\n"
	    "spec:\n  selector: {matchLabels: {app: d}}\n  template:\n    metadata:\n"
	    "      labels: {app: d}\n      annotations: {sidecar.istio.io/inject: 'false'}\n"
	    "    spec: {containers: [{name: c}]}\n---\n"
	    /* Its namespace is the context's (bookinfo is not ambient there). */
	    "apiVersion: v1\nkind: Pod\n" /* 48 */
	    "metadata: {name: p5, namespace: bookinfo, labels: {sidecar.istio.io/inject: 'true'}}\n"
	    "spec: {containers: [{name: c}]}\n";
	struct run r;

	run(&r, yaml, workloads, false);
	expect(&r, false, 1, "Namespace tutorial", "metadata.labels.istio-injection",
	       "ambient-only: istio-injection=enabled asks for sidecar injection, which ambit does "
	       "not do, so the namespace's pods are not in the mesh; label it "
	       "istio.io/dataplane-mode=ambient instead (ambitctl label namespace tutorial "
	       "istio.io/dataplane-mode=ambient)");
	expect(&r, false, 5, "Namespace both", "metadata.labels.istio-injection",
	       "istio-injection=enabled has no effect (ambit injects no sidecars); the namespace "
	       "is in the mesh by istio.io/dataplane-mode=ambient");
	expect(&r, false, 9, "Namespace meshed", "metadata.labels.istio-injection",
	       "istio-injection=disabled does not take the namespace out of the mesh");
	expect(&r, false, 17, "Pod plain/p1", "metadata.labels.sidecar.istio.io/inject",
	       "sidecar.istio.io/inject=true asks for a sidecar, which ambit does not inject, so "
	       "these pods are not in the mesh; label namespace plain "
	       "istio.io/dataplane-mode=ambient");
	expect(&r, false, 22, "Pod meshed/p2", "metadata.annotations.sidecar.istio.io/inject",
	       "sidecar.istio.io/inject=true has no effect");
	expect(&r, false, 27, "Pod meshed/p3", "metadata.labels.sidecar.istio.io/inject",
	       "the pod label istio.io/dataplane-mode=none takes them out");
	expect(&r, false, 37, "Deployment meshed/d",
	       "spec.template.metadata.annotations.sidecar.istio.io/inject",
	       "sidecar.istio.io/inject=false does not take these pods out of the mesh: the pod "
	       "label istio.io/dataplane-mode=none does");
	expect(&r, false, 48, "Pod bookinfo/p5", "metadata.labels.sidecar.istio.io/inject",
	       "label namespace bookinfo istio.io/dataplane-mode=ambient");
	expect_count(&r, 8);
	done(&r);
}

/* Warnings do not make a load fail; errors do, and name file:line:col and the field. */
static void test_warnings_do_not_block(void **state)
{
	static const char yaml[] = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
				   "metadata: {name: nothing}\nspec: {}\n";
	struct config cfg;
	struct config_diags d = {0};
	char line[1024];

	config_init(&cfg);
	assert_int_equal(config_load_buffer(&cfg, "t.yaml", yaml, strlen(yaml), &d), 0);
	assert_int_equal(cfg.n_authorization_policies, 1);
	assert_int_equal(d.n, 1);
	assert_false(d.items[0].error);
	config_diag_format(&d.items[0], line, sizeof(line));
	assert_non_null(strstr(line, "t.yaml:4:7: warning: AuthorizationPolicy default/nothing: "
				     "spec: ALLOW policy with no rules allows nothing"));
	config_diags_free(&d);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clean),
	    cmocka_unit_test(test_vs_references),
	    cmocka_unit_test(test_vs_conflict_and_dr_host),
	    cmocka_unit_test(test_gateway_hosts),
	    cmocka_unit_test(test_gateway_served),
	    cmocka_unit_test(test_gateway_api_served),
	    cmocka_unit_test(test_authz_findings),
	    cmocka_unit_test(test_gateway_proxy_selectors),
	    cmocka_unit_test(test_gateway_remote_ip),
	    cmocka_unit_test(test_dr_via_gateway),
	    cmocka_unit_test(test_peer_authentication_findings),
	    cmocka_unit_test(test_unenforced_kinds),
	    cmocka_unit_test(test_service_entry_ipv6),
	    cmocka_unit_test(test_ipv6_only_pod),
	    cmocka_unit_test(test_waypoint_enforces_routes),
	    cmocka_unit_test(test_sidecar_injection),
	    cmocka_unit_test(test_warnings_do_not_block),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
