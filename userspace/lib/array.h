/* SPDX-License-Identifier: Apache-2.0 */
/* Arrays that grow by doubling, for builders that append one element at a time. */
#ifndef AMBIT_ARRAY_H
#define AMBIT_ARRAY_H

#include <stddef.h>

/*
 * Room for element @n (0-based) in *@arr, an array of *@cap elements of @size bytes: when @n is
 * past the end, the array is reallocated to twice its capacity (16 at first). 0, or -ENOMEM
 * (then *@arr and *@cap are as they were).
 */
int array_grow(void **arr, size_t *cap, size_t n, size_t size);

#endif
