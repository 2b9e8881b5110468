// SPDX-License-Identifier: Apache-2.0
/* Per-thread caches of fixed-size blocks (blockcache.h). */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "blockcache.h"

/* Blocks a thread keeps per kind: a worker's requests and connections in flight, roughly. */
static const unsigned int cache_max[BLOCKCACHE_KINDS] = {128, 64};
static const size_t block_size[BLOCKCACHE_KINDS] = {BLOCKCACHE_ARENA_SIZE, BLOCKCACHE_BUF_SIZE};

struct free_block {
	struct free_block *next;
};

struct cache {
	struct free_block *head[BLOCKCACHE_KINDS];
	unsigned int n[BLOCKCACHE_KINDS];
};

static __thread struct cache cache;
/* A thread's cache goes with the thread (its key's destructor), not into a leak report. */
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static bool cache_key_ok;
static __thread bool registered;

static void cache_drop(void *unused)
{
	for (int k = 0; k < BLOCKCACHE_KINDS; k++) {
		while (cache.head[k]) {
			struct free_block *b = cache.head[k];

			cache.head[k] = b->next;
			free(b);
		}
		cache.n[k] = 0;
	}
}

static void cache_key_make(void)
{
	cache_key_ok = pthread_key_create(&cache_key, cache_drop) == 0;
}

void *blockcache_get(enum blockcache_kind kind)
{
	struct free_block *b = cache.head[kind];

	if (!b)
		return malloc(block_size[kind]);
	cache.head[kind] = b->next;
	cache.n[kind]--;
	return b;
}

void blockcache_put(enum blockcache_kind kind, void *p)
{
	struct free_block *b = p;

	if (!p)
		return;
	if (!registered) {
		pthread_once(&cache_once, cache_key_make);
		registered = cache_key_ok && pthread_setspecific(cache_key, &cache) == 0;
	}
	if (!registered || cache.n[kind] >= cache_max[kind]) {
		free(p);
		return;
	}
	b->next = cache.head[kind];
	cache.head[kind] = b;
	cache.n[kind]++;
}
