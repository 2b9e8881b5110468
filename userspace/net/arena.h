/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A region allocator for what one message owns (its head's fields, its strings): allocations
 * are carved from blocks and all freed at once. A request used to cost some thirty malloc and
 * free calls (every field's name and value, the request's own strings); it now costs a block,
 * taken from and given back to a small cache of the thread's own, so the request path calls
 * malloc only for what outgrows a block.
 *
 * An arena is zero-initialised and holds nothing until its first allocation. It may be moved
 * (copied as a struct, the original forgotten): its blocks are on the heap.
 */
#ifndef AMBIT_NET_ARENA_H
#define AMBIT_NET_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
	struct arena_block *head; /* the block being carved, then the full ones */
};

/* @n bytes aligned for any object, valid until arena_free. NULL (errno ENOMEM) when out. */
void *arena_alloc(struct arena *a, size_t n);
/* A copy of @n bytes of @s with a NUL after them. NULL when out of memory. */
char *arena_memdup(struct arena *a, const char *s, size_t n);
/* Everything @a holds goes; @a is empty again. */
void arena_free(struct arena *a);

#endif
