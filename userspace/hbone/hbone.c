// SPDX-License-Identifier: Apache-2.0
/*
 * HBONE streams: one HTTP/2 CONNECT stream (h2.h) spliced to its far end, a TCP socket or an
 * in-process consumer (hbone_end_ops). Invariants: a stream object lives until both its HTTP/2
 * stream closed and its far end is finished; every DATA byte received is handed back to the
 * HTTP/2 layer (h2_stream_consume) once it reached the far end, or by h2_stream_release when
 * the stream ends with bytes it never delivered.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ambit/log.h"
#include "lib/buf.h"
#include "net/connrec.h"
#include "hbone.h"
#include "hbone_priv.h"

void hbone_close_reset(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	/* Linger 0 turns close() into a RST so the application sees the failure as a reset. */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* ---- the far end: a socket or an in-process consumer ---- */

/* Hands @len bytes to the far end: how many it took (0: later), or -1 when it failed. */
static ssize_t far_send(struct hbone_stream *s, const void *p, size_t len)
{
	ssize_t n;

	if (s->end)
		return (ssize_t)s->end->data(s->end_arg, s, p, len);
	do
		n = send(s->fd, p, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 0 : -1;
	return n;
}

static void far_shutdown(struct hbone_stream *s)
{
	s->far_shut = true;
	if (s->end)
		s->end->eof(s->end_arg, s);
	else
		shutdown(s->fd, SHUT_WR);
}

static bool far_ready(const struct hbone_stream *s)
{
	return s->established && (s->fd >= 0 || s->end);
}

/* ---- streams ---- */

static void stream_free(void *p)
{
	struct hbone_stream *s = p;

	buf_free(&s->to_h2);
	buf_free(&s->to_far);
	free(s->authority);
	free(s->baggage);
	free(s);
}

static void stream_unlink(struct hbone_stream *s)
{
	if (!s->conn)
		return;
	LIST_REMOVE(s, link);
	s->conn = NULL;
}

void hbone_stream_discard(struct hbone_stream *s)
{
	stream_unlink(s);
	stream_free(s);
}

/*
 * At a stream's end, reset or not, what the peer sent before it and the far end's socket has
 * not taken yet goes now (what fits), with the peer's EOF when that came too: the frames came
 * in this order. A draining peer's answer, its END_STREAM and the connection's end arrive in
 * one read, and the session's end closes the stream before the batch's send is made.
 */
static void far_deliver_final(struct hbone_stream *s)
{
	ssize_t n;

	loop_send_cancel(s->conn->loop, &s->send);
	if (s->end || !far_ready(s))
		return;
	if (s->to_far.len) {
		n = far_send(s, buf_head(&s->to_far), s->to_far.len);
		if (n > 0) {
			buf_consume(&s->to_far, (size_t)n);
			connrec_bytes(s->rec, !s->conn->client, (size_t)n);
		}
	}
	if (!s->to_far.len && s->h2_eof_rcvd && !s->far_shut)
		far_shutdown(s);
}

void hbone_stream_finish(struct hbone_stream *s, const char *reason, bool reset)
{
	struct hbone_conn *c = s->conn;
	const struct hbone_open_ops *ops = NULL;
	const struct hbone_end_ops *end = s->end;
	struct loop *l = c->loop;
	bool retryable = false;
	int back = -1;

	if (s->finished)
		return;
	s->finished = true;
	far_deliver_final(s);
	/*
	 * Never established: the client socket was never read, so its owner may try again
	 * elsewhere. Only a policy refusal (401) or shutdown make the failure final.
	 */
	if (s->ops && !s->established && s->fd >= 0) {
		ops = s->ops;
		retryable = s->status != 401 && !(c->pool && c->pool->closing);
		loop_del_handler(l, s->fd, &s->h);
		back = s->fd;
		s->fd = -1;
	}
	s->h.dead = true;
	stream_unlink(s);
	if (s->h2s) {
		if (reset)
			h2_stream_reset(s->h2s, H2_CONNECT_ERROR);
		/* What the far end never took goes back to the peer's window with it. */
		h2_stream_release(s->h2s);
		s->h2s = NULL;
	}
	if (s->fd >= 0) {
		loop_del_handler(l, s->fd, &s->h);
		if (reset)
			hbone_close_reset(s->fd);
		else
			close(s->fd);
		s->fd = -1;
	}
	s->end = NULL;
	connrec_close(s->rec, reason);
	s->rec = NULL;
	guard_stream_release(&s->gs);
	guard_release(&s->slot);
	if (end)
		end->closed(s->end_arg, s, reason, reset);
	if (ops)
		ops->failed(s->ops_arg, back, s->status, reason, retryable);
	loop_defer_free(l, s, stream_free);
}

void hbone_stream_fail(struct hbone_stream *s, const char *reason)
{
	hbone_stream_finish(s, reason, true);
}

void hbone_stream_update_events(struct hbone_stream *s)
{
	uint32_t ev = 0;

	if (s->fd < 0 || s->finished)
		return;
	if (s->connecting)
		ev = EPOLLOUT;
	else if (s->established) {
		if (!s->far_eof && s->to_h2.len < HBONE_TCP_BUF)
			ev |= EPOLLIN;
		/* A queued send is made after the batch: EPOLLOUT only for what it left. */
		if (s->to_far.len && !s->send.queued)
			ev |= EPOLLOUT;
	}
	if (ev != s->events && loop_mod(s->conn->loop, s->fd, ev, &s->h) == 0)
		s->events = ev;
}

static void stream_check_done(struct hbone_stream *s)
{
	if (!s->finished && s->h2_closed && s->far_shut && !s->to_far.len && s->far_eof)
		hbone_stream_finish(s, "eof", false);
}

/* @n bytes reached the far end: counted, and the peer may send as many again (backpressure). */
static void delivered(struct hbone_stream *s, size_t n)
{
	s->last_io = loop_now(s->conn->loop);
	connrec_bytes(s->rec, !s->conn->client, n);
	if (s->h2s)
		h2_stream_consume(s->h2s, n);
}

/* Once the far end took everything: the peer's EOF passed on, the stream ended when done. */
static void far_settle(struct hbone_stream *s)
{
	if (!s->to_far.len && s->h2_eof_rcvd && !s->far_shut) {
		far_shutdown(s);
		if (s->finished)
			return;
	}
	hbone_stream_update_events(s);
	stream_check_done(s);
}

void hbone_stream_write_far(struct hbone_stream *s)
{
	if (!far_ready(s))
		return;
	if (!s->end && s->to_far.len) {
		/* A socket: the bytes go after the batch, with the loop's wait (far_sent). */
		s->send.fd = s->fd;
		loop_send(s->conn->loop, &s->send);
		return;
	}
	while (s->to_far.len) {
		ssize_t n = far_send(s, buf_head(&s->to_far), s->to_far.len);

		if (n < 0) {
			hbone_stream_fail(s, "tcp write failed");
			return;
		}
		if (s->finished)
			return;
		if (!n)
			break;
		buf_consume(&s->to_far, (size_t)n);
		delivered(s, (size_t)n);
	}
	far_settle(s);
}

static const void *far_data(struct loop_send *ls, size_t *len)
{
	struct hbone_stream *s = container_of(ls, struct hbone_stream, send);

	*len = s->to_far.len;
	return buf_head(&s->to_far);
}

/* The loop's send to the far end's socket: what it took; the rest waits for EPOLLOUT. */
static void far_sent(struct loop_send *ls, long res)
{
	struct hbone_stream *s = container_of(ls, struct hbone_stream, send);

	if (s->finished)
		return;
	if (res < 0 && res != -EAGAIN) {
		hbone_stream_fail(s, res == -ECONNRESET || res == -EPIPE ? "tcp reset"
									 : "tcp write failed");
		return;
	}
	if (res > 0) {
		buf_consume(&s->to_far, (size_t)res);
		delivered(s, (size_t)res);
		if (s->finished)
			return;
	}
	far_settle(s);
}

/* Bytes (or EOF) to send: the HTTP/2 layer asks for them again. */
static void to_h2_ready(struct hbone_stream *s)
{
	if (s->h2s && (s->to_h2.len || s->far_eof))
		h2_stream_resume(s->h2s);
}

/* As buf_read_fd_drained, from what the loop read of the socket (recv() without a ring). */
static ssize_t read_far(struct hbone_stream *s, bool *drained)
{
	struct buf *b = &s->to_h2;
	size_t room = b->cap - b->off - b->len;
	char *p;
	ssize_t n;

	if (room < 4096)
		room = b->cap ? b->cap : 16384;
	if (room > HBONE_TCP_BUF - b->len)
		room = HBONE_TCP_BUF - b->len;
	p = buf_reserve(b, room, HBONE_TCP_BUF);
	if (!p)
		return -ENOMEM;
	n = loop_recv(s->conn->loop, &s->h, s->fd, p, room, drained);
	if (n > 0)
		b->len += (size_t)n;
	return n;
}

static void stream_read_tcp(struct hbone_stream *s)
{
	bool drained = false;

	while (!s->far_eof && !drained && s->to_h2.len < HBONE_TCP_BUF) {
		/*
		 * As splice.c: the buffer grows only while reads fill it (buf_read_fd). A read that
		 * got less than it asked for emptied the socket: the read after it would only say
		 * EAGAIN, a system call per small message (the socket is polled level-triggered,
		 * so bytes that come later wake the loop again).
		 */
		ssize_t n = read_far(s, &drained);

		if (n == -EAGAIN)
			break;
		if (n < 0) {
			hbone_stream_fail(s, n == -ENOMEM	? "out of memory"
					     : n == -ECONNRESET ? "tcp reset"
								: "tcp read failed");
			return;
		}
		if (n == 0) {
			s->far_eof = true;
			break;
		}
		s->last_io = loop_now(s->conn->loop);
		connrec_bytes(s->rec, s->conn->client, (size_t)n);
	}
	to_h2_ready(s);
	hbone_stream_update_events(s);
}

static void stream_on_io(struct loop_handler *h, uint32_t events)
{
	struct hbone_stream *s = container_of(h, struct hbone_stream, h);

	if (s->connecting) {
		hbone_server_connected(s, events);
		if (!s->finished && !s->connecting && s->fd >= 0)
			hbone_stream_update_events(s);
		return;
	}
	if (events & EPOLLERR) {
		hbone_stream_fail(s, "tcp error");
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP))
		stream_read_tcp(s);
	if (!s->finished && (events & EPOLLOUT))
		hbone_stream_write_far(s);
	if (!s->finished && (events & EPOLLHUP) && !s->far_shut) {
		hbone_stream_fail(s, "tcp hangup");
		return;
	}
	/* Both TCP directions are finished: stop polling a socket that reports HUP forever. */
	if (!s->finished && (events & EPOLLHUP) && s->events) {
		loop_mod(s->conn->loop, s->fd, 0, &s->h);
		s->events = 0;
	}
}

/* An in-process end's writable, after the batch (never from inside the HTTP/2 layer). */
static void stream_wake(struct loop_task *t)
{
	struct hbone_stream *s = container_of(t, struct hbone_stream, wake);

	if (!s->finished && s->end && s->end_full && s->established &&
	    s->to_h2.len < HBONE_TCP_BUF) {
		s->end_full = false;
		s->end->writable(s->end_arg, s);
	}
}

/* The DATA frames of one read of the connection, sent to the socket together. */
static void stream_flush(struct loop_task *t)
{
	struct hbone_stream *s = container_of(t, struct hbone_stream, flush);

	if (!s->finished)
		hbone_stream_write_far(s);
}

struct hbone_stream *hbone_stream_new(struct hbone_conn *c, int fd)
{
	struct hbone_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->h.fn = stream_on_io;
	s->wake.fn = stream_wake;
	s->flush.fn = stream_flush;
	s->send.fd = fd;
	s->send.data = far_data;
	s->send.done = far_sent;
	s->conn = c;
	s->fd = fd;
	LIST_INSERT_HEAD(&c->streams, s, link);
	return s;
}

void hbone_stream_established(struct hbone_stream *s)
{
	s->established = true;
	s->last_io = loop_now(s->conn->loop);
	/*
	 * An in-process end may write now: a client end that tried before the 200, and a server
	 * end whose first bytes were written while its CONNECT was being answered (a waypoint's
	 * HTTP/2 SETTINGS, which a gRPC client waits for before it sends anything).
	 */
	if (s->end) {
		s->end_full = true;
		loop_queue(s->conn->loop, &s->wake);
	}
	hbone_stream_update_events(s);
	hbone_stream_write_far(s);
	if (!s->finished)
		to_h2_ready(s);
}

/* ---- the HTTP/2 side (h2_stream_ops) ---- */

/* Client: the CONNECT's answer. */
static void on_headers(void *arg, struct h2_stream *h2s, const struct h2_header *h, size_t n,
		       bool end_stream)
{
	struct hbone_stream *s = arg;
	struct hbone_conn *c = s->conn;
	const char *st = h2_header_get(h, n, ":status");
	char why[48];

	if (!c->client || s->established || !st)
		return;
	s->status = atoi(st);
	if (s->status >= 100 && s->status < 200)
		return;
	if (s->status != 200) {
		const char *peer = h2_conn_peer_identity(c->h2);

		/* With an owner that may retry, it reports the final outcome. */
		if (s->ops)
			pr_debug("hbone: CONNECT %s answered %d by %s", s->authority, s->status,
				 peer ? peer : "?");
		else
			pr_info("hbone: CONNECT %d from %s", s->status, peer ? peer : "?");
		snprintf(why, sizeof(why), "%s (CONNECT %d)",
			 s->status == 401 ? "denied" : "upstream refused", s->status);
		h2_stream_reset(h2s, H2_CANCEL);
		hbone_stream_finish(s, why, true);
		return;
	}
	/* From here on the stream owns the connection, its record and its slot. */
	if (s->ops) {
		struct hbone_peer_baggage peer;

		hbone_baggage_parse(h2_header_get(h, n, "baggage"), &peer);
		snprintf(peer.identity, sizeof(peer.identity), "%s",
			 h2_conn_peer_identity(s->conn->h2) ?: "");
		s->rec = s->ops->established(s->ops_arg, &s->slot, &peer);
		s->ops = NULL;
	}
	hbone_stream_established(s);
}

static void on_data(void *arg, struct h2_stream *h2s, const uint8_t *data, size_t len)
{
	struct hbone_stream *s = arg;
	char *p;

	if (s->finished)
		return;
	/* A server stream whose far end failed: what still comes is nobody's. */
	if (!s->conn->client && !s->connecting && !far_ready(s)) {
		h2_stream_consume(h2s, len);
		return;
	}
	/*
	 * A socket end takes the frames of one read (a TLS read brings several 16 KiB records)
	 * in one send after the batch: a send per frame cost a third of the receiving ztunnel's
	 * system time. An in-process end takes each at once: no system call to save.
	 */
	if (s->fd >= 0 && far_ready(s)) {
		p = buf_reserve(&s->to_far, len, HBONE_STREAM_WINDOW + (64u << 10));
		if (!p) {
			hbone_stream_fail(s, "receive buffer overflow");
			return;
		}
		memcpy(p, data, len);
		s->to_far.len += len;
		loop_queue(s->conn->loop, &s->flush);
		return;
	}
	/* Nothing queued before it: straight to the far end, buffering only what it refuses. */
	if (!s->to_far.len && far_ready(s)) {
		ssize_t n = far_send(s, data, len);

		if (n < 0) {
			hbone_stream_fail(s, "tcp write failed");
			return;
		}
		if (s->finished)
			return;
		if (n > 0) {
			delivered(s, (size_t)n);
			data += n;
			len -= (size_t)n;
		}
		if (!len)
			return;
	}
	/* The window bounds what the peer may send; the slack tolerates a late SETTINGS. */
	p = buf_reserve(&s->to_far, len, HBONE_STREAM_WINDOW + (64u << 10));
	if (!p) {
		hbone_stream_fail(s, "receive buffer overflow");
		return;
	}
	memcpy(p, data, len);
	s->to_far.len += len;
	hbone_stream_update_events(s);
}

static void on_end(void *arg, struct h2_stream *h2s)
{
	struct hbone_stream *s = arg;

	if (s->finished)
		return;
	s->h2_eof_rcvd = true;
	hbone_stream_write_far(s);
}

static void on_close(void *arg, struct h2_stream *h2s, uint32_t error, const char *reason)
{
	struct hbone_stream *s = arg;

	if (s->finished)
		return;
	s->h2_closed = true;
	if (error || !far_ready(s)) {
		hbone_stream_finish(s, reason, error != 0);
		return;
	}
	hbone_stream_write_far(s);
	stream_check_done(s);
}

/* The bytes the far end sent, towards the peer; its EOF becomes END_STREAM. */
static ssize_t provide(void *arg, struct h2_stream *h2s, uint8_t *out, size_t length, bool *eof)
{
	struct hbone_stream *s = arg;
	size_t n = s->to_h2.len < length ? s->to_h2.len : length;
	bool was_full = s->to_h2.len >= HBONE_TCP_BUF;

	if (!s->established)
		return 0;
	if (n) {
		memcpy(out, buf_head(&s->to_h2), n);
		buf_consume(&s->to_h2, n);
	}
	/* The half-close becomes END_STREAM; the other direction stays open. */
	*eof = !s->to_h2.len && s->far_eof;
	/* All it had: the session need not ask again until to_h2_ready (a send round saved). */
	if (n && !s->to_h2.len && !s->far_eof)
		h2_stream_drained(h2s);
	if (s->end && s->end_full && s->to_h2.len < HBONE_TCP_BUF)
		loop_queue(s->conn->loop, &s->wake);
	else if (was_full)
		hbone_stream_update_events(s);
	return (ssize_t)n;
}

const struct h2_stream_ops hbone_stream_ops = {
    .on_headers = on_headers,
    .on_data = on_data,
    .on_end = on_end,
    .on_close = on_close,
    .provide = provide,
};

/* ---- an in-process far end's side ---- */

ssize_t hbone_stream_write(struct hbone_stream *s, const void *p, size_t len)
{
	size_t room;
	char *dst;

	if (s->finished || !s->end || s->far_eof)
		return -EPIPE;
	if (!s->established) {
		s->end_full = true;
		return 0;
	}
	room = HBONE_TCP_BUF - s->to_h2.len;
	if (len >= room) {
		/* Full now: writable follows once the peer took some. */
		len = room;
		s->end_full = true;
	}
	if (!len)
		return 0;
	dst = buf_reserve(&s->to_h2, len, HBONE_TCP_BUF);
	if (!dst)
		return -ENOMEM;
	memcpy(dst, p, len);
	s->to_h2.len += len;
	s->last_io = loop_now(s->conn->loop);
	connrec_bytes(s->rec, false, len);
	to_h2_ready(s);
	return (ssize_t)len;
}

void hbone_stream_shutdown(struct hbone_stream *s)
{
	if (s->finished || !s->end || s->far_eof)
		return;
	s->far_eof = true;
	to_h2_ready(s);
	stream_check_done(s);
}

void hbone_stream_ready(struct hbone_stream *s)
{
	if (!s->finished)
		hbone_stream_write_far(s);
}

void hbone_stream_abort(struct hbone_stream *s, const char *reason)
{
	hbone_stream_fail(s, reason);
}

int hbone_stream_status(const struct hbone_stream *s)
{
	return s->status;
}

size_t hbone_stream_queued(const struct hbone_stream *s)
{
	return s->to_h2.len;
}
