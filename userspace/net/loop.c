// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

struct deferred {
	void *ptr;
	void (*free_fn)(void *);
	struct deferred *next;
};

struct loop {
	int epfd;
	int stopfd;
	struct loop_handler stop_h;
	volatile int stopping;
	struct deferred *deferred;
	struct loop_task *tasks;
	struct loop_tick *ticks;
	time_t now, last_tick;
};

static time_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void on_stop(struct loop_handler *h, uint32_t events)
{
}

struct loop *loop_create(void)
{
	struct loop *l = calloc(1, sizeof(*l));
	int err;

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->epfd < 0 || l->stopfd < 0)
		goto fail;
	l->stop_h.fn = on_stop;
	l->now = l->last_tick = mono_s();
	if (loop_add(l, l->stopfd, EPOLLIN, &l->stop_h))
		goto fail;
	return l;
fail:
	err = errno;
	loop_destroy(l);
	errno = err;
	return NULL;
}

static void run_deferred(struct loop *l)
{
	while (l->deferred) {
		struct deferred *d = l->deferred;

		l->deferred = d->next;
		d->free_fn(d->ptr);
		free(d);
	}
}

void loop_destroy(struct loop *l)
{
	if (!l)
		return;
	run_deferred(l);
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->stopfd >= 0)
		close(l->stopfd);
	free(l);
}

int loop_add(struct loop *l, int fd, uint32_t events, struct loop_handler *h)
{
	struct epoll_event ev = {.events = events, .data.ptr = h};

	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

int loop_mod(struct loop *l, int fd, uint32_t events, struct loop_handler *h)
{
	struct epoll_event ev = {.events = events, .data.ptr = h};

	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) ? -errno : 0;
}

int loop_del(struct loop *l, int fd)
{
	return epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) ? -errno : 0;
}

void loop_defer_free(struct loop *l, void *ptr, void (*free_fn)(void *))
{
	struct deferred *d = malloc(sizeof(*d));

	if (!d) {
		/* Cannot defer: leaking one object beats a use-after-free. */
		return;
	}
	d->ptr = ptr;
	d->free_fn = free_fn;
	d->next = l->deferred;
	l->deferred = d;
}

void loop_queue(struct loop *l, struct loop_task *t)
{
	if (t->queued)
		return;
	t->queued = true;
	t->next = l->tasks;
	l->tasks = t;
}

static void run_tasks(struct loop *l)
{
	/* Tasks may queue more tasks (or themselves again): drain until quiet. */
	for (int round = 0; l->tasks && round < 64; round++) {
		struct loop_task *t = l->tasks;

		l->tasks = NULL;
		while (t) {
			struct loop_task *next = t->next;

			t->queued = false;
			t->fn(t);
			t = next;
		}
	}
}

int loop_run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[64];
	int n = epoll_wait(l->epfd, evs, 64, l->tasks ? 0 : timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	l->now = mono_s();
	for (int i = 0; i < n; i++) {
		struct loop_handler *h = evs[i].data.ptr;

		if (!h->dead)
			h->fn(h, evs[i].events);
	}
	run_tasks(l);
	if (l->now != l->last_tick) {
		l->last_tick = l->now;
		for (struct loop_tick *t = l->ticks, *next; t; t = next) {
			next = t->next; /* a tick may unregister itself */
			t->fn(t);
		}
		run_tasks(l);
	}
	run_deferred(l);
	return n;
}

int loop_run(struct loop *l)
{
	while (!l->stopping) {
		int err = loop_run_once(l, 1000);

		if (err < 0)
			return err;
	}
	return 0;
}

void loop_stop(struct loop *l)
{
	uint64_t one = 1;

	l->stopping = 1;
	if (write(l->stopfd, &one, sizeof(one)) < 0) {
		/* The counter is saturated: a wakeup is already pending. */
	}
}

void loop_tick_add(struct loop *l, struct loop_tick *t)
{
	t->next = l->ticks;
	l->ticks = t;
}

void loop_tick_del(struct loop *l, struct loop_tick *t)
{
	for (struct loop_tick **pp = &l->ticks; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			return;
		}
	}
}

time_t loop_now(const struct loop *l)
{
	return l->now;
}
