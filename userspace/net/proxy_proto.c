// SPDX-License-Identifier: Apache-2.0
/*
 * The PROXY protocol header (proxy_proto.h), versions 1 and 2 of haproxy's proxy-protocol.txt.
 * Untrusted input: every length is checked against the bytes there before it is used, and a
 * header is read from its first byte again on each call (at most PROXY_PROTO_MAX of them), so
 * the caller needs no state but what it has received.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy_proto.h"

#define V1_SIG "PROXY "
#define V1_SIG_LEN 6
#define V2_SIG "\r\n\r\n\0\r\nQUIT\n"
#define V2_SIG_LEN 12
#define V2_HDR_LEN 16

/* Spec §2.2: the version and command byte, the family and transport byte. */
#define V2_VERSION 0x20
#define V2_CMD_LOCAL 0x0
#define V2_CMD_PROXY 0x1
#define V2_FAM_UNSPEC 0x0
#define V2_FAM_INET 0x1
#define V2_FAM_INET6 0x2
#define V2_FAM_UNIX 0x3

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* A port of a version 1 line: 0 to 65535 in decimal, without leading zeroes (§2.1). */
static int v1_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	size_t n = strlen(s);

	if (!n || n > 5 || (s[0] == '0' && n > 1))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -EINVAL;
	*port = htons((uint16_t)v);
	return 0;
}

/* The line after "PROXY " and before its CRLF, NUL-terminated in place. */
static int v1_fields(char *line, struct proxy_proto_hdr *h)
{
	char *f[6];
	size_t n = 0;
	uint16_t sport, dport;
	int af;

	/* "UNKNOWN", then anything up to the CRLF, which the receiver ignores. */
	if (!strncmp(line, "UNKNOWN", 7) && (line[7] == '\0' || line[7] == ' ')) {
		h->family = AF_UNSPEC;
		return 0;
	}
	/* Exactly one space between fields: an empty field is malformed. */
	for (char *p = line;; p++) {
		if (n == 6)
			return -EINVAL;
		f[n++] = p;
		p = strchr(p, ' ');
		if (!p)
			break;
		*p = '\0';
	}
	if (n != 5)
		return -EINVAL;
	if (!strcmp(f[0], "TCP4"))
		af = AF_INET;
	else if (!strcmp(f[0], "TCP6"))
		af = AF_INET6;
	else
		return -EINVAL;
	if (v1_port(f[3], &sport) || v1_port(f[4], &dport))
		return -EINVAL;
	h->family = af;
	if (af == AF_INET) {
		h->src.v4 = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = sport};
		h->dst.v4 = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = dport};
		if (inet_pton(AF_INET, f[1], &h->src.v4.sin_addr) != 1 ||
		    inet_pton(AF_INET, f[2], &h->dst.v4.sin_addr) != 1)
			return -EINVAL;
		return 0;
	}
	h->src.v6 = (struct sockaddr_in6){.sin6_family = AF_INET6, .sin6_port = sport};
	h->dst.v6 = (struct sockaddr_in6){.sin6_family = AF_INET6, .sin6_port = dport};
	if (inet_pton(AF_INET6, f[1], &h->src.v6.sin6_addr) != 1 ||
	    inet_pton(AF_INET6, f[2], &h->dst.v6.sin6_addr) != 1)
		return -EINVAL;
	return 0;
}

static int v1_parse(const uint8_t *data, size_t len, struct proxy_proto_hdr *h)
{
	size_t n = min_size(len, PROXY_PROTO_V1_MAX);
	char line[PROXY_PROTO_V1_MAX + 1];

	for (size_t i = V1_SIG_LEN; i < n; i++) {
		uint8_t c = data[i];

		if (c == '\r') {
			if (i + 1 < len && data[i + 1] != '\n')
				return -EINVAL;
			continue;
		}
		if (c == '\n') {
			if (data[i - 1] != '\r')
				return -EINVAL;
			memcpy(line, data + V1_SIG_LEN, i - 1 - V1_SIG_LEN);
			line[i - 1 - V1_SIG_LEN] = '\0';
			h->version = 1;
			return v1_fields(line, h) ? -EINVAL : (int)(i + 1);
		}
		/* The line is US-ASCII text (§2.1). */
		if (c < 0x20 || c > 0x7e)
			return -EINVAL;
	}
	return len >= PROXY_PROTO_V1_MAX ? -EINVAL : -EAGAIN;
}

static int v2_parse(const uint8_t *data, size_t len, struct proxy_proto_hdr *h)
{
	uint8_t cmd, fam;
	size_t total;

	/* What the bytes there already show wrong, before the rest arrives. */
	if (len > 12 && ((data[12] & 0xf0) != V2_VERSION ||
			 ((data[12] & 0x0f) != V2_CMD_LOCAL && (data[12] & 0x0f) != V2_CMD_PROXY)))
		return -EINVAL;
	if (len < V2_HDR_LEN)
		return -EAGAIN;
	cmd = data[12] & 0x0f;
	fam = data[13];
	total = V2_HDR_LEN + (((size_t)data[14] << 8) | data[15]);
	if (total > PROXY_PROTO_V2_MAX)
		return -EINVAL;
	/*
	 * LOCAL (a health check of the balancer's own): the address block is ignored whatever it
	 * says (§2.2). PROXY: only the family and transport pairs the spec defines are taken.
	 */
	if (cmd == V2_CMD_PROXY) {
		switch (fam) {
		case 0x00: break;
		case 0x11:
		case 0x12:
			if (total < V2_HDR_LEN + 12)
				return -EINVAL;
			break;
		case 0x21:
		case 0x22:
			if (total < V2_HDR_LEN + 36)
				return -EINVAL;
			break;
		case 0x31:
		case 0x32:
			if (total < V2_HDR_LEN + 216)
				return -EINVAL;
			break;
		default: return -EINVAL;
		}
	}
	if (len < total)
		return -EAGAIN;
	h->version = 2;
	h->family = AF_UNSPEC;
	if (cmd != V2_CMD_PROXY)
		return (int)total;
	/* The TLVs after the addresses (up to @total) are skipped: nothing here acts on them. */
	if (fam >> 4 == V2_FAM_INET) {
		const uint8_t *a = data + V2_HDR_LEN;

		h->family = AF_INET;
		h->src.v4 = (struct sockaddr_in){.sin_family = AF_INET};
		h->dst.v4 = (struct sockaddr_in){.sin_family = AF_INET};
		memcpy(&h->src.v4.sin_addr, a, 4);
		memcpy(&h->dst.v4.sin_addr, a + 4, 4);
		memcpy(&h->src.v4.sin_port, a + 8, 2);
		memcpy(&h->dst.v4.sin_port, a + 10, 2);
	} else if (fam >> 4 == V2_FAM_INET6) {
		const uint8_t *a = data + V2_HDR_LEN;

		h->family = AF_INET6;
		h->src.v6 = (struct sockaddr_in6){.sin6_family = AF_INET6};
		h->dst.v6 = (struct sockaddr_in6){.sin6_family = AF_INET6};
		memcpy(&h->src.v6.sin6_addr, a, 16);
		memcpy(&h->dst.v6.sin6_addr, a + 16, 16);
		memcpy(&h->src.v6.sin6_port, a + 32, 2);
		memcpy(&h->dst.v6.sin6_port, a + 34, 2);
	}
	/* AF_UNSPEC and AF_UNIX: the connection's own addresses stand. */
	return (int)total;
}

int proxy_proto_parse(const uint8_t *data, size_t len, struct proxy_proto_hdr *h)
{
	if (!len)
		return -EAGAIN;
	if (!memcmp(data, V2_SIG, min_size(len, V2_SIG_LEN))) {
		if (len < V2_SIG_LEN)
			return -EAGAIN;
		return v2_parse(data, len, h);
	}
	if (!memcmp(data, V1_SIG, min_size(len, V1_SIG_LEN))) {
		if (len < V1_SIG_LEN)
			return -EAGAIN;
		return v1_parse(data, len, h);
	}
	return -EINVAL;
}
