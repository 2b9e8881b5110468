/* SPDX-License-Identifier: Apache-2.0 */
/* A bounded byte queue for one direction of a spliced connection (backpressure lives here). */
#ifndef AMBIT_LIB_BUF_H
#define AMBIT_LIB_BUF_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "blockcache.h"

struct buf {
	char *data;
	size_t cap, off, len;
};

static inline char *buf_head(const struct buf *b)
{
	return b->data ? b->data + b->off : NULL; /* NULL + 0 is undefined behaviour */
}

static inline void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (!b->len)
		b->off = 0;
}

/* Room for at least @n more bytes at the tail, growing up to @limit. Pointer or NULL. */
static inline char *buf_reserve(struct buf *b, size_t n, size_t limit)
{
	if (b->len + n > limit)
		return NULL;
	if (b->off + b->len + n > b->cap && b->off) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : BLOCKCACHE_BUF_SIZE;
		char *p;

		while (cap < b->len + n)
			cap *= 2;
		if (cap > limit)
			cap = limit;
		/* A first block of the usual size comes from the thread's cache (blockcache.h). */
		if (!b->data && cap == BLOCKCACHE_BUF_SIZE)
			p = blockcache_get(BLOCKCACHE_BUF);
		else
			p = realloc(b->data, cap);
		if (!p)
			return NULL;
		b->data = p;
		b->cap = cap;
	}
	return b->data + b->off + b->len;
}

/*
 * Reads what @fd has into @b, keeping at most @limit bytes buffered: into the room the buffer
 * has (16 KiB for a new one), growing it only when reads fill it, so a quiet connection holds
 * 16 KiB, not @limit (asking for @limit at once made every connection hold 2 x 256 KiB).
 * Returns the bytes read (> 0), 0 at EOF, -EAGAIN when nothing is there, -ENOMEM, or -errno.
 * With @drained (may be NULL), whether a read of bytes got fewer than it asked for: a stream
 * socket had no more queued, so a read right after would only say EAGAIN (what comes later
 * makes a new level-triggered event).
 */
static inline ssize_t buf_read_fd_drained(struct buf *b, int fd, size_t limit, bool *drained)
{
	size_t room = b->cap - b->off - b->len;
	char *p;
	ssize_t n;

	if (room < 4096)
		room = b->cap ? b->cap : 16384;
	if (room > limit - b->len)
		room = limit - b->len;
	p = buf_reserve(b, room, limit);
	if (!p)
		return -ENOMEM;
	/*
	 * recv(), not read(): the socket call skips the VFS layer a read() goes through (a
	 * proxy's every request pays it twice). Anything but a socket is read() as before.
	 */
	do
		n = recv(fd, p, room, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == ENOTSOCK) {
		do
			n = read(fd, p, room);
		while (n < 0 && errno == EINTR);
	}
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	b->len += (size_t)n;
	if (drained)
		*drained = (size_t)n < room;
	return n;
}

static inline ssize_t buf_read_fd(struct buf *b, int fd, size_t limit)
{
	return buf_read_fd_drained(b, fd, limit, NULL);
}

static inline void buf_free(struct buf *b)
{
	if (b->cap == BLOCKCACHE_BUF_SIZE)
		blockcache_put(BLOCKCACHE_BUF, b->data);
	else
		free(b->data);
	b->data = NULL;
	b->cap = b->off = b->len = 0;
}

#endif
