// SPDX-License-Identifier: Apache-2.0
/*
 * The DNS proxy's sockets and forwarder (dns_server.h). A query from a pod arrives on a UDP
 * socket, IPv4's or IPv6's (its destination address, the one the pod's packet was steered to, is
 * read with IP_PKTINFO / IPV6_PKTINFO and answered from, so a connected resolver socket accepts
 * the reply) or on a TCP connection (two-byte length prefix). The client's workload is found by its
 * source address. Forwarded queries get an id of the proxy's own; an upstream answer counts only
 * when it comes from the resolver asked, with that id and the same question (dns_upstream_check),
 * which keeps off-path spoofing as hard as it is for the pod's own resolver.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "ambit/fileutil.h"
#include "ambit/log.h"
#include "dns.h"
#include "dns_kernel.h"
#include "dns_server.h"
#include "dns_stats.h"
#include "net/loop.h"
#include "net/meshstate.h"
#include "resolved.h"
#include "net/sock.h"

#include "dns_server_priv.h"

/* ---- resolvers ---- */

int zt_dns_parse_resolv(const char *text, union sockaddr_inet *out, int max, bool *stub_only)
{
	const char *line = text;
	int n = 0, stubs = 0;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char buf[128], addr[64];
		struct ipaddr a;

		if (len < sizeof(buf)) {
			memcpy(buf, line, len);
			buf[len] = 0;
			/* A link-local one's %zone is left out: no node names one. */
			if (sscanf(buf, " nameserver %63s", addr) == 1 &&
			    !ipaddr_parse_addr(addr, &a)) {
				stubs += !strcmp(addr, RESOLVED_STUB);
				if (n < max && !sockaddr_inet_from_ipaddr(&out[n], &a, 53))
					n++;
			}
		}
		line = end ? end + 1 : NULL;
	}
	*stub_only = n > 0 && stubs == n;
	return n;
}

/* The regular file @path (at most 64 KiB), NUL-terminated and malloc'd, or NULL. */
static char *slurp(const char *path)
{
	char *text;
	size_t len;

	return fileutil_read_file(path, 65535, &text, &len) ? NULL : text;
}

/* Reads the resolvers again when resolv.conf changed (or was never read). */
static void load_resolvers(struct zt_dns *d, bool force)
{
	const char *path = d->o.resolv_conf ? d->o.resolv_conf : "/etc/resolv.conf";
	union sockaddr_inet got[ZT_DNS_MAX_UPSTREAMS];
	char first[SOCKADDR_INET_STRLEN];
	struct stat sb;
	bool stub = false;
	char *text;
	int n;

	if (stat(path, &sb))
		memset(&sb, 0, sizeof(sb));
	if (!force && sb.st_mtim.tv_sec == d->resolv_mtime.tv_sec &&
	    sb.st_mtim.tv_nsec == d->resolv_mtime.tv_nsec)
		return;
	d->resolv_mtime = sb.st_mtim;
	text = slurp(path);
	n = text ? zt_dns_parse_resolv(text, got, ZT_DNS_MAX_UPSTREAMS, &stub) : 0;
	free(text);
	if (stub && (text = slurp(RESOLVED_LIST))) {
		union sockaddr_inet real[ZT_DNS_MAX_UPSTREAMS];
		bool again;
		int m = zt_dns_parse_resolv(text, real, ZT_DNS_MAX_UPSTREAMS, &again);

		free(text);
		if (m && !again) {
			memcpy(got, real, sizeof(real));
			n = m;
			pr_info("dns: %s names systemd-resolved's stub: forwarding to the servers "
				"of %s",
				path, RESOLVED_LIST);
		}
	}
	memcpy(d->servers, got, sizeof(got));
	d->n_servers = n;
	if (!n)
		pr_warn("dns: no nameserver in %s: names the mesh does not know get SERVFAIL",
			path);
	else
		pr_info("dns: forwarding to %d resolver(s) of %s, first %s", n, path,
			sockaddr_inet_ntop(&d->servers[0], first, sizeof(first)));
}

/* ---- the name table of the current snapshot ---- */

static const struct dns_table *current(struct zt_dns *d)
{
	struct mesh_snap *zs = mesh_state_get(d->st);

	if (!zs)
		return NULL;
	if (d->zs && d->zs->snap->version == zs->snap->version) {
		mesh_snap_put(zs);
		return d->table;
	}
	dns_table_free(d->table);
	mesh_snap_put(d->zs);
	d->zs = zs;
	d->table = dns_table_build(zs->snap, d->domain);
	if (!d->table)
		pr_warn("dns: no memory for the names of snapshot %llu",
			(unsigned long long)zs->snap->version);
	return d->table;
}

/* The workload at @peer's address, of either family (an IPv6 client by its ip6). */
static const struct snap_workload *client_at(struct zt_dns *d, const union sockaddr_inet *peer)
{
	struct ipaddr a;

	if (!d->zs || sockaddr_inet_to_ipaddr(peer, &a))
		return NULL;
	return snapshot_workload_by_addr(d->zs->snap, &a);
}

/* ---- answers in the kernel (dns_kernel.h) ---- */

/* On the installing thread: the kernel stops giving answers of the snapshot before. */
static void on_install(void *arg)
{
	struct zt_dns *d = arg;

	dns_kernel_generation(d->kernel, mesh_state_version(d->st));
}

static void kernel_count(void *arg, const struct ipaddr *pod, int qtype, uint64_t n)
{
	struct zt_dns *d = arg;
	const struct snap_workload *client =
	    d->zs ? snapshot_workload_by_addr(d->zs->snap, pod) : NULL;

	dns_stats_requests(dns_stats_series(qtype, false, client), n);
}

/*
 * An answer over UDP to a pod the snapshot knows, made from the current table: to the kernel,
 * under the address the pod asked from. tc answers a query from the map of the query's family
 * alone, so an IPv6 client's answer goes by its IPv6 address (dns_answers6) and is never put
 * under the IPv4 address its pod may have too, as if the pod had asked so; and back.
 */
static void kernel_publish(struct zt_dns *d, const struct snap_workload *client,
			   const union sockaddr_inet *peer, const uint8_t *q, size_t len,
			   const uint8_t *a, size_t alen, int qtype)
{
	struct ipaddr pod;

	if (d->kernel && client && !sockaddr_inet_to_ipaddr(peer, &pod))
		dns_kernel_publish(d->kernel, d->zs->snap->version, &pod, q, len, a, alen, qtype);
}

/* ---- answers to clients ---- */

/*
 * Fills @mh (with @iov, @cbuf of PKTINFO_SPACE) to send @len bytes of @msg to @peer from address
 * @local (its family's packet info; an unknown one, family 0 or any, lets the kernel choose).
 */
static void udp_msg(struct msghdr *mh, struct iovec *iov, char *cbuf,
		    const union sockaddr_inet *peer, const union sockaddr_inet *local,
		    const void *msg, size_t len)
{
	struct cmsghdr *c;

	memset(cbuf, 0, PKTINFO_SPACE);
	iov->iov_base = (void *)msg;
	iov->iov_len = len;
	*mh = (struct msghdr){.msg_name = (void *)peer,
			      .msg_namelen = sockaddr_inet_len(peer),
			      .msg_iov = iov,
			      .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = PKTINFO_SPACE};
	c = CMSG_FIRSTHDR(mh);
	if (peer->sa.sa_family == AF_INET6) {
		struct in6_pktinfo pi = {0};

		if (local->sa.sa_family == AF_INET6)
			pi.ipi6_addr = local->v6.sin6_addr;
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		mh->msg_controllen = CMSG_SPACE(sizeof(pi));
		return;
	}
	struct in_pktinfo pi = {0};

	if (local->sa.sa_family == AF_INET)
		pi.ipi_spec_dst = local->v4.sin_addr;
	c->cmsg_level = IPPROTO_IP;
	c->cmsg_type = IP_PKTINFO;
	c->cmsg_len = CMSG_LEN(sizeof(pi));
	memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	mh->msg_controllen = CMSG_SPACE(sizeof(pi));
}

/* Sends what udp_io gathered in one sendmmsg (what the socket does not take is dropped). */
static void batch_flush(struct zt_dns *d)
{
	struct udp_batch *b = &d->batch;
	unsigned int done = 0;

	while (done < b->n) {
		int n = sendmmsg(b->fd, b->out + done, b->n - done, MSG_DONTWAIT);

		if (n <= 0) {
			pr_debug("dns: %u replies not sent: %s", b->n - done, strerror(errno));
			break;
		}
		done += (unsigned int)n;
	}
	b->n = 0;
}

/*
 * An answer to a UDP client (@msg, @len bytes, to @peer; under the two bytes of @id, a query's,
 * unless NULL): gathered for udp_io's one sendmmsg when it is reading that socket, else sent at
 * once.
 */
static void udp_send_as(struct zt_dns *d, int ufd, const union sockaddr_inet *peer,
			const union sockaddr_inet *local, const uint8_t *msg, size_t len,
			const uint8_t *id)
{
	struct udp_batch *b = &d->batch;

	if (b->fd == ufd && len <= sizeof(b->obuf[0])) {
		unsigned int i = b->n++;

		memcpy(b->obuf[i], msg, len);
		if (id)
			memcpy(b->obuf[i], id, 2);
		b->peer[i] = *peer;
		udp_msg(&b->out[i].msg_hdr, &b->oiov[i], b->ocbuf[i], &b->peer[i], local,
			b->obuf[i], len);
		if (b->n == UDP_BATCH)
			batch_flush(d);
		return;
	}
	char cbuf[PKTINFO_SPACE], ip[INET6_ADDRSTRLEN];
	struct iovec iov;
	struct msghdr mh;

	if (id && len <= sizeof(d->out)) {
		memcpy(d->out, msg, len);
		memcpy(d->out, id, 2);
		msg = d->out;
	}
	udp_msg(&mh, &iov, cbuf, peer, local, msg, len);
	if (sendmsg(ufd, &mh, MSG_DONTWAIT) < 0)
		pr_debug("dns: reply to %s: %s", sockaddr_inet_ntop(peer, ip, sizeof(ip)),
			 strerror(errno));
}

void dns_udp_send(struct zt_dns *d, int ufd, const union sockaddr_inet *peer,
		  const union sockaddr_inet *local, const uint8_t *msg, size_t len)
{
	udp_send_as(d, ufd, peer, local, msg, len, NULL);
}

static void tcp_flush(struct tcp_client *c)
{
	while (c->wlen) {
		ssize_t n = send(c->fd, c->wbuf, c->wlen, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			dns_tcp_client_close(c);
			return;
		}
		memmove(c->wbuf, c->wbuf + n, c->wlen - (size_t)n);
		c->wlen -= (size_t)n;
	}
	(void)loop_mod(c->d->loop, c->fd, EPOLLIN | EPOLLRDHUP | (c->wlen ? EPOLLOUT : 0), &c->h);
}

void dns_tcp_send(struct tcp_client *c, const uint8_t *msg, size_t len)
{
	if (c->closing)
		return;
	if (c->wlen + len + 2 > TCP_WBUF_MAX) {
		char ip[INET6_ADDRSTRLEN];

		pr_debug("dns: %s leaves %zu bytes of answers unread: closed",
			 sockaddr_inet_ntop(&c->peer, ip, sizeof(ip)), c->wlen);
		dns_tcp_client_close(c);
		return;
	}
	if (c->wlen + len + 2 > c->wcap) {
		size_t cap = c->wlen + len + 2;
		uint8_t *w = realloc(c->wbuf, cap);

		if (!w) {
			dns_tcp_client_close(c);
			return;
		}
		c->wbuf = w;
		c->wcap = cap;
	}
	c->wbuf[c->wlen++] = (uint8_t)(len >> 8);
	c->wbuf[c->wlen++] = (uint8_t)len;
	memcpy(c->wbuf + c->wlen, msg, len);
	c->wlen += len;
	tcp_flush(c);
}
/* ---- queries ---- */

/* One query from @peer (on UDP socket @ufd, or @tc): answered, forwarded or dropped. */
/*
 * The answers the proxy made, by the query's bytes after its id, the client's namespace and the
 * transport: a query met again (resolvers ask the same names over and over) is answered with a
 * copy under its own id, without parsing it again. Valid for the snapshot they were made from.
 */
static struct cached *cache_slot(struct zt_dns *d, const uint8_t *q, size_t len, const char *ns,
				 bool tcp, uint64_t *hash)
{
	uint64_t seed = XXH3_64bits(ns ? ns : "", ns ? strlen(ns) : 0) ^ (tcp ? 1 : 0);

	*hash = XXH3_64bits_withSeed(q + 2, len - 2, seed);
	return &d->cache[*hash % CACHE_SLOTS];
}

static bool cache_hit(const struct zt_dns *d, const struct cached *c, uint64_t hash,
		      const uint8_t *q, size_t len, const char *ns)
{
	return c->a && c->hash == hash && c->version == d->zs->snap->version && c->qlen == len &&
	       !memcmp(c->q + 2, q + 2, len - 2) && !strcmp(c->ns, ns ? ns : "");
}

static void cache_put(struct cached *c, uint64_t hash, uint64_t version, const uint8_t *q,
		      size_t len, const char *ns, uint8_t *a, size_t alen, int qtype)
{
	if (len > sizeof(c->q) || strlen(ns ? ns : "") >= sizeof(c->ns)) {
		free(a);
		return;
	}
	free(c->a);
	c->hash = hash;
	c->version = version;
	memcpy(c->q, q, len);
	c->qlen = len;
	snprintf(c->ns, sizeof(c->ns), "%s", ns ? ns : "");
	c->a = a;
	c->alen = alen;
	c->qtype = qtype;
}

static void query(struct zt_dns *d, const uint8_t *q, size_t len, int ufd,
		  const union sockaddr_inet *peer, const union sockaddr_inet *local,
		  struct tcp_client *tc)
{
	const struct dns_table *t = current(d);
	const struct snap_workload *client = t ? client_at(d, peer) : NULL;
	const char *ns = client ? client->namespace : NULL;
	struct cached *c = NULL;
	uint8_t *out = NULL;
	size_t outlen;
	uint64_t hash = 0;
	enum dns_verdict v = DNS_FORWARD;
	struct dns_series *series = NULL;
	int qtype = -1;

	if (t && len >= 12 && !(q[2] & 0x80)) {
		c = cache_slot(d, q, len, ns, tc != NULL, &hash);
		if (cache_hit(d, c, hash, q, len, ns) && c->alen <= sizeof(d->out)) {
			dns_stats_request(dns_stats_series(c->qtype, tc != NULL, client));
			if (tc) {
				memcpy(d->out, c->a, c->alen);
				memcpy(d->out, q, 2);
				dns_tcp_send(tc, d->out, c->alen);
			} else {
				udp_send_as(d, ufd, peer, local, c->a, c->alen, q);
				kernel_publish(d, client, peer, q, len, c->a, c->alen, c->qtype);
			}
			return;
		}
	}
	if (t)
		v = dns_query(t, client, q, len, tc ? MSG_MAX : 0, d->o.forward_cluster, &out,
			      &outlen);
	else if (len < 12 || (q[2] & 0x80))
		v = DNS_DROP;
	if (v != DNS_DROP) {
		qtype = dns_question_type(q, len);
		series = dns_stats_series(qtype, tc != NULL, client);
		dns_stats_request(series);
	}
	if (v == DNS_ANSWER) {
		if (tc) {
			dns_tcp_send(tc, out, outlen);
		} else {
			dns_udp_send(d, ufd, peer, local, out, outlen);
			kernel_publish(d, client, peer, q, len, out, outlen, qtype);
		}
	} else if (v == DNS_FORWARD) {
		dns_forward(d, q, len, ufd, peer, local, tc, series);
	}
	if (v == DNS_ANSWER && c) {
		cache_put(c, hash, d->zs->snap->version, q, len, ns, out, outlen, qtype);
		return;
	}
	free(out);
}

/* Listening sockets in or out of the loop's interest. */
static void listen_all(struct zt_dns *d, bool on)
{
	for (int i = 0; i < d->n_pairs; i++) {
		(void)loop_mod(d->loop, d->udp[i].fd, on ? EPOLLIN : 0, &d->udp[i].h);
		(void)loop_mod(d->loop, d->tcp[i].fd, on ? EPOLLIN : 0, &d->tcp[i].h);
	}
	d->paused = !on;
}

static void on_await(struct loop_timer *t)
{
	struct zt_dns *d = (struct zt_dns *)((char *)t - offsetof(struct zt_dns, await));

	if (current(d)) {
		pr_info("dns: the first snapshot is here: answering");
		listen_all(d, true);
	} else {
		(void)loop_timer_arm(d->loop, &d->await, 20);
	}
}

/* Whether queries may be read: not before there is a snapshot to answer them with. */
static bool ready(struct zt_dns *d)
{
	if (d->paused)
		return false;
	if (current(d))
		return true;
	listen_all(d, false);
	(void)loop_timer_arm(d->loop, &d->await, 20);
	return false;
}

/*
 * Up to UDP_BATCH queries a system call (recvmmsg), their answers gathered and sent in one
 * (sendmmsg): two system calls for a batch rather than two a query. At most four batches an
 * event, so the other sockets and the forwarder's answers get their turn.
 */
static void udp_io(struct loop_handler *h, uint32_t events)
{
	struct dns_sock *us = (struct dns_sock *)h;
	struct zt_dns *d = us->d;
	struct udp_batch *b = &d->batch;

	if (!ready(d))
		return;
	for (int round = 0; round < 4; round++) {
		int n;

		for (unsigned int i = 0; i < UDP_BATCH; i++) {
			b->iiov[i] =
			    (struct iovec){.iov_base = b->ibuf[i], .iov_len = sizeof(b->ibuf[i])};
			b->in[i].msg_hdr = (struct msghdr){.msg_name = &b->from[i],
							   .msg_namelen = sizeof(b->from[i]),
							   .msg_iov = &b->iiov[i],
							   .msg_iovlen = 1,
							   .msg_control = b->icbuf[i],
							   .msg_controllen = sizeof(b->icbuf[i])};
		}
		n = recvmmsg(us->fd, b->in, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		b->fd = us->fd;
		for (int i = 0; i < n; i++) {
			struct msghdr *mh = &b->in[i].msg_hdr;
			union sockaddr_inet local = {0};

			/* A query longer than a slot is no query the proxy answers. */
			if (mh->msg_flags & MSG_TRUNC)
				continue;
			for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
				if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
					local.v4.sin_family = AF_INET;
					local.v4.sin_addr =
					    ((struct in_pktinfo *)CMSG_DATA(c))->ipi_addr;
				} else if (c->cmsg_level == IPPROTO_IPV6 &&
					   c->cmsg_type == IPV6_PKTINFO) {
					local.v6.sin6_family = AF_INET6;
					local.v6.sin6_addr =
					    ((struct in6_pktinfo *)CMSG_DATA(c))->ipi6_addr;
				}
			}
			query(d, b->ibuf[i], b->in[i].msg_len, us->fd, &b->from[i], &local, NULL);
		}
		batch_flush(d);
		b->fd = -1;
		if (n < UDP_BATCH)
			return;
	}
}

static void tcp_client_free(void *p)
{
	struct tcp_client *c = p;

	free(c->wbuf);
	free(c);
}

void dns_tcp_client_close(struct tcp_client *c)
{
	struct zt_dns *d = c->d;

	if (!c->closing) {
		c->closing = true;
		c->h.dead = true;
		loop_timer_cancel(d->loop, &c->idle);
		loop_del(d->loop, c->fd);
		close(c->fd);
		c->fd = -1;
	}
	/* Queries still upstream hold it until they end. */
	if (c->inflight)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		d->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	d->n_clients--;
	loop_defer_free(d->loop, c, tcp_client_free);
}

static unsigned int tcp_idle_ms(const struct zt_dns *d)
{
	return d->o.tcp_idle_ms ? d->o.tcp_idle_ms : TCP_IDLE_MS;
}

static void on_idle(struct loop_timer *t)
{
	struct tcp_client *c = (struct tcp_client *)((char *)t - offsetof(struct tcp_client, idle));

	/* A query still upstream is answered first: the resolvers' timeouts bound the wait. */
	if (c->inflight && !loop_timer_arm(c->d->loop, &c->idle, tcp_idle_ms(c->d)))
		return;
	dns_tcp_client_close(c);
}

/* @a and @b are one source (their ports aside). */
static bool same_source(const union sockaddr_inet *a, const union sockaddr_inet *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	return a->sa.sa_family == AF_INET
		   ? a->v4.sin_addr.s_addr == b->v4.sin_addr.s_addr
		   : !memcmp(&a->v6.sin6_addr, &b->v6.sin6_addr, sizeof(a->v6.sin6_addr));
}

/*
 * Room for a TCP client from @peer: false when its source holds its share already (the new
 * connection is refused, RFC 7766 §10: one client cannot take the node's); when the node's cap
 * is reached, the client that sent a whole message longest ago (none upstream) is closed for
 * it, as RFC 7766 §6.2.3 lets a server under load close idle connections first.
 */
static bool tcp_room(struct zt_dns *d, const union sockaddr_inet *peer)
{
	unsigned int per = d->o.tcp_max_per_source ?: MAX_TCP_PER_SOURCE;
	int max = d->o.tcp_max_clients ? (int)d->o.tcp_max_clients : MAX_TCP_CLIENTS;
	struct tcp_client *lru = NULL;
	unsigned int same = 0;

	for (struct tcp_client *c = d->clients; c; c = c->next) {
		if (c->closing)
			continue;
		if (same_source(&c->peer, peer) && ++same >= per)
			return false;
		if (!c->inflight && (!lru || c->last_ms <= lru->last_ms))
			lru = c;
	}
	if (d->n_clients < max)
		return true;
	if (!lru)
		return false;
	dns_tcp_client_close(lru);
	return d->n_clients < max;
}

static void tcp_client_io(struct loop_handler *h, uint32_t events)
{
	struct tcp_client *c = (struct tcp_client *)h;
	bool whole = false;

	if (events & EPOLLOUT)
		tcp_flush(c);
	if (c->closing || !(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		ssize_t n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, MSG_DONTWAIT);
		size_t off = 0;

		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			dns_tcp_client_close(c);
			return;
		}
		c->rlen += (size_t)n;
		while (c->rlen - off >= 2) {
			size_t mlen = (size_t)c->rbuf[off] << 8 | c->rbuf[off + 1];

			if (c->rlen - off < 2 + mlen)
				break;
			query(c->d, c->rbuf + off + 2, mlen, -1, &c->peer,
			      &(union sockaddr_inet){0}, c);
			if (c->closing)
				return;
			off += 2 + mlen;
			whole = true;
		}
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	/* A byte a second keeps no connection: only a whole message re-arms the deadline. */
	if (whole) {
		c->last_ms = loop_now_ms(c->d->loop);
		(void)loop_timer_arm(c->d->loop, &c->idle, tcp_idle_ms(c->d));
	}
}

static void tcp_accept_io(struct loop_handler *h, uint32_t events)
{
	struct dns_sock *ts = (struct dns_sock *)h;
	struct zt_dns *d = ts->d;

	if (!ready(d))
		return;
	for (int i = 0; i < 32; i++) {
		union sockaddr_inet peer;
		socklen_t pl = sizeof(peer);
		int fd = accept4(ts->fd, &peer.sa, &pl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct tcp_client *c;

		if (fd < 0)
			return;
		if (!tcp_room(d, &peer) || !(c = calloc(1, sizeof(*c)))) {
			close(fd);
			continue;
		}
		c->d = d;
		c->fd = fd;
		c->peer = peer;
		c->h.fn = tcp_client_io;
		c->idle.fn = on_idle;
		if (loop_add(d->loop, fd, EPOLLIN | EPOLLRDHUP, &c->h)) {
			close(fd);
			free(c);
			continue;
		}
		c->next = d->clients;
		if (c->next)
			c->next->prev = c;
		d->clients = c;
		d->n_clients++;
		c->last_ms = loop_now_ms(d->loop);
		(void)loop_timer_arm(d->loop, &c->idle, tcp_idle_ms(d));
	}
}

static void on_tick(struct loop_tick *t)
{
	struct zt_dns *d = (struct zt_dns *)((char *)t - offsetof(struct zt_dns, tick));

	load_resolvers(d, false);
	if (current(d))
		dns_wants_ask(d);
	dns_kernel_harvest(d->kernel);
}

static void *run(void *arg)
{
	struct zt_dns *d = arg;

	loop_run(d->loop);
	return NULL;
}

/*
 * A socket of @family and @type on 0.0.0.0:@port or [::]:@port (0: any), SO_REUSEPORT: beside
 * the ones the agent keeps of a predecessor, and a successor's. An IPv6 one is IPV6_V6ONLY, so
 * the IPv4 twin keeps IPv4's queries (and an IPv4 client is never seen as a mapped IPv6 one).
 */
static int dns_socket(int family, int type, uint16_t port)
{
	union sockaddr_inet a = {0};
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	bool v6 = family == AF_INET6;

	if (fd < 0)
		return -1;
	if (v6) {
		a.v6 = (struct sockaddr_in6){.sin6_family = AF_INET6, .sin6_addr = in6addr_any};
		sockaddr_inet_set_port(&a, port);
	} else {
		sockaddr_inet_v4(&a, INADDR_ANY, port);
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    (type == SOCK_DGRAM && !v6 &&
	     setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one))) ||
	    (type == SOCK_DGRAM && v6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one))) ||
	    (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one))) ||
	    (port && bind(fd, &a.sa, sockaddr_inet_len(&a))) ||
	    (type == SOCK_STREAM && listen(fd, 1024))) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Serves @udp and @tcp (taken) as pair @d->n_pairs, on the loop's thread or before it runs. */
static int serve_pair(struct zt_dns *d, int udp, int tcp)
{
	struct dns_sock *u = &d->udp[d->n_pairs], *t = &d->tcp[d->n_pairs];

	if (d->n_pairs == MAX_PAIRS)
		goto fail;
	*u = (struct dns_sock){.h = {.fn = udp_io}, .d = d, .fd = udp};
	*t = (struct dns_sock){.h = {.fn = tcp_accept_io}, .d = d, .fd = tcp};
	if (loop_add(d->loop, udp, EPOLLIN, &u->h))
		goto fail;
	if (loop_add(d->loop, tcp, EPOLLIN, &t->h)) {
		loop_del(d->loop, udp);
		goto fail;
	}
	d->n_pairs++;
	return 0;
fail:
	close(udp);
	close(tcp);
	return -ENOSPC;
}

/*
 * Its own IPv6 pair, [::]:port beside the IPv4 one, for the pods that ask over IPv6. Not handed
 * to the agent (zt_dns_export gives the IPv4 pair, the one its capture keeps): an IPv6 query
 * sent while no ztunnel runs waits for the next one's socket, or the resolver's retry. A host
 * without IPv6 serves IPv4 alone, said once.
 */
static void serve_ipv6(struct zt_dns *d)
{
	int udp = dns_socket(AF_INET6, SOCK_DGRAM, d->port);
	int tcp = udp < 0 ? -1 : dns_socket(AF_INET6, SOCK_STREAM, d->port);

	if (udp < 0 || tcp < 0) {
		pr_info("dns: no IPv6 UDP and TCP %u (%s): answering over IPv4 only", d->port,
			strerror(errno));
		if (udp >= 0)
			close(udp);
		return;
	}
	if (serve_pair(d, udp, tcp))
		pr_warn("dns: no room for the IPv6 sockets: answering over IPv4 only");
}

static void on_adopt(struct loop_handler *h, uint32_t events)
{
	struct zt_dns *d = (struct zt_dns *)((char *)h - offsetof(struct zt_dns, adopt_h));
	uint64_t v;

	if (read(d->adopt_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&d->lock);
	for (int i = 0; i < d->n_queued; i++) {
		if (serve_pair(d, d->queued[i][0], d->queued[i][1]))
			continue;
		pr_info("dns: serving the sockets the agent kept (with what was sent to them "
			"meanwhile)");
		/* Until the first snapshot, these wait unread as the others do. */
		if (d->paused)
			listen_all(d, false);
	}
	d->n_queued = 0;
	pthread_mutex_unlock(&d->lock);
}

/* The socket's inode: the same socket, whatever its descriptor. */
static ino_t sock_ino(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : st.st_ino;
}

/* Whether @fd is a socket of @type bound to port @port. */
static bool sock_is(int fd, int type, uint16_t port)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int t = 0;
	socklen_t tl = sizeof(t);

	return !getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &tl) && t == type &&
	       !getsockname(fd, (struct sockaddr *)&a, &al) && a.sin_family == AF_INET &&
	       ntohs(a.sin_port) == port;
}

void zt_dns_adopt(void *arg, int fds[2])
{
	struct zt_dns *d = arg;
	uint64_t one = 1;
	bool known = false;

	if (!sock_is(fds[0], SOCK_DGRAM, d->port) || !sock_is(fds[1], SOCK_STREAM, d->port)) {
		pr_warn("dns: the agent's sockets are not UDP and TCP %u: not served", d->port);
		goto drop;
	}
	pthread_mutex_lock(&d->lock);
	/* Pairs are only added, and their descriptors stay until the stop: read safely here. */
	for (int i = 0; i < d->n_pairs + d->n_queued && !known; i++)
		known = sock_ino(i < d->n_pairs ? d->udp[i].fd : d->queued[i - d->n_pairs][0]) ==
			sock_ino(fds[0]);
	if (!known && d->n_queued < MAX_PAIRS) {
		d->queued[d->n_queued][0] = fds[0];
		d->queued[d->n_queued][1] = fds[1];
		d->n_queued++;
		pthread_mutex_unlock(&d->lock);
		if (write(d->adopt_efd, &one, sizeof(one)) < 0)
			pr_debug("dns: wake: %s", strerror(errno));
		return;
	}
	pthread_mutex_unlock(&d->lock);
drop:
	close(fds[0]);
	close(fds[1]);
}

int zt_dns_export(void *arg, int fds[2])
{
	struct zt_dns *d = arg;

	/* Pair 0, its own, is set before the thread starts and never changes. */
	if (!d->own)
		return -ENOENT;
	fds[0] = d->udp[0].fd;
	fds[1] = d->tcp[0].fd;
	return 0;
}

struct zt_dns *zt_dns_start(struct mesh_state *st, uint16_t port, const struct zt_dns_opts *o)
{
	struct zt_dns *d = calloc(1, sizeof(*d));
	int e, udp, tcp;

	if (!d)
		return NULL;
	d->st = st;
	d->o = *o;
	d->port = port;
	d->up_fd = d->up_fd6 = d->adopt_efd = -1;
	pthread_mutex_init(&d->lock, NULL);
	snprintf(d->domain, sizeof(d->domain), "%s", o->domain ? o->domain : "cluster.local");
	d->batch.fd = -1;
	d->pend = calloc(MAX_PENDING, sizeof(*d->pend));
	d->loop = loop_create();
	d->adopt_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	d->up_fd = dns_socket(AF_INET, SOCK_DGRAM, 0);
	d->up_fd6 = dns_socket(AF_INET6, SOCK_DGRAM, 0);
	if (!d->pend || !d->loop || d->adopt_efd < 0 || d->up_fd < 0)
		goto fail;
	udp = dns_socket(AF_INET, SOCK_DGRAM, port);
	tcp = udp < 0 ? -1 : dns_socket(AF_INET, SOCK_STREAM, port);
	if (udp < 0 || tcp < 0) {
		/* Someone's without SO_REUSEPORT: the agent's may still come (zt_dns_adopt). */
		pr_warn("dns: cannot open UDP and TCP %u (%s): serving only the sockets the agent "
			"keeps, when it hands them",
			port, strerror(errno));
		if (udp >= 0)
			close(udp);
	} else if (serve_pair(d, udp, tcp)) {
		goto fail;
	} else {
		d->own = true;
	}
	serve_ipv6(d);
	for (size_t i = 0; i < MAX_PENDING; i++)
		d->pend[i].up_fd = -1;
	load_resolvers(d, true);
	d->up_h.fn = dns_up_udp_io;
	d->up6_h.fn = dns_up6_udp_io;
	d->adopt_h.fn = on_adopt;
	d->await.fn = on_await;
	d->tick.fn = on_tick;
	if (loop_add(d->loop, d->up_fd, EPOLLIN, &d->up_h) ||
	    (d->up_fd6 >= 0 && loop_add(d->loop, d->up_fd6, EPOLLIN, &d->up6_h)) ||
	    loop_add(d->loop, d->adopt_efd, EPOLLIN, &d->adopt_h))
		goto fail;
	loop_tick_add(d->loop, &d->tick);
	if (o->pin_root) {
		d->kernel = dns_kernel_open(o->pin_root, kernel_count, d);
		if (!d->kernel)
			pr_warn(
			    "dns: no answers in the kernel (%s/dns_answers: %s): the proxy answers "
			    "every query",
			    o->pin_root, strerror(errno));
	}
	if (d->kernel) {
		if ((e = -mesh_state_subscribe(st, on_install, d))) {
			errno = e;
			goto fail;
		}
		d->subscribed = true;
		dns_kernel_generation(d->kernel, mesh_state_version(st));
	}
	if ((e = pthread_create(&d->thread, NULL, run, d))) {
		errno = e;
		goto fail;
	}
	d->started = true;
	pr_info("dns: proxy on UDP and TCP %u%s", port,
		d->n_pairs > 1 || !d->own ? "" : " (IPv4 only)");
	return d;
fail:
	e = errno;
	zt_dns_stop(d);
	errno = e;
	return NULL;
}

void zt_dns_stop(struct zt_dns *d)
{
	if (!d)
		return;
	if (d->subscribed)
		mesh_state_unsubscribe(d->st, on_install, d);
	if (d->started) {
		loop_stop(d->loop);
		pthread_join(d->thread, NULL);
	}
	for (size_t i = 0; d->pend && i < MAX_PENDING; i++)
		if (d->pend[i].used) {
			d->pend[i].tc = NULL;
			dns_pending_end(&d->pend[i]);
		}
	while (d->clients) {
		struct tcp_client *c = d->clients;

		c->inflight = 0;
		d->clients = c->next;
		if (c->fd >= 0)
			close(c->fd);
		tcp_client_free(c);
	}
	loop_destroy(d->loop);
	for (int i = 0; i < d->n_pairs; i++) {
		close(d->udp[i].fd);
		close(d->tcp[i].fd);
	}
	for (int i = 0; i < d->n_queued; i++) {
		close(d->queued[i][0]);
		close(d->queued[i][1]);
	}
	if (d->up_fd >= 0)
		close(d->up_fd);
	if (d->up_fd6 >= 0)
		close(d->up_fd6);
	if (d->adopt_efd >= 0)
		close(d->adopt_efd);
	pthread_mutex_destroy(&d->lock);
	for (size_t k = 0; k < d->n_wants; k++)
		free(d->wants[k].name);
	free(d->wants);
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		free(d->cache[i].a);
	dns_kernel_close(d->kernel);
	dns_table_free(d->table);
	mesh_snap_put(d->zs);
	free(d->pend);
	free(d);
}
