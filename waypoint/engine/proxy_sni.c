// SPDX-License-Identifier: Apache-2.0
/*
 * A gateway's TLS PASSTHROUGH listener (proxy_priv.h): the client's ClientHello is read, not
 * answered (tls_hello_sni), until its server name is known; then the connection, the
 * ClientHello included, is relayed as TCP (proxy_tcp.c) along the tls route that name
 * chooses. As Envoy's tls_inspector listener filter: at most TLS_HELLO_MAX bytes and
 * WP_HELLO_TIMEOUT_MS are waited for (its listener_filters_timeout), and a client that gives
 * up, or sends something else than a ClientHello, is routed without a name (a route whose
 * sniHosts is "*" still takes it) or closed when it sent nothing whole.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/log.h"
#include "proxy_priv.h"
#include "tls/tls.h"

/* Envoy's default listener_filters_timeout. */
#define WP_HELLO_TIMEOUT_MS 15000

struct hello {
	struct wp_engine *e;
	struct transport *t;
	struct buf in;
	struct loop_timer timer;
	bool done;
};

static void hello_free(void *arg)
{
	struct hello *h = arg;

	buf_free(&h->in);
	free(h);
}

static void hello_end(struct hello *h)
{
	h->done = true;
	loop_timer_cancel(h->e->loop, &h->timer);
	loop_defer_free(h->e->loop, h, hello_free);
}

/* Nothing to route: closed with a reset, as Envoy closes a connection no filter chain takes. */
static void hello_refuse(struct hello *h, const char *why)
{
	pr_debug("gateway: TLS passthrough connection closed: %s", why);
	transport_close(h->t, true);
	hello_end(h);
}

static size_t hl_data(void *arg, const char *data, size_t len)
{
	struct hello *h = arg;
	char sni[256];
	char *p;
	int r;

	if (h->done)
		return len;
	p = buf_reserve(&h->in, len, TLS_HELLO_MAX + TRANSPORT_READ_MAX);
	if (!p) {
		hello_refuse(h, "out of memory, or a ClientHello too long");
		return len;
	}
	memcpy(p, data, len);
	h->in.len += len;
	r = tls_hello_sni(buf_head(&h->in), h->in.len, sni, sizeof(sni));
	if (r == -EAGAIN)
		return len;
	if (r == -ENOMEM) {
		hello_refuse(h, "out of memory");
		return len;
	}
	wp_tcp_serve(h->e, h->t, buf_head(&h->in), h->in.len, false, r == 1 ? sni : NULL);
	hello_end(h);
	return len;
}

static void hl_eof(void *arg)
{
	struct hello *h = arg;

	if (!h->done)
		hello_refuse(h, "the client closed before a whole ClientHello");
}

static void hl_error(void *arg, int err)
{
	struct hello *h = arg;

	if (!h->done)
		hello_refuse(h, "connection error");
}

static void hl_timeout(struct loop_timer *tm)
{
	struct hello *h = (struct hello *)((char *)tm - offsetof(struct hello, timer));

	if (!h->done)
		hello_refuse(h, "no whole ClientHello in time");
}

static const struct transport_cbs hello_cbs = {
    .on_data = hl_data,
    .on_eof = hl_eof,
    .on_error = hl_error,
};

int wp_sni_serve(struct wp_engine *e, struct transport *t)
{
	struct hello *h = calloc(1, sizeof(*h));

	if (!h) {
		transport_close(t, true);
		return -ENOMEM;
	}
	h->e = e;
	h->t = t;
	h->timer.fn = hl_timeout;
	transport_set_cbs(t, &hello_cbs, h);
	loop_timer_arm(e->loop, &h->timer, WP_HELLO_TIMEOUT_MS);
	return 0;
}
