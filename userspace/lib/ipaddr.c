// SPDX-License-Identifier: Apache-2.0
/* Addresses and prefixes of both families (include/ambit/ipaddr.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "ambit/ipaddr.h"

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

unsigned int ipaddr_full_len(const struct ipaddr *a)
{
	return a->family == AF_INET ? 32 : a->family == AF_INET6 ? 128 : 0;
}

/* Clears the bits of @a past its length. */
static void mask(struct ipaddr *a)
{
	unsigned int full = ipaddr_full_len(a), i;

	for (i = a->len; i < full; i++)
		a->a[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
}

/* A mapped IPv6 address or prefix (at least /96) as the IPv4 one it carries. */
static void unmap(struct ipaddr *a)
{
	if (a->family != AF_INET6 || a->len < 96 || memcmp(a->a, v4mapped, sizeof(v4mapped)))
		return;
	a->family = AF_INET;
	a->len -= 96;
	memmove(a->a, a->a + 12, 4);
	memset(a->a + 4, 0, 12);
}

/* "n": decimal, no sign, no leading zero, at most @max. */
static int parse_len(const char *s, unsigned int max, uint8_t *out)
{
	unsigned int v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned int)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*out = (uint8_t)v;
	return 0;
}

static int parse(const char *txt, struct ipaddr *out, bool prefix_ok)
{
	char buf[INET6_ADDRSTRLEN];
	const char *slash;
	struct ipaddr a = {0};
	size_t n;

	if (!txt)
		return -EINVAL;
	slash = strchr(txt, '/');
	n = slash ? (size_t)(slash - txt) : strlen(txt);
	if (n >= sizeof(buf) || (slash && !prefix_ok))
		return -EINVAL;
	memcpy(buf, txt, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, a.a) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, a.a) == 1)
		a.family = AF_INET6;
	else
		return -EINVAL;
	a.len = (uint8_t)ipaddr_full_len(&a);
	if (slash && parse_len(slash + 1, a.len, &a.len))
		return -EINVAL;
	mask(&a);
	unmap(&a);
	*out = a;
	return 0;
}

int ipaddr_parse(const char *txt, struct ipaddr *out)
{
	return parse(txt, out, true);
}

int ipaddr_parse_addr(const char *txt, struct ipaddr *out)
{
	return parse(txt, out, false);
}

void ipaddr_from_v4(struct ipaddr *out, uint32_t be)
{
	memset(out, 0, sizeof(*out));
	out->family = AF_INET;
	out->len = 32;
	memcpy(out->a, &be, 4);
}

int ipaddr_from_sockaddr(struct ipaddr *out, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		ipaddr_from_v4(out, ((const struct sockaddr_in *)sa)->sin_addr.s_addr);
		return 0;
	}
	if (sa->sa_family != AF_INET6)
		return -EAFNOSUPPORT;
	memset(out, 0, sizeof(*out));
	out->family = AF_INET6;
	out->len = 128;
	memcpy(out->a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	unmap(out);
	return 0;
}

bool ipaddr_v4(const struct ipaddr *a, uint32_t *be)
{
	if (a->family != AF_INET || a->len != 32)
		return false;
	memcpy(be, a->a, 4);
	return true;
}

bool ipaddr_contains(const struct ipaddr *p, const struct ipaddr *a)
{
	unsigned int whole = p->len / 8, rest = p->len % 8;

	if (!p->family || p->family != a->family || a->len < p->len)
		return false;
	if (memcmp(p->a, a->a, whole))
		return false;
	return !rest || !((p->a[whole] ^ a->a[whole]) & (uint8_t)(0xff00u >> rest));
}

bool ipaddr_equal(const struct ipaddr *x, const struct ipaddr *y)
{
	return x->family == y->family && x->len == y->len && !memcmp(x->a, y->a, sizeof(x->a));
}

/*
 * "a.b.c.d" into @out (16 bytes): inet_ntop's text without the sprintf it makes it with, which
 * was a sixth of the waypoint's instructions per request (x-forwarded-for and the external
 * address, each request).
 */
static void v4_text(const uint8_t *b, char *out)
{
	for (int i = 0; i < 4; i++) {
		unsigned int v = b[i];

		if (v >= 100)
			*out++ = (char)('0' + v / 100);
		if (v >= 10)
			*out++ = (char)('0' + v / 10 % 10);
		*out++ = (char)('0' + v % 10);
		*out++ = i < 3 ? '.' : '\0';
	}
}

static const char *format(const struct ipaddr *a, char *buf, size_t len, bool always_len)
{
	char ip[INET6_ADDRSTRLEN];

	if (a->family == AF_INET)
		v4_text(a->a, ip);
	else if (!a->family || !inet_ntop(a->family, a->a, ip, sizeof(ip))) {
		snprintf(buf, len, "none");
		return buf;
	}
	if (!always_len && a->len == ipaddr_full_len(a)) {
		size_t n = strlen(ip);

		if (!len)
			return buf;
		if (n >= len)
			n = len - 1; /* cut short, as snprintf */
		memcpy(buf, ip, n);
		buf[n] = '\0';
	} else
		snprintf(buf, len, "%s/%u", ip, a->len);
	return buf;
}

const char *ipaddr_format(const struct ipaddr *a, char *buf, size_t len)
{
	return format(a, buf, len, false);
}

const char *ipaddr_format_prefix(const struct ipaddr *a, char *buf, size_t len)
{
	return format(a, buf, len, true);
}

const char *ipaddr_v4_str(uint32_t be, char *buf)
{
	/* inet_ntop cannot fail for AF_INET into INET_ADDRSTRLEN bytes. */
	return inet_ntop(AF_INET, &be, buf, INET_ADDRSTRLEN);
}
