// SPDX-License-Identifier: Apache-2.0
/* Length-prefixed JSON frames on the agent's Unix socket (ipc.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ambit/ipc.h"

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		/* MSG_NOSIGNAL: a vanished peer is an error for this call, not SIGPIPE. */
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* 0, -EPIPE on EOF (also mid-buffer: a truncated frame is a closed peer), or -errno. */
static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Sends @hdr with descriptor @pass attached; the kernel takes the whole 4 bytes or none. */
static int send_with_fd(int fd, uint8_t *hdr, size_t len, int pass)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl = {0};
	struct iovec iov = {.iov_base = hdr, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	ssize_t n;

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &pass, sizeof(int));
	do
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return write_all(fd, hdr + n, len - (size_t)n);
}

int ipc_write_frame_fd(int fd, const char *buf, size_t len, int pass)
{
	uint8_t hdr[4];
	int err;

	if (len > IPC_MAX_FRAME)
		return -EMSGSIZE;
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	err =
	    pass >= 0 ? send_with_fd(fd, hdr, sizeof(hdr), pass) : write_all(fd, hdr, sizeof(hdr));
	if (err)
		return err;
	return write_all(fd, buf, len);
}

int ipc_write_frame(int fd, const char *buf, size_t len)
{
	return ipc_write_frame_fd(fd, buf, len, -1);
}

int ipc_read_frame(int fd, char **out, size_t *len)
{
	uint8_t hdr[4];
	uint32_t n;
	char *buf;
	int err;

	*out = NULL;
	*len = 0;
	err = read_all(fd, hdr, sizeof(hdr));
	if (err)
		return err;
	n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	/* The length is untrusted: refuse before allocating. */
	if (n > IPC_MAX_FRAME)
		return -EMSGSIZE;
	buf = malloc((size_t)n + 1);
	if (!buf)
		return -ENOMEM;
	err = read_all(fd, buf, n);
	if (err) {
		free(buf);
		return err;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/*
 * The address of @path into @sa. A path longer than sun_path's 108 bytes (a pod's directory
 * under long namespace and pod names makes one: Kubernetes limits neither) is named through its
 * directory: *@dirfd, an O_PATH descriptor of it, as /proc/self/fd/N/FILE, the same file in the
 * same directory (so with the same permissions); the caller closes *@dirfd (-1 when unused)
 * after bind or connect. 0 or -errno.
 */
static int fill_addr(struct sockaddr_un *sa, const char *path, int *dirfd)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	*dirfd = -1;
	if (strlen(path) < sizeof(sa->sun_path)) {
		strcpy(sa->sun_path, path);
		return 0;
	}
	if (!slash || !slash[1] || (size_t)(slash - path) >= sizeof(dir))
		return -ENAMETOOLONG;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	*dirfd = open(*dir ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd < 0)
		return -errno;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", *dirfd, slash + 1);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path)) {
		close(*dirfd);
		*dirfd = -1;
		return -ENAMETOOLONG;
	}
	return 0;
}

int ipc_connect(const char *path)
{
	return ipc_connect_type(path, SOCK_STREAM);
}

int ipc_connect_type(const char *path, int type)
{
	struct sockaddr_un sa;
	int fd, err, dirfd;

	err = fill_addr(&sa, path, &dirfd);
	if (err)
		return err;
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(fd);
		fd = err;
	} else if (fd < 0) {
		fd = -errno;
	}
	if (dirfd >= 0)
		close(dirfd);
	return fd;
}

int ipc_listen(const char *path)
{
	return ipc_listen_type(path, SOCK_STREAM);
}

int ipc_listen_type(const char *path, int type)
{
	struct sockaddr_un sa;
	mode_t old_mask;
	int fd, err, probe, dirfd;

	err = fill_addr(&sa, path, &dirfd);
	if (err)
		return err;
	/* Replace the socket only when nobody answers on it: a live agent keeps its socket. */
	probe = ipc_connect_type(path, type);
	if (probe >= 0) {
		close(probe);
		err = -EADDRINUSE;
		goto out;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		err = -errno;
		goto out;
	}
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	/* Bind under a umask so the socket is never briefly reachable by others (keys flow here).
	 */
	old_mask = umask(0177);
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_mask);
	if (err < 0 || chmod(path, 0600) < 0 || listen(fd, 64) < 0) {
		err = -errno;
		close(fd);
		goto out;
	}
	err = fd;
out:
	if (dirfd >= 0)
		close(dirfd);
	return err;
}

int ipc_request(const char *path, const char *request_json, char **reply)
{
	size_t len;
	int fd, err;

	*reply = NULL;
	fd = ipc_connect(path);
	if (fd < 0)
		return fd;
	err = ipc_write_frame(fd, request_json, strlen(request_json));
	if (!err)
		err = ipc_read_frame(fd, reply, &len);
	close(fd);
	return err;
}
