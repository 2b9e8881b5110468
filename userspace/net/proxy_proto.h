// SPDX-License-Identifier: Apache-2.0
/*
 * The PROXY protocol header (haproxy's proxy-protocol.txt, versions 1 and 2) a load balancer
 * puts before a connection's first byte to say whom the connection is from: what Envoy's
 * proxy_protocol listener filter reads at a gateway whose mesh config sets
 * gatewayTopology.proxyProtocol.
 */
#ifndef AMBIT_PROXY_PROTO_H
#define AMBIT_PROXY_PROTO_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sock.h"

/* A version 1 header is one line of at most 107 bytes, its CRLF included (spec §2.1). */
#define PROXY_PROTO_V1_MAX 107
/*
 * A version 2 header is 16 bytes and up to 65535 of addresses and TLVs; a load balancer's
 * TLVs (AWS, GCP, Azure: an endpoint id, a TLS summary) take a few hundred at most, so more
 * than this is refused rather than buffered.
 */
#define PROXY_PROTO_V2_MAX (16 + 2048)
#define PROXY_PROTO_MAX PROXY_PROTO_V2_MAX

struct proxy_proto_hdr {
	uint8_t version; /* 1 or 2 */
	/*
	 * AF_INET or AF_INET6: @src and @dst are the connection's ends as the sender saw them.
	 * AF_UNSPEC: the header says nothing usable (v1 UNKNOWN, v2 LOCAL, v2 AF_UNSPEC or
	 * AF_UNIX), and the connection's own addresses stand.
	 */
	int family;
	union sockaddr_inet src, dst;
};

/*
 * Reads the header that @data (@len bytes received so far, borrowed) starts with, into @h.
 * Returns its length (what to consume before the connection's own bytes), -EAGAIN when
 * @data is a valid beginning of a header still incomplete (call again with more), or -EINVAL
 * when it is not a header, a malformed one, or one longer than PROXY_PROTO_MAX: refused as
 * soon as the bytes already there show it.
 */
int proxy_proto_parse(const uint8_t *data, size_t len, struct proxy_proto_hdr *h);

#endif
