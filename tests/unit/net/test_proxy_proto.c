// SPDX-License-Identifier: Apache-2.0
/*
 * The PROXY protocol header (proxy_proto_parse), versions 1 and 2 of haproxy's
 * proxy-protocol.txt: TCP4, TCP6 and UNKNOWN lines; v2 PROXY over IPv4 and IPv6 with TLVs
 * skipped, LOCAL and AF_UNSPEC keeping the connection's addresses; every prefix of a header,
 * delivered a byte at a time or in two pieces, asks for more and the whole gives the same
 * answer; the bytes after a header are left; malformed lines and blocks, lengths past the
 * caps and bytes that are no header are refused, early when their first bytes show it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "net/proxy_proto.h"

#define V2_SIG "\r\n\r\n\0\r\nQUIT\n"

/* Every proper prefix of @data asks for more; the whole gives @want. */
static int parse_pieces(const uint8_t *data, size_t len, struct proxy_proto_hdr *h)
{
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(proxy_proto_parse(data, cut, h), -EAGAIN);
	return proxy_proto_parse(data, len, h);
}

static void assert_v4(const struct sockaddr_in *a, const char *ip, uint16_t port)
{
	char s[INET_ADDRSTRLEN];

	assert_int_equal(a->sin_family, AF_INET);
	assert_non_null(inet_ntop(AF_INET, &a->sin_addr, s, sizeof(s)));
	assert_string_equal(s, ip);
	assert_int_equal(ntohs(a->sin_port), port);
}

static void assert_v6(const struct sockaddr_in6 *a, const char *ip, uint16_t port)
{
	char s[INET6_ADDRSTRLEN];

	assert_int_equal(a->sin6_family, AF_INET6);
	assert_non_null(inet_ntop(AF_INET6, &a->sin6_addr, s, sizeof(s)));
	assert_string_equal(s, ip);
	assert_int_equal(ntohs(a->sin6_port), port);
}

static void test_v1(void **state)
{
	static const char tcp4[] =
	    "PROXY TCP4 203.0.113.7 10.0.0.1 51234 443\r\nGET / HTTP/1.1\r\n";
	static const char tcp6[] = "PROXY TCP6 2001:db8::7 2001:db8::1 65535 0\r\n";
	static const char unk[] = "PROXY UNKNOWN ffff:f...f:ffff 1 2\r\n";
	/* The longest TCP6 line (104 bytes). */
	static const char longest[] = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
				      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	char line[PROXY_PROTO_V1_MAX];
	size_t hlen = strchr(tcp4, '\n') - tcp4 + 1;
	struct proxy_proto_hdr h;

	assert_int_equal(parse_pieces((const uint8_t *)tcp4, hlen, &h), (int)hlen);
	/* What follows the header is not its: the length stops at the CRLF. */
	assert_int_equal(proxy_proto_parse((const uint8_t *)tcp4, sizeof(tcp4) - 1, &h), (int)hlen);
	assert_int_equal(h.version, 1);
	assert_int_equal(h.family, AF_INET);
	assert_v4(&h.src.v4, "203.0.113.7", 51234);
	assert_v4(&h.dst.v4, "10.0.0.1", 443);

	assert_int_equal(parse_pieces((const uint8_t *)tcp6, sizeof(tcp6) - 1, &h),
			 (int)sizeof(tcp6) - 1);
	assert_int_equal(h.family, AF_INET6);
	assert_v6(&h.src.v6, "2001:db8::7", 65535);
	assert_v6(&h.dst.v6, "2001:db8::1", 0);

	assert_int_equal(parse_pieces((const uint8_t *)unk, sizeof(unk) - 1, &h),
			 (int)sizeof(unk) - 1);
	assert_int_equal(h.family, AF_UNSPEC);
	assert_int_equal(proxy_proto_parse((const uint8_t *)"PROXY UNKNOWN\r\n", 15, &h), 15);
	assert_int_equal(h.family, AF_UNSPEC);

	assert_int_equal(parse_pieces((const uint8_t *)longest, sizeof(longest) - 1, &h),
			 (int)sizeof(longest) - 1);
	assert_v6(&h.src.v6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	/* The longest line the spec allows: 107 bytes, its CRLF included. */
	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	memcpy(line + PROXY_PROTO_V1_MAX - 2, "\r\n", 2);
	assert_int_equal(parse_pieces((const uint8_t *)line, sizeof(line), &h), PROXY_PROTO_V1_MAX);
	assert_int_equal(h.family, AF_UNSPEC);
}

static void test_v1_bad(void **state)
{
	static const char *const bad[] = {
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",		/* LF without CR */
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",	/* CR without LF */
	    "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",	/* two spaces */
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",		/* a field missing */
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",	/* one too many */
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",	/* trailing space */
	    "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",	/* leading zero */
	    "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",	/* port too big */
	    "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",	/* not a number */
	    "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",	/* not an address */
	    "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",		/* IPv6 in TCP4 */
	    "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",		/* IPv4 in TCP6 */
	    "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",	/* no such protocol */
	    "PROXY UNKNOWNX\r\n",			/* not UNKNOWN */
	    "PROXY \r\n",				/* empty */
	    "PROXY TCP4 1.2.3.4 5.6.7.8 1 \x01\r\n",	/* control byte */
	    "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",	/* case */
	    "GET / HTTP/1.1\r\n",			/* no header at all */
	    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03", /* a TLS ClientHello */
	};
	char line[PROXY_PROTO_V1_MAX + 16];
	struct proxy_proto_hdr h;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(proxy_proto_parse((const uint8_t *)bad[i], strlen(bad[i]), &h),
				 -EINVAL);
	/* Refused as soon as the first byte shows it is no header. */
	assert_int_equal(proxy_proto_parse((const uint8_t *)"G", 1, &h), -EINVAL);
	assert_int_equal(proxy_proto_parse((const uint8_t *)"PROXX", 5, &h), -EINVAL);
	/* No CRLF within 107 bytes: refused at the 107th, not buffered further. */
	memset(line, 'a', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	assert_int_equal(proxy_proto_parse((const uint8_t *)line, PROXY_PROTO_V1_MAX - 1, &h),
			 -EAGAIN);
	assert_int_equal(proxy_proto_parse((const uint8_t *)line, PROXY_PROTO_V1_MAX, &h), -EINVAL);
	/* A CRLF at bytes 108-109: a line one byte too long. */
	memcpy(line + PROXY_PROTO_V1_MAX, "\r\n", 2);
	assert_int_equal(proxy_proto_parse((const uint8_t *)line, PROXY_PROTO_V1_MAX + 2, &h),
			 -EINVAL);
}

/* A v2 header: @vc the version and command byte, @fam the family byte, @body its block. */
static size_t v2(uint8_t *out, uint8_t vc, uint8_t fam, const uint8_t *body, size_t n)
{
	memcpy(out, V2_SIG, 12);
	out[12] = vc;
	out[13] = fam;
	out[14] = (uint8_t)(n >> 8);
	out[15] = (uint8_t)n;
	memcpy(out + 16, body, n);
	return 16 + n;
}

static void test_v2(void **state)
{
	/* 198.51.100.9:40000 -> 10.0.0.5:8443, then a TLV (AWS's VPC endpoint id, type 0xEA). */
	static const uint8_t inet[] = {198,  51,   100,	 9,    10,   0,	  0,   5,   0x9c, 0x40,
				       0x20, 0xfb, 0xea, 0x00, 0x04, 'v', 'p', 'c', 'e'};
	uint8_t in6[36 + 3] = {
	    0x20,	 0x01,	      0x0d,	   0xb8,     [15] = 7,	  [16] = 0x20,
	    [17] = 0x01, [18] = 0x0d, [19] = 0xb8, [31] = 1, [32] = 0x01, [33] = 0xbb,
	    [34] = 0,	 [35] = 80,   [36] = 0x04, [37] = 0, [38] = 0};
	uint8_t buf[PROXY_PROTO_MAX + 64];
	struct proxy_proto_hdr h;
	size_t n;

	n = v2(buf, 0x21, 0x11, inet, sizeof(inet));
	assert_int_equal(parse_pieces(buf, n, &h), (int)n);
	assert_int_equal(h.version, 2);
	assert_int_equal(h.family, AF_INET);
	assert_v4(&h.src.v4, "198.51.100.9", 40000);
	assert_v4(&h.dst.v4, "10.0.0.5", 8443);
	/* The client's first bytes after it are left to them. */
	memcpy(buf + n, "\x16\x03\x01", 3);
	assert_int_equal(proxy_proto_parse(buf, n + 3, &h), (int)n);

	n = v2(buf, 0x21, 0x21, in6, sizeof(in6));
	assert_int_equal(parse_pieces(buf, n, &h), (int)n);
	assert_int_equal(h.family, AF_INET6);
	assert_v6(&h.src.v6, "2001:db8::7", 0x01bb);
	assert_v6(&h.dst.v6, "2001:db8::1", 80);

	/* LOCAL: the balancer's own connection; its block, whatever it holds, is skipped. */
	n = v2(buf, 0x20, 0x11, inet, sizeof(inet));
	assert_int_equal(parse_pieces(buf, n, &h), (int)n);
	assert_int_equal(h.family, AF_UNSPEC);
	n = v2(buf, 0x20, 0xff, NULL, 0);
	assert_int_equal(parse_pieces(buf, n, &h), 16);
	assert_int_equal(h.family, AF_UNSPEC);
	/* PROXY with AF_UNSPEC and AF_UNIX: the connection's addresses stand. */
	n = v2(buf, 0x21, 0x00, inet, 3);
	assert_int_equal(parse_pieces(buf, n, &h), (int)n);
	assert_int_equal(h.family, AF_UNSPEC);
	memset(buf + 16, 'u', 216);
	n = v2(buf, 0x21, 0x31, buf + 16, 216);
	assert_int_equal(proxy_proto_parse(buf, n, &h), (int)n);
	assert_int_equal(h.family, AF_UNSPEC);
	/* The largest block taken. */
	memset(buf + 16, 0, PROXY_PROTO_MAX - 16);
	n = v2(buf, 0x21, 0x11, buf + 16, PROXY_PROTO_MAX - 16);
	assert_int_equal(proxy_proto_parse(buf, n, &h), PROXY_PROTO_MAX);
}

static void test_v2_bad(void **state)
{
	static const uint8_t inet[12] = {1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2};
	uint8_t buf[PROXY_PROTO_MAX + 64];
	struct proxy_proto_hdr h;
	size_t n;

	/* Version 1 in a v2 signature, commands 2-15: refused at byte 13 already. */
	v2(buf, 0x11, 0x11, inet, sizeof(inet));
	assert_int_equal(proxy_proto_parse(buf, 13, &h), -EINVAL);
	v2(buf, 0x22, 0x11, inet, sizeof(inet));
	assert_int_equal(proxy_proto_parse(buf, 13, &h), -EINVAL);
	/* Families and transports the spec does not define. */
	n = v2(buf, 0x21, 0x41, inet, sizeof(inet));
	assert_int_equal(proxy_proto_parse(buf, n, &h), -EINVAL);
	n = v2(buf, 0x21, 0x13, inet, sizeof(inet));
	assert_int_equal(proxy_proto_parse(buf, n, &h), -EINVAL);
	n = v2(buf, 0x21, 0x01, inet, sizeof(inet));
	assert_int_equal(proxy_proto_parse(buf, n, &h), -EINVAL);
	/* A block shorter than its family's addresses: refused once its length is known. */
	n = v2(buf, 0x21, 0x11, inet, 11);
	assert_int_equal(proxy_proto_parse(buf, 16, &h), -EINVAL);
	n = v2(buf, 0x21, 0x21, inet, sizeof(inet));
	assert_int_equal(proxy_proto_parse(buf, n, &h), -EINVAL);
	n = v2(buf, 0x21, 0x31, inet, sizeof(inet));
	assert_int_equal(proxy_proto_parse(buf, n, &h), -EINVAL);
	/* Past the cap: refused from the 16 bytes that say it, not buffered. */
	v2(buf, 0x21, 0x11, inet, sizeof(inet));
	buf[14] = (uint8_t)((PROXY_PROTO_MAX - 15) >> 8);
	buf[15] = (uint8_t)(PROXY_PROTO_MAX - 15);
	assert_int_equal(proxy_proto_parse(buf, 16, &h), -EINVAL);
	buf[14] = buf[15] = 0xff;
	assert_int_equal(proxy_proto_parse(buf, 16, &h), -EINVAL);
	/* A signature that goes wrong part way. */
	memcpy(buf, "\r\n\r\n\0\r\nQUIX\n", 12);
	assert_int_equal(proxy_proto_parse(buf, 11, &h), -EINVAL);
	assert_int_equal(proxy_proto_parse(buf, 4, &h), -EAGAIN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v1),
	    cmocka_unit_test(test_v1_bad),
	    cmocka_unit_test(test_v2),
	    cmocka_unit_test(test_v2_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
