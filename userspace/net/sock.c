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

void sockaddr_inet_v4(union sockaddr_inet *out, uint32_t ip, uint16_t port)
{
	memset(out, 0, sizeof(*out));
	out->v4.sin_family = AF_INET;
	out->v4.sin_addr.s_addr = ip;
	out->v4.sin_port = htons(port);
}

bool sock_routable(const struct ipaddr *a)
{
	union sockaddr_inet sa;
	int fd;
	bool ok;

	if (sockaddr_inet_from_ipaddr(&sa, a, 53))
		return false;
	fd = socket(a->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	ok = connect(fd, &sa.sa, a->family == AF_INET6 ? sizeof(sa.v6) : sizeof(sa.v4)) == 0;
	close(fd);
	return ok;
}

bool sock_routable6(const struct ipaddr *a)
{
	return a->family == AF_INET6 && sock_routable(a);
}

static int routable_fn(void *arg)
{
	return sock_routable(arg);
}

bool sock_routable_in(const struct sock_ns *ns, const struct ipaddr *a)
{
	return sock_in_ns(ns, routable_fn, (void *)a) > 0;
}

int sockaddr_inet_from_ipaddr(union sockaddr_inet *out, const struct ipaddr *a, uint16_t port)
{
	memset(out, 0, sizeof(*out));
	if (!ipaddr_full_len(a) || a->len != ipaddr_full_len(a))
		return -EAFNOSUPPORT;
	if (a->family == AF_INET) {
		out->v4.sin_family = AF_INET;
		memcpy(&out->v4.sin_addr, a->a, 4);
		out->v4.sin_port = htons(port);
		return 0;
	}
	out->v6.sin6_family = AF_INET6;
	memcpy(&out->v6.sin6_addr, a->a, 16);
	out->v6.sin6_port = htons(port);
	return 0;
}

int sockaddr_inet_to_ipaddr(const union sockaddr_inet *sa, struct ipaddr *out)
{
	return ipaddr_from_sockaddr(out, &sa->sa);
}

uint16_t sockaddr_inet_port(const union sockaddr_inet *sa)
{
	return sa->sa.sa_family == AF_INET    ? ntohs(sa->v4.sin_port)
	       : sa->sa.sa_family == AF_INET6 ? ntohs(sa->v6.sin6_port)
					      : 0;
}

void sockaddr_inet_set_port(union sockaddr_inet *sa, uint16_t port)
{
	if (sa->sa.sa_family == AF_INET)
		sa->v4.sin_port = htons(port);
	else if (sa->sa.sa_family == AF_INET6)
		sa->v6.sin6_port = htons(port);
}

socklen_t sockaddr_inet_len(const union sockaddr_inet *sa)
{
	return sa->sa.sa_family == AF_INET    ? sizeof(sa->v4)
	       : sa->sa.sa_family == AF_INET6 ? sizeof(sa->v6)
					      : 0;
}

bool sockaddr_inet_is_any(const union sockaddr_inet *sa)
{
	if (sa->sa.sa_family == AF_INET)
		return sa->v4.sin_addr.s_addr == INADDR_ANY;
	if (sa->sa.sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&sa->v6.sin6_addr);
	return true;
}

bool sockaddr_inet_equal(const union sockaddr_inet *x, const union sockaddr_inet *y)
{
	if (x->sa.sa_family != y->sa.sa_family)
		return false;
	if (x->sa.sa_family == AF_INET)
		return x->v4.sin_addr.s_addr == y->v4.sin_addr.s_addr &&
		       x->v4.sin_port == y->v4.sin_port;
	if (x->sa.sa_family == AF_INET6)
		return IN6_ARE_ADDR_EQUAL(&x->v6.sin6_addr, &y->v6.sin6_addr) &&
		       x->v6.sin6_port == y->v6.sin6_port;
	return false;
}

const char *sockaddr_inet_ntop(const union sockaddr_inet *sa, char *buf, size_t len)
{
	const void *a = sa->sa.sa_family == AF_INET    ? (const void *)&sa->v4.sin_addr
			: sa->sa.sa_family == AF_INET6 ? (const void *)&sa->v6.sin6_addr
						       : NULL;

	if (!a || !inet_ntop(sa->sa.sa_family, a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

const char *sockaddr_inet_format(const union sockaddr_inet *sa, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	sockaddr_inet_ntop(sa, ip, sizeof(ip));
	snprintf(buf, len, sa->sa.sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
		 sockaddr_inet_port(sa));
	return buf;
}

int sock_listen_at(const union sockaddr_inet *addr, bool transparent)
{
	int fd, one = 1, err, family = addr->sa.sa_family;
	bool v6 = family == AF_INET6;

	if (family != AF_INET && !v6)
		return -EAFNOSUPPORT;
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (v6 && setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    (transparent &&
	     setsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_TRANSPARENT : IP_TRANSPARENT, &one,
			sizeof(one))) ||
	    bind(fd, &addr->sa, sockaddr_inet_len(addr)) || listen(fd, SOCK_LISTEN_BACKLOG)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int sock_listen(uint32_t ip, uint16_t port, bool transparent)
{
	union sockaddr_inet sa;

	sockaddr_inet_v4(&sa, ip, port);
	return sock_listen_at(&sa, transparent);
}

int sock_listen_any(uint16_t port)
{
	struct sockaddr_in6 any6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	struct sockaddr_in any4 = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd, zero = 0, one = 1, err;

	fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && !setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) &&
	    !setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) &&
	    !bind(fd, (struct sockaddr *)&any6, sizeof(any6)) && !listen(fd, SOCK_LISTEN_BACKLOG))
		return fd;
	err = errno;
	if (fd >= 0)
		close(fd);
	if (err != EAFNOSUPPORT && err != EADDRNOTAVAIL)
		return -err;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&any4, sizeof(any4)) || listen(fd, SOCK_LISTEN_BACKLOG)) {
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
	const union sockaddr_inet *addr;
	bool transparent;
};

static int listen_fn(void *arg)
{
	const struct listen_args *a = arg;

	return sock_listen_at(a->addr, a->transparent);
}

int sock_listen_in(const struct sock_ns *ns, const union sockaddr_inet *addr, bool transparent)
{
	struct listen_args a = {addr, transparent};

	return sock_in_ns(ns, listen_fn, &a);
}

struct socket_args {
	int family, type;
};

static int socket_fn(void *arg)
{
	const struct socket_args *a = arg;
	int fd = socket(a->family, a->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	return fd < 0 ? -errno : fd;
}

int sock_tcp_in(const struct sock_ns *ns, int family)
{
	struct socket_args a = {family, SOCK_STREAM};

	return sock_in_ns(ns, socket_fn, &a);
}

int sock_udp_in(const struct sock_ns *ns, int family)
{
	struct socket_args a = {family, SOCK_DGRAM};

	return sock_in_ns(ns, socket_fn, &a);
}

int sock_udp_listen_orig(const struct sock_ns *ns, int family, uint16_t port, uint32_t mark)
{
	union sockaddr_inet a = {0};
	bool v6 = family == AF_INET6;
	int one = 1, err;
	int fd = sock_udp_in(ns, family);

	if (fd < 0)
		return fd;
	if (v6) {
		a.v6.sin6_family = AF_INET6;
		a.v6.sin6_addr = in6addr_any;
		a.v6.sin6_port = htons(port);
	} else {
		sockaddr_inet_v4(&a, htonl(INADDR_ANY), port);
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark))) ||
	    (v6 && setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    setsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_TRANSPARENT : IP_TRANSPARENT, &one,
		       sizeof(one)) ||
	    setsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_RECVORIGDSTADDR : IP_RECVORIGDSTADDR,
		       &one, sizeof(one)) ||
	    bind(fd, &a.sa, sockaddr_inet_len(&a))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int sock_connect(const union sockaddr_inet *dst, const union sockaddr_inet *src)
{
	return sock_connect_in(NULL, dst, src);
}

int sock_connect_in(const struct sock_ns *ns, const union sockaddr_inet *dst,
		    const union sockaddr_inet *src)
{
	return sock_connect_mark(ns, dst, src, 0);
}

/* sock_connect_mark and sock_connect_udp: a socket of @type (SOCK_STREAM, SOCK_DGRAM). */
static int connect_typed(const struct sock_ns *ns, const union sockaddr_inet *dst,
			 const union sockaddr_inet *src, uint32_t mark, int type)
{
	int fd, one = 1, err, family = dst->sa.sa_family;
	bool v6 = family == AF_INET6;
	struct socket_args sa = {family, type};

	if ((family != AF_INET && !v6) || (src && src->sa.sa_family != family))
		return -EAFNOSUPPORT;
	/* Only the socket is made in @ns: bind and connect act on it from anywhere. */
	fd = sock_in_ns(ns, socket_fn, &sa);
	if (fd < 0)
		return fd;
	if (type == SOCK_STREAM)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)))
		goto fail;
	if (src) {
		union sockaddr_inet b = *src;

		sockaddr_inet_set_port(&b, 0);
		/*
		 * Let connect() pick the port so the 4-tuple, not the bind, decides uniqueness
		 * (an IPv6 socket takes the SOL_IP option too). UDP binds a port of its own.
		 */
		if (type == SOCK_STREAM)
			setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (setsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IPV6_TRANSPARENT : IP_TRANSPARENT,
			       &one, sizeof(one)) ||
		    bind(fd, &b.sa, sockaddr_inet_len(&b)))
			goto fail;
	}
	if (connect(fd, &dst->sa, sockaddr_inet_len(dst)) && errno != EINPROGRESS)
		goto fail;
	return fd;
fail:
	err = -errno;
	close(fd);
	return err;
}

int sock_connect_mark(const struct sock_ns *ns, const union sockaddr_inet *dst,
		      const union sockaddr_inet *src, uint32_t mark)
{
	return connect_typed(ns, dst, src, mark, SOCK_STREAM);
}

int sock_connect_udp(const struct sock_ns *ns, const union sockaddr_inet *dst,
		     const union sockaddr_inet *src, uint32_t mark)
{
	return connect_typed(ns, dst, src, mark, SOCK_DGRAM);
}

void sock_close_reset(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/*
 * The host of an authority or a `forwarded` node at @p: "a.b.c.d", or an IPv6 address in
 * brackets (RFC 3986 §3.2.2's IP-literal without IPvFuture; a zone id, RFC 6874, is refused:
 * no pod is reached by a link-local address). Port 0; a mapped address becomes IPv4. *@end is
 * past it. 0 or -EINVAL.
 */
static int parse_host(const char *p, union sockaddr_inet *out, const char **end)
{
	char ip[INET6_ADDRSTRLEN];
	struct ipaddr a;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (*p == '[') {
		const char *close = strchr(p + 1, ']');

		n = close ? (size_t)(close - p - 1) : 0;
		if (!n || n >= sizeof(ip))
			return -EINVAL;
		memcpy(ip, p + 1, n);
		ip[n] = '\0';
		out->v6.sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, ip, &out->v6.sin6_addr) != 1 ||
		    ipaddr_from_sockaddr(&a, &out->sa) || sockaddr_inet_from_ipaddr(out, &a, 0))
			return -EINVAL;
		*end = close + 1;
		return 0;
	}
	n = strspn(p, "0123456789.");
	if (!n || n >= INET_ADDRSTRLEN)
		return -EINVAL;
	memcpy(ip, p, n);
	ip[n] = '\0';
	out->v4.sin_family = AF_INET;
	if (inet_pton(AF_INET, ip, &out->v4.sin_addr) != 1)
		return -EINVAL;
	*end = p + n;
	return 0;
}

/* ":port" at @p (decimal, 1..65535) into @out; *@end past it. 0 or -EINVAL. */
static int parse_port(const char *p, union sockaddr_inet *out, const char **end)
{
	unsigned long port;
	char *e;

	if (p[0] != ':' || p[1] < '0' || p[1] > '9')
		return -EINVAL;
	errno = 0;
	port = strtoul(p + 1, &e, 10);
	if (errno || port == 0 || port > 65535)
		return -EINVAL;
	sockaddr_inet_set_port(out, (uint16_t)port);
	*end = e;
	return 0;
}

int sock_parse_authority(const char *s, union sockaddr_inet *out)
{
	const char *p;

	if (!s || parse_host(s, out, &p) || parse_port(p, out, &p) || *p) {
		if (out)
			memset(out, 0, sizeof(*out));
		return -EINVAL;
	}
	return 0;
}

int sock_parse_forwarded_for(const char *s, union sockaddr_inet *out)
{
	const char *p;
	bool quoted;

	if (!s)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
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
	/* §6: "[" and ":" are no token characters, so an IPv6 node is always quoted. */
	if ((*p == '[' && !quoted) || parse_host(p, out, &p))
		goto bad;
	/* RFC 7239 §6: a node may carry the client's port ("ip:port", quoted). */
	if (*p == ':' && parse_port(p, out, &p))
		goto bad;
	if (quoted && *p++ != '"')
		goto bad;
	if (*p && *p != ';' && *p != ',' && *p != ' ')
		goto bad;
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return -EINVAL;
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
