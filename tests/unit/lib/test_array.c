// SPDX-License-Identifier: Apache-2.0
/* Arrays that grow by doubling (userspace/lib/array.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "lib/array.h"

/* Appending one at a time: room comes 16, 32, 64..., and what was stored stays. */
static void test_append(void **state)
{
	int *a = NULL;
	size_t cap = 0, n;

	for (n = 0; n < 1000; n++) {
		assert_int_equal(array_grow((void **)&a, &cap, n, sizeof(*a)), 0);
		assert_true(n < cap);
		a[n] = (int)n * 3;
	}
	assert_int_equal(cap, 1024);
	for (n = 0; n < 1000; n++)
		assert_int_equal(a[n], (int)n * 3);
	/* No growth while the element fits. */
	assert_int_equal(array_grow((void **)&a, &cap, 1023, sizeof(*a)), 0);
	assert_int_equal(cap, 1024);
	free(a);
}

/* A size that would overflow fails and leaves the array as it was. */
static void test_overflow(void **state)
{
	char *a = NULL;
	size_t cap = 0;

	assert_int_equal(array_grow((void **)&a, &cap, 0, 1), 0);
	a[0] = 'x';
	assert_int_equal(array_grow((void **)&a, &cap, 16, SIZE_MAX / 8), -ENOMEM);
	assert_int_equal(cap, 16);
	assert_int_equal(a[0], 'x');
	/* An index past twice the room cannot be reached by one doubling. */
	assert_int_equal(array_grow((void **)&a, &cap, 100, 1), -ENOMEM);
	assert_int_equal(cap, 16);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_append),
	    cmocka_unit_test(test_overflow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
