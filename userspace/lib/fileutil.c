// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "ambit/fileutil.h"

int fileutil_read_upto(int fd, char *buf, size_t cap, size_t *got)
{
	*got = 0;
	while (*got < cap) {
		ssize_t n = read(fd, buf + *got, cap - *got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return 0;
}

int fileutil_read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	size_t cap = 0, n = 0, got, want;
	char *buf = NULL;

	*out = NULL;
	*len = 0;
	if (fd < 0)
		return -errno;
	for (;;) {
		if (n + 1 >= cap) {
			char *p;

			cap = cap ? cap * 2 : 16384;
			p = realloc(buf, cap);
			if (!p) {
				err = -ENOMEM;
				break;
			}
			buf = p;
		}
		want = cap - n - 1;
		err = fileutil_read_upto(fd, buf + n, want, &got);
		n += got;
		if (err || got < want)
			break; /* the end of the file, or an error */
		if (max && n > max) {
			err = -EFBIG;
			break;
		}
	}
	close(fd);
	if (!err && max && n > max)
		err = -EFBIG;
	if (err) {
		free(buf);
		return err;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}
