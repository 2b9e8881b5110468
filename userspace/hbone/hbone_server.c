// SPDX-License-Identifier: Apache-2.0
/*
 * The server side of HBONE: the connections 15008 accepted and the CONNECTs they carry. The
 * HTTP/2 server's own protections (handshake, first-request and idle deadlines, streams per
 * connection, rapid reset, requests decided only after the read that brought them) are the
 * HTTP/2 layer's (h2_server.c); here are HBONE's: a CONNECT needs a verified peer identity and
 * an :authority, takes a share of its identity's streams (guard.h), and is answered 200 only
 * once its upstream is connected (DESIGN.md §3), or at once when an in-process end takes it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ambit/log.h"
#include "hbone.h"
#include "hbone_priv.h"

/* A CONNECT header value longer than this gets 431 (addresses and `forwarded` fit). */
#define HDR_MAX 512

/* connrec abort hook (server streams): a policy change revoked the connection. */
static void stream_revoke(void *arg, const char *reason)
{
	hbone_stream_fail(arg, reason);
}

static void respond(struct h2_stream *h2s, int status)
{
	if (status < 100 || status > 599)
		status = 503;
	h2_submit_response(h2s, status, NULL, 0, false);
}

/*
 * The 200 that opens @s's tunnel, with the destination's baggage when the accept gave one, and
 * for CONNECT-UDP the `capsule-protocol` RFC 9297 §3.4 asks of both ends.
 */
static int respond_ok(struct hbone_stream *s)
{
	struct h2_header h[2];
	size_t n = 0;
	int rv;

	if (s->baggage)
		h[n++] = H2_HDR("baggage", s->baggage);
	if (s->udp)
		h[n++] = H2_HDR("capsule-protocol", "?1");
	rv = h2_submit_response(s->h2s, 200, h, n, true);

	free(s->baggage);
	s->baggage = NULL;
	return rv;
}

/* The accepted CONNECT @s goes to @up: its socket's connect, or its in-process end. */
static int start_upstream(struct hbone_stream *s, struct hbone_upstream *up)
{
	struct hbone_conn *c = s->conn;

	s->rec = up->rec;
	up->rec = NULL;
	if (up->baggage[0] && !(s->baggage = strdup(up->baggage)))
		return 503;
	if (up->fd < 0) {
		if (!up->end)
			return 503;
		s->end = up->end;
		s->end_arg = up->end_arg;
		if (s->end->attached)
			s->end->attached(s->end_arg, s);
		if (respond_ok(s))
			return 503;
		connrec_set_abort(s->rec, stream_revoke, s);
		hbone_stream_established(s);
		return 0;
	}
	s->fd = up->fd;
	s->connecting = true;
	s->opened = loop_now(c->loop);
	if (loop_add_rx(c->loop, s->fd, EPOLLOUT, &s->h)) {
		close(s->fd);
		s->fd = -1;
		s->connecting = false;
		return 503;
	}
	s->events = EPOLLOUT;
	connrec_set_abort(s->rec, stream_revoke, s);
	return 0;
}

/* h2_conn_ops: a request, decided now that the read that brought it is parsed. */
static void on_request(void *arg, struct h2_stream *h2s, const struct h2_header *h, size_t n,
		       bool end_stream)
{
	struct hbone_conn *c = arg;
	const char *method = h2_header_get(h, n, ":method");
	struct hbone_request req = {
	    .authority = h2_header_get(h, n, ":authority"),
	    .forwarded = h2_header_get(h, n, "forwarded"),
	    .peer_identity = h2_conn_peer_identity(c->h2),
	    .local = c->local,
	    .peer = c->peer,
	    .headers = h,
	    .nheaders = n,
	};
	struct hbone_upstream up = {.fd = -1};
	struct guard_stream gs = {0};
	struct hbone_stream *s;
	int status;

	if (!method || strcmp(method, "CONNECT") || !req.authority) {
		respond(h2s, 400);
		return;
	}
	/* HTTP/2 let a `:protocol` through only if this pool takes CONNECT-UDP (hbone_limits). */
	if (h2_header_get(h, n, ":protocol")) {
		status = hbone_udp_request(h, n, req.authority);
		if (status) {
			respond(h2s, status);
			return;
		}
		req.udp = true;
	}
	if (!req.peer_identity) {
		respond(h2s, 401);
		return;
	}
	if (guard_stream_admit(&gs, req.peer_identity)) {
		/* RFC 9113 §8.7: not processed at all, the client may retry it. */
		h2_stream_reset(h2s, H2_REFUSED_STREAM);
		return;
	}
	s = hbone_stream_new(c, -1);
	if (!s) {
		guard_stream_release(&gs);
		h2_stream_reset(h2s, H2_INTERNAL_ERROR);
		return;
	}
	s->gs = gs;
	s->h2s = h2s;
	s->udp = req.udp;
	s->authority = strdup(req.authority); /* for the logs only: NULL is fine */
	h2_stream_bind(h2s, &hbone_stream_ops, s);
	status = c->on_accept(c->user, &req, &up);
	if (status == 0)
		status = start_upstream(s, &up);
	if (status == 0)
		return;
	if (up.fd >= 0)
		close(up.fd);
	connrec_close(s->rec ? s->rec : up.rec, "refused");
	s->rec = NULL;
	/* A refused CONNECT holds nothing of its identity's share; it ends with its answer. */
	guard_stream_release(&s->gs);
	respond(h2s, status);
}

/* The upstream connect of @s failed or ran out of time: 503, and the stream ends with it. */
static void connect_failed(struct hbone_stream *s, const char *why)
{
	struct hbone_conn *c = s->conn;

	pr_debug("hbone: upstream %s: %s", s->authority, why);
	s->connecting = false;
	loop_del_handler(c->loop, s->fd, &s->h);
	close(s->fd);
	s->fd = -1;
	connrec_close(s->rec, why);
	s->rec = NULL;
	guard_stream_release(&s->gs);
	respond(s->h2s, 503);
}

void hbone_server_connected(struct hbone_stream *s, uint32_t events)
{
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr == EINPROGRESS || (!soerr && !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))))
		return;
	if (soerr) {
		connect_failed(s, strerror(soerr));
		return;
	}
	s->connecting = false;
	/* DESIGN.md §3: 200 only after the upstream connection is up. */
	if (respond_ok(s)) {
		hbone_stream_fail(s, "cannot answer");
		return;
	}
	hbone_stream_established(s);
}

void hbone_conn_sweep(struct hbone_conn *c, time_t now)
{
	const struct hbone_limits *lim = &c->pool->lim;
	struct hbone_stream *s, *next;

	for (s = LIST_FIRST(&c->streams); s && !c->dead; s = next) {
		next = LIST_NEXT(s, link);
		if (s->finished)
			continue;
		if (!c->client && s->connecting && lim->connect_s &&
		    now - s->opened >= (time_t)lim->connect_s) {
			guard_count_timeout(GUARD_HBONE, GUARD_T_CONNECT);
			connect_failed(s, "upstream connect timed out");
		} else if (c->client && !s->established && now - s->opened >= HBONE_RESPONSE_S) {
			/* A CONNECT nobody answers must not hold its client forever. */
			hbone_stream_fail(s, "no CONNECT response");
		} else if (s->established && lim->stream_idle_s &&
			   now - s->last_io >= (time_t)lim->stream_idle_s) {
			if (!c->client)
				guard_count_timeout(GUARD_HBONE, GUARD_T_IDLE);
			else if (s->slot.held)
				guard_count_timeout(s->slot.listener, GUARD_T_IDLE);
			hbone_stream_fail(s, "idle timeout");
		}
	}
}

const struct h2_conn_ops hbone_server_conn_ops = {
    .on_request = on_request,
    .on_close = hbone_conn_closed,
};

struct hbone_conn *hbone_server_attach(struct hbone_pool *p, const struct h2_transport *t,
				       hbone_accept_fn on_accept, void *user,
				       struct guard_slot *slot)
{
	struct hbone_conn *c = calloc(1, sizeof(*c));
	struct h2_limits lim = {
	    .handshake_s = p->lim.handshake_s,
	    .first_request_s = p->lim.first_request_s,
	    .idle_s = p->lim.idle_s,
	    .max_streams = p->lim.max_streams,
	    .max_early_resets = p->lim.max_early_resets,
	    .max_header_value = HDR_MAX,
	    .stream_window = HBONE_STREAM_WINDOW,
	    .conn_window = HBONE_CONN_WINDOW,
	    .ping_interval_s = p->lim.ping_interval_s,
	    .ping_timeout_s = p->lim.ping_timeout_s,
	    .extended_connect = p->lim.udp,
	};
	struct h2_config cfg = {
	    .server = true,
	    .ops = &hbone_server_conn_ops,
	    .arg = c,
	    .lim = &lim,
	    .guarded = true,
	    .listener = GUARD_HBONE,
	    .slot = slot,
	};

	if (!c)
		return NULL;
	c->loop = p->loop;
	c->on_accept = on_accept;
	c->user = user;
	c->h2 = h2_conn_create(p->loop, t, &cfg);
	if (!c->h2) {
		free(c);
		return NULL;
	}
	/* Server connections carry no key: listed for shutdown and for their deadlines. */
	hbone_pool_link(p, c);
	return c;
}

int hbone_server_start(struct hbone_pool *p, int fd, struct tls_ctx *ctx, hbone_accept_fn on_accept,
		       void *user, struct guard_slot *slot)
{
	struct h2_transport t = {.kind = H2_TLS, .fd = fd, .ctx = ctx};
	union sockaddr_inet local = {0}, peer = {0};
	socklen_t sl = sizeof(local);
	struct hbone_conn *c;
	int err;

	getsockname(fd, &local.sa, &sl);
	sl = sizeof(peer);
	getpeername(fd, &peer.sa, &sl);
	c = hbone_server_attach(p, &t, on_accept, user, slot);
	if (!c) {
		err = errno ? -errno : -ENOMEM;
		close(fd);
		guard_release(slot);
		return err;
	}
	c->local = local;
	c->peer = peer;
	return 0;
}
