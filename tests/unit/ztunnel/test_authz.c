// SPDX-License-Identifier: Apache-2.0
/*
 * The ztunnel's policy hook (ztunnel/authz.c): decisions with the compiled policy set from real
 * manifests, the per-policy counters (/metrics and /policies), and revocation of tracked open
 * connections when a new snapshot denies them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ambit/config.h"
#include "ambit/log.h"
#include "ambit/policy.h"
#include "../../../ztunnel/authz.h"
#include "../../../ztunnel/metrics.h"
#include "../../lib/harness.h"

#define ID_PP "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage"
#define ID_RV "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews"

static const char workloads_yaml[] =
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bookinfo\n"
    "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: details-0\n  namespace: bookinfo\n"
    "  labels:\n    app: details\nspec:\n  serviceAccountName: bookinfo-details\n"
    "  containers:\n  - name: c\n    image: x\n";

/* @s as an address (four rotating buffers: a call takes at most two). */
static const struct ipaddr *ipa(const char *s)
{
	static struct ipaddr buf[4];
	static unsigned int n;
	struct ipaddr *a = &buf[n++ % 4];

	assert_int_equal(ipaddr_parse_addr(s, a), 0);
	return a;
}

/* details' own address, where the connections in these tests reach it. */
#define DIP ipa("10.98.1.2")

static struct snap_workload details = {
    .uid = "bookinfo/details-0",
    .name = "details-0",
    .namespace = "bookinfo",
    .identity = "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-details",
    .node = "node1",
    .ip = 0x0201620a, /* 10.98.1.2 */
    .enrolled = true,
};

/* A snapshot (on the heap, policies compiled from @policy_yaml) holding only `details`. */
static struct snapshot *snap_with(const char *policy_yaml)
{
	struct snapshot *s = calloc(1, sizeof(*s));
	struct config_diags diags = {0};
	struct config cfg;
	struct config_labels labels = {0};
	struct policy_workload_input in = {details.uid, details.namespace, &labels};
	char *doc;

	assert_non_null(s);
	assert_true(asprintf(&doc, "%s%s%s", workloads_yaml, policy_yaml ? "---\n" : "",
			     policy_yaml ? policy_yaml : "") > 0);
	config_init(&cfg);
	assert_int_equal(config_load_buffer(&cfg, "test.yaml", doc, strlen(doc), &diags), 0);
	assert_true(cfg.n_pods == 1);
	labels = cfg.pods[0].meta.labels;
	s->version = 1;
	s->node = "node1";
	s->n_workloads = 1;
	s->workloads = &details;
	s->policies = policy_compile(&cfg, &in, 1, NULL, NULL);
	assert_non_null(s->policies);
	config_free(&cfg);
	config_diags_free(&diags);
	free(doc);
	return s;
}

static void snap_drop(struct snapshot *s)
{
	policy_set_free(s->policies);
	free(s);
}

static const char strict_ns[] =
    "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
    "metadata:\n  name: strict\n  namespace: bookinfo\nspec:\n  mtls:\n    mode: STRICT\n";

static const char deny_reviews[] =
    "apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\n"
    "metadata:\n  name: deny-reviews\n  namespace: bookinfo\nspec:\n  action: DENY\n"
    "  rules:\n  - from:\n    - source:\n        principals: [\"cluster.local/ns/bookinfo/sa/"
    "bookinfo-reviews\"]\n";

static const char allow_nothing[] =
    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
    "metadata:\n  name: allow-nothing\n  namespace: bookinfo\nspec: {}\n";

static void test_no_policy_allows(void **state)
{
	struct snapshot *s = snap_with(NULL);
	struct authz_result r;

	assert_true(authz_decide(s, &details, DIP, 9080, ipa("10.98.1.9"), NULL, &r));
	assert_int_equal(r.d.reason, POLICY_REASON_NO_ALLOW_POLICY);
	assert_true(authz_decide(s, &details, DIP, 9080, ipa("10.98.1.9"), ID_PP, &r));
	snap_drop(s);
}

static void test_strict_refuses_plaintext_only(void **state)
{
	struct snapshot *s = snap_with(strict_ns);
	struct authz_result r;
	char *json, *text;

	assert_false(authz_decide(s, &details, DIP, 9080, ipa("10.98.2.7"), NULL, &r));
	assert_int_equal(r.d.reason, POLICY_REASON_MTLS_REQUIRED);
	assert_string_equal(r.name, "PeerAuthentication bookinfo/strict");
	assert_non_null(strstr(r.explain, "STRICT"));
	assert_true(authz_decide(s, &details, DIP, 9080, ipa("10.98.2.7"), ID_PP, &r));
	json = authz_policies_json();
	assert_non_null(json);
	assert_non_null(strstr(json, "{\"policy\":\"PeerAuthentication bookinfo/strict\","
				     "\"action\":\"STRICT\",\"allow\":0,\"deny\":1}"));
	text = authz_metrics_render();
	assert_non_null(strstr(text, "ambit_policy_decisions_total{policy=\"PeerAuthentication "
				     "bookinfo/strict\",action=\"STRICT\",decision=\"deny\"} 1\n"));
	free(json);
	free(text);
	snap_drop(s);
}

static void test_deny_and_allow_nothing_named(void **state)
{
	struct snapshot *s = snap_with(deny_reviews);
	struct authz_result r;
	char *text;

	assert_false(authz_decide(s, &details, DIP, 9080, ipa("10.98.2.7"), ID_RV, &r));
	assert_int_equal(r.d.reason, POLICY_REASON_DENY_MATCHED);
	assert_string_equal(r.name, "bookinfo/deny-reviews");
	assert_true(authz_decide(s, &details, DIP, 9080, ipa("10.98.2.7"), ID_PP, &r));
	snap_drop(s);

	s = snap_with(allow_nothing);
	assert_false(authz_decide(s, &details, DIP, 9080, ipa("10.98.2.7"), ID_PP, &r));
	assert_int_equal(r.d.reason, POLICY_REASON_NO_ALLOW_MATCHED);
	/* No single deciding policy: the ALLOW policies that applied are named and counted. */
	assert_string_equal(r.name, "bookinfo/allow-nothing");
	text = authz_metrics_render();
	assert_non_null(strstr(text, "{policy=\"bookinfo/deny-reviews\",action=\"DENY\","
				     "decision=\"deny\"} 1\n"));
	assert_non_null(strstr(text, "{policy=\"bookinfo/allow-nothing\",action=\"ALLOW\","
				     "decision=\"deny\"} 1\n"));
	free(text);
	snap_drop(s);
}

static void test_audit_counted_not_enforced(void **state)
{
	struct snapshot *s = snap_with(
	    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
	    "metadata:\n  name: audit-all\n  namespace: bookinfo\nspec:\n  action: AUDIT\n"
	    "  rules:\n  - {}\n");
	struct authz_result r;
	char *json;

	assert_true(authz_decide(s, &details, DIP, 9080, ipa("10.98.2.7"), ID_PP, &r));
	assert_int_equal(r.d.n_audit, 1);
	json = authz_policies_json();
	assert_non_null(strstr(json, "{\"policy\":\"bookinfo/audit-all\",\"action\":\"AUDIT\","
				     "\"allow\":1,\"deny\":0}"));
	free(json);
	snap_drop(s);
}

/* Stands in for a splice/HBONE stream: its abort hook closes the record, as theirs do. */
static int aborted;
static void fake_abort(void *arg, const char *reason)
{
	aborted++;
	assert_non_null(strstr(reason, "policy revoked"));
	connrec_close(arg, reason);
}

static struct connrec *fake_conn(void)
{
	struct metrics_labels l = {.reporter = "destination"};
	union sockaddr_inet a = {.v4.sin_family = AF_INET};
	struct connrec *rec = connrec_open(&l, &a, &a, "inbound");

	assert_non_null(rec);
	connrec_set_abort(rec, fake_abort, rec);
	return rec;
}

static void test_revocation_closes_only_denied(void **state)
{
	struct snapshot *open = snap_with(NULL), *deny = snap_with(deny_reviews);
	struct snapshot *strict = snap_with(strict_ns);
	struct authz_tracker *t = authz_tracker_create();
	struct connrec *rv = fake_conn(), *pp = fake_conn(), *plain = fake_conn();
	struct connrec *gone = fake_conn();
	unsigned long before = metrics_open_count();

	assert_non_null(t);
	assert_int_equal(authz_track(t, rv, DIP, 9080, ipa("10.98.2.7"), ID_RV), 0);
	assert_int_equal(authz_track(t, pp, DIP, 9080, ipa("10.98.2.8"), ID_PP), 0);
	assert_int_equal(authz_track(t, plain, DIP, 9080, ipa("10.98.9.9"), NULL), 0);
	assert_int_equal(authz_track(t, gone, DIP, 9080, ipa("10.98.9.8"), NULL), 0);
	assert_int_equal(authz_track(t, NULL, DIP, 9080, ipa("0.0.0.0"), NULL), -EINVAL);
	assert_int_equal(authz_tracked(t), 4);
	/* A connection that ends by itself leaves the tracker. */
	connrec_close(gone, "eof");
	assert_int_equal(authz_tracked(t), 3);

	aborted = 0;
	assert_int_equal(authz_reevaluate(t, open), 0);
	assert_int_equal(authz_reevaluate(t, deny), 1); /* reviews only */
	assert_int_equal(aborted, 1);
	assert_int_equal(authz_tracked(t), 2);
	assert_int_equal(authz_reevaluate(t, strict), 1); /* then the plaintext one */
	assert_int_equal(authz_tracked(t), 1);
	assert_int_equal(metrics_open_count(), before - 3);

	/* Destroying the tracker leaves the record to its owner, unhooked. */
	authz_tracker_destroy(t);
	connrec_close(pp, "eof");
	snap_drop(open);
	snap_drop(deny);
	snap_drop(strict);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_policy_allows),
	    cmocka_unit_test(test_strict_refuses_plaintext_only),
	    cmocka_unit_test(test_deny_and_allow_nothing_named),
	    cmocka_unit_test(test_audit_counted_not_enforced),
	    cmocka_unit_test(test_revocation_closes_only_denied),
	};

	log_init("test_authz", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
