// SPDX-License-Identifier: Apache-2.0
/*
 * The byte-stream interface in memory (transport.h), for the fuzz targets and tests: the
 * caller plays the peer, handing input in and taking output out, and every event still
 * arrives from the loop as a socket's would (a loop task), so the engine above runs exactly
 * its socket code paths without a socket.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "transport.h"

#define MEM_CAP (64u << 20)

struct mem {
	struct transport t;
	struct loop *loop;
	struct loop_task task;
	struct buf in, out;
	int err;	 /* to report: a connect failure or a reset */
	bool connecting; /* a connector's, until its task runs */
	bool eof_in, eof_told, paused, shut, closed, reset, failed, drain_due;
};

static struct mem *mem_of(struct transport *t)
{
	return (struct mem *)t;
}

static void mem_task(struct loop_task *task)
{
	struct mem *m = (struct mem *)((char *)task - offsetof(struct mem, task));

	if (m->closed || m->failed)
		return;
	if (m->connecting) {
		m->connecting = false;
		if (!m->err) {
			if (m->t.cbs->on_open)
				m->t.cbs->on_open(m->t.arg);
			if (m->closed)
				return;
		}
	}
	if (m->err) {
		m->failed = true;
		m->t.cbs->on_error(m->t.arg, m->err);
		return;
	}
	while (m->in.len && !m->paused) {
		size_t n = m->in.len, took = m->t.cbs->on_data(m->t.arg, buf_head(&m->in), n);

		if (m->closed)
			return;
		buf_consume(&m->in, took);
		if (took < n)
			m->paused = true;
	}
	if (!m->in.len && m->eof_in && !m->eof_told && !m->paused) {
		m->eof_told = true;
		if (m->t.cbs->on_eof)
			m->t.cbs->on_eof(m->t.arg);
		if (m->closed)
			return;
	}
	if (m->drain_due && !m->out.len) {
		m->drain_due = false;
		if (m->t.cbs->on_drain)
			m->t.cbs->on_drain(m->t.arg);
	}
}

static int mem_write(struct transport *t, const char *data, size_t len)
{
	struct mem *m = mem_of(t);
	char *p;

	if (m->closed || m->shut || m->failed)
		return -EPIPE;
	p = buf_reserve(&m->out, len, MEM_CAP);
	if (!p)
		return -ENOMEM;
	memcpy(p, data, len);
	m->out.len += len;
	if (m->out.len >= TRANSPORT_HIGH_WATER)
		m->drain_due = true;
	return 0;
}

static size_t mem_queued(const struct transport *t)
{
	return ((const struct mem *)t)->out.len;
}

static void mem_shutdown(struct transport *t)
{
	mem_of(t)->shut = true;
}

static void mem_pause(struct transport *t)
{
	mem_of(t)->paused = true;
}

static void mem_resume(struct transport *t)
{
	struct mem *m = mem_of(t);

	m->paused = false;
	loop_queue(m->loop, &m->task);
}

static void mem_close(struct transport *t, bool reset)
{
	struct mem *m = mem_of(t);

	if (m->closed)
		return;
	m->closed = true;
	m->reset = reset;
	m->t.cbs = NULL;
}

static const struct transport_impl mem_impl = {
    .write = mem_write,
    .queued = mem_queued,
    .shutdown = mem_shutdown,
    .pause = mem_pause,
    .resume = mem_resume,
    .close = mem_close,
};

struct transport *transport_mem_new(struct loop *l, const struct transport_peer *peer)
{
	struct mem *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->t.impl = &mem_impl;
	m->loop = l;
	m->task.fn = mem_task;
	if (peer && transport_peer_copy(&m->t.peer, peer)) {
		free(m);
		errno = ENOMEM;
		return NULL;
	}
	return &m->t;
}

int transport_mem_input(struct transport *t, const char *data, size_t len)
{
	struct mem *m = mem_of(t);
	char *p;

	if (m->closed || m->failed || m->eof_in)
		return -EPIPE;
	if (!data) {
		m->eof_in = true;
	} else {
		p = buf_reserve(&m->in, len, MEM_CAP);
		if (!p)
			return -ENOMEM;
		memcpy(p, data, len);
		m->in.len += len;
	}
	loop_queue(m->loop, &m->task);
	return 0;
}

const char *transport_mem_output(struct transport *t, size_t *len)
{
	struct mem *m = mem_of(t);

	*len = m->out.len;
	return buf_head(&m->out);
}

void transport_mem_take(struct transport *t, size_t n)
{
	struct mem *m = mem_of(t);

	buf_consume(&m->out, n < m->out.len ? n : m->out.len);
	if (m->drain_due && !m->out.len)
		loop_queue(m->loop, &m->task);
}

bool transport_mem_shut(const struct transport *t)
{
	const struct mem *m = (const struct mem *)t;

	return m->shut || m->closed;
}

bool transport_mem_closed(const struct transport *t, bool *reset)
{
	const struct mem *m = (const struct mem *)t;

	if (reset)
		*reset = m->reset;
	return m->closed;
}

void transport_mem_reset(struct transport *t)
{
	struct mem *m = mem_of(t);

	if (m->closed || m->failed)
		return;
	m->err = -ECONNRESET;
	loop_queue(m->loop, &m->task);
}

void transport_mem_free(struct transport *t)
{
	struct mem *m = (struct mem *)t;

	if (!m)
		return;
	/* A task still queued would run on freed memory: only closed transports are freed. */
	if (m->task.queued)
		m->t.cbs = NULL, m->closed = true;
	buf_free(&m->in);
	buf_free(&m->out);
	transport_peer_clear(&m->t.peer);
	loop_defer_free(m->loop, m, free);
}

/* ---- the memory connector ---- */

struct mem_connector {
	struct connector c;
	struct loop *loop;
	int (*open_fn)(void *arg, struct transport *t, const union sockaddr_inet *dst);
	void *arg;
};

static struct transport *mem_open(struct connector *cn, const union sockaddr_inet *dst,
				  const char *identity, unsigned int timeout_ms,
				  const struct transport_cbs *cbs, void *arg)
{
	struct mem_connector *mc = (struct mem_connector *)cn;
	struct transport *t = transport_mem_new(mc->loop, NULL);
	struct mem *m;

	if (!t)
		return NULL;
	m = mem_of(t);
	m->t.cbs = cbs;
	m->t.arg = arg;
	m->t.peer.local = *dst;
	m->connecting = true;
	m->err = mc->open_fn(mc->arg, t, dst);
	loop_queue(mc->loop, &m->task);
	return t;
}

static void mem_connector_destroy(struct connector *cn)
{
	free(cn);
}

static const struct connector_impl mem_connector_impl = {mem_open, mem_connector_destroy};

struct connector *connector_mem_new(struct loop *l,
				    int (*open_fn)(void *arg, struct transport *t,
						   const union sockaddr_inet *dst),
				    void *arg)
{
	struct mem_connector *mc = calloc(1, sizeof(*mc));

	if (!mc)
		return NULL;
	mc->c.impl = &mem_connector_impl;
	mc->loop = l;
	mc->open_fn = open_fn;
	mc->arg = arg;
	return &mc->c;
}
