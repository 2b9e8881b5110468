/* SPDX-License-Identifier: Apache-2.0 */
/* Socket set-up shared by the listeners and the upstream connectors. */
#ifndef AMBIT_NET_SOCK_H
#define AMBIT_NET_SOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

/*
 * Non-blocking listener on @ip:@port (network order ip, host order port). @transparent sets
 * IP_TRANSPARENT (needed to accept flows bpf_sk_assign()ed with a foreign local address);
 * never SO_REUSEPORT, which sk_assign refuses (KERNEL_NOTES.md). fd or -errno.
 */
int sock_listen(uint32_t ip, uint16_t port, bool transparent);

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
/* A non-blocking TCP socket of @ns (NULL: here): fd or -errno. */
int sock_tcp_in(const struct sock_ns *ns);
/* sock_listen in @ns (NULL: here). */
int sock_listen_in(const struct sock_ns *ns, uint32_t ip, uint16_t port, bool transparent);
/*
 * Starts a non-blocking connect to @dst. With @src, binds to that address first with
 * IP_TRANSPARENT so the server sees the original client IP. fd (connecting) or -errno.
 */
int sock_connect(const struct sockaddr_in *dst, const struct sockaddr_in *src);
/* sock_connect from namespace @ns (NULL: here). */
int sock_connect_in(const struct sock_ns *ns, const struct sockaddr_in *dst,
		    const struct sockaddr_in *src);
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
/* Parses "a.b.c.d:port" strictly. 0 or -EINVAL. */
int sock_parse_authority(const char *s, struct sockaddr_in *out);
/*
 * Parses the `for=` node of a `forwarded` header (RFC 7239, first element): an IPv4 address,
 * optionally with the client's port ("ip:port", quoted as §6 asks; sin_port 0 without). 0 or
 * -EINVAL.
 */
int sock_parse_forwarded_for(const char *s, struct sockaddr_in *out);
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
