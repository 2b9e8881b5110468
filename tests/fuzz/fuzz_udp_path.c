// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: a CONNECT-UDP request's target as a peer sends it, `:path` then (after the
 * first newline) `:authority`, into the server's check (hbone_udp_request) and the template's
 * reader (hbone_udp_parse_path). A path read without error names a host and a port that, written
 * again (hbone_udp_path), read back the same; a request the check lets through has such a path.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hbone/hbone_priv.h"
#include "hbone/hbone_udp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), *nl, host[256], again[256], p[HBONE_UDP_PATH_MAX];
	const char *authority = "";
	struct h2_header h[3];
	uint16_t port, port2;
	int rv;

	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	nl = strchr(in, '\n');
	if (nl) {
		*nl = '\0';
		authority = nl + 1;
	}
	rv = hbone_udp_parse_path(in, host, sizeof(host), &port);
	if (!rv) {
		if (!port || hbone_udp_path(p, sizeof(p), host, port) <= 0 ||
		    hbone_udp_parse_path(p, again, sizeof(again), &port2) || port2 != port ||
		    strcmp(again, host))
			abort();
	}
	h[0] = H2_HDR(":protocol", "connect-udp");
	h[1] = H2_HDR(":scheme", "https");
	h[2] = H2_HDR(":path", in);
	if (hbone_udp_request(h, 3, authority) == 0 && rv)
		abort();
	free(in);
	return 0;
}
