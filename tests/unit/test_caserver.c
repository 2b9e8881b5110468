// SPDX-License-Identifier: Apache-2.0
/*
 * Tests for the CA server's decision (userspace/control/caserver.c, caserver_decide): a request
 * is signed only for a token of the agents' service account bound to a node, and only for a pod
 * scheduled on that node, with the pod's service account as the identity. The wire (TLS, the
 * API server, the agent's request) is t_93's.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <cmocka.h>

#include "caserver.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decide),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
