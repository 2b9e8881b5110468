// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ambit/clock.h"
#include "ambit/log.h"
#include "lib/buf.h"
#include "loop.h"

#define MAX_EVENTS 64
/* IORING_OP_EPOLL_WAIT (Linux 6.15): newer than this system's headers, probed before use. */
#define URING_OP_EPOLL_WAIT 59
/* The user_data of the epoll wait; a send's is its struct loop_send (never 1: aligned). */
#define UD_EPOLL 1
/* A multishot recv's (its struct loop_rx, tagged), and a cancel's, which nobody waits for. */
#define UD_RX 2
#define UD_IGNORE 3
#define URING_ENTRIES 256
#define URING_CQ_ENTRIES 4096
/* The loop's receive buffers: each is copied out and given back as its completion is reaped. */
#define RX_BUFS 64
#define RX_BUF_SIZE (16u << 10)
#define RX_BGID 1
/* Input held for an owner before the loop stops reading its socket (the socket holds the rest). */
#define RX_CAP (256u << 10)

/* A socket the loop reads (loop_add_rx): what came, and the state of its multishot recv. */
struct loop_rx {
	struct loop_handler *h; /* NULL once its owner let go (loop_del_handler) */
	int fd;
	struct buf in; /* received, not yet taken */
	int err;       /* a failure to report once @in is taken */
	bool eof;      /* the peer's end, after @in */
	bool want;     /* the owner asks for input (EPOLLIN) */
	bool armed;    /* a multishot recv is in the kernel */
	bool cancelling, arm_queued, ready;
	uint32_t ep_events; /* what epoll watches for it (never EPOLLIN) */
	struct loop_rx *next_arm, *next_ready;
	struct loop_rx *prev_all, *next_all;
};

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
	/* Sends queued during the batch, in order (loop_send). */
	struct loop_send *sends, **sends_tail;
	/*
	 * io_uring: 0 not tried yet (the ring is made by the thread that runs the loop), 1 in use,
	 * -1 not (then epoll_wait and send). Its epoll wait writes @evs while it is armed.
	 */
	int uring;
	struct io_uring ring;
	pthread_t ring_thread;
	bool epoll_armed;
	struct epoll_event evs[MAX_EVENTS];
	struct loop_stats st; /* written by the loop's thread only, read by any */
	/* loop_add_rx's sockets: all, those to arm at the next wait, those with input to tell. */
	struct io_uring_buf_ring *br;
	char *rx_bufs;
	struct loop_rx *rx_all, *rx_arm, *rx_ready;
	unsigned int rx_cancels; /* cancels to submit: UD_IGNORE's, prepared at the next wait */
};

/* One more of a loop's counters (one writer: a plain store others may read whole). */
#define STAT_ADD(l, field, n)                                                                      \
	__atomic_store_n(&(l)->st.field, (l)->st.field + (n), __ATOMIC_RELAXED)

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
	l->sends_tail = &l->sends;
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
	/* The ring first: its epoll wait and its recvs may still be armed. */
	if (l->uring > 0)
		io_uring_queue_exit(&l->ring);
	while (l->rx_all) {
		struct loop_rx *rx = l->rx_all;

		l->rx_all = rx->next_all;
		if (rx->h)
			rx->h->rx = NULL;
		buf_free(&rx->in);
		free(rx);
	}
	free(l->br);
	free(l->rx_bufs);
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

static int rx_mod(struct loop *l, struct loop_rx *rx, uint32_t events);

int loop_mod(struct loop *l, int fd, uint32_t events, struct loop_handler *h)
{
	struct epoll_event ev = {.events = events, .data.ptr = h};

	if (h->rx)
		return rx_mod(l, h->rx, events);
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

	if (l->tasks || l->rx_ready)
		return 0;
	if (!l->ntimers)
		return timeout_ms;
	if (l->heap[0]->due_ms <= clock_mono_ms())
		return 0;
	left = l->heap[0]->due_ms - clock_mono_ms();
	return timeout_ms < 0 || left < (uint64_t)timeout_ms ? (int)left : timeout_ms;
}

/* ---- sockets the loop reads (loop_add_rx) ---- */

/* An SQE for the next wait: from the ring, or after submitting what fills it. */
static struct io_uring_sqe *sqe_get(struct loop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	if (!sqe) {
		io_uring_submit(&l->ring);
		sqe = io_uring_get_sqe(&l->ring);
	}
	return sqe;
}

static bool rx_usable(const struct loop *l)
{
	return l->uring > 0 && l->br && pthread_equal(l->ring_thread, pthread_self());
}

static void rx_arm(struct loop *l, struct loop_rx *rx)
{
	struct io_uring_sqe *sqe;

	if (rx->armed || !rx->h || rx->eof || rx->err || rx->in.len >= RX_CAP || !rx_usable(l))
		return;
	sqe = sqe_get(l);
	if (!sqe)
		return;
	io_uring_prep_recv_multishot(sqe, rx->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = RX_BGID;
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)rx | UD_RX);
	rx->armed = true;
}

static void rx_cancel(struct loop *l, struct loop_rx *rx)
{
	struct io_uring_sqe *sqe;

	if (!rx->armed || rx->cancelling || !rx_usable(l))
		return;
	sqe = sqe_get(l);
	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)rx | UD_RX, 0);
	io_uring_sqe_set_data64(sqe, UD_IGNORE);
	rx->cancelling = true;
}

/* Its owner is told (EPOLLIN) after the current batch's events. */
static void rx_tell(struct loop *l, struct loop_rx *rx)
{
	if (rx->ready || !rx->h || !rx->want || !(rx->in.len || rx->eof || rx->err))
		return;
	rx->ready = true;
	rx->next_ready = l->rx_ready;
	l->rx_ready = rx;
}

static void rx_free(struct loop *l, struct loop_rx *rx)
{
	if (rx->prev_all)
		rx->prev_all->next_all = rx->next_all;
	else
		l->rx_all = rx->next_all;
	if (rx->next_all)
		rx->next_all->prev_all = rx->prev_all;
	buf_free(&rx->in);
	free(rx);
}

/* Freed once nothing of the loop's refers to it: its owner gone, its recv ended, not listed. */
static void rx_maybe_free(struct loop *l, struct loop_rx *rx)
{
	if (!rx->h && !rx->armed && !rx->ready)
		rx_free(l, rx);
}

int loop_add_rx(struct loop *l, int fd, uint32_t events, struct loop_handler *h)
{
	struct loop_rx *rx;
	int err;

	h->rx = NULL;
	if (!rx_usable(l))
		return loop_add(l, fd, events, h);
	rx = calloc(1, sizeof(*rx));
	if (!rx)
		return -ENOMEM;
	err = loop_add(l, fd, events & ~(uint32_t)EPOLLIN, h);
	if (err) {
		free(rx);
		return err;
	}
	rx->h = h;
	rx->fd = fd;
	rx->ep_events = events & ~(uint32_t)EPOLLIN;
	rx->want = events & EPOLLIN;
	rx->next_all = l->rx_all;
	if (l->rx_all)
		l->rx_all->prev_all = rx;
	l->rx_all = rx;
	h->rx = rx;
	if (rx->want)
		rx_arm(l, rx);
	return 0;
}

static int rx_mod(struct loop *l, struct loop_rx *rx, uint32_t events)
{
	uint32_t ep = events & ~(uint32_t)EPOLLIN;

	rx->want = events & EPOLLIN;
	if (rx->want) {
		rx_tell(l, rx);
		rx_arm(l, rx);
	}
	if (ep != rx->ep_events) {
		struct epoll_event ev = {.events = ep, .data.ptr = rx->h};

		if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, rx->fd, &ev))
			return -errno;
		rx->ep_events = ep;
	}
	return 0;
}

int loop_del_handler(struct loop *l, int fd, struct loop_handler *h)
{
	struct loop_rx *rx = h->rx;

	if (rx) {
		h->rx = NULL;
		rx->h = NULL;
		/* Its recv holds the socket: cancelled before the owner's close() can end it. */
		rx_cancel(l, rx);
		rx_maybe_free(l, rx);
	}
	return loop_del(l, fd);
}

ssize_t loop_recv(struct loop *l, struct loop_handler *h, int fd, void *buf, size_t len,
		  bool *drained)
{
	struct loop_rx *rx = h->rx;
	ssize_t n;

	if (!rx) {
		do
			n = recv(fd, buf, len, 0);
		while (n < 0 && errno == EINTR);
		if (drained)
			*drained = n >= 0 && (size_t)n < len;
		return n < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : n;
	}
	if (rx->in.len) {
		n = (ssize_t)(len < rx->in.len ? len : rx->in.len);
		memcpy(buf, buf_head(&rx->in), (size_t)n);
		buf_consume(&rx->in, (size_t)n);
		/* Its end (or failure) is the next read's answer: not drained until it is read. */
		if (drained)
			*drained = !rx->in.len && !rx->eof && !rx->err;
		if (!rx->in.len)
			buf_free(&rx->in);
		/* Below the bound again: reading resumes. */
		if (rx->want)
			rx_arm(l, rx);
		return n;
	}
	if (drained)
		*drained = true;
	if (rx->err)
		return rx->err;
	return rx->eof ? 0 : -EAGAIN;
}

/* A multishot recv's completion: its bytes copied out, its buffer given back at once. */
static void rx_complete(struct loop *l, struct loop_rx *rx, int res, uint32_t flags)
{
	if (res > 0 && (flags & IORING_CQE_F_BUFFER)) {
		unsigned int bid = flags >> IORING_CQE_BUFFER_SHIFT;
		char *src = l->rx_bufs + (size_t)bid * RX_BUF_SIZE;

		STAT_ADD(l, ring_recvs, 1);
		if (rx->h) {
			char *p = buf_reserve(&rx->in, (size_t)res, RX_CAP + RX_BUF_SIZE * RX_BUFS);

			if (p) {
				memcpy(p, src, (size_t)res);
				rx->in.len += (size_t)res;
			} else {
				rx->err = -ENOMEM;
			}
		}
		io_uring_buf_ring_add(l->br, src, RX_BUF_SIZE, (unsigned short)bid,
				      io_uring_buf_ring_mask(RX_BUFS), 0);
		io_uring_buf_ring_advance(l->br, 1);
	} else if (res == 0) {
		rx->eof = true;
	} else if (res < 0 && res != -ENOBUFS && res != -ECANCELED && res != -EINTR) {
		rx->err = res;
	}
	if (!(flags & IORING_CQE_F_MORE)) {
		rx->armed = false;
		rx->cancelling = false;
	}
	if (!rx->h) {
		rx_maybe_free(l, rx);
		return;
	}
	if (rx->in.len >= RX_CAP)
		rx_cancel(l, rx);
	else if (!rx->armed && rx->want)
		rx_arm(l, rx); /* ended (its buffers ran out, or a cancel): again */
	rx_tell(l, rx);
}

/* The owners with input are told, as epoll would: EPOLLIN while they ask for it and it is there. */
static int rx_dispatch(struct loop *l)
{
	struct loop_rx *list = l->rx_ready;
	int n = 0;

	l->rx_ready = NULL;
	while (list) {
		struct loop_rx *rx = list;

		list = rx->next_ready;
		/* Still listed while its owner runs: an owner closing it does not free it. */
		if (rx->h && !rx->h->dead && rx->want) {
			rx->h->fn(rx->h, EPOLLIN);
			n++;
		}
		rx->ready = false;
		if (!rx->h) {
			rx_maybe_free(l, rx);
			continue;
		}
		/* Level-triggered, as epoll's EPOLLIN: what it left is told again next round. */
		if (!rx->h->dead)
			rx_tell(l, rx);
	}
	return n;
}

/* ---- queued sends ---- */

void loop_send(struct loop *l, struct loop_send *s)
{
	if (s->queued)
		return;
	s->queued = true;
	s->next = NULL;
	*l->sends_tail = s;
	l->sends_tail = &s->next;
}

void loop_send_cancel(struct loop *l, struct loop_send *s)
{
	struct loop_send **pp;

	if (!s->queued)
		return;
	for (pp = &l->sends; *pp && *pp != s; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = s->next;
	if (l->sends_tail == &s->next)
		l->sends_tail = pp;
	s->queued = false;
	s->next = NULL;
}

/* One send(), as io_uring makes it: the bytes sent or -errno. */
static long send_sync(struct loop_send *s)
{
	size_t len = 0;
	const void *p = s->data(s, &len);
	ssize_t n;

	if (!len)
		return 0;
	do
		n = send(s->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return n < 0 ? (errno == EWOULDBLOCK ? -EAGAIN : -errno) : n;
}

long loop_send_now(struct loop *l, struct loop_send *s)
{
	if (!s->queued)
		return 0;
	loop_send_cancel(l, s);
	STAT_ADD(l, sends, 1);
	return send_sync(s);
}

/* Takes the queue: the sends queued from now on wait for the next round. */
static struct loop_send *sends_take(struct loop *l)
{
	struct loop_send *list = l->sends;

	l->sends = NULL;
	l->sends_tail = &l->sends;
	return list;
}

/* Without io_uring: each queued send made with send(), before the wait. */
static void sends_flush_sync(struct loop *l)
{
	struct loop_send *s = sends_take(l);

	while (s) {
		struct loop_send *next = s->next;

		s->queued = false;
		s->next = NULL;
		STAT_ADD(l, sends, 1);
		s->done(s, send_sync(s));
		s = next;
	}
}

/*
 * Before epoll_wait: the queued sends, and what their owners queued in answer (a sent record
 * frees room; bytes delivered to a pod give the peer window back, a WINDOW_UPDATE to send), so
 * that no round is spent on a zero-timeout wait only to send it. Bounded: an owner whose socket
 * is full waits for EPOLLOUT and queues nothing.
 */
static void sends_flush(struct loop *l)
{
	for (int pass = 0; pass < 4 && l->sends; pass++) {
		sends_flush_sync(l);
		run_tasks(l);
	}
}

/* ---- the wait: io_uring's epoll wait with the sends, or epoll_wait ---- */

/* The receive buffers, registered as a provided-buffer ring (liburing 2.3 has no helper). */
static void rx_ring_setup(struct loop *l)
{
	struct io_uring_buf_reg reg = {0};
	size_t ring_size = RX_BUFS * sizeof(struct io_uring_buf);
	void *mem;

	if (posix_memalign(&mem, 4096, ring_size))
		return;
	memset(mem, 0, ring_size);
	l->rx_bufs = malloc((size_t)RX_BUFS * RX_BUF_SIZE);
	reg.ring_addr = (uint64_t)(uintptr_t)mem;
	reg.ring_entries = RX_BUFS;
	reg.bgid = RX_BGID;
	if (!l->rx_bufs || io_uring_register_buf_ring(&l->ring, &reg, 0)) {
		pr_debug("loop: no provided buffers: the sockets are read with recv()");
		free(l->rx_bufs);
		l->rx_bufs = NULL;
		free(mem);
		return;
	}
	l->br = mem;
	io_uring_buf_ring_init(l->br);
	for (unsigned int i = 0; i < RX_BUFS; i++)
		io_uring_buf_ring_add(l->br, l->rx_bufs + (size_t)i * RX_BUF_SIZE, RX_BUF_SIZE,
				      (unsigned short)i, io_uring_buf_ring_mask(RX_BUFS), (int)i);
	io_uring_buf_ring_advance(l->br, RX_BUFS);
}

/* What AMBIT_IO_URING=1 got, said once a process (each loop decides alike). */
static void say_backend(bool ring, const char *why)
{
	static int said;

	if (__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
		return;
	if (ring)
		pr_info(
		    "event loops: io_uring (AMBIT_IO_URING=1): waits, sends and receives through "
		    "the ring");
	else
		pr_warn("event loops: epoll: AMBIT_IO_URING=1 asked for io_uring, but %s", why);
}

static void uring_setup(struct loop *l)
{
	struct io_uring_params p;
	struct io_uring_probe *probe;
	const char *env = getenv("AMBIT_IO_URING");
	int err;

	l->uring = -1;
	/*
	 * Asked for only (AMBIT_IO_URING=1): with a node's proxy on CPUs of its own it is ahead,
	 * on CPUs its peers share it is behind (bench/results/io-uring.md).
	 */
	if (!env || strcmp(env, "1") != 0)
		return;
	memset(&p, 0, sizeof(p));
	/* One thread submits and reaps: completions need no interrupt of the loop's thread. */
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	p.cq_entries = URING_CQ_ENTRIES;
	err = io_uring_queue_init_params(URING_ENTRIES, &l->ring, &p);
	if (err) {
		char why[96];

		snprintf(why, sizeof(why), "io_uring_setup failed: %s", strerror(-err));
		say_backend(false, why);
		return;
	}
	probe = io_uring_get_probe_ring(&l->ring);
	if (!probe || !io_uring_opcode_supported(probe, IORING_OP_SEND) ||
	    !io_uring_opcode_supported(probe, URING_OP_EPOLL_WAIT) ||
	    !(p.features & IORING_FEAT_EXT_ARG)) {
		say_backend(false, "the kernel's io_uring has no epoll wait (Linux < 6.15)");
		io_uring_free_probe(probe);
		io_uring_queue_exit(&l->ring);
		return;
	}
	io_uring_free_probe(probe);
	rx_ring_setup(l);
	l->ring_thread = pthread_self();
	l->uring = 1;
	say_backend(true, NULL);
}

/* A completion copied out of the ring, handled once the ring has moved on. */
struct uring_done {
	uint64_t ud;
	int res;
	uint32_t flags;
};

/* Reaps what completed: the number of events of the epoll wait when it was among them, else -1. */
static int uring_reap(struct loop *l, unsigned int *sends_left)
{
	int nev = -1;

	for (;;) {
		struct io_uring_cqe *cqes[64];
		struct uring_done done[64];
		unsigned int n = io_uring_peek_batch_cqe(&l->ring, cqes, 64);

		if (!n)
			return nev;
		for (unsigned int i = 0; i < n; i++) {
			done[i].ud = cqes[i]->user_data;
			done[i].res = cqes[i]->res;
			done[i].flags = cqes[i]->flags;
		}
		io_uring_cq_advance(&l->ring, n);
		for (unsigned int i = 0; i < n; i++) {
			struct loop_send *s;

			if (done[i].ud == UD_EPOLL) {
				l->epoll_armed = false;
				nev = done[i].res > 0 ? done[i].res : 0;
				if (done[i].res < 0 && done[i].res != -EINTR)
					pr_debug("loop: epoll wait: %s", strerror(-done[i].res));
				continue;
			}
			if (done[i].ud == UD_IGNORE)
				continue;
			if ((done[i].ud & 3) == UD_RX) {
				rx_complete(
				    l, (struct loop_rx *)(uintptr_t)(done[i].ud & ~(uint64_t)3),
				    done[i].res, done[i].flags);
				continue;
			}
			s = (struct loop_send *)(uintptr_t)done[i].ud;
			if (*sends_left)
				(*sends_left)--;
			s->done(s, done[i].res);
		}
	}
}

/*
 * One wait through the ring: the queued sends and (when it is not armed from before) the epoll
 * wait go in with one io_uring_enter that waits for the sends (non-blocking: they complete as
 * they are submitted) and the epoll wait, up to @timeout_ms. The events are in l->evs.
 */
static int uring_wait(struct loop *l, int timeout_ms)
{
	struct loop_send *s = sends_take(l);
	unsigned int sends = 0;
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	int nev, err;

	while (s) {
		struct loop_send *next = s->next;
		struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);
		size_t len = 0;
		const void *p;

		if (!sqe) {
			/* The ring is full: what is in it goes now. */
			io_uring_submit(&l->ring);
			continue;
		}
		s->queued = false;
		s->next = NULL;
		p = s->data(s, &len);
		if (len) {
			io_uring_prep_send(sqe, s->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		} else {
			/* Nothing to send after all: a no-op completes it, in order. */
			io_uring_prep_nop(sqe);
		}
		io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)s);
		sends++;
		s = next;
	}
	if (!l->epoll_armed) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

		if (!sqe) {
			io_uring_submit(&l->ring);
			sqe = io_uring_get_sqe(&l->ring);
		}
		io_uring_prep_rw(URING_OP_EPOLL_WAIT, sqe, l->epfd, l->evs, MAX_EVENTS, 0);
		io_uring_sqe_set_data64(sqe, UD_EPOLL);
		l->epoll_armed = true;
	}
	timeout_ms = wait_ms(l, timeout_ms);
	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
	}
	STAT_ADD(l, sends, sends);
	STAT_ADD(l, ring_sends, sends);
	STAT_ADD(l, waits, 1);
	err = io_uring_submit_and_wait_timeout(&l->ring, &cqe, sends + 1,
					       timeout_ms >= 0 ? &ts : NULL, NULL);
	if (err < 0 && err != -ETIME && err != -EINTR && err != -EAGAIN && err != -EBUSY)
		return err;
	nev = uring_reap(l, &sends);
	/*
	 * A send is never left in flight past the round (its owner may close the socket next):
	 * non-blocking, it completed as it was submitted, or does so now.
	 */
	while (sends) {
		STAT_ADD(l, waits, 1);
		err = io_uring_submit_and_wait(&l->ring, 1);
		if (err < 0 && err != -EINTR && err != -EAGAIN && err != -EBUSY)
			return err;
		err = uring_reap(l, &sends);
		if (err >= 0)
			nev = err;
	}
	return nev < 0 ? 0 : nev;
}

int loop_run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event local[MAX_EVENTS], *evs = local;
	time_t now;
	int n, nrx;

	if (!l->uring)
		uring_setup(l);
	if (l->uring > 0 && pthread_equal(l->ring_thread, pthread_self())) {
		n = uring_wait(l, timeout_ms);
		if (n < 0)
			return n;
		evs = l->evs;
	} else {
		/*
		 * Without the ring, or from a thread other than the ring's (an owner's last rounds
		 * after its worker stopped): epoll_wait, with its own events.
		 */
		sends_flush(l);
		STAT_ADD(l, waits, 1);
		n = epoll_wait(l->epfd, local, MAX_EVENTS, wait_ms(l, timeout_ms));
		if (n < 0)
			return errno == EINTR ? 0 : -errno;
	}
	l->now_ms = clock_mono_ms();
	/* What the loop read first, as a socket's input comes before its hang-up. */
	nrx = rx_dispatch(l);
	if (n > 0 || nrx > 0)
		STAT_ADD(l, wakes, 1);
	for (int i = 0; i < n; i++) {
		struct loop_handler *h = evs[i].data.ptr;

		if (!h->dead)
			h->fn(h, evs[i].events);
	}
	n += nrx;
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
	/*
	 * A loop that stops after this round (a drained ztunnel's worker) makes the sends its
	 * owners queued in it now, as a loop that goes on makes them with its next wait: the
	 * owners counted them as gone (a stream ended, its connection no longer open).
	 */
	if (l->stopping)
		sends_flush_sync(l);
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

void loop_stats(const struct loop *l, struct loop_stats *st)
{
	st->waits = __atomic_load_n(&l->st.waits, __ATOMIC_RELAXED);
	st->wakes = __atomic_load_n(&l->st.wakes, __ATOMIC_RELAXED);
	st->sends = __atomic_load_n(&l->st.sends, __ATOMIC_RELAXED);
	st->ring_sends = __atomic_load_n(&l->st.ring_sends, __ATOMIC_RELAXED);
	st->ring_recvs = __atomic_load_n(&l->st.ring_recvs, __ATOMIC_RELAXED);
}

const char *loop_backend(const struct loop *l)
{
	return l->uring > 0 ? "io_uring" : "epoll";
}
