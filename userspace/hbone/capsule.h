/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP capsules (RFC 9297 §3.2) on an extended CONNECT stream, as CONNECT-UDP (RFC 9298) carries
 * UDP in one: each datagram is a DATAGRAM capsule (type 0) whose value is a context ID (0: a UDP
 * payload, RFC 9298 §4) and then the payload. Types, lengths and context IDs are QUIC
 * variable-length integers (RFC 9000 §16), of any of their four sizes.
 *
 * The reader takes the stream's bytes as they come (a capsule may span any number of DATA
 * frames) and hands over each complete UDP payload: in place when one feed holds it whole, else
 * from a buffer sized to that payload (at most CAPSULE_UDP_MAX bytes per reader: a flow's memory
 * is bounded). Capsules of other types stream by unbuffered and are ignored (RFC 9297 §3.2);
 * a datagram of another context ID is dropped (RFC 9298 §5); both are counted. A DATAGRAM capsule
 * that is empty (no context ID) or longer than any UDP payload is malformed, and so is a stream
 * that ends inside a capsule: the stream must be reset (RFC 9297 §3.3). Nothing here does I/O.
 */
#ifndef AMBIT_HBONE_CAPSULE_H
#define AMBIT_HBONE_CAPSULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAPSULE_DATAGRAM 0x00
/* The largest UDP payload (IPv6's, without jumbograms: 65,535 less the UDP header; IPv4's is
 * 65,507). */
#define CAPSULE_UDP_MAX 65527u
/* A DATAGRAM capsule's header for any UDP payload: type (1), length (at most 4), context ID (1). */
#define CAPSULE_HDR_MAX 6
#define QUIC_VARINT_MAX ((UINT64_C(1) << 62) - 1)

/* The bytes @v takes as a QUIC varint, the shortest form (0: over QUIC_VARINT_MAX). */
size_t quic_varint_size(uint64_t v);
/* @v into @out (@cap bytes), the shortest form: its size, -ERANGE (too large) or -ENOSPC. */
int quic_varint_put(uint8_t *out, size_t cap, uint64_t v);
/* A varint from @p (@len bytes) into *@v: its size, or 0 when @len does not hold all of it. */
size_t quic_varint_get(const uint8_t *p, size_t len, uint64_t *v);

/* The header of a capsule of @type whose value is @len bytes, into @out: its size, or < 0. */
int capsule_header(uint8_t *out, size_t cap, uint64_t type, uint64_t len);
/*
 * The header of the DATAGRAM capsule carrying a UDP payload of @len bytes (context ID 0), which
 * follows it: its size, or -EMSGSIZE over CAPSULE_UDP_MAX.
 */
int capsule_datagram_header(uint8_t hdr[CAPSULE_HDR_MAX], size_t len);

/* One UDP payload read (@len may be 0: UDP has empty datagrams). */
typedef void (*capsule_datagram_fn)(void *arg, const uint8_t *payload, size_t len);

struct capsule_reader {
	uint8_t state;	 /* private: what the next byte is part of */
	uint8_t vbuf[8]; /* private: a varint cut between feeds */
	uint8_t vlen;
	uint64_t type, left, ctx;
	uint8_t *buf; /* private: a payload cut between feeds, @have of @want bytes so far */
	size_t have, want, cap;
	uint64_t offset; /* bytes of the stream consumed */
	uint64_t at;	 /* where the capsule being read started: an error names it */
	/* Counted as read: */
	uint64_t datagrams;   /* UDP payloads handed over */
	uint64_t other_ctx;   /* DATAGRAM capsules of another context ID, dropped */
	uint64_t other_types; /* capsules of other types, skipped */
	char why[128];	      /* the reason of the last -EPROTO */
};

/* A reader at the start of a stream (or memset to 0). */
void capsule_reader_init(struct capsule_reader *r);
void capsule_reader_free(struct capsule_reader *r);
/*
 * Feeds @len bytes of the stream: each complete UDP payload goes to @fn as it is read. 0, -EPROTO
 * (the stream is malformed: r->why says where and why; the reader takes nothing more) or
 * -ENOMEM.
 */
int capsule_read(struct capsule_reader *r, const uint8_t *p, size_t len, capsule_datagram_fn fn,
		 void *arg);
/* At the end of the stream: 0 when it ended between capsules, else -EPROTO (with r->why). */
int capsule_read_end(struct capsule_reader *r);

#endif
