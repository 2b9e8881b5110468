// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: hostile `forwarded` header values (RFC 7239) into the parsers the HBONE
 * server runs on every CONNECT: the client's address (for=) and the Service it addressed (host=,
 * which ends up in metric labels); and the `baggage` a waypoint takes source labels from.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "net/sock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), host[256], v[64];
	union sockaddr_inet a, b;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	/* Taken or not, an address of one family (or none after a refusal). */
	if (sock_parse_forwarded_for(s, &a) == 0 ? !sockaddr_inet_len(&a) : a.sa.sa_family != 0)
		abort();
	if (sock_parse_authority(s, &b) == 0 ? !sockaddr_inet_port(&b) : b.sa.sa_family != 0)
		abort();
	if (sock_parse_forwarded_host(s, host, sizeof(host)) == 0 && strlen(host) >= sizeof(host))
		abort();
	if (sock_parse_baggage(s, "k8s.namespace.name", v, sizeof(v)) == 0 &&
	    (!v[0] || strlen(v) >= sizeof(v)))
		abort();
	free(s);
	return 0;
}
