/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Protocol detection on a connection the waypoint terminated, for a Service port whose protocol
 * is not declared (l7_port_protocol gives L7_PROTO_UNKNOWN): the first bytes the client sends
 * decide, as Envoy's http_inspector decides for Istio. HTTP/2 is its connection preface (prior
 * knowledge, gRPC included: RFC 9113 §3.4); HTTP/1.x is a request line whose method is a token
 * followed by a space, a request-target, and "HTTP/1.0" or "HTTP/1.1"; anything else — TLS,
 * server-first protocols that send nothing, garbage — is TCP. A declared protocol is never
 * second-guessed.
 */
#ifndef AMBIT_WAYPOINT_DETECT_H
#define AMBIT_WAYPOINT_DETECT_H

#include <stddef.h>

#include "ambit/l7.h"

/* Bytes a decision may wait for: a longer request line is judged TCP (Envoy reads 64 KiB). */
#define WP_DETECT_MAX 8192

enum wp_detect {
	WP_DETECT_MORE, /* not decided: read more (or decide TCP at the timeout or EOF) */
	WP_DETECT_HTTP1,
	WP_DETECT_HTTP2,
	WP_DETECT_TCP,
};

/* The protocol of a connection that began with @len bytes of @data (borrowed). */
enum wp_detect wp_detect(const char *data, size_t len);
/*
 * How to treat a connection to a port of protocol @declared: HTTP1/HTTP2/TCP at once when it
 * says (h2c and gRPC ports: HTTP/2; http ports: whichever the bytes are, as Envoy's HTTP
 * connection manager takes both), MORE when the bytes must decide.
 */
enum wp_detect wp_detect_declared(enum l7_protocol declared);
const char *wp_detect_name(enum wp_detect d);

#endif
