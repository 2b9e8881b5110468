// SPDX-License-Identifier: Apache-2.0
/*
 * A gateway listener's PROXY protocol (proxy_pp.h). The header is peeked (MSG_PEEK), then
 * exactly its bytes are consumed, so what follows it stays in the socket for whoever reads
 * next (OpenSSL, the SNI peek, the HTTP parser) as if the header had never been there; the
 * socket is watched edge-triggered meanwhile, for a partial header stays readable.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ambit/log.h"
#include "proxy_pp.h"
#include "proxy_priv.h"
#include "net/proxy_proto.h"
#include "net/sock.h"

struct wp_pp {
	struct loop_handler h;
	struct loop_timer timer;
	struct wp_pp_set *set;
	struct wp_pp *next, *prev;
	int fd;
	struct transport_peer peer;
	wp_pp_done_fn done;
	void *arg;
};

bool wp_engine_proxy_protocol(const struct wp_engine *e, uint16_t port)
{
	const struct l7_config *c = e->view->gen->l7;

	if (!c->gateway)
		return false;
	for (size_t i = 0; i < c->n_listeners; i++)
		if (c->listeners[i].port == port)
			return c->listeners[i].proxy_protocol;
	return false;
}

/* Unlinks @p and stops watching its socket; the loop frees it after this batch's events. */
static void pp_end(struct wp_pp *p)
{
	struct wp_pp_set *s = p->set;

	if (p->prev)
		p->prev->next = p->next;
	else
		s->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	loop_timer_cancel(s->loop, &p->timer);
	loop_del(s->loop, p->fd);
	p->h.dead = true;
	loop_defer_free(s->loop, p, free);
}

static void pp_refuse(struct wp_pp *p, const char *why)
{
	char ip[INET6_ADDRSTRLEN];

	sockaddr_inet_ntop(&p->peer.client, ip, sizeof(ip));
	pr_debug("gateway: port %u: connection from %s closed: %s", p->peer.dest_port, ip, why);
	pp_end(p);
	sock_close_reset(p->fd);
}

static void pp_ready(struct wp_pp *p, const struct proxy_proto_hdr *h, int n)
{
	struct transport_peer peer = p->peer;
	uint8_t sink[PROXY_PROTO_MAX];
	ssize_t r;

	/* What was peeked is there: this takes exactly the header, never the bytes after. */
	do
		r = recv(p->fd, sink, (size_t)n, 0);
	while (r < 0 && errno == EINTR);
	if (r != n) {
		pp_refuse(p, "the PROXY header could not be consumed");
		return;
	}
	/*
	 * Either family, as Envoy's proxy_protocol filter takes it; a mapped IPv6 source
	 * (::ffff:a.b.c.d, from a dual-stack balancer) is the IPv4 client it carries, so that
	 * ipBlocks and the logs name it as they would a direct IPv4 one.
	 */
	if (h->family == AF_INET || h->family == AF_INET6) {
		struct ipaddr a;

		if (sockaddr_inet_to_ipaddr(&h->src, &a) ||
		    sockaddr_inet_from_ipaddr(&peer.client, &a, sockaddr_inet_port(&h->src)) ||
		    sockaddr_inet_to_ipaddr(&h->dst, &a) ||
		    sockaddr_inet_from_ipaddr(&peer.local, &a, sockaddr_inet_port(&h->dst))) {
			pp_refuse(p, "the PROXY header's addresses are of no known family");
			return;
		}
	}
	pp_end(p);
	p->done(p->arg, p->fd, &peer);
}

static void pp_read(struct loop_handler *lh, uint32_t events)
{
	struct wp_pp *p = (struct wp_pp *)lh;
	uint8_t buf[PROXY_PROTO_MAX];
	struct proxy_proto_hdr h;
	ssize_t n;
	int r;

	if (lh->dead)
		return;
	do
		n = recv(p->fd, buf, sizeof(buf), MSG_PEEK);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		if (events & (EPOLLHUP | EPOLLERR))
			pp_refuse(p, "connection error before a PROXY header");
		return;
	}
	if (n <= 0) {
		pp_refuse(p, n ? "connection error before a PROXY header"
			       : "the client closed before a whole PROXY header");
		return;
	}
	r = proxy_proto_parse(buf, (size_t)n, &h);
	if (r == -EAGAIN) {
		/* Nothing more will come: a half-closed client sent all it will. */
		if (events & (EPOLLRDHUP | EPOLLHUP))
			pp_refuse(p, "the client closed before a whole PROXY header");
		return;
	}
	if (r < 0) {
		pp_refuse(p, "no valid PROXY protocol header");
		return;
	}
	pp_ready(p, &h, r);
}

static void pp_timeout(struct loop_timer *t)
{
	struct wp_pp *p = (struct wp_pp *)((char *)t - offsetof(struct wp_pp, timer));

	pp_refuse(p, "no whole PROXY header in time");
}

int wp_pp_start(struct wp_pp_set *s, int fd, const struct transport_peer *peer, wp_pp_done_fn done,
		void *arg)
{
	struct wp_pp *p = calloc(1, sizeof(*p));

	if (!p) {
		sock_close_reset(fd);
		return -ENOMEM;
	}
	p->h.fn = pp_read;
	p->timer.fn = pp_timeout;
	p->set = s;
	p->fd = fd;
	p->peer = *peer;
	p->done = done;
	p->arg = arg;
	if (loop_timer_arm(s->loop, &p->timer, WP_PP_TIMEOUT_MS) ||
	    loop_add(s->loop, fd, EPOLLIN | EPOLLRDHUP | EPOLLET, &p->h)) {
		loop_timer_cancel(s->loop, &p->timer);
		free(p);
		sock_close_reset(fd);
		return -ENOMEM;
	}
	p->next = s->head;
	if (s->head)
		s->head->prev = p;
	s->head = p;
	return 0;
}

void wp_pp_close_all(struct wp_pp_set *s)
{
	while (s->head)
		pp_refuse(s->head, "the gateway is draining");
}
