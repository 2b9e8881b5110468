// SPDX-License-Identifier: Apache-2.0
/* The byte-stream interface's dispatch (transport.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "transport.h"

void transport_set_cbs(struct transport *t, const struct transport_cbs *cbs, void *arg)
{
	t->cbs = cbs;
	t->arg = arg;
}

int transport_write(struct transport *t, const char *data, size_t len)
{
	return len ? t->impl->write(t, data, len) : 0;
}

size_t transport_queued(const struct transport *t)
{
	return t->impl->queued(t);
}

void transport_shutdown(struct transport *t)
{
	t->impl->shutdown(t);
}

void transport_pause(struct transport *t)
{
	t->impl->pause(t);
}

void transport_resume(struct transport *t)
{
	t->impl->resume(t);
}

void transport_close(struct transport *t, bool reset)
{
	if (t)
		t->impl->close(t, reset);
}

bool transport_stale(const struct transport *t)
{
	return t->impl->stale && t->impl->stale(t);
}

const struct transport_peer *transport_peer(const struct transport *t)
{
	return &t->peer;
}

int transport_peer_copy(struct transport_peer *dst, const struct transport_peer *src)
{
	*dst = *src;
	dst->dest_host = src->dest_host ? strdup(src->dest_host) : NULL;
	dst->identity = src->identity ? strdup(src->identity) : NULL;
	dst->baggage = src->baggage ? strdup(src->baggage) : NULL;
	dst->sni = src->sni ? strdup(src->sni) : NULL;
	dst->tls_server = src->tls_server ? strdup(src->tls_server) : NULL;
	if ((src->dest_host && !dst->dest_host) || (src->identity && !dst->identity) ||
	    (src->baggage && !dst->baggage) || (src->sni && !dst->sni) ||
	    (src->tls_server && !dst->tls_server)) {
		transport_peer_clear(dst);
		return -ENOMEM;
	}
	return 0;
}

void transport_peer_clear(struct transport_peer *p)
{
	free(p->dest_host);
	free(p->identity);
	free(p->baggage);
	free(p->sni);
	free(p->tls_server);
	memset(p, 0, sizeof(*p));
}

struct transport *connector_open(struct connector *c, const union sockaddr_inet *dst,
				 const char *identity, unsigned int timeout_ms,
				 const struct transport_cbs *cbs, void *arg)
{
	return c->impl->open(c, dst, identity, timeout_ms, cbs, arg);
}

void connector_destroy(struct connector *c)
{
	if (c)
		c->impl->destroy(c);
}
