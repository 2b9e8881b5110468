// SPDX-License-Identifier: Apache-2.0
/* Binary search by string key (str_search.h). */
#include <string.h>

#include "str_search.h"

size_t str_lower_bound(const void *elems, size_t n, size_t stride, size_t offset, const char *key,
		       bool *found)
{
	const char *base = elems;
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *k;

		memcpy(&k, base + mid * stride + offset, sizeof(k));
		if (strcmp(k, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n) {
		const char *k;

		memcpy(&k, base + lo * stride + offset, sizeof(k));
		*found = !strcmp(k, key);
	} else {
		*found = false;
	}
	return lo;
}
