/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/2 frames written and read by hand (RFC 9113 §4, §6), for tests that send what no HTTP/2
 * library would (a stream id going backwards) or look at a server's frames as they are. Header
 * blocks written here are literal fields without indexing (RFC 7541 §6.2.2): they change no
 * HPACK state. Blocks read are decoded by nghttp2's inflater, as the peer's encoder may index.
 */
#ifndef AMBIT_TESTS_H2_FRAMES_H
#define AMBIT_TESTS_H2_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* Stream ids 0 .. H2F_STREAMS - 1 are followed. */
#define H2F_STREAMS 64

struct h2f_field {
	const char *name, *value;
};

/* Appends the client preface and an empty SETTINGS to @out. 0 or -ENOMEM. */
int h2f_preface(struct buf *out);
/* Appends a SETTINGS ACK. 0 or -ENOMEM. */
int h2f_settings_ack(struct buf *out);
/* Appends an empty SETTINGS (a server's preface). 0 or -ENOMEM. */
int h2f_settings(struct buf *out);
/* Appends one DATA frame of @len (≤ 16 KiB) bytes on stream @sid. 0 or -ENOMEM. */
int h2f_data(struct buf *out, uint32_t sid, const void *p, size_t len, bool end_stream);
/* Appends a GOAWAY with @last_sid and @error. 0 or -ENOMEM. */
int h2f_goaway(struct buf *out, uint32_t last_sid, uint32_t error);
/*
 * Appends a HEADERS frame for stream @sid with @f (borrowed), then CONTINUATION frames for what
 * passes 16 KiB (the default SETTINGS_MAX_FRAME_SIZE). 0 or -ENOMEM.
 */
int h2f_headers(struct buf *out, uint32_t sid, const struct h2f_field *f, size_t n,
		bool end_stream);

/* What a peer's frames said (zero it, then h2f_read; h2f_seen_free at the end). */
struct h2f_seen {
	void *hd;	  /* the HPACK inflater */
	struct buf in;	  /* a frame not complete yet */
	struct buf block; /* a header block waiting for its CONTINUATION */
	uint32_t block_sid;
	int status[H2F_STREAMS]; /* :status of a stream's last header block with one */
	bool ended[H2F_STREAMS]; /* END_STREAM seen */
	bool reset[H2F_STREAMS]; /* RST_STREAM seen, with its code: */
	uint32_t rst[H2F_STREAMS];
	bool goaway; /* GOAWAY seen, with its code and last stream id: */
	uint32_t goaway_error;
	uint32_t goaway_last;
	uint32_t max_header_list; /* SETTINGS_MAX_HEADER_LIST_SIZE, 0 when not sent */
	unsigned int settings;	  /* SETTINGS frames (not ACKs) */
};

/* Reads @len bytes of a peer's frames (any cut). 0, or -EPROTO for what it cannot read. */
int h2f_read(struct h2f_seen *s, const uint8_t *data, size_t len);
void h2f_seen_free(struct h2f_seen *s);

#endif
