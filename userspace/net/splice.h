/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plain TCP <-> TCP splice for pass-through, plaintext inbound and same-node connections:
 * bounded buffers per direction, EOF on one side becomes shutdown(SHUT_WR) on the other, a reset
 * or error resets both, and the splice ends when both directions are finished.
 */
#ifndef AMBIT_NET_SPLICE_H
#define AMBIT_NET_SPLICE_H

#include <stdbool.h>
#include <stddef.h>

#include "guard.h"
#include "loop.h"

struct connrec;

/* The most a direction holds; a buffer starts at 16 KiB and grows only while it fills up. */
#define SPLICE_BUF (256u << 10)

/*
 * Deadlines of a splice in seconds (0: none). The connect deadline stands in for the kernel's
 * ~2 minutes of SYN retries to a peer that does not answer. A connection over which nothing
 * at all has moved since it was set up is closed after first_byte_s: real clients (and
 * server-speaks-first protocols) talk within milliseconds, while an idle flood would otherwise
 * hold its sockets for the whole idle timeout. The idle timeout is Envoy's tcp_proxy default.
 */
struct splice_limits {
	unsigned int connect_s;	   /* upstream TCP connect (10) */
	unsigned int first_byte_s; /* no byte either way since connected (60) */
	unsigned int idle_s;	   /* no byte either way (3600) */
};

void splice_limits_default(struct splice_limits *lim);

/* The splices of one loop (a worker), swept once a second for their deadlines. */
struct splice_set;

/* @lim (copied) may be NULL for the defaults. NULL + errno. */
struct splice_set *splice_set_create(struct loop *l, const struct splice_limits *lim);
/* Resets every splice of @set and frees it. Accepts NULL. */
void splice_set_destroy(struct splice_set *set);
/* Number of live splices (tests). */
size_t splice_set_size(const struct splice_set *set);

/*
 * Splices @client with @server (both non-blocking, taken; @server may still be connecting, in
 * which case nothing is read from @client until it is up). @rec (taken, may be NULL) is closed
 * at the end, and @slot (may be NULL), the client connection's share of its listener, moved
 * in and released with it. 0 or -errno (then both sockets, @rec and @slot are closed).
 */
int splice_start(struct splice_set *set, int client, int server, struct connrec *rec,
		 struct guard_slot *slot);

#endif
