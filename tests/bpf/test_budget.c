// SPDX-License-Identifier: Apache-2.0
/*
 * The verifier's budget: every program of bpf/capture.bpf.c and bpf/steer.bpf.c loads with the
 * instructions the verifier processes for it (global functions included, which it verifies
 * apart and counts together) below half of its limit of 1,000,000. Past the limit a program
 * does not load at all, and the count moves in steps (a branch can double what follows it), so
 * a change that takes a program past half fails here, with every program's figure printed,
 * rather than the next change past the cliff. tc_ingress stood at 960,014 before its IPv6
 * parser stopped carrying each count of extension headers apart (it is near 165,000 since).
 * The count is the kernel's, not a time: the same object on the same kernel counts the same.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <bpf/libbpf.h>
#include <cmocka.h>

#include "ambit/log.h"
#include "capture.skel.h"
#include "steer.skel.h"

#define BUDGET_LIMIT 1000000
#define BUDGET_SHARE 2 /* each program under limit / BUDGET_SHARE */
#define LOG_SIZE (1 << 20)
#define MAX_PROGS 16

static char pin_root[64];

/* The count in a verifier log at level 4 ("processed N insns ..."), or -1. */
static long processed(const char *log)
{
	const char *p = strstr(log, "processed ");

	return p ? strtol(p + strlen("processed "), NULL, 10) : -1;
}

/* Loads @obj (opened, not loaded) with a statistics log per program and checks each count. */
static void check_object(struct bpf_object *obj, const char *file)
{
	static char logs[MAX_PROGS][LOG_SIZE];
	struct bpf_program *prog;
	const char *over = NULL;
	long worst = 0, over_n = 0;
	int n = 0;

	bpf_object__for_each_program(prog, obj)
	{
		assert_true(n < MAX_PROGS);
		logs[n][0] = '\0';
		assert_int_equal(bpf_program__set_log_buf(prog, logs[n], LOG_SIZE), 0);
		assert_int_equal(bpf_program__set_log_level(prog, 4), 0);
		n++;
	}
	assert_int_equal(bpf_object__load(obj), 0);
	n = 0;
	bpf_object__for_each_program(prog, obj)
	{
		long c = processed(logs[n++]);

		printf("%s %-16s %7ld of %d instructions\n", file, bpf_program__name(prog), c,
		       BUDGET_LIMIT);
		worst = c > worst ? c : worst;
		if (c <= 0 || c >= BUDGET_LIMIT / BUDGET_SHARE) {
			over = over ? over : bpf_program__name(prog);
			over_n = over_n ? over_n : c;
		}
	}
	/* The pins go first: a failed check must not leave them behind. */
	assert_int_equal(bpf_object__unpin_maps(obj, NULL), 0);
	if (over)
		fail_msg("%s: %s takes %ld of the verifier's %d instructions, past 1/%d (or none "
			 "counted)",
			 file, over, over_n, BUDGET_LIMIT, BUDGET_SHARE);
	assert_true(worst > 0);
}

static void test_steer_budget(void **state)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_root);
	struct steer_bpf *s = steer_bpf__open_opts(&opts);

	assert_non_null(s);
	/* As the loader sets them: the proxy's addresses decide which paths exist. */
	s->rodata->dns_proxy_ip = 0x0100000a;
	s->rodata->dns_proxy_ip6[0] = 0xfd;
	check_object(s->obj, "steer.bpf.o");
	steer_bpf__destroy(s);
}

static void test_capture_budget(void **state)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_root);
	struct capture_bpf *c = capture_bpf__open_opts(&opts);

	assert_non_null(c);
	c->rodata->ztunnel_ip = 0x0100000a;
	c->rodata->ztunnel_ip6[0] = 0xfd;
	check_object(c->obj, "capture.bpf.o");
	capture_bpf__destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_steer_budget),
	    cmocka_unit_test(test_capture_budget),
	};
	int ret;

	if (geteuid() != 0) {
		fprintf(stderr, "test_budget: needs root (BPF), skipping\n");
		return 77;
	}
	log_init("test_budget", LOG_LEVEL_INFO);
	/* Maps pinned by name go to a directory of this run's own, removed after. */
	snprintf(pin_root, sizeof(pin_root), "/sys/fs/bpf/ambit-test-budget-%d", (int)getpid());
	if (mkdir(pin_root, 0700) < 0) {
		fprintf(stderr, "test_budget: mkdir %s: %s\n", pin_root, strerror(errno));
		return 1;
	}
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	if (rmdir(pin_root) < 0) {
		fprintf(stderr, "test_budget: rmdir %s: %s\n", pin_root, strerror(errno));
		ret = ret ? ret : 1;
	}
	return ret;
}
