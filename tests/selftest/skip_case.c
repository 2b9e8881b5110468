// SPDX-License-Identifier: Apache-2.0
/*
 * A cmocka binary for the runners' self-test (tests/selftest/runners.sh): one case passes, one
 * calls skip() after saying why, so the binary exits 0 as every cmocka binary with a skipped case
 * does. With an argument "77" it exits 77 at once, as a binary missing a privilege does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static void test_passes(void **state)
{
	assert_int_equal(1 + 1, 2);
}

static void test_skips(void **state)
{
	print_message("needs the selftest-widget\n");
	skip();
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_passes),
	    cmocka_unit_test(test_skips),
	};

	if (argc > 1 && strcmp(argv[1], "77") == 0) {
		fprintf(stderr, "selftest_skip: needs the selftest-gadget, skipping\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
