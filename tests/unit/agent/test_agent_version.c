// SPDX-License-Identifier: Apache-2.0
/*
 * The version an agent reports (status "version", what `ambitctl apply` waits for the node's
 * ztunnel to run) is that of the ztunnel's snapshot, though waypoint snapshots take their
 * versions from the same counter; and a waypoint taking a version is no reason to send the
 * ztunnel an unchanged snapshot again. An agent with no datapath, no pods and no config: only
 * the publish path runs (agent_renew_certs publishes, as a certificate timer would).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "ambit/ca.h"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/ambit-agentver-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static uint64_t status_version(const struct agent *a)
{
	char *text = agent_status_json(a);
	cJSON *o = cJSON_Parse(text);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "version");
	uint64_t ver;

	assert_non_null(o);
	assert_true(cJSON_IsNumber(v));
	ver = (uint64_t)v->valuedouble;
	cJSON_Delete(o);
	free(text);
	return ver;
}

static void test_waypoint_versions_not_reported(void **state)
{
	struct agent a = {0};
	char cadir[128];

	snprintf(cadir, sizeof(cadir), "%s/ca", dir);
	a.opts.node = "node1";
	a.opts.trust_domain = "cluster.local";
	snprintf(a.opts.version_path, sizeof(a.opts.version_path), "%s/snapshot.version", dir);
	a.ca = ca_open(cadir);
	assert_non_null(a.ca);
	a.rt_ok = true;

	agent_renew_certs(&a);
	assert_non_null(a.snap_json);
	assert_int_equal(status_version(&a), 1);

	/* A waypoint instance's snapshot, as wpserve publishes one. */
	assert_int_equal(agent_next_version(&a), 2);
	assert_int_equal(status_version(&a), 1);

	/* Nothing the ztunnel gets changed: no new snapshot for it, the report stays. */
	agent_renew_certs(&a);
	assert_int_equal(a.version, 2);
	assert_int_equal(status_version(&a), 1);
	agent_cleanup(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_waypoint_versions_not_reported),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
