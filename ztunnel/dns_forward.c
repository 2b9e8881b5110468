// SPDX-License-Identifier: Apache-2.0
/*
 * The DNS proxy's forwarding (dns_server_priv.h): a query it cannot answer goes to the node's
 * resolvers in turn, under an id of the proxy's own, over UDP then TCP when the answer is
 * truncated; the answer counts only from the resolver asked, with that id and the same question
 * (dns_upstream_check). The names of DNS ServiceEntries are kept resolved here too, each family
 * asked again on its own TTL.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ambit/log.h"
#include "dns.h"
#include "dns_kernel.h"
#include "dns_server_priv.h"
#include "dns_stats.h"
#include "net/meshstate.h"
#include "resolved.h"

void dns_pending_end(struct pending *p)
{
	struct zt_dns *d = p->d;

	loop_timer_cancel(d->loop, &p->timer);
	if (p->up_fd >= 0) {
		p->up_h.dead = true;
		loop_del(d->loop, p->up_fd);
		close(p->up_fd);
	}
	if (p->tc && !--p->tc->inflight && p->tc->closing)
		dns_tcp_client_close(p->tc);
	free(p->q);
	free(p->rbuf);
	memset(p, 0, sizeof(*p));
	p->up_fd = -1;
	d->n_pending--;
}

/* The proxy's own query ended: its addresses for the routing, and when to ask again. */
static void want_done(struct pending *p, const uint8_t *msg, size_t len)
{
	struct want *w = p->want;
	const char *type = w->family == AF_INET6 ? "AAAA" : "A";
	struct ipaddr ips[ZT_RESOLVED_MAX_ADDRS];
	uint32_t ttl = 0;
	int n = msg ? dns_answer_addrs(msg, len, w->family, ips, ZT_RESOLVED_MAX_ADDRS, &ttl)
		    : -ETIMEDOUT;

	w->inflight = false;
	/*
	 * NOERROR without a record of the family (NODATA: an IPv4-only name's AAAA) is an answer
	 * too: the name has none of it.
	 */
	if (n >= 0 || n == -ENOENT) {
		size_t k = n > 0 ? (size_t)n : 0;

		if (w->failing)
			pr_info("dns: %s resolves again (%s)", w->name, type);
		w->failing = false;
		/*
		 * Every answer is kept, routable here or not: in-pod the connection leaves from the
		 * client pod's netns, whose routes are its own (a pod of IPv6 alone reaches no A
		 * answer, and may reach an AAAA this netns does not), so the routing asks where it
		 * connects from (route.c dns_pick).
		 */
		/* NXDOMAIN or NODATA: none of the family, asked again in 30 s. */
		if (zt_resolved_set(w->name, w->family, ips, k))
			pr_warn("dns: no room for the addresses of %s", w->name);
		ttl = n > 0 ? (ttl < 5 ? 5 : ttl > 300 ? 300 : ttl) : 30;
		w->next_ms = loop_now_ms(p->d->loop) + ttl * 1000ull;
		pr_debug("dns: %s: %zu %s address(es) of %d, again in %u s", w->name, k, type,
			 n > 0 ? n : 0, ttl);
		return;
	}
	/* No answer: what it had stands, asked again soon. */
	if (!w->failing)
		pr_info("dns: cannot resolve %s (%s) for its ServiceEntry (%s): asking again every "
			"5 s",
			w->name, type, strerror(-n));
	w->failing = true;
	w->next_ms = loop_now_ms(p->d->loop) + 5000;
}

/* A client's forwarded query ended: answered, or (@failed) by no resolver. Once. */
static void forward_done(struct pending *p, bool failed)
{
	struct timespec now;

	if (!p->series)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	dns_stats_forward_done(p->series, failed,
			       (double)(now.tv_sec - p->start.tv_sec) +
				   (double)(now.tv_nsec - p->start.tv_nsec) / 1e9);
	p->series = NULL;
}

/* Sends @msg (an answer with the proxy's id) to @p's client with the client's id, and ends @p. */
static void pending_answer(struct pending *p, uint8_t *msg, size_t len)
{
	if (p->want) {
		want_done(p, msg, len);
		dns_pending_end(p);
		return;
	}
	forward_done(p, false);
	msg[0] = (uint8_t)(p->orig_id >> 8);
	msg[1] = (uint8_t)p->orig_id;
	if (p->tc)
		dns_tcp_send(p->tc, msg, len);
	else
		dns_udp_send(p->d, p->ufd, &p->peer, &p->local, msg, len);
	dns_pending_end(p);
}

static void pending_servfail(struct pending *p)
{
	uint8_t *out;
	size_t len;

	if (p->want) {
		want_done(p, NULL, 0);
		dns_pending_end(p);
		return;
	}
	forward_done(p, true);
	if (dns_servfail(p->q, p->qlen, &out, &len) == 0) {
		pending_answer(p, out, len);
		free(out);
		return;
	}
	dns_pending_end(p);
}

static void try_next(struct pending *p);

static void on_timeout(struct loop_timer *t)
{
	struct pending *p = (struct pending *)((char *)t - offsetof(struct pending, timer));

	try_next(p);
}

static void up_tcp_io(struct loop_handler *h, uint32_t events)
{
	struct pending *p = (struct pending *)((char *)h - offsetof(struct pending, up_h));
	uint8_t hdr[2] = {(uint8_t)(p->qlen >> 8), (uint8_t)p->qlen};

	if (events & EPOLLOUT) {
		struct iovec iov[2] = {
		    {hdr + (p->wsent < 2 ? p->wsent : 2), p->wsent < 2 ? 2 - p->wsent : 0},
		    {p->q + (p->wsent > 2 ? p->wsent - 2 : 0),
		     p->qlen - (p->wsent > 2 ? p->wsent - 2 : 0)}};
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
		ssize_t n = sendmsg(p->up_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN) {
			try_next(p);
			return;
		}
		if (n > 0)
			p->wsent += (size_t)n;
		if (p->wsent == p->qlen + 2)
			(void)loop_mod(p->d->loop, p->up_fd, EPOLLIN | EPOLLRDHUP, &p->up_h);
		return;
	}
	for (;;) {
		size_t want = p->rlen < 2 ? 2 : 2 + ((size_t)p->rbuf[0] << 8 | p->rbuf[1]);
		ssize_t n = recv(p->up_fd, p->rbuf + p->rlen, want - p->rlen, MSG_DONTWAIT);

		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			try_next(p);
			return;
		}
		p->rlen += (size_t)n;
		if (p->rlen >= 2 && p->rlen == 2 + ((size_t)p->rbuf[0] << 8 | p->rbuf[1])) {
			if (dns_upstream_check(p->rbuf + 2, p->rlen - 2, p->q, p->qlen)) {
				try_next(p);
				return;
			}
			pending_answer(p, p->rbuf + 2, p->rlen - 2);
			return;
		}
	}
}

/* Asks resolver @p->server over TCP (a connection per query). */
static int send_tcp(struct pending *p)
{
	struct zt_dns *d = p->d;
	const union sockaddr_inet *srv = &d->servers[p->server];
	int fd = socket(srv->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, &srv->sa, sockaddr_inet_len(srv)) && errno != EINPROGRESS) {
		close(fd);
		return -errno;
	}
	if (!p->rbuf && !(p->rbuf = malloc(2 + MSG_MAX))) {
		close(fd);
		return -ENOMEM;
	}
	p->rlen = p->wsent = 0;
	p->up_fd = fd;
	p->up_h.fn = up_tcp_io;
	p->up_h.dead = false;
	if (loop_add(d->loop, fd, EPOLLOUT | EPOLLIN | EPOLLRDHUP, &p->up_h)) {
		close(fd);
		p->up_fd = -1;
		return -ENOMEM;
	}
	return 0;
}

/* Asks the next resolver, or answers SERVFAIL when each was asked (twice in all for one). */
static void try_next(struct pending *p)
{
	struct zt_dns *d = p->d;
	int rounds = d->n_servers > 1 ? d->n_servers : 2, ufd;
	const union sockaddr_inet *srv;

	if (p->up_fd >= 0) {
		p->up_h.dead = true;
		loop_del(d->loop, p->up_fd);
		close(p->up_fd);
		p->up_fd = -1;
	}
	if (!d->n_servers || p->tries >= rounds) {
		pending_servfail(p);
		return;
	}
	p->server = p->tries++ % d->n_servers;
	srv = &d->servers[p->server];
	ufd = srv->sa.sa_family == AF_INET6 ? d->up_fd6 : d->up_fd;
	if (p->tc ? send_tcp(p)
	    : ufd < 0
		? (errno = EAFNOSUPPORT, -1)
		: sendto(ufd, p->q, p->qlen, MSG_DONTWAIT, &srv->sa, sockaddr_inet_len(srv)) < 0) {
		char ip[SOCKADDR_INET_STRLEN];

		pr_debug("dns: resolver %s: %s", sockaddr_inet_ntop(srv, ip, sizeof(ip)),
			 strerror(errno));
		try_next(p);
		return;
	}
	(void)loop_timer_arm(d->loop, &p->timer, d->o.timeout_ms ? d->o.timeout_ms : 2000);
}

/* A query @q to forward, re-numbered with an unused random id of the proxy's; NULL: none free. */
static struct pending *pending_new(struct zt_dns *d, const uint8_t *q, size_t len)
{
	struct pending *p = NULL;
	uint16_t id = 0;

	if (d->n_pending >= MAX_PENDING / 2) {
		pr_debug("dns: %zu queries in flight: dropping one", d->n_pending);
		return NULL;
	}
	for (int i = 0; i < 16 && !p; i++) {
		/* glibc's arc4random: a ChaCha20 stream seeded from getrandom, no system call. */
		id = (uint16_t)arc4random();
		if (!d->pend[id % MAX_PENDING].used)
			p = &d->pend[id % MAX_PENDING];
	}
	if (!p || !(p->q = malloc(len)))
		return NULL;
	memcpy(p->q, q, len);
	p->qlen = len;
	p->orig_id = (uint16_t)(q[0] << 8 | q[1]);
	p->id = id;
	p->q[0] = (uint8_t)(id >> 8);
	p->q[1] = (uint8_t)id;
	p->d = d;
	p->used = true;
	p->up_fd = -1;
	p->ufd = -1;
	p->timer.fn = on_timeout;
	d->n_pending++;
	return p;
}

void dns_forward(struct zt_dns *d, const uint8_t *q, size_t len, int ufd,
		 const union sockaddr_inet *peer, const union sockaddr_inet *local,
		 struct tcp_client *tc, struct dns_series *series)
{
	struct pending *p = pending_new(d, q, len);

	if (!p)
		return;
	p->series = series;
	if (series)
		dns_stats_forwarded(series);
	clock_gettime(CLOCK_MONOTONIC, &p->start);
	p->tc = tc;
	if (tc)
		tc->inflight++;
	else
		p->peer = *peer;
	p->ufd = ufd;
	p->local = *local;
	try_next(p);
}

/* Ends the proxy's own queries in flight (their wants are going away). */
static void wants_abort(struct zt_dns *d)
{
	for (size_t i = 0; i < MAX_PENDING; i++)
		if (d->pend[i].used && d->pend[i].want) {
			d->pend[i].want->inflight = false;
			dns_pending_end(&d->pend[i]);
		}
}

/*
 * The names of @s's DNS ServiceEntries into d->wants (each once per family; a known one keeps
 * its time).
 */
static void wants_update(struct zt_dns *d, const struct snapshot *s)
{
	struct want *v = NULL;
	char **names = NULL;
	size_t n = 0, n_names = 0, total = 0;

	for (size_t i = 0; i < s->n_entries; i++)
		total += s->entries[i].n_names;
	if (total &&
	    (!(v = calloc(2 * total, sizeof(*v))) || !(names = calloc(total, sizeof(*names))))) {
		free(v);
		return; /* kept as they were: tried again with the next snapshot */
	}
	for (size_t i = 0; i < s->n_entries; i++)
		for (size_t j = 0; j < s->entries[i].n_names; j++) {
			const char *name = s->entries[i].names[j];
			bool dup = false;

			for (size_t k = 0; k < n_names && !dup; k++)
				dup = !strcmp(names[k], name);
			if (dup || !(v[n].name = strdup(name)))
				continue;
			if (!(v[n + 1].name = strdup(name))) {
				free(v[n].name);
				v[n].name = NULL;
				continue;
			}
			v[n].family = AF_INET;
			v[n + 1].family = AF_INET6;
			for (size_t f = n; f < n + 2; f++)
				for (size_t k = 0; k < d->n_wants; k++)
					if (d->wants[k].family == v[f].family &&
					    !strcmp(d->wants[k].name, name))
						v[f].next_ms = d->wants[k].next_ms;
			names[n_names++] = v[n].name;
			n += 2;
		}
	wants_abort(d);
	for (size_t k = 0; k < d->n_wants; k++)
		free(d->wants[k].name);
	free(d->wants);
	d->wants = v;
	d->n_wants = n;
	d->wants_version = s->version;
	zt_resolved_keep(names, n_names);
	free(names);
	if (n_names)
		pr_info("dns: resolving %zu ServiceEntry name(s) for the routing (A and AAAA)",
			n_names);
}

/* Asks for the names whose time came. */
void dns_wants_ask(struct zt_dns *d)
{
	uint64_t now = loop_now_ms(d->loop);

	if (d->zs && d->zs->snap->version != d->wants_version)
		wants_update(d, d->zs->snap);
	for (size_t i = 0; i < d->n_wants && d->n_servers; i++) {
		struct want *w = &d->wants[i];
		struct pending *p;
		uint8_t *q;
		size_t len;

		if (w->inflight || now < w->next_ms ||
		    dns_make_query(w->name, w->family, 0, &q, &len))
			continue;
		p = pending_new(d, q, len);
		free(q);
		if (!p)
			return;
		p->want = w;
		w->inflight = true;
		try_next(p);
	}
}

/* An upstream's UDP answer on @fd: to its query when it is one, else dropped. */
static void up_udp_read(struct zt_dns *d, int fd)
{
	uint8_t buf[MSG_MAX];

	for (int i = 0; i < 64; i++) {
		union sockaddr_inet from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, &from.sa, &fl);
		struct pending *p;

		if (n < 0)
			return;
		if (n < 12)
			continue;
		p = &d->pend[(uint16_t)(buf[0] << 8 | buf[1]) % MAX_PENDING];
		if (!p->used || p->tc || p->id != (uint16_t)(buf[0] << 8 | buf[1]) ||
		    !sockaddr_inet_equal(&from, &d->servers[p->server]) ||
		    dns_upstream_check(buf, (size_t)n, p->q, p->qlen))
			continue;
		pending_answer(p, buf, (size_t)n);
	}
}

void dns_up_udp_io(struct loop_handler *h, uint32_t events)
{
	struct zt_dns *d = (struct zt_dns *)((char *)h - offsetof(struct zt_dns, up_h));

	up_udp_read(d, d->up_fd);
}

void dns_up6_udp_io(struct loop_handler *h, uint32_t events)
{
	struct zt_dns *d = (struct zt_dns *)((char *)h - offsetof(struct zt_dns, up6_h));

	up_udp_read(d, d->up_fd6);
}
