// SPDX-License-Identifier: Apache-2.0
/*
 * Tests for the CA server's decisions (userspace/control/caserver.c, caserver_decide): a request
 * is signed only for a token of the agents' service account bound to a node, and only for a pod
 * scheduled on that node, with the pod's service account as the identity. The gateways'
 * credentials (cacreds.c): a gateway pod is served only the kubernetes.io/tls Secrets its own
 * Gateway names, another namespace's only by a ReferenceGrant, and its own namespace's named by
 * the DestinationRules that apply to it (TLS origination); the waypoint controller learns
 * whether a certificateRef is servable, not what it holds (and wpstatus.c takes that answer).
 * The wire (TLS, the API server, the agent's request) is t_93's.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <cmocka.h>

#include "ambit/ca.h"
#include "ambit/l7.h"
#include "control/caserver.h"
#include "tls/crypto.h"
#include "control/wpstatus.h"

#define REVIEW(auth, user, extra)                                                                  \
	"{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\",\"status\":{"       \
	"\"authenticated\":" auth ",\"user\":{\"username\":\"" user "\",\"extra\":{" extra "}}}}"
#define NODE1 "\"authentication.kubernetes.io/node-name\":[\"node1\"]"
#define AGENT "system:serviceaccount:ambit-system:ambit-node"
#define POD(node, sa)                                                                              \
	"{\"metadata\":{\"name\":\"p\",\"namespace\":\"shop\"},\"spec\":{\"nodeName\":\"" node     \
	"\"" sa "}}"

static int decide(const char *review, const char *pod, char *id, char *why)
{
	cJSON *r = cJSON_Parse(review), *p = pod ? cJSON_Parse(pod) : NULL;
	int st;

	assert_non_null(r);
	st = caserver_decide(r, p, "shop/p", "ambit-system/ambit-node", "cluster.local", id, 600,
			     why, 512);
	cJSON_Delete(r);
	cJSON_Delete(p);
	return st;
}

static void test_decide(void **state)
{
	char id[600], why[512];

	assert_int_equal(decide(REVIEW("true", AGENT, NODE1),
				POD("node1", ",\"serviceAccountName\":\"web\""), id, why),
			 0);
	assert_string_equal(id, "spiffe://cluster.local/ns/shop/sa/web");
	/* No service account named: the namespace's default. */
	assert_int_equal(decide(REVIEW("true", AGENT, NODE1), POD("node1", ""), id, why), 0);
	assert_string_equal(id, "spiffe://cluster.local/ns/shop/sa/default");
	/* A pod of another node: a compromised node cannot mint its identity. */
	assert_int_equal(decide(REVIEW("true", AGENT, NODE1), POD("node2", ""), id, why), 403);
	assert_non_null(strstr(why, "pod shop/p runs on node2, not on the requesting node node1"));
	assert_int_equal(decide(REVIEW("true", AGENT, NODE1), NULL, id, why), 403);
	assert_non_null(strstr(why, "no pod shop/p"));
	/* Not the agents' account; a token bound to no node; no valid token. */
	assert_int_equal(decide(REVIEW("true", "system:serviceaccount:shop:web", NODE1),
				POD("node1", ""), id, why),
			 403);
	assert_non_null(strstr(why, "is not the node agents' service account"));
	assert_int_equal(decide(REVIEW("true", AGENT, ""), POD("node1", ""), id, why), 403);
	assert_non_null(strstr(why, "bound to no node"));
	assert_int_equal(decide(REVIEW("false", "", ""), POD("node1", ""), id, why), 401);
	assert_int_equal(decide("{}", POD("node1", ""), id, why), 401);
}

#define GW_POD(labels)                                                                             \
	"{\"metadata\":{\"name\":\"gw-istio-0\",\"namespace\":\"shop\",\"labels\":{" labels        \
	"}},\"spec\":{\"nodeName\":\"node1\"}}"
#define GW_LABEL "\"gateway.networking.k8s.io/gateway-name\":\"gw\""
#define GATEWAY(ns)                                                                                \
	"{\"metadata\":{\"name\":\"gw\",\"namespace\":\"" ns "\"},\"spec\":{\"listeners\":["       \
	"{\"name\":\"a\",\"tls\":{\"certificateRefs\":[{\"name\":\"own\"},"                        \
	"{\"name\":\"far\",\"namespace\":\"certs\"},{\"name\":\"own\",\"kind\":\"Secret\"}]}},"    \
	"{\"name\":\"b\",\"tls\":{\"certificateRefs\":[{\"name\":\"x\",\"group\":\"acme.io\","     \
	"\"kind\":\"Vault\"},{\"name\":\"root\",\"namespace\":\"ambit-system\"}]}},"               \
	"{\"name\":\"plain\"}]}}"

/* The refs gateway pod @pod gets from Gateway @gw and Istio Gateways @istio, as text. */
static void refs_of(const char *pod, const char *gw, const char *istio, char *out)
{
	cJSON *p = cJSON_Parse(pod), *g = gw ? cJSON_Parse(gw) : NULL,
	      *ig = istio ? cJSON_Parse(istio) : NULL, *refs = cJSON_CreateArray(), *r;

	assert_int_equal(caserver_gateway_refs(p, g, refs), 0);
	assert_int_equal(caserver_istio_refs(p, ig, refs), 0);
	out[0] = '\0';
	cJSON_ArrayForEach(r, refs)
	{
		strcat(out, cJSON_GetStringValue(cJSON_GetObjectItem(r, "namespace")));
		strcat(out, "/");
		strcat(out, cJSON_GetStringValue(cJSON_GetObjectItem(r, "name")));
		strcat(out, " ");
	}
	cJSON_Delete(p);
	cJSON_Delete(g);
	cJSON_Delete(ig);
	cJSON_Delete(refs);
}

#define ISTIO_GWS                                                                                  \
	"[{\"metadata\":{\"name\":\"i\",\"namespace\":\"web\"},\"spec\":{\"selector\":{\"istio\":" \
	"\"ingressgateway\"},\"servers\":[{\"tls\":{\"mode\":\"SIMPLE\",\"credentialName\":"       \
	"\"ic\"}},"                                                                                \
	"{\"tls\":{\"mode\":\"MUTUAL\",\"credentialName\":\"mc\"}},{\"tls\":{\"mode\":"            \
	"\"ISTIO_MUTUAL\"}}]}},{\"metadata\":{\"name\":\"j\",\"namespace\":\"web\"},\"spec\":{"    \
	"\"selector\":{\"istio\":\"egressgateway\"},\"servers\":[{\"tls\":{\"credentialName\":"    \
	"\"e\"}}]}}]"

/*
 * A gateway pod gets its own Gateway's certificateRefs (core Secrets, each once) and the
 * credentialNames of the Istio Gateways selecting it, in its namespace.
 */
static void test_gateway_refs(void **state)
{
	char out[512];
	cJSON *p;

	refs_of(GW_POD(GW_LABEL), GATEWAY("shop"), NULL, out);
	assert_string_equal(out, "shop/own certs/far ambit-system/root ");
	/* Its label names a Gateway that does not exist, or one of another namespace. */
	refs_of(GW_POD(GW_LABEL), NULL, NULL, out);
	assert_string_equal(out, "");
	refs_of(GW_POD(GW_LABEL), GATEWAY("other"), NULL, out);
	assert_string_equal(out, "");
	/* Istio's: the Gateway i selects the pod (in another namespace), j does not. */
	refs_of(GW_POD("\"istio\":\"ingressgateway\""), NULL, ISTIO_GWS, out);
	assert_string_equal(out, "shop/ic shop/mc shop/mc-cacert ");
	refs_of(GW_POD(GW_LABEL), GATEWAY("shop"), ISTIO_GWS, out);
	assert_string_equal(out, "shop/own certs/far ambit-system/root ");
	/* Only a gateway's pod is served at all. */
	p = cJSON_Parse(GW_POD("\"app\":\"web\""));
	assert_false(caserver_gateway_pod(p));
	cJSON_Delete(p);
	p = cJSON_Parse(GW_POD("\"istio\":\"egressgateway\""));
	assert_true(caserver_gateway_pod(p));
	cJSON_Delete(p);
	p = cJSON_Parse(GW_POD(GW_LABEL));
	assert_true(caserver_gateway_pod(p));
	cJSON_Delete(p);
}

#define DRS                                                                                        \
	"[{\"metadata\":{\"name\":\"d\",\"namespace\":\"web\"},\"spec\":{\"host\":\"x\","          \
	"\"trafficPolicy\":{\"tls\":{\"mode\":\"MUTUAL\",\"credentialName\":\"client\"},"          \
	"\"portLevelSettings\":[{\"port\":{\"number\":443},\"tls\":{\"mode\":\"SIMPLE\","          \
	"\"credentialName\":\"ca-only\"}},{\"tls\":{\"mode\":\"ISTIO_MUTUAL\","                    \
	"\"credentialName\":\"im\"}}]},\"subsets\":[{\"name\":\"v1\",\"trafficPolicy\":{\"tls\":{" \
	"\"mode\":\"SIMPLE\",\"credentialName\":\"sub\"},\"portLevelSettings\":[{\"tls\":{"        \
	"\"mode\":\"MUTUAL\",\"credentialName\":\"subport\"}}]}},{\"name\":\"v2\"}]}},"            \
	"{\"metadata\":{\"name\":\"e\",\"namespace\":\"web\"},\"spec\":{\"exportTo\":[\".\"],"     \
	"\"trafficPolicy\":{\"tls\":{\"mode\":\"SIMPLE\",\"credentialName\":\"hidden\"}}}},"       \
	"{\"metadata\":{\"name\":\"f\",\"namespace\":\"web\"},\"spec\":{\"exportTo\":[\"shop\"],"  \
	"\"trafficPolicy\":{\"tls\":{\"mode\":\"SIMPLE\",\"credentialName\":\"to-shop\"}}}},"      \
	"{\"metadata\":{\"name\":\"g\",\"namespace\":\"web\"},\"spec\":{\"workloadSelector\":{"    \
	"\"matchLabels\":{\"app\":\"a\"}},\"trafficPolicy\":{\"tls\":{\"mode\":\"MUTUAL\","        \
	"\"credentialName\":\"sidecar\"}}}},"                                                      \
	"{\"metadata\":{\"name\":\"h\",\"namespace\":\"shop\"},\"spec\":{\"exportTo\":[\".\"],"    \
	"\"trafficPolicy\":{\"tls\":{\"mode\":\"DISABLE\",\"credentialName\":\"off\"},"            \
	"\"portLevelSettings\":[{\"tls\":{\"mode\":\"SIMPLE\",\"credentialName\":\"own\"}}]}}}]"

/* The refs pod @pod gets from DestinationRules @drs, as text ("*" after a generic one). */
static void dr_refs_of(const char *pod, const char *drs, char *out)
{
	cJSON *p = cJSON_Parse(pod), *d = cJSON_Parse(drs), *refs = cJSON_CreateArray(), *r;

	assert_non_null(d);
	assert_int_equal(caserver_dr_refs(p, d, refs), 0);
	out[0] = '\0';
	cJSON_ArrayForEach(r, refs)
	{
		strcat(out, cJSON_GetStringValue(cJSON_GetObjectItem(r, "namespace")));
		strcat(out, "/");
		strcat(out, cJSON_GetStringValue(cJSON_GetObjectItem(r, "name")));
		strcat(out, cJSON_IsTrue(cJSON_GetObjectItem(r, "generic")) ? "* " : " ");
	}
	cJSON_Delete(p);
	cJSON_Delete(d);
	cJSON_Delete(refs);
}

/*
 * A waypoint's or gateway's pod gets the credentialNames (SIMPLE, MUTUAL) of the
 * DestinationRules that apply to it, in its own namespace alone (istiod's SDS: the proxy's
 * namespace), wherever the rule is; a rule not exported to it, or selecting workloads, names
 * none; a pod that is no gateway's gets none.
 */
static void test_dr_refs(void **state)
{
	char out[1024];

	dr_refs_of(GW_POD(GW_LABEL), DRS, out);
	assert_string_equal(out,
			    "shop/client* shop/client-cacert* shop/ca-only* "
			    "shop/ca-only-cacert* shop/sub* shop/sub-cacert* shop/subport* "
			    "shop/subport-cacert* shop/to-shop* shop/to-shop-cacert* shop/own* "
			    "shop/own-cacert* ");
	/* Never the Secret of the rule's namespace (web/client), nor of another. */
	assert_null(strstr(out, "web/"));
	dr_refs_of(GW_POD("\"istio\":\"egressgateway\""), DRS, out);
	assert_non_null(strstr(out, "shop/client* "));
	dr_refs_of(GW_POD("\"app\":\"web\""), DRS, out);
	assert_string_equal(out, "");
	dr_refs_of(GW_POD(GW_LABEL), "[]", out);
	assert_string_equal(out, "");
}

static int n_fetched;
static bool fetch_fails;

static cJSON *fetch_list(void *arg, bool *failed)
{
	n_fetched++;
	*failed = fetch_fails;
	return cJSON_Parse(arg);
}

/*
 * The CA's cluster-wide LISTs (Istio Gateways, DestinationRules) kept CASERVER_LIST_CACHE_MS:
 * the agents' requests within that read one answer; a failed LIST is not kept.
 */
static void test_list_cache(void **state)
{
	struct caserver_list_cache c = {.lock = PTHREAD_MUTEX_INITIALIZER};
	bool failed;
	cJSON *o;

	n_fetched = 0;
	fetch_fails = false;
	o = caserver_list_cached(&c, 1000, fetch_list, "{\"items\":[1]}", &failed);
	assert_false(failed);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "items")), 1);
	cJSON_Delete(o);
	/* Asked again within the time: the same answer (a copy), the API server not asked. */
	o = caserver_list_cached(&c, 1000 + CASERVER_LIST_CACHE_MS - 1, fetch_list,
				 "{\"items\":[1,2]}", &failed);
	assert_int_equal(n_fetched, 1);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "items")), 1);
	cJSON_Delete(o);
	/* Past it: asked again. */
	o = caserver_list_cached(&c, 1000 + CASERVER_LIST_CACHE_MS, fetch_list, "{\"items\":[1,2]}",
				 &failed);
	assert_int_equal(n_fetched, 2);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "items")), 2);
	cJSON_Delete(o);
	/* A failure is not kept, nor does it drop the last good answer's use later. */
	fetch_fails = true;
	o = caserver_list_cached(&c, 20000, fetch_list, "{\"items\":[]}", &failed);
	assert_true(failed);
	assert_null(o);
	fetch_fails = false;
	o = caserver_list_cached(&c, 20001, fetch_list, "{\"items\":[1,2,3]}", &failed);
	assert_int_equal(n_fetched, 4);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "items")), 3);
	cJSON_Delete(o);
	/* A clock that went back: asked again. */
	o = caserver_list_cached(&c, 500, fetch_list, "{\"items\":[]}", &failed);
	assert_int_equal(n_fetched, 5);
	cJSON_Delete(o);
	caserver_list_cache_clear(&c);
}

/* Another namespace's Secret only by a ReferenceGrant there, from Gateways of this namespace. */
static void test_ref_granted(void **state)
{
	cJSON *g = cJSON_Parse(
	    "[{\"metadata\":{\"name\":\"g\",\"namespace\":\"certs\"},\"spec\":{"
	    "\"from\":[{\"group\":\"gateway.networking.k8s.io\",\"kind\":\"Gateway\","
	    "\"namespace\":\"shop\"}],\"to\":[{\"group\":\"\",\"kind\":\"Secret\",\"name\":\"far\"}"
	    "]}},"
	    "{\"metadata\":{\"name\":\"h\",\"namespace\":\"other\"},\"spec\":{"
	    "\"from\":[{\"group\":\"gateway.networking.k8s.io\",\"kind\":\"Gateway\","
	    "\"namespace\":\"shop\"}],\"to\":[{\"group\":\"\",\"kind\":\"Secret\"}]}}]");

	assert_non_null(g);
	assert_true(caserver_ref_granted("shop", "shop", "own", NULL));
	assert_true(caserver_ref_granted("shop", "certs", "far", g));
	/* The grant names another Secret; or is for another namespace's Gateways. */
	assert_false(caserver_ref_granted("shop", "certs", "near", g));
	assert_false(caserver_ref_granted("team", "certs", "far", g));
	/* A grant of namespace other (any Secret) allows nothing in certs, and all of other. */
	assert_true(caserver_ref_granted("shop", "other", "any", g));
	assert_false(caserver_ref_granted("shop", "ambit-system", "ambit-ca-root", g));
	cJSON_Delete(g);
}

static char *tls_secret(const char *ns, const char *name, const char *type, const char *crt,
			const char *key)
{
	char *c = crypto_base64_encode(crt, strlen(crt)),
	     *k = crypto_base64_encode(key, strlen(key)), *out = NULL;

	assert_true(
	    asprintf(&out,
		     "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":"
		     "\"%s\",\"namespace\":\"%s\",\"labels\":{\"a\":\"b\"}},\"type\":\"%s\","
		     "\"data\":{\"tls.crt\":\"%s\",\"tls.key\":\"%s\",\"other\":\"eA==\"}}",
		     name, ns, type, c, k) > 0);
	free(c);
	free(k);
	return out;
}

/*
 * What the CA hands an agent: kubernetes.io/tls only, its certificate, key and CA alone; what it
 * tells the controller: whether the agent would load it, and why not.
 */
static void test_credential(void **state)
{
	char dir[] = "/tmp/ambit-test-caserver-XXXXXX", why[512], cmd[64];
	struct ambit_ca *ca;
	struct ca_issued a, b;
	char *good, *bad, *opaque, *text;
	cJSON *s, *out = NULL;

	assert_non_null(mkdtemp(dir));
	ca = ca_open(dir);
	assert_non_null(ca);
	assert_int_equal(ca_issue_dns(ca, "a.example.com", 3600, &a), 0);
	assert_int_equal(ca_issue_dns(ca, "b.example.com", 3600, &b), 0);
	good = tls_secret("shop", "own", "kubernetes.io/tls", a.cert_pem, a.key_pem);
	bad = tls_secret("shop", "bad", "kubernetes.io/tls", a.cert_pem, b.key_pem);
	opaque = tls_secret("ambit-system", "ambit-ca-root", "Opaque", a.cert_pem, a.key_pem);

	s = cJSON_Parse(good);
	assert_int_equal(caserver_credential(s, false, &out, why, sizeof(why)), 0);
	assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "data"), "tls.key"));
	assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "data"), "other"));
	assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "metadata"), "labels"));
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(out, "type")),
			    "kubernetes.io/tls");
	assert_int_equal(caserver_certificate_check(s, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	cJSON_Delete(out);
	cJSON_Delete(s);

	s = cJSON_Parse(opaque);
	assert_int_equal(caserver_credential(s, false, &out, why, sizeof(why)), 403);
	assert_null(out);
	assert_non_null(strstr(why, "of type Opaque, not kubernetes.io/tls"));
	assert_int_equal(caserver_certificate_check(s, why, sizeof(why)), 1);
	/* A DestinationRule's (generic): an Opaque Secret only with cert, key or cacert. */
	assert_int_equal(caserver_credential(s, true, &out, why, sizeof(why)), 403);
	assert_null(out);
	assert_non_null(strstr(why, "an Opaque Secret without cert, key or cacert"));
	cJSON_Delete(s);
	s = cJSON_Parse("{\"metadata\":{\"name\":\"client\",\"namespace\":\"shop\"},"
			"\"data\":{\"cert\":\"Yw==\",\"key\":\"aw==\",\"cacert\":\"YQ==\","
			"\"root-key.pem\":\"eA==\"}}");
	assert_int_equal(caserver_credential(s, false, &out, why, sizeof(why)), 403);
	assert_int_equal(caserver_credential(s, true, &out, why, sizeof(why)), 0);
	text = cJSON_PrintUnformatted(cJSON_GetObjectItem(out, "data"));
	assert_string_equal(text, "{\"cert\":\"Yw==\",\"key\":\"aw==\",\"cacert\":\"YQ==\"}");
	free(text);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(out, "type")), "Opaque");
	cJSON_Delete(out);
	cJSON_Delete(s);
	/* Nor any other type. */
	s = cJSON_Parse("{\"type\":\"kubernetes.io/service-account-token\",\"data\":{"
			"\"cert\":\"Yw==\"}}");
	assert_int_equal(caserver_credential(s, true, &out, why, sizeof(why)), 403);
	assert_non_null(strstr(why, "not kubernetes.io/tls (nor Opaque)"));
	cJSON_Delete(s);

	s = cJSON_Parse(bad);
	assert_int_equal(caserver_certificate_check(s, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "is refused: "));
	assert_non_null(strstr(why, "tls.crt and tls.key"));
	cJSON_Delete(s);
	assert_int_equal(caserver_certificate_check(NULL, why, sizeof(why)), 1);
	assert_string_equal(why, "does not exist");

	free(good);
	free(bad);
	free(opaque);
	ca_issued_free(&a);
	ca_issued_free(&b);
	ca_destroy(ca);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/*
 * The waypoint controller's side: the Secrets its Gateways name, and the CA's answer taken in
 * as the status sees Secrets (ResolvedRefs of a listener).
 */
static void test_controller_certs(void **state)
{
	cJSON *gws = cJSON_CreateObject(), *refs, *status;
	struct config cfg;
	char *text;
	const struct config_secret *s;

	cJSON_AddItemToObject(gws, "shop/gw", cJSON_Parse(GATEWAY("shop")));
	cJSON_AddItemToObject(gws, "shop/gw2", cJSON_Parse(GATEWAY("shop")));
	refs = wps_certificate_refs(gws);
	text = cJSON_PrintUnformatted(refs);
	assert_string_equal(text, "[\"shop/own\",\"certs/far\",\"ambit-system/root\"]");
	free(text);

	status = cJSON_Parse("{\"shop/own\":\"\",\"certs/far\":\"does not exist\","
			     "\"ambit-system/root\":\"is in the CA's own namespace\"}");
	config_init(&cfg);
	assert_int_equal(wps_add_certificates(&cfg, status), 0);
	assert_int_equal(cfg.n_secrets, 1);
	s = config_secret_of(&cfg, "shop", "own");
	assert_non_null(s);
	assert_non_null(config_secret_get(s, CONFIG_SECRET_TLS_CRT));
	assert_non_null(config_secret_get(s, CONFIG_SECRET_TLS_KEY));
	assert_null(config_secret_of(&cfg, "certs", "far"));
	/* Taken once, whatever the answer repeats. */
	assert_int_equal(wps_add_certificates(&cfg, status), 0);
	assert_int_equal(cfg.n_secrets, 1);
	config_free(&cfg);
	cJSON_Delete(status);
	cJSON_Delete(refs);
	cJSON_Delete(gws);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decide),	     cmocka_unit_test(test_gateway_refs),
	    cmocka_unit_test(test_ref_granted),	     cmocka_unit_test(test_credential),
	    cmocka_unit_test(test_controller_certs), cmocka_unit_test(test_dr_refs),
	    cmocka_unit_test(test_list_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
