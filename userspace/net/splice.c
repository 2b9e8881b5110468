// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "connrec.h"
#include "splice.h"

struct splice;

struct side {
	struct loop_handler h;
	struct splice *sp;
	int fd;
	uint32_t events;
	bool eof;      /* read EOF from this socket */
	bool shut;     /* shutdown(SHUT_WR) done on this socket */
	struct buf in; /* read from this socket, to be written to the other */
};

struct splice {
	struct side s[2]; /* 0: client, 1: server */
	struct loop *loop;
	struct splice_set *set;
	struct splice *next, *prev;
	bool connecting, done, moved; /* moved: a byte went either way since connected */
	time_t since;		      /* started, then connected */
	time_t last_io;
	struct connrec *rec;
	struct guard_slot slot;
};

struct splice_set {
	struct loop *loop;
	struct loop_tick tick;
	struct splice_limits lim;
	struct splice *head;
	size_t n;
};

void splice_limits_default(struct splice_limits *lim)
{
	lim->connect_s = 10;
	lim->first_byte_s = 60;
	lim->idle_s = 3600;
}

static void splice_free(void *p)
{
	struct splice *sp = p;

	buf_free(&sp->s[0].in);
	buf_free(&sp->s[1].in);
	free(sp);
}

static void splice_end(struct splice *sp, const char *reason, bool reset)
{
	struct splice_set *set = sp->set;

	if (sp->done)
		return;
	sp->done = true;
	if (sp->prev)
		sp->prev->next = sp->next;
	else
		set->head = sp->next;
	if (sp->next)
		sp->next->prev = sp->prev;
	set->n--;
	for (int i = 0; i < 2; i++) {
		struct side *s = &sp->s[i];

		s->h.dead = true;
		loop_del(sp->loop, s->fd);
		if (reset) {
			struct linger lg = {.l_onoff = 1, .l_linger = 0};

			setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		close(s->fd);
	}
	connrec_close(sp->rec, reason);
	guard_release(&sp->slot);
	loop_defer_free(sp->loop, sp, splice_free);
}

/* connrec abort hook: a policy change revoked the connection; both sides see a reset. */
static void splice_abort(void *arg, const char *reason)
{
	splice_end(arg, reason, true);
}

static void update(struct side *s)
{
	struct splice *sp = s->sp;
	struct side *o = &sp->s[s == &sp->s[0]];
	uint32_t ev = 0;

	if (sp->connecting) {
		ev = s == &sp->s[1] ? EPOLLOUT : 0;
	} else {
		if (!s->eof && s->in.len < SPLICE_BUF)
			ev |= EPOLLIN;
		if (o->in.len)
			ev |= EPOLLOUT;
	}
	if (ev != s->events && loop_mod(sp->loop, s->fd, ev, &s->h) == 0)
		s->events = ev;
}

/* Writes what the other side read into @dst. false when the splice ended. */
static bool flush_to(struct side *dst)
{
	struct splice *sp = dst->sp;
	struct side *src = &sp->s[dst == &sp->s[0]];

	while (src->in.len) {
		ssize_t n = send(dst->fd, buf_head(&src->in), src->in.len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			splice_end(sp, "write failed", true);
			return false;
		}
		buf_consume(&src->in, (size_t)n);
		sp->moved = true;
		sp->last_io = loop_now(sp->loop);
		connrec_bytes(sp->rec, src == &sp->s[0], (size_t)n);
	}
	if (!src->in.len && src->eof && !dst->shut) {
		shutdown(dst->fd, SHUT_WR);
		dst->shut = true;
	}
	return true;
}

static bool fill(struct side *s)
{
	bool drained = false;

	/* Until a short read (the socket is empty: the next read would say EAGAIN), or full. */
	while (!s->eof && !drained && s->in.len < SPLICE_BUF) {
		ssize_t n = buf_read_fd_drained(&s->in, s->fd, SPLICE_BUF, &drained);

		if (n == -EAGAIN)
			break;
		if (n < 0) {
			splice_end(s->sp,
				   n == -ENOMEM	      ? "out of memory"
				   : n == -ECONNRESET ? "reset"
						      : "read failed",
				   true);
			return false;
		}
		if (n == 0)
			s->eof = true;
	}
	return true;
}

static void on_io(struct loop_handler *h, uint32_t events)
{
	struct side *s = (struct side *)((char *)h - offsetof(struct side, h));
	struct splice *sp = s->sp;
	struct side *o = &sp->s[s == &sp->s[0]];

	if (sp->connecting && s == &sp->s[0]) {
		/* The client went away (reset) before the upstream was up. */
		if (events & (EPOLLERR | EPOLLHUP))
			splice_end(sp, "client reset", true);
		return;
	}
	if (sp->connecting) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr) {
			splice_end(sp, "upstream connect failed", true);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		sp->connecting = false;
		sp->since = sp->last_io = loop_now(sp->loop);
		update(o);
	}
	if (events & EPOLLERR) {
		splice_end(sp, "socket error", true);
		return;
	}
	if ((events & (EPOLLIN | EPOLLHUP)) && !(fill(s) && flush_to(o)))
		return;
	if ((events & EPOLLOUT) && !flush_to(s))
		return;
	if ((events & EPOLLHUP) && !s->shut) {
		splice_end(sp, "reset", true);
		return;
	}
	if (s->eof && o->eof && s->shut && o->shut) {
		splice_end(sp, "eof", false);
		return;
	}
	update(s);
	update(o);
}

/* A splice past a deadline is reset; one quiet since the last tick gives back its buffers. */
static void splice_sweep(struct loop_tick *t)
{
	struct splice_set *set =
	    (struct splice_set *)((char *)t - offsetof(struct splice_set, tick));
	time_t now = loop_now(set->loop);
	struct splice *sp, *next;

	for (sp = set->head; sp; sp = next) {
		const char *why = NULL;
		enum guard_timeout kind = GUARD_T_IDLE;

		next = sp->next;
		if (sp->connecting && set->lim.connect_s &&
		    now - sp->since >= (time_t)set->lim.connect_s) {
			why = "upstream connect timed out";
			kind = GUARD_T_CONNECT;
		} else if (!sp->connecting && !sp->moved && set->lim.first_byte_s &&
			   now - sp->since >= (time_t)set->lim.first_byte_s) {
			why = "no byte either way";
			kind = GUARD_T_FIRST_BYTE;
		} else if (!sp->connecting && set->lim.idle_s &&
			   now - sp->last_io >= (time_t)set->lim.idle_s) {
			why = "idle timeout";
		}
		if (why) {
			if (sp->slot.held)
				guard_count_timeout(sp->slot.listener, kind);
			splice_end(sp, why, true);
			continue;
		}
		for (int i = 0; i < 2; i++)
			if (!sp->s[i].in.len && sp->s[i].in.cap && now - sp->last_io >= 1)
				buf_free(&sp->s[i].in);
	}
}

struct splice_set *splice_set_create(struct loop *l, const struct splice_limits *lim)
{
	struct splice_set *set = calloc(1, sizeof(*set));

	if (!set)
		return NULL;
	set->loop = l;
	if (lim)
		set->lim = *lim;
	else
		splice_limits_default(&set->lim);
	set->tick.fn = splice_sweep;
	loop_tick_add(l, &set->tick);
	return set;
}

void splice_set_destroy(struct splice_set *set)
{
	if (!set)
		return;
	loop_tick_del(set->loop, &set->tick);
	while (set->head)
		splice_end(set->head, "ztunnel stopping", true);
	free(set);
}

size_t splice_set_size(const struct splice_set *set)
{
	return set ? set->n : 0;
}

int splice_start(struct splice_set *set, int client, int server, struct connrec *rec,
		 struct guard_slot *slot)
{
	struct loop *l = set->loop;
	struct splice *sp = calloc(1, sizeof(*sp));
	int err = -ENOMEM;

	if (!sp)
		goto fail;
	sp->loop = l;
	sp->set = set;
	sp->rec = rec;
	sp->connecting = true;
	sp->since = sp->last_io = loop_now(l);
	sp->s[0].fd = client;
	sp->s[1].fd = server;
	for (int i = 0; i < 2; i++) {
		sp->s[i].sp = sp;
		sp->s[i].h.fn = on_io;
	}
	sp->s[1].events = EPOLLOUT;
	err = loop_add(l, client, 0, &sp->s[0].h);
	if (err)
		goto fail;
	err = loop_add(l, server, EPOLLOUT, &sp->s[1].h);
	if (err) {
		loop_del(l, client);
		goto fail;
	}
	connrec_set_abort(rec, splice_abort, sp);
	if (slot)
		guard_slot_move(&sp->slot, slot);
	sp->next = set->head;
	if (set->head)
		set->head->prev = sp;
	set->head = sp;
	set->n++;
	return 0;
fail:
	free(sp);
	close(client);
	close(server);
	connrec_close(rec, "splice setup failed");
	guard_release(slot);
	return err;
}
