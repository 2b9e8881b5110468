// SPDX-License-Identifier: Apache-2.0
/* Region allocation (arena.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "lib/blockcache.h"

/* A request's head and its strings fit one block in the common case (a few hundred bytes). */
#define BLOCK_SIZE BLOCKCACHE_ARENA_SIZE

struct arena_block {
	struct arena_block *next;
	size_t cap, used;
	max_align_t data[]; /* aligned for anything */
};

#define HEADER sizeof(struct arena_block)

static struct arena_block *block_new(size_t need)
{
	struct arena_block *b;
	size_t cap = need <= BLOCK_SIZE - HEADER ? BLOCK_SIZE - HEADER : need;

	/* A standard block from the thread's cache: no malloc per message (blockcache.h). */
	b = cap == BLOCK_SIZE - HEADER ? blockcache_get(BLOCKCACHE_ARENA) : malloc(HEADER + cap);
	if (!b)
		return NULL;
	b->cap = cap;
	b->used = 0;
	b->next = NULL;
	return b;
}

static void block_put(struct arena_block *b)
{
	if (b->cap == BLOCK_SIZE - HEADER)
		blockcache_put(BLOCKCACHE_ARENA, b);
	else
		free(b);
}

void *arena_alloc(struct arena *a, size_t n)
{
	struct arena_block *b = a->head;
	const size_t align = _Alignof(max_align_t);
	size_t at;

	n = (n + align - 1) & ~(align - 1);
	if (!b || b->cap - b->used < n) {
		struct arena_block *nb = block_new(n);

		if (!nb) {
			errno = ENOMEM;
			return NULL;
		}
		/* A block for one big allocation goes behind the current one, which stays open. */
		if (b && nb->cap > BLOCK_SIZE - HEADER && b->cap - b->used >= 256) {
			nb->next = b->next;
			b->next = nb;
			nb->used = n;
			return nb->data;
		}
		nb->next = b;
		a->head = b = nb;
	}
	at = b->used;
	b->used += n;
	return (char *)b->data + at;
}

char *arena_memdup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);

	if (!p)
		return NULL;
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void arena_free(struct arena *a)
{
	for (struct arena_block *b = a->head, *n; b; b = n) {
		n = b->next;
		block_put(b);
	}
	a->head = NULL;
}
