// SPDX-License-Identifier: Apache-2.0
/*
 * Pools of upstream HTTP/1 connections per endpoint, with Envoy's circuit breakers as Istio's
 * connectionPool sets them (http1_conn.h): a request counts against max_requests while it
 * lives; one that finds no idle connection waits in the pending queue (max_pending, counted
 * also while its connection is being opened, as Envoy counts it) for a new connection
 * (max_connections, counted per cluster across workers) or a freed one; beyond either limit it
 * overflows (-EBUSY: 503 UO). Idle connections close after idle_timeout_ms; a connection is
 * closed after max_requests_per_conn requests.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http1_pool_priv.h"

#define RETRY_MS 50

/* h1_pool_stale_dropped's count (atomic: every worker's pools). */
static uint64_t n_stale;

uint64_t h1_pool_stale_dropped(void)
{
	return __atomic_load_n(&n_stale, __ATOMIC_RELAXED);
}

bool h1_budget_take(uint32_t *counter, uint32_t max)
{
	uint32_t n = __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);

	if (max && n > max) {
		__atomic_sub_fetch(counter, 1, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

void h1_budget_give(uint32_t *counter)
{
	__atomic_sub_fetch(counter, 1, __ATOMIC_RELAXED);
}

int h1_pool_request_begin(struct h1_pool *p)
{
	return h1_budget_take(&p->b->requests, p->lim.max_requests) ? 0 : -EBUSY;
}

void h1_pool_request_done(struct h1_pool *p)
{
	h1_budget_give(&p->b->requests);
}

int h1_pool_retry_begin(struct h1_pool *p)
{
	return h1_budget_take(&p->b->retries, p->lim.max_retries) ? 0 : -EBUSY;
}

void h1_pool_retry_done(struct h1_pool *p)
{
	h1_budget_give(&p->b->retries);
}

static void pool_maybe_free(struct h1_pool *p)
{
	if (!p->destroying || p->conns)
		return;
	loop_timer_cancel(p->loop, &p->retry);
	for (struct h1_pool_host *h = p->hosts, *n; h; h = n) {
		n = h->next;
		free(h->identity);
		free(h);
	}
	p->hosts = NULL;
	/* The task may be queued: free after the batch. */
	loop_defer_free(p->loop, p, free);
}

/* Hands @w its outcome from the pool's task (never from inside the caller's call). */
static void make_ready(struct h1_pool *p, struct h1_pool_wait *w, struct h1_client *c, int err)
{
	w->conn = c;
	w->err = err;
	w->ready = true;
	w->next = p->ready;
	p->ready = w;
	loop_queue(p->loop, &p->task);
}

/* @w out of @h's queue, wherever it stands, and its place in the pending budget given back. */
static void unqueue(struct h1_pool_host *h, struct h1_pool_wait *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		h->wait_head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		h->wait_tail = w->prev;
	w->next = w->prev = NULL;
	w->queued = false;
	h->waiting--;
	h1_budget_give(&h->pool->b->pending);
}

static struct h1_pool_wait *pop_waiter(struct h1_pool_host *h)
{
	struct h1_pool_wait *w = h->wait_head;

	if (!w)
		return NULL;
	unqueue(h, w);
	return w;
}

static void client_free(void *ptr)
{
	struct h1_client *c = ptr;

	h1_parser_free(c->p);
	free(c);
}

static void unlist_idle(struct h1_client *c)
{
	if (!c->idle_listed)
		return;
	for (struct h1_client **pp = &c->host->idle; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	c->idle_listed = false;
	loop_timer_cancel(c->host->pool->loop, &c->idle);
}

static void open_for_waiters(struct h1_pool *p);

/* The connection goes: its capacity returns to the cluster. */
static void client_destroy(struct h1_client *c, bool reset)
{
	struct h1_pool_host *h = c->host;
	struct h1_pool *p = h->pool;

	if (c->dead && !c->t)
		return;
	unlist_idle(c);
	if (c->pprev)
		c->pprev->pnext = c->pnext;
	else
		p->clients = c->pnext;
	if (c->pnext)
		c->pnext->pprev = c->pprev;
	c->dead = true;
	transport_close(c->t, reset);
	c->t = NULL;
	if (!c->connected)
		h->opening--;
	h->conns--;
	p->conns--;
	h1_budget_give(&p->b->connections);
	loop_defer_free(p->loop, c, client_free);
	open_for_waiters(p);
	pool_maybe_free(p);
}

void h1_client_fail(struct h1_client *c, int err)
{
	const struct h1_client_ops *ops = c->busy ? c->ops : NULL;
	void *arg = c->arg;

	if (c->dead)
		return;
	c->dead = true;
	if (ops) {
		/* The exchange gives the connection back (h1_pool_put) from on_error. */
		ops->on_error(arg, err);
		return;
	}
	if (c->busy)
		return; /* handed, not bound yet: its holder finds it dead and gives it back */
	c->dead = false;
	client_destroy(c, true);
}

static void on_idle_timeout(struct loop_timer *t)
{
	struct h1_client *c = (struct h1_client *)((char *)t - offsetof(struct h1_client, idle));

	client_destroy(c, false);
}

static void park(struct h1_client *c)
{
	struct h1_pool_host *h = c->host;
	struct h1_pool_wait *w = pop_waiter(h);

	if (w) {
		c->busy = true;
		make_ready(h->pool, w, c, 0);
		return;
	}
	c->busy = false;
	c->ops = NULL;
	c->next = h->idle;
	h->idle = c;
	c->idle_listed = true;
	if (h->pool->lim.idle_timeout_ms)
		loop_timer_arm(h->pool->loop, &c->idle, h->pool->lim.idle_timeout_ms);
}

static void t_open(void *arg)
{
	struct h1_client *c = arg;
	struct h1_pool *p = c->host->pool;

	c->connected = true;
	c->host->opening--;
	if (p->destroying) {
		client_destroy(c, false);
		return;
	}
	park(c);
	open_for_waiters(p); /* a connect's place is free (H1_POOL_OPENING_MAX) */
}

static void t_drain(void *arg)
{
	struct h1_client *c = arg;

	if (c->busy && c->ops && c->ops->on_drain)
		c->ops->on_drain(c->arg);
}

static void t_error(void *arg, int err)
{
	struct h1_client *c = arg;
	struct h1_pool_host *h = c->host;
	struct h1_pool_wait *w;

	if (!c->connected) {
		/* A connect failure fails the request that waits longest for this endpoint. */
		w = pop_waiter(h);
		client_destroy(c, true);
		if (w)
			make_ready(h->pool, w, NULL, err);
		return;
	}
	h1_client_fail(c, err);
}

static const struct transport_cbs client_cbs = {
    .on_data = h1_client_t_data,
    .on_eof = h1_client_t_eof,
    .on_drain = t_drain,
    .on_open = t_open,
    .on_error = t_error,
};

/* Opens one more connection to @h when the cluster has room. */
static bool open_one(struct h1_pool_host *h)
{
	struct h1_pool *p = h->pool;
	union sockaddr_inet dst = h->dst;
	struct h1_client *c;

	if (!h1_budget_take(&p->b->connections, p->lim.max_connections))
		return false;
	c = calloc(1, sizeof(*c));
	if (c)
		c->p = h1_parser_new(false, &h1_client_parser_ops, c);
	if (c && c->p) {
		c->host = h;
		c->peer = h->dst;
		c->idle.fn = on_idle_timeout;
		c->t = connector_open(p->cn, &dst, h->identity, p->lim.connect_timeout_ms,
				      &client_cbs, c);
	}
	if (!c || !c->p || !c->t) {
		int err = errno ? -errno : -ENOMEM;
		struct h1_pool_wait *w = pop_waiter(h);

		if (c)
			h1_parser_free(c->p);
		free(c);
		h1_budget_give(&p->b->connections);
		if (w)
			make_ready(p, w, NULL, err);
		return true;
	}
	h->conns++;
	h->opening++;
	p->conns++;
	c->pnext = p->clients;
	if (p->clients)
		p->clients->pprev = c;
	p->clients = c;
	return true;
}

/* Waiters with no connection on its way get one when the cluster has room again. */
static void open_for_waiters(struct h1_pool *p)
{
	bool blocked = false;

	if (p->destroying)
		return;
	for (struct h1_pool_host *h = p->hosts; h; h = h->next) {
		size_t waiting = h->waiting;

		/*
		 * A burst of requests (thousands of clients at once) would open as many
		 * connections, the kernel's backlogs would drop their handshakes and every
		 * request would wait out SYN retransmits: a few connects at a time, each
		 * connection then serving the next waiter as soon as it answered.
		 */
		while (waiting > h->opening && h->opening < H1_POOL_OPENING_MAX) {
			if (!open_one(h)) {
				blocked = true;
				break;
			}
			waiting--;
		}
	}
	/* Another worker may free capacity: look again shortly while anyone waits for it. */
	if (blocked && !loop_timer_armed(&p->retry))
		loop_timer_arm(p->loop, &p->retry, RETRY_MS);
}

static void on_retry(struct loop_timer *t)
{
	open_for_waiters((struct h1_pool *)((char *)t - offsetof(struct h1_pool, retry)));
}

static void pool_task(struct loop_task *task)
{
	struct h1_pool *p = (struct h1_pool *)((char *)task - offsetof(struct h1_pool, task));

	while (p->ready) {
		struct h1_pool_wait *w = p->ready;

		p->ready = w->next;
		w->ready = false;
		if (w->conn) {
			w->conn->ops = NULL;
			w->on_ready(w, w->conn);
		} else {
			w->on_fail(w, w->err);
		}
	}
}

struct h1_pool *h1_pool_new(struct loop *l, struct connector *cn, const struct h1_pool_limits *lim,
			    struct h1_budget *budget)
{
	struct h1_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->loop = l;
	p->cn = cn;
	p->lim = *lim;
	p->b = budget;
	p->task.fn = pool_task;
	p->retry.fn = on_retry;
	return p;
}

void h1_pool_destroy(struct h1_pool *p)
{
	if (!p)
		return;
	p->destroying = true;
	loop_timer_cancel(p->loop, &p->retry);
	p->conns++; /* the hosts stay while they are walked */
	for (struct h1_pool_host *h = p->hosts; h; h = h->next) {
		struct h1_pool_wait *w;

		while (h->idle)
			client_destroy(h->idle, false);
		while ((w = pop_waiter(h)))
			make_ready(p, w, NULL, -ECANCELED);
	}
	/* Connections still opening have nobody waiting any more; busy ones close when put back. */
	for (struct h1_client *c = p->clients, *n; c; c = n) {
		n = c->pnext;
		if (!c->connected)
			client_destroy(c, true);
	}
	p->conns--;
	pool_maybe_free(p);
}

static struct h1_pool_host *host_of(struct h1_pool *p, const union sockaddr_inet *dst,
				    const char *identity)
{
	struct h1_pool_host *h;

	for (h = p->hosts; h; h = h->next)
		if (sockaddr_inet_equal(&h->dst, dst) &&
		    (!h->identity == !identity && (!identity || !strcmp(h->identity, identity))))
			return h;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	if (identity && !(h->identity = strdup(identity))) {
		free(h);
		return NULL;
	}
	h->pool = p;
	h->dst = *dst;
	h->next = p->hosts;
	p->hosts = h;
	return h;
}

int h1_pool_get(struct h1_pool *p, const union sockaddr_inet *dst, const char *identity,
		struct h1_pool_wait *w)
{
	struct h1_pool_host *h = host_of(p, dst, identity);
	struct h1_client *c;

	if (!h)
		return -ENOMEM;
	w->host = h;
	w->conn = NULL;
	w->queued = w->ready = false;
	/*
	 * The most recent idle connection first; one its server closed since the loop last
	 * looked (the FIN or RST has arrived, not yet read) would take the request to its grave:
	 * dropped, and the next one asked; for a request that can go again (retry_safe), only on
	 * what the loop has read.
	 */
	while (!w->fresh && (c = h->idle)) {
		unlist_idle(c);
		if (c->peer_eof || (!w->retry_safe && transport_stale(c->t))) {
			__atomic_add_fetch(&n_stale, 1, __ATOMIC_RELAXED);
			client_destroy(c, true);
			continue;
		}
		c->busy = true;
		make_ready(p, w, c, 0);
		return 0;
	}
	if (!h1_budget_take(&p->b->pending, p->lim.max_pending))
		return -EBUSY;
	w->queued = true;
	w->next = NULL;
	w->prev = h->wait_tail;
	if (h->wait_tail)
		h->wait_tail->next = w;
	else
		h->wait_head = w;
	h->wait_tail = w;
	h->waiting++;
	open_for_waiters(p);
	return 0;
}

void h1_pool_cancel(struct h1_pool_wait *w)
{
	struct h1_pool_host *h = w->host;

	if (w->queued) {
		unqueue(h, w);
	} else if (w->ready) {
		struct h1_pool *p = h->pool;

		for (struct h1_pool_wait **pp = &p->ready; *pp; pp = &(*pp)->next)
			if (*pp == w) {
				*pp = w->next;
				break;
			}
		w->ready = false;
		if (w->conn)
			h1_pool_put(w->conn, true, false);
	}
}

void h1_pool_put(struct h1_client *c, bool reuse, bool reset)
{
	struct h1_pool *p = c->host->pool;
	uint32_t per_conn = p->lim.max_requests_per_conn;

	if (c->dead) {
		client_destroy(c, true);
		return;
	}
	c->busy = false;
	c->ops = NULL;
	if (!reuse || reset || p->destroying || !c->req_done || !c->resp_done ||
	    !c->resp_keep_alive || c->tunnel || c->peer_eof || c->extra_bytes ||
	    (per_conn && c->requests >= per_conn)) {
		client_destroy(c, reset);
		return;
	}
	c->req_started = false;
	/*
	 * The response's head stays in the parser until the next response begins unless the
	 * exchange took it: a pool of idle connections would hold an arena block each.
	 */
	h1_parser_release(c->p);
	/*
	 * The exchange may have paused the input (backpressure from a slow client, which can come
	 * with the response's last bytes). Parked paused, the connection would never read the next
	 * request's answer, nor its server's close while idle: as http1_server.c's next_exchange
	 * does for a client's next request, the pooled connection reads again.
	 */
	transport_resume(c->t);
	park(c);
}

size_t h1_pool_size(const struct h1_pool *p, size_t *idle)
{
	size_t n = 0;

	for (const struct h1_pool_host *h = p->hosts; h; h = h->next)
		for (const struct h1_client *c = h->idle; c; c = c->next)
			n++;
	if (idle)
		*idle = n;
	return p->conns;
}
