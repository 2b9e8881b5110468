// SPDX-License-Identifier: Apache-2.0
/*
 * The family-agnostic socket address of userspace/net/sock.h: its helpers (from and to struct
 * ipaddr, ports, equality, text as "a.b.c.d:p" / "[v6]:p"), the authority parser (RFC 3986
 * §3.2.2: "[v6]:port", no bare IPv6, no zone id) and the `forwarded: for=` parser (RFC 7239 §6:
 * for="[v6]" and for="[v6]:port", quoted), with hostile forms refused; and an IPv6 listener
 * (V6ONLY) reached by sock_connect from a transparent IPv6 source on loopback; the control
 * servers' listener of both families (sock_listen_any) reached over each loopback, and a port
 * already taken refused with EADDRINUSE, not taken by a fall-back to IPv4.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/types.h>

#include "ambit/bpf_abi.h"
#include "net/sock.h"

static void assert_text(const union sockaddr_inet *a, const char *want)
{
	char buf[SOCKADDR_INET_STRLEN];

	assert_string_equal(sockaddr_inet_format(a, buf, sizeof(buf)), want);
}

static void test_helpers(void **state)
{
	union sockaddr_inet a, b;
	struct ipaddr x, y;
	char buf[SOCKADDR_INET_STRLEN];

	sockaddr_inet_v4(&a, htonl(0x0a010203), 8080);
	assert_int_equal(a.sa.sa_family, AF_INET);
	assert_int_equal(sockaddr_inet_port(&a), 8080);
	assert_int_equal(sockaddr_inet_len(&a), sizeof(struct sockaddr_in));
	assert_text(&a, "10.1.2.3:8080");
	assert_string_equal(sockaddr_inet_ntop(&a, buf, sizeof(buf)), "10.1.2.3");

	assert_int_equal(ipaddr_parse_addr("2001:db8::1", &x), 0);
	assert_int_equal(sockaddr_inet_from_ipaddr(&b, &x, 443), 0);
	assert_int_equal(b.sa.sa_family, AF_INET6);
	assert_int_equal(sockaddr_inet_len(&b), sizeof(struct sockaddr_in6));
	/* A port follows: the brackets; RFC 5952's form, as inet_ntop writes it. */
	assert_text(&b, "[2001:db8::1]:443");
	assert_string_equal(sockaddr_inet_ntop(&b, buf, sizeof(buf)), "2001:db8::1");
	assert_int_equal(sockaddr_inet_to_ipaddr(&b, &y), 0);
	assert_true(ipaddr_equal(&x, &y));
	sockaddr_inet_set_port(&b, 15008);
	assert_int_equal(sockaddr_inet_port(&b), 15008);
	assert_int_equal(ntohs(b.v6.sin6_port), 15008);

	/* Equality: family, address and port. */
	assert_false(sockaddr_inet_equal(&a, &b));
	a = b;
	assert_true(sockaddr_inet_equal(&a, &b));
	sockaddr_inet_set_port(&a, 15009);
	assert_false(sockaddr_inet_equal(&a, &b));

	/* A mapped address is IPv4 from an ipaddr (ipaddr.h's rule) and to one. */
	assert_int_equal(ipaddr_parse_addr("::ffff:10.9.8.7", &x), 0);
	assert_int_equal(sockaddr_inet_from_ipaddr(&a, &x, 80), 0);
	assert_int_equal(a.sa.sa_family, AF_INET);
	assert_text(&a, "10.9.8.7:80");
	memset(&b, 0, sizeof(b));
	b.v6.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "::ffff:10.9.8.7", &b.v6.sin6_addr), 1);
	assert_int_equal(sockaddr_inet_to_ipaddr(&b, &y), 0);
	assert_int_equal(y.family, AF_INET);

	/* No address, or a prefix, is none. */
	assert_int_equal(ipaddr_parse("2001:db8::/64", &x), 0);
	assert_int_equal(sockaddr_inet_from_ipaddr(&a, &x, 80), -EAFNOSUPPORT);
	memset(&x, 0, sizeof(x));
	assert_int_equal(sockaddr_inet_from_ipaddr(&a, &x, 80), -EAFNOSUPPORT);
	assert_true(sockaddr_inet_is_any(&a));
	assert_int_equal(sockaddr_inet_port(&a), 0);
	assert_int_equal(sockaddr_inet_len(&a), 0);
	assert_int_equal(sockaddr_inet_to_ipaddr(&a, &y), -EAFNOSUPPORT);
	assert_string_equal(sockaddr_inet_ntop(&a, buf, sizeof(buf)), "?");
	b.v6.sin6_addr = in6addr_any;
	assert_true(sockaddr_inet_is_any(&b));
	sockaddr_inet_v4(&a, htonl(INADDR_ANY), 1);
	assert_true(sockaddr_inet_is_any(&a));
	sockaddr_inet_v4(&a, htonl(INADDR_LOOPBACK), 1);
	assert_false(sockaddr_inet_is_any(&a));
}

static void test_authority(void **state)
{
	static const char *const bad[] = {
	    "2001:db8::1:80",		   /* a bare IPv6 address: the port cannot be told apart */
	    "::1",			   /* no port */
	    "[2001:db8::1]",		   /* no port */
	    "[2001:db8::1]:",		   /* empty port */
	    "[2001:db8::1]80",		   /* no colon */
	    "[2001:db8::1",		   /* unbalanced */
	    "2001:db8::1]:80",		   /* unbalanced */
	    "[[2001:db8::1]:80",	   /* nested */
	    "[2001:db8::1]]:80",	   /* closed twice */
	    "[]:80",			   /* empty literal */
	    "[1.2.3.4]:80",		   /* IPv4 in brackets */
	    "[fe80::1%eth0]:80",	   /* zone id (RFC 6874) */
	    "[fe80::1%25eth0]:80",	   /* zone id, percent-encoded */
	    "[2001:db8::1]:0",		   /* port out of range */
	    "[2001:db8::1]:65536",	   /* port out of range */
	    "[2001:db8::1]:-1",		   /* sign */
	    "[2001:db8::1]:+80",	   /* sign */
	    "[2001:db8::1]: 80",	   /* space */
	    "[2001:db8::1]:80x",	   /* trailing bytes */
	    "[2001:db8::g]:80",		   /* not hex */
	    "[2001:db8:0:0:0:0:0:0:1]:80", /* nine groups */
	    "[v1.fe80::a+en1]:80",	   /* IPvFuture */
	    "10.1.2.3:99999999999999999999",
	    "10.1.2.3: 80",
	    "10.1.2:80",
	    "",
	};
	union sockaddr_inet a;
	char longer[300];

	assert_int_equal(sock_parse_authority("10.1.2.3:8080", &a), 0);
	assert_text(&a, "10.1.2.3:8080");
	assert_int_equal(sock_parse_authority("[2001:db8::1]:8080", &a), 0);
	assert_int_equal(a.sa.sa_family, AF_INET6);
	assert_text(&a, "[2001:db8::1]:8080");
	/* Written long, read as the same address. */
	assert_int_equal(sock_parse_authority("[2001:0db8:0000:0000:0000:0000:0000:0001]:1", &a),
			 0);
	assert_text(&a, "[2001:db8::1]:1");
	assert_int_equal(sock_parse_authority("[::ffff:10.1.2.3]:65535", &a), 0);
	assert_int_equal(a.sa.sa_family, AF_INET);
	assert_text(&a, "10.1.2.3:65535");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (sock_parse_authority(bad[i], &a) != -EINVAL)
			fail_msg("authority \"%s\" was taken", bad[i]);
		assert_int_equal(a.sa.sa_family, 0);
	}
	/* Over-long: a literal longer than any IPv6 text. */
	memset(longer, '1', sizeof(longer));
	longer[0] = '[';
	memcpy(longer + sizeof(longer) - 5, "]:80", 5);
	assert_int_equal(sock_parse_authority(longer, &a), -EINVAL);
	assert_int_equal(sock_parse_authority(NULL, &a), -EINVAL);
}

static void test_forwarded_for(void **state)
{
	static const char *const bad[] = {
	    "for=[2001:db8::1]",	       /* §6: an IPv6 node is quoted */
	    "for=[2001:db8::1]:4711",	       /* the same */
	    "for=\"2001:db8::1\"",	       /* no brackets */
	    "for=\"[2001:db8::1\"",	       /* unbalanced */
	    "for=\"[2001:db8::1]",	       /* unterminated quote */
	    "for=\"[2001:db8::1]:0\"",	       /* port out of range */
	    "for=\"[2001:db8::1]:65536\"",     /* port out of range */
	    "for=\"[2001:db8::1]:\"",	       /* empty port */
	    "for=\"[fe80::1%eth0]\"",	       /* zone id */
	    "for=\"[2001:db8::1]x\"",	       /* trailing bytes */
	    "for=\"[]\"",		       /* empty */
	    "for=\"[unknown]\"",	       /* not an address */
	    "for=\"[2001:db8::1]:80\"garbage", /* after the quote */
	};
	union sockaddr_inet a;
	char longer[300];

	assert_int_equal(sock_parse_forwarded_for("for=\"[2001:db8::1]\"", &a), 0);
	assert_int_equal(a.sa.sa_family, AF_INET6);
	assert_text(&a, "[2001:db8::1]:0");
	assert_int_equal(
	    sock_parse_forwarded_for("proto=http;for=\"[2001:db8:cafe::17]:4711\"", &a), 0);
	assert_text(&a, "[2001:db8:cafe::17]:4711");
	assert_int_equal(
	    sock_parse_forwarded_for("For=\"[2001:db8::2]:1\";host=a.b, for=1.1.1.1", &a), 0);
	assert_text(&a, "[2001:db8::2]:1");
	/* Only the first element: an IPv6 node in the second changes nothing. */
	assert_int_equal(sock_parse_forwarded_for("for=10.0.0.1, for=\"[2001:db8::3]\"", &a), 0);
	assert_text(&a, "10.0.0.1:0");
	/* A mapped address is the IPv4 client. */
	assert_int_equal(sock_parse_forwarded_for("for=\"[::ffff:10.0.0.9]:99\"", &a), 0);
	assert_int_equal(a.sa.sa_family, AF_INET);
	assert_text(&a, "10.0.0.9:99");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (sock_parse_forwarded_for(bad[i], &a) != -EINVAL)
			fail_msg("forwarded \"%s\" was taken", bad[i]);
		assert_int_equal(a.sa.sa_family, 0);
	}
	memset(longer, '1', sizeof(longer));
	memcpy(longer, "for=\"[", 6);
	memcpy(longer + sizeof(longer) - 3, "]\"", 3);
	assert_int_equal(sock_parse_forwarded_for(longer, &a), -EINVAL);
}

/*
 * A [::1] listener (V6ONLY: the IPv4 loopback does not reach it) and a connect to it from a
 * transparent IPv6 source, as the inbound path opens its pod connections.
 */
static void test_listen_connect_v6(void **state)
{
	union sockaddr_inet at = {0}, got = {0}, src = {0}, v4;
	socklen_t sl = sizeof(got);
	struct pollfd p;
	int lfd, c, s, v6only = 0, c4;

	assert_int_equal(sock_parse_authority("[::1]:1", &at), 0);
	sockaddr_inet_set_port(&at, 0);
	lfd = sock_listen_at(&at, true);
	assert_true(lfd >= 0);
	assert_int_equal(getsockname(lfd, &got.sa, &sl), 0);
	assert_int_equal(got.sa.sa_family, AF_INET6);
	sl = sizeof(v6only);
	assert_int_equal(getsockopt(lfd, SOL_IPV6, IPV6_V6ONLY, &v6only, &sl), 0);
	assert_int_equal(v6only, 1);
	/* The IPv4 loopback on the same port finds nobody there. */
	sockaddr_inet_v4(&v4, htonl(INADDR_LOOPBACK), sockaddr_inet_port(&got));
	c4 = sock_connect(&v4, NULL);
	if (c4 >= 0) {
		p = (struct pollfd){.fd = c4, .events = POLLOUT};
		assert_int_equal(poll(&p, 1, 5000), 1);
		sl = sizeof(s);
		assert_int_equal(getsockopt(c4, SOL_SOCKET, SO_ERROR, &s, &sl), 0);
		assert_int_equal(s, ECONNREFUSED);
		close(c4);
	}
	/* A source of the other family is refused before any socket. */
	assert_int_equal(sock_connect(&got, &v4), -EAFNOSUPPORT);
	src = got;
	c = sock_connect(&got, &src);
	assert_true(c >= 0);
	p = (struct pollfd){.fd = lfd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 5000), 1);
	s = accept(lfd, NULL, NULL);
	assert_true(s >= 0);
	sl = sizeof(got);
	memset(&got, 0, sizeof(got));
	assert_int_equal(getpeername(s, &got.sa, &sl), 0);
	assert_int_equal(got.sa.sa_family, AF_INET6);
	assert_true(IN6_IS_ADDR_LOOPBACK(&got.v6.sin6_addr));
	close(s);
	close(c);
	close(lfd);
}

/*
 * sock_connect_mark: the socket carries the mark from its SYN on (the ztunnel's connections on a
 * client's behalf carry AMBIT_PROXY_MARK, which tc_veth_egress leaves alone); sock_connect none.
 */
static void test_connect_mark(void **state)
{
	union sockaddr_inet got = {0}, to;
	socklen_t sl = sizeof(got);
	uint32_t mark = 1;
	int lfd, c;

	(void)state;
	sockaddr_inet_v4(&to, htonl(INADDR_LOOPBACK), 0);
	lfd = sock_listen_at(&to, false);
	assert_true(lfd >= 0);
	assert_int_equal(getsockname(lfd, &got.sa, &sl), 0);
	sockaddr_inet_v4(&to, htonl(INADDR_LOOPBACK), sockaddr_inet_port(&got));
	c = sock_connect_mark(NULL, &to, &to, AMBIT_PROXY_MARK);
	assert_true(c >= 0);
	sl = sizeof(mark);
	assert_int_equal(getsockopt(c, SOL_SOCKET, SO_MARK, &mark, &sl), 0);
	assert_int_equal(mark, AMBIT_PROXY_MARK);
	close(c);
	c = sock_connect(&to, NULL);
	assert_true(c >= 0);
	sl = sizeof(mark);
	assert_int_equal(getsockopt(c, SOL_SOCKET, SO_MARK, &mark, &sl), 0);
	assert_int_equal(mark, 0);
	close(c);
	close(lfd);
}

/* Accepts one connection to @lfd from @to and returns the peer's family. */
static int accept_from(int lfd, const union sockaddr_inet *to)
{
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	union sockaddr_inet peer = {0};
	socklen_t sl = sizeof(peer);
	int c = sock_connect(to, NULL), s;

	assert_true(c >= 0);
	assert_int_equal(poll(&p, 1, 5000), 1);
	s = accept(lfd, &peer.sa, &sl);
	assert_true(s >= 0);
	close(s);
	close(c);
	return peer.sa.sa_family;
}

static void test_listen_any(void **state)
{
	union sockaddr_inet got = {0}, lo;
	socklen_t sl = sizeof(got);
	int lfd, v6only = 1, again;

	(void)state;
	lfd = sock_listen_any(0);
	assert_true(lfd >= 0);
	assert_int_equal(getsockname(lfd, &got.sa, &sl), 0);
	assert_int_equal(got.sa.sa_family, AF_INET6);
	assert_true(IN6_IS_ADDR_UNSPECIFIED(&got.v6.sin6_addr));
	sl = sizeof(v6only);
	assert_int_equal(getsockopt(lfd, SOL_IPV6, IPV6_V6ONLY, &v6only, &sl), 0);
	assert_int_equal(v6only, 0);
	/* IPv4 comes as a mapped address on the one socket; IPv6 as itself. */
	sockaddr_inet_v4(&lo, htonl(INADDR_LOOPBACK), sockaddr_inet_port(&got));
	assert_int_equal(accept_from(lfd, &lo), AF_INET6);
	assert_int_equal(sock_parse_authority("[::1]:1", &lo), 0);
	sockaddr_inet_set_port(&lo, sockaddr_inet_port(&got));
	assert_int_equal(accept_from(lfd, &lo), AF_INET6);
	/* The port taken is an error, not a second listener on 0.0.0.0. */
	again = sock_listen_any(sockaddr_inet_port(&got));
	assert_int_equal(again, -EADDRINUSE);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_helpers),	  cmocka_unit_test(test_authority),
	    cmocka_unit_test(test_forwarded_for), cmocka_unit_test(test_listen_connect_v6),
	    cmocka_unit_test(test_listen_any),	  cmocka_unit_test(test_connect_mark),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
