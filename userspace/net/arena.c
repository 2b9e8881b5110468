// SPDX-License-Identifier: Apache-2.0
/* Region allocation (arena.h). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

/* A request's head and its strings fit one block in the common case (a few hundred bytes). */
#define BLOCK_SIZE 4096u
/* Blocks a thread keeps for reuse: a worker's requests in flight, roughly. */
#define CACHE_MAX 128u

struct arena_block {
	struct arena_block *next;
	size_t cap, used;
	max_align_t data[]; /* aligned for anything */
};

#define HEADER sizeof(struct arena_block)

/* Each thread (each worker's loop) reuses its own blocks: no lock, no malloc per request. */
static __thread struct arena_block *cache;
static __thread unsigned int cached;
/* A thread's cache goes with the thread (its key's destructor), not into a leak report. */
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static bool cache_key_ok;

static void cache_drop(void *unused)
{
	while (cache) {
		struct arena_block *b = cache;

		cache = b->next;
		free(b);
	}
	cached = 0;
}

static void cache_key_make(void)
{
	cache_key_ok = pthread_key_create(&cache_key, cache_drop) == 0;
}

static struct arena_block *block_new(size_t need)
{
	struct arena_block *b;
	size_t cap = need <= BLOCK_SIZE - HEADER ? BLOCK_SIZE - HEADER : need;

	if (cap == BLOCK_SIZE - HEADER && cache) {
		b = cache;
		cache = b->next;
		cached--;
	} else {
		b = malloc(HEADER + cap);
		if (!b)
			return NULL;
		b->cap = cap;
	}
	b->used = 0;
	b->next = NULL;
	return b;
}

static void block_put(struct arena_block *b)
{
	if (!cache && b->cap == BLOCK_SIZE - HEADER) {
		pthread_once(&cache_once, cache_key_make);
		if (!cache_key_ok || pthread_setspecific(cache_key, &cache)) {
			free(b);
			return;
		}
	}
	if (b->cap == BLOCK_SIZE - HEADER && cached < CACHE_MAX) {
		b->next = cache;
		cache = b;
		cached++;
		return;
	}
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
