// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
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
