// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: a client's first bytes into the gateway's TLS PASSTHROUGH peek
 * (tls_hello_sni): hostile records and ClientHellos, server_name extensions whose lengths lie.
 * Every prefix a read could deliver is tried too, as the listener calls it after each read.
 * The name, when there is one, is a lowercase DNS name that fits its buffer.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls.h"

static void check(const uint8_t *data, size_t size, size_t cap)
{
	char sni[256];
	int r = tls_hello_sni(data, size, sni, cap);

	if (r != 1 && r != 0 && r != -EAGAIN && r != -EINVAL && r != -ENOMEM)
		abort();
	if (r == 1) {
		size_t n = strlen(sni);

		if (!n || n >= cap)
			abort();
		for (size_t i = 0; i < n; i++)
			if (sni[i] >= 'A' && sni[i] <= 'Z')
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check(data, size, 256);
	check(data, size, 8);
	/* A few of the prefixes a slow client's reads would deliver. */
	for (size_t cut = 1; cut < size; cut += 1 + size / 8)
		check(data, cut, 256);
	return 0;
}
