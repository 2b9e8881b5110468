// SPDX-License-Identifier: Apache-2.0
/* Positions by load serial (serial_map.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "serial_map.h"

static struct serial_slot *slot_of(const struct serial_map *m, uint64_t serial)
{
	size_t i = (size_t)(serial * 0x9e3779b97f4a7c15ull >> 17) & (m->cap - 1);

	while (m->t[i].serial && m->t[i].serial != serial)
		i = (i + 1) & (m->cap - 1);
	return &m->t[i];
}

int serial_map_build(struct serial_map *m, const void *elems, size_t n, size_t stride,
		     size_t offset)
{
	memset(m, 0, sizeof(*m));
	if (!n)
		return 0;
	for (m->cap = 64; m->cap < 2 * n; m->cap *= 2)
		;
	m->t = calloc(m->cap, sizeof(*m->t));
	if (!m->t) {
		m->cap = 0;
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t v;
		struct serial_slot *s;

		memcpy(&v, (const char *)elems + i * stride + offset, sizeof(v));
		if (!v)
			continue;
		s = slot_of(m, v);
		if (!s->serial)
			*s = (struct serial_slot){.serial = v, .at = i};
	}
	return 0;
}

size_t serial_map_get(const struct serial_map *m, uint64_t serial)
{
	const struct serial_slot *s = m->cap && serial ? slot_of(m, serial) : NULL;

	return s && s->serial ? s->at : SIZE_MAX;
}

size_t serial_map_take(struct serial_map *m, uint64_t serial)
{
	struct serial_slot *s = m->cap && serial ? slot_of(m, serial) : NULL;

	if (!s || !s->serial || s->taken)
		return SIZE_MAX;
	s->taken = true;
	return s->at;
}

void serial_map_free(struct serial_map *m)
{
	free(m->t);
	memset(m, 0, sizeof(*m));
}
