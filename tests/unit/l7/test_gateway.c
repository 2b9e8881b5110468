// SPDX-License-Identifier: Apache-2.0
/*
 * The ingress gateway's bindings and model (l7/bind.c, l7/gateway.c): the pods Istio Gateways
 * select become one gateway proxy per workload with its pods' identity; its listeners (a
 * server port that is one of the gateway Service's ports listens on its targetPort, several
 * Gateways on one port share it); virtual hosts from VirtualService hosts met with server hosts
 * (`ns/host`, `./host`), tried exact first, each ending in 404 NR; routes restricted to their
 * listener and domain; the destinations' Services in the model, a missing port their only one;
 * the JSON codec's gateway members and its refusals; a destination behind its waypoint
 * (ingress-use-waypoint) tunnelled in either family.
 */
#include <errno.h>
#include <stdbool.h>
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include <cmocka.h>

#include "ambit/ca.h"
#include "ambit/l7.h"
#include "tls/crypto.h"
#include "../../../waypoint/route.h"
#include "../../lib/l7_world.h"

#define GW_POD                                                                                     \
	"apiVersion: v1\nkind: Service\nmetadata: {name: istio-ingressgateway, "                   \
	"namespace: istio-system}\n"                                                               \
	"spec:\n  clusterIP: 10.96.0.80\n  selector: {istio: ingressgateway}\n  ports:\n"          \
	"  - {name: http2, port: 80, targetPort: 8080}\n"                                          \
	"  - {name: https, port: 443, targetPort: 8443}\n---\n"                                    \
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: istio-ingressgateway-0\n"                   \
	"  namespace: istio-system\n  labels: {istio: ingressgateway, app: igw}\n"                 \
	"spec:\n  serviceAccountName: igw-sa\n  containers: [{name: c}]\n"                         \
	"status: {podIP: 10.1.0.9}\n---\n"                                                         \
	"apiVersion: v1\nkind: Service\nmetadata: {name: productpage, namespace: default}\n"       \
	"spec:\n  selector: {app: productpage}\n  ports: [{name: http, port: 9080}]\n---\n"        \
	"apiVersion: v1\nkind: Service\nmetadata: {name: details, namespace: shop}\n"              \
	"spec:\n  selector: {app: details}\n  ports: [{name: http, port: 9080}]\n---\n"            \
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: productpage-0\n  namespace: default\n"      \
	"  labels: {app: productpage}\n"                                                           \
	"spec: {containers: [{name: c, ports: [{containerPort: 9080}]}]}\n"                        \
	"status: {podIP: 10.1.0.10}\n---\n"

/* bookinfo-gateway.yaml's shape: port 8080 (no Service port: its own), hosts "*". */
#define BOOKINFO                                                                                   \
	"apiVersion: networking.istio.io/v1\nkind: Gateway\n"                                      \
	"metadata: {name: bookinfo-gateway, namespace: default}\n"                                 \
	"spec:\n  selector: {istio: ingressgateway}\n"                                             \
	"  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ['*']}]\n---\n"     \
	"apiVersion: networking.istio.io/v1\nkind: VirtualService\n"                               \
	"metadata: {name: bookinfo, namespace: default}\n"                                         \
	"spec:\n  hosts: ['*']\n  gateways: [bookinfo-gateway]\n"                                  \
	"  http:\n  - match: [{uri: {exact: /productpage}}, {uri: {prefix: /static}}]\n"           \
	"    route: [{destination: {host: productpage, port: {number: 9080}}}]\n---\n"

struct world {
	struct l7_world_bound wb;
	struct l7_config *l7;
};

static void build(struct world *w, const char *yaml)
{
	char err[512];

	memset(w, 0, sizeof(*w));
	if (l7_world_bind(&w->wb, yaml, err, sizeof(err)))
		fail_msg("%s", err);
	/* The proxy some Gateway makes one (an idle istio-ingressgateway is one too). */
	for (size_t i = 0; i < w->wb.b.n_gateways && !w->l7; i++)
		if (w->wb.b.gateways[i].gateways.n || w->wb.b.gateways[i].k8s_gateways.n ||
		    i + 1 == w->wb.b.n_gateways)
			w->l7 = l7_compile(&w->wb.in, &w->wb.b, &w->wb.b.gateways[i]);
	if (w->l7) {
		/* Every model compiled is one its proxy's decoder takes. */
		cJSON *j = l7_to_json(w->l7);
		struct l7_config *back = j ? l7_from_json(j, err, sizeof(err)) : NULL;

		if (!back)
			fail_msg("the compiled model is refused: %s", j ? err : "no JSON");
		l7_config_free(back);
		cJSON_Delete(j);
	}
}

static void destroy(struct world *w)
{
	l7_config_free(w->l7);
	l7_world_unbind(&w->wb);
}

static const struct l7_service *own(const struct world *w)
{
	const struct l7_service *s =
	    l7_config_service(w->l7, "istio-ingressgateway.istio-system.svc.cluster.local");

	assert_non_null(s);
	return s;
}

static void test_proxy_of_selected_pods(void **state)
{
	const struct l7_service *pp;
	struct world w;

	build(&w, GW_POD BOOKINFO);
	assert_int_equal(w.wb.b.n_waypoints, 0);
	assert_int_equal(w.wb.b.n_gateways, 1);
	assert_true(w.wb.b.gateways[0].gateway);
	assert_string_equal(w.wb.b.gateways[0].namespace, "istio-system");
	assert_string_equal(w.wb.b.gateways[0].identity,
			    "spiffe://cluster.local/ns/istio-system/sa/igw-sa");
	assert_string_equal(w.wb.b.gateways[0].hostname,
			    "istio-ingressgateway.istio-system.svc.cluster.local");
	assert_int_equal(w.wb.b.gateways[0].gateways.n, 1);
	assert_string_equal(w.wb.b.gateways[0].gateways.items[0], "default/bookinfo-gateway");
	assert_ptr_equal(l7_bindings_gateway_of(&w.wb.b, "istio-system", "istio-ingressgateway-0"),
			 &w.wb.b.gateways[0]);
	assert_null(l7_bindings_gateway_of(&w.wb.b, "default", "productpage-0"));
	/* Nothing binds to a gateway: productpage goes straight to its pod. */
	assert_null(l7_bindings_find(&w.wb.b, false, "default", "productpage"));
	/* Namespace default is not in the mesh: its pod has no identity, reached in plaintext. */
	pp = l7_config_service(w.l7, "productpage.default.svc.cluster.local");
	assert_non_null(pp);
	assert_int_equal(pp->n_endpoints, 1);
	assert_null(pp->endpoints[0].identity);
	destroy(&w);

	/*
	 * No Gateway selects it: labelled as Istio's gateways are, it is one all the same, as
	 * istio-ingressgateway runs before any Gateway: no listener, its metrics served.
	 */
	build(&w, GW_POD);
	assert_int_equal(w.wb.b.n_gateways, 1);
	assert_int_equal(w.wb.b.gateways[0].gateways.n, 0);
	assert_ptr_equal(l7_bindings_gateway_of(&w.wb.b, "istio-system", "istio-ingressgateway-0"),
			 &w.wb.b.gateways[0]);
	assert_non_null(w.l7);
	assert_true(w.l7->gateway);
	assert_int_equal(w.l7->n_listeners, 0);
	destroy(&w);
}

static void test_listeners_and_routes(void **state)
{
	struct world w;
	const struct l7_service *s, *pp;

	build(&w, GW_POD BOOKINFO);
	assert_non_null(w.l7);
	assert_true(w.l7->gateway);
	assert_int_equal(w.l7->n_listeners, 1);
	assert_int_equal(w.l7->listeners[0].port, 8080);
	assert_int_equal(w.l7->listeners[0].protocol, L7_PROTO_HTTP);
	s = own(&w);
	assert_int_equal(s->n_ports, 1);
	assert_int_equal(s->ports[0].port, 8080);
	/* Two match blocks, "*" host: no authority condition, no end route. */
	assert_int_equal(s->n_routes, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(s->routes[i].action, L7_ACTION_ROUTE);
		assert_int_equal(s->routes[i].matches[0].port, 8080);
		assert_int_equal(s->routes[i].matches[0].authority.type, L7_MATCH_ANY);
		assert_string_equal(s->routes[i].dests[0].host,
				    "productpage.default.svc.cluster.local");
	}
	pp = l7_config_service(w.l7, "productpage.default.svc.cluster.local");
	assert_non_null(pp);
	assert_int_equal(pp->n_endpoints, 1);
	destroy(&w);
}

static void test_port_translation_and_hosts(void **state)
{
	struct world w;
	const struct l7_service *s;

	build(&w, GW_POD
	      "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
	      "metadata: {name: pub, namespace: istio-system}\n"
	      "spec:\n  selector: {istio: ingressgateway}\n"
	      "  servers:\n"
	      "  - port: {number: 80, name: http, protocol: HTTP}\n"
	      "    hosts: ['shop/*.example.com', './own.example.com']\n---\n"
	      "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	      "metadata: {name: d, namespace: shop, creationTimestamp: '2024-01-01T00:00:00Z'}\n"
	      "spec:\n  hosts: ['*.example.com', 'a.example.com']\n"
	      "  gateways: [istio-system/pub]\n"
	      "  http: [{route: [{destination: {host: details}}]}]\n---\n"
	      /* Not admitted: the server host names namespace shop only. */
	      "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	      "metadata: {name: p, namespace: default}\n"
	      "spec:\n  hosts: ['*.example.com']\n  gateways: [istio-system/pub]\n"
	      "  http: [{route: [{destination: {host: productpage}}]}]\n");
	assert_non_null(w.l7);
	/* Server port 80 is the Service's: its targetPort 8080. */
	assert_int_equal(w.l7->n_listeners, 1);
	assert_int_equal(w.l7->listeners[0].port, 8080);
	s = own(&w);
	/* a.example.com (exact) first, then *.example.com: each its route and its end. */
	assert_int_equal(s->n_routes, 4);
	assert_int_equal(s->routes[0].action, L7_ACTION_ROUTE);
	assert_int_equal(s->routes[0].matches[0].authority.type, L7_MATCH_REGEX);
	assert_string_equal(s->routes[0].matches[0].authority.value,
			    "(?i)a\\.example\\.com(:[0-9]+)?");
	assert_int_equal(s->routes[1].action, L7_ACTION_NOT_FOUND);
	assert_string_equal(s->routes[2].matches[0].authority.value,
			    "(?i).+\\.example\\.com(:[0-9]+)?");
	assert_int_equal(s->routes[3].action, L7_ACTION_NOT_FOUND);
	/* The destination without a port takes the Service's only one. */
	assert_string_equal(s->routes[0].dests[0].host, "details.shop.svc.cluster.local");
	assert_int_equal(s->routes[0].dests[0].port, 9080);
	assert_non_null(l7_config_service(w.l7, "details.shop.svc.cluster.local"));
	assert_null(l7_config_service(w.l7, "productpage.default.svc.cluster.local"));
	destroy(&w);
}

/* A leading "*" in a VirtualService host (Envoy's "*-shop.example.com") is any non-empty prefix. */
static void test_suffix_wildcard_host(void **state)
{
	struct world w;
	const struct l7_service *s;

	build(&w,
	      GW_POD "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
		     "metadata: {name: pub, namespace: istio-system}\n"
		     "spec:\n  selector: {istio: ingressgateway}\n"
		     "  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]\n"
		     "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
		     "metadata: {name: d, namespace: shop}\n"
		     "spec:\n  hosts: ['*-shop.example.com']\n  gateways: [istio-system/pub]\n"
		     "  http: [{route: [{destination: {host: details}}]}]\n");
	assert_non_null(w.l7);
	s = own(&w);
	assert_int_equal(s->n_routes, 2);
	assert_string_equal(s->routes[0].matches[0].authority.value,
			    "(?i).+\\-shop\\.example\\.com(:[0-9]+)?");
	destroy(&w);
}

/* A Secret's manifest: data key @k1 (and @k2 unless NULL) with PEM values, base64'd. */
static char *secret_yaml_ns(const char *ns, const char *name, const char *type, const char *k1,
			    const char *v1, const char *k2, const char *v2)
{
	char *b1 = crypto_base64_encode(v1, strlen(v1)), *b2 = NULL, *line2 = NULL, *out;

	assert_non_null(b1);
	if (k2) {
		b2 = crypto_base64_encode(v2, strlen(v2));
		assert_non_null(b2);
		assert_int_not_equal(asprintf(&line2, "  %s: %s\n", k2, b2), -1);
	}
	assert_int_not_equal(asprintf(&out,
				      "apiVersion: v1\nkind: Secret\nmetadata: {name: %s, "
				      "namespace: %s}\ntype: %s\ndata:\n  %s: %s\n%s---\n",
				      name, ns, type, k1, b1, line2 ? line2 : ""),
			     -1);
	free(b1);
	free(b2);
	free(line2);
	return out;
}

static char *secret_yaml(const char *name, const char *type, const char *k1, const char *v1,
			 const char *k2, const char *v2)
{
	return secret_yaml_ns("istio-system", name, type, k1, v1, k2, v2);
}

/*
 * HTTPS servers: SIMPLE and MUTUAL on one port with their Secrets' certificates by host (the
 * MUTUAL CA from `<name>-cacert`), routed as HTTP; a server whose Secret is missing is not
 * served; a plaintext server on a TLS port is not either.
 */
static void test_https_servers(void **state)
{
	char dir[] = "/tmp/ambit-test-l7gw-XXXXXX", *yaml, *s1, *s2, *s3, *s4, cmd[64];
	struct ambit_ca *ca;
	struct ca_issued a, b;
	struct world w;
	const struct l7_listener *l;

	assert_non_null(mkdtemp(dir));
	ca = ca_open(dir);
	assert_non_null(ca);
	assert_int_equal(ca_issue_dns(ca, "a.example.com", 3600, &a), 0);
	assert_int_equal(ca_issue_dns(ca, "b.example.com", 3600, &b), 0);
	s1 =
	    secret_yaml("a-cred", "kubernetes.io/tls", "tls.crt", a.cert_pem, "tls.key", a.key_pem);
	s2 = secret_yaml("b-cred", "Opaque", "cert", b.cert_pem, "key", b.key_pem);
	s3 = secret_yaml("b-cred-cacert", "Opaque", "ca.crt", ca_root_pem(ca), NULL, NULL);
	/* A kubernetes.io/tls Secret whose key is another certificate's: refused at load. */
	s4 = secret_yaml("bad", "kubernetes.io/tls", "tls.crt", a.cert_pem, "tls.key", b.key_pem);
	assert_int_not_equal(
	    asprintf(&yaml,
		     GW_POD "%s%s%s"
			    "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
			    "metadata: {name: pub, namespace: istio-system}\n"
			    "spec:\n  selector: {istio: ingressgateway}\n  servers:\n"
			    "  - port: {number: 443, name: https-a, protocol: HTTPS}\n"
			    "    hosts: [a.example.com]\n"
			    "    tls: {mode: SIMPLE, credentialName: a-cred, "
			    "minProtocolVersion: TLSV1_3,\n"
			    "          cipherSuites: [ECDHE-RSA-AES256-GCM-SHA384, "
			    "'[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]']}\n"
			    "  - port: {number: 443, name: https-b, protocol: HTTPS}\n"
			    "    hosts: ['shop/b.example.com']\n"
			    "    tls: {mode: MUTUAL, credentialName: b-cred}\n"
			    "  - port: {number: 443, name: https-c, protocol: HTTPS}\n"
			    "    hosts: [c.example.com]\n"
			    "    tls: {mode: SIMPLE, credentialName: missing}\n"
			    "  - port: {number: 443, name: http-d, protocol: HTTP}\n"
			    "    hosts: [d.example.com]\n---\n"
			    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
			    "metadata: {name: d, namespace: shop}\n"
			    "spec:\n  hosts: ['*.example.com']\n  gateways: [istio-system/pub]\n"
			    "  http: [{route: [{destination: {host: details}}]}]\n",
		     s1, s2, s3),
	    -1);
	build(&w, yaml);
	assert_non_null(w.l7);
	assert_int_equal(w.l7->n_listeners, 1);
	l = &w.l7->listeners[0];
	assert_int_equal(l->port, 8443);
	assert_int_equal(l->n_certs, 2);
	assert_string_equal(l->certs[0].hosts.items[0], "a.example.com");
	assert_string_equal(l->certs[0].cert, a.cert_pem);
	assert_null(l->certs[0].ca);
	assert_int_equal(l->certs[0].min_tls, 0x0304);
	assert_int_equal(l->certs[0].max_tls, 0);
	assert_int_equal(l->certs[0].ciphers.n, 2);
	assert_string_equal(l->certs[0].ciphers.items[0], "ECDHE-RSA-AES256-GCM-SHA384");
	assert_string_equal(l->certs[0].ciphers.items[1],
			    "[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]");
	assert_int_equal(l->certs[1].ciphers.n, 0);
	/* The proxy's model carries them as written. */
	{
		char err[256];
		cJSON *j = l7_to_json(w.l7);
		struct l7_config *back = j ? l7_from_json(j, err, sizeof(err)) : NULL;

		assert_non_null(back);
		assert_int_equal(back->listeners[0].certs[0].ciphers.n, 2);
		assert_string_equal(back->listeners[0].certs[0].ciphers.items[0],
				    "ECDHE-RSA-AES256-GCM-SHA384");
		assert_int_equal(back->listeners[0].certs[1].ciphers.n, 0);
		l7_config_free(back);
		cJSON_Delete(j);
	}
	assert_string_equal(l->certs[1].hosts.items[0], "b.example.com");
	assert_string_equal(l->certs[1].key, b.key_pem);
	assert_string_equal(l->certs[1].ca, ca_root_pem(ca));
	assert_non_null(strstr(l->certs[1].source, "credentialName b-cred"));
	/* Routed as HTTP: a.example.com, b.example.com (c's server is not served), each its end;
	 * each server's routes only for connections that got its certificate. */
	assert_int_equal(own(&w)->n_routes, 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(own(&w)->routes[i].matches[0].tls_server,
				    l->certs[i / 2].source);
	{
		char why[128];
		struct wp_route_table *rt = wp_route_table_new(own(&w), why, sizeof(why));
		struct wp_request rq = {.method = "GET",
					.scheme = "https",
					.authority = "b.example.com",
					.path = "/",
					.port = 8443,
					.tls_server = l->certs[1].source};
		const struct l7_route *r;

		assert_non_null(rt);
		r = wp_route_select(rt, &rq);
		assert_non_null(r);
		assert_int_equal(r->action, L7_ACTION_ROUTE);
		/* b's host on a connection that got a's certificate (SNI a.example.com): 404. */
		rq.tls_server = l->certs[0].source;
		r = wp_route_select(rt, &rq);
		assert_true(!r || r->action == L7_ACTION_NOT_FOUND);
		rq.tls_server = NULL;
		r = wp_route_select(rt, &rq);
		assert_true(!r || r->action == L7_ACTION_NOT_FOUND);
		wp_route_table_free(rt);
	}
	destroy(&w);
	free(yaml);

	{
		struct l7_world_bound wb;
		char err[512];

		assert_int_not_equal(asprintf(&yaml, GW_POD "%s", s4), -1);
		assert_int_not_equal(l7_world_bind(&wb, yaml, err, sizeof(err)), 0);
		assert_non_null(strstr(err, "does not belong to the certificate"));
		free(yaml);
	}
	free(s1);
	free(s2);
	free(s3);
	free(s4);
	ca_issued_free(&a);
	ca_issued_free(&b);
	ca_destroy(ca);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/*
 * ISTIO_MUTUAL: the gateway's own mesh certificate, filled in by the proxy (the model carries a
 * flag, no PEM, also through JSON); refused at load with a certificate of its own, as Istio's
 * validation does. OPTIONAL_MUTUAL: MUTUAL's CA, a client certificate optional.
 */
static void test_mesh_and_optional_mutual(void **state)
{
	char dir[] = "/tmp/ambit-test-l7gw-XXXXXX", *yaml, *s1, *s2, cmd[64], err[512];
	struct ambit_ca *ca;
	struct ca_issued b;
	struct world w;
	const struct l7_listener *l;
	struct l7_config *back;
	struct l7_world_bound wb;
	cJSON *j;

	assert_non_null(mkdtemp(dir));
	ca = ca_open(dir);
	assert_non_null(ca);
	assert_int_equal(ca_issue_dns(ca, "f.example.com", 3600, &b), 0);
	s1 = secret_yaml("f-cred", "Opaque", "tls.crt", b.cert_pem, "tls.key", b.key_pem);
	s2 = secret_yaml("f-cred-cacert", "Opaque", "ca.crt", ca_root_pem(ca), NULL, NULL);
	assert_int_not_equal(
	    asprintf(&yaml,
		     GW_POD "%s%s"
			    "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
			    "metadata: {name: pub, namespace: istio-system}\n"
			    "spec:\n  selector: {istio: ingressgateway}\n  servers:\n"
			    "  - port: {number: 443, name: https-e, protocol: HTTPS}\n"
			    "    hosts: [e.example.com]\n    tls: {mode: ISTIO_MUTUAL}\n"
			    "  - port: {number: 443, name: https-f, protocol: HTTPS}\n"
			    "    hosts: [f.example.com]\n"
			    "    tls: {mode: OPTIONAL_MUTUAL, credentialName: f-cred}\n---\n"
			    "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
			    "metadata: {name: d, namespace: shop}\n"
			    "spec:\n  hosts: ['*.example.com']\n  gateways: [istio-system/pub]\n"
			    "  http: [{route: [{destination: {host: details}}]}]\n",
		     s1, s2),
	    -1);
	build(&w, yaml);
	assert_non_null(w.l7);
	assert_int_equal(w.l7->n_listeners, 1);
	l = &w.l7->listeners[0];
	assert_int_equal(l->n_certs, 2);
	assert_true(l->certs[0].mesh);
	assert_null(l->certs[0].cert);
	assert_null(l->certs[0].key);
	assert_string_equal(l->certs[0].hosts.items[0], "e.example.com");
	assert_non_null(strstr(l->certs[0].source, "ISTIO_MUTUAL"));
	assert_false(l->certs[1].mesh);
	assert_true(l->certs[1].optional);
	assert_string_equal(l->certs[1].ca, ca_root_pem(ca));
	j = l7_to_json(w.l7);
	assert_non_null(j);
	back = l7_from_json(j, err, sizeof(err));
	if (!back)
		fail_msg("%s", err);
	assert_true(back->listeners[0].certs[0].mesh);
	assert_null(back->listeners[0].certs[0].cert);
	assert_true(back->listeners[0].certs[1].optional);
	l7_config_free(back);
	cJSON_Delete(j);
	destroy(&w);
	free(yaml);

	assert_int_not_equal(asprintf(&yaml,
				      GW_POD
				      "%s"
				      "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
				      "metadata: {name: pub, namespace: istio-system}\n"
				      "spec:\n  selector: {istio: ingressgateway}\n  servers:\n"
				      "  - port: {number: 443, name: https, protocol: HTTPS}\n"
				      "    hosts: [e.example.com]\n"
				      "    tls: {mode: ISTIO_MUTUAL, credentialName: f-cred}\n",
				      s1),
			     -1);
	assert_int_not_equal(l7_world_bind(&wb, yaml, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "ISTIO_MUTUAL uses the mesh certificates"));
	free(yaml);
	free(s1);
	free(s2);
	ca_issued_free(&b);
	ca_destroy(ca);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* The Gateway API deployment of Gateway @name in default: its Service and its pod. */
#define GWAPI_POD(name, ip)                                                                        \
	"apiVersion: v1\nkind: Service\nmetadata: {name: " name "-istio, namespace: default}\n"    \
	"spec:\n  selector: {gateway.networking.k8s.io/gateway-name: " name "}\n  ports:\n"        \
	"  - {name: http, port: 80}\n  - {name: https, port: 443}\n---\n"                          \
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: " name "-istio-0\n  namespace: default\n"   \
	"  labels: {gateway.networking.k8s.io/gateway-name: " name "}\n"                           \
	"spec:\n  serviceAccountName: " name "-istio\n  containers: [{name: c}]\n"                 \
	"status: {podIP: " ip "}\n---\n"

/*
 * Cross-namespace references of a Gateway of class istio: a certificateRef to a Secret of shop
 * and an HTTPRoute's backendRef to a Service of shop are refused (listener not served, the rule
 * answers 500, RefNotPermitted) until shop's ReferenceGrant allows them; a grant naming another
 * Secret, or in another namespace, does not. The grant is taken as v1beta1 and as v1.
 */
static void test_gateway_api_reference_grant(void **state)
{
	char dir[] = "/tmp/ambit-test-l7gw-XXXXXX", *base, *yaml, *sec, cmd[64];
	static const char *const grants[] = {
	    "",
	    /* The wrong Secret's name; the right kinds from the wrong namespace. */
	    "apiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\n"
	    "metadata: {name: g, namespace: shop}\nspec:\n"
	    "  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: other}]\n"
	    "  to: [{group: '', kind: Secret}]\n---\n"
	    "apiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\n"
	    "metadata: {name: h, namespace: shop}\nspec:\n"
	    "  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: default}]\n"
	    "  to: [{group: '', kind: Secret, name: not-this-one}]\n",
	    "apiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\n"
	    "metadata: {name: g, namespace: shop}\nspec:\n"
	    "  from:\n  - {group: gateway.networking.k8s.io, kind: Gateway, namespace: default}\n"
	    "  - {group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}\n"
	    "  to: [{group: '', kind: Secret, name: gw-cred}, {group: '', kind: Service}]\n",
	    /* The same grant as gateway.networking.k8s.io/v1 (Gateway API 1.5). */
	    "apiVersion: gateway.networking.k8s.io/v1\nkind: ReferenceGrant\n"
	    "metadata: {name: g, namespace: shop}\nspec:\n"
	    "  from:\n  - {group: gateway.networking.k8s.io, kind: Gateway, namespace: default}\n"
	    "  - {group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}\n"
	    "  to: [{group: '', kind: Secret, name: gw-cred}, {group: '', kind: Service}]\n",
	};
	struct ambit_ca *ca;
	struct ca_issued a;

	assert_non_null(mkdtemp(dir));
	ca = ca_open(dir);
	assert_non_null(ca);
	assert_int_equal(ca_issue_dns(ca, "a.example.com", 3600, &a), 0);
	sec = secret_yaml_ns("shop", "gw-cred", "kubernetes.io/tls", "tls.crt", a.cert_pem,
			     "tls.key", a.key_pem);
	assert_int_not_equal(
	    asprintf(
		&base,
		GW_POD GWAPI_POD(
		    "gw",
		    "10.1.0.20") "%s"
				 "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n"
				 "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
				 "metadata: {name: gw, namespace: default}\n"
				 "spec:\n  gatewayClassName: istio\n  listeners:\n"
				 "  - {name: http, port: 80, protocol: HTTP}\n"
				 "  - name: https\n    port: 443\n    protocol: HTTPS\n"
				 "    tls: {certificateRefs: [{name: gw-cred, namespace: "
				 "shop}]}\n---\n"
				 "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
				 "metadata: {name: to-shop, namespace: default}\n"
				 "spec:\n  parentRefs: [{name: gw, sectionName: http}]\n"
				 "  rules: [{backendRefs: [{name: details, namespace: shop, port: "
				 "9080}]}]\n"
				 "---\n",
		sec),
	    -1);
	for (size_t gi = 0; gi < 4; gi++) {
		const struct config *cfg;
		const struct l7_service *s;
		const struct l7_route *r = NULL;
		struct world w;
		cJSON *st;
		char *txt;
		bool granted = gi >= 2;

		assert_int_not_equal(asprintf(&yaml, "%s%s", base, grants[gi]), -1);
		build(&w, yaml);
		assert_non_null(w.l7);
		cfg = w.wb.in.cfg;
		assert_int_equal(w.l7->n_listeners, granted ? 2 : 1);
		if (granted) {
			assert_int_equal(w.l7->listeners[1].port, 443);
			assert_string_equal(w.l7->listeners[1].certs[0].cert, a.cert_pem);
		}
		s = l7_config_service(w.l7, "gw-istio.default.svc.cluster.local");
		assert_non_null(s);
		for (size_t i = 0; i < s->n_routes && !r; i++)
			if (strstr(s->routes[i].source, "HTTPRoute default/to-shop"))
				r = &s->routes[i];
		assert_non_null(r);
		if (granted) {
			assert_int_equal(r->action, L7_ACTION_ROUTE);
			assert_int_equal(r->n_dests, 1);
			assert_string_equal(r->dests[0].host, "details.shop.svc.cluster.local");
		} else {
			assert_int_equal(r->action, L7_ACTION_DIRECT);
			assert_int_equal(r->direct_status, 500);
		}
		st = l7_gwapi_gateway_status(cfg, &cfg->k8s_gateways[0], "x", NULL);
		txt = cJSON_PrintUnformatted(st);
		assert_true(!strstr(txt, "\"reason\":\"RefNotPermitted\"") == granted);
		free(txt);
		cJSON_Delete(st);
		st = l7_gwapi_route_status(cfg, &cfg->http_routes[0]);
		txt = cJSON_PrintUnformatted(st);
		assert_true(!strstr(txt, "\"reason\":\"RefNotPermitted\"") == granted);
		free(txt);
		cJSON_Delete(st);
		destroy(&w);
		free(yaml);
	}
	free(base);
	free(sec);
	ca_issued_free(&a);
	ca_destroy(ca);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/*
 * @extra, then Gateway gw (class istio, HTTP on 80) and its HTTPRoute default/r with @rules,
 * built into @w; the first route the gateway compiled of r.
 */
static const struct l7_route *gw_route_world(struct world *w, const char *extra, const char *rules)
{
	const struct l7_route *r = NULL;
	const struct l7_service *s;
	char *yaml;

	assert_int_not_equal(
	    asprintf(&yaml,
		     GW_POD GWAPI_POD(
			 "gw",
			 "10.1.0.20") "%s"
				      "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
				      "metadata: {name: gw, namespace: default}\n"
				      "spec:\n  gatewayClassName: istio\n"
				      "  listeners: [{name: http, port: 80, protocol: HTTP}]\n---\n"
				      "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
				      "metadata: {name: r, namespace: default}\n"
				      "spec:\n  parentRefs: [{name: gw}]\n  rules: %s\n",
		     extra, rules),
	    -1);
	build(w, yaml);
	free(yaml);
	assert_non_null(w->l7);
	s = l7_config_service(w->l7, "gw-istio.default.svc.cluster.local");
	assert_non_null(s);
	for (size_t i = 0; i < s->n_routes && !r; i++)
		if (strstr(s->routes[i].source, "HTTPRoute default/r"))
			r = &s->routes[i];
	assert_non_null(r);
	return r;
}

/*
 * HTTPRoute backendRefs that cannot be used (Gateway API's HTTPRouteInvalidNonExistentBackendRef,
 * HTTPRouteInvalidBackendRefUnknownKind): a Service that does not exist and a kind no route goes
 * to answer 500 (a direct reply when the rule has nothing else), a missing one beside a good one
 * keeps its share as a destination marked invalid, which the proxy answers 500; the status says
 * ResolvedRefs False, BackendNotFound or InvalidKind.
 */
static void test_gateway_api_invalid_backends(void **state)
{
	static const char *const rules[] = {
	    "[{backendRefs: [{name: nosuch, port: 9080}]}]",
	    "[{backendRefs: [{group: example.com, kind: Bucket, name: b, port: 1}]}]",
	    "[{backendRefs: [{name: productpage, port: 9080, weight: 1},\n"
	    "                {name: nosuch, port: 9080, weight: 1}]}]",
	};
	static const char *const reasons[] = {"BackendNotFound", "InvalidKind", "BackendNotFound"};
	char err[256];

	for (size_t ri = 0; ri < 3; ri++) {
		const struct l7_service *s;
		const struct l7_route *r = NULL;
		const struct config *cfg;
		struct l7_config *back;
		struct world w;
		char *txt, reason[64];
		cJSON *st, *j;

		r = gw_route_world(&w, "", rules[ri]);
		cfg = w.wb.in.cfg;
		if (ri < 2) {
			assert_int_equal(r->action, L7_ACTION_DIRECT);
			assert_int_equal(r->direct_status, 500);
		} else {
			assert_int_equal(r->action, L7_ACTION_ROUTE);
			assert_int_equal(r->n_dests, 2);
			assert_false(r->dests[0].invalid);
			assert_true(r->dests[1].invalid);
			assert_int_equal(r->dests[1].weight, 1);
			/* The proxy's model keeps the mark. */
			j = l7_to_json(w.l7);
			back = l7_from_json(j, err, sizeof(err));
			assert_non_null(back);
			s = l7_config_service(back, "gw-istio.default.svc.cluster.local");
			r = NULL;
			for (size_t i = 0; s && i < s->n_routes && !r; i++)
				if (strstr(s->routes[i].source, "HTTPRoute default/r"))
					r = &s->routes[i];
			assert_non_null(r);
			assert_true(r->dests[1].invalid);
			assert_false(r->dests[0].invalid);
			l7_config_free(back);
			cJSON_Delete(j);
		}
		st = l7_gwapi_route_status(cfg, &cfg->http_routes[0]);
		txt = cJSON_PrintUnformatted(st);
		snprintf(reason, sizeof(reason), "\"reason\":\"%s\"", reasons[ri]);
		assert_non_null(strstr(txt, reason));
		assert_non_null(strstr(txt, "\"type\":\"Accepted\",\"status\":\"True\""));
		free(txt);
		cJSON_Delete(st);
		destroy(&w);
	}
}

/* The findings of analyze on @cfg's field @field: how many, the first's message into @msg. */
static size_t analyze_findings(const struct config *cfg, const char *field, char *msg, size_t len)
{
	struct config_diags d = {0};
	size_t n = 0;

	assert_int_equal(config_analyze(cfg, NULL, &d), 0);
	for (size_t i = 0; i < d.n; i++)
		if (d.items[i].field && !strcmp(d.items[i].field, field) && !n++)
			snprintf(msg, len, "%s", d.items[i].message);
	config_diags_free(&d);
	return n;
}

/*
 * Whether a backendRef can be used is judged once (l7_backend_ref_check): the gateway's
 * routing (500 for an unusable one), the route's ResolvedRefs and analyze's warning agree on
 * every case. A Gateway's route: a Service, one missing, a kind no route goes to, another
 * namespace's without a ReferenceGrant, a Hostname no ServiceEntry has, one a wildcard host of a
 * ServiceEntry covers. A mesh parent's route (a waypoint's): another namespace's Service needs
 * no grant, as Istio's.
 */
static void test_gateway_api_backend_judged_once(void **state)
{
	static const struct {
		const char *backend, *reason;
	} cases[] = {
	    {"{name: productpage, port: 9080}", NULL},
	    {"{name: nosuch, port: 9080}", "BackendNotFound"},
	    {"{group: example.com, kind: Bucket, name: b, port: 1}", "InvalidKind"},
	    {"{name: details, namespace: shop, port: 9080}", "RefNotPermitted"},
	    {"{group: networking.istio.io, kind: Hostname, name: nosuch.example.org, port: 80}",
	     "BackendNotFound"},
	    {"{group: networking.istio.io, kind: Hostname, name: api.example.com, port: 80}", NULL},
	};
	static const char se[] =
	    "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
	    "metadata: {name: ext, namespace: default}\n"
	    "spec:\n  hosts: ['*.example.com']\n  location: MESH_EXTERNAL\n  resolution: NONE\n"
	    "  ports: [{number: 80, name: http, protocol: HTTP}]\n---\n";

	for (size_t ci = 0; ci < sizeof(cases) / sizeof(*cases); ci++) {
		const char *want = cases[ci].reason;
		const struct l7_route *r;
		const struct config *cfg;
		char rules[256], *txt, reason[64], msg[512] = "";
		struct world w;
		size_t found;
		cJSON *st;

		snprintf(rules, sizeof(rules), "[{backendRefs: [%s]}]", cases[ci].backend);
		r = gw_route_world(&w, se, rules);
		cfg = w.wb.in.cfg;
		/* Routing: usable, or the rule's only backend answers 500. */
		if (want) {
			assert_int_equal(r->action, L7_ACTION_DIRECT);
			assert_int_equal(r->direct_status, 500);
		} else {
			assert_int_equal(r->action, L7_ACTION_ROUTE);
			assert_false(r->dests[0].invalid);
		}
		/* Status: ResolvedRefs with the same reason. */
		st = l7_gwapi_route_status(cfg, &cfg->http_routes[0]);
		txt = cJSON_PrintUnformatted(st);
		snprintf(reason, sizeof(reason), "\"type\":\"ResolvedRefs\",\"status\":\"%s\"",
			 want ? "False" : "True");
		if (!strstr(txt, reason))
			fail_msg("case %zu: %s: no %s in %s", ci, cases[ci].backend, reason, txt);
		snprintf(reason, sizeof(reason), "\"reason\":\"%s\"", want ? want : "ResolvedRefs");
		assert_non_null(strstr(txt, reason));
		free(txt);
		cJSON_Delete(st);
		/* Analyze: a warning exactly when it cannot be used. */
		found = analyze_findings(cfg, "spec.rules[0].backendRefs[0]", msg, sizeof(msg));
		if (found != (want ? 1 : 0))
			fail_msg("case %zu: %s: %zu findings (%s)", ci, cases[ci].backend, found,
				 msg);
		destroy(&w);
	}
	{
		/* A mesh parent: shop's Service needs no grant; status and analyze say so. */
		static const char mesh[] = GW_POD
		    "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
		    "metadata: {name: m, namespace: default}\n"
		    "spec:\n  parentRefs: [{group: '', kind: Service, name: productpage}]\n"
		    "  rules: [{backendRefs: [{name: details, namespace: shop, port: 9080}]}]\n";
		struct config cfg;
		struct config_diags d = {0};
		char msg[512] = "";
		cJSON *st;
		char *txt;

		config_init(&cfg);
		assert_int_equal(config_load_buffer(&cfg, "mesh", mesh, strlen(mesh), &d), 0);
		config_diags_free(&d);
		assert_int_equal(l7_backend_ref_check(&cfg, &cfg.http_routes[0],
						      &cfg.http_routes[0].rules[0].backends[0],
						      false),
				 L7_BACKEND_OK);
		st = l7_gwapi_route_status(&cfg, &cfg.http_routes[0]);
		txt = cJSON_PrintUnformatted(st);
		assert_non_null(strstr(txt, "\"type\":\"ResolvedRefs\",\"status\":\"True\""));
		free(txt);
		cJSON_Delete(st);
		assert_int_equal(
		    analyze_findings(&cfg, "spec.rules[0].backendRefs[0]", msg, sizeof(msg)), 0);
		config_free(&cfg);
	}
}

/*
 * A Gateway API Gateway of class istio: its deployment's pods are its gateway proxy; each HTTP
 * listener, and each HTTPS one whose Secret resolves, listens on its own port; routes attach
 * by parentRef (sectionName), allowedRoutes and hostname intersection, ranked by the spec's
 * precedence per virtual host; a UDP listener, a route of a namespace not allowed, a route on
 * a hostname the listener does not cover and a cross-namespace certificate are not served.
 */
static void test_gateway_api_class_istio(void **state)
{
	char dir[] = "/tmp/ambit-test-l7gw-XXXXXX", *yaml, *sec, cmd[64];
	static const char *const order[] = {"/productpage", "/logout", "/login", "/api/v1/products",
					    "/static"};
	struct ambit_ca *ca;
	struct ca_issued a;
	struct world w;
	const struct l7_service *s;
	const struct l7_waypoint *k8s;
	size_t on80 = 0, on80_hosts = 0, on443 = 0;

	assert_non_null(mkdtemp(dir));
	ca = ca_open(dir);
	assert_non_null(ca);
	assert_int_equal(ca_issue_dns(ca, "a.example.com", 3600, &a), 0);
	sec = secret_yaml_ns("default", "gw-cred", "kubernetes.io/tls", "tls.crt", a.cert_pem,
			     "tls.key", a.key_pem);
	assert_int_not_equal(
	    asprintf(
		&yaml,
		GW_POD GWAPI_POD(
		    "bookinfo-gateway",
		    "10.1.0.20") "%s"
				 "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n"
				 "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
				 "metadata: {name: bookinfo-gateway, namespace: default}\n"
				 "spec:\n  gatewayClassName: istio\n  listeners:\n"
				 "  - {name: http, port: 80, protocol: HTTP, allowedRoutes: "
				 "{namespaces: {from: "
				 "Same}}}\n"
				 "  - name: https\n    port: 443\n    protocol: HTTPS\n    "
				 "hostname: '*.example.com'\n"
				 "    tls: {certificateRefs: [{name: gw-cred}]}\n"
				 "  - name: other-ns-cert\n    port: 8443\n    protocol: HTTPS\n"
				 "    tls: {certificateRefs: [{name: gw-cred, namespace: shop}]}\n"
				 "  - {name: udp, port: 9000, protocol: UDP}\n---\n"
				 "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
				 "metadata: {name: bookinfo, namespace: default}\n"
				 "spec:\n  parentRefs: [{name: bookinfo-gateway, sectionName: "
				 "http}]\n"
				 "  rules:\n  - matches:\n"
				 "    - path: {type: Exact, value: /productpage}\n"
				 "    - path: {type: PathPrefix, value: /static}\n"
				 "    - path: {type: Exact, value: /login}\n"
				 "    - path: {type: Exact, value: /logout}\n"
				 "    - path: {type: PathPrefix, value: /api/v1/products}\n"
				 "    backendRefs: [{name: productpage, port: 9080}]\n---\n"
				 "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
				 "metadata: {name: secure, namespace: default}\n"
				 "spec:\n  parentRefs: [{name: bookinfo-gateway}]\n"
				 "  hostnames: [a.example.com, other.org]\n"
				 "  rules: [{backendRefs: [{name: productpage, port: "
				 "9080}]}]\n---\n"
				 "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
				 "metadata: {name: elsewhere, namespace: shop}\n"
				 "spec:\n  parentRefs: [{name: bookinfo-gateway, namespace: "
				 "default}]\n"
				 "  rules: [{backendRefs: [{name: details, port: 9080}]}]\n---\n",
		sec),
	    -1);
	build(&w, yaml);
	/* Two proxies: istio-ingressgateway (no Istio Gateway selects it: idle) and this one. */
	assert_int_equal(w.wb.b.n_gateways, 2);
	k8s = &w.wb.b.gateways[w.wb.b.gateways[0].k8s_gateways.n ? 0 : 1];
	assert_int_equal(w.wb.b.gateways[k8s == w.wb.b.gateways ? 1 : 0].k8s_gateways.n, 0);
	assert_string_equal(k8s->k8s_gateways.items[0], "default/bookinfo-gateway");
	assert_string_equal(k8s->identity,
			    "spiffe://cluster.local/ns/default/sa/bookinfo-gateway-istio");
	assert_non_null(w.l7);
	assert_int_equal(w.l7->n_listeners, 2);
	assert_int_equal(w.l7->listeners[0].port, 80);
	assert_int_equal(w.l7->listeners[0].n_certs, 0);
	assert_int_equal(w.l7->listeners[1].port, 443);
	assert_int_equal(w.l7->listeners[1].n_certs, 1);
	assert_string_equal(w.l7->listeners[1].certs[0].hosts.items[0], "*.example.com");
	assert_string_equal(w.l7->listeners[1].certs[0].cert, a.cert_pem);
	s = l7_config_service(w.l7, "bookinfo-gateway-istio.default.svc.cluster.local");
	assert_non_null(s);
	for (size_t i = 0; i < s->n_routes; i++) {
		const struct l7_route *r = &s->routes[i];

		assert_null(strstr(r->source, "elsewhere"));
		if (r->matches[0].port == 80 && r->action == L7_ACTION_ROUTE &&
		    r->matches[0].authority.type != L7_MATCH_ANY) {
			/* "secure" names no section: on http too, with both its hostnames. */
			assert_non_null(strstr(r->source, "HTTPRoute default/secure"));
			on80_hosts++;
		} else if (r->matches[0].port == 80 && r->action == L7_ACTION_ROUTE) {
			/* The sample's matches in the spec's order: Exact, longest first, then
			 * PathPrefix, longest first. */
			assert_true(on80 < 5);
			assert_string_equal(r->matches[0].path.value, order[on80]);
			assert_int_equal(r->matches[0].authority.type, L7_MATCH_ANY);
			on80++;
		} else if (r->matches[0].port == 443 && r->action == L7_ACTION_ROUTE) {
			/* Only a.example.com meets *.example.com; other.org does not. */
			assert_int_equal(r->matches[0].authority.type, L7_MATCH_REGEX);
			assert_non_null(strstr(r->matches[0].authority.value, "a\\.example"));
			assert_string_equal(r->matches[0].tls_server,
					    w.l7->listeners[1].certs[0].source);
			on443++;
		}
	}
	assert_int_equal(on80, 5);
	assert_int_equal(on80_hosts, 2);
	assert_int_equal(on443, 1);
	{
		char why[128];
		struct wp_route_table *rt = wp_route_table_new(s, why, sizeof(why));
		struct wp_request rq = {.method = "GET",
					.scheme = "http",
					.authority = "x.test:8080",
					.path = "/productpage",
					.port = 80};
		const struct l7_route *r;

		assert_non_null(rt);
		r = wp_route_select(rt, &rq);
		assert_non_null(r);
		assert_int_equal(r->action, L7_ACTION_ROUTE);
		rq.path = "/productpage/x"; /* Exact: not a prefix */
		r = wp_route_select(rt, &rq);
		assert_true(!r || r->action == L7_ACTION_NOT_FOUND);
		rq.path = "/static/a.css";
		assert_non_null(r = wp_route_select(rt, &rq));
		assert_int_equal(r->action, L7_ACTION_ROUTE);
		wp_route_table_free(rt);
	}
	{
		/* The status Istio writes, from the same attachment. */
		const struct config *cfg = w.wb.in.cfg;
		cJSON *st = l7_gwapi_gateway_status(cfg, &cfg->k8s_gateways[0], "x", NULL);
		cJSON *ls = cJSON_GetObjectItemCaseSensitive(st, "listeners");
		char *txt;

		assert_non_null(st);
		txt = cJSON_PrintUnformatted(st);
		assert_int_equal(cJSON_GetArraySize(ls), 4);
		assert_non_null(strstr(txt, "\"name\":\"http\",\"supportedKinds\":[{\"group\":"
					    "\"gateway.networking.k8s.io\",\"kind\":\"HTTPRoute\"},"
					    "{\"group\":\"gateway.networking.k8s.io\",\"kind\":"
					    "\"GRPCRoute\"}],\"attachedRoutes\":2"));
		assert_non_null(strstr(txt, "\"name\":\"https\""));
		assert_non_null(strstr(txt, "\"reason\":\"RefNotPermitted\""));
		assert_non_null(strstr(txt, "\"reason\":\"UnsupportedProtocol\""));
		assert_non_null(strstr(txt, "\"type\":\"Programmed\",\"status\":\"True\""));
		free(txt);
		cJSON_Delete(st);
		for (size_t i = 0; i < cfg->n_http_routes; i++) {
			const struct config_gw_route *r = &cfg->http_routes[i];

			st = l7_gwapi_route_status(cfg, r);
			txt = cJSON_PrintUnformatted(st);
			if (!strcmp(r->meta.name, "elsewhere"))
				assert_non_null(
				    strstr(txt, "\"reason\":\"NotAllowedByListeners\""));
			else
				assert_non_null(strstr(txt, "\"type\":\"Accepted\",\"status\":"
							    "\"True\",\"reason\":\"Accepted\""));
			free(txt);
			cJSON_Delete(st);
		}
	}
	destroy(&w);
	free(yaml);
	free(sec);
	ca_issued_free(&a);
	ca_destroy(ca);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/*
 * Istio's "Ingress gateway without TLS termination" and TCP through a gateway: a PASSTHROUGH
 * server (protocol TLS, or HTTPS as the task writes it) is a TLS listener whose tls routes
 * carry their sniHosts met with the server's hosts, most specific first (exact, longer
 * wildcards, "*"); a TCP server is a TCP listener taking the first tcp rule of its port; a port
 * is one kind as its first server; routes of other ports, other gateways, sniHosts outside the
 * server's hosts are left out; destinations keep their weights and join the model.
 */
#define PASSTHROUGH                                                                                \
	"apiVersion: networking.istio.io/v1\nkind: Gateway\n"                                      \
	"metadata: {name: pt, namespace: istio-system}\n"                                          \
	"spec:\n  selector: {istio: ingressgateway}\n  servers:\n"                                 \
	"  - port: {number: 443, name: tls, protocol: HTTPS}\n"                                    \
	"    hosts: [nginx.example.com, '*.example.org']\n"                                        \
	"    tls: {mode: PASSTHROUGH}\n"                                                           \
	"  - port: {number: 443, name: http, protocol: HTTP}\n"                                    \
	"    hosts: [x.example.com]\n"                                                             \
	"  - port: {number: 31400, name: tcp, protocol: TCP}\n    hosts: ['*']\n"                  \
	"  - port: {number: 15443, name: tls-i, protocol: TLS}\n    hosts: ['*']\n"                \
	"    tls: {mode: ISTIO_MUTUAL}\n---\n"                                                     \
	"apiVersion: networking.istio.io/v1\nkind: VirtualService\n"                               \
	"metadata: {name: nginx, namespace: default}\n"                                            \
	"spec:\n  hosts: [nginx.example.com]\n  gateways: [istio-system/pt]\n"                     \
	"  tls:\n  - match: [{port: 443, sniHosts: [nginx.example.com]}]\n"                        \
	"    route: [{destination: {host: productpage, port: {number: 9080}}}]\n---\n"             \
	"apiVersion: networking.istio.io/v1\nkind: VirtualService\n"                               \
	"metadata: {name: org, namespace: default}\n"                                              \
	"spec:\n  hosts: ['*.example.org']\n  gateways: [istio-system/pt]\n"                       \
	"  tls:\n  - match: [{port: 444, sniHosts: [b.example.org]}]\n"                            \
	"    route: [{destination: {host: productpage}}]\n"                                        \
	"  - match: [{sniHosts: ['*.example.org', a.example.org, other.com]}]\n"                   \
	"    route:\n    - {destination: {host: productpage, port: {number: 9080}}, weight: 80}\n" \
	"    - {destination: {host: details.shop.svc.cluster.local}, weight: 20}\n"                \
	"  tcp:\n  - route: [{destination: {host: productpage}}]\n---\n"                           \
	"apiVersion: networking.istio.io/v1\nkind: VirtualService\n"                               \
	"metadata: {name: echo, namespace: default}\n"                                             \
	"spec:\n  hosts: ['*']\n  gateways: [istio-system/pt]\n"                                   \
	"  tcp:\n  - match: [{port: 31401}]\n"                                                     \
	"    route: [{destination: {host: productpage, port: {number: 1}}}]\n"                     \
	"  - match: [{port: 31400}]\n"                                                             \
	"    route: [{destination: {host: details.shop.svc.cluster.local, port: {number: "         \
	"9080}}}]\n"

static void test_passthrough_and_tcp_servers(void **state)
{
	struct world w;
	const struct l7_service *s;
	const struct l7_tcp_route *t;

	build(&w, GW_POD PASSTHROUGH);
	assert_non_null(w.l7);
	/* 443 is Service port 443 (8443): TLS passthrough; the HTTP server there is not served;
	 * ISTIO_MUTUAL is not served at all. */
	assert_int_equal(w.l7->n_listeners, 2);
	assert_int_equal(w.l7->listeners[0].port, 8443);
	assert_int_equal(w.l7->listeners[0].protocol, L7_PROTO_TLS);
	assert_int_equal(w.l7->listeners[0].n_certs, 0);
	assert_int_equal(w.l7->listeners[1].port, 31400);
	assert_int_equal(w.l7->listeners[1].protocol, L7_PROTO_TCP);
	s = own(&w);
	assert_int_equal(s->n_routes, 0);
	assert_int_equal(s->n_ports, 2);
	assert_int_equal(s->ports[0].protocol, L7_PROTO_TLS);
	assert_int_equal(s->ports[1].protocol, L7_PROTO_TCP);
	/* Exact names first (oldest VirtualService first: default/nginx, then default/org), then
	 * the wildcard; other.com is outside the server's hosts, port 444 another server's. */
	assert_int_equal(s->n_tcp, 5);
	t = &s->tcp[0];
	assert_int_equal(t->port, 8443);
	assert_int_equal(t->sni_hosts.n, 1);
	assert_string_equal(t->sni_hosts.items[0], "nginx.example.com");
	assert_string_equal(t->source, "VirtualService default/nginx tls[0]");
	assert_int_equal(t->n_dests, 1);
	assert_string_equal(t->dests[0].host, "productpage.default.svc.cluster.local");
	assert_int_equal(t->dests[0].port, 9080);
	assert_int_equal(t->dests[0].weight, 100);
	assert_string_equal(s->tcp[1].sni_hosts.items[0], "a.example.org");
	assert_string_equal(s->tcp[1].source, "VirtualService default/org tls[1]");
	assert_string_equal(s->tcp[2].sni_hosts.items[0], "*.example.org");
	assert_int_equal(s->tcp[2].n_dests, 2);
	assert_int_equal(s->tcp[2].dests[0].weight, 80);
	assert_int_equal(s->tcp[2].dests[1].weight, 20);
	/* A destination without a port takes its Service's only one. */
	assert_int_equal(s->tcp[2].dests[1].port, 9080);
	/* TCP, oldest VirtualService first (here by name: echo, then org): echo's rule for
	 * 31400 (not the one for 31401), then org's rule without a match block; the first that
	 * holds takes the connection, as Istio keeps only the first. */
	t = &s->tcp[3];
	assert_int_equal(t->port, 31400);
	assert_int_equal(t->sni_hosts.n, 0);
	assert_string_equal(t->source, "VirtualService default/echo tcp[1]");
	assert_string_equal(t->dests[0].host, "details.shop.svc.cluster.local");
	assert_string_equal(s->tcp[4].source, "VirtualService default/org tcp[0]");
	assert_int_equal(s->tcp[4].port, 31400);
	/* The destinations' Services are in the model. */
	assert_non_null(l7_config_service(w.l7, "productpage.default.svc.cluster.local"));
	assert_non_null(l7_config_service(w.l7, "details.shop.svc.cluster.local"));

	/* The proxy's choice: by SNI on the TLS listener, by port on the TCP one. */
	assert_ptr_equal(wp_tcp_route_select(s, 8443, 0, "nginx.example.com"), &s->tcp[0]);
	assert_ptr_equal(wp_tcp_route_select(s, 8443, 0, "a.example.org"), &s->tcp[1]);
	assert_ptr_equal(wp_tcp_route_select(s, 8443, 0, "deep.b.example.org"), &s->tcp[2]);
	assert_null(wp_tcp_route_select(s, 8443, 0, "example.org"));
	assert_null(wp_tcp_route_select(s, 8443, 0, "unknown.example.com"));
	assert_null(wp_tcp_route_select(s, 8443, 0, NULL));
	assert_ptr_equal(wp_tcp_route_select(s, 31400, 0, NULL), &s->tcp[3]);
	assert_null(wp_tcp_route_select(s, 31401, 0, NULL));
	destroy(&w);
}

/* A port is one kind, as its first server: a TCP server after an HTTP one on 80 is not. */
static void test_port_kinds(void **state)
{
	struct world w;

	build(&w, GW_POD
	      "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
	      "metadata: {name: k, namespace: istio-system}\n"
	      "spec:\n  selector: {istio: ingressgateway}\n  servers:\n"
	      "  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ['*']\n"
	      "  - port: {number: 80, name: tcp, protocol: TCP}\n    hosts: ['*']\n"
	      "  - port: {number: 9000, name: tls, protocol: TLS}\n    hosts: ['*']\n"
	      "    tls: {mode: PASSTHROUGH}\n"
	      "  - port: {number: 9000, name: mongo, protocol: MONGO}\n    hosts: ['*']\n---\n"
	      "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
	      "metadata: {name: t, namespace: default}\n"
	      "spec:\n  hosts: ['*']\n  gateways: [istio-system/k]\n"
	      "  tls: [{match: [{sniHosts: ['*']}], route: [{destination: {host: productpage}}]}]\n"
	      "  tcp: [{route: [{destination: {host: productpage}}]}]\n");
	assert_int_equal(w.l7->n_listeners, 2);
	assert_int_equal(w.l7->listeners[0].port, 8080);
	assert_int_equal(w.l7->listeners[0].protocol, L7_PROTO_HTTP);
	assert_int_equal(w.l7->listeners[1].port, 9000);
	assert_int_equal(w.l7->listeners[1].protocol, L7_PROTO_TLS);
	/* Only the passthrough server's route: "*" takes any name, and none. */
	assert_int_equal(own(&w)->n_tcp, 1);
	assert_string_equal(own(&w)->tcp[0].sni_hosts.items[0], "*");
	assert_non_null(wp_tcp_route_select(own(&w), 9000, 0, NULL));
	assert_non_null(wp_tcp_route_select(own(&w), 9000, 0, "any.thing"));
	destroy(&w);
}

/*
 * TLSRoute and TCPRoute on a Gateway of class istio: a Passthrough TLS listener's SNI routes on
 * the hostnames where route and listener meet; a TCP listener's route; a route of a kind its
 * listener does not take is not attached (and its status says so).
 */
static void test_gateway_api_l4_routes(void **state)
{
	static const char yaml[] = GW_POD GWAPI_POD(
	    "edge",
	    "10.1.0.21") "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
			 "metadata: {name: edge, namespace: default}\n"
			 "spec:\n  gatewayClassName: istio\n  listeners:\n"
			 "  - name: tls\n    port: 8443\n    protocol: TLS\n    hostname: "
			 "'*.example.com'\n"
			 "    tls: {mode: Passthrough}\n"
			 "  - {name: tcp, port: 9000, protocol: TCP}\n---\n"
			 "apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: TLSRoute\n"
			 "metadata: {name: sni, namespace: default}\n"
			 "spec:\n  parentRefs: [{name: edge}]\n  hostnames: [a.example.com, "
			 "other.org]\n"
			 "  rules: [{backendRefs: [{name: productpage, port: 9080}]}]\n---\n"
			 "apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: TCPRoute\n"
			 "metadata: {name: raw, namespace: default}\n"
			 "spec:\n  parentRefs: [{name: edge, sectionName: tcp}]\n"
			 "  rules: [{backendRefs: [{name: productpage, port: 9080}]}]\n---\n"
			 "apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: TCPRoute\n"
			 "metadata: {name: wrong, namespace: default}\n"
			 "spec:\n  parentRefs: [{name: edge, sectionName: tls}]\n"
			 "  rules: [{backendRefs: [{name: productpage, port: 9080}]}]\n";
	struct world w;
	const struct l7_service *s;
	const struct l7_tcp_route *t;
	cJSON *st;
	char *txt;

	build(&w, yaml);
	assert_non_null(w.l7);
	assert_int_equal(w.l7->n_listeners, 2);
	assert_int_equal(w.l7->listeners[0].port, 8443);
	assert_int_equal(w.l7->listeners[0].protocol, L7_PROTO_TLS);
	assert_int_equal(w.l7->listeners[1].port, 9000);
	assert_int_equal(w.l7->listeners[1].protocol, L7_PROTO_TCP);
	s = l7_config_service(w.l7, "edge-istio.default.svc.cluster.local");
	assert_non_null(s);
	assert_int_equal(s->n_tcp, 2);
	t = wp_tcp_route_select(s, 8443, 0, "a.example.com");
	assert_non_null(t);
	assert_non_null(strstr(t->source, "TLSRoute default/sni"));
	assert_string_equal(t->dests[0].host, "productpage.default.svc.cluster.local");
	assert_int_equal(t->dests[0].port, 9080);
	assert_null(wp_tcp_route_select(s, 8443, 0, "other.org"));
	assert_null(wp_tcp_route_select(s, 8443, 0, "b.example.com"));
	t = wp_tcp_route_select(s, 9000, 0, NULL);
	assert_non_null(t);
	assert_non_null(strstr(t->source, "TCPRoute default/raw"));
	assert_non_null(l7_config_service(w.l7, "productpage.default.svc.cluster.local"));
	st = l7_gwapi_route_status(w.wb.in.cfg, &w.wb.in.cfg->tcp_routes[1]);
	txt = cJSON_PrintUnformatted(st);
	assert_non_null(strstr(txt, "\"reason\":\"NotAllowedByListeners\""));
	free(txt);
	cJSON_Delete(st);
	st = l7_gwapi_gateway_status(w.wb.in.cfg, &w.wb.in.cfg->k8s_gateways[0], "a", NULL);
	txt = cJSON_PrintUnformatted(st);
	assert_non_null(strstr(txt, "\"name\":\"tls\",\"supportedKinds\":[{\"group\":"
				    "\"gateway.networking.k8s.io\",\"kind\":\"TLSRoute\"}],"
				    "\"attachedRoutes\":1"));
	assert_non_null(strstr(txt, "\"name\":\"tcp\",\"supportedKinds\":[{\"group\":"
				    "\"gateway.networking.k8s.io\",\"kind\":\"TCPRoute\"}],"
				    "\"attachedRoutes\":1"));
	free(txt);
	cJSON_Delete(st);
	destroy(&w);
}

/*
 * A class istio Gateway's address as Istio's controller writes it: its Service's balancer
 * address (status.loadBalancer.ingress, as the API server holds it) with type IPAddress, else
 * the Service's hostname; a status without an IP (pending, a hostname) is no address.
 */
static void test_gateway_address(void **state)
{
	static const char gw[] = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
				 "metadata: {name: edge, namespace: default}\n"
				 "spec:\n  gatewayClassName: istio\n  listeners:\n"
				 "  - {name: http, port: 80, protocol: HTTP}\n";
	static const char svc[] =
	    "---\napiVersion: v1\nkind: Service\nmetadata: {name: edge-istio, namespace: default}\n"
	    "spec: {type: LoadBalancer, ports: [{port: 80}]}\n"
	    "status: {loadBalancer: {ingress: [%s]}, conditions: []}\n";
	const char *const ingress[] = {"{ip: 172.30.1.100, ipMode: VIP}, {ip: 'fd00:30::1:100'}",
				       "{hostname: lb.example.com}", ""};
	const char *const want[] = {"172.30.1.100", "edge-istio.default.svc.cluster.local",
				    "edge-istio.default.svc.cluster.local"};
	const char *const type[] = {"IPAddress", "Hostname", "Hostname"};

	for (size_t i = 0; i < 3; i++) {
		struct config_diags diags = {0};
		struct config cfg;
		char *yaml, addr[128], *txt, line[160];
		cJSON *st;

		assert_int_not_equal(asprintf(&yaml, "%s%s", gw, svc), -1);
		txt = yaml;
		assert_int_not_equal(asprintf(&yaml, txt, ingress[i]), -1);
		free(txt);
		config_init(&cfg);
		assert_int_equal(config_load_buffer(&cfg, "g.yaml", yaml, strlen(yaml), &diags), 0);
		assert_int_equal(cfg.services[0].lb_ingress.n, i == 0 ? 2 : 0);
		l7_gwapi_gateway_address(&cfg, &cfg.k8s_gateways[0], addr, sizeof(addr));
		assert_string_equal(addr, want[i]);
		st = l7_gwapi_gateway_status(&cfg, &cfg.k8s_gateways[0], addr, NULL);
		txt = cJSON_PrintUnformatted(st);
		snprintf(line, sizeof(line), "\"addresses\":[{\"type\":\"%s\",\"value\":\"%s\"}]",
			 type[i], want[i]);
		assert_non_null(strstr(txt, line));
		free(txt);
		cJSON_Delete(st);
		config_diags_free(&diags);
		config_free(&cfg);
		free(yaml);
	}
}

/* tls.httpsRedirect: every request on the server's hosts gets a 301 to https, VS or not. */
static void test_https_redirect(void **state)
{
	struct world w;
	const struct l7_service *s;

	build(&w, GW_POD "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
			 "metadata: {name: pub, namespace: istio-system}\n"
			 "spec:\n  selector: {istio: ingressgateway}\n"
			 "  servers:\n"
			 "  - port: {number: 80, name: http, protocol: HTTP}\n"
			 "    hosts: ['shop.example.com']\n    tls: {httpsRedirect: true}\n---\n"
			 "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
			 "metadata: {name: d, namespace: shop}\n"
			 "spec:\n  hosts: ['shop.example.com']\n  gateways: [istio-system/pub]\n"
			 "  http: [{route: [{destination: {host: details}}]}]\n");
	assert_non_null(w.l7);
	assert_int_equal(w.l7->n_listeners, 1);
	assert_int_equal(w.l7->listeners[0].port, 8080);
	s = own(&w);
	/* The redirect, then the end of the virtual host: the VirtualService is never reached. */
	assert_int_equal(s->n_routes, 2);
	assert_int_equal(s->routes[0].action, L7_ACTION_REDIRECT);
	assert_string_equal(s->routes[0].redirect.scheme, "https");
	assert_int_equal(s->routes[0].redirect.code, 301);
	assert_true(s->routes[0].redirect.keep_query);
	assert_string_equal(s->routes[0].matches[0].authority.value,
			    "(?i)shop\\.example\\.com(:[0-9]+)?");
	assert_int_equal(s->routes[1].action, L7_ACTION_NOT_FOUND);
	destroy(&w);
}

/*
 * Policies at a gateway: by selector on its pods in its namespace, or mesh-wide from the root
 * namespace; not another namespace's, not another selector's, not targetRefs ones.
 */
static void test_selector_policies(void **state)
{
	struct world w;
	const struct l7_service *s;

	build(&w, GW_POD BOOKINFO
	      "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
	      "metadata: {name: by-selector, namespace: istio-system}\n"
	      "spec: {selector: {matchLabels: {istio: ingressgateway}}, action: DENY,"
	      " rules: [{from: [{source: {remoteIpBlocks: [203.0.113.0/24]}}]}]}\n---\n"
	      "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
	      "metadata: {name: other-selector, namespace: istio-system}\n"
	      "spec: {selector: {matchLabels: {app: nope}}, action: DENY, rules: [{}]}\n---\n"
	      "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
	      "metadata: {name: other-ns, namespace: default}\n"
	      "spec: {action: DENY, rules: [{}]}\n---\n"
	      "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
	      "metadata: {name: by-ref, namespace: default}\n"
	      "spec:\n  targetRefs: [{kind: Service, group: '', name: productpage}]\n"
	      "  action: DENY\n  rules: [{}]\n---\n"
	      "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n"
	      "metadata: {name: jwt, namespace: istio-system}\n"
	      "spec:\n  selector: {matchLabels: {istio: ingressgateway}}\n"
	      "  jwtRules: [{issuer: https://issuer.example.com, jwks: '{\"keys\":[]}'}]\n");
	assert_non_null(w.l7);
	s = own(&w);
	assert_int_equal(w.l7->n_authz, 1);
	assert_string_equal(w.l7->authz[0].name, "istio-system/by-selector");
	assert_int_equal(s->n_authz, 1);
	assert_int_equal(w.l7->n_jwt, 1);
	assert_int_equal(s->n_jwt, 1);
	/* The destination's own policy is its waypoint's or ztunnel's, not the gateway's. */
	assert_int_equal(l7_config_service(w.l7, "productpage.default.svc.cluster.local")->n_authz,
			 0);
	destroy(&w);
}

static void test_json_round_trip_and_refusals(void **state)
{
	struct world w;
	struct l7_config *back;
	cJSON *j, *l;
	char err[256], *a, *b;

	build(&w, GW_POD BOOKINFO);
	j = l7_to_json(w.l7);
	assert_non_null(j);
	back = l7_from_json(j, err, sizeof(err));
	assert_non_null(back);
	assert_true(back->gateway);
	assert_int_equal(back->n_listeners, 1);
	a = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	j = l7_to_json(back);
	b = cJSON_PrintUnformatted(j);
	assert_string_equal(a, b);
	free(a);
	free(b);
	l7_config_free(back);

	/* A listener naming no service of the model. */
	l = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "listeners"), 0);
	cJSON_ReplaceItemInObject(l, "service", cJSON_CreateString("nope.svc"));
	assert_null(l7_from_json(j, err, sizeof(err)));
	assert_non_null(strstr(err, "l7.listeners[0].service"));
	/* Listeners on a waypoint's model. */
	cJSON_ReplaceItemInObject(j, "gateway", cJSON_CreateFalse());
	assert_null(l7_from_json(j, err, sizeof(err)));
	assert_non_null(strstr(err, "only a gateway has listeners"));
	cJSON_Delete(j);
	destroy(&w);
}

/*
 * Reviews behind a waypoint (VIP 10.96.0.20, waypoint rv-wp with one instance 10.1.0.30),
 * routed to by the gateway; @svc_labels and @ns_labels are the Service's and its namespace's.
 */
#define USE_WP(svc_labels, ns_labels)                                                              \
	"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"                               \
	"  labels: {istio.io/dataplane-mode: ambient, " ns_labels "}\n---\n"                       \
	"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n"                     \
	"  name: rv-wp\n  namespace: shop\n"                                                       \
	"  annotations: {gateway.istio.io/service-account: rv-wp-sa}\n"                            \
	"spec:\n  gatewayClassName: istio-waypoint\n"                                              \
	"  listeners: [{name: mesh, port: 15008, protocol: HBONE}]\n---\n"                         \
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: rv-wp-0\n  namespace: shop\n"               \
	"  labels: {gateway.networking.k8s.io/gateway-name: rv-wp}\n"                              \
	"spec: {containers: [{name: c}]}\nstatus: {podIP: 10.1.0.30}\n---\n"                       \
	"apiVersion: v1\nkind: Service\nmetadata:\n  name: reviews\n  namespace: shop\n"           \
	"  labels: {" svc_labels "}\n"                                                             \
	"spec:\n  clusterIP: 10.96.0.20\n  selector: {app: reviews}\n"                             \
	"  ports: [{name: http, port: 9080, targetPort: 9090}]\n---\n"                             \
	"apiVersion: v1\nkind: Pod\nmetadata:\n  name: reviews-0\n  namespace: shop\n"             \
	"  labels: {app: reviews, version: v1}\n"                                                  \
	"spec: {serviceAccountName: reviews-sa, containers: [{name: c}]}\n"                        \
	"status: {podIP: 10.1.0.21}\n---\n"                                                        \
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"                              \
	"metadata: {name: reviews, namespace: shop}\n"                                             \
	"spec:\n  host: reviews.shop.svc.cluster.local\n"                                          \
	"  subsets: [{name: v1, labels: {version: v1}}]\n---\n"                                    \
	"apiVersion: networking.istio.io/v1\nkind: Gateway\n"                                      \
	"metadata: {name: shop-gateway, namespace: shop}\n"                                        \
	"spec:\n  selector: {istio: ingressgateway}\n"                                             \
	"  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ['*']}]\n---\n"     \
	"apiVersion: networking.istio.io/v1\nkind: VirtualService\n"                               \
	"metadata: {name: shop, namespace: shop}\n"                                                \
	"spec:\n  hosts: ['*']\n  gateways: [shop-gateway]\n"                                      \
	"  http: [{route: [{destination: {host: reviews, subset: v1}}]}]\n---\n"

static const struct l7_service *reviews_of(const struct world *w)
{
	const struct l7_service *s = l7_config_service(w->l7, "reviews.shop.svc.cluster.local");

	assert_non_null(s);
	return s;
}

/* The destination goes through waypoint rv-wp: its VIP as the one endpoint, tunnelled. */
static void assert_via_waypoint(const struct world *w)
{
	const struct l7_service *s = reviews_of(w);
	const struct l7_tunnel *t;
	char ip[INET_ADDRSTRLEN];

	assert_non_null(s->via_waypoint);
	assert_string_equal(s->via_waypoint, "shop/rv-wp");
	assert_int_equal(s->n_endpoints, 1);
	assert_int_equal(s->endpoints[0].ip, s->vip);
	assert_string_equal(inet_ntop(AF_INET, &s->vip, ip, sizeof(ip)), "10.96.0.20");
	assert_int_equal(s->endpoints[0].ports[0], 9080); /* the service port, not 9090 */
	assert_string_equal(s->endpoints[0].identity, "spiffe://cluster.local/ns/shop/sa/rv-wp-sa");
	assert_string_equal(s->endpoints[0].pod, "shop/rv-wp");
	/* A subset is the waypoint's to choose: the gateway sends it to the waypoint too. */
	assert_int_equal(s->n_subsets, 1);
	assert_int_equal(s->subsets[0].n_endpoints, 1);
	assert_int_equal(s->subsets[0].endpoints[0], 0);
	assert_int_equal(w->l7->n_tunnels, 1);
	t = l7_config_tunnel(w->l7, s->vip);
	assert_non_null(t);
	assert_string_equal(t->waypoint, "shop/rv-wp");
	assert_int_equal(t->n_ips, 1);
	assert_string_equal(inet_ntop(AF_INET, &t->ips[0], ip, sizeof(ip)), "10.1.0.30");
}

static void assert_direct(const struct world *w)
{
	const struct l7_service *s = reviews_of(w);
	char ip[INET_ADDRSTRLEN];

	assert_null(s->via_waypoint);
	assert_int_equal(s->n_endpoints, 1);
	assert_string_equal(inet_ntop(AF_INET, &s->endpoints[0].ip, ip, sizeof(ip)), "10.1.0.21");
	assert_int_equal(s->endpoints[0].ports[0], 9090);
	assert_string_equal(s->endpoints[0].identity,
			    "spiffe://cluster.local/ns/shop/sa/reviews-sa");
	assert_int_equal(w->l7->n_tunnels, 0);
	assert_null(l7_config_tunnel(w->l7, s->vip));
}

static void test_ingress_use_waypoint(void **state)
{
	struct world w;

	/* On the Service. */
	build(&w, GW_POD USE_WP("istio.io/use-waypoint: rv-wp, istio.io/ingress-use-waypoint: "
				"'true'",
				""));
	assert_via_waypoint(&w);
	destroy(&w);
	/* On its namespace, the Service bound by its own label. */
	build(&w, GW_POD USE_WP("istio.io/use-waypoint: rv-wp",
				"istio.io/ingress-use-waypoint: 'true'"));
	assert_via_waypoint(&w);
	destroy(&w);
	/* The Service's own label beats its namespace's. */
	build(&w, GW_POD USE_WP("istio.io/use-waypoint: rv-wp, istio.io/ingress-use-waypoint: "
				"'false'",
				"istio.io/ingress-use-waypoint: 'true'"));
	assert_direct(&w);
	destroy(&w);
	/* The label without a waypoint binding: straight to the pods, as before. */
	build(&w, GW_POD USE_WP("istio.io/ingress-use-waypoint: 'true'", ""));
	assert_direct(&w);
	destroy(&w);
	/* Bound, without the label: the gateway does not use the waypoint. */
	build(&w, GW_POD USE_WP("istio.io/use-waypoint: rv-wp", ""));
	assert_direct(&w);
	destroy(&w);
}

/* No instance of the waypoint: no endpoint (503, no healthy upstream), never the pods. */
static void test_ingress_use_waypoint_unreachable(void **state)
{
	struct world w;
	char *yaml = strdup(GW_POD USE_WP("istio.io/use-waypoint: rv-wp, "
					  "istio.io/ingress-use-waypoint: 'true'",
					  ""));
	char *pod = strstr(yaml, "{podIP: 10.1.0.30}");
	const struct l7_service *s;

	assert_non_null(pod);
	memcpy(pod, "{}                ", strlen("{podIP: 10.1.0.30}")); /* not running */
	build(&w, yaml);
	s = reviews_of(&w);
	assert_string_equal(s->via_waypoint, "shop/rv-wp");
	assert_int_equal(s->n_endpoints, 0);
	assert_int_equal(s->subsets[0].n_endpoints, 0);
	assert_int_equal(w.l7->n_tunnels, 0);
	destroy(&w);
	free(yaml);
}

static void test_ingress_use_waypoint_json(void **state)
{
	struct world w;
	struct l7_config *back;
	cJSON *j, *t;
	char err[256], *a, *b;

	build(&w, GW_POD USE_WP("istio.io/use-waypoint: rv-wp, istio.io/ingress-use-waypoint: "
				"'true'",
				""));
	j = l7_to_json(w.l7);
	back = l7_from_json(j, err, sizeof(err));
	assert_non_null(back);
	assert_int_equal(back->n_tunnels, 1);
	assert_string_equal(l7_config_service(back, "reviews.shop.svc.cluster.local")->via_waypoint,
			    "shop/rv-wp");
	a = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	j = l7_to_json(back);
	b = cJSON_PrintUnformatted(j);
	assert_string_equal(a, b);
	free(a);
	free(b);
	l7_config_free(back);
	/* Refused: a VIP twice, an address that is none, an unknown member. */
	t = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "tunnels"), 0);
	cJSON_AddItemToArray(cJSON_GetObjectItem(j, "tunnels"), cJSON_Duplicate(t, true));
	assert_null(l7_from_json(j, err, sizeof(err)));
	assert_non_null(strstr(err, "l7.tunnels[1].vip: listed twice"));
	cJSON_DeleteItemFromArray(cJSON_GetObjectItem(j, "tunnels"), 1);
	cJSON_ReplaceItemInArray(cJSON_GetObjectItem(t, "ips"), 0, cJSON_CreateString("x"));
	assert_null(l7_from_json(j, err, sizeof(err)));
	assert_non_null(strstr(err, "l7.tunnels[0].ips[0]"));
	cJSON_AddStringToObject(t, "extra", "1");
	assert_null(l7_from_json(j, err, sizeof(err)));
	assert_non_null(strstr(err, "extra"));
	cJSON_Delete(j);
	destroy(&w);
}

/* @yaml with each of @n (from, to) pairs replaced once (each must be there). Freed by the caller.
 */
static char *rewrite(const char *yaml, const char *const (*pairs)[2], size_t n)
{
	char *s = strdup(yaml);

	assert_non_null(s);
	for (size_t i = 0; i < n; i++) {
		char *at = strstr(s, pairs[i][0]), *next;

		assert_non_null(at);
		assert_true(asprintf(&next, "%.*s%s%s", (int)(at - s), s, pairs[i][1],
				     at + strlen(pairs[i][0])) > 0);
		free(s);
		s = next;
	}
	return s;
}

/*
 * Reviews of IPv6 alone (an IPv6-only cluster's Service and pods), then of both families: the
 * pseudo-endpoint carries each VIP whose family the waypoint has instances of, and the tunnel
 * each with that family's instances; the JSON carries vip6 and ips6 (an IPv6-only tunnel's vip
 * is 0.0.0.0) and refuses an IPv6 VIP twice, an ips6 entry that is no IPv6 address, and a
 * tunnel of no VIP at all.
 */
static void test_ingress_use_waypoint_ipv6(void **state)
{
	static const char *const six[][2] = {
	    {"clusterIP: 10.96.0.20", "ipFamilies: [IPv6]\n  clusterIP: 'fd00:96::20'\n"
				      "  clusterIPs: ['fd00:96::20']"},
	    {"{podIP: 10.1.0.30}", "{podIP: 'fd00:10::30', podIPs: [{ip: 'fd00:10::30'}]}"},
	    {"{podIP: 10.1.0.21}", "{podIP: 'fd00:10::21', podIPs: [{ip: 'fd00:10::21'}]}"}};
	static const char *const dual[][2] = {
	    {"clusterIP: 10.96.0.20", "clusterIP: 10.96.0.20\n"
				      "  clusterIPs: [10.96.0.20, 'fd00:96::20']"},
	    {"{podIP: 10.1.0.30}", "{podIP: 10.1.0.30, podIPs: [{ip: 10.1.0.30}, {ip: "
				   "'fd00:10::30'}]}"}};
	char *yaml = rewrite(GW_POD USE_WP("istio.io/use-waypoint: rv-wp, "
					   "istio.io/ingress-use-waypoint: 'true'",
					   ""),
			     six, 3);
	char err[256], txt[IPADDR_STRLEN];
	const struct l7_service *s;
	const struct l7_tunnel *t;
	struct l7_config *back;
	struct world w;
	cJSON *j, *o;

	build(&w, yaml);
	s = reviews_of(&w);
	assert_string_equal(s->via_waypoint, "shop/rv-wp");
	assert_int_equal(s->vip, 0);
	assert_int_equal(s->n_endpoints, 1);
	assert_int_equal(s->endpoints[0].ip, 0);
	assert_string_equal(ipaddr_format(&s->endpoints[0].ip6, txt, sizeof(txt)), "fd00:96::20");
	assert_string_equal(s->endpoints[0].identity, "spiffe://cluster.local/ns/shop/sa/rv-wp-sa");
	assert_int_equal(w.l7->n_tunnels, 1);
	assert_null(l7_config_tunnel(w.l7, 0));
	t = l7_config_tunnel6(w.l7, &s->vip6);
	assert_non_null(t);
	assert_int_equal(t->vip, 0);
	assert_int_equal(t->n_ips, 0);
	assert_int_equal(t->n_ips6, 1);
	assert_string_equal(ipaddr_format(&t->ips6[0], txt, sizeof(txt)), "fd00:10::30");
	/* The JSON and back. */
	j = l7_to_json(w.l7);
	o = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "tunnels"), 0);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "vip")), "0.0.0.0");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(o, "vip6")), "fd00:96::20");
	back = l7_from_json(j, err, sizeof(err));
	if (!back)
		fail_msg("%s", err);
	t = l7_config_tunnel6(back, &s->vip6);
	assert_non_null(t);
	assert_int_equal(t->n_ips6, 1);
	assert_string_equal(ipaddr_format(&t->ips6[0], txt, sizeof(txt)), "fd00:10::30");
	l7_config_free(back);
	/* Refused: the IPv6 VIP twice, an ips6 entry of IPv4, no VIP of either family. */
	cJSON_AddItemToArray(cJSON_GetObjectItem(j, "tunnels"), cJSON_Duplicate(o, true));
	assert_null(l7_from_json(j, err, sizeof(err)));
	assert_non_null(strstr(err, "l7.tunnels[1].vip6: listed twice"));
	cJSON_DeleteItemFromArray(cJSON_GetObjectItem(j, "tunnels"), 1);
	cJSON_ReplaceItemInArray(cJSON_GetObjectItem(o, "ips6"), 0,
				 cJSON_CreateString("10.1.0.30"));
	assert_null(l7_from_json(j, err, sizeof(err)));
	assert_non_null(strstr(err, "l7.tunnels[0].ips6[0]: expected an IPv6 address"));
	cJSON_ReplaceItemInArray(cJSON_GetObjectItem(o, "ips6"), 0, cJSON_CreateString("fd00::1"));
	cJSON_DeleteItemFromObject(o, "vip6");
	assert_null(l7_from_json(j, err, sizeof(err)));
	assert_non_null(strstr(err, "l7.tunnels[0].vip: 0.0.0.0 and no vip6"));
	cJSON_Delete(j);
	destroy(&w);
	free(yaml);

	/* Both families: one tunnel, each VIP to its family's instance. */
	yaml = rewrite(GW_POD USE_WP("istio.io/use-waypoint: rv-wp, "
				     "istio.io/ingress-use-waypoint: 'true'",
				     ""),
		       dual, 2);
	build(&w, yaml);
	s = reviews_of(&w);
	assert_string_equal(inet_ntop(AF_INET, &s->endpoints[0].ip, txt, sizeof(txt)),
			    "10.96.0.20");
	assert_string_equal(ipaddr_format(&s->endpoints[0].ip6, txt, sizeof(txt)), "fd00:96::20");
	assert_int_equal(w.l7->n_tunnels, 1);
	t = l7_config_tunnel(w.l7, s->vip);
	assert_ptr_equal(t, l7_config_tunnel6(w.l7, &s->vip6));
	assert_int_equal(t->n_ips, 1);
	assert_string_equal(inet_ntop(AF_INET, &t->ips[0], txt, sizeof(txt)), "10.1.0.30");
	assert_int_equal(t->n_ips6, 1);
	assert_string_equal(ipaddr_format(&t->ips6[0], txt, sizeof(txt)), "fd00:10::30");
	destroy(&w);
	free(yaml);
}

/*
 * The mesh config's gatewayTopology.proxyProtocol: every listener of the gateway reads a PROXY
 * header; the flag survives the JSON round trip, and the decoder takes only a boolean.
 */
#define MESH_PP                                                                                    \
	"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\n"      \
	"data:\n  mesh: |\n    defaultConfig:\n      gatewayTopology: {proxyProtocol: {}}\n---\n"

static void test_proxy_protocol(void **state)
{
	struct world w;
	struct l7_config *back;
	cJSON *j, *l;
	char err[256];

	build(&w, GW_POD BOOKINFO);
	assert_false(w.l7->listeners[0].proxy_protocol);
	destroy(&w);
	build(&w, MESH_PP GW_POD BOOKINFO);
	assert_int_equal(w.l7->n_listeners, 1);
	assert_true(w.l7->listeners[0].proxy_protocol);
	j = l7_to_json(w.l7);
	back = l7_from_json(j, err, sizeof(err));
	assert_non_null(back);
	assert_true(back->listeners[0].proxy_protocol);
	l7_config_free(back);
	l = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "listeners"), 0);
	cJSON_ReplaceItemInObject(l, "proxyProtocol", cJSON_CreateString("yes"));
	assert_null(l7_from_json(j, err, sizeof(err)));
	assert_non_null(strstr(err, "l7.listeners[0].proxyProtocol"));
	cJSON_Delete(j);
	destroy(&w);
	/* ProxyProtocol has no field: one is an error of the mesh config. */
	assert_int_not_equal(
	    l7_world_bind(&w.wb,
			  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, "
			  "namespace: istio-system}\ndata:\n  mesh: |\n"
			  "    defaultConfig:\n      gatewayTopology:\n"
			  "        proxyProtocol: {version: 2}\n---\n" GW_POD BOOKINFO,
			  err, sizeof(err)),
	    0);
	l7_world_unbind(&w.wb);
}

/*
 * tls.cipherSuites as Istio's validation and FilterCipherSuites take them: a name Istio does
 * not know (an IANA name, a TLS 1.3 suite, a typo) and a repeat are warnings, dropped; the
 * rest kept in order, expressions ("!X") passed on.
 */
static void test_cipher_suites_validation(void **state)
{
	static const char yaml[] =
	    "apiVersion: networking.istio.io/v1\nkind: Gateway\n"
	    "metadata: {name: gw, namespace: istio-system}\n"
	    "spec:\n  selector: {istio: ingressgateway}\n  servers:\n"
	    "  - port: {number: 443, name: https, protocol: HTTPS}\n"
	    "    hosts: [a.example.com]\n"
	    "    tls:\n      mode: SIMPLE\n      credentialName: a-cred\n"
	    "      cipherSuites: [ECDHE-RSA-AES256-GCM-SHA384, TLS_AES_128_GCM_SHA256,\n"
	    "        ECDHE-RSA-AES256-GCM-SHA384, NOT-A-SUITE, '!aNULL', AES128-SHA,\n"
	    "        TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n";
	struct config cfg;
	struct config_diags d = {0};
	const struct config_strings *cs;
	char msg[512];
	bool invalid = false, dup = false;

	config_init(&cfg);
	assert_int_equal(config_load_buffer(&cfg, "gw.yaml", yaml, strlen(yaml), &d), 0);
	assert_int_equal(cfg.n_gateways, 1);
	cs = &cfg.gateways[0].servers[0].cipher_suites;
	assert_int_equal(cs->n, 3);
	assert_string_equal(cs->items[0], "ECDHE-RSA-AES256-GCM-SHA384");
	assert_string_equal(cs->items[1], "!aNULL");
	assert_string_equal(cs->items[2], "AES128-SHA");
	assert_int_equal(d.n, 2);
	for (size_t i = 0; i < d.n; i++) {
		assert_false(d.items[i].error);
		config_diag_format(&d.items[i], msg, sizeof(msg));
		invalid |= strstr(msg, "ignoring invalid cipher suites: [NOT-A-SUITE "
				       "TLS_AES_128_GCM_SHA256 "
				       "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]") != NULL;
		dup |= strstr(msg, "ignoring duplicate cipher suites: "
				   "[ECDHE-RSA-AES256-GCM-SHA384]") != NULL;
	}
	assert_true(invalid);
	assert_true(dup);
	config_diags_free(&d);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_proxy_of_selected_pods),
	    cmocka_unit_test(test_listeners_and_routes),
	    cmocka_unit_test(test_port_translation_and_hosts),
	    cmocka_unit_test(test_suffix_wildcard_host),
	    cmocka_unit_test(test_https_redirect),
	    cmocka_unit_test(test_https_servers),
	    cmocka_unit_test(test_cipher_suites_validation),
	    cmocka_unit_test(test_mesh_and_optional_mutual),
	    cmocka_unit_test(test_gateway_api_class_istio),
	    cmocka_unit_test(test_gateway_api_reference_grant),
	    cmocka_unit_test(test_gateway_api_invalid_backends),
	    cmocka_unit_test(test_gateway_api_backend_judged_once),
	    cmocka_unit_test(test_gateway_api_l4_routes),
	    cmocka_unit_test(test_selector_policies),
	    cmocka_unit_test(test_json_round_trip_and_refusals),
	    cmocka_unit_test(test_passthrough_and_tcp_servers),
	    cmocka_unit_test(test_port_kinds),
	    cmocka_unit_test(test_ingress_use_waypoint),
	    cmocka_unit_test(test_ingress_use_waypoint_unreachable),
	    cmocka_unit_test(test_ingress_use_waypoint_json),
	    cmocka_unit_test(test_ingress_use_waypoint_ipv6),
	    cmocka_unit_test(test_proxy_protocol),
	    cmocka_unit_test(test_gateway_address),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
