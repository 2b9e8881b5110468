// SPDX-License-Identifier: Apache-2.0
/*
 * Tests for addresses and prefixes of both families (userspace/lib/ipaddr.c): what is read and
 * refused, host bits cleared, IPv4-mapped addresses and prefixes taken as IPv4, containment
 * never across families, and the text written back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ambit/ipaddr.h"

static struct ipaddr parsed(const char *txt)
{
	struct ipaddr a;

	assert_int_equal(ipaddr_parse(txt, &a), 0);
	return a;
}

static void assert_text(const char *in, const char *want)
{
	struct ipaddr a = parsed(in);
	char buf[IPADDR_STRLEN];

	assert_string_equal(ipaddr_format(&a, buf, sizeof(buf)), want);
}

static void test_parse(void **state)
{
	static const char *const bad[] = {
	    "",
	    "10.0.0",
	    "10.0.0.256",
	    "010.0.0.1",
	    "10.0.0.1/33",
	    "10.0.0.1/",
	    "10.0.0.1/024",
	    "10.0.0.1/+8",
	    "10.0.0.1/-1",
	    "10.0.0.1/8/8",
	    "2001:db8::1/129",
	    "2001:db8:::1",
	    "fe80::1%eth0",
	    "::ffff:1.2.3.4.5",
	    "web.shop",
	    " 10.0.0.1",
	    "10.0.0.1 ",
	    "1.2.3.4/ 8",
	};
	struct ipaddr a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (!ipaddr_parse(bad[i], &a))
			fail_msg("'%s' was taken", bad[i]);
	}
	assert_int_equal(ipaddr_parse(NULL, &a), -EINVAL);
	a = parsed("10.1.2.3");
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.len, 32);
	a = parsed("2001:DB8::1");
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(a.len, 128);
	/* One address only: a prefix refused. */
	assert_int_equal(ipaddr_parse_addr("10.0.0.0/8", &a), -EINVAL);
	assert_int_equal(ipaddr_parse_addr("2001:db8::7", &a), 0);
	assert_int_equal(a.len, 128);
}

static void test_host_bits_cleared(void **state)
{
	assert_text("10.1.2.3/8", "10.0.0.0/8");
	assert_text("10.1.2.3/0", "0.0.0.0/0");
	assert_text("2001:db8:abcd:12::1/33", "2001:db8:8000::/33");
	assert_text("2001:db8::1/127", "2001:db8::/127");
	assert_text("::/0", "::/0");
	assert_text("2001:0db8:0000::0001", "2001:db8::1");
}

static void test_mapped(void **state)
{
	struct ipaddr a = parsed("::ffff:192.0.2.7"), b;
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
	struct sockaddr_in s4 = {.sin_family = AF_INET};
	uint32_t v4;

	assert_int_equal(a.family, AF_INET);
	assert_true(ipaddr_v4(&a, &v4));
	assert_int_equal(v4, inet_addr("192.0.2.7"));
	/* A mapped prefix of /96 and longer is the IPv4 prefix it covers. */
	assert_text("::ffff:10.0.0.0/104", "10.0.0.0/8");
	assert_text("::ffff:0:0/96", "0.0.0.0/0");
	/* Shorter, it is IPv6's. */
	assert_text("::ffff:0:0/80", "::/80");
	/* A dual-stack socket's IPv4 peer is the same address as an IPv4 socket's. */
	inet_pton(AF_INET6, "::ffff:192.0.2.7", &s6.sin6_addr);
	assert_int_equal(ipaddr_from_sockaddr(&b, (struct sockaddr *)&s6), 0);
	assert_true(ipaddr_equal(&a, &b));
	s4.sin_addr.s_addr = inet_addr("192.0.2.7");
	assert_int_equal(ipaddr_from_sockaddr(&b, (struct sockaddr *)&s4), 0);
	assert_true(ipaddr_equal(&a, &b));
	inet_pton(AF_INET6, "2001:db8::7", &s6.sin6_addr);
	assert_int_equal(ipaddr_from_sockaddr(&b, (struct sockaddr *)&s6), 0);
	assert_int_equal(b.family, AF_INET6);
	assert_false(ipaddr_v4(&b, &v4));
	s4.sin_family = AF_UNIX;
	assert_int_equal(ipaddr_from_sockaddr(&b, (struct sockaddr *)&s4), -EAFNOSUPPORT);
}

/* Whether prefix @p (text) holds @a (text). */
static bool holds(const char *p, const char *a)
{
	struct ipaddr x = parsed(p), y = parsed(a);

	return ipaddr_contains(&x, &y);
}

static void test_contains(void **state)
{
	struct ipaddr none = {0}, p4 = parsed("10.0.0.0/8");

	assert_true(holds("10.0.0.0/8", "10.255.0.1"));
	assert_false(holds("10.0.0.0/8", "11.0.0.1"));
	assert_true(holds("2001:db8::/32", "2001:db8:ffff::1"));
	assert_false(holds("2001:db8::/32", "2001:db9::1"));
	/* A prefix holds a longer one inside it, not a shorter one. */
	assert_true(holds("10.0.0.0/8", "10.2.0.0/16"));
	assert_false(holds("10.2.0.0/16", "10.0.0.0/8"));
	/* Never across families: ::/0 is every IPv6 address and no IPv4 one. */
	assert_false(holds("::/0", "10.0.0.1"));
	assert_false(holds("0.0.0.0/0", "2001:db8::1"));
	assert_true(holds("0.0.0.0/0", "10.0.0.1"));
	assert_true(holds("::/0", "::1"));
	/* A length not a multiple of 8. */
	assert_true(holds("2001:db8:8000::/33", "2001:db8:ffff::1"));
	assert_false(holds("2001:db8:8000::/33", "2001:db8:7fff::1"));
	assert_true(holds("10.0.0.0/13", "10.7.255.255"));
	assert_false(holds("10.0.0.0/13", "10.8.0.0"));
	/* No address: holds nothing, held by nothing. */
	assert_false(ipaddr_contains(&none, &none));
	assert_false(ipaddr_contains(&p4, &none));
}

static void test_format(void **state)
{
	struct ipaddr a = parsed("10.0.0.1"), none = {0};
	char buf[IPADDR_STRLEN], small[8];

	assert_string_equal(ipaddr_format_prefix(&a, buf, sizeof(buf)), "10.0.0.1/32");
	assert_string_equal(ipaddr_format(&none, buf, sizeof(buf)), "none");
	a = parsed("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127");
	assert_string_equal(ipaddr_format(&a, buf, sizeof(buf)),
			    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127");
	/* Cut short rather than overrun. */
	assert_string_equal(ipaddr_format(&a, small, sizeof(small)), "ffff:ff");
	ipaddr_from_v4(&a, inet_addr("192.0.2.1"));
	assert_string_equal(ipaddr_format(&a, buf, sizeof(buf)), "192.0.2.1");
}

/*
 * IPv4 text is made by hand (no inet_ntop, no snprintf): the same as inet_ntop's for every
 * octet value in every position, and cut short as snprintf cuts.
 */
static void test_format_v4_as_inet_ntop(void **state)
{
	char buf[IPADDR_STRLEN], want[INET_ADDRSTRLEN], small[6];
	struct ipaddr a;

	for (unsigned int pos = 0; pos < 4; pos++)
		for (unsigned int v = 0; v < 256; v++) {
			uint8_t b[4] = {1, 22, 133, 4};

			b[pos] = (uint8_t)v;
			memcpy(&a, &(struct ipaddr){.family = AF_INET, .len = 32}, sizeof(a));
			memcpy(a.a, b, 4);
			assert_non_null(inet_ntop(AF_INET, b, want, sizeof(want)));
			assert_string_equal(ipaddr_format(&a, buf, sizeof(buf)), want);
			want[sizeof(small) - 1] = '\0';
			assert_string_equal(ipaddr_format(&a, small, sizeof(small)), want);
		}
	ipaddr_from_v4(&a, inet_addr("255.255.255.255"));
	assert_string_equal(ipaddr_format(&a, buf, sizeof(buf)), "255.255.255.255");
	assert_string_equal(ipaddr_format_prefix(&a, buf, sizeof(buf)), "255.255.255.255/32");
	ipaddr_from_v4(&a, 0);
	assert_string_equal(ipaddr_format(&a, buf, sizeof(buf)), "0.0.0.0");
	assert_int_equal(ipaddr_parse("10.1.0.0/16", &a), 0);
	assert_string_equal(ipaddr_format(&a, buf, sizeof(buf)), "10.1.0.0/16");
}

static void test_v4_str(void **state)
{
	char buf[INET_ADDRSTRLEN];

	assert_ptr_equal(ipaddr_v4_str(inet_addr("10.98.2.8"), buf), buf);
	assert_string_equal(buf, "10.98.2.8");
	assert_string_equal(ipaddr_v4_str(inet_addr("255.255.255.255"), buf), "255.255.255.255");
	assert_string_equal(ipaddr_v4_str(0, buf), "0.0.0.0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),  cmocka_unit_test(test_host_bits_cleared),
	    cmocka_unit_test(test_mapped), cmocka_unit_test(test_contains),
	    cmocka_unit_test(test_format), cmocka_unit_test(test_format_v4_as_inet_ntop),
	    cmocka_unit_test(test_v4_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
