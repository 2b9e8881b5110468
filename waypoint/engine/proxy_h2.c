// SPDX-License-Identifier: Apache-2.0
/*
 * HTTP/2 downstream (proxy_priv.h): a connection detected (or declared) as HTTP/2 with prior
 * knowledge — what gRPC clients send in the mesh — is an HTTP/2 server over its transport
 * (h2link.h), and each of its streams is one exchange of the request engine: its header block
 * becomes a request head (:authority as Host, :path as the target) handed to the same
 * on_request as an HTTP/1 request's, so routing, policies, faults, timeouts and retries are the
 * engine's, and the answer comes back through proxy_down.c to the stream: headers, DATA, and
 * the upstream's trailers (grpc-status) before END_STREAM.
 *
 * Backpressure: request DATA is consumed (the client's window reopened) only while the
 * upstream takes it (the engine pauses the stream as it pauses an HTTP/1 connection); response
 * bytes wait in the stream's queue for nghttp2, whose send window the client opens, and the
 * upstream is paused while that queue is above TRANSPORT_HIGH_WATER.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ambit/log.h"
#include "http/h2link.h"
#include "proxy_priv.h"

struct wp_h2down {
	struct wp_engine *e;
	struct h2_link *k;
	struct transport_peer peer;
	struct wp_h2down *next, *prev;
	bool draining;
};

struct wp_h2s {
	struct wp_conn conn; /* the exchange's context, conn.h2s pointing here */
	struct wp_h2down *d;
	struct h2_stream *s;
	struct buf out;	   /* response body not yet taken by nghttp2 */
	size_t unconsumed; /* request DATA held back while the engine paused us */
	bool head_req, out_end, deferred, paused, drain_wanted;
};

static struct loop *loop_of(const struct wp_h2down *d)
{
	return d->e->loop;
}

/* ---- header blocks ---- */

static bool hop_field(const char *name)
{
	static const char *const hop[] = {"connection",	       "keep-alive", "proxy-connection",
					  "transfer-encoding", "upgrade",    "host"};

	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (!strcmp(name, hop[i]))
			return true;
	return false;
}

int wp_h2_headers(const struct http_fields *f, size_t reserve, struct h2_header **out, size_t *n)
{
	struct h2_header *h = calloc(reserve + f->n + 1, sizeof(*h));
	size_t k = reserve;

	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < f->n; i++) {
		const struct http_field *x = &f->items[i];

		/* RFC 9113 §8.2.2: connection-specific fields are not sent; TE only as trailers. */
		if (hop_field(x->name) || x->name[0] == ':' ||
		    (!strcmp(x->name, "te") && strcasecmp(x->value, "trailers")))
			continue;
		h[k++] = H2_HDR(x->name, x->value);
	}
	*out = h;
	*n = k;
	return 0;
}

int wp_h2_fields(const struct h2_header *h, size_t n, struct http_fields *f)
{
	for (size_t i = 0; i < n; i++)
		if (h[i].name[0] != ':' &&
		    http_fields_addn(f, h[i].name, h[i].name_len, h[i].value, h[i].value_len))
			return -ENOMEM;
	return 0;
}

/* ---- a stream's events ---- */

static void s_data(void *arg, struct h2_stream *s, const uint8_t *data, size_t len)
{
	struct wp_h2s *x = arg;

	if (x->conn.req)
		wp_h1_events.on_body(&x->conn, (const char *)data, len);
	/* Held back while the upstream does not take more: the client's window stays shut. */
	if (x->paused && x->conn.req)
		x->unconsumed += len;
	else
		h2_stream_consume(s, len);
}

static void s_headers(void *arg, struct h2_stream *s, const struct h2_header *h, size_t n,
		      bool end_stream)
{
	/* Request trailers: the engine's HTTP/1 upstream has no place for them; dropped. */
}

static void s_end(void *arg, struct h2_stream *s)
{
	struct wp_h2s *x = arg;

	if (x->conn.req)
		wp_h1_events.on_body_end(&x->conn);
}

static void s_close(void *arg, struct h2_stream *s, uint32_t error, const char *reason)
{
	struct wp_h2s *x = arg;
	struct wp_h2down *d = x->d;

	if (x->conn.req)
		wp_h1_events.on_abort(&x->conn, -ECONNRESET);
	h2_stream_release(s);
	transport_peer_clear(&x->conn.peer);
	buf_free(&x->out);
	free(x);
	/* A draining connection goes once its last stream is answered. */
	if (d->draining && d->k && h2_link_conn(d->k) && h2_conn_streams(h2_link_conn(d->k)) == 0)
		h2_conn_goaway(h2_link_conn(d->k), H2_NO_ERROR);
}

static ssize_t s_provide(void *arg, struct h2_stream *s, uint8_t *buf, size_t len, bool *eof)
{
	struct wp_h2s *x = arg;
	size_t n = x->out.len < len ? x->out.len : len;

	if (n) {
		memcpy(buf, buf_head(&x->out), n);
		buf_consume(&x->out, n);
	}
	if (!x->out.len && x->out_end)
		*eof = true;
	else if (!n)
		x->deferred = true;
	if (!x->out.len && x->drain_wanted) {
		x->drain_wanted = false;
		if (x->conn.req)
			wp_h1_events.on_drain(&x->conn);
	}
	return (ssize_t)n;
}

static const struct h2_stream_ops stream_ops = {
    .on_headers = s_headers,
    .on_data = s_data,
    .on_end = s_end,
    .on_close = s_close,
    .provide = s_provide,
};

static void kick(struct wp_h2s *x)
{
	if (x->deferred) {
		x->deferred = false;
		h2_stream_resume(x->s);
	}
}

/* ---- the engine's calls (proxy_down.c) ---- */

int wp_h2s_respond(struct wp_h2s *x, const struct h1_head *resp, bool has_body)
{
	struct h2_header *h;
	size_t n;
	int err;

	if (wp_h2_headers(&resp->fields, 0, &h, &n))
		return -ENOMEM;
	err = h2_submit_response(x->s, resp->status, h, n, has_body && !x->head_req);
	free(h);
	return err;
}

int wp_h2s_interim(struct wp_h2s *x, const struct h1_head *resp)
{
	struct h2_header *h;
	size_t n;
	int err;

	if (wp_h2_headers(&resp->fields, 0, &h, &n))
		return -ENOMEM;
	err = h2_submit_interim(x->s, resp->status, h, n);
	free(h);
	return err;
}

int wp_h2s_body(struct wp_h2s *x, const char *data, size_t len)
{
	char *p;

	if (x->head_req || !len)
		return 0;
	p = buf_reserve(&x->out, len, (size_t)-1);
	if (!p)
		return -ENOMEM;
	memcpy(p, data, len);
	x->out.len += len;
	if (x->out.len >= TRANSPORT_HIGH_WATER)
		x->drain_wanted = true;
	kick(x);
	return 0;
}

int wp_h2s_trailers(struct wp_h2s *x, const struct http_fields *f)
{
	struct h2_header *h;
	size_t n;
	int err;

	if (x->head_req || !f->n)
		return 0;
	if (wp_h2_headers(f, 0, &h, &n))
		return -ENOMEM;
	err = h2_submit_trailers(x->s, h, n);
	free(h);
	return err;
}

int wp_h2s_end(struct wp_h2s *x)
{
	x->out_end = true;
	kick(x);
	return 0;
}

size_t wp_h2s_queued(const struct wp_h2s *x)
{
	return x->out.len;
}

void wp_h2s_pause(struct wp_h2s *x)
{
	x->paused = true;
}

void wp_h2s_resume(struct wp_h2s *x)
{
	x->paused = false;
	if (x->unconsumed) {
		h2_stream_consume(x->s, x->unconsumed);
		x->unconsumed = 0;
	}
}

bool wp_h2s_head_request(const struct wp_h2s *x)
{
	return x->head_req;
}

void wp_h2s_reset(struct wp_h2s *x)
{
	h2_stream_reset(x->s, H2_INTERNAL_ERROR);
}

/* ---- requests ---- */

/* The stream's header block as an HTTP/1.1 request head (RFC 9113 §8.3.1). */
static int to_head(const struct h2_header *h, size_t n, bool end_stream, struct h1_head *head)
{
	const char *m = h2_header_get(h, n, ":method"), *p = h2_header_get(h, n, ":path");
	const char *a = h2_header_get(h, n, ":authority"), *cl;

	if (!m || !p || !strcmp(m, "CONNECT"))
		return -EINVAL;
	head->method = h1_head_strdup(head, m);
	head->target = h1_head_strdup(head, p);
	head->major = 1;
	head->minor = 1;
	head->keep_alive = true;
	if (!head->method || !head->target)
		return -ENOMEM;
	/* :authority is the Host (§8.3.1); a Host field is used only without it. */
	if (a && http_fields_add(&head->fields, "host", a))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (h[i].name[0] != ':' && (!a || strcmp(h[i].name, "host")) &&
		    http_fields_addn(&head->fields, h[i].name, h[i].name_len, h[i].value,
				     h[i].value_len))
			return -ENOMEM;
	cl = http_fields_get(&head->fields, "content-length");
	if (end_stream) {
		head->framing = H1_FRAMING_NONE;
	} else if (cl) {
		char *e;

		head->content_length = strtoull(cl, &e, 10);
		if (*e || e == cl)
			return -EINVAL;
		head->framing = H1_FRAMING_LENGTH;
	} else {
		head->framing = H1_FRAMING_CHUNKED;
	}
	return 0;
}

static void on_request(void *arg, struct h2_stream *s, const struct h2_header *h, size_t n,
		       bool end_stream)
{
	struct wp_h2down *d = arg;
	struct h1_head head = {0};
	struct wp_h2s *x;
	const char *sch;
	int err;

	if (d->draining) {
		h2_stream_reset(s, H2_REFUSED_STREAM);
		return;
	}
	err = to_head(h, n, end_stream, &head);
	if (err) {
		pr_debug("waypoint: refused an HTTP/2 request: %s",
			 err == -EINVAL ? "malformed or CONNECT" : "out of memory");
		h1_head_free(&head);
		h2_stream_reset(s, err == -EINVAL ? H2_PROTOCOL_ERROR : H2_INTERNAL_ERROR);
		return;
	}
	x = calloc(1, sizeof(*x));
	if (!x || transport_peer_copy(&x->conn.peer, &d->peer)) {
		free(x);
		h1_head_free(&head);
		h2_stream_reset(s, H2_INTERNAL_ERROR);
		return;
	}
	x->conn.e = d->e;
	x->conn.h2s = x;
	/* RFC 9113 §8.3.1: a request's :scheme names the scheme of its target; we proxy two. */
	sch = h2_header_get(h, n, ":scheme");
	if (sch && strcmp(sch, "http") && strcmp(sch, "https"))
		x->conn.malformed = "invalid :scheme";
	x->d = d;
	x->s = s;
	x->head_req = !strcmp(head.method, "HEAD");
	h2_stream_bind(s, &stream_ops, x);
	wp_h1_events.on_request(&x->conn, &head);
	h1_head_free(&head);
	/* The body, and its end (also a bodiless request's), come through stream_ops. */
}

static void on_close(void *arg, struct h2_conn *c, const char *reason)
{
	struct wp_h2down *d = arg;
	struct wp_engine *e = d->e;

	pr_debug("waypoint: HTTP/2 connection closed: %s", reason);
	if (d->prev)
		d->prev->next = d->next;
	else
		e->h2downs = d->next;
	if (d->next)
		d->next->prev = d->prev;
	e->n_h2downs--;
	transport_peer_clear(&d->peer);
	free(d);
}

static const struct h2_conn_ops conn_ops = {.on_request = on_request, .on_close = on_close};

int wp_h2_serve(struct wp_engine *e, struct transport *t, const char *pre, size_t len)
{
	struct wp_h2down *d = calloc(1, sizeof(*d));
	struct h2_limits lim;

	if (!d || transport_peer_copy(&d->peer, transport_peer(t))) {
		free(d);
		transport_close(t, true);
		return -ENOMEM;
	}
	d->e = e;
	d->next = e->h2downs;
	if (e->h2downs)
		e->h2downs->prev = d;
	e->h2downs = d;
	e->n_h2downs++;
	/* The HTTP/1.1 downstream's header limits (431 past them either way), no cap of a value. */
	h2_link_limits(&lim, &e->o.hcm.headers);
	d->k = h2_link_new(loop_of(d), t, true, &lim, &conn_ops, d);
	if (!d->k) {
		int err = -errno;

		on_close(d, NULL, "out of memory");
		return err;
	}
	if (e->draining)
		d->draining = true;
	/* On failure the connection closed (on_close freed @d). */
	return len ? h2_link_input(d->k, pre, len) : 0;
}

void wp_h2_drain_all(struct wp_engine *e)
{
	for (struct wp_h2down *d = e->h2downs, *n; d; d = n) {
		struct h2_conn *c = h2_link_conn(d->k);

		n = d->next;
		d->draining = true;
		if (c && h2_conn_streams(c) == 0)
			h2_conn_goaway(c, H2_NO_ERROR);
	}
}

void wp_h2_close_all(struct wp_engine *e)
{
	for (struct wp_h2down *d = e->h2downs, *n; d; d = n) {
		n = d->next;
		h2_link_close(d->k, "waypoint stopping");
	}
}

void wp_h2_sweep(struct wp_engine *e)
{
	for (struct wp_h2down *d = e->h2downs, *n; d; d = n) {
		n = d->next;
		if (h2_link_conn(d->k))
			h2_conn_sweep(h2_link_conn(d->k));
	}
}
