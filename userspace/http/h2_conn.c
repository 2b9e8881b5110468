// SPDX-License-Identifier: Apache-2.0
/*
 * HTTP/2 connections: the transport (TLS, plain socket or in-memory pipe), the nghttp2 session
 * run from memory (nghttp2 never touches a socket), output coalescing and the connection's
 * life. Output leaves once per loop round (the flush task), coalesced so that TLS writes whole
 * 16 KiB records; a DATA frame carries 16,375 bytes so that with its 9-byte header it fills one
 * record exactly, and such a frame is written straight from nghttp2's buffer.
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
#include "h2_priv.h"

#define OUT_CHUNK (64u << 10)
#define IN_CHUNK (64u << 10)
#define TLS_RECORD 16384 /* TLS 1.3 maximum plaintext per record */

static const struct h2_limits default_limits = {
    .handshake_s = 10,
    .first_request_s = 10,
    .idle_s = 120,
    .max_streams = 100,
    .max_early_resets = 100,
    .headers = {.header_bytes = HTTP_MAX_HEADER_BYTES, .fields = HTTP_MAX_FIELDS},
    .stream_window = H2_STREAM_WINDOW,
    .conn_window = H2_CONN_WINDOW,
};

void h2_limits_default(struct h2_limits *lim)
{
	*lim = default_limits;
}

/* ---- the transport ---- */

/* Writes up to @len bytes: how many went, -EAGAIN, or -errno (fatal). */
static ssize_t tx_write(struct h2_conn *c, const uint8_t *data, size_t len)
{
	ssize_t n;

	switch (c->kind) {
	case H2_TLS:
	case H2_TLS_PIPE: return tls_conn_write(c->tls, data, len);
	case H2_PLAIN:
		do
			n = send(c->fd, data, len, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		return n < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : n;
	case H2_PIPE:
		n = c->pipe->write(c->pipe_arg, data, len);
		if (n >= 0 && (size_t)n < len)
			c->pipe_full = true;
		return n == 0 ? -EAGAIN : n;
	}
	return -EINVAL;
}

/* Reads into @buf: bytes, 0 at EOF, -EAGAIN, -errno. */
static ssize_t tx_read(struct h2_conn *c, uint8_t *buf, size_t len)
{
	ssize_t n;

	if (c->tls)
		return tls_conn_read(c->tls, buf, len);
	n = loop_recv(c->loop, &c->h, c->fd, buf, len, &c->rx_drained);
	return n;
}

static const char *tx_error(struct h2_conn *c, ssize_t err)
{
	return c->tls ? tls_conn_error(c->tls) : strerror((int)-err);
}

/* ---- session ---- */

int h2c_session_init(struct h2_conn *c)
{
	/*
	 * A client takes no pushed streams; a server announces its cap. The header list size is
	 * our count's limit: a peer that keeps to it (counting 32 bytes more a field, RFC 9113
	 * §6.5.2) is never refused for its size.
	 */
	nghttp2_settings_entry iv[] = {
	    {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->lim.max_streams},
	    {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, c->lim.stream_window},
	    {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, c->lim.headers.header_bytes},
	    {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	};
	nghttp2_settings_entry ext = {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1};
	nghttp2_session_callbacks *cbs = h2s_callbacks_new();
	nghttp2_option *opt = NULL;
	int rv = -ENOMEM;

	if (!cbs || nghttp2_option_new(&opt))
		goto out;
	/* Flow control is ours: the window reopens only as the consumer takes the bytes. */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	/*
	 * What we send is what a peer sent within our limits, and what the owner adds: nghttp2's
	 * own cap (64 KiB, counting 12 bytes more a field) must not refuse it.
	 */
	nghttp2_option_set_max_send_header_block_length(opt, (size_t)c->lim.headers.header_bytes +
								 (64u << 10));
	if (c->server)
		rv = nghttp2_session_server_new2(&c->h2, cbs, c, opt);
	else
		rv = nghttp2_session_client_new2(&c->h2, cbs, c, opt);
	if (rv) {
		rv = -ENOMEM;
		goto out;
	}
	rv = -ENOMEM;
	/* A server's last entry says whether it takes extended CONNECTs; a client's refuses pushes.
	 */
	if (c->server && c->lim.extended_connect)
		iv[3] = ext;
	if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv,
				    c->server && !c->lim.extended_connect ? 3 : 4) ||
	    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0,
						  (int32_t)c->lim.conn_window))
		goto out;
	rv = 0;
out:
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	return rv;
}

int h2c_recv(struct h2_conn *c, const uint8_t *data, size_t len)
{
	ssize_t rv = nghttp2_session_mem_recv(c->h2, data, len);

	c->last_rx = loop_now(c->loop);
	c->ping_sent = 0;

	if (rv < 0) {
		h2_conn_close(c, nghttp2_strerror((int)rv));
		return (int)rv;
	}
	if (c->dead)
		return -EPIPE;
	/* The requests of this read, minus those it also reset (h2_server.c). */
	if (c->server)
		h2_server_dispatch(c);
	return c->dead ? -EPIPE : 0;
}

/* ---- keep-alive ---- */

static uint64_t pings_sent, ping_timeouts;

uint64_t h2_pings_sent(void)
{
	return __atomic_load_n(&pings_sent, __ATOMIC_RELAXED);
}

uint64_t h2_ping_timeouts(void)
{
	return __atomic_load_n(&ping_timeouts, __ATOMIC_RELAXED);
}

void h2c_keepalive(struct h2_conn *c)
{
	time_t now = loop_now(c->loop);

	if (!c->lim.ping_interval_s || !c->h2 || !c->handshaken || c->dead)
		return;
	if (c->ping_sent) {
		/* Any byte since counts as an answer (h2c_recv): a busy peer's ACK may queue. */
		if (now - c->ping_sent >= (time_t)c->lim.ping_timeout_s) {
			__atomic_add_fetch(&ping_timeouts, 1, __ATOMIC_RELAXED);
			pr_info("h2: keep-alive PING unanswered for %u s: the peer is gone",
				c->lim.ping_timeout_s);
			h2_conn_close(c, "keep-alive PING timed out");
		}
		return;
	}
	if (now - c->last_rx < (time_t)c->lim.ping_interval_s)
		return;
	if (nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE, NULL))
		return;
	__atomic_add_fetch(&pings_sent, 1, __ATOMIC_RELAXED);
	c->ping_sent = now;
	h2c_kick(c);
}

/*
 * A mesh connection's record buffers (some 83 KiB) stay while it is busy: released after every
 * record, as its context would, they cost an allocation and a free each way per small message.
 * Quiet for a whole second, it lets them go, and takes them again with its next record.
 */
void h2c_release_quiet(struct h2_conn *c)
{
	time_t now = loop_now(c->loop);

	if (c->quiet_release && c->handshaken && now - c->last_rx >= 1 && now - c->last_tx >= 1)
		tls_conn_release_buffers(c->tls);
}

/* ---- connection life ---- */

static void conn_free(void *p)
{
	struct h2_conn *c = p;

	nghttp2_session_del(c->h2);
	tls_conn_destroy(c->tls);
	tls_ctx_put(c->ctx);
	buf_free(&c->out);
	buf_free(&c->pin);
	free(c->expect_san);
	free(c->identity);
	free(c);
}

/* The opening phase is over (or the connection is): no more deadline. */
static void timer_stop(struct h2_conn *c)
{
	loop_timer_cancel(c->loop, &c->deadline);
}

static void timer_arm(struct h2_conn *c, unsigned int ms)
{
	loop_timer_arm(c->loop, &c->deadline, ms);
}

void h2_conn_close(struct h2_conn *c, const char *reason)
{
	if (!c || c->dead)
		return;
	c->dead = true;
	c->h.dead = true;
	if (!reason)
		reason = "connection closed";
	h2s_close_all(c, reason);
	if (c->ops && c->ops->on_close)
		c->ops->on_close(c->arg, c, reason);
	if (c->fd >= 0) {
		/* The records queued this batch (a GOAWAY) go before the socket does. */
		(void)loop_send_now(c->loop, &c->send);
		loop_del_handler(c->loop, c->fd, &c->h);
		close(c->fd);
		c->fd = -1;
	}
	guard_release(&c->slot);
	timer_stop(c);
	loop_defer_free(c->loop, c, conn_free);
}

void h2_conn_goaway(struct h2_conn *c, uint32_t error)
{
	if (!c || c->dead || !c->h2)
		return;
	/* Terminating: no stream after the last one processed; closed once the frame is out. */
	c->goaway = true;
	nghttp2_session_terminate_session(c->h2, error);
	h2c_kick(c);
}

/* The next step of a drain (h2_conn_drain), as far as the session allows yet. */
void h2c_drain_step(struct h2_conn *c)
{
	int32_t last;

	if (!c->draining || c->dead || !c->h2 || c->drain_final)
		return;
	if (c->server && !c->drain_noticed) {
		if (nghttp2_submit_shutdown_notice(c->h2) == 0) {
			c->drain_noticed = true;
			c->drain_since_ms = loop_now_ms(c->loop);
		}
	} else if (!c->server || loop_now_ms(c->loop) - c->drain_since_ms >= 1000) {
		last = nghttp2_session_get_last_proc_stream_id(c->h2);
		if (nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, NULL,
					  0) == 0) {
			c->drain_final = true;
			c->goaway = true;
		}
	}
	if (!c->server)
		c->goaway = true; /* no new stream from this side, whatever nghttp2 said */
	h2c_kick(c);
}

void h2_conn_drain(struct h2_conn *c)
{
	if (!c || c->dead || c->draining)
		return;
	c->draining = true;
	c->drain_since_ms = loop_now_ms(c->loop);
	h2c_drain_step(c);
}

static void update_events(struct h2_conn *c)
{
	uint32_t ev = EPOLLIN;

	if (c->dead || c->kind == H2_PIPE || c->kind == H2_TLS_PIPE)
		return;
	/* Told to calm down: what it sends is not read any more (GOAWAY goes out, then close). */
	if (c->calm)
		ev = 0;
	if (c->connecting || c->out.len || (c->tls && tls_conn_want_write(c->tls)))
		ev |= EPOLLOUT;
	if (ev != c->events && loop_mod(c->loop, c->fd, ev, &c->h) == 0)
		c->events = ev;
}

/* After a flush or a send: a session with nothing more to say or hear ends, else it polls. */
static void conn_settle(struct h2_conn *c)
{
	size_t queued = 0;

	if (c->tls)
		tls_conn_pending(c->tls, &queued);
	if (!c->out.len && !queued && !(c->tls && tls_conn_want_write(c->tls)) &&
	    !nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2)) {
		h2_conn_close(c, "session ended");
		return;
	}
	update_events(c);
}

/* Takes what nghttp2 has to send, up to a chunk, writing whole-record frames directly. */
static bool fill_out(struct h2_conn *c)
{
	/*
	 * Asked first: a flush after a read that brought only DATA (a small message) has nothing
	 * to send, nor has one after a drained source's DATA, and the session's send round costs
	 * more than the question.
	 */
	while (c->out.len < OUT_CHUNK && !c->pipe_full && h2c_has_output(c)) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(c->h2, &data);
		char *p;

		/* A body source may have closed the connection: nothing more goes out. */
		if (c->dead)
			return false;
		if (n < 0) {
			h2_conn_close(c, nghttp2_strerror((int)n));
			return false;
		}
		if (n == 0)
			break;
		if (!c->out.len && n >= TLS_RECORD) {
			/* A whole-record DATA frame: written from nghttp2's buffer, no copy. */
			ssize_t w = tx_write(c, data, (size_t)n);

			c->last_tx = loop_now(c->loop);
			if (c->dead)
				return false;
			if (w < 0 && w != -EAGAIN) {
				h2_conn_close(c, tx_error(c, w));
				return false;
			}
			if (w == n)
				continue;
			/* The rest waits in out (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). */
			if (w > 0) {
				data += w;
				n -= w;
			}
		}
		p = buf_reserve(&c->out, (size_t)n, 4 * OUT_CHUNK);
		if (!p) {
			h2_conn_close(c, "out of memory");
			return false;
		}
		memcpy(p, data, (size_t)n);
		c->out.len += (size_t)n;
	}
	return !c->dead;
}

static void conn_flush(struct h2_conn *c)
{
	if (c->dead || !c->handshaken || !c->h2)
		return;
	for (;;) {
		ssize_t w;

		/* Coalesce frames so TLS writes full 16 KiB records instead of one per frame. */
		if (!fill_out(c))
			return;
		if (!c->out.len)
			break;
		w = tx_write(c, (const uint8_t *)buf_head(&c->out), c->out.len);
		if (c->dead)
			return;
		if (w == -EAGAIN)
			break;
		if (w < 0) {
			h2_conn_close(c, tx_error(c, w));
			return;
		}
		buf_consume(&c->out, (size_t)w);
		c->last_tx = loop_now(c->loop);
		if (c->pipe_full)
			break;
	}
	/* The records of this round leave together (tls.c buffers them), after the batch. */
	if (c->tls && tls_conn_flush(c->tls) == -EPIPE) {
		h2_conn_close(c, tls_conn_error(c->tls));
		return;
	}
	conn_settle(c);
}

/* The loop's send of the records (tls_conn_defer_sends): what they are now. */
static const void *records_data(struct loop_send *s, size_t *len)
{
	struct h2_conn *c = container_of(s, struct h2_conn, send);

	return tls_conn_pending(c->tls, len);
}

static void records_sent(struct loop_send *s, long res)
{
	struct h2_conn *c = container_of(s, struct h2_conn, send);

	if (c->dead)
		return;
	if (res < 0 && res != -EAGAIN) {
		h2_conn_close(c, strerror((int)-res));
		return;
	}
	/* What is left waits for EPOLLOUT (tls_conn_want_write says so now). */
	tls_conn_sent(c->tls, res > 0 ? (size_t)res : 0);
	conn_settle(c);
}

/* Records are queued: they go with the loop's next wait. */
static void records_kick(void *arg)
{
	struct h2_conn *c = arg;

	c->send.fd = c->fd;
	loop_send(c->loop, &c->send);
}

/* The records come from what the loop read of the socket (loop_recv: recv() without a ring). */
static ssize_t records_read(void *arg, void *buf, size_t len, bool *drained)
{
	struct h2_conn *c = arg;

	return loop_recv(c->loop, &c->h, c->fd, buf, len, drained);
}

/*
 * H2_TLS_PIPE: the records of a batch (or a handshake flight) go to the pipe now, as much as it
 * takes; what it leaves waits for h2_conn_pipe_writable.
 */
static void pipe_records_kick(void *arg)
{
	struct h2_conn *c = arg;
	size_t len;
	const void *data = tls_conn_pending(c->tls, &len);
	ssize_t n;

	if (!len || c->dead)
		return;
	n = c->pipe->write(c->pipe_arg, data, len);
	if (n < 0) {
		h2_conn_close(c, strerror((int)-n));
		return;
	}
	tls_conn_sent(c->tls, (size_t)n);
	if ((size_t)n < len)
		c->pipe_full = true;
}

/* H2_TLS_PIPE: the records come from what the pipe handed over (h2_conn_input). */
static ssize_t pipe_records_read(void *arg, void *buf, size_t len, bool *drained)
{
	struct h2_conn *c = arg;

	if (!c->pin.len) {
		*drained = true;
		return -EAGAIN;
	}
	if (len > c->pin.len)
		len = c->pin.len;
	memcpy(buf, buf_head(&c->pin), len);
	buf_consume(&c->pin, len);
	*drained = !c->pin.len;
	if (!c->pin.len)
		buf_free(&c->pin);
	return (ssize_t)len;
}

static void tls_made(struct h2_conn *c)
{
	if (c->kind == H2_TLS_PIPE) {
		tls_conn_defer_sends(c->tls, pipe_records_kick, c);
		tls_conn_set_reader(c->tls, pipe_records_read, c);
		return;
	}
	c->quiet_release = tls_conn_keep_buffers(c->tls);
	tls_conn_defer_sends(c->tls, records_kick, c);
	tls_conn_set_reader(c->tls, records_read, c);
}

static bool conn_handshake(struct h2_conn *c);

static void flush_task(struct loop_task *t)
{
	struct h2_conn *c = container_of(t, struct h2_conn, flush);

	/* H2_TLS_PIPE: no socket says when to go on with the handshake; its flushes do. */
	if (c->kind == H2_TLS_PIPE && !c->handshaken && !c->dead && !conn_handshake(c))
		return;
	conn_flush(c);
}

static void conn_read(struct h2_conn *c)
{
	uint8_t in[IN_CHUNK];

	for (;;) {
		ssize_t n = tx_read(c, in, sizeof(in));

		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			h2_conn_close(c, n == 0 ? "peer closed" : tx_error(c, n));
			return;
		}
		if (h2c_recv(c, in, (size_t)n) || c->calm)
			return;
		/* Nothing buffered and the socket drained: skip the read that would say EAGAIN. */
		if (c->tls ? tls_conn_read_drained(c->tls) : c->rx_drained)
			break;
	}
}

/* The TLS handshake (a server makes its TLS state when the peer first sends). */
static bool conn_handshake(struct h2_conn *c)
{
	int rv;

	if (!c->tls) {
		/* Until the peer sends, an accepted connection costs its socket and this struct. */
		c->tls = tls_conn_create(c->ctx, c->fd, NULL);
		if (!c->tls) {
			h2_conn_close(c, "out of memory");
			return false;
		}
		tls_made(c);
	}
	rv = tls_conn_handshake(c->tls);
	if (rv == -EAGAIN) {
		update_events(c);
		return false;
	}
	if (rv) {
		pr_debug("h2: TLS with %s failed: %s", c->expect_san ? c->expect_san : "a client",
			 tls_conn_error(c->tls));
		h2_conn_close(c, tls_conn_error(c->tls));
		return false;
	}
	c->handshaken = true;
	if (c->server) {
		if (h2_server_handshaken(c)) {
			h2_conn_close(c, "out of memory");
			return false;
		}
	} else {
		timer_stop(c);
	}
	if (c->ops && c->ops->on_ready)
		c->ops->on_ready(c->arg, c);
	return !c->dead;
}

static void conn_on_io(struct loop_handler *h, uint32_t events)
{
	struct h2_conn *c = container_of(h, struct h2_conn, h);

	if (c->connecting) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr) {
			h2_conn_close(c, strerror(soerr));
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		c->connecting = false;
		/* A peer answered: the handshake gets its own, more generous, deadline. */
		if (c->kind == H2_TLS)
			timer_arm(c, c->handshake_ms);
		else
			timer_stop(c);
	}
	if (!c->handshaken && !conn_handshake(c))
		return;
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->calm)
		conn_read(c);
	if (!c->dead)
		conn_flush(c);
}

static void conn_on_timer(struct loop_timer *t)
{
	struct h2_conn *c = container_of(t, struct h2_conn, deadline);

	pr_debug("h2: %s timed out", c->connecting ? "connect" : "TLS handshake");
	h2_conn_close(c, c->connecting ? "connect timed out" : "TLS handshake timed out");
}

/* A client's deadline for its TCP connect and TLS handshake. */
static int timer_start(struct h2_conn *c)
{
	unsigned int ms = c->connecting ? c->connect_ms : c->handshake_ms;

	if (!ms || (!c->connecting && c->kind != H2_TLS && c->kind != H2_TLS_PIPE))
		return 0;
	return loop_timer_arm(c->loop, &c->deadline, ms);
}

static int conn_setup(struct h2_conn *c, const struct h2_transport *t)
{
	if (t->peer_identity && !(c->identity = strdup(t->peer_identity)))
		return -ENOMEM;
	if (c->kind == H2_TLS_PIPE) {
		/* A client alone: its handshake starts now, its records wait in the pipe. */
		if (!t->pipe || !t->ctx || c->server)
			return -EINVAL;
		c->pipe = t->pipe;
		c->pipe_arg = t->pipe_arg;
		c->ctx = tls_ctx_get(t->ctx);
		if ((t->expect_san && !(c->expect_san = strdup(t->expect_san))) ||
		    !(c->tls = tls_conn_create(c->ctx, -1, c->expect_san)) || h2c_session_init(c))
			return -ENOMEM;
		tls_made(c);
		if (timer_start(c))
			return -ENOMEM;
		loop_queue(c->loop, &c->flush);
		return 0;
	}
	if (c->kind == H2_PIPE) {
		if (!t->pipe)
			return -EINVAL;
		c->pipe = t->pipe;
		c->pipe_arg = t->pipe_arg;
		c->fd = -1;
		c->handshaken = true;
		if (h2c_session_init(c))
			return -ENOMEM;
		h2c_kick(c);
		return 0;
	}
	if (t->fd < 0)
		return -EBADF;
	if (c->kind == H2_TLS) {
		if (!t->ctx)
			return -EINVAL;
		c->ctx = tls_ctx_get(t->ctx);
		if (t->expect_san && !(c->expect_san = strdup(t->expect_san)))
			return -ENOMEM;
		/* A client's session exists from the start: requests queue until the handshake. */
		if (!c->server && (!(c->tls = tls_conn_create(c->ctx, t->fd, c->expect_san)) ||
				   h2c_session_init(c)))
			return -ENOMEM;
		if (c->tls)
			tls_made(c);
	} else {
		c->handshaken = true;
		if (h2c_session_init(c))
			return -ENOMEM;
	}
	if (timer_start(c))
		return -ENOMEM;
	c->fd = t->fd;
	/* A TLS client speaks first: writable starts its handshake. */
	c->events = EPOLLIN | (c->connecting || (!c->server && !c->handshaken) ? EPOLLOUT : 0);
	if (loop_add_rx(c->loop, c->fd, c->events, &c->h)) {
		c->fd = -1;
		return -ENOMEM;
	}
	/* Our SETTINGS (and a client's preface) go out without waiting for the peer. */
	if (c->handshaken)
		h2c_kick(c);
	return 0;
}

struct h2_conn *h2_conn_create(struct loop *l, const struct h2_transport *t,
			       const struct h2_config *cfg)
{
	struct h2_conn *c = calloc(1, sizeof(*c));
	int err;

	if (!c)
		return NULL;
	c->fd = -1;
	c->peer_goaway = -1;
	c->h.fn = conn_on_io;
	c->deadline.fn = conn_on_timer;
	c->flush.fn = flush_task;
	c->send.data = records_data;
	c->send.done = records_sent;
	c->loop = l;
	c->kind = t->kind;
	c->server = cfg->server;
	c->connecting = t->connecting;
	c->ops = cfg->ops;
	c->arg = cfg->arg;
	c->lim = cfg->lim ? *cfg->lim : default_limits;
	if (!c->lim.stream_window)
		c->lim.stream_window = H2_STREAM_WINDOW;
	if (!c->lim.conn_window)
		c->lim.conn_window = H2_CONN_WINDOW;
	if (!c->lim.max_streams)
		c->lim.max_streams = default_limits.max_streams;
	if (!c->lim.headers.header_bytes)
		c->lim.headers.header_bytes = HTTP_MAX_HEADER_BYTES;
	if (!c->lim.headers.fields)
		c->lim.headers.fields = HTTP_MAX_FIELDS;
	c->connect_ms = cfg->connect_timeout_ms;
	c->handshake_ms = cfg->handshake_timeout_ms;
	c->guarded = cfg->guarded;
	c->listener = cfg->listener;
	c->since = c->idle_since = c->last_rx = c->last_tx = loop_now(l);
	err = conn_setup(c, t);
	if (err) {
		if (c->fd >= 0)
			loop_del_handler(l, c->fd, &c->h);
		c->fd = -1; /* the caller's still */
		loop_timer_cancel(l, &c->deadline);
		conn_free(c);
		errno = -err;
		return NULL;
	}
	if (cfg->slot)
		guard_slot_move(&c->slot, cfg->slot);
	return c;
}

/* H2_TLS_PIPE: the peer's records @data, kept until TLS reads them. */
static int tls_pipe_input(struct h2_conn *c, const uint8_t *data, size_t len)
{
	char *p = buf_reserve(&c->pin, len, SIZE_MAX);

	if (!p) {
		h2_conn_close(c, "out of memory");
		return -EPIPE;
	}
	memcpy(p, data, len);
	c->pin.len += len;
	c->last_rx = loop_now(c->loop);
	if (!c->handshaken && !conn_handshake(c))
		return c->dead ? -EPIPE : 0;
	conn_read(c);
	if (c->dead)
		return -EPIPE;
	h2c_kick(c);
	return 0;
}

int h2_conn_input(struct h2_conn *c, const uint8_t *data, size_t len)
{
	if (c->dead)
		return -EPIPE;
	if (c->calm || !len)
		return 0;
	if (c->kind == H2_TLS_PIPE)
		return tls_pipe_input(c, data, len);
	if (h2c_recv(c, data, len))
		return -EPIPE;
	/* What it answers leaves at the end of the round (a socket's flushes after its read). */
	h2c_kick(c);
	return 0;
}

void h2_conn_pipe_writable(struct h2_conn *c)
{
	c->pipe_full = false;
	if (c->kind == H2_TLS_PIPE && !c->dead) {
		pipe_records_kick(c);
		if (!c->handshaken && !c->pipe_full && !conn_handshake(c))
			return;
	}
	h2c_kick(c);
}

time_t h2_conn_idle_since(const struct h2_conn *c)
{
	return c->idle_since;
}

bool h2_conn_ready(const struct h2_conn *c)
{
	return c->handshaken && !c->dead;
}

bool h2_conn_usable(const struct h2_conn *c)
{
	return !c->dead && !c->goaway;
}

size_t h2_conn_streams(const struct h2_conn *c)
{
	return c->nstreams;
}

size_t h2_conn_peer_max_streams(const struct h2_conn *c)
{
	return c->h2 ? nghttp2_session_get_remote_settings(c->h2,
							   NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS)
		     : 0;
}

bool h2_conn_peer_extended_connect(const struct h2_conn *c)
{
	if (!c->h2)
		return false;
	return !c->peer_settings ||
	       nghttp2_session_get_remote_settings(c->h2, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL);
}

int64_t h2_conn_peer_goaway(const struct h2_conn *c)
{
	return c->peer_goaway;
}

const char *h2_conn_peer_identity(const struct h2_conn *c)
{
	if (c->identity)
		return c->identity;
	return c->tls && c->handshaken ? tls_conn_peer_identity(c->tls) : NULL;
}

struct loop *h2_conn_loop(const struct h2_conn *c)
{
	return c->loop;
}

void *h2_conn_arg(const struct h2_conn *c)
{
	return c->arg;
}
