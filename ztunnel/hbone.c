// SPDX-License-Identifier: Apache-2.0
/*
 * HBONE connections and streams over nghttp2 (memory I/O: nghttp2 never touches sockets, TLS
 * does). Invariants: a stream object lives until both its HTTP/2 stream is closed and its TCP
 * side is finished; every DATA byte received is eventually returned to the peer's window, by
 * nghttp2_session_consume once written to TCP or immediately when the stream is gone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <nghttp2/nghttp2.h>

#include "ambit/log.h"
#include "buf.h"
#include "connrec.h"
#include "hbone.h"
#include "hbone_priv.h"

#define TLS_OUT_CHUNK (64u << 10)
#define TLS_IN_CHUNK (64u << 10)
#define TLS_RECORD 16384 /* TLS 1.3 maximum plaintext per record */
#define H2_FRAME_HDR 9
#define HDR_MAX 512

void hb_close_reset(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	/* Linger 0 turns close() into a RST so the application sees the failure as a reset. */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* ---- streams ---- */

static void stream_free(void *p)
{
	struct hbone_stream *s = p;

	buf_free(&s->to_h2);
	buf_free(&s->to_tcp);
	free(s->authority);
	free(s->forwarded);
	free(s);
}

void hb_stream_finish(struct hbone_stream *s, const char *reason, bool reset)
{
	struct hbone_conn *c = s->conn;
	const struct hbone_open_ops *ops = NULL;
	bool retryable = false;
	int back = -1;

	if (s->finished)
		return;
	s->finished = true;
	/*
	 * Never established: the client socket was never read, so its owner may try again
	 * elsewhere. Only a policy refusal (401) or shutdown make the failure final.
	 */
	if (s->ops && !s->established && s->fd >= 0 && c && c->loop) {
		ops = s->ops;
		retryable = s->status != 401 && !(c->pool && c->pool->closing);
		loop_del(c->loop, s->fd);
		back = s->fd;
		s->fd = -1;
	}
	s->h.dead = true;
	if (c) {
		if (s->prev)
			s->prev->next = s->next;
		else
			c->streams = s->next;
		if (s->next)
			s->next->prev = s->prev;
		if (--c->nstreams == 0)
			c->idle_since = mono_now();
		if (!s->h2_closed && c->h2)
			nghttp2_session_set_stream_user_data(c->h2, s->id, NULL);
		/* Bytes we will never write still occupy the peer's connection window. */
		if (s->to_tcp.len && c->h2)
			nghttp2_session_consume_connection(c->h2, s->to_tcp.len);
	}
	if (s->fd >= 0) {
		if (c && c->loop)
			loop_del(c->loop, s->fd);
		if (reset)
			hb_close_reset(s->fd);
		else
			close(s->fd);
		s->fd = -1;
	}
	connrec_close(s->rec, reason);
	s->rec = NULL;
	guard_stream_release(&s->gs);
	guard_release(&s->slot);
	if (ops)
		ops->failed(s->ops_arg, back, s->status, reason, retryable);
	if (c && c->loop)
		loop_defer_free(c->loop, s, stream_free);
	else
		stream_free(s);
}

/* TCP side failed or must be dropped: reset both sides. */
void hb_stream_abort(struct hbone_stream *s, const char *reason)
{
	struct hbone_conn *c = s->conn;

	if (!s->h2_closed && c && c->h2) {
		nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CONNECT_ERROR);
		conn_kick(c);
	}
	hb_stream_finish(s, reason, true);
}

static void stream_update_events(struct hbone_stream *s)
{
	uint32_t ev = 0;

	if (s->fd < 0 || s->finished || !s->conn || !s->conn->loop)
		return;
	if (s->connecting)
		ev = EPOLLOUT;
	else if (s->established) {
		if (!s->tcp_eof && s->to_h2.len < HBONE_TCP_BUF)
			ev |= EPOLLIN;
		if (s->to_tcp.len)
			ev |= EPOLLOUT;
	}
	if (ev != s->events && loop_mod(s->conn->loop, s->fd, ev, &s->h) == 0)
		s->events = ev;
}

static void stream_check_done(struct hbone_stream *s)
{
	if (s->finished)
		return;
	if (s->h2_closed && s->tcp_shut && !s->to_tcp.len && s->tcp_eof)
		hb_stream_finish(s, "eof", false);
}

void hb_stream_write_tcp(struct hbone_stream *s)
{
	struct hbone_conn *c = s->conn;

	if (!s->established || s->fd < 0)
		return;
	while (s->to_tcp.len) {
		ssize_t n = send(s->fd, buf_head(&s->to_tcp), s->to_tcp.len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			hb_stream_abort(s, "tcp write failed");
			return;
		}
		buf_consume(&s->to_tcp, (size_t)n);
		s->last_io = loop_now(c->loop);
		connrec_bytes(s->rec, !c->client, (size_t)n);
		/* The window opens only now that the bytes left our buffer (backpressure). */
		if (!s->h2_closed)
			nghttp2_session_consume(c->h2, s->id, (size_t)n);
		else
			nghttp2_session_consume_connection(c->h2, (size_t)n);
		conn_kick(c);
	}
	if (!s->to_tcp.len && s->h2_eof_rcvd && !s->tcp_shut) {
		shutdown(s->fd, SHUT_WR);
		s->tcp_shut = true;
	}
	stream_update_events(s);
	stream_check_done(s);
}

static void stream_read_tcp(struct hbone_stream *s)
{
	while (!s->tcp_eof && s->to_h2.len < HBONE_TCP_BUF) {
		/* As splice.c: the buffer grows only while reads fill it (buf_read_fd). */
		ssize_t n = buf_read_fd(&s->to_h2, s->fd, HBONE_TCP_BUF);

		if (n == -EAGAIN)
			break;
		if (n < 0) {
			hb_stream_abort(s, n == -ENOMEM	      ? "out of memory"
					   : n == -ECONNRESET ? "tcp reset"
							      : "tcp read failed");
			return;
		}
		if (n == 0) {
			s->tcp_eof = true;
			break;
		}
		s->last_io = loop_now(s->conn->loop);
		connrec_bytes(s->rec, s->conn->client, (size_t)n);
	}
	if (s->deferred && (s->to_h2.len || s->tcp_eof)) {
		s->deferred = false;
		nghttp2_session_resume_data(s->conn->h2, s->id);
	}
	conn_kick(s->conn);
	stream_update_events(s);
}

ssize_t hb_stream_provide(nghttp2_session *session, int32_t id, uint8_t *out, size_t length,
			  uint32_t *flags, nghttp2_data_source *source, void *user)
{
	struct hbone_stream *s = source->ptr;
	size_t n = s->to_h2.len < length ? s->to_h2.len : length;
	bool was_full = s->to_h2.len >= HBONE_TCP_BUF;

	if (n) {
		memcpy(out, buf_head(&s->to_h2), n);
		buf_consume(&s->to_h2, n);
	}
	if (!s->to_h2.len && s->tcp_eof) {
		/* TCP half-close becomes END_STREAM; the other direction stays open. */
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	} else if (!n) {
		s->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	if (was_full)
		stream_update_events(s);
	return (ssize_t)n;
}

static void stream_on_io(struct loop_handler *h, uint32_t events)
{
	struct hbone_stream *s = container_of(h, struct hbone_stream, h);
	struct hbone_conn *c = s->conn;

	if (s->connecting) {
		hb_server_connected(s, events);
		if (!s->finished && !s->connecting && s->fd >= 0)
			stream_update_events(s);
		return;
	}
	if (events & EPOLLERR) {
		hb_stream_abort(s, "tcp error");
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP))
		stream_read_tcp(s);
	if (!s->finished && (events & EPOLLOUT))
		hb_stream_write_tcp(s);
	if (!s->finished && (events & EPOLLHUP) && !s->tcp_shut) {
		hb_stream_abort(s, "tcp hangup");
		return;
	}
	/* Both TCP directions are finished: stop polling a socket that reports HUP forever. */
	if (!s->finished && (events & EPOLLHUP) && s->events) {
		loop_mod(c->loop, s->fd, 0, &s->h);
		s->events = 0;
	}
}

struct hbone_stream *hb_stream_new(struct hbone_conn *c, int fd)
{
	struct hbone_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->h.fn = stream_on_io;
	s->conn = c;
	s->fd = fd;
	s->id = -1;
	s->next = c->streams;
	if (c->streams)
		c->streams->prev = s;
	c->streams = s;
	c->nstreams++;
	return s;
}

/* ---- nghttp2 callbacks ---- */

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
	struct hbone_conn *c = user;
	struct hbone_stream *s;

	if (c->client || frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	c->ever_stream = true;
	/*
	 * nghttp2 refuses streams over the SETTINGS value it announced; ours also counts streams
	 * whose HTTP/2 side closed while their TCP side still drains, since those hold a socket.
	 */
	if (c->nstreams >= hb_limits(c)->max_streams) {
		guard_count_stream_refusal(GUARD_S_PER_CONNECTION);
		nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
					  NGHTTP2_REFUSED_STREAM);
		return 0;
	}
	s = hb_stream_new(c, -1);
	if (!s) {
		nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
					  NGHTTP2_INTERNAL_ERROR);
		return 0;
	}
	s->id = frame->hd.stream_id;
	nghttp2_session_set_stream_user_data(session, s->id, s);
	return 0;
}

static bool hdr_is(const uint8_t *name, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(name, want, len) == 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *user)
{
	struct hbone_conn *c = user;
	struct hbone_stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);

	if (!s || frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (c->client) {
		if (hdr_is(name, namelen, ":status") && valuelen == 3)
			s->status =
			    (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
		return 0;
	}
	if (valuelen > HDR_MAX)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets just this stream */
	if (hdr_is(name, namelen, ":method"))
		s->method_connect = hdr_is(value, valuelen, "CONNECT");
	else if (hdr_is(name, namelen, ":authority") && !s->authority)
		s->authority = strndup((const char *)value, valuelen);
	else if (hdr_is(name, namelen, "forwarded") && !s->forwarded)
		s->forwarded = strndup((const char *)value, valuelen);
	return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
	struct hbone_conn *c = user;
	struct hbone_stream *s;

	if (frame->hd.type == NGHTTP2_GOAWAY) {
		c->goaway = true;
		return 0;
	}
	s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (!s || s->finished)
		return 0;
	if (frame->hd.type == NGHTTP2_RST_STREAM && !c->client) {
		hb_server_peer_reset(c, s);
		return 0;
	}
	if (frame->hd.type == NGHTTP2_HEADERS && !c->client &&
	    frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
		hb_server_request(c, s);
	} else if (frame->hd.type == NGHTTP2_HEADERS && c->client &&
		   frame->headers.cat == NGHTTP2_HCAT_RESPONSE && !s->established) {
		if (s->status != 200) {
			char why[48];

			/* With an owner that may retry, it reports the final outcome. */
			if (s->ops)
				pr_debug("hbone: CONNECT %s answered %d by %s", s->authority,
					 s->status, c->peer_identity ? c->peer_identity : "?");
			else
				pr_info("hbone: CONNECT %d from %s", s->status,
					c->peer_identity ? c->peer_identity : "?");
			snprintf(why, sizeof(why), "%s (CONNECT %d)",
				 s->status == 401 ? "denied" : "upstream refused", s->status);
			nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, s->id,
						  NGHTTP2_CANCEL);
			hb_stream_finish(s, why, true);
			return 0;
		}
		/* From here on the stream owns the connection, its record and its slot. */
		if (s->ops) {
			s->rec = s->ops->established(s->ops_arg, &s->slot);
			s->ops = NULL;
		}
		s->established = true;
		s->last_io = loop_now(c->loop);
		stream_update_events(s);
		if (s->deferred) {
			s->deferred = false;
			nghttp2_session_resume_data(session, s->id);
		}
	}
	if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
	    (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && !s->finished) {
		s->h2_eof_rcvd = true;
		hb_stream_write_tcp(s);
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *user)
{
	struct hbone_stream *s = nghttp2_session_get_stream_user_data(session, id);
	char *p;

	if (!s || s->finished || (s->fd < 0 && !s->connecting && !s->dispatch_pending)) {
		nghttp2_session_consume(session, id, len);
		return 0;
	}
	/* Nothing queued before it: straight to the socket, buffering only what it refuses. */
	if (!s->to_tcp.len && s->established && s->fd >= 0) {
		ssize_t n = send(s->fd, data, len, MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			nghttp2_session_consume(session, id, len);
			hb_stream_abort(s, "tcp write failed");
			return 0;
		}
		if (n > 0) {
			s->last_io = loop_now(s->conn->loop);
			connrec_bytes(s->rec, !s->conn->client, (size_t)n);
			/* The window opens only now that the bytes left us (backpressure). */
			nghttp2_session_consume(session, id, (size_t)n);
			conn_kick(s->conn);
			data += n;
			len -= (size_t)n;
		}
		if (!len)
			return 0;
	}
	/* The window bounds what the peer may send; the slack tolerates a late SETTINGS. */
	p = buf_reserve(&s->to_tcp, len, HBONE_STREAM_WINDOW + (64u << 10));
	if (!p) {
		nghttp2_session_consume(session, id, len);
		hb_stream_abort(s, "receive buffer overflow");
		return 0;
	}
	memcpy(p, data, len);
	s->to_tcp.len += len;
	hb_stream_write_tcp(s);
	return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t id, uint32_t error_code, void *user)
{
	struct hbone_stream *s = nghttp2_session_get_stream_user_data(session, id);

	if (!s || s->finished)
		return 0;
	s->h2_closed = true;
	if (error_code != NGHTTP2_NO_ERROR || !s->established || s->fd < 0) {
		hb_stream_finish(s, error_code ? "stream reset" : "closed", error_code != 0);
		return 0;
	}
	hb_stream_write_tcp(s);
	stream_check_done(s);
	return 0;
}

/*
 * DATA payload so that the 9-byte frame header and the payload fill exactly one 16 KiB TLS
 * record: 16,384 of payload would make every frame two records, one of them 9 bytes.
 */
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

/* nghttp2 refused a stream itself (over the announced SETTINGS value, before its ACK). */
static int on_invalid_frame(nghttp2_session *session, const nghttp2_frame *frame, int error,
			    void *user)
{
	struct hbone_conn *c = user;

	if (!c->client && error == NGHTTP2_ERR_REFUSED_STREAM)
		guard_count_stream_refusal(GUARD_S_PER_CONNECTION);
	return 0;
}

static nghttp2_session_callbacks *callbacks_new(void)
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
	return cbs;
}

static const struct hbone_limits default_limits = {
    .handshake_s = 10,
    .first_request_s = 10,
    .idle_s = 120,
    .connect_s = 10,
    .stream_idle_s = 3600,
    .max_streams = HBONE_MAX_STREAMS,
    .max_early_resets = 100,
};

void hbone_limits_default(struct hbone_limits *lim)
{
	*lim = default_limits;
}

const struct hbone_limits *hb_limits(const struct hbone_conn *c)
{
	return c->pool ? &c->pool->lim : &default_limits;
}

int hb_session_init(struct hbone_conn *c)
{
	/* A client announces the library's default; it accepts no streams from the server. */
	nghttp2_settings_entry iv[] = {
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
	     c->client ? HBONE_MAX_STREAMS : hb_limits(c)->max_streams},
	    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, HBONE_STREAM_WINDOW},
	};
	nghttp2_session_callbacks *cbs = callbacks_new();
	nghttp2_option *opt = NULL;
	int rv = -ENOMEM;

	if (!cbs || nghttp2_option_new(&opt))
		goto out;
	/* Flow control is ours: the window reopens only as bytes reach the TCP side. */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	if (c->client)
		rv = nghttp2_session_client_new2(&c->h2, cbs, c, opt);
	else
		rv = nghttp2_session_server_new2(&c->h2, cbs, c, opt);
	if (rv) {
		rv = -ENOMEM;
		goto out;
	}
	rv = -ENOMEM;
	if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 2) ||
	    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, HBONE_CONN_WINDOW))
		goto out;
	rv = 0;
out:
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	return rv;
}

/* ---- connections ---- */

void hb_conn_free(void *p)
{
	struct hbone_conn *c = p;

	if (c->tfd >= 0)
		close(c->tfd);
	nghttp2_session_del(c->h2);
	tls_conn_destroy(c->tls);
	tls_ctx_put(c->ctx);
	buf_free(&c->out);
	free(c->key);
	free(c);
}

/* The opening phase is over (or the connection is): no more deadline. */
static void conn_timer_stop(struct hbone_conn *c)
{
	if (c->tfd < 0)
		return;
	c->th.dead = true;
	loop_del(c->loop, c->tfd);
	close(c->tfd);
	c->tfd = -1;
}

void hb_conn_timer_arm(struct hbone_conn *c, unsigned int ms)
{
	struct itimerspec its = {
	    .it_value = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000}};

	if (c->tfd >= 0)
		timerfd_settime(c->tfd, 0, &its, NULL);
}

void hb_conn_close(struct hbone_conn *c, const char *reason)
{
	if (c->dead)
		return;
	c->dead = true;
	c->h.dead = true;
	if (reason)
		pr_debug("hbone: connection %s closed: %s", c->key ? c->key : "(server)", reason);
	while (c->streams) {
		struct hbone_stream *s = c->streams;

		s->h2_closed = true;
		hb_stream_finish(s, reason ? reason : "connection closed", true);
	}
	if (c->pool) {
		if (c->pprev)
			c->pprev->pnext = c->pnext;
		else
			c->pool->conns = c->pnext;
		if (c->pnext)
			c->pnext->pprev = c->pprev;
		c->pool->n--;
		c->pool = NULL;
	}
	if (c->fd >= 0) {
		loop_del(c->loop, c->fd);
		close(c->fd);
		c->fd = -1;
	}
	guard_release(&c->slot);
	conn_timer_stop(c);
	loop_defer_free(c->loop, c, hb_conn_free);
}

void hb_conn_goaway(struct hbone_conn *c, uint32_t error)
{
	if (c->dead || !c->h2)
		return;
	/* Terminating: no stream after the last one processed; closed once the frame is out. */
	c->goaway = true;
	nghttp2_session_terminate_session(c->h2, error);
	conn_kick(c);
}

static void conn_update_events(struct hbone_conn *c)
{
	uint32_t ev = EPOLLIN;

	if (c->dead)
		return;
	/* Told to calm down: what it sends is not read any more (GOAWAY goes out, then close). */
	if (c->calm)
		ev = 0;
	if (c->tcp_connecting || c->out.len || (c->tls && tls_conn_want_write(c->tls)))
		ev |= EPOLLOUT;
	if (ev != c->events && loop_mod(c->loop, c->fd, ev, &c->h) == 0)
		c->events = ev;
}

static void conn_flush(struct hbone_conn *c)
{
	if (c->dead || !c->handshaken)
		return;
	for (;;) {
		/* Coalesce frames so TLS writes full 16 KiB records instead of one per frame. */
		while (c->out.len < TLS_OUT_CHUNK) {
			const uint8_t *data;
			ssize_t n = nghttp2_session_mem_send(c->h2, &data);
			char *p;

			if (n < 0) {
				hb_conn_close(c, nghttp2_strerror((int)n));
				return;
			}
			if (n == 0)
				break;
			if (!c->out.len && n >= TLS_RECORD) {
				/* A whole-record DATA frame: encrypted from nghttp2's buffer, no
				 * copy. */
				ssize_t w = tls_conn_write(c->tls, data, (size_t)n);

				if (w < 0 && w != -EAGAIN) {
					hb_conn_close(c, tls_conn_error(c->tls));
					return;
				}
				if (w == n)
					continue;
				/* The rest waits in out (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). */
				if (w > 0) {
					data += w;
					n -= w;
				}
			}
			p = buf_reserve(&c->out, (size_t)n, 4 * TLS_OUT_CHUNK);
			if (!p) {
				hb_conn_close(c, "out of memory");
				return;
			}
			memcpy(p, data, (size_t)n);
			c->out.len += (size_t)n;
		}
		if (c->dead)
			return;
		if (!c->out.len)
			break;
		ssize_t w = tls_conn_write(c->tls, buf_head(&c->out), c->out.len);

		if (w == -EAGAIN)
			break;
		if (w < 0) {
			hb_conn_close(c, tls_conn_error(c->tls));
			return;
		}
		buf_consume(&c->out, (size_t)w);
	}
	/* The records of this round leave together (tls.c buffers them). */
	if (tls_conn_flush(c->tls) == -EPIPE) {
		hb_conn_close(c, tls_conn_error(c->tls));
		return;
	}
	if (!c->out.len && !tls_conn_want_write(c->tls) && !nghttp2_session_want_read(c->h2) &&
	    !nghttp2_session_want_write(c->h2)) {
		hb_conn_close(c, "session ended");
		return;
	}
	conn_update_events(c);
}

static void conn_flush_task(struct loop_task *t)
{
	conn_flush(container_of(t, struct hbone_conn, flush));
}

static void conn_read(struct hbone_conn *c)
{
	uint8_t in[TLS_IN_CHUNK];

	for (;;) {
		ssize_t n = tls_conn_read(c->tls, in, sizeof(in)), rv;

		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			hb_conn_close(c, n == 0 ? "peer closed" : tls_conn_error(c->tls));
			return;
		}
		rv = nghttp2_session_mem_recv(c->h2, in, (size_t)n);
		if (rv < 0) {
			hb_conn_close(c, nghttp2_strerror((int)rv));
			return;
		}
		if (c->dead)
			return;
		if (!c->client) {
			/* The requests of this read, minus those it also reset (hbone_server.c). */
			hb_server_dispatch(c);
			if (c->dead || c->calm)
				return;
		}
		/* Nothing buffered and the socket drained: skip the read that would say EAGAIN. */
		if (tls_conn_read_drained(c->tls))
			break;
	}
}

static void conn_on_io(struct loop_handler *h, uint32_t events)
{
	struct hbone_conn *c = container_of(h, struct hbone_conn, h);
	int rv;

	if (c->tcp_connecting) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr) {
			hb_conn_close(c, strerror(soerr));
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		c->tcp_connecting = false;
		/* A peer answered: the handshake gets its own, more generous, deadline. */
		hb_conn_timer_arm(c, HBONE_HANDSHAKE_TIMEOUT_MS);
	}
	if (!c->tls) {
		/*
		 * A server's TLS state is made when the peer first sends: until then an accepted
		 * connection costs its socket and this struct (idle floods of 20,000 connections
		 * held 38 KB each).
		 */
		c->tls = tls_conn_create(c->ctx, c->fd, NULL);
		if (!c->tls) {
			hb_conn_close(c, "out of memory");
			return;
		}
	}
	if (!c->handshaken) {
		rv = tls_conn_handshake(c->tls);
		if (rv == -EAGAIN) {
			conn_update_events(c);
			return;
		}
		if (rv) {
			/* Each stream's owner (or its access log line) reports it as final. */
			pr_debug("hbone: TLS with %s:%u failed: %s", inet_ntoa(c->peer.sin_addr),
				 ntohs(c->peer.sin_port), tls_conn_error(c->tls));
			hb_conn_close(c, tls_conn_error(c->tls));
			return;
		}
		c->handshaken = true;
		c->peer_identity = tls_conn_peer_identity(c->tls);
		if (c->client) {
			conn_timer_stop(c);
		} else if (hb_server_handshaken(c)) {
			hb_conn_close(c, "out of memory");
			return;
		}
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->calm)
		conn_read(c);
	if (!c->dead)
		conn_flush(c);
}

static void conn_on_timer(struct loop_handler *h, uint32_t events)
{
	struct hbone_conn *c = container_of(h, struct hbone_conn, th);

	pr_debug("hbone: %s:%u: %s timed out", inet_ntoa(c->peer.sin_addr), ntohs(c->peer.sin_port),
		 c->tcp_connecting ? "connect" : "TLS handshake");
	hb_conn_close(c, c->tcp_connecting ? "connect timed out" : "TLS handshake timed out");
}

struct hbone_conn *hb_conn_new(struct loop *l, int fd, struct tls_ctx *ctx, bool client,
			       const char *expect_san)
{
	struct hbone_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->tfd = -1;
	c->th.fn = conn_on_timer;
	c->h.fn = conn_on_io;
	c->flush.fn = conn_flush_task;
	c->loop = l;
	c->fd = fd;
	c->client = client;
	c->ctx = tls_ctx_get(ctx);
	/* A server makes both once the peer sends, and its handshake is done (conn_on_io). */
	if (!client)
		return c;
	c->tls = tls_conn_create(ctx, fd, expect_san);
	if (!c->tls || hb_session_init(c)) {
		c->fd = -1; /* the caller still owns and closes it */
		hb_conn_free(c);
		errno = ENOMEM;
		return NULL;
	}
	return c;
}
