/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One proxied connection as metrics, the access log and /connections see it. The data-path
 * modules (hbone.c, splice.c) only report bytes and the end; metrics.c implements it.
 */
#ifndef ZT_CONNREC_H
#define ZT_CONNREC_H

#include <stdbool.h>
#include <stddef.h>

struct connrec;

/* @request_dir: bytes moving from the connection's client towards its server. Accepts NULL. */
void connrec_bytes(struct connrec *r, bool request_dir, size_t n);
/* Ends the record (counts it closed, logs it, frees it: takes @r). @reason is borrowed. */
void connrec_close(struct connrec *r, const char *reason);

#endif
