// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "ambit/clock.h"
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
	time_t last_tick;
	uint64_t now_ms;
	/* Armed timers: a binary min-heap on (due_ms, seq). */
	struct loop_timer **heap;
	size_t ntimers, cap;
	uint64_t seq;
};

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
	l->now_ms = clock_mono_ms();
	l->last_tick = (time_t)(l->now_ms / 1000);
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
	/* Their owners free the timers; they only stop being armed. */
	for (size_t i = 0; i < l->ntimers; i++)
		l->heap[i]->slot = 0;
	free(l->heap);
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

/* ---- timers ---- */

static bool timer_before(const struct loop_timer *a, const struct loop_timer *b)
{
	return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void heap_place(struct loop *l, size_t i, struct loop_timer *t)
{
	l->heap[i] = t;
	t->slot = i + 1;
}

/* Moves the timer at @i up, then down, to where the heap order wants it. */
static void heap_fix(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];

	while (i > 0 && timer_before(t, l->heap[(i - 1) / 2])) {
		heap_place(l, i, l->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= l->ntimers)
			break;
		if (c + 1 < l->ntimers && timer_before(l->heap[c + 1], l->heap[c]))
			c++;
		if (!timer_before(l->heap[c], t))
			break;
		heap_place(l, i, l->heap[c]);
		i = c;
	}
	heap_place(l, i, t);
}

static void heap_remove(struct loop *l, struct loop_timer *t)
{
	size_t i = t->slot - 1;
	struct loop_timer *last = l->heap[--l->ntimers];

	t->slot = 0;
	if (i == l->ntimers)
		return;
	heap_place(l, i, last);
	heap_fix(l, i);
}

int loop_timer_arm(struct loop *l, struct loop_timer *t, unsigned int ms)
{
	if (t->slot)
		heap_remove(l, t);
	if (l->ntimers == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct loop_timer **h = realloc(l->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		l->heap = h;
		l->cap = cap;
	}
	t->due_ms = l->now_ms + ms;
	t->seq = l->seq++;
	heap_place(l, l->ntimers++, t);
	heap_fix(l, l->ntimers - 1);
	return 0;
}

void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	if (t->slot)
		heap_remove(l, t);
}

/* The timers due by now, earliest first; one armed again by its callback waits for a later round.
 */
static void run_timers(struct loop *l)
{
	uint64_t seq_end = l->seq;

	while (l->ntimers && l->heap[0]->due_ms <= l->now_ms && l->heap[0]->seq < seq_end) {
		struct loop_timer *t = l->heap[0];

		heap_remove(l, t);
		t->fn(t);
	}
}

/* How long epoll may wait: @timeout_ms, or less for queued tasks or the earliest timer. */
static int wait_ms(const struct loop *l, int timeout_ms)
{
	uint64_t left;

	if (l->tasks)
		return 0;
	if (!l->ntimers)
		return timeout_ms;
	if (l->heap[0]->due_ms <= clock_mono_ms())
		return 0;
	left = l->heap[0]->due_ms - clock_mono_ms();
	return timeout_ms < 0 || left < (uint64_t)timeout_ms ? (int)left : timeout_ms;
}

int loop_run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[64];
	int n = epoll_wait(l->epfd, evs, 64, wait_ms(l, timeout_ms));
	time_t now;

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	l->now_ms = clock_mono_ms();
	for (int i = 0; i < n; i++) {
		struct loop_handler *h = evs[i].data.ptr;

		if (!h->dead)
			h->fn(h, evs[i].events);
	}
	run_tasks(l);
	if (l->ntimers && l->heap[0]->due_ms <= l->now_ms) {
		run_timers(l);
		run_tasks(l);
	}
	now = (time_t)(l->now_ms / 1000);
	if (now != l->last_tick) {
		l->last_tick = now;
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
	return (time_t)(l->now_ms / 1000);
}

uint64_t loop_now_ms(const struct loop *l)
{
	return l->now_ms;
}
