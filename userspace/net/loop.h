/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One epoll event loop per worker thread. Objects embed a struct loop_handler and register
 * their fds with it; everything registered on a loop is touched only by that loop's thread
 * (shared-nothing), except loop_stop. Objects closed while a batch of events is being handled
 * are freed after the batch (loop_defer_free), so a later event of the same batch never touches
 * freed memory.
 */
#ifndef AMBIT_NET_LOOP_H
#define AMBIT_NET_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct loop;
struct loop_handler;

typedef void (*loop_fn)(struct loop_handler *h, uint32_t events);

struct loop_handler {
	loop_fn fn;
	bool dead; /* set by the owner when closing: pending events are dropped */
};

/* Per-loop work run after each batch of events (e.g. flushing HTTP/2 output). */
struct loop_task {
	void (*fn)(struct loop_task *t);
	struct loop_task *next;
	bool queued;
};

/* NULL + errno. */
struct loop *loop_create(void);
/* Accepts NULL. Does not free registered objects: their owners do. */
void loop_destroy(struct loop *l);
/* Registers @fd (borrowed) with @events for @h (borrowed: must outlive the registration). */
int loop_add(struct loop *l, int fd, uint32_t events, struct loop_handler *h);
int loop_mod(struct loop *l, int fd, uint32_t events, struct loop_handler *h);
int loop_del(struct loop *l, int fd);
/* Runs until loop_stop. 0 or -errno. */
int loop_run(struct loop *l);
/*
 * One round of loop_run: waits up to @timeout_ms (less when tasks are queued or a timer is due
 * sooner) for events, handles them, runs the tasks, the timers and the tick when due and the
 * deferred frees. Returns the number of events
 * handled, or -errno. For callers that step the loop themselves (tests, fuzz targets).
 */
int loop_run_once(struct loop *l, int timeout_ms);
/* Thread-safe and async-signal-safe. */
void loop_stop(struct loop *l);
/* Takes @ptr: freed with @free_fn after the current batch. */
void loop_defer_free(struct loop *l, void *ptr, void (*free_fn)(void *));
/* Queues @t (borrowed) to run once after the current batch; no-op if already queued. */
void loop_queue(struct loop *l, struct loop_task *t);

/* Periodic work: deadlines and sweeps, run about once a second from the loop thread. */
struct loop_tick {
	void (*fn)(struct loop_tick *t);
	struct loop_tick *next;
};

/* Registers @t (borrowed: must stay until loop_tick_del or the loop is destroyed). */
void loop_tick_add(struct loop *l, struct loop_tick *t);
/* Unregisters @t; a no-op if it is not registered. */
void loop_tick_del(struct loop *l, struct loop_tick *t);
/*
 * Monotonic seconds as of the current batch of events: what deadlines and idle times are
 * measured in (a clock read per batch, not per event).
 */
time_t loop_now(const struct loop *l);
/* The same clock in milliseconds. */
uint64_t loop_now_ms(const struct loop *l);

/*
 * A one-shot timer with millisecond resolution, embedded in its owner (no fd: a worker holding
 * 20,000 connections with a deadline each holds no timerfd for them). Timers due run after the
 * batch's events and tasks, earliest first (in arming order when due together); the loop waits
 * in epoll no longer than until the earliest. An owner cancels its timer before it is freed.
 */
struct loop_timer {
	void (*fn)(struct loop_timer *t);
	/* The loop's own: */
	uint64_t due_ms, seq;
	size_t slot; /* position in the loop's heap plus one; 0 while not armed */
};

/*
 * (Re)arms @t (borrowed until it fires or is cancelled) to fire @ms from the current batch's
 * clock. 0, or -ENOMEM (then @t is not armed).
 */
int loop_timer_arm(struct loop *l, struct loop_timer *t, unsigned int ms);
/* Disarms @t; a no-op when it is not armed. */
void loop_timer_cancel(struct loop *l, struct loop_timer *t);
static inline bool loop_timer_armed(const struct loop_timer *t)
{
	return t->slot != 0;
}

#endif
