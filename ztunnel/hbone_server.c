// SPDX-License-Identifier: Apache-2.0
/*
 * The server side of HBONE: the connections 15008 accepted, their deadlines, and the decision
 * of each CONNECT. An accepted peer is not trusted until its TLS handshake is done, and even a
 * mesh identity is held to limits (hbone_limits, guard.h): deadlines for the handshake, the
 * first CONNECT and idleness; streams per connection and per identity; and HTTP/2 rapid reset
 * (CVE-2023-44487), where a peer opens streams and resets them at once so that the server does
 * the work (here: an upstream connect each) while the peer's concurrency stays at zero.
 *
 * Rapid reset is answered twice. A CONNECT is decided only when the read that brought it has
 * been parsed, so a reset arriving right behind it (the attack sends them in pairs) finds a
 * stream that never started a connect. And a connection whose peer resets more than
 * max_early_resets streams before they were answered within RESET_WINDOW_S gets GOAWAY
 * ENHANCE_YOUR_CALM and is closed. "Before answered" is narrower than Envoy's "within 1 s of
 * opening" on purpose: a node's pooled connection carries many applications, some of which
 * abort their connections early, and closing it would reset all the others; an honest client
 * resets a CONNECT before our answer only when its application left during the upstream
 * connect, which takes milliseconds. libnghttp2's own limit (Debian 12 backports
 * nghttp2_option_set_stream_reset_rate_limit: 1,000 resets, then 33 a second) stays in force
 * for every kind of reset, but acts only when its GOAWAY is sent, after the whole read was
 * processed: 20,000 pairs in one read still cost 20,000 upstream connects without the above.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <nghttp2/nghttp2.h>

#include "ambit/log.h"
#include "hbone.h"
#include "hbone_priv.h"

#define RESET_WINDOW_S 10
/* A connection that was sent GOAWAY ENHANCE_YOUR_CALM but does not read it is closed anyway. */
#define CALM_LINGER_S 2

static void respond(struct hbone_conn *c, struct hbone_stream *s, int status)
{
	char code[8];
	nghttp2_nv nv = {(uint8_t *)":status", (uint8_t *)code, 7, 3, NGHTTP2_NV_FLAG_NONE};

	if (status < 100 || status > 599)
		status = 503;
	snprintf(code, sizeof(code), "%d", status);
	s->answered = true;
	nghttp2_submit_response(c->h2, s->id, &nv, 1, NULL);
	conn_kick(c);
}

/* connrec abort hook (server streams): a policy change revoked the connection. */
static void stream_revoke(void *arg, const char *reason)
{
	hb_stream_abort(arg, reason);
}

/* The CONNECT of @s, decided now that the read that brought it is parsed. */
static void dispatch_one(struct hbone_conn *c, struct hbone_stream *s)
{
	struct hbone_request req = {
	    .authority = s->authority,
	    .forwarded = s->forwarded,
	    .peer_identity = c->peer_identity,
	    .local = c->local,
	    .peer = c->peer,
	};
	int status = 400, fd = -1;

	s->dispatch_pending = false;
	if (s->method_connect && s->authority && req.peer_identity) {
		if (guard_stream_admit(&s->gs, req.peer_identity)) {
			/* RFC 9113 §8.7: not processed at all, the client may retry it. */
			s->answered = true;
			nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id,
						  NGHTTP2_REFUSED_STREAM);
			conn_kick(c);
			return;
		}
		status = c->on_accept(c->user, &req, &fd, &s->rec);
	} else if (s->method_connect && s->authority) {
		status = 401;
	}
	if (status == 0) {
		s->fd = fd;
		s->connecting = true;
		s->opened = loop_now(c->loop);
		if (loop_add(c->loop, fd, EPOLLOUT, &s->h) == 0) {
			s->events = EPOLLOUT;
			connrec_set_abort(s->rec, stream_revoke, s);
			return;
		}
		close(fd);
		s->fd = -1;
		s->connecting = false;
		status = 503;
	}
	connrec_close(s->rec, "refused");
	s->rec = NULL;
	/* A refused CONNECT holds nothing of its identity's share. */
	guard_stream_release(&s->gs);
	respond(c, s, status);
}

void hb_server_request(struct hbone_conn *c, struct hbone_stream *s)
{
	s->dispatch_pending = true;
}

void hb_server_dispatch(struct hbone_conn *c)
{
	struct hbone_stream *s, *next;

	/* A connection being closed for abuse starts nothing more. */
	if (c->dead || c->calm)
		return;
	for (s = c->streams; s; s = next) {
		next = s->next;
		if (s->dispatch_pending && !s->finished)
			dispatch_one(c, s);
	}
}

/* The upstream connect of @s failed or ran out of time: 503, and the stream ends with it. */
static void connect_failed(struct hbone_stream *s, const char *why)
{
	struct hbone_conn *c = s->conn;

	pr_debug("hbone: upstream %s: %s", s->authority, why);
	s->connecting = false;
	loop_del(c->loop, s->fd);
	close(s->fd);
	s->fd = -1;
	connrec_close(s->rec, why);
	s->rec = NULL;
	guard_stream_release(&s->gs);
	respond(c, s, 503);
}

void hb_server_connected(struct hbone_stream *s, uint32_t events)
{
	struct hbone_conn *c = s->conn;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	nghttp2_data_provider prd = {.source.ptr = s, .read_callback = hb_stream_provide};
	nghttp2_nv nv = {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE};

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
	s->established = true;
	s->answered = true;
	s->last_io = loop_now(c->loop);
	nghttp2_submit_response(c->h2, s->id, &nv, 1, &prd);
	conn_kick(c);
	hb_stream_write_tcp(s);
}

bool hb_server_peer_reset(struct hbone_conn *c, struct hbone_stream *s)
{
	const struct hbone_limits *lim = hb_limits(c);
	time_t now = loop_now(c->loop);

	if (s->answered || !lim->max_early_resets || c->calm)
		return true;
	if (now - c->resets_window >= RESET_WINDOW_S) {
		c->resets_window = now;
		c->early_resets = 0;
	}
	if (++c->early_resets <= lim->max_early_resets)
		return true;
	pr_warn("hbone: closing the connection of %s from %s: %u streams reset before they were "
		"answered within %d s (HTTP/2 rapid reset; --max-early-resets)",
		c->peer_identity ? c->peer_identity : "?", inet_ntoa(c->peer.sin_addr),
		c->early_resets, RESET_WINDOW_S);
	guard_count_rapid_reset();
	/* Nothing more is started or read; the GOAWAY goes out, then the connection closes. */
	c->calm = true;
	c->since = now;
	hb_conn_goaway(c, NGHTTP2_ENHANCE_YOUR_CALM);
	return false;
}

int hb_server_handshaken(struct hbone_conn *c)
{
	int err = hb_session_init(c);

	if (err)
		return err;
	guard_handshake_done(&c->slot);
	c->since = loop_now(c->loop);
	return 0;
}

/* The streams' own deadlines: the upstream connect, and idleness either way. */
static void sweep_streams(struct hbone_conn *c, time_t now)
{
	const struct hbone_limits *lim = hb_limits(c);
	struct hbone_stream *s, *next;

	for (s = c->streams; s && !c->dead; s = next) {
		next = s->next;
		if (s->finished)
			continue;
		if (!c->client && s->connecting && lim->connect_s &&
		    now - s->opened >= (time_t)lim->connect_s) {
			guard_count_timeout(GUARD_HBONE, GUARD_T_CONNECT);
			connect_failed(s, "upstream connect timed out");
		} else if (s->established && lim->stream_idle_s &&
			   now - s->last_io >= (time_t)lim->stream_idle_s) {
			if (!c->client)
				guard_count_timeout(GUARD_HBONE, GUARD_T_IDLE);
			else if (s->slot.held)
				guard_count_timeout(s->slot.listener, GUARD_T_IDLE);
			hb_stream_abort(s, "idle timeout");
		}
	}
}

void hb_conn_sweep(struct hbone_conn *c, time_t now)
{
	const struct hbone_limits *lim = hb_limits(c);

	if (c->dead)
		return;
	sweep_streams(c, now);
	if (c->dead)
		return;
	if (c->client)
		return;
	if (c->calm) {
		if (now - c->since >= CALM_LINGER_S)
			hb_conn_close(c, "GOAWAY ENHANCE_YOUR_CALM not read");
		return;
	}
	if (!c->handshaken) {
		/* Holding half-finished handshakes is the cheapest attack there is. */
		if (lim->handshake_s && now - c->since >= (time_t)lim->handshake_s) {
			guard_count_timeout(GUARD_HBONE, GUARD_T_HANDSHAKE);
			pr_debug("hbone: %s:%u: TLS handshake not done in %u s",
				 inet_ntoa(c->peer.sin_addr), ntohs(c->peer.sin_port),
				 lim->handshake_s);
			hb_conn_close(c, "TLS handshake timed out");
		}
		return;
	}
	if (c->goaway || c->nstreams)
		return;
	if (!c->ever_stream && lim->first_request_s &&
	    now - c->since >= (time_t)lim->first_request_s) {
		guard_count_timeout(GUARD_HBONE, GUARD_T_FIRST_REQUEST);
		hb_conn_goaway(c, NGHTTP2_NO_ERROR);
	} else if (c->ever_stream && lim->idle_s && now - c->idle_since >= (time_t)lim->idle_s) {
		guard_count_timeout(GUARD_HBONE, GUARD_T_IDLE);
		hb_conn_goaway(c, NGHTTP2_NO_ERROR);
	}
}

int hbone_server_start(struct hbone_pool *p, int fd, struct tls_ctx *ctx, hbone_accept_fn on_accept,
		       void *user, struct guard_slot *slot)
{
	socklen_t sl = sizeof(struct sockaddr_in);
	struct hbone_conn *c = hb_conn_new(p->loop, fd, ctx, false, NULL);
	int err;

	if (!c) {
		close(fd);
		guard_release(slot);
		return -ENOMEM;
	}
	c->on_accept = on_accept;
	c->user = user;
	c->since = loop_now(p->loop);
	if (slot)
		guard_slot_move(&c->slot, slot);
	getsockname(fd, (struct sockaddr *)&c->local, &sl);
	sl = sizeof(struct sockaddr_in);
	getpeername(fd, (struct sockaddr *)&c->peer, &sl);
	c->events = EPOLLIN;
	err = loop_add(p->loop, fd, EPOLLIN, &c->h);
	if (err) {
		c->fd = -1;
		guard_release(&c->slot);
		hb_conn_free(c);
		close(fd);
		return err;
	}
	/* Server connections carry no key: listed for shutdown and for their deadlines. */
	hb_pool_link(p, c);
	return 0;
}
