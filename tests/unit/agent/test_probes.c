// SPDX-License-Identifier: Apache-2.0
/*
 * The kubelet's cgroup for the node's programs (userspace/agent/probes.h), on a procfs laid out
 * in a directory of the test's own (<pid>/comm, <pid>/cgroup as a hybrid host writes it) over
 * the real cgroup2 mount, whose cgroup is this process': --kubelet-cgroup auto finds the lowest
 * process named kubelet and its cgroup, looks again once it is gone, "none" and a missing
 * kubelet give none, and a path names a cgroup absolute or under the mount.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ambit/datapath.h"
#include "agent/probes.h"
#include "../../lib/harness.h"

/* A pid no process can have: past 4,194,304, pid_max's ceiling. */
#define GHOST 4194305

static char proc[64], cg2[PATH_MAX], own[PATH_MAX];
static uint64_t own_id;

/* A process @pid named @comm, in this process' cgroup (v1's line first, as a hybrid host). */
static void fake_pid(int pid, const char *comm)
{
	assert_int_equal(harness_sh("mkdir -p %s/%d && printf '%%s\\n' %s >%s/%d/comm && "
				    "printf '1:name=systemd:/x\\n0::%s\\n' >%s/%d/cgroup",
				    proc, pid, comm, proc, pid, own, proc, pid),
			 0);
}

static int setup(void **state)
{
	char line[PATH_MAX], dir[PATH_MAX * 2];
	FILE *f;

	snprintf(proc, sizeof(proc), "/tmp/ambit-test-probes-%d", getpid());
	if (cgroup2_mount(cg2, sizeof(cg2)) || !(f = fopen("/proc/self/cgroup", "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "0::/", 4) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(own, sizeof(own), "%s", line + 3);
		}
	fclose(f);
	snprintf(dir, sizeof(dir), "%s%s", cg2, own);
	own_id = cgroup_id_of(dir);
	return own[0] && own_id ? harness_sh("mkdir -p %s", proc) : -1;
}

static int teardown(void **state)
{
	return harness_sh("rm -rf %s", proc);
}

static void test_auto_finds_the_kubelet(void **state)
{
	int pid = 0;

	/* No kubelet: none, and looked for again each time. */
	fake_pid(5, "bash");
	assert_int_equal(probes_kubelet_cgroup("auto", proc, cg2, &pid), 0);
	assert_int_equal(pid, 0);
	fake_pid(9, "kubelet");
	fake_pid(7, "kubelet");
	fake_pid(70, "kubelet-x");
	assert_int_equal(probes_find_comm(proc, "kubelet"), 7);
	assert_int_equal(probes_kubelet_cgroup(NULL, proc, cg2, &pid), own_id);
	assert_int_equal(pid, 7);
	/* Gone, or another program now: the next one. */
	assert_int_equal(harness_sh("rm -rf %s/7", proc), 0);
	assert_int_equal(probes_kubelet_cgroup("auto", proc, cg2, &pid), own_id);
	assert_int_equal(pid, 9);
	fake_pid(9, "bash");
	assert_int_equal(probes_kubelet_cgroup("auto", proc, cg2, &pid), 0);
	assert_int_equal(pid, 0);
	/*
	 * A kubelet whose cgroup line names no directory there; its pid is past pid_max's ceiling,
	 * no process's (a small one may be a kernel thread's of the root cgroup the test may run
	 * in).
	 */
	assert_int_equal(harness_sh("mkdir -p %s/%d && echo kubelet >%s/%d/comm && "
				    "echo 0::/no-such-ambit-cgroup >%s/%d/cgroup",
				    proc, GHOST, proc, GHOST, proc, GHOST),
			 0);
	assert_int_equal(probes_kubelet_cgroup("auto", proc, cg2, &pid), 0);
	assert_int_equal(probes_cgroup_of_pid(proc, cg2, 12), 0);
	/*
	 * Read from a cgroup namespace of its own, the path climbs out with "/..": taken from the
	 * mount's root when the process is there (this one is), not otherwise (GHOST is not).
	 */
	assert_int_equal(harness_sh("mkdir -p %s/%d && printf '0::/../..%s\\n' >%s/%d/cgroup", proc,
				    getpid(), own, proc, getpid()),
			 0);
	assert_int_equal(probes_cgroup_of_pid(proc, cg2, getpid()), own_id);
	assert_int_equal(harness_sh("printf '0::/../..%s\\n' >%s/%d/cgroup", own, proc, GHOST), 0);
	assert_int_equal(probes_cgroup_of_pid(proc, cg2, GHOST), 0);
}

static void test_none_and_paths(void **state)
{
	char abs[PATH_MAX * 2];
	int pid = 0;

	fake_pid(3, "kubelet");
	assert_int_equal(probes_kubelet_cgroup("none", proc, cg2, &pid), 0);
	/* Under the mount, with or without its leading slash, or the whole path. */
	assert_int_equal(probes_kubelet_cgroup(own, proc, cg2, &pid), own_id);
	assert_int_equal(probes_kubelet_cgroup(own + 1, proc, cg2, &pid), own_id);
	snprintf(abs, sizeof(abs), "%s%s", cg2, own);
	assert_int_equal(probes_kubelet_cgroup(abs, proc, cg2, &pid), own_id);
	assert_int_equal(probes_kubelet_cgroup("/no-such-ambit-cgroup", proc, cg2, &pid), 0);
	assert_int_equal(pid, 0); /* a path never looks for the process */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_auto_finds_the_kubelet),
	    cmocka_unit_test(test_none_and_paths),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
