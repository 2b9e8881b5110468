/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Numbers and IPv4 addresses as text, for the request path: printf's machinery (locale,
 * format parsing, its FILE shim) cost a proxy more per request than its routing did; these
 * write the digits and nothing else.
 */
#ifndef AMBIT_FMT_H
#define AMBIT_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Decimal @v into @dst (at least 21 bytes), NUL-terminated; returns its length. */
static inline size_t fmt_u64(char *dst, uint64_t v)
{
	char b[20], *e = b + sizeof(b);
	size_t n;

	do
		*--e = (char)('0' + v % 10);
	while ((v /= 10));
	n = (size_t)(b + sizeof(b) - e);
	memcpy(dst, e, n);
	dst[n] = '\0';
	return n;
}

/* The value of hex digit @c (either case), or -1. */
static inline int fmt_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The dotted quad of @addr (network order) into @dst (at least 16 bytes); returns its length. */
static inline size_t fmt_ipv4(char *dst, uint32_t addr)
{
	const unsigned char *ip = (const unsigned char *)&addr;
	size_t n = 0;

	for (int i = 0; i < 4; i++) {
		unsigned int v = ip[i];

		if (v >= 100)
			dst[n++] = (char)('0' + v / 100);
		if (v >= 10)
			dst[n++] = (char)('0' + v / 10 % 10);
		dst[n++] = (char)('0' + v % 10);
		if (i < 3)
			dst[n++] = '.';
	}
	dst[n] = '\0';
	return n;
}

/* "a.b.c.d:port" (@addr network order, @port host order) into @dst (at least 22 bytes). */
static inline size_t fmt_ipv4_port(char *dst, uint32_t addr, uint16_t port)
{
	size_t n = fmt_ipv4(dst, addr);

	dst[n++] = ':';
	return n + fmt_u64(dst + n, port);
}

#endif
