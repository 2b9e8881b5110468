// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer driver: hostile text into ipaddr_parse (include/ambit/ipaddr.h), which reads the
 * addresses and CIDRs of policy (ipBlocks, remoteIpBlocks), Services and endpoints of both
 * families. What it takes must hold its own invariants: a length within its family's, no host
 * bit set, a prefix that contains itself, and text that reads back to the same value.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ambit/ipaddr.h"

static void check(const struct ipaddr *a)
{
	char txt[IPADDR_STRLEN];
	struct ipaddr back;
	unsigned int full = ipaddr_full_len(a);

	if (!full || a->len > full || !ipaddr_contains(a, a))
		abort();
	for (unsigned int i = a->len; i < 128; i++)
		if (a->a[i / 8] & (0x80u >> (i % 8)))
			abort();
	if (ipaddr_parse(ipaddr_format_prefix(a, txt, sizeof(txt)), &back) ||
	    !ipaddr_equal(a, &back))
		abort();
	if (ipaddr_parse(ipaddr_format(a, txt, sizeof(txt)), &back) || !ipaddr_equal(a, &back))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct ipaddr a, one;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (!ipaddr_parse(s, &a))
		check(&a);
	if (!ipaddr_parse_addr(s, &one)) {
		check(&one);
		if (one.len != ipaddr_full_len(&one))
			abort();
	}
	free(s);
	return 0;
}
