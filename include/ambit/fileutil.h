/* SPDX-License-Identifier: Apache-2.0 */
/* Small file helpers shared by the library, the agent, the CLI and the local cluster. */
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
/* @data (a string) into @path, made 0644 or truncated. 0 or -errno. */
int write_file(const char *path, const char *data);
/* The same, a new file made with @mode (0600 for a secret). */
int write_file_mode(const char *path, const char *data, unsigned int mode);
/* Writes @data to @path.tmp~ then renames it over @path: readers see the old or the new. */
int write_file_atomic(const char *path, const char *data);
int write_file_atomic_mode(const char *path, const char *data, unsigned int mode);
/* Reads a whole file into a malloc'd NUL-terminated buffer. NULL with errno set. */
char *read_file(const char *path, size_t *len);
/* mkdir -p: 0 or -errno. */
int mkdir_p(const char *path, unsigned int mode);
/* rm -rf, without following symlinks: 0 (also when @path is not there) or the first -errno. */
int rm_rf(const char *path);
/* @from's content into @to, atomically (write_file_atomic). 0 or -errno. */
int copy_file(const char *from, const char *to);
/* snprintf that reports truncation as -ENAMETOOLONG (names here are bounded by construction). */
int str_fmt(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
