/* SPDX-License-Identifier: Apache-2.0 */
/* Small file helpers shared by the library, the agent and the CLI. */
#ifndef AMBIT_FILEUTIL_H
#define AMBIT_FILEUTIL_H

#include <stddef.h>

/*
 * Reads from @fd into @buf (caller-owned, at least @cap bytes) until @cap bytes are in or the
 * file ends, retrying on EINTR. *@got is set to the bytes read, also on error.
 * Returns 0 (end of file or @cap reached) or -errno of the failing read.
 */
int fileutil_read_upto(int fd, char *buf, size_t cap, size_t *got);
/*
 * The whole regular file @path, NUL-terminated, into *@out (malloc'd; the caller frees) and its
 * length into *@len. 0, or -errno (-EFBIG: not a regular file, or over @max bytes; 0: no bound).
 */
int fileutil_read_file(const char *path, size_t max, char **out, size_t *len);
/* snprintf that reports truncation as -ENAMETOOLONG (names here are bounded by construction). */
int str_fmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
