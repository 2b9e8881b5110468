/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One epoll event loop per worker thread. Objects embed a struct loop_handler and register
 * their fds with it; everything registered on a loop is touched only by that loop's thread
 * (shared-nothing), except loop_stop. Objects closed while a batch of events is being handled
 * are freed after the batch (loop_defer_free), so a later event of the same batch never touches
 * freed memory.
 */
#ifndef ZT_LOOP_H
#define ZT_LOOP_H

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
 * One round of loop_run: waits up to @timeout_ms (0 when tasks are queued) for events, handles
 * them, runs the tasks, the tick when due and the deferred frees. Returns the number of events
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

#endif
