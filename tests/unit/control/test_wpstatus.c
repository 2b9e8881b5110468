// SPDX-License-Identifier: Apache-2.0
/*
 * The waypoint controller's AuthorizationPolicy status (userspace/control/wpstatus.c,
 * wps_policy_status): the ZtunnelAccepted condition of a policy as served, stamped as the API
 * wants conditions, and compared with what is there without its times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "control/wpstatus.h"

static const char deny_json[] =
    "{\"apiVersion\":\"security.istio.io/v1\",\"kind\":\"AuthorizationPolicy\","
    "\"metadata\":{\"name\":\"deny-delete\",\"namespace\":\"shop\",\"uid\":\"u\","
    "\"generation\":3},\"spec\":{\"action\":\"DENY\",\"rules\":[{\"to\":[{\"operation\":"
    "{\"methods\":[\"DELETE\"]}}]}]}}";
static const char waypoint_json[] =
    "{\"apiVersion\":\"security.istio.io/v1\",\"kind\":\"AuthorizationPolicy\","
    "\"metadata\":{\"name\":\"wp\",\"namespace\":\"shop\",\"uid\":\"v\",\"generation\":1},"
    "\"spec\":{\"targetRefs\":[{\"kind\":\"Service\",\"group\":\"\",\"name\":\"web\"}],"
    "\"rules\":[{\"to\":[{\"operation\":{\"methods\":[\"GET\"]}}]}]}}";

static const char *cond_str(const cJSON *st, const char *key)
{
	return cJSON_GetStringValue(
	    cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(st, "conditions"), 0), key));
}

static void test_policy_status(void **state)
{
	cJSON *objs = cJSON_CreateObject(), *deny = cJSON_Parse(deny_json),
	      *wp = cJSON_Parse(waypoint_json), *st, *later;
	const cJSON *maps[] = {objs};
	struct config *cfg;

	cJSON_AddItemReferenceToObject(objs, "authorizationpolicies|shop/deny-delete", deny);
	cJSON_AddItemReferenceToObject(objs, "authorizationpolicies|shop/wp", wp);
	cfg = wps_config(maps, 1);
	assert_non_null(cfg);
	st = wps_policy_status(cfg, deny, "2026-01-01T00:00:00Z");
	assert_non_null(st);
	assert_string_equal(cond_str(st, "type"), "ZtunnelAccepted");
	assert_string_equal(cond_str(st, "status"), "True");
	assert_string_equal(cond_str(st, "reason"), "UnsupportedValue");
	assert_non_null(strstr(cond_str(st, "message"), "(found: methods)"));
	assert_string_equal(cond_str(st, "lastTransitionTime"), "2026-01-01T00:00:00Z");
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(
			     cJSON_GetArrayItem(cJSON_GetObjectItem(st, "conditions"), 0),
			     "observedGeneration")),
			 3);
	/* Later, the same thing said: not written again. */
	later = wps_policy_status(cfg, deny, "2026-01-02T00:00:00Z");
	assert_true(wps_same_status(st, later));
	cJSON_Delete(later);
	/* The waypoint's policy has no ZtunnelAccepted; one the config lacks, none either. */
	assert_null(wps_policy_status(cfg, wp, "2026-01-01T00:00:00Z"));
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(deny, "metadata"), "name",
				  cJSON_CreateString("nosuch"));
	assert_null(wps_policy_status(cfg, deny, "2026-01-01T00:00:00Z"));
	cJSON_Delete(st);
	wps_config_free(cfg);
	cJSON_Delete(objs);
	cJSON_Delete(deny);
	cJSON_Delete(wp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_policy_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
