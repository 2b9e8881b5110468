// SPDX-License-Identifier: Apache-2.0
/*
 * HTTP/2 streams and the nghttp2 callbacks that feed them. Invariants: every DATA byte received
 * is eventually returned to the peer's window, by h2_stream_consume, by h2_stream_release for
 * what was never consumed, or at once when no owner takes it; a stream object is freed (after
 * the batch) once its HTTP/2 stream closed and no owner holds it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nghttp2/nghttp2.h>

#include "ambit/log.h"
#include "h2_priv.h"

#define H2_FRAME_HDR 9
#define TLS_RECORD 16384

const char *h2_header_get(const struct h2_header *h, size_t n, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < n; i++)
		if (h[i].name_len == len && memcmp(h[i].name, name, len) == 0)
			return h[i].value;
	return NULL;
}

/* ---- received header blocks ---- */

void h2s_hblock_free(struct h2_hblock *b)
{
	free(b->f);
	buf_free(&b->mem);
	*b = (struct h2_hblock){0};
}

/* @b is over the limits: what it kept goes, its counts stay. */
static void hblock_drop(struct h2_hblock *b)
{
	size_t bytes = b->bytes;
	unsigned int fields = b->fields;

	h2s_hblock_free(b);
	b->bytes = bytes;
	b->fields = fields;
	b->over = true;
}

/* Keeps a field (the limits were checked: they bound the block). False when out of memory. */
static bool hblock_add(struct h2_hblock *b, const uint8_t *name, size_t nlen, const uint8_t *value,
		       size_t vlen)
{
	size_t need = nlen + vlen + 2;
	char *p;

	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 16;
		struct h2_field *f = realloc(b->f, cap * sizeof(*f));

		if (!f)
			return false;
		b->f = f;
		b->cap = cap;
	}
	/* The fields' offsets are 32 bits. */
	p = buf_reserve(&b->mem, need, UINT32_MAX);
	if (!p)
		return false;
	b->f[b->n] = (struct h2_field){(uint32_t)b->mem.len, (uint32_t)nlen,
				       (uint32_t)(b->mem.len + nlen + 1), (uint32_t)vlen};
	memcpy(p, name, nlen);
	p[nlen] = '\0';
	memcpy(p + nlen + 1, value, vlen);
	p[nlen + 1 + vlen] = '\0';
	b->mem.len += need;
	b->n++;
	return true;
}

struct h2_header *h2s_hblock_view(const struct h2_hblock *b)
{
	struct h2_header *h = b->n ? calloc(b->n, sizeof(*h)) : NULL;
	const char *base = h ? buf_head(&b->mem) : NULL;

	for (size_t i = 0; h && i < b->n; i++)
		h[i] = (struct h2_header){base + b->f[i].name, base + b->f[i].value,
					  b->f[i].name_len, b->f[i].value_len};
	return h;
}

/* ---- streams ---- */

static void stream_free(void *p)
{
	struct h2_stream *s = p;

	buf_free(&s->pend);
	h2s_hblock_free(&s->cur);
	h2s_hblock_free(&s->req);
	h2s_hblock_free(&s->tail);
	free(s->trailers);
	free(s);
}

struct h2_stream *h2s_new(struct h2_conn *c)
{
	struct h2_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->conn = c;
	s->loop = c->loop;
	s->id = -1;
	LIST_INSERT_HEAD(&c->streams, s, link);
	c->nstreams++;
	return s;
}

static void stream_unlink(struct h2_stream *s)
{
	struct h2_conn *c = s->conn;

	if (!c)
		return;
	LIST_REMOVE(s, link);
	if (--c->nstreams == 0)
		c->idle_since = loop_now(c->loop);
	s->conn = NULL;
}

/* Frees @s once its HTTP/2 stream is gone and nobody holds it. */
static void stream_maybe_free(struct h2_stream *s)
{
	if (s->freed || !(s->closed || !s->conn) || (s->owned && !s->released))
		return;
	s->freed = true;
	/* What nobody will consume still holds the peer's connection window. */
	if (s->unconsumed && s->conn && !s->conn->dead) {
		nghttp2_session_consume_connection(s->conn->h2, s->unconsumed);
		h2c_kick(s->conn);
	}
	s->unconsumed = 0;
	stream_unlink(s);
	loop_defer_free(s->loop, s, stream_free);
}

/* The HTTP/2 stream of @s is gone: its owner hears of it (last call), then it may go. */
static void stream_closed(struct h2_stream *s, uint32_t error, const char *reason)
{
	if (s->closed)
		return;
	s->closed = true;
	if (s->owned && !s->released && s->ops->on_close)
		s->ops->on_close(s->arg, s, error, reason);
	stream_maybe_free(s);
}

void h2s_close_all(struct h2_conn *c, const char *reason)
{
	struct h2_stream *s = LIST_FIRST(&c->streams), *next;

	/* Cut them all from @c first: owners hear of the close with the connection gone. */
	LIST_INIT(&c->streams);
	c->nstreams = 0;
	for (struct h2_stream *t = s; t; t = LIST_NEXT(t, link))
		t->conn = NULL;
	for (; s; s = next) {
		next = LIST_NEXT(s, link);
		s->unconsumed = 0;
		stream_closed(s, H2_CANCEL, reason);
	}
}

static bool stream_live(const struct h2_stream *s)
{
	return s->conn && !s->conn->dead && !s->closed;
}

static void deliver_headers(struct h2_stream *s, struct h2_hblock *b, bool end)
{
	struct h2_header *h = h2s_hblock_view(b);

	if (h || !b->n)
		s->ops->on_headers(s->arg, s, h, b->n, end);
	else
		h2_stream_reset(s, H2_INTERNAL_ERROR);
	free(h);
	h2s_hblock_free(b);
}

static bool has_owner(const struct h2_stream *s)
{
	return s->owned && !s->released;
}

void h2s_deliver_pending(struct h2_stream *s)
{
	if (s->pend.len && has_owner(s) && !s->closed && s->ops->on_data)
		s->ops->on_data(s->arg, s, (const uint8_t *)buf_head(&s->pend), s->pend.len);
	else if (s->pend.len)
		h2_stream_consume(s, s->pend.len);
	buf_free(&s->pend);
	if (s->tail.n && has_owner(s) && !s->closed && s->ops->on_headers)
		deliver_headers(s, &s->tail, true);
	if (s->end_rcvd && has_owner(s) && !s->closed && s->ops->on_end)
		s->ops->on_end(s->arg, s);
}

/* ---- nghttp2 callbacks ---- */

static struct h2_stream *stream_of(nghttp2_session *session, int32_t id)
{
	return nghttp2_session_get_stream_user_data(session, id);
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
	struct h2_conn *c = user;
	struct h2_stream *s;

	if (c->dead)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (!c->server || frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
		/* A response, 1xx or trailers: each block is weighed on its own. */
		s = stream_of(session, frame->hd.stream_id);
		if (s)
			h2s_hblock_free(&s->cur);
		return 0;
	}
	if (!h2_server_admit(c, frame->hd.stream_id))
		return 0;
	s = h2s_new(c);
	if (!s) {
		nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
					  NGHTTP2_INTERNAL_ERROR);
		return 0;
	}
	s->id = frame->hd.stream_id;
	nghttp2_session_set_stream_user_data(session, s->id, s);
	return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *user)
{
	struct h2_conn *c = user;
	struct h2_stream *s = stream_of(session, frame->hd.stream_id);
	const struct h2_limits *lim = &c->lim;
	struct h2_hblock *b;

	if (c->dead)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (!s || s->closed || frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	b = &s->cur;
	/* Counted as HTTP/1.1 counts a head (http_fields.h): the block is refused at its end. */
	b->bytes += namelen + valuelen;
	if (namelen && name[0] != ':')
		b->fields++;
	if (!b->over && (b->bytes > lim->headers.header_bytes || b->fields > lim->headers.fields ||
			 (lim->max_header_value && valuelen > lim->max_header_value)))
		hblock_drop(b);
	if (b->over)
		return 0;
	if (!hblock_add(b, name, namelen, value, valuelen))
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets just this stream */
	return 0;
}

/* A complete header block of @s. */
static void headers_done(struct h2_conn *c, struct h2_stream *s, const nghttp2_frame *frame)
{
	bool end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
	bool request = c->server && frame->headers.cat == NGHTTP2_HCAT_REQUEST;

	if (s->cur.over) {
		pr_debug("h2: stream %d: a header block over the limits (%zu of %u bytes, %u of %u "
			 "fields, or a value over %u)",
			 s->id, s->cur.bytes, c->lim.headers.header_bytes, s->cur.fields,
			 c->lim.headers.fields, c->lim.max_header_value);
		h2s_hblock_free(&s->cur);
		if (request) {
			h2_server_refuse_headers(c, s, end);
			return;
		}
		/*
		 * A response or trailers: the peer broke what we announced; not for the owner. A
		 * block that ends a stream we finished sending closes it now: no RST_STREAM then.
		 */
		s->pending = false;
		s->over_limits = true;
		if (!end || nghttp2_session_get_stream_local_close(c->h2, s->id) != 1)
			h2_stream_reset(s, H2_PROTOCOL_ERROR);
		return;
	}
	if (request) {
		/* Decided after this read: a reset right behind it finds nothing started. */
		h2s_hblock_free(&s->req);
		s->req = s->cur;
		memset(&s->cur, 0, sizeof(s->cur));
		s->pending = true;
		c->to_decide = true;
		s->end_rcvd = end;
		s->bodiless = end;
		return;
	}
	if (s->pending) {
		/* Trailers of a request not decided yet: delivered with its body. */
		h2s_hblock_free(&s->tail);
		s->tail = s->cur;
		memset(&s->cur, 0, sizeof(s->cur));
		s->end_rcvd = end;
		return;
	}
	if (!has_owner(s) || !s->ops->on_headers) {
		h2s_hblock_free(&s->cur);
		return;
	}
	deliver_headers(s, &s->cur, end);
	if (end && !s->end_rcvd && has_owner(s) && stream_live(s)) {
		s->end_rcvd = true;
		if (s->ops->on_end)
			s->ops->on_end(s->arg, s);
	}
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
	struct h2_conn *c = user;
	struct h2_stream *s;

	if (c->dead)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (frame->hd.type == NGHTTP2_GOAWAY) {
		c->goaway = true;
		c->peer_goaway = frame->goaway.error_code;
		return 0;
	}
	if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK))
		c->peer_settings = true;
	s = frame->hd.stream_id ? stream_of(session, frame->hd.stream_id) : NULL;
	if (!s || s->closed)
		return 0;
	switch (frame->hd.type) {
	case NGHTTP2_RST_STREAM:
		if (c->server)
			h2_server_peer_reset(c, s);
		break;
	case NGHTTP2_HEADERS: headers_done(c, s, frame); break;
	case NGHTTP2_DATA:
		if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
			break;
		if (s->pending) {
			s->end_rcvd = true;
		} else if (has_owner(s) && !s->end_rcvd) {
			s->end_rcvd = true;
			if (s->ops->on_end)
				s->ops->on_end(s->arg, s);
		}
		break;
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *user)
{
	struct h2_conn *c = user;
	struct h2_stream *s = stream_of(session, id);
	char *p;

	if (c->dead)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (s && !s->closed && s->pending) {
		/* The window bounds what the peer may send; the slack tolerates a late SETTINGS. */
		p = buf_reserve(&s->pend, len, c->lim.stream_window + (64u << 10));
		if (!p) {
			nghttp2_session_consume(session, id, len);
			h2_stream_reset(s, H2_INTERNAL_ERROR);
			return 0;
		}
		memcpy(p, data, len);
		s->pend.len += len;
		s->unconsumed += len;
		return 0;
	}
	if (!s || s->closed || !has_owner(s) || !s->ops->on_data) {
		/* Nobody takes it: the window opens at once. */
		nghttp2_session_consume(session, id, len);
		h2c_kick(c);
		return 0;
	}
	s->unconsumed += len;
	s->ops->on_data(s->arg, s, data, len);
	return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t id, uint32_t error_code, void *user)
{
	struct h2_stream *s = stream_of(session, id);

	if (!s)
		return 0;
	nghttp2_session_set_stream_user_data(session, id, NULL);
	/* Its block may have ended the stream cleanly: the owner still hears why it failed. */
	if (s->over_limits)
		stream_closed(s, H2_PROTOCOL_ERROR, "header block over the limits");
	else
		stream_closed(s, error_code, error_code ? "stream reset" : "closed");
	return 0;
}

/* DATA payload so that the 9-byte frame header and the payload fill exactly one TLS record. */
static ssize_t data_length(nghttp2_session *session, uint8_t type, int32_t id, int32_t conn_win,
			   int32_t stream_win, uint32_t max_frame, void *user)
{
	ssize_t n = TLS_RECORD - H2_FRAME_HDR;

	if (conn_win < n)
		n = conn_win;
	if (stream_win < n)
		n = stream_win;
	if ((ssize_t)max_frame < n)
		n = (ssize_t)max_frame;
	return n > 0 ? n : 1;
}

/*
 * nghttp2 refused a frame: a stream over the announced SETTINGS value before its ACK, or a
 * malformed request. Its stream may never have been opened, yet the client may go on with it.
 */
static int on_invalid_frame(nghttp2_session *session, const nghttp2_frame *frame, int error,
			    void *user)
{
	struct h2_conn *c = user;

	if (!c->server)
		return 0;
	if (c->guarded && error == NGHTTP2_ERR_REFUSED_STREAM)
		guard_count_stream_refusal(GUARD_S_PER_CONNECTION);
	if (frame->hd.type == NGHTTP2_HEADERS)
		h2_server_reset_sent(c, frame->hd.stream_id);
	return 0;
}

/* A frame header came: a server checks a HEADERS' stream id, which nghttp2 would let pass. */
static int on_begin_frame(nghttp2_session *session, const nghttp2_frame_hd *hd, void *user)
{
	struct h2_conn *c = user;

	if (c->dead)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	/* When it is not, the session ignores all that follows: the GOAWAY goes out, then close. */
	if (c->server && hd->type == NGHTTP2_HEADERS)
		h2_server_stream_id_ok(c, hd->stream_id);
	return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
	struct h2_conn *c = user;
	struct h2_stream *s;

	if (c->dead || !c->server)
		return 0;
	if (frame->hd.type == NGHTTP2_RST_STREAM) {
		h2_server_reset_sent(c, frame->hd.stream_id);
		return 0;
	}
	if (frame->hd.type != NGHTTP2_HEADERS || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	s = stream_of(session, frame->hd.stream_id);
	if (!s || !s->reset_after)
		return 0;
	/*
	 * A complete response to a request still sending: it may stop (RFC 9113 §8.1). Only now,
	 * as a RST_STREAM queued before would have dropped the response.
	 */
	s->reset_after = false;
	if (!nghttp2_session_get_stream_remote_close(session, s->id))
		h2_stream_reset(s, H2_NO_ERROR);
	return 0;
}

nghttp2_session_callbacks *h2s_callbacks_new(void)
{
	nghttp2_session_callbacks *cbs;

	if (nghttp2_session_callbacks_new(&cbs))
		return NULL;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	nghttp2_session_callbacks_set_data_source_read_length_callback(cbs, data_length);
	nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, on_invalid_frame);
	nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, on_begin_frame);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
	return cbs;
}

/* ---- sending ---- */

void h2s_to_nv(nghttp2_nv *nv, const struct h2_header *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		nv[i] = (nghttp2_nv){(uint8_t *)h[i].name, (uint8_t *)h[i].value, h[i].name_len,
				     h[i].value_len, NGHTTP2_NV_FLAG_NONE};
}

ssize_t h2s_provide(nghttp2_session *session, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
		    nghttp2_data_source *src, void *user)
{
	struct h2_stream *s = src->ptr;
	bool eof = false, drained;
	ssize_t n;

	s->drained = false;
	/* A stream on its way out (reset, or its owner gone) sends nothing more. */
	if (!has_owner(s) || !s->ops->provide || s->reset_sent) {
		s->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	n = s->ops->provide(s->arg, s, buf, len, &eof);
	/* A drained source's hint holds only with bytes sent and no EOF. */
	drained = s->drained;
	s->drained = false;
	if (n < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
	if (s->released || s->reset_sent) {
		s->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	if (!n && !eof) {
		s->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	s->drained = drained && !eof;
	if (eof) {
		s->body_done = true;
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (s->trailers) {
			/* The trailers end the stream instead of this DATA. */
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			if (nghttp2_submit_trailer(session, id, s->trailers, s->ntrailers))
				return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
			free(s->trailers);
			s->trailers = NULL;
		}
	}
	return n;
}

/* @h plus @extra entries at the front, as one allocation. NULL when out of memory. */
static nghttp2_nv *nv_alloc(const struct h2_header *h, size_t n, size_t extra)
{
	nghttp2_nv *nv = calloc(n + extra ? n + extra : 1, sizeof(*nv));

	if (nv)
		h2s_to_nv(nv + extra, h, n);
	return nv;
}

struct h2_stream *h2_submit_request(struct h2_conn *c, const struct h2_header *h, size_t n,
				    bool has_body, const struct h2_stream_ops *ops, void *arg)
{
	nghttp2_data_provider prd = {.read_callback = h2s_provide};
	nghttp2_nv *nv;
	struct h2_stream *s;
	int32_t id;

	if (c->dead || c->goaway || c->server) {
		errno = c->server ? EINVAL : EPIPE;
		return NULL;
	}
	nv = nv_alloc(h, n, 0);
	s = nv ? h2s_new(c) : NULL;
	if (!s) {
		free(nv);
		errno = ENOMEM;
		return NULL;
	}
	s->owned = true;
	s->ops = ops;
	s->arg = arg;
	s->has_body = has_body;
	prd.source.ptr = s;
	id = nghttp2_submit_request(c->h2, NULL, nv, n, has_body ? &prd : NULL, s);
	free(nv);
	if (id < 0) {
		pr_debug("h2: request not submitted: %s", nghttp2_strerror(id));
		stream_unlink(s);
		stream_free(s);
		errno = id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE ? EAGAIN : ENOMEM;
		return NULL;
	}
	s->id = id;
	h2c_kick(c);
	return s;
}

int h2_submit_response(struct h2_stream *s, int status, const struct h2_header *h, size_t n,
		       bool has_body)
{
	nghttp2_data_provider prd = {.source.ptr = s, .read_callback = h2s_provide};
	char code[8];
	nghttp2_nv *nv;
	int rv;

	if (!stream_live(s) || !s->conn->server || s->answered)
		return -EINVAL;
	if (has_body && !has_owner(s))
		return -EINVAL;
	if (status < 100 || status > 599)
		status = 500;
	nv = nv_alloc(h, n, 1);
	if (!nv)
		return -ENOMEM;
	snprintf(code, sizeof(code), "%d", status);
	nv[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)code, 7, 3, NGHTTP2_NV_FLAG_NONE};
	s->answered = true;
	s->has_body = has_body;
	rv = nghttp2_submit_response(s->conn->h2, s->id, nv, n + 1, has_body ? &prd : NULL);
	free(nv);
	h2c_kick(s->conn);
	return rv ? -ENOMEM : 0;
}

int h2_submit_interim(struct h2_stream *s, int status, const struct h2_header *h, size_t n)
{
	char code[8];
	nghttp2_nv *nv;
	int rv;

	if (!stream_live(s) || !s->conn->server || s->answered || status < 100 || status > 199 ||
	    status == 101)
		return -EINVAL;
	nv = nv_alloc(h, n, 1);
	if (!nv)
		return -ENOMEM;
	snprintf(code, sizeof(code), "%d", status);
	nv[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)code, 7, 3, NGHTTP2_NV_FLAG_NONE};
	rv = nghttp2_submit_headers(s->conn->h2, NGHTTP2_FLAG_NONE, s->id, NULL, nv, n + 1, NULL);
	free(nv);
	h2c_kick(s->conn);
	return rv < 0 ? -ENOMEM : 0;
}

int h2_submit_trailers(struct h2_stream *s, const struct h2_header *h, size_t n)
{
	nghttp2_nv *nv;
	size_t bytes = 0;
	char *p;

	if (!stream_live(s) || !s->has_body || s->body_done || s->trailers || !n)
		return -EINVAL;
	/* Kept until the body ends (nghttp2 copies them then): names and values copied too. */
	for (size_t i = 0; i < n; i++)
		bytes += h[i].name_len + h[i].value_len;
	nv = malloc(n * sizeof(*nv) + bytes);
	if (!nv)
		return -ENOMEM;
	p = (char *)(nv + n);
	for (size_t i = 0; i < n; i++) {
		nv[i] = (nghttp2_nv){(uint8_t *)p, (uint8_t *)p + h[i].name_len, h[i].name_len,
				     h[i].value_len, NGHTTP2_NV_FLAG_NONE};
		memcpy(p, h[i].name, h[i].name_len);
		memcpy(p + h[i].name_len, h[i].value, h[i].value_len);
		p += h[i].name_len + h[i].value_len;
	}
	s->trailers = nv;
	s->ntrailers = n;
	return 0;
}

void h2_stream_bind(struct h2_stream *s, const struct h2_stream_ops *ops, void *arg)
{
	s->ops = ops;
	s->arg = arg;
	s->owned = true;
}

void h2_stream_consume(struct h2_stream *s, size_t n)
{
	if (n > s->unconsumed)
		n = s->unconsumed;
	if (!n)
		return;
	s->unconsumed -= n;
	if (s->conn && !s->conn->dead) {
		/* The stream's window too while it is open; the connection's in any case. */
		nghttp2_session_consume(s->conn->h2, s->id, n);
		/*
		 * A flush only when the consumption queued a WINDOW_UPDATE (past half the window):
		 * a flush per small message that had nothing to send cost a round of the session.
		 */
		if (h2c_has_output(s->conn))
			h2c_kick(s->conn);
	}
}

void h2_stream_resume(struct h2_stream *s)
{
	if (s->drained && stream_live(s)) {
		/* Still scheduled in the session: its next send round asks the source again. */
		s->drained = false;
		h2c_kick(s->conn);
		return;
	}
	if (!s->deferred || !stream_live(s))
		return;
	s->deferred = false;
	nghttp2_session_resume_data(s->conn->h2, s->id);
	h2c_kick(s->conn);
}

void h2_stream_drained(struct h2_stream *s)
{
	s->drained = true;
}

void h2_stream_reset(struct h2_stream *s, uint32_t code)
{
	if (s->reset_sent || !stream_live(s))
		return;
	s->reset_sent = true;
	s->answered = true;
	nghttp2_submit_rst_stream(s->conn->h2, NGHTTP2_FLAG_NONE, s->id, code);
	h2c_kick(s->conn);
}

void h2_stream_release(struct h2_stream *s)
{
	if (!s || s->released)
		return;
	s->released = true;
	if (stream_live(s)) {
		h2_stream_reset(s, H2_CANCEL);
		if (s->unconsumed)
			nghttp2_session_consume(s->conn->h2, s->id, s->unconsumed);
		s->unconsumed = 0;
	}
	stream_maybe_free(s);
}

int32_t h2_stream_id(const struct h2_stream *s)
{
	return s->id;
}

void *h2_stream_arg(const struct h2_stream *s)
{
	return s->arg;
}

struct h2_conn *h2_stream_conn(const struct h2_stream *s)
{
	return s->conn && !s->conn->dead ? s->conn : NULL;
}
