// SPDX-License-Identifier: Apache-2.0
/*
 * Mirrors (VirtualService mirror / mirrors with mirrorPercentage, API_SEMANTICS.md §1.3): a
 * fire-and-forget copy of the request to another destination, its Host suffixed "-shadow" as
 * Envoy's request mirror policy does by default (--shadow-host-suffix=off for current Istio,
 * which turns it off). The copy gets the body as it streams, through a bounded buffer: a
 * shadow that cannot keep up is dropped, never slowing the request it copies. Its response is
 * read and discarded; it outlives the request when it must. It goes as HTTP/2 where the
 * request itself would to that cluster (grpc / http2 ports, h2UpgradePolicy, the client's
 * protocol on a sniffed port): a stream whose body is pulled from the same buffer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_priv.h"

#define MIRROR_BUF (1u << 20)
#define MIRROR_DEADLINE_MS 60000

struct wp_mirror {
	struct wp_engine *e;
	struct wp_view *view;
	struct wp_upstream *up;
	struct wp_req *r;		 /* while the request lives */
	struct wp_mirror *next;		 /* in the request's list */
	struct wp_mirror *enext, *eprev; /* in the engine's */
	struct h1_head head;
	struct buf body;
	struct h1_pool_wait w;
	struct h1_client *c;
	struct wp_h2m *h2; /* or an HTTP/2 stream */
	struct loop_timer timer;
	enum h1_framing framing;
	uint64_t length;
	bool req_end, sent;
};

static void mirror_free(struct wp_mirror *m, bool reuse)
{
	if (m->r) {
		for (struct wp_mirror **pp = &m->r->mirrors; *pp; pp = &(*pp)->next)
			if (*pp == m) {
				*pp = m->next;
				break;
			}
	}
	if (m->eprev)
		m->eprev->enext = m->enext;
	else
		m->e->mirrors = m->enext;
	if (m->enext)
		m->enext->eprev = m->eprev;
	loop_timer_cancel(m->e->loop, &m->timer);
	if (m->h2)
		wp_h2up_mirror_end(m->h2);
	h1_pool_cancel(&m->w);
	if (m->c)
		h1_pool_put(m->c, reuse, !reuse);
	if (m->up)
		h1_pool_request_done(m->up->pool);
	m->view->users--;
	m->e->n_mirrors--;
	h1_head_free(&m->head);
	buf_free(&m->body);
	free(m);
}

static void m_response(void *arg, struct h1_head *head)
{
}

static void m_body(void *arg, const char *data, size_t len)
{
}

static void m_end(void *arg)
{
	struct wp_mirror *m = arg;

	/* A response before the request ended: the connection cannot be reused. */
	mirror_free(m, m->req_end);
}

static void m_drain(void *arg)
{
}

static void m_error(void *arg, int err)
{
	mirror_free(arg, false);
}

static const struct h1_client_ops mirror_ops = {
    .on_response = m_response,
    .on_body = m_body,
    .on_end = m_end,
    .on_drain = m_drain,
    .on_error = m_error,
};

static int m_flush(struct wp_mirror *m)
{
	int err = 0;

	if (m->body.len)
		err = h1_client_body(m->c, buf_head(&m->body), m->body.len);
	buf_free(&m->body);
	if (!err && m->req_end)
		err = h1_client_end(m->c);
	return err;
}

static void m_ready(struct h1_pool_wait *w, struct h1_client *c)
{
	struct wp_mirror *m = (struct wp_mirror *)((char *)w - offsetof(struct wp_mirror, w));

	m->c = c;
	h1_client_bind(c, &mirror_ops, m);
	if (h1_client_request(c, &m->head, m->framing, m->length) || m_flush(m)) {
		mirror_free(m, false);
		return;
	}
	m->sent = true;
}

static void m_fail(struct h1_pool_wait *w, int err)
{
	mirror_free((struct wp_mirror *)((char *)w - offsetof(struct wp_mirror, w)), false);
}

static void m_deadline(struct loop_timer *t)
{
	mirror_free((struct wp_mirror *)((char *)t - offsetof(struct wp_mirror, timer)), false);
}

/* The HTTP/2 stream went: so does the mirror. */
static void m_h2_done(void *arg)
{
	mirror_free(arg, false);
}

static struct wp_mirror *mirror_new(struct wp_req *r, const struct l7_mirror *mp)
{
	struct wp_engine *e = r->conn->e;
	struct wp_gen *g = r->view->gen;
	int s = wp_gen_service(g, mp->dest.host, NULL), h;
	struct wp_cluster *c =
	    s < 0 ? NULL
		  : wp_gen_cluster(g, s, mp->dest.subset,
				   mp->dest.port ? mp->dest.port : r->conn->peer.dest_port,
				   wp_peer_v6(&r->conn->peer));
	struct wp_upstream *u = c ? wp_view_upstream(e, r->view, c) : NULL;
	struct wp_mirror *m;
	char *host;

	if (!u || h1_pool_request_begin(u->pool))
		return NULL;
	h = wp_upstream_pick(u, false, 0, NULL, 0);
	m = h >= 0 ? calloc(1, sizeof(*m)) : NULL;
	if (!m) {
		h1_pool_request_done(u->pool);
		return NULL;
	}
	m->e = e;
	m->view = r->view;
	m->up = u;
	r->view->users++;
	e->n_mirrors++;
	m->enext = e->mirrors;
	if (e->mirrors)
		e->mirrors->eprev = m;
	e->mirrors = m;
	m->head.method = h1_head_strdup(&m->head, r->head.method);
	m->head.target = h1_head_strdup(&m->head, r->head.target);
	m->head.minor = 1;
	m->framing = r->framing == H1_FRAMING_LENGTH	? H1_FRAMING_LENGTH
		     : r->framing == H1_FRAMING_CHUNKED ? H1_FRAMING_EOF
							: H1_FRAMING_NONE;
	m->length = r->length;
	if (asprintf(&host, "%s%s", r->authority ? r->authority : "",
		     e->o.shadow_suffix ? "-shadow" : "") < 0)
		host = NULL;
	if (!m->head.method || !m->head.target || !host ||
	    http_fields_copy(&m->head.fields, &r->head.fields) ||
	    http_fields_set(&m->head.fields, "host", host)) {
		free(host);
		mirror_free(m, false);
		return NULL;
	}
	m->timer.fn = m_deadline;
	m->w.on_ready = m_ready;
	m->w.on_fail = m_fail;
	loop_timer_arm(e->loop, &m->timer, MIRROR_DEADLINE_MS);
	if (wp_h2up_wanted_on(c, r)) {
		m->h2 = wp_h2up_mirror(e, g, c, h, &m->head, host,
				       m->framing != H1_FRAMING_NONE &&
					   !(m->framing == H1_FRAMING_LENGTH && !m->length),
				       &m->body, &m->req_end, m_h2_done, m);
		free(host);
		if (!m->h2) {
			mirror_free(m, false);
			return NULL;
		}
		return m;
	}
	free(host);
	/* A mirror has no original destination of its own. */
	if (wp_cluster_per_request(c) ||
	    h1_pool_get(u->pool, &c->addr[h], c->ep[h]->identity, &m->w)) {
		mirror_free(m, false);
		return NULL;
	}
	return m;
}

void wp_mirror_start(struct wp_req *r)
{
	for (size_t i = 0; i < r->route->n_mirrors; i++) {
		const struct l7_mirror *mp = &r->route->mirrors[i];
		struct wp_mirror *m;

		if (wp_random() % 1000000u >= mp->ppm)
			continue;
		m = mirror_new(r, mp);
		if (!m)
			continue;
		m->r = r;
		m->next = r->mirrors;
		r->mirrors = m;
		/* Body that arrived before routing (a fault delay) is the mirror's too. */
		if (r->body.len && !r->body_sent) {
			char *p = buf_reserve(&m->body, r->body.len, MIRROR_BUF);

			if (p) {
				memcpy(p, buf_head(&r->body), r->body.len);
				m->body.len += r->body.len;
			}
		}
		if (m->h2)
			wp_h2up_mirror_more(m->h2);
	}
}

void wp_mirror_body(struct wp_req *r, const char *data, size_t len)
{
	for (struct wp_mirror *m = r->mirrors, *n; m; m = n) {
		char *p;

		n = m->next;
		if (m->sent) {
			if (h1_client_queued(m->c) > MIRROR_BUF || h1_client_body(m->c, data, len))
				mirror_free(m, false);
			continue;
		}
		p = buf_reserve(&m->body, len, MIRROR_BUF);
		if (!p) {
			mirror_free(m, false); /* cannot keep up: dropped */
			continue;
		}
		memcpy(p, data, len);
		m->body.len += len;
		if (m->h2)
			wp_h2up_mirror_more(m->h2);
	}
}

void wp_mirror_end(struct wp_req *r)
{
	for (struct wp_mirror *m = r->mirrors, *n; m; m = n) {
		n = m->next;
		m->req_end = true;
		if (m->h2)
			wp_h2up_mirror_more(m->h2);
		else if (m->sent && h1_client_end(m->c))
			mirror_free(m, false);
	}
}

void wp_mirror_detach(struct wp_req *r)
{
	while (r->mirrors) {
		struct wp_mirror *m = r->mirrors;

		r->mirrors = m->next;
		m->r = NULL;
		if (!m->req_end)
			mirror_free(m,
				    false); /* the request never completed: neither can its copy */
	}
}

void wp_mirror_abort_all(struct wp_engine *e)
{
	while (e->mirrors) {
		struct wp_mirror *m = e->mirrors;

		m->r = NULL;
		mirror_free(m, false);
	}
}
