// SPDX-License-Identifier: Apache-2.0
/* Giving a burst's heap back to the system once its connections are gone (memtrim.h). */
#include <malloc.h>

#include "memtrim.h"

bool memtrim_due(struct memtrim *m, size_t live)
{
	bool quiet = live <= m->last, due;

	m->last = live;
	if (live > m->high) {
		m->high = live;
		return false;
	}
	due = quiet && m->high - live >= MEMTRIM_MIN_DROP && live <= m->high / 2;
	if (due)
		m->high = live;
	return due;
}

bool memtrim_tick(struct memtrim *m, size_t live)
{
	if (!memtrim_due(m, live))
		return false;
	malloc_trim(0);
	m->trims++;
	return true;
}
