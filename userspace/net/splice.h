/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plain TCP <-> TCP splice for pass-through, plaintext inbound and same-node connections:
 * bounded buffers per direction, EOF on one side becomes shutdown(SHUT_WR) on the other, a reset
 * or error resets both, and the splice ends when both directions are finished.
 */
#ifndef ZT_SPLICE_H
#define ZT_SPLICE_H

#include <stdbool.h>

#include "loop.h"

struct connrec;

#define SPLICE_BUF (256u << 10)

/*
 * Splices @client with @server (both non-blocking, taken; @server may still be connecting, in
 * which case nothing is read from @client until it is up). @rec (taken, may be NULL) is closed
 * at the end. 0 or -errno (then both sockets and @rec are closed).
 */
int splice_start(struct loop *l, int client, int server, struct connrec *rec);

#endif
