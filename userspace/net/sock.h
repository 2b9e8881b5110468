/* SPDX-License-Identifier: Apache-2.0 */
/* Socket set-up shared by the listeners and the upstream connectors. */
#ifndef AMBIT_NET_SOCK_H
#define AMBIT_NET_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "ambit/ipaddr.h"

/*
 * A TCP/UDP endpoint of either family: the family inside the address (sa.sa_family), so one
 * code path carries both. An IPv4-mapped IPv6 address is made IPv4 wherever one is built from
 * text or a struct ipaddr, as ipaddr.h takes it.
 */
union sockaddr_inet {
	struct sockaddr sa;
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
};

/* "[v6]:65535" with its NUL. */
#define SOCKADDR_INET_STRLEN (INET6_ADDRSTRLEN + 8)

/* @ip (network order) and @port (host order) as an IPv4 address. */
void sockaddr_inet_v4(union sockaddr_inet *out, uint32_t ip, uint16_t port);
/* Single address @a with @port (host order): 0, or -EAFNOSUPPORT (no family, or a prefix). */
int sockaddr_inet_from_ipaddr(union sockaddr_inet *out, const struct ipaddr *a, uint16_t port);
/*
 * Whether this host has a route to IPv6 address @a: a UDP socket's connect picks a source and a
 * route without sending anything, as getaddrinfo's AI_ADDRCONFIG and RFC 6724 decide whether an
 * AAAA is worth trying. A resolver without IPv6 keeps a name's A answers alone.
 */
bool sock_routable6(const struct ipaddr *a);
/* The same for an address of either family (the calling thread's netns). */
bool sock_routable(const struct ipaddr *a);
/* The address of @sa (a mapped one as IPv4): 0, or -EAFNOSUPPORT. */
int sockaddr_inet_to_ipaddr(const union sockaddr_inet *sa, struct ipaddr *out);
/* Host order; 0 for a family that has none. */
uint16_t sockaddr_inet_port(const union sockaddr_inet *sa);
void sockaddr_inet_set_port(union sockaddr_inet *sa, uint16_t port);
/* The length bind/connect take for @sa's family (0 for neither). */
socklen_t sockaddr_inet_len(const union sockaddr_inet *sa);
/* No address: family 0, or INADDR_ANY / in6addr_any. */
bool sockaddr_inet_is_any(const union sockaddr_inet *sa);
/* Same family, address and port. */
bool sockaddr_inet_equal(const union sockaddr_inet *x, const union sockaddr_inet *y);
/* The address alone, as inet_ntop writes it ("?" for neither family). Returns @buf. */
const char *sockaddr_inet_ntop(const union sockaddr_inet *sa, char *buf, size_t len);
/* "a.b.c.d:port" or "[v6]:port" (RFC 3986 authority form). Returns @buf. */
const char *sockaddr_inet_format(const union sockaddr_inet *sa, char *buf, size_t len);

/*
 * Non-blocking listener on @addr. @transparent sets IP_TRANSPARENT / IPV6_TRANSPARENT (needed
 * to accept flows bpf_sk_assign()ed with a foreign local address); an IPv6 listener is
 * IPV6_V6ONLY, so [::] never takes IPv4 from its 0.0.0.0 twin; never SO_REUSEPORT, which
 * sk_assign refuses (KERNEL_NOTES.md). fd or -errno.
 */
int sock_listen_at(const union sockaddr_inet *addr, bool transparent);
/* sock_listen_at on @ip:@port (network order ip, host order port). */
int sock_listen(uint32_t ip, uint16_t port, bool transparent);
/*
 * A non-blocking listener on @port of every address of both families, as Go's net.Listen(":port"):
 * [::] with IPV6_V6ONLY off, so IPv4 comes as mapped addresses; 0.0.0.0 on a host without IPv6
 * (EAFNOSUPPORT, EADDRNOTAVAIL), told apart from a port already taken. For control and admin
 * servers, not the data path's listeners (those are one family each, sock_listen_at). fd or -errno.
 */
int sock_listen_any(uint16_t port);

/*
 * A network namespace sockets are opened in (in-pod capture: a pod's own): an fd to it (borrowed)
 * and its inode, which names it in keys. NULL where one is taken means the caller's own.
 */
struct sock_ns {
	int fd;
	uint64_t ino;
};

/*
 * Runs @fn(@arg) with the calling thread in @ns (setns, and back to the thread's own netns, kept
 * open from the first call on). Sockets made by @fn stay in @ns. @fn's result, or -errno when
 * the thread could not enter @ns. Aborts when it cannot return home: a thread left in a pod's
 * netns would open every later socket there.
 */
int sock_in_ns(const struct sock_ns *ns, int (*fn)(void *arg), void *arg);
/* sock_routable from inside @ns (NULL: the thread's own): a pod's own routes, not the node's. */
bool sock_routable_in(const struct sock_ns *ns, const struct ipaddr *a);
/* A non-blocking TCP socket of @family (AF_INET, AF_INET6) in @ns (NULL: here): fd or -errno. */
int sock_tcp_in(const struct sock_ns *ns, int family);
/* The same for a datagram socket. */
int sock_udp_in(const struct sock_ns *ns, int family);
/*
 * A non-blocking datagram socket in @ns bound to every address of @family (IPv6: IPv6 only) at
 * @port, with IP_TRANSPARENT and IP_RECVORIGDSTADDR (their IPv6 twins), SO_REUSEADDR and SO_MARK
 * @mark (0: none): what tc hands datagrams to any destination to, each read with where it went.
 * fd or -errno.
 */
int sock_udp_listen_orig(const struct sock_ns *ns, int family, uint16_t port, uint32_t mark);
/* sock_listen_at in @ns (NULL: here). */
int sock_listen_in(const struct sock_ns *ns, const union sockaddr_inet *addr, bool transparent);
/*
 * Starts a non-blocking connect to @dst. With @src, binds to that address first with
 * IP_TRANSPARENT (IPV6_TRANSPARENT) so the server sees the original client IP; @src must be of
 * @dst's family (-EAFNOSUPPORT). fd (connecting) or -errno.
 */
int sock_connect(const union sockaddr_inet *dst, const union sockaddr_inet *src);
/* sock_connect from namespace @ns (NULL: here). */
int sock_connect_in(const struct sock_ns *ns, const union sockaddr_inet *dst,
		    const union sockaddr_inet *src);
/* sock_connect_in with SO_MARK @mark first (0: none; CAP_NET_ADMIN or CAP_NET_RAW). */
int sock_connect_mark(const struct sock_ns *ns, const union sockaddr_inet *dst,
		      const union sockaddr_inet *src, uint32_t mark);
/*
 * The same for UDP: a non-blocking datagram socket in @ns, bound with IP_TRANSPARENT to @src's
 * address (a port of its own) when given, connected to @dst (so it takes only @dst's answers).
 */
int sock_connect_udp(const struct sock_ns *ns, const union sockaddr_inet *dst,
		     const union sockaddr_inet *src, uint32_t mark);
/* At most this many descriptors travel in one sock_send_fds message. */
#define SOCK_MAX_FDS 16
/*
 * Sends @msg (a NUL-terminated line, at most 1 KB) as one message on the connected unix socket
 * @sock with @n descriptors (SCM_RIGHTS; borrowed: the caller keeps its copies). 0 or -errno.
 */
int sock_send_fds(int sock, const char *msg, const int *fds, size_t n);
/*
 * Receives one message into @msg (@len bytes, NUL-terminated, truncation is -EMSGSIZE) and the
 * descriptors it carries into @fds (up to @max; *@n set; taken by the caller, close-on-exec).
 * A message with more than @max descriptors, or cut short, is -EPROTO (every descriptor it
 * carried closed); the peer's end is -ECONNRESET. 0 or -errno.
 */
int sock_recv_fds(int sock, char *msg, size_t len, int *fds, size_t max, size_t *n);
/* Closes @fd with an RST (SO_LINGER 0): a refused or failed peer learns at once. */
void sock_close_reset(int fd);
/*
 * Parses "a.b.c.d:port" or "[v6]:port" (RFC 3986 §3.2.2) strictly: port 1..65535, no zone id,
 * no bare IPv6 without brackets. A mapped IPv6 address comes out IPv4. 0 or -EINVAL.
 */
int sock_parse_authority(const char *s, union sockaddr_inet *out);
/*
 * Parses the `for=` node of a `forwarded` header (RFC 7239, first element): an IPv4 address,
 * or an IPv6 one in brackets and quoted (§6: for="[v6]"), optionally with the client's port
 * ("ip:port" / "[v6]:port", quoted as §6 asks; port 0 without). 0 or -EINVAL.
 */
int sock_parse_forwarded_for(const char *s, union sockaddr_inet *out);
/*
 * Copies the `host=` of the first element of a `forwarded` header (RFC 7239 §5.3, token or
 * quoted; Istio's ztunnel sends the Service hostname the client addressed) into @out (@len
 * bytes). 0, -ENOENT when there is none, or -EINVAL when it is not a DNS name or does not fit.
 */
int sock_parse_forwarded_host(const char *s, char *out, size_t len);
/*
 * Copies the value of @key from a W3C `baggage` header (list-members "key=value;props" joined
 * by commas; Istio's ztunnel sends the client workload's k8s.namespace.name, k8s.<type>.name,
 * service.name, ...) into @out (@len bytes). The value lands in metric labels, so only
 * [A-Za-z0-9._-] is taken. 0, -ENOENT when @key is absent, or -EINVAL when its value is empty,
 * holds anything else or does not fit.
 */
int sock_parse_baggage(const char *s, const char *key, char *out, size_t len);

#endif
