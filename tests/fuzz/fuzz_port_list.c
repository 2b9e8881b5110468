// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: a pod annotation's value as Istio's exclude annotations take it
 * (traffic.sidecar.istio.io/excludeOutboundPorts, excludeInboundPorts), into the agent's reader
 * (desired_port_list). A list it takes has no more ports than asked, none 0, and written again
 * ("p1,p2") reads back the same; a list it refuses says why in a terminated, non-empty message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "l4/desired.h"

#define MAX_PORTS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t ports[MAX_PORTS], again[MAX_PORTS];
	char *in = malloc(size + 1), why[128], text[MAX_PORTS * 7 + 1];
	size_t n = 0, m = 0, off = 0;

	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	memset(why, 'x', sizeof(why));
	if (desired_port_list(in, ports, MAX_PORTS, &n, why, sizeof(why))) {
		if (!memchr(why, '\0', sizeof(why)) || !why[0])
			abort();
		free(in);
		return 0;
	}
	if (n > MAX_PORTS)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (!ports[i])
			abort();
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s%u", i ? "," : "",
					ntohs(ports[i]));
	}
	text[off] = '\0';
	if (desired_port_list(text, again, MAX_PORTS, &m, why, sizeof(why)) || m != n ||
	    memcmp(again, ports, n * sizeof(*ports)))
		abort();
	free(in);
	return 0;
}
