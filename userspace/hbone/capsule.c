// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capsule.h"

enum { CR_TYPE, CR_LEN, CR_CTX, CR_PAYLOAD, CR_SKIP, CR_FAILED };

/* The most a context ID can take (8 bytes) above the payload: the longest DATAGRAM capsule. */
#define DATAGRAM_MAX (CAPSULE_UDP_MAX + 8u)

size_t quic_varint_size(uint64_t v)
{
	if (v < (1u << 6))
		return 1;
	if (v < (1u << 14))
		return 2;
	if (v < (UINT64_C(1) << 30))
		return 4;
	return v <= QUIC_VARINT_MAX ? 8 : 0;
}

int quic_varint_put(uint8_t *out, size_t cap, uint64_t v)
{
	size_t n = quic_varint_size(v);

	if (!n)
		return -ERANGE;
	if (n > cap)
		return -ENOSPC;
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	/* The two top bits say the size: 00, 01, 10, 11 for 1, 2, 4, 8 bytes. */
	out[0] |= (uint8_t)((n == 1 ? 0 : n == 2 ? 1 : n == 4 ? 2 : 3) << 6);
	return (int)n;
}

size_t quic_varint_get(const uint8_t *p, size_t len, uint64_t *v)
{
	size_t n;

	if (!len)
		return 0;
	n = (size_t)1 << (p[0] >> 6);
	if (n > len)
		return 0;
	*v = p[0] & 0x3f;
	for (size_t i = 1; i < n; i++)
		*v = *v << 8 | p[i];
	return n;
}

int capsule_header(uint8_t *out, size_t cap, uint64_t type, uint64_t len)
{
	int a = quic_varint_put(out, cap, type), b;

	if (a < 0)
		return a;
	b = quic_varint_put(out + a, cap - (size_t)a, len);
	return b < 0 ? b : a + b;
}

int capsule_datagram_header(uint8_t hdr[CAPSULE_HDR_MAX], size_t len)
{
	int n;

	if (len > CAPSULE_UDP_MAX)
		return -EMSGSIZE;
	/* The value: context ID 0 (one byte), then the payload. */
	n = capsule_header(hdr, CAPSULE_HDR_MAX - 1, CAPSULE_DATAGRAM, (uint64_t)len + 1);
	if (n < 0)
		return n;
	hdr[n] = 0;
	return n + 1;
}

void capsule_reader_init(struct capsule_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void capsule_reader_free(struct capsule_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = r->have = 0;
}

__attribute__((format(printf, 2, 3))) static int fail(struct capsule_reader *r, const char *fmt,
						      ...)
{
	char what[96];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(r->why, sizeof(r->why), "capsule at byte %llu: %s", (unsigned long long)r->at,
		 what);
	r->state = CR_FAILED;
	return -EPROTO;
}

/* A varint that may span feeds: true with *@v, false when the feed ran out first. */
static bool take_varint(struct capsule_reader *r, const uint8_t **p, size_t *n, uint64_t *v)
{
	size_t k;

	if (!r->vlen && (k = quic_varint_get(*p, *n, v))) {
		*p += k;
		*n -= k;
		r->offset += k;
		return true;
	}
	while (*n) {
		r->vbuf[r->vlen++] = *(*p)++;
		(*n)--;
		r->offset++;
		if (r->vlen == (size_t)1 << (r->vbuf[0] >> 6)) {
			quic_varint_get(r->vbuf, r->vlen, v);
			r->vlen = 0;
			return true;
		}
	}
	return false;
}

/* The bytes of @r's value still to come: a payload or a skipped capsule done when none are. */
static void value_started(struct capsule_reader *r, int state, capsule_datagram_fn fn, void *arg)
{
	r->state = (uint8_t)state;
	r->have = 0;
	if (r->left)
		return;
	if (state == CR_PAYLOAD) {
		r->datagrams++;
		fn(arg, (const uint8_t *)"", 0);
	}
	r->state = CR_TYPE;
}

/* Payload bytes @p (@take of them): handed over in place when they are all of it. */
static int payload(struct capsule_reader *r, const uint8_t *p, size_t take, capsule_datagram_fn fn,
		   void *arg)
{
	if (!r->have && take == r->left) {
		r->datagrams++;
		fn(arg, p, take);
		r->left = 0;
		r->state = CR_TYPE;
		return 0;
	}
	if (!r->have && r->cap < r->left) {
		/* At most CAPSULE_UDP_MAX: a DATAGRAM longer was refused at its length. */
		uint8_t *grown = realloc(r->buf, r->left);

		if (!grown)
			return -ENOMEM;
		r->buf = grown;
		r->cap = r->left;
	}
	if (!r->have)
		r->want = r->left;
	memcpy(r->buf + r->have, p, take);
	r->have += take;
	r->left -= take;
	if (!r->left) {
		r->datagrams++;
		fn(arg, r->buf, r->want);
		r->have = 0;
		r->state = CR_TYPE;
	}
	return 0;
}

int capsule_read(struct capsule_reader *r, const uint8_t *p, size_t len, capsule_datagram_fn fn,
		 void *arg)
{
	uint64_t v;
	size_t take;
	int err;

	while (len && r->state != CR_FAILED) {
		switch (r->state) {
		case CR_TYPE:
			if (!r->vlen)
				r->at = r->offset;
			if (!take_varint(r, &p, &len, &r->type))
				return 0;
			r->state = CR_LEN;
			break;
		case CR_LEN:
			if (!take_varint(r, &p, &len, &v))
				return 0;
			r->left = v;
			if (r->type != CAPSULE_DATAGRAM) {
				r->other_types++;
				value_started(r, CR_SKIP, fn, arg);
			} else if (!v) {
				return fail(r, "an empty DATAGRAM capsule (no context ID)");
			} else if (v > DATAGRAM_MAX) {
				return fail(r,
					    "a DATAGRAM capsule of %llu bytes, longer than any UDP "
					    "payload (%u)",
					    (unsigned long long)v, CAPSULE_UDP_MAX);
			} else {
				r->state = CR_CTX;
			}
			break;
		case CR_CTX:
			take = (size_t)1 << ((r->vlen ? r->vbuf[0] : p[0]) >> 6);
			if (take > r->left)
				return fail(
				    r, "a context ID of %zu bytes in a DATAGRAM capsule of %llu",
				    take, (unsigned long long)r->left);
			if (!take_varint(r, &p, &len, &r->ctx))
				return 0;
			r->left -= take;
			if (r->ctx) {
				/* Not a UDP payload (RFC 9298 §5: an unknown context is dropped).
				 */
				r->other_ctx++;
				value_started(r, CR_SKIP, fn, arg);
			} else if (r->left > CAPSULE_UDP_MAX) {
				return fail(r,
					    "a UDP payload of %llu bytes, over the %u there can be",
					    (unsigned long long)r->left, CAPSULE_UDP_MAX);
			} else {
				value_started(r, CR_PAYLOAD, fn, arg);
			}
			break;
		case CR_PAYLOAD:
			take = len < r->left ? len : (size_t)r->left;
			err = payload(r, p, take, fn, arg);
			if (err)
				return err;
			p += take;
			len -= take;
			r->offset += take;
			break;
		case CR_SKIP:
			take = len < r->left ? len : (size_t)r->left;
			p += take;
			len -= take;
			r->offset += take;
			r->left -= take;
			if (!r->left)
				r->state = CR_TYPE;
			break;
		}
	}
	return r->state == CR_FAILED ? -EPROTO : 0;
}

int capsule_read_end(struct capsule_reader *r)
{
	if (r->state == CR_FAILED)
		return -EPROTO;
	if (r->state == CR_TYPE && !r->vlen)
		return 0;
	return fail(
	    r, "the stream ended inside it (%llu bytes of its value to come)",
	    (unsigned long long)(r->state == CR_PAYLOAD || r->state == CR_SKIP ? r->left : 0));
}
