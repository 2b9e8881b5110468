// SPDX-License-Identifier: Apache-2.0
/* Request targets and authorities a proxy forwards (http_uri.h). */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "http_uri.h"

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 §2.3 unreserved and §2.2 sub-delims: what a reg-name holds besides "%XX". */
static bool is_reg_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("-._~!$&'()*+,;=", c));
}

/* A port of @len digits (possibly none) no larger than 65535. */
static bool port_ok(const char *p, size_t len)
{
	unsigned long v = 0;

	if (len > 5)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	return v <= 65535;
}

const char *http_authority_problem(const char *a, size_t len)
{
	size_t i = 0;

	if (memchr(a, '@', len))
		return "user-info in the authority";
	if (len && a[0] == '[') {
		/* IP-literal: an IPv6 address (IPvFuture is not one a proxy can reach). */
		for (i = 1; i < len && a[i] != ']'; i++)
			if (!is_hex(a[i]) && a[i] != ':' && a[i] != '.')
				return "malformed IPv6 literal in the authority";
		if (i >= len || i == 1)
			return "malformed IPv6 literal in the authority";
		i++;
	} else {
		for (; i < len && a[i] != ':'; i++) {
			if (a[i] == '%') {
				if (i + 2 >= len || !is_hex(a[i + 1]) || !is_hex(a[i + 2]))
					return "malformed percent-encoding in the authority";
				i += 2;
			} else if (!is_reg_name_char(a[i])) {
				return "a character no host holds in the authority";
			}
		}
		if (!i)
			return "no host in the authority";
	}
	if (i == len)
		return NULL;
	if (a[i] != ':' || !port_ok(a + i + 1, len - i - 1))
		return "malformed port in the authority";
	return NULL;
}

size_t http_authority_trim(const char *a, size_t len)
{
	return len && a[len - 1] == ':' ? len - 1 : len;
}

/* Whether the @mlen bytes at @m are the method @want. */
static bool method_is(const char *m, size_t mlen, const char *want)
{
	return mlen == strlen(want) && !memcmp(m, want, mlen);
}

const char *http_target_problem(const char *method, size_t mlen, const char *target, size_t len)
{
	size_t skip, al;

	if (!len)
		return "empty request target";
	if (memchr(target, '#', len))
		return "fragment in the request target";
	if (method_is(method, mlen, "CONNECT"))
		return http_authority_problem(target, len);
	if (len == 1 && target[0] == '*')
		return method_is(method, mlen, "OPTIONS")
			   ? NULL
			   : "asterisk-form target for a method other than OPTIONS";
	if (target[0] == '/')
		return NULL;
	if (len > 7 && !strncasecmp(target, "http://", 7))
		skip = 7;
	else if (len > 8 && !strncasecmp(target, "https://", 8))
		skip = 8;
	else
		return "request target not in origin-form";
	/* @target may be a span of a longer line: bounded by @len, not a NUL. */
	for (al = 0; skip + al < len && target[skip + al] != '/' && target[skip + al] != '?'; al++)
		;
	if (!al)
		return "no authority in an absolute-form target";
	return http_authority_problem(target + skip, al);
}
