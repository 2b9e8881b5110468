// SPDX-License-Identifier: Apache-2.0
/*
 * The HBONE connections a worker holds: pooled client connections (one per peer identity,
 * address and expected SAN, reused up to HBONE_MAX_STREAMS streams, closed when idle) and the
 * server connections it accepted, listed so that shutdown can close them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <nghttp2/nghttp2.h>

#include "hbone.h"
#include "hbone_priv.h"

/* An unused pooled client connection is closed (GOAWAY) after this many seconds. */
#define POOL_IDLE_S 60

static void pool_link(struct hbone_pool *p, struct hbone_conn *c)
{
	c->pool = p;
	c->pnext = p->conns;
	if (p->conns)
		p->conns->pprev = c;
	p->conns = c;
	p->n++;
}

int hbone_server_start(struct hbone_pool *p, int fd, struct tls_ctx *ctx, hbone_accept_fn on_accept,
		       void *user)
{
	socklen_t sl = sizeof(struct sockaddr_in);
	struct hbone_conn *c = hb_conn_new(p->loop, fd, ctx, false, NULL);
	int err;

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->on_accept = on_accept;
	c->user = user;
	getsockname(fd, (struct sockaddr *)&c->local, &sl);
	sl = sizeof(struct sockaddr_in);
	getpeername(fd, (struct sockaddr *)&c->peer, &sl);
	c->events = EPOLLIN;
	err = loop_add(p->loop, fd, EPOLLIN, &c->h);
	if (err) {
		c->fd = -1;
		hb_conn_free(c);
		close(fd);
		return err;
	}
	/* Server connections carry no key: listed only so that shutdown can close them. */
	pool_link(p, c);
	return 0;
}

/* Closes client connections nobody used for POOL_IDLE_S: peers restart and pods go away. */
static void pool_sweep(void *arg)
{
	struct hbone_pool *p = arg;
	time_t now = mono_now();

	for (struct hbone_conn *c = p->conns; c; c = c->pnext) {
		struct hbone_stream *s, *next;

		/* A CONNECT nobody answers must not hold its client forever. */
		for (s = c->client && !c->dead ? c->streams : NULL; s; s = next) {
			next = s->next;
			if (!s->established && now - s->opened >= HBONE_RESPONSE_S)
				hb_stream_abort(s, "no CONNECT response");
		}
		if (!c->client || c->dead || c->goaway || c->nstreams || !c->handshaken ||
		    now - c->idle_since < POOL_IDLE_S)
			continue;
		/* GOAWAY: the session ends (and the connection closes) once it is written. */
		c->goaway = true;
		nghttp2_session_terminate_session(c->h2, NGHTTP2_NO_ERROR);
		conn_kick(c);
	}
}

struct hbone_pool *hbone_pool_create(struct loop *l)
{
	struct hbone_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->loop = l;
	loop_set_tick(l, pool_sweep, p);
	return p;
}

void hbone_pool_destroy(struct hbone_pool *p)
{
	if (!p)
		return;
	loop_set_tick(p->loop, NULL, NULL);
	p->closing = true;
	while (p->conns)
		hb_conn_close(p->conns, "pool destroyed");
	free(p);
}

size_t hbone_pool_size(const struct hbone_pool *p)
{
	return p ? p->n : 0;
}

static struct hbone_conn *pool_connect(struct hbone_pool *p, const struct hbone_target *t,
				       const char *key)
{
	struct hbone_conn *c;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	setsockopt(fd, IPPROTO_TCP, 1 /* TCP_NODELAY */, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&t->addr, sizeof(t->addr)) < 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return NULL;
	}
	c = hb_conn_new(p->loop, fd, t->ctx, true, t->expect_san);
	if (!c) {
		close(fd);
		return NULL;
	}
	c->key = strdup(key);
	c->peer = t->addr;
	c->tcp_connecting = true;
	c->events = EPOLLOUT | EPOLLIN;
	/* A peer that is down drops SYNs: without a deadline the client would wait minutes. */
	c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!c->key || c->tfd < 0 || loop_add(p->loop, c->tfd, EPOLLIN, &c->th)) {
		c->fd = -1;
		hb_conn_free(c);
		close(fd);
		return NULL;
	}
	hb_conn_timer_arm(c, HBONE_CONNECT_TIMEOUT_MS);
	if (loop_add(p->loop, fd, c->events, &c->h)) {
		loop_del(p->loop, c->tfd);
		c->fd = -1;
		hb_conn_free(c);
		close(fd);
		return NULL;
	}
	pool_link(p, c);
	return c;
}

int hbone_pool_open(struct hbone_pool *p, const struct hbone_target *t, int fd, struct connrec *rec)
{
	nghttp2_data_provider prd = {.read_callback = hb_stream_provide};
	nghttp2_nv nv[3];
	char key[512], fwd[384];
	struct hbone_conn *c;
	struct hbone_stream *s;
	size_t nnv = 2;
	int32_t id;

	snprintf(key, sizeof(key), "%s|%s:%u|%s", t->identity, inet_ntoa(t->addr.sin_addr),
		 ntohs(t->addr.sin_port), t->expect_san);
	for (c = p->conns; c; c = c->pnext)
		if (c->client && !c->dead && !c->goaway && c->nstreams < HBONE_MAX_STREAMS &&
		    strcmp(c->key, key) == 0)
			break;
	if (!c)
		c = pool_connect(p, t, key);
	if (!c || !(s = hb_stream_new(c, fd)))
		goto fail;
	if (loop_add(p->loop, fd, 0, &s->h)) {
		s->fd = -1;
		hb_stream_finish(s, "loop", false);
		goto fail;
	}
	s->rec = rec;
	rec = NULL;
	s->opened = mono_now();
	s->authority = strdup(t->authority); /* for the logs only: NULL is fine */
	nv[0] =
	    (nghttp2_nv){(uint8_t *)":method", (uint8_t *)"CONNECT", 7, 7, NGHTTP2_NV_FLAG_NONE};
	nv[1] = (nghttp2_nv){(uint8_t *)":authority", (uint8_t *)t->authority, 10,
			     strlen(t->authority), NGHTTP2_NV_FLAG_NONE};
	if (t->forwarded_for) {
		/* As Istio's ztunnel: the destination reports the Service the client asked for. */
		snprintf(fwd, sizeof(fwd), "for=%s%s%s", t->forwarded_for,
			 t->forwarded_host ? ";host=" : "",
			 t->forwarded_host ? t->forwarded_host : "");
		nv[nnv++] = (nghttp2_nv){(uint8_t *)"forwarded", (uint8_t *)fwd, 9, strlen(fwd),
					 NGHTTP2_NV_FLAG_NONE};
	}
	prd.source.ptr = s;
	id = nghttp2_submit_request(c->h2, NULL, nv, nnv, &prd, s);
	if (id < 0) {
		if (t->ops) {
			/* Not handed back through ops: the caller keeps @fd. */
			loop_del(p->loop, fd);
			s->fd = -1;
		}
		hb_stream_finish(s, nghttp2_strerror(id), true);
		return -EIO;
	}
	s->id = id;
	/* Only now: ops never run from inside this call. */
	s->ops = t->ops;
	s->ops_arg = t->ops_arg;
	conn_kick(c);
	return 0;
fail:
	if (fd >= 0 && !t->ops)
		hb_close_reset(fd);
	connrec_close(rec, "hbone connect failed");
	return -ENOMEM;
}
