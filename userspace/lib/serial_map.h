/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Positions by load serial (config_meta.serial, config_stamp_ids): what was made from an object
 * of the same load may be taken over instead of made again. Open addressing over a power of two,
 * at most half full; serial 0 (unknown) is never mapped.
 */
#ifndef AMBIT_SERIAL_MAP_H
#define AMBIT_SERIAL_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct serial_slot {
	uint64_t serial; /* 0: free */
	size_t at;
	bool taken;
};

struct serial_map {
	size_t cap; /* 0: empty, every look-up misses */
	struct serial_slot *t;
};

/*
 * Maps the serial of each of @n elements @stride bytes apart (the uint64_t at @offset in each)
 * to its position; where one repeats, to the first. 0, or -ENOMEM with @m empty.
 */
int serial_map_build(struct serial_map *m, const void *elems, size_t n, size_t stride,
		     size_t offset);
/* The position of @serial, or SIZE_MAX. */
size_t serial_map_get(const struct serial_map *m, uint64_t serial);
/* serial_map_get, once: each position is taken by one caller at most (a lender's). */
size_t serial_map_take(struct serial_map *m, uint64_t serial);
void serial_map_free(struct serial_map *m);

#endif
