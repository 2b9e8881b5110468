/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Each thread's cache of the blocks the request path takes and gives back all the time (a
 * message's arena block, a connection's 16 KiB read or write buffer): taken from and given back
 * to the thread's own list, bounded, with no lock and no malloc in the steady state. A block
 * given back to a full cache is freed; a thread's cache goes with the thread.
 */
#ifndef AMBIT_NET_BLOCKCACHE_H
#define AMBIT_NET_BLOCKCACHE_H

#include <stdbool.h>
#include <stddef.h>

enum blockcache_kind {
	BLOCKCACHE_ARENA = 0, /* BLOCKCACHE_ARENA_SIZE bytes: arena.c */
	BLOCKCACHE_BUF,	      /* BLOCKCACHE_BUF_SIZE bytes: buf.h */
	BLOCKCACHE_KINDS,
};

#define BLOCKCACHE_ARENA_SIZE 4096u
#define BLOCKCACHE_BUF_SIZE 16384u

/* A block of @kind's size (malloc'd when the cache is empty), or NULL (errno ENOMEM). */
void *blockcache_get(enum blockcache_kind kind);
/* Gives back a block of @kind (from blockcache_get or malloc of the same size). */
void blockcache_put(enum blockcache_kind kind, void *p);

#endif
