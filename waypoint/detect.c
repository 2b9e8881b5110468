// SPDX-License-Identifier: Apache-2.0
/* Protocol detection (detect.h). */
#include <ctype.h>
#include <string.h>

#include "detect.h"

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static bool tchar(char c)
{
	return isalnum((unsigned char)c) || strchr("!#$%&'*+-.^_`|~", c);
}

/* Whether @data (@len bytes, no full line yet) can still become an HTTP/1.x request line. */
static enum wp_detect request_line(const char *data, size_t len)
{
	size_t i = 0, target;

	while (i < len && tchar(data[i]))
		i++;
	if (i == len)
		return i < 32 ? WP_DETECT_MORE : WP_DETECT_TCP;
	if (!i || data[i] != ' ')
		return WP_DETECT_TCP;
	target = ++i;
	while (i < len && data[i] != ' ' && data[i] != '\r' && data[i] != '\n' &&
	       (unsigned char)data[i] > 0x20 && data[i] != 0x7f)
		i++;
	if (i == len)
		return WP_DETECT_MORE;
	if (i == target || data[i] != ' ')
		return WP_DETECT_TCP;
	i++;
	/* "HTTP/1.x" then CRLF: compare what has arrived of it. */
	for (size_t k = 0; k < 10 && i + k < len; k++) {
		static const char want[] = "HTTP/1.?\r\n";

		/* HTTP/1.2 and on are HTTP/1.1 to their reader (RFC 9112 §2.3). */
		if (want[k] == '?' ? (data[i + k] < '0' || data[i + k] > '9')
				   : data[i + k] != want[k])
			return WP_DETECT_TCP;
	}
	return len - i >= 10 ? WP_DETECT_HTTP1 : WP_DETECT_MORE;
}

enum wp_detect wp_detect(const char *data, size_t len)
{
	size_t n = len < sizeof(preface) - 1 ? len : sizeof(preface) - 1;
	enum wp_detect d;

	if (!len)
		return WP_DETECT_MORE;
	if (!memcmp(data, preface, n))
		return n == sizeof(preface) - 1 ? WP_DETECT_HTTP2 : WP_DETECT_MORE;
	d = request_line(data, len);
	return d == WP_DETECT_MORE && len >= WP_DETECT_MAX ? WP_DETECT_TCP : d;
}

enum wp_detect wp_detect_declared(enum l7_protocol declared)
{
	switch (declared) {
	case L7_PROTO_UNKNOWN:
	case L7_PROTO_HTTP: return WP_DETECT_MORE;
	case L7_PROTO_HTTP2:
	case L7_PROTO_GRPC: return WP_DETECT_HTTP2;
	case L7_PROTO_GRPC_WEB: return WP_DETECT_MORE;
	default: return WP_DETECT_TCP;
	}
}

const char *wp_detect_name(enum wp_detect d)
{
	static const char *const names[] = {"undecided", "http/1.1", "http/2", "tcp"};

	return d <= WP_DETECT_TCP ? names[d] : "?";
}
