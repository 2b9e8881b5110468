// SPDX-License-Identifier: Apache-2.0
/* HTTP/2 frames by hand, for tests (h2_frames.h). */
#include <errno.h>
#include <string.h>
#include <nghttp2/nghttp2.h>

#include "h2_frames.h"

#define FRAME_HDR 9
#define FRAME_MAX 16384 /* SETTINGS_MAX_FRAME_SIZE's default: what every peer takes */

enum { T_DATA = 0, T_HEADERS = 1, T_RST = 3, T_SETTINGS = 4, T_GOAWAY = 7, T_CONT = 9 };
enum { F_END_STREAM = 0x1, F_ACK = 0x1, F_END_HEADERS = 0x4, F_PADDED = 0x8, F_PRIORITY = 0x20 };

static int put(struct buf *b, const void *p, size_t n)
{
	char *d;

	if (!n)
		return 0;
	d = buf_reserve(b, n, (size_t)-1);
	if (!d)
		return -ENOMEM;
	memcpy(d, p, n);
	b->len += n;
	return 0;
}

static int frame(struct buf *b, uint8_t type, uint8_t flags, uint32_t sid, const void *p,
		 size_t len)
{
	uint8_t h[FRAME_HDR] = {
	    (uint8_t)(len >> 16), (uint8_t)(len >> 8),	(uint8_t)len,	     type,	  flags,
	    (uint8_t)(sid >> 24), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid};

	return put(b, h, sizeof(h)) || put(b, p, len) ? -ENOMEM : 0;
}

int h2f_preface(struct buf *out)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

	return put(out, preface, sizeof(preface) - 1) || frame(out, T_SETTINGS, 0, 0, NULL, 0)
		   ? -ENOMEM
		   : 0;
}

int h2f_settings_ack(struct buf *out)
{
	return frame(out, T_SETTINGS, F_ACK, 0, NULL, 0);
}

int h2f_settings(struct buf *out)
{
	return frame(out, T_SETTINGS, 0, 0, NULL, 0);
}

int h2f_data(struct buf *out, uint32_t sid, const void *p, size_t len, bool end_stream)
{
	return frame(out, T_DATA, end_stream ? F_END_STREAM : 0, sid, p, len);
}

int h2f_goaway(struct buf *out, uint32_t last_sid, uint32_t error)
{
	uint8_t g[8] = {(uint8_t)(last_sid >> 24), (uint8_t)(last_sid >> 16),
			(uint8_t)(last_sid >> 8),  (uint8_t)last_sid,
			(uint8_t)(error >> 24),	   (uint8_t)(error >> 16),
			(uint8_t)(error >> 8),	   (uint8_t)error};

	return frame(out, T_GOAWAY, 0, 0, g, sizeof(g));
}

/* An HPACK integer (RFC 7541 §5.1) of @prefix bits, the first byte's others @flags. */
static int hpack_int(struct buf *b, uint8_t flags, unsigned int prefix, size_t v)
{
	size_t max = (1u << prefix) - 1;
	uint8_t o[16];
	size_t n = 0;

	if (v < max) {
		o[n++] = (uint8_t)(flags | v);
	} else {
		o[n++] = (uint8_t)(flags | max);
		for (v -= max; v >= 128; v >>= 7)
			o[n++] = (uint8_t)((v & 0x7f) | 0x80);
		o[n++] = (uint8_t)v;
	}
	return put(b, o, n);
}

/* A literal field without indexing, its name new (RFC 7541 §6.2.2), not Huffman-coded. */
static int hpack_literal(struct buf *b, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);

	return hpack_int(b, 0, 4, 0) || hpack_int(b, 0, 7, nl) || put(b, name, nl) ||
		       hpack_int(b, 0, 7, vl) || put(b, value, vl)
		   ? -ENOMEM
		   : 0;
}

int h2f_headers(struct buf *out, uint32_t sid, const struct h2f_field *f, size_t n, bool end_stream)
{
	struct buf block = {0};
	const char *p;
	size_t left;
	int err = 0;

	for (size_t i = 0; i < n && !err; i++)
		err = hpack_literal(&block, f[i].name, f[i].value);
	p = buf_head(&block);
	left = block.len;
	for (bool first = true; !err && (first || left); first = false) {
		size_t len = left < FRAME_MAX ? left : FRAME_MAX;
		uint8_t flags = len == left ? F_END_HEADERS : 0;

		if (first && end_stream)
			flags |= F_END_STREAM;
		err = frame(out, first ? T_HEADERS : T_CONT, flags, sid, p, len);
		p += len;
		left -= len;
	}
	free(block.data);
	return err;
}

/* A complete header block of stream @sid: its :status, if any. */
static int read_block(struct h2f_seen *s, uint32_t sid, const uint8_t *in, size_t len)
{
	nghttp2_hd_inflater *hd = s->hd;

	if (!hd) {
		if (nghttp2_hd_inflate_new(&hd))
			return -ENOMEM;
		s->hd = hd;
	}
	for (;;) {
		nghttp2_nv nv;
		int fl = 0;
		ssize_t rv = nghttp2_hd_inflate_hd2(hd, &nv, &fl, in, len, 1);

		if (rv < 0)
			return -EPROTO;
		in += rv;
		len -= (size_t)rv;
		if ((fl & NGHTTP2_HD_INFLATE_EMIT) && sid < H2F_STREAMS && nv.namelen == 7 &&
		    !memcmp(nv.name, ":status", 7)) {
			s->status[sid] = 0;
			for (size_t i = 0; i < nv.valuelen; i++)
				s->status[sid] = s->status[sid] * 10 + (nv.value[i] - '0');
		}
		if (fl & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(hd);
			return 0;
		}
		if (!(fl & NGHTTP2_HD_INFLATE_EMIT) && !len)
			return 0;
	}
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One whole frame. */
static int read_frame(struct h2f_seen *s, uint8_t type, uint8_t flags, uint32_t sid,
		      const uint8_t *p, size_t len)
{
	bool track = sid < H2F_STREAMS;
	int err;

	if ((type == T_DATA || type == T_HEADERS) && (flags & F_END_STREAM) && track)
		s->ended[sid] = true;
	switch (type) {
	case T_HEADERS:
		if (flags & (F_PADDED | F_PRIORITY))
			return -EPROTO; /* not from the servers under test */
		s->block.len = s->block.off = 0;
		s->block_sid = sid;
		/* Fall through */
	case T_CONT:
		if (sid != s->block_sid || put(&s->block, p, len))
			return -EPROTO;
		if (!(flags & F_END_HEADERS))
			return 0;
		err = read_block(s, sid, (const uint8_t *)buf_head(&s->block), s->block.len);
		s->block.len = s->block.off = 0;
		return err;
	case T_RST:
		if (len != 4)
			return -EPROTO;
		if (track) {
			s->reset[sid] = true;
			s->rst[sid] = be32(p);
		}
		return 0;
	case T_SETTINGS:
		if (flags & F_ACK)
			return 0;
		s->settings++;
		for (size_t i = 0; i + 6 <= len; i += 6)
			if ((p[i] << 8 | p[i + 1]) == NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE)
				s->max_header_list = be32(p + i + 2);
		return 0;
	case T_GOAWAY:
		if (len < 8)
			return -EPROTO;
		s->goaway = true;
		s->goaway_last = be32(p) & 0x7fffffff;
		s->goaway_error = be32(p + 4);
		return 0;
	}
	return 0;
}

int h2f_read(struct h2f_seen *s, const uint8_t *data, size_t len)
{
	if (put(&s->in, data, len))
		return -ENOMEM;
	while (s->in.len >= FRAME_HDR) {
		const uint8_t *h = (const uint8_t *)buf_head(&s->in);
		size_t flen = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];
		int err;

		if (s->in.len < FRAME_HDR + flen)
			break;
		err = read_frame(s, h[3], h[4], be32(h + 5) & 0x7fffffff, h + FRAME_HDR, flen);
		buf_consume(&s->in, FRAME_HDR + flen);
		if (err)
			return err;
	}
	return 0;
}

void h2f_seen_free(struct h2f_seen *s)
{
	if (s->hd)
		nghttp2_hd_inflate_del(s->hd);
	s->hd = NULL;
	free(s->in.data);
	free(s->block.data);
	s->in = s->block = (struct buf){0};
}
