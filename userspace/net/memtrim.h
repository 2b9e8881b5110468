/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Giving a burst's heap back to the system. glibc keeps what its threads' arenas freed: after a
 * flood of TLS handshakes (some 25 KiB a connection, OpenSSL's record buffers and ours, on the
 * workers' arenas) the pages stay in the process's RSS long after the connections closed, the
 * arenas' free chunks interleaved with live ones so that nothing is at a heap's top to shrink.
 * malloc_trim(0) hands every free page of every arena back (madvise), which is what a quiet
 * moment after the burst wants; calling it on every close would cost a walk of the arenas each
 * time, and while connections still come the pages would be taken again at once.
 *
 * So: a tick about once a second with the proxy's live connections (memtrim_tick). It trims
 * once the count has fallen to at most half its high-water mark since the last trim, by at
 * least MEMTRIM_MIN_DROP connections, and did not grow since the previous tick; the mark then
 * starts again from there. A connection count, not mallinfo: reading glibc's figures walks the
 * arenas' free chunks under their locks.
 */
#ifndef AMBIT_NET_MEMTRIM_H
#define AMBIT_NET_MEMTRIM_H

#include <stdbool.h>
#include <stddef.h>

/* Connections that must have gone (at some 25 KiB each over TLS) before a trim is worth it. */
#define MEMTRIM_MIN_DROP 128

struct memtrim {
	size_t high;	     /* the high-water mark of live connections since the last trim */
	size_t last;	     /* the count at the previous tick */
	unsigned long trims; /* how many times it trimmed */
};

/*
 * Whether @m's tick with @live connections calls for a trim, updating its marks (the decision
 * alone, for tests). The first tick only sets the marks.
 */
bool memtrim_due(struct memtrim *m, size_t live);
/* memtrim_due, and malloc_trim(0) when it says so: true when it trimmed. */
bool memtrim_tick(struct memtrim *m, size_t live);

#endif
