// SPDX-License-Identifier: Apache-2.0
/*
 * The protections of an HTTP/2 server connection. An accepted peer is not trusted until its TLS
 * handshake is done, and even an authenticated one is held to limits (h2_limits, guard.h):
 * deadlines for the handshake, the first request and idleness; streams per connection; header
 * sizes; and HTTP/2 rapid reset (CVE-2023-44487), where a peer opens streams and resets them at
 * once so that the server does the work (for HBONE: an upstream connect each) while the peer's
 * concurrency stays at zero.
 *
 * Rapid reset is answered twice. A request is decided only when the read that brought it has
 * been parsed, so a reset arriving right behind it (the attack sends them in pairs) finds a
 * stream that never started anything. And a connection whose peer resets more than
 * max_early_resets streams before they were answered within H2_RESET_WINDOW_S gets GOAWAY
 * ENHANCE_YOUR_CALM and is closed. "Before answered" is narrower than Envoy's "within 1 s of
 * opening" on purpose: a node's pooled HBONE connection carries many applications, some of
 * which abort their connections early, and closing it would reset all the others; an honest
 * client resets a request before our answer only when it gave up meanwhile. libnghttp2's own
 * limit (Debian 12 backports nghttp2_option_set_stream_reset_rate_limit: 1,000 resets, then 33
 * a second) stays in force for every kind of reset, but acts only when its GOAWAY is sent,
 * after the whole read was processed: 20,000 pairs in one read would still start 20,000
 * requests without the above.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nghttp2/nghttp2.h>

#include "ambit/log.h"
#include "h2_priv.h"

bool h2_server_admit(struct h2_conn *c, int32_t id)
{
	c->ever_stream = true;
	/*
	 * nghttp2 refuses streams over the SETTINGS value it announced; ours also counts streams
	 * closed in HTTP/2 that their owner still holds (a consumer draining what it received).
	 */
	if (c->nstreams < c->lim.max_streams)
		return true;
	if (c->guarded)
		guard_count_stream_refusal(GUARD_S_PER_CONNECTION);
	nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
	return false;
}

bool h2_server_stream_id_ok(struct h2_conn *c, int32_t id)
{
	/* Even ids are a server's: nghttp2 ends the connection for those itself. */
	if (!(id & 1))
		return true;
	if (id > c->last_client_id) {
		c->last_client_id = id;
		return true;
	}
	/* Trailers of an open stream (a HEADERS never continues a block: CONTINUATION does). */
	if (nghttp2_session_find_stream(c->h2, id))
		return true;
	/* After a GOAWAY, new streams are ignored rather than refused: so are their trailers. */
	if (c->goaway || c->draining)
		return true;
	/*
	 * A stream we reset: the client may have sent its trailers before it learnt that, and such
	 * frames must be ignored (RFC 9113 §5.1, "closed"), for as long as it stays in the ring.
	 */
	for (size_t i = 0; i < H2_RESETS_KEPT; i++)
		if (c->resets_kept[i] == id)
			return true;
	pr_debug("h2: HEADERS on stream %d after stream %d: GOAWAY PROTOCOL_ERROR", id,
		 c->last_client_id);
	/* A connection error: nothing of this read is started, nothing more is read. */
	c->calm = true;
	c->since = loop_now(c->loop);
	h2_conn_goaway(c, NGHTTP2_PROTOCOL_ERROR);
	return false;
}

void h2_server_reset_sent(struct h2_conn *c, int32_t id)
{
	c->resets_kept[c->resets_next] = id;
	c->resets_next = (c->resets_next + 1) % H2_RESETS_KEPT;
}

void h2_server_refuse_headers(struct h2_conn *c, struct h2_stream *s, bool end_stream)
{
	/* Answered by the layer: without an owner, what the request still sends is dropped. */
	if (h2_submit_response(s, 431, NULL, 0, false)) {
		h2_stream_reset(s, H2_INTERNAL_ERROR);
		return;
	}
	s->reset_after = !end_stream;
}

/* The request of @s, decided now that the read that brought it is parsed. */
static void dispatch_one(struct h2_conn *c, struct h2_stream *s)
{
	struct h2_header *h = h2s_hblock_view(&s->req);
	size_t n = s->req.n;

	s->pending = false;
	if (!h && n) {
		h2_stream_reset(s, H2_INTERNAL_ERROR);
		return;
	}
	/* "No body": not a body's END_STREAM that came in the same read (on_end tells that). */
	c->ops->on_request(c->arg, s, h, n, s->bodiless);
	free(h);
	h2s_hblock_free(&s->req);
	if (s->freed || s->closed)
		return;
	if (!s->owned) {
		/* Neither bound nor answered: not processed at all (RFC 9113 §8.7). */
		if (!s->answered && !c->dead)
			h2_stream_reset(s, H2_REFUSED_STREAM);
		/* What came with it is nobody's: its window opens now. */
		if (s->unconsumed && !c->dead) {
			nghttp2_session_consume(c->h2, s->id, s->unconsumed);
			s->unconsumed = 0;
		}
		buf_free(&s->pend);
		return;
	}
	h2s_deliver_pending(s);
}

void h2_server_dispatch(struct h2_conn *c)
{
	struct h2_stream *s, *next;

	/* A connection being closed for abuse starts nothing more. */
	if (!c->to_decide || c->dead || c->calm || !c->ops || !c->ops->on_request)
		return;
	c->to_decide = false;
	for (s = LIST_FIRST(&c->streams); s && !c->dead && !c->calm; s = next) {
		next = LIST_NEXT(s, link);
		if (s->pending && !s->closed)
			dispatch_one(c, s);
	}
}

void h2_server_peer_reset(struct h2_conn *c, struct h2_stream *s)
{
	time_t now = loop_now(c->loop);

	if (s->answered || !c->lim.max_early_resets || c->calm)
		return;
	if (now - c->resets_window >= H2_RESET_WINDOW_S) {
		c->resets_window = now;
		c->early_resets = 0;
	}
	if (++c->early_resets <= c->lim.max_early_resets)
		return;
	pr_warn("h2: closing the connection of %s: %u streams reset before they were answered "
		"within %d s (HTTP/2 rapid reset; --max-early-resets)",
		h2_conn_peer_identity(c) ? h2_conn_peer_identity(c) : "a peer", c->early_resets,
		H2_RESET_WINDOW_S);
	if (c->guarded)
		guard_count_rapid_reset();
	/* Nothing more is started or read; the GOAWAY goes out, then the connection closes. */
	c->calm = true;
	c->since = now;
	h2_conn_goaway(c, NGHTTP2_ENHANCE_YOUR_CALM);
}

int h2_server_handshaken(struct h2_conn *c)
{
	int err = h2c_session_init(c);

	if (err)
		return err;
	guard_handshake_done(&c->slot);
	c->since = loop_now(c->loop);
	h2c_kick(c);
	return 0;
}

static void count_timeout(struct h2_conn *c, enum guard_timeout t)
{
	if (c->guarded)
		guard_count_timeout(c->listener, t);
}

void h2_conn_sweep(struct h2_conn *c)
{
	const struct h2_limits *lim = &c->lim;
	time_t now;

	if (!c || c->dead)
		return;
	h2c_drain_step(c);
	h2c_keepalive(c);
	if (c->dead)
		return;
	h2c_release_quiet(c);
	if (!c->server)
		return;
	now = loop_now(c->loop);
	if (c->calm) {
		if (now - c->since >= H2_CALM_LINGER_S)
			h2_conn_close(c, "GOAWAY with an error not read");
		return;
	}
	if (!c->handshaken) {
		/* Holding half-finished handshakes is the cheapest attack there is. */
		if (lim->handshake_s && now - c->since >= (time_t)lim->handshake_s) {
			count_timeout(c, GUARD_T_HANDSHAKE);
			pr_debug("h2: TLS handshake not done in %u s", lim->handshake_s);
			h2_conn_close(c, "TLS handshake timed out");
		}
		return;
	}
	if (c->goaway || c->nstreams)
		return;
	if (!c->ever_stream && lim->first_request_s &&
	    now - c->since >= (time_t)lim->first_request_s) {
		count_timeout(c, GUARD_T_FIRST_REQUEST);
		h2_conn_goaway(c, NGHTTP2_NO_ERROR);
	} else if (c->ever_stream && lim->idle_s && now - c->idle_since >= (time_t)lim->idle_s) {
		count_timeout(c, GUARD_T_IDLE);
		h2_conn_goaway(c, NGHTTP2_NO_ERROR);
	}
}
