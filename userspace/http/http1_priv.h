/* SPDX-License-Identifier: Apache-2.0 */
/* What the HTTP/1 connection files (http1_server.c, http1_client.c, http1_pool.c) share. */
#ifndef AMBIT_NET_HTTP1_PRIV_H
#define AMBIT_NET_HTTP1_PRIV_H

#include "http1_conn.h"

/*
 * Writes @h to @t with @extra fields appended (framing, connection): @extra names and values
 * borrowed, @n_extra pairs. 0 or -errno (-EINVAL: a field the writer refuses).
 */
int h1_send_head(struct transport *t, const struct h1_head *h, const char *const *extra,
		 size_t n_extra);
/* A body piece, as one chunk when @chunked. */
int h1_send_body(struct transport *t, bool chunked, const char *data, size_t len);

#endif
