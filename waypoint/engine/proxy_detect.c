// SPDX-License-Identifier: Apache-2.0
/*
 * Which protocol a downstream connection speaks (proxy.h, detect.h): the Service port's
 * declared protocol when it has one (http2 / grpc ports: HTTP/2; tcp, mysql...: TCP), else its
 * first bytes — the HTTP/2 preface, an HTTP/1.x request line, or anything else as TCP (also
 * when the client sends nothing within WP_DETECT_TIMEOUT_MS: a server-first protocol, or at
 * its EOF). An http port takes HTTP/1.x or HTTP/2, and bytes that are neither get HTTP/1's
 * 400 rather than a TCP route.
 *
 * The bytes a decision needed are not lost: HTTP/2 and TCP are handed them; an HTTP/1
 * connection decided on the first read gets them from the transport itself (they are left
 * there), one that needed more reads gets them replayed by a thin transport in front of the
 * original one (struct replay).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/log.h"
#include "../detect.h"
#include "proxy_priv.h"

/* Envoy's listener-filter timeout for a client that sends nothing (server-first protocols). */
#define WP_DETECT_TIMEOUT_MS 5000
/* Out of descriptors, a connection silent for this long since its accept may be closed. */
#define WP_RECLAIM_SILENT_MS 1000

/* ---- replaying bytes already read, in front of a transport ---- */

struct replay {
	struct transport t;
	struct transport *in;
	struct loop *loop;
	struct buf pre;
	struct loop_task task;
	bool paused, closed;
};

static struct replay *replay_of(struct transport *t)
{
	return (struct replay *)t;
}

static int rp_write(struct transport *t, const char *data, size_t len)
{
	return transport_write(replay_of(t)->in, data, len);
}

static size_t rp_queued(const struct transport *t)
{
	return transport_queued(((const struct replay *)t)->in);
}

static void rp_shutdown(struct transport *t)
{
	transport_shutdown(replay_of(t)->in);
}

static void rp_pause(struct transport *t)
{
	struct replay *p = replay_of(t);

	p->paused = true;
	transport_pause(p->in);
}

static void rp_resume(struct transport *t)
{
	struct replay *p = replay_of(t);

	p->paused = false;
	if (p->pre.len)
		loop_queue(p->loop, &p->task);
	else
		transport_resume(p->in);
}

static void rp_free(void *arg)
{
	struct replay *p = arg;

	buf_free(&p->pre);
	transport_peer_clear(&p->t.peer);
	free(p);
}

static void rp_close(struct transport *t, bool reset)
{
	struct replay *p = replay_of(t);

	if (p->closed)
		return;
	p->closed = true;
	transport_close(p->in, reset);
	loop_defer_free(p->loop, p, rp_free);
}

static const struct transport_impl replay_impl = {
    .write = rp_write,
    .queued = rp_queued,
    .shutdown = rp_shutdown,
    .pause = rp_pause,
    .resume = rp_resume,
    .close = rp_close,
};

/* The held bytes first; then the original transport reads again. */
static void rp_task(struct loop_task *task)
{
	struct replay *p = (struct replay *)((char *)task - offsetof(struct replay, task));

	while (p->pre.len && !p->paused && !p->closed) {
		size_t took = p->t.cbs->on_data(p->t.arg, buf_head(&p->pre), p->pre.len);

		if (p->closed)
			return;
		buf_consume(&p->pre, took);
		if (p->pre.len)
			p->paused = true;
	}
	if (!p->pre.len && !p->paused && !p->closed)
		transport_resume(p->in);
}

static size_t rp_data(void *arg, const char *data, size_t len)
{
	struct replay *p = arg;

	return p->t.cbs->on_data(p->t.arg, data, len);
}

static void rp_eof(void *arg)
{
	struct replay *p = arg;

	if (p->t.cbs->on_eof)
		p->t.cbs->on_eof(p->t.arg);
}

static void rp_drain(void *arg)
{
	struct replay *p = arg;

	if (p->t.cbs->on_drain)
		p->t.cbs->on_drain(p->t.arg);
}

static void rp_error(void *arg, int err)
{
	struct replay *p = arg;

	p->t.cbs->on_error(p->t.arg, err);
}

static const struct transport_cbs replay_cbs = {
    .on_data = rp_data,
    .on_eof = rp_eof,
    .on_drain = rp_drain,
    .on_error = rp_error,
};

/* A transport delivering @pre (taken) before what @in (taken, paused) reads. NULL + errno. */
static struct transport *replay_new(struct loop *l, struct transport *in, struct buf *pre)
{
	struct replay *p = calloc(1, sizeof(*p));

	if (!p || transport_peer_copy(&p->t.peer, transport_peer(in))) {
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	p->t.impl = &replay_impl;
	p->in = in;
	p->loop = l;
	p->pre = *pre;
	memset(pre, 0, sizeof(*pre));
	p->task.fn = rp_task;
	transport_set_cbs(in, &replay_cbs, p);
	/* Whoever serves it sets its callbacks now; the bytes come from the loop. */
	loop_queue(l, &p->task);
	return &p->t;
}

/* ---- detection ---- */

struct sniff {
	struct wp_engine *e;
	struct transport *t;
	struct buf in;
	struct loop_timer timer;
	struct loop_task task; /* HTTP/1 decided on the first read: served from the loop */
	bool http;	       /* the port is declared HTTP: non-HTTP bytes are HTTP/1's 400 */
	bool eof, done;
	bool handoff; /* HTTP/1 decided on the first read: s->t is served from the task */
	struct sniff *next, *prev; /* in e->sniffs, newest first, until sniff_end */
	uint64_t born_ms;	   /* accepted then (loop time) */
};

static void sniff_free(void *arg)
{
	struct sniff *s = arg;

	buf_free(&s->in);
	free(s);
}

static void sniff_end(struct sniff *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		s->e->sniffs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->done = true;
	loop_timer_cancel(s->e->loop, &s->timer);
	loop_defer_free(s->e->loop, s, sniff_free);
}

/* Hands the connection on with the bytes taken so far (s->in). */
static void decide(struct sniff *s, enum wp_detect d)
{
	struct wp_engine *e = s->e;
	struct transport *t = s->t;

	if (d == WP_DETECT_TCP && s->http)
		d = WP_DETECT_HTTP1;
	pr_debug("waypoint: downstream connection detected as %s", wp_detect_name(d));
	if (d == WP_DETECT_HTTP2) {
		wp_h2_serve(e, t, buf_head(&s->in), s->in.len);
	} else if (d == WP_DETECT_TCP) {
		wp_tcp_serve(e, t, buf_head(&s->in), s->in.len, s->eof, NULL);
	} else {
		transport_pause(t);
		t = replay_new(e->loop, t, &s->in);
		if (t)
			wp_serve_http1(e, t);
		else
			transport_close(s->t, true);
	}
	sniff_end(s);
}

static void on_first_http1(struct loop_task *task)
{
	struct sniff *s = (struct sniff *)((char *)task - offsetof(struct sniff, task));
	struct transport *t = s->t;

	sniff_end(s);
	if (!t)
		return; /* failed meanwhile, and closed */
	/* The transport holds the bytes it delivered: the HTTP/1 server reads them again. */
	if (wp_serve_http1(s->e, t) == 0)
		transport_resume(t);
}

static size_t sn_data(void *arg, const char *data, size_t len)
{
	struct sniff *s = arg;
	enum wp_detect d;
	char *p;

	if (s->done)
		return 0;
	if (!s->in.len) {
		d = wp_detect(data, len);
		if (d == WP_DETECT_HTTP1 || (d == WP_DETECT_TCP && s->http)) {
			/* Left in the transport (paused by taking none), served from a task. */
			s->done = s->handoff = true;
			loop_timer_cancel(s->e->loop, &s->timer);
			loop_queue(s->e->loop, &s->task);
			return 0;
		}
	}
	p = buf_reserve(&s->in, len, WP_DETECT_MAX + TRANSPORT_READ_MAX);
	if (!p) {
		transport_close(s->t, true);
		sniff_end(s);
		return len;
	}
	memcpy(p, data, len);
	s->in.len += len;
	d = wp_detect(buf_head(&s->in), s->in.len);
	if (d != WP_DETECT_MORE)
		decide(s, d);
	return len;
}

static void sn_eof(void *arg)
{
	struct sniff *s = arg;

	if (s->done)
		return;
	s->eof = true;
	if (!s->in.len) {
		transport_close(s->t, false); /* said nothing at all: nothing to route */
		sniff_end(s);
		return;
	}
	decide(s, WP_DETECT_TCP);
}

static void sn_error(void *arg, int err)
{
	struct sniff *s = arg;

	if (s->handoff && s->t) {
		transport_close(s->t, true);
		s->t = NULL;
	}
	if (s->done)
		return;
	transport_close(s->t, true);
	sniff_end(s);
}

static void sn_timeout(struct loop_timer *tm)
{
	struct sniff *s = (struct sniff *)((char *)tm - offsetof(struct sniff, timer));

	if (!s->done)
		decide(s, WP_DETECT_TCP);
}

static const struct transport_cbs sniff_cbs = {
    .on_data = sn_data,
    .on_eof = sn_eof,
    .on_error = sn_error,
};

/* The declared protocol of the Service port @p reached, L7_PROTO_UNKNOWN when none. */
static enum l7_protocol declared(struct wp_engine *e, const struct transport_peer *p)
{
	struct wp_gen *g = e->view->gen;
	int svc = wp_gen_service(g, p->dest_host, &p->dest_ip);
	const struct l7_service *s = svc >= 0 ? &g->l7->services[svc] : NULL;

	for (size_t i = 0; s && i < s->n_ports; i++)
		if (s->ports[i].port == p->dest_port)
			return s->ports[i].protocol;
	return L7_PROTO_UNKNOWN;
}

int wp_engine_serve_east_west(struct wp_engine *e, struct transport *t, bool from_waypoint)
{
	return wp_tcp_serve_east_west(e, t, from_waypoint);
}

int wp_engine_serve(struct wp_engine *e, struct transport *t)
{
	enum l7_protocol proto = declared(e, transport_peer(t));
	enum wp_detect d = wp_detect_declared(proto);
	struct sniff *s;

	/* A gateway's TLS PASSTHROUGH listener: routed by the ClientHello's server name. */
	if (proto == L7_PROTO_TLS && e->view->gen->l7->gateway)
		return wp_sni_serve(e, t);
	if (d == WP_DETECT_HTTP1)
		return wp_serve_http1(e, t);
	if (d == WP_DETECT_HTTP2)
		return wp_h2_serve(e, t, NULL, 0);
	if (d == WP_DETECT_TCP)
		return wp_tcp_serve(e, t, NULL, 0, false, NULL);
	s = calloc(1, sizeof(*s));
	if (!s) {
		transport_close(t, true);
		return -ENOMEM;
	}
	s->e = e;
	s->t = t;
	s->http = proto == L7_PROTO_HTTP || proto == L7_PROTO_GRPC_WEB;
	s->timer.fn = sn_timeout;
	s->task.fn = on_first_http1;
	transport_set_cbs(t, &sniff_cbs, s);
	loop_timer_arm(e->loop, &s->timer, WP_DETECT_TIMEOUT_MS);
	s->born_ms = loop_now_ms(e->loop);
	s->next = e->sniffs;
	if (e->sniffs)
		e->sniffs->prev = s;
	e->sniffs = s;
	return 0;
}

size_t wp_detect_reclaim(struct wp_engine *e, size_t n)
{
	struct sniff *s = e->sniffs, *prev;
	uint64_t now = loop_now_ms(e->loop);
	size_t closed = 0;

	while (s && s->next)
		s = s->next;
	/*
	 * Oldest first; one that sent a first byte is about to be served and stays, and so does
	 * one accepted too recently to have been read (in the same accept batch, perhaps).
	 */
	for (; s && closed < n; s = prev) {
		prev = s->prev;
		if (s->done || s->in.len || now - s->born_ms < WP_RECLAIM_SILENT_MS)
			continue;
		transport_close(s->t, true);
		sniff_end(s);
		closed++;
	}
	return closed;
}
