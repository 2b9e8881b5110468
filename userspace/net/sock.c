// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sock.h"

/*
 * As deep an accept queue as the node allows: the kernel holds it to net.core.somaxconn (4096 by
 * default). A burst larger than the queue loses SYNs, which clients send again only after a
 * back-off that grows to a minute; 1024, as before, lost half of a 10,000-connection burst here.
 */
#define SOCK_LISTEN_BACKLOG 65535

int sock_listen(uint32_t ip, uint16_t port, bool transparent)
{
	struct sockaddr_in sa = {
	    .sin_family = AF_INET, .sin_addr.s_addr = ip, .sin_port = htons(port)};
	int fd, one = 1, err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (transparent && setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one))) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, SOCK_LISTEN_BACKLOG)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int sock_send_fds(int sock, const char *msg, const int *fds, size_t n)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * SOCK_MAX_FDS)];
		struct cmsghdr align;
	} u = {};
	struct iovec iov = {.iov_base = (void *)msg, .iov_len = strlen(msg)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t w;

	if (n > SOCK_MAX_FDS || iov.iov_len == 0 || iov.iov_len > 1024)
		return -EINVAL;
	if (n) {
		struct cmsghdr *cm;

		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
	}
	do
		w = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return -errno;
	return (size_t)w == iov.iov_len ? 0 : -EPROTO;
}

/* Closes the descriptors of every SCM_RIGHTS header of @mh. */
static void close_rights(struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		size_t k;
		int fd;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	}
}

int sock_recv_fds(int sock, char *msg, size_t len, int *fds, size_t max, size_t *n)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * SOCK_MAX_FDS)];
		struct cmsghdr align;
	} u = {};
	struct iovec iov = {.iov_base = msg, .iov_len = len ? len - 1 : 0};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *cm;
	ssize_t r;

	*n = 0;
	if (!len || max > SOCK_MAX_FDS)
		return -EINVAL;
	do
		r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0 && !mh.msg_controllen)
		return -ECONNRESET;
	if (mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) {
		close_rights(&mh);
		return mh.msg_flags & MSG_CTRUNC ? -EPROTO : -EMSGSIZE;
	}
	msg[r] = '\0';
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (*n + k > max) {
			close_rights(&mh);
			*n = 0;
			return -EPROTO;
		}
		memcpy(fds + *n, CMSG_DATA(cm), k * sizeof(int));
		*n += k;
	}
	return 0;
}

int sock_in_ns(const struct sock_ns *ns, int (*fn)(void *arg), void *arg)
{
	/* The thread's own netns: where it returns after each visit. */
	static __thread int home = -1;
	int ret;

	if (!ns)
		return fn(arg);
	if (home < 0) {
		home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (home < 0)
			return -errno;
	}
	if (setns(ns->fd, CLONE_NEWNET) < 0)
		return -errno;
	ret = fn(arg);
	if (setns(home, CLONE_NEWNET) < 0) {
		fprintf(stderr, "sock_in_ns: cannot return to the thread's own netns: %s\n",
			strerror(errno));
		abort();
	}
	return ret;
}

struct listen_args {
	uint32_t ip;
	uint16_t port;
	bool transparent;
};

static int listen_fn(void *arg)
{
	const struct listen_args *a = arg;

	return sock_listen(a->ip, a->port, a->transparent);
}

int sock_listen_in(const struct sock_ns *ns, uint32_t ip, uint16_t port, bool transparent)
{
	struct listen_args a = {ip, port, transparent};

	return sock_in_ns(ns, listen_fn, &a);
}

static int socket_fn(void *arg)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	(void)arg;
	return fd < 0 ? -errno : fd;
}

int sock_tcp_in(const struct sock_ns *ns)
{
	return sock_in_ns(ns, socket_fn, NULL);
}

int sock_connect(const struct sockaddr_in *dst, const struct sockaddr_in *src)
{
	return sock_connect_in(NULL, dst, src);
}

int sock_connect_in(const struct sock_ns *ns, const struct sockaddr_in *dst,
		    const struct sockaddr_in *src)
{
	int fd, one = 1, err;

	/* Only the socket is made in @ns: bind and connect act on it from anywhere. */
	fd = sock_tcp_in(ns);
	if (fd < 0)
		return fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (src) {
		struct sockaddr_in b = *src;

		b.sin_port = 0;
		/* Let connect() pick the port so the 4-tuple, not the bind, decides uniqueness. */
		setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) ||
		    bind(fd, (struct sockaddr *)&b, sizeof(b)))
			goto fail;
	}
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) && errno != EINPROGRESS)
		goto fail;
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

void sock_close_reset(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

int sock_parse_authority(const char *s, struct sockaddr_in *out)
{
	char ip[INET_ADDRSTRLEN];
	const char *colon = s ? strrchr(s, ':') : NULL;
	char *end;
	unsigned long port;

	if (!colon || colon == s || (size_t)(colon - s) >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, (size_t)(colon - s));
	ip[colon - s] = '\0';
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	if (inet_pton(AF_INET, ip, &out->sin_addr) != 1 || !colon[1] || colon[1] == '-' ||
	    colon[1] == '+')
		return -EINVAL;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port == 0 || port > 65535)
		return -EINVAL;
	out->sin_port = htons((uint16_t)port);
	return 0;
}

int sock_parse_forwarded_for(const char *s, struct sockaddr_in *out)
{
	char ip[INET_ADDRSTRLEN];
	const char *p;
	unsigned long port = 0;
	bool quoted;
	size_t n = 0;

	if (!s)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	/* Only the first forwarded-element counts: it was added by the client ztunnel. */
	for (p = s; *p && *p != ','; p++) {
		if ((p == s || p[-1] == ';' || p[-1] == ' ') && strncasecmp(p, "for=", 4) == 0)
			break;
	}
	if (!*p || *p == ',')
		return -EINVAL;
	p += 4;
	quoted = *p == '"';
	p += quoted;
	while (p[n] && (p[n] == '.' || (p[n] >= '0' && p[n] <= '9')) && n < sizeof(ip) - 1) {
		ip[n] = p[n];
		n++;
	}
	ip[n] = '\0';
	p += n;
	/* RFC 7239 §6: a node may carry the client's port ("ip:port", quoted). */
	if (*p == ':') {
		char *end;

		if (p[1] < '0' || p[1] > '9')
			return -EINVAL;
		errno = 0;
		port = strtoul(p + 1, &end, 10);
		if (errno || port == 0 || port > 65535)
			return -EINVAL;
		p = end;
	}
	if (quoted && *p++ != '"')
		return -EINVAL;
	if (*p && *p != ';' && *p != ',' && *p != ' ')
		return -EINVAL;
	if (inet_pton(AF_INET, ip, &out->sin_addr) != 1)
		return -EINVAL;
	out->sin_port = htons((uint16_t)port);
	return 0;
}

int sock_parse_forwarded_host(const char *s, char *out, size_t len)
{
	const char *p;
	bool quoted;
	size_t n = 0;

	if (!s || !len)
		return -EINVAL;
	out[0] = '\0';
	for (p = s; *p && *p != ','; p++) {
		if ((p == s || p[-1] == ';' || p[-1] == ' ') && strncasecmp(p, "host=", 5) == 0)
			break;
	}
	if (!*p || *p == ',')
		return -ENOENT;
	p += 5;
	quoted = *p == '"';
	p += quoted;
	/* Only what a Service hostname can be: the value lands in metric labels. */
	for (; isalnum((unsigned char)p[n]) || p[n] == '.' || p[n] == '-'; n++)
		if (n + 1 >= len)
			return -EINVAL;
	if (!n)
		return -EINVAL;
	memcpy(out, p, n);
	out[n] = '\0';
	p += n;
	if (quoted && *p++ != '"')
		goto bad;
	if (*p && *p != ';' && *p != ',' && *p != ' ')
		goto bad;
	return 0;
bad:
	out[0] = '\0';
	return -EINVAL;
}

/* Skips optional whitespace (RFC 9110 OWS). */
static const char *ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

int sock_parse_baggage(const char *s, const char *key, char *out, size_t len)
{
	size_t klen = strlen(key), n;
	const char *p;

	if (!s || !len)
		return -EINVAL;
	out[0] = '\0';
	for (p = s; *p; p = *p ? p + 1 : p) {
		p = ows(p);
		if (strncmp(p, key, klen) == 0 && *(p = ows(p + klen)) == '=') {
			p = ows(p + 1);
			for (n = 0; isalnum((unsigned char)p[n]) || p[n] == '.' || p[n] == '-' ||
				    p[n] == '_';
			     n++)
				if (n + 1 >= len)
					return -EINVAL;
			if (!n || (*ows(p + n) && *ows(p + n) != ';' && *ows(p + n) != ','))
				return -EINVAL;
			memcpy(out, p, n);
			out[n] = '\0';
			return 0;
		}
		/* The next list-member. */
		while (*p && *p != ',')
			p++;
	}
	return -ENOENT;
}
