// SPDX-License-Identifier: Apache-2.0
/*
 * Policy compiler and evaluation, table-driven: every L4 field and its not* form, when keys,
 * scope precedence, DENY before ALLOW, allow-nothing, L7 drop/trim, AUDIT, dry-run, CUSTOM,
 * PeerAuthentication levels and port overrides. Each case is checked on the compiled set and
 * again after a JSON round trip (what the ztunnel evaluates).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "ambit/config.h"
#include "ambit/json_memo.h"
#include "ambit/policy.h"
#include "ambit/snapshot.h"
#include "agent/confstore.h"
#include "agent/policy_sync.h"
#include "config/runtime.h"
#include "../../lib/harness.h"

#define AP(ns, name)                                                                               \
	"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n"                 \
	"  name: " name "\n  namespace: " ns "\n"
#define PA(ns, name)                                                                               \
	"apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\n"                        \
	"metadata:\n  name: " name "\n  namespace: " ns "\n"
#define SEP "---\n"

/* Bookinfo-shaped workloads: sample namespaces, service accounts and ports. */
static struct config_label L_PP[] = {{"app", "productpage"}, {"version", "v1"}};
static struct config_label L_REV[] = {{"app", "reviews"}, {"version", "v2"}};
static struct config_label L_RAT[] = {{"app", "ratings"}, {"version", "v1"}};
static struct config_label L_SLEEP[] = {{"app", "sleep"}};
static struct config_labels LS_PP = {2, L_PP}, LS_REV = {2, L_REV}, LS_RAT = {2, L_RAT},
			    LS_SLEEP = {1, L_SLEEP};
static const struct policy_workload_input WLS[] = {
    {"bookinfo/productpage-v1-0", "bookinfo", &LS_PP},
    {"bookinfo/reviews-v2-0", "bookinfo", &LS_REV},
    {"bookinfo/ratings-v1-0", "bookinfo", &LS_RAT},
    {"other/sleep-0", "other", &LS_SLEEP},
};

#define ID_PP "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-productpage"
#define ID_REV "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews"
#define ID_SLEEP "spiffe://cluster.local/ns/other/sa/sleep"
#define IP_PP "10.98.1.2"
#define IP_REV "10.98.1.3"
#define IP_RAT "10.98.2.4"
#define IP_SLEEP "10.98.2.9"
#define IP_LEGACY "10.99.0.77"

enum dst { D_PP, D_REV, D_RAT, D_SLEEP };

struct pcase {
	const char *what;
	const char *yaml;
	enum dst dst;
	uint16_t port;
	const char *src_id; /* NULL: plaintext */
	const char *src_ip;
	enum policy_verdict verdict;
	const char *decider; /* policy_decision_name, "" for none */
	enum policy_reason reason;
};

#define ALLOW_V POLICY_VERDICT_ALLOW
#define DENY_V POLICY_VERDICT_DENY
#define R_NONE POLICY_REASON_NO_ALLOW_POLICY
#define R_AM POLICY_REASON_ALLOW_MATCHED
#define R_DM POLICY_REASON_DENY_MATCHED
#define R_NAM POLICY_REASON_NO_ALLOW_MATCHED
#define R_MTLS POLICY_REASON_MTLS_REQUIRED

/* ALLOW on ratings (workload scope) with one source/operation/condition field. */
#define RAT_ALLOW(body)                                                                            \
	AP("bookinfo", "rat")                                                                      \
	"spec:\n  selector:\n    matchLabels: {app: ratings}\n"                                    \
	"  rules:\n" body

static const struct pcase CASES[] = {
    {"no policy", "", D_RAT, 9080, ID_PP, IP_PP, ALLOW_V, "", R_NONE},
    /* principals: exact, prefix, suffix, presence, and not* */
    {"principal exact",
     RAT_ALLOW("  - from:\n    - source:\n        principals: "
	       "[cluster.local/ns/bookinfo/sa/bookinfo-reviews]\n"),
     D_RAT, 9080, ID_REV, IP_REV, ALLOW_V, "bookinfo/rat", R_AM},
    {"principal exact, other peer",
     RAT_ALLOW("  - from:\n    - source:\n        principals: "
	       "[cluster.local/ns/bookinfo/sa/bookinfo-reviews]\n"),
     D_RAT, 9080, ID_PP, IP_PP, DENY_V, "", R_NAM},
    {"principal prefix",
     RAT_ALLOW("  - from:\n    - source:\n        principals: "
	       "[\"cluster.local/ns/bookinfo/*\"]\n"),
     D_RAT, 9080, ID_PP, IP_PP, ALLOW_V, "bookinfo/rat", R_AM},
    {"principal prefix, other ns",
     RAT_ALLOW("  - from:\n    - source:\n        principals: "
	       "[\"cluster.local/ns/bookinfo/*\"]\n"),
     D_RAT, 9080, ID_SLEEP, IP_SLEEP, DENY_V, "", R_NAM},
    {"principal suffix",
     RAT_ALLOW("  - from:\n    - source:\n        principals: [\"*/sa/sleep\"]\n"), D_RAT, 9080,
     ID_SLEEP, IP_SLEEP, ALLOW_V, "bookinfo/rat", R_AM},
    {"principal presence, plaintext",
     RAT_ALLOW("  - from:\n    - source:\n        principals: [\"*\"]\n"), D_RAT, 9080, NULL,
     IP_LEGACY, DENY_V, "", R_NAM},
    {"principal presence, mTLS",
     RAT_ALLOW("  - from:\n    - source:\n        principals: [\"*\"]\n"), D_RAT, 9080, ID_SLEEP,
     IP_SLEEP, ALLOW_V, "bookinfo/rat", R_AM},
    {"notPrincipals excludes",
     RAT_ALLOW("  - from:\n    - source:\n        notPrincipals: "
	       "[cluster.local/ns/other/sa/sleep]\n"),
     D_RAT, 9080, ID_SLEEP, IP_SLEEP, DENY_V, "", R_NAM},
    {"notPrincipals admits others",
     RAT_ALLOW("  - from:\n    - source:\n        notPrincipals: "
	       "[cluster.local/ns/other/sa/sleep]\n"),
     D_RAT, 9080, ID_PP, IP_PP, ALLOW_V, "bookinfo/rat", R_AM},
    {"notPrincipals * matches plaintext",
     RAT_ALLOW("  - from:\n    - source:\n        notPrincipals: [\"*\"]\n"), D_RAT, 9080, NULL,
     IP_LEGACY, ALLOW_V, "bookinfo/rat", R_AM},
    /* namespaces */
    {"namespaces", RAT_ALLOW("  - from:\n    - source:\n        namespaces: [other]\n"), D_RAT,
     9080, ID_SLEEP, IP_SLEEP, ALLOW_V, "bookinfo/rat", R_AM},
    {"namespaces, other", RAT_ALLOW("  - from:\n    - source:\n        namespaces: [other]\n"),
     D_RAT, 9080, ID_PP, IP_PP, DENY_V, "", R_NAM},
    {"namespaces, plaintext", RAT_ALLOW("  - from:\n    - source:\n        namespaces: [\"*\"]\n"),
     D_RAT, 9080, NULL, IP_LEGACY, DENY_V, "", R_NAM},
    {"notNamespaces", RAT_ALLOW("  - from:\n    - source:\n        notNamespaces: [other]\n"),
     D_RAT, 9080, ID_SLEEP, IP_SLEEP, DENY_V, "", R_NAM},
    {"notNamespaces, admitted",
     RAT_ALLOW("  - from:\n    - source:\n        notNamespaces: [other]\n"), D_RAT, 9080, ID_PP,
     IP_PP, ALLOW_V, "bookinfo/rat", R_AM},
    /* serviceAccounts: "ns/sa" and "sa" (the policy's namespace) */
    {"serviceAccounts ns/sa",
     RAT_ALLOW("  - from:\n    - source:\n        serviceAccounts: [other/sleep]\n"), D_RAT, 9080,
     ID_SLEEP, IP_SLEEP, ALLOW_V, "bookinfo/rat", R_AM},
    {"serviceAccounts bare",
     RAT_ALLOW("  - from:\n    - source:\n        serviceAccounts: [bookinfo-reviews]\n"), D_RAT,
     9080, ID_REV, IP_REV, ALLOW_V, "bookinfo/rat", R_AM},
    {"serviceAccounts bare, other ns",
     RAT_ALLOW("  - from:\n    - source:\n        serviceAccounts: [sleep]\n"), D_RAT, 9080,
     ID_SLEEP, IP_SLEEP, DENY_V, "", R_NAM},
    {"notServiceAccounts",
     RAT_ALLOW("  - from:\n    - source:\n        notServiceAccounts: [other/sleep]\n"), D_RAT,
     9080, ID_SLEEP, IP_SLEEP, DENY_V, "", R_NAM},
    {"notServiceAccounts, admitted",
     RAT_ALLOW("  - from:\n    - source:\n        notServiceAccounts: [other/sleep]\n"), D_RAT,
     9080, ID_REV, IP_REV, ALLOW_V, "bookinfo/rat", R_AM},
    /* ipBlocks */
    {"ipBlocks CIDR", RAT_ALLOW("  - from:\n    - source:\n        ipBlocks: [10.98.1.0/24]\n"),
     D_RAT, 9080, ID_PP, IP_PP, ALLOW_V, "bookinfo/rat", R_AM},
    {"ipBlocks CIDR, outside",
     RAT_ALLOW("  - from:\n    - source:\n        ipBlocks: [10.98.1.0/24]\n"), D_RAT, 9080,
     ID_SLEEP, IP_SLEEP, DENY_V, "", R_NAM},
    {"ipBlocks single address",
     RAT_ALLOW("  - from:\n    - source:\n        ipBlocks: [10.99.0.77]\n"), D_RAT, 9080, NULL,
     IP_LEGACY, ALLOW_V, "bookinfo/rat", R_AM},
    {"notIpBlocks", RAT_ALLOW("  - from:\n    - source:\n        notIpBlocks: [10.98.2.0/24]\n"),
     D_RAT, 9080, ID_SLEEP, IP_SLEEP, DENY_V, "", R_NAM},
    {"notIpBlocks, admitted",
     RAT_ALLOW("  - from:\n    - source:\n        notIpBlocks: [10.98.2.0/24]\n"), D_RAT, 9080,
     ID_PP, IP_PP, ALLOW_V, "bookinfo/rat", R_AM},
    /* ipBlocks of both families: a block holds addresses of its own family only */
    {"ipBlocks IPv6 CIDR",
     RAT_ALLOW("  - from:\n    - source:\n        ipBlocks: [\"2001:db8:1::/48\"]\n"), D_RAT, 9080,
     ID_PP, "2001:db8:1::7", ALLOW_V, "bookinfo/rat", R_AM},
    {"ipBlocks IPv6 CIDR, outside",
     RAT_ALLOW("  - from:\n    - source:\n        ipBlocks: [\"2001:db8:1::/48\"]\n"), D_RAT, 9080,
     ID_PP, "2001:db8:2::7", DENY_V, "", R_NAM},
    {"ipBlocks IPv6 CIDR, an IPv4 source",
     RAT_ALLOW("  - from:\n    - source:\n        ipBlocks: [\"::/0\"]\n"), D_RAT, 9080, ID_PP,
     IP_PP, DENY_V, "", R_NAM},
    {"ipBlocks both families, the IPv4 one",
     RAT_ALLOW("  - from:\n    - source:\n        ipBlocks: [\"2001:db8::/32\", 10.98.1.0/24]\n"),
     D_RAT, 9080, ID_PP, IP_PP, ALLOW_V, "bookinfo/rat", R_AM},
    {"ipBlocks IPv4-mapped source as IPv4",
     RAT_ALLOW("  - from:\n    - source:\n        ipBlocks: [10.98.1.0/24]\n"), D_RAT, 9080, ID_PP,
     "::ffff:10.98.1.5", ALLOW_V, "bookinfo/rat", R_AM},
    {"notIpBlocks IPv6, an IPv4 source admitted",
     RAT_ALLOW("  - from:\n    - source:\n        notIpBlocks: [\"2001:db8::/32\"]\n"), D_RAT, 9080,
     ID_PP, IP_PP, ALLOW_V, "bookinfo/rat", R_AM},
    {"notIpBlocks IPv6, inside",
     RAT_ALLOW("  - from:\n    - source:\n        notIpBlocks: [\"2001:db8::/32\"]\n"), D_RAT, 9080,
     ID_PP, "2001:db8::1", DENY_V, "", R_NAM},
    /* ports */
    {"ports", RAT_ALLOW("  - to:\n    - operation:\n        ports: [\"9080\"]\n"), D_RAT, 9080,
     ID_PP, IP_PP, ALLOW_V, "bookinfo/rat", R_AM},
    {"ports, other port", RAT_ALLOW("  - to:\n    - operation:\n        ports: [\"9080\"]\n"),
     D_RAT, 9090, ID_PP, IP_PP, DENY_V, "", R_NAM},
    {"notPorts", RAT_ALLOW("  - to:\n    - operation:\n        notPorts: [\"9080\"]\n"), D_RAT,
     9080, ID_PP, IP_PP, DENY_V, "", R_NAM},
    {"notPorts, admitted", RAT_ALLOW("  - to:\n    - operation:\n        notPorts: [\"9080\"]\n"),
     D_RAT, 9090, ID_PP, IP_PP, ALLOW_V, "bookinfo/rat", R_AM},
    /* from AND to; values ORed */
    {"from and to",
     RAT_ALLOW("  - from:\n    - source:\n        namespaces: [bookinfo]\n"
	       "    to:\n    - operation:\n        ports: [\"9080\", \"9091\"]\n"),
     D_RAT, 9091, ID_PP, IP_PP, ALLOW_V, "bookinfo/rat", R_AM},
    {"from and to, from fails",
     RAT_ALLOW("  - from:\n    - source:\n        namespaces: [bookinfo]\n"
	       "    to:\n    - operation:\n        ports: [\"9080\"]\n"),
     D_RAT, 9080, ID_SLEEP, IP_SLEEP, DENY_V, "", R_NAM},
    /* when: the five L4 keys, values and notValues */
    {"when source.ip", RAT_ALLOW("  - when:\n    - key: source.ip\n      values: [10.98.2.0/24]\n"),
     D_RAT, 9080, ID_SLEEP, IP_SLEEP, ALLOW_V, "bookinfo/rat", R_AM},
    {"when source.ip notValues",
     RAT_ALLOW("  - when:\n    - key: source.ip\n      notValues: [10.98.2.0/24]\n"), D_RAT, 9080,
     ID_SLEEP, IP_SLEEP, DENY_V, "", R_NAM},
    {"when source.namespace",
     RAT_ALLOW("  - when:\n    - key: source.namespace\n      values: [other]\n"), D_RAT, 9080,
     ID_SLEEP, IP_SLEEP, ALLOW_V, "bookinfo/rat", R_AM},
    {"when source.namespace notValues",
     RAT_ALLOW("  - when:\n    - key: source.namespace\n      notValues: [other]\n"), D_RAT, 9080,
     ID_SLEEP, IP_SLEEP, DENY_V, "", R_NAM},
    {"when source.principal",
     RAT_ALLOW(
	 "  - when:\n    - key: source.principal\n      values: [\"*/sa/bookinfo-reviews\"]\n"),
     D_RAT, 9080, ID_REV, IP_REV, ALLOW_V, "bookinfo/rat", R_AM},
    {"when source.principal notValues",
     RAT_ALLOW(
	 "  - when:\n    - key: source.principal\n      notValues: [\"*/sa/bookinfo-reviews\"]\n"),
     D_RAT, 9080, ID_REV, IP_REV, DENY_V, "", R_NAM},
    {"when destination.ip",
     RAT_ALLOW("  - when:\n    - key: destination.ip\n      values: [10.98.2.4]\n"), D_RAT, 9080,
     ID_PP, IP_PP, ALLOW_V, "bookinfo/rat", R_AM},
    {"when destination.ip notValues",
     RAT_ALLOW("  - when:\n    - key: destination.ip\n      notValues: [10.98.2.0/24]\n"), D_RAT,
     9080, ID_PP, IP_PP, DENY_V, "", R_NAM},
    {"when destination.port",
     RAT_ALLOW("  - when:\n    - key: destination.port\n      values: [\"9080\"]\n"), D_RAT, 9080,
     ID_PP, IP_PP, ALLOW_V, "bookinfo/rat", R_AM},
    {"when destination.port notValues",
     RAT_ALLOW("  - when:\n    - key: destination.port\n      notValues: [\"9080\"]\n"), D_RAT,
     9080, ID_PP, IP_PP, DENY_V, "", R_NAM},
    /* allow nothing, allow all, DENY before ALLOW */
    {"ALLOW with no rules allows nothing", AP("bookinfo", "nothing") "spec: {}\n", D_RAT, 9080,
     ID_PP, IP_PP, DENY_V, "", R_NAM},
    {"ALLOW rules [{}] allows all", AP("bookinfo", "all") "spec:\n  rules:\n  - {}\n", D_RAT, 9080,
     NULL, IP_LEGACY, ALLOW_V, "bookinfo/all", R_AM},
    {"DENY before ALLOW",
     AP("bookinfo", "all") "spec:\n  rules:\n  - {}\n" SEP AP(
	 "bookinfo", "no-other") "spec:\n  action: DENY\n  rules:\n  - from:\n    - source:\n      "
				 "  namespaces: [other]\n",
     D_RAT, 9080, ID_SLEEP, IP_SLEEP, DENY_V, "bookinfo/no-other", R_DM},
    {"DENY not matching, ALLOW decides",
     AP("bookinfo", "all") "spec:\n  rules:\n  - {}\n" SEP AP(
	 "bookinfo", "no-other") "spec:\n  action: DENY\n  rules:\n  - from:\n    - source:\n      "
				 "  namespaces: [other]\n",
     D_RAT, 9080, ID_PP, IP_PP, ALLOW_V, "bookinfo/all", R_AM},
    {"DENY only: no ALLOW applies",
     AP("bookinfo", "no-other") "spec:\n  action: DENY\n  rules:\n  - from:\n    - source:\n       "
				" namespaces: [other]\n",
     D_RAT, 9080, ID_PP, IP_PP, ALLOW_V, "", R_NONE},
    /* scope precedence */
    {"workload scope: unselected workload unaffected",
     RAT_ALLOW("  - from:\n    - source:\n        namespaces: [other]\n"), D_REV, 9080, ID_PP,
     IP_PP, ALLOW_V, "", R_NONE},
    {"namespace scope: other namespace unaffected", AP("bookinfo", "nothing") "spec: {}\n", D_SLEEP,
     80, ID_PP, IP_PP, ALLOW_V, "", R_NONE},
    {"global DENY applies everywhere",
     AP("istio-system", "deny-legacy") "spec:\n  action: DENY\n  rules:\n  - from:\n    - "
				       "source:\n        ipBlocks: [10.99.0.0/24]\n",
     D_SLEEP, 80, NULL, IP_LEGACY, DENY_V, "istio-system/deny-legacy", R_DM},
    {"root selector policy selects in every namespace",
     AP("istio-system", "sleep-nothing") "spec:\n  selector:\n    matchLabels: {app: sleep}\n",
     D_SLEEP, 80, ID_PP, IP_PP, DENY_V, "", R_NAM},
    {"root selector policy, unselected",
     AP("istio-system", "sleep-nothing") "spec:\n  selector:\n    matchLabels: {app: sleep}\n",
     D_RAT, 9080, ID_PP, IP_PP, ALLOW_V, "", R_NONE},
    {"global ALLOW + namespace ALLOW: either allows",
     AP("istio-system",
	"g") "spec:\n  rules:\n  - from:\n    - source:\n        namespaces: [other]\n" SEP
	 AP("bookinfo",
	    "n") "spec:\n  rules:\n  - from:\n    - source:\n        namespaces: [bookinfo]\n",
     D_RAT, 9080, ID_SLEEP, IP_SLEEP, ALLOW_V, "istio-system/g", R_AM},
    {"workload DENY over namespace ALLOW",
     AP("bookinfo", "n") "spec:\n  rules:\n  - {}\n" SEP RAT_ALLOW(
	 "  - from:\n    - source:\n        namespaces: [other]\n") "  action: DENY\n",
     D_RAT, 9080, ID_SLEEP, IP_SLEEP, DENY_V, "bookinfo/rat", R_DM},
    /* L7 fields at the ztunnel */
    {"ALLOW rule with methods is dropped",
     RAT_ALLOW("  - to:\n    - operation:\n        methods: [GET]\n"), D_RAT, 9080, ID_PP, IP_PP,
     DENY_V, "", R_NAM},
    {"ALLOW: L7 rule dropped, L4 rule kept",
     RAT_ALLOW("  - to:\n    - operation:\n        methods: [GET]\n"
	       "  - from:\n    - source:\n        namespaces: [bookinfo]\n"),
     D_RAT, 9080, ID_PP, IP_PP, ALLOW_V, "bookinfo/rat", R_AM},
    {"ALLOW with remoteIpBlocks dropped",
     RAT_ALLOW("  - from:\n    - source:\n        remoteIpBlocks: [10.0.0.0/8]\n"), D_RAT, 9080,
     ID_PP, IP_PP, DENY_V, "", R_NAM},
    {"ALLOW with request.headers when dropped",
     RAT_ALLOW("  - when:\n    - key: request.headers[x-user]\n      values: [admin]\n"), D_RAT,
     9080, ID_PP, IP_PP, DENY_V, "", R_NAM},
    /* Fails closed (issue of policies nothing enforces): the L7 part taken as matching. */
    {"DENY methods only: fails closed at ztunnel",
     RAT_ALLOW("  - to:\n    - operation:\n        methods: [GET]\n") "  action: DENY\n", D_RAT,
     9080, ID_PP, IP_PP, DENY_V, "bookinfo/rat", R_DM},
    {"DENY principal + methods: denies that principal",
     RAT_ALLOW("  - from:\n    - source:\n        principals: "
	       "[\"cluster.local/ns/bookinfo/sa/bookinfo-productpage\"]\n"
	       "    to:\n    - operation:\n        methods: [GET]\n") "  action: DENY\n",
     D_RAT, 9080, ID_PP, IP_PP, DENY_V, "bookinfo/rat", R_DM},
    {"DENY principal + methods: another principal passes",
     RAT_ALLOW("  - from:\n    - source:\n        principals: "
	       "[\"cluster.local/ns/bookinfo/sa/sleep\"]\n"
	       "    to:\n    - operation:\n        methods: [GET]\n") "  action: DENY\n",
     D_RAT, 9080, ID_PP, IP_PP, ALLOW_V, "", R_NONE},
    {"DENY ports + methods: denies the port",
     RAT_ALLOW(
	 "  - to:\n    - operation:\n        ports: [\"9080\"]\n        methods: [GET]\n") "  "
											   "action:"
											   " DENY"
											   "\n",
     D_RAT, 9080, ID_PP, IP_PP, DENY_V, "bookinfo/rat", R_DM},
    {"DENY ports + methods: other port",
     RAT_ALLOW(
	 "  - to:\n    - operation:\n        ports: [\"9080\"]\n        methods: [GET]\n") "  "
											   "action:"
											   " DENY"
											   "\n",
     D_RAT, 9090, ID_PP, IP_PP, ALLOW_V, "", R_NONE},
    /* AUDIT and dry-run never decide; CUSTOM at the ztunnel fails closed */
    {"AUDIT never changes the decision", RAT_ALLOW("  - {}\n") "  action: AUDIT\n", D_RAT, 9080,
     ID_PP, IP_PP, ALLOW_V, "", R_NONE},
    {"dry-run DENY is not enforced",
     "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: dry\n"
     "  namespace: bookinfo\n  annotations:\n    istio.io/dry-run: \"true\"\n"
     "spec:\n  action: DENY\n  rules:\n  - {}\n",
     D_RAT, 9080, ID_PP, IP_PP, ALLOW_V, "", R_NONE},
    {"CUSTOM denies at the ztunnel (its authorizer needs a waypoint)",
     RAT_ALLOW("  - {}\n") "  action: CUSTOM\n  provider:\n    name: ext\n", D_RAT, 9080, ID_PP,
     IP_PP, DENY_V, "bookinfo/rat", R_DM},
    {"CUSTOM on another port lets this one through",
     RAT_ALLOW("  - to:\n    - operation:\n        ports: [\"9090\"]\n") "  action: CUSTOM\n"
									 "  provider:\n"
									 "    name: ext\n",
     D_RAT, 9080, ID_PP, IP_PP, ALLOW_V, "", R_NONE},
    /* PeerAuthentication */
    {"mesh STRICT refuses plaintext",
     PA("istio-system", "default") "spec:\n  mtls:\n    mode: STRICT\n", D_RAT, 9080, NULL,
     IP_LEGACY, DENY_V, "PeerAuthentication istio-system/default", R_MTLS},
    {"mesh STRICT admits mTLS", PA("istio-system", "default") "spec:\n  mtls:\n    mode: STRICT\n",
     D_RAT, 9080, ID_SLEEP, IP_SLEEP, ALLOW_V, "", R_NONE},
    {"default PERMISSIVE admits plaintext", PA("bookinfo", "unset") "spec: {}\n", D_RAT, 9080, NULL,
     IP_LEGACY, ALLOW_V, "", R_NONE},
    {"namespace PERMISSIVE over mesh STRICT",
     PA("istio-system", "default") "spec:\n  mtls:\n    mode: STRICT\n" SEP PA(
	 "bookinfo", "ns") "spec:\n  mtls:\n    mode: PERMISSIVE\n",
     D_RAT, 9080, NULL, IP_LEGACY, ALLOW_V, "", R_NONE},
    {"namespace UNSET inherits mesh STRICT",
     PA("istio-system", "default") "spec:\n  mtls:\n    mode: STRICT\n" SEP PA(
	 "bookinfo", "ns") "spec:\n  mtls:\n    mode: UNSET\n",
     D_RAT, 9080, NULL, IP_LEGACY, DENY_V, "PeerAuthentication istio-system/default", R_MTLS},
    {"workload STRICT over namespace PERMISSIVE",
     PA("bookinfo", "ns") "spec:\n  mtls:\n    mode: PERMISSIVE\n" SEP PA(
	 "bookinfo",
	 "rat") "spec:\n  selector:\n    matchLabels: {app: ratings}\n  mtls:\n    mode: STRICT\n",
     D_RAT, 9080, NULL, IP_LEGACY, DENY_V, "PeerAuthentication bookinfo/rat", R_MTLS},
    {"workload STRICT: other workload PERMISSIVE",
     PA("bookinfo",
	"rat") "spec:\n  selector:\n    matchLabels: {app: ratings}\n  mtls:\n    mode: STRICT\n",
     D_REV, 9080, NULL, IP_LEGACY, ALLOW_V, "", R_NONE},
    {"portLevelMtls PERMISSIVE under STRICT",
     PA("bookinfo",
	"rat") "spec:\n  selector:\n    matchLabels: {app: ratings}\n  mtls:\n    mode: STRICT\n"
	       "  portLevelMtls:\n    9080:\n      mode: PERMISSIVE\n",
     D_RAT, 9080, NULL, IP_LEGACY, ALLOW_V, "", R_NONE},
    {"portLevelMtls: other port stays STRICT",
     PA("bookinfo",
	"rat") "spec:\n  selector:\n    matchLabels: {app: ratings}\n  mtls:\n    mode: STRICT\n"
	       "  portLevelMtls:\n    9080:\n      mode: PERMISSIVE\n",
     D_RAT, 9090, NULL, IP_LEGACY, DENY_V, "PeerAuthentication bookinfo/rat", R_MTLS},
    {"portLevelMtls STRICT under PERMISSIVE",
     PA("bookinfo", "rat") "spec:\n  selector:\n    matchLabels: {app: ratings}\n"
			   "  portLevelMtls:\n    9080:\n      mode: STRICT\n",
     D_RAT, 9080, NULL, IP_LEGACY, DENY_V, "PeerAuthentication bookinfo/rat", R_MTLS},
    {"root-namespace selector PA is ignored",
     PA("istio-system",
	"sel") "spec:\n  selector:\n    matchLabels: {app: ratings}\n  mtls:\n    mode: STRICT\n",
     D_RAT, 9080, NULL, IP_LEGACY, ALLOW_V, "", R_NONE},
    {"oldest namespace PA wins",
     "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: b-newer\n"
     "  namespace: bookinfo\n  creationTimestamp: \"2025-02-01T00:00:00Z\"\nspec:\n  mtls:\n    "
     "mode: PERMISSIVE\n" SEP
     "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: z-older\n"
     "  namespace: bookinfo\n  creationTimestamp: \"2025-01-01T00:00:00Z\"\nspec:\n  mtls:\n    "
     "mode: STRICT\n",
     D_RAT, 9080, NULL, IP_LEGACY, DENY_V, "PeerAuthentication bookinfo/z-older", R_MTLS},
    {"STRICT before DENY/ALLOW",
     PA("bookinfo", "ns") "spec:\n  mtls:\n    mode: STRICT\n" SEP AP(
	 "bookinfo", "all") "spec:\n  rules:\n  - {}\n",
     D_RAT, 9080, NULL, IP_LEGACY, DENY_V, "PeerAuthentication bookinfo/ns", R_MTLS},
};

static void conn_of(const struct pcase *c, struct policy_conn *conn)
{
	static const char *const ips[] = {IP_PP, IP_REV, IP_RAT, IP_SLEEP};

	memset(conn, 0, sizeof(*conn));
	conn->dst_uid = WLS[c->dst].uid;
	conn->dst_namespace = WLS[c->dst].namespace;
	assert_int_equal(ipaddr_parse_addr(ips[c->dst], &conn->dst_ip), 0);
	conn->dst_port = c->port;
	assert_int_equal(ipaddr_parse_addr(c->src_ip, &conn->src_ip), 0);
	conn->src_identity = c->src_id;
}

static struct policy_set *compile_yaml(const char *yaml, struct config *cfg,
				       struct config_diags *diags)
{
	config_init(cfg);
	if (config_load_buffer(cfg, "case.yaml", yaml, strlen(yaml), diags)) {
		char buf[512];

		for (size_t i = 0; i < diags->n; i++) {
			config_diag_format(&diags->items[i], buf, sizeof(buf));
			print_error("%s\n", buf);
		}
		return NULL;
	}
	return policy_compile(cfg, WLS, sizeof(WLS) / sizeof(WLS[0]), NULL, diags);
}

static struct policy_set *round_trip(const struct policy_set *ps)
{
	cJSON *j = policy_set_to_json(ps);
	char *text, err[256];
	struct policy_set *out;
	cJSON *back;

	assert_non_null(j);
	text = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	assert_non_null(text);
	back = cJSON_Parse(text);
	free(text);
	assert_non_null(back);
	out = policy_set_from_json(back, err, sizeof(err));
	if (!out)
		print_error("decode: %s\n", err);
	cJSON_Delete(back);
	assert_non_null(out);
	return out;
}

static void check(const struct pcase *c, const struct policy_set *ps, const char *stage)
{
	struct policy_decision d;
	struct policy_conn conn;
	char name[128], why[512];

	conn_of(c, &conn);
	policy_evaluate(ps, &conn, &d);
	policy_decision_name(&d, name, sizeof(name));
	policy_decision_explain(&d, &conn, why, sizeof(why));
	if (d.verdict != c->verdict || strcmp(name, c->decider) || d.reason != c->reason) {
		print_error("case \"%s\" (%s): got %s by \"%s\" (%s), want %s by \"%s\" (%s): %s\n",
			    c->what, stage, policy_verdict_str(d.verdict), name,
			    policy_reason_str(d.reason), policy_verdict_str(c->verdict), c->decider,
			    policy_reason_str(c->reason), why);
		fail();
	}
}

static void test_table(void **state)
{
	for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
		const struct pcase *c = &CASES[i];
		struct config_diags diags = {0};
		struct policy_set *ps, *back;
		struct config cfg;

		ps = compile_yaml(c->yaml, &cfg, &diags);
		if (!ps)
			print_error("case \"%s\": does not load\n", c->what);
		assert_non_null(ps);
		check(c, ps, "compiled");
		back = round_trip(ps);
		check(c, back, "after JSON");
		policy_set_free(back);
		policy_set_free(ps);
		config_free(&cfg);
		config_diags_free(&diags);
	}
}

/*
 * Printed through one memo, every case's set is the tree's text: the memo gives an element's
 * text only to an element that prints the same. Then each field an element's hash reads is
 * changed in turn, and the text must follow.
 */
static char *tree_text(const struct policy_set *ps)
{
	cJSON *j = policy_set_to_json(ps);
	char *t = cJSON_PrintUnformatted(j);

	cJSON_Delete(j);
	assert_non_null(t);
	return t;
}

static void expect_memo_text(const struct policy_set *ps, struct json_memo *m)
{
	char *want = tree_text(ps), *got;
	struct jbuf b;

	jbuf_init(&b, 0); /* grows from its least */
	assert_int_equal(policy_set_write(&b, ps, m), 0);
	got = jbuf_take(&b);
	assert_non_null(got);
	json_memo_sweep(m);
	assert_string_equal(got, want);
	free(got);
	free(want);
}

static void test_memo_text(void **state)
{
	struct json_memo *m = json_memo_new();
	struct policy_authz *pa = NULL;
	struct policy_workload *pw = NULL;
	struct policy_set *last = NULL;
	struct config last_cfg;

	assert_non_null(m);
	for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
		struct config_diags diags = {0};
		struct policy_authz *cpa = NULL;
		struct policy_set *ps;
		struct config cfg;

		ps = compile_yaml(CASES[i].yaml, &cfg, &diags);
		assert_non_null(ps);
		expect_memo_text(ps, m);
		expect_memo_text(ps, m);
		config_diags_free(&diags);
		for (size_t j = 0; j < ps->n_policies && !cpa; j++)
			if (ps->policies[j].n_rules && ps->policies[j].rules[0].n_clauses &&
			    ps->policies[j].rules[0].clauses[0].n)
				cpa = &ps->policies[j];
		/* The first set with a policy of clauses and a workload is changed below. */
		if (!last && cpa && ps->n_workloads) {
			last = ps;
			last_cfg = cfg;
			pa = cpa;
			pw = &ps->workloads[0];
			continue;
		}
		policy_set_free(ps);
		config_free(&cfg);
	}
	assert_non_null(last);
	/* That set, changed field by field (each change kept for the next) after its own. */
	expect_memo_text(last, m);
	pa->dry_run = !pa->dry_run;
	expect_memo_text(last, m);
	pa->action = pa->action == POLICY_ACTION_ALLOW ? POLICY_ACTION_DENY : POLICY_ACTION_ALLOW;
	expect_memo_text(last, m);
	pa->rules[0].line += 7;
	expect_memo_text(last, m);
	pa->rules[0].dropped = !pa->rules[0].dropped;
	expect_memo_text(last, m);
	if (pa->rules[0].clauses[0].n) {
		struct policy_match *mt = &pa->rules[0].clauses[0].items[0];

		if (mt->ports.n) {
			mt->ports.items[0]++;
			expect_memo_text(last, m);
		}
		if (mt->principals.n) {
			free(mt->principals.items[0].text);
			mt->principals.items[0].text = strdup("cluster.local/ns/x/sa/changed");
			expect_memo_text(last, m);
		}
		if (mt->namespaces.n) {
			free(mt->namespaces.items[0].text);
			mt->namespaces.items[0].text = strdup("changed");
			expect_memo_text(last, m);
		}
	}
	{
		size_t n_matches = pa->rules[0].clauses[0].n;

		pa->rules[0].clauses[0].n = 0;
		expect_memo_text(last, m);
		pa->rules[0].clauses[0].n = n_matches; /* freed with the set */
	}
	pw->mtls.mode =
	    pw->mtls.mode == CONFIG_MTLS_STRICT ? CONFIG_MTLS_PERMISSIVE : CONFIG_MTLS_STRICT;
	expect_memo_text(last, m);
	if (pw->n_policies) {
		pw->n_policies--;
		expect_memo_text(last, m);
	}
	last->mesh.mode = CONFIG_MTLS_STRICT;
	expect_memo_text(last, m);
	policy_set_free(last);
	config_free(&last_cfg);
	json_memo_free(m);
}

static bool has_diag(const struct config_diags *d, const char *needle)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->items[i].message && strstr(d->items[i].message, needle))
			return true;
	return false;
}

/* Warnings name the effect, the decision names the policy, dry-run and AUDIT are reported. */
static void test_warnings_and_reports(void **state)
{
	const char *yaml = AP("bookinfo", "nothing") "spec: {}\n" SEP RAT_ALLOW(
	    "  - to:\n    - operation:\n        methods: [GET]\n") SEP
	    "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: dry\n"
	    "  namespace: other\n  annotations:\n    istio.io/dry-run: \"true\"\n"
	    "spec:\n  action: DENY\n  rules:\n  - {}\n" SEP AP(
		"other", "audit") "spec:\n  action: AUDIT\n  rules:\n  - {}\n";
	struct config_diags diags = {0};
	struct policy_decision d;
	struct policy_conn conn;
	struct policy_set *ps;
	struct config cfg;
	char why[512];

	ps = compile_yaml(yaml, &cfg, &diags);
	assert_non_null(ps);
	assert_true(has_diag(&diags, "allows nothing"));
	assert_true(has_diag(&diags, "more restrictive than requested"));
	assert_non_null(policy_set_find(ps, "bookinfo/rat"));
	assert_true(policy_set_find(ps, "bookinfo/rat")->rules[0].dropped);
	assert_int_equal(policy_set_find(ps, "bookinfo/rat")->n_workloads, 1);
	assert_string_equal(policy_set_find(ps, "bookinfo/rat")->workloads[0], WLS[D_RAT].uid);

	memset(&conn, 0, sizeof(conn));
	conn.dst_uid = WLS[D_SLEEP].uid;
	conn.dst_namespace = "other";
	conn.dst_port = 80;
	conn.src_identity = ID_PP;
	policy_evaluate(ps, &conn, &d);
	assert_int_equal(d.verdict, POLICY_VERDICT_ALLOW);
	assert_true(d.shadow);
	assert_int_equal(d.shadow_verdict, POLICY_VERDICT_DENY);
	assert_string_equal(d.shadow_policy->key, "other/dry");
	assert_int_equal(d.n_audit, 1);
	assert_string_equal(d.audit[0]->key, "other/audit");
	policy_decision_explain(&d, &conn, why, sizeof(why));
	assert_non_null(strstr(why, "dry-run would deny (other/dry)"));
	assert_non_null(strstr(why, "audited by other/audit"));
	policy_set_free(ps);
	config_free(&cfg);
	config_diags_free(&diags);
}

/* A policy defined in two files is compiled once (keys stay unique for the ztunnel). */
static void test_duplicate_policy(void **state)
{
	struct config_diags diags = {0};
	struct policy_set *ps, *back;
	struct config ca, cb, merged;
	struct config_authorization_policy both[2];
	const char *a = AP("bookinfo", "twice") "spec:\n  action: DENY\n  rules:\n  - {}\n";
	const char *b = AP("bookinfo", "twice") "spec:\n  rules:\n  - {}\n";

	/* Each file loads on its own (as the agent's confstore does); the merged view has both. */
	config_init(&ca);
	config_init(&cb);
	config_init(&merged);
	assert_int_equal(config_load_buffer(&ca, "a.yaml", a, strlen(a), &diags), 0);
	assert_int_equal(config_load_buffer(&cb, "b.yaml", b, strlen(b), &diags), 0);
	both[0] = ca.authorization_policies[0];
	both[1] = cb.authorization_policies[0];
	merged.n_authorization_policies = 2;
	merged.authorization_policies = both;
	ps = policy_compile(&merged, WLS, sizeof(WLS) / sizeof(WLS[0]), NULL, &diags);
	assert_non_null(ps);
	assert_int_equal(ps->n_policies, 1);
	assert_int_equal(ps->policies[0].action, POLICY_ACTION_DENY);
	assert_true(has_diag(&diags, "this copy is ignored"));
	back = round_trip(ps);
	assert_int_equal(back->n_policies, 1);
	policy_set_free(back);
	policy_set_free(ps);
	config_free(&ca);
	config_free(&cb);
	config_diags_free(&diags);
}

/*
 * policy_compile_from takes the rules of objects of the same load that compiled without a
 * warning from the previous set and compiles everything else; the set is the one a plain
 * compile gives, and a warning is given at every compile.
 */
static void test_compile_from_previous(void **state)
{
	const char *yaml =
	    AP("bookinfo", "same") "spec:\n  rules:\n  - from:\n    - source:\n"
				   "        principals: [cluster.local/ns/a/sa/b]\n" SEP AP(
				       "bookinfo",
				       "warns") "spec:\n  rules:\n  - to:\n    - operation:\n"
						"        methods: [GET]\n";
	const char *changed =
	    AP("bookinfo", "same") "spec:\n  rules:\n  - from:\n    - source:\n"
				   "        principals: [cluster.local/ns/a/sa/c]\n";
	struct config_diags diags = {0};
	struct policy_set *ps, *next, *plain;
	struct policy_rule *same_rules, *warns_rules;
	struct config cfg, cfg2;
	char *a, *b;

	config_init(&cfg);
	assert_int_equal(config_load_buffer(&cfg, "case.yaml", yaml, strlen(yaml), &diags), 0);
	config_stamp_ids(&cfg);
	ps = policy_compile_from(&cfg, WLS, sizeof(WLS) / sizeof(WLS[0]), NULL, NULL, &diags, NULL);
	assert_non_null(ps);
	assert_int_equal(ps->n_policies, 2);
	assert_true(has_diag(&diags, "does not support"));
	same_rules = ps->policies[0].rules;
	warns_rules = ps->policies[1].rules;
	assert_string_equal(ps->policies[0].key, "bookinfo/same");
	a = tree_text(ps);

	/* The same load: the rules without a warning move over, the other ones are compiled. */
	config_diags_free(&diags);
	next = policy_compile_from(&cfg, WLS, sizeof(WLS) / sizeof(WLS[0]), NULL, NULL, &diags, ps);
	assert_non_null(next);
	assert_ptr_equal(next->policies[0].rules, same_rules);
	assert_null(ps->policies[0].rules);
	assert_int_equal(ps->policies[0].n_rules, 0);
	assert_ptr_not_equal(next->policies[1].rules, warns_rules);
	assert_ptr_equal(ps->policies[1].rules, warns_rules);
	assert_true(has_diag(&diags, "does not support"));
	b = tree_text(next);
	assert_string_equal(a, b);
	free(b);
	policy_set_free(ps);

	/* Without a previous set, or without diagnostics to tell warnings by: the same set. */
	plain = policy_compile(&cfg, WLS, sizeof(WLS) / sizeof(WLS[0]), NULL, NULL);
	b = tree_text(plain);
	assert_string_equal(a, b);
	free(b);
	assert_int_equal(plain->policies[0].serial, 0);
	policy_set_free(plain);

	/* A new load of one object (another serial) is compiled again. */
	config_init(&cfg2);
	assert_int_equal(config_load_buffer(&cfg2, "case.yaml", changed, strlen(changed), &diags),
			 0);
	config_stamp_ids(&cfg2);
	assert_int_not_equal(cfg2.authorization_policies[0].meta.serial,
			     cfg.authorization_policies[0].meta.serial);
	ps =
	    policy_compile_from(&cfg2, WLS, sizeof(WLS) / sizeof(WLS[0]), NULL, NULL, &diags, next);
	assert_non_null(ps);
	assert_int_equal(ps->n_policies, 1);
	assert_ptr_not_equal(ps->policies[0].rules, same_rules);
	assert_ptr_equal(next->policies[0].rules, same_rules);
	b = tree_text(ps);
	assert_non_null(strstr(b, "sa/c"));
	assert_null(strstr(b, "sa/b"));
	free(b);
	policy_set_free(ps);
	policy_set_free(next);
	free(a);
	config_free(&cfg);
	config_free(&cfg2);
	config_diags_free(&diags);
}

/* The kernel may drop what an unconditional source DENY forbids, nothing more. */
static void test_deny_src_cidrs(void **state)
{
	const char *yaml =
	    AP("bookinfo",
	       "deny-ips") "spec:\n  action: DENY\n  rules:\n  - from:\n    - source:\n"
			   "        ipBlocks: [10.99.0.0/24, \"2001:db8::/32\"]\n" SEP AP(
			       "bookinfo",
			       "deny-ip-port") "spec:\n  action: DENY\n  rules:\n  - from:\n    - "
					       "source:\n"
					       "        ipBlocks: [10.50.0.0/16]\n    to:\n    - "
					       "operation:\n        ports: [\"9080\"]\n";
	struct config_diags diags = {0};
	struct policy_cidrs out;
	struct policy_set *ps;
	struct config cfg;

	ps = compile_yaml(yaml, &cfg, &diags);
	assert_non_null(ps);
	assert_int_equal(policy_deny_src_cidrs(ps, WLS[D_RAT].uid, "bookinfo", &out), 0);
	/* Both families: the agent hands each to its family's kernel table (fastdrop.c). */
	assert_int_equal(out.n, 2);
	assert_true(ipaddr_equal(&out.items[0], &(struct ipaddr){AF_INET, 24, {10, 99, 0, 0}}));
	assert_true(
	    ipaddr_equal(&out.items[1], &(struct ipaddr){AF_INET6, 32, {0x20, 0x01, 0x0d, 0xb8}}));
	assert_string_equal(
	    policy_deny_src_owner(ps, WLS[D_RAT].uid, "bookinfo", &out.items[1])->key,
	    "bookinfo/deny-ips");
	/* `ambitctl policies` charges the kernel entry's drops to the policy that made it. */
	assert_string_equal(
	    policy_deny_src_owner(ps, WLS[D_RAT].uid, "bookinfo", &out.items[0])->key,
	    "bookinfo/deny-ips");
	out.items[0].len = 16;
	assert_null(policy_deny_src_owner(ps, WLS[D_RAT].uid, "bookinfo", &out.items[0]));
	out.items[0] = (struct ipaddr){AF_INET, 16, {10, 50, 0, 0}};
	assert_null(policy_deny_src_owner(ps, WLS[D_RAT].uid, "bookinfo", &out.items[0]));
	assert_null(policy_deny_src_owner(NULL, WLS[D_RAT].uid, "bookinfo", &out.items[0]));
	free(out.items);
	assert_int_equal(policy_deny_src_cidrs(ps, WLS[D_SLEEP].uid, "other", &out), 0);
	assert_int_equal(out.n, 0);
	free(out.items);
	policy_set_free(ps);
	config_free(&cfg);
	config_diags_free(&diags);
}

/*
 * Per-cluster trust domains (Istio's trustDomainAliases): a principal of the mesh's trust
 * domain, an alias of it or cluster.local stands for the same identity in any of them, in
 * principals and notPrincipals alike; one of another trust domain, or one naming none, matches
 * as written; and without the connection's trust domains nothing is expanded.
 */
static void test_trust_domain_aliases(void **state)
{
	const char *yaml = AP(
	    "bookinfo", "allow-pp") "spec:\n  selector:\n    matchLabels:\n      app: ratings\n"
				    "  action: ALLOW\n  rules:\n  - from:\n    - source:\n"
				    "        principals: [\"cluster1.local/ns/bookinfo/sa/pp\", "
				    "\"cluster.local/ns/bookinfo/sa/legacy\"]\n" SEP AP(
					"bookinfo",
					"deny-not-pp") "spec:\n  selector:\n    matchLabels:\n"
						       "      app: ratings\n  action: DENY\n"
						       "  rules:\n  - from:\n    - source:\n"
						       "        notPrincipals: "
						       "[\"cluster1.local/ns/bookinfo/sa/pp\", "
						       "\"cluster.local/ns/bookinfo/sa/legacy\", "
						       "\"other.td/ns/bookinfo/sa/pp\"]\n";
	static const char *const tds[] = {"cluster1.local", "cluster2.local"};
	static const struct {
		const char *id;
		bool with_tds, allow;
	} cases[] = {
	    {"spiffe://cluster1.local/ns/bookinfo/sa/pp", true, true},
	    /* The alias's same identity: allowed, and not denied by notPrincipals. */
	    {"spiffe://cluster2.local/ns/bookinfo/sa/pp", true, true},
	    /* cluster.local names the mesh's trust domain and its aliases. */
	    {"spiffe://cluster1.local/ns/bookinfo/sa/legacy", true, true},
	    {"spiffe://cluster2.local/ns/bookinfo/sa/legacy", true, true},
	    {"spiffe://cluster2.local/ns/bookinfo/sa/other", true, false},
	    /* A trust domain outside the bundle is matched as written only. */
	    {"spiffe://other.td/ns/bookinfo/sa/pp", true, false},
	    {"spiffe://third.td/ns/bookinfo/sa/pp", true, false},
	    /* Without the trust domains (an older caller): exactly as written. */
	    {"spiffe://cluster1.local/ns/bookinfo/sa/pp", false, true},
	    {"spiffe://cluster2.local/ns/bookinfo/sa/pp", false, false},
	    {"spiffe://cluster1.local/ns/bookinfo/sa/legacy", false, false},
	};
	struct config_diags diags = {0};
	struct policy_set *ps, *rt;
	struct config cfg;

	ps = compile_yaml(yaml, &cfg, &diags);
	assert_non_null(ps);
	rt = round_trip(ps);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (int k = 0; k < 2; k++) {
			struct policy_conn conn = {
			    .dst_uid = WLS[D_RAT].uid,
			    .dst_namespace = WLS[D_RAT].namespace,
			    .dst_port = 9080,
			    .src_identity = cases[i].id,
			};
			struct policy_decision d;

			assert_int_equal(ipaddr_parse_addr(IP_RAT, &conn.dst_ip), 0);
			assert_int_equal(ipaddr_parse_addr(IP_PP, &conn.src_ip), 0);
			if (cases[i].with_tds) {
				conn.trust_domains = tds;
				conn.n_trust_domains = 2;
			}
			policy_evaluate(k ? rt : ps, &conn, &d);
			if ((d.verdict == POLICY_VERDICT_ALLOW) != cases[i].allow)
				fail_msg("%s (trust domains %s, %s set): want %s", cases[i].id,
					 cases[i].with_tds ? "given" : "not given",
					 k ? "decoded" : "compiled",
					 cases[i].allow ? "ALLOW" : "DENY");
		}
	policy_set_free(rt);
	policy_set_free(ps);
	config_free(&cfg);
	config_diags_free(&diags);
}

/* Hostile JSON: every malformation is an error naming the field, never a crash. */
static void test_json_strict(void **state)
{
	static const char *const bad[] = {
	    "[]",
	    "{}",
	    "{\"rootNamespace\":\"istio-system\"}",
	    "{\"rootNamespace\":1,\"mesh\":{\"mode\":\"STRICT\"}}",
	    "{\"rootNamespace\":\"x\",\"mesh\":{\"mode\":\"SOMETIMES\"}}",
	    "{\"rootNamespace\":\"x\",\"mesh\":{\"mode\":\"STRICT\"},\"policies\":[{\"namespace\":"
	    "\"a\",\"name\":\"b\",\"scope\":\"galaxy\"}]}",
	    "{\"rootNamespace\":\"x\",\"mesh\":{\"mode\":\"STRICT\"},\"policies\":[{\"namespace\":"
	    "\"a\",\"name\":\"b\",\"rules\":[{\"clauses\":[[{\"srcIPs\":[\"300.1.1.1/8\"]}]]}]}]}",
	    "{\"rootNamespace\":\"x\",\"mesh\":{\"mode\":\"STRICT\"},\"policies\":[{\"namespace\":"
	    "\"a\",\"name\":\"b\",\"rules\":[{\"clauses\":[[{\"ports\":[70000]}]]}]}]}",
	    "{\"rootNamespace\":\"x\",\"mesh\":{\"mode\":\"STRICT\"},\"policies\":[{\"namespace\":"
	    "\"a\",\"name\":\"b\",\"rules\":[{\"clauses\":[[{\"methods\":[\"GET\"]}]]}]}]}",
	    "{\"rootNamespace\":\"x\",\"mesh\":{\"mode\":\"STRICT\"},\"policies\":[{\"namespace\":"
	    "\"a\",\"name\":\"b\",\"rules\":[{\"clauses\":[[]]}]}]}",
	    "{\"rootNamespace\":\"x\",\"mesh\":{\"mode\":\"STRICT\"},\"workloads\":[{\"uid\":\"a/"
	    "b\","
	    "\"namespace\":\"a\",\"mtls\":{\"mode\":\"STRICT\"},\"policies\":[0]}]}",
	    "{\"rootNamespace\":\"x\",\"mesh\":{\"mode\":\"STRICT\"},\"policies\":[{\"namespace\":"
	    "\"b\",\"name\":\"b\"},{\"namespace\":\"a\",\"name\":\"b\"}]}",
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *j = cJSON_Parse(bad[i]);
		struct policy_set *ps;

		assert_non_null(j);
		ps = policy_set_from_json(j, err, sizeof(err));
		cJSON_Delete(j);
		if (ps)
			print_error("accepted: %s\n", bad[i]);
		assert_null(ps);
		assert_int_equal(errno, EINVAL);
		assert_true(strncmp(err, "policies", 8) == 0);
	}
}

/* The policy set travels in the snapshot; a bad "policies" rejects the whole snapshot. */
static void test_snapshot_carries_policies(void **state)
{
	const char *yaml = PA("bookinfo", "ns") "spec:\n  mtls:\n    mode: STRICT\n" SEP RAT_ALLOW(
	    "  - from:\n    - source:\n        namespaces: [other]\n");
	struct snapshot snap = {.version = 7, .node = "node1", .trust_domain = "cluster.local"};
	struct config_diags diags = {0};
	struct snapshot *back;
	struct policy_decision d;
	struct policy_conn conn;
	struct config cfg;
	char err[256], *json, *bad;

	snap.policies = compile_yaml(yaml, &cfg, &diags);
	assert_non_null(snap.policies);
	json = snapshot_encode(&snap);
	assert_non_null(json);
	back = snapshot_decode(json, strlen(json), err, sizeof(err));
	assert_non_null(back);
	assert_non_null(back->policies);
	conn_of(&CASES[0], &conn);
	conn.src_identity = ID_SLEEP;
	policy_evaluate(back->policies, &conn, &d);
	assert_int_equal(d.verdict, POLICY_VERDICT_ALLOW);
	assert_string_equal(d.policy->key, "bookinfo/rat");
	conn.src_identity = NULL;
	policy_evaluate(back->policies, &conn, &d);
	assert_int_equal(d.reason, POLICY_REASON_MTLS_REQUIRED);
	snapshot_free(back);

	bad = strstr(json, "\"mode\":\"STRICT\"");
	assert_non_null(bad);
	bad[13] = 'X';
	assert_null(snapshot_decode(json, strlen(json), err, sizeof(err)));
	assert_non_null(strstr(err, "policies"));
	assert_non_null(strstr(err, "STRICX"));
	free(json);
	policy_set_free(snap.policies);
	config_free(&cfg);
	config_diags_free(&diags);
}

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* Recompiles as the agent does on a change: confstore view -> policy_sync_update. */
static void agent_recompile(struct confstore *cs, const char *dir, struct policy_sync *sync,
			    const struct runtime *rt)
{
	struct config view;
	bool changed;

	assert_int_equal(confstore_reload(cs, dir, &changed), 0);
	assert_int_equal(confstore_view(cs, &view), 0);
	assert_int_equal(policy_sync_update(sync, &view, rt, NULL), 0);
	confstore_view_free(&view);
}

/*
 * Malformed or hostile policy YAML is rejected with a message and the previous policy stays
 * in force (the agent keeps each file's last good version); deleting the file removes it.
 */
static void test_bad_yaml_keeps_previous(void **state)
{
	static const char *const hostile[] = {
	    /* unknown field */
	    AP("bookinfo", "rat") "spec:\n  action: DENY\n  rules:\n  - from:\n    - source:\n"
				  "        namespaces: [other]\n        bogus: 1\n",
	    /* bad CIDR, bad port, DENY without rules */
	    AP("bookinfo", "rat") "spec:\n  action: DENY\n  rules:\n  - from:\n    - source:\n"
				  "        ipBlocks: [10.0.0.300/8]\n",
	    AP("bookinfo", "rat") "spec:\n  action: DENY\n  rules:\n  - to:\n    - operation:\n"
				  "        ports: [\"70000\"]\n",
	    AP("bookinfo", "rat") "spec:\n  action: DENY\n",
	    /* not YAML at all, a billion-laughs style alias bomb, a wrong type */
	    "\x01\x02: [: {",
	    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
	    "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
	    AP("bookinfo", "rat") "spec:\n  action: [DENY]\n  rules: {}\n",
	};
	const char *good = AP("bookinfo", "rat") "spec:\n  action: DENY\n  rules:\n  - from:\n"
						 "    - source:\n        namespaces: [other]\n";
	char dir[] = "/tmp/ambit-test-policy-XXXXXX", path[128];
	struct confstore cs = {0};
	struct policy_sync sync = {0};
	struct runtime rt = {0};
	struct rt_pod pod = {0};
	struct policy_decision d;
	struct policy_conn conn = {
	    .dst_uid = "bookinfo/ratings-v1-0",
	    .dst_namespace = "bookinfo",
	    .dst_port = 9080,
	    .src_identity = ID_SLEEP,
	};

	pod.uid = "bookinfo/ratings-v1-0";
	pod.namespace = "bookinfo";
	pod.name = "ratings-v1-0";
	pod.labels = LS_RAT;
	rt.n_pods = 1;
	rt.pods = &pod;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/policy.yaml", dir);
	put_file(path, good);
	agent_recompile(&cs, dir, &sync, &rt);
	policy_evaluate(sync.set, &conn, &d);
	assert_int_equal(d.verdict, POLICY_VERDICT_DENY);
	assert_string_equal(d.policy->key, "bookinfo/rat");
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		struct timespec ts[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};

		put_file(path, hostile[i]);
		/* A rewrite within the same mtime tick must still be seen as a change. */
		ts[1].tv_sec = 1000 + (time_t)i;
		ts[1].tv_nsec = 0;
		assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
		agent_recompile(&cs, dir, &sync, &rt);
		assert_true(confstore_error_count(&cs) > 0);
		policy_evaluate(sync.set, &conn, &d);
		if (d.verdict != POLICY_VERDICT_DENY)
			print_error("hostile document %zu replaced the previous policy\n", i);
		assert_int_equal(d.verdict, POLICY_VERDICT_DENY);
		assert_string_equal(d.policy->key, "bookinfo/rat");
	}
	assert_int_equal(unlink(path), 0);
	agent_recompile(&cs, dir, &sync, &rt);
	policy_evaluate(sync.set, &conn, &d);
	assert_int_equal(d.verdict, POLICY_VERDICT_ALLOW);
	assert_int_equal(sync.set->n_policies, 0);
	policy_sync_free(&sync);
	confstore_free(&cs);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_memo_text),
	    cmocka_unit_test(test_warnings_and_reports),
	    cmocka_unit_test(test_deny_src_cidrs),
	    cmocka_unit_test(test_trust_domain_aliases),
	    cmocka_unit_test(test_json_strict),
	    cmocka_unit_test(test_bad_yaml_keeps_previous),
	    cmocka_unit_test(test_snapshot_carries_policies),
	    cmocka_unit_test(test_duplicate_policy),
	    cmocka_unit_test(test_compile_from_previous),
	};

	alarm(30);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
