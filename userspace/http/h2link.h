/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An HTTP/2 connection over a byte-stream transport (transport.h): the in-memory pipe of h2.h
 * (H2_PIPE) joined to a TCP connection, an HBONE stream or a memory transport, so that a proxy
 * speaks HTTP/2 to whatever its listeners accept and its connectors open (h2c with prior
 * knowledge: the transport is already the secure channel, or none is wanted).
 *
 * Backpressure: what the connection sends stops at TRANSPORT_HIGH_WATER of queued output and
 * resumes on the transport's on_drain; what arrives is all handed to nghttp2, whose windows
 * (h2_stream_consume) bound it.
 *
 * Lifetime: the link lives as long as its HTTP/2 connection; when that closes (h2_conn_close,
 * a GOAWAY written, the peer's EOF or a transport failure) the transport is closed and the
 * owner's h2_conn_ops.on_close runs, the link's last call.
 */
#ifndef AMBIT_NET_H2LINK_H
#define AMBIT_NET_H2LINK_H

#include <stdbool.h>
#include <stddef.h>

#include "h2.h"
#include "net/transport.h"

struct h2_link;

/*
 * The limits of a proxy's HTTP/2 connection into @lim: h2_limits_default's, with the header
 * limits @hl (borrowed; NULL or 0s: http_fields.h's), the same as the proxy's HTTP/1.1, and no
 * cap of one value of their own.
 */
void h2_link_limits(struct h2_limits *lim, const struct http_limits *hl);
/*
 * HTTP/2 over @t (taken, also on failure: then it is closed), a server when @server, with
 * @lim (copied; NULL: h2_link_limits(lim, NULL)'s) and @ops/@arg (borrowed) as
 * h2_conn_create's. A client link over a connector's transport may be used at once: what it
 * sends waits for the connect. NULL + errno.
 */
struct h2_link *h2_link_new(struct loop *l, struct transport *t, bool server,
			    const struct h2_limits *lim, const struct h2_conn_ops *ops, void *arg);
/*
 * Bytes of the peer's that were read from the transport already (a protocol detector's), as
 * if they had just arrived. 0, or -EPROTO / -EPIPE: then the connection closed (on_close ran,
 * the link goes after the loop batch).
 */
int h2_link_input(struct h2_link *k, const char *data, size_t len);
/* The connection (NULL once it closed). */
struct h2_conn *h2_link_conn(const struct h2_link *k);
/* Whether a connector's transport connected (accepted ones are). */
bool h2_link_connected(const struct h2_link *k);
/* Closes the connection now (h2_conn_close: streams, then the owner's on_close). */
void h2_link_close(struct h2_link *k, const char *reason);

#endif
