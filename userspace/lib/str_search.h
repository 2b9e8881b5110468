/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Binary search over elements sorted by a string key (strcmp order), giving the insertion point
 * when the key is not there: for arrays kept sorted by inserting in place.
 */
#ifndef AMBIT_STR_SEARCH_H
#define AMBIT_STR_SEARCH_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Where @key is among @n elements @stride bytes apart, each holding at @offset a `char *` (or
 * `const char *`) they are sorted by: its position (*@found true; the first of equal keys), or
 * the position it would be inserted at (*@found false).
 */
size_t str_lower_bound(const void *elems, size_t n, size_t stride, size_t offset, const char *key,
		       bool *found);

#endif
