// SPDX-License-Identifier: Apache-2.0
/* serial_map: positions by load serial, in strided arrays; each taken once; serial 0 never. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/serial_map.h"

struct elem {
	char pad[5];
	uint64_t serial;
	int payload;
};

static void test_lookup_and_take(void **state)
{
	struct elem e[300];
	struct serial_map m;

	memset(e, 0, sizeof(e));
	for (size_t i = 0; i < 300; i++)
		e[i].serial = i % 7 == 3 ? 0 : 1000 + i * 64; /* some unknown; a shared stride */
	e[299].serial = e[10].serial;			      /* repeated: the first counts */
	assert_int_equal(serial_map_build(&m, e, 300, sizeof(e[0]), offsetof(struct elem, serial)),
			 0);
	for (size_t i = 0; i < 299; i++)
		assert_int_equal(serial_map_get(&m, e[i].serial), e[i].serial ? i : SIZE_MAX);
	assert_int_equal(serial_map_get(&m, 0), SIZE_MAX);
	assert_int_equal(serial_map_get(&m, 999), SIZE_MAX);
	/* Taken once; get still answers. */
	assert_int_equal(serial_map_take(&m, e[20].serial), 20);
	assert_int_equal(serial_map_take(&m, e[20].serial), SIZE_MAX);
	assert_int_equal(serial_map_get(&m, e[20].serial), 20);
	assert_int_equal(serial_map_take(&m, 0), SIZE_MAX);
	serial_map_free(&m);
	assert_int_equal(serial_map_get(&m, e[20].serial), SIZE_MAX);
}

static void test_plain_and_empty(void **state)
{
	uint64_t s[] = {5, 0, 9};
	struct serial_map m;

	assert_int_equal(serial_map_build(&m, s, 3, sizeof(s[0]), 0), 0);
	assert_int_equal(serial_map_get(&m, 9), 2);
	assert_int_equal(serial_map_take(&m, 5), 0);
	serial_map_free(&m);
	assert_int_equal(serial_map_build(&m, NULL, 0, sizeof(s[0]), 0), 0);
	assert_int_equal(serial_map_get(&m, 5), SIZE_MAX);
	assert_int_equal(serial_map_take(&m, 5), SIZE_MAX);
	serial_map_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lookup_and_take),
	    cmocka_unit_test(test_plain_and_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
