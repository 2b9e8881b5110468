// SPDX-License-Identifier: Apache-2.0
/*
 * The accept loop of a worker's listeners (15001, 15006, 15008). Every accepted connection is
 * admitted into its listener's budget first (guard.h: caps in all and per source IP), so a
 * flood is refused with a reset before it costs more than an accept.
 *
 * When accept() fails for want of a file descriptor (EMFILE, ENFILE, or the kernel's ENOBUFS
 * and ENOMEM) the connection stays in the queue and the listener stays readable: a
 * level-triggered loop would call accept() again at once, forever (one ztunnel spun at full CPU
 * writing 9.5 million identical warnings in 30 s). So the worker closes the descriptor it keeps
 * in reserve, accepts the oldest connection with it and resets it (that client learns at once,
 * instead of waiting in a queue nobody serves), reopens the reserve, and takes the listener out
 * of its loop for a pause that doubles while the shortage lasts (50 ms to 1 s), as libev and
 * nginx do. Meanwhile the connections it holds keep being served, and close, which gives fds
 * back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ambit/log.h"
#include "proxy_priv.h"
#include "net/sock.h"

#define PAUSE_MIN_MS 50
#define PAUSE_MAX_MS 1000

static const char *const listener_names[L__COUNT] = {"15001 (outbound)", "15006 (inbound)",
						     "15008 (HBONE)"};

static unsigned long fd_limit(void)
{
	struct rlimit rl;

	return getrlimit(RLIMIT_NOFILE, &rl) ? 0 : (unsigned long)rl.rlim_cur;
}

/* Resets the oldest queued connection with the reserve fd (see the top of this file). */
static void shed_one(struct zt_worker *w, struct listener *li)
{
	int fd;

	if (w->reserve_fd < 0)
		w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (w->reserve_fd < 0)
		return;
	close(w->reserve_fd);
	fd = accept4(li->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0) {
		sock_close_reset(fd);
		guard_count_refusal(li->kind, GUARD_FD_EXHAUSTED);
	}
	/* Another thread may take the fd first: then the next shortage tries again. */
	w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void listener_pause(struct listener *li, int err)
{
	if (li->paused)
		return;
	/* Without the timer the listener would never come back: keep spinning instead. */
	if (loop_timer_arm(li->w->loop, &li->resume, li->pause_ms))
		return;
	if (loop_del(li->w->loop, li->fd)) {
		loop_timer_cancel(li->w->loop, &li->resume);
		return;
	}
	li->paused = true;
	guard_count_accept_pause(li->kind);
	/* Identical while the shortage lasts at the longest pause: log.c folds the repeats. */
	pr_warn("accept on %s: %s: reset one queued connection, pausing this listener for %u ms "
		"(fd limit %lu)",
		listener_names[li->kind], strerror(err), li->pause_ms, fd_limit());
	li->pause_ms = li->pause_ms * 2 > PAUSE_MAX_MS ? PAUSE_MAX_MS : li->pause_ms * 2;
}

static void on_resume(struct loop_timer *t)
{
	struct listener *li = (struct listener *)((char *)t - offsetof(struct listener, resume));

	if (!li->paused)
		return;
	if (loop_add(li->w->loop, li->fd, EPOLLIN | EPOLLEXCLUSIVE, &li->h) == 0)
		li->paused = false;
	else
		listener_pause(li, errno);
}

/* A connection of @li: admitted, then handed to its path. */
static void accepted(struct listener *li, int fd, const union sockaddr_inet *peer)
{
	struct zt_worker *w = li->w;
	struct guard_slot slot;
	struct mesh_snap *zs;
	struct ipaddr src = zt_ip_of(peer);
	int one = 1;

	if (guard_admit(&slot, li->kind, &src) != GUARD_OK) {
		sock_close_reset(fd);
		return;
	}
	/*
	 * No Nagle on any leg: a proxy writes what it just received, and a small write held
	 * behind an unacknowledged one waits for the peer's delayed ACK (40 ms).
	 */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	zs = mesh_state_get(w->st);
	if (!zs) {
		/* Not ready: without a snapshot nothing can be decided safely. */
		close(fd);
		guard_release(&slot);
		return;
	}
	if (li->kind == L_OUTBOUND) {
		zt_outbound(w, fd, zs, &slot); /* keeps the reference while it holds the client */
	} else {
		if (li->kind == L_INBOUND)
			zt_inbound_plain(w, fd, zs, &slot);
		else
			zt_inbound_hbone(w, fd, zs, &slot);
		mesh_snap_put(zs);
	}
	/* The paths move the slot to whatever keeps the connection; a dropped one gives it back. */
	guard_release(&slot);
}

static void on_listen(struct loop_handler *h, uint32_t events)
{
	struct listener *li = (struct listener *)((char *)h - offsetof(struct listener, h));

	/* Bounded batch: EPOLLEXCLUSIVE wakes one worker; leave the rest to the others. */
	for (int n = 0; n < 32; n++) {
		union sockaddr_inet peer = {};
		socklen_t sl = sizeof(peer);
		int fd = accept4(li->fd, &peer.sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			int err = errno;

			if (err == EAGAIN || err == EWOULDBLOCK)
				return;
			/* The client left while queued: nothing to do, and nothing wrong. */
			if (err == EINTR || err == ECONNABORTED)
				continue;
			if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
				shed_one(li->w, li);
				listener_pause(li, err);
				return;
			}
			pr_warn("accept on %s: %s", listener_names[li->kind], strerror(err));
			return;
		}
		li->pause_ms = PAUSE_MIN_MS;
		accepted(li, fd, &peer);
	}
}

int zt_listener_add(struct zt_worker *w, struct listener *li, int kind, int fd)
{
	li->h.fn = on_listen;
	li->h.dead = false;
	li->resume.fn = on_resume;
	li->w = w;
	li->kind = kind;
	li->fd = fd;
	li->paused = false;
	li->pause_ms = PAUSE_MIN_MS;
	if (li->fd < 0)
		return 0;
	return loop_add(w->loop, li->fd, EPOLLIN | EPOLLEXCLUSIVE, &li->h);
}

void zt_listener_remove(struct zt_worker *w, struct listener *li)
{
	loop_timer_cancel(w->loop, &li->resume);
	/* A paused listener is out of the loop already. */
	if (li->fd >= 0 && !li->paused)
		loop_del(w->loop, li->fd);
	li->paused = false; /* on_resume: nothing to bring back */
	li->fd = -1;
}

int zt_listeners_start(struct zt_worker *w, const int fds[L__COUNT], const int fds6[L__COUNT])
{
	w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (w->reserve_fd < 0)
		return -errno;
	for (int i = 0; i < L__COUNT; i++) {
		int err = zt_listener_add(w, &w->ls[i], i, fds[i]);

		if (!err)
			err = zt_listener_add(w, &w->ls6[i], i, fds6[i]);
		if (err)
			return err;
	}
	return 0;
}

void zt_listeners_drop(struct zt_worker *w)
{
	for (int i = 0; i < L__COUNT; i++) {
		zt_listener_remove(w, &w->ls[i]);
		zt_listener_remove(w, &w->ls6[i]);
	}
}

void zt_listeners_stop(struct zt_worker *w)
{
	for (int i = 0; i < L__COUNT; i++) {
		loop_timer_cancel(w->loop, &w->ls[i].resume);
		loop_timer_cancel(w->loop, &w->ls6[i].resume);
	}
	if (w->reserve_fd >= 0)
		close(w->reserve_fd);
	w->reserve_fd = -1;
}
