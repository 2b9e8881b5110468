// SPDX-License-Identifier: Apache-2.0
/*
 * ztunnel/kdrops.c: the node's kernel refusals as `ambit_kernel_drops_total{reason}`, read from
 * a per-CPU `counters` map pinned as the agent pins it. The map is made here (not by loading
 * the BPF programs) in a private bpffs directory, removed on the way out; needs root (exit 77
 * without).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>
#include <linux/types.h>

#include "ambit/datapath.h"
#include "ambit/log.h"
#include "../../../ztunnel/kdrops.h"

static char pin_root[64], pin_path[96];

static int setup(void **state)
{
	int ncpu = libbpf_num_possible_cpus(), fd, err = -1;
	uint64_t *vals;

	if (ncpu <= 0 || bpffs_ensure_mounted())
		return -1;
	snprintf(pin_root, sizeof(pin_root), "/sys/fs/bpf/ambit-test-kdrops-%d", (int)getpid());
	snprintf(pin_path, sizeof(pin_path), "%s/counters", pin_root);
	if (mkdir(pin_root, 0700))
		return -1;
	fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "counters", 4, 8, AMBIT_REASON__COUNT, NULL);
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (fd < 0 || !vals)
		goto out;
	/* Reason r counts r + 1 on every CPU, and the first CPU's share is doubled. */
	for (uint32_t r = 0; r < AMBIT_REASON__COUNT; r++) {
		for (int c = 0; c < ncpu; c++)
			vals[c] = r + 1;
		vals[0] *= 2;
		if (bpf_map_update_elem(fd, &r, vals, BPF_ANY))
			goto out;
	}
	err = bpf_obj_pin(fd, pin_path);
out:
	free(vals);
	if (fd >= 0)
		close(fd);
	return err;
}

static int teardown(void **state)
{
	unlink(pin_path);
	return rmdir(pin_root) && errno != ENOENT ? -1 : 0;
}

static void test_every_drop_reason_by_name(void **state)
{
	int ncpu = libbpf_num_possible_cpus();
	char *text = kdrops_render(pin_root), line[160];
	unsigned int drops = 0;

	assert_non_null(text);
	assert_non_null(strstr(text, "# HELP ambit_kernel_drops_total "));
	assert_non_null(strstr(text, "\n# TYPE ambit_kernel_drops_total counter\n"));
	for (unsigned int r = 0; r < AMBIT_REASON__COUNT; r++) {
		snprintf(line, sizeof(line), "ambit_kernel_drops_total{reason=\"%s\"} %llu\n",
			 ambit_reason_name(r), (unsigned long long)(r + 1) * (ncpu + 1));
		if (ambit_reason_is_drop(r)) {
			drops++;
			if (!strstr(text, line))
				fail_msg("missing: %s in\n%s", line, text);
		} else {
			/* Verdicts (pass, assign_*) are not refusals. */
			snprintf(line, sizeof(line), "reason=\"%s\"", ambit_reason_name(r));
			assert_null(strstr(text, line));
		}
	}
	assert_true(ambit_reason_is_drop(AMBIT_DROP_STRICT_PLAINTEXT));
	assert_true(ambit_reason_is_drop(AMBIT_DROP_DENY_SOURCE));
	assert_false(ambit_reason_is_drop(AMBIT_PASS));
	assert_false(ambit_reason_is_drop(AMBIT_REASON__COUNT));
	assert_true(drops >= 7);
	free(text);
}

/* No data path, or a map gone: the family is there, with no series; the scrape still works. */
static void test_without_counters(void **state)
{
	char *text = kdrops_render(NULL);

	assert_non_null(text);
	assert_non_null(strstr(text, "# TYPE ambit_kernel_drops_total counter\n"));
	assert_null(strstr(text, "{reason="));
	free(text);
	text = kdrops_render("/sys/fs/bpf/ambit-test-kdrops-nonexistent");
	assert_non_null(text);
	assert_null(strstr(text, "{reason="));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_drop_reason_by_name),
	    cmocka_unit_test(test_without_counters),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_kdrops: needs root (bpffs, BPF maps), skipping\n");
		return 77;
	}
	log_init("test_kdrops", LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, setup, teardown);
}
