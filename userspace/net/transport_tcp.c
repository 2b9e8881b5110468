// SPDX-License-Identifier: Apache-2.0
/*
 * The byte-stream interface over a TCP socket (transport.h): accepted downstream connections
 * and the plain TCP connector. One read of at most TRANSPORT_READ_MAX per readiness event
 * (level-triggered), input held while the owner does not take it, output queued and flushed on
 * EPOLLOUT. A graceful close flushes, half-closes, then reads and discards until the peer's
 * FIN or a linger deadline (a close() with unread input would send an RST that can destroy the
 * response still in flight: nginx's lingering close).
 *
 * transport_tls_new runs the same over TLS (tls.h, one-way, for HTTP clients): the handshake
 * first, then records in and out through the connection's OpenSSL state; input OpenSSL still
 * holds once the owner's buffer is full is read when the owner takes what it has.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/buf.h"
#include "sock.h"
#include "tls/tls.h"
#include "transport.h"

/* A hard cap on queued output: writers stop at TRANSPORT_HIGH_WATER long before this. */
#define OUT_CAP (64u << 20)
#define LINGER_MS 2000
/*
 * A write smaller than this, with nothing queued, is held until the end of the loop's batch and
 * sent with whatever else was written meanwhile (a response head and its body, pipelined
 * answers): one send instead of several. Larger writes go out at once.
 */
#define CORK_MAX (16u << 10)

struct tcp {
	struct transport t;
	struct loop *loop;
	struct loop_handler h;
	struct loop_task task;	 /* deliver held input, report a failure found by a call */
	struct loop_timer timer; /* connect deadline, then the linger of a graceful close */
	struct loop_task uncork; /* sends the writes held during this batch */
	int fd;
	struct tls_conn *tls; /* NULL: plain TCP */
	struct buf in, out;
	uint32_t events;
	int err; /* a failure to report from the task */
	bool connecting, paused, eof_seen, eof_told, shut_wanted, shut_done, failed;
	bool drain_wanted, closing, closed, lingering;
	bool handshaken; /* TLS: the handshake is done (always true for plain TCP) */
	bool corked;	 /* out holds this batch's small writes: no EPOLLOUT needed yet */
	bool outbound;	 /* opened by the connector (a client), not accepted */
	bool tls_more;	 /* TLS: the last read stopped at the cap; OpenSSL may hold more */
	bool delivering; /* in the owner's on_data: its bytes are still being read */
	bool tls_fresh;	 /* TLS: handshaken, nothing read since */
	bool accepted;	 /* counted in n_accepted */
};

static const struct transport_impl tcp_impl;
/* transport_tcp_accepted's count (atomic: every worker's). */
static size_t n_accepted;

static struct tcp *tcp_of(struct transport *t)
{
	return (struct tcp *)t;
}

static void set_events(struct tcp *c)
{
	uint32_t ev = 0;

	if (c->closed || c->failed)
		ev = 0;
	else if (c->connecting)
		ev = EPOLLOUT;
	else if (c->tls && !c->handshaken)
		ev = tls_conn_want_write(c->tls) ? EPOLLOUT : EPOLLIN;
	else {
		if ((!c->paused || c->lingering) && !c->eof_seen && c->in.len < TRANSPORT_READ_MAX)
			ev |= EPOLLIN;
		if ((c->out.len && !c->corked) || (c->tls && tls_conn_want_write(c->tls)))
			ev |= EPOLLOUT;
	}
	if (ev != c->events && loop_mod(c->loop, c->fd, ev, &c->h) == 0)
		c->events = ev;
}

static void tcp_free(void *p)
{
	struct tcp *c = p;

	if (c->accepted)
		__atomic_sub_fetch(&n_accepted, 1, __ATOMIC_RELAXED);
	tls_conn_destroy(c->tls);
	buf_free(&c->in);
	buf_free(&c->out);
	transport_peer_clear(&c->t.peer);
	free(c);
}

/* One event's reads: up to TRANSPORT_READ_MAX held; 0 at the peer's end, else > 0 or -errno. */
static ssize_t read_in(struct tcp *c)
{
	ssize_t total = 0;

	if (!c->tls)
		return buf_read_fd(&c->in, c->fd, TRANSPORT_READ_MAX);
	/*
	 * OpenSSL reads ahead: what it holds makes no socket event, so take it all now, or, when
	 * the buffer fills first, once the owner has taken some (deliver).
	 */
	c->tls_more = false;
	while (c->in.len < TRANSPORT_READ_MAX) {
		/* As buf_read_fd: the room the buffer has (16 KiB, from the cache, at first). */
		size_t room = c->in.cap - c->in.off - c->in.len;
		char *p;
		ssize_t n;

		if (room < 4096)
			room = c->in.cap ? c->in.cap : BLOCKCACHE_BUF_SIZE;
		if (room > TRANSPORT_READ_MAX - c->in.len)
			room = TRANSPORT_READ_MAX - c->in.len;
		p = buf_reserve(&c->in, room, TRANSPORT_READ_MAX);
		if (!p)
			return -ENOMEM;
		n = tls_conn_read(c->tls, p, room);
		if (n > 0) {
			c->tls_fresh = false;
			c->in.len += (size_t)n;
			total += n;
			/*
			 * The socket is empty and OpenSSL holds no record: another read would only
			 * say EAGAIN (a system call a request); more bytes make a socket event.
			 */
			if ((size_t)n < room && tls_conn_read_drained(c->tls))
				return total;
			continue;
		}
		if (n == -EAGAIN) {
			/*
			 * Handshaken and nothing sent since (a client slow to ask, a flood of
			 * handshakes held open): its record buffers wait in no memory.
			 */
			if (!total && c->tls_fresh)
				tls_conn_release_buffers(c->tls);
			c->tls_fresh = false;
			return total ? total : -EAGAIN;
		}
		c->tls_fresh = false;
		if (n == 0)
			c->eof_seen = true; /* close_notify: after what came before it */
		else if (!total)
			return n;
		return total ? total : 0;
	}
	c->tls_more = true;
	return total;
}

/* Sends @len bytes: >= 0 taken, -EAGAIN, or -errno. */
static ssize_t send_out(struct tcp *c, const char *data, size_t len)
{
	ssize_t n;

	if (!c->tls) {
		n = send(c->fd, data, len, MSG_NOSIGNAL);
		return n < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : n;
	}
	/* Records stay in OpenSSL's write buffer until flushed: all of them go out first. */
	n = tls_conn_flush(c->tls);
	if (n)
		return n;
	n = tls_conn_write(c->tls, data, len);
	if (n > 0) {
		int err = tls_conn_flush(c->tls);

		if (err && err != -EAGAIN)
			return err;
	}
	return n;
}

/* The end: the socket goes (with an RST when @reset), the object after the batch. */
static void finish(struct tcp *c, bool reset)
{
	c->closed = true;
	c->h.dead = true;
	loop_timer_cancel(c->loop, &c->timer);
	loop_del(c->loop, c->fd);
	if (reset)
		sock_close_reset(c->fd);
	else
		close(c->fd);
	c->fd = -1;
	loop_defer_free(c->loop, c, tcp_free);
}

static void fail(struct tcp *c, int err)
{
	if (c->failed || c->closed)
		return;
	c->failed = true;
	set_events(c);
	if (!c->closing && c->t.cbs && c->t.cbs->on_error)
		c->t.cbs->on_error(c->t.arg, err);
	else if (c->closing)
		finish(c, true);
}

/* Hands held input to the owner; EOF once everything before it was taken. */
static void deliver(struct tcp *c)
{
	while (!c->paused && !c->closed && !c->failed && !c->closing) {
		size_t n, took;

		/*
		 * Room again after a read that stopped at the cap: OpenSSL may hold the rest (the
		 * end of a body whose sender now waits for the answer), with no socket event to
		 * come.
		 */
		if (c->tls_more && !c->eof_seen && c->in.len < TRANSPORT_READ_MAX) {
			ssize_t r = read_in(c);

			if (r < 0 && r != -EAGAIN) {
				fail(c, (int)r);
				return;
			}
		}
		n = c->in.len;
		if (!n)
			break;
		c->delivering = true;
		took = c->t.cbs->on_data(c->t.arg, buf_head(&c->in), n);
		c->delivering = false;
		if (c->closed || c->closing)
			return;
		buf_consume(&c->in, took);
		if (took < n)
			c->paused = true;
	}
	if (c->closed || c->failed || c->closing)
		return;
	/* Nothing held: the buffer goes back to the thread's cache (an idle connection holds none).
	 */
	if (!c->in.len && !c->tls_more)
		buf_free(&c->in);
	if (!c->in.len && c->eof_seen && !c->eof_told && !c->paused) {
		c->eof_told = true;
		if (c->t.cbs->on_eof)
			c->t.cbs->on_eof(c->t.arg);
		if (c->closed || c->closing)
			return;
	}
	set_events(c);
}

/* Our side is done sending: close_notify first over TLS, then the FIN. */
static void half_close(struct tcp *c)
{
	c->shut_done = true;
	if (c->tls)
		tls_conn_shutdown(c->tls);
	shutdown(c->fd, SHUT_WR);
}

static void flush(struct tcp *c)
{
	while (c->out.len) {
		ssize_t n = send_out(c, buf_head(&c->out), c->out.len);

		if (n < 0) {
			if (n == -EINTR)
				continue;
			if (n != -EAGAIN)
				fail(c, (int)n);
			return;
		}
		buf_consume(&c->out, (size_t)n);
	}
	buf_free(&c->out);
	if (c->tls && tls_conn_flush(c->tls) == -EAGAIN) {
		set_events(c); /* the last records: EPOLLOUT brings us back */
		return;
	}
	if (c->shut_wanted && !c->shut_done)
		half_close(c);
	if (c->closing && !c->lingering) {
		/* Half-closed: wait for the peer's FIN (or the linger deadline), discarding. */
		c->lingering = true;
		if (!c->shut_done)
			half_close(c);
		/*
		 * Only a server lingers: a client's peer answered what it asked and has nothing
		 * more to say, so its FIN need not be awaited (nor outlive the loop at shutdown).
		 */
		if (c->outbound || c->eof_seen || loop_timer_arm(c->loop, &c->timer, LINGER_MS))
			finish(c, false);
		return;
	}
	if (c->drain_wanted && !c->closing) {
		c->drain_wanted = false;
		if (c->t.cbs->on_drain)
			c->t.cbs->on_drain(c->t.arg);
	}
}

static void on_event(struct loop_handler *h, uint32_t events)
{
	struct tcp *c = (struct tcp *)((char *)h - offsetof(struct tcp, h));
	ssize_t n;

	if (c->connecting) {
		int err = 0;
		socklen_t sl = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) || err) {
			fail(c, -(err ? err : errno));
			return;
		}
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		c->connecting = false;
		events |= EPOLLOUT;
		/* TLS origination: open once the handshake is done (the deadline covers it). */
		if (!c->tls) {
			loop_timer_cancel(c->loop, &c->timer);
			if (c->t.cbs->on_open)
				c->t.cbs->on_open(c->t.arg);
			if (c->closed || c->failed)
				return;
		}
	}
	if (c->tls && !c->handshaken && !c->lingering) {
		int err = tls_conn_handshake(c->tls);

		if (err == -EAGAIN) {
			set_events(c);
			return;
		}
		if (err) {
			fail(c, -EPROTO);
			return;
		}
		c->handshaken = true;
		c->tls_fresh = !c->outbound;
		if (c->outbound) {
			loop_timer_cancel(c->loop, &c->timer);
			if (c->t.cbs->on_open)
				c->t.cbs->on_open(c->t.arg);
			if (c->closed || c->failed)
				return;
		}
		/* Known before any byte of the stream: what serves it copies the peer then. */
		if (tls_conn_sni(c->tls) && !c->t.peer.sni)
			c->t.peer.sni = strdup(tls_conn_sni(c->tls));
		if (tls_conn_server(c->tls) && !c->t.peer.tls_server)
			c->t.peer.tls_server = strdup(tls_conn_server(c->tls));
		events |= EPOLLIN | (c->out.len ? EPOLLOUT : 0);
	}
	if (events & (EPOLLOUT | EPOLLERR)) {
		flush(c);
		if (c->closed || c->failed)
			return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		if (c->lingering) {
			char sink[4096];

			n = recv(c->fd, sink, sizeof(sink), 0);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				finish(c, false);
			return;
		}
		if (c->eof_seen || c->in.len >= TRANSPORT_READ_MAX)
			goto out;
		n = read_in(c);
		if (n == 0)
			c->eof_seen = true;
		else if (n < 0 && n != -EAGAIN) {
			fail(c, (int)n);
			return;
		}
		deliver(c);
		return;
	}
out:
	set_events(c);
}

static void on_task(struct loop_task *task)
{
	struct tcp *c = (struct tcp *)((char *)task - offsetof(struct tcp, task));

	if (c->closed)
		return;
	if (c->err) {
		int err = c->err;

		c->err = 0;
		fail(c, err);
		return;
	}
	deliver(c);
}

static void on_uncork(struct loop_task *task)
{
	struct tcp *c = (struct tcp *)((char *)task - offsetof(struct tcp, uncork));

	if (c->closed || !c->corked)
		return;
	c->corked = false;
	if (c->failed)
		return;
	flush(c);
	if (!c->closed && !c->failed)
		set_events(c);
}

static void on_timer(struct loop_timer *t)
{
	struct tcp *c = (struct tcp *)((char *)t - offsetof(struct tcp, timer));

	if (c->closing)
		finish(c, !c->lingering);
	else if (c->connecting || !c->handshaken)
		fail(c, -ETIMEDOUT);
}

/* A failure found inside a call of the owner's: reported from a task (transport.h). */
static void fail_later(struct tcp *c, int err)
{
	if (c->failed || c->err)
		return;
	c->err = err;
	loop_queue(c->loop, &c->task);
}

static int tcp_write(struct transport *t, const char *data, size_t len)
{
	struct tcp *c = tcp_of(t);
	char *p;

	if (c->failed || c->err || c->shut_wanted || c->closing)
		return -EPIPE;
	if (!c->connecting && c->handshaken && !c->out.len && len < CORK_MAX) {
		p = buf_reserve(&c->out, len, OUT_CAP);
		if (!p)
			return -ENOMEM;
		memcpy(p, data, len);
		c->out.len += len;
		c->corked = true;
		loop_queue(c->loop, &c->uncork);
		return 0;
	}
	/* Over TLS everything goes through the queue: records OpenSSL still holds need EPOLLOUT. */
	if (!c->connecting && !c->tls && !c->out.len) {
		ssize_t n = send_out(c, data, len);

		if (n < 0 && n != -EAGAIN && n != -EINTR) {
			fail_later(c, (int)n);
			return -EPIPE;
		}
		if (n > 0) {
			data += n;
			len -= (size_t)n;
		}
		if (!len)
			return 0;
	}
	p = buf_reserve(&c->out, len, OUT_CAP);
	if (!p)
		return -ENOMEM;
	memcpy(p, data, len);
	c->out.len += len;
	if (c->out.len >= TRANSPORT_HIGH_WATER)
		c->drain_wanted = true;
	set_events(c);
	return 0;
}

static size_t tcp_queued(const struct transport *t)
{
	return ((const struct tcp *)t)->out.len;
}

static void tcp_shutdown(struct transport *t)
{
	struct tcp *c = tcp_of(t);

	if (c->shut_wanted || c->failed)
		return;
	c->shut_wanted = true;
	if (!c->connecting && c->handshaken && !c->out.len)
		half_close(c);
}

static void tcp_pause(struct transport *t)
{
	struct tcp *c = tcp_of(t);

	c->paused = true;
	set_events(c);
}

static void tcp_resume(struct transport *t)
{
	struct tcp *c = tcp_of(t);

	if (!c->paused)
		return;
	c->paused = false;
	loop_queue(c->loop, &c->task);
}

/*
 * The socket is peeked, not read: what the loop has not seen yet counts. Over TLS a byte
 * waiting may be a session ticket as well as the peer's close_notify, so only the socket's own
 * end or error says stale there; over plain TCP any byte while idle is one nobody asked for.
 */
static bool tcp_stale(const struct transport *t)
{
	const struct tcp *c = (const struct tcp *)t;
	char b;
	ssize_t n;

	if (c->closed || c->closing || c->failed || c->err || c->eof_seen || c->shut_wanted ||
	    c->connecting || c->in.len)
		return true;
	n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0)
		return true;
	if (n < 0)
		return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
	return !c->tls;
}

static void tcp_close(struct transport *t, bool reset)
{
	struct tcp *c = tcp_of(t);

	if (c->closed || c->closing)
		return;
	c->t.cbs = NULL;
	/*
	 * Closed from within on_data, the owner's parser may still read what it was given
	 * (llhttp returns into it after the callback that answered): tcp_free frees it then.
	 */
	if (!c->delivering)
		buf_free(&c->in);
	if (reset || c->failed || c->connecting) {
		finish(c, reset || c->failed);
		return;
	}
	c->closing = true;
	loop_timer_cancel(c->loop, &c->timer);
	if (c->out.len && loop_timer_arm(c->loop, &c->timer, LINGER_MS)) {
		finish(c, true);
		return;
	}
	flush(c);
	if (!c->closed)
		set_events(c);
}

static const struct transport_impl tcp_impl = {
    .write = tcp_write,
    .queued = tcp_queued,
    .shutdown = tcp_shutdown,
    .pause = tcp_pause,
    .resume = tcp_resume,
    .close = tcp_close,
    .stale = tcp_stale,
};

static struct tcp *tcp_alloc(struct loop *l, int fd, bool connecting)
{
	struct tcp *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->t.impl = &tcp_impl;
	c->loop = l;
	c->fd = fd;
	c->h.fn = on_event;
	c->task.fn = on_task;
	c->uncork.fn = on_uncork;
	c->timer.fn = on_timer;
	c->connecting = connecting;
	c->handshaken = true;
	c->events = connecting ? EPOLLOUT : EPOLLIN;
	if (loop_add(l, fd, c->events, &c->h)) {
		free(c);
		return NULL;
	}
	return c;
}

struct transport *transport_tcp_new(struct loop *l, int fd, const struct transport_peer *peer)
{
	struct tcp *c = tcp_alloc(l, fd, false);

	if (!c || (peer && transport_peer_copy(&c->t.peer, peer))) {
		if (c) {
			loop_del(l, fd);
			free(c);
		}
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	c->accepted = true;
	__atomic_add_fetch(&n_accepted, 1, __ATOMIC_RELAXED);
	return &c->t;
}

size_t transport_tcp_accepted(void)
{
	return __atomic_load_n(&n_accepted, __ATOMIC_RELAXED);
}

struct transport *transport_tls_new(struct loop *l, int fd, struct tls_ctx *ctx,
				    const struct transport_peer *peer)
{
	struct transport *t = transport_tcp_new(l, fd, peer);
	struct tcp *c = t ? tcp_of(t) : NULL;

	if (!c)
		return NULL;
	c->tls = tls_conn_create(ctx, fd, NULL);
	if (!c->tls) {
		finish(c, true);
		errno = ENOMEM;
		return NULL;
	}
	c->handshaken = false;
	return t;
}

/* ---- the plain TCP connector ---- */

struct tcp_connector {
	struct connector c;
	struct loop *loop;
};

/* A connector's transport over socket @fd (taken: closed on failure). NULL + errno. */
static struct tcp *tcp_outbound(struct loop *l, int fd, const struct transport_cbs *cbs, void *arg)
{
	struct tcp *c = tcp_alloc(l, fd, true);

	if (!c) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	c->t.cbs = cbs;
	c->t.arg = arg;
	c->outbound = true;
	return c;
}

static struct transport *tcp_open(struct connector *cn, const union sockaddr_inet *dst,
				  const char *identity, unsigned int timeout_ms,
				  const struct transport_cbs *cbs, void *arg)
{
	struct tcp_connector *tc = (struct tcp_connector *)cn;
	int fd = sock_connect(dst, NULL), err = 0;
	struct tcp *c;

	if (fd == -EMFILE || fd == -ENFILE || fd == -ENOMEM || fd == -ENOBUFS) {
		errno = -fd;
		return NULL;
	}
	if (fd < 0) {
		/* Refused at once (unreachable network...): a connect failure like any other. */
		err = fd;
		fd = socket(dst->sa.sa_family == AF_INET6 ? AF_INET6 : AF_INET,
			    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return NULL;
	}
	c = tcp_outbound(tc->loop, fd, cbs, arg);
	if (!c)
		return NULL;
	/* The endpoint, for logs. */
	c->t.peer.local = *dst;
	if (err)
		fail_later(c, err);
	else if (timeout_ms && loop_timer_arm(tc->loop, &c->timer, timeout_ms))
		fail_later(c, -ENOMEM);
	return &c->t;
}

static void tcp_connector_destroy(struct connector *cn)
{
	free(cn);
}

static const struct connector_impl tcp_connector_impl = {tcp_open, tcp_connector_destroy};

/* ---- TLS origination ---- */

struct tls_connector {
	struct tcp_connector tc;
	struct connector *inner; /* borrowed: destinations in the mesh */
	struct tls_ctx *ctx;
	char *sni;
	char **sans;
	size_t n_sans;
};

static struct transport *origin_open(struct connector *cn, const union sockaddr_inet *dst,
				     const char *identity, unsigned int timeout_ms,
				     const struct transport_cbs *cbs, void *arg)
{
	struct tls_connector *x = (struct tls_connector *)cn;
	struct transport *t;
	struct tcp *c;

	/* A destination in the mesh is reached as always (HBONE: mutual TLS already). */
	if (identity)
		return connector_open(x->inner, dst, identity, timeout_ms, cbs, arg);
	/* No context (credentials that do not load): every open fails, none connects. */
	if (!x->ctx) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		c = fd < 0 ? NULL : tcp_outbound(x->tc.loop, fd, cbs, arg);
		if (!c)
			return NULL;
		fail_later(c, -EPROTO);
		return &c->t;
	}
	t = tcp_open(cn, dst, NULL, timeout_ms, cbs, arg);
	if (!t)
		return NULL;
	c = tcp_of(t);
	c->tls =
	    tls_conn_create_origin(x->ctx, c->fd, x->sni, (const char *const *)x->sans, x->n_sans);
	if (!c->tls)
		fail_later(c, -ENOMEM);
	c->handshaken = false;
	return t;
}

static void origin_destroy(struct connector *cn)
{
	struct tls_connector *x = (struct tls_connector *)cn;

	for (size_t i = 0; i < x->n_sans; i++)
		free(x->sans[i]);
	free(x->sans);
	free(x->sni);
	tls_ctx_put(x->ctx);
	free(x);
}

static const struct connector_impl origin_impl = {origin_open, origin_destroy};

struct connector *connector_tls_new(struct loop *l, struct connector *inner, struct tls_ctx *ctx,
				    const char *sni, const char *const *sans, size_t n_sans)
{
	struct tls_connector *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->tc.c.impl = &origin_impl;
	x->tc.loop = l;
	x->inner = inner;
	x->ctx = ctx ? tls_ctx_get(ctx) : NULL;
	x->sni = sni ? strdup(sni) : NULL;
	x->sans = calloc(n_sans + 1, sizeof(*x->sans));
	if ((sni && !x->sni) || !x->sans) {
		origin_destroy(&x->tc.c);
		return NULL;
	}
	for (; x->n_sans < n_sans; x->n_sans++)
		if (!(x->sans[x->n_sans] = strdup(sans[x->n_sans]))) {
			origin_destroy(&x->tc.c);
			return NULL;
		}
	return &x->tc.c;
}

struct connector *connector_tcp_new(struct loop *l)
{
	struct tcp_connector *tc = calloc(1, sizeof(*tc));

	if (!tc)
		return NULL;
	tc->c.impl = &tcp_connector_impl;
	tc->loop = l;
	return &tc->c;
}
