/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One epoll event loop per worker thread. Objects embed a struct loop_handler and register
 * their fds with it; everything registered on a loop is touched only by that loop's thread
 * (shared-nothing), except loop_stop. Objects closed while a batch of events is being handled
 * are freed after the batch (loop_defer_free), so a later event of the same batch never touches
 * freed memory.
 *
 * With AMBIT_IO_URING=1, where the kernel has io_uring with its epoll wait (Linux 6.15), the
 * loop waits through it: the sends its owners queued during a batch (loop_send) go to the kernel
 * in the same system call as the wait for the next batch, and the sockets it reads for them
 * (loop_add_rx) come with the wake-up, not one call each. Otherwise (the default, no io_uring, a
 * seccomp profile that refuses it) the same sends are made with send() just before epoll_wait
 * and loop_recv is recv(): the owners see one behaviour either way.
 */
#ifndef AMBIT_NET_LOOP_H
#define AMBIT_NET_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct loop;
struct loop_handler;

typedef void (*loop_fn)(struct loop_handler *h, uint32_t events);

struct loop_rx;

struct loop_handler {
	loop_fn fn;
	bool dead;	    /* set by the owner when closing: pending events are dropped */
	struct loop_rx *rx; /* the loop's: loop_add_rx's input, or NULL */
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
/*
 * loop_add for a stream socket whose input the loop reads itself: with io_uring, a multishot
 * recv into the loop's buffers brings the bytes with the wake-up (no epoll readiness and no
 * recv() a crossing); the owner is called with EPOLLIN as with loop_add and takes them with
 * loop_recv, and asks for them and stops with EPOLLIN in loop_mod as before (what arrives
 * meanwhile is held, up to a bound, then the socket holds the rest). Without io_uring it is
 * loop_add, and loop_recv is recv(). The owner ends it with loop_del_handler.
 */
int loop_add_rx(struct loop *l, int fd, uint32_t events, struct loop_handler *h);
/*
 * Reads up to @len bytes of @h's input (@fd's, when the loop does not read it): > 0, 0 at the
 * peer's end, -EAGAIN when nothing is there, or -errno. @drained (may be NULL): nothing more is
 * there now, a read right after would say EAGAIN (what comes later is a new EPOLLIN).
 */
ssize_t loop_recv(struct loop *l, struct loop_handler *h, int fd, void *buf, size_t len,
		  bool *drained);
/* loop_del for a registration of either kind: a loop_add_rx's reads end too. */
int loop_del_handler(struct loop *l, int fd, struct loop_handler *h);
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

/*
 * A send queued on the loop: made when the current batch is over, with what the owner's buffer
 * holds then (several writes of a batch leave in one send). The owner keeps the bytes until
 * done() and neither queues a second send for the fd nor closes it meanwhile (loop_send_cancel,
 * loop_send_now first). The socket is non-blocking: a full one is no wait, done() gets -EAGAIN
 * and the owner polls for EPOLLOUT.
 */
struct loop_send {
	int fd;
	/* The bytes to send now (borrowed until done); *len 0: nothing (done gets 0). */
	const void *(*data)(struct loop_send *s, size_t *len);
	/* How many went (perhaps fewer than asked), or -errno (-EAGAIN: the socket is full). */
	void (*done)(struct loop_send *s, long res);
	/* The loop's own: */
	struct loop_send *next;
	bool queued;
};

/* Queues @s (borrowed until done or cancelled); a no-op when it is queued already. */
void loop_send(struct loop *l, struct loop_send *s);
/* Unqueues @s; done is not called. A no-op when it is not queued. */
void loop_send_cancel(struct loop *l, struct loop_send *s);
/*
 * Makes @s's send now, with send(), when it is queued (the owner is about to close the socket
 * and what it queued must go first): returns what done would have got (done is not called), or
 * 0 when nothing was queued.
 */
long loop_send_now(struct loop *l, struct loop_send *s);
/* "io_uring" or "epoll": how the loop waits and sends (known after its first round). */
const char *loop_backend(const struct loop *l);

/* What a loop did so far (readable from any thread). */
struct loop_stats {
	uint64_t waits;	     /* system calls that waited: epoll_wait, or io_uring_enter */
	uint64_t wakes;	     /* of them, those that brought events */
	uint64_t sends;	     /* loop_send's sends made (loop_send_now's too) */
	uint64_t ring_sends; /* of them, submitted with a wait: no system call of their own */
	uint64_t ring_recvs; /* reads loop_add_rx's sockets brought through the ring */
};
void loop_stats(const struct loop *l, struct loop_stats *st);

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
