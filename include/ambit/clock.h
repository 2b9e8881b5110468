/* SPDX-License-Identifier: Apache-2.0 */
/* The monotonic clock in milliseconds: deadlines, back-offs and debounces of every module. */
#ifndef AMBIT_CLOCK_H
#define AMBIT_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
