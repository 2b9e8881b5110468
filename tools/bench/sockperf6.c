// SPDX-License-Identifier: Apache-2.0
/*
 * bench-sockperf6.so: makes sockperf speak IPv6 for the latency workloads of tools/bench/run.sh.
 * Debian 12's sockperf (3.7) takes IPv4 addresses only; the IPv6 rows must still be measured by
 * the same program as the IPv4 ones, or their ratios would compare two tools. Preloaded, this
 * changes only where sockperf's TCP sockets connect or listen, never a byte it sends or how it
 * times them (send and receive are not touched):
 *
 *   LD_PRELOAD=bench-sockperf6.so BENCH_SOCKPERF6=ADDR sockperf ... -i 0.0.0.0 -p PORT
 *
 * makes every TCP socket it opens an IPv6 one; a connect or bind to an IPv4 address goes to
 * [ADDR]:PORT instead (the port sockperf asked for). A listener (ADDR "::") is IPv6 only, so an
 * IPv4 sockperf server can hold the same port beside it. accept() reports the peer as 0.0.0.0
 * with its port: sockperf only prints it.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* The IPv6 address every IPv4 connect or bind of a TCP socket goes to; unset: nothing changes. */
static int v6_addr(struct in6_addr *a)
{
	const char *s = getenv("BENCH_SOCKPERF6");

	return s && inet_pton(AF_INET6, s, a) == 1 ? 0 : -1;
}

static int is_v6_stream(int fd)
{
	int dom = 0, type = 0;
	socklen_t l = sizeof(dom);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) < 0)
		return 0;
	l = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0)
		return 0;
	return dom == AF_INET6 && type == SOCK_STREAM;
}

/* @sa, an IPv4 address, as [BENCH_SOCKPERF6]:its port in @out; -1 when not to be changed. */
static int to_v6(int fd, const struct sockaddr *sa, socklen_t len, struct sockaddr_in6 *out)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

	if (!sa || len < sizeof(*in) || sa->sa_family != AF_INET || !is_v6_stream(fd))
		return -1;
	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	out->sin6_port = in->sin_port;
	return v6_addr(&out->sin6_addr);
}

int socket(int domain, int type, int protocol)
{
	static int (*real)(int, int, int);
	struct in6_addr a;

	if (!real)
		real = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
	if (domain == AF_INET && (type & 0xf) == SOCK_STREAM && !v6_addr(&a))
		domain = AF_INET6;
	return real(domain, type, protocol);
}

int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);
	struct sockaddr_in6 s6;

	if (!real)
		real =
		    (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
	if (!to_v6(fd, sa, len, &s6))
		return real(fd, (const struct sockaddr *)&s6, sizeof(s6));
	return real(fd, sa, len);
}

int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);
	struct sockaddr_in6 s6;
	int one = 1;

	if (!real)
		real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
	if (!to_v6(fd, sa, len, &s6)) {
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
			return -1;
		return real(fd, (const struct sockaddr *)&s6, sizeof(s6));
	}
	return real(fd, sa, len);
}

int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
	static int (*real)(int, struct sockaddr *, socklen_t *);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct sockaddr_in in = {.sin_family = AF_INET};
	int c;

	if (!real)
		real = (int (*)(int, struct sockaddr *, socklen_t *))dlsym(RTLD_NEXT, "accept");
	if (!sa || !len || !is_v6_stream(fd))
		return real(fd, sa, len);
	c = real(fd, (struct sockaddr *)&ss, &sl);
	if (c < 0)
		return c;
	if (ss.ss_family == AF_INET6)
		in.sin_port = ((struct sockaddr_in6 *)&ss)->sin6_port;
	memcpy(sa, &in, *len < sizeof(in) ? *len : sizeof(in));
	*len = sizeof(in);
	return c;
}
