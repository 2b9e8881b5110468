// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: hostile CONNECT-UDP streams into the capsule reader (hbone/capsule.h), cut
 * into feeds of a size the input's first byte picks (a capsule split across DATA frames). Every
 * payload handed over is within CAPSULE_UDP_MAX; a stream read without error, its payloads
 * encoded again and read back, gives the same payloads.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hbone/capsule.h"

struct out {
	uint8_t *b;
	size_t len, n;
};

static void collect(void *arg, const uint8_t *p, size_t len)
{
	struct out *o = arg;
	uint8_t h[CAPSULE_HDR_MAX];
	int n = capsule_datagram_header(h, len);

	if (len > CAPSULE_UDP_MAX || n <= 0)
		abort();
	o->b = realloc(o->b, o->len + (size_t)n + len);
	if (!o->b)
		abort();
	memcpy(o->b + o->len, h, (size_t)n);
	memcpy(o->b + o->len + (size_t)n, p, len);
	o->len += (size_t)n + len;
	o->n++;
}

static int read_all(const uint8_t *p, size_t len, size_t chunk, struct out *o,
		    struct capsule_reader *r)
{
	int err = 0;

	capsule_reader_init(r);
	for (size_t off = 0; !err && off < len; off += chunk)
		err = capsule_read(r, p + off, len - off < chunk ? len - off : chunk, collect, o);
	if (!err)
		err = capsule_read_end(r);
	if (err && !r->why[0])
		abort();
	capsule_reader_free(r);
	return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct out a = {0}, b = {0};
	struct capsule_reader r;
	size_t chunk;

	if (!size)
		return 0;
	chunk = data[0] ? data[0] : 4096;
	if (!read_all(data + 1, size - 1, chunk, &a, &r)) {
		if (r.datagrams != a.n)
			abort();
		/* Read again whole: the same payloads, nothing else. */
		if (read_all(a.b, a.len, a.len ? a.len : 1, &b, &r) || b.n != a.n ||
		    b.len != a.len || (a.len && memcmp(a.b, b.b, a.len)) || r.other_ctx ||
		    r.other_types)
			abort();
	}
	free(a.b);
	free(b.b);
	return 0;
}
