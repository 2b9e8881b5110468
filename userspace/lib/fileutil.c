// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, err;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto fail;
	}
	/* A FIFO or a device would block or never end: only regular files are read. */
	if (!S_ISREG(st.st_mode) || (max && (size_t)st.st_size > max)) {
		err = -EFBIG;
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto fail;
	}
	err = fileutil_read_upto(fd, buf, (size_t)st.st_size, &got);
	if (err)
		goto fail;
	buf[got] = '\0';
	close(fd);
	*out = buf;
	*len = got;
	return 0;
fail:
	free(buf);
	close(fd);
	return err;
}

int str_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int write_file(const char *path, const char *data)
{
	return write_file_mode(path, data, 0644);
}

int write_file_mode(const char *path, const char *data, unsigned int mode)
{
	size_t len = strlen(data);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	int ret = 0;

	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t w = write(fd, data, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		data += w;
		len -= (size_t)w;
	}
	if (close(fd) < 0 && !ret)
		ret = -errno;
	return ret;
}

int write_file_atomic(const char *path, const char *data)
{
	return write_file_atomic_mode(path, data, 0644);
}

int write_file_atomic_mode(const char *path, const char *data, unsigned int mode)
{
	char tmp[PATH_MAX];
	int ret;

	/* The temporary name does not end in .yaml/.json, so watchers never read it half done. */
	if (str_fmt(tmp, sizeof(tmp), "%s.tmp~", path))
		return -ENAMETOOLONG;
	/* A stale one keeps its old mode through O_CREAT: it goes first. */
	unlink(tmp);
	ret = write_file_mode(tmp, data, mode);
	if (ret)
		goto fail;
	if (rename(tmp, path) < 0) {
		ret = -errno;
		goto fail;
	}
	return 0;
fail:
	unlink(tmp);
	return ret;
}

char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0, used = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (used + 4096 + 1 > cap) {
			size_t ncap = cap ? cap * 2 : 8192;
			char *n = realloc(buf, ncap);
			if (!n) {
				free(buf);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			buf = n;
			cap = ncap;
		}
		size_t r = fread(buf + used, 1, cap - used - 1, f);
		used += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		errno = EIO;
		return NULL;
	}
	fclose(f);
	buf[used] = '\0';
	if (len)
		*len = used;
	return buf;
}

int mkdir_p(const char *path, unsigned int mode)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	int ret = 0;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
	d = opendir(path);
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char child[PATH_MAX];

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (str_fmt(child, sizeof(child), "%s/%s", path, e->d_name)) {
			ret = -ENAMETOOLONG;
			continue;
		}
		int r = rm_rf(child);
		if (r && !ret)
			ret = r;
	}
	closedir(d);
	if (rmdir(path) < 0 && errno != ENOENT && !ret)
		ret = -errno;
	return ret;
}

int copy_file(const char *from, const char *to)
{
	char *data = read_file(from, NULL);
	int ret;

	if (!data)
		return -errno;
	ret = write_file_atomic(to, data);
	free(data);
	return ret;
}
