// SPDX-License-Identifier: Apache-2.0
/*
 * The capsule codec of CONNECT-UDP (hbone/capsule.h): QUIC varints (RFC 9000 §16 and its
 * Appendix A.1 examples), DATAGRAM capsule headers at each size boundary, a stream of
 * datagrams, an unknown capsule and another context ID read whole, byte by byte and in chunks,
 * and each malformed stream refused with where and why.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hbone/capsule.h"

static void test_varint(void **state)
{
	/* RFC 9000 Appendix A.1's examples, 37 also in a longer form than it needs. */
	static const struct {
		uint8_t b[8];
		size_t n;
		uint64_t v;
	} ex[] = {
	    {{0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c}, 8, UINT64_C(151288809941952652)},
	    {{0x9d, 0x7f, 0x3e, 0x7d}, 4, 494878333},
	    {{0x7b, 0xbd}, 2, 15293},
	    {{0x25}, 1, 37},
	    {{0x40, 0x25}, 2, 37},
	};
	static const uint64_t edges[] = {
	    0, 63, 64, 16383, 16384, (1u << 30) - 1, 1u << 30, QUIC_VARINT_MAX};
	uint8_t b[8];
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
		assert_int_equal(quic_varint_get(ex[i].b, ex[i].n, &v), ex[i].n);
		assert_true(v == ex[i].v);
		/* Cut short: not yet a varint. */
		assert_int_equal(quic_varint_get(ex[i].b, ex[i].n - 1, &v), 0);
	}
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		int n = quic_varint_put(b, sizeof(b), edges[i]);

		assert_true(n > 0);
		assert_int_equal((size_t)n, quic_varint_size(edges[i]));
		assert_int_equal(quic_varint_get(b, (size_t)n, &v), (size_t)n);
		assert_true(v == edges[i]);
	}
	assert_int_equal(quic_varint_size(63), 1);
	assert_int_equal(quic_varint_size(64), 2);
	assert_int_equal(quic_varint_size(16384), 4);
	assert_int_equal(quic_varint_size(UINT64_C(1) << 30), 8);
	assert_int_equal(quic_varint_put(b, sizeof(b), QUIC_VARINT_MAX + 1), -ERANGE);
	assert_int_equal(quic_varint_put(b, 1, 64), -ENOSPC);
	assert_int_equal(quic_varint_get(b, 0, &v), 0);
}

static void test_datagram_header(void **state)
{
	/* Payload size -> header size: type, length (payload + the context ID), context ID 0. */
	static const size_t sizes[][2] = {
	    {0, 3}, {62, 3}, {63, 4}, {16382, 4}, {16383, 6}, {65507, 6}, {CAPSULE_UDP_MAX, 6}};
	uint8_t h[CAPSULE_HDR_MAX];
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int n = capsule_datagram_header(h, sizes[i][0]);
		size_t k;

		assert_int_equal(n, (int)sizes[i][1]);
		assert_int_equal(h[0], CAPSULE_DATAGRAM);
		k = quic_varint_get(h + 1, (size_t)n - 1, &v);
		assert_true(v == sizes[i][0] + 1);
		assert_int_equal(h[1 + k], 0);
	}
	assert_int_equal(capsule_datagram_header(h, CAPSULE_UDP_MAX + 1), -EMSGSIZE);
}

/* What a reader handed over: each payload's length, and all of them end to end. */
struct got {
	size_t n, lens[16], total;
	uint8_t *all;
	const uint8_t *in_lo, *in_hi; /* the feed: a payload handed over in place points into it */
	size_t in_place;
};

static void on_dgram(void *arg, const uint8_t *p, size_t len)
{
	struct got *g = arg;

	assert_true(g->n < 16);
	g->lens[g->n++] = len;
	g->all = realloc(g->all, g->total + len + 1);
	assert_non_null(g->all);
	memcpy(g->all + g->total, p, len);
	g->total += len;
	if (len && p >= g->in_lo && p + len <= g->in_hi)
		g->in_place++;
}

static size_t put_datagram(uint8_t *out, size_t len, uint8_t fill)
{
	int n = capsule_datagram_header(out, len);

	assert_true(n > 0);
	memset(out + n, fill, len);
	return (size_t)n + len;
}

static const size_t lens[] = {0, 1, 100, 16384, 65507, CAPSULE_UDP_MAX};

/* Datagrams of each size in lens[], one unknown capsule and one of context ID 7 among them. */
static uint8_t *stream(size_t *len)
{
	uint8_t *s = malloc(300000), *o = s;
	int n;

	assert_non_null(s);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		o += put_datagram(o, lens[i], (uint8_t)('a' + i));
		if (i == 1) {
			/* A capsule type nothing here knows (a GREASE value's shape), 5000 bytes.
			 */
			n = capsule_header(o, 16, 0x1f * 3 + 0x21, 5000);
			assert_true(n > 0);
			memset(o + n, 'x', 5000);
			o += (size_t)n + 5000;
		}
		if (i == 2) {
			/* A datagram of another context: 3 bytes after context ID 7. */
			n = capsule_header(o, 16, CAPSULE_DATAGRAM, 4);
			o += n;
			memcpy(o, "\x07zzz", 4);
			o += 4;
		}
	}
	*len = (size_t)(o - s);
	return s;
}

static void read_in(size_t chunk)
{
	struct capsule_reader r;
	struct got g = {0};
	size_t len, off = 0, total = 0;
	uint8_t *s = stream(&len);

	capsule_reader_init(&r);
	g.in_lo = s;
	g.in_hi = s + len;
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;

		assert_int_equal(capsule_read(&r, s + off, n, on_dgram, &g), 0);
		off += n;
	}
	assert_int_equal(capsule_read_end(&r), 0);
	assert_int_equal(g.n, sizeof(lens) / sizeof(lens[0]));
	for (size_t i = 0; i < g.n; i++) {
		assert_int_equal(g.lens[i], lens[i]);
		for (size_t k = 0; k < lens[i]; k++)
			assert_int_equal(g.all[total + k], 'a' + i);
		total += lens[i];
	}
	assert_true(r.datagrams == g.n);
	assert_true(r.other_types == 1);
	assert_true(r.other_ctx == 1);
	assert_true(r.offset == len);
	/* Whole in one feed, every payload in place; byte by byte, none but through the buffer. */
	if (chunk >= len)
		assert_int_equal(g.in_place, g.n - 1); /* the empty one aside */
	else if (chunk == 1)
		assert_int_equal(g.in_place, 1); /* the 1-byte one: whole in its one byte's feed */
	/* A reader keeps at most one payload's buffer: a flow's memory is bounded. */
	assert_true(r.cap <= CAPSULE_UDP_MAX);
	capsule_reader_free(&r);
	free(g.all);
	free(s);
}

static void test_stream_whole(void **state)
{
	(void)state;
	read_in(SIZE_MAX);
}

static void test_stream_bytewise(void **state)
{
	(void)state;
	read_in(1);
}

static void test_stream_chunks(void **state)
{
	(void)state;
	read_in(1000);
	read_in(16384); /* HTTP/2's default frame size */
}

/* @bytes (@len) refused with a reason holding @why, and nothing read after. */
static void refused(const char *bytes, size_t len, const char *why)
{
	struct capsule_reader r;
	struct got g = {0};
	size_t before;
	int err;

	capsule_reader_init(&r);
	err = capsule_read(&r, (const uint8_t *)bytes, len, on_dgram, &g);
	before = g.n;
	if (!err)
		err = capsule_read_end(&r);
	assert_int_equal(err, -EPROTO);
	if (!strstr(r.why, why))
		fail_msg("\"%s\" does not say \"%s\"", r.why, why);
	assert_int_equal(capsule_read(&r, (const uint8_t *)"\0\1\0", 3, on_dgram, &g), -EPROTO);
	assert_int_equal(g.n, before);
	capsule_reader_free(&r);
	free(g.all);
}

static void test_malformed(void **state)
{
	uint8_t b[16];
	int n;

	(void)state;
	refused("\x00\x00", 2, "capsule at byte 0: an empty DATAGRAM capsule");
	/* After a good one: the error names where the bad one started. */
	refused("\x00\x02\x00z\x00\x00", 6, "capsule at byte 4: an empty DATAGRAM");
	n = capsule_header(b, sizeof(b), CAPSULE_DATAGRAM, CAPSULE_UDP_MAX + 9);
	refused((const char *)b, (size_t)n, "longer than any UDP payload");
	/* Within the longest capsule (room for an 8-byte context ID), but context ID 0 in one. */
	n = capsule_header(b, sizeof(b), CAPSULE_DATAGRAM, CAPSULE_UDP_MAX + 2);
	b[n] = 0;
	refused((const char *)b, (size_t)n + 1, "a UDP payload of 65528 bytes, over the 65527");
	refused("\x00\x01\x40\x00", 4, "a context ID of 2 bytes in a DATAGRAM capsule of 1");
	refused("\x00\x05\x00"
		"ab",
		5, "the stream ended inside it (2 bytes of its value to come)");
	refused("\x40", 1, "the stream ended inside it");
	refused("\x21\x05xy", 4, "ended inside it (3 bytes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_varint),	  cmocka_unit_test(test_datagram_header),
	    cmocka_unit_test(test_stream_whole),  cmocka_unit_test(test_stream_bytewise),
	    cmocka_unit_test(test_stream_chunks), cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
