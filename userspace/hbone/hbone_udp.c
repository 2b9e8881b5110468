// SPDX-License-Identifier: Apache-2.0
/*
 * UDP over HBONE (hbone_udp.h): a flow is an in-process end (hbone_end_ops) of one CONNECT-UDP
 * stream, which reads the peer's capsules (capsule.h) and writes its own datagrams as DATAGRAM
 * capsules, dropping what would wait too long.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ambit/log.h"
#include "capsule.h"
#include "lib/buf.h"
#include "hbone.h"
#include "hbone_priv.h"
#include "hbone_udp.h"

#define PATH_PREFIX "/.well-known/masque/udp/"

struct hbone_udp {
	struct hbone_stream *s; /* NULL before the server's stream is known, and once it ended */
	const struct hbone_udp_ops *ops;
	void *arg;
	struct capsule_reader rd;
	struct buf early; /* capsules written before the stream took them */
	struct hbone_udp_stats st;
	int busy;   /* inside a callback of the owner's */
	bool freed; /* hbone_udp_free was called from one: freed on the way out */
	bool ended; /* the stream ended (closed told, or it was the owner's doing) */
	bool up;    /* the stream is established */
	bool client;
	int status; /* client: the CONNECT's answer, kept once the stream is gone */
};

/* ---- the path of RFC 9298's well-known template ---- */

/* A DNS name as a host: labels of letters, digits and '-', dots between, 253 bytes at most. */
static bool dns_name(const char *h)
{
	size_t n = strlen(h), label = 0;

	if (!n || n > 253)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (h[i] == '.') {
			if (!label)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)h[i]) || h[i] == '-') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

static bool host_ok(const char *h)
{
	unsigned char a[16];

	return inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1 || dns_name(h);
}

int hbone_udp_path(char *out, size_t cap, const char *host, uint16_t port)
{
	size_t n;
	int w;

	if (!port || !host_ok(host))
		return -EINVAL;
	w = snprintf(out, cap, "%s", PATH_PREFIX);
	if (w < 0 || (size_t)w >= cap)
		return -ENOSPC;
	n = (size_t)w;
	for (const char *c = host; *c; c++) {
		/* RFC 6570 §3.2.2: ':' is reserved, so an IPv6 address's colons are escaped. */
		w = snprintf(out + n, cap - n, *c == ':' ? "%%3A" : "%c", *c);
		if (w < 0 || (size_t)w >= cap - n)
			return -ENOSPC;
		n += (size_t)w;
	}
	w = snprintf(out + n, cap - n, "/%u/", port);
	if (w < 0 || (size_t)w >= cap - n)
		return -ENOSPC;
	return (int)(n + (size_t)w);
}

int hbone_udp_parse_path(const char *path, char *host, size_t cap, uint16_t *port)
{
	const char *p = path;
	size_t n = 0;
	unsigned long v = 0;

	if (!path || strncmp(p, PATH_PREFIX, strlen(PATH_PREFIX)) || !cap)
		return -EINVAL;
	p += strlen(PATH_PREFIX);
	for (; *p && *p != '/'; p++) {
		char c = *p;

		if (c == '%') {
			/* Only the escape an address's colon needs: nothing else is a host's. */
			if (p[1] != '3' || (p[2] != 'A' && p[2] != 'a'))
				return -EINVAL;
			c = ':';
			p += 2;
		}
		if (n + 1 >= cap)
			return -EINVAL;
		host[n++] = c;
	}
	host[n] = '\0';
	if (*p++ != '/' || !host_ok(host))
		return -EINVAL;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return -EINVAL;
	}
	/* The template ends with a slash; nothing may follow it (no query: RFC 9298 §2). */
	if (!v || strcmp(p, "/"))
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/* "host:port" or "[v6]:port" into its parts: 0 or -EINVAL. */
static int authority_split(const char *a, char *host, size_t cap, uint16_t *port)
{
	const char *colon, *h = a, *end;
	char *e;
	unsigned long v;

	if (*a == '[') {
		h = a + 1;
		end = strchr(h, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		colon = end + 1;
	} else {
		/* RFC 3986 §3.2.2: an IPv6 address is only ever written in brackets. */
		colon = strchr(a, ':');
		if (!colon || strchr(colon + 1, ':'))
			return -EINVAL;
		end = colon;
	}
	if ((size_t)(end - h) >= cap || !isdigit((unsigned char)colon[1]))
		return -EINVAL;
	v = strtoul(colon + 1, &e, 10);
	if (*e || !v || v > 65535)
		return -EINVAL;
	memcpy(host, h, (size_t)(end - h));
	host[end - h] = '\0';
	*port = (uint16_t)v;
	return 0;
}

/* Two hosts are one: the same address however written, or the same name in any case. */
static bool same_host(const char *a, const char *b)
{
	unsigned char x[16], y[16];

	if (inet_pton(AF_INET6, a, x) == 1)
		return inet_pton(AF_INET6, b, y) == 1 && !memcmp(x, y, 16);
	return !strcasecmp(a, b);
}

int hbone_udp_request(const struct h2_header *h, size_t n, const char *authority)
{
	const char *proto = h2_header_get(h, n, ":protocol");
	const char *scheme = h2_header_get(h, n, ":scheme");
	char host[256], ahost[256];
	uint16_t port, aport;

	if (!proto || strcmp(proto, "connect-udp"))
		return 501; /* an extended CONNECT of a protocol HBONE does not carry */
	if (!scheme || strcmp(scheme, "https") ||
	    hbone_udp_parse_path(h2_header_get(h, n, ":path"), host, sizeof(host), &port) ||
	    authority_split(authority, ahost, sizeof(ahost), &aport) || aport != port ||
	    !same_host(host, ahost))
		return 400;
	return 0;
}

/* ---- the flow: the stream's in-process end ---- */

static void flow_free(struct hbone_udp *f)
{
	capsule_reader_free(&f->rd);
	buf_free(&f->early);
	free(f);
}

/* The owner is told, once, that the flow ended (unless it is the one ending it). */
static void tell_closed(struct hbone_udp *f, const char *reason)
{
	if (f->ended)
		return;
	f->ended = true;
	f->up = false;
	if (f->freed)
		return;
	f->busy++;
	f->ops->closed(f->arg, f, reason);
	f->busy--;
}

/* After a call into the owner: the flow it freed meanwhile goes now. Returns true if it went. */
static bool settle(struct hbone_udp *f)
{
	if (!f->freed || f->busy)
		return false;
	flow_free(f);
	return true;
}

static void deliver(void *arg, const uint8_t *p, size_t len)
{
	struct hbone_udp *f = arg;

	if (f->freed || f->ended)
		return;
	f->st.received++;
	f->st.received_bytes += len;
	f->busy++;
	f->ops->datagram(f->arg, f, p, len);
	f->busy--;
}

static size_t udp_data(void *arg, struct hbone_stream *s, const uint8_t *p, size_t len)
{
	struct hbone_udp *f = arg;
	int rv;

	f->s = s;
	f->busy++;
	rv = capsule_read(&f->rd, p, len, deliver, f);
	f->st.other_ctx = f->rd.other_ctx;
	f->st.other_types = f->rd.other_types;
	f->busy--;
	if (rv && !f->freed && !f->ended) {
		pr_debug("hbone: CONNECT-UDP %s: %s", s->authority ? s->authority : "?",
			 rv == -EPROTO ? f->rd.why : "out of memory");
		/* RFC 9297 §3.3: a malformed capsule ends the stream. */
		hbone_stream_abort(s, rv == -EPROTO ? f->rd.why : "out of memory");
	}
	settle(f);
	/* All of it: what the owner did not want is UDP's to lose, not the window's to hold. */
	return len;
}

static void udp_eof(void *arg, struct hbone_stream *s)
{
	struct hbone_udp *f = arg;

	f->s = s;
	if (capsule_read_end(&f->rd)) {
		hbone_stream_abort(s, f->rd.why);
		return;
	}
	/* The peer ended its side: so does the flow (a datagram flow has no half-close). */
	hbone_stream_shutdown(s);
}

/* Writes what waits in @f->early: true when all of it went. */
static bool flush_early(struct hbone_udp *f)
{
	while (f->early.len) {
		ssize_t n = hbone_stream_write(f->s, buf_head(&f->early), f->early.len);

		if (n <= 0)
			return false;
		buf_consume(&f->early, (size_t)n);
	}
	return true;
}

static void udp_writable(void *arg, struct hbone_stream *s)
{
	struct hbone_udp *f = arg;

	f->s = s;
	if (f->ended)
		return;
	f->up = true;
	flush_early(f);
}

/* Server: the stream the accepted flow is the end of, known before any byte moves. */
static void udp_attached(void *arg, struct hbone_stream *s)
{
	struct hbone_udp *f = arg;

	f->s = s;
}

static void udp_closed(void *arg, struct hbone_stream *s, const char *reason, bool reset)
{
	struct hbone_udp *f = arg;

	(void)reset;
	if (f->client)
		f->status = hbone_stream_status(s);
	f->s = NULL;
	tell_closed(f, reason);
	settle(f);
}

static const struct hbone_end_ops udp_end_ops = {
    .data = udp_data,
    .eof = udp_eof,
    .writable = udp_writable,
    .closed = udp_closed,
    .attached = udp_attached,
};

static struct hbone_udp *flow_new(const struct hbone_udp_ops *ops, void *arg)
{
	struct hbone_udp *f = calloc(1, sizeof(*f));

	if (!f) {
		errno = ENOMEM;
		return NULL;
	}
	f->ops = ops;
	f->arg = arg;
	capsule_reader_init(&f->rd);
	return f;
}

struct hbone_udp *hbone_udp_open(struct hbone_pool *p, const struct hbone_target *t,
				 const struct hbone_udp_ops *ops, void *arg)
{
	struct hbone_udp *f;

	if (!t->udp_path) {
		errno = EINVAL;
		return NULL;
	}
	f = flow_new(ops, arg);
	if (!f)
		return NULL;
	f->client = true;
	f->s = hbone_pool_open_end(p, t, &udp_end_ops, f, NULL);
	if (!f->s) {
		int e = errno;

		flow_free(f);
		errno = e;
		return NULL;
	}
	return f;
}

struct hbone_udp *hbone_udp_accept(const struct hbone_request *req, struct hbone_upstream *up,
				   const struct hbone_udp_ops *ops, void *arg)
{
	struct hbone_udp *f;

	if (!req->udp) {
		errno = EINVAL;
		return NULL;
	}
	f = flow_new(ops, arg);
	if (!f)
		return NULL;
	/* Its stream comes with attached, once the server took the accept's answer. */
	up->end = &udp_end_ops;
	up->end_arg = f;
	return f;
}

int hbone_udp_send(struct hbone_udp *f, const void *p, size_t len)
{
	uint8_t hdr[CAPSULE_HDR_MAX];
	int hl = capsule_datagram_header(hdr, len);
	size_t need, queued;
	char *dst;

	if (hl < 0)
		return -EMSGSIZE;
	if (f->ended || f->freed)
		return -EPIPE;
	need = (size_t)hl + len;
	if (!f->up || f->early.len) {
		/* Before the answer (or behind what it has not taken yet): kept, within bounds. */
		size_t cap = f->up ? HBONE_UDP_QUEUE : HBONE_UDP_EARLY;

		if (f->early.len + need > cap || !(dst = buf_reserve(&f->early, need, cap))) {
			if (f->up)
				f->st.dropped_full++;
			else
				f->st.dropped_early++;
			return -ENOBUFS;
		}
		memcpy(dst, hdr, (size_t)hl);
		memcpy(dst + hl, p, len);
		f->early.len += need;
		f->st.sent++;
		f->st.sent_bytes += len;
		if (f->up)
			flush_early(f);
		return 0;
	}
	queued = hbone_stream_queued(f->s);
	/* One datagram always fits an empty queue, however large: a flow is never stuck. */
	if (queued && queued + need > HBONE_UDP_QUEUE) {
		f->st.dropped_full++;
		return -ENOBUFS;
	}
	/* The stream's buffer (HBONE_TCP_BUF) holds the whole queue and one more datagram. */
	if (hbone_stream_write(f->s, hdr, (size_t)hl) != hl ||
	    hbone_stream_write(f->s, p, len) != (ssize_t)len) {
		hbone_stream_abort(f->s, "cannot queue a datagram");
		return -EPIPE;
	}
	f->st.sent++;
	f->st.sent_bytes += len;
	return 0;
}

const struct hbone_udp_stats *hbone_udp_stats(const struct hbone_udp *f)
{
	return &f->st;
}

int hbone_udp_status(const struct hbone_udp *f)
{
	if (!f->client)
		return 0;
	return f->s ? hbone_stream_status(f->s) : f->status;
}

bool hbone_udp_established(const struct hbone_udp *f)
{
	return f->up;
}

void hbone_udp_free(struct hbone_udp *f)
{
	if (!f || f->freed)
		return;
	f->freed = true;
	if (f->s && !f->ended) {
		f->busy++;
		hbone_stream_abort(f->s, "flow closed");
		f->busy--;
	}
	settle(f);
}
